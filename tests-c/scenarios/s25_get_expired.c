/* Scenario 25: get callback returns an expired session: the "expired
 * session found at lookup" remove (docs/openssl-behaviour.md, "The get
 * callback" and "The remove callback").  TLS1.2 NO_TICKET.
 *
 * new[A] keeps the session; the application then ages its own object
 * (time = now - 100, timeout 10).  Resumption: get[A] x1 returns it ->
 * expired -> SSL_CTX_remove_session(session_ctx, it): remove[A] x1 with that
 * very object (resumable=0 afterwards) even though it was never in the
 * internal cache (mode SERVER|NO_INTERNAL_LOOKUP|NO_INTERNAL_STORE); full
 * handshake, new[A] x1.  Variant "store" (SERVER|NO_INTERNAL_LOOKUP, the get
 * result is first added to the cache): same callbacks, and the expired
 * object leaves the cache again (number 1 = the new session only).  The
 * application's reference survives; free event at its own free. */
#include "../harness.h"

#include <time.h>

static void s25_run(int store)
{
    const char *what = store ? "store" : "nostore";
    SSL_CTX *sctx = h_server_ctx("sctx", TLS1_2_VERSION, TLS1_2_VERSION);
    SSL_CTX *cctx = h_client_ctx("cctx", TLS1_2_VERSION, TLS1_2_VERSION);
    long mode = SSL_SESS_CACHE_SERVER | SSL_SESS_CACHE_NO_INTERNAL_LOOKUP;
    SSL_SESSION *csess, *old;
    int old_freed = 0, ok, reused;
    long oserial;
    h_pair *p;

    ev("--- %s: get returns an expired session", store ? "SERVER|NO_INTERNAL_LOOKUP"
                                                      : "SERVER|NO_INTERNAL");
    h_cfg_reset();
    if (!store)
        mode |= SSL_SESS_CACHE_NO_INTERNAL_STORE;
    SSL_CTX_set_options(sctx, SSL_OP_NO_TICKET);
    /* Full handshake with nothing stored, so that the expired object is never
     * in the cache before the get callback returns it. */
    SSL_CTX_set_session_cache_mode(sctx, SSL_SESS_CACHE_SERVER | SSL_SESS_CACHE_NO_INTERNAL_STORE);
    h_set_all(sctx, H_A);
    h_cfg[H_A].new_ret = 1;
    h_cfg[H_A].get_mode = H_GET_KEPT;

    p = h_connect(cctx, sctx, NULL, NULL, "full", &ok);
    CHECK(ok, "%s: full handshake ok", what);
    old = h_kept(H_A, 0);
    oserial = h_serial(old);
    h_watch_session(old, &old_freed);
    csess = h_client_session(p);
    h_pair_free(p, 1);

    SSL_CTX_set_session_cache_mode(sctx, mode);
    (void)SSL_SESSION_set_timeout(old, 10);
    (void)SSL_SESSION_set_time(old, (long)time(NULL) - 100);
    ev("aged #%ld: timeout 10, time now-100; resumable=%d", oserial,
       SSL_SESSION_is_resumable(old));

    p = h_connect(cctx, sctx, NULL, csess, "resume-expired", &ok);
    reused = SSL_session_reused(p->s);
    CHECK(ok, "%s: handshake ok", what);
    CHECK(!reused, "%s: not resumed", what);
    CHECK_EQ(h_cfg[H_A].n_get, 1, "%s: get[A] x1", what);
    CHECK_EQ(h_cfg[H_A].n_remove, 1, "%s: remove[A] x1", what);
    CHECK_EQ(h_cfg[H_A].last_remove_serial, oserial, "%s: remove got the expired object", what);
    CHECK(h_cfg[H_A].last_remove_ctx == sctx, "%s: remove got ctx == sctx", what);
    CHECK_EQ(SSL_SESSION_is_resumable(old), 0, "%s: expired object now not resumable", what);
    CHECK_EQ(h_cfg[H_A].n_new, 2, "%s: new[A] for the full handshake", what);
    ev("number(sctx)=%ld", h_sess_number(sctx));
    CHECK_EQ(h_sess_number(sctx), store ? 1 : 0, "%s: number", what);
    h_pair_free(p, 1);
    CHECK(!old_freed, "%s: app's expired object alive after SSL_free", what);

    h_sess_free(csess);
    h_ctx_free(cctx);
    h_ctx_free(sctx);
    CHECK_EQ(h_cfg[H_A].n_remove, store ? 2 : 1, "%s: remove[A] total after SSL_CTX_free", what);
    CHECK(!old_freed, "%s: app's expired object alive after SSL_CTX_free", what);
    h_free_kept(H_A);
    CHECK(old_freed, "%s: freed at the app's free", what);
}

int scenario_25(void)
{
    s25_run(0);
    s25_run(1);
    return h_result();
}
