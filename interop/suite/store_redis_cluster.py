"""The store across hosts through a Redis Cluster (SESSCB_STORE=redis+cluster://).

Three masters on loopback ports the suite chose (no replicas,
`cluster-require-full-coverage no`), joined by `redis-cli --cluster
create`. Two `openssl s_server -no_ticket` hosts (provide mode, each with
its own embedded directory) share one keyring: a session made on host A
resumes on host B through the cluster (TLS 1.2 ids, TLS 1.3 stateful), 0%
without the store. The sessions spread over the masters (DBSIZE per node).
Then one master is killed (SIGKILL): the sessions whose entries it held
miss (a full handshake), the others still resume, no handshake fails, and
the counts match the placement read from the nodes before the kill. Slots
moved under a host (a resharding): its lookups of moved keys get MOVED,
which is a miss counted remote_error (never followed on the handshake),
and once its thread has read the new map they resume. Single use (GETDEL)
through the cluster: two hosts race one TLS 1.3 session, one resumes.
Helpers: store_redis_hosts.py, redis_tools.py.

A lookup gets 100 ms here: three redis-servers and three s_servers share
the loaded 2-core test machine, and a lookup that waited for a descheduled
node would miss as a timeout. The deadline itself is store-redis's test."""

import os
import signal
import time

from . import config as cfg
from .files import read_text
from .procs import tool, wait_until
from .redis_tools import RedisCluster, client_ctx, handshake
from .report import R
from .store import SESSCB, start
from .store_redis import race_round
from .store_redis_hosts import Hosts, counts, host_env, lookups, made_on_a

PATIENT = {"SESSCB_STORE_TIMEOUT_MS": "100"}
SESSIONS = 36
RACES = 20
MISSES = ("miss", "remote_error", "timeout", "unavailable", "breaker_open")


def stored(d, host):
    return counts(d, host).get(("sesscb_store_stores_total", "remote_ok"), 0)


def sessions_on_a(ctx, hosts, n, tls):
    """`n` sessions made on A, once A counts each applied by the cluster
    (None: a handshake failed)."""
    before = stored(hosts.d, "a")
    sessions = [made_on_a(ctx, hosts, None) for _ in range(n)]
    if None in sessions:
        return None
    per = 2 if tls == "1.3" else 1  # s_server sends a TLS 1.3 client two tickets
    wait_until(lambda: stored(hosts.d, "a") >= before + n * per, 10)
    return sessions


def offered_to_b(ctx, hosts, sessions):
    """[reused] for each session offered to B; None for a failed handshake."""
    return [handshake(ctx, hosts.port_b, s)[0] for s in sessions]


def a_to_b(d, tls, url, cluster):
    """(resumed on B, keys per node after A made them); resumed None when a
    server or handshake failed."""
    hosts = Hosts(d, url, PATIENT)
    try:
        if not (hosts.ok and hosts.warm(tls)):
            return None, None
        if cluster:
            cluster.flush()  # only this run's sessions: the per-node counts are theirs
        ctx = client_ctx(tls)
        sessions = sessions_on_a(ctx, hosts, SESSIONS, tls)
        if sessions is None:
            return None, None
        sizes = cluster.sizes() if cluster else None
        results = offered_to_b(ctx, hosts, sessions)
        resumed = None if None in results else results.count(True)
        wait_until(lambda: lookups(d, "b", "remote_hit") >= (resumed or 0), 3)
        return resumed, sizes
    finally:
        hosts.stop()


def cross_host(cluster, tls):
    plain, _ = a_to_b(cfg.FX.rundir("rcluster-%s-plain" % tls), tls, None, None)
    d = cfg.FX.rundir("rcluster-%s" % tls)
    resumed, sizes = a_to_b(d, tls, cluster.url(), cluster)
    hits = lookups(d, "b", "remote_hit")
    per = 2 if tls == "1.3" else 1
    R.row("store redis+cluster", tls, "A->B", "%s/%d" % (plain, SESSIONS), "%s/%d" % (resumed, SESSIONS),
          "ok" if plain == 0 and resumed == SESSIONS else "FAIL")
    label = "store redis+cluster TLS %s: a session made on host A resumes on host B" % tls
    R.check(label + " without the store: 0", plain == 0, "plain resumed %s/%d" % (plain, SESSIONS))
    R.check(label + " through the cluster: %d/%d, each a remote_hit" % (SESSIONS, SESSIONS),
            resumed == SESSIONS and hits == SESSIONS, "resumed %s/%d, B's remote_hit %d" % (resumed, SESSIONS, hits))
    held = [n for n in (sizes or []) if n]
    R.check("store redis+cluster TLS %s: the %d entries A wrote spread over the masters (>= 2 hold some)" % (
        tls, SESSIONS * per), len(held) >= 2 and sum(sizes) == SESSIONS * per, "keys per node %r" % sizes)


def master_killed(cluster):
    """A's sessions spread over the masters; the master holding some (not
    all) is killed; offered to B, exactly those on the survivors resume."""
    d = cfg.FX.rundir("rcluster-kill")
    hosts = Hosts(d, cluster.url(), PATIENT)
    ctx, results, sizes, victim = client_ctx("1.2"), [], None, None
    try:
        if hosts.ok and hosts.warm("1.2"):
            cluster.flush()
            sessions = sessions_on_a(ctx, hosts, SESSIONS, "1.2") or []
            sizes = cluster.sizes()
            victim = max(range(len(sizes)), key=lambda i: (0 < (sizes[i] or 0) < SESSIONS, sizes[i] or 0))
            cluster.kill(victim)
            results = offered_to_b(ctx, hosts, sessions)
            missed = lambda: sum(lookups(d, "b", o) for o in MISSES)  # noqa: E731
            wait_until(lambda: lookups(d, "b", "remote_hit") + missed() >= len(results), 3)
        up = hosts.b.alive() and hosts.a.alive()
    finally:
        hosts.stop()
    report_kill(d, sizes, victim, results, up)


def report_kill(d, sizes, victim, results, up):
    on_victim = sizes[victim] if sizes and victim is not None else None
    survivors = SESSIONS - on_victim if on_victim is not None else None
    resumed, failed = results.count(True), results.count(None)
    hits = lookups(d, "b", "remote_hit")
    missed = {o: lookups(d, "b", o) for o in MISSES if lookups(d, "b", o)}
    R.row("store redis+cluster", "1.2", "master killed", "%s on it" % on_victim, "%d/%d" % (resumed, len(results)),
          "ok" if resumed == survivors and failed == 0 else "FAIL")
    R.check("store redis+cluster: one of 3 masters killed (SIGKILL), %d sessions offered to B: those on the "
            "survivors resume, those on the dead master are full handshakes, none fails, the servers stay up" %
            SESSIONS,
            len(results) == SESSIONS and sum(sizes or [0]) == SESSIONS and 0 < (on_victim or 0) < SESSIONS and
            resumed == survivors and hits == resumed and failed == 0 and up and
            sum(missed.values()) == SESSIONS - resumed,
            "keys per node before the kill %r, killed node %s; resumed %d (expected %s), failed %d, "
            "B's remote_hit %d, misses %r, servers up %s" % (sizes, victim, resumed, survivors, failed, hits,
                                                              missed, up))


def slots_moved(cluster):
    """The slots of master 0 that hold A's entries are moved to master 1
    while B runs with its map: B's first lookups of them get MOVED (a miss,
    remote_error; every handshake completes); offered again once B's
    thread has read the new map, every session resumes."""
    d = cfg.FX.rundir("rcluster-moved")
    hosts = Hosts(d, cluster.url(), PATIENT)
    ctx, first, second, moved = client_ctx("1.2"), [], [], 0
    try:
        if hosts.ok and hosts.warm("1.2"):
            cluster.flush()
            sessions = sessions_on_a(ctx, hosts, SESSIONS, "1.2") or []
            moved = cluster.move_keys(0, 1)
            first = offered_to_b(ctx, hosts, sessions)
            time.sleep(0.6)  # B's thread refreshes at most 200 ms after a MOVED, on its 100 ms tick
            second = offered_to_b(ctx, hosts, [s for s, r in zip(sessions, first) if r is False])
            wait_until(lambda: lookups(d, "b", "remote_hit") >= first.count(True) + second.count(True), 3)
    finally:
        hosts.stop()
    errors, hits = lookups(d, "b", "remote_error"), lookups(d, "b", "remote_hit")
    R.check("store redis+cluster: %d sessions, master 0's entries moved to master 1 under host B: a lookup "
            "that meets MOVED misses (remote_error), none fails; offered again, every one resumes" % SESSIONS,
            len(first) == SESSIONS and 0 < moved < SESSIONS and None not in first + second and
            first.count(False) == errors and first.count(True) >= SESSIONS - moved and
            second.count(True) == len(second) and hits == SESSIONS,
            "moved %d entries; first offer resumed %d, missed %d (remote_error %d); second offer resumed %d/%d; "
            "B's remote_hit %d" % (moved, first.count(True), first.count(False), errors, second.count(True),
                                   len(second), hits))


def single_use(cluster):
    """SESSCB_STORE_SINGLE_USE=tls13 through the cluster: hosts B and C
    race the same TLS 1.3 session each round; exactly one resumes."""
    d = cfg.FX.rundir("rcluster-single-use")
    extra = dict(PATIENT, SESSCB_STORE_SINGLE_USE="tls13", SESSCB_METRICS_INTERVAL_MS="20")
    hosts, ctx, per_round = Hosts(d, cluster.url(), extra), client_ctx("1.3"), []
    c, port_c, ok_c = start(d, "host-c", host_env(d, "c", cluster.url(), extra), ["-no_ticket"])
    try:
        if hosts.ok and ok_c and hosts.warm("1.3") and handshake(ctx, port_c)[0] is False:
            time.sleep(0.3)
            for i in range(RACES):
                sess = made_on_a(ctx, hosts, 1 + i + 1)
                per_round.append(race_round(ctx, [hosts.port_b, port_c], sess) if sess else None)
    finally:
        hosts.stop()
        c.stop(signal.SIGTERM, 5)
    rows = {n: per_round.count(n) for n in set(per_round)}
    R.check("store redis+cluster single use TLS 1.3: B and C race one session %d times, 1 resumes each time" %
            RACES, len(per_round) == RACES and rows == {1: RACES}, "resumed per round: %r" % rows)


AUTH_SESSIONS = 8


def with_password():
    """Every node requires a password; the hosts read it from a file: A's
    sessions resume on B, and the password is in none of the hosts' files."""
    d = cfg.FX.rundir("rcluster-auth")
    secret = "cl-s3cr3t-%d" % os.getpid()
    pw = os.path.join(d, "password")
    with open(pw, "w") as f:
        f.write(secret + "\n")
    os.chmod(pw, 0o600)
    cluster, results = RedisCluster(os.path.join(d, "cluster"), password=secret), []
    try:
        if cluster.ok:
            hosts = Hosts(d, cluster.url(), dict(PATIENT, SESSCB_STORE_REDIS_PASSWORD_FILE=pw))
            try:
                ctx = client_ctx("1.2")
                if hosts.ok and hosts.warm("1.2"):
                    results = offered_to_b(ctx, hosts, sessions_on_a(ctx, hosts, AUTH_SESSIONS, "1.2") or [])
            finally:
                hosts.stop()
    finally:
        cluster.stop()
    hosts_files = [os.path.join(root, n) for root, _, files in os.walk(d) for n in files
                   if n != "password" and not root.startswith(os.path.join(d, "cluster"))]
    leaked = [f for f in hosts_files if secret in read_text(f)]
    R.check("store redis+cluster AUTH (password file, every node): %d/%d resumed on B, the password in none of "
            "the hosts' %d files" % (AUTH_SESSIONS, AUTH_SESSIONS, len(hosts_files)),
            cluster.ok and results.count(True) == AUTH_SESSIONS and len(results) == AUTH_SESSIONS and not leaked,
            "cluster up %s (%s), resumed %r, found in %r" % (cluster.ok, cluster.why[-200:] if not cluster.ok else "",
                                                             results, leaked))


def test_store_redis_cluster():
    if not os.access(SESSCB, os.X_OK):
        R.check("store-redis-cluster: %s built" % SESSCB, False, "run `make lib`")
        return
    if not tool("redis-cli"):
        R.check("store-redis-cluster: redis-cli installed", False, "scripts/install-deps.sh installs redis-tools")
        return
    cluster = RedisCluster(cfg.FX.rundir("redis-cluster"))
    try:
        why = "" if cluster.ok else cluster.why or " ".join(read_text(n.out)[-200:] for n in cluster.nodes)
        if not R.check("store-redis-cluster: 3 masters on loopback ports, cluster_state:ok", cluster.ok, why):
            return
        for tls in cfg.TLS_VERSIONS:
            cross_host(cluster, tls)
        single_use(cluster)
        slots_moved(cluster)
        master_killed(cluster)  # last: it leaves the cluster with a dead master
    finally:
        cluster.stop()
    with_password()
