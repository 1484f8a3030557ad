/* Scenario 18: SSL_dup after SSL_set_SSL_CTX (SSL_dup in ssl/ssl_lib.c;
 * docs/openssl-behaviour.md, "The new-session callback").
 *
 * s = SSL_new(sctx1) in accept state, SSL_set_SSL_CTX(s, sctx2), then
 * d = SSL_dup(s) while s is quiescent (a real copy).  SSL_dup builds the
 * copy with SSL_new(SSL_get_SSL_CTX(s)), so d's session_ctx is sctx2: a
 * handshake on d fires sctx2's callbacks (B), a handshake on s fires
 * sctx1's (A); both see SSL_get_SSL_CTX == sctx2.  Detects per-SSL records
 * wrongly inherited through the SSL ex_data dup.  A third handshake on a dup
 * of an unswitched SSL (session_ctx sctx1) fires A.
 * TLS1.2 with SSL_OP_NO_TICKET (new x1) and TLS1.3 (new x2; remove_cb set
 * on both ctxs, so tickets are cached in the session_ctx). */
#include "../harness.h"

static SSL_CTX *s18_new_sslctx;

static int s18_new_A(SSL *s, SSL_SESSION *sess)
{
    s18_new_sslctx = SSL_get_SSL_CTX(s);
    return h_new_A(s, sess);
}

static int s18_new_B(SSL *s, SSL_SESSION *sess)
{
    s18_new_sslctx = SSL_get_SSL_CTX(s);
    return h_new_B(s, sess);
}

/* Replace the pair's server SSL (fresh, never used) by srv, moving its BIO.
 * SSL_dup must not see the BIO pair (BIO_dup_state on a pair is unusable),
 * so the SSLs under test are created without BIOs and get them here. */
static void s18_swap_server(h_pair *p, SSL *srv)
{
    BIO *r = SSL_get_rbio(p->s);
    BIO *w = SSL_get_wbio(p->s);
    BIO_up_ref(r);
    if (w != r)
        BIO_up_ref(w);
    SSL_set_bio(srv, r, w);
    SSL_free(p->s);
    p->s = srv;
}

static void s18_handshake(SSL_CTX *cctx, SSL_CTX *placeholder, SSL *srv, const char *label)
{
    h_pair *p = h_pair_new(cctx, placeholder, NULL, NULL);
    s18_swap_server(p, srv);
    if (h_pair_handshake(p))
        (void)h_pair_server_to_client(p);
    h_pair_print(p, label);
    CHECK(p->c_ok && p->s_ok, "%s: handshake ok", label);
    h_pair_free(p, 1);
}

static void s18_run(int version, const char *vname)
{
    SSL_CTX *sctx1 = h_server_ctx("sctx1", version, version);
    SSL_CTX *sctx2 = h_server_ctx("sctx2", version, version);
    SSL_CTX *cctx = h_client_ctx("cctx", version, version);
    int nt = version == TLS1_2_VERSION ? 1 : 2;
    SSL *s, *d, *u, *du;
    SSL_CTX *r;
    char label[64];

    ev("--- %s: A on sctx1, B on sctx2, SSL_dup after SSL_set_SSL_CTX", vname);
    h_cfg_reset();
    if (version == TLS1_2_VERSION) {
        SSL_CTX_set_options(sctx1, SSL_OP_NO_TICKET);
        SSL_CTX_set_options(sctx2, SSL_OP_NO_TICKET);
    }
    h_set_all(sctx1, H_A);
    SSL_CTX_sess_set_new_cb(sctx1, s18_new_A);
    h_set_all(sctx2, H_B);
    SSL_CTX_sess_set_new_cb(sctx2, s18_new_B);

    s = SSL_new(sctx1);
    SSL_set_accept_state(s);
    r = SSL_set_SSL_CTX(s, sctx2);
    ev("s: SSL_set_SSL_CTX(sctx2) returned %s, ssl_ctx=%s", h_ctx_name(r), h_ssl_ctx_name(s));
    d = SSL_dup(s);
    CHECK(d != NULL && d != s, "%s: SSL_dup made a real copy", vname);
    if (d == NULL || d == s) {
        SSL_free(d);
        SSL_free(s);
        h_ctx_free(cctx);
        h_ctx_free(sctx2);
        h_ctx_free(sctx1);
        return;
    }
    ev("d: ssl_ctx=%s server=%d", h_ssl_ctx_name(d), SSL_is_server(d));
    CHECK(SSL_get_SSL_CTX(d) == sctx2, "%s: dup's SSL_get_SSL_CTX == sctx2", vname);

    /* Handshake on the dup: session_ctx sctx2 -> B. */
    s18_new_sslctx = NULL;
    snprintf(label, sizeof(label), "%s-dup", vname);
    s18_handshake(cctx, sctx1, d, label);
    CHECK_EQ(h_cfg[H_B].n_new, nt, "%s: dup: new[B] (session_ctx = sctx2)", vname);
    CHECK_EQ(h_cfg[H_A].n_new, 0, "%s: dup: new[A] x0", vname);
    CHECK(s18_new_sslctx == sctx2, "%s: dup: new saw SSL_get_SSL_CTX == sctx2", vname);
    ev("number(sctx1)=%ld number(sctx2)=%ld", h_sess_number(sctx1), h_sess_number(sctx2));
    CHECK_EQ(h_sess_number(sctx2), nt, "%s: dup: cached in sctx2", vname);
    CHECK_EQ(h_sess_number(sctx1), 0, "%s: dup: nothing in sctx1", vname);

    /* Handshake on the original: session_ctx sctx1 -> A. */
    s18_new_sslctx = NULL;
    snprintf(label, sizeof(label), "%s-orig", vname);
    s18_handshake(cctx, sctx1, s, label);
    CHECK_EQ(h_cfg[H_A].n_new, nt, "%s: orig: new[A] (session_ctx = sctx1)", vname);
    CHECK_EQ(h_cfg[H_B].n_new, nt, "%s: orig: new[B] unchanged", vname);
    CHECK(s18_new_sslctx == sctx2, "%s: orig: new saw SSL_get_SSL_CTX == sctx2", vname);
    ev("number(sctx1)=%ld number(sctx2)=%ld", h_sess_number(sctx1), h_sess_number(sctx2));
    CHECK_EQ(h_sess_number(sctx1), nt, "%s: orig: cached in sctx1", vname);

    /* Dup of an unswitched SSL: session_ctx sctx1 -> A. */
    u = SSL_new(sctx1);
    SSL_set_accept_state(u);
    du = SSL_dup(u);
    SSL_free(u);
    CHECK(du != NULL, "%s: SSL_dup(unswitched) ok", vname);
    if (du != NULL) {
        ev("du: ssl_ctx=%s", h_ssl_ctx_name(du));
        s18_new_sslctx = NULL;
        snprintf(label, sizeof(label), "%s-dup-unswitched", vname);
        s18_handshake(cctx, sctx2, du, label);
        CHECK_EQ(h_cfg[H_A].n_new, 2 * nt, "%s: unswitched dup: new[A]", vname);
        CHECK_EQ(h_cfg[H_B].n_new, nt, "%s: unswitched dup: new[B] unchanged", vname);
        CHECK(s18_new_sslctx == sctx1, "%s: unswitched dup: new saw sctx1", vname);
    }

    CHECK_EQ(h_cfg[H_A].n_remove + h_cfg[H_B].n_remove, 0, "%s: no remove before ctx free",
             vname);
    h_ctx_free(cctx);
    h_ctx_free(sctx2);
    CHECK_EQ(h_cfg[H_B].n_remove, nt, "%s: SSL_CTX_free(sctx2): remove[B]", vname);
    h_ctx_free(sctx1);
    CHECK_EQ(h_cfg[H_A].n_remove, 2 * nt, "%s: SSL_CTX_free(sctx1): remove[A]", vname);
}

int scenario_18(void)
{
    s18_run(TLS1_2_VERSION, "tls12-noticket");
    s18_run(TLS1_3_VERSION, "tls13");
    return h_result();
}
