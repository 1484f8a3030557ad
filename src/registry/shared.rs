//! Function-keyed trampolines, the fallback when every per-ctx slot is taken
//! (for example a server with thousands of SNI ctxs).
//!
//! Shared trampoline j always calls application function j, so dispatch stays
//! exact — OpenSSL still picks the trampoline stored in the ctx it consults —
//! but sesscb no longer knows that ctx, so these events count only in the
//! process totals. Entries are claimed once and never change, so a racing
//! call can never see a different function.

use std::sync::atomic::{AtomicUsize, Ordering};

use crate::ffi::callbacks::{Address, Kind};
use crate::limits::SHARED_COUNT;

static FUNCTIONS: [[AtomicUsize; SHARED_COUNT]; 3] =
    [const { [const { AtomicUsize::new(0) }; SHARED_COUNT] }; 3];

/// The application function behind shared trampoline `index`.
#[inline]
pub fn function(kind: Kind, index: usize) -> Address {
    FUNCTIONS[kind.index()][index].load(Ordering::Acquire)
}

/// The shared trampoline index for `function`, claiming a free entry if it
/// has none yet. None when the pool is full.
pub fn index_for(kind: Kind, function: Address) -> Option<usize> {
    debug_assert_ne!(function, 0);
    let table = &FUNCTIONS[kind.index()];
    for (index, entry) in table.iter().enumerate() {
        let current = entry.load(Ordering::Acquire);
        if current == function {
            return Some(index);
        }
        if current == 0 {
            match entry.compare_exchange(0, function, Ordering::AcqRel, Ordering::Acquire) {
                Ok(_) => return Some(index),
                Err(winner) if winner == function => return Some(index),
                Err(_) => continue,
            }
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    // One test: the pool is global and entries are permanent.
    #[test]
    fn same_function_same_index_until_full() {
        let kind = Kind::Get;
        let first = index_for(kind, 0x5000).unwrap();
        assert_eq!(index_for(kind, 0x5000), Some(first));
        assert_eq!(function(kind, first), 0x5000);
        let mut n = 1;
        while index_for(kind, 0x5000 + n * 8).is_some() {
            n += 1;
            assert!(n <= SHARED_COUNT + 1);
        }
        assert_eq!(n, SHARED_COUNT, "pool holds exactly SHARED_COUNT functions");
        // Known functions still resolve when the pool is full.
        assert_eq!(index_for(kind, 0x5000), Some(first));
        // Kinds are independent.
        assert!(index_for(Kind::New, 0x5000).is_some());
    }
}
