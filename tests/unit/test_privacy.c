/* Unit tests for gateway/privacy (the detector) and gateway/policy (masking, restoring). */
#include "check.h"

#include "api/openai.h"
#include "gateway/config.h"
#include "gateway/policy.h"
#include "gateway/privacy.h"

#include <jansson.h>
#include <stdlib.h>
#include <string.h>

static struct privacy *detector(void)
{
    static const char *const proj[] = {"Bluebird", "night jar"};
    struct privacy_pattern pats[] = {{"employee_id", "EMP-[0-9]{6}"}};
    struct privacy_terms terms[] = {{"project", proj, 2}};
    struct privacy_options o = {(UINT64_C(1) << PK_BUILTIN_COUNT) - 1, pats, 1, terms, 1};
    struct privacy *p = NULL;
    struct err e;
    CHECK_MSG(privacy_new(&o, &p, &e) == 0, "%s", e.msg);
    return p;
}

/* The kinds found in text, as "kind:value,kind:value". */
static const char *found(struct privacy *p, const char *text)
{
    static char out[1024];
    struct privacy_span s[32];
    size_t n = privacy_scan(p, text, strlen(text), s, 32);
    out[0] = 0;
    for (size_t i = 0; i < n && i < 32; i++) {
        size_t l = strlen(out);
        snprintf(out + l, sizeof out - l, "%s%s:%.*s", i ? "," : "", privacy_kind_name(p, s[i].kind),
                 (int)(s[i].end - s[i].start), text + s[i].start);
    }
    return out;
}

static void test_checks(void)
{
    CHECK(privacy_luhn_ok("4111111111111111", 16));
    CHECK(!privacy_luhn_ok("4111111111111112", 16));
    CHECK(privacy_iban_ok("GB82WEST12345698765432", 22));
    CHECK(!privacy_iban_ok("GB83WEST12345698765432", 22));
    CHECK(privacy_iban_ok("DE89370400440532013000", 22));
}

static void test_kinds(void)
{
    struct privacy *p = detector();
    CHECK_STR(found(p, "mail bob.smith+x@mail.example.co.uk now."), "email:bob.smith+x@mail.example.co.uk");
    CHECK_STR(found(p, "card 4111 1111 1111 1111, ok"), "card:4111 1111 1111 1111");
    CHECK_STR(found(p, "order 4111 1111 1111 1112"), "");
    CHECK_STR(found(p, "IBAN GB82 WEST 1234 5698 7654 32."), "iban:GB82 WEST 1234 5698 7654 32");
    CHECK_STR(found(p, "ssn 078-05-1120; bad 000-12-3456 666-12-3456 912-12-3456"), "ssn:078-05-1120");
    CHECK_STR(found(p, "call (415) 555-0132 or +44 20 7946 0958"),
              "phone:(415) 555-0132,phone:+44 20 7946 0958");
    CHECK_STR(found(p, "on 2024-05-01 at 12:30:45, order 123456789012"), "");
    CHECK_STR(found(p, "host 203.0.113.7 up; version 1.2.3.4; 1.2.3.4.5; 256.1.1.1"), "ipv4:203.0.113.7");
    CHECK_STR(found(p, "addr 2001:db8:85a3::8a2e:370:7334 and std::vector a::b"),
              "ipv6:2001:db8:85a3::8a2e:370:7334");
    CHECK_STR(found(p, "MAC 00:1a:2b:3c:4d:5e"), "");
    CHECK_STR(found(p, "key AKIAIOSFODNN7EXAMPLE and sk-abc123def456ghi789jkl012"),
              "secret:AKIAIOSFODNN7EXAMPLE,secret:sk-abc123def456ghi789jkl012");
    CHECK_STR(found(p, "password=Tr0ub4dor&3 but the password is required"), "secret:Tr0ub4dor");
    CHECK_STR(found(p, "postgres://app:s3cretPass@db:5432/x"), "secret:s3cretPass");
    CHECK_STR(found(p, "sha 3f786850e387550fdab836ed7e6dc881de23001b"), "");
    CHECK_STR(found(p, "id EMP-123456 on bluebird, Night Jar and bluebirds"),
              "employee_id:EMP-123456,project:bluebird,project:Night Jar");
    privacy_free(p);
}

/* Restores `answer` cut at random places (1..6 bytes a piece) through a fresh stream; the result
 * in a static buffer. */
static const char *restore_cut(const struct mask *m, enum mask_escape esc, const char *answer)
{
    static char res[1024];
    struct mask_stream st;
    mask_stream_init(&st);
    struct buf out;
    buf_init(&out);
    size_t len = strlen(answer), at = 0;
    while (at < len) {
        size_t n = 1 + (size_t)rand() % 6;
        if (n > len - at)
            n = len - at;
        mask_restore(m, &st, esc, answer + at, n, &out);
        at += n;
    }
    mask_restore_flush(m, &st, esc, &out);
    snprintf(res, sizeof res, "%s", out.data ? out.data : "");
    buf_free(&out);
    mask_stream_free(&st);
    return res;
}

/* Masking replaces values by placeholders (the same value, the same one); restoring gives the
 * original back however the answer is cut into chunks. */
static void test_mask_restore(void)
{
    struct privacy *p = detector();
    struct mask *m = mask_new();
    const char *in = "Mail a@example.com and b@example.org, again a@example.com; card 4111111111111111.";
    struct buf b;
    buf_init(&b);
    CHECK_EQ_INT(mask_text(p, m, in, strlen(in), &b), 4);
    CHECK_STR(b.data, "Mail [EMAIL_1] and [EMAIL_2], again [EMAIL_1]; card [CARD_1].");
    const char *answer = "Sure: [EMAIL_2] then [EMAIL_1] and [CARD_1], not [EMAIL_9] or [x] [";
    const char *want = "Sure: b@example.org then a@example.com and 4111111111111111, not [EMAIL_9] or [x] [";
    srand(7);
    for (int trial = 0; trial < 200; trial++)
        CHECK_STR(restore_cut(m, MASK_RAW, answer), want);
    buf_free(&b);
    mask_free(m);
    privacy_free(p);
}

/* Tool-call arguments are JSON text: a value goes in as a JSON string body, so one with quotes,
 * backslashes or control bytes keeps the arguments valid JSON; placeholders split across
 * fragments are restored, unknown ones released as they came. */
static void test_restore_json(void)
{
    struct mask *m = mask_new();
    /* a custom kind whose values carry the characters JSON escapes */
    struct privacy_pattern pats[] = {{"odd", "Q\"[a-z]+\\\\[0-9]\t?"}};
    struct privacy_options o = {UINT64_C(1) << PK_EMAIL, pats, 1, NULL, 0};
    struct privacy *q = NULL;
    struct err e;
    CHECK_MSG(privacy_new(&o, &q, &e) == 0, "%s", e.msg);
    const char *in = "to a@example.com, code Q\"ab\\1\t and Q\"cd\\2 then a@example.com";
    struct buf b;
    buf_init(&b);
    CHECK_EQ_INT(mask_text(q, m, in, strlen(in), &b), 4);
    CHECK_STR(b.data, "to [EMAIL_1], code [ODD_1] and [ODD_2] then [EMAIL_1]");
    const char *args = "{\"to\":\"[EMAIL_1]\",\"codes\":[\"[ODD_1]\",\"x[ODD_2]y\"],"
                       "\"other\":\"[EMAIL_9] [x] [ODD_\",\"n\":[1]}";
    const char *want = "{\"to\":\"a@example.com\",\"codes\":[\"Q\\\"ab\\\\1\\t\","
                       "\"xQ\\\"cd\\\\2y\"],\"other\":\"[EMAIL_9] [x] [ODD_\",\"n\":[1]}";
    srand(11);
    for (int trial = 0; trial < 200; trial++)
        CHECK_STR(restore_cut(m, MASK_JSON, args), want);
    /* the restored arguments parse, and give the values back */
    json_error_t je;
    json_t *j = json_loads(want, 0, &je);
    CHECK_MSG(j != NULL, "%s", je.text);
    CHECK_STR(json_string_value(json_array_get(json_object_get(j, "codes"), 0)), "Q\"ab\\1\t");
    json_decref(j);
    /* answer text: the value as it is; a held prefix at the end comes out unchanged */
    CHECK_STR(restore_cut(m, MASK_RAW, "[ODD_2] [EMAIL_1] [EMA"), "Q\"cd\\2 a@example.com [EMA");
    /* two streams interleaved, each with its own state */
    struct mask_stream s1, s2;
    mask_stream_init(&s1);
    mask_stream_init(&s2);
    struct buf o1, o2;
    buf_init(&o1);
    buf_init(&o2);
    mask_restore(m, &s1, MASK_JSON, "{\"a\":\"[EM", 9, &o1);
    mask_restore(m, &s2, MASK_JSON, "{\"b\":\"[OD", 9, &o2);
    mask_restore(m, &s1, MASK_JSON, "AIL_1]\"}", 8, &o1);
    mask_restore(m, &s2, MASK_JSON, "D_1]\"}", 6, &o2);
    mask_restore_flush(m, &s1, MASK_JSON, &o1);
    mask_restore_flush(m, &s2, MASK_JSON, &o2);
    CHECK_STR(o1.data, "{\"a\":\"a@example.com\"}");
    CHECK_STR(o2.data, "{\"b\":\"Q\\\"ab\\\\1\\t\"}");
    buf_free(&o1);
    buf_free(&o2);
    mask_stream_free(&s1);
    mask_stream_free(&s2);
    buf_free(&b);
    mask_free(m);
    privacy_free(q);
}

static const char *args_of(const json_t *calls, size_t i)
{
    json_t *fn = json_object_get(json_array_get(calls, i), "function");
    return json_string_value(json_object_get(fn, "arguments"));
}

/* Earlier tool calls in the conversation carry restored values (the client got them so): their
 * arguments are scanned and masked too -- the strings decoded, each after its key, so a key word
 * before a secret counts and an escape next to a value is not taken for part of it -- and
 * restoring gives the arguments back exactly. */
static void test_mask_tool_calls(void)
{
    struct privacy *p = detector();
#define PEM_BODY "MIIEvQIBADANBgkqhkiG9w0BAQEFAASCBKcwggSjAgEAAoIBAQC7"
    const char *args = "{\"to\":\"a@example.com\",\"cc\":[\"\\\"b@example.org\"],\"n\":1.5,"
                       "\"key\":\"-----BEGIN PRIVATE KEY-----\\n" PEM_BODY "\\n-----END PRIVATE KEY-----\","
                       "\"password\":\"Tr0ub4dor&3x\",\"note\":\"line\\nd@example.net\"}";
    json_t *jb = json_pack("{s:s, s:[{s:s, s:s}, {s:s, s:n, s:[{s:s, s:s, s:{s:s, s:s}},"
                           " {s:s, s:s, s:{s:s, s:s}}]}, {s:s, s:s, s:s}]}",
                           "model", "m", "messages", "role", "user", "content", "mail a@example.com",
                           "role", "assistant", "content", "tool_calls", "id", "c1", "type",
                           "function", "function", "name", "send", "arguments", args, "id", "c2",
                           "type", "function", "function", "name", "raw", "arguments",
                           "to c@example.net {", "role", "tool", "tool_call_id", "c1", "content",
                           "sent");
    char *body = json_dumps(jb, JSON_COMPACT);
    json_decref(jb);
    struct request *r = NULL;
    struct api_error ae;
    CHECK_MSG(openai_parse(DIALECT_OPENAI_CHAT, body, strlen(body), &r, &ae) == 0, "%s", ae.message);
    free(body);
    if (!r)
        return;
    struct policy_findings f;
    policy_scan_request(p, r, &f);
    CHECK_EQ_INT(f.n_spans, 7);
    struct mask *m = mask_new();
    CHECK_EQ_INT(policy_mask_request(p, m, r), 7);
    const json_t *calls = r->messages[1].tool_calls;
    const char *masked = args_of(calls, 0);
    CHECK_STR(masked, "{\"to\":\"[EMAIL_1]\",\"cc\":[\"\\\"[EMAIL_2]\"],\"n\":1.5,"
                      "\"key\":\"[SECRET_1]\",\"password\":\"[SECRET_2]\","
                      "\"note\":\"line\\n[EMAIL_3]\"}");
    CHECK_STR(args_of(calls, 1), "to [EMAIL_4] {");
    char *sent = json_dumps(r->body, JSON_COMPACT);
    CHECK(strstr(sent, "example") == NULL && strstr(sent, "PRIVATE") == NULL &&
          strstr(sent, "Tr0ub4dor") == NULL);
    free(sent);
    /* back: the model's call with those placeholders restores to the arguments exactly, and the
     * key's value is the key itself (real line breaks), as in message text */
    struct mask_stream st;
    mask_stream_init(&st);
    struct buf out;
    buf_init(&out);
    mask_restore(m, &st, MASK_JSON, masked, strlen(masked), &out);
    mask_restore_flush(m, &st, MASK_JSON, &out);
    CHECK_STR(out.data, args);
    buf_clear(&out);
    mask_restore(m, &st, MASK_RAW, "[SECRET_1]", 10, &out);
    mask_restore_flush(m, &st, MASK_RAW, &out);
    CHECK_STR(out.data, "-----BEGIN PRIVATE KEY-----\n" PEM_BODY "\n-----END PRIVATE KEY-----");
#undef PEM_BODY
    buf_free(&out);
    mask_stream_free(&st);
    mask_free(m);
    request_free(r);
    privacy_free(p);
}

static void test_config(void)
{
    const char *ok = "tiers:\n  - { name: a, kind: openai, base_url: http://x/v1, price: {input: 1, output: 1} }\n"
                     "routes:\n  - { name: r, privacy: mask, default: a }\n"
                     "privacy:\n  default: block\n  kinds: [email, card]\n"
                     "  patterns: [{ name: emp, regex: \"EMP-\\\\d+\" }]\n"
                     "  terms: [{ name: proj, terms: [x, y] }]\n";
    struct config *c = NULL;
    struct err e;
    CHECK_MSG(config_parse(ok, strlen(ok), NULL, &c, &e) == 0, "%s", e.msg);
    if (c) {
        CHECK_EQ_INT(c->routes[0].privacy, PRIVACY_MASK);
        CHECK_EQ_INT(c->privacy.default_policy, PRIVACY_BLOCK);
        CHECK_EQ_INT(c->privacy.kinds, (1u << PK_EMAIL) | (1u << PK_CARD));
        CHECK_STR(c->privacy.patterns[0].regex, "EMP-\\d+");
        CHECK_EQ_INT(c->privacy.terms[0].n_terms, 2);
        config_free(c);
    }
    static const struct { const char *yaml, *msg; } bad[] = {
        {"routes:\n  - { name: r, privacy: hide, default: a }\n", "routes.r.privacy: unknown policy"},
        {"privacy:\n  kinds: [mail]\n", "privacy.kinds[0]: unknown kind 'mail'"},
        {"privacy:\n  patterns: [{ name: x, regex: \"(\" }]\n", "privacy.patterns[0].regex: missing closing parenthesis"},
        {"privacy:\n  patterns: [{ name: email, regex: a }]\n", "'email' is a built-in kind"},
        {"privacy:\n  terms: [{ name: t, terms: [a] }, { name: t, terms: [b] }]\n", "kind name 't' is used twice"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        char text[1024];
        snprintf(text, sizeof text, "tiers:\n  - { name: a, kind: local, model: m.gguf }\n%s", bad[i].yaml);
        CHECK(config_parse(text, strlen(text), NULL, &c, &e) == -1);
        CHECK_MSG(strstr(e.msg, bad[i].msg) != NULL, "%s", e.msg);
    }
}

int main(void)
{
    RUN(test_config);
    RUN(test_checks);
    RUN(test_kinds);
    RUN(test_mask_restore);
    RUN(test_restore_json);
    RUN(test_mask_tool_calls);
    return check_report();
}
