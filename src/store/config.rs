//! The store's settings, read once from the environment (`SESSCB_STORE*`,
//! `SESSCB_METRICS_FILE`).
//!
//! Every bad value is refused with one line that names the variable and
//! what it accepts, and the whole store stays off: a half-configured store
//! (say, a typo in the size silently replaced by a default) is worse than
//! none, because the operator believes it works.

use std::fmt;
use std::path::{Path, PathBuf};
use std::time::Duration;

use super::lifetime::Limits;
use super::remote::url::{self, Secret, Target};
use rustls::pki_types::CertificateDer;
use rustls::pki_types::pem::PemObject;

/// Which sessions the store serves (see `docs/store.md`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// Augment where the application set callbacks, provide where it set none.
    Auto,
    /// Only contexts whose application set callbacks.
    Augment,
    /// Only contexts whose application set none.
    Provide,
}

/// Where entries live.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Backend {
    /// The embedded LMDB tier.
    Local,
    /// A Redis server the fleet shares (`redis://`, `unix://`), alone or
    /// behind the embedded tier (`local+redis://`).
    Redis(RedisSettings),
}

/// The Redis tier's settings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RedisSettings {
    pub target: Target,
    /// `local+`: the embedded tier is read first and warmed by Redis hits.
    pub with_local: bool,
    /// A lookup's hard deadline (`SESSCB_STORE_TIMEOUT_MS`).
    pub timeout: Duration,
    /// `SESSCB_STORE_SINGLE_USE=tls13`: a TLS 1.3 session resumes once,
    /// fleet-wide (`GETDEL`); never a TLS 1.2 id.
    pub single_use_tls13: bool,
    /// `rediss://`: the certificates a server's chain must end in
    /// (`SESSCB_STORE_REDIS_CA_FILE`, else the system bundle); empty without TLS.
    pub ca_certs: Vec<CertificateDer<'static>>,
    /// Redis lookups a process may make each second; 0: no cap
    /// (`SESSCB_STORE_REDIS_LOOKUPS_PER_SECOND`).
    pub lookups_per_second: u64,
}

impl Backend {
    /// Whether entries are read from and written to the embedded tier.
    pub fn uses_local(&self) -> bool {
        match self {
            Backend::Local => true,
            Backend::Redis(redis) => redis.with_local,
        }
    }
}

/// A complete, valid store configuration.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Config {
    pub backend: Backend,
    pub mode: Mode,
    /// Separates services that share a store; default: the executable's name.
    pub domain: String,
    /// `None`: the default runtime directory for the process's uid.
    pub dir: Option<PathBuf>,
    /// `None`: a per-boot random key.
    pub keyring: Option<PathBuf>,
    pub map_size: usize,
    pub limits: Limits,
    pub max_entry: usize,
    pub force_stateful_tls13: bool,
    pub metrics_file: Option<PathBuf>,
}

/// A refused setting: which variable, and what was wrong with it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigError {
    pub variable: &'static str,
    pub why: String,
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.variable, self.why)
    }
}

const DEFAULT_MAP_SIZE: usize = 64 << 20;
const DEFAULT_MAX_TTL: u64 = 24 * 3600;
const DEFAULT_MAX_LIFETIME: u64 = 24 * 3600;
const DEFAULT_MAX_ENTRY: usize = 16 << 10;
const DEFAULT_TIMEOUT: Duration = Duration::from_millis(2);
/// LMDB needs a few pages for its own structures; below this nothing fits.
const MIN_MAP_SIZE: usize = 64 << 10;

/// Reads the configuration through `var` (the environment, or a table in
/// tests). `Ok(None)`: the store is off.
pub fn from_vars(
    var: impl Fn(&str) -> Option<String>,
    exe_name: &str,
) -> Result<Option<Config>, ConfigError> {
    let Some(backend) = backend(var("SESSCB_STORE"), &var)? else {
        return Ok(None);
    };
    let keyring = non_empty(var("SESSCB_STORE_KEYRING")).map(PathBuf::from);
    if matches!(backend, Backend::Redis(_)) && keyring.is_none() {
        return Err(ConfigError {
            variable: "SESSCB_STORE_KEYRING",
            why: "a Redis store needs a keyring file shared by the fleet (a per-boot key cannot be shared \
                  across hosts); make one with 'sesscb keygen'"
                .into(),
        });
    }
    let size_var = "SESSCB_STORE_SIZE";
    let map_size = parse_or(&var, size_var, DEFAULT_MAP_SIZE, parse_size)?;
    if map_size < MIN_MAP_SIZE {
        return Err(ConfigError {
            variable: size_var,
            why: format!("{map_size} bytes is below the minimum 64K"),
        });
    }
    let limits = Limits {
        max_ttl: parse_or(&var, "SESSCB_STORE_MAX_TTL", DEFAULT_MAX_TTL, parse_duration)?,
        max_lifetime: parse_or(&var, "SESSCB_STORE_MAX_LIFETIME", DEFAULT_MAX_LIFETIME, parse_duration)?,
    };
    Ok(Some(Config {
        backend,
        mode: parse_or(&var, "SESSCB_STORE_MODE", Mode::Auto, parse_mode)?,
        domain: domain(var("SESSCB_STORE_DOMAIN"), exe_name)?,
        dir: non_empty(var("SESSCB_STORE_DIR")).map(PathBuf::from),
        keyring,
        map_size,
        limits,
        max_entry: parse_or(&var, "SESSCB_STORE_MAX_ENTRY", DEFAULT_MAX_ENTRY, parse_size)?,
        force_stateful_tls13: parse_or(&var, "SESSCB_STORE_FORCE_STATEFUL_TLS13", false, parse_flag)?,
        metrics_file: non_empty(var("SESSCB_METRICS_FILE")).map(PathBuf::from),
    }))
}

fn backend(
    value: Option<String>,
    var: &impl Fn(&str) -> Option<String>,
) -> Result<Option<Backend>, ConfigError> {
    let variable = "SESSCB_STORE";
    let refused = |why: String| ConfigError { variable, why };
    let Some(text) = non_empty(value) else { return Ok(None) };
    match text.as_str() {
        "off" => return Ok(None),
        "local" if parse_or(var, SINGLE_USE, false, parse_single_use)? => {
            return Err(ConfigError {
                variable: SINGLE_USE,
                why: "single use needs a Redis backend in this build".into(),
            });
        }
        "local" => return Ok(Some(Backend::Local)),
        _ => {}
    }
    let (with_local, url_text) = match text.strip_prefix("local+") {
        Some(rest) => (true, rest),
        None => (false, text.as_str()),
    };
    if !REDIS_SCHEMES.iter().any(|s| has_scheme(url_text, s)) {
        // Only the scheme: the rest may hold a password.
        let scheme = text.split("://").next().unwrap_or("");
        return Err(refused(format!(
            "unknown store '{}': expected off, local, redis://, rediss://, unix://, redis+cluster:// or local+redis://",
            printable(scheme)
        )));
    }
    let mut target = url::parse(url_text).map_err(|why| refused(format!("bad Redis URL: {why}")))?;
    if let Some(path) = non_empty(var("SESSCB_STORE_REDIS_PASSWORD_FILE")) {
        target.password = Some(password_file(Path::new(&path))?);
    }
    let timeout = parse_or(var, "SESSCB_STORE_TIMEOUT_MS", DEFAULT_TIMEOUT, parse_timeout)?;
    let single_use_tls13 = parse_or(var, SINGLE_USE, false, parse_single_use)?;
    let ca_certs = match target.tls {
        true => ca_file(Path::new(&non_empty(var(CA_FILE)).unwrap_or_else(|| SYSTEM_CA_FILE.into())))?,
        false => Vec::new(),
    };
    let lookups_per_second = parse_or(var, "SESSCB_STORE_REDIS_LOOKUPS_PER_SECOND", 0, parse_count)?;
    let settings =
        RedisSettings { target, with_local, timeout, single_use_tls13, ca_certs, lookups_per_second };
    Ok(Some(Backend::Redis(settings)))
}

/// The password in `path`: its first line (a trailing newline is not part
/// of it). Neither the content nor its length is ever reported.
fn password_file(path: &Path) -> Result<Secret, ConfigError> {
    let variable = "SESSCB_STORE_REDIS_PASSWORD_FILE";
    let text = std::fs::read_to_string(path).map_err(|e| ConfigError {
        variable,
        why: format!("cannot read {}: {}", path.display(), e.kind()),
    })?;
    let line = text.lines().next().unwrap_or("");
    if line.is_empty() {
        return Err(ConfigError { variable, why: format!("{} holds no password", path.display()) });
    }
    Ok(Secret::new(line.to_string()))
}

const SINGLE_USE: &str = "SESSCB_STORE_SINGLE_USE";
/// What `SESSCB_STORE` may name after an optional `local+` (url.rs parses,
/// or refuses `rediss+cluster` with its own line).
const REDIS_SCHEMES: [&str; 5] = ["redis", "rediss", "unix", "redis+cluster", "rediss+cluster"];
const CA_FILE: &str = "SESSCB_STORE_REDIS_CA_FILE";
/// Debian's bundle of the system's trusted certificates.
const SYSTEM_CA_FILE: &str = "/etc/ssl/certs/ca-certificates.crt";

/// The PEM certificates in `path`: at least one, or refused.
fn ca_file(path: &Path) -> Result<Vec<CertificateDer<'static>>, ConfigError> {
    let refused = |why: String| ConfigError { variable: CA_FILE, why };
    let certs: Result<Vec<_>, _> = CertificateDer::pem_file_iter(path)
        .map_err(|e| refused(format!("cannot read {}: {e}", path.display())))?
        .collect();
    match certs {
        Ok(certs) if !certs.is_empty() => Ok(certs),
        Ok(_) => Err(refused(format!("{} holds no PEM certificate", path.display()))),
        Err(e) => Err(refused(format!("{}: {e}", path.display()))),
    }
}

fn parse_single_use(text: &str) -> Result<bool, String> {
    match text {
        "off" => Ok(false),
        "tls13" => Ok(true),
        other => {
            Err(format!("'{}' is not off or tls13 (TLS 1.2 ids are never single use)", printable(other)))
        }
    }
}

/// A whole number (0 allowed).
fn parse_count(text: &str) -> Result<u64, String> {
    text.parse::<u64>().map_err(|_| format!("'{}' is not a whole number", printable(text)))
}

/// Whole milliseconds, 1 to 1000: a lookup deadline longer than a second
/// is not "never stall".
fn parse_timeout(text: &str) -> Result<Duration, String> {
    match text.parse::<u64>() {
        Ok(ms @ 1..=1000) => Ok(Duration::from_millis(ms)),
        _ => Err(format!("'{}' is not a whole number of milliseconds from 1 to 1000", printable(text))),
    }
}

fn has_scheme(url: &str, scheme: &str) -> bool {
    url.strip_prefix(scheme).is_some_and(|rest| rest.starts_with("://"))
}

/// The domain names an LMDB environment's directory, so it must be a
/// plain name.
pub(crate) fn domain(value: Option<String>, exe_name: &str) -> Result<String, ConfigError> {
    let explicit = non_empty(value);
    let name = explicit.clone().unwrap_or_else(|| exe_name.to_string());
    let plain = |c: char| c.is_ascii_alphanumeric() || "._-".contains(c);
    if !name.is_empty() && name.len() <= 64 && name.chars().all(plain) && !name.starts_with('.') {
        return Ok(name);
    }
    if explicit.is_none() {
        // An odd executable name is not the operator's mistake: fall back.
        return Ok("default".to_string());
    }
    Err(ConfigError {
        variable: "SESSCB_STORE_DOMAIN",
        why: format!("'{}' is not 1-64 of [A-Za-z0-9._-] (not starting with '.')", printable(&name)),
    })
}

fn parse_or<T>(
    var: &impl Fn(&str) -> Option<String>,
    variable: &'static str,
    default: T,
    parse: fn(&str) -> Result<T, String>,
) -> Result<T, ConfigError> {
    match non_empty(var(variable)) {
        None => Ok(default),
        Some(text) => parse(&text).map_err(|why| ConfigError { variable, why }),
    }
}

fn parse_mode(text: &str) -> Result<Mode, String> {
    match text {
        "auto" => Ok(Mode::Auto),
        "augment" => Ok(Mode::Augment),
        "provide" => Ok(Mode::Provide),
        other => Err(format!("unknown mode '{}': expected auto, augment or provide", printable(other))),
    }
}

fn parse_flag(text: &str) -> Result<bool, String> {
    match text {
        "1" | "yes" | "on" | "true" => Ok(true),
        "0" | "no" | "off" | "false" => Ok(false),
        other => Err(format!("'{}' is not 0 or 1", printable(other))),
    }
}

/// Bytes, with an optional K, M or G suffix (powers of 1024).
fn parse_size(text: &str) -> Result<usize, String> {
    let (digits, shift) = match text.as_bytes().last() {
        Some(b'K' | b'k') => (&text[..text.len() - 1], 10),
        Some(b'M' | b'm') => (&text[..text.len() - 1], 20),
        Some(b'G' | b'g') => (&text[..text.len() - 1], 30),
        _ => (text, 0),
    };
    let n: usize =
        digits.parse().map_err(|_| format!("'{}' is not a size like 65536, 64K or 64M", printable(text)))?;
    match n.checked_mul(1 << shift) {
        Some(0) | None => Err(format!("'{}' is not a positive size that fits in memory", printable(text))),
        Some(bytes) => Ok(bytes),
    }
}

/// Seconds, with an optional s, m, h or d suffix.
pub(crate) fn parse_duration(text: &str) -> Result<u64, String> {
    let (digits, unit) = match text.as_bytes().last() {
        Some(b's') => (&text[..text.len() - 1], 1),
        Some(b'm') => (&text[..text.len() - 1], 60),
        Some(b'h') => (&text[..text.len() - 1], 3600),
        Some(b'd') => (&text[..text.len() - 1], 86_400),
        _ => (text, 1),
    };
    let n: u64 =
        digits.parse().map_err(|_| format!("'{}' is not a duration like 300, 5m or 12h", printable(text)))?;
    match n.checked_mul(unit) {
        Some(0) | None => Err(format!("'{}' is not a positive duration", printable(text))),
        Some(seconds) => Ok(seconds),
    }
}

fn non_empty(value: Option<String>) -> Option<String> {
    value.filter(|v| !v.is_empty())
}

/// A value as it may appear in a one-line message: short, printable ASCII.
pub(crate) fn printable(text: &str) -> String {
    text.chars().take(64).map(|c| if c.is_ascii_graphic() || c == ' ' { c } else { '?' }).collect()
}

#[cfg(test)]
mod tests;
