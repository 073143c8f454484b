/* fake_upstream: test helpers around tests/tools/fake_upstream.js (an OpenAI-compatible server
 * with faults on demand; its header comment lists them).
 *
 * fake_start runs it with popen (found through $BATON_SOURCE_DIR, which CTest sets) and reads
 * the port it prints; fake_get makes small blocking HTTP/1.0 requests to its control endpoints
 * (/stats, /quit): tests may block, the code under test never does. Also: a port nobody listens
 * on, and a listener that never completes a handshake (for connect timeouts).
 */
#ifndef BATON_TESTS_FAKE_UPSTREAM_H
#define BATON_TESTS_FAKE_UPSTREAM_H

#include "check.h"

#include <arpa/inet.h>
#include <jansson.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

struct fake {
    FILE *out;
    int port;
    char base_url[64]; /* "http://127.0.0.1:PORT/v1" */
};

static inline int fake_start(struct fake *f)
{
    char cmd[4200];
    snprintf(cmd, sizeof cmd, "exec node '%s'", check_source("tests/tools/fake_upstream.js"));
    f->out = popen(cmd, "r");
    if (!f->out || fscanf(f->out, "%d", &f->port) != 1 || f->port <= 0) {
        fprintf(stderr, "fake_upstream: could not start `%s`\n", cmd);
        return -1;
    }
    snprintf(f->base_url, sizeof f->base_url, "http://127.0.0.1:%d/v1", f->port);
    return 0;
}

static inline int connect_local(int port)
{
    int s = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (s < 0 || connect(s, (struct sockaddr *)&a, sizeof a) != 0) {
        if (s >= 0)
            close(s);
        return -1;
    }
    return s;
}

/* GET path; returns the response body (caller frees) or NULL. */
static inline char *fake_get(const struct fake *f, const char *path)
{
    int s = connect_local(f->port);
    if (s < 0)
        return NULL;
    char req[512];
    int n = snprintf(req, sizeof req, "GET %s HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n", path);
    if (send(s, req, (size_t)n, MSG_NOSIGNAL) != n) {
        close(s);
        return NULL;
    }
    size_t cap = 4096, len = 0;
    char *resp = malloc(cap);
    for (;;) {
        if (len + 1024 > cap)
            resp = realloc(resp, cap *= 2);
        ssize_t r = recv(s, resp + len, cap - len - 1, 0);
        if (r <= 0)
            break;
        len += (size_t)r;
    }
    close(s);
    resp[len] = 0;
    char *body = strstr(resp, "\r\n\r\n");
    char *out = body ? strdup(body + 4) : NULL;
    free(resp);
    return out;
}

/* The fake's counters for a key: requests, completed, client_aborts, last_body, last_headers. */
static inline json_t *fake_stats(const struct fake *f, const char *key)
{
    char path[256];
    snprintf(path, sizeof path, "/stats?key=%s", key);
    char *body = fake_get(f, path);
    json_t *j = body ? json_loads(body, 0, NULL) : NULL;
    free(body);
    return j;
}

static inline long long fake_stat(const struct fake *f, const char *key, const char *field)
{
    json_t *j = fake_stats(f, key);
    long long v = j ? json_integer_value(json_object_get(j, field)) : -1;
    json_decref(j);
    return v;
}

/* Polls a counter until it reaches want or about a second has passed: the fake notices a closed
 * connection asynchronously. */
static inline long long fake_wait_stat(const struct fake *f, const char *key, const char *field,
                                       long long want)
{
    long long v = -1;
    for (int i = 0; i < 100; i++) {
        v = fake_stat(f, key, field);
        if (v >= want)
            break;
        struct timespec ts = {0, 10 * 1000 * 1000};
        nanosleep(&ts, NULL);
    }
    return v;
}

static inline void fake_stop(struct fake *f)
{
    if (!f->out)
        return;
    free(fake_get(f, "/quit"));
    pclose(f->out);
    f->out = NULL;
}

/* A local port with no listener: connections are refused. */
static inline int closed_port(void)
{
    int s = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    struct sockaddr_in a = {.sin_family = AF_INET};
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t l = sizeof a;
    bind(s, (struct sockaddr *)&a, sizeof a);
    getsockname(s, (struct sockaddr *)&a, &l);
    close(s);
    return ntohs(a.sin_port);
}

/* A listener whose accept queue is full (backlog 0 and one connection that is never accepted):
 * new connection attempts get no answer, so they run into the connect timeout. Close both fds
 * after the test. */
struct blackhole {
    int listen_fd, filler_fd, port;
};

static inline int blackhole_open(struct blackhole *b)
{
    b->listen_fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    struct sockaddr_in a = {.sin_family = AF_INET};
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t l = sizeof a;
    if (b->listen_fd < 0 || bind(b->listen_fd, (struct sockaddr *)&a, sizeof a) != 0 ||
        listen(b->listen_fd, 0) != 0 || getsockname(b->listen_fd, (struct sockaddr *)&a, &l) != 0)
        return -1;
    b->port = ntohs(a.sin_port);
    b->filler_fd = connect_local(b->port);
    return b->filler_fd < 0 ? -1 : 0;
}

static inline void blackhole_close(struct blackhole *b)
{
    close(b->filler_fd);
    close(b->listen_fd);
}

static inline double elapsed_ms_since(const struct timespec *t0)
{
    struct timespec t1;
    clock_gettime(CLOCK_MONOTONIC, &t1);
    return (double)(t1.tv_sec - t0->tv_sec) * 1e3 + (double)(t1.tv_nsec - t0->tv_nsec) / 1e6;
}

#endif
