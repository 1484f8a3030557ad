//! A tiny fork-aware spin lock for the rare, short, application-code-free
//! critical sections (attaching a ctx to a slot).
//!
//! Why not `std::sync::Mutex`: after `fork()` in a threaded server only the
//! forking thread survives; a mutex another thread held stays locked forever
//! in the child. This lock records the holder's pid, so a child that finds
//! the lock held by its parent's (now nonexistent) thread takes it over.

use std::sync::atomic::{AtomicU32, Ordering};

use super::process_ids::current_pid;

pub struct ForkAwareLock {
    /// 0 when free, else the pid of the process whose thread holds it.
    holder_pid: AtomicU32,
}

pub struct ForkAwareGuard<'a> {
    lock: &'a ForkAwareLock,
}

impl ForkAwareLock {
    pub const fn new() -> Self {
        ForkAwareLock { holder_pid: AtomicU32::new(0) }
    }

    pub fn lock(&self) -> ForkAwareGuard<'_> {
        let me = current_pid();
        let mut spins: u32 = 0;
        loop {
            match self.holder_pid.compare_exchange_weak(0, me, Ordering::Acquire, Ordering::Relaxed) {
                Ok(_) => return ForkAwareGuard { lock: self },
                Err(holder) if holder != 0 && holder != me => {
                    // Held by another process: we are a forked child and the
                    // holder thread does not exist here.
                    if self
                        .holder_pid
                        .compare_exchange(holder, me, Ordering::Acquire, Ordering::Relaxed)
                        .is_ok()
                    {
                        return ForkAwareGuard { lock: self };
                    }
                }
                Err(_) => {}
            }
            spins = spins.wrapping_add(1);
            if spins.is_multiple_of(64) {
                std::thread::yield_now();
            } else {
                std::hint::spin_loop();
            }
        }
    }
}

impl Drop for ForkAwareGuard<'_> {
    fn drop(&mut self) {
        self.lock.holder_pid.store(0, Ordering::Release);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    #[test]
    fn excludes_threads_of_one_process() {
        let lock = Arc::new(ForkAwareLock::new());
        let counter = Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let inside = Arc::new(AtomicU32::new(0));
        let threads: Vec<_> = (0..4)
            .map(|_| {
                let (lock, counter, inside) = (lock.clone(), counter.clone(), inside.clone());
                std::thread::spawn(move || {
                    for _ in 0..2000 {
                        let _g = lock.lock();
                        assert_eq!(inside.fetch_add(1, Ordering::SeqCst), 0);
                        counter.fetch_add(1, Ordering::Relaxed);
                        inside.fetch_sub(1, Ordering::SeqCst);
                    }
                })
            })
            .collect();
        for t in threads {
            t.join().unwrap();
        }
        assert_eq!(counter.load(Ordering::Relaxed), 8000);
    }

    #[test]
    fn a_lock_held_by_another_pid_is_taken_over() {
        let lock = ForkAwareLock::new();
        // Simulate the state a forked child inherits: held by the parent.
        let _ = current_pid();
        lock.holder_pid.store(current_pid().wrapping_add(1).max(1), Ordering::Relaxed);
        let guard = lock.lock();
        assert_eq!(lock.holder_pid.load(Ordering::Relaxed), current_pid());
        drop(guard);
        assert_eq!(lock.holder_pid.load(Ordering::Relaxed), 0);
    }
}
