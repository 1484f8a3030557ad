"""The one connection the interop suite's Python `ssl` servers serve
(pyworkers.py, pyforked.py, tkserver.py import it): read the request,
answer a short HTTP reply, and close with a close_notify (`clean`) or
without (OpenSSL then treats the session as bad and removes it)."""

import ssl


def serve_one(ctx, conn, clean=True):
    """One TLS connection on the accepted socket `conn`; errors are the
    client's and end only this connection."""
    try:
        with ctx.wrap_socket(conn, server_side=True) as tls:
            tls.recv(4096)
            tls.sendall(b"HTTP/1.0 200 OK\r\nContent-Length: 2\r\n\r\nok")
            if clean:
                tls.unwrap()
    except (OSError, ssl.SSLError):
        pass
