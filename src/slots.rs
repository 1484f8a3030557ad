//! Per-ctx slots. A slot binds one live `SSL_CTX` to one set of distinct
//! trampolines; OpenSSL calls a ctx's stored function pointer, so a call to
//! slot k's trampoline means "ctx k's callback" — exactly the `session_ctx`
//! OpenSSL consulted, whatever `SSL_get_SSL_CTX` says by then.
//!
//! The table is static and lock-free: slots are claimed with a CAS in the
//! setter and released from the ctx's ex_data free function, which OpenSSL
//! runs after the ctx's last remove callback, when no SSL can reach it.

use std::sync::atomic::{AtomicPtr, AtomicU32, AtomicUsize, Ordering};

use crate::callbacks::{Address, Kind};
use crate::ffi::SslCtx;
use crate::resolver::Libssl;
use crate::stats::Counters;
use crate::trampolines::SLOT_COUNT;

const FREE: u32 = 0;
const USED: u32 = 1;

/// One ctx's state: 128 bytes, its own cache lines.
#[repr(C, align(128))]
pub struct Slot {
    state: AtomicU32,
    ctx: AtomicPtr<SslCtx>,
    /// The libssl that owns `ctx` (a process may hold two).
    libssl: AtomicPtr<Libssl>,
    callbacks: [AtomicUsize; 3],
    pub counters: Counters,
}

impl Slot {
    const fn new() -> Self {
        Slot {
            state: AtomicU32::new(FREE),
            ctx: AtomicPtr::new(std::ptr::null_mut()),
            libssl: AtomicPtr::new(std::ptr::null_mut()),
            callbacks: [const { AtomicUsize::new(0) }; 3],
            counters: Counters::new(),
        }
    }

    /// The application's callback of this kind (0 if none). Acquire pairs
    /// with the Release in `set_callback`, so a trampoline that sees a new
    /// pointer sees it whole.
    #[inline]
    pub fn callback(&self, kind: Kind) -> Address {
        self.callbacks[kind.index()].load(Ordering::Acquire)
    }

    pub fn set_callback(&self, kind: Kind, address: Address) {
        self.callbacks[kind.index()].store(address, Ordering::Release);
    }

    #[inline]
    pub fn ctx(&self) -> *mut SslCtx {
        self.ctx.load(Ordering::Relaxed)
    }

    /// The libssl that owns this slot's ctx (None in unit tests).
    #[inline]
    pub fn libssl(&self) -> Option<&'static Libssl> {
        let lib = self.libssl.load(Ordering::Acquire);
        // SAFETY: backends are leaked Boxes, never freed.
        (!lib.is_null()).then(|| unsafe { &*lib })
    }
}

static SLOTS: [Slot; SLOT_COUNT] = [const { Slot::new() }; SLOT_COUNT];
/// Free slots left; lets a full table fall back in O(1).
static FREE_COUNT: AtomicUsize = AtomicUsize::new(SLOT_COUNT);
/// Where the next search starts, so claims are O(1) in the common case.
static NEXT_HINT: AtomicUsize = AtomicUsize::new(0);

#[inline]
pub fn get(index: usize) -> &'static Slot {
    &SLOTS[index]
}

/// Claims a free slot for `ctx`, with cleared callbacks and counters.
pub fn claim(ctx: *mut SslCtx, libssl: Option<&'static Libssl>) -> Option<usize> {
    if FREE_COUNT.load(Ordering::Relaxed) == 0 {
        return None;
    }
    let start = NEXT_HINT.load(Ordering::Relaxed);
    for step in 0..SLOT_COUNT {
        let index = (start + step) % SLOT_COUNT;
        let slot = &SLOTS[index];
        if slot.state.load(Ordering::Relaxed) == FREE
            && slot.state.compare_exchange(FREE, USED, Ordering::Acquire, Ordering::Relaxed).is_ok()
        {
            FREE_COUNT.fetch_sub(1, Ordering::Relaxed);
            NEXT_HINT.store((index + 1) % SLOT_COUNT, Ordering::Relaxed);
            for kind in Kind::ALL {
                slot.set_callback(kind, 0);
            }
            slot.counters.reset();
            slot.libssl.store(
                libssl.map_or(std::ptr::null_mut(), |l| (l as *const Libssl).cast_mut()),
                Ordering::Release,
            );
            slot.ctx.store(ctx, Ordering::Release);
            return Some(index);
        }
    }
    None
}

/// Returns a slot to the pool (ctx destruction, or a lost attach race).
pub fn release(index: usize) {
    let slot = &SLOTS[index];
    for kind in Kind::ALL {
        slot.set_callback(kind, 0);
    }
    slot.ctx.store(std::ptr::null_mut(), Ordering::Relaxed);
    slot.libssl.store(std::ptr::null_mut(), Ordering::Relaxed);
    if slot.state.compare_exchange(USED, FREE, Ordering::Release, Ordering::Relaxed).is_ok() {
        FREE_COUNT.fetch_add(1, Ordering::Relaxed);
    }
}

/// Tests that claim slots hold this: the table is process-global.
#[cfg(test)]
pub static TEST_SERIAL: std::sync::Mutex<()> = std::sync::Mutex::new(());

/// Slots in use (for tests and diagnostics).
#[allow(dead_code)]
pub fn used_count() -> usize {
    SLOT_COUNT - FREE_COUNT.load(Ordering::Relaxed)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fake_ctx(n: usize) -> *mut SslCtx {
        (0x1000 + n * 16) as *mut SslCtx
    }

    // The slot table is global: one test exercises all of it so parallel
    // tests cannot disturb each other's counts.
    #[test]
    fn claim_release_exhaust_and_reuse() {
        let _serial = TEST_SERIAL.lock().unwrap_or_else(|e| e.into_inner());
        assert_eq!(size_of::<Slot>(), 128, "one ctx costs one 128-byte slot");

        let a = claim(fake_ctx(1), None).unwrap();
        let slot = get(a);
        assert_eq!(slot.ctx(), fake_ctx(1));
        slot.set_callback(Kind::Remove, 0x1234);
        slot.counters.record_remove();
        release(a);
        assert_eq!(slot.callback(Kind::Remove), 0);

        // Exhaust: every claim succeeds until the table is full, then None.
        let mut held = Vec::new();
        while let Some(i) = claim(fake_ctx(held.len()), None) {
            held.push(i);
        }
        assert_eq!(held.len(), SLOT_COUNT);
        let mut sorted = held.clone();
        sorted.sort_unstable();
        sorted.dedup();
        assert_eq!(sorted.len(), SLOT_COUNT, "a slot was handed out twice");
        assert!(claim(fake_ctx(99_999), None).is_none());

        // A released slot is reusable and comes back clean.
        let reused = held[17];
        get(reused).set_callback(Kind::New, 0x99);
        get(reused).counters.record_new(true);
        release(reused);
        let again = claim(fake_ctx(123_456), None).unwrap();
        assert_eq!(again, reused);
        assert_eq!(get(again).callback(Kind::New), 0);
        assert_eq!(get(again).counters.snapshot().new_calls, 0);
        assert_eq!(get(again).ctx(), fake_ctx(123_456));

        for i in held {
            release(i);
        }
        assert_eq!(used_count(), 0);
        // Double release is harmless.
        release(again);
        assert_eq!(used_count(), 0);
    }
}
