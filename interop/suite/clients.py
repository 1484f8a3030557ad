"""The clients that drive the servers: openssl s_client, curl, and
interop/pyclient.py (Python's ssl module)."""

import json
import os
import re

from . import config as cfg
from .procs import base_env, run, sesscb_env


class Clients:
    """Client invocations for one run. In the sesscb variant every client
    also runs with sesscb preloaded, each with its own trace file."""

    def __init__(self, run_dir, variant):
        self.dir = run_dir
        self.variant = variant
        self.openssl = "openssl"  # the s_client binary; s_server.py sets each build's own
        self.errors = []
        self.n = 0

    def env(self, name):
        if self.variant != "sesscb":
            return base_env()
        self.n += 1
        return sesscb_env(os.path.join(self.dir, "client-%02d-%s.jsonl" % (self.n, name)))

    def fail(self, what, rc, out, err):
        self.errors.append("%s: rc=%s %s" % (what, rc, (err or out).strip()[-300:]))
        return None

    # openssl s_client ----------------------------------------------------
    @staticmethod
    def sclient_flags(out):
        return [m == "Reused" for m in re.findall(r"^(New|Reused), ", out, re.M)]

    def s_client_reconnect(self, port, sni, path="/"):
        """TLS 1.2: a full handshake with a request (-sess_out), then
        `-sess_in -reconnect`: six more connections offering that session.

        Not a bare `-reconnect` after a full handshake: its first reconnect
        races the server storing the new session (OpenSSL calls the new
        callback after sending Finished; Apache's locked shmcb store loses
        that race now and then, plain or not)."""
        sess = os.path.join(self.dir, "sclient-reconnect-%s.pem" % sni)
        first = self.s_client_once(port, sni, "1.2", sess_out=sess, path=path)
        if first is None:
            return None
        argv = [self.openssl, "s_client", "-connect", "127.0.0.1:%d" % port, "-servername", sni, "-CAfile", cfg.FX.ca,
                "-verify_return_error", "-tls1_2", "-no_ticket", "-sess_in", sess, "-reconnect"]
        rc, out, err = run(argv, env=self.env("s_client"), stdin=b"", timeout=30)
        flags = self.sclient_flags(out)
        if rc != 0 or len(flags) != 6:
            return self.fail("s_client -reconnect %s" % sni, rc, out, err)
        return [first] + flags

    def s_client_once(self, port, sni, tls, sess_in=None, sess_out=None, path="/"):
        """One connection with an HTTP request read to the server's close."""
        argv = [self.openssl, "s_client", "-connect", "127.0.0.1:%d" % port, "-servername", sni, "-CAfile", cfg.FX.ca,
                "-verify_return_error", "-tls1_3" if tls == "1.3" else "-tls1_2", "-ign_eof"]
        if tls == "1.2":
            argv.append("-no_ticket")
        if sess_in:
            argv += ["-sess_in", sess_in]
        if sess_out:
            argv += ["-sess_out", sess_out]
        req = ("GET %s HTTP/1.1\r\nHost: %s\r\nConnection: close\r\n\r\n" % (path, sni)).encode()
        rc, out, err = run(argv, env=self.env("s_client"), stdin=req, timeout=20)
        # The first New/Reused line is s_client's own summary; s_server -www
        # echoes the same words in the page it returns.
        # Exit status 1 with "unexpected eof" is 1.1.1's s_server -www
        # closing without close_notify: fine once the response arrived.
        flags = self.sclient_flags(out)
        eof_ok = rc == 1 and "unexpected eof" in out + err and "HTTP/1." in out
        if (rc != 0 and not eof_ok) or not flags:
            return self.fail("s_client %s" % sni, rc, out, err)
        return flags[0]

    def s_client_chain(self, port, sni, tls, n=4):
        """-sess_out on the first connection, -sess_in/-sess_out after."""
        sess = os.path.join(self.dir, "sclient-chain-%s.pem" % sni)
        if os.path.exists(sess):
            os.unlink(sess)
        flags = []
        for i in range(n):
            f = self.s_client_once(port, sni, tls, sess_in=sess if i else None, sess_out=sess)
            if f is None:
                return None
            flags.append(f)
        return flags

    # curl ------------------------------------------------------------------
    def curl(self, port, sni, tls, paths, headers=False):
        """One curl command, several URLs: one connection each (Connection:
        close), curl resumes its cached session. Returns the output."""
        urls = ["https://%s:%d%s" % (sni, port, p) for p in paths]
        argv = ["curl", "-sS", "--cacert", cfg.FX.ca, "--resolve", "%s:%d:127.0.0.1" % (sni, port),
                "-H", "Connection: close", "--max-time", "10"]
        argv += ["--tlsv1.3"] if tls == "1.3" else ["--tlsv1.2", "--tls-max", "1.2"]
        if headers:
            argv.append("-i")
        rc, out, err = run(argv + urls, env=self.env("curl"), timeout=40)
        if rc != 0:
            return self.fail("curl %s" % sni, rc, out, err)
        return out

    # python ----------------------------------------------------------------
    def python(self, mode, port, sni, tls, n=4, path="/"):
        argv = [cfg.PYTHON, os.path.join(cfg.HERE, "pyclient.py"), mode, "127.0.0.1", str(port), sni, cfg.FX.ca, tls]
        if mode == "reuse":
            argv += [str(n), path]
        rc, out, err = run(argv, env=self.env("python"), timeout=40)
        try:
            res = json.loads(out.strip().splitlines()[-1])
            flags = res["flags"]
        except (ValueError, IndexError, KeyError):
            flags = None
        if rc != 0 or flags is None:
            return self.fail("python %s %s" % (mode, sni), rc, out, err)
        if res.get("sesscb_loaded") != (self.variant == "sesscb"):
            self.errors.append("python client: libsesscb mapped=%s in the %s variant" %
                               (res.get("sesscb_loaded"), self.variant))
        return flags


def body_flags(out, regex, yes):
    return [m == yes for m in re.findall(regex, out)]
