//! Envelope tests: every way a stored value can be damaged or misused is
//! rejected, with the reason a counter would record.

use super::*;
use crate::store::keyring::{Key, SECRET_LEN};

const NOW: u64 = 1_000_000;
const OSSL3: Producer = Producer { family: FAMILY_OPENSSL, major: 3, minor: 0 };
const DER: &[u8] = b"0\x82\x01\x00 pretend this is an SSL_SESSION";

fn ring() -> Keyring {
    let key = |id, fill| Key { id, not_before: 0, not_after: None, secret: [fill; SECRET_LEN] };
    Keyring::from_keys(vec![key(1, 0x11), key(2, 0x22)]).unwrap()
}

fn meta(key_id: u32) -> Meta {
    Meta { producer: OSSL3, key_id, authenticated: NOW - 10, expiry: NOW + 300 }
}

/// A value sealed under key `key_id` of `ring()` for (`domain`, `id`).
fn sealed(key_id: u32, domain: &[u8], id: &[u8]) -> (StoreKey, Vec<u8>) {
    let ring = ring();
    let keys = Subkeys::derive(ring.opener(key_id, NOW).unwrap());
    let store_key = keys.store_key(domain, id);
    let value = seal(&keys, meta(key_id), fresh_nonce().unwrap(), &store_key, domain, DER);
    (store_key, value)
}

#[test]
fn round_trip() {
    let (store_key, value) = sealed(1, b"web", b"sid");
    assert_eq!(value.len(), HEADER_LEN + DER.len() + TAG_LEN);
    let (got, der) = open(&ring(), &value, &store_key, b"web", OSSL3, NOW).unwrap();
    assert_eq!((got, der.as_slice()), (meta(1), DER));
    let minor_differs = Producer { minor: 5, ..OSSL3 };
    assert!(open(&ring(), &value, &store_key, b"web", minor_differs, NOW).is_ok());
}

#[test]
fn every_single_byte_flip_is_rejected() {
    let (store_key, value) = sealed(1, b"web", b"sid");
    for i in 0..value.len() {
        for bit in [0x01, 0x80] {
            let mut bad = value.clone();
            bad[i] ^= bit;
            let got = open(&ring(), &bad, &store_key, b"web", OSSL3, NOW);
            let want_one_of = [Rejected::Authentication, Rejected::Malformed, Rejected::UnknownKey];
            assert!(matches!(got, Err(r) if want_one_of.contains(&r)), "byte {i} bit {bit:#x}: {got:?}");
        }
    }
}

#[test]
fn every_truncation_is_rejected() {
    let (store_key, value) = sealed(1, b"web", b"sid");
    for len in 0..value.len() {
        let got = open(&ring(), &value[..len], &store_key, b"web", OSSL3, NOW);
        assert!(matches!(got, Err(Rejected::Malformed | Rejected::Authentication)), "len {len}: {got:?}");
    }
}

#[test]
fn wrong_key_domain_or_store_key_is_rejected() {
    let (store_key, value) = sealed(1, b"web", b"sid");
    assert_eq!(open(&ring(), &value, &store_key, b"mail", OSSL3, NOW).unwrap_err(), Rejected::Authentication);
    let (other_key, _) = sealed(1, b"web", b"other-sid");
    assert_eq!(open(&ring(), &value, &other_key, b"web", OSSL3, NOW).unwrap_err(), Rejected::Authentication);
    // The key id in the header says 1: rewriting it to 2 makes the tag wrong.
    let mut relabelled = value.clone();
    relabelled[8..12].copy_from_slice(&2u32.to_be_bytes());
    assert_eq!(
        open(&ring(), &relabelled, &store_key, b"web", OSSL3, NOW).unwrap_err(),
        Rejected::Authentication
    );
    relabelled[8..12].copy_from_slice(&9u32.to_be_bytes());
    assert_eq!(open(&ring(), &relabelled, &store_key, b"web", OSSL3, NOW).unwrap_err(), Rejected::UnknownKey);
}

#[test]
fn a_value_under_another_keyring_is_rejected() {
    let (store_key, value) = sealed(1, b"web", b"sid");
    let other =
        Keyring::from_keys(vec![Key { id: 1, not_before: 0, not_after: None, secret: [0x99; SECRET_LEN] }])
            .unwrap();
    assert_eq!(open(&other, &value, &store_key, b"web", OSSL3, NOW).unwrap_err(), Rejected::Authentication);
}

#[test]
fn retired_key_expired_entry_and_other_major_are_rejected() {
    let (store_key, value) = sealed(2, b"web", b"sid");
    let mut retiring = ring();
    retiring.rotate([0x33; SECRET_LEN], NOW - 100, Some(50));
    assert_eq!(open(&retiring, &value, &store_key, b"web", OSSL3, NOW).unwrap_err(), Rejected::UnknownKey);
    assert_eq!(open(&ring(), &value, &store_key, b"web", OSSL3, NOW + 300).unwrap_err(), Rejected::Expired);
    let ossl111 = Producer { family: FAMILY_OPENSSL, major: 1, minor: 1 };
    assert_eq!(open(&ring(), &value, &store_key, b"web", ossl111, NOW).unwrap_err(), Rejected::Incompatible);
    let other_family = Producer { family: 2, ..OSSL3 };
    assert_eq!(
        open(&ring(), &value, &store_key, b"web", other_family, NOW).unwrap_err(),
        Rejected::Incompatible
    );
}

#[test]
fn nonces_are_fresh() {
    let a = fresh_nonce().unwrap();
    let b = fresh_nonce().unwrap();
    assert_ne!(a, b);
}
