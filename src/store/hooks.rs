//! What the store does on each session event, after the application's
//! callback has run (dispatch calls these; no sesscb lock is held while the
//! application runs, and none of these calls the application).
//!
//! - new: store a sealed copy of a server session that a get callback can
//!   ever be asked for (TLS ≤ 1.2 with an id; TLS 1.3 only when stateful);
//!   the application's return value is what OpenSSL sees.
//! - get: when the application's callback missed, look the id up; a hit is
//!   a fresh session OpenSSL owns (`*copy = 0`).
//! - remove: only `SSL_CTX_remove_session` (an application's explicit
//!   removal, or libssl's for a session it marks bad) deletes the shared
//!   entry, at most [`REMOVES_PER_SECOND`] a second; the remove callbacks of
//!   flushes, expiry, eviction and `SSL_CTX_free` are counted and ignored
//!   (`dispatch::removal`).
//!
//! Every failure is a miss or a skipped store, counted (see [`counters`])
//! and traced, never an error for the handshake.

use std::sync::atomic::AtomicU64;

use super::counters::{COUNTERS, outcome};
use super::engine::{self, Runtime};
use super::envelope::{self, Meta, Producer, Rejected};
use super::flusher;
use super::keyring::Keyring;
use super::lifetime::{self, Limits, SessionTimes};
use super::lmdb::Write;
use super::openssl::{self, SessionApi};
use super::ratelimit::PerSecond;
use super::remote::{Fetched, Remote};
use super::subkeys::{StoreKey, Subkeys};
use super::writer;
use crate::ffi::types::{Ssl, SslCtx, SslSession};
use crate::libssl::handle::Libssl;

/// How many removes a process may propagate to the store each second.
const REMOVES_PER_SECOND: u64 = 1000;
static REMOVE_BUDGET: PerSecond = PerSecond::new(REMOVES_PER_SECOND);

/// Whether the store is on in this process (cheap once known).
#[inline]
pub fn active() -> bool {
    engine::active()
}

/// Whether the store's mode covers a ctx whose application set callbacks
/// (`has_app`) or set none.
#[inline]
pub fn serves(has_app: bool) -> bool {
    engine::serves(has_app)
}

fn producer(api: &SessionApi) -> Producer {
    Producer::openssl(api.major, api.minor)
}

/// A ctx was just made: with `SESSCB_STORE_FORCE_STATEFUL_TLS13=1`, turn
/// its tickets off, so TLS 1.3 sessions are stateful and reach the store.
/// An application that clears `SSL_OP_NO_TICKET` later wins.
///
/// # Safety
/// `ctx` is a live ctx of `lib`, not yet shared.
pub unsafe fn on_ctx_new(lib: &Libssl, ctx: *mut SslCtx) {
    if !engine::config().is_some_and(|c| c.force_stateful_tls13) {
        return;
    }
    if let Some(api) = openssl::api(lib) {
        // SAFETY: the caller guarantees `ctx`.
        unsafe { api.set_no_ticket(ctx) };
    }
}

/// What [`before_new`] decided: the entry's expiry (None: the session's
/// lifetime is already spent).
#[derive(Debug, Clone, Copy)]
pub struct Planned {
    expiry: Option<u64>,
}

/// Before the application's new-session callback (augment mode): ends the
/// live session's timeout with the entry the store will give it, so the
/// application's own cache (nginx `shared:`, haproxy) keeps it no longer:
/// a TLS 1.3 renewal would otherwise carry the full timeout again.
///
/// # Safety
/// As [`on_new`].
pub unsafe fn before_new(lib: &Libssl, ssl: *mut Ssl, sess: *mut SslSession) -> Option<Planned> {
    let api = openssl::api(lib)?;
    let limits = engine::config()?.limits;
    // SAFETY: the caller guarantees `ssl` and `sess`.
    let stored = unsafe { api.is_server(ssl) && !stateless_tls13(api, ssl, sess) };
    // SAFETY: as above.
    stored.then(|| Planned { expiry: unsafe { end_with_entry(api, sess, limits) } })
}

/// The expiry of `sess`'s entry; the live session's timeout ends with it
/// (this process's own cache, and the TLS 1.3 renewals it serves, must not
/// outlive the entry: lifetime creep).
///
/// # Safety
/// `sess` is a live session of `api`'s libssl.
unsafe fn end_with_entry(api: &SessionApi, sess: *mut SslSession, limits: Limits) -> Option<u64> {
    // SAFETY: the caller guarantees `sess`.
    let (created, timeout, authenticated) = unsafe { api.times(sess) };
    let now = engine::unix_now();
    let times = SessionTimes { created, timeout, authenticated };
    let expiry = lifetime::expiry(times, limits, now);
    if let Some(timeout) = lifetime::live_timeout(times, expiry.unwrap_or(now)) {
        // SAFETY: as above; OpenSSL calls the new callback without a ctx lock.
        unsafe { api.limit_timeout(sess, timeout) };
    }
    expiry
}

/// After the new-session callback: store `sess` if it can be resumed from
/// the store, until the expiry `planned` before the application's callback
/// (or decided now).
///
/// # Safety
/// `ssl` and `sess` are OpenSSL's live arguments; `lib` made them.
pub unsafe fn on_new(lib: &Libssl, ssl: *mut Ssl, sess: *mut SslSession, planned: Option<Planned>) {
    let Some(api) = openssl::api(lib) else { return };
    flusher::ensure_running();
    // SAFETY: the caller guarantees `ssl` and `sess`.
    let Some((id, der)) = (unsafe { storable(api, ssl, sess) }) else { return };
    let Some(rt) = engine::runtime() else {
        // The store could not start in this process (reported once).
        return outcome("put", &COUNTERS.stores_backend_error, "backend_error", None);
    };
    // SAFETY: as above.
    let (_, _, authenticated) = unsafe { api.times(sess) };
    let now = engine::unix_now();
    // SAFETY: as above.
    let expiry = planned.map_or_else(|| unsafe { end_with_entry(api, sess, rt.config.limits) }, |p| p.expiry);
    // An expiry is only None when the lifetime is already spent: nothing to
    // store and nothing gone wrong, so not counted.
    let Some(expiry) = expiry else { return };
    // SAFETY: as above.
    let single_use =
        rt.remote.as_ref().is_some_and(Remote::single_use_tls13) && unsafe { api.is_tls13(sess) };
    match sealed(&rt, api, &id, &der, authenticated, expiry, now) {
        Ok(write) => {
            queue_or_write(&rt, write, single_use);
        }
        Err(key) => outcome("put", &COUNTERS.stores_backend_error, "backend_error", key.as_ref()),
    }
}

/// After the application's own get callback returned `sess` for `id` on a
/// ctx the store serves: counted, so hit rates show who answered; returns
/// the session OpenSSL gets, `sess` or NULL.
///
/// TLS 1.3 lifetime, where an application's cache would let it creep:
/// OpenSSL checks the timeout of a TLS 1.2 session a get callback returns,
/// not of a TLS 1.3 one (measured with `s_server -ext_cache` on 3.0: a
/// renewal chain resumed on past both; and `d2i` turns a timeout of 0 into
/// 3 s). So a TLS 1.3 session whose store entry has expired (its lifetime
/// or TTL ended) is refused here, counted `expired`, the application's
/// reference released if it handed it over (`*copy` 0). A session rebuilt
/// from the application's DER has also lost its original authentication
/// time (ex_data is not in the DER): it is read back from the store's copy,
/// so the renewal this resumption issues ends in time. A session the store
/// has no entry for is the application's business.
///
/// # Safety
/// `sess` is the live session the application returned, `copy` NULL or
/// OpenSSL's live `int` as the application left it; `lib` made them.
pub unsafe fn on_app_hit(
    lib: &Libssl,
    id: &[u8],
    sess: *mut SslSession,
    copy: *mut std::ffi::c_int,
) -> *mut SslSession {
    flusher::ensure_running();
    let Some(api) = openssl::api(lib) else { return sess };
    // SAFETY: the caller guarantees `sess`.
    let tls13 = !id.is_empty() && unsafe { api.is_tls13(sess) };
    match tls13.then(|| engine::runtime().and_then(|rt| entry_meta(&rt, api, id))).flatten() {
        Some(Err(Rejected::Expired)) => {
            outcome("get", &COUNTERS.lookups_expired, "expired", None);
            // SAFETY: with `*copy` 0 the application gave OpenSSL its
            // reference, which OpenSSL will now not take: ours to release.
            unsafe { api.release_unless_copied(sess, copy) };
            return std::ptr::null_mut();
        }
        // SAFETY: as above; OpenSSL has not yet taken the session.
        Some(Ok(meta)) => unsafe { api.set_authentication(sess, meta.authenticated) },
        _ => {}
    }
    outcome("get", &COUNTERS.lookups_app_hit, "app_hit", None);
    sess
}

/// The header of the entry stored for `id` (also when it has expired: then
/// `Err(Expired)`), or None when there is none or it cannot be read. Not
/// counted: the lookup the handshake needed was the application's.
fn entry_meta(rt: &Runtime, api: &SessionApi, id: &[u8]) -> Option<Result<Meta, Rejected>> {
    let now = engine::unix_now();
    let ring = rt.keyring();
    let domain = rt.config.domain.as_bytes();
    let store_key = Subkeys::derive(ring.current(now)?).store_key(domain, id);
    let value = rt.tier.get_even_expired(&store_key).ok()??;
    Some(envelope::open(&ring, &value, &store_key, domain, producer(api), now).map(|(meta, _)| meta))
}

/// Whether `sess` is a TLS 1.3 session that lives in its ticket: no get
/// callback is ever asked for it, so the store has nothing to do with it.
///
/// # Safety
/// As [`on_new`].
unsafe fn stateless_tls13(api: &SessionApi, ssl: *mut Ssl, sess: *mut SslSession) -> bool {
    // SAFETY: the caller guarantees `ssl` and `sess`.
    unsafe { api.is_tls13(sess) && !api.tls13_stateful(ssl) }
}

/// The id and DER of `sess` if it belongs in the store, else None (counted).
///
/// # Safety
/// As [`on_new`].
unsafe fn storable(api: &SessionApi, ssl: *mut Ssl, sess: *mut SslSession) -> Option<(Vec<u8>, Vec<u8>)> {
    // SAFETY: the caller guarantees `ssl` and `sess`.
    unsafe {
        if !api.is_server(ssl) {
            return None;
        }
        if stateless_tls13(api, ssl, sess) {
            outcome("put", &COUNTERS.stores_skipped_tls13_stateless, "skipped_tls13_stateless", None);
            return None;
        }
        let id = api.id(sess);
        if id.is_empty() {
            outcome("put", &COUNTERS.stores_skipped_no_id, "skipped_no_id", None);
            return None;
        }
        let max = engine::config().map_or(0, |c| c.max_entry);
        let der = api.to_der(sess, max);
        if der.is_none() {
            outcome("put", &COUNTERS.stores_too_large, "too_large", None);
        }
        Some((id, der?))
    }
}

/// The tier write that stores `der` under `id`'s store key, sealed under
/// the current key; Err (with the key if known) when none can be made.
fn sealed(
    rt: &Runtime,
    api: &SessionApi,
    id: &[u8],
    der: &[u8],
    auth: u64,
    expiry: u64,
    now: u64,
) -> Result<Write, Option<StoreKey>> {
    let ring = rt.keyring();
    let keys = Subkeys::derive(ring.current(now).ok_or(None)?);
    let domain = rt.config.domain.as_bytes();
    let store_key = keys.store_key(domain, id);
    let meta = Meta { producer: producer(api), key_id: keys.key_id, authenticated: auth, expiry };
    let nonce = envelope::fresh_nonce().ok_or(Some(store_key))?;
    let value = envelope::seal(&keys, meta, nonce, &store_key, domain, der);
    Ok(Write::Put { key: store_key, value, expiry })
}

/// After the application's get callback missed: the session stored under
/// `id`, if an authentic, compatible, unexpired one is there.
///
/// A ctx in `SSL_SESS_CACHE_OFF` (or client-only) mode is never served:
/// OpenSSL still asks its get callback, but the application chose no cache.
///
/// # Safety
/// `ssl` is OpenSSL's live argument; `lib` made it; `session_ctx`, if
/// known, is the live ctx OpenSSL consulted; `copy` is NULL or OpenSSL's
/// live `int`.
pub unsafe fn on_get(
    lib: &Libssl,
    session_ctx: Option<*mut SslCtx>,
    ssl: *mut Ssl,
    id: &[u8],
    copy: *mut std::ffi::c_int,
) -> *mut SslSession {
    let Some(api) = openssl::api(lib) else { return std::ptr::null_mut() };
    flusher::ensure_running();
    // SAFETY: the caller guarantees `ssl` and `session_ctx`.
    let cache_on = session_ctx.is_none_or(|ctx| unsafe { api.server_cache_on(ctx) });
    // SAFETY: as above.
    if id.is_empty() || !cache_on || !unsafe { api.is_server(ssl) } {
        return std::ptr::null_mut();
    }
    let Some(rt) = engine::runtime() else {
        outcome("get", &COUNTERS.lookups_error, "error", None);
        return std::ptr::null_mut();
    };
    match lookup(&rt, api, id) {
        Some(sess) => {
            if !copy.is_null() {
                // SAFETY: `copy` is OpenSSL's live int: 0 hands OpenSSL our
                // one reference to a session nobody else holds.
                unsafe { *copy = 0 };
            }
            sess
        }
        None => std::ptr::null_mut(),
    }
}

fn lookup(rt: &Runtime, api: &SessionApi, id: &[u8]) -> Option<*mut SslSession> {
    let now = engine::unix_now();
    let ring = rt.keyring();
    let domain = rt.config.domain.as_bytes();
    let keys: Vec<StoreKey> =
        ring.openers(now).into_iter().map(|key| Subkeys::derive(key).store_key(domain, id)).collect();
    if rt.config.backend.uses_local() {
        for store_key in &keys {
            let value = match rt.tier.get(store_key, now) {
                Ok(Some(value)) => value,
                Ok(None) => continue,
                Err(_) => {
                    outcome("get", &COUNTERS.lookups_error, "error", Some(store_key));
                    return None;
                }
            };
            let hit = (&COUNTERS.lookups_local_hit, "local_hit");
            return opened(&ring, api, store_key, &value, domain, now, hit).map(|(sess, _)| sess);
        }
    }
    match &rt.remote {
        Some(remote) => remote_lookup(rt, remote, api, &ring, &keys, now),
        None => {
            outcome("get", &COUNTERS.lookups_miss, "miss", None);
            None
        }
    }
}

/// Opens an entry found under `store_key` and counts the outcome (`hit`
/// when it yields a session): the session and the entry's expiry.
fn opened(
    ring: &Keyring,
    api: &SessionApi,
    store_key: &StoreKey,
    value: &[u8],
    domain: &[u8],
    now: u64,
    hit: (&'static AtomicU64, &'static str),
) -> Option<(*mut SslSession, u64)> {
    let opened = envelope::open(ring, value, store_key, domain, producer(api), now);
    let session = opened
        .map(|(meta, der)| api.materialise(&der, meta.expiry, meta.authenticated).map(|s| (s, meta.expiry)));
    let (counter, label) = match &session {
        Ok(Some(_)) => hit,
        Ok(None) => (&COUNTERS.lookups_incompatible, "incompatible"),
        Err(rejected) => rejected_outcome(rejected),
    };
    outcome("get", counter, label, Some(store_key));
    session.ok().flatten()
}

/// The Redis lookup after the embedded tier missed (or is not used); a hit
/// warms the embedded tier (through the store's thread) when it is used.
fn remote_lookup(
    rt: &Runtime,
    remote: &Remote,
    api: &SessionApi,
    ring: &Keyring,
    keys: &[StoreKey],
    now: u64,
) -> Option<*mut SslSession> {
    let (counter, label) = match remote.fetch(keys, now) {
        Fetched::Hit { index, value, taken } => {
            let store_key = &keys[index];
            let hit = (&COUNTERS.lookups_remote_hit, "remote_hit");
            let (sess, expiry) = opened(ring, api, store_key, &value, rt.config.domain.as_bytes(), now, hit)?;
            if !taken && rt.config.backend.uses_local() && flusher::writes_queued() {
                // A full queue only loses the warming: not counted.
                let _ = rt.writes.push(std::iter::once(Write::Put { key: *store_key, value, expiry }));
            }
            return Some(sess);
        }
        Fetched::Miss => (&COUNTERS.lookups_miss, "miss"),
        Fetched::Timeout => (&COUNTERS.lookups_timeout, "timeout"),
        Fetched::Error => (&COUNTERS.lookups_remote_error, "remote_error"),
        Fetched::BreakerOpen => (&COUNTERS.lookups_breaker_open, "breaker_open"),
        Fetched::Unavailable => (&COUNTERS.lookups_unavailable, "unavailable"),
        Fetched::RateLimited => (&COUNTERS.lookups_rate_limited, "rate_limited"),
    };
    outcome("get", counter, label, None);
    None
}

/// The counter and label of an entry the envelope refused.
fn rejected_outcome(rejected: &Rejected) -> (&'static AtomicU64, &'static str) {
    match rejected {
        Rejected::Incompatible => (&COUNTERS.lookups_incompatible, "incompatible"),
        Rejected::Expired => (&COUNTERS.lookups_expired, "expired"),
        _ => (&COUNTERS.lookups_auth_fail, "auth_fail"),
    }
}

/// After `SSL_CTX_remove_session` on a ctx the store serves: delete the
/// session's entry under every key that could have sealed it.
///
/// # Safety
/// `sess` is a live `SSL_SESSION` of `lib`.
pub unsafe fn on_remove(lib: &Libssl, sess: *mut SslSession) {
    let Some(api) = openssl::api(lib) else { return };
    // SAFETY: the caller guarantees `sess`.
    let id = unsafe { api.id(sess) };
    let now = engine::unix_now();
    if id.is_empty() {
        return;
    }
    flusher::ensure_running();
    if !REMOVE_BUDGET.admit(now) {
        outcome("remove", &COUNTERS.removes_rate_limited, "rate_limited", None);
        return;
    }
    let Some(rt) = engine::runtime() else { return };
    let domain = rt.config.domain.as_bytes();
    let keys: Vec<StoreKey> = rt
        .keyring()
        .openers(now)
        .into_iter()
        .map(|key| Subkeys::derive(key).store_key(domain, &id))
        .collect();
    let first = keys.first().copied();
    if let Some(remote) = &rt.remote
        && !remote.send(keys.iter().copied().map(Write::Delete), false)
    {
        outcome("remove", &COUNTERS.removes_error, "error", first.as_ref());
    }
    if !rt.config.backend.uses_local() {
        return outcome("remove", &COUNTERS.removes_propagated, "propagated", first.as_ref());
    }
    // Written now, after what this process still has queued (a put of the
    // same session must not land after its delete): a remove is rare and
    // off the handshake, and a process may `_exit` right after it, which
    // would lose a queued one.
    let mut writes = rt.writes.take(std::time::Instant::now());
    writes.extend(keys.into_iter().map(Write::Delete));
    writer::apply(&rt.tier, &writes, now);
    outcome("remove", &COUNTERS.removes_propagated, "propagated", first.as_ref());
}

/// A remove callback that was not an explicit removal (flush, expiry,
/// eviction, `SSL_CTX_free`): the shared entry stays.
pub fn ignored_remove() {
    outcome("remove", &COUNTERS.removes_ignored, "ignored", None);
}

/// Hands `write` to this process's store thread, or, where the host
/// allows no thread, applies it now. A full queue drops it (counted). A
/// `single_use` entry goes to Redis only: a copy in the embedded tier would
/// resume a second time.
fn queue_or_write(rt: &Runtime, write: Write, single_use: bool) {
    if let Some(remote) = &rt.remote {
        // Redis is written by its own thread, never here.
        if !remote.send(std::iter::once(write.clone()), single_use) {
            outcome("put", &COUNTERS.stores_queue_dropped, "queue_dropped", None);
        }
    }
    if single_use || !rt.config.backend.uses_local() {
        return;
    }
    if !flusher::writes_queued() {
        writer::apply(&rt.tier, &[write], engine::unix_now());
    } else if !rt.writes.push(std::iter::once(write)) {
        outcome("put", &COUNTERS.stores_queue_dropped, "queue_dropped", None);
    }
}
