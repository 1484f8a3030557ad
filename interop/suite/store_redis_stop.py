"""Redis stopped (SIGSTOP) in the middle of a client loop, then continued.

Host B's own figures say what it did: its lookup-latency histogram (the
metrics file: the time each Redis lookup added to a handshake), its
breaker gauge, its lookup outcomes and its trace (the timeline); Redis's
INFO commandstats says how many lookups reached it while it was stopped.
Plain hosts (store off) take turns with the store's in the same loop, so
client-side handshake times are compared under the same load."""

import json
import os
import signal
import time

from . import config as cfg
from .files import read_text
from .procs import wait_until
from .redis_tools import client_ctx, handshake, lookup_calls, percentile
from .report import R
from .store_redis_faults import outcomes
from .store_redis_hosts import Hosts, counts, host_stats, latency, made_on_a, p99_bound

# Seconds Redis stays stopped (the breaker opens within about two).
STOPPED_FOR = 4.0
DEADLINE_MS = 2    # SESSCB_STORE_TIMEOUT_MS's default, which these hosts keep
# The breaker stays open 1 s plus up to 0.25 s of jitter before a probe.
PROBE_INTERVAL = 1.25
BREAKER = ("sesscb_store_redis_breaker_state", None)


def a_then_b(ctx, hosts):
    """A session made on A offered to B: (B resumed?, B's handshake time)."""
    _, sess, _ = handshake(ctx, hosts.port_a)
    reused, _, took = handshake(ctx, hosts.port_b, sess)
    return reused, took


def stopped_loop(ctx, hosts, plain_hosts, run):
    """STOPPED_FOR seconds of turns, store then plain, with Redis stopped."""
    end = time.monotonic() + STOPPED_FOR
    while time.monotonic() < end:
        for name, h in (("stopped", hosts), ("plain", plain_hosts)):
            reused, took = a_then_b(ctx, h)
            run["failed"] += reused is None
            run[name].append(took)


def stopped_redis(redis):
    """SIGSTOP Redis during a client loop: no handshake fails, the breaker
    opens and Redis gets no lookup while it is open; SIGCONT: B resumes
    through Redis again."""
    d = cfg.FX.rundir("redis-stop")
    plain_hosts = Hosts(cfg.FX.rundir("redis-stop-plain"), None)
    hosts, ctx = Hosts(d, redis.url()), client_ctx("1.2")
    run = {"plain": [], "stopped": [], "failed": 0, "recovered": None, "t_stop": None, "t_cont": None}
    try:
        if hosts.ok and plain_hosts.ok and hosts.warm("1.2"):
            calls = lookup_calls(redis)
            run["t_stop"] = time.time()
            redis.signal(signal.SIGSTOP)
            stopped_loop(ctx, hosts, plain_hosts, run)
            run["gauge_stopped"] = counts(d, "b").get(BREAKER)
            run["t_cont"] = time.time()
            redis.signal(signal.SIGCONT)
            time.sleep(0.2)  # Redis runs what reached it while stopped
            run["calls"] = lookup_calls(redis) - calls
            run["recovered"] = recovery(ctx, hosts, run["t_cont"])
            wait_until(lambda: counts(d, "b").get(BREAKER) == {0}, 3)
            run["gauge_after"] = counts(d, "b").get(BREAKER)
    finally:
        redis.signal(signal.SIGCONT)
        hosts.stop()
        plain_hosts.stop()
    run["timeline"] = timeline(d, hosts.b.p.pid, run["t_stop"] or 0, run["t_cont"] or 0)
    report_stop(d, run)


def recovery(ctx, hosts, t_cont):
    """Seconds from SIGCONT until B resumes a session through Redis again."""
    end = time.monotonic() + 10
    while time.monotonic() < end:
        sess = made_on_a(ctx, hosts, None)
        time.sleep(0.05)  # A's thread writes it (its queue drains first)
        if sess is not None and handshake(ctx, hosts.port_b, sess)[0]:
            return time.time() - t_cont
    return None


def timeline(d, pid, t_stop, t_cont):
    """{what: seconds after SIGSTOP} of host B's first lookup timeout,
    breaker changes, and first Redis hit after SIGCONT, from its trace."""
    first = {}
    for name in sorted(n for n in os.listdir(d) if n.endswith(".jsonl")):
        for line in read_text(os.path.join(d, name)).splitlines():
            ev = json.loads(line)
            what = ev.get("outcome") if ev.get("op") == "get" else None
            if "redis breaker" in line:
                what = "breaker " + ev["detail"].split()[-1]
            if ev.get("pid") != pid or what not in ("timeout", "remote_hit", "breaker opened", "breaker closed"):
                continue
            if what == "remote_hit" and float(ev["ts"]) < t_cont:
                continue
            first[what] = min(first.get(what, float("inf")), float(ev["ts"]))
    first["SIGCONT"] = t_cont
    return {what: round(ts - t_stop, 3) for what, ts in sorted(first.items(), key=lambda kv: kv[1])}


def report_stop(d, run):
    wait_until(lambda: outcomes(d, "b").get("breaker_open", 0) > 0, 3)
    b, rows = outcomes(d, "b"), latency(d, "b")
    p99 = p99_bound(rows)
    plain, stopped = run["plain"], run["stopped"]
    client_added = (percentile(stopped, 99) - percentile(plain, 99)) * 1e3
    R.note("store redis SIGSTOP %.0f s: %d handshakes on B, %d plain; client-side p99 %.2f ms vs %.2f plain "
           "(added %.2f ms); B's lookup histogram %r (p99 bucket <= %s s); B's lookups %r; lookups Redis ran "
           "from the stop %s; breaker gauge while stopped %s, after %s; timeline (s after SIGSTOP) %r; "
           "resumed through Redis %s s after SIGCONT" % (
               STOPPED_FOR, len(stopped), len(plain), percentile(stopped, 99) * 1e3, percentile(plain, 99) * 1e3,
               client_added, rows, p99, b, run.get("calls"), run.get("gauge_stopped"), run.get("gauge_after"),
               run["timeline"], None if run["recovered"] is None else round(run["recovered"], 2)))
    R.check("store redis SIGSTOP: every handshake completes (%d + %d plain)" % (len(stopped), len(plain)),
            stopped and run["failed"] == 0, "%d failed" % run["failed"])
    R.check("store redis SIGSTOP: B's lookups added at most deadline + 1 ms at p99 (its histogram: p99 bucket "
            "<= %s s, %d lookups)" % (p99, rows[-1][1] if rows else 0),
            p99 is not None and p99 <= (DEADLINE_MS + 1) / 1e3 and rows[-1][1] >= len(stopped), "%r" % rows)
    host_wide = host_stats(d, "b").get("redis_lookup_latency", {})
    R.check("store redis SIGSTOP: `sesscb stats` shows B's histogram folded host-wide (%s of %s lookups <= 3 ms)" % (
        host_wide.get("le_3000us"), host_wide.get("le_inf")),
        host_wide.get("le_inf", 0) >= len(stopped) and host_wide.get("le_3000us", 0) >= 0.99 * host_wide["le_inf"],
        "%r" % host_wide)
    # Client-side, loose for a shared 2-core machine: a lookup that waited
    # on Redis (setup 500 ms, or forever) is far past it.
    R.check("store redis SIGSTOP: client-side added p99 handshake time stays small (< 25 ms)",
            stopped and plain and client_added < 25, "added %.2f ms" % client_added)
    report_breaker(b, run)


def report_breaker(b, run):
    tl, sent = run["timeline"], b.get("timeout", 0) + b.get("remote_error", 0)
    R.check("store redis SIGSTOP: lookups timed out, then the breaker opened (gauge 1 or 2 while stopped)",
            b.get("timeout", 0) >= 1 and b.get("breaker_open", 0) >= 1 and "breaker opened" in tl
            and run.get("gauge_stopped") in ({1}, {2}), "lookups %r, timeline %r, gauge %r" % (
                b, tl, run.get("gauge_stopped")))
    # Only lookups that timed out or failed were sent; every breaker_open
    # and unavailable one made no call (INFO commandstats after SIGCONT).
    R.check("store redis SIGSTOP: Redis ran %s lookups from the stop, no more than B sent (%d timed out or "
            "failed, the half-open probes among them) out of %d breaker_open" % (
                run.get("calls"), sent, b.get("breaker_open", 0)),
            run.get("calls") is not None and run["calls"] <= sent, "B's lookups %r" % b)
    recovered = run["recovered"]
    R.check("store redis SIGCONT: B resumes through Redis again within the probe interval (%.2f s) + 0.5 s, "
            "breaker gauge back to 0" % PROBE_INTERVAL,
            recovered is not None and recovered <= PROBE_INTERVAL + 0.5 and run.get("gauge_after") == {0},
            "after %s s, gauge %r, timeline %r" % (recovered, run.get("gauge_after"), tl))
