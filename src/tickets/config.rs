//! The ticket-key settings, read once from the environment:
//! `SESSCB_TICKET_KEYS=off|keyring`, `SESSCB_TICKET_ROTATE` (default 1 h),
//! `SESSCB_TICKET_LIFETIME` (default 12 h), with the store's
//! `SESSCB_STORE_KEYRING` (required) and `SESSCB_STORE_DOMAIN`.
//!
//! As with the store, a bad value is refused with one line and the feature
//! stays off: OpenSSL's own per-ctx keys are then used, as without sesscb.

use std::path::PathBuf;

use crate::store::config::{ConfigError, domain, parse_duration};

const DEFAULT_ROTATE: u64 = 3600;
const DEFAULT_LIFETIME: u64 = 12 * 3600;

/// A complete, valid ticket-key configuration.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Config {
    /// The operator's keyring file: the secret every process derives from.
    pub keyring: PathBuf,
    pub domain: String,
    pub rotate: u64,
    pub lifetime: u64,
}

/// Reads the configuration through `var`. `Ok(None)`: ticket keys off.
pub fn from_vars(
    var: impl Fn(&str) -> Option<String>,
    exe_name: &str,
) -> Result<Option<Config>, ConfigError> {
    let get = |name: &str| var(name).filter(|v| !v.is_empty());
    match get("SESSCB_TICKET_KEYS").as_deref() {
        None | Some("off") => return Ok(None),
        Some("keyring") => {}
        Some("redis") => {
            return Err(refused("SESSCB_TICKET_KEYS", "'redis' is not in this build; use 'keyring'"));
        }
        Some(_) => return Err(refused("SESSCB_TICKET_KEYS", "expected 'off' or 'keyring'")),
    }
    // A per-boot key would make tickets resume on this host only, silently;
    // the operator's keyring is what every host of a fleet can share.
    let keyring = get("SESSCB_STORE_KEYRING")
        .map(PathBuf::from)
        .ok_or_else(|| refused("SESSCB_STORE_KEYRING", "ticket keys need a keyring file (sesscb keygen)"))?;
    let duration = |name: &'static str, default| match get(name) {
        None => Ok(default),
        Some(text) => parse_duration(&text).map_err(|why| ConfigError { variable: name, why }),
    };
    let rotate = duration("SESSCB_TICKET_ROTATE", DEFAULT_ROTATE)?;
    let lifetime = duration("SESSCB_TICKET_LIFETIME", DEFAULT_LIFETIME)?;
    if lifetime < rotate {
        return Err(refused("SESSCB_TICKET_LIFETIME", "must be at least SESSCB_TICKET_ROTATE"));
    }
    let domain = domain(get("SESSCB_STORE_DOMAIN"), exe_name)?;
    Ok(Some(Config { keyring, domain, rotate, lifetime }))
}

fn refused(variable: &'static str, why: &str) -> ConfigError {
    ConfigError { variable, why: why.to_string() }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read(pairs: &[(&str, &str)]) -> Result<Option<Config>, ConfigError> {
        let table: Vec<(String, String)> =
            pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        from_vars(|name| table.iter().find(|(k, _)| k == name).map(|(_, v)| v.clone()), "nginx")
    }

    #[test]
    fn off_unless_asked() {
        assert_eq!(read(&[]), Ok(None));
        assert_eq!(read(&[("SESSCB_TICKET_KEYS", "off"), ("SESSCB_STORE_KEYRING", "/k")]), Ok(None));
    }

    #[test]
    fn keyring_mode_with_defaults() {
        let c = read(&[("SESSCB_TICKET_KEYS", "keyring"), ("SESSCB_STORE_KEYRING", "/k")]).unwrap().unwrap();
        assert_eq!(
            c,
            Config { keyring: "/k".into(), domain: "nginx".into(), rotate: 3600, lifetime: 43_200 }
        );
        let c = read(&[
            ("SESSCB_TICKET_KEYS", "keyring"),
            ("SESSCB_STORE_KEYRING", "/k"),
            ("SESSCB_STORE_DOMAIN", "web"),
            ("SESSCB_TICKET_ROTATE", "2s"),
            ("SESSCB_TICKET_LIFETIME", "6"),
        ])
        .unwrap()
        .unwrap();
        assert_eq!((c.domain.as_str(), c.rotate, c.lifetime), ("web", 2, 6));
    }

    #[test]
    fn refusals_name_the_variable() {
        let variable = |pairs: &[(&str, &str)]| read(pairs).unwrap_err().variable;
        assert_eq!(variable(&[("SESSCB_TICKET_KEYS", "keyring")]), "SESSCB_STORE_KEYRING");
        assert_eq!(variable(&[("SESSCB_TICKET_KEYS", "redis")]), "SESSCB_TICKET_KEYS");
        assert_eq!(variable(&[("SESSCB_TICKET_KEYS", "on")]), "SESSCB_TICKET_KEYS");
        let base = [("SESSCB_TICKET_KEYS", "keyring"), ("SESSCB_STORE_KEYRING", "/k")];
        assert_eq!(variable(&[base[0], base[1], ("SESSCB_TICKET_ROTATE", "0")]), "SESSCB_TICKET_ROTATE");
        assert_eq!(
            variable(&[base[0], base[1], ("SESSCB_TICKET_ROTATE", "2h"), ("SESSCB_TICKET_LIFETIME", "1h")]),
            "SESSCB_TICKET_LIFETIME"
        );
        assert_eq!(variable(&[base[0], base[1], ("SESSCB_STORE_DOMAIN", "a/b")]), "SESSCB_STORE_DOMAIN");
    }
}
