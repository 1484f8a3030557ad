//! A ctx's end. OpenSSL runs every SSL_CTX ex_data free function for every
//! ctx it frees, after the final flush's remove callbacks, when no SSL can
//! reach the ctx (docs/openssl-behaviour.md, "SSL_CTX_free and ex_data";
//! `ssl/ssl_lib.c: SSL_CTX_free`). sesscb stores no ex_data value: its free
//! function (in the C layer) only tells this module which ctx is going.

use std::ffi::c_int;

use super::slots;
use crate::ffi::types::SslCtx;
use crate::observe::stats;
use crate::observe::trace;

/// Releases `ctx`'s slot, if it has one, when sesscb's ex_data free function
/// runs for it with ex_data index `index`; free functions that OpenSSL runs
/// after sesscb's still see the ctx's callbacks ([`super::freed`]).
pub fn ctx_freed(ctx: *mut SslCtx, index: c_int) {
    let Some(slot) = slots::find(ctx) else { return };
    // With two libssls each calls this with its own index; a spare index
    // from a lost resolve race belongs to no slot's libssl.
    if slots::get(slot).libssl().is_none_or(|lib| lib.is_own_ex_index(index)) {
        trace::ctx_freed(ctx, slot);
        slots::release(slot, ctx, stats::retire_slot);
    }
}
