"""haproxy and shared ticket keys (SESSCB_TICKET_KEYS=keyring), plain vs sesscb.

Two independent haproxy instances with default tickets (no `no-tls-tickets`,
no `tls-ticket-keys`: OpenSSL's random keys per ctx), the configuration of
the store-servers suite; a ticket made on A offered to B, TLS 1.3 and 1.2.
Plain preloads sesscb with ticket keys off. haproxy parses its
configuration (and makes its ctxs) as root, then drops to its user, which
re-reads the keyring when it changes: the keyring is the workers' own."""

import base64
import os
import signal

from . import config as cfg
from .files import fill, read_text
from .procs import Proc, drop_to, free_port, tool, wait_ports
from .report import R
from .store import SESSIONS as N
from .store import resumed_a_to_b, store_env
from .store_servers import haproxy_start, worker_ids
from .tickets import keys_on


def keyring_keys(d):
    return keys_on(d, worker_ids()[0])


def pair(name, tls, keys):
    """(resumed on B, problem lines, exit statuses); `keys(d)`: the
    ticket-key settings, None for plain. The client is s_client without
    -no_ticket, so TLS 1.2 resumes by ticket, not session id."""
    d = cfg.FX.rundir(name)
    env = store_env(d, keys(d) if keys else None)
    started = [haproxy_start(d, n, env, tls, True) for n in ("a", "b")]
    resumed = None
    try:
        if all(ok for _p, _port, ok in started):
            resumed = resumed_a_to_b(d, tls, started[0][1], started[1][1])
    finally:
        exits = [p.stop(signal.SIGUSR1, 20) for p, _port, _ok in started]  # soft stop
    logs = "".join(read_text(p.out_path) for p, _port, _ok in started)
    problems = [line for line in logs.splitlines() if "sesscb:" in line or cfg.CRASH_RE.search(line)]
    return resumed, problems, exits


def own_keys_start(d, name, env, tls, keyfile):
    """haproxy with its own `tls-ticket-keys` file (an EVP ticket callback
    haproxy sets on its ctx), or default tickets when keyfile is None."""
    if keyfile is None:
        return haproxy_start(d, name, env, tls, True)
    port = free_port()
    conf = fill("haproxy-store.cfg.in", os.path.join(d, name + ".cfg"), DIR=d, PORT=port,
                VER="TLSv1.3" if tls == "1.3" else "TLSv1.2", TICKETS="tls-ticket-keys %s" % keyfile,
                USER=drop_to("    user %s\n    group %s"))
    p = Proc("haproxy-" + name, [tool("haproxy"), "-db", "-f", conf], env, os.path.join(d, name + ".log"))
    return p, port, wait_ports(p, [port])


def key_file(d):
    """`d`'s key file, made once: three random 80-byte keys (AES-256),
    haproxy's format (the penultimate encrypts, all three decrypt)."""
    path = os.path.join(d, "tls-ticket.keys")
    if os.path.exists(path):
        return path
    with open(path, "w") as f:
        f.write("".join(base64.b64encode(os.urandom(80)).decode() + "\n" for _ in range(3)))
    return path


def own_pair(name, tls, keys, a_file, b_file):
    """Resumed on B of tickets made on A; either may have its own key file."""
    d = cfg.FX.rundir(name)
    env = store_env(d, keys_on(d, worker_ids()[0]) if keys else None)
    started = [own_keys_start(d, n, env, tls, f and f(d)) for n, f in (("a", a_file), ("b", b_file))]
    resumed = None
    try:
        if all(ok for _p, _port, ok in started):
            resumed = resumed_a_to_b(d, tls, started[0][1], started[1][1])
    finally:
        exits = [p.stop(signal.SIGUSR1, 20) for p, _port, _ok in started]
    logs = "".join(read_text(p.out_path) for p, _port, _ok in started)
    return resumed, [line for line in logs.splitlines() if "sesscb:" in line or cfg.CRASH_RE.search(line)], exits


def app_keys(tls):
    """haproxy's own `tls-ticket-keys` win over sesscb's: with the same key
    file on A and B, plain and keyring both resume every ticket; a ticket
    from A (its file, keyring on) does not resume on B (keyring, no file),
    so sesscb's keys did not make it. sesscb's callback is never called
    there (OpenSSL prefers haproxy's EVP callback), so nothing is counted."""
    plain, bad_p, ex_p = own_pair("tk-haproxy-own-%s-plain" % tls, tls, False, key_file, key_file)
    shared, bad_k, ex_k = own_pair("tk-haproxy-own-%s" % tls, tls, True, key_file, key_file)
    across, bad_x, ex_x = own_pair("tk-haproxy-own-%s-cross" % tls, tls, True, key_file, None)
    ok = plain == shared == N
    R.row("tickets haproxy tls-ticket-keys", tls, "K->K", "%s/%d" % (plain, N), "%s/%d" % (shared, N),
          "ok" if ok else "FAIL")
    R.check("tickets haproxy TLS %s: own tls-ticket-keys: plain and keyring resume alike (%d)" % (tls, N), ok,
            "plain %s, keyring %s" % (plain, shared))
    R.check("tickets haproxy TLS %s: a ticket under haproxy's keys is not sesscb's (0 on a keyring-only B)" % tls,
            across == 0, "resumed %s" % across)
    R.check("tickets haproxy TLS %s: own keys: no crash or sesscb line, soft stops exit 0" % tls,
            not (bad_p + bad_k + bad_x) and set(ex_p + ex_k + ex_x) <= {0}, "%s %s" % (bad_p + bad_k + bad_x,
                                                                               ex_p + ex_k + ex_x))


def test_tickets_haproxy():
    for tls in cfg.TLS_VERSIONS:
        plain, bad_p, exits_p = pair("tk-haproxy-%s-plain" % tls, tls, None)
        shared, bad_k, exits_k = pair("tk-haproxy-%s" % tls, tls, keyring_keys)
        ok = plain == 0 and shared == N
        R.row("tickets haproxy", tls, "A->B", "%s/%d" % (plain, N), "%s/%d" % (shared, N), "ok" if ok else "FAIL")
        R.check("tickets haproxy TLS %s: two instances, plain 0, keyring %d" % (tls, N), ok,
                "plain %s, keyring %s" % (plain, shared))
        R.check("tickets haproxy TLS %s: no crash or sesscb line, soft stops exit 0" % tls,
                not (bad_p + bad_k) and set(exits_p + exits_k) <= {0}, "%s %s" % (bad_p + bad_k, exits_p + exits_k))
        app_keys(tls)
