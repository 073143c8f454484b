/* baton run: generate text from a prompt with a local model.
 *   baton run -m MODEL -p PROMPT [-n N] [--temp T] [--top-k K] [--top-p P] [--min-p P]
 *             [--repeat-penalty R] [--repeat-last-n N] [--presence-penalty P]
 *             [--frequency-penalty P] [--seed S] [-t THREADS] [-c CTX]
 *             [--chat [--system TEXT]] [--json-schema FILE | --grammar FILE]
 * Only generated text goes to stdout, streamed as it is produced (never splitting a UTF-8
 * character); diagnostics go to stderr. An empty prompt starts from BOS alone. Generation stops
 * after N tokens or at an end-of-generation token.
 *
 * --chat: PROMPT is a user message (after an optional system message) rendered with the model's
 * chat template and a generation prompt (engine/chat.h); the reply is printed. --json-schema /
 * --grammar: sampling is constrained to the schema's JSON or the GBNF grammar, and generation
 * also ends when the grammar is finished. The closing log line gives the sampling time per token
 * (sampler plus grammar), which bench/constrained.sh compares with and without a constraint. */
#include "cli/cli.h"

#include "base/alloc.h"
#include "base/buf.h"
#include "base/clock.h"
#include "base/log.h"
#include "engine/chat.h"
#include "engine/forward.h"
#include "engine/grammar.h"
#include "engine/json_schema.h"
#include "engine/kv.h"
#include "engine/model.h"
#include "engine/sampler.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static const char *g_usage =
    "usage: baton run -m MODEL -p PROMPT [-n N] [--temp T] [--top-k K] [--top-p P] [--min-p P]\n"
    "                 [--repeat-penalty R] [--repeat-last-n N] [--presence-penalty P]\n"
    "                 [--frequency-penalty P] [--seed S] [-t THREADS] [-c CTX]\n"
    "                 [--chat [--system TEXT]] [--json-schema FILE | --grammar FILE]\n";

int cli_default_threads(void)
{
    long n = sysconf(_SC_NPROCESSORS_ONLN);
    return n < 1 ? 1 : n > 64 ? 64 : (int)n;
}

int cli_tokenize_prompt(const struct model *m, const char *prompt, int32_t **ids, size_t *n)
{
    struct err e;
    const struct tok *t = model_tok(m);
    if (tok_encode(t, prompt, strlen(prompt), true, true, ids, n, &e))
        return cli_fail("tokenize: %s", e.msg);
    if (*n == 0) {
        /* nothing to condition on (empty prompt, no BOS in this vocabulary's rules): start
         * from BOS so the model has a first position, as llama.cpp's examples do */
        if (tok_bos(t) < 0)
            return cli_fail("empty prompt and the vocabulary has no BOS token to start from");
        free(*ids);
        *ids = xmalloc(sizeof **ids);
        (*ids)[0] = tok_bos(t);
        *n = 1;
    }
    return 0;
}

/* --chat: the prompt as the model's template renders a system and a user message. */
static int chat_prompt(const struct model *m, const char *system, const char *user, struct buf *out)
{
    struct err e;
    struct chat_template *ct;
    if (chat_template_new(m, &ct, &e))
        return cli_fail("run: %s", e.msg);
    if (chat_template_is_default(ct))
        log_warn("the model has no chat template; using the plain default (the messages' text, "
                 "one per line)");
    json_t *msgs = json_array();
    if (system)
        json_array_append_new(msgs, json_pack("{s:s, s:s}", "role", "system", "content", system));
    json_array_append_new(msgs, json_pack("{s:s, s:s}", "role", "user", "content", user));
    int st = chat_render(ct, msgs, NULL, NULL, true, tok_add_bos(model_tok(m)), out, &e);
    json_decref(msgs);
    chat_template_free(ct);
    if (st)
        return cli_fail("run: chat template: %s", e.msg);
    return 0;
}

/* --json-schema FILE / --grammar FILE: the compiled constraint. */
static int load_constraint(const char *schema_path, const char *grammar_path, struct grammar **g)
{
    struct buf text;
    buf_init(&text);
    const char *path = schema_path ? schema_path : grammar_path;
    if (cli_read_file("run", path, 16u << 20, &text)) {
        buf_free(&text);
        return 1;
    }
    struct err e;
    char *gbnf = NULL;
    int rc = 0;
    if (schema_path) {
        json_error_t je;
        json_t *schema = json_loadb(text.data ? text.data : "", text.len, JSON_DECODE_ANY, &je);
        if (!schema)
            rc = cli_fail("run: %s:%d:%d: %s", path, je.line, je.column, je.text);
        else if (json_schema_to_grammar(schema, &gbnf, &e))
            rc = cli_fail("run: %s: %s", path, e.msg);
        json_decref(schema);
    } else {
        gbnf = buf_detach(&text);
    }
    if (!rc && grammar_parse(gbnf ? gbnf : "", gbnf ? strlen(gbnf) : 0, NULL, g, &e))
        rc = cli_fail("run: %s: %s", path, e.msg);
    free(gbnf);
    buf_free(&text);
    return rc;
}

/* The grammar's hooks, timed: what a check of the sampled token and what a full-vocabulary mask
 * cost, apart from the sampler's own work (docs/performance.md). */
struct timed_constraint {
    struct sampler_constraint inner;
    double check_s, mask_s;
    long long n_checks, n_masks;
};

static bool timed_allows(void *ctx, int32_t token)
{
    struct timed_constraint *tc = ctx;
    double t = clock_now_s();
    bool ok = tc->inner.allows(tc->inner.ctx, token);
    tc->check_s += clock_now_s() - t;
    tc->n_checks++;
    return ok;
}

static int32_t timed_mask(void *ctx, uint32_t *allowed)
{
    struct timed_constraint *tc = ctx;
    double t = clock_now_s();
    int32_t n = tc->inner.mask(tc->inner.ctx, allowed);
    tc->mask_s += clock_now_s() - t;
    tc->n_masks++;
    return n;
}

int cmd_run(int argc, char **argv)
{
    const char *model_path = NULL, *prompt = NULL, *system = NULL;
    const char *schema_path = NULL, *grammar_path = NULL;
    long long n_predict = 128, threads = cli_default_threads(), n_ctx = 0, top_k, last_n, seed;
    bool chat = false, seed_set = false;
    struct sampler_params sp;
    sampler_params_default(&sp);
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        double d;
        if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) {
            fputs(g_usage, stdout);
            return 0;
        } else if (strcmp(a, "--chat") == 0) {
            chat = true;
            continue;
        }
        if (!v) {
            fputs(g_usage, stderr);
            return cli_fail("%s needs a value", a);
        }
        i++;
        if (strcmp(a, "-m") == 0 || strcmp(a, "--model") == 0) {
            model_path = v;
        } else if (strcmp(a, "-p") == 0 || strcmp(a, "--prompt") == 0) {
            prompt = v;
        } else if (strcmp(a, "--system") == 0) {
            system = v;
        } else if (strcmp(a, "--json-schema") == 0) {
            schema_path = v;
        } else if (strcmp(a, "--grammar") == 0) {
            grammar_path = v;
        } else if (strcmp(a, "-n") == 0) {
            if (cli_parse_int(a, v, 0, 1 << 30, &n_predict))
                return 2;
        } else if (strcmp(a, "-t") == 0 || strcmp(a, "--threads") == 0) {
            if (cli_parse_int(a, v, 1, 256, &threads))
                return 2;
        } else if (strcmp(a, "-c") == 0 || strcmp(a, "--ctx-size") == 0) {
            if (cli_parse_int(a, v, 1, 1 << 24, &n_ctx))
                return 2;
        } else if (strcmp(a, "--temp") == 0) {
            if (cli_parse_float(a, v, &d))
                return 2;
            sp.temp = (float)d;
        } else if (strcmp(a, "--top-k") == 0) {
            if (cli_parse_int(a, v, 0, 1 << 30, &top_k))
                return 2;
            sp.top_k = (int32_t)top_k;
        } else if (strcmp(a, "--top-p") == 0) {
            if (cli_parse_float(a, v, &d) || d < 0 || d > 1)
                return cli_fail("--top-p: '%s' must be in [0, 1]", v) + 1;
            sp.top_p = (float)d;
        } else if (strcmp(a, "--min-p") == 0) {
            if (cli_parse_float(a, v, &d) || d < 0 || d > 1)
                return cli_fail("--min-p: '%s' must be in [0, 1]", v) + 1;
            sp.min_p = (float)d;
        } else if (strcmp(a, "--repeat-penalty") == 0) {
            if (cli_parse_float(a, v, &d) || d <= 0)
                return cli_fail("--repeat-penalty: '%s' must be positive", v) + 1;
            sp.repeat_penalty = (float)d;
        } else if (strcmp(a, "--repeat-last-n") == 0) {
            if (cli_parse_int(a, v, 0, 1 << 20, &last_n))
                return 2;
            sp.repeat_last_n = (int32_t)last_n;
        } else if (strcmp(a, "--presence-penalty") == 0) {
            if (cli_parse_float(a, v, &d))
                return 2;
            sp.presence_penalty = (float)d;
        } else if (strcmp(a, "--frequency-penalty") == 0) {
            if (cli_parse_float(a, v, &d))
                return 2;
            sp.frequency_penalty = (float)d;
        } else if (strcmp(a, "--seed") == 0) {
            if (cli_parse_int(a, v, 0, (long long)((~0ull) >> 1), &seed))
                return 2;
            sp.seed = (uint64_t)seed;
            seed_set = true;
        } else {
            fputs(g_usage, stderr);
            return cli_fail("unknown option %s", a) + 1;
        }
    }
    if (!model_path || !prompt) {
        fputs(g_usage, stderr);
        return cli_fail("-m MODEL and -p PROMPT are required") + 1;
    }
    if (system && !chat)
        return cli_fail("--system needs --chat") + 1;
    if (schema_path && grammar_path)
        return cli_fail("--json-schema and --grammar cannot be used together") + 1;
    if (!seed_set)
        sp.seed = (uint64_t)time(NULL) ^ ((uint64_t)getpid() << 32);

    struct grammar *g = NULL;
    if ((schema_path || grammar_path) && load_constraint(schema_path, grammar_path, &g))
        return 1;
    struct err e;
    struct model *m;
    if (model_load(model_path, &m, &e)) {
        grammar_free(g);
        return cli_fail("%s", e.msg);
    }
    int32_t *ids = NULL;
    size_t n_ids = 0;
    struct buf chat_text;
    buf_init(&chat_text);
    if (chat && chat_prompt(m, system, prompt, &chat_text)) {
        model_free(m);
        grammar_free(g);
        return 1;
    }
    const char *text = chat ? (chat_text.data ? chat_text.data : "") : prompt;
    if (cli_tokenize_prompt(m, text, &ids, &n_ids)) {
        buf_free(&chat_text);
        model_free(m);
        grammar_free(g);
        return 1;
    }
    buf_free(&chat_text);
    double tv = clock_now_s();
    struct grammar_vocab *gv = g ? grammar_vocab_new(model_tok(m), false) : NULL;
    if (gv)
        log_info("grammar vocabulary: %d tokens in %.1f ms", grammar_vocab_n(gv),
                 (clock_now_s() - tv) * 1e3);
    struct timed_constraint timed = {0};
    if (g)
        timed.inner = grammar_constraint(g, gv);
    struct sampler_constraint cons = {&timed, timed_allows, timed_mask};
    if (n_ctx == 0)
        n_ctx = (long long)n_ids + n_predict;
    if (n_ctx > model_n_ctx_train(m))
        log_warn("context of %lld positions exceeds the model's training context %d; output "
                 "past it may degrade (llama.cpp allows the same)",
                 n_ctx, model_n_ctx_train(m));
    int rc = 0;
    if ((long long)n_ids >= n_ctx) {
        rc = cli_fail("prompt is %zu tokens, the context is %lld", n_ids, n_ctx);
        goto out_model;
    }
    struct kv_cache *kv;
    if (kv_new(m, (int32_t)n_ctx, &kv, &e)) {
        rc = cli_fail("%s", e.msg);
        goto out_model;
    }
    struct forward *f = fwd_new(m, 512, (int32_t)threads);
    struct sampler *s = sampler_new(&sp, model_n_vocab(m));
    float *logits = xmalloc_array((size_t)model_n_vocab(m), sizeof(float));
    const struct tok *t = model_tok(m);
    double t0 = clock_now_s();
    if (fwd_eval(f, kv, ids, (int32_t)n_ids, logits, &e)) {
        rc = cli_fail("%s", e.msg);
        goto out;
    }
    double t1 = clock_now_s();
    struct buf pending; /* bytes of a UTF-8 character not yet complete */
    buf_init(&pending);
    long long generated = 0;
    char piece[256];
    double sample_s = 0; /* time in the sampler and the grammar */
    while (generated < n_predict) {
        double ts = clock_now_s();
        int32_t id = sampler_sample_constrained(s, logits, g ? &cons : NULL);
        if (g && (id < 0 || grammar_accept_token(g, gv, id, &e))) {
            const char *why = grammar_error(g);
            rc = cli_fail("run: %s", why ? why : "no token of the vocabulary can continue the "
                                                  "grammar");
            break;
        }
        sample_s += clock_now_s() - ts;
        if (tok_is_eog(t, id))
            break;
        sampler_accept(s, id);
        generated++;
        size_t len = tok_piece(t, id, piece, sizeof piece, false);
        if (len > sizeof piece)
            len = 0;
        buf_append(&pending, piece, len);
        size_t ok = tok_utf8_complete(pending.data, pending.len);
        if (ok) {
            fwrite(pending.data, 1, ok, stdout);
            fflush(stdout);
            memmove(pending.data, pending.data + ok, pending.len - ok);
            pending.len -= ok;
        }
        if (generated == n_predict || kv_len(kv) >= n_ctx || (g && grammar_finished(g)))
            break;
        if (fwd_eval(f, kv, &id, 1, logits, &e)) {
            rc = cli_fail("%s", e.msg);
            break;
        }
    }
    if (pending.len)
        fwrite(pending.data, 1, pending.len, stdout);
    fputc('\n', stdout);
    buf_free(&pending);
    double t2 = clock_now_s();
    log_info("prompt: %zu tokens in %.3f s (%.1f tok/s); generated %lld tokens in %.3f s "
             "(%.1f tok/s)",
             n_ids, t1 - t0, (double)n_ids / (t1 - t0), generated, t2 - t1,
             generated ? (double)generated / (t2 - t1) : 0.0);
    log_info("sampling: %.2f us/token%s%lld of %lld draws needed the full vocabulary mask",
             generated ? sample_s * 1e6 / (double)generated : 0.0, g ? " (constrained); " : "; ",
             (long long)sampler_n_masked(s), generated);
    if (g)
        log_info("grammar: %.2f us per check of the sampled token (%lld), %.1f us per "
                 "vocabulary mask (%lld)", timed.n_checks ? timed.check_s * 1e6 / timed.n_checks : 0,
                 timed.n_checks, timed.n_masks ? timed.mask_s * 1e6 / timed.n_masks : 0,
                 timed.n_masks);
    if (g && !grammar_complete(g))
        log_warn("run: the output is cut short of the grammar's end (-n %lld)", n_predict);
out:
    free(logits);
    sampler_free(s);
    fwd_free(f);
    kv_free(kv);
out_model:
    free(ids);
    grammar_free(g);
    grammar_vocab_free(gv);
    model_free(m);
    return rc;
}
