/* pool.c -- thread team with a spinning barrier (see pool.h). */
#define _GNU_SOURCE
#include "pool.h"

#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <unistd.h>

#define SPINS_BEFORE_YIELD 2000

struct pool {
    int n_threads;
    pthread_t *threads;

    /* Job hand-off: workers sleep on the condition variable between jobs. */
    pthread_mutex_t lock;
    pthread_cond_t job_posted, job_done;
    unsigned long job_generation;
    int workers_busy;
    int stopping;
    pool_fn fn;
    void *arg;

    /* Sense-reversing barrier. */
    atomic_int barrier_waiting;
    atomic_int barrier_sense;
};

typedef struct {
    pool *p;
    int index;
} worker_arg;

static void *worker_main(void *raw)
{
    worker_arg *wa = raw;
    pool *p = wa->p;
    int index = wa->index;
    free(wa);
    unsigned long seen = 0;
    for (;;) {
        pthread_mutex_lock(&p->lock);
        while (p->job_generation == seen && !p->stopping)
            pthread_cond_wait(&p->job_posted, &p->lock);
        if (p->stopping) {
            pthread_mutex_unlock(&p->lock);
            return NULL;
        }
        seen = p->job_generation;
        pool_fn fn = p->fn;
        void *arg = p->arg;
        pthread_mutex_unlock(&p->lock);

        fn(arg, index, p->n_threads);

        pthread_mutex_lock(&p->lock);
        if (--p->workers_busy == 0)
            pthread_cond_signal(&p->job_done);
        pthread_mutex_unlock(&p->lock);
    }
}

pool *pool_create(int n_threads)
{
    if (n_threads < 1)
        n_threads = 1;
    pool *p = calloc(1, sizeof *p);
    if (!p)
        return NULL;
    p->n_threads = n_threads;
    p->threads = calloc((size_t)n_threads, sizeof *p->threads);
    if (!p->threads) {
        free(p);
        return NULL;
    }
    pthread_mutex_init(&p->lock, NULL);
    pthread_cond_init(&p->job_posted, NULL);
    pthread_cond_init(&p->job_done, NULL);
    atomic_init(&p->barrier_waiting, 0);
    atomic_init(&p->barrier_sense, 0);
    for (int i = 1; i < n_threads; i++) {
        worker_arg *wa = malloc(sizeof *wa);
        if (wa) {
            wa->p = p;
            wa->index = i;
        }
        if (!wa || pthread_create(&p->threads[i], NULL, worker_main, wa) != 0) {
            free(wa);
            p->n_threads = i; /* destroy joins only the workers that started */
            pool_destroy(p);
            return NULL;
        }
    }
    return p;
}

int pool_size(const pool *p) { return p->n_threads; }

void pool_run(pool *p, pool_fn fn, void *arg)
{
    pthread_mutex_lock(&p->lock);
    p->fn = fn;
    p->arg = arg;
    p->workers_busy = p->n_threads - 1;
    p->job_generation++;
    pthread_cond_broadcast(&p->job_posted);
    pthread_mutex_unlock(&p->lock);

    fn(arg, 0, p->n_threads);

    pthread_mutex_lock(&p->lock);
    while (p->workers_busy > 0)
        pthread_cond_wait(&p->job_done, &p->lock);
    pthread_mutex_unlock(&p->lock);
}

void pool_barrier(pool *p)
{
    if (p->n_threads == 1)
        return;
    int sense = atomic_load_explicit(&p->barrier_sense, memory_order_relaxed);
    if (atomic_fetch_add_explicit(&p->barrier_waiting, 1, memory_order_acq_rel) ==
        p->n_threads - 1) {
        atomic_store_explicit(&p->barrier_waiting, 0, memory_order_relaxed);
        atomic_store_explicit(&p->barrier_sense, !sense, memory_order_release);
        return;
    }
    int spins = 0;
    while (atomic_load_explicit(&p->barrier_sense, memory_order_acquire) == sense) {
        if (++spins > SPINS_BEFORE_YIELD) {
            sched_yield();
            spins = 0;
        }
    }
}

void pool_destroy(pool *p)
{
    if (!p)
        return;
    pthread_mutex_lock(&p->lock);
    p->stopping = 1;
    pthread_cond_broadcast(&p->job_posted);
    pthread_mutex_unlock(&p->lock);
    for (int i = 1; i < p->n_threads; i++)
        pthread_join(p->threads[i], NULL);
    pthread_mutex_destroy(&p->lock);
    pthread_cond_destroy(&p->job_posted);
    pthread_cond_destroy(&p->job_done);
    free(p->threads);
    free(p);
}

void pool_split(int n, int t, int T, int align, int *begin, int *end)
{
    int blocks = (n + align - 1) / align;
    int per = blocks / T, extra = blocks % T;
    int first = t * per + (t < extra ? t : extra);
    int count = per + (t < extra ? 1 : 0);
    *begin = first * align < n ? first * align : n;
    *end = (first + count) * align < n ? (first + count) * align : n;
}

int pool_available_cpus(void)
{
    cpu_set_t set;
    if (sched_getaffinity(0, sizeof set, &set) == 0) {
        int n = CPU_COUNT(&set);
        if (n > 0)
            return n;
    }
    long n = sysconf(_SC_NPROCESSORS_ONLN);
    return n > 0 ? (int)n : 1;
}
