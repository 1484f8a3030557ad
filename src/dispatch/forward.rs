//! What a trampoline does: call the application's callback with the very
//! same arguments, return its very same result, then count and trace.
//!
//! Nothing here touches a reference count, the `copy` value, or any OpenSSL
//! state, and no sesscb lock is held while the application runs (its
//! callback may re-enter the six functions; OpenSSL may hold `ctx->lock`).

use std::ffi::{c_int, c_uchar};

use crate::ffi::callbacks::{self, Address, Kind};
use crate::ffi::types::{Ssl, SslCtx, SslSession};
use crate::libssl::handle::Libssl;
use crate::libssl::resolver;
use crate::limits::SLOT_COUNT;
use crate::observe::event::Event;
use crate::observe::stats::{self, Counters};
use crate::observe::trace as log;
use crate::registry::freed;
use crate::registry::shared;
use crate::registry::slots;
use crate::store::hooks as store;

use super::removal;

/// Where trampoline `index` leads: the application's callback and, for a
/// per-ctx slot, that slot's index (None: a shared trampoline).
#[inline(always)]
fn route(kind: Kind, index: usize) -> (Address, Option<usize>) {
    if index < SLOT_COUNT {
        (slots::get(index).callback(kind), Some(index))
    } else {
        (shared::function(kind, index - SLOT_COUNT), None)
    }
}

/// Where remove trampoline `index` leads when OpenSSL calls it for `ctx`.
/// OpenSSL passes the ctx whose field it called: one that is not the slot's
/// is being freed, after sesscb's ex_data free function released the slot
/// (`registry::freed`); it reaches what the slot held for it then, counted
/// in the process totals only. A live ctx pays one load.
#[inline(always)]
fn remove_route(ctx: *mut SslCtx, index: usize) -> (Address, Option<usize>) {
    let (address, slot) = route(Kind::Remove, index);
    match slot {
        Some(own) if slots::get(own).ctx() != ctx => {
            let held = freed::lookup(ctx).filter(|&(was, _)| was == own);
            (held.map_or(0, |(_, callbacks)| callbacks[Kind::Remove.index()]), None)
        }
        _ => (address, slot),
    }
}

/// For the trace: the ctx OpenSSL consulted (known for a slot), and the
/// libssl whose functions may be called on this event's objects — the
/// slot's owner, or for a shared trampoline the process's only libssl (with
/// two, a shared trampoline cannot tell which made the objects).
fn tracing_context(slot: Option<usize>) -> (Option<*mut SslCtx>, Option<&'static Libssl>) {
    match slot.map(slots::get) {
        Some(slot) => (Some(slot.ctx()), slot.libssl()),
        None => (None, resolver::sole()),
    }
}

/// A slot's index and atomic counters, for [`stats::record`].
#[inline(always)]
fn counted(slot: Option<usize>) -> Option<(usize, &'static Counters)> {
    slot.map(|index| (index, &slots::get(index).counters))
}

/// For the trace: `SSL_get_SSL_CTX(ssl)`, asked of `lib` (NULL without one).
///
/// # Safety
/// `ssl` is OpenSSL's live argument for this callback.
unsafe fn ssl_ctx_of(lib: Option<&Libssl>, ssl: *mut Ssl) -> *mut SslCtx {
    // SAFETY: the caller guarantees `ssl`.
    lib.map_or(std::ptr::null_mut(), |l| unsafe { l.ssl_ctx_of(ssl) })
}

/// For the trace: the session's id, asked of `lib` (empty without one).
///
/// # Safety
/// `sess` is OpenSSL's live argument (the application may have freed its
/// reference, but OpenSSL's own keeps it alive until the callback returns).
unsafe fn session_id<'a>(lib: Option<&Libssl>, sess: *mut SslSession) -> &'a [u8] {
    // SAFETY: the caller guarantees `sess`.
    lib.map_or(&[][..], |l| unsafe { l.session_id(sess) })
}

/// # Safety
/// Called only by a new-session trampoline, with libssl's arguments.
#[inline(never)]
pub unsafe fn on_new(ssl: *mut Ssl, sess: *mut SslSession, index: usize) -> c_int {
    let (address, slot) = route(Kind::New, index);
    // A racing `set(NULL)` after OpenSSL read the field: behave as if the
    // callback had already been cleared, 0 meaning no reference kept
    // (docs/openssl-behaviour.md, "The new-session callback").
    let Some(app) = callbacks::new_from_address(address) else {
        // A ctx the store provides for (or a racing clear): no application
        // callback, nothing kept, 0 for OpenSSL.
        let _ = std::panic::catch_unwind(|| store_new(slot, ssl, sess, None));
        return 0;
    };
    // With the store on, the session's lifetime is clamped before the
    // application caches it (store::before_new).
    let planned = if store::active() {
        std::panic::catch_unwind(|| store_plan(slot, ssl, sess)).ok().flatten()
    } else {
        None
    };
    // SAFETY: `app` is the application's new-session callback for the ctx
    // OpenSSL consulted; the arguments are OpenSSL's (the session's timeout
    // shortened when the store is on and its limits end it sooner).
    let ret = unsafe { app(ssl, sess) };
    let _ = std::panic::catch_unwind(|| {
        stats::record(counted(slot), Event::new_session(ret != 0));
        if log::enabled() {
            let (session_ctx, lib) = tracing_context(slot);
            // SAFETY: `ssl` and `sess` are OpenSSL's live arguments.
            let (ssl_ctx, sid) = unsafe { (ssl_ctx_of(lib, ssl), session_id(lib, sess)) };
            log::new_event(session_ctx, ssl_ctx, sid, ret);
        }
        if store::active() {
            store_new(slot, ssl, sess, planned);
        }
    });
    ret
}

/// Whether the shared store serves the ctx behind `slot`: it is on, and its
/// mode covers a ctx whose application set callbacks (or set none).
#[inline]
fn store_serves(slot: Option<usize>) -> bool {
    store::active() && {
        let has_app = slot.is_none_or(|s| Kind::ALL.iter().any(|&k| slots::get(s).callback(k) != 0));
        store::serves(has_app)
    }
}

/// The store's part of a new-session event (out of line: with the store
/// off, a callback pays one load and a branch).
#[cold]
#[inline(never)]
fn store_new(slot: Option<usize>, ssl: *mut Ssl, sess: *mut SslSession, planned: Option<store::Planned>) {
    if !store_serves(slot) {
        return;
    }
    if let Some(lib) = tracing_context(slot).1 {
        // SAFETY: OpenSSL's own reference keeps `sess` alive until this
        // trampoline returns; `lib` made the ctx.
        unsafe { store::on_new(lib, ssl, sess, planned) };
    }
}

/// The store's part before the application's new-session callback.
#[cold]
#[inline(never)]
fn store_plan(slot: Option<usize>, ssl: *mut Ssl, sess: *mut SslSession) -> Option<store::Planned> {
    if !store_serves(slot) {
        return None;
    }
    let lib = tracing_context(slot).1?;
    // SAFETY: OpenSSL's live arguments; `lib` made the ctx.
    unsafe { store::before_new(lib, ssl, sess) }
}

/// # Safety
/// Called only by a get-session trampoline, with libssl's arguments.
#[inline(never)]
pub unsafe fn on_get(
    ssl: *mut Ssl,
    data: *const c_uchar,
    len: c_int,
    copy: *mut c_int,
    index: usize,
) -> *mut SslSession {
    let (address, slot) = route(Kind::Get, index);
    // Racing clear: a miss, and `*copy` left unwritten (docs/openssl-behaviour.md,
    // "The get callback").
    let Some(app) = callbacks::get_from_address(address) else {
        // A ctx the store provides for (or a racing clear: then a miss with
        // `*copy` untouched, as the store is not asked).
        return std::panic::catch_unwind(|| from_store(slot, ssl, data, len, copy))
            .unwrap_or(std::ptr::null_mut());
    };
    let tracing = log::enabled();
    // The value OpenSSL preset, read only for the trace.
    // SAFETY: `copy` is OpenSSL's live `int` for the duration of this call.
    let copy_in = if tracing && !copy.is_null() { unsafe { *copy } } else { 1 };
    // SAFETY: the application's get callback with OpenSSL's own arguments,
    // including the very same `copy` pointer.
    let mut session = unsafe { app(ssl, data, len, copy) };
    if store::active() {
        session = std::panic::catch_unwind(|| after_app_get(slot, ssl, data, len, copy, session))
            .unwrap_or(session);
    }
    let _ = std::panic::catch_unwind(|| {
        let hit = !session.is_null();
        // SAFETY: as above; read after the application wrote it.
        let copy_out = if copy.is_null() { 1 } else { unsafe { *copy } };
        stats::record(counted(slot), Event::get_session(hit, copy_out == 0));
        if tracing {
            let (session_ctx, lib) = tracing_context(slot);
            // SAFETY: `ssl` is OpenSSL's live argument.
            let ssl_ctx = unsafe { ssl_ctx_of(lib, ssl) };
            log::get_event(session_ctx, ssl_ctx, data, len, copy_in, copy_out, session);
        }
    });
    session
}

/// The store's part of a get event: its answer when the application's
/// callback missed, else the application's hit counted (out of line, as
/// [`store_new`]).
#[cold]
#[inline(never)]
fn after_app_get(
    slot: Option<usize>,
    ssl: *mut Ssl,
    data: *const c_uchar,
    len: c_int,
    copy: *mut c_int,
    app_session: *mut SslSession,
) -> *mut SslSession {
    if !app_session.is_null() {
        return match tracing_context(slot).1.filter(|_| store_serves(slot)) {
            // SAFETY: OpenSSL passes the id's `len` bytes, live for this
            // call; `app_session` and `copy` are the application's answer.
            Some(lib) => unsafe { store::on_app_hit(lib, id_bytes(data, len), app_session, copy) },
            None => app_session,
        };
    }
    from_store(slot, ssl, data, len, copy)
}

/// The session id OpenSSL passed a get callback.
///
/// # Safety
/// `data` points to `len` bytes live for the caller's lifetime `'a`, or is
/// NULL.
unsafe fn id_bytes<'a>(data: *const c_uchar, len: c_int) -> &'a [u8] {
    if data.is_null() || len <= 0 {
        &[]
    } else {
        // SAFETY: the caller guarantees `len` readable bytes at `data`.
        unsafe { std::slice::from_raw_parts(data, len as usize) }
    }
}

/// The shared store's answer when the application's get callback missed.
#[cold]
#[inline(never)]
fn from_store(
    slot: Option<usize>,
    ssl: *mut Ssl,
    data: *const c_uchar,
    len: c_int,
    copy: *mut c_int,
) -> *mut SslSession {
    if !store_serves(slot) {
        return std::ptr::null_mut();
    }
    let (session_ctx, lib) = tracing_context(slot);
    let Some(lib) = lib else { return std::ptr::null_mut() };
    // SAFETY: OpenSSL passes the id's `len` bytes, live for this call.
    let id = unsafe { id_bytes(data, len) };
    // SAFETY: `ssl` and `copy` are OpenSSL's live arguments; `lib` made them;
    // the slot's ctx is the live session_ctx OpenSSL consulted.
    unsafe { store::on_get(lib, session_ctx, ssl, id, copy) }
}

/// # Safety
/// Called only by a remove-session trampoline, with libssl's arguments. May
/// run with `ctx->lock` held and the ctx's refcount at 0 (`SSL_CTX_free`):
/// nothing here calls OpenSSL except, when tracing, lock-free getters.
#[inline(never)]
pub unsafe fn on_remove(ctx: *mut SslCtx, sess: *mut SslSession, index: usize) {
    let (address, slot) = remove_route(ctx, index);
    let Some(app) = callbacks::remove_from_address(address) else { return };
    // SAFETY: the application's remove callback with OpenSSL's own arguments.
    unsafe { app(ctx, sess) };
    let _ = std::panic::catch_unwind(|| {
        stats::record(counted(slot), Event::Remove);
        if store::active() && !removal::in_explicit_remove() {
            // A flush, expiry, eviction or SSL_CTX_free: never propagated.
            store::ignored_remove();
        }
        if log::enabled() {
            // SAFETY: `sess` is OpenSSL's live argument.
            let sid = unsafe { session_id(tracing_context(slot).1, sess) };
            log::remove_event(ctx, sid);
        }
    });
}
