//! What a trampoline does: call the application's callback with the very
//! same arguments, return its very same result, then count and trace.
//!
//! Nothing here touches a reference count, the `copy` value, or any OpenSSL
//! state, and no sesscb lock is held while the application runs (its
//! callback may re-enter the six functions; OpenSSL may hold `ctx->lock`).

use std::ffi::{c_int, c_uchar};

use crate::callbacks::{self, Address, Kind};
use crate::ffi::{Ssl, SslCtx, SslSession};
use crate::log;
use crate::shared;
use crate::slots;
use crate::stats::{self, Event};
use crate::trampolines::SLOT_COUNT;

/// Where trampoline `index` leads: the application's callback and, for a
/// per-ctx slot, that slot's index (None: a shared trampoline).
#[inline(always)]
fn route(kind: Kind, index: usize) -> (Address, Option<usize>) {
    if index < SLOT_COUNT {
        (slots::get(index).callback(kind), Some(index))
    } else {
        (shared::function(kind, index - SLOT_COUNT), None)
    }
}

/// For the trace: the ctx OpenSSL consulted (known for a slot), and the
/// libssl whose functions may be called on this event's objects — the
/// slot's owner, or for a shared trampoline the process's only libssl (with
/// two, a shared trampoline cannot tell which made the objects).
fn tracing_context(slot: Option<usize>) -> (Option<*mut SslCtx>, Option<&'static crate::resolver::Libssl>) {
    match slot.map(slots::get) {
        Some(slot) => (Some(slot.ctx()), slot.libssl()),
        None => (None, crate::resolver::sole()),
    }
}

/// # Safety
/// Called only by a new-session trampoline, with libssl's arguments.
#[inline(never)]
pub unsafe fn on_new(ssl: *mut Ssl, sess: *mut SslSession, index: usize) -> c_int {
    let (address, slot) = route(Kind::New, index);
    // A racing `set(NULL)` after OpenSSL read the field: behave as if the
    // callback had already been cleared (R5).
    let Some(app) = callbacks::new_from_address(address) else { return 0 };
    // SAFETY: `app` is the application's new-session callback for the ctx
    // OpenSSL consulted; the arguments are OpenSSL's, untouched.
    let ret = unsafe { app(ssl, sess) };
    let _ = std::panic::catch_unwind(|| {
        stats::record(slot, Event::new_session(ret != 0));
        if log::enabled() {
            let (session_ctx, lib) = tracing_context(slot);
            log::new_event(lib, session_ctx, ssl, sess, ret);
        }
    });
    ret
}

/// # Safety
/// Called only by a get-session trampoline, with libssl's arguments.
#[inline(never)]
pub unsafe fn on_get(
    ssl: *mut Ssl,
    data: *const c_uchar,
    len: c_int,
    copy: *mut c_int,
    index: usize,
) -> *mut SslSession {
    let (address, slot) = route(Kind::Get, index);
    // Racing clear: a miss, and `*copy` left unwritten (R6).
    let Some(app) = callbacks::get_from_address(address) else { return std::ptr::null_mut() };
    let tracing = log::enabled();
    // The value OpenSSL preset, read only for the trace.
    // SAFETY: `copy` is OpenSSL's live `int` for the duration of this call.
    let copy_in = if tracing && !copy.is_null() { unsafe { *copy } } else { 1 };
    // SAFETY: the application's get callback with OpenSSL's own arguments,
    // including the very same `copy` pointer.
    let session = unsafe { app(ssl, data, len, copy) };
    let _ = std::panic::catch_unwind(|| {
        let hit = !session.is_null();
        // SAFETY: as above; read after the application wrote it.
        let copy_out = if copy.is_null() { 1 } else { unsafe { *copy } };
        stats::record(slot, Event::get_session(hit, copy_out == 0));
        if tracing {
            let (session_ctx, lib) = tracing_context(slot);
            log::get_event(lib, session_ctx, ssl, data, len, copy_in, copy_out, session);
        }
    });
    session
}

/// # Safety
/// Called only by a remove-session trampoline, with libssl's arguments. May
/// run with `ctx->lock` held and the ctx's refcount at 0 (`SSL_CTX_free`):
/// nothing here calls OpenSSL except, when tracing, lock-free getters.
#[inline(never)]
pub unsafe fn on_remove(ctx: *mut SslCtx, sess: *mut SslSession, index: usize) {
    let (address, slot) = route(Kind::Remove, index);
    let Some(app) = callbacks::remove_from_address(address) else { return };
    // SAFETY: the application's remove callback with OpenSSL's own arguments.
    unsafe { app(ctx, sess) };
    let _ = std::panic::catch_unwind(|| {
        stats::record(slot, Event::Remove);
        if log::enabled() {
            log::remove_event(tracing_context(slot).1, ctx, sess);
        }
    });
}
