//! Per-thread counter shards: a callback's count is a plain load and store
//! in memory only its own thread writes, instead of an atomic add on a cache
//! line every thread dispatching for that ctx fights over. Readers sum the
//! shards with relaxed loads.
//!
//! Each thread owns one `Block` (taken from a global list, handed back by a
//! thread-local destructor when the thread exits, and reused by a later
//! thread), and a block holds a lazily allocated chunk of counters per 64
//! slots the thread has dispatched for. Nothing is freed, so readers never
//! race a free; the memory is bounded by the number of threads alive at once.

use std::alloc::{Layout, alloc_zeroed};
use std::cell::Cell;
use std::sync::atomic::{AtomicBool, AtomicPtr, AtomicU64, Ordering};

use super::event::{EVENTS, Event};
use crate::limits::SLOT_COUNT;

const SLOTS_PER_CHUNK: usize = 64;
#[cfg(not(test))]
const CHUNKS: usize = SLOT_COUNT / SLOTS_PER_CHUNK;
/// Unit tests get one chunk past every real slot (indices `SLOT_COUNT..`):
/// their counts never meet those of a test that dispatches through a slot.
#[cfg(test)]
const CHUNKS: usize = SLOT_COUNT / SLOTS_PER_CHUNK + 1;

type Chunk = [[AtomicU64; EVENTS]; SLOTS_PER_CHUNK];

pub struct Block {
    in_use: AtomicBool,
    next: AtomicPtr<Block>,
    chunks: [AtomicPtr<Chunk>; CHUNKS],
}

static BLOCKS: AtomicPtr<Block> = AtomicPtr::new(std::ptr::null_mut());

thread_local! {
    /// This thread's block (const-initialised, no destructor: always usable).
    static MINE: Cell<*const Block> = const { Cell::new(std::ptr::null()) };
    /// Hands the block back when the thread exits.
    static RELEASER: Releaser = const { Releaser(Cell::new(std::ptr::null())) };
}

struct Releaser(Cell<*const Block>);

impl Drop for Releaser {
    fn drop(&mut self) {
        let block = self.0.get();
        if !block.is_null() {
            let _ = MINE.try_with(|mine| mine.set(std::ptr::null()));
            // SAFETY: blocks are leaked and never freed.
            unsafe { (*block).in_use.store(false, Ordering::Release) };
        }
    }
}

/// Counts `event` for `slot` in this thread's shard. False when the thread
/// cannot have one (it is exiting): the caller counts atomically instead.
#[inline]
pub fn bump(slot: usize, event: Event) -> bool {
    let Some(block) = my_block() else { return false };
    let Some(chunk) = block.chunk(slot / SLOTS_PER_CHUNK) else { return false };
    let cell = &chunk[slot % SLOTS_PER_CHUNK][event as usize];
    // Only this thread writes this cell: no read-modify-write needed.
    cell.store(cell.load(Ordering::Relaxed) + 1, Ordering::Relaxed);
    true
}

/// Adds every shard's counts for `slot` to `raw`.
pub fn add_slot_into(slot: usize, raw: &mut [u64; EVENTS]) {
    for_each_chunk(slot / SLOTS_PER_CHUNK, |chunk| {
        for (sum, cell) in raw.iter_mut().zip(&chunk[slot % SLOTS_PER_CHUNK]) {
            *sum += cell.load(Ordering::Relaxed);
        }
    });
}

/// Adds every shard's counts for every slot to `raw`.
pub fn add_all_into(raw: &mut [u64; EVENTS]) {
    for_each_block(|block| {
        for index in 0..CHUNKS {
            let chunk = block.chunks[index].load(Ordering::Acquire);
            if chunk.is_null() {
                continue;
            }
            // SAFETY: chunks are leaked and never freed.
            for counters in unsafe { &*chunk } {
                for (sum, cell) in raw.iter_mut().zip(counters) {
                    *sum += cell.load(Ordering::Relaxed);
                }
            }
        }
    });
}

/// Moves every shard's counts for `slot` into `raw` (the slot's ctx is being
/// freed, so no thread is counting for it).
pub fn drain_slot_into(slot: usize, raw: &mut [u64; EVENTS]) {
    for_each_chunk(slot / SLOTS_PER_CHUNK, |chunk| {
        for (sum, cell) in raw.iter_mut().zip(&chunk[slot % SLOTS_PER_CHUNK]) {
            *sum += cell.swap(0, Ordering::Relaxed);
        }
    });
}

fn for_each_block(mut f: impl FnMut(&Block)) {
    let mut current = BLOCKS.load(Ordering::Acquire);
    while !current.is_null() {
        // SAFETY: blocks are leaked and never freed.
        let block = unsafe { &*current };
        f(block);
        current = block.next.load(Ordering::Acquire);
    }
}

fn for_each_chunk(index: usize, mut f: impl FnMut(&Chunk)) {
    for_each_block(|block| {
        let chunk = block.chunks[index].load(Ordering::Acquire);
        if !chunk.is_null() {
            // SAFETY: chunks are leaked and never freed.
            f(unsafe { &*chunk });
        }
    });
}

impl Block {
    /// This thread's chunk `index`, allocated zeroed on first use (on the
    /// heap directly: a 3 KiB temporary could strain a 32 KiB ASYNC fibre).
    #[inline]
    fn chunk(&self, index: usize) -> Option<&Chunk> {
        let mut chunk = self.chunks[index].load(Ordering::Acquire);
        if chunk.is_null() {
            // SAFETY: Chunk is all AtomicU64, for which all-zero is valid.
            chunk = unsafe { alloc_zeroed(Layout::new::<Chunk>()) }.cast::<Chunk>();
            if chunk.is_null() {
                return None;
            }
            // Only the owning thread installs chunks in its block.
            self.chunks[index].store(chunk, Ordering::Release);
        }
        // SAFETY: chunks are leaked and never freed.
        Some(unsafe { &*chunk })
    }
}

#[inline]
fn my_block() -> Option<&'static Block> {
    let mine = MINE.try_with(Cell::get).ok()?;
    if !mine.is_null() {
        // SAFETY: blocks are leaked and never freed.
        return Some(unsafe { &*mine });
    }
    adopt_block()
}

#[cold]
fn adopt_block() -> Option<&'static Block> {
    let block = reuse_block().unwrap_or_else(new_block);
    // Register the hand-back first; a thread already tearing down its
    // thread-locals cannot, so it gives the block back and counts atomically.
    if RELEASER.try_with(|r| r.0.set(block)).is_err() {
        block.in_use.store(false, Ordering::Release);
        return None;
    }
    let _ = MINE.try_with(|mine| mine.set(block));
    Some(block)
}

fn reuse_block() -> Option<&'static Block> {
    let mut found = None;
    for_each_block(|block| {
        if found.is_none()
            && block.in_use.compare_exchange(false, true, Ordering::Acquire, Ordering::Relaxed).is_ok()
        {
            // SAFETY: blocks are leaked and never freed.
            found = Some(unsafe { &*(block as *const Block) });
        }
    });
    found
}

fn new_block() -> &'static Block {
    let block: &'static Block = Box::leak(Box::new(Block {
        in_use: AtomicBool::new(true),
        next: AtomicPtr::new(std::ptr::null_mut()),
        chunks: [const { AtomicPtr::new(std::ptr::null_mut()) }; CHUNKS],
    }));
    let raw = (block as *const Block).cast_mut();
    let mut head = BLOCKS.load(Ordering::Acquire);
    loop {
        block.next.store(head, Ordering::Relaxed);
        match BLOCKS.compare_exchange_weak(head, raw, Ordering::AcqRel, Ordering::Acquire) {
            Ok(_) => return block,
            Err(current) => head = current,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn slot_total(slot: usize) -> u64 {
        let mut raw = [0; EVENTS];
        add_slot_into(slot, &mut raw);
        raw.iter().sum()
    }

    #[test]
    fn shards_sum_across_threads_and_survive_thread_exit() {
        // A test-only index: no other test counts or drains it.
        let slot = SLOT_COUNT;
        let before = slot_total(slot);
        let threads: Vec<_> = (0..4)
            .map(|_| {
                std::thread::spawn(move || {
                    for _ in 0..10_000 {
                        assert!(bump(slot, Event::Remove));
                    }
                })
            })
            .collect();
        for t in threads {
            t.join().unwrap();
        }
        // The threads are gone; their counts are not.
        assert_eq!(slot_total(slot) - before, 40_000);
        // Their blocks were handed back and are reused, not multiplied (the
        // check names the block, so a test counting on another thread at the
        // same time cannot make it fail).
        let mut blocks = Vec::new();
        for_each_block(|block| blocks.push(block as *const Block as usize));
        let taken = std::thread::spawn(move || {
            assert!(bump(slot, Event::Remove));
            my_block().map(|block| block as *const Block as usize)
        });
        let taken = taken.join().unwrap().unwrap();
        assert!(blocks.contains(&taken), "an exited thread's block was not reused");

        let mut drained = [0; EVENTS];
        drain_slot_into(slot, &mut drained);
        assert_eq!(drained.iter().sum::<u64>(), before + 40_001);
        assert_eq!(slot_total(slot), 0);
    }
}
