/*
 * What the bench programs share: a throwaway EC key and self-signed
 * certificate, and one in-memory handshake over a BIO pair.
 */
#ifndef SESSCB_BENCH_TLS_H
#define SESSCB_BENCH_TLS_H

#include <openssl/ssl.h>

/* A P-256 key, or NULL. */
EVP_PKEY *bench_make_key(void);

/* A self-signed certificate for `key`, or NULL. */
X509 *bench_make_cert(EVP_PKEY *key);

/* Runs the handshake of client `c` and server `s` (fresh SSLs, no BIOs
 * yet) over a BIO pair; with tls13, the client also reads the server's
 * NewSessionTicket. Returns 1 if the client resumed, 0 if not, -1 on
 * failure. Leaves both SSLs marked cleanly shut down, so SSL_free does not
 * evict the session as bad; the caller frees them. */
int bench_handshake(SSL *c, SSL *s, int tls13);

#endif
