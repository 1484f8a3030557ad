#define _GNU_SOURCE 1 /* pthread_rwlockattr_setkind_np */
/* Scenario 39: threads, callback churn while handshaking
 * (docs/openssl-behaviour.md, "Threads and locks").
 *
 * 8 handshake threads on one shared server ctx `sctx` (SERVER|
 * NO_INTERNAL_LOOKUP): threads 0-3 run TLS1.2 with SSL_OP_NO_TICKET on the
 * server SSL (every second iteration offers the previous session -> get
 * callback), threads 4-7 run TLS1.3 (every second iteration resumes with the
 * previous ticket). Every 8th iteration of every thread runs on `sctx_none`
 * instead, a server ctx on which no callback is ever set. A churn thread loops
 *   set_new_cb(A) / set_new_cb(B) / set_new_cb(NULL) / set_remove_cb(R|NULL) /
 *   set_get_cb(G|NULL)
 * on sctx and reads the getters after every set.
 *
 * One transition is NOT raced against handshakes: new_cb non-NULL -> NULL.
 * OpenSSL's ssl_update_cache() tests session_ctx->new_session_cb, calls
 * SSL_SESSION_up_ref(), then reloads the field and calls it
 * (docs/openssl-behaviour.md, "Threads and locks"), so clearing it
 * concurrently makes plain OpenSSL call through NULL. Observed here in plain
 * mode on 3.0.19 and 1.1.1w (about 1 run in 25 crashed at pc 0 right after
 * SSL_SESSION_up_ref in ssl_update_cache).
 * That set(NULL) is therefore done under a writer-preferring gate that the
 * handshake threads hold (shared) around each handshake; handshakes still run
 * while new_cb is NULL and race with the NULL -> A/B and A <-> B transitions.
 * The remove and get callbacks are set and cleared without the gate: OpenSSL
 * loads those fields once per call (remove_session_lock, flush,
 * lookup_sess_in_cache).
 * The TLS1.3 client ctx `cctx13` is in CLIENT mode with fixed callbacks C
 * (new) and D (remove), never changed: their counts are exact.
 *
 * Checks (aggregated, order-independent):
 *  - every callback ran with the right ctx: new A/B and get G with
 *    SSL_get_SSL_CTX == sctx, remove R with ctx == sctx, C/D with cctx13;
 *    nothing ever ran for sctx_none;
 *  - get: *copy == 1 on entry, 1 <= len <= 32;
 *  - the churn thread's getter returns exactly what it just set; getters read
 *    by the handshake threads and inside callbacks only ever return A/B/NULL,
 *    R/NULL, G/NULL;
 *  - all handshakes succeed; client new[C] == 2 per full TLS1.3 handshake +
 *    1 per resumption; before SSL_CTX_free(cctx13) remove[D] == TLS1.3
 *    resumptions (end-of-resumed-handshake remove) + non-clean client frees
 *    (non-clean-close remove; the client's current session is its last,
 *    cached, ticket); after it remove[D] == new[C]
 *    (every cached client session is removed exactly once);
 *  - sessions balance (created == freed, checked by h_finish).
 * Scale with SESSCB_TEST_ITERS (handshakes per thread, default 150); a
 * watchdog fails the scenario after SESSCB_TEST_WATCHDOG seconds (default 300). */
#include "../harness.h"

#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define S39_THREADS 8

static SSL_CTX *g_sctx, *g_snone, *g_cctx12, *g_cctx13;
static pthread_rwlock_t g_gate;     /* see the header: new_cb -> NULL only */
static int g_iters;
static int g_done;                 /* handshake threads finished */

/* counters (atomics) */
static long c_newA, c_newB, c_get, c_rem, c_newC, c_remD;
static long c_bad_ctx, c_bad_get_args, c_bad_getter, c_bad_churn_getter, c_bad_sess;
static long c_hs_ok, c_hs_fail, c_res13, c_full13, c_hs12, c_hs13, c_churn_loops, c_unclean13;

#define AINC(p) __atomic_add_fetch((p), 1, __ATOMIC_SEQ_CST)
#define ALOAD(p) __atomic_load_n((p), __ATOMIC_SEQ_CST)

static int s39_new_A(SSL *s, SSL_SESSION *sess);
static int s39_new_B(SSL *s, SSL_SESSION *sess);
static SSL_SESSION *s39_get_G(SSL *s, const unsigned char *id, int len, int *copy);
static void s39_rem_R(SSL_CTX *ctx, SSL_SESSION *sess);

/* getters on sctx may only return what the churn thread sets */
static void s39_check_getters(void)
{
    h_new_fn n = SSL_CTX_sess_get_new_cb(g_sctx);
    h_get_fn g = SSL_CTX_sess_get_get_cb(g_sctx);
    h_remove_fn r = SSL_CTX_sess_get_remove_cb(g_sctx);
    if ((n != NULL && n != s39_new_A && n != s39_new_B) || (g != NULL && g != s39_get_G)
            || (r != NULL && r != s39_rem_R))
        AINC(&c_bad_getter);
    if (SSL_CTX_sess_get_new_cb(g_snone) != NULL || SSL_CTX_sess_get_get_cb(g_snone) != NULL
            || SSL_CTX_sess_get_remove_cb(g_snone) != NULL)
        AINC(&c_bad_getter);
}

static void s39_check_sess(const SSL_SESSION *sess)
{
    if (sess == NULL || h_serial(sess) <= 0)
        AINC(&c_bad_sess);
}

static int s39_new_common(SSL *s, SSL_SESSION *sess)
{
    unsigned int l = 0;
    if (SSL_get_SSL_CTX(s) != g_sctx || !SSL_is_server(s))
        AINC(&c_bad_ctx);
    s39_check_sess(sess);
    if (sess != NULL) {
        (void)SSL_SESSION_get_id(sess, &l);
        if (l == 0)
            AINC(&c_bad_sess);
    }
    s39_check_getters();
    return 0;
}

static int s39_new_A(SSL *s, SSL_SESSION *sess) { AINC(&c_newA); return s39_new_common(s, sess); }
static int s39_new_B(SSL *s, SSL_SESSION *sess) { AINC(&c_newB); return s39_new_common(s, sess); }

static SSL_SESSION *s39_get_G(SSL *s, const unsigned char *id, int len, int *copy)
{
    AINC(&c_get);
    if (SSL_get_SSL_CTX(s) != g_sctx)
        AINC(&c_bad_ctx);
    if (id == NULL || len < 1 || len > 32 || copy == NULL || *copy != 1)
        AINC(&c_bad_get_args);
    s39_check_getters();
    return NULL;
}

static void s39_rem_R(SSL_CTX *ctx, SSL_SESSION *sess)
{
    AINC(&c_rem);
    if (ctx != g_sctx)
        AINC(&c_bad_ctx);
    s39_check_sess(sess);
    if (SSL_SESSION_is_resumable(sess))
        AINC(&c_bad_sess);
}

static int s39_new_C(SSL *s, SSL_SESSION *sess)
{
    AINC(&c_newC);
    if (SSL_get_SSL_CTX(s) != g_cctx13 || SSL_is_server(s))
        AINC(&c_bad_ctx);
    s39_check_sess(sess);
    return 0;
}

static void s39_rem_D(SSL_CTX *ctx, SSL_SESSION *sess)
{
    AINC(&c_remD);
    if (ctx != g_cctx13)
        AINC(&c_bad_ctx);
    s39_check_sess(sess);
}

/* callbacks that must never run (set on nothing; here to catch a shim that
 * would dispatch into a stale slot: sctx_none never gets any) */

static void *s39_hs_thread(void *arg)
{
    long t = (long)(intptr_t)arg;
    int tls13 = t >= S39_THREADS / 2;
    SSL_SESSION *prev = NULL;
    int i;

    for (i = 0; i < g_iters; i++) {
        int none = (i % 8) == 7;
        SSL_CTX *sctx = none ? g_snone : g_sctx;
        SSL_SESSION *offer = (i % 2 == 1 && !none) ? prev : NULL;
        h_pair *p = h_pair_new(tls13 ? g_cctx13 : g_cctx12, sctx, NULL, offer);
        int ok;

        if (!tls13)
            SSL_set_options(p->s, SSL_OP_NO_TICKET);
        pthread_rwlock_rdlock(&g_gate);
        ok = h_pair_handshake(p);
        if (ok && !h_pair_server_to_client(p))
            ok = 0;
        pthread_rwlock_unlock(&g_gate);
        if (ok) {
            AINC(&c_hs_ok);
            if (tls13) {
                if (SSL_session_reused(p->c))
                    AINC(&c_res13);
                else
                    AINC(&c_full13);
            }
        } else {
            AINC(&c_hs_fail);
        }
        AINC(tls13 ? &c_hs13 : &c_hs12);
        if (!none) {
            SSL_SESSION_free(prev);
            prev = SSL_get1_session(p->c);
        }
        s39_check_getters();
        if (tls13 && (i % 16) == 5)
            AINC(&c_unclean13);
        h_pair_free(p, (i % 16) != 5);
    }
    SSL_SESSION_free(prev);
    return NULL;
}

static void *s39_churn_thread(void *arg)
{
    long i = 0;
    (void)arg;
    while (!ALOAD(&g_done)) {
        h_remove_fn r = (i & 1) ? s39_rem_R : NULL;
        h_get_fn g = (i & 2) ? s39_get_G : NULL;
        SSL_CTX_sess_set_new_cb(g_sctx, s39_new_A);
        if (SSL_CTX_sess_get_new_cb(g_sctx) != s39_new_A)
            AINC(&c_bad_churn_getter);
        SSL_CTX_sess_set_new_cb(g_sctx, s39_new_B);
        if (SSL_CTX_sess_get_new_cb(g_sctx) != s39_new_B)
            AINC(&c_bad_churn_getter);
        if ((i & 3) == 0) {
            /* new_cb -> NULL: only between handshakes (see the header) */
            pthread_rwlock_wrlock(&g_gate);
            SSL_CTX_sess_set_new_cb(g_sctx, NULL);
            if (SSL_CTX_sess_get_new_cb(g_sctx) != NULL)
                AINC(&c_bad_churn_getter);
            pthread_rwlock_unlock(&g_gate);
            if (i & 4) {            /* NULL -> A/B while handshakes run */
                SSL_CTX_sess_set_new_cb(g_sctx, (i & 8) ? s39_new_A : s39_new_B);
                if (SSL_CTX_sess_get_new_cb(g_sctx) != ((i & 8) ? s39_new_A : s39_new_B))
                    AINC(&c_bad_churn_getter);
            }
        }
        SSL_CTX_sess_set_remove_cb(g_sctx, r);
        if (SSL_CTX_sess_get_remove_cb(g_sctx) != r)
            AINC(&c_bad_churn_getter);
        SSL_CTX_sess_set_get_cb(g_sctx, g);
        if (SSL_CTX_sess_get_get_cb(g_sctx) != g)
            AINC(&c_bad_churn_getter);
        s39_check_getters();
        i++;
        if ((i & 15) == 0) {
            struct timespec d = { 0, 20000 };   /* leave the cores to the handshakes */
            nanosleep(&d, NULL);
        }
    }
    __atomic_store_n(&c_churn_loops, i, __ATOMIC_SEQ_CST);
    return NULL;
}


int scenario_39(void)
{
    pthread_t hs[S39_THREADS], churn;
    long expect_C, remD_before;
    int i;

    pthread_rwlockattr_t ga;

    pthread_rwlockattr_init(&ga);
    pthread_rwlockattr_setkind_np(&ga, PTHREAD_RWLOCK_PREFER_WRITER_NONRECURSIVE_NP);
    pthread_rwlock_init(&g_gate, &ga);
    pthread_rwlockattr_destroy(&ga);
    g_iters = (int)h_env_long("SESSCB_TEST_ITERS", 150);
    ev("threads: %d handshake threads (4 TLS1.2 NO_TICKET, 4 TLS1.3) + 1 churn thread", S39_THREADS);

    g_sctx = h_server_ctx("sctx", TLS1_2_VERSION, TLS1_3_VERSION);
    g_snone = h_server_ctx("sctx_none", TLS1_2_VERSION, TLS1_3_VERSION);
    g_cctx12 = h_client_ctx("cctx12", TLS1_2_VERSION, TLS1_2_VERSION);
    g_cctx13 = h_client_ctx("cctx13", TLS1_3_VERSION, TLS1_3_VERSION);
    SSL_CTX_set_session_cache_mode(g_sctx, SSL_SESS_CACHE_SERVER | SSL_SESS_CACHE_NO_INTERNAL_LOOKUP);
    SSL_CTX_set_session_cache_mode(g_cctx13, SSL_SESS_CACHE_CLIENT);
    SSL_CTX_sess_set_new_cb(g_cctx13, s39_new_C);
    SSL_CTX_sess_set_remove_cb(g_cctx13, s39_rem_D);

    h_set_quiet(1);
    h_watchdog_start("scenario 39");
    pthread_create(&churn, NULL, s39_churn_thread, NULL);
    for (i = 0; i < S39_THREADS; i++)
        pthread_create(&hs[i], NULL, s39_hs_thread, (void *)(intptr_t)i);
    for (i = 0; i < S39_THREADS; i++)
        pthread_join(hs[i], NULL);
    __atomic_store_n(&g_done, 1, __ATOMIC_SEQ_CST);
    pthread_join(churn, NULL);

    /* a fixed final state, then tear down (removes at free are not counted
     * in the trace: how many sessions are cached depends on the churn) */
    SSL_CTX_sess_set_new_cb(g_sctx, s39_new_A);
    SSL_CTX_sess_set_get_cb(g_sctx, s39_get_G);
    SSL_CTX_sess_set_remove_cb(g_sctx, s39_rem_R);
    s39_check_getters();
    remD_before = ALOAD(&c_remD);
    SSL_CTX_free(g_cctx12);
    SSL_CTX_free(g_cctx13);
    SSL_CTX_free(g_snone);
    SSL_CTX_free(g_sctx);

    h_watchdog_stop();
    pthread_rwlock_destroy(&g_gate);
    h_set_quiet(0);

    ev("handshakes: tls12=%ld tls13=%ld", ALOAD(&c_hs12), ALOAD(&c_hs13));
    CHECK_EQ(ALOAD(&c_hs_ok), (long)S39_THREADS * g_iters, "all handshakes succeeded");
    CHECK_EQ(ALOAD(&c_hs_fail), 0, "no handshake failed");
    CHECK(ALOAD(&c_churn_loops) > 0, "churn thread ran");
    CHECK_EQ(ALOAD(&c_bad_ctx), 0, "every callback ran with the right ctx (none for sctx_none)");
    CHECK_EQ(ALOAD(&c_bad_get_args), 0, "get: copy_in == 1 and 1 <= len <= 32");
    CHECK_EQ(ALOAD(&c_bad_sess), 0, "callbacks got valid sessions (serial, id, not resumable in remove)");
    CHECK_EQ(ALOAD(&c_bad_churn_getter), 0, "churn thread: getter returns exactly what was set");
    CHECK_EQ(ALOAD(&c_bad_getter), 0, "getters only ever return A/B/NULL, R/NULL, G/NULL (NULL on sctx_none)");
    CHECK(ALOAD(&c_newA) + ALOAD(&c_newB) > 0 || ALOAD(&c_churn_loops) > 0,
          "new events attributed to A or B only");
    expect_C = 2 * ALOAD(&c_full13) + ALOAD(&c_res13);
    CHECK_EQ(ALOAD(&c_newC), expect_C, "client new[C] == 2 x full + 1 x resumed TLS1.3 handshakes");
    CHECK_EQ(remD_before, ALOAD(&c_res13) + ALOAD(&c_unclean13),
             "client remove[D] before SSL_CTX_free == TLS1.3 client resumptions + non-clean frees");
    CHECK_EQ(ALOAD(&c_remD), ALOAD(&c_newC), "client remove[D] in total == new[C]");
    CHECK(ALOAD(&c_res13) > 0, "some TLS1.3 resumptions happened");
    return h_result();
}
