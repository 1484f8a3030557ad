/* Scenario 01: getters on a fresh ctx return NULL; set(A) -> A (not a
 * trampoline), set(B) -> B, set(NULL) -> NULL; for all three callbacks, and
 * a second ctx stays independent throughout. */
#include "../harness.h"

#include <string.h>

static const char *name_new(h_new_fn f)
{
    int t;
    if (f == NULL)
        return "NULL";
    for (t = 0; t < H_NTAGS; t++)
        if (f == h_new_cb[t])
            return t == H_A ? "A" : t == H_B ? "B" : "tag?";
    return "OTHER";
}

static const char *name_get(h_get_fn f)
{
    int t;
    if (f == NULL)
        return "NULL";
    for (t = 0; t < H_NTAGS; t++)
        if (f == h_get_cb[t])
            return t == H_A ? "A" : t == H_B ? "B" : "tag?";
    return "OTHER";
}

static const char *name_remove(h_remove_fn f)
{
    int t;
    if (f == NULL)
        return "NULL";
    for (t = 0; t < H_NTAGS; t++)
        if (f == h_remove_cb[t])
            return t == H_A ? "A" : t == H_B ? "B" : "tag?";
    return "OTHER";
}

static void show(SSL_CTX *ctx, const char *when, const char *want_new,
                 const char *want_get, const char *want_remove)
{
    const char *n = name_new(SSL_CTX_sess_get_new_cb(ctx));
    const char *g = name_get(SSL_CTX_sess_get_get_cb(ctx));
    const char *r = name_remove(SSL_CTX_sess_get_remove_cb(ctx));
    ev("%s %s: new=%s get=%s remove=%s", h_ctx_name(ctx), when, n, g, r);
    CHECK(strcmp(n, want_new) == 0, "%s %s: new getter %s", h_ctx_name(ctx), when, want_new);
    CHECK(strcmp(g, want_get) == 0, "%s %s: get getter %s", h_ctx_name(ctx), when, want_get);
    CHECK(strcmp(r, want_remove) == 0, "%s %s: remove getter %s", h_ctx_name(ctx), when, want_remove);
}

int scenario_01(void)
{
    SSL_CTX *c1 = h_server_ctx("ctx1", 0, 0);
    SSL_CTX *c2 = h_client_ctx("ctx2", 0, 0);

    show(c1, "fresh", "NULL", "NULL", "NULL");
    show(c2, "fresh", "NULL", "NULL", "NULL");

    /* one callback at a time */
    SSL_CTX_sess_set_new_cb(c1, h_new_A);
    show(c1, "set new A", "A", "NULL", "NULL");
    SSL_CTX_sess_set_new_cb(c1, h_new_B);
    show(c1, "set new B", "B", "NULL", "NULL");
    SSL_CTX_sess_set_new_cb(c1, NULL);
    show(c1, "set new NULL", "NULL", "NULL", "NULL");

    SSL_CTX_sess_set_get_cb(c1, h_get_A);
    show(c1, "set get A", "NULL", "A", "NULL");
    SSL_CTX_sess_set_get_cb(c1, h_get_B);
    show(c1, "set get B", "NULL", "B", "NULL");
    SSL_CTX_sess_set_get_cb(c1, NULL);
    show(c1, "set get NULL", "NULL", "NULL", "NULL");

    SSL_CTX_sess_set_remove_cb(c1, h_remove_A);
    show(c1, "set remove A", "NULL", "NULL", "A");
    SSL_CTX_sess_set_remove_cb(c1, h_remove_B);
    show(c1, "set remove B", "NULL", "NULL", "B");
    SSL_CTX_sess_set_remove_cb(c1, NULL);
    show(c1, "set remove NULL", "NULL", "NULL", "NULL");

    /* all three, two ctxs, independence */
    h_set_all(c1, H_A);
    show(c1, "all A", "A", "A", "A");
    show(c2, "untouched", "NULL", "NULL", "NULL");
    h_set_all(c2, H_B);
    show(c2, "all B", "B", "B", "B");
    show(c1, "after ctx2 set", "A", "A", "A");
    SSL_CTX_sess_set_get_cb(c1, h_get_B);
    show(c1, "get B", "A", "B", "A");
    /* setting the same value twice */
    SSL_CTX_sess_set_get_cb(c1, h_get_B);
    show(c1, "get B again", "A", "B", "A");
    h_clear_all(c2);
    show(c2, "cleared", "NULL", "NULL", "NULL");
    show(c1, "after ctx2 cleared", "A", "B", "A");
    h_clear_all(c1);
    show(c1, "cleared", "NULL", "NULL", "NULL");
    /* set again after clearing */
    h_set_all(c1, H_B);
    show(c1, "all B", "B", "B", "B");

    CHECK_EQ(h_cfg[H_A].n_new + h_cfg[H_A].n_get + h_cfg[H_A].n_remove, 0, "no callback invoked (A)");
    h_ctx_free(c1);
    h_ctx_free(c2);
    CHECK_EQ(h_cfg[H_B].n_new + h_cfg[H_B].n_get + h_cfg[H_B].n_remove, 0, "no callback invoked (B)");
    return h_result();
}
