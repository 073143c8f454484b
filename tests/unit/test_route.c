/* test_route: the router -- tier by name, each rule condition, rule order, the default,
 * fallbacks, the model-not-found message, explain agreeing with decide, and the time one
 * decision takes on a 4 KB prompt against 10 rules; the learned strategy's decisions, reasons,
 * thresholds and config errors, and its time per decision. */
#include "check.h"

#include "api/openai.h"
#include "base/alloc.h"
#include "base/clock.h"
#include "gateway/config.h"
#include "gateway/route.h"
#include "router/rmodel.h"

#include <unistd.h>

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


/* ------------------------------------------------------------------------------------------
 * The learned strategy */

static const char *g_learned_yaml =
    "tiers:\n"
    "  - { name: small, kind: local, model: s.gguf }\n"
    "  - { name: cloud, kind: openai, base_url: https://api.example.com/v1,\n"
    "      price: { input: 1.75, output: 14 } }\n"
    "routes:\n"
    "  - { name: smart, strategy: learned, weak: small, strong: cloud, fallback: [cloud] }\n"
    "  - { name: never, strategy: learned, weak: small, strong: cloud, strong_fraction: 0 }\n"
    "  - { name: always, strategy: learned, weak: small, strong: cloud, strong_fraction: 1,\n"
    "      router: builtin }\n";

static void test_learned_decisions(void)
{
    struct config *c;
    struct router *rt;
    load(g_learned_yaml, &c, &rt);
    if (!rt)
        return;
    struct router *saved = g_router; /* EXPECT decides with g_router */
    g_router = rt;
    CHECK_STR(c->routes[0].router, "builtin");
    CHECK_NEAR(c->routes[0].strong_fraction, 0.3, 0);
    CHECK(c->routes[0].default_tier == NULL);
    struct rmodel *m = NULL;
    struct err e;
    CHECK(rmodel_open("builtin", &m, &e) == 0);
    if (!m)
        return;
    float thr = rmodel_threshold(m, 0.3);
    struct rfeat *f = xmalloc(sizeof *f);
    static const char *const prompts[] = {
        "hi there! how are you doing today?",
        "Write a haiku about autumn leaves.",
        "Let $f(x) = x^3 - 3x + 1$. Find the number of real roots of $f(f(x)) = 0$.",
        "Which of the following is a noble gas?\nA. Oxygen\nB. Neon\nC. Iron\nD. Sodium\n",
        "def f(s):\n    return s[::-1] + s\nassert f('ab') == ??\n",
    };
    int n_strong = 0;
    for (size_t i = 0; i < sizeof prompts / sizeof *prompts; i++) {
        float score = rmodel_score(m, prompts[i], strlen(prompts[i]), f);
        bool strong = score < thr;
        n_strong += strong;
        char want[256];
        snprintf(want, sizeof want, "learned: score %.3f %s threshold %.3f -> %s (%s)",
                 (double)score, strong ? "<" : ">=", (double)thr, strong ? "strong" : "weak",
                 strong ? "cloud" : "small");
        EXPECT(chat("smart", prompts[i], NULL), strong ? "cloud" : "small", want);
        /* strong_fraction 0: nothing goes strong; 1: everything does */
        snprintf(want, sizeof want, "learned: score %.3f >= threshold 0.000 -> weak (small)",
                 (double)score);
        EXPECT(chat("never", prompts[i], NULL), "small", want);
        snprintf(want, sizeof want, "learned: score %.3f < threshold 1.500 -> strong (cloud)",
                 (double)score);
        EXPECT(chat("always", prompts[i], NULL), "cloud", want);
    }
    fprintf(stderr, "  %d of %zu sample prompts strong at strong_fraction 0.3\n", n_strong,
            sizeof prompts / sizeof *prompts);
    /* the scored text is the last user message: earlier turns and the system prompt do not
     * count */
    struct request *r = chat("smart", prompts[2], NULL);
    struct route_decision d1, d2;
    CHECK(router_decide(rt, r, &d1, &e) == 0);
    request_free(r);
    r = chat("smart", prompts[2], "{\"messages\": [{\"role\": \"system\", \"content\": "
                                  "\"Be brief.\"}, {\"role\": \"user\", \"content\": "
                                  "\"hi\"}, {\"role\": \"assistant\", \"content\": \"Hello!\"}, "
                                  "{\"role\": \"user\", \"content\": \"Let $f(x) = x^3 - 3x + 1$. "
                                  "Find the number of real roots of $f(f(x)) = 0$.\"}]}");
    CHECK(router_decide(rt, r, &d2, &e) == 0);
    CHECK_STR(d1.reason, d2.reason);
    CHECK_EQ_INT(d2.n_tiers, strcmp(d2.tiers[0], "cloud") ? 2 : 1); /* fallback cloud */
    /* explain shows score and threshold */
    struct buf trace;
    buf_init(&trace);
    CHECK(router_explain(rt, r, &d2, &trace, &e) == 0);
    CHECK(trace.data && strstr(trace.data, "strong_fraction 0.300 -> threshold "));
    CHECK(trace.data && strstr(trace.data, "= P(weak as good as strong) = sigmoid("));
    char want[128];
    snprintf(want, sizeof want, "text scored: the last user message, %zu bytes\n",
             strlen(prompts[2]));
    CHECK_MSG(trace.data && strstr(trace.data, want), "%s", trace.data ? trace.data : "");
    buf_free(&trace);
    request_free(r);
    free(f);
    rmodel_free(m);
    g_router = saved;
    router_free(rt);
    config_free(c);
}

/* A config error names line, key and problem. */
static void expect_config_error(const char *yaml, const char *want)
{
    struct config *c = NULL;
    struct err e = {{0}};
    int rc = config_parse(yaml, strlen(yaml), NULL, &c, &e);
    CHECK_MSG(rc != 0 && strstr(e.msg, want), "got \"%s\", want \"%s\"", rc ? e.msg : "accepted",
              want);
    config_free(c);
}

static void test_learned_config_errors(void)
{
    const char *tiers = "tiers:\n  - { name: a, kind: local, model: m }\n"
                        "  - { name: b, kind: local, model: m }\nroutes:\n";
    char y[2048];
#define ROUTE(...) (snprintf(y, sizeof y, "%s  - { name: r, strategy: learned, " __VA_ARGS__ \
                             " }\n", tiers), y)
    expect_config_error(ROUTE("strong: b"), ":5: routes.r.weak: missing (required)");
    expect_config_error(ROUTE("weak: a"), ":5: routes.r.strong: missing (required)");
    expect_config_error(ROUTE("weak: a, strong: c"), "routes.r.strong: unknown tier 'c'");
    expect_config_error(ROUTE("weak: a, strong: a"), "routes.r.strong: 'a' is also the weak tier");
    expect_config_error(ROUTE("weak: a, strong: b, strong_fraction: 1.5"),
                        "routes.r.strong_fraction: expected a number in 0..1");
    expect_config_error(ROUTE("weak: a, strong: b, strong_fraction: '0.3'"),
                        "routes.r.strong_fraction: expected a number in 0..1");
    expect_config_error(ROUTE("weak: a, strong: b, default: a"),
                        "routes.r.default: belongs to strategy rules; this route's strategy is "
                        "learned");
    expect_config_error(ROUTE("weak: a, strong: b, rules: []"), "routes.r.rules: belongs to");
    expect_config_error(ROUTE("weak: a, strong: b, router: /nonexistent/x.router"),
                        "routes.r.router: /nonexistent/x.router");
    snprintf(y, sizeof y, "%s  - { name: r, default: a, weak: a }\n", tiers);
    expect_config_error(y, "routes.r.weak: belongs to strategy learned; this route's strategy "
                           "is rules");
    snprintf(y, sizeof y, "%s  - { name: r, strategy: smart, default: a }\n", tiers);
    expect_config_error(y, "unknown strategy 'smart' (known: rules, learned)");
    /* a damaged router file: the loader's message, under the router key */
    char path[] = "/tmp/baton_test_route_XXXXXX";
    int fd = mkstemp(path);
    CHECK(fd >= 0);
    if (fd >= 0) {
        CHECK(write(fd, "BATONRTR garbage garbage garbage garbage garbage", 48) == 48);
        close(fd);
        char want[256];
        snprintf(want, sizeof want, "routes.r.router: %s: header checksum mismatch", path);
        snprintf(y, sizeof y, "%s  - { name: r, strategy: learned, weak: a, strong: b, "
                              "router: '%s' }\n", tiers, path);
        expect_config_error(y, want);
        unlink(path);
    }
#undef ROUTE
}

static void test_learned_decide_time(void)
{
    struct config *c;
    struct router *rt;
    load(g_learned_yaml, &c, &rt);
    if (!rt)
        return;
    /* a 2 KB prompt of mixed prose, numbers and code */
    char text[2049];
    static const char *const parts[] = {"Explain why the loop below is slow, ",
                                        "for (int i = 0; i < n; i++) { sum += a[i] * 3.5; }\n",
                                        "and estimate the cost for n = 10000000. ",
                                        "What would you change? "};
    size_t n = 0;
    for (size_t k = 0; n < 2048; k++) {
        const char *p = parts[k % 4];
        for (size_t i = 0; p[i] && n < 2048; i++)
            text[n++] = p[i];
    }
    text[2048] = 0;
    struct request *r = chat("smart", text, NULL);
    struct route_decision d;
    struct err e;
    enum { N = 2000 };
    double best = 1e9;
    for (int rep = 0; rep < 5; rep++) {
        uint64_t t0 = clock_now_ns();
        for (int i = 0; i < N; i++)
            router_decide(rt, r, &d, &e);
        double us = (double)(clock_now_ns() - t0) / 1e3 / N;
        best = us < best ? us : best;
    }
    fprintf(stderr, "  router_decide, learned, 2 KB prompt: %.2f us (best of 5 x %d)\n", best,
            N);
    CHECK(best < 2000); /* loose: sanitizer builds are slow; `baton router bench` measures */
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
    RUN(test_learned_decisions);
    RUN(test_learned_config_errors);
    RUN(test_learned_decide_time);
    router_free(g_router);
    config_free(g_cfg);
    return check_report();
}
