"""Apache httpd (mod_ssl, dlopen'd): SNI vhosts, a graceful restart, the
Debian envvars recipe for the sesscb variant."""

import os
import re
import signal
import time

from . import config as cfg
from .checks import Run, check_poison, compare, finish_checks, resolves_detail, server_started, sesscb_checks
from .files import file_size, fill, read_from, read_text
from .procs import Proc, base_env, children_of, drop_to, free_port, tool, wait_ports, wait_until
from .report import R


def apache_dirs(d):
    for sub in ("run", "htdocs"):
        os.makedirs(os.path.join(d, sub), exist_ok=True)
        os.chmod(os.path.join(d, sub), 0o755)
    with open(os.path.join(d, "htdocs", "index.html"), "w") as f:
        f.write("apache ok\n")
    os.chmod(os.path.join(d, "htdocs", "index.html"), 0o644)


def apache_argv(d, variant, conf):
    apache = tool("apache2") or tool("httpd")
    if variant != "sesscb":
        return [apache, "-DFOREGROUND", "-f", conf]
    # Recipe: Debian's apache2ctl sources /etc/apache2/envvars; do the same.
    envvars = os.path.join(d, "envvars")
    with open(envvars, "w") as f:
        f.write("# as in README.md (Deployment) (Apache)\nexport LD_PRELOAD=%s\nexport SESSCB_LOG=%s\n" %
                (cfg.LIB, os.path.join(d, "sesscb.jsonl")))
    return ["/bin/sh", "-c", '. "$1" && exec "$2" -DFOREGROUND -f "$3"', "sh", envvars, apache, conf]


def apache_run(tls, variant):
    d = cfg.FX.rundir("apache-%s-%s" % (tls, variant))
    apache_dirs(d)
    r = Run("apache", tls, variant, d)
    port = free_port()
    conf = fill("apache2.conf.in", os.path.join(d, "apache2.conf"), DIR=d, PORT=port,
                APROTO="TLSv1.3" if tls == "1.3" else "TLSv1.2", USER=drop_to("User %s\nGroup %s"))
    p = Proc("apache2", apache_argv(d, variant, conf), base_env(), os.path.join(d, "stderr.log"))
    try:
        if not server_started(r, p, wait_ports(p, [port], 20),
                              read_text(os.path.join(d, "error.log"))[-500:] + read_text(p.out_path)[-300:]):
            return r
        sess = apache_battery(r, port)
        apache_graceful(r, p, port, sess)
    finally:
        r.rc = p.stop(signal.SIGTERM, 20)
    logs = read_text(os.path.join(d, "error.log")) + read_text(p.out_path)
    return finish_checks(r, logs, re.compile(r":(error|crit|alert|emerg)\]"), apache_trace_checks)


def access_flags(access, mark, n):
    """Reuse flags of the next n requests in the access log (%{SSL_SESSION_RESUMED}x)."""
    def got():
        lines = re.findall(r"^(Initial|Resumed) ", read_from(access, mark), re.M)
        return lines if len(lines) >= n else None
    lines = wait_until(got, 5) or re.findall(r"^(Initial|Resumed) ", read_from(access, mark), re.M)
    return [line == "Resumed" for line in lines]


def apache_battery(r, port):
    """Clients before the graceful restart; returns the a.test session file."""
    c, tls = r.clients, r.tls
    if tls == "1.2":
        r.flags["s_client"] = c.s_client_reconnect(port, "a.test", "/index.html")
    else:
        r.flags["s_client"] = c.s_client_chain(port, "a.test", tls)
    time.sleep(0.2)
    access = os.path.join(r.dir, "access.log")
    mark = file_size(access)
    out = c.curl(port, "a.test", tls, ["/index.html"] * 4)
    r.flags["curl"] = access_flags(access, mark, 4) if out is not None else None
    r.flags["python"] = c.python("reuse", port, "a.test", tls, path="/index.html")
    r.flags["poison"] = c.python("poison", port, "a.test", tls)
    r.poisoned += 1
    r.flags["sni b.test"] = (c.s_client_reconnect(port, "b.test", "/index.html") if tls == "1.2"
                             else c.s_client_chain(port, "b.test", tls, 3))
    sess = os.path.join(r.dir, "a-session.pem")
    first = c.s_client_once(port, "a.test", tls, sess_out=sess, path="/index.html")
    cross = c.s_client_once(port, "b.test", tls, sess_in=sess, path="/index.html")
    r.flags["sni cross"] = None if first is None or cross is None else [first, cross]
    return sess


def apache_graceful(r, p, port, sess):
    """Graceful restart (what `apachectl graceful` / logrotate do): mod_ssl
    is unloaded and loaded again, new children; the shmcb cache stays."""
    c, tls = r.clients, r.tls
    ok, kids = graceful_restart(p.pid, os.path.join(r.dir, "error.log"))
    r.info["children"] = kids
    R.check("%s: graceful restart (SIGUSR1) replaced the children" % r.name, ok,
            "before %s after %s" % (kids, children_of(p.pid)))
    r.info["new_children"] = children_of(p.pid)
    after = c.s_client_once(port, "a.test", tls, sess_in=sess, path="/index.html")
    r.flags["graceful: old session"] = None if after is None else [after]
    r.flags["graceful: s_client"] = (c.s_client_reconnect(port, "a.test", "/index.html") if tls == "1.2"
                                     else c.s_client_chain(port, "a.test", tls, 3))


def graceful_restart(pid, error_log):
    """SIGUSR1 to the parent; waits until the new generation serves and none
    of the old children is left. Returns (replaced, the old children)."""
    kids = children_of(pid)
    gen = read_text(error_log).count("resuming normal operations")
    os.kill(pid, signal.SIGUSR1)
    ok = wait_until(lambda: read_text(error_log).count("resuming normal operations") > gen
                    and children_of(pid) and not set(children_of(pid)) & set(kids), 20)
    return bool(ok), kids


def apache_trace_checks(r):
    sesscb_checks(r, "libssl.so.3", min_server_ctxs=2)
    t = r.trace
    R.check("%s: mod_ssl (dlopen'd) resolved the real libssl" % r.name,
            any("libssl.so.3" in e.get("libssl", "") for e in t.resolves), resolves_detail(t))
    child_events = sum(t.pids[k]["new"] + t.pids[k]["get"] for k in r.info.get("children", []))
    R.check("%s: callbacks traced in the (unprivileged) children" % r.name, child_events > 0,
            "children %s" % r.info.get("children"))
    child_events = sum(t.pids[k]["new"] + t.pids[k]["get"] for k in r.info.get("new_children", []))
    R.check("%s: callbacks traced in the children after the graceful restart" % r.name, child_events > 0,
            "children %s" % r.info.get("new_children"))


def test_apache():
    for tls in cfg.TLS_VERSIONS:
        runs = {v: apache_run(tls, v) for v in cfg.VARIANTS}
        check_poison(runs)
        compare("apache", tls, runs)
