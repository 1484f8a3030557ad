/* Scenario 35: fatal alerts, the "fatal alert sent" and "fatal alert
 * received" removes (docs/openssl-behaviour.md, "The remove callback").
 *
 * sctx callbacks A, cctx callbacks B.
 *  a. TLS1.2 NO_TICKET server requiring a client certificate, client sends
 *     none: the server's fatal alert removes its current session, which was
 *     never cached: remove[A] x1 (ctx sctx, idlen 32), new x0, number 0.
 *     The client receives the fatal alert: remove[B] x1 on cctx for its
 *     session (alert received; no cache mode check).
 *  b. Same with TLS1.2 tickets on: the server session id is empty (ticket
 *     expected), so the server's alert fires nothing: remove[A] x0.
 *     The client's session id is empty too (ServerHello echoes the empty
 *     server id), so the client's received-alert remove fires nothing:
 *     remove[B] x0.
 *  c. TLS1.3, client certificate required: the client finishes first and
 *     sees the alert on SSL_read. Before the first NewSessionTicket both
 *     sessions have empty ids (a TLS1.3 server generates the id only when it
 *     builds a ticket), so remove x0 on both sides.
 *  d. A client resuming (offering a session obtained earlier) receives a
 *     fatal alert (server ClientHello callback fails): remove[B] x1 on cctx
 *     with the application's session object, which is then not resumable.
 *     sctx_fail's callbacks C never run (no server session yet).
 *  e. TLS1.3 post-handshake auth failure after the tickets: the server's
 *     current session is the last ticket's session (id 32, cached because
 *     remove_cb is set): its fatal alert fires remove[A] x1 for it and it
 *     leaves the cache; the client (its session is the last ticket's, id 32)
 *     receives the alert: remove[B] x1. */
#include "../harness.h"

#include <string.h>

static unsigned int s35_idctr;

static int s35_gen_id(SSL *ssl, unsigned char *id, unsigned int *len)
{
    unsigned int n = __atomic_add_fetch(&s35_idctr, 1, __ATOMIC_SEQ_CST);
    (void)ssl;
    memset(id, 0, *len);
    id[0] = (unsigned char)n;
    id[1] = (unsigned char)(n >> 8);
    id[2] = 0x35;
    return 1;
}

static int s35_ch_fail(SSL *s, int *al, void *arg)
{
    (void)s; (void)arg;
    ev("client_hello_cb: failing the handshake");
    *al = SSL_AD_HANDSHAKE_FAILURE;
    return SSL_CLIENT_HELLO_ERROR;
}

struct s35_snap { int na, ra, rb; };

static void s35_snap(struct s35_snap *s)
{
    s->na = h_cfg[H_A].n_new;
    s->ra = h_cfg[H_A].n_remove;
    s->rb = h_cfg[H_B].n_remove;
}

static void s35_cert_required(const char *label, int version, int no_ticket, int want_ra, int want_rb)
{
    SSL_CTX *sctx = h_server_ctx("sctx", version, version);
    SSL_CTX *cctx = h_client_ctx("cctx", version, version);
    struct s35_snap a;
    h_pair *p;
    long srv, cli;
    unsigned char b;
    int ok, r;

    ev("--- %s", label);
    h_cfg_reset();
    if (no_ticket)
        SSL_CTX_set_options(sctx, SSL_OP_NO_TICKET);
    SSL_CTX_set_verify(sctx, SSL_VERIFY_PEER | SSL_VERIFY_FAIL_IF_NO_PEER_CERT, NULL);
    SSL_CTX_set_generate_session_id(sctx, s35_gen_id);
    SSL_CTX_set_info_callback(sctx, h_info_cb);
    SSL_CTX_set_info_callback(cctx, h_info_cb);
    h_set_all(sctx, H_A);
    h_set_all(cctx, H_B);

    s35_snap(&a);
    p = h_pair_new(cctx, sctx, NULL, NULL);
    ok = h_pair_handshake(p);
    h_pair_print(p, label);
    if (p->c_ok) {
        /* TLS1.3: the client completed before the server's verdict */
        r = SSL_read(p->c, &b, 1);
        ev("%s: client SSL_read=%d error=%d", label, r, SSL_get_error(p->c, r));
        ERR_clear_error();
    }
    srv = h_serial(SSL_get_session(p->s));
    cli = h_serial(SSL_get_session(p->c));
    CHECK(!ok && p->s_fail, "%s: server handshake fails", label);
    CHECK_EQ(h_cfg[H_A].n_new - a.na, 0, "%s: new x0", label);
    CHECK_EQ(h_cfg[H_A].n_remove - a.ra, want_ra, "%s: server fatal alert: remove[A]", label);
    if (want_ra)
        CHECK(h_cfg[H_A].last_remove_serial == srv && h_cfg[H_A].last_remove_ctx == sctx,
              "%s: remove[A] got the server's (never cached) session, ctx sctx", label);
    CHECK_EQ(h_sess_number(sctx), 0, "%s: number(sctx)", label);
    CHECK_EQ(h_cfg[H_B].n_remove - a.rb, want_rb, "%s: client received the alert: remove[B]", label);
    if (want_rb)
        CHECK(h_cfg[H_B].last_remove_serial == cli && h_cfg[H_B].last_remove_ctx == cctx,
              "%s: remove[B] got the client's session, ctx cctx", label);
    h_pair_free(p, 0);
    CHECK_EQ(h_cfg[H_A].n_remove - a.ra, want_ra, "%s: nothing more at SSL_free (server)", label);
    CHECK_EQ(h_cfg[H_B].n_remove - a.rb, want_rb, "%s: nothing more at SSL_free (client)", label);
    h_ctx_free(cctx);
    h_ctx_free(sctx);
}

static void s35_client_resuming(void)
{
    SSL_CTX *sctx = h_server_ctx("sctx", TLS1_2_VERSION, TLS1_2_VERSION);
    SSL_CTX *sfail = h_server_ctx("sctx_fail", TLS1_2_VERSION, TLS1_2_VERSION);
    SSL_CTX *cctx = h_client_ctx("cctx", TLS1_2_VERSION, TLS1_2_VERSION);
    struct s35_snap a;
    SSL_SESSION *x;
    h_pair *p;
    int ok;
    long xs;

    ev("--- d: client resuming receives a fatal alert");
    h_cfg_reset();
    SSL_CTX_set_options(sctx, SSL_OP_NO_TICKET);
    SSL_CTX_set_generate_session_id(sctx, s35_gen_id);
    SSL_CTX_set_client_hello_cb(sfail, s35_ch_fail, NULL);
    SSL_CTX_set_info_callback(cctx, h_info_cb);
    h_set_all(sctx, H_A);
    h_set_all(sfail, H_C);
    h_set_all(cctx, H_B);

    p = h_connect(cctx, sctx, NULL, NULL, "d-full", &ok);
    CHECK(ok, "d: full handshake ok");
    x = h_client_session(p);
    xs = h_serial(x);
    h_pair_free(p, 1);
    CHECK_EQ(SSL_SESSION_is_resumable(x), 1, "d: X resumable before");

    s35_snap(&a);
    p = h_pair_new(cctx, sfail, NULL, x);
    ok = h_pair_handshake(p);
    h_pair_print(p, "d-resume-alert");
    CHECK(!ok && p->c_fail, "d: client handshake fails");
    CHECK_EQ(h_cfg[H_B].n_remove - a.rb, 1, "d: remove[B] x1 on cctx");
    CHECK(h_cfg[H_B].last_remove_serial == xs, "d: remove[B] got the application's session X");
    CHECK(h_cfg[H_B].last_remove_ctx == cctx, "d: remove[B] ctx == cctx");
    CHECK_EQ(SSL_SESSION_is_resumable(x), 0, "d: X not resumable after");
    CHECK_EQ(h_cfg[H_C].n_new + h_cfg[H_C].n_get + h_cfg[H_C].n_remove, 0, "d: sctx_fail callbacks x0");
    h_pair_free(p, 0);
    CHECK_EQ(h_cfg[H_B].n_remove - a.rb, 1, "d: nothing more at SSL_free");

    h_sess_free(x);
    h_ctx_free(cctx);
    h_ctx_free(sfail);
    h_ctx_free(sctx);
}

static void s35_tls13_pha(void)
{
    SSL_CTX *sctx = h_server_ctx("sctx", TLS1_3_VERSION, TLS1_3_VERSION);
    SSL_CTX *cctx = h_client_ctx("cctx", TLS1_3_VERSION, TLS1_3_VERSION);
    struct s35_snap a;
    h_pair *p;
    long srv, cli, n0;
    unsigned char b;
    int ok, r;

    ev("--- e: tls13 post-handshake auth failure after the tickets");
    h_cfg_reset();
    SSL_CTX_set_verify(sctx, SSL_VERIFY_PEER | SSL_VERIFY_FAIL_IF_NO_PEER_CERT
                             | SSL_VERIFY_POST_HANDSHAKE, NULL);
    SSL_CTX_set_generate_session_id(sctx, s35_gen_id);
    SSL_CTX_set_info_callback(sctx, h_info_cb);
    SSL_CTX_set_info_callback(cctx, h_info_cb);
    h_set_all(sctx, H_A);
    h_set_all(cctx, H_B);

    p = h_pair_new(cctx, sctx, NULL, NULL);
    SSL_set_post_handshake_auth(p->c, 1);
    ok = h_pair_handshake(p);
    h_pair_print(p, "e-handshake");
    CHECK(ok, "e: handshake ok");
    CHECK(h_pair_server_to_client(p), "e: tickets delivered");
    CHECK_EQ(h_cfg[H_A].n_new, 2, "e: server new[A] x2");
    n0 = h_sess_number(sctx);
    CHECK_EQ(n0, 2, "e: number(sctx) (tickets cached: remove_cb set)");
    srv = h_serial(SSL_get_session(p->s));
    cli = h_serial(SSL_get_session(p->c));
    CHECK(srv == h_cfg[H_A].last_new_serial, "e: server's current session is the last ticket's");
    s35_snap(&a);
    r = SSL_verify_client_post_handshake(p->s);
    ev("e: SSL_verify_client_post_handshake=%d", r);
    r = h_pair_server_to_client(p);
    ev("e: server->client (CertificateRequest) ok=%d", r);
    r = h_pair_client_to_server(p);
    ev("e: client->server (empty Certificate) ok=%d", r);
    CHECK(!r, "e: the server rejects the missing certificate");
    r = SSL_read(p->c, &b, 1);
    ev("e: client SSL_read=%d error=%d", r, SSL_get_error(p->c, r));
    ERR_clear_error();
    CHECK_EQ(h_cfg[H_A].n_remove - a.ra, 1, "e: server fatal alert: remove[A] x1");
    CHECK(h_cfg[H_A].last_remove_serial == srv && h_cfg[H_A].last_remove_ctx == sctx,
          "e: remove[A] got the server's current session, ctx sctx");
    CHECK_EQ(h_sess_number(sctx), n0 - 1, "e: it left the cache");
    CHECK_EQ(h_cfg[H_B].n_remove - a.rb, 1, "e: client received the alert: remove[B] x1");
    CHECK(h_cfg[H_B].last_remove_serial == cli && h_cfg[H_B].last_remove_ctx == cctx,
          "e: remove[B] got the client's session, ctx cctx");
    h_pair_free(p, 0);
    CHECK_EQ(h_cfg[H_A].n_remove - a.ra, 1, "e: nothing more at SSL_free (server)");
    CHECK_EQ(h_cfg[H_B].n_remove - a.rb, 1, "e: nothing more at SSL_free (client)");
    h_ctx_free(cctx);
    h_ctx_free(sctx);
}

int scenario_35(void)
{
    s35_cert_required("a: tls12 no-ticket, client cert missing", TLS1_2_VERSION, 1, 1, 1);
    s35_cert_required("b: tls12 tickets, client cert missing", TLS1_2_VERSION, 0, 0, 0);
    s35_cert_required("c: tls13, client cert missing", TLS1_3_VERSION, 0, 0, 0);
    s35_client_resuming();
    s35_tls13_pha();
    return h_result();
}
