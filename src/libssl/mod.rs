//! The real libssl: its handle, finding it at run time, and which one a
//! calling object uses when a process holds two.

pub(crate) mod caller_cache;
pub(crate) mod ctx_new;
#[cfg(test)]
pub(crate) mod fake;
pub(crate) mod handle;
pub(crate) mod resolver;
