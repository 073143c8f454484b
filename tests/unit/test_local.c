/* The local backend end to end on a real loop with stories260K: greedy output equals the
 * engine's, concurrent requests each get their own correct answer, stop strings and max_tokens
 * end generation with the right finish reason, usage is counted, a cancelled call gets no
 * further events, a full queue says busy, and an oversized prompt is refused with the numbers.
 *
 * Chat templates, constrained output and tool calls (local_plan.c): a template-less model renders
 * the default plain prompt; response_format and `grammar` constrain what is sampled (every
 * finished output validates); bad schemas, grammars, tool choices and a template's
 * raise_exception are refused at start with the parameter named; forced tool calls on a
 * synthetic Qwen model with Qwen 2.5's template stream as OpenAI deltas whose arguments validate
 * against the tool's parameters. */
#include "check.h"

#include "api/openai.h"
#include "backend/local.h"
#include "base/buf.h"
#include "engine/json_schema.h"
#include "engine/synth.h"
#include "net/loop.h"

#include <stdatomic.h>
#include <unistd.h>

struct sink {
    struct buf text;
    json_t *deltas;  /* tool-call delta objects, in order (NULL until the first) */
    char error_msg[512];
    int64_t prompt_tokens, completion_tokens;
    const char *finish;
    int n_events_after_final;
    bool done, error;
    int *n_done;
    struct loop *loop;
    int stop_after; /* stop the loop when n_done reaches this */
};

static void emit(struct call *c, const struct event *ev)
{
    struct sink *s = c->user;
    if (s->done) {
        s->n_events_after_final++;
        return;
    }
    switch (ev->type) {
    case EV_DELTA:
        if (ev->text)
            buf_append(&s->text, ev->text, ev->len);
        if (ev->delta) {
            if (!s->deltas)
                s->deltas = json_array();
            json_array_append_new(s->deltas, json_deep_copy(ev->delta));
        }
        break;
    case EV_USAGE:
        s->prompt_tokens = ev->prompt_tokens;
        s->completion_tokens = ev->completion_tokens;
        break;
    case EV_FINISH:
    case EV_ERROR:
        s->finish = ev->type == EV_FINISH ? ev->finish_reason : "error";
        s->error = ev->type == EV_ERROR;
        if (s->error)
            snprintf(s->error_msg, sizeof s->error_msg, "%s", ev->error_message);
        s->done = true;
        if (++*s->n_done >= s->stop_after)
            loop_stop(s->loop);
        break;
    }
}

static struct request *make_req(const char *prompt, int32_t max_tokens, const char *stop)
{
    struct request *r = calloc(1, sizeof *r);
    r->dialect = DIALECT_OPENAI_COMPLETION;
    r->prompt = strdup(prompt);
    r->model = strdup("small");
    r->max_tokens = max_tokens;
    r->has_temperature = true;
    r->temperature = 0.0f;
    if (stop) {
        r->stop = calloc(1, sizeof *r->stop);
        r->stop[0] = strdup(stop);
        r->n_stop = 1;
    }
    return r;
}

static struct tier_config tier(void)
{
    static char path[4096];
    snprintf(path, sizeof path, "%s", check_fixture("models/stories260K.gguf"));
    struct tier_config t = {0};
    t.name = "small";
    t.kind = TIER_LOCAL;
    t.model_path = path;
    t.threads = 1;
    t.context = 256;
    t.max_queue = 8;
    t.max_tokens_default = 64;
    return t;
}

static void test_generate(void)
{
    struct loop *l = loop_new();
    struct tier_config t = tier();
    struct err e;
    struct backend *b = local_new(l, &t, &e);
    CHECK_MSG(b != NULL, "%s", e.msg);
    if (!b)
        return;
    int n_done = 0;
    /* three at once, one with a stop string, one limited by max_tokens */
    struct request *r[3] = {make_req("Once upon a time", 40, NULL), make_req("Once upon a time", 40, "Lily"),
                            make_req("Once upon a time", 5, NULL)};
    struct sink s[3];
    struct call c[3];
    for (int i = 0; i < 3; i++) {
        memset(&s[i], 0, sizeof s[i]);
        buf_init(&s[i].text);
        s[i].n_done = &n_done;
        s[i].loop = l;
        s[i].stop_after = 3;
        memset(&c[i], 0, sizeof c[i]);
        c[i].req = r[i];
        c[i].emit = emit;
        c[i].user = &s[i];
        CHECK(backend_start(b, &c[i], &e) == START_OK);
    }
    loop_run(l);
    const char *want = ", there was a little girl named Lily. She loved to play outside in the park.";
    CHECK_MSG(s[0].text.data && strncmp(s[0].text.data, want, strlen(want)) == 0, "got \"%s\"",
              s[0].text.data ? s[0].text.data : "");
    CHECK_STR(s[0].finish, "length");
    CHECK_EQ_INT(s[0].completion_tokens, 40);
    CHECK_EQ_INT(s[0].prompt_tokens, 5); /* BOS + 4 */
    CHECK_STR(s[1].text.data, ", there was a little girl named ");
    CHECK_STR(s[1].finish, "stop");
    CHECK_STR(s[2].finish, "length");
    CHECK_EQ_INT(s[2].completion_tokens, 5);
    CHECK_STR(s[2].text.data, ", there was a little");
    for (int i = 0; i < 3; i++) {
        CHECK_EQ_INT(s[i].n_events_after_final, 0);
        buf_free(&s[i].text);
        request_free(r[i]);
    }
    backend_free(b);
    loop_free(l);
}

/* Continuous batching: more requests than slots, different prompts and lengths, sampled and
 * greedy, all in flight together; each must get exactly the text it gets alone (batched logits
 * are bit-identical to a sequence's own: test_forward). */
#define N_BATCHED 7
static void run_requests(struct backend *b, struct loop *l, struct request **r, int n,
                         struct sink *s)
{
    struct err e;
    int n_done = 0;
    struct call c[N_BATCHED];
    for (int i = 0; i < n; i++) {
        memset(&s[i], 0, sizeof s[i]);
        buf_init(&s[i].text);
        s[i].n_done = &n_done;
        s[i].loop = l;
        s[i].stop_after = n;
        memset(&c[i], 0, sizeof c[i]);
        c[i].req = r[i];
        c[i].emit = emit;
        c[i].user = &s[i];
        CHECK(backend_start(b, &c[i], &e) == START_OK);
    }
    loop_run(l);
}

static void test_batched_matches_alone(void)
{
    struct loop *l = loop_new();
    struct tier_config t = tier();
    t.slots = 3;
    struct err e;
    struct backend *b = local_new(l, &t, &e);
    CHECK_MSG(b != NULL, "%s", e.msg);
    if (!b)
        return;
    const char *prompts[N_BATCHED] = {"Once upon a time", "Tom had a red ball", "The sun",
                                      "Lily and her mom went to the park. They saw",
                                      "One day", "A big dog", "She was happy because"};
    struct request *r[N_BATCHED];
    for (int i = 0; i < N_BATCHED; i++) {
        r[i] = make_req(prompts[i], 12 + 5 * i, NULL);
        if (i % 2) { /* sampled, seeded: the same draws alone and together */
            r[i]->temperature = 0.9f;
            r[i]->has_seed = true;
            r[i]->seed = (uint64_t)(100 + i);
        }
    }
    struct sink alone[N_BATCHED], together[N_BATCHED];
    for (int i = 0; i < N_BATCHED; i++)
        run_requests(b, l, &r[i], 1, &alone[i]);
    run_requests(b, l, r, N_BATCHED, together);
    for (int i = 0; i < N_BATCHED; i++) {
        CHECK_MSG(alone[i].text.data && together[i].text.data &&
                      strcmp(alone[i].text.data, together[i].text.data) == 0,
                  "request %d: alone \"%s\", together \"%s\"", i,
                  alone[i].text.data ? alone[i].text.data : "",
                  together[i].text.data ? together[i].text.data : "");
        CHECK_EQ_INT(together[i].completion_tokens, alone[i].completion_tokens);
        buf_free(&alone[i].text);
        buf_free(&together[i].text);
        request_free(r[i]);
    }
    backend_free(b);
    loop_free(l);
}

static void stop_timer(struct loop *l, void *arg)
{
    (void)arg;
    loop_stop(l);
}

static void cancel_timer(struct loop *l, void *arg)
{
    (void)l;
    struct call *c = arg;
    backend_cancel(c->backend, c);
}

static void test_cancel_and_limits(void)
{
    struct loop *l = loop_new();
    struct tier_config t = tier();
    t.max_queue = 0; /* the 4 slots, nothing waiting */
    struct err e;
    struct backend *b = local_new(l, &t, &e);
    if (!b) {
        CHECK_MSG(0, "%s", e.msg);
        return;
    }
    struct request *r = make_req("Once upon a time", 200, NULL);
    int n_done = 0;
    struct sink s = {0};
    buf_init(&s.text);
    s.n_done = &n_done;
    s.loop = l;
    s.stop_after = 1;
    struct call busy[4];
    for (int i = 0; i < 4; i++) {
        busy[i] = (struct call){.req = r, .emit = emit, .user = &s};
        CHECK(backend_start(b, &busy[i], &e) == START_OK);
    }
    struct call c = {.req = r, .emit = emit, .user = &s};
    CHECK(backend_start(b, &c, &e) == START_BUSY);
    CHECK_MSG(strstr(e.msg, "at capacity (4 running, 0 queued)") != NULL, "%s", e.msg);
    for (int i = 0; i < 4; i++)
        backend_cancel(b, &busy[i]);
    backend_free(b);

    t.max_queue = 8;
    b = local_new(l, &t, &e);
    CHECK(backend_start(b, &c, &e) == START_OK);
    loop_timer_add(l, 5, cancel_timer, &c);
    loop_timer_add(l, 200, stop_timer, NULL);
    loop_run(l);
    CHECK(!s.done); /* cancelled calls get no final event, and nothing after cancel */
    size_t got = s.text.len;
    loop_timer_add(l, 100, stop_timer, NULL);
    loop_run(l);
    CHECK_EQ_INT(s.text.len, got);

    /* a prompt longer than the context */
    struct buf big;
    buf_init(&big);
    for (int i = 0; i < 300; i++)
        buf_puts(&big, "Once upon a time ");
    struct request *r2 = make_req(big.data, 10, NULL);
    struct call c2 = {.req = r2, .emit = emit, .user = &s};
    CHECK(backend_start(b, &c2, &e) == START_BAD_REQUEST);
    CHECK_MSG(strstr(e.msg, "maximum context length is 256 tokens") != NULL, "%s", e.msg);
    buf_free(&big);
    buf_free(&s.text);
    request_free(r);
    request_free(r2);
    backend_free(b);
    loop_free(l);
}

/* ---------------------------------------------------------------------------------------------
 * Templates, constrained output, tool calls */

static struct request *parse_chat(const char *body)
{
    struct request *r = NULL;
    struct api_error ae;
    CHECK_MSG(openai_parse(DIALECT_OPENAI_CHAT, body, strlen(body), &r, &ae) == 0, "%s", ae.message);
    return r;
}

/* Runs one request to its end; returns the start status (the sink holds the events). */
static enum start_error run_one(struct loop *l, struct backend *b, struct request *r, struct sink *s,
                                struct call *c, struct err *e)
{
    static int n_done;
    n_done = 0;
    memset(s, 0, sizeof *s);
    buf_init(&s->text);
    s->n_done = &n_done;
    s->loop = l;
    s->stop_after = 1;
    memset(c, 0, sizeof *c);
    c->req = r;
    c->emit = emit;
    c->user = s;
    enum start_error rc = backend_start(b, c, e);
    if (rc == START_OK)
        loop_run(l);
    return rc;
}

static void sink_free(struct sink *s)
{
    buf_free(&s->text);
    json_decref(s->deltas);
}

static void test_chat_default_template(void)
{
    struct loop *l = loop_new();
    struct tier_config t = tier();
    struct err e;
    struct backend *b = local_new(l, &t, &e);
    if (!b) {
        CHECK_MSG(0, "%s", e.msg);
        return;
    }
    /* no template in stories260K: the messages' text, one per line, as a completion would see it */
    struct request *chat = parse_chat("{\"model\": \"small\", \"max_tokens\": 24, \"temperature\": 0, "
                                      "\"messages\": [{\"role\": \"system\", \"content\": \"Once upon\"}, "
                                      "{\"role\": \"user\", \"content\": [{\"type\": \"text\", \"text\": \"a time\"}]}]}");
    struct request *comp = make_req("Once upon\na time", 24, NULL);
    struct sink s1, s2;
    struct call c1, c2;
    CHECK(chat && run_one(l, b, chat, &s1, &c1, &e) == START_OK);
    CHECK(run_one(l, b, comp, &s2, &c2, &e) == START_OK);
    CHECK(s1.text.len > 10);
    CHECK_STR(s1.text.data, s2.text.data);
    sink_free(&s1);
    sink_free(&s2);
    request_free(chat);
    request_free(comp);
    backend_free(b);
    loop_free(l);
}

static const char *g_person_schema =
    "{\"type\": \"object\", \"properties\": {\"name\": {\"type\": \"string\", \"maxLength\": 8}, "
    "\"age\": {\"type\": \"integer\", \"minimum\": 0, \"maximum\": 120}, \"ok\": {\"type\": \"boolean\"}}, "
    "\"required\": [\"name\", \"age\", \"ok\"], \"additionalProperties\": false}";

static void test_constrained_output(void)
{
    struct loop *l = loop_new();
    struct tier_config t = tier();
    struct err e;
    struct backend *b = local_new(l, &t, &e);
    if (!b) {
        CHECK_MSG(0, "%s", e.msg);
        return;
    }
    json_t *schema = json_loads(g_person_schema, 0, NULL);
    int n_stop = 0;
    for (int seed = 0; seed < 8; seed++) {
        char body[2048];
        snprintf(body, sizeof body, "{\"model\": \"small\", \"max_tokens\": 120, \"seed\": %d, \"messages\": "
                 "[{\"role\": \"user\", \"content\": \"Tell me about Lily.\"}], \"response_format\": "
                 "{\"type\": \"json_schema\", \"json_schema\": {\"name\": \"p\", \"schema\": %s}}}",
                 seed, g_person_schema);
        struct request *r = parse_chat(body);
        struct sink s;
        struct call c;
        CHECK(r && run_one(l, b, r, &s, &c, &e) == START_OK);
        CHECK_MSG(!s.error, "%s", s.error_msg);
        if (s.finish && strcmp(s.finish, "stop") == 0) {
            n_stop++;
            CHECK_MSG(json_schema_validate(schema, s.text.data, s.text.len, &e) == 0, "%s: %s",
                      s.text.data, e.msg);
        } else {
            CHECK_STR(s.finish, "length");
        }
        sink_free(&s);
        request_free(r);
    }
    CHECK_MSG(n_stop >= 2, "only %d of 8 constrained answers finished", n_stop);
    json_decref(schema);

    /* a GBNF grammar (baton's extension) */
    struct request *r = parse_chat("{\"model\": \"small\", \"max_tokens\": 20, \"seed\": 3, \"messages\": "
                                   "[{\"role\": \"user\", \"content\": \"Yes?\"}], "
                                   "\"grammar\": \"root ::= (\\\"yes\\\" | \\\"no\\\") \\\".\\\"\"}");
    struct sink s;
    struct call c;
    CHECK(r && run_one(l, b, r, &s, &c, &e) == START_OK);
    CHECK_MSG(s.text.data && (strcmp(s.text.data, "yes.") == 0 || strcmp(s.text.data, "no.") == 0), "%s",
              s.text.data ? s.text.data : "(none)");
    CHECK_STR(s.finish, "stop");
    sink_free(&s);
    request_free(r);

    /* what the client got wrong is refused at start, naming the parameter */
    static const struct {
        const char *extra, *param, *msg;
    } bad[] = {
        {"\"response_format\": {\"type\": \"json_schema\", \"json_schema\": {\"name\": \"x\", \"schema\": "
         "{\"type\": \"array\", \"uniqueItems\": true}}}", "response_format", "uniqueItems is not supported"},
        {"\"grammar\": \"root ::= \\\"a\\\" |\\nfoo ::= bar\"", "grammar", "line "},
        {"\"grammar\": \"root ::= \\\"a\\\"\", \"response_format\": {\"type\": \"json_object\"}", "grammar",
         "cannot be used together"},
        {"\"grammar\": 7", "grammar", "expected a GBNF string"},
        {"\"tools\": [{\"type\": \"function\", \"function\": {\"name\": \"f\"}}], \"tool_choice\": "
         "{\"type\": \"function\", \"function\": {\"name\": \"g\"}}", "tool_choice", "'g', which is not among"},
        {"\"tool_choice\": \"required\"", "tool_choice", "has no tools"},
        {"\"tools\": [{\"type\": \"function\", \"function\": {\"name\": \"f\", \"parameters\": {\"not\": {}}}}], "
         "\"tool_choice\": \"required\"", "tools", "not is not supported"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        char body[1024];
        snprintf(body, sizeof body, "{\"model\": \"small\", \"messages\": [{\"role\": \"user\", \"content\": "
                 "\"x\"}], %s}", bad[i].extra);
        struct request *rb = parse_chat(body);
        if (!rb)
            continue;
        CHECK_MSG(run_one(l, b, rb, &s, &c, &e) == START_BAD_REQUEST, "accepted: %s", body);
        CHECK_STR(c.error_param, bad[i].param);
        CHECK_MSG(strstr(e.msg, bad[i].msg) != NULL, "%s: got \"%s\"", bad[i].extra, e.msg);
        sink_free(&s);
        request_free(rb);
    }

    /* tools with the default template: the generic JSON form is parsed out of the output
     * (forced here by a grammar), unless tool_choice is "none" */
    for (int none = 0; none < 2; none++) {
        char body[1024];
        snprintf(body, sizeof body, "{\"model\": \"small\", \"max_tokens\": 60, \"messages\": [{\"role\": "
                 "\"user\", \"content\": \"x\"}], \"tools\": [{\"type\": \"function\", \"function\": "
                 "{\"name\": \"f\"}}], %s \"grammar\": \"root ::= \\\"{\\\\\\\"tool_calls\\\\\\\": "
                 "[{\\\\\\\"name\\\\\\\": \\\\\\\"f\\\\\\\", \\\\\\\"arguments\\\\\\\": {\\\\\\\"a\\\\\\\": "
                 "1}}]}\\\"\"}", none ? "\"tool_choice\": \"none\"," : "");
        struct request *rt = parse_chat(body);
        CHECK(rt && run_one(l, b, rt, &s, &c, &e) == START_OK);
        if (none) {
            CHECK_STR(s.finish, "stop");
            CHECK_STR(s.text.data, "{\"tool_calls\": [{\"name\": \"f\", \"arguments\": {\"a\": 1}}]}");
            CHECK(!s.deltas);
        } else {
            CHECK_STR(s.finish, "tool_calls");
            CHECK_EQ_INT(s.text.len, 0);
            json_t *d0 = json_array_get(json_object_get(json_array_get(s.deltas, 0), "tool_calls"), 0);
            CHECK_STR(json_string_value(json_object_get(json_object_get(d0, "function"), "name")), "f");
        }
        sink_free(&s);
        request_free(rt);
    }
    backend_free(b);
    loop_free(l);
}

/* A synthetic model carrying a template from ../shared/templates. */
static bool synth_with_template(const char *shape, const char *tmpl_name, char *path, size_t cap)
{
    snprintf(path, cap, "/tmp/baton_test_local_%d_%s.gguf", (int)getpid(), shape);
    char tpath[512];
    snprintf(tpath, sizeof tpath, "templates/%s", tmpl_name);
    FILE *f = fopen(check_fixture(tpath), "rb");
    CHECK_MSG(f != NULL, "%s", check_fixture(tpath));
    if (!f)
        return false;
    struct buf src;
    buf_init(&src);
    char chunk[4096];
    size_t n;
    while ((n = fread(chunk, 1, sizeof chunk, f)) > 0)
        buf_append(&src, chunk, n);
    fclose(f);
    struct synth_opts o = {0};
    o.shape = shape;
    o.fixtures = check_fixtures();
    o.type = DT_F32;
    o.seed = 1;
    o.n_threads = 1;
    o.chat_template = src.data;
    struct err e;
    int rc = synth_write(&o, path, &e);
    CHECK_MSG(rc == 0, "%s", e.msg);
    buf_free(&src);
    return rc == 0;
}

static void test_template_raises(void)
{
    char path[256];
    if (!synth_with_template("tiny-llama", "mistralai-Mistral-Nemo-Instruct-2407.jinja", path, sizeof path))
        return;
    struct loop *l = loop_new();
    struct tier_config t = tier();
    t.model_path = path;
    struct err e;
    struct backend *b = local_new(l, &t, &e);
    CHECK_MSG(b != NULL, "%s", e.msg);
    struct request *r = parse_chat("{\"model\": \"small\", \"messages\": [{\"role\": \"user\", \"content\": "
                                   "\"a\"}, {\"role\": \"user\", \"content\": \"b\"}]}");
    struct sink s;
    struct call c;
    if (b && r) {
        CHECK(run_one(l, b, r, &s, &c, &e) == START_BAD_REQUEST);
        CHECK_STR(c.error_param, "messages");
        CHECK_MSG(strstr(e.msg, "conversation roles must alternate user/assistant") != NULL, "%s", e.msg);
        sink_free(&s);
    }
    request_free(r);
    backend_free(b);
    loop_free(l);
    unlink(path);
}

static void test_forced_tool_calls(void)
{
    char path[256];
    if (!synth_with_template("tiny-qwen2", "Qwen-Qwen2.5-7B-Instruct.jinja", path, sizeof path))
        return;
    struct loop *l = loop_new();
    struct tier_config t = tier();
    t.model_path = path;
    t.context = 1024;
    struct err e;
    struct backend *b = local_new(l, &t, &e);
    CHECK_MSG(b != NULL, "%s", e.msg);
    const char *params = "{\"type\": \"object\", \"properties\": {\"city\": {\"type\": \"string\", "
                         "\"maxLength\": 10}, \"unit\": {\"enum\": [\"c\", \"f\"]}}, \"required\": "
                         "[\"city\", \"unit\"], \"additionalProperties\": false}";
    json_t *schema = json_loads(params, 0, NULL);
    for (int named = 0; b && named < 2; named++) {
        char body[2048];
        snprintf(body, sizeof body, "{\"model\": \"small\", \"max_tokens\": 80, \"seed\": %d, \"messages\": "
                 "[{\"role\": \"user\", \"content\": \"Weather in Paris?\"}], \"tools\": [{\"type\": "
                 "\"function\", \"function\": {\"name\": \"weather\", \"parameters\": %s}}, {\"type\": "
                 "\"function\", \"function\": {\"name\": \"time\", \"parameters\": {\"type\": \"object\", "
                 "\"properties\": {}}}}], \"tool_choice\": %s}", 5 + named, params,
                 named ? "{\"type\": \"function\", \"function\": {\"name\": \"weather\"}}" : "\"required\"");
        struct request *r = parse_chat(body);
        struct sink s;
        struct call c;
        if (!r || run_one(l, b, r, &s, &c, &e) != START_OK) {
            CHECK_MSG(0, "%s", e.msg);
            request_free(r);
            continue;
        }
        CHECK_MSG(!s.error, "%s", s.error_msg);
        /* random weights may keep calling until max_tokens: then call 0 must not be the last */
        json_t *last = json_array_get(json_object_get(json_array_get(s.deltas, json_array_size(s.deltas) - 1),
                                                      "tool_calls"), 0);
        bool cut = s.finish && strcmp(s.finish, "length") == 0;
        CHECK_MSG((s.finish && strcmp(s.finish, "tool_calls") == 0) ||
                      (cut && json_integer_value(json_object_get(last, "index")) > 0),
                  "finish %s", s.finish ? s.finish : "(none)");
        /* the first delta opens call 0 with id, type and name; the rest append arguments */
        json_t *first = json_array_get(json_object_get(json_array_get(s.deltas, 0), "tool_calls"), 0);
        const char *name = json_string_value(json_object_get(json_object_get(first, "function"), "name"));
        CHECK(json_integer_value(json_object_get(first, "index")) == 0);
        CHECK(json_string_value(json_object_get(first, "id")) != NULL);
        CHECK_STR(json_string_value(json_object_get(first, "type")), "function");
        CHECK(name != NULL);
        if (named)
            CHECK_STR(name, "weather");
        struct buf args;
        buf_init(&args);
        size_t i;
        json_t *d;
        json_array_foreach(s.deltas, i, d) {
            json_t *tc = json_array_get(json_object_get(d, "tool_calls"), 0);
            if (json_integer_value(json_object_get(tc, "index")) != 0)
                continue; /* "required" may call more than once; check the first */
            const char *a = json_string_value(json_object_get(json_object_get(tc, "function"), "arguments"));
            if (a)
                buf_puts(&args, a);
            CHECK(i == 0 || !json_object_get(tc, "id"));
        }
        if (name && strcmp(name, "weather") == 0)
            CHECK_MSG(json_schema_validate(schema, args.data ? args.data : "", args.len, &e) == 0, "%s: %s",
                      args.data ? args.data : "", e.msg);
        else
            CHECK_MSG(json_schema_validate(NULL, args.data ? args.data : "", args.len, &e) == 0, "%s", e.msg);
        fprintf(stderr, "  tool call (%s): %s(%s)\n", named ? "named" : "required", name ? name : "?",
                args.data ? args.data : "");
        buf_free(&args);
        sink_free(&s);
        request_free(r);
    }
    json_decref(schema);
    backend_free(b);
    loop_free(l);
    unlink(path);
}

int main(void)
{
    RUN(test_generate);
    RUN(test_batched_matches_alone);
    RUN(test_cancel_and_limits);
    RUN(test_chat_default_template);
    RUN(test_constrained_output);
    RUN(test_template_raises);
    RUN(test_forced_tool_calls);
    return check_report();
}
