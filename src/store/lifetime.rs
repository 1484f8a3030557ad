//! How long a stored session may live.
//!
//! `ttl = min(the session's own remaining timeout, max_ttl, original
//! authentication time + max_lifetime - now)`. The last term stops lifetime
//! creep: on TLS 1.3 resumption OpenSSL issues a new session with a fresh
//! creation time, so without it a client that keeps resuming would keep a
//! session (and its authentication) alive forever. The original
//! authentication time travels in the envelope header from the session a
//! lookup returned to the sessions later issued on that connection.

/// The operator's limits, in seconds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    pub max_ttl: u64,
    pub max_lifetime: u64,
}

/// What OpenSSL says about a session, in Unix seconds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SessionTimes {
    pub created: u64,
    pub timeout: u64,
    /// When the client last authenticated with a full handshake.
    pub authenticated: u64,
}

/// The absolute expiry of an entry stored at `now`, or `None` if it would
/// be dead on arrival (then it is not stored).
pub fn expiry(times: SessionTimes, limits: Limits, now: u64) -> Option<u64> {
    let own_end = times.created.saturating_add(times.timeout);
    let lifetime_end = times.authenticated.saturating_add(limits.max_lifetime);
    let ttl_end = now.saturating_add(limits.max_ttl);
    let end = own_end.min(lifetime_end).min(ttl_end);
    (end > now).then_some(end)
}

/// The shorter timeout OpenSSL must give the live session `times`
/// describes, whose store entry ends at `end` (the entry's expiry, or `now`
/// when it was dead on arrival); `None` if its own timeout ends first.
/// OpenSSL resumes a session through the whole second `created + timeout`
/// (and a TLS 1.3 renewal copies the timeout onto a session stamped anew),
/// so the last second it may use is the one before `end`.
pub fn live_timeout(times: SessionTimes, end: u64) -> Option<u64> {
    (end < times.created.saturating_add(times.timeout))
        .then(|| end.saturating_sub(times.created.saturating_add(1)))
}

/// The timeout to give a session materialised from an entry at `now`, so
/// that OpenSSL itself stops resuming it at the entry's expiry; `None` if
/// the entry has expired.
pub fn remaining(expiry: u64, now: u64) -> Option<u64> {
    (expiry > now).then(|| expiry - now)
}

#[cfg(test)]
mod tests {
    use super::*;

    const LIMITS: Limits = Limits { max_ttl: 3600, max_lifetime: 86_400 };

    #[test]
    fn the_smallest_bound_wins() {
        let now = 1_000_000;
        let fresh = SessionTimes { created: now, timeout: 300, authenticated: now };
        assert_eq!(expiry(fresh, LIMITS, now), Some(now + 300));
        let long = SessionTimes { timeout: 7200, ..fresh };
        assert_eq!(expiry(long, LIMITS, now), Some(now + 3600));
        let old_auth = SessionTimes { authenticated: now - 86_000, ..long };
        assert_eq!(expiry(old_auth, LIMITS, now), Some(now + 400));
    }

    #[test]
    fn dead_on_arrival_is_not_stored() {
        let now = 100_000;
        let expired = SessionTimes { created: 1000, timeout: 300, authenticated: 1000 };
        assert_eq!(expiry(expired, LIMITS, now), None);
        let at_limit = SessionTimes { created: now, timeout: 300, authenticated: now - 86_400 };
        assert_eq!(expiry(at_limit, LIMITS, now), None);
        assert_eq!(expiry(SessionTimes { created: now, timeout: 0, authenticated: now }, LIMITS, now), None);
    }

    #[test]
    fn huge_values_clamp_instead_of_wrapping() {
        let now = u64::MAX - 10;
        let times = SessionTimes { created: now, timeout: u64::MAX, authenticated: now };
        let limits = Limits { max_ttl: u64::MAX, max_lifetime: u64::MAX };
        assert_eq!(expiry(times, limits, now), Some(u64::MAX));
    }

    #[test]
    fn the_live_session_ends_before_its_entry() {
        let now = 1_000_000;
        let times = SessionTimes { created: now, timeout: 300, authenticated: now - 10 };
        assert_eq!(live_timeout(times, now + 300), None);
        assert_eq!(live_timeout(times, now + 3), Some(2));
        // Dead on arrival (a renewal past the lifetime): this second only.
        assert_eq!(live_timeout(times, now), Some(0));
        assert_eq!(live_timeout(SessionTimes { timeout: 0, ..times }, now), None);
    }

    #[test]
    fn remaining_time_for_the_materialised_session() {
        assert_eq!(remaining(1300, 1000), Some(300));
        assert_eq!(remaining(1000, 1000), None);
        assert_eq!(remaining(900, 1000), None);
    }
}
