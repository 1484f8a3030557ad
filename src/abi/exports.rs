//! The C ABI: OpenSSL's six session-callback functions, unversioned so they
//! interpose both `@OPENSSL_1_1_0` and `@OPENSSL_3.0.0` references, and
//! sesscb's own `sesscb_*` API. Nothing else is exported.
//!
//! Bad input: a NULL ctx makes a setter do nothing and a getter return NULL
//! (plain OpenSSL crashes); that is sesscb's one deliberate deviation.
//!
//! The C-facing documentation is on the declarations in `abi::prototypes`
//! (they make the header).

use std::ffi::{c_char, c_int};

use crate::dispatch::trampolines::TRAMPOLINES;
use crate::ffi::callbacks::{self, Kind};
use crate::ffi::types::{GetSessionCb, NewSessionCb, RemoveSessionCb, SslCtx};
use crate::libssl::resolver;
use crate::observe::stats;
use crate::registry::set_get;
use crate::registry::slots;

export! {
    /// `SSL_CTX_sess_set_new_cb`.
    ///
    /// # Safety
    /// `ctx` must be NULL or a live `SSL_CTX`.
    fn SSL_CTX_sess_set_new_cb(ctx: *mut SslCtx, new_session_cb: NewSessionCb);
    set_new_from(caller) {
        let app = callbacks::new_address(new_session_cb);
        // SAFETY: the caller passes a live ctx or NULL (handled).
        unsafe { set_get::set(Kind::New, ctx, app, caller, TRAMPOLINES) }
    }
}

export! {
    /// `SSL_CTX_sess_set_remove_cb`.
    ///
    /// # Safety
    /// `ctx` must be NULL or a live `SSL_CTX`.
    fn SSL_CTX_sess_set_remove_cb(ctx: *mut SslCtx, remove_session_cb: RemoveSessionCb);
    set_remove_from(caller) {
        let app = callbacks::remove_address(remove_session_cb);
        // SAFETY: the caller passes a live ctx or NULL (handled).
        unsafe { set_get::set(Kind::Remove, ctx, app, caller, TRAMPOLINES) }
    }
}

export! {
    /// `SSL_CTX_sess_set_get_cb`.
    ///
    /// # Safety
    /// `ctx` must be NULL or a live `SSL_CTX`.
    fn SSL_CTX_sess_set_get_cb(ctx: *mut SslCtx, get_session_cb: GetSessionCb);
    set_get_from(caller) {
        let app = callbacks::get_address(get_session_cb);
        // SAFETY: the caller passes a live ctx or NULL (handled).
        unsafe { set_get::set(Kind::Get, ctx, app, caller, TRAMPOLINES) }
    }
}

export! {
    /// `SSL_CTX_sess_get_new_cb`.
    ///
    /// # Safety
    /// `ctx` must be NULL or a live `SSL_CTX`.
    fn SSL_CTX_sess_get_new_cb(ctx: *mut SslCtx) -> NewSessionCb;
    get_new_from(caller) {
        // SAFETY: the caller passes a live ctx or NULL (handled).
        callbacks::new_from_address(unsafe { set_get::get(Kind::New, ctx, caller, TRAMPOLINES) })
    }
}

export! {
    /// `SSL_CTX_sess_get_remove_cb`.
    ///
    /// # Safety
    /// `ctx` must be NULL or a live `SSL_CTX`.
    fn SSL_CTX_sess_get_remove_cb(ctx: *mut SslCtx) -> RemoveSessionCb;
    get_remove_from(caller) {
        // SAFETY: the caller passes a live ctx or NULL (handled).
        callbacks::remove_from_address(unsafe { set_get::get(Kind::Remove, ctx, caller, TRAMPOLINES) })
    }
}

export! {
    /// `SSL_CTX_sess_get_get_cb`.
    ///
    /// # Safety
    /// `ctx` must be NULL or a live `SSL_CTX`.
    fn SSL_CTX_sess_get_get_cb(ctx: *mut SslCtx) -> GetSessionCb;
    get_get_from(caller) {
        // SAFETY: the caller passes a live ctx or NULL (handled).
        callbacks::get_from_address(unsafe { set_get::get(Kind::Get, ctx, caller, TRAMPOLINES) })
    }
}

// Declared for the header in `abi::prototypes`, in the header's order.
/// sesscb's version, e.g. "0.1.0" (a static string).
///
/// cbindgen:ignore
#[unsafe(no_mangle)]
pub extern "C" fn sesscb_version() -> *const c_char {
    concat!(env!("CARGO_PKG_VERSION"), "\0").as_ptr().cast()
}

export! {
    /// `sesscb_stats`.
    ///
    /// # Safety
    /// `out` must be NULL or point to `out->size` writable bytes; `ctx` must
    /// be NULL or a live `SSL_CTX`.
    fn sesscb_stats(ctx: *const SslCtx, out: *mut stats::sesscb_stats) -> c_int;
    stats_from(caller) {
        if out.is_null() {
            return stats::STATUS_BAD_ARGUMENT;
        }
        // SAFETY: `out` is non-NULL and, per the contract, at least 4 bytes.
        let caller_size = unsafe { (*out).size };
        if caller_size < stats::STATS_HEADER_SIZE {
            return stats::STATUS_BAD_ARGUMENT;
        }
        let snapshot = if ctx.is_null() {
            let mut process = stats::process_snapshot(slots::all().iter().map(|slot| &slot.counters));
            crate::store::counters::fill_stats(&mut process);
            process
        } else {
            // SAFETY: the caller guarantees `ctx` is live.
            if unsafe { resolver::for_ctx(ctx.cast_mut(), caller) }.is_none() {
                // for_ctx starts from the caller's libssl: without one, none is loaded.
                return match resolver::for_caller(caller) {
                    None => stats::STATUS_NO_LIBSSL,
                    Some(_) => stats::STATUS_UNATTRIBUTED_CTX,
                };
            }
            match slots::find(ctx.cast_mut()) {
                Some(slot) => stats::slot_snapshot(slot, &slots::get(slot).counters),
                None => return stats::STATUS_UNTRACKED_CTX,
            }
        };
        // SAFETY: `out` has `caller_size` writable bytes per the contract.
        unsafe { stats::write_truncated(&snapshot, out.cast(), caller_size) };
        stats::STATUS_OK
    }
}
