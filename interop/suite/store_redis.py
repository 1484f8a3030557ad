"""The store across hosts through Redis (SESSCB_STORE=redis://, local+redis://,
unix://).

A "host" is an `openssl s_server -no_ticket` (provide mode) with its own
embedded directory; both hosts share one keyring and one redis-server that
the suite starts on a loopback port it chose, without persistence. A Python
client makes a session on host A and offers it to host B: without the store
B resumes none, through Redis every one. Faults: Redis stopped (SIGSTOP) in
the middle of a client loop, absent at start, a server that never answers,
one that answers garbage: every handshake still completes, each one's time
stays near a plain full handshake's, and the counters say why lookups
missed (store_redis_faults.py). Also: warming, single use, AUTH, TLS, fork,
a lookup cap. Helpers: store_redis_hosts.py, redis_tools.py."""

import concurrent.futures
import os
import signal
import ssl
import threading
import time

from . import config as cfg
from .files import read_text
from .procs import Proc, free_port, wait_until
from .redis_tools import Fake, Redis, client_ctx, handshake, started, tls_pki
from .report import R
from .store import SESSCB, start
from .store_redis_faults import (TAMPERING, absent_then_up, broken_backend, from_openssl_111, killed_and_restarted,
                                 tampered, under_valgrind)
from .store_redis_removes import removes_reach_redis
from .store_redis_stop import stopped_redis
from .store_redis_hosts import (PATIENT, SESSIONS, Hosts, counts, entries, host_env, lookups, made_on_a,
                                outcomes_by_pid)


def a_to_b(d, tls, url, redis, wait=True, extra=None, flags=("-no_ticket",)):
    """Sessions made on A resumed on B, out of SESSIONS (None: a server or a
    first handshake failed)."""
    hosts = Hosts(d, url, dict(PATIENT, **(extra or {})), flags)
    try:
        if not (hosts.ok and hosts.warm(tls)):
            return None
        ctx, resumed = client_ctx(tls), 0
        for i in range(SESSIONS):
            sess = made_on_a(ctx, hosts, 1 + i + 1 if wait else None)
            if sess is None:
                return None
            resumed += handshake(ctx, hosts.port_b, sess)[0] is True
        wait_until(lambda: lookups(d, "b", "remote_hit") >= resumed, 3)
        return resumed
    finally:
        hosts.stop()


def cross_host(redis, name, tls, url, extra=None, flags=("-no_ticket",)):
    """`flags`: both runs' s_server flags (the plain run never gets `extra`)."""
    plain = a_to_b(cfg.FX.rundir("redis-%s-%s-plain" % (name, tls)), tls, None, redis, wait=False, flags=flags)
    d = cfg.FX.rundir("redis-%s-%s" % (name, tls))
    stored = a_to_b(d, tls, url, redis, extra=extra, flags=flags)
    hits = lookups(d, "b", "remote_hit")
    R.row("store " + name, tls, "A->B", "%s/%d" % (plain, SESSIONS), "%s/%d" % (stored, SESSIONS),
          "ok" if plain == 0 and stored == SESSIONS else "FAIL")
    label = "store %s TLS %s: a session made on host A resumes on host B" % (name, tls)
    R.check(label + " without the store: 0", plain == 0, "plain resumed %s/%d" % (plain, SESSIONS))
    R.check(label + " through Redis: %d, each a remote_hit" % SESSIONS, stored == SESSIONS and hits == SESSIONS,
            "resumed %s/%d, B's remote_hit %d" % (stored, SESSIONS, hits))
    return d


FORCED = {"SESSCB_STORE_FORCE_STATEFUL_TLS13": "1"}


def warmed_embedded_tier(redis):
    """local+redis: B's Redis hits warm B's embedded tier, so a second
    process of host B (same directory) resumes the same sessions from it
    while Redis is stopped."""
    d = cfg.FX.rundir("redis-warm")
    url = "local+" + redis.url()
    hosts = Hosts(d, url, PATIENT)
    sessions, resumed_b2, b2 = [], 0, None
    try:
        ctx = client_ctx("1.2")
        if hosts.ok and hosts.warm("1.2"):
            for i in range(SESSIONS):
                sess = made_on_a(ctx, hosts, 1 + i + 1)
                if sess is not None and handshake(ctx, hosts.port_b, sess)[0]:
                    sessions.append(sess)
            wait_until(lambda: entries(d, "b") >= SESSIONS, 5)
            redis.signal(signal.SIGSTOP)
            b2, port, ok = start(d, "host-b2", host_env(d, "b", url, PATIENT), ["-no_ticket"])
            resumed_b2 = sum(handshake(ctx, port, s)[0] is True for s in sessions) if ok else 0
    finally:
        redis.signal(signal.SIGCONT)
        hosts.stop()
        if b2:
            b2.stop(signal.SIGTERM, 5)
    R.check("store local+redis: B's Redis hits warm its embedded tier; a second B process resumes %d/%d from it "
            "with Redis stopped" % (SESSIONS, SESSIONS), len(sessions) == SESSIONS and resumed_b2 == SESSIONS,
            "resumed on B %d, on B2 %d" % (len(sessions), resumed_b2))


def no_keyring(redis):
    """Redis without a keyring: one clear line, the store off, the server serves."""
    d = cfg.FX.rundir("redis-no-keyring")
    redis.call("FLUSHALL")
    env = host_env(d, "a", redis.url())
    del env["SESSCB_STORE_KEYRING"]
    p, port, ok = start(d, "host-a", env, ["-no_ticket"])
    try:
        served = ok and handshake(client_ctx("1.2"), port)[0] is False
    finally:
        p.stop(signal.SIGTERM, 5)
    lines = [line for line in read_text(p.err_path).splitlines() if line.startswith("sesscb:")]
    R.check("store redis without a keyring: the server serves, one clear line, nothing in Redis",
            served and len(lines) == 1 and "SESSCB_STORE_KEYRING" in lines[0] and not redis.keys(),
            "served %s, lines %r" % (served, lines))


def with_password():
    """AUTH with a password from SESSCB_STORE_REDIS_PASSWORD_FILE: B resumes
    through Redis, and the password is in no trace, log or metrics file."""
    d = cfg.FX.rundir("redis-auth")
    secret = "s3cr3t-%d" % os.getpid()
    redis = Redis(d, ["--requirepass", secret])
    pw = os.path.join(d, "password")
    with open(pw, "w") as f:
        f.write(secret + "\n")
    os.chmod(pw, 0o600)
    try:
        resumed = a_to_b_auth(d, redis, pw, secret) if redis.ok else None
    finally:
        redis.stop()
    leaked = [n for root, _, files in os.walk(d) for n in files
              if n != "password" and secret in read_text(os.path.join(root, n))]
    R.check("store redis AUTH (password file): %d/%d resumed on B, the password printed nowhere" % (
        SESSIONS, SESSIONS), resumed == SESSIONS and not leaked, "resumed %s, found in %r" % (resumed, leaked))


def a_to_b_auth(d, redis, pw, secret):
    hosts = Hosts(d, redis.url(), dict(PATIENT, SESSCB_STORE_REDIS_PASSWORD_FILE=pw))
    ctx, resumed = client_ctx("1.2"), 0
    try:
        if not (hosts.ok and hosts.warm("1.2")):
            return None
        for i in range(SESSIONS):
            sess = made_on_a(ctx, hosts, 1 + i + 1)
            resumed += handshake(ctx, hosts.port_b, sess)[0] is True
    finally:
        hosts.stop()
    return resumed


RACES = 1000
BATCH = 50   # sessions made on A, then raced
RACERS = 4   # rounds raced at once, each two handshakes at once
# A winner whose GETDEL reply is late would resume nowhere: the race gives
# lookups 100 ms, since this shared machine sometimes schedules Redis late.
RACE_TIMEOUT = {"SESSCB_STORE_TIMEOUT_MS": "100"}


def race_round(ctx, ports, sess):
    """B and C offered the same session at once: how many resumed (None:
    a handshake failed)."""
    results = []
    threads = [threading.Thread(target=lambda p=p: results.append(handshake(ctx, p, sess)[0])) for p in ports]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    return None if len(results) != len(ports) or None in results else results.count(True)


def batch_on_a(ctx, hosts, n, before):
    """n sessions made on A (which had made `before` full handshakes), once
    A counts all of them written to Redis; None if one failed or resumed."""
    made = [handshake(ctx, hosts.port_a) for _ in range(n)]
    if any(reused is not False for reused, _, _ in made):
        return None
    writes = (before + n) * (2 if ctx.maximum_version == ssl.TLSVersion.TLSv1_3 else 1)
    wait_until(lambda: counts(hosts.d, "a").get(("sesscb_store_stores_total", "remote_ok"), 0) >= writes, 5)
    return [sess for _, sess, _ in made]


def races(ctx, hosts, port_c, rounds):
    """Outcome of each round (see race_round), batch by batch."""
    per_round = []
    with concurrent.futures.ThreadPoolExecutor(RACERS) as pool:
        while len(per_round) < rounds:
            batch = batch_on_a(ctx, hosts, min(BATCH, rounds - len(per_round)), 1 + len(per_round))
            if batch is None:
                return per_round + [None]
            per_round += pool.map(lambda sess: race_round(ctx, [hosts.port_b, port_c], sess), batch)
    return per_round


def single_use(redis, tls, rounds, want):
    """SESSCB_STORE_SINGLE_USE=tls13: hosts B and C race the same session
    each round; a TLS 1.3 session resumes exactly once (GETDEL), a TLS 1.2
    id on both (never single use)."""
    d = cfg.FX.rundir("redis-single-use-%s" % tls)
    extra = dict(RACE_TIMEOUT, SESSCB_STORE_SINGLE_USE="tls13", SESSCB_METRICS_INTERVAL_MS="20")
    hosts, ctx, per_round = Hosts(d, redis.url(), extra), client_ctx(tls), []
    c, port_c, ok_c = start(d, "host-c", host_env(d, "c", redis.url(), extra), ["-no_ticket"])
    t0 = time.monotonic()
    try:
        if hosts.ok and ok_c and hosts.warm(tls) and handshake(ctx, port_c)[0] is False:
            time.sleep(0.3)
            t0 = time.monotonic()
            per_round = races(ctx, hosts, port_c, rounds)
    finally:
        took = time.monotonic() - t0
        hits = lambda: lookups(d, "b", "remote_hit") + lookups(d, "c", "remote_hit")
        wait_until(lambda: hits() >= want * rounds, 3)
        hosts.stop()
        c.stop(signal.SIGTERM, 5)
    rows = {n: per_round.count(n) for n in set(per_round)}
    R.check("store redis single use TLS %s: B and C race one session %d times, %d resume each time (%.1f s)" % (
        tls, rounds, want, took), len(per_round) == rounds and rows == {want: rounds} and hits() == want * rounds,
        "resumed per round: %r, remote_hit on B and C: %d" % (rows, hits()))


def over_tls():
    """rediss:// to a redis-server whose certificate a test CA signed: B
    resumes through Redis over TLS (rustls) when told the CA; with the
    system's CAs instead, no connection is made (no plaintext fallback),
    and every handshake is a full one."""
    d = cfg.FX.rundir("redis-tls-server")
    ca, cert, key = tls_pki(d)
    redis = Redis(d, tls=(cert, key))
    try:
        if not R.check("store-redis: redis-server with a TLS port started", redis.ok,
                       "" if redis.ok else read_text(redis.out)[-300:]):
            return
        for tls in cfg.TLS_VERSIONS:
            cross_host(redis, "rediss", tls, redis.tls_url(), {"SESSCB_STORE_REDIS_CA_FILE": ca})
        redis.call("FLUSHALL")
        broken_backend("rediss-untrusted", redis.tls_url(), ["unavailable", "breaker_open"])
        R.check("store redis rediss-untrusted: nothing written to Redis", not redis.keys(), "%d keys" % len(redis.keys()))
    finally:
        redis.stop()


def rate_limited(redis):
    """SESSCB_STORE_REDIS_LOOKUPS_PER_SECOND=2: B makes at most two Redis
    lookups a second; the others are misses counted as rate_limited, and
    every handshake completes."""
    d = cfg.FX.rundir("redis-rate-limited")
    hosts = Hosts(d, redis.url(), dict(PATIENT, SESSCB_STORE_REDIS_LOOKUPS_PER_SECOND="2"))
    ctx, sessions, results = client_ctx("1.2"), [], []
    try:
        if hosts.ok and hosts.warm("1.2"):
            for i in range(8):
                sessions.append(made_on_a(ctx, hosts, 1 + i + 1))
            t0 = time.monotonic()
            results = [handshake(ctx, hosts.port_b, s)[0] for s in sessions]
            took = time.monotonic() - t0
            wait_until(lambda: lookups(d, "b", "rate_limited") + lookups(d, "b", "remote_hit") >= 8, 3)
    finally:
        hosts.stop()
    hits, limited = lookups(d, "b", "remote_hit"), lookups(d, "b", "rate_limited")
    # The 8 offers span at most 2 wall-clock seconds (checked): at most 4 calls.
    R.check("store redis lookup cap 2/s: 8 offers within 2 s, at most 4 reach Redis, the rest rate_limited",
            len(results) == 8 and None not in results and took < 1 and 1 <= hits <= 4 and
            hits == results.count(True) and hits + limited == 8,
            "resumed %r, remote_hit %d, rate_limited %d" % (results, hits, limited))


def forked(redis):
    """A Python server that has its Redis connections forks (Python's own
    session id context: its sessions resume only on Python servers). The
    child never uses the connections it inherited: its first lookup waits
    (within the deadline) for its own thread's first connection and resumes
    the parent's session; the parent resumes a session the child made,
    through its own connections (a reply read by the wrong process would
    fail authentication)."""
    d = cfg.FX.rundir("redis-fork")
    env = host_env(d, "py", redis.url(), PATIENT)
    port_p, port_c = free_port(), free_port()
    argv = [cfg.PYTHON, os.path.join(cfg.HERE, "pyforked.py"), os.path.join(d, "pki/a.test.crt"),
            os.path.join(d, "pki/a.test.key"), str(port_p), str(port_c), "2"]
    out = os.path.join(d, "pyforked.out")
    py = Proc("pyforked", argv, env, out, os.path.join(d, "pyforked.err"))
    ctx, got = client_ctx("1.2"), []
    try:
        if wait_until(lambda: "LISTEN" in read_text(out), 10):
            handshake(ctx, port_p)  # the parent's store and Redis connections start; then it forks
            wait_until(lambda: "CHILD" in read_text(out), 10)
            reused, from_parent, _ = handshake(ctx, port_p)
            time.sleep(0.3)  # the parent's thread writes it
            got.append(reused)
            got.append(handshake(ctx, port_c, from_parent)[0])
            made_c, from_child, _ = handshake(ctx, port_c)
            time.sleep(0.3)  # the child's thread writes it
            got += [made_c, handshake(ctx, port_p, from_child)[0]]
            py.wait(20)
    finally:
        py.stop(signal.SIGTERM, 5)
    by_pid = outcomes_by_pid(env["SESSCB_LOG"])
    parent, child = py.p.pid, next((p for p in by_pid if p != py.p.pid), None)
    R.check("store redis fork: the child's first lookup resumes the parent's session through a connection of its "
            "own, and the parent resumes the child's session through its own",
            got == [False, True, False, True] and by_pid.get(child) == ["remote_hit"] and
            by_pid.get(parent) == ["remote_hit"],
            "handshakes %r, get outcomes by pid %r (parent %d)" % (got, by_pid, parent))


def test_store_redis():
    if not os.access(SESSCB, os.X_OK):
        R.check("store-redis: %s built" % SESSCB, False, "run `make lib`")
        return
    d = cfg.FX.rundir("redis-server")
    redis = started(d, "store-redis")
    if redis is None:
        return
    try:
        for tls in cfg.TLS_VERSIONS:
            cross_host(redis, "redis", tls, redis.url())
            cross_host(redis, "local+redis", tls, "local+" + redis.url())
        cross_host(redis, "unix", "1.2", "unix://" + redis.sock)
        # Default TLS 1.3 tickets (stateless, each process its own ticket
        # keys: plain resumes none on B) made stateful by the store.
        for name, url in (("redis", redis.url()), ("local+redis", "local+" + redis.url())):
            cross_host(redis, name + " forced-stateful", "1.3", url, FORCED, flags=())
        warmed_embedded_tier(redis)
        single_use(redis, "1.3", RACES, 1)
        single_use(redis, "1.2", 5, 2)
        for how, change in TAMPERING:
            tampered(redis, how, change)
        from_openssl_111(redis)
        rate_limited(redis)
        forked(redis)
        removes_reach_redis(redis)
        under_valgrind(redis)
        no_keyring(redis)
        stopped_redis(redis)
        killed_and_restarted(redis)
        absent_then_up(redis)
        free = Fake("silent")
        free.close()  # a port where nothing listens any more
        broken_backend("absent", "redis://127.0.0.1:%d" % free.port, ["unavailable", "breaker_open"])
        silent, garbage = Fake("silent"), Fake("garbage")
        try:
            broken_backend("never-answers", "redis://127.0.0.1:%d" % silent.port, ["unavailable", "breaker_open"])
            broken_backend("garbage", "redis://127.0.0.1:%d" % garbage.port, ["remote_error", "breaker_open"])
        finally:
            silent.close()
            garbage.close()
    finally:
        redis.stop()
    with_password()
    over_tls()
