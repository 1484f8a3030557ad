//! What OpenSSL calls (the trampolines) and what that does (forward to the
//! application's callback, count, trace).

pub(crate) mod forward;
pub(crate) mod removal;
#[cfg(test)]
mod tests;
pub(crate) mod trampolines;
