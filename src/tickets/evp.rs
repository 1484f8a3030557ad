//! The EVP form of the ticket key callback (`SSL_CTX_set_tlsext_ticket_key_evp_cb`,
//! OpenSSL 3.x and 4.0): the setter and the `EVP_MAC` functions that give
//! OpenSSL's HMAC context its key, found in the ctx's own libssl and
//! libcrypto. Absent in 1.1.1 (then only the legacy form exists).
//!
//! OpenSSL's contract (SSL_CTX_set_tlsext_ticket_key_cb(3)): the callback
//! sets the HMAC key and digest with `EVP_MAC_CTX_set_params`
//! (`OSSL_MAC_PARAM_KEY`, `OSSL_MAC_PARAM_DIGEST`); OpenSSL then runs the MAC.

use std::ffi::{c_char, c_int, c_uchar, c_uint, c_void};

use crate::ffi::types::{Ssl, SslCtx};
use crate::libssl::resolver;

/// The EVP callback's prototype (the last pointer an `EVP_MAC_CTX`); the
/// same C types as the legacy one's, so one set of callbacks serves both.
pub(super) type EvpTicketKeyCb =
    unsafe extern "C" fn(*mut Ssl, *mut c_uchar, *mut c_uchar, *mut c_void, *mut c_void, c_int) -> c_int;

/// `OSSL_PARAM`, as OpenSSL 3.x and 4.0 lay it out (include/openssl/core.h).
#[repr(C)]
struct OsslParam {
    key: *const c_char,
    data_type: c_uint,
    data: *mut c_void,
    data_size: usize,
    return_size: usize,
}

type Construct = unsafe extern "C" fn(*const c_char, *mut c_void, usize) -> OsslParam;

/// One libssl's EVP-form functions.
pub struct EvpApi {
    set_cb: unsafe extern "C" fn(*mut SslCtx, Option<EvpTicketKeyCb>) -> c_int,
    set_params: unsafe extern "C" fn(*mut c_void, *const OsslParam) -> c_int,
    octet_string: Construct,
    utf8_string: Construct,
    end: unsafe extern "C" fn() -> OsslParam,
}

/// The EVP-form functions behind `handle` (the ctx's libssl, whose
/// libcrypto it links); None when any is missing (1.1.1).
///
/// # Safety
/// `handle` must be a live dlopen handle.
pub unsafe fn resolve(handle: *mut c_void) -> Option<EvpApi> {
    macro_rules! evp_sym {
        ($name:literal) => {{
            // SAFETY: a live handle; a symbol of this name in libssl or
            // libcrypto 3.x/4.0 has the prototype declared in EvpApi.
            unsafe { resolver::typed_symbol(handle, $name)? }
        }};
    }
    Some(EvpApi {
        set_cb: evp_sym!(c"SSL_CTX_set_tlsext_ticket_key_evp_cb"),
        set_params: evp_sym!(c"EVP_MAC_CTX_set_params"),
        octet_string: evp_sym!(c"OSSL_PARAM_construct_octet_string"),
        utf8_string: evp_sym!(c"OSSL_PARAM_construct_utf8_string"),
        end: evp_sym!(c"OSSL_PARAM_construct_end"),
    })
}

impl EvpApi {
    /// Installs `cb` as `ctx`'s EVP ticket key callback; false if refused.
    ///
    /// # Safety
    /// `ctx` must be a live ctx of this libssl, not yet shared; `cb` must
    /// take the EVP callback's arguments (same C types as the legacy one's
    /// but for the MAC context, which it treats as an `EVP_MAC_CTX`).
    pub unsafe fn install(&self, ctx: *mut SslCtx, cb: EvpTicketKeyCb) -> bool {
        // SAFETY: as the caller guarantees; the setter stores the pointer.
        unsafe { (self.set_cb)(ctx, Some(cb)) == 1 }
    }

    /// Gives OpenSSL's `EVP_MAC_CTX` `mac` the HMAC-SHA256 key `key`.
    ///
    /// # Safety
    /// `mac` must be the live `EVP_MAC_CTX` OpenSSL passed the callback.
    pub unsafe fn set_hmac_key(&self, mac: *mut c_void, key: &[u8]) -> bool {
        // SAFETY: the constructors only record the pointers and sizes;
        // set_params reads `key` and the digest name while they are alive.
        unsafe {
            let digest = c"SHA256".as_ptr().cast_mut().cast::<c_void>();
            let params = [
                (self.octet_string)(c"key".as_ptr(), key.as_ptr().cast_mut().cast(), key.len()),
                (self.utf8_string)(c"digest".as_ptr(), digest, 0),
                (self.end)(),
            ];
            (self.set_params)(mac, params.as_ptr()) == 1
        }
    }
}
