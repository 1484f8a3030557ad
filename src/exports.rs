//! The C ABI: OpenSSL's six session-callback functions, unversioned so they
//! interpose both `@OPENSSL_1_1_0` and `@OPENSSL_3.0.0` references, and
//! sesscb's own `sesscb_*` API. Nothing else is exported.
//!
//! Bad input: a NULL ctx makes a setter do nothing and a getter return NULL
//! (plain OpenSSL crashes); that is sesscb's one deliberate deviation.

use std::ffi::{c_char, c_int};

use crate::callbacks::{self, Kind};
use crate::ffi::{GetSessionCb, NewSessionCb, RemoveSessionCb, SslCtx};
use crate::registry;
use crate::resolver;
use crate::stats::{self, PROCESS};

/// Sets the new-session callback, exactly as OpenSSL's function does.
///
/// # Safety
/// `ctx` must be NULL or a live `SSL_CTX`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn SSL_CTX_sess_set_new_cb(ctx: *mut SslCtx, new_session_cb: NewSessionCb) {
    // SAFETY: the caller passes a live ctx or NULL (handled).
    ffi_boundary!("SSL_CTX_sess_set_new_cb", {
        unsafe { registry::set(Kind::New, ctx, callbacks::new_address(new_session_cb)) }
    })
}

/// Sets the remove-session callback, exactly as OpenSSL's function does.
///
/// # Safety
/// `ctx` must be NULL or a live `SSL_CTX`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn SSL_CTX_sess_set_remove_cb(ctx: *mut SslCtx, remove_session_cb: RemoveSessionCb) {
    // SAFETY: as above.
    ffi_boundary!("SSL_CTX_sess_set_remove_cb", {
        unsafe { registry::set(Kind::Remove, ctx, callbacks::remove_address(remove_session_cb)) }
    })
}

/// Sets the get-session callback, exactly as OpenSSL's function does.
///
/// # Safety
/// `ctx` must be NULL or a live `SSL_CTX`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn SSL_CTX_sess_set_get_cb(ctx: *mut SslCtx, get_session_cb: GetSessionCb) {
    // SAFETY: as above.
    ffi_boundary!("SSL_CTX_sess_set_get_cb", {
        unsafe { registry::set(Kind::Get, ctx, callbacks::get_address(get_session_cb)) }
    })
}

/// Returns the application's new-session callback for `ctx` (never a sesscb
/// trampoline), NULL if none.
///
/// # Safety
/// `ctx` must be NULL or a live `SSL_CTX`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn SSL_CTX_sess_get_new_cb(ctx: *mut SslCtx) -> NewSessionCb {
    // SAFETY: as above.
    ffi_boundary!("SSL_CTX_sess_get_new_cb", {
        callbacks::new_from_address(unsafe { registry::get(Kind::New, ctx) })
    })
}

/// Returns the application's remove-session callback for `ctx`, NULL if none.
///
/// # Safety
/// `ctx` must be NULL or a live `SSL_CTX`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn SSL_CTX_sess_get_remove_cb(ctx: *mut SslCtx) -> RemoveSessionCb {
    // SAFETY: as above.
    ffi_boundary!("SSL_CTX_sess_get_remove_cb", {
        callbacks::remove_from_address(unsafe { registry::get(Kind::Remove, ctx) })
    })
}

/// Returns the application's get-session callback for `ctx`, NULL if none.
///
/// # Safety
/// `ctx` must be NULL or a live `SSL_CTX`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn SSL_CTX_sess_get_get_cb(ctx: *mut SslCtx) -> GetSessionCb {
    // SAFETY: as above.
    ffi_boundary!("SSL_CTX_sess_get_get_cb", {
        callbacks::get_from_address(unsafe { registry::get(Kind::Get, ctx) })
    })
}

/// sesscb's version, e.g. "0.1.0" (a static string).
#[unsafe(no_mangle)]
pub extern "C" fn sesscb_version() -> *const c_char {
    concat!(env!("CARGO_PKG_VERSION"), "\0").as_ptr().cast()
}

/// Reads sesscb's counters: the process totals when `ctx` is NULL, else that
/// ctx's. Set `out->size = sizeof(struct sesscb_stats)` first; sesscb writes
/// only the fields that fit and sets `out->size` to the bytes written.
///
/// Returns a `sesscb_status`: 0 on success, negative otherwise (nothing
/// written).
///
/// # Safety
/// `out` must be NULL or point to `out->size` writable bytes; `ctx` must be
/// NULL or a live `SSL_CTX`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn sesscb_stats(ctx: *const SslCtx, out: *mut stats::sesscb_stats) -> c_int {
    ffi_boundary!("sesscb_stats", {
        if out.is_null() {
            return stats::STATUS_BAD_ARGUMENT;
        }
        // SAFETY: `out` is non-NULL and, per the contract, at least 4 bytes.
        let caller_size = unsafe { (*out).size };
        if caller_size < stats::STATS_HEADER_SIZE {
            return stats::STATUS_BAD_ARGUMENT;
        }
        let snapshot = if ctx.is_null() {
            PROCESS.snapshot()
        } else {
            let Some(lib) = resolver::libssl() else { return stats::STATUS_NO_LIBSSL };
            // SAFETY: the caller guarantees `ctx` is live.
            match unsafe { lib.slot_of(ctx.cast_mut()) } {
                Some(slot) => crate::slots::get(slot).counters.snapshot(),
                None => return stats::STATUS_UNTRACKED_CTX,
            }
        };
        // SAFETY: `out` has `caller_size` writable bytes per the contract.
        unsafe { stats::write_truncated(&snapshot, out.cast(), caller_size) };
        stats::STATUS_OK
    })
}
