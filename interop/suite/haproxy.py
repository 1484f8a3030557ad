"""haproxy: TLS termination with SNI and an https backend (haproxy as a TLS
client), its environment from the systemd drop-in."""

import os
import re
import signal

from . import config as cfg
from .checks import Run, check_proxy, compare, finish_checks, proxy_equiv, server_started, sesscb_checks
from .checks import standard_battery
from .clients import body_flags
from .dropin import dropin_env
from .files import fill, read_text
from .procs import Proc, base_env, drop_to, free_port, tool, wait_ports


def haproxy_run(tls, variant):
    d = cfg.FX.rundir("haproxy-%s-%s" % (tls, variant))
    r = Run("haproxy", tls, variant, d)
    port, bport = free_port(), free_port()
    ver = "TLSv1.3" if tls == "1.3" else "TLSv1.2"
    conf = fill("haproxy.cfg.in", os.path.join(d, "haproxy.cfg"), DIR=d, PORT=port, BPORT=bport, VER=ver,
                USER=drop_to("    user %s\n    group %s"))
    # The sesscb variant takes its environment from the systemd drop-in.
    env = dropin_env(os.path.join(d, "sesscb.jsonl")) if variant == "sesscb" else base_env()
    p = Proc("haproxy", [tool("haproxy"), "-db", "-f", conf], env, os.path.join(d, "haproxy.log"))
    try:
        if not server_started(r, p, wait_ports(p, [port, bport]), read_text(p.out_path)[-500:]):
            return r
        haproxy_battery(r, port)
    finally:
        r.rc = p.stop(signal.SIGUSR1, 20)  # soft stop
    return finish_checks(r, read_text(p.out_path), re.compile(r"\[(ALERT|WARNING)\]|SSL handshake failure"),
                         lambda r: sesscb_checks(r, "libssl.so.3", min_server_ctxs=2))


def haproxy_battery(r, port):
    c, tls = r.clients, r.tls
    standard_battery(r, port, "a.test", tls, lambda out: body_flags(out, r"(?m)^reused=([01])", "1"))
    r.flags["sni b.test"] = (c.s_client_reconnect(port, "b.test") if tls == "1.2"
                             else c.s_client_chain(port, "b.test", tls, 3))
    out = c.curl(port, "a.test", tls, ["/proxy"] * 6, headers=True)
    if out is not None:
        r.upstream["proxy"] = body_flags(out, r"backend reused=([01])", "1")
        threads = set(re.findall(r"(?im)^x-front-thread: (\d+)", out))
        r.flags["proxy (front)"] = [x == "1" for x in re.findall(r"(?im)^x-front-reused: ([01])", out)]
        r.expect_upstream_full["proxy"] = len(threads)
        r.info["proxy_worker_pids"] = len(threads)
    else:
        r.upstream["proxy"] = None


def test_haproxy():
    for tls in cfg.TLS_VERSIONS:
        runs = {v: haproxy_run(tls, v) for v in cfg.VARIANTS}
        check_proxy(runs, "threads")
        compare("haproxy", tls, runs, equivalent={"proxy": proxy_equiv})
