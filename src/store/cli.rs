//! What the `sesscb` command does; `src/bin/sesscb.rs` only prints it.

use std::fs::{self, OpenOptions};
use std::io::Write;
use std::os::unix::fs::{MetadataExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::time::{SystemTime, UNIX_EPOCH};

use super::counters::{self, Family};
use super::keyring::{Key, Keyring, SECRET_LEN};
use super::{keysource, lmdb, location, redis_health};

pub const USAGE: &str = "usage: sesscb keygen [--rotate [--retire-after SECONDS]] PATH
       sesscb stats [--dir DIR] [--domain NAME] [--uid UID] [--json]";

/// Why a command did not succeed.
#[derive(Debug, PartialEq, Eq)]
pub enum Failure {
    Usage(String),
    Failed(String),
}

/// Runs one command line (without the program name); returns what to print.
pub fn run(args: &[String]) -> Result<String, Failure> {
    match args.first().map(String::as_str) {
        Some("keygen") => keygen(&args[1..]),
        Some("stats") => stats(&args[1..]),
        Some(other) => Err(Failure::Usage(format!("unknown command '{other}'"))),
        None => Err(Failure::Usage("no command".into())),
    }
}

fn keygen(args: &[String]) -> Result<String, Failure> {
    let mut rotate = false;
    let mut retire_after = None;
    let mut path = None;
    let mut it = args.iter();
    while let Some(arg) = it.next() {
        match arg.as_str() {
            "--rotate" => rotate = true,
            "--retire-after" => retire_after = Some(number(it.next(), "--retire-after")?),
            flag if flag.starts_with("--") => return Err(Failure::Usage(format!("unknown option '{flag}'"))),
            p if path.is_none() => path = Some(PathBuf::from(p)),
            _ => return Err(Failure::Usage("more than one PATH".into())),
        }
    }
    let path = path.ok_or_else(|| Failure::Usage("keygen needs a PATH".into()))?;
    if retire_after.is_some() && !rotate {
        return Err(Failure::Usage("--retire-after goes with --rotate".into()));
    }
    if rotate { rotate_keyring(&path, retire_after) } else { new_keyring(&path) }
}

fn new_keyring(path: &Path) -> Result<String, Failure> {
    let key = Key { id: 1, not_before: unix_now(), not_after: None, secret: fresh_secret()? };
    let ring = Keyring::from_keys(vec![key]).expect("one key is a valid keyring");
    let mut file = OpenOptions::new().write(true).create_new(true).mode(0o600).open(path).map_err(|e| {
        Failure::Failed(format!("cannot create {}: {e} (to add a key, use --rotate)", path.display()))
    })?;
    file.write_all(ring.to_text().as_bytes())
        .and_then(|()| file.sync_all())
        .map_err(|e| Failure::Failed(format!("cannot write {}: {e}", path.display())))?;
    Ok(format!("{}: new keyring, key 1 current\n", path.display()))
}

/// Adds a key and replaces the file atomically, keeping its owner, group
/// and mode, so processes that re-read it never see half a file.
fn rotate_keyring(path: &Path, retire_after: Option<u64>) -> Result<String, Failure> {
    let (mut ring, _) = keysource::load_file(path).map_err(Failure::Failed)?;
    let id = ring.rotate(fresh_secret()?, unix_now(), retire_after);
    let meta =
        fs::metadata(path).map_err(|e| Failure::Failed(format!("cannot inspect {}: {e}", path.display())))?;
    let temp = path.with_extension(format!("rotate{}", std::process::id()));
    let written = write_private(&temp, ring.to_text().as_bytes(), meta.mode() & 0o770)
        .and_then(|()| std::os::unix::fs::chown(&temp, Some(meta.uid()), Some(meta.gid())).or(Ok(())))
        .and_then(|()| fs::rename(&temp, path));
    if let Err(e) = written {
        let _ = fs::remove_file(&temp);
        return Err(Failure::Failed(format!("cannot replace {}: {e}", path.display())));
    }
    Ok(format!("{}: key {id} added and current ({} keys)\n", path.display(), ring.keys().len()))
}

fn write_private(path: &Path, bytes: &[u8], mode: u32) -> std::io::Result<()> {
    let mut file = OpenOptions::new().write(true).create_new(true).mode(0o600).open(path)?;
    file.write_all(bytes)?;
    file.set_permissions(fs::Permissions::from_mode(mode))?;
    file.sync_all()
}

fn stats(args: &[String]) -> Result<String, Failure> {
    let (mut dir, mut domain, mut uid, mut json) = (None, None, None, false);
    let mut it = args.iter();
    while let Some(arg) = it.next() {
        match arg.as_str() {
            "--dir" => dir = Some(PathBuf::from(value(it.next(), "--dir")?)),
            "--domain" => domain = Some(value(it.next(), "--domain")?.to_string()),
            "--uid" => uid = Some(number(it.next(), "--uid")? as u32),
            "--json" => json = true,
            other => return Err(Failure::Usage(format!("unknown argument '{other}'"))),
        }
    }
    // SAFETY: geteuid has no preconditions and cannot fail.
    let uid = uid.unwrap_or_else(|| unsafe { libc::geteuid() });
    let base = location::base_dir(dir.as_deref(), uid, |name| std::env::var(name).ok());
    let domain =
        domain.ok_or_else(|| Failure::Usage("stats needs --domain (the server's cache domain)".into()))?;
    let env = location::env_dir(&base, uid, &domain);
    if !env.join("data.mdb").is_file() {
        return Err(Failure::Failed(format!("no store at {}", env.display())));
    }
    let tier = lmdb::Tier::open(&env, 0).map_err(|e| Failure::Failed(format!("{}: {e}", env.display())))?;
    let o = tier.occupancy().map_err(|e| Failure::Failed(format!("{}: {e}", env.display())))?;
    let totals = tier.totals().map_err(|e| Failure::Failed(format!("{}: {e}", env.display())))?;
    let store = env.display().to_string();
    Ok(if json { stats_json(&store, o, &totals) } else { stats_table(&store, o, &totals) })
}

/// Every folded counter of `family`, in the counters' own order, 0 when no
/// process has counted it yet.
fn family_totals(family: Family, totals: &[(String, u64)]) -> Vec<(&'static str, u64)> {
    counters::labels()
        .into_iter()
        .filter(|(f, _)| *f == family)
        .map(|(f, outcome)| {
            let key = counters::key(f, outcome);
            (outcome, totals.iter().find(|(name, _)| *name == key).map_or(0, |(_, n)| *n))
        })
        .collect()
}

const HOST_FAMILIES: [Family; 3] = [Family::Lookups, Family::Stores, Family::Removes];

fn stats_json(store: &str, o: lmdb::Occupancy, totals: &[(String, u64)]) -> String {
    let mut out = format!(
        "{{\"store\":\"{}\",\"entries\":{},\"bytes_used\":{},\"map_size\":{},\"evictions\":{}",
        store.escape_default(),
        o.entries,
        o.bytes_used,
        o.map_size,
        o.evictions
    );
    for family in HOST_FAMILIES {
        let fields: Vec<String> =
            family_totals(family, totals).iter().map(|(k, n)| format!("\"{k}\":{n}")).collect();
        out += &format!(",\"{}\":{{{}}}", family.name(), fields.join(","));
    }
    if let Some(latency) = latency_totals(totals) {
        let fields: Vec<String> = latency.iter().map(|(k, n)| format!("\"{k}\":{n}")).collect();
        out += &format!(",\"{}\":{{{}}}", redis_health::TOTALS_FAMILY, fields.join(","));
    }
    out + "}\n"
}

fn stats_table(store: &str, o: lmdb::Occupancy, totals: &[(String, u64)]) -> String {
    let mut out = format!(
        "store       {store}\nentries     {}\nbytes used  {}\nmap size    {}\nevictions   {}\n",
        o.entries, o.bytes_used, o.map_size, o.evictions
    );
    out += "\ncounters (every process, folded every few seconds)\n";
    for family in HOST_FAMILIES {
        for (outcome, n) in family_totals(family, totals) {
            out += &format!("{:<9} {outcome:<24} {n}\n", family.name());
        }
    }
    if let Some(latency) = latency_totals(totals) {
        out += "\nRedis lookups by time added to the handshake (cumulative)\n";
        for (label, n) in latency {
            out += &format!("{label:<34} {n}\n");
        }
    }
    out
}

/// The Redis lookup-latency histogram's host-wide totals (cumulative), or
/// None when no process of the host has used Redis.
fn latency_totals(totals: &[(String, u64)]) -> Option<Vec<(String, u64)>> {
    let prefix = format!("{}.", redis_health::TOTALS_FAMILY);
    totals.iter().any(|(name, _)| name.starts_with(&prefix)).then(|| {
        redis_health::labels()
            .into_iter()
            .map(|label| {
                let key = format!("{prefix}{label}");
                let n = totals.iter().find(|(name, _)| *name == key).map_or(0, |(_, n)| *n);
                (label, n)
            })
            .collect()
    })
}

fn value<'a>(arg: Option<&'a String>, flag: &str) -> Result<&'a str, Failure> {
    arg.map(String::as_str).ok_or_else(|| Failure::Usage(format!("{flag} needs a value")))
}

fn number(arg: Option<&String>, flag: &str) -> Result<u64, Failure> {
    value(arg, flag)?.parse().map_err(|_| Failure::Usage(format!("{flag} needs a number")))
}

fn fresh_secret() -> Result<[u8; SECRET_LEN], Failure> {
    let mut secret = [0u8; SECRET_LEN];
    getrandom::fill(&mut secret).map_err(|e| Failure::Failed(format!("no randomness: {e}")))?;
    Ok(secret)
}

fn unix_now() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs())
}

#[cfg(test)]
mod tests;
