/* Constrained generation end to end: the real tiny models (stories260K and its siblings, 512-token
 * SentencePiece vocabularies where '{' and '"' are byte-fallback tokens) and synthetic tiny-llama
 * (32K llama-spm vocabulary) and tiny-qwen2 (152K qwen2 vocabulary) models sample at temperature 1
 * with many seeds under response_format json_object, two json_schemas and two GBNF grammars.
 * Generation stops when the grammar is finished, an end-of-generation token is drawn (allowed only
 * when the grammar is complete), or a token budget runs out. Every output that ended must parse
 * and validate (checked by the JSON-schema validator, and for the GBNF grammars by a separate
 * hand-written checker); every budget-cut output must still be a valid prefix and is counted as
 * cut, never as valid. */
#include "check.h"

#include "base/buf.h"
#include "engine/forward.h"
#include "engine/grammar.h"
#include "engine/json_schema.h"
#include "engine/kv.h"
#include "engine/model.h"
#include "engine/synth.h"

#include <ctype.h>
#include <unistd.h>

/* ---------------------------------------------------------------------------------------------
 * Independent checkers for the GBNF grammars */

/* expr "=" with expr := term (("+"|"-") term){0,3}, term := factor (("*"|"/") factor){0,2},
 * factor := [0-9]{1,3} | "(" expr ")" */
static bool arith_expr(const char **s, int depth);
static bool arith_factor(const char **s, int depth)
{
    if (**s == '(') {
        ++*s;
        if (depth > 8 || !arith_expr(s, depth + 1) || **s != ')')
            return false;
        ++*s;
        return true;
    }
    int n = 0;
    while (isdigit((unsigned char)**s) && n < 3) {
        ++*s;
        n++;
    }
    return n > 0 && !isdigit((unsigned char)**s);
}
static bool arith_term(const char **s, int depth)
{
    if (!arith_factor(s, depth))
        return false;
    for (int i = 0; i < 2 && (**s == '*' || **s == '/'); i++) {
        ++*s;
        if (!arith_factor(s, depth))
            return false;
    }
    return true;
}
static bool arith_expr(const char **s, int depth)
{
    if (!arith_term(s, depth))
        return false;
    for (int i = 0; i < 3 && (**s == '+' || **s == '-'); i++) {
        ++*s;
        if (!arith_term(s, depth))
            return false;
    }
    return true;
}
static bool check_arith(const char *s) { return arith_expr(&s, 0) && strcmp(s, "=") == 0; }

/* "[" word (", " word){0,4} "]" with word := [a-z]{1,12} */
static bool check_list(const char *s)
{
    if (*s++ != '[')
        return false;
    for (int i = 0; i < 5; i++) {
        int n = 0;
        while (*s >= 'a' && *s <= 'z' && n < 12) {
            s++;
            n++;
        }
        if (n == 0 || (*s >= 'a' && *s <= 'z'))
            return false;
        if (strcmp(s, "]") == 0)
            return true;
        if (strncmp(s, ", ", 2) != 0)
            return false;
        s += 2;
    }
    return false;
}

static const char *g_arith =
    "root   ::= expr \"=\"\n"
    "expr   ::= term ((\"+\" | \"-\") term){0,3}\n"
    "term   ::= factor ((\"*\" | \"/\") factor){0,2}\n"
    "factor ::= [0-9]{1,3} | \"(\" expr \")\"\n";
static const char *g_list = "root ::= \"[\" word (\", \" word){0,4} \"]\"\nword ::= [a-z]{1,12}\n";

/* ---------------------------------------------------------------------------------------------
 * The constraints */

struct constraint {
    const char *name;
    const char *response_format; /* JSON, or NULL for a GBNF grammar */
    const char *gbnf;
    bool (*check)(const char *);
    int budget;                  /* tokens */
    bool must_complete;          /* random weights finish it easily: some run must complete */
};

static const struct constraint g_constraints[] = {
    /* free-form strings: random weights rarely close them within the budget */
    {"json_object", "{\"type\": \"json_object\"}", NULL, NULL, 64, false},
    {"schema-person",
     "{\"type\": \"json_schema\", \"json_schema\": {\"name\": \"person\", \"strict\": true, \"schema\": "
     "{\"type\": \"object\", \"properties\": {\"name\": {\"type\": \"string\", \"maxLength\": 6}, "
     "\"age\": {\"type\": \"integer\", \"minimum\": 0, \"maximum\": 120}, \"role\": {\"enum\": "
     "[\"admin\", \"user\", null]}, \"tags\": {\"type\": \"array\", \"items\": {\"type\": \"string\", "
     "\"enum\": [\"a\", \"bb\"]}, \"maxItems\": 3}, \"ok\": {\"type\": \"boolean\"}}, "
     "\"required\": [\"name\", \"age\", \"role\", \"ok\"], \"additionalProperties\": false}}}",
     NULL, NULL, 64, true},
    {"schema-event",
     "{\"type\": \"json_schema\", \"json_schema\": {\"name\": \"event\", \"schema\": {\"$defs\": "
     "{\"when\": {\"type\": \"string\", \"format\": \"date\"}}, \"type\": \"object\", \"properties\": "
     "{\"id\": {\"type\": \"string\", \"pattern\": \"^[A-Z]{2}-[0-9]{3}$\"}, \"at\": {\"$ref\": "
     "\"#/$defs/when\"}, \"score\": {\"type\": \"number\", \"minimum\": -1, \"maximum\": 1}, "
     "\"next\": {\"anyOf\": [{\"type\": \"null\"}, {\"type\": \"integer\", \"minimum\": 1, "
     "\"maximum\": 9}]}}, \"required\": [\"id\", \"at\", \"score\", \"next\"], "
     "\"additionalProperties\": false}}}",
     NULL, NULL, 64, false},
    {"gbnf-arith", NULL, NULL, check_arith, 48, true},
    {"gbnf-list", NULL, NULL, check_list, 48, true},
};
#define N_CONSTRAINTS (sizeof g_constraints / sizeof *g_constraints)

struct tally {
    int complete, cut, invalid, dead;
};

/* One generation: returns 0 complete, 1 cut by the budget, -1 stuck (no token allowed). */
static int generate(struct model *m, struct forward *f, const struct grammar_vocab *v, struct grammar *g,
                    uint64_t seed, int budget, struct buf *out)
{
    struct err e;
    const struct tok *t = model_tok(m);
    struct kv_cache *kv;
    if (kv_new(m, budget + 8, &kv, &e)) {
        CHECK_MSG(0, "%s", e.msg);
        return -1;
    }
    struct sampler_params sp;
    sampler_params_default(&sp);
    sp.temp = 1.0f;
    sp.seed = seed;
    int32_t nv = model_n_vocab(m);
    struct sampler *s = sampler_new(&sp, nv);
    float *logits = malloc((size_t)nv * sizeof *logits);
    grammar_reset(g);
    struct sampler_constraint c = grammar_constraint(g, v);
    buf_clear(out);
    int32_t tokid = tok_bos(t) >= 0 ? tok_bos(t) : 0;
    int rc = 1;
    for (int n = 0; n < budget; n++) {
        if (fwd_eval(f, kv, &tokid, 1, logits, &e)) {
            CHECK_MSG(0, "%s", e.msg);
            rc = -1;
            break;
        }
        int32_t id = sampler_sample_constrained(s, logits, &c);
        if (id < 0) {
            rc = -1;
            break;
        }
        CHECK_MSG(grammar_accept_token(g, v, id, &e) == 0, "sampled a token the grammar refuses: %s", e.msg);
        if (tok_is_eog(t, id)) {
            rc = 0;
            break;
        }
        size_t len;
        const char *piece = grammar_vocab_piece(v, id, &len);
        buf_append(out, piece, len);
        sampler_accept(s, id);
        tokid = id;
        if (grammar_finished(g)) {
            rc = 0;
            break;
        }
    }
    if (rc == 1 && grammar_complete(g))
        rc = 0; /* the budget ran out exactly at a complete sentence */
    free(logits);
    sampler_free(s);
    kv_free(kv);
    return rc;
}

/* Checks one output: it must validate if complete, and be a grammar prefix if cut. */
static void judge(const struct constraint *k, const json_t *schema, struct grammar *fresh, int rc,
                  const struct buf *out, struct tally *t)
{
    const char *text = out->data ? out->data : "";
    if (rc < 0) {
        t->dead++;
        CHECK_MSG(0, "%s: no token allowed after \"%s\"", k->name, text);
        return;
    }
    if (rc == 1) {
        t->cut++;
        grammar_reset(fresh);
        CHECK_MSG(grammar_accepts(fresh, text, out->len), "%s: cut output is not a prefix: %s", k->name, text);
        return;
    }
    t->complete++;
    struct err e;
    bool ok;
    if (k->response_format) {
        ok = json_schema_validate(schema, text, out->len, &e) == 0;
        if (ok && !schema) { /* json_object: an object */
            json_error_t je;
            json_t *j = json_loadb(text, out->len, JSON_ALLOW_NUL, &je);
            ok = json_is_object(j);
            json_decref(j);
            snprintf(e.msg, sizeof e.msg, "not an object");
        }
    } else {
        ok = k->check(text) && grammar_matches(fresh, text, out->len);
        snprintf(e.msg, sizeof e.msg, "independent checker refuses it");
    }
    if (!ok) {
        t->invalid++;
        CHECK_MSG(0, "%s: complete output does not validate: %s\n  %s", k->name, text, e.msg);
    }
}

static void run_model(const char *path, const char *label, int seeds, size_t n_constraints, bool special)
{
    struct err e;
    struct model *m;
    if (model_load(path, &m, &e)) {
        CHECK_MSG(0, "%s: %s", path, e.msg);
        return;
    }
    struct grammar_vocab *v = grammar_vocab_new(model_tok(m), special);
    struct forward *f = fwd_new(m, 8, 1); /* one thread: faster than two on models this small */
    struct buf out;
    buf_init(&out);
    for (size_t ki = 0; ki < n_constraints; ki++) {
        const struct constraint *k = &g_constraints[ki];
        char *gbnf = NULL;
        json_t *rf = NULL;
        const json_t *schema = NULL;
        if (k->response_format) {
            json_error_t je;
            rf = json_loads(k->response_format, 0, &je);
            CHECK(json_schema_response_format(rf, &gbnf, &e) == 0);
            schema = json_object_get(json_object_get(rf, "json_schema"), "schema");
        } else {
            gbnf = strdup(k == &g_constraints[3] ? g_arith : g_list);
        }
        struct grammar *g = NULL, *fresh = NULL;
        CHECK(gbnf && grammar_parse(gbnf, strlen(gbnf), NULL, &g, &e) == 0);
        CHECK(gbnf && grammar_parse(gbnf, strlen(gbnf), NULL, &fresh, &e) == 0);
        struct tally t = {0, 0, 0, 0};
        for (int seed = 0; g && fresh && seed < seeds; seed++) {
            int rc = generate(m, f, v, g, (uint64_t)seed * 7919 + ki, k->budget, &out);
            judge(k, schema, fresh, rc, &out, &t);
            if (seed == 0) { /* one sample per model and constraint, on one line */
                fprintf(stderr, "  %s %s seed 0 (%s): ", label, k->name, rc == 0 ? "complete" : "cut");
                for (size_t i = 0; i < out.len && i < 120; i++)
                    fputs(out.data[i] == '\n' ? "\\n" : (char[2]){out.data[i], 0}, stderr);
                fputc('\n', stderr);
            }
        }
        fprintf(stderr, "%s %-14s %d complete (all valid: %s), %d cut by the budget of %d tokens\n", label,
                k->name, t.complete, t.invalid ? "NO" : "yes", t.cut, k->budget);
        CHECK_MSG(t.complete > 0 || !k->must_complete, "%s %s: nothing completed", label, k->name);
        grammar_free(g);
        grammar_free(fresh);
        free(gbnf);
        json_decref(rf);
    }
    buf_free(&out);
    fwd_free(f);
    grammar_vocab_free(v);
    model_free(m);
}

static void test_real_tiny_models(void)
{
    const char *models[] = {"models/stories260K.gguf", "models/aidreams260K.gguf", "models/llama2xs-tinystories-5L.gguf"};
    for (size_t i = 0; i < sizeof models / sizeof *models; i++)
        run_model(check_fixture(models[i]), models[i] + 7, i == 2 ? 8 : 16, N_CONSTRAINTS, false);
}

static void synth_run(const char *shape, int seeds, size_t n_constraints)
{
    char path[256];
    snprintf(path, sizeof path, "/tmp/baton_test_constrained_%d_%s.gguf", (int)getpid(), shape);
    struct synth_opts o = {0};
    o.shape = shape;
    o.fixtures = check_fixtures();
    o.type = DT_F32;
    o.seed = 1;
    o.n_threads = 2;
    struct err e;
    if (synth_write(&o, path, &e)) {
        CHECK_MSG(0, "%s", e.msg);
        return;
    }
    run_model(path, shape, seeds, n_constraints, true);
    unlink(path);
}

static void test_synthetic_models(void)
{
    synth_run("tiny-llama", 4, N_CONSTRAINTS);
    synth_run("tiny-qwen2", 2, 3);
}

/* The checkers must be able to say no, or the tests above could not fail. */
static void test_checkers_refuse(void)
{
    CHECK(check_arith("12+(3*4)="));
    CHECK(!check_arith("12+="));
    CHECK(!check_arith("1234="));
    CHECK(!check_arith("1+2"));
    CHECK(!check_arith("(1+2="));
    CHECK(check_list("[ab, c]"));
    CHECK(!check_list("[ab,c]"));
    CHECK(!check_list("[]"));
    CHECK(!check_list("[a, b, c, d, e, f]"));
    CHECK(!check_list("[abcdefghijklm]"));
    struct err e;
    json_error_t je;
    json_t *rf = json_loads(g_constraints[1].response_format, 0, &je);
    const json_t *schema = json_object_get(json_object_get(rf, "json_schema"), "schema");
    const char *good = "{\"name\": \"ab\", \"age\": 3, \"role\": null, \"ok\": true}";
    const char *bad = "{\"name\": \"ab\", \"age\": 300, \"role\": null, \"ok\": true}";
    CHECK(json_schema_validate(schema, good, strlen(good), &e) == 0);
    CHECK(json_schema_validate(schema, bad, strlen(bad), &e) != 0);
    json_decref(rf);
}

int main(void)
{
    RUN(test_checkers_refuse);
    RUN(test_real_tiny_models);
    RUN(test_synthetic_models);
    return check_report();
}
