/* Scenario 38: flush, eviction, auto-flush: the "eviction from a full
 * cache", "explicit flush", "auto-flush" and "last SSL_CTX_free" removes
 * (docs/openssl-behaviour.md, "The remove callback").
 *
 *  a. SSL_CTX_flush_sessions(ctx, now) removes only expired sessions (two
 *     back-dated, one long-lived): remove x2, number 1; flush(0): x1, number 0.
 *     1.1.1 flushes in hash order with each free right after its callback;
 *     3.x from the list tail (earliest expiry first) with the frees deferred.
 *  b. cache size 2, 4 sessions added: 1.1.1 holds 2 (remove x2), 3.x holds 1
 *     (remove x3).
 *  c. 3 cached with no limit, cache size lowered to 1: nothing happens until
 *     the next add, which fires remove x3 in one call; holds 1.
 *  d. during a handshake (TLS1.2 NO_TICKET, cache size 1): the eviction
 *     remove comes before the new callback.
 *  e. auto-flush: TLS1.2 NO_TICKET, session timeout 1 s, new callback
 *     back-dates each session by 10 s (so every cached session is expired
 *     whatever the wall clock does): handshakes 1..255 fire no remove
 *     (aggregated, quiet), the 256th fires remove x256 (all, including its own
 *     session) inside that handshake; number 0 afterwards; the 257th: none.
 *  f. a remove callback clearing itself during SSL_CTX_free with 3 cached:
 *     1 report (the field is re-read per session).
 * Sessions ids are deterministic so hash-order traces are stable. */
#include "../harness.h"

#include <string.h>
#include <time.h>

static unsigned int s38_idctr;
static int s38_seq;
static int s38_last_new_seq, s38_last_rem_seq;
static int s38_selfclear_calls;

static int s38_gen_id(SSL *ssl, unsigned char *id, unsigned int *len)
{
    unsigned int n = __atomic_add_fetch(&s38_idctr, 1, __ATOMIC_SEQ_CST);
    (void)ssl;
    memset(id, 0, *len);
    id[0] = (unsigned char)n;
    id[1] = (unsigned char)(n >> 8);
    id[2] = 0x38;
    return 1;
}

static SSL_SESSION *s38_sess(long t, long timeout)
{
    unsigned char id[32];
    unsigned int n = __atomic_add_fetch(&s38_idctr, 1, __ATOMIC_SEQ_CST);
    SSL_SESSION *s = SSL_SESSION_new();
    if (s == NULL)
        abort();
    SSL_SESSION_set_protocol_version(s, TLS1_2_VERSION);
    memset(id, 0, sizeof(id));
    id[0] = (unsigned char)n;
    id[1] = (unsigned char)(n >> 8);
    id[2] = 0x38;
    if (!SSL_SESSION_set1_id(s, id, sizeof(id)))
        abort();
    SSL_SESSION_set_time(s, t);
    SSL_SESSION_set_timeout(s, timeout);
    return s;
}

/* add and drop the application's reference: the cache owns it */
static int s38_add(SSL_CTX *ctx, SSL_SESSION *s)
{
    int r = SSL_CTX_add_session(ctx, s);
    ev("add #%ld -> %d number=%ld", h_serial(s), r, h_sess_number(ctx));
    h_sess_free(s);
    return r;
}

static int s38_new_seq(SSL *s, SSL_SESSION *sess)
{
    s38_last_new_seq = ++s38_seq;
    return h_new_A(s, sess);
}

static void s38_rem_seq(SSL_CTX *ctx, SSL_SESSION *sess)
{
    s38_last_rem_seq = ++s38_seq;
    h_remove_A(ctx, sess);
}

static int s38_new_backdate(SSL *s, SSL_SESSION *sess)
{
    SSL_SESSION_set_time(sess, (long)time(NULL) - 10);
    return h_new_A(s, sess);
}

static void s38_rem_selfclear(SSL_CTX *ctx, SSL_SESSION *sess)
{
    s38_selfclear_calls++;
    SSL_CTX_sess_set_remove_cb(ctx, NULL);
    ev("remove callback cleared itself: getter now %s",
       SSL_CTX_sess_get_remove_cb(ctx) == NULL ? "NULL" : "non-NULL");
    h_remove_A(ctx, sess);
}

static void s38_flush(void)
{
    SSL_CTX *ctx = h_server_ctx("ctx-a", 0, 0);
    long now = (long)time(NULL);
    struct h_counts c0, c1;

    ev("--- a: flush(t) / flush(0)");
    h_cfg_reset();
    h_set_all(ctx, H_A);
    s38_add(ctx, s38_sess(now - 1000, 10));
    s38_add(ctx, s38_sess(now, 100000));
    s38_add(ctx, s38_sess(now - 500, 10));
    CHECK_EQ(h_sess_number(ctx), 3, "a: number 3");
    h_counts(&c0);
    ev("flush(now)");
    SSL_CTX_flush_sessions(ctx, now);
    h_counts(&c1);
    CHECK_EQ(h_cfg[H_A].n_remove, 2, "a: flush(now): remove x2 (the expired ones)");
    CHECK_EQ(c1.sess_freed - c0.sess_freed, 2, "a: flush(now): 2 freed");
    CHECK_EQ(h_sess_number(ctx), 1, "a: number 1");
    ev("flush(0)");
    SSL_CTX_flush_sessions(ctx, 0);
    CHECK_EQ(h_cfg[H_A].n_remove, 3, "a: flush(0): remove x1");
    CHECK_EQ(h_sess_number(ctx), 0, "a: number 0");
    h_ctx_free(ctx);
    CHECK_EQ(h_cfg[H_A].n_remove, 3, "a: SSL_CTX_free: nothing left");
}

static void s38_cache_size(void)
{
    SSL_CTX *ctx = h_server_ctx("ctx-b", 0, 0);
    long now = (long)time(NULL);
    int i, held = h_is_111() ? 2 : 1;

    ev("--- b: cache size 2, 4 sessions");
    h_cfg_reset();
    h_set_all(ctx, H_A);
    SSL_CTX_sess_set_cache_size(ctx, 2);
    for (i = 0; i < 4; i++)
        s38_add(ctx, s38_sess(now + i, 1000));
    CHECK_EQ(h_sess_number(ctx), held, h_is_111() ? "b: 1.1.1 holds N" : "b: 3.x holds N-1");
    CHECK_EQ(h_cfg[H_A].n_remove, 4 - held, "b: evictions");
    h_ctx_free(ctx);
    CHECK_EQ(h_cfg[H_A].n_remove, 4, "b: SSL_CTX_free removes the rest");
}

static void s38_lower_size(void)
{
    SSL_CTX *ctx = h_server_ctx("ctx-c", 0, 0);
    long now = (long)time(NULL);
    int i;

    ev("--- c: lowering the cache size");
    h_cfg_reset();
    h_set_all(ctx, H_A);
    SSL_CTX_sess_set_cache_size(ctx, 0);
    for (i = 0; i < 3; i++)
        s38_add(ctx, s38_sess(now + i, 1000));
    SSL_CTX_sess_set_cache_size(ctx, 1);
    ev("cache size set to 1: number=%ld", h_sess_number(ctx));
    CHECK_EQ(h_cfg[H_A].n_remove, 0, "c: setting the size evicts nothing");
    CHECK_EQ(h_sess_number(ctx), 3, "c: still 3");
    s38_add(ctx, s38_sess(now + 3, 1000));
    CHECK_EQ(h_cfg[H_A].n_remove, 3, "c: the next add fires remove x3");
    CHECK_EQ(h_sess_number(ctx), 1, "c: holds 1");
    h_ctx_free(ctx);
}

static void s38_handshake_eviction(void)
{
    SSL_CTX *sctx = h_server_ctx("sctx-d", TLS1_2_VERSION, TLS1_2_VERSION);
    SSL_CTX *cctx = h_client_ctx("cctx-d", TLS1_2_VERSION, TLS1_2_VERSION);
    h_pair *p;
    int ok;
    long first;

    ev("--- d: eviction during a handshake");
    h_cfg_reset();
    SSL_CTX_set_options(sctx, SSL_OP_NO_TICKET);
    SSL_CTX_set_generate_session_id(sctx, s38_gen_id);
    SSL_CTX_sess_set_cache_size(sctx, 1);
    SSL_CTX_sess_set_new_cb(sctx, s38_new_seq);
    SSL_CTX_sess_set_remove_cb(sctx, s38_rem_seq);
    p = h_connect(cctx, sctx, NULL, NULL, "d1", &ok);
    CHECK(ok, "d1 ok");
    first = h_cfg[H_A].last_new_serial;
    h_pair_free(p, 1);
    CHECK_EQ(h_cfg[H_A].n_remove, 0, "d1: no eviction");
    p = h_connect(cctx, sctx, NULL, NULL, "d2", &ok);
    CHECK(ok, "d2 ok");
    CHECK_EQ(h_cfg[H_A].n_remove, 1, "d2: remove x1 (eviction)");
    CHECK(h_cfg[H_A].last_remove_serial == first, "d2: the first session was evicted");
    CHECK(s38_last_rem_seq < s38_last_new_seq, "d2: eviction remove before new");
    CHECK_EQ(h_sess_number(sctx), 1, "d2: number 1");
    h_pair_free(p, 1);
    h_ctx_free(cctx);
    h_ctx_free(sctx);
}

static void s38_autoflush(void)
{
    SSL_CTX *sctx = h_server_ctx("sctx-e", TLS1_2_VERSION, TLS1_2_VERSION);
    SSL_CTX *cctx = h_client_ctx("cctx-e", TLS1_2_VERSION, TLS1_2_VERSION);
    struct h_counts c0, c1;
    h_pair *p;
    int i, ok, bad = 0;

    ev("--- e: auto-flush on the 256th accept");
    h_cfg_reset();
    SSL_CTX_set_options(sctx, SSL_OP_NO_TICKET);
    SSL_CTX_set_generate_session_id(sctx, s38_gen_id);
    SSL_CTX_set_timeout(sctx, 1);
    SSL_CTX_sess_set_new_cb(sctx, s38_new_backdate);
    SSL_CTX_sess_set_remove_cb(sctx, h_remove_A);
    h_counts(&c0);
    h_set_quiet(1);
    for (i = 0; i < 255; i++) {
        p = h_pair_new(cctx, sctx, NULL, NULL);
        if (!h_pair_handshake(p))
            bad++;
        h_pair_free(p, 1);
    }
    h_set_quiet(0);
    h_counts(&c1);
    ev("handshakes 1..255 (quiet): failed=%d new=%d remove=%d number=%ld sessions created=%ld freed=%ld",
       bad, h_cfg[H_A].n_new, h_cfg[H_A].n_remove, h_sess_number(sctx),
       c1.sess_created - c0.sess_created, c1.sess_freed - c0.sess_freed);
    CHECK_EQ(bad, 0, "e: 255 handshakes ok");
    CHECK_EQ(h_cfg[H_A].n_new, 255, "e: new x255");
    CHECK_EQ(h_cfg[H_A].n_remove, 0, "e: no remove before the 256th");
    CHECK_EQ(h_sess_number(sctx), 255, "e: 255 cached");
    p = h_connect(cctx, sctx, NULL, NULL, "e256", &ok);
    CHECK(ok, "e: 256th ok");
    CHECK_EQ(h_cfg[H_A].n_new, 256, "e: new x256");
    CHECK_EQ(h_cfg[H_A].n_remove, 256, "e: the 256th handshake flushed all 256 (expired)");
    CHECK_EQ(h_sess_number(sctx), 0, "e: number 0");
    h_pair_free(p, 1);
    p = h_connect(cctx, sctx, NULL, NULL, "e257", &ok);
    CHECK(ok, "e: 257th ok");
    CHECK_EQ(h_cfg[H_A].n_remove, 256, "e: 257th: no flush");
    CHECK_EQ(h_sess_number(sctx), 1, "e: number 1");
    h_pair_free(p, 1);
    h_ctx_free(cctx);
    h_ctx_free(sctx);
}

static void s38_selfclear(void)
{
    SSL_CTX *ctx = h_server_ctx("ctx-f", 0, 0);
    long now = (long)time(NULL);
    struct h_counts c0, c1;
    long serials[3];
    int i;

    ev("--- f: remove callback clearing itself during SSL_CTX_free");
    h_cfg_reset();
    s38_selfclear_calls = 0;
    SSL_CTX_sess_set_remove_cb(ctx, s38_rem_selfclear);
    for (i = 0; i < 3; i++) {
        SSL_SESSION *s = s38_sess(now + i, 1000);
        serials[i] = h_serial(s);
        s38_add(ctx, s);
    }
    h_counts(&c0);
    h_ctx_free(ctx);
    h_counts(&c1);
    CHECK_EQ(s38_selfclear_calls, 1, "f: one report");
    /* 4.0 calls the flush's callbacks newest first (ssl/ssl_sess.c
     * SSL_CTX_flush_sessions_ex pops a stack), 3.x oldest first. */
    CHECK_EQ(h_cfg[H_A].last_remove_serial, serials[h_version_at_least(0x40000000UL) ? 2 : 0],
             "f: the report is about the %s session",
             h_version_at_least(0x40000000UL) ? "newest (4.0)" : "oldest");
    CHECK_EQ(c1.sess_freed - c0.sess_freed, 3, "f: all 3 sessions still freed");
}

int scenario_38(void)
{
    s38_flush();
    s38_cache_size();
    s38_lower_size();
    s38_handshake_eviction();
    s38_autoflush();
    s38_selfclear();
    return h_result();
}
