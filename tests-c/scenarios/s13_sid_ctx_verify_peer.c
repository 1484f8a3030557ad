/* Scenario 13: server with an empty sid_ctx and SSL_VERIFY_PEER (the client
 * sends no certificate; not FAIL_IF_NO_PEER_CERT): new x0, number 0, for
 * TLS1.2 NO_TICKET and TLS1.3. Controls: sid_ctx set + VERIFY_PEER, and empty
 * sid_ctx without VERIFY_PEER, both give new x1 (TLS1.2) / x2 (TLS1.3). */
#include "../harness.h"

static void one(const char *label, int version, int clear_sid, int verify, int want_new)
{
    SSL_CTX *sctx = h_server_ctx("sctx", version, version);
    SSL_CTX *cctx = h_client_ctx("cctx", version, version);
    h_pair *p;
    int ok;
    long want_number;

    ev("-- %s %s", label, version == TLS1_3_VERSION ? "TLS1.3" : "TLS1.2");
    h_cfg_reset();
    SSL_CTX_set_options(sctx, SSL_OP_NO_TICKET);
    if (clear_sid)
        h_clear_sid_ctx(sctx);
    if (verify)
        SSL_CTX_set_verify(sctx, SSL_VERIFY_PEER, NULL);
    h_set_all(sctx, H_A);
    p = h_connect(cctx, sctx, NULL, NULL, label, &ok);
    CHECK(ok, "%s: handshake", label);
    CHECK_EQ(h_cfg[H_A].n_new, want_new, "%s: new", label);
    want_number = want_new; /* NO_TICKET: every reported session is cached */
    CHECK_EQ(h_sess_number(sctx), want_number, "%s: number", label);
    h_pair_free(p, 1);
    h_ctx_free(sctx);
    h_ctx_free(cctx);
    CHECK_EQ(h_cfg[H_A].n_remove, want_number, "%s: remove at SSL_CTX_free", label);
}

int scenario_13(void)
{
    one("empty-sid+verify", TLS1_2_VERSION, 1, 1, 0);
    one("empty-sid+verify", TLS1_3_VERSION, 1, 1, 0);
    one("sid+verify", TLS1_2_VERSION, 0, 1, 1);
    one("sid+verify", TLS1_3_VERSION, 0, 1, 2);
    one("empty-sid", TLS1_2_VERSION, 1, 0, 1);
    one("empty-sid", TLS1_3_VERSION, 1, 0, 2);
    return h_result();
}
