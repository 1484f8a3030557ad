/* Scenario 12: cache-mode gating of the new callback.
 *  a) server mode OFF / CLIENT (TLS1.2 NO_TICKET): new x0; a resumption
 *     attempt with a session id (obtained from a caching server with the same
 *     sid_ctx) still calls get (x1, idlen 32, returns NULL): full handshake.
 *  b) client default mode (SERVER): client new x0 (TLS1.2 and TLS1.3).
 *  c) client SSL_SESS_CACHE_CLIENT: TLS1.2 new x1; TLS1.3 new x2, delivered
 *     during SSL_read; cached on the client (number 1 / 2).
 *  d) CLIENT|NO_INTERNAL_STORE: the same callback counts, number 0. */
#include "../harness.h"

static SSL_SESSION *session_with_id(SSL_CTX *cctx)
{
    SSL_CTX *on = h_server_ctx("sctx-on", TLS1_2_VERSION, TLS1_2_VERSION);
    SSL_SESSION *cs;
    unsigned int idlen = 0;
    h_pair *p;
    int ok;
    SSL_CTX_set_options(on, SSL_OP_NO_TICKET);
    p = h_connect(cctx, on, NULL, NULL, "seed", &ok);
    CHECK(ok, "seed handshake");
    cs = h_client_session(p);
    (void)SSL_SESSION_get_id(cs, &idlen);
    CHECK_EQ(idlen, 32, "seed session id length");
    h_pair_free(p, 1);
    h_ctx_free(on);
    return cs;
}

static void server_mode(const char *label, long mode)
{
    SSL_CTX *sctx = h_server_ctx("sctx", TLS1_2_VERSION, TLS1_2_VERSION);
    SSL_CTX *cctx = h_client_ctx("cctx", TLS1_2_VERSION, TLS1_2_VERSION);
    SSL_SESSION *cs;
    unsigned int idlen = 99;
    h_pair *p;
    int ok;

    ev("-- a) server mode %s", label);
    h_cfg_reset();
    SSL_CTX_set_options(sctx, SSL_OP_NO_TICKET);
    SSL_CTX_set_session_cache_mode(sctx, mode);
    h_set_all(sctx, H_A);
    p = h_connect(cctx, sctx, NULL, NULL, "full", &ok);
    CHECK(ok, "%s: handshake", label);
    CHECK_EQ(h_cfg[H_A].n_new, 0, "%s: new x0", label);
    CHECK_EQ(h_sess_number(sctx), 0, "%s: number", label);
    (void)SSL_SESSION_get_id(SSL_get_session(p->s), &idlen);
    ev("%s: server session id length %u", label, idlen);
    h_pair_free(p, 1);

    cs = session_with_id(cctx);
    p = h_connect(cctx, sctx, NULL, cs, "resume-attempt", &ok);
    CHECK(ok, "%s: resumption attempt handshake", label);
    CHECK_EQ(h_cfg[H_A].n_get, 1, "%s: get x1", label);
    CHECK_EQ(SSL_session_reused(p->s), 0, "%s: not resumed (get returned NULL)", label);
    CHECK_EQ(h_cfg[H_A].n_new, 0, "%s: still new x0", label);
    h_pair_free(p, 1);
    h_sess_free(cs);
    h_ctx_free(sctx);
    h_ctx_free(cctx);
    CHECK_EQ(h_cfg[H_A].n_remove, 0, "%s: remove x0", label);
}

static void client_mode(const char *label, long mode, int version, int want_new, int want_number)
{
    SSL_CTX *sctx = h_server_ctx("sctx", version, version);
    SSL_CTX *cctx = h_client_ctx("cctx", version, version);
    h_pair *p;
    int ok, n_after_hs;

    ev("-- client mode %s, %s", label, version == TLS1_3_VERSION ? "TLS1.3" : "TLS1.2");
    h_cfg_reset();
    if (version == TLS1_2_VERSION)
        SSL_CTX_set_options(sctx, SSL_OP_NO_TICKET);
    if (mode >= 0)
        SSL_CTX_set_session_cache_mode(cctx, mode);
    h_set_all(cctx, H_B);
    p = h_pair_new(cctx, sctx, NULL, NULL);
    ok = h_pair_handshake(p);
    h_pair_print(p, "full");
    CHECK(ok, "%s: handshake", label);
    n_after_hs = h_cfg[H_B].n_new;
    ok = h_pair_server_to_client(p);
    CHECK(ok, "%s: client SSL_read", label);
    ev("%s: client new after handshake %d, after SSL_read %d, number(cctx) %ld", label,
       n_after_hs, h_cfg[H_B].n_new, h_sess_number(cctx));
    CHECK_EQ(h_cfg[H_B].n_new, want_new, "%s: client new", label);
    if (version == TLS1_3_VERSION)
        CHECK_EQ(n_after_hs, 0, "%s: TLS1.3 client new only during SSL_read", label);
    else
        CHECK_EQ(n_after_hs, want_new, "%s: TLS1.2 client new during the handshake", label);
    CHECK_EQ(h_sess_number(cctx), want_number, "%s: number(cctx)", label);
    h_pair_free(p, 1);
    h_ctx_free(sctx);
    h_ctx_free(cctx);
}

int scenario_12(void)
{
    server_mode("OFF", SSL_SESS_CACHE_OFF);
    server_mode("CLIENT", SSL_SESS_CACHE_CLIENT);
    client_mode("default", -1, TLS1_2_VERSION, 0, 0);
    client_mode("default", -1, TLS1_3_VERSION, 0, 0);
    client_mode("CLIENT", SSL_SESS_CACHE_CLIENT, TLS1_2_VERSION, 1, 1);
    client_mode("CLIENT", SSL_SESS_CACHE_CLIENT, TLS1_3_VERSION, 2, 2);
    client_mode("CLIENT|NO_INTERNAL_STORE", SSL_SESS_CACHE_CLIENT | SSL_SESS_CACHE_NO_INTERNAL_STORE,
                TLS1_2_VERSION, 1, 0);
    client_mode("CLIENT|NO_INTERNAL_STORE", SSL_SESS_CACHE_CLIENT | SSL_SESS_CACHE_NO_INTERNAL_STORE,
                TLS1_3_VERSION, 2, 0);
    return h_result();
}
