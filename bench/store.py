"""The shared store's section of `make bench` (run by bench/run.py).

Drives target/bench/<build>/store-{plain,linked} (bench/store_bench.c):

  S1  resumed handshakes per CPU second, every resumption served by the
      store (store-linked, SESSCB_STORE=local, provide mode, server ctx
      SSL_SESS_CACHE_NO_INTERNAL_LOOKUP) against OpenSSL's internal cache
      (store-plain); interleaved runs, ratio taken run by run. Goal ≥ 0.95.
  S2  latency of the new and get callbacks libssl calls, per call, store on
      against store off (same binary, same trivial application callbacks):
      p50/p99. Goal: p99 ≤ 10 µs.
  S3  2 processes × 2 threads writing new sessions at a fixed total rate
      into one store at once: every session stored (a third process looks
      each one up; `sesscb stats` counts the entries), and how long writers
      waited for LMDB's mutexes.
  S4  resumption across processes: N sessions made by one process, each
      offered to a fresh process, with and without the store.

Every store run gets a fresh store directory (tmpfs when /dev/shm exists).
"""

import json
import os
import shutil
import statistics
import subprocess
import tempfile
import time

GOAL_HS_RATIO = 0.95
GOAL_P99_US = 10.0
DOMAIN = "bench"


def settings(quick):
    if quick:
        return dict(hs_seconds=0.4, hs_warmup=0.15, hs_runs=5, lat_calls=20_000, lat_runs=3,
                    write_seconds=3.0, write_rate=10_000, xproc_sessions=50)
    return dict(hs_seconds=0.8, hs_warmup=0.2, hs_runs=7, lat_calls=50_000, lat_runs=5,
                write_seconds=5.0, write_rate=10_000, xproc_sessions=200)


class StoreRunner:
    def __init__(self, bin_dir, build, sesscb_cli, log, lib_dir=None):
        self.plain = os.path.join(bin_dir, build, "store-plain")
        self.linked = os.path.join(bin_dir, build, "store-linked")
        self.sesscb_cli = sesscb_cli
        self.build = build
        self.log = log
        self.lib_dir = lib_dir
        self.raw = []
        self.runs = 0
        base = "/dev/shm" if os.access("/dev/shm", os.W_OK) else None
        self.tmp = tempfile.mkdtemp(prefix="sesscb-store-bench.", dir=base)

    def missing(self):
        return [p for p in (self.plain, self.linked) if not os.access(p, os.X_OK)]

    def fresh_dir(self):
        return tempfile.mkdtemp(dir=self.tmp)

    def env(self, store_dir, extra=None):
        env = {k: v for k, v in os.environ.items()
               if k not in ("LD_PRELOAD", "SESSCB_LOG") and not k.startswith("SESSCB_STORE")}
        if self.lib_dir:
            env["LD_LIBRARY_PATH"] = self.lib_dir  # yields over the binaries' RUNPATH
        if store_dir:
            env.update(SESSCB_STORE="local", SESSCB_STORE_DIR=store_dir, SESSCB_STORE_DOMAIN=DOMAIN)
            env.update(extra or {})
        return env

    def start(self, linked, store_dir, args, extra_env=None):
        cmd = [self.linked if linked else self.plain] + [str(a) for a in args]
        return cmd, subprocess.Popen(cmd, env=self.env(store_dir, extra_env), stdout=subprocess.PIPE,
                                     stderr=subprocess.PIPE, text=True)

    def finish(self, cmd, proc, store_dir):
        out, err = proc.communicate()
        self.runs += 1
        if proc.returncode != 0:
            raise SystemExit("bench store: %s failed (%d):\n%s%s" % (" ".join(cmd), proc.returncode, out, err))
        lines = [l for l in out.splitlines() if l.startswith("{")]
        if not lines:
            raise SystemExit("bench store: no JSON from %s:\n%s" % (" ".join(cmd), err))
        result = json.loads(lines[-1])
        if result["store"] != ("local" if store_dir else ""):
            raise SystemExit("bench store: %s: store setting not seen" % " ".join(cmd))
        if err.strip():
            result["stderr"] = err.strip()[-500:]
        self.raw.append({"args": cmd[1:], "store": bool(store_dir), "result": result})
        return result

    def run(self, linked, store_dir, args, extra_env=None):
        cmd, proc = self.start(linked, store_dir, args, extra_env)
        return self.finish(cmd, proc, store_dir)

    def stats(self, store_dir):
        out = subprocess.run([self.sesscb_cli, "stats", "--dir", store_dir, "--domain", DOMAIN, "--json"],
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        if out.returncode != 0:
            raise SystemExit("bench store: sesscb stats failed:\n%s" % out.stderr)
        return json.loads(out.stdout)

    def cleanup(self):
        shutil.rmtree(self.tmp, ignore_errors=True)


def spread(values):
    return {"median": statistics.median(values), "min": min(values), "max": max(values), "runs": values}


def verdict(ok):
    return "met" if ok else "MISSED"


# ---------------------------------------------------------------- S1

def hs_pair(sr, scen, threads, cfg):
    """Interleaved internal / store runs; the order alternates each round."""
    args = ["hs", scen, None, threads, cfg["hs_seconds"], cfg["hs_warmup"]]
    internal, store = [], []
    for r in range(cfg["hs_runs"]):
        order = ("internal", "store") if r % 2 == 0 else ("store", "internal")
        for cache in order:
            args[2] = cache
            if cache == "internal":
                internal.append(sr.run(False, None, args))
            else:
                store.append(sr.run(True, sr.fresh_dir(), args))
    return internal, store


def check_hs(internal, store):
    for r in internal:
        if r["cb_hits"] != 0 or r["resumed"] < 0.99 * r["handshakes"]:
            raise SystemExit("bench store: internal-cache run did not resume from the internal cache: %s" % r)
    for r in store:
        # hits count every resumption; cb_hits those the get callback served.
        if r["cb_hits"] != r["internal_hits"] or r["resumed"] < 0.99 * r["handshakes"]:
            raise SystemExit("bench store: a resumption was not served by the store: %s" % r)


def bench_hs(sr, cfg, rows, out):
    for scen in ("tls12", "tls13"):
        for threads in (1, 2):
            sr.log("[store] S1 resumed handshakes %s, %dT: internal cache vs store x %d runs" % (
                scen, threads, cfg["hs_runs"]))
            internal, store = hs_pair(sr, scen, threads, cfg)
            check_hs(internal, store)
            a = spread([r["hs_per_s"] for r in internal])
            b = spread([r["hs_per_s"] for r in store])
            ratio = spread([y["hs_per_s"] / x["hs_per_s"] for x, y in zip(internal, store)])
            out["hs_%s_%dT" % (scen, threads)] = {"internal": a, "store": b, "ratio": ratio}
            rows.append(["S1", "resumed hs/s, %s, %dT (store: %d%% of resumptions via get cb)" % (
                scen, threads, 100 * sum(r["cb_hits"] for r in store) // max(1, sum(r["internal_hits"] for r in store))),
                "hs/CPU-s", cell(a, "%.0f"), cell(b, "%.0f"), cell(ratio, "%.3f"),
                "ratio ≥ %.2f: %s" % (GOAL_HS_RATIO, verdict(ratio["median"] >= GOAL_HS_RATIO))])


# ---------------------------------------------------------------- S2

PCTS = ("p50_us", "p99_us", "p999_us")


def bench_latency(sr, cfg, rows, out):
    for scen in ("tls12", "tls13"):
        sr.log("[store] S2 new/get latency %s, %d calls x %d runs, store off vs on" % (
            scen, cfg["lat_calls"], cfg["lat_runs"]))
        off, on = [], []
        for r in range(cfg["lat_runs"]):
            off.append(sr.run(True, None, ["latency", scen, cfg["lat_calls"]]))
            on.append(sr.run(True, sr.fresh_dir(), ["latency", scen, cfg["lat_calls"]]))
        if any(r["get_hits"] != cfg["lat_calls"] for r in on) or any(r["get_hits"] != 0 for r in off):
            raise SystemExit("bench store: latency: store-on gets must all hit, store-off none")
        for kind, label in (("new", "new (store write)"), ("get", "get hit (store lookup)")):
            entry = {}
            for p in PCTS:
                entry[p] = {"off": spread([r[kind][p] for r in off]), "on": spread([r[kind][p] for r in on]),
                            "added": spread([y[kind][p] - x[kind][p] for x, y in zip(off, on)])}
            out["latency_%s_%s" % (scen, kind)] = entry
            p99 = entry["p99_us"]["added"]["median"]
            rows.append(["S2", "%s, %s: p50 / p99 / p99.9" % (label, scen), "µs/call",
                         " / ".join("%.2f" % entry[p]["off"]["median"] for p in PCTS),
                         " / ".join("%.2f" % entry[p]["on"]["median"] for p in PCTS),
                         "added p50 %.2f, p99 %.2f" % (entry["p50_us"]["added"]["median"], p99),
                         "p99 ≤ %.0f µs: %s (%.1f)" % (GOAL_P99_US, verdict(p99 <= GOAL_P99_US), p99)])


# ---------------------------------------------------------------- S3

def bench_writers(sr, cfg, rows, out, processes=2, threads=2, map_size=None):
    """map_size None: the default map, which holds the whole run (every
    session must be found); else a map small enough that eviction runs
    during the run (entries then bounded, nothing checked for presence)."""
    store_dir = sr.fresh_dir()
    rate = cfg["write_rate"]
    extra = {"SESSCB_STORE_SIZE": map_size} if map_size else None
    sr.log("[store] S3 %d processes x %d threads writing %d sessions/s for %.0f s%s" % (
        processes, threads, rate, cfg["write_seconds"], ", map %s (evicting)" % map_size if map_size else ""))
    start_ms = int((time.time() + 1.0) * 1000)
    procs = [sr.start(True, store_dir, ["write", "tls12", cfg["write_seconds"], rate / processes, threads, tag + 1,
                                        start_ms], extra) for tag in range(processes)]
    writers = [sr.finish(cmd, proc, store_dir) for cmd, proc in procs]
    spec = ["%d.%d.%d" % (w["tag"], t, n) for w in writers for t, n in enumerate(w["written"])]
    check = sr.run(True, store_dir, ["check", "tls12"] + spec, extra)
    stats = sr.stats(store_dir)
    written = sum(sum(w["written"]) for w in writers)
    # Each of the 3 processes also stored the one session of its setup handshake.
    expected_entries = written + processes + 1
    res = {"writers": writers, "check": check, "stats": stats, "written": written,
           "expected_entries": expected_entries, "map_size": map_size}
    out["writers_evicting" if map_size else "writers"] = res
    report_writers(rows, res, rate, processes, threads)


def report_writers(rows, res, rate, processes, threads):
    writers, check, stats = res["writers"], res["check"], res["stats"]
    achieved = sum(w["achieved_rate"] for w in writers)
    if res["map_size"]:
        # Evicted entries are gone by design: what must hold is that the
        # writes kept their rate and the store stayed within its map.
        stored_ok = stats["evictions"] > 0 and stats["bytes_used"] < stats["map_size"]
    else:
        stored_ok = check["hits"] == check["looked_up"] == res["written"] and stats["entries"] == res["expected_entries"]
    calls = sum(w["calls"] for w in writers)
    waited = sum(w["calls_that_waited"] for w in writers)
    wait_p50 = max(w["wait_when_waited"].get("p50_us", 0) for w in writers)
    wait_p99 = max(w["wait_when_waited"].get("p99_us", 0) for w in writers)
    wait_total = sum(w["wait_total_ns"] for w in writers) / 1e9
    acq = sum(w["mutex_acquisitions"] for w in writers)
    what = "%d proc x %d thr, %d new/s%s" % (processes, threads, rate,
                                             ", map %s, evicting" % res["map_size"] if res["map_size"] else "")
    rows.append(["S3", "%s: achieved rate; stored (looked up by a 3rd process / entries)" % what, "",
                 "%.0f/s" % achieved, "%d/%d found; %d entries (expect %d); evictions %d" % (
                     check["hits"], check["looked_up"], stats["entries"], res["expected_entries"], stats["evictions"]),
                 "", "rate held: %s; %s" % (verdict(achieved >= 0.95 * rate),
                                            ("evicted, bounded: %s" if res["map_size"] else "no drops: %s") % verdict(stored_ok))])
    rows.append(["S3", "%s: new latency p50 / p99 / p99.9 (worst process)" % what, "µs/call", "",
                 " / ".join("%.2f" % max(w["new"][p] for w in writers) for p in PCTS), "", ""])
    share = waited / max(1, calls)
    new_p50 = max(w["new"]["p50_us"] for w in writers)
    descheduled = sum(w["descheduled_calls"] for w in writers)
    # The write lock is busy for `duty` of the time: writers arriving at
    # random find it held about that often, and then wait about one write.
    # A convoy is more: waiters queueing behind waiters, so more calls wait
    # than the duty cycle explains and a typical wait spans several writes.
    duty = achieved * new_p50 / 1e6
    no_convoy = share <= duty + 0.01 and wait_p50 <= 3 * new_p50
    goal = "no convoy (waited ≤ lock duty %.0f%%, p50 wait ≤ 3 writes): %s" % (100 * duty, verdict(no_convoy))
    if res["map_size"]:
        # A write that evicts holds the lock for a whole batch: those who
        # arrive meanwhile wait that long, once, without queueing up.
        goal = "no convoy (waited ≤ lock duty %.0f%%): %s; waits are behind eviction batches" % (
            100 * duty, verdict(share <= duty + 0.01))
    rows.append(["S3", "%s: LMDB write-lock waits (%d acquisitions)" % (what, acq), "µs",
                 "%d of %d calls waited (%.2f%%); %d calls preempted > 200 µs" % (
                     waited, calls, 100 * share, descheduled),
                 "wait p50 %.2f / p99 %.2f (when waited); %.3f s waited in all" % (wait_p50, wait_p99, wait_total),
                 "", goal])


# ---------------------------------------------------------------- S4

def bench_xproc(sr, cfg, rows, out):
    n = cfg["xproc_sessions"]
    for scen in ("tls12", "tls13"):
        sr.log("[store] S4 %d sessions made in one process, resumed in another, %s, plain and store" % (n, scen))
        res = {}
        for variant in ("plain", "store"):
            store_dir = sr.fresh_dir() if variant == "store" else None
            path = os.path.join(sr.tmp, "sessions-%s-%s" % (scen, variant))
            made = sr.run(variant == "store", store_dir, ["xmake", scen, n, path])
            got = sr.run(variant == "store", store_dir, ["xresume", scen, path])
            if made["full"] != n or got["tried"] != n:
                raise SystemExit("bench store: xproc: %s / %s" % (made, got))
            res[variant] = got
        out["xproc_%s" % scen] = res
        s = res["store"]
        ok = s["resumed"] == n and s["cb_hits"] == n
        rows.append(["S4", "resumed in another process, %s" % scen, "sessions",
                     "plain %d/%d" % (res["plain"]["resumed"], n), "store %d/%d (%d via get cb)" % (
                         s["resumed"], n, s["cb_hits"]), "", "100%%: %s" % verdict(ok)])


# ---------------------------------------------------------------- entry

def cell(s, fmt):
    return ("%s [%s–%s]" % (fmt, fmt, fmt)) % (s["median"], s["min"], s["max"])


HEAD = ["#", "store measure", "unit", "internal cache / store off", "store", "ratio / added", "goal"]


def markdown(rows):
    lines = ["| " + " | ".join(HEAD) + " |", "|" + "|".join("---" for _ in HEAD) + "|"]
    lines += ["| " + " | ".join(r) + " |" for r in rows]
    return "\n".join(lines)


def run(bin_dir, build, sesscb_cli, quick, log, lib_dir=None):
    """Runs S1–S4; returns (summary dict, raw runs, Markdown table, processes).
    lib_dir: another libsesscb.so's directory (BENCH_LIB_DIR)."""
    sr = StoreRunner(bin_dir, build, sesscb_cli, log, lib_dir)
    missing = sr.missing() + ([] if os.access(sesscb_cli, os.X_OK) else [sesscb_cli])
    if missing:
        raise SystemExit("bench store: missing %s (run `make bench-bins`)" % ", ".join(missing))
    cfg = settings(quick)
    rows, out = [], {"build": build, "settings": cfg, "tmpfs": sr.tmp.startswith("/dev/shm")}
    t0 = time.monotonic()
    try:
        bench_hs(sr, cfg, rows, out)
        bench_latency(sr, cfg, rows, out)
        bench_writers(sr, cfg, rows, out)
        bench_writers(sr, cfg, rows, out, map_size="8M")
        bench_xproc(sr, cfg, rows, out)
    finally:
        sr.cleanup()
    out["elapsed_s"] = round(time.monotonic() - t0, 1)
    return out, sr.raw, markdown(rows), sr.runs


# ---------------------------------------------------------------- guard

GUARD_HS_RATIO = 0.5
GUARD_NEW_P50_US = 100.0


def guard(bin_dir, build, sesscb_cli, log):
    """A gross-regression check for `make bench-guard` (a few seconds): the
    store serving every TLS 1.2 resumption keeps at least half the internal
    cache's rate, and a store write stays under 100 µs at the median (today:
    about 0.93 and 13 µs). Returns (ok, one line)."""
    sr = StoreRunner(bin_dir, build, sesscb_cli, log)
    if sr.missing():
        raise SystemExit("bench-guard: missing %s" % ", ".join(sr.missing()))
    try:
        internal, store = hs_pair(sr, "tls12", 1, dict(hs_seconds=0.3, hs_warmup=0.1, hs_runs=3))
        check_hs(internal, store)
        ratio = statistics.median(y["hs_per_s"] / x["hs_per_s"] for x, y in zip(internal, store))
        lat = sr.run(True, sr.fresh_dir(), ["latency", "tls12", 5000])
    finally:
        sr.cleanup()
    new_p50 = lat["new"]["p50_us"]
    ok = ratio >= GUARD_HS_RATIO and new_p50 <= GUARD_NEW_P50_US and lat["get_hits"] == 5000
    return ok, "store resumed-hs ratio %.2f (limit %.2f), store write p50 %.1f µs (limit %.0f), %d/5000 get hits" % (
        ratio, GUARD_HS_RATIO, new_p50, GUARD_NEW_P50_US, lat["get_hits"])
