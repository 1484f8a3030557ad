//! Differential conformance runner (docs/test-suite-contract.md).
//!
//! The scenarios are whatever the C program lists (`scenarios-plain --list`,
//! one name per tests-c/scenarios/sNN_name.c file), so a new scenario file
//! needs no edit here. For each OpenSSL build (`sys`, `ossl111`, `ossl35`, `ossl36`, `ossl40`), scenario and
//! mode there is one test, named `<build>::<scenario>::<mode>`, e.g.
//! `sys::s21_get_copy_zero::preload`:
//!   plain   : `<dir>/<build>/scenarios-plain NAME`
//!   linked  : `<dir>/<build>/scenarios-linked NAME`
//!   preload : `LD_PRELOAD=<lib> <dir>/<build>/scenarios-plain NAME`
//! Each asserts exit status 0 and the stderr `MODE` line (`plain` / `sesscb` /
//! `sesscb`); linked and preload also assert stdout byte-identical to plain's
//! (the plain run is made once per build and scenario and shared).
//!
//! The scenario tests are ignored by default because they need the C
//! programs: `make test-c` (or `make test`) builds them and runs
//! `cargo test --release --test differential -- --include-ignored`.
//! `cargo test --release --test differential -- --include-ignored s21` filters
//! as usual: this is a libtest-compatible harness (`harness = false`,
//! libtest-mimic).
//!
//! Environment:
//!   SESSCB_TEST_DIR      binaries directory (default <crate>/target/tests-c)
//!   SESSCB_LIB           library to preload (default <crate>/target/release/libsesscb.so)
//!   SESSCB_TEST_TIMEOUT  seconds per run (default 120; x5 under valgrind)
//!   SESSCB_TEST_VARIANT  `asan`: linked mode runs `scenarios-asan` (ASan+UBSan,
//!                        detect_leaks=1) and preload runs under valgrind.
//!   SESSCB_TEST_KEEP     if set, the traces are written to <dir>/<build>/traces/.

mod common;

use common::{
    Run, clean_command, crate_dir, env_path, env_secs, indent, line_diff, preload, run_limit, tail,
};
use libtest_mimic::{Arguments, Failed, Trial};
use std::collections::HashMap;
use std::env;
use std::ffi::OsStr;
use std::fmt::Write as _;
use std::path::PathBuf;
use std::process::{Command, ExitCode};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

/// One OpenSSL build: the label in test names, its binaries' folder, and
/// how `OpenSSL_version_num()` must start when its programs run (so a
/// program linked to the wrong libssl fails instead of proving nothing).
#[derive(Clone, Copy)]
struct Build {
    label: &'static str,
    dir: &'static str,
    version: &'static str,
}

/// Each OpenSSL line the suite proves: Debian 12's system 3.0, and the
/// upstream 1.1.1w, 3.5, 3.6 and 4.0 builds (mk/openssl111.mk,
/// mk/openssl-lines.mk).
const BUILDS: [Build; 5] = [
    Build { label: "sys", dir: "sys", version: "0x300" },
    Build { label: "ossl111", dir: "111", version: "0x1010117" },
    Build { label: "ossl35", dir: "35", version: "0x305" },
    Build { label: "ossl36", dir: "36", version: "0x306" },
    Build { label: "ossl40", dir: "40", version: "0x400" },
];

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Mode {
    Plain,
    Linked,
    Preload,
}

const MODES: [Mode; 3] = [Mode::Plain, Mode::Linked, Mode::Preload];

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

// --------------------------------------------------------------- settings

fn test_dir() -> PathBuf {
    env_path("SESSCB_TEST_DIR", crate_dir().join("target/tests-c"))
}

fn build_dir(build: Build) -> PathBuf {
    test_dir().join(build.dir)
}

fn variant_asan() -> bool {
    matches!(env::var("SESSCB_TEST_VARIANT").as_deref(), Ok("asan"))
}

fn timeout() -> Duration {
    env_secs("SESSCB_TEST_TIMEOUT", 120)
}

// -------------------------------------------------------------- discovery

/// Scenario names from the source files (`s21_get_copy_zero.c` ->
/// `s21_get_copy_zero`), sorted: what the binaries are built from.
fn source_scenarios() -> Vec<String> {
    let dir = crate_dir().join("tests-c/scenarios");
    let mut names: Vec<String> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("read {}: {e}", dir.display()))
        .filter_map(|e| e.ok()?.file_name().into_string().ok())
        .filter_map(|f| f.strip_suffix(".c").map(str::to_owned))
        .collect();
    names.sort();
    names
}

/// The names one of the build's programs lists (`--list`).
fn listed_scenarios(build: Build, program: &str) -> Result<Vec<String>, String> {
    let program = build_dir(build).join(program);
    if !program.is_file() {
        return Err(format!("{} is missing: build the C programs with `make tests-c`", program.display()));
    }
    let run = run_limit(clean_command(&program, ["--list"]), timeout());
    if !run.exited_ok() {
        return Err(format!("`--list` failed (a stale binary? run `make tests-c`)\n{}", run.dump()));
    }
    Ok(run.stdout.lines().map(str::to_owned).collect())
}

/// The scenarios to make tests for: the binary's list, or the source files
/// when there is no usable binary (the tests are ignored by default then, and
/// `binaries_list_every_scenario_file` says what is wrong).
fn scenarios_of(build: Build) -> Vec<String> {
    listed_scenarios(build, "scenarios-plain").unwrap_or_else(|_| source_scenarios())
}

/// The programs the modes run (plain serves plain and preload).
fn programs_in_use() -> [&'static str; 2] {
    ["scenarios-plain", if variant_asan() { "scenarios-asan" } else { "scenarios-linked" }]
}

/// Every program of the build lists exactly the scenario files: a stale
/// binary shows up here rather than as a puzzling failure of one mode.
fn check_binaries_list_sources(build: Build) -> Result<(), Failed> {
    let sources = source_scenarios();
    for program in programs_in_use() {
        let listed = listed_scenarios(build, program)?;
        if listed != sources {
            let diff = line_diff(&sources.join("\n"), &listed.join("\n"), "tests-c/scenarios/*.c", program);
            return Err(format!(
                "{}/{program} lists other scenarios than tests-c/scenarios/ holds (rebuild: `make tests-c`):\n{diff}",
                build.dir
            )
            .into());
        }
    }
    Ok(())
}

// ---------------------------------------------------------------- running

/// The command for one mode and its time limit (x5 under valgrind), with
/// the program it needs.
fn mode_command(build: Build, scenario: &str, mode: Mode) -> (PathBuf, Command, Duration) {
    let dir = build_dir(build);
    let plain = dir.join("scenarios-plain");
    match mode {
        Mode::Plain => (plain.clone(), clean_command(&plain, [scenario]), timeout()),
        Mode::Linked if variant_asan() => {
            let program = dir.join("scenarios-asan");
            let mut c = clean_command(&program, [scenario]);
            c.env("ASAN_OPTIONS", "detect_leaks=1:abort_on_error=0")
                .env("UBSAN_OPTIONS", "print_stacktrace=1:halt_on_error=1");
            (program, c, timeout())
        }
        Mode::Linked => {
            let program = dir.join("scenarios-linked");
            (program.clone(), clean_command(&program, [scenario]), timeout())
        }
        Mode::Preload if variant_asan() => {
            let valgrind =
                ["--error-exitcode=99", "--leak-check=full", "--errors-for-leak-kinds=definite,indirect"];
            let args = valgrind
                .into_iter()
                .chain(["-q"])
                .map(OsStr::new)
                .chain([plain.as_os_str(), scenario.as_ref()]);
            let c = preload(clean_command("valgrind", args));
            (plain, c, timeout() * 5)
        }
        Mode::Preload => (plain.clone(), preload(clean_command(&plain, [scenario])), timeout()),
    }
}

fn run_mode(build: Build, scenario: &str, mode: Mode) -> Result<Run, String> {
    let (program, command, limit) = mode_command(build, scenario, mode);
    if !program.is_file() {
        return Err(format!(
            "{}: missing {} (build the C programs with `make tests-c`)",
            mode.name(),
            program.display()
        ));
    }
    let run = run_limit(command, limit);
    if env::var_os("SESSCB_TEST_KEEP").is_some() {
        keep_trace(build, scenario, mode, &run);
    }
    Ok(run)
}

fn keep_trace(build: Build, scenario: &str, mode: Mode, run: &Run) {
    let dir = build_dir(build).join("traces");
    let _ = std::fs::create_dir_all(&dir);
    let base = dir.join(format!("{scenario}-{}", mode.name()));
    let _ = std::fs::write(base.with_extension("out"), &run.stdout);
    let _ = std::fs::write(base.with_extension("err"), &run.stderr);
}

type PlainRun = Arc<OnceLock<Result<Run, String>>>;

/// The plain run of a build's scenario, made once and shared by its three
/// tests (the plain test checks it; the other two compare against it).
fn plain_reference(build: Build, scenario: &str) -> PlainRun {
    static RUNS: OnceLock<Mutex<HashMap<(&'static str, String), PlainRun>>> = OnceLock::new();
    let runs = RUNS.get_or_init(Default::default);
    let slot = {
        let mut map = runs.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        Arc::clone(map.entry((build.dir, scenario.to_string())).or_default())
    };
    slot.get_or_init(|| run_mode(build, scenario, Mode::Plain));
    slot
}

// --------------------------------------------------------------- checking

/// Exit status, MODE and OPENSSL lines of one run; empty when all are right.
fn run_problems(build: Build, mode: Mode, run: &Run) -> String {
    let mut problems = String::new();
    if !run.exited_ok() {
        let fails: Vec<&str> = run.stdout.lines().filter(|l| l.starts_with("CHECK FAIL")).collect();
        let _ = writeln!(
            problems,
            "[{}] {}: `{}`\n  failing lines:\n    {}\n  stdout tail:\n{}\n  stderr tail:\n{}",
            mode.name(),
            run.how_it_ended(),
            run.desc,
            if fails.is_empty() { "(none)".to_string() } else { fails.join("\n    ") },
            indent(&tail(&run.stdout, 15)),
            indent(&tail(&run.stderr, 30))
        );
    }
    let want = mode.expected_mode_line();
    let mode_lines: Vec<&str> = run.stderr.lines().filter(|l| l.starts_with("MODE ")).collect();
    if mode_lines != [want] {
        let _ = writeln!(
            problems,
            "[{}] stderr MODE line(s) {mode_lines:?}, expected exactly [{want:?}]",
            mode.name()
        );
    }
    let version = format!("OPENSSL {}", build.version);
    if !run.stderr.lines().any(|l| l.starts_with(&version)) {
        let _ =
            writeln!(problems, "[{}] stderr has no {version:?}: not the build's own OpenSSL", mode.name());
    }
    problems
}

fn check_mode(build: Build, scenario: &str, mode: Mode) -> Result<(), Failed> {
    let plain = plain_reference(build, scenario);
    let plain =
        plain.get().expect("plain_reference ran it").as_ref().map_err(|e| Failed::from(e.as_str()))?;
    let mut problems = String::new();
    if mode == Mode::Plain {
        problems = run_problems(build, mode, plain);
    } else {
        let run = run_mode(build, scenario, mode)?;
        problems.push_str(&run_problems(build, mode, &run));
        if run.stdout != plain.stdout {
            let diff = line_diff(&plain.stdout, &run.stdout, "plain", mode.name());
            let _ = writeln!(problems, "[{}] stdout differs from plain:\n{diff}", mode.name());
        }
    }
    if problems.is_empty() {
        return Ok(());
    }
    let variant = if variant_asan() { " (variant asan)" } else { "" };
    Err(format!("build {} scenario {scenario} {}{variant}:\n{problems}", build.label, mode.name()).into())
}

// ------------------------------------------------------------------ tests

fn line_diff_marks_changed_lines() -> Result<(), Failed> {
    let d = line_diff("a\nb\nc\n", "a\nx\nc\n", "l", "r");
    if d.contains("-b") && d.contains("+x") && !d.contains("-a") { Ok(()) } else { Err(d.into()) }
}

fn build_trials(build: Build) -> Vec<Trial> {
    let name = format!("runner::{}::binaries_list_every_scenario_file", build.label);
    let list_check = Trial::test(name, move || check_binaries_list_sources(build));
    let mut trials = vec![list_check.with_ignored_flag(true)];
    for scenario in scenarios_of(build) {
        for mode in MODES {
            let name = format!("{}::{scenario}::{}", build.label, mode.name());
            let scenario = scenario.clone();
            let trial = Trial::test(name, move || check_mode(build, &scenario, mode));
            trials.push(trial.with_ignored_flag(true));
        }
    }
    trials
}

fn main() -> ExitCode {
    let args = Arguments::from_args();
    let mut trials =
        vec![Trial::test("runner::line_diff_marks_changed_lines", line_diff_marks_changed_lines)];
    for build in BUILDS {
        trials.extend(build_trials(build));
    }
    libtest_mimic::run(&args, trials).exit_code()
}
