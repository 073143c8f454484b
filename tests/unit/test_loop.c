/* The event loop: timer order and cancellation, fd readiness, stale events after close-and-reuse,
 * and posts from other threads arriving in order. */
#include "check.h"

#include "net/loop.h"

#include <pthread.h>
#include <unistd.h>

static int g_order[16], g_n_order;

static void record(struct loop *l, void *arg)
{
    (void)l;
    g_order[g_n_order++] = (int)(intptr_t)arg;
}

static void stop_cb(struct loop *l, void *arg)
{
    (void)arg;
    loop_stop(l);
}

static void test_timers(void)
{
    struct loop *l = loop_new();
    g_n_order = 0;
    loop_timer_add(l, 30, record, (void *)3);
    loop_timer_add(l, 10, record, (void *)1);
    struct loop_timer *c = loop_timer_add(l, 20, record, (void *)99);
    loop_timer_add(l, 20, record, (void *)2); /* same deadline as a cancelled one */
    loop_timer_add(l, 0, record, (void *)0);
    loop_timer_cancel(l, c);
    loop_timer_add(l, 50, stop_cb, NULL);
    uint64_t t0 = loop_now_ms(l);
    CHECK(loop_run(l) == 0);
    CHECK(loop_now_ms(l) - t0 >= 50);
    CHECK_EQ_INT(g_n_order, 4);
    for (int i = 0; i < 4; i++)
        CHECK_EQ_INT(g_order[i], i);
    loop_free(l);
}

struct pipe_ctx {
    int reads;
    char got[8];
};

static void on_read(struct loop *l, int fd, uint32_t ev, void *arg)
{
    struct pipe_ctx *p = arg;
    CHECK(ev & LOOP_READ);
    ssize_t n = read(fd, p->got, sizeof p->got);
    CHECK(n > 0);
    p->reads++;
    loop_stop(l);
}

static void test_fd(void)
{
    struct loop *l = loop_new();
    int fds[2];
    CHECK(pipe(fds) == 0);
    struct pipe_ctx p = {0};
    CHECK(loop_add_fd(l, fds[0], LOOP_READ, on_read, &p) == 0);
    CHECK(write(fds[1], "hi", 2) == 2);
    loop_run(l);
    CHECK_EQ_INT(p.reads, 1);
    CHECK(memcmp(p.got, "hi", 2) == 0);
    loop_del_fd(l, fds[0]);
    close(fds[0]);
    close(fds[1]);
    loop_free(l);
}

/* Two readable pipes; the first callback closes the second and registers a new pipe that gets
 * the same fd number. The stale event must not reach the new registration. */
struct reuse_ctx {
    int a_rd, b_rd, c_rd, c_wr;
    int calls_c;
};

static void on_c(struct loop *l, int fd, uint32_t ev, void *arg)
{
    (void)l, (void)fd, (void)ev;
    ((struct reuse_ctx *)arg)->calls_c++;
}

static void on_a(struct loop *l, int fd, uint32_t ev, void *arg)
{
    (void)ev;
    struct reuse_ctx *r = arg;
    char c;
    CHECK(read(fd, &c, 1) == 1);
    int other = fd == r->a_rd ? r->b_rd : r->a_rd;
    /* close whichever of a/b is not us, then reuse its number */
    loop_del_fd(l, other);
    close(other);
    int p[2];
    CHECK(pipe(p) == 0);
    r->c_rd = p[0];
    r->c_wr = p[1];
    loop_add_fd(l, p[0], LOOP_READ, on_c, r);
    loop_timer_add(l, 20, stop_cb, NULL);
    loop_del_fd(l, fd);
}

static void test_stale_events(void)
{
    struct loop *l = loop_new();
    struct reuse_ctx r = {0};
    int a[2], b[2];
    CHECK(pipe(a) == 0 && pipe(b) == 0);
    r.a_rd = a[0];
    r.b_rd = b[0];
    loop_add_fd(l, a[0], LOOP_READ, on_a, &r);
    loop_add_fd(l, b[0], LOOP_READ, on_a, &r);
    CHECK(write(a[1], "x", 1) == 1 && write(b[1], "y", 1) == 1);
    loop_run(l);
    CHECK_EQ_INT(r.calls_c, 0); /* the new pipe was never written to */
    close(a[0]), close(a[1]), close(b[0]), close(b[1]), close(r.c_rd), close(r.c_wr);
    loop_free(l);
}

struct poster {
    struct loop *l;
    int base;
};

static int g_posted[2000], g_n_posted;

static void on_post(void *arg)
{
    g_posted[g_n_posted++] = (int)(intptr_t)arg;
}

static void *post_thread(void *arg)
{
    struct poster *p = arg;
    for (int i = 0; i < 1000; i++)
        loop_post(p->l, on_post, (void *)(intptr_t)(p->base + i));
    return NULL;
}

static void test_posts(void)
{
    struct loop *l = loop_new();
    g_n_posted = 0;
    struct poster a = {l, 0}, b = {l, 10000};
    pthread_t ta, tb;
    pthread_create(&ta, NULL, post_thread, &a);
    pthread_create(&tb, NULL, post_thread, &b);
    pthread_join(ta, NULL);
    pthread_join(tb, NULL);
    loop_timer_add(l, 10, stop_cb, NULL);
    loop_run(l);
    CHECK_EQ_INT(g_n_posted, 2000);
    /* each thread's posts arrive in its order */
    int last_a = -1, last_b = 9999, ok = 1;
    for (int i = 0; i < g_n_posted; i++) {
        int v = g_posted[i];
        if (v < 10000) {
            ok &= v == last_a + 1;
            last_a = v;
        } else {
            ok &= v == last_b + 1;
            last_b = v;
        }
    }
    CHECK(ok);
    loop_free(l);
}

int main(void)
{
    RUN(test_timers);
    RUN(test_fd);
    RUN(test_stale_events);
    RUN(test_posts);
    return check_report();
}
