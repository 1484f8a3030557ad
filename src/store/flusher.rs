//! The store's background thread: every few seconds it folds this
//! process's counter deltas into the tier's host-wide totals (one write
//! transaction, never one per handshake) and rewrites the metrics file.
//!
//! Started on the first data event of each process (and anew in a forked
//! child, which inherits no threads); it blocks every signal and never
//! calls the application or OpenSSL: only LMDB and the file system. Counts
//! of the last interval before a process exits are not folded.

use std::sync::atomic::{AtomicU32, Ordering::Relaxed};
use std::time::Duration;

use super::counters::{self, COUNTERS, Family, Snapshot};
use super::{engine, metrics};
use crate::sync::process_ids::current_pid;

/// How often counts are folded and the metrics file written.
pub const INTERVAL: Duration = Duration::from_secs(5);
/// Overrides [`INTERVAL`] (milliseconds, at least 10): for tests.
pub const INTERVAL_VAR: &str = "SESSCB_METRICS_INTERVAL_MS";

/// The pid whose flusher runs (0: none yet).
static RUNNING_IN: AtomicU32 = AtomicU32::new(0);

/// Starts this process's flusher unless it runs: one load and a compare on
/// every store event once it does.
#[inline]
pub fn ensure_running() {
    let pid = current_pid();
    let running = RUNNING_IN.load(Relaxed);
    if running != pid && RUNNING_IN.compare_exchange(running, pid, Relaxed, Relaxed).is_ok() {
        spawn();
    }
}

#[cold]
fn spawn() {
    let interval = interval_from(std::env::var(INTERVAL_VAR).ok().as_deref());
    // SAFETY: plain signal-mask calls on this thread, restored at once; the
    // new thread inherits the full mask, so no signal is ever delivered to
    // it (the host's handlers run on its own threads).
    unsafe {
        let mut all: libc::sigset_t = std::mem::zeroed();
        let mut old: libc::sigset_t = std::mem::zeroed();
        libc::sigfillset(&mut all);
        libc::pthread_sigmask(libc::SIG_SETMASK, &all, &mut old);
        let _ = std::thread::Builder::new().name("sesscb-store".into()).spawn(move || run(interval));
        libc::pthread_sigmask(libc::SIG_SETMASK, &old, std::ptr::null_mut());
    }
}

/// The interval a variable's value asks for, else [`INTERVAL`].
pub fn interval_from(value: Option<&str>) -> Duration {
    value.and_then(|v| v.parse::<u64>().ok()).filter(|ms| *ms >= 10).map_or(INTERVAL, Duration::from_millis)
}

fn run(interval: Duration) {
    // This thread exists in one process only: its baseline starts at zero,
    // as the counters do (in a forked child they are reset at the fork).
    let mut folded: Snapshot = [0; counters::COUNT];
    loop {
        std::thread::sleep(interval);
        let _ = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| flush(&mut folded)));
    }
}

/// Folds what was counted since `folded` and writes the metrics file.
fn flush(folded: &mut Snapshot) {
    let now = COUNTERS.snapshot();
    let runtime = engine::runtime();
    if let Some(rt) = &runtime {
        if rt.tier.add_totals(&deltas(folded, &now)).is_ok() {
            *folded = now;
        }
    }
    let Some(path) = engine::config().and_then(|c| c.metrics_file.as_deref()) else { return };
    let pid = current_pid();
    let occupancy = runtime.and_then(|rt| rt.tier.occupancy().ok());
    let _ = metrics::write_atomically(&metrics::expand(path, pid), &metrics::render(pid, &now, occupancy));
}

/// Each host-wide counter's name and what to add to it. Evictions are
/// left out: the tier counts them itself, host-wide, as it evicts.
pub fn deltas(folded: &Snapshot, now: &Snapshot) -> Vec<(String, u64)> {
    counters::labels()
        .iter()
        .zip(folded.iter().zip(now))
        .filter(|((family, _), _)| *family != Family::Evictions)
        .map(|((family, outcome), (before, after))| {
            (counters::key(*family, outcome), after.wrapping_sub(*before))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn deltas_are_what_was_counted_since_the_last_fold() {
        let before: Snapshot = std::array::from_fn(|i| i as u64);
        let after: Snapshot = std::array::from_fn(|i| 3 * i as u64 + 1);
        let d = deltas(&before, &after);
        let labels = counters::labels();
        assert_eq!(d.len(), counters::COUNT - 1, "evictions are the tier's own");
        for (name, delta) in &d {
            let i = labels.iter().position(|(f, o)| counters::key(*f, o) == *name).unwrap();
            assert_eq!(*delta, 2 * i as u64 + 1, "{name}");
        }
    }

    #[test]
    fn the_interval_variable_is_milliseconds_with_a_floor() {
        assert_eq!(interval_from(None), INTERVAL);
        assert_eq!(interval_from(Some("250")), Duration::from_millis(250));
        assert_eq!(interval_from(Some("5")), INTERVAL, "too short: the default");
        assert_eq!(interval_from(Some("soon")), INTERVAL);
    }
}
