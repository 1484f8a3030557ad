/* host_linked.c -- host-safety cases 4, 5 and 6 in a program linked to
 * libssl (system OpenSSL 3: host_linked-sys; upstream 1.1.1w: host_linked-111),
 * meant to run under LD_PRELOAD=libsesscb.so (and without, for comparison).
 *
 * The six session-callback functions are the program's own references
 * (declared by <openssl/ssl.h>, bound by the dynamic linker: to sesscb under
 * LD_PRELOAD); everything else goes through tls_core.c's table, filled from
 * RTLD_DEFAULT. The first line says which definitions were reached:
 *   SIX sesscb <path> | SIX libssl <path>
 *
 * Modes (every loop and wait is bounded):
 *   basic [N]        N x (full handshake + resumption); OUTCOME line for the
 *                    first; one MASTER_KEY <hex> line per scenario (the test
 *                    checks that no key material reaches SESSCB_LOG).
 *   nullctx          the six with a NULL ctx, before and after sesscb resolved
 *                    libssl: no crash, getters NULL (sesscb only); then a
 *                    normal scenario. Prints BAD_INPUT_CALLS n.
 *   fork N           sets callbacks, then forks N children while a second
 *                    thread keeps attaching fresh ctxs (each fork lands in
 *                    the middle of that thread's attach phase, i.e. often
 *                    while it holds sesscb's fork-aware attach lock); each
 *                    child checks the inherited callbacks, sets callbacks on
 *                    new ctxs and runs handshakes whose callbacks fire. A
 *                    child stuck for 15 s dies of its alarm and fails the
 *                    run (forking stops after 3). The parent then does the
 *                    same as the children.
 *   pipe dead|alive N THREADS dfl|handler|ign|blocked [CAPTURE]
 *                    makes fd 2 a pipe (with SESSCB_LOG=stderr sesscb logs
 *                    into it); "dead": the reader has exited before sesscb
 *                    writes; "alive": a reader copies it to CAPTURE. Then
 *                    THREADS threads run N scenarios each. The host must
 *                    neither die of SIGPIPE nor see one (handler count 0, no
 *                    SIGPIPE left pending, signal mask unchanged).
 *   fdreuse          sesscb's log fd is closed behind its back (as daemons
 *                    do) and the number reused by an application file; prints
 *                    APPFILE_FOREIGN_BYTES n (bytes sesscb wrote into it).
 *   foreign          (sesscb only) a ctx that no loaded libssl made (a zeroed
 *                    block): sesscb_stats says so and writes nothing.
 */
#include "tls_core.c"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <sys/wait.h>
#include <time.h>

static int is_sesscb;

static void setup_six(void)
{
    SIX_FROM_PLAIN_NAMES();
    is_sesscb = in_sesscb((void *)O->set_new);
    printf("SIX %s %s\n", is_sesscb ? "sesscb" : "libssl", object_of((void *)O->set_new));
    check(in_sesscb((void *)O->get_get) == is_sesscb && in_sesscb((void *)O->set_remove) == is_sesscb,
          "the six all come from one place");
    *(void **)&g_sesscb_stats = dlsym(RTLD_DEFAULT, "sesscb_stats");
}

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec / 1e9;
}

/* ------------------------------------------------------------ basic */

static int mode_basic(int n)
{
    int i;
    struct scenario_result sr;
    for (i = 0; i < n; i++) {
        g_quiet = i > 0;
        sr = run_scenario(i == 0 ? "basic" : NULL);
        printf("MASTER_KEY %s\n", sr.master_key_hex);
        if (!sr.ok)
            break;
    }
    g_quiet = 0;
    check(i == n, "%d scenarios passed", n);
    if (g_sesscb_stats != NULL) {
        struct sesscb_stats st;
        memset(&st, 0, sizeof st);
        st.size = (uint32_t)sizeof st;
        check(g_sesscb_stats(NULL, &st) == SESSCB_STATUS_OK, "process stats");
        printf("LOG_DROPPED %llu\n", (unsigned long long)st.log_lines_dropped);
    }
    return 0;
}

/* ---------------------------------------------------------- nullctx */

static void six_with_null(const char *when)
{
    O->set_new(NULL, cb_new);
    O->set_remove(NULL, cb_remove);
    O->set_get(NULL, cb_get);
    check(O->get_new(NULL) == NULL, "%s: get_new(NULL) = NULL", when);
    check(O->get_remove(NULL) == NULL, "%s: get_remove(NULL) = NULL", when);
    check(O->get_get(NULL) == NULL, "%s: get_get(NULL) = NULL", when);
}

static int mode_nullctx(void)
{
    SSL_CTX *ctx;
    struct sesscb_stats before, after;

    if (!is_sesscb) {
        printf("NEEDS_SESSCB (plain OpenSSL crashes on a NULL ctx)\n");
        return 3;
    }
    memset(&before, 0, sizeof before);
    before.size = sizeof before;
    check(g_sesscb_stats != NULL && g_sesscb_stats(NULL, &before) == SESSCB_STATUS_OK, "stats before");
    six_with_null("before resolve");
    ctx = server_ctx();
    check(ctx != NULL, "ctx");
    if (ctx == NULL)
        return 1;
    set_all(ctx); /* resolves libssl */
    six_with_null("after resolve");
    check(getters_match(ctx), "a real ctx's callbacks are unaffected");
    F(SSL_CTX_free)(ctx);
    memset(&after, 0, sizeof after);
    after.size = sizeof after;
    check(g_sesscb_stats(NULL, &after) == SESSCB_STATUS_OK && after.new_calls == before.new_calls &&
              after.get_calls == before.get_calls && after.remove_calls == before.remove_calls,
          "NULL-ctx calls counted nothing");
    run_scenario("nullctx");
    printf("BAD_INPUT_CALLS 12\n");
    return 0;
}

/* ------------------------------------------------------------- fork */

static pthread_mutex_t g_ossl_lock = PTHREAD_MUTEX_INITIALIZER;
static int g_stop;
static int g_attaching; /* 1 while the hammer is in its attach phase */
static long g_hammer_iters, g_hammer_attaches, g_hammer_bad;

/* The application's own fork discipline for OpenSSL: the hammer holds
 * g_ossl_lock around the OpenSSL calls that take OpenSSL-internal locks
 * (SSL_CTX_new/free), and fork() takes it too (pthread_atfork), so a child
 * never inherits a held OpenSSL lock. The six sesscb calls run OUTSIDE it:
 * a fork can land while the hammer is inside sesscb's attach lock, which is
 * exactly what the fork-aware lock must survive. */
static void atfork_prepare(void) { pthread_mutex_lock(&g_ossl_lock); }
static void atfork_release(void) { pthread_mutex_unlock(&g_ossl_lock); }

/* Each ctx of a batch gets exactly one set: its first, i.e. an attach
 * under sesscb's lock, so the attach phase spends much of its time inside
 * that lock. */
#define BATCH 256
static void *hammer(void *arg)
{
    static SSL_CTX *batch[BATCH];
    int i, n;
    (void)arg;
    while (!__atomic_load_n(&g_stop, __ATOMIC_SEQ_CST)) {
        pthread_mutex_lock(&g_ossl_lock);
        for (n = 0; n < BATCH; n++)
            if ((batch[n] = F(SSL_CTX_new)(F(TLS_server_method)())) == NULL)
                break;
        pthread_mutex_unlock(&g_ossl_lock);
        __atomic_store_n(&g_attaching, 1, __ATOMIC_SEQ_CST);
        for (i = 0; i < n; i++) {
            O->set_new(batch[i], cb_new);
            __atomic_add_fetch(&g_hammer_attaches, 1, __ATOMIC_SEQ_CST);
        }
        __atomic_store_n(&g_attaching, 0, __ATOMIC_SEQ_CST);
        for (i = 0; i < n; i++)
            if (O->get_new(batch[i]) != cb_new || O->get_get(batch[i]) != NULL)
                __atomic_add_fetch(&g_hammer_bad, 1, __ATOMIC_SEQ_CST);
        pthread_mutex_lock(&g_ossl_lock);
        for (i = 0; i < n; i++)
            F(SSL_CTX_free)(batch[i]);
        pthread_mutex_unlock(&g_ossl_lock);
        __atomic_add_fetch(&g_hammer_iters, 1, __ATOMIC_SEQ_CST);
    }
    return NULL;
}

/* Full + resumption through an existing server ctx (callbacks already set). */
static int resume_through(SSL_CTX *sctx, const char *who)
{
    SSL_CTX *cctx = client_ctx();
    struct hs_result full, res;
    struct counts c;
    int ok;
    counts_reset();
    full = handshake(sctx, cctx, NULL);
    res = handshake(sctx, cctx, full.client_session);
    c = counts_now();
    ok = full.ok && res.ok && !full.server_reused && res.server_reused && c.n_new == 1 && c.n_get == 1 &&
         c.n_hit == 1;
    QCHECK(ok, "%s: handshakes through the pre-fork ctx fire its callbacks (new %ld get %ld hit %ld reused %d)",
           who, c.n_new, c.n_get, c.n_hit, res.server_reused);
    if (full.client_session)
        F(SSL_SESSION_free)(full.client_session);
    if (res.client_session)
        F(SSL_SESSION_free)(res.client_session);
    F(SSL_CTX_free)(cctx);
    return ok;
}

static void child_main(SSL_CTX *pre, int k)
{
    struct scenario_result sr;
    alarm(15); /* a hung child dies of SIGALRM; the parent reports it */
    __atomic_store_n(&g_failed, 0, __ATOMIC_SEQ_CST); /* the parent's are not ours */
    g_quiet = 1;
    QCHECK(getters_match(pre), "child %d: inherited callbacks intact", k);
    sr = run_scenario(NULL); /* new ctxs: attach in the child */
    QCHECK(sr.ok, "child %d: callbacks fire on a new ctx", k);
    resume_through(pre, "child");
    fflush(stdout);
    _exit(h_failed() ? 1 : 0);
}

static int mode_fork(int nforks)
{
    SSL_CTX *pre;
    pthread_t th;
    int k, status, hung = 0, bad_exit = 0, forked = 0;
    long attaches_during = 0, a0;
    pid_t pid, w;
    double deadline;

    pre = server_ctx();
    check(pre != NULL, "pre-fork ctx");
    if (pre == NULL)
        return 1;
    set_all(pre);
    check(getters_match(pre), "pre-fork callbacks set");
    if (pthread_atfork(atfork_prepare, atfork_release, atfork_release) != 0 ||
        pthread_create(&th, NULL, hammer, NULL) != 0) {
        check(0, "atfork/thread setup");
        return 1;
    }
    deadline = now_s() + 10;
    while (__atomic_load_n(&g_hammer_iters, __ATOMIC_SEQ_CST) < 2 && now_s() < deadline)
        usleep(1000);
    check(__atomic_load_n(&g_hammer_iters, __ATOMIC_SEQ_CST) >= 2, "hammer thread running");

    a0 = __atomic_load_n(&g_hammer_attaches, __ATOMIC_SEQ_CST);
    for (k = 0; k < nforks && hung < 3; k++) {
        long before = __atomic_load_n(&g_hammer_attaches, __ATOMIC_SEQ_CST);
        int spin;
        fflush(stdout);
        /* Fork in the middle of the hammer's attach phase (bounded wait),
         * after a varying short delay. */
        deadline = now_s() + 5;
        while (!__atomic_load_n(&g_attaching, __ATOMIC_SEQ_CST) && now_s() < deadline)
            ;
        for (spin = 0; spin < (k * 7919) % 200000; spin++)
            __asm__ __volatile__("" ::: "memory");
        pid = fork();
        if (pid < 0) {
            check(0, "fork %d: %s", k, strerror(errno));
            break;
        }
        if (pid == 0)
            child_main(pre, k);
        forked++;
        deadline = now_s() + 20;
        while ((w = waitpid(pid, &status, WNOHANG)) == 0 && now_s() < deadline)
            usleep(500);
        if (w == 0) {
            kill(pid, SIGKILL);
            waitpid(pid, &status, 0);
            hung++;
            check(0, "child %d hung (killed after 20 s)", k);
        } else if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
            bad_exit++;
            if (WIFSIGNALED(status) && WTERMSIG(status) == SIGALRM)
                hung++; /* its own 15 s alarm: stuck */
            check(0, "child %d: %s %d", k, WIFSIGNALED(status) ? "killed by signal" : "exit",
                  WIFSIGNALED(status) ? WTERMSIG(status) : WEXITSTATUS(status));
        }
        /* Let the hammer make progress between forks (bounded). */
        deadline = now_s() + 5;
        while (__atomic_load_n(&g_hammer_attaches, __ATOMIC_SEQ_CST) == before && now_s() < deadline)
            usleep(100);
    }
    attaches_during = __atomic_load_n(&g_hammer_attaches, __ATOMIC_SEQ_CST) - a0;
    __atomic_store_n(&g_stop, 1, __ATOMIC_SEQ_CST);
    pthread_join(th, NULL);
    printf("FORKS %d hung %d bad %d; hammer attaches during forking %ld, iterations %ld\n", forked, hung,
           bad_exit, attaches_during, g_hammer_iters);
    check(forked == nforks && hung == 0 && bad_exit == 0, "all %d children completed", nforks);
    check(attaches_during >= nforks, "the hammer kept attaching while forking (%ld)", attaches_during);
    check(g_hammer_bad == 0, "hammer getters always matched (%ld bad)", g_hammer_bad);

    /* Parent: the pre-fork ctx and fresh ones still work. */
    resume_through(pre, "parent");
    check(getters_match(pre), "parent: callbacks intact");
    F(SSL_CTX_free)(pre);
    run_scenario("fork-parent");
    return 0;
}

/* ------------------------------------------------------------- pipe */

static volatile sig_atomic_t g_sigpipes;
static void on_sigpipe(int sig) { (void)sig; g_sigpipes++; }

struct worker {
    pthread_t th;
    int n, ok;
};

static void *worker_main(void *arg)
{
    struct worker *w = arg;
    int i;
    for (i = 0; i < w->n; i++)
        if (run_scenario(NULL).ok)
            w->ok++;
    return NULL;
}

static int mode_pipe(int alive, int n, int nthreads, const char *sigmode, const char *capture)
{
    int p[2], saved_err, status, i, total_ok = 0, nopipe;
    pid_t reader, probe;
    sigset_t pipe_set, mask_before, mask_after, pending;
    struct sigaction sa;
    struct worker ws[16];

    if (nthreads < 1 || nthreads > 16)
        nthreads = 1;
    sigemptyset(&pipe_set);
    sigaddset(&pipe_set, SIGPIPE);
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = SIG_DFL;
    if (strcmp(sigmode, "handler") == 0)
        sa.sa_handler = on_sigpipe;
    else if (strcmp(sigmode, "ign") == 0)
        sa.sa_handler = SIG_IGN;
    sigaction(SIGPIPE, &sa, NULL);
    pthread_sigmask(strcmp(sigmode, "blocked") == 0 ? SIG_BLOCK : SIG_UNBLOCK, &pipe_set, NULL);
    pthread_sigmask(SIG_BLOCK, NULL, &mask_before);

    if (pipe(p) != 0)
        return 1;
    fflush(stdout);
    reader = fork();
    if (reader == 0) {
        close(p[1]);
        if (alive) {
            char buf[4096];
            ssize_t r;
            int out = open(capture ? capture : "/dev/null", O_WRONLY | O_CREAT | O_TRUNC, 0644);
            while ((r = read(p[0], buf, sizeof buf)) > 0)
                if (out >= 0 && write(out, buf, r) != r)
                    _exit(2);
        }
        _exit(0); /* dead: exits at once, before anything is written */
    }
    close(p[0]);
    if (!alive) {
        waitpid(reader, &status, 0);
        /* Prove the trap is armed: a plain write to this pipe kills a process
         * with default SIGPIPE handling. */
        probe = fork();
        if (probe == 0) {
            signal(SIGPIPE, SIG_DFL);
            sigprocmask(SIG_UNBLOCK, &pipe_set, NULL);
            if (write(p[1], "x", 1) < 0)
                _exit(4);
            _exit(5);
        }
        waitpid(probe, &status, 0);
        check(WIFSIGNALED(status) && WTERMSIG(status) == SIGPIPE,
              "control: a plain write to the dead pipe dies of SIGPIPE");
    }
    saved_err = dup(2);
    dup2(p[1], 2);
    close(p[1]);

    /* Everything sesscb does from here on logs into the pipe. */
    for (i = 0; i < nthreads; i++) {
        ws[i].n = n;
        ws[i].ok = 0;
        pthread_create(&ws[i].th, NULL, worker_main, &ws[i]);
    }
    for (i = 0; i < nthreads; i++) {
        pthread_join(ws[i].th, NULL);
        total_ok += ws[i].ok;
    }

    /* A SIGPIPE left pending would kill the host once it unblocks. */
    sigpending(&pending);
    nopipe = !sigismember(&pending, SIGPIPE);
    pthread_sigmask(SIG_BLOCK, NULL, &mask_after);
    dup2(saved_err, 2);
    close(saved_err);
    if (alive)
        waitpid(reader, &status, 0);

    printf("PIPE %s scenarios_ok %d/%d sigpipes_seen %d\n", alive ? "alive" : "dead", total_ok, n * nthreads,
           (int)g_sigpipes);
    check(total_ok == n * nthreads, "all scenarios passed while logging into the pipe");
    check(nopipe, "no SIGPIPE left pending");
    check(memcmp(&mask_before, &mask_after, sizeof mask_before) == 0 ||
              sigismember(&mask_before, SIGPIPE) == sigismember(&mask_after, SIGPIPE),
          "signal mask unchanged");
    check(g_sigpipes == 0, "the host's SIGPIPE handler never ran");
    return 0;
}

/* ---------------------------------------------------------- fdreuse */

/* The log fd is the lowest fd above 2 that sesscb opened; find it as the fd
 * whose /proc/self/fd link is SESSCB_LOG. */
static int mode_fdreuse(void)
{
    const char *logpath = getenv("SESSCB_LOG");
    char link[64], target[4096], app[4096], buf[8192];
    int fd, logfd = -1, appfd;
    ssize_t len;
    SSL_CTX *ctx;

    if (logpath == NULL || logpath[0] != '/' || !is_sesscb) {
        printf("NEEDS SESSCB_LOG=/abs/path and sesscb\n");
        return 3;
    }
    ctx = server_ctx();
    set_all(ctx); /* opens the log */
    for (fd = 3; fd < 1024 && logfd < 0; fd++) {
        snprintf(link, sizeof link, "/proc/self/fd/%d", fd);
        len = readlink(link, target, sizeof target - 1);
        if (len > 0) {
            target[len] = '\0';
            if (strcmp(target, logpath) == 0)
                logfd = fd;
        }
    }
    check(logfd >= 0, "found sesscb's log fd (%d)", logfd);
    if (logfd < 0)
        return 1;
    /* A daemon closes every inherited fd, then opens its own files. */
    close(logfd);
    snprintf(app, sizeof app, "%s.app", logpath);
    appfd = open(app, O_RDWR | O_CREAT | O_TRUNC, 0644);
    printf("APPFILE fd %d (log fd was %d)\n", appfd, logfd);
    F(SSL_CTX_free)(ctx);
    run_scenario(NULL);
    len = pread(appfd, buf, sizeof buf, 0);
    printf("APPFILE_FOREIGN_BYTES %zd\n", len);
    close(appfd);
    return 0;
}

/* ---------------------------------------------------------- foreign */

static int mode_foreign(void)
{
    static _Alignas(64) unsigned char block[4096];
    struct ssl_ctx_st *foreign = (struct ssl_ctx_st *)block;
    struct sesscb_stats st;
    int rc;
    size_t i;

    if (g_sesscb_stats == NULL) {
        printf("NO_SESSCB\n");
        return 3;
    }
    memset(&st, 0xAA, sizeof st);
    st.size = sizeof st;
    rc = g_sesscb_stats(foreign, &st);
    printf("STATS_FOREIGN_CTX %d\n", rc);
    check(rc == SESSCB_STATUS_UNATTRIBUTED_CTX,
          "sesscb_stats(ctx of no loaded libssl) = SESSCB_STATUS_UNATTRIBUTED_CTX (got %d)", rc);
    check(st.size == sizeof st && st.new_calls == 0xAAAAAAAAAAAAAAAAull, "... and nothing written");
    for (i = 0; i < sizeof block && block[i] == 0; i++)
        ;
    check(i == sizeof block, "the foreign block is untouched");
    return 0;
}

int main(int argc, char **argv)
{
    const char *mode = argc > 1 ? argv[1] : "basic";
    int rc = 0;

    setvbuf(stdout, NULL, _IOLBF, 0);
    if (!ossl_load(RTLD_DEFAULT))
        return 1;
    setup_six();
    printf("OPENSSL 0x%lx\n", F(OpenSSL_version_num)());

    if (strcmp(mode, "basic") == 0)
        rc = mode_basic(argc > 2 ? atoi(argv[2]) : 1);
    else if (strcmp(mode, "nullctx") == 0)
        rc = mode_nullctx();
    else if (strcmp(mode, "fork") == 0)
        rc = mode_fork(argc > 2 ? atoi(argv[2]) : 50);
    else if (strcmp(mode, "pipe") == 0 && argc > 5)
        rc = mode_pipe(strcmp(argv[2], "alive") == 0, atoi(argv[3]), atoi(argv[4]), argv[5],
                       argc > 6 ? argv[6] : NULL);
    else if (strcmp(mode, "fdreuse") == 0)
        rc = mode_fdreuse();
    else if (strcmp(mode, "foreign") == 0)
        rc = mode_foreign();
    else {
        fprintf(stderr, "usage: %s basic [N] | nullctx | fork N | pipe dead|alive N THREADS "
                        "dfl|handler|ign|blocked [CAPTURE] | fdreuse | foreign\n", argv[0]);
        return 2;
    }
    if (rc != 0)
        return rc;
    printf("RESULT %s\n", h_failed() ? "FAIL" : "PASS");
    return h_failed() ? 1 : 0;
}
