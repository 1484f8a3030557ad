//! The libssl functions the store needs, found in the very libssl that
//! made the ctx (and its libcrypto) the first time the store touches it.
//!
//! Resolved only when the store is on, so a process without a store
//! resolves and registers nothing more than before. Every function used
//! exists with the same prototype in 1.1.1, 3.x and 4.0.

use std::ffi::{CString, c_int, c_long, c_uint, c_void};
use std::sync::OnceLock;

use crate::ffi::types::{Ssl, SslCtx, SslSession};
use crate::libssl::handle::Libssl;
use crate::libssl::resolver;
use crate::sync::fork_aware_lock::ForkAwareLock;

/// `SSL_OP_NO_TICKET`, the same bit in every line.
const OP_NO_TICKET: u64 = 1 << 14;
/// `SSL_OP_NO_ANTI_REPLAY`, the same bit in every line.
const OP_NO_ANTI_REPLAY: u64 = 1 << 24;
const TLS1_3_VERSION: c_int = 0x0304;
const CRYPTO_EX_INDEX_SSL_SESSION: c_int = 2;
/// `SSL_CTRL_GET_SESS_CACHE_MODE` and `SSL_SESS_CACHE_SERVER`, the same in
/// every line.
const CTRL_GET_SESS_CACHE_MODE: c_int = 45;
const SESS_CACHE_SERVER: c_long = 2;

type GetExNewIndex =
    unsafe extern "C" fn(c_int, c_long, *mut c_void, *mut c_void, *mut c_void, *mut c_void) -> c_int;

/// One libssl's session functions.
pub struct SessionApi {
    i2d: unsafe extern "C" fn(*const SslSession, *mut *mut u8) -> c_int,
    d2i: unsafe extern "C" fn(*mut *mut SslSession, *mut *const u8, c_long) -> *mut SslSession,
    get_id: unsafe extern "C" fn(*const SslSession, *mut c_uint) -> *const u8,
    free: unsafe extern "C" fn(*mut SslSession),
    get_time: unsafe extern "C" fn(*const SslSession) -> c_long,
    get_timeout: unsafe extern "C" fn(*const SslSession) -> c_long,
    set_timeout: unsafe extern "C" fn(*mut SslSession, c_long) -> c_long,
    protocol_version: unsafe extern "C" fn(*const SslSession) -> c_int,
    is_server: unsafe extern "C" fn(*const Ssl) -> c_int,
    options: unsafe extern "C" fn(*const Ssl) -> u64,
    max_early_data: unsafe extern "C" fn(*const Ssl) -> u32,
    ctx_ctrl: unsafe extern "C" fn(*mut SslCtx, c_int, c_long, *mut c_void) -> c_long,
    /// `SSL_CTX_set_options` (1.1.1's `unsigned long` is 64 bits on LP64).
    ctx_set_options: unsafe extern "C" fn(*mut SslCtx, u64) -> u64,
    set_ex_data: unsafe extern "C" fn(*mut SslSession, c_int, *mut c_void) -> c_int,
    get_ex_data: unsafe extern "C" fn(*const SslSession, c_int) -> *mut c_void,
    /// sesscb's SSL_SESSION ex_data index: the original authentication time.
    auth_index: c_int,
    /// OpenSSL's major and minor version, for the envelope.
    pub major: u8,
    pub minor: u8,
}

/// The few libssls a process holds, each with its API once resolved.
static APIS: [OnceLock<(usize, Option<SessionApi>)>; 4] = [const { OnceLock::new() }; 4];
static APIS_LOCK: ForkAwareLock = ForkAwareLock::new();

/// The session API of `lib`, resolved on first use; None if a function is
/// missing (then the store leaves that libssl alone).
pub fn api(lib: &Libssl) -> Option<&'static SessionApi> {
    for cell in &APIS {
        match cell.get() {
            Some((base, api)) if *base == lib.base => return api.as_ref(),
            Some(_) => continue,
            None => {
                let _guard = APIS_LOCK.lock();
                if cell.get().is_none() {
                    let _ = cell.set((lib.base, resolve(lib)));
                }
                if let Some((base, api)) = cell.get()
                    && *base == lib.base
                {
                    return api.as_ref();
                }
            }
        }
    }
    None
}

fn resolve(lib: &Libssl) -> Option<SessionApi> {
    let handle = resolver::noload(&CString::new(lib.path.as_bytes()).ok()?)?;
    macro_rules! sym {
        ($name:literal) => {{
            // SAFETY: a live handle; a symbol of this name in libssl or
            // libcrypto has the prototype declared in SessionApi in every
            // supported line.
            unsafe { resolver::typed_symbol(handle, $name)? }
        }};
    }
    let new_index: GetExNewIndex = sym!(c"CRYPTO_get_ex_new_index");
    let null = std::ptr::null_mut();
    // SAFETY: registers an SSL_SESSION ex_data index with no callbacks.
    let auth_index = unsafe { new_index(CRYPTO_EX_INDEX_SSL_SESSION, 0, null, null, null, null) };
    if auth_index < 0 {
        return None;
    }
    let (major, minor) = version_parts(lib.version);
    Some(SessionApi {
        i2d: sym!(c"i2d_SSL_SESSION"),
        d2i: sym!(c"d2i_SSL_SESSION"),
        get_id: sym!(c"SSL_SESSION_get_id"),
        free: sym!(c"SSL_SESSION_free"),
        get_time: sym!(c"SSL_SESSION_get_time"),
        get_timeout: sym!(c"SSL_SESSION_get_timeout"),
        set_timeout: sym!(c"SSL_SESSION_set_timeout"),
        protocol_version: sym!(c"SSL_SESSION_get_protocol_version"),
        is_server: sym!(c"SSL_is_server"),
        options: sym!(c"SSL_get_options"),
        max_early_data: sym!(c"SSL_get_max_early_data"),
        ctx_ctrl: sym!(c"SSL_CTX_ctrl"),
        ctx_set_options: sym!(c"SSL_CTX_set_options"),
        set_ex_data: sym!(c"SSL_SESSION_set_ex_data"),
        get_ex_data: sym!(c"SSL_SESSION_get_ex_data"),
        auth_index,
        major,
        minor,
    })
}

/// `OpenSSL_version_num()` as (major, minor): the top nibble and the next
/// byte, in 1.1.1's 0xMNNFFPPS and 3.x's 0xMNN00PP0 alike.
fn version_parts(version: u64) -> (u8, u8) {
    let major = ((version >> 28) & 0xF) as u8;
    let minor = ((version >> 20) & 0xFF) as u8;
    (major, minor)
}

impl SessionApi {
    /// # Safety
    /// `ssl` must be OpenSSL's live argument.
    pub unsafe fn is_server(&self, ssl: *const Ssl) -> bool {
        // SAFETY: the caller guarantees `ssl`.
        unsafe { (self.is_server)(ssl) == 1 }
    }

    /// Whether `ctx`'s session cache mode includes the server side
    /// (`SSL_CTX_get_session_cache_mode(ctx) & SSL_SESS_CACHE_SERVER`).
    ///
    /// # Safety
    /// `ctx` must be a live ctx of this libssl.
    pub unsafe fn server_cache_on(&self, ctx: *mut SslCtx) -> bool {
        // SAFETY: the caller guarantees `ctx`; this control only reads.
        unsafe {
            (self.ctx_ctrl)(ctx, CTRL_GET_SESS_CACHE_MODE, 0, std::ptr::null_mut()) & SESS_CACHE_SERVER != 0
        }
    }

    /// Sets `SSL_OP_NO_TICKET` on `ctx`: TLS 1.3 sessions become stateful
    /// (looked up by id, so the store can share them) and TLS 1.2 resumes by
    /// session id instead of tickets.
    ///
    /// # Safety
    /// `ctx` must be a live ctx of this libssl.
    pub unsafe fn set_no_ticket(&self, ctx: *mut SslCtx) {
        // SAFETY: the caller guarantees `ctx`; this only sets an option bit.
        unsafe { (self.ctx_set_options)(ctx, OP_NO_TICKET) };
    }

    /// Whether a TLS 1.3 session on `ssl` can ever be asked of a get
    /// callback: tickets off, or early data with anti-replay (stateful).
    ///
    /// # Safety
    /// `ssl` must be OpenSSL's live argument.
    pub unsafe fn tls13_stateful(&self, ssl: *const Ssl) -> bool {
        // SAFETY: the caller guarantees `ssl`.
        let (options, early) = unsafe { ((self.options)(ssl), (self.max_early_data)(ssl)) };
        options & OP_NO_TICKET != 0 || (early > 0 && options & OP_NO_ANTI_REPLAY == 0)
    }

    /// # Safety
    /// `sess` must be a live session.
    pub unsafe fn is_tls13(&self, sess: *const SslSession) -> bool {
        // SAFETY: the caller guarantees `sess`.
        unsafe { (self.protocol_version)(sess) == TLS1_3_VERSION }
    }

    /// The session id's bytes, copied.
    ///
    /// # Safety
    /// `sess` must be a live session.
    pub unsafe fn id(&self, sess: *const SslSession) -> Vec<u8> {
        let mut len: c_uint = 0;
        // SAFETY: the caller guarantees `sess`; the id lives in it.
        unsafe {
            let id = (self.get_id)(sess, &mut len);
            if id.is_null() { Vec::new() } else { std::slice::from_raw_parts(id, len as usize).to_vec() }
        }
    }

    /// (creation time, timeout, original authentication time), seconds.
    ///
    /// # Safety
    /// `sess` must be a live session.
    pub unsafe fn times(&self, sess: *const SslSession) -> (u64, u64, u64) {
        // SAFETY: the caller guarantees `sess`; these only read fields.
        let (created, timeout, auth) = unsafe {
            (
                (self.get_time)(sess),
                (self.get_timeout)(sess),
                (self.get_ex_data)(sess, self.auth_index) as usize,
            )
        };
        let created = created.max(0) as u64;
        (created, timeout.max(0) as u64, if auth == 0 { created } else { auth as u64 })
    }

    /// Releases `sess` if the application handed its reference over
    /// (`*copy` 0, or no `copy`), as OpenSSL would have.
    ///
    /// # Safety
    /// `sess` must be a live session; `copy` NULL or a live `int`.
    pub unsafe fn release_unless_copied(&self, sess: *mut SslSession, copy: *const c_int) {
        // SAFETY: the caller guarantees `copy`; with 0 the reference is ours.
        if copy.is_null() || unsafe { *copy } == 0 {
            // SAFETY: as above.
            unsafe { (self.free)(sess) };
        }
    }

    /// Attaches the original authentication time to `sess`.
    ///
    /// # Safety
    /// `sess` must be a live session no other thread is changing.
    pub unsafe fn set_authentication(&self, sess: *mut SslSession, authenticated: u64) {
        // SAFETY: the caller guarantees `sess`; the value is a plain number.
        let _ = unsafe { (self.set_ex_data)(sess, self.auth_index, authenticated as usize as *mut c_void) };
    }

    /// Sets OpenSSL's own timeout of `sess` (seconds), shorter than it was.
    ///
    /// # Safety
    /// `sess` must be a live session; this thread holds no ctx lock (on 3.x
    /// OpenSSL takes the owning ctx's).
    pub unsafe fn limit_timeout(&self, sess: *mut SslSession, timeout: u64) {
        // SAFETY: the caller guarantees `sess` and the lock.
        let _ = unsafe { (self.set_timeout)(sess, timeout.min(c_long::MAX as u64) as c_long) };
    }

    /// The DER of `sess`, if it serialises within `max` bytes.
    ///
    /// # Safety
    /// `sess` must be a live session.
    pub unsafe fn to_der(&self, sess: *const SslSession, max: usize) -> Option<Vec<u8>> {
        // SAFETY: the caller guarantees `sess`; a NULL output asks the length.
        let len = unsafe { (self.i2d)(sess, std::ptr::null_mut()) };
        if len <= 0 || len as usize > max {
            return None;
        }
        let mut der = vec![0u8; len as usize];
        let mut out = der.as_mut_ptr();
        // SAFETY: `der` has exactly the `len` bytes i2d said it writes.
        let written = unsafe { (self.i2d)(sess, &mut out) };
        (written == len).then_some(der)
    }

    /// A new session from `der`, with OpenSSL's expiry moved to `expiry`
    /// and the original authentication time attached; the caller owns the
    /// one reference.
    pub fn materialise(&self, der: &[u8], expiry: u64, authenticated: u64) -> Option<*mut SslSession> {
        let mut input = der.as_ptr();
        // SAFETY: d2i reads at most `len` bytes from `input`.
        let sess = unsafe { (self.d2i)(std::ptr::null_mut(), &mut input, der.len() as c_long) };
        if sess.is_null() {
            return None;
        }
        // SAFETY: `sess` is the live session d2i just made; we own it.
        unsafe {
            let created = (self.get_time)(sess).max(0) as u64;
            let timeout = expiry.saturating_sub(created).min(c_long::MAX as u64) as c_long;
            let _ = (self.set_timeout)(sess, timeout);
            (self.set_ex_data)(sess, self.auth_index, authenticated as usize as *mut c_void);
        }
        Some(sess)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versions_split_into_major_and_minor() {
        assert_eq!(version_parts(0x1010117f), (1, 1));
        assert_eq!(version_parts(0x30000130), (3, 0));
        assert_eq!(version_parts(0x30500070), (3, 5));
        assert_eq!(version_parts(0x40000020), (4, 0));
    }
}
