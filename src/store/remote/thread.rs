//! The process's Redis thread: everything slow about Redis happens here,
//! never on a handshake. It sends the queued writes (pipelined, in order)
//! on its own connection and keeps [`POOL_SIZE`] set-up connections ready
//! for lookups, reconnecting with a growing back-off while Redis is down.
//!
//! Like the store's other thread it blocks every signal and never calls
//! the application or OpenSSL. It ends when its process's `Remote` is gone.
//! For a Redis Cluster it runs cluster_thread.rs's loop instead.

use std::sync::Arc;
use std::time::{Duration, Instant};

use super::commands::{self, Outgoing};
use super::conn::Conn;
use super::shared::{POOL_SIZE, Shared};
use super::url::Target;
use super::spawn::spawn_quiet;
use crate::store::counters::{self, COUNTERS};
use crate::store::lmdb::Write;

/// How long the thread waits for writes before it checks the pool.
pub(super) const TICK: Duration = Duration::from_millis(100);
/// Connect, AUTH, SELECT and PING must be done by then.
pub(super) const SETUP_TIMEOUT: Duration = Duration::from_millis(500);
/// A batch of writes must be answered by then.
pub(super) const WRITE_TIMEOUT: Duration = Duration::from_millis(500);
/// Writes per pipeline.
pub(super) const BATCH: usize = 256;
const BACKOFF_MIN: Duration = Duration::from_millis(100);
const BACKOFF_MAX: Duration = Duration::from_secs(2);

/// Starts the thread; false where the host allows no new thread.
pub fn start(shared: Arc<Shared>) -> bool {
    spawn_quiet("sesscb-redis", move || run(shared))
}

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

fn run(shared: Arc<Shared>) {
    if shared.cluster.is_some() {
        return super::cluster_thread::run(shared);
    }
    let mut writer: Option<Conn> = None;
    // One back-off each: a writer that keeps failing must not keep the
    // lookups' pool from connecting, nor the other way round.
    let (mut write_backoff, mut pool_backoff) = (Backoff::new(Instant::now()), Backoff::new(Instant::now()));
    // The Remote holds the other reference: alone, this thread is done.
    while Arc::strong_count(&shared) > 1 {
        let writes = shared.outbox.take(Instant::now() + TICK);
        let _ = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            for batch in writes.chunks(BATCH) {
                send(&shared, &mut writer, &mut write_backoff, batch);
            }
            refill(&shared, &mut pool_backoff);
        }));
    }
}

/// Why no connection was made.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum NoConn {
    /// The back-off says not yet.
    NotYet,
    Failed,
}

/// A set-up connection to `target`, unless the back-off says not yet or
/// the attempt fails.
pub(super) fn connect_to(shared: &Shared, target: &Target, backoff: &mut Backoff) -> Result<Conn, NoConn> {
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

/// A set-up connection, unless the back-off says not yet or it fails.
fn connect(shared: &Shared, backoff: &mut Backoff) -> Option<Conn> {
    let conn = connect_to(shared, &shared.settings.target, backoff);
    if conn.as_ref().err() == Some(&NoConn::Failed) {
        shared.record(false);
    }
    conn.ok()
}

/// Sends one batch on the writer connection and counts each write.
fn send(shared: &Shared, writer: &mut Option<Conn>, backoff: &mut Backoff, batch: &[Outgoing]) {
    if writer.is_none() {
        *writer = connect(shared, backoff);
    }
    let applied = match writer.as_mut() {
        None => vec![false; batch.len()],
        Some(conn) => {
            match conn.call(&commands::writes(batch), batch.len(), Instant::now() + WRITE_TIMEOUT) {
                Ok(replies) => commands::applied(batch, &replies),
                Err(_) => {
                    // Never reused: replies of this batch may still arrive.
                    *writer = None;
                    backoff.failed(Instant::now());
                    vec![false; batch.len()]
                }
            }
        }
    };
    count(batch, applied);
}

/// Counts each write of `batch` as `applied` says.
pub(super) fn count(batch: &[Outgoing], applied: Vec<bool>) {
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

/// Tops the lookups' pool up to [`POOL_SIZE`] ready connections.
fn refill(shared: &Shared, backoff: &mut Backoff) {
    while shared.pooled() < POOL_SIZE {
        match connect(shared, backoff) {
            Some(conn) => shared.pool_add(conn),
            None => return,
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
