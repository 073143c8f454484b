/* baton logits -m MODEL -p PROMPT [--top K] [-t THREADS] [--tokens ID,ID,...]
 * Runs the prompt (tokenized with BOS as the vocabulary says and special tokens parsed, like
 * `run`) and prints the last position's top K logits, best first, as "id<TAB>logit" lines with
 * six decimals. --tokens bypasses the tokenizer with explicit ids (for debugging). */
#include "cli/cli.h"

#include "base/alloc.h"
#include "engine/forward.h"
#include "engine/kv.h"
#include "engine/model.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *g_usage =
    "usage: baton logits -m MODEL (-p PROMPT | --tokens ID,ID,...) [--top K] [-t THREADS]\n";

static int parse_ids(const char *s, int32_t **ids, size_t *n)
{
    size_t cap = 16;
    *ids = xmalloc_array(cap, sizeof **ids);
    *n = 0;
    while (*s) {
        char *end;
        long v = strtol(s, &end, 10);
        if (end == s || v < 0 || v > INT32_MAX) {
            free(*ids);
            return cli_fail("--tokens: '%s' is not a list of token ids", s);
        }
        if (*n == cap)
            *ids = xrealloc_array(*ids, cap *= 2, sizeof **ids);
        (*ids)[(*n)++] = (int32_t)v;
        s = end;
        while (*s == ',' || *s == ' ')
            s++;
    }
    return 0;
}

int cmd_logits(int argc, char **argv)
{
    const char *model_path = NULL, *prompt = NULL, *tokens = NULL;
    long long top = 10, threads = cli_default_threads();
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) {
            fputs(g_usage, stdout);
            return 0;
        }
        if (!v) {
            fputs(g_usage, stderr);
            return cli_fail("%s needs a value", a) + 1;
        }
        i++;
        if (strcmp(a, "-m") == 0)
            model_path = v;
        else if (strcmp(a, "-p") == 0)
            prompt = v;
        else if (strcmp(a, "--tokens") == 0)
            tokens = v;
        else if (strcmp(a, "--top") == 0) {
            if (cli_parse_int(a, v, 1, 1 << 20, &top))
                return 2;
        } else if (strcmp(a, "-t") == 0) {
            if (cli_parse_int(a, v, 1, 256, &threads))
                return 2;
        } else {
            fputs(g_usage, stderr);
            return cli_fail("unknown option %s", a) + 1;
        }
    }
    if (!model_path || (!prompt == !tokens)) {
        fputs(g_usage, stderr);
        return cli_fail("-m MODEL and one of -p PROMPT / --tokens are required") + 1;
    }
    struct err e;
    struct model *m;
    if (model_load(model_path, &m, &e))
        return cli_fail("%s", e.msg);
    int32_t *ids = NULL;
    size_t n_ids = 0;
    int rc = tokens ? parse_ids(tokens, &ids, &n_ids) : cli_tokenize_prompt(m, prompt, &ids, &n_ids);
    if (rc == 0 && n_ids == 0)
        rc = cli_fail("--tokens: no ids given");
    if (rc) {
        model_free(m);
        return rc;
    }
    struct kv_cache *kv = NULL;
    struct forward *f = NULL;
    int32_t nv = model_n_vocab(m);
    float *logits = xmalloc_array((size_t)nv, sizeof(float));
    if (kv_new(m, (int32_t)n_ids, &kv, &e)) {
        rc = cli_fail("%s", e.msg);
        goto out;
    }
    f = fwd_new(m, 512, (int32_t)threads);
    if (fwd_eval(f, kv, ids, (int32_t)n_ids, logits, &e)) {
        rc = cli_fail("%s", e.msg);
        goto out;
    }
    if (top > nv)
        top = nv;
    /* partial selection: top passes over the logits, fine for the K a person asks for */
    for (long long k = 0; k < top; k++) {
        int32_t best = -1;
        for (int32_t i = 0; i < nv; i++)
            if (logits[i] == logits[i] && (best < 0 || logits[i] > logits[best]))
                best = i;
        if (best < 0)
            break;
        printf("%d\t%.6f\n", best, logits[best]);
        logits[best] = -__builtin_inff();
    }
out:
    fwd_free(f);
    kv_free(kv);
    free(logits);
    free(ids);
    model_free(m);
    return rc;
}
