"""nginx: two server blocks (SNI), proxy_pass https with session reuse, and
a reload (`nginx -s reload`) in the middle of the run."""

import os
import re
import signal
import time

from . import config as cfg
from .checks import Run, check_proxy, compare, finish_checks, proxy_equiv, server_started, sesscb_checks
from .checks import standard_battery
from .clients import body_flags
from .files import fill, read_text
from .procs import Proc, base_env, children_of, drop_to, free_port, maps_has_sesscb, run, sesscb_env, tool
from .procs import wait_until, wait_ports
from .report import R


def nflags(out):
    return body_flags(out, r"reused=(r|\.)", "r")


def nginx_conf(d, tls):
    port, bport = free_port(), free_port()
    conf = fill("nginx.conf.in", os.path.join(d, "nginx.conf"), DIR=d, PORT=port, BPORT=bport,
                PROTO="TLSv1.3" if tls == "1.3" else "TLSv1.2", USER=drop_to("user %s %s;"))
    return conf, port, bport


def nginx_run(tls, variant):
    d = cfg.FX.rundir("nginx-%s-%s" % (tls, variant))
    for sub in ("tmp", "logs"):
        os.makedirs(os.path.join(d, sub), exist_ok=True)
    r = Run("nginx", tls, variant, d)
    conf, port, bport = nginx_conf(d, tls)
    env = sesscb_env(os.path.join(d, "sesscb.jsonl")) if variant == "sesscb" else base_env()
    argv = [tool("nginx"), "-p", d, "-c", conf, "-e", os.path.join(d, "error.log")]
    p = Proc("nginx", argv, env, os.path.join(d, "stderr.log"))
    try:
        if not server_started(r, p, wait_ports(p, [port, bport]), read_text(p.out_path)[-500:]):
            return r
        if variant == "plain":
            R.check("%s: no libsesscb in maps" % r.name, maps_has_sesscb(p.pid) is False)
        sess = nginx_battery(r, port)
        nginx_reload(r, p, port, [tool("nginx"), "-p", d, "-c", conf, "-s", "reload"], env, sess)
    finally:
        r.rc = p.stop(signal.SIGQUIT, 20)
    logs = read_text(os.path.join(d, "error.log")) + read_text(p.out_path)
    return finish_checks(r, logs, re.compile(r"\[(error|crit|alert|emerg)\]"), nginx_trace_checks)


def nginx_battery(r, port):
    """Clients before the reload; returns the a.test session file."""
    c, tls = r.clients, r.tls
    standard_battery(r, port, "a.test", tls, nflags)
    # SNI: the second server block resumes its own sessions.
    r.flags["sni b.test"] = (c.s_client_reconnect(port, "b.test") if tls == "1.2"
                             else c.s_client_chain(port, "b.test", tls, 3))
    # A session of a.test offered with SNI b.test (whatever plain nginx does).
    sess = os.path.join(r.dir, "a-session.pem")
    first = c.s_client_once(port, "a.test", tls, sess_out=sess)
    cross = c.s_client_once(port, "b.test", tls, sess_in=sess)
    r.flags["sni cross"] = None if first is None or cross is None else [first, cross]
    # nginx as a TLS client: proxy_pass https with proxy_ssl_session_reuse.
    out = c.curl(port, "a.test", tls, ["/proxy"] * 6)
    r.upstream["proxy"] = body_flags(out, r"backend reused=(r|\.)", "r") if out is not None else None
    time.sleep(0.2)
    front = re.findall(r"reused=(\S*) pid=(\d+) /proxy", read_text(os.path.join(r.dir, "access.log")))
    pids = set(pid for _r, pid in front)
    r.flags["proxy (front)"] = [fr == "r" for fr, _p in front] if out is not None else None
    r.info["proxy_worker_pids"] = len(pids)
    r.expect_upstream_full["proxy"] = len(pids)
    return sess


def nginx_reload(r, p, port, reload_argv, env, sess):
    """Reload in the middle of the run; the shared cache survives it."""
    c, tls = r.clients, r.tls
    workers = children_of(p.pid)
    rc, out, err = run(reload_argv, env=env)
    R.check("%s: nginx -s reload" % r.name, rc == 0, err.strip()[-300:])

    def reloaded():
        now = children_of(p.pid)
        return now and not (set(now) & set(workers)) and len(now) >= 2
    R.check("%s: workers replaced after reload" % r.name, wait_until(reloaded, 15),
            "before %s after %s" % (workers, children_of(p.pid)))
    r.info["new_workers"] = children_of(p.pid)
    after = c.s_client_once(port, "a.test", tls, sess_in=sess)
    r.flags["reload: old session"] = None if after is None else [after]
    r.flags["reload: s_client"] = (c.s_client_reconnect(port, "a.test") if tls == "1.2"
                                   else c.s_client_chain(port, "a.test", tls, 3))
    out = c.curl(port, "a.test", tls, ["/"] * 3)
    r.flags["reload: curl"] = nflags(out) if out is not None else None


def nginx_trace_checks(r):
    sesscb_checks(r, "libssl.so.3", min_server_ctxs=3)
    t = r.trace
    new_worker_events = sum(t.pids[w]["new"] + t.pids[w]["get"] for w in r.info.get("new_workers", []))
    R.check("%s: callbacks traced in the post-reload workers" % r.name, new_worker_events > 0,
            "pids %s" % r.info.get("new_workers"))
    R.check("%s: old cycle's ctxs freed after reload (ctx_free events)" % r.name, t.get("ctx_free") >= 3,
            "ctx_free=%d" % t.get("ctx_free"))


def test_nginx():
    for tls in cfg.TLS_VERSIONS:
        runs = {v: nginx_run(tls, v) for v in cfg.VARIANTS}
        check_proxy(runs, "workers")
        compare("nginx", tls, runs, equivalent={"proxy": proxy_equiv})
