/* host_twolib.c -- host-safety case: two OpenSSLs loaded locally, and the
 * ctxs made by the one sesscb does not guess.
 *
 * The program is NOT linked to libssl/libcrypto (mk/host.mk asserts it). It
 * dlopen()s the system libssl.so.3 first, then the libssl named by argv[1],
 * both RTLD_LOCAL, and makes every ctx with the second one. The six are
 * referenced by their plain names, made weak: under LD_PRELOAD they bind to
 * sesscb; without it they stay NULL and the program uses dlsym(second, name).
 * sesscb cannot tell from the caller (this program has no libssl of its own)
 * which libssl made a ctx, so its first guess is the libssl it resolved
 * first, libssl.so.3 by soname -- the wrong one for every ctx here.
 *
 *   host_twolib LIBSSL scenario
 *       LIBSSL is an OpenSSL 1.1 libssl.so.1.1 under its own name. sesscb must
 *       find the owner among the loaded libssl.so* objects (its trace says
 *       `resolve found_by=ctx_owner`), and a full handshake + resumption must
 *       see the callbacks exactly as without sesscb (OUTCOME line).
 *   host_twolib LIBSSL getters
 *       LIBSSL is an OpenSSL 1.1 libssl under a file name sesscb does not
 *       take for a libssl (as Python wheels bundle a renamed copy): no loaded
 *       libssl sesscb knows claims the ctx (its trace says
 *       `ctx_unattributed`). The getters must still return the application's
 *       pointers, and a cleared kind NULL.
 *
 * Checks are CHECK lines; exit 1 on any failure, 2 on bad usage.
 */
#include "tls_core.c"

#include "weak_six.h"

/* The six: the plain names when bound (sesscb), else the owner's. */
static int bind_six(void *owner)
{
    if (SSL_CTX_sess_set_new_cb != NULL)
        SIX_FROM_PLAIN_NAMES();
    else
        six_from_handle(owner);
    check(O->set_new && O->set_remove && O->set_get && O->get_new && O->get_remove && O->get_get,
          "the six found (%s)", object_of((void *)O->set_new));
    printf("PATH %s\n", in_sesscb((void *)O->set_new) ? "sesscb" : "owner");
    return !h_failed();
}

/* Setters and getters on a ctx of the second libssl. Plain OpenSSL honours
 * them; through sesscb, which cannot identify that libssl, the setters are
 * not honoured and the getters answer NULL, so the application can see its
 * callbacks are not in place (README, "Deviations"). */
static void getters_case(void)
{
    SSL_CTX *ctx = server_ctx();
    check(ctx != NULL, "a ctx made by the second libssl");
    if (ctx == NULL)
        return;
    set_all(ctx);
    if (in_sesscb((void *)O->set_new)) {
        check(O->get_new(ctx) == NULL && O->get_get(ctx) == NULL && O->get_remove(ctx) == NULL,
              "unattributed ctx: setters not honoured, getters NULL");
    } else {
        check(getters_match(ctx), "getters return the application's pointers");
        O->set_new(ctx, NULL);
        check(O->get_new(ctx) == NULL && O->get_get(ctx) == cb_get && O->get_remove(ctx) == cb_remove,
              "set NULL clears that kind only");
    }
    F(SSL_CTX_free)(ctx);
    printf("GETTERS done\n");
}

int main(int argc, char **argv)
{
    void *guessed, *owner;

    setvbuf(stdout, NULL, _IOLBF, 0);
    if (argc != 3 || (strcmp(argv[2], "scenario") != 0 && strcmp(argv[2], "getters") != 0)) {
        fprintf(stderr, "usage: host_twolib LIBSSL scenario|getters\n");
        return 2;
    }
    CHECK_EQ(loaded_openssl_objects(), 0, "no libssl/libcrypto loaded before dlopen");
    guessed = dlopen("libssl.so.3", RTLD_LOCAL | RTLD_NOW);
    owner = guessed ? dlopen(argv[1], RTLD_LOCAL | RTLD_NOW) : NULL;
    if (owner == NULL) {
        printf("CHECK FAIL dlopen: %s\n", dlerror());
        return 1;
    }
    check(dlsym(RTLD_DEFAULT, "SSL_new") == NULL, "both libssl copies are local");
    if (!ossl_load(owner) || !bind_six(owner))
        return 1;
    check(F(OpenSSL_version_num)() < 0x30000000L, "the ctxs' OpenSSL is 1.x (0x%lx), not the guessed 3.x",
          F(OpenSSL_version_num)());
    if (strcmp(argv[2], "scenario") == 0)
        run_scenario("twolib");
    else
        getters_case();
    printf("RESULT %s\n", h_failed() ? "FAIL" : "PASS");
    return h_failed() ? 1 : 0;
}
