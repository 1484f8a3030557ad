//! The ticket key callback OpenSSL calls to encrypt (`enc = 1`) and
//! decrypt (`enc = 0`) a session ticket: it only picks the keys and
//! initialises OpenSSL's own cipher and HMAC contexts with them; OpenSSL
//! does the ticket crypto, as with its own keys. Both forms (legacy:
//! `HMAC_CTX`; EVP: `EVP_MAC_CTX`) share every decision; only the MAC
//! context's setup differs.
//!
//! Returns, as OpenSSL defines: 1 = use these keys, 2 = decrypted under an
//! old key (issue a new ticket), 0 = not ours (full handshake; when
//! encrypting: no ticket). Never negative, which would abort the handshake.

use std::ffi::{c_int, c_uchar, c_void};
use std::sync::atomic::AtomicU64;

use super::current;
use super::openssl::{OWN_KEYS_LEN, SLOTS, TicketApi, TicketKeyCb, slot};
use super::schedule::{NAME_LEN, SECRET_LEN, Verdict};
use crate::ffi::types::Ssl;
use crate::observe::trace;
use crate::store::counters::{COUNTERS, count};
use crate::store::engine::unix_now;

const IV_LEN: usize = 16;

/// One callback per libssl slot, so the callback knows whose functions to
/// call without a lookup.
pub const CALLBACKS: [TicketKeyCb; SLOTS] = [
    ticket_key_cb::<0, false>,
    ticket_key_cb::<1, false>,
    ticket_key_cb::<2, false>,
    ticket_key_cb::<3, false>,
];
/// The same for the EVP form.
pub(super) const EVP_CALLBACKS: [TicketKeyCb; SLOTS] =
    [ticket_key_cb::<0, true>, ticket_key_cb::<1, true>, ticket_key_cb::<2, true>, ticket_key_cb::<3, true>];

/// OpenSSL's MAC context, by the form that was installed.
#[derive(Clone, Copy)]
enum Mac {
    /// An `HMAC_CTX` (legacy form).
    Hmac(*mut c_void),
    /// An `EVP_MAC_CTX` of HMAC (EVP form).
    Evp(*mut c_void),
}

/// The keys to use, by name, AES key and HMAC key.
struct Chosen<'a> {
    name: &'a [u8],
    aes: &'a [u8],
    hmac: &'a [u8],
}

/// One call of the callback: OpenSSL's arguments, checked once.
struct Call<'a> {
    api: &'a TicketApi,
    ssl: *mut Ssl,
    /// The ticket's key name (decrypting) or the buffer for ours.
    name: &'a mut [u8],
    iv: &'a mut [u8],
    /// OpenSSL's `EVP_CIPHER_CTX`.
    cipher: *mut c_void,
    mac: Mac,
    encrypt: bool,
}

unsafe extern "C" fn ticket_key_cb<const SLOT: usize, const EVP: bool>(
    ssl: *mut Ssl,
    name: *mut c_uchar,
    iv: *mut c_uchar,
    cipher: *mut c_void,
    mac: *mut c_void,
    enc: c_int,
) -> c_int {
    let run = std::panic::AssertUnwindSafe(|| {
        let api = slot(SLOT)?;
        // SAFETY: OpenSSL's arguments: `name` and `iv` point at 16 bytes
        // each (the ticket's, or the buffers to fill when encrypting).
        let (name, iv) = unsafe {
            (std::slice::from_raw_parts_mut(name, NAME_LEN), std::slice::from_raw_parts_mut(iv, IV_LEN))
        };
        let mac = if EVP { Mac::Evp(mac) } else { Mac::Hmac(mac) };
        let mut call = Call { api, ssl, name, iv, cipher, mac, encrypt: enc == 1 };
        // SAFETY: `ssl`, `cipher` and `mac` are OpenSSL's live arguments,
        // `mac` of the kind the form installed in this slot gets.
        Some(unsafe { call.choose() })
    });
    match std::panic::catch_unwind(run) {
        Ok(ret) => ret.unwrap_or(0),
        Err(_) => {
            trace::panic_caught("ticket_key_cb");
            0
        }
    }
}

/// Every method: `# Safety` — `ssl`, `cipher` and `mac` are OpenSSL's live
/// arguments of this call, `mac` of the kind its variant says.
impl Call<'_> {
    /// # Safety
    /// As the impl says.
    unsafe fn choose(&mut self) -> c_int {
        // SAFETY: `ssl` is live; its ctx is live while it is.
        if let Some(keys) = unsafe { application_keys(self.api, self.ssl) } {
            count(&COUNTERS.tickets_app_keys);
            // SAFETY: as the impl says.
            return unsafe { self.use_own_keys(&keys) };
        }
        super::metrics::ensure_written();
        let now = unix_now();
        let Some(window) = current::window(now) else {
            // SAFETY: as the impl says.
            return unsafe { self.fall_back() };
        };
        let (verdict, keys) = if self.encrypt {
            match window.encrypt() {
                Some(keys) => (Verdict::Current, Some(keys)),
                // SAFETY: as the impl says.
                None => return unsafe { self.fall_back() },
            }
        } else {
            let (verdict, keys) = window.decrypt(self.name, now);
            if verdict == Verdict::Unknown {
                // A ticket this ctx made on its own keys while sesscb had none
                // (a fallback) resumes, as it would without sesscb.
                // SAFETY: as the impl says.
                if let Some(ret) = unsafe { self.own_ticket() } {
                    return ret;
                }
            }
            (verdict, keys)
        };
        let (ret, counter): (c_int, &AtomicU64) = match (self.encrypt, verdict) {
            (true, _) => (1, &COUNTERS.tickets_issued),
            (false, Verdict::Current) => (1, &COUNTERS.tickets_decrypted),
            (false, Verdict::Renew) => (2, &COUNTERS.tickets_renewed),
            (false, Verdict::Expired) => (0, &COUNTERS.tickets_expired),
            (false, Verdict::Unknown) => (0, &COUNTERS.tickets_unknown),
        };
        count(counter);
        let Some(keys) = keys else { return 0 };
        let chosen = Chosen { name: &keys.name, aes: &keys.aes, hmac: &keys.hmac };
        // SAFETY: as the impl says.
        if unsafe { self.init(&chosen) } { ret } else { 0 }
    }

    /// No sesscb key: OpenSSL's own keys of the ctx, as if sesscb were absent.
    ///
    /// # Safety
    /// As the impl says.
    unsafe fn fall_back(&mut self) -> c_int {
        count(&COUNTERS.tickets_fallback);
        // SAFETY: `ssl` is live; its ctx is live while it is.
        let own = unsafe { self.api.own_keys(self.api.attached(self.ssl).0) };
        match own {
            // SAFETY: as the impl says.
            Some(keys) => unsafe { self.use_own_keys(&keys) },
            None => 0,
        }
    }

    /// A ticket named by the ctx's own keys (those OpenSSL drew): decrypted
    /// with them, counted as a fallback; None for any other name.
    ///
    /// # Safety
    /// As the impl says; decrypting.
    unsafe fn own_ticket(&mut self) -> Option<c_int> {
        // SAFETY: `ssl` is live; its ctx is live while it is.
        let own = unsafe { self.api.own_keys(self.api.attached(self.ssl).0) }?;
        (own[..NAME_LEN] == *self.name).then(|| {
            count(&COUNTERS.tickets_fallback);
            // SAFETY: as the impl says.
            unsafe { self.use_own_keys(&own) }
        })
    }

    /// What OpenSSL does with a ctx's own keys: one name, never a renewal.
    ///
    /// # Safety
    /// As the impl says.
    unsafe fn use_own_keys(&mut self, keys: &[u8; OWN_KEYS_LEN]) -> c_int {
        let chosen = Chosen { name: &keys[..NAME_LEN], hmac: &keys[NAME_LEN..48], aes: &keys[48..] };
        if !self.encrypt && self.name != chosen.name {
            return 0;
        }
        // SAFETY: as the impl says.
        unsafe { self.init(&chosen) as c_int }
    }

    /// Fills the name and a fresh IV when encrypting, then initialises
    /// OpenSSL's AES-256-CBC and HMAC-SHA256 contexts with the chosen keys.
    ///
    /// # Safety
    /// As the impl says.
    unsafe fn init(&mut self, keys: &Chosen<'_>) -> bool {
        if self.encrypt {
            self.name.copy_from_slice(keys.name);
            if getrandom::fill(self.iv).is_err() {
                return false;
            }
        }
        let (api, null) = (self.api, std::ptr::null_mut());
        // SAFETY: OpenSSL's live contexts; the keys are 32 bytes, the IV 16,
        // as AES-256-CBC and this HMAC key length need.
        unsafe {
            let aes = (api.aes_256_cbc)();
            let init = if self.encrypt { api.encrypt_init } else { api.decrypt_init };
            init(self.cipher, aes, null, keys.aes.as_ptr(), self.iv.as_ptr()) == 1
                && set_mac_key(api, self.mac, keys.hmac)
        }
    }
}

/// The ticket keys the application set on the ctx `ssl` uses, if they are
/// no longer those OpenSSL drew when the ctx was made (remembered then).
///
/// # Safety
/// `ssl` must be OpenSSL's live argument.
unsafe fn application_keys(api: &TicketApi, ssl: *mut Ssl) -> Option<[u8; OWN_KEYS_LEN]> {
    // SAFETY: the caller guarantees `ssl`.
    let (ctx, drawn) = unsafe { api.attached(ssl) };
    // SAFETY: `drawn` is NULL or the box on_ctx_new attached, alive with the ctx.
    let drawn = unsafe { drawn.cast::<[u8; OWN_KEYS_LEN]>().as_ref() }?;
    // SAFETY: `ctx` is the live ctx of `ssl`.
    let now = unsafe { api.own_keys(ctx) }?;
    (now != *drawn).then_some(now)
}

/// Gives OpenSSL's MAC context the HMAC-SHA256 key `key`, by its form.
///
/// # Safety
/// `mac` is OpenSSL's live context of the kind its variant says.
unsafe fn set_mac_key(api: &TicketApi, mac: Mac, key: &[u8]) -> bool {
    debug_assert_eq!(key.len(), SECRET_LEN);
    let null = std::ptr::null_mut();
    match mac {
        // SAFETY: as the caller guarantees; the key is SECRET_LEN bytes. A
        // legacy slot is only installed where HMAC_Init_ex was resolved.
        Mac::Hmac(hmac) => api.hmac_init.is_some_and(|hmac_init| unsafe {
            hmac_init(hmac, key.as_ptr().cast(), SECRET_LEN as c_int, (api.sha256)(), null) == 1
        }),
        // SAFETY: as the caller guarantees; an EVP slot is only installed
        // where these functions were resolved.
        Mac::Evp(ctx) => api.evp.as_ref().is_some_and(|evp| unsafe { evp.set_hmac_key(ctx, key) }),
    }
}
