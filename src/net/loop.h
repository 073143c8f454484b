/* loop: the event loop every network component of `baton serve` runs on.
 *
 * One thread runs loop_run(); everything registered with a loop -- client connections, upstream
 * sockets (libcurl's multi interface), timers -- is called back on that thread, so none of it
 * needs locks. Other threads (the local engine's workers) hand work to the loop with loop_post(),
 * the only thread-safe call here. Built on epoll (level-triggered), a binary min-heap of timers
 * and an eventfd for posts.
 *
 * Ownership: a loop borrows the fds and arguments it is given; the caller removes an fd before
 * closing it. Callbacks may add, modify and remove fds and timers, including their own.
 */
#ifndef BATON_NET_LOOP_H
#define BATON_NET_LOOP_H

#include <stdbool.h>
#include <stdint.h>

struct loop;
struct loop_timer;

enum {
    LOOP_READ = 1u << 0,
    LOOP_WRITE = 1u << 1,
    LOOP_ERROR = 1u << 2, /* reported only: hang-up or socket error */
};

/* fd is ready for `events` (LOOP_READ | LOOP_WRITE | LOOP_ERROR). */
typedef void (*loop_io_fn)(struct loop *l, int fd, uint32_t events, void *arg);
typedef void (*loop_timer_fn)(struct loop *l, void *arg);
typedef void (*loop_post_fn)(void *arg);

struct loop *loop_new(void);
/* Frees the loop; registered fds are not closed, pending posts are dropped (not run). */
void loop_free(struct loop *l);

/* Watches fd for events (LOOP_READ and/or LOOP_WRITE). Returns -1 if epoll refuses it. */
int loop_add_fd(struct loop *l, int fd, uint32_t events, loop_io_fn fn, void *arg);
int loop_mod_fd(struct loop *l, int fd, uint32_t events);
void loop_del_fd(struct loop *l, int fd);

/* Calls fn(arg) once, after delay_ms (0: on the next iteration). The handle is valid until the
 * timer fires or is cancelled; cancelling a fired timer is a bug. */
struct loop_timer *loop_timer_add(struct loop *l, uint64_t delay_ms, loop_timer_fn fn, void *arg);
void loop_timer_cancel(struct loop *l, struct loop_timer *t);

/* Thread-safe: runs fn(arg) on the loop thread soon, in posting order. */
void loop_post(struct loop *l, loop_post_fn fn, void *arg);

/* Runs until loop_stop(); returns 0, or -1 if epoll fails. */
int loop_run(struct loop *l);
/* Thread-safe: makes loop_run return after the current iteration. */
void loop_stop(struct loop *l);

/* Monotonic milliseconds, cached per iteration (cheap to call from callbacks). */
uint64_t loop_now_ms(struct loop *l);

#endif
