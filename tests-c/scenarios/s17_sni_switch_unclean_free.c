/* Scenario 17: SNI switch sctx1 -> sctx2, then SSL_free without
 * SSL_shutdown: the non-clean-close remove, which ssl_clear_bad_session
 * (ssl/ssl_sess.c) makes on s->session_ctx (docs/openssl-behaviour.md,
 * "The remove callback").
 *
 * A on sctx1, B on sctx2, new returns 0.  Expect remove[A] x1 with
 * ctx == sctx1 for the server's current session, B never, and the session
 * leaves sctx1's cache (number 1 -> 0 for TLS1.2 NO_TICKET; TLS1.3: the
 * server's current session is the last ticket's, 2 -> 1).
 * Variant "ctxs-freed-first": the application frees sctx1 and sctx2 before
 * the unclean SSL_free, so the final SSL_CTX_free of both (and sctx1's
 * remaining remove callbacks) happen inside SSL_free. */
#include "../harness.h"

#include <string.h>

static char s17_first_remove_ctx[32]; /* name of the ctx given to the first remove[A] */

static void s17_remove_A(SSL_CTX *ctx, SSL_SESSION *sess)
{
    if (s17_first_remove_ctx[0] == '\0')
        snprintf(s17_first_remove_ctx, sizeof(s17_first_remove_ctx), "%s", h_ctx_name(ctx));
    h_remove_A(ctx, sess);
}

static int s17_sni_cb(SSL *s, int *al, void *arg)
{
    SSL_CTX *r;
    (void)al;
    r = SSL_set_SSL_CTX(s, (SSL_CTX *)arg);
    ev("sni-cb: switched to %s, ssl_ctx=%s", h_ctx_name(r), h_ssl_ctx_name(s));
    return SSL_TLSEXT_ERR_OK;
}

static void s17_run(int version, const char *vname, int free_ctxs_first)
{
    SSL_CTX *sctx1 = h_server_ctx("sctx1", version, version);
    SSL_CTX *sctx2 = h_server_ctx("sctx2", version, version);
    SSL_CTX *cctx = h_client_ctx("cctx", version, version);
    int nt = version == TLS1_2_VERSION ? 1 : 2;
    struct h_counts before, after;
    long cur;
    h_pair *p;
    int ok;

    ev("--- %s: A on sctx1, B on sctx2, switch, unclean SSL_free%s", vname,
       free_ctxs_first ? " (server ctxs freed by the app first)" : "");
    h_cfg_reset();
    if (version == TLS1_2_VERSION) {
        SSL_CTX_set_options(sctx1, SSL_OP_NO_TICKET);
        SSL_CTX_set_options(sctx2, SSL_OP_NO_TICKET);
    }
    SSL_CTX_set_tlsext_servername_callback(sctx1, s17_sni_cb);
    SSL_CTX_set_tlsext_servername_arg(sctx1, sctx2);
    h_set_all(sctx1, H_A);
    SSL_CTX_sess_set_remove_cb(sctx1, s17_remove_A);
    h_set_all(sctx2, H_B);
    s17_first_remove_ctx[0] = '\0';

    p = h_connect(cctx, sctx1, "two.sesscb.test", NULL, vname, &ok);
    CHECK(ok, "%s: handshake ok", vname);
    CHECK(SSL_get_SSL_CTX(p->s) == sctx2, "%s: server switched to sctx2", vname);
    CHECK_EQ(h_cfg[H_A].n_new, nt, "%s: new[A]", vname);
    cur = h_serial(SSL_get_session(p->s));
    ev("server current session #%ld", cur);
    ev("number(sctx1)=%ld number(sctx2)=%ld", h_sess_number(sctx1), h_sess_number(sctx2));
    CHECK_EQ(h_sess_number(sctx1), nt, "%s: number(sctx1)", vname);
    CHECK_EQ(h_cfg[H_A].n_remove, 0, "%s: no remove yet", vname);

    if (free_ctxs_first) {
        h_ctx_free(sctx2);
        h_ctx_free(sctx1);
        CHECK_EQ(h_cfg[H_A].n_remove, 0, "%s: SSL_CTX_free with SSLs alive: nothing", vname);
    }

    /* Free the client cleanly (its own session_ctx has no callbacks anyway),
     * then the server uncleanly. */
    (void)SSL_shutdown(p->c);
    h_counts(&before);
    ev("SSL_free(server) without shutdown");
    SSL_free(p->s);
    p->s = NULL;
    h_counts(&after);
    CHECK(h_cfg[H_A].n_remove >= 1, "%s: remove[A] fired", vname);
    CHECK(strcmp(s17_first_remove_ctx, "sctx1") == 0, "%s: first remove[A] got ctx == sctx1",
          vname);
    if (!free_ctxs_first) {
        CHECK_EQ(h_cfg[H_A].n_remove, 1, "%s: remove[A] x1", vname);
        CHECK_EQ(h_cfg[H_A].last_remove_serial, cur, "%s: removed the server's session", vname);
        ev("number(sctx1)=%ld", h_sess_number(sctx1));
        CHECK_EQ(h_sess_number(sctx1), nt - 1, "%s: removed from sctx1's cache", vname);
        CHECK_EQ(after.ctx_freed - before.ctx_freed, 0, "%s: no ctx freed in SSL_free", vname);
    } else {
        /* Non-clean close of the current session, then the final flush of sctx1. */
        CHECK_EQ(h_cfg[H_A].n_remove, nt, "%s: remove[A] inside SSL_free (non-clean close + final flush)",
                 vname);
        CHECK_EQ(after.ctx_freed - before.ctx_freed, 2, "%s: sctx1+sctx2 freed inside SSL_free",
                 vname);
        CHECK_EQ(after.sess_freed - before.sess_freed, nt,
                 "%s: all server sessions freed inside SSL_free", vname);
    }
    CHECK_EQ(h_cfg[H_B].n_new + h_cfg[H_B].n_get + h_cfg[H_B].n_remove, 0,
             "%s: B never called", vname);
    SSL_free(p->c);
    p->c = NULL;
    h_pair_free(p, 0);
    h_ctx_free(cctx);
    if (!free_ctxs_first) {
        h_ctx_free(sctx2);
        h_ctx_free(sctx1);
        CHECK_EQ(h_cfg[H_A].n_remove, nt, "%s: remaining cached sessions removed at free",
                 vname);
    }
    CHECK_EQ(h_cfg[H_B].n_new + h_cfg[H_B].n_get + h_cfg[H_B].n_remove, 0,
             "%s: B never called (end)", vname);
}

int scenario_17(void)
{
    s17_run(TLS1_2_VERSION, "tls12-noticket", 0);
    s17_run(TLS1_3_VERSION, "tls13", 0);
    s17_run(TLS1_2_VERSION, "tls12-noticket", 1);
    s17_run(TLS1_3_VERSION, "tls13", 1);
    return h_result();
}
