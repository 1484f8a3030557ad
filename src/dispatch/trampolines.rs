//! The functions sesscb stores in OpenSSL's callback fields.
//!
//! Each is a distinct function that only forwards its arguments plus its own
//! index to [`super::forward`]: a couple of instructions, so they use almost
//! no stack (ASYNC fibres have 32 KiB). Indices below `SLOT_COUNT` belong to
//! per-ctx slots; the `SHARED_COUNT` above them are function-keyed.

use std::ffi::{c_int, c_uchar};

use super::forward;
use crate::ffi::callbacks::{Address, Kind};
use crate::ffi::types::{GetSessionFn, NewSessionFn, RemoveSessionFn, Ssl, SslCtx, SslSession};
use crate::registry::set_get::Trampolines;

unsafe extern "C" fn new_trampoline<const I: usize>(ssl: *mut Ssl, sess: *mut SslSession) -> c_int {
    // SAFETY: called by libssl with its own arguments, forwarded untouched.
    unsafe { forward::on_new(ssl, sess, I) }
}

unsafe extern "C" fn remove_trampoline<const I: usize>(ctx: *mut SslCtx, sess: *mut SslSession) {
    // SAFETY: as above.
    unsafe { forward::on_remove(ctx, sess, I) }
}

unsafe extern "C" fn get_trampoline<const I: usize>(
    ssl: *mut Ssl,
    data: *const c_uchar,
    len: c_int,
    copy: *mut c_int,
) -> *mut SslSession {
    // SAFETY: as above.
    unsafe { forward::on_get(ssl, data, len, copy, I) }
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

/// What a setter installs: these trampolines, handed to the registry.
pub const TRAMPOLINES: Trampolines = Trampolines { address };

#[cfg(test)]
mod tests {
    use super::*;
    use crate::limits::{SHARED_COUNT, SLOT_COUNT};

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
            let shared = address(Kind::Remove, SLOT_COUNT + j);
            assert_eq!(TRAMPOLINES.shared_index_of(Kind::Remove, shared), Some(j));
        }
        assert_eq!(TRAMPOLINES.shared_index_of(Kind::Remove, address(Kind::Remove, 5)), None);
    }
}
