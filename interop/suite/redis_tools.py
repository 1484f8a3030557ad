"""What the Redis store suite drives: a real redis-server on a loopback port
it chose, a small binary-safe RESP client (to read and tamper with what the
store wrote), fake "Redis" servers (silent, or answering garbage), and a
Python TLS client that times each handshake and carries a session from one
host to another."""

import os
import signal
import socket
import subprocess
import ssl
import threading
import time

from .files import read_text
from .procs import Proc, base_env, free_port, tool, wait_until
from .report import R


class Redis:
    """redis-server on 127.0.0.1:port (and a unix socket), no persistence."""

    def __init__(self, d, extra=(), tls=None):
        """`tls`: (certificate, key) for a TLS port (`self.tls_port`) beside
        the plain one."""
        self.port, self.sock = free_port(), os.path.join(d, "redis.sock")
        if tls:
            self.tls_port = free_port()
            extra = list(extra) + ["--tls-port", str(self.tls_port), "--tls-cert-file", tls[0],
                                   "--tls-key-file", tls[1], "--tls-auth-clients", "no"]
        argv = [tool("redis-server") or "redis-server", "--port", str(self.port), "--bind", "127.0.0.1",
                "--save", "", "--appendonly", "no", "--dir", d, "--unixsocket", self.sock,
                "--unixsocketperm", "700"] + list(extra)
        self.out = os.path.join(d, "redis-%d.log" % self.port)
        self.proc = Proc("redis-server", argv, base_env(), self.out)
        self.ok = wait_until(lambda: "Ready to accept connections" in read_text(self.out) or not self.proc.alive(),
                             10) and self.proc.alive()

    def url(self, password=None):
        return "redis://%s127.0.0.1:%d" % (":%s@" % password if password else "", self.port)

    def tls_url(self):
        return "rediss://127.0.0.1:%d" % self.tls_port

    def call(self, *args, password=None):
        return resp_call(self.port, args, password)

    def keys(self, password=None):
        """Every key the store wrote (SCAN, bounded)."""
        found, cursor = [], b"0"
        for _ in range(1000):
            cursor, batch = self.call("SCAN", cursor, "MATCH", "sesscb:*", "COUNT", "1000", password=password)
            found += batch
            if cursor == b"0":
                break
        return found

    def signal(self, sig):
        os.kill(self.proc.p.pid, sig)

    def alive(self):
        return self.proc.alive()

    def stop(self):
        self.signal(signal.SIGCONT)
        self.proc.stop(signal.SIGTERM, 5)


def started(d, suite):
    """A redis-server for `suite` in `d`, checked as started (else stopped,
    the check failed with its log's tail, and None)."""
    redis = Redis(d)
    if not R.check("%s: redis-server started on a loopback port" % suite, redis.ok,
                   "" if redis.ok else read_text(redis.out)[-500:]):
        redis.stop()
        return None
    return redis


def resp_encode(args):
    out = b"*%d\r\n" % len(args)
    for a in args:
        a = a if isinstance(a, bytes) else str(a).encode()
        out += b"$%d\r\n%s\r\n" % (len(a), a)
    return out


def resp_read(f):
    """One reply from a file-like socket reader (arrays nested)."""
    line = f.readline()
    if not line.endswith(b"\r\n"):
        raise IOError("connection closed")
    kind, rest = line[:1], line[1:-2]
    if kind == b"+":
        return rest
    if kind == b"-":
        raise IOError("server error: %r" % rest)
    if kind == b":":
        return int(rest)
    if kind == b"$":
        n = int(rest)
        return None if n < 0 else f.read(n + 2)[:-2]
    if kind == b"*":
        n = int(rest)
        return None if n < 0 else [resp_read(f) for _ in range(n)]
    raise IOError("not RESP: %r" % line)


def resp_call(port, args, password=None):
    with socket.create_connection(("127.0.0.1", port), timeout=5) as s:
        f = s.makefile("rb")
        if password:
            s.sendall(resp_encode(["AUTH", password]))
            resp_read(f)
        s.sendall(resp_encode(args))
        return resp_read(f)


class Fake:
    """A loopback server that accepts and either never answers ("silent")
    or answers PING with +PONG and everything else with garbage ("garbage")."""

    GARBAGE = b"%\x00\xffnot RESP at all\r\n*-7\r\n$zz\r\n"

    def __init__(self, mode):
        self.mode, self.conns = mode, []
        self.listener = socket.socket()
        self.listener.bind(("127.0.0.1", 0))
        self.listener.listen(64)
        self.port = self.listener.getsockname()[1]
        self.stopped = False
        threading.Thread(target=self.serve, daemon=True).start()

    def serve(self):
        while not self.stopped:
            try:
                self.listener.settimeout(0.2)
                c, _ = self.listener.accept()
            except socket.timeout:
                continue
            except OSError:
                return
            self.conns.append(c)
            if self.mode == "garbage":
                threading.Thread(target=self.answer, args=(c,), daemon=True).start()

    def answer(self, c):
        c.settimeout(0.5)
        while not self.stopped:
            try:
                data = c.recv(65536)
            except socket.timeout:
                continue
            except OSError:
                return
            if not data:
                return
            try:
                c.sendall(b"+PONG\r\n" if b"PING" in data else self.GARBAGE)
            except OSError:
                return

    def close(self):
        self.stopped = True
        for c in self.conns + [self.listener]:
            try:
                c.close()
            except OSError:
                pass


def client_ctx(tls):
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.check_hostname, ctx.verify_mode = False, ssl.CERT_NONE
    version = ssl.TLSVersion.TLSv1_2 if tls == "1.2" else ssl.TLSVersion.TLSv1_3
    ctx.minimum_version = ctx.maximum_version = version
    return ctx


def handshake(ctx, port, session=None):
    """One connection to an `s_server -www`: (reused, session, handshake
    seconds), or (None, None, seconds) when it failed. The reply is read to
    the end, so a TLS 1.3 ticket has arrived."""
    t0 = time.perf_counter()
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=10) as raw:
            t0 = time.perf_counter()
            with ctx.wrap_socket(raw, server_hostname="a.test", session=session,
                                 do_handshake_on_connect=False) as s:
                s.do_handshake()
                took = time.perf_counter() - t0
                s.sendall(b"GET / HTTP/1.0\r\n\r\n")
                while s.recv(65536):
                    pass
                reused, session = s.session_reused, s.session
                try:
                    s.unwrap()  # close_notify: a server that waits for it keeps the session
                except (OSError, ssl.SSLError):
                    pass
                return reused, session, took
    except (OSError, ssl.SSLError):
        return None, None, time.perf_counter() - t0


def percentile(values, p):
    if not values:
        return float("nan")
    v = sorted(values)
    return v[min(len(v) - 1, int(round(p / 100.0 * (len(v) - 1))))]


def tls_pki(d):
    """A CA and a certificate for 127.0.0.1 it signed: (ca, cert, key)."""
    ca, ca_key = os.path.join(d, "redis-ca.crt"), os.path.join(d, "redis-ca.key")
    cert, key, csr = (os.path.join(d, "redis-tls." + x) for x in ("crt", "key", "csr"))
    ext = os.path.join(d, "redis-tls.ext")
    with open(ext, "w") as f:
        f.write("subjectAltName=IP:127.0.0.1\n")
    for argv in (
        ["req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", ca_key, "-out", ca, "-subj", "/CN=redis test CA",
         "-days", "2"],
        ["req", "-newkey", "rsa:2048", "-nodes", "-keyout", key, "-out", csr, "-subj", "/CN=127.0.0.1"],
        ["x509", "-req", "-in", csr, "-CA", ca, "-CAkey", ca_key, "-CAcreateserial", "-out", cert, "-days", "2",
         "-extfile", ext],
    ):
        subprocess.run(["openssl"] + argv, capture_output=True, timeout=60, check=True, env=base_env())
    os.chmod(key, 0o644)
    return ca, cert, key


# Restarts and what Redis executed (the fleet and fault cases) ---------------
LOOKUP_COMMANDS = ("get", "mget", "getdel")


def lookup_calls(redis):
    """How many lookup commands (GET, MGET, GETDEL) Redis has executed so
    far, from INFO commandstats: what reached it, not what was sent."""
    info = redis.call("INFO", "commandstats").decode()
    calls = 0
    for line in info.splitlines():
        name, _, stats = line.partition(":")
        if name in ("cmdstat_" + c for c in LOOKUP_COMMANDS):
            calls += int(dict(kv.split("=") for kv in stats.split(","))["calls"])
    return calls


def kill(redis):
    """SIGKILL: Redis is gone at once, its port closed (nothing persisted)."""
    redis.signal(signal.SIGCONT)
    redis.proc.stop(signal.SIGKILL, 5)


def restart(redis):
    """Starts the same redis-server again (same argv: same port, same
    socket) after `kill`; True once it accepts connections."""
    ready = read_text(redis.out).count("Ready to accept connections")
    redis.proc = Proc("redis-server", list(redis.proc.p.args), base_env(), redis.out)
    redis.ok = wait_until(lambda: read_text(redis.out).count("Ready to accept connections") > ready
                          or not redis.proc.alive(), 10) and redis.proc.alive()
    return redis.ok


class RedisCluster:
    """A Redis Cluster of `masters` redis-servers on loopback ports chosen
    here (each in its own directory, no replicas), joined by `redis-cli
    --cluster create`; `ok` once every node says cluster_state:ok."""

    SETTINGS = ["--cluster-enabled", "yes", "--cluster-config-file", "nodes.conf",
                "--cluster-node-timeout", "1000", "--cluster-require-full-coverage", "no"]

    def __init__(self, d, masters=3, password=None):
        """`password`: every node requires it (AUTH)."""
        self.nodes, self.password = [], password
        auth = ["--requirepass", password, "--masterauth", password] if password else []
        for i in range(masters):
            nd = os.path.join(d, "node%d" % i)
            os.makedirs(nd, exist_ok=True)
            # The bus port is otherwise the port + 10000: past 65535 for a high free port.
            self.nodes.append(Redis(nd, self.SETTINGS + auth + ["--cluster-port", str(free_port())]))
        self.why = ""
        self.ok = all(n.ok for n in self.nodes) and self.create(d) and self.wait_ok()

    def create(self, d):
        argv = [tool("redis-cli") or "redis-cli", "--cluster", "create"] + \
               ["127.0.0.1:%d" % n.port for n in self.nodes] + ["--cluster-replicas", "0", "--cluster-yes"]
        if self.password:
            argv += ["-a", self.password, "--no-auth-warning"]
        try:
            r = subprocess.run(argv, capture_output=True, timeout=60, env=base_env())
        except subprocess.TimeoutExpired:
            self.why = "redis-cli --cluster create timed out"
            return False
        self.why = r.stdout.decode(errors="replace")[-400:] + r.stderr.decode(errors="replace")[-200:]
        return r.returncode == 0

    def wait_ok(self):
        return wait_until(lambda: all(n.alive() and b"cluster_state:ok" in self.info(n) for n in self.nodes), 30)

    def info(self, node):
        try:
            return node.call("CLUSTER", "INFO", password=self.password)
        except (OSError, IOError):
            return b""

    def url(self):
        """The seeds, no credentials (hosts read the password from a file)."""
        return "redis+cluster://" + ",".join("127.0.0.1:%d" % n.port for n in self.nodes)

    def sizes(self):
        """Keys on each node (DBSIZE; None for a node that does not answer)."""
        out = []
        for n in self.nodes:
            try:
                out.append(n.call("DBSIZE", password=self.password))
            except (OSError, IOError):
                out.append(None)
        return out

    def flush(self):
        for n in self.nodes:
            n.call("FLUSHALL", password=self.password)

    def move_keys(self, src, dst):
        """Moves every slot of node `src` that holds keys to node `dst`,
        keys and all (the steps of a resharding: IMPORTING, MIGRATING,
        MIGRATE, SETSLOT NODE on every master). Returns the keys moved."""
        a, b = self.nodes[src], self.nodes[dst]
        id_a, id_b = a.call("CLUSTER", "MYID"), b.call("CLUSTER", "MYID")
        keys = a.keys()
        slots = sorted({a.call("CLUSTER", "KEYSLOT", k) for k in keys})
        for slot in slots:
            b.call("CLUSTER", "SETSLOT", slot, "IMPORTING", id_a)
            a.call("CLUSTER", "SETSLOT", slot, "MIGRATING", id_b)
            in_slot = a.call("CLUSTER", "GETKEYSINSLOT", slot, 1000)
            a.call("MIGRATE", "127.0.0.1", b.port, "", 0, 5000, "KEYS", *in_slot)
            for n in self.nodes:
                n.call("CLUSTER", "SETSLOT", slot, "NODE", id_b)
        return len(keys)

    def kill(self, i):
        self.nodes[i].signal(signal.SIGKILL)
        self.nodes[i].proc.wait(5)

    def stop(self):
        for n in self.nodes:
            if n.alive():
                n.stop()
