//! The handle on one real libssl: the functions sesscb calls in it, and
//! how to tell whether it made a given ctx. Found and built by
//! [`super::resolver`]; a process may hold two.

use std::ffi::{c_int, c_uchar, c_uint, c_void};

use crate::ffi::callbacks::{self, Address, Kind};
use crate::ffi::types::{GetSessionCb, NewSessionCb, RemoveSessionCb, Ssl, SslCtx, SslSession};
use crate::observe::trace::FoundBy;

/// `SSL_CTX_remove_session`, the same prototype in every line.
pub type RemoveSessionFn = unsafe extern "C" fn(*mut SslCtx, *mut SslSession) -> c_int;

/// The real libssl's functions that sesscb uses.
pub struct Libssl {
    pub path: String,
    /// Load base of the libssl object (its identity).
    pub base: usize,
    pub version: u64,
    pub found_by: FoundBy,
    pub(super) set_new: unsafe extern "C" fn(*mut SslCtx, NewSessionCb),
    pub(super) set_remove: unsafe extern "C" fn(*mut SslCtx, RemoveSessionCb),
    pub(super) set_get: unsafe extern "C" fn(*mut SslCtx, GetSessionCb),
    pub(super) get_new: unsafe extern "C" fn(*mut SslCtx) -> NewSessionCb,
    pub(super) get_remove: unsafe extern "C" fn(*mut SslCtx) -> RemoveSessionCb,
    pub(super) get_get: unsafe extern "C" fn(*mut SslCtx) -> GetSessionCb,
    pub(super) session_get_id: Option<unsafe extern "C" fn(*const SslSession, *mut c_uint) -> *const c_uchar>,
    pub(super) get_ssl_ctx: Option<unsafe extern "C" fn(*const Ssl) -> *mut SslCtx>,
    /// The real `SSL_CTX_remove_session`, which sesscb's own forwards to.
    pub(super) remove_session: Option<RemoveSessionFn>,
    /// `SSL_CTX_get_ssl_method`: a plain field load in every version, and the
    /// method is static data inside the libssl that made the ctx — how a ctx
    /// is attributed to its libssl ([`Libssl::owns`]). None in unit tests.
    pub(super) ctx_get_ssl_method: Option<unsafe extern "C" fn(*const SslCtx) -> *const c_void>,
    /// The address range of this libssl's mapped image.
    pub(super) image: (usize, usize),
    /// sesscb's SSL_CTX ex_data index: never given a value, registered only
    /// for its free function, which OpenSSL calls for every ctx it frees.
    pub(super) ex_index: c_int,
}

impl Libssl {
    /// The real setter: stores `address` (0 = NULL) in the ctx's field.
    ///
    /// # Safety
    /// `ctx` must be a live `SSL_CTX` of this libssl.
    pub unsafe fn set(&self, kind: Kind, ctx: *mut SslCtx, address: Address) {
        // SAFETY: the caller guarantees `ctx`; the pointer is NULL, one of our
        // trampolines, or the application's own function of this kind.
        unsafe {
            match kind {
                Kind::New => (self.set_new)(ctx, callbacks::new_from_address(address)),
                Kind::Remove => (self.set_remove)(ctx, callbacks::remove_from_address(address)),
                Kind::Get => (self.set_get)(ctx, callbacks::get_from_address(address)),
            }
        }
    }

    /// The real getter: what is stored in the ctx's field now.
    ///
    /// # Safety
    /// `ctx` must be a live `SSL_CTX` of this libssl.
    pub unsafe fn get(&self, kind: Kind, ctx: *mut SslCtx) -> Address {
        // SAFETY: the caller guarantees `ctx`; getters only load a field.
        unsafe {
            match kind {
                Kind::New => callbacks::new_address((self.get_new)(ctx)),
                Kind::Remove => callbacks::remove_address((self.get_remove)(ctx)),
                Kind::Get => callbacks::get_address((self.get_get)(ctx)),
            }
        }
    }

    /// Whether this libssl made `ctx`: its `SSL_CTX_get_ssl_method` (a plain
    /// load at the method field's offset, which differs between 1.1.1 and
    /// 3.x) returns a pointer into this libssl's image. Asking the wrong
    /// libssl reads some other field of the ctx, which is never a pointer
    /// into that libssl's code or data.
    ///
    /// # Safety
    /// `ctx` must be a live `SSL_CTX` of some libssl (its first 16 bytes
    /// readable).
    pub unsafe fn owns(&self, ctx: *mut SslCtx) -> bool {
        let Some(get_method) = self.ctx_get_ssl_method else { return true };
        // SAFETY: the caller guarantees `ctx`; the getter only loads a field.
        let method = unsafe { get_method(ctx) } as usize;
        self.image.0 <= method && method < self.image.1
    }

    /// Whether `index` is sesscb's ex_data index in this libssl.
    pub fn is_own_ex_index(&self, index: c_int) -> bool {
        index == self.ex_index
    }

    /// The session's id bytes (for the trace).
    ///
    /// # Safety
    /// `sess` must be NULL or a live `SSL_SESSION`.
    pub unsafe fn session_id<'a>(&self, sess: *const SslSession) -> &'a [u8] {
        let Some(get_id) = self.session_get_id else { return &[] };
        if sess.is_null() {
            return &[];
        }
        let mut len: c_uint = 0;
        // SAFETY: the caller guarantees `sess`; the id lives in the session.
        unsafe {
            let id = get_id(sess, &mut len);
            if id.is_null() { &[] } else { std::slice::from_raw_parts(id, len as usize) }
        }
    }

    /// This libssl's own `SSL_CTX_remove_session`, if it has one.
    pub fn remove_session_fn(&self) -> Option<RemoveSessionFn> {
        self.remove_session
    }

    /// `SSL_get_SSL_CTX(ssl)` (for the trace).
    ///
    /// # Safety
    /// `ssl` must be NULL or a live `SSL`.
    pub unsafe fn ssl_ctx_of(&self, ssl: *const Ssl) -> *mut SslCtx {
        match self.get_ssl_ctx {
            // SAFETY: the caller guarantees `ssl`.
            Some(f) if !ssl.is_null() => unsafe { f(ssl) },
            _ => std::ptr::null_mut(),
        }
    }
}
