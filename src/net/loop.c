/* loop: epoll + timer heap + eventfd posts (see loop.h).
 *
 * fd slots: an array indexed by fd holds (callback, arg, generation). Each epoll registration
 * carries fd | generation << 32, so an event still queued for an fd that a callback closed (and
 * the kernel already reused for a new connection) is recognised as stale and dropped.
 * Timers: a binary min-heap ordered by deadline, then by insertion sequence (equal deadlines fire
 * in the order they were added); each timer knows its heap index, so cancel is O(log n).
 * Posts: a mutex-protected FIFO; the eventfd wakes epoll_wait. */
#include "net/loop.h"

#include "base/alloc.h"
#include "base/clock.h"
#include "base/log.h"

#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <unistd.h>

struct fd_slot {
    loop_io_fn fn;
    void *arg;
    uint32_t gen;
    bool used;
};

struct loop_timer {
    uint64_t deadline_ms;
    uint64_t seq;
    size_t heap_index;
    loop_timer_fn fn;
    void *arg;
};

struct post {
    loop_post_fn fn;
    void *arg;
    struct post *next;
};

struct loop {
    int epfd;
    int wakefd;
    struct fd_slot *slots;
    int n_slots;
    struct loop_timer **heap;
    size_t n_heap, cap_heap;
    uint64_t timer_seq;
    pthread_mutex_t post_mu;
    struct post *post_head, *post_tail;
    _Atomic bool stop;
    uint64_t now_ms;
};

static uint64_t mono_ms(void) { return clock_now_ns() / 1000000ull; }

struct loop *loop_new(void)
{
    struct loop *l = xcalloc(1, sizeof *l);
    l->epfd = epoll_create1(EPOLL_CLOEXEC);
    l->wakefd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    if (l->epfd < 0 || l->wakefd < 0) {
        log_error("loop: epoll/eventfd: %s", strerror(errno));
        if (l->epfd >= 0)
            close(l->epfd);
        if (l->wakefd >= 0)
            close(l->wakefd);
        free(l);
        return NULL;
    }
    struct epoll_event ev = {.events = EPOLLIN, .data.u64 = UINT64_MAX};
    epoll_ctl(l->epfd, EPOLL_CTL_ADD, l->wakefd, &ev);
    pthread_mutex_init(&l->post_mu, NULL);
    l->now_ms = mono_ms();
    return l;
}

void loop_free(struct loop *l)
{
    if (!l)
        return;
    for (size_t i = 0; i < l->n_heap; i++)
        free(l->heap[i]);
    free(l->heap);
    free(l->slots);
    for (struct post *p = l->post_head; p;) {
        struct post *n = p->next;
        free(p);
        p = n;
    }
    pthread_mutex_destroy(&l->post_mu);
    close(l->epfd);
    close(l->wakefd);
    free(l);
}

uint64_t loop_now_ms(struct loop *l) { return l->now_ms; }

/* ---- fds ---- */

static uint32_t to_epoll(uint32_t events)
{
    return (events & LOOP_READ ? EPOLLIN | EPOLLRDHUP : 0) | (events & LOOP_WRITE ? EPOLLOUT : 0);
}

int loop_add_fd(struct loop *l, int fd, uint32_t events, loop_io_fn fn, void *arg)
{
    if (fd < 0)
        return -1;
    if (fd >= l->n_slots) {
        int n = l->n_slots ? l->n_slots : 64;
        while (n <= fd)
            n *= 2;
        l->slots = xrealloc_array(l->slots, (size_t)n, sizeof *l->slots);
        memset(l->slots + l->n_slots, 0, (size_t)(n - l->n_slots) * sizeof *l->slots);
        l->n_slots = n;
    }
    struct fd_slot *s = &l->slots[fd];
    s->gen++;
    struct epoll_event ev = {.events = to_epoll(events),
                             .data.u64 = (uint64_t)(uint32_t)fd | (uint64_t)s->gen << 32};
    if (epoll_ctl(l->epfd, EPOLL_CTL_ADD, fd, &ev) != 0)
        return -1;
    s->fn = fn;
    s->arg = arg;
    s->used = true;
    return 0;
}

int loop_mod_fd(struct loop *l, int fd, uint32_t events)
{
    if (fd < 0 || fd >= l->n_slots || !l->slots[fd].used)
        return -1;
    struct epoll_event ev = {.events = to_epoll(events),
                             .data.u64 = (uint64_t)(uint32_t)fd | (uint64_t)l->slots[fd].gen << 32};
    return epoll_ctl(l->epfd, EPOLL_CTL_MOD, fd, &ev);
}

void loop_del_fd(struct loop *l, int fd)
{
    if (fd < 0 || fd >= l->n_slots || !l->slots[fd].used)
        return;
    epoll_ctl(l->epfd, EPOLL_CTL_DEL, fd, NULL);
    l->slots[fd].used = false;
    l->slots[fd].gen++; /* events already fetched for this registration become stale */
}

/* ---- timers ---- */

static bool timer_before(const struct loop_timer *a, const struct loop_timer *b)
{
    return a->deadline_ms < b->deadline_ms || (a->deadline_ms == b->deadline_ms && a->seq < b->seq);
}

static void heap_set(struct loop *l, size_t i, struct loop_timer *t)
{
    l->heap[i] = t;
    t->heap_index = i;
}

static void heap_up(struct loop *l, size_t i)
{
    struct loop_timer *t = l->heap[i];
    while (i > 0 && timer_before(t, l->heap[(i - 1) / 2])) {
        heap_set(l, i, l->heap[(i - 1) / 2]);
        i = (i - 1) / 2;
    }
    heap_set(l, i, t);
}

static void heap_down(struct loop *l, size_t i)
{
    struct loop_timer *t = l->heap[i];
    for (;;) {
        size_t c = 2 * i + 1;
        if (c >= l->n_heap)
            break;
        if (c + 1 < l->n_heap && timer_before(l->heap[c + 1], l->heap[c]))
            c++;
        if (!timer_before(l->heap[c], t))
            break;
        heap_set(l, i, l->heap[c]);
        i = c;
    }
    heap_set(l, i, t);
}

static void heap_remove(struct loop *l, size_t i)
{
    l->n_heap--;
    if (i == l->n_heap)
        return;
    struct loop_timer *t = l->heap[l->n_heap];
    heap_set(l, i, t);
    heap_down(l, i);
    heap_up(l, t->heap_index);
}

struct loop_timer *loop_timer_add(struct loop *l, uint64_t delay_ms, loop_timer_fn fn, void *arg)
{
    struct loop_timer *t = xmalloc(sizeof *t);
    t->deadline_ms = mono_ms() + delay_ms;
    t->seq = l->timer_seq++;
    t->fn = fn;
    t->arg = arg;
    if (l->n_heap == l->cap_heap) {
        l->cap_heap = l->cap_heap ? 2 * l->cap_heap : 64;
        l->heap = xrealloc_array(l->heap, l->cap_heap, sizeof *l->heap);
    }
    heap_set(l, l->n_heap++, t);
    heap_up(l, t->heap_index);
    return t;
}

void loop_timer_cancel(struct loop *l, struct loop_timer *t)
{
    if (!t)
        return;
    heap_remove(l, t->heap_index);
    free(t);
}

static void run_timers(struct loop *l)
{
    l->now_ms = mono_ms();
    while (l->n_heap > 0 && l->heap[0]->deadline_ms <= l->now_ms) {
        struct loop_timer *t = l->heap[0];
        heap_remove(l, 0);
        loop_timer_fn fn = t->fn;
        void *arg = t->arg;
        free(t); /* before the call: the callback may add timers that reuse memory */
        fn(l, arg);
    }
}

/* ---- posts ---- */

void loop_post(struct loop *l, loop_post_fn fn, void *arg)
{
    struct post *p = xmalloc(sizeof *p);
    p->fn = fn;
    p->arg = arg;
    p->next = NULL;
    pthread_mutex_lock(&l->post_mu);
    if (l->post_tail)
        l->post_tail->next = p;
    else
        l->post_head = p;
    l->post_tail = p;
    pthread_mutex_unlock(&l->post_mu);
    uint64_t one = 1;
    ssize_t w = write(l->wakefd, &one, sizeof one);
    (void)w; /* EAGAIN means the counter is already non-zero: the loop will wake */
}

static void run_posts(struct loop *l)
{
    uint64_t v;
    ssize_t r = read(l->wakefd, &v, sizeof v);
    (void)r;
    pthread_mutex_lock(&l->post_mu);
    struct post *p = l->post_head;
    l->post_head = l->post_tail = NULL;
    pthread_mutex_unlock(&l->post_mu);
    while (p) {
        struct post *n = p->next;
        p->fn(p->arg);
        free(p);
        p = n;
    }
}

void loop_stop(struct loop *l)
{
    atomic_store(&l->stop, true);
    uint64_t one = 1;
    ssize_t w = write(l->wakefd, &one, sizeof one);
    (void)w;
}

int loop_run(struct loop *l)
{
    struct epoll_event evs[256];
    atomic_store(&l->stop, false);
    while (!atomic_load(&l->stop)) {
        run_timers(l);
        int timeout = -1;
        if (l->n_heap > 0) {
            uint64_t now = mono_ms(), dl = l->heap[0]->deadline_ms;
            timeout = dl <= now ? 0 : (int)(dl - now > 60000 ? 60000 : dl - now);
        }
        int n = epoll_wait(l->epfd, evs, (int)(sizeof evs / sizeof *evs), timeout);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            log_error("loop: epoll_wait: %s", strerror(errno));
            return -1;
        }
        l->now_ms = mono_ms();
        for (int i = 0; i < n; i++) {
            if (evs[i].data.u64 == UINT64_MAX) {
                run_posts(l);
                continue;
            }
            int fd = (int)(uint32_t)evs[i].data.u64;
            uint32_t gen = (uint32_t)(evs[i].data.u64 >> 32);
            if (fd >= l->n_slots || !l->slots[fd].used || l->slots[fd].gen != gen)
                continue; /* removed (and maybe reused) earlier in this batch */
            uint32_t e = evs[i].events, what = 0;
            if (e & (EPOLLIN | EPOLLRDHUP))
                what |= LOOP_READ;
            if (e & EPOLLOUT)
                what |= LOOP_WRITE;
            if (e & (EPOLLERR | EPOLLHUP))
                what |= LOOP_ERROR;
            l->slots[fd].fn(l, fd, what, l->slots[fd].arg);
        }
    }
    return 0;
}
