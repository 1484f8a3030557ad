/* Scenario 21: get callback with *copy = 0: OpenSSL takes over the reference
 * the callback returns (docs/openssl-behaviour.md, "The get callback").
 * TLS1.2 NO_TICKET, resumption.
 *
 *  a) up_ref + copy=0, SERVER|NO_INTERNAL_LOOKUP|NO_INTERNAL_STORE: the app
 *     drops its own reference right after the resumption (no free yet); the
 *     object is freed inside SSL_free(server), not before, not at the client's
 *     SSL_free.
 *  b) s_server style: new serialises the session (i2d) and returns 0; get
 *     returns a fresh d2i object with copy=0; NO_INTERNAL_STORE: resumed, the
 *     d2i object is freed exactly inside SSL_free(server).
 *  c) as b) but with the internal store on (SERVER|NO_INTERNAL_LOOKUP): the
 *     d2i object displaces the cached original (same id), which is freed
 *     with no remove callback during the lookup; the d2i object is freed at
 *     SSL_CTX_free right after its remove callback.
 * No leak, no double free (balance check). */
#include "../harness.h"

#include <string.h>

/* ---- s_server-style external cache: i2d at new, fresh d2i at get ---- */
static unsigned char s21_der[4096];
static int s21_der_len;
static unsigned char s21_der_id[SSL_MAX_SSL_SESSION_ID_LENGTH];
static unsigned int s21_der_idlen;
static int s21_ext_gets;
static long s21_ext_serial;
static int s21_ext_freed;

static int s21_ext_new(SSL *s, SSL_SESSION *sess)
{
    unsigned char *q = s21_der;
    const unsigned char *id = SSL_SESSION_get_id(sess, &s21_der_idlen);
    int n = i2d_SSL_SESSION(sess, NULL);
    if (n > 0 && n <= (int)sizeof(s21_der) && s21_der_idlen <= sizeof(s21_der_id)) {
        s21_der_len = i2d_SSL_SESSION(sess, &q);
        memcpy(s21_der_id, id, s21_der_idlen);
    }
    return h_new_A(s, sess); /* logs; new_ret 0 */
}

static SSL_SESSION *s21_ext_get(SSL *s, const unsigned char *id, int len, int *copy)
{
    SSL_SESSION *r = NULL;
    const unsigned char *q = s21_der;
    int copy_in = *copy;
    s21_ext_gets++;
    if (s21_der_len > 0 && len == (int)s21_der_idlen && memcmp(id, s21_der_id, s21_der_idlen) == 0)
        r = d2i_SSL_SESSION(NULL, &q, s21_der_len);
    *copy = 0;
    s21_ext_serial = h_serial(r);
    if (r != NULL)
        h_watch_session(r, &s21_ext_freed);
    ev("get[ext] ssl_ctx=%s idlen=%d copy_in=%d copy_out=%d ret=#%ld (fresh d2i)",
       h_ssl_ctx_name(s), len, copy_in, *copy, h_serial(r));
    return r;
}

/* Frees the pair in steps: shutdown both, client, then server. *flag must
 * stay 0 until the server's SSL_free. */
static void s21_free_pair_watch(h_pair *p, const int *flag, const char *what)
{
    (void)SSL_shutdown(p->c);
    (void)SSL_shutdown(p->s);
    ev("SSL_free(client)");
    SSL_free(p->c);
    p->c = NULL;
    CHECK(!*flag, "%s: still alive after SSL_free(client)", what);
    ev("SSL_free(server)");
    SSL_free(p->s);
    p->s = NULL;
    CHECK(*flag, "%s: freed inside SSL_free(server)", what);
    h_pair_free(p, 0);
}

static void s21_case_a(void)
{
    const char *what = "a) up_ref+copy=0 nostore";
    SSL_CTX *sctx = h_server_ctx("sctx", TLS1_2_VERSION, TLS1_2_VERSION);
    SSL_CTX *cctx = h_client_ctx("cctx", TLS1_2_VERSION, TLS1_2_VERSION);
    SSL_SESSION *csess, *kept;
    int freed = 0, ok, reused;
    long kserial;
    h_pair *p;

    ev("--- %s", what);
    h_cfg_reset();
    SSL_CTX_set_options(sctx, SSL_OP_NO_TICKET);
    SSL_CTX_set_session_cache_mode(sctx, SSL_SESS_CACHE_SERVER | SSL_SESS_CACHE_NO_INTERNAL_LOOKUP
                                             | SSL_SESS_CACHE_NO_INTERNAL_STORE);
    h_set_all(sctx, H_A);
    h_cfg[H_A].new_ret = 1;
    h_cfg[H_A].get_mode = H_GET_KEPT;
    h_cfg[H_A].get_upref = 1;
    h_cfg[H_A].get_copy = 0;

    p = h_connect(cctx, sctx, NULL, NULL, "full", &ok);
    CHECK(ok, "a: full handshake ok");
    kept = h_kept(H_A, 0);
    kserial = h_serial(kept);
    h_watch_session(kept, &freed);
    csess = h_client_session(p);
    h_pair_free(p, 1);

    p = h_connect(cctx, sctx, NULL, csess, "resume", &ok);
    reused = SSL_session_reused(p->s);
    CHECK(ok && reused, "a: resumed");
    CHECK_EQ(h_cfg[H_A].n_get, 1, "a: get[A] x1");
    CHECK_EQ(h_serial(SSL_get_session(p->s)), kserial, "a: server uses the returned object");
    CHECK_EQ(h_sess_number(sctx), 0, "a: number");
    kept = h_take_kept(H_A, 0);
    h_sess_free(kept); /* the app's own reference */
    CHECK(!freed, "a: OpenSSL still holds the reference it took over");
    s21_free_pair_watch(p, &freed, "a");
    h_sess_free(csess);
    h_ctx_free(cctx);
    h_ctx_free(sctx);
    CHECK_EQ(h_cfg[H_A].n_remove, 0, "a: remove[A] x0");
}

static void s21_case_d2i(int store)
{
    const char *what = store ? "c) d2i+copy=0 store" : "b) d2i+copy=0 nostore";
    SSL_CTX *sctx = h_server_ctx("sctx", TLS1_2_VERSION, TLS1_2_VERSION);
    SSL_CTX *cctx = h_client_ctx("cctx", TLS1_2_VERSION, TLS1_2_VERSION);
    long mode = SSL_SESS_CACHE_SERVER | SSL_SESS_CACHE_NO_INTERNAL_LOOKUP;
    struct h_counts before, after;
    SSL_SESSION *csess;
    int orig_freed = 0, ok, reused;
    long oserial;
    h_pair *p;

    ev("--- %s", what);
    h_cfg_reset();
    s21_der_len = 0;
    s21_ext_gets = 0;
    s21_ext_serial = 0;
    s21_ext_freed = 0;
    if (!store)
        mode |= SSL_SESS_CACHE_NO_INTERNAL_STORE;
    SSL_CTX_set_options(sctx, SSL_OP_NO_TICKET);
    SSL_CTX_set_session_cache_mode(sctx, mode);
    h_set_all(sctx, H_A);
    SSL_CTX_sess_set_new_cb(sctx, s21_ext_new);
    SSL_CTX_sess_set_get_cb(sctx, s21_ext_get);

    p = h_connect(cctx, sctx, NULL, NULL, "full", &ok);
    CHECK(ok, "%s: full handshake ok", what);
    CHECK(s21_der_len > 0, "%s: new serialised the session", what);
    oserial = h_cfg[H_A].last_new_serial;
    if (store) /* the original lives in the cache only */
        h_watch_session(SSL_get_session(p->s), &orig_freed);
    csess = h_client_session(p);
    h_pair_free(p, 1);
    CHECK_EQ(h_sess_number(sctx), store ? 1 : 0, "%s: number after full", what);

    h_counts(&before);
    p = h_connect(cctx, sctx, NULL, csess, "resume", &ok);
    h_counts(&after);
    reused = SSL_session_reused(p->s);
    CHECK(ok && reused, "%s: resumed", what);
    CHECK_EQ(s21_ext_gets, 1, "%s: get x1", what);
    CHECK(s21_ext_serial != 0 && s21_ext_serial != oserial, "%s: get returned a new object", what);
    CHECK_EQ(h_serial(SSL_get_session(p->s)), s21_ext_serial,
             "%s: server uses the returned object", what);
    CHECK_EQ(h_sess_number(sctx), store ? 1 : 0, "%s: number after resume", what);
    if (store) {
        CHECK(orig_freed, "%s: displaced original freed during the resumption", what);
        CHECK_EQ(h_cfg[H_A].n_remove, 0, "%s: ... without a remove callback", what);
        (void)SSL_shutdown(p->c);
        (void)SSL_shutdown(p->s);
        h_pair_free(p, 0);
        CHECK(!s21_ext_freed, "%s: d2i object still cached after SSL_free", what);
        h_sess_free(csess);
        h_ctx_free(cctx);
        h_ctx_free(sctx);
        CHECK_EQ(h_cfg[H_A].n_remove, 1, "%s: remove[A] x1 at SSL_CTX_free", what);
        CHECK_EQ(h_cfg[H_A].last_remove_serial, s21_ext_serial, "%s: ... for the d2i object",
                 what);
        CHECK(s21_ext_freed, "%s: d2i object freed at SSL_CTX_free", what);
    } else {
        s21_free_pair_watch(p, &s21_ext_freed, what);
        h_sess_free(csess);
        h_ctx_free(cctx);
        h_ctx_free(sctx);
        CHECK_EQ(h_cfg[H_A].n_remove, 0, "%s: remove[A] x0", what);
    }
}

int scenario_21(void)
{
    s21_case_a();
    s21_case_d2i(0);
    s21_case_d2i(1);
    return h_result();
}
