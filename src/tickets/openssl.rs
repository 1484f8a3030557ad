//! The libssl and libcrypto functions the ticket keys need, found in the
//! libssl that made the ctx (and the libcrypto it links), once per libssl.
//!
//! sesscb's callback is by default the `SSL_CTX_set_tlsext_ticket_key_cb`
//! form (`SSL_CTX_callback_ctrl`, HMAC_CTX), present in 1.1.1, 3.x and 4.0:
//! an application that sets either form of its own wins, because its legacy
//! callback replaces ours in the same field and OpenSSL 3.x/4.0 prefer an
//! EVP callback to a legacy one. The EVP form's functions ([`EvpApi`]) are
//! resolved too where they exist (src/tickets/form.rs says when it is used).

use std::ffi::{CString, c_int, c_long, c_uchar, c_void};
use std::sync::OnceLock;

use super::evp::{self, EvpApi};
use crate::ffi::types::{Ssl, SslCtx};
use crate::libssl::handle::Libssl;
use crate::libssl::resolver;
use crate::sync::fork_aware_lock::ForkAwareLock;

const CTRL_GET_TICKET_KEYS: c_int = 58;
const CTRL_SET_TICKET_KEY_CB: c_int = 72;
const CRYPTO_EX_INDEX_SSL_CTX: c_int = 1;
/// Length of OpenSSL's own ticket keys as the GET control copies them:
/// name (16), HMAC key (32), AES key (32), in every line.
pub const OWN_KEYS_LEN: usize = 80;

/// The legacy ticket key callback's prototype.
pub type TicketKeyCb =
    unsafe extern "C" fn(*mut Ssl, *mut c_uchar, *mut c_uchar, *mut c_void, *mut c_void, c_int) -> c_int;
/// `CRYPTO_EX_free`.
pub type ExFree = unsafe extern "C" fn(*mut c_void, *mut c_void, *mut c_void, c_int, c_long, *mut c_void);

/// One libssl's ticket functions.
pub struct TicketApi {
    callback_ctrl: unsafe extern "C" fn(*mut SslCtx, c_int, Option<unsafe extern "C" fn()>) -> c_long,
    ctx_ctrl: unsafe extern "C" fn(*mut SslCtx, c_int, c_long, *mut c_void) -> c_long,
    get_ssl_ctx: unsafe extern "C" fn(*const Ssl) -> *mut SslCtx,
    get_ex_data: unsafe extern "C" fn(*const SslCtx, c_int) -> *mut c_void,
    set_ex_data: unsafe extern "C" fn(*mut SslCtx, c_int, *mut c_void) -> c_int,
    pub aes_256_cbc: unsafe extern "C" fn() -> *const c_void,
    pub sha256: unsafe extern "C" fn() -> *const c_void,
    pub encrypt_init:
        unsafe extern "C" fn(*mut c_void, *const c_void, *mut c_void, *const u8, *const u8) -> c_int,
    pub decrypt_init:
        unsafe extern "C" fn(*mut c_void, *const c_void, *mut c_void, *const u8, *const u8) -> c_int,
    /// The legacy form's HMAC setup; None where the libcrypto was built
    /// without the deprecated API (then only the EVP form can be used).
    pub hmac_init:
        Option<unsafe extern "C" fn(*mut c_void, *const c_void, c_int, *const c_void, *mut c_void) -> c_int>,
    /// sesscb's SSL_CTX ex_data index holding the keys OpenSSL drew.
    ex_index: c_int,
    /// The EVP form's functions; None in 1.1.1.
    pub evp: Option<EvpApi>,
}

/// The few libssls a process holds; a slot's index picks its callback.
pub const SLOTS: usize = 4;
static APIS: [OnceLock<(usize, Option<TicketApi>)>; SLOTS] = [const { OnceLock::new() }; SLOTS];
static APIS_LOCK: ForkAwareLock = ForkAwareLock::new();

/// The slot of `lib` and its API, resolved on first use; None if a
/// function is missing or every slot is taken.
pub fn slot_of(lib: &Libssl, free: ExFree) -> Option<(usize, &'static TicketApi)> {
    for (index, cell) in APIS.iter().enumerate() {
        if cell.get().is_none() {
            let _guard = APIS_LOCK.lock();
            if cell.get().is_none() {
                let _ = cell.set((lib.base, resolve(lib, free)));
            }
        }
        match cell.get() {
            Some((base, api)) if *base == lib.base => return api.as_ref().map(|a| (index, a)),
            _ => continue,
        }
    }
    None
}

/// The API of slot `index`, once resolved.
#[inline]
pub fn slot(index: usize) -> Option<&'static TicketApi> {
    APIS.get(index)?.get()?.1.as_ref()
}

fn resolve(lib: &Libssl, free: ExFree) -> Option<TicketApi> {
    let handle = resolver::noload(&CString::new(lib.path.as_bytes()).ok()?)?;
    macro_rules! ticket_sym {
        ($name:literal) => {{
            // SAFETY: a live handle; a symbol of this name in libssl or
            // libcrypto has the prototype declared in TicketApi in 1.1.1,
            // 3.x and 4.0.
            unsafe { resolver::typed_symbol(handle, $name)? }
        }};
    }
    type NewIndex =
        unsafe extern "C" fn(c_int, c_long, *mut c_void, *mut c_void, *mut c_void, ExFree) -> c_int;
    let new_index: NewIndex = ticket_sym!(c"CRYPTO_get_ex_new_index");
    let null = std::ptr::null_mut();
    // SAFETY: registers an SSL_CTX ex_data index whose free function
    // releases what on_ctx_new attached.
    let ex_index = unsafe { new_index(CRYPTO_EX_INDEX_SSL_CTX, 0, null, null, null, free) };
    (ex_index >= 0).then_some(())?;
    Some(TicketApi {
        callback_ctrl: ticket_sym!(c"SSL_CTX_callback_ctrl"),
        ctx_ctrl: ticket_sym!(c"SSL_CTX_ctrl"),
        get_ssl_ctx: ticket_sym!(c"SSL_get_SSL_CTX"),
        get_ex_data: ticket_sym!(c"SSL_CTX_get_ex_data"),
        set_ex_data: ticket_sym!(c"SSL_CTX_set_ex_data"),
        aes_256_cbc: ticket_sym!(c"EVP_aes_256_cbc"),
        sha256: ticket_sym!(c"EVP_sha256"),
        encrypt_init: ticket_sym!(c"EVP_EncryptInit_ex"),
        decrypt_init: ticket_sym!(c"EVP_DecryptInit_ex"),
        // SAFETY: as ticket_sym!; absent without the deprecated API.
        hmac_init: unsafe { resolver::typed_symbol(handle, c"HMAC_Init_ex") },
        ex_index,
        // SAFETY: the live handle above.
        evp: unsafe { evp::resolve(handle) },
    })
}

impl TicketApi {
    /// The ticket keys `ctx` holds now (OpenSSL's, or the application's).
    ///
    /// # Safety
    /// `ctx` must be a live ctx of this libssl.
    pub unsafe fn own_keys(&self, ctx: *mut SslCtx) -> Option<[u8; OWN_KEYS_LEN]> {
        let mut keys = [0u8; OWN_KEYS_LEN];
        // SAFETY: the caller guarantees `ctx`; the control copies exactly
        // OWN_KEYS_LEN bytes into `keys`.
        let ok = unsafe {
            (self.ctx_ctrl)(ctx, CTRL_GET_TICKET_KEYS, OWN_KEYS_LEN as c_long, keys.as_mut_ptr().cast())
        };
        (ok == 1).then_some(keys)
    }

    /// Installs `cb` as `ctx`'s legacy ticket key callback; false if
    /// refused, or if `HMAC_Init_ex` (which it needs) is missing.
    ///
    /// # Safety
    /// `ctx` must be a live ctx of this libssl, not yet shared.
    pub unsafe fn install(&self, ctx: *mut SslCtx, cb: TicketKeyCb) -> bool {
        if self.hmac_init.is_none() {
            return false;
        }
        // SAFETY: the control stores the function pointer; OpenSSL calls
        // it with the legacy callback's arguments, which `cb` takes.
        unsafe {
            let generic = std::mem::transmute::<TicketKeyCb, unsafe extern "C" fn()>(cb);
            (self.callback_ctrl)(ctx, CTRL_SET_TICKET_KEY_CB, Some(generic)) == 1
        }
    }

    /// Attaches `data` (a leaked box the ex_data free function releases).
    ///
    /// # Safety
    /// `ctx` must be a live ctx of this libssl, not yet shared.
    pub unsafe fn attach(&self, ctx: *mut SslCtx, data: *mut c_void) -> bool {
        // SAFETY: the caller guarantees `ctx`; the index is ours.
        unsafe { (self.set_ex_data)(ctx, self.ex_index, data) == 1 }
    }

    /// What [`attach`](Self::attach) stored on the ctx `ssl` uses now.
    ///
    /// # Safety
    /// `ssl` must be OpenSSL's live argument.
    pub unsafe fn attached(&self, ssl: *const Ssl) -> (*mut SslCtx, *mut c_void) {
        // SAFETY: the caller guarantees `ssl`; both only read fields.
        unsafe {
            let ctx = (self.get_ssl_ctx)(ssl);
            if ctx.is_null() {
                (ctx, std::ptr::null_mut())
            } else {
                (ctx, (self.get_ex_data)(ctx, self.ex_index))
            }
        }
    }
}
