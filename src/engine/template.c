/* template: the public side of the chat-template engine (template.h): parse once, render a
 * conversation many times. The engine itself is jinja_lex.c, jinja_parse.c, jinja_value.c and
 * jinja_eval.c (overview in jinja_impl.h).
 *
 * A render passes the variables @huggingface/jinja's usual callers (transformers' and
 * llama.cpp's apply_chat_template) pass: messages, tools (none when absent), add_generation_prompt,
 * bos_token, eos_token, plus the caller's extra variables; see docs/templates.md.
 */
#include "engine/template.h"

#include "base/alloc.h"
#include "base/utf8.h"
#include "engine/jinja_impl.h"

#include <string.h>

/* Parsing deeper than this is refused (real templates nest a dozen levels). */
#define TMPL_PARSE_MAX_DEPTH 200

struct tmpl {
    struct jinja_arena arena; /* the source copy, tokens and nodes */
    struct jinja_program prog;
};

struct tmpl_limits tmpl_default_limits(void)
{
    return (struct tmpl_limits){
        .max_output_bytes = 32u << 20,
        .max_memory_bytes = 256u << 20,
        .max_steps = 50000000,
        .max_depth = 500,
    };
}

int tmpl_parse(const char *src, size_t len, struct tmpl **out, struct err *e)
{
    struct tmpl *t = xcalloc(1, sizeof *t);
    /* tokens, nodes and the preprocessed copy take well under 256 bytes per source byte */
    jinja_arena_init(&t->arena, len > SIZE_MAX / 512 ? SIZE_MAX / 2 : (64u << 20) + 256 * len);
    struct jinja_ctx c = {.arena = &t->arena, .e = e, .oom_code = TMPL_ERR_SYNTAX};
    *out = NULL;
    if (setjmp(c.jb)) {
        tmpl_free(t);
        return c.code;
    }
    /* Invalid UTF-8 reads as U+FFFD, as it does where the reference decodes the file. */
    const char *text = src;
    size_t n = len;
    if (!utf8_valid(src, len)) {
        struct buf b;
        buf_init(&b);
        utf8_sanitize(src, len, &b);
        char *copy = jinja_strdup(&c, b.data ? b.data : "", b.len);
        n = b.len;
        buf_free(&b);
        text = copy;
    }
    struct jinja_token *toks;
    size_t n_toks;
    jinja_tokenize(&c, text, n, &toks, &n_toks);
    jinja_parse(&c, toks, n_toks, &t->prog, TMPL_PARSE_MAX_DEPTH);
    *out = t;
    return TMPL_OK;
}

void tmpl_free(struct tmpl *t)
{
    if (!t)
        return;
    jinja_arena_free(&t->arena);
    free(t);
}

/* Names a caller may not pass as extra variables: the reference declares them first. */
static const char *const g_reserved[] = {
    "true", "false", "none", "True", "False", "None", "raise_exception", "range",
    "strftime_now", "namespace",
};

/* Messages with each tool call's function.arguments parsed when it is a JSON string holding an
 * object or array (what templates expect: `tool_call.arguments | tojson`, `.items()`). Returns
 * a new reference (a copy only if something changed). */
static json_t *normalize_messages(const json_t *messages)
{
    json_t *copy = NULL;
    size_t i;
    json_t *m;
    json_array_foreach(messages, i, m)
    {
        json_t *calls = json_object_get(m, "tool_calls");
        if (!json_is_array(calls))
            continue;
        size_t k;
        json_t *call;
        json_array_foreach(calls, k, call)
        {
            json_t *fn = json_object_get(call, "function");
            json_t *args = json_object_get(fn, "arguments");
            if (!json_is_string(args))
                continue;
            json_t *parsed = json_loadb(json_string_value(args), json_string_length(args),
                                        JSON_DECODE_ANY, NULL);
            if (!json_is_object(parsed) && !json_is_array(parsed)) {
                json_decref(parsed);
                continue;
            }
            if (!copy)
                copy = json_deep_copy(messages);
            json_t *copy_call = json_array_get(json_object_get(json_array_get(copy, i), "tool_calls"), k);
            json_object_set_new(json_object_get(copy_call, "function"), "arguments", parsed);
        }
    }
    return copy ? copy : json_incref((json_t *)messages);
}

int tmpl_render_chat(const struct tmpl *t, const struct tmpl_chat *in, struct buf *out,
                     struct err *e)
{
    if (!json_is_array(in->messages))
        return err_set(e, "messages must be an array"), TMPL_ERR_INPUT;
    if (in->tools && !json_is_array(in->tools) && !json_is_null(in->tools))
        return err_set(e, "tools must be an array"), TMPL_ERR_INPUT;
    if (in->extra && !json_is_object(in->extra))
        return err_set(e, "extra template variables must be a JSON object"), TMPL_ERR_INPUT;
    const char *key;
    json_t *val;
    if (in->extra)
        json_object_foreach((json_t *)in->extra, key, val)
        {
            for (size_t i = 0; i < sizeof g_reserved / sizeof *g_reserved; i++)
                if (strcmp(key, g_reserved[i]) == 0)
                    return err_set(e, "template variable '%s' cannot be set: the template "
                                      "language defines it", key),
                           TMPL_ERR_INPUT;
        }

    struct tmpl_limits lim = tmpl_default_limits();
    if (in->limits) {
        if (in->limits->max_output_bytes)
            lim.max_output_bytes = in->limits->max_output_bytes;
        if (in->limits->max_memory_bytes)
            lim.max_memory_bytes = in->limits->max_memory_bytes;
        if (in->limits->max_steps)
            lim.max_steps = in->limits->max_steps;
        if (in->limits->max_depth)
            lim.max_depth = in->limits->max_depth;
    }
    struct jinja_limits jl = {lim.max_output_bytes, lim.max_steps, lim.max_depth};

    json_t *messages = normalize_messages(in->messages);
    struct jinja_arena arena;
    jinja_arena_init(&arena, lim.max_memory_bytes);
    struct jinja_ctx c = {.arena = &arena, .e = e, .oom_code = TMPL_ERR_RENDER};
    if (setjmp(c.jb)) {
        jinja_arena_free(&arena);
        json_decref(messages);
        return c.code;
    }
    size_t n_extra = in->extra ? json_object_size(in->extra) : 0;
    struct jinja_var *vars = jinja_alloc(&c, (5 + n_extra) * sizeof *vars);
    size_t n = 0;
    vars[n++] = (struct jinja_var){"messages", jinja_from_json(&c, messages, 0)};
    vars[n++] = (struct jinja_var){
        "tools", in->tools ? jinja_from_json(&c, in->tools, 0) : jinja_null};
    vars[n++] = (struct jinja_var){"add_generation_prompt", jv_bool(in->add_generation_prompt)};
    vars[n++] = (struct jinja_var){"bos_token", jv_cstr(in->bos_token ? in->bos_token : "")};
    vars[n++] = (struct jinja_var){"eos_token", jv_cstr(in->eos_token ? in->eos_token : "")};
    if (in->extra)
        json_object_foreach((json_t *)in->extra, key, val)
        {
            struct jinja_var v = {key, jinja_from_json(&c, val, 0)};
            size_t k = 0;
            while (k < n && strcmp(vars[k].name, key) != 0)
                k++;
            vars[k] = v; /* an extra variable replaces a standard one of the same name */
            if (k == n)
                n++;
        }
    struct jinja_sb sb;
    jinja_sb_init(&sb, lim.max_output_bytes);
    jinja_render(&c, &t->prog, vars, n, in->now, &jl, &sb);
    buf_append(out, sb.p ? sb.p : "", sb.len);
    jinja_arena_free(&arena);
    json_decref(messages);
    return TMPL_OK;
}
