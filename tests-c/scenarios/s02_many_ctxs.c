/* Scenario 02: the same callback functions on many ctxs (3000: more than
 * sesscb's per-ctx trampoline slots, so its fallback is exercised).
 * Even ctxs get tag A, odd ctxs tag B, for all three callbacks. Each ctx holds
 * exactly one cached session (SSL_CTX_add_session, or a real TLS1.2 NO_TICKET
 * handshake for every 300th ctx, including ones created after the slots ran
 * out). The ctxs are freed in a fixed-seed pseudo-random order; each
 * SSL_CTX_free must fire exactly one remove callback, of the right tag, with
 * the matching ctx pointer. Only aggregated counts are printed. */
#include "../harness.h"

#include <stdlib.h>
#include <string.h>

#define NCTX 3000
#define HS_EVERY 300
#define HS_OFFSET 7

static unsigned int lcg_state = 12345u;
static unsigned int lcg(void)
{
    lcg_state = lcg_state * 1103515245u + 12345u;
    return (lcg_state >> 8) & 0xffffffu;
}

static SSL_SESSION *make_session(int i)
{
    unsigned char id[32];
    SSL_SESSION *s = SSL_SESSION_new();
    int k;
    if (s == NULL)
        abort();
    for (k = 0; k < 32; k++)
        id[k] = (unsigned char)((i * 131 + k * 7 + 1) & 0xff);
    id[0] = (unsigned char)(i & 0xff);
    id[1] = (unsigned char)((i >> 8) & 0xff);
    if (!SSL_SESSION_set1_id(s, id, sizeof(id)))
        abort();
    return s;
}

static int tag_of(int i)
{
    return i % 2 ? H_B : H_A;
}

static void create_ctxs(SSL_CTX **ctx)
{
    char name[32];
    int i;

    for (i = 0; i < NCTX; i++) {
        snprintf(name, sizeof(name), "ctx%04d", i);
        ctx[i] = h_server_ctx(name, TLS1_2_VERSION, TLS1_2_VERSION);
        SSL_CTX_set_options(ctx[i], SSL_OP_NO_TICKET);
        h_set_all(ctx[i], tag_of(i));
    }
}

static void check_getters(SSL_CTX **ctx)
{
    int i, getters_ok = 0;

    for (i = 0; i < NCTX; i++) {
        int tag = tag_of(i);
        if (SSL_CTX_sess_get_new_cb(ctx[i]) == h_new_cb[tag]
                && SSL_CTX_sess_get_get_cb(ctx[i]) == h_get_cb[tag]
                && SSL_CTX_sess_get_remove_cb(ctx[i]) == h_remove_cb[tag])
            getters_ok++;
    }
    ev("getters returning the ctx's own tag: %d/%d", getters_ok, NCTX);
    CHECK_EQ(getters_ok, NCTX, "getters on all ctxs");
}

struct fill_counts {
    int added, hs_ok, hs_total, hs_new_ok, cached_one;
};

/* A real handshake on ctx `i`: counts it, and whether the new callback of the
 * ctx's tag fired once with the session and ctx of the connection. */
static void fill_by_handshake(SSL_CTX *cctx, SSL_CTX *sctx, int i, struct fill_counts *n)
{
    int tag = tag_of(i);
    int ok, n0 = h_cfg[tag].n_new;
    h_pair *p;

    n->hs_total++;
    p = h_pair_new(cctx, sctx, NULL, NULL);
    ok = h_pair_handshake(p);
    if (ok)
        n->hs_ok++;
    if (h_cfg[tag].n_new == n0 + 1 && h_cfg[tag].last_new_serial == h_serial(SSL_get_session(p->s))
            && strcmp(h_ssl_ctx_name(p->s), h_ctx_name(sctx)) == 0)
        n->hs_new_ok++;
    h_pair_free(p, 1);
}

/* One cached session per ctx: a handshake for every HS_EVERY-th, else
 * SSL_CTX_add_session. */
static void fill_caches(SSL_CTX **ctx, SSL_CTX *cctx)
{
    struct fill_counts n = {0, 0, 0, 0, 0};
    int i;

    for (i = 0; i < NCTX; i++) {
        if (i % HS_EVERY == HS_OFFSET) {
            fill_by_handshake(cctx, ctx[i], i, &n);
        } else {
            SSL_SESSION *s = make_session(i);
            if (SSL_CTX_add_session(ctx[i], s))
                n.added++;
            SSL_SESSION_free(s);
        }
        if (h_sess_number(ctx[i]) == 1)
            n.cached_one++;
    }
    ev("handshakes ok=%d/%d new-callback-correct=%d, sessions added=%d, ctxs with one cached session=%d",
       n.hs_ok, n.hs_total, n.hs_new_ok, n.added, n.cached_one);
    CHECK_EQ(n.hs_ok, n.hs_total, "handshakes");
    CHECK_EQ(n.hs_new_ok, n.hs_total, "new callback once per handshake, right tag and session");
    CHECK_EQ(n.added, NCTX - n.hs_total, "SSL_CTX_add_session");
    CHECK_EQ(n.cached_one, NCTX, "every ctx caches exactly one session");
    CHECK_EQ(h_cfg[H_A].n_get + h_cfg[H_B].n_get, 0, "get x0");
    CHECK_EQ(h_cfg[H_A].n_remove + h_cfg[H_B].n_remove, 0, "remove x0 before the frees");
}

/* Fisher-Yates with a fixed-seed LCG */
static void shuffled_order(int *order)
{
    int i;

    for (i = 0; i < NCTX; i++)
        order[i] = i;
    for (i = NCTX - 1; i > 0; i--) {
        int j = (int)(lcg() % (unsigned int)(i + 1)), t = order[i];
        order[i] = order[j];
        order[j] = t;
    }
    ev("free order starts: %d %d %d %d %d", order[0], order[1], order[2], order[3], order[4]);
}

struct free_counts {
    int matching, wrong_ctx, wrong_count, wrong_tag;
};

/* Frees ctx `k` and classifies the remove callbacks that fired. */
static void free_one(SSL_CTX **ctx, int k, struct free_counts *n)
{
    int tag = tag_of(k), other = k % 2 ? H_A : H_B;
    int nt = h_cfg[tag].n_remove, no = h_cfg[other].n_remove;
    SSL_CTX *c = ctx[k];

    SSL_CTX_free(c);
    if (h_cfg[other].n_remove != no)
        n->wrong_tag++;
    if (h_cfg[tag].n_remove != nt + 1)
        n->wrong_count++;
    else if (h_cfg[tag].last_remove_ctx != c)
        n->wrong_ctx++;
    else
        n->matching++;
    ctx[k] = NULL;
}

static void free_all(SSL_CTX **ctx, const int *order)
{
    struct free_counts n = {0, 0, 0, 0};
    struct h_counts before, after;
    int i;

    h_counts(&before);
    h_set_quiet(1);
    for (i = 0; i < NCTX; i++)
        free_one(ctx, order[i], &n);
    h_set_quiet(0);
    h_counts(&after);
    ev("ctx frees: remove matching=%d wrong-count=%d wrong-ctx=%d wrong-tag=%d; sessions freed=%ld; ctx exdata freed=%ld",
       n.matching, n.wrong_count, n.wrong_ctx, n.wrong_tag, after.sess_freed - before.sess_freed,
       after.ctx_freed - before.ctx_freed);
    CHECK_EQ(n.matching, NCTX, "one remove per SSL_CTX_free with the matching ctx");
    CHECK_EQ(n.wrong_tag, 0, "no remove reported to the other tag");
    CHECK_EQ(after.sess_freed - before.sess_freed, NCTX, "cached sessions freed by the ctx frees");
    CHECK_EQ(after.ctx_freed - before.ctx_freed, NCTX, "ctx exdata frees");
    CHECK_EQ(h_cfg[H_A].n_remove, NCTX / 2, "remove A total");
    CHECK_EQ(h_cfg[H_B].n_remove, NCTX / 2, "remove B total");
}

int scenario_02(void)
{
    SSL_CTX **ctx = calloc(NCTX, sizeof(*ctx));
    int *order = calloc(NCTX, sizeof(*order));
    SSL_CTX *cctx = h_client_ctx("cctx", TLS1_2_VERSION, TLS1_2_VERSION);

    if (ctx == NULL || order == NULL)
        abort();
    h_cfg[H_A].quiet = 1;
    h_cfg[H_B].quiet = 1;

    create_ctxs(ctx);
    check_getters(ctx);
    fill_caches(ctx, cctx);
    shuffled_order(order);
    free_all(ctx, order);

    h_ctx_free(cctx);
    free(ctx);
    free(order);
    return h_result();
}
