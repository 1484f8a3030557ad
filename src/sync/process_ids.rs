//! This process's pid and the calling thread's tid, cached and kept right
//! across `fork()` (the trace stamps every line with them; the fork-aware
//! lock records its holder's pid).

use std::cell::Cell;
use std::sync::Once;
use std::sync::atomic::{AtomicU32, Ordering};

/// This process's pid without a system call per use: cached, and refreshed
/// in a forked child by a `pthread_atfork` handler (registered on first use,
/// never in a constructor).
pub fn current_pid() -> u32 {
    let cached = PID.load(Ordering::Relaxed);
    if cached != 0 {
        return cached;
    }
    FORK_HANDLER.call_once(|| {
        // SAFETY: registers a child handler that only makes system calls
        // and atomic/thread-local stores.
        unsafe { libc::pthread_atfork(None, None, Some(after_fork_in_child)) };
    });
    refresh_pid()
}

/// The calling thread's id, cached per thread (reset in a forked child,
/// whose one thread has a new id).
pub fn current_tid() -> i32 {
    TID.with(|tid| {
        if tid.get() == 0 {
            // SAFETY: gettid has no preconditions and cannot fail.
            tid.set(unsafe { libc::gettid() });
        }
        tid.get()
    })
}

static PID: AtomicU32 = AtomicU32::new(0);
static FORK_HANDLER: Once = Once::new();
thread_local! {
    static TID: Cell<i32> = const { Cell::new(0) };
}

fn refresh_pid() -> u32 {
    // SAFETY: getpid has no preconditions and cannot fail.
    let pid = unsafe { libc::getpid() } as u32;
    PID.store(pid, Ordering::Relaxed);
    pid
}

extern "C" fn after_fork_in_child() {
    refresh_pid();
    let _ = TID.try_with(|tid| tid.set(0));
}

#[cfg(test)]
mod fork_tests {
    use super::*;

    #[test]
    fn a_forked_child_sees_its_own_pid_and_tid() {
        let parent = (current_pid(), current_tid());
        // SAFETY: the child only makes system calls and exits.
        let child = unsafe { libc::fork() };
        if child == 0 {
            // SAFETY: getpid and gettid have no preconditions.
            let (pid, tid) = unsafe { (libc::getpid() as u32, libc::gettid()) };
            let ok = current_pid() == pid && current_pid() != parent.0 && current_tid() == tid;
            // SAFETY: ends the forked child without running the parent's
            // destructors or the test harness.
            unsafe { libc::_exit(if ok { 0 } else { 1 }) };
        }
        let mut status = 0;
        // SAFETY: waits for the child just forked.
        unsafe { libc::waitpid(child, &mut status, 0) };
        assert!(libc::WIFEXITED(status) && libc::WEXITSTATUS(status) == 0, "child saw stale ids");
        assert_eq!(current_pid(), parent.0);
    }
}
