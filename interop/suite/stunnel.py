"""stunnel4: a TLS server service ([tls]) and a client-mode service ([cli])
that connects to it, its environment from the systemd drop-in."""

import grp
import os
import pwd
import re
import signal
import socket
import time

from . import config as cfg
from .checks import Run, check_poison, compare, finish_checks, server_started, sesscb_checks
from .dropin import dropin_env
from .files import file_size, fill, read_from, read_text
from .procs import Proc, base_env, drop_to, free_port, tool, user_group, wait_until

ACCEPTED = r"(?:SSL|TLS) accepted: (new session negotiated|previous session reused)"
CONNECTED = r"(?:SSL|TLS) connected: (new session negotiated|previous session reused)"


def stunnel_conf(d, tls, port, cport):
    http = cfg.FX.start_http_backend()
    ver = "TLSv1.3" if tls == "1.3" else "TLSv1.2"
    conf = fill("stunnel.conf.in", os.path.join(d, "stunnel.conf"), DIR=d, PORT=port, CPORT=cport, HTTPPORT=http,
                VER=ver, USER=drop_to("setuid = %s\nsetgid = %s"))
    logf = os.path.join(d, "stunnel.log")
    user, group = user_group()
    if cfg.IS_ROOT and user:
        # stunnel opens its log after dropping privileges (setuid).
        open(logf, "a").close()
        os.chown(logf, pwd.getpwnam(user).pw_uid, grp.getgrnam(group).gr_gid)
    return conf, logf


def stunnel_run(tls, variant):
    d = cfg.FX.rundir("stunnel-%s-%s" % (tls, variant))
    r = Run("stunnel", tls, variant, d)
    port, cport = free_port(), free_port()
    conf, logf = stunnel_conf(d, tls, port, cport)
    env = dropin_env(os.path.join(d, "sesscb.jsonl")) if variant == "sesscb" else base_env()
    p = Proc("stunnel", [tool("stunnel4") or tool("stunnel"), conf], env, os.path.join(d, "stderr.log"))
    try:
        # Readiness from the log: a TCP probe of [cli] would itself make a
        # TLS connection to [tls].
        ready = wait_until(lambda: not p.alive() or "Accepting new connections" in read_text(logf), 15)
        if not server_started(r, p, ready and p.alive(), read_text(logf)[-500:]):
            return r
        stunnel_battery(r, port, logf)
        stunnel_client_mode(r, cport, logf)
    finally:
        # Let the connection threads finish first: stunnel terminating while
        # they close logs "pthread_join() failed" (seen plain and sesscb).
        wait_until(lambda: connections_closed(logf), 5)
        r.rc = p.stop(signal.SIGTERM, 15)
    logs = read_text(logf) + read_text(os.path.join(d, "stderr.log"))
    # stunnel keeps OpenSSL's internal cache too, and sets all three
    # callbacks on the [cli] ctx as well (the second one configured).
    return finish_checks(r, logs, re.compile(r"LOG[0-3]\["), lambda r: sesscb_checks(
        r, "libssl.so.3", min_server_ctxs=1, internal_cache=True, client_ordinals=(1,)))


def accepted_since(logf, mark, n):
    """Server-side reuse flags of the next n handshakes in stunnel's log."""
    def got():
        lines = re.findall(ACCEPTED, read_from(logf, mark))
        return lines if len(lines) >= n else None
    lines = wait_until(got, 5) or re.findall(ACCEPTED, read_from(logf, mark))
    return [line == "previous session reused" for line in lines]


def stunnel_battery(r, port, logf):
    c, tls = r.clients, r.tls
    if tls == "1.2":
        r.flags["s_client"] = c.s_client_reconnect(port, "a.test")
    else:
        r.flags["s_client"] = c.s_client_chain(port, "a.test", tls)
    time.sleep(0.2)
    mark = file_size(logf)
    out = c.curl(port, "a.test", tls, ["/"] * 4)
    r.flags["curl"] = accepted_since(logf, mark, 4) if out is not None else None
    r.flags["python"] = c.python("reuse", port, "a.test", tls)
    r.flags["poison"] = c.python("poison", port, "a.test", tls)
    r.poisoned += 1


def stunnel_client_mode(r, cport, logf):
    """stunnel as a TLS client ([cli] -> [tls]): plain HTTP in, TLS out."""
    time.sleep(0.2)
    mark = file_size(logf)
    for _ in range(4):
        try:
            with socket.create_connection(("127.0.0.1", cport), timeout=10) as s:
                s.sendall(b"GET / HTTP/1.0\r\nHost: a.test\r\n\r\n")
                while s.recv(4096):
                    pass
        except OSError as e:
            r.clients.errors.append("stunnel client-mode request: %s" % e)
    wait_until(lambda: len(re.findall(CONNECTED, read_from(logf, mark))) >= 4, 5)
    connected = re.findall(CONNECTED, read_from(logf, mark))
    r.upstream["stunnel client"] = [x == "previous session reused" for x in connected]
    r.expect_upstream_full["stunnel client"] = 1


def connections_closed(logf):
    text = read_text(logf)
    return (len(re.findall(r"accepted connection from", text))
            <= len(re.findall(r"Connection (?:closed|reset)", text)))


def test_stunnel():
    for tls in cfg.TLS_VERSIONS:
        runs = {v: stunnel_run(tls, v) for v in cfg.VARIANTS}
        check_poison(runs)
        compare("stunnel", tls, runs)
