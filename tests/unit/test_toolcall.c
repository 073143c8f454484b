/* Tool-call parsing: every format whole, byte by byte and at random split points gives the same
 * content and calls; deltas have OpenAI's shape (a call's first delta has index, id, type, name
 * and arguments ""); content around and between calls; malformed calls fall back to content by
 * the documented rules; the format is detected from each of the shared chat templates; and
 * outputs sampled from toolcall_grammar parse back into calls whose arguments validate. */
#include "check.h"

#include "base/buf.h"
#include "engine/grammar.h"
#include "engine/json_schema.h"
#include "engine/sampler.h"
#include "engine/toolcall.h"

#include <dirent.h>

/* A sink that rebuilds the message from events and checks the delta rules as they come. */
struct sink {
    struct buf content;
    json_t *calls;       /* built from START/ARGS deltas */
    int n_events;
    int last_index;
    bool bad_order;
};

static void sink_init(struct sink *s)
{
    memset(s, 0, sizeof *s);
    buf_init(&s->content);
    s->calls = json_array();
    s->last_index = -1;
}

static void sink_free(struct sink *s)
{
    buf_free(&s->content);
    json_decref(s->calls);
}

static void on_event(void *user, const struct toolcall_event *ev)
{
    struct sink *s = user;
    s->n_events++;
    json_t *d = toolcall_event_delta(ev);
    if (ev->type == TOOLCALL_CONTENT) {
        CHECK(ev->len > 0);
        CHECK_EQ_INT(json_string_length(json_object_get(d, "content")), ev->len);
        buf_append(&s->content, ev->text, ev->len);
    } else {
        json_t *tc = json_array_get(json_object_get(d, "tool_calls"), 0);
        CHECK_EQ_INT(json_integer_value(json_object_get(tc, "index")), ev->index);
        if (ev->type == TOOLCALL_START) {
            /* the first delta of a call: index, id, type, function.name, arguments "" */
            if (ev->index != s->last_index + 1)
                s->bad_order = true;
            s->last_index = ev->index;
            CHECK_STR(json_string_value(json_object_get(tc, "type")), "function");
            CHECK(json_string_length(json_object_get(tc, "id")) > 0);
            CHECK_STR(json_string_value(json_object_get(json_object_get(tc, "function"), "arguments")), "");
            json_array_append_new(s->calls, json_pack("{s:s, s:s, s:s}", "id", ev->id, "name",
                                                      ev->name, "arguments", ""));
        } else {
            /* later deltas: only index and function.arguments, appended to the current call */
            CHECK(json_object_get(tc, "id") == NULL && json_object_get(tc, "type") == NULL);
            if (ev->index != s->last_index)
                s->bad_order = true;
            json_t *c = json_array_get(s->calls, (size_t)ev->index);
            if (c) {
                struct buf b;
                buf_init(&b);
                buf_puts(&b, json_string_value(json_object_get(c, "arguments")));
                buf_append(&b, ev->text, ev->len);
                json_object_set_new(c, "arguments", json_stringn(b.data, b.len));
                buf_free(&b);
            }
        }
    }
    json_decref(d);
}

/* Feeds text in pieces cut at the given offsets (ascending, n_cuts of them). */
static void run(enum toolcall_format f, const char *text, const size_t *cuts, size_t n_cuts, struct sink *s)
{
    struct toolcall_parser *p = toolcall_parser_new(f, 99);
    size_t len = strlen(text), at = 0;
    for (size_t i = 0; i <= n_cuts; i++) {
        size_t to = i < n_cuts ? cuts[i] : len;
        toolcall_feed(p, text + at, to - at, on_event, s);
        at = to;
    }
    toolcall_finish(p, on_event, s);
    CHECK_EQ_INT(toolcall_n_calls(p), json_array_size(s->calls));
    toolcall_parser_free(p);
    CHECK_MSG(!s->bad_order, "events out of order for %s", text);
}

/* The result as "content|name(args)|name(args)...": all content (in order), then the calls, as
 * an OpenAI message holds them. */
static char *summary(const struct sink *s)
{
    struct buf b;
    buf_init(&b);
    buf_append(&b, s->content.data ? s->content.data : "", s->content.len);
    size_t i;
    json_t *c;
    json_array_foreach(s->calls, i, c)
        buf_printf(&b, "|%s(%s)", json_string_value(json_object_get(c, "name")),
                   json_string_value(json_object_get(c, "arguments")));
    return buf_detach(&b);
}

/* Parses text whole, byte by byte and at 20 random split sets: all must give `want`. */
static void expect(enum toolcall_format f, const char *text, const char *want)
{
    struct sink whole;
    sink_init(&whole);
    run(f, text, NULL, 0, &whole);
    char *got = summary(&whole);
    CHECK_MSG(strcmp(got, want) == 0, "%s: %s\n  got:  %s\n  want: %s", toolcall_format_name(f), text, got, want);
    size_t len = strlen(text);
    size_t *cuts = malloc((len + 1) * sizeof *cuts);
    for (size_t i = 0; i < len; i++)
        cuts[i] = i + 1;
    struct sink bytes;
    sink_init(&bytes);
    run(f, text, cuts, len ? len - 1 : 0, &bytes);
    char *got2 = summary(&bytes);
    CHECK_MSG(strcmp(got, got2) == 0, "byte by byte differs for %s\n  whole: %s\n  bytes: %s", text, got, got2);
    struct rng r;
    rng_seed(&r, len);
    for (int k = 0; k < 20; k++) {
        size_t n = 0;
        for (size_t i = 1; i < len; i++)
            if (rng_uniform(&r) < 0.2)
                cuts[n++] = i;
        struct sink part;
        sink_init(&part);
        run(f, text, cuts, n, &part);
        char *got3 = summary(&part);
        CHECK_MSG(strcmp(got, got3) == 0, "split run differs for %s\n  whole: %s\n  split: %s", text, got, got3);
        free(got3);
        sink_free(&part);
    }
    free(cuts);
    free(got);
    free(got2);
    sink_free(&whole);
    sink_free(&bytes);
}

static void test_hermes(void)
{
    enum toolcall_format f = TOOLCALL_HERMES;
    expect(f, "<tool_call>\n{\"name\": \"get_weather\", \"arguments\": {\"city\": \"Paris\", \"n\": [1, 2.5e3]}}\n</tool_call>",
           "|get_weather({\"city\": \"Paris\", \"n\": [1, 2.5e3]})");
    expect(f, "Let me look.\n<tool_call>{\"name\": \"a\", \"arguments\": {}}</tool_call>\n<tool_call>{\"name\": \"b\", \"arguments\": {\"x\": \"}\"}}</tool_call>",
           "Let me look.\n|a({})|b({\"x\": \"}\"})");
    /* key order: arguments before name (held until the name arrives) */
    expect(f, "<tool_call>{\"arguments\": {\"q\": 1}, \"name\": \"s\"}</tool_call>", "|s({\"q\": 1})");
    /* OpenAI's nested shape, and arguments given as a JSON string (decoded) */
    expect(f, "<tool_call>{\"type\": \"function\", \"function\": {\"name\": \"n\", \"arguments\": \"{\\\"k\\\": \\\"\\u00e9\\\"}\"}}</tool_call>",
           "|n({\"k\": \"\xc3\xa9\"})");
    /* content after calls, text that merely looks like a marker */
    expect(f, "x < y and <tool> or <tool_calls>", "x < y and <tool> or <tool_calls>");
    expect(f, "<tool_call>{\"name\": \"f\", \"arguments\": {}}</tool_call>\n\nDone.", "Done.|f({})");
    expect(f, "", "");
}

static void test_hermes_malformed(void)
{
    enum toolcall_format f = TOOLCALL_HERMES;
    /* not JSON, no name, an unknown key before the name: the text is content */
    expect(f, "<tool_call>call f()</tool_call>", "<tool_call>call f()</tool_call>");
    expect(f, "<tool_call>{\"arguments\": {}}</tool_call>", "<tool_call>{\"arguments\": {}}</tool_call>");
    expect(f, "<tool_call>{\"thought\": \"hmm\", \"name\": \"f\"}</tool_call>",
           "<tool_call>{\"thought\": \"hmm\", \"name\": \"f\"}</tool_call>");
    expect(f, "<tool_call>{\"name\": 3}</tool_call>", "<tool_call>{\"name\": 3}</tool_call>");
    /* a real call right after a broken opening is still found */
    expect(f, "<tool_call><tool_call>{\"name\": \"f\", \"arguments\": {}}</tool_call>", "<tool_call>|f({})");
    /* cut off before the name: content; cut off after it: the call keeps what it has */
    expect(f, "<tool_call>{\"na", "<tool_call>{\"na");
    expect(f, "<tool_c", "<tool_c");
    expect(f, "<tool_call>{\"name\": \"f\", \"arguments\": {\"a\": [1", "|f({\"a\": [1)");
    /* after the name, junk inside the call is dropped up to </tool_call> */
    expect(f, "<tool_call>{\"name\": \"f\", \"arguments\": {\"a\": 1}, \"note\": x}</tool_call>tail",
           "tail|f({\"a\": 1})");
    expect(f, "<tool_call>{\"name\": \"f\", \"arguments\": {\"a\" 1}}</tool_call>ok", "ok|f({\"a\" )");
}

static void test_llama3(void)
{
    enum toolcall_format f = TOOLCALL_LLAMA3;
    expect(f, "{\"name\": \"get_time\", \"parameters\": {\"tz\": \"UTC\"}}", "|get_time({\"tz\": \"UTC\"})");
    expect(f, "\n {\"type\": \"function\", \"name\": \"a\", \"parameters\": {}}; {\"name\": \"b\", \"parameters\": {\"x\": null}}",
           "|a({})|b({\"x\": null})");
    expect(f, "{\"name\": \"a\", \"parameters\": {}} and some words", "and some words|a({})");
    /* JSON that is not a call, text that starts otherwise */
    expect(f, "{\"result\": 42}", "{\"result\": 42}");
    expect(f, "The answer is {\"name\": \"x\"}", "The answer is {\"name\": \"x\"}");
    expect(f, "  ", "  ");
    /* <|python_tag|> forms */
    expect(f, "<|python_tag|>{\"name\": \"f\", \"parameters\": {\"a\": 1}}", "|f({\"a\": 1})");
    expect(f, "<|python_tag|>brave_search.call(query=\"weather in SF\", count=3, fresh=True)",
           "|brave_search({\"query\":\"weather in SF\",\"count\":3,\"fresh\":true})");
    expect(f, "<|python_tag|>import math\nprint(\"\\t\", math.pi)",
           "|python({\"code\": \"import math\\nprint(\\\"\\\\t\\\", math.pi)\"})");
    expect(f, "<|python_tag|>x.calls(1)", "|python({\"code\": \"x.calls(1)\"})");
}

static void test_mistral(void)
{
    expect(TOOLCALL_MISTRAL, "[TOOL_CALLS][{\"name\": \"f\", \"arguments\": {\"a\": 1}, \"id\": \"abcDEF123\"}, {\"name\": \"g\", \"arguments\": {}, \"id\": \"zzzzzzzz9\"}]",
           "|f({\"a\": 1})|g({})");
    expect(TOOLCALL_MISTRAL, "Sure. [TOOL_CALLS] [{\"name\": \"f\", \"arguments\": {}}]", "Sure. |f({})");
    expect(TOOLCALL_MISTRAL, "[TOOL_CALLS]oops", "[TOOL_CALLS]oops");
    expect(TOOLCALL_MISTRAL_ARGS, "[TOOL_CALLS]get_weather[ARGS]{\"city\": \"Paris\"}[TOOL_CALLS]f[CALL_ID]a1b2c3d4e[ARGS]{}",
           "|get_weather({\"city\": \"Paris\"})|f({})");
    expect(TOOLCALL_MISTRAL_ARGS, "[TOOL_CALLS]f[ARG]{}", "[TOOL_CALLS]f[ARG]{}");
    expect(TOOLCALL_MISTRAL_ARGS, "[TOOL_CALLS]f[ARGS]{\"a\": 1} and then", "and then|f({\"a\": 1})");
    /* ids: the model's when given, else 9 alphanumerics */
    char *content;
    json_t *calls;
    const char *t = "[TOOL_CALLS][{\"name\": \"f\", \"arguments\": {}, \"id\": \"abcDEF123\"}, {\"name\": \"g\", \"arguments\": {}}]";
    toolcall_parse(TOOLCALL_MISTRAL, t, strlen(t), 1, &content, &calls);
    CHECK_STR(json_string_value(json_object_get(json_array_get(calls, 0), "id")), "abcDEF123");
    CHECK_EQ_INT(json_string_length(json_object_get(json_array_get(calls, 1), "id")), 9);
    free(content);
    json_decref(calls);
}

static void test_functionary(void)
{
    enum toolcall_format f = TOOLCALL_FUNCTIONARY_V31;
    expect(f, "<function=get_weather>{\"city\": \"Paris\"}</function>", "|get_weather({\"city\": \"Paris\"})");
    expect(f, "Checking <function=a>{}</function><function=b>{\"x\": [true]}</function> ok", "Checking ok|a({})|b({\"x\": [true]})");
    expect(f, "<function=bad name>{}</function>", "<function=bad name>{}</function>");
    expect(f, "<|python_tag|>print(1)", "|python({\"code\": \"print(1)\"})");
    f = TOOLCALL_FUNCTIONARY_V32;
    expect(f, "all\nHello there", "Hello there");
    expect(f, "get_weather\n{\"city\": \"Paris\"}", "|get_weather({\"city\": \"Paris\"})");
    expect(f, ">>>all\nLet me see.>>>get_weather\n{\"city\": \"Paris\"}\n>>>f\n{}", "Let me see.|get_weather({\"city\": \"Paris\"})|f({})");
    expect(f, "python\nprint(2)", "|python({\"code\": \"print(2)\"})");
    expect(f, "no recipient here", "no recipient here");
}

static void test_qwen3_xml(void)
{
    enum toolcall_format f = TOOLCALL_QWEN3_XML;
    expect(f, "I'll check.\n<tool_call>\n<function=get_weather>\n<parameter=city>\nSan Francisco\n</parameter>\n<parameter=days>\n3\n</parameter>\n<parameter=opts>\n{\"metric\": true}\n</parameter>\n</function>\n</tool_call>",
           "I'll check.\n|get_weather({\"city\": \"San Francisco\", \"days\": 3, \"opts\": {\"metric\": true}})");
    expect(f, "<tool_call>\n<function=f>\n</function>\n</tool_call>", "|f({})");
    expect(f, "<tool_call>\n<func=f>", "<tool_call>\n<func=f>");
}

static void test_generic(void)
{
    enum toolcall_format f = TOOLCALL_GENERIC;
    expect(f, "{\"tool_calls\": [{\"name\": \"a\", \"arguments\": {\"x\": 1}}, {\"name\": \"b\", \"arguments\": {}}]}",
           "|a({\"x\": 1})|b({})");
    expect(f, "{\"tool_call\": {\"name\": \"a\", \"arguments\": {}}}", "|a({})");
    expect(f, "{\"name\": \"a\", \"arguments\": {\"k\": \"v\"}}", "|a({\"k\": \"v\"})");
    expect(f, "[{\"name\": \"a\", \"arguments\": {}}, {\"name\": \"b\", \"arguments\": {}}]", "|a({})|b({})");
    expect(f, "{\"response\": \"Plain \\\"answer\\\"\"}", "Plain \"answer\"");
    expect(f, "{\"answer\": 1}", "{\"answer\": 1}");
    expect(f, "Hello {\"name\": \"a\"}", "Hello {\"name\": \"a\"}");
    expect(TOOLCALL_NONE, "<tool_call>{\"name\": \"a\", \"arguments\": {}}</tool_call>",
           "<tool_call>{\"name\": \"a\", \"arguments\": {}}</tool_call>");
}

/* Content is released as soon as it cannot start a call: a "<" waits, plain text does not. */
static void test_holdback(void)
{
    struct toolcall_parser *p = toolcall_parser_new(TOOLCALL_HERMES, 1);
    struct sink s;
    sink_init(&s);
    toolcall_feed(p, "Hello <to", 9, on_event, &s);
    CHECK_EQ_INT(s.content.len, 6);
    toolcall_feed(p, "day", 3, on_event, &s);
    CHECK_EQ_INT(s.content.len, 12);
    toolcall_feed(p, " <tool_call>{\"name\": \"f\"", 24, on_event, &s);
    CHECK_EQ_INT(s.content.len, 13);
    CHECK_EQ_INT(json_array_size(s.calls), 1); /* the name is known: the call is out */
    toolcall_feed(p, ", \"arguments\": {\"a\"", 19, on_event, &s);
    CHECK_STR(json_string_value(json_object_get(json_array_get(s.calls, 0), "arguments")), "{\"a\"");
    toolcall_finish(p, on_event, &s);
    toolcall_parser_free(p);
    sink_free(&s);
}

static void test_template_detection(void)
{
    static const struct {
        const char *file;
        enum toolcall_format f;
    } want[] = {
        {"NousResearch-Hermes-2-Pro-Llama-3-8B-tool_use.jinja", TOOLCALL_HERMES},
        {"NousResearch-Hermes-3-Llama-3.1-8B-tool_use.jinja", TOOLCALL_HERMES},
        {"Qwen-Qwen2.5-7B-Instruct.jinja", TOOLCALL_HERMES},
        {"Qwen-Qwen3-0.6B.jinja", TOOLCALL_HERMES},
        {"Qwen-QwQ-32B.jinja", TOOLCALL_HERMES},
        {"meta-llama-Llama-3.1-8B-Instruct.jinja", TOOLCALL_LLAMA3},
        {"meta-llama-Llama-3.2-3B-Instruct.jinja", TOOLCALL_LLAMA3},
        {"meta-llama-Llama-3.3-70B-Instruct.jinja", TOOLCALL_LLAMA3},
        {"mistralai-Mistral-Nemo-Instruct-2407.jinja", TOOLCALL_MISTRAL},
        {"Mistral-Small-3.2-24B-Instruct-2506.jinja", TOOLCALL_MISTRAL_ARGS},
        {"unsloth-mistral-Devstral-Small-2507.jinja", TOOLCALL_MISTRAL_ARGS},
        {"meetkai-functionary-medium-v3.1.jinja", TOOLCALL_FUNCTIONARY_V31},
        {"meetkai-functionary-medium-v3.2.jinja", TOOLCALL_FUNCTIONARY_V32},
        {"Qwen3-Coder.jinja", TOOLCALL_QWEN3_XML},
        {"Qwen3.5-4B.jinja", TOOLCALL_QWEN3_XML},
        {"google-gemma-2-2b-it.jinja", TOOLCALL_NONE},
    };
    char path[512];
    for (size_t i = 0; i < sizeof want / sizeof *want; i++) {
        snprintf(path, sizeof path, "templates/%s", want[i].file);
        char *src = check_read_file(check_fixture(path), NULL);
        CHECK_MSG(src != NULL, "missing %s", path);
        if (!src)
            continue;
        enum toolcall_format got = toolcall_format_for_template(src);
        CHECK_MSG(got == want[i].f, "%s: %s, want %s", want[i].file, toolcall_format_name(got),
                  toolcall_format_name(want[i].f));
        free(src);
    }
    /* every shared template gets a format, and most that render tools get a specific one */
    DIR *d = opendir(check_fixture("templates"));
    CHECK(d != NULL);
    int n = 0, specific = 0;
    struct dirent *de;
    while (d && (de = readdir(d))) {
        if (!strstr(de->d_name, ".jinja"))
            continue;
        snprintf(path, sizeof path, "templates/%s", de->d_name);
        char *src = check_read_file(check_fixture(path), NULL);
        if (!src)
            continue;
        enum toolcall_format f = toolcall_format_for_template(src);
        n++;
        specific += f != TOOLCALL_GENERIC && f != TOOLCALL_NONE;
        free(src);
    }
    if (d)
        closedir(d);
    CHECK(n >= 70);
    CHECK_MSG(specific >= 24, "%d of %d templates got a specific format", specific, n);
    CHECK(toolcall_format_for_template(NULL) == TOOLCALL_GENERIC);
    enum toolcall_format f;
    CHECK(toolcall_format_from_name("qwen3-xml", &f) == 0 && f == TOOLCALL_QWEN3_XML);
    CHECK(toolcall_format_from_name("nope", &f) == -1);
}

/* ---------------------------------------------------------------------------------------------
 * Grammar -> sampled output -> parser: the calls come back with valid arguments. */

static const char *g_tools =
    "[{\"type\": \"function\", \"function\": {\"name\": \"get_weather\", \"parameters\": "
    "{\"type\": \"object\", \"properties\": {\"city\": {\"type\": \"string\", \"maxLength\": 6}, "
    "\"days\": {\"type\": \"integer\", \"minimum\": 1, \"maximum\": 7}}, \"required\": [\"city\"], "
    "\"additionalProperties\": false}}}, "
    "{\"type\": \"function\", \"function\": {\"name\": \"ping\"}}]";

static int sample_bytes(struct grammar *g, struct rng *r, struct buf *out, size_t budget)
{
    grammar_reset(g);
    buf_clear(out);
    while (out->len < budget) {
        if (grammar_complete(g) && (grammar_finished(g) || rng_uniform(r) < 0.3))
            return 0;
        unsigned char ok[256];
        int n = 0, pref = -1;
        for (int b = 1; b < 256; b++) {
            char c = (char)b;
            if (grammar_accepts(g, &c, 1)) {
                ok[n++] = (unsigned char)b;
                if ((b == '"' || b == '}' || b == '<' || b == '>' || b == '\n') && rng_uniform(r) < 0.5)
                    pref = b;
            }
        }
        if (n == 0)
            return -1;
        char c = (char)(pref >= 0 ? pref : ok[rng_next(r) % (uint64_t)n]);
        struct err e;
        if (grammar_advance(g, &c, 1, &e))
            return -1;
        buf_putc(out, c);
    }
    return 1;
}

static void test_grammar_roundtrip(void)
{
    json_error_t je;
    json_t *tools = json_loads(g_tools, 0, &je);
    CHECK(tools != NULL);
    enum toolcall_format fs[] = {TOOLCALL_HERMES, TOOLCALL_LLAMA3, TOOLCALL_MISTRAL, TOOLCALL_MISTRAL_ARGS,
                                 TOOLCALL_FUNCTIONARY_V31, TOOLCALL_FUNCTIONARY_V32, TOOLCALL_QWEN3_XML,
                                 TOOLCALL_GENERIC};
    for (size_t k = 0; k < sizeof fs / sizeof *fs; k++) {
        char *gbnf = NULL;
        struct err e;
        CHECK_MSG(toolcall_grammar(fs[k], tools, &gbnf, &e) == 0, "%s: %s", toolcall_format_name(fs[k]), e.msg);
        struct grammar *g = NULL;
        if (!gbnf || grammar_parse(gbnf, strlen(gbnf), NULL, &g, &e)) {
            CHECK_MSG(0, "%s grammar: %s\n%s", toolcall_format_name(fs[k]), e.msg, gbnf ? gbnf : "");
            free(gbnf);
            continue;
        }
        struct rng r;
        rng_seed(&r, k);
        struct buf out;
        buf_init(&out);
        int done = 0;
        for (int i = 0; i < 60; i++) {
            int rc = sample_bytes(g, &r, &out, 3000);
            CHECK(rc >= 0);
            if (rc != 0)
                continue;
            done++;
            char *content;
            json_t *calls;
            toolcall_parse(fs[k], out.data, out.len, 5, &content, &calls);
            CHECK_MSG(calls && json_array_size(calls) >= 1 && content[0] == 0,
                      "%s: sampled output not parsed as calls: %s (content \"%s\")",
                      toolcall_format_name(fs[k]), out.data, content);
            size_t j;
            json_t *c;
            json_array_foreach(calls, j, c) {
                const json_t *fn = json_object_get(c, "function");
                const char *name = json_string_value(json_object_get(fn, "name"));
                const char *args = json_string_value(json_object_get(fn, "arguments"));
                const json_t *schema = NULL;
                size_t t;
                json_t *tool;
                json_array_foreach(tools, t, tool)
                    if (name && strcmp(name, json_string_value(json_object_get(json_object_get(tool, "function"), "name"))) == 0)
                        schema = json_object_get(json_object_get(tool, "function"), "parameters");
                CHECK_MSG(name && args, "%s: incomplete call in %s", toolcall_format_name(fs[k]), out.data);
                if (!name || !args)
                    continue;
                json_t *obj = json_pack("{s:s}", "type", "object");
                CHECK_MSG(json_schema_validate(schema ? schema : obj, args, strlen(args), &e) == 0,
                          "%s: arguments %s of %s do not validate: %s", toolcall_format_name(fs[k]), args, name, e.msg);
                json_decref(obj);
            }
            free(content);
            json_decref(calls);
        }
        CHECK_MSG(done >= 30, "%s: %d of 60 samples completed", toolcall_format_name(fs[k]), done);
        buf_free(&out);
        grammar_free(g);
        free(gbnf);
    }
    /* an unsupported parameters schema names the tool */
    json_t *bad = json_loads("[{\"type\": \"function\", \"function\": {\"name\": \"t\", \"parameters\": "
                             "{\"type\": \"object\", \"properties\": {\"a\": {\"not\": {}}}}}}]", 0, &je);
    char *gbnf = NULL;
    struct err e;
    CHECK(toolcall_grammar(TOOLCALL_HERMES, bad, &gbnf, &e) == -1 && gbnf == NULL);
    CHECK_MSG(strstr(e.msg, "tools[0] (t) parameters: schema.properties.a: not is not supported") != NULL, "%s", e.msg);
    json_decref(bad);
    json_decref(tools);
}

int main(void)
{
    RUN(test_hermes);
    RUN(test_hermes_malformed);
    RUN(test_llama3);
    RUN(test_mistral);
    RUN(test_functionary);
    RUN(test_qwen3_xml);
    RUN(test_generic);
    RUN(test_holdback);
    RUN(test_template_detection);
    RUN(test_grammar_roundtrip);
    return check_report();
}
