//! Table sizes, defined once: the crate uses them and build.rs includes this
//! file to generate that many trampolines.

/// Per-ctx trampoline slots.
pub(crate) const SLOT_COUNT: usize = 4096;
/// Function-keyed fallback trampolines per kind, used when every slot is taken.
pub(crate) const SHARED_COUNT: usize = 64;
