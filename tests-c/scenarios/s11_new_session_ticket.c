/* Scenario 11 (3.x only): SSL_new_session_ticket() x2 after the handshake:
 * no new callback until the server's SSL_write, which sends the 2 tickets
 * (+2 new on the server); the client gets +2 during its SSL_read
 * (SSL_SESS_CACHE_CLIENT). On 1.1.1, where the API does not exist, the
 * scenario only prints that it is skipped. */
#include "../harness.h"

int scenario_11(void)
{
#if OPENSSL_VERSION_NUMBER >= 0x30000000L
    SSL_CTX *sctx, *cctx;
    h_pair *p;
    unsigned char b = 'x';
    int ok, a0, b0, r;

    if (h_is_111()) {
        ev("skipped: built against 3.x headers but running 1.1.1");
        CHECK(0, "header/library version mismatch");
        return h_result();
    }
    sctx = h_server_ctx("sctx", TLS1_3_VERSION, TLS1_3_VERSION);
    cctx = h_client_ctx("cctx", TLS1_3_VERSION, TLS1_3_VERSION);
    SSL_CTX_sess_set_new_cb(sctx, h_new_A);
    SSL_CTX_set_session_cache_mode(cctx, SSL_SESS_CACHE_CLIENT);
    SSL_CTX_sess_set_new_cb(cctx, h_new_B);

    p = h_connect(cctx, sctx, NULL, NULL, "full", &ok);
    CHECK(ok, "handshake");
    CHECK_EQ(h_cfg[H_A].n_new, 2, "server new x2 (default num_tickets)");
    CHECK_EQ(h_cfg[H_B].n_new, 2, "client new x2");
    a0 = h_cfg[H_A].n_new;
    b0 = h_cfg[H_B].n_new;

    r = SSL_new_session_ticket(p->s);
    CHECK(r == 1, "SSL_new_session_ticket #1");
    r = SSL_new_session_ticket(p->s);
    CHECK(r == 1, "SSL_new_session_ticket #2");
    CHECK_EQ(h_cfg[H_A].n_new - a0, 0, "no server new before SSL_write");
    ev("server SSL_write");
    r = SSL_write(p->s, &b, 1);
    CHECK(r == 1, "server SSL_write");
    CHECK_EQ(h_cfg[H_A].n_new - a0, 2, "server new +2 at SSL_write");
    CHECK_EQ(h_cfg[H_B].n_new - b0, 0, "no client new before SSL_read");
    ev("client SSL_read");
    r = SSL_read(p->c, &b, 1);
    CHECK(r == 1, "client SSL_read");
    CHECK_EQ(h_cfg[H_B].n_new - b0, 2, "client new +2 after SSL_read");
    ERR_clear_error();

    h_pair_free(p, 1);
    h_ctx_free(sctx);
    h_ctx_free(cctx);
#else
    ev("skipped: SSL_new_session_ticket() does not exist in 1.1.1");
#endif
    return h_result();
}
