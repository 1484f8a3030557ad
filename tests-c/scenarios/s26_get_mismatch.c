/* Scenario 26: get callback returns a session with the wrong sid_ctx or the
 * wrong protocol version (ssl_get_prev_session in ssl/ssl_sess.c;
 * docs/openssl-behaviour.md, "The get callback").
 * TLS1.2 NO_TICKET.
 *
 * Full handshake with SERVER|NO_INTERNAL_STORE, new[A] keeps the session.
 * The application alters its object (sid_ctx "other-ctx", or version
 * TLS1.1), then mode SERVER|NO_INTERNAL_LOOKUP: resumption -> get[A] x1 ->
 * the result is added to the cache, then rejected as a miss: full handshake,
 * not resumed, new[A] x1, remove x0; the mismatched object stays cached
 * (number 2).  SSL_CTX_free: remove[A] x2.  The application's reference
 * survives until its own free.  Variant "nostore": number 0, no removes. */
#include "../harness.h"

enum { S26_SIDCTX, S26_VERSION };

static void s26_run(int kind, int store)
{
    char what[64];
    SSL_CTX *sctx = h_server_ctx("sctx", TLS1_2_VERSION, TLS1_2_VERSION);
    SSL_CTX *cctx = h_client_ctx("cctx", TLS1_2_VERSION, TLS1_2_VERSION);
    long mode = SSL_SESS_CACHE_SERVER | SSL_SESS_CACHE_NO_INTERNAL_LOOKUP;
    static const unsigned char other[] = "other-ctx";
    SSL_SESSION *csess, *k;
    int k_freed = 0, ok, reused;
    long kserial;
    h_pair *p;

    snprintf(what, sizeof(what), "%s/%s", kind == S26_SIDCTX ? "sid_ctx" : "version",
             store ? "store" : "nostore");
    ev("--- %s: get returns a session with the wrong %s", what,
       kind == S26_SIDCTX ? "sid_ctx" : "protocol version");
    h_cfg_reset();
    if (!store)
        mode |= SSL_SESS_CACHE_NO_INTERNAL_STORE;
    SSL_CTX_set_options(sctx, SSL_OP_NO_TICKET);
    SSL_CTX_set_session_cache_mode(sctx, SSL_SESS_CACHE_SERVER | SSL_SESS_CACHE_NO_INTERNAL_STORE);
    h_set_all(sctx, H_A);
    h_cfg[H_A].new_ret = 1;
    h_cfg[H_A].get_mode = H_GET_KEPT;

    p = h_connect(cctx, sctx, NULL, NULL, "full", &ok);
    CHECK(ok, "%s: full handshake ok", what);
    k = h_kept(H_A, 0);
    kserial = h_serial(k);
    h_watch_session(k, &k_freed);
    csess = h_client_session(p);
    h_pair_free(p, 1);

    if (kind == S26_SIDCTX)
        CHECK(SSL_SESSION_set1_id_context(k, other, sizeof(other) - 1) == 1,
              "%s: sid_ctx changed", what);
    else
        CHECK(SSL_SESSION_set_protocol_version(k, TLS1_1_VERSION) == 1,
              "%s: version changed", what);
    SSL_CTX_set_session_cache_mode(sctx, mode);

    p = h_connect(cctx, sctx, NULL, csess, "resume-mismatch", &ok);
    reused = SSL_session_reused(p->s);
    CHECK(ok, "%s: handshake ok", what);
    CHECK(!reused, "%s: not resumed", what);
    CHECK_EQ(h_cfg[H_A].n_get, 1, "%s: get[A] x1", what);
    CHECK_EQ(h_cfg[H_A].last_get_serial, kserial, "%s: get returned the altered object", what);
    CHECK_EQ(h_cfg[H_A].n_remove, 0, "%s: remove x0", what);
    CHECK_EQ(h_cfg[H_A].n_new, 2, "%s: new[A] for the full handshake", what);
    CHECK_EQ(SSL_SESSION_is_resumable(k), 1, "%s: altered object still resumable", what);
    ev("number(sctx)=%ld", h_sess_number(sctx));
    CHECK_EQ(h_sess_number(sctx), store ? 2 : 0, "%s: number", what);
    h_pair_free(p, 1);
    CHECK(!k_freed, "%s: app's object alive after SSL_free", what);

    h_sess_free(csess);
    h_ctx_free(cctx);
    h_ctx_free(sctx);
    CHECK_EQ(h_cfg[H_A].n_remove, store ? 2 : 0, "%s: remove[A] at SSL_CTX_free", what);
    CHECK(!k_freed, "%s: app's object alive after SSL_CTX_free", what);
    h_free_kept(H_A);
    CHECK(k_freed, "%s: freed at the app's free", what);
}

int scenario_26(void)
{
    s26_run(S26_SIDCTX, 1);
    s26_run(S26_SIDCTX, 0);
    s26_run(S26_VERSION, 1);
    s26_run(S26_VERSION, 0);
    return h_result();
}
