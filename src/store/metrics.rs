//! The Prometheus text file (`SESSCB_METRICS_FILE`): one process's store
//! counters and the embedded tier's occupancy, for node_exporter's textfile
//! collector (most servers that preload sesscb serve no HTTP of their own).
//!
//! Several processes share one environment variable, so `%p` in the path
//! becomes the writer's pid (one file per process), and every sample has a
//! `pid` label (files without `%p` are overwritten by each writer in turn;
//! the label says whose snapshot it is). The file is replaced atomically:
//! a temporary file in the same directory, renamed over it; mode 0644,
//! since it holds counts only and the collector runs as another user.

use std::fmt::Write as _;
use std::fs::{self, OpenOptions};
use std::io::Write as _;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

use super::counters::{self, Family, Snapshot};
use super::lmdb::Occupancy;
use super::redis_health::{BOUNDS_US, Health, Latency};

const FILE_MODE: u32 = 0o644;

/// `path` with every `%p` replaced by `pid`.
pub fn expand(path: &Path, pid: u32) -> PathBuf {
    PathBuf::from(path.to_string_lossy().replace("%p", &pid.to_string()))
}

/// The file's text: counters of this process (`pid`), when the tier is
/// open its occupancy, and with a Redis tier its lookup latency and breaker.
pub fn render(pid: u32, counts: &Snapshot, occupancy: Option<Occupancy>, redis: Option<Health>) -> String {
    let mut out = String::new();
    let labels = counters::labels();
    for (family, help) in [
        (Family::Lookups, "Session lookups by the store, by outcome (why a lookup missed)."),
        (Family::Stores, "Sessions offered to the store, by outcome."),
        (Family::Removes, "Session removals seen by the store, by outcome."),
        (Family::Tickets, "Session-ticket key callback operations, by outcome."),
    ] {
        let name = format!("sesscb_store_{}_total", family.name());
        let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} counter");
        for ((f, outcome), n) in labels.iter().zip(counts) {
            if *f == family {
                let _ = writeln!(out, "{name}{{pid=\"{pid}\",outcome=\"{outcome}\"}} {n}");
            }
        }
    }
    let evicted =
        labels.iter().zip(counts).find(|((f, _), _)| *f == Family::Evictions).map_or(0, |(_, n)| *n);
    counter(&mut out, "sesscb_store_evictions_total", "Entries this process's writes evicted.", pid, evicted);
    if let Some(o) = occupancy {
        gauge(&mut out, "sesscb_store_entries", "Entries in the embedded tier (host-wide).", pid, o.entries);
        gauge(
            &mut out,
            "sesscb_store_used_bytes",
            "Bytes of the embedded tier's map in use.",
            pid,
            o.bytes_used,
        );
        gauge(&mut out, "sesscb_store_map_size_bytes", "Size of the embedded tier's map.", pid, o.map_size);
    }
    if let Some(health) = redis {
        latency_histogram(&mut out, pid, &health.latency);
        gauge(
            &mut out,
            "sesscb_store_redis_breaker_state",
            "This process's Redis breaker: 0 closed, 1 open, 2 half-open (probing).",
            pid,
            u64::from(health.breaker),
        );
    }
    out
}

/// The time each Redis lookup kept a handshake waiting, in seconds, as a
/// Prometheus histogram (cumulative buckets).
fn latency_histogram(out: &mut String, pid: u32, latency: &Latency) {
    let name = "sesscb_store_redis_lookup_seconds";
    let _ = writeln!(
        out,
        "# HELP {name} Time each Redis lookup added to a handshake (deadline, breaker and cap included).\n\
         # TYPE {name} histogram"
    );
    let mut below = 0;
    for (i, n) in latency.buckets.iter().enumerate() {
        below += n;
        let le = BOUNDS_US.get(i).map_or("+Inf".to_string(), |us| format!("{}", *us as f64 / 1e6));
        let _ = writeln!(out, "{name}_bucket{{pid=\"{pid}\",le=\"{le}\"}} {below}");
    }
    let _ = writeln!(out, "{name}_sum{{pid=\"{pid}\"}} {:.9}", latency.sum_ns as f64 / 1e9);
    let _ = writeln!(out, "{name}_count{{pid=\"{pid}\"}} {below}");
}

fn counter(out: &mut String, name: &str, help: &str, pid: u32, value: u64) {
    let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} counter\n{name}{{pid=\"{pid}\"}} {value}");
}

fn gauge(out: &mut String, name: &str, help: &str, pid: u32, value: u64) {
    let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} gauge\n{name}{{pid=\"{pid}\"}} {value}");
}

/// Replaces `path` with `text` atomically (readers see the old file or the
/// new one, never a part).
pub fn write_atomically(path: &Path, text: &str) -> std::io::Result<()> {
    let name = path.file_name().ok_or_else(|| std::io::Error::other("no file name"))?;
    let temp = path.with_file_name(format!(".{}.tmp{}", name.to_string_lossy(), std::process::id()));
    let written = OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(FILE_MODE)
        .open(&temp)
        .and_then(|mut f| f.write_all(text.as_bytes()))
        .and_then(|()| fs::rename(&temp, path));
    if written.is_err() {
        let _ = fs::remove_file(&temp);
    }
    written
}

#[cfg(test)]
mod tests;
