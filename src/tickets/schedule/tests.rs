use super::*;

fn ring(keys: &[(u32, u64, u8)]) -> Keyring {
    Keyring::from_keys(
        keys.iter()
            .map(|&(id, not_before, fill)| Key { id, not_before, not_after: None, secret: [fill; 32] })
            .collect(),
    )
    .unwrap()
}

#[test]
fn processes_with_the_same_key_and_domain_agree_and_others_do_not() {
    let r = ring(&[(1, 0, 7)]);
    let a = Window::build(&r, b"web", 3600, 43_200, 1_000_000);
    let b = Window::build(&ring(&[(1, 0, 7)]), b"web", 3600, 43_200, 1_000_100);
    let (ea, eb) = (a.encrypt().unwrap(), b.encrypt().unwrap());
    assert!(ea == eb, "same epoch, same keys");
    assert_eq!(ea.epoch, 1_000_000 / 3600);
    let other_domain = Window::build(&r, b"mail", 3600, 43_200, 1_000_000);
    let other_secret = Window::build(&ring(&[(1, 0, 8)]), b"web", 3600, 43_200, 1_000_000);
    let other_rotate = Window::build(&r, b"web", 1800, 43_200, 1_000_000);
    for w in [&other_domain, &other_secret, &other_rotate] {
        assert_ne!(w.encrypt().unwrap().name, ea.name);
        assert_eq!(w.decrypt(&ea.name, 1_000_000).0, Verdict::Unknown);
    }
}

#[test]
fn the_three_parts_of_an_epoch_key_differ() {
    let k = EpochKeys::derive(&ring(&[(1, 0, 1)]).keys()[0], b"d", 60, 5);
    assert_ne!(k.aes, k.hmac);
    assert_ne!(k.aes[..16], k.name);
    assert_ne!(k.aes, [1; 32]);
    let next = EpochKeys::derive(&ring(&[(1, 0, 1)]).keys()[0], b"d", 60, 6);
    assert!(next.name != k.name && next.aes != k.aes && next.hmac != k.hmac);
}

#[test]
fn a_ticket_decrypts_renews_then_expires_as_epochs_pass() {
    let r = ring(&[(1, 0, 3)]);
    // rotate 2 s, lifetime 6 s: issued at t=100 (epoch 50, starts at 100).
    let issued = Window::build(&r, b"d", 2, 6, 100);
    let name = issued.encrypt().unwrap().name;
    let at = |t: u64| Window::build(&r, b"d", 2, 6, t).decrypt(&name, t).0;
    assert_eq!(at(100), Verdict::Current);
    assert_eq!(at(101), Verdict::Current);
    assert_eq!(at(102), Verdict::Renew, "next epoch");
    assert_eq!(at(105), Verdict::Renew);
    assert_eq!(at(106), Verdict::Expired, "start of its epoch + lifetime");
    assert_eq!(at(109), Verdict::Expired);
    assert_eq!(at(150), Verdict::Unknown, "past the window altogether");
    // A host one epoch behind still decrypts a ticket from the next epoch.
    let ahead = Window::build(&r, b"d", 2, 6, 102).encrypt().unwrap().name;
    assert_eq!(Window::build(&r, b"d", 2, 6, 101).decrypt(&ahead, 101).0, Verdict::Current);
}

#[test]
fn keyring_rotation_keeps_old_tickets_until_the_old_key_is_retired() {
    let old = ring(&[(1, 0, 1)]);
    let name = Window::build(&old, b"d", 60, 600, 1000).encrypt().unwrap().name;
    let mut rotated = old.clone();
    rotated.rotate([2; 32], 1010, Some(100));
    let w = Window::build(&rotated, b"d", 60, 600, 1020);
    assert_eq!(w.encrypt().unwrap().key_id, 2, "the new key encrypts");
    assert_eq!(w.decrypt(&name, 1020).0, Verdict::Renew, "same epoch, old key: renewed");
    assert_eq!(Window::build(&rotated, b"d", 60, 600, 1200).decrypt(&name, 1200).0, Verdict::Unknown);
}

#[test]
fn forged_and_truncated_names_are_unknown() {
    let w = Window::build(&ring(&[(1, 0, 1)]), b"d", 60, 600, 1000);
    let name = w.encrypt().unwrap().name;
    assert_eq!(w.decrypt(&name[..15], 1000).0, Verdict::Unknown);
    let mut forged = name;
    forged[0] ^= 1;
    assert_eq!(w.decrypt(&forged, 1000), (Verdict::Unknown, None));
    assert_eq!(w.decrypt(&[0; 16], 1000).0, Verdict::Unknown);
}

#[test]
fn a_keyring_without_a_current_key_encrypts_nothing() {
    let future = ring(&[(1, 5000, 1)]);
    assert!(Window::build(&future, b"d", 60, 600, 1000).encrypt().is_none());
}

#[test]
fn held_keys_encrypt_when_current_and_decrypt_within_the_lifetime() {
    let held = |e: u64| EpochKeys::from_bytes(e, 0, &[e as u8; KEYS_LEN]);
    let (rotate, lifetime) = (60, 180);
    // Epochs 8, 9 and 10 held; now in epoch 10.
    let keys = [held(8), held(9), held(10)];
    let w = Window::from_held(&keys, rotate, lifetime, 10 * 60 + 5);
    assert_eq!(w.encrypt().map(|k| k.epoch), Some(10));
    assert_eq!(w.decrypt(&held(10).name, 605).0, Verdict::Current);
    assert_eq!(w.decrypt(&held(9).name, 605).0, Verdict::Renew);
    assert_eq!(w.decrypt(&held(11).name, 605).0, Verdict::Unknown, "not held: never decrypted");
    // At 13 min, epoch 10's 3-minute lifetime is over; 11 is not held.
    let later = Window::from_held(&keys, rotate, lifetime, 13 * 60);
    assert!(later.encrypt().is_none(), "no current key held: the caller falls back");
    assert_eq!(later.decrypt(&held(10).name, 13 * 60).0, Verdict::Expired);
    // Far past the window, old keys are not even held in it.
    let gone = Window::from_held(&keys, rotate, lifetime, 30 * 60);
    assert_eq!(gone.decrypt(&held(10).name, 30 * 60).0, Verdict::Unknown);
}
