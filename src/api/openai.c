/* openai: parsing and encoding of the OpenAI dialect (see openai.h).
 *
 * Validation mirrors what OpenAI's API refuses, so applications see the same 400s with the same
 * `param` whether they talk to OpenAI or to baton: model required; messages a non-empty array of
 * objects with a known role; content a string, an array of text parts, or null (assistant turns
 * with tool calls); tool messages need tool_call_id; max_tokens / max_completion_tokens >= 1;
 * temperature in [0, 2]; top_p in [0, 1]; n = 1 only; stop a string or up to 4 strings;
 * stream_options only with stream; top_logprobs in [0, 20] and only with logprobs. Fields baton
 * does not model (tools, tool_choice, response_format, ...) stay in request->body for upstreams.
 */
#include "api/openai.h"

#include "base/alloc.h"
#include "base/utf8.h"

#include <inttypes.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>
#include <unistd.h>

int api_error_set(struct api_error *e, int status, const char *type, const char *param,
                  const char *code, const char *fmt, ...)
{
    if (!e)
        return -1;
    e->status = status;
    e->type = type;
    e->param = param;
    e->code = code;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(e->message, sizeof e->message, fmt, ap);
    va_end(ap);
    return -1;
}

void api_error_json(const struct api_error *e, struct buf *out)
{
    json_t *err = json_pack("{s:s, s:s, s:o, s:o}", "message", e->message, "type",
                            e->type ? e->type : "invalid_request_error", "param",
                            e->param ? json_string(e->param) : json_null(), "code",
                            e->code ? json_string(e->code) : json_null());
    json_t *root = json_pack("{s:o}", "error", err);
    char *s = json_dumps(root, JSON_COMPACT | JSON_REAL_PRECISION(12));
    buf_puts(out, s);
    free(s);
    json_decref(root);
}

/* ---------------------------------------------------------------------------------------------
 * Parsing */

#define BAD(e, param, ...) api_error_set(e, 400, "invalid_request_error", param, NULL, __VA_ARGS__)

const char *openai_json_type_name(const json_t *v)
{
    switch (json_typeof(v)) {
    case JSON_OBJECT: return "an object";
    case JSON_ARRAY: return "an array";
    case JSON_STRING: return "a string";
    case JSON_INTEGER: return "an integer";
    case JSON_REAL: return "a number";
    case JSON_TRUE: case JSON_FALSE: return "a boolean";
    default: return "null";
    }
}

/* Text of a message content: a string, an array of parts (text parts concatenated; other part
 * types are refused for local use but kept in the body for upstreams), or null. */
static int parse_content(const json_t *c, size_t i, char **out, struct api_error *e)
{
    if (!c || json_is_null(c)) {
        *out = xstrdup("");
        return 0;
    }
    if (json_is_string(c)) {
        *out = xstrndup(json_string_value(c), json_string_length(c));
        return 0;
    }
    if (!json_is_array(c))
        return BAD(e, "messages", "Invalid type for 'messages[%zu].content': expected a string or"
                                  " an array of content parts, got %s.", i, openai_json_type_name(c));
    struct buf b;
    buf_init(&b);
    size_t j;
    json_t *part;
    json_array_foreach(c, j, part) {
        const char *type = json_string_value(json_object_get(part, "type"));
        if (!json_is_object(part) || !type) {
            buf_free(&b);
            return BAD(e, "messages", "Invalid 'messages[%zu].content[%zu]': expected an object"
                                      " with a 'type'.", i, j);
        }
        if (strcmp(type, "text") == 0) {
            const json_t *t = json_object_get(part, "text");
            if (!json_is_string(t)) {
                buf_free(&b);
                return BAD(e, "messages", "Missing or invalid 'messages[%zu].content[%zu].text'.",
                           i, j);
            }
            buf_append(&b, json_string_value(t), json_string_length(t));
        }
        /* image/audio/file parts: kept in the body for upstream tiers */
    }
    *out = buf_detach(&b);
    return 0;
}

static int parse_role(const char *s, enum role *r)
{
    static const struct { const char *name; enum role role; } roles[] = {
        {"system", ROLE_SYSTEM}, {"user", ROLE_USER}, {"assistant", ROLE_ASSISTANT},
        {"tool", ROLE_TOOL}, {"developer", ROLE_DEVELOPER}, {"function", ROLE_TOOL},
    };
    for (size_t i = 0; i < sizeof roles / sizeof *roles; i++)
        if (strcmp(s, roles[i].name) == 0) {
            *r = roles[i].role;
            return 0;
        }
    return -1;
}

static int parse_messages(const json_t *msgs, struct request *r, struct api_error *e)
{
    if (!msgs)
        return BAD(e, "messages", "Missing required parameter: 'messages'.");
    if (!json_is_array(msgs))
        return BAD(e, "messages", "Invalid type for 'messages': expected an array, got %s.",
                   openai_json_type_name(msgs));
    if (json_array_size(msgs) == 0)
        return BAD(e, "messages", "Invalid 'messages': empty array. Expected an array with"
                                  " minimum length 1.");
    r->messages = xcalloc(json_array_size(msgs), sizeof *r->messages);
    size_t i;
    json_t *m;
    json_array_foreach(msgs, i, m) {
        if (!json_is_object(m))
            return BAD(e, "messages", "Invalid type for 'messages[%zu]': expected an object, got"
                                      " %s.", i, openai_json_type_name(m));
        struct message *msg = &r->messages[r->n_messages++];
        const json_t *role = json_object_get(m, "role");
        if (!json_is_string(role))
            return BAD(e, "messages", "Missing or invalid 'messages[%zu].role'.", i);
        if (parse_role(json_string_value(role), &msg->role))
            return BAD(e, "messages", "Invalid value for 'messages[%zu].role': '%.40s'. Supported"
                                      " values are: 'system', 'assistant', 'user', 'tool',"
                                      " 'developer'.", i, json_string_value(role));
        const json_t *tc = json_object_get(m, "tool_calls");
        if (tc && !json_is_null(tc)) {
            if (!json_is_array(tc))
                return BAD(e, "messages", "Invalid type for 'messages[%zu].tool_calls': expected"
                                          " an array.", i);
            msg->tool_calls = json_incref((json_t *)tc);
        }
        const json_t *content = json_object_get(m, "content");
        if (!content && !msg->tool_calls && msg->role != ROLE_ASSISTANT)
            return BAD(e, "messages", "Missing required parameter: 'messages[%zu].content'.", i);
        if (parse_content(content, i, &msg->content, e))
            return -1;
        const json_t *name = json_object_get(m, "name");
        if (json_is_string(name))
            msg->name = xstrdup(json_string_value(name));
        const json_t *tcid = json_object_get(m, "tool_call_id");
        if (json_is_string(tcid))
            msg->tool_call_id = xstrdup(json_string_value(tcid));
        if (msg->role == ROLE_TOOL && !msg->tool_call_id &&
            strcmp(json_string_value(role), "tool") == 0)
            return BAD(e, "messages", "Missing parameter 'tool_call_id': messages with role"
                                      " 'tool' must have a 'tool_call_id'.");
    }
    return 0;
}

static int get_number(const json_t *body, const char *key, double lo, double hi, bool *has,
                      double *out, struct api_error *e)
{
    const json_t *v = json_object_get(body, key);
    *has = false;
    if (!v || json_is_null(v))
        return 0;
    if (!json_is_number(v))
        return BAD(e, key, "Invalid type for '%s': expected a number, got %s.", key, openai_json_type_name(v));
    double d = json_number_value(v);
    if (!(d >= lo && d <= hi))
        return BAD(e, key, "Invalid '%s': %g is out of range [%g, %g].", key, d, lo, hi);
    *has = true;
    *out = d;
    return 0;
}

static int get_int(const json_t *body, const char *key, json_int_t lo, json_int_t hi, bool *has,
                   json_int_t *out, struct api_error *e)
{
    const json_t *v = json_object_get(body, key);
    *has = false;
    if (!v || json_is_null(v))
        return 0;
    if (!json_is_integer(v))
        return BAD(e, key, "Invalid type for '%s': expected an integer, got %s.", key,
                   openai_json_type_name(v));
    json_int_t i = json_integer_value(v);
    if (i < lo || i > hi)
        return BAD(e, key, "Invalid '%s': %" JSON_INTEGER_FORMAT " is out of range [%"
                           JSON_INTEGER_FORMAT ", %" JSON_INTEGER_FORMAT "].", key, i, lo, hi);
    *has = true;
    *out = i;
    return 0;
}

static int get_bool(const json_t *body, const char *key, bool *out, struct api_error *e)
{
    const json_t *v = json_object_get(body, key);
    if (!v || json_is_null(v))
        return 0;
    if (!json_is_boolean(v))
        return BAD(e, key, "Invalid type for '%s': expected a boolean, got %s.", key,
                   openai_json_type_name(v));
    *out = json_is_true(v);
    return 0;
}

static int parse_stop(const json_t *body, struct request *r, struct api_error *e)
{
    const json_t *v = json_object_get(body, "stop");
    if (!v || json_is_null(v))
        return 0;
    if (json_is_string(v)) {
        r->stop = xmalloc(sizeof *r->stop);
        r->stop[r->n_stop++] = xstrdup(json_string_value(v));
        return 0;
    }
    if (!json_is_array(v))
        return BAD(e, "stop", "Invalid type for 'stop': expected a string or an array of strings,"
                              " got %s.", openai_json_type_name(v));
    if (json_array_size(v) > 4)
        return BAD(e, "stop", "Invalid 'stop': array too long. Expected an array with maximum"
                              " length 4, but got an array with length %zu instead.",
                   json_array_size(v));
    r->stop = xcalloc(json_array_size(v) + 1, sizeof *r->stop);
    size_t i;
    json_t *s;
    json_array_foreach(v, i, s) {
        if (!json_is_string(s))
            return BAD(e, "stop", "Invalid type for 'stop[%zu]': expected a string, got %s.", i,
                       openai_json_type_name(s));
        if (json_string_length(s) > 0)
            r->stop[r->n_stop++] = xstrdup(json_string_value(s));
    }
    return 0;
}

static _Atomic uint64_t g_request_seq;
static _Atomic uint32_t g_process_tag; /* random, set once: ids of two instances never collide */

static char *new_id(enum dialect d)
{
    char id[64];
    uint32_t tag = atomic_load(&g_process_tag);
    if (!tag) {
        uint32_t t = 0;
        if (getrandom(&t, sizeof t, 0) != (ssize_t)sizeof t)
            t = (uint32_t)getpid() * 2654435761u ^ (uint32_t)time(NULL);
        t |= 1; /* never 0, the "unset" value */
        uint32_t expect = 0;
        atomic_compare_exchange_strong(&g_process_tag, &expect, t);
        tag = atomic_load(&g_process_tag);
    }
    uint64_t n = atomic_fetch_add(&g_request_seq, 1) + 1;
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    snprintf(id, sizeof id, "%s-%" PRIx64 "%08" PRIx32 "%06" PRIx64,
             d == DIALECT_OPENAI_CHAT ? "chatcmpl" : "cmpl", (uint64_t)ts.tv_sec, tag, n & 0xffffff);
    return xstrdup(id);
}

static int parse_body(enum dialect d, json_t *body, struct request *r, struct api_error *e)
{
    if (!json_is_object(body))
        return BAD(e, NULL, "Invalid request body: expected a JSON object, got %s.",
                   openai_json_type_name(body));
    const json_t *model = json_object_get(body, "model");
    if (!model)
        return BAD(e, "model", "You must provide a model parameter.");
    if (!json_is_string(model) || json_string_length(model) == 0)
        return BAD(e, "model", "Invalid type for 'model': expected a non-empty string.");
    r->model = xstrdup(json_string_value(model));
    if (d == DIALECT_OPENAI_CHAT) {
        if (parse_messages(json_object_get(body, "messages"), r, e))
            return -1;
    } else {
        const json_t *p = json_object_get(body, "prompt");
        if (json_is_array(p) && json_array_size(p) == 1)
            p = json_array_get(p, 0);
        if (!p)
            return BAD(e, "prompt", "Missing required parameter: 'prompt'.");
        if (!json_is_string(p))
            return BAD(e, "prompt", "Invalid type for 'prompt': expected a string (batched and"
                                    " token-id prompts are not supported).");
        r->prompt = xstrdup(json_string_value(p));
        bool echo = false;
        if (get_bool(body, "echo", &echo, e))
            return -1;
        if (echo)
            return BAD(e, "echo", "'echo' is not supported.");
    }
    bool has;
    json_int_t i;
    double num;
    r->max_tokens = -1;
    if (get_int(body, "max_tokens", 1, INT32_MAX, &has, &i, e))
        return -1;
    if (has)
        r->max_tokens = (int32_t)i;
    if (get_int(body, "max_completion_tokens", 1, INT32_MAX, &has, &i, e))
        return -1;
    if (has)
        r->max_tokens = (int32_t)i;
    if (get_number(body, "temperature", 0, 2, &r->has_temperature, &num, e))
        return -1;
    r->temperature = (float)num;
    num = 1;
    if (get_number(body, "top_p", 0, 1, &r->has_top_p, &num, e))
        return -1;
    r->top_p = (float)num;
    if (get_int(body, "seed", INT64_MIN, INT64_MAX, &r->has_seed, &i, e))
        return -1;
    r->seed = r->has_seed ? (int64_t)i : 0;
    if (get_int(body, "n", 1, 128, &has, &i, e))
        return -1;
    if (has && i != 1)
        return BAD(e, "n", "Invalid 'n': only n = 1 is supported.");
    if (parse_stop(body, r, e) || get_bool(body, "stream", &r->stream, e) ||
        get_bool(body, "logprobs", &r->logprobs, e))
        return -1;
    const json_t *so = json_object_get(body, "stream_options");
    if (so && !json_is_null(so)) {
        if (!json_is_object(so))
            return BAD(e, "stream_options", "Invalid type for 'stream_options': expected an"
                                            " object, got %s.", openai_json_type_name(so));
        if (!r->stream)
            return BAD(e, "stream_options", "The 'stream_options' parameter is only allowed when"
                                            " 'stream' is enabled.");
        if (get_bool(so, "include_usage", &r->include_usage, e))
            return -1;
    }
    if (get_int(body, "top_logprobs", 0, 20, &has, &i, e))
        return -1;
    if (has) {
        if (!r->logprobs)
            return BAD(e, "top_logprobs", "'top_logprobs' requires 'logprobs' to be true.");
        r->top_logprobs = (int32_t)i;
    }
    const json_t *user = json_object_get(body, "user");
    if (json_is_string(user))
        r->user = xstrdup(json_string_value(user));
    const json_t *tools = json_object_get(body, "tools");
    if (tools && !json_is_null(tools)) {
        if (!json_is_array(tools))
            return BAD(e, "tools", "Invalid type for 'tools': expected an array, got %s.",
                       openai_json_type_name(tools));
        r->has_tools = json_array_size(tools) > 0;
    }
    const json_t *rf = json_object_get(body, "response_format");
    if (rf && !json_is_null(rf)) {
        if (!json_is_object(rf))
            return BAD(e, "response_format", "Invalid type for 'response_format': expected an"
                                             " object, got %s.", openai_json_type_name(rf));
        const char *t = json_string_value(json_object_get(rf, "type"));
        r->has_response_format = t && strcmp(t, "text") != 0;
    }
    return 0;
}

int openai_parse(enum dialect d, const char *body, size_t len, struct request **out,
                 struct api_error *e)
{
    json_error_t je;
    json_t *root = json_loadb(body, len, JSON_REJECT_DUPLICATES, &je);
    if (!root)
        return BAD(e, NULL, "We could not parse the JSON body of your request: %s (line %d,"
                            " column %d).", je.text, je.line, je.column);
    return openai_parse_json(d, root, out, e);
}

int openai_parse_json(enum dialect d, json_t *root, struct request **out, struct api_error *e)
{
    struct request *r = xcalloc(1, sizeof *r);
    r->dialect = d;
    r->body = root;
    if (parse_body(d, root, r, e)) {
        request_free(r);
        return -1;
    }
    r->id = new_id(d);
    *out = r;
    return 0;
}

/* ---------------------------------------------------------------------------------------------
 * Responses */

void openai_resp_init(struct openai_resp *r, const struct request *req, const char *model)
{
    memset(r, 0, sizeof *r);
    r->req = req;
    r->model = model;
    r->created = (int64_t)time(NULL);
    r->cost_microusd = -1;
    buf_init(&r->content);
}

void openai_resp_free(struct openai_resp *r)
{
    buf_free(&r->content);
    if (r->tool_calls)
        json_decref(r->tool_calls);
    if (r->logprobs)
        json_decref(r->logprobs);
}

/* A JSON string of s[0..n): model output can hold invalid UTF-8 (byte-fallback tokens), which
 * JSON cannot carry, so invalid bytes become U+FFFD (the raw bytes stay in logprobs' "bytes"). */
json_t *openai_json_text(const char *s, size_t n)
{
    if (utf8_valid(s, n))
        return json_stringn_nocheck(s, n);
    struct buf b;
    buf_init(&b);
    utf8_sanitize(s, n, &b);
    json_t *j = json_stringn_nocheck(b.data ? b.data : "", b.len);
    buf_free(&b);
    return j;
}

static json_t *bytes_array(const char *s, size_t n)
{
    json_t *a = json_array();
    for (size_t i = 0; i < n; i++)
        json_array_append_new(a, json_integer((unsigned char)s[i]));
    return a;
}

/* One OpenAI logprobs "content" entry for a sampled token and its alternatives. */
static json_t *logprob_entry(const struct event *ev)
{
    json_t *top = json_array();
    for (int i = 0; i < ev->n_top; i++)
        json_array_append_new(top, json_pack("{s:o, s:f, s:o}", "token",
                                             openai_json_text(ev->top[i].token, ev->top[i].len),
                                             "logprob", (double)ev->top[i].logprob,
                                             "bytes", bytes_array(ev->top[i].token, ev->top[i].len)));
    return json_pack("{s:o, s:f, s:o, s:o}", "token",
                     openai_json_text(ev->logprob->token, ev->logprob->len), "logprob", (double)ev->logprob->logprob, "bytes",
                     bytes_array(ev->logprob->token, ev->logprob->len), "top_logprobs", top);
}

/* Merges a streamed tool_calls delta array into the accumulated calls (by "index"). */
void openai_merge_tool_calls(json_t **acc, const json_t *delta_calls)
{
    if (!*acc)
        *acc = json_array();
    size_t i;
    json_t *d;
    json_array_foreach(delta_calls, i, d) {
        json_int_t idx = json_integer_value(json_object_get(d, "index"));
        if (idx < 0 || idx >= OPENAI_MAX_TOOL_CALLS)
            continue; /* an upstream's nonsense: neither a crash nor a huge array */
        while ((json_int_t)json_array_size(*acc) <= idx)
            json_array_append_new(*acc, json_pack("{s:s, s:s, s:{s:s, s:s}}", "id", "", "type",
                                                  "function", "function", "name", "",
                                                  "arguments", ""));
        json_t *call = json_array_get(*acc, (size_t)idx);
        const char *id = json_string_value(json_object_get(d, "id"));
        if (id && *id)
            json_object_set_new(call, "id", json_string(id));
        const json_t *fn = json_object_get(d, "function");
        json_t *cfn = json_object_get(call, "function");
        const char *keys[] = {"name", "arguments"};
        for (int k = 0; k < 2; k++) {
            const char *add = json_string_value(json_object_get(fn, keys[k]));
            if (!add)
                continue;
            const char *have = json_string_value(json_object_get(cfn, keys[k]));
            size_t n1 = strlen(have), n2 = strlen(add);
            char *joined = xmalloc(n1 + n2 + 1);
            memcpy(joined, have, n1);
            memcpy(joined + n1, add, n2 + 1);
            json_object_set_new(cfn, keys[k], json_string(joined));
            free(joined);
        }
    }
}

static void sse_json(struct buf *out, json_t *obj)
{
    char *s = json_dumps(obj, JSON_COMPACT | JSON_REAL_PRECISION(12));
    buf_puts(out, "data: ");
    buf_puts(out, s);
    buf_puts(out, "\n\n");
    free(s);
    json_decref(obj);
}

static json_t *chunk_base(const struct openai_resp *r)
{
    bool chat = r->req->dialect == DIALECT_OPENAI_CHAT;
    return json_pack("{s:s, s:s, s:I, s:s, s:n}", "id", r->req->id, "object",
                     chat ? "chat.completion.chunk" : "text_completion", "created",
                     (json_int_t)r->created, "model", r->model, "system_fingerprint");
}

static json_t *usage_json(const struct openai_resp *r)
{
    json_t *u = json_pack("{s:I, s:I, s:I}", "prompt_tokens", (json_int_t)r->prompt_tokens,
                          "completion_tokens", (json_int_t)r->completion_tokens, "total_tokens",
                          (json_int_t)(r->prompt_tokens + r->completion_tokens));
    if (r->cost_microusd >= 0)
        json_object_set_new(u, "cost_usd", json_real((double)r->cost_microusd / 1e6));
    return u;
}

static void stream_chunk(struct openai_resp *r, const struct event *ev, const char *finish,
                         struct buf *out)
{
    json_t *c = chunk_base(r);
    json_t *choice;
    if (r->req->dialect == DIALECT_OPENAI_CHAT) {
        json_t *delta = ev && ev->delta ? json_deep_copy(ev->delta) : json_object();
        if (ev && ev->text && !ev->delta)
            json_object_set_new(delta, "content", openai_json_text(ev->text, ev->len));
        if (!r->sent_role) {
            json_object_set_new(delta, "role", json_string("assistant"));
            if (!json_object_get(delta, "content"))
                json_object_set_new(delta, "content", json_string(""));
            r->sent_role = true;
        }
        choice = json_pack("{s:i, s:o}", "index", 0, "delta", delta);
    } else {
        choice = json_pack("{s:i, s:o}", "index", 0, "text",
                           openai_json_text(ev && ev->text ? ev->text : "", ev && ev->text ? ev->len : 0));
    }
    if (ev && ev->logprob) {
        json_t *content = json_array();
        json_array_append_new(content, logprob_entry(ev));
        json_object_set_new(choice, "logprobs", json_pack("{s:o}", "content", content));
    } else {
        json_object_set_new(choice, "logprobs", json_null());
    }
    json_object_set_new(choice, "finish_reason", finish ? json_string(finish) : json_null());
    json_object_set_new(c, "choices", json_pack("[o]", choice));
    sse_json(out, c);
}

void openai_resp_event(struct openai_resp *r, const struct event *ev, struct buf *out)
{
    switch (ev->type) {
    case EV_DELTA:
        if (r->req->stream) {
            stream_chunk(r, ev, NULL, out);
            break;
        }
        if (ev->text)
            buf_append(&r->content, ev->text, ev->len);
        if (ev->delta) {
            const json_t *tc = json_object_get(ev->delta, "tool_calls");
            if (json_is_array(tc))
                openai_merge_tool_calls(&r->tool_calls, tc);
        }
        if (ev->logprob) {
            if (!r->logprobs)
                r->logprobs = json_array();
            json_array_append_new(r->logprobs, logprob_entry(ev));
        }
        break;
    case EV_USAGE:
        r->prompt_tokens = ev->prompt_tokens;
        r->completion_tokens = ev->completion_tokens;
        r->have_usage = true;
        break;
    case EV_FINISH:
        r->finish_reason = ev->finish_reason ? ev->finish_reason : "stop";
        if (r->req->stream)
            stream_chunk(r, NULL, r->finish_reason, out);
        break;
    case EV_ERROR:
        break;
    }
}

void openai_resp_finish(struct openai_resp *r, struct buf *out)
{
    if (r->req->stream) {
        if (r->req->include_usage) {
            json_t *c = chunk_base(r);
            json_object_set_new(c, "choices", json_array());
            json_object_set_new(c, "usage", usage_json(r));
            sse_json(out, c);
        }
        buf_puts(out, "data: [DONE]\n\n");
        return;
    }
    bool chat = r->req->dialect == DIALECT_OPENAI_CHAT;
    json_t *choice;
    if (chat) {
        json_t *msg = json_pack("{s:s, s:o, s:n}", "role", "assistant", "content",
                                openai_json_text(r->content.data ? r->content.data : "", r->content.len),
                                "refusal");
        if (r->tool_calls) {
            json_object_set(msg, "tool_calls", r->tool_calls);
            if (r->content.len == 0)
                json_object_set_new(msg, "content", json_null());
        }
        choice = json_pack("{s:i, s:o}", "index", 0, "message", msg);
    } else {
        choice = json_pack("{s:i, s:o}", "index", 0, "text",
                           openai_json_text(r->content.data ? r->content.data : "", r->content.len));
    }
    json_object_set_new(choice, "logprobs", r->logprobs ? json_pack("{s:O}", "content", r->logprobs)
                                                        : json_null());
    json_object_set_new(choice, "finish_reason",
                        json_string(r->finish_reason ? r->finish_reason : "stop"));
    json_t *root = json_pack("{s:s, s:s, s:I, s:s, s:n, s:[o], s:o}", "id", r->req->id, "object",
                             chat ? "chat.completion" : "text_completion", "created",
                             (json_int_t)r->created, "model", r->model, "system_fingerprint",
                             "choices", choice, "usage", usage_json(r));
    char *s = json_dumps(root, JSON_COMPACT | JSON_REAL_PRECISION(12));
    buf_puts(out, s);
    free(s);
    json_decref(root);
}

void openai_stream_error(const struct api_error *e, struct buf *out)
{
    buf_puts(out, "data: ");
    api_error_json(e, out);
    buf_puts(out, "\n\n");
}
