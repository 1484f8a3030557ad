/* Scenario 33: TLS1.2 client resumption with ticket renewal (the "TLS 1.2
 * client, renewed ticket" remove; docs/openssl-behaviour.md, "The remove
 * callback").
 *
 * sctx: TLS1.2 server with a ticket key callback (SSL_CTX_set_tlsext_ticket_key_cb,
 * present in 1.1.1 and 3.x; deprecated in 3.0, hence OPENSSL_SUPPRESS_DEPRECATED
 * in this file only). Decryption returns 1 (no renewal) or 2 (renew).
 * cctx: SSL_SESS_CACHE_CLIENT, callbacks B.
 * Expect:
 *  - full handshake: client new[B] x1 (idlen 32 = hash of the ticket),
 *    server new x0 (ticket => empty server id).
 *  - resumption, key cb returns 1: resumed, no new ticket, remove x0, new x0,
 *    SSL_get_session(c) is the application's object.
 *  - resumption, key cb returns 2: resumed, the server sends a new ticket:
 *    remove[B] x1 with ctx=cctx for the old session (the application's
 *    object, now not resumable), new x0 (hit), SSL_get_session(c) is a new
 *    serial (a dup carrying the new ticket). */
#define OPENSSL_SUPPRESS_DEPRECATED 1
#include "../harness.h"

#include <string.h>
#include <openssl/hmac.h>
#include <openssl/rand.h>

static const unsigned char s33_name[16] = "sesscb-s33-key-";
static unsigned char s33_aes[32];
static unsigned char s33_hmac[32];
static int s33_renew;
static int s33_enc_calls, s33_dec_calls;

static int s33_ticket_cb(SSL *s, unsigned char key_name[16], unsigned char *iv,
                         EVP_CIPHER_CTX *ectx, HMAC_CTX *hctx, int enc)
{
    (void)s;
    if (enc) {
        s33_enc_calls++;
        memcpy(key_name, s33_name, 16);
        if (RAND_bytes(iv, 16) != 1
                || EVP_EncryptInit_ex(ectx, EVP_aes_256_cbc(), NULL, s33_aes, iv) != 1
                || HMAC_Init_ex(hctx, s33_hmac, sizeof(s33_hmac), EVP_sha256(), NULL) != 1)
            return -1;
        return 1;
    }
    s33_dec_calls++;
    if (memcmp(key_name, s33_name, 16) != 0)
        return 0;
    if (HMAC_Init_ex(hctx, s33_hmac, sizeof(s33_hmac), EVP_sha256(), NULL) != 1
            || EVP_DecryptInit_ex(ectx, EVP_aes_256_cbc(), NULL, s33_aes, iv) != 1)
        return -1;
    return s33_renew ? 2 : 1;
}

int scenario_33(void)
{
    SSL_CTX *sctx = h_server_ctx("sctx", TLS1_2_VERSION, TLS1_2_VERSION);
    SSL_CTX *cctx = h_client_ctx("cctx", TLS1_2_VERSION, TLS1_2_VERSION);
    SSL_SESSION *x;
    h_pair *p;
    int ok;
    long xs, cur;

    memset(s33_aes, 0x33, sizeof(s33_aes));
    memset(s33_hmac, 0x5a, sizeof(s33_hmac));
    if (SSL_CTX_set_tlsext_ticket_key_cb(sctx, s33_ticket_cb) != 1)
        ev("SSL_CTX_set_tlsext_ticket_key_cb failed");
    SSL_CTX_set_session_cache_mode(cctx, SSL_SESS_CACHE_CLIENT);
    h_set_all(sctx, H_A);
    h_set_all(cctx, H_B);

    ev("--- full handshake");
    p = h_connect(cctx, sctx, NULL, NULL, "full", &ok);
    CHECK(ok, "full: handshake ok");
    CHECK_EQ(h_cfg[H_A].n_new, 0, "full: server new x0 (ticket)");
    CHECK_EQ(h_cfg[H_B].n_new, 1, "full: client new[B] x1");
    x = h_client_session(p);
    xs = h_serial(x);
    CHECK(xs == h_cfg[H_B].last_new_serial, "full: new[B] got the client's session X");
    CHECK(SSL_SESSION_has_ticket(x), "full: X has a ticket");
    CHECK_EQ(s33_enc_calls, 1, "full: ticket key cb encrypt x1");
    CHECK_EQ(h_sess_number(cctx), 1, "full: number(cctx)");
    h_pair_free(p, 1);

    ev("--- resumption, ticket key cb returns 1 (no renewal)");
    s33_renew = 0;
    p = h_connect(cctx, sctx, NULL, x, "resume-keep", &ok);
    CHECK(ok, "keep: handshake ok");
    CHECK_EQ(SSL_session_reused(p->c), 1, "keep: reused (client)");
    CHECK_EQ(s33_enc_calls, 1, "keep: no new ticket encrypted");
    CHECK_EQ(h_cfg[H_B].n_remove, 0, "keep: remove x0");
    CHECK_EQ(h_cfg[H_B].n_new, 1, "keep: new x0");
    cur = h_serial(SSL_get_session(p->c));
    CHECK(cur == xs, "keep: SSL_get_session(c) is still X");
    CHECK_EQ(SSL_SESSION_is_resumable(x), 1, "keep: X still resumable");
    h_pair_free(p, 1);

    ev("--- resumption, ticket key cb returns 2 (renew)");
    s33_renew = 1;
    p = h_connect(cctx, sctx, NULL, x, "resume-renew", &ok);
    CHECK(ok, "renew: handshake ok");
    CHECK_EQ(SSL_session_reused(p->c), 1, "renew: reused (client)");
    CHECK_EQ(s33_enc_calls, 2, "renew: a new ticket was encrypted");
    CHECK_EQ(h_cfg[H_B].n_remove, 1, "renew: remove[B] x1");
    CHECK(h_cfg[H_B].last_remove_serial == xs, "renew: removed the old session X");
    CHECK(h_cfg[H_B].last_remove_ctx == cctx, "renew: remove ctx == cctx");
    CHECK_EQ(SSL_SESSION_is_resumable(x), 0, "renew: X not resumable any more");
    CHECK_EQ(h_cfg[H_B].n_new, 1, "renew: new x0 (hit)");
    cur = h_serial(SSL_get_session(p->c));
    ev("SSL_get_session(c)=#%ld (X=#%ld)", cur, xs);
    CHECK(cur != xs && cur != 0, "renew: SSL_get_session(c) is a new serial");
    CHECK_EQ(h_sess_number(cctx), 0, "renew: number(cctx) (X removed, renewed session not added)");
    h_pair_free(p, 1);

    CHECK_EQ(h_cfg[H_A].n_new + h_cfg[H_A].n_get + h_cfg[H_A].n_remove, 0, "server callbacks never ran");
    h_sess_free(x);
    h_ctx_free(cctx);
    h_ctx_free(sctx);
    return h_result();
}
