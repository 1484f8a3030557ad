//! What the Redis thread (thread.rs, and cluster_thread.rs for a Cluster)
//! needs around its connections: its timings, set-up connections made with
//! a growing back-off while a server is down, and the counting of what its
//! writes did.

use std::time::{Duration, Instant};

use super::commands::Outgoing;
use super::conn::Conn;
use super::shared::Shared;
use super::url::Target;
use crate::store::counters::{self, COUNTERS};
use crate::store::lmdb::Write;

/// How long the thread waits for writes before it checks the pool.
pub(crate) const TICK: Duration = Duration::from_millis(100);
/// Connect, AUTH, SELECT and PING must be done by then.
pub(crate) const SETUP_TIMEOUT: Duration = Duration::from_millis(500);
/// A batch of writes must be answered by then.
pub(crate) const WRITE_TIMEOUT: Duration = Duration::from_millis(500);
/// Writes per pipeline.
pub(crate) const BATCH: usize = 256;
pub(crate) const BACKOFF_MIN: Duration = Duration::from_millis(100);
pub(crate) const BACKOFF_MAX: Duration = Duration::from_secs(2);

/// When the next connection attempt may be made.
#[derive(Debug)]
pub struct Backoff {
    next: Instant,
    delay: Duration,
}

impl Backoff {
    pub fn new(now: Instant) -> Self {
        Backoff { next: now, delay: BACKOFF_MIN }
    }

    pub fn ready(&self, now: Instant) -> bool {
        now >= self.next
    }

    pub fn failed(&mut self, now: Instant) {
        self.next = now + self.delay;
        self.delay = (self.delay * 2).min(BACKOFF_MAX);
    }

    pub fn succeeded(&mut self) {
        self.delay = BACKOFF_MIN;
    }
}

/// Why no connection was made.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NoConn {
    /// The back-off says not yet.
    NotYet,
    Failed,
}

/// A set-up connection to `target`, unless the back-off says not yet or
/// the attempt fails.
pub fn connect_to(shared: &Shared, target: &Target, backoff: &mut Backoff) -> Result<Conn, NoConn> {
    let now = Instant::now();
    if !backoff.ready(now) {
        return Err(NoConn::NotYet);
    }
    match Conn::open(target, shared.tls.as_ref(), now + SETUP_TIMEOUT) {
        Ok(conn) => {
            backoff.succeeded();
            Ok(conn)
        }
        Err(_) => {
            backoff.failed(Instant::now());
            Err(NoConn::Failed)
        }
    }
}

/// Counts each write of `batch` as `applied` says.
pub fn count(batch: &[Outgoing], applied: Vec<bool>) {
    for (Outgoing { write, .. }, ok) in batch.iter().zip(applied) {
        let key = match write {
            Write::Put { key, .. } | Write::Delete(key) => key,
        };
        match (write, ok) {
            (Write::Put { .. }, true) => {
                counters::outcome("put", &COUNTERS.stores_remote_ok, "remote_ok", Some(key))
            }
            (Write::Put { .. }, false) => {
                counters::outcome("put", &COUNTERS.stores_remote_error, "remote_error", Some(key))
            }
            (Write::Delete(_), true) => {}
            (Write::Delete(_), false) => {
                counters::outcome("remove", &COUNTERS.removes_error, "error", Some(key))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_up_to_its_cap_and_resets_on_success() {
        let t = Instant::now();
        let mut b = Backoff::new(t);
        assert!(b.ready(t));
        b.failed(t);
        assert!(!b.ready(t) && b.ready(t + BACKOFF_MIN));
        for _ in 0..10 {
            b.failed(t);
        }
        assert!(b.ready(t + BACKOFF_MAX) && !b.ready(t + BACKOFF_MAX - Duration::from_millis(1)));
        b.succeeded();
        b.failed(t);
        assert!(b.ready(t + BACKOFF_MIN));
    }
}
