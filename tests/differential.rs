//! Differential conformance runner (docs/test-suite-contract.md).
//!
//! For each OpenSSL build (`sys`, `111`, `35`, `36`, `40`) and scenario 1..=40, 42 it runs the C
//! scenario program in three modes:
//!   plain   : `<dir>/<build>/scenarios-plain N`
//!   linked  : `<dir>/<build>/scenarios-linked N`
//!   preload : `LD_PRELOAD=<lib> <dir>/<build>/scenarios-plain N`
//! and asserts: exit status 0 in every mode, the stderr `MODE` line
//! (`plain` / `sesscb` / `sesscb`), and byte-identical stdout across the three.
//!
//! The tests are ignored by default because they need the C programs:
//! `make test-c` (or `make test`) builds them and runs
//! `cargo test --release --test differential -- --include-ignored`.
//!
//! Environment:
//!   SESSCB_TEST_DIR      binaries directory (default <crate>/target/tests-c)
//!   SESSCB_LIB           library to preload (default <crate>/target/release/libsesscb.so)
//!   SESSCB_TEST_TIMEOUT  seconds per run (default 120; x5 under valgrind)
//!   SESSCB_TEST_VARIANT  `asan`: linked mode runs `scenarios-asan` (ASan+UBSan,
//!                        detect_leaks=1) and preload runs under valgrind.
//!   SESSCB_TEST_KEEP     if set, the traces are written to <dir>/<build>/traces/.
//!
//! std only.

use std::env;
use std::fmt::Write as _;
use std::io::Read;
use std::path::PathBuf;
use std::process::{Command, ExitStatus, Stdio};
use std::thread;
use std::time::{Duration, Instant};

fn crate_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn test_dir() -> PathBuf {
    match env::var_os("SESSCB_TEST_DIR") {
        Some(d) if !d.is_empty() => PathBuf::from(d),
        _ => crate_dir().join("target").join("tests-c"),
    }
}

fn lib_path() -> PathBuf {
    match env::var_os("SESSCB_LIB") {
        Some(d) if !d.is_empty() => PathBuf::from(d),
        _ => crate_dir().join("target").join("release").join("libsesscb.so"),
    }
}

fn variant_asan() -> bool {
    matches!(env::var("SESSCB_TEST_VARIANT").as_deref(), Ok("asan"))
}

fn timeout() -> Duration {
    let secs = env::var("SESSCB_TEST_TIMEOUT").ok().and_then(|s| s.parse::<u64>().ok()).unwrap_or(120);
    Duration::from_secs(secs)
}

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Mode {
    Plain,
    Linked,
    Preload,
}

impl Mode {
    fn name(self) -> &'static str {
        match self {
            Mode::Plain => "plain",
            Mode::Linked => "linked",
            Mode::Preload => "preload",
        }
    }
    fn expected_mode_line(self) -> &'static str {
        match self {
            Mode::Plain => "MODE plain",
            Mode::Linked | Mode::Preload => "MODE sesscb",
        }
    }
}

struct RunResult {
    desc: String,
    status: Option<ExitStatus>,
    timed_out: bool,
    stdout: String,
    stderr: String,
}

fn read_all<R: Read + Send + 'static>(r: Option<R>) -> thread::JoinHandle<Vec<u8>> {
    thread::spawn(move || {
        let mut buf = Vec::new();
        if let Some(mut r) = r {
            let _ = r.read_to_end(&mut buf);
        }
        buf
    })
}

fn run_one(build: &str, scenario: u32, mode: Mode) -> RunResult {
    let dir = test_dir().join(build);
    let asan = variant_asan();
    let mut limit = timeout();
    let (program, args, envs): (PathBuf, Vec<String>, Vec<(String, String)>) = match mode {
        Mode::Plain => (dir.join("scenarios-plain"), vec![scenario.to_string()], vec![]),
        Mode::Linked if asan => (
            dir.join("scenarios-asan"),
            vec![scenario.to_string()],
            vec![
                ("ASAN_OPTIONS".into(), "detect_leaks=1:abort_on_error=0".into()),
                ("UBSAN_OPTIONS".into(), "print_stacktrace=1:halt_on_error=1".into()),
            ],
        ),
        Mode::Linked => (dir.join("scenarios-linked"), vec![scenario.to_string()], vec![]),
        Mode::Preload if asan => {
            limit *= 5;
            (
                PathBuf::from("valgrind"),
                vec![
                    "--error-exitcode=99".into(),
                    "--leak-check=full".into(),
                    "--errors-for-leak-kinds=definite,indirect".into(),
                    "-q".into(),
                    dir.join("scenarios-plain").display().to_string(),
                    scenario.to_string(),
                ],
                vec![("LD_PRELOAD".into(), lib_path().display().to_string())],
            )
        }
        Mode::Preload => (
            dir.join("scenarios-plain"),
            vec![scenario.to_string()],
            vec![("LD_PRELOAD".into(), lib_path().display().to_string())],
        ),
    };
    let mut desc = String::new();
    for (k, v) in &envs {
        let _ = write!(desc, "{}={} ", k, v);
    }
    let _ = write!(desc, "{} {}", program.display(), args.join(" "));

    if program.is_absolute() && !program.exists() {
        panic!("{}: missing {} (build the C programs with `make tests-c`)", mode.name(), program.display());
    }
    let mut cmd = Command::new(&program);
    cmd.args(&args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .env_remove("LD_PRELOAD");
    for (k, v) in &envs {
        cmd.env(k, v);
    }
    let mut child = cmd.spawn().unwrap_or_else(|e| panic!("cannot start `{}`: {}", desc, e));
    let out_h = read_all(child.stdout.take());
    let err_h = read_all(child.stderr.take());
    let start = Instant::now();
    let mut timed_out = false;
    let status = loop {
        match child.try_wait() {
            Ok(Some(st)) => break Some(st),
            Ok(None) => {}
            Err(e) => panic!("wait for `{}`: {}", desc, e),
        }
        if start.elapsed() >= limit {
            timed_out = true;
            let _ = child.kill();
            break child.wait().ok();
        }
        thread::sleep(Duration::from_millis(5));
    };
    let stdout = String::from_utf8_lossy(&out_h.join().unwrap_or_default()).into_owned();
    let stderr = String::from_utf8_lossy(&err_h.join().unwrap_or_default()).into_owned();
    RunResult { desc, status, timed_out, stdout, stderr }
}

/// Line diff (LCS) in a unified-like format: ` ` common, `-` a only, `+` b only.
/// Common runs far from changes are elided.
fn line_diff(a: &str, b: &str, a_name: &str, b_name: &str) -> String {
    let a: Vec<&str> = a.lines().collect();
    let b: Vec<&str> = b.lines().collect();
    let mut out = String::new();
    let _ = writeln!(out, "--- {}\n+++ {}", a_name, b_name);
    let (n, m) = (a.len(), b.len());
    if n.saturating_mul(m) > 25_000_000 {
        let i = a.iter().zip(b.iter()).take_while(|(x, y)| x == y).count();
        let _ = writeln!(out, "(too large for a full diff; first difference at line {})", i + 1);
        let _ = writeln!(out, "-{}", a.get(i).unwrap_or(&"<eof>"));
        let _ = writeln!(out, "+{}", b.get(i).unwrap_or(&"<eof>"));
        return out;
    }
    // lcs[i][j] = LCS length of a[i..], b[j..]
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
    let mut ops: Vec<(char, &str)> = Vec::new();
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
    const CTX: usize = 3;
    let changed: Vec<usize> =
        ops.iter().enumerate().filter(|(_, (c, _))| *c != ' ').map(|(k, _)| k).collect();
    let near = |k: usize| changed.iter().any(|&c| c + CTX >= k && k + CTX >= c);
    let mut skipping = false;
    for (k, (c, line)) in ops.iter().enumerate() {
        if near(k) {
            skipping = false;
            let _ = writeln!(out, "{}{}", c, line);
        } else if !skipping {
            skipping = true;
            let _ = writeln!(out, "@@");
        }
    }
    out
}

fn tail(s: &str, lines: usize) -> String {
    let v: Vec<&str> = s.lines().collect();
    let start = v.len().saturating_sub(lines);
    v[start..].join("\n")
}

fn run_scenario(build: &str, scenario: u32) {
    let modes = [Mode::Plain, Mode::Linked, Mode::Preload];
    let results: Vec<(Mode, RunResult)> = modes.iter().map(|&m| (m, run_one(build, scenario, m))).collect();

    if env::var_os("SESSCB_TEST_KEEP").is_some() {
        let dir = test_dir().join(build).join("traces");
        let _ = std::fs::create_dir_all(&dir);
        for (m, r) in &results {
            let base = dir.join(format!("s{:02}-{}", scenario, m.name()));
            let _ = std::fs::write(base.with_extension("out"), &r.stdout);
            let _ = std::fs::write(base.with_extension("err"), &r.stderr);
        }
    }

    let mut problems = String::new();
    for (m, r) in &results {
        let ok_exit = !r.timed_out && r.status.map(|s| s.success()).unwrap_or(false);
        if !ok_exit {
            let how = if r.timed_out {
                "timed out (killed)".to_string()
            } else {
                match r.status {
                    Some(s) => format!("exited with {}", s),
                    None => "no exit status".to_string(),
                }
            };
            let fails: Vec<&str> = r
                .stdout
                .lines()
                .filter(|l| l.starts_with("CHECK FAIL") || l.contains("not implemented"))
                .collect();
            let _ = writeln!(
                problems,
                "[{}] {}: `{}`\n  failing lines:\n    {}\n  stdout tail:\n{}\n  stderr tail:\n{}",
                m.name(),
                how,
                r.desc,
                if fails.is_empty() { "(none)".to_string() } else { fails.join("\n    ") },
                indent(&tail(&r.stdout, 15)),
                indent(&tail(&r.stderr, 30))
            );
        }
        let want = m.expected_mode_line();
        let mode_lines: Vec<&str> = r.stderr.lines().filter(|l| l.starts_with("MODE ")).collect();
        if mode_lines != [want] {
            let _ = writeln!(
                problems,
                "[{}] stderr MODE line(s) {:?}, expected exactly [{:?}]",
                m.name(),
                mode_lines,
                want
            );
        }
    }
    let base = &results[0].1;
    for (m, r) in &results[1..] {
        if r.stdout != base.stdout {
            let _ = writeln!(
                problems,
                "[{}] stdout differs from plain:\n{}",
                m.name(),
                line_diff(&base.stdout, &r.stdout, "plain", m.name())
            );
        }
    }
    if !problems.is_empty() {
        panic!(
            "build {} scenario {:02}{}:\n{}",
            build,
            scenario,
            if variant_asan() { " (variant asan)" } else { "" },
            problems
        );
    }
}

fn indent(s: &str) -> String {
    s.lines().map(|l| format!("    {}", l)).collect::<Vec<_>>().join("\n")
}

macro_rules! scenario_tests {
    ($($sys:ident, $o111:ident, $n:literal;)*) => {
        $(
            #[test]
            #[ignore = "needs the C programs: run `make test`"]
            fn $sys() {
                run_scenario("sys", $n);
            }
            #[test]
            #[ignore = "needs the C programs: run `make test`"]
            fn $o111() {
                run_scenario("111", $n);
            }
        )*
    };
}

/// The 3.5, 3.6 and 4.0 builds (mk/openssl-lines.mk): one test per build,
/// running every scenario and reporting all that failed.
fn run_all_scenarios(build: &str) {
    let failed: Vec<u32> = (1..=40)
        .chain([42])
        .filter(|&n| std::panic::catch_unwind(|| run_scenario(build, n)).is_err())
        .collect();
    assert!(failed.is_empty(), "build {}: scenarios {:?} failed (messages above)", build, failed);
}

#[test]
#[ignore = "needs the C programs: run `make test`"]
fn ossl35_all_scenarios() {
    run_all_scenarios("35");
}

#[test]
#[ignore = "needs the C programs: run `make test`"]
fn ossl36_all_scenarios() {
    run_all_scenarios("36");
}

#[test]
#[ignore = "needs the C programs: run `make test`"]
fn ossl40_all_scenarios() {
    run_all_scenarios("40");
}

#[test]
fn line_diff_self_test() {
    let d = line_diff("a\nb\nc\n", "a\nx\nc\n", "l", "r");
    assert!(d.contains("-b") && d.contains("+x"), "{}", d);
}

scenario_tests! {
    sys_s01, ossl111_s01, 1;
    sys_s02, ossl111_s02, 2;
    sys_s03, ossl111_s03, 3;
    sys_s04, ossl111_s04, 4;
    sys_s05, ossl111_s05, 5;
    sys_s06, ossl111_s06, 6;
    sys_s07, ossl111_s07, 7;
    sys_s08, ossl111_s08, 8;
    sys_s09, ossl111_s09, 9;
    sys_s10, ossl111_s10, 10;
    sys_s11, ossl111_s11, 11;
    sys_s12, ossl111_s12, 12;
    sys_s13, ossl111_s13, 13;
    sys_s14, ossl111_s14, 14;
    sys_s15, ossl111_s15, 15;
    sys_s16, ossl111_s16, 16;
    sys_s17, ossl111_s17, 17;
    sys_s18, ossl111_s18, 18;
    sys_s19, ossl111_s19, 19;
    sys_s20, ossl111_s20, 20;
    sys_s21, ossl111_s21, 21;
    sys_s22, ossl111_s22, 22;
    sys_s23, ossl111_s23, 23;
    sys_s24, ossl111_s24, 24;
    sys_s25, ossl111_s25, 25;
    sys_s26, ossl111_s26, 26;
    sys_s27, ossl111_s27, 27;
    sys_s28, ossl111_s28, 28;
    sys_s29, ossl111_s29, 29;
    sys_s30, ossl111_s30, 30;
    sys_s31, ossl111_s31, 31;
    sys_s32, ossl111_s32, 32;
    sys_s33, ossl111_s33, 33;
    sys_s34, ossl111_s34, 34;
    sys_s35, ossl111_s35, 35;
    sys_s36, ossl111_s36, 36;
    sys_s37, ossl111_s37, 37;
    sys_s38, ossl111_s38, 38;
    sys_s39, ossl111_s39, 39;
    sys_s40, ossl111_s40, 40;
    sys_s42, ossl111_s42, 42;
}
