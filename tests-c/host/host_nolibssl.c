/* host_nolibssl.c -- host-safety case 3: a process that never loads libssl.
 *
 * Run under LD_PRELOAD=libsesscb.so (or built linked to it: host_nolibssl-linked).
 * No OpenSSL header, no OpenSSL library: the six functions are declared
 * from sesscb.h and referenced weakly, so the program starts without sesscb
 * and reports "NO_SESSCB" (exit 3) instead of crashing.
 *
 * Checks: sesscb_version() is argv[1] (when given); sesscb_stats(NULL) works
 * and is all zero; sesscb_stats(fake ctx) is SESSCB_STATUS_NO_LIBSSL and
 * writes nothing; bad sizes are SESSCB_STATUS_BAD_ARGUMENT; with no libssl
 * a setter is not honoured and every getter returns NULL (fake ctx pointers
 * are never dereferenced; README "Deviations"); the six with a NULL ctx do
 * nothing / return NULL; no libssl is ever loaded.
 * stdout: CHECK lines, "BAD_INPUT_CALLS n", "UNRESOLVED_SETS n", RESULT.
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <link.h>
#include <stdio.h>
#include <stdlib.h>
#include <stddef.h>
#include <string.h>

#include "sesscb.h"

#include "weak_six.h"
#pragma weak sesscb_version
#pragma weak sesscb_stats

static int failed;

static void check(int ok, const char *what)
{
    printf("CHECK %s %s\n", ok ? "ok" : "FAIL", what);
    if (!ok)
        failed++;
}

static int app_new(struct ssl_st *s, struct ssl_session_st *sess) { (void)s; (void)sess; return 0; }
static int app_new2(struct ssl_st *s, struct ssl_session_st *sess) { (void)s; (void)sess; return 1; }
static void app_remove(struct ssl_ctx_st *c, struct ssl_session_st *sess) { (void)c; (void)sess; }
static struct ssl_session_st *app_get(struct ssl_st *s, const unsigned char *d, int l, int *c)
{
    (void)s; (void)d; (void)l; (void)c;
    return NULL;
}

static int openssl_cb(struct dl_phdr_info *info, size_t size, void *data)
{
    (void)size;
    if (info->dlpi_name && (strstr(info->dlpi_name, "libssl") || strstr(info->dlpi_name, "libcrypto")))
        ++*(int *)data;
    return 0;
}

static int openssl_loaded(void)
{
    int n = 0;
    FILE *maps;
    char line[512];
    dl_iterate_phdr(openssl_cb, &n);
    maps = fopen("/proc/self/maps", "r");
    if (maps) {
        while (fgets(line, sizeof line, maps))
            if (strstr(line, "/libssl.so") || strstr(line, "/libcrypto.so"))
                n++;
        fclose(maps);
    }
    return n;
}

/* Fake ctx pointers: sesscb records them and never dereferences them. */
#define FAKE_CTX_A ((struct ssl_ctx_st *)(uintptr_t)0x5e55cb00)
#define FAKE_CTX_B ((struct ssl_ctx_st *)(uintptr_t)0x5e55cc00)

/* Has sesscb written into raw[from..]? (It was filled with 0xAA.) */
static int untouched_from(const unsigned char *raw, size_t len, size_t from)
{
    size_t i;

    for (i = from; i < len && raw[i] == 0xAA; i++)
        ;
    return i == len;
}

static void check_version(int argc, char **argv)
{
    const char *v = sesscb_version();

    printf("VERSION %s\n", v ? v : "(null)");
    check(v != NULL && v[0] >= '0' && v[0] <= '9', "sesscb_version() is a version string");
    if (argc > 1)
        check(v != NULL && strcmp(v, argv[1]) == 0, "sesscb_version() matches Cargo.toml");
}

/* Process totals, and an unknown ctx while no libssl is loaded. */
static void check_stats_without_libssl(void)
{
    struct sesscb_stats st;
    unsigned char raw[sizeof(struct sesscb_stats) + 16];
    int rc;

    memset(&st, 0xAA, sizeof st);
    st.size = sizeof st;
    rc = sesscb_stats(NULL, &st);
    check(rc == SESSCB_STATUS_OK && st.size == sizeof st && st.flags == 0 && st.new_calls == 0 &&
              st.get_calls == 0 && st.get_hits == 0 && st.get_copy0 == 0 && st.remove_calls == 0 &&
              st.new_kept == 0,
          "sesscb_stats(NULL) = OK, all zero");

    /* Unknown ctx, no libssl: NO_LIBSSL and nothing written. */
    memset(raw, 0xAA, sizeof raw);
    ((struct sesscb_stats *)raw)->size = sizeof st;
    rc = sesscb_stats(FAKE_CTX_A, (struct sesscb_stats *)raw);
    printf("STATS_UNKNOWN_CTX %d\n", rc);
    check(rc == SESSCB_STATUS_NO_LIBSSL, "sesscb_stats(unknown ctx) = SESSCB_STATUS_NO_LIBSSL");
    check(untouched_from(raw, sizeof raw, 4) && ((struct sesscb_stats *)raw)->size == sizeof st,
          "... and nothing written");
}

static void check_stats_bad_sizes(void)
{
    unsigned char raw[sizeof(struct sesscb_stats) + 16];
    int rc;

    check(sesscb_stats(NULL, NULL) == SESSCB_STATUS_BAD_ARGUMENT, "sesscb_stats(NULL, NULL) = BAD_ARGUMENT");
    memset(raw, 0xAA, sizeof raw);
    ((struct sesscb_stats *)raw)->size = 4;
    check(sesscb_stats(NULL, (struct sesscb_stats *)raw) == SESSCB_STATUS_BAD_ARGUMENT,
          "sesscb_stats(size 4) = BAD_ARGUMENT");
    /* An older, smaller struct: header + new_calls. */
    memset(raw, 0xAA, sizeof raw);
    ((struct sesscb_stats *)raw)->size = 16;
    rc = sesscb_stats(NULL, (struct sesscb_stats *)raw);
    check(rc == SESSCB_STATUS_OK && ((struct sesscb_stats *)raw)->size == 16 && untouched_from(raw, sizeof raw, 16),
          "sesscb_stats(size 16) writes 16 bytes only");
    /* A caller built before the store's fields: up to log_lines_dropped. */
    memset(raw, 0xAA, sizeof raw);
    ((struct sesscb_stats *)raw)->size = offsetof(struct sesscb_stats, store_lookups_app_hit);
    rc = sesscb_stats(NULL, (struct sesscb_stats *)raw);
    check(rc == SESSCB_STATUS_OK && ((struct sesscb_stats *)raw)->size == 64 && untouched_from(raw, sizeof raw, 64),
          "sesscb_stats(size before the store fields) writes those 64 bytes only");
    /* A current caller gets every store field (0: no store in this process). */
    memset(raw, 0xAA, sizeof raw);
    ((struct sesscb_stats *)raw)->size = sizeof(struct sesscb_stats);
    rc = sesscb_stats(NULL, (struct sesscb_stats *)raw);
    check(rc == SESSCB_STATUS_OK && ((struct sesscb_stats *)raw)->size == sizeof(struct sesscb_stats) &&
              ((struct sesscb_stats *)raw)->store_lookups_app_hit == 0 &&
              ((struct sesscb_stats *)raw)->store_evictions == 0 &&
              untouched_from(raw, sizeof raw, sizeof(struct sesscb_stats)),
          "sesscb_stats(current size) writes every store field and nothing beyond");
}

/* Setters on a ctx of no libssl are not honoured and nothing is kept.
 * Returns the number of setter calls made. */
static int check_unresolved_not_honoured(void)
{
    struct ssl_ctx_st *a = FAKE_CTX_A, *b = FAKE_CTX_B;
    int sets = 0;

    /* Without the ctx's libssl a setter is not honoured (nothing can be
     * installed) and nothing is kept: every getter returns NULL. */
    check(SSL_CTX_sess_get_new_cb(a) == NULL && SSL_CTX_sess_get_get_cb(a) == NULL &&
              SSL_CTX_sess_get_remove_cb(a) == NULL,
          "fresh fake ctx: getters NULL");
    SSL_CTX_sess_set_new_cb(a, app_new);
    SSL_CTX_sess_set_get_cb(a, app_get);
    SSL_CTX_sess_set_remove_cb(a, app_remove);
    SSL_CTX_sess_set_new_cb(b, app_new2);
    SSL_CTX_sess_set_new_cb(a, NULL);
    sets += 5;
    check(SSL_CTX_sess_get_new_cb(a) == NULL && SSL_CTX_sess_get_get_cb(a) == NULL &&
              SSL_CTX_sess_get_remove_cb(a) == NULL,
          "setters not honoured: getters still NULL");
    check(SSL_CTX_sess_get_new_cb(b) == NULL, "... for every ctx");
    return sets;
}

/* NULL ctx: no-op setters, NULL getters (case 6 without libssl). Returns the
 * number of such calls made. */
static int check_null_ctx(void)
{
    SSL_CTX_sess_set_new_cb(NULL, app_new);
    SSL_CTX_sess_set_remove_cb(NULL, app_remove);
    SSL_CTX_sess_set_get_cb(NULL, app_get);
    check(SSL_CTX_sess_get_new_cb(NULL) == NULL, "get_new(NULL) = NULL");
    check(SSL_CTX_sess_get_remove_cb(NULL) == NULL, "get_remove(NULL) = NULL");
    check(SSL_CTX_sess_get_get_cb(NULL) == NULL, "get_get(NULL) = NULL");
    check(SSL_CTX_sess_get_new_cb(FAKE_CTX_B) == NULL, "NULL-ctx calls set nothing");
    return 6;
}

/* Still nothing counted, still no libssl. */
static void check_nothing_counted(void)
{
    struct sesscb_stats st;

    memset(&st, 0, sizeof st);
    st.size = sizeof st;
    check(sesscb_stats(NULL, &st) == SESSCB_STATUS_OK && st.new_calls == 0 && st.remove_calls == 0,
          "process totals still zero");
    check(sesscb_stats(FAKE_CTX_B, &st) == SESSCB_STATUS_NO_LIBSSL, "sesscb_stats(set fake ctx) = NO_LIBSSL");
    check(openssl_loaded() == 0, "sesscb loaded no libssl/libcrypto");
}

int main(int argc, char **argv)
{
    int bad_calls, unresolved_sets;

    setvbuf(stdout, NULL, _IOLBF, 0);
    if (sesscb_version == NULL || sesscb_stats == NULL || SSL_CTX_sess_set_new_cb == NULL) {
        printf("NO_SESSCB\n");
        return 3;
    }
    check(openssl_loaded() == 0, "no libssl/libcrypto at start");
    check_version(argc, argv);
    check_stats_without_libssl();
    check_stats_bad_sizes();
    unresolved_sets = check_unresolved_not_honoured();
    bad_calls = check_null_ctx();
    check_nothing_counted();

    printf("BAD_INPUT_CALLS %d\n", bad_calls);
    printf("UNRESOLVED_SETS %d\n", unresolved_sets);
    printf("RESULT %s\n", failed ? "FAIL" : "PASS");
    return failed ? 1 : 0;
}
