/* See bench_tls.h. */
#include "bench_tls.h"

#include <openssl/evp.h>
#include <openssl/x509.h>

EVP_PKEY *bench_make_key(void)
{
    EVP_PKEY *key = NULL;
    EVP_PKEY_CTX *kctx = EVP_PKEY_CTX_new_id(EVP_PKEY_EC, NULL);
    int ok = kctx != NULL && EVP_PKEY_keygen_init(kctx) > 0
             && EVP_PKEY_CTX_set_ec_paramgen_curve_nid(kctx, NID_X9_62_prime256v1) > 0
             && EVP_PKEY_keygen(kctx, &key) > 0;
    EVP_PKEY_CTX_free(kctx);
    return ok ? key : NULL;
}

X509 *bench_make_cert(EVP_PKEY *key)
{
    X509 *x = X509_new();
    /* A name of our own: 4.0's X509_get_subject_name returns a const one. */
    X509_NAME *name = X509_NAME_new();
    int ok = x != NULL && name != NULL
             && X509_set_version(x, 2)
             && ASN1_INTEGER_set(X509_get_serialNumber(x), 1)
             && X509_gmtime_adj(X509_getm_notBefore(x), -3600) != NULL
             && X509_gmtime_adj(X509_getm_notAfter(x), 86400L * 30) != NULL
             && X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC, (const unsigned char *)"sesscb-bench", -1, -1, 0)
             && X509_set_subject_name(x, name) && X509_set_issuer_name(x, name)
             && X509_set_pubkey(x, key)
             && X509_sign(x, key, EVP_sha256());
    X509_NAME_free(name);
    if (!ok) {
        X509_free(x);
        return NULL;
    }
    return x;
}

/* One handshake step of `ssl`: 1 done, 0 wants I/O, -1 failed. */
static int step(SSL *ssl)
{
    int r = SSL_do_handshake(ssl), e;
    if (r == 1)
        return 1;
    e = SSL_get_error(ssl, r);
    return e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE ? 0 : -1;
}

int bench_handshake(SSL *c, SSL *s, int tls13)
{
    BIO *bc = NULL, *bs = NULL;
    int cdone = 0, sdone = 0, round;

    if (!BIO_new_bio_pair(&bc, 0, &bs, 0))
        return -1;
    SSL_set_bio(c, bc, bc);
    SSL_set_bio(s, bs, bs);
    SSL_set_connect_state(c);
    SSL_set_accept_state(s);
    for (round = 0; round < 64 && !(cdone && sdone); round++) {
        if (!cdone && (cdone = step(c)) < 0)
            return -1;
        if (!sdone && (sdone = step(s)) < 0)
            return -1;
    }
    if (!(cdone && sdone))
        return -1;
    if (tls13) {
        /* Process the NewSessionTicket the server sent after its handshake. */
        unsigned char b;
        int r = SSL_read(c, &b, 1);
        if (r > 0 || SSL_get_error(c, r) != SSL_ERROR_WANT_READ)
            return -1;
    }
    SSL_set_shutdown(c, SSL_SENT_SHUTDOWN | SSL_RECEIVED_SHUTDOWN);
    SSL_set_shutdown(s, SSL_SENT_SHUTDOWN | SSL_RECEIVED_SHUTDOWN);
    return SSL_session_reused(c) ? 1 : 0;
}
