/*
 * interop/twossl/plugin.c -- the plugin half of the two-OpenSSL test: built
 * against and linked to OpenSSL 1.1.1w (rpath), dlopen'd RTLD_LOCAL by
 * main.c (linked to the system OpenSSL 3). Only the twossl_plugin_* entry
 * points are exported; everything else is static.
 *
 * Must be compiled with optimisation (-O2): twossl_plugin_install() relies
 * on its last call being compiled as a sibling (tail) call, `jmp
 * SSL_CTX_sess_set_remove_cb@plt`, so that the setter's return address lies
 * in the plugin's *caller* (main, linked to OpenSSL 3). mk/interop.mk checks
 * the disassembly.
 */
#include "exercise.h"

#define EXPORT __attribute__((visibility("default")))

EXPORT int twossl_plugin_run(const char *cert, const char *key);
EXPORT SSL_CTX *twossl_plugin_server_ctx(const char *cert, const char *key);
EXPORT void twossl_plugin_install(SSL_CTX *ctx);
EXPORT int twossl_plugin_check(SSL_CTX *ctx);

int twossl_plugin_run(const char *cert, const char *key)
{
    return ex_run("111", "libssl.so.1.1", cert, key);
}

/* The tail-call scenario: a 1.1.1 ctx without callbacks yet. */
SSL_CTX *twossl_plugin_server_ctx(const char *cert, const char *key)
{
    memset(&EX, 0, sizeof EX);
    EX.tag = "111-tail";
    EX.soname = "libssl.so.1.1";
    EX.app_ex_index = SSL_CTX_get_ex_new_index(0, NULL, NULL, NULL, NULL);
    return ex_bare_server_ctx(TLS1_2_VERSION, cert, key);
}

/* Called by main. The last setter is a tail call: its return address is in
 * main, which uses OpenSSL 3, while the ctx is a 1.1.1 ctx. */
__attribute__((noinline)) void twossl_plugin_install(SSL_CTX *ctx)
{
    SSL_CTX_sess_set_new_cb(ctx, ex_srv_new);
    SSL_CTX_sess_set_get_cb(ctx, ex_srv_get);
    SSL_CTX_sess_set_remove_cb(ctx, ex_srv_remove);
}

int twossl_plugin_check(SSL_CTX *ctx)
{
    ex_tail_check(ctx);
    return EX.failed;
}
