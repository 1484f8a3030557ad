//! The store's writes leave the handshake. `new` seals its entry and
//! `SSL_CTX_remove_session` names the keys to delete; both go into this
//! process's queue, and the store's thread applies what is queued, in
//! order, in one LMDB write transaction. A handshake so never waits for
//! LMDB's write lock (held by another process's writer, or by its
//! eviction) nor for a commit's page writes: measured, those made a
//! synchronous write 13 µs at p50 and 20 µs at p99 (docs/performance.md).
//!
//! One queue per process (it lives in the process's `Runtime`, made anew
//! after `fork`), bounded: when full, a write is dropped and counted. A
//! put and a later delete of the same key keep their order. Writes still
//! queued when a process exits are lost, as a cache may lose them: the
//! client then makes a full handshake.

use std::sync::{Condvar, Mutex, MutexGuard};
use std::time::Instant;

use super::counters::{self, COUNTERS};
use super::lmdb::{Tier, Write};

/// Writes a process may have queued; more are dropped (counted). At 100k
/// new sessions a second the thread drains it every few milliseconds.
pub const CAPACITY: usize = 4096;

/// A bounded queue of writes and the signal that it is not empty (the
/// Redis tier queues its own kind of write).
pub struct Queue<T = Write> {
    writes: Mutex<Vec<T>>,
    ready: Condvar,
}

impl<T> Default for Queue<T> {
    fn default() -> Self {
        Self::new()
    }
}

impl<T> Queue<T> {
    pub fn new() -> Self {
        Queue { writes: Mutex::new(Vec::new()), ready: Condvar::new() }
    }

    fn lock(&self) -> MutexGuard<'_, Vec<T>> {
        // A panic while holding it left a valid Vec: keep using it.
        self.writes.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Queues `writes` together, or none of them if they do not fit
    /// (returns false: the caller counts the drop).
    pub fn push(&self, writes: impl ExactSizeIterator<Item = T>) -> bool {
        let mut queued = self.lock();
        if queued.len() + writes.len() > CAPACITY {
            return false;
        }
        let was_empty = queued.is_empty();
        queued.extend(writes);
        drop(queued);
        if was_empty {
            self.ready.notify_one();
        }
        true
    }

    /// Everything queued, waiting until something is or `deadline` passes.
    pub fn take(&self, deadline: Instant) -> Vec<T> {
        let mut queued = self.lock();
        while queued.is_empty() {
            let Some(left) = deadline.checked_duration_since(Instant::now()).filter(|d| !d.is_zero()) else {
                break;
            };
            queued = match self.ready.wait_timeout(queued, left) {
                Ok((guard, _)) => guard,
                Err(poisoned) => poisoned.into_inner().0,
            };
        }
        std::mem::take(&mut *queued)
    }
}

/// Applies `writes` to `tier` at `now` in one transaction and counts each outcome
/// (stored, or a backend error for every write of a failed batch).
pub fn apply(tier: &Tier, writes: &[Write], now: u64) {
    if writes.is_empty() {
        return;
    }
    let result = tier.apply(writes, now);
    if let Ok(evicted) = result {
        counters::add(&COUNTERS.evictions, evicted);
    }
    for write in writes {
        match (write, result.is_ok()) {
            (Write::Put { key, .. }, true) => counters::outcome("put", &COUNTERS.stores_ok, "ok", Some(key)),
            (Write::Put { key, .. }, false) => {
                counters::outcome("put", &COUNTERS.stores_backend_error, "backend_error", Some(key))
            }
            (Write::Delete(_), true) => {}
            (Write::Delete(key), false) => {
                counters::outcome("remove", &COUNTERS.removes_error, "error", Some(key))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    fn put(n: u8) -> Write {
        Write::Put { key: [n; 17], value: vec![n], expiry: 1 }
    }

    #[test]
    fn writes_come_out_in_order_and_a_full_queue_drops_whole_pushes() {
        let queue = Queue::new();
        assert!(queue.push([put(1), Write::Delete([1; 17])].into_iter()));
        assert!(queue.push((0..CAPACITY - 3).map(|_| put(2))));
        assert!(!queue.push([put(3), put(4)].into_iter()), "two do not fit in the one place left");
        assert!(queue.push([put(5)].into_iter()));
        let taken = queue.take(Instant::now());
        assert_eq!(taken.len(), CAPACITY);
        assert_eq!(taken[..2], [put(1), Write::Delete([1; 17])]);
        assert_eq!(taken[CAPACITY - 1], put(5));
        assert!(queue.take(Instant::now()).is_empty());
    }

    #[test]
    fn take_waits_for_a_push_and_no_longer_than_its_deadline() {
        let queue = std::sync::Arc::new(Queue::new());
        let started = Instant::now();
        assert!(queue.take(started + Duration::from_millis(30)).is_empty());
        assert!(started.elapsed() >= Duration::from_millis(30));
        let pusher = {
            let queue = queue.clone();
            std::thread::spawn(move || {
                std::thread::sleep(Duration::from_millis(20));
                queue.push([put(7)].into_iter())
            })
        };
        let taken = queue.take(Instant::now() + Duration::from_secs(10));
        assert_eq!(taken, [put(7)]);
        assert!(pusher.join().unwrap());
    }
}
