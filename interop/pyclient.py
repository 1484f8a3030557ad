#!/usr/bin/python3
"""Python ssl client for interop/run.py (std lib only; run as its own process so
that the sesscb variant can preload libsesscb.so into it).

  pyclient.py reuse  HOST PORT SNI CAFILE TLS N [PATH]
      N connections, each an HTTP/1.0 request read to EOF; every connection
      after the first offers the previous connection's latest session
      (in TLS 1.3 that is the newest ticket).
  pyclient.py poison HOST PORT SNI CAFILE TLS
      A full handshake; the session is taken (TLS 1.3: after the tickets are
      processed); then a garbage application-data record is written on the
      raw socket, so the server fails to decrypt it and sends a fatal alert
      -- OpenSSL then removes the session from the server's cache (remove
      callback). The alert is read raw, never fed to the client's TLS object,
      so the client still offers the session on the next connection, which
      must therefore not resume.

Prints one JSON object on stdout: {"flags": [bool, ...], "sesscb_loaded":
bool, "openssl": version} -- flags: resumed per connection (for poison:
[first, after-poison]); sesscb_loaded: libsesscb is mapped in this process
(the sesscb variant preloads it; _ssl loads libssl RTLD_LOCAL).
"""
import json
import os
import socket
import ssl
import sys
import time

TIMEOUT = 10.0


def context(cafile, tls):
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.load_verify_locations(cafile)
    version = ssl.TLSVersion.TLSv1_3 if tls == "1.3" else ssl.TLSVersion.TLSv1_2
    ctx.minimum_version = version
    ctx.maximum_version = version
    return ctx


def request(host, port, sni, ctx, session, path):
    raw = socket.create_connection((host, port), timeout=TIMEOUT)
    try:
        s = ctx.wrap_socket(raw, server_hostname=sni, session=session)
    except Exception:
        raw.close()
        raise
    with s:
        s.sendall(("GET %s HTTP/1.0\r\nHost: %s\r\nConnection: close\r\n\r\n" % (path, sni)).encode())
        body = b""
        while True:
            try:
                chunk = s.recv(65536)
            except ssl.SSLZeroReturnError:
                break
            except (ssl.SSLEOFError, ConnectionResetError):
                break  # servers that close without close_notify
            if not chunk:
                break
            body += chunk
        return s.session_reused, s.session, body


def reuse(host, port, sni, cafile, tls, n, path="/"):
    ctx = context(cafile, tls)
    session = None
    flags = []
    for _ in range(n):
        reused, new_session, _body = request(host, port, sni, ctx, session, path)
        flags.append(bool(reused))
        session = new_session
    return flags


def pump(sock, incoming, seconds):
    """Feeds whatever arrives within `seconds` into `incoming`."""
    sock.settimeout(seconds)
    try:
        data = sock.recv(65536)
    except socket.timeout:
        return True
    if not data:
        return False
    incoming.write(data)
    return True


def poison(host, port, sni, cafile, tls):
    ctx = context(cafile, tls)
    incoming, outgoing = ssl.MemoryBIO(), ssl.MemoryBIO()
    obj = ctx.wrap_bio(incoming, outgoing, server_hostname=sni)
    raw = socket.create_connection((host, port), timeout=TIMEOUT)
    deadline = time.monotonic() + TIMEOUT
    while True:
        try:
            obj.do_handshake()
            break
        except ssl.SSLWantReadError:
            pass
        if outgoing.pending:
            raw.sendall(outgoing.read())
        if time.monotonic() > deadline or not pump(raw, incoming, TIMEOUT):
            raise RuntimeError("handshake did not complete")
    if outgoing.pending:
        raw.sendall(outgoing.read())
    first = bool(obj.session_reused)
    if tls == "1.3":
        # Let the NewSessionTicket messages arrive and be processed.
        end = time.monotonic() + 0.5
        while time.monotonic() < end:
            if not pump(raw, incoming, 0.1):
                break
            try:
                obj.read(1)
            except ssl.SSLWantReadError:
                pass
    session = obj.session
    # A record the server cannot decrypt: bad_record_mac, a fatal alert.
    raw.sendall(b"\x17\x03\x03\x00\x40" + os.urandom(0x40))
    raw.settimeout(3.0)
    try:
        while raw.recv(65536):
            pass
    except (socket.timeout, ConnectionResetError):
        pass
    raw.close()
    after, _s, _b = request(host, port, sni, ctx, session, "/")
    return [first, bool(after)]


def main(argv):
    mode = argv[1]
    host, port, sni, cafile, tls = argv[2], int(argv[3]), argv[4], argv[5], argv[6]
    if mode == "reuse":
        path = argv[8] if len(argv) > 8 else "/"
        flags = reuse(host, port, sni, cafile, tls, int(argv[7]), path)
    elif mode == "poison":
        flags = poison(host, port, sni, cafile, tls)
    else:
        raise SystemExit("unknown mode " + mode)
    with open("/proc/self/maps") as f:
        loaded = "libsesscb" in f.read()
    print(json.dumps({"flags": flags, "sesscb_loaded": loaded, "openssl": ssl.OPENSSL_VERSION}))


if __name__ == "__main__":
    main(sys.argv)
