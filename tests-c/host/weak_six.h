/* weak_six.h -- the six session-callback functions referenced weakly.
 *
 * A host program that is not linked to libssl includes this after the six
 * are declared (<openssl/ssl.h> or sesscb.h): under LD_PRELOAD the plain
 * names bind to sesscb, without it they stay NULL and the program can tell.
 */
#ifndef HOST_WEAK_SIX_H
#define HOST_WEAK_SIX_H

#pragma weak SSL_CTX_sess_set_new_cb
#pragma weak SSL_CTX_sess_set_remove_cb
#pragma weak SSL_CTX_sess_set_get_cb
#pragma weak SSL_CTX_sess_get_new_cb
#pragma weak SSL_CTX_sess_get_remove_cb
#pragma weak SSL_CTX_sess_get_get_cb

#endif
