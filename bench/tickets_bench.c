/*
 * Resumed-handshake throughput with stateless tickets, in one process over
 * BIO pairs: the server ctx keeps OpenSSL's default tickets, so each
 * resumption decrypts a ticket (and, in TLS 1.3, encrypts a new one).
 * Run it plain and with sesscb's ticket keys (LD_PRELOAD +
 * SESSCB_TICKET_KEYS=keyring) to compare; bench/tickets_run.py does both,
 * interleaved.
 *
 *   tickets-bench 1.2|1.3 SECONDS
 * prints: {"tls":"1.3","resumed":N,"full":M,"per_s":X,"decrypted":D}
 * where D is sesscb's tickets_decrypted + tickets_renewed (-1 without sesscb),
 * so a run shows whose keys it measured.
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "bench_tls.h"

static double now_s(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

/* One handshake between fresh SSLs of the two ctxs, offering `sess`
 * (NULL: a full handshake); the client's session after it, if wanted. */
static int one(SSL_CTX *cctx, SSL_CTX *sctx, SSL_SESSION *sess, int tls13, SSL_SESSION **out)
{
    SSL *c = SSL_new(cctx), *s = SSL_new(sctx);
    int r = -1;
    if (c != NULL && s != NULL && (sess == NULL || SSL_set_session(c, sess)))
        r = bench_handshake(c, s, tls13);
    if (r >= 0 && out != NULL)
        *out = SSL_get1_session(c);
    SSL_free(c);
    SSL_free(s);
    return r;
}

static SSL_CTX *make_ctx(const SSL_METHOD *m, int version, EVP_PKEY *key, X509 *cert)
{
    SSL_CTX *ctx = SSL_CTX_new(m);
    if (ctx == NULL || !SSL_CTX_set_min_proto_version(ctx, version) || !SSL_CTX_set_max_proto_version(ctx, version))
        return NULL;
    if (key != NULL && (!SSL_CTX_use_certificate(ctx, cert) || !SSL_CTX_use_PrivateKey(ctx, key)))
        return NULL;
    SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_OFF);
    return ctx;
}

/* sesscb's tickets_decrypted + tickets_renewed (struct sesscb_stats: size
 * and flags, 25 counters, then issued, decrypted, renewed, ...), looked up
 * at run time so the program builds without sesscb; -1 when absent. */
static long sesscb_decrypted(void)
{
    uint64_t raw[1 + 32] = {sizeof raw};
    int (*stats)(const void *, void *) = (int (*)(const void *, void *))dlsym(RTLD_DEFAULT, "sesscb_stats");
    if (stats == NULL || stats(NULL, raw) != 0)
        return -1;
    return (long)(raw[1 + 26] + raw[1 + 27]);
}

int main(int argc, char **argv)
{
    int tls13, version;
    double seconds, start, elapsed;
    long resumed = 0, full = 0;
    EVP_PKEY *key;
    X509 *cert;
    SSL_CTX *sctx, *cctx;
    SSL_SESSION *sess = NULL;

    if (argc != 3 || (strcmp(argv[1], "1.2") != 0 && strcmp(argv[1], "1.3") != 0)) {
        fprintf(stderr, "usage: tickets-bench 1.2|1.3 SECONDS\n");
        return 2;
    }
    tls13 = strcmp(argv[1], "1.3") == 0;
    version = tls13 ? TLS1_3_VERSION : TLS1_2_VERSION;
    seconds = atof(argv[2]);
    key = bench_make_key();
    cert = key != NULL ? bench_make_cert(key) : NULL;
    sctx = cert != NULL ? make_ctx(TLS_server_method(), version, key, cert) : NULL;
    cctx = make_ctx(TLS_client_method(), version, NULL, NULL);
    /* Time for sesscb's redis-mode thread to fetch the epoch keys the ctx
       was made before (bench/tickets_run.py sets it in that mode only). */
    if (getenv("TICKETS_BENCH_SETTLE_MS") != NULL)
        usleep(1000 * (useconds_t)atoi(getenv("TICKETS_BENCH_SETTLE_MS")));
    if (sctx == NULL || cctx == NULL || one(cctx, sctx, NULL, tls13, &sess) != 0 || sess == NULL) {
        fprintf(stderr, "tickets-bench: setup failed\n");
        return 1;
    }
    start = now_s();
    do {
        for (int i = 0; i < 50; i++) {
            int r = one(cctx, sctx, sess, tls13, NULL);
            if (r < 0) {
                fprintf(stderr, "tickets-bench: handshake failed\n");
                return 1;
            }
            r == 1 ? resumed++ : full++;
        }
        elapsed = now_s() - start;
    } while (elapsed < seconds);
    printf("{\"tls\":\"%s\",\"resumed\":%ld,\"full\":%ld,\"per_s\":%.1f,\"decrypted\":%ld}\n", argv[1], resumed,
           full, (double)(resumed + full) / elapsed, sesscb_decrypted());
    return 0;
}
