//! How the Redis tier treats handshakes, per process: how long each
//! lookup kept a handshake waiting (a histogram, so an operator can check
//! the added p99 against `SESSCB_STORE_TIMEOUT_MS`), and the breaker's
//! state (a gauge). Both go to the metrics file only: they are not in the
//! `sesscb_stats` struct, and a forked child starts from zero.

use std::sync::Once;
use std::sync::atomic::{AtomicU8, AtomicU32, AtomicU64, Ordering::Relaxed};
use std::time::Duration;

/// Upper bounds of the finite buckets, in microseconds; one more bucket
/// (+Inf) takes the rest.
pub(crate) const BOUNDS_US: [u64; 7] = [100, 250, 500, 1_000, 2_000, 3_000, 5_000];
pub(crate) const BUCKETS: usize = BOUNDS_US.len() + 1;

/// Lookup times: a count per bucket (not cumulative) and their sum.
pub struct Histogram {
    buckets: [AtomicU64; BUCKETS],
    sum_ns: AtomicU64,
}

/// A copy of the histogram.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Latency {
    pub buckets: [u64; BUCKETS],
    pub sum_ns: u64,
}

/// The breaker's state as the gauge shows it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BreakerState {
    Closed = 0,
    Open = 1,
    HalfOpen = 2,
}

pub static LOOKUP_LATENCY: Histogram = Histogram::new();
static BREAKER: AtomicU8 = AtomicU8::new(BreakerState::Closed as u8);

impl Histogram {
    pub const fn new() -> Self {
        Histogram { buckets: [const { AtomicU64::new(0) }; BUCKETS], sum_ns: AtomicU64::new(0) }
    }

    pub fn observe(&self, took: Duration) {
        reset_in_children();
        let us = took.as_micros();
        let index = BOUNDS_US.iter().position(|&bound| us <= u128::from(bound)).unwrap_or(BUCKETS - 1);
        self.buckets[index].fetch_add(1, Relaxed);
        self.sum_ns.fetch_add(u64::try_from(took.as_nanos()).unwrap_or(u64::MAX), Relaxed);
    }

    pub fn snapshot(&self) -> Latency {
        Latency {
            buckets: self.buckets.each_ref().map(|b| b.load(Relaxed)),
            sum_ns: self.sum_ns.load(Relaxed),
        }
    }

    pub(crate) fn reset(&self) {
        for b in &self.buckets {
            b.store(0, Relaxed);
        }
        self.sum_ns.store(0, Relaxed);
    }
}

impl Default for Histogram {
    fn default() -> Self {
        Self::new()
    }
}

pub fn set_breaker(state: BreakerState) {
    reset_in_children();
    BREAKER.store(state as u8, Relaxed);
}

pub fn breaker() -> u8 {
    BREAKER.load(Relaxed)
}

/// What the metrics file shows of the Redis tier.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Health {
    pub latency: Latency,
    pub breaker: u8,
}

pub fn snapshot() -> Health {
    Health { latency: LOOKUP_LATENCY.snapshot(), breaker: breaker() }
}

/// The family of the histogram's host-wide totals (`sesscb stats`).
pub const TOTALS_FAMILY: &str = "redis_lookup_latency";

/// The totals' labels, cumulative like Prometheus's buckets: `le_100us`
/// counts the lookups of at most 100 µs, ..., `le_inf` all of them.
pub fn labels() -> [String; BUCKETS] {
    std::array::from_fn(|i| BOUNDS_US.get(i).map_or("le_inf".to_string(), |us| format!("le_{us}us")))
}

/// Cumulative counts of a histogram snapshot, in [`labels`] order.
pub fn cumulative(latency: &Latency) -> [u64; BUCKETS] {
    let mut below = 0;
    latency.buckets.map(|n| {
        below += n;
        below
    })
}

/// The process whose counts [`FOLDED`] holds, and what it last folded.
static FOLDED_PID: AtomicU32 = AtomicU32::new(0);
static FOLDED: [AtomicU64; BUCKETS] = [const { AtomicU64::new(0) }; BUCKETS];

/// What to add to the host-wide totals since the last fold of process
/// `pid` (a forked child starts from zero), and the counts to pass to
/// [`folded`] once they are added.
pub fn unfolded(pid: u32) -> (Vec<(String, u64)>, [u64; BUCKETS]) {
    let now = cumulative(&LOOKUP_LATENCY.snapshot());
    let mine = FOLDED_PID.load(Relaxed) == pid;
    let deltas = labels()
        .into_iter()
        .zip(now.iter().zip(&FOLDED))
        .map(|(label, (n, was))| {
            let before = if mine { was.load(Relaxed) } else { 0 };
            (format!("{TOTALS_FAMILY}.{label}"), n.wrapping_sub(before))
        })
        .collect();
    (deltas, now)
}

/// Records that `now` (from [`unfolded`]) is in the totals.
pub fn folded(pid: u32, now: [u64; BUCKETS]) {
    for (slot, n) in FOLDED.iter().zip(now) {
        slot.store(n, Relaxed);
    }
    FOLDED_PID.store(pid, Relaxed);
}

/// On the first observation or breaker change (as the counters do theirs):
/// a forked child starts from zero.
fn reset_in_children() {
    static CHILD_RESETS: Once = Once::new();
    CHILD_RESETS.call_once(|| {
        // SAFETY: registers a child handler that only makes atomic stores.
        unsafe { libc::pthread_atfork(None, None, Some(reset_in_child)) };
    });
}

/// A forked child's breaker starts closed, its histogram empty.
extern "C" fn reset_in_child() {
    LOOKUP_LATENCY.reset();
    set_breaker(BreakerState::Closed);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_time_lands_in_the_first_bucket_that_holds_it() {
        let h = Histogram::new();
        for us in [0, 100, 101, 999, 1_000, 2_500, 5_000, 5_001, 900_000] {
            h.observe(Duration::from_micros(us));
        }
        let s = h.snapshot();
        assert_eq!(s.buckets, [2, 1, 0, 2, 0, 1, 1, 2]);
        assert_eq!(s.sum_ns, 1_000 * (100 + 101 + 999 + 1_000 + 2_500 + 5_000 + 5_001 + 900_000));
        h.reset();
        assert_eq!(h.snapshot(), Latency { buckets: [0; BUCKETS], sum_ns: 0 });
    }

    #[test]
    fn totals_are_cumulative_and_folded_once_per_process() {
        let latency = Latency { buckets: [1, 0, 2, 0, 0, 0, 3, 1], sum_ns: 0 };
        assert_eq!(cumulative(&latency), [1, 1, 3, 3, 3, 3, 6, 7]);
        assert_eq!(labels()[0], "le_100us");
        assert_eq!(labels()[BUCKETS - 1], "le_inf");
        // The global histogram: other tests may observe concurrently, so
        // only what this test controls is compared.
        let pid = u32::MAX - 7;
        let (first, now) = unfolded(pid);
        assert!(first.iter().all(|(name, _)| name.starts_with("redis_lookup_latency.le_")));
        folded(pid, now);
        LOOKUP_LATENCY.observe(Duration::from_secs(10));
        let (second, _) = unfolded(pid);
        assert!(second.last().is_some_and(|(name, n)| name == "redis_lookup_latency.le_inf" && *n >= 1));
        let (other, _) = unfolded(pid - 1);
        assert_eq!(other.last().map(|(_, n)| *n), Some(cumulative(&LOOKUP_LATENCY.snapshot())[BUCKETS - 1]));
    }
}
