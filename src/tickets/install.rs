//! What a new ctx gets when ticket keys are on: sesscb's callback, and a
//! copy of the keys OpenSSL drew for it, by which the callback later sees
//! whether the application set keys of its own (then they are used, as
//! OpenSSL would).

use std::ffi::{c_int, c_long, c_void};

use super::callback::CALLBACKS;
use super::current;
use super::openssl::{OWN_KEYS_LEN, slot_of};
use crate::ffi::types::SslCtx;
use crate::libssl::handle::Libssl;
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
    if !unsafe { api.install(ctx, CALLBACKS[index]) } {
        count(&COUNTERS.tickets_fallback);
    }
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
