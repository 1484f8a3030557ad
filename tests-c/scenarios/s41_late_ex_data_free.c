/* Scenario 41: an SSL_CTX ex_data free function registered after sesscb's
 * own index (the application registers it after its first call to one of
 * the six). SSL_CTX_free flushes the cache (remove callbacks), then runs
 * every ex_data free function (1.1.1: ascending index; 3.x: by priority,
 * then index), then frees the cache. Inside the late free function the ctx
 * is still the application's: the three getters return its functions and
 * SSL_CTX_remove_session reaches its remove callback (for a session that is
 * not cached, both versions call it: scenario 36 case 1).
 *  a. ctx with 2 cached sessions: flush remove x2, then the late free
 *     function: getters exact, remove_session -> remove x1 more.
 *  b. the same after the callbacks were replaced (B) and one cleared (new).
 *  c. a new ctx made after the frees: getters NULL until it sets its own.
 *  d. the late free function first frees another ctx (with callbacks and a
 *     cached session), then replaces the remove callback: the getters and
 *     SSL_CTX_remove_session follow the replacement. */
#include "../harness.h"

#include <string.h>

static SSL_CTX *s41_target;    /* the ctx whose late free we watch */
static SSL_SESSION *s41_probe; /* never cached: removed from the late free */
static int s41_in_free, s41_removes, s41_removes_in_free, s41_free_calls;
static h_new_fn s41_want_new;
static h_get_fn s41_want_get;
static SSL_CTX *s41_child;     /* d: freed from inside the late free */
static int s41_replace;        /* d: replace the remove callback there */

static void s41_remove(SSL_CTX *ctx, SSL_SESSION *sess)
{
    (void)ctx;
    s41_removes++;
    s41_removes_in_free += s41_in_free;
    ev("remove sess=#%ld in_late_free=%d", h_serial(sess), s41_in_free);
}

static void s41_remove2(SSL_CTX *ctx, SSL_SESSION *sess)
{
    ev("remove2 sess=#%ld", h_serial(sess));
    s41_remove(ctx, sess);
}

static void s41_late_free(void *parent, void *ptr, CRYPTO_EX_DATA *ad, int idx, long argl, void *argp)
{
    SSL_CTX *ctx = parent;
    int r;
    (void)ptr; (void)ad; (void)idx; (void)argl; (void)argp;
    if (ctx != s41_target)
        return;
    s41_free_calls++;
    ev("late ex_data free_func: removes so far=%d", s41_removes);
    if (s41_child != NULL) {
        SSL_CTX *child = s41_child;
        s41_child = NULL;
        h_ctx_free(child);
    }
    if (s41_replace)
        SSL_CTX_sess_set_remove_cb(ctx, s41_remove2);
    CHECK(SSL_CTX_sess_get_new_cb(ctx) == s41_want_new, "late free: get_new_cb is the application's");
    CHECK(SSL_CTX_sess_get_get_cb(ctx) == s41_want_get, "late free: get_get_cb is the application's");
    CHECK(SSL_CTX_sess_get_remove_cb(ctx) == (s41_replace ? s41_remove2 : s41_remove),
          "late free: get_remove_cb is the application's");
    s41_in_free = 1;
    r = SSL_CTX_remove_session(ctx, s41_probe);
    s41_in_free = 0;
    ev("late free: remove_session=%d", r);
}

static SSL_SESSION *s41_sess(unsigned char tag)
{
    unsigned char id[32];
    SSL_SESSION *s = SSL_SESSION_new();
    if (s == NULL)
        abort();
    SSL_SESSION_set_protocol_version(s, TLS1_2_VERSION);
    memset(id, 0, sizeof(id));
    id[0] = tag;
    id[1] = 0x41;
    if (!SSL_SESSION_set1_id(s, id, sizeof(id)))
        abort();
    return s;
}

/* Frees `ctx` holding `ncached` cached sessions; checks what the late free
 * function saw. */
static void s41_free_and_check(SSL_CTX *ctx, int ncached, const char *part)
{
    int i;
    SSL_SESSION *s;
    for (i = 0; i < ncached; i++) {
        s = s41_sess((unsigned char)(0x10 * (part[0] - 'a' + 1) + i));
        CHECK_EQ(SSL_CTX_add_session(ctx, s), 1, "%s: session %d cached", part, i + 1);
        SSL_SESSION_free(s);
    }
    s41_target = ctx;
    s41_removes = s41_removes_in_free = s41_free_calls = 0;
    h_ctx_free(ctx);
    s41_target = NULL;
    CHECK_EQ(s41_free_calls, 1, "%s: the late free function ran once", part);
    CHECK_EQ(s41_removes, ncached + 1, "%s: remove x%d (flush) + x1 (from the late free)", part, ncached);
    CHECK_EQ(s41_removes_in_free, 1, "%s: the late free function reached the remove callback", part);
}

static void s41_part_d(void)
{
    SSL_CTX *ctx;
    ev("--- d: another ctx freed, then the remove callback replaced, inside the late free");
    ctx = h_server_ctx("ctxD", 0, 0);
    s41_child = h_server_ctx("child", 0, 0);
    h_set_all(s41_child, H_C);
    CHECK_EQ(SSL_CTX_add_session(s41_child, s41_probe), 1, "d: child caches the probe");
    SSL_CTX_sess_set_new_cb(ctx, h_new_A);
    SSL_CTX_sess_set_remove_cb(ctx, s41_remove);
    s41_want_new = h_new_A;
    s41_want_get = NULL;
    s41_replace = 1;
    s41_free_and_check(ctx, 1, "d");
    s41_replace = 0;
    CHECK_EQ(h_cfg[H_C].n_remove, 1, "d: the child's flush reached its own remove callback");
}

int scenario_41(void)
{
    SSL_CTX *first = h_server_ctx("first", 0, 0);
    SSL_CTX *ctx;
    int idx;

    /* The process's first call to one of the six, then the application's
     * ex_data index: registered after sesscb's. */
    h_set_all(first, H_B);
    idx = SSL_CTX_get_ex_new_index(0, NULL, NULL, NULL, s41_late_free);
    CHECK(idx >= 0, "ex_data index registered");
    s41_probe = s41_sess(0x01);

    ev("--- a: all three set");
    ctx = h_server_ctx("ctxA", 0, 0);
    SSL_CTX_sess_set_new_cb(ctx, h_new_A);
    SSL_CTX_sess_set_get_cb(ctx, h_get_A);
    SSL_CTX_sess_set_remove_cb(ctx, s41_remove);
    s41_want_new = h_new_A;
    s41_want_get = h_get_A;
    s41_free_and_check(ctx, 2, "a");

    ev("--- b: replaced, one cleared");
    ctx = h_server_ctx("ctxB", 0, 0);
    h_set_all(ctx, H_A);
    SSL_CTX_sess_set_get_cb(ctx, h_get_B);
    SSL_CTX_sess_set_new_cb(ctx, NULL);
    SSL_CTX_sess_set_remove_cb(ctx, s41_remove);
    s41_want_new = NULL;
    s41_want_get = h_get_B;
    s41_free_and_check(ctx, 1, "b");

    ev("--- c: a new ctx after the frees");
    ctx = h_server_ctx("ctxC", 0, 0);
    CHECK(SSL_CTX_sess_get_new_cb(ctx) == NULL && SSL_CTX_sess_get_get_cb(ctx) == NULL &&
              SSL_CTX_sess_get_remove_cb(ctx) == NULL,
          "c: getters NULL");
    SSL_CTX_sess_set_remove_cb(ctx, s41_remove);
    CHECK(SSL_CTX_sess_get_remove_cb(ctx) == s41_remove && SSL_CTX_sess_get_new_cb(ctx) == NULL,
          "c: its own remove callback only");
    s41_want_new = NULL;
    s41_want_get = NULL;
    s41_free_and_check(ctx, 0, "c");

    s41_part_d();

    SSL_SESSION_free(s41_probe);
    h_ctx_free(first);
    return h_result();
}
