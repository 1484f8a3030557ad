//! The events a dispatch counts, shared by the counters and their
//! per-thread shards.

/// What a dispatch counts: exactly one of these per callback; the C view's
/// totals are sums.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Event {
    NewKept = 0,
    NewDropped = 1,
    GetMiss = 2,
    GetHitCopy = 3,
    GetHitCopy0 = 4,
    Remove = 5,
}

pub(crate) const EVENTS: usize = 6;

impl Event {
    pub fn new_session(kept: bool) -> Event {
        if kept { Event::NewKept } else { Event::NewDropped }
    }

    pub fn get_session(hit: bool, copy0: bool) -> Event {
        match (hit, copy0) {
            (false, _) => Event::GetMiss,
            (true, false) => Event::GetHitCopy,
            (true, true) => Event::GetHitCopy0,
        }
    }
}
