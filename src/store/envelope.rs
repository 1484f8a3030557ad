//! The value of one stored entry: a fixed header, then the session's DER
//! sealed with XChaCha20-Poly1305.
//!
//! ```text
//! magic "SCBE" | version 1 | family | major | minor | key id (u32 BE)
//! | authenticated (u64 BE) | expiry (u64 BE) | nonce (24)   -- 52 bytes
//! | ciphertext of the DER | tag (16)
//! ```
//!
//! The associated data is the header, the store key and the cache domain,
//! so a value moved to another key or domain, or a header edited to extend
//! its expiry or change its key id, fails authentication. The 192-bit nonce
//! is random: collisions stay negligible at 100k new sessions/s for years
//! under one key, which a 96-bit random nonce would not. A value from
//! another TLS library family or OpenSSL major version (whose DER the
//! reader's libssl may misread) is refused after authentication.

use chacha20poly1305::aead::{Aead, KeyInit, Payload};
use chacha20poly1305::{XChaCha20Poly1305, XNonce};

use super::keyring::Keyring;
use super::subkeys::{StoreKey, Subkeys};

const MAGIC: &[u8; 4] = b"SCBE";
const VERSION: u8 = 1;
const NONCE_LEN: usize = 24;
const TAG_LEN: usize = 16;
/// Length of the header.
pub(crate) const HEADER_LEN: usize = 4 + 1 + 3 + 4 + 8 + 8 + NONCE_LEN;

/// Which library wrote the DER. Only OpenSSL today.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Producer {
    pub family: u8,
    pub major: u8,
    pub minor: u8,
}

/// Family byte of OpenSSL.
pub(crate) const FAMILY_OPENSSL: u8 = 1;

impl Producer {
    /// DER written by OpenSSL `major.minor`.
    pub fn openssl(major: u8, minor: u8) -> Self {
        Producer { family: FAMILY_OPENSSL, major, minor }
    }

    /// Whether DER written by `self` may be handed to `reader`'s libssl.
    fn compatible_with(self, reader: Producer) -> bool {
        self.family == reader.family && self.major == reader.major
    }
}

/// The header fields a reader uses once the value is authentic.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Meta {
    pub producer: Producer,
    pub key_id: u32,
    pub authenticated: u64,
    pub expiry: u64,
}

/// Why a value was not accepted; each is a counted lookup outcome.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Rejected {
    /// Too short, wrong magic or version.
    Malformed,
    /// Sealed under a key the keyring does not have or has retired.
    UnknownKey,
    /// Tampered, moved, or sealed for another domain.
    Authentication,
    /// From another library family or major version.
    Incompatible,
    Expired,
}

/// Seals `der`. `nonce` must be fresh random bytes (see [`fresh_nonce`]).
pub fn seal(
    keys: &Subkeys,
    meta: Meta,
    nonce: [u8; NONCE_LEN],
    store_key: &StoreKey,
    domain: &[u8],
    der: &[u8],
) -> Vec<u8> {
    let header = encode_header(meta, &nonce);
    let aad = associated_data(&header, store_key, domain);
    let cipher = XChaCha20Poly1305::new(&keys.envelope.into());
    let sealed = cipher
        .encrypt(&XNonce::from(nonce), Payload { msg: der, aad: &aad })
        .expect("XChaCha20-Poly1305 seals any length the store accepts");
    let mut value = Vec::with_capacity(HEADER_LEN + sealed.len());
    value.extend_from_slice(&header);
    value.extend_from_slice(&sealed);
    value
}

/// Opens a value read under `store_key`: the DER and its header, if the
/// value is authentic, compatible with `reader` and not expired at `now`.
pub fn open(
    ring: &Keyring,
    value: &[u8],
    store_key: &StoreKey,
    domain: &[u8],
    reader: Producer,
    now: u64,
) -> Result<(Meta, Vec<u8>), Rejected> {
    if value.len() < HEADER_LEN + TAG_LEN {
        return Err(Rejected::Malformed);
    }
    let (header, sealed) = value.split_at(HEADER_LEN);
    let (meta, nonce) = decode_header(header)?;
    let key = ring.opener(meta.key_id, now).ok_or(Rejected::UnknownKey)?;
    let keys = Subkeys::derive(key);
    let aad = associated_data(header, store_key, domain);
    let cipher = XChaCha20Poly1305::new(&keys.envelope.into());
    let der = cipher
        .decrypt(&XNonce::from(nonce), Payload { msg: sealed, aad: &aad })
        .map_err(|_| Rejected::Authentication)?;
    if !meta.producer.compatible_with(reader) {
        return Err(Rejected::Incompatible);
    }
    if meta.expiry <= now {
        return Err(Rejected::Expired);
    }
    Ok((meta, der))
}

/// A random nonce from the OS; `None` if the OS has no randomness to give
/// (then nothing is stored).
pub fn fresh_nonce() -> Option<[u8; NONCE_LEN]> {
    let mut nonce = [0u8; NONCE_LEN];
    getrandom::fill(&mut nonce).ok()?;
    Some(nonce)
}

fn encode_header(meta: Meta, nonce: &[u8; NONCE_LEN]) -> [u8; HEADER_LEN] {
    let mut h = [0u8; HEADER_LEN];
    h[..4].copy_from_slice(MAGIC);
    h[4] = VERSION;
    h[5] = meta.producer.family;
    h[6] = meta.producer.major;
    h[7] = meta.producer.minor;
    h[8..12].copy_from_slice(&meta.key_id.to_be_bytes());
    h[12..20].copy_from_slice(&meta.authenticated.to_be_bytes());
    h[20..28].copy_from_slice(&meta.expiry.to_be_bytes());
    h[28..].copy_from_slice(nonce);
    h
}

fn decode_header(h: &[u8]) -> Result<(Meta, [u8; NONCE_LEN]), Rejected> {
    if h.len() != HEADER_LEN || &h[..4] != MAGIC || h[4] != VERSION {
        return Err(Rejected::Malformed);
    }
    let be32 = |r: std::ops::Range<usize>| u32::from_be_bytes(h[r].try_into().expect("4 bytes"));
    let be64 = |r: std::ops::Range<usize>| u64::from_be_bytes(h[r].try_into().expect("8 bytes"));
    let meta = Meta {
        producer: Producer { family: h[5], major: h[6], minor: h[7] },
        key_id: be32(8..12),
        authenticated: be64(12..20),
        expiry: be64(20..28),
    };
    Ok((meta, h[28..].try_into().expect("24 bytes")))
}

fn associated_data(header: &[u8], store_key: &StoreKey, domain: &[u8]) -> Vec<u8> {
    let mut aad = Vec::with_capacity(header.len() + store_key.len() + 2 + domain.len());
    aad.extend_from_slice(header);
    aad.extend_from_slice(store_key);
    // Length-prefixed, so no (key, domain) pair reads as another.
    aad.extend_from_slice(&(domain.len().min(u16::MAX as usize) as u16).to_be_bytes());
    aad.extend_from_slice(domain);
    aad
}

#[cfg(test)]
mod tests;
