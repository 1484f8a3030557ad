/* Scenario 08: TLS1.3 server; the NULL-ness of the remove callback decides
 * whether ticket sessions are cached (docs/openssl-behaviour.md, "Setters
 * and getters"), even though it is never invoked during the handshake.
 *  a) new only:            new x2, number 0, remove x0 at SSL_CTX_free
 *  b) new + remove:        new x2, number 2, remove x2 at SSL_CTX_free
 *  c) remove set then cleared before the handshake: number 0
 *  d) remove set (number 2), cleared, second handshake: number stays 2, and
 *     SSL_CTX_free frees the 2 sessions without reporting them. */
#include "../harness.h"

static SSL_CTX *mk(const char *name)
{
    SSL_CTX *s = h_server_ctx(name, TLS1_3_VERSION, TLS1_3_VERSION);
    return s;
}

int scenario_08(void)
{
    SSL_CTX *cctx = h_client_ctx("cctx", TLS1_3_VERSION, TLS1_3_VERSION);
    SSL_CTX *s;
    struct h_counts b, a;
    h_pair *p;
    int ok;

    ev("-- a) new only");
    h_cfg_reset();
    s = mk("sctxA");
    SSL_CTX_sess_set_new_cb(s, h_new_A);
    p = h_connect(cctx, s, NULL, NULL, "a", &ok);
    CHECK(ok, "a: handshake");
    CHECK_EQ(h_cfg[H_A].n_new, 2, "a: new x2");
    CHECK_EQ(h_sess_number(s), 0, "a: number");
    h_pair_free(p, 1);
    h_ctx_free(s);
    CHECK_EQ(h_cfg[H_A].n_remove, 0, "a: remove x0");

    ev("-- b) new + remove");
    h_cfg_reset();
    s = mk("sctxB");
    SSL_CTX_sess_set_new_cb(s, h_new_A);
    SSL_CTX_sess_set_remove_cb(s, h_remove_A);
    p = h_connect(cctx, s, NULL, NULL, "b", &ok);
    CHECK(ok, "b: handshake");
    CHECK_EQ(h_cfg[H_A].n_new, 2, "b: new x2");
    CHECK_EQ(h_sess_number(s), 2, "b: number");
    CHECK_EQ(h_cfg[H_A].n_remove, 0, "b: remove not called during the handshake");
    h_pair_free(p, 1);
    h_counts(&b);
    h_ctx_free(s);
    h_counts(&a);
    CHECK_EQ(h_cfg[H_A].n_remove, 2, "b: remove x2 at SSL_CTX_free");
    CHECK_EQ(a.sess_freed - b.sess_freed, 2, "b: 2 sessions freed at SSL_CTX_free");

    ev("-- c) remove set then cleared");
    h_cfg_reset();
    s = mk("sctxC");
    SSL_CTX_sess_set_new_cb(s, h_new_A);
    SSL_CTX_sess_set_remove_cb(s, h_remove_A);
    SSL_CTX_sess_set_remove_cb(s, NULL);
    p = h_connect(cctx, s, NULL, NULL, "c", &ok);
    CHECK(ok, "c: handshake");
    CHECK_EQ(h_cfg[H_A].n_new, 2, "c: new x2");
    CHECK_EQ(h_sess_number(s), 0, "c: number");
    h_pair_free(p, 1);
    h_ctx_free(s);
    CHECK_EQ(h_cfg[H_A].n_remove, 0, "c: remove x0");

    ev("-- d) cleared between two handshakes");
    h_cfg_reset();
    s = mk("sctxD");
    SSL_CTX_sess_set_remove_cb(s, h_remove_A);
    p = h_connect(cctx, s, NULL, NULL, "d1", &ok);
    CHECK(ok, "d: handshake 1");
    CHECK_EQ(h_sess_number(s), 2, "d: number after handshake 1");
    h_pair_free(p, 1);
    SSL_CTX_sess_set_remove_cb(s, NULL);
    p = h_connect(cctx, s, NULL, NULL, "d2", &ok);
    CHECK(ok, "d: handshake 2");
    CHECK_EQ(h_sess_number(s), 2, "d: number after handshake 2");
    h_pair_free(p, 1);
    h_counts(&b);
    h_ctx_free(s);
    h_counts(&a);
    CHECK_EQ(h_cfg[H_A].n_remove, 0, "d: remove x0");
    CHECK_EQ(a.sess_freed - b.sess_freed, 2, "d: 2 cached sessions freed silently");

    h_ctx_free(cctx);
    return h_result();
}
