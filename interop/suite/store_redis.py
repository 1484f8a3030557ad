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
missed. Tampering: every value in Redis bit-flipped, and nothing resumes
from them (auth_fail)."""

import json
import os
import signal
import ssl
import subprocess
import threading
import time

from . import config as cfg
from .files import read_text
from . import store_proofs as proofs
from .procs import Proc, free_port, tool, wait_until
from .redis_tools import Fake, Redis, client_ctx, handshake, percentile, tls_pki
from .report import R
from .store import DOMAIN, SESSCB, metrics_totals, start, store_env

SESSIONS = 4
# The cases that prove resumption give a lookup 25 ms: on this shared 2-core
# machine Redis itself is sometimes scheduled late, and a 2 ms lookup then
# misses (counted as a timeout). The fault cases keep the default 2 ms.
PATIENT = {"SESSCB_STORE_TIMEOUT_MS": "25"}
# Seconds Redis stays stopped (the breaker opens within about two).
STOPPED_FOR = 4.0


def keyring(d):
    path = os.path.join(d, "keyring")
    if not os.path.exists(path):
        subprocess.run([SESSCB, "keygen", path], capture_output=True, timeout=15, check=True)
    return path


def host_env(d, host, url, extra=None):
    """A host's environment: its own embedded directory and metrics files;
    the store off when `url` is None (sesscb still preloaded)."""
    hd = os.path.join(d, host)
    os.makedirs(os.path.join(hd, "store"), mode=0o700, exist_ok=True)
    env = {"SESSCB_METRICS_FILE": os.path.join(hd, "metrics-%p.prom"), "SESSCB_METRICS_INTERVAL_MS": "100"}
    if url:
        env.update({"SESSCB_STORE": url, "SESSCB_STORE_DIR": os.path.join(hd, "store"),
                    "SESSCB_STORE_DOMAIN": DOMAIN, "SESSCB_STORE_KEYRING": keyring(d)})
    env.update(extra or {})
    return store_env(d, env)


def counts(d, host):
    """{(family, outcome): n} summed over the host's metrics files."""
    try:
        return metrics_totals(os.path.join(d, host))[1]
    except (ValueError, OSError):
        return {}


def lookups(d, host, outcome):
    return counts(d, host).get(("sesscb_store_lookups_total", outcome), 0)


class Hosts:
    """Host A and host B, started with `url` (None: the store off)."""

    def __init__(self, d, url, extra=None):
        self.d = d
        self.a, self.port_a, ok_a = start(d, "host-a", host_env(d, "a", url, extra), ["-no_ticket"])
        self.b, self.port_b, ok_b = start(d, "host-b", host_env(d, "b", url, extra), ["-no_ticket"])
        self.ok = ok_a and ok_b

    def warm(self, tls):
        """One full handshake on each host: a process connects to Redis on
        its first session event, and a lookup before that misses."""
        ctx = client_ctx(tls)
        ok = all(handshake(ctx, p)[0] is False for p in (self.port_a, self.port_b))
        time.sleep(0.3)
        return ok

    def stop(self):
        for p in (self.a, self.b):
            p.stop(signal.SIGTERM, 5)


def made_on_a(ctx, hosts, handshakes):
    """A session made on A, and (when `handshakes`, the number A has made
    so far with this one, is not None) once A counts every session of them
    applied by Redis: the client comes back later."""
    reused, sess, _ = handshake(ctx, hosts.port_a)
    if reused is not False:
        return None
    if handshakes is not None:
        # s_server sends TLS 1.3 clients two tickets, each a session.
        writes = handshakes * (2 if ctx.maximum_version == ssl.TLSVersion.TLSv1_3 else 1)
        wait_until(lambda: counts(hosts.d, "a").get(("sesscb_store_stores_total", "remote_ok"), 0) >= writes, 3)
    return sess


def a_to_b(d, tls, url, redis, wait=True, extra=None):
    """Sessions made on A resumed on B, out of SESSIONS (None: a server or a
    first handshake failed)."""
    hosts = Hosts(d, url, dict(PATIENT, **(extra or {})))
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


def cross_host(redis, name, tls, url, extra=None):
    plain = a_to_b(cfg.FX.rundir("redis-%s-%s-plain" % (name, tls)), tls, None, redis, wait=False)
    d = cfg.FX.rundir("redis-%s-%s" % (name, tls))
    stored = a_to_b(d, tls, url, redis, extra=extra)
    hits = lookups(d, "b", "remote_hit")
    R.row("store " + name, tls, "A->B", "%s/%d" % (plain, SESSIONS), "%s/%d" % (stored, SESSIONS),
          "ok" if plain == 0 and stored == SESSIONS else "FAIL")
    label = "store %s TLS %s: a session made on host A resumes on host B" % (name, tls)
    R.check(label + " without the store: 0", plain == 0, "plain resumed %s/%d" % (plain, SESSIONS))
    R.check(label + " through Redis: %d, each a remote_hit" % SESSIONS, stored == SESSIONS and hits == SESSIONS,
            "resumed %s/%d, B's remote_hit %d" % (stored, SESSIONS, hits))
    return d


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


def entries(d, host):
    r = subprocess.run([SESSCB, "stats", "--dir", os.path.join(d, host, "store"), "--domain", DOMAIN, "--json"],
                       capture_output=True, timeout=15)
    try:
        return json.loads(r.stdout).get("entries", 0)
    except ValueError:
        return 0


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


RACES = 50


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


def single_use(redis, tls, rounds, want):
    """SESSCB_STORE_SINGLE_USE=tls13: hosts B and C race the same session
    each round; a TLS 1.3 session resumes exactly once (GETDEL), a TLS 1.2
    id on both (never single use)."""
    d = cfg.FX.rundir("redis-single-use-%s" % tls)
    extra = dict(PATIENT, SESSCB_STORE_SINGLE_USE="tls13", SESSCB_METRICS_INTERVAL_MS="20")
    hosts, ctx, per_round = Hosts(d, redis.url(), extra), client_ctx(tls), []
    c, port_c, ok_c = start(d, "host-c", host_env(d, "c", redis.url(), extra), ["-no_ticket"])
    try:
        if hosts.ok and ok_c and hosts.warm(tls) and handshake(ctx, port_c)[0] is False:
            time.sleep(0.3)
            for i in range(rounds):
                sess = made_on_a(ctx, hosts, 1 + i + 1)
                per_round.append(race_round(ctx, [hosts.port_b, port_c], sess) if sess else None)
    finally:
        hosts.stop()
        c.stop(signal.SIGTERM, 5)
    rows = {n: per_round.count(n) for n in set(per_round)}
    R.check("store redis single use TLS %s: B and C race one session %d times, %d resume each time" % (
        tls, rounds, want), len(per_round) == rounds and rows == {want: rounds}, "resumed per round: %r" % rows)


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
                sess = made_on_a(ctx, _Pair(d, port_a), 1 + i + 1)
                made += sess is not None
                resumed += handshake(ctx, port_b, sess)[0] is True if sess else 0
            wait_until(lambda: lookups(d, "b", "incompatible") >= SESSIONS, 3)
    finally:
        proofs.stop_all([a, b])
    bad = lookups(d, "b", "incompatible")
    R.check("store redis 1.1.1w -> 3.0: %d sessions a 1.1.1w host stored, 0 resumed by 3.0, each incompatible" % SESSIONS,
            made == SESSIONS and resumed == 0 and bad == SESSIONS, "made %d, resumed %d, incompatible %d" % (made, resumed, bad))


class _Pair:
    """What made_on_a needs of a pair of hosts: A's port and the run dir."""

    def __init__(self, d, port_a):
        self.d, self.port_a = d, port_a


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


def outcomes_by_pid(trace):
    """{pid: [get outcomes, in order]} from a SESSCB_LOG file."""
    out = {}
    for line in read_text(trace).splitlines():
        if '"op":"get"' in line:
            ev = json.loads(line)
            out.setdefault(ev["pid"], []).append(ev["outcome"])
    return out


def forked(redis):
    """A Python server that has its Redis connections forks (Python's own
    session id context: its sessions resume only on Python servers). The
    child's first lookup finds no connection (it never uses the ones it
    inherited), then it resumes the parent's session through connections of
    its own, and the parent resumes the child's through its own (a reply
    read by the wrong process would fail authentication)."""
    d = cfg.FX.rundir("redis-fork")
    env = host_env(d, "py", redis.url(), PATIENT)
    port_p, port_c = free_port(), free_port()
    argv = [cfg.PYTHON, os.path.join(cfg.HERE, "pyforked.py"), os.path.join(d, "pki/a.test.crt"),
            os.path.join(d, "pki/a.test.key"), str(port_p), str(port_c), "3"]
    out = os.path.join(d, "pyforked.out")
    py = Proc("pyforked", argv, env, out, os.path.join(d, "pyforked.err"))
    ctx, got = client_ctx("1.2"), []
    try:
        if wait_until(lambda: "LISTEN" in read_text(out), 10):
            handshake(ctx, port_p)  # the parent's store and Redis connections start; then it forks
            wait_until(lambda: "CHILD" in read_text(out), 10)
            reused, from_parent, _ = handshake(ctx, port_p)
            time.sleep(0.3)  # the parent's thread writes it
            reused_c, from_child, _ = handshake(ctx, port_c, from_parent)
            got += [reused, reused_c]
            time.sleep(0.5)  # the child's thread connects and writes its session
            got += [handshake(ctx, port_c, from_parent)[0], handshake(ctx, port_p, from_child)[0]]
            handshake(ctx, port_c)
            handshake(ctx, port_p)
            py.wait(20)
    finally:
        py.stop(signal.SIGTERM, 5)
    by_pid = outcomes_by_pid(env["SESSCB_LOG"])
    parent, child = py.p.pid, next((p for p in by_pid if p != py.p.pid), None)
    R.check("store redis fork: the child's first lookup finds no connection, then the child and the parent "
            "resume each other's sessions through their own connections",
            got == [False, False, True, True] and by_pid.get(child) == ["unavailable", "remote_hit"] and
            by_pid.get(parent) == ["remote_hit"],
            "handshakes %r, get outcomes by pid %r (parent %d)" % (got, by_pid, parent))


def test_store_redis():
    if not os.access(SESSCB, os.X_OK):
        R.check("store-redis: %s built" % SESSCB, False, "run `make lib`")
        return
    d = cfg.FX.rundir("redis-server")
    redis = Redis(d)
    if not R.check("store-redis: redis-server started on a loopback port", redis.ok,
                   "" if redis.ok else read_text(redis.out)[-500:]):
        redis.stop()
        return
    try:
        for tls in cfg.TLS_VERSIONS:
            cross_host(redis, "redis", tls, redis.url())
            cross_host(redis, "local+redis", tls, "local+" + redis.url())
        cross_host(redis, "unix", "1.2", "unix://" + redis.sock)
        warmed_embedded_tier(redis)
        single_use(redis, "1.3", RACES, 1)
        single_use(redis, "1.2", 5, 2)
        for how, change in TAMPERING:
            tampered(redis, how, change)
        from_openssl_111(redis)
        rate_limited(redis)
        forked(redis)
        under_valgrind(redis)
        no_keyring(redis)
        stopped_redis(redis)
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
