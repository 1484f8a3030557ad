"""nginx and the shared session store (SESSCB_STORE=local), plain vs store.

Real nginx processes with sesscb preloaded in both runs; the store run adds
SESSCB_STORE=local with its own directory and domain. A client makes a
session, then offers it once more on a new connection; nginx's reply names
the worker that served it ($pid) and whether it resumed, so resumptions on
the other worker are counted on their own.

- builtin: `ssl_session_cache builtin` (no callbacks: provide mode), two
  workers behind `listen ... reuseport`, so the kernel spreads connections
  over both. Plain resumes only on the worker that made the session.
- shared: `ssl_session_cache shared:` (nginx's callbacks: augment mode) in
  two independent instances; made on A, offered to B.
- default tickets (TLS 1.3, `ssl_session_tickets on`): stateless tickets are
  no business of the store: the same resumptions, nothing stored.
- reload storm: SIGHUP after SIGHUP while a client keeps making and
  resuming sessions; a session made before a reload resumes after it.
- binary upgrade (USR2, WINCH, QUIT): sessions made before it resume on the
  new master's workers, and no worker dies.

TLS 1.2 resumes by session id; TLS 1.3 is stateful because `ssl_session_tickets
off` makes nginx set SSL_OP_NO_TICKET. Workers run as the user nginx drops to
when the run is root, so the store directory is theirs, as a systemd
RuntimeDirectory would be."""

import concurrent.futures
import grp
import json
import os
import pwd
import re
import signal
import subprocess
import threading
import time

from . import config as cfg
from .files import read_text
from .procs import DAEMON_PGIDS, Proc, children_of, drop_to, free_port, kill_group, reap, run, set_subreaper
from .procs import tool, user_group, wait_ports, wait_until
from .report import R
from .store import SESSCB, store_env
from .upgrade import pid_in, upgrade_retire, upgrade_start, upgrade_usr2

SESSIONS = 20       # per builtin run: enough that both workers see some
PAIR_SESSIONS = 10  # per two-instance, ticket and upgrade run
RELOADS = 20
PARALLEL = 4        # clients at once

# Every test nginx's main context after `daemon`: two workers, dropped to
# the test user when root, pid and log files in the run's directory.
MAIN_PRELUDE = """master_process on;
worker_processes 2;
%(user)s
pid %(dir)s/nginx.pid;
error_log %(dir)s/error.log notice;
"""

# The start of every test nginx's http block: temporary files under the
# run's directory, no access log, both TLS versions (the suites' templates
# fill it in as %(http)s).
HTTP_PRELUDE = """http {
    access_log off;
    client_body_temp_path %(dir)s/tmp/client_body;
    proxy_temp_path %(dir)s/tmp/proxy;
    fastcgi_temp_path %(dir)s/tmp/fastcgi;
    uwsgi_temp_path %(dir)s/tmp/uwsgi;
    scgi_temp_path %(dir)s/tmp/scgi;
    default_type text/plain;
    ssl_protocols TLSv1.2 TLSv1.3;
"""


def preludes(d):
    """MAIN_PRELUDE and HTTP_PRELUDE filled in for run directory `d`, as
    the templates' %(main)s and %(http)s."""
    return {"main": MAIN_PRELUDE % {"user": drop_to("user %s %s;"), "dir": d}, "http": HTTP_PRELUDE % {"dir": d}}


CONF = """daemon %(daemon)s;
%(main)s# Workers and a USR2-upgraded master see only the variables listed here.
env LD_PRELOAD;
env SESSCB_LOG;
%(store_vars)sevents { worker_connections 256; }
%(http)s    ssl_session_cache %(cache)s;
    ssl_session_tickets %(tickets)s;
    ssl_session_timeout 10m;
    server {
        listen 127.0.0.1:%(port)d ssl%(reuseport)s;
        ssl_certificate %(dir)s/pki/a.test.crt;
        ssl_certificate_key %(dir)s/pki/a.test.key;
        location / { return 200 "pid=$pid reused=$ssl_session_reused\\n"; }
    }
}
"""


STORE_VARS = ("env SESSCB_STORE;\nenv SESSCB_STORE_DIR;\nenv SESSCB_STORE_DOMAIN;\n"
              "env SESSCB_METRICS_INTERVAL_MS;\n")
# Workers fold their counters into the store this often, so `sesscb stats`
# shows them while the case runs.
FOLD_MS = "200"


def worker_ids():
    """(uid, gid) nginx's workers run as: the `user` nginx drops to as root."""
    user, group = user_group()
    if cfg.IS_ROOT and user and group:
        return pwd.getpwnam(user).pw_uid, grp.getgrnam(group).gr_gid
    return os.geteuid(), os.getegid()


def store_for(d, domain):
    """The case's store (base directory, domain): the base belongs to the
    workers' uid, or sesscb refuses it."""
    base = os.path.join(d, "store")
    os.makedirs(base, mode=0o700, exist_ok=True)
    if cfg.IS_ROOT:
        os.chown(base, *worker_ids())
    return base, domain


def nginx_env(d, store):
    """sesscb preloaded, its trace in `d`; the store on when `store` is set."""
    if store is None:
        return store_env(d)
    return store_env(d, {"SESSCB_STORE": "local", "SESSCB_STORE_DIR": store[0], "SESSCB_STORE_DOMAIN": store[1],
                         "SESSCB_METRICS_INTERVAL_MS": FOLD_MS})


def stats(store):
    """`sesscb stats --json` of the workers' environment, or None when no
    process has created it."""
    argv = [SESSCB, "stats", "--dir", store[0], "--domain", store[1], "--uid", str(worker_ids()[0]), "--json"]
    r = subprocess.run(argv, capture_output=True, timeout=15)
    try:
        return json.loads(r.stdout) if r.returncode == 0 else None
    except ValueError:
        return None


def entries(store):
    s = stats(store)
    return s["entries"] if s else 0


STARTED = []  # every Nginx of the suite, for the health checks


class Nginx:
    """One nginx instance under `d` (prefix, logs, configuration)."""

    def __init__(self, d, store, cache="builtin", tickets="off", reuseport=True, daemon=False, store_vars=True):
        self.dir = d
        os.makedirs(os.path.join(d, "tmp"), exist_ok=True)
        self.port = free_port()
        self.conf = os.path.join(d, "nginx.conf")
        with open(self.conf, "w") as f:
            f.write(CONF % dict(preludes(d), daemon="on" if daemon else "off", dir=d, cache=cache, tickets=tickets,
                                port=self.port, reuseport=" reuseport" if reuseport else "",
                                store_vars=STORE_VARS if store_vars else ""))
        argv = [tool("nginx"), "-p", d, "-c", self.conf, "-e", os.path.join(d, "error.log")]
        self.proc = Proc("nginx", argv, nginx_env(d, store), os.path.join(d, "stderr.log"))
        self.rc = None
        STARTED.append(self)

    def ready(self):
        """Listening with both workers up."""
        return (wait_ports(self.proc, [self.port])
                and bool(wait_until(lambda: len(children_of(self.proc.pid)) >= 2, 10)))

    def reload(self):
        """SIGHUP, then wait until every old worker is gone and two new ones
        serve: a connection after this is a new cycle's."""
        old = set(children_of(self.proc.pid))
        os.kill(self.proc.pid, signal.SIGHUP)

        def replaced():
            now = set(children_of(self.proc.pid))
            return len(now) >= 2 and not (now & old)
        return bool(wait_until(replaced, 15, interval=0.02))

    def stop(self):
        self.rc = self.proc.stop(signal.SIGQUIT, 20)

    def logs(self):
        return read_text(os.path.join(self.dir, "error.log")) + read_text(self.proc.out_path)


def health(instances, stopped=True):
    """Problems in these instances' logs: a crash, a worker killed by a
    signal, a sesscb line (sesscb prints one only when something is wrong),
    an unclean exit."""
    problems = []
    for n in instances:
        text = n.logs()
        problems += ["%s: %s" % (n.dir, m.group(0)) for m in cfg.CRASH_RE.finditer(text)]
        problems += ["%s: %s" % (n.dir, line) for line in text.splitlines() if "sesscb:" in line]
        if stopped and n.rc != 0:
            problems.append("%s: exit status %s" % (n.dir, n.rc))
    return problems


def hello(port, tls, sess_in=None, sess_out=None, extra=()):
    """One s_client connection with a request: (outcome, worker pid), the
    outcome 'New' or 'Reused' when s_client and nginx ($ssl_session_reused)
    agree, 'disagree' when they do not, None when it failed."""
    argv = ["openssl", "s_client", "-connect", "127.0.0.1:%d" % port, "-servername", "a.test",
            "-tls1_2" if tls == "1.2" else "-tls1_3", "-ign_eof"]
    argv += ["-sess_in", sess_in] if sess_in else []
    argv += ["-sess_out", sess_out] if sess_out else []
    argv += list(extra)
    _rc, out, _err = run(argv, stdin=b"GET / HTTP/1.0\r\nHost: a.test\r\n\r\n", timeout=15)
    said = re.search(r"^(New|Reused), TLS", out, re.M)
    body = re.search(r"pid=(\d+) reused=(r|\.)", out)
    if not (said and body):
        return None, None
    served = "Reused" if body.group(2) == "r" else "New"
    return (served if served == said.group(1) else "disagree"), int(body.group(1))


def in_parallel(fn, items):
    with concurrent.futures.ThreadPoolExecutor(PARALLEL) as pool:
        return list(pool.map(fn, items))


def make_sessions(d, port, tls, n):
    """n new sessions on `port`: [(session file, worker pid)], or None if a
    handshake failed or resumed."""
    files = [os.path.join(d, "sess-%s-%02d.pem" % (tls, i)) for i in range(n)]
    made = in_parallel(lambda f: hello(port, tls, sess_out=f), files)
    if any(outcome != "New" for outcome, _pid in made):
        return None
    return [(f, pid) for f, (_o, pid) in zip(files, made)]


def offer(port, tls, made):
    """Each session offered once more on `port`: a tally of the outcomes,
    split by whether the worker is the one that made the session."""
    back = in_parallel(lambda m: hello(port, tls, sess_in=m[0]), made)
    t = {"n": len(made), "resumed": 0, "failed": 0, "cross": 0, "cross_resumed": 0,
         "workers": sorted(set(pid for _o, pid in back if pid))}
    for (_f, pid_made), (outcome, pid) in zip(made, back):
        if outcome not in ("New", "Reused"):
            t["failed"] += 1
            continue
        reused = outcome == "Reused"
        t["resumed"] += reused
        if pid != pid_made:
            t["cross"] += 1
            t["cross_resumed"] += reused
    return t


def run_dirs(case):
    """The plain run's and the store run's directories of a case."""
    return cfg.FX.rundir("store-nginx-%s-plain" % case), cfg.FX.rundir("store-nginx-%s" % case)


def ratio(t, key, of):
    return "error" if t is None else "%d/%d" % (t[key], t[of])


# Case 1 --------------------------------------------------------------------
def builtin_run(d, tls, store, tickets="off", n=SESSIONS, then=None):
    """Sessions made and offered again on one instance with two workers;
    then(port) last, its result in the tally."""
    ng = Nginx(d, store, cache="builtin", tickets=tickets)
    try:
        if not ng.ready():
            return None
        made = make_sessions(d, ng.port, tls, n)
        t = made and offer(ng.port, tls, made)
        if t and then:
            t["then"] = then(ng.port)
        return t
    finally:
        ng.stop()


def builtin_case(tls):
    plain_d, store_d = run_dirs("builtin-%s" % tls)
    store = store_for(store_d, "nginx-builtin")
    plain, stored = builtin_run(plain_d, tls, None), builtin_run(store_d, tls, store)
    label = "store nginx builtin TLS %s" % tls
    ok_plain = plain is not None and plain["failed"] == 0 and plain["cross_resumed"] == 0 and plain["cross"] > 0
    ok_store = stored is not None and stored["resumed"] == SESSIONS and stored["cross"] > 0
    R.row("store nginx builtin", tls, "resumed (other worker)",
          "%s (%s)" % (ratio(plain, "resumed", "n"), ratio(plain, "cross_resumed", "cross")),
          "%s (%s)" % (ratio(stored, "resumed", "n"), ratio(stored, "cross_resumed", "cross")),
          "ok" if ok_plain and ok_store else "FAIL")
    R.check(label + ": without the store, the other worker resumes none", ok_plain, "plain %s" % plain)
    R.check(label + ": without the store, the same worker resumes all",
            plain is not None and plain["resumed"] == plain["n"] - plain["cross"], "plain %s" % plain)
    R.check(label + ": with the store, %d/%d resume, on either worker" % (SESSIONS, SESSIONS), ok_store,
            "store %s" % stored)
    R.check(label + ": the store holds every session", entries(store) >= SESSIONS, "%d entries" % entries(store))


# Case 2 --------------------------------------------------------------------
def pair_run(d, tls, store):
    """Sessions made on instance A offered to instance B (each with its own
    `shared:` zone)."""
    a = Nginx(os.path.join(d, "a"), store, cache="shared:sesscb:1m")
    b = Nginx(os.path.join(d, "b"), store, cache="shared:sesscb:1m")
    try:
        if not (a.ready() and b.ready()):
            return None
        made = make_sessions(d, a.port, tls, PAIR_SESSIONS)
        return made and offer(b.port, tls, made)
    finally:
        a.stop()
        b.stop()


def pair_case(tls):
    plain_d, store_d = run_dirs("shared-%s" % tls)
    for d in (plain_d, store_d):
        for sub in ("a", "b"):
            cfg.FX.rundir(os.path.join(os.path.basename(d), sub))
    store = store_for(store_d, "nginx-shared")
    plain, stored = pair_run(plain_d, tls, None), pair_run(store_d, tls, store)
    ok = (plain is not None and plain["resumed"] == 0 and plain["failed"] == 0
          and stored is not None and stored["resumed"] == PAIR_SESSIONS)
    R.row("store nginx shared: x2", tls, "A->B", ratio(plain, "resumed", "n"), ratio(stored, "resumed", "n"),
          "ok" if ok else "FAIL")
    label = "store nginx shared: two instances TLS %s: a session made on A resumes on B" % tls
    R.check(label + " without the store: 0", plain is not None and plain["resumed"] == 0 and plain["failed"] == 0,
            "plain %s" % plain)
    R.check(label + " with the store: %d" % PAIR_SESSIONS, stored is not None and stored["resumed"] == PAIR_SESSIONS,
            "store %s" % stored)


# Case 3 --------------------------------------------------------------------
def tickets_case():
    """TLS 1.3 default (stateless) tickets: nothing to store, nothing changes."""
    plain_d, store_d = run_dirs("tickets")
    store = store_for(store_d, "nginx-tickets")
    # Last, one TLS 1.2 session id (the client asks for no ticket): the one
    # entry that shows the store was on in the run.
    def one_id(port):
        return hello(port, "1.2", extra=["-no_ticket"])[0]
    plain = builtin_run(plain_d, "1.3", None, tickets="on", n=PAIR_SESSIONS, then=one_id)
    stored = builtin_run(store_d, "1.3", store, tickets="on", n=PAIR_SESSIONS, then=one_id)
    s = stats(store)
    same = plain is not None and stored is not None and plain["resumed"] == stored["resumed"]
    R.row("store nginx tickets", "1.3", "resumed (other worker)",
          "%s (%s)" % (ratio(plain, "resumed", "n"), ratio(plain, "cross_resumed", "cross")),
          "%s (%s)" % (ratio(stored, "resumed", "n"), ratio(stored, "cross_resumed", "cross")),
          "ok" if same and s and s["entries"] == 1 else "FAIL")
    label = "store nginx default tickets TLS 1.3"
    R.check(label + ": the same resumptions with and without the store", same, "plain %s store %s" % (plain, stored))
    R.check(label + ": nothing stored (1 entry: the TLS 1.2 id session made last)",
            stored is not None and stored["then"] == "New" and s is not None and s["entries"] == 1, "stats %s" % s)
    # The workers fold their counts every FOLD_MS: wait for the fold.
    skipped = lambda: ((stats(store) or {}).get("stores") or {}).get("skipped_tls13_stateless", 0)
    wait_until(lambda: skipped() >= PAIR_SESSIONS, 5)
    R.check(label + ": every ticket session counted as skipped (stores.skipped_tls13_stateless)",
            skipped() >= PAIR_SESSIONS, "stats %s" % stats(store))


# Case 4 --------------------------------------------------------------------
class ClientLoop(threading.Thread):
    """Makes a session and offers it at once, again and again, until told
    to stop (bounded): the traffic the reloads happen under."""

    def __init__(self, d, port, limit=400):
        super().__init__(daemon=True)
        self.d, self.port, self.limit = d, port, limit
        self.halt = threading.Event()
        self.tally = {"n": 0, "resumed": 0, "failed": 0}

    def run(self):
        f = os.path.join(self.d, "loop.pem")
        for _ in range(self.limit):
            if self.halt.is_set():
                return
            # Writes are applied by the store thread, not the handshake: a
            # session is visible to other workers a moment after it was
            # made (docs/store.md). A client back within 20 ms is not what
            # this case measures; under a reload's CPU burst that moment
            # has been seen to exceed the client's own round trip.
            tally_one(self.tally, make_and_offer(self.port, f, lambda: time.sleep(0.02)))


def make_and_offer(port, f, between=lambda: None):
    """A new TLS 1.2 session saved to f, `between()`, then f offered: the
    second connection's outcome (None when either failed)."""
    made, _pid = hello(port, "1.2", sess_out=f)
    between()
    return hello(port, "1.2", sess_in=f)[0] if made == "New" else None


def tally_one(t, outcome):
    t["n"] += 1
    t["resumed"] += outcome == "Reused"
    t["failed"] += outcome not in ("New", "Reused")


def storm_run(d, store):
    """RELOADS reloads under client traffic; each reload is preceded by a new
    session that is offered after it. Returns (after-reload tally, loop
    tally, entries before, entries after, first session resumed at the end)."""
    ng = Nginx(d, store)
    loop = ClientLoop(d, ng.port)
    try:
        if not ng.ready():
            return None
        first = make_sessions(d, ng.port, "1.2", 1)
        if not first:
            return None
        before = entries(store) if store else 0
        loop.start()
        after = {"n": 0, "resumed": 0, "failed": 0, "reloads": 0}
        for i in range(RELOADS):
            def reload():
                after["reloads"] += ng.reload()
            tally_one(after, make_and_offer(ng.port, os.path.join(d, "storm-%02d.pem" % i), reload))
        loop.halt.set()
        loop.join(30)
        last = offer(ng.port, "1.2", first)
        return after, loop.tally, before, entries(store) if store else 0, last
    finally:
        loop.halt.set()
        ng.stop()


def storm_case():
    plain_d, store_d = run_dirs("storm")
    store = store_for(store_d, "nginx-storm")
    plain, stored = storm_run(plain_d, None), storm_run(store_d, store)
    label = "store nginx reload storm (%d reloads, TLS 1.2 ids, builtin)" % RELOADS
    R.check(label + ": ran", plain is not None and stored is not None, "plain %s store %s" % (plain, stored))
    if plain is None or stored is None:
        return
    (p_after, p_loop, _b, _a, _l), (s_after, s_loop, before, after, last) = plain, stored
    ok = s_after["resumed"] == RELOADS and s_loop["resumed"] == s_loop["n"] and last["resumed"] == 1
    R.row("store nginx reload x%d" % RELOADS, "1.2", "made before a reload, offered after",
          ratio(p_after, "resumed", "n"), ratio(s_after, "resumed", "n"), "ok" if ok else "FAIL")
    R.row("store nginx reload x%d" % RELOADS, "1.2", "client loop (make, resume)",
          ratio(p_loop, "resumed", "n"), ratio(s_loop, "resumed", "n"), "ok" if ok else "FAIL")
    R.check(label + ": every reload replaced the workers",
            p_after["reloads"] == RELOADS and s_after["reloads"] == RELOADS, "plain %s store %s" % (p_after, s_after))
    R.check(label + ": with the store, every session made before a reload resumes after it",
            s_after["resumed"] == RELOADS, "store %s (plain %s)" % (s_after, p_after))
    R.check(label + ": with the store, the client loop resumes every time, no failure",
            s_loop["n"] > 0 and s_loop["resumed"] == s_loop["n"], "store %s (plain %s)" % (s_loop, p_loop))
    R.check(label + ": entries survive (%d before, %d after)" % (before, after), before >= 1 and after > before)
    R.check(label + ": the first session still resumes after all reloads", last["resumed"] == 1, "%s" % last)


# Case 5 --------------------------------------------------------------------
def upgrade_run(d, store, label, store_vars=True):
    """USR2, WINCH, then the sessions made before; QUIT the old master.
    Returns the tally with the new workers' share, or None."""
    # USR2 needs a re-parented master: daemon on.
    ng = Nginx(d, store, reuseport=False, daemon=True, store_vars=store_vars)
    masters = {}
    try:
        old = masters["old"] = upgrade_start(label, ng.proc, d, ng.port)
        made = old and make_sessions(d, ng.port, "1.2", PAIR_SESSIONS)
        new = masters["new"] = made and upgrade_usr2(label, d, old, True)
        if not new:
            return None
        os.kill(old, signal.SIGWINCH)
        # The new master is the old one's child too (forked, then exec'd).
        R.check(label + ": old workers leave on WINCH", wait_until(lambda: children_of(old) == [new], 15),
                "old master's children %s, new master %d" % (children_of(old), new))
        t = offer(ng.port, "1.2", made)
        t["on_new_workers"] = bool(t["workers"]) and set(t["workers"]) <= set(children_of(new))
        upgrade_retire(label, old)
        masters.pop("old")
        os.kill(new, signal.SIGQUIT)
        t["new_exit"] = reap(new, 15)
        masters.pop("new")
        return t
    finally:
        for pid in masters.values():
            if pid:
                kill_group(pid)
                reap(pid, 5)


def upgrade_case():
    if not set_subreaper():
        R.note("store nginx upgrade: PR_SET_CHILD_SUBREAPER unavailable; skipped")
        return
    plain_d, store_d = run_dirs("upgrade")
    store = store_for(store_d, "nginx-upgrade")
    first = len(STARTED)
    plain = upgrade_run(plain_d, None, "store nginx upgrade plain")
    stored = upgrade_run(store_d, store, "store nginx upgrade with the store")
    bare_d = cfg.FX.rundir("store-nginx-upgrade-novars")
    bare_store = store_for(bare_d, "nginx-upgrade")
    bare = upgrade_run(bare_d, bare_store, "store nginx upgrade without env SESSCB_STORE*", store_vars=False)
    ok = stored is not None and stored["resumed"] == PAIR_SESSIONS
    R.row("store nginx USR2 upgrade", "1.2", "made before, offered after",
          ratio(plain, "resumed", "n"), ratio(stored, "resumed", "n"), "ok" if ok else "FAIL")
    label = "store nginx binary upgrade (USR2, WINCH, QUIT), TLS 1.2 ids"
    R.check(label + ": with the store, sessions made before resume after", ok, "store %s plain %s" % (stored, plain))
    R.check(label + ": served by the new master's workers", stored is not None and stored["on_new_workers"])
    # The recipe matters: nginx passes an upgraded master only the listed
    # variables, so without `env SESSCB_STORE...;` it runs without the store.
    R.check(label + ": control: without `env SESSCB_STORE*;` in nginx.conf, 0 resume",
            bare is not None and bare["resumed"] == 0 and entries(bare_store) >= PAIR_SESSIONS,
            "%s; %d entries stored before the upgrade" % (bare, entries(bare_store)))
    R.check(label + ": the new master exits cleanly", stored is not None and stored["new_exit"] in (0, "gone"))
    problems = health(STARTED[first:], stopped=False)
    R.check(label + ": no worker died, no sesscb line", not problems, "; ".join(problems[:3]))


def test_store_nginx():
    if not os.access(SESSCB, os.X_OK):
        R.check("store nginx: %s built" % SESSCB, False, "run `make lib`")
        return
    first = len(STARTED)
    for tls in cfg.TLS_VERSIONS:
        builtin_case(tls)
        pair_case(tls)
    tickets_case()
    storm_case()
    problems = health(STARTED[first:])
    R.check("store nginx: no crash, no worker killed, no sesscb line, clean exits", not problems,
            "; ".join(problems[:3]))
    upgrade_case()
