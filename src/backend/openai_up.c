/* openai_up: an OpenAI-compatible upstream behind the backend interface (see openai_up.h).
 *
 * Per call (struct up_call), attempt by attempt:
 *   start ─> attempt ─> on_response: 2xx ─> SSE (or JSON, by content type or a leading '{')
 *                                     else ─> error body, judged at on_done
 *            on_body: SSE chunks ─> EV_DELTA ... ; "[DONE]" ─> EV_USAGE, EV_FINISH
 *            on_done: JSON answer ─> the same events; errors ─> retry (timer) or EV_ERROR
 * Retrying is allowed only while no 2xx body byte has arrived (`got_body`), so the client never
 * sees a delta twice. Every attempt's outcome goes to the tier's breaker.
 *
 * After the final event the call is detached (`call` NULL): if the upstream connection is still
 * open after "[DONE]" it is drained, not cut, so it can go back to the keep-alive pool; the
 * up_call is freed when the transfer ends.
 *
 * Re-entrancy: emit may call backend_cancel on this very call (the client went away). Every
 * entry point (http callbacks, the retry timer) raises `depth` while it runs; cancel then only
 * detaches and stops the transfer, and the up_call is freed when the outermost entry returns.
 * After each emit the code checks `call` before touching anything of the caller's.
 */
#include "backend/openai_up.h"

#include "backend/breaker.h"
#include "base/alloc.h"
#include "base/buf.h"
#include "base/log.h"
#include "net/http_client.h"
#include "net/loop.h"
#include "net/sse.h"

#include <jansson.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define SSE_MAX_EVENT_BYTES (4u << 20) /* one chunk of a stream */
#define JSON_MAX_BYTES (16u << 20)     /* a whole non-stream answer */
#define ERROR_BODY_MAX_BYTES (64u << 10)
#define BACKOFF_BASE_MS 200u           /* first retry after 100..200 ms, then doubling */
#define BACKOFF_MAX_MS 5000u
#define RETRY_AFTER_MAX_MS 10000       /* a longer Retry-After is not waited for: fail now */
#define MAX_TOP_LOGPROBS 20

struct up_call;

struct up {
    struct backend b;
    struct loop *loop;
    struct http_client *http;
    char *name;
    char *url_chat;       /* {base_url}/chat/completions */
    char *url_completion; /* {base_url}/completions */
    char *model;
    char *auth;           /* "Authorization: Bearer KEY", or NULL */
    size_t key_off;       /* where KEY starts in auth */
    int64_t connect_ms, first_byte_ms, idle_ms;
    int32_t retries;
    int32_t max_tokens_default;
    struct breaker breaker;
    uint64_t rng;
    struct up_call *calls; /* every live up_call, detached ones included */
};

enum body_mode { MODE_SNIFF, MODE_SSE, MODE_JSON, MODE_ERROR };

struct up_call {
    struct up *up;
    struct call *call;   /* NULL once the final event went out or the call was cancelled */
    char *body;          /* the upstream request body, sent again by retries */
    bool chat;           /* chat/completions, else completions */
    struct http_req *http;
    struct loop_timer *retry_timer;
    int n_attempts;
    bool probe;          /* holds the breaker's half-open probe */
    int depth;
    /* the current attempt */
    int status;
    enum body_mode mode;
    int64_t retry_after_ms;
    struct sse_parser *sse;
    struct buf raw;      /* the JSON answer or the error body */
    bool got_body;       /* a 2xx body byte arrived: no more retries */
    bool saw_done;
    char *finish_reason;
    bool has_usage;
    int64_t prompt_tokens, completion_tokens;
    char broke[300];     /* why the stream cannot go on (set while parsing it) */
    struct up_call *prev, *next;
};

static uint64_t now_ms(const struct up *up) { return loop_now_ms(up->loop); }

/* ---- the key never leaves the Authorization header ---- */

static void scrub_key(const struct up *up, char *s)
{
    if (!up->auth)
        return;
    const char *key = up->auth + up->key_off;
    size_t n = strlen(key);
    if (n == 0)
        return;
    for (char *p = strstr(s, key); p; p = strstr(p + n, key))
        memset(p, '*', n);
}

/* ---- per-call lifetime ---- */

static void attempt_reset(struct up_call *uc)
{
    uc->status = 0;
    uc->mode = MODE_SNIFF;
    uc->retry_after_ms = -1;
    sse_free(uc->sse);
    uc->sse = NULL;
    buf_clear(&uc->raw);
    uc->got_body = uc->saw_done = uc->has_usage = false;
    free(uc->finish_reason);
    uc->finish_reason = NULL;
    uc->prompt_tokens = uc->completion_tokens = 0;
    uc->broke[0] = 0;
}

static void up_call_free(struct up_call *uc)
{
    struct up *up = uc->up;
    if (uc->prev)
        uc->prev->next = uc->next;
    else
        up->calls = uc->next;
    if (uc->next)
        uc->next->prev = uc->prev;
    attempt_reset(uc);
    buf_free(&uc->raw);
    free(uc->body);
    free(uc);
}

static void maybe_free(struct up_call *uc)
{
    if (uc->depth == 0 && !uc->call && !uc->http && !uc->retry_timer)
        up_call_free(uc);
}

/* The caller's call stops being ours: no emit after this but the one the caller of detach makes. */
static struct call *detach(struct up_call *uc)
{
    struct call *c = uc->call;
    uc->call = NULL;
    c->impl = NULL;
    if (uc->probe) {
        breaker_release(&uc->up->breaker);
        uc->probe = false;
    }
    return c;
}

static void stop_transfer(struct up_call *uc)
{
    if (uc->http) {
        http_client_cancel(uc->up->http, uc->http);
        uc->http = NULL;
    }
    if (uc->retry_timer) {
        loop_timer_cancel(uc->up->loop, uc->retry_timer);
        uc->retry_timer = NULL;
    }
}

/* ---- events ---- */

/* A non-final event; afterwards uc->call may be NULL (cancelled from inside emit). */
static void emit(struct up_call *uc, const struct event *ev) { uc->call->emit(uc->call, ev); }

static void fail(struct up_call *uc, int status, const char *type, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

/* The final EV_ERROR: stops the transfer, detaches, emits. */
static void fail(struct up_call *uc, int status, const char *type, const char *fmt, ...)
{
    char msg[ERR_MSG_MAX];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    scrub_key(uc->up, msg);
    if (status >= 500)
        log_warn("tier %s: %s", uc->up->name, msg);
    else
        log_info("tier %s: %s", uc->up->name, msg); /* the client's own error, or a 429 */
    stop_transfer(uc);
    struct call *c = detach(uc);
    struct event ev = {.type = EV_ERROR, .status = status, .error_type = type,
                       .error_message = msg};
    c->emit(c, &ev);
}

static void fail_stream(struct up_call *uc, const char *why)
{
    breaker_failure(&uc->up->breaker, now_ms(uc->up), uc->probe);
    uc->probe = false;
    fail(uc, 502, "server_error", "upstream stream broke: tier %s: %s", uc->up->name, why);
}

/* EV_USAGE (if the upstream sent usage) and EV_FINISH. The transfer may go on (drained). */
static void finish_ok(struct up_call *uc)
{
    breaker_success(&uc->up->breaker, uc->probe);
    uc->probe = false;
    if (uc->has_usage) {
        struct event ev = {.type = EV_USAGE, .prompt_tokens = uc->prompt_tokens,
                           .completion_tokens = uc->completion_tokens};
        emit(uc, &ev);
        if (!uc->call)
            return;
    }
    struct call *c = detach(uc);
    struct event ev = {.type = EV_FINISH, .finish_reason = uc->finish_reason};
    c->emit(c, &ev);
}

static void fill_logprob(struct token_logprob *t, json_t *o)
{
    json_t *tok = json_object_get(o, "token");
    t->token = json_is_string(tok) ? json_string_value(tok) : "";
    t->len = json_is_string(tok) ? json_string_length(tok) : 0;
    t->logprob = (float)json_number_value(json_object_get(o, "logprob"));
}

/* One EV_DELTA for the text and delta, carrying the first token's logprobs; one more EV_DELTA
 * (no text, no delta) for each further token in logprobs.content. */
static void emit_delta(struct up_call *uc, json_t *text, json_t *delta, json_t *logprobs)
{
    json_t *lp = json_is_object(logprobs) ? json_object_get(logprobs, "content") : NULL;
    size_t n_lp = json_is_array(lp) ? json_array_size(lp) : 0;
    size_t text_len = json_is_string(text) ? json_string_length(text) : 0;
    if (!json_is_object(delta) || json_object_size(delta) == 0)
        delta = NULL;
    if (text_len == 0 && !delta && n_lp == 0)
        return;
    for (size_t i = 0; i == 0 || i < n_lp; i++) {
        struct event ev = {.type = EV_DELTA};
        if (i == 0) {
            ev.text = text_len ? json_string_value(text) : NULL;
            ev.len = text_len;
            ev.delta = delta;
        }
        struct token_logprob sampled, top[MAX_TOP_LOGPROBS];
        if (i < n_lp) {
            json_t *entry = json_array_get(lp, i);
            fill_logprob(&sampled, entry);
            ev.logprob = &sampled;
            json_t *alts = json_object_get(entry, "top_logprobs");
            size_t n_top = json_is_array(alts) ? json_array_size(alts) : 0;
            for (size_t k = 0; k < n_top && k < MAX_TOP_LOGPROBS; k++)
                fill_logprob(&top[k], json_array_get(alts, k));
            ev.top = top;
            ev.n_top = (int)(n_top < MAX_TOP_LOGPROBS ? n_top : MAX_TOP_LOGPROBS);
        }
        emit(uc, &ev);
        if (!uc->call)
            return;
    }
}

static json_t *first_choice(json_t *j)
{
    json_t *choices = json_object_get(j, "choices");
    size_t i;
    json_t *ch;
    json_array_foreach(choices, i, ch)
    {
        json_t *idx = json_object_get(ch, "index");
        if (json_is_object(ch) && (idx ? json_integer_value(idx) == 0 : i == 0))
            return ch;
    }
    return NULL;
}

static void take_usage(struct up_call *uc, json_t *j)
{
    json_t *u = json_object_get(j, "usage");
    if (!json_is_object(u))
        return;
    uc->has_usage = true;
    uc->prompt_tokens = json_integer_value(json_object_get(u, "prompt_tokens"));
    uc->completion_tokens = json_integer_value(json_object_get(u, "completion_tokens"));
}

static void take_finish(struct up_call *uc, json_t *choice)
{
    json_t *fr = json_object_get(choice, "finish_reason");
    if (json_is_string(fr)) {
        free(uc->finish_reason);
        uc->finish_reason = xstrdup(json_string_value(fr));
    }
}

/* The message of an OpenAI error object ({"error": {"message", "type"}} or {"error": "..."});
 * *type gets its type if it has one. Borrowed from j. */
static const char *error_message(json_t *j, const char **type)
{
    json_t *er = json_object_get(j, "error");
    if (json_is_string(er))
        return json_string_value(er);
    if (json_is_object(er)) {
        json_t *t = json_object_get(er, "type");
        if (type && json_is_string(t))
            *type = json_string_value(t);
        json_t *m = json_object_get(er, "message");
        return json_is_string(m) ? json_string_value(m) : "(no message)";
    }
    json_t *m = json_object_get(j, "message");
    if (!json_is_string(m))
        m = json_object_get(j, "detail");
    return json_is_string(m) ? json_string_value(m) : NULL;
}

/* ---- the stream ---- */

static int on_sse_event(void *arg, const struct sse_event *ev)
{
    struct up_call *uc = arg;
    size_t n = ev->data_len;
    const char *d = ev->data;
    while (n && (d[n - 1] == ' ' || d[n - 1] == '\t'))
        n--;
    if (n == 6 && memcmp(d, "[DONE]", 6) == 0) {
        uc->saw_done = true;
        return 1;
    }
    json_error_t je;
    json_t *j = json_loadb(d, n, 0, &je);
    if (!json_is_object(j)) {
        snprintf(uc->broke, sizeof uc->broke, "malformed JSON in an SSE event: %s",
                 j ? "not an object" : je.text);
        json_decref(j);
        return 1;
    }
    const char *msg = error_message(j, NULL);
    json_t *er = json_object_get(j, "error");
    if ((er && !json_is_null(er)) || strcmp(ev->type, "error") == 0) {
        snprintf(uc->broke, sizeof uc->broke, "the upstream reported an error: %s",
                 msg ? msg : "(no message)");
        json_decref(j);
        return 1;
    }
    take_usage(uc, j);
    json_t *choice = first_choice(j);
    if (choice) {
        if (uc->chat) {
            json_t *delta = json_object_get(choice, "delta");
            emit_delta(uc, json_object_get(delta, "content"), delta,
                       json_object_get(choice, "logprobs"));
        } else {
            emit_delta(uc, json_object_get(choice, "text"), NULL, NULL);
        }
        if (uc->call)
            take_finish(uc, choice);
    }
    json_decref(j);
    return uc->call ? 0 : 1;
}

/* A whole non-stream answer, as the same events a stream would give. */
static void handle_json_answer(struct up_call *uc)
{
    json_error_t je;
    json_t *j = json_loadb(uc->raw.data ? uc->raw.data : "", uc->raw.len, 0, &je);
    if (!json_is_object(j)) {
        json_decref(j);
        fail_stream(uc, j ? "the JSON answer is not an object" : "the JSON answer is malformed");
        return;
    }
    json_t *choice = first_choice(j);
    json_t *er = json_object_get(j, "error");
    if ((er && !json_is_null(er)) || !choice) {
        const char *msg = error_message(j, NULL);
        char why[300];
        snprintf(why, sizeof why, "the upstream answered without choices: %s",
                 msg ? msg : "(no message)");
        fail_stream(uc, why);
        json_decref(j);
        return;
    }
    take_usage(uc, j);
    take_finish(uc, choice);
    if (uc->chat) {
        /* the message as a delta: tool calls get the "index" stream deltas carry */
        json_t *delta = json_copy(json_object_get(choice, "message"));
        json_t *calls = json_object_get(delta, "tool_calls");
        if (json_is_array(calls)) {
            json_t *copy = json_deep_copy(calls);
            size_t i;
            json_t *tc;
            json_array_foreach(copy, i, tc)
            {
                if (json_is_object(tc) && !json_object_get(tc, "index"))
                    json_object_set_new(tc, "index", json_integer((json_int_t)i));
            }
            json_object_set_new(delta, "tool_calls", copy);
        }
        emit_delta(uc, json_object_get(delta, "content"), delta,
                   json_object_get(choice, "logprobs"));
        json_decref(delta);
    } else {
        emit_delta(uc, json_object_get(choice, "text"), NULL, NULL);
    }
    json_decref(j);
    if (!uc->call)
        return;
    if (!uc->finish_reason)
        fail_stream(uc, "the answer has no finish_reason");
    else
        finish_ok(uc);
}

/* ---- attempts ---- */

static int attempt_start(struct up_call *uc, struct err *e);

static void on_retry(struct loop *l, void *arg)
{
    (void)l;
    struct up_call *uc = arg;
    uc->retry_timer = NULL;
    uc->depth++;
    struct err e;
    if (uc->call && attempt_start(uc, &e) != 0)
        fail(uc, 502, "server_error", "upstream error: tier %s: %s", uc->up->name, e.msg);
    uc->depth--;
    maybe_free(uc);
}

static uint64_t backoff_ms(struct up *up, int n_attempts)
{
    uint64_t d = BACKOFF_BASE_MS;
    for (int i = 1; i < n_attempts && d < BACKOFF_MAX_MS; i++)
        d *= 2;
    if (d > BACKOFF_MAX_MS)
        d = BACKOFF_MAX_MS;
    up->rng ^= up->rng << 13, up->rng ^= up->rng >> 7, up->rng ^= up->rng << 17;
    return d / 2 + up->rng % (d / 2 + 1); /* "equal jitter": half fixed, half random */
}

/* An attempt failed before any body: retry if allowed (delay_ms < 0: backoff), else the final
 * EV_ERROR with this status and message. */
static void attempt_failed(struct up_call *uc, bool retryable, int64_t delay_ms, int status,
                           const char *type, const char *msg)
{
    struct up *up = uc->up;
    breaker_failure(&up->breaker, now_ms(up), uc->probe);
    uc->probe = false;
    bool probe = false;
    if (retryable && uc->n_attempts <= up->retries &&
        breaker_admit(&up->breaker, now_ms(up), &probe)) {
        uc->probe = probe;
        uint64_t d = delay_ms >= 0 ? (uint64_t)delay_ms : backoff_ms(up, uc->n_attempts);
        log_info("tier %s: attempt %d failed (%s); retrying in %llu ms", up->name, uc->n_attempts,
                 msg, (unsigned long long)d);
        uc->retry_timer = loop_timer_add(up->loop, d, on_retry, uc);
        return;
    }
    if (retryable && uc->n_attempts <= up->retries)
        fail(uc, status, type, "%s (circuit breaker open: no more retries)", msg);
    else
        fail(uc, status, type, "%s", msg);
}

/* The upstream answered a non-2xx status with this body. */
static void handle_error_status(struct up_call *uc)
{
    struct up *up = uc->up;
    int st = uc->status;
    json_t *j = json_loadb(uc->raw.data ? uc->raw.data : "", uc->raw.len, 0, NULL);
    const char *type = NULL;
    const char *upmsg = j ? error_message(j, &type) : NULL;
    char msg[ERR_MSG_MAX];
    bool wait_ok = uc->retry_after_ms <= RETRY_AFTER_MAX_MS; /* -1: no Retry-After, back off */
    if (st == 429) {
        snprintf(msg, sizeof msg, "%s", upmsg ? upmsg : "upstream rate limit (HTTP 429)");
        attempt_failed(uc, wait_ok, uc->retry_after_ms, 429, type ? type : "rate_limit_error",
                       msg);
    } else if (st >= 500) {
        if (upmsg) {
            snprintf(msg, sizeof msg, "%s", upmsg);
            scrub_key(up, msg);
            log_info("tier %s: HTTP %d: %s", up->name, st, msg);
        }
        snprintf(msg, sizeof msg, "upstream error: tier %s answered HTTP %d", up->name, st);
        attempt_failed(uc, wait_ok, uc->retry_after_ms, 502, "server_error", msg);
    } else if (st == 401 || st == 403) {
        /* baton's credentials, not the client's: the client gets no 401 it cannot fix */
        breaker_failure(&up->breaker, now_ms(up), uc->probe);
        uc->probe = false;
        fail(uc, 502, "server_error",
             "upstream error: tier %s refused baton's credentials (HTTP %d); check api_key_env",
             up->name, st);
    } else if (st == 404) {
        /* the path and model are the tier's configuration, not the client's request */
        breaker_failure(&up->breaker, now_ms(up), uc->probe);
        uc->probe = false;
        fail(uc, 502, "server_error", "upstream error: tier %s answered HTTP 404: %s", up->name,
             upmsg ? upmsg : "not found (check base_url and model)");
    } else if (st >= 400) {
        breaker_success(&up->breaker, uc->probe); /* the upstream is fine; the request is not */
        uc->probe = false;
        if (upmsg)
            fail(uc, st, type ? type : "invalid_request_error", "%s", upmsg);
        else
            fail(uc, st, "invalid_request_error", "upstream rejected the request (HTTP %d)", st);
    } else {
        breaker_failure(&up->breaker, now_ms(up), uc->probe);
        uc->probe = false;
        fail(uc, 502, "server_error", "upstream error: tier %s answered HTTP %d", up->name, st);
    }
    json_decref(j);
}

static void handle_transport_error(struct up_call *uc, const struct http_done *d)
{
    struct up *up = uc->up;
    char msg[ERR_MSG_MAX];
    if (uc->got_body) {
        snprintf(msg, sizeof msg, "%s (%s)",
                 d->result == HTTP_ERR_IDLE_TIMEOUT ? "idle timeout" : "connection lost",
                 d->message);
        fail_stream(uc, msg);
        return;
    }
    switch (d->result) {
    case HTTP_ERR_CONNECT:
        snprintf(msg, sizeof msg, "upstream unreachable: tier %s: %s", up->name, d->message);
        attempt_failed(uc, true, -1, 502, "server_error", msg);
        break;
    case HTTP_ERR_CONNECT_TIMEOUT:
        snprintf(msg, sizeof msg, "upstream timeout: tier %s: no connection within %lld ms",
                 up->name, (long long)up->connect_ms);
        attempt_failed(uc, true, -1, 504, "timeout_error", msg);
        break;
    case HTTP_ERR_FIRST_BYTE_TIMEOUT:
    case HTTP_ERR_IDLE_TIMEOUT:
    case HTTP_ERR_TOTAL_TIMEOUT:
        /* the upstream may still be working on it: a retry could pay twice */
        snprintf(msg, sizeof msg, "upstream timeout: tier %s: %s", up->name, d->message);
        attempt_failed(uc, false, -1, 504, "timeout_error", msg);
        break;
    case HTTP_ERR_TRANSFER:
        snprintf(msg, sizeof msg, "upstream error: tier %s: connection lost before an answer: %s",
                 up->name, d->message);
        attempt_failed(uc, uc->status == 0 || uc->status == 429 || uc->status >= 500, -1, 502,
                       "server_error", msg);
        break;
    default:
        snprintf(msg, sizeof msg, "upstream error: tier %s: %s", up->name, d->message);
        attempt_failed(uc, false, -1, 502, "server_error", msg);
        break;
    }
}

/* ---- http callbacks ---- */

static void on_response(void *arg, int status, const struct http_client_header *h, size_t n)
{
    struct up_call *uc = arg;
    uc->status = status;
    if (status < 200 || status >= 300) {
        uc->mode = MODE_ERROR;
        uc->retry_after_ms = http_client_retry_after_ms(h, n);
        return;
    }
    const char *ct = http_client_header_find(h, n, "content-type");
    if (ct && strncasecmp(ct, "text/event-stream", 17) == 0)
        uc->mode = MODE_SSE;
    else if (ct && strncasecmp(ct, "application/json", 16) == 0)
        uc->mode = MODE_JSON;
}

static void feed_sse(struct up_call *uc, const char *data, size_t len)
{
    if (!uc->sse)
        uc->sse = sse_new(SSE_MAX_EVENT_BYTES, on_sse_event, uc);
    struct err e;
    int r = sse_feed(uc->sse, data, len, &e);
    if (!uc->call)
        return; /* cancelled from inside an emit */
    if (r < 0)
        fail_stream(uc, e.msg);
    else if (uc->broke[0])
        fail_stream(uc, uc->broke);
    else if (uc->saw_done && !uc->finish_reason)
        fail_stream(uc, "[DONE] without a finish_reason");
    else if (uc->saw_done)
        finish_ok(uc);
}

static void on_body(void *arg, const char *data, size_t len)
{
    struct up_call *uc = arg;
    if (!uc->call)
        return; /* detached: draining the connection after [DONE] */
    if (uc->mode == MODE_ERROR) {
        size_t room = ERROR_BODY_MAX_BYTES - uc->raw.len;
        buf_append(&uc->raw, data, len < room ? len : room);
        return;
    }
    if (uc->mode == MODE_SNIFF) { /* no telling content type: a JSON answer starts with '{' */
        size_t i = 0;
        while (i < len && (data[i] == ' ' || data[i] == '\r' || data[i] == '\n' || data[i] == '\t'))
            i++;
        if (i == len)
            return;
        uc->mode = data[i] == '{' ? MODE_JSON : MODE_SSE;
    }
    uc->got_body = true;
    uc->depth++;
    if (uc->mode == MODE_SSE) {
        feed_sse(uc, data, len);
    } else if (uc->raw.len + len > JSON_MAX_BYTES) {
        char why[100];
        snprintf(why, sizeof why, "the JSON answer is over %u bytes", JSON_MAX_BYTES);
        fail_stream(uc, why);
    } else {
        buf_append(&uc->raw, data, len);
    }
    uc->depth--;
    maybe_free(uc);
}

static void empty_answer(struct up_call *uc)
{
    char msg[ERR_MSG_MAX];
    snprintf(msg, sizeof msg, "upstream error: tier %s answered HTTP %d with an empty body",
             uc->up->name, uc->status);
    attempt_failed(uc, true, -1, 502, "server_error", msg);
}

static void on_done(void *arg, const struct http_done *d)
{
    struct up_call *uc = arg;
    uc->http = NULL;
    if (!uc->call) {
        maybe_free(uc); /* a drained connection after the final event */
        return;
    }
    uc->depth++;
    if (d->result != HTTP_OK)
        handle_transport_error(uc, d);
    else if (uc->mode == MODE_ERROR)
        handle_error_status(uc);
    else if (uc->mode == MODE_JSON)
        handle_json_answer(uc);
    else if (uc->got_body)
        fail_stream(uc, "the stream ended without [DONE]");
    else
        empty_answer(uc);
    uc->depth--;
    maybe_free(uc);
}

static int attempt_start(struct up_call *uc, struct err *e)
{
    struct up *up = uc->up;
    attempt_reset(uc);
    const char *headers[4] = {"Content-Type: application/json",
                              "Accept: text/event-stream, application/json", "Expect:"};
    size_t n_headers = 3;
    if (up->auth)
        headers[n_headers++] = up->auth;
    struct http_client_request r = {
        .method = "POST",
        .url = uc->chat ? up->url_chat : up->url_completion,
        .headers = headers,
        .n_headers = n_headers,
        .body = uc->body,
        .body_len = strlen(uc->body),
        .connect_timeout_ms = up->connect_ms,
        .first_byte_timeout_ms = up->first_byte_ms,
        .idle_timeout_ms = up->idle_ms,
        .on_response = on_response,
        .on_body = on_body,
        .on_done = on_done,
        .arg = uc,
    };
    uc->http = http_client_start(up->http, &r, e);
    if (!uc->http)
        return -1;
    uc->n_attempts++;
    return 0;
}

/* ---- the upstream request body ---- */

/* For requests that came without a JSON body (another dialect): the fields baton models. */
static json_t *body_from_request(const struct request *req)
{
    json_t *o = json_object();
    if (req->dialect == DIALECT_OPENAI_COMPLETION) {
        json_object_set_new(o, "prompt", json_string(req->prompt ? req->prompt : ""));
    } else {
        json_t *msgs = json_array();
        for (size_t i = 0; i < req->n_messages; i++) {
            const struct message *m = &req->messages[i];
            json_t *jm = json_object();
            json_object_set_new(jm, "role", json_string(role_name(m->role)));
            json_object_set_new(jm, "content", json_string(m->content ? m->content : ""));
            if (m->name)
                json_object_set_new(jm, "name", json_string(m->name));
            if (m->tool_call_id)
                json_object_set_new(jm, "tool_call_id", json_string(m->tool_call_id));
            if (m->tool_calls)
                json_object_set(jm, "tool_calls", m->tool_calls);
            json_array_append_new(msgs, jm);
        }
        json_object_set_new(o, "messages", msgs);
    }
    if (req->has_temperature)
        json_object_set_new(o, "temperature", json_real(req->temperature));
    if (req->has_top_p)
        json_object_set_new(o, "top_p", json_real(req->top_p));
    if (req->has_seed)
        json_object_set_new(o, "seed", json_integer(req->seed));
    if (req->n_stop) {
        json_t *stop = json_array();
        for (size_t i = 0; i < req->n_stop; i++)
            json_array_append_new(stop, json_string(req->stop[i]));
        json_object_set_new(o, "stop", stop);
    }
    if (req->logprobs) {
        json_object_set_new(o, "logprobs", json_true());
        if (req->top_logprobs > 0)
            json_object_set_new(o, "top_logprobs", json_integer(req->top_logprobs));
    }
    if (req->user)
        json_object_set_new(o, "user", json_string(req->user));
    if (req->max_tokens >= 0)
        json_object_set_new(o, "max_tokens", json_integer(req->max_tokens));
    return o;
}

static char *build_body(const struct up *up, const struct request *req)
{
    json_t *o = json_is_object(req->body) ? json_copy(req->body) : body_from_request(req);
    json_object_set_new(o, "model", json_string(up->model));
    if (!json_is_integer(json_object_get(o, "max_tokens")) &&
        !json_is_integer(json_object_get(o, "max_completion_tokens"))) {
        json_object_del(o, "max_completion_tokens"); /* null */
        json_object_set_new(o, "max_tokens",
                            json_integer(req->max_tokens >= 0 ? req->max_tokens
                                                              : up->max_tokens_default));
    }
    /* A streaming client gets a stream with usage at the end; a non-streaming one a plain JSON
     * answer (which carries usage anyway): one parse instead of one per chunk, which is most of
     * what a gateway hop costs when the upstream is fast. */
    if (req->stream) {
        json_object_set_new(o, "stream", json_true());
        json_t *so = json_object_get(o, "stream_options");
        so = json_is_object(so) ? json_copy(so) : json_object();
        json_object_set_new(so, "include_usage", json_true());
        json_object_set_new(o, "stream_options", so);
    } else {
        json_object_set_new(o, "stream", json_false());
        json_object_del(o, "stream_options");
    }
    char *s = json_dumps(o, JSON_COMPACT);
    json_decref(o);
    return s;
}

/* ---- backend_ops ---- */

static enum start_error up_start(struct backend *b, struct call *c, struct err *e)
{
    struct up *up = b->impl;
    bool probe = false;
    if (!breaker_admit(&up->breaker, now_ms(up), &probe)) {
        err_set(e, "tier %s: circuit open after %d consecutive failures; next try in %llu ms",
                up->name, up->breaker.n_failures,
                (unsigned long long)breaker_wait_ms(&up->breaker, now_ms(up)));
        return START_UNAVAILABLE;
    }
    char *body = build_body(up, c->req);
    if (!body) {
        if (probe)
            breaker_release(&up->breaker);
        err_set(e, "tier %s: the request cannot be encoded as JSON", up->name);
        return START_BAD_REQUEST;
    }
    struct up_call *uc = xcalloc(1, sizeof *uc);
    uc->up = up;
    uc->call = c;
    uc->body = body;
    uc->chat = c->req->dialect != DIALECT_OPENAI_COMPLETION;
    uc->probe = probe;
    buf_init(&uc->raw);
    uc->next = up->calls;
    if (up->calls)
        up->calls->prev = uc;
    up->calls = uc;
    c->impl = uc;
    if (attempt_start(uc, e) != 0) {
        detach(uc);
        up_call_free(uc);
        err_prefix(e, "tier %s", up->name);
        return START_UNAVAILABLE;
    }
    return START_OK;
}

static void up_cancel(struct backend *b, struct call *c)
{
    (void)b;
    struct up_call *uc = c->impl;
    if (!uc)
        return;
    stop_transfer(uc);
    detach(uc);
    maybe_free(uc);
}

static bool up_healthy(struct backend *b)
{
    struct up *up = b->impl;
    return breaker_healthy(&up->breaker, now_ms(up));
}

static void up_free(struct backend *b)
{
    struct up *up = b->impl;
    while (up->calls) {
        struct up_call *uc = up->calls;
        stop_transfer(uc);
        if (uc->call)
            detach(uc);
        up_call_free(uc);
    }
    http_client_free(up->http);
    if (up->auth)
        explicit_bzero(up->auth, strlen(up->auth));
    free(up->auth);
    free(up->name);
    free(up->url_chat);
    free(up->url_completion);
    free(up->model);
    free(up);
}

static const struct backend_ops up_ops = {
    .kind = "openai",
    .start = up_start,
    .cancel = up_cancel,
    .healthy = up_healthy,
    .free = up_free,
};

struct backend *openai_up_new(struct loop *l, const struct tier_config *t, struct err *e)
{
    const char *name = t->name ? t->name : "(unnamed)";
    if (t->kind != TIER_OPENAI) {
        err_set(e, "tier %s: not of kind openai", name);
        return NULL;
    }
    if (!t->base_url || !*t->base_url) {
        err_set(e, "tier %s: base_url is required for kind openai", name);
        return NULL;
    }
    const char *key = NULL;
    if (t->api_key_env && *t->api_key_env) {
        key = getenv(t->api_key_env);
        if (!key || !*key) {
            err_set(e, "tier %s: environment variable %s (api_key_env) is not set", name,
                    t->api_key_env);
            return NULL;
        }
    }
    struct up *up = xcalloc(1, sizeof *up);
    up->http = http_client_new(l, e);
    if (!up->http) {
        free(up);
        err_prefix(e, "tier %s", name);
        return NULL;
    }
    up->loop = l;
    up->name = xstrdup(name);
    size_t n = strlen(t->base_url);
    while (n && t->base_url[n - 1] == '/')
        n--;
    struct buf u;
    buf_init(&u);
    buf_printf(&u, "%.*s/chat/completions", (int)n, t->base_url);
    up->url_chat = buf_detach(&u);
    buf_printf(&u, "%.*s/completions", (int)n, t->base_url);
    up->url_completion = buf_detach(&u);
    up->model = xstrdup(t->upstream_model && *t->upstream_model ? t->upstream_model : name);
    if (key) {
        static const char prefix[] = "Authorization: Bearer ";
        buf_puts(&u, prefix);
        buf_puts(&u, key);
        up->auth = buf_detach(&u);
        up->key_off = sizeof prefix - 1;
    }
    up->connect_ms = t->connect_timeout_ms > 0 ? t->connect_timeout_ms : 0;
    up->first_byte_ms = t->first_byte_timeout_ms > 0 ? t->first_byte_timeout_ms : 0;
    up->idle_ms = t->idle_timeout_ms > 0 ? t->idle_timeout_ms : 0;
    up->retries = t->retries > 0 ? t->retries : 0;
    up->max_tokens_default = t->max_tokens_default > 0 ? t->max_tokens_default : 512;
    breaker_init(&up->breaker, t->breaker_failures, t->breaker_open_ms);
    up->rng = (uint64_t)(uintptr_t)up ^ (loop_now_ms(l) * 0x9E3779B97F4A7C15ull) ^ 1;
    up->b.ops = &up_ops;
    up->b.name = up->name;
    up->b.loop = l;
    up->b.impl = up;
    return &up->b;
}
