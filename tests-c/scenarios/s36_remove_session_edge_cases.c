/* Scenario 36: SSL_CTX_remove_session edge cases (remove_session_lock in
 * ssl/ssl_sess.c; docs/openssl-behaviour.md, "The remove callback").
 * No handshakes: sessions are built with SSL_SESSION_new +
 * SSL_SESSION_set1_id (+ protocol version TLS1.2) and added with
 * SSL_CTX_add_session. ctx callbacks A (remove), ctx2 callbacks B.
 *  1. never cached, non-empty id: remove[A] x1 (resumable=0 inside), returns 0.
 *  2. empty id: x0, returns 0.
 *  3. NULL: x0, returns 0.
 *  4. cached object itself: x1, returns 1, the cache's reference is dropped
 *     right after the callback.
 *  5. adding the same object twice: the second add returns 0; removing it
 *     twice: x1 + x1, returns 1 then 0.
 *  6. displaced same-id object: P cached, Q (same id, other object) added ->
 *     P is dropped from the cache without any callback; removing with P (the
 *     caller's object) fires remove[A] with P and frees the cached Q.
 *  7. session cached in ctx, removed through ctx2: remove[B] with ctx=ctx2,
 *     returns 0, ctx still holds it (now marked not resumable). */
#include "../harness.h"

#include <string.h>

static SSL_SESSION *s36_sess(unsigned char tag)
{
    unsigned char id[32];
    SSL_SESSION *s = SSL_SESSION_new();
    if (s == NULL)
        abort();
    SSL_SESSION_set_protocol_version(s, TLS1_2_VERSION);
    if (tag != 0) {
        memset(id, 0, sizeof(id));
        id[0] = tag;
        id[1] = 0x36;
        if (!SSL_SESSION_set1_id(s, id, sizeof(id)))
            abort();
    }
    return s;
}

static void not_cached(SSL_CTX *ctx)
{
    SSL_SESSION *s1;
    int r;

    ev("--- 1: not cached, non-empty id");
    s1 = s36_sess(1);
    r = SSL_CTX_remove_session(ctx, s1);
    ev("remove_session=%d", r);
    CHECK_EQ(r, 0, "1: returns 0");
    CHECK_EQ(h_cfg[H_A].n_remove, 1, "1: remove[A] x1 anyway");
    CHECK(h_cfg[H_A].last_remove_serial == h_serial(s1), "1: with the caller's object");
    CHECK_EQ(SSL_SESSION_is_resumable(s1), 0, "1: marked not resumable");
    h_sess_free(s1);
}

static void empty_id_and_null(SSL_CTX *ctx)
{
    SSL_SESSION *e;
    int r;

    ev("--- 2: empty id");
    e = s36_sess(0);
    r = SSL_CTX_remove_session(ctx, e);
    ev("remove_session=%d", r);
    CHECK_EQ(r, 0, "2: returns 0");
    CHECK_EQ(h_cfg[H_A].n_remove, 1, "2: remove x0");
    h_sess_free(e);

    ev("--- 3: NULL");
    r = SSL_CTX_remove_session(ctx, NULL);
    ev("remove_session=%d", r);
    CHECK_EQ(r, 0, "3: returns 0");
    CHECK_EQ(h_cfg[H_A].n_remove, 1, "3: remove x0");
}

static void cached_object_itself(SSL_CTX *ctx)
{
    SSL_SESSION *c;
    struct h_counts b0, b1;
    int r;

    ev("--- 4: the cached object itself, twice");
    c = s36_sess(4);
    r = SSL_CTX_add_session(ctx, c);
    ev("add_session=%d number=%ld", r, h_sess_number(ctx));
    CHECK_EQ(r, 1, "4: added");
    h_sess_free(c);             /* the cache keeps the only reference */
    h_counts(&b0);
    r = SSL_CTX_remove_session(ctx, c);
    h_counts(&b1);
    ev("remove_session=%d number=%ld", r, h_sess_number(ctx));
    CHECK_EQ(r, 1, "4: returns 1");
    CHECK_EQ(h_cfg[H_A].n_remove, 2, "4: remove[A] x1");
    CHECK_EQ(b1.sess_freed - b0.sess_freed, 1, "4: freed right after the callback");
}

static void added_twice(SSL_CTX *ctx)
{
    SSL_SESSION *c;
    int r;

    ev("--- 5: adding the same object twice");
    c = s36_sess(5);
    r = SSL_CTX_add_session(ctx, c);
    ev("add_session=%d", r);
    CHECK_EQ(r, 1, "5: first add returns 1");
    r = SSL_CTX_add_session(ctx, c);
    ev("add_session=%d number=%ld", r, h_sess_number(ctx));
    CHECK_EQ(r, 0, "5: second add returns 0");
    CHECK_EQ(h_sess_number(ctx), 1, "5: number 1");
    r = SSL_CTX_remove_session(ctx, c);
    CHECK_EQ(r, 1, "5: removed");
    CHECK_EQ(h_cfg[H_A].n_remove, 3, "5: remove[A] x1");
    r = SSL_CTX_remove_session(ctx, c);
    ev("remove_session again=%d", r);
    CHECK_EQ(r, 0, "5: second remove returns 0");
    CHECK_EQ(h_cfg[H_A].n_remove, 4, "5: second remove: remove[A] x1 again");
    h_sess_free(c);
}

static void displaced_same_id(SSL_CTX *ctx)
{
    SSL_SESSION *p, *q;
    struct h_counts b0, b1;
    long ps, qs;
    int r, ra;

    ev("--- 6: displaced same-id object");
    p = s36_sess(6);
    q = s36_sess(6);
    ps = h_serial(p);
    qs = h_serial(q);
    ev("P=#%ld Q=#%ld (same id)", ps, qs);
    r = SSL_CTX_add_session(ctx, p);
    CHECK_EQ(r, 1, "6: P added");
    ra = h_cfg[H_A].n_remove;
    r = SSL_CTX_add_session(ctx, q);
    ev("add_session(Q)=%d number=%ld", r, h_sess_number(ctx));
    CHECK_EQ(h_cfg[H_A].n_remove - ra, 0, "6: P displaced without a remove callback");
    CHECK_EQ(h_sess_number(ctx), 1, "6: number 1");
    CHECK_EQ(SSL_SESSION_is_resumable(p), 1, "6: P untouched (still resumable)");
    h_sess_free(q);             /* the cache holds Q's only reference now */
    h_counts(&b0);
    r = SSL_CTX_remove_session(ctx, p);
    h_counts(&b1);
    ev("remove_session(P)=%d number=%ld", r, h_sess_number(ctx));
    CHECK_EQ(r, 1, "6: returns 1 (an equal-id session was cached)");
    CHECK_EQ(h_cfg[H_A].n_remove - ra, 1, "6: remove[A] x1");
    CHECK(h_cfg[H_A].last_remove_serial == ps, "6: callback got the caller's object P");
    CHECK_EQ(b1.sess_freed - b0.sess_freed, 1, "6: the cached Q was freed");
    CHECK_EQ(SSL_SESSION_is_resumable(p), 0, "6: P marked not resumable");
    h_sess_free(p);
}

/* Returns ctx's remove[A] count from before the removal through ctx2. */
static int removed_through_other_ctx(SSL_CTX *ctx, SSL_CTX *ctx2)
{
    SSL_SESSION *c;
    int r, ra;

    ev("--- 7: cached in ctx, removed through ctx2");
    c = s36_sess(7);
    r = SSL_CTX_add_session(ctx, c);
    CHECK_EQ(r, 1, "7: added to ctx");
    ra = h_cfg[H_A].n_remove;
    r = SSL_CTX_remove_session(ctx2, c);
    ev("remove_session(ctx2)=%d number(ctx)=%ld", r, h_sess_number(ctx));
    CHECK_EQ(r, 0, "7: returns 0");
    CHECK_EQ(h_cfg[H_B].n_remove, 1, "7: remove[B] x1");
    CHECK(h_cfg[H_B].last_remove_ctx == ctx2, "7: remove[B] ctx == ctx2");
    CHECK_EQ(h_cfg[H_A].n_remove - ra, 0, "7: remove[A] x0");
    CHECK_EQ(h_sess_number(ctx), 1, "7: still cached in ctx");
    CHECK_EQ(SSL_SESSION_is_resumable(c), 0, "7: but marked not resumable");
    h_sess_free(c);
    return ra;
}

int scenario_36(void)
{
    SSL_CTX *ctx = h_server_ctx("ctx", 0, 0);
    SSL_CTX *ctx2 = h_server_ctx("ctx2", 0, 0);
    int ra;

    h_set_all(ctx, H_A);
    h_set_all(ctx2, H_B);

    not_cached(ctx);
    empty_id_and_null(ctx);
    cached_object_itself(ctx);
    added_twice(ctx);
    displaced_same_id(ctx);
    ra = removed_through_other_ctx(ctx, ctx2);

    h_ctx_free(ctx2);
    h_ctx_free(ctx);
    CHECK_EQ(h_cfg[H_A].n_remove - ra, 1, "SSL_CTX_free(ctx): remove[A] x1");
    return h_result();
}
