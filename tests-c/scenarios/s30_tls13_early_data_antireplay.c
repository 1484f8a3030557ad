/* Scenario 30: TLS1.3 early data with anti-replay (docs/openssl-behaviour.md,
 * "The get callback", and the "TLS 1.3 anti-replay" remove in "The remove
 * callback").
 *
 * The server sets max_early_data > 0 (anti-replay on by default), so it uses
 * stateful tickets and caches them even though we never rely on remove_cb for
 * that. A resumption consumes the ticket: SSL_CTX_remove_session(session_ctx,
 * sess) fires remove x1 (single use).
 *  A  internal lookup+store, get[A] returns NULL: resume -> internal hit,
 *     remove x1, resumed, new x1. Replaying the same ticket -> internal miss,
 *     get x1 (NULL), no remove, not resumed (full handshake, new x2).
 *  B  SERVER|NO_INTERNAL_LOOKUP, get returns the kept object: get x1, then
 *     remove x1 (found in the cache), resumed.
 *  C  SERVER|NO_INTERNAL (no store): get x1, remove x1 (remove_session
 *     returns 0: not cached) and NOT resumed.
 *  D  as A but with real 0-RTT data: early data accepted, remove x1; the
 *     replayed 0-RTT attempt is rejected (full handshake). */
#include "../harness.h"

#include <string.h>

static unsigned int s30_idctr;

static int s30_gen_id(SSL *ssl, unsigned char *id, unsigned int *len)
{
    unsigned int n = __atomic_add_fetch(&s30_idctr, 1, __ATOMIC_SEQ_CST);
    (void)ssl;
    memset(id, 0, *len);
    id[0] = (unsigned char)n;
    id[1] = (unsigned char)(n >> 8);
    id[2] = 0x30;
    return 1;
}

struct s30_snap { int n_new, n_get, n_remove; };

static void s30_snap(struct s30_snap *s)
{
    s->n_new = h_cfg[H_A].n_new;
    s->n_get = h_cfg[H_A].n_get;
    s->n_remove = h_cfg[H_A].n_remove;
}

/* 0-RTT attempt: client writes one early byte, server reads early data.
 * Returns the server's early data status (SSL_EARLY_DATA_*), -1 on error. */
static int s30_early(h_pair *p, int *got_early)
{
    unsigned char buf[16];
    size_t w = 0, r = 0;
    int round, st, srv_done = 0;

    *got_early = 0;
    if (SSL_write_early_data(p->c, "E", 1, &w) != 1) {
        ev("early: SSL_write_early_data failed");
        ERR_clear_error();
        return -1;
    }
    for (round = 0; round < 32 && !srv_done; round++) {
        st = SSL_read_early_data(p->s, buf, sizeof(buf), &r);
        if (st == SSL_READ_EARLY_DATA_SUCCESS) {
            *got_early += (int)r;
            continue;
        }
        if (st == SSL_READ_EARLY_DATA_FINISH) {
            srv_done = 1;
            break;
        }
        st = SSL_get_error(p->s, 0);
        if (st != SSL_ERROR_WANT_READ && st != SSL_ERROR_WANT_WRITE) {
            ev("early: server SSL_read_early_data error");
            ERR_clear_error();
            return -1;
        }
        (void)SSL_do_handshake(p->c);
    }
    ERR_clear_error();
    return SSL_get_early_data_status(p->s);
}

/* Cache mode, early data, session ids and callbacks A for one variant. */
static void s30_configure_server(SSL_CTX *sctx, char variant)
{
    long mode = SSL_SESS_CACHE_SERVER;

    if (variant == 'B')
        mode |= SSL_SESS_CACHE_NO_INTERNAL_LOOKUP;
    if (variant == 'C')
        mode |= SSL_SESS_CACHE_NO_INTERNAL;
    SSL_CTX_set_max_early_data(sctx, 1024);
    SSL_CTX_set_session_cache_mode(sctx, mode);
    SSL_CTX_set_generate_session_id(sctx, s30_gen_id);
    SSL_CTX_set_info_callback(sctx, h_info_cb);
    h_set_all(sctx, H_A);
    if (variant == 'B' || variant == 'C') {
        h_cfg[H_A].new_ret = 1;
        h_cfg[H_A].get_mode = H_GET_KEPT;
    }
}

/* The full handshake that issues the ticket; returns the client's session. */
static SSL_SESSION *s30_full(SSL_CTX *cctx, SSL_CTX *sctx, char variant, const char *label)
{
    SSL_SESSION *c1;
    h_pair *p;
    long number;
    int ok;

    p = h_connect(cctx, sctx, NULL, NULL, "full", &ok);
    CHECK(ok, "%s: full ok", label);
    CHECK_EQ(h_cfg[H_A].n_new, 2, "%s: full: new x2", label);
    number = h_sess_number(sctx);
    ev("number(sctx)=%ld", number);
    CHECK_EQ(number, variant == 'C' ? 0 : 2,
             "%s: stateful tickets cached (max_early_data, anti-replay)", label);
    c1 = h_client_session(p);
    h_pair_free(p, 1);
    ev("client ticket #%ld max_early_data=%u", h_serial(c1),
       (unsigned)SSL_SESSION_get_max_early_data(c1));
    CHECK(SSL_SESSION_get_max_early_data(c1) > 0, "%s: ticket allows early data", label);
    return c1;
}

/* One resumption attempt with ticket c1 (with one 0-RTT byte in variant D):
 * the callback counts before and after, and what the server saw. */
struct s30_attempt {
    struct s30_snap before, after;
    int ok, sreused, early_status, early_bytes;
};

static h_pair *s30_resume(SSL_CTX *cctx, SSL_CTX *sctx, SSL_SESSION *c1, char variant, const char *what,
                          struct s30_attempt *at)
{
    h_pair *p;

    s30_snap(&at->before);
    p = h_pair_new(cctx, sctx, NULL, c1);
    at->early_bytes = 0;
    at->early_status = -2;
    if (variant == 'D') {
        at->early_status = s30_early(p, &at->early_bytes);
        ev("early: status=%d bytes=%d", at->early_status, at->early_bytes);
    }
    at->ok = h_pair_handshake(p);
    h_pair_print(p, what);
    if (at->ok)
        (void)h_pair_server_to_client(p);
    at->sreused = SSL_session_reused(p->s);
    s30_snap(&at->after);
    return p;
}

/* First use of the ticket: consumed (remove x1). */
static void s30_first_use(SSL_CTX *cctx, SSL_CTX *sctx, SSL_SESSION *c1, char variant, const char *label)
{
    struct s30_attempt at;
    h_pair *p = s30_resume(cctx, sctx, c1, variant, "resume1", &at);

    CHECK(at.ok, "%s: resume1 handshake ok", label);
    CHECK_EQ(at.after.n_get - at.before.n_get, (variant == 'B' || variant == 'C') ? 1 : 0,
             "%s: resume1 get", label);
    CHECK_EQ(at.after.n_remove - at.before.n_remove, 1, "%s: resume1 remove x1 (anti-replay, single use)",
             label);
    CHECK_EQ(at.sreused, variant == 'C' ? 0 : 1, "%s: resume1 reused", label);
    CHECK_EQ(at.after.n_new - at.before.n_new, variant == 'C' ? 2 : 1, "%s: resume1 new", label);
    if (variant == 'D') {
        CHECK_EQ(at.early_status, SSL_EARLY_DATA_ACCEPTED, "D: early data accepted");
        CHECK_EQ(at.early_bytes, 1, "D: early byte received");
    }
    ev("number(sctx)=%ld", h_sess_number(sctx));
    h_pair_free(p, 1);
}

/* Replay of the consumed ticket: a full handshake. */
static void s30_replay(SSL_CTX *cctx, SSL_CTX *sctx, SSL_SESSION *c1, char variant, const char *label)
{
    struct s30_attempt at;
    h_pair *p = s30_resume(cctx, sctx, c1, variant, "replay", &at);

    CHECK(at.ok, "%s: replay handshake ok", label);
    CHECK_EQ(at.after.n_get - at.before.n_get, 1, "%s: replay: internal miss -> get x1", label);
    CHECK_EQ(at.after.n_remove - at.before.n_remove, 0, "%s: replay: remove x0", label);
    CHECK_EQ(at.sreused, 0, "%s: replay: not resumed", label);
    CHECK_EQ(at.after.n_new - at.before.n_new, 2, "%s: replay: full handshake, new x2", label);
    if (variant == 'D') {
        CHECK_EQ(at.early_status, SSL_EARLY_DATA_REJECTED, "D: replayed early data rejected");
        CHECK_EQ(at.early_bytes, 0, "D: no early byte on replay");
    }
    ev("number(sctx)=%ld", h_sess_number(sctx));
    h_pair_free(p, 1);
}

static void s30_run(char variant)
{
    SSL_CTX *sctx = h_server_ctx("sctx", TLS1_3_VERSION, TLS1_3_VERSION);
    SSL_CTX *cctx = h_client_ctx("cctx", TLS1_3_VERSION, TLS1_3_VERSION);
    SSL_SESSION *c1;
    char label[8];

    snprintf(label, sizeof(label), "%c", variant);
    ev("--- variant %s", label);
    h_cfg_reset();
    s30_configure_server(sctx, variant);

    c1 = s30_full(cctx, sctx, variant, label);
    s30_first_use(cctx, sctx, c1, variant, label);
    if (variant == 'A' || variant == 'D')
        s30_replay(cctx, sctx, c1, variant, label);

    h_sess_free(c1);
    h_free_kept(H_A);
    h_ctx_free(cctx);
    h_ctx_free(sctx);
}

int scenario_30(void)
{
    s30_run('A');
    s30_run('B');
    s30_run('C');
    s30_run('D');
    return h_result();
}
