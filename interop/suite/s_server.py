"""`openssl s_server -ext_cache` of each OpenSSL build in BUILDS: the
application-side external cache of OpenSSL's own demo server, driven by the
same build's `openssl s_client` (plus curl and Python on the system OpenSSL).

Adding an OpenSSL line is one BUILDS entry: its test name (a command-line
TEST of interop/run.py), a label, its install prefix (bin/openssl, lib/)
and the file name of its libssl, which the sesscb trace must resolve."""

import collections
import glob
import os
import re
import signal

from . import config as cfg
from .checks import Run, check_poison, compare, finish_checks, server_started, sesscb_checks, standard_battery
from .clients import body_flags
from .files import read_text
from .procs import Proc, base_env, free_port, sesscb_env, wait_until
from .report import R
from .traces import Trace

OpensslBuild = collections.namedtuple("OpensslBuild", "test label prefix libssl hint")

BUILDS = (
    OpensslBuild("s_server", "Debian OpenSSL 3", "/usr", "libssl.so.3", "scripts/install-deps.sh installs it"),
    OpensslBuild("s_server111", "OpenSSL 1.1.1w", cfg.OSSL111, "libssl.so.1.1", "build it with `make openssl111`"),
    OpensslBuild("s_server35", "OpenSSL 3.5", cfg.OSSL35, "libssl.so.3", "build it with `make openssl35`"),
    OpensslBuild("s_server36", "OpenSSL 3.6", cfg.OSSL36, "libssl.so.3", "build it with `make openssl36`"),
    OpensslBuild("s_server40", "OpenSSL 4.0", cfg.OSSL40, "libssl.so.4", "build it with `make openssl40`"),
)


def openssl_of(build):
    return os.path.join(build.prefix, "bin", "openssl")


def s_server_argv(build, d, port, tls):
    # Connections the battery makes: s_client 7 or 4, curl 4, python 4, poison 2.
    naccept = (7 if tls == "1.2" else 4) + 4 + 4 + 2
    return [openssl_of(build), "s_server", "-accept", "127.0.0.1:%d" % port,
            "-cert", os.path.join(d, "pki/a.test.crt"), "-key", os.path.join(d, "pki/a.test.key"),
            "-www", "-ext_cache", "-no_ticket", "-tls1_3" if tls == "1.3" else "-tls1_2", "-naccept", str(naccept)]


def s_server_run(build, tls, variant):
    which = build.test
    d = cfg.FX.rundir("%s-%s-%s" % (which, tls, variant))
    r = Run(which, tls, variant, d)
    r.clients.openssl = openssl_of(build)  # the build's own s_client (rpath: its own libssl)
    port = free_port()
    env = sesscb_env(os.path.join(d, "sesscb.jsonl")) if variant == "sesscb" else base_env()
    out = os.path.join(d, "stdout.log")
    p = Proc(which, s_server_argv(build, d, port, tls), env, out, os.path.join(d, "stderr.log"))
    try:
        ready = wait_until(lambda: "ACCEPT" in read_text(out) or not p.alive(), 10) and p.alive()
        if not server_started(r, p, ready, read_text(out)[-300:] + read_text(p.err_path)[-300:]):
            return r
        standard_battery(r, port, "a.test", tls, lambda o: body_flags(o, r"\n(New|Reused), TLS", "Reused"))
        # -naccept: s_server exits by itself, status 0, after the last one.
        r.rc = p.wait(15)
    finally:
        if r.rc is None:
            r.rc = p.stop(signal.SIGTERM, 5)
    return finish_checks(r, read_text(p.err_path) + read_text(out), re.compile(r"error|ERROR"),
                         lambda r: sesscb_checks(r, build.libssl, min_server_ctxs=1))


def test_s_server(build):
    openssl = openssl_of(build)
    if not os.access(openssl, os.X_OK):
        R.check("%s: %s present" % (build.test, openssl), False, "%s: %s" % (build.label, build.hint))
        return
    for tls in cfg.TLS_VERSIONS:
        runs = {v: s_server_run(build, tls, v) for v in cfg.VARIANTS}
        check_poison(runs)
        compare(build.test, tls, runs)
        s_client_is_the_builds(runs["sesscb"], build)


def s_client_is_the_builds(r, build):
    """The s_client runs were the build's own: their (preloaded) traces
    resolve the build's libssl, from its prefix unless it is the system's."""
    prefix = os.path.realpath(build.prefix) + "/"
    libs = [e.get("libssl", "") for p in glob.glob(os.path.join(r.dir, "client-*-s_client.jsonl"))
            for e in Trace(p).resolves]
    ok = bool(libs) and all(os.path.basename(l) == build.libssl
                            and (build.prefix == "/usr" or os.path.realpath(l).startswith(prefix)) for l in libs)
    R.check("%s: s_client is %s's own (its traces resolve %s)" % (r.name, build.label, build.libssl), ok,
            ", ".join(sorted(set(libs))) or "no s_client resolve event")


def tests():
    """(test name, function) for each build, in BUILDS order."""
    return [(b.test, lambda b=b: test_s_server(b)) for b in BUILDS]
