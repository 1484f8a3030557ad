//! Forks wait while the ticket-key thread works, so a child never inherits
//! it halfway through something: a lock, a `Once` being run, a resolver
//! call, a half-made connection. nginx's master, for one, holds this
//! thread (its first ctx started it) and forks workers at every reload.
//!
//! A `pthread_atfork` prepare handler takes the gate, waiting for the
//! thread's current tick at most 10 ms: a tick stuck on a sick
//! Redis must never stall the host's `fork` (nginx's reloads) for longer.
//! Past that the fork goes on without the gate; the child is still safe,
//! as every lock the thread takes is fork-aware and the child never uses
//! its parent's connection. The parent's handler releases the gate if the
//! prepare handler took it; the child's makes it new. The thread holds the
//! gate for each tick and sleeps outside it.

use std::cell::UnsafeCell;
use std::sync::Once;
use std::sync::atomic::{AtomicBool, Ordering};

/// The longest a `fork` waits for the thread's tick (10 ms).
const FORK_WAIT_NS: i64 = 10_000_000;

struct Gate(UnsafeCell<libc::pthread_mutex_t>);
// SAFETY: the mutex is only used through pthread calls, which synchronise.
unsafe impl Sync for Gate {}

static GATE: Gate = Gate(UnsafeCell::new(libc::PTHREAD_MUTEX_INITIALIZER));
static HANDLERS: Once = Once::new();
/// Whether the prepare handler took the gate (so the parent must release it).
static FORK_HELD: AtomicBool = AtomicBool::new(false);

/// Registers the fork handlers; call before the thread first holds the
/// gate, from a thread that does not hold it.
pub fn register() {
    HANDLERS.call_once(|| {
        // SAFETY: handlers that only lock, unlock or initialise GATE.
        unsafe { libc::pthread_atfork(Some(take_for_fork), Some(release_after_fork), Some(renew)) };
    });
}

/// The gate, held until the guard drops.
pub fn hold() -> Held {
    take();
    Held
}

pub struct Held;

impl Drop for Held {
    fn drop(&mut self) {
        release();
    }
}

extern "C" fn take() {
    // SAFETY: GATE is a valid, initialised mutex.
    unsafe { libc::pthread_mutex_lock(GATE.0.get()) };
}

/// The prepare handler: the gate within [`FORK_WAIT_NS`], or none.
extern "C" fn take_for_fork() {
    // SAFETY: a zeroed timespec is valid; clock_gettime fills it.
    let mut until: libc::timespec = unsafe { std::mem::zeroed() };
    // SAFETY: a valid clock id and out-pointer.
    unsafe { libc::clock_gettime(libc::CLOCK_REALTIME, &mut until) };
    let nanos = until.tv_nsec as i64 + FORK_WAIT_NS;
    until.tv_sec += (nanos / 1_000_000_000) as libc::time_t;
    until.tv_nsec = (nanos % 1_000_000_000) as _;
    // SAFETY: GATE is a valid, initialised mutex; `until` an absolute time.
    let took = unsafe { libc::pthread_mutex_timedlock(GATE.0.get(), &until) } == 0;
    FORK_HELD.store(took, Ordering::Relaxed);
}

extern "C" fn release_after_fork() {
    if FORK_HELD.swap(false, Ordering::Relaxed) {
        release();
    }
}

extern "C" fn release() {
    // SAFETY: the calling thread locked GATE (take).
    unsafe { libc::pthread_mutex_unlock(GATE.0.get()) };
}

/// In the child, whose one thread is the one that forked holding GATE.
extern "C" fn renew() {
    FORK_HELD.store(false, Ordering::Relaxed);
    // SAFETY: no other thread exists in the child to hold GATE.
    unsafe { libc::pthread_mutex_init(GATE.0.get(), std::ptr::null()) };
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::{Duration, Instant};

    fn fork_and_reap() -> Duration {
        let started = Instant::now();
        // SAFETY: the child only calls _exit; the parent reaps it.
        let pid = unsafe { libc::fork() };
        if pid == 0 {
            // SAFETY: leaving the child at once, running nothing of the test's.
            unsafe { libc::_exit(0) };
        }
        let took = started.elapsed();
        // SAFETY: waiting for our own child.
        unsafe { libc::waitpid(pid, std::ptr::null_mut(), 0) };
        took
    }

    #[test]
    fn a_fork_waits_for_a_stuck_tick_no_longer_than_its_bound_and_the_gate_still_works() {
        register();
        let (held, release_it) = (std::sync::mpsc::channel(), std::sync::mpsc::channel::<()>());
        let ticker = std::thread::spawn(move || {
            let gate = hold();
            held.0.send(()).unwrap();
            let _ = release_it.1.recv_timeout(Duration::from_secs(5));
            drop(gate);
        });
        held.1.recv().unwrap();
        let took = fork_and_reap();
        assert!(took < Duration::from_millis(500), "fork waited {took:?} for a stuck tick");
        release_it.0.send(()).unwrap();
        ticker.join().unwrap();
        // Not left locked by the fork's handlers: the thread can hold it again.
        drop(hold());
        assert!(fork_and_reap() < Duration::from_millis(500));
    }
}
