//! Which form of ticket key callback a ctx gets (`SESSCB_TICKET_FORM`,
//! docs/tickets.md):
//!
//! - `auto` (default): the legacy form, which an application's callback of
//!   either form overrides; the EVP form only where the ctx's libssl refuses
//!   the legacy one (a 3.x/4.0 built with `no-deprecated`, where no
//!   application can set a legacy callback that ours could shadow).
//! - `evp`: the EVP form wherever the setter exists (3.x/4.0), else legacy.
//!   On a normal build OpenSSL prefers an EVP callback to a legacy one, so
//!   this is for applications that set no legacy callback of their own.
//! - `legacy`: never the EVP form.
//!
//! A bad value: one `sesscb:` line, `auto`.

use std::sync::OnceLock;

/// The two ways of installing the callback.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Form {
    /// `SSL_CTX_callback_ctrl(SSL_CTRL_SET_TLSEXT_TICKET_KEY_CB)`, HMAC_CTX.
    Legacy,
    /// `SSL_CTX_set_tlsext_ticket_key_evp_cb`, EVP_MAC_CTX.
    Evp,
}

impl Form {
    pub fn name(self) -> &'static str {
        match self {
            Form::Legacy => "legacy",
            Form::Evp => "evp",
        }
    }
}

/// The forms to try on a ctx, in order, for a setting's value (None:
/// unset); None for a value that is not a form.
pub fn attempts_for(value: Option<&str>) -> Option<&'static [Form]> {
    match value.filter(|v| !v.is_empty()) {
        None | Some("auto") => Some(&[Form::Legacy, Form::Evp]),
        Some("legacy") => Some(&[Form::Legacy]),
        Some("evp") => Some(&[Form::Evp, Form::Legacy]),
        Some(_) => None,
    }
}

/// The forms to try, from `SESSCB_TICKET_FORM` (read once, at the first
/// ctx that gets ticket keys).
pub fn attempts() -> &'static [Form] {
    static ATTEMPTS: OnceLock<&'static [Form]> = OnceLock::new();
    ATTEMPTS.get_or_init(|| {
        let value = std::env::var("SESSCB_TICKET_FORM").ok();
        attempts_for(value.as_deref()).unwrap_or_else(|| {
            super::keys::report("SESSCB_TICKET_FORM: expected 'auto', 'legacy' or 'evp'; using auto");
            attempts_for(None).unwrap_or(&[Form::Legacy])
        })
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn auto_prefers_legacy_and_falls_back_to_evp() {
        assert_eq!(attempts_for(None), Some(&[Form::Legacy, Form::Evp][..]));
        assert_eq!(attempts_for(Some("")), attempts_for(None));
        assert_eq!(attempts_for(Some("auto")), attempts_for(None));
    }

    #[test]
    fn evp_prefers_evp_and_legacy_never_tries_it() {
        assert_eq!(attempts_for(Some("evp")), Some(&[Form::Evp, Form::Legacy][..]));
        assert_eq!(attempts_for(Some("legacy")), Some(&[Form::Legacy][..]));
    }

    #[test]
    fn other_values_are_refused() {
        for bad in ["EVP", "on", "1", "legacy,evp", " evp"] {
            assert_eq!(attempts_for(Some(bad)), None, "{bad}");
        }
        assert_eq!((Form::Legacy.name(), Form::Evp.name()), ("legacy", "evp"));
    }
}
