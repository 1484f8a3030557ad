//! The shared session store's building blocks that need no OpenSSL and no
//! I/O beyond reading a keyring file: what a stored entry looks like and how
//! long it may live. The tiers (LMDB, Redis) and the OpenSSL glue build on
//! these.
//!
//! - [`keyring`]: the operator's keys, their validity windows and rotation.
//! - [`subkeys`]: per-key index and envelope keys, and the store key of a
//!   session id.
//! - [`envelope`]: the authenticated, encrypted value of one entry.
//! - [`lifetime`]: how long an entry may live.
//! - [`lmdb`]: the embedded tier every process of a host shares.

pub mod envelope;
pub mod lmdb;
pub mod keyring;
pub mod lifetime;
pub mod subkeys;
