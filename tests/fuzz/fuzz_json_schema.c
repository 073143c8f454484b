/* libFuzzer target: the JSON-schema -> GBNF converter and the validator on arbitrary bytes.
 *
 * Input: a JSON text. If it does not parse, the target only checks the validator refuses it as
 * a document. Otherwise it is taken three ways: as a schema (json_schema_to_grammar), as an
 * OpenAI response_format (json_schema_response_format) and, through a one-tool array, as a tool's
 * parameters (toolcall_grammar, Hermes form). Each must either fail with a message or produce
 * GBNF that compiles (a converter emitting a grammar it cannot compile is a bug). For the schema,
 * a few documents are drawn from the grammar by a random walk over allowed bytes (seeded from the
 * input; structural bytes favoured so documents end) and every complete one must validate
 * against the schema: the grammar accepts a subset of what the schema allows, never more.
 *
 * Seeds in corpus/json_schema/: the schemas of test_json_schema.c and test_constrained.c,
 * response_format objects, and refused schemas.
 */
#include "engine/grammar.h"
#include "engine/json_schema.h"
#include "engine/toolcall.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static uint64_t next(uint64_t *s)
{
    *s += 0x9e3779b97f4a7c15u;
    uint64_t z = *s;
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9u;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebu;
    return z ^ (z >> 31);
}

static struct grammar *compile(char *gbnf)
{
    struct err e;
    struct grammar *g = NULL;
    if (grammar_parse(gbnf, strlen(gbnf), NULL, &g, &e)) {
        fprintf(stderr, "converter output does not compile: %s\n%s\n", e.msg, gbnf);
        abort();
    }
    free(gbnf);
    return g;
}

/* One random document; 0 complete, 1 cut by the budget, -1 dead end or failed grammar. */
static int walk(struct grammar *g, uint64_t *rng, char *out, size_t cap, size_t *len)
{
    static const char structural[] = "\"]},:0123456789tfn";
    grammar_reset(g);
    *len = 0;
    while (*len < cap) {
        if (grammar_complete(g) && (grammar_finished(g) || next(rng) % 3 == 0))
            return 0;
        unsigned char allowed[256], pref[32];
        int n = 0, ns = 0;
        for (int b = 0; b < 256; b++) {
            char c = (char)b;
            if (grammar_accepts(g, &c, 1)) {
                allowed[n++] = (unsigned char)b;
                if (b && strchr(structural, b) && ns < 32)
                    pref[ns++] = (unsigned char)b;
            }
        }
        if (n == 0)
            return -1;
        unsigned char pick = ns && next(rng) % 2 ? pref[next(rng) % (uint64_t)ns]
                                                 : allowed[next(rng) % (uint64_t)n];
        struct err e;
        if (grammar_advance(g, (const char *)&pick, 1, &e))
            abort(); /* grammar_accepts said yes */
        out[(*len)++] = (char)pick;
    }
    return grammar_complete(g) ? 0 : 1;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct err e;
    json_error_t je;
    json_t *schema = json_loadb((const char *)data, size, JSON_DECODE_ANY | JSON_ALLOW_NUL, &je);
    if (!schema) {
        if (json_schema_validate(NULL, (const char *)data, size, &e) == 0 || !e.msg[0])
            abort();
        return 0;
    }
    uint64_t rng = 0;
    for (size_t i = 0; i < size; i++)
        rng = rng * 131 + data[i];

    char *gbnf = NULL;
    if (json_schema_response_format(schema, &gbnf, &e)) {
        if (!e.msg[0] || gbnf)
            abort();
    } else if (gbnf) {
        grammar_free(compile(gbnf));
    }

    json_t *tools = json_pack("[{s:s, s:{s:s, s:O}}]", "type", "function", "function", "name", "f",
                              "parameters", schema);
    gbnf = NULL;
    if (tools && toolcall_grammar(TOOLCALL_HERMES, tools, &gbnf, &e) == 0)
        grammar_free(compile(gbnf));
    else if (tools && !e.msg[0])
        abort();
    json_decref(tools);

    gbnf = NULL;
    if (json_schema_to_grammar(schema, &gbnf, &e)) {
        if (!e.msg[0] || gbnf)
            abort();
        json_decref(schema);
        return 0;
    }
    struct grammar *g = compile(gbnf);
    char doc[512];
    for (int i = 0; i < 4; i++) {
        size_t len;
        if (walk(g, &rng, doc, sizeof doc, &len) != 0)
            continue; /* cut, or a failed grammar (state explosion is reported, not a bug) */
        if (json_schema_validate(schema, doc, len, &e)) {
            fprintf(stderr, "grammar let through an invalid document: %.*s\n  %s\n", (int)len,
                    doc, e.msg);
            abort();
        }
    }
    grammar_free(g);
    json_decref(schema);
    return 0;
}
