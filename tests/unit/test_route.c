/* test_route: the router -- tier by name, each rule condition, rule order, the default,
 * fallbacks, the model-not-found message, explain agreeing with decide, and the time one
 * decision takes on a 4 KB prompt against 10 rules. */
#include "check.h"

#include "api/openai.h"
#include "base/alloc.h"
#include "base/clock.h"
#include "gateway/config.h"
#include "gateway/route.h"

static const char *g_yaml =
    "tiers:\n"
    "  - { name: small, kind: local, model: s.gguf }\n"
    "  - { name: mid, kind: local, model: m.gguf }\n"
    "  - name: cloud\n"
    "    kind: openai\n"
    "    base_url: https://api.example.com/v1\n"
    "    price: { input: 1.75, output: 14 }\n"
    "routes:\n"
    "  - name: auto\n"
    "    rules:\n"
    "      - { name: tools, needs: [tools], tier: cloud }\n"
    "      - { name: json, needs: [response_format], tier: mid }\n"
    "      - { name: long, min_chars: 100, tier: cloud }\n"
    "      - { name: code, regex: \"```|\\\\bdef\\\\b\", tier: mid }\n"
    "      - { name: hard, keywords: [Prove, derive, 'straße'], tier: cloud }\n"
    "      - { name: tiny, max_chars: 3, tier: mid }\n"
    "      - { name: both, min_chars: 20, keywords: [both], tier: cloud }\n"
    "    default: small\n"
    "    fallback: [cloud, small]\n"
    "  - name: empty\n"
    "    default: mid\n";

static struct config *g_cfg;
static struct router *g_router;

static struct request *chat(const char *model, const char *content, const char *extra)
{
    json_t *body = json_pack("{s:s, s:[{s:s, s:s}]}", "model", model, "messages", "role", "user",
                             "content", content);
    if (extra) {
        json_t *x = json_loads(extra, 0, NULL);
        json_object_update(body, x);
        json_decref(x);
    }
    char *text = json_dumps(body, 0);
    json_decref(body);
    struct request *r = NULL;
    struct api_error ae;
    int rc = openai_parse(DIALECT_OPENAI_CHAT, text, strlen(text), &r, &ae);
    CHECK_MSG(rc == 0, "openai_parse: %s", ae.message);
    free(text);
    return r;
}

/* Decides for req (consumed), checks tier and reason, and that explain agrees. */
static void expect_at(int line, struct request *req, const char *tier, const char *reason)
{
    struct route_decision d, d2;
    struct err e = {{0}};
    int rc = router_decide(g_router, req, &d, &e);
    struct buf trace;
    buf_init(&trace);
    int rc2 = router_explain(g_router, req, &d2, &trace, &e);
    check_count++;
    if (rc || rc2 || strcmp(d.tiers[0], tier) || strcmp(d.reason, reason) ||
        strcmp(d2.tiers[0], d.tiers[0]) || strcmp(d2.reason, d.reason) || !trace.len) {
        check_failures++;
        fprintf(stderr, "%s:%d: expected %s \"%s\", got %s \"%s\" (explain: %s \"%s\") %s\n",
                __FILE__, line, tier, reason, rc ? "error" : d.tiers[0], rc ? e.msg : d.reason,
                rc2 ? "error" : d2.tiers[0], rc2 ? "" : d2.reason, trace.data ? trace.data : "");
    }
    buf_free(&trace);
    request_free(req);
}
#define EXPECT(req, tier, reason) expect_at(__LINE__, req, tier, reason)

/* Parses yaml and builds its router; both NULL (and a failed check) on an error. */
static void load(const char *yaml, struct config **c, struct router **r)
{
    struct err e = {{0}};
    *c = NULL;
    *r = NULL;
    CHECK_MSG(config_parse(yaml, strlen(yaml), NULL, c, &e) == 0, "%s", e.msg);
    CHECK_MSG(*c && router_new(*c, r, &e) == 0, "%s", e.msg);
}

static void test_tier_by_name(void)
{
    struct request *r = chat("cloud", "prove it", NULL);
    struct route_decision d;
    struct err e;
    CHECK(router_decide(g_router, r, &d, &e) == 0);
    CHECK(d.route == NULL);
    CHECK_EQ_INT(d.n_tiers, 1);
    CHECK_STR(d.tiers[0], "cloud");
    CHECK_STR(d.reason, "tier requested");
    request_free(r);
}

static void test_unknown_model(void)
{
    struct request *r = chat("gpt-5", "hi", NULL);
    struct route_decision d;
    struct err e = {{0}};
    CHECK(router_decide(g_router, r, &d, &e) == -1);
    CHECK_STR(e.msg, "model 'gpt-5' not found: it names neither a tier nor a route (tiers: small, "
                     "mid, cloud; routes: auto, empty)");
    request_free(r);
}

static void test_rule_kinds(void)
{
    EXPECT(chat("auto", "hello there", "{\"tools\": [{\"type\": \"function\", \"function\": "
                                       "{\"name\": \"f\"}}]}"),
           "cloud", "rule tools: needs tools");
    EXPECT(chat("auto", "hello there", "{\"tools\": []}"), "small", "default: no rule matched");
    EXPECT(chat("auto", "hello there", "{\"response_format\": {\"type\": \"json_object\"}}"), "mid",
           "rule json: needs response_format");
    EXPECT(chat("auto", "hello there", "{\"response_format\": {\"type\": \"text\"}}"), "small",
           "default: no rule matched");
    char long_text[101];
    memset(long_text, 'x', 100);
    long_text[100] = 0;
    EXPECT(chat("auto", long_text, NULL), "cloud", "rule long: text 100 bytes >= min_chars 100");
    long_text[99] = 0;
    EXPECT(chat("auto", long_text, NULL), "small", "default: no rule matched");
    EXPECT(chat("auto", "see ```c\nint x;```", NULL), "mid", "rule code: regex matched");
    EXPECT(chat("auto", "def f(): pass", NULL), "mid", "rule code: regex matched");
    EXPECT(chat("auto", "undefined behaviour", NULL), "small", "default: no rule matched");
    /* keywords: case-insensitive ASCII, substrings, UTF-8 bytes exact */
    EXPECT(chat("auto", "Please PROVE this", NULL), "cloud", "rule hard: keyword \"Prove\"");
    EXPECT(chat("auto", "we must improve", NULL), "cloud", "rule hard: keyword \"Prove\"");
    EXPECT(chat("auto", "DeRiVe the formula", NULL), "cloud", "rule hard: keyword \"derive\"");
    EXPECT(chat("auto", "in der Straße", NULL), "cloud", "rule hard: keyword \"stra??e\"");
    EXPECT(chat("auto", "in der STRASSE", NULL), "small", "default: no rule matched");
    EXPECT(chat("auto", "pro", NULL), "mid", "rule tiny: text 3 bytes <= max_chars 3");
    /* every condition of a rule must hold */
    EXPECT(chat("auto", "both of them", NULL), "small", "default: no rule matched");
    EXPECT(chat("auto", "we want both of them, please", NULL), "cloud",
           "rule both: text 28 bytes >= min_chars 20, keyword \"both\"");
    /* a route with no rules */
    EXPECT(chat("empty", "prove", NULL), "mid", "default: no rules");
}

static void test_order_and_fallback(void)
{
    /* tools (rule 1) and a keyword (rule 5) both hold: the first wins */
    struct request *r = chat("auto", "prove it", "{\"tools\": [{\"type\": \"function\", "
                                                 "\"function\": {\"name\": \"f\"}}]}");
    struct route_decision d;
    struct err e;
    CHECK(router_decide(g_router, r, &d, &e) == 0);
    CHECK_STR(d.route, "auto");
    CHECK_STR(d.reason, "rule tools: needs tools");
    /* chosen cloud, fallbacks [cloud, small] -> cloud, small */
    CHECK_EQ_INT(d.n_tiers, 2);
    CHECK_STR(d.tiers[0], "cloud");
    CHECK_STR(d.tiers[1], "small");
    request_free(r);
    r = chat("auto", "hello", NULL);
    CHECK(router_decide(g_router, r, &d, &e) == 0);
    CHECK_EQ_INT(d.n_tiers, 2);
    CHECK_STR(d.tiers[0], "small");
    CHECK_STR(d.tiers[1], "cloud");
    request_free(r);
}

static void test_text_segments(void)
{
    /* keywords and regexes look at each message (and a completion's prompt) on its own */
    const char *body = "{\"model\": \"auto\", \"messages\": [{\"role\": \"system\", \"content\": "
                       "\"You are terse.\"}, {\"role\": \"user\", \"content\": \"de\"}, "
                       "{\"role\": \"user\", \"content\": \"f x\"}]}";
    struct request *r;
    struct api_error ae;
    CHECK(openai_parse(DIALECT_OPENAI_CHAT, body, strlen(body), &r, &ae) == 0);
    EXPECT(r, "small", "default: no rule matched");
    body = "{\"model\": \"auto\", \"prompt\": \"def main\"}";
    CHECK(openai_parse(DIALECT_OPENAI_COMPLETION, body, strlen(body), &r, &ae) == 0);
    EXPECT(r, "mid", "rule code: regex matched");
    /* invalid UTF-8 (a request built in code, not by the JSON parser): no crash, no match */
    r = chat("auto", "placeholder text", NULL);
    free(r->messages[0].content);
    r->messages[0].content = xstrdup("\xff\xfe def \xc3");
    EXPECT(r, "mid", "rule code: regex matched");
}

static void test_runaway_regex(void)
{
    const char *yaml = "tiers:\n  - { name: a, kind: local, model: m }\n"
                       "  - { name: b, kind: local, model: m }\n"
                       "routes:\n  - name: r\n    rules:\n"
                       "      - { regex: \"(a+)+$\", tier: b }\n    default: a\n";
    struct config *c;
    struct router *rt;
    struct err e;
    load(yaml, &c, &rt);
    if (!rt)
        return;
    char text[4097];
    memset(text, 'a', 4095);
    text[4095] = '!';
    text[4096] = 0;
    struct request *r = chat("r", text, NULL);
    struct route_decision d;
    uint64_t t0 = clock_now_ns();
    CHECK(router_decide(rt, r, &d, &e) == 0);
    double ms = (double)(clock_now_ns() - t0) / 1e6;
    CHECK_STR(d.tiers[0], "a");
    fprintf(stderr, "  catastrophic regex (a+)+$ on 4 KB: gave up after %.2f ms\n", ms);
    struct buf t;
    buf_init(&t);
    CHECK(router_explain(rt, r, &d, &t, &e) == 0);
    CHECK(strstr(t.data, "matching gave up: match limit exceeded") != NULL);
    buf_free(&t);
    request_free(r);
    router_free(rt);
    config_free(c);
}

static void test_explain_text(void)
{
    struct request *r = chat("auto", "Derive the ```code```", NULL);
    struct route_decision d;
    struct buf t;
    struct err e;
    buf_init(&t);
    CHECK(router_explain(g_router, r, &d, &t, &e) == 0);
    const char *want =
        "model 'auto' names a route (strategy rules)\n"
        "rules, in order (the first match wins):\n"
        "  1. tools -> cloud\n"
        "       needs [tools]: no, the request has no tools\n"
        "     => does not match\n"
        "  2. json -> mid\n"
        "       needs [response_format]: no, the request has no response_format\n"
        "     => does not match\n"
        "  3. long -> cloud\n"
        "       min_chars 100: no, the text is 21 bytes\n"
        "     => does not match\n"
        "  4. code -> mid\n"
        "       regex /```|\\bdef\\b/: yes, it matches\n"
        "     => matches: mid\n"
        "  5. hard -> cloud: not evaluated (rule code matched first)\n"
        "  6. tiny -> mid: not evaluated (rule code matched first)\n"
        "  7. both -> cloud: not evaluated (rule code matched first)\n";
    CHECK_STR(t.data, want);
    buf_free(&t);
    request_free(r);
}

/* 10 rules that all get evaluated and fail on a 4 KB prompt: the worst case of a decision. */
static void test_decide_time(void)
{
    const char *yaml =
        "tiers:\n  - { name: a, kind: local, model: m }\n  - { name: b, kind: local, model: m }\n"
        "routes:\n  - name: r\n    rules:\n"
        "      - { needs: [tools], tier: b }\n"
        "      - { min_chars: 100000, tier: b }\n"
        "      - { regex: \"```\", tier: b }\n"
        "      - { regex: \"\\\\b(def|class|import)\\\\s+\\\\w+\", tier: b }\n"
        "      - { regex: \"(?i)translate (this|the following)\", tier: b }\n"
        "      - { keywords: [prove, derive, theorem, lemma], tier: b }\n"
        "      - { keywords: [sql, query, database, select], tier: b }\n"
        "      - { keywords: [kubernetes, docker, terraform], tier: b }\n"
        "      - { max_chars: 10, tier: b }\n"
        "      - { min_chars: 1000, keywords: [summarize, summary, tl;dr], tier: b }\n"
        "    default: a\n";
    struct config *c;
    struct router *rt;
    struct err e;
    load(yaml, &c, &rt);
    if (!rt)
        return;
    static const char *words[] = {"the", "little", "cat", "went", "to", "a", "park", "and",
                                  "played", "with", "her", "friends", "under", "sunny", "sky"};
    char text[4097];
    size_t n = 0, w = 0;
    while (n < 4096) {
        const char *word = words[w++ % (sizeof words / sizeof *words)];
        size_t len = strlen(word);
        for (size_t i = 0; i < len && n < 4096; i++)
            text[n++] = word[i];
        if (n < 4096)
            text[n++] = w % 11 ? ' ' : '\n';
    }
    text[4096] = 0;
    struct request *r = chat("r", text, NULL);
    struct route_decision d;
    CHECK(router_decide(rt, r, &d, &e) == 0);
    CHECK_STR(d.reason, "default: no rule matched");
    enum { N = 2000 };
    double best = 1e9;
    for (int rep = 0; rep < 5; rep++) {
        uint64_t t0 = clock_now_ns();
        for (int i = 0; i < N; i++)
            router_decide(rt, r, &d, &e);
        double us = (double)(clock_now_ns() - t0) / 1e3 / N;
        best = us < best ? us : best;
    }
    fprintf(stderr, "  router_decide, 4 KB prompt, 10 rules, none matching: %.2f us "
                    "(best of 5 x %d)\n", best, N);
    CHECK(best < 2000); /* loose: sanitizer builds are slow; the release number is in the docs */
    request_free(r);
    router_free(rt);
    config_free(c);
}

int main(void)
{
    load(g_yaml, &g_cfg, &g_router);
    if (!g_router)
        return check_report();
    RUN(test_tier_by_name);
    RUN(test_unknown_model);
    RUN(test_rule_kinds);
    RUN(test_order_and_fallback);
    RUN(test_text_segments);
    RUN(test_runaway_regex);
    RUN(test_explain_text);
    RUN(test_decide_time);
    router_free(g_router);
    config_free(g_cfg);
    return check_report();
}
