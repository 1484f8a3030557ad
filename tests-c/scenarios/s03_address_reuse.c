/* Scenario 03: ctx address reuse. All callbacks (tag A) are set on an old ctx,
 * used for a TLS1.3 handshake (so a shim has state for it), then the ctx is
 * freed and a new one created (very likely at the same address). The new ctx's
 * getters return NULL, a TLS1.3 handshake on it is not cached (number 0:
 * the real remove field must be NULL) and no callback fires. Repeated a few
 * times, alternating the order of the callbacks being set and cleared. */
#include "../harness.h"

#define ROUNDS 6

int scenario_03(void)
{
    SSL_CTX *cctx = h_client_ctx("cctx", TLS1_3_VERSION, TLS1_3_VERSION);
    int r, ok;
    char name[32];

    for (r = 0; r < ROUNDS; r++) {
        SSL_CTX *old, *fresh;
        h_pair *p;
        int a_new, a_get, a_rem;

        ev("round %d", r);
        snprintf(name, sizeof(name), "old%d", r);
        old = h_server_ctx(name, TLS1_3_VERSION, TLS1_3_VERSION);
        h_set_all(old, H_A);
        if (r % 2 == 1) {
            /* odd rounds: clear new/get again before the free, keep remove */
            SSL_CTX_sess_set_new_cb(old, NULL);
            SSL_CTX_sess_set_get_cb(old, NULL);
        }
        p = h_connect(cctx, old, NULL, NULL, "old", &ok);
        CHECK(ok, "round %d: handshake on old ctx", r);
        CHECK_EQ(h_sess_number(old), 2, "round %d: number(old)", r);
        h_pair_free(p, 1);
        h_ctx_free(old);

        a_new = h_cfg[H_A].n_new;
        a_get = h_cfg[H_A].n_get;
        a_rem = h_cfg[H_A].n_remove;
        CHECK_EQ(a_rem, 2 * (r + 1), "round %d: remove total so far", r);

        snprintf(name, sizeof(name), "new%d", r);
        fresh = h_server_ctx(name, TLS1_3_VERSION, TLS1_3_VERSION);
        CHECK(SSL_CTX_sess_get_new_cb(fresh) == NULL, "round %d: fresh new getter NULL", r);
        CHECK(SSL_CTX_sess_get_get_cb(fresh) == NULL, "round %d: fresh get getter NULL", r);
        CHECK(SSL_CTX_sess_get_remove_cb(fresh) == NULL, "round %d: fresh remove getter NULL", r);
        p = h_connect(cctx, fresh, NULL, NULL, "fresh", &ok);
        CHECK(ok, "round %d: handshake on fresh ctx", r);
        CHECK_EQ(h_sess_number(fresh), 0, "round %d: number(fresh) (TLS1.3 not cached)", r);
        h_pair_free(p, 0); /* non-clean close: would fire a remove if one were installed */
        h_ctx_free(fresh);
        CHECK(h_cfg[H_A].n_new == a_new && h_cfg[H_A].n_get == a_get && h_cfg[H_A].n_remove == a_rem,
              "round %d: no callback fired for the fresh ctx", r);
    }
    CHECK_EQ(h_cfg[H_A].n_new, 2 * (ROUNDS / 2), "new total (even rounds only)");
    h_ctx_free(cctx);
    return h_result();
}
