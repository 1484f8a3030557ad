//! What a new ctx gets when ticket keys are on: sesscb's callback (in the
//! form `SESSCB_TICKET_FORM` picks, src/tickets/form.rs), and a copy of the
//! keys OpenSSL drew for it, by which the callback later sees whether the
//! application set keys of its own (then they are used, as OpenSSL would).

use std::ffi::{c_int, c_long, c_void};

use super::callback::{CALLBACKS, EVP_CALLBACKS};
use super::current;
use super::form::{self, Form};
use super::openssl::{OWN_KEYS_LEN, TicketApi, slot_of};
use crate::ffi::types::SslCtx;
use crate::libssl::handle::Libssl;
use crate::observe::trace;
use crate::store::counters::{COUNTERS, count};
use crate::store::engine::unix_now;

/// Installs the ticket key callback on `ctx`; leaves OpenSSL's own keys
/// (and counts a fallback) when the keyring or a function is missing.
///
/// # Safety
/// `ctx` was just made by `lib` and is not yet shared.
pub unsafe fn on_ctx_new(lib: &Libssl, ctx: *mut SslCtx) {
    let Some((index, api)) = slot_of(lib, free_drawn) else {
        count(&COUNTERS.tickets_fallback);
        return;
    };
    // The keyring is read now, so no ctx gets a callback without keys.
    if current::window(unix_now()).is_none() {
        count(&COUNTERS.tickets_fallback);
        return;
    }
    // SAFETY: the caller guarantees `ctx`.
    let Some(drawn) = (unsafe { api.own_keys(ctx) }) else {
        count(&COUNTERS.tickets_fallback);
        return;
    };
    let boxed = Box::into_raw(Box::new(drawn)).cast::<c_void>();
    // SAFETY: as above; on success the ex_data free function owns the box.
    if !unsafe { api.attach(ctx, boxed) } {
        // SAFETY: not attached, so still ours alone.
        drop(unsafe { Box::from_raw(boxed.cast::<[u8; OWN_KEYS_LEN]>()) });
        count(&COUNTERS.tickets_fallback);
        return;
    }
    // SAFETY: as above.
    match unsafe { install_form(api, ctx, index) } {
        Some(form) => trace::note("store", &format!("ticket key callback installed: {} form", form.name())),
        None => count(&COUNTERS.tickets_fallback),
    }
}

/// Installs the callback of slot `index` in the first form, of those the
/// setting allows, that `ctx`'s libssl accepts; None if it accepts none.
///
/// # Safety
/// As [`on_ctx_new`]; `api` is `ctx`'s libssl's, in slot `index`.
unsafe fn install_form(api: &TicketApi, ctx: *mut SslCtx, index: usize) -> Option<Form> {
    form::attempts().iter().copied().find(|form| match form {
        // SAFETY: as the caller guarantees.
        Form::Legacy => unsafe { api.install(ctx, CALLBACKS[index]) },
        // SAFETY: as the caller guarantees; EVP_CALLBACKS take an EVP_MAC_CTX.
        Form::Evp => api.evp.as_ref().is_some_and(|evp| unsafe { evp.install(ctx, EVP_CALLBACKS[index]) }),
    })
}

/// The ex_data free function: releases (and clears) the drawn keys.
unsafe extern "C" fn free_drawn(
    _parent: *mut c_void,
    ptr: *mut c_void,
    _ad: *mut c_void,
    _index: c_int,
    _argl: c_long,
    _argp: *mut c_void,
) {
    if ptr.is_null() {
        return;
    }
    // SAFETY: every non-NULL value under our index is a box on_ctx_new
    // attached; OpenSSL calls this once, when the ctx is freed.
    let mut keys = unsafe { Box::from_raw(ptr.cast::<[u8; OWN_KEYS_LEN]>()) };
    keys.fill(0);
    std::hint::black_box(&keys);
}
