/* ollama: parsing and encoding of the Ollama dialect (see ollama.h).
 *
 * Durations are measured from the response's creation (when a tier started on it): prompt_eval
 * up to the first output, eval from there to the end. created_at is RFC 3339 UTC with
 * nanoseconds, as Ollama writes it.
 */
#include "api/ollama.h"

#include "base/alloc.h"

#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#define BAD(e, param, ...) api_error_set(e, 400, "invalid_request_error", param, NULL, __VA_ARGS__)

static bool present(const json_t *v) { return v && !json_is_null(v); }

static bool nonempty_array(const json_t *v) { return json_is_array(v) && json_array_size(v) > 0; }

/* ---------------------------------------------------------------------------------------------
 * Parsing: Ollama body -> OpenAI body */

/* format: "json", a JSON schema object, or "" / null (free text). */
static int translate_format(const json_t *in, json_t *out, struct api_error *e)
{
    const json_t *f = json_object_get(in, "format");
    if (!present(f) || (json_is_string(f) && json_string_length(f) == 0))
        return 0;
    if (json_is_string(f)) {
        if (strcmp(json_string_value(f), "json") != 0)
            return BAD(e, "format", "format: expected \"json\" or a JSON schema object, got"
                                    " \"%.40s\".", json_string_value(f));
        json_object_set_new(out, "response_format", json_pack("{s:s}", "type", "json_object"));
        return 0;
    }
    if (!json_is_object(f))
        return BAD(e, "format", "format: expected \"json\" or a JSON schema object, got %s.",
                   openai_json_type_name(f));
    json_object_set_new(out, "response_format",
                        json_pack("{s:s, s:{s:s, s:O}}", "type", "json_schema", "json_schema",
                                  "name", "format", "schema", f));
    return 0;
}

static int option_number(const json_t *opts, const char *key, const char *to, double lo,
                         double hi, json_t *out, struct api_error *e)
{
    const json_t *v = json_object_get(opts, key);
    if (!present(v))
        return 0;
    if (!json_is_number(v))
        return BAD(e, "options", "options.%s: expected a number, got %s.", key, openai_json_type_name(v));
    double d = json_number_value(v);
    if (!(d >= lo && d <= hi))
        return BAD(e, "options", "options.%s: %g is out of range [%g, %g].", key, d, lo, hi);
    json_object_set_new(out, to, json_real(d));
    return 0;
}

/* options -> sampling fields of out; *top_k: -1 or the requested top_k. */
static int translate_options(const json_t *in, json_t *out, int64_t *top_k, struct api_error *e)
{
    *top_k = -1;
    const json_t *o = json_object_get(in, "options");
    if (!present(o))
        return 0;
    if (!json_is_object(o))
        return BAD(e, "options", "options: expected an object, got %s.", openai_json_type_name(o));
    if (option_number(o, "temperature", "temperature", 0, 2, out, e) ||
        option_number(o, "top_p", "top_p", 0, 1, out, e))
        return -1;
    const char *ints[] = {"top_k", "seed", "num_predict"};
    for (int i = 0; i < 3; i++) {
        const json_t *v = json_object_get(o, ints[i]);
        if (!present(v))
            continue;
        if (!json_is_integer(v))
            return BAD(e, "options", "options.%s: expected an integer, got %s.", ints[i],
                       openai_json_type_name(v));
        json_int_t n = json_integer_value(v);
        if (i == 0) {
            if (n < 0)
                return BAD(e, "options", "options.top_k: expected an integer >= 0.");
            *top_k = n > INT32_MAX ? INT32_MAX : n;
        } else if (i == 1) {
            json_object_set_new(out, "seed", json_integer(n));
        } else if (n > 0) { /* -1 (unlimited), -2 (fill the context), 0: the tier's default */
            json_object_set_new(out, "max_tokens", json_integer(n > INT32_MAX ? INT32_MAX : n));
        }
    }
    const json_t *stop = json_object_get(o, "stop");
    if (present(stop)) {
        if (json_is_string(stop)) {
            json_object_set(out, "stop", (json_t *)stop);
        } else {
            if (!json_is_array(stop))
                return BAD(e, "options", "options.stop: expected an array of strings, got %s.",
                           openai_json_type_name(stop));
            if (json_array_size(stop) > 4)
                return BAD(e, "options", "options.stop: baton supports at most 4 stop strings,"
                                         " got %zu.", json_array_size(stop));
            size_t i;
            json_t *s;
            json_array_foreach(stop, i, s)
                if (!json_is_string(s))
                    return BAD(e, "options", "options.stop[%zu]: expected a string, got %s.", i,
                               openai_json_type_name(s));
            json_object_set(out, "stop", (json_t *)stop);
        }
    }
    return 0;
}

/* model, stream (default true), format, options: what chat and generate share. */
static int translate_common(const json_t *in, json_t *out, int64_t *top_k, struct api_error *e)
{
    const json_t *model = json_object_get(in, "model");
    if (!json_is_string(model) || json_string_length(model) == 0)
        return BAD(e, "model", "model is required (a non-empty string: a baton route or tier)");
    json_object_set(out, "model", (json_t *)model);
    const json_t *st = json_object_get(in, "stream");
    if (present(st) && !json_is_boolean(st))
        return BAD(e, "stream", "stream: expected a boolean, got %s.", openai_json_type_name(st));
    json_object_set_new(out, "stream", json_boolean(!present(st) || json_is_true(st)));
    if (nonempty_array(json_object_get(in, "images")))
        return BAD(e, "images", "images are not supported by baton");
    if (translate_format(in, out, e))
        return -1;
    return translate_options(in, out, top_k, e);
}

static int translate_chat(const json_t *in, json_t *out, int64_t *top_k, struct api_error *e)
{
    if (!json_is_object(in))
        return BAD(e, NULL, "the request body must be a JSON object, got %s", openai_json_type_name(in));
    if (translate_common(in, out, top_k, e))
        return -1;
    const json_t *msgs = json_object_get(in, "messages");
    if (!json_is_array(msgs) || json_array_size(msgs) == 0)
        return BAD(e, "messages", "messages is required: a non-empty array of {\"role\","
                                  " \"content\"} objects");
    json_t *omsgs = json_array();
    json_object_set_new(out, "messages", omsgs);
    json_t *pending = json_array(); /* ids of the last assistant turn's calls not yet answered */
    int rc = 0;
    size_t i;
    json_t *m;
    json_array_foreach(msgs, i, m) {
        const char *role = json_string_value(json_object_get(m, "role"));
        if (!json_is_object(m) || !role) {
            rc = BAD(e, "messages", "messages[%zu]: expected an object with a 'role' string", i);
            break;
        }
        if (strcmp(role, "system") && strcmp(role, "user") && strcmp(role, "assistant") &&
            strcmp(role, "tool")) {
            rc = BAD(e, "messages", "messages[%zu].role: '%.40s' is not one of system, user,"
                                    " assistant, tool", i, role);
            break;
        }
        const json_t *c = json_object_get(m, "content");
        if (present(c) && !json_is_string(c)) {
            rc = BAD(e, "messages", "messages[%zu].content: expected a string, got %s", i,
                     openai_json_type_name(c));
            break;
        }
        if (nonempty_array(json_object_get(m, "images"))) {
            rc = BAD(e, "messages", "messages[%zu].images: images are not supported by baton", i);
            break;
        }
        json_t *om = json_pack("{s:s, s:s}", "role", role, "content",
                               json_is_string(c) ? json_string_value(c) : "");
        json_array_append_new(omsgs, om);
        const json_t *calls = json_object_get(m, "tool_calls");
        if (strcmp(role, "assistant") == 0 && nonempty_array(calls)) {
            json_array_clear(pending);
            json_t *ocalls = json_array();
            size_t j;
            json_t *tc;
            json_array_foreach(calls, j, tc) {
                const json_t *fn = json_object_get(tc, "function");
                const char *name = json_string_value(json_object_get(fn, "name"));
                const json_t *args = json_object_get(fn, "arguments");
                if (!name || (present(args) && !json_is_object(args) && !json_is_string(args))) {
                    rc = BAD(e, "messages", "messages[%zu].tool_calls[%zu]: expected"
                                            " {\"function\": {\"name\": ..., \"arguments\":"
                                            " {...}}}", i, j);
                    break;
                }
                char *a = json_is_string(args) ? xstrdup(json_string_value(args))
                          : present(args)      ? json_dumps(args, JSON_COMPACT)
                                               : xstrdup("{}");
                char id[48];
                snprintf(id, sizeof id, "call_%zu_%zu", i, j);
                json_array_append_new(ocalls, json_pack("{s:s, s:s, s:{s:s, s:s}}", "id", id,
                                                        "type", "function", "function", "name",
                                                        name, "arguments", a));
                json_array_append_new(pending, json_string(id));
                free(a);
            }
            json_object_set_new(om, "tool_calls", ocalls);
            if (rc)
                break;
        }
        if (strcmp(role, "tool") == 0) {
            char id[48];
            if (json_array_size(pending)) {
                snprintf(id, sizeof id, "%s", json_string_value(json_array_get(pending, 0)));
                json_array_remove(pending, 0);
            } else {
                snprintf(id, sizeof id, "call_%zu", i);
            }
            json_object_set_new(om, "tool_call_id", json_string(id));
            const json_t *tn = json_object_get(m, "tool_name");
            if (json_is_string(tn))
                json_object_set(om, "name", (json_t *)tn);
        }
    }
    json_decref(pending);
    if (rc)
        return -1;
    const json_t *tools = json_object_get(in, "tools");
    if (present(tools)) {
        if (!json_is_array(tools))
            return BAD(e, "tools", "tools: expected an array, got %s.", openai_json_type_name(tools));
        if (json_array_size(tools))
            json_object_set(out, "tools", (json_t *)tools);
    }
    return 0;
}

static int translate_generate(const json_t *in, json_t *out, bool *raw, int64_t *top_k,
                              struct api_error *e)
{
    if (!json_is_object(in))
        return BAD(e, NULL, "the request body must be a JSON object, got %s", openai_json_type_name(in));
    if (translate_common(in, out, top_k, e))
        return -1;
    const json_t *p = json_object_get(in, "prompt");
    if (!json_is_string(p))
        return BAD(e, "prompt", "prompt is required (a string)");
    const json_t *sys = json_object_get(in, "system");
    if (present(sys) && !json_is_string(sys))
        return BAD(e, "system", "system: expected a string, got %s.", openai_json_type_name(sys));
    const json_t *rv = json_object_get(in, "raw");
    if (present(rv) && !json_is_boolean(rv))
        return BAD(e, "raw", "raw: expected a boolean, got %s.", openai_json_type_name(rv));
    *raw = json_is_true(rv);
    const json_t *t = json_object_get(in, "template");
    if (json_is_string(t) && json_string_length(t))
        return BAD(e, "template", "template: custom prompt templates are not supported by baton"
                                  " (the model's chat template applies; use \"raw\": true to"
                                  " send a prompt as is)");
    const json_t *sfx = json_object_get(in, "suffix");
    if (json_is_string(sfx) && json_string_length(sfx))
        return BAD(e, "suffix", "suffix (fill-in-the-middle) is not supported by baton");
    if (nonempty_array(json_object_get(in, "context")))
        return BAD(e, "context", "context (the deprecated token context) is not supported by"
                                 " baton; send the conversation to /api/chat instead");
    if (*raw) {
        json_object_set(out, "prompt", (json_t *)p);
        return 0;
    }
    json_t *msgs = json_array();
    if (json_is_string(sys) && json_string_length(sys))
        json_array_append_new(msgs, json_pack("{s:s, s:O}", "role", "system", "content", sys));
    json_array_append_new(msgs, json_pack("{s:s, s:O}", "role", "user", "content", p));
    json_object_set_new(out, "messages", msgs);
    return 0;
}

static int finish_parse(json_t *oai, enum dialect d, int64_t top_k, struct request **out,
                        struct api_error *e)
{
    struct request *r;
    if (openai_parse_json(d, oai, &r, e))
        return -1;
    if (top_k > 0) {
        r->has_top_k = true;
        r->top_k = (int32_t)top_k;
    }
    *out = r;
    return 0;
}

static json_t *load(const char *body, size_t len, struct api_error *e)
{
    json_error_t je;
    json_t *in = json_loadb(body, len, JSON_REJECT_DUPLICATES, &je);
    if (!in)
        BAD(e, NULL, "invalid JSON body: %s (line %d, column %d)", je.text, je.line, je.column);
    return in;
}

int ollama_parse_chat(const char *body, size_t len, struct request **out, struct api_error *e)
{
    json_t *in = load(body, len, e);
    if (!in)
        return -1;
    json_t *oai = json_object();
    int64_t top_k;
    int rc = translate_chat(in, oai, &top_k, e);
    json_decref(in);
    if (rc) {
        json_decref(oai);
        return -1;
    }
    return finish_parse(oai, DIALECT_OPENAI_CHAT, top_k, out, e);
}

int ollama_parse_generate(const char *body, size_t len, struct request **out,
                          struct api_error *e)
{
    json_t *in = load(body, len, e);
    if (!in)
        return -1;
    json_t *oai = json_object();
    int64_t top_k;
    bool raw = false;
    int rc = translate_generate(in, oai, &raw, &top_k, e);
    json_decref(in);
    if (rc) {
        json_decref(oai);
        return -1;
    }
    return finish_parse(oai, raw ? DIALECT_OPENAI_COMPLETION : DIALECT_OPENAI_CHAT, top_k, out, e);
}

/* ---------------------------------------------------------------------------------------------
 * Responses */

struct ollama_resp {
    const struct request *req;
    const char *model;
    bool generate;          /* "response" instead of "message" */
    int64_t t0_ns, t_first_ns;
    struct buf text;        /* non-stream: accumulated text */
    json_t *tool_calls;     /* accumulated OpenAI tool calls, or NULL */
    const char *finish;
    int64_t in_tokens, out_tokens;
};

static int64_t mono_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static json_t *created_at(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    struct tm tm;
    gmtime_r(&ts.tv_sec, &tm);
    char s[64];
    size_t n = strftime(s, sizeof s, "%Y-%m-%dT%H:%M:%S", &tm);
    snprintf(s + n, sizeof s - n, ".%09ldZ", (long)ts.tv_nsec);
    return json_string(s);
}

static struct api_resp *resp_new(const struct request *req, const char *model, bool generate)
{
    struct ollama_resp *r = xcalloc(1, sizeof *r);
    r->req = req;
    r->model = model;
    r->generate = generate;
    r->t0_ns = mono_ns();
    buf_init(&r->text);
    return (struct api_resp *)r;
}

struct api_resp *ollama_resp_new_chat(const struct request *req, const char *model)
{
    return resp_new(req, model, false);
}

struct api_resp *ollama_resp_new_generate(const struct request *req, const char *model)
{
    return resp_new(req, model, true);
}

void ollama_resp_free(struct api_resp *rp)
{
    struct ollama_resp *r = (struct ollama_resp *)rp;
    if (!r)
        return;
    buf_free(&r->text);
    if (r->tool_calls)
        json_decref(r->tool_calls);
    free(r);
}

static void put_line(struct buf *out, json_t *obj)
{
    char *s = json_dumps(obj, JSON_COMPACT | JSON_REAL_PRECISION(12));
    buf_puts(out, s);
    buf_putc(out, '\n');
    free(s);
    json_decref(obj);
}

/* {"model", "created_at", "message"|"response": text, "done"} */
static json_t *chunk(const struct ollama_resp *r, const char *text, size_t len, bool done)
{
    json_t *o = json_pack("{s:s, s:o}", "model", r->model, "created_at", created_at());
    json_t *t = openai_json_text(text, len);
    if (r->generate)
        json_object_set_new(o, "response", t);
    else
        json_object_set_new(o, "message", json_pack("{s:s, s:o}", "role", "assistant", "content",
                                                    t));
    json_object_set_new(o, "done", json_boolean(done));
    return o;
}

void ollama_resp_event(struct api_resp *rp, const struct event *ev, struct buf *out)
{
    struct ollama_resp *r = (struct ollama_resp *)rp;
    switch (ev->type) {
    case EV_DELTA: {
        if (!r->t_first_ns)
            r->t_first_ns = mono_ns();
        const json_t *calls = ev->delta ? json_object_get(ev->delta, "tool_calls") : NULL;
        const json_t *content = ev->delta ? json_object_get(ev->delta, "content") : NULL;
        const char *text = ev->text;
        size_t len = ev->len;
        if (!text && json_is_string(content)) {
            text = json_string_value(content);
            len = json_string_length(content);
        }
        if (json_is_array(calls)) /* Ollama sends a call whole: with the final line */
            openai_merge_tool_calls(&r->tool_calls, calls);
        if (!text || !len)
            break;
        if (r->req->stream)
            put_line(out, chunk(r, text, len, false));
        else
            buf_append(&r->text, text, len);
        break;
    }
    case EV_USAGE:
        r->in_tokens = ev->prompt_tokens;
        r->out_tokens = ev->completion_tokens;
        break;
    case EV_FINISH:
        r->finish = ev->finish_reason ? ev->finish_reason : "stop";
        break;
    case EV_ERROR:
        break;
    }
}

/* OpenAI tool calls -> Ollama's {"function": {"name", "arguments": {...}}}. */
static json_t *ollama_calls(const json_t *calls)
{
    json_t *a = json_array();
    size_t i;
    json_t *c;
    json_array_foreach(calls, i, c) {
        const json_t *fn = json_object_get(c, "function");
        const char *args = json_string_value(json_object_get(fn, "arguments"));
        json_t *obj = args && *args ? json_loads(args, 0, NULL) : json_object();
        if (!json_is_object(obj)) { /* not an object: kept as the raw text */
            if (obj)
                json_decref(obj);
            obj = json_pack("{s:s}", "arguments", args ? args : "");
        }
        const char *name = json_string_value(json_object_get(fn, "name"));
        json_array_append_new(a, json_pack("{s:{s:s, s:o}}", "function", "name", name ? name : "",
                                           "arguments", obj));
    }
    return a;
}

void ollama_resp_finish(struct api_resp *rp, int64_t cost_microusd, struct buf *out)
{
    (void)cost_microusd; /* in the x-baton-cost-usd header / trailer */
    struct ollama_resp *r = (struct ollama_resp *)rp;
    int64_t now = mono_ns(), first = r->t_first_ns ? r->t_first_ns : now;
    json_t *o = r->req->stream ? chunk(r, "", 0, true)
                               : chunk(r, r->text.data ? r->text.data : "", r->text.len, true);
    if (r->tool_calls && !r->generate)
        json_object_set_new(json_object_get(o, "message"), "tool_calls",
                            ollama_calls(r->tool_calls));
    const char *f = r->finish ? r->finish : "stop";
    json_object_set_new(o, "done_reason",
                        json_string(strcmp(f, "tool_calls") == 0 ? "stop" : f));
    json_object_set_new(o, "total_duration", json_integer(now - r->t0_ns));
    json_object_set_new(o, "load_duration", json_integer(0));
    json_object_set_new(o, "prompt_eval_count", json_integer(r->in_tokens));
    json_object_set_new(o, "prompt_eval_duration", json_integer(first - r->t0_ns));
    json_object_set_new(o, "eval_count", json_integer(r->out_tokens));
    json_object_set_new(o, "eval_duration", json_integer(now - first));
    if (r->req->stream) {
        put_line(out, o);
    } else {
        char *s = json_dumps(o, JSON_COMPACT | JSON_REAL_PRECISION(12));
        buf_puts(out, s);
        free(s);
        json_decref(o);
    }
}

/* ---------------------------------------------------------------------------------------------
 * Errors and the model endpoints */

void ollama_error_json(const struct api_error *e, struct buf *out)
{
    json_t *o = json_pack("{s:o}", "error", openai_json_text(e->message, strlen(e->message)));
    char *s = json_dumps(o, JSON_COMPACT);
    buf_puts(out, s);
    free(s);
    json_decref(o);
}

void ollama_stream_error(const struct api_error *e, struct buf *out)
{
    ollama_error_json(e, out);
    buf_putc(out, '\n');
}

static json_t *details(const struct api_model *m)
{
    bool local = strcmp(m->owned_by, "baton-local") == 0;
    return json_pack("{s:s, s:s, s:s, s:[s], s:s, s:s}", "parent_model", "", "format",
                     local ? "gguf" : "", "family", m->owned_by, "families", m->owned_by,
                     "parameter_size", "", "quantization_level", "");
}

void ollama_tags(const struct api_model *models, size_t n, struct buf *out)
{
    json_t *list = json_array();
    for (size_t i = 0; i < n; i++)
        json_array_append_new(list, json_pack("{s:s, s:s, s:o, s:i, s:s, s:o}", "name",
                                              models[i].name, "model", models[i].name,
                                              "modified_at", created_at(), "size", 0, "digest", "",
                                              "details", details(&models[i])));
    json_t *o = json_pack("{s:o}", "models", list);
    char *s = json_dumps(o, JSON_COMPACT);
    buf_puts(out, s);
    free(s);
    json_decref(o);
}

int ollama_show(const char *body, size_t len, const struct api_model *models, size_t n,
                struct buf *out, struct api_error *e)
{
    json_t *in = load(body, len, e);
    if (!in)
        return -1;
    const char *name = json_string_value(json_object_get(in, "model"));
    if (!name)
        name = json_string_value(json_object_get(in, "name"));
    if (!name) {
        json_decref(in);
        return BAD(e, "model", "model is required (a string)");
    }
    for (size_t i = 0; i < n; i++) {
        if (strcmp(models[i].name, name) != 0)
            continue;
        json_t *o = json_pack("{s:s, s:s, s:s, s:o, s:{}, s:[s], s:o}", "modelfile", "",
                              "parameters", "", "template", "", "details", details(&models[i]),
                              "model_info", "capabilities", "completion", "modified_at",
                              created_at());
        char *s = json_dumps(o, JSON_COMPACT);
        buf_puts(out, s);
        free(s);
        json_decref(o);
        json_decref(in);
        return 0;
    }
    api_error_set(e, 404, "invalid_request_error", "model", "model_not_found",
                  "model '%.200s' not found", name);
    json_decref(in);
    return -1;
}
