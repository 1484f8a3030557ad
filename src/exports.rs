//! The C ABI: OpenSSL's six session-callback functions, unversioned so they
//! interpose both `@OPENSSL_1_1_0` and `@OPENSSL_3.0.0` references, and
//! sesscb's own `sesscb_*` API. Nothing else is exported.
//!
//! Bad input: a NULL ctx makes a setter do nothing and a getter return NULL
//! (plain OpenSSL crashes); that is sesscb's one deliberate deviation.
//!
//! Each function that takes a ctx is a two-instruction naked entry (x86_64,
//! aarch64) that appends its return address as an extra argument and jumps
//! to the Rust implementation: the caller's address tells which libssl made
//! the ctx when a process holds two (see resolver::for_caller). Elsewhere the
//! entry is an ordinary function and the process's first libssl is used.

use std::ffi::{c_char, c_int, c_void};

use crate::callbacks::{self, Kind};
use crate::ffi::{GetSessionCb, NewSessionCb, RemoveSessionCb, SslCtx};
use crate::registry;
use crate::resolver;
use crate::slots;
use crate::stats;

/// Body of an exported entry: on x86_64/aarch64 a naked tail jump to `$imp`
/// with the return address appended as the next argument (`$x86`/`$arm` is
/// that argument's register); elsewhere a call with caller 0.
macro_rules! with_caller {
    ($x86:ident, $arm:ident, $imp:ident($($arg:ident),*)) => {{
        #[cfg(target_arch = "x86_64")]
        core::arch::naked_asm!(
            concat!("mov ", stringify!($x86), ", qword ptr [rsp]"),
            "jmp {imp}",
            imp = sym $imp,
        );
        #[cfg(target_arch = "aarch64")]
        core::arch::naked_asm!(concat!("mov ", stringify!($arm), ", x30"), "b {imp}", imp = sym $imp);
        #[cfg(not(any(target_arch = "x86_64", target_arch = "aarch64")))]
        // SAFETY: forwards the caller's own arguments.
        unsafe {
            $imp($($arg,)* std::ptr::null())
        }
    }};
}

/// Sets the new-session callback, exactly as OpenSSL's function does.
///
/// # Safety
/// `ctx` must be NULL or a live `SSL_CTX`.
#[unsafe(no_mangle)]
#[cfg_attr(any(target_arch = "x86_64", target_arch = "aarch64"), unsafe(naked))]
pub unsafe extern "C" fn SSL_CTX_sess_set_new_cb(ctx: *mut SslCtx, new_session_cb: NewSessionCb) {
    with_caller!(rdx, x2, set_new_from(ctx, new_session_cb))
}

unsafe extern "C" fn set_new_from(ctx: *mut SslCtx, new_session_cb: NewSessionCb, caller: *const c_void) {
    // SAFETY: the caller passes a live ctx or NULL (handled).
    ffi_boundary!("SSL_CTX_sess_set_new_cb", {
        unsafe { registry::set(Kind::New, ctx, callbacks::new_address(new_session_cb), caller as usize) }
    })
}

/// Sets the remove-session callback, exactly as OpenSSL's function does.
///
/// # Safety
/// `ctx` must be NULL or a live `SSL_CTX`.
#[unsafe(no_mangle)]
#[cfg_attr(any(target_arch = "x86_64", target_arch = "aarch64"), unsafe(naked))]
pub unsafe extern "C" fn SSL_CTX_sess_set_remove_cb(ctx: *mut SslCtx, remove_session_cb: RemoveSessionCb) {
    with_caller!(rdx, x2, set_remove_from(ctx, remove_session_cb))
}

unsafe extern "C" fn set_remove_from(
    ctx: *mut SslCtx,
    remove_session_cb: RemoveSessionCb,
    caller: *const c_void,
) {
    // SAFETY: the caller passes a live ctx or NULL (handled).
    ffi_boundary!("SSL_CTX_sess_set_remove_cb", {
        unsafe {
            registry::set(Kind::Remove, ctx, callbacks::remove_address(remove_session_cb), caller as usize)
        }
    })
}

/// Sets the get-session callback, exactly as OpenSSL's function does.
///
/// # Safety
/// `ctx` must be NULL or a live `SSL_CTX`.
#[unsafe(no_mangle)]
#[cfg_attr(any(target_arch = "x86_64", target_arch = "aarch64"), unsafe(naked))]
pub unsafe extern "C" fn SSL_CTX_sess_set_get_cb(ctx: *mut SslCtx, get_session_cb: GetSessionCb) {
    with_caller!(rdx, x2, set_get_from(ctx, get_session_cb))
}

unsafe extern "C" fn set_get_from(ctx: *mut SslCtx, get_session_cb: GetSessionCb, caller: *const c_void) {
    // SAFETY: the caller passes a live ctx or NULL (handled).
    ffi_boundary!("SSL_CTX_sess_set_get_cb", {
        unsafe { registry::set(Kind::Get, ctx, callbacks::get_address(get_session_cb), caller as usize) }
    })
}

/// Returns the application's new-session callback for `ctx` (never a sesscb
/// trampoline), NULL if none.
///
/// # Safety
/// `ctx` must be NULL or a live `SSL_CTX`.
#[unsafe(no_mangle)]
#[cfg_attr(any(target_arch = "x86_64", target_arch = "aarch64"), unsafe(naked))]
pub unsafe extern "C" fn SSL_CTX_sess_get_new_cb(ctx: *mut SslCtx) -> NewSessionCb {
    with_caller!(rsi, x1, get_new_from(ctx))
}

unsafe extern "C" fn get_new_from(ctx: *mut SslCtx, caller: *const c_void) -> NewSessionCb {
    // SAFETY: the caller passes a live ctx or NULL (handled).
    ffi_boundary!("SSL_CTX_sess_get_new_cb", {
        callbacks::new_from_address(unsafe { registry::get(Kind::New, ctx, caller as usize) })
    })
}

/// Returns the application's remove-session callback for `ctx`, NULL if none.
///
/// # Safety
/// `ctx` must be NULL or a live `SSL_CTX`.
#[unsafe(no_mangle)]
#[cfg_attr(any(target_arch = "x86_64", target_arch = "aarch64"), unsafe(naked))]
pub unsafe extern "C" fn SSL_CTX_sess_get_remove_cb(ctx: *mut SslCtx) -> RemoveSessionCb {
    with_caller!(rsi, x1, get_remove_from(ctx))
}

unsafe extern "C" fn get_remove_from(ctx: *mut SslCtx, caller: *const c_void) -> RemoveSessionCb {
    // SAFETY: the caller passes a live ctx or NULL (handled).
    ffi_boundary!("SSL_CTX_sess_get_remove_cb", {
        callbacks::remove_from_address(unsafe { registry::get(Kind::Remove, ctx, caller as usize) })
    })
}

/// Returns the application's get-session callback for `ctx`, NULL if none.
///
/// # Safety
/// `ctx` must be NULL or a live `SSL_CTX`.
#[unsafe(no_mangle)]
#[cfg_attr(any(target_arch = "x86_64", target_arch = "aarch64"), unsafe(naked))]
pub unsafe extern "C" fn SSL_CTX_sess_get_get_cb(ctx: *mut SslCtx) -> GetSessionCb {
    with_caller!(rsi, x1, get_get_from(ctx))
}

unsafe extern "C" fn get_get_from(ctx: *mut SslCtx, caller: *const c_void) -> GetSessionCb {
    // SAFETY: the caller passes a live ctx or NULL (handled).
    ffi_boundary!("SSL_CTX_sess_get_get_cb", {
        callbacks::get_from_address(unsafe { registry::get(Kind::Get, ctx, caller as usize) })
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
#[cfg_attr(any(target_arch = "x86_64", target_arch = "aarch64"), unsafe(naked))]
pub unsafe extern "C" fn sesscb_stats(ctx: *const SslCtx, out: *mut stats::sesscb_stats) -> c_int {
    with_caller!(rdx, x2, stats_from(ctx, out))
}

unsafe extern "C" fn stats_from(
    ctx: *const SslCtx,
    out: *mut stats::sesscb_stats,
    caller: *const c_void,
) -> c_int {
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
            stats::process_snapshot()
        } else {
            // SAFETY: the caller guarantees `ctx` is live.
            if unsafe { resolver::for_ctx(ctx.cast_mut(), caller as usize) }.is_none() {
                return stats::STATUS_NO_LIBSSL;
            }
            match slots::find(ctx.cast_mut()) {
                Some(slot) => stats::slot_snapshot(slot),
                None => return stats::STATUS_UNTRACKED_CTX,
            }
        };
        // SAFETY: `out` has `caller_size` writable bytes per the contract.
        unsafe { stats::write_truncated(&snapshot, out.cast(), caller_size) };
        stats::STATUS_OK
    })
}
