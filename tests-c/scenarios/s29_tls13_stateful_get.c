/* Scenario 29: TLS1.3 stateful tickets (server SSL_OP_NO_TICKET) with
 * SERVER|NO_INTERNAL_LOOKUP, get callback answering from the sessions new[A]
 * kept (tls_get_stateful_ticket in ssl/statem/extensions_srvr.c;
 * docs/openssl-behaviour.md, "The get callback").
 *
 * Expect:
 *  - full handshake: new[A] x2 on the server (one per ticket, distinct
 *    serials, idlen 32); both cached (NO_TICKET => cached even without
 *    relying on the remove callback): number 2.
 *  - resumption: get[A] x1 with len=32 and copy_in=1 returning the kept
 *    object of the ticket the client used; resumed; new[A] x1 for the single
 *    new ticket; number grows by exactly 1 (the get result is the object
 *    already cached, so SSL_CTX_add_session is a no-op for it).
 *  - same with SERVER|NO_INTERNAL (lookup + store off): the same callback
 *    counts and resumption, number stays 0 throughout. */
#include "../harness.h"

#include <string.h>

static unsigned int s29_idctr;

static int s29_gen_id(SSL *ssl, unsigned char *id, unsigned int *len)
{
    unsigned int n = __atomic_add_fetch(&s29_idctr, 1, __ATOMIC_SEQ_CST);
    (void)ssl;
    memset(id, 0, *len);
    id[0] = (unsigned char)n;
    id[1] = (unsigned char)(n >> 8);
    id[2] = 0x29;
    return 1;
}

static void s29_run(const char *label, long mode, int store)
{
    SSL_CTX *sctx = h_server_ctx("sctx", TLS1_3_VERSION, TLS1_3_VERSION);
    SSL_CTX *cctx = h_client_ctx("cctx", TLS1_3_VERSION, TLS1_3_VERSION);
    SSL_SESSION *c1;
    h_pair *p;
    int ok, i, found;
    long n_full, n_res;

    ev("--- %s", label);
    h_cfg_reset();
    SSL_CTX_set_options(sctx, SSL_OP_NO_TICKET);
    SSL_CTX_set_session_cache_mode(sctx, mode);
    SSL_CTX_set_generate_session_id(sctx, s29_gen_id);
    SSL_CTX_set_info_callback(sctx, h_info_cb);
    h_set_all(sctx, H_A);
    h_cfg[H_A].new_ret = 1;
    h_cfg[H_A].get_mode = H_GET_KEPT;

    p = h_connect(cctx, sctx, NULL, NULL, "full", &ok);
    CHECK(ok, "%s: full handshake ok", label);
    CHECK_EQ(h_cfg[H_A].n_new, 2, "%s: full: new[A] x2", label);
    CHECK_EQ(h_cfg[H_A].n_get, 0, "%s: full: get x0", label);
    CHECK(h_serial(h_kept(H_A, 0)) != h_serial(h_kept(H_A, 1)), "%s: distinct ticket sessions", label);
    for (i = 0; i < h_nkept(H_A); i++) {
        unsigned int l = 0;
        (void)SSL_SESSION_get_id(h_kept(H_A, i), &l);
        CHECK_EQ(l, 32, "%s: stateful ticket session %d idlen", label, i);
    }
    n_full = h_sess_number(sctx);
    ev("number(sctx)=%ld", n_full);
    CHECK_EQ(n_full, store ? 2 : 0, "%s: number after full", label);
    c1 = h_client_session(p);
    h_pair_free(p, 1);

    p = h_connect(cctx, sctx, NULL, c1, "resume", &ok);
    CHECK(ok, "%s: resumption handshake ok", label);
    CHECK(SSL_session_reused(p->s) == 1, "%s: resumed (server)", label);
    CHECK_EQ(h_cfg[H_A].n_get, 1, "%s: get[A] x1", label);
    found = 0;
    for (i = 0; i < 2; i++)
        if (h_cfg[H_A].last_get_serial == h_serial(h_kept(H_A, i)))
            found = 1;
    CHECK(found, "%s: get returned a kept ticket session", label);
    CHECK(h_serial(SSL_get_session(p->s)) != h_cfg[H_A].last_get_serial,
          "%s: server's current session is the new ticket's dup", label);
    CHECK_EQ(h_cfg[H_A].n_new, 3, "%s: resumption: new[A] +1", label);
    CHECK_EQ(h_cfg[H_A].n_remove, 0, "%s: no remove", label);
    n_res = h_sess_number(sctx);
    ev("number(sctx)=%ld", n_res);
    CHECK_EQ(n_res, store ? n_full + 1 : 0, "%s: number after resumption", label);
    h_pair_free(p, 1);

    h_sess_free(c1);
    h_free_kept(H_A);
    h_ctx_free(cctx);
    h_ctx_free(sctx);
    CHECK_EQ(h_cfg[H_A].n_remove, store ? 3 : 0, "%s: remove at SSL_CTX_free", label);
}

int scenario_29(void)
{
    s29_run("lookup-off store-on", SSL_SESS_CACHE_SERVER | SSL_SESS_CACHE_NO_INTERNAL_LOOKUP, 1);
    s29_run("lookup-off store-off", SSL_SESS_CACHE_SERVER | SSL_SESS_CACHE_NO_INTERNAL, 0);
    return h_result();
}
