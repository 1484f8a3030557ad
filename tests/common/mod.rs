//! Helpers shared by the integration-test runners: where things are, running a
//! program with a time limit, and showing how two outputs differ.
//!
//! Each test crate includes this with `mod common;` and uses a subset of it.
#![allow(dead_code)]

use std::env;
use std::ffi::OsStr;
use std::fmt::Write as _;
use std::io::Read;
use std::os::unix::process::{CommandExt, ExitStatusExt};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::thread;
use std::time::{Duration, Instant};

// ------------------------------------------------------------------ paths

pub fn crate_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// `$var` when set and non-empty, else `default`.
pub fn env_path(var: &str, default: PathBuf) -> PathBuf {
    match env::var_os(var) {
        Some(v) if !v.is_empty() => PathBuf::from(v),
        _ => default,
    }
}

/// `$var` parsed as whole seconds, else `default_secs`.
pub fn env_secs(var: &str, default_secs: u64) -> Duration {
    Duration::from_secs(env::var(var).ok().and_then(|s| s.parse().ok()).unwrap_or(default_secs))
}

/// The library under test (`SESSCB_LIB`, default the release build).
pub fn lib_path() -> PathBuf {
    env_path("SESSCB_LIB", crate_dir().join("target/release/libsesscb.so"))
}

// ---------------------------------------------------------------- running

/// What one finished (or killed) program run left behind.
pub struct Run {
    pub desc: String,
    pub code: Option<i32>,
    pub signal: Option<i32>,
    pub timed_out: bool,
    pub stdout: String,
    pub stderr: String,
}

impl Run {
    /// Exited by itself with status 0.
    pub fn exited_ok(&self) -> bool {
        !self.timed_out && self.code == Some(0)
    }

    /// "exited with code 1", "killed by signal 6", "timed out (killed)".
    pub fn how_it_ended(&self) -> String {
        match (self.timed_out, self.code, self.signal) {
            (true, _, _) => "timed out (killed)".to_string(),
            (false, Some(c), _) => format!("exited with code {c}"),
            (false, None, Some(s)) => format!("killed by signal {s}"),
            (false, None, None) => "no exit status".to_string(),
        }
    }

    pub fn has_line(&self, line: &str) -> bool {
        self.stdout.lines().any(|l| l == line)
    }

    pub fn line_starting(&self, prefix: &str) -> Option<&str> {
        self.stdout.lines().find(|l| l.starts_with(prefix))
    }

    pub fn lines_starting(&self, prefix: &str) -> Vec<&str> {
        self.stdout.lines().filter(|l| l.starts_with(prefix)).collect()
    }

    /// Exit 0, no timeout/signal, `RESULT PASS`, no CHECK FAIL.
    pub fn assert_pass(&self) {
        assert!(self.exited_ok(), "process did not exit 0\n{}", self.dump());
        assert!(!self.stdout.contains("CHECK FAIL"), "a check failed\n{}", self.dump());
        assert!(self.has_line("RESULT PASS"), "no RESULT PASS\n{}", self.dump());
    }

    pub fn assert_quiet_stderr(&self) {
        assert!(self.stderr.is_empty(), "stderr must be empty\n{}", self.dump());
    }

    pub fn dump(&self) -> String {
        format!(
            "--- {}\n{}\n--- stdout:\n{}\n--- stderr:\n{}\n---",
            self.desc,
            self.how_it_ended(),
            self.stdout,
            self.stderr
        )
    }
}

/// A command with a clean sesscb environment (no inherited LD_PRELOAD or
/// SESSCB_LOG), so the caller decides how sesscb gets in.
pub fn clean_command<S: AsRef<OsStr>>(prog: impl AsRef<Path>, args: impl IntoIterator<Item = S>) -> Command {
    let mut c = Command::new(prog.as_ref());
    c.args(args).env_remove("LD_PRELOAD").env_remove("SESSCB_LOG");
    c
}

/// `c` with the library under test preloaded.
pub fn preload(mut c: Command) -> Command {
    c.env("LD_PRELOAD", lib_path());
    c
}

/// `c` writing sesscb's trace to `log`.
pub fn with_log(mut c: Command, log: impl AsRef<OsStr>) -> Command {
    c.env("SESSCB_LOG", log);
    c
}

fn read_to_end_in_thread<R: Read + Send + 'static>(r: Option<R>) -> thread::JoinHandle<Vec<u8>> {
    thread::spawn(move || {
        let mut buf = Vec::new();
        if let Some(mut r) = r {
            let _ = r.read_to_end(&mut buf);
        }
        buf
    })
}

/// Joins a pipe reader, giving up after 10 s: a grandchild that outlived the
/// run may still hold the pipe open.
fn join_bounded(h: thread::JoinHandle<Vec<u8>>) -> Vec<u8> {
    let start = Instant::now();
    while !h.is_finished() && start.elapsed() < Duration::from_secs(10) {
        thread::sleep(Duration::from_millis(5));
    }
    if h.is_finished() { h.join().unwrap_or_default() } else { b"<output pipe still open>".to_vec() }
}

/// Runs `c` (stdin /dev/null, stdout and stderr captured) in its own process
/// group and kills the whole group at `limit`.
pub fn run_limit(mut c: Command, limit: Duration) -> Run {
    let desc = format!("{c:?}");
    c.stdin(Stdio::null()).stdout(Stdio::piped()).stderr(Stdio::piped()).process_group(0);
    let mut child = c.spawn().unwrap_or_else(|e| panic!("cannot start {desc}: {e}"));
    let out = read_to_end_in_thread(child.stdout.take());
    let err = read_to_end_in_thread(child.stderr.take());
    let start = Instant::now();
    let mut timed_out = false;
    let status = loop {
        if let Some(s) = child.try_wait().unwrap_or_else(|e| panic!("wait for {desc}: {e}")) {
            break s;
        }
        if start.elapsed() > limit {
            timed_out = true;
            let _ = Command::new("kill").arg("-KILL").arg(format!("-{}", child.id())).status();
            let _ = child.kill();
            break child.wait().unwrap_or_else(|e| panic!("wait for {desc}: {e}"));
        }
        thread::sleep(Duration::from_millis(5));
    };
    let stdout = String::from_utf8_lossy(&join_bounded(out)).into_owned();
    let stderr = String::from_utf8_lossy(&join_bounded(err)).into_owned();
    Run { desc, code: status.code(), signal: status.signal(), timed_out, stdout, stderr }
}

// ---------------------------------------------------------------- showing

/// The last `lines` lines of `s`.
pub fn tail(s: &str, lines: usize) -> String {
    let v: Vec<&str> = s.lines().collect();
    v[v.len().saturating_sub(lines)..].join("\n")
}

pub fn indent(s: &str) -> String {
    s.lines().map(|l| format!("    {l}")).collect::<Vec<_>>().join("\n")
}

/// Line diff (LCS) in a unified-like format: ` ` common, `-` a only, `+` b
/// only; common runs far from a change are elided as `@@`.
pub fn line_diff(a: &str, b: &str, a_name: &str, b_name: &str) -> String {
    let a: Vec<&str> = a.lines().collect();
    let b: Vec<&str> = b.lines().collect();
    let mut out = format!("--- {a_name}\n+++ {b_name}\n");
    if a.len().saturating_mul(b.len()) > 25_000_000 {
        out.push_str(&first_difference(&a, &b));
        return out;
    }
    let ops = diff_ops(&a, &b);
    out.push_str(&render_near_changes(&ops, 3));
    out
}

/// For inputs too large for the quadratic diff: just the first differing line.
fn first_difference(a: &[&str], b: &[&str]) -> String {
    let i = a.iter().zip(b.iter()).take_while(|(x, y)| x == y).count();
    format!(
        "(too large for a full diff; first difference at line {})\n-{}\n+{}\n",
        i + 1,
        a.get(i).unwrap_or(&"<eof>"),
        b.get(i).unwrap_or(&"<eof>")
    )
}

/// The edit script of a longest-common-subsequence alignment.
fn diff_ops<'a>(a: &[&'a str], b: &[&'a str]) -> Vec<(char, &'a str)> {
    let (n, m) = (a.len(), b.len());
    // lcs[i * w + j] = LCS length of a[i..], b[j..]
    let w = m + 1;
    let mut lcs = vec![0u32; (n + 1) * w];
    for i in (0..n).rev() {
        for j in (0..m).rev() {
            lcs[i * w + j] = if a[i] == b[j] {
                lcs[(i + 1) * w + j + 1] + 1
            } else {
                lcs[(i + 1) * w + j].max(lcs[i * w + j + 1])
            };
        }
    }
    let mut ops = Vec::new();
    let (mut i, mut j) = (0, 0);
    while i < n || j < m {
        if i < n && j < m && a[i] == b[j] {
            ops.push((' ', a[i]));
            i += 1;
            j += 1;
        } else if j < m && (i == n || lcs[i * w + j + 1] >= lcs[(i + 1) * w + j]) {
            ops.push(('+', b[j]));
            j += 1;
        } else {
            ops.push(('-', a[i]));
            i += 1;
        }
    }
    ops
}

/// Prints the changed lines with `context` common lines around each.
fn render_near_changes(ops: &[(char, &str)], context: usize) -> String {
    let changed: Vec<usize> =
        ops.iter().enumerate().filter(|(_, (c, _))| *c != ' ').map(|(k, _)| k).collect();
    let near = |k: usize| changed.iter().any(|&c| c + context >= k && k + context >= c);
    let mut out = String::new();
    let mut skipping = false;
    for (k, (c, line)) in ops.iter().enumerate() {
        if near(k) {
            skipping = false;
            let _ = writeln!(out, "{c}{line}");
        } else if !skipping {
            skipping = true;
            out.push_str("@@\n");
        }
    }
    out
}
