/* Scenario 07: the new callback's return value (TLS1.2 NO_TICKET server).
 * 0: OpenSSL drops the extra reference; the session stays cached and is freed
 *    at SSL_CTX_free (right after its remove callback).
 * 1, 2, -1: the application owns a reference; the session survives
 *    SSL_CTX_free (remove fires, no free) and its `free` event happens exactly
 *    at the application's SSL_SESSION_free. */
#include "../harness.h"

static void one(int ret)
{
    SSL_CTX *sctx = h_server_ctx("sctx", TLS1_2_VERSION, TLS1_2_VERSION);
    SSL_CTX *cctx = h_client_ctx("cctx", TLS1_2_VERSION, TLS1_2_VERSION);
    struct h_counts b, a;
    h_pair *p;
    int ok;
    long serial;
    SSL_SESSION *kept;

    ev("-- new returns %d", ret);
    h_cfg_reset();
    h_cfg[H_A].new_ret = ret;
    SSL_CTX_set_options(sctx, SSL_OP_NO_TICKET);
    h_set_all(sctx, H_A);

    p = h_connect(cctx, sctx, NULL, NULL, "full", &ok);
    CHECK(ok, "ret %d: handshake", ret);
    CHECK_EQ(h_cfg[H_A].n_new, 1, "ret %d: new x1", ret);
    CHECK_EQ(h_sess_number(sctx), 1, "ret %d: session cached whatever new returned", ret);
    serial = h_cfg[H_A].last_new_serial;
    CHECK_EQ(h_nkept(H_A), ret != 0 ? 1 : 0, "ret %d: application references", ret);
    h_pair_free(p, 1);
    h_ctx_free(cctx);

    h_counts(&b);
    h_ctx_free(sctx);
    h_counts(&a);
    CHECK_EQ(h_cfg[H_A].n_remove, 1, "ret %d: remove x1 at SSL_CTX_free", ret);
    CHECK_EQ(h_cfg[H_A].last_remove_serial, serial, "ret %d: removed the new session", ret);
    CHECK_EQ(a.sess_freed - b.sess_freed, ret != 0 ? 0 : 1,
             "ret %d: sessions freed by SSL_CTX_free", ret);

    if (ret != 0) {
        kept = h_take_kept(H_A, 0);
        CHECK_EQ(h_serial(kept), serial, "ret %d: kept session", ret);
        CHECK_EQ(SSL_SESSION_is_resumable(kept), 0, "ret %d: kept session marked not resumable", ret);
        h_counts(&b);
        h_sess_free(kept);
        h_counts(&a);
        CHECK_EQ(a.sess_freed - b.sess_freed, 1, "ret %d: freed at the application's free", ret);
    }
}

int scenario_07(void)
{
    one(0);
    one(1);
    one(2);
    one(-1);
    return h_result();
}
