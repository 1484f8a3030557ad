//! sesscb's SSL_CTX ex_data free function: OpenSSL calls it (by pointer,
//! from `SSL_CTX_free`) for every ctx it frees. sesscb stores no ex_data
//! value; the function only tells the registry which ctx is going.

use std::ffi::{c_int, c_long, c_void};

use crate::ffi::types::SslCtx;
use crate::registry::lifecycle;

/// The SSL_CTX ex_data free function (`CRYPTO_EX_free`), registered by the
/// resolver in every libssl it uses; see `registry::lifecycle`.
pub(crate) unsafe extern "C" fn ctx_ex_data_free(
    parent: *mut c_void,
    _value: *mut c_void,
    _ad: *mut c_void,
    index: c_int,
    _argl: c_long,
    _argp: *mut c_void,
) {
    ffi_boundary!("ctx_ex_data_free", { lifecycle::ctx_freed(parent.cast::<SslCtx>(), index) })
}
