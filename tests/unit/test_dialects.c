/* The Anthropic and Ollama dialects: what each body translates into (the normalized request and
 * the OpenAI-shaped body the backends read), every refusal with its status and a message naming
 * the field, and the encodings of an event stream (Anthropic JSON and SSE events, Ollama JSON and
 * NDJSON lines) and of errors. */
#include "check.h"

#include "api/anthropic.h"
#include "api/dialect.h"
#include "api/ollama.h"

typedef int (*parse_fn)(const char *, size_t, struct request **, struct api_error *);

static struct request *parse_ok(parse_fn p, const char *body)
{
    struct request *r = NULL;
    struct api_error e = {0};
    int rc = p(body, strlen(body), &r, &e);
    CHECK_MSG(rc == 0, "refused %s: %s", body, e.message);
    return rc == 0 ? r : NULL;
}

static void expect_400(parse_fn p, const char *body, const char *msg_part)
{
    struct request *r = NULL;
    struct api_error e = {0};
    int rc = p(body, strlen(body), &r, &e);
    CHECK_MSG(rc != 0, "accepted %s", body);
    if (rc == 0) {
        request_free(r);
        return;
    }
    CHECK_EQ_INT(e.status, 400);
    CHECK_MSG(strstr(e.message, msg_part) != NULL, "message \"%s\" lacks \"%s\"", e.message,
              msg_part);
}

static void check_body(const struct request *r, const char *key, const char *want_json)
{
    json_t *got = json_object_get(r->body, key);
    json_t *want = json_loads(want_json, JSON_DECODE_ANY, NULL);
    char *g = got ? json_dumps(got, JSON_COMPACT | JSON_ENCODE_ANY | JSON_SORT_KEYS) : NULL;
    CHECK_MSG(want && got && json_equal(got, want), "body.%s = %s, want %s", key,
              g ? g : "(none)", want_json);
    free(g);
    json_decref(want);
}

static void test_anthropic_parse(void)
{
    struct request *r = parse_ok(anthropic_parse,
        "{\"model\":\"auto\",\"max_tokens\":7,\"system\":[{\"type\":\"text\",\"text\":\"Be \"},"
        "{\"type\":\"text\",\"text\":\"brief.\"}],\"temperature\":0.5,\"top_p\":0.9,\"top_k\":3,"
        "\"stop_sequences\":[\"x\",\"y\"],\"stream\":true,\"metadata\":{\"user_id\":\"u1\"},"
        "\"messages\":[{\"role\":\"user\",\"content\":\"Hi\"},"
        "{\"role\":\"assistant\",\"content\":[{\"type\":\"text\",\"text\":\"Let me look.\"},"
        "{\"type\":\"tool_use\",\"id\":\"tu1\",\"name\":\"f\",\"input\":{\"a\":1}}]},"
        "{\"role\":\"user\",\"content\":[{\"type\":\"tool_result\",\"tool_use_id\":\"tu1\","
        "\"content\":[{\"type\":\"text\",\"text\":\"42\"}]},{\"type\":\"text\",\"text\":\"So?\"}]}],"
        "\"tools\":[{\"name\":\"f\",\"description\":\"d\",\"input_schema\":{\"type\":\"object\"}}],"
        "\"tool_choice\":{\"type\":\"tool\",\"name\":\"f\"}}");
    if (!r)
        return;
    CHECK_STR(r->model, "auto");
    CHECK_MSG(strncmp(r->id, "msg_", 4) == 0, "id %s", r->id);
    CHECK_EQ_INT(r->dialect, DIALECT_OPENAI_CHAT);
    CHECK_EQ_INT(r->max_tokens, 7);
    CHECK(r->has_temperature && r->temperature == 0.5f);
    CHECK(r->has_top_p && fabsf(r->top_p - 0.9f) < 1e-6f);
    CHECK(r->has_top_k && r->top_k == 3);
    CHECK(json_object_get(r->body, "top_k") == NULL); /* OpenAI upstreams refuse it */
    CHECK_EQ_INT(r->n_stop, 2);
    CHECK(r->stream);
    CHECK_STR(r->user, "u1");
    CHECK(r->has_tools);
    CHECK_EQ_INT(r->n_messages, 5);
    CHECK_EQ_INT(r->messages[0].role, ROLE_SYSTEM);
    CHECK_STR(r->messages[0].content, "Be brief.");
    CHECK_STR(r->messages[1].content, "Hi");
    CHECK_EQ_INT(r->messages[2].role, ROLE_ASSISTANT);
    CHECK_STR(r->messages[2].content, "Let me look.");
    CHECK(r->messages[2].tool_calls && json_array_size(r->messages[2].tool_calls) == 1);
    CHECK_EQ_INT(r->messages[3].role, ROLE_TOOL);
    CHECK_STR(r->messages[3].tool_call_id, "tu1");
    CHECK_STR(r->messages[3].content, "42");
    CHECK_EQ_INT(r->messages[4].role, ROLE_USER);
    CHECK_STR(r->messages[4].content, "So?");
    check_body(r, "tools", "[{\"type\":\"function\",\"function\":{\"name\":\"f\",\"description\":"
                           "\"d\",\"parameters\":{\"type\":\"object\"}}}]");
    check_body(r, "tool_choice", "{\"type\":\"function\",\"function\":{\"name\":\"f\"}}");
    json_t *calls = json_object_get(json_array_get(json_object_get(r->body, "messages"), 2),
                                    "tool_calls");
    CHECK_STR(json_string_value(json_object_get(json_object_get(json_array_get(calls, 0),
                                                                "function"), "arguments")),
              "{\"a\":1}");
    request_free(r);

    r = parse_ok(anthropic_parse, "{\"model\":\"m\",\"max_tokens\":1,\"messages\":[{\"role\":"
                                  "\"user\",\"content\":\"x\"}],\"tool_choice\":{\"type\":\"any\"},"
                                  "\"thinking\":{\"type\":\"disabled\"}}");
    if (r) {
        check_body(r, "tool_choice", "\"required\"");
        CHECK(!r->stream && !r->has_top_k && !r->has_temperature);
        request_free(r);
    }
}

static void test_anthropic_refusals(void)
{
    const char *msgs = "\"messages\":[{\"role\":\"user\",\"content\":\"x\"}]";
    char b[512];
    expect_400(anthropic_parse, "{\"model\":", "not valid JSON");
    expect_400(anthropic_parse, "[]", "must be a JSON object");
    snprintf(b, sizeof b, "{\"max_tokens\":5,%s}", msgs);
    expect_400(anthropic_parse, b, "model: Field required");
    snprintf(b, sizeof b, "{\"model\":\"m\",%s}", msgs);
    expect_400(anthropic_parse, b, "max_tokens: Field required");
    snprintf(b, sizeof b, "{\"model\":\"m\",\"max_tokens\":0,%s}", msgs);
    expect_400(anthropic_parse, b, "max_tokens: expected an integer >= 1");
    expect_400(anthropic_parse, "{\"model\":\"m\",\"max_tokens\":5}", "messages: Field required");
    expect_400(anthropic_parse, "{\"model\":\"m\",\"max_tokens\":5,\"messages\":[]}",
               "non-empty array");
    expect_400(anthropic_parse, "{\"model\":\"m\",\"max_tokens\":5,\"messages\":[{\"role\":"
                                "\"system\",\"content\":\"x\"}]}",
               "messages.0.role: Input should be 'user' or 'assistant'");
    expect_400(anthropic_parse, "{\"model\":\"m\",\"max_tokens\":5,\"messages\":[{\"role\":"
                                "\"user\",\"content\":[{\"type\":\"text\",\"text\":\"a\"},{\"type\":"
                                "\"image\",\"source\":{}}]}]}",
               "messages.0.content.1.type: content block type 'image' is not supported");
    expect_400(anthropic_parse, "{\"model\":\"m\",\"max_tokens\":5,\"messages\":[{\"role\":"
                                "\"user\",\"content\":[{\"type\":\"tool_use\",\"id\":\"a\",\"name\":"
                                "\"f\",\"input\":{}}]}]}",
               "'tool_use' is not supported"); /* only in assistant turns */
    expect_400(anthropic_parse, "{\"model\":\"m\",\"max_tokens\":5,\"messages\":[{\"role\":"
                                "\"user\",\"content\":[{\"type\":\"tool_result\"}]}]}",
               "messages.0.content.0.tool_use_id: Field required");
    snprintf(b, sizeof b, "{\"model\":\"m\",\"max_tokens\":5,\"temperature\":1.5,%s}", msgs);
    expect_400(anthropic_parse, b, "temperature: 1.5 is out of range [0, 1]");
    snprintf(b, sizeof b, "{\"model\":\"m\",\"max_tokens\":5,\"top_k\":-1,%s}", msgs);
    expect_400(anthropic_parse, b, "top_k: expected an integer >= 0");
    snprintf(b, sizeof b, "{\"model\":\"m\",\"max_tokens\":5,\"stop_sequences\":[\"a\",\"b\",\"c\","
                          "\"d\",\"e\"],%s}", msgs);
    expect_400(anthropic_parse, b, "stop_sequences: baton supports at most 4");
    snprintf(b, sizeof b, "{\"model\":\"m\",\"max_tokens\":5,\"system\":[{\"type\":\"image\"}],%s}",
             msgs);
    expect_400(anthropic_parse, b, "system.0: only text blocks");
    snprintf(b, sizeof b, "{\"model\":\"m\",\"max_tokens\":5,\"thinking\":{\"type\":\"enabled\","
                          "\"budget_tokens\":1024},%s}", msgs);
    expect_400(anthropic_parse, b, "extended thinking is not supported");
    snprintf(b, sizeof b, "{\"model\":\"m\",\"max_tokens\":5,\"tools\":[{\"type\":"
                          "\"web_search_20250305\",\"name\":\"web_search\"}],%s}", msgs);
    expect_400(anthropic_parse, b, "server tool 'web_search_20250305' is not supported");
    snprintf(b, sizeof b, "{\"model\":\"m\",\"max_tokens\":5,\"tool_choice\":{\"type\":\"maybe\"},%s}",
             msgs);
    expect_400(anthropic_parse, b, "tool_choice.type: Input should be");
    snprintf(b, sizeof b, "{\"model\":\"m\",\"max_tokens\":5,\"stream\":\"yes\",%s}", msgs);
    expect_400(anthropic_parse, b, "stream: expected a boolean");
}

/* Runs events through a dialect's encoder; returns what it wrote (caller frees). */
static char *encode(const struct api_dialect *d, struct request *req, const struct event *evs,
                    size_t n)
{
    struct api_resp *r = d->resp_new(req, "tier1");
    struct buf out;
    buf_init(&out);
    for (size_t i = 0; i < n; i++)
        d->resp_event(r, &evs[i], &out);
    d->resp_finish(r, 7, &out);
    d->resp_free(r);
    buf_putc(&out, 0);
    return buf_detach(&out);
}

static void test_anthropic_encode(void)
{
    const struct api_dialect *d = api_dialect(API_ANTHROPIC_MESSAGES);
    struct request *req = parse_ok(anthropic_parse, "{\"model\":\"m\",\"max_tokens\":5,"
                                                    "\"messages\":[{\"role\":\"user\",\"content\":"
                                                    "\"x\"}]}");
    if (!req)
        return;
    struct event evs[] = {
        {.type = EV_DELTA, .text = "Hel", .len = 3},
        {.type = EV_DELTA, .text = "lo", .len = 2},
        {.type = EV_USAGE, .prompt_tokens = 4, .completion_tokens = 2},
        {.type = EV_FINISH, .finish_reason = "stop", .stop_sequence = "END"},
    };
    char *s = encode(d, req, evs, 4);
    char want[512];
    snprintf(want, sizeof want, "{\"id\":\"%s\",\"type\":\"message\",\"role\":\"assistant\","
             "\"model\":\"tier1\",\"content\":[{\"type\":\"text\",\"text\":\"Hello\"}],"
             "\"stop_reason\":\"stop_sequence\",\"stop_sequence\":\"END\",\"usage\":"
             "{\"input_tokens\":4,\"output_tokens\":2}}", req->id);
    CHECK_STR(s, want);
    free(s);
    evs[3] = (struct event){.type = EV_FINISH, .finish_reason = "length"};
    s = encode(d, req, evs, 4);
    CHECK(strstr(s, "\"stop_reason\":\"max_tokens\",\"stop_sequence\":null") != NULL);
    free(s);

    /* a stream: text, then a tool call in two deltas */
    req->stream = true;
    json_t *d1 = json_loads("{\"tool_calls\":[{\"index\":0,\"id\":\"call_1\",\"type\":\"function\","
                            "\"function\":{\"name\":\"f\",\"arguments\":\"\"}}]}", 0, NULL);
    json_t *d2 = json_loads("{\"tool_calls\":[{\"index\":0,\"function\":{\"arguments\":"
                            "\"{\\\"a\\\":1}\"}}]}", 0, NULL);
    struct event sevs[] = {
        {.type = EV_DELTA, .text = "Hi", .len = 2},
        {.type = EV_DELTA, .delta = d1},
        {.type = EV_DELTA, .delta = d2},
        {.type = EV_USAGE, .prompt_tokens = 4, .completion_tokens = 3},
        {.type = EV_FINISH, .finish_reason = "tool_calls"},
    };
    s = encode(d, req, sevs, 5);
    const char *order[] = {
        "event: message_start\ndata: {\"type\":\"message_start\",\"message\":{\"id\":\"msg_",
        "event: ping\ndata: {\"type\":\"ping\"}\n\n",
        "event: content_block_start\ndata: {\"type\":\"content_block_start\",\"index\":0,"
        "\"content_block\":{\"type\":\"text\",\"text\":\"\"}}\n\n",
        "event: content_block_delta\ndata: {\"type\":\"content_block_delta\",\"index\":0,"
        "\"delta\":{\"type\":\"text_delta\",\"text\":\"Hi\"}}\n\n",
        "event: content_block_stop\ndata: {\"type\":\"content_block_stop\",\"index\":0}\n\n",
        "event: content_block_start\ndata: {\"type\":\"content_block_start\",\"index\":1,"
        "\"content_block\":{\"type\":\"tool_use\",\"id\":\"call_1\",\"name\":\"f\",\"input\":{}}}",
        "\"index\":1,\"delta\":{\"type\":\"input_json_delta\",\"partial_json\":\"{\\\"a\\\":1}\"}}",
        "event: content_block_stop\ndata: {\"type\":\"content_block_stop\",\"index\":1}\n\n",
        "event: message_delta\ndata: {\"type\":\"message_delta\",\"delta\":{\"stop_reason\":"
        "\"tool_use\",\"stop_sequence\":null},\"usage\":{\"input_tokens\":4,\"output_tokens\":3}}",
        "event: message_stop\ndata: {\"type\":\"message_stop\"}\n\n",
    };
    const char *at = s;
    for (size_t i = 0; i < sizeof order / sizeof *order; i++) {
        const char *f = strstr(at, order[i]);
        CHECK_MSG(f != NULL, "stream lacks, in order, %s\n--- got:\n%s", order[i], s);
        if (f)
            at = f + strlen(order[i]);
    }
    CHECK_MSG(*at == 0, "trailing bytes: %s", at);
    free(s);
    /* the same non-stream: a tool_use block with the parsed input */
    req->stream = false;
    s = encode(d, req, sevs, 5);
    CHECK_MSG(strstr(s, "\"content\":[{\"type\":\"text\",\"text\":\"Hi\"},{\"type\":\"tool_use\","
                        "\"id\":\"call_1\",\"name\":\"f\",\"input\":{\"a\":1}}],\"stop_reason\":"
                        "\"tool_use\"") != NULL, "%s", s);
    free(s);
    json_decref(d1);
    json_decref(d2);
    request_free(req);

    const int statuses[] = {400, 401, 403, 404, 413, 429, 500, 502, 503};
    const char *types[] = {"invalid_request_error", "authentication_error", "permission_error",
                           "not_found_error", "request_too_large", "rate_limit_error",
                           "api_error", "api_error", "overloaded_error"};
    for (size_t i = 0; i < sizeof statuses / sizeof *statuses; i++)
        CHECK_STR(anthropic_error_type(statuses[i]), types[i]);
    struct api_error e;
    api_error_set(&e, 429, "requests", NULL, "rate_limit_exceeded", "slow down");
    struct buf b;
    buf_init(&b);
    d->error_json(&e, &b);
    buf_putc(&b, 0);
    CHECK_STR(b.data, "{\"type\":\"error\",\"error\":{\"type\":\"rate_limit_error\",\"message\":"
                      "\"slow down\"}}");
    buf_clear(&b);
    d->stream_error(&e, &b);
    buf_putc(&b, 0);
    CHECK_STR(b.data, "event: error\ndata: {\"type\":\"error\",\"error\":{\"type\":"
                      "\"rate_limit_error\",\"message\":\"slow down\"}}\n\n");
    buf_free(&b);
}

static void test_ollama_parse(void)
{
    struct request *r = parse_ok(ollama_parse_chat,
        "{\"model\":\"small\",\"messages\":[{\"role\":\"system\",\"content\":\"S\"},"
        "{\"role\":\"user\",\"content\":\"U\"},{\"role\":\"assistant\",\"content\":\"\","
        "\"tool_calls\":[{\"function\":{\"name\":\"f\",\"arguments\":{\"a\":1}}},"
        "{\"function\":{\"name\":\"g\",\"arguments\":{}}}]},{\"role\":\"tool\",\"content\":\"1\","
        "\"tool_name\":\"f\"},{\"role\":\"tool\",\"content\":\"2\"}],"
        "\"format\":\"json\",\"options\":{\"temperature\":0.2,\"top_p\":0.5,\"top_k\":9,"
        "\"seed\":42,\"num_predict\":33,\"stop\":[\"a\"],\"num_ctx\":4096},\"keep_alive\":\"5m\"}");
    if (r) {
        CHECK(r->stream); /* Ollama's default */
        CHECK_EQ_INT(r->n_messages, 5);
        CHECK_STR(r->messages[3].tool_call_id, "call_2_0");
        CHECK_STR(r->messages[3].name, "f");
        CHECK_STR(r->messages[4].tool_call_id, "call_2_1");
        CHECK_EQ_INT(r->max_tokens, 33);
        CHECK(r->has_temperature && fabsf(r->temperature - 0.2f) < 1e-6f);
        CHECK(r->has_top_k && r->top_k == 9);
        CHECK(r->has_seed && r->seed == 42);
        CHECK_EQ_INT(r->n_stop, 1);
        CHECK(r->has_response_format);
        check_body(r, "response_format", "{\"type\":\"json_object\"}");
        CHECK_STR(json_string_value(json_object_get(json_object_get(json_array_get(
                      json_object_get(json_array_get(json_object_get(r->body, "messages"), 2),
                                      "tool_calls"), 0), "function"), "arguments")),
                  "{\"a\":1}");
        request_free(r);
    }
    r = parse_ok(ollama_parse_chat, "{\"model\":\"m\",\"stream\":false,\"messages\":[{\"role\":"
                                    "\"user\",\"content\":\"x\"}],\"format\":{\"type\":\"object\"},"
                                    "\"options\":{\"num_predict\":-1}}");
    if (r) {
        CHECK(!r->stream);
        CHECK_EQ_INT(r->max_tokens, -1);
        check_body(r, "response_format", "{\"type\":\"json_schema\",\"json_schema\":{\"name\":"
                                         "\"format\",\"schema\":{\"type\":\"object\"}}}");
        request_free(r);
    }
    r = parse_ok(ollama_parse_generate, "{\"model\":\"m\",\"prompt\":\"P\",\"system\":\"S\"}");
    if (r) {
        CHECK_EQ_INT(r->dialect, DIALECT_OPENAI_CHAT);
        CHECK_EQ_INT(r->n_messages, 2);
        CHECK_STR(r->messages[0].content, "S");
        CHECK_STR(r->messages[1].content, "P");
        CHECK(r->prompt == NULL);
        request_free(r);
    }
    r = parse_ok(ollama_parse_generate, "{\"model\":\"m\",\"prompt\":\"P\",\"system\":\"S\","
                                        "\"raw\":true,\"stream\":false}");
    if (r) {
        CHECK_EQ_INT(r->dialect, DIALECT_OPENAI_COMPLETION);
        CHECK_STR(r->prompt, "P");
        CHECK_EQ_INT(r->n_messages, 0);
        request_free(r);
    }
}

static void test_ollama_refusals(void)
{
    expect_400(ollama_parse_chat, "{", "invalid JSON body");
    expect_400(ollama_parse_chat, "{\"messages\":[{\"role\":\"user\",\"content\":\"x\"}]}",
               "model is required");
    expect_400(ollama_parse_chat, "{\"model\":\"m\"}", "messages is required");
    expect_400(ollama_parse_chat, "{\"model\":\"m\",\"messages\":[{\"role\":\"robot\","
                                  "\"content\":\"x\"}]}",
               "messages[0].role: 'robot' is not one of system, user, assistant, tool");
    expect_400(ollama_parse_chat, "{\"model\":\"m\",\"messages\":[{\"role\":\"user\","
                                  "\"content\":\"x\",\"images\":[\"aGk=\"]}]}",
               "messages[0].images: images are not supported");
    expect_400(ollama_parse_chat, "{\"model\":\"m\",\"messages\":[{\"role\":\"user\","
                                  "\"content\":5}]}", "messages[0].content: expected a string");
    expect_400(ollama_parse_chat, "{\"model\":\"m\",\"format\":\"yaml\",\"messages\":[{\"role\":"
                                  "\"user\",\"content\":\"x\"}]}",
               "format: expected \"json\" or a JSON schema object");
    expect_400(ollama_parse_chat, "{\"model\":\"m\",\"options\":{\"temperature\":3},\"messages\":"
                                  "[{\"role\":\"user\",\"content\":\"x\"}]}",
               "options.temperature: 3 is out of range [0, 2]");
    expect_400(ollama_parse_chat, "{\"model\":\"m\",\"options\":{\"stop\":[\"a\",\"b\",\"c\","
                                  "\"d\",\"e\"]},\"messages\":[{\"role\":\"user\",\"content\":"
                                  "\"x\"}]}", "options.stop: baton supports at most 4");
    expect_400(ollama_parse_chat, "{\"model\":\"m\",\"options\":{\"seed\":1.5},\"messages\":"
                                  "[{\"role\":\"user\",\"content\":\"x\"}]}",
               "options.seed: expected an integer");
    expect_400(ollama_parse_chat, "{\"model\":\"m\",\"stream\":1,\"messages\":[{\"role\":"
                                  "\"user\",\"content\":\"x\"}]}", "stream: expected a boolean");
    expect_400(ollama_parse_generate, "{\"model\":\"m\"}", "prompt is required");
    expect_400(ollama_parse_generate, "{\"model\":\"m\",\"prompt\":\"x\",\"template\":\"{{ .Prompt"
                                      " }}\"}", "custom prompt templates are not supported");
    expect_400(ollama_parse_generate, "{\"model\":\"m\",\"prompt\":\"x\",\"suffix\":\"y\"}",
               "suffix (fill-in-the-middle) is not supported");
    expect_400(ollama_parse_generate, "{\"model\":\"m\",\"prompt\":\"x\",\"context\":[1,2]}",
               "context (the deprecated token context) is not supported");
    expect_400(ollama_parse_generate, "{\"model\":\"m\",\"prompt\":\"x\",\"images\":[\"a\"]}",
               "images are not supported");
}

static void test_ollama_encode(void)
{
    struct request *req = parse_ok(ollama_parse_chat, "{\"model\":\"m\",\"messages\":[{\"role\":"
                                                      "\"user\",\"content\":\"x\"}]}");
    if (!req)
        return;
    json_t *d1 = json_loads("{\"tool_calls\":[{\"index\":0,\"id\":\"c\",\"type\":\"function\","
                            "\"function\":{\"name\":\"f\",\"arguments\":\"{\\\"a\\\":\"}}]}", 0,
                            NULL);
    json_t *d2 = json_loads("{\"tool_calls\":[{\"index\":0,\"function\":{\"arguments\":"
                            "\"1}\"}}]}", 0, NULL);
    struct event evs[] = {
        {.type = EV_DELTA, .text = "Hel", .len = 3},
        {.type = EV_DELTA, .text = "lo", .len = 2},
        {.type = EV_DELTA, .delta = d1},
        {.type = EV_DELTA, .delta = d2},
        {.type = EV_USAGE, .prompt_tokens = 4, .completion_tokens = 2},
        {.type = EV_FINISH, .finish_reason = "tool_calls"},
    };
    const struct api_dialect *d = api_dialect(API_OLLAMA_CHAT);
    char *s = encode(d, req, evs, 6); /* streamed: three lines */
    char *line[4] = {0};
    int n = 0;
    for (char *p = s; *p && n < 4; n++) {
        char *nl = strchr(p, '\n');
        CHECK_MSG(nl != NULL, "unterminated line: %s", p);
        if (!nl)
            break;
        *nl = 0;
        line[n] = p;
        p = nl + 1;
    }
    CHECK_EQ_INT(n, 3);
    const char *want_content[] = {"Hel", "lo"};
    for (int i = 0; i < 2 && i < n; i++) {
        json_t *o = json_loads(line[i], 0, NULL);
        CHECK_STR(json_string_value(json_object_get(o, "model")), "tier1");
        CHECK(json_is_false(json_object_get(o, "done")));
        CHECK_STR(json_string_value(json_object_get(json_object_get(o, "message"), "content")),
                  want_content[i]);
        CHECK(strlen(json_string_value(json_object_get(o, "created_at"))) == 30);
        json_decref(o);
    }
    if (n == 3) {
        json_t *o = json_loads(line[2], 0, NULL);
        CHECK(json_is_true(json_object_get(o, "done")));
        CHECK_STR(json_string_value(json_object_get(o, "done_reason")), "stop");
        CHECK_EQ_INT(json_integer_value(json_object_get(o, "prompt_eval_count")), 4);
        CHECK_EQ_INT(json_integer_value(json_object_get(o, "eval_count")), 2);
        const char *ns[] = {"total_duration", "load_duration", "prompt_eval_duration",
                            "eval_duration"};
        for (int i = 0; i < 4; i++)
            CHECK_MSG(json_is_integer(json_object_get(o, ns[i])) &&
                          json_integer_value(json_object_get(o, ns[i])) >= 0, "%s", ns[i]);
        char *calls = json_dumps(json_object_get(json_object_get(o, "message"), "tool_calls"),
                                 JSON_COMPACT);
        CHECK_STR(calls, "[{\"function\":{\"name\":\"f\",\"arguments\":{\"a\":1}}}]");
        free(calls);
        json_decref(o);
    }
    free(s);
    req->stream = false; /* one object */
    evs[5].finish_reason = "length";
    s = encode(d, req, evs, 6);
    json_t *o = json_loads(s, 0, NULL);
    CHECK_MSG(o != NULL, "not one JSON object: %s", s);
    CHECK_STR(json_string_value(json_object_get(json_object_get(o, "message"), "content")),
              "Hello");
    CHECK_STR(json_string_value(json_object_get(o, "done_reason")), "length");
    json_decref(o);
    free(s);
    request_free(req);
    req = parse_ok(ollama_parse_generate, "{\"model\":\"m\",\"prompt\":\"x\",\"stream\":false}");
    if (req) {
        s = encode(api_dialect(API_OLLAMA_GENERATE), req, evs, 2);
        CHECK_MSG(strstr(s, "\"response\":\"Hello\",\"done\":true,\"done_reason\":\"stop\"") != NULL,
                  "%s", s);
        free(s);
        request_free(req);
    }
    json_decref(d1);
    json_decref(d2);

    struct api_error e;
    api_error_set(&e, 404, "invalid_request_error", "model", NULL, "model 'x' not found");
    struct buf b;
    buf_init(&b);
    d->error_json(&e, &b);
    buf_putc(&b, 0);
    CHECK_STR(b.data, "{\"error\":\"model 'x' not found\"}");
    buf_clear(&b);
    d->stream_error(&e, &b);
    buf_putc(&b, 0);
    CHECK_STR(b.data, "{\"error\":\"model 'x' not found\"}\n");
    buf_clear(&b);

    struct api_model models[] = {{"auto", "baton-route"}, {"small", "baton-local"}};
    ollama_tags(models, 2, &b);
    buf_putc(&b, 0);
    o = json_loads(b.data, 0, NULL);
    json_t *list = json_object_get(o, "models");
    CHECK_EQ_INT(json_array_size(list), 2);
    CHECK_STR(json_string_value(json_object_get(json_array_get(list, 1), "name")), "small");
    CHECK_STR(json_string_value(json_object_get(json_object_get(json_array_get(list, 1),
                                                                "details"), "format")), "gguf");
    json_decref(o);
    buf_clear(&b);
    CHECK_EQ_INT(ollama_show("{\"model\":\"auto\"}", 16, models, 2, &b, &e), 0);
    buf_clear(&b);
    CHECK_EQ_INT(ollama_show("{\"model\":\"zz\"}", 14, models, 2, &b, &e), -1);
    CHECK_EQ_INT(e.status, 404);
    CHECK_EQ_INT(ollama_show("{}", 2, models, 2, &b, &e), -1);
    CHECK_EQ_INT(e.status, 400);
    buf_free(&b);
}

int main(void)
{
    RUN(test_anthropic_parse);
    RUN(test_anthropic_refusals);
    RUN(test_anthropic_encode);
    RUN(test_ollama_parse);
    RUN(test_ollama_refusals);
    RUN(test_ollama_encode);
    return check_report();
}
