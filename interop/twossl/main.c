/*
 * interop/twossl/main.c -- two OpenSSLs in one process.
 *
 * The executable is linked to one OpenSSL (MAIN_TAG, MAIN_SONAME: the system
 * OpenSSL 3 by default; global scope). It dlopen()s plugin.so
 * RTLD_NOW|RTLD_LOCAL; the plugin is linked to another (1.1.1w or 4.0),
 * which therefore lives only in the plugin's local scope.
 * Both halves set session callbacks on their own SSL_CTXs and run in-memory
 * handshakes (exercise.h). Without an interposer every versioned reference
 * (@OPENSSL_1_1_0, @OPENSSL_3.0.0, @OPENSSL_4.0.0) binds to its own library.
 *
 *   twossl-main <plugin.so> <cert> <key> <order>
 *     order = main-first    : main round, plugin round, main round again
 *           | plugin-first  : plugin round, main round, plugin round again
 *           | tail-call     : main round; then main calls the plugin's
 *                             twossl_plugin_install(ctx), whose last
 *                             setter is a tail call (return address in
 *                             main), and the plugin checks that ctx
 *           | deepbind      : the plugin is dlopen'd RTLD_DEEPBIND (its own
 *                             libssl first: an interposer cannot see its
 *                             calls); main round, plugin round
 *
 * Exit status 0 iff every CHECK passed in every round. The driver also runs
 * it plain and under LD_PRELOAD=libsesscb.so and diffs stdout.
 */
#define _GNU_SOURCE /* RTLD_DEEPBIND */
#include "exercise.h"

/* The libssl main is linked to: the system OpenSSL 3 by default, 3.5 for
 * twossl-main35. */
#ifndef MAIN_TAG
#define MAIN_TAG "sys"
#endif
#ifndef MAIN_SONAME
#define MAIN_SONAME "libssl.so.3"
#endif

typedef int (*plugin_run_fn)(const char *, const char *);
typedef SSL_CTX *(*plugin_ctx_fn)(const char *, const char *); /* the plugin's SSL_CTX: opaque here */
typedef void (*plugin_install_fn)(SSL_CTX *);
typedef int (*plugin_check_fn)(SSL_CTX *);

static void *plugin_handle;

static void *plugin_sym(const char *name)
{
    void *f = dlsym(plugin_handle, name);
    if (f == NULL)
        printf("[main] dlsym %s failed: %s\n", name, dlerror());
    return f;
}

static int tail_call(const char *cert, const char *key)
{
    plugin_ctx_fn mk = (plugin_ctx_fn)plugin_sym("twossl_plugin_server_ctx");
    plugin_install_fn install = (plugin_install_fn)plugin_sym("twossl_plugin_install");
    plugin_check_fn check = (plugin_check_fn)plugin_sym("twossl_plugin_check");
    SSL_CTX *plugin_ctx;
    if (!mk || !install || !check)
        return 1;
    plugin_ctx = mk(cert, key);
    install(plugin_ctx); /* main -> plugin -> (tail) SSL_CTX_sess_set_remove_cb */
    return check(plugin_ctx);
}

int main(int argc, char **argv)
{
    plugin_run_fn plugin;
    int failed = 0;

    if (argc != 5) {
        fprintf(stderr, "usage: %s plugin.so cert key main-first|plugin-first\n", argv[0]);
        return 2;
    }
    setvbuf(stdout, NULL, _IOLBF, 0);
    printf("[main] order %s\n", argv[4]);
    /* never dlclose'd */
    plugin_handle = dlopen(argv[1], RTLD_NOW | RTLD_LOCAL | (strcmp(argv[4], "deepbind") == 0 ? RTLD_DEEPBIND : 0));
    if (plugin_handle == NULL) {
        printf("[main] dlopen failed: %s\n", dlerror());
        return 2;
    }
    plugin = (plugin_run_fn)plugin_sym("twossl_plugin_run");
    if (plugin == NULL)
        return 2;
    if (strcmp(argv[4], "deepbind") == 0) {
        failed += ex_run(MAIN_TAG, MAIN_SONAME, argv[2], argv[3]);
        failed += plugin(argv[2], argv[3]);
    } else if (strcmp(argv[4], "tail-call") == 0) {
        failed += ex_run(MAIN_TAG, MAIN_SONAME, argv[2], argv[3]);
        failed += tail_call(argv[2], argv[3]);
    } else if (strcmp(argv[4], "plugin-first") == 0) {
        failed += plugin(argv[2], argv[3]);
        failed += ex_run(MAIN_TAG, MAIN_SONAME, argv[2], argv[3]);
        failed += plugin(argv[2], argv[3]);
    } else if (strcmp(argv[4], "main-first") == 0) {
        failed += ex_run(MAIN_TAG, MAIN_SONAME, argv[2], argv[3]);
        failed += plugin(argv[2], argv[3]);
        failed += ex_run(MAIN_TAG, MAIN_SONAME, argv[2], argv[3]);
    } else {
        fprintf(stderr, "unknown order %s\n", argv[4]);
        return 2;
    }
    printf("[main] total failed checks: %d\n", failed);
    return failed ? 1 : 0;
}
