/* Scenario 14: SNI switch via the servername callback; callbacks A on sctx1,
 * B on sctx2 (docs/openssl-behaviour.md, "The new-session callback").
 *
 * Expect, TLS1.2 + SSL_OP_NO_TICKET: new[A] x1 with SSL_get_SSL_CTX == sctx2,
 * B never fires; number(sctx1)=1, number(sctx2)=0.
 * TLS1.3 (stateless tickets; sctx1's remove_cb is non-NULL so the tickets'
 * sessions are cached): new[A] x2 with SSL_get_SSL_CTX == sctx2, B x0;
 * number(sctx1)=2, number(sctx2)=0.  At SSL_CTX_free(sctx1): remove[A] for
 * every cached session with ctx=sctx1.  The servername callback runs after
 * the session lookup, so no get callback is involved (fresh handshake). */
#include "../harness.h"

static SSL_CTX *s14_new_sslctx; /* SSL_get_SSL_CTX seen by the last new[A] */

static int s14_new_A(SSL *s, SSL_SESSION *sess)
{
    s14_new_sslctx = SSL_get_SSL_CTX(s);
    return h_new_A(s, sess);
}

static int s14_sni_cb(SSL *s, int *al, void *arg)
{
    SSL_CTX *to = arg;
    SSL_CTX *r;
    (void)al;
    ev("sni-cb: ssl_ctx=%s -> %s", h_ssl_ctx_name(s), h_ctx_name(to));
    r = SSL_set_SSL_CTX(s, to);
    ev("sni-cb: SSL_set_SSL_CTX returned %s, ssl_ctx=%s", h_ctx_name(r), h_ssl_ctx_name(s));
    return SSL_TLSEXT_ERR_OK;
}

static void s14_run(int version, const char *vname, int want_new)
{
    SSL_CTX *sctx1 = h_server_ctx("sctx1", version, version);
    SSL_CTX *sctx2 = h_server_ctx("sctx2", version, version);
    SSL_CTX *cctx = h_client_ctx("cctx", version, version);
    struct h_counts before, after;
    h_pair *p;
    int ok;

    ev("--- %s: A on sctx1, B on sctx2, servername switch sctx1 -> sctx2", vname);
    h_cfg_reset();
    if (version == TLS1_2_VERSION) {
        SSL_CTX_set_options(sctx1, SSL_OP_NO_TICKET);
        SSL_CTX_set_options(sctx2, SSL_OP_NO_TICKET);
    }
    SSL_CTX_set_tlsext_servername_callback(sctx1, s14_sni_cb);
    SSL_CTX_set_tlsext_servername_arg(sctx1, sctx2);
    SSL_CTX_set_info_callback(sctx1, h_info_cb);
    h_set_all(sctx1, H_A);
    SSL_CTX_sess_set_new_cb(sctx1, s14_new_A);
    h_set_all(sctx2, H_B);
    s14_new_sslctx = NULL;

    p = h_connect(cctx, sctx1, "two.sesscb.test", NULL, vname, &ok);
    CHECK(ok, "%s: handshake ok", vname);
    ev("server SSL_get_SSL_CTX=%s", h_ssl_ctx_name(p->s));
    CHECK(SSL_get_SSL_CTX(p->s) == sctx2, "%s: server switched to sctx2", vname);
    CHECK_EQ(h_cfg[H_A].n_new, want_new, "%s: new[A] (sctx1 = session_ctx)", vname);
    CHECK(s14_new_sslctx == sctx2, "%s: new[A] saw SSL_get_SSL_CTX == sctx2", vname);
    CHECK_EQ(h_cfg[H_B].n_new, 0, "%s: new[B] never", vname);
    CHECK_EQ(h_cfg[H_A].n_get + h_cfg[H_B].n_get, 0, "%s: no get", vname);
    CHECK_EQ(h_cfg[H_A].n_remove + h_cfg[H_B].n_remove, 0, "%s: no remove yet", vname);
    CHECK(h_cfg[H_A].last_new_serial == h_serial(SSL_get_session(p->s)),
          "%s: last new[A] got the server's current session", vname);
    ev("number(sctx1)=%ld number(sctx2)=%ld", h_sess_number(sctx1), h_sess_number(sctx2));
    CHECK_EQ(h_sess_number(sctx1), want_new, "%s: number(sctx1)", vname);
    CHECK_EQ(h_sess_number(sctx2), 0, "%s: number(sctx2)", vname);

    h_pair_free(p, 1);
    CHECK_EQ(h_cfg[H_A].n_remove + h_cfg[H_B].n_remove, 0, "%s: clean free: no remove", vname);

    h_ctx_free(cctx);
    h_ctx_free(sctx2);
    CHECK_EQ(h_cfg[H_B].n_remove, 0, "%s: SSL_CTX_free(sctx2): remove[B] x0", vname);
    h_counts(&before);
    h_ctx_free(sctx1);
    h_counts(&after);
    CHECK_EQ(h_cfg[H_A].n_remove, want_new, "%s: SSL_CTX_free(sctx1): remove[A]", vname);
    CHECK_EQ(after.sess_freed - before.sess_freed, want_new,
             "%s: cached sessions freed at SSL_CTX_free(sctx1)", vname);
    CHECK_EQ(h_cfg[H_B].n_new + h_cfg[H_B].n_get + h_cfg[H_B].n_remove, 0,
             "%s: B never called", vname);
}

int scenario_14(void)
{
    s14_run(TLS1_2_VERSION, "tls12-noticket", 1);
    s14_run(TLS1_3_VERSION, "tls13", 2);
    return h_result();
}
