//! Forks wait while the ticket-key thread works, so a child never inherits
//! it halfway through something: a lock, a `Once` being run, a resolver
//! call, a half-made connection. nginx's master, for one, holds this
//! thread (its first ctx started it) and forks workers at every reload.
//!
//! A `pthread_atfork` prepare handler takes the gate (waiting for the
//! thread's current tick, bounded by its deadline), the parent's handler
//! releases it and the child's makes it new. The thread holds the gate for
//! each tick and sleeps outside it.

use std::cell::UnsafeCell;
use std::sync::Once;

struct Gate(UnsafeCell<libc::pthread_mutex_t>);
// SAFETY: the mutex is only used through pthread calls, which synchronise.
unsafe impl Sync for Gate {}

static GATE: Gate = Gate(UnsafeCell::new(libc::PTHREAD_MUTEX_INITIALIZER));
static HANDLERS: Once = Once::new();

/// Registers the fork handlers; call before the thread first holds the
/// gate, from a thread that does not hold it.
pub fn register() {
    HANDLERS.call_once(|| {
        // SAFETY: handlers that only lock, unlock or initialise GATE.
        unsafe { libc::pthread_atfork(Some(take), Some(release), Some(renew)) };
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

extern "C" fn release() {
    // SAFETY: the calling thread locked GATE (take).
    unsafe { libc::pthread_mutex_unlock(GATE.0.get()) };
}

/// In the child, whose one thread is the one that forked holding GATE.
extern "C" fn renew() {
    // SAFETY: no other thread exists in the child to hold GATE.
    unsafe { libc::pthread_mutex_init(GATE.0.get(), std::ptr::null()) };
}
