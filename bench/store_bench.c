/*
 * sesscb store benchmark: what the shared session store (SESSCB_STORE=local)
 * costs and whether it holds up, measured in one program built twice from
 * one object (store-plain: -lssl; store-linked: -lsesscb before -lssl). The
 * driver (bench/store.py) picks the variant with the binary and the
 * environment, runs each measurement in a fresh process and prints ratios.
 *
 * Modes (each prints ONE JSON object on stdout):
 *   hs SCEN CACHE THREADS SECONDS WARMUP
 *       resumed in-memory handshakes (BIO pairs), SCEN = tls12 (session ids)
 *       | tls13 (stateful tickets, SSL_OP_NO_TICKET); CACHE = internal (the
 *       server ctx's own cache answers) | store (SSL_SESS_CACHE_NO_INTERNAL_
 *       LOOKUP: every resumption is served through the get callback, i.e. by
 *       the store in provide mode). Rates are per thread-CPU second.
 *   latency SCEN N [STOP_PID]
 *       calls the new and get callbacks the server ctx holds (the pointers in
 *       libssl's fields: sesscb's trampolines) N times each with a real
 *       server session under N distinct ids, timing each call: with the store
 *       on, new = application callback + sealed LMDB write, get = application
 *       miss + LMDB lookup + open + materialise (a hit); with it off, the
 *       same calls cost the trampoline and the trivial application callback.
 *       STOP_PID (Redis's): SIGSTOPped before the gets, SIGCONTed after
 *       them, so every get is a Redis lookup nothing answers.
 *   write SCEN SECONDS RATE THREADS TAG START_UNIX_MS
 *       THREADS threads call the new callback at RATE calls/s in total from
 *       START (so that several processes overlap), session ids tagged with
 *       TAG: per-call latency and time spent waiting for LMDB's mutexes
 *       (lock_wait.c).
 *   check SCEN TAG.THREAD.COUNT...
 *       looks every id those writers wrote up through the get callback.
 *   xmake SCEN N FILE / xresume SCEN FILE
 *       N full handshakes, the client sessions saved to FILE; then, in
 *       another process with its own server ctx, one resumption attempt each.
 *   rtt REDIS_PORT VALUE_BYTES N
 *       N GETs of one value straight from Redis over our own connection
 *       (resp_client.c): the round trip a Redis-backed get cannot beat.
 *   stalled SCEN N REDIS_PID
 *       sessions made and stored with Redis up, then offered with Redis
 *       SIGSTOPped (REDIS_PID 0: no store, nothing stopped), each handshake
 *       timed (bench/redis.py).
 * With sesscb in the process, hs, latency, write and stalled also print its
 * process counters (store_counters.c): the driver checks every hit was one.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <signal.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/ssl.h>

#include "bench_tls.h"
#include "lock_wait.h"
#include "resp_client.h"
#include "store_counters.h"
#include "store_bench_util.h"

typedef int (*new_cb_t)(SSL *, SSL_SESSION *);
typedef SSL_SESSION *(*get_cb_t)(SSL *, const unsigned char *, int, int *);

#define MAX_THREADS 16
#define SID_CTX "sesscb-bench"

/* ------------------------------------------------------------ contexts */

struct bench_tls {
    EVP_PKEY *key;
    X509 *cert;
    SSL_CTX *sctx, *cctx;
    int tls13;
};

static int scenario_tls13(const char *scen)
{
    if (strcmp(scen, "tls12") == 0)
        return 0;
    if (strcmp(scen, "tls13") == 0)
        return 1;
    die("scenario: tls12 | tls13");
    return 0;
}

/* A server ctx that resumes by session id (TLS 1.2) or stateful ticket
 * (TLS 1.3), with cache mode `mode`, and a client ctx for it. */
static void tls_setup(struct bench_tls *t, const char *scen, long mode)
{
    int version;
    t->tls13 = scenario_tls13(scen);
    version = t->tls13 ? TLS1_3_VERSION : TLS1_2_VERSION;
    t->key = bench_make_key();
    t->cert = t->key != NULL ? bench_make_cert(t->key) : NULL;
    t->sctx = SSL_CTX_new(TLS_server_method());
    t->cctx = SSL_CTX_new(TLS_client_method());
    if (t->cert == NULL || t->sctx == NULL || t->cctx == NULL)
        die("key, certificate or SSL_CTX_new");
    SSL_CTX_set_min_proto_version(t->sctx, version);
    SSL_CTX_set_max_proto_version(t->sctx, version);
    SSL_CTX_set_min_proto_version(t->cctx, version);
    SSL_CTX_set_max_proto_version(t->cctx, version);
    if (SSL_CTX_use_certificate(t->sctx, t->cert) != 1 || SSL_CTX_use_PrivateKey(t->sctx, t->key) != 1)
        die("server certificate");
    SSL_CTX_set_options(t->sctx, SSL_OP_NO_TICKET);
    SSL_CTX_set_num_tickets(t->sctx, 1);
    SSL_CTX_set_session_cache_mode(t->sctx, mode);
    SSL_CTX_set_session_id_context(t->sctx, (const unsigned char *)SID_CTX, sizeof(SID_CTX) - 1);
    SSL_CTX_set_verify(t->cctx, SSL_VERIFY_NONE, NULL);
}

static void tls_free(struct bench_tls *t)
{
    SSL_CTX_free(t->sctx);
    SSL_CTX_free(t->cctx);
    X509_free(t->cert);
    EVP_PKEY_free(t->key);
}

/* One handshake offering *sessp (if any); *sessp becomes the client's new
 * session. Returns 1 resumed, 0 full, -1 failed. */
static int handshake(const struct bench_tls *t, SSL_SESSION **sessp)
{
    SSL *c = SSL_new(t->cctx), *s = SSL_new(t->sctx);
    int r;
    if (c == NULL || s == NULL)
        die("SSL_new");
    if (*sessp != NULL)
        SSL_set_session(c, *sessp);
    r = bench_handshake(c, s, t->tls13);
    if (r >= 0) {
        SSL_SESSION_free(*sessp);
        *sessp = SSL_get1_session(c);
    } else {
        ERR_print_errors_fp(stderr);
    }
    SSL_free(c);
    SSL_free(s);
    return r;
}

/* ---------------------------------------------------- mode: handshakes */

struct hs_thread {
    pthread_t tid;
    const struct bench_tls *tls;
    pthread_barrier_t *barrier;
    double seconds, warmup;
    unsigned long handshakes, resumed, failed;
    uint64_t cpu, wall;
};

/* Clients each thread stands for: a session is offered again only after
 * CLIENTS other handshakes (milliseconds later, as a real client returns),
 * so the renewal a TLS 1.3 resumption stores, which the store thread writes
 * a moment after the handshake, is there when it is offered. */
#define CLIENTS 64

static void *hs_worker(void *arg)
{
    struct hs_thread *t = arg;
    SSL_SESSION *sess[CLIENTS] = {0};
    uint64_t end, c0, w0;
    unsigned long n = 0;
    int i;

    for (i = 0; i < CLIENTS; i++)
        if (handshake(t->tls, &sess[i]) < 0)
            die("priming handshake failed");
    for (end = now_ns() + (uint64_t)(t->warmup * 1e9); now_ns() < end; n++)
        if (handshake(t->tls, &sess[n % CLIENTS]) < 0)
            die("warm-up handshake failed");
    pthread_barrier_wait(t->barrier);
    w0 = now_ns();
    c0 = cpu_ns();
    end = w0 + (uint64_t)(t->seconds * 1e9);
    do {
        int r = handshake(t->tls, &sess[n++ % CLIENTS]);
        t->failed += r < 0;
        t->resumed += r > 0;
        t->handshakes++;
    } while (now_ns() < end);
    t->cpu = cpu_ns() - c0;
    t->wall = now_ns() - w0;
    for (i = 0; i < CLIENTS; i++)
        SSL_SESSION_free(sess[i]);
    return NULL;
}

static void hs_run(struct hs_thread *th, int threads, const struct bench_tls *tls, double seconds, double warmup)
{
    pthread_barrier_t barrier;
    int i;
    pthread_barrier_init(&barrier, NULL, (unsigned)threads);
    for (i = 0; i < threads; i++) {
        memset(&th[i], 0, sizeof(th[i]));
        th[i].tls = tls;
        th[i].barrier = &barrier;
        th[i].seconds = seconds;
        th[i].warmup = warmup;
        if (pthread_create(&th[i].tid, NULL, hs_worker, &th[i]) != 0)
            die("pthread_create");
    }
    for (i = 0; i < threads; i++)
        pthread_join(th[i].tid, NULL);
    pthread_barrier_destroy(&barrier);
}

static int mode_hs(const char *scen, const char *cache, int threads, double seconds, double warmup)
{
    struct bench_tls tls;
    struct hs_thread th[MAX_THREADS];
    long mode = SSL_SESS_CACHE_SERVER;
    unsigned long total = 0, resumed = 0, failed = 0;
    double rate = 0, wall_rate = 0;
    int i, store = strcmp(cache, "store") == 0;

    if (!store && strcmp(cache, "internal") != 0)
        die("cache: internal | store");
    if (threads < 1 || threads > MAX_THREADS)
        die("threads: 1..16");
    if (store)
        mode |= SSL_SESS_CACHE_NO_INTERNAL_LOOKUP;
    tls_setup(&tls, scen, mode);
    hs_run(th, threads, &tls, seconds, warmup);
    for (i = 0; i < threads; i++) {
        rate += (double)th[i].handshakes * 1e9 / (double)th[i].cpu;
        wall_rate += (double)th[i].handshakes * 1e9 / (double)th[i].wall;
        total += th[i].handshakes;
        resumed += th[i].resumed;
        failed += th[i].failed;
    }
    if (failed != 0)
        die("handshakes failed");
    json_begin("hs");
    printf(",\"scenario\":\"%s\",\"cache\":\"%s\",\"threads\":%d,\"handshakes\":%lu,\"resumed\":%lu"
           ",\"hs_per_s\":%.1f,\"wall_hs_per_s\":%.1f,\"internal_hits\":%ld,\"cb_hits\":%ld,\"misses\":%ld",
           scen, cache, threads, total, resumed, rate, wall_rate, SSL_CTX_sess_hits(tls.sctx),
           SSL_CTX_sess_cb_hits(tls.sctx), SSL_CTX_sess_misses(tls.sctx));
    print_store_counters();
    json_end();
    tls_free(&tls);
    return 0;
}

/* ------------------------------------- the callbacks as libssl calls them */

/* The application's callbacks: trivial, so that store off and store on run
 * the same application code (augment mode) and differ by the store only. */
static SSL_SESSION *g_template;

static int app_new(SSL *ssl, SSL_SESSION *sess)
{
    (void)ssl;
    if (g_template == NULL && SSL_SESSION_up_ref(sess))
        g_template = sess;
    return 0;
}

static SSL_SESSION *app_get(SSL *ssl, const unsigned char *id, int len, int *copy)
{
    (void)ssl; (void)id; (void)len; (void)copy;
    return NULL;
}

/* A server ctx with the application's callbacks, a server SSL on it, and a
 * real server session (from one full handshake) to store under new ids. */
struct cb_bench {
    struct bench_tls tls;
    SSL *ssl;
    new_cb_t fnew;
    get_cb_t fget;
};

static void cb_setup(struct cb_bench *b, const char *scen)
{
    SSL_SESSION *client = NULL;
    tls_setup(&b->tls, scen, SSL_SESS_CACHE_SERVER | SSL_SESS_CACHE_NO_INTERNAL);
    SSL_CTX_sess_set_new_cb(b->tls.sctx, app_new);
    SSL_CTX_sess_set_get_cb(b->tls.sctx, app_get);
    if (handshake(&b->tls, &client) != 0 || g_template == NULL)
        die("template handshake");
    SSL_SESSION_free(client);
    b->ssl = SSL_new(b->tls.sctx);
    if (b->ssl == NULL)
        die("SSL_new");
    SSL_set_accept_state(b->ssl);
    b->fnew = real_new_cb(b->tls.sctx);
    b->fget = real_get_cb(b->tls.sctx);
    if (b->fnew == NULL || b->fget == NULL)
        die("callbacks not installed");
}

static void cb_free(struct cb_bench *b)
{
    SSL_free(b->ssl);
    SSL_SESSION_free(g_template);
    g_template = NULL;
    tls_free(&b->tls);
}

/* One new-session event for id (tag, thread, seq); returns its duration. */
static uint64_t timed_new(const struct cb_bench *b, SSL_SESSION *sess, uint64_t tag, uint64_t thread, uint64_t seq)
{
    unsigned char id[32];
    uint64_t t0;
    make_id(id, tag, thread, seq);
    if (!SSL_SESSION_set1_id(sess, id, sizeof(id)))
        die("SSL_SESSION_set1_id");
    t0 = now_ns();
    b->fnew(b->ssl, sess);
    return now_ns() - t0;
}

/* One get event for id (tag, thread, seq); *hit tells whether it found a
 * session (freed here, untimed). Returns its duration. */
static uint64_t timed_get(const struct cb_bench *b, uint64_t tag, uint64_t thread, uint64_t seq, int *hit)
{
    unsigned char id[32];
    SSL_SESSION *found;
    uint64_t t0, dt;
    int copy = 1;
    make_id(id, tag, thread, seq);
    t0 = now_ns();
    found = b->fget(b->ssl, id, sizeof(id), &copy);
    dt = now_ns() - t0;
    *hit = found != NULL;
    if (found != NULL && copy)
        SSL_SESSION_up_ref(found); /* what libssl does when *copy stays 1 */
    SSL_SESSION_free(found);
    return dt;
}

/* ------------------------------------------------------- mode: latency */

/* News timed back to back before a pause (see mode_latency). */
#define BURST 1000

static int mode_latency(const char *scen, long n, long stop_pid)
{
    struct cb_bench b;
    uint64_t *t_new = calloc((size_t)n, sizeof(uint64_t)), *t_get = calloc((size_t)n, sizeof(uint64_t));
    uint64_t overhead = clock_overhead_ns();
    long i, warm = n / 10 + 100, hits = 0;
    int hit;

    if (t_new == NULL || t_get == NULL)
        die("alloc");
    cb_setup(&b, scen);
    for (i = 0; i < warm; i++) { /* opens the store, touches its pages */
        timed_new(&b, g_template, 1, 0, (uint64_t)i);
        timed_get(&b, 1, 0, (uint64_t)i, &hit);
    }
    /* sesscb queues each write for its store thread: pause between bursts
     * (a burst is far faster than any server's new sessions) so the queue
     * drains instead of dropping, and before the lookups so all are there. */
    for (i = 0; i < n; i++) {
        t_new[i] = timed_new(&b, g_template, 2, 0, (uint64_t)i);
        if (i % BURST == BURST - 1)
            usleep(20000);
    }
    usleep(200000);
    if (store_is_remote()) /* every write sent, so that every get can hit */
        store_wait_remote_writes((uint64_t)(warm + n + 1), 10000);
    if (stop_pid > 0 && kill((pid_t)stop_pid, SIGSTOP) != 0) /* Redis: every get now misses */
        die("latency: SIGSTOP");
    for (i = 0; i < n; i++) {
        t_get[i] = timed_get(&b, 2, 0, (uint64_t)i, &hit);
        hits += hit;
    }
    if (stop_pid > 0)
        kill((pid_t)stop_pid, SIGCONT);
    json_begin("latency");
    printf(",\"scenario\":\"%s\",\"calls\":%ld,\"get_hits\":%ld,\"clock_overhead_ns\":%llu,\"stopped\":%d", scen, n,
           hits, (unsigned long long)overhead, stop_pid > 0);
    print_percentiles("new", t_new, (size_t)n, overhead);
    print_percentiles("get", t_get, (size_t)n, overhead);
    print_store_counters();
    json_end();
    cb_free(&b);
    free(t_new);
    free(t_get);
    return 0;
}

/* --------------------------------------------- mode: concurrent writers */

struct writer {
    pthread_t tid;
    const struct cb_bench *b;
    SSL_SESSION *sess;
    uint64_t tag, index, start_ns, period_ns, calls;
    uint64_t *lat, *wait; /* per call; wait 0 when no mutex was held */
    struct lock_wait locks;
    uint64_t wall;
    uint64_t descheduled; /* calls off the CPU > 200 µs, lock waits aside */
};

/* A call whose wall time passed its CPU time plus its lock wait by this
 * much was preempted: on a shared 2-core machine, what makes a lock holder
 * slow and its waiters wait long. */
#define DESCHEDULED_NS 200000ull

/* Calls new every period_ns from start_ns (absolute CLOCK_MONOTONIC) on,
 * catching up without sleeping when late, `calls` times. */
static void *writer_main(void *arg)
{
    struct writer *w = arg;
    struct timespec at;
    uint64_t i, due;

    for (i = 0; i < w->calls; i++) {
        due = w->start_ns + i * w->period_ns;
        if (now_ns() < due) {
            at.tv_sec = (time_t)(due / 1000000000ull);
            at.tv_nsec = (long)(due % 1000000000ull);
            while (clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &at, NULL) == EINTR)
                ;
        }
        uint64_t c0 = cpu_ns();
        lock_wait_begin();
        w->lat[i] = timed_new(w->b, w->sess, w->tag, w->index, i);
        struct lock_wait lw = lock_wait_end();
        w->descheduled += w->lat[i] > cpu_ns() - c0 + lw.wait_ns + DESCHEDULED_NS;
        w->wait[i] = lw.wait_ns;
        w->locks.acquisitions += lw.acquisitions;
        w->locks.contended += lw.contended;
        w->locks.wait_ns += lw.wait_ns;
    }
    w->wall = now_ns() - w->start_ns;
    return NULL;
}

/* Each thread gets its own copy of the template: set1_id changes it. */
static void writers_start(struct writer *w, int threads, const struct cb_bench *b, uint64_t tag, uint64_t start,
                          uint64_t period, uint64_t calls)
{
    int i;
    for (i = 0; i < threads; i++) {
        memset(&w[i], 0, sizeof(w[i]));
        w[i].b = b;
        w[i].sess = SSL_SESSION_dup(g_template);
        w[i].tag = tag;
        w[i].index = (uint64_t)i;
        w[i].start_ns = start + (uint64_t)i * period / (uint64_t)threads;
        w[i].period_ns = period;
        w[i].calls = calls;
        w[i].lat = calloc(calls, sizeof(uint64_t));
        w[i].wait = calloc(calls, sizeof(uint64_t));
        if (w[i].sess == NULL || w[i].lat == NULL || w[i].wait == NULL)
            die("writer setup");
        if (pthread_create(&w[i].tid, NULL, writer_main, &w[i]) != 0)
            die("pthread_create");
    }
}

static void writers_report(struct writer *w, int threads, double rate)
{
    uint64_t calls = w[0].calls * (uint64_t)threads, *lat = calloc(calls, 8), *wait = calloc(calls, 8);
    uint64_t contended = 0, acquisitions = 0, wait_sum = 0, wall = 0, descheduled = 0;
    size_t n_wait = 0, k = 0;
    int i;
    if (lat == NULL || wait == NULL)
        die("alloc");
    for (i = 0; i < threads; i++) {
        for (uint64_t j = 0; j < w[i].calls; j++, k++) {
            lat[k] = w[i].lat[j];
            if (w[i].wait[j] != 0)
                wait[n_wait++] = w[i].wait[j];
        }
        contended += w[i].locks.contended;
        acquisitions += w[i].locks.acquisitions;
        wait_sum += w[i].locks.wait_ns;
        descheduled += w[i].descheduled;
        wall = w[i].wall > wall ? w[i].wall : wall;
    }
    printf(",\"threads\":%d,\"target_rate\":%.0f,\"calls\":%llu,\"achieved_rate\":%.1f,\"written\":[", threads, rate,
           (unsigned long long)calls, (double)calls * 1e9 / (double)wall);
    for (i = 0; i < threads; i++)
        printf("%s%llu", i ? "," : "", (unsigned long long)w[i].calls);
    printf("],\"mutex_acquisitions\":%llu,\"mutex_contended\":%llu,\"calls_that_waited\":%zu,\"wait_total_ns\":%llu"
           ",\"descheduled_calls\":%llu", (unsigned long long)acquisitions, (unsigned long long)contended, n_wait,
           (unsigned long long)wait_sum, (unsigned long long)descheduled);
    print_percentiles("new", lat, calls, 0);
    print_percentiles("wait_when_waited", wait, n_wait, 0);
    free(lat);
    free(wait);
}

static int mode_write(const char *scen, double seconds, double rate, int threads, long tag, long long start_ms)
{
    struct cb_bench b;
    struct writer w[MAX_THREADS];
    uint64_t period = (uint64_t)(1e9 * threads / rate), calls = (uint64_t)(seconds * rate / threads);
    uint64_t start = now_ns() + realtime_until_ns(start_ms);
    int i;

    if (threads < 1 || threads > MAX_THREADS || calls == 0)
        die("write: bad arguments");
    cb_setup(&b, scen);
    writers_start(w, threads, &b, (uint64_t)tag, start, period, calls);
    for (i = 0; i < threads; i++)
        pthread_join(w[i].tid, NULL);
    /* Redis: the writes are still in the queue; report once the Redis
     * thread has dealt with all (+1: the setup handshake's session). */
    if (store_is_remote())
        store_wait_remote_writes(calls * (uint64_t)threads + 1, 10000);
    json_begin("write");
    printf(",\"scenario\":\"%s\",\"tag\":%ld", scen, tag);
    writers_report(w, threads, rate);
    print_store_counters();
    json_end();
    for (i = 0; i < threads; i++) {
        SSL_SESSION_free(w[i].sess);
        free(w[i].lat);
        free(w[i].wait);
    }
    cb_free(&b);
    return 0;
}

/* --------------------------------------------------------- mode: check */

static int mode_check(const char *scen, int argc, char **argv)
{
    struct cb_bench b;
    unsigned long long tag, thread, count, looked = 0, hits = 0, i;
    int a, hit;

    cb_setup(&b, scen);
    for (a = 0; a < argc; a++) {
        if (sscanf(argv[a], "%llu.%llu.%llu", &tag, &thread, &count) != 3)
            die("check: TAG.THREAD.COUNT");
        for (i = 0; i < count; i++, looked++) {
            timed_get(&b, tag, thread, i, &hit);
            hits += (unsigned long long)hit;
        }
    }
    json_begin("check");
    printf(",\"scenario\":\"%s\",\"looked_up\":%llu,\"hits\":%llu", scen, looked, hits);
    json_end();
    cb_free(&b);
    return 0;
}

/* ------------------------------------------ modes: cross-process resume */

static int mode_xmake(const char *scen, long n, const char *path)
{
    struct bench_tls tls;
    FILE *f = fopen(path, "wb");
    long i, full = 0;

    if (f == NULL)
        die("xmake: cannot write the session file");
    tls_setup(&tls, scen, SSL_SESS_CACHE_SERVER);
    for (i = 0; i < n; i++) {
        SSL_SESSION *sess = NULL;
        full += handshake(&tls, &sess) == 0;
        if (sess == NULL || !write_session(f, sess))
            die("xmake: handshake or write");
        SSL_SESSION_free(sess);
    }
    if (fclose(f) != 0)
        die("xmake: close");
    json_begin("xmake");
    printf(",\"scenario\":\"%s\",\"sessions\":%ld,\"full\":%ld", scen, n, full);
    json_end();
    tls_free(&tls);
    return 0;
}

static int mode_xresume(const char *scen, const char *path)
{
    struct bench_tls tls;
    FILE *f = fopen(path, "rb");
    SSL_SESSION *sess;
    long tried = 0, resumed = 0;

    if (f == NULL)
        die("xresume: cannot read the session file");
    tls_setup(&tls, scen, SSL_SESS_CACHE_SERVER);
    while ((sess = read_session(f)) != NULL) {
        int r = handshake(&tls, &sess);
        if (r < 0)
            die("xresume: handshake failed");
        tried++;
        resumed += r;
        SSL_SESSION_free(sess);
    }
    fclose(f);
    json_begin("xresume");
    printf(",\"scenario\":\"%s\",\"tried\":%ld,\"resumed\":%ld,\"internal_hits\":%ld,\"cb_hits\":%ld", scen, tried,
           resumed, SSL_CTX_sess_hits(tls.sctx), SSL_CTX_sess_cb_hits(tls.sctx));
    json_end();
    tls_free(&tls);
    return 0;
}

/* ------------------------------------------------------ mode: Redis RTT */

#define RTT_KEY "sesscb-bench:rtt"

/* N GETs of one value of `size` bytes (what a store entry weighs) over one
 * connection of our own: the round trip sesscb's get is compared with. */
static int mode_rtt(int port, long size, long n)
{
    unsigned char *value = malloc((size_t)size), *buf = malloc((size_t)size + 64);
    uint64_t *t = calloc((size_t)n, sizeof(uint64_t)), overhead = clock_overhead_ns();
    int fd = resp_connect(port);
    long i, whole = 0;

    if (value == NULL || buf == NULL || t == NULL || fd < 0 || size < 1 || n < 1)
        die("rtt: setup (connect, alloc or arguments)");
    memset(value, 'v', (size_t)size);
    if (resp_set(fd, RTT_KEY, value, (size_t)size) != 0)
        die("rtt: SET");
    for (i = 0; i < n / 10 + 100; i++)
        resp_get(fd, RTT_KEY, buf, (size_t)size + 64);
    for (i = 0; i < n; i++) {
        uint64_t t0 = now_ns();
        long got = resp_get(fd, RTT_KEY, buf, (size_t)size + 64);
        t[i] = now_ns() - t0;
        whole += got == size;
    }
    if (whole != n)
        die("rtt: a GET did not return the whole value");
    json_begin("rtt");
    printf(",\"port\":%d,\"value_bytes\":%ld,\"calls\":%ld,\"clock_overhead_ns\":%llu", port, size, n,
           (unsigned long long)overhead);
    print_percentiles("get", t, (size_t)n, overhead);
    json_end();
    close(fd);
    free(value);
    free(buf);
    free(t);
    return 0;
}

/* ------------------------------------------- mode: handshakes, Redis stopped */

/* Sessions offered before Redis is stopped: they must resume through it
 * (with the store on), proving the later misses are Redis's absence. */
#define CONTROL 20

/* Makes n + CONTROL sessions (Redis running), offers CONTROL of them, then
 * stops process `pid` (Redis; 0: none, the store-off run) and offers the n
 * others, timing each handshake (all full: nothing can resume). */
static int mode_stalled(const char *scen, long n, long pid)
{
    struct bench_tls tls;
    SSL_SESSION **sess = calloc((size_t)(n + CONTROL), sizeof(*sess));
    uint64_t *t = calloc((size_t)n, sizeof(uint64_t));
    long i, control = 0, resumed = 0;
    int r;

    if (sess == NULL || t == NULL || n < 1)
        die("stalled: alloc or arguments");
    tls_setup(&tls, scen, SSL_SESS_CACHE_SERVER | SSL_SESS_CACHE_NO_INTERNAL_LOOKUP);
    for (i = 0; i < n + CONTROL; i++)
        if (handshake(&tls, &sess[i]) != 0)
            die("stalled: priming handshake not full");
    if (store_is_remote())
        store_wait_remote_writes((uint64_t)(n + CONTROL), 10000);
    for (i = n; i < n + CONTROL; i++)
        if ((r = handshake(&tls, &sess[i])) >= 0)
            control += r;
    if (pid > 0 && kill((pid_t)pid, SIGSTOP) != 0)
        die("stalled: SIGSTOP");
    for (i = 0; i < n; i++) {
        uint64_t t0 = now_ns();
        r = handshake(&tls, &sess[i]);
        t[i] = now_ns() - t0;
        if (r < 0)
            die("stalled: a handshake failed");
        resumed += r;
    }
    if (pid > 0)
        kill((pid_t)pid, SIGCONT);
    json_begin("stalled");
    printf(",\"scenario\":\"%s\",\"handshakes\":%ld,\"resumed\":%ld,\"control_offered\":%d,\"control_resumed\":%ld",
           scen, n, resumed, CONTROL, control);
    print_percentiles("hs", t, (size_t)n, 0);
    print_store_counters();
    json_end();
    for (i = 0; i < n + CONTROL; i++)
        SSL_SESSION_free(sess[i]);
    free(sess);
    free(t);
    tls_free(&tls);
    return 0;
}

/* ------------------------------------------------------------------ main */

static void usage(void)
{
    fprintf(stderr, "usage: store-bench info\n"
                    "       store-bench hs tls12|tls13 internal|store THREADS SECONDS WARMUP\n"
                    "       store-bench latency tls12|tls13 N [STOP_PID]\n"
                    "       store-bench write tls12|tls13 SECONDS RATE THREADS TAG START_UNIX_MS\n"
                    "       store-bench check tls12|tls13 TAG.THREAD.COUNT...\n"
                    "       store-bench xmake tls12|tls13 N FILE\n"
                    "       store-bench xresume tls12|tls13 FILE\n"
                    "       store-bench rtt REDIS_PORT VALUE_BYTES N\n"
                    "       store-bench stalled tls12|tls13 N REDIS_PID\n");
    exit(2);
}

int main(int argc, char **argv)
{
    const char *m = argc > 1 ? argv[1] : "";
    if (strcmp(m, "info") == 0) {
        json_begin("info");
        json_end();
        return 0;
    }
    if (strcmp(m, "hs") == 0 && argc == 7)
        return mode_hs(argv[2], argv[3], atoi(argv[4]), atof(argv[5]), atof(argv[6]));
    if (strcmp(m, "latency") == 0 && (argc == 4 || argc == 5))
        return mode_latency(argv[2], atol(argv[3]), argc == 5 ? atol(argv[4]) : 0);
    if (strcmp(m, "write") == 0 && argc == 8)
        return mode_write(argv[2], atof(argv[3]), atof(argv[4]), atoi(argv[5]), atol(argv[6]), atoll(argv[7]));
    if (strcmp(m, "check") == 0 && argc >= 4)
        return mode_check(argv[2], argc - 3, argv + 3);
    if (strcmp(m, "xmake") == 0 && argc == 5)
        return mode_xmake(argv[2], atol(argv[3]), argv[4]);
    if (strcmp(m, "xresume") == 0 && argc == 4)
        return mode_xresume(argv[2], argv[3]);
    if (strcmp(m, "rtt") == 0 && argc == 5)
        return mode_rtt(atoi(argv[2]), atol(argv[3]), atol(argv[4]));
    if (strcmp(m, "stalled") == 0 && argc == 5)
        return mode_stalled(argv[2], atol(argv[3]), atol(argv[4]));
    usage();
    return 2;
}
