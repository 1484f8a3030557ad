"""Redis failing under the store: stopped (SIGSTOP) in the middle of a
client loop, absent, silent, answering garbage; its values tampered with;
a 1.1.1w writer; a host under valgrind. Every handshake completes, nothing
resumes from a bad entry, and the counters say why lookups missed."""

import json
import os
import signal
import time

from . import config as cfg
from . import store_proofs as proofs
from .files import read_text
from .procs import tool, wait_until
from .redis_tools import client_ctx, handshake, percentile
from .report import R
from .store import start
from .store_redis_hosts import PATIENT, SESSIONS, Hosts, Pair, counts, host_env, lookups, made_on_a


# Seconds Redis stays stopped (the breaker opens within about two).
STOPPED_FOR = 4.0


def a_then_b(ctx, hosts):
    """A session made on A offered to B: (B resumed?, B's handshake time)."""
    _, sess, _ = handshake(ctx, hosts.port_a)
    reused, _, took = handshake(ctx, hosts.port_b, sess)
    return reused, took


def stopped_redis(redis):
    """SIGSTOP Redis during a client loop: no handshake fails, none waits
    much longer than a plain one, the breaker opens; SIGCONT: B resumes
    through Redis again. Plain hosts (store off) take turns with the store's
    in the same loop, so both see the same load on this shared machine."""
    d = cfg.FX.rundir("redis-stop")
    plain_hosts = Hosts(cfg.FX.rundir("redis-stop-plain"), None)
    hosts, ctx = Hosts(d, redis.url()), client_ctx("1.2")
    plain, stopped, failed, recovered, t_stop, t_cont = [], [], 0, None, None, None
    try:
        if hosts.ok and plain_hosts.ok and hosts.warm("1.2"):
            t_stop = time.time()
            redis.signal(signal.SIGSTOP)
            end = time.monotonic() + STOPPED_FOR
            while time.monotonic() < end:
                reused, took = a_then_b(ctx, hosts)
                failed += reused is None
                stopped.append(took)
                reused, took = a_then_b(ctx, plain_hosts)
                failed += reused is None
                plain.append(took)
            t_cont = time.time()
            redis.signal(signal.SIGCONT)
            recovered = recovery(ctx, hosts, redis, t_cont)
    finally:
        redis.signal(signal.SIGCONT)
        hosts.stop()
        plain_hosts.stop()
    report_stop(d, plain, stopped, failed, recovered, t_stop, t_cont)


def recovery(ctx, hosts, redis, t_cont):
    """Seconds from SIGCONT until B resumes a session through Redis again."""
    end = time.monotonic() + 10
    while time.monotonic() < end:
        sess = made_on_a(ctx, hosts, None)
        time.sleep(0.05)  # A's thread writes it (its queue drains first)
        if sess is not None and handshake(ctx, hosts.port_b, sess)[0]:
            return time.time() - t_cont
    return None


def breaker_timeline(d, t_stop):
    """(seconds after SIGSTOP, what) for each breaker change host B traced."""
    out = []
    for name in sorted(os.listdir(d)):
        if not name.endswith(".jsonl"):
            continue
        for line in read_text(os.path.join(d, name)).splitlines():
            if "redis breaker" in line:
                ev = json.loads(line)
                out.append((round(float(ev["ts"]) - t_stop, 3), ev["detail"].split()[-1], ev["pid"]))
    return sorted(out)


def report_stop(d, plain, stopped, failed, recovered, t_stop, t_cont):
    wait_until(lambda: lookups(d, "b", "breaker_open") > 0, 3)
    b = counts(d, "b")
    p99_plain, p99_stop = percentile(plain, 99) * 1e3, percentile(stopped, 99) * 1e3
    p50_plain, p50_stop = percentile(plain, 50) * 1e3, percentile(stopped, 50) * 1e3
    timeline = breaker_timeline(d, t_stop) if t_stop else []
    R.note("store redis SIGSTOP: %d handshakes on B while stopped, p50 %.2f ms / p99 %.2f ms vs %d plain full "
           "handshakes p50 %.2f / p99 %.2f ms (added p99 %.2f ms); B's lookups %r; breaker %r; SIGCONT at +%.2f s, "
           "resumed through Redis again after %s s" % (
               len(stopped), p50_stop, p99_stop, len(plain), p50_plain, p99_plain, p99_stop - p99_plain,
               {k[1]: v for k, v in b.items() if k[0] == "sesscb_store_lookups_total" and v},
               timeline, (t_cont or 0) - (t_stop or 0), None if recovered is None else round(recovered, 2)))
    R.check("store redis SIGSTOP: every handshake completes (%d + %d plain)" % (len(stopped), len(plain)),
            stopped and failed == 0,
            "%d failed" % failed)
    # The bound is loose for a shared 2-core machine; a lookup that waited
    # on Redis (setup 500 ms, or forever) is far past it.
    R.check("store redis SIGSTOP: added p99 handshake time stays small (< 25 ms)",
            stopped and plain and p99_stop - p99_plain < 25, "stopped p99 %.2f ms, plain %.2f" % (p99_stop, p99_plain))
    R.check("store redis SIGSTOP: lookups timed out, then the breaker opened and Redis was not called",
            b.get(("sesscb_store_lookups_total", "timeout"), 0) >= 1 and
            b.get(("sesscb_store_lookups_total", "breaker_open"), 0) >= 1 and any(w == "opened" for _, w, _ in timeline),
            "lookups %r, timeline %r" % (b, timeline))
    R.check("store redis SIGCONT: B resumes through Redis again within 5 s", recovered is not None and recovered < 5,
            "after %s s" % recovered)


def broken_backend(name, url, want):
    """Handshakes complete, nothing resumes, nothing crashes, and B counts
    lookups under `want` (an outcome, or several: any of them)."""
    d = cfg.FX.rundir("redis-" + name)
    hosts, ctx, results = Hosts(d, url), client_ctx("1.2"), []
    try:
        if hosts.ok:
            for _ in range(12):
                _, sess, _ = handshake(ctx, hosts.port_a)
                results.append(handshake(ctx, hosts.port_b, sess)[0])
                time.sleep(0.05)
            wait_until(lambda: sum(lookups(d, "b", w) for w in want) > 0, 3)
    finally:
        alive = hosts.a.alive() and hosts.b.alive()
        hosts.stop()
    b = {k[1]: v for k, v in counts(d, "b").items() if k[0] == "sesscb_store_lookups_total" and v}
    R.check("store redis %s: %d full handshakes, none resumed, servers alive, misses counted as %s" % (
        name, len(results), "/".join(want)),
        len(results) == 12 and all(r is False for r in results) and alive and sum(b.get(w, 0) for w in want) > 0,
        "results %r, alive %s, B's lookups %r" % (results, alive, b))


def flip(values, _redis):
    out = []
    for v in values:
        v = bytearray(v)
        v[len(v) // 2] ^= 0x01
        out.append(bytes(v))
    return out


def truncate(values, _redis):
    return [v[:len(v) // 2] for v in values]


def swap(values, _redis):
    """Each key gets another key's (authentic) value."""
    return values[1:] + values[:1]


def other_keyring(values, redis):
    """Values a host with another keyring sealed, one per key."""
    d = cfg.FX.rundir("redis-tamper-other-keyring")
    x, port, ok = start(d, "host-x", host_env(d, "x", redis.url(), PATIENT), ["-no_ticket"])
    ctx, before = client_ctx("1.2"), set(redis.keys())
    try:
        for _ in values:
            handshake(ctx, port) if ok else None
        wait_until(lambda: len(set(redis.keys()) - before) >= len(values), 3)
    finally:
        x.stop(signal.SIGTERM, 5)
    return [redis.call("GET", k) for k in sorted(set(redis.keys()) - before)][:len(values)]


TAMPERING = (("bit-flipped", flip), ("truncated", truncate), ("swapped with another key's", swap),
             ("sealed under another keyring", other_keyring))


def tampered(redis, how, change):
    """Every value A stored in Redis changed by `change`: B resumes none,
    and counts each as auth_fail."""
    d = cfg.FX.rundir("redis-tamper-" + change.__name__)
    redis.call("FLUSHALL")
    hosts, ctx, sessions, resumed, changed = Hosts(d, redis.url(), PATIENT), client_ctx("1.2"), [], 0, 0
    try:
        if hosts.ok and hosts.warm("1.2"):
            redis.call("FLUSHALL")
            for i in range(SESSIONS):
                sessions.append(made_on_a(ctx, hosts, 1 + i + 1))
            keys = sorted(redis.keys())
            new = change([redis.call("GET", k) for k in keys], redis)
            for key, value in zip(keys, new):
                changed += redis.call("SET", key, value, "KEEPTTL") == b"OK"
            resumed = sum(handshake(ctx, hosts.port_b, s)[0] is True for s in sessions if s)
            wait_until(lambda: lookups(d, "b", "auth_fail") >= SESSIONS, 3)
    finally:
        hosts.stop()
    fails = lookups(d, "b", "auth_fail")
    R.check("store redis tampering: %d values %s in Redis, 0 resumed, each an auth_fail" % (SESSIONS, how),
            len(sessions) == SESSIONS and changed == SESSIONS and resumed == 0 and fails == SESSIONS,
            "changed %d, resumed %d, auth_fail %d" % (changed, resumed, fails))


VALGRIND = ("-q", "--error-exitcode=99", "--leak-check=full", "--errors-for-leak-kinds=definite,indirect",
            "--show-leak-kinds=definite,indirect")


def new_key(redis, before):
    """The one key written since `before` (a set), once it is there."""
    wait_until(lambda: len(set(redis.keys()) - before) >= 1, 3)
    new = sorted(set(redis.keys()) - before)
    return new[0] if new else None


def under_valgrind(redis):
    """Host B under valgrind reads through Redis: an authentic entry
    resumes, a bit-flipped one is refused (auth_fail); B serves its 4
    connections and exits with no valgrind report."""
    d = cfg.FX.rundir("redis-valgrind")
    redis.call("FLUSHALL")
    slow = {"SESSCB_STORE_TIMEOUT_MS": "1000"}  # everything is ~30x slower under valgrind
    a, port_a, ok_a = proofs.start(d, "host-a", host_env(d, "a", redis.url(), slow), [])
    b, port_b, ok_b = proofs.start(d, "host-b", host_env(d, "b", redis.url(), slow), ["-naccept", "4"],
                                   wrapper=[tool("valgrind")] + list(VALGRIND), timeout=60)
    ctx, got, rc = client_ctx("1.2"), [], None
    try:
        if ok_a and ok_b:
            got.append(handshake(ctx, port_b)[0])  # B connects to Redis
            time.sleep(2)
            before = set(redis.keys())
            good = handshake(ctx, port_a)[1]
            before.add(new_key(redis, before))
            bad = handshake(ctx, port_a)[1]
            key = new_key(redis, before)
            value = bytearray(redis.call("GET", key)) if key else bytearray(b"x")
            value[len(value) // 2] ^= 0x01
            redis.call("SET", key or "none", bytes(value), "KEEPTTL")
            got += [handshake(ctx, port_b, good)[0], handshake(ctx, port_b, bad)[0], handshake(ctx, port_b)[0]]
            rc = b.wait(120)
    finally:
        proofs.stop_all([a, b])
    lines = proofs.VALGRIND_LINE_RE.findall(read_text(b.err_path))
    # B's trace, not its metrics: its last interval is not written as it exits.
    fails = read_text(b.trace).count('"op":"get","outcome":"auth_fail"')
    R.check("store redis valgrind: B resumes the authentic entry, refuses the flipped one, exits clean",
            got == [False, True, False, False] and rc == 0 and not lines and fails == 1,
            "handshakes %r, exit %s, %d valgrind lines, auth_fail %d (see %s)" % (got, rc, len(lines), fails, b.err_path))


def from_openssl_111(redis):
    """Sessions a 1.1.1w host stored in Redis are refused by a 3.0 host
    (incompatible), never resumed."""
    d = cfg.FX.rundir("redis-111-to-30")
    if not os.path.exists(proofs.openssl_build("1.1.1w")[0]):
        R.check("store redis 1.1.1w -> 3.0: OpenSSL 1.1.1w built", False, "run `make openssl111`")
        return
    env_a, env_b = host_env(d, "a", redis.url(), PATIENT), host_env(d, "b", redis.url(), PATIENT)
    a, port_a, ok_a = proofs.start(d, "host-a", env_a, [], build="1.1.1w")
    b, port_b, ok_b = proofs.start(d, "host-b", env_b, [])
    ctx, resumed, made = client_ctx("1.2"), 0, 0
    try:
        if ok_a and ok_b and handshake(ctx, port_a)[0] is False and handshake(ctx, port_b)[0] is False:
            time.sleep(0.3)
            for i in range(SESSIONS):
                sess = made_on_a(ctx, Pair(d, port_a), 1 + i + 1)
                made += sess is not None
                resumed += handshake(ctx, port_b, sess)[0] is True if sess else 0
            wait_until(lambda: lookups(d, "b", "incompatible") >= SESSIONS, 3)
    finally:
        proofs.stop_all([a, b])
    bad = lookups(d, "b", "incompatible")
    R.check("store redis 1.1.1w -> 3.0: %d sessions a 1.1.1w host stored, 0 resumed by 3.0, each incompatible" % SESSIONS,
            made == SESSIONS and resumed == 0 and bad == SESSIONS, "made %d, resumed %d, incompatible %d" % (made, resumed, bad))
