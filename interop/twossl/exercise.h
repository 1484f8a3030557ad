/*
 * interop/twossl/exercise.h -- one OpenSSL's session-callback workout.
 *
 * Included (static everything) by main.c, compiled against one OpenSSL
 * (system 3.0 or 3.5), and by plugin.c, compiled against another (1.1.1w or
 * 4.0): each copy uses only the OpenSSL it was compiled and linked against,
 * with its own callbacks, its own application-side cache and its own
 * counters.
 *
 * Trace rules (the driver diffs stdout of a plain run and an LD_PRELOAD run):
 * stdout is deterministic -- no pointers, times or pids; every callback
 * invocation, every handshake outcome and every check is one line. stderr
 * carries one `PATH <lib> sesscb|direct` line per library: whether the real
 * libssl field holds something other than the application's pointer after a
 * set (i.e. whether sesscb's trampolines are installed for that library).
 *
 * What is checked (CHECK lines, also in the plain run):
 *  - TLS 1.2 session ids and TLS 1.3 stateful tickets (SSL_OP_NO_TICKET),
 *    an external-only server cache (SSL_SESS_CACHE_NO_INTERNAL) and a client
 *    cache fed by the client's new-session callback;
 *  - full handshake, resumption, server-side removal (remove callback), a
 *    resumption attempt that must miss, NULL-setting a callback;
 *  - every getter returns exactly the application's pointer (or NULL);
 *  - the setters touch nothing else in the SSL_CTX (timeout, cache mode and
 *    size, options, verify mode, the app's own ex_data, session stats);
 *  - exact callback counts per step.
 */
#ifndef TWOSSL_EXERCISE_H
#define TWOSSL_EXERCISE_H

#include <dlfcn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/opensslv.h>
#include <openssl/ssl.h>

#define EX_MAX_SESS 32

struct ex_state {
    const char *tag;      /* "sys", "35", "111", "40": prefix of every trace line */
    const char *soname;   /* the libssl this copy is linked against */
    int checks, failed;
    /* application-side server cache (external only) */
    struct { unsigned char id[SSL_MAX_SSL_SESSION_ID_LENGTH]; unsigned int len; SSL_SESSION *sess; } cache[EX_MAX_SESS];
    int ncache;
    SSL_SESSION *client_sess; /* latest session handed to the client new cb */
    int srv_new, srv_get, srv_get_hit, srv_remove, cli_new, cli_remove;
    int app_ex_index;
    int path_reported;
};

static struct ex_state EX;

#define EX_OUT(...) do { printf("[%s] ", EX.tag); printf(__VA_ARGS__); printf("\n"); fflush(stdout); } while (0)
#define EX_CHECK(cond, what) do { EX.checks++; if (cond) { EX_OUT("CHECK ok %s", what); } \
    else { EX.failed++; EX_OUT("CHECK FAIL %s", what); } } while (0)

static void ex_errors(const char *where)
{
    unsigned long e;
    while ((e = ERR_get_error()) != 0) {
        char buf[256];
        ERR_error_string_n(e, buf, sizeof buf);
        EX_OUT("openssl error in %s: %s", where, buf);
    }
}

/* ---- the application's callbacks -------------------------------------- */

static int ex_srv_new(SSL *ssl, SSL_SESSION *sess)
{
    unsigned int len = 0;
    const unsigned char *id = SSL_SESSION_get_id(sess, &len);
    (void)ssl;
    EX.srv_new++;
    if (EX.ncache >= EX_MAX_SESS || len > SSL_MAX_SSL_SESSION_ID_LENGTH) {
        EX_OUT("srv new: cache full");
        return 0; /* OpenSSL drops its reference */
    }
    memcpy(EX.cache[EX.ncache].id, id, len);
    EX.cache[EX.ncache].len = len;
    EX.cache[EX.ncache].sess = sess; /* keep OpenSSL's reference: return 1 */
    EX.ncache++;
    EX_OUT("srv new #%d idlen=%u cached=%d", EX.srv_new, len, EX.ncache);
    return 1;
}

static SSL_SESSION *ex_srv_get(SSL *ssl, const unsigned char *id, int len, int *copy)
{
    int i;
    (void)ssl;
    EX.srv_get++;
    for (i = 0; i < EX.ncache; i++) {
        if ((int)EX.cache[i].len == len && memcmp(EX.cache[i].id, id, (size_t)len) == 0) {
            EX.srv_get_hit++;
            *copy = 1; /* OpenSSL takes its own reference */
            EX_OUT("srv get #%d idlen=%d hit", EX.srv_get, len);
            return EX.cache[i].sess;
        }
    }
    EX_OUT("srv get #%d idlen=%d miss", EX.srv_get, len);
    return NULL;
}

static void ex_srv_remove(SSL_CTX *ctx, SSL_SESSION *sess)
{
    int i;
    (void)ctx;
    EX.srv_remove++;
    for (i = 0; i < EX.ncache; i++) {
        if (EX.cache[i].sess == sess) {
            SSL_SESSION_free(sess);
            EX.cache[i] = EX.cache[EX.ncache - 1];
            EX.ncache--;
            EX_OUT("srv remove #%d found cached=%d", EX.srv_remove, EX.ncache);
            return;
        }
    }
    EX_OUT("srv remove #%d not-cached", EX.srv_remove);
}

static int ex_cli_new(SSL *ssl, SSL_SESSION *sess)
{
    (void)ssl;
    EX.cli_new++;
    if (EX.client_sess)
        SSL_SESSION_free(EX.client_sess);
    EX.client_sess = sess; /* keep the reference */
    EX_OUT("cli new #%d resumable=%d", EX.cli_new, SSL_SESSION_is_resumable(sess));
    return 1;
}

static void ex_cli_remove(SSL_CTX *ctx, SSL_SESSION *sess)
{
    (void)ctx;
    (void)sess;
    EX.cli_remove++;
    EX_OUT("cli remove #%d", EX.cli_remove);
}

/* ---- helpers ------------------------------------------------------------ */

/* What a getter returned, relative to what the application set. */
static const char *ex_which(void *got, void *app)
{
    if (got == NULL)
        return "null";
    return got == app ? "app" : "OTHER";
}

/* The real libssl getter of this copy's library, bypassing any interposer:
 * dlsym on a RTLD_NOLOAD handle searches that object's own dependency scope.
 * (Linked statically, there is no such object: the getter linked in is the
 * real one.) */
static void *ex_real_new_cb(SSL_CTX *ctx)
{
    typedef void *(*getter)(SSL_CTX *);
    void *h = dlopen(EX.soname, RTLD_LAZY | RTLD_NOLOAD);
    getter g;
    if (h == NULL) /* no such shared object: OpenSSL is linked statically */
        return (void *)SSL_CTX_sess_get_new_cb(ctx);
    g = (getter)dlsym(h, "SSL_CTX_sess_get_new_cb");
    return g ? g(ctx) : (void *)-1;
}

struct ex_snapshot {
    long timeout, cache_mode, cache_size, connect, accept, hits, misses;
    unsigned long options;
    int verify_mode;
    void *app_ex;
};

static void ex_snap(SSL_CTX *ctx, struct ex_snapshot *s)
{
    s->timeout = SSL_CTX_get_timeout(ctx);
    s->cache_mode = SSL_CTX_get_session_cache_mode(ctx);
    s->cache_size = SSL_CTX_sess_get_cache_size(ctx);
    s->connect = SSL_CTX_sess_connect(ctx);
    s->accept = SSL_CTX_sess_accept(ctx);
    s->hits = SSL_CTX_sess_hits(ctx);
    s->misses = SSL_CTX_sess_misses(ctx);
    s->options = (unsigned long)SSL_CTX_get_options(ctx);
    s->verify_mode = SSL_CTX_get_verify_mode(ctx);
    s->app_ex = SSL_CTX_get_ex_data(ctx, EX.app_ex_index);
}

static int ex_snap_equal(const struct ex_snapshot *a, const struct ex_snapshot *b)
{
    return a->timeout == b->timeout && a->cache_mode == b->cache_mode && a->cache_size == b->cache_size
        && a->connect == b->connect && a->accept == b->accept && a->hits == b->hits
        && a->misses == b->misses && a->options == b->options && a->verify_mode == b->verify_mode
        && a->app_ex == b->app_ex;
}

/* A server ctx with the external-only cache configured, no callbacks yet. */
__attribute__((unused)) static SSL_CTX *ex_bare_server_ctx(int version, const char *cert, const char *key)
{
    SSL_CTX *ctx = SSL_CTX_new(TLS_server_method());
    if (ctx == NULL)
        return NULL;
    SSL_CTX_set_min_proto_version(ctx, version);
    SSL_CTX_set_max_proto_version(ctx, version);
    if (SSL_CTX_use_certificate_chain_file(ctx, cert) != 1 || SSL_CTX_use_PrivateKey_file(ctx, key, SSL_FILETYPE_PEM) != 1) {
        ex_errors("server cert");
        SSL_CTX_free(ctx);
        return NULL;
    }
    SSL_CTX_set_session_id_context(ctx, (const unsigned char *)"twossl", 6);
    SSL_CTX_set_options(ctx, SSL_OP_NO_TICKET); /* 1.2: session ids; 1.3: stateful tickets */
    SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_SERVER | SSL_SESS_CACHE_NO_INTERNAL);
    SSL_CTX_set_timeout(ctx, 600);
    SSL_CTX_set_ex_data(ctx, EX.app_ex_index, (void *)&EX);
    return ctx;
}

static void ex_report_path(SSL_CTX *ctx)
{
    if (!EX.path_reported) {
        void *real = ex_real_new_cb(ctx);
        EX.path_reported = 1;
        fprintf(stderr, "PATH %s %s\n", EX.tag,
                real == (void *)-1 ? "unknown" : real == (void *)ex_srv_new ? "direct" : "sesscb");
        fflush(stderr);
    }
}

/* Prints which functions the server getters return (a line the runs
 * compare) and checks they are the application's callbacks. */
static void ex_check_srv_getters(SSL_CTX *ctx, const char *what)
{
    EX_OUT("srv getters new=%s get=%s remove=%s",
           ex_which((void *)SSL_CTX_sess_get_new_cb(ctx), (void *)ex_srv_new),
           ex_which((void *)SSL_CTX_sess_get_get_cb(ctx), (void *)ex_srv_get),
           ex_which((void *)SSL_CTX_sess_get_remove_cb(ctx), (void *)ex_srv_remove));
    EX_CHECK(SSL_CTX_sess_get_new_cb(ctx) == ex_srv_new && SSL_CTX_sess_get_get_cb(ctx) == ex_srv_get
                 && SSL_CTX_sess_get_remove_cb(ctx) == ex_srv_remove,
             what);
}

static SSL_CTX *ex_server_ctx(int version, const char *cert, const char *key)
{
    SSL_CTX *ctx = ex_bare_server_ctx(version, cert, key);
    struct ex_snapshot before, after;
    if (ctx == NULL)
        return NULL;
    ex_snap(ctx, &before);
    SSL_CTX_sess_set_new_cb(ctx, ex_srv_new);
    SSL_CTX_sess_set_get_cb(ctx, ex_srv_get);
    SSL_CTX_sess_set_remove_cb(ctx, ex_srv_remove);
    ex_snap(ctx, &after);
    EX_CHECK(ex_snap_equal(&before, &after), "server setters leave the rest of the SSL_CTX untouched");
    ex_check_srv_getters(ctx, "server getters return the application's callbacks");
    ex_report_path(ctx);
    return ctx;
}

/* ex_connect's result as the runs print it. */
static const char *ex_outcome(int r)
{
    return r == 1 ? "resumed" : r == 0 ? "full" : "failed";
}

static SSL_CTX *ex_client_ctx(int version)
{
    SSL_CTX *ctx = SSL_CTX_new(TLS_client_method());
    struct ex_snapshot before, after;
    if (ctx == NULL)
        return NULL;
    SSL_CTX_set_min_proto_version(ctx, version);
    SSL_CTX_set_max_proto_version(ctx, version);
    SSL_CTX_set_verify(ctx, SSL_VERIFY_NONE, NULL);
    SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_CLIENT | SSL_SESS_CACHE_NO_INTERNAL_STORE);
    SSL_CTX_set_ex_data(ctx, EX.app_ex_index, (void *)&EX);
    ex_snap(ctx, &before);
    SSL_CTX_sess_set_new_cb(ctx, ex_cli_new);
    SSL_CTX_sess_set_remove_cb(ctx, ex_cli_remove);
    ex_snap(ctx, &after);
    EX_CHECK(ex_snap_equal(&before, &after), "client setters leave the rest of the SSL_CTX untouched");
    EX_CHECK(SSL_CTX_sess_get_new_cb(ctx) == ex_cli_new && SSL_CTX_sess_get_remove_cb(ctx) == ex_cli_remove
                 && SSL_CTX_sess_get_get_cb(ctx) == NULL,
             "client getters return the application's callbacks (get: NULL)");
    return ctx;
}

/* One in-memory connection. Returns 1 if resumed, 0 if full, -1 on failure. */
static int ex_connect(SSL_CTX *sctx, SSL_CTX *cctx, SSL_SESSION *offer, int tls13)
{
    SSL *s = SSL_new(sctx), *c = SSL_new(cctx);
    BIO *sb = NULL, *cb = NULL;
    int i, sdone = 0, cdone = 0, reused = -1;
    char buf[16];

    if (s == NULL || c == NULL || !BIO_new_bio_pair(&sb, 0, &cb, 0))
        goto out;
    SSL_set_bio(s, sb, sb);
    SSL_set_bio(c, cb, cb);
    SSL_set_accept_state(s);
    SSL_set_connect_state(c);
    SSL_set_tlsext_host_name(c, "a.test");
    if (offer != NULL && SSL_set_session(c, offer) != 1)
        goto out;
    for (i = 0; i < 64 && !(sdone && cdone); i++) {
        if (!cdone) {
            int r = SSL_do_handshake(c);
            if (r == 1)
                cdone = 1;
            else if (SSL_get_error(c, r) != SSL_ERROR_WANT_READ)
                goto out;
        }
        if (!sdone) {
            int r = SSL_do_handshake(s);
            if (r == 1)
                sdone = 1;
            else if (SSL_get_error(s, r) != SSL_ERROR_WANT_READ && SSL_get_error(s, r) != SSL_ERROR_WANT_WRITE)
                goto out;
        }
    }
    if (!(sdone && cdone))
        goto out;
    /* Application data both ways; in 1.3 the client processes the tickets. */
    if (SSL_write(s, "s", 1) != 1 || SSL_read(c, buf, sizeof buf) != 1)
        goto out;
    if (SSL_write(c, "c", 1) != 1 || SSL_read(s, buf, sizeof buf) != 1)
        goto out;
    if (SSL_session_reused(c) != SSL_session_reused(s)) {
        EX_OUT("client and server disagree on reuse");
        goto out;
    }
    reused = SSL_session_reused(c);
    (void)tls13;
    /* Orderly close: no ssl_clear_bad_session() removal on SSL_free. */
    SSL_shutdown(c);
    SSL_shutdown(s);
    SSL_shutdown(c);
out:
    if (reused < 0)
        ex_errors("connect");
    SSL_free(c);
    SSL_free(s);
    return reused;
}

#define EX_COUNTS(step)                                                                                   \
    EX_OUT("%s: srv new=%d get=%d hit=%d remove=%d cli new=%d remove=%d cached=%d", step, EX.srv_new,       \
           EX.srv_get, EX.srv_get_hit, EX.srv_remove, EX.cli_new, EX.cli_remove, EX.ncache)

/* Frees the application's cache, both ctxs and the client's last session. */
static void ex_free_all(SSL_CTX *sctx, SSL_CTX *cctx)
{
    while (EX.ncache > 0)
        SSL_SESSION_free(EX.cache[--EX.ncache].sess);
    SSL_CTX_free(sctx);
    SSL_CTX_free(cctx);
    if (EX.client_sess) {
        SSL_SESSION_free(EX.client_sess);
        EX.client_sess = NULL;
    }
}

static void ex_reset_counts(void)
{
    EX.srv_new = EX.srv_get = EX.srv_get_hit = EX.srv_remove = EX.cli_new = EX.cli_remove = 0;
}

/* One protocol version's sequence with exact expected counts. */
static void ex_round(int version, const char *cert, const char *key)
{
    int tls13 = version == TLS1_3_VERSION;
    const char *v = tls13 ? "TLSv1.3" : "TLSv1.2";
    SSL_CTX *sctx, *cctx;
    int r;
    char what[160];

    EX_OUT("== %s", v);
    ex_reset_counts();
    sctx = ex_server_ctx(version, cert, key);
    cctx = ex_client_ctx(version);
    if (sctx == NULL || cctx == NULL) {
        EX_CHECK(0, "contexts created");
        SSL_CTX_free(sctx);
        SSL_CTX_free(cctx);
        return;
    }

    /* 1. full handshake */
    r = ex_connect(sctx, cctx, NULL, tls13);
    EX_OUT("conn1 %s", ex_outcome(r));
    EX_COUNTS("after conn1");
    snprintf(what, sizeof what, "%s full handshake: srv new=%d, cli new=%d, no get/remove", v, tls13 ? 2 : 1, tls13 ? 2 : 1);
    EX_CHECK(r == 0 && EX.srv_new == (tls13 ? 2 : 1) && EX.cli_new == (tls13 ? 2 : 1) && EX.srv_get == 0
                 && EX.srv_remove == 0 && EX.cli_remove == 0,
             what);

    /* 2. resumption with the client's latest session */
    ex_reset_counts();
    r = ex_connect(sctx, cctx, EX.client_sess, tls13);
    EX_OUT("conn2 %s", ex_outcome(r));
    EX_COUNTS("after conn2");
    snprintf(what, sizeof what, "%s resumption: 1 srv get hit, srv new=%d, cli new=%d, cli remove=%d", v,
             tls13 ? 1 : 0, tls13 ? 1 : 0, tls13 ? 1 : 0);
    EX_CHECK(r == 1 && EX.srv_get == 1 && EX.srv_get_hit == 1 && EX.srv_new == (tls13 ? 1 : 0)
                 && EX.cli_new == (tls13 ? 1 : 0) && EX.cli_remove == (tls13 ? 1 : 0) && EX.srv_remove == 0,
             what);

    /* 3. the server drops every cached session: one remove callback each */
    ex_reset_counts();
    {
        int n = EX.ncache, i;
        SSL_SESSION *victims[EX_MAX_SESS];
        for (i = 0; i < n; i++) {
            victims[i] = EX.cache[i].sess;
            SSL_SESSION_up_ref(victims[i]);
        }
        for (i = 0; i < n; i++) {
            SSL_CTX_remove_session(sctx, victims[i]);
            SSL_SESSION_free(victims[i]);
        }
        EX_COUNTS("after remove");
        snprintf(what, sizeof what, "SSL_CTX_remove_session x%d: %d srv remove callbacks, cache empty", n, n);
        EX_CHECK(EX.srv_remove == n && EX.ncache == 0, what);
    }

    /* 4. resumption attempt must miss */
    ex_reset_counts();
    r = ex_connect(sctx, cctx, EX.client_sess, tls13);
    EX_OUT("conn3 %s", ex_outcome(r));
    EX_COUNTS("after conn3");
    snprintf(what, sizeof what, "%s removed session: 1 srv get miss, full handshake", v);
    EX_CHECK(r == 0 && EX.srv_get == 1 && EX.srv_get_hit == 0 && EX.srv_new == (tls13 ? 2 : 1), what);

    /* 5. clearing a callback: getter NULL, no more calls */
    ex_reset_counts();
    SSL_CTX_sess_set_new_cb(sctx, NULL);
    EX_CHECK(SSL_CTX_sess_get_new_cb(sctx) == NULL && ex_real_new_cb(sctx) == NULL,
             "set_new_cb(NULL): getter and real field are NULL");
    r = ex_connect(sctx, cctx, NULL, tls13);
    EX_OUT("conn4 %s", ex_outcome(r));
    EX_COUNTS("after conn4");
    EX_CHECK(r == 0 && EX.srv_new == 0, "no server new callback after clearing it");
    SSL_CTX_sess_set_new_cb(sctx, ex_srv_new);
    EX_CHECK(SSL_CTX_sess_get_new_cb(sctx) == ex_srv_new, "set again: getter returns the app callback");

    /* 6. teardown: the app frees its own cache; ctx free flushes nothing */
    ex_reset_counts();
    ex_free_all(sctx, cctx);
    EX_COUNTS("after free");
    EX_CHECK(EX.srv_remove == 0 && EX.cli_remove == 0, "SSL_CTX_free of an external-only cache: no remove callbacks");
}

/* After twossl_plugin_install(): getters, then full handshake, resumption
 * and a removal on the TLS 1.2 ctx, with exact counts. Frees the ctx. */
__attribute__((unused)) static void ex_tail_check(SSL_CTX *sctx)
{
    SSL_CTX *cctx;
    int r;
    EX_OUT("== tail-called setter (TLSv1.2)");
    if (sctx == NULL) {
        EX_CHECK(0, "server ctx created");
        return;
    }
    ex_report_path(sctx);
    ex_check_srv_getters(sctx, "getters return the application's callbacks");
    cctx = ex_client_ctx(TLS1_2_VERSION);
    r = ex_connect(sctx, cctx, NULL, 0);
    EX_OUT("conn1 %s", ex_outcome(r));
    r = r == 0 ? ex_connect(sctx, cctx, EX.client_sess, 0) : -1;
    EX_OUT("conn2 %s", ex_outcome(r));
    if (EX.ncache == 1) {
        SSL_SESSION *victim = EX.cache[0].sess;
        SSL_SESSION_up_ref(victim);
        SSL_CTX_remove_session(sctx, victim);
        SSL_SESSION_free(victim);
    }
    EX_COUNTS("after remove");
    EX_CHECK(r == 1 && EX.srv_new == 1 && EX.srv_get == 1 && EX.srv_get_hit == 1 && EX.srv_remove == 1
                 && EX.ncache == 0,
             "full, resumed, removed: srv new=1 get=1 hit=1 remove=1");
    ex_free_all(sctx, cctx);
    EX_OUT("result: %d checks, %d failed", EX.checks, EX.failed);
}

/* Runs both protocol versions; returns the number of failed checks. */
static int ex_run(const char *tag, const char *soname, const char *cert, const char *key)
{
    memset(&EX, 0, sizeof EX);
    EX.tag = tag;
    EX.soname = soname;
    EX.app_ex_index = SSL_CTX_get_ex_new_index(0, NULL, NULL, NULL, NULL);
    EX_OUT("library %s", OpenSSL_version(OPENSSL_VERSION));
    ex_round(TLS1_2_VERSION, cert, key);
    ex_round(TLS1_3_VERSION, cert, key);
    EX_OUT("result: %d checks, %d failed", EX.checks, EX.failed);
    return EX.failed;
}

#endif
