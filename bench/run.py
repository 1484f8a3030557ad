#!/usr/bin/env python3
"""What sesscb costs: the benchmark driver behind `make bench` and `make bench-guard`.

Runs target/bench/<build>/bench-{plain,linked} (one C source, two link lines)
for each OpenSSL build (sys = the system 3.0, 111 = 1.1.1w, 35, 36, 40 = the
3.5, 3.6 and 4.0 lines), in these variants:

    plain    bench-plain                        (-lssl -lcrypto)
    linked   bench-linked                       (-lsesscb before -lssl)
    preload  bench-plain, LD_PRELOAD=libsesscb.so
    log      bench-linked, SESSCB_LOG=target/bench/trace-*.jsonl (benchmark 4)

Every measurement is one fresh process that prints one JSON object. A figure
is the median of several runs; the variants are interleaved run by run (the
order rotates each round) so drift hits all of them, and each sesscb/plain
ratio or difference is computed pair by pair (run i against run i) before
taking its median. Spread is min..max over the runs.

Writes a table on stdout, and JSON (raw runs + summaries) plus the same table
in Markdown to target/bench/. BENCH_QUICK=1 scales everything down.

The shared store (SESSCB_STORE=local) has its own section, its own program
(bench/store_bench.c) and its own table: bench/store.py. Its Redis tier
(SESSCB_STORE=redis://…, a redis-server the section starts) has another,
on the same program: bench/redis_tier.py.
"""

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import time

sys.dont_write_bytecode = True  # no bench/__pycache__ in the tree from the import below
import store  # noqa: E402  (bench/store.py, next to this file)
import redis_tier  # noqa: E402  (bench/redis_tier.py, next to this file)

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)

GOAL_DISPATCH_ADDED_NS = 5.0
GOAL_HS_RATIO = 0.99
GOAL_SET_NS = 200.0
GOAL_BYTES_PER_CTX = 128.0
GOAL_FLAT = 1.25          # hot dispatch at the largest registry <= 1.25x at 1 live ctx (+1 ns)
GUARD_LIMIT = 3.0
# target/bench/<build>/: system 3.0, 1.1.1w, and the 3.5, 3.6 and 4.0 lines (mk/bench.mk).
ALL_BUILDS = ("sys", "111", "35", "36", "40")


def log(msg):
    print(msg, file=sys.stderr, flush=True)


# --------------------------------------------------------------- settings

def settings(quick):
    if quick:
        return dict(
            dispatch_calls=2_000_000, dispatch_calls_mt=500_000, dispatch_runs=3,
            storm_sessions=200_000, storm_runs=3,
            hs_seconds=0.25, hs_warmup=0.1, hs_runs=3, hs_full_runs=3,
            registry_ctxs=20_000, registry_calls=500_000, registry_runs=3,
        )
    return dict(
        dispatch_calls=10_000_000, dispatch_calls_mt=2_000_000, dispatch_runs=7,
        storm_sessions=1_000_000, storm_runs=5,
        hs_seconds=0.5, hs_warmup=0.2, hs_runs=5, hs_full_runs=3,
        registry_ctxs=100_000, registry_calls=2_000_000, registry_runs=3,
    )


# ---------------------------------------------------------------- running

class Runner:
    def __init__(self, bin_dir, lib, out_dir, lib_dir_override=None):
        self.bin_dir = bin_dir
        self.lib = lib
        self.out_dir = out_dir
        self.lib_dir_override = lib_dir_override
        self.raw = []
        self.runs = 0

    def binary(self, build, kind):
        return os.path.join(self.bin_dir, build, "bench-" + kind)

    def command(self, build, variant, args):
        env = {k: v for k, v in os.environ.items() if k not in ("LD_PRELOAD", "SESSCB_LOG")}
        if self.lib_dir_override:
            # DT_RUNPATH yields to LD_LIBRARY_PATH: lets a patched library be
            # compared with the same binaries.
            env["LD_LIBRARY_PATH"] = self.lib_dir_override
        if variant == "plain":
            exe = self.binary(build, "plain")
        elif variant == "linked":
            exe = self.binary(build, "linked")
        elif variant == "preload":
            exe = self.binary(build, "plain")
            env["LD_PRELOAD"] = self.lib
        elif variant == "log":
            exe = self.binary(build, "linked")
            env["SESSCB_LOG"] = os.path.join(self.out_dir, "trace-%s-%d.jsonl" % (build, os.getpid()))
        else:
            raise ValueError(variant)
        return [exe] + [str(a) for a in args], env

    def run(self, build, variant, args):
        cmd, env = self.command(build, variant, args)
        trace = env.get("SESSCB_LOG")
        if trace and os.path.exists(trace):
            os.unlink(trace)
        t0 = time.monotonic()
        proc = subprocess.run(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        wall = time.monotonic() - t0
        self.runs += 1
        if proc.returncode != 0:
            raise SystemExit("bench: %s (%s) failed with %d:\n%s%s" % (
                " ".join(cmd), variant, proc.returncode, proc.stdout, proc.stderr))
        lines = [l for l in proc.stdout.splitlines() if l.startswith("{")]
        if not lines:
            raise SystemExit("bench: no JSON from %s:\n%s" % (" ".join(cmd), proc.stderr))
        result = json.loads(lines[-1])
        want = 0 if variant == "plain" else 1
        if result.get("sesscb") != want:
            raise SystemExit("bench: %s variant %s: sesscb in path = %s, expected %d" % (
                build, variant, result.get("sesscb"), want))
        if trace:
            try:
                st = os.stat(trace)
                with open(trace, "rb") as f:
                    result["trace_lines"] = sum(1 for _ in f)
                result["trace_bytes"] = st.st_size
                os.unlink(trace)
            except FileNotFoundError:
                result["trace_lines"] = 0
                result["trace_bytes"] = 0
        result["wall_s"] = round(wall, 3)
        self.raw.append({"build": build, "variant": variant, "args": [str(a) for a in args], "result": result})
        return result

    def interleaved(self, build, variants, args, runs, warmup_rounds=0):
        """{variant: [result per run]}, variants interleaved, order rotated each round."""
        for _ in range(warmup_rounds):
            for v in variants:
                self.run(build, v, args)
        out = {v: [] for v in variants}
        for r in range(runs):
            k = r % len(variants)
            for v in variants[k:] + variants[:k]:
                out[v].append(self.run(build, v, args))
        return out


# ---------------------------------------------------------------- statistics

def spread(values):
    return {"median": statistics.median(values), "min": min(values), "max": max(values), "runs": values}


def summarize(results, metric, lower_is_better=True):
    """Per-variant medians, and pair-by-pair ratio and difference against plain."""
    out = {}
    plain = [metric(r) for r in results["plain"]]
    out["plain"] = spread(plain)
    for v, rs in results.items():
        if v == "plain":
            continue
        vals = [metric(r) for r in rs]
        entry = spread(vals)
        ratios = [a / b if b else float("inf") for a, b in zip(vals, plain)]
        diffs = [a - b for a, b in zip(vals, plain)]
        entry["ratio"] = spread(ratios)
        entry["added"] = spread(diffs)
        out[v] = entry
    out["lower_is_better"] = lower_is_better
    return out


# ---------------------------------------------------------------- formatting

def fnum(x, unit):
    if x is None:
        return "-"
    if unit in ("hs/s",):
        return "%.0f" % x
    if unit == "B/ctx":
        return "%.0f" % x
    if abs(x) >= 1000:
        return "%.0f" % x
    if abs(x) >= 100:
        return "%.1f" % x
    return "%.2f" % x


def cell(s, unit):
    if s is None:
        return "-"
    return "%s [%s–%s]" % (fnum(s["median"], unit), fnum(s["min"], unit), fnum(s["max"], unit))


def rcell(s):
    if s is None or s["median"] == float("inf"):
        return "-"
    return "%.3f [%.3f–%.3f]" % (s["median"], s["min"], s["max"])


def acell(s, unit):
    if s is None:
        return "-"
    return "%+.1f [%+.1f–%+.1f]" % (s["median"], s["min"], s["max"])


class Table:
    HEAD = ["#", "benchmark", "OpenSSL", "unit", "plain", "linked", "linked/plain", "added (linked)",
            "preload", "preload/plain", "goal"]

    def __init__(self):
        self.rows = []

    def add(self, section, name, build, unit, summary, show_added=True, goal="", linked_key="linked"):
        lk = summary.get(linked_key)
        pk = summary.get("preload")
        self.rows.append([
            section, name, build, unit,
            cell(summary.get("plain"), unit),
            cell(lk, unit), rcell(lk["ratio"]) if lk else "-",
            acell(lk["added"], unit) if (lk and show_added) else "-",
            cell(pk, unit), rcell(pk["ratio"]) if pk else "-",
            goal,
        ])

    def add_raw(self, row):
        self.rows.append(row)

    def markdown(self):
        lines = ["| " + " | ".join(self.HEAD) + " |", "|" + "|".join("---" for _ in self.HEAD) + "|"]
        for r in self.rows:
            lines.append("| " + " | ".join(r) + " |")
        return "\n".join(lines)


def verdict(ok):
    return "met" if ok else "MISSED"


# ---------------------------------------------------------------- machine

def machine_info(runner, builds):
    info = {"nproc": os.cpu_count(), "kernel": platform.release(), "python": platform.python_version()}
    try:
        out = subprocess.run(["lscpu"], stdout=subprocess.PIPE, text=True).stdout
        for line in out.splitlines():
            if line.startswith("Model name"):
                info["cpu"] = line.split(":", 1)[1].strip()
    except OSError:
        pass
    try:
        info["nproc"] = int(subprocess.run(["nproc"], stdout=subprocess.PIPE, text=True).stdout.strip())
    except (OSError, ValueError):
        pass
    info["loadavg_start"] = open("/proc/loadavg").read().split()[:3]
    info["openssl"] = {}
    for b in builds:
        r = runner.run(b, "linked", ["info"])
        info["openssl"][b] = r["openssl"]
        info["sesscb_version"] = r.get("sesscb_version", "")
    try:
        st = os.stat(runner.lib)
        info["libsesscb"] = {"path": runner.lib, "mtime": time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(st.st_mtime)),
                             "size": st.st_size}
        head = subprocess.run(["git", "-C", ROOT, "rev-parse", "--short", "HEAD"], stdout=subprocess.PIPE,
                              stderr=subprocess.DEVNULL, text=True).stdout.strip()
        dirty = subprocess.run(["git", "-C", ROOT, "status", "--porcelain", "--", "src"], stdout=subprocess.PIPE,
                               stderr=subprocess.DEVNULL, text=True).stdout.strip()
        info["git"] = head + ("+dirty src/" if dirty else "")
    except OSError:
        pass
    if runner.lib_dir_override:
        info["lib_dir_override"] = runner.lib_dir_override
    return info


# ---------------------------------------------------------------- benchmarks

def bench_dispatch(runner, table, out, build, cfg, variants):
    for threads in (1, 2):
        calls = cfg["dispatch_calls"] if threads == 1 else cfg["dispatch_calls_mt"]
        log("[%s] 1b dispatch loop, %d thread(s), %d calls x %d runs" % (build, threads, calls, cfg["dispatch_runs"]))
        res = runner.interleaved(build, variants, ["dispatch", calls, threads], cfg["dispatch_runs"], warmup_rounds=1)
        for key, label in (("new_ns", "new (kept)"), ("get_hit_ns", "get hit, *copy=0"),
                           ("get_miss_ns", "get miss"), ("remove_ns", "remove")):
            s = summarize(res, lambda r, k=key: r[k])
            out.setdefault("dispatch", {}).setdefault(build, {})["%s_%dT" % (key, threads)] = s
            goal = ""
            if threads == 1:
                worst = max(s[v]["added"]["median"] for v in variants if v != "plain")
                goal = "added ≤ %.0f ns: %s (%.1f)" % (GOAL_DISPATCH_ADDED_NS, verdict(worst <= GOAL_DISPATCH_ADDED_NS), worst)
            else:
                goal = "(2 threads, same ctx: contention)"
            table.add("1b", "dispatch via field ptr, %s, %dT" % (label, threads), build, "ns/call", s, goal=goal)


def bench_storm(runner, table, out, build, cfg, variants):
    n = cfg["storm_sessions"]
    log("[%s] 1a remove storm, %d sessions x %d runs" % (build, n, cfg["storm_runs"]))
    res = runner.interleaved(build, variants, ["storm", n], cfg["storm_runs"])
    s = summarize(res, lambda r: r["ns_per_cb"])
    out.setdefault("storm", {})[build] = s
    worst = max(s[v]["added"]["median"] for v in variants if v != "plain")
    table.add("1a", "remove storm: flush %d sessions" % n, build, "ns/remove cb", s,
              goal="added ≤ %.0f ns: %s (%+.1f; flush itself dominates)" % (
                  GOAL_DISPATCH_ADDED_NS, verdict(worst <= GOAL_DISPATCH_ADDED_NS), worst))


def bench_hs(runner, table, out, build, cfg, variants):
    for scen in ("tls12-resume", "tls13-resume", "tls12-full", "tls13-full"):
        resumed = scen.endswith("resume")
        for threads in (1, 2):
            vs = variants + (["log"] if resumed else [])
            runs = cfg["hs_runs"] if resumed else cfg["hs_full_runs"]
            log("[%s] 2/4 handshakes %s, %dT, variants %s x %d runs" % (build, scen, threads, ",".join(vs), runs))
            res = runner.interleaved(build, vs, ["hs", scen, threads, cfg["hs_seconds"], cfg["hs_warmup"]], runs)
            s = summarize(res, lambda r: r["hs_per_s"], lower_is_better=False)
            s["per_hs"] = res["plain"][0]["per_hs"]
            if "log" in res:
                s["log_trace_bytes_per_hs"] = statistics.median(
                    r["trace_bytes"] / max(1, r["handshakes"]) for r in res["log"])
            out.setdefault("hs", {}).setdefault(build, {})["%s_%dT" % (scen, threads)] = s
            per = s["per_hs"]
            cbs = "cbs/hs: new %.2f get %.2f rm %.2f" % (per["new"], per["get"], per["remove"])
            if resumed:
                worst = min(s[v]["ratio"]["median"] for v in variants if v != "plain")
                goal = "ratio ≥ %.2f: %s (%.3f); %s" % (GOAL_HS_RATIO, verdict(worst >= GOAL_HS_RATIO), worst, cbs)
            else:
                goal = "(full handshakes) " + cbs
            table.add("2", "handshakes %s, %dT" % (scen, threads), build, "hs/s", s, show_added=False, goal=goal)


def bench_log_rows(table, out, build):
    for key, s in out.get("hs", {}).get(build, {}).items():
        if "log" not in s:
            continue
        scen, threads = key.rsplit("_", 1)
        table.add_raw([
            "4", "handshakes %s, %s, SESSCB_LOG=file" % (scen, threads), build, "hs/s",
            cell(s["plain"], "hs/s"), cell(s["log"], "hs/s"), rcell(s["log"]["ratio"]), "-", "-", "-",
            "linked column = linked + log; %.0f B trace/hs" % s.get("log_trace_bytes_per_hs", 0),
        ])


def registry_context_rows(res, table, reg, build):
    s = summarize(res, lambda r: r["create_ns_per_ctx"])
    reg["ssl_ctx_new"] = s
    table.add("3", "context: SSL_CTX_new itself", build, "ns/ctx", s)
    s = summarize(res, lambda r: r["create_bytes_per_ctx"])
    reg["ssl_ctx_rss"] = s
    table.add("3", "context: RSS after SSL_CTX_new", build, "B/ctx", s)


def worst_added(s, variants):
    return max(s[v]["added"]["median"] for v in variants if v != "plain")


def registry_set_rows(res, table, reg, build, variants, regime, count):
    """Setter cost and memory of one regime: per-ctx slots or shared trampolines."""
    label = "per-ctx slots (first %d ctxs)" % count if regime == "slot" else "shared trampolines (%d ctxs)" % count
    s = summarize(res, lambda r: r[regime]["set_ns"])
    reg["set_ns_" + regime] = s
    worst = max(s[v]["median"] for v in variants if v != "plain")
    table.add("3", "set cb (mean of the 3 sets), %s" % label, build, "ns/set", s,
              goal="≤ %.0f ns: %s (%.0f)" % (GOAL_SET_NS, verdict(worst <= GOAL_SET_NS), worst))
    for part, what in (("first_set_ns", "1st set on a ctx (attach)"), ("next_set_ns", "2nd+3rd set")):
        s = summarize(res, lambda r, k=part: r[regime][k])
        reg["%s_%s" % (part, regime)] = s
        table.add("3", "  %s, %s" % (what, label), build, "ns/set", s)
    s = summarize(res, lambda r: r[regime]["bytes_per_ctx"])
    reg["bytes_" + regime] = s
    worst = worst_added(s, variants)
    table.add("3", "RSS after set, %s" % label, build, "B/ctx", s,
              goal="added ≤ %.0f B: %s (%.0f)" % (GOAL_BYTES_PER_CTX, verdict(worst <= GOAL_BYTES_PER_CTX), worst))


def registry_rss_all_row(res, table, reg, build, variants, n):
    s = summarize(res, lambda r: r["all"]["bytes_per_ctx"])
    reg["bytes_all"] = s
    worst = worst_added(s, variants)
    table.add("3", "RSS after set, all %d ctxs" % n, build, "B/ctx", s,
              goal="added ≤ %.0f B: %s (%.0f)" % (GOAL_BYTES_PER_CTX, verdict(worst <= GOAL_BYTES_PER_CTX), worst))


def registry_dispatch_rows(res, first, table, reg, build, variants):
    """Remove-callback dispatch at each live-ctx count, and whether the hot
    ctx stays flat as the registry grows."""
    lives = [d["live"] for d in first["dispatch"]]
    hot = {}
    for i, live in enumerate(lives):
        for key, label in (("first_ns", "hot ctx #0"), ("round_robin_ns", "round-robin over live ctxs")):
            s = summarize(res, lambda r, i=i, k=key: r["dispatch"][i][k])
            reg["dispatch_%s_%d" % (key, live)] = s
            if key == "first_ns":
                hot[live] = s
            table.add("3", "remove via field ptr, %s, %d live" % (label, live), build, "ns/call", s)
    if len(lives) <= 1:
        return
    big = lives[-1]
    s = summarize(res, lambda r: r["dispatch"][-1]["newest_ns"])
    reg["dispatch_newest_%d" % big] = s
    table.add("3", "remove via field ptr, newest ctx (%s), %d live" % (
        "shared trampoline" if big > 4096 else "slot", big), build, "ns/call", s)
    flat_ok = True
    detail = []
    for v in variants:
        if v == "plain":
            continue
        a, b = hot[lives[0]][v]["median"], hot[big][v]["median"]
        detail.append("%s %.1f→%.1f" % (v, a, b))
        flat_ok &= b <= GOAL_FLAT * a + 1.0
    table.rows[-1][-1] = "flat (hot ctx, 1→%d live): %s (%s)" % (big, verdict(flat_ok), ", ".join(detail))


def bench_registry(runner, table, out, build, cfg, variants):
    n = cfg["registry_ctxs"]
    log("[%s] 3 registry scale, %d ctxs x %d runs" % (build, n, cfg["registry_runs"]))
    res = runner.interleaved(build, variants, ["registry", n, cfg["registry_calls"]], cfg["registry_runs"])
    reg = out.setdefault("registry", {}).setdefault(build, {})
    first = res["plain"][0]
    regimes = [(g, first[g]["ctxs"]) for g in ("slot", "shared") if first[g]["ctxs"] != 0]

    registry_context_rows(res, table, reg, build)
    for regime, count in regimes:
        registry_set_rows(res, table, reg, build, variants, regime, count)
    registry_rss_all_row(res, table, reg, build, variants, n)
    registry_dispatch_rows(res, first, table, reg, build, variants)
    for regime, _count in regimes:
        s = summarize(res, lambda r, g=regime: r[g]["free_ns"])
        reg["free_ns_" + regime] = s
        table.add("3", "SSL_CTX_free, %s ctxs" % regime, build, "ns/free", s)


def bench_guard(runner, builds, cfg):
    n = cfg["guard_sessions"]
    runs = cfg["guard_runs"]
    parts, ok = [], True
    for b in builds:
        res = runner.interleaved(b, ["plain", "linked"], ["storm", n], runs)
        s = summarize(res, lambda r: r["ns_per_cb"])
        ratio = s["linked"]["ratio"]["median"]
        ok &= ratio <= GUARD_LIMIT
        parts.append("%s %.2fx (%.0f vs %.0f ns)" % (b, ratio, s["linked"]["median"], s["plain"]["median"]))
    print("bench-guard: %s — remove-callback cost sesscb/plain, median of %d runs, %d-session flush: %s; limit %.1fx" % (
        "PASS" if ok else "FAIL", runs, n, "; ".join(parts), GUARD_LIMIT), flush=True)
    if cfg.get("store_build"):
        store_ok, line = store.guard(runner.bin_dir, cfg["store_build"], cfg["sesscb"], log)
        print("bench-guard: %s — %s" % ("PASS" if store_ok else "FAIL", line), flush=True)
        ok &= store_ok
    return 0 if ok else 1


# ---------------------------------------------------------------- main

def parse_args():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--bin-dir", default=os.path.join(ROOT, "target", "bench"))
    ap.add_argument("--lib", default=os.path.join(ROOT, "target", "release", "libsesscb.so"))
    ap.add_argument("--out", default=os.path.join(ROOT, "target", "bench"))
    ap.add_argument("--builds", default=os.environ.get("BENCH_BUILDS", ",".join(ALL_BUILDS)),
                    help="comma list of: %s (default: all)" % ",".join(ALL_BUILDS))
    ap.add_argument("--only", default=os.environ.get("BENCH_ONLY", ""),
                    help="comma list of: dispatch,storm,hs,registry,store,redis (default: all)")
    ap.add_argument("--store-build", default=os.environ.get("STORE_BENCH_BUILD", "sys"),
                    help="the OpenSSL build the store section runs on (bench/store.py)")
    ap.add_argument("--sesscb", default=os.path.join(ROOT, "target", "release", "sesscb"),
                    help="the sesscb command (store section: `sesscb stats`)")
    ap.add_argument("--quick", action="store_true", default=os.environ.get("BENCH_QUICK", "") not in ("", "0"))
    ap.add_argument("--guard", action="store_true")
    ap.add_argument("--lib-dir-override", default=os.environ.get("BENCH_LIB_DIR", ""),
                    help="run against another libsesscb.so directory (LD_LIBRARY_PATH / LD_PRELOAD)")
    return ap.parse_args()


def make_runner(args, builds):
    """A Runner for the bench binaries of `builds`; exits if one is missing."""
    for b in builds:
        for kind in ("plain", "linked"):
            if not os.access(os.path.join(args.bin_dir, b, "bench-" + kind), os.X_OK):
                raise SystemExit("bench: missing %s/%s/bench-%s (run `make bench-bins`)" % (args.bin_dir, b, kind))
    lib = args.lib
    if args.lib_dir_override:
        lib = os.path.join(args.lib_dir_override, "libsesscb.so")
    os.makedirs(args.out, exist_ok=True)
    return Runner(args.bin_dir, lib, args.out, args.lib_dir_override or None)


def run_sections(runner, table, out, builds, only, cfg, variants):
    """Runs the selected sections and sorts the table's rows by section (1a, 1b, 2, 3, 4)."""
    for b in builds:
        if "dispatch" in only:
            bench_dispatch(runner, table, out, b, cfg, variants)
        if "storm" in only:
            bench_storm(runner, table, out, b, cfg, variants)
    for b in builds:
        if "hs" in only:
            bench_hs(runner, table, out, b, cfg, variants)
    for b in builds:
        if "registry" in only:
            bench_registry(runner, table, out, b, cfg, variants)
    for b in builds:
        bench_log_rows(table, out, b)
    order = {"1a": 0, "1b": 1, "2": 2, "3": 3, "4": 4}
    table.rows.sort(key=lambda r: order.get(r[0], 9))


def report_header(info, runner, quick):
    return [
        "sesscb benchmark — %s" % time.strftime("%Y-%m-%d %H:%M:%S"),
        "machine: nproc=%s, CPU %s, kernel %s; load avg %s → %s" % (
            info.get("nproc"), info.get("cpu", "?"), info.get("kernel"),
            "/".join(info["loadavg_start"]), "/".join(info["loadavg_end"])),
        "OpenSSL: " + "; ".join("%s = %s" % (b, v) for b, v in info["openssl"].items()),
        "sesscb %s, %s (%s)%s" % (info.get("sesscb_version", "?"), info.get("libsesscb", {}).get("path", "?"),
                                   info.get("git", "?"), " [lib override]" if runner.lib_dir_override else ""),
        "cells: median [min–max] over runs; ratios and 'added' computed run by run against the interleaved plain run;"
        " times are thread CPU time (hs/s = handshakes per thread-CPU-second, summed over threads);"
        " %s mode, %d processes, %.0f s" % ("QUICK" if quick else "full", runner.runs, info["elapsed_s"]),
    ]


def write_results(out_dir, doc, text):
    stamp = time.strftime("%Y%m%d-%H%M%S")
    for name in ("results-%s.json" % stamp, "results.json"):
        with open(os.path.join(out_dir, name), "w") as f:
            json.dump(doc, f, indent=1)
    with open(os.path.join(out_dir, "results.md"), "w") as f:
        f.write(text)
    log("bench: wrote %s and %s" % (os.path.join(out_dir, "results.json"), os.path.join(out_dir, "results.md")))


def main():
    args = parse_args()
    builds = [b for b in args.builds.split(",") if b]
    runner = make_runner(args, builds)
    if args.guard:
        cfg = {"guard_sessions": 200_000, "guard_runs": 3, "store_build": args.store_build, "sesscb": args.sesscb}
        return bench_guard(runner, builds, cfg)

    cfg = settings(args.quick)
    only = set(x for x in args.only.split(",") if x) or {"dispatch", "storm", "hs", "registry", "store", "redis"}
    t_start = time.monotonic()
    info = machine_info(runner, builds)
    info["quick"] = args.quick
    info["settings"] = cfg
    table = Table()
    out = {}
    run_sections(runner, table, out, builds, only, cfg, ["plain", "linked", "preload"])
    store_md = ""
    if "store" in only:
        out["store"], store_raw, store_md, store_runs = store.run(
            args.bin_dir, args.store_build, args.sesscb, args.quick, log, args.lib_dir_override or None)
        runner.raw.extend({"build": args.store_build, "variant": "store", "args": r["args"], "result": r["result"]}
                          for r in store_raw)
        runner.runs += store_runs
    redis_md = ""
    if "redis" in only:
        out["redis"], redis_raw, redis_md, redis_runs = redis_tier.run(
            args.bin_dir, args.store_build, args.sesscb, args.quick, log, args.lib_dir_override or None)
        runner.raw.extend({"build": args.store_build, "variant": "redis", "args": r["args"], "result": r["result"]}
                          for r in redis_raw)
        runner.runs += redis_runs
    info["loadavg_end"] = open("/proc/loadavg").read().split()[:3]
    info["elapsed_s"] = round(time.monotonic() - t_start, 1)
    info["processes"] = runner.runs

    text = "\n".join(report_header(info, runner, args.quick)) + "\n\n"
    if table.rows:
        text += table.markdown() + "\n"
    if store_md:
        text += "\nShared store (%s; S1 ratio = store / internal cache, run by run; S2 added = on − off):\n\n%s\n" % (
            info["openssl"].get(args.store_build, args.store_build), store_md)
    if redis_md:
        text += ("\nRedis tier (%s, %s on loopback; R1 added = sesscb − Redis GET, run by run; R2 ratios to the"
                 " internal cache, run by run; R3 added = Redis stopped − store off):\n\n%s\n") % (
            info["openssl"].get(args.store_build, args.store_build), out["redis"]["redis"], redis_md)
    print(text, flush=True)
    doc = {"machine": info, "summary": out, "table": {"head": Table.HEAD, "rows": table.rows}, "raw": runner.raw}
    write_results(args.out, doc, text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
