//! The exported functions as C sees them: these declarations make the
//! header (cbindgen reads `extern "C"` blocks, but not through `export!`).
//! They declare the functions `abi::exports` defines; the check at the end
//! proves each declaration has the definition's exact signature, and `make
//! header-check` proves the header's match OpenSSL's.

use std::ffi::{c_char, c_int};

use super::exports;
use crate::ffi::types::{GetSessionCb, NewSessionCb, RemoveSessionCb, SslCtx};
use crate::observe::stats::sesscb_stats;

// Only declarations (the definitions are in abi::exports). OpenSSL's types
// are opaque, never dereferenced, so their layout does not matter here.
#[allow(dead_code, improper_ctypes)]
unsafe extern "C" {
    /// Sets the new-session callback, exactly as OpenSSL's function does.
    ///
    /// # Safety
    /// `ctx` must be NULL or a live `SSL_CTX`.
    pub fn SSL_CTX_sess_set_new_cb(ctx: *mut SslCtx, new_session_cb: NewSessionCb);

    /// Sets the remove-session callback, exactly as OpenSSL's function does.
    ///
    /// # Safety
    /// `ctx` must be NULL or a live `SSL_CTX`.
    pub fn SSL_CTX_sess_set_remove_cb(ctx: *mut SslCtx, remove_session_cb: RemoveSessionCb);

    /// Sets the get-session callback, exactly as OpenSSL's function does.
    ///
    /// # Safety
    /// `ctx` must be NULL or a live `SSL_CTX`.
    pub fn SSL_CTX_sess_set_get_cb(ctx: *mut SslCtx, get_session_cb: GetSessionCb);

    /// Returns the application's new-session callback for `ctx` (never a sesscb
    /// trampoline), NULL if none.
    ///
    /// # Safety
    /// `ctx` must be NULL or a live `SSL_CTX`.
    pub fn SSL_CTX_sess_get_new_cb(ctx: *mut SslCtx) -> NewSessionCb;

    /// Returns the application's remove-session callback for `ctx`, NULL if none.
    ///
    /// # Safety
    /// `ctx` must be NULL or a live `SSL_CTX`.
    pub fn SSL_CTX_sess_get_remove_cb(ctx: *mut SslCtx) -> RemoveSessionCb;

    /// Returns the application's get-session callback for `ctx`, NULL if none.
    ///
    /// # Safety
    /// `ctx` must be NULL or a live `SSL_CTX`.
    pub fn SSL_CTX_sess_get_get_cb(ctx: *mut SslCtx) -> GetSessionCb;

    /// sesscb's version, e.g. "0.1.0" (a static string).
    pub fn sesscb_version() -> *const c_char;

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
    pub fn sesscb_stats(ctx: *const SslCtx, out: *mut sesscb_stats) -> c_int;
}

/// Each pair must have one fn-pointer type: a declaration that drifts from
/// its definition does not compile.
const _: () = {
    let _: [unsafe extern "C" fn(*mut SslCtx, NewSessionCb); 2] =
        [SSL_CTX_sess_set_new_cb, exports::SSL_CTX_sess_set_new_cb];
    let _: [unsafe extern "C" fn(*mut SslCtx, RemoveSessionCb); 2] =
        [SSL_CTX_sess_set_remove_cb, exports::SSL_CTX_sess_set_remove_cb];
    let _: [unsafe extern "C" fn(*mut SslCtx, GetSessionCb); 2] =
        [SSL_CTX_sess_set_get_cb, exports::SSL_CTX_sess_set_get_cb];
    let _: [unsafe extern "C" fn(*mut SslCtx) -> NewSessionCb; 2] =
        [SSL_CTX_sess_get_new_cb, exports::SSL_CTX_sess_get_new_cb];
    let _: [unsafe extern "C" fn(*mut SslCtx) -> RemoveSessionCb; 2] =
        [SSL_CTX_sess_get_remove_cb, exports::SSL_CTX_sess_get_remove_cb];
    let _: [unsafe extern "C" fn(*mut SslCtx) -> GetSessionCb; 2] =
        [SSL_CTX_sess_get_get_cb, exports::SSL_CTX_sess_get_get_cb];
    let _: [unsafe extern "C" fn() -> *const c_char; 2] = [sesscb_version, exports::sesscb_version];
    let _: [unsafe extern "C" fn(*const SslCtx, *mut sesscb_stats) -> c_int; 2] =
        [sesscb_stats, exports::sesscb_stats];
};
