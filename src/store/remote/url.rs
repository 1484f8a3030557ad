//! Where the Redis tier is: `redis://[user[:password]@]host[:port][/db]`,
//! `rediss://…` (the same over TLS), `unix:///path[?db=N]` or
//! `redis+cluster://[user[:password]@]h1:p1,h2:p2,…` (a Redis Cluster and
//! its seed nodes), parsed into a [`Target`].
//!
//! A password may sit in the URL; it is kept in a [`Secret`], whose
//! `Debug` prints nothing of it, and no error message here repeats the
//! URL, only the part that is wrong (never the user information).

use std::fmt;
use std::path::PathBuf;

/// A password: compared, used to AUTH, never printed.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    pub fn new(text: String) -> Self {
        Secret(text)
    }

    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(..)")
    }
}

/// How to reach the server.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Address {
    Tcp { host: String, port: u16 },
    Unix(PathBuf),
}

/// A Redis server, its database and credentials.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    pub address: Address,
    /// `rediss://`: TLS, the server's certificate checked against its host.
    pub tls: bool,
    pub db: i64,
    pub user: Option<String>,
    pub password: Option<Secret>,
    /// Redis Cluster: the seed nodes (`address` is the first); empty for
    /// one server.
    pub seeds: Vec<Address>,
}

impl Target {
    pub fn is_cluster(&self) -> bool {
        !self.seeds.is_empty()
    }

    /// The same credentials at another address (a Cluster node).
    pub fn at(&self, host: &str, port: u16) -> Target {
        Target { address: Address::Tcp { host: host.into(), port }, seeds: Vec::new(), ..self.clone() }
    }

    /// The first seed alone, for a log line.
    fn at_first(&self) -> Target {
        Target { seeds: Vec::new(), ..self.clone() }
    }
}

impl fmt::Display for Target {
    /// Address and database only: what a log line may show.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.is_cluster() {
            return write!(f, "cluster of {} seed(s) from {}", self.seeds.len(), self.at_first());
        }
        match &self.address {
            Address::Tcp { host, port } if host.contains(':') => write!(f, "[{host}]:{port}/{}", self.db)?,
            Address::Tcp { host, port } => write!(f, "{host}:{port}/{}", self.db)?,
            Address::Unix(path) => write!(f, "{}?db={}", path.display(), self.db)?,
        }
        if self.tls { f.write_str(" (TLS)") } else { Ok(()) }
    }
}

const DEFAULT_PORT: u16 = 6379;

/// Parses a `redis://`, `rediss://`, `unix://` or `redis+cluster://` URL
/// (the caller has stripped any `local+` prefix).
pub fn parse(url: &str) -> Result<Target, String> {
    if let Some(rest) = url.strip_prefix("redis+cluster://") {
        return parse_cluster(rest);
    }
    if url.starts_with("rediss+cluster://") {
        return Err("rediss+cluster:// (TLS to a Cluster) is not in this build yet (docs/store.md)".into());
    }
    if let Some(rest) = url.strip_prefix("redis://") {
        return parse_tcp(rest);
    }
    if let Some(rest) = url.strip_prefix("rediss://") {
        return parse_tcp(rest).map(|target| Target { tls: true, ..target });
    }
    if let Some(rest) = url.strip_prefix("unix://") {
        return parse_unix(rest);
    }
    Err("expected redis://host[:port][/db], rediss://… or unix:///path".into())
}

fn parse_tcp(rest: &str) -> Result<Target, String> {
    let (userinfo, hostpart) = match rest.rsplit_once('@') {
        Some((info, host)) => (Some(info), host),
        None => (None, rest),
    };
    let (user, password) = userinfo.map_or(Ok((None, None)), credentials)?;
    let (authority, db) = match hostpart.split_once('/') {
        Some((authority, path)) => (authority, parse_db(path)?),
        None => (hostpart, 0),
    };
    let (host, port) = host_port(authority)?;
    Ok(Target { address: Address::Tcp { host, port }, tls: false, db, user, password, seeds: Vec::new() })
}

/// Seeds a Cluster is found from; a Cluster has one database, 0.
const MAX_SEEDS: usize = 64;

fn parse_cluster(rest: &str) -> Result<Target, String> {
    let (userinfo, hostpart) = match rest.rsplit_once('@') {
        Some((info, host)) => (Some(info), host),
        None => (None, rest),
    };
    let (user, password) = userinfo.map_or(Ok((None, None)), credentials)?;
    let list = match hostpart.split_once('/') {
        Some((list, "" | "0")) => list,
        Some(_) => return Err("a Redis Cluster has only database 0".into()),
        None => hostpart,
    };
    let seeds = list
        .split(',')
        .map(|node| host_port(node).map(|(host, port)| Address::Tcp { host, port }))
        .collect::<Result<Vec<_>, _>>()?;
    if seeds.len() > MAX_SEEDS {
        return Err(format!("more than {MAX_SEEDS} seed nodes"));
    }
    Ok(Target { address: seeds[0].clone(), tls: false, db: 0, user, password, seeds })
}

/// `user:password`, `:password` or `user`, percent-decoded.
fn credentials(info: &str) -> Result<(Option<String>, Option<Secret>), String> {
    let (user, password) = match info.split_once(':') {
        Some((user, password)) => (user, Some(password)),
        None => (info, None),
    };
    let user =
        Some(decode(user).ok_or("the user name is not valid percent-encoding")?).filter(|u| !u.is_empty());
    let password = match password {
        // Not the password itself in the message, not even its length.
        Some(p) => Some(Secret::new(decode(p).ok_or("the password is not valid percent-encoding")?)),
        None => None,
    };
    Ok((user, password.filter(|p| !p.expose().is_empty())))
}

fn host_port(authority: &str) -> Result<(String, u16), String> {
    let (host, port) = if let Some(bracketed) = authority.strip_prefix('[') {
        let (host, after) = bracketed.split_once(']').ok_or("an IPv6 host needs its closing ']'")?;
        (host, after.strip_prefix(':'))
    } else {
        match authority.split_once(':') {
            Some((host, port)) => (host, Some(port)),
            None => (authority, None),
        }
    };
    let plain = |c: char| c.is_ascii_alphanumeric() || ".-_:".contains(c);
    if host.is_empty() || !host.chars().all(plain) {
        return Err("the host is missing or not a plain name or address".into());
    }
    let port = match port {
        None => DEFAULT_PORT,
        Some(text) => text
            .parse::<u16>()
            .ok()
            .filter(|p| *p != 0)
            .ok_or_else(|| format!("port '{}' is not 1-65535", shown(text)))?,
    };
    Ok((host.to_string(), port))
}

fn parse_unix(rest: &str) -> Result<Target, String> {
    let (path, query) = match rest.split_once('?') {
        Some((path, query)) => (path, Some(query)),
        None => (rest, None),
    };
    if !path.starts_with('/') || path.len() < 2 {
        return Err("a unix socket needs an absolute path: unix:///run/redis.sock".into());
    }
    let db = match query {
        None => 0,
        Some(q) => parse_db(q.strip_prefix("db=").ok_or("the only query a unix URL takes is ?db=N")?)?,
    };
    let address = Address::Unix(PathBuf::from(path));
    Ok(Target { address, tls: false, db, user: None, password: None, seeds: Vec::new() })
}

fn parse_db(text: &str) -> Result<i64, String> {
    if text.is_empty() {
        return Ok(0);
    }
    text.parse::<i64>()
        .ok()
        .filter(|db| (0..=1_000_000).contains(db))
        .ok_or_else(|| format!("database '{}' is not a number", shown(text)))
}

/// A part of a URL as a message may show it: short, printable ASCII.
fn shown(text: &str) -> String {
    text.chars().take(32).map(|c| if c.is_ascii_graphic() { c } else { '?' }).collect()
}

/// Percent-decoding of a URL part; None when malformed or not UTF-8.
fn decode(text: &str) -> Option<String> {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = std::str::from_utf8(bytes.get(i + 1..i + 3)?).ok()?;
            if !hex.bytes().all(|b| b.is_ascii_hexdigit()) {
                return None;
            }
            out.push(u8::from_str_radix(hex, 16).ok()?);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).ok()
}

#[cfg(test)]
mod tests;
