//! A fake libssl for unit tests: a "ctx" is a struct with the three callback
//! fields, and the functions behave like OpenSSL's. What OpenSSL's
//! `SSL_CTX_free` does last (run the ex_data free function) is the test's
//! to call, with [`EX_INDEX`].

use std::ffi::c_int;
use std::sync::OnceLock;

use super::handle::Libssl;
use crate::ffi::callbacks::{self, Address, Kind};
use crate::ffi::types::{GetSessionCb, NewSessionCb, RemoveSessionCb, SslCtx};
use crate::observe::trace::FoundBy;

/// The fake's sesscb ex_data index: pass it to the ex_data free logic.
pub const EX_INDEX: c_int = 3;

#[repr(C)]
struct FakeCtx {
    fields: [Address; 3],
}

pub fn new_ctx() -> *mut SslCtx {
    Box::into_raw(Box::new(FakeCtx { fields: [0; 3] })).cast()
}

/// # Safety
/// `ctx` from `new_ctx`, not yet dropped.
pub unsafe fn drop_ctx(ctx: *mut SslCtx) {
    // SAFETY: the caller guarantees `ctx` came from `new_ctx`'s Box.
    drop(unsafe { Box::from_raw(ctx.cast::<FakeCtx>()) });
}

/// What is stored in the ctx's field now.
pub fn field(ctx: *mut SslCtx, kind: Kind) -> Address {
    // SAFETY: `ctx` comes from `new_ctx` (a live FakeCtx), as every test passes.
    unsafe { (*ctx.cast::<FakeCtx>()).fields[kind.index()] }
}

/// A new ctx allocated at a freed one's address: all zero.
pub unsafe fn reset(ctx: *mut SslCtx) {
    // SAFETY: `ctx` comes from `new_ctx` (a live FakeCtx), as every test passes.
    unsafe { *ctx.cast::<FakeCtx>() = FakeCtx { fields: [0; 3] } };
}

unsafe extern "C" fn set_new(ctx: *mut SslCtx, cb: NewSessionCb) {
    // SAFETY: `ctx` comes from `new_ctx` (a live FakeCtx), as every test passes.
    unsafe { (*ctx.cast::<FakeCtx>()).fields[0] = callbacks::new_address(cb) }
}
unsafe extern "C" fn set_remove(ctx: *mut SslCtx, cb: RemoveSessionCb) {
    // SAFETY: `ctx` comes from `new_ctx` (a live FakeCtx), as every test passes.
    unsafe { (*ctx.cast::<FakeCtx>()).fields[1] = callbacks::remove_address(cb) }
}
unsafe extern "C" fn set_get(ctx: *mut SslCtx, cb: GetSessionCb) {
    // SAFETY: `ctx` comes from `new_ctx` (a live FakeCtx), as every test passes.
    unsafe { (*ctx.cast::<FakeCtx>()).fields[2] = callbacks::get_address(cb) }
}
unsafe extern "C" fn get_new(ctx: *mut SslCtx) -> NewSessionCb {
    // SAFETY: `ctx` comes from `new_ctx` (a live FakeCtx), as every test passes.
    let address = unsafe { (*ctx.cast::<FakeCtx>()).fields[0] };
    callbacks::new_from_address(address)
}
unsafe extern "C" fn get_remove(ctx: *mut SslCtx) -> RemoveSessionCb {
    // SAFETY: `ctx` comes from `new_ctx` (a live FakeCtx), as every test passes.
    let address = unsafe { (*ctx.cast::<FakeCtx>()).fields[1] };
    callbacks::remove_from_address(address)
}
unsafe extern "C" fn get_get(ctx: *mut SslCtx) -> GetSessionCb {
    // SAFETY: `ctx` comes from `new_ctx` (a live FakeCtx), as every test passes.
    let address = unsafe { (*ctx.cast::<FakeCtx>()).fields[2] };
    callbacks::get_from_address(address)
}

pub fn libssl() -> &'static Libssl {
    static LIB: OnceLock<Libssl> = OnceLock::new();
    LIB.get_or_init(|| Libssl {
        path: "fake".into(),
        base: 1,
        version: 0,
        found_by: FoundBy::Test,
        set_new,
        set_remove,
        set_get,
        get_new,
        get_remove,
        get_get,
        session_get_id: None,
        get_ssl_ctx: None,
        remove_session: None,
        ctx_get_ssl_method: None,
        image: (0, 0),
        ex_index: EX_INDEX,
    })
}
