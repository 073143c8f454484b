/* local_plan: prompt, grammar and tool-call parsing for one local request (see local_plan.h). */
#include "backend/local_plan.h"

#include "base/alloc.h"
#include "base/buf.h"
#include "engine/json_schema.h"
#include "engine/template.h"

#include <string.h>

static int refuse(struct local_plan_error *pe, int status, const char *param, const char *code)
{
    pe->status = status;
    pe->param = param;
    pe->code = code;
    return -1;
}

/* The conversation as the template sees it: the client's messages, with multi-part content
 * flattened to its text (as struct request holds it) and role "developer" read as "system"
 * (OpenAI's meaning; templates know only system). Caller owns the result. */
static json_t *template_messages(const struct request *r)
{
    const json_t *src = json_object_get(r->body, "messages");
    json_t *msgs = json_array();
    for (size_t i = 0; i < r->n_messages; i++) {
        const json_t *m = json_array_get(src, i);
        json_t *copy = json_is_object(m) ? json_deep_copy(m) : json_object();
        json_t *content = json_object_get(copy, "content");
        if (content && !json_is_string(content) && !json_is_null(content))
            json_object_set_new(copy, "content", json_string(r->messages[i].content));
        if (r->messages[i].role == ROLE_DEVELOPER)
            json_object_set_new(copy, "role", json_string("system"));
        json_array_append_new(msgs, copy);
    }
    return msgs;
}

enum choice { CHOICE_AUTO, CHOICE_NONE, CHOICE_REQUIRED, CHOICE_NAMED };

/* tool_choice: "auto" (the default with tools), "none", "required" or {"type": "function",
 * "function": {"name": ...}}; for a named one *only is a tools array holding just that tool. */
static int parse_tool_choice(const json_t *tools, const json_t *tc, enum choice *out,
                             json_t **only, struct local_plan_error *pe, struct err *e)
{
    *only = NULL;
    *out = tools ? CHOICE_AUTO : CHOICE_NONE;
    if (!tc || json_is_null(tc))
        return 0;
    if (json_is_string(tc)) {
        const char *s = json_string_value(tc);
        if (strcmp(s, "auto") == 0 || strcmp(s, "none") == 0 || strcmp(s, "required") == 0) {
            *out = s[0] == 'a' ? CHOICE_AUTO : s[0] == 'n' ? CHOICE_NONE : CHOICE_REQUIRED;
            if (*out == CHOICE_REQUIRED && !tools) {
                err_set(e, "tool_choice is \"required\" but the request has no tools");
                return refuse(pe, 400, "tool_choice", NULL);
            }
            if (!tools)
                *out = CHOICE_NONE;
            return 0;
        }
        err_set(e, "Invalid value for 'tool_choice': '%.40s'. Supported values are 'none', "
                   "'auto', 'required' or a function object.", s);
        return refuse(pe, 400, "tool_choice", NULL);
    }
    const char *name = json_string_value(json_object_get(json_object_get(tc, "function"), "name"));
    if (!json_is_object(tc) || !name) {
        err_set(e, "Invalid 'tool_choice': expected a string or {\"type\": \"function\", "
                   "\"function\": {\"name\": ...}}");
        return refuse(pe, 400, "tool_choice", NULL);
    }
    size_t i;
    const json_t *t;
    json_array_foreach(tools, i, t) {
        const char *n = json_string_value(json_object_get(json_object_get(t, "function"), "name"));
        if (n && strcmp(n, name) == 0) {
            *only = json_pack("[O]", t);
            *out = CHOICE_NAMED;
            return 0;
        }
    }
    err_set(e, "tool_choice names function '%.80s', which is not among the request's tools", name);
    return refuse(pe, 400, "tool_choice", NULL);
}

/* The grammar text the request asks for, and the parameter it came from (for errors). */
static int output_grammar(const struct request *r, const json_t *tools, enum choice choice,
                          const json_t *only, enum toolcall_format fmt, char **gbnf,
                          const char **from, struct local_plan_error *pe, struct err *e)
{
    *gbnf = NULL;
    *from = NULL;
    const json_t *g = json_object_get(r->body, "grammar");
    const json_t *rf = json_object_get(r->body, "response_format");
    if (g && !json_is_null(g) && !json_is_string(g)) {
        err_set(e, "Invalid type for 'grammar': expected a GBNF string");
        return refuse(pe, 400, "grammar", NULL);
    }
    if (choice == CHOICE_REQUIRED || choice == CHOICE_NAMED) {
        *from = "tools";
        if (toolcall_grammar(fmt, only ? only : tools, gbnf, e))
            return refuse(pe, 400, "tools", NULL);
        return 0;
    }
    if (json_is_string(g)) {
        if (r->has_response_format) {
            err_set(e, "'grammar' and 'response_format' cannot be used together");
            return refuse(pe, 400, "grammar", NULL);
        }
        *from = "grammar";
        *gbnf = xstrdup(json_string_value(g));
        return 0;
    }
    if (rf && json_is_object(rf)) {
        *from = "response_format";
        if (json_schema_response_format(rf, gbnf, e)) {
            err_prefix(e, "Invalid 'response_format'");
            return refuse(pe, 400, "response_format", NULL);
        }
    }
    return 0;
}

int local_plan_make(const struct chat_template *ct, const char *tmpl_error, bool add_bos,
                    const struct request *r, struct local_plan *p, struct local_plan_error *pe,
                    struct err *e)
{
    memset(p, 0, sizeof *p);
    const json_t *tools = json_object_get(r->body, "tools");
    if (!json_is_array(tools) || json_array_size(tools) == 0)
        tools = NULL;
    enum choice choice;
    json_t *only;
    if (parse_tool_choice(tools, json_object_get(r->body, "tool_choice"), &choice, &only, pe, e))
        return -1;
    if (r->dialect == DIALECT_OPENAI_COMPLETION) {
        p->prompt = xstrdup(r->prompt ? r->prompt : "");
        p->parse_special = true;
    } else {
        if (!ct) {
            json_decref(only);
            err_set(e, "the model's chat template cannot be used: %s", tmpl_error);
            return refuse(pe, 500, NULL, NULL);
        }
        json_t *msgs = template_messages(r);
        struct buf out;
        buf_init(&out);
        int st = chat_render(ct, msgs, tools, json_object_get(r->body, "chat_template_kwargs"),
                             true, add_bos, &out, e);
        json_decref(msgs);
        if (st) {
            buf_free(&out);
            json_decref(only);
            if (st == TMPL_ERR_RAISED || st == TMPL_ERR_INPUT)
                return refuse(pe, 400, "messages", NULL);
            err_prefix(e, "chat template");
            return refuse(pe, 500, NULL, NULL);
        }
        p->prompt = out.data ? buf_detach(&out) : xstrdup("");
        p->parse_special = true;
        if (tools && choice != CHOICE_NONE) {
            p->tool_format = chat_template_toolcall_format(ct);
            if (p->tool_format == TOOLCALL_NONE)
                p->tool_format = TOOLCALL_GENERIC; /* the template ignores tools */
        }
    }
    enum toolcall_format fmt = p->tool_format != TOOLCALL_NONE ? p->tool_format : TOOLCALL_GENERIC;
    p->render_special = fmt == TOOLCALL_LLAMA3 || fmt == TOOLCALL_MISTRAL ||
                        fmt == TOOLCALL_MISTRAL_ARGS || fmt == TOOLCALL_FUNCTIONARY_V31;
    p->render_special &= p->tool_format != TOOLCALL_NONE;
    char *gbnf;
    const char *from;
    int rc = output_grammar(r, tools, choice, only, fmt, &gbnf, &from, pe, e);
    json_decref(only);
    if (rc) {
        local_plan_free(p);
        return -1;
    }
    if (gbnf) {
        rc = grammar_parse(gbnf, strlen(gbnf), NULL, &p->grammar, e);
        free(gbnf);
        if (rc) {
            err_prefix(e, "Invalid '%s'", from);
            local_plan_free(p);
            return refuse(pe, 400, from, NULL);
        }
    }
    return 0;
}

void local_plan_free(struct local_plan *p)
{
    free(p->prompt);
    grammar_free(p->grammar);
    memset(p, 0, sizeof *p);
}
