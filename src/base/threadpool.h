/* threadpool: a fixed set of worker threads that run one parallel region at a time.
 *
 * threadpool_run(tp, fn, ctx) calls fn(ctx, ith, nth) on every thread (the caller is ith 0) and
 * returns when all have finished: a fork/join with the caller participating, the shape of every
 * parallel op in the engine (each op splits its own work statically by ith/nth). Workers spin
 * briefly between regions (regions come back-to-back during a forward pass) and then sleep on a
 * condition variable, so an idle pool costs no CPU. Not reentrant: one region at a time.
 */
#ifndef BATON_BASE_THREADPOOL_H
#define BATON_BASE_THREADPOOL_H

struct threadpool;

typedef void (*threadpool_fn)(void *ctx, int ith, int nth);

/* Creates a pool of n_threads threads in total (n_threads - 1 workers plus the caller). */
struct threadpool *threadpool_new(int n_threads);
void threadpool_free(struct threadpool *tp);
int threadpool_n_threads(const struct threadpool *tp);
void threadpool_run(struct threadpool *tp, threadpool_fn fn, void *ctx);

/* Splits [0, n) into nth near-equal ranges; returns thread ith's range in *lo, *hi. */
static inline void threadpool_split(long n, int ith, int nth, long *lo, long *hi)
{
    long per = n / nth, rem = n % nth;
    *lo = ith * per + (ith < rem ? ith : rem);
    *hi = *lo + per + (ith < rem ? 1 : 0);
}

#endif
