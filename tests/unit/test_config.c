/* test_config: the serve configuration parser -- the bundled example, defaults, exact prices,
 * path resolution, and every class of error with its "file:line: key: what" message. */
#include "check.h"

#include "gateway/config.h"

#include <stdint.h>
#include <unistd.h>

/* A minimal valid head: one local tier `small`, one openai tier `cloud`. */
#define TIERS                                                                            \
    "tiers:\n"                                                                           \
    "  - name: small\n"                                                                  \
    "    kind: local\n"                                                                  \
    "    model: m.gguf\n"                                                                \
    "  - name: cloud\n"                                                                  \
    "    kind: openai\n"                                                                 \
    "    base_url: https://api.example.com/v1\n"                                         \
    "    price: { input: 1.75, output: 14.00 }\n"

static struct config *parse_ok(const char *yaml, const char *base)
{
    struct err e = {{0}};
    struct config *c = NULL;
    int rc = config_parse(yaml, strlen(yaml), base, &c, &e);
    CHECK_MSG(rc == 0, "unexpected error: %s", e.msg);
    return rc == 0 ? c : NULL;
}

/* Parses yaml, which must fail with exactly the message want. */
static void expect_err_at(int line, const char *yaml, const char *want)
{
    struct err e = {{0}};
    struct config *c = NULL;
    int rc = config_parse(yaml, strlen(yaml), "/cfg", &c, &e);
    check_count++;
    if (rc == 0 || strcmp(e.msg, want) != 0) {
        check_failures++;
        fprintf(stderr, "%s:%d: expected error\n  %s\ngot %s\n  %s\n", __FILE__, line, want,
                rc == 0 ? "success" : "", rc == 0 ? "" : e.msg);
    }
    config_free(rc == 0 ? c : NULL);
}
#define EXPECT_ERR(yaml, want) expect_err_at(__LINE__, yaml, want)

static void test_example(void)
{
    struct err e = {{0}};
    struct config *c = NULL;
    const char *path = check_source("examples/baton.yaml");
    CHECK_MSG(config_load(path, &c, &e) == 0, "%s", e.msg);
    if (!c)
        return;
    CHECK_STR(c->path, path);
    CHECK_EQ_INT(c->n_tiers, 2);
    CHECK_EQ_INT(c->n_routes, 2);
    const struct route_config *smart = config_route(c, "smart");
    CHECK(smart && !strcmp(smart->strategy, "learned") && !strcmp(smart->weak_tier, "small") &&
          !strcmp(smart->strong_tier, "large") && !strcmp(smart->router, "builtin") &&
          smart->strong_fraction == 0.3 && !smart->default_tier);
    const struct tier_config *s = config_tier(c, "small"), *l = config_tier(c, "large");
    CHECK(s && l && !config_tier(c, "auto"));
    if (!s || !l)
        goto out;
    CHECK_EQ_INT(s->kind, TIER_LOCAL);
    char want[4200];
    snprintf(want, sizeof want, "%s", path);
    *strrchr(want, '/') = 0;
    strcat(want, "/../../shared/models/stories260K.gguf");
    CHECK_STR(s->model_path, want);
    CHECK(access(s->model_path, R_OK) == 0 || access(check_fixture("models"), R_OK) != 0);
    CHECK_EQ_INT(s->threads, 1);
    CHECK_EQ_INT(s->context, 512);
    CHECK_EQ_INT(s->price_in_microusd, 10000);
    CHECK_EQ_INT(s->price_out_microusd, 20000);
    CHECK_EQ_INT(l->price_in_microusd, 50000);
    CHECK_EQ_INT(l->price_out_microusd, 100000);
    CHECK_EQ_INT(l->context, 0); /* decided at load */
    CHECK_EQ_INT(l->max_queue, 64);
    CHECK_EQ_INT(l->slots, 4);
    CHECK_EQ_INT(l->max_tokens_default, 256);
    const struct route_config *r = config_route(c, "auto");
    CHECK(r != NULL);
    if (r) {
        CHECK_STR(r->strategy, "rules");
        CHECK_EQ_INT(r->n_rules, 3);
        CHECK_STR(r->default_tier, "small");
        CHECK_EQ_INT(r->n_fallback, 2);
        CHECK_EQ_INT(r->rules[0].min_chars, 600);
        CHECK_EQ_INT(r->rules[0].max_chars, -1);
        CHECK_EQ_INT(r->rules[1].n_keywords, 4);
        CHECK_EQ_INT(r->rules[2].needs, NEED_RESPONSE_FORMAT);
    }
    snprintf(want, sizeof want, "%s", path);
    strcpy(strrchr(want, '/'), "/baton-ledger.db");
    CHECK_STR(c->server.ledger, want);
out:
    config_free(c);
}

static void test_defaults(void)
{
    struct config *c = parse_ok(TIERS, NULL);
    if (!c)
        return;
    CHECK_STR(c->server.host, "127.0.0.1");
    CHECK_EQ_INT(c->server.port, 8080);
    CHECK_EQ_INT(c->server.max_connections, 1024);
    CHECK_EQ_INT(c->server.max_body_bytes, 1 << 20);
    CHECK_STR(c->server.ledger, "baton-ledger.db");
    CHECK_STR(c->server.journal, "baton-journal");
    CHECK(!c->postgres_fail_open);
    CHECK(c->path == NULL);
    const struct tier_config *s = &c->tiers[0], *o = &c->tiers[1];
    CHECK_STR(s->model_path, "m.gguf");
    CHECK(s->threads >= 1);
    CHECK_EQ_INT(s->context, 0);
    CHECK_EQ_INT(s->max_queue, 64);
    CHECK_EQ_INT(s->price_in_microusd, 0);
    CHECK_EQ_INT(s->price_out_microusd, 0);
    CHECK_EQ_INT(s->max_tokens_default, 512);
    CHECK(s->base_url == NULL && s->upstream_model == NULL);
    CHECK_EQ_INT(o->kind, TIER_OPENAI);
    CHECK_STR(o->base_url, "https://api.example.com/v1");
    CHECK(o->api_key_env == NULL);
    CHECK_STR(o->upstream_model, "cloud");
    CHECK_EQ_INT(o->connect_timeout_ms, 2000);
    CHECK_EQ_INT(o->first_byte_timeout_ms, 60000);
    CHECK_EQ_INT(o->idle_timeout_ms, 60000);
    CHECK_EQ_INT(o->retries, 2);
    CHECK_EQ_INT(o->breaker_failures, 5);
    CHECK_EQ_INT(o->breaker_open_ms, 30000);
    CHECK_EQ_INT(o->price_in_microusd, 1750000);
    CHECK_EQ_INT(o->price_out_microusd, 14000000);
    CHECK(o->model_path == NULL);
    config_free(c);
}

static void test_every_key(void)
{
    const char *yaml =
        "server: { host: 0.0.0.0, port: 9000, max_connections: 10, max_body_bytes: 4096,\n"
        "          ledger: \"\" }\n"
        "tiers:\n"
        "  - name: small\n"
        "    kind: local\n"
        "    model: /abs/m.gguf\n"
        "    threads: 3\n"
        "    context: 1024\n"
        "    max_queue: 0\n"
        "    slots: 12\n"
        "    max_tokens_default: 100\n"
        "  - name: cloud\n"
        "    kind: openai\n"
        "    base_url: http://h:1/v1//\n"
        "    api_key_env: CLOUD_KEY_2\n"
        "    model: gpt-4o-mini\n"
        "    timeouts: { connect_ms: 1, first_byte_ms: 2, idle_ms: 3 }\n"
        "    retries: 0\n"
        "    breaker: { failures: 7, open_ms: 8 }\n"
        "    price: { input: 0.000001, output: 1000000 }\n"
        "routes:\n"
        "  - name: auto\n"
        "    strategy: rules\n"
        "    rules:\n"
        "      - { name: long, min_chars: 10, max_chars: 20, tier: cloud }\n"
        "      - { regex: \"a|b\", keywords: [X, 'y z'], needs: [tools, response_format],\n"
        "          tier: small }\n"
        "    default: small\n"
        "    fallback: [cloud, small]\n"
        "  - name: plain\n"
        "    default: cloud\n";
    struct config *c = parse_ok(yaml, "/base");
    if (!c)
        return;
    CHECK_STR(c->server.host, "0.0.0.0");
    CHECK_EQ_INT(c->server.port, 9000);
    CHECK_EQ_INT(c->server.max_connections, 10);
    CHECK_EQ_INT(c->server.max_body_bytes, 4096);
    CHECK_STR(c->server.ledger, ""); /* off */
    const struct tier_config *s = &c->tiers[0], *o = &c->tiers[1];
    CHECK_STR(s->model_path, "/abs/m.gguf");
    CHECK_EQ_INT(s->threads, 3);
    CHECK_EQ_INT(s->context, 1024);
    CHECK_EQ_INT(s->max_queue, 0);
    CHECK_EQ_INT(s->slots, 12);
    CHECK_EQ_INT(s->max_tokens_default, 100);
    CHECK_STR(o->base_url, "http://h:1/v1");
    CHECK_STR(o->api_key_env, "CLOUD_KEY_2");
    CHECK_STR(o->upstream_model, "gpt-4o-mini");
    CHECK_EQ_INT(o->connect_timeout_ms, 1);
    CHECK_EQ_INT(o->first_byte_timeout_ms, 2);
    CHECK_EQ_INT(o->idle_timeout_ms, 3);
    CHECK_EQ_INT(o->retries, 0);
    CHECK_EQ_INT(o->breaker_failures, 7);
    CHECK_EQ_INT(o->breaker_open_ms, 8);
    CHECK_EQ_INT(o->price_in_microusd, 1);
    CHECK_EQ_INT(o->price_out_microusd, INT64_C(1000000000000));
    const struct route_config *r = &c->routes[0];
    CHECK_EQ_INT(r->n_rules, 2);
    CHECK_STR(r->rules[0].name, "long");
    CHECK_EQ_INT(r->rules[0].min_chars, 10);
    CHECK_EQ_INT(r->rules[0].max_chars, 20);
    CHECK_STR(r->rules[1].name, "#2");
    CHECK_STR(r->rules[1].regex, "a|b");
    CHECK_EQ_INT(r->rules[1].n_keywords, 2);
    CHECK_STR(r->rules[1].keywords[1], "y z");
    CHECK_EQ_INT(r->rules[1].needs, NEED_TOOLS | NEED_RESPONSE_FORMAT);
    CHECK_STR(r->fallback[1], "small");
    CHECK_STR(c->routes[1].strategy, "rules");
    CHECK_EQ_INT(c->routes[1].n_rules, 0);
    CHECK(config_route(c, "plain") == &c->routes[1]);
    config_free(c);

    c = parse_ok("server: { ledger: data/l.db }\n" TIERS, "/etc/baton");
    if (c) {
        CHECK_STR(c->server.ledger, "/etc/baton/data/l.db");
        CHECK_STR(c->tiers[0].model_path, "/etc/baton/m.gguf");
        config_free(c);
    }
}

/* PostgreSQL URLs are kept as they are (not resolved against the config's directory) and
 * checked with libpq's parser; journal, postgres.on_unavailable and postgres.max_pending (0, the
 * stores' own, unless given; at least 16 so the high-water mark keeps a reserve). */
static void test_postgres(void)
{
    struct config *c = parse_ok("server: { ledger: \"postgres://u:pw@db:5433/b\", audit:"
                                " \"postgresql:///b?host=/run/pg\", journal: j }\n"
                                "postgres: { on_unavailable: open }\n" TIERS, "/etc/baton");
    if (c) {
        CHECK_STR(c->server.ledger, "postgres://u:pw@db:5433/b");
        CHECK_STR(c->server.audit, "postgresql:///b?host=/run/pg");
        CHECK_STR(c->server.journal, "/etc/baton/j");
        CHECK(c->postgres_fail_open);
        CHECK_EQ_INT(c->postgres_max_pending, 0);
        config_free(c);
    }
    c = parse_ok("server: { journal: \"\" }\n"
                 "postgres: { on_unavailable: closed, max_pending: 16 }\n" TIERS, NULL);
    if (c) {
        CHECK_STR(c->server.journal, "");
        CHECK(!c->postgres_fail_open);
        CHECK_EQ_INT(c->postgres_max_pending, 16);
        config_free(c);
    }
    struct err e = {{0}};
    c = NULL;
    const char *bad = "server: { ledger: \"postgres://h/db?nosuch=1\" }\n" TIERS;
    CHECK(config_parse(bad, strlen(bad), NULL, &c, &e) == -1);
    CHECK_MSG(strstr(e.msg, "<config>:1: server.ledger: 'postgres://...': not a PostgreSQL URL: ")
                  == e.msg, "%s", e.msg);
    EXPECT_ERR("postgres: { on_unavailable: maybe }\n" TIERS,
               "<config>:1: postgres.on_unavailable: expected open or closed");
    EXPECT_ERR("postgres: { url: x }\n" TIERS,
               "<config>:1: postgres: unknown key 'url' (expected one of: on_unavailable, "
               "max_pending)");
    EXPECT_ERR("postgres: { max_pending: 15 }\n" TIERS,
               "<config>:1: postgres.max_pending: expected an integer in 16..10000000, got '15'");
    EXPECT_ERR("postgres: { max_pending: \"100\" }\n" TIERS,
               "<config>:1: postgres.max_pending: expected an integer, got the quoted string "
               "\"100\"");
}

static void test_prices(void)
{
    static const struct {
        const char *text;
        int64_t want; /* -1: refused */
    } cases[] = {
        {"1.75", 1750000}, {"14.00", 14000000}, {"0", 0}, {"0.0", 0}, {"0.10", 100000},
        {"0.000001", 1}, {"5.", 5000000}, {".5", 500000}, {"1000000", INT64_C(1000000000000)},
        {"0.1234567", -1}, {"-1", -1}, {"-0.5", -1}, {"1e3", -1}, {"", -1}, {".", -1},
        {"1.2.3", -1}, {" 1", -1}, {"1000000.000001", -1}, {"99999999999999999999999", -1},
        {"0x10", -1}, {"nan", -1},
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        struct err e = {{0}};
        int64_t v = -7;
        int rc = config_parse_price(cases[i].text, &v, &e);
        if (cases[i].want < 0)
            CHECK_MSG(rc == -1 && e.msg[0], "'%s' accepted as %lld", cases[i].text, (long long)v);
        else
            CHECK_MSG(rc == 0 && v == cases[i].want, "'%s' -> %lld (%s)", cases[i].text,
                      (long long)v, rc ? e.msg : "");
    }
}

static void test_errors(void)
{
    /* YAML itself */
    EXPECT_ERR("", "<config>:1: tiers: the file is empty; a config needs at least a list of tiers");
    EXPECT_ERR("tiers: [\n", "<config>:2: YAML: did not find expected node content while "
                             "parsing a flow node");
    EXPECT_ERR(TIERS "---\nx: 1\n",
               "<config>:9: (top level): a second YAML document; the config is one document");
    EXPECT_ERR("- 1\n", "<config>:1: (top level): expected a mapping, got a list");
    /* unknown and duplicate keys */
    EXPECT_ERR("tier: []\n",
               "<config>:1: (top level): unknown key 'tier' (expected one of: server, tiers, "
               "routes, privacy, redis, postgres)");
    EXPECT_ERR(TIERS "    api_key: sk-123\n",
               "<config>:9: tiers[1]: unknown key 'api_key' (expected one of: name, kind, model, "
               "threads, context, max_queue, slots, base_url, api_key_env, timeouts, retries, breaker, "
               "price, max_tokens_default); keys do not belong in the config: name an environment "
               "variable with api_key_env");
    EXPECT_ERR("server: { port: 1, port: 2 }\n" TIERS,
               "<config>:1: server: duplicate key 'port' (first on line 1)");
    EXPECT_ERR("server: { [a]: 1 }\n" TIERS,
               "<config>:1: server: keys must be plain strings, got a list");
    /* missing required keys */
    EXPECT_ERR("server: {}\n", "<config>:1: tiers: missing (required): a list of tiers, at least one");
    EXPECT_ERR("tiers: []\n", "<config>:1: tiers: the list is empty; give at least one tier");
    EXPECT_ERR("tiers:\n  - kind: local\n", "<config>:2: tiers[0].name: missing (required)");
    EXPECT_ERR("tiers:\n  - name: a\n", "<config>:2: tiers.a.kind: missing (required)");
    EXPECT_ERR("tiers:\n  - name: a\n    kind: local\n",
               "<config>:2: tiers.a.model: missing (required)");
    EXPECT_ERR("tiers:\n  - name: a\n    kind: openai\n    price: {input: 1, output: 1}\n",
               "<config>:2: tiers.a.base_url: missing (required)");
    EXPECT_ERR("tiers:\n  - name: a\n    kind: openai\n    base_url: http://x\n",
               "<config>:2: tiers.a.price: missing (required for kind openai): { input: USD, "
               "output: USD } per 1M tokens");
    EXPECT_ERR("tiers:\n  - { name: a, kind: local, model: m, price: { input: 1 } }\n",
               "<config>:2: tiers.a.price.output: missing (required): USD per 1M tokens, like 1.75");
    EXPECT_ERR(TIERS "routes:\n  - name: r\n", "<config>:10: routes.r.default: missing (required)");
    /* types and ranges */
    EXPECT_ERR("server: { port: \"8080\" }\n" TIERS,
               "<config>:1: server.port: expected an integer, got the quoted string \"8080\"");
    EXPECT_ERR("server: { port: 70000 }\n" TIERS,
               "<config>:1: server.port: expected an integer in 1..65535, got '70000'");
    EXPECT_ERR("server: { port: 8e3 }\n" TIERS,
               "<config>:1: server.port: expected an integer in 1..65535, got '8e3'");
    EXPECT_ERR("server: { port: 99999999999999999999 }\n" TIERS,
               "<config>:1: server.port: expected an integer in 1..65535, got "
               "'99999999999999999999'");
    EXPECT_ERR("server: { host: ~ }\n" TIERS, "<config>:1: server.host: expected a value, got null");
    EXPECT_ERR("server: { host: [a] }\n" TIERS,
               "<config>:1: server.host: expected a value, got a list");
    EXPECT_ERR("server: { host: \"\" }\n" TIERS, "<config>:1: server.host: must not be empty");
    EXPECT_ERR("server: { host: \"a\\0b\" }\n" TIERS, "<config>:1: server.host: contains a NUL byte");
    EXPECT_ERR("tiers: {}\n", "<config>:1: tiers: expected a list, got a mapping");
    EXPECT_ERR("tiers:\n  - name: a\n    kind: gpu\n",
               "<config>:3: tiers.a.kind: unknown kind 'gpu' (expected local or openai)");
    EXPECT_ERR("tiers:\n  - { name: a, kind: local, model: m, threads: 0 }\n",
               "<config>:2: tiers.a.threads: expected an integer in 1..1024, got '0'");
    EXPECT_ERR("tiers:\n  - { name: a, kind: local, model: m, base_url: http://x }\n",
               "<config>:2: tiers.a: 'base_url' is only valid for kind openai");
    EXPECT_ERR("tiers:\n  - { name: a, kind: openai, base_url: http://x, threads: 2,\n"
               "      price: { input: 1, output: 1 } }\n",
               "<config>:2: tiers.a: 'threads' is only valid for kind local");
    EXPECT_ERR("tiers:\n  - { name: a, kind: openai, base_url: ftp://x,\n"
               "      price: { input: 1, output: 1 } }\n",
               "<config>:2: tiers.a.base_url: 'ftp://x' is not an http:// or https:// URL");
    EXPECT_ERR("tiers:\n  - { name: a, kind: openai, base_url: http://x, api_key_env: 1KEY,\n"
               "      price: { input: 1, output: 1 } }\n",
               "<config>:2: tiers.a.api_key_env: '1KEY' is not an environment variable name "
               "(letters, digits, _)");
    EXPECT_ERR("tiers:\n  - { name: a, kind: openai, base_url: http://x, retries: 11,\n"
               "      price: { input: 1, output: 1 } }\n",
               "<config>:2: tiers.a.retries: expected an integer in 0..10, got '11'");
    EXPECT_ERR("tiers:\n  - { name: a, kind: openai, base_url: http://x, timeouts: { ms: 1 },\n"
               "      price: { input: 1, output: 1 } }\n",
               "<config>:2: tiers.a.timeouts: unknown key 'ms' (expected one of: connect_ms, "
               "first_byte_ms, idle_ms)");
    /* prices */
    EXPECT_ERR("tiers:\n  - name: a\n    kind: local\n    model: m\n"
               "    price: { input: 0.1234567, output: 1 }\n",
               "<config>:5: tiers.a.price.input: '0.1234567' has more than 6 decimals (a "
               "micro-dollar is the unit)");
    EXPECT_ERR("tiers:\n  - name: a\n    kind: local\n    model: m\n"
               "    price: { input: 1, output: -2 }\n",
               "<config>:5: tiers.a.price.output: '-2' is negative; prices are >= 0");
    EXPECT_ERR("tiers:\n  - name: a\n    kind: local\n    model: m\n"
               "    price: { input: '1', output: 2 }\n",
               "<config>:5: tiers.a.price.input: expected a number (USD per 1M tokens), got the "
               "quoted string \"1\"");
    /* names */
    EXPECT_ERR(TIERS "  - name: small\n    kind: local\n    model: m\n",
               "<config>:9: tiers[2].name: duplicate tier name 'small'");
    EXPECT_ERR("tiers:\n  - name: a b\n    kind: local\n",
               "<config>:2: tiers[0]: name 'a b' must be 1..64 characters of A-Z a-z 0-9 . _ - : "
               "/ @ +");
    EXPECT_ERR(TIERS "routes:\n  - { name: auto, default: small }\n"
                     "  - { name: auto, default: cloud }\n",
               "<config>:11: routes[1].name: duplicate route name 'auto'");
    EXPECT_ERR(TIERS "routes:\n  - name: cloud\n    default: small\n",
               "<config>:10: routes[0].name: 'cloud' is already a tier name; a model name must "
               "mean one thing");
    /* routes naming unknown tiers */
    EXPECT_ERR(TIERS "routes:\n  - name: r\n    default: big\n",
               "<config>:11: routes.r.default: unknown tier 'big' (tiers: small, cloud)");
    EXPECT_ERR(TIERS "routes:\n  - name: r\n    rules:\n      - { min_chars: 1, tier: big }\n"
                     "    default: small\n",
               "<config>:12: routes.r.rules[0].tier: unknown tier 'big' (tiers: small, cloud)");
    EXPECT_ERR(TIERS "routes:\n  - name: r\n    default: small\n    fallback: [cloud, big]\n",
               "<config>:12: routes.r.fallback[1]: unknown tier 'big' (tiers: small, cloud)");
    EXPECT_ERR(TIERS "routes:\n  - name: r\n    default: small\n    fallback: [cloud, cloud]\n",
               "<config>:12: routes.r.fallback[1]: 'cloud' is listed twice");
    EXPECT_ERR(TIERS "routes:\n  - name: r\n    default: small\n    fallback: []\n",
               "<config>:12: routes.r.fallback: the list is empty");
    /* rules */
    EXPECT_ERR(TIERS "routes:\n  - name: r\n    rules:\n      - { regex: \"a(b\", tier: cloud }\n"
                     "    default: small\n",
               "<config>:12: routes.r.rules[0].regex: bad regex at offset 3: missing closing "
               "parenthesis");
    EXPECT_ERR(TIERS "routes:\n  - name: r\n    rules:\n      - { name: x, tier: cloud }\n"
                     "    default: small\n",
               "<config>:12: routes.r.rules[0]: rule 'x' has no condition (min_chars, max_chars, "
               "regex, keywords, needs); the route's default covers what no rule matches");
    EXPECT_ERR(TIERS "routes:\n  - name: r\n    rules:\n"
                     "      - { min_chars: 10, max_chars: 5, tier: cloud }\n    default: small\n",
               "<config>:12: routes.r.rules[0].max_chars: 5 is below min_chars 10");
    EXPECT_ERR(TIERS "routes:\n  - name: r\n    rules:\n      - { needs: [vision], tier: cloud }\n"
                     "    default: small\n",
               "<config>:12: routes.r.rules[0].needs[0]: unknown feature 'vision' (expected tools "
               "or response_format)");
    EXPECT_ERR(TIERS "routes:\n  - name: r\n    rules:\n      - { keywords: [a, ''], tier: cloud }\n"
                     "    default: small\n",
               "<config>:12: routes.r.rules[0].keywords[1]: must be a non-empty string without NUL "
               "bytes");
    EXPECT_ERR(TIERS "routes:\n  - name: r\n    rules:\n      - { name: a, min_chars: 1, tier: cloud }\n"
                     "      - { name: a, min_chars: 2, tier: cloud }\n    default: small\n",
               "<config>:13: routes.r.rules[1]: duplicate rule name 'a'");
    EXPECT_ERR(TIERS "routes:\n  - name: r\n    strategy: cascade\n    default: small\n",
               "<config>:11: routes.r.strategy: unknown strategy 'cascade' (known: rules, "
               "learned)");
    EXPECT_ERR(TIERS "routes:\n  - name: r\n    strategy: learned\n    default: small\n",
               "<config>:12: routes.r.default: belongs to strategy rules; this route's strategy "
               "is learned");
    EXPECT_ERR(TIERS "routes:\n  - name: r\n    default: small\n"
                     "    fallback: [cloud, small, a, b, c, d, e, f]\n",
               "<config>:12: routes.r.fallback[2]: unknown tier 'a' (tiers: small, cloud)");
    /* aliases */
    EXPECT_ERR("x: &a [1]\n", "<config>:1: (top level): unknown key 'x' (expected one of: server, "
                              "tiers, routes, privacy, redis, postgres)");
    EXPECT_ERR("server: &s { port: 1 }\n" TIERS "routes: *s\n",
               "<config>:1: routes: YAML aliases (*name) are not supported; write the value out");
}

static void test_too_many_fallbacks(void)
{
    char yaml[4096];
    snprintf(yaml, sizeof yaml, "tiers:\n");
    for (int i = 0; i < 9; i++)
        snprintf(yaml + strlen(yaml), sizeof yaml - strlen(yaml),
                 "  - { name: t%d, kind: local, model: m }\n", i);
    strcat(yaml, "routes:\n  - name: r\n    default: t0\n"
                 "    fallback: [t1, t2, t3, t4, t5, t6, t7, t8]\n");
    EXPECT_ERR(yaml, "<config>:14: routes.r.fallback: at most 7 fallback tiers");
}

static void test_load_errors(void)
{
    struct err e = {{0}};
    struct config *c = NULL;
    CHECK(config_load("/nonexistent/baton.yaml", &c, &e) == -1);
    CHECK_STR(e.msg, "/nonexistent/baton.yaml: cannot open: No such file or directory");
    char path[] = "/tmp/test_config_XXXXXX";
    int fd = mkstemp(path);
    CHECK(fd >= 0);
    if (fd < 0)
        return;
    const char *text = TIERS "routes:\n  - name: r\n    default: nope\n";
    CHECK(write(fd, text, strlen(text)) == (ssize_t)strlen(text));
    close(fd);
    CHECK(config_load(path, &c, &e) == -1);
    char want[256];
    snprintf(want, sizeof want, "%s:11: routes.r.default: unknown tier 'nope' (tiers: small, cloud)",
             path);
    CHECK_STR(e.msg, want);
    unlink(path);
}

int main(void)
{
    RUN(test_example);
    RUN(test_defaults);
    RUN(test_every_key);
    RUN(test_prices);
    RUN(test_errors);
    RUN(test_postgres);
    RUN(test_too_many_fallbacks);
    RUN(test_load_errors);
    return check_report();
}
