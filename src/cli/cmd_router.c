/* baton router: train, evaluate and apply the learned router (docs/routing.md).
 *
 *   baton router train --spec FILE --data DIR -o OUT.bin [--holdout NAME] [-q]
 *   baton router eval  --data DIR --weak MODEL --strong MODEL [--router FILE] [--group G,...]
 *                      [--svg OUT.svg] [--title TEXT] [--json]
 *   baton router score --router FILE -f PROMPTS.jsonl
 *   baton router lobo  --spec FILE --data DIR [--only NAME,...] [--svg-dir DIR] [--within K]
 *   baton router bench [--router FILE] --data DIR [--repeat N] [--json]
 *
 * train fits the router described by a spec (src/router/rtrain.h) on the outcome data under DIR
 * and writes the router file; the same spec and data give the same bytes. eval draws the
 * quality-versus-share-of-strong-calls curve of a router file on one data set (rdata.h lists the
 * layouts read) for one (weak, strong) pair, beside a length-only router and random routing,
 * and prints APGR, CPT(50%), CPT(80%). score prints, per input line, the router's score:
 * P(the weak model's answer is as good as the strong one's). lobo is the leave-one-benchmark-out
 * table: for every data set of the spec with an eval pair, train without it (and its family),
 * evaluate on it. bench times one decision (features + score) per prompt of a data set, on one
 * core, and prints the distribution in microseconds.
 */
#include "cli/cli.h"

#include "api/openai.h"
#include "base/alloc.h"
#include "base/buf.h"
#include "base/clock.h"
#include "base/file.h"
#include "gateway/route.h"
#include "router/rdata.h"
#include "router/reval.h"
#include "router/rmodel.h"
#include "router/rtrain.h"

#include <errno.h>
#include <math.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#define PROMPTS_MAX_BYTES ((size_t)1 << 30)

static void usage(FILE *f)
{
    fprintf(f,
            "usage: baton router train --spec FILE --data DIR -o OUT.bin [--holdout NAME] [-q]\n"
            "       baton router eval  --data DIR --weak MODEL --strong MODEL [--router FILE]\n"
            "                          [--group G,...] [--svg OUT.svg] [--title TEXT] [--json]\n"
            "       baton router score --router FILE -f PROMPTS.jsonl\n"
            "       baton router lobo  --spec FILE --data DIR [--only NAME,...] [--svg-dir DIR]\n"
            "                          [--within K]\n"
            "       baton router bench [--router FILE] --data DIR [--repeat N] [--json]\n"
            "\n"
            "The learned router (docs/routing.md): it scores a request with P(the weak tier's\n"
            "answer is as good as the strong tier's), from features of the text alone.\n"
            "  train  fit a router file from outcome data as a training spec describes\n"
            "         (--holdout NAME leaves one data set and its family out)\n"
            "  eval   quality against share of strong calls on one data set and model pair:\n"
            "         APGR, CPT(50%%), CPT(80%%) of the router, a length-only router and random\n"
            "         routing; --svg draws the curves; without --router only the baselines;\n"
            "         --strong @1 is a virtual model that is always right\n"
            "  score  one score per input line: {\"prompt\": ...} or an OpenAI request body\n"
            "         (-f - reads stdin)\n"
            "  lobo   leave-one-benchmark-out: train without each evaluated data set, test on it,\n"
            "         print a markdown table; --within K instead tests each data set K-fold\n"
            "         inside it (trained on everything but the test fold: in-benchmark, the\n"
            "         setting of RouteLLM's published figures)\n"
            "  bench  time of one decision (features + score) on each prompt of a data set, one\n"
            "         core: p50, p90, p99, max in microseconds\n"
            "--router FILE takes a router file or 'builtin' (the one compiled in, the default\n"
            "for bench).\n");
}

/* Options as name/value pairs; flags have value "". */
struct opts {
    const char *spec, *data, *out, *holdout, *router, *weak, *strong, *group, *svg, *title,
        *file, *only, *svg_dir, *repeat, *within;
    bool quiet, json;
};

static int parse_opts(int argc, char **argv, struct opts *o)
{
    memset(o, 0, sizeof *o);
    for (int i = 2; i < argc; i++) {
        const char *a = argv[i];
        bool v = i + 1 < argc;
        const char **dst = !strcmp(a, "--spec") ? &o->spec : !strcmp(a, "--data") ? &o->data
                           : !strcmp(a, "-o") || !strcmp(a, "--out") ? &o->out
                           : !strcmp(a, "--holdout") ? &o->holdout
                           : !strcmp(a, "--router") ? &o->router
                           : !strcmp(a, "--weak") ? &o->weak : !strcmp(a, "--strong") ? &o->strong
                           : !strcmp(a, "--group") ? &o->group : !strcmp(a, "--svg") ? &o->svg
                           : !strcmp(a, "--title") ? &o->title
                           : !strcmp(a, "-f") || !strcmp(a, "--file") ? &o->file
                           : !strcmp(a, "--only") ? &o->only
                           : !strcmp(a, "--svg-dir") ? &o->svg_dir
                           : !strcmp(a, "--repeat") ? &o->repeat
                           : !strcmp(a, "--within") ? &o->within : NULL;
        if (dst && v) {
            *dst = argv[++i];
        } else if (!strcmp(a, "-q") || !strcmp(a, "--quiet")) {
            o->quiet = true;
        } else if (!strcmp(a, "--json")) {
            o->json = true;
        } else {
            cli_fail("router %s: unknown or incomplete option '%s' (see baton router --help)",
                     argv[1], a);
            return -1;
        }
    }
    return 0;
}

/* Writes data to path through a temporary file and a rename, so a reader never sees half. */
static int write_file(const char *path, const void *data, size_t len)
{
    struct buf tmp;
    buf_init(&tmp);
    buf_printf(&tmp, "%s.tmp", path);
    FILE *f = fopen(tmp.data, "wb");
    int rc = 0;
    if (!f) {
        rc = cli_fail("cannot write '%s': %s", tmp.data, strerror(errno));
    } else {
        bool ok = fwrite(data, 1, len, f) == len;
        ok = fclose(f) == 0 && ok;
        if (!ok || rename(tmp.data, path) != 0) {
            rc = cli_fail("cannot write '%s': %s", path, strerror(errno));
            remove(tmp.data);
        }
    }
    buf_free(&tmp);
    return rc;
}

/* ---------------------------------------------------------------------------------------------
 * train */

static int cmd_train(const struct opts *o)
{
    if (!o->spec || !o->data || !o->out)
        return cli_fail("router train: --spec FILE, --data DIR and -o OUT are required");
    struct err e;
    struct rtrain_spec *s;
    if (rtrain_spec_load(o->spec, &s, &e))
        return cli_fail("router train: %s", e.msg);
    struct rtrain_opts to = {.data_root = o->data, .holdout = o->holdout,
                             .log = o->quiet ? NULL : stderr};
    struct buf img;
    buf_init(&img);
    double t0 = clock_now_s();
    int rc = rtrain_run(s, &to, &img, &e) ? cli_fail("router train: %s", e.msg) : 0;
    if (rc == 0)
        rc = write_file(o->out, img.data, img.len);
    if (rc == 0)
        printf("%s: %zu bytes, crc32 %08x, trained in %.1f s\n", o->out, img.len,
               (unsigned)rmodel_crc32(0, img.data, img.len), clock_now_s() - t0);
    buf_free(&img);
    rtrain_spec_free(s);
    return rc;
}

/* ---------------------------------------------------------------------------------------------
 * eval */

/* The prompts of d where both models were measured. */
struct pairset {
    size_t n;
    double *w, *s;
    const char **texts;  /* borrowed from the rdata */
    const char **ids;    /* borrowed from the rdata */
};

static void pairset_free(struct pairset *p)
{
    free(p->w);
    free(p->s);
    free(p->texts);
    free(p->ids);
}

static int pairset_build(const struct rdata *d, const char *weak, const char *strong,
                         struct pairset *p)
{
    memset(p, 0, sizeof *p);
    int wc = rdata_model(d, weak), sc = rdata_is_virtual_one(strong) ? -2 : rdata_model(d, strong);
    if (wc < 0 || sc == -1) {
        struct buf b;
        buf_init(&b);
        for (size_t i = 0; i < d->n_models; i++)
            buf_printf(&b, "%s%s", i ? ", " : "", d->models[i]);
        int rc = cli_fail("router: no model '%s' in %s (models: %.300s%s)", wc < 0 ? weak : strong,
                          d->source, b.data, b.len > 300 ? " ..." : "");
        buf_free(&b);
        return rc;
    }
    p->w = xmalloc_array(d->n_prompts + 1, sizeof *p->w);
    p->s = xmalloc_array(d->n_prompts + 1, sizeof *p->s);
    p->texts = xmalloc_array(d->n_prompts + 1, sizeof *p->texts);
    p->ids = xmalloc_array(d->n_prompts + 1, sizeof *p->ids);
    for (size_t i = 0; i < d->n_prompts; i++) {
        float w = rdata_q(d, i, (size_t)wc), s = sc == -2 ? 1.0f : rdata_q(d, i, (size_t)sc);
        if (isnan(w) || isnan(s))
            continue;
        p->w[p->n] = w;
        p->s[p->n] = s;
        p->ids[p->n] = d->ids[i];
        p->texts[p->n++] = d->texts[i];
    }
    if (!p->n)
        return cli_fail("router: no prompt of %s has outcomes for both %s and %s", d->source, weak,
                        strong);
    return 0;
}

enum { S_ROUTER, S_LENGTH, S_ORACLE, S_COUNT };

struct evaluation {
    struct reval_curve c[S_COUNT];
    bool have[S_COUNT];
};

static void evaluation_free(struct evaluation *ev)
{
    for (int i = 0; i < S_COUNT; i++)
        if (ev->have[i])
            reval_curve_free(&ev->c[i]);
}

/* Curves of the router (if m, or given its urgencies ur), the length baseline and the oracle
 * on p. */
static int evaluate(const struct pairset *p, const struct rmodel *m, const double *ur,
                    struct evaluation *ev)
{
    memset(ev, 0, sizeof *ev);
    double *u = xmalloc_array(p->n, sizeof *u);
    struct rfeat *f = xmalloc(sizeof *f);
    struct err e;
    int rc = 0;
    for (int k = 0; k < S_COUNT && rc == 0; k++) {
        if (k == S_ROUTER && !m && !ur)
            continue;
        for (size_t i = 0; i < p->n; i++)
            u[i] = k == S_ROUTER   ? (ur ? ur[i]
                                         : 1.0 - rmodel_score(m, p->texts[i], strlen(p->texts[i]),
                                                              f))
                   : k == S_LENGTH ? (double)strlen(p->texts[i])
                                   : p->s[i] - p->w[i];
        if (reval_curve(u, p->w, p->s, p->n, &ev->c[k], &e))
            rc = cli_fail("router eval: %s", e.msg);
        else
            ev->have[k] = true;
    }
    free(f);
    free(u);
    return rc;
}

static int write_svg(const char *path, const char *title, const char *weak, const char *strong,
                     const struct evaluation *ev, const char *router_label)
{
    struct reval_series s[S_COUNT];
    size_t n = 0;
    if (ev->have[S_ROUTER])
        s[n++] = (struct reval_series){router_label, &ev->c[S_ROUTER], "#1f77b4"};
    s[n++] = (struct reval_series){"length (longer: strong)", &ev->c[S_LENGTH], "#ff7f0e"};
    s[n++] = (struct reval_series){"oracle (outcomes known)", &ev->c[S_ORACLE], "#2ca02c"};
    struct buf b;
    buf_init(&b);
    reval_svg(title, weak, strong, s, n, &b);
    int rc = write_file(path, b.data, b.len);
    buf_free(&b);
    return rc;
}

static int cmd_eval(const struct opts *o)
{
    if (!o->data || !o->weak || !o->strong)
        return cli_fail("router eval: --data DIR, --weak MODEL and --strong MODEL are required");
    struct err e;
    struct rmodel *m = NULL;
    if (o->router && rmodel_open(o->router, &m, &e))
        return cli_fail("router eval: %s", e.msg);
    struct rdata *d = NULL;
    if (rdata_load(o->data, &d, &e) || (o->group && rdata_keep_groups(d, o->group, &e) < 0)) {
        rdata_free(d);
        rmodel_free(m);
        return cli_fail("router eval: %s", e.msg);
    }
    struct pairset p;
    struct evaluation ev;
    int rc = pairset_build(d, o->weak, o->strong, &p);
    if (rc == 0)
        rc = evaluate(&p, m, NULL, &ev);
    if (rc == 0) {
        static const char *const names[S_COUNT] = {"learned", "length", "oracle"};
        const struct reval_curve *c0 = &ev.c[S_LENGTH];
        if (o->json) {
            printf("{\"data\": \"%s\", \"prompts\": %zu, \"q_weak\": %.6f, \"q_strong\": %.6f",
                   o->data, p.n, c0->q_weak, c0->q_strong);
            for (int k = 0; k < S_COUNT; k++)
                if (ev.have[k])
                    printf(", \"%s\": {\"apgr\": %.6f, \"apgr_routellm\": %.6f, \"cpt50\": %.6f, "
                           "\"cpt80\": %.6f}", names[k], ev.c[k].apgr, ev.c[k].apgr_routellm,
                           ev.c[k].cpt50, ev.c[k].cpt80);
            printf(", \"random\": {\"apgr\": 0.5, \"apgr_routellm\": 0.5, \"cpt50\": 0.5, "
                   "\"cpt80\": 0.8}}\n");
        } else {
            printf("data:    %s%s%s: %zu prompts with both models measured\n", o->data,
                   o->group ? " groups " : "", o->group ? o->group : "", p.n);
            printf("weak:    %s, mean quality %.4f\nstrong:  %s, mean quality %.4f\n\n", o->weak,
                   c0->q_weak, o->strong, c0->q_strong);
            printf("%-10s %7s %15s %9s %9s\n", "router", "APGR", "APGR(RouteLLM)", "CPT(50%)",
                   "CPT(80%)");
            for (int k = 0; k < S_COUNT; k++)
                if (ev.have[k])
                    printf("%-10s %7.3f %15.3f %8.1f%% %8.1f%%\n", names[k], ev.c[k].apgr,
                           ev.c[k].apgr_routellm, 100 * ev.c[k].cpt50, 100 * ev.c[k].cpt80);
            printf("%-10s %7.3f %15.3f %8.1f%% %8.1f%%\n", "random", 0.5, 0.5, 50.0, 80.0);
        }
        if (o->svg) {
            char title[512];
            snprintf(title, sizeof title, "%s", o->title ? o->title : o->data);
            rc = write_svg(o->svg, title, o->weak, o->strong, &ev,
                           o->router ? "learned router" : "learned router");
            if (rc == 0 && !o->json)
                printf("\nsvg:     %s\n", o->svg);
        }
        evaluation_free(&ev);
    }
    pairset_free(&p);
    rdata_free(d);
    rmodel_free(m);
    return rc;
}

/* ---------------------------------------------------------------------------------------------
 * score */

/* The text to score on one input line: {"prompt": "..."} or an OpenAI chat/completions body. */
static int line_score(const struct rmodel *m, const char *line, size_t len, long lineno,
                      const char *file, struct rfeat *f, float *out)
{
    json_error_t je;
    json_t *j = json_loadb(line, len, 0, &je);
    if (!j || !json_is_object(j)) {
        json_decref(j);
        return cli_fail("router score: %s:%ld: not a JSON object%s%s", file, lineno,
                        j ? "" : ": ", j ? "" : je.text);
    }
    int rc = 0;
    const json_t *prompt = json_object_get(j, "prompt");
    if (!json_object_get(j, "messages") && json_is_string(prompt)) {
        *out = rmodel_score(m, json_string_value(prompt), json_string_length(prompt), f);
    } else if (json_object_get(j, "messages")) {
        if (!json_object_get(j, "model"))
            json_object_set_new(j, "model", json_string("router-score"));
        char *body = json_dumps(j, JSON_COMPACT);
        struct request *req = NULL;
        struct api_error ae;
        if (!body || openai_parse(DIALECT_OPENAI_CHAT, body, strlen(body), &req, &ae)) {
            rc = cli_fail("router score: %s:%ld: %s", file, lineno,
                          body ? ae.message : "cannot re-encode the body");
        } else {
            size_t tl;
            const char *t = route_learned_text(req, &tl);
            *out = rmodel_score(m, t, tl, f);
        }
        request_free(req);
        free(body);
    } else {
        rc = cli_fail("router score: %s:%ld: expected {\"prompt\": TEXT} or an OpenAI body with "
                      "\"messages\"", file, lineno);
    }
    json_decref(j);
    return rc;
}

static int cmd_score(const struct opts *o)
{
    if (!o->router || !o->file)
        return cli_fail("router score: --router FILE and -f PROMPTS.jsonl are required");
    struct err e;
    struct rmodel *m;
    if (rmodel_open(o->router, &m, &e))
        return cli_fail("router score: %s", e.msg);
    struct buf in;
    buf_init(&in);
    int rc = 0;
    if (!strcmp(o->file, "-")) {
        char chunk[65536];
        size_t n;
        while ((n = fread(chunk, 1, sizeof chunk, stdin)) > 0 && in.len <= PROMPTS_MAX_BYTES)
            buf_append(&in, chunk, n);
        if (ferror(stdin) || in.len > PROMPTS_MAX_BYTES)
            rc = cli_fail("router score: cannot read stdin (or more than %zu bytes)",
                          PROMPTS_MAX_BYTES);
    } else if (file_read(o->file, PROMPTS_MAX_BYTES, &in, &e)) {
        rc = cli_fail("router score: %s", e.msg);
    }
    struct rfeat *f = xmalloc(sizeof *f);
    struct buf outb;
    buf_init(&outb);
    const char *p = in.data ? in.data : "", *end = p + in.len;
    for (long lineno = 1; rc == 0 && p < end; lineno++) {
        const char *nl = memchr(p, '\n', (size_t)(end - p));
        const char *le = nl ? nl : end;
        size_t len = (size_t)(le - p);
        if (len && p[len - 1] == '\r')
            len--;
        float score = 0;
        if (len == 0)
            rc = cli_fail("router score: %s:%ld: empty line (one request per line)", o->file,
                          lineno);
        else if ((rc = line_score(m, p, len, lineno, o->file, f, &score)) == 0)
            buf_printf(&outb, "%.6f\n", (double)score);
        p = le + 1;
    }
    if (rc == 0 && outb.len)
        rc = fwrite(outb.data, 1, outb.len, stdout) == outb.len ? 0
             : cli_fail("router score: error writing the output");
    buf_free(&outb);
    free(f);
    buf_free(&in);
    rmodel_free(m);
    return rc;
}

/* ---------------------------------------------------------------------------------------------
 * lobo */

/* Trains without ds (leave-one-benchmark-out), or with --within K once per fold of ds (each
 * fold scored by the model trained without it), and prints ds's table row. */
static int lobo_one(const struct rtrain_spec *s, const struct rtrain_dataset *ds, int within,
                    const struct opts *o)
{
    struct err e;
    struct rdata *d = NULL;
    int rc = 0;
    if (!o->quiet)
        fprintf(stderr, "lobo: holding out %s%s\n", ds->name, within ? " fold by fold" : "");
    char *path = rtrain_dataset_path(o->data, ds);
    if (rdata_load(path, &d, &e) || (ds->groups && rdata_keep_groups(d, ds->groups, &e) < 0))
        rc = cli_fail("router lobo: %s: %s", ds->name, e.msg);
    free(path);
    struct pairset p = {0};
    if (rc == 0)
        rc = pairset_build(d, ds->eval_weak, ds->eval_strong, &p);
    double *ur = rc == 0 ? xmalloc_array(p.n ? p.n : 1, sizeof *ur) : NULL;
    struct rfeat *f = xmalloc(sizeof *f);
    struct rtrain_spec quick = *s; /* APGR does not depend on the threshold: no calibration */
    quick.calib_folds = 0;
    for (int k = 0; rc == 0 && k < (within ? within : 1); k++) {
        struct rtrain_opts to = {.data_root = o->data, .holdout = ds->name, .test_folds = within,
                                 .test_fold = k, .log = o->quiet ? NULL : stderr};
        struct buf img;
        buf_init(&img);
        struct rmodel *m = NULL;
        if (rtrain_run(&quick, &to, &img, &e) || rmodel_parse(img.data, img.len, ds->name, &m, &e))
            rc = cli_fail("router lobo: %s: %s", ds->name, e.msg);
        for (size_t i = 0; rc == 0 && i < p.n; i++)
            if (!within || rtrain_fold(ds->name, p.ids[i]) % (unsigned)within == (unsigned)k)
                ur[i] = 1.0 - rmodel_score(m, p.texts[i], strlen(p.texts[i]), f);
        rmodel_free(m);
        buf_free(&img);
    }
    free(f);
    struct evaluation ev;
    if (rc == 0)
        rc = evaluate(&p, NULL, ur, &ev);
    if (rc == 0) {
        const struct reval_curve *r = &ev.c[S_ROUTER], *l = &ev.c[S_LENGTH],
                                 *x = &ev.c[S_ORACLE];
        printf("| %s | %zu | %s / %s | %.3f / %.3f | **%.3f** (%.3f) | %.0f%% | %.0f%% | %.3f | "
               "%.0f%% | %.0f%% | 0.500 | %.3f |\n",
               ds->name, p.n, ds->eval_weak, ds->eval_strong, r->q_weak, r->q_strong, r->apgr,
               r->apgr_routellm, 100 * r->cpt50, 100 * r->cpt80, l->apgr, 100 * l->cpt50,
               100 * l->cpt80, x->apgr);
        fflush(stdout);
        if (o->svg_dir) {
            char svg[4096], title[512];
            snprintf(svg, sizeof svg, "%s/%s.svg", o->svg_dir, ds->name);
            snprintf(title, sizeof title, within ? "%s, %d-fold within the benchmark"
                                                 : "%s held out (trained on the rest)",
                     ds->name, within);
            rc = write_svg(svg, title, ds->eval_weak, ds->eval_strong, &ev, "learned router");
        }
        evaluation_free(&ev);
    }
    free(ur);
    pairset_free(&p);
    rdata_free(d);
    return rc;
}

static int cmd_lobo(const struct opts *o)
{
    if (!o->spec || !o->data)
        return cli_fail("router lobo: --spec FILE and --data DIR are required");
    struct err e;
    struct rtrain_spec *s;
    if (rtrain_spec_load(o->spec, &s, &e))
        return cli_fail("router lobo: %s", e.msg);
    int within = 0;
    if (o->within) {
        char *end;
        errno = 0;
        long k = strtol(o->within, &end, 10);
        if (end == o->within || *end || errno || k < 2 || k > 20) {
            rtrain_spec_free(s);
            return cli_fail("router lobo: --within '%s' is not a fold count in 2..20", o->within);
        }
        within = (int)k;
    }
    if (o->svg_dir)
        mkdir(o->svg_dir, 0777);
    printf("| %s | prompts | weak / strong | quality weak / strong | learned APGR "
           "(RouteLLM's estimate) | CPT(50%%) | CPT(80%%) | length APGR | CPT(50%%) | "
           "CPT(80%%) | random APGR | oracle APGR |\n"
           "|---|---|---|---|---|---|---|---|---|---|---|---|\n",
           within ? "tested (k-fold within)" : "held out");
    int rc = 0;
    size_t done = 0;
    for (size_t i = 0; i < s->n_datasets && rc == 0; i++) {
        const struct rtrain_dataset *ds = &s->datasets[i];
        if (!ds->eval_weak || (o->only && !rdata_csv_has(o->only, ds->name)))
            continue;
        rc = lobo_one(s, ds, within, o);
        done++;
    }
    if (rc == 0 && !done)
        rc = cli_fail("router lobo: no data set of %s has an eval pair%s", o->spec,
                      o->only ? " among --only" : "");
    rtrain_spec_free(s);
    return rc;
}

/* ---------------------------------------------------------------------------------------------
 * bench */

static int by_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static int cmd_rbench(const struct opts *o)
{
    if (!o->data)
        return cli_fail("router bench: --data DIR is required (prompts to time)");
    long repeat = 5;
    if (o->repeat) {
        char *end;
        errno = 0;
        repeat = strtol(o->repeat, &end, 10);
        if (end == o->repeat || *end || errno || repeat < 1 || repeat > 1000)
            return cli_fail("router bench: --repeat '%s' is not an integer in 1..1000",
                            o->repeat);
    }
    struct err e;
    struct rmodel *m = NULL;
    struct rdata *d = NULL;
    const char *router = o->router ? o->router : RMODEL_BUILTIN;
    if (rmodel_open(router, &m, &e))
        return cli_fail("router bench: %s", e.msg);
    if (rdata_load(o->data, &d, &e) || (o->group && rdata_keep_groups(d, o->group, &e) < 0)) {
        rdata_free(d);
        rmodel_free(m);
        return cli_fail("router bench: %s", e.msg);
    }
    size_t n = d->n_prompts, bytes = 0;
    double *us = xmalloc_array(n ? n : 1, sizeof *us);
    size_t *len = xmalloc_array(n ? n : 1, sizeof *len);
    struct rfeat *f = xmalloc(sizeof *f);
    volatile float sink = 0;
    for (size_t i = 0; i < n; i++) {
        len[i] = strlen(d->texts[i]);
        bytes += len[i];
        us[i] = 1e300;
        sink += rmodel_score(m, d->texts[i], len[i], f); /* warm the caches once */
    }
    /* each prompt's time is its best of --repeat passes: the decision's own cost, with the
     * other tenants of a shared machine filtered out as far as one can */
    for (long r = 0; r < repeat; r++)
        for (size_t i = 0; i < n; i++) {
            uint64_t t0 = clock_now_ns();
            sink += rmodel_score(m, d->texts[i], len[i], f);
            double t = (double)(clock_now_ns() - t0) / 1e3;
            us[i] = t < us[i] ? t : us[i];
        }
    (void)sink;
    double mean = 0;
    for (size_t i = 0; i < n; i++)
        mean += us[i];
    mean = n ? mean / (double)n : 0;
    qsort(us, n, sizeof *us, by_double);
#define PCT(p) (n ? us[(size_t)((double)(n - 1) * (p) + 0.5)] : 0.0)
    if (o->json)
        printf("{\"data\": \"%s\", \"prompts\": %zu, \"mean_bytes\": %.0f, \"repeat\": %ld, "
               "\"mean_us\": %.3f, \"p50_us\": %.3f, \"p90_us\": %.3f, \"p99_us\": %.3f, "
               "\"max_us\": %.3f}\n", o->data, n, n ? (double)bytes / (double)n : 0.0, repeat,
               mean, PCT(0.5), PCT(0.9), PCT(0.99), PCT(1.0));
    else
        printf("router:  %s\ndata:    %s: %zu prompts, mean %.0f bytes\n"
               "one decision (features + score), one core, best of %ld passes per prompt:\n"
               "  mean %.2f us   p50 %.2f us   p90 %.2f us   p99 %.2f us   max %.2f us\n",
               router, o->data, n, n ? (double)bytes / (double)n : 0.0, repeat, mean, PCT(0.5),
               PCT(0.9), PCT(0.99), PCT(1.0));
#undef PCT
    free(f);
    free(len);
    free(us);
    rdata_free(d);
    rmodel_free(m);
    return 0;
}

int cmd_router(int argc, char **argv)
{
    if (argc < 2) {
        usage(stderr);
        return 2;
    }
    const char *sub = argv[1];
    if (!strcmp(sub, "-h") || !strcmp(sub, "--help")) {
        usage(stdout);
        return 0;
    }
    for (int i = 2; i < argc; i++)
        if (!strcmp(argv[i], "-h") || !strcmp(argv[i], "--help")) {
            usage(stdout);
            return 0;
        }
    struct opts o;
    if (strcmp(sub, "train") && strcmp(sub, "eval") && strcmp(sub, "score") &&
        strcmp(sub, "lobo") && strcmp(sub, "bench"))
        return cli_fail("router: unknown subcommand '%s' (train, eval, score, lobo, bench)", sub);
    if (parse_opts(argc, argv, &o))
        return 1;
    int rc = !strcmp(sub, "train") ? cmd_train(&o)
             : !strcmp(sub, "eval") ? cmd_eval(&o)
             : !strcmp(sub, "score") ? cmd_score(&o)
             : !strcmp(sub, "lobo") ? cmd_lobo(&o)
                                    : cmd_rbench(&o);
    if (rc == 0 && fflush(stdout) != 0)
        return cli_fail("router: error writing the output");
    return rc;
}
