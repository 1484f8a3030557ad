/* Scenario 06: TLS1.2 server issuing tickets (default options): the session
 * has an empty id, so new x0 and number 0; a ticket resumption does not
 * consult the get callback (get x0) and is resumed. Same on resumption:
 * new x0 (hit). */
#include "../harness.h"

int scenario_06(void)
{
    SSL_CTX *sctx = h_server_ctx("sctx", TLS1_2_VERSION, TLS1_2_VERSION);
    SSL_CTX *cctx = h_client_ctx("cctx", TLS1_2_VERSION, TLS1_2_VERSION);
    SSL_SESSION *cs;
    unsigned int idlen = 99;
    h_pair *p;
    int ok, cr, sr;

    h_set_all(sctx, H_A);

    p = h_connect(cctx, sctx, NULL, NULL, "full", &ok);
    CHECK(ok, "full handshake");
    (void)SSL_SESSION_get_id(SSL_get_session(p->s), &idlen);
    ev("server session #%ld idlen=%u", h_serial(SSL_get_session(p->s)), idlen);
    CHECK_EQ(idlen, 0, "server session id empty (ticket issued)");
    CHECK_EQ(h_cfg[H_A].n_new, 0, "new x0");
    CHECK_EQ(h_sess_number(sctx), 0, "number(sctx)");
    cs = h_client_session(p);
    CHECK(SSL_SESSION_has_ticket(cs), "client session has a ticket");
    h_pair_free(p, 1);

    p = h_connect(cctx, sctx, NULL, cs, "resume", &ok);
    CHECK(ok, "resumption handshake");
    cr = SSL_session_reused(p->c);
    sr = SSL_session_reused(p->s);
    CHECK(cr && sr, "resumed on both sides");
    CHECK_EQ(h_cfg[H_A].n_get, 0, "get x0 (ticket path)");
    CHECK_EQ(h_cfg[H_A].n_new, 0, "new x0 after resumption");
    CHECK_EQ(h_sess_number(sctx), 0, "number(sctx) after resumption");
    h_pair_free(p, 1);
    h_sess_free(cs);

    h_ctx_free(sctx);
    h_ctx_free(cctx);
    CHECK_EQ(h_cfg[H_A].n_remove, 0, "remove x0");
    return h_result();
}
