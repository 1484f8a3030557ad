"""Two haproxy instances resume each other's sessions through one Redis.

haproxy's workers run as an unprivileged user with RLIMIT_NPROC 0 (no
`insecure-fork-wanted`): sesscb's Redis thread cannot start there, so the
tier runs inline, driven by the session events themselves (docs/store.md,
"Thread-less hosts"). The suite checks that it really ran that way (the
trace's note, no sesscb thread in the process) and then:

- cross-host resumption, the configuration of store-servers (each instance
  its own haproxy cache, `no-tls-tickets`: TLS 1.2 session ids and TLS 1.3
  stateful tickets), SESSCB_STORE=redis:// and local+redis:// (each
  instance its own embedded directory), one keyring: a session made on A
  resumes on B, every one, against none with sesscb preloaded and the store
  off;
- Redis stopped (SIGSTOP) during a client loop: every handshake completes,
  the added p99 stays small, the breaker opens; SIGCONT: B resumes through
  Redis again;
- `redis://localhost`: a name would need a blocking lookup, so the tier
  stays off in those processes, with one line each."""

import glob
import json
import os
import signal
import time

from . import config as cfg
from .files import read_text
from .procs import wait_until
from .redis_tools import Redis, client_ctx, handshake, percentile
from .report import R
from .store import DOMAIN, store_env
from .store_redis_hosts import PATIENT, keyring
from .store_servers import haproxy_start, worker_ids

SESSIONS = 6
# Seconds Redis stays stopped: a thread-less process counts a failure per
# lookup and per set-up attempt (500 ms each, after a growing back-off), so
# its breaker opens after about three.
STOPPED_FOR = 6.0
INLINE_NOTE = "redis inline"


def instance_env(d, name, url, extra=None):
    """One instance's environment: its own trace and embedded directory
    (both the workers' uid's), the store off when `url` is None."""
    hd = os.path.join(d, name)
    os.makedirs(os.path.join(hd, "store"), mode=0o700, exist_ok=True)
    for path in (hd, os.path.join(hd, "store")):
        os.chown(path, *worker_ids())
    env = {"SESSCB_LOG": os.path.join(hd, "trace.jsonl")}
    if url:
        ring = keyring(d)
        os.chown(ring, worker_ids()[0], -1)
        env.update({"SESSCB_STORE": url, "SESSCB_STORE_DIR": os.path.join(hd, "store"),
                    "SESSCB_STORE_DOMAIN": DOMAIN, "SESSCB_STORE_KEYRING": ring})
    env.update(extra or {})
    return store_env(d, env)


def events(d, name):
    """The trace lines of instance `name`, parsed."""
    out = []
    for line in read_text(os.path.join(d, name, "trace.jsonl")).splitlines():
        try:
            out.append(json.loads(line))
        except ValueError:
            pass
    return out


def outcomes(d, name, op):
    """{outcome: n} of the instance's store events `op` (get, put)."""
    counts = {}
    for ev in events(d, name):
        if ev.get("event") == "store_op" and ev.get("op") == op:
            counts[ev["outcome"]] = counts.get(ev["outcome"], 0) + 1
    return counts


def sesscb_threads(pid):
    """Names of the process's threads that are sesscb's."""
    names = []
    for comm in glob.glob("/proc/%d/task/*/comm" % pid):
        name = read_text(comm).strip()
        if name.startswith("sesscb"):
            names.append(name)
    return names


class Pair:
    """haproxy A and B, each with its own environment."""

    def __init__(self, d, tls, url, extra=None):
        self.d = d
        started = [haproxy_start(d, n, instance_env(d, n, url, extra), tls, False) for n in ("a", "b")]
        (self.a, self.port_a, ok_a), (self.b, self.port_b, ok_b) = started
        self.ok = ok_a and ok_b
        self.threads = []

    def warm(self, ctx):
        """Two full handshakes on each: the first session event starts the
        connection, a later one finds it set up."""
        ok = True
        for _ in range(2):
            ok = all(handshake(ctx, port)[0] is False for port in (self.port_a, self.port_b)) and ok
            time.sleep(0.2)
        self.threads = sesscb_threads(self.a.p.pid) + sesscb_threads(self.b.p.pid)
        return ok

    def stop(self):
        self.exits = [p.stop(signal.SIGUSR1, 20) for p in (self.a, self.b)]  # soft stop
        self.logs = read_text(self.a.out_path) + read_text(self.b.out_path)


def a_to_b(pair, ctx, redis):
    """A session made on A, then offered to B once Redis has A's entry:
    (B resumed?, B's handshake seconds); (None, 0) when A failed."""
    before = redis.call("DBSIZE") if redis else 0
    reused, sess, _ = handshake(ctx, pair.port_a)
    if reused is not False:
        return None, 0
    if redis:
        wait_until(lambda: redis.call("DBSIZE") > before, 3, 0.01)
    reused, _, took = handshake(ctx, pair.port_b, sess)
    return reused, took


def resumed_on_b(d, tls, url, redis):
    """(sessions made on A that resumed on B, failed handshakes, the pair);
    with `redis`, each offer waits for A's entry there."""
    pair = Pair(d, tls, url, PATIENT if url else None)
    ctx, resumed, failed = client_ctx(tls), 0, 0
    try:
        if pair.ok and pair.warm(ctx):
            for _ in range(SESSIONS):
                reused, _took = a_to_b(pair, ctx, redis)
                failed += reused is None
                resumed += reused is True
        else:
            failed += 1
    finally:
        pair.stop()
    return resumed, failed, pair


def inline_checks(label, pair):
    """The tier really ran inline in both instances, and quietly."""
    pids = {pair.a.p.pid, pair.b.p.pid}
    noted = {ev["pid"] for n in ("a", "b") for ev in events(pair.d, n) if INLINE_NOTE in ev.get("detail", "")}
    R.check(label + ": sesscb's thread could not start in either instance; the tier ran inline",
            pids <= noted and not pair.threads, "inline noted by %s of %s; sesscb threads %s" %
            (sorted(noted), sorted(pids), pair.threads))
    problems = [line for line in pair.logs.splitlines() if "sesscb:" in line or cfg.CRASH_RE.search(line)]
    R.check(label + ": no crash, no sesscb line, soft stops exit 0",
            not problems and set(pair.exits) <= {0}, "%s exits %s" % (problems[:3], pair.exits))


def cross_host(redis, tls, plain):
    for name, url in (("redis", redis.url()), ("local+redis", "local+" + redis.url())):
        redis.call("FLUSHALL")
        d = cfg.FX.rundir("redis-haproxy-%s-%s" % (name.replace("+", "-"), tls))
        resumed, failed, pair = resumed_on_b(d, tls, url, redis)
        hits, puts = outcomes(d, "b", "get").get("remote_hit", 0), outcomes(d, "a", "put")
        ok = plain == 0 and resumed == SESSIONS and failed == 0
        R.row("store haproxy " + name, tls, "A->B", "%s/%d" % (plain, SESSIONS), "%s/%d" % (resumed, SESSIONS),
              "ok" if ok else "FAIL")
        label = "store-redis-haproxy %s TLS %s" % (name, tls)
        R.check(label + ": a session made on A resumes on B, every one, each a remote_hit (plain: 0)",
                ok and hits == SESSIONS, "plain %s, store %s/%d, failed %d, B's remote_hit %d" %
                (plain, resumed, SESSIONS, failed, hits))
        R.check(label + ": A's writes were answered by Redis (read at later events)",
                puts.get("remote_ok", 0) >= SESSIONS and not puts.get("queue_dropped"), "A's puts %r" % puts)
        inline_checks(label, pair)


def plain_rate(tls):
    d = cfg.FX.rundir("redis-haproxy-plain-%s" % tls)
    resumed, failed, pair = resumed_on_b(d, tls, None, None)
    R.check("store-redis-haproxy plain TLS %s: every handshake completes" % tls, failed == 0,
            "%d failed" % failed)
    return resumed if failed == 0 else None


def named_host(redis):
    """A host name in a thread-less process: one line per instance, the
    tier off there (counted), every handshake served."""
    d = cfg.FX.rundir("redis-haproxy-named")
    resumed, failed, pair = resumed_on_b(d, "1.2", "redis://localhost:%d" % redis.port, None)
    lines = [line for line in pair.logs.splitlines() if "may not start threads" in line]
    gets, puts = outcomes(d, "b", "get"), outcomes(d, "a", "put")
    R.check("store-redis-haproxy redis://localhost: one line per instance, the tier off, every handshake served",
            failed == 0 and resumed == 0 and len(lines) == 2 and set(pair.exits) <= {0}
            and gets.get("unavailable", 0) >= SESSIONS and puts.get("queue_dropped", 0) >= SESSIONS,
            "failed %d, resumed %s, lines %r, B's gets %r, A's puts %r, exits %s" %
            (failed, resumed, lines[:3], gets, puts, pair.exits))


def stopped_loop(redis, pair, plain):
    """Handshakes A->B on both pairs in turn while Redis is stopped:
    (store times, plain times, failures)."""
    ctx = client_ctx("1.2")
    stopped, plain_times, failed = [], [], 0
    redis.signal(signal.SIGSTOP)
    end = time.monotonic() + STOPPED_FOR
    turns = [(pair, stopped), (plain, plain_times)]
    while time.monotonic() < end:
        turns.reverse()  # neither pair always goes first
        for p, times in turns:
            reused, took = a_to_b(p, ctx, None)
            failed += reused is None
            times.append(took)
    return stopped, plain_times, failed


def recovery(pair, t_cont):
    """Seconds from SIGCONT until B resumes a session made on A again."""
    ctx = client_ctx("1.2")
    end = time.monotonic() + 10
    while time.monotonic() < end:
        time.sleep(0.05)
        if a_to_b(pair, ctx, None)[0]:
            return time.monotonic() - t_cont
    return None


def breaker_timeline(d, t_stop):
    return [(round(float(ev["ts"]) - t_stop, 2), ev["detail"].split()[-1]) for ev in events(d, "b")
            if "redis breaker" in ev.get("detail", "")]


def stopped_redis(redis):
    d = cfg.FX.rundir("redis-haproxy-stop")
    pair = Pair(d, "1.2", redis.url())
    plain = Pair(cfg.FX.rundir("redis-haproxy-stop-plain"), "1.2", None)
    stopped, plain_times, failed, recovered, t_stop = [], [], 0, None, time.time()
    try:
        if pair.ok and plain.ok and pair.warm(client_ctx("1.2")) and plain.warm(client_ctx("1.2")):
            t_stop = time.time()
            stopped, plain_times, failed = stopped_loop(redis, pair, plain)
            redis.signal(signal.SIGCONT)
            recovered = recovery(pair, time.monotonic())
        else:
            failed += 1
    finally:
        redis.signal(signal.SIGCONT)
        pair.stop()
        plain.stop()
    report_stop(d, pair, stopped, plain_times, failed, recovered, t_stop)


def report_stop(d, pair, stopped, plain_times, failed, recovered, t_stop):
    gets = outcomes(d, "b", "get")
    p99_plain, p99_stop = percentile(plain_times, 99) * 1e3, percentile(stopped, 99) * 1e3
    timeline = breaker_timeline(d, t_stop)
    R.note("store-redis-haproxy SIGSTOP: %d handshakes on B while stopped p50 %.2f / p99 %.2f ms vs %d plain "
           "p50 %.2f / p99 %.2f ms (added p99 %.2f ms); B's lookups %r; breaker %r; resumed through Redis "
           "again %s s after SIGCONT" % (
               len(stopped), percentile(stopped, 50) * 1e3, p99_stop, len(plain_times),
               percentile(plain_times, 50) * 1e3, p99_plain, p99_stop - p99_plain, gets, timeline,
               None if recovered is None else round(recovered, 2)))
    label = "store-redis-haproxy SIGSTOP"
    R.check(label + ": every handshake completes (%d + %d plain)" % (len(stopped), len(plain_times)),
            stopped and failed == 0, "%d failed" % failed)
    # Loose for a shared 2-core machine; an event that waited on Redis's
    # set-up (500 ms) or its reply (forever) would be far past it.
    R.check(label + ": added p99 handshake time stays small (< 25 ms)",
            stopped and plain_times and p99_stop - p99_plain < 25,
            "stopped p99 %.2f ms, plain %.2f" % (p99_stop, p99_plain))
    R.check(label + ": a lookup timed out, then the breaker opened and Redis was not called",
            gets.get("timeout", 0) >= 1 and gets.get("breaker_open", 0) >= 1 and
            any(what == "opened" for _, what in timeline), "B's lookups %r, timeline %r" % (gets, timeline))
    R.check(label + ": SIGCONT: B resumes through Redis again within 5 s", recovered is not None and recovered < 5,
            "after %s s" % recovered)
    inline_checks(label, pair)


def test_store_redis_haproxy():
    d = cfg.FX.rundir("redis-haproxy")
    redis = Redis(d)
    if not R.check("store-redis-haproxy: redis-server started", redis.ok, read_text(redis.out)[-500:]):
        return
    try:
        for tls in cfg.TLS_VERSIONS:
            cross_host(redis, tls, plain_rate(tls))
        named_host(redis)
        stopped_redis(redis)
    finally:
        redis.stop()

