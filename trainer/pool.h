/* pool.h -- a fixed team of threads that run one function together.
 *
 * pool_run() hands the same function to every thread (the caller is thread
 * 0) and returns when all have finished. Inside it, pool_barrier() makes the
 * team wait for each other between phases of a training step. Barriers spin
 * briefly before yielding: a step lasts tens of microseconds, far less than
 * a sleep/wake-up through the kernel would cost.
 */
#ifndef DIGITS_POOL_H
#define DIGITS_POOL_H

typedef struct pool pool;
typedef void (*pool_fn)(void *arg, int thread, int n_threads);

/* Starts n_threads - 1 workers. Returns NULL on failure. */
pool *pool_create(int n_threads);
int pool_size(const pool *p);
void pool_run(pool *p, pool_fn fn, void *arg);
void pool_barrier(pool *p);
void pool_destroy(pool *p);

/* The slice [*begin, *end) of 0..n that thread t of T owns, with slice
 * boundaries on multiples of align so vector loops split identically. */
void pool_split(int n, int t, int T, int align, int *begin, int *end);

/* Number of CPUs this process may run on (at least 1). */
int pool_available_cpus(void);

#endif
