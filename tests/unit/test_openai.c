/* The OpenAI dialect: what parses into what, every refusal with its status and param, and the
 * JSON / SSE encodings of an event stream (including pass-through tool calls and logprobs). */
#include "check.h"

#include "api/openai.h"

static struct request *parse_ok(enum dialect d, const char *body)
{
    struct request *r = NULL;
    struct api_error e = {0};
    int rc = openai_parse(d, body, strlen(body), &r, &e);
    CHECK_MSG(rc == 0, "refused %s: %s", body, e.message);
    return r;
}

static void expect_400(enum dialect d, const char *body, const char *param, const char *msg_part)
{
    struct request *r = NULL;
    struct api_error e = {0};
    int rc = openai_parse(d, body, strlen(body), &r, &e);
    CHECK_MSG(rc != 0, "accepted %s", body);
    if (rc == 0) {
        request_free(r);
        return;
    }
    CHECK_EQ_INT(e.status, 400);
    CHECK_STR(e.type, "invalid_request_error");
    if (param)
        CHECK_MSG(e.param && strcmp(e.param, param) == 0, "param %s, want %s (%s)",
                  e.param ? e.param : "null", param, body);
    CHECK_MSG(strstr(e.message, msg_part) != NULL, "message \"%s\" lacks \"%s\"", e.message,
              msg_part);
}

static void test_parse(void)
{
    struct request *r = parse_ok(DIALECT_OPENAI_CHAT,
        "{\"model\":\"auto\",\"messages\":[{\"role\":\"system\",\"content\":\"Be brief.\"},"
        "{\"role\":\"user\",\"content\":[{\"type\":\"text\",\"text\":\"Hi \"},{\"type\":\"text\","
        "\"text\":\"there\"}]}],\"max_tokens\":7,\"temperature\":0.5,\"seed\":3,\"stop\":[\"a\",\"b\"],"
        "\"stream\":true,\"stream_options\":{\"include_usage\":true},\"logprobs\":true,"
        "\"top_logprobs\":2,\"user\":\"u1\",\"tools\":[{\"type\":\"function\",\"function\":{\"name\":\"f\"}}]}");
    if (r) {
        CHECK_STR(r->model, "auto");
        CHECK_EQ_INT(r->n_messages, 2);
        CHECK_STR(r->messages[1].content, "Hi there");
        CHECK_EQ_INT(r->messages[0].role, ROLE_SYSTEM);
        CHECK_EQ_INT(r->max_tokens, 7);
        CHECK(r->has_temperature && r->temperature == 0.5f);
        CHECK(r->has_seed && r->seed == 3);
        CHECK_EQ_INT(r->n_stop, 2);
        CHECK(r->stream && r->include_usage && r->logprobs);
        CHECK_EQ_INT(r->top_logprobs, 2);
        CHECK(r->has_tools && !r->has_response_format);
        CHECK_STR(r->user, "u1");
        CHECK(strncmp(r->id, "chatcmpl-", 9) == 0);
        char *t = request_text(r);
        CHECK_STR(t, "Be brief.\nHi there");
        free(t);
        CHECK_EQ_INT(request_text_bytes(r), 17);
        request_free(r);
    }
    r = parse_ok(DIALECT_OPENAI_CHAT,
                 "{\"model\":\"m\",\"messages\":[{\"role\":\"assistant\",\"content\":null,\"tool_calls\":"
                 "[{\"id\":\"c1\",\"type\":\"function\",\"function\":{\"name\":\"f\",\"arguments\":\"{}\"}}]},"
                 "{\"role\":\"tool\",\"tool_call_id\":\"c1\",\"content\":\"42\"}],"
                 "\"max_completion_tokens\":5,\"response_format\":{\"type\":\"json_object\"}}");
    if (r) {
        CHECK(r->messages[0].tool_calls != NULL);
        CHECK_STR(r->messages[1].tool_call_id, "c1");
        CHECK_EQ_INT(r->max_tokens, 5);
        CHECK(r->has_response_format);
        request_free(r);
    }
    r = parse_ok(DIALECT_OPENAI_COMPLETION, "{\"model\":\"m\",\"prompt\":[\"Once\"],\"stop\":\"x\"}");
    if (r) {
        CHECK_STR(r->prompt, "Once");
        CHECK_EQ_INT(r->max_tokens, -1);
        CHECK_EQ_INT(r->n_stop, 1);
        request_free(r);
    }
}

static void test_refusals(void)
{
    const enum dialect C = DIALECT_OPENAI_CHAT;
    expect_400(C, "{\"model\":", NULL, "could not parse the JSON body");
    expect_400(C, "[1,2]", NULL, "expected a JSON object");
    expect_400(C, "{\"messages\":[]}", "model", "must provide a model");
    expect_400(C, "{\"model\":3,\"messages\":[]}", "model", "non-empty string");
    expect_400(C, "{\"model\":\"m\"}", "messages", "Missing required parameter: 'messages'");
    expect_400(C, "{\"model\":\"m\",\"messages\":[]}", "messages", "empty array");
    expect_400(C, "{\"model\":\"m\",\"messages\":[{\"role\":\"wizard\",\"content\":\"x\"}]}",
               "messages", "'wizard'");
    expect_400(C, "{\"model\":\"m\",\"messages\":[{\"role\":\"user\"}]}", "messages", "content");
    expect_400(C, "{\"model\":\"m\",\"messages\":[{\"role\":\"user\",\"content\":5}]}", "messages",
               "expected a string or an array");
    expect_400(C, "{\"model\":\"m\",\"messages\":[{\"role\":\"tool\",\"content\":\"x\"}]}",
               "messages", "tool_call_id");
    const char *msgs = "\"messages\":[{\"role\":\"user\",\"content\":\"x\"}]";
    char b[512];
#define BODY(extra) (snprintf(b, sizeof b, "{\"model\":\"m\",%s,%s}", msgs, extra), b)
    expect_400(C, BODY("\"max_tokens\":0"), "max_tokens", "out of range");
    expect_400(C, BODY("\"max_tokens\":\"5\""), "max_tokens", "expected an integer");
    expect_400(C, BODY("\"temperature\":2.5"), "temperature", "out of range");
    expect_400(C, BODY("\"top_p\":-0.1"), "top_p", "out of range");
    expect_400(C, BODY("\"n\":2"), "n", "only n = 1");
    expect_400(C, BODY("\"stop\":[\"a\",\"b\",\"c\",\"d\",\"e\"]"), "stop", "maximum length 4");
    expect_400(C, BODY("\"stop\":7"), "stop", "expected a string or an array");
    expect_400(C, BODY("\"stream\":\"yes\""), "stream", "expected a boolean");
    expect_400(C, BODY("\"stream_options\":{\"include_usage\":true}"), "stream_options",
               "only allowed when 'stream' is enabled");
    expect_400(C, BODY("\"top_logprobs\":3"), "top_logprobs", "requires 'logprobs'");
    expect_400(C, BODY("\"logprobs\":true,\"top_logprobs\":21"), "top_logprobs", "out of range");
    expect_400(C, BODY("\"tools\":{}"), "tools", "expected an array");
    expect_400(C, "{\"model\":\"m\",\"model\":\"n\",\"messages\":[]}", NULL, "duplicate");
    /* invalid UTF-8 inside a JSON string */
    expect_400(C, "{\"model\":\"m\xff\",\"messages\":[]}", NULL, "could not parse");
    expect_400(DIALECT_OPENAI_COMPLETION, "{\"model\":\"m\"}", "prompt", "'prompt'");
    expect_400(DIALECT_OPENAI_COMPLETION, "{\"model\":\"m\",\"prompt\":\"x\",\"echo\":true}",
               "echo", "not supported");
#undef BODY
}

static void test_encode(void)
{
    struct request *r = parse_ok(DIALECT_OPENAI_CHAT,
        "{\"model\":\"auto\",\"messages\":[{\"role\":\"user\",\"content\":\"x\"}],\"stream\":true,"
        "\"stream_options\":{\"include_usage\":true}}");
    if (!r)
        return;
    struct openai_resp resp;
    openai_resp_init(&resp, r, "small");
    struct buf out;
    buf_init(&out);
    struct event ev = {.type = EV_DELTA, .text = "Hel", .len = 3};
    openai_resp_event(&resp, &ev, &out);
    ev.text = "lo";
    ev.len = 2;
    openai_resp_event(&resp, &ev, &out);
    struct event u = {.type = EV_USAGE, .prompt_tokens = 4, .completion_tokens = 2};
    openai_resp_event(&resp, &u, &out);
    struct event f = {.type = EV_FINISH, .finish_reason = "stop"};
    openai_resp_event(&resp, &f, &out);
    resp.cost_microusd = 1234;
    openai_resp_finish(&resp, &out);
    CHECK(strstr(out.data, "\"delta\":{\"role\":\"assistant\",\"content\":\"Hel\"}") ||
          strstr(out.data, "\"delta\":{\"content\":\"Hel\",\"role\":\"assistant\"}"));
    CHECK(strstr(out.data, "\"delta\":{\"content\":\"lo\"}") != NULL);
    CHECK(strstr(out.data, "\"finish_reason\":\"stop\"") != NULL);
    CHECK(strstr(out.data, "\"usage\":{\"prompt_tokens\":4,\"completion_tokens\":2,\"total_tokens\":6,\"cost_usd\":0.001234}") != NULL);
    size_t n = strlen(out.data);
    CHECK(n > 14 && strcmp(out.data + n - 14, "data: [DONE]\n\n") == 0);
    openai_resp_free(&resp);
    buf_free(&out);
    /* non-stream, with tool calls merged from deltas and logprobs */
    r->stream = false;
    openai_resp_init(&resp, r, "cloud");
    json_error_t je;
    json_t *d1 = json_loads("{\"tool_calls\":[{\"index\":0,\"id\":\"call_1\",\"type\":\"function\","
                            "\"function\":{\"name\":\"get\",\"arguments\":\"{\\\"a\\\"\"}}]}", 0, &je);
    json_t *d2 = json_loads("{\"tool_calls\":[{\"index\":0,\"function\":{\"arguments\":\":1}\"}}]}", 0, &je);
    struct event t1 = {.type = EV_DELTA, .delta = d1};
    struct event t2 = {.type = EV_DELTA, .delta = d2};
    openai_resp_event(&resp, &t1, &out);
    openai_resp_event(&resp, &t2, &out);
    struct token_logprob lp = {"Hi", 2, -0.5f}, top[1] = {{"Yo", 2, -1.5f}};
    struct event t3 = {.type = EV_DELTA, .text = "Hi", .len = 2, .logprob = &lp, .top = top, .n_top = 1};
    openai_resp_event(&resp, &t3, &out);
    f.finish_reason = "tool_calls";
    openai_resp_event(&resp, &f, &out);
    openai_resp_finish(&resp, &out);
    CHECK_EQ_INT(out.len > 0, 1);
    json_t *root = json_loads(out.data, 0, &je);
    CHECK(root != NULL);
    if (root) {
        json_t *msg = json_object_get(json_array_get(json_object_get(root, "choices"), 0), "message");
        const char *args = json_string_value(json_object_get(json_object_get(
            json_array_get(json_object_get(msg, "tool_calls"), 0), "function"), "arguments"));
        CHECK_STR(args, "{\"a\":1}");
        CHECK_STR(json_string_value(json_object_get(msg, "content")), "Hi");
        CHECK_STR(json_string_value(json_object_get(root, "object")), "chat.completion");
        json_t *lpc = json_object_get(json_object_get(json_array_get(json_object_get(root, "choices"), 0),
                                                      "logprobs"), "content");
        CHECK_EQ_INT(json_array_size(lpc), 1);
        json_decref(root);
    }
    json_decref(d1);
    json_decref(d2);
    openai_resp_free(&resp);
    buf_free(&out);
    /* invalid UTF-8 from a model becomes U+FFFD, never an invalid JSON string */
    r->stream = true;
    openai_resp_init(&resp, r, "small");
    struct event bad = {.type = EV_DELTA, .text = "a\xFF" "b", .len = 3};
    openai_resp_event(&resp, &bad, &out);
    CHECK(strstr(out.data, "\"content\":\"a\xEF\xBF\xBD" "b\"") != NULL);
    openai_resp_free(&resp);
    buf_clear(&out);
    struct api_error e;
    api_error_set(&e, 502, "server_error", NULL, NULL, "upstream broke");
    openai_stream_error(&e, &out);
    CHECK_STR(out.data, "data: {\"error\":{\"message\":\"upstream broke\",\"type\":\"server_error\","
                        "\"param\":null,\"code\":null}}\n\n");
    buf_free(&out);
    request_free(r);
}

/* Streamed tool-call deltas merge by index; an upstream's negative or huge index is dropped
 * (it used to crash on a NULL call, or grow the array to the index). */
static void test_merge_tool_calls(void)
{
    json_t *acc = NULL;
    const char *deltas[] = {
        "[{\"index\":0,\"id\":\"c1\",\"function\":{\"name\":\"get\",\"arguments\":\"{\\\"a\"}}]",
        "[{\"index\":-1,\"function\":{\"name\":\"x\",\"arguments\":\"y\"}}]",
        "[{\"index\":1099511627776,\"function\":{\"arguments\":\"y\"}}]",
        "[{\"index\":0,\"function\":{\"arguments\":\"\\\":1}\"}}]",
        "[{\"index\":1,\"id\":\"c2\",\"function\":{\"name\":\"put\",\"arguments\":\"{}\"}}]",
    };
    for (size_t i = 0; i < sizeof deltas / sizeof *deltas; i++) {
        json_t *d = json_loads(deltas[i], 0, NULL);
        CHECK_MSG(d != NULL, "bad test delta %zu", i);
        openai_merge_tool_calls(&acc, d);
        json_decref(d);
    }
    CHECK_EQ_INT((long)json_array_size(acc), 2);
    json_t *c0 = json_array_get(acc, 0), *c1 = json_array_get(acc, 1);
    CHECK_STR(json_string_value(json_object_get(c0, "id")), "c1");
    CHECK_STR(json_string_value(json_object_get(json_object_get(c0, "function"), "arguments")),
              "{\"a\":1}");
    CHECK_STR(json_string_value(json_object_get(json_object_get(c1, "function"), "name")), "put");
    json_decref(acc);
}

int main(void)
{
    RUN(test_merge_tool_calls);
    RUN(test_parse);
    RUN(test_refusals);
    RUN(test_encode);
    return check_report();
}
