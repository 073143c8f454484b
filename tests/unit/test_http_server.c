/* The HTTP/1.1 server over real sockets, in-process: a thread runs the loop, the test thread is the
 * client (raw sockets, and curl for streaming and uploads). Covers keep-alive and pipelining (with
 * handlers answering later), large and chunked bodies, every limit the server enforces (413, 414,
 * 431, 400, 501, 505, 408 slowloris, 503 at max_connections), streaming decoded by curl, on_close
 * on a client disconnect mid-response, backpressure with a slow reader, the write timeout, HEAD,
 * Expect: 100-continue, HTTP/1.0, and answering after the client or the server is gone.
 *
 * `test_http_server --serve PORT` instead runs a tiny server forever, for wrk (docs/http.md). */
#include "check.h"

#include "base/alloc.h"
#include "base/clock.h"
#include "net/http_server.h"
#include "net/loop.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdint.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

static double now_s(void) { return clock_now_s(); }

static void sleep_ms(int ms) { usleep((useconds_t)ms * 1000); }

/* ---- what the handlers saw (written on the loop thread, read by the test thread) ---- */

static _Atomic int g_closed;          /* on_close calls */
static _Atomic long long g_closed_ns; /* when the last on_close ran */
static _Atomic long g_max_pending;    /* most queued output bytes a stream saw */
static _Atomic int g_drains;          /* on_drain calls */
static _Atomic int g_write_failed;    /* http_stream_write returned -1 */
static _Atomic int g_requests;

static struct loop *g_loop;

static void reset_stats(void)
{
    g_closed = 0;
    g_closed_ns = 0;
    g_max_pending = 0;
    g_drains = 0;
    g_write_failed = 0;
    g_requests = 0;
}

static void note_pending(struct http_conn *c)
{
    long p = (long)http_conn_pending_bytes(c);
    if (p > g_max_pending)
        g_max_pending = p;
}

/* ---- asynchronous jobs: answers that come later, from loop timers ---- */

enum job_kind { JOB_ASYNC, JOB_NOHOOK, JOB_STREAM, JOB_HOLD, JOB_BACKPRESSURE, JOB_FLOOD };

struct job {
    enum job_kind kind;
    struct http_conn *c;
    const struct http_request *req;
    struct loop_timer *t;
    int i, n, ms;
    size_t sent, total;
};

static int query_int(const struct http_request *r, const char *key, int def)
{
    size_t kl = strlen(key);
    for (size_t i = 0; r->query && i + kl < r->query_len; i++)
        if ((i == 0 || r->query[i - 1] == '&') && memcmp(r->query + i, key, kl) == 0 &&
            r->query[i + kl] == '=')
            return atoi(r->query + i + kl + 1);
    return def;
}

static void job_on_close(struct http_conn *c, void *arg)
{
    struct job *j = arg;
    (void)c;
    if (j->t)
        loop_timer_cancel(g_loop, j->t);
    free(j);
    g_closed_ns = (long long)clock_now_ns();
    g_closed++;
}

static void job_tick(struct loop *l, void *arg);

static void job_later(struct job *j, int ms) { j->t = loop_timer_add(g_loop, (uint64_t)ms, job_tick, j); }

static void bp_resume(struct http_conn *c, void *arg);

/* Writes 16 KiB pieces while the queue holds less than 64 KiB; then waits for on_drain. */
static void bp_pump(struct job *j)
{
    static char piece[16384];
    while (j->sent < j->total) {
        if (http_conn_pending_bytes(j->c) >= 65536) {
            http_conn_on_drain(j->c, bp_resume, j);
            return;
        }
        for (size_t k = 0; k < sizeof piece; k++)
            piece[k] = (char)('a' + (j->sent + k) % 26);
        if (http_stream_write(j->c, piece, sizeof piece) != 0) {
            g_write_failed++;
            return; /* on_close follows */
        }
        j->sent += sizeof piece;
        note_pending(j->c);
    }
    http_stream_end(j->c);
    free(j);
}

static void bp_resume(struct http_conn *c, void *arg)
{
    (void)c;
    g_drains++;
    bp_pump(arg);
}

static void job_tick(struct loop *l, void *arg)
{
    (void)l;
    struct job *j = arg;
    j->t = NULL;
    char text[256];
    switch (j->kind) {
    case JOB_ASYNC:
    case JOB_NOHOOK: {
        /* the request is still valid: read it only now */
        int n = snprintf(text, sizeof text, "async %.*s %.*s", (int)j->req->path_len, j->req->path,
                         (int)j->req->query_len, j->req->query ? j->req->query : "");
        http_respond(j->c, 200, "text/plain", NULL, text, (size_t)n);
        free(j);
        return;
    }
    case JOB_STREAM: {
        int n = snprintf(text, sizeof text, "chunk %d\n", j->i);
        if (http_stream_write(j->c, text, (size_t)n) != 0) {
            g_write_failed++;
            return;
        }
        if (++j->i < j->n) {
            job_later(j, j->ms);
        } else {
            http_stream_end(j->c);
            free(j);
        }
        return;
    }
    default:
        return;
    }
}

static void handler(struct http_conn *c, const struct http_request *r, void *arg)
{
    (void)arg;
    g_requests++;
    char path[256];
    snprintf(path, sizeof path, "%.*s", (int)r->path_len, r->path);
    char text[1024];
    if (strcmp(path, "/hello") == 0) {
        http_respond(c, 200, "text/plain", NULL, "hello", 5);
    } else if (strcmp(path, "/echo") == 0) {
        char extra[64];
        snprintf(extra, sizeof extra, "X-Method: %.*s", (int)r->method_len, r->method);
        const char *bad = query_int(r, "bad", 0) ? "Bad: injected\r\nX: y" : NULL;
        const char *hdrs[] = {extra, query_int(r, "close", 0) ? "Connection: close" : "X-Keep: 1", bad,
                              NULL};
        http_respond(c, 200, "application/octet-stream", hdrs, r->body, r->body_len);
    } else if (strcmp(path, "/info") == 0) {
        size_t ua_len = 0;
        const char *ua = http_request_header(r, "USER-agent", &ua_len);
        int n = snprintf(text, sizeof text, "peer=%s ua=%.*s minor=%d n=%zu", http_conn_peer(c),
                         (int)ua_len, ua ? ua : "", r->minor_version, r->n_headers);
        http_respond(c, 200, "text/plain", NULL, text, (size_t)n);
    } else if (strcmp(path, "/big") == 0) {
        size_t n = (size_t)query_int(r, "kb", 1) << 10;
        char *big = xmalloc(n);
        memset(big, 'z', n);
        http_respond(c, 200, "application/octet-stream", NULL, big, n);
        free(big);
    } else if (strcmp(path, "/empty") == 0) {
        http_respond(c, 204, NULL, NULL, NULL, 0);
    } else {
        struct job *j = xcalloc(1, sizeof *j);
        j->c = c;
        j->req = r;
        j->ms = query_int(r, "ms", 1);
        j->n = query_int(r, "n", 3);
        if (strcmp(path, "/async") == 0) {
            j->kind = JOB_ASYNC;
            http_conn_on_close(c, job_on_close, j);
            job_later(j, j->ms);
        } else if (strcmp(path, "/nohook") == 0) {
            j->kind = JOB_NOHOOK; /* no on_close: the late answer must release the conn */
            job_later(j, j->ms);
        } else if (strcmp(path, "/stream") == 0) {
            j->kind = JOB_STREAM;
            http_conn_on_close(c, job_on_close, j);
            http_stream_begin(c, 200, "text/plain", NULL);
            job_later(j, 0);
        } else if (strcmp(path, "/hold") == 0 || strcmp(path, "/holdstream") == 0) {
            j->kind = JOB_HOLD;
            http_conn_on_close(c, job_on_close, j);
            if (path[5]) {
                http_stream_begin(c, 200, "text/plain", NULL);
                http_stream_write(c, "first\n", 6);
            }
        } else if (strcmp(path, "/bp") == 0) {
            j->kind = JOB_BACKPRESSURE;
            j->total = (size_t)query_int(r, "mb", 16) << 20;
            http_conn_on_close(c, job_on_close, j);
            http_stream_begin(c, 200, "application/octet-stream", NULL);
            bp_pump(j);
        } else if (strcmp(path, "/flood") == 0) {
            /* ignores backpressure: the server must cut it off at max_pending_bytes */
            j->kind = JOB_FLOOD;
            http_conn_on_close(c, job_on_close, j);
            http_stream_begin(c, 200, "application/octet-stream", NULL);
            static char piece[65536];
            memset(piece, 'f', sizeof piece);
            for (int i = 0; i < 4096; i++) {
                if (http_stream_write(c, piece, sizeof piece) != 0) {
                    g_write_failed++;
                    break;
                }
                note_pending(c);
            }
        } else {
            free(j);
            http_respond(c, 404, "text/plain", NULL, "not found", 9);
        }
    }
}

/* ---- the server in a thread ---- */

struct fixture {
    struct loop *l;
    struct http_server *s;
    pthread_t th;
    int port;
};

static void *loop_thread(void *arg)
{
    loop_run(arg);
    return NULL;
}

static struct http_server_opts test_opts(void)
{
    struct http_server_opts o;
    http_server_opts_default(&o);
    o.port = 0;
    o.max_body_bytes = 8u << 20;
    o.header_timeout_ms = 2000;
    o.idle_timeout_ms = 2000;
    o.write_timeout_ms = 2000;
    return o;
}

static void fx_start(struct fixture *f, const struct http_server_opts *o)
{
    reset_stats();
    f->l = loop_new();
    g_loop = f->l;
    struct err e;
    CHECK(http_server_start(f->l, o, handler, NULL, &f->s, &e) == 0);
    f->port = http_server_port(f->s);
    CHECK(f->port > 0);
    pthread_create(&f->th, NULL, loop_thread, f->l);
}

static void fx_stop(struct fixture *f)
{
    loop_stop(f->l);
    pthread_join(f->th, NULL);
    http_server_free(f->s);
    loop_free(f->l);
}

/* ---- a raw client ---- */

struct cli {
    int fd;
    size_t off, len;
    char buf[65536];
};

static struct cli *cli_open_rcvbuf(int port, int rcvbuf)
{
    struct cli *c = xcalloc(1, sizeof *c);
    c->fd = socket(AF_INET, SOCK_STREAM, 0);
    struct timeval tv = {5, 0}; /* a broken server fails the test instead of hanging it */
    setsockopt(c->fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    setsockopt(c->fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
    if (rcvbuf)
        setsockopt(c->fd, SOL_SOCKET, SO_RCVBUF, &rcvbuf, sizeof rcvbuf);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    CHECK(connect(c->fd, (struct sockaddr *)&a, sizeof a) == 0);
    return c;
}

static struct cli *cli_open(int port) { return cli_open_rcvbuf(port, 0); }

static void cli_close(struct cli *c)
{
    close(c->fd);
    free(c);
}

static void cli_send_n(struct cli *c, const void *p, size_t n)
{
    const char *s = p;
    while (n) {
        ssize_t k = send(c->fd, s, n, MSG_NOSIGNAL);
        if (k <= 0) {
            CHECK_MSG(0, "client send failed");
            return;
        }
        s += k;
        n -= (size_t)k;
    }
}

static void cli_send(struct cli *c, const char *s) { cli_send_n(c, s, strlen(s)); }

static bool cli_exact(struct cli *c, char *dst, size_t n)
{
    while (n) {
        if (c->off == c->len) {
            c->off = c->len = 0;
            ssize_t k = recv(c->fd, c->buf, sizeof c->buf, 0);
            if (k <= 0)
                return false;
            c->len = (size_t)k;
        }
        size_t k = c->len - c->off < n ? c->len - c->off : n;
        memcpy(dst, c->buf + c->off, k);
        c->off += k;
        dst += k;
        n -= k;
    }
    return true;
}

static bool cli_line(struct cli *c, char *line, size_t cap)
{
    size_t i = 0;
    for (;;) {
        char ch;
        if (!cli_exact(c, &ch, 1))
            return false;
        if (i + 1 < cap)
            line[i++] = ch;
        if (ch == '\n')
            break;
    }
    line[i] = 0;
    return true;
}

/* True when the server closed the connection (EOF or reset) with nothing more to read. */
static bool cli_eof(struct cli *c)
{
    char ch;
    return !cli_exact(c, &ch, 1);
}

struct resp {
    int status;
    bool saw_100, chunked, close;
    long content_length;
    char head[8192];
    char *body;
    size_t body_len, body_cap;
};

static void resp_free(struct resp *r)
{
    free(r->body);
    r->body = NULL;
}

static void head_append(struct resp *r, const char *line)
{
    size_t have = strlen(r->head), n = strlen(line);
    if (have + n < sizeof r->head)
        memcpy(r->head + have, line, n + 1);
}

static void body_reserve(struct resp *r, size_t n)
{
    if (r->body_len + n + 1 <= r->body_cap)
        return;
    while (r->body_cap < r->body_len + n + 1)
        r->body_cap = r->body_cap ? 2 * r->body_cap : 4096;
    r->body = xrealloc(r->body, r->body_cap);
}

static void body_append(struct resp *r, struct cli *c, size_t n, bool *ok)
{
    body_reserve(r, n);
    *ok = *ok && cli_exact(c, r->body + r->body_len, n);
    r->body_len += n;
    r->body[r->body_len] = 0;
}

/* Reads one response (skipping 100 Continue) and its body as its framing says. */
static bool cli_response(struct cli *c, struct resp *r, bool head_request)
{
    memset(r, 0, sizeof *r);
    char line[8192];
    do {
        r->saw_100 |= r->status == 100;
        r->head[0] = 0;
        r->content_length = -1;
        if (!cli_line(c, line, sizeof line) || sscanf(line, "HTTP/1.%*d %d", &r->status) != 1)
            return false;
        head_append(r, line);
        for (;;) {
            if (!cli_line(c, line, sizeof line))
                return false;
            head_append(r, line);
            if (strcmp(line, "\r\n") == 0)
                break;
            if (strncasecmp(line, "content-length:", 15) == 0)
                r->content_length = atol(line + 15);
            else if (strncasecmp(line, "transfer-encoding:", 18) == 0 && strcasestr(line, "chunked"))
                r->chunked = true;
            else if (strncasecmp(line, "connection:", 11) == 0 && strcasestr(line, "close"))
                r->close = true;
        }
    } while (r->status == 100);
    bool ok = true;
    body_append(r, c, 0, &ok);
    if (head_request || r->status == 204 || r->status == 304)
        return true;
    if (r->chunked) {
        for (;;) {
            if (!cli_line(c, line, sizeof line))
                return false;
            size_t n = strtoul(line, NULL, 16);
            if (n == 0)
                return cli_line(c, line, sizeof line) && strcmp(line, "\r\n") == 0;
            body_append(r, c, n, &ok);
            if (!ok || !cli_line(c, line, sizeof line) || strcmp(line, "\r\n") != 0)
                return false;
        }
    }
    if (r->content_length >= 0) {
        body_append(r, c, (size_t)r->content_length, &ok);
        return ok;
    }
    /* delimited by close: what is buffered, then everything until EOF */
    size_t k = c->len - c->off;
    body_append(r, c, k, &ok);
    char piece[4096];
    ssize_t got;
    while ((got = recv(c->fd, piece, sizeof piece, 0)) > 0) {
        body_reserve(r, (size_t)got);
        memcpy(r->body + r->body_len, piece, (size_t)got);
        r->body_len += (size_t)got;
        r->body[r->body_len] = 0;
    }
    return ok && got == 0;
}

static bool has(const struct resp *r, const char *s) { return strcasestr(r->head, s) != NULL; }

/* One request on a fresh connection; returns the response. */
static void fetch(int port, const char *req, struct resp *r)
{
    struct cli *c = cli_open(port);
    cli_send(c, req);
    CHECK(cli_response(c, r, strncmp(req, "HEAD", 4) == 0));
    cli_close(c);
}

/* Sends req on c and checks that the response is 200 with body want. */
static void expect_body(struct cli *c, const char *req, const char *want)
{
    struct resp r;
    cli_send(c, req);
    CHECK(cli_response(c, &r, false));
    CHECK_EQ_INT(r.status, 200);
    CHECK_STR(r.body, want);
    resp_free(&r);
}

#define GET_HELLO "GET /hello HTTP/1.1\r\nHost: x\r\n\r\n"

static bool wait_for(_Atomic int *v, int want, int timeout_ms)
{
    for (int i = 0; i < timeout_ms && *v < want; i++)
        sleep_ms(1);
    return *v >= want;
}

/* ---- tests ---- */

static void test_basic(void)
{
    struct http_server_opts o = test_opts();
    struct fixture f;
    fx_start(&f, &o);
    struct resp r;
    fetch(f.port, "GET /hello HTTP/1.1\r\nHost: x\r\n\r\n", &r);
    CHECK_EQ_INT(r.status, 200);
    CHECK_EQ_INT(r.content_length, 5);
    CHECK_STR(r.body, "hello");
    CHECK(has(&r, "Content-Type: text/plain\r\n"));
    CHECK(!r.close);
    resp_free(&r);

    /* peer is the client's address; header lookup is case-insensitive */
    struct cli *c = cli_open(f.port);
    struct sockaddr_in me;
    socklen_t len = sizeof me;
    getsockname(c->fd, (struct sockaddr *)&me, &len);
    cli_send(c, "GET /info HTTP/1.1\r\nHost: x\r\nuser-agent: probe/1\r\n\r\n");
    CHECK(cli_response(c, &r, false));
    char want[128];
    snprintf(want, sizeof want, "peer=127.0.0.1:%d ua=probe/1 minor=1 n=2", ntohs(me.sin_port));
    CHECK_STR(r.body, want);
    resp_free(&r);
    cli_close(c);

    /* extra headers; one with CRLF in it is dropped, not injected */
    fetch(f.port, "POST /echo?bad=1 HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\n\r\nabc", &r);
    CHECK_STR(r.body, "abc");
    CHECK(has(&r, "X-Method: POST\r\n"));
    CHECK(!has(&r, "injected"));
    resp_free(&r);

    /* a handler may ask to close after its response */
    struct cli *k = cli_open(f.port);
    cli_send(k, "GET /echo?close=1 HTTP/1.1\r\nHost: x\r\n\r\n");
    CHECK(cli_response(k, &r, false));
    CHECK(r.close);
    const char *conn = strcasestr(r.head, "connection:");
    CHECK(conn && !strcasestr(conn + 1, "connection:")); /* one Connection header, ours */
    resp_free(&r);
    CHECK(cli_eof(k));
    cli_close(k);

    fetch(f.port, "GET /empty HTTP/1.1\r\nHost: x\r\n\r\n", &r);
    CHECK_EQ_INT(r.status, 204);
    CHECK(!has(&r, "Content-Length"));
    resp_free(&r);
    fetch(f.port, "GET /nope HTTP/1.1\r\nHost: x\r\n\r\n", &r);
    CHECK_EQ_INT(r.status, 404);
    resp_free(&r);
    fx_stop(&f);
}

static void test_keep_alive_pipelining(void)
{
    struct http_server_opts o = test_opts();
    struct fixture f;
    fx_start(&f, &o);
    struct cli *c = cli_open(f.port);
    struct resp r;
    for (int i = 0; i < 3; i++) {
        expect_body(c, GET_HELLO, "hello");
    }
    /* 30 requests in one write, answered now and later, with bodies in both framings: the
     * responses come back in order, and each async answer still sees its own request */
    char all[16384];
    size_t n = 0;
    for (int i = 0; i < 30; i++) {
        switch (i % 3) {
        case 0:
            n += (size_t)snprintf(all + n, sizeof all - n, "GET /async?ms=%d&i=%d HTTP/1.1\r\nHost: x\r\n\r\n",
                                  (30 - i) % 4, i);
            break;
        case 1:
            n += (size_t)snprintf(all + n, sizeof all - n,
                                  "POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 6\r\n\r\nbody%02d", i);
            break;
        default:
            n += (size_t)snprintf(all + n, sizeof all - n,
                                  "POST /echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
                                  "3\r\nchu\r\n5;x=y\r\nnked-\r\n2\r\n%02d\r\n0\r\nT: 1\r\n\r\n", i);
            break;
        }
    }
    cli_send_n(c, all, n);
    for (int i = 0; i < 30; i++) {
        CHECK(cli_response(c, &r, false));
        char want[64];
        if (i % 3 == 0)
            snprintf(want, sizeof want, "async /async ms=%d&i=%d", (30 - i) % 4, i);
        else if (i % 3 == 1)
            snprintf(want, sizeof want, "body%02d", i);
        else
            snprintf(want, sizeof want, "chunked-%02d", i);
        CHECK_MSG(r.status == 200 && r.body && strcmp(r.body, want) == 0, "response %d: %s", i,
                  r.body ? r.body : "(none)");
        resp_free(&r);
    }
    /* Connection: close ends it after the response */
    cli_send(c, "GET /hello HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\nGET /hello HTTP/1.1\r\n\r\n");
    CHECK(cli_response(c, &r, false));
    CHECK(r.close);
    resp_free(&r);
    CHECK(cli_eof(c));
    cli_close(c);
    CHECK_EQ_INT(g_requests, 34);
    fx_stop(&f);
}

static void test_large_bodies(void)
{
    struct http_server_opts o = test_opts();
    struct fixture f;
    fx_start(&f, &o);
    size_t n = 3u << 20;
    char *big = xmalloc(n);
    for (size_t i = 0; i < n; i++)
        big[i] = (char)(i * 7 + (i >> 12));
    struct cli *c = cli_open(f.port);
    char head[128];
    snprintf(head, sizeof head, "PUT /echo HTTP/1.1\r\nHost: x\r\nContent-Length: %zu\r\n\r\n", n);
    cli_send(c, head);
    cli_send_n(c, big, n);
    struct resp r;
    CHECK(cli_response(c, &r, false));
    CHECK(r.body_len == n && memcmp(r.body, big, n) == 0);
    resp_free(&r);

    /* 1 MiB chunked, in 1000-byte chunks, then a request on the same connection */
    size_t m = 1u << 20;
    cli_send(c, "POST /echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n");
    for (size_t off = 0; off < m; off += 1000) {
        size_t k = m - off < 1000 ? m - off : 1000;
        char sz[32];
        snprintf(sz, sizeof sz, "%zx\r\n", k);
        cli_send(c, sz);
        cli_send_n(c, big + off, k);
        cli_send(c, "\r\n");
    }
    cli_send(c, "0\r\n\r\nGET /hello HTTP/1.1\r\nHost: x\r\n\r\n");
    CHECK(cli_response(c, &r, false));
    CHECK(r.body_len == m && memcmp(r.body, big, m) == 0);
    resp_free(&r);
    CHECK(cli_response(c, &r, false));
    CHECK_STR(r.body, "hello");
    resp_free(&r);
    cli_close(c);
    free(big);
    fx_stop(&f);
}

/* An error the server produces: status, JSON body, Connection: close, then EOF. */
static void check_error(struct cli *c, int status, const char *code)
{
    struct resp r;
    CHECK(cli_response(c, &r, false));
    CHECK_EQ_INT(r.status, status);
    CHECK(r.close);
    CHECK(has(&r, "Content-Type: application/json"));
    char want[96];
    snprintf(want, sizeof want, "\",\"param\":null,\"code\":\"%s\"}}", code);
    CHECK_MSG(r.body && strncmp(r.body, "{\"error\":{\"message\":\"", 21) == 0 && strstr(r.body, want),
              "%d: %s", status, r.body ? r.body : "");
    CHECK(strstr(r.body ? r.body : "", status == 503 ? "\"type\":\"server_error\""
                                                     : "\"type\":\"invalid_request_error\""));
    if (status == 503)
        CHECK(has(&r, "Retry-After: 1\r\n"));
    resp_free(&r);
    CHECK(cli_eof(c));
}

static void expect_error(int port, const char *req, size_t len, int status, const char *code)
{
    struct cli *c = cli_open(port);
    cli_send_n(c, req, len);
    check_error(c, status, code);
    cli_close(c);
}

static void test_limits(void)
{
    struct http_server_opts o = test_opts();
    o.max_body_bytes = 1000;
    o.max_header_bytes = 1024;
    struct fixture f;
    fx_start(&f, &o);
#define ERR(req, st, code) expect_error(f.port, req, sizeof req - 1, st, code)
    ERR("POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 1001\r\n\r\n", 413, "request_too_large");
    ERR("POST /echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n3e9\r\n", 413,
        "request_too_large");
    ERR("GET / HTTP/1.1\r\nHost: x\r\n folded\r\n\r\n", 400, "bad_request");
    ERR("GET / HTTP/1.1\r\n\r\n", 400, "bad_request");
    ERR("POST /echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n", 400, "bad_request");
    ERR("GET / HTTP/2.0\r\nHost: x\r\n\r\n", 505, "http_version_not_supported");
    ERR("POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: gzip\r\n\r\n", 501, "not_implemented");
    ERR("POST / HTTP/1.1\r\nHost: x\r\nExpect: teapot\r\n\r\n", 417, "expectation_failed");
#undef ERR
    char big[4096];
    int n = snprintf(big, sizeof big, "GET /%02000d HTTP/1.1\r\nHost: x\r\n\r\n", 0);
    expect_error(f.port, big, (size_t)n, 414, "uri_too_long");
    n = snprintf(big, sizeof big, "GET / HTTP/1.1\r\nHost: x\r\nX-Big: %02000d\r\n\r\n", 0);
    expect_error(f.port, big, (size_t)n, 431, "header_fields_too_large");
    size_t off = (size_t)snprintf(big, sizeof big, "GET / HTTP/1.1\r\nHost: x\r\n");
    for (int i = 0; i < 101; i++)
        off += (size_t)snprintf(big + off, sizeof big - off, "X%d: 1\r\n", i);
    off += (size_t)snprintf(big + off, sizeof big - off, "\r\n");
    expect_error(f.port, big, off, 431, "header_fields_too_large");

    /* a client that sends its whole too-large body anyway still reads the 413 (lingering close) */
    struct cli *c = cli_open(f.port);
    char *body = xmalloc(200000);
    memset(body, 'b', 200000);
    cli_send(c, "POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 200000\r\n\r\n");
    cli_send_n(c, body, 200000);
    check_error(c, 413, "request_too_large");
    cli_close(c);
    free(body);
    fx_stop(&f);
}

static void test_slowloris(void)
{
    struct http_server_opts o = test_opts();
    o.header_timeout_ms = 300;
    struct fixture f;
    fx_start(&f, &o);
    struct cli *c = cli_open(f.port);
    double t0 = now_s();
    cli_send(c, "GET / HTTP/1.1\r\nHost: x\r\nX-Slow: ");
    /* one byte every 50 ms: progress, but the head never completes */
    for (int i = 0; i < 5; i++) {
        sleep_ms(50);
        cli_send(c, "a");
    }
    check_error(c, 408, "request_timeout");
    double dt = now_s() - t0;
    CHECK_MSG(dt >= 0.29 && dt < 1.0, "408 after %.3f s", dt);
    cli_close(c);

    /* connected but silent: closed without a response after the header timeout */
    c = cli_open(f.port);
    t0 = now_s();
    CHECK(cli_eof(c));
    dt = now_s() - t0;
    CHECK_MSG(dt >= 0.29 && dt < 1.0, "silent close after %.3f s", dt);
    cli_close(c);

    /* a body that stalls: 408 after idle_timeout */
    o = test_opts();
    fx_stop(&f);
    o.idle_timeout_ms = 200;
    fx_start(&f, &o);
    c = cli_open(f.port);
    cli_send(c, "POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 10\r\n\r\n12345");
    check_error(c, 408, "request_timeout");
    cli_close(c);
    /* keep-alive idle: closed after idle_timeout */
    c = cli_open(f.port);
    expect_body(c, GET_HELLO, "hello");
    t0 = now_s();
    CHECK(cli_eof(c));
    dt = now_s() - t0;
    CHECK_MSG(dt >= 0.19 && dt < 1.0, "idle close after %.3f s", dt);
    cli_close(c);
    fx_stop(&f);
}

static void test_max_connections(void)
{
    struct http_server_opts o = test_opts();
    o.max_connections = 2;
    struct fixture f;
    fx_start(&f, &o);
    struct cli *a = cli_open(f.port), *b = cli_open(f.port);
    sleep_ms(20); /* both accepted */
    struct cli *c = cli_open(f.port);
    check_error(c, 503, "server_busy");
    cli_close(c);
    /* the admitted ones work */
    expect_body(b, GET_HELLO, "hello");
    /* a slot frees when a client leaves */
    cli_close(a);
    sleep_ms(20);
    c = cli_open(f.port);
    expect_body(c, GET_HELLO, "hello");
    cli_close(c);
    cli_close(b);
    fx_stop(&f);
}

static char *run_cmd(const char *cmd, size_t *len)
{
    FILE *p = popen(cmd, "r");
    if (!p)
        return NULL;
    size_t cap = 1 << 16, n = 0;
    char *out = xmalloc(cap);
    size_t k;
    while ((k = fread(out + n, 1, cap - n - 1, p)) > 0) {
        n += k;
        if (cap - n < 1024)
            out = xrealloc(out, cap *= 2);
    }
    out[n] = 0;
    int st = pclose(p);
    CHECK_MSG(st == 0, "%s: exit %d", cmd, st);
    if (len)
        *len = n;
    return out;
}

static void test_stream_curl(void)
{
    struct http_server_opts o = test_opts();
    struct fixture f;
    fx_start(&f, &o);
    char want[1024] = "";
    for (int i = 0; i < 20; i++)
        snprintf(want + strlen(want), sizeof want - strlen(want), "chunk %d\n", i);
    char cmd[256];
    snprintf(cmd, sizeof cmd, "curl -sS -N --max-time 5 'http://127.0.0.1:%d/stream?n=20&ms=2'", f.port);
    char *out = run_cmd(cmd, NULL);
    CHECK_STR(out, want);
    free(out);
    /* HTTP/1.0: no chunked encoding; the body ends with the connection */
    snprintf(cmd, sizeof cmd, "curl -sS -N --http1.0 --max-time 5 'http://127.0.0.1:%d/stream?n=20&ms=1'",
             f.port);
    out = run_cmd(cmd, NULL);
    CHECK_STR(out, want);
    free(out);
    /* the chunked framing itself, as curl sees it undecoded */
    snprintf(cmd, sizeof cmd, "curl -sS --raw --max-time 5 'http://127.0.0.1:%d/stream?n=2&ms=1'", f.port);
    out = run_cmd(cmd, NULL);
    CHECK_STR(out, "8\r\nchunk 0\n\r\n8\r\nchunk 1\n\r\n0\r\n\r\n");
    free(out);

    /* an upload curl sends chunked (and with Expect: 100-continue) comes back intact */
    char path[] = "/tmp/baton-http-XXXXXX";
    int fd = mkstemp(path);
    size_t n = 300000;
    char *data = xmalloc(n);
    for (size_t i = 0; i < n; i++)
        data[i] = (char)('A' + i % 53);
    CHECK(write(fd, data, n) == (ssize_t)n);
    close(fd);
    snprintf(cmd, sizeof cmd,
             "curl -sS --max-time 5 -H 'Transfer-Encoding: chunked' -H 'Expect: 100-continue' "
             "--data-binary @%s http://127.0.0.1:%d/echo", path, f.port);
    double t0 = now_s();
    size_t got = 0;
    out = run_cmd(cmd, &got);
    CHECK(got == n && memcmp(out, data, n) == 0);
    CHECK_MSG(now_s() - t0 < 0.9, "curl waited %.2f s for 100 Continue", now_s() - t0);
    free(out);
    unlink(path);
    free(data);
    fx_stop(&f);
}

static void test_disconnect_mid_stream(void)
{
    struct http_server_opts o = test_opts();
    struct fixture f;
    fx_start(&f, &o);
    /* streaming: the client reads the first chunk and leaves */
    struct cli *c = cli_open(f.port);
    cli_send(c, "GET /holdstream HTTP/1.1\r\nHost: x\r\n\r\n");
    char line[256];
    while (cli_line(c, line, sizeof line) && strcmp(line, "\r\n") != 0) {
    }
    CHECK(cli_line(c, line, sizeof line) && strcmp(line, "6\r\n") == 0);
    CHECK(cli_line(c, line, sizeof line) && strcmp(line, "first\n") == 0);
    long long t0 = (long long)clock_now_ns();
    cli_close(c);
    CHECK(wait_for(&g_closed, 1, 1000));
    double ms = (double)(g_closed_ns - t0) / 1e6;
    CHECK_MSG(ms < 100, "on_close %.1f ms after the disconnect", ms);

    /* before any byte of the response */
    c = cli_open(f.port);
    cli_send(c, "POST /hold HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\n\r\nhi");
    sleep_ms(20);
    t0 = (long long)clock_now_ns();
    cli_close(c);
    CHECK(wait_for(&g_closed, 2, 1000));
    ms = (double)(g_closed_ns - t0) / 1e6;
    CHECK_MSG(ms < 100, "on_close %.1f ms after the disconnect", ms);

    /* an async answer without on_close, after the client left: released, nothing leaks */
    c = cli_open(f.port);
    cli_send(c, "GET /nohook?ms=50 HTTP/1.1\r\nHost: x\r\n\r\n");
    sleep_ms(10);
    cli_close(c);
    sleep_ms(100);
    /* a completed response never calls on_close */
    int before = g_closed;
    struct resp r;
    fetch(f.port, "GET /stream?n=3&ms=1 HTTP/1.1\r\nHost: x\r\n\r\n", &r);
    CHECK_STR(r.body, "chunk 0\nchunk 1\nchunk 2\n");
    resp_free(&r);
    sleep_ms(20);
    CHECK_EQ_INT(g_closed, before);
    fx_stop(&f);
}

static void test_backpressure(void)
{
    struct http_server_opts o = test_opts();
    struct fixture f;
    fx_start(&f, &o);
    /* a reader that pauses: the handler pauses with it, so the queue stays near 64 KiB */
    struct cli *c = cli_open_rcvbuf(f.port, 4096);
    cli_send(c, "GET /bp?mb=16 HTTP/1.1\r\nHost: x\r\n\r\n");
    sleep_ms(300);
    struct resp r;
    CHECK(cli_response(c, &r, false));
    size_t total = 16u << 20;
    CHECK_EQ_INT(r.body_len, total);
    bool ok = r.body_len == total;
    for (size_t i = 0; ok && i < total; i++)
        ok = r.body[i] == (char)('a' + i % 26);
    CHECK(ok);
    resp_free(&r);
    cli_close(c);
    CHECK(g_drains > 0);
    CHECK_MSG(g_max_pending < 65536 + 16384 + 64, "max pending %ld", (long)g_max_pending);
    CHECK_EQ_INT(g_closed, 0);
    fx_stop(&f);

    /* pipelined requests from a client that does not read: no more are handled once
     * max_pending_bytes of responses wait; all are once it reads */
    o.max_pending_bytes = 256u << 10;
    fx_start(&f, &o);
    c = cli_open_rcvbuf(f.port, 4096);
    char reqs[100 * 64];
    size_t n = 0;
    for (int i = 0; i < 100; i++)
        n += (size_t)snprintf(reqs + n, sizeof reqs - n, "GET /big?kb=256 HTTP/1.1\r\nHost: x\r\n\r\n");
    cli_send_n(c, reqs, n);
    sleep_ms(200);
    int handled = g_requests;
    CHECK_MSG(handled < 60, "%d of 100 pipelined requests handled for a client that reads nothing", handled);
    for (int i = 0; i < 100; i++) {
        CHECK(cli_response(c, &r, false));
        CHECK_EQ_INT(r.body_len, 256u << 10);
        resp_free(&r);
    }
    CHECK_EQ_INT(g_requests, 100);
    cli_close(c);
    fx_stop(&f);

    /* a producer that ignores backpressure is cut off at max_pending_bytes */
    o.max_pending_bytes = 256u << 10;
    fx_start(&f, &o);
    c = cli_open_rcvbuf(f.port, 4096);
    cli_send(c, "GET /flood HTTP/1.1\r\nHost: x\r\n\r\n");
    CHECK(wait_for(&g_closed, 1, 2000));
    CHECK_EQ_INT(g_write_failed, 1);
    CHECK_MSG(g_max_pending <= (256 << 10) + 65536 + 64, "max pending %ld", (long)g_max_pending);
    cli_close(c);
    fx_stop(&f);

    /* a client that stops reading is dropped after write_timeout_ms, and on_close fires */
    o = test_opts();
    o.write_timeout_ms = 200;
    fx_start(&f, &o);
    c = cli_open_rcvbuf(f.port, 4096);
    double t0 = now_s();
    cli_send(c, "GET /bp?mb=64 HTTP/1.1\r\nHost: x\r\n\r\n");
    CHECK(wait_for(&g_closed, 1, 3000));
    double dt = now_s() - t0;
    CHECK_MSG(dt >= 0.19 && dt < 2.0, "dropped after %.3f s", dt);
    cli_close(c);
    fx_stop(&f);
}

static void test_head(void)
{
    struct http_server_opts o = test_opts();
    struct fixture f;
    fx_start(&f, &o);
    struct cli *c = cli_open(f.port);
    struct resp r;
    cli_send(c, "HEAD /hello HTTP/1.1\r\nHost: x\r\n\r\n");
    CHECK(cli_response(c, &r, true));
    CHECK_EQ_INT(r.status, 200);
    CHECK_EQ_INT(r.content_length, 5);
    resp_free(&r);
    cli_send(c, "HEAD /stream?n=2 HTTP/1.1\r\nHost: x\r\n\r\n");
    CHECK(cli_response(c, &r, true));
    CHECK(r.chunked);
    resp_free(&r);
    /* no body bytes followed either head: the next response parses cleanly */
    sleep_ms(20);
    expect_body(c, GET_HELLO, "hello");
    cli_close(c);
    fx_stop(&f);
}

static void test_expect_continue(void)
{
    struct http_server_opts o = test_opts();
    o.max_body_bytes = 1000;
    struct fixture f;
    fx_start(&f, &o);
    struct cli *c = cli_open(f.port);
    cli_send(c, "POST /echo HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\nContent-Length: 5\r\n\r\n");
    char line[256];
    CHECK(cli_line(c, line, sizeof line));
    CHECK_STR(line, "HTTP/1.1 100 Continue\r\n");
    CHECK(cli_line(c, line, sizeof line));
    CHECK_STR(line, "\r\n");
    cli_send(c, "hello");
    struct resp r;
    CHECK(cli_response(c, &r, false));
    CHECK_STR(r.body, "hello");
    resp_free(&r);
    /* too large: 413 at once, no 100 */
    cli_send(c, "POST /echo HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\nContent-Length: 5000\r\n\r\n");
    CHECK(cli_response(c, &r, false));
    CHECK_EQ_INT(r.status, 413);
    CHECK(!r.saw_100);
    resp_free(&r);
    cli_close(c);
    fx_stop(&f);
}

static void test_http10(void)
{
    struct http_server_opts o = test_opts();
    struct fixture f;
    fx_start(&f, &o);
    struct cli *c = cli_open(f.port);
    struct resp r;
    cli_send(c, "GET /hello HTTP/1.0\r\n\r\n");
    CHECK(cli_response(c, &r, false));
    CHECK_STR(r.body, "hello");
    CHECK(r.close);
    resp_free(&r);
    CHECK(cli_eof(c));
    cli_close(c);
    c = cli_open(f.port);
    for (int i = 0; i < 2; i++) {
        cli_send(c, "GET /hello HTTP/1.0\r\nConnection: keep-alive\r\n\r\n");
        CHECK(cli_response(c, &r, false));
        CHECK(has(&r, "Connection: keep-alive\r\n"));
        CHECK_STR(r.body, "hello");
        resp_free(&r);
    }
    cli_close(c);
    fx_stop(&f);
}

/* Freeing the server with a response pending: on_close runs; a held conn without on_close can
 * still be answered afterwards (the answer releases it). */
static struct http_conn *g_held;

static void hold_handler(struct http_conn *c, const struct http_request *r, void *arg)
{
    (void)arg;
    if (r->path_len == 5 && memcmp(r->path, "/hook", 5) == 0) {
        handler(c, &(struct http_request){.path = "/hold", .path_len = 5}, NULL);
        return;
    }
    g_held = c;
}

static void test_server_free_pending(void)
{
    reset_stats();
    struct http_server_opts o = test_opts();
    struct fixture f;
    f.l = loop_new();
    g_loop = f.l;
    struct err e;
    CHECK(http_server_start(f.l, &o, hold_handler, NULL, &f.s, &e) == 0);
    f.port = http_server_port(f.s);
    pthread_create(&f.th, NULL, loop_thread, f.l);
    struct cli *a = cli_open(f.port), *b = cli_open(f.port), *idle = cli_open(f.port);
    cli_send(a, "GET /hook HTTP/1.1\r\nHost: x\r\n\r\n");
    cli_send(b, "GET /plain HTTP/1.1\r\nHost: x\r\n\r\n");
    sleep_ms(50);
    loop_stop(f.l);
    pthread_join(f.th, NULL);
    http_server_free(f.s);
    CHECK_EQ_INT(g_closed, 1);
    CHECK(g_held != NULL);
    if (g_held)
        http_respond(g_held, 200, NULL, NULL, "late", 4);
    g_held = NULL;
    CHECK(cli_eof(a) && cli_eof(b) && cli_eof(idle));
    cli_close(a);
    cli_close(b);
    cli_close(idle);
    loop_free(f.l);

    /* a busy port is an error with a message, not an exit */
    struct loop *l = loop_new();
    struct http_server *s1, *s2;
    CHECK(http_server_start(l, &o, handler, NULL, &s1, &e) == 0);
    o.port = http_server_port(s1);
    e.msg[0] = 0;
    CHECK(http_server_start(l, &o, handler, NULL, &s2, &e) == -1);
    CHECK(strstr(e.msg, "cannot listen") != NULL);
    http_server_free(s1);
    loop_free(l);
}

/* ---- wrk target ---- */

static void bench_handler(struct http_conn *c, const struct http_request *r, void *arg)
{
    (void)r, (void)arg;
    http_respond(c, 200, "text/plain", NULL, "hello\n", 6);
}

static struct loop *g_bench_loop;

static void on_signal(int sig)
{
    (void)sig;
    loop_stop(g_bench_loop);
}

static int serve(int port)
{
    struct http_server_opts o;
    http_server_opts_default(&o);
    o.port = port;
    o.max_connections = 4096;
    g_bench_loop = loop_new();
    struct http_server *s;
    struct err e;
    if (http_server_start(g_bench_loop, &o, bench_handler, NULL, &s, &e) != 0) {
        fprintf(stderr, "%s\n", e.msg);
        return 1;
    }
    signal(SIGINT, on_signal);
    signal(SIGTERM, on_signal);
    fprintf(stderr, "serving on 127.0.0.1:%d\n", http_server_port(s));
    loop_run(g_bench_loop);
    http_server_free(s);
    loop_free(g_bench_loop);
    return 0;
}

int main(int argc, char **argv)
{
    if (argc == 3 && strcmp(argv[1], "--serve") == 0)
        return serve(atoi(argv[2]));
    RUN(test_basic);
    RUN(test_keep_alive_pipelining);
    RUN(test_large_bodies);
    RUN(test_limits);
    RUN(test_slowloris);
    RUN(test_max_connections);
    RUN(test_stream_curl);
    RUN(test_disconnect_mid_stream);
    RUN(test_backpressure);
    RUN(test_head);
    RUN(test_expect_continue);
    RUN(test_http10);
    RUN(test_server_free_pending);
    return check_report();
}
