/* tls_core.c -- shared core of the host-safety programs (tests-c/host/).
 *
 * Not a program: host_dlopen.c, host_linked.c #include it (the file list of
 * this directory is limited to .c/.py/.sh, so there is no header).
 *
 * Every OpenSSL function the core needs, except the six session-callback
 * functions, is called through a table filled with dlsym(handle, name): the
 * dlopen program passes its RTLD_LOCAL handle, linked programs pass
 * RTLD_DEFAULT. The six are given by the caller (plain-name references or
 * dlsym results), so each program decides -- and reports -- which
 * definitions of the six it reaches.
 *
 * Provides: an external session cache implemented by new/get/remove
 * callbacks (sessions stored DER-encoded, returned with *copy = 0), an
 * in-memory BIO-pair TLS 1.2 handshake, and a "full handshake + resumption"
 * run that checks the callback counts. Results are printed as
 *   CHECK ok <what> / CHECK FAIL <what>
 * lines on stdout; h_failed() tells the program whether to exit 1.
 *
 * The macros of <openssl/ssl.h> that expand to function calls (e.g.
 * SSL_CTX_set_min_proto_version) must not be used here: the dlopen program
 * is not linked to libssl, so any direct reference fails its link.
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <link.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>

#include "sesscb.h"

/* ------------------------------------------------------------ table */

#define OSSL_FUNCS(X)                                                          \
    X(OpenSSL_version_num) X(TLS_server_method) X(TLS_client_method)           \
    X(SSL_CTX_new) X(SSL_CTX_free) X(SSL_CTX_ctrl) X(SSL_CTX_set_options)      \
    X(SSL_CTX_use_certificate) X(SSL_CTX_use_PrivateKey)                       \
    X(SSL_CTX_check_private_key) X(SSL_CTX_set_session_id_context)             \
    X(SSL_new) X(SSL_free) X(SSL_set_bio) X(SSL_set_connect_state)             \
    X(SSL_set_accept_state) X(SSL_do_handshake) X(SSL_get_error)               \
    X(SSL_session_reused) X(SSL_get_session) X(SSL_get1_session)               \
    X(SSL_set_session) X(SSL_shutdown) X(SSL_SESSION_free)                     \
    X(SSL_SESSION_get_id) X(SSL_SESSION_get_master_key) X(i2d_SSL_SESSION)     \
    X(d2i_SSL_SESSION) X(BIO_new_bio_pair) X(BIO_new_mem_buf) X(BIO_free)      \
    X(PEM_read_bio_X509) X(PEM_read_bio_PrivateKey) X(X509_free)               \
    X(EVP_PKEY_free) X(ERR_clear_error)

typedef int (*new_cb_t)(SSL *, SSL_SESSION *);
typedef void (*remove_cb_t)(SSL_CTX *, SSL_SESSION *);
typedef SSL_SESSION *(*get_cb_t)(SSL *, const unsigned char *, int, int *);

struct ossl {
#define OSSL_FIELD(n) __typeof__(&n) p_##n;
    OSSL_FUNCS(OSSL_FIELD)
#undef OSSL_FIELD
    /* The six, as the program reaches them. */
    void (*set_new)(SSL_CTX *, new_cb_t);
    void (*set_remove)(SSL_CTX *, remove_cb_t);
    void (*set_get)(SSL_CTX *, get_cb_t);
    new_cb_t (*get_new)(SSL_CTX *);
    remove_cb_t (*get_remove)(SSL_CTX *);
    get_cb_t (*get_get)(SSL_CTX *);
};

static struct ossl g_ossl;
static struct ossl *const O = &g_ossl;
#define F(n) (O->p_##n)

/* Fills every entry but the six from `handle`; 0 and a message if one is
 * missing. */
static int ossl_load(void *handle)
{
#define OSSL_LOAD(n)                                                           \
    *(void **)&O->p_##n = dlsym(handle, #n);                                   \
    if (O->p_##n == NULL) {                                                    \
        printf("LOAD FAIL %s: %s\n", #n, dlerror());                           \
        return 0;                                                              \
    }
    OSSL_FUNCS(OSSL_LOAD)
#undef OSSL_LOAD
    return 1;
}

/* The six as the linker bound the program's plain-name references: to
 * sesscb under LD_PRELOAD (or linked), else to libssl, or NULL when a
 * program not linked to libssl declares them weak. A macro, so that the
 * references are the including program's. */
#define SIX_FROM_PLAIN_NAMES()                                                 \
    do {                                                                       \
        O->set_new = SSL_CTX_sess_set_new_cb;                                  \
        O->set_remove = SSL_CTX_sess_set_remove_cb;                            \
        O->set_get = SSL_CTX_sess_set_get_cb;                                  \
        O->get_new = SSL_CTX_sess_get_new_cb;                                  \
        O->get_remove = SSL_CTX_sess_get_remove_cb;                            \
        O->get_get = SSL_CTX_sess_get_get_cb;                                  \
    } while (0)

/* The six straight from `handle` (plain OpenSSL in a dlopen program). */
__attribute__((unused)) static void six_from_handle(void *handle)
{
    *(void **)&O->set_new = dlsym(handle, "SSL_CTX_sess_set_new_cb");
    *(void **)&O->set_remove = dlsym(handle, "SSL_CTX_sess_set_remove_cb");
    *(void **)&O->set_get = dlsym(handle, "SSL_CTX_sess_set_get_cb");
    *(void **)&O->get_new = dlsym(handle, "SSL_CTX_sess_get_new_cb");
    *(void **)&O->get_remove = dlsym(handle, "SSL_CTX_sess_get_remove_cb");
    *(void **)&O->get_get = dlsym(handle, "SSL_CTX_sess_get_get_cb");
}

/* -------------------------------------------------------------- checks */

static int g_failed, g_ok;
static pthread_mutex_t g_out_lock = PTHREAD_MUTEX_INITIALIZER;

static void check(int ok, const char *fmt, ...)
{
    va_list ap;
    pthread_mutex_lock(&g_out_lock);
    if (ok)
        __atomic_add_fetch(&g_ok, 1, __ATOMIC_SEQ_CST);
    else
        __atomic_add_fetch(&g_failed, 1, __ATOMIC_SEQ_CST);
    fputs(ok ? "CHECK ok " : "CHECK FAIL ", stdout);
    va_start(ap, fmt);
    vfprintf(stdout, fmt, ap);
    va_end(ap);
    fputc('\n', stdout);
    fflush(stdout);
    pthread_mutex_unlock(&g_out_lock);
}

#define CHECK_EQ(got, want, what)                                              \
    do {                                                                       \
        long got_ = (long)(got), want_ = (long)(want);                         \
        if (got_ == want_)                                                     \
            check(1, "%s (= %ld)", what, got_);                                \
        else                                                                   \
            check(0, "%s (got %ld, want %ld)", what, got_, want_);             \
    } while (0)

static int h_failed(void) { return __atomic_load_n(&g_failed, __ATOMIC_SEQ_CST); }

/* Quiet mode: only failures are printed (for loops of many handshakes). */
static int g_quiet;
#define QCHECK(ok, ...)                                                        \
    do {                                                                       \
        int ok_ = (ok);                                                        \
        if (!ok_ || !g_quiet)                                                  \
            check(ok_, __VA_ARGS__);                                           \
    } while (0)

/* Path of the loaded object containing `p`, or "?". */
static const char *object_of(const void *p)
{
    Dl_info info;
    if (p == NULL || dladdr(p, &info) == 0 || info.dli_fname == NULL)
        return "?";
    return info.dli_fname;
}

static int in_sesscb(const void *p)
{
    return strstr(object_of(p), "libsesscb") != NULL;
}

static int count_libssl_cb(struct dl_phdr_info *info, size_t size, void *data)
{
    const char *name = info->dlpi_name, *base;
    (void)size;
    if (name == NULL)
        return 0;
    base = strrchr(name, '/');
    base = base ? base + 1 : name;
    if (strncmp(base, "libssl.so", 9) == 0 || strncmp(base, "libcrypto.so", 12) == 0)
        ++*(int *)data;
    return 0;
}

/* Number of libssl/libcrypto objects currently loaded. */
__attribute__((unused)) static int loaded_openssl_objects(void)
{
    int n = 0;
    dl_iterate_phdr(count_libssl_cb, &n);
    return n;
}

/* ------------------------------------------------- test key and cert */

/* P-256 key and a self-signed cert (CN=localhost, 100 years). Test-only. */
static const char TEST_KEY_PEM[] =
    "-----BEGIN PRIVATE KEY-----\n"
    "MIGHAgEAMBMGByqGSM49AgEGCCqGSM49AwEHBG0wawIBAQQgE6pjnaKdPeL91+28\n"
    "VREyAYp3Esa6iHQrAHqTo5IU1FqhRANCAAR9+t1PxZWKvt5OlR7/bHDGn96NwPpN\n"
    "3KZhI7OSu3LiilPnroudj1AjFCR9WmDKI2V6LuK1HK8QTR+KCWGBV8m1\n"
    "-----END PRIVATE KEY-----\n";
static const char TEST_CERT_PEM[] =
    "-----BEGIN CERTIFICATE-----\n"
    "MIIBfjCCASWgAwIBAgIUbfdIuz7MxftfmqCvatWY7gqcD6swCgYIKoZIzj0EAwIw\n"
    "FDESMBAGA1UEAwwJbG9jYWxob3N0MCAXDTI2MTEyNTE5NTc1M1oYDzIxMjYxMTAx\n"
    "MTk1NzUzWjAUMRIwEAYDVQQDDAlsb2NhbGhvc3QwWTATBgcqhkjOPQIBBggqhkjO\n"
    "PQMBBwNCAAR9+t1PxZWKvt5OlR7/bHDGn96NwPpN3KZhI7OSu3LiilPnroudj1Aj\n"
    "FCR9WmDKI2V6LuK1HK8QTR+KCWGBV8m1o1MwUTAdBgNVHQ4EFgQUZ6OQEOyORhTT\n"
    "wrmSU/lyR5wvji0wHwYDVR0jBBgwFoAUZ6OQEOyORhTTwrmSU/lyR5wvji0wDwYD\n"
    "VR0TAQH/BAUwAwEB/zAKBggqhkjOPQQDAgNHADBEAiAQ4jQ67kwThyyQXdI1De0b\n"
    "O6CzEIrb0XTGY4iXnyuzFQIgVmeWCTmRYw20Nq8yqwVr/FRis+c6Tf/LoUje3N4T\n"
    "K3E=\n"
    "-----END CERTIFICATE-----\n";

static X509 *g_cert;
static EVP_PKEY *g_key;
static pthread_once_t g_key_once = PTHREAD_ONCE_INIT;

static void load_key_and_cert_once(void)
{
    BIO *b = F(BIO_new_mem_buf)(TEST_CERT_PEM, -1);
    g_cert = b ? F(PEM_read_bio_X509)(b, NULL, NULL, NULL) : NULL;
    if (b)
        F(BIO_free)(b);
    b = F(BIO_new_mem_buf)(TEST_KEY_PEM, -1);
    g_key = b ? F(PEM_read_bio_PrivateKey)(b, NULL, NULL, NULL) : NULL;
    if (b)
        F(BIO_free)(b);
}

/* Thread-safe: the scenarios may run on several threads at once. */
static int load_key_and_cert(void)
{
    pthread_once(&g_key_once, load_key_and_cert_once);
    return g_cert != NULL && g_key != NULL;
}

/* --------------------------------------------- external session cache */

struct counts {
    long n_new, n_get, n_hit, n_remove, bad_args;
};

/* Per thread: callbacks run on the thread driving the handshake (in-memory
 * BIO pair) or calling SSL_CTX_free, so concurrent scenarios on different
 * threads keep separate counts and caches. */
#define CACHE_SLOTS 16
struct cache_entry {
    int used;
    unsigned int id_len;
    unsigned char id[SSL_MAX_SSL_SESSION_ID_LENGTH];
    int der_len;
    unsigned char der[2048];
};

static __thread struct counts g_counts;
static __thread struct cache_entry g_cache[CACHE_SLOTS];

#define INC(field) (g_counts.field++)

static void counts_reset(void)
{
    memset(&g_counts, 0, sizeof(g_counts));
    memset(g_cache, 0, sizeof(g_cache));
}

static struct counts counts_now(void)
{
    return g_counts;
}

/* new: store the DER encoding; return 0 (the application keeps no
 * reference, OpenSSL frees its extra one). */
static int cb_new(SSL *ssl, SSL_SESSION *sess)
{
    unsigned int id_len = 0;
    const unsigned char *id;
    unsigned char *p;
    int i, len;

    INC(n_new);
    if (ssl == NULL || sess == NULL) {
        INC(bad_args);
        return 0;
    }
    id = F(SSL_SESSION_get_id)(sess, &id_len);
    len = F(i2d_SSL_SESSION)(sess, NULL);
    if (id == NULL || id_len == 0 || id_len > SSL_MAX_SSL_SESSION_ID_LENGTH || len <= 0 ||
        len > (int)sizeof(g_cache[0].der)) {
        INC(bad_args);
        return 0;
    }
    for (i = 0; i < CACHE_SLOTS; i++) {
        if (!g_cache[i].used) {
            g_cache[i].used = 1;
            g_cache[i].id_len = id_len;
            memcpy(g_cache[i].id, id, id_len);
            p = g_cache[i].der;
            g_cache[i].der_len = F(i2d_SSL_SESSION)(sess, &p);
            break;
        }
    }
    return 0;
}

/* get: decode a fresh session; *copy = 0 hands OpenSSL our reference. */
static SSL_SESSION *cb_get(SSL *ssl, const unsigned char *id, int len, int *copy)
{
    SSL_SESSION *sess = NULL;
    const unsigned char *p;
    int i;

    INC(n_get);
    if (ssl == NULL || id == NULL || len <= 0 || copy == NULL || *copy != 1) {
        INC(bad_args);
        return NULL;
    }
    for (i = 0; i < CACHE_SLOTS; i++) {
        if (g_cache[i].used && (int)g_cache[i].id_len == len && memcmp(g_cache[i].id, id, len) == 0) {
            p = g_cache[i].der;
            sess = F(d2i_SSL_SESSION)(NULL, &p, g_cache[i].der_len);
            break;
        }
    }
    if (sess != NULL) {
        INC(n_hit);
        *copy = 0;
    }
    return sess;
}

static void cb_remove(SSL_CTX *ctx, SSL_SESSION *sess)
{
    unsigned int id_len = 0;
    const unsigned char *id;
    int i;

    INC(n_remove);
    if (ctx == NULL || sess == NULL) {
        INC(bad_args);
        return;
    }
    id = F(SSL_SESSION_get_id)(sess, &id_len);
    for (i = 0; i < CACHE_SLOTS; i++)
        if (g_cache[i].used && g_cache[i].id_len == id_len && memcmp(g_cache[i].id, id, id_len) == 0)
            g_cache[i].used = 0;
}

/* ------------------------------------------------------------- contexts */

/* TLS 1.2 only, no tickets, session cache SERVER with internal *lookup*
 * disabled (resumption must go through cb_get; the internal store stays on,
 * so SSL_CTX_free flushes it through cb_remove). */
static SSL_CTX *server_ctx(void)
{
    static const unsigned char sid_ctx[] = "sesscb-host";
    SSL_CTX *ctx;
    if (!load_key_and_cert())
        return NULL;
    ctx = F(SSL_CTX_new)(F(TLS_server_method)());
    if (ctx == NULL)
        return NULL;
    F(SSL_CTX_ctrl)(ctx, SSL_CTRL_SET_MIN_PROTO_VERSION, TLS1_2_VERSION, NULL);
    F(SSL_CTX_ctrl)(ctx, SSL_CTRL_SET_MAX_PROTO_VERSION, TLS1_2_VERSION, NULL);
    F(SSL_CTX_set_options)(ctx, SSL_OP_NO_TICKET);
    F(SSL_CTX_ctrl)(ctx, SSL_CTRL_SET_SESS_CACHE_MODE,
                    SSL_SESS_CACHE_SERVER | SSL_SESS_CACHE_NO_INTERNAL_LOOKUP, NULL);
    F(SSL_CTX_set_session_id_context)(ctx, sid_ctx, sizeof(sid_ctx) - 1);
    if (F(SSL_CTX_use_certificate)(ctx, g_cert) != 1 || F(SSL_CTX_use_PrivateKey)(ctx, g_key) != 1 ||
        F(SSL_CTX_check_private_key)(ctx) != 1) {
        F(SSL_CTX_free)(ctx);
        return NULL;
    }
    return ctx;
}

static SSL_CTX *client_ctx(void)
{
    SSL_CTX *ctx = F(SSL_CTX_new)(F(TLS_client_method)());
    if (ctx == NULL)
        return NULL;
    F(SSL_CTX_ctrl)(ctx, SSL_CTRL_SET_MIN_PROTO_VERSION, TLS1_2_VERSION, NULL);
    F(SSL_CTX_ctrl)(ctx, SSL_CTRL_SET_MAX_PROTO_VERSION, TLS1_2_VERSION, NULL);
    F(SSL_CTX_set_options)(ctx, SSL_OP_NO_TICKET);
    return ctx;
}

static void set_all(SSL_CTX *ctx)
{
    O->set_new(ctx, cb_new);
    O->set_get(ctx, cb_get);
    O->set_remove(ctx, cb_remove);
}

static int getters_match(SSL_CTX *ctx)
{
    return O->get_new(ctx) == cb_new && O->get_get(ctx) == cb_get && O->get_remove(ctx) == cb_remove;
}

/* ------------------------------------------------------------ handshake */

struct hs_result {
    int ok;
    int server_reused, client_reused;
    SSL_SESSION *client_session; /* SSL_get1_session of the client */
    unsigned char master_key[64];
    size_t master_key_len;
};

/* Advances ssl's handshake by one step unless *done; 0 on a fatal error. */
static int handshake_step(SSL *ssl, int *done)
{
    int ret, err;
    if (*done)
        return 1;
    ret = F(SSL_do_handshake)(ssl);
    if (ret == 1) {
        *done = 1;
        return 1;
    }
    err = F(SSL_get_error)(ssl, ret);
    return err == SSL_ERROR_WANT_READ || err == SSL_ERROR_WANT_WRITE;
}

/* One in-memory handshake (bounded), then a clean bidirectional shutdown
 * (so SSL_free does not mark the session bad). */
static struct hs_result handshake(SSL_CTX *sctx, SSL_CTX *cctx, SSL_SESSION *resume)
{
    struct hs_result r;
    SSL *s = NULL, *c = NULL;
    BIO *bs = NULL, *bc = NULL;
    int sdone = 0, cdone = 0, i;

    memset(&r, 0, sizeof(r));
    s = F(SSL_new)(sctx);
    c = F(SSL_new)(cctx);
    if (s == NULL || c == NULL || F(BIO_new_bio_pair)(&bs, 0, &bc, 0) != 1)
        goto out;
    F(SSL_set_bio)(s, bs, bs);
    F(SSL_set_bio)(c, bc, bc);
    F(SSL_set_accept_state)(s);
    F(SSL_set_connect_state)(c);
    if (resume != NULL && F(SSL_set_session)(c, resume) != 1)
        goto out;
    for (i = 0; i < 64 && !(sdone && cdone); i++)
        if (!handshake_step(c, &cdone) || !handshake_step(s, &sdone))
            goto out;
    if (!(sdone && cdone))
        goto out;
    r.ok = 1;
    r.server_reused = F(SSL_session_reused)(s);
    r.client_reused = F(SSL_session_reused)(c);
    r.client_session = F(SSL_get1_session)(c);
    r.master_key_len = F(SSL_SESSION_get_master_key)(F(SSL_get_session)(s), r.master_key, sizeof(r.master_key));
    F(SSL_shutdown)(c);
    F(SSL_shutdown)(s);
    F(SSL_shutdown)(c);
out:
    if (!r.ok)
        F(ERR_clear_error)();
    if (s)
        F(SSL_free)(s); /* frees bs */
    else if (bs)
        F(BIO_free)(bs);
    if (c)
        F(SSL_free)(c);
    else if (bc)
        F(BIO_free)(bc);
    return r;
}

static void hex(char *out, const unsigned char *p, size_t n)
{
    size_t i;
    for (i = 0; i < n; i++)
        sprintf(out + 2 * i, "%02x", p[i]);
    out[2 * n] = '\0';
}

/* ------------------------------------------------------ the main scenario */

struct scenario_result {
    int ok;            /* every check passed */
    struct counts after_full, after_resume, after_free;
    int reused[2];     /* server reused on full, on resumption */
    char master_key_hex[2 * 64 + 1];
};

static int (*g_sesscb_stats)(const struct ssl_ctx_st *, struct sesscb_stats *);

/* Full handshake + resumption through the external cache, on fresh
 * contexts, then SSL_CTX_free. Counters are per call (reset first). Prints
 * CHECK lines (failures only in quiet mode). With `tag` non-NULL it prints
 * one OUTCOME line that must be identical with and without sesscb. */
static struct scenario_result run_scenario(const char *tag)
{
    struct scenario_result sr;
    struct hs_result full, res;
    SSL_CTX *sctx, *cctx;
    struct sesscb_stats st;
    int failed_before = h_failed();

    memset(&sr, 0, sizeof(sr));
    counts_reset();
    sctx = server_ctx();
    cctx = client_ctx();
    QCHECK(sctx != NULL && cctx != NULL, "contexts created");
    if (sctx == NULL || cctx == NULL)
        return sr;

    set_all(sctx);
    QCHECK(getters_match(sctx), "getters return the application's callbacks");
    QCHECK(O->get_new(cctx) == NULL && O->get_get(cctx) == NULL && O->get_remove(cctx) == NULL,
           "getters of a ctx without callbacks return NULL");

    full = handshake(sctx, cctx, NULL);
    sr.after_full = counts_now();
    QCHECK(full.ok, "full handshake completed");
    QCHECK(!full.server_reused, "full handshake: not reused");
    QCHECK(sr.after_full.n_new == 1 && sr.after_full.n_get == 0 && sr.after_full.n_remove == 0,
           "full handshake: new x1, get x0, remove x0 (got %ld/%ld/%ld)", sr.after_full.n_new,
           sr.after_full.n_get, sr.after_full.n_remove);
    hex(sr.master_key_hex, full.master_key, full.master_key_len);

    res = handshake(sctx, cctx, full.client_session);
    sr.after_resume = counts_now();
    QCHECK(res.ok, "resumption handshake completed");
    QCHECK(res.server_reused && res.client_reused, "resumption: session reused (server %d, client %d)",
           res.server_reused, res.client_reused);
    QCHECK(sr.after_resume.n_new == 1 && sr.after_resume.n_get == 1 && sr.after_resume.n_hit == 1,
           "resumption: new x1, get x1 with a hit (got %ld/%ld/%ld)", sr.after_resume.n_new,
           sr.after_resume.n_get, sr.after_resume.n_hit);
    QCHECK(getters_match(sctx), "getters still return the application's callbacks");

    if (g_sesscb_stats != NULL) {
        memset(&st, 0, sizeof(st));
        st.size = sizeof(st);
        QCHECK(g_sesscb_stats(sctx, &st) == SESSCB_STATUS_OK && st.size == sizeof(st) &&
                   st.new_calls == 1 && st.get_calls == 1 && st.get_hits == 1 && st.get_copy0 == 1 &&
                   st.remove_calls == 0,
               "sesscb_stats(sctx) counted exactly what the application saw (new %llu get %llu hit %llu "
               "copy0 %llu remove %llu)",
               (unsigned long long)st.new_calls, (unsigned long long)st.get_calls,
               (unsigned long long)st.get_hits, (unsigned long long)st.get_copy0,
               (unsigned long long)st.remove_calls);
        st.size = sizeof(st);
        QCHECK(g_sesscb_stats(cctx, &st) == SESSCB_STATUS_UNTRACKED_CTX,
               "sesscb_stats(ctx without callbacks) = SESSCB_STATUS_UNTRACKED_CTX");
    }

    if (full.client_session)
        F(SSL_SESSION_free)(full.client_session);
    if (res.client_session)
        F(SSL_SESSION_free)(res.client_session);
    F(SSL_CTX_free)(cctx);
    F(SSL_CTX_free)(sctx);
    sr.after_free = counts_now();
    QCHECK(sr.after_free.n_remove == 1, "SSL_CTX_free: remove x1 (got %ld)", sr.after_free.n_remove);
    QCHECK(sr.after_free.bad_args == 0, "callbacks got valid arguments (bad %ld)", sr.after_free.bad_args);
    sr.reused[0] = full.server_reused;
    sr.reused[1] = res.server_reused;
    sr.ok = h_failed() == failed_before;
    if (tag != NULL) {
        printf("OUTCOME %s full:new=%ld,get=%ld,hit=%ld,remove=%ld,reused=%d "
               "resume:new=%ld,get=%ld,hit=%ld,remove=%ld,reused=%d,%d free:remove=%ld\n",
               tag, sr.after_full.n_new, sr.after_full.n_get, sr.after_full.n_hit, sr.after_full.n_remove,
               full.server_reused, sr.after_resume.n_new, sr.after_resume.n_get, sr.after_resume.n_hit,
               sr.after_resume.n_remove, res.server_reused, res.client_reused, sr.after_free.n_remove);
        fflush(stdout);
    }
    return sr;
}
