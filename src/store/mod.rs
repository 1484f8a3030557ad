//! The shared session store: settings, keys, the sealed value of an entry,
//! how long it may live, the embedded LMDB tier, and what each session
//! event does with them ([`hooks`], called by dispatch after the
//! application's callback).
//!
//! - [`cli`]: the `sesscb` operator command.
//! - [`engine`]: the per-process state, started on first use and after fork.
//! - [`hooks`]: new / get / remove as the store sees them.
//! - [`counters`]: the outcome counters of every hook.
//! - [`flusher`]: the background thread that folds them into the tier and
//!   writes [`metrics`], the Prometheus text file.
//! - [`openssl`]: the libssl session functions the store calls.
//! - [`config`]: the `SESSCB_STORE*` settings, all valid or the store off.
//! - [`keyring`]: the operator's keys, their validity windows and rotation.
//! - [`keysource`]: the operator's keyring file, or a per-boot key.
//! - [`location`]: the store's directories, private to the uid.
//! - [`subkeys`]: per-key index and envelope keys, and the store key of a
//!   session id.
//! - [`envelope`]: the authenticated, encrypted value of one entry.
//! - [`lifetime`]: how long an entry may live.
//! - [`ratelimit`]: a per-second budget (removes reaching the store).
//! - [`lmdb`]: the embedded tier every process of a host shares.
//! - [`writer`]: the queue that takes the tier's writes off the handshake.
//! - [`remote`]: the Redis tier a fleet shares.

pub mod cli;
pub mod config;
pub mod counters;
pub(crate) mod engine;
pub mod envelope;
pub(crate) mod flusher;
pub(crate) mod hooks;
pub mod keyring;
pub mod keysource;
pub mod lifetime;
pub mod lmdb;
pub mod location;
pub mod metrics;
pub(crate) mod openssl;
pub mod ratelimit;
pub mod redis_health;
pub mod remote;
pub mod subkeys;
pub mod writer;
