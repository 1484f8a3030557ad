"""A Python `ssl` server that forks after it has served, for the Redis
store's fork test.

The parent serves one connection on PORT_PARENT (so its store, Redis thread
and Redis connections exist), then forks: the child serves COUNT
connections on PORT_CHILD, the parent COUNT more on PORT_PARENT. A child
must never use the sockets it inherited; it makes its own.

    pyforked.py CERT KEY PORT_PARENT PORT_CHILD COUNT
"""

import os
import socket
import ssl
import sys
import time
sys.dont_write_bytecode = True  # no __pycache__ in the source tree
from pyserve import serve_one  # noqa: E402


def serve(ctx, listener, count):
    for _ in range(count):
        serve_one(ctx, listener.accept()[0])


def main(argv):
    cert, key, port_parent, port_child, count = argv[1], argv[2], int(argv[3]), int(argv[4]), int(argv[5])
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(cert, key)
    ctx.options |= ssl.OP_NO_TICKET  # TLS 1.2 session ids, stateful TLS 1.3
    with socket.create_server(("127.0.0.1", port_parent)) as listener:
        print("LISTEN %d" % port_parent, flush=True)
        serve(ctx, listener, 1)
        time.sleep(0.5)  # the parent's Redis connections are made
        pid = os.fork()
        if pid == 0:
            listener.close()
            with socket.create_server(("127.0.0.1", port_child)) as own:
                print("CHILD %d" % port_child, flush=True)
                serve(ctx, own, count)
            os._exit(0)
        serve(ctx, listener, count)
        _, status = os.waitpid(pid, 0)
    return 0 if status == 0 else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv))
