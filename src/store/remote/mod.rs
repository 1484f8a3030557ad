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
//! - [`inline`]: where the host forbids threads, the session events drive
//!   one connection themselves, never waiting but for a lookup's replies.
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
pub mod inline;
pub mod links;
pub mod locking;
pub mod shared;
pub mod slots;
pub mod spawn;
pub mod thread;
pub mod url;

use std::sync::atomic::{AtomicBool, Ordering::Relaxed};
use std::sync::{Arc, Once, OnceLock};
use std::time::{Duration, Instant};

use redis::Value;

use self::breaker::Admit;
use self::commands::Outgoing;
use self::conn::Failure;
pub use self::fetched::Fetched;
use self::inline::Inline;
use self::shared::{Shared, locked};
use super::config::RedisSettings;
use super::lmdb::Write;
use super::redis_health::{self, BreakerState};
use super::subkeys::StoreKey;

/// The Redis tier of one process.
pub struct Remote {
    shared: Arc<Shared>,
    thread: Once,
    thread_runs: AtomicBool,
    /// Where no thread may start: the events' own connection (None: the
    /// target needs the thread).
    inline: OnceLock<Option<Inline>>,
}

impl Remote {
    pub fn new(settings: RedisSettings) -> Self {
        Remote {
            shared: Arc::new(Shared::new(settings)),
            thread: Once::new(),
            thread_runs: false.into(),
            inline: OnceLock::new(),
        }
    }

    /// Starts the Redis thread on first use; false where the host forbids
    /// threads (the tier then runs inline).
    fn ensure_thread(&self) -> bool {
        self.thread.call_once(|| self.thread_runs.store(self::thread::start(self.shared.clone()), Relaxed));
        self.thread_runs.load(Relaxed)
    }

    /// The inline tier, where the host forbids threads.
    fn inline(&self) -> Option<&Inline> {
        if self.ensure_thread() {
            return None;
        }
        self.inline.get_or_init(|| Inline::for_target(&self.shared.settings.target)).as_ref()
    }

    /// Queues writes for Redis; false (the caller counts a drop) when the
    /// queue is full or nothing can send them.
    pub fn send(&self, writes: impl ExactSizeIterator<Item = Write>, single_use: bool) -> bool {
        let inline = self.inline();
        if inline.is_none() && !self.ensure_thread() {
            return false;
        }
        let count = writes.len();
        // Counted before the push: the thread may send them at once.
        let counted = inline.is_none();
        if counted {
            self.shared.unsent_add(count);
        }
        let queued = self.shared.outbox.push(writes.map(|write| Outgoing { write, single_use }));
        if counted && !queued {
            self.shared.unsent_done(count);
        }
        if let Some(inline) = inline {
            inline.progress(&self.shared);
        }
        queued
    }

    /// At exit: gives the Redis thread up to `grace` to send what is
    /// queued (a removal or a session made just before a server exits
    /// would otherwise never reach the fleet). Inline processes send at
    /// each event and have nothing to wait for.
    pub fn settle(&self, grace: Duration) {
        if !self.thread_runs.load(Relaxed) {
            return;
        }
        let deadline = Instant::now() + grace;
        while self.shared.unsent() > 0 && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(1));
        }
    }

    /// Whether TLS 1.3 sessions are single use (`SESSCB_STORE_SINGLE_USE`).
    pub fn single_use_tls13(&self) -> bool {
        self.shared.settings.single_use_tls13
    }

    /// Looks `keys` up, within the deadline, if the budget (wall-clock
    /// second `now`) and the breaker allow; the time it took goes to the
    /// lookup-latency histogram (what the tier added to the handshake).
    pub fn fetch(&self, keys: &[StoreKey], now: u64) -> Fetched {
        let started = Instant::now();
        let fetched = self.fetch_within_deadline(keys, now);
        redis_health::LOOKUP_LATENCY.observe(started.elapsed());
        fetched
    }

    fn fetch_within_deadline(&self, keys: &[StoreKey], now: u64) -> Fetched {
        let inline = self.inline();
        if let Some(cluster) = &self.shared.cluster {
            // A cluster needs the thread (inline refuses it): no thread, no call.
            if !self.ensure_thread() {
                return Fetched::Unavailable;
            }
            if self.shared.budget.as_ref().is_some_and(|budget| !budget.admit(now)) {
                return Fetched::RateLimited;
            }
            return cluster.fetch(keys, self.single_use_tls13(), self.shared.settings.timeout);
        }
        let admit = match self.admitted(now) {
            Ok(admit) => admit,
            Err(refused) => {
                // No call, but an inline connection still moves along.
                if let Some(inline) = inline {
                    inline.progress(&self.shared);
                }
                return refused;
            }
        };
        let deadline = Instant::now() + self.shared.settings.timeout;
        let (packed, replies) = self::commands::lookup(keys, self.single_use_tls13());
        let answer = |values| self::commands::found_in(values, keys.len());
        let called = match inline {
            Some(inline) => inline.call(&self.shared, &packed, replies, deadline).map(|r| r.and_then(answer)),
            None => self.pooled_call(&packed, replies, deadline, answer),
        };
        let Some(result) = called else {
            locked(&self.shared.breaker).abandoned(admit, Instant::now());
            return Fetched::Unavailable;
        };
        self.record(result.as_ref().err().copied());
        match result {
            Ok(found) => {
                found.map_or(Fetched::Miss, |(index, value, taken)| Fetched::Hit { index, value, taken })
            }
            Err(Failure::Timeout) => Fetched::Timeout,
            Err(_) => Fetched::Error,
        }
    }

    /// Whether the budget and the breaker let a lookup call Redis.
    fn admitted(&self, now: u64) -> Result<Admit, Fetched> {
        if self.shared.budget.as_ref().is_some_and(|budget| !budget.admit(now)) {
            return Err(Fetched::RateLimited);
        }
        match locked(&self.shared.breaker).admit(Instant::now()) {
            Admit::Refuse => Err(Fetched::BreakerOpen),
            Admit::Probe => {
                redis_health::set_breaker(BreakerState::HalfOpen);
                Ok(Admit::Probe)
            }
            admit => Ok(admit),
        }
    }

    /// A lookup on a ready connection of the thread's pool, put back only
    /// after a good answer: after a failure a late reply must never answer
    /// the next lookup. None: no ready connection.
    fn pooled_call<T>(
        &self,
        packed: &[u8],
        replies: usize,
        deadline: Instant,
        answer: impl FnOnce(Vec<Value>) -> Result<T, Failure>,
    ) -> Option<Result<T, Failure>> {
        let mut conn = self.shared.pool_take_by(deadline)?;
        let result = conn.call(packed, replies, deadline).and_then(answer);
        if result.is_ok() {
            self.shared.pool_add(conn);
        }
        Some(result)
    }

    fn record(&self, failure: Option<Failure>) {
        self.shared.record(failure.is_none());
    }
}
