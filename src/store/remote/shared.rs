//! What a process's lookups and its Redis thread share: the ready
//! connections, the breaker and the queue of writes for Redis (for a
//! Cluster, the slot map and each master's connections and breaker).

use std::sync::Mutex;
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

    /// How many ready connections wait.
    pub fn pooled(&self) -> usize {
        locked(&self.pool).len()
    }

    pub fn pool_add(&self, conn: Conn) {
        locked(&self.pool).push(conn);
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
