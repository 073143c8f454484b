/* baton run: generate text from a prompt with a local model.
 *   baton run -m MODEL -p PROMPT [-n N] [--temp T] [--top-k K] [--top-p P] [--min-p P]
 *             [--repeat-penalty R] [--repeat-last-n N] [--presence-penalty P]
 *             [--frequency-penalty P] [--seed S] [-t THREADS] [-c CTX] [--chat]
 * Only generated text goes to stdout, streamed as it is produced (never splitting a UTF-8
 * character); diagnostics go to stderr. An empty prompt starts from BOS alone. Generation stops
 * after N tokens or at an end-of-generation token. */
#include "cli/cli.h"

#include "base/alloc.h"
#include "base/buf.h"
#include "base/clock.h"
#include "base/log.h"
#include "engine/forward.h"
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
    "                 [--frequency-penalty P] [--seed S] [-t THREADS] [-c CTX] [--chat]\n";

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

int cmd_run(int argc, char **argv)
{
    const char *model_path = NULL, *prompt = NULL;
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
    if (chat)
        return cli_fail("--chat needs chat templates, which are not implemented yet (issue: chat "
                        "templates); use a plain prompt");
    if (!seed_set)
        sp.seed = (uint64_t)time(NULL) ^ ((uint64_t)getpid() << 32);

    struct err e;
    struct model *m;
    if (model_load(model_path, &m, &e))
        return cli_fail("%s", e.msg);
    int32_t *ids = NULL;
    size_t n_ids = 0;
    if (cli_tokenize_prompt(m, prompt, &ids, &n_ids)) {
        model_free(m);
        return 1;
    }
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
    while (generated < n_predict) {
        int32_t id = sampler_sample(s, logits);
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
        if (generated == n_predict || kv_len(kv) >= n_ctx)
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
out:
    free(logits);
    sampler_free(s);
    fwd_free(f);
    kv_free(kv);
out_model:
    free(ids);
    model_free(m);
    return rc;
}
