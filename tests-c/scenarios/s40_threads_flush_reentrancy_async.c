/* Scenario 40: concurrent flushes and removes, re-entrancy, SSL_MODE_ASYNC
 * (docs/openssl-behaviour.md, "Threads and locks").
 *
 * Part 1, re-entrancy (single thread, full trace):
 *  r1. a remove callback clearing itself inside SSL_CTX_remove_session:
 *      1 report, the getter returns NULL afterwards, the next remove: none.
 *  r2. the same during SSL_CTX_flush_sessions(ctx, 0) with 3 cached (under
 *      ctx->lock): 1 report, all 3 sessions removed and freed.
 *  r3. a TLS1.3 server new callback X replacing itself with Y (getter == X
 *      before, == Y after, inside X): X x1, Y x1 for the 2 tickets.
 *  r4. a TLS1.3 server new callback installing the remove callback: the
 *      first ticket is not cached (remove_cb NULL when ssl_update_cache
 *      looked), the second is: number 1. (The install must be synchronous.)
 *  r5. a get callback calling the getters and clearing itself: get x1 on the
 *      first resumption attempt, x0 on the second.
 *  r6. a remove callback running under ctx->lock (cache-full eviction) that
 *      reads the getters and replaces itself with R': the next eviction
 *      reports through R'.
 * Part 2, SSL_MODE_ASYNC (full trace): every callback records whether
 *  ASYNC_get_current_job() != NULL, i.e. runs on an ASYNC fibre (32 KiB stack).
 *  a1. SSL_MODE_ASYNC on both SSLs, libssl starts the jobs itself: TLS1.3
 *      server new x2, client (CLIENT mode) new x2 in SSL_read; TLS1.2
 *      NO_TICKET + NO_INTERNAL_LOOKUP resumption: get x1, new; all in_job=1.
 *  a2. our own ASYNC_start_job loop around SSL_do_handshake / SSL_read (with
 *      SSL_MODE_ASYNC set) and around SSL_CTX_remove_session and
 *      SSL_CTX_flush_sessions: new, remove (both paths) in_job=1.
 *  The default provider never pauses, so no WANT_ASYNC is expected (counted).
 * Part 3, threads (aggregated): 4 handshake threads on sctx1/sctx2 (TLS1.2
 *  NO_TICKET and TLS1.3), pushing the server sessions to a remover thread
 *  (SSL_CTX_remove_session on the owning ctx, sometimes twice), a flusher
 *  thread (SSL_CTX_flush_sessions(now / 0)) and a churn thread setting and
 *  clearing sctx1's remove callback and flipping its new callback between two
 *  functions (never NULL: see scenario 39 for OpenSSL's double load). Session ids carry a per-ctx
 *  marker byte. Checks: no deadlock (watchdog), every remove callback got
 *  its own ctx and a session of that ctx, every SSL_CTX_remove_session on
 *  sctx2 (fixed callback) produced exactly one callback on the calling
 *  thread, all handshakes succeeded, sessions balance.
 *  Scale: SESSCB_TEST_ITERS (default 250 per thread), SESSCB_TEST_WATCHDOG. */
#include "../harness.h"

#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <openssl/async.h>

#define AINC(p) __atomic_add_fetch((p), 1, __ATOMIC_SEQ_CST)
#define ALOAD(p) __atomic_load_n((p), __ATOMIC_SEQ_CST)

static unsigned int s40_idctr;

static void s40_fill_id(unsigned char *id, unsigned int len, unsigned char marker)
{
    unsigned int n = __atomic_add_fetch(&s40_idctr, 1, __ATOMIC_SEQ_CST);
    memset(id, 0, len);
    id[0] = marker;
    id[1] = (unsigned char)n;
    id[2] = (unsigned char)(n >> 8);
    id[3] = (unsigned char)(n >> 16);
    id[4] = 0x40;
}

static int s40_gen_id(SSL *ssl, unsigned char *id, unsigned int *len)
{
    (void)ssl;
    s40_fill_id(id, *len, 0x00);
    return 1;
}

static SSL_SESSION *s40_sess(void)
{
    unsigned char id[32];
    SSL_SESSION *s = SSL_SESSION_new();
    if (s == NULL)
        abort();
    SSL_SESSION_set_protocol_version(s, TLS1_2_VERSION);
    s40_fill_id(id, sizeof(id), 0x00);
    if (!SSL_SESSION_set1_id(s, id, sizeof(id)))
        abort();
    return s;
}

/* ====================================================== part 1: re-entrancy */

static int r_calls, r_calls2;
static h_remove_fn r_seen_getter;

static void r_selfclear(SSL_CTX *ctx, SSL_SESSION *sess)
{
    r_calls++;
    SSL_CTX_sess_set_remove_cb(ctx, NULL);
    ev("R-selfclear: cleared, getter now %s",
       SSL_CTX_sess_get_remove_cb(ctx) == NULL ? "NULL" : "non-NULL");
    h_remove_A(ctx, sess);
}

static void r_prime(SSL_CTX *ctx, SSL_SESSION *sess)
{
    r_calls2++;
    h_remove_B(ctx, sess);
}

static void r_replace(SSL_CTX *ctx, SSL_SESSION *sess)
{
    int ok;
    r_calls++;
    r_seen_getter = SSL_CTX_sess_get_remove_cb(ctx);
    ok = r_seen_getter == r_replace && SSL_CTX_sess_get_new_cb(ctx) == h_new_A
         && SSL_CTX_sess_get_get_cb(ctx) == h_get_A;
    SSL_CTX_sess_set_remove_cb(ctx, r_prime);
    ev("R-replace (under lock): getters ok=%d, replaced by R', getter now %s", ok,
       SSL_CTX_sess_get_remove_cb(ctx) == r_prime ? "R'" : "other");
    h_remove_A(ctx, sess);
}

static int n_x_calls, n_y_calls, n_install_calls;
static int n_y(SSL *s, SSL_SESSION *sess);

static int n_x(SSL *s, SSL_SESSION *sess)
{
    SSL_CTX *ctx = SSL_get_SSL_CTX(s);
    int before = SSL_CTX_sess_get_new_cb(ctx) == n_x;
    n_x_calls++;
    SSL_CTX_sess_set_new_cb(ctx, n_y);
    ev("new-X: getter was X=%d, replaced by Y, getter now Y=%d", before,
       SSL_CTX_sess_get_new_cb(ctx) == n_y);
    return h_new_A(s, sess);
}

static int n_y(SSL *s, SSL_SESSION *sess)
{
    n_y_calls++;
    ev("new-Y");
    return h_new_B(s, sess);
}

static int n_install_remove(SSL *s, SSL_SESSION *sess)
{
    SSL_CTX *ctx = SSL_get_SSL_CTX(s);
    n_install_calls++;
    if (SSL_CTX_sess_get_remove_cb(ctx) == NULL) {
        SSL_CTX_sess_set_remove_cb(ctx, h_remove_A);
        ev("new: installed the remove callback (number=%ld)", h_sess_number(ctx));
    } else {
        ev("new: remove callback already set (number=%ld)", h_sess_number(ctx));
    }
    return h_new_A(s, sess);
}

static int g_selfclear_calls;

static SSL_SESSION *g_selfclear(SSL *s, const unsigned char *id, int len, int *copy)
{
    SSL_CTX *ctx = SSL_get_SSL_CTX(s);
    int ok = SSL_CTX_sess_get_get_cb(ctx) == g_selfclear && SSL_CTX_sess_get_new_cb(ctx) == h_new_A;
    g_selfclear_calls++;
    SSL_CTX_sess_set_get_cb(ctx, NULL);
    ev("get-selfclear: getters ok=%d, cleared, getter now %s", ok,
       SSL_CTX_sess_get_get_cb(ctx) == NULL ? "NULL" : "non-NULL");
    return h_get_A(s, id, len, copy);
}

static void s40_r1_remove_clears_itself(void)
{
    SSL_CTX *ctx;
    SSL_SESSION *a, *b;
    int r;

    ev("--- r1: remove callback clearing itself in SSL_CTX_remove_session");
    h_cfg_reset();
    ctx = h_server_ctx("ctx-r1", 0, 0);
    SSL_CTX_sess_set_remove_cb(ctx, r_selfclear);
    r_calls = 0;
    a = s40_sess();
    b = s40_sess();
    SSL_CTX_add_session(ctx, a);
    SSL_CTX_add_session(ctx, b);
    r = SSL_CTX_remove_session(ctx, a);
    ev("remove(a)=%d", r);
    r = SSL_CTX_remove_session(ctx, b);
    ev("remove(b)=%d", r);
    CHECK_EQ(r_calls, 1, "r1: one report");
    CHECK(SSL_CTX_sess_get_remove_cb(ctx) == NULL, "r1: getter NULL afterwards");
    CHECK_EQ(h_sess_number(ctx), 0, "r1: both removed");
    h_sess_free(a);
    h_sess_free(b);
    h_ctx_free(ctx);
}

static void s40_r2_remove_clears_itself_in_flush(void)
{
    SSL_CTX *ctx;
    SSL_SESSION *a;
    int i;

    ev("--- r2: remove callback clearing itself during flush(0) (under the lock)");
    h_cfg_reset();
    ctx = h_server_ctx("ctx-r2", 0, 0);
    SSL_CTX_sess_set_remove_cb(ctx, r_selfclear);
    r_calls = 0;
    for (i = 0; i < 3; i++) {
        a = s40_sess();
        SSL_CTX_add_session(ctx, a);
        h_sess_free(a);
    }
    SSL_CTX_flush_sessions(ctx, 0);
    CHECK_EQ(r_calls, 1, "r2: one report");
    CHECK_EQ(h_sess_number(ctx), 0, "r2: all 3 flushed");
    h_ctx_free(ctx);
}

static void s40_r3_new_replaces_itself(void)
{
    SSL_CTX *sctx, *cctx;
    h_pair *p;
    int ok;

    ev("--- r3: TLS1.3 new callback replacing itself");
    h_cfg_reset();
    sctx = h_server_ctx("sctx-r3", TLS1_3_VERSION, TLS1_3_VERSION);
    cctx = h_client_ctx("cctx-r3", TLS1_3_VERSION, TLS1_3_VERSION);
    SSL_CTX_set_generate_session_id(sctx, s40_gen_id);
    SSL_CTX_sess_set_new_cb(sctx, n_x);
    n_x_calls = n_y_calls = 0;
    p = h_connect(cctx, sctx, NULL, NULL, "r3", &ok);
    CHECK(ok, "r3: handshake ok");
    CHECK_EQ(n_x_calls, 1, "r3: X x1");
    CHECK_EQ(n_y_calls, 1, "r3: Y x1");
    CHECK(SSL_CTX_sess_get_new_cb(sctx) == n_y, "r3: getter Y");
    h_pair_free(p, 1);
    h_ctx_free(cctx);
    h_ctx_free(sctx);
}

static void s40_r4_new_installs_remove(void)
{
    SSL_CTX *sctx, *cctx;
    h_pair *p;
    int ok;

    ev("--- r4: TLS1.3 new callback installing the remove callback");
    h_cfg_reset();
    sctx = h_server_ctx("sctx-r4", TLS1_3_VERSION, TLS1_3_VERSION);
    cctx = h_client_ctx("cctx-r4", TLS1_3_VERSION, TLS1_3_VERSION);
    SSL_CTX_set_generate_session_id(sctx, s40_gen_id);
    SSL_CTX_sess_set_new_cb(sctx, n_install_remove);
    n_install_calls = 0;
    p = h_connect(cctx, sctx, NULL, NULL, "r4", &ok);
    CHECK(ok, "r4: handshake ok");
    CHECK_EQ(n_install_calls, 2, "r4: new x2");
    CHECK_EQ(h_sess_number(sctx), 1, "r4: only the second ticket was cached");
    h_pair_free(p, 1);
    h_ctx_free(cctx);
    h_ctx_free(sctx);
    CHECK_EQ(h_cfg[H_A].n_remove, 1, "r4: remove x1 at SSL_CTX_free");
}

static void s40_r5_get_clears_itself(void)
{
    SSL_CTX *sctx, *cctx;
    SSL_SESSION *c1;
    h_pair *p;
    int ok;

    ev("--- r5: get callback reading the getters and clearing itself");
    h_cfg_reset();
    sctx = h_server_ctx("sctx-r5", TLS1_2_VERSION, TLS1_2_VERSION);
    cctx = h_client_ctx("cctx-r5", TLS1_2_VERSION, TLS1_2_VERSION);
    SSL_CTX_set_options(sctx, SSL_OP_NO_TICKET);
    SSL_CTX_set_session_cache_mode(sctx, SSL_SESS_CACHE_SERVER | SSL_SESS_CACHE_NO_INTERNAL_LOOKUP);
    SSL_CTX_set_generate_session_id(sctx, s40_gen_id);
    SSL_CTX_sess_set_new_cb(sctx, h_new_A);
    SSL_CTX_sess_set_get_cb(sctx, g_selfclear);
    g_selfclear_calls = 0;
    p = h_connect(cctx, sctx, NULL, NULL, "r5-full", &ok);
    CHECK(ok, "r5: full ok");
    c1 = h_client_session(p);
    h_pair_free(p, 1);
    p = h_connect(cctx, sctx, NULL, c1, "r5-resume1", &ok);
    CHECK(ok, "r5: resume1 ok");
    h_pair_free(p, 1);
    CHECK_EQ(g_selfclear_calls, 1, "r5: get x1");
    p = h_connect(cctx, sctx, NULL, c1, "r5-resume2", &ok);
    CHECK(ok, "r5: resume2 ok");
    h_pair_free(p, 1);
    CHECK_EQ(g_selfclear_calls, 1, "r5: get x0 after clearing itself");
    h_sess_free(c1);
    h_ctx_free(cctx);
    h_ctx_free(sctx);
}

static void s40_r6_evicting_remove_replaces_itself(void)
{
    SSL_CTX *ctx;
    SSL_SESSION *a;
    int r, i;

    ev("--- r6: remove callback under the lock (eviction) replacing itself");
    h_cfg_reset();
    ctx = h_server_ctx("ctx-r6", 0, 0);
    SSL_CTX_sess_set_cache_size(ctx, 1);
    SSL_CTX_sess_set_new_cb(ctx, h_new_A);
    SSL_CTX_sess_set_get_cb(ctx, h_get_A);
    SSL_CTX_sess_set_remove_cb(ctx, r_replace);
    r_calls = r_calls2 = 0;
    for (i = 0; i < 3; i++) {
        a = s40_sess();
        r = SSL_CTX_add_session(ctx, a);
        ev("add #%ld -> %d number=%ld", h_serial(a), r, h_sess_number(ctx));
        h_sess_free(a);
    }
    CHECK_EQ(r_calls, 1, "r6: R x1 (first eviction)");
    CHECK(r_seen_getter == r_replace, "r6: getter inside returned R itself");
    CHECK_EQ(r_calls2, 1, "r6: R' x1 (second eviction)");
    h_ctx_free(ctx);
    CHECK_EQ(r_calls2, 2, "r6: R' x1 more at SSL_CTX_free");
}

static void s40_reentrancy(void)
{
    ev("=== part 1: re-entrancy");
    s40_r1_remove_clears_itself();
    s40_r2_remove_clears_itself_in_flush();
    s40_r3_new_replaces_itself();
    s40_r4_new_installs_remove();
    s40_r5_get_clears_itself();
    s40_r6_evicting_remove_replaces_itself();
}

/* ====================================================== part 2: ASYNC */

static int as_events, as_not_in_job, as_want_async;
static int as_driving;     /* inside a handshake / read / own job call */

static void as_note(const char *what)
{
    int in_job = ASYNC_get_current_job() != NULL;
    if (as_driving) {
        as_events++;
        if (!in_job)
            as_not_in_job++;
    }
    ev("%s in_job=%d%s", what, in_job, as_driving ? "" : " (SSL_CTX_free, not in a job)");
}

static int as_new_A(SSL *s, SSL_SESSION *sess) { as_note("async new[A]"); return h_new_A(s, sess); }
static int as_new_B(SSL *s, SSL_SESSION *sess) { as_note("async new[B]"); return h_new_B(s, sess); }
static SSL_SESSION *as_get_A(SSL *s, const unsigned char *id, int len, int *copy)
{
    as_note("async get[A]");
    return h_get_A(s, id, len, copy);
}
static void as_rem_A(SSL_CTX *ctx, SSL_SESSION *sess) { as_note("async remove[A]"); h_remove_A(ctx, sess); }

enum { OP_HS, OP_READ, OP_WRITE, OP_REMOVE, OP_FLUSH };
struct as_arg {
    int op;
    SSL *s;
    SSL_CTX *ctx;
    SSL_SESSION *sess;
};

static int as_job_fn(void *arg)
{
    struct as_arg *a = *(struct as_arg **)arg;
    unsigned char b = 'x';
    switch (a->op) {
    case OP_HS:
        return SSL_do_handshake(a->s);
    case OP_READ:
        return SSL_read(a->s, &b, 1);
    case OP_WRITE:
        return SSL_write(a->s, &b, 1);
    case OP_REMOVE:
        return SSL_CTX_remove_session(a->ctx, a->sess);
    case OP_FLUSH:
        SSL_CTX_flush_sessions(a->ctx, 0);
        return 1;
    }
    return -1;
}

/* Runs op inside our own ASYNC job; returns the function's result, or -100
 * if the job machinery failed. */
static int as_in_job(struct as_arg *a)
{
    ASYNC_JOB *job = NULL;
    ASYNC_WAIT_CTX *wctx = ASYNC_WAIT_CTX_new();
    int ret = -100, i, was = as_driving;
    struct as_arg *ap = a;

    as_driving = 1;
    for (i = 0; i < 64; i++) {
        int r = ASYNC_start_job(&job, wctx, &ret, as_job_fn, &ap, sizeof(ap));
        if (r == ASYNC_FINISH)
            break;
        if (r == ASYNC_PAUSE) {
            as_want_async++;
            continue;
        }
        ret = -100;
        break;
    }
    ASYNC_WAIT_CTX_free(wctx);
    as_driving = was;
    return ret;
}

/* one side step: 1 done, 0 keep going, -1 failed */
static int as_step(SSL *s, int own_job, int *done)
{
    int r, e;
    if (*done)
        return 1;
    if (own_job) {
        struct as_arg a = { OP_HS, s, NULL, NULL };
        r = as_in_job(&a);
        if (r == -100)
            return -1;
    } else {
        r = SSL_do_handshake(s);
    }
    if (r == 1) {
        *done = 1;
        return 1;
    }
    e = SSL_get_error(s, r);
    if (e == SSL_ERROR_WANT_ASYNC) {
        as_want_async++;
        return 0;
    }
    if (e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE)
        return 0;
    return -1;
}

static int as_handshake(h_pair *p, int own_job, const char *label)
{
    int i, rc, rs, cd = 0, sd = 0, ok = 0;
    as_driving = 1;
    for (i = 0; i < 64; i++) {
        rc = as_step(p->c, own_job, &cd);
        rs = as_step(p->s, own_job, &sd);
        if (rc < 0 || rs < 0)
            break;
        if (cd && sd) {
            ok = 1;
            break;
        }
    }
    as_driving = 0;
    ERR_clear_error();
    p->c_ok = cd;
    p->s_ok = sd;
    h_pair_print(p, label);
    return ok;
}

/* server writes one byte, client reads it (tickets processed) */
static int as_transfer_impl(h_pair *p, int own_job);

static int as_transfer(h_pair *p, int own_job)
{
    int r;
    as_driving = 1;
    r = as_transfer_impl(p, own_job);
    as_driving = 0;
    return r;
}

static int as_transfer_impl(h_pair *p, int own_job)
{
    unsigned char b = 'x';
    int r, i;
    if (own_job) {
        struct as_arg w = { OP_WRITE, p->s, NULL, NULL };
        struct as_arg rd = { OP_READ, p->c, NULL, NULL };
        if (as_in_job(&w) != 1)
            return 0;
        for (i = 0; i < 8; i++)
            if (as_in_job(&rd) == 1)
                return 1;
        return 0;
    }
    if (SSL_write(p->s, &b, 1) != 1)
        return 0;
    for (i = 0; i < 8; i++) {
        r = SSL_read(p->c, &b, 1);
        if (r == 1)
            return 1;
        r = SSL_get_error(p->c, r);
        if (r == SSL_ERROR_WANT_ASYNC)
            as_want_async++;
        else if (r != SSL_ERROR_WANT_READ)
            return 0;
    }
    ERR_clear_error();
    return 0;
}

static h_pair *as_pair(SSL_CTX *cctx, SSL_CTX *sctx, SSL_SESSION *resume)
{
    h_pair *p = h_pair_new(cctx, sctx, NULL, resume);
    SSL_set_mode(p->c, SSL_MODE_ASYNC);
    SSL_set_mode(p->s, SSL_MODE_ASYNC);
    return p;
}

/* TLS1.3: server and client new callbacks (and, in our own job, flush). */
static void s40_async_tls13(int own_job, const char *v)
{
    SSL_CTX *sctx, *cctx;
    h_pair *p;
    int ok, r, ev0;

    ev("--- %s: TLS1.3, %s", v, own_job ? "own ASYNC_start_job loop" : "SSL_MODE_ASYNC (libssl's jobs)");
    h_cfg_reset();
    sctx = h_server_ctx("sctx-as13", TLS1_3_VERSION, TLS1_3_VERSION);
    cctx = h_client_ctx("cctx-as13", TLS1_3_VERSION, TLS1_3_VERSION);
    SSL_CTX_set_generate_session_id(sctx, s40_gen_id);
    SSL_CTX_set_session_cache_mode(cctx, SSL_SESS_CACHE_CLIENT);
    SSL_CTX_sess_set_new_cb(sctx, as_new_A);
    SSL_CTX_sess_set_remove_cb(sctx, as_rem_A);
    SSL_CTX_sess_set_new_cb(cctx, as_new_B);
    p = as_pair(cctx, sctx, NULL);
    ok = as_handshake(p, own_job, v);
    CHECK(ok, "%s tls13: handshake ok", v);
    CHECK_EQ(h_cfg[H_A].n_new, 2, "%s tls13: server new x2", v);
    CHECK(as_transfer(p, own_job), "%s tls13: data + tickets", v);
    CHECK_EQ(h_cfg[H_B].n_new, 2, "%s tls13: client new x2 (SSL_read)", v);
    h_pair_free(p, 1);
    if (own_job) {
        struct as_arg a = { OP_FLUSH, NULL, sctx, NULL };
        ev0 = h_cfg[H_A].n_remove;
        ev("flush(0) inside our job");
        r = as_in_job(&a);
        CHECK_EQ(r, 1, "a2: flush job finished");
        CHECK_EQ(h_cfg[H_A].n_remove - ev0, 2, "a2: flush: remove x2 inside the job");
    }
    h_ctx_free(cctx);
    h_ctx_free(sctx);
}

/* TLS1.2 resumption through get (and, in our own job, remove_session). */
static void s40_async_tls12(int own_job, const char *v)
{
    SSL_CTX *sctx, *cctx;
    SSL_SESSION *c1;
    h_pair *p;
    int ok, r;

    ev("--- %s: TLS1.2 NO_TICKET, NO_INTERNAL_LOOKUP, resumption", v);
    h_cfg_reset();
    sctx = h_server_ctx("sctx-as12", TLS1_2_VERSION, TLS1_2_VERSION);
    cctx = h_client_ctx("cctx-as12", TLS1_2_VERSION, TLS1_2_VERSION);
    SSL_CTX_set_options(sctx, SSL_OP_NO_TICKET);
    SSL_CTX_set_session_cache_mode(sctx, SSL_SESS_CACHE_SERVER | SSL_SESS_CACHE_NO_INTERNAL_LOOKUP);
    SSL_CTX_set_generate_session_id(sctx, s40_gen_id);
    SSL_CTX_sess_set_new_cb(sctx, as_new_A);
    SSL_CTX_sess_set_get_cb(sctx, as_get_A);
    SSL_CTX_sess_set_remove_cb(sctx, as_rem_A);
    h_cfg[H_A].new_ret = 1;
    h_cfg[H_A].get_mode = H_GET_KEPT;
    p = as_pair(cctx, sctx, NULL);
    ok = as_handshake(p, own_job, "full");
    CHECK(ok, "%s tls12: full ok", v);
    c1 = h_client_session(p);
    h_pair_free(p, 1);
    p = as_pair(cctx, sctx, c1);
    ok = as_handshake(p, own_job, "resume");
    CHECK(ok, "%s tls12: resumption ok", v);
    CHECK_EQ(SSL_session_reused(p->s), 1, "%s tls12: resumed via get", v);
    CHECK_EQ(h_cfg[H_A].n_get, 1, "%s tls12: get x1", v);
    h_pair_free(p, 1);
    if (own_job) {
        struct as_arg a = { OP_REMOVE, NULL, sctx, h_kept(H_A, 0) };
        ev("SSL_CTX_remove_session inside our job");
        r = as_in_job(&a);
        ev("remove_session=%d", r);
        CHECK_EQ(r, 1, "a2: remove_session returned 1 (cached)");
        CHECK_EQ(h_cfg[H_A].n_remove, 1, "a2: remove x1 inside the job");
    }
    h_sess_free(c1);
    h_free_kept(H_A);
    h_ctx_free(cctx);
    h_ctx_free(sctx);
}

static void s40_async_variant(int own_job)
{
    const char *v = own_job ? "a2" : "a1";

    s40_async_tls13(own_job, v);
    s40_async_tls12(own_job, v);
}

static void s40_async(void)
{
    ev("=== part 2: SSL_MODE_ASYNC");
    ev("ASYNC_is_capable=%d", ASYNC_is_capable());
    as_events = as_not_in_job = as_want_async = 0;
    s40_async_variant(0);
    s40_async_variant(1);
    ev("async callbacks: %d, outside a job: %d, pauses: %d", as_events, as_not_in_job, as_want_async);
    CHECK(as_events > 0, "callbacks ran in the async scenarios");
    CHECK_EQ(as_not_in_job, 0, "every callback run by a handshake/read/job call ran inside an ASYNC job");
    ASYNC_cleanup_thread();
}

/* ====================================================== part 3: threads */

#define T_HS 4
#define T_QMAX 4096

static SSL_CTX *t_s1, *t_s2, *t_c12, *t_c13;
static int t_iters;
static int t_hs_done, t_all_done;
static long t_bad_ctx, t_bad_id, t_bad_getter, t_hs_ok, t_hs_fail;
static long t_r1, t_r2, t_r2_in_remover, t_remove_calls_s2, t_pushed, t_popped, t_flushes, t_churns;
static __thread int tl_in_remover;

struct t_item { SSL_SESSION *sess; SSL_CTX *ctx; };
static struct t_item t_q[T_QMAX];
static int t_qhead, t_qlen;
static pthread_mutex_t t_qlock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t t_qcond = PTHREAD_COND_INITIALIZER;

static void t_check_id(const SSL_SESSION *sess, unsigned char marker)
{
    unsigned int l = 0;
    const unsigned char *id = SSL_SESSION_get_id(sess, &l);
    if (l != 32 || id[0] != marker || id[4] != 0x40)
        AINC(&t_bad_id);
}

static void t_r1_cb(SSL_CTX *ctx, SSL_SESSION *sess);
static int t_n1_cb(SSL *s, SSL_SESSION *sess);
static int t_n1b_cb(SSL *s, SSL_SESSION *sess);

static void t_r1_cb(SSL_CTX *ctx, SSL_SESSION *sess)
{
    h_remove_fn g = SSL_CTX_sess_get_remove_cb(ctx);
    AINC(&t_r1);
    if (ctx != t_s1)
        AINC(&t_bad_ctx);
    if (g != NULL && g != t_r1_cb)
        AINC(&t_bad_getter);
    t_check_id(sess, 0x11);
}

static void t_r2_cb(SSL_CTX *ctx, SSL_SESSION *sess)
{
    AINC(&t_r2);
    if (tl_in_remover)
        AINC(&t_r2_in_remover);
    if (ctx != t_s2)
        AINC(&t_bad_ctx);
    if (SSL_CTX_sess_get_remove_cb(ctx) != t_r2_cb)
        AINC(&t_bad_getter);
    t_check_id(sess, 0x22);
}

static int t_n1_cb(SSL *s, SSL_SESSION *sess)
{
    h_new_fn g = SSL_CTX_sess_get_new_cb(t_s1);
    if (SSL_get_SSL_CTX(s) != t_s1)
        AINC(&t_bad_ctx);
    if (g != t_n1_cb && g != t_n1b_cb)
        AINC(&t_bad_getter);
    t_check_id(sess, 0x11);
    return 0;
}

static int t_n1b_cb(SSL *s, SSL_SESSION *sess)
{
    h_new_fn g = SSL_CTX_sess_get_new_cb(t_s1);
    if (SSL_get_SSL_CTX(s) != t_s1)
        AINC(&t_bad_ctx);
    if (g != t_n1_cb && g != t_n1b_cb)
        AINC(&t_bad_getter);
    t_check_id(sess, 0x11);
    return 0;
}

static int t_n2_cb(SSL *s, SSL_SESSION *sess)
{
    if (SSL_get_SSL_CTX(s) != t_s2)
        AINC(&t_bad_ctx);
    t_check_id(sess, 0x22);
    return 0;
}

static int t_gen1(SSL *ssl, unsigned char *id, unsigned int *len)
{
    (void)ssl;
    s40_fill_id(id, *len, 0x11);
    return 1;
}

static int t_gen2(SSL *ssl, unsigned char *id, unsigned int *len)
{
    (void)ssl;
    s40_fill_id(id, *len, 0x22);
    return 1;
}

static void t_push(SSL_SESSION *sess, SSL_CTX *ctx)
{
    int stored = 0;
    pthread_mutex_lock(&t_qlock);
    if (t_qlen < T_QMAX) {
        t_q[(t_qhead + t_qlen) % T_QMAX].sess = sess;
        t_q[(t_qhead + t_qlen) % T_QMAX].ctx = ctx;
        t_qlen++;
        stored = 1;
        pthread_cond_signal(&t_qcond);
    }
    pthread_mutex_unlock(&t_qlock);
    if (stored)
        AINC(&t_pushed);
    else
        SSL_SESSION_free(sess);
}

static void *t_hs_thread(void *arg)
{
    long t = (long)(intptr_t)arg;
    int tls13 = (int)(t & 1);
    int i;
    for (i = 0; i < t_iters; i++) {
        SSL_CTX *sctx = (i & 1) ? t_s2 : t_s1;
        h_pair *p = h_pair_new(tls13 ? t_c13 : t_c12, sctx, NULL, NULL);
        int ok;
        if (!tls13)
            SSL_set_options(p->s, SSL_OP_NO_TICKET);
        ok = h_pair_handshake(p);
        if (ok && !h_pair_server_to_client(p))
            ok = 0;
        AINC(ok ? &t_hs_ok : &t_hs_fail);
        if (ok) {
            SSL_SESSION *ss = SSL_get1_session(p->s);
            if (ss != NULL)
                t_push(ss, sctx);
        }
        h_pair_free(p, (i % 7) != 3);
    }
    return NULL;
}

static void *t_remover_thread(void *arg)
{
    long n = 0;
    (void)arg;
    for (;;) {
        struct t_item it;
        pthread_mutex_lock(&t_qlock);
        while (t_qlen == 0 && !ALOAD(&t_hs_done))
            pthread_cond_wait(&t_qcond, &t_qlock);
        if (t_qlen == 0) {
            pthread_mutex_unlock(&t_qlock);
            break;
        }
        it = t_q[t_qhead];
        t_qhead = (t_qhead + 1) % T_QMAX;
        t_qlen--;
        pthread_mutex_unlock(&t_qlock);
        AINC(&t_popped);
        tl_in_remover = 1;
        (void)SSL_CTX_remove_session(it.ctx, it.sess);
        if (it.ctx == t_s2)
            AINC(&t_remove_calls_s2);
        if ((n++ & 3) == 0) {
            (void)SSL_CTX_remove_session(it.ctx, it.sess);   /* not cached any more */
            if (it.ctx == t_s2)
                AINC(&t_remove_calls_s2);
        }
        tl_in_remover = 0;
        SSL_SESSION_free(it.sess);
    }
    return NULL;
}

static void *t_flusher_thread(void *arg)
{
    long i = 0;
    (void)arg;
    while (!ALOAD(&t_all_done)) {
        struct timespec d = { 0, 200000 };
        SSL_CTX_flush_sessions(t_s1, (i & 1) ? 0 : (long)time(NULL));
        SSL_CTX_flush_sessions(t_s2, (i & 3) == 3 ? 0 : (long)time(NULL));
        i++;
        nanosleep(&d, NULL);
    }
    __atomic_store_n(&t_flushes, i, __ATOMIC_SEQ_CST);
    return NULL;
}

static void *t_churn_thread(void *arg)
{
    long i = 0;
    (void)arg;
    while (!ALOAD(&t_all_done)) {
        struct timespec d = { 0, 50000 };
        SSL_CTX_sess_set_remove_cb(t_s1, (i & 1) ? t_r1_cb : NULL);
        /* new_cb only flips between two non-NULL callbacks: clearing it while
         * a handshake is in ssl_update_cache makes plain OpenSSL call through
         * NULL (it loads the field twice; see scenario 39) */
        SSL_CTX_sess_set_new_cb(t_s1, (i & 2) ? t_n1_cb : t_n1b_cb);
        if (SSL_CTX_sess_get_remove_cb(t_s1) != ((i & 1) ? t_r1_cb : NULL))
            AINC(&t_bad_getter);
        i++;
        nanosleep(&d, NULL);
    }
    __atomic_store_n(&t_churns, i, __ATOMIC_SEQ_CST);
    return NULL;
}


static void s40_threads(void)
{
    pthread_t hs[T_HS], rem, fl, ch;
    int i;

    ev("=== part 3: threads (%d handshake threads, remover, flusher, churn)", T_HS);
    t_iters = (int)h_env_long("SESSCB_TEST_ITERS", 250);
    t_s1 = h_server_ctx("t-sctx1", TLS1_2_VERSION, TLS1_3_VERSION);
    t_s2 = h_server_ctx("t-sctx2", TLS1_2_VERSION, TLS1_3_VERSION);
    t_c12 = h_client_ctx("t-cctx12", TLS1_2_VERSION, TLS1_2_VERSION);
    t_c13 = h_client_ctx("t-cctx13", TLS1_3_VERSION, TLS1_3_VERSION);
    SSL_CTX_set_generate_session_id(t_s1, t_gen1);
    SSL_CTX_set_generate_session_id(t_s2, t_gen2);
    SSL_CTX_sess_set_new_cb(t_s2, t_n2_cb);
    SSL_CTX_sess_set_remove_cb(t_s2, t_r2_cb);

    h_set_quiet(1);
    h_watchdog_start("scenario 40 threads");
    pthread_create(&rem, NULL, t_remover_thread, NULL);
    pthread_create(&fl, NULL, t_flusher_thread, NULL);
    pthread_create(&ch, NULL, t_churn_thread, NULL);
    for (i = 0; i < T_HS; i++)
        pthread_create(&hs[i], NULL, t_hs_thread, (void *)(intptr_t)i);
    for (i = 0; i < T_HS; i++)
        pthread_join(hs[i], NULL);
    pthread_mutex_lock(&t_qlock);
    __atomic_store_n(&t_hs_done, 1, __ATOMIC_SEQ_CST);
    pthread_cond_broadcast(&t_qcond);
    pthread_mutex_unlock(&t_qlock);
    pthread_join(rem, NULL);
    __atomic_store_n(&t_all_done, 1, __ATOMIC_SEQ_CST);
    pthread_join(fl, NULL);
    pthread_join(ch, NULL);

    SSL_CTX_sess_set_remove_cb(t_s1, t_r1_cb);
    SSL_CTX_free(t_c12);
    SSL_CTX_free(t_c13);
    SSL_CTX_free(t_s1);
    SSL_CTX_free(t_s2);

    h_watchdog_stop();
    h_set_quiet(0);

    CHECK_EQ(ALOAD(&t_hs_ok), (long)T_HS * t_iters, "threads: all handshakes succeeded");
    CHECK_EQ(ALOAD(&t_hs_fail), 0, "threads: no handshake failed");
    CHECK(ALOAD(&t_pushed) == ALOAD(&t_popped), "threads: remover drained every session");
    CHECK(ALOAD(&t_flushes) > 0 && ALOAD(&t_churns) > 0, "threads: flusher and churn ran");
    CHECK_EQ(ALOAD(&t_bad_ctx), 0, "threads: every callback got its own ctx");
    CHECK_EQ(ALOAD(&t_bad_id), 0, "threads: every callback got a session of that ctx (id marker)");
    CHECK_EQ(ALOAD(&t_bad_getter), 0, "threads: getters consistent (inside callbacks and churn)");
    CHECK(ALOAD(&t_r2_in_remover) == ALOAD(&t_remove_calls_s2),
          "threads: every SSL_CTX_remove_session(sctx2) produced exactly one callback on its thread");
    CHECK(ALOAD(&t_r2) >= ALOAD(&t_remove_calls_s2), "threads: remove[sctx2] total >= explicit removes");
}

int scenario_40(void)
{
    s40_reentrancy();
    s40_async();
    s40_threads();
    return h_result();
}
