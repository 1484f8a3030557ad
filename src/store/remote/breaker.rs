//! The circuit breaker in front of Redis lookups.
//!
//! Closed: every lookup calls Redis; [`THRESHOLD`] failures or timeouts in
//! a row open it. Open: no lookup calls Redis (each is a miss, counted)
//! until the open interval, with jitter so a fleet's processes do not probe
//! together, has passed. Then one lookup probes (half-open): success closes
//! the breaker, failure opens it again. A probe that found no connection
//! to call on is given back, and the next lookup probes.

use std::time::{Duration, Instant};

/// Consecutive failed lookups that open the breaker.
pub(crate) const THRESHOLD: u32 = 5;
/// How long it stays open before a probe (plus up to a quarter of jitter).
pub(crate) const OPEN_FOR: Duration = Duration::from_millis(1000);

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    Closed {
        failures: u32,
    },
    Open {
        until: Instant,
    },
    /// One lookup is probing; the others are refused.
    Probing,
}

/// What a lookup may do.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Admit {
    Call,
    Probe,
    Refuse,
}

/// A change worth telling the operator about.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Change {
    Opened,
    Closed,
}

#[derive(Debug)]
pub struct Breaker {
    state: State,
}

impl Default for Breaker {
    fn default() -> Self {
        Self::new()
    }
}

impl Breaker {
    pub const fn new() -> Self {
        Breaker { state: State::Closed { failures: 0 } }
    }

    pub fn admit(&mut self, now: Instant) -> Admit {
        match self.state {
            State::Closed { .. } => Admit::Call,
            State::Open { until } if now >= until => {
                self.state = State::Probing;
                Admit::Probe
            }
            State::Open { .. } | State::Probing => Admit::Refuse,
        }
    }

    pub fn succeeded(&mut self) -> Option<Change> {
        let was_closed = matches!(self.state, State::Closed { .. });
        self.state = State::Closed { failures: 0 };
        (!was_closed).then_some(Change::Closed)
    }

    /// A failure or timeout at `now`; `jitter` (at most a quarter of
    /// [`OPEN_FOR`]) is added to the open interval.
    pub fn failed(&mut self, now: Instant, jitter: Duration) -> Option<Change> {
        let open = State::Open { until: now + OPEN_FOR + jitter.min(OPEN_FOR / 4) };
        match self.state {
            State::Closed { failures } if failures + 1 < THRESHOLD => {
                self.state = State::Closed { failures: failures + 1 };
                None
            }
            State::Closed { .. } => {
                self.state = open;
                Some(Change::Opened)
            }
            // The probe failed: open again (no new change to report).
            State::Probing | State::Open { .. } => {
                self.state = open;
                None
            }
        }
    }

    /// A lookup admitted as `admit` made no call: a probe is given back.
    pub fn abandoned(&mut self, admit: Admit, now: Instant) {
        if admit == Admit::Probe && self.state == State::Probing {
            self.state = State::Open { until: now };
        }
    }

    pub fn is_open(&self) -> bool {
        !matches!(self.state, State::Closed { .. })
    }
}

/// Up to a quarter of the breaker's open interval, at random: a fleet's
/// processes do not probe a recovering Redis together.
pub fn jitter() -> Duration {
    let mut bytes = [0u8; 2];
    let n = getrandom::fill(&mut bytes).map_or(0, |_| u16::from_le_bytes(bytes));
    OPEN_FOR / 4 * u32::from(n) / u32::from(u16::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    const NO_JITTER: Duration = Duration::ZERO;

    #[test]
    fn it_opens_after_threshold_failures_in_a_row_only() {
        let mut b = Breaker::new();
        let t = Instant::now();
        for _ in 0..THRESHOLD - 1 {
            assert_eq!(b.admit(t), Admit::Call);
            assert_eq!(b.failed(t, NO_JITTER), None);
        }
        assert_eq!(b.succeeded(), None, "a success resets the run");
        for _ in 0..THRESHOLD - 1 {
            b.failed(t, NO_JITTER);
        }
        assert!(!b.is_open());
        assert_eq!(b.failed(t, NO_JITTER), Some(Change::Opened));
        assert!(b.is_open());
        assert_eq!(b.admit(t), Admit::Refuse);
        assert_eq!(b.admit(t + OPEN_FOR - Duration::from_millis(1)), Admit::Refuse);
    }

    /// A breaker opened at `t` by THRESHOLD failures.
    fn opened_at(t: Instant, jitter: Duration) -> Breaker {
        let mut b = Breaker::new();
        for _ in 0..THRESHOLD {
            b.failed(t, jitter);
        }
        b
    }

    #[test]
    fn after_the_interval_one_probe_closes_it_or_opens_it_again() {
        let t = Instant::now();
        let mut b = opened_at(t, NO_JITTER);
        let later = t + OPEN_FOR;
        assert_eq!(b.admit(later), Admit::Probe);
        assert_eq!(b.admit(later), Admit::Refuse, "only one probe at a time");
        assert_eq!(b.failed(later, NO_JITTER), None);
        assert_eq!(b.admit(later + OPEN_FOR / 2), Admit::Refuse, "open for a whole interval again");
        let again = later + OPEN_FOR;
        assert_eq!(b.admit(again), Admit::Probe);
        assert_eq!(b.succeeded(), Some(Change::Closed));
        assert_eq!(b.admit(again), Admit::Call);
    }

    #[test]
    fn jitter_delays_the_probe_by_at_most_a_quarter() {
        let t = Instant::now();
        let mut b = opened_at(t, Duration::from_secs(60));
        assert_eq!(b.admit(t + OPEN_FOR), Admit::Refuse);
        assert_eq!(b.admit(t + OPEN_FOR + OPEN_FOR / 4), Admit::Probe);
    }

    #[test]
    fn a_probe_without_a_connection_is_given_back() {
        let t = Instant::now();
        let mut b = opened_at(t, NO_JITTER);
        let later = t + OPEN_FOR;
        assert_eq!(b.admit(later), Admit::Probe);
        b.abandoned(Admit::Probe, later);
        assert_eq!(b.admit(later), Admit::Probe, "the next lookup probes");
        b.abandoned(Admit::Call, later);
        assert_eq!(b.admit(later), Admit::Refuse, "a plain call gives back nothing");
    }
}
