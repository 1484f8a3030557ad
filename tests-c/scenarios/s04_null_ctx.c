/* Scenario 04: NULL ctx for each of the six functions, each in a forked child.
 * Plain OpenSSL: SIGSEGV. sesscb (contract): setters are no-ops, getters
 * return NULL, the child exits normally. The mode is detected with the
 * real-getter probe; the same normalised line is printed in both modes when
 * the outcome matches that library's policy. Afterwards the parent checks that
 * the functions still work on a real ctx. */
#include "../harness.h"

#include <string.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

enum { OUT_SEGV, OUT_EXIT_NULL, OUT_EXIT_NONNULL, OUT_OTHER };

static const char *const fn_names[6] = {
    "SSL_CTX_sess_set_new_cb", "SSL_CTX_sess_get_new_cb",
    "SSL_CTX_sess_set_get_cb", "SSL_CTX_sess_get_get_cb",
    "SSL_CTX_sess_set_remove_cb", "SSL_CTX_sess_get_remove_cb",
};

static void child(int fn)
{
    SSL_CTX *volatile nullctx = NULL;
    int nonnull = 0;
    struct rlimit rl = { 0, 0 };
    (void)setrlimit(RLIMIT_CORE, &rl);
    switch (fn) {
    case 0: SSL_CTX_sess_set_new_cb(nullctx, h_new_A); break;
    case 1: nonnull = SSL_CTX_sess_get_new_cb(nullctx) != NULL; break;
    case 2: SSL_CTX_sess_set_get_cb(nullctx, h_get_A); break;
    case 3: nonnull = SSL_CTX_sess_get_get_cb(nullctx) != NULL; break;
    case 4: SSL_CTX_sess_set_remove_cb(nullctx, h_remove_A); break;
    case 5: nonnull = SSL_CTX_sess_get_remove_cb(nullctx) != NULL; break;
    default: break;
    }
    _exit(nonnull ? 3 : 0);
}

static int run_child(int fn, char *detail, size_t dlen)
{
    int st = 0;
    pid_t pid;
    fflush(stdout);
    fflush(stderr);
    pid = fork();
    if (pid < 0) {
        snprintf(detail, dlen, "fork failed");
        return OUT_OTHER;
    }
    if (pid == 0)
        child(fn);
    if (waitpid(pid, &st, 0) != pid) {
        snprintf(detail, dlen, "waitpid failed");
        return OUT_OTHER;
    }
    if (WIFSIGNALED(st)) {
        snprintf(detail, dlen, "signal %d", WTERMSIG(st));
        return WTERMSIG(st) == SIGSEGV ? OUT_SEGV : OUT_OTHER;
    }
    snprintf(detail, dlen, "exit %d", WEXITSTATUS(st));
    if (WEXITSTATUS(st) == 0)
        return OUT_EXIT_NULL;
    if (WEXITSTATUS(st) == 3)
        return OUT_EXIT_NONNULL;
    return OUT_OTHER;
}

int scenario_04(void)
{
    int sesscb = h_mode_sesscb() == 1;
    int fn;
    SSL_CTX *ctx;

    for (fn = 0; fn < 6; fn++) {
        char detail[64];
        int out = run_child(fn, detail, sizeof(detail));
        int match = sesscb ? out == OUT_EXIT_NULL : out == OUT_SEGV;
        if (match)
            ev("null-ctx %s: outcome matches the policy of the library in the path", fn_names[fn]);
        else
            ev("null-ctx %s: UNEXPECTED outcome (%s) for %s", fn_names[fn], detail,
               sesscb ? "sesscb (no-op / NULL)" : "plain (SIGSEGV)");
        CHECK(match, "null-ctx %s", fn_names[fn]);
    }

    /* The parent's state is intact and the functions still work. */
    ctx = h_server_ctx("ctx", 0, 0);
    h_set_all(ctx, H_A);
    CHECK(SSL_CTX_sess_get_new_cb(ctx) == h_new_A, "new getter after the NULL calls");
    CHECK(SSL_CTX_sess_get_get_cb(ctx) == h_get_A, "get getter after the NULL calls");
    CHECK(SSL_CTX_sess_get_remove_cb(ctx) == h_remove_A, "remove getter after the NULL calls");
    h_ctx_free(ctx);
    return h_result();
}
