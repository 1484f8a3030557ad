/* Scenario 22: is the get callback's result stored in the internal cache?
 * (lookup_sess_in_cache in ssl/ssl_sess.c; docs/openssl-behaviour.md,
 * "The get callback").  TLS1.2 NO_TICKET.
 *
 * Full handshake with SERVER|NO_INTERNAL_STORE (new[A] keeps the session,
 * number 0).  Then
 *  - store:   mode SERVER: resumption -> internal miss -> get[A] x1 -> the
 *             result is added: number 1.  A second resumption is served by
 *             the internal cache (get still x1).  SSL_CTX_free: remove[A] x1
 *             for the kept object, which stays alive (app reference).
 *  - nostore: mode SERVER|NO_INTERNAL_STORE: number stays 0, the second
 *             resumption calls get again (x2), SSL_CTX_free: remove[A] x0. */
#include "../harness.h"

static void s22_run(int store)
{
    const char *what = store ? "store" : "nostore";
    SSL_CTX *sctx = h_server_ctx("sctx", TLS1_2_VERSION, TLS1_2_VERSION);
    SSL_CTX *cctx = h_client_ctx("cctx", TLS1_2_VERSION, TLS1_2_VERSION);
    struct h_counts before, after;
    SSL_SESSION *csess;
    long kserial;
    h_pair *p;
    int ok, reused;

    ev("--- %s: get result %s", what, store ? "stored (mode SERVER)"
                                           : "not stored (SERVER|NO_INTERNAL_STORE)");
    h_cfg_reset();
    SSL_CTX_set_options(sctx, SSL_OP_NO_TICKET);
    SSL_CTX_set_session_cache_mode(sctx, SSL_SESS_CACHE_SERVER | SSL_SESS_CACHE_NO_INTERNAL_STORE);
    h_set_all(sctx, H_A);
    h_cfg[H_A].new_ret = 1;
    h_cfg[H_A].get_mode = H_GET_KEPT;

    p = h_connect(cctx, sctx, NULL, NULL, "full", &ok);
    CHECK(ok, "%s: full handshake ok", what);
    CHECK_EQ(h_sess_number(sctx), 0, "%s: number after full (NO_INTERNAL_STORE)", what);
    kserial = h_serial(h_kept(H_A, 0));
    csess = h_client_session(p);
    h_pair_free(p, 1);

    SSL_CTX_set_session_cache_mode(sctx, store ? SSL_SESS_CACHE_SERVER
                                               : SSL_SESS_CACHE_SERVER
                                                     | SSL_SESS_CACHE_NO_INTERNAL_STORE);
    p = h_connect(cctx, sctx, NULL, csess, "resume1", &ok);
    reused = SSL_session_reused(p->s);
    CHECK(ok && reused, "%s: resume1 resumed", what);
    CHECK_EQ(h_cfg[H_A].n_get, 1, "%s: resume1: get[A] x1", what);
    CHECK_EQ(h_cfg[H_A].last_get_serial, kserial, "%s: get returned the kept object", what);
    ev("number(sctx)=%ld", h_sess_number(sctx));
    CHECK_EQ(h_sess_number(sctx), store ? 1 : 0, "%s: number after resume1", what);
    h_pair_free(p, 1);

    p = h_connect(cctx, sctx, NULL, csess, "resume2", &ok);
    reused = SSL_session_reused(p->s);
    CHECK(ok && reused, "%s: resume2 resumed", what);
    CHECK_EQ(h_cfg[H_A].n_get, store ? 1 : 2, "%s: resume2: get[A] total", what);
    CHECK_EQ(h_serial(SSL_get_session(p->s)), kserial, "%s: resume2 uses the kept object", what);
    h_pair_free(p, 1);
    CHECK_EQ(h_cfg[H_A].n_remove, 0, "%s: no remove before SSL_CTX_free", what);

    h_sess_free(csess);
    h_ctx_free(cctx);
    h_counts(&before);
    h_ctx_free(sctx);
    h_counts(&after);
    CHECK_EQ(h_cfg[H_A].n_remove, store ? 1 : 0, "%s: remove[A] at SSL_CTX_free", what);
    if (store)
        CHECK_EQ(h_cfg[H_A].last_remove_serial, kserial, "%s: removed the kept object", what);
    CHECK_EQ(after.sess_freed - before.sess_freed, 0,
             "%s: nothing freed at SSL_CTX_free (app holds it)", what);
    h_counts(&before);
    h_free_kept(H_A);
    h_counts(&after);
    CHECK_EQ(after.sess_freed - before.sess_freed, 1, "%s: freed at the app's free", what);
}

int scenario_22(void)
{
    s22_run(0);
    s22_run(1);
    return h_result();
}
