//! What the setters and getters do, where the application's pointers live,
//! and when a ctx's slot is released.

pub(crate) mod freed;
pub(crate) mod lifecycle;
pub(crate) mod set_get;
pub(crate) mod shared;
pub(crate) mod slots;
pub(crate) mod unresolved;
