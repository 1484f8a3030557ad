//! An epoch's random ticket keys as Redis holds them (`redis` mode):
//! sealed with XChaCha20-Poly1305, the store's AEAD, under a key derived
//! from the keyring key, so Redis (and whoever reads it) never sees them.
//!
//! ```text
//! magic "SCBT" | version 1 | key id (u32 BE) | nonce (24) | sealed 80 bytes | tag (16)
//! ```
//!
//! The associated data is the header, the domain, the rotation period and
//! the epoch: a value copied to another epoch's key, another domain or
//! schedule, or sealed under another keyring fails authentication.

use chacha20poly1305::aead::{Aead, KeyInit, Payload};
use chacha20poly1305::{XChaCha20Poly1305, XNonce};
use hkdf::Hkdf;
use sha2::Sha256;

use super::schedule::{EpochKeys, KEYS_LEN};
use crate::store::keyring::{Key, Keyring};

const MAGIC: &[u8; 4] = b"SCBT";
const VERSION: u8 = 1;
const NONCE_LEN: usize = 24;
const TAG_LEN: usize = 16;
const HEADER_LEN: usize = 4 + 1 + 4 + NONCE_LEN;
/// Length of a sealed value.
pub const SEALED_LEN: usize = HEADER_LEN + KEYS_LEN + TAG_LEN;
const SALT: &[u8] = b"sesscb ticket keys in redis v1";

/// Why a value from Redis was not used.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Rejected {
    /// Wrong length, magic or version.
    Malformed,
    /// Sealed under a key this keyring does not have, or has retired.
    UnknownKey,
    /// Tampered, moved to another epoch, domain or schedule.
    Authentication,
}

/// What an epoch's keys are bound to.
pub struct Binding<'a> {
    pub domain: &'a [u8],
    pub rotate: u64,
    pub epoch: u64,
}

/// Seals `secret` (the epoch's 80 random bytes) under keyring key `key`.
pub fn seal(key: &Key, binding: &Binding<'_>, secret: &[u8; KEYS_LEN], nonce: [u8; NONCE_LEN]) -> Vec<u8> {
    let mut value = Vec::with_capacity(SEALED_LEN);
    value.extend_from_slice(MAGIC);
    value.push(VERSION);
    value.extend_from_slice(&key.id.to_be_bytes());
    value.extend_from_slice(&nonce);
    let aad = associated_data(&value, binding);
    let sealed = cipher(key)
        .encrypt(&XNonce::from(nonce), Payload { msg: secret, aad: &aad })
        .expect("XChaCha20-Poly1305 seals 80 bytes");
    value.extend_from_slice(&sealed);
    value
}

/// The epoch's keys in `value`, if it is authentic under a key of `ring`
/// that still opens at `now`.
pub fn open(ring: &Keyring, value: &[u8], binding: &Binding<'_>, now: u64) -> Result<EpochKeys, Rejected> {
    if value.len() != SEALED_LEN || &value[..4] != MAGIC || value[4] != VERSION {
        return Err(Rejected::Malformed);
    }
    let (header, sealed) = value.split_at(HEADER_LEN);
    let key_id = u32::from_be_bytes(header[5..9].try_into().expect("4 bytes"));
    let key = ring.opener(key_id, now).ok_or(Rejected::UnknownKey)?;
    let nonce: [u8; NONCE_LEN] = header[9..].try_into().expect("24 bytes");
    let aad = associated_data(header, binding);
    let secret = cipher(key)
        .decrypt(&XNonce::from(nonce), Payload { msg: sealed, aad: &aad })
        .map_err(|_| Rejected::Authentication)?;
    let secret: [u8; KEYS_LEN] = secret.try_into().map_err(|_| Rejected::Malformed)?;
    // One key id for every random epoch key: renewal follows the epoch only.
    Ok(EpochKeys::from_bytes(binding.epoch, 0, &secret))
}

/// Fresh random epoch keys and a nonce to seal them with; None if the OS
/// has no randomness to give.
pub fn fresh() -> Option<([u8; KEYS_LEN], [u8; NONCE_LEN])> {
    let mut secret = [0u8; KEYS_LEN];
    let mut nonce = [0u8; NONCE_LEN];
    getrandom::fill(&mut secret).ok()?;
    getrandom::fill(&mut nonce).ok()?;
    Some((secret, nonce))
}

/// The sealing key: HKDF-SHA256 of the keyring secret, never the secret
/// itself (which also derives the store's and the keyring mode's keys).
fn cipher(key: &Key) -> XChaCha20Poly1305 {
    let mut okm = [0u8; 32];
    Hkdf::<Sha256>::new(Some(SALT), &key.secret).expand(b"seal", &mut okm).expect("32-byte HKDF output");
    XChaCha20Poly1305::new(&okm.into())
}

fn associated_data(header: &[u8], binding: &Binding<'_>) -> Vec<u8> {
    let mut aad = Vec::with_capacity(header.len() + binding.domain.len() + 17);
    aad.extend_from_slice(header);
    aad.extend_from_slice(binding.domain);
    aad.push(0);
    aad.extend_from_slice(&binding.rotate.to_be_bytes());
    aad.extend_from_slice(&binding.epoch.to_be_bytes());
    aad
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ring(secret: u8) -> Keyring {
        Keyring::from_keys(vec![Key { id: 1, not_before: 0, not_after: None, secret: [secret; 32] }]).unwrap()
    }

    fn sealed(ring: &Keyring, binding: &Binding<'_>) -> (Vec<u8>, [u8; KEYS_LEN]) {
        let (secret, nonce) = fresh().unwrap();
        (seal(ring.current(10).unwrap(), binding, &secret, nonce), secret)
    }

    #[test]
    fn opens_what_it_sealed() {
        let ring = ring(7);
        let binding = Binding { domain: b"web", rotate: 60, epoch: 5 };
        let (value, secret) = sealed(&ring, &binding);
        assert_eq!(value.len(), SEALED_LEN);
        let keys = open(&ring, &value, &binding, 10).unwrap();
        assert_eq!(keys, EpochKeys::from_bytes(5, 0, &secret));
    }

    #[test]
    fn refuses_tampered_moved_and_foreign_values() {
        let ring = ring(7);
        let binding = Binding { domain: b"web", rotate: 60, epoch: 5 };
        let (value, _) = sealed(&ring, &binding);
        for i in [0, 9, HEADER_LEN, SEALED_LEN - 1] {
            let mut bad = value.clone();
            bad[i] ^= 1;
            assert!(open(&ring, &bad, &binding, 10).is_err(), "byte {i} flipped");
        }
        assert_eq!(open(&ring, &value[..40], &binding, 10), Err(Rejected::Malformed));
        for other in [
            Binding { domain: b"web", rotate: 60, epoch: 6 },
            Binding { domain: b"api", rotate: 60, epoch: 5 },
            Binding { domain: b"web", rotate: 30, epoch: 5 },
        ] {
            assert_eq!(open(&ring, &value, &other, 10), Err(Rejected::Authentication));
        }
        assert_eq!(open(&self::ring(8), &value, &binding, 10), Err(Rejected::Authentication));
        let other_id =
            Keyring::from_keys(vec![Key { id: 2, not_before: 0, not_after: None, secret: [7; 32] }]);
        assert_eq!(open(&other_id.unwrap(), &value, &binding, 10), Err(Rejected::UnknownKey));
    }
}
