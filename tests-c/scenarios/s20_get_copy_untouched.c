/* Scenario 20: get callback leaving *copy alone (or storing another non-zero
 * value): OpenSSL takes its own reference (docs/openssl-behaviour.md, "The
 * get callback").
 *
 * TLS1.2 NO_TICKET, sctx mode SERVER|NO_INTERNAL_LOOKUP (+NO_INTERNAL_STORE
 * in some variants).  new[A] keeps the session (returns 1).  Resumption:
 * get[A] x1 with copy_in=1 and len=32 returns the kept object; resumed; the
 * server's SSL_get_session is that very object.  The application's reference
 * survives SSL_free and SSL_CTX_free (store: remove[A] x1 for it at
 * SSL_CTX_free, nostore: x0); its free event happens exactly at the
 * application's SSL_SESSION_free. */
#include "../harness.h"

/* ---- get wrapper recording *copy before and after ---- */
static int s20_copy_in, s20_copy_out, s20_len;

static SSL_SESSION *s20_get_A(SSL *s, const unsigned char *id, int len, int *copy)
{
    SSL_SESSION *r;
    s20_copy_in = *copy;
    s20_len = len;
    r = h_get_A(s, id, len, copy);
    s20_copy_out = *copy;
    return r;
}

static void s20_run(int nostore, int copy_out)
{
    SSL_CTX *sctx = h_server_ctx("sctx", TLS1_2_VERSION, TLS1_2_VERSION);
    SSL_CTX *cctx = h_client_ctx("cctx", TLS1_2_VERSION, TLS1_2_VERSION);
    long mode = SSL_SESS_CACHE_SERVER | SSL_SESS_CACHE_NO_INTERNAL_LOOKUP;
    const char *what = nostore ? "nostore" : "store";
    SSL_SESSION *csess, *kept;
    int kept_freed = 0, ok, reused;
    long kserial;
    h_pair *p;

    ev("--- %s, get sets copy=%s", nostore ? "SERVER|NO_INTERNAL_LOOKUP|NO_INTERNAL_STORE"
                                           : "SERVER|NO_INTERNAL_LOOKUP",
       copy_out < 0 ? "untouched" : copy_out == 1 ? "1" : "2");
    h_cfg_reset();
    if (nostore)
        mode |= SSL_SESS_CACHE_NO_INTERNAL_STORE;
    SSL_CTX_set_options(sctx, SSL_OP_NO_TICKET);
    SSL_CTX_set_session_cache_mode(sctx, mode);
    h_set_all(sctx, H_A);
    SSL_CTX_sess_set_get_cb(sctx, s20_get_A);
    h_cfg[H_A].new_ret = 1;
    h_cfg[H_A].get_mode = H_GET_KEPT;
    h_cfg[H_A].get_copy = copy_out;

    p = h_connect(cctx, sctx, NULL, NULL, "full", &ok);
    CHECK(ok, "%s: full handshake ok", what);
    CHECK_EQ(h_nkept(H_A), 1, "%s: new[A] kept one session", what);
    kept = h_kept(H_A, 0);
    kserial = h_serial(kept);
    h_watch_session(kept, &kept_freed);
    csess = h_client_session(p);
    h_pair_free(p, 1);
    CHECK_EQ(h_sess_number(sctx), nostore ? 0 : 1, "%s: number after full", what);

    p = h_connect(cctx, sctx, NULL, csess, "resume", &ok);
    reused = SSL_session_reused(p->s);
    CHECK(ok && reused, "%s: resumed", what);
    CHECK_EQ(h_cfg[H_A].n_get, 1, "%s: get[A] x1", what);
    CHECK_EQ(s20_copy_in, 1, "%s: copy_in", what);
    CHECK_EQ(s20_len, 32, "%s: len", what);
    CHECK_EQ(s20_copy_out, copy_out < 0 ? 1 : copy_out, "%s: copy_out", what);
    CHECK_EQ(h_cfg[H_A].last_get_serial, kserial, "%s: get returned the kept session", what);
    CHECK_EQ(h_serial(SSL_get_session(p->s)), kserial, "%s: server's session is that object",
             what);
    CHECK_EQ(h_cfg[H_A].n_new, 1, "%s: no new on resumption", what);
    CHECK_EQ(h_sess_number(sctx), nostore ? 0 : 1, "%s: number after resume", what);
    h_pair_free(p, 1);
    CHECK(!kept_freed, "%s: app's session alive after SSL_free", what);
    h_sess_free(csess);
    h_ctx_free(cctx);
    h_ctx_free(sctx);
    CHECK_EQ(h_cfg[H_A].n_remove, nostore ? 0 : 1, "%s: remove[A] at SSL_CTX_free", what);
    if (!nostore)
        CHECK_EQ(h_cfg[H_A].last_remove_serial, kserial, "%s: removed the kept session", what);
    CHECK(!kept_freed, "%s: app's session alive after SSL_CTX_free", what);
    kept = h_take_kept(H_A, 0);
    h_sess_free(kept);
    CHECK(kept_freed, "%s: freed exactly at the app's SSL_SESSION_free", what);
}

int scenario_20(void)
{
    s20_run(0, -1);
    s20_run(1, -1);
    s20_run(0, 1);
    s20_run(1, 2);
    return h_result();
}
