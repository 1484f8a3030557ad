"""haproxy and shared ticket keys (SESSCB_TICKET_KEYS=keyring), plain vs sesscb.

Two independent haproxy instances with default tickets (no `no-tls-tickets`,
no `tls-ticket-keys`: OpenSSL's random keys per ctx), the configuration of
the store-servers suite; a ticket made on A offered to B, TLS 1.3 and 1.2.
Plain preloads sesscb with ticket keys off. haproxy parses its
configuration (and makes its ctxs) as root, then drops to its user, which
re-reads the keyring when it changes: the keyring is the workers' own."""

import signal

from . import config as cfg
from .files import read_text
from .report import R
from .store import SESSIONS as N
from .store import resumed_a_to_b, store_env
from .store_servers import haproxy_start, worker_ids
from .tickets import keys_on


def pair(name, tls, keys):
    """(resumed on B, problem lines, exit statuses). The client is s_client
    without -no_ticket, so TLS 1.2 resumes by ticket, not session id."""
    d = cfg.FX.rundir(name)
    env = store_env(d, keys_on(d, worker_ids()[0]) if keys else None)
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


def test_tickets_haproxy():
    for tls in cfg.TLS_VERSIONS:
        plain, bad_p, exits_p = pair("tk-haproxy-%s-plain" % tls, tls, False)
        shared, bad_k, exits_k = pair("tk-haproxy-%s" % tls, tls, True)
        ok = plain == 0 and shared == N
        R.row("tickets haproxy", tls, "A->B", "%s/%d" % (plain, N), "%s/%d" % (shared, N), "ok" if ok else "FAIL")
        R.check("tickets haproxy TLS %s: two instances, plain 0, keyring %d" % (tls, N), ok,
                "plain %s, keyring %s" % (plain, shared))
        R.check("tickets haproxy TLS %s: no crash or sesscb line, soft stops exit 0" % tls,
                not (bad_p + bad_k) and set(exits_p + exits_k) <= {0}, "%s %s" % (bad_p + bad_k, exits_p + exits_k))
