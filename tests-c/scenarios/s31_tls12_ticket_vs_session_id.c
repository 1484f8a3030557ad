/* Scenario 31: TLS1.2 client offering a valid ticket plus a session id
 * (ssl_get_prev_session in ssl/ssl_sess.c; docs/openssl-behaviour.md, "The
 * get callback").
 *
 * sctx: TLS1.2 server with tickets (default), callbacks A. The client's
 * ticket-based session carries a 32-byte id (SHA256 of the ticket), so a
 * resumption offers both.
 *  1. full handshake: new x0 (empty server session id), number 0.
 *  2. resumption, tickets on: the ticket decrypts -> get x0, resumed.
 *  3. same client session, server SSL sets SSL_OP_NO_TICKET: the ticket is
 *     ignored, lookup by session id -> internal miss -> get x1 (len 32,
 *     copy_in 1, returns NULL) -> full handshake, new x1, number 1.
 *  4. ticket that fails to decrypt (sctx2 has other ticket keys): get x0,
 *     full handshake, new x0, number(sctx2) 0. */
#include "../harness.h"

#include <string.h>

struct s31_snap { int n_new, n_get, n_remove; };

static void s31_snap(struct s31_snap *s)
{
    s->n_new = h_cfg[H_A].n_new + h_cfg[H_B].n_new;
    s->n_get = h_cfg[H_A].n_get + h_cfg[H_B].n_get;
    s->n_remove = h_cfg[H_A].n_remove + h_cfg[H_B].n_remove;
}

static h_pair *s31_resume(SSL_CTX *cctx, SSL_CTX *sctx, SSL_SESSION *sess, int no_ticket,
                          const char *label, int *ok)
{
    h_pair *p = h_pair_new(cctx, sctx, NULL, sess);
    if (no_ticket)
        SSL_set_options(p->s, SSL_OP_NO_TICKET);
    *ok = h_pair_handshake(p);
    h_pair_print(p, label);
    return p;
}

int scenario_31(void)
{
    SSL_CTX *sctx = h_server_ctx("sctx", TLS1_2_VERSION, TLS1_2_VERSION);
    SSL_CTX *sctx2 = h_server_ctx("sctx2", TLS1_2_VERSION, TLS1_2_VERSION);
    SSL_CTX *cctx = h_client_ctx("cctx", TLS1_2_VERSION, TLS1_2_VERSION);
    struct s31_snap a, b;
    SSL_SESSION *c1;
    h_pair *p;
    unsigned int idlen = 0;
    int ok;

    h_set_all(sctx, H_A);
    h_set_all(sctx2, H_B);

    ev("--- 1: full handshake, server tickets on");
    p = h_connect(cctx, sctx, NULL, NULL, "full", &ok);
    CHECK(ok, "1: handshake ok");
    CHECK_EQ(h_cfg[H_A].n_new, 0, "1: new x0 (TLS1.2 ticket: empty server session id)");
    CHECK_EQ(h_sess_number(sctx), 0, "1: number(sctx)");
    c1 = h_client_session(p);
    (void)SSL_SESSION_get_id(c1, &idlen);
    CHECK(SSL_SESSION_has_ticket(c1), "1: client session has a ticket");
    CHECK_EQ(idlen, 32, "1: client session id length (hash of the ticket)");
    h_pair_free(p, 1);

    ev("--- 2: resume with ticket + session id, server tickets on");
    s31_snap(&a);
    p = s31_resume(cctx, sctx, c1, 0, "resume-ticket", &ok);
    s31_snap(&b);
    CHECK(ok, "2: handshake ok");
    CHECK_EQ(SSL_session_reused(p->s), 1, "2: resumed via ticket");
    CHECK_EQ(b.n_get - a.n_get, 0, "2: get x0");
    CHECK_EQ(b.n_new - a.n_new, 0, "2: new x0");
    CHECK_EQ(b.n_remove - a.n_remove, 0, "2: remove x0");
    h_pair_free(p, 1);

    ev("--- 3: same offer, server SSL_OP_NO_TICKET");
    s31_snap(&a);
    p = s31_resume(cctx, sctx, c1, 1, "resume-noticket", &ok);
    s31_snap(&b);
    CHECK(ok, "3: handshake ok");
    CHECK_EQ(SSL_session_reused(p->s), 0, "3: not resumed");
    CHECK_EQ(b.n_get - a.n_get, 1, "3: get x1 (lookup by session id)");
    CHECK_EQ(h_cfg[H_A].last_get_serial, 0, "3: get returned NULL");
    CHECK_EQ(b.n_new - a.n_new, 1, "3: new x1 (full handshake with a session id)");
    CHECK_EQ(b.n_remove - a.n_remove, 0, "3: remove x0");
    CHECK_EQ(h_sess_number(sctx), 1, "3: number(sctx)");
    h_pair_free(p, 1);

    ev("--- 4: ticket that fails to decrypt (sctx2, other ticket keys)");
    s31_snap(&a);
    p = s31_resume(cctx, sctx2, c1, 0, "resume-nodecrypt", &ok);
    s31_snap(&b);
    CHECK(ok, "4: handshake ok");
    CHECK_EQ(SSL_session_reused(p->s), 0, "4: not resumed");
    CHECK_EQ(b.n_get - a.n_get, 0, "4: get x0 (ticket present but undecryptable)");
    CHECK_EQ(b.n_new - a.n_new, 0, "4: new x0 (a fresh ticket is issued)");
    CHECK_EQ(b.n_remove - a.n_remove, 0, "4: remove x0");
    CHECK_EQ(h_sess_number(sctx2), 0, "4: number(sctx2)");
    h_pair_free(p, 1);

    h_sess_free(c1);
    h_ctx_free(cctx);
    h_ctx_free(sctx2);
    h_ctx_free(sctx);
    CHECK_EQ(h_cfg[H_A].n_remove, 1, "SSL_CTX_free(sctx): remove[A] x1 (the NO_TICKET session)");
    CHECK_EQ(h_cfg[H_B].n_remove, 0, "SSL_CTX_free(sctx2): remove[B] x0");
    return h_result();
}
