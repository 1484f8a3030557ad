//! What the setters and getters do.
//!
//! Set: record the application's pointer, then store in the real field a
//! trampoline that leads to it — iff the pointer is non-NULL, synchronously
//! (libssl branches on the field's NULL-ness: docs/openssl-behaviour.md,
//! "Setters and getters"). Get: read the real field and map a sesscb
//! trampoline back to the application's pointer, so the answer is exact even
//! for a new ctx at a freed ctx's address.
//!
//! The trampolines belong to the dispatch layer above; the caller hands
//! them in as a [`Trampolines`].

use super::freed;
use super::shared;
use super::slots;
use super::unresolved;
use crate::ffi::callbacks::{Address, Kind};
use crate::ffi::types::SslCtx;
use crate::libssl::handle::Libssl;
use crate::libssl::resolver;
use crate::limits::{SHARED_COUNT, SLOT_COUNT};
use crate::observe::trace::{self, Route};
use crate::sync::fork_aware_lock::ForkAwareLock;

/// The trampolines a setter installs, as addresses by kind and index: the
/// `SLOT_COUNT` per-ctx ones first, then the `SHARED_COUNT` shared ones.
#[derive(Clone, Copy)]
pub struct Trampolines {
    pub address: fn(Kind, usize) -> Address,
}

impl Trampolines {
    /// The trampoline of `kind` at `index`.
    #[inline]
    pub fn address(self, kind: Kind, index: usize) -> Address {
        (self.address)(kind, index)
    }

    /// The shared-trampoline index `address` is, if it is one.
    pub fn shared_index_of(self, kind: Kind, address: Address) -> Option<usize> {
        (0..SHARED_COUNT).find(|&j| self.address(kind, SLOT_COUNT + j) == address)
    }
}

/// Serialises slot claims, so two threads setting the first callbacks of the
/// same ctx at once end up sharing one slot.
static ATTACH_LOCK: ForkAwareLock = ForkAwareLock::new();

/// `SSL_CTX_sess_set_*_cb(ctx, cb)` called from code at address `caller`
/// (0 if unknown), which tells which libssl made `ctx`.
///
/// # Safety
/// `ctx` must be NULL or a live `SSL_CTX`.
pub unsafe fn set(kind: Kind, ctx: *mut SslCtx, app: Address, caller: usize, trampolines: Trampolines) {
    if ctx.is_null() {
        trace::bad_input(kind, "set", "NULL ctx: ignored (OpenSSL would crash)");
        return;
    }
    // SAFETY: forwarded caller guarantee.
    unsafe { set_in(resolver::for_ctx(ctx, caller), kind, ctx, app, trampolines) }
}

/// `set` once the libssl is known (None: none found).
///
/// # Safety
/// `ctx` must be a live `SSL_CTX` of `lib`.
pub(crate) unsafe fn set_in(
    lib: Option<&'static Libssl>,
    kind: Kind,
    ctx: *mut SslCtx,
    app: Address,
    trampolines: Trampolines,
) {
    let Some(lib) = lib else {
        unresolved::set(kind, ctx, app);
        return;
    };
    // SAFETY: the caller guarantees `ctx` is a live SSL_CTX; `lib` is the
    // libssl the calling code uses, hence the one that made it.
    unsafe {
        if app == 0 {
            if let Some(slot) = slots::find(ctx) {
                slots::get(slot).set_callback(kind, 0);
            }
            lib.set(kind, ctx, 0);
            trace::set_event(kind, ctx, 0, Route::Cleared);
            return;
        }
        let (installed, route) = match slot_for(lib, ctx, trampolines) {
            Some(slot) => {
                // Publish the application's pointer before the trampoline
                // can be reached through the real field.
                slots::get(slot).set_callback(kind, app);
                (trampolines.address(kind, slot), Route::Slot(slot))
            }
            None => match shared::index_for(kind, app) {
                Some(j) => (trampolines.address(kind, SLOT_COUNT + j), Route::Shared(j)),
                None => {
                    trace::note_once_pool_full();
                    (app, Route::Direct)
                }
            },
        };
        lib.set(kind, ctx, installed);
        trace::set_event(kind, ctx, app, route);
    }
}

/// `SSL_CTX_sess_get_*_cb(ctx)` called from code at address `caller`.
///
/// # Safety
/// `ctx` must be NULL or a live `SSL_CTX`.
pub unsafe fn get(kind: Kind, ctx: *mut SslCtx, caller: usize, trampolines: Trampolines) -> Address {
    if ctx.is_null() {
        trace::bad_input(kind, "get", "NULL ctx: returned NULL (OpenSSL would crash)");
        return 0;
    }
    // SAFETY: forwarded caller guarantee.
    unsafe { get_in(resolver::for_ctx(ctx, caller), kind, ctx, trampolines) }
}

/// `get` once the libssl is known.
///
/// # Safety
/// `ctx` must be a live `SSL_CTX` of `lib`.
pub(crate) unsafe fn get_in(
    lib: Option<&'static Libssl>,
    kind: Kind,
    ctx: *mut SslCtx,
    trampolines: Trampolines,
) -> Address {
    let Some(lib) = lib else {
        return unresolved::get(kind, ctx);
    };
    // SAFETY: the caller guarantees `ctx`.
    unsafe { application_pointer(lib, kind, ctx, trampolines) }
}

/// Maps the real field's content to what the application set.
///
/// # Safety
/// `ctx` must be a live `SSL_CTX` of `lib`.
unsafe fn application_pointer(
    lib: &Libssl,
    kind: Kind,
    ctx: *mut SslCtx,
    trampolines: Trampolines,
) -> Address {
    // SAFETY: the caller guarantees `ctx`.
    let real = unsafe { lib.get(kind, ctx) };
    if real == 0 {
        return 0;
    }
    if let Some(slot) = slots::find(ctx)
        && real == trampolines.address(kind, slot)
    {
        return slots::get(slot).callback(kind);
    }
    if let Some(j) = trampolines.shared_index_of(kind, real) {
        return shared::function(kind, j);
    }
    // A ctx being freed, asked from an ex_data free function that runs
    // after sesscb's released its slot (see `freed`).
    if let Some((slot, callbacks)) = freed::lookup(ctx)
        && real == trampolines.address(kind, slot)
    {
        return callbacks[kind.index()];
    }
    // Set directly (pool full), or by someone who bypassed sesscb.
    real
}

/// The slot a setter uses for `ctx`: its own, or a new one. A ctx being
/// freed gets none (a shared trampoline instead): nothing would release it.
///
/// # Safety
/// `ctx` must be a live `SSL_CTX` of `lib`.
unsafe fn slot_for(lib: &'static Libssl, ctx: *mut SslCtx, trampolines: Trampolines) -> Option<usize> {
    match slots::find(ctx) {
        // SAFETY: forwarded caller guarantee.
        None if unsafe { is_being_freed(lib, ctx, trampolines) } => None,
        found => found.or_else(|| attach(lib, ctx)),
    }
}

/// Whether `ctx` is being freed (its slot already released): one of its real
/// fields still holds a trampoline of the slot it had.
///
/// # Safety
/// `ctx` must be a live `SSL_CTX` of `lib`.
unsafe fn is_being_freed(lib: &Libssl, ctx: *mut SslCtx, trampolines: Trampolines) -> bool {
    let Some((slot, _)) = freed::lookup(ctx) else { return false };
    // SAFETY: the caller guarantees `ctx`.
    Kind::ALL.iter().any(|&kind| unsafe { lib.get(kind, ctx) } == trampolines.address(kind, slot))
}

/// The store's provide mode: a ctx just made, whose application has set no
/// callbacks yet, gets this slot's new and get trampolines with no
/// application callback behind them, so the store sees its sessions; its
/// getters still answer NULL, as the application set nothing. A callback
/// the application sets later takes its place in the slot (augment). With
/// no slot free the ctx is left alone (a cache miss, never a failure).
///
/// # Safety
/// `ctx` must be a live `SSL_CTX` that no other thread uses yet.
pub unsafe fn provide(ctx: *mut SslCtx, trampolines: Trampolines) {
    // SAFETY: the caller guarantees `ctx`.
    let Some(lib) = (unsafe { resolver::for_ctx(ctx, 0) }) else { return };
    let Some(slot) = slots::find(ctx).or_else(|| attach(lib, ctx)) else { return };
    // New and get only: removes never reach the store, and a remove
    // callback's mere presence changes what OpenSSL does.
    for kind in [Kind::New, Kind::Get] {
        // SAFETY: `ctx` is a live ctx of `lib` (it owns it).
        unsafe {
            if lib.get(kind, ctx) == 0 {
                lib.set(kind, ctx, trampolines.address(kind, slot));
            }
        }
    }
}

/// Gives `ctx` a slot. None when no slot near its hash is free.
fn attach(lib: &'static Libssl, ctx: *mut SslCtx) -> Option<usize> {
    if !slots::has_room(ctx) {
        return None;
    }
    let _guard = ATTACH_LOCK.lock();
    // Re-check under the lock: another thread may have attached it.
    slots::find(ctx).or_else(|| slots::claim(ctx, Some(lib)))
}

#[cfg(test)]
mod tests {
    //! The registry with no libssl; with the fake libssl and the real
    //! trampolines, see `dispatch::tests`.
    use super::*;
    use crate::ffi::types::{Ssl, SslSession};
    use std::ffi::c_int;

    /// Any distinct addresses: without a libssl none is ever installed.
    const UNUSED_TRAMPOLINES: Trampolines = Trampolines { address: |_, index| 0x70_0000 + index * 16 };

    unsafe extern "C" fn app_new(_ssl: *mut Ssl, _sess: *mut SslSession) -> c_int {
        1
    }
    unsafe extern "C" fn app_remove(_ctx: *mut SslCtx, _sess: *mut SslSession) {}

    #[test]
    fn without_libssl_setters_are_not_honoured_and_getters_return_null() {
        let ctx = 0x9990 as *mut SslCtx;
        // SAFETY: with no libssl the ctx is only a key, never dereferenced.
        unsafe {
            set_in(None, Kind::Remove, ctx, app_remove as *const () as usize, UNUSED_TRAMPOLINES);
            assert_eq!(get_in(None, Kind::Remove, ctx, UNUSED_TRAMPOLINES), 0);
            assert_eq!(get_in(None, Kind::New, ctx, UNUSED_TRAMPOLINES), 0);
            // NULL ctx: no-op setter, NULL getter, no crash.
            set(Kind::New, std::ptr::null_mut(), app_new as *const () as usize, 0, UNUSED_TRAMPOLINES);
            assert_eq!(get(Kind::New, std::ptr::null_mut(), 0, UNUSED_TRAMPOLINES), 0);
        }
    }
}
