"""Server processes (own process group, killed at exit), client runs,
ports and process trees."""

import atexit
import ctypes
import glob
import grp
import os
import pwd
import signal
import socket
import subprocess
import time

from . import config as cfg
from .report import log

PROCS = []  # every Popen started here (killed by process group on exit)
DAEMON_PGIDS = []  # process groups of daemons started here (nginx `daemon on`)
INTERRUPTED = []


def tool(name):
    for d in os.environ.get("PATH", "").split(":") + cfg.SBIN:
        p = os.path.join(d, name)
        if d and os.path.isfile(p) and os.access(p, os.X_OK):
            return p
    return None


def base_env():
    env = {k: v for k, v in os.environ.items() if k not in ("LD_PRELOAD", "SESSCB_LOG", "LD_DEBUG", "LD_BIND_NOW")}
    env["PATH"] = ":".join([env.get("PATH", "")] + cfg.SBIN)
    env.setdefault("LANG", "C")
    return env


def sesscb_env(logfile):
    env = base_env()
    env["LD_PRELOAD"] = cfg.LIB
    env["SESSCB_LOG"] = logfile
    return env


class Proc:
    """A server process started in its own session (process group)."""

    def __init__(self, name, argv, env, out, err=None, cwd=None):
        self.name = name
        self.out_path = out
        self.err_path = err or out
        so = open(out, "ab")
        se = so if err is None else open(err, "ab")
        self.p = subprocess.Popen(argv, env=env, stdin=subprocess.DEVNULL, stdout=so, stderr=se, cwd=cwd,
                                  start_new_session=True)
        so.close()
        if se is not so:
            se.close()
        PROCS.append(self.p)
        if cfg.VERBOSE:
            log("    started %s pid %d: %s" % (name, self.p.pid, " ".join(argv)))

    @property
    def pid(self):
        return self.p.pid

    def alive(self):
        return self.p.poll() is None

    def stop(self, sig=signal.SIGTERM, timeout=15.0):
        """Sends sig, waits; returns the exit status (negative: signal), or
        None if it had to be killed."""
        if self.p.poll() is None:
            try:
                os.kill(self.p.pid, sig)
            except ProcessLookupError:
                pass
            return self.wait(timeout)
        return self.p.returncode

    def wait(self, timeout):
        try:
            return self.p.wait(timeout)
        except subprocess.TimeoutExpired:
            kill_group(self.p.pid)
            self.p.wait(5)
            return None

    def kill(self):
        kill_group(self.p.pid)


def kill_group(pgid):
    try:
        os.killpg(pgid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass


def cleanup():
    for pgid in DAEMON_PGIDS:
        if os.path.exists("/proc/%d" % pgid):
            kill_group(pgid)
    for p in PROCS:
        if p.poll() is None:
            kill_group(p.pid)
            try:
                p.wait(5)
            except subprocess.TimeoutExpired:
                pass


def on_signal(signum, _frame):
    INTERRUPTED.append(signum)
    raise SystemExit(128 + signum)


def install_cleanup():
    """Servers die with the run: at exit, and on SIGINT/SIGTERM/SIGHUP."""
    atexit.register(cleanup)
    for s in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        signal.signal(s, on_signal)


def run(argv, env=None, timeout=30, stdin=None, cwd=None):
    """Runs a client to completion: (rc, stdout, stderr) as text."""
    try:
        cp = subprocess.run(argv, env=env or base_env(), input=stdin, capture_output=True, timeout=timeout,
                            cwd=cwd, start_new_session=True)
    except subprocess.TimeoutExpired as e:
        return None, (e.stdout or b"").decode(errors="replace"), "timeout after %ss" % timeout
    return cp.returncode, cp.stdout.decode(errors="replace"), cp.stderr.decode(errors="replace")


def free_port():
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_until(pred, timeout, interval=0.05):
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        v = pred()
        if v:
            return v
        time.sleep(interval)
    return pred()


def port_open(port):
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.5):
            return True
    except OSError:
        return False


def wait_ports(proc, ports, timeout=15.0):
    def ready():
        if not proc.alive():
            return "died"
        return all(port_open(p) for p in ports)
    r = wait_until(ready, timeout)
    return r is True


def children_of(pid):
    kids = []
    for stat in glob.glob("/proc/[0-9]*/stat"):
        try:
            with open(stat) as f:
                data = f.read()
        except OSError:
            continue
        rest = data[data.rfind(")") + 2:].split()
        if len(rest) > 1 and rest[1] == str(pid):
            kids.append(int(stat.split("/")[2]))
    return sorted(kids)


def maps_has_sesscb(pid):
    try:
        with open("/proc/%d/maps" % pid) as f:
            return "libsesscb" in f.read()
    except OSError:
        return None


def set_subreaper():
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        return libc.prctl(36, 1, 0, 0, 0) == 0  # PR_SET_CHILD_SUBREAPER
    except (OSError, AttributeError):
        return False


def reap(pid, timeout):
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        try:
            wpid, status = os.waitpid(pid, os.WNOHANG)
        except ChildProcessError:
            return "gone" if not os.path.exists("/proc/%d" % pid) else None
        if wpid == pid:
            return os.waitstatus_to_exitcode(status)
        time.sleep(0.05)
    return None


def user_group():
    """The unprivileged identity servers drop to when started as root."""
    user = "nobody"
    try:
        pwd.getpwnam(user)
    except KeyError:
        return None, None
    for g in ("nogroup", "nobody"):
        try:
            grp.getgrnam(g)
            return user, g
        except KeyError:
            pass
    return user, None


def drop_to(fmt):
    """`fmt` % (user, group) when the run is root and can drop privileges,
    else "" (the servers' configuration line for it)."""
    user, group = user_group()
    return fmt % (user, group) if cfg.IS_ROOT and user else ""
