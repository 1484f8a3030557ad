/* Scenario 16: ctx switch plus a resumption attempt: which get callback runs
 * and which SSL_get_SSL_CTX it sees (docs/openssl-behaviour.md, "The get
 * callback").
 *
 * sctx1 (A: new keeps the session, get returns the kept one) with mode
 * SERVER|NO_INTERNAL_LOOKUP so that the resumption must go through get;
 * sctx2 has B everywhere.  Full handshake, then a resumption, both switched
 * sctx1 -> sctx2 by
 *  - the ClientHello callback (runs before the session lookup): get[A] x1
 *    sees SSL_get_SSL_CTX == sctx2;
 *  - the servername callback: it runs from the server_name finaliser, after
 *    the lookup (TLS1.2: ssl_get_prev_session; TLS1.3: psk extension parse),
 *    so get[A] sees sctx1 in both versions.
 * Either way it is sctx1's (A's) callbacks that run, B never; resumed.
 * TLS1.2 with SSL_OP_NO_TICKET; TLS1.3 with SSL_OP_NO_TICKET (stateful
 * tickets, get len 32; new[A] x2 after the full handshake, x1 after the
 * resumption). */
#include "../harness.h"

static SSL_CTX *s16_new_sslctx, *s16_get_sslctx;

static int s16_new_A(SSL *s, SSL_SESSION *sess)
{
    s16_new_sslctx = SSL_get_SSL_CTX(s);
    return h_new_A(s, sess);
}

static SSL_SESSION *s16_get_A(SSL *s, const unsigned char *id, int len, int *copy)
{
    s16_get_sslctx = SSL_get_SSL_CTX(s);
    return h_get_A(s, id, len, copy);
}

static int s16_sni_cb(SSL *s, int *al, void *arg)
{
    SSL_CTX *r;
    (void)al;
    r = SSL_set_SSL_CTX(s, (SSL_CTX *)arg);
    ev("sni-cb: switched to %s, ssl_ctx=%s", h_ctx_name(r), h_ssl_ctx_name(s));
    return SSL_TLSEXT_ERR_OK;
}

static int s16_ch_cb(SSL *s, int *al, void *arg)
{
    SSL_CTX *r;
    (void)al;
    r = SSL_set_SSL_CTX(s, (SSL_CTX *)arg);
    ev("client-hello-cb: switched to %s, ssl_ctx=%s", h_ctx_name(r), h_ssl_ctx_name(s));
    return SSL_CLIENT_HELLO_SUCCESS;
}

static void s16_run(int version, const char *vname, int via_ch)
{
    SSL_CTX *sctx1 = h_server_ctx("sctx1", version, version);
    SSL_CTX *sctx2 = h_server_ctx("sctx2", version, version);
    SSL_CTX *cctx = h_client_ctx("cctx", version, version);
    int tls13 = version == TLS1_3_VERSION;
    int nt = tls13 ? 2 : 1;
    SSL_CTX *want_get_ctx = via_ch ? sctx2 : sctx1;
    SSL_SESSION *csess;
    h_pair *p;
    int ok, reused;
    long num_before;

    ev("--- %s, switch by %s: A on sctx1, B on sctx2", vname,
       via_ch ? "client_hello_cb" : "servername_cb");
    h_cfg_reset();
    SSL_CTX_set_options(sctx1, SSL_OP_NO_TICKET);
    SSL_CTX_set_options(sctx2, SSL_OP_NO_TICKET);
    SSL_CTX_set_session_cache_mode(sctx1, SSL_SESS_CACHE_SERVER | SSL_SESS_CACHE_NO_INTERNAL_LOOKUP);
    if (via_ch)
        SSL_CTX_set_client_hello_cb(sctx1, s16_ch_cb, sctx2);
    else {
        SSL_CTX_set_tlsext_servername_callback(sctx1, s16_sni_cb);
        SSL_CTX_set_tlsext_servername_arg(sctx1, sctx2);
    }
    h_set_all(sctx1, H_A);
    SSL_CTX_sess_set_new_cb(sctx1, s16_new_A);
    SSL_CTX_sess_set_get_cb(sctx1, s16_get_A);
    h_set_all(sctx2, H_B);
    h_cfg[H_A].new_ret = 1;
    h_cfg[H_A].get_mode = H_GET_KEPT;
    s16_new_sslctx = s16_get_sslctx = NULL;

    p = h_connect(cctx, sctx1, "two.sesscb.test", NULL, "full", &ok);
    CHECK(ok, "%s: full handshake ok", vname);
    CHECK_EQ(h_cfg[H_A].n_new, nt, "%s: full: new[A]", vname);
    CHECK(s16_new_sslctx == sctx2, "%s: full: new[A] saw SSL_get_SSL_CTX == sctx2", vname);
    CHECK_EQ(h_cfg[H_A].n_get, 0, "%s: full: get[A] x0 (no session offered)", vname);
    csess = h_client_session(p);
    ev("client session #%ld", h_serial(csess));
    h_pair_free(p, 1);
    num_before = h_sess_number(sctx1);
    ev("number(sctx1)=%ld number(sctx2)=%ld", num_before, h_sess_number(sctx2));
    CHECK_EQ(num_before, nt, "%s: number(sctx1) after full", vname);

    s16_new_sslctx = NULL;
    p = h_connect(cctx, sctx1, "two.sesscb.test", csess, "resume", &ok);
    reused = SSL_session_reused(p->s);
    CHECK(ok, "%s: resumption handshake ok", vname);
    CHECK(reused, "%s: resumed (server)", vname);
    CHECK_EQ(h_cfg[H_A].n_get, 1, "%s: get[A] x1", vname);
    CHECK(s16_get_sslctx == want_get_ctx, "%s: get[A] saw SSL_get_SSL_CTX == %s", vname,
          h_ctx_name(want_get_ctx));
    if (!tls13)
        CHECK(h_cfg[H_A].last_get_serial != 0
                  && h_cfg[H_A].last_get_serial == h_serial(SSL_get_session(p->s)),
              "%s: server's session is the object returned by get", vname);
    CHECK_EQ(h_cfg[H_A].n_new, nt + (tls13 ? 1 : 0), "%s: new[A] after resumption", vname);
    if (tls13)
        CHECK(s16_new_sslctx == sctx2, "%s: resume: new[A] saw SSL_get_SSL_CTX == sctx2", vname);
    ev("number(sctx1)=%ld number(sctx2)=%ld", h_sess_number(sctx1), h_sess_number(sctx2));
    CHECK_EQ(h_sess_number(sctx2), 0, "%s: number(sctx2)", vname);
    CHECK_EQ(h_cfg[H_B].n_new + h_cfg[H_B].n_get + h_cfg[H_B].n_remove, 0,
             "%s: B never called", vname);
    h_pair_free(p, 1);
    CHECK_EQ(h_cfg[H_A].n_remove, 0, "%s: no remove before SSL_CTX_free", vname);

    h_sess_free(csess);
    h_ctx_free(cctx);
    h_ctx_free(sctx2);
    h_ctx_free(sctx1);
    CHECK_EQ(h_cfg[H_A].n_remove, tls13 ? nt + 1 : 1,
             "%s: remove[A] for every cached session at SSL_CTX_free(sctx1)", vname);
    h_free_kept(H_A);
    CHECK_EQ(h_cfg[H_B].n_new + h_cfg[H_B].n_get + h_cfg[H_B].n_remove, 0,
             "%s: B never called (end)", vname);
}

int scenario_16(void)
{
    s16_run(TLS1_2_VERSION, "tls12-noticket", 1);
    s16_run(TLS1_2_VERSION, "tls12-noticket", 0);
    s16_run(TLS1_3_VERSION, "tls13-stateful", 1);
    s16_run(TLS1_3_VERSION, "tls13-stateful", 0);
    return h_result();
}
