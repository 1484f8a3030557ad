/*
 * The store bench's view of sesscb's process counters (sesscb_stats with a
 * NULL ctx), looked up at run time so that store-plain, which has no
 * sesscb, builds and runs from the same object files.
 */
#ifndef SESSCB_STORE_COUNTERS_H
#define SESSCB_STORE_COUNTERS_H

#include <stdint.h>

struct store_counters {
    uint64_t local_hit, remote_hit, miss, timeout, breaker_open, lookup_remote_error, unavailable, rate_limited;
    uint64_t auth_fail, stores_ok, remote_ok, store_remote_error, queue_dropped;
};

/* 1 and *c filled when sesscb is in the process, else 0 (and *c zeroed). */
int store_counters_read(struct store_counters *c);

/* ,"counters":{...} for a JSON object being printed (nothing without sesscb). */
void print_store_counters(void);

/* 1 when SESSCB_STORE names a Redis backend (its writes go through the
 * Redis thread), else 0. */
int store_is_remote(void);

/* Waits (at most max_ms) until the Redis thread has dealt with `writes`
 * queued writes (sent, failed or dropped); returns how many it has. */
uint64_t store_wait_remote_writes(uint64_t writes, int max_ms);

#endif
