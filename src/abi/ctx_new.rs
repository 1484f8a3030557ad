//! `SSL_CTX_new` and `SSL_CTX_new_ex`: a pure pass-through to the libssl
//! that owns the method, unless the shared store provides a cache to
//! servers that set none (`SESSCB_STORE_MODE` auto or provide); then the
//! new ctx also gets the store's trampolines (`registry::set_get::provide`).
//! The store's settings are read here (environment only): no file, thread
//! or socket is touched until a session event. With `SESSCB_TICKET_KEYS`
//! on, the new ctx also gets sesscb's ticket key callback (the keyring is
//! read at the first ctx).

use std::ffi::{c_char, c_void};

use super::ctx_free;
use crate::dispatch::trampolines::TRAMPOLINES;
use crate::ffi::types::SslCtx;
use crate::libssl::{ctx_new, resolver};
use crate::registry::set_get;
use crate::store::{engine, hooks};
use crate::tickets;

/// `SSL_CTX_new(method)`.
///
/// # Safety
/// As OpenSSL's: `method` is NULL or an `SSL_METHOD` of a loaded libssl.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn SSL_CTX_new(method: *const c_void) -> *mut SslCtx {
    let Some(real) = ffi_boundary!("SSL_CTX_new", { ctx_new::real_new(method) }) else {
        return std::ptr::null_mut();
    };
    // SAFETY: OpenSSL's own function of the libssl that owns `method`,
    // with the caller's argument.
    let ctx = unsafe { real(method) };
    after_new(ctx);
    ctx
}

/// `SSL_CTX_new_ex(libctx, propq, method)` (OpenSSL 3.0 and later).
///
/// # Safety
/// As OpenSSL's.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn SSL_CTX_new_ex(
    libctx: *mut c_void,
    propq: *const c_char,
    method: *const c_void,
) -> *mut SslCtx {
    let Some(real) = ffi_boundary!("SSL_CTX_new_ex", { ctx_new::real_new_ex(method) }) else {
        return std::ptr::null_mut();
    };
    // SAFETY: as in SSL_CTX_new.
    let ctx = unsafe { real(libctx, propq, method) };
    after_new(ctx);
    ctx
}

fn after_new(ctx: *mut SslCtx) {
    if ctx.is_null() {
        return;
    }
    ffi_boundary!("SSL_CTX_new", {
        let (store, ticket_keys) = (engine::active(), tickets::active());
        if !store && !ticket_keys {
            return;
        }
        // As every export: no libssl is used without sesscb's ex_data free
        // function, which releases the slot provide() takes.
        resolver::use_ctx_free_fn(ctx_free::ctx_ex_data_free);
        // SAFETY: `ctx` was just made by a libssl and is not yet shared.
        if let Some(lib) = unsafe { resolver::for_ctx(ctx, 0) } {
            // SAFETY: as above; `lib` made `ctx`.
            unsafe {
                if ticket_keys {
                    tickets::on_ctx_new(lib, ctx);
                }
                if store {
                    hooks::on_ctx_new(lib, ctx);
                }
            }
        }
        if store && engine::provides() {
            // SAFETY: `ctx` was just made and is not yet shared.
            unsafe { set_get::provide(ctx, TRAMPOLINES) }
        }
    })
}
