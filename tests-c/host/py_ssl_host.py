#!/usr/bin/python3
"""Host-safety case 2: CPython's ssl module with sesscb preloaded.

Run with /usr/bin/python3 (its _ssl extension is linked to libssl.so.3 and
imported with a *local* dlopen, so sesscb's dlsym(RTLD_NEXT) cannot see
libssl), once without and once with LD_PRELOAD=libsesscb.so; the test
compares the outputs, which must be identical apart from the PATH and
REALGET lines.

    py_ssl_host.py sockets   loopback TLS server (thread) + client, four
                             resumption flavours; prints RESUME lines
    py_ssl_host.py ctypes    the same server, plus an external session cache
                             set through ctypes on the server's SSL_CTX
                             (SSL_CTX_sess_set_*_cb by plain name, i.e. sesscb
                             under LD_PRELOAD, else libssl's); prints CTYPES,
                             PATH, REALGET lines

Every socket has a timeout; every thread join is bounded. Exit status 0 only
if every check holds (CHECK FAIL lines say which did not).
"""

import ctypes
import gc
import os
import socket
import ssl
import sys
import tempfile
import threading

TEST_KEY_PEM = """-----BEGIN PRIVATE KEY-----
MIGHAgEAMBMGByqGSM49AgEGCCqGSM49AwEHBG0wawIBAQQgE6pjnaKdPeL91+28
VREyAYp3Esa6iHQrAHqTo5IU1FqhRANCAAR9+t1PxZWKvt5OlR7/bHDGn96NwPpN
3KZhI7OSu3LiilPnroudj1AjFCR9WmDKI2V6LuK1HK8QTR+KCWGBV8m1
-----END PRIVATE KEY-----
"""
TEST_CERT_PEM = """-----BEGIN CERTIFICATE-----
MIIBfjCCASWgAwIBAgIUbfdIuz7MxftfmqCvatWY7gqcD6swCgYIKoZIzj0EAwIw
FDESMBAGA1UEAwwJbG9jYWxob3N0MCAXDTI2MTEyNTE5NTc1M1oYDzIxMjYxMTAx
MTk1NzUzWjAUMRIwEAYDVQQDDAlsb2NhbGhvc3QwWTATBgcqhkjOPQIBBggqhkjO
PQMBBwNCAAR9+t1PxZWKvt5OlR7/bHDGn96NwPpN3KZhI7OSu3LiilPnroudj1Aj
FCR9WmDKI2V6LuK1HK8QTR+KCWGBV8m1o1MwUTAdBgNVHQ4EFgQUZ6OQEOyORhTT
wrmSU/lyR5wvji0wHwYDVR0jBBgwFoAUZ6OQEOyORhTTwrmSU/lyR5wvji0wDwYD
VR0TAQH/BAUwAwEB/zAKBggqhkjOPQQDAgNHADBEAiAQ4jQ67kwThyyQXdI1De0b
O6CzEIrb0XTGY4iXnyuzFQIgVmeWCTmRYw20Nq8yqwVr/FRis+c6Tf/LoUje3N4T
K3E=
-----END CERTIFICATE-----
"""

TIMEOUT = 10.0
FAILED = []


def check(ok, what):
    print("CHECK %s %s" % ("ok" if ok else "FAIL", what), flush=True)
    if not ok:
        FAILED.append(what)


# Flavours: (name, TLS version, tickets). TLS 1.3 without tickets means
# OpenSSL's stateful tickets (the session id in the server's cache).
FLAVOURS = [
    ("tls12-sessionid", ssl.TLSVersion.TLSv1_2, False),
    ("tls12-ticket", ssl.TLSVersion.TLSv1_2, True),
    ("tls13-stateful", ssl.TLSVersion.TLSv1_3, False),
    ("tls13-ticket", ssl.TLSVersion.TLSv1_3, True),
]


def server_context(certfile, keyfile, version, tickets):
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(certfile, keyfile)
    ctx.minimum_version = ctx.maximum_version = version
    if not tickets:
        ctx.options |= ssl.OP_NO_TICKET
    return ctx


def client_context(version):
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    ctx.minimum_version = ctx.maximum_version = version
    return ctx


def run_connections(sctx, cctx, count):
    """`count` sequential loopback connections, each offering the previous
    session. Returns [(client_reused, server_reused, echo_ok)]."""
    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    listener.settimeout(TIMEOUT)
    listener.bind(("127.0.0.1", 0))
    listener.listen(4)
    port = listener.getsockname()[1]
    server_reused = []
    errors = []

    def serve():
        try:
            for _ in range(count):
                conn, _ = listener.accept()
                conn.settimeout(TIMEOUT)
                with sctx.wrap_socket(conn, server_side=True) as tls:
                    data = tls.recv(16)
                    tls.sendall(b"pong:" + data)
                    server_reused.append(tls.session_reused)
                    # Clean TLS shutdown: the client's close_notify, then
                    # ours (an unclean close makes OpenSSL drop the session
                    # from the cache, with or without sesscb).
                    if tls.recv(16) == b"":
                        tls.unwrap()
        except Exception as e:  # reported by the main thread
            errors.append(repr(e))

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    results = []
    session = None
    try:
        for _ in range(count):
            with socket.create_connection(("127.0.0.1", port), timeout=TIMEOUT) as raw:
                with cctx.wrap_socket(raw, server_hostname="localhost", session=session) as tls:
                    tls.sendall(b"ping")
                    reply = tls.recv(16)
                    results.append([tls.session_reused, None, reply == b"pong:ping"])
                    session = tls.session
                    tls.unwrap()
    finally:
        thread.join(TIMEOUT)
        listener.close()
    check(not thread.is_alive(), "server thread finished")
    check(not errors, "server thread raised nothing %s" % (errors,))
    for i, r in enumerate(results):
        r[1] = server_reused[i] if i < len(server_reused) else None
    return [tuple(r) for r in results]


def mode_sockets(certfile, keyfile):
    for name, version, tickets in FLAVOURS:
        res = run_connections(server_context(certfile, keyfile, version, tickets), client_context(version), 3)
        line = " ".join("c%d=%s/%s/%s" % (i, *r) for i, r in enumerate(res))
        print("RESUME %s %s" % (name, line), flush=True)
        check(len(res) == 3 and all(r[2] for r in res), "%s: 3 connections, data echoed" % name)
        check(res and not res[0][0] and not res[0][1], "%s: first connection is a full handshake" % name)
        check(all(r[0] and r[1] for r in res[1:]), "%s: later connections resumed (client and server)" % name)


# --------------------------------------------------------------- ctypes

def mode_ctypes(certfile, keyfile):
    c_void_p, c_int, c_uint = ctypes.c_void_p, ctypes.c_int, ctypes.c_uint
    # _ssl already loaded libssl.so.3 (locally); this returns the same object.
    libssl = ctypes.CDLL("libssl.so.3")
    libc = ctypes.CDLL(None)

    class DlInfo(ctypes.Structure):
        _fields_ = [("fname", ctypes.c_char_p), ("fbase", c_void_p), ("sname", ctypes.c_char_p), ("saddr", c_void_p)]

    libc.dladdr.argtypes = [c_void_p, ctypes.POINTER(DlInfo)]

    def object_of(fn):
        info = DlInfo()
        addr = ctypes.cast(fn, c_void_p).value
        if not addr or libc.dladdr(addr, ctypes.byref(info)) == 0 or not info.fname:
            return "?"
        return info.fname.decode()

    maps = open("/proc/self/maps").read()
    libssl_paths = sorted({line.split()[-1] for line in maps.splitlines() if "/libssl.so" in line})
    check(len(libssl_paths) == 1, "exactly one libssl mapped %s" % libssl_paths)
    check(not hasattr(libc, "SSL_new"), "libssl is not in the global scope (local dlopen by _ssl)")

    # The six by plain name: the global scope has them only when sesscb is
    # preloaded; otherwise use libssl's.
    try:
        six_lib = libc
        six_lib.SSL_CTX_sess_set_new_cb
    except AttributeError:
        six_lib = libssl
    NEW = ctypes.CFUNCTYPE(c_int, c_void_p, c_void_p)
    GET = ctypes.CFUNCTYPE(c_void_p, c_void_p, c_void_p, c_int, ctypes.POINTER(c_int))
    REMOVE = ctypes.CFUNCTYPE(None, c_void_p, c_void_p)
    six = {}
    for kind, cbtype in (("new", NEW), ("get", GET), ("remove", REMOVE)):
        setter = getattr(six_lib, "SSL_CTX_sess_set_%s_cb" % kind)
        setter.argtypes, setter.restype = [c_void_p, cbtype], None
        getter = getattr(six_lib, "SSL_CTX_sess_get_%s_cb" % kind)
        getter.argtypes, getter.restype = [c_void_p], c_void_p
        real_getter = getattr(libssl, "SSL_CTX_sess_get_%s_cb" % kind)
        real_getter.argtypes, real_getter.restype = [c_void_p], c_void_p
        six[kind] = (setter, getter, real_getter)
    where = object_of(six["new"][0])
    via_sesscb = "libsesscb" in where
    print("PATH %s %s" % ("sesscb" if via_sesscb else "libssl", where), flush=True)
    check(via_sesscb == (six_lib is libc), "plain names are sesscb's exactly when they resolve globally")

    libssl.SSL_CTX_get_options.argtypes, libssl.SSL_CTX_get_options.restype = [c_void_p], ctypes.c_uint64
    libssl.SSL_CTX_ctrl.argtypes, libssl.SSL_CTX_ctrl.restype = [c_void_p, c_int, ctypes.c_long, c_void_p], ctypes.c_long
    libssl.SSL_SESSION_get_id.argtypes = [c_void_p, ctypes.POINTER(c_uint)]
    libssl.SSL_SESSION_get_id.restype = c_void_p
    libssl.i2d_SSL_SESSION.argtypes, libssl.i2d_SSL_SESSION.restype = [c_void_p, ctypes.POINTER(c_void_p)], c_int
    libssl.d2i_SSL_SESSION.argtypes = [c_void_p, ctypes.POINTER(c_void_p), ctypes.c_long]
    libssl.d2i_SSL_SESSION.restype = c_void_p

    sctx = server_context(certfile, keyfile, ssl.TLSVersion.TLSv1_2, tickets=False)
    # CPython 3.11: PySSLContext is { PyObject_HEAD; SSL_CTX *ctx; ... }.
    # Verified below before use: the options read through the pointer must
    # track ctx.options.
    ctx_ptr = c_void_p.from_address(id(sctx) + object.__basicsize__).value
    ok = bool(ctx_ptr) and libssl.SSL_CTX_get_options(ctx_ptr) == sctx.options
    if ok:
        sctx.options |= ssl.OP_NO_RENEGOTIATION
        ok = libssl.SSL_CTX_get_options(ctx_ptr) == sctx.options
    check(ok, "located the server SSLContext's SSL_CTX*")
    if not ok:
        return

    counts = {"new": 0, "get": 0, "hit": 0, "remove": 0, "bad": 0}
    store = {}

    def on_new(ssl_p, sess_p):
        counts["new"] += 1
        if not ssl_p or not sess_p:
            counts["bad"] += 1
            return 0
        n = c_uint()
        sid = ctypes.string_at(libssl.SSL_SESSION_get_id(sess_p, ctypes.byref(n)), n.value)
        size = libssl.i2d_SSL_SESSION(sess_p, None)
        buf = ctypes.create_string_buffer(size)
        p = c_void_p(ctypes.addressof(buf))
        libssl.i2d_SSL_SESSION(sess_p, ctypes.byref(p))
        store[sid] = buf.raw
        return 0

    def on_get(ssl_p, data, length, copy):
        counts["get"] += 1
        if not ssl_p or not data or length <= 0 or copy[0] != 1:
            counts["bad"] += 1
            return None
        der = store.get(ctypes.string_at(data, length))
        if der is None:
            return None
        buf = ctypes.create_string_buffer(der, len(der))
        p = c_void_p(ctypes.addressof(buf))
        sess = libssl.d2i_SSL_SESSION(None, ctypes.byref(p), len(der))
        if sess:
            counts["hit"] += 1
            copy[0] = 0
        return sess

    def on_remove(ctx_p, sess_p):
        counts["remove"] += 1

    callbacks = {"new": NEW(on_new), "get": GET(on_get), "remove": REMOVE(on_remove)}
    # External cache only: SSL_SESS_CACHE_SERVER | SSL_SESS_CACHE_NO_INTERNAL.
    libssl.SSL_CTX_ctrl(ctx_ptr, 44, 0x0002 | 0x0300, None)
    for kind, cb in callbacks.items():
        six[kind][0](ctx_ptr, cb)
    app = {k: ctypes.cast(cb, c_void_p).value for k, cb in callbacks.items()}
    check(all(six[k][1](ctx_ptr) == app[k] for k in app), "getters return the application's callbacks")
    real = {k: six[k][2](ctx_ptr) for k in app}
    if via_sesscb:
        check(all(real[k] and real[k] != app[k] for k in app),
              "real getters return something other than the application's pointers (sesscb trampolines)")
        check(all("libsesscb" in object_of(c_void_p(real[k])) for k in app), "... inside libsesscb")
        print("REALGET trampoline", flush=True)
    else:
        check(all(real[k] == app[k] for k in app), "without sesscb the real getters return the application's pointers")
        print("REALGET app", flush=True)

    res = run_connections(sctx, client_context(ssl.TLSVersion.TLSv1_2), 3)
    print("CTYPES new=%(new)d get=%(get)d hit=%(hit)d remove=%(remove)d bad=%(bad)d" % counts
          + " reused=" + ",".join("%s/%s" % r[:2] for r in res), flush=True)
    check(counts["new"] == 1 and counts["get"] == 2 and counts["hit"] == 2 and counts["bad"] == 0,
          "external cache: new x1, get x2 with hits")
    check([r[:2] for r in res] == [(False, False), (True, True), (True, True)],
          "resumed through the external cache")
    check(all(six[k][1](ctx_ptr) == app[k] for k in app), "getters still return the application's callbacks")
    # Clear before the ctx (and the ctypes thunks) go away.
    for kind, cbtype in (("new", NEW), ("get", GET), ("remove", REMOVE)):
        six[kind][0](ctx_ptr, cbtype())
    check(all(not six[k][1](ctx_ptr) and not six[k][2](ctx_ptr) for k in app), "cleared")
    del sctx
    gc.collect()


def main():
    mode = sys.argv[1] if len(sys.argv) > 1 else "sockets"
    print("PYTHON %s %s" % (sys.version.split()[0], ssl.OPENSSL_VERSION), flush=True)
    with tempfile.TemporaryDirectory() as tmp:
        certfile, keyfile = os.path.join(tmp, "cert.pem"), os.path.join(tmp, "key.pem")
        with open(certfile, "w") as f:
            f.write(TEST_CERT_PEM)
        with open(keyfile, "w") as f:
            f.write(TEST_KEY_PEM)
        if mode == "sockets":
            mode_sockets(certfile, keyfile)
        elif mode == "ctypes":
            mode_ctypes(certfile, keyfile)
        else:
            print("usage: py_ssl_host.py sockets|ctypes", file=sys.stderr)
            return 2
    print("RESULT %s" % ("FAIL" if FAILED else "PASS"), flush=True)
    return 1 if FAILED else 0


if __name__ == "__main__":
    sys.exit(main())
