/* The openai upstream backend on a real loop against tests/tools/fake_upstream.js: what the
 * upstream receives (pass-through, model, max_tokens, stream + usage, the key), the events for
 * streams, JSON answers, tool calls and logprobs; retries (counted at the fake) for 429 with
 * Retry-After, 5xx and refused connections; the circuit breaker opening and recovering through
 * one half-open probe; every fault after the first byte ending in EV_ERROR; distinct timeouts;
 * cancellation (the fake sees the disconnect; no event follows). */
#include "check.h"
#include "fake_upstream.h"

#include "backend/openai_up.h"
#include "base/alloc.h"
#include "base/buf.h"
#include "net/loop.h"

#define KEY_ENV "BATON_TEST_UPSTREAM_KEY"
#define KEY "sk-test-SECRET123"

static struct fake g_fake;
static struct loop *g_loop;

struct rec {
    struct call call;
    struct backend *b;
    struct buf text;
    json_t *deltas;       /* every delta object, copied */
    int n_delta, n_usage, n_finish, n_error, n_after_final;
    bool final;
    int64_t prompt_tokens, completion_tokens;
    char finish[32];
    int err_status;
    char err_type[64];
    char err_msg[ERR_MSG_MAX];
    int n_logprobs, n_top;
    char first_token[32];
    float first_logprob;
    int cancel_after_deltas; /* backend_cancel from inside emit after this many deltas */
    struct timespec t0;
    double final_ms;
};

static void stop_cb(struct loop *l, void *arg)
{
    (void)arg;
    loop_stop(l);
}

static void on_emit(struct call *c, const struct event *ev)
{
    struct rec *r = c->user;
    if (r->final) {
        r->n_after_final++;
        return;
    }
    switch (ev->type) {
    case EV_DELTA:
        r->n_delta++;
        if (ev->text)
            buf_append(&r->text, ev->text, ev->len);
        if (ev->delta)
            json_array_append_new(r->deltas, json_deep_copy(ev->delta));
        if (ev->logprob) {
            if (r->n_logprobs++ == 0) {
                snprintf(r->first_token, sizeof r->first_token, "%.*s", (int)ev->logprob->len,
                         ev->logprob->token);
                r->first_logprob = ev->logprob->logprob;
            }
            r->n_top += ev->n_top;
        }
        if (r->cancel_after_deltas && r->n_delta == r->cancel_after_deltas) {
            backend_cancel(r->b, c);
            r->final = true; /* nothing may come after this */
            loop_timer_add(g_loop, 300, stop_cb, NULL);
        }
        break;
    case EV_USAGE:
        r->n_usage++;
        r->prompt_tokens = ev->prompt_tokens;
        r->completion_tokens = ev->completion_tokens;
        break;
    case EV_FINISH:
        r->n_finish++;
        snprintf(r->finish, sizeof r->finish, "%s", ev->finish_reason ? ev->finish_reason : "");
        break;
    case EV_ERROR:
        r->n_error++;
        r->err_status = ev->status;
        snprintf(r->err_type, sizeof r->err_type, "%s", ev->error_type);
        snprintf(r->err_msg, sizeof r->err_msg, "%s", ev->error_message);
        break;
    }
    if (ev->type == EV_FINISH || ev->type == EV_ERROR) {
        r->final = true;
        r->final_ms = elapsed_ms_since(&r->t0);
        loop_stop(g_loop);
    }
}

static struct tier_config tier(const char *model)
{
    struct tier_config t = {
        .name = "cloud",
        .kind = TIER_OPENAI,
        .base_url = g_fake.base_url,
        .api_key_env = KEY_ENV,
        .upstream_model = (char *)model,
        .connect_timeout_ms = 1000,
        .first_byte_timeout_ms = 2000,
        .idle_timeout_ms = 1000,
        .retries = 2,
        .breaker_failures = 5,
        .breaker_open_ms = 30000,
        .max_tokens_default = 77,
    };
    return t;
}

static struct backend *new_backend(const struct tier_config *t)
{
    struct err e;
    struct backend *b = openai_up_new(g_loop, t, &e);
    CHECK_MSG(b != NULL, "%s", e.msg);
    return b;
}

static const char *const default_body =
    "{\"model\":\"cloud\",\"messages\":[{\"role\":\"user\",\"content\":\"hello world\"}]}";

/* Requests stream unless the body says "stream": false, so most tests exercise the SSE path;
 * test_non_stream covers the plain JSON one. */
static struct request *make_request(const char *body, enum dialect d)
{
    struct request *q = xcalloc(1, sizeof *q);
    q->dialect = d;
    q->max_tokens = -1;
    q->stream = true;
    if (body) {
        json_error_t je;
        q->body = json_loads(body, 0, &je);
        CHECK_MSG(q->body != NULL, "%s", je.text);
        if (json_is_false(json_object_get(q->body, "stream")))
            q->stream = false;
    }
    return q;
}

static void rec_init(struct rec *r, struct backend *b, struct request *q)
{
    memset(r, 0, sizeof *r);
    buf_init(&r->text);
    r->deltas = json_array();
    r->b = b;
    r->call.req = q;
    r->call.emit = on_emit;
    r->call.user = r;
    clock_gettime(CLOCK_MONOTONIC, &r->t0);
}

static void rec_free(struct rec *r)
{
    buf_free(&r->text);
    json_decref(r->deltas);
    request_free((struct request *)r->call.req);
}

static struct loop_timer *g_guard;
static bool g_guard_fired;

static void guard_cb(struct loop *l, void *arg)
{
    (void)arg;
    g_guard = NULL;
    g_guard_fired = true;
    CHECK_MSG(0, "the loop ran for 10 s: a call never finished");
    loop_stop(l);
}

/* Runs the loop until something stops it; false if the 10 s guard had to. */
static bool run_loop(void)
{
    g_guard_fired = false;
    g_guard = loop_timer_add(g_loop, 10000, guard_cb, NULL);
    loop_run(g_loop);
    if (g_guard)
        loop_timer_cancel(g_loop, g_guard);
    g_guard = NULL;
    return !g_guard_fired;
}

static void run_for_ms(uint64_t ms)
{
    loop_timer_add(g_loop, ms, stop_cb, NULL);
    run_loop();
}

static enum start_error start(struct rec *r, struct backend *b, const char *body, enum dialect d,
                              struct err *e)
{
    rec_init(r, b, make_request(body, d));
    return backend_start(b, &r->call, e);
}

static void wait_final(struct rec *r)
{
    while (!r->final && run_loop())
        ;
}

/* Starts a call and runs the loop until its final event. */
static void call_once(struct rec *r, struct backend *b, const char *body)
{
    struct err e;
    enum start_error se = start(r, b, body, DIALECT_OPENAI_CHAT, &e);
    CHECK_MSG(se == START_OK, "start: %d %s", (int)se, e.msg);
    if (se == START_OK)
        wait_final(r);
}

/* A call on a fresh backend for upstream model `model`, with the default tier otherwise. */
static void call_model(struct rec *r, const char *model, const char *body)
{
    struct tier_config t = tier(model);
    struct backend *b = new_backend(&t);
    call_once(r, b, body ? body : default_body);
    backend_free(b);
}

static void check_ok_echo(const struct rec *r, const char *text)
{
    CHECK_EQ_INT(r->n_error, 0);
    CHECK_EQ_INT(r->n_finish, 1);
    CHECK_EQ_INT(r->n_after_final, 0);
    CHECK_STR(r->text.data ? r->text.data : "", text);
    CHECK_MSG(r->n_error == 0, "%d %s", r->err_status, r->err_msg);
}

static const char *key_of(const char *model)
{
    static char k[64];
    snprintf(k, sizeof k, "%.*s", (int)(strchr(model, '/') - model), model);
    return k;
}

static long long stat_of(const char *model, const char *field)
{
    return fake_stat(&g_fake, key_of(model), field);
}

/* ---- what goes upstream, what comes back ---- */

static void test_pass_through(void)
{
    const char *body =
        "{\"model\":\"cloud\",\"stream\":true,"
        "\"messages\":[{\"role\":\"system\",\"content\":\"be brief\"},"
        "{\"role\":\"user\",\"content\":\"hello world\"}],"
        "\"tools\":[{\"type\":\"function\",\"function\":{\"name\":\"get_weather\","
        "\"parameters\":{\"type\":\"object\",\"properties\":{\"city\":{\"type\":\"string\"}}}}}],"
        "\"tool_choice\":\"auto\",\"response_format\":{\"type\":\"json_object\"},"
        "\"temperature\":0.5,\"top_p\":0.25,\"seed\":42,\"stop\":[\"END\"],"
        "\"logprobs\":false,\"user\":\"u-1\",\"parallel_tool_calls\":false,"
        "\"stream_options\":{\"include_usage\":false,\"x_vendor\":1}}";
    struct rec r;
    call_model(&r, "pt/echo", body);
    check_ok_echo(&r, "echo: hello world");
    CHECK_EQ_INT(r.n_usage, 1);
    CHECK_EQ_INT(r.prompt_tokens, 4);
    CHECK_EQ_INT(r.completion_tokens, 3);
    CHECK_STR(r.finish, "stop");
    /* the first delta carries the role, and content deltas come through as sent */
    CHECK_STR(json_string_value(json_object_get(json_array_get(r.deltas, 0), "role")),
              "assistant");
    CHECK_STR(json_string_value(json_object_get(json_array_get(r.deltas, 2), "content")),
              " hello");

    json_t *st = fake_stats(&g_fake, "pt");
    json_t *up = json_object_get(st, "last_body");
    json_t *sent = json_loads(body, 0, NULL);
    CHECK_STR(json_string_value(json_object_get(up, "model")), "pt/echo");
    CHECK_EQ_INT(json_integer_value(json_object_get(up, "max_tokens")), 77);
    CHECK(json_is_true(json_object_get(up, "stream")));
    json_t *so = json_object_get(up, "stream_options");
    CHECK(json_is_true(json_object_get(so, "include_usage")));
    CHECK_EQ_INT(json_integer_value(json_object_get(so, "x_vendor")), 1);
    static const char *const same[] = {"messages", "tools", "tool_choice", "response_format",
                                       "temperature", "top_p", "seed", "stop", "logprobs",
                                       "user", "parallel_tool_calls"};
    for (size_t i = 0; i < sizeof same / sizeof *same; i++)
        CHECK_MSG(json_equal(json_object_get(up, same[i]), json_object_get(sent, same[i])),
                  "field %s changed on the way", same[i]);
    json_t *h = json_object_get(st, "last_headers");
    CHECK_STR(json_string_value(json_object_get(h, "authorization")), "Bearer " KEY);
    CHECK_STR(json_string_value(json_object_get(h, "content-type")), "application/json");
    json_decref(sent);
    json_decref(st);
    rec_free(&r);
}

/* A non-streaming client: the upstream is asked for plain JSON (no stream_options), and its
 * answer becomes the same events. */
static void test_non_stream(void)
{
    const char *body = "{\"model\":\"cloud\",\"stream\":false,"
                       "\"messages\":[{\"role\":\"user\",\"content\":\"hello world\"}]}";
    struct rec r;
    call_model(&r, "ns/echo", body);
    check_ok_echo(&r, "echo: hello world");
    CHECK_EQ_INT(r.n_usage, 1);
    CHECK_EQ_INT(r.prompt_tokens, 2);
    CHECK_EQ_INT(r.completion_tokens, 3);
    CHECK_STR(r.finish, "stop");
    json_t *st = fake_stats(&g_fake, "ns");
    json_t *up = json_object_get(st, "last_body");
    CHECK(json_is_false(json_object_get(up, "stream")));
    CHECK(json_object_get(up, "stream_options") == NULL);
    json_decref(st);
    rec_free(&r);
}

static void test_max_tokens_from_client(void)
{
    struct rec r;
    call_model(&r, "mt/echo",
               "{\"max_tokens\":2,\"messages\":[{\"role\":\"user\",\"content\":\"hello world\"}]}");
    check_ok_echo(&r, "echo: hello");
    CHECK_STR(r.finish, "length");
    rec_free(&r);
    call_model(&r, "mct/echo",
               "{\"max_completion_tokens\":1,\"messages\":[{\"role\":\"user\",\"content\":\"a b\"}]}");
    check_ok_echo(&r, "echo:");
    json_t *st = fake_stats(&g_fake, "mct");
    CHECK(json_object_get(json_object_get(st, "last_body"), "max_tokens") == NULL);
    json_decref(st);
    rec_free(&r);
}

static void test_tool_calls(void)
{
    struct rec r;
    call_model(&r, "tc/tools", NULL);
    CHECK_EQ_INT(r.n_error, 0);
    CHECK_STR(r.finish, "tool_calls");
    CHECK_EQ_INT(r.text.len, 0);
    json_t *want = json_loads(
        "[{\"role\":\"assistant\",\"content\":null,\"tool_calls\":[{\"index\":0,"
        "\"id\":\"call_fake1\",\"type\":\"function\",\"function\":{\"name\":\"get_weather\","
        "\"arguments\":\"\"}}]},"
        "{\"tool_calls\":[{\"index\":0,\"function\":{\"arguments\":\"{\\\"city\\\":\"}}]},"
        "{\"tool_calls\":[{\"index\":0,\"function\":{\"arguments\":\"\\\"Paris\\\"}\"}}]}]",
        0, NULL);
    CHECK(want != NULL);
    CHECK_MSG(json_equal(r.deltas, want), "deltas: %s", json_dumps(r.deltas, JSON_COMPACT));
    json_decref(want);
    rec_free(&r);
}

static void test_json_answer(void)
{
    struct rec r;
    call_model(&r, "js/json", NULL);
    check_ok_echo(&r, "echo: hello world");
    CHECK_EQ_INT(r.n_usage, 1);
    CHECK_EQ_INT(r.completion_tokens, 3);
    CHECK_STR(r.finish, "stop");
    rec_free(&r);

    call_model(&r, "js2/json?tools=1", NULL);
    CHECK_STR(r.finish, "tool_calls");
    json_t *tc = json_array_get(json_object_get(json_array_get(r.deltas, 0), "tool_calls"), 0);
    CHECK_EQ_INT(json_integer_value(json_object_get(tc, "index")), 0);
    CHECK_STR(json_string_value(json_object_get(json_object_get(tc, "function"), "arguments")),
              "{\"city\":\"Paris\"}");
    rec_free(&r);
}

static void test_logprobs(void)
{
    struct rec r;
    call_model(&r, "lp/logprobs", NULL);
    check_ok_echo(&r, "echo: hello world");
    CHECK_EQ_INT(r.n_logprobs, 3);
    CHECK_EQ_INT(r.n_top, 6);
    CHECK_STR(r.first_token, "echo:");
    CHECK_NEAR(r.first_logprob, -0.1, 1e-6);
    rec_free(&r);
}

static void test_completions_and_struct_body(void)
{
    struct tier_config t = tier("cmp/echo");
    struct backend *b = new_backend(&t);
    struct rec r;
    struct err e;
    CHECK(start(&r, b, "{\"prompt\":\"hi there\"}", DIALECT_OPENAI_COMPLETION, &e) == START_OK);
    wait_final(&r);
    check_ok_echo(&r, "echo: hi there");
    rec_free(&r);

    /* no JSON body (a request from another dialect): built from the struct */
    struct request *q = make_request(NULL, DIALECT_OPENAI_CHAT);
    q->n_messages = 1;
    q->messages = xcalloc(1, sizeof *q->messages);
    q->messages[0].role = ROLE_USER;
    q->messages[0].content = xstrdup("from struct");
    q->has_seed = true;
    q->seed = 7;
    rec_init(&r, b, q);
    CHECK(backend_start(b, &r.call, &e) == START_OK);
    wait_final(&r);
    check_ok_echo(&r, "echo: from struct");
    json_t *st = fake_stats(&g_fake, "cmp");
    CHECK_EQ_INT(json_integer_value(json_object_get(json_object_get(st, "last_body"), "seed")), 7);
    json_decref(st);
    rec_free(&r);
    backend_free(b);
}

/* Finishing at [DONE] leaves the connection reusable. */
static void test_keep_alive(void)
{
    struct tier_config t = tier("ka/echo");
    struct backend *b = new_backend(&t);
    struct rec r;
    for (int i = 0; i < 3; i++) {
        call_once(&r, b, default_body);
        check_ok_echo(&r, "echo: hello world");
        rec_free(&r);
    }
    json_t *st = fake_stats(&g_fake, "ka");
    json_t *ids = json_object_get(st, "conn_ids");
    CHECK_EQ_INT(json_array_size(ids), 3);
    CHECK(json_equal(json_array_get(ids, 0), json_array_get(ids, 2)));
    json_decref(st);
    backend_free(b);
}

/* ---- retries ---- */

static void test_retry_429(void)
{
    struct rec r;
    call_model(&r, "r429/status?code=429&times=2&retry_after_ms=150", NULL);
    check_ok_echo(&r, "echo: hello world");
    CHECK_EQ_INT(stat_of("r429/", "requests"), 3);
    CHECK_MSG(r.final_ms >= 295, "%.0f ms", r.final_ms); /* 2 x 150 ms as asked */
    rec_free(&r);

    call_model(&r, "r429s/status?code=429&times=1&retry_after=1", NULL);
    check_ok_echo(&r, "echo: hello world");
    CHECK_MSG(r.final_ms >= 990, "%.0f ms", r.final_ms);
    rec_free(&r);

    /* a Retry-After beyond the cap is not waited for: the 429 goes to the client now */
    call_model(&r, "r429l/status?code=429&retry_after=60", NULL);
    CHECK_EQ_INT(r.n_error, 1);
    CHECK_EQ_INT(r.err_status, 429);
    CHECK_STR(r.err_type, "rate_limit_error");
    CHECK_STR(r.err_msg, "fake upstream error 429");
    CHECK_EQ_INT(stat_of("r429l/", "requests"), 1);
    CHECK(r.final_ms < 500);
    rec_free(&r);
}

static void test_retry_5xx(void)
{
    struct rec r;
    call_model(&r, "r500/status?code=500&times=1", NULL);
    check_ok_echo(&r, "echo: hello world");
    CHECK_EQ_INT(stat_of("r500/", "requests"), 2);
    rec_free(&r);

    call_model(&r, "r503/status?code=503", NULL);
    CHECK_EQ_INT(r.n_error, 1);
    CHECK_EQ_INT(r.n_delta, 0);
    CHECK_EQ_INT(r.err_status, 502);
    CHECK_STR(r.err_type, "server_error");
    CHECK(strstr(r.err_msg, "upstream error: tier cloud answered HTTP 503") != NULL);
    CHECK_EQ_INT(stat_of("r503/", "requests"), 3); /* 1 + retries */
    /* backoff with jitter: 100..200 ms, then 200..400 ms */
    CHECK_MSG(r.final_ms >= 295 && r.final_ms < 2000, "%.0f ms", r.final_ms);
    rec_free(&r);
}

static void test_client_errors(void)
{
    struct rec r;
    call_model(&r, "r400/status?code=400&message=messages%20must%20not%20be%20empty", NULL);
    CHECK_EQ_INT(r.err_status, 400);
    CHECK_STR(r.err_type, "invalid_request_error");
    CHECK_STR(r.err_msg, "messages must not be empty");
    CHECK_EQ_INT(stat_of("r400/", "requests"), 1); /* never retried */
    rec_free(&r);

    call_model(&r, "r401/status?code=401&message=bad%20key%20" KEY, NULL);
    CHECK_EQ_INT(r.err_status, 502);
    CHECK(strstr(r.err_msg, "credentials") != NULL);
    CHECK(strstr(r.err_msg, "SECRET") == NULL);
    rec_free(&r);

    /* an upstream message quoting the key reaches the client masked */
    call_model(&r, "r422/status?code=422&message=key%20" KEY "%20rejected", NULL);
    CHECK_EQ_INT(r.err_status, 422);
    CHECK_STR(r.err_msg, "key ***************** rejected");
    rec_free(&r);
}

static void test_refused_retries(void)
{
    struct tier_config t = tier("x/echo");
    char url[64];
    snprintf(url, sizeof url, "http://127.0.0.1:%d/v1/", closed_port());
    t.base_url = url;
    struct backend *b = new_backend(&t);
    struct rec r;
    call_once(&r, b, default_body);
    CHECK_EQ_INT(r.err_status, 502);
    CHECK(strstr(r.err_msg, "upstream unreachable: tier cloud") != NULL);
    CHECK(strstr(r.err_msg, KEY) == NULL);
    CHECK_MSG(r.final_ms >= 295, "%.0f ms: two backoffs", r.final_ms);
    rec_free(&r);
    backend_free(b);
}

/* ---- the breaker ---- */

static void test_breaker(void)
{
    struct tier_config t = tier("brk/status?code=503&times=2");
    t.retries = 0;
    t.breaker_failures = 2;
    t.breaker_open_ms = 300;
    struct backend *b = new_backend(&t);
    struct rec r, a, c;
    struct err e;
    for (int i = 0; i < 2; i++) {
        CHECK(backend_healthy(b));
        call_once(&r, b, default_body);
        CHECK_EQ_INT(r.err_status, 502);
        rec_free(&r);
    }
    CHECK(!backend_healthy(b));
    CHECK_EQ_INT(start(&r, b, default_body, DIALECT_OPENAI_CHAT, &e), START_UNAVAILABLE);
    CHECK(strstr(e.msg, "circuit open after 2 consecutive failures") != NULL);
    CHECK_EQ_INT(r.n_delta + r.n_error + r.n_finish, 0);
    rec_free(&r);
    CHECK_EQ_INT(stat_of("brk/", "requests"), 2);

    run_for_ms(320);
    CHECK(backend_healthy(b)); /* half-open */
    CHECK_EQ_INT(start(&a, b, default_body, DIALECT_OPENAI_CHAT, &e), START_OK); /* the probe */
    CHECK(!backend_healthy(b));
    CHECK_EQ_INT(start(&c, b, default_body, DIALECT_OPENAI_CHAT, &e), START_UNAVAILABLE);
    rec_free(&c);
    wait_final(&a);
    check_ok_echo(&a, "echo: hello world");
    rec_free(&a);
    CHECK(backend_healthy(b)); /* closed again */
    call_once(&c, b, default_body);
    check_ok_echo(&c, "echo: hello world");
    rec_free(&c);
    CHECK_EQ_INT(stat_of("brk/", "requests"), 4);
    backend_free(b);
}

/* a failing probe opens the breaker again; a cancelled probe frees the slot */
static void test_breaker_probe_fails(void)
{
    struct tier_config t = tier("brk2/status?code=500");
    t.retries = 0;
    t.breaker_failures = 1;
    t.breaker_open_ms = 200;
    struct backend *b = new_backend(&t);
    struct rec r;
    struct err e;
    call_once(&r, b, default_body);
    rec_free(&r);
    CHECK(!backend_healthy(b));
    run_for_ms(220);
    call_once(&r, b, default_body); /* the probe, failing */
    CHECK_EQ_INT(r.err_status, 502);
    rec_free(&r);
    CHECK(!backend_healthy(b));
    CHECK_EQ_INT(start(&r, b, default_body, DIALECT_OPENAI_CHAT, &e), START_UNAVAILABLE);
    rec_free(&r);
    run_for_ms(220);
    CHECK_EQ_INT(start(&r, b, default_body, DIALECT_OPENAI_CHAT, &e), START_OK);
    backend_cancel(b, &r.call);
    CHECK(backend_healthy(b));
    rec_free(&r);
    backend_free(b);
}

/* ---- faults ---- */

static void test_timeouts(void)
{
    struct tier_config t = tier("hh/hang_headers");
    t.first_byte_timeout_ms = 300;
    struct backend *b = new_backend(&t);
    struct rec r;
    call_once(&r, b, default_body);
    CHECK_EQ_INT(r.err_status, 504);
    CHECK_STR(r.err_type, "timeout_error");
    CHECK_STR(r.err_msg, "upstream timeout: tier cloud: no response headers within 300 ms");
    CHECK_EQ_INT(stat_of("hh/", "requests"), 1); /* a slow upstream is not asked twice */
    CHECK_MSG(r.final_ms >= 295 && r.final_ms < 2000, "%.0f ms", r.final_ms);
    rec_free(&r);
    backend_free(b);

    struct blackhole bh = {-1, -1, 0};
    CHECK(blackhole_open(&bh) == 0);
    char url[64];
    snprintf(url, sizeof url, "http://127.0.0.1:%d/v1", bh.port);
    t = tier("x/echo");
    t.base_url = url;
    t.connect_timeout_ms = 150;
    t.retries = 1;
    b = new_backend(&t);
    call_once(&r, b, default_body);
    CHECK_EQ_INT(r.err_status, 504);
    CHECK_STR(r.err_msg, "upstream timeout: tier cloud: no connection within 150 ms");
    CHECK_MSG(r.final_ms >= 390 && r.final_ms < 2000, "%.0f ms: 2 x 150 + backoff", r.final_ms);
    rec_free(&r);
    backend_free(b);
    blackhole_close(&bh);
}

/* After the first delta every failure is EV_ERROR 502 "upstream stream broke", never a finish. */
static void check_broke(const char *model, int64_t idle_ms, const char *why, int min_deltas)
{
    struct tier_config t = tier(model);
    t.idle_timeout_ms = idle_ms;
    struct backend *b = new_backend(&t);
    struct rec r;
    call_once(&r, b, default_body);
    CHECK_MSG(r.n_delta >= min_deltas, "%s: %d deltas", model, r.n_delta);
    CHECK_EQ_INT(r.n_finish, 0);
    CHECK_EQ_INT(r.n_usage, 0);
    CHECK_EQ_INT(r.n_error, 1);
    CHECK_EQ_INT(r.err_status, 502);
    CHECK_MSG(strncmp(r.err_msg, "upstream stream broke: tier cloud: ", 35) == 0 &&
                  strstr(r.err_msg, why),
              "%s: \"%s\"", model, r.err_msg);
    CHECK_EQ_INT(stat_of(model, "requests"), 1); /* deltas went out: no retry */
    rec_free(&r);
    backend_free(b);
}

static void test_stream_faults(void)
{
    check_broke("hm/hang_mid", 300, "idle timeout (no data for 300 ms)", 2);
    check_broke("dm/drop_mid", 1000, "connection lost", 2);
    check_broke("mf/malformed", 1000, "malformed JSON in an SSE event", 1);
    check_broke("nd/no_done", 1000, "the stream ended without [DONE]", 4);
    check_broke("nf/no_finish", 1000, "[DONE] without a finish_reason", 4);
    check_broke("se/stream_error", 1000, "the upstream reported an error: fake failure mid-stream",
                1);
}

static void test_slow_stream(void)
{
    struct tier_config t = tier("sl/slow?delay_ms=120");
    t.idle_timeout_ms = 400;
    struct backend *b = new_backend(&t);
    struct rec r;
    call_once(&r, b, default_body);
    check_ok_echo(&r, "echo: hello world");
    CHECK_EQ_INT(r.n_usage, 1);
    CHECK_MSG(r.final_ms >= 600, "%.0f ms", r.final_ms);
    rec_free(&r);
    backend_free(b);
}

/* ---- cancellation ---- */

static void cancel_cb(struct loop *l, void *arg)
{
    (void)l;
    struct rec *r = arg;
    backend_cancel(r->b, &r->call);
    r->final = true;
    loop_timer_add(g_loop, 400, stop_cb, NULL);
}

static void test_cancel(void)
{
    /* from inside emit, mid-stream: the transfer stops, the fake sees the disconnect */
    struct tier_config t = tier("cx/slow?delay_ms=60");
    struct backend *b = new_backend(&t);
    struct rec r;
    struct err e;
    CHECK(start(&r, b, default_body, DIALECT_OPENAI_CHAT, &e) == START_OK);
    r.cancel_after_deltas = 2;
    run_loop();
    CHECK_EQ_INT(r.n_delta, 2);
    CHECK_EQ_INT(r.n_after_final, 0);
    CHECK_EQ_INT(fake_wait_stat(&g_fake, "cx", "client_aborts", 1), 1);
    rec_free(&r);
    backend_free(b);

    /* from a timer while a retry waits: no event, no further request */
    t = tier("cx2/status?code=503&retry_after_ms=200");
    b = new_backend(&t);
    CHECK(start(&r, b, default_body, DIALECT_OPENAI_CHAT, &e) == START_OK);
    loop_timer_add(g_loop, 100, cancel_cb, &r);
    run_loop();
    CHECK_EQ_INT(r.n_delta + r.n_error + r.n_finish + r.n_after_final, 0);
    CHECK_EQ_INT(stat_of("cx2/", "requests"), 1);
    rec_free(&r);

    /* backend_free with a call still running (hanging) cleans up without events */
    t = tier("cx3/hang_headers");
    struct backend *b2 = new_backend(&t);
    CHECK(start(&r, b2, default_body, DIALECT_OPENAI_CHAT, &e) == START_OK);
    run_for_ms(100);
    backend_free(b2);
    CHECK_EQ_INT(r.n_delta + r.n_error + r.n_finish, 0);
    CHECK_EQ_INT(fake_wait_stat(&g_fake, "cx3", "client_aborts", 1), 1);
    rec_free(&r);
    backend_free(b);
}

static void test_new_errors(void)
{
    struct tier_config t = tier("x/echo");
    struct err e;
    t.api_key_env = "BATON_TEST_NO_SUCH_VARIABLE";
    CHECK(openai_up_new(g_loop, &t, &e) == NULL);
    CHECK_STR(e.msg,
              "tier cloud: environment variable BATON_TEST_NO_SUCH_VARIABLE (api_key_env) is not set");
    t = tier("x/echo");
    t.base_url = NULL;
    CHECK(openai_up_new(g_loop, &t, &e) == NULL);
    CHECK_STR(e.msg, "tier cloud: base_url is required for kind openai");
    /* no key at all: no Authorization header */
    t = tier("nokey/echo");
    t.api_key_env = NULL;
    struct backend *b = new_backend(&t);
    CHECK_STR(b->ops->kind, "openai");
    CHECK_STR(b->name, "cloud");
    struct rec r;
    call_once(&r, b, default_body);
    check_ok_echo(&r, "echo: hello world");
    json_t *st = fake_stats(&g_fake, "nokey");
    CHECK(json_object_get(json_object_get(st, "last_headers"), "authorization") == NULL);
    json_decref(st);
    rec_free(&r);
    backend_free(b);
}

int main(void)
{
    unsetenv("http_proxy"), unsetenv("HTTP_PROXY"), unsetenv("all_proxy"), unsetenv("ALL_PROXY");
    setenv(KEY_ENV, KEY, 1);
    if (fake_start(&g_fake) != 0)
        return 1;
    g_loop = loop_new();
    RUN(test_pass_through);
    RUN(test_non_stream);
    RUN(test_max_tokens_from_client);
    RUN(test_tool_calls);
    RUN(test_json_answer);
    RUN(test_logprobs);
    RUN(test_completions_and_struct_body);
    RUN(test_keep_alive);
    RUN(test_retry_429);
    RUN(test_retry_5xx);
    RUN(test_client_errors);
    RUN(test_refused_retries);
    RUN(test_breaker);
    RUN(test_breaker_probe_fails);
    RUN(test_timeouts);
    RUN(test_stream_faults);
    RUN(test_slow_stream);
    RUN(test_cancel);
    RUN(test_new_errors);
    loop_free(g_loop);
    fake_stop(&g_fake);
    return check_report();
}
