/*
 * How long a thread waits for pthread mutexes (LMDB's cross-process write
 * lock and reader-table lock are robust pthread mutexes in its lock file).
 *
 * lock_wait.c defines pthread_mutex_lock in the executable, so libsesscb's
 * calls (LMDB is compiled into it) bind to it first; it tries the lock and
 * times only the acquisitions that had to wait. Recording is per thread and
 * only between lock_wait_begin() and lock_wait_end(), so the OpenSSL and
 * libc locks taken elsewhere are not counted.
 */
#ifndef SESSCB_BENCH_LOCK_WAIT_H
#define SESSCB_BENCH_LOCK_WAIT_H

#include <stdint.h>

struct lock_wait {
    uint64_t acquisitions; /* pthread_mutex_lock calls while recording */
    uint64_t contended;    /* of which the mutex was held: had to wait */
    uint64_t wait_ns;      /* time those waited, summed */
};

/* Starts recording this thread's lock waits from zero. */
void lock_wait_begin(void);

/* Stops recording and returns what this thread waited since begin. */
struct lock_wait lock_wait_end(void);

#endif
