/* Scenario 32: client TLS1.3 resumption with cctx in CLIENT cache mode
 * (the "TLS 1.3 client, end of a resumed handshake" remove;
 * docs/openssl-behaviour.md, "The remove callback" and "The new-session
 * callback").
 *
 * cctx: SSL_SESS_CACHE_CLIENT, callbacks B (new keeps every session so the
 * trace can release them in a fixed order). sctx: TLS1.3 server, callbacks A.
 * Expect:
 *  - full handshake: client new[B] x2, delivered during SSL_read (0 right
 *    after the handshake); server new[A] x2.
 *  - resumption with the application's session object X (SSL_set_session):
 *    at the end of the client handshake remove[B] x1 with ctx=cctx and sess=X
 *    (before any new), after which SSL_SESSION_is_resumable(X) == 0; then
 *    new[B] x1 during SSL_read (the single new ticket). Server: new[A] x1.
 * The client's ticket-session ids are hashes of random tickets, so before
 * SSL_CTX_free the remaining cached client sessions are removed explicitly in
 * a fixed order (1.1.1 flushes in hash order). */
#include "../harness.h"

#include <string.h>

static unsigned int s32_idctr;

static int s32_gen_id(SSL *ssl, unsigned char *id, unsigned int *len)
{
    unsigned int n = __atomic_add_fetch(&s32_idctr, 1, __ATOMIC_SEQ_CST);
    (void)ssl;
    memset(id, 0, *len);
    id[0] = (unsigned char)n;
    id[1] = (unsigned char)(n >> 8);
    id[2] = 0x32;
    return 1;
}

int scenario_32(void)
{
    SSL_CTX *sctx = h_server_ctx("sctx", TLS1_3_VERSION, TLS1_3_VERSION);
    SSL_CTX *cctx = h_client_ctx("cctx", TLS1_3_VERSION, TLS1_3_VERSION);
    SSL_SESSION *x;
    h_pair *p;
    int ok, i, r;
    long xs;

    SSL_CTX_set_generate_session_id(sctx, s32_gen_id);
    SSL_CTX_set_session_cache_mode(cctx, SSL_SESS_CACHE_CLIENT);
    SSL_CTX_set_info_callback(cctx, h_info_cb);
    h_set_all(sctx, H_A);
    h_set_all(cctx, H_B);
    h_cfg[H_B].new_ret = 1;

    ev("--- full handshake");
    p = h_pair_new(cctx, sctx, NULL, NULL);
    ok = h_pair_handshake(p);
    h_pair_print(p, "full");
    CHECK(ok, "full: handshake ok");
    CHECK_EQ(h_cfg[H_B].n_new, 0, "full: client new x0 before SSL_read");
    CHECK_EQ(h_cfg[H_A].n_new, 2, "full: server new[A] x2");
    CHECK(h_pair_server_to_client(p), "full: data server->client");
    CHECK_EQ(h_cfg[H_B].n_new, 2, "full: client new[B] x2 during SSL_read");
    CHECK_EQ(h_sess_number(cctx), 2, "full: number(cctx) (CLIENT mode stores the tickets)");
    x = h_client_session(p);
    xs = h_serial(x);
    CHECK(xs == h_cfg[H_B].last_new_serial, "full: app session X is the last ticket's session");
    ev("app session X=#%ld resumable=%d", xs, SSL_SESSION_is_resumable(x));
    h_pair_free(p, 1);

    ev("--- resumption with X");
    p = h_pair_new(cctx, sctx, NULL, x);
    ok = h_pair_handshake(p);
    h_pair_print(p, "resume");
    CHECK(ok, "resume: handshake ok");
    CHECK_EQ(SSL_session_reused(p->c), 1, "resume: reused (client)");
    CHECK_EQ(h_cfg[H_B].n_remove, 1, "resume: remove[B] x1 at the end of the handshake");
    CHECK(h_cfg[H_B].last_remove_serial == xs, "resume: removed the application's SSL_set_session object X");
    CHECK(h_cfg[H_B].last_remove_ctx == cctx, "resume: remove ctx == cctx");
    CHECK_EQ(SSL_SESSION_is_resumable(x), 0, "resume: X is no longer resumable");
    CHECK_EQ(h_cfg[H_B].n_new, 2, "resume: no client new before SSL_read");
    CHECK_EQ(h_sess_number(cctx), 1, "resume: number(cctx) (X left the cache)");
    CHECK(h_pair_server_to_client(p), "resume: data server->client");
    CHECK_EQ(h_cfg[H_B].n_new, 3, "resume: client new[B] x1 during SSL_read");
    CHECK(h_cfg[H_B].last_new_serial != xs, "resume: the new ticket is a different object");
    CHECK_EQ(h_cfg[H_A].n_new, 3, "resume: server new[A] x1");
    CHECK_EQ(h_sess_number(cctx), 2, "resume: number(cctx) after the new ticket");
    h_pair_free(p, 1);
    CHECK_EQ(h_cfg[H_B].n_remove, 1, "clean close: no further remove[B]");

    ev("--- remove the client sessions still cached, in kept order");
    for (i = 0; i < h_nkept(H_B); i++) {
        SSL_SESSION *k = h_kept(H_B, i);
        if (h_serial(k) == xs)
            continue;
        r = SSL_CTX_remove_session(cctx, k);
        ev("SSL_CTX_remove_session(cctx, #%ld) = %d", h_serial(k), r);
        CHECK_EQ(r, 1, "kept client session %d was cached", i);
    }
    CHECK_EQ(h_sess_number(cctx), 0, "number(cctx) now 0");
    h_sess_free(x);
    h_free_kept(H_B);
    h_ctx_free(cctx);
    h_ctx_free(sctx);
    CHECK_EQ(h_cfg[H_A].n_remove, 3, "SSL_CTX_free(sctx): remove[A] x3 (cached tickets)");
    return h_result();
}
