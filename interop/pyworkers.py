"""A Python `ssl` server with two worker processes, for the store test.

The parent makes one server SSLContext (no session callbacks: Python sets
none) and forks two workers; each serves `count` connections on its own
port, answering every request with a short HTTP reply. Python's per-process
session cache means a session made by one worker never resumes on the
other, unless the store provides a shared one.

    pyworkers.py CERT KEY PORT_A PORT_B COUNT [clean|unclean]

`unclean` closes each connection without a TLS close_notify (no
`unwrap()`, as many Python servers do): OpenSSL then treats the session as
bad and removes it (`SSL_free` -> `ssl_clear_bad_session` ->
`SSL_CTX_remove_session`), in its own cache and, through sesscb, the store.
"""

import os
import socket
import ssl
import sys
sys.dont_write_bytecode = True  # no __pycache__ in the source tree
from pyserve import serve_one  # noqa: E402


def serve(ctx, port, count, clean):
    with socket.create_server(("127.0.0.1", port)) as listener:
        print("LISTEN %d" % port, flush=True)
        for _ in range(count):
            serve_one(ctx, listener.accept()[0], clean)


def main(argv):
    cert, key, port_a, port_b, count = argv[1], argv[2], int(argv[3]), int(argv[4]), int(argv[5])
    clean = (argv[6] if len(argv) > 6 else "clean") == "clean"
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(cert, key)
    # Stateful TLS 1.3 sessions, and TLS 1.2 session ids instead of tickets.
    ctx.options |= ssl.OP_NO_TICKET
    pids = []
    for port in (port_a, port_b):
        pid = os.fork()
        if pid == 0:
            serve(ctx, port, count, clean)
            os._exit(0)
        pids.append(pid)
    status = 0
    for pid in pids:
        _, st = os.waitpid(pid, 0)
        status |= st
    return 0 if status == 0 else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv))
