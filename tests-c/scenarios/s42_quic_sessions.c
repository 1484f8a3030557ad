/* Scenario 42: session callbacks over QUIC (OpenSSL 3.5+: server-side QUIC
 * with SSL_new_listener / SSL_accept_connection, client OSSL_QUIC_client_method),
 * UDP on 127.0.0.1, in one thread (no assist thread: every callback runs
 * inside the SSL_* calls below).
 *
 * Three rounds: default (stateless) tickets, SSL_OP_NO_TICKET (stateful
 * tickets, which QUIC permits on its connections), and stateful tickets with
 * NO_INTERNAL_LOOKUP. Each round: a full handshake, then a resumption with
 * the client's session from its new callback (as curl resumes QUIC), then
 * both ctxs freed.
 *
 * Expect (docs/openssl-behaviour.md, QUIC):
 *  - the client's new callback fires once per ticket (two per handshake),
 *    with the QUIC connection object and the client ctx;
 *  - the server's new callback fires once per ticket, stateless ones too (as
 *    over TCP); get only when the internal cache may not answer a stateful
 *    resumption (NO_INTERNAL_LOOKUP);
 *  - the resumption is accepted on both sides in every round;
 *  - every session is freed (h_finish).
 * Lines without server-side QUIC print a SKIP line and pass. */
#include "../harness.h"

#if OPENSSL_VERSION_NUMBER >= 0x30500000L && !defined(OPENSSL_NO_QUIC)
#define S42_QUIC 1
#include <openssl/quic.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#define S42_SPINS 4000 /* event-loop turns allowed per connection (loopback needs a few dozen) */

static const unsigned char s42_alpn[] = "\x06sesscb";

static int s42_select_alpn(SSL *s, const unsigned char **out, unsigned char *outlen,
                           const unsigned char *in, unsigned int inlen, void *arg)
{
    (void)s; (void)arg;
    if (SSL_select_next_proto((unsigned char **)out, outlen, s42_alpn, sizeof(s42_alpn) - 1,
                              in, inlen) != OPENSSL_NPN_NEGOTIATED)
        return SSL_TLSEXT_ERR_ALERT_FATAL;
    return SSL_TLSEXT_ERR_OK;
}

/* A non-blocking UDP socket bound to 127.0.0.1 (any port); *bound gets the address. */
static int s42_socket(struct sockaddr_in *bound)
{
    socklen_t len = sizeof(*bound);
    int fd = socket(AF_INET, SOCK_DGRAM, 0);

    memset(bound, 0, sizeof(*bound));
    bound->sin_family = AF_INET;
    bound->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (fd < 0 || bind(fd, (struct sockaddr *)bound, sizeof(*bound)) != 0
            || getsockname(fd, (struct sockaddr *)bound, &len) != 0 || !BIO_socket_nbio(fd, 1)) {
        fprintf(stderr, "s42: UDP socket setup failed\n");
        exit(2);
    }
    return fd;
}

static SSL_CTX *s42_server_ctx(long options, long mode)
{
    static const unsigned char sid[] = "sesscb-quic";
    SSL_CTX *ctx = SSL_CTX_new(OSSL_QUIC_server_method());

    if (ctx == NULL || SSL_CTX_use_certificate(ctx, h_cert()) != 1
            || SSL_CTX_use_PrivateKey(ctx, h_key()) != 1
            || SSL_CTX_set_session_id_context(ctx, sid, sizeof(sid) - 1) != 1) {
        fprintf(stderr, "s42: QUIC server ctx setup failed\n");
        exit(2);
    }
    h_ctx_set_name(ctx, "qsctx");
    SSL_CTX_set_alpn_select_cb(ctx, s42_select_alpn, NULL);
    SSL_CTX_set_options(ctx, options);
    SSL_CTX_set_session_cache_mode(ctx, mode);
    h_set_all(ctx, H_A);
    return ctx;
}

static SSL_CTX *s42_client_ctx(void)
{
    SSL_CTX *ctx = SSL_CTX_new(OSSL_QUIC_client_method());

    if (ctx == NULL)
        abort();
    h_ctx_set_name(ctx, "qcctx");
    SSL_CTX_set_verify(ctx, SSL_VERIFY_NONE, NULL);
    SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_CLIENT);
    h_set_all(ctx, H_B);
    return ctx;
}

struct s42_link {
    SSL *listener, *client, *conn;
    int sfd, cfd;
};

static void s42_open(struct s42_link *l, SSL_CTX *sctx, SSL_CTX *cctx, SSL_SESSION *resume)
{
    struct sockaddr_in saddr, caddr;
    BIO_ADDR *peer = BIO_ADDR_new();

    l->sfd = s42_socket(&saddr);
    l->cfd = s42_socket(&caddr);
    /* No address validation (Retry): valgrind flags the token decryption in
     * OpenSSL 3.5/4.0 (ossl_gcm_stream_final), with or without sesscb. */
    l->listener = SSL_new_listener(sctx, SSL_LISTENER_FLAG_NO_VALIDATE);
    l->client = SSL_new(cctx);
    l->conn = NULL;
    if (peer == NULL || l->listener == NULL || l->client == NULL
            || !SSL_set_fd(l->listener, l->sfd) || !SSL_listen(l->listener)
            || !SSL_set_fd(l->client, l->cfd)
            || !BIO_ADDR_rawmake(peer, AF_INET, &saddr.sin_addr, sizeof(saddr.sin_addr),
                                 saddr.sin_port)
            || !SSL_set1_initial_peer_addr(l->client, peer)
            || !SSL_set_blocking_mode(l->client, 0)
            || SSL_set_alpn_protos(l->client, s42_alpn, sizeof(s42_alpn) - 1) != 0
            || !SSL_set_tlsext_host_name(l->client, "localhost")
            || (resume != NULL && !SSL_set_session(l->client, resume))) {
        fprintf(stderr, "s42: QUIC objects setup failed\n");
        ERR_print_errors_fp(stderr);
        exit(2);
    }
    BIO_ADDR_free(peer);
}

/* Turns the event loop until the handshake completed on both sides, then
 * `extra` more turns (tickets arrive after the handshake). */
static int s42_drive(struct s42_link *l, int extra)
{
    int i, done = 0, after = 0;

    for (i = 0; i < S42_SPINS && after < extra; i++) {
        int c = SSL_connect(l->client);
        SSL_handle_events(l->listener);
        if (l->conn == NULL)
            l->conn = SSL_accept_connection(l->listener, SSL_ACCEPT_CONNECTION_NO_BLOCK);
        if (l->conn != NULL)
            SSL_handle_events(l->conn);
        SSL_handle_events(l->client);
        if (c == 1 && l->conn != NULL && SSL_is_init_finished(l->conn))
            done = 1;
        if (done)
            after++;
    }
    ERR_clear_error();
    return done;
}

static void s42_close(struct s42_link *l)
{
    int i;

    /* Both sides shut down: a QUIC connection freed without SSL_shutdown
     * removes its session (its inner TLS object lacks SSL_SENT_SHUTDOWN). */
    (void)SSL_shutdown_ex(l->client, SSL_SHUTDOWN_FLAG_RAPID, NULL, 0);
    if (l->conn != NULL)
        (void)SSL_shutdown_ex(l->conn, SSL_SHUTDOWN_FLAG_RAPID, NULL, 0);
    for (i = 0; i < 50; i++) {
        SSL_handle_events(l->listener);
        if (l->conn != NULL)
            SSL_handle_events(l->conn);
    }
    ev("free client, server connection, listener");
    SSL_free(l->client);
    SSL_free(l->conn);
    SSL_free(l->listener);
    close(l->cfd);
    close(l->sfd);
    ERR_clear_error();
}

/* One connection; prints what each side saw. Returns 0 if the handshake
 * failed, else 1 + (both sides report a resumption). */
static int s42_connect(SSL_CTX *sctx, SSL_CTX *cctx, SSL_SESSION *resume, const char *label)
{
    struct s42_link l;
    int ok, reused;

    s42_open(&l, sctx, cctx, resume);
    ok = s42_drive(&l, 200);
    reused = SSL_session_reused(l.client) && l.conn != NULL && SSL_session_reused(l.conn);
    ev("quic %s ok=%d quic=%d/%d reused=%d/%d", label, ok, SSL_is_quic(l.client),
       l.conn != NULL && SSL_is_quic(l.conn), SSL_session_reused(l.client),
       l.conn != NULL && SSL_session_reused(l.conn));
    s42_close(&l);
    return ok ? 1 + reused : 0;
}

static void s42_round(const char *label, long options, long mode)
{
    SSL_CTX *sctx = s42_server_ctx(options, mode);
    SSL_CTX *cctx = s42_client_ctx();
    int stateful = (options & SSL_OP_NO_TICKET) != 0;
    int lookup_off = (mode & SSL_SESS_CACHE_NO_INTERNAL_LOOKUP) != 0;
    SSL_SESSION *resume;

    ev("--- %s", label);
    h_cfg_reset();
    h_cfg[H_A].new_ret = 1;
    h_cfg[H_A].get_mode = H_GET_KEPT;
    h_cfg[H_B].new_ret = 1;
    CHECK(s42_connect(sctx, cctx, NULL, "full"), "%s: full handshake", label);
    CHECK(h_nkept(H_B) >= 1, "%s: client new callback got a ticket session", label);
    CHECK_EQ(h_cfg[H_A].n_new, h_cfg[H_B].n_new,
             "%s: server new callback once per ticket, stateless ones too", label);
    CHECK_EQ(h_cfg[H_A].n_get, 0, "%s: no get on a full handshake", label);
    resume = h_nkept(H_B) > 0 ? h_kept(H_B, h_nkept(H_B) - 1) : NULL;
    CHECK_EQ(s42_connect(sctx, cctx, resume, "resume"), 2, "%s: resumed on both sides", label);
    CHECK_EQ(h_cfg[H_A].n_get, stateful && lookup_off ? 1 : 0,
             "%s: get only for a stateful ticket the cache may not answer", label);
    ev("counts new[A]=%d get[A]=%d remove[A]=%d new[B]=%d remove[B]=%d number(qsctx)=%ld",
       h_cfg[H_A].n_new, h_cfg[H_A].n_get, h_cfg[H_A].n_remove, h_cfg[H_B].n_new,
       h_cfg[H_B].n_remove, h_sess_number(sctx));
    h_ctx_free(sctx);
    h_ctx_free(cctx);
    h_free_kept(H_A);
    h_free_kept(H_B);
}
#endif

int scenario_42(void)
{
#ifdef S42_QUIC
    if (h_version_at_least(0x30500000UL)) {
        h_clock_real(1);
        s42_round("stateless tickets", 0, SSL_SESS_CACHE_SERVER);
        s42_round("stateful tickets", SSL_OP_NO_TICKET, SSL_SESS_CACHE_SERVER);
        s42_round("stateful tickets, no internal lookup", SSL_OP_NO_TICKET,
                  SSL_SESS_CACHE_SERVER | SSL_SESS_CACHE_NO_INTERNAL_LOOKUP);
        h_clock_real(0);
        return h_result();
    }
#endif
    ev("quic: this OpenSSL has no server-side QUIC (SKIP)");
    return h_result();
}
