"""A Python `ssl` server that forks while it is busy issuing tickets, for
the ticket-key fork test (interop/suite/tickets_fork.py).

The parent makes its context, serves PORT_PARENT from a thread, and runs a
client thread of its own against it, so ticket keys are in use (the key
cache's lock taken) at the moment of each fork. While that goes on it
forks STRESS short-lived children, each finishing one in-memory handshake
that issues a ticket (even ones with the inherited context, odd ones with a
context made after the fork): a child that hung on a lock held at the fork
would be killed after a bound and counted. Then it forks two serving
children; each makes its own context after the fork (as a process that
builds its own ctx: with OpenSSL's keys, nothing made elsewhere resumes
there), listens on its port and serves COUNT connections. Every process
writes its ticket counters (tkserver.ticket_stats) to STATS_DIR/<name>.json;
the parent also writes the stress outcome.

    tkfork.py CERT KEY STATS_DIR PORT_PARENT PORT_C1 PORT_C2 COUNT STRESS
"""

import json
import os
import re
import socket
import ssl
import subprocess
import sys
import threading
import time
sys.dont_write_bytecode = True  # no __pycache__ in the source tree
from pyserve import serve_one  # noqa: E402
from tkserver import ticket_stats  # noqa: E402

CHILD_BOUND = 10.0  # seconds a stress child may take before it counts as hung


def server_ctx(cert, key):
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(cert, key)
    return ctx


def client_ctx():
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.check_hostname, ctx.verify_mode = False, ssl.CERT_NONE
    return ctx


def write_stats(stats_dir, name, extra=None):
    with open(os.path.join(stats_dir, name + ".json"), "w") as f:
        json.dump(dict(ticket_stats(), **(extra or {})), f)


def memory_handshake(server):
    """One TLS 1.3 handshake over memory BIOs, the server's ticket read by
    the client: True when it completed."""
    c_in, c_out, s_in, s_out = ssl.MemoryBIO(), ssl.MemoryBIO(), ssl.MemoryBIO(), ssl.MemoryBIO()
    client = client_ctx().wrap_bio(c_in, c_out, server_side=False)
    srv = server.wrap_bio(s_in, s_out, server_side=True)
    done = [False, False]
    for _ in range(20):  # a handshake takes a few flights
        for i, (obj, out, peer_in) in enumerate(((client, c_out, s_in), (srv, s_out, c_in))):
            try:
                if not done[i]:
                    obj.do_handshake()
                    done[i] = True
            except ssl.SSLWantReadError:
                pass
            peer_in.write(out.read())
        if all(done):
            break
    try:
        client.read(1)  # takes in the NewSessionTicket
    except ssl.SSLError:
        pass
    return all(done)


def stress_child(inherited, cert, key):
    """Runs in a forked child: one handshake, then exit 0 (3 if it failed)."""
    ctx = inherited if inherited is not None else server_ctx(cert, key)
    os._exit(0 if memory_handshake(ctx) else 3)


def where_hung(pid):
    """Where a hung child waits (its stack by gdb, written to stderr):
    'hung: sesscb' when a sesscb frame is on it, or no stack could be
    taken; 'hung: openssl' when the stack was taken and holds none.

    OpenSSL 3 itself is not fork-safe while other threads use it: a child
    forked while another thread of the parent holds, say, the provider
    store's lock waits on it forever (seen: EVP_KDF_fetch in a handshake's
    key schedule, no sesscb frame). This test is about sesscb's locks."""
    try:
        bt = subprocess.run(["gdb", "-p", str(pid), "-batch", "-ex", "thread apply all bt"],
                            capture_output=True, text=True, timeout=30).stdout
    except (OSError, subprocess.SubprocessError) as e:
        bt = "no stack: %s" % e
    sys.stderr.write("HUNG child %d:\n%s\n" % (pid, bt))
    sys.stderr.flush()
    taken = re.search(r"^#0 ", bt, re.M) is not None
    return "hung: openssl" if taken and "libsesscb" not in bt else "hung: sesscb"


def reap(pid, bound):
    """The child's exit code, or after `bound` seconds where it hung (then
    it is killed): see where_hung."""
    deadline = time.monotonic() + bound
    while time.monotonic() < deadline:
        done, status = os.waitpid(pid, os.WNOHANG)
        if done:
            return os.waitstatus_to_exitcode(status)
        time.sleep(0.02)
    verdict = where_hung(pid)
    os.kill(pid, 9)
    os.waitpid(pid, 0)
    return verdict


def serving_child(cert, key, port, count, stats_dir, name):
    ctx = server_ctx(cert, key)  # made after the fork
    with socket.create_server(("127.0.0.1", port)) as own:
        print("CHILD %d" % port, flush=True)
        for _ in range(count):
            serve_one(ctx, own.accept()[0])
    write_stats(stats_dir, name)
    os._exit(0)


def keep_busy(port, stop, done):
    """The parent's own client loop: handshakes on the parent's server."""
    ctx = client_ctx()
    while not stop.is_set():
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=5) as raw:
                with ctx.wrap_socket(raw) as conn:
                    conn.sendall(b"GET / HTTP/1.0\r\n\r\n")
                    conn.recv(4096)
            done.append(1)
        except (OSError, ssl.SSLError):
            time.sleep(0.01)


def serve_forever(ctx, listener, stop):
    listener.settimeout(0.2)
    while not stop.is_set():
        try:
            conn = listener.accept()[0]
        except OSError:
            continue
        conn.settimeout(5)
        serve_one(ctx, conn)


def fork_stress(ctx, cert, key, n, busy):
    outcomes = []
    for i in range(n):
        before = len(busy)
        pid = os.fork()
        if pid == 0:
            stress_child(ctx if i % 2 == 0 else None, cert, key)
        outcomes.append(reap(pid, CHILD_BOUND))
        # Let the parent's client finish a handshake before the next fork.
        deadline = time.monotonic() + 2
        while len(busy) == before and time.monotonic() < deadline:
            time.sleep(0.005)
    return outcomes


def main(argv):
    cert, key, stats_dir = argv[1], argv[2], argv[3]
    ports, count, stress = [int(p) for p in argv[4:7]], int(argv[7]), int(argv[8])
    ctx = server_ctx(cert, key)
    stop, busy = threading.Event(), []
    with socket.create_server(("127.0.0.1", ports[0])) as listener:
        threads = [threading.Thread(target=serve_forever, args=(ctx, listener, stop)),
                   threading.Thread(target=keep_busy, args=(ports[0], stop, busy))]
        for t in threads:
            t.start()
        outcomes = fork_stress(ctx, cert, key, stress, busy)
        children = []
        for name, port in (("c1", ports[1]), ("c2", ports[2])):
            pid = os.fork()
            if pid == 0:
                serving_child(cert, key, port, count, stats_dir, name)
            children.append(pid)
        print("LISTEN %d" % ports[0], flush=True)
        exits = [reap(pid, 120) for pid in children]
        stop.set()
        for t in threads:
            t.join(10)
    write_stats(stats_dir, "parent", {"stress": outcomes, "children": exits, "busy": len(busy)})
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
