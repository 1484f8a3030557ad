//! Shared, rotating TLS session-ticket keys (`SESSCB_TICKET_KEYS=keyring`,
//! docs/tickets.md): every process with the same keyring and domain
//! encrypts and decrypts stateless tickets with the same keys, so a ticket
//! resumes on another worker, after a reload and on another host.
//!
//! - [`config`]: the settings, all valid or the feature off.
//! - [`schedule`]: the epoch keys derived from the keyring (pure Rust).
//! - [`keys`]: the process's settings, keyring and derived window.
//! - [`current`]: the window a ticket operation uses, in either mode.
//! - [`sealed`]: `redis` mode's random epoch keys, sealed for Redis.
//! - [`held`]: `redis` mode's epoch keys in memory.
//! - [`fetcher`]: `redis` mode's thread, which fills [`held`] from Redis.
//! - [`fork_gate`]: forks wait while that thread works.
//! - [`openssl`]: the libssl/libcrypto functions, per libssl.
//! - [`evp`]: the EVP form's setter and `EVP_MAC` key setup.
//! - [`form`]: which form of callback a ctx gets (`SESSCB_TICKET_FORM`).
//! - [`callback`]: the ticket key callback OpenSSL calls.
//! - [`metrics`]: the metrics file in `keyring` mode without the store.
//! - [`install`]: what a new ctx gets.

mod callback;
pub mod config;
mod current;
mod evp;
mod fetcher;
mod fork_gate;
mod form;
mod held;
mod install;
mod keys;
mod metrics;
mod openssl;
pub mod schedule;
mod sealed;

pub use install::on_ctx_new;
pub use keys::active;
