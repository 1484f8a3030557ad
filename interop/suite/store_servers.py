"""haproxy and Apache mod_ssl with the shared session store. Both set their
own session callbacks over their own shared cache, so the store augments
them: it answers when their cache misses.

haproxy: two independent instances, each with its own cache (`no-tls-tickets`:
TLS 1.2 session ids, TLS 1.3 stateful tickets); a session made on A is offered
to B. With TLS 1.3 default (stateless) tickets nothing may be stored.
Apache (prefork when installed) with `SSLSessionCache shmcb:` and tickets off:
sessions made before a graceful restart (SIGUSR1) are offered after it; the
store must be opened in the forked children only, never in the parent.

Each case runs twice, sesscb preloaded both times: store off ("plain"), and
SESSCB_STORE=local with the case's own directory and domain. When the run is
root the servers' workers drop to an unprivileged user, so the store lives
under that user's uid, as it would in production."""

import grp
import os
import pwd
import re
import signal
import subprocess

from . import config as cfg
from . import store
from .apache import apache_dirs, graceful_restart
from .clients import Clients
from .files import fill, read_text
from .procs import Proc, children_of, drop_to, free_port, tool, user_group, wait_ports
from .report import R

N = store.SESSIONS
MODULES = "/usr/lib/apache2/modules"
CRASH_LINE = re.compile(r"exit signal|Segmentation")


class Served:
    """One server run: its client (s_client with SNI a.test, a verified
    chain and an HTTP/1.1 request), sessions resumed (None: it did not
    serve), its logs, its exit statuses, and checks of its own."""

    def __init__(self, d):
        self.client = Clients(d, "plain")  # the clients themselves without sesscb
        self.resumed = None
        self.logs = ""
        self.exits = []
        self.checks = []
        self.mapped = None  # Apache: where the store's data file was mapped


def worker_ids():
    """The uid and gid that handle connections: the user the servers drop
    to when the run is root, else this process's."""
    user, group = user_group()
    if cfg.IS_ROOT and user:
        return pwd.getpwnam(user).pw_uid, grp.getgrnam(group).gr_gid if group else os.getegid()
    return os.geteuid(), os.getegid()


def store_on(d, domain):
    """The store on, in the case's directory (owned by the workers' uid: they
    open it) and domain."""
    extra = store.on(d)
    os.chown(extra["SESSCB_STORE_DIR"], *worker_ids())
    extra["SESSCB_STORE_DOMAIN"] = domain
    return extra


def store_entries(d, domain):
    """Entries in the case's store per `sesscb stats --json` for the
    workers' uid: 0 when no store was ever opened, None if unreadable."""
    argv = [store.SESSCB, "stats", "--dir", os.path.join(d, "store"), "--domain", domain,
            "--uid", str(worker_ids()[0]), "--json"]
    r = subprocess.run(argv, capture_output=True, timeout=15)
    m = re.search(rb'"entries":(\d+)', r.stdout)
    if m:
        return int(m.group(1))
    return 0 if b"no store at" in r.stderr else None


def foreign_uid_dirs(d):
    """Entries of the store directory made for another uid than the
    workers' (e.g. a root parent that opened the store)."""
    base = os.path.join(d, "store")
    names = os.listdir(base) if os.path.isdir(base) else []
    return [n for n in names if not n.endswith(".u%d" % worker_ids()[0])]


def maps_store(pid):
    """Whether the process has the LMDB data file mapped."""
    try:
        with open("/proc/%d/maps" % pid) as f:
            return "/data.mdb" in f.read()
    except OSError:
        return False


def made(run, port, tls, files):
    """Full handshakes, each session saved to its file; all new?"""
    return all(run.client.s_client_once(port, "a.test", tls, sess_out=f) is False for f in files)


def offered(run, port, tls, files):
    """The saved sessions offered again: how many resumed (None: a failure)."""
    flags = [run.client.s_client_once(port, "a.test", tls, sess_in=f) for f in files]
    return None if None in flags else sum(flags)


def session_files(d, tls):
    return [os.path.join(d, "sess-%s-%d.pem" % (tls, i)) for i in range(N)]


# haproxy -----------------------------------------------------------------

def haproxy_start(d, name, env, tls, tickets):
    port = free_port()
    conf = fill("haproxy-store.cfg.in", os.path.join(d, name + ".cfg"), DIR=d, PORT=port,
                VER="TLSv1.3" if tls == "1.3" else "TLSv1.2", TICKETS="" if tickets else "no-tls-tickets",
                USER=drop_to("    user %s\n    group %s"))
    p = Proc("haproxy-" + name, [tool("haproxy"), "-db", "-f", conf], env, os.path.join(d, name + ".log"))
    return p, port, wait_ports(p, [port])


def haproxy_pair(tickets):
    """Two independent haproxy instances; sessions made on A offered to B."""
    def servers(d, tls, env):
        run = Served(d)
        started = [haproxy_start(d, name, env, tls, tickets) for name in ("a", "b")]
        try:
            files = session_files(d, tls)
            if all(ok for _p, _port, ok in started) and made(run, started[0][1], tls, files):
                run.resumed = offered(run, started[1][1], tls, files)
        finally:
            run.exits = [p.stop(signal.SIGUSR1, 20) for p, _port, _ok in started]  # soft stop
        run.logs = "".join(read_text(p.out_path) for p, _port, _ok in started)
        return run
    return servers


# Apache ------------------------------------------------------------------

def mpm_line():
    """prefork if installed (fork safety), else event as interop/suite/apache.py."""
    prefork = os.path.join(MODULES, "mod_mpm_prefork.so")
    if os.path.exists(prefork):
        return ("prefork", "LoadModule mpm_prefork_module %s\nStartServers 2\nMinSpareServers 2\n"
                "MaxSpareServers 4\nServerLimit 4\nMaxRequestWorkers 4" % prefork)
    return ("event", "LoadModule mpm_event_module %s/mod_mpm_event.so\nStartServers 2\nServerLimit 2\n"
            "ThreadsPerChild 4\nMaxRequestWorkers 8\nMinSpareThreads 1\nMaxSpareThreads 8" % MODULES)


def apache_graceful(d, tls, env):
    """Sessions made before a graceful restart, offered after it."""
    run = Served(d)
    apache_dirs(d)
    port = free_port()
    conf = fill("apache2-store.conf.in", os.path.join(d, "apache2.conf"), DIR=d, PORT=port, MPM=mpm_line()[1],
                APROTO="TLSv1.3" if tls == "1.3" else "TLSv1.2", USER=drop_to("User %s\nGroup %s"))
    p = Proc("apache2", [tool("apache2") or tool("httpd"), "-DFOREGROUND", "-f", conf], env,
             os.path.join(d, "stderr.log"))
    try:
        if wait_ports(p, [port], 20):
            restart_between(run, d, p, port, tls)
    finally:
        run.exits = [p.stop(signal.SIGTERM, 20)]
    run.logs = read_text(os.path.join(d, "error.log")) + read_text(p.out_path)
    return run


def restart_between(run, d, p, port, tls):
    """N new sessions, a graceful restart, the same sessions offered again;
    records where the store was mapped (parent vs children)."""
    files = session_files(d, tls)
    if not made(run, port, tls, files):
        return
    old_kids = [k for k in children_of(p.pid) if maps_store(k)]
    parent_before = maps_store(p.pid)
    ok, _kids = graceful_restart(p.pid, os.path.join(d, "error.log"))
    run.checks.append(("graceful restart (SIGUSR1) replaced the children", ok, "parent %d" % p.pid))
    if ok:
        run.resumed = offered(run, port, tls, files)
    new_kids = [k for k in children_of(p.pid) if maps_store(k)]
    run.mapped = {"parent": parent_before or maps_store(p.pid), "old": old_kids, "new": new_kids}


def fork_checks(label, run, store_on_):
    """The store is mapped in the children that served (both generations)
    and never in the parent; with the store off, nowhere."""
    m = run.mapped
    if m is None:
        return
    detail = "parent %s, children before %s, after %s" % (m["parent"], m["old"], m["new"])
    R.check(label + ": the parent never opened the store", not m["parent"], detail)
    if store_on_:
        R.check(label + ": the store opened in the children (before and after the restart)",
                bool(m["old"]) and bool(m["new"]), detail)
    else:
        R.check(label + ": no process opened a store", not (m["old"] or m["new"]), detail)


# checks ------------------------------------------------------------------

def run_checks(label, run, d, store_on_):
    """Served, clean exit, no crash, no sesscb line in its logs."""
    for name, ok, detail in run.checks:
        R.check("%s: %s" % (label, name), ok, detail)
    R.check(label + ": served every handshake", run.resumed is not None, "; ".join(run.client.errors) or d)
    R.check(label + ": clean exit", all(rc is not None and rc >= 0 for rc in run.exits), "exits %s" % run.exits)
    crash = cfg.CRASH_RE.search(run.logs) or CRASH_LINE.search(run.logs)
    R.check(label + ": no crashed process in the logs", not crash, crash.group(0) if crash else "")
    lines = [line for line in run.logs.splitlines() if "sesscb:" in line]
    R.check(label + ": no sesscb line on stderr / in the error log", not lines, "%r" % lines[:3])
    fork_checks(label, run, store_on_)


def stored_checks(label, d, domain, want_store):
    """What the case's store holds, and under which uid."""
    n = store_entries(d, domain)
    if want_store:
        R.check(label + ": entries stored", n is not None and n >= N, "%s entries" % n)
    else:
        R.check(label + ": nothing stored", n == 0, "%s entries" % n)
    R.check(label + ": the store is the workers' uid's only", not foreign_uid_dirs(d),
            "uid %d; found %s" % (worker_ids()[0], foreign_uid_dirs(d)))


def case(server, tls, scenario, servers, want_store, plain_zero):
    """Plain vs store for one configuration: a row and the checks. With
    plain_zero, plain must resume none (independent caches); else its rate
    is reported as measured."""
    label = "store %s TLS %s" % (server, tls)
    domain = "%s-%s" % (re.sub(r"[^A-Za-z0-9.]+", "-", server).strip("-"), tls)  # also the case's dir
    plain_dir, store_dir = cfg.FX.rundir("store-%s-plain" % domain), cfg.FX.rundir("store-" + domain)
    plain = servers(plain_dir, tls, store.store_env(plain_dir))
    stored = servers(store_dir, tls, store.store_env(store_dir, store_on(store_dir, domain)))
    want = N if want_store else 0
    plain_ok = plain.resumed is not None and (plain.resumed == 0 or not plain_zero)
    R.row("store " + server, tls, scenario, "%s/%d" % (plain.resumed, N),
          "%s/%d" % (stored.resumed, N), "ok" if plain_ok and stored.resumed == want else "FAIL")
    R.check(label + " without the store: %s" % ("0" if plain_zero else "measured"), plain_ok,
            "plain resumed %s/%d" % (plain.resumed, N))
    R.check(label + " with the store: %d" % want, stored.resumed == want, "store resumed %s/%d" % (stored.resumed, N))
    run_checks(label + " (plain)", plain, plain_dir, False)
    run_checks(label + " (store)", stored, store_dir, True)
    stored_checks(label, store_dir, domain, want_store)


def test_store_servers():
    if not os.access(store.SESSCB, os.X_OK):
        R.check("store-servers: %s built" % store.SESSCB, False, "run `make lib`")
        return
    if R.check("store-servers: haproxy installed", bool(tool("haproxy")), "scripts/install-deps.sh installs it"):
        for tls in cfg.TLS_VERSIONS:
            case("haproxy", tls, "A->B", haproxy_pair(tickets=False), want_store=True, plain_zero=True)
        case("haproxy default-tickets", "1.3", "A->B", haproxy_pair(tickets=True), want_store=False,
             plain_zero=True)
    apache = tool("apache2") or tool("httpd")
    if R.check("store-servers: apache2 installed", bool(apache), "scripts/install-deps.sh installs it"):
        for tls in cfg.TLS_VERSIONS:
            case("apache " + mpm_line()[0], tls, "before->after graceful", apache_graceful, want_store=True,
                 plain_zero=False)
