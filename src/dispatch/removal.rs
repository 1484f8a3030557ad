//! `SSL_CTX_remove_session` through sesscb: forwarded to the libssl that
//! made the ctx, then, when the shared store serves that ctx, the session's
//! shared entry is deleted too.
//!
//! Why here and not in the remove callback: the callback also fires for
//! flushes, expiry, internal-cache eviction and `SSL_CTX_free`, which must
//! never wipe a store every process shares. `SSL_CTX_remove_session` is what
//! an application calls for a session it wants gone, and what libssl calls
//! for a session it marks bad (a fatal alert, a connection freed without
//! close_notify) — where libssl's own calls go through its PLT, as in
//! Debian's 3.0; an upstream build linked with `-Bsymbolic` (1.1.1w, 3.5 and
//! later) binds them inside itself, so there only application removals
//! reach the store (docs/store.md, "Removes").

use std::cell::Cell;
use std::ffi::{c_int, c_void};

use crate::ffi::callbacks::Kind;
use crate::ffi::types::{SslCtx, SslSession};
use crate::libssl::handle::{Libssl, RemoveSessionFn};
use crate::libssl::resolver;
use crate::registry::slots;
use crate::store::hooks as store;

thread_local! {
    /// Set while this thread is inside `SSL_CTX_remove_session`, so the
    /// remove callbacks it fires are not counted as ignored removes.
    static EXPLICIT: Cell<u32> = const { Cell::new(0) };
}

/// Whether this thread is inside `SSL_CTX_remove_session`.
pub fn in_explicit_remove() -> bool {
    EXPLICIT.try_with(|depth| depth.get() > 0).unwrap_or(false)
}

/// `SSL_CTX_remove_session(ctx, sess)` as OpenSSL's, called from code at
/// `caller`, then the store's delete. A NULL ctx returns 0 (OpenSSL would
/// dereference it); a panic in sesscb's part returns 0 or OpenSSL's result.
///
/// # Safety
/// As OpenSSL's: `ctx` is NULL or a live `SSL_CTX`, `sess` NULL or a live
/// `SSL_SESSION` the caller holds a reference to.
pub unsafe fn remove_session(ctx: *mut SslCtx, sess: *mut SslSession, caller: usize) -> c_int {
    if ctx.is_null() {
        return 0;
    }
    // SAFETY: the caller guarantees `ctx`.
    let lib = std::panic::catch_unwind(|| unsafe { resolver::for_ctx(ctx, caller) }).ok().flatten();
    let Some(real) = lib.and_then(Libssl::remove_session_fn).or_else(next_remove_session) else {
        return 0;
    };
    let _ = EXPLICIT.try_with(|depth| depth.set(depth.get() + 1));
    // SAFETY: OpenSSL's own function with the caller's arguments; it may run
    // the application's remove callback, with no sesscb lock held.
    let ret = unsafe { real(ctx, sess) };
    let _ = EXPLICIT.try_with(|depth| depth.set(depth.get().saturating_sub(1)));
    if let Some(lib) = lib.filter(|_| store::active() && !sess.is_null()) {
        // SAFETY: `sess` is still the caller's; `lib` made `ctx`.
        let _ = std::panic::catch_unwind(|| unsafe { propagate(lib, ctx, sess) });
    }
    ret
}

/// Deletes `sess`'s shared entry if the store serves `ctx`.
///
/// # Safety
/// As [`remove_session`]; `lib` made `ctx`.
#[cold]
#[inline(never)]
unsafe fn propagate(lib: &'static Libssl, ctx: *mut SslCtx, sess: *mut SslSession) {
    let Some(slot) = slots::find(ctx) else { return };
    let has_app = Kind::ALL.iter().any(|&k| slots::get(slot).callback(k) != 0);
    if store::serves(has_app) {
        // SAFETY: as above.
        unsafe { store::on_remove(lib, sess) };
    }
}

/// The next `SSL_CTX_remove_session` after sesscb's (no libssl claimed the
/// ctx: OpenSSL's answer is the best there is).
fn next_remove_session() -> Option<RemoveSessionFn> {
    // SAFETY: dlsym(RTLD_NEXT) with a C string literal.
    let p = unsafe { libc::dlsym(libc::RTLD_NEXT, c"SSL_CTX_remove_session".as_ptr()) };
    // SAFETY: a non-NULL symbol of this name has OpenSSL's prototype.
    (!p.is_null()).then(|| unsafe { std::mem::transmute::<*mut c_void, RemoveSessionFn>(p) })
}
