//! Per-ctx slots. A slot binds one live `SSL_CTX` to one set of distinct
//! trampolines; OpenSSL calls a ctx's stored function pointer, so a call to
//! slot k's trampoline means "ctx k's callback" — exactly the `session_ctx`
//! OpenSSL consulted, whatever `SSL_get_SSL_CTX` says by then.
//!
//! The table is static and doubles as the ctx → slot map: a ctx lives within
//! `PROBE_LIMIT` slots of its hash, so finding it costs a few loads and
//! nothing is allocated per ctx (not even OpenSSL ex_data). Slots are
//! claimed under the registry's attach lock and released from sesscb's
//! SSL_CTX ex_data free function, which OpenSSL runs for every ctx after its
//! last remove callback, when no SSL can reach it.

use std::sync::atomic::{AtomicPtr, AtomicUsize, Ordering};

use crate::callbacks::{Address, Kind};
use crate::ffi::SslCtx;
use crate::resolver::Libssl;
use crate::stats::Counters;
use crate::trampolines::SLOT_COUNT;

/// A slot that never held a ctx: ends a probe.
const EMPTY: usize = 0;
/// A slot whose ctx was freed: reusable, but a probe goes on past it.
const TOMBSTONE: usize = 1;
/// How far from its hash a ctx may live. Bounds every lookup, including the
/// one the free function does for each ctx the process frees; a ctx that
/// finds no room within it uses the shared trampolines instead.
pub(crate) const PROBE_LIMIT: usize = 16;

/// One ctx's state: 128 bytes, its own cache lines.
#[repr(C, align(128))]
pub struct Slot {
    /// The ctx's address, or EMPTY / TOMBSTONE.
    ctx: AtomicUsize,
    /// The libssl that owns `ctx` (a process may hold two).
    libssl: AtomicPtr<Libssl>,
    callbacks: [AtomicUsize; 3],
    pub counters: Counters,
}

impl Slot {
    const fn new() -> Self {
        Slot {
            ctx: AtomicUsize::new(EMPTY),
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

    /// The slot's ctx, NULL if it has none.
    #[inline]
    pub fn ctx(&self) -> *mut SslCtx {
        let ctx = self.ctx.load(Ordering::Relaxed);
        if ctx == EMPTY || ctx == TOMBSTONE { std::ptr::null_mut() } else { ctx as *mut SslCtx }
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

#[inline]
pub fn get(index: usize) -> &'static Slot {
    &SLOTS[index]
}

/// Every slot, for summing counters.
pub fn all() -> &'static [Slot] {
    &SLOTS
}

/// Where a ctx's probe starts: Fibonacci hashing of the address (allocator
/// addresses share their low bits, so those are shifted out first).
#[inline]
fn home(ctx: usize) -> usize {
    const BITS: u32 = SLOT_COUNT.trailing_zeros();
    ((ctx >> 4).wrapping_mul(0x9E37_79B9_7F4A_7C15_u64 as usize) >> (usize::BITS - BITS)) % SLOT_COUNT
}

/// The slot holding `ctx`, if any. Lock-free.
#[inline]
pub fn find(ctx: *mut SslCtx) -> Option<usize> {
    let key = ctx as usize;
    let start = home(key);
    for step in 0..PROBE_LIMIT {
        let index = (start + step) % SLOT_COUNT;
        match SLOTS[index].ctx.load(Ordering::Acquire) {
            found if found == key => return Some(index),
            EMPTY => return None,
            _ => {}
        }
    }
    None
}

/// Whether `ctx` could get a slot now (a lock-free hint, so a ctx beyond
/// the table's room costs no lock; `claim` decides).
pub fn has_room(ctx: *mut SslCtx) -> bool {
    let start = home(ctx as usize);
    (0..PROBE_LIMIT).any(|step| {
        let current = SLOTS[(start + step) % SLOT_COUNT].ctx.load(Ordering::Relaxed);
        current == EMPTY || current == TOMBSTONE
    })
}

/// Claims a slot for `ctx` (not yet in the table), with cleared callbacks
/// and counters. The caller serialises claims (registry's attach lock).
pub fn claim(ctx: *mut SslCtx, libssl: Option<&'static Libssl>) -> Option<usize> {
    let key = ctx as usize;
    debug_assert!(key > TOMBSTONE);
    let start = home(key);
    for step in 0..PROBE_LIMIT {
        let index = (start + step) % SLOT_COUNT;
        let slot = &SLOTS[index];
        let current = slot.ctx.load(Ordering::Acquire);
        if current != EMPTY && current != TOMBSTONE {
            continue;
        }
        // Nobody reaches a free slot: its trampolines are stored in no live
        // ctx, so it can be prepared before it is published.
        for kind in Kind::ALL {
            slot.set_callback(kind, 0);
        }
        slot.counters.reset();
        slot.libssl.store(
            libssl.map_or(std::ptr::null_mut(), |l| (l as *const Libssl).cast_mut()),
            Ordering::Release,
        );
        if slot.ctx.compare_exchange(current, key, Ordering::AcqRel, Ordering::Acquire).is_ok() {
            return Some(index);
        }
    }
    None
}

/// Releases `index` if it still holds `ctx` (ctx destruction); its counters
/// are folded into the process totals first.
pub fn release(index: usize, ctx: *mut SslCtx) -> bool {
    let slot = &SLOTS[index];
    if slot.ctx.load(Ordering::Acquire) != ctx as usize {
        return false;
    }
    for kind in Kind::ALL {
        slot.set_callback(kind, 0);
    }
    crate::stats::retire_slot(index);
    slot.ctx.compare_exchange(ctx as usize, TOMBSTONE, Ordering::AcqRel, Ordering::Relaxed).is_ok()
}

/// Tests that claim slots hold this: the table is process-global.
#[cfg(test)]
pub static TEST_SERIAL: std::sync::Mutex<()> = std::sync::Mutex::new(());

#[cfg(test)]
mod tests {
    use super::*;

    fn fake_ctx(n: usize) -> *mut SslCtx {
        (0x10_0000 + n * 64) as *mut SslCtx
    }

    #[test]
    fn claim_find_release_and_reuse() {
        let _serial = TEST_SERIAL.lock().unwrap_or_else(|e| e.into_inner());
        assert_eq!(size_of::<Slot>(), 128, "one ctx costs one 128-byte slot");

        let a = claim(fake_ctx(1), None).unwrap();
        assert_eq!(find(fake_ctx(1)), Some(a));
        assert_eq!(find(fake_ctx(2)), None);
        let slot = get(a);
        assert_eq!(slot.ctx(), fake_ctx(1));
        slot.set_callback(Kind::Remove, 0x1234);
        slot.counters.bump(crate::stats::Event::Remove);
        assert!(release(a, fake_ctx(1)));
        assert_eq!(slot.callback(Kind::Remove), 0);
        assert_eq!(slot.ctx(), std::ptr::null_mut());
        assert_eq!(find(fake_ctx(1)), None);
        // Releasing again, or for another ctx, does nothing.
        assert!(!release(a, fake_ctx(1)));

        // A released (tombstoned) slot is reusable and comes back clean.
        let b = claim(fake_ctx(1), None).unwrap();
        assert_eq!(get(b).callback(Kind::Remove), 0);
        assert_eq!(crate::stats::slot_snapshot(b).remove_calls, 0);
        assert!(release(b, fake_ctx(1)));
    }

    #[test]
    fn many_ctxs_fill_the_table_then_overflow_and_stay_findable() {
        let _serial = TEST_SERIAL.lock().unwrap_or_else(|e| e.into_inner());
        let mut held = Vec::new();
        let mut overflowed = 0;
        for n in 0..SLOT_COUNT * 2 {
            let ctx = fake_ctx(1000 + n);
            match claim(ctx, None) {
                Some(i) => held.push((i, ctx)),
                None => overflowed += 1,
            }
        }
        // Bounded probing fills most of the table before ctxs overflow.
        assert!(held.len() > SLOT_COUNT * 9 / 10, "only {} of {SLOT_COUNT} slots used", held.len());
        assert_eq!(held.len() + overflowed, SLOT_COUNT * 2);
        let mut indices: Vec<usize> = held.iter().map(|&(i, _)| i).collect();
        indices.sort_unstable();
        indices.dedup();
        assert_eq!(indices.len(), held.len(), "a slot was handed out twice");
        for &(i, ctx) in &held {
            assert_eq!(find(ctx), Some(i));
        }
        for &(i, ctx) in &held {
            assert!(release(i, ctx));
        }
        assert!(held.iter().all(|&(_, ctx)| find(ctx).is_none()));
    }
}
