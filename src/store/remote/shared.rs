//! What a process's lookups and its Redis thread share: the ready
//! connections, the breaker and the queue of writes for Redis.

use std::sync::{Mutex, MutexGuard};

use super::breaker::Breaker;
use super::conn::Conn;
use crate::store::config::RedisSettings;
use crate::store::writer::Queue;

/// Ready connections a process keeps for its lookups.
pub(crate) const POOL_SIZE: usize = 2;

/// What the lookups and the Redis thread share.
pub struct Shared {
    pub settings: RedisSettings,
    /// Set-up connections waiting for a lookup.
    pub(super) pool: Mutex<Vec<Conn>>,
    pub(super) breaker: Mutex<Breaker>,
    /// Writes waiting for the Redis thread.
    pub outbox: Queue,
}

impl Shared {
    pub fn new(settings: RedisSettings) -> Self {
        Shared {
            settings,
            pool: Mutex::new(Vec::new()),
            breaker: Mutex::new(Breaker::new()),
            outbox: Queue::new(),
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

    pub fn breaker_open(&self) -> bool {
        locked(&self.breaker).is_open()
    }
}

pub fn locked<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    // Nothing panics while holding these; a poisoned one is still valid.
    m.lock().unwrap_or_else(|p| p.into_inner())
}
