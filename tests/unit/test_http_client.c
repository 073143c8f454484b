/* The async HTTP client on a real loop against tests/tools/fake_upstream.js: streaming bodies,
 * keep-alive reuse, many concurrent requests on one thread, each timeout with its own code,
 * refused connections, cancellation (inside a callback and from a timer; the server sees the
 * disconnect and no callback follows), and starting requests from inside callbacks. */
#include "check.h"
#include "fake_upstream.h"

#include "base/buf.h"
#include "net/http_client.h"
#include "net/loop.h"

static struct fake g_fake;

struct got {
    struct loop *l;
    struct http_client *c;
    struct http_req *req;
    int status;
    char conn_id[16];
    struct buf body;
    int n_body_calls;
    int n_done;
    struct http_done done;
    char message[256];
    size_t cancel_after_bytes; /* cancel from inside on_body once this much arrived (0: never) */
    bool stop_on_done;
    int *n_outstanding;        /* shared counter for batches: stop when it reaches 0 */
    struct got *chain;         /* start this one from inside our on_done */
    const char *chain_model;
    bool start_inner;          /* start g_inner from inside our first on_body */
};

static void start_post(struct got *g, const char *path, const char *model, int64_t first_byte_ms,
                       int64_t idle_ms, int64_t total_ms, int64_t connect_ms);
static void got_init(struct got *g, struct loop *l, struct http_client *c);
static struct got g_inner;

static void stop_cb(struct loop *l, void *arg)
{
    (void)arg;
    loop_stop(l);
}

static void on_response(void *arg, int status, const struct http_client_header *h, size_t n)
{
    struct got *g = arg;
    g->status = status;
    const char *id = http_client_header_find(h, n, "X-Conn-Id");
    snprintf(g->conn_id, sizeof g->conn_id, "%s", id ? id : "");
}

static void on_body(void *arg, const char *data, size_t len)
{
    struct got *g = arg;
    buf_append(&g->body, data, len);
    g->n_body_calls++;
    if (g->cancel_after_bytes && g->body.len >= g->cancel_after_bytes) {
        http_client_cancel(g->c, g->req);
        g->req = NULL;
        loop_timer_add(g->l, 300, stop_cb, NULL); /* wait for stray callbacks */
    }
    if (g->start_inner && g->n_body_calls == 1) {
        got_init(&g_inner, g->l, g->c);
        g_inner.stop_on_done = false;
        start_post(&g_inner, "/v1/chat/completions", "inner/echo", 0, 0, 0, 0);
    }
}

static void on_done(void *arg, const struct http_done *d)
{
    struct got *g = arg;
    g->n_done++;
    g->done = *d;
    snprintf(g->message, sizeof g->message, "%s", d->message);
    g->done.message = g->message;
    g->req = NULL;
    if (g->chain)
        start_post(g->chain, "/v1/chat/completions", g->chain_model, 0, 0, 0, 0);
    if (g->n_outstanding && --*g->n_outstanding == 0)
        loop_stop(g->l);
    if (g->stop_on_done)
        loop_stop(g->l);
}

static void got_init(struct got *g, struct loop *l, struct http_client *c)
{
    memset(g, 0, sizeof *g);
    g->l = l;
    g->c = c;
    g->stop_on_done = true;
    buf_init(&g->body);
}

static void start_post(struct got *g, const char *path, const char *model, int64_t first_byte_ms,
                       int64_t idle_ms, int64_t total_ms, int64_t connect_ms)
{
    char url[256], body[512];
    snprintf(url, sizeof url, "http://127.0.0.1:%d%s", g_fake.port, path);
    snprintf(body, sizeof body,
             "{\"model\":\"%s\",\"stream\":true,\"messages\":[{\"role\":\"user\","
             "\"content\":\"one two three four\"}]}",
             model);
    static const char *const headers[] = {"Content-Type: application/json", "Expect:"};
    struct http_client_request r = {
        .method = "POST",
        .url = url,
        .headers = headers,
        .n_headers = 2,
        .body = body,
        .body_len = strlen(body),
        .connect_timeout_ms = connect_ms,
        .first_byte_timeout_ms = first_byte_ms,
        .idle_timeout_ms = idle_ms,
        .total_timeout_ms = total_ms,
        .on_response = on_response,
        .on_body = on_body,
        .on_done = on_done,
        .arg = g,
    };
    struct err e;
    g->req = http_client_start(g->c, &r, &e);
    CHECK_MSG(g->req != NULL, "%s", e.msg);
}

static struct loop_timer *g_guard;

static void guard_cb(struct loop *l, void *arg)
{
    (void)arg;
    g_guard = NULL;
    CHECK_MSG(0, "the loop ran for 10 s: something never finished");
    loop_stop(l);
}

/* Runs the loop until something stops it, with a 10 s guard. */
static void run(struct loop *l)
{
    g_guard = loop_timer_add(l, 10000, guard_cb, NULL);
    loop_run(l);
    if (g_guard)
        loop_timer_cancel(l, g_guard);
    g_guard = NULL;
}

struct env {
    struct loop *l;
    struct http_client *c;
};

static struct env env_new(void)
{
    struct env v;
    v.l = loop_new();
    struct err e;
    v.c = http_client_new(v.l, &e);
    CHECK_MSG(v.c != NULL, "%s", e.msg);
    return v;
}

static void env_free(struct env *v)
{
    http_client_free(v->c);
    loop_free(v->l);
}

static void test_stream_and_reuse(void)
{
    struct env v = env_new();
    struct got a, b;
    got_init(&a, v.l, v.c);
    start_post(&a, "/v1/chat/completions", "reuse/slow?delay_ms=20", 0, 0, 0, 0);
    run(v.l);
    CHECK_EQ_INT(a.n_done, 1);
    CHECK_EQ_INT(a.done.result, HTTP_OK);
    CHECK_EQ_INT(a.done.status, 200);
    CHECK_EQ_INT(a.status, 200);
    CHECK(a.done.new_connection);
    CHECK(a.n_body_calls >= 4); /* chunks arrive as they are sent, not at the end */
    CHECK(a.body.data && strstr(a.body.data, "data: [DONE]") != NULL);
    CHECK(a.body.data && strstr(a.body.data, "\" four\"") != NULL);
    CHECK(a.conn_id[0] != 0);

    got_init(&b, v.l, v.c);
    start_post(&b, "/v1/chat/completions", "reuse/echo", 0, 0, 0, 0);
    run(v.l);
    CHECK_EQ_INT(b.done.result, HTTP_OK);
    CHECK_STR(b.conn_id, a.conn_id); /* the same TCP connection served both */
    CHECK(!b.done.new_connection);
    CHECK_EQ_INT(http_client_active(v.c), 0);
    buf_free(&a.body);
    buf_free(&b.body);
    env_free(&v);
}

/* 300 requests that each wait 300 ms before answering: on one thread they overlap. */
static void test_concurrent(void)
{
    enum { N = 300 };
    struct env v = env_new();
    struct got *g = calloc(N, sizeof *g);
    int outstanding = N;
    struct timespec t0;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    for (int i = 0; i < N; i++) {
        got_init(&g[i], v.l, v.c);
        g[i].stop_on_done = false;
        g[i].n_outstanding = &outstanding;
        start_post(&g[i], "/v1/chat/completions", "many/echo?delay_ms=300", 0, 0, 0, 0);
    }
    CHECK_EQ_INT(http_client_active(v.c), N);
    run(v.l);
    double ms = elapsed_ms_since(&t0);
    CHECK_EQ_INT(outstanding, 0);
    int ok = 0;
    for (int i = 0; i < N; i++) {
        ok += g[i].done.result == HTTP_OK && g[i].done.status == 200 && g[i].body.data &&
              strstr(g[i].body.data, "[DONE]");
        buf_free(&g[i].body);
    }
    CHECK_EQ_INT(ok, N);
    CHECK_MSG(ms < 5000, "%d requests of 300 ms took %.0f ms", N, ms);
    fprintf(stderr, "     %d concurrent requests in %.0f ms\n", N, ms);
    free(g);
    env_free(&v);
}

/* One POST on a fresh client, run to its end; returns how long it took in ms. The caller frees
 * g->body. */
static double timed_post(const char *model, int port, int64_t first_byte_ms, int64_t idle_ms,
                         int64_t total_ms, int64_t connect_ms, struct got *g)
{
    struct env v = env_new();
    got_init(g, v.l, v.c);
    int saved = g_fake.port;
    g_fake.port = port ? port : saved;
    struct timespec t0;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    start_post(g, "/v1/chat/completions", model, first_byte_ms, idle_ms, total_ms, connect_ms);
    g_fake.port = saved;
    run(v.l);
    double ms = elapsed_ms_since(&t0);
    env_free(&v);
    return ms;
}

static void test_refused(void)
{
    struct got g;
    timed_post("x/echo", closed_port(), 0, 0, 0, 1000, &g);
    CHECK_EQ_INT(g.n_done, 1);
    CHECK_EQ_INT(g.done.result, HTTP_ERR_CONNECT);
    CHECK_EQ_INT(g.done.status, 0);
    CHECK(strlen(g.message) > 0);
}

static void test_connect_timeout(void)
{
    struct blackhole bh = {-1, -1, 0};
    CHECK(blackhole_open(&bh) == 0);
    struct got g;
    double ms = timed_post("x/echo", bh.port, 5000, 0, 0, 200, &g);
    CHECK_EQ_INT(g.done.result, HTTP_ERR_CONNECT_TIMEOUT);
    CHECK_MSG(ms >= 190 && ms < 2000, "%.0f ms", ms);
    blackhole_close(&bh);
}

static void test_first_byte_timeout(void)
{
    struct got g;
    double ms = timed_post("fbt/hang_headers", 0, 200, 5000, 0, 1000, &g);
    CHECK_EQ_INT(g.done.result, HTTP_ERR_FIRST_BYTE_TIMEOUT);
    CHECK_EQ_INT(g.done.status, 0);
    CHECK_MSG(ms >= 195 && ms < 2000, "%.0f ms", ms);
    CHECK_STR(g.message, "no response headers within 200 ms");
    CHECK_EQ_INT(fake_wait_stat(&g_fake, "fbt", "client_aborts", 1), 1);
}

static void test_idle_timeout(void)
{
    struct got g;
    double ms = timed_post("idle/hang_mid", 0, 5000, 200, 0, 1000, &g);
    CHECK_EQ_INT(g.done.result, HTTP_ERR_IDLE_TIMEOUT);
    CHECK_EQ_INT(g.done.status, 200);
    CHECK(g.body.data && strstr(g.body.data, "echo:") != NULL);
    CHECK_MSG(ms >= 195 && ms < 2000, "%.0f ms", ms);
    buf_free(&g.body);
}

/* a slow stream that never pauses long enough for the idle timeout, but lasts too long */
static void test_total_timeout(void)
{
    struct got g;
    double ms = timed_post("total/slow?delay_ms=80", 0, 5000, 1000, 300, 1000, &g);
    CHECK_EQ_INT(g.done.result, HTTP_ERR_TOTAL_TIMEOUT);
    CHECK(g.n_body_calls >= 2);
    CHECK_MSG(ms >= 295 && ms < 2000, "%.0f ms", ms);
    buf_free(&g.body);
}

static void test_drop_mid(void)
{
    struct got g;
    timed_post("drop/drop_mid", 0, 5000, 5000, 0, 1000, &g);
    CHECK_EQ_INT(g.done.result, HTTP_ERR_TRANSFER);
    CHECK_EQ_INT(g.done.status, 200);
    buf_free(&g.body);
}

static void test_error_status(void)
{
    struct got g;
    timed_post("st/status?code=503&retry_after=7", 0, 0, 0, 0, 0, &g);
    CHECK_EQ_INT(g.done.result, HTTP_OK);
    CHECK_EQ_INT(g.done.status, 503);
    CHECK(g.body.data && strstr(g.body.data, "fake upstream error 503") != NULL);
    buf_free(&g.body);
}

static void test_cancel_in_callback(void)
{
    struct env v = env_new();
    struct got g;
    got_init(&g, v.l, v.c);
    g.cancel_after_bytes = 1;
    start_post(&g, "/v1/chat/completions", "cancel1/slow?delay_ms=50", 0, 0, 0, 0);
    run(v.l); /* stopped 300 ms after the cancel */
    CHECK_EQ_INT(g.n_body_calls, 1);
    CHECK_EQ_INT(g.n_done, 0);
    CHECK_EQ_INT(http_client_active(v.c), 0);
    CHECK_EQ_INT(fake_wait_stat(&g_fake, "cancel1", "client_aborts", 1), 1);
    buf_free(&g.body);
    env_free(&v);
}

static void cancel_timer(struct loop *l, void *arg)
{
    struct got *g = arg;
    http_client_cancel(g->c, g->req);
    g->req = NULL;
    loop_timer_add(l, 100, stop_cb, NULL);
}

static void test_cancel_from_timer(void)
{
    struct env v = env_new();
    struct got g;
    got_init(&g, v.l, v.c);
    start_post(&g, "/v1/chat/completions", "cancel2/hang_mid", 0, 0, 0, 0);
    loop_timer_add(v.l, 150, cancel_timer, &g);
    run(v.l);
    CHECK(g.n_body_calls >= 1);
    CHECK_EQ_INT(g.n_done, 0);
    CHECK_EQ_INT(fake_wait_stat(&g_fake, "cancel2", "client_aborts", 1), 1);
    /* cancelling before anything happened, and a client freed with a request running */
    struct got h;
    got_init(&h, v.l, v.c);
    start_post(&h, "/v1/chat/completions", "cancel3/echo", 0, 0, 0, 0);
    http_client_cancel(v.c, h.req);
    got_init(&h, v.l, v.c);
    start_post(&h, "/v1/chat/completions", "cancel4/hang_headers", 0, 0, 0, 0);
    loop_timer_add(v.l, 100, stop_cb, NULL);
    run(v.l);
    CHECK_EQ_INT(h.n_done, 0);
    CHECK_EQ_INT(http_client_active(v.c), 1);
    buf_free(&g.body);
    env_free(&v);
    CHECK_EQ_INT(fake_wait_stat(&g_fake, "cancel4", "client_aborts", 1), 1);
}

/* A request started from another's on_done (outside curl) and one started from on_body (inside
 * curl, so its add is deferred) both run. */
static void test_start_in_callbacks(void)
{
    struct env v = env_new();
    struct got a, b;
    got_init(&a, v.l, v.c);
    got_init(&b, v.l, v.c);
    a.stop_on_done = false;
    a.chain = &b;
    a.chain_model = "chained/echo";
    a.start_inner = true;
    start_post(&a, "/v1/chat/completions", "outer/slow?delay_ms=30", 0, 0, 0, 0);
    run(v.l); /* b stops the loop */
    CHECK_EQ_INT(a.n_done, 1);
    CHECK_EQ_INT(b.n_done, 1);
    CHECK_EQ_INT(b.done.result, HTTP_OK);
    CHECK_EQ_INT(g_inner.n_done, 1);
    CHECK_EQ_INT(g_inner.done.status, 200);
    buf_free(&a.body);
    buf_free(&b.body);
    buf_free(&g_inner.body);
    env_free(&v);
}

static void test_retry_after(void)
{
    struct http_client_header h[2] = {{"Retry-After", "3"}, {"retry-after-ms", "250.5"}};
    CHECK_EQ_INT(http_client_retry_after_ms(h, 2), 250);
    CHECK_EQ_INT(http_client_retry_after_ms(h, 1), 3000);
    h[0].value = "soon";
    CHECK_EQ_INT(http_client_retry_after_ms(h, 1), -1);
    h[0].value = "Wed, 21 Oct 2015 07:28:00 GMT"; /* in the past: now */
    CHECK_EQ_INT(http_client_retry_after_ms(h, 1), 0);
    CHECK_EQ_INT(http_client_retry_after_ms(h, 0), -1);
}

int main(void)
{
    unsetenv("http_proxy"), unsetenv("HTTP_PROXY"), unsetenv("all_proxy"), unsetenv("ALL_PROXY");
    if (fake_start(&g_fake) != 0)
        return 1;
    RUN(test_retry_after);
    RUN(test_stream_and_reuse);
    RUN(test_concurrent);
    RUN(test_refused);
    RUN(test_connect_timeout);
    RUN(test_first_byte_timeout);
    RUN(test_idle_timeout);
    RUN(test_total_timeout);
    RUN(test_drop_mid);
    RUN(test_error_status);
    RUN(test_cancel_in_callback);
    RUN(test_cancel_from_timer);
    RUN(test_start_in_callbacks);
    fake_stop(&g_fake);
    return check_report();
}
