"""Redis failing under the store: killed and restarted, absent at start
then coming up, absent, silent, answering garbage (SIGSTOP: see
store_redis_stop.py); its values tampered with; a 1.1.1w writer; a host
under valgrind. Every handshake completes, nothing resumes from a bad
entry, and B's counters say exactly why each lookup missed."""

import os
import signal
import time

from . import config as cfg
from . import store_proofs as proofs
from .files import read_text
from .procs import tool, wait_until
from .redis_tools import client_ctx, handshake, kill, restart
from .report import R
from .store import start
from .store_redis_hosts import PATIENT, SESSIONS, Hosts, Pair, counts, host_env, lookups, made_on_a


def outcomes(d, host):
    """The host's lookup outcomes that counted something: {outcome: n}."""
    return {k[1]: v for k, v in counts(d, host).items() if k[0] == "sesscb_store_lookups_total" and v}


def resumed_on_b(ctx, hosts, redis=None):
    """A session made on A offered to B: True (resumed), False (a full
    handshake) or None (a handshake failed). With `redis`, B is offered it
    once Redis holds what A wrote (within 2 s)."""
    before = len(redis.keys()) if redis else 0
    reused, sess, _ = handshake(ctx, hosts.port_a)
    if reused is not False:
        return None
    if redis:
        wait_until(lambda: len(redis.keys()) > before, 2)
    return handshake(ctx, hosts.port_b, sess)[0]


def until_resumed(ctx, hosts, seconds=10):
    """Rounds until B resumes one through Redis: (results, seconds taken)."""
    t0, results = time.monotonic(), []
    while time.monotonic() - t0 < seconds and True not in results:
        results.append(resumed_on_b(ctx, hosts))
        time.sleep(0.05)
    return results, time.monotonic() - t0


def killed_and_restarted(redis):
    """Redis killed (SIGKILL) between handshakes and started again on the
    same port, empty: B resumes before, makes full handshakes while Redis
    is gone (no failure), and resumes new sessions again once it is back."""
    d = cfg.FX.rundir("redis-restart")
    hosts, ctx, before, down, after, took = Hosts(d, redis.url(), PATIENT), client_ctx("1.2"), [], [], [], None
    try:
        if hosts.ok and hosts.warm("1.2"):
            before = [resumed_on_b(ctx, hosts, redis) for _ in range(SESSIONS)]
            kill(redis)
            down = [resumed_on_b(ctx, hosts) for _ in range(2 * SESSIONS)]
            if restart(redis):
                after, took = until_resumed(ctx, hosts)
    finally:
        hosts.stop()
    b = outcomes(d, "b")
    R.check("store redis killed and restarted: B resumed %d/%d before, %d/%d while Redis was gone (no failure), "
            "and again %.2f s after the restart" % (before.count(True), SESSIONS, down.count(True), len(down),
                                                     took or -1),
            before == [True] * SESSIONS and down == [False] * len(down) and after[-1:] == [True] and
            None not in after, "before %r, down %r, after %r, B's lookups %r" % (before, down, after, b))


def absent_then_up(redis):
    """Hosts started while nothing listens on Redis's port: full handshakes,
    no failure; once Redis comes up there, B resumes through it."""
    d = cfg.FX.rundir("redis-late")
    kill(redis)
    hosts, ctx, absent, after, took = Hosts(d, redis.url()), client_ctx("1.2"), [], [], None
    try:
        if hosts.ok:
            absent = [resumed_on_b(ctx, hosts) for _ in range(2 * SESSIONS)]
            if restart(redis):
                after, took = until_resumed(ctx, hosts)
    finally:
        hosts.stop()
        if not redis.proc.alive():
            restart(redis)
    b = outcomes(d, "b")
    R.check("store redis absent at start: %d full handshakes, no failure; B resumes through Redis %.2f s after it "
            "comes up" % (len(absent), took or -1),
            absent == [False] * 2 * SESSIONS and after[-1:] == [True] and None not in after,
            "absent %r, after %r, B's lookups %r" % (absent, after, b))


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
    b = outcomes(d, "b")
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
    b = outcomes(d, "b")
    R.check("store redis tampering: %d values %s in Redis, 0 resumed, B's lookups exactly %d auth_fail" % (
        SESSIONS, how, SESSIONS), len(sessions) == SESSIONS and changed == SESSIONS and resumed == 0 and
        b == {"auth_fail": SESSIONS}, "changed %d, resumed %d, B's lookups %r" % (changed, resumed, b))


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
    b = outcomes(d, "b")
    R.check("store redis 1.1.1w -> 3.0: %d sessions a 1.1.1w host stored, 0 resumed by 3.0, B's lookups exactly "
            "%d incompatible" % (SESSIONS, SESSIONS), made == SESSIONS and resumed == 0 and
            b == {"incompatible": SESSIONS}, "made %d, resumed %d, B's lookups %r" % (made, resumed, b))
