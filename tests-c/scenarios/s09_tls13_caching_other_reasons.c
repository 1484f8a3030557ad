/* Scenario 09: TLS1.3 server caching for reasons other than the remove
 * callback (remove stays NULL, new A set):
 *  SSL_OP_NO_TICKET (stateful tickets)      -> number 2
 *  max_early_data > 0 (anti-replay default) -> number 2
 *  max_early_data > 0 + SSL_OP_NO_ANTI_REPLAY -> number 0
 *  control (none of these)                  -> number 0
 * new x2 in every case. */
#include "../harness.h"

#include <stdlib.h>

static void one(const char *label, long opts, unsigned int early, long want_number)
{
    SSL_CTX *sctx = h_server_ctx("sctx", TLS1_3_VERSION, TLS1_3_VERSION);
    SSL_CTX *cctx = h_client_ctx("cctx", TLS1_3_VERSION, TLS1_3_VERSION);
    h_pair *p;
    int ok;

    ev("-- %s", label);
    h_cfg_reset();
    if (opts != 0)
        SSL_CTX_set_options(sctx, (unsigned long)opts);
    if (early != 0 && !SSL_CTX_set_max_early_data(sctx, early))
        abort();
    SSL_CTX_sess_set_new_cb(sctx, h_new_A);
    p = h_connect(cctx, sctx, NULL, NULL, label, &ok);
    CHECK(ok, "%s: handshake", label);
    CHECK_EQ(h_cfg[H_A].n_new, 2, "%s: new x2", label);
    CHECK_EQ(h_sess_number(sctx), want_number, "%s: number", label);
    h_pair_free(p, 1);
    h_ctx_free(sctx);
    h_ctx_free(cctx);
}

int scenario_09(void)
{
    one("control", 0, 0, 0);
    one("no-ticket", SSL_OP_NO_TICKET, 0, 2);
    one("early-data", 0, 16384, 2);
    one("early-data+no-anti-replay", SSL_OP_NO_ANTI_REPLAY, 16384, 0);
    return h_result();
}
