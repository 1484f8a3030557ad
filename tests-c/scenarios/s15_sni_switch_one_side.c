/* Scenario 15: SNI switch via the servername callback with callbacks on only
 * one side (docs/openssl-behaviour.md, "The new-session callback" and
 * "Setters and getters").
 *
 *  a) A only on sctx1 (the session_ctx): new[A] fires (x1 TLS1.2 NO_TICKET,
 *     x2 TLS1.3) with SSL_get_SSL_CTX == sctx2.  A shim dispatching through
 *     SSL_get_SSL_CTX finds nothing on sctx2 and drops it.
 *  b) B only on sctx2: nothing fires, ever (sctx1's fields are NULL, so
 *     OpenSSL never calls anything).  TLS1.3: sctx1's remove_cb is NULL, so
 *     the tickets' sessions are not cached anywhere (number 0 / 0) even though
 *     sctx2 has a remove_cb.  TLS1.2: the session is cached in sctx1 (mode
 *     SERVER is the default) and SSL_CTX_free(sctx1) reports nothing. */
#include "../harness.h"

static SSL_CTX *s15_new_sslctx; /* SSL_get_SSL_CTX seen by the last new[A] */

static int s15_new_A(SSL *s, SSL_SESSION *sess)
{
    s15_new_sslctx = SSL_get_SSL_CTX(s);
    return h_new_A(s, sess);
}

static int s15_sni_cb(SSL *s, int *al, void *arg)
{
    SSL_CTX *to = arg;
    SSL_CTX *r;
    (void)al;
    r = SSL_set_SSL_CTX(s, to);
    ev("sni-cb: switched to %s, ssl_ctx=%s", h_ctx_name(r), h_ssl_ctx_name(s));
    return SSL_TLSEXT_ERR_OK;
}

static void s15_run(int version, const char *vname, int on_sctx1)
{
    SSL_CTX *sctx1 = h_server_ctx("sctx1", version, version);
    SSL_CTX *sctx2 = h_server_ctx("sctx2", version, version);
    SSL_CTX *cctx = h_client_ctx("cctx", version, version);
    int nt = version == TLS1_2_VERSION ? 1 : 2;
    struct h_counts before, after;
    long want_num1;
    h_pair *p;
    int ok;

    ev("--- %s: callbacks only on %s (A on sctx1 / B on sctx2), switch sctx1 -> sctx2",
       vname, on_sctx1 ? "sctx1" : "sctx2");
    h_cfg_reset();
    if (version == TLS1_2_VERSION) {
        SSL_CTX_set_options(sctx1, SSL_OP_NO_TICKET);
        SSL_CTX_set_options(sctx2, SSL_OP_NO_TICKET);
    }
    SSL_CTX_set_tlsext_servername_callback(sctx1, s15_sni_cb);
    SSL_CTX_set_tlsext_servername_arg(sctx1, sctx2);
    s15_new_sslctx = NULL;
    if (on_sctx1) {
        h_set_all(sctx1, H_A);
        SSL_CTX_sess_set_new_cb(sctx1, s15_new_A);
    } else
        h_set_all(sctx2, H_B);

    p = h_connect(cctx, sctx1, "two.sesscb.test", NULL, vname, &ok);
    CHECK(ok, "%s: handshake ok", vname);
    ev("server SSL_get_SSL_CTX=%s", h_ssl_ctx_name(p->s));
    CHECK(SSL_get_SSL_CTX(p->s) == sctx2, "%s: server switched to sctx2", vname);
    CHECK_EQ(h_cfg[H_A].n_new, on_sctx1 ? nt : 0, "%s: new[A]", vname);
    if (on_sctx1)
        CHECK(s15_new_sslctx == sctx2, "%s: new[A] saw SSL_get_SSL_CTX == sctx2", vname);
    CHECK_EQ(h_cfg[H_B].n_new, 0, "%s: new[B] never", vname);
    /* TLS1.2 caches regardless; TLS1.3 only if sctx1 has a remove_cb. */
    want_num1 = version == TLS1_2_VERSION ? 1 : (on_sctx1 ? 2 : 0);
    ev("number(sctx1)=%ld number(sctx2)=%ld", h_sess_number(sctx1), h_sess_number(sctx2));
    CHECK_EQ(h_sess_number(sctx1), want_num1, "%s: number(sctx1)", vname);
    CHECK_EQ(h_sess_number(sctx2), 0, "%s: number(sctx2)", vname);

    h_pair_free(p, 1);
    h_ctx_free(cctx);
    h_ctx_free(sctx2);
    h_counts(&before);
    h_ctx_free(sctx1);
    h_counts(&after);
    CHECK_EQ(h_cfg[H_A].n_remove, on_sctx1 ? want_num1 : 0,
             "%s: remove[A] at SSL_CTX_free(sctx1)", vname);
    CHECK_EQ(after.sess_freed - before.sess_freed, want_num1,
             "%s: cached sessions freed at SSL_CTX_free(sctx1)", vname);
    CHECK_EQ(h_cfg[H_B].n_new + h_cfg[H_B].n_get + h_cfg[H_B].n_remove, 0,
             "%s: B never called", vname);
    CHECK_EQ(h_cfg[H_A].n_get, 0, "%s: get[A] never", vname);
}

int scenario_15(void)
{
    s15_run(TLS1_2_VERSION, "tls12-noticket", 1);
    s15_run(TLS1_2_VERSION, "tls12-noticket", 0);
    s15_run(TLS1_3_VERSION, "tls13", 1);
    s15_run(TLS1_3_VERSION, "tls13", 0);
    return h_result();
}
