/* anthropic: parsing and encoding of the Anthropic Messages dialect (see anthropic.h).
 *
 * Error messages follow Anthropic's "path: problem" style ("messages.1.content.0.type: ...") so
 * a developer finds the offending field at once.
 */
#include "api/anthropic.h"

#include "base/alloc.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#define BAD(e, param, ...) api_error_set(e, 400, "invalid_request_error", param, NULL, __VA_ARGS__)

static bool present(const json_t *v) { return v && !json_is_null(v); }

/* ---------------------------------------------------------------------------------------------
 * Parsing: Messages body -> OpenAI chat body */

/* The text of a tool_result's content: a string or text blocks. */
static int tool_result_text(const json_t *c, size_t i, size_t j, json_t **out, struct api_error *e)
{
    if (!present(c)) {
        *out = json_string("");
        return 0;
    }
    if (json_is_string(c)) {
        *out = json_copy((json_t *)c);
        return 0;
    }
    if (!json_is_array(c))
        return BAD(e, "messages", "messages.%zu.content.%zu.content: expected a string or an array"
                                  " of text blocks, got %s.", i, j, openai_json_type_name(c));
    json_t *parts = json_array();
    size_t k;
    json_t *b;
    json_array_foreach(c, k, b) {
        const char *t = json_string_value(json_object_get(b, "type"));
        const json_t *text = json_object_get(b, "text");
        if (!t || strcmp(t, "text") != 0 || !json_is_string(text)) {
            json_decref(parts);
            return BAD(e, "messages", "messages.%zu.content.%zu.content.%zu: only text blocks are"
                                      " supported in a tool_result (got type '%.40s').", i, j, k,
                       t ? t : "none");
        }
        json_array_append_new(parts, json_pack("{s:s, s:O}", "type", "text", "text", text));
    }
    *out = parts;
    return 0;
}

/* One Messages message -> zero or more OpenAI messages appended to msgs. */
static int translate_message(const json_t *m, size_t i, json_t *msgs, struct api_error *e)
{
    if (!json_is_object(m))
        return BAD(e, "messages", "messages.%zu: expected an object, got %s.", i, openai_json_type_name(m));
    const char *role = json_string_value(json_object_get(m, "role"));
    if (!role)
        return BAD(e, "messages", "messages.%zu.role: Field required (a string: 'user' or"
                                  " 'assistant').", i);
    bool user = strcmp(role, "user") == 0;
    if (!user && strcmp(role, "assistant") != 0)
        return BAD(e, "messages", "messages.%zu.role: Input should be 'user' or 'assistant', got"
                                  " '%.40s' (a system prompt goes in the top-level 'system').", i,
                   role);
    const json_t *c = json_object_get(m, "content");
    if (!c)
        return BAD(e, "messages", "messages.%zu.content: Field required.", i);
    if (json_is_string(c)) {
        json_array_append_new(msgs, json_pack("{s:s, s:O}", "role", role, "content", c));
        return 0;
    }
    if (!json_is_array(c))
        return BAD(e, "messages", "messages.%zu.content: expected a string or an array of content"
                                  " blocks, got %s.", i, openai_json_type_name(c));
    json_t *parts = json_array(), *calls = json_array(), *tools = json_array();
    size_t j;
    json_t *b;
    int rc = 0;
    json_array_foreach(c, j, b) {
        const char *t = json_string_value(json_object_get(b, "type"));
        if (!json_is_object(b) || !t) {
            rc = BAD(e, "messages", "messages.%zu.content.%zu: expected a content block object with"
                                    " a 'type'.", i, j);
            break;
        }
        if (strcmp(t, "text") == 0) {
            const json_t *text = json_object_get(b, "text");
            if (!json_is_string(text)) {
                rc = BAD(e, "messages", "messages.%zu.content.%zu.text: Field required (a string).",
                         i, j);
                break;
            }
            json_array_append_new(parts, json_pack("{s:s, s:O}", "type", "text", "text", text));
        } else if (strcmp(t, "tool_use") == 0 && !user) {
            const char *id = json_string_value(json_object_get(b, "id"));
            const char *name = json_string_value(json_object_get(b, "name"));
            const json_t *input = json_object_get(b, "input");
            if (!id || !name || !json_is_object(input)) {
                rc = BAD(e, "messages", "messages.%zu.content.%zu: a tool_use block needs 'id' and"
                                        " 'name' strings and an 'input' object.", i, j);
                break;
            }
            char *args = json_dumps(input, JSON_COMPACT);
            json_array_append_new(calls, json_pack("{s:s, s:s, s:{s:s, s:s}}", "id", id, "type",
                                                   "function", "function", "name", name,
                                                   "arguments", args));
            free(args);
        } else if (strcmp(t, "tool_result") == 0 && user) {
            const char *id = json_string_value(json_object_get(b, "tool_use_id"));
            if (!id) {
                rc = BAD(e, "messages", "messages.%zu.content.%zu.tool_use_id: Field required.", i,
                         j);
                break;
            }
            json_t *content = NULL;
            if ((rc = tool_result_text(json_object_get(b, "content"), i, j, &content, e)))
                break;
            json_array_append_new(tools, json_pack("{s:s, s:s, s:o}", "role", "tool",
                                                   "tool_call_id", id, "content", content));
        } else {
            rc = BAD(e, "messages", "messages.%zu.content.%zu.type: content block type '%.40s' is"
                                    " not supported by baton (supported: text; tool_use in"
                                    " assistant turns; tool_result in user turns).", i, j, t);
            break;
        }
    }
    if (rc == 0) {
        json_array_extend(msgs, tools); /* the results answer the previous assistant turn */
        if (user && (json_array_size(parts) || !json_array_size(tools)))
            json_array_append_new(msgs, json_pack("{s:s, s:O}", "role", "user", "content", parts));
        if (!user) {
            json_t *a = json_pack("{s:s, s:O}", "role", "assistant", "content", parts);
            if (json_array_size(calls)) {
                json_object_set(a, "tool_calls", calls);
                if (!json_array_size(parts))
                    json_object_set_new(a, "content", json_null());
            }
            json_array_append_new(msgs, a);
        }
    }
    json_decref(parts);
    json_decref(calls);
    json_decref(tools);
    return rc;
}

static int translate_system(const json_t *sys, json_t *msgs, struct api_error *e)
{
    if (!present(sys))
        return 0;
    if (json_is_string(sys)) {
        json_array_append_new(msgs, json_pack("{s:s, s:O}", "role", "system", "content", sys));
        return 0;
    }
    if (!json_is_array(sys))
        return BAD(e, "system", "system: expected a string or an array of text blocks, got %s.",
                   openai_json_type_name(sys));
    json_t *parts = json_array();
    size_t k;
    json_t *b;
    json_array_foreach(sys, k, b) {
        const char *t = json_string_value(json_object_get(b, "type"));
        const json_t *text = json_object_get(b, "text");
        if (!t || strcmp(t, "text") != 0 || !json_is_string(text)) {
            json_decref(parts);
            return BAD(e, "system", "system.%zu: only text blocks {\"type\": \"text\", \"text\":"
                                    " ...} are supported.", k);
        }
        json_array_append_new(parts, json_pack("{s:s, s:O}", "type", "text", "text", text));
    }
    json_array_append_new(msgs, json_pack("{s:s, s:o}", "role", "system", "content", parts));
    return 0;
}

static int translate_tools(const json_t *in, json_t *out, struct api_error *e)
{
    const json_t *tools = json_object_get(in, "tools");
    if (present(tools)) {
        if (!json_is_array(tools))
            return BAD(e, "tools", "tools: expected an array, got %s.", openai_json_type_name(tools));
        json_t *fns = json_array();
        size_t i;
        json_t *t;
        json_array_foreach(tools, i, t) {
            const char *type = json_string_value(json_object_get(t, "type"));
            const char *name = json_string_value(json_object_get(t, "name"));
            const json_t *schema = json_object_get(t, "input_schema");
            if (type && strcmp(type, "custom") != 0) {
                json_decref(fns);
                return BAD(e, "tools", "tools.%zu.type: server tool '%.60s' is not supported by"
                                       " baton; only client tools {name, description,"
                                       " input_schema} are.", i, type);
            }
            if (!name || !json_is_object(schema)) {
                json_decref(fns);
                return BAD(e, "tools", "tools.%zu: a tool needs a 'name' string and an"
                                       " 'input_schema' object.", i);
            }
            json_t *fn = json_pack("{s:s, s:O}", "name", name, "parameters", schema);
            const json_t *d = json_object_get(t, "description");
            if (json_is_string(d))
                json_object_set(fn, "description", (json_t *)d);
            json_array_append_new(fns, json_pack("{s:s, s:o}", "type", "function", "function", fn));
        }
        if (json_array_size(fns))
            json_object_set(out, "tools", fns);
        json_decref(fns);
    }
    const json_t *tc = json_object_get(in, "tool_choice");
    if (!present(tc))
        return 0;
    const char *type = json_string_value(json_object_get(tc, "type"));
    if (!json_is_object(tc) || !type)
        return BAD(e, "tool_choice", "tool_choice: expected an object with a 'type' (auto, any,"
                                     " tool or none).");
    if (strcmp(type, "auto") == 0 || strcmp(type, "none") == 0) {
        json_object_set_new(out, "tool_choice", json_string(type));
    } else if (strcmp(type, "any") == 0) {
        json_object_set_new(out, "tool_choice", json_string("required"));
    } else if (strcmp(type, "tool") == 0) {
        const char *name = json_string_value(json_object_get(tc, "name"));
        if (!name)
            return BAD(e, "tool_choice", "tool_choice.name: Field required for type 'tool'.");
        json_object_set_new(out, "tool_choice", json_pack("{s:s, s:{s:s}}", "type", "function",
                                                          "function", "name", name));
    } else {
        return BAD(e, "tool_choice", "tool_choice.type: Input should be 'auto', 'any', 'tool' or"
                                     " 'none', got '%.40s'.", type);
    }
    return 0;
}

static int number_in(const json_t *in, const char *key, double lo, double hi, json_t *out,
                     struct api_error *e)
{
    const json_t *v = json_object_get(in, key);
    if (!present(v))
        return 0;
    if (!json_is_number(v))
        return BAD(e, key, "%s: expected a number, got %s.", key, openai_json_type_name(v));
    double d = json_number_value(v);
    if (!(d >= lo && d <= hi))
        return BAD(e, key, "%s: %g is out of range [%g, %g].", key, d, lo, hi);
    json_object_set_new(out, key, json_real(d));
    return 0;
}

/* Builds the OpenAI chat body for a Messages body in; *top_k: -1 or the requested top_k. */
static int translate(const json_t *in, json_t *out, int64_t *top_k, struct api_error *e)
{
    if (!json_is_object(in))
        return BAD(e, NULL, "The request body must be a JSON object, got %s.", openai_json_type_name(in));
    const json_t *model = json_object_get(in, "model");
    if (!json_is_string(model) || json_string_length(model) == 0)
        return BAD(e, "model", "model: Field required (a non-empty string: a baton route or"
                               " tier).");
    json_object_set(out, "model", (json_t *)model);
    const json_t *mt = json_object_get(in, "max_tokens");
    if (!present(mt))
        return BAD(e, "max_tokens", "max_tokens: Field required.");
    if (!json_is_integer(mt) || json_integer_value(mt) < 1 || json_integer_value(mt) > INT32_MAX)
        return BAD(e, "max_tokens", "max_tokens: expected an integer >= 1.");
    json_object_set(out, "max_tokens", (json_t *)mt);
    const json_t *msgs = json_object_get(in, "messages");
    if (!present(msgs))
        return BAD(e, "messages", "messages: Field required.");
    if (!json_is_array(msgs) || json_array_size(msgs) == 0)
        return BAD(e, "messages", "messages: expected a non-empty array of messages.");
    json_t *omsgs = json_array();
    json_object_set_new(out, "messages", omsgs);
    if (translate_system(json_object_get(in, "system"), omsgs, e))
        return -1;
    size_t i;
    json_t *m;
    json_array_foreach(msgs, i, m)
        if (translate_message(m, i, omsgs, e))
            return -1;
    if (number_in(in, "temperature", 0, 1, out, e) || number_in(in, "top_p", 0, 1, out, e))
        return -1;
    const json_t *k = json_object_get(in, "top_k");
    *top_k = -1;
    if (present(k)) {
        if (!json_is_integer(k) || json_integer_value(k) < 0)
            return BAD(e, "top_k", "top_k: expected an integer >= 0.");
        *top_k = json_integer_value(k) > INT32_MAX ? INT32_MAX : json_integer_value(k);
    }
    const json_t *ss = json_object_get(in, "stop_sequences");
    if (present(ss)) {
        if (!json_is_array(ss))
            return BAD(e, "stop_sequences", "stop_sequences: expected an array of strings, got %s.",
                       openai_json_type_name(ss));
        if (json_array_size(ss) > 4)
            return BAD(e, "stop_sequences", "stop_sequences: baton supports at most 4, got %zu.",
                       json_array_size(ss));
        json_t *s;
        json_array_foreach(ss, i, s)
            if (!json_is_string(s))
                return BAD(e, "stop_sequences", "stop_sequences.%zu: expected a string, got %s.",
                           i, openai_json_type_name(s));
        json_object_set(out, "stop", (json_t *)ss);
    }
    const json_t *st = json_object_get(in, "stream");
    if (present(st)) {
        if (!json_is_boolean(st))
            return BAD(e, "stream", "stream: expected a boolean, got %s.", openai_json_type_name(st));
        json_object_set(out, "stream", (json_t *)st);
    }
    const json_t *md = json_object_get(in, "metadata");
    if (present(md)) {
        if (!json_is_object(md))
            return BAD(e, "metadata", "metadata: expected an object, got %s.", openai_json_type_name(md));
        const json_t *uid = json_object_get(md, "user_id");
        if (json_is_string(uid))
            json_object_set(out, "user", (json_t *)uid);
    }
    const json_t *th = json_object_get(in, "thinking");
    const char *tht = json_string_value(json_object_get(th, "type"));
    if (tht && strcmp(tht, "disabled") != 0)
        return BAD(e, "thinking", "thinking: extended thinking is not supported by baton; omit"
                                  " 'thinking' or set its type to 'disabled'.");
    if (present(json_object_get(in, "mcp_servers")))
        return BAD(e, "mcp_servers", "mcp_servers: MCP connectors are not supported by baton.");
    return translate_tools(in, out, e);
}

int anthropic_parse(const char *body, size_t len, struct request **out, struct api_error *e)
{
    json_error_t je;
    json_t *in = json_loadb(body, len, JSON_REJECT_DUPLICATES, &je);
    if (!in)
        return BAD(e, NULL, "The request body is not valid JSON: %s (line %d, column %d).",
                   je.text, je.line, je.column);
    json_t *oai = json_object();
    int64_t top_k = -1;
    int rc = translate(in, oai, &top_k, e);
    json_decref(in);
    if (rc) {
        json_decref(oai);
        return -1;
    }
    struct request *r;
    if (openai_parse_json(DIALECT_OPENAI_CHAT, oai, &r, e))
        return -1;
    if (top_k > 0) {
        r->has_top_k = true;
        r->top_k = (int32_t)top_k;
    }
    const char *dash = strchr(r->id, '-'); /* "chatcmpl-<hex>" -> "msg_<hex>" */
    char id[80];
    snprintf(id, sizeof id, "msg_%s", dash ? dash + 1 : r->id);
    free(r->id);
    r->id = xstrdup(id);
    *out = r;
    return 0;
}

/* ---------------------------------------------------------------------------------------------
 * Responses */

struct anthropic_resp {
    const struct request *req;
    const char *model;
    struct buf text;          /* non-stream: accumulated text */
    json_t *tool_calls;       /* non-stream: accumulated OpenAI tool calls, or NULL */
    const char *finish;       /* OpenAI finish reason */
    char *stop_sequence;      /* the stop string that ended the output, or NULL */
    int64_t in_tokens, out_tokens;
    /* stream */
    bool started;             /* message_start sent */
    int open;                 /* index of the open content block, -1: none */
    bool open_is_text;
    int64_t open_call;        /* the OpenAI tool call index of an open tool_use block */
    int n_blocks;
};

struct api_resp *anthropic_resp_new(const struct request *req, const char *model)
{
    struct anthropic_resp *r = xcalloc(1, sizeof *r);
    r->req = req;
    r->model = model;
    r->open = -1;
    buf_init(&r->text);
    return (struct api_resp *)r;
}

void anthropic_resp_free(struct api_resp *rp)
{
    struct anthropic_resp *r = (struct anthropic_resp *)rp;
    if (!r)
        return;
    buf_free(&r->text);
    if (r->tool_calls)
        json_decref(r->tool_calls);
    free(r->stop_sequence);
    free(r);
}

static void sse_event(struct buf *out, const char *name, json_t *obj)
{
    char *s = json_dumps(obj, JSON_COMPACT | JSON_REAL_PRECISION(12));
    buf_printf(out, "event: %s\ndata: %s\n\n", name, s);
    free(s);
    json_decref(obj);
}

static json_t *usage_json(const struct anthropic_resp *r)
{
    return json_pack("{s:I, s:I}", "input_tokens", (json_int_t)r->in_tokens, "output_tokens",
                     (json_int_t)r->out_tokens);
}

static void stream_start(struct anthropic_resp *r, struct buf *out)
{
    if (r->started)
        return;
    r->started = true;
    sse_event(out, "message_start",
              json_pack("{s:s, s:{s:s, s:s, s:s, s:s, s:[], s:n, s:n, s:{s:i, s:i}}}", "type",
                        "message_start", "message", "id", r->req->id, "type", "message", "role",
                        "assistant", "model", r->model, "content", "stop_reason", "stop_sequence",
                        "usage", "input_tokens", 0, "output_tokens", 0));
    sse_event(out, "ping", json_pack("{s:s}", "type", "ping"));
}

static void block_stop(struct anthropic_resp *r, struct buf *out)
{
    if (r->open < 0)
        return;
    sse_event(out, "content_block_stop",
              json_pack("{s:s, s:i}", "type", "content_block_stop", "index", r->open));
    r->open = -1;
}

static void block_start(struct anthropic_resp *r, json_t *block, struct buf *out)
{
    block_stop(r, out);
    r->open = r->n_blocks++;
    sse_event(out, "content_block_start", json_pack("{s:s, s:i, s:o}", "type",
                                                    "content_block_start", "index", r->open,
                                                    "content_block", block));
}

static void block_delta(struct anthropic_resp *r, json_t *delta, struct buf *out)
{
    sse_event(out, "content_block_delta", json_pack("{s:s, s:i, s:o}", "type",
                                                    "content_block_delta", "index", r->open,
                                                    "delta", delta));
}

/* Streams the tool-call deltas of an OpenAI delta object as tool_use blocks. */
static void stream_tool_calls(struct anthropic_resp *r, const json_t *calls, struct buf *out)
{
    size_t i;
    json_t *d;
    json_array_foreach(calls, i, d) {
        json_int_t idx = json_integer_value(json_object_get(d, "index"));
        const json_t *fn = json_object_get(d, "function");
        if (r->open < 0 || r->open_is_text || r->open_call != idx) {
            const char *id = json_string_value(json_object_get(d, "id"));
            const char *name = json_string_value(json_object_get(fn, "name"));
            char gen[48];
            if (!id || !*id) {
                snprintf(gen, sizeof gen, "toolu_%s_%d", r->req->id, r->n_blocks);
                id = gen;
            }
            block_start(r, json_pack("{s:s, s:s, s:s, s:{}}", "type", "tool_use", "id", id,
                                     "name", name ? name : "", "input"), out);
            r->open_is_text = false;
            r->open_call = idx;
        }
        const char *args = json_string_value(json_object_get(fn, "arguments"));
        if (args && *args)
            block_delta(r, json_pack("{s:s, s:s}", "type", "input_json_delta", "partial_json",
                                     args), out);
    }
}

void anthropic_resp_event(struct api_resp *rp, const struct event *ev, struct buf *out)
{
    struct anthropic_resp *r = (struct anthropic_resp *)rp;
    switch (ev->type) {
    case EV_DELTA: {
        const json_t *calls = ev->delta ? json_object_get(ev->delta, "tool_calls") : NULL;
        const json_t *content = ev->delta ? json_object_get(ev->delta, "content") : NULL;
        const char *text = ev->text;
        size_t len = ev->len;
        if (!text && json_is_string(content)) {
            text = json_string_value(content);
            len = json_string_length(content);
        }
        if (!r->req->stream) {
            if (text)
                buf_append(&r->text, text, len);
            if (json_is_array(calls))
                openai_merge_tool_calls(&r->tool_calls, calls);
            break;
        }
        stream_start(r, out);
        if (text && len) {
            if (r->open < 0 || !r->open_is_text) {
                block_start(r, json_pack("{s:s, s:s}", "type", "text", "text", ""), out);
                r->open_is_text = true;
            }
            block_delta(r, json_pack("{s:s, s:o}", "type", "text_delta", "text",
                                     openai_json_text(text, len)), out);
        }
        if (json_is_array(calls))
            stream_tool_calls(r, calls, out);
        break;
    }
    case EV_USAGE:
        r->in_tokens = ev->prompt_tokens;
        r->out_tokens = ev->completion_tokens;
        break;
    case EV_FINISH:
        r->finish = ev->finish_reason ? ev->finish_reason : "stop";
        free(r->stop_sequence);
        r->stop_sequence = ev->stop_sequence ? xstrdup(ev->stop_sequence) : NULL;
        break;
    case EV_ERROR:
        break;
    }
}

static const char *stop_reason(const struct anthropic_resp *r)
{
    const char *f = r->finish ? r->finish : "stop";
    if (strcmp(f, "length") == 0)
        return "max_tokens";
    if (strcmp(f, "tool_calls") == 0)
        return "tool_use";
    return r->stop_sequence ? "stop_sequence" : "end_turn";
}

void anthropic_resp_finish(struct api_resp *rp, int64_t cost_microusd, struct buf *out)
{
    (void)cost_microusd; /* in the x-baton-cost-usd header / trailer */
    struct anthropic_resp *r = (struct anthropic_resp *)rp;
    json_t *seq = r->stop_sequence ? json_string(r->stop_sequence) : json_null();
    if (r->req->stream) {
        stream_start(r, out);
        block_stop(r, out);
        sse_event(out, "message_delta",
                  json_pack("{s:s, s:{s:s, s:o}, s:o}", "type", "message_delta", "delta",
                            "stop_reason", stop_reason(r), "stop_sequence", seq, "usage",
                            usage_json(r)));
        sse_event(out, "message_stop", json_pack("{s:s}", "type", "message_stop"));
        return;
    }
    json_t *content = json_array();
    if (r->text.len || !r->tool_calls)
        json_array_append_new(content, json_pack("{s:s, s:o}", "type", "text", "text",
                                                 openai_json_text(r->text.data ? r->text.data : "",
                                                                  r->text.len)));
    size_t i;
    json_t *c;
    json_array_foreach(r->tool_calls, i, c) {
        const json_t *fn = json_object_get(c, "function");
        const char *args = json_string_value(json_object_get(fn, "arguments"));
        json_t *input = args && *args ? json_loads(args, 0, NULL) : NULL;
        if (!json_is_object(input)) { /* arguments that are not an object: kept, not lost */
            if (input)
                json_decref(input);
            input = args && *args ? json_pack("{s:s}", "arguments", args) : json_object();
        }
        const char *id = json_string_value(json_object_get(c, "id"));
        json_array_append_new(content, json_pack("{s:s, s:s, s:s, s:o}", "type", "tool_use", "id",
                                                 id && *id ? id : "toolu_0", "name",
                                                 json_string_value(json_object_get(fn, "name")),
                                                 "input", input));
    }
    json_t *root = json_pack("{s:s, s:s, s:s, s:s, s:o, s:s, s:o, s:o}", "id", r->req->id, "type",
                             "message", "role", "assistant", "model", r->model, "content", content,
                             "stop_reason", stop_reason(r), "stop_sequence", seq, "usage",
                             usage_json(r));
    char *s = json_dumps(root, JSON_COMPACT | JSON_REAL_PRECISION(12));
    buf_puts(out, s);
    free(s);
    json_decref(root);
}

/* ---------------------------------------------------------------------------------------------
 * Errors */

const char *anthropic_error_type(int status)
{
    switch (status) {
    case 401: return "authentication_error";
    case 402: return "billing_error";
    case 403: return "permission_error";
    case 404: return "not_found_error";
    case 413: return "request_too_large";
    case 429: return "rate_limit_error";
    case 503: case 529: return "overloaded_error";
    default: return status >= 500 ? "api_error" : "invalid_request_error";
    }
}

static json_t *error_obj(const struct api_error *e)
{
    return json_pack("{s:s, s:{s:s, s:o}}", "type", "error", "error", "type",
                     anthropic_error_type(e->status), "message",
                     openai_json_text(e->message, strlen(e->message)));
}

void anthropic_error_json(const struct api_error *e, struct buf *out)
{
    json_t *o = error_obj(e);
    char *s = json_dumps(o, JSON_COMPACT);
    buf_puts(out, s);
    free(s);
    json_decref(o);
}

void anthropic_stream_error(const struct api_error *e, struct buf *out)
{
    sse_event(out, "error", error_obj(e));
}
