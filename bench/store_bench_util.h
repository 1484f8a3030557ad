/*
 * Helpers of the store benchmark (store_bench.c): clocks, session ids,
 * percentiles, the callbacks libssl really holds, and session files.
 */
#ifndef SESSCB_STORE_BENCH_UTIL_H
#define SESSCB_STORE_BENCH_UTIL_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include <openssl/ssl.h>

void die(const char *what);
uint64_t now_ns(void); /* CLOCK_MONOTONIC */
uint64_t cpu_ns(void); /* this thread's CPU time */

/* Nanoseconds from now until the wall-clock instant start_ms (Unix ms), 0
 * if it has passed: lets processes started apart begin together. */
uint64_t realtime_until_ns(long long start_ms);

/* The median cost of one now_ns() pair around nothing. */
uint64_t clock_overhead_ns(void);

/* A distinct 32-byte session id for (tag, thread, seq). */
void make_id(unsigned char id[32], uint64_t tag, uint64_t thread, uint64_t seq);

/* The new / get callback stored in the ctx (libssl's own getters: with
 * sesscb in the path, its trampolines; the application's otherwise). */
int (*real_new_cb(SSL_CTX *ctx))(SSL *, SSL_SESSION *);
SSL_SESSION *(*real_get_cb(SSL_CTX *ctx))(SSL *, const unsigned char *, int, int *);

/* ,"NAME":{"p50_us":..,"p99_us":..,"p999_us":..,"max_us":..,"mean_us":..}
 * of n durations in ns less `overhead` each (sorts `ns`). */
void print_percentiles(const char *name, uint64_t *ns, size_t n, uint64_t overhead);

/* {"bench":NAME,"sesscb":0|1,"store":"...","openssl":"..." ... json_end. */
void json_begin(const char *bench);
void json_end(void);

/* A session as length-prefixed DER; read returns NULL at the end. */
int write_session(FILE *f, SSL_SESSION *sess);
SSL_SESSION *read_session(FILE *f);

#endif
