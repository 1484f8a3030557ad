/* Scenario 34: non-clean close (ssl_clear_bad_session in ssl/ssl_sess.c;
 * docs/openssl-behaviour.md, "The remove callback").
 *
 * TLS1.2 with SSL_OP_NO_TICKET so the server session is cached (id 32).
 * sctx callbacks A, cctx callbacks B (default client mode SERVER: a non-clean
 * close does not look at the cache mode, so the client side reports too).
 *  a. SSL_free after a completed handshake, no SSL_shutdown: remove x1 on
 *     each side (server: session_ctx sctx, the cached session -> leaves the
 *     cache; client: cctx, its session).
 *  b. SSL_shutdown on both first: x0.
 *  c. quiet shutdown (SSL_set_quiet_shutdown + SSL_shutdown): x0.
 *  d. SSL_set_shutdown(SSL_SENT_SHUTDOWN): x0.
 *  e. SSL_free in the middle of the handshake (server has a session with an
 *     id after the ClientHello, but is in init): x0.
 *  f. SSL_clear on a connected SSL: x1 (then SSL_free: nothing more).
 *  g. SSL_set_session(NULL) on a connected client: x1 for its previous
 *     session. */
#include "../harness.h"

#include <string.h>

static unsigned int s34_idctr;

static int s34_gen_id(SSL *ssl, unsigned char *id, unsigned int *len)
{
    unsigned int n = __atomic_add_fetch(&s34_idctr, 1, __ATOMIC_SEQ_CST);
    (void)ssl;
    memset(id, 0, *len);
    id[0] = (unsigned char)n;
    id[1] = (unsigned char)(n >> 8);
    id[2] = 0x34;
    return 1;
}

static SSL_CTX *g_sctx, *g_cctx;

struct s34_snap { int ra, rb; long srv_serial, cli_serial; };

static h_pair *s34_connect(const char *label)
{
    int ok;
    h_pair *p = h_connect(g_cctx, g_sctx, NULL, NULL, label, &ok);
    CHECK(ok, "%s: handshake ok", label);
    return p;
}

static void s34_before(struct s34_snap *s, h_pair *p)
{
    s->ra = h_cfg[H_A].n_remove;
    s->rb = h_cfg[H_B].n_remove;
    s->srv_serial = p != NULL ? h_serial(SSL_get_session(p->s)) : 0;
    s->cli_serial = p != NULL ? h_serial(SSL_get_session(p->c)) : 0;
}

static void s34_expect(const struct s34_snap *s, int want_a, int want_b, const char *label)
{
    CHECK_EQ(h_cfg[H_A].n_remove - s->ra, want_a, "%s: server remove[A]", label);
    CHECK_EQ(h_cfg[H_B].n_remove - s->rb, want_b, "%s: client remove[B]", label);
    if (want_a > 0) {
        CHECK(h_cfg[H_A].last_remove_serial == s->srv_serial, "%s: remove[A] got the server's session", label);
        CHECK(h_cfg[H_A].last_remove_ctx == g_sctx, "%s: remove[A] ctx == sctx", label);
    }
    if (want_b > 0) {
        CHECK(h_cfg[H_B].last_remove_serial == s->cli_serial, "%s: remove[B] got the client's session", label);
        CHECK(h_cfg[H_B].last_remove_ctx == g_cctx, "%s: remove[B] ctx == cctx", label);
    }
}

int scenario_34(void)
{
    struct s34_snap s;
    h_pair *p;
    int i, r;
    long n0;

    g_sctx = h_server_ctx("sctx", TLS1_2_VERSION, TLS1_2_VERSION);
    g_cctx = h_client_ctx("cctx", TLS1_2_VERSION, TLS1_2_VERSION);
    SSL_CTX_set_options(g_sctx, SSL_OP_NO_TICKET);
    SSL_CTX_set_generate_session_id(g_sctx, s34_gen_id);
    h_set_all(g_sctx, H_A);
    h_set_all(g_cctx, H_B);

    ev("--- a: SSL_free without SSL_shutdown");
    p = s34_connect("a");
    n0 = h_sess_number(g_sctx);
    s34_before(&s, p);
    h_pair_free(p, 0);
    s34_expect(&s, 1, 1, "a");
    CHECK_EQ(h_sess_number(g_sctx), n0 - 1, "a: the server session left the cache");

    ev("--- b: SSL_shutdown on both, then SSL_free");
    p = s34_connect("b");
    s34_before(&s, p);
    h_pair_free(p, 1);
    s34_expect(&s, 0, 0, "b");

    ev("--- c: quiet shutdown");
    p = s34_connect("c");
    s34_before(&s, p);
    SSL_set_quiet_shutdown(p->c, 1);
    SSL_set_quiet_shutdown(p->s, 1);
    r = SSL_shutdown(p->c);
    ev("c: SSL_shutdown(client)=%d", r);
    r = SSL_shutdown(p->s);
    ev("c: SSL_shutdown(server)=%d", r);
    h_pair_free(p, 0);
    s34_expect(&s, 0, 0, "c");

    ev("--- d: SSL_set_shutdown(SSL_SENT_SHUTDOWN)");
    p = s34_connect("d");
    s34_before(&s, p);
    SSL_set_shutdown(p->c, SSL_SENT_SHUTDOWN);
    SSL_set_shutdown(p->s, SSL_SENT_SHUTDOWN);
    h_pair_free(p, 0);
    s34_expect(&s, 0, 0, "d");

    ev("--- e: SSL_free in the middle of the handshake");
    p = h_pair_new(g_cctx, g_sctx, NULL, NULL);
    for (i = 0; i < 1; i++) {
        (void)SSL_do_handshake(p->c);   /* ClientHello / waits */
        (void)SSL_do_handshake(p->s);   /* ServerHello..Done / waits */
    }
    ERR_clear_error();
    {
        unsigned int l = 0;
        SSL_SESSION *ss = SSL_get_session(p->s);
        if (ss != NULL)
            (void)SSL_SESSION_get_id(ss, &l);
        ev("e: server in_init=%d has_session=%d idlen=%u", SSL_in_init(p->s), ss != NULL, l);
        CHECK(SSL_in_init(p->s) && SSL_in_init(p->c), "e: both sides still in init");
    }
    s34_before(&s, p);
    h_pair_free(p, 0);
    s34_expect(&s, 0, 0, "e");

    ev("--- f: SSL_clear on connected SSLs");
    p = s34_connect("f");
    s34_before(&s, p);
    r = SSL_clear(p->s);
    ev("f: SSL_clear(server)=%d", r);
    CHECK_EQ(h_cfg[H_A].n_remove - s.ra, 1, "f: SSL_clear(server): remove[A] x1");
    r = SSL_clear(p->c);
    ev("f: SSL_clear(client)=%d", r);
    s34_expect(&s, 1, 1, "f");
    s34_before(&s, NULL);
    h_pair_free(p, 0);
    s34_expect(&s, 0, 0, "f: SSL_free after SSL_clear");

    ev("--- g: SSL_set_session(NULL) on a connected client");
    p = s34_connect("g");
    s34_before(&s, p);
    r = SSL_set_session(p->c, NULL);
    ev("g: SSL_set_session(client, NULL)=%d", r);
    s34_expect(&s, 0, 1, "g");
    s34_before(&s, p);
    h_pair_free(p, 1);
    s34_expect(&s, 0, 0, "g: clean free");

    h_ctx_free(g_cctx);
    h_ctx_free(g_sctx);
    return h_result();
}
