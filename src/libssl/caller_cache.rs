//! Which libssl serves a given calling object, remembered by address range
//! so routing a call costs a few compares after the first one from an object.
//! Entries are written once and never replaced (lock-free, fork-safe).

use std::sync::atomic::{AtomicPtr, AtomicU8, AtomicUsize, Ordering};

use super::handle::Libssl;

const ENTRIES: usize = 32;

struct Entry {
    claimed: AtomicU8,
    start: AtomicUsize,
    end: AtomicUsize,
    /// Published last (Release): non-NULL means start/end are valid.
    lib: AtomicPtr<Libssl>,
}

static CACHE: [Entry; ENTRIES] = [const {
    Entry {
        claimed: AtomicU8::new(0),
        start: AtomicUsize::new(0),
        end: AtomicUsize::new(0),
        lib: AtomicPtr::new(std::ptr::null_mut()),
    }
}; ENTRIES];

pub fn lookup(address: usize) -> Option<&'static Libssl> {
    for entry in &CACHE {
        let lib = entry.lib.load(Ordering::Acquire);
        if lib.is_null() {
            continue;
        }
        if entry.start.load(Ordering::Relaxed) <= address && address < entry.end.load(Ordering::Relaxed) {
            // SAFETY: backends are leaked Boxes, never freed.
            return Some(unsafe { &*lib });
        }
    }
    None
}

/// Remembers that addresses in `range` are served by `lib`; silently not
/// cached when the table is full (the slow path still answers).
pub fn insert(range: (usize, usize), lib: &'static Libssl) {
    for entry in &CACHE {
        if entry.claimed.compare_exchange(0, 1, Ordering::Acquire, Ordering::Relaxed).is_ok() {
            entry.start.store(range.0, Ordering::Relaxed);
            entry.end.store(range.1, Ordering::Relaxed);
            entry.lib.store((lib as *const Libssl).cast_mut(), Ordering::Release);
            return;
        }
    }
}
