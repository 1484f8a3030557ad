/*
 * sesscb benchmark program: measures what sesscb costs.
 *
 * One source, built per OpenSSL build as two binaries from the same object:
 *   bench-plain   -lssl -lcrypto
 *   bench-linked  -lsesscb before -lssl
 * and bench-plain is also run under LD_PRELOAD=libsesscb.so. The driver
 * (bench/run.py) runs each measurement in a fresh process, interleaving the
 * variants, and takes medians; this program only measures once per process
 * (after an in-process warm-up) and prints ONE JSON object on stdout.
 *
 * Modes:
 *   sesscb-bench info
 *   sesscb-bench storm N            fill a ctx's internal cache with N sessions,
 *                                   time SSL_CTX_flush_sessions(ctx, 0) only
 *   sesscb-bench dispatch CALLS THREADS
 *                                   call the function pointer libssl holds in
 *                                   the ctx (read with the REAL getter) CALLS
 *                                   times, for new / get-hit / get-miss / remove,
 *                                   on THREADS threads at once (same ctx)
 *   sesscb-bench hs SCEN THREADS SECONDS WARMUP
 *                                   in-memory TLS handshakes (BIO pairs);
 *                                   SCEN = tls12-resume | tls13-resume |
 *                                          tls12-full | tls13-full
 *   sesscb-bench registry N CALLS   N SSL_CTX with all three callbacks: set cost,
 *                                   RSS per ctx, dispatch cost at 1 / 1000 /
 *                                   4096 / N live ctxs, free cost
 *
 * Times are the measuring thread's CPU time (CLOCK_THREAD_CPUTIME_ID), so
 * that other processes on a shared machine do not bias whichever variant
 * they happen to preempt; handshake rates are handshakes per thread-CPU
 * second summed over threads (wall-clock rates are reported alongside).
 *
 * Every output object carries "sesscb": 1 when the real libssl field holds
 * something other than the application's pointer after a set (sesscb is in
 * the path), 0 when it holds the application's pointer (plain OpenSSL).
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>

#include "bench_tls.h"

#define NOINLINE __attribute__((noinline))

typedef int (*new_cb_t)(SSL *, SSL_SESSION *);
typedef void (*remove_cb_t)(SSL_CTX *, SSL_SESSION *);
typedef SSL_SESSION *(*get_cb_t)(SSL *, const unsigned char *, int, int *);

/* ------------------------------------------------------------ utilities */

static void die(const char *what)
{
    fprintf(stderr, "sesscb-bench: %s\n", what);
    ERR_print_errors_fp(stderr);
    exit(2);
}

static inline uint64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

/* CPU time of the calling thread. Every figure is timed with it (wall time is
 * kept alongside): on a shared machine, time the scheduler gives to other
 * processes must not count against whichever variant happened to run then. */
static inline uint64_t cpu_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

/* Resident set size in bytes (/proc/self/statm, second field). */
static long rss_bytes(void)
{
    long size = 0, resident = 0;
    FILE *f = fopen("/proc/self/statm", "r");
    if (f == NULL)
        return -1;
    if (fscanf(f, "%ld %ld", &size, &resident) != 2)
        resident = -1;
    fclose(f);
    return resident * sysconf(_SC_PAGESIZE);
}

static uint64_t splitmix64(uint64_t *state)
{
    uint64_t z = (*state += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

/* A distinct 32-byte session id for serial n: hashed bytes first (OpenSSL's
 * session hash uses the first 4 bytes), the serial itself after them. */
static void make_id(unsigned char id[32], uint64_t n)
{
    uint64_t st = n * 0x2545f4914f6cdd1dull + 1, v;
    int i;
    for (i = 0; i < 32; i += 8) {
        v = splitmix64(&st);
        memcpy(id + i, &v, 8);
    }
    memcpy(id + 8, &n, 8);
}

/* ------------------------------------------------- the real libssl getters */

static new_cb_t (*real_get_new)(SSL_CTX *);
static remove_cb_t (*real_get_remove)(SSL_CTX *);
static get_cb_t (*real_get_get)(SSL_CTX *);

/* dlsym on a RTLD_NOLOAD handle of the libssl that defines SSL_new (a name
 * sesscb does not interpose): that handle's own definitions come first, so
 * these are libssl's getters, not sesscb's. */
static void resolve_real_getters(void)
{
    Dl_info info;
    void *h;
    if (real_get_new != NULL)
        return;
    if (dladdr((void *)SSL_new, &info) == 0 || info.dli_fname == NULL)
        die("dladdr(SSL_new) failed");
    h = dlopen(info.dli_fname, RTLD_NOLOAD | RTLD_LAZY);
    if (h == NULL)
        die("libssl not found with RTLD_NOLOAD");
    real_get_new = (new_cb_t (*)(SSL_CTX *))dlsym(h, "SSL_CTX_sess_get_new_cb");
    real_get_remove = (remove_cb_t (*)(SSL_CTX *))dlsym(h, "SSL_CTX_sess_get_remove_cb");
    real_get_get = (get_cb_t (*)(SSL_CTX *))dlsym(h, "SSL_CTX_sess_get_get_cb");
    if (real_get_new == NULL || real_get_remove == NULL || real_get_get == NULL)
        die("real getters not found");
}

/* -------------------------------------- trivial application callbacks */

/* Counted with plain per-thread increments: identical work in every variant,
 * no sharing between threads. */
static __thread unsigned long g_calls;
static SSL_SESSION *g_hit_session;

static NOINLINE int app_new(SSL *s, SSL_SESSION *sess)
{
    (void)s; (void)sess;
    g_calls++;
    return 1;
}

static NOINLINE void app_remove(SSL_CTX *ctx, SSL_SESSION *sess)
{
    (void)ctx; (void)sess;
    g_calls++;
}

static NOINLINE SSL_SESSION *app_get_hit(SSL *s, const unsigned char *id, int len, int *copy)
{
    (void)s; (void)id; (void)len;
    g_calls++;
    *copy = 0;
    return g_hit_session;
}

static NOINLINE SSL_SESSION *app_get_miss(SSL *s, const unsigned char *id, int len, int *copy)
{
    (void)s; (void)id; (void)len; (void)copy;
    g_calls++;
    return NULL;
}

/* 1 if sesscb is in the path, 0 if not (2 = inconsistent). */
static int sesscb_in_path(void)
{
    static int cached = -1;
    SSL_CTX *ctx;
    new_cb_t real_v, app_v;
    if (cached >= 0)
        return cached;
    resolve_real_getters();
    ctx = SSL_CTX_new(TLS_server_method());
    if (ctx == NULL)
        die("SSL_CTX_new");
    SSL_CTX_sess_set_new_cb(ctx, app_new);
    real_v = real_get_new(ctx);
    app_v = SSL_CTX_sess_get_new_cb(ctx);
    SSL_CTX_free(ctx);
    if (real_v == app_new && app_v == app_new)
        cached = 0;
    else if (real_v != NULL && real_v != app_new && app_v == app_new)
        cached = 1;
    else
        cached = 2;
    return cached;
}

static void json_begin(const char *bench)
{
    printf("{\"bench\":\"%s\",\"sesscb\":%d,\"openssl\":\"%s\"", bench, sesscb_in_path(),
           OpenSSL_version(OPENSSL_VERSION));
}

static void json_end(void)
{
    printf("}\n");
    fflush(stdout);
}

/* ------------------------------------------------------- mode: info */

static int mode_info(void)
{
    const char *(*version)(void) = (const char *(*)(void))dlsym(RTLD_DEFAULT, "sesscb_version");
    json_begin("info");
    printf(",\"openssl_num\":\"0x%lx\",\"sesscb_version\":\"%s\"", (unsigned long)OpenSSL_version_num(),
           version != NULL ? version() : "");
    json_end();
    return 0;
}

/* ------------------------------------------------ mode: remove storm */

static void storm_fill(SSL_CTX *ctx, uint64_t first, long n)
{
    unsigned char id[32];
    long i;
    for (i = 0; i < n; i++) {
        SSL_SESSION *s = SSL_SESSION_new();
        if (s == NULL)
            die("SSL_SESSION_new");
        make_id(id, first + (uint64_t)i);
        if (!SSL_SESSION_set1_id(s, id, sizeof(id)))
            die("SSL_SESSION_set1_id");
        if (!SSL_CTX_add_session(ctx, s))
            die("SSL_CTX_add_session");
        SSL_SESSION_free(s); /* the cache holds the only reference */
    }
}

static int mode_storm(long n)
{
    SSL_CTX *ctx = SSL_CTX_new(TLS_server_method());
    long warm = n / 10 > 1000 ? n / 10 : 1000;
    uint64_t t0, t1, w0, w1;
    long cached;

    if (ctx == NULL)
        die("SSL_CTX_new");
    SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_SERVER);
    SSL_CTX_sess_set_cache_size(ctx, 0); /* unlimited */
    SSL_CTX_sess_set_remove_cb(ctx, app_remove);

    /* Warm-up: the same path at a tenth of the size. */
    storm_fill(ctx, 1ull << 40, warm);
    SSL_CTX_flush_sessions(ctx, 0);
    if (g_calls != (unsigned long)warm)
        die("warm-up: remove callback count mismatch");

    g_calls = 0;
    storm_fill(ctx, 0, n);
    cached = SSL_CTX_sess_number(ctx);
    if (cached != n)
        die("cache does not hold every session");
    w0 = now_ns();
    t0 = cpu_ns();
    SSL_CTX_flush_sessions(ctx, 0);
    t1 = cpu_ns();
    w1 = now_ns();
    if (g_calls != (unsigned long)n)
        die("remove callback count mismatch");

    json_begin("storm");
    printf(",\"sessions\":%ld,\"remove_calls\":%lu,\"flush_cpu_ns\":%llu,\"ns_per_cb\":%.3f"
           ",\"wall_ns_per_cb\":%.3f", n, g_calls, (unsigned long long)(t1 - t0), (double)(t1 - t0) / (double)n,
           (double)(w1 - w0) / (double)n);
    json_end();
    SSL_CTX_free(ctx);
    return 0;
}

/* ------------------------------------------- mode: direct dispatch loop */

/* The loops call exactly what libssl's call sites call: the pointer stored in
 * the ctx's field, with libssl-shaped arguments. */
static NOINLINE double loop_new(new_cb_t fp, SSL *ssl, SSL_SESSION *sess, long calls)
{
    uint64_t t0 = cpu_ns();
    long i;
    for (i = 0; i < calls; i++)
        fp(ssl, sess);
    return (double)(cpu_ns() - t0) / (double)calls;
}

static NOINLINE double loop_get(get_cb_t fp, SSL *ssl, const unsigned char *id, long calls)
{
    uint64_t t0 = cpu_ns();
    long i;
    int copy;
    for (i = 0; i < calls; i++) {
        copy = 1;
        fp(ssl, id, 32, &copy);
    }
    return (double)(cpu_ns() - t0) / (double)calls;
}

static NOINLINE double loop_remove(remove_cb_t fp, SSL_CTX *ctx, SSL_SESSION *sess, long calls)
{
    uint64_t t0 = cpu_ns();
    long i;
    for (i = 0; i < calls; i++)
        fp(ctx, sess);
    return (double)(cpu_ns() - t0) / (double)calls;
}

struct dispatch_thread {
    pthread_t tid;
    pthread_barrier_t *barrier;
    SSL_CTX *ctx;
    SSL *ssl;
    SSL_SESSION *sess;
    const unsigned char *id;
    new_cb_t fnew;
    remove_cb_t frem;
    get_cb_t fget, fmiss;
    long calls;
    double ns[4]; /* new, get-hit, get-miss, remove */
};

/* Each kind is timed with every thread in the same loop at once (barriers
 * between kinds), all on the same ctx: with 2 threads, what a multi-threaded
 * server with one SSL_CTX does to sesscb's per-ctx and process counters. */
static void *dispatch_worker(void *arg)
{
    struct dispatch_thread *t = arg;
    long warm = t->calls / 5;
    g_calls = 0;
    pthread_barrier_wait(t->barrier);
    loop_new(t->fnew, t->ssl, t->sess, warm);
    pthread_barrier_wait(t->barrier);
    t->ns[0] = loop_new(t->fnew, t->ssl, t->sess, t->calls);
    pthread_barrier_wait(t->barrier);
    loop_get(t->fget, t->ssl, t->id, warm);
    pthread_barrier_wait(t->barrier);
    t->ns[1] = loop_get(t->fget, t->ssl, t->id, t->calls);
    pthread_barrier_wait(t->barrier);
    loop_get(t->fmiss, t->ssl, t->id, warm);
    pthread_barrier_wait(t->barrier);
    t->ns[2] = loop_get(t->fmiss, t->ssl, t->id, t->calls);
    pthread_barrier_wait(t->barrier);
    loop_remove(t->frem, t->ctx, t->sess, warm);
    pthread_barrier_wait(t->barrier);
    t->ns[3] = loop_remove(t->frem, t->ctx, t->sess, t->calls);
    if (g_calls != (unsigned long)(4 * (t->calls + warm)))
        die("dispatch: callback count mismatch");
    return NULL;
}

static int mode_dispatch(long calls, int threads)
{
    SSL_CTX *ctx = SSL_CTX_new(TLS_server_method());
    SSL_CTX *ctx_miss = SSL_CTX_new(TLS_server_method());
    SSL_SESSION *sess = SSL_SESSION_new();
    unsigned char id[32];
    struct dispatch_thread th[16];
    pthread_barrier_t barrier;
    double ns[4] = { 0, 0, 0, 0 };
    int i, k;

    if (ctx == NULL || ctx_miss == NULL || sess == NULL)
        die("setup");
    if (threads < 1 || threads > 16)
        die("threads: 1..16");
    make_id(id, 7);
    SSL_SESSION_set1_id(sess, id, sizeof(id));
    g_hit_session = sess;
    resolve_real_getters();
    SSL_CTX_sess_set_new_cb(ctx, app_new);
    SSL_CTX_sess_set_remove_cb(ctx, app_remove);
    SSL_CTX_sess_set_get_cb(ctx, app_get_hit);
    SSL_CTX_sess_set_get_cb(ctx_miss, app_get_miss);

    pthread_barrier_init(&barrier, NULL, (unsigned)threads);
    for (i = 0; i < threads; i++) {
        struct dispatch_thread *t = &th[i];
        memset(t, 0, sizeof(*t));
        t->barrier = &barrier;
        t->ctx = ctx;
        t->ssl = SSL_new(ctx);
        t->sess = sess;
        t->id = id;
        t->fnew = real_get_new(ctx);
        t->frem = real_get_remove(ctx);
        t->fget = real_get_get(ctx);
        t->fmiss = real_get_get(ctx_miss);
        t->calls = calls;
        if (t->ssl == NULL || pthread_create(&t->tid, NULL, dispatch_worker, t) != 0)
            die("thread setup");
    }
    for (i = 0; i < threads; i++) {
        pthread_join(th[i].tid, NULL);
        for (k = 0; k < 4; k++)
            ns[k] += th[i].ns[k] / threads;
        SSL_free(th[i].ssl);
    }
    pthread_barrier_destroy(&barrier);

    json_begin("dispatch");
    printf(",\"calls\":%ld,\"threads\":%d,\"new_ns\":%.4f,\"get_hit_ns\":%.4f,\"get_miss_ns\":%.4f"
           ",\"remove_ns\":%.4f", calls, threads, ns[0], ns[1], ns[2], ns[3]);
    json_end();
    SSL_SESSION_free(sess);
    SSL_CTX_free(ctx);
    SSL_CTX_free(ctx_miss);
    return 0;
}

/* ------------------------------------------------- mode: handshakes */

/* The application's external session cache: a small direct-mapped hash
 * table keyed by session id, one mutex. get hands out its own reference
 * (taken under the lock) with *copy = 0, so a concurrent eviction can never
 * free a session between lookup and use. TLS 1.3 sessions (stateful
 * tickets) are single use: get takes them out of the table. */
#define CACHE_BUCKETS 16384
struct cache_entry {
    unsigned int len;
    unsigned char id[SSL_MAX_SSL_SESSION_ID_LENGTH];
    SSL_SESSION *sess;
};
static struct cache_entry g_cache[CACHE_BUCKETS];
static pthread_mutex_t g_cache_lock = PTHREAD_MUTEX_INITIALIZER;

struct cb_counts {
    unsigned long news, gets, hits, removes;
};
static __thread struct cb_counts t_counts;

static unsigned int bucket_of(const unsigned char *id, unsigned int len)
{
    uint64_t h = 1469598103934665603ull;
    unsigned int i;
    for (i = 0; i < len; i++)
        h = (h ^ id[i]) * 1099511628211ull;
    return (unsigned int)(h % CACHE_BUCKETS);
}

static int cache_new(SSL *ssl, SSL_SESSION *sess)
{
    unsigned int len;
    const unsigned char *id = SSL_SESSION_get_id(sess, &len);
    struct cache_entry *e;
    SSL_SESSION *old;
    (void)ssl;
    t_counts.news++;
    if (len == 0 || len > SSL_MAX_SSL_SESSION_ID_LENGTH)
        return 0;
    e = &g_cache[bucket_of(id, len)];
    pthread_mutex_lock(&g_cache_lock);
    old = e->sess;
    e->sess = sess; /* keeps the reference OpenSSL handed over (return 1) */
    e->len = len;
    memcpy(e->id, id, len);
    pthread_mutex_unlock(&g_cache_lock);
    if (old != NULL)
        SSL_SESSION_free(old);
    return 1;
}

static SSL_SESSION *cache_get(SSL *ssl, const unsigned char *id, int len, int *copy)
{
    struct cache_entry *e;
    SSL_SESSION *found = NULL;
    (void)ssl;
    t_counts.gets++;
    if (len <= 0 || len > SSL_MAX_SSL_SESSION_ID_LENGTH)
        return NULL;
    e = &g_cache[bucket_of(id, (unsigned int)len)];
    pthread_mutex_lock(&g_cache_lock);
    if (e->sess != NULL && e->len == (unsigned int)len && memcmp(e->id, id, (size_t)len) == 0) {
        found = e->sess;
        if (SSL_SESSION_get_protocol_version(found) == TLS1_3_VERSION)
            e->sess = NULL; /* single use: the table's reference goes to OpenSSL */
        else
            SSL_SESSION_up_ref(found);
    }
    pthread_mutex_unlock(&g_cache_lock);
    if (found != NULL) {
        t_counts.hits++;
        *copy = 0;
    }
    return found;
}

static void cache_remove(SSL_CTX *ctx, SSL_SESSION *sess)
{
    unsigned int len;
    const unsigned char *id = SSL_SESSION_get_id(sess, &len);
    struct cache_entry *e;
    SSL_SESSION *old = NULL;
    (void)ctx;
    t_counts.removes++;
    if (len == 0 || len > SSL_MAX_SSL_SESSION_ID_LENGTH)
        return;
    e = &g_cache[bucket_of(id, len)];
    pthread_mutex_lock(&g_cache_lock);
    if (e->sess != NULL && e->len == len && memcmp(e->id, id, len) == 0) {
        old = e->sess;
        e->sess = NULL;
    }
    pthread_mutex_unlock(&g_cache_lock);
    if (old != NULL)
        SSL_SESSION_free(old);
}

static void cache_clear(void)
{
    int i;
    for (i = 0; i < CACHE_BUCKETS; i++) {
        if (g_cache[i].sess != NULL)
            SSL_SESSION_free(g_cache[i].sess);
        g_cache[i].sess = NULL;
    }
}

struct hs_config {
    SSL_CTX *sctx, *cctx;
    int resume;     /* offer the previous session */
    int tls13;
};

/* One complete in-memory handshake. Returns 1 if resumed, 0 if full, -1 on
 * failure. With resume, *sessp is the session to offer and is replaced by
 * the client's session after the handshake (TLS 1.3: the new ticket's). */
static int one_handshake(const struct hs_config *cfg, SSL_SESSION **sessp)
{
    SSL *c = SSL_new(cfg->cctx), *s = SSL_new(cfg->sctx);
    int ret;

    if (c == NULL || s == NULL)
        die("SSL_new");
    if (cfg->resume && sessp != NULL && *sessp != NULL)
        SSL_set_session(c, *sessp);
    ret = bench_handshake(c, s, cfg->tls13);
    if (ret >= 0 && cfg->resume && sessp != NULL) {
        SSL_SESSION *next = SSL_get1_session(c);
        if (*sessp != NULL)
            SSL_SESSION_free(*sessp);
        *sessp = next;
    }
    if (ret < 0)
        ERR_print_errors_fp(stderr);
    SSL_free(c);
    SSL_free(s);
    return ret;
}

struct hs_thread {
    pthread_t tid;
    const struct hs_config *cfg;
    pthread_barrier_t *barrier;
    double seconds, warmup;
    unsigned long handshakes, resumed, failed;
    uint64_t elapsed_ns, cpu_ns;
    struct cb_counts counts;
};

static void *hs_worker(void *arg)
{
    struct hs_thread *t = arg;
    SSL_SESSION *sess = NULL;
    uint64_t t0, c0, end, now;
    unsigned long n = 0, resumed = 0, failed = 0;

    /* Prime: a full handshake gives the session to resume. */
    if (t->cfg->resume && one_handshake(t->cfg, &sess) < 0)
        die("priming handshake failed");
    end = now_ns() + (uint64_t)(t->warmup * 1e9);
    while (now_ns() < end)
        if (one_handshake(t->cfg, &sess) < 0)
            die("warm-up handshake failed");
    pthread_barrier_wait(t->barrier);
    memset(&t_counts, 0, sizeof(t_counts));
    t0 = now_ns();
    c0 = cpu_ns();
    end = t0 + (uint64_t)(t->seconds * 1e9);
    do {
        int r = one_handshake(t->cfg, &sess);
        if (r < 0)
            failed++;
        else
            resumed += (unsigned long)r;
        n++;
        now = now_ns();
    } while (now < end);
    t->cpu_ns = cpu_ns() - c0;
    t->elapsed_ns = now - t0;
    t->handshakes = n;
    t->resumed = resumed;
    t->failed = failed;
    t->counts = t_counts;
    if (sess != NULL)
        SSL_SESSION_free(sess);
    return NULL;
}

/* The protocol version of a scenario name; sets cfg->resume. */
static int hs_scenario_version(const char *scen, struct hs_config *cfg)
{
    if (strcmp(scen, "tls12-resume") == 0) {
        cfg->resume = 1;
        return TLS1_2_VERSION;
    }
    if (strcmp(scen, "tls13-resume") == 0) {
        cfg->resume = 1;
        return TLS1_3_VERSION;
    }
    if (strcmp(scen, "tls12-full") == 0)
        return TLS1_2_VERSION;
    if (strcmp(scen, "tls13-full") == 0)
        return TLS1_3_VERSION;
    die("unknown scenario");
    return 0;
}

static void hs_make_ctxs(struct hs_config *cfg, int version, X509 *cert, EVP_PKEY *key)
{
    cfg->sctx = SSL_CTX_new(TLS_server_method());
    cfg->cctx = SSL_CTX_new(TLS_client_method());
    if (cfg->sctx == NULL || cfg->cctx == NULL)
        die("SSL_CTX_new");
    SSL_CTX_set_min_proto_version(cfg->sctx, version);
    SSL_CTX_set_max_proto_version(cfg->sctx, version);
    SSL_CTX_set_min_proto_version(cfg->cctx, version);
    SSL_CTX_set_max_proto_version(cfg->cctx, version);
    if (SSL_CTX_use_certificate(cfg->sctx, cert) != 1 || SSL_CTX_use_PrivateKey(cfg->sctx, key) != 1)
        die("server certificate");
    /* Session-id resumption (TLS 1.2) / stateful tickets (TLS 1.3), served
     * only by the application's external cache. */
    SSL_CTX_set_options(cfg->sctx, SSL_OP_NO_TICKET);
    SSL_CTX_set_num_tickets(cfg->sctx, 1);
    SSL_CTX_set_session_cache_mode(cfg->sctx, SSL_SESS_CACHE_SERVER | SSL_SESS_CACHE_NO_INTERNAL);
    SSL_CTX_set_session_id_context(cfg->sctx, (const unsigned char *)"sesscb-bench", 12);
    SSL_CTX_sess_set_new_cb(cfg->sctx, cache_new);
    SSL_CTX_sess_set_get_cb(cfg->sctx, cache_get);
    SSL_CTX_sess_set_remove_cb(cfg->sctx, cache_remove);
    SSL_CTX_set_verify(cfg->cctx, SSL_VERIFY_NONE, NULL);
}

/* What all handshake threads did, summed. */
struct hs_totals {
    double rate, wall_rate; /* handshakes per CPU second / per wall second */
    unsigned long total, resumed, failed;
    struct cb_counts cb;
};

static void hs_add_thread(struct hs_totals *sum, const struct hs_thread *t)
{
    sum->rate += (double)t->handshakes * 1e9 / (double)t->cpu_ns;
    sum->wall_rate += (double)t->handshakes * 1e9 / (double)t->elapsed_ns;
    sum->total += t->handshakes;
    sum->resumed += t->resumed;
    sum->failed += t->failed;
    sum->cb.news += t->counts.news;
    sum->cb.gets += t->counts.gets;
    sum->cb.hits += t->counts.hits;
    sum->cb.removes += t->counts.removes;
}

static void hs_run_threads(const struct hs_config *cfg, int threads, double seconds, double warmup,
                           struct hs_totals *sum)
{
    struct hs_thread th[16];
    pthread_barrier_t barrier;
    int i;

    pthread_barrier_init(&barrier, NULL, (unsigned)threads);
    for (i = 0; i < threads; i++) {
        memset(&th[i], 0, sizeof(th[i]));
        th[i].cfg = cfg;
        th[i].barrier = &barrier;
        th[i].seconds = seconds;
        th[i].warmup = warmup;
        if (pthread_create(&th[i].tid, NULL, hs_worker, &th[i]) != 0)
            die("pthread_create");
    }
    for (i = 0; i < threads; i++) {
        pthread_join(th[i].tid, NULL);
        hs_add_thread(sum, &th[i]);
    }
    pthread_barrier_destroy(&barrier);
}

static int mode_hs(const char *scen, int threads, double seconds, double warmup)
{
    struct hs_config cfg;
    EVP_PKEY *key = bench_make_key();
    X509 *cert = key != NULL ? bench_make_cert(key) : NULL;
    struct hs_totals sum;
    int version;

    memset(&cfg, 0, sizeof(cfg));
    memset(&sum, 0, sizeof(sum));
    if (threads < 1 || threads > 16)
        die("threads: 1..16");
    if (cert == NULL)
        die("key / certificate");
    version = hs_scenario_version(scen, &cfg);
    cfg.tls13 = version == TLS1_3_VERSION;
    hs_make_ctxs(&cfg, version, cert, key);
    hs_run_threads(&cfg, threads, seconds, warmup, &sum);
    if (sum.failed != 0)
        die("handshakes failed");
    /* Two threads' live sessions can meet in one bucket (direct-mapped
     * table): a rare full handshake then replaces a resumption. */
    if (cfg.resume && (double)sum.resumed < 0.99 * (double)sum.total)
        die("fewer than 99% of the resumptions were resumed");

    json_begin("hs");
    printf(",\"scenario\":\"%s\",\"threads\":%d,\"seconds\":%.3f,\"handshakes\":%lu,\"resumed\":%lu"
           ",\"hs_per_s\":%.1f,\"wall_hs_per_s\":%.1f,\"per_hs\":{\"new\":%.3f,\"get\":%.3f,\"hit\":%.3f,\"remove\":%.3f}",
           scen, threads, seconds, sum.total, sum.resumed, sum.rate, sum.wall_rate,
           (double)sum.cb.news / (double)sum.total, (double)sum.cb.gets / (double)sum.total,
           (double)sum.cb.hits / (double)sum.total, (double)sum.cb.removes / (double)sum.total);
    json_end();

    cache_clear();
    SSL_CTX_free(cfg.sctx);
    SSL_CTX_free(cfg.cctx);
    X509_free(cert);
    EVP_PKEY_free(key);
    return 0;
}

/* --------------------------------------------------- mode: registry */

/* Calls the remove field of ctx[0], of the newest ctx, and round-robin over
 * all `live` ctxs (each through its own field pointer). */
static NOINLINE double loop_round_robin(remove_cb_t *fps, SSL_CTX **ctxs, long live, SSL_SESSION *sess,
                                        long calls)
{
    uint64_t t0 = cpu_ns();
    long i, j = 0;
    for (i = 0; i < calls; i++) {
        fps[j](ctxs[j], sess);
        if (++j == live)
            j = 0;
    }
    return (double)(cpu_ns() - t0) / (double)calls;
}

static void registry_dispatch(SSL_CTX **ctxs, remove_cb_t *fps, long live, SSL_SESSION *sess, long calls,
                              int *first)
{
    long i, warm = calls / 5;
    double hot0, hotn, rr;
    for (i = 0; i < live; i++)
        fps[i] = real_get_remove(ctxs[i]);
    loop_remove(fps[0], ctxs[0], sess, warm);
    hot0 = loop_remove(fps[0], ctxs[0], sess, calls);
    loop_remove(fps[live - 1], ctxs[live - 1], sess, warm);
    hotn = loop_remove(fps[live - 1], ctxs[live - 1], sess, calls);
    loop_round_robin(fps, ctxs, live, sess, warm);
    rr = loop_round_robin(fps, ctxs, live, sess, calls);
    printf("%s{\"live\":%ld,\"first_ns\":%.4f,\"newest_ns\":%.4f,\"round_robin_ns\":%.4f}", *first ? "" : ",",
           live, hot0, hotn, rr);
    *first = 0;
}

/* sesscb's per-ctx slots (SLOT_COUNT in the library): ctxs past this many use
 * the shared pool, the second regime measured. */
#define REGISTRY_SLOT_REGIME 4096L
#define REGISTRY_POINTS 4

/* Costs summed per regime: [0] the slot regime, [1] the shared one. */
struct registry_stats {
    uint64_t create_ns, set_ns[2], first_set_ns[2], free_ns[2];
    long create_rss, set_rss[2], set_count[2];
};

/* Sets all three callbacks on a throwaway ctx, freed before the timed part so
 * every per-ctx slot is free again: sesscb resolves libssl and registers its
 * ex_data index on first use. */
static void registry_warm_setters(void)
{
    SSL_CTX *w = SSL_CTX_new(TLS_server_method());
    SSL_CTX_sess_set_new_cb(w, app_new);
    SSL_CTX_sess_set_get_cb(w, app_get_miss);
    SSL_CTX_sess_set_remove_cb(w, app_remove);
    SSL_CTX_free(w);
}

/* Batch ends: every dispatch point, the slot/shared boundary, and every 4096
 * ctxs in between (RSS is sampled per batch). Returns the batch count. */
static int registry_batch_ends(const long *points, long n, long *boundaries, int max)
{
    long cut = 0;
    int p = 0, nb = 0;

    while (cut < n && nb < max - 1) {
        long next = cut + 4096;
        while (p < REGISTRY_POINTS && points[p] <= cut)
            p++;
        if (p < REGISTRY_POINTS && points[p] < next)
            next = points[p];
        if (next > n)
            next = n;
        boundaries[nb++] = next;
        cut = next;
    }
    if (cut < n)
        die("registry: too many batches");
    return nb;
}

/* Creates ctxs [from, to) and sets their three callbacks, timing both. */
static void registry_attach_batch(SSL_CTX **ctxs, long from, long to, struct registry_stats *st)
{
    int regime = from >= REGISTRY_SLOT_REGIME ? 1 : 0;
    long r0, r1, r2, i;
    uint64_t t0, t1, t15, t2;

    r0 = rss_bytes();
    t0 = cpu_ns();
    for (i = from; i < to; i++) {
        ctxs[i] = SSL_CTX_new(TLS_server_method());
        if (ctxs[i] == NULL)
            die("SSL_CTX_new");
    }
    t1 = cpu_ns();
    r1 = rss_bytes();
    /* The first set on a ctx attaches it (sesscb); the next two do not. */
    for (i = from; i < to; i++)
        SSL_CTX_sess_set_new_cb(ctxs[i], app_new);
    t15 = cpu_ns();
    for (i = from; i < to; i++) {
        SSL_CTX_sess_set_get_cb(ctxs[i], app_get_miss);
        SSL_CTX_sess_set_remove_cb(ctxs[i], app_remove);
    }
    t2 = cpu_ns();
    r2 = rss_bytes();
    st->create_ns += t1 - t0;
    st->create_rss += r1 - r0;
    st->set_ns[regime] += t2 - t1;
    st->first_set_ns[regime] += t15 - t1;
    st->set_rss[regime] += r2 - r1;
    st->set_count[regime] += to - from;
}

/* Frees the slot regime first (ctx 0..4095), then the rest, timing each. */
static void registry_free_all(SSL_CTX **ctxs, long n, struct registry_stats *st)
{
    long split = n < REGISTRY_SLOT_REGIME ? n : REGISTRY_SLOT_REGIME, i;
    uint64_t t0 = cpu_ns(), t1, t2;

    for (i = 0; i < split; i++)
        SSL_CTX_free(ctxs[i]);
    t1 = cpu_ns();
    for (i = split; i < n; i++)
        SSL_CTX_free(ctxs[i]);
    t2 = cpu_ns();
    st->free_ns[0] = t1 - t0;
    st->free_ns[1] = t2 - t1;
}

/* Per-ctx figures of one regime; all zero when it had no ctx. */
static void registry_print_regime(const char *name, const struct registry_stats *st, int r)
{
    double count = (double)st->set_count[r];
    int any = st->set_count[r] != 0;

    printf(",\"%s\":{\"ctxs\":%ld,\"set_ns\":%.2f,\"first_set_ns\":%.2f,\"next_set_ns\":%.2f"
           ",\"bytes_per_ctx\":%.2f,\"free_ns\":%.1f}", name, st->set_count[r],
           any ? (double)st->set_ns[r] / (3.0 * count) : 0.0,
           any ? (double)st->first_set_ns[r] / count : 0.0,
           any ? (double)(st->set_ns[r] - st->first_set_ns[r]) / (2.0 * count) : 0.0,
           any ? (double)st->set_rss[r] / count : 0.0,
           any ? (double)st->free_ns[r] / count : 0.0);
}

static void registry_print_costs(long n, const struct registry_stats *st)
{
    printf(",\"create_ns_per_ctx\":%.1f,\"create_bytes_per_ctx\":%.1f", (double)st->create_ns / (double)n,
           (double)st->create_rss / (double)n);
    registry_print_regime("slot", st, 0);
    registry_print_regime("shared", st, 1);
    printf(",\"all\":{\"set_ns\":%.2f,\"bytes_per_ctx\":%.2f,\"free_ns\":%.1f}",
           (double)(st->set_ns[0] + st->set_ns[1]) / (3.0 * (double)n),
           (double)(st->set_rss[0] + st->set_rss[1]) / (double)n,
           (double)(st->free_ns[0] + st->free_ns[1]) / (double)n);
}

static int mode_registry(long n, long calls)
{
    SSL_CTX **ctxs = calloc((size_t)n, sizeof(*ctxs));
    remove_cb_t *fps = calloc((size_t)n, sizeof(*fps));
    SSL_SESSION *sess = SSL_SESSION_new();
    long points[REGISTRY_POINTS] = { 1, 1000, REGISTRY_SLOT_REGIME, n };
    long boundaries[64];
    struct registry_stats st;
    int nb, np = 0, first = 1, b;
    long done = 0;

    if (ctxs == NULL || fps == NULL || sess == NULL)
        die("alloc");
    memset(&st, 0, sizeof(st));
    resolve_real_getters();
    registry_warm_setters();
    nb = registry_batch_ends(points, n, boundaries, 64);

    json_begin("registry");
    printf(",\"ctxs\":%ld,\"calls\":%ld,\"dispatch\":[", n, calls);
    for (b = 0; b < nb; b++) {
        registry_attach_batch(ctxs, done, boundaries[b], &st);
        done = boundaries[b];
        for (; np < REGISTRY_POINTS && points[np] <= done; np++)
            if (points[np] == done && (np == 0 || points[np] != points[np - 1]))
                registry_dispatch(ctxs, fps, done, sess, calls, &first);
    }
    printf("]");
    if (g_calls == 0)
        die("registry: no callback ran");
    registry_free_all(ctxs, n, &st);
    registry_print_costs(n, &st);
    json_end();
    SSL_SESSION_free(sess);
    free(ctxs);
    free(fps);
    return 0;
}

/* ------------------------------------------------------------------ main */

static void usage(void)
{
    fprintf(stderr,
            "usage: sesscb-bench info\n"
            "       sesscb-bench storm SESSIONS\n"
            "       sesscb-bench dispatch CALLS THREADS\n"
            "       sesscb-bench hs tls12-resume|tls13-resume|tls12-full|tls13-full THREADS SECONDS WARMUP\n"
            "       sesscb-bench registry CTXS CALLS\n");
    exit(2);
}

int main(int argc, char **argv)
{
    if (argc < 2)
        usage();
    if (strcmp(argv[1], "info") == 0)
        return mode_info();
    if (strcmp(argv[1], "storm") == 0 && argc == 3)
        return mode_storm(atol(argv[2]));
    if (strcmp(argv[1], "dispatch") == 0 && argc == 4)
        return mode_dispatch(atol(argv[2]), atoi(argv[3]));
    if (strcmp(argv[1], "hs") == 0 && argc == 6)
        return mode_hs(argv[2], atoi(argv[3]), atof(argv[4]), atof(argv[5]));
    if (strcmp(argv[1], "registry") == 0 && argc == 4)
        return mode_registry(atol(argv[2]), atol(argv[3]));
    usage();
    return 2;
}
