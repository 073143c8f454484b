/* JSON schemas -> grammars: each supported keyword accepts and rejects the right documents, the
 * validator agrees with JSON Schema semantics and explains failures by path, unsupported
 * features are refused clearly, integer and number ranges are exact (checked exhaustively around
 * their bounds), and thousands of documents sampled at random from each schema's grammar all
 * validate. */
#include "check.h"

#include "base/buf.h"
#include "engine/grammar.h"
#include "engine/json_schema.h"
#include "engine/sampler.h"

static json_t *parse_json(const char *s)
{
    json_error_t je;
    json_t *j = json_loads(s, JSON_DECODE_ANY, &je);
    CHECK_MSG(j != NULL, "bad test JSON: %s: %s", s, je.text);
    return j;
}

static struct grammar *schema_grammar(const char *schema_text, json_t **schema)
{
    *schema = parse_json(schema_text);
    char *g = NULL;
    struct err e;
    if (!*schema || json_schema_to_grammar(*schema, &g, &e)) {
        CHECK_MSG(0, "schema %s: %s", schema_text, e.msg);
        return NULL;
    }
    struct grammar *gr = NULL;
    if (grammar_parse(g, strlen(g), NULL, &gr, &e))
        CHECK_MSG(0, "grammar of %s does not compile: %s\n%s", schema_text, e.msg, g);
    free(g);
    return gr;
}

/* docs: "+" prefix = the grammar must accept it and it must validate; "-" = neither; "~" = valid
 * but outside what the grammar generates (the grammar is a subset). */
static void expect(const char *schema_text, const char *const *docs)
{
    json_t *schema;
    struct grammar *g = schema_grammar(schema_text, &schema);
    if (!g) {
        json_decref(schema);
        return;
    }
    for (; *docs; docs++) {
        const char *d = *docs + 1;
        struct err e;
        bool gram = grammar_matches(g, d, strlen(d));
        bool valid = json_schema_validate(schema, d, strlen(d), &e) == 0;
        bool want_gram = **docs == '+', want_valid = **docs != '-';
        CHECK_MSG(gram == want_gram && valid == want_valid,
                  "schema %s\n  doc %s: grammar %d (want %d), valid %d (want %d) %s", schema_text, d,
                  gram, want_gram, valid, want_valid, valid ? "" : e.msg);
    }
    grammar_free(g);
    json_decref(schema);
}

#define D(...) ((const char *const[]){__VA_ARGS__, NULL})

static void test_types(void)
{
    expect("{\"type\": \"string\"}", D("+\"\"", "+\"a\\\"\\u00e9\\ud83d\\ude00\"", "+\"\xc3\xa9\"",
                                       "-\"\\ud800\"", "-\"a", "-1", "-\"\x01\""));
    expect("{\"type\": \"integer\"}", D("+0", "+-7", "+123456789012345", "-1.5", "-01", "-\"1\"",
                                        "~1.0", "~1234567890123456"));
    expect("{\"type\": \"number\"}", D("+0", "+-0.5", "+1e10", "+2.5E-3", "-.5", "-1.", "-\"1\""));
    expect("{\"type\": \"boolean\"}", D("+true", "+false", "-1", "-\"true\""));
    expect("{\"type\": \"null\"}", D("+null", "-0"));
    expect("{\"type\": [\"string\", \"null\"]}", D("+\"x\"", "+null", "-1"));
    expect("{}", D("+{\"a\": [1, \"b\", null]}", "+3", "+\"s\""));
    expect("true", D("+[]", "+false"));
    expect("{\"const\": {\"a\": [1, 2]}}", D("+{\"a\":[1,2]}", "~{\"a\": [1, 2]}", "-{\"a\":[2,1]}"));
    expect("{\"enum\": [\"red\", 3, null, \"x\\\"y\"]}", D("+\"red\"", "+3", "+null", "+\"x\\\"y\"", "-\"blue\"", "~3.0"));
    /* enum values that cannot validate are left out of the grammar */
    expect("{\"type\": \"string\", \"enum\": [\"a\", 1]}", D("+\"a\"", "-1"));
}

static void test_objects(void)
{
    const char *s = "{\"type\": \"object\", \"properties\": {\"a\": {\"type\": \"integer\"}, "
                    "\"b\": {\"type\": \"string\"}, \"c\": {\"type\": \"boolean\"}}, "
                    "\"required\": [\"b\"], \"additionalProperties\": false}";
    expect(s, D("+{\"b\": \"x\"}", "+{\"a\": 1, \"b\": \"x\"}", "+{\"a\":1,\"b\":\"x\",\"c\":true}",
                "+{\"b\":\"x\",\"c\":false}", "+{ \"b\" : \"x\" }", "+{\n  \"b\": \"x\"\n}",
                "~{\"b\": \"x\", \"a\": 1}", "-{\"a\": 1}", "-{\"b\": \"x\", \"d\": 1}", "-{\"b\": 1}",
                "-{}", "-{\"a\":1,,\"b\":\"x\"}", "-{,\"b\":\"x\"}", "-{\"b\":\"x\",}"));
    /* all optional: the empty object and any subsequence */
    expect("{\"properties\": {\"x\": {\"type\": \"null\"}, \"y\": {\"type\": \"null\"}}}",
           D("+{}", "+{\"x\":null}", "+{\"y\":null}", "+{\"x\":null,\"y\":null}", "~{\"z\": 1}"));
    /* required names without a property schema: any value */
    expect("{\"type\": \"object\", \"required\": [\"k\"]}", D("+{\"k\": [true]}", "-{}"));
    /* maps */
    expect("{\"type\": \"object\", \"additionalProperties\": {\"type\": \"integer\"}}",
           D("+{}", "+{\"x\": 1, \"y\": 2}", "-{\"x\": \"1\"}"));
    expect("{\"type\": \"object\", \"additionalProperties\": false}", D("+{}", "-{\"a\":1}"));
    expect("{\"type\": \"object\"}", D("+{\"a\": {\"b\": []}}", "-[]"));
    /* property names that need escaping */
    expect("{\"properties\": {\"q\\\"k\\\\\": {\"const\": 1}}, \"required\": [\"q\\\"k\\\\\"]}",
           D("+{\"q\\\"k\\\\\": 1}"));
}

static void test_arrays(void)
{
    expect("{\"type\": \"array\", \"items\": {\"type\": \"integer\"}, \"minItems\": 2, \"maxItems\": 3}",
           D("+[1, 2]", "+[1,2,3]", "-[1]", "-[1,2,3,4]", "-[1, \"a\"]", "-[]"));
    expect("{\"type\": \"array\", \"items\": {\"type\": \"string\"}}", D("+[]", "+[\"a\", \"b\"]", "-[1]"));
    expect("{\"type\": \"array\", \"minItems\": 1}", D("+[null]", "-[]"));
    expect("{\"type\": \"array\", \"maxItems\": 0}", D("+[]", "-[1]"));
    expect("{\"type\": \"array\", \"items\": false}", D("+[]", "-[1]"));
}

static void test_strings(void)
{
    expect("{\"type\": \"string\", \"minLength\": 2, \"maxLength\": 3}",
           D("+\"ab\"", "+\"\xc3\xa9\xc3\xa9\xc3\xa9\"", "+\"\\n\\u0041\"", "-\"a\"", "-\"abcd\""));
    expect("{\"type\": \"string\", \"pattern\": \"^[A-Z]{2}-\\\\d{3,}$\"}",
           D("+\"AB-123\"", "+\"XY-0000\"", "-\"ab-123\"", "-\"AB-12\"", "-\"AB-123 \""));
    /* unanchored: the match may be anywhere */
    expect("{\"type\": \"string\", \"pattern\": \"ab|cd\"}", D("+\"xxabyy\"", "+\"cd\"", "-\"acbd\""));
    /* characters JSON must escape, inside and outside classes */
    expect("{\"type\": \"string\", \"pattern\": \"^\\\"[\\\\\\\\\\\\n]+\\\\.$\"}",
           D("+\"\\\"\\\\\\n.\"", "-\"\\\"x.\""));
    expect("{\"type\": \"string\", \"pattern\": \"^(?:x|y(?<n>z))?\\\\w*?$\"}",
           D("+\"x_9\"", "+\"yz\"", "+\"\"", "-\"x-\""));
    expect("{\"type\": \"string\", \"pattern\": \"^[^a-c\\\\s]\\\\S.$\"}",
           D("+\"dz!\"", "+\"\xe2\x82\xac\xc3\xa9\xf0\x9f\x98\x80\"", "-\"az!\"", "-\" z!\"", "-\"d \\n\""));
    expect("{\"type\": \"string\", \"format\": \"date\"}",
           D("+\"2024-01-31\"", "+\"1999-11-30\"", "~\"2024-02-29\"", "-\"2023-02-29\"", "-\"2024-13-01\"",
             "-\"2024-04-31\""));
    expect("{\"type\": \"string\", \"format\": \"time\"}",
           D("+\"23:59:59Z\"", "+\"00:00:00.123+05:30\"", "-\"24:00:00Z\"", "-\"12:00:00\""));
    expect("{\"type\": \"string\", \"format\": \"date-time\"}", D("+\"2024-06-01T08:30:00-02:00\"", "-\"2024-06-01 08:30:00Z\""));
    expect("{\"type\": \"string\", \"format\": \"uuid\"}",
           D("+\"123e4567-e89b-12d3-a456-426614174000\"", "~\"123E4567-E89B-12D3-A456-426614174000\"",
             "-\"123e4567e89b12d3a456426614174000\""));
}

static void test_numbers(void)
{
    expect("{\"type\": \"integer\", \"minimum\": -5, \"exclusiveMaximum\": 5}",
           D("+-5", "+0", "+4", "-5", "--6", "-4.5", "~4.0"));
    expect("{\"type\": \"number\", \"minimum\": 0, \"maximum\": 1}",
           D("+0", "+1", "+0.25", "+0.0001", "-1.5", "--0.1", "~1.0", "~0.0", "-2"));
    expect("{\"type\": \"number\", \"exclusiveMinimum\": 0}", D("+0.5", "+3", "-0", "--1", "~1e3"));
    expect("{\"type\": \"number\", \"exclusiveMinimum\": -1, \"exclusiveMaximum\": 0}",
           D("+-0.5", "-0", "--1", "--0.0"));
    /* draft-4 boolean exclusive bounds */
    expect("{\"type\": \"integer\", \"minimum\": 1, \"exclusiveMinimum\": true}", D("+2", "-1"));
}

/* Every integer near the bounds of many ranges: the grammar matches exactly the ones inside. */
static void test_integer_ranges_exhaustive(void)
{
    static const long long bounds[][2] = {{0, 0},     {0, 9},       {1, 10},        {-10, -1},
                                          {-7, 13},   {95, 1005},   {-1005, -95},   {100, 199},
                                          {123, 4567}, {-999, 999}, {5, 5},         {-1, 0},
                                          {19, 21},   {1000, 9999}, {-123456, 7890}, {89, 100}};
    for (size_t b = 0; b < sizeof bounds / sizeof *bounds; b++) {
        char s[200];
        snprintf(s, sizeof s, "{\"type\": \"integer\", \"minimum\": %lld, \"maximum\": %lld}",
                 bounds[b][0], bounds[b][1]);
        json_t *schema;
        struct grammar *g = schema_grammar(s, &schema);
        if (!g)
            continue;
        int bad = 0;
        long long lo = bounds[b][0], hi = bounds[b][1];
        long long from = lo - 300, to = hi + 300;
        for (long long x = from; x <= to; x++) {
            if (x > lo + 300 && x < hi - 300)
                x = hi - 300; /* skip the middle of wide ranges */
            char t[32];
            snprintf(t, sizeof t, "%lld", x);
            bool in = x >= lo && x <= hi;
            if (grammar_matches(g, t, strlen(t)) != in) {
                if (bad++ < 3)
                    CHECK_MSG(0, "range [%lld, %lld]: %lld %s", lo, hi, x, in ? "rejected" : "accepted");
            }
        }
        CHECK(!grammar_matches(g, "-0", 2) && !grammar_matches(g, "007", 3));
        grammar_free(g);
        json_decref(schema);
    }
}

/* ---------------------------------------------------------------------------------------------
 * Random documents from a grammar: a walk over bytes, each step a uniformly drawn allowed byte
 * (structural bytes favoured so that documents end), stopping at random once complete. */

static int sample_doc(struct grammar *g, struct rng *r, struct buf *out, size_t budget)
{
    grammar_reset(g);
    buf_clear(out);
    static const char structural[] = "\"]},:0123456789tfn";
    while (out->len < budget) {
        if (grammar_complete(g) && (grammar_finished(g) || rng_uniform(r) < 0.35))
            return 0;
        unsigned char allowed[256];
        int n = 0, ns = 0;
        unsigned char pref[32];
        for (int b = 0; b < 256; b++) {
            char c = (char)b;
            if (grammar_accepts(g, &c, 1)) {
                allowed[n++] = (unsigned char)b;
                if (b && strchr(structural, b) && ns < 32)
                    pref[ns++] = (unsigned char)b;
            }
        }
        if (n == 0)
            return -1; /* a dead end: the grammar promised a continuation */
        unsigned char pick = ns && rng_uniform(r) < 0.5 ? pref[rng_next(r) % (uint64_t)ns] : allowed[rng_next(r) % (uint64_t)n];
        struct err e;
        if (grammar_advance(g, (const char *)&pick, 1, &e))
            return -1;
        buf_putc(out, (char)pick);
    }
    return grammar_complete(g) ? 0 : 1; /* 1: cut by the budget */
}

static void sample_and_validate(const char *schema_text, int n_docs)
{
    json_t *schema;
    struct grammar *g = schema_grammar(schema_text, &schema);
    if (!g) {
        json_decref(schema);
        return;
    }
    struct rng r;
    rng_seed(&r, 12345);
    struct buf doc;
    buf_init(&doc);
    int complete = 0, cut = 0, invalid = 0;
    for (int i = 0; i < n_docs; i++) {
        int rc = sample_doc(g, &r, &doc, 4000);
        CHECK_MSG(rc >= 0, "dead end after \"%s\"", doc.data ? doc.data : "");
        if (rc != 0) {
            cut++;
            continue;
        }
        complete++;
        struct err e;
        if (json_schema_validate(schema, doc.data ? doc.data : "", doc.len, &e)) {
            if (invalid++ < 3)
                CHECK_MSG(0, "schema %s\n  sampled %s\n  %s", schema_text, doc.data, e.msg);
        }
    }
    CHECK_MSG(complete >= n_docs / 2, "%s: only %d of %d samples completed", schema_text, complete, n_docs);
    buf_free(&doc);
    grammar_free(g);
    json_decref(schema);
}

static void test_sampled_documents_validate(void)
{
    sample_and_validate("{\"type\": \"object\", \"properties\": {\"name\": {\"type\": \"string\", "
                        "\"maxLength\": 8}, \"age\": {\"type\": \"integer\", \"minimum\": 0, "
                        "\"maximum\": 150}, \"score\": {\"type\": \"number\", \"minimum\": -1, "
                        "\"maximum\": 1}, \"tags\": {\"type\": \"array\", \"items\": {\"enum\": "
                        "[\"a\", \"b\", 7]}, \"maxItems\": 3}, \"when\": {\"type\": \"string\", "
                        "\"format\": \"date-time\"}, \"id\": {\"type\": \"string\", \"format\": "
                        "\"uuid\"}}, \"required\": [\"name\", \"age\"], \"additionalProperties\": false}",
                        300);
    sample_and_validate("{\"$defs\": {\"tree\": {\"type\": \"object\", \"properties\": {\"v\": "
                        "{\"type\": \"integer\", \"minimum\": -50, \"maximum\": 50}, \"kids\": "
                        "{\"type\": \"array\", \"items\": {\"$ref\": \"#/$defs/tree\"}, \"maxItems\": 2}}, "
                        "\"required\": [\"v\"], \"additionalProperties\": false}}, \"$ref\": \"#/$defs/tree\"}",
                        300);
    sample_and_validate("{\"anyOf\": [{\"type\": \"string\", \"pattern\": \"^[a-f]{2,4}(-\\\\d)?$\"}, "
                        "{\"type\": \"null\"}, {\"type\": \"array\", \"items\": {\"type\": \"number\", "
                        "\"exclusiveMinimum\": 0, \"exclusiveMaximum\": 10}}]}", 300);
    sample_and_validate("{\"oneOf\": [{\"type\": \"object\", \"properties\": {\"kind\": {\"const\": \"a\"}, "
                        "\"x\": {\"type\": \"boolean\"}}, \"required\": [\"kind\"], \"additionalProperties\": false}, "
                        "{\"type\": \"object\", \"properties\": {\"kind\": {\"const\": \"b\"}}, "
                        "\"required\": [\"kind\"], \"additionalProperties\": false}, {\"type\": \"integer\"}]}", 300);
    sample_and_validate("{\"type\": \"object\", \"additionalProperties\": {\"type\": \"string\", \"maxLength\": 3}}", 200);
    sample_and_validate("{\"type\": \"string\", \"pattern\": \"^\\\"[^\\\"]{0,3}\\\\\\\\$\"}", 200);
    sample_and_validate("{\"type\": \"array\", \"items\": {\"type\": \"integer\", \"minimum\": -1000000, "
                        "\"maximum\": 99}, \"minItems\": 1, \"maxItems\": 4}", 300);
    sample_and_validate("{}", 300);
}

static void expect_refused(const char *schema_text, const char *want)
{
    json_t *schema = parse_json(schema_text);
    char *g = NULL;
    struct err e;
    e.msg[0] = 0;
    CHECK_MSG(json_schema_to_grammar(schema, &g, &e) == -1 && g == NULL, "should refuse %s", schema_text);
    CHECK_MSG(strstr(e.msg, want) != NULL, "refusal of %s\n  is:   %s\n  want: %s", schema_text, e.msg, want);
    json_decref(schema);
}

static void test_refusals(void)
{
    /* found by fuzz_json_schema: a required property that additionalProperties false forbids */
    expect_refused("{\"type\": \"object\", \"properties\": {\"a\": {}}, \"required\": [\"b\"], "
                   "\"additionalProperties\": false}",
                   "required property \"b\" is not in properties");
    expect_refused("{\"type\": \"object\", \"properties\": {\"t\": {\"type\": \"array\", \"uniqueItems\": true}}}",
                   "schema.properties.t: uniqueItems is not supported");
    expect_refused("{\"not\": {}}", "schema: not is not supported");
    expect_refused("{\"if\": {}, \"then\": {}}", "is not supported");
    expect_refused("{\"type\": \"number\", \"multipleOf\": 2}", "multipleOf is not supported");
    expect_refused("{\"type\": \"object\", \"patternProperties\": {}}", "patternProperties is not supported");
    expect_refused("{\"type\": \"array\", \"prefixItems\": []}", "prefixItems is not supported");
    expect_refused("{\"type\": \"object\", \"minProperties\": 1}", "minProperties is not supported");
    expect_refused("{\"allOf\": [{}, {}]}", "allOf is only supported with a single schema");
    expect_refused("{\"$ref\": \"http://example.com/s.json\"}", "only local references");
    expect_refused("{\"$ref\": \"#/$defs/missing\"}", "$ref \"#/$defs/missing\": it does not resolve");
    expect_refused("{\"type\": \"string\", \"format\": \"email\"}", "format \"email\" is not supported");
    expect_refused("{\"type\": \"string\", \"pattern\": \"(a)\\\\1\"}", "backreferences are not supported");
    expect_refused("{\"type\": \"string\", \"pattern\": \"a\\\\bc\"}", "word boundaries");
    expect_refused("{\"type\": \"string\", \"pattern\": \"a^b\"}", "'^' is only supported at the start");
    expect_refused("{\"type\": \"string\", \"pattern\": \"[a\"}", "unclosed character class");
    expect_refused("{\"type\": \"string\", \"pattern\": \"a{3,1}\"}", "maximum is below its minimum");
    expect_refused("{\"type\": \"string\", \"pattern\": \"x\", \"maxLength\": 3}", "cannot be combined");
    expect_refused("{\"type\": \"integer\", \"minimum\": 5, \"maximum\": 4}", "no integer lies between");
    expect_refused("{\"type\": \"array\", \"maxItems\": 20000}", "maxItems above 10000 is not supported");
    expect_refused("{\"oneOf\": [{\"type\": \"number\"}, {\"type\": \"integer\"}]}",
                   "oneOf branches 0 and 1 can match the same value");
    expect_refused("{\"type\": \"string\", \"enum\": [1, 2]}", "no enum/const value satisfies");
    expect_refused("false", "the schema false accepts nothing");
    expect_refused("{\"type\": \"strnig\"}", "unknown type \"strnig\"");
    expect_refused("{\"type\": \"object\", \"$ref\": \"#\"}", "$ref next to type is not supported");
    expect_refused("{\"type\": \"object\", \"anyOf\": [{}]}", "anyOf next to type is not supported");
}

static void test_response_format(void)
{
    struct err e;
    char *g = (char *)1;
    json_t *rf = parse_json("{\"type\": \"text\"}");
    CHECK(json_schema_response_format(rf, &g, &e) == 0 && g == NULL);
    json_decref(rf);
    CHECK(json_schema_response_format(NULL, &g, &e) == 0 && g == NULL);
    rf = parse_json("{\"type\": \"json_object\"}");
    CHECK(json_schema_response_format(rf, &g, &e) == 0 && g != NULL);
    struct grammar *gr = NULL;
    CHECK(g && grammar_parse(g, strlen(g), NULL, &gr, &e) == 0);
    if (gr) {
        CHECK(grammar_matches(gr, "{\"a\": [1, {\"b\": null}]}", 23));
        CHECK(!grammar_matches(gr, "[1]", 3) && !grammar_matches(gr, "\"s\"", 3));
        grammar_free(gr);
    }
    free(g);
    json_decref(rf);
    rf = parse_json("{\"type\": \"json_schema\", \"json_schema\": {\"name\": \"n\", \"strict\": true, "
                    "\"schema\": {\"type\": \"object\", \"properties\": {\"ok\": {\"type\": \"boolean\"}}, "
                    "\"required\": [\"ok\"], \"additionalProperties\": false}}}");
    CHECK(json_schema_response_format(rf, &g, &e) == 0 && g != NULL);
    CHECK(g && grammar_parse(g, strlen(g), NULL, &gr, &e) == 0);
    if (gr) {
        CHECK(grammar_matches(gr, "{\"ok\": true}", 12) && !grammar_matches(gr, "{}", 2));
        grammar_free(gr);
    }
    free(g);
    json_decref(rf);
    const char *bad[][2] = {
        {"{\"type\": \"json_schema\"}", "response_format.json_schema must be an object"},
        {"{\"type\": \"json_schema\", \"json_schema\": {}}", "response_format.json_schema.schema is missing"},
        {"{\"type\": \"xml\"}", "response_format.type \"xml\" is not one of"},
        {"{}", "response_format.type must be"},
        {"[]", "response_format must be an object"},
        {"{\"type\": \"json_schema\", \"json_schema\": {\"schema\": {\"properties\": {\"a\": "
         "{\"type\": \"number\", \"multipleOf\": 3}}}}}",
         "response_format.json_schema.schema.properties.a: multipleOf is not supported"}};
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        rf = parse_json(bad[i][0]);
        g = NULL;
        CHECK(json_schema_response_format(rf, &g, &e) == -1 && g == NULL);
        CHECK_MSG(strstr(e.msg, bad[i][1]) != NULL, "%s -> %s", bad[i][0], e.msg);
        json_decref(rf);
    }
}

static void expect_invalid(const char *schema_text, const char *doc, const char *want)
{
    json_t *schema = parse_json(schema_text);
    struct err e;
    e.msg[0] = 0;
    CHECK_MSG(json_schema_validate(schema, doc, strlen(doc), &e) == -1, "%s should not validate", doc);
    CHECK_MSG(strstr(e.msg, want) != NULL, "%s\n  is:   %s\n  want: %s", doc, e.msg, want);
    json_decref(schema);
}

static void test_validator_messages(void)
{
    expect_invalid("{\"type\": \"object\", \"properties\": {\"items\": {\"type\": \"array\", \"items\": "
                   "{\"properties\": {\"age\": {\"maximum\": 120}}}}}}",
                   "{\"items\": [{}, {}, {\"age\": 150}]}", "$.items[2].age: 150 is above the maximum 120");
    expect_invalid("{}", "{\"a\": 1,}", "not JSON: ");
    expect_invalid("{}", "1 2", "not JSON");
    expect_invalid("{\"oneOf\": [{\"type\": \"integer\"}, {\"type\": \"number\"}]}", "1",
                   "matches 2 oneOf branches, not exactly one");
    expect_invalid("{\"anyOf\": [{\"type\": \"null\"}, {\"type\": \"string\"}]}", "1", "matches none of the anyOf branches");
    expect_invalid("{\"$ref\": \"#\"}", "1", "the schema recurses without end");
    expect_invalid("{\"type\": \"array\", \"uniqueItems\": true}", "[]", "uniqueItems is not supported");
    /* valid edge cases */
    json_t *s = parse_json("{\"type\": \"integer\"}");
    struct err e;
    CHECK(json_schema_validate(s, " 3.0 ", 5, &e) == 0);
    CHECK(json_schema_validate(NULL, "[\"\\u0000\"]", 10, &e) == 0);
    json_decref(s);
}

int main(void)
{
    RUN(test_types);
    RUN(test_objects);
    RUN(test_arrays);
    RUN(test_strings);
    RUN(test_numbers);
    RUN(test_integer_ranges_exhaustive);
    RUN(test_sampled_documents_validate);
    RUN(test_refusals);
    RUN(test_response_format);
    RUN(test_validator_messages);
    return check_report();
}
