"""A Python `ssl` server with default session tickets, for the ticket-key
suite (interop/suite/tickets.py).

Serves `count` connections on `port`, one at a time, answering each request
with a short HTTP reply, then writes sesscb's process counters (the
`tickets_*` fields of `sesscb_stats`, read through ctypes) as JSON to
`stats`. With `own_keys` (160 hex digits), it first sets the context's
ticket keys the way an application does, with
SSL_CTX_set_tlsext_ticket_keys (an SSL_CTX_ctrl), after the context is made.

    tkserver.py CERT KEY PORT COUNT STATS [OWN_KEYS_HEX]
"""

import ctypes
import json
import socket
import ssl
import sys
sys.dont_write_bytecode = True  # no __pycache__ in the source tree
from pyserve import serve_one  # noqa: E402

SSL_CTRL_SET_TLSEXT_TICKET_KEYS = 59
# The tickets_* fields of struct sesscb_stats (include/sesscb.h), by their
# index in 64-bit words after size and flags (8 bytes): 25 counters, these
# 7, the store's 8 Redis counters, then the 4 of the redis ticket keys.
TICKET_FIELDS = [(25 + i, name) for i, name in enumerate(
    ["issued", "decrypted", "renewed", "expired", "unknown", "app_keys", "fallback"])] + \
    [(40 + i, name) for i, name in enumerate(["redis_fetched", "redis_created", "redis_rejected", "redis_error"])]
STATS_U64 = 44


def ssl_ctx_pointer(ctx):
    """The SSL_CTX* inside a CPython SSLContext (the first field after the
    object header): the only way to reach it from the standard library."""
    return ctypes.c_void_p.from_address(id(ctx) + 2 * ctypes.sizeof(ctypes.c_void_p)).value


def set_own_keys(ctx, hex_keys):
    keys = bytes.fromhex(hex_keys)
    libssl = ctypes.CDLL("libssl.so.3")
    libssl.SSL_CTX_ctrl.argtypes = [ctypes.c_void_p, ctypes.c_int, ctypes.c_long, ctypes.c_char_p]
    libssl.SSL_CTX_ctrl.restype = ctypes.c_long
    if libssl.SSL_CTX_ctrl(ssl_ctx_pointer(ctx), SSL_CTRL_SET_TLSEXT_TICKET_KEYS, len(keys), keys) != 1:
        raise SystemExit("SSL_CTX_set_tlsext_ticket_keys failed")


def ticket_stats():
    """sesscb's process counters, or {} when sesscb is not loaded."""
    try:
        fn = ctypes.CDLL(None).sesscb_stats
    except AttributeError:
        return {}
    buf = (ctypes.c_uint64 * (1 + STATS_U64))()
    buf[0] = 8 * (1 + STATS_U64)  # size (u32) and flags (u32) share the first u64
    if fn(None, ctypes.byref(buf)) != 0:
        return {}
    return {name: buf[1 + index] for index, name in TICKET_FIELDS}


def main(argv):
    cert, key, port, count, stats = argv[1], argv[2], int(argv[3]), int(argv[4]), argv[5]
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(cert, key)
    if len(argv) > 6:
        set_own_keys(ctx, argv[6])
    with socket.create_server(("127.0.0.1", port)) as listener:
        print("LISTEN %d" % port, flush=True)
        for _ in range(count):
            serve_one(ctx, listener.accept()[0])
    with open(stats, "w") as f:
        json.dump(ticket_stats(), f)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
