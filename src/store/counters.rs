//! The store's outcome counters (design §3.8), per process: why a lookup
//! missed, why a session was not stored, what a remove did, and how many
//! entries this process evicted to make room; and what the ticket key
//! callback did (src/tickets).
//!
//! Counting is one relaxed atomic add. A forked child starts from zero (a
//! `pthread_atfork` handler, registered on the first count): its counters
//! describe its own handshakes, so per-process metrics files add up, and
//! the parent alone folds what it counted before the fork.

use std::sync::Once;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};

use super::subkeys::StoreKey;
use crate::observe::stats::sesscb_stats;
use crate::observe::trace;

/// What a counter counts: the Prometheus family and the outcome label.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Family {
    Lookups,
    Stores,
    Removes,
    Evictions,
    /// Ticket key callback outcomes (`SESSCB_TICKET_KEYS`, src/tickets).
    Tickets,
}

impl Family {
    pub fn name(self) -> &'static str {
        match self {
            Family::Lookups => "lookups",
            Family::Stores => "stores",
            Family::Removes => "removes",
            Family::Evictions => "evictions",
            Family::Tickets => "tickets",
        }
    }
}

/// Process-wide outcome counters; every field is one outcome.
pub struct Counters {
    /// The application's own get callback returned a session.
    pub lookups_app_hit: AtomicU64,
    /// The embedded tier returned an authentic, compatible, live session.
    pub lookups_local_hit: AtomicU64,
    /// No entry under the id's store key (for any opening key).
    pub lookups_miss: AtomicU64,
    /// The tier failed (LMDB error).
    pub lookups_error: AtomicU64,
    /// An entry failed authentication (tampered, wrong key or domain).
    pub lookups_auth_fail: AtomicU64,
    /// An entry from another OpenSSL major version or family, or one this
    /// OpenSSL could not decode.
    pub lookups_incompatible: AtomicU64,
    /// An entry past its lifetime.
    pub lookups_expired: AtomicU64,
    pub stores_ok: AtomicU64,
    /// The session's DER is larger than `SESSCB_STORE_MAX_ENTRY`.
    pub stores_too_large: AtomicU64,
    /// A TLS 1.3 session that lives in its ticket, not in a cache.
    pub stores_skipped_tls13_stateless: AtomicU64,
    pub stores_skipped_no_id: AtomicU64,
    /// The tier failed, or the keyring had no current key.
    pub stores_backend_error: AtomicU64,
    /// The process's write queue was full: the entry was dropped.
    pub stores_queue_dropped: AtomicU64,
    /// A remove that deleted (or tried to delete) the shared entry.
    pub removes_propagated: AtomicU64,
    /// A remove that must not delete shared entries (ctx free, flush,
    /// expiry, eviction from one process's cache).
    pub removes_ignored: AtomicU64,
    /// A remove over the per-process budget: the entry is left to expire.
    pub removes_rate_limited: AtomicU64,
    /// A remove whose delete failed (LMDB or Redis error).
    pub removes_error: AtomicU64,
    /// Tickets encrypted under the keyring's current epoch key.
    pub tickets_issued: AtomicU64,
    /// Tickets decrypted under the current epoch key.
    pub tickets_decrypted: AtomicU64,
    /// Tickets decrypted under an older epoch (or keyring key): renewed.
    pub tickets_renewed: AtomicU64,
    /// Tickets under an epoch past the lifetime: full handshake.
    pub tickets_expired: AtomicU64,
    /// Tickets with a name the schedule does not know: full handshake.
    pub tickets_unknown: AtomicU64,
    /// Ticket operations served with keys the application set itself.
    pub tickets_app_keys: AtomicU64,
    /// Ctxs or operations left with OpenSSL's own keys (no keyring key).
    pub tickets_fallback: AtomicU64,
    /// Redis returned an authentic, compatible, live session.
    pub lookups_remote_hit: AtomicU64,
    /// Redis did not answer within `SESSCB_STORE_TIMEOUT_MS`.
    pub lookups_timeout: AtomicU64,
    /// The Redis breaker was open: Redis was not called.
    pub lookups_breaker_open: AtomicU64,
    /// Redis failed (I/O, protocol or server error).
    pub lookups_remote_error: AtomicU64,
    /// No established Redis connection to look up on.
    pub lookups_unavailable: AtomicU64,
    /// Writes Redis applied.
    pub stores_remote_ok: AtomicU64,
    /// Writes Redis failed or could not be sent.
    pub stores_remote_error: AtomicU64,
    /// Over the per-process cap on Redis lookups a second: not called.
    pub lookups_rate_limited: AtomicU64,
    /// Entries this process's writes evicted from the embedded tier.
    pub evictions: AtomicU64,
    /// Epoch keys read from Redis that opened under the keyring (`redis` ticket keys).
    pub tickets_redis_fetched: AtomicU64,
    /// Epoch keys this process made and Redis kept (`SET NX` won).
    pub tickets_redis_created: AtomicU64,
    /// Values in Redis that failed authentication or were malformed: ignored.
    pub tickets_redis_rejected: AtomicU64,
    /// Redis calls of the ticket-key thread that failed (connect, I/O, server error).
    pub tickets_redis_error: AtomicU64,
}

/// How many counters there are.
pub const COUNT: usize = 37;

pub static COUNTERS: Counters = Counters::new();

/// A copy of every counter, in [`Counters::fields`] order.
pub type Snapshot = [u64; COUNT];

impl Counters {
    pub const fn new() -> Self {
        Counters {
            lookups_app_hit: AtomicU64::new(0),
            lookups_local_hit: AtomicU64::new(0),
            lookups_miss: AtomicU64::new(0),
            lookups_error: AtomicU64::new(0),
            lookups_auth_fail: AtomicU64::new(0),
            lookups_incompatible: AtomicU64::new(0),
            lookups_expired: AtomicU64::new(0),
            stores_ok: AtomicU64::new(0),
            stores_too_large: AtomicU64::new(0),
            stores_skipped_tls13_stateless: AtomicU64::new(0),
            stores_skipped_no_id: AtomicU64::new(0),
            stores_backend_error: AtomicU64::new(0),
            stores_queue_dropped: AtomicU64::new(0),
            removes_propagated: AtomicU64::new(0),
            removes_ignored: AtomicU64::new(0),
            removes_rate_limited: AtomicU64::new(0),
            removes_error: AtomicU64::new(0),
            tickets_issued: AtomicU64::new(0),
            tickets_decrypted: AtomicU64::new(0),
            tickets_renewed: AtomicU64::new(0),
            tickets_expired: AtomicU64::new(0),
            tickets_unknown: AtomicU64::new(0),
            tickets_app_keys: AtomicU64::new(0),
            tickets_fallback: AtomicU64::new(0),
            lookups_remote_hit: AtomicU64::new(0),
            lookups_timeout: AtomicU64::new(0),
            lookups_breaker_open: AtomicU64::new(0),
            lookups_remote_error: AtomicU64::new(0),
            lookups_unavailable: AtomicU64::new(0),
            stores_remote_ok: AtomicU64::new(0),
            stores_remote_error: AtomicU64::new(0),
            lookups_rate_limited: AtomicU64::new(0),
            evictions: AtomicU64::new(0),
            tickets_redis_fetched: AtomicU64::new(0),
            tickets_redis_created: AtomicU64::new(0),
            tickets_redis_rejected: AtomicU64::new(0),
            tickets_redis_error: AtomicU64::new(0),
        }
    }

    /// Every counter with its family and outcome label: the one table the
    /// C struct, the LMDB fold, the CLI and the metrics file all follow.
    pub fn fields(&self) -> [(Family, &'static str, &AtomicU64); COUNT] {
        use Family::*;
        [
            (Lookups, "app_hit", &self.lookups_app_hit),
            (Lookups, "local_hit", &self.lookups_local_hit),
            (Lookups, "miss", &self.lookups_miss),
            (Lookups, "error", &self.lookups_error),
            (Lookups, "auth_fail", &self.lookups_auth_fail),
            (Lookups, "incompatible", &self.lookups_incompatible),
            (Lookups, "expired", &self.lookups_expired),
            (Stores, "ok", &self.stores_ok),
            (Stores, "too_large", &self.stores_too_large),
            (Stores, "skipped_tls13_stateless", &self.stores_skipped_tls13_stateless),
            (Stores, "skipped_no_id", &self.stores_skipped_no_id),
            (Stores, "backend_error", &self.stores_backend_error),
            (Stores, "queue_dropped", &self.stores_queue_dropped),
            (Removes, "propagated", &self.removes_propagated),
            (Removes, "ignored", &self.removes_ignored),
            (Removes, "rate_limited", &self.removes_rate_limited),
            (Removes, "error", &self.removes_error),
            (Tickets, "issued", &self.tickets_issued),
            (Tickets, "decrypted", &self.tickets_decrypted),
            (Tickets, "renewed", &self.tickets_renewed),
            (Tickets, "expired", &self.tickets_expired),
            (Tickets, "unknown", &self.tickets_unknown),
            (Tickets, "app_keys", &self.tickets_app_keys),
            (Tickets, "fallback", &self.tickets_fallback),
            (Lookups, "remote_hit", &self.lookups_remote_hit),
            (Lookups, "timeout", &self.lookups_timeout),
            (Lookups, "breaker_open", &self.lookups_breaker_open),
            (Lookups, "remote_error", &self.lookups_remote_error),
            (Lookups, "unavailable", &self.lookups_unavailable),
            (Stores, "remote_ok", &self.stores_remote_ok),
            (Stores, "remote_error", &self.stores_remote_error),
            (Lookups, "rate_limited", &self.lookups_rate_limited),
            (Tickets, "redis_fetched", &self.tickets_redis_fetched),
            (Tickets, "redis_created", &self.tickets_redis_created),
            (Tickets, "redis_rejected", &self.tickets_redis_rejected),
            (Tickets, "redis_error", &self.tickets_redis_error),
            (Evictions, "evicted", &self.evictions),
        ]
    }

    pub fn snapshot(&self) -> Snapshot {
        self.fields().map(|(_, _, c)| c.load(Relaxed))
    }

    fn reset(&self) {
        for (_, _, c) in self.fields() {
            c.store(0, Relaxed);
        }
    }
}

impl Default for Counters {
    fn default() -> Self {
        Self::new()
    }
}

/// The family and outcome of each snapshot position.
pub fn labels() -> [(Family, &'static str); COUNT] {
    COUNTERS.fields().map(|(family, outcome, _)| (family, outcome))
}

/// The LMDB key of a counter, e.g. `lookups.local_hit`.
pub fn key(family: Family, outcome: &str) -> String {
    format!("{}.{outcome}", family.name())
}

/// Counts one outcome of `op` and traces it (with 6 bytes of the store
/// key when an entry was addressed: never the session id or a secret).
pub fn outcome(op: &str, counter: &AtomicU64, label: &str, key: Option<&StoreKey>) {
    count(counter);
    trace::store_op(op, label, key.map(|k| &k[1..7]));
}

/// Counts one outcome.
#[inline]
pub fn count(counter: &AtomicU64) {
    add(counter, 1);
}

/// Counts `n` outcomes (no-op for 0).
#[inline]
pub fn add(counter: &AtomicU64, n: u64) {
    static CHILD_RESETS: Once = Once::new();
    if n == 0 {
        return;
    }
    CHILD_RESETS.call_once(|| {
        // SAFETY: registers a child handler that only makes atomic stores.
        unsafe { libc::pthread_atfork(None, None, Some(reset_in_child)) };
    });
    counter.fetch_add(n, Relaxed);
}

extern "C" fn reset_in_child() {
    COUNTERS.reset();
}

/// Writes this process's counters into the `store_` fields of a
/// `sesscb_stats` view (process totals; a ctx's view keeps zeros).
pub(crate) fn fill_stats(view: &mut sesscb_stats) {
    let (c, load) = (&COUNTERS, |counter: &AtomicU64| counter.load(Relaxed));
    view.store_lookups_app_hit = load(&c.lookups_app_hit);
    view.store_lookups_local_hit = load(&c.lookups_local_hit);
    view.store_lookups_miss = load(&c.lookups_miss);
    view.store_lookups_error = load(&c.lookups_error);
    view.store_lookups_auth_fail = load(&c.lookups_auth_fail);
    view.store_lookups_incompatible = load(&c.lookups_incompatible);
    view.store_lookups_expired = load(&c.lookups_expired);
    view.store_stores_ok = load(&c.stores_ok);
    view.store_stores_too_large = load(&c.stores_too_large);
    view.store_stores_skipped_tls13_stateless = load(&c.stores_skipped_tls13_stateless);
    view.store_stores_skipped_no_id = load(&c.stores_skipped_no_id);
    view.store_stores_backend_error = load(&c.stores_backend_error);
    view.store_stores_queue_dropped = load(&c.stores_queue_dropped);
    view.store_removes_propagated = load(&c.removes_propagated);
    view.store_removes_ignored = load(&c.removes_ignored);
    view.store_removes_rate_limited = load(&c.removes_rate_limited);
    view.store_removes_error = load(&c.removes_error);
    view.tickets_issued = load(&c.tickets_issued);
    view.tickets_decrypted = load(&c.tickets_decrypted);
    view.tickets_renewed = load(&c.tickets_renewed);
    view.tickets_expired = load(&c.tickets_expired);
    view.tickets_unknown = load(&c.tickets_unknown);
    view.tickets_app_keys = load(&c.tickets_app_keys);
    view.tickets_fallback = load(&c.tickets_fallback);
    view.store_lookups_remote_hit = load(&c.lookups_remote_hit);
    view.store_lookups_timeout = load(&c.lookups_timeout);
    view.store_lookups_breaker_open = load(&c.lookups_breaker_open);
    view.store_lookups_remote_error = load(&c.lookups_remote_error);
    view.store_lookups_unavailable = load(&c.lookups_unavailable);
    view.store_stores_remote_ok = load(&c.stores_remote_ok);
    view.store_stores_remote_error = load(&c.stores_remote_error);
    view.store_lookups_rate_limited = load(&c.lookups_rate_limited);
    view.store_evictions = load(&c.evictions);
    view.tickets_redis_fetched = load(&c.tickets_redis_fetched);
    view.tickets_redis_created = load(&c.tickets_redis_created);
    view.tickets_redis_rejected = load(&c.tickets_redis_rejected);
    view.tickets_redis_error = load(&c.tickets_redis_error);
}

#[cfg(test)]
mod tests;
