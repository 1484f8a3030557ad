//! Leaf: host-safety building blocks that survive `fork()`.

pub(crate) mod fork_aware_lock;
pub(crate) mod process_ids;
pub(crate) mod switch;
