//! Starting a store thread that no signal is ever delivered to: the host's
//! handlers run on its own threads, never on ours.

/// Spawns `body` on a thread named `name` with every signal blocked; false
/// where the host forbids threads (haproxy sets RLIMIT_NPROC to 0).
pub fn spawn_quiet(name: &str, body: impl FnOnce() + Send + 'static) -> bool {
    // SAFETY: plain signal-mask calls on this thread, restored at once; the
    // new thread inherits the full mask.
    unsafe {
        let mut all: libc::sigset_t = std::mem::zeroed();
        let mut old: libc::sigset_t = std::mem::zeroed();
        libc::sigfillset(&mut all);
        libc::pthread_sigmask(libc::SIG_SETMASK, &all, &mut old);
        let started = std::thread::Builder::new().name(name.into()).spawn(body);
        libc::pthread_sigmask(libc::SIG_SETMASK, &old, std::ptr::null_mut());
        started.is_ok()
    }
}
