//! What a process's lookups and its Redis thread share: the ready
//! connections, the breaker and the queue of writes for Redis (for a
//! Cluster, the slot map and each master's connections and breaker).

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Condvar, Mutex};
use std::time::Instant;

use super::breaker::{Breaker, Change, jitter};
use super::cluster::Cluster;
use super::commands::Outgoing;
use super::conn::{self, Conn};
pub use super::locking::locked;
use crate::observe::trace;
use crate::store::config::RedisSettings;
use crate::store::ratelimit::PerSecond;
use crate::store::redis_health::{self, BreakerState};
use crate::store::writer::Queue;
use rustls::ClientConfig;
use std::sync::Arc;

/// Ready connections a process keeps for its lookups.
pub(crate) const POOL_SIZE: usize = 2;

/// What the lookups and the Redis thread share.
pub struct Shared {
    pub settings: RedisSettings,
    /// Set-up connections waiting for a lookup.
    pub(super) pool: Mutex<Vec<Conn>>,
    /// Signalled when a connection joins the pool or the first set-up ends.
    pool_changed: Condvar,
    /// True until the thread's first set-up attempt ended: only then may a
    /// lookup wait (within its deadline) for a connection, so a process's
    /// first lookups do not miss merely because it has just started.
    first_setup: AtomicBool,
    /// Writes queued for the thread and not yet sent (or given up).
    unsent: AtomicUsize,
    pub(super) breaker: Mutex<Breaker>,
    /// Writes waiting for the Redis thread.
    pub outbox: Queue<Outgoing>,
    /// `rediss://`: the TLS client settings, made once.
    pub tls: Option<Arc<ClientConfig>>,
    /// The cap on lookups a second, if any.
    pub budget: Option<PerSecond>,
    /// `redis+cluster://`: the slot map and the masters' sides (`pool` and
    /// `breaker` above are then unused).
    pub cluster: Option<Cluster>,
}

impl Shared {
    pub fn new(settings: RedisSettings) -> Self {
        let tls = if settings.target.tls { conn::tls_config(&settings.ca_certs) } else { None };
        let budget = (settings.lookups_per_second > 0).then(|| PerSecond::new(settings.lookups_per_second));
        let cluster = settings.target.is_cluster().then(Cluster::default);
        Shared {
            settings,
            pool: Mutex::new(Vec::new()),
            pool_changed: Condvar::new(),
            first_setup: AtomicBool::new(true),
            unsent: AtomicUsize::new(0),
            breaker: Mutex::new(Breaker::new()),
            outbox: Queue::new(),
            tls,
            budget,
            cluster,
        }
    }

    /// A ready connection, if one waits.
    pub fn pool_take(&self) -> Option<Conn> {
        locked(&self.pool).pop()
    }

    /// A ready connection; while the thread's first set-up is under way,
    /// waits for it until `deadline` (afterwards an empty pool means Redis
    /// is down or busy, and waiting would only slow a handshake).
    pub fn pool_take_by(&self, deadline: Instant) -> Option<Conn> {
        let mut pool = locked(&self.pool);
        while pool.is_empty() && self.first_setup.load(Ordering::Acquire) {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                break;
            }
            pool = match self.pool_changed.wait_timeout(pool, left) {
                Ok((pool, _)) => pool,
                Err(poisoned) => poisoned.into_inner().0,
            };
        }
        pool.pop()
    }

    /// `count` writes about to be queued for the thread (paired with
    /// [`Shared::unsent_done`] by the thread, or by the caller if the push
    /// fails).
    pub fn unsent_add(&self, count: usize) {
        self.unsent.fetch_add(count, Ordering::AcqRel);
    }

    /// `count` queued writes sent, or given up, by the thread.
    pub fn unsent_done(&self, count: usize) {
        let _ =
            self.unsent.fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| Some(n.saturating_sub(count)));
    }

    /// Queued writes the thread has not finished with.
    pub fn unsent(&self) -> usize {
        self.unsent.load(Ordering::Acquire)
    }

    /// The thread's first set-up attempt ended (connected or not).
    pub fn first_setup_ended(&self) {
        self.first_setup.store(false, Ordering::Release);
        let _pool = locked(&self.pool);
        self.pool_changed.notify_all();
    }

    /// How many ready connections wait.
    pub fn pooled(&self) -> usize {
        locked(&self.pool).len()
    }

    pub fn pool_add(&self, conn: Conn) {
        locked(&self.pool).push(conn);
        self.pool_changed.notify_one();
    }

    /// A lookup's or the Redis thread's success or failure, for the
    /// breaker: a Redis the thread cannot reach opens it as surely as
    /// lookups that time out.
    pub fn record(&self, success: bool) {
        let mut breaker = locked(&self.breaker);
        let change = if success { breaker.succeeded() } else { breaker.failed(Instant::now(), jitter()) };
        redis_health::set_breaker(if breaker.is_open() { BreakerState::Open } else { BreakerState::Closed });
        drop(breaker);
        match change {
            Some(Change::Opened) => trace::note("store", "redis breaker opened"),
            Some(Change::Closed) => trace::note("store", "redis breaker closed"),
            None => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::remote::url::{Address, Target};
    use std::time::Duration;

    fn shared() -> Arc<Shared> {
        let target = Target {
            address: Address::Tcp { host: "127.0.0.1".into(), port: 1 },
            tls: false,
            db: 0,
            user: None,
            password: None,
            seeds: Vec::new(),
        };
        let settings = RedisSettings {
            target,
            with_local: false,
            timeout: Duration::from_millis(2),
            single_use_tls13: false,
            ca_certs: Vec::new(),
            lookups_per_second: 0,
        };
        Arc::new(Shared::new(settings))
    }

    #[test]
    fn a_lookup_waits_for_the_first_setup_no_longer_than_its_deadline() {
        let shared = shared();
        let started = Instant::now();
        assert!(shared.pool_take_by(started + Duration::from_millis(30)).is_none());
        assert!(started.elapsed() >= Duration::from_millis(30));
    }

    #[test]
    fn the_first_setup_ending_wakes_a_waiting_lookup() {
        let shared = shared();
        let ender = shared.clone();
        let thread = std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(10));
            ender.first_setup_ended();
        });
        let started = Instant::now();
        assert!(shared.pool_take_by(started + Duration::from_secs(5)).is_none());
        assert!(started.elapsed() < Duration::from_secs(2), "woken, not timed out");
        thread.join().unwrap();
    }

    #[test]
    fn after_the_first_setup_an_empty_pool_answers_at_once() {
        let shared = shared();
        shared.first_setup_ended();
        let started = Instant::now();
        assert!(shared.pool_take_by(started + Duration::from_secs(5)).is_none());
        assert!(started.elapsed() < Duration::from_millis(500));
    }
}
