/* See store_bench_util.h. */
#define _GNU_SOURCE
#include "store_bench_util.h"

#include <dlfcn.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <openssl/crypto.h>
#include <openssl/err.h>

void die(const char *what)
{
    fprintf(stderr, "store-bench: %s\n", what);
    ERR_print_errors_fp(stderr);
    exit(2);
}

static uint64_t clock_ns(clockid_t clock)
{
    struct timespec ts;
    clock_gettime(clock, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

uint64_t now_ns(void)
{
    return clock_ns(CLOCK_MONOTONIC);
}

uint64_t cpu_ns(void)
{
    return clock_ns(CLOCK_THREAD_CPUTIME_ID);
}

uint64_t realtime_until_ns(long long start_ms)
{
    uint64_t start = (uint64_t)start_ms * 1000000ull, now = clock_ns(CLOCK_REALTIME);
    return start > now ? start - now : 0;
}

static int cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

uint64_t clock_overhead_ns(void)
{
    uint64_t d[1001];
    int i;
    for (i = 0; i < 1001; i++) {
        uint64_t t0 = now_ns();
        d[i] = now_ns() - t0;
    }
    qsort(d, 1001, sizeof(d[0]), cmp_u64);
    return d[500];
}

static uint64_t splitmix64(uint64_t *state)
{
    uint64_t z = (*state += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

void make_id(unsigned char id[32], uint64_t tag, uint64_t thread, uint64_t seq)
{
    uint64_t st = (tag << 48) ^ (thread << 40) ^ seq, v;
    int i;
    for (i = 0; i < 32; i += 8) {
        v = splitmix64(&st);
        memcpy(id + i, &v, 8);
    }
    /* Distinct by construction, whatever the hash does. */
    memcpy(id + 8, &tag, 2);
    memcpy(id + 10, &thread, 2);
    memcpy(id + 12, &seq, 8);
}

/* dlsym in the libssl that defines SSL_new (a name sesscb does not export):
 * that object's own getters, not sesscb's. */
static void *libssl_symbol(const char *name)
{
    Dl_info info;
    void *h, *sym;
    if (dladdr((void *)SSL_new, &info) == 0 || info.dli_fname == NULL)
        die("dladdr(SSL_new)");
    h = dlopen(info.dli_fname, RTLD_NOLOAD | RTLD_LAZY);
    if (h == NULL || (sym = dlsym(h, name)) == NULL)
        die("libssl getter not found");
    return sym;
}

int (*real_new_cb(SSL_CTX *ctx))(SSL *, SSL_SESSION *)
{
    int (*(*get)(SSL_CTX *))(SSL *, SSL_SESSION *) =
        (int (*(*)(SSL_CTX *))(SSL *, SSL_SESSION *))libssl_symbol("SSL_CTX_sess_get_new_cb");
    return get(ctx);
}

SSL_SESSION *(*real_get_cb(SSL_CTX *ctx))(SSL *, const unsigned char *, int, int *)
{
    typedef SSL_SESSION *(*get_cb)(SSL *, const unsigned char *, int, int *);
    get_cb (*get)(SSL_CTX *) = (get_cb (*)(SSL_CTX *))libssl_symbol("SSL_CTX_sess_get_get_cb");
    return get(ctx);
}

static double us_at(const uint64_t *ns, size_t n, double q, uint64_t overhead)
{
    size_t i = (size_t)(q * (double)(n - 1) + 0.5);
    return ns[i] > overhead ? (double)(ns[i] - overhead) / 1000.0 : 0.0;
}

void print_percentiles(const char *name, uint64_t *ns, size_t n, uint64_t overhead)
{
    double sum = 0;
    size_t i;
    if (n == 0) {
        printf(",\"%s\":{\"n\":0}", name);
        return;
    }
    qsort(ns, n, sizeof(ns[0]), cmp_u64);
    for (i = 0; i < n; i++)
        sum += (double)ns[i];
    printf(",\"%s\":{\"n\":%zu,\"p50_us\":%.3f,\"p90_us\":%.3f,\"p99_us\":%.3f,\"p999_us\":%.3f,\"max_us\":%.3f"
           ",\"mean_us\":%.3f}", name, n, us_at(ns, n, 0.5, overhead), us_at(ns, n, 0.9, overhead),
           us_at(ns, n, 0.99, overhead), us_at(ns, n, 0.999, overhead), us_at(ns, n, 1.0, overhead),
           (sum / (double)n - (double)overhead) / 1000.0);
}

void json_begin(const char *bench)
{
    const char *store = getenv("SESSCB_STORE");
    printf("{\"bench\":\"%s\",\"sesscb\":%d,\"store\":\"%s\",\"openssl\":\"%s\"", bench,
           dlsym(RTLD_DEFAULT, "sesscb_version") != NULL, store != NULL ? store : "",
           OpenSSL_version(OPENSSL_VERSION));
}

void json_end(void)
{
    printf("}\n");
    fflush(stdout);
}

int write_session(FILE *f, SSL_SESSION *sess)
{
    unsigned char *der = NULL;
    int len = i2d_SSL_SESSION(sess, &der);
    uint32_t n = (uint32_t)len;
    int ok = len > 0 && fwrite(&n, sizeof(n), 1, f) == 1 && fwrite(der, 1, n, f) == n;
    OPENSSL_free(der);
    return ok;
}

SSL_SESSION *read_session(FILE *f)
{
    uint32_t n;
    unsigned char *buf;
    const unsigned char *p;
    SSL_SESSION *sess = NULL;
    if (fread(&n, sizeof(n), 1, f) != 1 || n == 0 || n > 1u << 20 || (buf = malloc(n)) == NULL)
        return NULL;
    p = buf;
    if (fread(buf, 1, n, f) == n)
        sess = d2i_SSL_SESSION(NULL, &p, (long)n);
    free(buf);
    return sess;
}
