"""nginx and shared ticket keys (SESSCB_TICKET_KEYS=keyring), plain vs sesscb.

nginx with its defaults: `ssl_session_tickets on`, no session cache, no
`ssl_session_ticket_key`, so OpenSSL draws random ticket keys for each ctx,
in each instance and again at each reload. Plain runs preload sesscb with
ticket keys off.

- two instances: a ticket made on A offered to B (TLS 1.3 and 1.2).
- reloads: a ticket made before each of several SIGHUPs offered after it.
- the application's own keys: `ssl_session_ticket_key` files (nginx sets
  its own ticket key callback) behave as in plain: a ticket from a plain
  instance with key file K resumes on a sesscb instance with K, and one
  from a sesscb instance with K does not resume on a sesscb instance
  without it (its tickets were never sesscb's)."""

import os

from . import config as cfg
from .procs import Proc, free_port, tool
from .report import R
from .store import store_env
from . import store_nginx
from .store_nginx import health, hello, worker_ids
from .tickets import keys_on

PAIR_SESSIONS = 8
RELOADS = 10

CONF = """daemon off;
%(main)senv LD_PRELOAD;
env SESSCB_LOG;
env SESSCB_TICKET_KEYS;
env SESSCB_STORE_KEYRING;
env SESSCB_STORE_DOMAIN;
env SESSCB_TICKET_REDIS;
events { worker_connections 256; }
%(http)s    %(ticket_key)s
    server {
        listen 127.0.0.1:%(port)d ssl;
        ssl_certificate %(dir)s/pki/a.test.crt;
        ssl_certificate_key %(dir)s/pki/a.test.key;
        location / { return 200 "pid=$pid reused=$ssl_session_reused\\n"; }
    }
}
"""

STARTED = []


class Nginx(store_nginx.Nginx):
    """One nginx instance in `d` with default tickets; `key_file`: an
    `ssl_session_ticket_key` file of its own. Its own configuration; the
    life cycle (ready, reload, stop, logs) is store_nginx's."""

    def __init__(self, d, env, key_file=None):
        self.dir = d
        os.makedirs(os.path.join(d, "tmp"), exist_ok=True)
        self.port = free_port()
        self.conf = os.path.join(d, "nginx.conf")
        key = "ssl_session_ticket_key %s;" % key_file if key_file else ""
        with open(self.conf, "w") as f:
            f.write(CONF % dict(store_nginx.preludes(d), dir=d, port=self.port, ticket_key=key))
        argv = [tool("nginx"), "-p", d, "-c", self.conf, "-e", os.path.join(d, "error.log")]
        self.proc = Proc("nginx", argv, env, os.path.join(d, "stderr.log"))
        self.rc = None
        STARTED.append(self)


def env_for(d, keys):
    """sesscb preloaded; ticket keys on when `keys` (the keyring readable by
    the workers' uid, as they re-read it when it changes)."""
    return store_env(d, keys_on(d, worker_ids()[0]) if keys else None)


def offered(a, b, tls, n, d, tag):
    """Tickets made on `a` offered to `b`: resumed count, None on a failed
    first handshake."""
    resumed = 0
    for i in range(n):
        f = os.path.join(d, "%s-%s-%d.pem" % (tag, tls, i))
        first, _ = hello(a.port, tls, sess_out=f)
        if first != "New":
            return None
        resumed += hello(b.port, tls, sess_in=f)[0] == "Reused"
    return resumed


def pair(d, tls, env_a, env_b, key_a=None, key_b=None):
    a, b = Nginx(os.path.join(d, "a"), env_a, key_a), Nginx(os.path.join(d, "b"), env_b, key_b)
    try:
        if not (a.ready() and b.ready()):
            return None
        return offered(a, b, tls, PAIR_SESSIONS, d, "pair")
    finally:
        a.stop()
        b.stop()


def subdir(name):
    d = cfg.FX.rundir(name)
    for sub in ("a", "b"):
        os.makedirs(os.path.join(d, sub), exist_ok=True)
        link = os.path.join(d, sub, "pki")
        if not os.path.exists(link):
            os.symlink(os.path.join(d, "pki"), link)
    return d


def two_instances(tls):
    plain_d, keys_d = subdir("tk-nginx-pair-%s-plain" % tls), subdir("tk-nginx-pair-%s" % tls)
    plain = pair(plain_d, tls, env_for(plain_d, False), env_for(plain_d, False))
    shared = pair(keys_d, tls, env_for(keys_d, True), env_for(keys_d, True))
    ok = plain == 0 and shared == PAIR_SESSIONS
    R.row("tickets nginx", tls, "A->B", "%s/%d" % (plain, PAIR_SESSIONS), "%s/%d" % (shared, PAIR_SESSIONS),
          "ok" if ok else "FAIL")
    R.check("tickets nginx TLS %s: two instances, plain 0, keyring %d" % (tls, PAIR_SESSIONS), ok,
            "plain %s, keyring %s" % (plain, shared))


def reloads_resumed(d, env, tls, warm=None):
    """Tickets made before each reload offered after it; `warm(n)` runs
    once the instance is up."""
    n = Nginx(os.path.join(d, "a"), env)
    resumed = 0
    try:
        if not n.ready():
            return None
        if warm:
            warm(n)
        for i in range(RELOADS):
            f = os.path.join(d, "reload-%s-%d.pem" % (tls, i))
            if hello(n.port, tls, sess_out=f)[0] != "New" or not n.reload():
                return None
            resumed += hello(n.port, tls, sess_in=f)[0] == "Reused"
        return resumed
    finally:
        n.stop()


def reloads(tls):
    plain_d, keys_d = subdir("tk-nginx-reload-%s-plain" % tls), subdir("tk-nginx-reload-%s" % tls)
    plain = reloads_resumed(plain_d, env_for(plain_d, False), tls)
    shared = reloads_resumed(keys_d, env_for(keys_d, True), tls)
    ok = plain == 0 and shared == RELOADS
    R.row("tickets nginx", tls, "%d reloads" % RELOADS, "%s/%d" % (plain, RELOADS), "%s/%d" % (shared, RELOADS),
          "ok" if ok else "FAIL")
    R.check("tickets nginx TLS %s: across %d reloads, plain 0, keyring %d" % (tls, RELOADS, RELOADS), ok,
            "plain %s, keyring %s" % (plain, shared))


def key_file(d):
    path = os.path.join(d, "ticket.key")
    with open(path, "wb") as f:
        f.write(os.urandom(80))
    os.chmod(path, 0o644)
    return path


def own_key_files(tls):
    plain_d, keys_d, other_d = (subdir("tk-nginx-own-%s-%s" % (tls, s)) for s in ("plain", "keys", "other"))
    k = key_file(keys_d)
    plain = pair(plain_d, tls, env_for(plain_d, False), env_for(plain_d, False), k, k)
    mixed = pair(keys_d, tls, env_for(keys_d, False), env_for(keys_d, True), k, k)
    apart = pair(other_d, tls, env_for(other_d, True), env_for(other_d, True), k, None)
    ok = plain == mixed == PAIR_SESSIONS and apart == 0
    R.row("tickets nginx key file", tls, "K->K", "%s/%d" % (plain, PAIR_SESSIONS),
          "%s/%d" % (mixed, PAIR_SESSIONS), "ok" if ok else "FAIL")
    R.check("tickets nginx TLS %s: ssl_session_ticket_key wins (plain->sesscb %s/%d as plain->plain %s, "
            "K->sesscb keys %s/%d)" % (tls, mixed, PAIR_SESSIONS, plain, apart, PAIR_SESSIONS), ok, "")


def test_tickets_nginx():
    for tls in cfg.TLS_VERSIONS:
        two_instances(tls)
        reloads(tls)
        own_key_files(tls)
    problems = health(STARTED)
    R.check("tickets nginx: no crash, no sesscb line, clean exits", not problems, "; ".join(problems[:5]))
