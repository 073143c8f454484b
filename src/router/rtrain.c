/* rtrain: spec parsing, data assembly, L-BFGS fit, calibration (rtrain.h has the contract).
 *
 * Pipeline: load every data set of the spec (rdata) -> drop what a hold-out excludes ->
 * one example per prompt (its rfeat features, soft label, weight) -> standardize the dense
 * features (weighted mean and standard deviation) -> minimize weighted soft-label cross-entropy
 * + L2 by L-BFGS over all weights at once -> score the calibration mix out of fold (each fold
 * scored by a model fitted without it) -> store the score quantiles -> write the file.
 *
 * Determinism: no threads, no randomness (folds come from a hash of data set name and prompt
 * id), sums in a fixed order, doubles for the fit. Same spec + same data = same bytes.
 */
#include "router/rtrain.h"

#include "base/alloc.h"
#include "base/file.h"
#include "base/utf8.h"
#include "router/rdata.h"
#include "router/rfeat.h"
#include "router/rmodel.h"

#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define SPEC_MAX_BYTES (1u << 20)
#define LBFGS_M 8
#define SHINGLE_WORDS 8

/* ---------------------------------------------------------------------------------------------
 * The spec */

static void free_list(char **v, size_t n)
{
    for (size_t i = 0; i < n; i++)
        free(v[i]);
    free(v);
}

void rtrain_spec_free(struct rtrain_spec *s)
{
    if (!s)
        return;
    for (size_t i = 0; i < s->n_datasets; i++) {
        struct rtrain_dataset *d = &s->datasets[i];
        free(d->name);
        free(d->path);
        free(d->family);
        free(d->groups);
        free(d->also);
        free(d->group_family);
        free_list(d->weak, d->n_weak);
        free_list(d->strong, d->n_strong);
        free(d->eval_weak);
        free(d->eval_strong);
    }
    free(s->datasets);
    free(s->path);
    free(s->text);
    free(s);
}

static char **split_list(const char *v, size_t *n)
{
    char **out = NULL;
    *n = 0;
    for (const char *p = v; *p;) {
        const char *c = strchr(p, ',');
        size_t len = c ? (size_t)(c - p) : strlen(p);
        if (len) {
            out = xrealloc_array(out, *n + 1, sizeof *out);
            out[(*n)++] = xstrndup(p, len);
        }
        p += len + (c != NULL);
    }
    return out;
}

static int parse_num(const char *v, double lo, double hi, double *out)
{
    char *end;
    errno = 0;
    double x = strtod(v, &end);
    if (end == v || *end || errno || !(x >= lo && x <= hi))
        return -1;
    *out = x;
    return 0;
}

static int parse_dataset(struct rtrain_spec *s, char **tok, size_t n_tok, int line,
                         const char *name, struct err *e)
{
    if (n_tok < 3)
        return err_set(e, "%s:%d: expected: dataset NAME PATH key=value ...", name, line);
    for (size_t i = 0; i < s->n_datasets; i++)
        if (!strcmp(s->datasets[i].name, tok[1]))
            return err_set(e, "%s:%d: data set '%s' is named twice", name, line, tok[1]);
    s->datasets = xrealloc_array(s->datasets, s->n_datasets + 1, sizeof *s->datasets);
    struct rtrain_dataset *d = &s->datasets[s->n_datasets++];
    memset(d, 0, sizeof *d);
    d->name = xstrdup(tok[1]);
    d->path = xstrdup(tok[2]);
    d->weight = 1;
    d->calib = -1;
    d->line = line;
    for (size_t i = 3; i < n_tok; i++) {
        char *eq = strchr(tok[i], '=');
        if (!eq || eq == tok[i] || !eq[1])
            return err_set(e, "%s:%d: '%s' is not key=value", name, line, tok[i]);
        *eq = 0;
        const char *k = tok[i], *v = eq + 1;
        double x;
        char **str = !strcmp(k, "family") ? &d->family : !strcmp(k, "groups") ? &d->groups
                     : !strcmp(k, "also") ? &d->also : !strcmp(k, "group_family") ? &d->group_family
                     : !strcmp(k, "eval_weak") ? &d->eval_weak
                     : !strcmp(k, "eval_strong") ? &d->eval_strong : NULL;
        if (str) {
            if (*str)
                return err_set(e, "%s:%d: %s given twice", name, line, k);
            *str = xstrdup(v);
        } else if (!strcmp(k, "weak") || !strcmp(k, "strong")) {
            bool weak = k[0] == 'w';
            if (weak ? d->n_weak : d->n_strong)
                return err_set(e, "%s:%d: %s given twice", name, line, k);
            if (weak)
                d->weak = split_list(v, &d->n_weak);
            else
                d->strong = split_list(v, &d->n_strong);
        } else if (!strcmp(k, "weight") || !strcmp(k, "calib")) {
            if (parse_num(v, 0, 1e6, &x))
                return err_set(e, "%s:%d: %s '%s' is not a number in 0..1e6", name, line, k, v);
            *(k[0] == 'w' ? &d->weight : &d->calib) = x;
        } else if (!strcmp(k, "max_prompts")) {
            if (parse_num(v, 1, 1e9, &x) || x != floor(x))
                return err_set(e, "%s:%d: max_prompts '%s' is not a positive integer", name,
                               line, v);
            d->max_prompts = (long)x;
        } else if (!strcmp(k, "eval_only")) {
            if (strcmp(v, "0") && strcmp(v, "1"))
                return err_set(e, "%s:%d: eval_only is 0 or 1", name, line);
            d->eval_only = v[0] == '1';
        } else {
            return err_set(e, "%s:%d: unknown key '%s' (family, groups, weak, strong, weight, "
                              "calib, max_prompts, eval_weak, eval_strong, also, group_family, "
                              "eval_only)", name, line, k);
        }
    }
    if (!d->family)
        d->family = xstrdup(d->name);
    if (d->calib < 0)
        d->calib = d->weight;
    if (!d->eval_only && (!d->n_weak || !d->n_strong))
        return err_set(e, "%s:%d: data set %s needs weak= and strong= models (or eval_only=1)",
                       name, line, d->name);
    if ((d->eval_weak == NULL) != (d->eval_strong == NULL))
        return err_set(e, "%s:%d: give both eval_weak= and eval_strong=, or neither", name, line);
    return 0;
}

int rtrain_spec_parse(const char *text, const char *name, struct rtrain_spec **out,
                      struct err *e)
{
    struct rtrain_spec *s = xcalloc(1, sizeof *s);
    s->path = xstrdup(name);
    s->text = xstrdup(text);
    char *w = s->text; /* CRLF files: the stored copy drops the CRs */
    for (const char *r = text; *r; r++)
        if (*r != '\r')
            *w++ = *r;
    *w = 0;
    s->hash_bits = 16;
    s->l2 = 1e-4;
    s->l2_hashed = -1; /* unset: l2 */
    s->size_power = 0.5;
    s->iterations = 150;
    s->calib_folds = 5;
    s->n_quantiles = 1001;
    /* a backslash ending a line continues it: join, keeping the first line's number */
    char *copy = xstrdup(s->text);
    int line = 0, next_line = 1, rc = 0;
    for (char *save = NULL, *ln = copy; ln && rc == 0; ln = save) {
        line = next_line;
        char *nl = strchr(ln, '\n');
        while (nl && nl > ln && nl[-1] == '\\') {
            nl[-1] = nl[0] = ' ';
            next_line++;
            nl = strchr(nl, '\n');
        }
        save = nl ? nl + 1 : NULL;
        if (nl)
            *nl = 0;
        next_line++;
        char *hash = strchr(ln, '#');
        if (hash)
            *hash = 0;
        char *tok[64];
        size_t n = 0;
        for (char *p = ln; *p && n < 64;) {
            while (*p && isspace((unsigned char)*p))
                p++;
            if (!*p)
                break;
            tok[n++] = p;
            while (*p && !isspace((unsigned char)*p))
                p++;
            if (*p)
                *p++ = 0;
        }
        if (n == 0)
            continue;
        double x = 0.0;
        const char *k = tok[0];
        if (!strcmp(k, "dataset")) {
            rc = parse_dataset(s, tok, n, line, name, e);
            continue;
        }
        if (n != 2) {
            rc = err_set(e, "%s:%d: expected: %s VALUE", name, line, k);
            continue;
        }
        if (!strcmp(k, "hash_bits")) {
            if (parse_num(tok[1], RFEAT_MIN_HASH_BITS, RFEAT_MAX_HASH_BITS, &x) || x != floor(x))
                rc = err_set(e, "%s:%d: hash_bits is an integer in %d..%d", name, line,
                             RFEAT_MIN_HASH_BITS, RFEAT_MAX_HASH_BITS);
            s->hash_bits = (unsigned)x;
        } else if (!strcmp(k, "l2")) {
            if (parse_num(tok[1], 0, 100, &s->l2))
                rc = err_set(e, "%s:%d: l2 is a number in 0..100", name, line);
        } else if (!strcmp(k, "l2_hashed")) {
            if (parse_num(tok[1], 0, 100, &s->l2_hashed))
                rc = err_set(e, "%s:%d: l2_hashed is a number in 0..100", name, line);
        } else if (!strcmp(k, "label_rank")) {
            if (strcmp(tok[1], "0") && strcmp(tok[1], "1"))
                rc = err_set(e, "%s:%d: label_rank is 0 or 1", name, line);
            s->label_rank = tok[1][0] == '1';
        } else if (!strcmp(k, "dataset_bias")) {
            if (strcmp(tok[1], "0") && strcmp(tok[1], "1"))
                rc = err_set(e, "%s:%d: dataset_bias is 0 or 1", name, line);
            s->dataset_bias = tok[1][0] == '1';
        } else if (!strcmp(k, "size_power")) {
            if (parse_num(tok[1], 0, 1, &s->size_power))
                rc = err_set(e, "%s:%d: size_power is a number in 0..1", name, line);
        } else if (!strcmp(k, "iterations") || !strcmp(k, "calib_folds") ||
                   !strcmp(k, "quantiles")) {
            bool it = k[0] == 'i', q = k[0] == 'q';
            double lo = q ? RMODEL_MIN_QUANTILES : it ? 1 : 0, hi = q ? RMODEL_MAX_QUANTILES
                                                                      : it ? 100000 : 20;
            if (parse_num(tok[1], lo, hi, &x) || x != floor(x) || (!it && !q && x == 1))
                rc = err_set(e, "%s:%d: %s is an integer in %g..%g%s", name, line, k, lo, hi,
                             !it && !q ? " other than 1" : "");
            *(it ? &s->iterations : q ? &s->n_quantiles : &s->calib_folds) = (int)x;
        } else {
            rc = err_set(e, "%s:%d: unknown directive '%s' (hash_bits, l2, l2_hashed, "
                            "dataset_bias, label_rank, iterations, size_power, calib_folds, quantiles, "
                            "dataset)", name, line, k);
        }
    }
    free(copy);
    if (s->l2_hashed < 0)
        s->l2_hashed = s->l2;
    if (rc == 0 && s->n_datasets == 0)
        rc = err_set(e, "%s: no dataset lines", name);
    if (rc) {
        rtrain_spec_free(s);
        return -1;
    }
    *out = s;
    return 0;
}

int rtrain_spec_load(const char *path, struct rtrain_spec **out, struct err *e)
{
    struct buf b;
    buf_init(&b);
    int rc = file_read(path, SPEC_MAX_BYTES, &b, e);
    if (rc == 0 && (b.len != strlen(b.data ? b.data : "") || !utf8_valid(b.data, b.len)))
        rc = err_set(e, "%s: not UTF-8 text: not a training spec", path);
    if (rc == 0)
        rc = rtrain_spec_parse(b.data ? b.data : "", path, out, e);
    buf_free(&b);
    return rc;
}

const struct rtrain_dataset *rtrain_spec_find(const struct rtrain_spec *s, const char *name)
{
    for (size_t i = 0; i < s->n_datasets; i++)
        if (!strcmp(s->datasets[i].name, name))
            return &s->datasets[i];
    return NULL;
}

char *rtrain_dataset_path(const char *root, const struct rtrain_dataset *d)
{
    struct buf b;
    buf_init(&b);
    if (root && *root && d->path[0] != '/')
        buf_printf(&b, "%s/%s", root, d->path);
    else
        buf_puts(&b, d->path);
    return buf_detach(&b);
}

/* ---------------------------------------------------------------------------------------------
 * Hold-out: families and decontamination */

/* The family group g of data set d belongs to (its group_family= entry, else d's family). */
static const char *group_family(const struct rtrain_dataset *d, const char *g, char *buf,
                                size_t n)
{
    for (const char *p = d->group_family; p && *p;) {
        const char *c = strchr(p, ',');
        size_t len = c ? (size_t)(c - p) : strlen(p);
        const char *colon = memchr(p, ':', len);
        if (colon && (size_t)(colon - p) == strlen(g) && !strncmp(p, g, strlen(g))) {
            snprintf(buf, n, "%.*s", (int)(len - (size_t)(colon - p) - 1), colon + 1);
            return buf;
        }
        p += len + (c != NULL);
    }
    return d->family;
}

static bool family_held_out(const struct rtrain_dataset *h, const char *family)
{
    return h && (!strcmp(h->family, family) || rdata_csv_has(h->also, family));
}

struct u64set {
    uint64_t *v;   /* 0 = empty (a zero hash is stored as 1) */
    size_t cap, n;
};

static void set_put(struct u64set *s, uint64_t x)
{
    x = x ? x : 1;
    if (2 * (s->n + 1) > s->cap) {
        struct u64set g = {xcalloc(s->cap ? s->cap * 2 : 1024, sizeof *g.v),
                           s->cap ? s->cap * 2 : 1024, 0};
        for (size_t i = 0; i < s->cap; i++)
            if (s->v[i])
                set_put(&g, s->v[i]);
        free(s->v);
        *s = g;
    }
    size_t i = (size_t)(x * 0x9e3779b97f4a7c15ull) & (s->cap - 1);
    for (; s->v[i]; i = (i + 1) & (s->cap - 1))
        if (s->v[i] == x)
            return;
    s->v[i] = x;
    s->n++;
}

static bool set_has(const struct u64set *s, uint64_t x)
{
    x = x ? x : 1;
    if (!s->cap)
        return false;
    for (size_t i = (size_t)(x * 0x9e3779b97f4a7c15ull) & (s->cap - 1); s->v[i];
         i = (i + 1) & (s->cap - 1))
        if (s->v[i] == x)
            return true;
    return false;
}

/* Calls fn(ctx, shingle) for each SHINGLE_WORDS-word window of text's lowercased alphanumeric
 * words (one shingle of all words when there are fewer). Returns the number of shingles. */
static size_t shingles(const char *text, void (*fn)(void *, uint64_t), void *ctx)
{
    uint64_t ring[SHINGLE_WORDS];
    size_t n_words = 0, n_sh = 0;
    const unsigned char *p = (const unsigned char *)text;
    while (*p) {
        while (*p && !isalnum(*p))
            p++;
        if (!*p)
            break;
        uint64_t h = 1469598103934665603ull;
        while (*p && isalnum(*p))
            h = (h ^ (unsigned char)tolower(*p++)) * 1099511628211ull;
        ring[n_words % SHINGLE_WORDS] = h;
        n_words++;
        if (n_words >= SHINGLE_WORDS) {
            uint64_t s = 0;
            for (size_t k = 0; k < SHINGLE_WORDS; k++)
                s = (s ^ ring[(n_words + k) % SHINGLE_WORDS]) * 0x100000001b3ull + k;
            fn(ctx, s);
            n_sh++;
        }
    }
    if (n_words && n_words < SHINGLE_WORDS) {
        uint64_t s = 7;
        for (size_t k = 0; k < n_words; k++)
            s = (s ^ ring[k]) * 0x100000001b3ull + k;
        fn(ctx, s);
        n_sh++;
    }
    return n_sh;
}

static void put_shingle(void *ctx, uint64_t s)
{
    set_put(ctx, s);
}

struct overlap {
    const struct u64set *set;
    size_t hits;
};

static void count_shingle(void *ctx, uint64_t s)
{
    struct overlap *o = ctx;
    o->hits += set_has(o->set, s);
}

/* ---------------------------------------------------------------------------------------------
 * Examples */

struct example {
    float dense[RFEAT_N_DENSE];
    uint32_t off, n;      /* into the shared index array */
    float hv;
    double y, c;          /* soft label, training weight */
    double calib;         /* calibration weight */
    unsigned fold;
    unsigned ds;          /* index of its data set in the spec */
    const char *text;     /* borrowed from its rdata */
};

struct trainset {
    struct example *ex;
    size_t n, cap;
    uint32_t *idx;
    size_t n_idx, cap_idx;
    unsigned hash_bits;
};

static void ts_add(struct trainset *t, const char *text, double y, double c, double calib,
                   unsigned fold, unsigned ds, struct rfeat *f)
{
    rfeat_extract(text, strlen(text), t->hash_bits, f);
    if (t->n == t->cap) {
        t->cap = t->cap ? t->cap * 2 : 1024;
        t->ex = xrealloc_array(t->ex, t->cap, sizeof *t->ex);
    }
    while (t->n_idx + f->n_hashed > t->cap_idx) {
        t->cap_idx = t->cap_idx ? t->cap_idx * 2 : 1u << 20;
        t->idx = xrealloc_array(t->idx, t->cap_idx, sizeof *t->idx);
    }
    struct example *x = &t->ex[t->n++];
    memcpy(x->dense, f->dense, sizeof x->dense);
    x->off = (uint32_t)t->n_idx;
    x->n = f->n_hashed;
    x->hv = f->hashed_value;
    memcpy(t->idx + t->n_idx, f->hashed, f->n_hashed * sizeof *t->idx);
    t->n_idx += f->n_hashed;
    x->y = y;
    x->c = c;
    x->calib = calib;
    x->fold = fold;
    x->ds = ds;
    x->text = text;
}

static uint64_t fnv(const char *s, uint64_t h)
{
    for (; *s; s++)
        h = (h ^ (unsigned char)*s) * 1099511628211ull;
    return h;
}

unsigned rtrain_fold(const char *dataset, const char *id)
{
    return (unsigned)(fnv(id, fnv(dataset, 1469598103934665603ull)) >> 33);
}

/* Columns of a list of model names in d (-2 for the virtual "@1"); -1 with e on an unknown one. */
static int resolve_models(const struct rdata *d, char *const *names, size_t n, int *cols,
                          const char *ds, struct err *e)
{
    for (size_t i = 0; i < n; i++) {
        if (rdata_is_virtual_one(names[i])) {
            cols[i] = -2;
            continue;
        }
        cols[i] = rdata_model(d, names[i]);
        if (cols[i] < 0)
            return err_set(e, "data set %s: no model '%.80s' in %s", ds, names[i], d->source);
    }
    return 0;
}

static double quality(const struct rdata *d, size_t i, int col)
{
    return col == -2 ? 1.0 : (double)rdata_q(d, i, (size_t)col);
}

/* Soft label of prompt i: mean over the measured pairs of 1 - max(0, s - w); NAN if none. */
static double label(const struct rdata *d, size_t i, const int *wc, size_t nw, const int *sc,
                    size_t ns)
{
    double sum = 0;
    size_t k = 0;
    for (size_t a = 0; a < nw; a++)
        for (size_t b = 0; b < ns; b++) {
            double w = quality(d, i, wc[a]), s = quality(d, i, sc[b]);
            if (isnan(w) || isnan(s) || wc[a] == sc[b])
                continue;
            sum += 1 - fmax(0, s - w);
            k++;
        }
    return k ? sum / (double)k : NAN;
}

struct loaded {
    struct rdata **data;    /* per spec data set; NULL when not used */
    size_t n;
};

static void loaded_free(struct loaded *l)
{
    for (size_t i = 0; i < l->n; i++)
        rdata_free(l->data[i]);
    free(l->data);
}

/* Loads one data set of the spec, its groups and max_prompts applied. */
static int load_dataset(const struct rtrain_dataset *ds, const char *root, struct rdata **out,
                        struct err *e)
{
    char *path = rtrain_dataset_path(root, ds);
    int rc = rdata_load(path, out, e);
    free(path);
    if (rc)
        return err_prefix(e, "data set %s", ds->name);
    if (ds->groups && rdata_keep_groups(*out, ds->groups, e) < 0) {
        rdata_free(*out);
        *out = NULL;
        return err_prefix(e, "data set %s", ds->name);
    }
    if (ds->max_prompts > 0 && (size_t)ds->max_prompts < (*out)->n_prompts) {
        bool *keep = xcalloc((*out)->n_prompts, sizeof *keep);
        for (long i = 0; i < ds->max_prompts; i++)
            keep[i] = true;
        rdata_filter(*out, keep);
        free(keep);
    }
    return 0;
}

static int by_y(const void *a, const void *b)
{
    const struct example *x = *(const struct example *const *)a,
                         *y = *(const struct example *const *)b;
    return x->y < y->y ? -1 : x->y > y->y;
}

/* Replaces the labels of ex[0..n) by their mid-rank percentiles in (0, 1), ties sharing their
 * mean rank: a data set's labels then say only how prompts order within it, on one scale for
 * every data set. qsort is not stable, but tied labels get the same value, so the result does
 * not depend on the order it leaves them in. */
static void rank_labels(struct example *ex, size_t n)
{
    struct example **v = xmalloc_array(n ? n : 1, sizeof *v);
    for (size_t i = 0; i < n; i++)
        v[i] = &ex[i];
    qsort(v, n, sizeof *v, by_y);
    for (size_t i = 0; i < n;) {
        size_t j = i;
        while (j < n && v[j]->y == v[i]->y)
            j++;
        double r = ((double)(i + j) / 2.0) / (double)n; /* mean of (k + 0.5) / n over i..j-1 */
        for (size_t k = i; k < j; k++)
            v[k]->y = r;
        i = j;
    }
    free(v);
}

/* Builds the training set: every data set not held out, minus excluded sub-tasks and
 * contaminated prompts. */
static int assemble(const struct rtrain_spec *s, const struct rtrain_opts *o,
                    struct loaded *l, struct trainset *t, struct buf *meta, struct err *e)
{
    const struct rtrain_dataset *h = o->holdout ? rtrain_spec_find(s, o->holdout) : NULL;
    if (o->holdout && !h)
        return err_set(e, "no data set '%.64s' in %s to hold out", o->holdout, s->path);
    bool within = h && o->test_folds > 0;
    const struct rtrain_dataset *fam = within ? NULL : h; /* whose family is left out */
    struct u64set held = {0};
    if (h) {
        struct rdata *hd;
        if (load_dataset(h, o->data_root, &hd, e))
            return -1;
        for (size_t i = 0; i < hd->n_prompts; i++)
            if (!within || rtrain_fold(h->name, hd->ids[i]) % (unsigned)o->test_folds ==
                               (unsigned)o->test_fold)
                shingles(hd->texts[i], put_shingle, &held);
        rdata_free(hd);
    }
    l->n = s->n_datasets;
    l->data = xcalloc(l->n, sizeof *l->data);
    struct rfeat *f = xmalloc(sizeof *f);
    int rc = 0;
    /* weights: data set d's prompts share weight_d * n_d^size_power, normalized below */
    for (size_t k = 0; k < s->n_datasets && rc == 0; k++) {
        const struct rtrain_dataset *ds = &s->datasets[k];
        if (ds->eval_only || family_held_out(fam, ds->family))
            continue;
        if ((rc = load_dataset(ds, o->data_root, &l->data[k], e)))
            break;
        struct rdata *d = l->data[k];
        int *wc = xcalloc(ds->n_weak, sizeof *wc), *sc = xcalloc(ds->n_strong, sizeof *sc);
        if (resolve_models(d, ds->weak, ds->n_weak, wc, ds->name, e) ||
            resolve_models(d, ds->strong, ds->n_strong, sc, ds->name, e)) {
            free(wc);
            free(sc);
            rc = -1;
            break;
        }
        size_t first = t->n, dropped_family = 0, dropped_overlap = 0, no_label = 0, tested = 0;
        for (size_t i = 0; i < d->n_prompts; i++) {
            char fb[128];
            if (fam && family_held_out(fam, group_family(ds, d->groups[i], fb, sizeof fb))) {
                dropped_family++;
                continue;
            }
            if (within && ds == h &&
                rtrain_fold(ds->name, d->ids[i]) % (unsigned)o->test_folds ==
                    (unsigned)o->test_fold) {
                tested++;
                continue;
            }
            if (h) {
                struct overlap ov = {&held, 0};
                size_t n_sh = shingles(d->texts[i], count_shingle, &ov);
                if (n_sh && 2 * ov.hits >= n_sh) {
                    dropped_overlap++;
                    continue;
                }
            }
            double y = label(d, i, wc, ds->n_weak, sc, ds->n_strong);
            if (isnan(y)) {
                no_label++;
                continue;
            }
            unsigned fold = rtrain_fold(ds->name, d->ids[i]);
            ts_add(t, d->texts[i], y, ds->weight, ds->calib, fold, (unsigned)k, f);
        }
        free(wc);
        free(sc);
        size_t n = t->n - first;
        if (s->label_rank)
            rank_labels(t->ex + first, n);
        double per = n ? pow((double)n, s->size_power) / (double)n : 0;
        double ymean = 0;
        for (size_t i = first; i < t->n; i++) {
            t->ex[i].c *= per;
            t->ex[i].calib *= per;
            ymean += t->ex[i].y;
        }
        char line[400];
        int w = snprintf(line, sizeof line, "  %-20s %6zu prompts, label mean %.3f", ds->name, n,
                         n ? ymean / (double)n : 0.0);
        if ((dropped_family || dropped_overlap || no_label || tested) && w > 0 &&
            (size_t)w < sizeof line)
            snprintf(line + w, sizeof line - (size_t)w,
                     " (dropped: %zu held-out sub-task, %zu overlapping, %zu unmeasured, %zu in "
                     "the test fold)", dropped_family, dropped_overlap, no_label, tested);
        buf_printf(meta, "%s\n", line);
        if (o->log)
            fprintf(o->log, "train: %s\n", line);
    }
    free(f);
    free(held.v);
    if (rc == 0 && t->n == 0)
        rc = err_set(e, "no training prompts left%s%s", h ? " after holding out " : "",
                     h ? h->name : "");
    if (rc == 0) { /* mean weight 1, so l2 means the same whatever the data */
        double sc = 0, sk = 0;
        for (size_t i = 0; i < t->n; i++) {
            sc += t->ex[i].c;
            sk += t->ex[i].calib;
        }
        for (size_t i = 0; i < t->n; i++) {
            t->ex[i].c *= sc > 0 ? (double)t->n / sc : 0;
            t->ex[i].calib *= sk > 0 ? (double)t->n / sk : 0;
        }
    }
    return rc;
}

/* ---------------------------------------------------------------------------------------------
 * The fit: weighted soft-label logistic regression, L2, L-BFGS */

struct fit {
    const struct trainset *t;
    const unsigned char *use;   /* per example: in this fit */
    double mean[RFEAT_N_DENSE], scale[RFEAT_N_DENSE];
    size_t n_hashed;            /* 2^hash_bits */
    size_t n_ds;                /* per-data-set biases (0: one shared bias) */
    size_t n_params;            /* 1 + RFEAT_N_DENSE + n_hashed + n_ds */
    double l2, l2_hashed;
    double wsum;
};

/* Loss and gradient at x. Parameters: bias, dense weights, hashed weights, then (dataset_bias)
 * one bias per data set, which replaces the shared bias (left at 0). Biases are not penalized. */
static double loss_grad(const struct fit *F, const double *x, double *g)
{
    const struct trainset *t = F->t;
    const double *wd = x + 1, *wh = x + 1 + RFEAT_N_DENSE, *wb = wh + F->n_hashed;
    double *gd = g + 1, *gh = g + 1 + RFEAT_N_DENSE, *gb = gh + F->n_hashed;
    memset(g, 0, F->n_params * sizeof *g);
    double loss = 0;
    for (size_t i = 0; i < t->n; i++) {
        if (!F->use[i])
            continue;
        const struct example *ex = &t->ex[i];
        double xs[RFEAT_N_DENSE];
        double z = F->n_ds ? wb[ex->ds] : x[0];
        for (int j = 0; j < RFEAT_N_DENSE; j++) {
            xs[j] = ((double)ex->dense[j] - F->mean[j]) * F->scale[j];
            z += wd[j] * xs[j];
        }
        const uint32_t *idx = t->idx + ex->off;
        double h = 0;
        for (uint32_t k = 0; k < ex->n; k++)
            h += wh[idx[k]];
        z += h * ex->hv;
        double c = ex->c / F->wsum;
        double sp = (z > 0 ? z : 0) + log1p(exp(-fabs(z)));
        loss += c * (sp - ex->y * z);
        double p = 1 / (1 + exp(-z));
        double dz = c * (p - ex->y);
        if (F->n_ds)
            gb[ex->ds] += dz;
        else
            g[0] += dz;
        for (int j = 0; j < RFEAT_N_DENSE; j++)
            gd[j] += dz * xs[j];
        double dh = dz * ex->hv;
        for (uint32_t k = 0; k < ex->n; k++)
            gh[idx[k]] += dh;
    }
    double reg = 0, reg_h = 0;
    for (size_t j = 0; j < RFEAT_N_DENSE; j++) {
        reg += wd[j] * wd[j];
        gd[j] += F->l2 * wd[j];
    }
    for (size_t j = 0; j < F->n_hashed; j++) {
        reg_h += wh[j] * wh[j];
        gh[j] += F->l2_hashed * wh[j];
    }
    return loss + 0.5 * F->l2 * reg + 0.5 * F->l2_hashed * reg_h;
}

static double dot(const double *a, const double *b, size_t n)
{
    double s = 0;
    for (size_t i = 0; i < n; i++)
        s += a[i] * b[i];
    return s;
}

/* Minimizes from x (in place). */
static void lbfgs(const struct fit *F, double *x, int iterations, FILE *log)
{
    size_t n = F->n_params;
    double *g = xcalloc(n, sizeof *g), *d = xcalloc(n, sizeof *d), *xn = xcalloc(n, sizeof *xn),
           *gn = xcalloc(n, sizeof *gn);
    double *S = xcalloc(LBFGS_M * n, sizeof *S), *Y = xcalloc(LBFGS_M * n, sizeof *Y);
    double rho[LBFGS_M], alpha[LBFGS_M];
    int m = 0, head = 0; /* pairs stored; index of the oldest */
    double f = loss_grad(F, x, g);
    for (int it = 0; it < iterations; it++) {
        /* two-loop recursion: d = -H g */
        for (size_t i = 0; i < n; i++)
            d[i] = -g[i];
        for (int k = m - 1; k >= 0; k--) {
            int j = (head + k) % LBFGS_M;
            alpha[j] = rho[j] * dot(S + (size_t)j * n, d, n);
            for (size_t i = 0; i < n; i++)
                d[i] -= alpha[j] * Y[(size_t)j * n + i];
        }
        if (m) {
            int j = (head + m - 1) % LBFGS_M;
            double gamma = dot(S + (size_t)j * n, Y + (size_t)j * n, n) /
                           dot(Y + (size_t)j * n, Y + (size_t)j * n, n);
            for (size_t i = 0; i < n; i++)
                d[i] *= gamma;
        }
        for (int k = 0; k < m; k++) {
            int j = (head + k) % LBFGS_M;
            double beta = rho[j] * dot(Y + (size_t)j * n, d, n);
            for (size_t i = 0; i < n; i++)
                d[i] += (alpha[j] - beta) * S[(size_t)j * n + i];
        }
        double gd = dot(g, d, n);
        if (!(gd < 0)) { /* not a descent direction: restart from the gradient */
            for (size_t i = 0; i < n; i++)
                d[i] = -g[i];
            gd = dot(g, d, n);
            m = 0;
        }
        double step = it == 0 && m == 0 ? 1 / sqrt(dot(g, g, n) + 1e-300) : 1, fn = f;
        int tries = 0;
        for (; tries < 40; tries++, step *= 0.5) {
            for (size_t i = 0; i < n; i++)
                xn[i] = x[i] + step * d[i];
            fn = loss_grad(F, xn, gn);
            if (fn <= f + 1e-4 * step * gd)
                break;
        }
        if (tries == 40)
            break; /* no progress possible: at the minimum to rounding */
        int j = m < LBFGS_M ? (head + m) % LBFGS_M : head;
        if (m == LBFGS_M)
            head = (head + 1) % LBFGS_M;
        else
            m++;
        for (size_t i = 0; i < n; i++) {
            S[(size_t)j * n + i] = xn[i] - x[i];
            Y[(size_t)j * n + i] = gn[i] - g[i];
        }
        double sy = dot(S + (size_t)j * n, Y + (size_t)j * n, n);
        if (sy > 1e-12) {
            rho[j] = 1 / sy;
        } else { /* curvature too small to use: forget the pair */
            m--;
            if (m > 0 && j == head)
                head = (head + 1) % LBFGS_M;
        }
        double df = f - fn;
        memcpy(x, xn, n * sizeof *x);
        memcpy(g, gn, n * sizeof *g);
        f = fn;
        if (log && (it % 25 == 0 || it == iterations - 1))
            fprintf(log, "train:   iteration %d: loss %.6f\n", it, f);
        if (df < 1e-10 * fmax(1, fabs(f)))
            break;
    }
    free(g);
    free(d);
    free(xn);
    free(gn);
    free(S);
    free(Y);
}

/* Fits on the examples with use[i], and writes the resulting model image into img. */
static int fit_model(const struct rtrain_spec *s, const struct trainset *t,
                     const unsigned char *use, const float *quantiles, uint32_t n_q,
                     const char *meta, FILE *log, struct buf *img, struct err *e)
{
    struct fit F = {.t = t, .use = use, .l2 = s->l2, .l2_hashed = s->l2_hashed};
    F.n_hashed = (size_t)1 << t->hash_bits;
    F.n_ds = s->dataset_bias ? s->n_datasets : 0;
    F.n_params = 1 + RFEAT_N_DENSE + F.n_hashed + F.n_ds;
    double wsum = 0;
    double m1[RFEAT_N_DENSE] = {0}, m2[RFEAT_N_DENSE] = {0};
    for (size_t i = 0; i < t->n; i++) {
        if (!use[i])
            continue;
        double c = t->ex[i].c;
        wsum += c;
        for (int j = 0; j < RFEAT_N_DENSE; j++)
            m1[j] += c * t->ex[i].dense[j];
    }
    if (!(wsum > 0))
        return err_set(e, "no training weight: every data set has weight 0");
    F.wsum = wsum;
    for (int j = 0; j < RFEAT_N_DENSE; j++)
        F.mean[j] = m1[j] / wsum;
    for (size_t i = 0; i < t->n; i++)
        if (use[i])
            for (int j = 0; j < RFEAT_N_DENSE; j++) {
                double dd = t->ex[i].dense[j] - F.mean[j];
                m2[j] += t->ex[i].c * dd * dd;
            }
    for (int j = 0; j < RFEAT_N_DENSE; j++) {
        double sd = sqrt(m2[j] / wsum);
        F.scale[j] = sd > 1e-6 ? 1 / sd : 1; /* a constant feature stays unscaled (and unused) */
    }
    double *x = xcalloc(F.n_params, sizeof *x);
    lbfgs(&F, x, s->iterations, log);
    if (F.n_ds) { /* the file's one bias: the data set biases' mean, weighted as in the fit */
        const double *wb = x + 1 + RFEAT_N_DENSE + F.n_hashed;
        double b = 0;
        for (size_t i = 0; i < t->n; i++)
            if (use[i])
                b += t->ex[i].c * wb[t->ex[i].ds];
        x[0] = b / wsum;
    }
    float mean[RFEAT_N_DENSE], scale[RFEAT_N_DENSE], wd[RFEAT_N_DENSE];
    for (int j = 0; j < RFEAT_N_DENSE; j++) {
        mean[j] = (float)F.mean[j];
        scale[j] = (float)F.scale[j];
        wd[j] = (float)x[1 + j];
    }
    size_t nh = (size_t)1 << t->hash_bits;
    float *wh = xmalloc_array(nh, sizeof *wh);
    for (size_t k = 0; k < nh; k++)
        wh[k] = (float)x[1 + RFEAT_N_DENSE + k];
    struct rmodel_params p = {
        .hash_bits = t->hash_bits, .bias = (float)x[0], .dense_mean = mean,
        .dense_scale = scale, .dense_w = wd, .hashed_w = wh, .quantiles = quantiles,
        .n_quantiles = n_q, .meta = meta,
    };
    int rc = rmodel_write(&p, img, e);
    free(wh);
    free(x);
    return rc;
}

struct scored {
    float score;
    double w;
};

static int by_score(const void *a, const void *b)
{
    const struct scored *x = a, *y = b;
    return x->score < y->score ? -1 : x->score > y->score;
}

/* Weighted quantiles: the i-th sorted score sits at cumulative share (W_{<i} + w_i/2) / W;
 * quantile p interpolates between neighbours, clamped to the extremes. */
static void weighted_quantiles(struct scored *v, size_t n, float *q, uint32_t n_q)
{
    qsort(v, n, sizeof *v, by_score);
    double total = 0;
    for (size_t i = 0; i < n; i++)
        total += v[i].w;
    double *pos = xmalloc_array(n, sizeof *pos), cum = 0;
    for (size_t i = 0; i < n; i++) {
        pos[i] = (cum + v[i].w / 2) / total;
        cum += v[i].w;
    }
    size_t j = 0;
    for (uint32_t k = 0; k < n_q; k++) {
        double p = (double)k / (n_q - 1);
        while (j + 1 < n && pos[j + 1] <= p)
            j++;
        float x;
        if (p <= pos[0])
            x = v[0].score;
        else if (j + 1 >= n)
            x = v[n - 1].score;
        else
            x = (float)(v[j].score + (p - pos[j]) / (pos[j + 1] - pos[j]) *
                                         (v[j + 1].score - v[j].score));
        q[k] = k && x < q[k - 1] ? q[k - 1] : x;
    }
    free(pos);
}

int rtrain_run(const struct rtrain_spec *s, const struct rtrain_opts *o, struct buf *out,
               struct err *e)
{
    struct loaded l = {0};
    struct trainset t = {.hash_bits = s->hash_bits};
    struct buf meta;
    buf_init(&meta);
    const char *base = strrchr(s->path, '/');
    buf_printf(&meta, "baton router: logistic model on rfeat v%d features, 2^%u hashed buckets\n"
                      "spec: %s (crc32 %08x)\nheld out: %s\ntraining prompts:\n",
               RFEAT_VERSION, s->hash_bits, base ? base + 1 : s->path,
               (unsigned)rmodel_crc32(0, s->text, strlen(s->text)),
               o->holdout ? o->holdout : "none");
    int rc = assemble(s, o, &l, &t, &meta, e);
    unsigned char *use = rc ? NULL : xmalloc(t.n);
    uint32_t n_q = (uint32_t)s->n_quantiles;
    float *quant = xcalloc(n_q, sizeof *quant);
    struct scored *sc = rc ? NULL : xcalloc(t.n, sizeof *sc);
    struct rfeat *f = xmalloc(sizeof *f);
    /* calibration scores: out of fold, or in-sample when calib_folds is 0 */
    int folds = s->calib_folds;
    for (int k = 0; rc == 0 && k < (folds ? folds : 1); k++) {
        for (size_t i = 0; i < t.n; i++)
            use[i] = folds ? t.ex[i].fold % (unsigned)folds != (unsigned)k : 1;
        if (o->log)
            fprintf(o->log, "train: calibration fit %d/%d\n", k + 1, folds ? folds : 1);
        for (uint32_t i = 0; i < n_q; i++)
            quant[i] = (float)i / (float)(n_q - 1);
        struct buf img;
        buf_init(&img);
        struct rmodel *m = NULL;
        rc = fit_model(s, &t, use, quant, n_q, "", o->log, &img, e);
        if (rc == 0)
            rc = rmodel_parse(img.data, img.len, "calibration model", &m, e);
        buf_free(&img);
        for (size_t i = 0; rc == 0 && i < t.n; i++)
            if (!use[i] || !folds)
                sc[i] = (struct scored){rmodel_score(m, t.ex[i].text, strlen(t.ex[i].text), f),
                                        t.ex[i].calib};
        rmodel_free(m);
    }
    float *raw = rc == 0 ? xmalloc_array(t.n, sizeof *raw) : NULL;
    for (size_t i = 0; rc == 0 && i < t.n; i++)
        raw[i] = sc[i].score; /* weighted_quantiles sorts sc */
    if (rc == 0) {
        weighted_quantiles(sc, t.n, quant, n_q);
        buf_printf(&meta, "calibration: %s scores, %u quantiles; median score %.4f\n",
                   folds ? "out-of-fold" : "in-sample", n_q, (double)quant[n_q / 2]);
        /* how the one threshold splits each data set: the mix is calibrated, not each part */
        for (int k = 0; k < 2; k++) {
            double frac = k ? 0.5 : 0.3;
            float thr = quant[(uint32_t)(frac * (n_q - 1) + 0.5)];
            buf_printf(&meta, "strong share at strong_fraction %.1f (threshold %.4f):", frac,
                       (double)thr);
            for (size_t d = 0; d < s->n_datasets; d++) {
                double wd = 0, ws = 0;
                for (size_t i = 0; i < t.n; i++)
                    if (t.ex[i].ds == d) {
                        wd += t.ex[i].calib;
                        ws += raw[i] < thr ? t.ex[i].calib : 0;
                    }
                if (wd > 0)
                    buf_printf(&meta, " %s %.2f", s->datasets[d].name, ws / wd);
            }
            buf_puts(&meta, "\n");
        }
        buf_printf(&meta, "hyper-parameters: l2 %g, l2_hashed %g, dataset_bias %d, label_rank "
                          "%d, iterations %d, size_power %g\n\n", s->l2, s->l2_hashed,
                   (int)s->dataset_bias, (int)s->label_rank, s->iterations, s->size_power);
        buf_puts(&meta, s->text);
        for (size_t i = 0; i < t.n; i++)
            use[i] = 1;
        if (o->log)
            fprintf(o->log, "train: final fit on %zu prompts\n", t.n);
        rc = fit_model(s, &t, use, quant, n_q, meta.data, o->log, out, e);
    }
    free(raw);
    free(f);
    free(sc);
    free(quant);
    free(use);
    free(t.ex);
    free(t.idx);
    loaded_free(&l);
    buf_free(&meta);
    return rc;
}
