//! The process's Redis thread: everything slow about Redis happens here,
//! never on a handshake. It sends the queued writes (pipelined, in order)
//! on its own connection and keeps [`POOL_SIZE`] set-up connections ready
//! for lookups, reconnecting with a growing back-off while Redis is down.
//!
//! Like the store's other thread it blocks every signal and never calls
//! the application or OpenSSL. It ends when its process's `Remote` is gone.
//! For a Redis Cluster it runs cluster_thread.rs's loop instead.

use std::sync::Arc;
use std::time::Instant;

use super::commands::{self, Outgoing};
use super::conn::Conn;
use super::links::{BATCH, Backoff, NoConn, TICK, WRITE_TIMEOUT, connect_to, count};
use super::shared::{POOL_SIZE, Shared};
use super::spawn::spawn_quiet;

/// Starts the thread; false where the host allows no new thread.
pub fn start(shared: Arc<Shared>) -> bool {
    spawn_quiet("sesscb-redis", move || run(shared))
}

fn run(shared: Arc<Shared>) {
    if shared.cluster.is_some() {
        return super::cluster_thread::run(shared);
    }
    let mut writer: Option<Conn> = None;
    // One back-off each: a writer that keeps failing must not keep the
    // lookups' pool from connecting, nor the other way round.
    let (mut write_backoff, mut pool_backoff) = (Backoff::new(Instant::now()), Backoff::new(Instant::now()));
    // Connect first: the lookup that started this thread may be waiting.
    let _ = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| refill(&shared, &mut pool_backoff)));
    shared.first_setup_ended();
    // The Remote holds the other reference: alone, this thread is done.
    while Arc::strong_count(&shared) > 1 {
        let writes = shared.outbox.take(Instant::now() + TICK);
        let _ = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            for batch in writes.chunks(BATCH) {
                send(&shared, &mut writer, &mut write_backoff, batch);
            }
        }));
        shared.unsent_done(writes.len());
        let _ = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| refill(&shared, &mut pool_backoff)));
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

/// Tops the lookups' pool up to [`POOL_SIZE`] ready connections.
fn refill(shared: &Shared, backoff: &mut Backoff) {
    while shared.pooled() < POOL_SIZE {
        match connect(shared, backoff) {
            Some(conn) => shared.pool_add(conn),
            None => return,
        }
    }
}
