/* Scenario 10: TLS1.3 ticket counts. SSL_CTX_set_num_tickets(sctx, n) for
 * n = 0, 1, 3: new x n on the server (tag A) and on the client in
 * SSL_SESS_CACHE_CLIENT mode (tag B, delivered during SSL_read). A resumption
 * gives x1 on each side. Post-handshake auth after a full handshake re-sends
 * n tickets (+n on each side). Every callback carries a distinct serial. */
#include "../harness.h"

#include <stdlib.h>

#define MAXS 128
static long serials[MAXS];
static int nserials;

static void record(long serial)
{
    if (nserials < MAXS)
        serials[nserials++] = serial;
}

static int srv_new(SSL *s, SSL_SESSION *sess)
{
    record(h_serial(sess));
    return h_new_A(s, sess);
}

static int cli_new(SSL *s, SSL_SESSION *sess)
{
    record(h_serial(sess));
    return h_new_B(s, sess);
}

static void ctxs(int n, SSL_CTX **sctx, SSL_CTX **cctx)
{
    *sctx = h_server_ctx("sctx", TLS1_3_VERSION, TLS1_3_VERSION);
    *cctx = h_client_ctx("cctx", TLS1_3_VERSION, TLS1_3_VERSION);
    if (!SSL_CTX_set_num_tickets(*sctx, (size_t)n))
        abort();
    SSL_CTX_sess_set_new_cb(*sctx, srv_new);
    SSL_CTX_set_session_cache_mode(*cctx, SSL_SESS_CACHE_CLIENT);
    SSL_CTX_sess_set_new_cb(*cctx, cli_new);
}

static void counts(int n)
{
    SSL_CTX *sctx, *cctx;
    SSL_SESSION *cs = NULL;
    h_pair *p;
    int ok, a0, b0;

    ev("-- num_tickets %d", n);
    ctxs(n, &sctx, &cctx);
    a0 = h_cfg[H_A].n_new;
    b0 = h_cfg[H_B].n_new;
    p = h_pair_new(cctx, sctx, NULL, NULL);
    ok = h_pair_handshake(p);
    h_pair_print(p, "full");
    CHECK(ok, "n=%d: handshake", n);
    CHECK_EQ(h_cfg[H_A].n_new - a0, n, "n=%d: server new after the handshake", n);
    CHECK_EQ(h_cfg[H_B].n_new - b0, 0, "n=%d: client new before SSL_read", n);
    ok = h_pair_server_to_client(p);
    CHECK(ok, "n=%d: client SSL_read", n);
    CHECK_EQ(h_cfg[H_B].n_new - b0, n, "n=%d: client new after SSL_read", n);
    if (n > 0)
        cs = h_client_session(p);
    h_pair_free(p, 1);

    if (cs != NULL) {
        a0 = h_cfg[H_A].n_new;
        b0 = h_cfg[H_B].n_new;
        p = h_connect(cctx, sctx, NULL, cs, "resume", &ok);
        CHECK(ok, "n=%d: resumption handshake", n);
        CHECK(SSL_session_reused(p->s) == 1, "n=%d: resumed", n);
        CHECK_EQ(h_cfg[H_A].n_new - a0, 1, "n=%d: server new after resumption", n);
        CHECK_EQ(h_cfg[H_B].n_new - b0, 1, "n=%d: client new after resumption", n);
        h_pair_free(p, 1);
        h_sess_free(cs);
    }
    h_ctx_free(sctx);
    h_ctx_free(cctx);
}

static void pha(int n)
{
    SSL_CTX *sctx, *cctx;
    h_pair *p;
    int ok, a0, b0;

    ev("-- post-handshake auth, num_tickets %d", n);
    ctxs(n, &sctx, &cctx);
    SSL_CTX_set_post_handshake_auth(cctx, 1);
    p = h_connect(cctx, sctx, NULL, NULL, "full", &ok);
    CHECK(ok, "pha n=%d: handshake", n);
    a0 = h_cfg[H_A].n_new;
    b0 = h_cfg[H_B].n_new;
    SSL_set_verify(p->s, SSL_VERIFY_PEER, NULL);
    ok = SSL_verify_client_post_handshake(p->s);
    CHECK(ok == 1, "pha n=%d: SSL_verify_client_post_handshake", n);
    ok = SSL_do_handshake(p->s);
    CHECK(ok == 1, "pha n=%d: server sends CertificateRequest", n);
    ok = h_pair_server_to_client(p);   /* client answers the request */
    CHECK(ok, "pha n=%d: client read", n);
    ok = h_pair_client_to_server(p);   /* server processes it, sends tickets */
    CHECK(ok, "pha n=%d: server read", n);
    CHECK_EQ(h_cfg[H_A].n_new - a0, n, "pha n=%d: server new after post-handshake auth", n);
    ok = h_pair_server_to_client(p);   /* client processes the tickets */
    CHECK(ok, "pha n=%d: client read 2", n);
    CHECK_EQ(h_cfg[H_B].n_new - b0, n, "pha n=%d: client new after post-handshake auth", n);
    h_pair_free(p, 1);
    h_ctx_free(sctx);
    h_ctx_free(cctx);
}

int scenario_10(void)
{
    int i, j, dup = 0;
    counts(0);
    counts(1);
    counts(3);
    pha(1);
    pha(3);
    for (i = 0; i < nserials; i++)
        for (j = i + 1; j < nserials; j++)
            if (serials[i] == serials[j])
                dup++;
    ev("new callbacks: %d, duplicate serials: %d", nserials, dup);
    CHECK_EQ(dup, 0, "every new callback got a distinct session");
    CHECK_EQ(nserials, 2 * (0 + 1 + 3) + 2 * 2 + 2 * (1 + 1) + 2 * (3 + 3), "total new callbacks");
    return h_result();
}
