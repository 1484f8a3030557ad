/* See store_counters.h. */
#define _GNU_SOURCE
#include "store_counters.h"

#include <dlfcn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <openssl/ssl.h>

#include "sesscb.h"

int store_counters_read(struct store_counters *c)
{
    int (*stats)(const SSL_CTX *, struct sesscb_stats *) =
        (int (*)(const SSL_CTX *, struct sesscb_stats *))dlsym(RTLD_DEFAULT, "sesscb_stats");
    struct sesscb_stats s;

    memset(c, 0, sizeof(*c));
    memset(&s, 0, sizeof(s));
    s.size = sizeof(s);
    /* An older libsesscb (BENCH_LIB_DIR) writes fewer fields: the rest stay 0. */
    if (stats == NULL || stats(NULL, &s) != 0)
        return 0;
    c->local_hit = s.store_lookups_local_hit;
    c->remote_hit = s.store_lookups_remote_hit;
    c->miss = s.store_lookups_miss;
    c->timeout = s.store_lookups_timeout;
    c->breaker_open = s.store_lookups_breaker_open;
    c->lookup_remote_error = s.store_lookups_remote_error;
    c->unavailable = s.store_lookups_unavailable;
    c->rate_limited = s.store_lookups_rate_limited;
    c->auth_fail = s.store_lookups_auth_fail;
    c->stores_ok = s.store_stores_ok;
    c->remote_ok = s.store_stores_remote_ok;
    c->store_remote_error = s.store_stores_remote_error;
    c->queue_dropped = s.store_stores_queue_dropped;
    return 1;
}

void print_store_counters(void)
{
    struct store_counters c;
    if (!store_counters_read(&c))
        return;
    printf(",\"counters\":{\"local_hit\":%llu,\"remote_hit\":%llu,\"miss\":%llu,\"timeout\":%llu"
           ",\"breaker_open\":%llu,\"lookup_remote_error\":%llu,\"unavailable\":%llu,\"rate_limited\":%llu"
           ",\"auth_fail\":%llu,\"stores_ok\":%llu,\"remote_ok\":%llu,\"store_remote_error\":%llu"
           ",\"queue_dropped\":%llu}",
           (unsigned long long)c.local_hit, (unsigned long long)c.remote_hit, (unsigned long long)c.miss,
           (unsigned long long)c.timeout, (unsigned long long)c.breaker_open,
           (unsigned long long)c.lookup_remote_error, (unsigned long long)c.unavailable,
           (unsigned long long)c.rate_limited, (unsigned long long)c.auth_fail, (unsigned long long)c.stores_ok,
           (unsigned long long)c.remote_ok, (unsigned long long)c.store_remote_error,
           (unsigned long long)c.queue_dropped);
}

int store_is_remote(void)
{
    const char *store = getenv("SESSCB_STORE");
    return store != NULL && strstr(store, "://") != NULL;
}

uint64_t store_wait_remote_writes(uint64_t writes, int max_ms)
{
    struct store_counters c;
    uint64_t done = 0;
    int waited;

    for (waited = 0; waited <= max_ms; waited += 10) {
        if (!store_counters_read(&c))
            return 0;
        done = c.remote_ok + c.store_remote_error + c.queue_dropped;
        if (done >= writes)
            break;
        usleep(10000);
    }
    return done;
}
