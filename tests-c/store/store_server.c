/* store_server.c -- a minimal TLS server for the store's sanitizer proof
 * (interop/suite/store_proofs.py, built by mk/store-proofs.mk with ASan and
 * UBSan and linked with -lsesscb before -lssl).
 *
 * Like an unmodified server: it sets no session callbacks (the store, when
 * on, provides them) and turns tickets off (TLS 1.2 session ids, TLS 1.3
 * stateful sessions, as `s_server -no_ticket`). It serves COUNT
 * connections on 127.0.0.1:PORT one after another, then frees everything
 * and returns from main, so LeakSanitizer's exit check sees a clean
 * shutdown. Output: `LISTEN` once, then per connection
 *   conn <n> <New|Reused> <TLS version>
 * (also sent to the client as the HTTP reply).
 *
 * With a fifth argument `remove`, the application removes each session
 * right after its handshake (`SSL_CTX_remove_session`, as a server does
 * for a session it no longer trusts): through sesscb the shared entry
 * goes too, so no other process can resume it.
 *
 * Usage: store_server CERT KEY PORT COUNT [remove]
 * Exit: 0 when every handshake succeeded, 1 otherwise, 2 on bad usage.
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/ssl.h>

static const unsigned char SID_CTX[] = "store-proofs";

static SSL_CTX *server_ctx(const char *cert, const char *key)
{
    SSL_CTX *ctx = SSL_CTX_new(TLS_server_method());
    if (ctx == NULL)
        return NULL;
    SSL_CTX_set_options(ctx, SSL_OP_NO_TICKET);
    if (SSL_CTX_use_certificate_chain_file(ctx, cert) != 1
        || SSL_CTX_use_PrivateKey_file(ctx, key, SSL_FILETYPE_PEM) != 1
        || SSL_CTX_set_session_id_context(ctx, SID_CTX, sizeof(SID_CTX) - 1) != 1) {
        SSL_CTX_free(ctx);
        return NULL;
    }
    return ctx;
}

static int listen_on(int port)
{
    struct sockaddr_in addr;
    int one = 1;
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    if (fd < 0)
        return -1;
    memset(&addr, 0, sizeof(addr));
    addr.sin_family = AF_INET;
    addr.sin_port = htons((unsigned short)port);
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    if (bind(fd, (struct sockaddr *)&addr, sizeof(addr)) != 0 || listen(fd, 8) != 0) {
        close(fd);
        return -1;
    }
    return fd;
}

/* Reads the client's request up to its blank line (or EOF), so the reply
 * and TLS 1.3's post-handshake session reach a client that waits for them. */
static void read_request(SSL *ssl)
{
    char buf[1024];
    size_t used = 0;
    while (used < sizeof(buf) - 1) {
        int n = SSL_read(ssl, buf + used, (int)(sizeof(buf) - 1 - used));
        if (n <= 0)
            return;
        used += (size_t)n;
        buf[used] = '\0';
        if (strstr(buf, "\r\n\r\n") != NULL)
            return;
    }
}

/* One connection: 1 when its handshake succeeded. */
static int serve_one(SSL_CTX *ctx, int client, int n, int remove)
{
    char line[128];
    int ok = 0;
    SSL *ssl = SSL_new(ctx);
    if (ssl != NULL && SSL_set_fd(ssl, client) == 1 && SSL_accept(ssl) == 1) {
        snprintf(line, sizeof(line), "conn %d %s %s\n", n, SSL_session_reused(ssl) ? "Reused" : "New",
                 SSL_get_version(ssl));
        fputs(line, stdout);
        fflush(stdout);
        read_request(ssl);
        if (remove)
            SSL_CTX_remove_session(ctx, SSL_get0_session(ssl));
        char reply[192];
        int len = snprintf(reply, sizeof(reply), "HTTP/1.0 200 ok\r\nContent-Type: text/plain\r\n\r\n%s", line);
        SSL_write(ssl, reply, len);
        SSL_shutdown(ssl);
        ok = 1;
    } else {
        printf("conn %d failed\n", n);
        ERR_print_errors_fp(stderr);
    }
    SSL_free(ssl);
    close(client);
    return ok;
}

int main(int argc, char **argv)
{
    if (argc != 5 && !(argc == 6 && strcmp(argv[5], "remove") == 0)) {
        fprintf(stderr, "usage: %s CERT KEY PORT COUNT [remove]\n", argv[0]);
        return 2;
    }
    int remove = argc == 6;
    int count = atoi(argv[4]);
    SSL_CTX *ctx = server_ctx(argv[1], argv[2]);
    int fd = ctx != NULL ? listen_on(atoi(argv[3])) : -1;
    if (fd < 0) {
        ERR_print_errors_fp(stderr);
        SSL_CTX_free(ctx);
        return 1;
    }
    printf("LISTEN\n");
    fflush(stdout);
    int served = 0;
    for (int n = 1; n <= count; n++) {
        int client = accept(fd, NULL, NULL);
        if (client < 0)
            break;
        served += serve_one(ctx, client, n, remove);
    }
    close(fd);
    SSL_CTX_free(ctx);
    return served == count ? 0 : 1;
}
