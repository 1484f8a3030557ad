//! What a Redis lookup found: a hit, or why it missed.

/// What a lookup found.
#[derive(Debug, PartialEq, Eq)]
pub enum Fetched {
    /// The value under `keys[index]`; `taken`: a single-use entry, now
    /// gone from Redis (never copied into the embedded tier).
    Hit {
        index: usize,
        value: Vec<u8>,
        taken: bool,
    },
    Miss,
    Timeout,
    /// An I/O, protocol or server error.
    Error,
    /// The breaker is open: Redis was not called.
    BreakerOpen,
    /// No ready connection (Redis down, or not yet connected).
    Unavailable,
    /// Over this second's lookup budget: Redis was not called.
    RateLimited,
}
