//! The store's background thread: it applies the writes handshakes queue
//! (`writer`) as they come, and every few seconds folds this process's
//! counter deltas into the tier's host-wide totals (one write transaction,
//! never one per handshake) and rewrites the metrics file.
//!
//! Started on the first data event of each process (and anew in a forked
//! child, which inherits no threads); it blocks every signal and never
//! calls the application or OpenSSL: only LMDB and the file system. At
//! `exit` a handler writes what is queued and folds the last counts (a
//! process that `_exit`s loses them).

use std::sync::Once;
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering::Relaxed};
use std::time::{Duration, Instant};

use super::counters::{self, COUNTERS, Family, Snapshot};
use super::engine::{self, Runtime};
use super::remote::spawn::spawn_quiet;
use super::{metrics, redis_health, writer};
use crate::sync::fork_aware_lock::ForkAwareLock;
use crate::sync::process_ids::current_pid;

/// How often counts are folded and the metrics file written.
pub const INTERVAL: Duration = Duration::from_secs(5);
/// Overrides [`INTERVAL`] (milliseconds, at least 10): for tests.
pub const INTERVAL_VAR: &str = "SESSCB_METRICS_INTERVAL_MS";

/// The pid whose flusher was started (0: none yet).
static RUNNING_IN: AtomicU32 = AtomicU32::new(0);
/// The pid whose flusher thread exists: a host may forbid new threads
/// (haproxy sets RLIMIT_NPROC to 0 in its workers), and then its
/// handshakes write to the tier themselves.
static THREAD_IN: AtomicU32 = AtomicU32::new(0);

/// Whether this process's writes go through the queue (its thread runs).
#[inline]
pub fn writes_queued() -> bool {
    THREAD_IN.load(Relaxed) == current_pid()
}

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
    if spawn_quiet("sesscb-store", move || run(interval)) {
        drain_at_exit();
        THREAD_IN.store(current_pid(), Relaxed);
    }
}

/// The interval a variable's value asks for, else [`INTERVAL`].
pub fn interval_from(value: Option<&str>) -> Duration {
    value.and_then(|v| v.parse::<u64>().ok()).filter(|ms| *ms >= 10).map_or(INTERVAL, Duration::from_millis)
}

fn run(interval: Duration) {
    loop {
        let deadline = Instant::now() + interval;
        while Instant::now() < deadline {
            let _ = std::panic::catch_unwind(|| write_queued(deadline));
        }
        let _ = std::panic::catch_unwind(flush);
    }
}

/// Applies what handshakes queue until `deadline`, a batch per wake-up.
fn write_queued(deadline: Instant) {
    let Some(queue) = engine::runtime().map(|rt| rt.writes.clone()) else {
        std::thread::sleep(deadline.saturating_duration_since(Instant::now()));
        return;
    };
    // No `Runtime` is held while waiting: a child forked meanwhile must be
    // able to drop its inherited copy, whose LMDB environment (registered
    // by path in heed) it could otherwise not open anew.
    let writes = queue.take(deadline);
    if let Some(rt) = engine::runtime() {
        writer::apply(&rt.tier, &writes, engine::unix_now());
    }
}

/// How long an exiting process lets its Redis thread send what is queued:
/// a batch's own write timeout, at most.
const EXIT_GRACE_REDIS: Duration = Duration::from_millis(500);

/// Registers, once, an exit handler that writes what is still queued and
/// folds the last counts: a server that exits right after a handshake (a
/// reload's old worker, a test server) keeps its last sessions and counts.
fn drain_at_exit() {
    static REGISTERED: Once = Once::new();
    extern "C" fn drain() {
        let _ = std::panic::catch_unwind(|| {
            // Only this process's own runtime: a forked child inherits the
            // handler, not the parent's queue.
            let runtime = engine::started();
            if let Some(rt) = &runtime {
                if let Some(remote) = &rt.remote {
                    remote.settle(EXIT_GRACE_REDIS);
                }
                writer::apply(&rt.tier, &rt.writes.take(Instant::now()), engine::unix_now());
            }
            // The last counts, folded and in the metrics file; only where
            // this process's own thread wrote it (a forked child that never
            // started one leaves no file, as it left none while running).
            if writes_queued() {
                write_metrics(runtime);
            } else if let Some(rt) = &runtime {
                fold(rt);
            }
        });
    }
    // SAFETY: atexit with a function that never unwinds; sesscb is linked
    // with -z nodelete, so the handler's code is mapped at exit.
    REGISTERED.call_once(|| unsafe {
        libc::atexit(drain);
    });
}

/// What this process has folded into the tier so far, and which process
/// that is: a forked child starts from zero, as its counters do.
struct Folded {
    pid: AtomicU32,
    counts: [AtomicU64; counters::COUNT],
}

static FOLDED: Folded =
    Folded { pid: AtomicU32::new(0), counts: [const { AtomicU64::new(0) }; counters::COUNT] };
/// One fold at a time: the thread's and the exit handler's.
static FOLD_LOCK: ForkAwareLock = ForkAwareLock::new();

/// Adds what was counted since the last fold to the tier's totals;
/// returns the counts now.
fn fold(rt: &Runtime) -> Snapshot {
    let _guard = FOLD_LOCK.lock();
    let pid = current_pid();
    let mine = FOLDED.pid.load(Relaxed) == pid;
    let before: Snapshot = std::array::from_fn(|i| if mine { FOLDED.counts[i].load(Relaxed) } else { 0 });
    let now = COUNTERS.snapshot();
    let (latency, latency_now) = redis_health::unfolded(pid);
    if rt.tier.add_totals(&[deltas(&before, &now), latency].concat()).is_ok() {
        for (slot, value) in FOLDED.counts.iter().zip(now) {
            slot.store(value, Relaxed);
        }
        FOLDED.pid.store(pid, Relaxed);
        redis_health::folded(pid, latency_now);
    }
    now
}

/// Where the metrics go: the store's setting; where no store runs (the
/// ticket keys alone), `SESSCB_METRICS_FILE` itself.
fn metrics_path() -> Option<std::path::PathBuf> {
    match engine::config() {
        Some(config) => config.metrics_file.clone(),
        None => std::env::var_os("SESSCB_METRICS_FILE").filter(|v| !v.is_empty()).map(Into::into),
    }
}

/// Folds the counts and writes the metrics file.
fn flush() {
    write_metrics(engine::runtime());
}

/// Folds the counts (with a store) and writes the metrics file, if any.
fn write_metrics(runtime: Option<std::sync::Arc<Runtime>>) {
    let now = match &runtime {
        Some(rt) => fold(rt),
        None => COUNTERS.snapshot(),
    };
    let Some(path) = metrics_path() else { return };
    let pid = current_pid();
    let redis = runtime.as_ref().and_then(|rt| rt.remote.as_ref()).map(|_| redis_health::snapshot());
    let occupancy = runtime.and_then(|rt| rt.tier.occupancy().ok());
    let _ = metrics::write_atomically(
        &metrics::expand(&path, pid),
        &metrics::render(pid, &now, occupancy, redis),
    );
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
