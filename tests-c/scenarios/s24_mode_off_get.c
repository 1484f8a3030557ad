/* Scenario 24: SSL_SESS_CACHE_OFF plus a get callback
 * (docs/openssl-behaviour.md, "The get callback").  TLS1.2 NO_TICKET.
 *
 * Full handshake in mode SERVER|NO_INTERNAL_STORE (new[A] keeps the session;
 * with OFF the ServerHello would carry an empty id).  Then mode OFF:
 * the resumption still consults get[A] (x1), resumes, and the result is
 * stored in the internal cache despite OFF (number 1); a second resumption
 * is then served by the internal cache (get still x1).  No new callback in
 * OFF mode.  SSL_CTX_free: remove[A] x1 for the stored object.  A full
 * handshake in mode OFF: new x0, session id empty. */
#include "../harness.h"

int scenario_24(void)
{
    SSL_CTX *sctx = h_server_ctx("sctx", TLS1_2_VERSION, TLS1_2_VERSION);
    SSL_CTX *cctx = h_client_ctx("cctx", TLS1_2_VERSION, TLS1_2_VERSION);
    struct h_counts before, after;
    SSL_SESSION *csess;
    unsigned int idlen = 99;
    long kserial;
    h_pair *p;
    int ok, reused;

    h_cfg_reset();
    SSL_CTX_set_options(sctx, SSL_OP_NO_TICKET);
    SSL_CTX_set_session_cache_mode(sctx, SSL_SESS_CACHE_SERVER | SSL_SESS_CACHE_NO_INTERNAL_STORE);
    h_set_all(sctx, H_A);
    h_cfg[H_A].new_ret = 1;
    h_cfg[H_A].get_mode = H_GET_KEPT;

    p = h_connect(cctx, sctx, NULL, NULL, "full", &ok);
    CHECK(ok, "full handshake ok");
    CHECK_EQ(h_cfg[H_A].n_new, 1, "new[A] x1");
    kserial = h_serial(h_kept(H_A, 0));
    csess = h_client_session(p);
    h_pair_free(p, 1);
    CHECK_EQ(h_sess_number(sctx), 0, "number after full");

    ev("mode -> OFF");
    SSL_CTX_set_session_cache_mode(sctx, SSL_SESS_CACHE_OFF);
    p = h_connect(cctx, sctx, NULL, csess, "resume1", &ok);
    reused = SSL_session_reused(p->s);
    CHECK(ok && reused, "OFF: resumed through get");
    CHECK_EQ(h_cfg[H_A].n_get, 1, "OFF: get[A] x1");
    CHECK_EQ(h_cfg[H_A].last_get_serial, kserial, "OFF: get returned the kept object");
    ev("number(sctx)=%ld", h_sess_number(sctx));
    CHECK_EQ(h_sess_number(sctx), 1, "OFF: get result stored anyway");
    h_pair_free(p, 1);

    p = h_connect(cctx, sctx, NULL, csess, "resume2", &ok);
    reused = SSL_session_reused(p->s);
    CHECK(ok && reused, "OFF: resume2 resumed");
    CHECK_EQ(h_cfg[H_A].n_get, 1, "OFF: resume2 served by the internal cache");
    h_pair_free(p, 1);

    p = h_connect(cctx, sctx, NULL, NULL, "full-off", &ok);
    CHECK(ok, "OFF: full handshake ok");
    (void)SSL_SESSION_get_id(SSL_get_session(p->s), &idlen);
    ev("server session id length %u", idlen);
    CHECK_EQ(idlen, 0, "OFF: full handshake: empty session id");
    CHECK_EQ(h_cfg[H_A].n_new, 1, "OFF: no new");
    h_pair_free(p, 1);
    CHECK_EQ(h_cfg[H_A].n_remove, 0, "no remove before SSL_CTX_free");

    h_sess_free(csess);
    h_ctx_free(cctx);
    h_counts(&before);
    h_ctx_free(sctx);
    h_counts(&after);
    CHECK_EQ(h_cfg[H_A].n_remove, 1, "remove[A] x1 at SSL_CTX_free");
    CHECK_EQ(h_cfg[H_A].last_remove_serial, kserial, "removed the stored object");
    CHECK_EQ(after.sess_freed - before.sess_freed, 0, "app still holds it");
    h_free_kept(H_A);
    return h_result();
}
