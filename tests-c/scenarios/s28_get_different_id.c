/* Scenario 28: the get callback returns a session whose id differs from the
 * one the client offered (docs/openssl-behaviour.md, "The get callback";
 * the 3.6 change: "Differences between OpenSSL lines").
 *
 * Setup: TLS1.2 server, SSL_OP_NO_TICKET, SERVER|NO_INTERNAL_LOOKUP, callbacks
 * A (new keeps its reference). Two full handshakes give server sessions S1, S2
 * (kept by new[A], also cached). The client then offers S1's id and get[A]
 * returns S2.
 * Expect: get x1 (idlen 32, copy_in 1, ret S2).
 *   1.1.1w and 3.0.x (< 3.6): S2 is used (server reused=1) with S2's id in the
 *   ServerHello, the client does not recognise the id and the handshake fails;
 *   the client's fatal alert reaches the server, which removes its current
 *   session S2 (the "fatal alert received" remove): remove[A] x1 with S2,
 *   and S2 leaves the internal cache.
 *   3.6+: treated as a miss, clean full handshake (new x1).
 * Session ids are generated deterministically so the trace is stable. */
#include "../harness.h"

#include <string.h>

static unsigned int s28_idctr;

static int s28_gen_id(SSL *ssl, unsigned char *id, unsigned int *len)
{
    unsigned int n = __atomic_add_fetch(&s28_idctr, 1, __ATOMIC_SEQ_CST);
    (void)ssl;
    memset(id, 0, *len);
    id[0] = (unsigned char)n;
    id[1] = (unsigned char)(n >> 8);
    id[2] = 0x28;
    return 1;
}

int scenario_28(void)
{
    SSL_CTX *sctx = h_server_ctx("sctx", TLS1_2_VERSION, TLS1_2_VERSION);
    SSL_CTX *cctx = h_client_ctx("cctx", TLS1_2_VERSION, TLS1_2_VERSION);
    SSL_SESSION *c1, *s1, *s2;
    h_pair *p;
    int ok, sreused, creused;
    long n_before;
    int is36 = h_version_at_least(0x30600000UL);

    SSL_CTX_set_options(sctx, SSL_OP_NO_TICKET);
    SSL_CTX_set_session_cache_mode(sctx, SSL_SESS_CACHE_SERVER | SSL_SESS_CACHE_NO_INTERNAL_LOOKUP);
    SSL_CTX_set_generate_session_id(sctx, s28_gen_id);
    SSL_CTX_set_info_callback(sctx, h_info_cb);
    SSL_CTX_set_info_callback(cctx, h_info_cb);
    h_set_all(sctx, H_A);
    h_cfg[H_A].new_ret = 1;

    p = h_connect(cctx, sctx, NULL, NULL, "full1", &ok);
    CHECK(ok, "full1 ok");
    c1 = h_client_session(p);
    h_pair_free(p, 1);
    p = h_connect(cctx, sctx, NULL, NULL, "full2", &ok);
    CHECK(ok, "full2 ok");
    h_pair_free(p, 1);
    CHECK_EQ(h_nkept(H_A), 2, "new[A] kept 2 sessions");
    s1 = h_kept(H_A, 0);
    s2 = h_kept(H_A, 1);
    ev("client offers #%ld (server S1=#%ld), get returns S2=#%ld", h_serial(c1), h_serial(s1),
       h_serial(s2));
    CHECK_EQ(h_sess_number(sctx), 2, "number(sctx) before");

    h_cfg[H_A].get_mode = H_GET_FIXED;
    h_cfg[H_A].get_sess = s2;
    n_before = h_cfg[H_A].n_new;
    p = h_pair_new(cctx, sctx, NULL, c1);
    ok = h_pair_handshake(p);
    h_pair_print(p, "resume-wrong-id");
    creused = SSL_session_reused(p->c);
    sreused = SSL_session_reused(p->s);
    CHECK_EQ(h_cfg[H_A].n_get, 1, "get[A] x1");
    CHECK(h_cfg[H_A].last_get_serial == h_serial(s2), "get[A] returned S2");
    if (!is36) {
        CHECK(!ok, "1.1.1/3.0: handshake fails");
        CHECK_EQ(sreused, 1, "1.1.1/3.0: reused(server)=1");
        CHECK_EQ(creused, 0, "1.1.1/3.0: reused(client)=0");
        CHECK_EQ(h_cfg[H_A].n_new - n_before, 0, "1.1.1/3.0: new x0");
        CHECK_EQ(h_cfg[H_A].n_remove, 1, "1.1.1/3.0: remove[A] x1 (alert received by the server)");
        CHECK(h_cfg[H_A].last_remove_serial == h_serial(s2), "1.1.1/3.0: removed S2 (server's current session)");
        CHECK_EQ(h_sess_number(sctx), 1, "1.1.1/3.0: number(sctx) after (S2 removed)");
    } else {
        CHECK(ok, "3.6+: miss, full handshake ok");
        CHECK_EQ(sreused, 0, "3.6+: not reused");
        CHECK_EQ(h_cfg[H_A].n_new - n_before, 1, "3.6+: new x1");
    }
    ev("number(sctx)=%ld", h_sess_number(sctx));
    ev("S2 #%ld resumable=%d", h_serial(s2), SSL_SESSION_is_resumable(s2));
    h_pair_free(p, 0);

    h_sess_free(c1);
    h_free_kept(H_A);
    h_ctx_free(cctx);
    h_ctx_free(sctx);
    return h_result();
}
