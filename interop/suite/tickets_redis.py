"""Shared ticket keys through Redis (SESSCB_TICKET_KEYS=redis), plain vs sesscb.

Each process's Redis thread holds the random epoch keys of the acceptance
window, fetched from (or first made and stored sealed in) a real
redis-server on a loopback port. Plain runs preload sesscb with ticket keys
off.

- two s_server "hosts" (Debian 3.0, and the 1.1.1w, 3.5, 3.6, 4.0 builds),
  two nginx instances and nginx across reloads: a ticket made on one
  resumes on the other, TLS 1.3 and 1.2;
- an epoch rotation (2 s) during a client loop keeps resuming (renewals
  counted), a ticket older than the lifetime (6 s) is refused, and Redis
  then holds only the window's epochs, each expiring at its window's end;
- Redis absent at start: every handshake succeeds on OpenSSL's own keys
  (fallback counted); once Redis starts, the shared keys are adopted within
  a bounded time;
- values in Redis sealed under another keyring, or bit-flipped: ignored
  and counted, own keys used, no crash;
- fork: tkfork.py's parent, stress children and serving children
  (tickets_fork's scenario) with the Redis thread running in the parent."""

import json
import os
import re
import shutil
import signal
import time

from . import config as cfg
from . import tickets_fork, tickets_haproxy, tickets_nginx
from .files import read_text
from .procs import Proc, free_port, tool, wait_until
from .redis_tools import Redis
from .report import R
from .store import SESSIONS, cross_resumed, resumed_a_to_b, start, store_env
from .store_nginx import hello
from .tickets import BUILDS, DOMAIN, TkServer, build_pair, keys_on, py_cross, py_hello, rate, rotation
from .tickets_nginx import PAIR_SESSIONS, Nginx, offered, subdir, worker_ids

ADOPT_BOUND = 5.0  # seconds: Redis started -> shared keys in use
RING = []  # the directory of the fleet's one keyring (every host shares it)


def redis_on(url, owner=None, ring_dir=None, **extra):
    """Ticket keys through the Redis at `url`, under the suite's keyring
    (or the one in `ring_dir`)."""
    env = keys_on(ring_dir or RING[0], owner, **extra)
    env.update(SESSCB_TICKET_KEYS="redis", SESSCB_TICKET_REDIS=url)
    return env


def ticket_keys(redis, domain, rotate):
    """{epoch: remaining ms} of the ticket-key entries of `domain` and
    `rotate` in Redis (sesscb:tk:<domain>:<rotate>:<epoch>)."""
    prefix = ("sesscb:tk:%s:%d:" % (domain, rotate)).encode()
    return {int(key[len(prefix):]): redis.call("PTTL", key) for key in redis.keys() if key.startswith(prefix)}


def metrics_totals(d):
    """sesscb_store_tickets_total by outcome, summed over d's metrics files."""
    totals = {}
    for name in os.listdir(d):
        if name.startswith("metrics-") and name.endswith(".prom"):
            for m in re.finditer(r'^sesscb_store_tickets_total\{pid="\d+",outcome="(\w+)"\} (\d+)$',
                                 read_text(os.path.join(d, name)), re.M):
                totals[m.group(1)] = totals.get(m.group(1), 0) + int(m.group(2))
    return totals


def haproxy(redis, tls):
    """Two haproxy instances (-db: the process that parses the
    configuration serves; sesscb's thread starts with its first ctx):
    tickets resume across them (plain: tickets-haproxy, 0)."""
    resumed, problems, exits = tickets_haproxy.pair("tkr-haproxy-%s" % tls, tls,
                                                    lambda _d: redis_on(redis.url(), worker_ids()[0]))
    R.row("tickets redis haproxy", tls, "A->B", "-", "%s/%d" % (resumed, SESSIONS),
          "ok" if resumed == SESSIONS else "FAIL")
    R.check("tickets redis haproxy TLS %s: two instances, redis %d" % (tls, SESSIONS), resumed == SESSIONS,
            str(resumed))
    R.check("tickets redis haproxy TLS %s: no crash or sesscb line, soft stops exit 0" % tls,
            not problems and set(exits) <= {0}, "%s %s" % (problems, exits))


def settled_cross(d, tls, env):
    """cross_resumed, with time for a last metrics write before the stop."""
    started = [start(d, name, env, []) for name in ("a", "b")]
    try:
        if not all(ok for _p, _port, ok in started):
            return None
        resumed = resumed_a_to_b(d, tls, started[0][1], started[1][1])
        time.sleep(0.5)
        return resumed
    finally:
        for p, _port, _ok in started:
            p.stop(signal.SIGTERM, 5)


def s_servers(redis, tls):
    plain_d, d = cfg.FX.rundir("tkr-s_server-%s-plain" % tls), cfg.FX.rundir("tkr-s_server-%s" % tls)
    plain = cross_resumed(plain_d, tls, store_env(plain_d), store_env(plain_d), [])
    # No store runs: the Redis thread writes the metrics file.
    env = store_env(d, redis_on(redis.url(), SESSCB_METRICS_FILE=os.path.join(d, "metrics-%p.prom"),
                                SESSCB_METRICS_INTERVAL_MS="100"))
    shared = settled_cross(d, tls, env)
    totals = metrics_totals(d)
    R.check("tickets redis s_server TLS %s: metrics files without the store: issued and decrypted >= %d"
            % (tls, SESSIONS), totals.get("issued", 0) >= SESSIONS and totals.get("decrypted", 0) >= SESSIONS
            and totals.get("redis_fetched", 0) >= 2, str(totals))
    ok = plain == 0 and shared == SESSIONS
    R.row("tickets redis s_server", tls, "host A->B", rate(plain), rate(shared), "ok" if ok else "FAIL")
    R.check("tickets redis s_server TLS %s: plain 0, redis %d" % (tls, SESSIONS), ok,
            "plain %s, redis %s" % (plain, shared))
    for name, prefix in BUILDS:
        if not os.path.exists(os.path.join(prefix, "bin", "openssl")):
            continue
        bd = cfg.FX.rundir("tkr-%s-%s" % (name, tls))
        got = build_pair(bd, tls, store_env(bd, redis_on(redis.url())), prefix)
        R.check("tickets redis OpenSSL %s TLS %s: redis %d" % (name, tls, SESSIONS), got == SESSIONS, str(got))


def warm_up(n, tls):
    """A few handshakes, then time for each worker's thread to fetch the
    keys: a worker forked before its master held them falls back (counted)
    on its first handshakes."""
    for _ in range(4):
        hello(n.port, tls)
    time.sleep(0.5)


def nginx_pair(d, tls, env):
    """Tickets made on nginx A offered to nginx B, after each worker had
    time to fetch the keys (a worker's first handshakes may fall back)."""
    a, b = Nginx(os.path.join(d, "a"), env), Nginx(os.path.join(d, "b"), env)
    try:
        if not (a.ready() and b.ready()):
            return None
        for n in (a, b):
            warm_up(n, tls)
        return offered(a, b, tls, PAIR_SESSIONS, d, "pair")
    finally:
        a.stop()
        b.stop()


def nginx(redis, tls):
    d = subdir("tkr-nginx-%s" % tls)
    env = store_env(d, redis_on(redis.url(), worker_ids()[0]))
    shared = nginx_pair(d, tls, env)
    # Plain is tickets-nginx's row (0 across instances, 0 across reloads).
    R.row("tickets redis nginx", tls, "A->B", "-",
          "%s/%d" % (shared, PAIR_SESSIONS), "ok" if shared == PAIR_SESSIONS else "FAIL")
    R.check("tickets redis nginx TLS %s: two instances, redis %d" % (tls, PAIR_SESSIONS), shared == PAIR_SESSIONS,
            str(shared))
    rd = subdir("tkr-nginx-reload-%s" % tls)
    reloaded = tickets_nginx.reloads_resumed(rd, store_env(rd, redis_on(redis.url(), worker_ids()[0])), tls,
                                             lambda n: warm_up(n, tls))
    R.row("tickets redis nginx", tls, "%d reloads" % tickets_nginx.RELOADS, "-", "%s/%d" % (reloaded,
          tickets_nginx.RELOADS),
          "ok" if reloaded == tickets_nginx.RELOADS else "FAIL")
    R.check("tickets redis nginx TLS %s: across %d reloads, redis %d" % (tls, tickets_nginx.RELOADS,
            tickets_nginx.RELOADS), reloaded == tickets_nginx.RELOADS, str(reloaded))


def rotating(redis, tls):
    counts = rotation(tls, lambda _d, **extra: redis_on(redis.url(), **extra), "tickets redis")
    now = time.time()
    held = ticket_keys(redis, DOMAIN, 2)
    current = int(now // 2)
    window = set(range(current - 3, current + 2))  # LIFETIME / ROTATE back, one ahead
    in_time = all(0 < ms <= ((e * 2 + 6) - now) * 1000 + 50 for e, ms in held.items())
    R.check("tickets redis TLS %s: Redis holds only the window's epochs, each expiring at its end" % tls,
            held and set(held) <= window and in_time, "epoch %d, held %s" % (current, held))
    R.check("tickets redis TLS %s: keys fetched from Redis, none rejected" % tls,
            counts.get("redis_fetched", 0) >= 4 and counts.get("redis_rejected") == 0, str(counts))


def across(a, b, tls):
    """A ticket from `a` offered to `b` (this driver's client): 'Reused',
    'New', or None when the first handshake failed."""
    first, session = py_hello(a.port, tls)
    if first is not False:
        return None
    return {True: "Reused", False: "New"}.get(py_hello(b.port, tls, session)[0])


def absent_then_started(tls):
    """Redis absent while servers run: own keys (fallback counted), all
    handshakes succeed; then Redis starts on the socket they were given."""
    d = cfg.FX.rundir("tkr-absent-%s" % tls)
    sock = os.path.join(d, "redis.sock")
    served = 80
    env = store_env(d, redis_on("unix://" + sock))
    a, b = TkServer(d, "a", env, served), TkServer(d, "b", env, served)
    before, adopted, redis, used = [], None, None, 0
    if a.ok and b.ok:
        before = [across(a, b, tls) for _ in range(3)]
        redis = Redis(d)
        t0, used = time.time(), 3
        while adopted is None and used < served and time.time() - t0 < ADOPT_BOUND:
            used += 1
            if across(a, b, tls) == "Reused":
                adopted = round(time.time() - t0, 2)
            time.sleep(0.05)
    for _ in range(served - used):  # each server ends after `served` connections
        py_hello(a.port, tls)
        py_hello(b.port, tls)
    counts = [s.finish() for s in (a, b)]
    if redis:
        redis.stop()
    R.note("tickets redis TLS %s: Redis absent -> %s; adopted after %ss; counters %s" % (tls, before, adopted, counts))
    R.check("tickets redis TLS %s: Redis absent: every handshake on own keys, none across" % tls,
            before == ["New"] * 3 and all(c.get("fallback", 0) >= 3 and c.get("redis_error", 0) >= 1
                                          for c in counts), "%s %s" % (before, counts))
    R.check("tickets redis TLS %s: Redis started -> shared keys within %.0f s" % (tls, ADOPT_BOUND),
            adopted is not None, "adopted %s" % adopted)


def no_thread_server(d, name, env, count, ids):
    """tkserver.py as the workers' uid with RLIMIT_NPROC 0 (no thread may
    start, as in a haproxy worker), serving `count` connections."""
    uid, gid = ids
    own = os.path.join(d, name)
    os.makedirs(own, exist_ok=True)
    for part in ("crt", "key"):
        shutil.copy(os.path.join(d, "pki", "a.test." + part), os.path.join(own, "a." + part))
    for path in [own] + [os.path.join(own, f) for f in os.listdir(own)]:
        os.chown(path, uid, gid)
    port, stats = free_port(), os.path.join(own, "stats.json")
    drop = ["setpriv", "--reuid", str(uid), "--regid", str(gid), "--clear-groups"] if cfg.IS_ROOT else []
    argv = drop + ["prlimit", "--nproc=0", "--", cfg.PYTHON, os.path.join(cfg.HERE, "tkserver.py"),
                   os.path.join(own, "a.crt"), os.path.join(own, "a.key"), str(port), str(count), stats]
    out, err = os.path.join(own, "out"), os.path.join(own, "err")
    proc = Proc(name, argv, dict(env, SESSCB_LOG=os.path.join(own, "sesscb.jsonl")), out, err)
    up = wait_until(lambda: "LISTEN" in read_text(out) or not proc.alive(), 10) and proc.alive()
    return proc, port, stats, err, bool(up)


def no_thread(redis):
    """Where no thread may start: one line, OpenSSL's own keys (every
    ticket counted as a fallback), every handshake served."""
    d = cfg.FX.rundir("tkr-nothread")
    ids = worker_ids()
    env = store_env(d, redis_on(redis.url(), ids[0]))
    servers = [no_thread_server(d, n, env, SESSIONS, ids) for n in ("a", "b")]
    outcomes = []
    if all(up for *_rest, up in servers):
        for _ in range(SESSIONS):
            first, session = py_hello(servers[0][1], "1.3")
            outcomes.append((first, py_hello(servers[1][1], "1.3", session)[0]))
    counts, lines = [], []
    for proc, _port, stats, err, _up in servers:
        if proc.wait(20) is None:
            proc.stop(signal.SIGTERM, 5)
        try:
            with open(stats) as f:
                counts.append(json.load(f))
        except (OSError, ValueError):
            counts.append({})
        lines.append(read_text(err).count("sesscb: ticket keys: no thread allowed here"))
    R.check("tickets redis: no thread allowed -> one line each, own keys (fallback), %d served, 0 across" % SESSIONS,
            outcomes == [(False, False)] * SESSIONS and lines == [1, 1]
            and all(c.get("fallback", 0) >= SESSIONS and c.get("issued") == 0 for c in counts),
            "outcomes %s, lines %s, counters %s" % (outcomes, lines, counts))


def rejected(redis, tls):
    """Entries sealed under another keyring, then bit-flipped ones: ignored
    (counted), every handshake still served, nothing resumes across."""
    d = cfg.FX.rundir("tkr-reject-%s" % tls)
    domain = "%s-rejects-%s" % (DOMAIN, tls)
    env = store_env(d, redis_on(redis.url(), SESSCB_STORE_DOMAIN=domain))
    base, _, _ = py_cross(d, tls, env, env)
    other_d = cfg.FX.rundir("tkr-reject-%s-other" % tls)
    other_env = store_env(other_d, redis_on(redis.url(), ring_dir=other_d, SESSCB_STORE_DOMAIN=domain))
    foreign, fa, fb = py_cross(other_d, tls, other_env, other_env)
    flipped_keys = 0
    for key in redis.keys():
        if (":tk:%s:" % domain).encode() in key:
            value = bytearray(redis.call("GET", key))
            value[40] ^= 1
            flipped_keys += redis.call("SET", key, bytes(value), "KEEPTTL") == b"OK"
    flip_d = cfg.FX.rundir("tkr-reject-%s-flip" % tls)
    flip_env = dict(env, SESSCB_LOG=os.path.join(flip_d, "sesscb.jsonl"))
    flipped, ka, kb = py_cross(flip_d, tls, flip_env, flip_env)
    ok_counts = all(c.get("redis_rejected", 0) >= 1 and c.get("fallback", 0) >= 1 and c.get("issued") == 0
                    for c in (fa, fb, ka, kb))
    R.check("tickets redis TLS %s: same keyring resumes (%d) before tampering" % (tls, SESSIONS), base == SESSIONS,
            str(base))
    R.check("tickets redis TLS %s: another keyring's entries: ignored, counted, own keys, 0 across" % tls,
            foreign == 0 and ok_counts, "resumed %s, A %s B %s" % (foreign, fa, fb))
    R.check("tickets redis TLS %s: %d bit-flipped entries: ignored, counted, own keys, 0 across" % (tls, flipped_keys),
            flipped == 0 and flipped_keys >= 2 and ok_counts, "resumed %s, A %s B %s" % (flipped, ka, kb))


def test_tickets_redis():
    d = cfg.FX.rundir("tkr-redis")
    RING[:] = [d]
    redis = Redis(d)
    if not R.check("tickets redis: redis-server started", redis.ok, redis.out):
        return
    try:
        for tls in cfg.TLS_VERSIONS:
            s_servers(redis, tls)
            if tool("nginx"):
                nginx(redis, tls)
            if tool("haproxy"):
                haproxy(redis, tls)
            rejected(redis, tls)
            absent_then_started(tls)
        no_thread(redis)
        for tls in cfg.TLS_VERSIONS:
            rotating(redis, tls)
        problems = tickets_nginx.health([n for n in tickets_nginx.STARTED if "/tkr-" in n.dir])
        R.check("tickets redis nginx: no crash, no sesscb line, clean exits", not problems, "; ".join(problems[:5]))
        tickets_fork.sesscb_checks("redis", *tickets_fork.run("tkr-fork", lambda _d: redis_on(redis.url())))
    finally:
        redis.stop()
