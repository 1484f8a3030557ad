//! Foreign types. OpenSSL's objects are opaque to sesscb: it stores and
//! passes their pointers, never dereferences them.

use std::ffi::{c_int, c_uchar};
use std::marker::{PhantomData, PhantomPinned};

/// OpenSSL's `SSL_CTX` (`struct ssl_ctx_st`), opaque.
pub struct SslCtx {
    _opaque: [u8; 0],
    _not_send_sync_unpin: PhantomData<(*mut u8, PhantomPinned)>,
}

/// OpenSSL's `SSL` (`struct ssl_st`), opaque.
pub struct Ssl {
    _opaque: [u8; 0],
    _not_send_sync_unpin: PhantomData<(*mut u8, PhantomPinned)>,
}

/// OpenSSL's `SSL_SESSION` (`struct ssl_session_st`), opaque.
pub struct SslSession {
    _opaque: [u8; 0],
    _not_send_sync_unpin: PhantomData<(*mut u8, PhantomPinned)>,
}

/// `int (*new_session_cb)(SSL *, SSL_SESSION *)`, non-NULL.
pub type NewSessionFn = unsafe extern "C" fn(*mut Ssl, *mut SslSession) -> c_int;
/// `void (*remove_session_cb)(SSL_CTX *, SSL_SESSION *)`, non-NULL.
pub type RemoveSessionFn = unsafe extern "C" fn(*mut SslCtx, *mut SslSession);
/// `SSL_SESSION *(*get_session_cb)(SSL *, const unsigned char *, int, int *)`, non-NULL.
pub type GetSessionFn = unsafe extern "C" fn(*mut Ssl, *const c_uchar, c_int, *mut c_int) -> *mut SslSession;

// The nullable forms that cross the C ABI (Rust guarantees `Option<fn>` has
// the layout of a C function pointer, NULL being `None`). Spelled out rather
// than `Option<NewSessionFn>` so cbindgen emits C function-pointer typedefs.

/// `int (*)(SSL *, SSL_SESSION *)`: OpenSSL's new-session callback type.
pub type NewSessionCb = Option<unsafe extern "C" fn(*mut Ssl, *mut SslSession) -> c_int>;
/// `void (*)(SSL_CTX *, SSL_SESSION *)`: OpenSSL's remove-session callback type.
pub type RemoveSessionCb = Option<unsafe extern "C" fn(*mut SslCtx, *mut SslSession)>;
/// `SSL_SESSION *(*)(SSL *, const unsigned char *, int, int *)`: OpenSSL's
/// get-session callback type.
pub type GetSessionCb =
    Option<unsafe extern "C" fn(*mut Ssl, *const c_uchar, c_int, *mut c_int) -> *mut SslSession>;
