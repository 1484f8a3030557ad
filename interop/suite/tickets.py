"""Shared, rotating session-ticket keys (SESSCB_TICKET_KEYS=keyring).

Stateless tickets (TLS 1.3's default, TLS 1.2 tickets) are encrypted with
keys OpenSSL draws per SSL_CTX, so a ticket made by one process resumes
nowhere else. With the same keyring and domain, every process of sesscb
derives the same epoch keys: a ticket made on A resumes on B.

- s_server pair, TLS 1.3 and 1.2, default tickets: plain 0/4, keyring 4/4;
  the same with the 1.1.1w, 3.5, 3.6 and 4.0 builds' s_server.
- Python `ssl` servers (tkserver.py, which reports sesscb's ticket counters):
  the counters of a cross-server run; a forged or truncated ticket is a full
  handshake and the server keeps serving; an epoch rotation (2 s) during a
  client loop keeps resuming (renewed tickets); a ticket older than the
  lifetime (6 s) is refused; keys the application set with
  SSL_CTX_set_tlsext_ticket_keys win over sesscb's.
- A bad setting leaves OpenSSL's own keys, with one line on stderr.

Plain runs preload sesscb too (SESSCB_TICKET_KEYS unset): what they show is
sesscb off, which must be OpenSSL's own behaviour."""

import json
import os
import signal
import socket
import ssl
import subprocess
import time

from . import config as cfg
from .files import read_text
from .procs import Proc, free_port, wait_until
from .report import R
from .store import SESSCB, SESSIONS, connect, cross_resumed, metrics_totals, resumed_a_to_b, store_env

DOMAIN = "interop-tickets"
TKSERVER = os.path.join(cfg.HERE, "tkserver.py")
ROTATE, LIFETIME = 2, 6


def keyring(d, owner=None):
    """A fresh keyring in `d` (chowned to `owner`'s uid when given, so
    workers that drop privileges can re-read it)."""
    path = os.path.join(d, "ring")
    if not os.path.exists(path):
        subprocess.run([SESSCB, "keygen", path], check=True, capture_output=True, timeout=15)
    if owner is not None:
        os.chown(path, owner, -1)
    return path


def keys_on(d, owner=None, **extra):
    env = {"SESSCB_TICKET_KEYS": "keyring", "SESSCB_STORE_KEYRING": keyring(d, owner),
           "SESSCB_STORE_DOMAIN": DOMAIN}
    env.update(extra)
    return env


def rate(n, total=SESSIONS):
    return "%s/%d" % (n, total)


def s_server_pair(tls):
    """Two s_server processes with default tickets: a ticket made on A
    offered to B, plain vs keyring."""
    plain_dir = cfg.FX.rundir("tickets-s_server-%s-plain" % tls)
    keys_dir = cfg.FX.rundir("tickets-s_server-%s" % tls)
    plain = cross_resumed(plain_dir, tls, store_env(plain_dir), store_env(plain_dir), [])
    env = store_env(keys_dir, keys_on(keys_dir))
    shared = cross_resumed(keys_dir, tls, env, env, [])
    ok = plain == 0 and shared == SESSIONS
    R.row("tickets s_server", tls, "A->B", rate(plain), rate(shared), "ok" if ok else "FAIL")
    R.check("tickets s_server TLS %s: plain resumes none on B" % tls, plain == 0, rate(plain))
    R.check("tickets s_server TLS %s: keyring resumes every one on B" % tls, shared == SESSIONS, rate(shared))


BUILDS = [("1.1.1w", cfg.OSSL111), ("3.5", cfg.OSSL35), ("3.6", cfg.OSSL36), ("4.0", cfg.OSSL40)]


def build_pair(d, tls, env, prefix):
    """Two s_servers of the build at `prefix` (default tickets): a ticket
    made on A offered to B; None if a server did not start."""
    env = dict(env, LD_LIBRARY_PATH=os.path.join(prefix, "lib"))
    procs, ports = [], []
    try:
        for name in ("a", "b"):
            port = free_port()
            argv = [os.path.join(prefix, "bin", "openssl"), "s_server", "-accept", "127.0.0.1:%d" % port, "-www",
                    "-cert", os.path.join(d, "pki/a.test.crt"), "-key", os.path.join(d, "pki/a.test.key")]
            out = os.path.join(d, name + ".out")
            p = Proc(name, argv, env, out, os.path.join(d, name + ".err"))
            procs.append(p)
            ports.append(port)
            if not (wait_until(lambda: "ACCEPT" in read_text(out) or not p.alive(), 10) and p.alive()):
                return None
        return resumed_a_to_b(d, tls, ports[0], ports[1])
    finally:
        for p in procs:
            p.stop(signal.SIGTERM, 5)


def versions(tls):
    """The same s_server pair on every other OpenSSL build present (1.1.1w
    takes the callback_ctrl path, 4.0 its deprecated-but-present form)."""
    for name, prefix in BUILDS:
        if not os.path.exists(os.path.join(prefix, "bin", "openssl")):
            R.note("tickets: OpenSSL %s build absent, not run" % name)
            continue
        plain_d = cfg.FX.rundir("tickets-%s-%s-plain" % (name, tls))
        keys_d = cfg.FX.rundir("tickets-%s-%s" % (name, tls))
        plain = build_pair(plain_d, tls, store_env(plain_d), prefix)
        shared = build_pair(keys_d, tls, store_env(keys_d, keys_on(keys_d)), prefix)
        ok = plain == 0 and shared == SESSIONS
        R.row("tickets s_server %s" % name, tls, "A->B", rate(plain), rate(shared), "ok" if ok else "FAIL")
        R.check("tickets OpenSSL %s TLS %s: plain 0, keyring %d" % (name, tls, SESSIONS), ok,
                "plain %s, keyring %s" % (plain, shared))


class TkServer:
    """tkserver.py serving `count` connections; stats() after it ends."""

    def __init__(self, d, name, env, count, own_keys=None):
        self.port, self.stats_path = free_port(), os.path.join(d, name + ".stats.json")
        argv = [cfg.PYTHON, TKSERVER, os.path.join(d, "pki/a.test.crt"), os.path.join(d, "pki/a.test.key"),
                str(self.port), str(count), self.stats_path] + ([own_keys] if own_keys else [])
        self.out, self.err = os.path.join(d, name + ".out"), os.path.join(d, name + ".err")
        self.proc = Proc(name, argv, env, self.out, self.err)
        self.ok = wait_until(lambda: "LISTEN" in read_text(self.out) or not self.proc.alive(), 10)
        self.ok = bool(self.ok) and self.proc.alive()

    def finish(self):
        """Waits for the served count; the counters it wrote ({} if none)."""
        if self.proc.wait(20) is None:
            self.proc.stop(signal.SIGTERM, 5)
        try:
            with open(self.stats_path) as f:
                return json.load(f)
        except (OSError, ValueError):
            return {}


def py_cross(d, tls, env_a, env_b, own_a=None, own_b=None):
    """SESSIONS tickets made on A offered to B (Python servers); (resumed,
    A's counters, B's counters), resumed None if a server failed."""
    a = TkServer(d, "a", env_a, SESSIONS, own_a)
    b = TkServer(d, "b", env_b, SESSIONS, own_b)
    resumed = None
    if a.ok and b.ok:
        resumed = 0
        for i in range(SESSIONS):
            f = os.path.join(d, "py-%s-%d.pem" % (tls, i))
            if connect(a.port, tls, sess_out=f) != "New":
                resumed = None
                break
            resumed += connect(b.port, tls, sess_in=f) == "Reused"
    return resumed, a.finish(), b.finish()


def python_counted(tls, keys=keys_on, label="tickets"):
    """The counters of a keyring run: A issued every ticket, B decrypted
    every one under the current epoch; nothing fell back or was refused.
    `keys(d)`: the ticket-key settings (keyring mode unless told)."""
    d = cfg.FX.rundir("%s-py-counted-%s" % (label, tls))
    plain_dir = cfg.FX.rundir("%s-py-counted-%s-plain" % (label, tls))
    plain, pa, pb = py_cross(plain_dir, tls, store_env(plain_dir), store_env(plain_dir))
    # The store is off: the ticket keys alone write SESSCB_METRICS_FILE.
    metrics_dir = os.path.join(d, "metrics")
    os.makedirs(metrics_dir, exist_ok=True)
    env = store_env(d, dict(keys(d), SESSCB_METRICS_FILE=os.path.join(metrics_dir, "metrics-%p.prom")))
    shared, a, b = py_cross(d, tls, env, env)
    metrics_counted(label, tls, metrics_dir, a, b)
    R.row("%s python" % label, tls, "A->B", rate(plain), rate(shared), "ok" if plain == 0 and shared == SESSIONS else "FAIL")
    R.check("%s python TLS %s: plain 0, keyring %d" % (label, tls, SESSIONS), plain == 0 and shared == SESSIONS,
            "plain %s, keyring %s" % (plain, shared))
    R.check("%s python TLS %s: sesscb off counts nothing" % (label, tls),
            sum(pa.values()) + sum(pb.values()) == 0 and pa != {}, "A %s B %s" % (pa, pb))
    R.check("%s python TLS %s: A issued >= %d, B decrypted %d, no fallback or refusal" % (label, tls, SESSIONS, SESSIONS),
            a.get("issued", 0) >= SESSIONS and b.get("decrypted") == SESSIONS
            and all(x.get(k) == 0 for x in (a, b) for k in ("fallback", "unknown", "expired", "app_keys")),
            "A %s B %s" % (a, b))


def metrics_counted(label, tls, metrics_dir, a, b):
    """A's and B's metrics files (written at exit at the latest) show
    exactly the tickets counters their sesscb_stats showed."""
    try:
        files, sums = metrics_totals(metrics_dir)
    except (OSError, ValueError) as e:
        files, sums = [], {"error": str(e)}
    got = {k: sums.get(("sesscb_store_tickets_total", k), 0) for k in ("issued", "decrypted")}
    want = {k: a.get(k, 0) + b.get(k, 0) for k in ("issued", "decrypted")}
    R.check("%s python TLS %s: with the store off, the metrics files (%d) count what sesscb_stats did: %r" % (
        label, tls, len(files), got), len(files) == 2 and got == want and got["decrypted"] > 0,
        "metrics %r, sesscb_stats %r" % (sums, want))


def der_len(n):
    if n < 0x80:
        return bytes([n])
    body = n.to_bytes((n.bit_length() + 7) // 8, "big")
    return bytes([0x80 | len(body)]) + body


def der_items(data):
    """(tag, value) of each DER element in `data` (one level)."""
    i, out = 0, []
    while i < len(data):
        tag, n = data[i], data[i + 1]
        i += 2
        if n & 0x80:
            k = n & 0x7F
            n, i = int.from_bytes(data[i:i + k], "big"), i + k
        out.append((tag, data[i:i + n]))
        i += n
    return out


def with_ticket(der, change):
    """The SSL_SESSION DER `der` with its ticket ([10] OCTET STRING)
    replaced by change(ticket); None if it holds no ticket."""
    (top_tag, body), = der_items(der)
    items, found = [], False
    for tag, value in der_items(body):
        if tag == 0xAA:
            (_, ticket), = der_items(value)
            octets = b"\x04" + der_len(len(change(ticket))) + change(ticket)
            value, found = octets, True
        items.append(bytes([tag]) + der_len(len(value)) + value)
    inner = b"".join(items)
    return bytes([top_tag]) + der_len(len(inner)) + inner if found else None


FORGERIES = [
    ("name flipped", lambda t: bytes([t[0] ^ 1]) + t[1:]),
    ("body flipped", lambda t: t[:40] + bytes([t[40] ^ 1]) + t[41:]),
    ("MAC flipped", lambda t: t[:-1] + bytes([t[-1] ^ 1])),
    ("truncated to 20 bytes", lambda t: t[:20]),
    ("truncated by half", lambda t: t[:len(t) // 2]),
]


def forged(tls, keys=keys_on, label="tickets"):
    """Forged and truncated tickets: each a full handshake, the server alive
    and still resuming a genuine ticket afterwards."""
    d = cfg.FX.rundir("%s-forged-%s" % (label, tls))
    s = TkServer(d, "a", store_env(d, keys(d)), 2 + 2 * len(FORGERIES))
    genuine = os.path.join(d, "genuine.pem")
    outcomes = []
    if s.ok and connect(s.port, tls, sess_out=genuine) == "New":
        der = subprocess.run(["openssl", "sess_id", "-in", genuine, "-outform", "DER"], capture_output=True,
                             timeout=15).stdout
        for name, change in FORGERIES:
            bad = with_ticket(der, change)
            path = os.path.join(d, "forged.pem")
            pem = subprocess.run(["openssl", "sess_id", "-inform", "DER", "-out", path], input=bad or b"",
                                 capture_output=True, timeout=15)
            outcomes.append((name, connect(s.port, tls, sess_in=path) if bad and pem.returncode == 0 else "no-der"))
            # The connection that follows shows the server survived.
            outcomes.append((name + ", then a new client", connect(s.port, tls)))
        outcomes.append(("genuine", connect(s.port, tls, sess_in=genuine)))
    counts = s.finish()
    want = [(n, "New") for n, _ in FORGERIES for n in (n, n + ", then a new client")] + [("genuine", "Reused")]
    R.check("%s TLS %s: forged/truncated tickets -> full handshake, server alive" % (label, tls),
            outcomes == want,
            "%s; counters %s" % (outcomes, counts))
    R.check("%s TLS %s: a forged name counts as unknown" % (label, tls), counts.get("unknown", 0) >= 1, str(counts))


CLIENTS = {}


def py_hello(port, tls, session=None):
    """One connection from this driver (Python's ssl, no sesscb) with a
    request read to EOF: (resumed, the connection's latest session), or
    (None, None). Unlike s_client -sess_out, the session kept is the one a
    TLS 1.2 renewal replaced, so a client loop follows renewed tickets."""
    ctx = CLIENTS.get(tls)
    if ctx is None:
        # One context per version: Python resumes a session only in its own.
        ctx = CLIENTS[tls] = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        ctx.load_verify_locations(cfg.FX.ca)
        version = ssl.TLSVersion.TLSv1_3 if tls == "1.3" else ssl.TLSVersion.TLSv1_2
        ctx.minimum_version = ctx.maximum_version = version
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=10) as raw:
            with ctx.wrap_socket(raw, server_hostname="a.test", session=session) as conn:
                conn.sendall(b"GET / HTTP/1.0\r\n\r\n")
                while conn.recv(4096):
                    pass
                return conn.session_reused, conn.session
    except (OSError, ssl.SSLError):
        return None, None


def rotation(tls, keys=keys_on, label="tickets"):
    """A client that keeps resuming (each time with the session it was last
    given) across several 2-second epochs, and offers its first ticket
    again once it is older than the 6-second lifetime. `keys(d, **extra)`:
    the ticket-key settings (keyring mode unless told); the counters."""
    d = cfg.FX.rundir("%s-rotation-%s" % (label, tls))
    env = store_env(d, keys(d, SESSCB_TICKET_ROTATE=str(ROTATE), SESSCB_TICKET_LIFETIME=str(LIFETIME)))
    loop = 20
    s = TkServer(d, "a", env, loop + 2)
    timeline = []
    if s.ok:
        t0 = time.time()
        reused, first = py_hello(s.port, tls)
        timeline.append((0.0, int(t0 // ROTATE), {False: "New", True: "Reused"}.get(reused)))
        session, late = first, None
        for _ in range(loop):
            time.sleep(0.45)
            if late is None and time.time() - t0 > LIFETIME + 0.5:
                # The first session, never renewed, is now past the lifetime.
                late, _ = py_hello(s.port, tls, first)
                late = {False: "New", True: "Reused"}.get(late, "failed")
                timeline.append((round(time.time() - t0, 1), int(time.time() // ROTATE), "first ticket: " + late))
            reused, session = py_hello(s.port, tls, session)
            outcome = {False: "New", True: "Reused"}.get(reused)
            timeline.append((round(time.time() - t0, 1), int(time.time() // ROTATE), outcome))
            if session is None:
                break
    counts = s.finish()
    epochs = {e for _, e, _ in timeline}
    resumed = [o for _, _, o in timeline[1:] if not (o or "").startswith("first ticket")]
    late = [o for _, _, o in timeline if o and o.startswith("first ticket")]
    R.note("%s rotation TLS %s (rotate %ds, lifetime %ds): %s; counters %s"
           % (label, tls, ROTATE, LIFETIME, " ".join("%.1fs:e%d:%s" % t for t in timeline), counts))
    R.row("%s rotation" % label, tls, "%d epochs" % len(epochs), "-", rate(resumed.count("Reused"), loop),
          "ok" if resumed.count("Reused") == loop else "FAIL")
    R.check("%s TLS %s: a client loop over %d epochs keeps resuming" % (label, tls, len(epochs)),
            len(epochs) >= 4 and resumed == ["Reused"] * loop and timeline[0][2] == "New", str(timeline))
    R.check("%s TLS %s: tickets of an old epoch are renewed" % (label, tls), counts.get("renewed", 0) >= 1,
            str(counts))
    R.check("%s TLS %s: a ticket older than the lifetime -> full handshake" % (label, tls),
            late == ["first ticket: New"] and counts.get("expired", 0) >= 1,
            str(counts))
    return counts


def own_keys(tls, keys=keys_on, label="tickets"):
    """An application's SSL_CTX_set_tlsext_ticket_keys wins: a ticket from
    a plain server with keys K resumes on a keyring server with K (as on a
    plain one), and one from a keyring server with K resumes nowhere else."""
    k = os.urandom(80).hex()
    d = cfg.FX.rundir("%s-own-keys-%s" % (label, tls))
    plain_d = cfg.FX.rundir("%s-own-keys-%s-plain" % (label, tls))
    plain, _, _ = py_cross(plain_d, tls, store_env(plain_d), store_env(plain_d), k, k)
    env = store_env(d, keys(d))
    with_keys, _, b = py_cross(d, tls, store_env(d), env, k, k)
    d2 = cfg.FX.rundir("%s-own-keys-%s-other" % (label, tls))
    others, a2, _ = py_cross(d2, tls, store_env(d2, keys(d)), store_env(d2, keys(d)), k, None)
    R.row("%s own keys" % label, tls, "K->K", rate(plain), rate(with_keys), "ok" if plain == with_keys == SESSIONS else "FAIL")
    R.check("%s TLS %s: application keys: plain and sesscb resume alike (%d)" % (label, tls, SESSIONS),
            plain == with_keys == SESSIONS and b.get("app_keys", 0) >= SESSIONS and b.get("decrypted") == 0,
            "plain %s, sesscb %s, counters %s" % (plain, with_keys, b))
    R.check("%s TLS %s: a ticket under the application's keys is not sesscb's" % (label, tls),
            others == 0 and a2.get("issued") == 0, "resumed %s, A counters %s" % (others, a2))


def bad_setting():
    """A missing keyring: OpenSSL's own keys, one line on stderr."""
    d = cfg.FX.rundir("tickets-bad")
    env = store_env(d, {"SESSCB_TICKET_KEYS": "keyring", "SESSCB_STORE_DOMAIN": DOMAIN})
    resumed, _a, b = py_cross(d, "1.3", env, env)
    err = read_text(os.path.join(d, "a.err"))
    R.check("tickets: no keyring -> own keys, one line, server serves",
            resumed == 0 and err.count("sesscb: ticket keys off: SESSCB_STORE_KEYRING") == 1
            and sum(b.values()) == 0, "resumed %s, stderr %r" % (resumed, err[-300:]))


def test_tickets():
    if not os.access(SESSCB, os.X_OK):
        R.check("tickets: %s built" % SESSCB, False, "run `make lib`")
        return
    for tls in cfg.TLS_VERSIONS:
        s_server_pair(tls)
        versions(tls)
        python_counted(tls)
        forged(tls)
        own_keys(tls)
    for tls in cfg.TLS_VERSIONS:
        rotation(tls)
    bad_setting()

