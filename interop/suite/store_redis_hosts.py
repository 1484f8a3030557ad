"""The hosts of the Redis store suite: `openssl s_server -no_ticket`
processes (provide mode), each with its own embedded directory and metrics
files, sharing one keyring and one Redis; and what they counted."""

import json
import os
import signal
import ssl
import subprocess
import time

from .files import read_text
from .procs import wait_until
from .redis_tools import client_ctx, handshake
from .store import DOMAIN, SESSCB, metrics_totals, start, store_env


SESSIONS = 4
# The cases that prove resumption give a lookup 25 ms: on this shared 2-core
# machine Redis itself is sometimes scheduled late, and a 2 ms lookup then
# misses (counted as a timeout). The fault cases keep the default 2 ms.


PATIENT = {"SESSCB_STORE_TIMEOUT_MS": "25"}


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


def latency(d, host):
    """The host's Redis lookup-latency histogram, summed over its metrics
    files: [(upper bound in seconds, lookups at most that long)], ascending."""
    rows = [(float(le.replace("+Inf", "inf")), n) for (name, le), n in counts(d, host).items()
            if name == "sesscb_store_redis_lookup_seconds_bucket"]
    return sorted(rows)


def p99_bound(rows):
    """The upper bound of the bucket that holds the 99th percentile (None:
    no lookup observed)."""
    total = rows[-1][1] if rows else 0
    return next((bound for bound, n in rows if n >= 0.99 * total), None) if total else None


class Hosts:
    """Host A and host B, started with `url` (None: the store off);
    `flags`: s_server's (default: stateful TLS 1.3, no tickets)."""

    def __init__(self, d, url, extra=None, flags=("-no_ticket",)):
        self.d = d
        self.a, self.port_a, ok_a = start(d, "host-a", host_env(d, "a", url, extra), list(flags))
        self.b, self.port_b, ok_b = start(d, "host-b", host_env(d, "b", url, extra), list(flags))
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


class Pair:
    """What made_on_a needs of a pair of hosts: A's port and the run dir."""

    def __init__(self, d, port_a):
        self.d, self.port_a = d, port_a


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


def host_stats(d, host):
    """`sesscb stats --json` of the host's embedded directory ({} if none)."""
    r = subprocess.run([SESSCB, "stats", "--dir", os.path.join(d, host, "store"), "--domain", DOMAIN, "--json"],
                       capture_output=True, timeout=15)
    try:
        return json.loads(r.stdout)
    except ValueError:
        return {}


def entries(d, host):
    return host_stats(d, host).get("entries", 0)


def outcomes_by_pid(trace):
    """{pid: [get outcomes, in order]} from a SESSCB_LOG file."""
    out = {}
    for line in read_text(trace).splitlines():
        if '"op":"get"' in line:
            ev = json.loads(line)
            out.setdefault(ev["pid"], []).append(ev["outcome"])
    return out
