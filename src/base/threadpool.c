/* threadpool: fork/join regions over persistent workers (see threadpool.h).
 *
 * Protocol: the caller publishes fn/ctx, then increments `generation` (release). A worker that
 * sees a new generation (acquire) runs its share and increments `n_done`. The caller runs share 0
 * and spins until n_done reaches nth - 1. Workers spin for SPIN_ITERS polls before sleeping on
 * `cv`; the caller broadcasts only when someone sleeps. */
#include "base/threadpool.h"

#include "base/alloc.h"

#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>

/* Spin budget before sleeping (~1 ms), and after how many polls a spinner starts yielding the
 * CPU: on a loaded machine a thread that spins while its partner is descheduled would burn its
 * whole time slice, so spinners yield early and often. */
#define SPIN_ITERS 20000
#define YIELD_AFTER 1024

struct threadpool {
    int n_threads;
    pthread_t *threads;
    threadpool_fn fn;
    void *ctx;
    _Atomic uint64_t generation;
    _Atomic int n_done;
    _Atomic int n_sleeping;
    _Atomic bool stop;
    pthread_mutex_t mu;
    pthread_cond_t cv;
};

struct worker_arg {
    struct threadpool *tp;
    int ith;
};

static inline void cpu_relax(void)
{
#if defined(__x86_64__) || defined(__i386__)
    __builtin_ia32_pause();
#endif
}

static void *worker_main(void *p)
{
    struct worker_arg *arg = p;
    struct threadpool *tp = arg->tp;
    int ith = arg->ith;
    free(arg);
    uint64_t seen = 0;
    for (;;) {
        uint64_t gen;
        int spins = 0;
        while ((gen = atomic_load_explicit(&tp->generation, memory_order_acquire)) == seen &&
               !atomic_load_explicit(&tp->stop, memory_order_acquire)) {
            if (++spins < SPIN_ITERS) {
                if (spins > YIELD_AFTER && spins % 64 == 0)
                    sched_yield();
                else
                    cpu_relax();
                continue;
            }
            pthread_mutex_lock(&tp->mu);
            atomic_fetch_add(&tp->n_sleeping, 1);
            while (atomic_load(&tp->generation) == seen && !atomic_load(&tp->stop))
                pthread_cond_wait(&tp->cv, &tp->mu);
            atomic_fetch_sub(&tp->n_sleeping, 1);
            pthread_mutex_unlock(&tp->mu);
            spins = 0;
        }
        if (atomic_load_explicit(&tp->stop, memory_order_acquire))
            return NULL;
        seen = gen;
        tp->fn(tp->ctx, ith, tp->n_threads);
        atomic_fetch_add_explicit(&tp->n_done, 1, memory_order_release);
    }
}

struct threadpool *threadpool_new(int n_threads)
{
    struct threadpool *tp = xcalloc(1, sizeof *tp);
    tp->n_threads = n_threads < 1 ? 1 : n_threads;
    pthread_mutex_init(&tp->mu, NULL);
    pthread_cond_init(&tp->cv, NULL);
    tp->threads = xcalloc((size_t)tp->n_threads, sizeof *tp->threads);
    for (int i = 1; i < tp->n_threads; i++) {
        struct worker_arg *arg = xmalloc(sizeof *arg);
        arg->tp = tp;
        arg->ith = i;
        pthread_create(&tp->threads[i], NULL, worker_main, arg);
    }
    return tp;
}

void threadpool_free(struct threadpool *tp)
{
    if (!tp)
        return;
    pthread_mutex_lock(&tp->mu);
    atomic_store(&tp->stop, true);
    pthread_cond_broadcast(&tp->cv);
    pthread_mutex_unlock(&tp->mu);
    for (int i = 1; i < tp->n_threads; i++)
        pthread_join(tp->threads[i], NULL);
    pthread_mutex_destroy(&tp->mu);
    pthread_cond_destroy(&tp->cv);
    free(tp->threads);
    free(tp);
}

int threadpool_n_threads(const struct threadpool *tp) { return tp->n_threads; }

void threadpool_run(struct threadpool *tp, threadpool_fn fn, void *ctx)
{
    if (tp->n_threads == 1) {
        fn(ctx, 0, 1);
        return;
    }
    tp->fn = fn;
    tp->ctx = ctx;
    atomic_store_explicit(&tp->n_done, 0, memory_order_relaxed);
    atomic_fetch_add(&tp->generation, 1); /* seq_cst: ordered before the n_sleeping load */
    if (atomic_load(&tp->n_sleeping) > 0) {
        pthread_mutex_lock(&tp->mu);
        pthread_cond_broadcast(&tp->cv);
        pthread_mutex_unlock(&tp->mu);
    }
    fn(ctx, 0, tp->n_threads);
    for (int spins = 0; atomic_load_explicit(&tp->n_done, memory_order_acquire) < tp->n_threads - 1;)
        if (++spins > YIELD_AFTER && spins % 64 == 0)
            sched_yield();
        else
            cpu_relax();
}
