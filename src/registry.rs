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

/// Serialises slot claims, so two threads setting the first callbacks of the
/// same ctx at once end up sharing one slot.
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
    // SAFETY: forwarded caller guarantee.
    unsafe { set_in(resolver::for_ctx(ctx, caller), kind, ctx, app) }
}

/// `set` once the libssl is known (None: none found).
///
/// # Safety
/// `ctx` must be a live `SSL_CTX` of `lib`.
unsafe fn set_in(lib: Option<&'static Libssl>, kind: Kind, ctx: *mut SslCtx, app: Address) {
    let Some(lib) = lib else {
        unresolved::record(kind, ctx, app);
        log::set_event(kind, ctx, app, Route::Unresolved);
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
            log::set_event(kind, ctx, 0, Route::Cleared);
            return;
        }
        let (installed, route) = match slots::find(ctx).or_else(|| attach(lib, ctx)) {
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
    // SAFETY: forwarded caller guarantee.
    unsafe { get_in(resolver::for_ctx(ctx, caller), kind, ctx) }
}

/// `get` once the libssl is known.
///
/// # Safety
/// `ctx` must be a live `SSL_CTX` of `lib`.
unsafe fn get_in(lib: Option<&'static Libssl>, kind: Kind, ctx: *mut SslCtx) -> Address {
    let Some(lib) = lib else {
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
    if let Some(slot) = slots::find(ctx) {
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

/// Gives `ctx` a slot. None when no slot near its hash is free.
fn attach(lib: &'static Libssl, ctx: *mut SslCtx) -> Option<usize> {
    if !slots::has_room(ctx) {
        return None;
    }
    let _guard = ATTACH_LOCK.lock();
    // Re-check under the lock: another thread may have attached it.
    slots::find(ctx).or_else(|| slots::claim(ctx, Some(lib)))
}

/// The SSL_CTX ex_data free function. sesscb stores no ex_data value:
/// OpenSSL calls every registered free function for every ctx it frees,
/// after the final flush's remove callbacks (spec §4.2), when no SSL can
/// reach the ctx. Releases the ctx's slot, if it has one.
pub unsafe extern "C" fn ctx_ex_data_free(
    parent: *mut c_void,
    _value: *mut c_void,
    _ad: *mut c_void,
    index: c_int,
    _argl: c_long,
    _argp: *mut c_void,
) {
    ffi_boundary!("ctx_ex_data_free", {
        let ctx = parent.cast::<SslCtx>();
        let Some(slot) = slots::find(ctx) else { return };
        // With two libssls each calls this with its own index; a spare index
        // from a lost resolve race belongs to no slot's libssl.
        if slots::get(slot).libssl().is_none_or(|lib| lib.is_own_ex_index(index)) {
            log::ctx_freed(ctx, slot);
            slots::release(slot, ctx);
        }
    })
}

#[cfg(test)]
mod tests {
    //! The registry against a fake libssl (resolver::fake): what a setter
    //! stores in the real field, what getters answer, what trampolines call,
    //! and slot release through the ex_data free function.
    use super::*;
    use crate::callbacks;
    use crate::ffi::{Ssl, SslSession};
    use crate::resolver::fake;
    use std::ffi::{c_int, c_uchar};
    use std::sync::atomic::{AtomicUsize, Ordering};

    static NEW_CALLS: AtomicUsize = AtomicUsize::new(0);
    static REMOVE_CTX: AtomicUsize = AtomicUsize::new(0);

    unsafe extern "C" fn app_new(_ssl: *mut Ssl, sess: *mut SslSession) -> c_int {
        NEW_CALLS.fetch_add(1, Ordering::SeqCst);
        // Echo a value derived from the argument: proves pass-through.
        (sess as usize % 1000) as c_int
    }
    unsafe extern "C" fn app_new_b(_ssl: *mut Ssl, _sess: *mut SslSession) -> c_int {
        7
    }
    unsafe extern "C" fn app_remove(ctx: *mut SslCtx, _sess: *mut SslSession) {
        REMOVE_CTX.store(ctx as usize, Ordering::SeqCst);
    }
    unsafe extern "C" fn app_get(
        _ssl: *mut Ssl,
        _data: *const c_uchar,
        len: c_int,
        copy: *mut c_int,
    ) -> *mut SslSession {
        unsafe { *copy = 0 };
        (0x1000 + len as usize) as *mut SslSession
    }

    fn new_addr(f: unsafe extern "C" fn(*mut Ssl, *mut SslSession) -> c_int) -> Address {
        f as *const () as usize
    }

    // The slot table is process-global, so the scenarios run in one test.
    #[test]
    fn set_get_dispatch_release() {
        let _serial = slots::TEST_SERIAL.lock().unwrap_or_else(|e| e.into_inner());
        let lib = fake::libssl();
        let ctx = fake::new_ctx();
        unsafe {
            // Fresh ctx: getters NULL.
            for kind in Kind::ALL {
                assert_eq!(get_in(Some(lib), kind, ctx), 0);
            }
            // Non-NULL set: the real field holds a trampoline, not the app's
            // pointer; the getter answers the app's pointer.
            set_in(Some(lib), Kind::New, ctx, new_addr(app_new));
            let installed = fake::field(ctx, Kind::New);
            assert_ne!(installed, 0);
            assert_ne!(installed, new_addr(app_new));
            assert_eq!(get_in(Some(lib), Kind::New, ctx), new_addr(app_new));
            // Other kinds untouched (NULL-ness matters to OpenSSL).
            assert_eq!(fake::field(ctx, Kind::Remove), 0);
            assert_eq!(fake::field(ctx, Kind::Get), 0);

            // The trampoline calls the app with the same arguments and
            // returns its result unchanged.
            let tramp = callbacks::new_from_address(installed).unwrap();
            let before = NEW_CALLS.load(Ordering::SeqCst);
            assert_eq!(tramp(std::ptr::null_mut(), 0x2345 as *mut SslSession), 0x2345 % 1000);
            assert_eq!(NEW_CALLS.load(Ordering::SeqCst), before + 1);

            // Replacing the callback keeps the trampoline, changes the target.
            set_in(Some(lib), Kind::New, ctx, new_addr(app_new_b));
            assert_eq!(fake::field(ctx, Kind::New), installed);
            assert_eq!(tramp(std::ptr::null_mut(), std::ptr::null_mut()), 7);
            assert_eq!(get_in(Some(lib), Kind::New, ctx), new_addr(app_new_b));

            // Get: the very same copy pointer reaches the app.
            set_in(Some(lib), Kind::Get, ctx, app_get as *const () as usize);
            let get_tramp = callbacks::get_from_address(fake::field(ctx, Kind::Get)).unwrap();
            let mut copy: c_int = 1;
            let got = get_tramp(std::ptr::null_mut(), std::ptr::null(), 32, &mut copy);
            assert_eq!((got as usize, copy), (0x1000 + 32, 0));

            // Remove: dispatched with the ctx OpenSSL passes.
            set_in(Some(lib), Kind::Remove, ctx, app_remove as *const () as usize);
            let remove_tramp = callbacks::remove_from_address(fake::field(ctx, Kind::Remove)).unwrap();
            remove_tramp(ctx, std::ptr::null_mut());
            assert_eq!(REMOVE_CTX.load(Ordering::SeqCst), ctx as usize);

            // Counters for this ctx.
            let slot = slots::find(ctx).unwrap();
            let stats = crate::stats::slot_snapshot(slot);
            assert_eq!((stats.new_calls, stats.new_kept), (2, 2));
            assert_eq!((stats.get_calls, stats.get_hits, stats.get_copy0), (1, 1, 1));
            assert_eq!(stats.remove_calls, 1);

            // NULL clears the real field and the getter.
            set_in(Some(lib), Kind::New, ctx, 0);
            assert_eq!(fake::field(ctx, Kind::New), 0);
            assert_eq!(get_in(Some(lib), Kind::New, ctx), 0);
            // A racing call through the old trampoline returns 0, calls nothing.
            let before = NEW_CALLS.load(Ordering::SeqCst);
            assert_eq!(tramp(std::ptr::null_mut(), std::ptr::null_mut()), 0);
            assert_eq!(NEW_CALLS.load(Ordering::SeqCst), before);

            // ctx free: OpenSSL calls the ex_data free function; the slot is
            // released, and a new ctx at the same address starts clean.
            fake::free_ex_data(ctx);
            assert_eq!(slots::get(slot).ctx(), std::ptr::null_mut());
            fake::reset(ctx);
            for kind in Kind::ALL {
                assert_eq!(get_in(Some(lib), kind, ctx), 0);
            }
            set_in(Some(lib), Kind::Get, ctx, app_get as *const () as usize);
            assert_eq!(get_in(Some(lib), Kind::Get, ctx), app_get as *const () as usize);
            fake::free_ex_data(ctx);
            fake::drop_ctx(ctx);
        }
    }

    #[test]
    fn once_every_slot_is_taken_ctxs_share_exact_function_keyed_trampolines() {
        let _serial = slots::TEST_SERIAL.lock().unwrap_or_else(|e| e.into_inner());
        let lib = fake::libssl();
        let mut ctxs = Vec::new();
        unsafe {
            // Fill the slot table.
            loop {
                let ctx = fake::new_ctx();
                set_in(Some(lib), Kind::Remove, ctx, app_remove as *const () as usize);
                ctxs.push(ctx);
                if slots::find(ctx).is_none() {
                    break;
                }
            }
            let overflow = *ctxs.last().unwrap();
            let installed = fake::field(overflow, Kind::Remove);
            assert!(trampolines::shared_index_of(Kind::Remove, installed).is_some());
            assert_eq!(get_in(Some(lib), Kind::Remove, overflow), app_remove as *const () as usize);
            let tramp = callbacks::remove_from_address(installed).unwrap();
            tramp(overflow, std::ptr::null_mut());
            assert_eq!(REMOVE_CTX.load(Ordering::SeqCst), overflow as usize);
            for ctx in ctxs {
                fake::free_ex_data(ctx);
                fake::drop_ctx(ctx);
            }
        }
    }

    #[test]
    fn without_libssl_setters_record_and_getters_return() {
        let ctx = 0x9990 as *mut SslCtx;
        unsafe {
            set_in(None, Kind::Remove, ctx, app_remove as *const () as usize);
            assert_eq!(get_in(None, Kind::Remove, ctx), app_remove as *const () as usize);
            assert_eq!(get_in(None, Kind::New, ctx), 0);
            // NULL ctx: no-op setter, NULL getter, no crash.
            set(Kind::New, std::ptr::null_mut(), new_addr(app_new), 0);
            assert_eq!(get(Kind::New, std::ptr::null_mut(), 0), 0);
        }
    }
}
