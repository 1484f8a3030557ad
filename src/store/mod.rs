//! The shared session store's parts that need no OpenSSL: settings, keys,
//! the sealed value of an entry, how long it may live, and the embedded
//! LMDB tier. The glue that stores and looks up sessions from the dispatch
//! path builds on these.
//!
//! - [`cli`]: the `sesscb` operator command.
//! - [`config`]: the `SESSCB_STORE*` settings, all valid or the store off.
//! - [`keyring`]: the operator's keys, their validity windows and rotation.
//! - [`keysource`]: the operator's keyring file, or a per-boot key.
//! - [`location`]: the store's directories, private to the uid.
//! - [`subkeys`]: per-key index and envelope keys, and the store key of a
//!   session id.
//! - [`envelope`]: the authenticated, encrypted value of one entry.
//! - [`lifetime`]: how long an entry may live.
//! - [`lmdb`]: the embedded tier every process of a host shares.

pub mod cli;
pub mod config;
pub mod envelope;
pub mod keyring;
pub mod keysource;
pub mod lifetime;
pub mod lmdb;
pub mod location;
pub mod subkeys;
