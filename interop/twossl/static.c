/*
 * interop/twossl/static.c -- OpenSSL 1.1.1w linked statically (libssl.a,
 * libcrypto.a): the troubleshooting case "a statically linked OpenSSL cannot
 * be interposed". SSL_CTX_sess_set_*_cb are resolved at link time inside the
 * executable, so LD_PRELOAD=libsesscb.so changes nothing: the run must
 * behave exactly as without it, and sesscb sees no call at all.
 *
 *   twossl-static111 <cert> <key>
 */
#include "exercise.h"

int main(int argc, char **argv)
{
    if (argc != 3) {
        fprintf(stderr, "usage: %s cert key\n", argv[0]);
        return 2;
    }
    setvbuf(stdout, NULL, _IOLBF, 0);
    return ex_run("static111", "libssl.so.1.1", argv[1], argv[2]) ? 1 : 0;
}
