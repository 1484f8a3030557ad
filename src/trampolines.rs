//! The functions sesscb stores in OpenSSL's callback fields.
//!
//! Each is a distinct function that only forwards its arguments plus its own
//! index to [`crate::dispatch`]: a couple of instructions, so they use almost
//! no stack (ASYNC fibres have 32 KiB). Indices below `SLOT_COUNT` belong to
//! per-ctx slots; the `SHARED_COUNT` above them are function-keyed.

use std::ffi::{c_int, c_uchar};

use crate::callbacks::{Address, Kind};
use crate::dispatch;
use crate::ffi::{GetSessionFn, NewSessionFn, RemoveSessionFn, Ssl, SslCtx, SslSession};

/// Per-ctx slots (keep in step with build.rs).
pub(crate) const SLOT_COUNT: usize = 4096;
/// Function-keyed fallback trampolines per kind (keep in step with build.rs).
pub(crate) const SHARED_COUNT: usize = 64;

unsafe extern "C" fn new_trampoline<const I: usize>(ssl: *mut Ssl, sess: *mut SslSession) -> c_int {
    // SAFETY: called by libssl with its own arguments, forwarded untouched.
    unsafe { dispatch::on_new(ssl, sess, I) }
}

unsafe extern "C" fn remove_trampoline<const I: usize>(ctx: *mut SslCtx, sess: *mut SslSession) {
    // SAFETY: as above.
    unsafe { dispatch::on_remove(ctx, sess, I) }
}

unsafe extern "C" fn get_trampoline<const I: usize>(
    ssl: *mut Ssl,
    data: *const c_uchar,
    len: c_int,
    copy: *mut c_int,
) -> *mut SslSession {
    // SAFETY: as above.
    unsafe { dispatch::on_get(ssl, data, len, copy, I) }
}

include!(concat!(env!("OUT_DIR"), "/trampoline_tables.rs"));

/// The trampoline of `kind` at `index`, as an address.
#[inline]
pub fn address(kind: Kind, index: usize) -> Address {
    match kind {
        Kind::New => NEW_TRAMPOLINES[index] as usize,
        Kind::Remove => REMOVE_TRAMPOLINES[index] as usize,
        Kind::Get => GET_TRAMPOLINES[index] as usize,
    }
}

/// The shared-trampoline index `address` is, if it is one.
pub fn shared_index_of(kind: Kind, address: Address) -> Option<usize> {
    (0..SHARED_COUNT).find(|&j| self::address(kind, SLOT_COUNT + j) == address)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_trampoline_is_a_distinct_function() {
        // Identical-code folding would silently merge ctxs; prove it did not.
        for kind in Kind::ALL {
            let mut seen: Vec<usize> = (0..SLOT_COUNT + SHARED_COUNT).map(|i| address(kind, i)).collect();
            seen.sort_unstable();
            seen.dedup();
            assert_eq!(seen.len(), SLOT_COUNT + SHARED_COUNT, "{kind:?} trampolines were merged");
        }
    }

    #[test]
    fn shared_indices_map_back() {
        for j in [0, 1, SHARED_COUNT - 1] {
            assert_eq!(shared_index_of(Kind::Remove, address(Kind::Remove, SLOT_COUNT + j)), Some(j));
        }
        assert_eq!(shared_index_of(Kind::Remove, address(Kind::Remove, 5)), None);
    }
}
