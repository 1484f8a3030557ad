/* Built by `make install-check` against an installed sesscb (pkg-config,
 * -lsesscb before -lssl): sets a callback and checks that the application
 * sees its own pointer while libssl holds a sesscb trampoline, and that
 * sesscb's own API answers. Exit 0 on success. */
#include <dlfcn.h>
#include <stdio.h>
#include <string.h>
#include <openssl/ssl.h>
#include "sesscb.h"

static int new_cb(SSL *ssl, SSL_SESSION *sess)
{
    (void)ssl;
    (void)sess;
    return 0;
}

int main(void)
{
    SSL_CTX *ctx = SSL_CTX_new(TLS_server_method());
    void *libssl = dlopen("libssl.so.3", RTLD_LAZY | RTLD_NOLOAD);
    int (*(*real_get)(SSL_CTX *))(SSL *, SSL_SESSION *);
    struct sesscb_stats stats;
    int ok = 1;

    if (ctx == NULL || libssl == NULL) {
        fprintf(stderr, "installed_program: no ctx or libssl\n");
        return 1;
    }
    *(void **)&real_get = dlsym(libssl, "SSL_CTX_sess_get_new_cb");
    SSL_CTX_sess_set_new_cb(ctx, new_cb);
    ok &= SSL_CTX_sess_get_new_cb(ctx) == new_cb;
    ok &= real_get != NULL && real_get(ctx) != NULL && real_get(ctx) != new_cb;
    memset(&stats, 0, sizeof stats);
    stats.size = (uint32_t)sizeof stats;
    ok &= sesscb_stats(ctx, &stats) == SESSCB_STATUS_OK && stats.size == sizeof stats;
    ok &= strlen(sesscb_version()) > 0;
    SSL_CTX_free(ctx);
    if (!ok)
        fprintf(stderr, "installed_program: sesscb not in the path\n");
    return ok ? 0 : 1;
}
