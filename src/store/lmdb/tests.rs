//! Embedded-tier tests against real LMDB files in a scratch directory.

use std::os::unix::fs::PermissionsExt;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU32, Ordering};

use super::*;

const NOW: u64 = 1_000_000;

/// A fresh 0700 directory, removed when dropped.
struct Scratch(PathBuf);

impl Scratch {
    fn new() -> Self {
        static NEXT: AtomicU32 = AtomicU32::new(0);
        let n = NEXT.fetch_add(1, Ordering::Relaxed);
        let dir = std::env::temp_dir().join(format!("sesscb-lmdb-test-{}-{n}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir(&dir).unwrap();
        std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o700)).unwrap();
        Scratch(dir)
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn key(n: u32) -> StoreKey {
    let mut k = [0u8; STORE_KEY_LEN];
    k[0] = 1;
    k[1..5].copy_from_slice(&n.to_be_bytes());
    k
}

#[test]
fn put_get_replace_delete() {
    let dir = Scratch::new();
    let tier = Tier::open(&dir.0, 1 << 20).unwrap();
    assert_eq!(tier.get(&key(1), NOW).unwrap(), None);
    tier.put(&key(1), b"one", NOW + 60, NOW).unwrap();
    assert_eq!(tier.get(&key(1), NOW).unwrap().as_deref(), Some(&b"one"[..]));
    tier.put(&key(1), b"uno", NOW + 90, NOW).unwrap();
    assert_eq!(tier.get(&key(1), NOW).unwrap().as_deref(), Some(&b"uno"[..]));
    assert_eq!(tier.occupancy().unwrap().entries, 1);
    assert!(tier.delete(&key(1)).unwrap());
    assert!(!tier.delete(&key(1)).unwrap());
    assert_eq!(tier.get(&key(1), NOW).unwrap(), None);
}

#[test]
fn expired_entries_are_not_returned() {
    let dir = Scratch::new();
    let tier = Tier::open(&dir.0, 1 << 20).unwrap();
    tier.put(&key(1), b"v", NOW + 10, NOW).unwrap();
    assert!(tier.get(&key(1), NOW + 9).unwrap().is_some());
    assert_eq!(tier.get(&key(1), NOW + 10).unwrap(), None);
    assert_eq!(tier.take(&key(1), NOW + 10).unwrap(), None);
}

#[test]
fn take_gives_the_value_once() {
    let dir = Scratch::new();
    let tier = Tier::open(&dir.0, 1 << 20).unwrap();
    tier.put(&key(7), b"single", NOW + 60, NOW).unwrap();
    assert_eq!(tier.take(&key(7), NOW).unwrap().as_deref(), Some(&b"single"[..]));
    assert_eq!(tier.take(&key(7), NOW).unwrap(), None);
    assert_eq!(tier.occupancy().unwrap().entries, 0);
}

#[test]
fn files_are_private() {
    let dir = Scratch::new();
    let tier = Tier::open(&dir.0, 1 << 20).unwrap();
    tier.put(&key(1), b"v", NOW + 60, NOW).unwrap();
    for name in ["data.mdb", "lock.mdb"] {
        let mode = std::fs::metadata(dir.0.join(name)).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600, "{name}");
    }
}

#[test]
fn a_full_store_evicts_expired_then_oldest_and_keeps_writing() {
    let dir = Scratch::new();
    let tier = Tier::open(&dir.0, 256 * 1024).unwrap();
    let value = vec![0xA5; 1500];
    // Key 0 expires first; keys 1.. live long.
    tier.put(&key(0), &value, NOW + 1, NOW).unwrap();
    let mut evicted = 0;
    for n in 1..1000 {
        evicted += tier.put(&key(n), &value, NOW + 3600, NOW + 5).unwrap();
    }
    let occupancy = tier.occupancy().unwrap();
    assert!(evicted > 0 && occupancy.evictions == evicted, "{occupancy:?}, evicted {evicted}");
    assert!(occupancy.entries < 999, "{occupancy:?}");
    assert_eq!(tier.get(&key(0), NOW).unwrap(), None, "the expired entry went first");
    assert!(tier.get(&key(999), NOW + 5).unwrap().is_some(), "the newest entry is kept");
    assert_eq!(tier.get(&key(1), NOW + 5).unwrap(), None, "the oldest live entry went next");
}

#[test]
fn an_entry_larger_than_the_map_is_refused() {
    let dir = Scratch::new();
    let tier = Tier::open(&dir.0, 64 * 1024).unwrap();
    let huge = vec![0u8; 256 * 1024];
    assert!(matches!(tier.put(&key(1), &huge, NOW + 60, NOW), Err(TierError::Full)));
    tier.put(&key(2), b"small", NOW + 60, NOW).unwrap();
    assert!(tier.get(&key(2), NOW).unwrap().is_some());
}
