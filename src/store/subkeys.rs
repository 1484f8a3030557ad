//! Keys derived from one keyring key (HKDF-SHA256), and the store key of a
//! session id.
//!
//! Two subkeys per keyring key keep the roles apart: the index key turns a
//! session id into a store key, the envelope key seals the value. A store
//! key is `HMAC-SHA256(index key, domain ‖ 0 ‖ session id)`, truncated: raw
//! ids, which every ClientHello shows, never reach a backend, so a dump of
//! the store cannot be joined to captured traffic.

use hkdf::Hkdf;
use hmac::{Hmac, KeyInit, Mac};
use sha2::Sha256;

use super::keyring::{Key, SECRET_LEN};

/// Store-key format version, its first byte: a format change never reads
/// entries of the old one.
const STORE_KEY_VERSION: u8 = 1;
/// Bytes of HMAC output kept: 128 bits, collision-free in practice for any
/// number of sessions a store holds.
const STORE_KEY_MAC_LEN: usize = 16;
/// Length of a store key.
pub(crate) const STORE_KEY_LEN: usize = 1 + STORE_KEY_MAC_LEN;
const SALT: &[u8] = b"sesscb keyring v1";

/// Keys whose subkeys a thread remembers (a keyring rarely has more than a
/// current key and one or two still opening entries).
const REMEMBERED_KEYS: usize = 4;

/// A store key: opaque bytes a backend indexes by.
pub type StoreKey = [u8; STORE_KEY_LEN];

/// The subkeys of one keyring key.
#[derive(Clone)]
pub struct Subkeys {
    pub key_id: u32,
    index: [u8; SECRET_LEN],
    pub envelope: [u8; SECRET_LEN],
}

impl Subkeys {
    /// The subkeys of `key`, remembered per thread for the last few keys:
    /// every store and lookup needs them, and HKDF costs about 1 µs of a
    /// 5 µs lookup.
    pub fn derive(key: &Key) -> Self {
        thread_local! {
            static RECENT: std::cell::RefCell<Vec<([u8; SECRET_LEN], Subkeys)>> =
                const { std::cell::RefCell::new(Vec::new()) };
        }
        let found = RECENT.try_with(|recent| {
            let recent = recent.borrow();
            recent
                .iter()
                .find(|(secret, sub)| sub.key_id == key.id && *secret == key.secret)
                .map(|(_, s)| s.clone())
        });
        if let Ok(Some(subkeys)) = found {
            return subkeys;
        }
        let subkeys = Self::compute(key);
        let _ = RECENT.try_with(|recent| {
            let mut recent = recent.borrow_mut();
            if recent.len() == REMEMBERED_KEYS {
                recent.remove(0);
            }
            recent.push((key.secret, subkeys.clone()));
        });
        subkeys
    }

    fn compute(key: &Key) -> Self {
        let hkdf = Hkdf::<Sha256>::new(Some(SALT), &key.secret);
        let mut index = [0u8; SECRET_LEN];
        let mut envelope = [0u8; SECRET_LEN];
        // 32 bytes is far below HKDF-SHA256's 8160-byte limit.
        hkdf.expand(b"index", &mut index).expect("32-byte HKDF output");
        hkdf.expand(b"envelope", &mut envelope).expect("32-byte HKDF output");
        Subkeys { key_id: key.id, index, envelope }
    }

    /// The store key of `session_id` in cache domain `domain`.
    pub fn store_key(&self, domain: &[u8], session_id: &[u8]) -> StoreKey {
        let mut mac =
            <Hmac<Sha256> as KeyInit>::new_from_slice(&self.index).expect("HMAC takes any key length");
        mac.update(domain);
        mac.update(&[0]);
        mac.update(session_id);
        let digest = mac.finalize().into_bytes();
        let mut out = [0u8; STORE_KEY_LEN];
        out[0] = STORE_KEY_VERSION;
        out[1..].copy_from_slice(&digest[..STORE_KEY_MAC_LEN]);
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(id: u32, fill: u8) -> Key {
        Key { id, not_before: 0, not_after: None, secret: [fill; SECRET_LEN] }
    }

    #[test]
    fn remembered_subkeys_are_those_derived_afresh() {
        for round in 0..2 {
            for id in 1..=6 {
                let k = key(id, id as u8 + round);
                let (once, again) = (Subkeys::derive(&k), Subkeys::compute(&k));
                assert_eq!(
                    (once.key_id, once.index, once.envelope),
                    (again.key_id, again.index, again.envelope)
                );
            }
        }
        let (a, b) = (key(9, 1), key(9, 2));
        assert_ne!(Subkeys::derive(&a).index, Subkeys::derive(&b).index, "same id, new secret");
    }

    #[test]
    fn store_keys_separate_keys_domains_and_ids() {
        let a = Subkeys::derive(&key(1, 1));
        let b = Subkeys::derive(&key(2, 2));
        let base = a.store_key(b"web", b"id-1");
        assert_eq!(base, a.store_key(b"web", b"id-1"));
        assert_eq!(base[0], STORE_KEY_VERSION);
        assert_ne!(base, b.store_key(b"web", b"id-1"));
        assert_ne!(base, a.store_key(b"mail", b"id-1"));
        assert_ne!(base, a.store_key(b"web", b"id-2"));
        // The separator keeps (domain, id) pairs that concatenate alike apart.
        assert_ne!(a.store_key(b"ab", b"c"), a.store_key(b"a", b"bc"));
    }

    #[test]
    fn subkeys_differ_from_each_other_and_from_the_secret() {
        let k = key(1, 7);
        let sub = Subkeys::derive(&k);
        assert_ne!(sub.index, sub.envelope);
        assert_ne!(sub.envelope, k.secret);
        assert_ne!(sub.index, k.secret);
    }
}
