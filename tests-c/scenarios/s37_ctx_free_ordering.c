/* Scenario 37: SSL_CTX_free with N cached sessions, the "last SSL_CTX_free"
 * remove (docs/openssl-behaviour.md, "SSL_CTX_free and ex_data").
 *
 * TLS1.2 NO_TICKET handshakes on sctx (deterministic session ids so 1.1.1's
 * hash-order flush is stable). sctx callbacks: new/get A, remove R = a
 * wrapper around h_remove_A that also checks, inside the callback:
 *   the ctx name is readable (ex_data), the three getters return what was set,
 *   how many `free` events happened since SSL_CTX_free started.
 * A second SSL_CTX ex_data index with a free_func records how many remove
 * callbacks ran before the ex_data of the ctx was freed.
 *  a. 3 cached, SSL_CTX_free: remove x3, all before ctx-exdata-free;
 *     1.1.1 and 4.0: (remove, free) interleaved -> the k-th callback sees
 *     k-1 frees; 3.0-3.6: removes first, frees deferred -> every callback
 *     sees 0 frees.
 *  b. SSL_CTX_up_ref then SSL_CTX_free: nothing; the second free: remove x2.
 *  c. ctx freed by the application while an SSL still references it: nothing;
 *     the final free (and remove x1) happens inside SSL_free of that SSL. */
#include "../harness.h"

#include <string.h>

static unsigned int s37_idctr;
static int s37_exidx = -1;
static long s37_freed0;        /* sess_freed when the SSL_CTX_free started */
static int s37_nrem;           /* remove callbacks in the current phase */
static int s37_bad_getters, s37_bad_name, s37_seq_bad;
static int s37_in_ssl_free, s37_rem_in_ssl_free;
static int s37_exfree_calls, s37_exfree_seen_rem;
static const char *s37_want_name;

static int s37_gen_id(SSL *ssl, unsigned char *id, unsigned int *len)
{
    unsigned int n = __atomic_add_fetch(&s37_idctr, 1, __ATOMIC_SEQ_CST);
    (void)ssl;
    memset(id, 0, *len);
    id[0] = (unsigned char)n;
    id[1] = (unsigned char)(n >> 8);
    id[2] = 0x37;
    return 1;
}

static void s37_remove(SSL_CTX *ctx, SSL_SESSION *sess);

/* 1.1.1 and 4.0+ free each session right after its remove callback (4.0:
 * collected under ctx->lock, then callback + free outside it, newest first;
 * SSL_CTX_flush_sessions_ex in ssl/ssl_sess.c). 3.0-3.6: all callbacks, then
 * all frees. */
static int s37_interleaved(void)
{
    return h_is_111() || h_version_at_least(0x40000000UL);
}

static void s37_remove(SSL_CTX *ctx, SSL_SESSION *sess)
{
    struct h_counts c;
    long since;

    h_counts(&c);
    since = c.sess_freed - s37_freed0;
    if (SSL_CTX_sess_get_remove_cb(ctx) != s37_remove
            || SSL_CTX_sess_get_new_cb(ctx) != h_new_A
            || SSL_CTX_sess_get_get_cb(ctx) != h_get_A)
        s37_bad_getters++;
    if (s37_want_name == NULL || strcmp(h_ctx_name(ctx), s37_want_name) != 0)
        s37_bad_name++;
    if (s37_interleaved() ? since != s37_nrem : since != 0)
        s37_seq_bad++;
    if (s37_in_ssl_free)
        s37_rem_in_ssl_free++;
    ev("R: ctx=%s frees-so-far=%ld in_SSL_free=%d getters-ok=%d", h_ctx_name(ctx), since,
       s37_in_ssl_free, s37_bad_getters == 0);
    s37_nrem++;
    h_remove_A(ctx, sess);
}

static void s37_exfree(void *parent, void *ptr, CRYPTO_EX_DATA *ad, int idx, long argl, void *argp)
{
    (void)parent; (void)ptr; (void)ad; (void)idx; (void)argl; (void)argp;
    s37_exfree_calls++;
    s37_exfree_seen_rem = s37_nrem;
    ev("s37 ctx ex_data free_func: removes so far=%d", s37_nrem);
}

static SSL_CTX *s37_sctx(const char *name)
{
    SSL_CTX *sctx = h_server_ctx(name, TLS1_2_VERSION, TLS1_2_VERSION);
    SSL_CTX_set_options(sctx, SSL_OP_NO_TICKET);
    SSL_CTX_set_generate_session_id(sctx, s37_gen_id);
    SSL_CTX_sess_set_new_cb(sctx, h_new_A);
    SSL_CTX_sess_set_get_cb(sctx, h_get_A);
    SSL_CTX_sess_set_remove_cb(sctx, s37_remove);
    return sctx;
}

static void s37_handshakes(SSL_CTX *cctx, SSL_CTX *sctx, int n)
{
    char label[16];
    h_pair *p;
    int i, ok;
    for (i = 0; i < n; i++) {
        snprintf(label, sizeof(label), "hs%d", i + 1);
        p = h_connect(cctx, sctx, NULL, NULL, label, &ok);
        CHECK(ok, "%s ok", label);
        h_pair_free(p, 1);
    }
}

static void s37_start(const char *name)
{
    struct h_counts c;
    h_counts(&c);
    s37_freed0 = c.sess_freed;
    s37_nrem = 0;
    s37_bad_getters = s37_bad_name = s37_seq_bad = 0;
    s37_exfree_calls = 0;
    s37_exfree_seen_rem = -1;
    s37_want_name = name;
}

int scenario_37(void)
{
    SSL_CTX *cctx = h_client_ctx("cctx", TLS1_2_VERSION, TLS1_2_VERSION);
    SSL_CTX *sctx;
    struct h_counts c0, c1;
    h_pair *p;
    int ok;

    s37_exidx = SSL_CTX_get_ex_new_index(0, NULL, NULL, NULL, s37_exfree);

    ev("--- a: SSL_CTX_free with 3 cached sessions");
    sctx = s37_sctx("sctxA");
    s37_handshakes(cctx, sctx, 3);
    CHECK_EQ(h_sess_number(sctx), 3, "a: number 3");
    s37_start("sctxA");
    h_ctx_free(sctx);
    CHECK_EQ(s37_nrem, 3, "a: remove x3");
    CHECK_EQ(s37_bad_name, 0, "a: ctx name readable in every callback");
    CHECK_EQ(s37_bad_getters, 0, "a: getters usable and correct in every callback");
    CHECK_EQ(s37_seq_bad, 0, s37_interleaved() ? "a: 1.1.1/4.0 order (remove, free)*"
                                               : "a: 3.0-3.6 order remove* free*");
    CHECK_EQ(s37_exfree_calls, 1, "a: ctx ex_data free_func x1");
    CHECK_EQ(s37_exfree_seen_rem, 3, "a: all removes before the ex_data free");
    h_counts(&c1);
    CHECK_EQ(c1.sess_freed - s37_freed0, 3, "a: the 3 sessions freed");

    ev("--- b: extra SSL_CTX_up_ref");
    sctx = s37_sctx("sctxB");
    s37_handshakes(cctx, sctx, 2);
    s37_start("sctxB");
    SSL_CTX_up_ref(sctx);
    h_counts(&c0);
    h_ctx_free(sctx);
    h_counts(&c1);
    CHECK_EQ(s37_nrem, 0, "b: first free: remove x0");
    CHECK_EQ(c1.sess_freed - c0.sess_freed, 0, "b: first free: no session freed");
    CHECK_EQ(s37_exfree_calls, 0, "b: first free: ctx still alive");
    CHECK_EQ(h_sess_number(sctx), 2, "b: still 2 cached");
    h_ctx_free(sctx);
    CHECK_EQ(s37_nrem, 2, "b: last free: remove x2");
    CHECK_EQ(s37_bad_getters + s37_bad_name + s37_seq_bad, 0, "b: callbacks consistent");
    CHECK_EQ(s37_exfree_seen_rem, 2, "b: all removes before the ex_data free");

    ev("--- c: the final free happens inside SSL_free");
    sctx = s37_sctx("sctxC");
    p = h_connect(cctx, sctx, NULL, NULL, "c-hs", &ok);
    CHECK(ok, "c: handshake ok");
    (void)SSL_shutdown(p->c);
    (void)SSL_shutdown(p->s);
    SSL_free(p->c);
    p->c = NULL;
    s37_start("sctxC");
    h_ctx_free(sctx);
    CHECK_EQ(s37_nrem, 0, "c: SSL_CTX_free while an SSL holds it: remove x0");
    CHECK_EQ(s37_exfree_calls, 0, "c: ctx still alive");
    s37_in_ssl_free = 1;
    ev("SSL_free(server) begin");
    SSL_free(p->s);
    ev("SSL_free(server) end");
    s37_in_ssl_free = 0;
    p->s = NULL;
    free(p);
    CHECK_EQ(s37_nrem, 1, "c: remove x1");
    CHECK_EQ(s37_rem_in_ssl_free, 1, "c: the remove callback ran inside SSL_free");
    CHECK_EQ(s37_exfree_calls, 1, "c: ctx ex_data freed inside SSL_free");
    CHECK_EQ(s37_exfree_seen_rem, 1, "c: after the remove");
    CHECK_EQ(s37_bad_getters + s37_bad_name + s37_seq_bad, 0, "c: callbacks consistent");

    h_ctx_free(cctx);
    return h_result();
}
