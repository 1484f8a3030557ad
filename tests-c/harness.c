/* sesscb differential test harness: implementation. See harness.h. */
#define _GNU_SOURCE
#include "harness.h"

#include <dlfcn.h>
#include <errno.h>
#include <stdint.h>
#include <unistd.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <sys/time.h>
#include <openssl/crypto.h>
#include <openssl/ec.h>
#include <openssl/objects.h>
#include <openssl/opensslv.h>
#include <openssl/rand.h>

/* ------------------------------------------------------------ globals */

static int g_sess_idx = -1;
static int g_ctx_idx = -1;
static long g_serial;              /* last serial assigned (atomic) */
static long g_sess_freed;          /* atomic */
static long g_ctx_named;           /* atomic */
static long g_ctx_freed;           /* atomic */
static int g_quiet;                /* atomic */
static int g_checks_failed;        /* atomic */
static int g_checks_ok;            /* atomic */
static EVP_PKEY *g_key;
static X509 *g_cert;
static pthread_mutex_t g_keep_lock = PTHREAD_MUTEX_INITIALIZER;

struct h_cbcfg h_cfg[H_NTAGS];

#define ATOMIC_INC(p) __atomic_add_fetch((p), 1, __ATOMIC_SEQ_CST)
#define ATOMIC_LOAD(p) __atomic_load_n((p), __ATOMIC_SEQ_CST)

struct h_ctxname {
    char name[32];
};

/* --------------------------------------------------------------- trace */

static void vev(const char *prefix, const char *fmt, va_list ap)
{
    flockfile(stdout);
    if (prefix != NULL)
        fputs(prefix, stdout);
    vfprintf(stdout, fmt, ap);
    fputc('\n', stdout);
    fflush(stdout);
    funlockfile(stdout);
}

void ev(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vev(NULL, fmt, ap);
    va_end(ap);
}

void h_check(int ok, const char *fmt, ...)
{
    va_list ap;
    if (ok)
        ATOMIC_INC(&g_checks_ok);
    else
        ATOMIC_INC(&g_checks_failed);
    va_start(ap, fmt);
    vev(ok ? "CHECK ok " : "CHECK FAIL ", fmt, ap);
    va_end(ap);
}

void h_check_eq(long got, long want, const char *fmt, ...)
{
    char what[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(what, sizeof(what), fmt, ap);
    va_end(ap);
    if (got == want)
        h_check(1, "%s (= %ld)", what, got);
    else
        h_check(0, "%s (got %ld, want %ld)", what, got, want);
}

int h_failures(void) { return ATOMIC_LOAD(&g_checks_failed); }
int h_result(void) { return h_failures() == 0 ? 0 : 1; }
void h_set_quiet(int quiet) { __atomic_store_n(&g_quiet, quiet, __ATOMIC_SEQ_CST); }
int h_quiet(void) { return ATOMIC_LOAD(&g_quiet); }
const char *h_yn(int b) { return b ? "1" : "0"; }

/* ------------------------------------------------------------ versions */

unsigned long h_ossl_version(void) { return OpenSSL_version_num(); }
int h_is_111(void) { return OpenSSL_version_num() >= 0x10101000UL && OpenSSL_version_num() < 0x30000000UL; }
int h_is_3(void) { return OpenSSL_version_num() >= 0x30000000UL; }
int h_version_at_least(unsigned long v) { return OpenSSL_version_num() >= v; }

/* ----------------------------------------------------- ex_data callbacks */

static void sess_new_f(void *parent, void *ptr, CRYPTO_EX_DATA *ad, int idx,
                       long argl, void *argp)
{
    long serial = ATOMIC_INC(&g_serial);
    (void)parent; (void)ptr; (void)argl; (void)argp;
    CRYPTO_set_ex_data(ad, idx, (void *)(intptr_t)serial);
}

/* The copy made by ssl_session_dup/SSL_SESSION_dup already got a serial from
 * sess_new_f (CRYPTO_new_ex_data runs first): keep it; otherwise assign one. */
#if OPENSSL_VERSION_NUMBER >= 0x30000000L
static int sess_dup_f(CRYPTO_EX_DATA *to, const CRYPTO_EX_DATA *from,
                      void **from_d, int idx, long argl, void *argp)
{
    void **slot = from_d;
#else
static int sess_dup_f(CRYPTO_EX_DATA *to, const CRYPTO_EX_DATA *from,
                      void *from_d, int idx, long argl, void *argp)
{
    void **slot = (void **)from_d;
#endif
    void *cur = CRYPTO_get_ex_data(to, idx);
    (void)from; (void)argl; (void)argp;
    if (cur != NULL)
        *slot = cur;
    else
        *slot = (void *)(intptr_t)ATOMIC_INC(&g_serial);
    return 1;
}

static void sess_free_f(void *parent, void *ptr, CRYPTO_EX_DATA *ad, int idx,
                        long argl, void *argp)
{
    (void)parent; (void)ad; (void)idx; (void)argl; (void)argp;
    if (ptr == NULL)
        return;
    ATOMIC_INC(&g_sess_freed);
    if (!h_quiet())
        ev("free #%ld", (long)(intptr_t)ptr);
}

static void ctx_free_f(void *parent, void *ptr, CRYPTO_EX_DATA *ad, int idx,
                       long argl, void *argp)
{
    struct h_ctxname *n = ptr;
    (void)parent; (void)ad; (void)idx; (void)argl; (void)argp;
    if (n == NULL)
        return;
    ATOMIC_INC(&g_ctx_freed);
    if (!h_quiet())
        ev("ctx-exdata-free %s", n->name);
    free(n);
}

/* -------------------------------------------------------- virtual clock */
/* Defined in the executable, this time() interposes libc's for libssl and
 * libcrypto (they call time(NULL) through the PLT for session times, expiry
 * checks, ticket ages, auto-flush). The clock stands still unless a scenario
 * calls h_clock_advance(), so session times, tickets (and, in 1.1.1, the
 * lhash order of client sessions whose id is a hash of the ticket) do not
 * depend on when or how fast (valgrind) a run happens. */
#define H_CLOCK_START 1735689600L /* 2025-01-01T00:00:00Z */
static long g_clock = H_CLOCK_START;
static int g_clock_real; /* gettimeofday() reads the real clock (QUIC timers) */

time_t time(time_t *t)
{
    time_t v = (time_t)__atomic_load_n(&g_clock, __ATOMIC_SEQ_CST);
    if (t != NULL)
        *t = v;
    return v;
}

/* 3.2+ stamps sessions and checks their expiry with gettimeofday()
 * (ossl_time_now) instead of time(): the same virtual clock answers it. */
int gettimeofday(struct timeval *restrict tv, void *restrict tz)
{
    struct timespec real;

    (void)tz;
    if (__atomic_load_n(&g_clock_real, __ATOMIC_SEQ_CST) && clock_gettime(CLOCK_REALTIME, &real) == 0) {
        tv->tv_sec = real.tv_sec;
        tv->tv_usec = real.tv_nsec / 1000;
        return 0;
    }
    tv->tv_sec = (time_t)__atomic_load_n(&g_clock, __ATOMIC_SEQ_CST);
    tv->tv_usec = 0;
    return 0;
}

void h_clock_real(int on) { __atomic_store_n(&g_clock_real, on, __ATOMIC_SEQ_CST); }

long h_now(void) { return __atomic_load_n(&g_clock, __ATOMIC_SEQ_CST); }
void h_clock_advance(long secs) { __atomic_add_fetch(&g_clock, secs, __ATOMIC_SEQ_CST); }

/* --------------------------------------------- deterministic RNG (1.1.1) */
/* 1.1.1 flushes the session cache in lhash order, i.e. in an order derived
 * from the random session ids (SSL_CTX_free, SSL_CTX_flush_sessions). To keep
 * traces identical from run to run, 1.1.1 runs get a deterministic RAND_METHOD
 * (splitmix64 stream, fixed seed; no security needed). 3.x orders its cache
 * by expiry and is left alone. */
#if OPENSSL_VERSION_NUMBER < 0x30000000L
static pthread_mutex_t g_rng_lock = PTHREAD_MUTEX_INITIALIZER;
static unsigned long long g_rng_state = 0x5e55cb5e55cb0001ULL;

static unsigned long long splitmix64(void)
{
    unsigned long long z = (g_rng_state += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

static int det_bytes(unsigned char *buf, int num)
{
    int i = 0;
    pthread_mutex_lock(&g_rng_lock);
    while (i < num) {
        unsigned long long v = splitmix64();
        int k;
        for (k = 0; k < 8 && i < num; k++, i++)
            buf[i] = (unsigned char)(v >> (8 * k));
    }
    pthread_mutex_unlock(&g_rng_lock);
    return 1;
}
static int det_seed(const void *buf, int num) { (void)buf; (void)num; return 1; }
static int det_add(const void *buf, int num, double e) { (void)buf; (void)num; (void)e; return 1; }
static void det_cleanup(void) { }
static int det_status(void) { return 1; }
static RAND_METHOD det_rand = { det_seed, det_bytes, det_cleanup, det_add, det_bytes, det_status };
#endif

static void install_deterministic_rng(void)
{
#if OPENSSL_VERSION_NUMBER < 0x30000000L
    if (h_is_111() && !RAND_set_rand_method(&det_rand)) {
        fprintf(stderr, "harness: RAND_set_rand_method failed\n");
        exit(2);
    }
#endif
}

void h_init(void)
{
    if (g_sess_idx >= 0)
        return;
    setvbuf(stdout, NULL, _IOLBF, 0);
    install_deterministic_rng();
    g_sess_idx = SSL_SESSION_get_ex_new_index(0, NULL, sess_new_f, sess_dup_f, sess_free_f);
    g_ctx_idx = SSL_CTX_get_ex_new_index(0, NULL, NULL, NULL, ctx_free_f);
    if (g_sess_idx < 0 || g_ctx_idx < 0) {
        fprintf(stderr, "harness: ex_data index registration failed\n");
        exit(2);
    }
    h_cfg_reset();
}

/* ------------------------------------------------------------ mode probe */

static int probe_new_cb(SSL *s, SSL_SESSION *sess)
{
    (void)s; (void)sess;
    return 0;
}

int h_mode_sesscb(void)
{
    static int cached = -1;
    typedef int (*newcb_t)(SSL *, SSL_SESSION *);
    typedef newcb_t (*getter_t)(SSL_CTX *);
    const char *names111[] = { "libssl.so.1.1", "libssl.so.3", NULL };
    const char *names3[] = { "libssl.so.3", "libssl.so.4", "libssl.so.1.1", NULL };
    const char **names = h_is_111() ? names111 : names3;
    void *h = NULL;
    getter_t real_get;
    SSL_CTX *ctx;
    newcb_t real_v, app_v;
    int i;

    if (cached >= 0)
        return cached;
    for (i = 0; names[i] != NULL && h == NULL; i++)
        h = dlopen(names[i], RTLD_NOLOAD | RTLD_LAZY);
    if (h == NULL) {
        fprintf(stderr, "harness: libssl not found with RTLD_NOLOAD\n");
        return cached = 2;
    }
    real_get = (getter_t)dlsym(h, "SSL_CTX_sess_get_new_cb");
    if (real_get == NULL) {
        fprintf(stderr, "harness: real SSL_CTX_sess_get_new_cb not found\n");
        dlclose(h);
        return cached = 2;
    }
    ctx = SSL_CTX_new(TLS_method());
    SSL_CTX_sess_set_new_cb(ctx, probe_new_cb);
    real_v = real_get(ctx);
    app_v = SSL_CTX_sess_get_new_cb(ctx);
    SSL_CTX_sess_set_new_cb(ctx, NULL);
    SSL_CTX_free(ctx);
    dlclose(h);
    if (real_v == probe_new_cb && app_v == probe_new_cb)
        cached = 0;
    else if (real_v != NULL && real_v != probe_new_cb && app_v == probe_new_cb)
        cached = 1;
    else
        cached = 2;
    return cached;
}

void h_report_mode(void)
{
    int m = h_mode_sesscb();
    fprintf(stderr, "MODE %s\n", m == 0 ? "plain" : m == 1 ? "sesscb" : "unknown");
    /* Which OpenSSL actually ran: the runner checks it is the build's own. */
    fprintf(stderr, "OPENSSL 0x%lx\n", OpenSSL_version_num());
    fflush(stderr);
}

/* ----------------------------------------------------- identity helpers */

long h_serial(const SSL_SESSION *s)
{
    if (s == NULL)
        return 0;
    return (long)(intptr_t)SSL_SESSION_get_ex_data(s, g_sess_idx);
}

SSL_CTX *h_ctx_set_name(SSL_CTX *ctx, const char *name)
{
    struct h_ctxname *n = SSL_CTX_get_ex_data(ctx, g_ctx_idx);
    if (n == NULL) {
        n = calloc(1, sizeof(*n));
        if (n == NULL)
            abort();
        SSL_CTX_set_ex_data(ctx, g_ctx_idx, n);
        ATOMIC_INC(&g_ctx_named);
    }
    snprintf(n->name, sizeof(n->name), "%s", name);
    return ctx;
}

const char *h_ctx_name(const SSL_CTX *ctx)
{
    const struct h_ctxname *n;
    if (ctx == NULL)
        return "NULL";
    n = SSL_CTX_get_ex_data(ctx, g_ctx_idx);
    return n != NULL ? n->name : "?";
}

const char *h_ssl_ctx_name(const SSL *s)
{
    if (s == NULL)
        return "NULL";
    return h_ctx_name(SSL_get_SSL_CTX(s));
}

long h_sess_number(SSL_CTX *ctx) { return SSL_CTX_sess_number(ctx); }

void h_counts(struct h_counts *out)
{
    out->sess_created = ATOMIC_LOAD(&g_serial);
    out->sess_freed = ATOMIC_LOAD(&g_sess_freed);
    out->ctx_named = ATOMIC_LOAD(&g_ctx_named);
    out->ctx_freed = ATOMIC_LOAD(&g_ctx_freed);
}

void h_print_counts(const char *label)
{
    struct h_counts c;
    h_counts(&c);
    ev("counts %s: sessions created=%ld freed=%ld ctxs named=%ld freed=%ld",
       label, c.sess_created, c.sess_freed, c.ctx_named, c.ctx_freed);
}

/* ---------------------------------------------------------- certificate */

static void make_cert(void)
{
    EVP_PKEY_CTX *kctx;
    X509 *x;
    X509_NAME *name;

    kctx = EVP_PKEY_CTX_new_id(EVP_PKEY_EC, NULL);
    if (kctx == NULL || EVP_PKEY_keygen_init(kctx) <= 0
            || EVP_PKEY_CTX_set_ec_paramgen_curve_nid(kctx, NID_X9_62_prime256v1) <= 0
            || EVP_PKEY_keygen(kctx, &g_key) <= 0) {
        fprintf(stderr, "harness: EC keygen failed\n");
        ERR_print_errors_fp(stderr);
        exit(2);
    }
    EVP_PKEY_CTX_free(kctx);

    x = X509_new();
    if (x == NULL
            || !X509_set_version(x, 2)
            || !ASN1_INTEGER_set(X509_get_serialNumber(x), 1)
            || X509_gmtime_adj(X509_getm_notBefore(x), -3600) == NULL
            || X509_gmtime_adj(X509_getm_notAfter(x), 3600L * 24 * 365) == NULL
            || !X509_set_pubkey(x, g_key)) {
        fprintf(stderr, "harness: X509 setup failed\n");
        exit(2);
    }
    /* A name of our own: 4.0's X509_get_subject_name returns a const one. */
    name = X509_NAME_new();
    if (name == NULL
            || !X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC,
                                           (const unsigned char *)"sesscb.test", -1, -1, 0)
            || !X509_set_subject_name(x, name)
            || !X509_set_issuer_name(x, name)
            || X509_sign(x, g_key, EVP_sha256()) <= 0) {
        fprintf(stderr, "harness: X509 sign failed\n");
        ERR_print_errors_fp(stderr);
        exit(2);
    }
    X509_NAME_free(name);
    g_cert = x;
}

EVP_PKEY *h_key(void)
{
    if (g_key == NULL)
        make_cert();
    return g_key;
}

X509 *h_cert(void)
{
    if (g_cert == NULL)
        make_cert();
    return g_cert;
}

/* ------------------------------------------------------------- contexts */

static void set_versions(SSL_CTX *ctx, int minv, int maxv)
{
    if (minv != 0 && !SSL_CTX_set_min_proto_version(ctx, minv))
        abort();
    if (maxv != 0 && !SSL_CTX_set_max_proto_version(ctx, maxv))
        abort();
}

SSL_CTX *h_server_ctx(const char *name, int minv, int maxv)
{
    static const unsigned char sid[] = "sesscb-test";
    SSL_CTX *ctx = SSL_CTX_new(TLS_server_method());
    if (ctx == NULL)
        abort();
    h_ctx_set_name(ctx, name);
    set_versions(ctx, minv, maxv);
    if (SSL_CTX_use_certificate(ctx, h_cert()) != 1
            || SSL_CTX_use_PrivateKey(ctx, h_key()) != 1
            || SSL_CTX_check_private_key(ctx) != 1
            || SSL_CTX_set_session_id_context(ctx, sid, sizeof(sid) - 1) != 1) {
        fprintf(stderr, "harness: server ctx setup failed\n");
        ERR_print_errors_fp(stderr);
        exit(2);
    }
    return ctx;
}

SSL_CTX *h_client_ctx(const char *name, int minv, int maxv)
{
    SSL_CTX *ctx = SSL_CTX_new(TLS_client_method());
    if (ctx == NULL)
        abort();
    h_ctx_set_name(ctx, name);
    set_versions(ctx, minv, maxv);
    SSL_CTX_set_verify(ctx, SSL_VERIFY_NONE, NULL);
    return ctx;
}

void h_ctx_free(SSL_CTX *ctx)
{
    if (!h_quiet())
        ev("ctx-free %s", h_ctx_name(ctx));
    SSL_CTX_free(ctx);
}

void h_clear_sid_ctx(SSL_CTX *ctx)
{
    if (SSL_CTX_set_session_id_context(ctx, NULL, 0) != 1)
        abort();
}

/* ----------------------------------------------------------- handshakes */

h_pair *h_pair_new(SSL_CTX *cctx, SSL_CTX *sctx, const char *sni, SSL_SESSION *resume)
{
    h_pair *p = calloc(1, sizeof(*p));
    BIO *bc = NULL, *bs = NULL;
    if (p == NULL)
        abort();
    p->c = SSL_new(cctx);
    p->s = SSL_new(sctx);
    if (p->c == NULL || p->s == NULL || !BIO_new_bio_pair(&bc, 0, &bs, 0)) {
        fprintf(stderr, "harness: SSL_new/BIO pair failed\n");
        ERR_print_errors_fp(stderr);
        exit(2);
    }
    SSL_set_bio(p->c, bc, bc);
    SSL_set_bio(p->s, bs, bs);
    SSL_set_connect_state(p->c);
    SSL_set_accept_state(p->s);
    if (sni != NULL && !SSL_set_tlsext_host_name(p->c, sni))
        abort();
    if (resume != NULL && !SSL_set_session(p->c, resume))
        abort();
    return p;
}

static unsigned long bytes_written(h_pair *p)
{
    return BIO_number_written(SSL_get_wbio(p->c)) + BIO_number_written(SSL_get_wbio(p->s));
}

/* Returns 1 if the side's state changed (completed or failed). */
static int hs_step(SSL *x, int *ok, int *fail)
{
    int r, e;
    if (*ok || *fail)
        return 0;
    r = SSL_do_handshake(x);
    if (r == 1) {
        *ok = 1;
        return 1;
    }
    e = SSL_get_error(x, r);
    if (e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE)
        return 0;
    *fail = 1;
    return 1;
}

int h_pair_handshake(h_pair *p)
{
    int round;
    for (round = 0; round < 256; round++) {
        unsigned long before = bytes_written(p);
        int changed = 0;
        changed |= hs_step(p->c, &p->c_ok, &p->c_fail);
        changed |= hs_step(p->s, &p->s_ok, &p->s_fail);
        if ((p->c_ok || p->c_fail) && (p->s_ok || p->s_fail))
            break;
        if (!changed && bytes_written(p) == before)
            break; /* stalled */
    }
    ERR_clear_error();
    return p->c_ok && p->s_ok;
}

void h_pair_print(h_pair *p, const char *label)
{
    int cr = SSL_session_reused(p->c);
    int sr = SSL_session_reused(p->s);
    const char *v = SSL_get_version(p->s);
    ev("hs %s ok=%d/%d reused=%d/%d version=%s", label, p->c_ok, p->s_ok, cr, sr, v);
}

static int xfer(SSL *from, SSL *to)
{
    unsigned char b = 'x';
    int i, r;
    r = SSL_write(from, &b, 1);
    if (r != 1) {
        ERR_clear_error();
        return 0;
    }
    for (i = 0; i < 16; i++) {
        r = SSL_read(to, &b, 1);
        if (r == 1) {
            ERR_clear_error();
            return 1;
        }
        r = SSL_get_error(to, r);
        if (r != SSL_ERROR_WANT_READ && r != SSL_ERROR_WANT_WRITE)
            break;
        /* the peer may have to flush something (e.g. key update) */
        (void)SSL_read(from, &b, 0);
    }
    ERR_clear_error();
    return 0;
}

int h_pair_server_to_client(h_pair *p) { return xfer(p->s, p->c); }
int h_pair_client_to_server(h_pair *p) { return xfer(p->c, p->s); }

void h_pair_free(h_pair *p, int clean)
{
    if (p == NULL)
        return;
    if (clean) {
        (void)SSL_shutdown(p->c);
        (void)SSL_shutdown(p->s);
    }
    SSL_free(p->c);
    SSL_free(p->s);
    ERR_clear_error();
    free(p);
}

h_pair *h_connect(SSL_CTX *cctx, SSL_CTX *sctx, const char *sni, SSL_SESSION *resume,
                  const char *label, int *ok)
{
    h_pair *p = h_pair_new(cctx, sctx, sni, resume);
    int r = h_pair_handshake(p);
    h_pair_print(p, label);
    if (r && !h_pair_server_to_client(p))
        ev("hs %s: server->client byte failed", label);
    if (ok != NULL)
        *ok = r;
    return p;
}

SSL_SESSION *h_client_session(h_pair *p) { return SSL_get1_session(p->c); }

/* ----------------------------------------------------- logging callbacks */

char h_tag_char(int tag) { return (char)('A' + tag); }

void h_cfg_reset(void)
{
    int t;
    pthread_mutex_lock(&g_keep_lock);
    for (t = 0; t < H_NTAGS; t++) {
        memset(&h_cfg[t], 0, sizeof(h_cfg[t]));
        h_cfg[t].get_copy = -1;
    }
    pthread_mutex_unlock(&g_keep_lock);
}

static void keep_session(int tag, SSL_SESSION *sess)
{
    struct h_cbcfg *c = &h_cfg[tag];
    int stored = 0;
    pthread_mutex_lock(&g_keep_lock);
    if (c->nkept < H_KEEP_MAX) {
        c->kept[c->nkept++] = sess;
        stored = 1;
    }
    pthread_mutex_unlock(&g_keep_lock);
    if (!stored) {
        ev("harness: kept list of %c full, freeing #%ld", h_tag_char(tag), h_serial(sess));
        SSL_SESSION_free(sess);
    }
}

static int new_impl(int tag, SSL *s, SSL_SESSION *sess)
{
    struct h_cbcfg *c = &h_cfg[tag];
    unsigned int idlen = 0;
    int ret = c->new_ret;
    long serial = h_serial(sess);
    ATOMIC_INC(&c->n_new);
    __atomic_store_n(&c->last_new_serial, serial, __ATOMIC_SEQ_CST);
    (void)SSL_SESSION_get_id(sess, &idlen);
    if (!c->quiet && !h_quiet())
        ev("new[%c] ssl_ctx=%s %s sess=#%ld idlen=%u ret=%d", h_tag_char(tag),
           h_ssl_ctx_name(s), SSL_is_server(s) ? "server" : "client", serial, idlen, ret);
    if (ret != 0)
        keep_session(tag, sess);
    return ret;
}

static SSL_SESSION *get_impl(int tag, SSL *s, const unsigned char *id, int len, int *copy)
{
    struct h_cbcfg *c = &h_cfg[tag];
    SSL_SESSION *r = NULL;
    int copy_in = *copy;
    int i;

    ATOMIC_INC(&c->n_get);
    switch (c->get_mode) {
    case H_GET_FIXED:
        r = c->get_sess;
        break;
    case H_GET_KEPT:
        pthread_mutex_lock(&g_keep_lock);
        for (i = 0; i < c->nkept && r == NULL; i++) {
            unsigned int kl = 0;
            const unsigned char *kid = SSL_SESSION_get_id(c->kept[i], &kl);
            if (len >= 0 && kl == (unsigned int)len && memcmp(kid, id, kl) == 0)
                r = c->kept[i];
        }
        pthread_mutex_unlock(&g_keep_lock);
        break;
    default:
        break;
    }
    if (r != NULL && c->get_upref)
        SSL_SESSION_up_ref(r);
    if (c->get_copy >= 0)
        *copy = c->get_copy;
    __atomic_store_n(&c->last_get_serial, h_serial(r), __ATOMIC_SEQ_CST);
    if (!c->quiet && !h_quiet()) {
        if (r != NULL)
            ev("get[%c] ssl_ctx=%s idlen=%d copy_in=%d copy_out=%d ret=#%ld", h_tag_char(tag),
               h_ssl_ctx_name(s), len, copy_in, *copy, h_serial(r));
        else
            ev("get[%c] ssl_ctx=%s idlen=%d copy_in=%d copy_out=%d ret=NULL", h_tag_char(tag),
               h_ssl_ctx_name(s), len, copy_in, *copy);
    }
    return r;
}

static void remove_impl(int tag, SSL_CTX *ctx, SSL_SESSION *sess)
{
    struct h_cbcfg *c = &h_cfg[tag];
    unsigned int idlen = 0;
    long serial = h_serial(sess);
    ATOMIC_INC(&c->n_remove);
    __atomic_store_n(&c->last_remove_serial, serial, __ATOMIC_SEQ_CST);
    __atomic_store_n(&c->last_remove_ctx, ctx, __ATOMIC_SEQ_CST);
    (void)SSL_SESSION_get_id(sess, &idlen);
    if (!c->quiet && !h_quiet())
        ev("remove[%c] ctx=%s sess=#%ld idlen=%u resumable=%d", h_tag_char(tag),
           h_ctx_name(ctx), serial, idlen, SSL_SESSION_is_resumable(sess));
}

#define H_DEFINE_TAG(T)                                                          \
    int h_new_##T(SSL *s, SSL_SESSION *sess) { return new_impl(H_##T, s, sess); } \
    SSL_SESSION *h_get_##T(SSL *s, const unsigned char *id, int len, int *copy)  \
    { return get_impl(H_##T, s, id, len, copy); }                                \
    void h_remove_##T(SSL_CTX *ctx, SSL_SESSION *sess) { remove_impl(H_##T, ctx, sess); }
H_DEFINE_TAG(A) H_DEFINE_TAG(B) H_DEFINE_TAG(C) H_DEFINE_TAG(D)
H_DEFINE_TAG(E) H_DEFINE_TAG(F) H_DEFINE_TAG(G) H_DEFINE_TAG(H)

h_new_fn const h_new_cb[H_NTAGS] = {
    h_new_A, h_new_B, h_new_C, h_new_D, h_new_E, h_new_F, h_new_G, h_new_H
};
h_get_fn const h_get_cb[H_NTAGS] = {
    h_get_A, h_get_B, h_get_C, h_get_D, h_get_E, h_get_F, h_get_G, h_get_H
};
h_remove_fn const h_remove_cb[H_NTAGS] = {
    h_remove_A, h_remove_B, h_remove_C, h_remove_D,
    h_remove_E, h_remove_F, h_remove_G, h_remove_H
};

void h_set_all(SSL_CTX *ctx, int tag)
{
    SSL_CTX_sess_set_new_cb(ctx, h_new_cb[tag]);
    SSL_CTX_sess_set_get_cb(ctx, h_get_cb[tag]);
    SSL_CTX_sess_set_remove_cb(ctx, h_remove_cb[tag]);
}

void h_clear_all(SSL_CTX *ctx)
{
    SSL_CTX_sess_set_new_cb(ctx, NULL);
    SSL_CTX_sess_set_get_cb(ctx, NULL);
    SSL_CTX_sess_set_remove_cb(ctx, NULL);
}

int h_nkept(int tag)
{
    int n;
    pthread_mutex_lock(&g_keep_lock);
    n = h_cfg[tag].nkept;
    pthread_mutex_unlock(&g_keep_lock);
    return n;
}

SSL_SESSION *h_kept(int tag, int i)
{
    SSL_SESSION *s = NULL;
    pthread_mutex_lock(&g_keep_lock);
    if (i >= 0 && i < h_cfg[tag].nkept)
        s = h_cfg[tag].kept[i];
    pthread_mutex_unlock(&g_keep_lock);
    return s;
}

SSL_SESSION *h_take_kept(int tag, int i)
{
    struct h_cbcfg *c = &h_cfg[tag];
    SSL_SESSION *s = NULL;
    pthread_mutex_lock(&g_keep_lock);
    if (i >= 0 && i < c->nkept) {
        s = c->kept[i];
        memmove(&c->kept[i], &c->kept[i + 1], (size_t)(c->nkept - i - 1) * sizeof(c->kept[0]));
        c->nkept--;
    }
    pthread_mutex_unlock(&g_keep_lock);
    return s;
}

void h_sess_free(SSL_SESSION *s)
{
    if (s == NULL)
        return;
    if (!h_quiet())
        ev("app-free #%ld", h_serial(s));
    SSL_SESSION_free(s);
}

void h_free_kept(int tag)
{
    SSL_SESSION *s;
    while ((s = h_take_kept(tag, 0)) != NULL)
        h_sess_free(s);
}

void h_info_cb(const SSL *s, int where, int ret)
{
    if (h_quiet())
        return;
    if (where & SSL_CB_HANDSHAKE_DONE)
        ev("info HANDSHAKE_DONE %s", SSL_is_server(s) ? "server" : "client");
    if (where & SSL_CB_ALERT)
        ev("info ALERT %s %s %s %s", SSL_is_server(s) ? "server" : "client",
           (where & SSL_CB_READ) ? "read" : "write",
           SSL_alert_type_string_long(ret), SSL_alert_desc_string_long(ret));
}

/* ---------------------------------------------------------------- finish */

void h_finish(void)
{
    struct h_counts c;
    int t;
    for (t = 0; t < H_NTAGS; t++)
        if (h_nkept(t) > 0) {
            ev("harness: freeing %d kept session(s) of %c", h_nkept(t), h_tag_char(t));
            h_free_kept(t);
        }
    X509_free(g_cert);
    g_cert = NULL;
    EVP_PKEY_free(g_key);
    g_key = NULL;
    h_counts(&c);
    CHECK_EQ(c.sess_freed, c.sess_created, "balance: sessions freed == created (%ld)", c.sess_created);
    CHECK_EQ(c.ctx_freed, c.ctx_named, "balance: named ctxs freed == created (%ld)", c.ctx_named);
}

/* ------------------------------------------------------- session watch */

static int h_watch_idx = -1;

static void h_watch_free(void *parent, void *ptr, CRYPTO_EX_DATA *ad, int idx, long argl, void *argp)
{
    (void)parent; (void)ad; (void)idx; (void)argl; (void)argp;
    if (ptr != NULL)
        *(int *)ptr = 1;
}

/* A dup is a different object: it must not inherit the watch. */
#if OPENSSL_VERSION_NUMBER >= 0x30000000L
static int h_watch_dup(CRYPTO_EX_DATA *to, const CRYPTO_EX_DATA *from, void **from_d, int idx,
                       long argl, void *argp)
{
    (void)to; (void)from; (void)idx; (void)argl; (void)argp;
    *from_d = NULL;
    return 1;
}
#else
static int h_watch_dup(CRYPTO_EX_DATA *to, const CRYPTO_EX_DATA *from, void *from_d, int idx,
                       long argl, void *argp)
{
    (void)to; (void)from; (void)idx; (void)argl; (void)argp;
    *(void **)from_d = NULL;
    return 1;
}
#endif

void h_watch_session(SSL_SESSION *s, int *freed)
{
    if (h_watch_idx < 0)
        h_watch_idx = SSL_SESSION_get_ex_new_index(0, NULL, NULL, h_watch_dup, h_watch_free);
    *freed = 0;
    SSL_SESSION_set_ex_data(s, h_watch_idx, freed);
}

/* ------------------------------------------------------------ watchdog */

long h_env_long(const char *name, long def)
{
    const char *v = getenv(name);
    long n;
    if (v == NULL || *v == '\0')
        return def;
    n = strtol(v, NULL, 10);
    return n > 0 ? n : def;
}

static pthread_mutex_t h_wd_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t h_wd_cond = PTHREAD_COND_INITIALIZER;
static int h_wd_stop;
static pthread_t h_wd_thread;
static const char *h_wd_what;

static void *h_watchdog(void *arg)
{
    long secs = (long)(intptr_t)arg;
    struct timespec ts;
    int rc = 0;
    clock_gettime(CLOCK_REALTIME, &ts);
    ts.tv_sec += secs;
    pthread_mutex_lock(&h_wd_lock);
    while (!h_wd_stop && rc != ETIMEDOUT)
        rc = pthread_cond_timedwait(&h_wd_cond, &h_wd_lock, &ts);
    pthread_mutex_unlock(&h_wd_lock);
    if (!h_wd_stop) {
        h_check(0, "watchdog: %s did not finish within %ld s (deadlock?)", h_wd_what, secs);
        ev("RESULT FAIL (watchdog)");
        _exit(1);
    }
    return NULL;
}

void h_watchdog_start(const char *what)
{
    long secs = h_env_long("SESSCB_TEST_WATCHDOG", 300);
    h_wd_what = what;
    h_wd_stop = 0;
    pthread_create(&h_wd_thread, NULL, h_watchdog, (void *)(intptr_t)secs);
}

void h_watchdog_stop(void)
{
    pthread_mutex_lock(&h_wd_lock);
    h_wd_stop = 1;
    pthread_cond_signal(&h_wd_cond);
    pthread_mutex_unlock(&h_wd_lock);
    pthread_join(h_wd_thread, NULL);
}
