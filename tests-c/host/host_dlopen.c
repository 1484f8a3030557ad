/* host_dlopen.c -- host-safety case 1: libssl loaded with a *local* dlopen.
 *
 * The program is NOT linked to libssl/libcrypto (mk/host.mk asserts it). It
 * dlopen()s libssl (HOST_LIBSSL, or argv[1]) with RTLD_LOCAL|RTLD_NOW and
 * resolves every OpenSSL function it needs with dlsym(handle, ...) -- except
 * the six session-callback functions, which it references by their plain
 * names, declared by <openssl/ssl.h> and made weak by weak_six.h. The
 * dynamic linker binds those references from the global scope:
 *   - under LD_PRELOAD=libsesscb.so they bind to sesscb ("PATH sesscb"),
 *     which must then find the real libssl although dlsym(RTLD_NEXT) cannot
 *     see a local library;
 *   - without it they stay NULL and the program falls back to
 *     dlsym(handle, name) ("PATH handle"), i.e. plain OpenSSL.
 * The path is cross-checked against dlsym(RTLD_DEFAULT, name).
 *
 * Checks (CHECK lines, exit 1 on any failure): the callbacks fire as
 * expected for a full handshake and a resumption through the external cache
 * (new x1, get x1 with a hit, reused), the getters return the application's
 * pointers, and the *real* getter dlsym(handle, "SSL_CTX_sess_get_*_cb")
 * returns a sesscb trampoline under sesscb and the application's pointer
 * without it. The OUTCOME line must be identical in both runs.
 *
 * Usage: host_dlopen [path-or-soname-of-libssl]
 */
#include "tls_core.c"

#include "weak_six.h"

#ifndef HOST_LIBSSL
#define HOST_LIBSSL "libssl.so.3"
#endif

/* Under sesscb, a first call while no libssl is loaded at all: sesscb must
 * answer (NULL for an unknown ctx) and must not remember that it found no
 * libssl -- the dlopen comes later. */
static void check_before_dlopen(void)
{
    CHECK_EQ(loaded_openssl_objects(), 0, "no libssl/libcrypto loaded before dlopen");
    if (SSL_CTX_sess_get_new_cb != NULL)
        check(SSL_CTX_sess_get_new_cb((SSL_CTX *)(uintptr_t)0x5e55cb00) == NULL,
              "before dlopen: sesscb answers NULL for an unknown ctx");
}

/* dlopen(RTLD_LOCAL) and the OpenSSL functions from the handle; NULL on
 * failure. */
static void *open_libssl_locally(const char *path)
{
    void *handle = dlopen(path, RTLD_LOCAL | RTLD_NOW);

    if (handle == NULL) {
        printf("CHECK FAIL dlopen(%s): %s\n", path, dlerror());
        return NULL;
    }
    check(dlsym(RTLD_DEFAULT, "SSL_new") == NULL,
          "libssl is local: dlsym(RTLD_DEFAULT, \"SSL_new\") finds nothing");
    if (!ossl_load(handle))
        return NULL;
    printf("OPENSSL 0x%lx\n", F(OpenSSL_version_num)());
    return handle;
}

/* The six through their plain (weak) names when bound, else from the handle.
 * Returns 1 when they were bound by name, -1 on failure. */
static int bind_the_six(void *handle)
{
    int plain = SSL_CTX_sess_set_new_cb != NULL;

    check((SSL_CTX_sess_set_new_cb != NULL) == (SSL_CTX_sess_set_remove_cb != NULL) &&
              (SSL_CTX_sess_set_new_cb != NULL) == (SSL_CTX_sess_set_get_cb != NULL) &&
              (SSL_CTX_sess_set_new_cb != NULL) == (SSL_CTX_sess_get_new_cb != NULL) &&
              (SSL_CTX_sess_set_new_cb != NULL) == (SSL_CTX_sess_get_remove_cb != NULL) &&
              (SSL_CTX_sess_set_new_cb != NULL) == (SSL_CTX_sess_get_get_cb != NULL),
          "the six plain names are all bound or all unbound");
    check((void *)SSL_CTX_sess_set_new_cb == dlsym(RTLD_DEFAULT, "SSL_CTX_sess_set_new_cb") &&
              (void *)SSL_CTX_sess_get_get_cb == dlsym(RTLD_DEFAULT, "SSL_CTX_sess_get_get_cb"),
          "plain names agree with dlsym(RTLD_DEFAULT)");
    if (plain) {
        SIX_FROM_PLAIN_NAMES();
        return 1;
    }
    six_from_handle(handle);
    check(O->set_new && O->set_remove && O->set_get && O->get_new && O->get_remove && O->get_get,
          "the six found in the handle");
    return h_failed() ? -1 : 0;
}

/* Which object the six came from; returns 1 when it is sesscb. */
static int report_path(int plain)
{
    int via_sesscb = in_sesscb((void *)O->set_new);

    printf("PATH %s %s\n", plain ? (via_sesscb ? "sesscb" : "plain-other") : "handle", object_of((void *)O->set_new));
    check(plain == via_sesscb, "plain names bind to sesscb exactly when they bind at all");
    *(void **)&g_sesscb_stats = dlsym(RTLD_DEFAULT, "sesscb_stats");
    check((g_sesscb_stats != NULL) == via_sesscb, "sesscb_stats present exactly under sesscb");
    return via_sesscb;
}

/* The real getters, straight from libssl. */
struct real_getters {
    __typeof__(&SSL_CTX_sess_get_new_cb) new_cb;
    __typeof__(&SSL_CTX_sess_get_get_cb) get_cb;
    __typeof__(&SSL_CTX_sess_get_remove_cb) remove_cb;
};

static int find_real_getters(void *handle, struct real_getters *real)
{
    *(void **)&real->new_cb = dlsym(handle, "SSL_CTX_sess_get_new_cb");
    *(void **)&real->get_cb = dlsym(handle, "SSL_CTX_sess_get_get_cb");
    *(void **)&real->remove_cb = dlsym(handle, "SSL_CTX_sess_get_remove_cb");
    check(real->new_cb && real->get_cb && real->remove_cb && !in_sesscb((void *)real->new_cb),
          "real getters found in libssl (%s)", object_of((void *)real->new_cb));
    return !h_failed();
}

/* What the real fields hold: sesscb trampolines under sesscb, the
 * application's pointers without it. */
static void check_real_fields(SSL_CTX *ctx, const struct real_getters *real, int via_sesscb)
{
    new_cb_t real_new = real->new_cb(ctx);
    get_cb_t real_get = real->get_cb(ctx);
    remove_cb_t real_remove = real->remove_cb(ctx);

    check(real_new != NULL && real_get != NULL && real_remove != NULL, "real fields are set");
    if (via_sesscb) {
        check(real_new != cb_new && real_get != cb_get && real_remove != cb_remove,
              "real getters return something other than the application's pointers");
        check(in_sesscb((void *)real_new) && in_sesscb((void *)real_get) && in_sesscb((void *)real_remove),
              "... namely sesscb trampolines (%s)", object_of((void *)real_new));
        printf("REALGET trampoline\n");
    } else {
        check(real_new == cb_new && real_get == cb_get && real_remove == cb_remove,
              "without sesscb the real getters return the application's pointers");
        printf("REALGET app\n");
    }
}

/* A first ctx, kept alive, to look at the real fields; then clearing. */
static int check_probe_ctx(const struct real_getters *real, int via_sesscb)
{
    SSL_CTX *ctx = server_ctx();

    check(ctx != NULL, "probe ctx");
    if (ctx == NULL)
        return 0;
    set_all(ctx);
    check(getters_match(ctx), "getters return the application's pointers");
    check_real_fields(ctx, real, via_sesscb);
    /* Clearing works through the path too. */
    O->set_new(ctx, NULL);
    check(O->get_new(ctx) == NULL && real->new_cb(ctx) == NULL, "set NULL clears (getter and real field)");
    check(O->get_get(ctx) == cb_get, "clearing one kind leaves the others");
    F(SSL_CTX_free)(ctx);
    return 1;
}

int main(int argc, char **argv)
{
    const char *path = argc > 1 ? argv[1] : HOST_LIBSSL;
    struct real_getters real;
    void *handle;
    int plain, via_sesscb;
    struct scenario_result sr;

    setvbuf(stdout, NULL, _IOLBF, 0);
    check_before_dlopen();
    handle = open_libssl_locally(path);
    if (handle == NULL)
        return 1;
    plain = bind_the_six(handle);
    if (plain < 0)
        return 1;
    via_sesscb = report_path(plain);
    if (!find_real_getters(handle, &real))
        return 1;
    if (!check_probe_ctx(&real, via_sesscb))
        return 1;

    sr = run_scenario("dlopen");
    (void)sr;

    printf("RESULT %s\n", h_failed() ? "FAIL" : "PASS");
    return h_failed() ? 1 : 0;
}
