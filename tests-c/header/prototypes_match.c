/* Compile-time proof that sesscb.h declares the six functions with exactly
 * OpenSSL's prototypes: a conflicting redeclaration is a hard error in C and
 * C++, and each assignment below must type-check without a cast. Compiled as
 * C99 and C++ against 1.1.1w's and 3.x's headers by `make header-check`. */
#include <openssl/ssl.h>
#include "sesscb.h"

int sesscb_prototypes_match(void);

int sesscb_prototypes_match(void)
{
    void (*set_new)(SSL_CTX *, int (*)(SSL *, SSL_SESSION *)) = SSL_CTX_sess_set_new_cb;
    void (*set_remove)(SSL_CTX *, void (*)(SSL_CTX *, SSL_SESSION *)) = SSL_CTX_sess_set_remove_cb;
    void (*set_get)(SSL_CTX *, SSL_SESSION *(*)(SSL *, const unsigned char *, int, int *)) =
        SSL_CTX_sess_set_get_cb;
    int (*(*get_new)(SSL_CTX *))(SSL *, SSL_SESSION *) = SSL_CTX_sess_get_new_cb;
    void (*(*get_remove)(SSL_CTX *))(SSL_CTX *, SSL_SESSION *) = SSL_CTX_sess_get_remove_cb;
    SSL_SESSION *(*(*get_get)(SSL_CTX *))(SSL *, const unsigned char *, int, int *) =
        SSL_CTX_sess_get_get_cb;
    struct sesscb_stats stats;
    const char *(*version)(void) = sesscb_version;
    int (*read_stats)(const SSL_CTX *, struct sesscb_stats *) = sesscb_stats;

    stats.size = (uint32_t)sizeof stats;
    return (set_new != NULL) + (set_remove != NULL) + (set_get != NULL) + (get_new != NULL) +
           (get_remove != NULL) + (get_get != NULL) + (version != NULL) + (read_stats != NULL) +
           (int)(stats.size > 0);
}
