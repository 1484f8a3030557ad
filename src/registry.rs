//! What the setters and getters do.
//!
//! Set: record the application's pointer, then store in the real field a
//! trampoline that leads to it — iff the pointer is non-NULL, synchronously
//! (libssl branches on the field's NULL-ness: spec §3). Get: read the real
//! field and map a sesscb trampoline back to the application's pointer, so
//! the answer is exact even for a new ctx at a freed ctx's address.

use std::ffi::{c_int, c_long, c_void};

use crate::callbacks::{Address, Kind};
use crate::ffi::SslCtx;
use crate::log::{self, Route};
use crate::resolver::{self, Libssl};
use crate::shared;
use crate::slots;
use crate::sync::ForkAwareLock;
use crate::trampolines::{self, SLOT_COUNT};
use crate::unresolved;

/// Serialises the first attach of a ctx: OpenSSL's ex_data write is not
/// safe against a concurrent write on the same ctx, and plain OpenSSL's
/// setters are single stores, so sesscb must not be less safe than them.
static ATTACH_LOCK: ForkAwareLock = ForkAwareLock::new();

/// `SSL_CTX_sess_set_*_cb(ctx, cb)` called from code at address `caller`
/// (0 if unknown), which tells which libssl made `ctx`.
///
/// # Safety
/// `ctx` must be NULL or a live `SSL_CTX`.
pub unsafe fn set(kind: Kind, ctx: *mut SslCtx, app: Address, caller: usize) {
    if ctx.is_null() {
        log::bad_input(kind, "set", "NULL ctx: ignored (OpenSSL would crash)");
        return;
    }
    let Some(lib) = resolver::for_caller(caller) else {
        unresolved::record(kind, ctx, app);
        log::set_event(kind, ctx, app, Route::Unresolved);
        return;
    };
    // SAFETY: the caller guarantees `ctx` is a live SSL_CTX; `lib` is the
    // libssl the calling code uses, hence the one that made it.
    unsafe {
        if app == 0 {
            if let Some(slot) = lib.slot_of(ctx) {
                slots::get(slot).set_callback(kind, 0);
            }
            lib.set(kind, ctx, 0);
            log::set_event(kind, ctx, 0, Route::Cleared);
            return;
        }
        let (installed, route) = match lib.slot_of(ctx).or_else(|| attach(lib, ctx)) {
            Some(slot) => {
                // Publish the application's pointer before the trampoline
                // can be reached through the real field.
                slots::get(slot).set_callback(kind, app);
                (trampolines::address(kind, slot), Route::Slot(slot))
            }
            None => match shared::index_for(kind, app) {
                Some(j) => (trampolines::address(kind, SLOT_COUNT + j), Route::Shared(j)),
                None => {
                    log::note_once_pool_full();
                    (app, Route::Direct)
                }
            },
        };
        lib.set(kind, ctx, installed);
        log::set_event(kind, ctx, app, route);
    }
}

/// `SSL_CTX_sess_get_*_cb(ctx)` called from code at address `caller`.
///
/// # Safety
/// `ctx` must be NULL or a live `SSL_CTX`.
pub unsafe fn get(kind: Kind, ctx: *mut SslCtx, caller: usize) -> Address {
    if ctx.is_null() {
        log::bad_input(kind, "get", "NULL ctx: returned NULL (OpenSSL would crash)");
        return 0;
    }
    let Some(lib) = resolver::for_caller(caller) else {
        return unresolved::lookup(kind, ctx);
    };
    // SAFETY: the caller guarantees `ctx`.
    unsafe { application_pointer(lib, kind, ctx) }
}

/// Maps the real field's content to what the application set.
///
/// # Safety
/// `ctx` must be a live `SSL_CTX` of `lib`.
unsafe fn application_pointer(lib: &Libssl, kind: Kind, ctx: *mut SslCtx) -> Address {
    // SAFETY: the caller guarantees `ctx`.
    let real = unsafe { lib.get(kind, ctx) };
    if real == 0 {
        return 0;
    }
    // SAFETY: as above.
    if let Some(slot) = unsafe { lib.slot_of(ctx) } {
        if real == trampolines::address(kind, slot) {
            return slots::get(slot).callback(kind);
        }
    }
    if let Some(j) = trampolines::shared_index_of(kind, real) {
        return shared::function(kind, j);
    }
    // Set directly (pool full), or by someone who bypassed sesscb.
    real
}

/// Gives `ctx` a slot and records it in the ctx's ex_data. None when every
/// slot is taken or OpenSSL cannot allocate.
///
/// # Safety
/// `ctx` must be a live `SSL_CTX` of `lib`.
unsafe fn attach(lib: &'static Libssl, ctx: *mut SslCtx) -> Option<usize> {
    let _guard = ATTACH_LOCK.lock();
    // SAFETY: the caller guarantees `ctx`; ATTACH_LOCK excludes other attaches.
    unsafe {
        if let Some(slot) = lib.slot_of(ctx) {
            return Some(slot);
        }
        let slot = slots::claim(ctx, Some(lib))?;
        if lib.record_slot(ctx, slot) {
            Some(slot)
        } else {
            slots::release(slot);
            None
        }
    }
}

/// The SSL_CTX ex_data free function: OpenSSL calls it for every ctx it
/// frees, after the final flush's remove callbacks (spec §4.2), when no SSL
/// can reach the ctx. Releases the ctx's slot.
pub unsafe extern "C" fn ctx_ex_data_free(
    parent: *mut c_void,
    value: *mut c_void,
    _ad: *mut c_void,
    index: c_int,
    _argl: c_long,
    _argp: *mut c_void,
) {
    ffi_boundary!("ctx_ex_data_free", {
        let Some(slot) = (value as usize).checked_sub(1) else { return };
        // Only our own index carries slot numbers (a spare index registered by
        // a lost resolve race never has a value), and with two libssls each
        // has its own index: the slot must belong to this very ctx and libssl.
        if slot >= SLOT_COUNT {
            return;
        }
        let owner = slots::get(slot);
        let ours = owner.libssl().is_some_and(|lib| lib.is_own_ex_index(index));
        if ours && owner.ctx() == parent.cast::<SslCtx>() {
            log::ctx_freed(parent.cast(), slot);
            slots::release(slot);
        }
    })
}
