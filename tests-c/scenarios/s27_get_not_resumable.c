/* Scenario 27: get callback returns a not_resumable session, i.e. the object
 * an earlier remove callback was given (docs/openssl-behaviour.md, "The get
 * callback" and "Differences between OpenSSL lines"; OpenSSL issue #18690).
 * TLS1.2 NO_TICKET, mode SERVER (store + lookup).
 *
 * Full handshake: new[A] keeps #k (number 1).  SSL_CTX_remove_session(sctx,
 * #k): remove[A] x1, #k is now not resumable, number 0.  Resumption: internal
 * miss -> get[A] x1 returns #k.
 *  - 3.0.14+ (3.1.6+, 3.2.2+): lookup_sess_in_cache ignores it (freeing the
 *    reference if copy == 0): clean full handshake, new[A] x1, number 1.
 *  - 1.1.1w, 3.0.0-3.0.13: it is used (and re-added to the cache) while the
 *    ServerHello carries an empty id: the handshake fails.
 * Variants: copy untouched, and up_ref + copy=0 (the reference OpenSSL takes
 * over must be dropped exactly once in both versions).  The application's
 * own reference survives until its free. */
#include "../harness.h"

/* CVE-2024-2511 hardening: get results that are not_resumable are ignored. */
static int s27_ignores_not_resumable(void)
{
    unsigned long v = h_ossl_version();
    if (v >= 0x30200020UL)                      /* 3.2.2+ */
        return 1;
    if (v >= 0x30100060UL && v < 0x30200000UL)  /* 3.1.6+ */
        return 1;
    if (v >= 0x300000e0UL && v < 0x30100000UL)  /* 3.0.14+ */
        return 1;
    return 0;
}

static void s27_run(int copy0)
{
    const char *what = copy0 ? "up_ref+copy=0" : "copy untouched";
    SSL_CTX *sctx = h_server_ctx("sctx", TLS1_2_VERSION, TLS1_2_VERSION);
    SSL_CTX *cctx = h_client_ctx("cctx", TLS1_2_VERSION, TLS1_2_VERSION);
    int ignored = s27_ignores_not_resumable();
    SSL_SESSION *csess, *k;
    int k_freed = 0, ok, reused, rm;
    long kserial;
    h_pair *p;

    ev("--- get returns a not_resumable session, %s", what);
    h_cfg_reset();
    SSL_CTX_set_options(sctx, SSL_OP_NO_TICKET);
    SSL_CTX_set_info_callback(sctx, h_info_cb);
    h_set_all(sctx, H_A);
    h_cfg[H_A].new_ret = 1;
    h_cfg[H_A].get_mode = H_GET_KEPT;
    if (copy0) {
        h_cfg[H_A].get_upref = 1;
        h_cfg[H_A].get_copy = 0;
    }

    p = h_connect(cctx, sctx, NULL, NULL, "full", &ok);
    CHECK(ok, "%s: full handshake ok", what);
    k = h_kept(H_A, 0);
    kserial = h_serial(k);
    h_watch_session(k, &k_freed);
    csess = h_client_session(p);
    h_pair_free(p, 1);
    CHECK_EQ(h_sess_number(sctx), 1, "%s: number after full", what);

    rm = SSL_CTX_remove_session(sctx, k);
    ev("SSL_CTX_remove_session(sctx, #%ld) = %d; resumable=%d number=%ld", kserial, rm,
       SSL_SESSION_is_resumable(k), h_sess_number(sctx));
    CHECK_EQ(rm, 1, "%s: remove_session found it", what);
    CHECK_EQ(h_cfg[H_A].n_remove, 1, "%s: remove[A] x1", what);
    CHECK_EQ(SSL_SESSION_is_resumable(k), 0, "%s: now not resumable", what);
    CHECK(!k_freed, "%s: app's object alive", what);

    ev("expect: %s", ignored ? "get result ignored, clean full handshake"
                             : "get result used, handshake fails");
    p = h_connect(cctx, sctx, NULL, csess, "resume-not-resumable", &ok);
    reused = SSL_session_reused(p->s);
    CHECK_EQ(h_cfg[H_A].n_get, 1, "%s: get[A] x1", what);
    CHECK_EQ(h_cfg[H_A].last_get_serial, kserial, "%s: get returned the removed object", what);
    if (ignored) {
        CHECK(ok, "%s: clean full handshake", what);
        CHECK(!reused, "%s: not resumed", what);
        CHECK_EQ(h_cfg[H_A].n_new, 2, "%s: new[A] for the full handshake", what);
        CHECK_EQ(h_cfg[H_A].n_remove, 1, "%s: no further remove", what);
        CHECK_EQ(h_sess_number(sctx), 1, "%s: number (the new session)", what);
    } else {
        CHECK(!ok, "%s: handshake fails", what);
        CHECK(reused, "%s: server believed it resumed", what);
        CHECK_EQ(h_cfg[H_A].n_new, 1, "%s: no new", what);
    }
    {
        unsigned int idlen = 0;
        (void)SSL_SESSION_get_id(k, &idlen);
        /* 1.1.1: the ServerHello zeroed the id of the very object get returned,
         * so the fatal-alert removes (sent and received) are skipped (empty id). */
        ev("app object #%ld: idlen now %u", kserial, idlen);
        CHECK_EQ(idlen, ignored ? 32 : 0, "%s: app object's id length after the handshake",
                 what);
    }
    ev("number(sctx)=%ld", h_sess_number(sctx));
    if (!ignored) {
        CHECK_EQ(h_cfg[H_A].n_remove, 1, "%s: no remove for the failed handshake", what);
        CHECK_EQ(h_sess_number(sctx), 1, "%s: get result re-added to the cache", what);
    }
    h_pair_free(p, 1);
    CHECK(!k_freed, "%s: app's object alive after SSL_free", what);

    h_sess_free(csess);
    h_ctx_free(cctx);
    h_ctx_free(sctx);
    CHECK(!k_freed, "%s: app's object alive after SSL_CTX_free", what);
    h_free_kept(H_A);
    CHECK(k_freed, "%s: freed exactly at the app's free", what);
}

int scenario_27(void)
{
    s27_run(0);
    s27_run(1);
    return h_result();
}
