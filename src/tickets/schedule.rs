//! The ticket key schedule: which keys encrypt and decrypt session tickets
//! at a given time, the same in every process that holds the same keyring
//! key and domain (pure Rust, no OpenSSL, no clock of its own).
//!
//! Time is cut into epochs of `rotate` seconds (`epoch = now / rotate`).
//! Each (keyring key, domain, rotate, epoch) yields, by HKDF-SHA256, the
//! 16-byte name a ticket carries in the clear, an AES-256 key and an
//! HMAC-SHA256 key, the layout of OpenSSL's own ticket keys. The current
//! epoch under the keyring's current key encrypts; an epoch decrypts while
//! `now < start(epoch) + lifetime`, so no ticket is accepted once older
//! than the lifetime (and every ticket for at least `lifetime - rotate`).

use hkdf::Hkdf;
use sha2::Sha256;

use crate::store::keyring::{Key, Keyring};

pub const NAME_LEN: usize = 16;
pub const SECRET_LEN: usize = 32;
/// An epoch's keys in bytes: name, AES key, HMAC key.
pub const KEYS_LEN: usize = NAME_LEN + 2 * SECRET_LEN;
const SALT: &[u8] = b"sesscb ticket keys v1";
/// Epochs past the lifetime kept in a window only to tell "expired" from
/// "unknown" in the counters.
pub const EXPIRED_EPOCHS: u64 = 2;

/// The keys of one epoch under one keyring key.
#[derive(Clone, PartialEq, Eq)]
pub struct EpochKeys {
    pub epoch: u64,
    pub key_id: u32,
    pub name: [u8; NAME_LEN],
    pub aes: [u8; SECRET_LEN],
    pub hmac: [u8; SECRET_LEN],
}

// Secrets are never printed, not even in debug output.
impl std::fmt::Debug for EpochKeys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EpochKeys")
            .field("epoch", &self.epoch)
            .field("key_id", &self.key_id)
            .finish_non_exhaustive()
    }
}

impl EpochKeys {
    /// HKDF-SHA256 of the keyring secret; the info binds the domain, the
    /// rotation period and the epoch, so services and schedules never share
    /// a key.
    pub fn derive(key: &Key, domain: &[u8], rotate: u64, epoch: u64) -> Self {
        let hkdf = Hkdf::<Sha256>::new(Some(SALT), &key.secret);
        let mut info = Vec::with_capacity(domain.len() + 24);
        info.extend_from_slice(b"ticket\0");
        info.extend_from_slice(domain);
        info.push(0);
        info.extend_from_slice(&rotate.to_be_bytes());
        info.extend_from_slice(&epoch.to_be_bytes());
        let mut okm = [0u8; KEYS_LEN];
        // 80 bytes is far below HKDF-SHA256's 8160-byte limit.
        hkdf.expand(&info, &mut okm).expect("80-byte HKDF output");
        Self::from_bytes(epoch, key.id, &okm)
    }

    /// An epoch's keys from 80 bytes laid out as OpenSSL's own: name, AES
    /// key, HMAC key.
    pub fn from_bytes(epoch: u64, key_id: u32, bytes: &[u8; KEYS_LEN]) -> Self {
        let mut keys = EpochKeys { epoch, key_id, name: [0; NAME_LEN], aes: [0; 32], hmac: [0; 32] };
        keys.name.copy_from_slice(&bytes[..NAME_LEN]);
        keys.aes.copy_from_slice(&bytes[NAME_LEN..NAME_LEN + SECRET_LEN]);
        keys.hmac.copy_from_slice(&bytes[NAME_LEN + SECRET_LEN..]);
        keys
    }
}

/// What a ticket's name means at the time of a lookup.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// Current epoch under the current key: decrypt, keep the ticket.
    Current,
    /// An older epoch (or an older keyring key) within the lifetime:
    /// decrypt and issue a new ticket.
    Renew,
    /// A name of ours past the lifetime: full handshake.
    Expired,
    /// Not a name of this schedule (another service, forged, or older than
    /// the window): full handshake.
    Unknown,
}

/// Every key one epoch needs: the encryption key and the names that still
/// decrypt (plus a few expired ones, to count them as such).
pub struct Window {
    pub epoch: u64,
    rotate: u64,
    lifetime: u64,
    encrypt: Option<EpochKeys>,
    decrypt: Vec<EpochKeys>,
}

impl Window {
    /// The window of the epoch holding `now`.
    pub fn build(ring: &Keyring, domain: &[u8], rotate: u64, lifetime: u64, now: u64) -> Self {
        let rotate = rotate.max(1);
        let epoch = now / rotate;
        let current = ring.current(now);
        let encrypt = current.map(|k| EpochKeys::derive(k, domain, rotate, epoch));
        let past = lifetime.div_ceil(rotate) + EXPIRED_EPOCHS;
        let mut decrypt = Vec::new();
        for key in ring.openers(now) {
            // One epoch ahead: a host whose clock is slightly ahead already
            // encrypts under it.
            for e in epoch.saturating_sub(past)..=epoch + 1 {
                decrypt.push(EpochKeys::derive(key, domain, rotate, e));
            }
        }
        Window { epoch, rotate, lifetime, encrypt, decrypt }
    }

    /// The window of the epoch holding `now` over keys held in memory (the
    /// `redis` mode's random epoch keys): the current epoch's encrypts if
    /// held; the held epochs from the lifetime's start (and a few expired
    /// ones) to one ahead decrypt.
    pub fn from_held(held: &[EpochKeys], rotate: u64, lifetime: u64, now: u64) -> Self {
        let rotate = rotate.max(1);
        let epoch = now / rotate;
        let oldest = epoch.saturating_sub(lifetime.div_ceil(rotate) + EXPIRED_EPOCHS);
        let encrypt = held.iter().find(|k| k.epoch == epoch).cloned();
        let decrypt = held.iter().filter(|k| (oldest..=epoch + 1).contains(&k.epoch)).cloned().collect();
        Window { epoch, rotate, lifetime, encrypt, decrypt }
    }

    /// The keys tickets are encrypted with now; None when the keyring has
    /// no current key.
    pub fn encrypt(&self) -> Option<&EpochKeys> {
        self.encrypt.as_ref()
    }

    /// The keys of a ticket named `name`, and what to do with it at `now`.
    pub fn decrypt(&self, name: &[u8], now: u64) -> (Verdict, Option<&EpochKeys>) {
        let Some(keys) = self.decrypt.iter().find(|k| k.name[..] == *name) else {
            return (Verdict::Unknown, None);
        };
        let start = keys.epoch.saturating_mul(self.rotate);
        if now >= start.saturating_add(self.lifetime) {
            return (Verdict::Expired, None);
        }
        let current = self.encrypt.as_ref().is_some_and(|e| e.key_id == keys.key_id);
        let verdict = if keys.epoch >= self.epoch && current { Verdict::Current } else { Verdict::Renew };
        (verdict, Some(keys))
    }
}

#[cfg(test)]
mod tests;
