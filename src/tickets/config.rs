//! The ticket-key settings, read once from the environment:
//! `SESSCB_TICKET_KEYS=off|keyring|redis`, `SESSCB_TICKET_ROTATE` (default
//! 1 h), `SESSCB_TICKET_LIFETIME` (default 12 h), with the store's
//! `SESSCB_STORE_KEYRING` (required) and `SESSCB_STORE_DOMAIN`. `redis`
//! reaches Redis at `SESSCB_TICKET_REDIS`, else at the store's Redis
//! (`SESSCB_STORE` in a Redis form), read by the store's own rules
//! (password file, CA file).
//!
//! As with the store, a bad value is refused with one line and the feature
//! stays off: OpenSSL's own per-ctx keys are then used, as without sesscb.

use std::path::PathBuf;

use crate::store::config::{
    self as store_config, Backend, ConfigError, RedisSettings, domain, parse_duration,
};

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
    pub source: Source,
}

/// Where the epoch keys come from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Source {
    /// Derived from the keyring: no network.
    Keyring,
    /// Random, shared sealed through this Redis.
    Redis(Box<RedisSettings>),
}

/// Reads the configuration through `var`. `Ok(None)`: ticket keys off.
pub fn from_vars(
    var: impl Fn(&str) -> Option<String>,
    exe_name: &str,
) -> Result<Option<Config>, ConfigError> {
    let get = |name: &str| var(name).filter(|v| !v.is_empty());
    let source = match get("SESSCB_TICKET_KEYS").as_deref() {
        None | Some("off") => return Ok(None),
        Some("keyring") => Source::Keyring,
        Some("redis") => Source::Redis(Box::new(redis(&get, exe_name)?)),
        Some(_) => return Err(refused("SESSCB_TICKET_KEYS", "expected 'off', 'keyring' or 'redis'")),
    };
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
    Ok(Some(Config { keyring, domain, rotate, lifetime, source }))
}

/// The Redis of `redis` mode: `SESSCB_TICKET_REDIS`, else the store's when
/// `SESSCB_STORE` names a Redis; its URL, password and CA rules are the
/// store's (the embedded tier of a `local+` form plays no part).
fn redis(get: &impl Fn(&str) -> Option<String>, exe_name: &str) -> Result<RedisSettings, ConfigError> {
    const OWN: &str = "SESSCB_TICKET_REDIS";
    let own = get(OWN);
    let store = get("SESSCB_STORE").filter(|s| !matches!(s.as_str(), "off" | "local"));
    let variable = if own.is_some() { OWN } else { "SESSCB_STORE" };
    let url = own.or(store).ok_or_else(|| {
        refused(
            OWN,
            "redis ticket keys need a Redis URL here or in SESSCB_STORE (redis://, rediss://, unix://)",
        )
    })?;
    let read = |name: &str| if name == "SESSCB_STORE" { Some(url.clone()) } else { get(name) };
    let rename = |e: ConfigError| match e.variable {
        "SESSCB_STORE" => ConfigError { variable, why: e.why },
        _ => e,
    };
    match store_config::from_vars(read, exe_name).map_err(rename)? {
        Some(store_config::Config { backend: Backend::Redis(settings), .. }) => Ok(settings),
        _ => Err(refused(variable, "not a Redis URL (redis://, rediss://, unix://)")),
    }
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
            Config {
                keyring: "/k".into(),
                domain: "nginx".into(),
                rotate: 3600,
                lifetime: 43_200,
                source: Source::Keyring
            }
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
    fn redis_mode_from_its_own_url_or_the_stores() {
        let target = |pairs: &[(&str, &str)]| match read(pairs).unwrap().unwrap().source {
            Source::Redis(settings) => settings.target.to_string(),
            Source::Keyring => unreachable!("redis asked"),
        };
        let base = [("SESSCB_TICKET_KEYS", "redis"), ("SESSCB_STORE_KEYRING", "/k")];
        let own = [base[0], base[1], ("SESSCB_TICKET_REDIS", "redis://127.0.0.1:7001/2")];
        assert_eq!(target(&own), "127.0.0.1:7001/2");
        let store = [base[0], base[1], ("SESSCB_STORE", "local+redis://10.0.0.9")];
        assert_eq!(target(&store), "10.0.0.9:6379/0");
        let both = [own[0], own[1], own[2], store[2]];
        assert_eq!(target(&both), "127.0.0.1:7001/2");
        let variable = |pairs: &[(&str, &str)]| read(pairs).unwrap_err().variable;
        assert_eq!(variable(&[base[0], base[1], ("SESSCB_STORE", "local")]), "SESSCB_TICKET_REDIS");
        assert_eq!(variable(&[base[0], base[1], ("SESSCB_TICKET_REDIS", "local")]), "SESSCB_TICKET_REDIS");
        assert_eq!(variable(&[base[0], base[1], ("SESSCB_TICKET_REDIS", "http://x")]), "SESSCB_TICKET_REDIS");
        assert_eq!(variable(&[base[0], ("SESSCB_TICKET_REDIS", "redis://x")]), "SESSCB_STORE_KEYRING");
    }

    #[test]
    fn refusals_name_the_variable() {
        let variable = |pairs: &[(&str, &str)]| read(pairs).unwrap_err().variable;
        assert_eq!(variable(&[("SESSCB_TICKET_KEYS", "keyring")]), "SESSCB_STORE_KEYRING");
        assert_eq!(variable(&[("SESSCB_TICKET_KEYS", "redis")]), "SESSCB_TICKET_REDIS");
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
