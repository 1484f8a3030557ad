//! Per-ctx slots. A slot binds one live `SSL_CTX` to one set of distinct
//! trampolines; OpenSSL calls a ctx's stored function pointer, so a call to
//! slot k's trampoline means "ctx k's callback" — exactly the `session_ctx`
//! OpenSSL consulted, whatever `SSL_get_SSL_CTX` says by then.
//!
//! The table is static and doubles as the ctx → slot map: a ctx lives within
//! `PROBE_LIMIT` slots of its hash, so finding it costs a few loads and
//! nothing is allocated per ctx (not even OpenSSL ex_data). Slots are
//! claimed under the registry's attach lock and released from sesscb's
//! SSL_CTX ex_data free function, which OpenSSL runs for every ctx after the
//! final flush's remove callbacks, when no SSL can reach it; what a ctx still
//! sees after that, from a later free function, is kept in [`super::freed`].

use std::sync::atomic::{AtomicPtr, AtomicUsize, Ordering};

use super::freed;
use crate::ffi::callbacks::{Address, Kind};
use crate::ffi::types::SslCtx;
use crate::libssl::handle::Libssl;
use crate::limits::SLOT_COUNT;
use crate::observe::stats::Counters;

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

/// A slot table. The process has one ([`SLOTS`], used through the free
/// functions below); unit tests make their own.
pub struct SlotTable([Slot; SLOT_COUNT]);

static SLOTS: SlotTable = SlotTable::new();

#[inline]
pub fn get(index: usize) -> &'static Slot {
    &SLOTS.0[index]
}

/// Every slot, for summing counters.
pub fn all() -> &'static [Slot] {
    &SLOTS.0
}

/// The slot holding `ctx`, if any. Lock-free.
#[inline]
pub fn find(ctx: *mut SslCtx) -> Option<usize> {
    SLOTS.find(ctx)
}

/// Whether `ctx` could get a slot now (see [`SlotTable::has_room`]).
pub fn has_room(ctx: *mut SslCtx) -> bool {
    SLOTS.has_room(ctx)
}

/// Claims a slot for `ctx` (see [`SlotTable::claim`]).
pub fn claim(ctx: *mut SslCtx, libssl: Option<&'static Libssl>) -> Option<usize> {
    SLOTS.claim(ctx, libssl)
}

/// Releases `index` if it still holds `ctx` (see [`SlotTable::release`]).
pub fn release(index: usize, ctx: *mut SslCtx, retire: impl FnOnce(usize, &Counters)) -> bool {
    SLOTS.release(index, ctx, retire)
}

/// Claims the free slot `index` for `ctx` (tests that need a given slot).
#[cfg(test)]
pub fn claim_at(index: usize, ctx: *mut SslCtx) -> bool {
    let owner = &SLOTS.0[index].ctx;
    let current = owner.load(Ordering::Acquire);
    (current == EMPTY || current == TOMBSTONE)
        && owner.compare_exchange(current, ctx as usize, Ordering::AcqRel, Ordering::Acquire).is_ok()
}

/// Where a ctx's probe starts: Fibonacci hashing of the address (allocator
/// addresses share their low bits, so those are shifted out first).
#[inline]
fn home(ctx: usize) -> usize {
    const BITS: u32 = SLOT_COUNT.trailing_zeros();
    ((ctx >> 4).wrapping_mul(0x9E37_79B9_7F4A_7C15_u64 as usize) >> (usize::BITS - BITS)) % SLOT_COUNT
}

impl SlotTable {
    const fn new() -> Self {
        SlotTable([const { Slot::new() }; SLOT_COUNT])
    }

    /// The slot holding `ctx`, if any. Lock-free.
    #[inline]
    fn find(&self, ctx: *mut SslCtx) -> Option<usize> {
        let key = ctx as usize;
        let start = home(key);
        for step in 0..PROBE_LIMIT {
            let index = (start + step) % SLOT_COUNT;
            match self.0[index].ctx.load(Ordering::Acquire) {
                found if found == key => return Some(index),
                EMPTY => return None,
                _ => {}
            }
        }
        None
    }

    /// Whether `ctx` could get a slot now (a lock-free hint, so a ctx beyond
    /// the table's room costs no lock; `claim` decides).
    fn has_room(&self, ctx: *mut SslCtx) -> bool {
        let start = home(ctx as usize);
        (0..PROBE_LIMIT).any(|step| {
            let current = self.0[(start + step) % SLOT_COUNT].ctx.load(Ordering::Relaxed);
            current == EMPTY || current == TOMBSTONE
        })
    }

    /// Claims a slot for `ctx` (not yet in the table), with cleared callbacks
    /// and counters. The caller serialises claims (registry's attach lock).
    fn claim(&self, ctx: *mut SslCtx, libssl: Option<&'static Libssl>) -> Option<usize> {
        let key = ctx as usize;
        debug_assert!(key > TOMBSTONE);
        let start = home(key);
        for step in 0..PROBE_LIMIT {
            let index = (start + step) % SLOT_COUNT;
            let slot = &self.0[index];
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

    /// Releases `index` if it still holds `ctx` (ctx destruction); `retire`
    /// folds its counters into the process totals first, before the slot can
    /// be claimed again. Its callbacks are kept for the rest of the ctx's
    /// destruction ([`freed`]).
    fn release(&self, index: usize, ctx: *mut SslCtx, retire: impl FnOnce(usize, &Counters)) -> bool {
        let slot = &self.0[index];
        if slot.ctx.load(Ordering::Acquire) != ctx as usize {
            return false;
        }
        freed::remember(ctx, index, Kind::ALL.map(|kind| slot.callback(kind)));
        for kind in Kind::ALL {
            slot.set_callback(kind, 0);
        }
        retire(index, &slot.counters);
        slot.ctx.compare_exchange(ctx as usize, TOMBSTONE, Ordering::AcqRel, Ordering::Relaxed).is_ok()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fake_ctx(n: usize) -> *mut SslCtx {
        (0x10_0000 + n * 64) as *mut SslCtx
    }

    /// A table of the test's own: no other test sees it.
    fn own_table() -> Box<SlotTable> {
        Box::new(SlotTable::new())
    }

    fn no_retire(_: usize, _: &Counters) {}

    #[test]
    fn claim_find_release_and_reuse() {
        assert_eq!(size_of::<Slot>(), 128, "one ctx costs one 128-byte slot");
        let table = own_table();

        let a = table.claim(fake_ctx(1), None).unwrap();
        assert_eq!(table.find(fake_ctx(1)), Some(a));
        assert_eq!(table.find(fake_ctx(2)), None);
        let slot = &table.0[a];
        assert_eq!(slot.ctx(), fake_ctx(1));
        slot.set_callback(Kind::Remove, 0x1234);
        slot.counters.bump(crate::observe::event::Event::Remove);
        let mut retired = None;
        assert!(
            table.release(a, fake_ctx(1), |index, counters| retired = Some((index, counters.snapshot())))
        );
        let (index, counts) = retired.expect("release retires the slot's counters");
        assert_eq!((index, counts.remove_calls), (a, 1));
        assert_eq!(slot.callback(Kind::Remove), 0);
        assert_eq!(slot.ctx(), std::ptr::null_mut());
        assert_eq!(table.find(fake_ctx(1)), None);
        // Releasing again, or for another ctx, does nothing.
        assert!(!table.release(a, fake_ctx(1), |_, _| panic!("retired twice")));

        // A released (tombstoned) slot is reusable and comes back clean.
        let b = table.claim(fake_ctx(1), None).unwrap();
        assert_eq!(table.0[b].callback(Kind::Remove), 0);
        assert_eq!(table.0[b].counters.snapshot().remove_calls, 0);
        assert!(table.release(b, fake_ctx(1), no_retire));
    }

    #[test]
    fn a_released_ctx_is_remembered_on_its_thread_for_a_while() {
        let table = own_table();
        let a = table.claim(fake_ctx(7), None).unwrap();
        table.0[a].set_callback(Kind::Get, 0x77);
        assert!(table.release(a, fake_ctx(7), no_retire));
        assert_eq!(freed::lookup(fake_ctx(7)), Some((a, [0, 0, 0x77])));
        // Only on the freeing thread.
        std::thread::spawn(|| assert_eq!(freed::lookup(fake_ctx(7)), None)).join().unwrap();
        // A later ctx freed at the same address replaces the entry.
        let b = table.claim(fake_ctx(7), None).unwrap();
        table.0[b].set_callback(Kind::New, 0x78);
        assert!(table.release(b, fake_ctx(7), no_retire));
        assert_eq!(freed::lookup(fake_ctx(7)), Some((b, [0x78, 0, 0])));
        // Bounded: FREED_PER_THREAD later frees forget it.
        for n in 0..freed::FREED_PER_THREAD {
            let i = table.claim(fake_ctx(500 + n), None).unwrap();
            assert!(table.release(i, fake_ctx(500 + n), no_retire));
            assert!(freed::lookup(fake_ctx(500 + n)).is_some());
        }
        assert_eq!(freed::lookup(fake_ctx(7)), None);
    }

    #[test]
    fn many_ctxs_fill_the_table_then_overflow_and_stay_findable() {
        let table = own_table();
        let mut held = Vec::new();
        let mut overflowed = 0;
        for n in 0..SLOT_COUNT * 2 {
            let ctx = fake_ctx(1000 + n);
            match table.claim(ctx, None) {
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
            assert_eq!(table.find(ctx), Some(i));
        }
        for &(i, ctx) in &held {
            assert!(table.release(i, ctx, no_retire));
        }
        assert!(held.iter().all(|&(_, ctx)| table.find(ctx).is_none()));
    }
}
