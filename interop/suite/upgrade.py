"""Binary upgrades and re-execs under sesscb: nginx's USR2 upgrade (with
and without `env LD_PRELOAD;`) and haproxy's master-worker reload."""

import os
import signal

from . import config as cfg
from .clients import Clients
from .dropin import dropin_env
from .files import fill, read_text
from .procs import DAEMON_PGIDS, Proc, children_of, drop_to, free_port, kill_group, maps_has_sesscb, port_open
from .procs import reap, sesscb_env, set_subreaper, tool, wait_ports, wait_until
from .report import R
from .traces import Trace


def pid_in(path):
    try:
        return int(read_text(path).strip() or 0) or None
    except ValueError:
        return None


def upgrade_conf(d, keep_env):
    """nginx.conf with `daemon on` (USR2 needs a re-parented master); without
    keep_env, the recipe's `env LD_PRELOAD;` lines removed."""
    port, bport = free_port(), free_port()
    conf = fill("nginx.conf.in", os.path.join(d, "nginx.conf"), DIR=d, PORT=port, BPORT=bport, PROTO="TLSv1.2",
                USER=drop_to("user %s %s;"))
    text = read_text(conf).replace("daemon off;", "daemon on;")
    if not keep_env:
        text = text.replace("env LD_PRELOAD;", "").replace("env SESSCB_LOG;", "")
    with open(conf, "w") as f:
        f.write(text)
    return conf, port


def upgrade_run(keep_env):
    """USR2 binary upgrade under sesscb; with `env LD_PRELOAD;` the new master
    must still have sesscb, without it it must not (the recipe matters).
    nginx only honours USR2 when its parent changed since it started, so this
    run uses `daemon on` (the driver is the child subreaper and reaps)."""
    label = "nginx upgrade %s" % ("with 'env LD_PRELOAD;'" if keep_env else "without 'env LD_PRELOAD;'")
    d = cfg.FX.rundir("nginx-upgrade-%s" % ("env" if keep_env else "noenv"))
    os.makedirs(os.path.join(d, "tmp"), exist_ok=True)
    conf, port = upgrade_conf(d, keep_env)
    trace = os.path.join(d, "sesscb.jsonl")
    p = Proc("nginx", [tool("nginx"), "-p", d, "-c", conf, "-e", os.path.join(d, "error.log")], sesscb_env(trace),
             os.path.join(d, "stderr.log"))
    masters = {}
    try:
        old_pid = masters["old"] = upgrade_start(label, p, d, port)
        new_pid = masters["new"] = old_pid and upgrade_usr2(label, d, old_pid, keep_env)
        if new_pid:
            upgrade_retire(label, old_pid)
            masters.pop("old")
            upgrade_serve(label, port, trace, new_pid, keep_env)
            os.kill(new_pid, signal.SIGQUIT)
            R.check("%s: new master exits cleanly" % label, reap(new_pid, 15) in (0, "gone"))
            masters.pop("new")
            R.check("%s: no crash signature" % label, not cfg.CRASH_RE.search(read_text(os.path.join(d, "error.log"))))
    finally:
        for pid in masters.values():
            if pid:
                kill_group(pid)
                reap(pid, 5)


def upgrade_start(label, p, d, port):
    """The daemonized master's pid, or None (checked)."""
    R.check("%s: nginx daemonized" % label, p.wait(15) == 0, read_text(p.out_path)[-300:])
    pidfile = os.path.join(d, "nginx.pid")
    old_pid = wait_until(lambda: pid_in(pidfile) if len(children_of(pid_in(pidfile) or -1)) >= 2 else None, 15)
    if not R.check("%s: master running" % label, bool(old_pid) and port_open(port),
                   read_text(os.path.join(d, "error.log"))[-300:]):
        return None
    DAEMON_PGIDS.append(old_pid)  # setsid'd: its own process group
    R.check("%s: master maps libsesscb" % label, maps_has_sesscb(old_pid) is True)
    return old_pid


def upgrade_usr2(label, d, old_pid, keep_env):
    """USR2: the new master's pid, or None (checked)."""
    pidfile = os.path.join(d, "nginx.pid")
    os.kill(old_pid, signal.SIGUSR2)

    def upgraded():
        new = pid_in(pidfile)
        if new and new != old_pid and pid_in(pidfile + ".oldbin") == old_pid and len(children_of(new)) >= 2:
            return new
        return None
    new_pid = wait_until(upgraded, 15)
    if not R.check("%s: new master started" % label, bool(new_pid),
                   read_text(os.path.join(d, "error.log"))[-300:]):
        return None
    has = maps_has_sesscb(new_pid)
    if keep_env:
        # (/proc/PID/environ is no witness: nginx's setproctitle reuses
        # that memory.)
        R.check("%s: new master maps libsesscb" % label, has is True)
    else:
        R.check("%s: new master lost libsesscb (control: nginx drops the variable)" % label, has is False)
    return new_pid


def upgrade_retire(label, old_pid):
    """Retire the old master; the new one serves alone."""
    os.kill(old_pid, signal.SIGQUIT)
    R.check("%s: old master exits on QUIT" % label, reap(old_pid, 15) in (0, "gone"))


def upgrade_serve(label, port, trace, new_pid, keep_env):
    c = Clients(os.path.dirname(trace), "sesscb")
    flags = c.s_client_reconnect(port, "a.test")
    R.check("%s: resumption after the upgrade" % label, flags is not None and flags.count(True) == 6,
            str(flags) + " ".join(c.errors))
    if keep_env:
        t = Trace(trace)
        new_workers = children_of(new_pid)
        n = sum(t.pids[w]["get"] + t.pids[w]["new"] for w in new_workers)
        R.check("%s: new master resolved libssl (resolve event)" % label,
                any(e.get("pid") == new_pid for e in t.resolves))
        R.check("%s: callbacks traced in the new master's workers" % label, n > 0, "workers %s" % new_workers)


def haproxy_reload_run():
    """haproxy master-worker (-W, as Debian's unit runs it with -Ws): a reload
    (USR2) re-execs the master with its own environment -- LD_PRELOAD from
    the systemd drop-in survives without any configuration."""
    label = "haproxy -W reload"
    d = cfg.FX.rundir("haproxy-reload")
    port, bport = free_port(), free_port()
    conf = fill("haproxy.cfg.in", os.path.join(d, "haproxy.cfg"), DIR=d, PORT=port, BPORT=bport, VER="TLSv1.2",
                USER=drop_to("    user %s\n    group %s"))
    trace = os.path.join(d, "sesscb.jsonl")
    p = Proc("haproxy", [tool("haproxy"), "-W", "-db", "-f", conf], dropin_env(trace), os.path.join(d, "haproxy.log"))
    try:
        if not R.check("%s: started" % label, wait_ports(p, [port, bport]), read_text(p.out_path)[-300:]):
            return
        haproxy_reload(label, p, d, port, trace)
    finally:
        rc = p.stop(signal.SIGUSR1, 20)
    R.check("%s: clean shutdown (rc %s)" % (label, rc), rc == 0)
    R.check("%s: no crash signature" % label, not cfg.CRASH_RE.search(read_text(p.out_path)))


def haproxy_reload(label, p, d, port, trace):
    def mapped_tree():
        # Re-read the children each time: right after start the master may
        # have a short-lived child that is gone before its maps are read.
        kids = children_of(p.pid)
        return kids if kids and maps_has_sesscb(p.pid) is True and all(maps_has_sesscb(w) for w in kids) else None
    old = wait_until(mapped_tree, 10)
    R.check("%s: master and worker map libsesscb" % label, bool(old), "worker %s" % children_of(p.pid))
    old = old or children_of(p.pid)
    c = Clients(d, "sesscb")
    before = c.s_client_reconnect(port, "a.test")
    os.kill(p.pid, signal.SIGUSR2)
    new = wait_until(lambda: [w for w in children_of(p.pid) if w not in old], 15) or []
    R.check("%s: new worker after USR2" % label, bool(new), "workers before %s, now %s" % (old, children_of(p.pid)))
    if not new:
        return
    R.check("%s: re-executed master and new worker map libsesscb" % label,
            maps_has_sesscb(p.pid) is True and all(maps_has_sesscb(w) for w in new))
    wait_until(lambda: port_open(port), 5)
    after = c.s_client_reconnect(port, "a.test")
    R.check("%s: resumption before and after the reload" % label,
            before is not None and after is not None and before.count(True) == 6 and after.count(True) == 6,
            "before %s after %s %s" % (before, after, " ".join(c.errors)))
    t = Trace(trace)
    master_resolves = sum(1 for e in t.resolves if e.get("pid") == p.pid)
    R.check("%s: the re-executed master resolved libssl again" % label, master_resolves >= 2,
            "%d resolve events from the master" % master_resolves)
    R.check("%s: callbacks traced in the new worker" % label,
            sum(t.pids[w]["new"] + t.pids[w]["get"] for w in new) > 0)


def test_upgrade():
    if not set_subreaper():
        R.note("nginx upgrade: PR_SET_CHILD_SUBREAPER unavailable; skipped")
        return
    upgrade_run(True)
    upgrade_run(False)
    if tool("haproxy"):
        haproxy_reload_run()
