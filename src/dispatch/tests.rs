//! The registry, the real trampolines and dispatch together, against the
//! fake libssl: what a setter stores in the real field, what getters
//! answer, what trampolines call, and slot release when a ctx is freed.

use std::ffi::{c_int, c_uchar};
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};

use super::trampolines::TRAMPOLINES;
use crate::ffi::callbacks::{self, Address, Kind};
use crate::ffi::types::{Ssl, SslCtx, SslSession};
use crate::libssl::fake;
use crate::observe::stats;
use crate::registry::lifecycle;
use crate::registry::set_get::{get_in, set_in};
use crate::registry::slots;

/// These tests use the process's slot table (one fills it): one at a time.
static GLOBAL_TABLE: Mutex<()> = Mutex::new(());

/// What OpenSSL's SSL_CTX_free does last: run sesscb's ex_data free function.
fn free_ex_data(ctx: *mut SslCtx) {
    lifecycle::ctx_freed(ctx, fake::EX_INDEX);
}

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
static REMOVE_OTHER: AtomicUsize = AtomicUsize::new(0);
unsafe extern "C" fn app_remove_other(ctx: *mut SslCtx, _sess: *mut SslSession) {
    REMOVE_OTHER.store(ctx as usize, Ordering::SeqCst);
}
unsafe extern "C" fn app_get(
    _ssl: *mut Ssl,
    _data: *const c_uchar,
    len: c_int,
    copy: *mut c_int,
) -> *mut SslSession {
    // SAFETY: the trampoline passes the test's own `copy`.
    unsafe { *copy = 0 };
    (0x1000 + len as usize) as *mut SslSession
}

fn new_addr(f: unsafe extern "C" fn(*mut Ssl, *mut SslSession) -> c_int) -> Address {
    f as *const () as usize
}

// The slot table is process-global, so the scenarios run in one test.
#[test]
fn set_get_dispatch_release() {
    let _table = GLOBAL_TABLE.lock().unwrap_or_else(|e| e.into_inner());
    let lib = fake::libssl();
    let ctx = fake::new_ctx();
    // SAFETY: `ctx` is a live fake ctx of `lib` until `drop_ctx`; the
    // trampolines are called with arguments the test callbacks accept.
    unsafe {
        // Fresh ctx: getters NULL.
        for kind in Kind::ALL {
            assert_eq!(get_in(Some(lib), kind, ctx, TRAMPOLINES), 0);
        }
        // Non-NULL set: the real field holds a trampoline, not the app's
        // pointer; the getter answers the app's pointer.
        set_in(Some(lib), Kind::New, ctx, new_addr(app_new), TRAMPOLINES);
        let installed = fake::field(ctx, Kind::New);
        assert_ne!(installed, 0);
        assert_ne!(installed, new_addr(app_new));
        assert_eq!(get_in(Some(lib), Kind::New, ctx, TRAMPOLINES), new_addr(app_new));
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
        set_in(Some(lib), Kind::New, ctx, new_addr(app_new_b), TRAMPOLINES);
        assert_eq!(fake::field(ctx, Kind::New), installed);
        assert_eq!(tramp(std::ptr::null_mut(), std::ptr::null_mut()), 7);
        assert_eq!(get_in(Some(lib), Kind::New, ctx, TRAMPOLINES), new_addr(app_new_b));

        // Get: the very same copy pointer reaches the app.
        set_in(Some(lib), Kind::Get, ctx, app_get as *const () as usize, TRAMPOLINES);
        let get_tramp = callbacks::get_from_address(fake::field(ctx, Kind::Get)).unwrap();
        let mut copy: c_int = 1;
        let got = get_tramp(std::ptr::null_mut(), std::ptr::null(), 32, &mut copy);
        assert_eq!((got as usize, copy), (0x1000 + 32, 0));

        // Remove: dispatched with the ctx OpenSSL passes.
        set_in(Some(lib), Kind::Remove, ctx, app_remove as *const () as usize, TRAMPOLINES);
        let remove_tramp = callbacks::remove_from_address(fake::field(ctx, Kind::Remove)).unwrap();
        remove_tramp(ctx, std::ptr::null_mut());
        assert_eq!(REMOVE_CTX.load(Ordering::SeqCst), ctx as usize);

        // Counters for this ctx.
        let slot = slots::find(ctx).unwrap();
        let stats = stats::slot_snapshot(slot, &slots::get(slot).counters);
        assert_eq!((stats.new_calls, stats.new_kept), (2, 2));
        assert_eq!((stats.get_calls, stats.get_hits, stats.get_copy0), (1, 1, 1));
        assert_eq!(stats.remove_calls, 1);

        // NULL clears the real field and the getter.
        set_in(Some(lib), Kind::New, ctx, 0, TRAMPOLINES);
        assert_eq!(fake::field(ctx, Kind::New), 0);
        assert_eq!(get_in(Some(lib), Kind::New, ctx, TRAMPOLINES), 0);
        // A racing call through the old trampoline returns 0, calls nothing.
        let before = NEW_CALLS.load(Ordering::SeqCst);
        assert_eq!(tramp(std::ptr::null_mut(), std::ptr::null_mut()), 0);
        assert_eq!(NEW_CALLS.load(Ordering::SeqCst), before);

        // ctx free: OpenSSL calls the ex_data free function; the slot is
        // released, and a new ctx at the same address starts clean.
        free_ex_data(ctx);
        assert_eq!(slots::get(slot).ctx(), std::ptr::null_mut());
        fake::reset(ctx);
        for kind in Kind::ALL {
            assert_eq!(get_in(Some(lib), kind, ctx, TRAMPOLINES), 0);
        }
        set_in(Some(lib), Kind::Get, ctx, app_get as *const () as usize, TRAMPOLINES);
        assert_eq!(get_in(Some(lib), Kind::Get, ctx, TRAMPOLINES), app_get as *const () as usize);
        free_ex_data(ctx);
        fake::drop_ctx(ctx);
    }
}

// An application's ex_data free function that OpenSSL runs after sesscb's
// (scenario 41): the slot is released, yet the ctx still reads and reaches
// its own callbacks, even once another ctx holds the very slot; a setter
// on it takes no slot; a new ctx at its address starts clean.
#[test]
fn a_later_ex_data_free_function_still_sees_the_ctx() {
    let _table = GLOBAL_TABLE.lock().unwrap_or_else(|e| e.into_inner());
    let lib = fake::libssl();
    let ctx = fake::new_ctx();
    let remove = app_remove as *const () as usize;
    // SAFETY: `ctx` and `other` are live fake ctxs of `lib` until
    // `drop_ctx`; the trampolines are called with arguments the test
    // callbacks accept.
    unsafe {
        set_in(Some(lib), Kind::New, ctx, new_addr(app_new), TRAMPOLINES);
        set_in(Some(lib), Kind::Remove, ctx, remove, TRAMPOLINES);
        let slot = slots::find(ctx).unwrap();
        free_ex_data(ctx);
        assert_eq!(slots::find(ctx), None, "the slot is released at once");
        assert_eq!(get_in(Some(lib), Kind::New, ctx, TRAMPOLINES), new_addr(app_new));
        assert_eq!(get_in(Some(lib), Kind::Remove, ctx, TRAMPOLINES), remove);
        assert_eq!(get_in(Some(lib), Kind::Get, ctx, TRAMPOLINES), 0);
        let remove_tramp = callbacks::remove_from_address(fake::field(ctx, Kind::Remove)).unwrap();
        REMOVE_CTX.store(0, Ordering::SeqCst);
        remove_tramp(ctx, std::ptr::null_mut());
        assert_eq!(REMOVE_CTX.load(Ordering::SeqCst), ctx as usize, "remove reached");

        // Another ctx takes the very slot: each reaches its own callback.
        let other = fake::new_ctx();
        assert!(slots::claim_at(slot, other));
        slots::get(slot).set_callback(Kind::Remove, app_remove_other as *const () as usize);
        REMOVE_CTX.store(0, Ordering::SeqCst);
        remove_tramp(ctx, std::ptr::null_mut());
        assert_eq!(REMOVE_CTX.load(Ordering::SeqCst), ctx as usize);
        assert_eq!(get_in(Some(lib), Kind::Remove, ctx, TRAMPOLINES), remove);
        remove_tramp(other, std::ptr::null_mut());
        assert_eq!(REMOVE_OTHER.load(Ordering::SeqCst), other as usize);
        assert!(slots::release(slot, other, stats::retire_slot));

        // A setter on the dying ctx installs without taking a slot (a
        // shared trampoline; Kind::New: shared's own test fills Get's pool).
        set_in(Some(lib), Kind::New, ctx, new_addr(app_new_b), TRAMPOLINES);
        assert_eq!(slots::find(ctx), None);
        assert!(TRAMPOLINES.shared_index_of(Kind::New, fake::field(ctx, Kind::New)).is_some());
        assert_eq!(get_in(Some(lib), Kind::New, ctx, TRAMPOLINES), new_addr(app_new_b));
        assert_eq!(get_in(Some(lib), Kind::Remove, ctx, TRAMPOLINES), remove);

        // A new ctx at the same address: fields zero, getters NULL.
        fake::reset(ctx);
        for kind in Kind::ALL {
            assert_eq!(get_in(Some(lib), kind, ctx, TRAMPOLINES), 0);
        }
        set_in(Some(lib), Kind::New, ctx, new_addr(app_new_b), TRAMPOLINES);
        assert!(slots::find(ctx).is_some(), "a new ctx gets a slot again");
        free_ex_data(ctx);
        fake::drop_ctx(ctx);
        fake::drop_ctx(other);
    }
}

#[test]
fn once_every_slot_is_taken_ctxs_share_exact_function_keyed_trampolines() {
    let _table = GLOBAL_TABLE.lock().unwrap_or_else(|e| e.into_inner());
    let lib = fake::libssl();
    let mut ctxs = Vec::new();
    // SAFETY: every ctx is a live fake ctx of `lib` until `drop_ctx`.
    unsafe {
        // Fill the slot table.
        loop {
            let ctx = fake::new_ctx();
            set_in(Some(lib), Kind::Remove, ctx, app_remove as *const () as usize, TRAMPOLINES);
            ctxs.push(ctx);
            if slots::find(ctx).is_none() {
                break;
            }
        }
        let overflow = *ctxs.last().unwrap();
        let installed = fake::field(overflow, Kind::Remove);
        assert!(TRAMPOLINES.shared_index_of(Kind::Remove, installed).is_some());
        assert_eq!(get_in(Some(lib), Kind::Remove, overflow, TRAMPOLINES), app_remove as *const () as usize);
        let tramp = callbacks::remove_from_address(installed).unwrap();
        tramp(overflow, std::ptr::null_mut());
        assert_eq!(REMOVE_CTX.load(Ordering::SeqCst), overflow as usize);
        for ctx in ctxs {
            free_ex_data(ctx);
            fake::drop_ctx(ctx);
        }
    }
}
