/* metrics: a small Prometheus registry (metrics.h has the families).
 *
 * Each family keeps its series in an array, one per combination of label values, created on
 * first use and found by linear search. Histograms keep per-bucket counts (not cumulative) and
 * cumulate when rendering; an observation above the last bound counts only in +Inf.
 *
 * Exposition format (Prometheus text 0.0.4): per family a `# HELP` and a `# TYPE` line, then
 * its samples `name{label="value",...} number`. Label values escape \ " and newline; HELP text
 * escapes \ and newline. Histogram series expose name_bucket{...,le="B"} for every bound B in
 * increasing order and le="+Inf", then name_sum and name_count. Floats are printed in the
 * shortest form that reads back to the same double.
 */
#include "gateway/metrics.h"

#include "base/alloc.h"

#include <math.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_LABELS 3

/* Seconds. LLM requests run from milliseconds (a refused request) to minutes (a long stream). */
static const double g_duration_buckets[] = {0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1,
                                            2.5,   5,    10,    30,   60,  120,  300};
static const double g_ttft_buckets[] = {0.005, 0.01, 0.025, 0.05, 0.1, 0.25,
                                        0.5,   1,    2.5,   5,    10,  30};

enum family_id {
    F_REQUESTS, F_TOKENS, F_ERRORS, F_COST, F_DURATION, F_TTFT, F_INFLIGHT, F_COUNT
};

struct family_desc {
    const char *name, *type, *help;
    const char *labels[MAX_LABELS];
    const double *buckets; /* histograms */
    size_t n_buckets;
};

static const struct family_desc g_families[F_COUNT] = {
    [F_REQUESTS] = {"baton_requests_total", "counter",
                    "Requests finished, by route, tier and the HTTP status the client got.",
                    {"route", "tier", "status"}, NULL, 0},
    [F_TOKENS] = {"baton_tokens_total", "counter",
                  "Tokens processed: direction in (prompt) or out (completion).",
                  {"route", "tier", "direction"}, NULL, 0},
    [F_ERRORS] = {"baton_errors_total", "counter", "Failed requests, by kind of failure.",
                  {"route", "tier", "kind"}, NULL, 0},
    [F_COST] = {"baton_cost_microusd_total", "counter",
                "Cost of the requests in micro-dollars (1e-6 USD), at the tier's configured prices.",
                {"route", "tier", NULL}, NULL, 0},
    [F_DURATION] = {"baton_request_duration_seconds", "histogram",
                    "Time from a request's arrival to its last byte.", {"route", "tier", NULL},
                    g_duration_buckets, sizeof g_duration_buckets / sizeof *g_duration_buckets},
    [F_TTFT] = {"baton_time_to_first_token_seconds", "histogram",
                "Time from a request's arrival to its first generated token.",
                {"route", "tier", NULL}, g_ttft_buckets,
                sizeof g_ttft_buckets / sizeof *g_ttft_buckets},
    [F_INFLIGHT] = {"baton_inflight_requests", "gauge", "Requests being served, by tier.",
                    {"tier", NULL, NULL}, NULL, 0},
};

struct series {
    char *lv[MAX_LABELS]; /* label values (owned), as many as the family has labels */
    int64_t value;        /* counter or gauge */
    uint64_t *buckets;    /* histogram: n_buckets + 1 counts, the last for +Inf only */
    double sum;
    uint64_t count;
};

struct family {
    const struct family_desc *d;
    size_t n_labels;
    struct series *s;
    size_t n, cap;
};

struct metrics {
    struct family f[F_COUNT];
};

struct metrics *metrics_new(void)
{
    struct metrics *m = xcalloc(1, sizeof *m);
    for (int i = 0; i < F_COUNT; i++) {
        m->f[i].d = &g_families[i];
        while (m->f[i].n_labels < MAX_LABELS && g_families[i].labels[m->f[i].n_labels])
            m->f[i].n_labels++;
    }
    return m;
}

void metrics_free(struct metrics *m)
{
    if (!m)
        return;
    for (int i = 0; i < F_COUNT; i++) {
        for (size_t j = 0; j < m->f[i].n; j++) {
            for (size_t k = 0; k < MAX_LABELS; k++)
                free(m->f[i].s[j].lv[k]);
            free(m->f[i].s[j].buckets);
        }
        free(m->f[i].s);
    }
    free(m);
}

/* The series of f with label values lv (NULL reads as ""), created if new. */
static struct series *series_for(struct family *f, const char *const *lv)
{
    for (size_t i = 0; i < f->n; i++) {
        bool same = true;
        for (size_t k = 0; k < f->n_labels && same; k++)
            same = strcmp(f->s[i].lv[k], lv[k] ? lv[k] : "") == 0;
        if (same)
            return &f->s[i];
    }
    if (f->n == f->cap) {
        f->cap = f->cap ? 2 * f->cap : 8;
        f->s = xrealloc_array(f->s, f->cap, sizeof *f->s);
    }
    struct series *s = &f->s[f->n++];
    memset(s, 0, sizeof *s);
    for (size_t k = 0; k < f->n_labels; k++)
        s->lv[k] = xstrdup(lv[k] ? lv[k] : "");
    if (f->d->buckets)
        s->buckets = xcalloc(f->d->n_buckets + 1, sizeof *s->buckets);
    return s;
}

static void observe(struct family *f, const char *route, const char *tier, double v)
{
    const char *lv[MAX_LABELS] = {route, tier, NULL};
    struct series *s = series_for(f, lv);
    if (!(v >= 0)) /* negative or NaN: a clock went backwards; count it as 0 */
        v = 0;
    size_t i = 0;
    while (i < f->d->n_buckets && v > f->d->buckets[i])
        i++;
    s->buckets[i]++;
    s->sum += v;
    s->count++;
}

void metrics_record(struct metrics *m, const struct metrics_request *r)
{
    char status[16];
    snprintf(status, sizeof status, "%d", r->status);
    const char *req[MAX_LABELS] = {r->route, r->tier, status};
    series_for(&m->f[F_REQUESTS], req)->value++;
    const char *in[MAX_LABELS] = {r->route, r->tier, "in"}, *out[MAX_LABELS] = {r->route, r->tier,
                                                                                  "out"};
    series_for(&m->f[F_TOKENS], in)->value += r->tokens_in > 0 ? r->tokens_in : 0;
    series_for(&m->f[F_TOKENS], out)->value += r->tokens_out > 0 ? r->tokens_out : 0;
    if (r->error_kind) {
        const char *err[MAX_LABELS] = {r->route, r->tier, r->error_kind};
        series_for(&m->f[F_ERRORS], err)->value++;
    }
    const char *rt[MAX_LABELS] = {r->route, r->tier, NULL};
    series_for(&m->f[F_COST], rt)->value += r->cost_microusd > 0 ? r->cost_microusd : 0;
    observe(&m->f[F_DURATION], r->route, r->tier, r->duration_s);
    if (r->ttft_s >= 0)
        observe(&m->f[F_TTFT], r->route, r->tier, r->ttft_s);
    else
        series_for(&m->f[F_TTFT], rt); /* the series exists, with no observation */
}

void metrics_inflight_add(struct metrics *m, const char *tier, int delta)
{
    const char *lv[MAX_LABELS] = {tier, NULL, NULL};
    series_for(&m->f[F_INFLIGHT], lv)->value += delta;
}

/* ---------------------------------------------------------------------------------------------
 * Rendering */

/* The shortest of %.15g / %.17g that reads back as v; b: 32 bytes. */
static const char *fmt_double(char *b, double v)
{
    if (isinf(v))
        return v > 0 ? "+Inf" : "-Inf";
    if (isnan(v))
        return "NaN";
    snprintf(b, 32, "%.15g", v);
    if (strtod(b, NULL) != v)
        snprintf(b, 32, "%.17g", v);
    return b;
}

static void put_escaped(struct buf *out, const char *s, bool quote)
{
    for (; *s; s++) {
        if (*s == '\\')
            buf_puts(out, "\\\\");
        else if (*s == '\n')
            buf_puts(out, "\\n");
        else if (*s == '"' && quote)
            buf_puts(out, "\\\"");
        else
            buf_putc(out, *s);
    }
}

/* name{l1="v1",...[,le="B"]} */
static void put_series_name(struct buf *out, const struct family *f, const struct series *s,
                            const char *suffix, const char *le)
{
    buf_puts(out, f->d->name);
    buf_puts(out, suffix);
    if (!f->n_labels && !le)
        return;
    buf_putc(out, '{');
    for (size_t k = 0; k < f->n_labels; k++) {
        buf_printf(out, "%s%s=\"", k ? "," : "", f->d->labels[k]);
        put_escaped(out, s->lv[k], true);
        buf_putc(out, '"');
    }
    if (le)
        buf_printf(out, "%sle=\"%s\"", f->n_labels ? "," : "", le);
    buf_putc(out, '}');
}

void metrics_render(const struct metrics *m, struct buf *out)
{
    for (int i = 0; i < F_COUNT; i++) {
        const struct family *f = &m->f[i];
        buf_printf(out, "# HELP %s ", f->d->name);
        put_escaped(out, f->d->help, false);
        buf_printf(out, "\n# TYPE %s %s\n", f->d->name, f->d->type);
        for (size_t j = 0; j < f->n; j++) {
            const struct series *s = &f->s[j];
            if (!f->d->buckets) {
                put_series_name(out, f, s, "", NULL);
                buf_printf(out, " %lld\n", (long long)s->value);
                continue;
            }
            uint64_t cum = 0;
            char num[32];
            for (size_t b = 0; b <= f->d->n_buckets; b++) {
                cum += s->buckets[b];
                put_series_name(out, f, s, "_bucket",
                                fmt_double(num, b < f->d->n_buckets ? f->d->buckets[b] : INFINITY));
                buf_printf(out, " %llu\n", (unsigned long long)cum);
            }
            put_series_name(out, f, s, "_sum", NULL);
            buf_printf(out, " %s\n", fmt_double(num, s->sum));
            put_series_name(out, f, s, "_count", NULL);
            buf_printf(out, " %llu\n", (unsigned long long)s->count);
        }
    }
}
