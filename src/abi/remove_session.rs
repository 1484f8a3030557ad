//! `SSL_CTX_remove_session`: the store's one way to learn that a session is
//! bad or unwanted (see `dispatch::removal`). With the store off it only
//! forwards to the libssl that made the ctx.

use std::ffi::c_int;

use crate::dispatch::removal;
use crate::ffi::types::{SslCtx, SslSession};

export! {
    /// `SSL_CTX_remove_session`.
    ///
    /// # Safety
    /// As OpenSSL's: `ctx` is NULL or a live `SSL_CTX`, `sess` NULL or a
    /// live `SSL_SESSION`.
    fn SSL_CTX_remove_session(ctx: *mut SslCtx, sess: *mut SslSession) -> c_int;
    remove_session_from(caller) {
        // SAFETY: the caller's own arguments, as OpenSSL requires them.
        unsafe { removal::remove_session(ctx, sess, caller) }
    }
}
