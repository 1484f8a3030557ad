//! The real `SSL_CTX_new` and `SSL_CTX_new_ex` behind sesscb's own, for the
//! store's provide mode (a server that set no callbacks is seen from its
//! ctx's birth).
//!
//! The libssl that must make the ctx is the one whose image holds the
//! `SSL_METHOD` argument (methods are static data of their libssl): with
//! two libssls in a process, a plugin's call must reach the plugin's
//! libssl, whatever libssl the loader bound it to first. Finding it
//! registers nothing and loads nothing, so with the store off these calls
//! stay pure pass-through.

use std::ffi::{c_char, c_void};
use std::sync::atomic::{AtomicUsize, Ordering};

use super::resolver;
use crate::ffi::types::SslCtx;

pub type CtxNewFn = unsafe extern "C" fn(*const c_void) -> *mut SslCtx;
pub type CtxNewExFn = unsafe extern "C" fn(*mut c_void, *const c_char, *const c_void) -> *mut SslCtx;

/// (SSL_METHOD address, SSL_CTX_new, SSL_CTX_new_ex or 0) per method seen.
/// Keyed by the method, not its libssl, so only a method's first ctx asks
/// the loader (`dladdr` takes the loader's lock: a ctx made in a child forked
/// while another thread held it must not need it).
static SEEN: [[AtomicUsize; 3]; 16] = [const { [const { AtomicUsize::new(0) }; 3] }; 16];

/// The real `SSL_CTX_new` of the libssl that owns `method`, else of the
/// next libssl after sesscb (a NULL or unknown method: OpenSSL answers).
pub fn real_new(method: *const c_void) -> Option<CtxNewFn> {
    let (new, _) = real_pair(method)?;
    // SAFETY: a non-zero entry is the address of SSL_CTX_new.
    Some(unsafe { std::mem::transmute::<usize, CtxNewFn>(new) })
}

/// The real `SSL_CTX_new_ex` of the libssl that owns `method` (3.0 on).
pub fn real_new_ex(method: *const c_void) -> Option<CtxNewExFn> {
    let (_, new_ex) = real_pair(method)?;
    // SAFETY: a non-zero entry is the address of SSL_CTX_new_ex.
    (new_ex != 0).then(|| unsafe { std::mem::transmute::<usize, CtxNewExFn>(new_ex) })
}

fn real_pair(method: *const c_void) -> Option<(usize, usize)> {
    let key = method as usize;
    for entry in &SEEN {
        if entry[0].load(Ordering::Acquire) == key && key != 0 {
            return Some((entry[1].load(Ordering::Relaxed), entry[2].load(Ordering::Relaxed)));
        }
    }
    let found = match in_owner(method) {
        Some(found) => found,
        None => return next_after_sesscb(),
    };
    // Remember it in a free entry; racing writers store the same values.
    if let Some(entry) = SEEN.iter().find(|e| e[0].load(Ordering::Acquire) == 0) {
        entry[1].store(found.0, Ordering::Relaxed);
        entry[2].store(found.1, Ordering::Relaxed);
        entry[0].store(key, Ordering::Release);
    }
    Some(found)
}

/// `SSL_CTX_new`/`_ex` as the object holding `method` (a loaded libssl)
/// sees them; None for NULL or an address in no libssl.
fn in_owner(method: *const c_void) -> Option<(usize, usize)> {
    if method.is_null() {
        return None;
    }
    let handle = resolver::noload(&resolver::object_path(method.cast_mut())?)?;
    // SAFETY: dlsym on a live handle with C string literals.
    let (new, new_ex) = unsafe {
        (libc::dlsym(handle, c"SSL_CTX_new".as_ptr()), libc::dlsym(handle, c"SSL_CTX_new_ex".as_ptr()))
    };
    let own = resolver::own_base();
    let usable = |p: *mut c_void| !p.is_null() && resolver::object_base(p) != own;
    usable(new).then_some((new as usize, if usable(new_ex) { new_ex as usize } else { 0 }))
}

fn next_after_sesscb() -> Option<(usize, usize)> {
    // SAFETY: dlsym(RTLD_NEXT) with C string literals from sesscb's code.
    let (new, new_ex) = unsafe {
        (
            libc::dlsym(libc::RTLD_NEXT, c"SSL_CTX_new".as_ptr()),
            libc::dlsym(libc::RTLD_NEXT, c"SSL_CTX_new_ex".as_ptr()),
        )
    };
    (!new.is_null()).then_some((new as usize, new_ex as usize))
}
