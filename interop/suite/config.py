"""Paths and run-wide settings. run.py sets VERBOSE, KEEP, LIB, SCHEMA and FX from
the command line; every module reads them through this module at call time."""

import os
import re
import subprocess

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
HERE = os.path.join(ROOT, "interop")
LIB = os.path.join(ROOT, "target", "release", "libsesscb.so")
OSSL111 = os.path.join(ROOT, "target", "openssl-1.1.1w")
OPENSSL111 = os.path.join(OSSL111, "bin", "openssl")
TWOSSL_DIR = os.path.join(ROOT, "target", "interop", "twossl")


def ossl_line(line):
    """Install prefix of an OpenSSL line's build (3.5, 3.6, 4.0), as
    mk/openssl-lines.mk names it: scripts/build-openssl.sh --prefix, which
    builds nothing. "" when the script cannot say."""
    script = os.path.join(ROOT, "scripts", "build-openssl.sh")
    try:
        return subprocess.run([script, "--prefix", line], capture_output=True, text=True, timeout=30).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return ""


OSSL35, OSSL36, OSSL40 = ossl_line("3.5"), ossl_line("3.6"), ossl_line("4.0")
OSSL35_NODEPRECATED = ossl_line("3.5-nodep")  # 3.5 configured no-deprecated
DROPIN = os.path.join(ROOT, "contrib", "systemd", "sesscb.conf")
PYTHON = "/usr/bin/python3"
SBIN = ["/usr/sbin", "/sbin", "/usr/bin", "/bin"]

# The trace schema every trace is validated against (--schema=PATH).
SCHEMA = os.path.join(ROOT, "docs", "trace-schema.json")
VERBOSE = False
KEEP = False
IS_ROOT = os.geteuid() == 0
TLS_VERSIONS = ("1.2", "1.3")
VARIANTS = ("plain", "sesscb")
# Event kinds in the sesscb trace that must never show up in these runs.
BAD_EVENTS = {"internal_error", "bad_input", "resolve_failed", "too_many_libssl", "trampolines_exhausted"}
# Crash signatures in any server log, either variant.
CRASH_RE = re.compile(r"segfault|signal 11|signal 6\b|SIGSEGV|SIGABRT|SIGBUS|core dumped|exited on signal|"
                      r"stack smashing|double free|malloc\(\)|panicked", re.I)

# The run's Fixture (temp dir and PKI), set by run.py.
FX = None
