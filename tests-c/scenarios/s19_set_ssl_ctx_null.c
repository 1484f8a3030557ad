/* Scenario 19: SSL_set_SSL_CTX(s, NULL) (docs/openssl-behaviour.md, "The
 * new-session callback" and "The get callback").
 *
 * SSL_set_SSL_CTX(s, NULL) means "use s->session_ctx": SSL_get_SSL_CTX goes
 * back to the original ctx.  Callback dispatch (always session_ctx) does not
 * change.  A on sctx1, B on sctx2, TLS1.2 NO_TICKET unless noted.
 *  a) before the handshake: NULL on an unswitched SSL (no-op, returns sctx1),
 *     then sctx2, then NULL -> sctx1; full handshake: new[A] x1 with
 *     SSL_get_SSL_CTX == sctx1.  Same with TLS1.3 (new[A] x2).
 *  b) inside the ClientHello callback: sctx2 then NULL, on a full handshake
 *     (new[A] sees sctx1) and on a resumption through get (mode
 *     SERVER|NO_INTERNAL_LOOKUP: get[A] x1 sees sctx1, resumed).
 *  c) inside the servername callback: NULL then sctx2: new[A] sees sctx2.
 * B never fires. */
#include "../harness.h"

static SSL_CTX *s19_new_sslctx, *s19_get_sslctx;

static int s19_new_A(SSL *s, SSL_SESSION *sess)
{
    s19_new_sslctx = SSL_get_SSL_CTX(s);
    return h_new_A(s, sess);
}

static SSL_SESSION *s19_get_A(SSL *s, const unsigned char *id, int len, int *copy)
{
    s19_get_sslctx = SSL_get_SSL_CTX(s);
    return h_get_A(s, id, len, copy);
}

/* arg = sctx2: switch to sctx2, then back with NULL. */
static int s19_ch_cb(SSL *s, int *al, void *arg)
{
    SSL_CTX *r1, *r2;
    (void)al;
    r1 = SSL_set_SSL_CTX(s, (SSL_CTX *)arg);
    ev("client-hello-cb: set(sctx2) -> %s, ssl_ctx=%s", h_ctx_name(r1), h_ssl_ctx_name(s));
    r2 = SSL_set_SSL_CTX(s, NULL);
    ev("client-hello-cb: set(NULL) -> %s, ssl_ctx=%s", h_ctx_name(r2), h_ssl_ctx_name(s));
    return SSL_CLIENT_HELLO_SUCCESS;
}

/* arg = sctx2: NULL first (no-op), then switch to sctx2. */
static int s19_sni_cb(SSL *s, int *al, void *arg)
{
    SSL_CTX *r1, *r2;
    (void)al;
    r1 = SSL_set_SSL_CTX(s, NULL);
    ev("sni-cb: set(NULL) -> %s, ssl_ctx=%s", h_ctx_name(r1), h_ssl_ctx_name(s));
    r2 = SSL_set_SSL_CTX(s, (SSL_CTX *)arg);
    ev("sni-cb: set(sctx2) -> %s, ssl_ctx=%s", h_ctx_name(r2), h_ssl_ctx_name(s));
    return SSL_TLSEXT_ERR_OK;
}

struct s19_env {
    SSL_CTX *sctx1, *sctx2, *cctx;
};

static void s19_env_new(struct s19_env *e, int version)
{
    e->sctx1 = h_server_ctx("sctx1", version, version);
    e->sctx2 = h_server_ctx("sctx2", version, version);
    e->cctx = h_client_ctx("cctx", version, version);
    h_cfg_reset();
    if (version == TLS1_2_VERSION) {
        SSL_CTX_set_options(e->sctx1, SSL_OP_NO_TICKET);
        SSL_CTX_set_options(e->sctx2, SSL_OP_NO_TICKET);
    }
    h_set_all(e->sctx1, H_A);
    SSL_CTX_sess_set_new_cb(e->sctx1, s19_new_A);
    SSL_CTX_sess_set_get_cb(e->sctx1, s19_get_A);
    h_set_all(e->sctx2, H_B);
    s19_new_sslctx = s19_get_sslctx = NULL;
}

static void s19_env_free(struct s19_env *e, const char *what)
{
    h_ctx_free(e->cctx);
    h_ctx_free(e->sctx2);
    h_ctx_free(e->sctx1);
    h_free_kept(H_A);
    CHECK_EQ(h_cfg[H_B].n_new + h_cfg[H_B].n_get + h_cfg[H_B].n_remove, 0,
             "%s: B never called", what);
}

static void s19_case_a(int version, const char *what, int nt)
{
    struct s19_env e;
    SSL_CTX *r;
    h_pair *p;

    ev("--- %s: SSL_set_SSL_CTX before the handshake", what);
    s19_env_new(&e, version);
    p = h_pair_new(e.cctx, e.sctx1, NULL, NULL);
    r = SSL_set_SSL_CTX(p->s, NULL);
    ev("set(NULL) on unswitched -> %s, ssl_ctx=%s", h_ctx_name(r), h_ssl_ctx_name(p->s));
    CHECK(r == e.sctx1 && SSL_get_SSL_CTX(p->s) == e.sctx1, "%s: NULL on unswitched: sctx1",
          what);
    r = SSL_set_SSL_CTX(p->s, e.sctx2);
    ev("set(sctx2) -> %s, ssl_ctx=%s", h_ctx_name(r), h_ssl_ctx_name(p->s));
    CHECK(SSL_get_SSL_CTX(p->s) == e.sctx2, "%s: switched to sctx2", what);
    r = SSL_set_SSL_CTX(p->s, NULL);
    ev("set(NULL) -> %s, ssl_ctx=%s", h_ctx_name(r), h_ssl_ctx_name(p->s));
    CHECK(r == e.sctx1 && SSL_get_SSL_CTX(p->s) == e.sctx1, "%s: NULL resets to sctx1", what);
    if (h_pair_handshake(p))
        (void)h_pair_server_to_client(p);
    h_pair_print(p, what);
    CHECK(p->c_ok && p->s_ok, "%s: handshake ok", what);
    CHECK_EQ(h_cfg[H_A].n_new, nt, "%s: new[A]", what);
    CHECK(s19_new_sslctx == e.sctx1, "%s: new[A] saw SSL_get_SSL_CTX == sctx1", what);
    CHECK_EQ(h_sess_number(e.sctx1), nt, "%s: number(sctx1)", what);
    CHECK_EQ(h_sess_number(e.sctx2), 0, "%s: number(sctx2)", what);
    h_pair_free(p, 1);
    s19_env_free(&e, what);
    CHECK_EQ(h_cfg[H_A].n_remove, nt, "%s: remove[A] at SSL_CTX_free(sctx1)", what);
}

static void s19_case_b(void)
{
    const char *what = "b) tls12-noticket client_hello set(sctx2)+set(NULL)";
    struct s19_env e;
    SSL_SESSION *csess;
    h_pair *p;
    int ok, reused;

    ev("--- %s", what);
    s19_env_new(&e, TLS1_2_VERSION);
    SSL_CTX_set_session_cache_mode(e.sctx1,
                                   SSL_SESS_CACHE_SERVER | SSL_SESS_CACHE_NO_INTERNAL_LOOKUP);
    SSL_CTX_set_client_hello_cb(e.sctx1, s19_ch_cb, e.sctx2);
    h_cfg[H_A].new_ret = 1;
    h_cfg[H_A].get_mode = H_GET_KEPT;

    p = h_connect(e.cctx, e.sctx1, NULL, NULL, "full", &ok);
    CHECK(ok, "b: full handshake ok");
    CHECK_EQ(h_cfg[H_A].n_new, 1, "b: new[A] x1");
    CHECK(s19_new_sslctx == e.sctx1, "b: new[A] saw SSL_get_SSL_CTX == sctx1");
    CHECK(SSL_get_SSL_CTX(p->s) == e.sctx1, "b: server ends on sctx1");
    csess = h_client_session(p);
    h_pair_free(p, 1);

    p = h_connect(e.cctx, e.sctx1, NULL, csess, "resume", &ok);
    reused = SSL_session_reused(p->s);
    CHECK(ok, "b: resumption handshake ok");
    CHECK(reused, "b: resumed");
    CHECK_EQ(h_cfg[H_A].n_get, 1, "b: get[A] x1");
    CHECK(s19_get_sslctx == e.sctx1, "b: get[A] saw SSL_get_SSL_CTX == sctx1");
    CHECK_EQ(h_cfg[H_A].n_new, 1, "b: no new on TLS1.2 resumption");
    h_pair_free(p, 1);
    h_sess_free(csess);
    s19_env_free(&e, "b");
    CHECK_EQ(h_cfg[H_A].n_remove, 1, "b: remove[A] x1 at SSL_CTX_free(sctx1)");
}

static void s19_case_c(void)
{
    const char *what = "c) tls12-noticket servername set(NULL)+set(sctx2)";
    struct s19_env e;
    h_pair *p;
    int ok;

    ev("--- %s", what);
    s19_env_new(&e, TLS1_2_VERSION);
    SSL_CTX_set_tlsext_servername_callback(e.sctx1, s19_sni_cb);
    SSL_CTX_set_tlsext_servername_arg(e.sctx1, e.sctx2);
    p = h_connect(e.cctx, e.sctx1, "two.sesscb.test", NULL, "full", &ok);
    CHECK(ok, "c: handshake ok");
    CHECK_EQ(h_cfg[H_A].n_new, 1, "c: new[A] x1");
    CHECK(s19_new_sslctx == e.sctx2, "c: new[A] saw SSL_get_SSL_CTX == sctx2");
    h_pair_free(p, 1);
    s19_env_free(&e, "c");
    CHECK_EQ(h_cfg[H_A].n_remove, 1, "c: remove[A] x1 at SSL_CTX_free(sctx1)");
}

int scenario_19(void)
{
    s19_case_a(TLS1_2_VERSION, "a) tls12-noticket", 1);
    s19_case_a(TLS1_3_VERSION, "a) tls13", 2);
    s19_case_b();
    s19_case_c();
    return h_result();
}
