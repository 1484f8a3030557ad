"""The run's temp dir, a CA with leaf certificates, and an HTTP backend."""

import os
import shutil
import socketserver
import tempfile
import threading

from .files import read_text
from .procs import run
from .report import log


class Fixture:
    """The temp dir, a CA and leaf certificates for a.test, b.test, c.test."""

    def __init__(self):
        self.tmp = tempfile.mkdtemp(prefix="sesscb-interop-")
        os.chmod(self.tmp, 0o755)  # unprivileged workers traverse it
        self.pki = os.path.join(self.tmp, "pki")
        os.mkdir(self.pki)
        os.chmod(self.pki, 0o755)
        self.ca = os.path.join(self.pki, "ca.crt")
        self._make_pki()
        self.http_port = None
        self._http = None

    def _make_pki(self):
        p = self.pki
        rc, _o, err = run(["openssl", "req", "-x509"] + KEY + ["-keyout", p + "/ca.key", "-out", self.ca, "-days", "3",
                          "-subj", "/CN=sesscb interop CA", "-addext", "basicConstraints=critical,CA:TRUE",
                          "-addext", "keyUsage=critical,keyCertSign,cRLSign"])
        if rc != 0:
            raise RuntimeError("CA: " + err)
        for name in ("a.test", "b.test", "c.test"):
            self._make_leaf(name)

    def _make_leaf(self, name):
        p = self.pki
        ext = os.path.join(p, name + ".ext")
        with open(ext, "w") as f:
            f.write("subjectAltName=DNS:%s\nbasicConstraints=CA:FALSE\nextendedKeyUsage=serverAuth\n" % name)
        rc, _o, err = run(["openssl", "req"] + KEY + ["-keyout", "%s/%s.key" % (p, name),
                          "-out", "%s/%s.csr" % (p, name), "-subj", "/CN=" + name])
        if rc == 0:
            rc, _o, err = run(["openssl", "x509", "-req", "-in", "%s/%s.csr" % (p, name), "-CA", self.ca, "-CAkey",
                              p + "/ca.key", "-CAcreateserial", "-days", "3", "-extfile", ext,
                              "-out", "%s/%s.crt" % (p, name)])
        if rc != 0:
            raise RuntimeError(name + ": " + err)
        with open("%s/%s.pem" % (p, name), "w") as f:  # haproxy: cert + key
            f.write(read_text("%s/%s.crt" % (p, name)) + read_text("%s/%s.key" % (p, name)))
        os.chmod("%s/%s.pem" % (p, name), 0o600)

    def rundir(self, name):
        d = os.path.join(self.tmp, name)
        os.makedirs(d, exist_ok=True)
        os.chmod(d, 0o755)
        link = os.path.join(d, "pki")
        if not os.path.exists(link):
            os.symlink(self.pki, link)
        return d

    def start_http_backend(self):
        """A plain HTTP/1.0 server (stunnel's backend), in a thread."""
        if self._http:
            return self.http_port
        self._http = HttpBackend(("127.0.0.1", 0), HttpHandler)
        self.http_port = self._http.server_address[1]
        threading.Thread(target=self._http.serve_forever, daemon=True).start()
        return self.http_port

    def close(self, keep):
        if self._http:
            self._http.shutdown()
            self._http.server_close()
        if keep:
            log("temp dir kept: " + self.tmp)
        else:
            shutil.rmtree(self.tmp, ignore_errors=True)


KEY = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes"]


class HttpHandler(socketserver.BaseRequestHandler):
    def handle(self):
        self.request.settimeout(5)
        data = b""
        try:
            while b"\r\n\r\n" not in data:
                chunk = self.request.recv(4096)
                if not chunk:
                    break
                data += chunk
            body = b"backend ok\n"
            self.request.sendall(b"HTTP/1.0 200 OK\r\nContent-Type: text/plain\r\nContent-Length: %d\r\n"
                                 b"Connection: close\r\n\r\n%s" % (len(body), body))
        except OSError:
            pass


class HttpBackend(socketserver.ThreadingTCPServer):
    daemon_threads = True
    allow_reuse_address = True
