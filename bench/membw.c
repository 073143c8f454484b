/* membw: the machine's read bandwidth with N threads, the ceiling decoding works against.
 *
 *   cc -O3 -march=native -pthread bench/membw.c -o /tmp/membw && /tmp/membw 2
 *
 * Each thread sums its own slice of a 900 MB buffer (larger than any cache, on transparent huge
 * pages as baton's packed weights are), six times; every pass prints the aggregate GB/s, timed
 * by the first reader between the barriers that start and end the pass (a timing thread of its
 * own could be descheduled past the start on 2 cores and report up to 3x too much). On a shared
 * VM the passes differ a lot: read the spread, not one number. */
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>

#define BYTES ((size_t)900 << 20)
#define PASSES 6

static uint64_t *g_buf;
static int g_threads;
static pthread_barrier_t g_bar;
static double g_pass_s[PASSES]; /* each pass's time, taken by reader 0 between the barriers */

static double now_s(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + (double)t.tv_nsec * 1e-9;
}

static void *reader(void *arg)
{
    size_t n = BYTES / sizeof(uint64_t) / (size_t)g_threads;
    const uint64_t *p = g_buf + (size_t)(intptr_t)arg * n;
    uint64_t sum = 0;
    for (int pass = 0; pass < PASSES; pass++) {
        pthread_barrier_wait(&g_bar);
        double t0 = now_s();
        for (size_t i = 0; i < n; i++)
            sum += p[i];
        pthread_barrier_wait(&g_bar);
        if (arg == 0)
            g_pass_s[pass] = now_s() - t0;
    }
    return (void *)(uintptr_t)sum;
}

int main(int argc, char **argv)
{
    g_threads = argc > 1 ? atoi(argv[1]) : 2;
    if (g_threads < 1 || g_threads > 64)
        return fprintf(stderr, "usage: membw [THREADS]\n"), 2;
    g_buf = aligned_alloc(1 << 21, BYTES);
    if (!g_buf)
        return fprintf(stderr, "membw: out of memory\n"), 1;
    madvise(g_buf, BYTES, MADV_HUGEPAGE); /* as baton's packed weights */
    memset(g_buf, 1, BYTES);
    pthread_barrier_init(&g_bar, NULL, (unsigned)g_threads);
    pthread_t th[64];
    for (int i = 0; i < g_threads; i++)
        pthread_create(&th[i], NULL, reader, (void *)(intptr_t)i);
    uint64_t total = 0;
    for (int i = 0; i < g_threads; i++) {
        void *r;
        pthread_join(th[i], &r);
        total += (uint64_t)(uintptr_t)r;
    }
    for (int pass = 0; pass < PASSES; pass++)
        printf("%d threads: %.1f GB/s\n", g_threads, (double)BYTES / g_pass_s[pass] / 1e9);
    return total == 42; /* keeps the sums alive */
}
