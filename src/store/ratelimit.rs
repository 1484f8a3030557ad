//! A per-second budget, shared by the threads of one process: how many
//! removes may reach the store each second. A client that can make the
//! server send fatal alerts could otherwise turn every connection into a
//! store write.

use std::sync::atomic::{AtomicU64, Ordering};

/// At most `limit` admissions per Unix second.
pub struct PerSecond {
    limit: u64,
    /// The second the count belongs to (high 32 bits) and the count (low).
    state: AtomicU64,
}

impl PerSecond {
    pub const fn new(limit: u64) -> Self {
        PerSecond { limit, state: AtomicU64::new(0) }
    }

    /// Whether one more event fits in second `now`.
    pub fn admit(&self, now: u64) -> bool {
        let second = now & 0xffff_ffff;
        let mut current = self.state.load(Ordering::Relaxed);
        loop {
            let (at, used) = (current >> 32, current & 0xffff_ffff);
            let used = if at == second { used } else { 0 };
            if used >= self.limit {
                return false;
            }
            let next = (second << 32) | (used + 1);
            match self.state.compare_exchange_weak(current, next, Ordering::Relaxed, Ordering::Relaxed) {
                Ok(_) => return true,
                Err(seen) => current = seen,
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::PerSecond;

    #[test]
    fn admits_the_limit_each_second_and_no_more() {
        let budget = PerSecond::new(3);
        assert_eq!((0..5).filter(|_| budget.admit(100)).count(), 3);
        assert!(budget.admit(101), "a new second starts a new budget");
        assert_eq!((0..5).filter(|_| budget.admit(101)).count(), 2);
    }

    #[test]
    fn threads_share_one_budget() {
        let budget = std::sync::Arc::new(PerSecond::new(1000));
        let admitted: usize = (0..4)
            .map(|_| {
                let budget = budget.clone();
                std::thread::spawn(move || (0..500).filter(|_| budget.admit(7)).count())
            })
            .map(|t| t.join().unwrap())
            .sum();
        assert_eq!(admitted, 1000);
    }
}
