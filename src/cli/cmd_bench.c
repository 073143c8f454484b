/* baton bench -m MODEL [-p 512] [-n 128] [-b SEQS] [-t THREADS] [-r REPS] [--json]
 * Measures, llama-bench style: prompt processing (pp: P tokens in one batch into an empty
 * cache) and text generation (tg: N single-token steps from an empty cache), each repeated R
 * times after a warm-up, reporting the mean tokens/s and its standard deviation. With -b SEQS,
 * tg decodes SEQS sequences together (fwd_eval_batch, as the serve tier's continuous batching
 * does) and reports the aggregate tokens/s of all of them. Token ids are pseudo-random (fixed
 * seed), so every run measures the same work. --json prints one object with pp_tps, tg_tps and
 * the process's peak resident memory. --profile adds, per phase, where the time went: the
 * matmuls by role and weight type (ms per token, share of the step, and the weight bytes read
 * per second), attention, and the rest of the step. */
#include "cli/cli.h"

#include "base/alloc.h"
#include "base/clock.h"
#include "engine/dtype.h"
#include "engine/forward.h"
#include "engine/kernels.h"
#include "engine/kv.h"
#include "engine/model.h"
#include "engine/sampler.h"

#include <math.h>
#include <stdio.h>
#include <string.h>
#include <sys/resource.h>

static const char *g_usage =
    "usage: baton bench -m MODEL [-p PROMPT_TOKENS] [-n GEN_TOKENS] [-b SEQS] [-t THREADS]\n"
    "                   [-r REPS] [--json] [--profile]\n";

struct stats {
    double mean, sd;
};

static struct stats summarize(const double *tps, int n)
{
    struct stats s = {0, 0};
    for (int i = 0; i < n; i++)
        s.mean += tps[i];
    s.mean /= n;
    for (int i = 0; i < n; i++)
        s.sd += (tps[i] - s.mean) * (tps[i] - s.mean);
    s.sd = n > 1 ? sqrt(s.sd / (n - 1)) : 0;
    return s;
}

/* A phase's profile, summed over the repetitions. */
struct phase_profile {
    struct fwd_profile_row rows[FWD_PROFILE_MAX];
    int n;
};

/* Moves f's profile rows into pp (adding to rows of the same part) and clears f's. */
static void profile_take(struct forward *f, struct phase_profile *pp)
{
    const struct fwd_profile_row *rows;
    int n = fwd_profile_rows(f, &rows);
    for (int i = 0; i < n; i++) {
        int k = 0;
        while (k < pp->n && !(pp->rows[k].type == rows[i].type &&
                              strcmp(pp->rows[k].what, rows[i].what) == 0))
            k++;
        if (k == pp->n) {
            if (pp->n == FWD_PROFILE_MAX)
                continue;
            pp->rows[pp->n++] = (struct fwd_profile_row){.what = rows[i].what, .type = rows[i].type};
        }
        pp->rows[k].seconds += rows[i].seconds;
        pp->rows[k].bytes += rows[i].bytes;
        pp->rows[k].calls += rows[i].calls;
    }
    fwd_profile(f, false, true);
}

/* The profile as a table: per part, ms per token, share of the step time, GB/s of weights. */
static void profile_print(const char *phase, const struct phase_profile *pp, double tokens)
{
    double step = 0, parts = 0;
    for (int i = 0; i < pp->n; i++)
        if (strcmp(pp->rows[i].what, "step") == 0)
            step += pp->rows[i].seconds;
        else
            parts += pp->rows[i].seconds;
    if (step <= 0)
        return;
    printf("\n%s profile (per token, %.0f tokens)\n", phase, tokens);
    printf("| part | weights | ms/token | share | weight GB/s |\n|---|---|---|---|---|\n");
    for (int i = 0; i < pp->n; i++) {
        const struct fwd_profile_row *r = &pp->rows[i];
        if (strcmp(r->what, "step") == 0)
            continue;
        char gbs[32] = "";
        if (r->bytes > 0)
            snprintf(gbs, sizeof gbs, "%.1f", r->bytes / r->seconds / 1e9);
        printf("| %s | %s | %.3f | %.1f%% | %s |\n", r->what,
               r->type >= 0 ? dtype_name((uint32_t)r->type) : "", r->seconds * 1e3 / tokens,
               100.0 * r->seconds / step, gbs);
    }
    printf("| other (norms, RoPE, embeddings, waits) | | %.3f | %.1f%% | |\n",
           (step - parts) * 1e3 / tokens, 100.0 * (step - parts) / step);
}

int cmd_bench(int argc, char **argv)
{
    const char *model_path = NULL;
    long long n_prompt = 512, n_gen = 128, threads = cli_default_threads(), reps = 3, n_seq = 1;
    bool json = false, profile = false;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) {
            fputs(g_usage, stdout);
            return 0;
        } else if (strcmp(a, "--json") == 0) {
            json = true;
            continue;
        } else if (strcmp(a, "--profile") == 0) {
            profile = true;
            continue;
        }
        if (!v) {
            fputs(g_usage, stderr);
            return cli_fail("%s needs a value", a) + 1;
        }
        i++;
        if (strcmp(a, "-m") == 0)
            model_path = v;
        else if (strcmp(a, "-p") == 0) {
            if (cli_parse_int(a, v, 0, 1 << 16, &n_prompt))
                return 2;
        } else if (strcmp(a, "-n") == 0) {
            if (cli_parse_int(a, v, 0, 1 << 16, &n_gen))
                return 2;
        } else if (strcmp(a, "-t") == 0) {
            if (cli_parse_int(a, v, 1, 256, &threads))
                return 2;
        } else if (strcmp(a, "-b") == 0) {
            if (cli_parse_int(a, v, 1, 64, &n_seq))
                return 2;
        } else if (strcmp(a, "-r") == 0) {
            if (cli_parse_int(a, v, 1, 1000, &reps))
                return 2;
        } else {
            fputs(g_usage, stderr);
            return cli_fail("unknown option %s", a) + 1;
        }
    }
    if (!model_path) {
        fputs(g_usage, stderr);
        return cli_fail("-m MODEL is required") + 1;
    }
    struct err e;
    struct model *m;
    if (model_load(model_path, &m, &e))
        return cli_fail("%s", e.msg);
    int32_t nv = model_n_vocab(m);
    int32_t n_ctx = (int32_t)(n_prompt > n_gen ? n_prompt : n_gen) + 1;
    struct kv_cache *kvs[64];
    for (long long s = 0; s < n_seq; s++)
        if (kv_new(m, n_ctx, &kvs[s], &e)) {
            while (s > 0)
                kv_free(kvs[--s]);
            model_free(m);
            return cli_fail("%s", e.msg);
        }
    struct kv_cache *kv = kvs[0];
    int32_t n_batch = (int32_t)(n_prompt > n_seq ? n_prompt : n_seq);
    struct forward *f = fwd_new(m, n_batch, (int32_t)threads);
    float *logits = xmalloc_array((size_t)nv * (size_t)n_seq, sizeof(float));
    int32_t *toks = xmalloc_array((size_t)n_ctx, sizeof(int32_t));
    struct rng r;
    rng_seed(&r, 1234);
    for (int32_t i = 0; i < n_ctx; i++)
        toks[i] = (int32_t)(rng_next(&r) % (uint64_t)nv);
    double *pp = xcalloc((size_t)reps, sizeof(double)), *tg = xcalloc((size_t)reps, sizeof(double));
    int rc = 0;
    struct phase_profile prof_pp = {.n = 0}, prof_tg = {.n = 0};
    /* warm-up: page the weights in, spin the pool up */
    kv_truncate(kv, 0);
    if (fwd_eval(f, kv, toks, n_prompt > 0 ? (int32_t)(n_prompt < 16 ? n_prompt : 16) : 1, logits, &e))
        rc = cli_fail("%s", e.msg);
    for (long long rep = 0; rep < reps && rc == 0; rep++) {
        if (n_prompt > 0) {
            kv_truncate(kv, 0);
            fwd_profile(f, profile, true);
            double t0 = clock_now_s();
            if (fwd_eval(f, kv, toks, (int32_t)n_prompt, logits, &e)) {
                rc = cli_fail("%s", e.msg);
                break;
            }
            pp[rep] = (double)n_prompt / (clock_now_s() - t0);
            profile_take(f, &prof_pp);
        }
        if (n_gen > 0) {
            for (long long s = 0; s < n_seq; s++)
                kv_truncate(kvs[s], 0);
            fwd_profile(f, profile, true);
            double t0 = clock_now_s();
            int32_t step[64];
            for (long long i = 0; i < n_gen && rc == 0; i++) {
                int fail;
                if (n_seq == 1) {
                    fail = fwd_eval(f, kv, &toks[i], 1, logits, &e);
                } else {
                    for (long long s = 0; s < n_seq; s++) /* each sequence its own tokens */
                        step[s] = toks[(i + (long long)s * 7) % n_ctx];
                    fail = fwd_eval_batch(f, kvs, step, (int32_t)n_seq, logits, &e);
                }
                if (fail)
                    rc = cli_fail("%s", e.msg);
            }
            tg[rep] = (double)(n_gen * n_seq) / (clock_now_s() - t0);
            profile_take(f, &prof_tg);
        }
    }
    if (rc == 0) {
        struct stats ps = summarize(pp, (int)reps), ts = summarize(tg, (int)reps);
        double size_mb = (double)model_weight_bytes(m) / 1e6;
        struct rusage ru;
        getrusage(RUSAGE_SELF, &ru);
        double rss_mb = (double)ru.ru_maxrss / 1024.0; /* Linux: kilobytes */
        if (json) {
            printf("{\"model\": \"%s\", \"type\": \"%s\", \"size_mb\": %.1f, \"threads\": %lld, "
                   "\"kernels\": \"%s\", \"n_prompt\": %lld, \"n_gen\": %lld, \"n_seq\": %lld, "
                   "\"reps\": %lld, \"pp_tps\": %.2f, \"pp_sd\": %.2f, \"tg_tps\": %.2f, "
                   "\"tg_sd\": %.2f, \"peak_rss_mb\": %.1f}\n",
                   model_path, model_type_name(m), size_mb, threads, kernels_get()->name, n_prompt,
                   n_gen, n_seq, reps, ps.mean, ps.sd, ts.mean, ts.sd, rss_mb);
        } else {
            printf("| model | type | size (MB) | threads | kernels | test | t/s |\n");
            printf("|---|---|---|---|---|---|---|\n");
            if (n_prompt > 0)
                printf("| %s | %s | %.1f | %lld | %s | pp%lld | %.2f ± %.2f |\n", model_arch_name(m),
                       model_type_name(m), size_mb, threads, kernels_get()->name, n_prompt, ps.mean,
                       ps.sd);
            if (n_gen > 0)
                printf("| %s | %s | %.1f | %lld | %s | tg%lld x%lld | %.2f ± %.2f |\n",
                       model_arch_name(m), model_type_name(m), size_mb, threads,
                       kernels_get()->name, n_gen, n_seq, ts.mean, ts.sd);
        }
    }
    if (rc == 0 && profile && !json) {
        profile_print("pp", &prof_pp, (double)(n_prompt * reps));
        profile_print("tg", &prof_tg, (double)(n_gen * n_seq * reps));
    }
    free(pp);
    free(tg);
    free(toks);
    free(logits);
    fwd_free(f);
    for (long long s = 0; s < n_seq; s++)
        kv_free(kvs[s]);
    model_free(m);
    return rc;
}
