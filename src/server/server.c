/* server: request handling for `baton serve` (see server.h).
 *
 * One `struct exchange` per request, alive from the handler until the response is complete or
 * the client is gone. State machine:
 *
 *   handler -> parse -> route -> try_tier(i) --START_OK--> events...
 *                                    | START_UNAVAILABLE / BUSY (more tiers) -> try_tier(i+1)
 *                                    | START_BAD_REQUEST -> 400;  no tier left -> 503 / 502
 *   events: EV_DELTA   stream: first one sends the headers, each one an SSE chunk
 *                      non-stream: accumulated
 *           EV_ERROR   nothing sent yet and retryable (429, 5xx, timeout) -> try_tier(i+1)
 *                      stream already started -> an explicit SSE error event, no [DONE]
 *           EV_FINISH  final chunk / JSON body, ledger row, metrics, exchange freed
 *   client gone (on_close) -> backend_cancel, ledger row with status 499, exchange freed
 *
 * Before the handler parses anything it refuses with 503: when the ledger's or the audit trail's
 * database is down and postgres.on_unavailable is closed (stores_down), and in either mode when
 * their pending rows have reached the high-water mark (stores_have_room), so that every request
 * served has its ledger row and audit record.
 *
 * Everything runs on the loop thread.
 */
#include "server/server.h"

#include "api/dialect.h"
#include "api/ollama.h"
#include "api/openai.h"
#include "backend/backend.h"
#include "backend/local.h"
#include "backend/openai_up.h"
#include "base/alloc.h"
#include "base/buf.h"
#include "base/log.h"
#include "gateway/audit.h"
#include "gateway/keys.h"
#include "gateway/ledger.h"
#include "gateway/pg.h"
#include "gateway/limits.h"
#include "gateway/metrics.h"
#include "gateway/policy.h"
#include "gateway/privacy.h"
#include "gateway/route.h"
#include "gateway/shared.h"
#include "net/http_server.h"
#include "net/loop.h"

#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <sys/time.h>

struct server {
    const struct config *cfg;
    struct loop *loop;
    struct http_server *http;
    struct router *router;
    struct ledger *ledger;
    struct metrics *metrics;
    struct backend **backends; /* parallel to cfg->tiers */
    struct keystore *keys;     /* NULL: keys off */
    struct limits *limits;     /* budgets and rate limits of keys (with keys) */
    struct privacy *privacy;   /* NULL: no route has a privacy policy */
    struct audit *audit;       /* NULL: no audit trail */
    struct shared *shared;     /* NULL: limits are this instance's own (no redis: section) */
    struct privacy *audit_mask; /* masks content stored in the trail (audit_content) */
    size_t n_unrecorded;       /* exchanges whose ledger row and audit record are still to come:
                                  each holds a row below the stores' hard caps (stores_have_room) */
    bool said_rowless;         /* logged that refusals go unrecorded; reset when there is room */
};

/* The restorer of one tool call's arguments. */
struct call_restorer {
    json_int_t index; /* the call's "index" in the stream's tool_calls deltas */
    struct mask_stream st;
};

struct exchange {
    struct server *srv;
    struct http_conn *conn;
    struct request *req;
    struct route_decision dec;
    size_t tier_idx;
    const struct tier_config *tier;
    struct backend *backend;
    struct call call;
    bool call_active;
    const struct api_dialect *api; /* the caller's dialect: parse, encode, errors */
    struct api_resp *resp;     /* the answer being encoded (per tier tried), or NULL */
    bool stream_started;
    bool finished;
    int64_t prompt_tokens, completion_tokens;
    int64_t cost_microusd;
    uint64_t t_start_ms, t_first_ms;
    int64_t wall_ms;
    char peer[KEY_NAME_MAX + 1]; /* the caller: key name or client address */
    char last_error[ERR_MSG_MAX + 64];
    int last_status;
    bool has_key;              /* keys on and the caller's key valid */
    struct key_info key;
    bool admitted;             /* limits_admit said yes: settle once, in record() */
    struct limit_ticket ticket; /* what admission reserved */
    struct policy_findings findings; /* what the privacy detector found */
    enum privacy_policy policy;      /* the policy that acted (NONE: none did) */
    struct mask *mask;         /* policy mask: placeholders <-> values */
    bool masked;               /* the request's text has been masked (a remote tier was tried) */
    size_t n_masked;           /* spans masked */
    /* policy mask, restoring the answer: one stream for the text and one per tool call (by its
     * "index"), as a model may interleave calls; reset when a tier is given up for the next */
    struct mask_stream text_restorer;
    struct call_restorer *call_restorers;
    size_t n_call_restorers;
    char request_sha256[65];   /* of the request's text as received ("" before parsing) */
    struct buf answer;         /* with an audit trail: the answer's text, as the client got it */
    bool owes_row;             /* counted in srv->n_unrecorded until record() */
    bool rowless;              /* a refusal that would take a row a request in flight needs: not
                                  in the ledger or the audit trail (stores_have_room) */
};

static int64_t wall_now_ms(void)
{
    struct timeval tv;
    gettimeofday(&tv, NULL);
    return (int64_t)tv.tv_sec * 1000 + tv.tv_usec / 1000;
}

static struct backend *backend_for(struct server *s, const char *tier, const struct tier_config **tc)
{
    for (size_t i = 0; i < s->cfg->n_tiers; i++)
        if (strcmp(s->cfg->tiers[i].name, tier) == 0) {
            *tc = &s->cfg->tiers[i];
            return s->backends[i];
        }
    return NULL;
}

/* ---------------------------------------------------------------------------------------------
 * Answers */

/* Header value safe to send: printable ASCII, no CR/LF. */
static void header_safe(char *dst, size_t cap, const char *src)
{
    size_t n = 0;
    for (; *src && n + 1 < cap; src++)
        dst[n++] = (*src >= 0x20 && *src < 0x7f) ? *src : ' ';
    dst[n] = 0;
}

static void respond_error(struct http_conn *c, const struct api_error *e)
{
    struct buf b;
    buf_init(&b);
    api_error_json(e, &b);
    http_respond(c, e->status, "application/json", NULL, b.data, b.len);
    buf_free(&b);
}

static void respond_json(struct http_conn *c, int status, const char *json)
{
    http_respond(c, status, "application/json", NULL, json, strlen(json));
}

/* The x-baton-* headers of an exchange into hdrs (NULL-terminated), storage in store. */
static void baton_headers(const struct exchange *x, char store[4][320], const char *hdrs[5],
                          bool with_cost)
{
    char reason[256];
    header_safe(reason, sizeof reason, x->dec.reason);
    int n = 0;
    snprintf(store[0], sizeof store[0], "x-baton-tier: %s", x->tier ? x->tier->name : "none");
    hdrs[n++] = store[0];
    snprintf(store[1], sizeof store[1], "x-baton-route-reason: %s", reason);
    hdrs[n++] = store[1];
    snprintf(store[2], sizeof store[2], "x-request-id: %s", x->req ? x->req->id : "-");
    hdrs[n++] = store[2];
    if (with_cost) {
        snprintf(store[3], sizeof store[3], "x-baton-cost-usd: %" PRId64 ".%06" PRId64,
                 x->cost_microusd / 1000000, x->cost_microusd % 1000000);
        hdrs[n++] = store[3];
    }
    hdrs[n] = NULL;
}

/* An error answer for an exchange: with the x-baton-* headers (cost 0: nothing was generated
 * for the client), then recorded and freed. */
static void record(struct exchange *x, int status, const char *error);
static void exchange_free(struct exchange *x);

/* The 401 for a revoked key or a retired public id (rotated away), as admission gives it. */
static int key_refusal(struct api_error *ae, enum limit_verdict v)
{
    return api_error_set(ae, 401, "invalid_request_error", NULL, "invalid_api_key", "%s",
                         v == LIMIT_REVOKED ? "The API key has been revoked."
                                            : "Incorrect API key provided.");
}

/* A keyed request refused before admission (400, 403, 404, ...) on an instance whose limits are
 * shared: when its key is revoked, or its public id retired by a rotation this instance's store
 * missed, the refusal becomes admission's 401, so that an old secret learns nothing from how its
 * request was wrong. One Redis round trip, on such refusals only; when Redis cannot be asked, the
 * refusal stands. */
static bool refused_key(struct exchange *x, const struct api_error *e, struct api_error *out)
{
    if (!x->has_key || x->admitted || !x->srv->shared || e->status < 400 || e->status >= 500 ||
        e->status == 401 || e->status == 429)
        return false;
    struct err err;
    enum limit_verdict v = shared_key_state(x->srv->shared, &x->key, &err);
    if (v != LIMIT_REVOKED && v != LIMIT_RETIRED)
        return false;
    key_refusal(out, v);
    return true;
}

static void fail_exchange(struct exchange *x, const struct api_error *e, const char *retry_after)
{
    struct api_error refused;
    if (refused_key(x, e, &refused)) {
        e = &refused;
        retry_after = NULL;
    }
    struct buf b;
    buf_init(&b);
    x->api->error_json(e, &b);
    char store[4][320], ra[48];
    const char *hdrs[6];
    baton_headers(x, store, hdrs, true);
    size_t n = 0;
    while (hdrs[n])
        n++;
    if (retry_after) {
        snprintf(ra, sizeof ra, "Retry-After: %s", retry_after);
        hdrs[n++] = ra;
        hdrs[n] = NULL;
    }
    x->finished = true;
    /* recorded (and journaled) before a byte of the answer leaves: a client that got an answer
     * has its ledger row even if the process is killed right after */
    record(x, e->status, e->message);
    http_respond(x->conn, e->status, "application/json", hdrs, b.data, b.len);
    buf_free(&b);
    exchange_free(x);
}

/* ---------------------------------------------------------------------------------------------
 * Accounting */

/* The audit record of a finished exchange: content-free (hashes) unless audit_content, and then
 * masked with every built-in kind whatever the route's policy. */
static void record_audit(struct exchange *x, int status, const char *error)
{
    struct server *s = x->srv;
    char kinds[160] = "", resp_sha[65];
    if (x->findings.kinds && s->privacy)
        policy_kinds_str(s->privacy, x->findings.kinds, kinds, sizeof kinds);
    audit_sha256_hex(x->answer.data ? x->answer.data : "", x->answer.len, resp_sha);
    struct buf req_text, ans_text;
    buf_init(&req_text);
    buf_init(&ans_text);
    if (s->audit_mask && x->req) {
        struct mask *m = mask_new();
        char *t = request_text(x->req);
        mask_text(s->audit_mask, m, t, strlen(t), &req_text);
        free(t);
        mask_text(s->audit_mask, m, x->answer.data ? x->answer.data : "", x->answer.len,
                  &ans_text);
        buf_append(&req_text, "", 1);
        buf_append(&ans_text, "", 1);
        mask_free(m);
    }
    struct audit_record r = {
        .ts_ms = x->wall_ms,
        .request_id = x->req ? x->req->id : NULL,
        .caller = x->peer,
        .route = x->dec.route,
        .tier = x->tier ? x->tier->name : "none",
        .reason = x->dec.reason,
        .policy = policy_name(x->policy),
        .kinds = kinds,
        .masked = (int64_t)x->n_masked,
        .tokens_in = x->prompt_tokens,
        .tokens_out = x->completion_tokens,
        .cost_microusd = x->cost_microusd,
        .status = status,
        .error = error,
        .request_sha256 = x->request_sha256[0] ? x->request_sha256 : NULL,
        .response_sha256 = resp_sha,
        .request_text = s->audit_mask && x->req ? req_text.data : NULL,
        .response_text = s->audit_mask && x->req ? ans_text.data : NULL,
    };
    struct err e;
    if (audit_append(s->audit, &r, &e))
        log_error("%s", e.msg);
    buf_free(&req_text);
    buf_free(&ans_text);
}

static void record(struct exchange *x, int status, const char *error)
{
    struct server *s = x->srv;
    uint64_t now = loop_now_ms(s->loop);
    if (x->owes_row) {
        s->n_unrecorded--;
        x->owes_row = false;
    }
    if (x->admitted) {
        limits_settle(s->limits, &x->key, wall_now_ms(), &x->ticket, x->cost_microusd,
                      x->prompt_tokens + x->completion_tokens);
        x->admitted = false;
    }
    int64_t latency = (int64_t)(now - x->t_start_ms);
    int64_t ttft = x->t_first_ms ? (int64_t)(x->t_first_ms - x->t_start_ms) : -1;
    if (s->ledger && !x->rowless) {
        struct ledger_row row = {
            .ts_ms = x->wall_ms,
            .request_id = x->req ? x->req->id : "-",
            .caller = x->peer,
            .route = x->dec.route,
            .tier = x->tier ? x->tier->name : "none",
            .reason = x->dec.reason,
            .tokens_in = x->prompt_tokens,
            .tokens_out = x->completion_tokens,
            .cost_microusd = x->cost_microusd,
            .latency_ms = latency,
            .ttft_ms = ttft,
            .status = status,
            .error = error,
        };
        struct err e;
        if (ledger_append(s->ledger, &row, &e))
            log_error("ledger: %s", e.msg);
    }
    if (s->audit && !x->rowless)
        record_audit(x, status, error);
    struct metrics_request m = {
        .route = x->dec.route,
        .tier = x->tier ? x->tier->name : NULL,
        .status = status,
        .error_kind = !error                ? NULL
                      : status == 499       ? "client_closed"
                      : status == 503       ? "overloaded"
                      : status == 504       ? "timeout"
                      : status == 400       ? "bad_request"
                      : status == 429       ? "rate_limited"
                      : status == 401       ? "unauthorized"
                      : status == 403       ? "forbidden"
                                            : "upstream",
        .tokens_in = x->prompt_tokens,
        .tokens_out = x->completion_tokens,
        .cost_microusd = x->cost_microusd,
        .duration_s = (double)latency / 1000.0,
        .ttft_s = ttft >= 0 ? (double)ttft / 1000.0 : -1.0,
    };
    metrics_record(s->metrics, &m);
}

static void drop_resp(struct exchange *x)
{
    if (x->resp)
        x->api->resp_free(x->resp);
    x->resp = NULL;
}

static void restorers_free(struct exchange *x)
{
    mask_stream_free(&x->text_restorer);
    for (size_t i = 0; i < x->n_call_restorers; i++)
        mask_stream_free(&x->call_restorers[i].st);
    free(x->call_restorers);
    x->call_restorers = NULL;
    x->n_call_restorers = 0;
}

static void exchange_free(struct exchange *x)
{
    if (x->owes_row)
        x->srv->n_unrecorded--;
    if (x->call_active) {
        backend_cancel(x->backend, &x->call);
        x->call_active = false;
    }
    drop_resp(x);
    request_free(x->req);
    mask_free(x->mask);
    restorers_free(x);
    buf_free(&x->answer);
    free(x);
}

static void on_client_close(struct http_conn *c, void *arg)
{
    (void)c;
    struct exchange *x = arg;
    if (!x->finished)
        record(x, 499, "client closed the connection");
    exchange_free(x);
}

/* ---------------------------------------------------------------------------------------------
 * Tiers and events */

static void try_tier(struct exchange *x);

/* The streamed answer's status and headers, before its first bytes. */
static void begin_stream(struct exchange *x)
{
    if (x->stream_started)
        return;
    char store[4][320];
    const char *hdrs[6];
    baton_headers(x, store, hdrs, false);
    hdrs[3] = "Cache-Control: no-cache";
    hdrs[4] = "Trailer: x-baton-cost-usd";
    hdrs[5] = NULL;
    http_stream_begin(x->conn, 200, x->api->stream_type, hdrs);
    x->stream_started = true;
}

static void finish_ok(struct exchange *x)
{
    struct buf out;
    buf_init(&out);
    x->finished = true;
    x->call_active = false;
    if (x->req->stream)
        begin_stream(x); /* an answer without any delta */
    x->api->resp_finish(x->resp, x->cost_microusd, &out);
    char store[4][320];
    const char *hdrs[5];
    baton_headers(x, store, hdrs, true);
    record(x, 200, NULL); /* before the answer completes (see fail_exchange) */
    if (x->req->stream) {
        http_stream_write(x->conn, out.data, out.len);
        http_stream_end_trailers(x->conn, hdrs + 3); /* the cost, known only now */
    } else {
        http_respond(x->conn, 200, "application/json", hdrs, out.data, out.len);
    }
    buf_free(&out);
    exchange_free(x);
}

/* The restorer of tool call `index`, made on first sight; NULL past OPENAI_MAX_TOOL_CALLS (the
 * calls the dialects keep). */
static struct mask_stream *call_restorer(struct exchange *x, json_int_t index)
{
    for (size_t i = 0; i < x->n_call_restorers; i++)
        if (x->call_restorers[i].index == index)
            return &x->call_restorers[i].st;
    if (x->n_call_restorers == OPENAI_MAX_TOOL_CALLS)
        return NULL;
    x->call_restorers =
        xrealloc_array(x->call_restorers, x->n_call_restorers + 1, sizeof *x->call_restorers);
    struct call_restorer *r = &x->call_restorers[x->n_call_restorers++];
    r->index = index;
    mask_stream_init(&r->st);
    return &r->st;
}

/* Restores each tool call's arguments fragment of a tool_calls delta array, in place, through
 * that call's restorer: values go in JSON-escaped, as the arguments are JSON text. */
static void restore_tool_calls(struct exchange *x, json_t *calls)
{
    size_t i;
    json_t *tc;
    json_array_foreach(calls, i, tc) {
        json_t *fn = json_object_get(tc, "function");
        json_t *args = json_object_get(fn, "arguments");
        if (!json_is_string(args))
            continue;
        struct mask_stream *st = call_restorer(x, json_integer_value(json_object_get(tc, "index")));
        if (!st)
            continue;
        struct buf b;
        buf_init(&b);
        mask_restore(x->mask, st, MASK_JSON, json_string_value(args), json_string_length(args), &b);
        json_t *restored = json_stringn(b.data ? b.data : "", b.len);
        if (restored)
            json_object_set_new(fn, "arguments", restored);
        buf_free(&b);
    }
}

/* A masked request's EV_DELTA with the placeholders put back, encoded into out: the text (and
 * the delta's content, the same text) through the text restorer, tool calls' arguments through
 * theirs. What is held back goes out with a later delta or with restore_flush. x->answer gets
 * the restored text, as the client gets it. */
static void restore_event(struct exchange *x, const struct event *ev, struct buf *out)
{
    struct buf text;
    buf_init(&text);
    if (ev->text)
        mask_restore(x->mask, &x->text_restorer, MASK_RAW, ev->text, ev->len, &text);
    struct event restored = *ev;
    restored.text = text.data ? text.data : "";
    restored.len = text.len;
    json_t *d = ev->delta ? json_deep_copy(ev->delta) : NULL;
    if (d && json_object_get(d, "content")) {
        json_t *content = text.len ? json_stringn(text.data, text.len) : NULL;
        if (content)
            json_object_set_new(d, "content", content);
        else
            json_object_del(d, "content");
    }
    json_t *calls = d ? json_object_get(d, "tool_calls") : NULL;
    if (json_is_array(calls))
        restore_tool_calls(x, calls);
    if (d && json_object_size(d) == 0) {
        json_decref(d);
        d = NULL;
    }
    restored.delta = d;
    if (x->srv->audit)
        buf_append(&x->answer, restored.text, restored.len);
    if (restored.len || restored.delta)
        x->api->resp_event(x->resp, &restored, out);
    json_decref(d);
    buf_free(&text);
}

/* At the answer's end, before its EV_FINISH: releases what the restorers held back, the text as
 * one more text delta, each tool call's as one more arguments fragment of that call. */
static void restore_flush(struct exchange *x, struct buf *out)
{
    struct buf held;
    buf_init(&held);
    mask_restore_flush(x->mask, &x->text_restorer, MASK_RAW, &held);
    if (held.len) {
        struct event rest = {.type = EV_DELTA, .text = held.data, .len = held.len};
        if (x->srv->audit)
            buf_append(&x->answer, held.data, held.len);
        x->api->resp_event(x->resp, &rest, out);
    }
    for (size_t i = 0; i < x->n_call_restorers; i++) {
        buf_clear(&held);
        mask_restore_flush(x->mask, &x->call_restorers[i].st, MASK_JSON, &held);
        json_t *args = held.len ? json_stringn(held.data, held.len) : NULL;
        if (!args)
            continue;
        json_t *d = json_pack("{s:[{s:I, s:{s:o}}]}", "tool_calls", "index",
                              x->call_restorers[i].index, "function", "arguments", args);
        struct event rest = {.type = EV_DELTA, .delta = d};
        x->api->resp_event(x->resp, &rest, out);
        json_decref(d);
    }
    buf_free(&held);
}

static bool retryable(int status) { return status == 429 || status == 408 || status >= 500; }

static void on_event(struct call *c, const struct event *ev)
{
    struct exchange *x = c->user;
    struct buf out;
    buf_init(&out);
    switch (ev->type) {
    case EV_DELTA:
        if (!x->t_first_ms)
            x->t_first_ms = loop_now_ms(x->srv->loop);
        if (x->req->stream)
            begin_stream(x);
        if (x->masked && (ev->text || ev->delta)) { /* placeholders back to their values */
            restore_event(x, ev, &out);
        } else {
            if (x->srv->audit && ev->text)
                buf_append(&x->answer, ev->text, ev->len);
            x->api->resp_event(x->resp, ev, &out);
        }
        if (out.len)
            http_stream_write(x->conn, out.data, out.len);
        break;
    case EV_USAGE:
        x->prompt_tokens = ev->prompt_tokens;
        x->completion_tokens = ev->completion_tokens;
        x->cost_microusd = ledger_cost_microusd(ev->prompt_tokens, ev->completion_tokens,
                                                x->tier->price_in_microusd,
                                                x->tier->price_out_microusd);
        x->api->resp_event(x->resp, ev, &out);
        break;
    case EV_FINISH:
        if (x->masked) /* what was held back as a possible placeholder */
            restore_flush(x, &out);
        x->api->resp_event(x->resp, ev, &out);
        if (out.len && x->req->stream) {
            begin_stream(x);
            http_stream_write(x->conn, out.data, out.len);
        }
        buf_free(&out);
        finish_ok(x);
        return;
    case EV_ERROR: {
        x->call_active = false;
        snprintf(x->last_error, sizeof x->last_error, "%.48s: %.500s", x->tier->name,
                 ev->error_message ? ev->error_message : "error");
        x->last_status = ev->status ? ev->status : 502;
        if (!x->stream_started && retryable(x->last_status) && x->tier_idx + 1 < x->dec.n_tiers) {
            log_warn("tier %s failed (%s); falling back", x->tier->name, x->last_error);
            drop_resp(x);
            restorers_free(x); /* what this tier's answer held back is not the next one's */
            mask_stream_init(&x->text_restorer);
            buf_clear(&x->answer); /* nor is its text, for the audit record */
            x->tier_idx++;
            buf_free(&out);
            try_tier(x);
            return;
        }
        struct api_error ae;
        api_error_set(&ae, x->last_status, ev->error_type ? ev->error_type : "server_error", NULL,
                      NULL, "%s", x->last_error);
        if (x->stream_started) {
            x->finished = true;
            x->api->stream_error(&ae, &out);
            record(x, 200, x->last_error); /* before the stream ends (see fail_exchange) */
            http_stream_write(x->conn, out.data, out.len);
            http_stream_end(x->conn);
            exchange_free(x);
        } else {
            fail_exchange(x, &ae, NULL);
        }
        buf_free(&out);
        return;
    }
    }
    buf_free(&out);
}

static void mask_before_leaving(struct exchange *x);

static void try_tier(struct exchange *x)
{
    struct server *s = x->srv;
    bool busy = false;
    for (; x->tier_idx < x->dec.n_tiers; x->tier_idx++) {
        const char *name = x->dec.tiers[x->tier_idx];
        struct backend *b = backend_for(s, name, &x->tier);
        if (!b)
            continue;
        if (!backend_healthy(b)) {
            snprintf(x->last_error, sizeof x->last_error, "tier %s is unavailable", name);
            continue;
        }
        if (x->mask && !x->masked && x->tier->kind != TIER_LOCAL)
            mask_before_leaving(x);
        x->resp = x->api->resp_new(x->req, x->tier->name);
        memset(&x->call, 0, sizeof x->call);
        x->call.req = x->req;
        x->call.emit = on_event;
        x->call.user = x;
        x->backend = b;
        struct err e;
        enum start_error rc = backend_start(b, &x->call, &e);
        if (rc == START_OK) {
            x->call_active = true;
            if (x->tier_idx > 0) {
                size_t len = strlen(x->dec.reason);
                snprintf(x->dec.reason + len, sizeof x->dec.reason - len, "; fell back to %s",
                         name);
            }
            return;
        }
        drop_resp(x);
        snprintf(x->last_error, sizeof x->last_error, "%s", e.msg);
        if (rc == START_BAD_REQUEST) {
            struct api_error ae;
            bool own = x->call.error_param != NULL; /* the backend named the parameter */
            api_error_set(&ae, 400, "invalid_request_error",
                          own ? x->call.error_param : "messages",
                          own ? x->call.error_code : "context_length_exceeded", "%s", e.msg);
            fail_exchange(x, &ae, NULL);
            return;
        }
        busy |= rc == START_BUSY;
    }
    struct api_error ae;
    if (busy) {
        api_error_set(&ae, 503, "server_error", NULL, "overloaded", "%s", x->last_error);
        fail_exchange(x, &ae, "1");
    } else {
        api_error_set(&ae, x->last_status ? x->last_status : 503, "server_error", NULL, NULL,
                      "no tier could serve the request: %s", x->last_error);
        fail_exchange(x, &ae, NULL);
    }
}

/* ---------------------------------------------------------------------------------------------
 * Governance: keys (docs/governance.md) */

/* Appends a note to the routing reason, cut to fit. */
static void reason_append(struct route_decision *d, const char *a, const char *b)
{
    size_t len = strlen(d->reason);
    size_t cap = sizeof d->reason;
    for (const char *p = a; *p && len + 1 < cap; p++)
        d->reason[len++] = *p;
    for (const char *p = b; *p && len + 1 < cap; p++)
        d->reason[len++] = *p;
    d->reason[len] = 0;
}

/* A public id this instance's store does not know may be that of a rotation published through
 * Redis by another instance: the secret is checked against the published credential, the limits
 * come from this store's row of the key's name. Admission then checks the public id is still the
 * key's (not retired by a later rotation). 1 with e when Redis cannot be asked and
 * on_unavailable is closed (a refused key might be valid: 503, not 401). */
static int authenticate_published(struct exchange *x, const char *h, size_t len,
                                  enum key_auth *verdict, struct err *e)
{
    struct server *s = x->srv;
    char public_id[13];
    snprintf(public_id, sizeof public_id, "%s", x->key.public_id);
    struct key_credential c;
    int found = shared_credential(s->shared, public_id, &c, e);
    if (found == 0) {
        *verdict = keys_authenticate_with(s->keys, h, len, &c, &x->key, e);
        return 0;
    }
    *verdict = KEY_INVALID;
    return found < 0 && !s->cfg->redis->fail_open;
}

/* Checks the Authorization header (or x-api-key, which Anthropic's clients send); on success the
 * key's name becomes the caller. The secret is never copied into the exchange, a log line or an
 * error message (the "Bearer " form built for x-api-key lives on this stack frame only). A refusal
 * because Redis is unreachable sets *retry_after, as admission's does. */
static int authenticate(struct exchange *x, const struct http_request *hr, struct api_error *ae,
                        const char **retry_after)
{
    size_t len = 0;
    const char *h = http_request_header(hr, "authorization", &len);
    char bearer[512];
    if (!h) {
        size_t klen = 0;
        const char *k = http_request_header(hr, "x-api-key", &klen);
        if (k && klen + 8 <= sizeof bearer) {
            memcpy(bearer, "Bearer ", 7);
            memcpy(bearer + 7, k, klen);
            h = bearer;
            len = klen + 7;
        } else if (k) {
            h = k; /* too long for any key: refused as invalid */
            len = klen;
        }
    }
    struct err e;
    enum key_auth verdict = keys_authenticate(x->srv->keys, h, len, &x->key, &e);
    bool shared_down = verdict == KEY_UNKNOWN && x->srv->shared &&
                       authenticate_published(x, h, len, &verdict, &e);
    explicit_bzero(bearer, sizeof bearer);
    if (shared_down) {
        log_error("keys: %s", e.msg);
        *retry_after = "5";
        return api_error_set(ae, 503, "server_error", NULL, NULL,
                             "The API key cannot be checked (shared limits unavailable); "
                             "refused until it can.");
    }
    switch (verdict) {
    case KEY_OK:
        x->has_key = true;
        snprintf(x->peer, sizeof x->peer, "%s", x->key.name);
        return 0;
    case KEY_MISSING:
        return api_error_set(ae, 401, "invalid_request_error", NULL, "missing_api_key",
                             "You didn't provide an API key: send it as 'Authorization: Bearer "
                             "<key>' or 'x-api-key: <key>' (keys are made with `baton keys "
                             "create`).");
    case KEY_REVOKED:
        return api_error_set(ae, 401, "invalid_request_error", NULL, "invalid_api_key",
                             "The API key has been revoked.");
    case KEY_ERROR:
        log_error("keys: %s", e.msg);
        return api_error_set(ae, 503, "server_error", NULL, NULL,
                             "The key store cannot be read; requests are refused until it can.");
    default:
        return api_error_set(ae, 401, "invalid_request_error", NULL, "invalid_api_key",
                             "Incorrect API key provided.");
    }
}

/* A key limited to some routes and tiers: the route must be one of them, and the decision's
 * tiers are narrowed to the allowed ones (in order), so a fallback never leaves the scope. */
static int key_scope(struct exchange *x, struct api_error *ae)
{
    const struct key_info *k = &x->key;
    if (x->dec.route && !key_list_allows(k->routes, x->dec.route))
        return api_error_set(ae, 403, "invalid_request_error", "model", "model_not_allowed",
                             "key '%s' may not use route '%s' (allowed: %s)", k->name,
                             x->dec.route, *k->routes ? k->routes : "-");
    if (!x->dec.route && *k->routes && !*k->tiers)
        return api_error_set(ae, 403, "invalid_request_error", "model", "model_not_allowed",
                             "key '%s' may use only the routes %s, not tier '%s' directly",
                             k->name, k->routes, x->dec.n_tiers ? x->dec.tiers[0] : "?");
    size_t n = 0;
    for (size_t i = 0; i < x->dec.n_tiers; i++)
        if (key_list_allows(k->tiers, x->dec.tiers[i]))
            x->dec.tiers[n++] = x->dec.tiers[i];
    if (n == 0)
        return api_error_set(ae, 403, "invalid_request_error", "model", "model_not_allowed",
                             "key '%s' may not use tier '%s' (allowed tiers: %s)", k->name,
                             x->dec.tiers[0], k->tiers);
    if (n < x->dec.n_tiers) {
        reason_append(&x->dec, "; key allows tiers ", k->tiers);
    }
    x->dec.n_tiers = n;
    return 0;
}

/* ---------------------------------------------------------------------------------------------
 * Governance: privacy policies (docs/privacy.md) */

/* The policy of the request's route (or the default), applied when the detector finds anything:
 * block refuses, local-only narrows the tiers to local ones, mask arms masking for when a remote
 * tier is tried. The routing reason says when a policy decided. */
static int apply_privacy(struct exchange *x, struct api_error *ae)
{
    struct server *s = x->srv;
    const struct route_config *rc = x->dec.route ? config_route(s->cfg, x->dec.route) : NULL;
    int pol = rc && rc->privacy >= 0 ? rc->privacy : (int)s->cfg->privacy.default_policy;
    if (pol == PRIVACY_NONE)
        return 0;
    policy_scan_request(s->privacy, x->req, &x->findings);
    if (!x->findings.kinds)
        return 0;
    char kinds[160], old[sizeof x->dec.reason];
    policy_kinds_str(s->privacy, x->findings.kinds, kinds, sizeof kinds);
    x->policy = (enum privacy_policy)pol;
    snprintf(old, sizeof old, "%s", x->dec.reason);
    if (pol == PRIVACY_BLOCK) {
        snprintf(x->dec.reason, sizeof x->dec.reason, "policy block: %.160s found", kinds);
        return api_error_set(ae, 403, "invalid_request_error", "messages", "sensitive_data",
                             "The request contains sensitive data (%s) and the privacy policy "
                             "of %s '%s' blocks it.", kinds, rc ? "route" : "tier",
                             rc ? rc->name : x->dec.tiers[0]);
    }
    if (pol == PRIVACY_MASK) {
        x->mask = mask_new();
        return 0;
    }
    size_t n = 0; /* local-only */
    for (size_t i = 0; i < x->dec.n_tiers; i++) {
        const struct tier_config *t = config_tier(s->cfg, x->dec.tiers[i]);
        if (t && t->kind == TIER_LOCAL)
            x->dec.tiers[n++] = x->dec.tiers[i];
    }
    for (size_t i = 0; n == 0 && i < s->cfg->n_tiers; i++) /* none chosen: the config's first */
        if (s->cfg->tiers[i].kind == TIER_LOCAL &&
            (!x->has_key || key_list_allows(x->key.tiers, s->cfg->tiers[i].name)))
            x->dec.tiers[n++] = s->cfg->tiers[i].name;
    if (n == 0) {
        snprintf(x->dec.reason, sizeof x->dec.reason, "policy local-only: %.160s found; no local tier",
                 kinds);
        return api_error_set(ae, 403, "invalid_request_error", "messages", "sensitive_data",
                             "The request contains sensitive data (%s) and must stay on a local "
                             "tier, but none is available to it.", kinds);
    }
    x->dec.n_tiers = n;
    snprintf(x->dec.reason, sizeof x->dec.reason, "policy local-only: %.100s found, kept on %.64s; ",
             kinds, x->dec.tiers[0]);
    reason_append(&x->dec, old, "");
    return 0;
}

static void mask_before_leaving(struct exchange *x)
{
    size_t n = policy_mask_request(x->srv->privacy, x->mask, x->req);
    x->masked = true;
    x->n_masked = n;
    char kinds[160], note[200];
    policy_kinds_str(x->srv->privacy, x->findings.kinds, kinds, sizeof kinds);
    snprintf(note, sizeof note, "; policy mask: %zu %s masked for %s", n, kinds, x->tier->name);
    reason_append(&x->dec, note, "");
}

/* The most a request can cost on the tiers it may use: its prompt's token bound (a token is at
 * least one byte of text; a chat template adds a few per message) plus max_tokens (else the
 * largest tier default), at the highest input and output prices among those tiers. */
static int64_t max_cost_microusd(const struct exchange *x)
{
    const struct server *s = x->srv;
    int64_t pin = 0, pout = 0, out = x->req->max_tokens >= 0 ? x->req->max_tokens : 0;
    for (size_t i = 0; i < x->dec.n_tiers; i++) {
        const struct tier_config *t = config_tier(s->cfg, x->dec.tiers[i]);
        if (!t)
            continue;
        pin = t->price_in_microusd > pin ? t->price_in_microusd : pin;
        pout = t->price_out_microusd > pout ? t->price_out_microusd : pout;
        if (x->req->max_tokens < 0 && t->max_tokens_default > out)
            out = t->max_tokens_default;
    }
    int64_t in = (int64_t)request_text_bytes(x->req) + 8 * (int64_t)x->req->n_messages + 16;
    return ledger_cost_microusd(in, out, pin, pout);
}

/* Budgets and rate limits; on a refusal the 429 is sent (with Retry-After) and x is freed. */
static int admit(struct exchange *x, struct api_error *ae)
{
    struct limit_refusal r;
    struct err e;
    int64_t max_cost = max_cost_microusd(x);
    enum limit_verdict v = limits_admit(x->srv->limits, &x->key, wall_now_ms(), max_cost,
                                        &x->ticket, &r, &e);
    if (v == LIMIT_OK) {
        x->admitted = true;
        return 0;
    }
    char ra[32];
    if (v == LIMIT_ERROR) {
        log_error("limits: %s", e.msg);
        api_error_set(ae, 503, "server_error", NULL, NULL,
                      "The key's limits cannot be checked (%s); refused until they can.",
                      strstr(e.msg, "redis") ? "shared limits unavailable" : "ledger unreadable");
        fail_exchange(x, ae, "5");
        return -1;
    }
    if (v == LIMIT_REVOKED || v == LIMIT_RETIRED) {
        /* a retired secret is refused as any wrong one is where the store knows the rotation */
        key_refusal(ae, v);
        fail_exchange(x, ae, NULL);
        return -1;
    }
    snprintf(ra, sizeof ra, "%" PRId64, r.retry_after_s > 0 ? r.retry_after_s : 1);
    snprintf(x->dec.reason, sizeof x->dec.reason, "%s",
             v == LIMIT_BUDGET ? "refused: key budget" : v == LIMIT_RPM ? "refused: key rpm"
                                                                        : "refused: key tpm");
    api_error_set(ae, 429, v == LIMIT_BUDGET ? "insufficient_quota" : "requests", NULL,
                  v == LIMIT_BUDGET ? "budget_exceeded" : "rate_limit_exceeded", "%s", r.message);
    x->dec.n_tiers = 0;
    fail_exchange(x, ae, ra);
    return -1;
}

static int spent_from_ledger(void *arg, const char *name, int64_t since_ms, int64_t *spent,
                             struct err *e)
{
    struct server *s = arg;
    if (!s->ledger) {
        *spent = 0; /* no ledger: budgets count from the server's start */
        return 0;
    }
    return ledger_spent_live(s->ledger, name, since_ms, spent, e);
}

/* ---------------------------------------------------------------------------------------------
 * Endpoints */

static bool uses_postgres(const struct server *s)
{
    return (s->ledger && pg_is_url(s->cfg->server.ledger)) ||
           (s->audit && pg_is_url(s->cfg->server.audit));
}

/* Whether the ledger's or the audit trail's database is unreachable (no I/O: the writers find
 * out, about once a second). */
static bool stores_down(const struct server *s)
{
    return (s->ledger && !ledger_available(s->ledger)) || (s->audit && !audit_available(s->audit));
}

/* Whether the ledger and the audit trail keep the rows of one more request (x, already counted in
 * s->n_unrecorded). Atomic reads only, and exact enough: the loop thread is the only one that
 * appends, so a store's count can only be lower than read (its writer commits meanwhile), never
 * higher. For each store:
 *  - its pending rows are below its high-water mark (ledger_has_room, backlog.h); else new
 *    requests wait until the writer has committed them, and the refusals' rows go to the reserve
 *    above the mark;
 *  - its hard cap leaves a row for every exchange not yet recorded, x included (*spare): the
 *    requests in flight were served or are being served, and their rows must be kept whatever
 *    comes meanwhile. Without it x is refused and not recorded either.
 * why: for the 503 (how many rows wait, and where). */
static bool stores_have_room(const struct server *s, bool *spare, char *why, size_t size)
{
    bool room = true;
    *spare = true;
    why[0] = 0;
    if (s->ledger) {
        size_t pending = ledger_pending(s->ledger);
        bool fits = pending + s->n_unrecorded <= ledger_max_pending(s->ledger);
        if (!fits || !ledger_has_room(s->ledger)) {
            snprintf(why, size, "%zu ledger rows wait for the database", pending);
            room = false;
        }
        *spare &= fits;
    }
    if (s->audit) {
        size_t pending = audit_pending(s->audit);
        bool fits = pending + s->n_unrecorded <= audit_max_pending(s->audit);
        if ((!fits || !audit_has_room(s->audit)) && room) {
            snprintf(why, size, "%zu audit records wait for the database", pending);
            room = false;
        }
        *spare &= fits;
    }
    return room;
}

static void handle_completion(struct server *s, struct http_conn *c, const struct http_request *hr,
                              enum api_endpoint ep)
{
    struct exchange *x = xcalloc(1, sizeof *x);
    mask_stream_init(&x->text_restorer);
    x->srv = s;
    x->owes_row = true;
    s->n_unrecorded++;
    x->api = api_dialect(ep);
    x->conn = c;
    x->t_start_ms = loop_now_ms(s->loop);
    x->wall_ms = wall_now_ms();
    snprintf(x->peer, sizeof x->peer, "%s", http_conn_peer(c));
    char *colon = strrchr(x->peer, ':');
    if (colon)
        *colon = 0; /* the address, not the port */
    struct api_error ae;
    snprintf(x->dec.reason, sizeof x->dec.reason, "refused before routing");
    if (!s->cfg->postgres_fail_open && stores_down(s)) {
        /* fail closed: no request is served that the ledger cannot record (the refusal itself is
         * journaled and committed when the database is back) */
        api_error_set(&ae, 503, "server_error", NULL, NULL,
                      "The ledger's database is unavailable (postgres); refused until it is back.");
        fail_exchange(x, &ae, "1");
        return;
    }
    bool spare;
    char why[128];
    if (!stores_have_room(s, &spare, why, sizeof why)) {
        /* open mode during an outage (or any mode while a backlog drains): serve nothing whose
         * row might not be kept. The refusal is recorded unless that would take a row a request
         * in flight needs. */
        x->rowless = !spare;
        if (x->rowless && !s->said_rowless)
            log_error("%s, to the hard cap; refusals are not recorded until there is room", why);
        s->said_rowless |= x->rowless;
        api_error_set(&ae, 503, "server_error", NULL, NULL,
                      "Not served: %s, and a request served now might not be recorded; retry "
                      "once they are committed.", why);
        fail_exchange(x, &ae, "1");
        return;
    }
    s->said_rowless = false;
    const char *retry_after = NULL;
    if (s->keys && authenticate(x, hr, &ae, &retry_after)) {
        fail_exchange(x, &ae, retry_after);
        return;
    }
    if (x->api->parse(hr->body, hr->body_len, &x->req, &ae)) {
        fail_exchange(x, &ae, NULL); /* recorded too: every request is in the ledger */
        return;
    }
    if (s->audit) {
        char *t = request_text(x->req);
        audit_sha256_hex(t, strlen(t), x->request_sha256);
        free(t);
    }
    struct err e;
    if (router_decide(s->router, x->req, &x->dec, &e)) {
        snprintf(x->dec.reason, sizeof x->dec.reason, "unknown model");
        api_error_set(&ae, 404, "invalid_request_error", "model", "model_not_found", "%s", e.msg);
        fail_exchange(x, &ae, NULL);
        return;
    }
    if (x->has_key && key_scope(x, &ae)) {
        fail_exchange(x, &ae, NULL);
        return;
    }
    if (s->privacy && apply_privacy(x, &ae)) {
        fail_exchange(x, &ae, NULL);
        return;
    }
    if (x->has_key && admit(x, &ae))
        return; /* answered */
    http_conn_on_close(c, on_client_close, x);
    try_tier(x);
}

/* The models a client may name: routes, then tiers. Caller frees the array (names borrowed from
 * the config). */
static struct api_model *list_models(const struct server *s, size_t *n)
{
    struct api_model *m = xcalloc(s->cfg->n_routes + s->cfg->n_tiers + 1, sizeof *m);
    *n = 0;
    for (size_t i = 0; i < s->cfg->n_routes; i++)
        m[(*n)++] = (struct api_model){s->cfg->routes[i].name, "baton-route"};
    for (size_t i = 0; i < s->cfg->n_tiers; i++)
        m[(*n)++] = (struct api_model){s->cfg->tiers[i].name, s->cfg->tiers[i].kind == TIER_LOCAL
                                                                  ? "baton-local"
                                                                  : "baton-upstream"};
    return m;
}

static void handle_models(struct server *s, struct http_conn *c)
{
    json_t *data = json_array();
    int64_t created = wall_now_ms() / 1000;
    size_t n;
    struct api_model *m = list_models(s, &n);
    for (size_t i = 0; i < n; i++)
        json_array_append_new(data, json_pack("{s:s, s:s, s:I, s:s}", "id", m[i].name, "object",
                                              "model", "created", (json_int_t)created, "owned_by",
                                              m[i].owned_by));
    free(m);
    json_t *root = json_pack("{s:s, s:o}", "object", "list", "data", data);
    char *j = json_dumps(root, JSON_COMPACT);
    respond_json(c, 200, j);
    free(j);
    json_decref(root);
}

static void handle_health(struct server *s, struct http_conn *c)
{
    json_t *tiers = json_object();
    bool all = true;
    for (size_t i = 0; i < s->cfg->n_tiers; i++) {
        bool ok = backend_healthy(s->backends[i]);
        all &= ok;
        json_object_set_new(tiers, s->cfg->tiers[i].name, json_string(ok ? "ok" : "unavailable"));
    }
    json_t *root = json_pack("{s:s, s:o}", "status", all ? "ok" : "degraded", "tiers", tiers);
    if (s->shared) { /* shared limits: a Redis that is down degrades (or closes) the service */
        bool up = shared_available(s->shared);
        json_object_set_new(root, "redis", json_string(up ? "ok" : "unavailable"));
        if (!up)
            json_object_set_new(root, "status", json_string("degraded"));
    }
    /* rows waiting past the high-water mark: new requests are refused until they are committed */
    bool room = (!s->ledger || ledger_has_room(s->ledger)) &&
                (!s->audit || audit_has_room(s->audit));
    if (uses_postgres(s)) { /* the ledger or trail in PostgreSQL: down degrades (or closes) */
        bool up = !stores_down(s);
        json_object_set_new(root, "postgres", json_string(up ? "ok" : "unavailable"));
        json_t *pending = json_object(); /* rows waiting for a commit, per store */
        if (s->ledger)
            json_object_set_new(pending, "ledger",
                                json_integer((json_int_t)ledger_pending(s->ledger)));
        if (s->audit)
            json_object_set_new(pending, "audit",
                                json_integer((json_int_t)audit_pending(s->audit)));
        json_object_set_new(root, "pending", pending);
        if (!up)
            json_object_set_new(root, "status", json_string("degraded"));
    }
    if (uses_postgres(s) || !room)
        json_object_set_new(root, "room", json_string(room ? "ok" : "full"));
    if (!room)
        json_object_set_new(root, "status", json_string("degraded"));
    char *j = json_dumps(root, JSON_COMPACT);
    respond_json(c, 200, j);
    free(j);
    json_decref(root);
}

/* Ollama's model endpoints: GET /api/tags, POST /api/show, GET /api/version. */
static void handle_ollama_info(struct server *s, struct http_conn *c, const struct http_request *r,
                               int what)
{
    struct buf b;
    buf_init(&b);
    struct api_error ae;
    size_t n;
    struct api_model *m = list_models(s, &n);
    int status = 200;
    if (what == 0) {
        ollama_tags(m, n, &b);
    } else if (what == 1) {
        if (ollama_show(r->body, r->body_len, m, n, &b, &ae)) {
            buf_clear(&b);
            ollama_error_json(&ae, &b);
            status = ae.status;
        }
    } else {
        buf_puts(&b, "{\"version\":\"" OLLAMA_API_VERSION "\"}");
    }
    free(m);
    http_respond(c, status, "application/json", NULL, b.data, b.len);
    buf_free(&b);
}

static bool path_is(const struct http_request *r, const char *p)
{
    size_t n = strlen(p);
    return r->path_len == n && memcmp(r->path, p, n) == 0;
}

static bool method_is(const struct http_request *r, const char *m)
{
    size_t n = strlen(m);
    return r->method_len == n && memcmp(r->method, m, n) == 0;
}

static void handler(struct http_conn *c, const struct http_request *r, void *arg)
{
    struct server *s = arg;
    struct api_error ae;
    /* api: whose error shape the endpoint answers in */
    struct { const char *path, *method; int kind; enum api_endpoint api; } routes[] = {
        {"/v1/chat/completions", "POST", 0, API_OPENAI_CHAT},
        {"/v1/completions", "POST", 1, API_OPENAI_COMPLETION},
        {"/v1/models", "GET", 2, API_OPENAI_CHAT}, {"/health", "GET", 3, API_OPENAI_CHAT},
        {"/metrics", "GET", 4, API_OPENAI_CHAT},
        {"/v1/messages", "POST", 5, API_ANTHROPIC_MESSAGES},
        {"/api/chat", "POST", 6, API_OLLAMA_CHAT}, {"/api/generate", "POST", 7, API_OLLAMA_GENERATE},
        {"/api/tags", "GET", 8, API_OLLAMA_CHAT}, {"/api/show", "POST", 9, API_OLLAMA_CHAT},
        {"/api/version", "GET", 10, API_OLLAMA_CHAT},
    };
    for (size_t i = 0; i < sizeof routes / sizeof *routes; i++) {
        if (!path_is(r, routes[i].path))
            continue;
        if (!method_is(r, routes[i].method) && !(routes[i].method[0] == 'G' && method_is(r, "HEAD"))) {
            api_error_set(&ae, 405, "invalid_request_error", NULL, "method_not_allowed",
                          "%s requires %s.", routes[i].path, routes[i].method);
            struct buf b;
            buf_init(&b);
            api_dialect(routes[i].api)->error_json(&ae, &b);
            http_respond(c, 405, "application/json", NULL, b.data, b.len);
            buf_free(&b);
            return;
        }
        switch (routes[i].kind) {
        case 0: case 1: case 5: case 6: case 7: handle_completion(s, c, r, routes[i].api); return;
        case 2: handle_models(s, c); return;
        case 3: handle_health(s, c); return;
        case 8: case 9: case 10: handle_ollama_info(s, c, r, routes[i].kind - 8); return;
        default: {
            struct buf b;
            buf_init(&b);
            metrics_render(s->metrics, &b);
            http_respond(c, 200, "text/plain; version=0.0.4", NULL, b.data, b.len);
            buf_free(&b);
            return;
        }
        }
    }
    api_error_set(&ae, 404, "invalid_request_error", NULL, "unknown_url", "Unknown request URL: %s %.*s.",
                  method_is(r, "POST") ? "POST" : "GET", (int)(r->path_len > 200 ? 200 : r->path_len),
                  r->path);
    if (r->path_len >= 5 && memcmp(r->path, "/api/", 5) == 0) { /* Ollama's clients */
        struct buf b;
        buf_init(&b);
        ollama_error_json(&ae, &b);
        http_respond(c, 404, "application/json", NULL, b.data, b.len);
        buf_free(&b);
        return;
    }
    respond_error(c, &ae);
}

/* ---------------------------------------------------------------------------------------------
 * Lifecycle */

int server_new(const struct config *cfg, struct server **out, struct err *e)
{
    struct server *s = xcalloc(1, sizeof *s);
    s->cfg = cfg;
    s->loop = loop_new();
    s->metrics = metrics_new();
    s->backends = xcalloc(cfg->n_tiers ? cfg->n_tiers : 1, sizeof *s->backends);
    if (!s->loop)
        goto fail_msg;
    if (router_new(cfg, &s->router, e))
        goto fail;
    for (size_t i = 0; i < cfg->n_tiers; i++) {
        const struct tier_config *t = &cfg->tiers[i];
        s->backends[i] = t->kind == TIER_LOCAL ? local_new(s->loop, t, e) : openai_up_new(s->loop, t, e);
        if (!s->backends[i])
            goto fail;
    }
    const char *journal = cfg->server.journal && *cfg->server.journal ? cfg->server.journal : NULL;
    if (cfg->server.ledger && *cfg->server.ledger &&
        ledger_open(cfg->server.ledger, journal, &s->ledger, e))
        goto fail;
    if (s->ledger && cfg->postgres_max_pending && pg_is_url(cfg->server.ledger))
        ledger_set_max_pending(s->ledger, (size_t)cfg->postgres_max_pending);
    if (cfg->server.keys && keystore_open(cfg->server.keys, true, &s->keys, e))
        goto fail;
    s->limits = limits_new(spent_from_ledger, s);
    if (cfg->redis) {
        s->shared = shared_new(cfg->redis);
        limits_set_shared(s->limits, s->shared, cfg->redis->fail_open);
    }
    if (cfg->server.audit && audit_open(cfg->server.audit, journal, &s->audit, e))
        goto fail;
    if (s->audit && cfg->postgres_max_pending && pg_is_url(cfg->server.audit))
        audit_set_max_pending(s->audit, (size_t)cfg->postgres_max_pending);
    if (cfg->server.audit_content) {
        struct privacy_options all = {.builtin_mask = (UINT64_C(1) << PK_BUILTIN_COUNT) - 1};
        if (privacy_new(&all, &s->audit_mask, e))
            goto fail;
    }
    bool any_policy = cfg->privacy.default_policy != PRIVACY_NONE;
    for (size_t i = 0; i < cfg->n_routes; i++)
        any_policy |= cfg->routes[i].privacy > PRIVACY_NONE;
    if (any_policy) {
        struct privacy_pattern pats[PRIVACY_MAX_KINDS];
        struct privacy_terms terms[PRIVACY_MAX_KINDS];
        struct privacy_options po = {.builtin_mask = cfg->privacy.kinds, .patterns = pats,
                                     .n_patterns = cfg->privacy.n_patterns, .terms = terms,
                                     .n_terms = cfg->privacy.n_terms};
        for (size_t i = 0; i < po.n_patterns && i < PRIVACY_MAX_KINDS; i++)
            pats[i] = (struct privacy_pattern){cfg->privacy.patterns[i].name,
                                               cfg->privacy.patterns[i].regex};
        for (size_t i = 0; i < po.n_terms && i < PRIVACY_MAX_KINDS; i++)
            terms[i] = (struct privacy_terms){cfg->privacy.terms[i].name,
                                              (const char *const *)cfg->privacy.terms[i].terms,
                                              cfg->privacy.terms[i].n_terms};
        if (privacy_new(&po, &s->privacy, e))
            goto fail;
    }
    struct http_server_opts o;
    http_server_opts_default(&o);
    o.host = cfg->server.host;
    o.port = cfg->server.port;
    o.max_connections = cfg->server.max_connections;
    o.max_body_bytes = (size_t)cfg->server.max_body_bytes;
    if (http_server_start(s->loop, &o, handler, s, &s->http, e))
        goto fail;
    *out = s;
    return 0;
fail_msg:
    err_set(e, "could not create the event loop");
fail:
    server_free(s);
    return -1;
}

int server_port(const struct server *s) { return http_server_port(s->http); }
int server_run(struct server *s) { return loop_run(s->loop); }
void server_stop(struct server *s) { loop_stop(s->loop); }

void server_free(struct server *s)
{
    if (!s)
        return;
    http_server_free(s->http); /* closes connections: their exchanges cancel their calls */
    for (size_t i = 0; s->backends && i < s->cfg->n_tiers; i++)
        backend_free(s->backends[i]);
    free(s->backends);
    ledger_close(s->ledger);
    keystore_close(s->keys);
    limits_free(s->limits);
    shared_free(s->shared);
    privacy_free(s->privacy);
    privacy_free(s->audit_mask);
    audit_close(s->audit);
    router_free(s->router);
    metrics_free(s->metrics);
    loop_free(s->loop);
    free(s);
}
