"""Ticket keys across fork (SESSCB_TICKET_KEYS=keyring), plain vs sesscb.

interop/tkfork.py makes its context and issues tickets from two threads
(a server and its own client), forks STRESS short-lived children while
that goes on (each must finish an in-memory handshake issuing a ticket,
with the inherited context or a new one, within a bound: no lock held at
the fork may hang a child), then two serving children that each make
their own context. A ticket made by the parent is offered to both
children, and each child's ticket to the other: plain (sesscb preloaded,
ticket keys off) resumes none, since a context made after the fork has
keys of its own; with the keyring every one. The children's counters
show they decrypted what they resumed, under sesscb's keys."""

import json
import os
import signal

from . import config as cfg
from .files import read_text
from .procs import Proc, free_port, wait_until
from .report import R
from .store import connect, store_env
from .tickets import keys_on, rate

STRESS = 12
OFFERS = 4  # per TLS version: parent -> c1, parent -> c2, c1 -> c2, c2 -> c1
PER_CHILD = 3  # connections per child per TLS version: one made, two offered


def offers(d, tls, ports):
    """The four offers of one TLS version; resumed count, None if a first
    handshake failed."""
    by_name = dict(zip(("p", "c1", "c2"), ports))
    made = {name: os.path.join(d, "fork-%s-%s.pem" % (tls, name)) for name in by_name}
    # Every process makes its ticket first, then each child is offered two.
    order = [("p", None), ("c1", None), ("c2", None), ("c1", "p"), ("c2", "p"), ("c2", "c1"), ("c1", "c2")]
    resumed = 0
    for server, source in order:
        if source is None:
            if connect(by_name[server], tls, sess_out=made[server]) != "New":
                return None
        else:
            resumed += connect(by_name[server], tls, sess_in=made[source]) == "Reused"
    return resumed


def run(name, keys):
    """(resumed per TLS version, {process: counters}, problem lines);
    `keys(d)`: the ticket-key settings, None for plain."""
    d = cfg.FX.rundir(name)
    ports = [free_port() for _ in range(3)]
    env = store_env(d, keys(d) if keys else None)
    argv = [cfg.PYTHON, os.path.join(cfg.HERE, "tkfork.py"), os.path.join(d, "pki/a.test.crt"),
            os.path.join(d, "pki/a.test.key"), d] + [str(p) for p in ports] + \
        [str(PER_CHILD * len(cfg.TLS_VERSIONS)), str(STRESS)]
    out, err = os.path.join(d, "tkfork.out"), os.path.join(d, "tkfork.err")
    p = Proc(name, argv, env, out, err)
    resumed = {}
    try:
        up = wait_until(lambda: read_text(out).count("CHILD") == 2 and "LISTEN" in read_text(out)
                        or not p.alive(), 60)
        if up and p.alive():
            resumed = {tls: offers(d, tls, ports) for tls in cfg.TLS_VERSIONS}
        if p.wait(60) is None:
            p.stop(signal.SIGTERM, 5)
    finally:
        p.stop(signal.SIGTERM, 5)
    stats = {}
    for proc in ("parent", "c1", "c2"):
        try:
            with open(os.path.join(d, proc + ".json")) as f:
                stats[proc] = json.load(f)
        except (OSError, ValueError):
            stats[proc] = {}
    problems = [line for line in read_text(err).splitlines() if "sesscb:" in line or "Traceback" in line]
    return resumed, stats, problems


def sesscb_checks(label, resumed, stats, problems):
    """What a run with ticket keys on must show: every offer resumed, the
    stress children and serving children done, the children's counters."""
    R.note("tickets fork %s counters: %s" % (label, stats))
    for tls in cfg.TLS_VERSIONS:
        got = resumed.get(tls)
        R.row("tickets fork (Python) %s" % label, tls, "parent/children", "-", rate(got, OFFERS),
              "ok" if got == OFFERS else "FAIL")
        R.check("tickets fork %s TLS %s: children's own ctxs resume parent's and sibling's tickets (%d)"
                % (label, tls, OFFERS), got == OFFERS, str(got))
    process_checks(label, stats)
    offered = OFFERS // 2 * len(cfg.TLS_VERSIONS)
    kids = [stats.get(c, {}) for c in ("c1", "c2")]
    R.check("tickets fork %s: each child decrypted the %d tickets offered to it, no fallback" % (label, offered),
            all(k.get("decrypted", 0) + k.get("renewed", 0) == offered and k.get("fallback") == 0
                and k.get("unknown") == 0 for k in kids), str(kids))
    R.check("tickets fork %s: no sesscb line or traceback" % label, not problems, str(problems))


# OpenSSL 3's own locks (its provider store, taken by a fetch in another
# thread of the parent at the fork) can hang a child with no sesscb code
# on its stack: plain OpenSSL has that hazard too (tkfork.py, where_hung).
# Seen in 1 of ~8 runs; such hangs are reported and tolerated up to this
# many, a hang with a sesscb frame (or no stack) never.
OPENSSL_HANGS_TOLERATED = 2


def process_checks(label, stats):
    parent = stats.get("parent", {})
    stress = parent.get("stress", [])
    outside = stress.count("hung: openssl")
    if outside:
        R.note("tickets fork %s: %d stress child(ren) hung inside OpenSSL's own locks, no sesscb frame on the stack "
               "(OpenSSL 3 is not fork-safe while other threads use it; plain has the same hazard)" % (label, outside))
    R.check("tickets fork %s: %d children forked while tickets are issued each finish a handshake (none waits on "
            "sesscb)" % (label, STRESS),
            len(stress) == STRESS and all(s == 0 or s == "hung: openssl" for s in stress)
            and outside <= OPENSSL_HANGS_TOLERATED and parent.get("busy", 0) >= STRESS,
            "stress %s, parent handshakes %s" % (stress, parent.get("busy")))
    R.check("tickets fork %s: serving children exit 0" % label, parent.get("children") == [0, 0],
            str(parent.get("children")))


def test_tickets_fork():
    plain, p_stats, p_bad = run("tk-fork-plain", None)
    for tls in cfg.TLS_VERSIONS:
        R.check("tickets fork plain TLS %s: children's own ctxs resume none of the others' tickets" % tls,
                plain.get(tls) == 0, str(plain.get(tls)))
        R.row("tickets fork (Python) plain", tls, "parent/children", rate(plain.get(tls), OFFERS), "-",
              "ok" if plain.get(tls) == 0 else "FAIL")
    process_checks("plain", p_stats)
    R.check("tickets fork plain: sesscb off counts nothing",
            all(sum(v for k, v in s.items() if k in ("issued", "decrypted", "fallback")) == 0
                for s in p_stats.values()) and p_stats.get("c1"), str(p_stats))
    R.check("tickets fork plain: no sesscb line or traceback", not p_bad, str(p_bad))
    sesscb_checks("keyring", *run("tk-fork", keys_on))
