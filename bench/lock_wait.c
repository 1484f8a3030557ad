/* See lock_wait.h. */
#define _GNU_SOURCE
#include "lock_wait.h"

#include <dlfcn.h>
#include <errno.h>
#include <pthread.h>
#include <time.h>

typedef int (*mutex_fn)(pthread_mutex_t *);

static __thread int t_recording;
static __thread struct lock_wait t_wait;

static mutex_fn lock_fn, trylock_fn;

/* Resolved before main (this is the bench program, not the library), so no
 * thread ever sees them half set. */
__attribute__((constructor)) static void resolve_real_mutex_functions(void)
{
    lock_fn = (mutex_fn)dlsym(RTLD_NEXT, "pthread_mutex_lock");
    trylock_fn = (mutex_fn)dlsym(RTLD_NEXT, "pthread_mutex_trylock");
}

static uint64_t mono_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

/* Same result as libc's: a free mutex (or a robust one whose owner died,
 * EOWNERDEAD) is taken by the trylock; only a held one is waited for. */
int pthread_mutex_lock(pthread_mutex_t *m)
{
    uint64_t t0;
    int rc;

    if (lock_fn == NULL) /* called by a constructor that ran before ours */
        resolve_real_mutex_functions();
    if (!t_recording)
        return lock_fn(m);
    t_wait.acquisitions++;
    rc = trylock_fn(m);
    if (rc != EBUSY)
        return rc;
    t0 = mono_ns();
    rc = lock_fn(m);
    t_wait.contended++;
    t_wait.wait_ns += mono_ns() - t0;
    return rc;
}

void lock_wait_begin(void)
{
    struct lock_wait zero = { 0, 0, 0 };
    t_wait = zero;
    t_recording = 1;
}

struct lock_wait lock_wait_end(void)
{
    t_recording = 0;
    return t_wait;
}
