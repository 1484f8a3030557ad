#!/usr/bin/python3
"""interop/run.py -- sesscb against real servers and clients.

Every server is started twice on loopback, plain and with
LD_PRELOAD=libsesscb.so SESSCB_LOG=<file>, and driven with real clients
(openssl s_client, curl, a Python ssl client) through full handshakes and
resumptions. Asserted per server and TLS version:

  (a) resumption outcomes are identical with and without sesscb;
  (b) sesscb's trace shows the server's own callbacks firing, with counts
      consistent with the handshakes the clients saw (it really is in the
      path), and the process maps / LD_DEBUG show sesscb loaded and bound;
  (c) no crash, no error line that only appears with sesscb, clean shutdown.

Plus: the two-OpenSSLs-in-one-process test (interop/twossl), nginx binary
upgrade with `env LD_PRELOAD;`, LD_DEBUG=bindings checks, and the deployment
recipes of README.md (Deployment) where they can run here (systemd drop-in
variables, Apache envvars). Every trace the run writes is validated against
docs/trace-schema.json.

Usage: interop/run.py [--keep] [--verbose] [--lib=PATH] [--schema=PATH] [TEST ...]
  --keep      keep the temp dir (configs, server logs, traces); it is always
              kept when a check failed
  --verbose   print every check, not only failures
  --lib=PATH  the library to preload (default target/release/libsesscb.so)
  --schema=PATH  the trace schema (default docs/trace-schema.json; another
              one shows that a trace line the schema lacks fails the run)
  TEST: %s
        (default: all, in that order)
Output: a matrix table and a final line `interop: N passed, M failed`;
exit status 1 on any failure. Standard library only.

The modules are in interop/suite/ (one per server, plus the shared ones).
"""
import collections
import os
import sys
import time
import traceback

sys.dont_write_bytecode = True  # no __pycache__ in the source tree
from suite import apache, bindings, haproxy, nginx, s_server, store, stunnel, twossl, upgrade  # noqa: E402
from suite import store_nginx, store_proofs, store_redis, store_servers, tickets, tickets_haproxy, tickets_nginx  # noqa: E402
from suite import store_redis_cluster, store_redis_fleet, store_redis_haproxy  # noqa: E402
from suite import tickets_evp, tickets_fork, tickets_redis  # noqa: E402
from suite import config as cfg  # noqa: E402
from suite.all_traces import check_all_traces  # noqa: E402
from suite.fixture import Fixture  # noqa: E402
from suite.procs import INTERRUPTED, cleanup, install_cleanup, tool  # noqa: E402
from suite.report import R, log, print_failures, print_matrix  # noqa: E402

TESTS = collections.OrderedDict([
    ("bindings", bindings.test_bindings),
    ("twossl", twossl.test_twossl),
    ("static", twossl.test_static),
    ("nginx", nginx.test_nginx),
    ("upgrade", upgrade.test_upgrade),
    ("haproxy", haproxy.test_haproxy),
    ("stunnel", stunnel.test_stunnel),
    ("apache", apache.test_apache),
] + s_server.tests() + [
    ("store", store.test_store),
    ("store-nginx", store_nginx.test_store_nginx),
    ("store-servers", store_servers.test_store_servers),
    ("tickets", tickets.test_tickets),
    ("tickets-nginx", tickets_nginx.test_tickets_nginx),
    ("tickets-haproxy", tickets_haproxy.test_tickets_haproxy),
    ("tickets-fork", tickets_fork.test_tickets_fork),
    ("tickets-evp", tickets_evp.test_tickets_evp),
] + store_proofs.tests() + [
    ("store-redis", store_redis.test_store_redis),
    ("store-redis-fleet", store_redis_fleet.test_store_redis_fleet),
    ("store-redis-haproxy", store_redis_haproxy.test_store_redis_haproxy),
    ("store-redis-cluster", store_redis_cluster.test_store_redis_cluster),
    ("tickets-redis", tickets_redis.test_tickets_redis),
])

NEEDS = {"nginx": "nginx", "upgrade": "nginx", "bindings": "nginx", "haproxy": "haproxy", "stunnel": "stunnel4",
         "apache": "apache2", "store-nginx": "nginx",
         "tickets-nginx": "nginx", "tickets-haproxy": "haproxy", "store-redis": "redis-server",
         "store-redis-fleet": "nginx", "store-redis-haproxy": "haproxy", "store-redis-cluster": "redis-server",
         "tickets-redis": "redis-server"}

USAGE = __doc__ % " ".join(TESTS)


def parse_args(argv):
    """The tests to run, or an exit status."""
    names = []
    for a in argv[1:]:
        if a == "--verbose" or a == "-v":
            cfg.VERBOSE = True
        elif a == "--keep":
            cfg.KEEP = True
        elif a.startswith("--lib="):
            cfg.LIB = os.path.abspath(a[len("--lib="):])
        elif a.startswith("--schema="):
            cfg.SCHEMA = os.path.abspath(a[len("--schema="):])
        elif a in TESTS:
            names.append(a)
        elif a in ("-h", "--help"):
            print(USAGE)
            return 0
        else:
            print("unknown argument %s\n%s" % (a, USAGE), file=sys.stderr)
            return 2
    return names or list(TESTS)


def run_test(n):
    if n in NEEDS and not tool(NEEDS[n]) and not (n == "apache" and tool("httpd")):
        R.check("%s: %s installed" % (n, NEEDS[n]), False, "scripts/install-deps.sh installs it")
        return
    log("== %s" % n)
    t0 = time.monotonic()
    try:
        TESTS[n]()
    except Exception as e:  # a driver bug must fail the suite, not hang it
        traceback.print_exc()
        R.check("%s: driver completed" % n, False, repr(e))
    log("   (%.1fs)" % (time.monotonic() - t0))


def main(argv):
    names = parse_args(argv)
    if isinstance(names, int):
        return names
    if not os.path.exists(cfg.LIB):
        print("interop: %s missing: run `make lib`" % cfg.LIB, file=sys.stderr)
        return 2
    install_cleanup()
    start = time.monotonic()
    cfg.FX = Fixture()
    try:
        for n in names:
            run_test(n)
        check_all_traces()
    finally:
        cleanup()
        if INTERRUPTED:
            R.check("run completed", False, "interrupted by signal %d; servers stopped" % INTERRUPTED[0])
        print_matrix()
        print_failures()
        cfg.FX.close(cfg.KEEP or bool(R.failed))
        log("")
        log("(%.0fs)" % (time.monotonic() - start))
        log("interop: %d passed, %d failed" % (R.passed, len(R.failed)))
    return 1 if R.failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
