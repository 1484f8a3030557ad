/*
 * sesscb differential test harness (see docs/test-suite-contract.md).
 *
 * One scenario = one function `int scenario_NN(void)` in tests-c/scenarios/sNN_*.c.
 * It prints its trace with ev() / the logging callbacks, asserts with CHECK()
 * and ends with `return h_result();`.  main() (scenarios.c) calls h_init() and
 * h_report_mode() before, and h_finish() (leftover kept sessions, balance checks)
 * after the scenario.
 *
 * Rules for scenario authors:
 *  - stdout must be identical in plain / linked / preload runs: never print
 *    pointers, times, pids, thread ids, or anything ordering-dependent from
 *    threads (use h_set_quiet() + counters there).
 *  - Free every SSL, SSL_CTX and application session reference before returning:
 *    h_finish() CHECKs `sessions created == freed` and `named ctxs == exdata-frees`.
 *  - Never put two side-effecting calls in one argument list: C leaves the
 *    order in which arguments are evaluated unspecified.
 *  - Branch on h_is_111() (run time) where 1.1.1 and 3.x legitimately differ.
 *  - Time is virtual and frozen: use h_clock_advance(), never sleep().
 *  - 1.1.1 runs use a deterministic RNG (see h_init) so hash orders are stable.
 */
#ifndef SESSCB_HARNESS_H
#define SESSCB_HARNESS_H

#include <stddef.h>
#include <stdio.h>
#include <openssl/ssl.h>
#include <openssl/err.h>
#include <openssl/x509.h>
#include <openssl/evp.h>

#if defined(__GNUC__)
#define H_PRINTF(a, b) __attribute__((format(printf, a, b)))
#else
#define H_PRINTF(a, b)
#endif

/* ------------------------------------------------------------------ setup */

/* Registers ex_data indices, line-buffers stdout, and on 1.1.1 installs a
 * deterministic RAND_METHOD (1.1.1 flushes caches in lhash order of the
 * random session ids; a fixed stream keeps traces stable). Idempotent. */
void h_init(void);
/* Prints `MODE sesscb` or `MODE plain` (or `MODE unknown`) on stderr. */
void h_report_mode(void);
/* 1 if sesscb is in the path (real libssl getter returns something other than
 * the application's pointer while the interposed getter returns the app's). */
int h_mode_sesscb(void);
/* Called by main after the scenario: frees leftover kept sessions, frees the
 * test certificate, CHECKs session/ctx balance. */
void h_finish(void);

/* ------------------------------------------------------- virtual clock */

/* The harness defines time() in the executable: libssl/libcrypto see a clock
 * that starts at a fixed date and stands still. Scenarios that need time to
 * pass (expiry, flush(t), auto-flush with short timeouts) must call
 * h_clock_advance() -- never sleep(). time(NULL) in scenario code returns the
 * same virtual time. */
long h_now(void);
void h_clock_advance(long secs);
/* on=1: gettimeofday() (3.2+: OpenSSL's ossl_time_now) reads the real clock,
 * for QUIC, whose timers and pacing need time to pass; time() stays virtual. */
void h_clock_real(int on);

/* ------------------------------------------------------------ versions */

unsigned long h_ossl_version(void);          /* OpenSSL_version_num() at run time */
int h_is_111(void);                          /* runtime libssl is 1.1.x */
int h_is_3(void);                            /* runtime libssl is >= 3.0 */
int h_version_at_least(unsigned long v);     /* e.g. 0x300000e0UL = 3.0.14 */

/* --------------------------------------------------------------- trace */

/* One trace line on stdout (newline appended, flushed). Thread-safe. */
void ev(const char *fmt, ...) H_PRINTF(1, 2);

/* CHECK(cond, fmt, ...): prints `CHECK ok <what>` or `CHECK FAIL <what>`. */
#define CHECK(cond, ...) h_check(!!(cond), __VA_ARGS__)
void h_check(int ok, const char *fmt, ...) H_PRINTF(2, 3);
/* CHECK_EQ(got, want, what): integer comparison, prints both values. */
#define CHECK_EQ(got, want, ...) h_check_eq((long)(got), (long)(want), __VA_ARGS__)
void h_check_eq(long got, long want, const char *fmt, ...) H_PRINTF(3, 4);
int h_failures(void);
/* Value for `return` at the end of a scenario: 0 if no CHECK failed so far. */
int h_result(void);

/* Quiet mode: suppresses `free #N`, `ctx-exdata-free`, callback and info lines
 * (they are still counted). For threads and mass scenarios. */
void h_set_quiet(int quiet);
int h_quiet(void);

/* ----------------------------------------------------- objects identity */

/* Serial of a session (0 for NULL or a session without serial). */
long h_serial(const SSL_SESSION *s);
/* A positive integer from the environment, or def. */
long h_env_long(const char *name, long def);
/* A watchdog thread that fails the scenario (exit 1) if h_watchdog_stop() is
 * not called within SESSCB_TEST_WATCHDOG seconds (default 300): a deadlock
 * becomes a failure instead of a hang. */
void h_watchdog_start(const char *what);
void h_watchdog_stop(void);
/* Watch one session object: *freed becomes 1 when this very object reaches
 * refcount 0 (its own ex_data index, not inherited by dups). Sets *freed = 0. */
void h_watch_session(SSL_SESSION *s, int *freed);
/* Name a ctx (copied, <= 31 chars). Returns ctx. */
SSL_CTX *h_ctx_set_name(SSL_CTX *ctx, const char *name);
/* Name of a ctx: "NULL" for NULL, "?" if unnamed. Works during SSL_CTX_free. */
const char *h_ctx_name(const SSL_CTX *ctx);
/* SSL_get_SSL_CTX name of an SSL. */
const char *h_ssl_ctx_name(const SSL *s);
long h_sess_number(SSL_CTX *ctx);            /* SSL_CTX_sess_number */
const char *h_yn(int b);                     /* "1"/"0" */

/* Global counters (process lifetime). */
struct h_counts {
    long sess_created;   /* serials assigned (new + dup) */
    long sess_freed;     /* SSL_SESSION ex_data free_func calls with a serial */
    long ctx_named;      /* h_ctx_set_name calls */
    long ctx_freed;      /* named ctx ex_data frees */
};
void h_counts(struct h_counts *out);
/* Prints `sessions created=X freed=Y` (no CHECK). */
void h_print_counts(const char *label);

/* ---------------------------------------------------------- certificates */

EVP_PKEY *h_key(void);   /* EC P-256, generated once per process (borrowed) */
X509 *h_cert(void);      /* self-signed for h_key() (borrowed) */

/* ------------------------------------------------------------- contexts */

/* Server ctx: TLS_server_method, cert+key, sid_ctx "sesscb-test", named.
 * minv/maxv: TLS1_2_VERSION, TLS1_3_VERSION or 0 (= library default). */
SSL_CTX *h_server_ctx(const char *name, int minv, int maxv);
/* Client ctx: TLS_client_method, SSL_VERIFY_NONE, named. */
SSL_CTX *h_client_ctx(const char *name, int minv, int maxv);
/* Free a ctx and log `ctx-free NAME` before doing so (the name is read
 * before the call). */
void h_ctx_free(SSL_CTX *ctx);
/* SSL_CTX_set_session_id_context(ctx, NULL, 0) */
void h_clear_sid_ctx(SSL_CTX *ctx);

/* ---------------------------------------------------- in-memory handshakes */

typedef struct h_pair {
    SSL *c;              /* client */
    SSL *s;              /* server */
    int c_ok, s_ok;      /* handshake completed on that side */
    int c_fail, s_fail;  /* that side returned a fatal error */
} h_pair;

/* Creates client + server SSLs linked by a BIO pair. sni may be NULL; resume
 * (may be NULL) is set with SSL_set_session on the client (the client then
 * holds its own reference; the caller keeps its own). */
h_pair *h_pair_new(SSL_CTX *cctx, SSL_CTX *sctx, const char *sni, SSL_SESSION *resume);
/* Drives SSL_do_handshake alternately (client first), bounded. After one side
 * fails, the other is still driven while it has input (so alerts are seen).
 * Returns 1 iff both sides completed. Clears the error queue. */
int h_pair_handshake(h_pair *p);
/* Prints `hs LABEL ok=C/S reused=C/S version=V` (reused values read after
 * the handshake, each in its own statement). */
void h_pair_print(h_pair *p, const char *label);
/* Server writes one byte, client reads it (processes TLS1.3 tickets).
 * Returns 1 on success. */
int h_pair_server_to_client(h_pair *p);
/* Client writes one byte, server reads it (e.g. post-handshake auth). */
int h_pair_client_to_server(h_pair *p);
/* Frees both SSLs (client first). clean: SSL_shutdown on both first (no
 * non-clean-close remove), otherwise a non-clean free. Clears the error queue. */
void h_pair_free(h_pair *p, int clean);
/* Convenience: new + handshake + (ok ? server_to_client : nothing) + print.
 * Returns the pair (never NULL); *ok (may be NULL) gets the handshake result. */
h_pair *h_connect(SSL_CTX *cctx, SSL_CTX *sctx, const char *sni, SSL_SESSION *resume,
                  const char *label, int *ok);
/* Client session with an extra reference (SSL_get1_session), or NULL. */
SSL_SESSION *h_client_session(h_pair *p);

/* --------------------------------------------------- logging callbacks */

/* Tags: A..H. Each tag has its own config and counters; the same function
 * (e.g. h_new_A) can be set on several ctxs. */
enum { H_A, H_B, H_C, H_D, H_E, H_F, H_G, H_H, H_NTAGS };

enum h_get_mode {
    H_GET_NULL = 0,      /* return NULL (miss) */
    H_GET_FIXED,         /* return cfg.get_sess */
    H_GET_KEPT           /* search this tag's kept sessions for a matching id */
};

#define H_KEEP_MAX 256
struct h_cbcfg {
    /* ---- behaviour (set by the scenario) ---- */
    int new_ret;          /* value returned by new (default 0) */
    int get_mode;         /* enum h_get_mode */
    SSL_SESSION *get_sess;/* for H_GET_FIXED (borrowed) */
    int get_copy;         /* -1 (default): leave *copy untouched; else store it */
    int get_upref;        /* SSL_SESSION_up_ref the result before returning it */
    int quiet;            /* no trace lines for this tag */
    /* ---- observations ---- */
    int n_new, n_get, n_remove;
    long last_new_serial, last_get_serial, last_remove_serial;
    const SSL_CTX *last_remove_ctx;  /* pointer identity only, never print */
    /* Sessions whose reference the app owns because new returned non-zero. */
    SSL_SESSION *kept[H_KEEP_MAX];
    int nkept;
};
extern struct h_cbcfg h_cfg[H_NTAGS];
/* Reset config and counters of every tag (frees nothing: free kept first). */
void h_cfg_reset(void);
char h_tag_char(int tag);

#define H_DECLARE_TAG(T)                                                        \
    int h_new_##T(SSL *s, SSL_SESSION *sess);                                   \
    SSL_SESSION *h_get_##T(SSL *s, const unsigned char *id, int len, int *copy); \
    void h_remove_##T(SSL_CTX *ctx, SSL_SESSION *sess);
H_DECLARE_TAG(A) H_DECLARE_TAG(B) H_DECLARE_TAG(C) H_DECLARE_TAG(D)
H_DECLARE_TAG(E) H_DECLARE_TAG(F) H_DECLARE_TAG(G) H_DECLARE_TAG(H)

typedef int (*h_new_fn)(SSL *, SSL_SESSION *);
typedef SSL_SESSION *(*h_get_fn)(SSL *, const unsigned char *, int, int *);
typedef void (*h_remove_fn)(SSL_CTX *, SSL_SESSION *);
/* Function pointer tables indexed by tag. */
extern h_new_fn const h_new_cb[H_NTAGS];
extern h_get_fn const h_get_cb[H_NTAGS];
extern h_remove_fn const h_remove_cb[H_NTAGS];
/* Set new+get+remove of one tag on ctx. */
void h_set_all(SSL_CTX *ctx, int tag);
/* Clear all three on ctx. */
void h_clear_all(SSL_CTX *ctx);

/* Kept sessions (new returned non-zero): count, access, free. h_free_kept logs
 * `app-free #N` before each SSL_SESSION_free. */
int h_nkept(int tag);
SSL_SESSION *h_kept(int tag, int i);
void h_free_kept(int tag);
/* Remove and return kept[i] (the reference passes to the caller). */
SSL_SESSION *h_take_kept(int tag, int i);
/* SSL_SESSION_free with a log line `app-free #N`. */
void h_sess_free(SSL_SESSION *s);

/* Info callback logging `info HANDSHAKE_DONE server|client` (and
 * `info ALERT write|read fatal|warning DESC`). */
void h_info_cb(const SSL *s, int where, int ret);

#endif
