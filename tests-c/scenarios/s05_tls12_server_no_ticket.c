/* Scenario 05: TLS1.2 server, SSL_OP_NO_TICKET, full handshake.
 * Expect: new x1 (ssl_ctx=sctx, idlen 32) logged before the server's
 * HANDSHAKE_DONE; number 1; new returns 0 so the session is freed only at
 * SSL_CTX_free, right after remove x1. */
#include "../harness.h"

static int new_at_done = -1;

static void info_cb(const SSL *s, int where, int ret)
{
    h_info_cb(s, where, ret);
    if ((where & SSL_CB_HANDSHAKE_DONE) && SSL_is_server(s))
        new_at_done = h_cfg[H_A].n_new;
}

int scenario_05(void)
{
    SSL_CTX *sctx = h_server_ctx("sctx", TLS1_2_VERSION, TLS1_2_VERSION);
    SSL_CTX *cctx = h_client_ctx("cctx", TLS1_2_VERSION, TLS1_2_VERSION);
    struct h_counts before, after;
    h_pair *p;
    int ok;
    long srv_serial;

    SSL_CTX_set_options(sctx, SSL_OP_NO_TICKET);
    SSL_CTX_set_info_callback(sctx, info_cb);
    h_set_all(sctx, H_A);

    p = h_connect(cctx, sctx, NULL, NULL, "full", &ok);
    CHECK(ok, "handshake ok");
    CHECK_EQ(h_cfg[H_A].n_new, 1, "new x1");
    CHECK_EQ(new_at_done, 1, "new already called when the server's HANDSHAKE_DONE fired");
    CHECK_EQ(h_cfg[H_A].n_get, 0, "get x0");
    CHECK_EQ(h_cfg[H_A].n_remove, 0, "remove x0");
    CHECK_EQ(h_sess_number(sctx), 1, "number(sctx)");
    srv_serial = h_serial(SSL_get_session(p->s));
    CHECK(srv_serial == h_cfg[H_A].last_new_serial, "new got the server's session");
    h_counts(&before);
    h_pair_free(p, 1);
    h_counts(&after);
    CHECK_EQ(after.sess_freed - before.sess_freed, 1, "SSL_free frees only the client's session");
    h_ctx_free(cctx);
    CHECK_EQ(h_cfg[H_A].n_remove, 0, "no remove after clean SSL_free");

    h_counts(&before);
    h_ctx_free(sctx);
    h_counts(&after);
    CHECK_EQ(h_cfg[H_A].n_remove, 1, "remove x1 at SSL_CTX_free");
    CHECK(h_cfg[H_A].last_remove_serial == srv_serial, "removed the server's session");
    CHECK_EQ(after.sess_freed - before.sess_freed, 1, "server session freed at SSL_CTX_free");
    return h_result();
}
