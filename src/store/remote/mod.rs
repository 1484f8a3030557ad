//! The Redis tier: a fleet's shared store (design §3.4–§3.5).
//!
//! - [`url`]: where Redis is, and its credentials.
//! - [`conn`]: one connection, every call under a hard deadline.
//! - [`commands`]: the store's keys, `MGET`, `SET … PXAT … NX`, `DEL`.
//! - [`breaker`]: stops lookups from calling a failing Redis.
//! - [`shared`]: what lookups and the Redis thread share (ready connections,
//!   the breaker, the write queue).
//! - [`spawn`]: starting a store thread no signal reaches.
//! - [`fetched`]: what a lookup found; [`locking`]: the shared locks;
//!   [`links`]: the thread's timings, back-off and write counting.
//! - [`slots`], [`cluster`], [`cluster_thread`]: Redis Cluster: slots and
//!   the slot map, lookups routed to each key's master, the thread's side.
//! - [`thread`]: the process's Redis thread: it connects (DNS, TCP, AUTH
//!   never happen on a handshake), keeps a few set-up connections ready for
//!   lookups, and sends the queued writes.
//!
//! A lookup takes a ready connection or misses; it waits at most the
//! deadline (`SESSCB_STORE_TIMEOUT_MS`) and drops a connection that failed
//! or timed out. One `Remote` per process: a forked child makes its own
//! and never touches the parent's sockets.

pub mod breaker;
pub mod cluster;
pub mod cluster_thread;
pub mod commands;
pub mod conn;
pub mod fetched;
pub mod links;
pub mod locking;
pub mod shared;
pub mod slots;
pub mod spawn;
pub mod thread;
pub mod url;

use std::sync::atomic::{AtomicBool, Ordering::Relaxed};
use std::sync::{Arc, Once};
use std::time::Instant;

use self::breaker::Admit;
use self::commands::Outgoing;
use self::conn::Failure;
pub use self::fetched::Fetched;
use self::shared::{Shared, locked};
use super::config::RedisSettings;
use super::lmdb::Write;
use super::subkeys::StoreKey;

/// The Redis tier of one process.
pub struct Remote {
    shared: Arc<Shared>,
    thread: Once,
    thread_runs: AtomicBool,
}

impl Remote {
    pub fn new(settings: RedisSettings) -> Self {
        Remote { shared: Arc::new(Shared::new(settings)), thread: Once::new(), thread_runs: false.into() }
    }

    /// Starts the Redis thread on first use; false where the host forbids
    /// threads (the tier then does nothing in this process).
    fn ensure_thread(&self) -> bool {
        self.thread.call_once(|| self.thread_runs.store(self::thread::start(self.shared.clone()), Relaxed));
        self.thread_runs.load(Relaxed)
    }

    /// Queues writes for Redis; false (the caller counts a drop) when the
    /// queue is full or no thread can send them.
    pub fn send(&self, writes: impl ExactSizeIterator<Item = Write>, single_use: bool) -> bool {
        self.ensure_thread() && self.shared.outbox.push(writes.map(|write| Outgoing { write, single_use }))
    }

    /// Whether TLS 1.3 sessions are single use (`SESSCB_STORE_SINGLE_USE`).
    pub fn single_use_tls13(&self) -> bool {
        self.shared.settings.single_use_tls13
    }

    /// Looks `keys` up, within the deadline, if the budget (wall-clock
    /// second `now`) and the breaker allow.
    pub fn fetch(&self, keys: &[StoreKey], now: u64) -> Fetched {
        self.ensure_thread();
        if self.shared.budget.as_ref().is_some_and(|budget| !budget.admit(now)) {
            return Fetched::RateLimited;
        }
        if let Some(cluster) = &self.shared.cluster {
            return cluster.fetch(keys, self.single_use_tls13(), self.shared.settings.timeout);
        }
        let admit = locked(&self.shared.breaker).admit(Instant::now());
        if admit == Admit::Refuse {
            return Fetched::BreakerOpen;
        }
        let Some(mut conn) = self.shared.pool_take() else {
            locked(&self.shared.breaker).abandoned(admit, Instant::now());
            return Fetched::Unavailable;
        };
        let deadline = Instant::now() + self.shared.settings.timeout;
        let (packed, replies) = self::commands::lookup(keys, self.single_use_tls13());
        let result = conn
            .call(&packed, replies, deadline)
            .and_then(|replies| self::commands::found_in(replies, keys.len()));
        match result {
            Ok(found) => {
                self.shared.pool_add(conn);
                self.record(None);
                found.map_or(Fetched::Miss, |(index, value, taken)| Fetched::Hit { index, value, taken })
            }
            // The connection is dropped: a late reply must never answer
            // the next lookup.
            Err(failure) => {
                self.record(Some(failure));
                if failure == Failure::Timeout { Fetched::Timeout } else { Fetched::Error }
            }
        }
    }

    fn record(&self, failure: Option<Failure>) {
        self.shared.record(failure.is_none());
    }
}
