/* Scenario 23: get callback returns NULL, a miss with no reference changes
 * (docs/openssl-behaviour.md, "The get callback").  TLS1.2 NO_TICKET,
 * mode SERVER|NO_INTERNAL_LOOKUP, new[A] keeps its sessions.
 *
 * Resumption attempt: get[A] x1 -> NULL (copy untouched, no reference
 * operations) -> full handshake, not resumed, new[A] x1 with a new session;
 * number 2.  The application's earlier session is untouched: no free event
 * for it until the application frees it (after SSL_CTX_free, where
 * remove[A] x2 fires).  Also with copy set to 0 before returning NULL
 * (OpenSSL must not act on copy when the result is NULL). */
#include "../harness.h"

static void s23_run(int copy_out)
{
    const char *what = copy_out < 0 ? "copy untouched" : "copy=0";
    SSL_CTX *sctx = h_server_ctx("sctx", TLS1_2_VERSION, TLS1_2_VERSION);
    SSL_CTX *cctx = h_client_ctx("cctx", TLS1_2_VERSION, TLS1_2_VERSION);
    SSL_SESSION *csess, *first;
    int first_freed = 0, ok, reused;
    long fserial;
    h_pair *p;

    ev("--- get returns NULL, %s", what);
    h_cfg_reset();
    SSL_CTX_set_options(sctx, SSL_OP_NO_TICKET);
    SSL_CTX_set_session_cache_mode(sctx, SSL_SESS_CACHE_SERVER | SSL_SESS_CACHE_NO_INTERNAL_LOOKUP);
    h_set_all(sctx, H_A);
    h_cfg[H_A].new_ret = 1;
    h_cfg[H_A].get_mode = H_GET_NULL;
    h_cfg[H_A].get_copy = copy_out;

    p = h_connect(cctx, sctx, NULL, NULL, "full", &ok);
    CHECK(ok, "%s: full handshake ok", what);
    first = h_kept(H_A, 0);
    fserial = h_serial(first);
    h_watch_session(first, &first_freed);
    csess = h_client_session(p);
    h_pair_free(p, 1);

    p = h_connect(cctx, sctx, NULL, csess, "resume-attempt", &ok);
    reused = SSL_session_reused(p->s);
    CHECK(ok, "%s: handshake ok", what);
    CHECK(!reused, "%s: not resumed", what);
    CHECK_EQ(h_cfg[H_A].n_get, 1, "%s: get[A] x1", what);
    CHECK_EQ(h_cfg[H_A].last_get_serial, 0, "%s: get returned NULL", what);
    CHECK_EQ(h_cfg[H_A].n_new, 2, "%s: new[A] for the full handshake", what);
    CHECK(h_cfg[H_A].last_new_serial != fserial, "%s: a new session", what);
    CHECK_EQ(h_cfg[H_A].n_remove, 0, "%s: remove[A] x0", what);
    ev("number(sctx)=%ld", h_sess_number(sctx));
    CHECK_EQ(h_sess_number(sctx), 2, "%s: number", what);
    h_pair_free(p, 1);
    CHECK(!first_freed, "%s: app's first session untouched", what);

    h_sess_free(csess);
    h_ctx_free(cctx);
    h_ctx_free(sctx);
    CHECK_EQ(h_cfg[H_A].n_remove, 2, "%s: remove[A] x2 at SSL_CTX_free", what);
    CHECK(!first_freed, "%s: app's first session alive after SSL_CTX_free", what);
    h_free_kept(H_A);
    CHECK(first_freed, "%s: freed at the app's free", what);
}

int scenario_23(void)
{
    s23_run(-1);
    s23_run(0);
    return h_result();
}
