//! sesscb: a drop-in for OpenSSL's session-cache callback setters and getters.
//!
//! The six exported `SSL_CTX_sess_*` functions keep the application's
//! callbacks in sesscb's own per-ctx registry and install sesscb trampolines
//! in the real libssl (found at run time, never linked). Every session event
//! then passes through [`dispatch`], which calls the application's callback
//! with the very same arguments and returns its very same result, counts it,
//! and optionally traces it.
//!
//! Module map:
//! - [`exports`]: the C ABI (the six OpenSSL names and `sesscb_*`), and the
//!   only place foreign pointers arrive.
//! - [`registry`]: what a setter and a getter do.
//! - [`slots`] / [`shared`]: where the application's pointers live.
//! - [`trampolines`] / [`dispatch`]: what OpenSSL calls, and what that does.
//! - [`resolver`]: finding the real libssl.
//! - [`stats`], [`thread_counters`], [`log`]: observability.
//! - [`boundary`], [`sync`]: host-safety building blocks.

#[macro_use]
mod boundary;
mod callbacks;
mod caller_cache;
mod dispatch;
mod exports;
mod ffi;
mod log;
mod registry;
mod resolver;
mod shared;
mod slots;
mod stats;
mod sync;
mod thread_counters;
mod trampolines;
mod unresolved;
// Public for the `sesscb` command; the C ABI does not reach it yet.
pub mod store;
