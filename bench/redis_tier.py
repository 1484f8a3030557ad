"""The Redis tier's section of `make bench` (run by bench/run.py;
`BENCH_ONLY=redis make bench` runs it alone).

Starts Debian's redis-server on a free loopback port (no persistence) and
drives target/bench/<build>/store-{plain,linked} (bench/store_bench.c):

  R1  Redis's own GET round trip (store_bench's `rtt` mode: our RESP client,
      resp_client.c, a value as large as a real store entry) against the get
      callback through sesscb hitting Redis (`latency`, SESSCB_STORE=
      redis://…), interleaved run by run. Goal: p99 ≤ RTT p99 + 50 µs. The
      latency runs give a lookup 1 s instead of 2 ms so that every get must
      hit (a miss fails the bench) and no slow call is cut off unseen.
  R2  resumed handshakes, every resumption served through the get callback:
      by Redis (redis://), by the embedded tier (local), against OpenSSL's
      internal cache; per thread-CPU second and per wall second (a Redis
      lookup waits off the CPU), ratios run by run; 1 s deadline, as R1.
  R3  handshakes with Redis SIGSTOPped (sessions stored while it ran, then
      offered: every lookup misses, each handshake is full) against full
      handshakes with the store off, default 2 ms deadline. Goal: added p99
      ≤ the deadline.
  R3b the get callback alone, Redis SIGSTOPped, N calls back to back: what
      a stopped Redis adds to each handshake, free of the handshake's own
      scheduling noise. Goal: p99 ≤ the deadline.
  R4  10,000 new sessions a second for some seconds (1 process, 2 threads):
      every write reaches Redis (remote_ok, DBSIZE) and queue_dropped == 0.

Every figure comes from sesscb's own counters and Redis's answers: a run
whose hits were not Redis hits, or whose writes did not all arrive, stops
the bench.
"""

import json
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time

import store  # noqa: E402  (bench/store.py: spread, cell, verdict)

GOAL_ADDED_US = 50.0
# R1 and R2 give a lookup the longest deadline sesscb takes (not the default
# 2 ms): they measure what a Redis hit costs, and on a shared 2-core machine
# a lookup scheduled late would otherwise turn into a miss (seen: 1.8 % of
# TLS 1.3 lookups at 2 ms, load average 2.7; one of 30 000 at 25 ms, load
# average 4). What the deadline does is R3's subject.
HS_TIMEOUT_MS = 1000
DEADLINE_MS = 2
CONTROL = 20  # store_bench.c's CONTROL: sessions offered before Redis stops
DOMAIN = "bench"
WRITE_RATE = 10_000


def settings(quick):
    if quick:
        return dict(lat_calls=10_000, lat_runs=3, hs_seconds=0.4, hs_warmup=0.15, hs_runs=3,
                    stalled=3000, stalled_runs=2, write_seconds=3.0, write_runs=1)
    return dict(lat_calls=30_000, lat_runs=5, hs_seconds=0.8, hs_warmup=0.2, hs_runs=5,
                stalled=6000, stalled_runs=3, write_seconds=10.0, write_runs=2)


# ---------------------------------------------------------------- Redis

def resp(port, *args):
    """One command on a fresh connection; the reply (bulk/int/status/array)."""
    with socket.create_connection(("127.0.0.1", port), timeout=5) as s:
        out = b"*%d\r\n" % len(args)
        for a in args:
            a = a if isinstance(a, bytes) else str(a).encode()
            out += b"$%d\r\n%s\r\n" % (len(a), a)
        s.sendall(out)
        return read_reply(s.makefile("rb"))


def read_reply(f):
    line = f.readline()
    kind, rest = line[:1], line[1:-2]
    if kind == b"+":
        return rest
    if kind == b":":
        return int(rest)
    if kind == b"$":
        n = int(rest)
        return None if n < 0 else f.read(n + 2)[:-2]
    if kind == b"*":
        return [read_reply(f) for _ in range(int(rest))]
    raise SystemExit("bench redis: unexpected reply %r" % line)


class RedisServer:
    def __init__(self, d):
        exe = shutil.which("redis-server")
        if not exe:
            raise SystemExit("bench redis: no redis-server (scripts/install-deps.sh installs it)")
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            self.port = s.getsockname()[1]
        self.log = os.path.join(d, "redis.log")
        self.proc = subprocess.Popen([exe, "--port", str(self.port), "--bind", "127.0.0.1", "--save", "",
                                      "--appendonly", "no", "--dir", d, "--logfile", self.log],
                                     stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        if not self.wait_ready(10):
            self.stop()
            raise SystemExit("bench redis: redis-server did not start on port %d" % self.port)

    def wait_ready(self, seconds):
        end = time.monotonic() + seconds
        while time.monotonic() < end and self.proc.poll() is None:
            try:
                if resp(self.port, "PING") == b"PONG":
                    return True
            except OSError:
                pass
            time.sleep(0.05)
        return False

    def url(self):
        return "redis://127.0.0.1:%d" % self.port

    def entry_size(self):
        """The size of one entry the store wrote (SCAN for a sesscb: key)."""
        cursor = b"0"
        for _ in range(1000):
            cursor, keys = resp(self.port, "SCAN", cursor, "MATCH", "sesscb:*", "COUNT", "100")
            if keys:
                return resp(self.port, "STRLEN", keys[0])
            if cursor == b"0":
                break
        raise SystemExit("bench redis: the store wrote nothing to Redis")

    def resume(self):
        """SIGCONT (a run that died between its SIGSTOP and SIGCONT) and PING."""
        self.proc.send_signal(signal.SIGCONT)
        if not self.wait_ready(10):
            raise SystemExit("bench redis: Redis does not answer after SIGCONT")

    def stop(self):
        self.proc.send_signal(signal.SIGCONT)
        self.proc.terminate()
        try:
            self.proc.wait(5)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()


# ---------------------------------------------------------------- runner

class RedisRunner:
    def __init__(self, bin_dir, build, sesscb_cli, log, lib_dir=None):
        self.plain = os.path.join(bin_dir, build, "store-plain")
        self.linked = os.path.join(bin_dir, build, "store-linked")
        self.log, self.lib_dir = log, lib_dir
        self.raw, self.runs = [], 0
        base = "/dev/shm" if os.access("/dev/shm", os.W_OK) else None
        self.tmp = tempfile.mkdtemp(prefix="sesscb-redis-bench.", dir=base)
        self.keyring = os.path.join(self.tmp, "keyring")
        missing = [p for p in (self.plain, self.linked, sesscb_cli) if not os.access(p, os.X_OK)]
        if missing:
            raise SystemExit("bench redis: missing %s (run `make bench-bins`)" % ", ".join(missing))
        subprocess.run([sesscb_cli, "keygen", self.keyring], check=True, stdout=subprocess.DEVNULL)
        self.redis = RedisServer(self.tmp)

    def env(self, store, extra=None):
        env = {k: v for k, v in os.environ.items() if k != "LD_PRELOAD" and not k.startswith("SESSCB_")}
        if self.lib_dir:
            env["LD_LIBRARY_PATH"] = self.lib_dir
        if store:
            env.update(SESSCB_STORE=store, SESSCB_STORE_KEYRING=self.keyring, SESSCB_STORE_DOMAIN=DOMAIN,
                       SESSCB_STORE_DIR=tempfile.mkdtemp(dir=self.tmp))
        env.update(extra or {})
        return env

    def run(self, linked, store, args, extra=None):
        """One fresh process; its JSON line. store: None, "local" or "redis"."""
        url = self.redis.url() if store == "redis" else store
        cmd = [self.linked if linked else self.plain] + [str(a) for a in args]
        out = subprocess.run(cmd, env=self.env(url, extra), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                             text=True, timeout=300)
        self.runs += 1
        lines = [l for l in out.stdout.splitlines() if l.startswith("{")]
        if out.returncode != 0 or not lines:
            raise SystemExit("bench redis: %s failed (%d):\n%s%s" % (" ".join(cmd), out.returncode, out.stdout,
                                                                     out.stderr))
        result = json.loads(lines[-1])
        if result["store"] != (url or ""):
            raise SystemExit("bench redis: %s: store setting not seen" % " ".join(cmd))
        self.raw.append({"args": cmd[1:], "store": store, "result": result})
        return result

    def flush(self):
        resp(self.redis.port, "FLUSHALL")

    def cleanup(self):
        self.redis.stop()
        shutil.rmtree(self.tmp, ignore_errors=True)


def fail(what, result):
    raise SystemExit("bench redis: %s: %s" % (what, json.dumps(result)))


PCTS = ("p50_us", "p99_us", "p999_us")


def pcts(entry, fmt="%.1f"):
    return " / ".join(fmt % entry[p]["median"] for p in PCTS)


# ---------------------------------------------------------------- R1

def latency_run(rr, scen, n):
    rr.flush()
    on = rr.run(True, "redis", ["latency", scen, n], {"SESSCB_STORE_TIMEOUT_MS": str(HS_TIMEOUT_MS)})
    c = on["counters"]
    # Every timed get a Redis hit: the warm-up's gets may miss (no
    # connection yet, or the write not sent), never the timed ones.
    if on["get_hits"] != n or c["remote_hit"] < n or c["local_hit"] != 0:
        fail("a timed get was not a Redis hit", on)
    size = rr.redis.entry_size()
    raw = rr.run(False, None, ["rtt", rr.redis.port, size, n])
    return raw, on, size


def bench_rtt(rr, cfg, rows, out):
    for scen in ("tls12", "tls13"):
        rr.log("[redis] R1 Redis GET round trip vs get through sesscb, %s, %d calls x %d runs" % (
            scen, cfg["lat_calls"], cfg["lat_runs"]))
        runs = [latency_run(rr, scen, cfg["lat_calls"]) for _ in range(cfg["lat_runs"])]
        entry = {"entry_bytes": runs[0][2]}
        for p in PCTS + ("max_us",):
            entry[p] = {"raw": store.spread([r["get"][p] for r, _, _ in runs]),
                        "sesscb": store.spread([s["get"][p] for _, s, _ in runs]),
                        "added": store.spread([s["get"][p] - r["get"][p] for r, s, _ in runs])}
        out["rtt_%s" % scen] = entry
        added = entry["p99_us"]["added"]["median"]
        rows.append(["R1", "get hit: Redis GET (own client) vs sesscb get via Redis, %s, %d-byte entry: "
                           "p50 / p99 / p99.9" % (scen, entry["entry_bytes"]), "µs/call",
                     " / ".join("%.1f" % entry[p]["raw"]["median"] for p in PCTS),
                     " / ".join("%.1f" % entry[p]["sesscb"]["median"] for p in PCTS),
                     "added p50 %.1f, p99 %.1f [%.1f–%.1f]" % (entry["p50_us"]["added"]["median"], added,
                                                              entry["p99_us"]["added"]["min"],
                                                              entry["p99_us"]["added"]["max"]),
                     "p99 ≤ RTT + %.0f µs: %s" % (GOAL_ADDED_US, store.verdict(added <= GOAL_ADDED_US))])


# ---------------------------------------------------------------- R2

def check_served(r, cache):
    """Every resumption through the get callback, and from the right tier."""
    if r["resumed"] < 0.99 * r["handshakes"]:
        fail("%s: under 99%% resumed" % cache, r)
    if cache == "internal":
        if r["cb_hits"] != 0:
            fail("internal cache run used the get callback", r)
        return
    c = r["counters"]
    if r["cb_hits"] != r["internal_hits"]:
        fail("%s: a resumption was not served by the store" % cache, r)
    hits, other = (c["remote_hit"], c["local_hit"]) if cache == "redis" else (c["local_hit"], c["remote_hit"])
    if hits < r["cb_hits"] or other != 0:
        fail("%s: hits not from that tier" % cache, r)


def hs_runs(rr, scen, cfg):
    res = {"internal": [], "local": [], "redis": []}
    order = ["internal", "local", "redis"]
    for i in range(cfg["hs_runs"]):
        for cache in order[i % 3:] + order[:i % 3]:
            rr.flush()
            args = ["hs", scen, "internal" if cache == "internal" else "store", 1, cfg["hs_seconds"],
                    cfg["hs_warmup"]]
            extra = {"SESSCB_STORE_TIMEOUT_MS": str(HS_TIMEOUT_MS)} if cache == "redis" else None
            r = rr.run(cache != "internal", None if cache == "internal" else cache, args, extra)
            check_served(r, cache)
            res[cache].append(r)
    return res


def bench_hs(rr, cfg, rows, out):
    for scen in ("tls12", "tls13"):
        rr.log("[redis] R2 resumed handshakes %s: internal cache vs embedded tier vs Redis x %d runs" % (
            scen, cfg["hs_runs"]))
        res = hs_runs(rr, scen, cfg)
        entry = {}
        for key, label in (("hs_per_s", "hs/CPU-s"), ("wall_hs_per_s", "hs/wall-s")):
            rate = {c: store.spread([r[key] for r in res[c]]) for c in res}
            ratio = {c: store.spread([y[key] / x[key] for x, y in zip(res["internal"], res[c])])
                     for c in ("local", "redis")}
            entry[key] = {"rate": rate, "ratio_to_internal": ratio}
            rows.append(["R2", "resumed hs, %s, 1T: internal cache / embedded tier / Redis" % scen, label,
                         "%.0f / %.0f" % (rate["internal"]["median"], rate["local"]["median"]),
                         store.cell(rate["redis"], "%.0f"),
                         "local %.3f, Redis %.3f (of internal)" % (ratio["local"]["median"],
                                                                   ratio["redis"]["median"]),
                         "none set; ≥ 99 % resumed, each by its tier: checked"])
        entry["redis_timeouts"] = [r["counters"]["timeout"] for r in res["redis"]]
        out["hs_%s" % scen] = entry


# ---------------------------------------------------------------- R3

def stalled_pair(rr, scen, n):
    plain = rr.run(True, None, ["stalled", scen, n, 0])
    rr.flush()
    try:
        stopped = rr.run(True, "redis", ["stalled", scen, n, rr.redis.proc.pid])
    finally:
        rr.redis.resume()
    # The control offers run at the default deadline too: under load one
    # may time out (a full handshake), but most must resume through Redis.
    if plain["resumed"] != 0 or plain["control_resumed"] != 0:
        fail("stalled: the store-off run resumed", plain)
    if stopped["resumed"] != 0 or stopped["control_resumed"] < CONTROL // 2:
        fail("stalled: expected the control sessions to resume through Redis, none once it stopped", stopped)
    c = stopped["counters"]
    if c["remote_hit"] != stopped["control_resumed"] or c["timeout"] + c["unavailable"] + c["breaker_open"] < n:
        fail("stalled: lookups with Redis stopped not counted as misses", stopped)
    return plain, stopped


def bench_stalled(rr, cfg, rows, out):
    n = cfg["stalled"]
    for scen in ("tls12", "tls13"):
        rr.log("[redis] R3 %d handshakes with Redis SIGSTOPped vs store off, %s x %d runs" % (
            n, scen, cfg["stalled_runs"]))
        runs = [stalled_pair(rr, scen, n) for _ in range(cfg["stalled_runs"])]
        entry = {}
        for p in PCTS + ("max_us",):
            entry[p] = {"plain": store.spread([a["hs"][p] for a, _ in runs]),
                        "stopped": store.spread([b["hs"][p] for _, b in runs]),
                        "added": store.spread([b["hs"][p] - a["hs"][p] for a, b in runs])}
        entry["counters"] = [b["counters"] for _, b in runs]
        out["stalled_%s" % scen] = entry
        added = entry["p99_us"]["added"]["median"]
        counts = "; ".join("%d timeout, %d unavailable, %d breaker_open" % (
            c["timeout"], c["unavailable"], c["breaker_open"]) for c in entry["counters"])
        rows.append(["R3", "full hs, %s: store off vs Redis SIGSTOPped (%d hs/run; %s): p50 / p99 / p99.9" % (
                         scen, n, counts), "µs/hs", pcts({p: entry[p]["plain"] for p in PCTS}, "%.0f"),
                     pcts({p: entry[p]["stopped"] for p in PCTS}, "%.0f"),
                     "added p99 %.0f [%.0f–%.0f], max %.0f" % (
                         added, entry["p99_us"]["added"]["min"], entry["p99_us"]["added"]["max"],
                         entry["max_us"]["added"]["median"]),
                     "p99 ≤ + %d ms: %s" % (DEADLINE_MS, store.verdict(added <= DEADLINE_MS * 1000))])


def stopped_get_run(rr, scen, n):
    rr.flush()
    try:
        r = rr.run(True, "redis", ["latency", scen, n, rr.redis.proc.pid])
    finally:
        rr.redis.resume()
    c = r["counters"]
    if r["get_hits"] != 0 or c["timeout"] + c["unavailable"] + c["breaker_open"] < n:
        fail("stopped get: a get hit, or a miss was not counted as Redis's absence", r)
    return r


def bench_stalled_get(rr, cfg, rows, out):
    """R3b: the get callback alone while Redis is stopped: what sesscb adds
    to each handshake, without the handshake's own noise around it."""
    n = cfg["lat_calls"]
    for scen in ("tls12", "tls13"):
        rr.log("[redis] R3b %d gets with Redis SIGSTOPped, %s x %d runs" % (n, scen, cfg["stalled_runs"]))
        runs = [stopped_get_run(rr, scen, n) for _ in range(cfg["stalled_runs"])]
        entry = {p: store.spread([r["get"][p] for r in runs]) for p in PCTS + ("max_us",)}
        entry["counters"] = [r["counters"] for r in runs]
        out["stopped_get_%s" % scen] = entry
        p99 = entry["p99_us"]["max"]
        counts = "; ".join("%d timeout, %d unavailable, %d breaker_open" % (
            c["timeout"], c["unavailable"], c["breaker_open"]) for c in entry["counters"])
        rows.append(["R3b", "get (a miss), %s, Redis SIGSTOPped, %d back-to-back calls (%s): "
                            "p50 / p99 / p99.9 / max" % (scen, n, counts), "µs/call", "",
                     " / ".join("%.1f" % entry[p]["median"] for p in PCTS + ("max_us",)),
                     "worst run p99 %.1f" % p99,
                     "p99 ≤ %d ms: %s" % (DEADLINE_MS, store.verdict(p99 <= DEADLINE_MS * 1000))])


# ---------------------------------------------------------------- R4

def write_run(rr, cfg):
    rr.flush()
    start_ms = int((time.time() + 0.5) * 1000)
    r = rr.run(True, "redis", ["write", "tls12", cfg["write_seconds"], WRITE_RATE, 2, 1, start_ms])
    written = sum(r["written"]) + 1  # +1: the setup handshake's session
    c = r["counters"]
    keys = resp(rr.redis.port, "DBSIZE")
    r["redis_keys"] = keys
    return r, written, c, keys


def bench_writes(rr, cfg, rows, out):
    rr.log("[redis] R4 %d new sessions/s for %.0f s into Redis (1 process, 2 threads) x %d runs" % (
        WRITE_RATE, cfg["write_seconds"], cfg["write_runs"]))
    runs = [write_run(rr, cfg) for _ in range(cfg["write_runs"])]
    out["writes"] = [{"achieved_rate": r["achieved_rate"], "written": w, "counters": c, "redis_keys": k,
                      "new": r["new"]} for r, w, c, k in runs]
    for r, written, c, keys in runs:
        ok = c["queue_dropped"] == 0 and c["remote_ok"] == written == keys and c["store_remote_error"] == 0
        held = r["achieved_rate"] >= 0.95 * WRITE_RATE
        rows.append(["R4", "%d new/s x %.0f s, 1 proc x 2 thr: achieved; remote_ok / keys in Redis / "
                           "queue_dropped; new p50 / p99 µs" % (WRITE_RATE, cfg["write_seconds"]), "",
                     "%.0f/s" % r["achieved_rate"],
                     "%d / %d of %d; dropped %d; %.1f / %.1f" % (c["remote_ok"], keys, written, c["queue_dropped"],
                                                                  r["new"]["p50_us"], r["new"]["p99_us"]),
                     "", "rate held: %s; no drops, all in Redis: %s" % (store.verdict(held), store.verdict(ok))])


# ---------------------------------------------------------------- entry

def run(bin_dir, build, sesscb_cli, quick, log, lib_dir=None):
    """Runs R1–R4; returns (summary dict, raw runs, Markdown table, processes)."""
    cfg = settings(quick)
    rr = RedisRunner(bin_dir, build, sesscb_cli, log, lib_dir)
    version = subprocess.run(["redis-server", "--version"], stdout=subprocess.PIPE, text=True).stdout.strip()
    rows, out = [], {"build": build, "settings": cfg, "redis": version, "tmpfs": rr.tmp.startswith("/dev/shm")}
    t0 = time.monotonic()
    try:
        bench_rtt(rr, cfg, rows, out)
        bench_hs(rr, cfg, rows, out)
        bench_stalled(rr, cfg, rows, out)
        bench_stalled_get(rr, cfg, rows, out)
        bench_writes(rr, cfg, rows, out)
    finally:
        rr.cleanup()
    out["elapsed_s"] = round(time.monotonic() - t0, 1)
    return out, rr.raw, markdown(rows), rr.runs


HEAD = ["#", "Redis tier measure", "unit", "baseline", "through sesscb", "ratio / added", "goal"]


def markdown(rows):
    lines = ["| " + " | ".join(HEAD) + " |", "|" + "|".join("---" for _ in HEAD) + "|"]
    return "\n".join(lines + ["| " + " | ".join(r) + " |" for r in rows])
