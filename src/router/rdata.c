/* rdata: reading router outcome data sets (rdata.h has the layouts).
 *
 * Files are read whole (file_read) and parsed from memory: CSV as RFC 4180 (quoted fields may
 * hold commas, doubled quotes and newlines), JSONL a JSON object per line (jansson), JSON one
 * array. Joins go through a small open-addressing table from key to prompt index. The table
 * grows by appending prompts and models; quality is stored row-major once the shape is known.
 */
#include "router/rdata.h"

#include "base/alloc.h"
#include "base/buf.h"
#include "base/file.h"

#include <dirent.h>
#include <errno.h>
#include <jansson.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#define RDATA_FILE_MAX ((size_t)256 << 20)
#define RDATA_MAX_MODELS 4096

/* ---------------------------------------------------------------------------------------------
 * Growing string vectors and the key -> index table */

struct strvec {
    char **v;
    size_t n, cap;
};

static void sv_push(struct strvec *s, char *owned)
{
    if (s->n == s->cap) {
        s->cap = s->cap ? s->cap * 2 : 64;
        s->v = xrealloc_array(s->v, s->cap, sizeof *s->v);
    }
    s->v[s->n++] = owned;
}

static void sv_free(struct strvec *s)
{
    for (size_t i = 0; i < s->n; i++)
        free(s->v[i]);
    free(s->v);
    memset(s, 0, sizeof *s);
}

static uint64_t hash_str(const char *s)
{
    uint64_t h = 1469598103934665603ull; /* FNV-1a */
    for (; *s; s++)
        h = (h ^ (unsigned char)*s) * 1099511628211ull;
    return h;
}

struct keymap {
    const char **keys; /* borrowed */
    size_t *vals;
    size_t cap;        /* power of two; at most half full */
    size_t n;
};

static void km_init(struct keymap *m, size_t expect)
{
    m->cap = 64;
    while (m->cap < 2 * expect + 2)
        m->cap *= 2;
    m->keys = xcalloc(m->cap, sizeof *m->keys);
    m->vals = xcalloc(m->cap, sizeof *m->vals);
    m->n = 0;
}

static void km_free(struct keymap *m)
{
    free(m->keys);
    free(m->vals);
}

/* Index of key, or (size_t)-1. */
static size_t km_get(const struct keymap *m, const char *key)
{
    for (size_t i = hash_str(key) & (m->cap - 1);; i = (i + 1) & (m->cap - 1)) {
        if (!m->keys[i])
            return (size_t)-1;
        if (!strcmp(m->keys[i], key))
            return m->vals[i];
    }
}

/* Inserts key (borrowed) -> val; returns false if key was there already. */
static bool km_put(struct keymap *m, const char *key, size_t val)
{
    if (2 * (m->n + 1) > m->cap) {
        struct keymap g;
        km_init(&g, m->cap);
        for (size_t i = 0; i < m->cap; i++)
            if (m->keys[i])
                km_put(&g, m->keys[i], m->vals[i]);
        km_free(m);
        *m = g;
    }
    size_t i = hash_str(key) & (m->cap - 1);
    for (; m->keys[i]; i = (i + 1) & (m->cap - 1))
        if (!strcmp(m->keys[i], key))
            return false;
    m->keys[i] = key;
    m->vals[i] = val;
    m->n++;
    return true;
}

/* ---------------------------------------------------------------------------------------------
 * The table under construction: prompts and models are appended, measurements collected as
 * (prompt, model, value) cells and laid out as a matrix at the end (files may add prompts after
 * models, as RouterBench's and RouterDC's several files do). */

struct cell {
    uint32_t prompt, model;
    float v;
};

struct builder {
    struct strvec ids, texts, groups, models;
    struct keymap by_id;     /* id -> prompt index */
    struct keymap by_model;  /* model -> column */
    struct cell *cells;
    size_t n_cells, cap_cells;
};

static void b_init(struct builder *b)
{
    memset(b, 0, sizeof *b);
    km_init(&b->by_id, 1024);
    km_init(&b->by_model, 64);
}

static void b_free(struct builder *b)
{
    sv_free(&b->ids);
    sv_free(&b->texts);
    sv_free(&b->groups);
    sv_free(&b->models);
    km_free(&b->by_id);
    km_free(&b->by_model);
    free(b->cells);
}

/* Adds a prompt; -1 with e set if id is a duplicate. */
static int b_prompt(struct builder *b, const char *id, const char *text, const char *group,
                    const char *where, struct err *e)
{
    if (km_get(&b->by_id, id) != (size_t)-1)
        return err_set(e, "%s: duplicate id '%.64s'", where, id);
    sv_push(&b->ids, xstrdup(id));
    sv_push(&b->texts, xstrdup(text));
    sv_push(&b->groups, xstrdup(group ? group : ""));
    km_put(&b->by_id, b->ids.v[b->ids.n - 1], b->ids.n - 1);
    return 0;
}

/* Column of model (added when new); -1 with e set if there are too many models. */
static long b_model(struct builder *b, const char *model, const char *where, struct err *e)
{
    size_t m = km_get(&b->by_model, model);
    if (m != (size_t)-1)
        return (long)m;
    if (b->models.n >= RDATA_MAX_MODELS)
        return err_set(e, "%s: more than %d models", where, RDATA_MAX_MODELS);
    sv_push(&b->models, xstrdup(model));
    km_put(&b->by_model, b->models.v[b->models.n - 1], b->models.n - 1);
    return (long)(b->models.n - 1);
}

/* Records a measurement (NAN: none, nothing recorded); a later one for the same cell wins. */
static void b_set(struct builder *b, size_t prompt, size_t model, float v)
{
    if (isnan(v))
        return;
    if (b->n_cells == b->cap_cells) {
        b->cap_cells = b->cap_cells ? b->cap_cells * 2 : 4096;
        b->cells = xrealloc_array(b->cells, b->cap_cells, sizeof *b->cells);
    }
    b->cells[b->n_cells++] = (struct cell){(uint32_t)prompt, (uint32_t)model, v};
}

static struct rdata *b_finish(struct builder *b, const char *dir)
{
    struct rdata *d = xcalloc(1, sizeof *d);
    d->source = xstrdup(dir);
    d->n_prompts = b->ids.n;
    d->n_models = b->models.n;
    d->ids = b->ids.v;
    d->texts = b->texts.v;
    d->groups = b->groups.v;
    d->models = b->models.v;
    size_t n = d->n_prompts * d->n_models;
    d->quality = xmalloc_array(n + 1, sizeof *d->quality);
    for (size_t i = 0; i < n; i++)
        d->quality[i] = NAN;
    for (size_t i = 0; i < b->n_cells; i++)
        d->quality[(size_t)b->cells[i].prompt * d->n_models + b->cells[i].model] = b->cells[i].v;
    memset(&b->ids, 0, sizeof b->ids);
    memset(&b->texts, 0, sizeof b->texts);
    memset(&b->groups, 0, sizeof b->groups);
    memset(&b->models, 0, sizeof b->models);
    b_free(b);
    return d;
}

/* ---------------------------------------------------------------------------------------------
 * CSV (RFC 4180) */

struct csv {
    const char *path;
    char *data;
    const char *p, *end;
    int line;          /* 1-based line of the row last read */
    int next_line;
    struct strvec row; /* fields of the row last read */
};

static int csv_open(struct csv *c, const char *path, struct err *e)
{
    memset(c, 0, sizeof *c);
    struct buf b;
    buf_init(&b);
    if (file_read(path, RDATA_FILE_MAX, &b, e)) {
        buf_free(&b);
        return -1;
    }
    c->path = path;
    c->data = buf_detach(&b);
    c->p = c->data;
    c->end = c->data + strlen(c->data);
    c->next_line = 1;
    return 0;
}

static void csv_close(struct csv *c)
{
    free(c->data);
    sv_free(&c->row);
}

/* Reads the next row into c->row. Returns 1, 0 at the end, -1 on malformed quoting. */
static int csv_next(struct csv *c, struct err *e)
{
    for (size_t i = 0; i < c->row.n; i++)
        free(c->row.v[i]);
    c->row.n = 0;
    while (c->p < c->end && (*c->p == '\n' || *c->p == '\r')) { /* blank lines */
        if (*c->p == '\n')
            c->next_line++;
        c->p++;
    }
    if (c->p >= c->end)
        return 0;
    c->line = c->next_line;
    struct buf f;
    buf_init(&f);
    for (;;) {
        buf_clear(&f);
        if (c->p < c->end && *c->p == '"') {
            c->p++;
            for (;;) {
                if (c->p >= c->end) {
                    buf_free(&f);
                    return err_set(e, "%s:%d: unterminated quoted field", c->path, c->line);
                }
                if (*c->p == '"') {
                    if (c->p + 1 < c->end && c->p[1] == '"') {
                        buf_putc(&f, '"');
                        c->p += 2;
                        continue;
                    }
                    c->p++;
                    break;
                }
                if (*c->p == '\n')
                    c->next_line++;
                buf_putc(&f, *c->p++);
            }
            if (c->p < c->end && *c->p != ',' && *c->p != '\n' && *c->p != '\r') {
                buf_free(&f);
                return err_set(e, "%s:%d: text after a closing quote", c->path, c->line);
            }
        } else {
            while (c->p < c->end && *c->p != ',' && *c->p != '\n' && *c->p != '\r')
                buf_putc(&f, *c->p++);
        }
        sv_push(&c->row, xstrdup(f.data ? f.data : ""));
        if (c->p < c->end && *c->p == ',') {
            c->p++;
            continue;
        }
        if (c->p < c->end && *c->p == '\r')
            c->p++;
        if (c->p < c->end && *c->p == '\n') {
            c->p++;
            c->next_line++;
        }
        break;
    }
    buf_free(&f);
    return 1;
}

/* Parses a CSV number cell in lo..hi into *v mapped onto 0..1 (NAN for an empty cell). With
 * clamp, any finite number is accepted and clamped into lo..hi first. */
static int parse_cell(const char *s, float lo, float hi, bool clamp, float *v,
                      const struct csv *c, const char *col, struct err *e)
{
    if (!*s) {
        *v = NAN;
        return 0;
    }
    char *endp;
    errno = 0;
    double x = strtod(s, &endp);
    if (clamp && endp != s && !*endp && isfinite(x))
        x = x < lo ? lo : x > hi ? hi : x;
    if (endp == s || *endp || errno || !(x >= lo && x <= hi))
        return err_set(e, "%s:%d: column %s: '%.32s' is not a number in %g..%g", c->path, c->line,
                       col, s, (double)lo, (double)hi);
    *v = (float)((x - lo) / (hi - lo));
    return 0;
}

/* ---------------------------------------------------------------------------------------------
 * Text of a question record */

/* Appends record's text: question/instruction/prompt/turns[0], then options as "A. x" lines. */
static bool record_text(const json_t *rec, struct buf *out)
{
    static const char *const fields[] = {"question", "instruction", "prompt"};
    const char *text = NULL;
    for (size_t i = 0; i < sizeof fields / sizeof *fields && !text; i++)
        text = json_string_value(json_object_get(rec, fields[i]));
    if (!text)
        text = json_string_value(json_array_get(json_object_get(rec, "turns"), 0));
    if (!text)
        return false;
    buf_puts(out, text);
    const json_t *opts = json_object_get(rec, "options");
    if (json_is_array(opts) && json_array_size(opts) > 0) {
        for (size_t i = 0; i < json_array_size(opts) && i < 26; i++) {
            const char *o = json_string_value(json_array_get(opts, i));
            buf_printf(out, "\n%c. %s", (char)('A' + i), o ? o : "");
        }
        buf_puts(out, "\nAnswer:");
    }
    return true;
}

/* A JSON key value as text: strings as they are, integers in decimal. */
static bool key_text(const json_t *v, char *out, size_t n)
{
    if (json_is_string(v))
        snprintf(out, n, "%s", json_string_value(v));
    else if (json_is_integer(v))
        snprintf(out, n, "%lld", (long long)json_integer_value(v));
    else
        return false;
    return true;
}

static void path_join(char *out, size_t n, const char *dir, const char *file)
{
    snprintf(out, n, "%s/%s", dir, file);
}

/* Reads JSONL questions into b: key field, text, group field (may be NULL; "prefix" takes the
 * key up to its first '_'). */
static int read_questions(struct builder *b, const char *path, const char *key,
                          const char *group, struct err *e)
{
    struct buf data;
    buf_init(&data);
    if (file_read(path, RDATA_FILE_MAX, &data, e)) {
        buf_free(&data);
        return -1;
    }
    int rc = 0, line = 0;
    const char *p = data.data ? data.data : "", *end = p + data.len;
    struct buf text;
    buf_init(&text);
    while (p < end && rc == 0) {
        const char *nl = memchr(p, '\n', (size_t)(end - p));
        const char *le = nl ? nl : end;
        line++;
        size_t len = (size_t)(le - p);
        if (len == 0 || (len == 1 && *p == '\r')) {
            p = le + 1;
            continue;
        }
        json_error_t je;
        json_t *rec = json_loadb(p, len, 0, &je);
        char where[4300], k[512];
        snprintf(where, sizeof where, "%.4200s:%d", path, line);
        buf_clear(&text);
        if (!rec || !json_is_object(rec)) {
            rc = err_set(e, "%s: not a JSON object: %s", where, rec ? "other value" : je.text);
        } else if (!key_text(json_object_get(rec, key), k, sizeof k)) {
            rc = err_set(e, "%s: no string or integer '%s'", where, key);
        } else if (!record_text(rec, &text)) {
            rc = err_set(e, "%s: no question, instruction, prompt or turns[0] text", where);
        } else {
            char grp[600] = "";
            if (group && !strcmp(group, "prefix")) {
                snprintf(grp, sizeof grp, "%s", k);
                char *u = strchr(grp, '_');
                if (u)
                    *u = 0;
            } else if (group) {
                const char *g = json_string_value(json_object_get(rec, group));
                snprintf(grp, sizeof grp, "%s", g ? g : "");
            }
            rc = b_prompt(b, k, text.data ? text.data : "", grp, where, e);
        }
        json_decref(rec);
        p = le + 1;
    }
    buf_free(&text);
    buf_free(&data);
    return rc;
}

/* ---------------------------------------------------------------------------------------------
 * Layouts */

/* Wide matrix: first column the key, one column per model. */
static int read_wide(struct builder *b, const char *path, float lo, float hi, struct err *e)
{
    struct csv c;
    if (csv_open(&c, path, e))
        return -1;
    int rc = csv_next(&c, e);
    if (rc == 0)
        rc = err_set(e, "%s: empty", path);
    size_t n_cols = c.row.n;
    long *cols = NULL;
    struct strvec header = {0};
    if (rc == 1) {
        rc = 0;
        if (n_cols < 2)
            rc = err_set(e, "%s:1: expected a key column and model columns", path);
        cols = xcalloc(n_cols, sizeof *cols);
        for (size_t j = 0; j < n_cols; j++)
            sv_push(&header, xstrdup(c.row.v[j]));
        for (size_t j = 1; j < n_cols && rc == 0; j++) {
            cols[j] = b_model(b, header.v[j], path, e);
            if (cols[j] < 0)
                rc = -1;
        }
    }
    while (rc == 0 && (rc = csv_next(&c, e)) == 1) {
        rc = 0;
        if (c.row.n != n_cols) {
            rc = err_set(e, "%s:%d: %zu fields, the header has %zu", path, c.line, c.row.n,
                         n_cols);
            break;
        }
        size_t i = km_get(&b->by_id, c.row.v[0]);
        if (i == (size_t)-1) {
            rc = err_set(e, "%s:%d: key '%.64s' has no question", path, c.line, c.row.v[0]);
            break;
        }
        for (size_t j = 1; j < n_cols && rc == 0; j++) {
            float v;
            rc = parse_cell(c.row.v[j], lo, hi, false, &v, &c, header.v[j], e);
            if (rc == 0)
                b_set(b, i, (size_t)cols[j], v);
        }
    }
    free(cols);
    sv_free(&header);
    csv_close(&c);
    return rc < 0 ? -1 : 0;
}

/* Long table: key, model, score columns (named in the header). Scores are clamped into 0..1
 * (RouterArena has a METEOR score of -0.033). */
static int read_long(struct builder *b, const char *path, struct err *e)
{
    struct csv c;
    if (csv_open(&c, path, e))
        return -1;
    int rc = csv_next(&c, e);
    long ck = -1, cm = -1, cs = -1;
    size_t n_cols = c.row.n;
    if (rc == 1) {
        rc = 0;
        ck = 0;
        for (size_t j = 0; j < n_cols; j++) {
            if (!strcmp(c.row.v[j], "model"))
                cm = (long)j;
            if (!strcmp(c.row.v[j], "score"))
                cs = (long)j;
        }
        if (cm < 0 || cs < 0)
            rc = err_set(e, "%s:1: expected model and score columns", path);
    } else if (rc == 0) {
        rc = err_set(e, "%s: empty", path);
    }
    while (rc == 0 && (rc = csv_next(&c, e)) == 1) {
        rc = 0;
        if (c.row.n != n_cols) {
            rc = err_set(e, "%s:%d: %zu fields, the header has %zu", path, c.line, c.row.n,
                         n_cols);
            break;
        }
        size_t i = km_get(&b->by_id, c.row.v[ck]);
        if (i == (size_t)-1) {
            rc = err_set(e, "%s:%d: key '%.64s' has no question", path, c.line, c.row.v[ck]);
            break;
        }
        long m = b_model(b, c.row.v[cm], path, e);
        float v = 0.0f; /* set by parse_cell when it succeeds (gcc -O3 cannot see it) */
        if (m < 0 || parse_cell(c.row.v[cs], 0, 1, true, &v, &c, "score", e))
            rc = -1;
        else
            b_set(b, i, (size_t)m, v);
    }
    csv_close(&c);
    return rc < 0 ? -1 : 0;
}

/* Decodes the first element of a Python list literal "['...', ...]" (RouterBench's prompt
 * column) into out. Returns false if s is not such a literal. */
static bool python_first_str(const char *s, struct buf *out)
{
    while (*s == ' ')
        s++;
    if (*s++ != '[')
        return false;
    while (*s == ' ')
        s++;
    char q = *s++;
    if (q != '\'' && q != '"')
        return false;
    for (; *s && *s != q; s++) {
        if (*s != '\\') {
            buf_putc(out, *s);
            continue;
        }
        s++;
        switch (*s) {
        case 'n': buf_putc(out, '\n'); break;
        case 't': buf_putc(out, '\t'); break;
        case 'r': buf_putc(out, '\r'); break;
        case '\\': case '\'': case '"': buf_putc(out, *s); break;
        case 'x': case 'u': case 'U': {
            int nd = *s == 'x' ? 2 : *s == 'u' ? 4 : 8;
            unsigned long cp = 0;
            for (int k = 0; k < nd; k++) {
                char h = s[1];
                int v = h >= '0' && h <= '9' ? h - '0' : h >= 'a' && h <= 'f' ? h - 'a' + 10
                        : h >= 'A' && h <= 'F' ? h - 'A' + 10 : -1;
                if (v < 0)
                    return false;
                cp = cp * 16 + (unsigned long)v;
                s++;
            }
            if (cp >= 0xd800 && cp < 0xe000) /* a lone surrogate: not text */
                cp = 0xfffd;
            if (cp < 0x80) {
                buf_putc(out, (char)cp);
            } else if (cp < 0x800) {
                buf_putc(out, (char)(0xc0 | cp >> 6));
                buf_putc(out, (char)(0x80 | (cp & 0x3f)));
            } else if (cp < 0x10000) {
                buf_putc(out, (char)(0xe0 | cp >> 12));
                buf_putc(out, (char)(0x80 | (cp >> 6 & 0x3f)));
                buf_putc(out, (char)(0x80 | (cp & 0x3f)));
            } else if (cp < 0x110000) {
                buf_putc(out, (char)(0xf0 | cp >> 18));
                buf_putc(out, (char)(0x80 | (cp >> 12 & 0x3f)));
                buf_putc(out, (char)(0x80 | (cp >> 6 & 0x3f)));
                buf_putc(out, (char)(0x80 | (cp & 0x3f)));
            } else {
                return false;
            }
            break;
        }
        case 0: return false;
        default: buf_putc(out, '\\'); buf_putc(out, *s); break;
        }
    }
    return *s == q;
}

/* RouterBench CSV: sample_id, prompt, eval_name, model score columns, "<model>|..." columns. */
static int read_routerbench(struct builder *b, const char *path, struct err *e)
{
    struct csv c;
    if (csv_open(&c, path, e))
        return -1;
    int rc = csv_next(&c, e);
    size_t n_cols = c.row.n;
    long cid = -1, cp = -1, cg = -1;
    struct strvec header = {0};
    if (rc == 1) {
        rc = 0;
        for (size_t j = 0; j < n_cols; j++) {
            sv_push(&header, xstrdup(c.row.v[j]));
            if (!strcmp(c.row.v[j], "sample_id"))
                cid = (long)j;
            else if (!strcmp(c.row.v[j], "prompt"))
                cp = (long)j;
            else if (!strcmp(c.row.v[j], "eval_name"))
                cg = (long)j;
        }
        if (cid < 0 || cp < 0 || cg < 0)
            rc = err_set(e, "%s:1: expected sample_id, prompt and eval_name columns", path);
    } else if (rc == 0) {
        rc = err_set(e, "%s: empty", path);
    }
    /* Pass 1: prompts. Pass 2 (after every prompt exists): scores. */
    size_t first = b->ids.n;
    struct buf text;
    buf_init(&text);
    while (rc == 0 && (rc = csv_next(&c, e)) == 1) {
        rc = 0;
        if (c.row.n != n_cols) {
            rc = err_set(e, "%s:%d: %zu fields, the header has %zu", path, c.line, c.row.n,
                         n_cols);
            break;
        }
        buf_clear(&text);
        char where[4300];
        snprintf(where, sizeof where, "%.4200s:%d", path, c.line);
        /* RouterBench reuses a sample_id for different prompts (arc-challenge.val.172 in
         * arc_challenge_test.csv): the later ones get "#2", "#3" ... */
        char id[600];
        snprintf(id, sizeof id, "%.500s", c.row.v[cid]);
        for (int k = 2; km_get(&b->by_id, id) != (size_t)-1 && k < 1000; k++)
            snprintf(id, sizeof id, "%.500s#%d", c.row.v[cid], k);
        if (!python_first_str(c.row.v[cp], &text))
            rc = err_set(e, "%s: prompt is not a Python list of strings", where);
        else
            rc = b_prompt(b, id, text.data ? text.data : "", c.row.v[cg], where, e);
    }
    buf_free(&text);
    if (rc == 0) {
        c.p = c.data;
        c.next_line = 1;
        csv_next(&c, e); /* the header again */
        long *cols = xcalloc(n_cols, sizeof *cols);
        for (size_t j = 0; j < n_cols && rc == 0; j++) {
            const char *h = header.v[j];
            bool model = (long)j != cid && (long)j != cp && (long)j != cg && !strchr(h, '|') &&
                         strcmp(h, "oracle_model_to_route_to") != 0;
            cols[j] = model ? b_model(b, h, path, e) : -2;
            if (cols[j] == -1)
                rc = -1;
        }
        for (size_t i = first; rc == 0 && csv_next(&c, e) == 1; i++)
            for (size_t j = 0; j < n_cols && rc == 0; j++) {
                float v;
                if (cols[j] < 0)
                    continue;
                rc = parse_cell(c.row.v[j], 0, 1, false, &v, &c, header.v[j], e);
                if (rc == 0)
                    b_set(b, i, (size_t)cols[j], v);
            }
        free(cols);
    }
    sv_free(&header);
    csv_close(&c);
    return rc < 0 ? -1 : 0;
}

/* RouterDC JSON: [{"question": ..., "scores": {model: value}}, ...]; ids are "<stem>#<index>". */
static int read_routerdc(struct builder *b, const char *path, const char *stem, struct err *e)
{
    json_error_t je;
    json_t *root = json_load_file(path, 0, &je);
    if (!root)
        return err_set(e, "%s:%d: %s", path, je.line, je.text);
    int rc = 0;
    if (!json_is_array(root))
        rc = err_set(e, "%s: expected a JSON array of {question, scores}", path);
    size_t first = b->ids.n, n = json_array_size(root);
    for (size_t i = 0; i < n && rc == 0; i++) {
        const json_t *rec = json_array_get(root, i);
        const char *q = json_string_value(json_object_get(rec, "question"));
        char id[600];
        snprintf(id, sizeof id, "%s#%zu", stem, i);
        if (!q || !json_is_object(json_object_get(rec, "scores")))
            rc = err_set(e, "%s: item %zu: expected question and scores", path, i);
        else
            rc = b_prompt(b, id, q, stem, path, e);
    }
    for (size_t i = 0; i < n && rc == 0; i++) {
        const json_t *scores = json_object_get(json_array_get(root, i), "scores");
        const char *model;
        const json_t *v;
        json_object_foreach((json_t *)scores, model, v) {
            long m = b_model(b, model, path, e);
            double x = json_number_value(v);
            if (m < 0) {
                rc = -1;
                break;
            }
            if (!json_is_number(v) || !(x >= 0 && x <= 1)) {
                rc = err_set(e, "%s: item %zu: score of %.64s is not a number in 0..1", path, i,
                             model);
                break;
            }
            b_set(b, first + i, (size_t)m, (float)x);
        }
    }
    json_decref(root);
    return rc;
}

static bool exists(const char *dir, const char *file)
{
    char p[4200];
    path_join(p, sizeof p, dir, file);
    struct stat st;
    return stat(p, &st) == 0 && S_ISREG(st.st_mode);
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Files in dir ending in ext, sorted by name (so the order never depends on the file system). */
static void list_files(const char *dir, const char *ext, struct strvec *out)
{
    DIR *d = opendir(dir);
    if (!d)
        return;
    struct dirent *de;
    size_t le = strlen(ext);
    while ((de = readdir(d))) {
        size_t n = strlen(de->d_name);
        if (n > le && !strcmp(de->d_name + n - le, ext) && de->d_name[0] != '.')
            sv_push(out, xstrdup(de->d_name));
    }
    closedir(d);
    if (out->n)
        qsort(out->v, out->n, sizeof *out->v, cmp_str);
}

/* The header's first field of a CSV (the wide layouts' key field name). */
static int first_header(const char *path, char *out, size_t n, struct err *e)
{
    struct csv c;
    if (csv_open(&c, path, e))
        return -1;
    int rc = csv_next(&c, e);
    if (rc == 1)
        snprintf(out, n, "%s", c.row.v[0]);
    else if (rc == 0)
        err_set(e, "%s: empty", path);
    csv_close(&c);
    return rc == 1 ? 0 : -1;
}

static int load_into(struct builder *b, const char *dir, struct err *e)
{
    char q[4200], m[4200], key[256];
    static const struct {
        const char *questions, *matrix, *group;
        float lo, hi;
    } wide[] = {
        {"questions.jsonl", "correct_matrix.csv", "category", 0, 1},
        {"prompts.jsonl", "ae2_weighted_gpt4turbo_winprob_matrix.csv", "dataset", 0, 1},
        {"question.jsonl", "scores_matrix.csv", "category", 1, 10},
    };
    for (size_t i = 0; i < sizeof wide / sizeof *wide; i++) {
        if (!exists(dir, wide[i].questions) || !exists(dir, wide[i].matrix))
            continue;
        path_join(q, sizeof q, dir, wide[i].questions);
        path_join(m, sizeof m, dir, wide[i].matrix);
        if (first_header(m, key, sizeof key, e) ||
            read_questions(b, q, key, wide[i].group, e) ||
            read_wide(b, m, wide[i].lo, wide[i].hi, e))
            return -1;
        return 0;
    }
    if (exists(dir, "questions.jsonl") && exists(dir, "results_long.csv")) {
        path_join(q, sizeof q, dir, "questions.jsonl");
        path_join(m, sizeof m, dir, "results_long.csv");
        if (first_header(m, key, sizeof key, e) || read_questions(b, q, key, "prefix", e) ||
            read_long(b, m, e))
            return -1;
        return 0;
    }
    struct strvec files = {0};
    list_files(dir, ".csv", &files);
    int rc = 0;
    for (size_t i = 0; i < files.n && rc == 0; i++) {
        path_join(q, sizeof q, dir, files.v[i]);
        rc = read_routerbench(b, q, e);
    }
    size_t n_csv = files.n;
    sv_free(&files);
    if (n_csv)
        return rc;
    list_files(dir, ".json", &files);
    for (size_t i = 0; i < files.n; i++) {
        path_join(q, sizeof q, dir, files.v[i]);
        char stem[256];
        snprintf(stem, sizeof stem, "%s", files.v[i]);
        stem[strlen(stem) - 5] = 0;
        rc = read_routerdc(b, q, stem, e);
        if (rc)
            break;
    }
    size_t n_json = files.n;
    sv_free(&files);
    if (n_json)
        return rc;
    return err_set(e, "%s: no router data found (expected questions.jsonl + correct_matrix.csv, "
                      "prompts.jsonl + ae2_*_winprob_matrix.csv, question.jsonl + "
                      "scores_matrix.csv, questions.jsonl + results_long.csv, RouterBench *.csv "
                      "or RouterDC *.json)", dir);
}

int rdata_load(const char *dir, struct rdata **out, struct err *e)
{
    struct stat st;
    if (stat(dir, &st) != 0)
        return err_set(e, "%s: %s", dir, strerror(errno));
    if (!S_ISDIR(st.st_mode))
        return err_set(e, "%s: not a directory", dir);
    struct builder b;
    b_init(&b);
    if (load_into(&b, dir, e)) {
        b_free(&b);
        return -1;
    }
    if (b.ids.n == 0) {
        b_free(&b);
        return err_set(e, "%s: no prompts", dir);
    }
    *out = b_finish(&b, dir);
    return 0;
}

void rdata_free(struct rdata *d)
{
    if (!d)
        return;
    for (size_t i = 0; i < d->n_prompts; i++) {
        free(d->ids[i]);
        free(d->texts[i]);
        free(d->groups[i]);
    }
    for (size_t i = 0; i < d->n_models; i++)
        free(d->models[i]);
    free(d->ids);
    free(d->texts);
    free(d->groups);
    free(d->models);
    free(d->quality);
    free(d->source);
    free(d);
}

int rdata_model(const struct rdata *d, const char *name)
{
    for (size_t i = 0; i < d->n_models; i++)
        if (!strcmp(d->models[i], name))
            return (int)i;
    return -1;
}

bool rdata_is_virtual_one(const char *name)
{
    return !strcmp(name, "@1");
}

void rdata_filter(struct rdata *d, const bool *keep)
{
    size_t w = 0;
    for (size_t i = 0; i < d->n_prompts; i++) {
        if (!keep[i]) {
            free(d->ids[i]);
            free(d->texts[i]);
            free(d->groups[i]);
            continue;
        }
        d->ids[w] = d->ids[i];
        d->texts[w] = d->texts[i];
        d->groups[w] = d->groups[i];
        memmove(&d->quality[w * d->n_models], &d->quality[i * d->n_models],
                d->n_models * sizeof *d->quality);
        w++;
    }
    d->n_prompts = w;
}

int rdata_keep_groups(struct rdata *d, const char *groups, struct err *e)
{
    bool *keep = xcalloc(d->n_prompts + 1, sizeof *keep);
    size_t kept = 0;
    for (size_t i = 0; i < d->n_prompts; i++)
        kept += keep[i] = rdata_csv_has(groups, d->groups[i]);
    if (!kept) {
        struct buf b;
        buf_init(&b);
        for (size_t i = 0; i < d->n_prompts && b.len < 300; i++) {
            bool seen = false;
            for (size_t j = 0; j < i && !seen; j++)
                seen = !strcmp(d->groups[j], d->groups[i]);
            if (!seen)
                buf_printf(&b, "%s%s", b.len ? ", " : "", d->groups[i]);
        }
        err_set(e, "%s: no prompt in group '%.64s' (groups: %s)", d->source, groups,
                b.data ? b.data : "none");
        buf_free(&b);
        free(keep);
        return -1;
    }
    rdata_filter(d, keep);
    free(keep);
    return (int)kept;
}

bool rdata_csv_has(const char *list, const char *s)
{
    if (!list)
        return false;
    size_t n = strlen(s);
    for (const char *p = list; *p;) {
        const char *c = strchr(p, ',');
        size_t len = c ? (size_t)(c - p) : strlen(p);
        if (len == n && !strncmp(p, s, n))
            return true;
        p += len + (c != NULL);
    }
    return false;
}
