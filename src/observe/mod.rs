//! Observability: the event trace, the counters and their per-thread shards.
//! Takes plain data (pointers, ids, paths) from the layers above and imports
//! none of them.

pub(crate) mod event;
pub(crate) mod stats;
pub(crate) mod thread_counters;
pub(crate) mod trace;
