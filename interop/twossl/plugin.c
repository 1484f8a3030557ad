/*
 * interop/twossl/plugin.c -- the plugin half of the two-OpenSSL test: built
 * against and linked to another OpenSSL than main's (rpath), dlopen'd
 * RTLD_LOCAL by main.c. PLUGIN_TAG (trace prefix) and PLUGIN_SONAME (its
 * libssl) say which: 1.1.1w by default, 4.0 for plugin40.so. Only the
 * twossl_plugin_* entry points are exported; everything else is static.
 *
 * Must be compiled with optimisation (-O2): twossl_plugin_install() relies
 * on its last call being compiled as a sibling (tail) call, `jmp
 * SSL_CTX_sess_set_remove_cb@plt`, so that the setter's return address lies
 * in the plugin's *caller* (main, linked to OpenSSL 3). mk/interop.mk checks
 * the disassembly.
 */
#include "exercise.h"

#ifndef PLUGIN_TAG
#define PLUGIN_TAG "111"
#endif
#ifndef PLUGIN_SONAME
#define PLUGIN_SONAME "libssl.so.1.1"
#endif

#define EXPORT __attribute__((visibility("default")))

EXPORT int twossl_plugin_run(const char *cert, const char *key);
EXPORT SSL_CTX *twossl_plugin_server_ctx(const char *cert, const char *key);
EXPORT void twossl_plugin_install(SSL_CTX *ctx);
EXPORT int twossl_plugin_check(SSL_CTX *ctx);

int twossl_plugin_run(const char *cert, const char *key)
{
    return ex_run(PLUGIN_TAG, PLUGIN_SONAME, cert, key);
}

/* The tail-call scenario: a ctx of the plugin's libssl without callbacks yet. */
SSL_CTX *twossl_plugin_server_ctx(const char *cert, const char *key)
{
    memset(&EX, 0, sizeof EX);
    EX.tag = PLUGIN_TAG "-tail";
    EX.soname = PLUGIN_SONAME;
    EX.app_ex_index = SSL_CTX_get_ex_new_index(0, NULL, NULL, NULL, NULL);
    return ex_bare_server_ctx(TLS1_2_VERSION, cert, key);
}

/* Called by main. The last setter is a tail call: its return address is in
 * main, which uses another libssl than the ctx's. */
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
