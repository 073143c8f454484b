/* jinja_eval: runs a parsed template, as @huggingface/jinja's Interpreter (runtime.ts) does.
 *
 * Scopes (struct env) chain to their parent: a for loop opens one scope for the whole loop (a
 * `set` in the body is visible in later iterations, not after the loop); a macro runs in a new
 * scope whose parent is the *caller's* scope (the reference's dynamic scoping); if blocks and set
 * blocks use the current scope. Every scope answers `namespace` itself unless it set that name.
 *
 * Output goes to one arena string per capture (the prompt, a macro call, a set block, a filter
 * block). {% break %} / {% continue %} return through the statement runners; the reference
 * implements them as exceptions, so the output of the interrupted iteration is dropped and an
 * interrupted first iteration still counts as "no iteration" for the loop's else block: both
 * are kept.
 *
 * Filters, tests and methods are exactly the reference's, type by type (the tables in
 * docs/templates.md): anything else fails with its name, the value's type and the line.
 */
#include "engine/jinja_impl.h"

#include "engine/template.h"
#include "engine/unicode.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

struct env_var {
    uint32_t sym;
    struct jinja_val v;
};

struct jinja_env {
    struct jinja_env *parent;
    size_t n, cap;
    struct env_var *vars;
};

struct rt {
    struct jinja_ctx *c;
    const struct jinja_program *prog;
    const struct jinja_limits *lim;
    const struct tm *now;
    uint64_t steps;
    int depth;
    struct jinja_val fn_namespace;
};

enum flow { FLOW_NORMAL, FLOW_BREAK, FLOW_CONTINUE };

enum global_fn { G_RAISE, G_RANGE, G_STRFTIME, G_NAMESPACE };

enum str_method {
    SM_UPPER, SM_LOWER, SM_STRIP, SM_TITLE, SM_CAPITALIZE, SM_RSTRIP, SM_LSTRIP,
    SM_STARTSWITH, SM_ENDSWITH, SM_SPLIT, SM_REPLACE, SM_COUNT_
};
static const char *const g_str_methods[SM_COUNT_] = {
    "upper", "lower", "strip", "title", "capitalize", "rstrip", "lstrip",
    "startswith", "endswith", "split", "replace",
};

enum obj_method { OM_GET, OM_ITEMS, OM_KEYS, OM_VALUES, OM_DICTSORT, OM_COUNT_ };
static const char *const g_obj_methods[OM_COUNT_] = {"get", "items", "keys", "values", "dictsort"};

/* A call's evaluated arguments: positional values, keyword values. */
struct args {
    struct jinja_val *v;
    size_t n, cap;
    struct jinja_obj *kw; /* NULL if none */
};

static struct jinja_val eval(struct rt *rt, const struct jinja_node *n, struct jinja_env *env);
static struct jinja_val eval_opt(struct rt *rt, const struct jinja_node *n, struct jinja_env *env);
static int exec_list(struct rt *rt, struct jinja_list l, struct jinja_env *env,
                     struct jinja_sb *out);
static struct jinja_val call_fn(struct rt *rt, struct jinja_val fn, struct args *a,
                                struct jinja_env *env, uint32_t line);

/* ---- errors and small helpers ------------------------------------------------------------------ */

static _Noreturn void rt_fail(struct rt *rt, uint32_t line, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static _Noreturn void rt_fail(struct rt *rt, uint32_t line, const char *fmt, ...)
{
    char msg[ERR_MSG_MAX];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    jinja_fail(rt->c, TMPL_ERR_RENDER, line, "%s", msg);
}

/* Human names of value types, for messages. */
static const char *tname(struct jinja_val v)
{
    static const char *const names[] = {
        [JV_UNDEF] = "an undefined value", [JV_NULL] = "none",     [JV_BOOL] = "a boolean",
        [JV_INT] = "an integer",           [JV_FLOAT] = "a float", [JV_STR] = "a string",
        [JV_ARRAY] = "a list",             [JV_TUPLE] = "a tuple", [JV_OBJECT] = "a mapping",
        [JV_KWARGS] = "keyword arguments", [JV_NS] = "a namespace", [JV_FUNC] = "a function",
        [JV_MISSING] = "nothing (|first or |last of an empty list)",
    };
    return names[v.type];
}

static int svlen(struct jinja_sv s)
{
    return (int)(s.len > 60 ? 60 : s.len);
}

static struct jinja_sv sv(const char *s)
{
    return (struct jinja_sv){s, strlen(s)};
}

static void step(struct rt *rt, uint32_t line)
{
    if (++rt->steps > rt->lim->max_steps)
        rt_fail(rt, line, "the template takes more than %llu evaluation steps",
                (unsigned long long)rt->lim->max_steps);
}

static void emit(struct rt *rt, struct jinja_sb *out, struct jinja_val v, uint32_t line)
{
    if (v.type != JV_NULL && v.type != JV_UNDEF)
        jinja_put_value(rt->c, out, v, line);
}

static struct jinja_val sb_val(const struct jinja_sb *b)
{
    return jv_str(jinja_sb_sv(b));
}

static struct jinja_sb new_sb(struct rt *rt)
{
    struct jinja_sb b;
    jinja_sb_init(&b, rt->lim->max_output_bytes);
    return b;
}

static struct jinja_val str_concat(struct rt *rt, struct jinja_sv a, struct jinja_sv b)
{
    struct jinja_sb s = new_sb(rt);
    jinja_sb_put(rt->c, &s, a.p, a.len);
    jinja_sb_put(rt->c, &s, b.p, b.len);
    return sb_val(&s);
}

static void args_push(struct rt *rt, struct args *a, struct jinja_val v)
{
    if (a->n == a->cap) {
        size_t cap = a->cap ? a->cap * 2 : 8;
        struct jinja_val *nv = jinja_alloc(rt->c, cap * sizeof *nv);
        if (a->n)
            memcpy(nv, a->v, a->n * sizeof *nv);
        a->v = nv;
        a->cap = cap;
    }
    a->v[a->n++] = v;
}

static struct jinja_val *kwarg(const struct args *a, const char *name)
{
    return a->kw ? jv_obj_get(a->kw, sv(name)) : NULL;
}

/* args.at(i) ?? kwargs.get(name) ?? def, the reference's way of reading a parameter */
static struct jinja_val param(const struct args *a, size_t i, const char *name, struct jinja_val def)
{
    if (i < a->n)
        return a->v[i];
    struct jinja_val *k = name ? kwarg(a, name) : NULL;
    return k ? *k : def;
}

static struct jinja_val array_of(struct rt *rt, const struct jinja_val *v, size_t n)
{
    struct jinja_val a = jv_array(rt->c, n);
    if (n)
        memcpy(a.u.arr->v, v, n * sizeof *v);
    return a;
}

/* ---- scopes ------------------------------------------------------------------------------------- */

static struct jinja_env *env_new(struct rt *rt, struct jinja_env *parent)
{
    struct jinja_env *e = jinja_alloc(rt->c, sizeof *e);
    e->parent = parent;
    e->n = e->cap = 0;
    e->vars = NULL;
    return e;
}

static void env_set(struct rt *rt, struct jinja_env *e, uint32_t sym, struct jinja_val v)
{
    for (size_t i = 0; i < e->n; i++)
        if (e->vars[i].sym == sym) {
            e->vars[i].v = v;
            return;
        }
    if (e->n == e->cap) {
        size_t cap = e->cap ? e->cap * 2 : 4;
        struct env_var *nv = jinja_alloc(rt->c, cap * sizeof *nv);
        if (e->n)
            memcpy(nv, e->vars, e->n * sizeof *nv);
        e->vars = nv;
        e->cap = cap;
    }
    e->vars[e->n].sym = sym;
    e->vars[e->n].v = v;
    e->n++;
}

static struct jinja_val env_lookup(struct rt *rt, const struct jinja_env *e, uint32_t sym)
{
    if (sym == SYM_NAMESPACE) {
        /* every scope starts with its own `namespace`: the innermost one answers */
        for (size_t i = 0; i < e->n; i++)
            if (e->vars[i].sym == sym)
                return e->vars[i].v;
        return rt->fn_namespace;
    }
    for (; e; e = e->parent)
        for (size_t i = 0; i < e->n; i++)
            if (e->vars[i].sym == sym)
                return e->vars[i].v;
    return jinja_undef;
}

static struct jinja_val make_fn(struct rt *rt, int kind, int id, struct jinja_val self)
{
    struct jinja_fn *f = jinja_alloc(rt->c, sizeof *f);
    memset(f, 0, sizeof *f);
    f->kind = (uint8_t)kind;
    f->id = (uint8_t)id;
    f->self = self;
    return (struct jinja_val){.type = JV_FUNC, .u.fn = f};
}

/* ---- comparing and sorting ---------------------------------------------------------------------- */

static bool numeric_like(struct jinja_val v)
{
    return v.type == JV_INT || v.type == JV_FLOAT || v.type == JV_BOOL;
}

static double num_of(struct jinja_val v)
{
    return v.type == JV_BOOL ? (v.u.b ? 1 : 0) : v.u.num;
}

/* compareRuntimeValues */
static int compare_values(struct rt *rt, struct jinja_val a, struct jinja_val b, bool case_sensitive,
                          uint32_t line)
{
    if (a.type == JV_NULL && b.type == JV_NULL)
        return 0;
    if (a.type == JV_UNDEF && b.type == JV_UNDEF)
        return 0;
    if (a.type == JV_NULL || b.type == JV_NULL || a.type == JV_UNDEF || b.type == JV_UNDEF)
        rt_fail(rt, line, "cannot compare %s with %s", tname(a), tname(b));
    if (numeric_like(a) && numeric_like(b)) {
        double x = num_of(a), y = num_of(b);
        return x < y ? -1 : x > y ? 1 : 0;
    }
    if (a.type != b.type)
        rt_fail(rt, line, "cannot compare different types: %s and %s", tname(a), tname(b));
    if (a.type != JV_STR)
        rt_fail(rt, line, "cannot compare %s values", tname(a));
    struct jinja_sv x = a.u.s, y = b.u.s;
    if (!case_sensitive) {
        x = jinja_case(rt->c, x, false);
        y = jinja_case(rt->c, y, false);
    }
    return jinja_str_cmp(x, y);
}

struct sort_ctx {
    struct rt *rt;
    uint32_t line;
    bool case_sensitive, reverse;
    struct jinja_sv attr; /* sort key path, or .p == NULL for the items themselves */
    int by_index;         /* dictsort: 0 key, 1 value; -1 otherwise */
};

static struct jinja_val attribute_path(struct jinja_val item, struct jinja_sv path);

static struct jinja_val sort_key(const struct sort_ctx *s, struct jinja_val v)
{
    if (s->by_index >= 0)
        return v.u.arr->v[s->by_index];
    if (s->attr.p)
        return attribute_path(v, s->attr);
    return v;
}

static int sort_cmp(const struct sort_ctx *s, struct jinja_val a, struct jinja_val b)
{
    int r = compare_values(s->rt, sort_key(s, a), sort_key(s, b), s->case_sensitive, s->line);
    return s->reverse ? -r : r;
}

/* Stable merge sort (Array.prototype.sort is stable); the comparator may fail the render. */
static void merge_sort(const struct sort_ctx *s, struct jinja_val *v, struct jinja_val *tmp, size_t n)
{
    if (n < 2)
        return;
    size_t h = n / 2;
    merge_sort(s, v, tmp, h);
    merge_sort(s, v + h, tmp, n - h);
    size_t i = 0, j = h, k = 0;
    while (i < h && j < n)
        tmp[k++] = sort_cmp(s, v[j], v[i]) < 0 ? v[j++] : v[i++];
    while (i < h)
        tmp[k++] = v[i++];
    while (j < n)
        tmp[k++] = v[j++];
    memcpy(v, tmp, n * sizeof *v);
}

static struct jinja_val sorted_copy(const struct sort_ctx *s, const struct jinja_arr *a)
{
    struct jinja_val out = array_of(s->rt, a->v, a->n);
    if (a->n > 1) {
        struct jinja_val *tmp = jinja_alloc(s->rt->c, a->n * sizeof *tmp);
        merge_sort(s, out.u.arr->v, tmp, a->n);
    }
    return out;
}

/* getAttributeValue: "a.b.0" through mappings, namespaces and lists. */
static struct jinja_val attribute_path(struct jinja_val item, struct jinja_sv path)
{
    struct jinja_val v = item;
    size_t start = 0;
    for (;;) {
        size_t end = start;
        while (end < path.len && path.p[end] != '.')
            end++;
        struct jinja_sv part = {path.p + start, end - start};
        if (jv_is_object(v) || v.type == JV_NS) {
            struct jinja_val *x = jv_obj_get(v.u.obj, part);
            v = x && x->type != JV_MISSING ? *x : jinja_undef;
        } else if (jv_is_array(v)) {
            double idx = jinja_parse_int(part);
            if (isnan(idx) || idx < 0 || idx >= (double)v.u.arr->n)
                return jinja_undef;
            v = v.u.arr->v[(size_t)idx];
        } else {
            return jinja_undef;
        }
        if (end >= path.len)
            return v;
        start = end + 1;
    }
}

/* ---- strings ------------------------------------------------------------------------------------- */

static struct jinja_val str_title(struct rt *rt, struct jinja_sv s)
{
    /* /\b\w/g -> upper: an ASCII word character after a non-word one */
    char *d = jinja_strdup(rt->c, s.p, s.len);
    bool prev_word = false;
    for (size_t i = 0; i < s.len; i++) {
        char ch = d[i];
        bool w = (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') ||
                 ch == '_';
        if (w && !prev_word && ch >= 'a' && ch <= 'z')
            d[i] = (char)(ch - 32);
        prev_word = w;
    }
    return jv_str((struct jinja_sv){d, s.len});
}

static struct jinja_val str_capitalize(struct rt *rt, struct jinja_sv s)
{
    if (s.len == 0)
        return jv_str(s);
    size_t off = 0;
    uint32_t cp = unicode_decode(s.p, s.len, &off);
    if (cp >= 0x10000)
        return jv_str(s); /* charAt(0) is half a surrogate pair: unchanged */
    struct jinja_sv first = jinja_case(rt->c, (struct jinja_sv){s.p, off}, true);
    return str_concat(rt, first, (struct jinja_sv){s.p + off, s.len - off});
}

static bool sv_starts(struct jinja_sv s, struct jinja_sv pre)
{
    return s.len >= pre.len && memcmp(s.p, pre.p, pre.len) == 0;
}

static bool sv_ends(struct jinja_sv s, struct jinja_sv suf)
{
    return s.len >= suf.len && memcmp(s.p + s.len - suf.len, suf.p, suf.len) == 0;
}

static const char *sv_find(struct jinja_sv hay, size_t from, struct jinja_sv needle)
{
    if (needle.len == 0)
        return hay.p + from;
    if (hay.len < needle.len)
        return NULL;
    for (size_t i = from; i + needle.len <= hay.len; i++)
        if (hay.p[i] == needle.p[0] && memcmp(hay.p + i, needle.p, needle.len) == 0)
            return hay.p + i;
    return NULL;
}

static struct jinja_val str_prefix_test(struct rt *rt, struct jinja_sv s, const struct args *a,
                                        bool ends, uint32_t line)
{
    const char *name = ends ? "endswith" : "startswith";
    if (a->n == 0)
        rt_fail(rt, line, "%s() requires an argument", name);
    struct jinja_val p = a->v[0];
    if (p.type == JV_STR)
        return jv_bool(ends ? sv_ends(s, p.u.s) : sv_starts(s, p.u.s));
    if (jv_is_array(p)) {
        for (size_t i = 0; i < p.u.arr->n; i++) {
            struct jinja_val x = p.u.arr->v[i];
            if (x.type != JV_STR)
                rt_fail(rt, line, "%s() tuple elements must be strings", name);
            if (ends ? sv_ends(s, x.u.s) : sv_starts(s, x.u.s))
                return jv_bool(true);
        }
        return jv_bool(false);
    }
    rt_fail(rt, line, "%s() argument must be a string or tuple of strings, not %s", name, tname(p));
}

static struct jinja_val str_split(struct rt *rt, struct jinja_sv s, const struct args *a,
                                  uint32_t line)
{
    struct jinja_val sep = a->n > 0 ? a->v[0] : jinja_null;
    if (sep.type != JV_STR && sep.type != JV_NULL)
        rt_fail(rt, line, "split(): the separator must be a string or none, not %s", tname(sep));
    struct jinja_val maxv = a->n > 1 ? a->v[1] : jv_int(-1);
    if (maxv.type != JV_INT)
        rt_fail(rt, line, "split(): maxsplit must be an integer, not %s", tname(maxv));
    double maxsplit = maxv.u.num;
    struct args parts = {0};
    if (sep.type == JV_NULL) {
        struct jinja_sv t = jinja_trim(s, true, false);
        size_t i = 0;
        while (i < t.len) {
            size_t w;
            while (i < t.len && (w = jinja_space_at(t.p, t.len, i)) > 0)
                i += w;
            if (i >= t.len)
                break;
            size_t start = i;
            while (i < t.len && jinja_space_at(t.p, t.len, i) == 0)
                i++;
            if (maxsplit != -1 && (double)parts.n >= maxsplit) {
                args_push(rt, &parts, jv_str((struct jinja_sv){t.p + start, t.len - start}));
                break;
            }
            args_push(rt, &parts, jv_str((struct jinja_sv){t.p + start, i - start}));
        }
    } else {
        struct jinja_sv d = sep.u.s;
        if (d.len == 0)
            rt_fail(rt, line, "split(): empty separator");
        size_t i = 0;
        for (;;) {
            const char *m = sv_find(s, i, d);
            if (!m) {
                args_push(rt, &parts, jv_str((struct jinja_sv){s.p + i, s.len - i}));
                break;
            }
            args_push(rt, &parts, jv_str((struct jinja_sv){s.p + i, (size_t)(m - s.p) - i}));
            i = (size_t)(m - s.p) + d.len;
        }
        if (maxsplit != -1 && (double)parts.n > maxsplit) {
            /* result.push(result.splice(maxsplit).join(sep)) */
            double k = maxsplit < 0 ? fmax((double)parts.n + maxsplit, 0) : maxsplit;
            size_t keep = (size_t)k;
            struct jinja_sb b = new_sb(rt);
            for (size_t j = keep; j < parts.n; j++) {
                if (j > keep)
                    jinja_sb_put(rt->c, &b, d.p, d.len);
                jinja_sb_put(rt->c, &b, parts.v[j].u.s.p, parts.v[j].u.s.len);
            }
            parts.n = keep;
            args_push(rt, &parts, sb_val(&b));
        }
    }
    return array_of(rt, parts.v, parts.n);
}

static struct jinja_val str_replace(struct rt *rt, struct jinja_sv s, const struct args *a,
                                    uint32_t line)
{
    if (a->n < 2)
        rt_fail(rt, line, "replace() requires two arguments");
    struct jinja_val from = a->v[0], to = a->v[1];
    if (from.type != JV_STR || to.type != JV_STR)
        rt_fail(rt, line, "replace() arguments must be strings, not %s and %s", tname(from),
                tname(to));
    struct jinja_val count = jinja_null;
    if (a->n > 2) {
        if (a->v[2].type == JV_KWARGS) {
            struct jinja_val *c = jv_obj_get(a->v[2].u.obj, sv("count"));
            count = c ? *c : jinja_null;
        } else {
            count = a->v[2];
        }
    }
    if (count.type != JV_INT && count.type != JV_NULL)
        rt_fail(rt, line, "replace(): count must be an integer or none, not %s", tname(count));
    if (count.type == JV_INT && count.u.num == 0)
        return jv_str(s);
    double remaining = count.type == JV_NULL || count.u.num < 0 ? INFINITY : count.u.num;
    struct jinja_sb b = new_sb(rt);
    struct jinja_sv f = from.u.s, t = to.u.s;
    if (f.len == 0) {
        /* an empty pattern matches before every character and at the end */
        size_t i = 0;
        for (;;) {
            if (remaining > 0) {
                jinja_sb_put(rt->c, &b, t.p, t.len);
                remaining--;
            }
            if (i >= s.len)
                break;
            size_t off = i;
            unicode_decode(s.p, s.len, &off);
            jinja_sb_put(rt->c, &b, s.p + i, off - i);
            i = off;
        }
        return sb_val(&b);
    }
    size_t i = 0;
    while (remaining > 0) {
        const char *m = sv_find(s, i, f);
        if (!m)
            break;
        jinja_sb_put(rt->c, &b, s.p + i, (size_t)(m - s.p) - i);
        jinja_sb_put(rt->c, &b, t.p, t.len);
        i = (size_t)(m - s.p) + f.len;
        remaining--;
    }
    jinja_sb_put(rt->c, &b, s.p + i, s.len - i);
    return sb_val(&b);
}

static struct jinja_val str_method(struct rt *rt, int id, struct jinja_sv s, const struct args *a,
                                   uint32_t line)
{
    switch (id) {
    case SM_UPPER: return jv_str(jinja_case(rt->c, s, true));
    case SM_LOWER: return jv_str(jinja_case(rt->c, s, false));
    case SM_STRIP: return jv_str(jinja_trim(s, true, true));
    case SM_LSTRIP: return jv_str(jinja_trim(s, true, false));
    case SM_RSTRIP: return jv_str(jinja_trim(s, false, true));
    case SM_TITLE: return str_title(rt, s);
    case SM_CAPITALIZE: return str_capitalize(rt, s);
    case SM_STARTSWITH: return str_prefix_test(rt, s, a, false, line);
    case SM_ENDSWITH: return str_prefix_test(rt, s, a, true, line);
    case SM_SPLIT: return str_split(rt, s, a, line);
    default: return str_replace(rt, s, a, line);
    }
}

/* String s[i] with JavaScript's at(): UTF-16 index, negative from the end. */
static struct jinja_val str_at(struct rt *rt, struct jinja_sv s, double idx)
{
    double len = (double)jinja_utf16_len(s);
    idx = trunc(idx);
    if (idx < 0)
        idx += len;
    if (!(idx >= 0 && idx < len))
        return jinja_undef;
    size_t unit = 0;
    for (size_t i = 0; i < s.len;) {
        size_t off = i;
        uint32_t cp = unicode_decode(s.p, s.len, &off);
        size_t w = cp >= 0x10000 ? 2 : 1;
        if ((double)unit + (double)w > idx) {
            if (w == 2)
                return jv_cstr("\xEF\xBF\xBD"); /* half of a surrogate pair */
            return jv_str((struct jinja_sv){s.p + i, off - i});
        }
        unit += w;
        i = off;
    }
    (void)rt;
    return jinja_undef;
}

/* Code points of s as one-character strings (Array.from(string)). */
static struct jinja_val str_chars(struct rt *rt, struct jinja_sv s)
{
    struct args parts = {0};
    for (size_t i = 0; i < s.len;) {
        size_t off = i;
        unicode_decode(s.p, s.len, &off);
        args_push(rt, &parts, jv_str((struct jinja_sv){s.p + i, off - i}));
        i = off;
    }
    return array_of(rt, parts.v, parts.n);
}

/* ---- mapping methods ----------------------------------------------------------------------------- */

static struct jinja_val obj_items(struct rt *rt, const struct jinja_obj *o)
{
    struct jinja_val a = jv_array(rt->c, o->n);
    for (size_t i = 0; i < o->n; i++) {
        struct jinja_val pair = jv_array(rt->c, 2);
        pair.u.arr->v[0] = jv_str(o->kv[i].key);
        pair.u.arr->v[1] = o->kv[i].val;
        a.u.arr->v[i] = pair;
    }
    return a;
}

static struct jinja_val obj_keys(struct rt *rt, const struct jinja_obj *o)
{
    struct jinja_val a = jv_array(rt->c, o->n);
    for (size_t i = 0; i < o->n; i++)
        a.u.arr->v[i] = jv_str(o->kv[i].key);
    return a;
}

static struct jinja_val obj_method(struct rt *rt, int id, const struct jinja_obj *o,
                                   const struct args *a, uint32_t line)
{
    switch (id) {
    case OM_GET: {
        struct jinja_val key = a->n > 0 ? a->v[0] : jinja_undef;
        if (key.type != JV_STR)
            rt_fail(rt, line, "get(): the key must be a string, not %s", tname(key));
        struct jinja_val *v = jv_obj_get(o, key.u.s);
        if (v)
            return *v;
        return a->n > 1 ? a->v[1] : jinja_null;
    }
    case OM_ITEMS: return obj_items(rt, o);
    case OM_KEYS: return obj_keys(rt, o);
    case OM_VALUES: {
        struct jinja_val v = jv_array(rt->c, o->n);
        for (size_t i = 0; i < o->n; i++)
            v.u.arr->v[i] = o->kv[i].val;
        return v;
    }
    default: {
        /* dictsort(case_sensitive=false, by='key', reverse=false) */
        struct args pos = {0};
        const struct jinja_obj *kw = NULL;
        for (size_t i = 0; i < a->n; i++) {
            if (a->v[i].type == JV_KWARGS)
                kw = a->v[i].u.obj;
            else
                args_push(rt, &pos, a->v[i]);
        }
        pos.kw = (struct jinja_obj *)kw;
        struct jinja_val cs = param(&pos, 0, "case_sensitive", jv_bool(false));
        struct jinja_val by = param(&pos, 1, "by", jv_cstr("key"));
        struct jinja_val rev = param(&pos, 2, "reverse", jv_bool(false));
        if (cs.type != JV_BOOL)
            rt_fail(rt, line, "dictsort(): case_sensitive must be a boolean");
        if (by.type != JV_STR || !(jinja_sv_eqc(by.u.s, "key") || jinja_sv_eqc(by.u.s, "value")))
            rt_fail(rt, line, "dictsort(): by must be 'key' or 'value'");
        if (rev.type != JV_BOOL)
            rt_fail(rt, line, "dictsort(): reverse must be a boolean");
        struct sort_ctx s = {rt, line, cs.u.b, rev.u.b, {NULL, 0},
                             jinja_sv_eqc(by.u.s, "key") ? 0 : 1};
        struct jinja_val items = obj_items(rt, o);
        return sorted_copy(&s, items.u.arr);
    }
    }
}

/* ---- globals -------------------------------------------------------------------------------------- */

static void put_2d(struct rt *rt, struct jinja_sb *b, int v)
{
    char buf[16];
    snprintf(buf, sizeof buf, "%02d", v);
    jinja_sb_puts(rt->c, b, buf);
}

static struct jinja_val strftime_now(struct rt *rt, const struct args *a, uint32_t line)
{
    static const char *const months[] = {"January", "February", "March",     "April",
                                         "May",     "June",     "July",      "August",
                                         "September", "October", "November", "December"};
    if (a->n < 1 || a->v[0].type != JV_STR)
        rt_fail(rt, line, "strftime_now() takes a format string");
    struct tm now;
    if (rt->now) {
        now = *rt->now;
    } else {
        time_t t = time(NULL);
        localtime_r(&t, &now);
    }
    struct jinja_sv f = a->v[0].u.s;
    struct jinja_sb b = new_sb(rt);
    for (size_t i = 0; i < f.len; i++) {
        if (f.p[i] == '%' && i + 1 < f.len && f.p[i + 1] && strchr("YmdbBHM%", f.p[i + 1])) {
            char c = f.p[++i];
            int mon = now.tm_mon >= 0 && now.tm_mon < 12 ? now.tm_mon : 0;
            switch (c) {
            case 'Y': {
                char y[16];
                snprintf(y, sizeof y, "%d", now.tm_year + 1900);
                jinja_sb_puts(rt->c, &b, y);
                break;
            }
            case 'm': put_2d(rt, &b, now.tm_mon + 1); break;
            case 'd': put_2d(rt, &b, now.tm_mday); break;
            case 'b': jinja_sb_put(rt->c, &b, months[mon], 3); break;
            case 'B': jinja_sb_puts(rt->c, &b, months[mon]); break;
            case 'H': put_2d(rt, &b, now.tm_hour); break;
            case 'M': put_2d(rt, &b, now.tm_min); break;
            default: jinja_sb_put(rt->c, &b, "%", 1); break;
            }
            continue;
        }
        jinja_sb_put(rt->c, &b, f.p + i, 1);
    }
    return sb_val(&b);
}

static struct jinja_val range_fn(struct rt *rt, const struct args *a, uint32_t line)
{
    for (size_t i = 0; i < a->n; i++)
        if (!numeric_like(a->v[i]))
            rt_fail(rt, line, "range() takes numbers, not %s", tname(a->v[i]));
    if (a->n < 1 || a->n > 3)
        rt_fail(rt, line, "range() takes 1 to 3 numbers");
    double start = 0, stop, stepv = 1;
    if (a->n == 1) {
        stop = num_of(a->v[0]);
    } else {
        start = num_of(a->v[0]);
        stop = num_of(a->v[1]);
        if (a->n == 3)
            stepv = num_of(a->v[2]);
    }
    if (stepv == 0)
        rt_fail(rt, line, "range() step must not be zero");
    struct args out = {0};
    for (double i = start; stepv > 0 ? i < stop : i > stop; i += stepv) {
        step(rt, line);
        args_push(rt, &out, floor(i) == i ? jv_int(i) : jv_float(i));
    }
    return array_of(rt, out.v, out.n);
}

static struct jinja_val namespace_fn(struct rt *rt, const struct args *a, uint32_t line)
{
    size_t npos = a->n;
    const struct jinja_obj *kw = NULL;
    if (npos && a->v[npos - 1].type == JV_KWARGS)
        kw = a->v[--npos].u.obj;
    if (npos > 1)
        rt_fail(rt, line, "namespace() takes at most 1 positional argument, got %zu", npos);
    struct jinja_val ns = jv_object(rt->c, JV_NS);
    if (npos == 1) {
        struct jinja_val src = a->v[0];
        if (jv_is_object(src)) {
            for (size_t i = 0; i < src.u.obj->n; i++)
                jv_obj_set(rt->c, ns.u.obj, src.u.obj->kv[i].key, src.u.obj->kv[i].val);
        } else if (jv_is_array(src)) {
            for (size_t i = 0; i < src.u.arr->n; i++) {
                struct jinja_val pair = src.u.arr->v[i];
                if (pair.type == JV_STR)
                    pair = str_chars(rt, pair.u.s);
                if (!jv_is_array(pair) || pair.u.arr->n != 2)
                    rt_fail(rt, line, "namespace() expected a mapping or a list of [key, value] "
                                      "pairs");
                if (pair.u.arr->v[0].type != JV_STR)
                    rt_fail(rt, line, "namespace() keys must be strings");
                jv_obj_set(rt->c, ns.u.obj, pair.u.arr->v[0].u.s, pair.u.arr->v[1]);
            }
        } else {
            rt_fail(rt, line, "namespace(): %s is not iterable", tname(src));
        }
    }
    if (kw)
        for (size_t i = 0; i < kw->n; i++)
            jv_obj_set(rt->c, ns.u.obj, kw->kv[i].key, kw->kv[i].val);
    return ns;
}

/* ---- macros ---------------------------------------------------------------------------------------- */

/* bindMacroArguments: parameters by position, then by keyword, then defaults (evaluated in the
 * new scope, after every parameter is bound). */
static void bind_params(struct rt *rt, const char *display, struct jinja_list params, int special,
                        struct args *a, struct jinja_env *scope, uint32_t line)
{
    size_t npos = a->n;
    struct jinja_val kw = jv_object(rt->c, JV_OBJECT);
    if (npos && a->v[npos - 1].type == JV_KWARGS) {
        const struct jinja_obj *src = a->v[--npos].u.obj;
        for (size_t i = 0; i < src->n; i++)
            jv_obj_set(rt->c, kw.u.obj, src->kv[i].key, src->kv[i].val);
    }
    bool *pending = params.n ? jinja_alloc(rt->c, params.n * sizeof *pending) : NULL;
    for (size_t i = 0; i < params.n; i++) {
        const struct jinja_node *p = params.v[i];
        pending[i] = false;
        struct jinja_val v = jinja_undef;
        bool have = i < npos && a->v[i].type != JV_MISSING;
        if (have)
            v = a->v[i];
        if (!have) {
            struct jinja_val *k = jv_obj_get(kw.u.obj, p->str);
            if (k) {
                v = *k;
                have = true;
                jv_obj_del(kw.u.obj, p->str);
            }
        }
        if (!have && p->kind == N_KWARG)
            pending[i] = true;
        env_set(rt, scope, p->sym, v);
    }
    if (special & JINJA_USES_KWARGS)
        env_set(rt, scope, SYM_KWARGS, kw);
    else if (kw.u.obj->n > 0)
        rt_fail(rt, line, "macro %s takes no keyword argument '%.*s'", display,
                svlen(kw.u.obj->kv[0].key), kw.u.obj->kv[0].key.p);
    if (special & JINJA_USES_VARARGS)
        env_set(rt, scope, SYM_VARARGS,
                array_of(rt, a->v + (npos > params.n ? params.n : npos),
                         npos > params.n ? npos - params.n : 0));
    else if (npos > params.n)
        rt_fail(rt, line, "macro %s takes not more than %zu argument(s)", display, params.n);
    for (size_t i = 0; i < params.n; i++)
        if (pending[i])
            env_set(rt, scope, params.v[i]->sym, eval(rt, params.v[i]->a, scope));
}

static struct jinja_val run_body(struct rt *rt, struct jinja_list body, struct jinja_env *scope,
                                 const char *what, uint32_t line)
{
    struct jinja_sb out = new_sb(rt);
    if (exec_list(rt, body, scope, &out) != FLOW_NORMAL)
        rt_fail(rt, line, "{%% break %%} or {%% continue %%} escapes %s (not supported)", what);
    return sb_val(&out);
}

static struct jinja_val call_fn(struct rt *rt, struct jinja_val fnv, struct args *a,
                                struct jinja_env *env, uint32_t line)
{
    const struct jinja_fn *fn = fnv.u.fn;
    switch (fn->kind) {
    case FN_MACRO: {
        struct jinja_env *scope = env_new(rt, env);
        char display[80];
        snprintf(display, sizeof display, "'%.*s'", svlen(fn->node->str), fn->node->str.p);
        bind_params(rt, display, fn->node->l3, fn->node->op, a, scope, line);
        return run_body(rt, fn->node->l1, scope, "a macro", fn->node->line);
    }
    case FN_CALLER: {
        struct jinja_env *scope = env_new(rt, fn->env);
        bind_params(rt, "None", fn->node->l3, fn->node->op, a, scope, line);
        return run_body(rt, fn->node->l1, scope, "a call block", fn->node->line);
    }
    default: break;
    }
    for (size_t i = 0; i < a->n; i++) {
        if (a->v[i].type != JV_MISSING)
            continue;
        if (fn->kind == FN_GLOBAL && fn->id == G_RAISE)
            a->v[i] = jinja_undef; /* Error(undefined) */
        else
            rt_fail(rt, line, "|first or |last of an empty list passed to a function (the "
                              "reference renderer fails there too)");
    }
    switch (fn->kind) {
    case FN_STR_METHOD: return str_method(rt, fn->id, fn->self.u.s, a, line);
    case FN_OBJ_METHOD: return obj_method(rt, fn->id, fn->self.u.obj, a, line);
    default:
        switch (fn->id) {
        case G_RAISE: {
            /* Error(String(args[0])); Error(undefined) (none's value too) has no message */
            struct jinja_sb msg = new_sb(rt);
            if (a->n > 0 && a->v[0].type != JV_UNDEF && a->v[0].type != JV_NULL)
                jinja_put_raw(rt->c, &msg, a->v[0], line);
            jinja_fail(rt->c, TMPL_ERR_RAISED, 0, "%.*s", (int)msg.len, msg.p ? msg.p : "");
        }
        case G_RANGE: return range_fn(rt, a, line);
        case G_STRFTIME: return strftime_now(rt, a, line);
        default: return namespace_fn(rt, a, line);
        }
    }
}

/* ---- tests -------------------------------------------------------------------------------------- */

/* Runs test `name`; has_b: a second operand (selectattr passes one). -1: unknown test. */
static int run_test(struct rt *rt, struct jinja_sv name, struct jinja_val v, bool has_b,
                    struct jinja_val b, uint32_t line)
{
#define T(s) jinja_sv_eqc(name, s)
    if (T("boolean"))
        return v.type == JV_BOOL;
    if (T("callable"))
        return v.type == JV_FUNC;
    if (T("odd") || T("even")) {
        if (v.type != JV_INT)
            rt_fail(rt, line, "test '%.*s' needs an integer, not %s", svlen(name), name.p,
                    tname(v));
        bool odd = fmod(v.u.num, 2) != 0;
        return T("odd") ? odd : !odd;
    }
    if (T("false"))
        return v.type == JV_BOOL && !v.u.b;
    if (T("true"))
        return v.type == JV_BOOL && v.u.b;
    if (T("none"))
        return v.type == JV_NULL;
    if (T("string"))
        return v.type == JV_STR;
    if (T("number"))
        return jv_is_number(v);
    if (T("integer"))
        return v.type == JV_INT;
    if (T("iterable"))
        return v.type == JV_ARRAY || v.type == JV_STR;
    if (T("mapping"))
        return jv_is_object(v);
    if (T("sequence"))
        return jv_is_array(v) || jv_is_object(v) || v.type == JV_STR;
    if (T("lower") || T("upper")) {
        if (v.type != JV_STR)
            return false;
        return jinja_sv_eq(v.u.s, jinja_case(rt->c, v.u.s, T("upper")));
    }
    if (T("defined"))
        return v.type != JV_UNDEF;
    if (T("undefined"))
        return v.type == JV_UNDEF;
    if (T("equalto") || T("eq")) {
        if (!has_b)
            rt_fail(rt, line, "test '%.*s' needs a value to compare with (the reference cannot "
                              "pass one after `is`)",
                    svlen(name), name.p);
        return jv_strict_eq(v, b);
    }
#undef T
    return -1;
}

static bool test_known(struct jinja_sv name)
{
    static const char *const names[] = {
        "boolean", "callable", "odd", "even", "false", "true", "none", "string", "number",
        "integer", "iterable", "mapping", "sequence", "lower", "upper", "defined", "undefined",
        "equalto", "eq",
    };
    for (size_t i = 0; i < sizeof names / sizeof *names; i++)
        if (jinja_sv_eqc(name, names[i]))
            return true;
    return false;
}

static struct jinja_val eval_test(struct rt *rt, const struct jinja_node *n, struct jinja_env *env)
{
    struct jinja_val v = eval(rt, n->a, env);
    int r = run_test(rt, n->str, v, false, jinja_undef, n->line);
    if (r < 0)
        rt_fail(rt, n->line, "unknown test 'is %.*s' (the reference renderer lacks it too)",
                svlen(n->str), n->str.p);
    return jv_bool(n->flag ? !r : r);
}

/* ---- filters ------------------------------------------------------------------------------------ */

static void eval_arguments(struct rt *rt, struct jinja_list l, struct jinja_env *env, struct args *a);

static _Noreturn void unknown_filter(struct rt *rt, const struct jinja_node *f, struct jinja_val v)
{
    rt_fail(rt, f->line, "filter '%.*s' does not apply to %s (the reference renderer has no such "
                         "filter for it either)",
            svlen(f->str), f->str.p, tname(v));
}

/* Array.prototype.join over the raw values: none and undefined become "". */
static struct jinja_val join_values(struct rt *rt, const struct jinja_arr *a, struct jinja_sv sep,
                                    uint32_t line)
{
    struct jinja_sb b = new_sb(rt);
    for (size_t i = 0; i < a->n; i++) {
        if (i)
            jinja_sb_put(rt->c, &b, sep.p, sep.len);
        if (a->v[i].type != JV_NULL && a->v[i].type != JV_UNDEF)
            jinja_put_raw(rt->c, &b, a->v[i], line);
    }
    return sb_val(&b);
}

static struct jinja_val to_json(struct rt *rt, struct jinja_val v, const struct jinja_json_opts *o,
                                uint32_t line)
{
    struct jinja_sb b = new_sb(rt);
    jinja_put_json(rt->c, &b, v, o, 0, line);
    return sb_val(&b);
}

static struct jinja_val indent_lines(struct rt *rt, struct jinja_sv s, double width, bool first,
                                     bool blank, uint32_t line)
{
    if (width < 0)
        rt_fail(rt, line, "indent(): negative width");
    if (width > (double)rt->lim->max_output_bytes)
        rt_fail(rt, line, "indent(): width %.0f exceeds the output limit", width);
    struct jinja_sb b = new_sb(rt);
    size_t start = 0;
    for (size_t i = 0;; i++) {
        size_t end = start;
        while (end < s.len && s.p[end] != '\n')
            end++;
        if (i > 0)
            jinja_sb_put(rt->c, &b, "\n", 1);
        bool skip = (!first && i == 0) || (!blank && end == start);
        for (size_t k = 0; !skip && k < (size_t)width; k++)
            jinja_sb_put(rt->c, &b, " ", 1);
        jinja_sb_put(rt->c, &b, s.p + start, end - start);
        if (end >= s.len)
            break;
        start = end + 1;
    }
    return sb_val(&b);
}

static struct jinja_val unique(struct rt *rt, const struct jinja_arr *a)
{
    struct args out = {0};
    for (size_t i = 0; i < a->n; i++) {
        bool seen = false;
        for (size_t j = 0; j < out.n && !seen; j++) {
            struct jinja_val x = a->v[i], y = out.v[j];
            seen = jv_strict_eq(x, y) || (jv_is_number(x) && jv_is_number(y) && isnan(x.u.num) &&
                                          isnan(y.u.num));
        }
        if (!seen)
            args_push(rt, &out, a->v[i]);
    }
    return array_of(rt, out.v, out.n);
}

/* |name without arguments */
static struct jinja_val filter_plain(struct rt *rt, struct jinja_val v, const struct jinja_node *f)
{
    struct jinja_sv name = f->str;
#define F(s) jinja_sv_eqc(name, s)
    uint32_t line = f->line;
    if (F("safe"))
        return v;
    if (F("tojson")) {
        struct jinja_json_opts o = {.indent = -1, .undefined_as_null = true};
        return to_json(rt, v, &o, line);
    }
    if (jv_is_array(v)) {
        const struct jinja_arr *a = v.u.arr;
        if (F("list"))
            return v;
        if (F("first") || F("last")) {
            if (a->n == 0)
                return (struct jinja_val){.type = JV_MISSING};
            return a->v[F("first") ? 0 : a->n - 1];
        }
        if (F("length"))
            return jv_int((double)a->n);
        if (F("reverse")) {
            struct jinja_val r = jv_array(rt->c, a->n);
            for (size_t i = 0; i < a->n; i++)
                r.u.arr->v[i] = a->v[a->n - 1 - i];
            return r;
        }
        if (F("sort")) {
            struct sort_ctx s = {rt, line, false, false, {NULL, 0}, -1};
            return sorted_copy(&s, a);
        }
        if (F("join"))
            return join_values(rt, a, sv(""), line);
        if (F("string")) {
            struct jinja_json_opts o = {.indent = -1, .undefined_as_null = false};
            return to_json(rt, v, &o, line);
        }
        if (F("unique"))
            return unique(rt, a);
        unknown_filter(rt, f, v);
    }
    if (v.type == JV_STR) {
        struct jinja_sv s = v.u.s;
        if (F("length"))
            return jv_int((double)jinja_utf16_len(s));
        if (F("upper") || F("lower"))
            return jv_str(jinja_case(rt->c, s, F("upper")));
        if (F("title"))
            return str_title(rt, s);
        if (F("capitalize"))
            return str_capitalize(rt, s);
        if (F("trim"))
            return jv_str(jinja_trim(s, true, true));
        if (F("indent"))
            return indent_lines(rt, s, 4, false, false, line);
        if (F("join") || F("string"))
            return v;
        if (F("int")) {
            double x = jinja_parse_int(s);
            return jv_int(isnan(x) ? 0 : x);
        }
        if (F("float")) {
            double x = jinja_parse_float(s);
            return jv_float(isnan(x) ? 0 : x);
        }
        unknown_filter(rt, f, v);
    }
    if (jv_is_number(v)) {
        if (F("abs"))
            return v.type == JV_INT ? jv_int(fabs(v.u.num)) : jv_float(fabs(v.u.num));
        if (F("int"))
            return jv_int(floor(v.u.num));
        if (F("float"))
            return jv_float(v.u.num);
        if (F("string")) {
            struct jinja_sb b = new_sb(rt);
            jinja_put_value(rt->c, &b, v, line);
            return sb_val(&b);
        }
        unknown_filter(rt, f, v);
    }
    if (jv_is_object(v)) {
        if (F("items"))
            return obj_items(rt, v.u.obj);
        if (F("length"))
            return jv_int((double)v.u.obj->n);
        for (int i = 0; i < OM_COUNT_; i++)
            if (F(g_obj_methods[i])) {
                struct args none = {0};
                return obj_method(rt, i, v.u.obj, &none, line);
            }
        unknown_filter(rt, f, v);
    }
    if (v.type == JV_BOOL) {
        if (F("bool"))
            return v;
        if (F("int"))
            return jv_int(v.u.b ? 1 : 0);
        if (F("float"))
            return jv_float(v.u.b ? 1 : 0);
        if (F("string"))
            return jv_cstr(v.u.b ? "true" : "false");
        unknown_filter(rt, f, v);
    }
    rt_fail(rt, line, "filter '%.*s' cannot apply to %s", svlen(name), name.p, tname(v));
#undef F
}

static struct jinja_val filter_select_attr(struct rt *rt, struct jinja_val v,
                                           const struct jinja_node *f, struct jinja_env *env,
                                           bool select)
{
    const struct jinja_arr *a = v.u.arr;
    uint32_t line = f->line;
    for (size_t i = 0; i < a->n; i++)
        if (!jv_is_object(a->v[i]) && a->v[i].type != JV_NS)
            rt_fail(rt, line, "%.*s can only be applied to a list of mappings (item %zu is %s)",
                    svlen(f->str), f->str.p, i, tname(a->v[i]));
    for (size_t i = 0; i < f->l1.n; i++)
        if (f->l1.v[i]->kind != N_STR)
            rt_fail(rt, line, "the arguments of %.*s must be string literals", svlen(f->str),
                    f->str.p);
    if (f->l1.n < 1)
        rt_fail(rt, line, "%.*s needs an attribute name", svlen(f->str), f->str.p);
    struct jinja_sv attr = eval(rt, f->l1.v[0], env).u.s;
    bool has_test = f->l1.n > 1;
    struct jinja_sv test = has_test ? eval(rt, f->l1.v[1], env).u.s : sv("");
    bool has_b = f->l1.n > 2;
    struct jinja_val b = has_b ? eval(rt, f->l1.v[2], env) : jinja_undef;
    if (has_test && !test_known(test))
        rt_fail(rt, line, "unknown test '%.*s' in %.*s", svlen(test), test.p, svlen(f->str),
                f->str.p);
    struct args out = {0};
    for (size_t i = 0; i < a->n; i++) {
        struct jinja_val *x = jv_obj_get(a->v[i].u.obj, attr);
        bool r = false;
        if (x && x->type != JV_MISSING)
            r = has_test ? run_test(rt, test, *x, has_b, b, line) == 1 : jv_truthy(*x);
        if (r == select)
            args_push(rt, &out, a->v[i]);
    }
    return array_of(rt, out.v, out.n);
}

/* |name(args) */
static struct jinja_val filter_call(struct rt *rt, struct jinja_val v, const struct jinja_node *f,
                                    struct jinja_env *env)
{
    struct jinja_sv name = f->str;
    uint32_t line = f->line;
#define F(s) jinja_sv_eqc(name, s)
    if (F("tojson")) {
        struct args a = {0};
        eval_arguments(rt, f->l1, env, &a);
        struct jinja_val indent = param(&a, SIZE_MAX, "indent", jinja_null);
        struct jinja_val ascii = param(&a, SIZE_MAX, "ensure_ascii", jv_bool(false));
        struct jinja_val sort = param(&a, SIZE_MAX, "sort_keys", jv_bool(false));
        struct jinja_val seps = param(&a, SIZE_MAX, "separators", jinja_null);
        if (indent.type != JV_INT && indent.type != JV_NULL)
            rt_fail(rt, line, "tojson(): indent must be an integer");
        if (ascii.type != JV_BOOL)
            rt_fail(rt, line, "tojson(): ensure_ascii must be a boolean");
        if (sort.type != JV_BOOL)
            rt_fail(rt, line, "tojson(): sort_keys must be a boolean");
        struct jinja_json_opts o = {.indent = -1, .ensure_ascii = ascii.u.b,
                                    .sort_keys = sort.u.b, .undefined_as_null = true};
        if (indent.type == JV_INT) {
            if (indent.u.num < 0)
                rt_fail(rt, line, "tojson(): negative indent");
            if (indent.u.num > 1e6)
                rt_fail(rt, line, "tojson(): indent %.0f is too large", indent.u.num);
            o.indent = (long)indent.u.num;
        }
        if (jv_is_array(seps)) {
            if (seps.u.arr->n != 2 || seps.u.arr->v[0].type != JV_STR ||
                seps.u.arr->v[1].type != JV_STR)
                rt_fail(rt, line, "tojson(): separators must be a tuple of two strings");
            o.has_separators = true;
            o.item_sep = seps.u.arr->v[0].u.s;
            o.key_sep = seps.u.arr->v[1].u.s;
        } else if (seps.type != JV_NULL) {
            rt_fail(rt, line, "tojson(): separators must be a tuple of two strings");
        }
        return to_json(rt, v, &o, line);
    }
    if (F("join")) {
        struct jinja_val items;
        if (v.type == JV_STR)
            items = str_chars(rt, v.u.s);
        else if (jv_is_array(v))
            items = v;
        else
            rt_fail(rt, line, "filter 'join' cannot apply to %s", tname(v));
        struct args a = {0};
        eval_arguments(rt, f->l1, env, &a);
        struct jinja_val sep = param(&a, 0, "separator", jv_cstr(""));
        if (sep.type != JV_STR)
            rt_fail(rt, line, "join(): the separator must be a string");
        return join_values(rt, items.u.arr, sep.u.s, line);
    }
    if (F("int") || F("float")) {
        struct args a = {0};
        eval_arguments(rt, f->l1, env, &a);
        bool is_int = F("int");
        struct jinja_val def = param(&a, 0, "default", is_int ? jv_int(0) : jv_float(0));
        if (v.type == JV_STR) {
            double x = is_int ? jinja_parse_int(v.u.s) : jinja_parse_float(v.u.s);
            return isnan(x) ? def : is_int ? jv_int(x) : jv_float(x);
        }
        if (jv_is_number(v))
            return v;
        if (v.type == JV_BOOL)
            return is_int ? jv_int(v.u.b ? 1 : 0) : jv_float(v.u.b ? 1 : 0);
        rt_fail(rt, line, "filter '%.*s' cannot apply to %s", svlen(name), name.p, tname(v));
    }
    if (F("default")) {
        struct args a = {0};
        eval_arguments(rt, f->l1, env, &a);
        struct jinja_val def = a.n > 0 ? a.v[0] : jv_cstr("");
        struct jinja_val boolean = param(&a, 1, "boolean", jv_bool(false));
        if (boolean.type != JV_BOOL)
            rt_fail(rt, line, "default(): the boolean flag must be a boolean");
        if (v.type == JV_UNDEF || (boolean.u.b && !jv_truthy(v)))
            return def;
        return v;
    }
    if (jv_is_array(v)) {
        if (F("sort")) {
            struct args a = {0};
            eval_arguments(rt, f->l1, env, &a);
            struct jinja_val rev = param(&a, 0, "reverse", jv_bool(false));
            struct jinja_val cs = param(&a, 1, "case_sensitive", jv_bool(false));
            struct jinja_val attr = param(&a, 2, "attribute", jinja_null);
            if (rev.type != JV_BOOL)
                rt_fail(rt, line, "sort(): reverse must be a boolean");
            if (cs.type != JV_BOOL)
                rt_fail(rt, line, "sort(): case_sensitive must be a boolean");
            if (attr.type != JV_STR && attr.type != JV_INT && attr.type != JV_NULL)
                rt_fail(rt, line, "sort(): attribute must be a string, an integer or none");
            struct sort_ctx s = {rt, line, cs.u.b, rev.u.b, {NULL, 0}, -1};
            if (attr.type == JV_STR)
                s.attr = attr.u.s;
            else if (attr.type == JV_INT) {
                struct jinja_sb b = new_sb(rt);
                jinja_put_number(rt->c, &b, attr.u.num);
                s.attr = jinja_sb_sv(&b);
            }
            return sorted_copy(&s, v.u.arr);
        }
        if (F("selectattr") || F("rejectattr"))
            return filter_select_attr(rt, v, f, env, F("selectattr"));
        if (F("map")) {
            struct args a = {0};
            eval_arguments(rt, f->l1, env, &a);
            struct jinja_val *attr = kwarg(&a, "attribute");
            if (!attr)
                rt_fail(rt, line, "map() without attribute= is not supported (nor by the "
                                  "reference renderer)");
            if (attr->type != JV_STR)
                rt_fail(rt, line, "map(): attribute must be a string");
            struct jinja_val *def = kwarg(&a, "default");
            const struct jinja_arr *in = v.u.arr;
            struct jinja_val out = jv_array(rt->c, in->n);
            for (size_t i = 0; i < in->n; i++) {
                if (!jv_is_object(in->v[i]) && in->v[i].type != JV_NS)
                    rt_fail(rt, line, "map(): the items must be mappings, not %s",
                            tname(in->v[i]));
                struct jinja_val x = attribute_path(in->v[i], attr->u.s);
                out.u.arr->v[i] = x.type == JV_UNDEF && def ? *def : x;
            }
            return out;
        }
        unknown_filter(rt, f, v);
    }
    if (v.type == JV_STR) {
        if (F("indent")) {
            struct args a = {0};
            eval_arguments(rt, f->l1, env, &a);
            struct jinja_val width = param(&a, 0, "width", jv_int(4));
            if (width.type != JV_INT)
                rt_fail(rt, line, "indent(): width must be an integer");
            struct jinja_val first = param(&a, 1, "first", jv_bool(false));
            struct jinja_val blank = param(&a, 2, "blank", jv_bool(false));
            return indent_lines(rt, v.u.s, width.u.num, jv_js_truthy(first), jv_js_truthy(blank),
                                line);
        }
        if (F("replace")) {
            struct args a = {0};
            eval_arguments(rt, f->l1, env, &a);
            struct jinja_val kw = jv_object(rt->c, JV_KWARGS);
            if (a.kw)
                kw.u.obj = a.kw;
            args_push(rt, &a, kw);
            return str_replace(rt, v.u.s, &a, line);
        }
        unknown_filter(rt, f, v);
    }
    if (jv_is_object(v)) {
        for (int i = 0; i < OM_COUNT_; i++)
            if (F(g_obj_methods[i])) {
                struct args a = {0};
                eval_arguments(rt, f->l1, env, &a);
                if (a.kw && a.kw->n) {
                    struct jinja_val kw = jv_object(rt->c, JV_KWARGS);
                    kw.u.obj = a.kw;
                    args_push(rt, &a, kw);
                }
                return obj_method(rt, i, v.u.obj, &a, line);
            }
        unknown_filter(rt, f, v);
    }
    rt_fail(rt, line, "filter '%.*s' cannot apply to %s", svlen(name), name.p, tname(v));
#undef F
}

static struct jinja_val apply_filter(struct rt *rt, struct jinja_val v, const struct jinja_node *f,
                                     struct jinja_env *env)
{
    if (f->op == 1)
        rt_fail(rt, f->line, "filter '%.*s' is not a plain name or call", svlen(f->str), f->str.p);
    return f->flag ? filter_call(rt, v, f, env) : filter_plain(rt, v, f);
}

/* ---- expressions -------------------------------------------------------------------------------- */

static void eval_arguments(struct rt *rt, struct jinja_list l, struct jinja_env *env, struct args *a)
{
    a->n = 0;
    a->kw = NULL;
    for (size_t i = 0; i < l.n; i++) {
        const struct jinja_node *x = l.v[i];
        if (x->kind == N_SPREAD) {
            struct jinja_val v = eval(rt, x->a, env);
            if (!jv_is_array(v))
                rt_fail(rt, x->line, "cannot unpack %s with *", tname(v));
            for (size_t k = 0; k < v.u.arr->n; k++)
                args_push(rt, a, v.u.arr->v[k]);
        } else if (x->kind != N_KWARG && x->kind != N_KWSPREAD) {
            args_push(rt, a, eval_opt(rt, x, env));
        }
    }
    for (size_t i = 0; i < l.n; i++) {
        const struct jinja_node *x = l.v[i];
        if (x->kind != N_KWARG && x->kind != N_KWSPREAD)
            continue;
        if (!a->kw)
            a->kw = jv_object(rt->c, JV_KWARGS).u.obj;
        if (x->kind == N_KWARG) {
            struct jinja_val v = eval(rt, x->a, env);
            if (jv_obj_get(a->kw, x->str))
                rt_fail(rt, x->line, "got multiple values for keyword argument '%.*s'",
                        svlen(x->str), x->str.p);
            jv_obj_set(rt->c, a->kw, x->str, v);
        } else {
            struct jinja_val v = eval(rt, x->a, env);
            if (!jv_is_object(v))
                rt_fail(rt, x->line, "the argument after ** must be a mapping, not %s", tname(v));
            for (size_t k = 0; k < v.u.obj->n; k++) {
                if (jv_obj_get(a->kw, v.u.obj->kv[k].key))
                    rt_fail(rt, x->line, "got multiple values for keyword argument '%.*s'",
                            svlen(v.u.obj->kv[k].key), v.u.obj->kv[k].key.p);
                jv_obj_set(rt->c, a->kw, v.u.obj->kv[k].key, v.u.obj->kv[k].val);
            }
        }
    }
}

/* Describes a callee node for messages: "'foo'", "method 'format'". */
static void callee_desc(const struct jinja_node *callee, char *buf, size_t cap)
{
    if (callee->kind == N_IDENT)
        snprintf(buf, cap, "'%.*s'", svlen(callee->str), callee->str.p);
    else if (callee->kind == N_MEMBER && !callee->flag && callee->b->kind == N_IDENT)
        snprintf(buf, cap, "method '.%.*s()'", svlen(callee->b->str), callee->b->str.p);
    else
        snprintf(buf, cap, "the callee");
}

static struct jinja_val eval_call(struct rt *rt, const struct jinja_node *n, struct jinja_env *env)
{
    struct args a = {0};
    eval_arguments(rt, n->l1, env, &a);
    if (a.kw && a.kw->n) {
        struct jinja_val kw = jv_object(rt->c, JV_KWARGS);
        kw.u.obj = a.kw;
        args_push(rt, &a, kw);
    }
    struct jinja_val fn = eval(rt, n->a, env);
    if (fn.type != JV_FUNC) {
        char d[128];
        callee_desc(n->a, d, sizeof d);
        if (n->a->kind == N_MEMBER && fn.type == JV_UNDEF) {
            struct jinja_val obj = eval(rt, n->a->a, env);
            rt_fail(rt, n->line, "unknown %s on %s (the reference renderer lacks it too)", d,
                    tname(obj));
        }
        rt_fail(rt, n->line, "%s is %s, not a function", d, tname(fn));
    }
    return call_fn(rt, fn, &a, env, n->line);
}

static struct jinja_val eval_slice(struct rt *rt, struct jinja_val obj, const struct jinja_node *s,
                                   struct jinja_env *env)
{
    if (!jv_is_array(obj) && obj.type != JV_STR)
        rt_fail(rt, s->line, "cannot slice %s", tname(obj));
    struct jinja_val part[3];
    const struct jinja_node *nodes[3] = {s->a, s->b, s->c};
    for (int i = 0; i < 3; i++) {
        part[i] = nodes[i] ? eval(rt, nodes[i], env) : jinja_undef;
        if (part[i].type != JV_INT && part[i].type != JV_UNDEF)
            rt_fail(rt, s->line, "slice bounds must be integers, not %s", tname(part[i]));
    }
    struct jinja_val src = obj.type == JV_STR ? str_chars(rt, obj.u.s) : obj;
    const struct jinja_arr *a = src.u.arr;
    double len = (double)a->n;
    double stepv = part[2].type == JV_INT ? part[2].u.num : 1;
    double dir = stepv > 0 ? 1 : stepv < 0 ? -1 : 0;
    double start, stop;
    bool has_start = part[0].type == JV_INT, has_stop = part[1].type == JV_INT;
    if (dir >= 0) {
        start = has_start ? part[0].u.num : 0;
        start = start < 0 ? fmax(len + start, 0) : fmin(start, len);
        stop = has_stop ? part[1].u.num : len;
        stop = stop < 0 ? fmax(len + stop, 0) : fmin(stop, len);
    } else {
        start = has_start ? part[0].u.num : len - 1;
        start = start < 0 ? fmax(len + start, -1) : fmin(start, len - 1);
        stop = has_stop ? part[1].u.num : -1;
        stop = stop < -1 ? fmax(len + stop, -1) : fmin(stop, len - 1);
    }
    struct args out = {0};
    for (double i = start; dir * i < dir * stop; i += stepv) {
        step(rt, s->line);
        args_push(rt, &out, i >= 0 && i < len ? a->v[(size_t)i] : jinja_undef);
    }
    if (obj.type != JV_STR)
        return array_of(rt, out.v, out.n);
    struct jinja_sb b = new_sb(rt);
    for (size_t i = 0; i < out.n; i++)
        if (out.v[i].type == JV_STR)
            jinja_sb_put(rt->c, &b, out.v[i].u.s.p, out.v[i].u.s.len);
    return sb_val(&b);
}

static struct jinja_val eval_member(struct rt *rt, const struct jinja_node *n, struct jinja_env *env)
{
    struct jinja_val obj = eval(rt, n->a, env);
    struct jinja_val prop;
    if (n->flag) {
        if (n->b->kind == N_SLICE)
            return eval_slice(rt, obj, n->b, env);
        prop = eval(rt, n->b, env);
    } else if (n->b->kind == N_INT) {
        prop = jv_int(n->b->num);
    } else {
        prop = jv_str(n->b->str);
    }
    if (jv_is_object(obj) || obj.type == JV_NS) {
        if (prop.type != JV_STR)
            rt_fail(rt, n->line, "cannot look up %s in %s (keys are strings)", tname(prop),
                    tname(obj));
        struct jinja_val *v = jv_obj_get(obj.u.obj, prop.u.s);
        if (v)
            return v->type == JV_MISSING ? jinja_undef : *v;
        if (obj.type != JV_NS)
            for (int i = 0; i < OM_COUNT_; i++)
                if (jinja_sv_eqc(prop.u.s, g_obj_methods[i]))
                    return make_fn(rt, FN_OBJ_METHOD, i, obj);
        return jinja_undef;
    }
    if (jv_is_array(obj) || obj.type == JV_STR) {
        if (prop.type == JV_INT) {
            if (obj.type == JV_STR)
                return str_at(rt, obj.u.s, prop.u.num);
            double i = trunc(prop.u.num), len = (double)obj.u.arr->n;
            if (i < 0)
                i += len;
            return i >= 0 && i < len ? obj.u.arr->v[(size_t)i] : jinja_undef;
        }
        if (prop.type != JV_STR)
            rt_fail(rt, n->line, "cannot index %s with %s", tname(obj), tname(prop));
        if (jinja_sv_eqc(prop.u.s, "length"))
            return jv_int(obj.type == JV_STR ? (double)jinja_utf16_len(obj.u.s)
                                             : (double)obj.u.arr->n);
        if (obj.type == JV_STR)
            for (int i = 0; i < SM_COUNT_; i++)
                if (jinja_sv_eqc(prop.u.s, g_str_methods[i]))
                    return make_fn(rt, FN_STR_METHOD, i, obj);
        return jinja_undef;
    }
    if (prop.type != JV_STR)
        rt_fail(rt, n->line, "cannot look up %s in %s", tname(prop), tname(obj));
    return jinja_undef;
}

static const char *op_text(int op)
{
    static const char *const t[] = {
        [OP_OR] = "or",  [OP_AND] = "and", [OP_NOT] = "not", [OP_EQ] = "==",  [OP_NE] = "!=",
        [OP_LT] = "<",   [OP_GT] = ">",    [OP_LE] = "<=",   [OP_GE] = ">=",  [OP_IN] = "in",
        [OP_NOTIN] = "not in", [OP_ADD] = "+", [OP_SUB] = "-", [OP_CONCAT] = "~", [OP_MUL] = "*",
        [OP_DIV] = "/",  [OP_FLOORDIV] = "//", [OP_MOD] = "%", [OP_POW] = "**", [OP_NEG] = "-",
        [OP_POS] = "+",
    };
    return t[op];
}

static struct jinja_val concat_raw(struct rt *rt, struct jinja_val l, struct jinja_val r,
                                   uint32_t line)
{
    struct jinja_sb b = new_sb(rt);
    jinja_put_raw(rt->c, &b, l, line);
    jinja_put_raw(rt->c, &b, r, line);
    return sb_val(&b);
}

static struct jinja_val eval_binary(struct rt *rt, const struct jinja_node *n, struct jinja_env *env)
{
    int op = n->op;
    struct jinja_val l = eval(rt, n->a, env);
    if (op == OP_AND)
        return jv_truthy(l) ? eval(rt, n->b, env) : l;
    if (op == OP_OR)
        return jv_truthy(l) ? l : eval(rt, n->b, env);
    struct jinja_val r = eval(rt, n->b, env);
    if (op == OP_EQ || op == OP_NE) {
        bool eq = jv_loose_eq(rt->c, l, r);
        return jv_bool(op == OP_EQ ? eq : !eq);
    }
    if (l.type == JV_UNDEF || r.type == JV_UNDEF) {
        if (r.type == JV_UNDEF && (op == OP_IN || op == OP_NOTIN))
            return jv_bool(op == OP_NOTIN);
        rt_fail(rt, n->line, "operator '%s' on an undefined value", op_text(op));
    }
    if (l.type == JV_NULL || r.type == JV_NULL)
        rt_fail(rt, n->line, "operator '%s' on none", op_text(op));
    if (op == OP_CONCAT)
        return concat_raw(rt, l, r, n->line);
    if (op == OP_POW && numeric_like(l) && numeric_like(r)) {
        double a = num_of(l), b = num_of(r);
        if (a == 0 && b < 0)
            rt_fail(rt, n->line, "0.0 cannot be raised to a negative power");
        double res = (isnan(b) || (fabs(a) == 1 && isinf(b))) ? NAN : pow(a, b);
        if (!isfinite(res))
            rt_fail(rt, n->line, "exponentiation result is not a finite real number");
        return l.type == JV_FLOAT || r.type == JV_FLOAT || b < 0 ? jv_float(res) : jv_int(res);
    } else if (jv_is_number(l) && jv_is_number(r)) {
        double a = l.u.num, b = r.u.num;
        bool fl = l.type == JV_FLOAT || r.type == JV_FLOAT;
        switch (op) {
        case OP_ADD: return fl ? jv_float(a + b) : jv_int(a + b);
        case OP_SUB: return fl ? jv_float(a - b) : jv_int(a - b);
        case OP_MUL: return fl ? jv_float(a * b) : jv_int(a * b);
        case OP_DIV: return jv_float(a / b);
        case OP_FLOORDIV: return fl ? jv_float(floor(a / b)) : jv_int(floor(a / b));
        case OP_MOD: return fl ? jv_float(fmod(a, b)) : jv_int(fmod(a, b));
        case OP_LT: return jv_bool(a < b);
        case OP_GT: return jv_bool(a > b);
        case OP_GE: return jv_bool(a >= b);
        case OP_LE: return jv_bool(a <= b);
        default: break;
        }
    } else if (jv_is_array(l) && jv_is_array(r)) {
        if (op == OP_ADD) {
            struct jinja_val c = jv_array(rt->c, l.u.arr->n + r.u.arr->n);
            if (l.u.arr->n)
                memcpy(c.u.arr->v, l.u.arr->v, l.u.arr->n * sizeof *c.u.arr->v);
            if (r.u.arr->n)
                memcpy(c.u.arr->v + l.u.arr->n, r.u.arr->v, r.u.arr->n * sizeof *c.u.arr->v);
            return c;
        }
    } else if (jv_is_array(r)) {
        if (op == OP_IN || op == OP_NOTIN) {
            bool found = false;
            for (size_t i = 0; i < r.u.arr->n && !found; i++)
                found = jv_strict_eq(r.u.arr->v[i], l);
            return jv_bool(op == OP_IN ? found : !found);
        }
    }
    if ((l.type == JV_STR || r.type == JV_STR) && op == OP_ADD)
        return concat_raw(rt, l, r, n->line);
    if (l.type == JV_STR && r.type == JV_STR && (op == OP_IN || op == OP_NOTIN)) {
        bool found = sv_find(r.u.s, 0, l.u.s) != NULL;
        return jv_bool(op == OP_IN ? found : !found);
    }
    if (l.type == JV_STR && jv_is_object(r) && (op == OP_IN || op == OP_NOTIN)) {
        bool found = jv_obj_get(r.u.obj, l.u.s) != NULL;
        return jv_bool(op == OP_IN ? found : !found);
    }
    rt_fail(rt, n->line, "operator '%s' is not defined between %s and %s", op_text(op), tname(l),
            tname(r));
}

static struct jinja_val eval_inner(struct rt *rt, const struct jinja_node *n, struct jinja_env *env)
{
    switch (n->kind) {
    case N_INT: return jv_int(n->num);
    case N_FLOAT: return jv_float(n->num);
    case N_STR: return jv_str(n->str);
    case N_IDENT: return env_lookup(rt, env, n->sym);
    case N_ARRAY:
    case N_TUPLE: {
        struct jinja_val a = jv_array(rt->c, n->l1.n);
        a.type = n->kind == N_ARRAY ? JV_ARRAY : JV_TUPLE;
        for (size_t i = 0; i < n->l1.n; i++)
            a.u.arr->v[i] = eval(rt, n->l1.v[i], env);
        return a;
    }
    case N_OBJECT: {
        struct jinja_val o = jv_object(rt->c, JV_OBJECT);
        for (size_t i = 0; i < n->l1.n; i++) {
            struct jinja_val k = eval(rt, n->l1.v[i], env);
            if (k.type != JV_STR)
                rt_fail(rt, n->l1.v[i]->line, "dict keys must be strings, not %s", tname(k));
            jv_obj_set(rt->c, o.u.obj, k.u.s, eval(rt, n->l2.v[i], env));
        }
        return o;
    }
    case N_MEMBER: return eval_member(rt, n, env);
    case N_CALL: return eval_call(rt, n, env);
    case N_UNARY: {
        struct jinja_val v = eval(rt, n->a, env);
        if (n->op == OP_NOT)
            return jv_bool(!jv_truthy(v));
        if (!numeric_like(v))
            rt_fail(rt, n->line, "unary '%s' on %s", op_text(n->op), tname(v));
        double x = (n->op == OP_NEG ? -1 : 1) * num_of(v);
        return v.type == JV_FLOAT ? jv_float(x) : jv_int(x);
    }
    case N_BINARY: return eval_binary(rt, n, env);
    case N_FILTER: return apply_filter(rt, eval(rt, n->a, env), n, env);
    case N_TEST: return eval_test(rt, n, env);
    case N_SELECT:
        if (!jv_truthy(eval(rt, n->b, env)))
            return jinja_undef;
        return eval(rt, n->a, env);
    case N_TERNARY:
        return jv_truthy(eval(rt, n->a, env)) ? eval(rt, n->b, env) : eval(rt, n->c, env);
    default: rt_fail(rt, n->line, "this construct cannot be used as a value here");
    }
}

/* eval that lets JV_MISSING through, for the places that accept it */
static struct jinja_val eval_opt(struct rt *rt, const struct jinja_node *n, struct jinja_env *env)
{
    step(rt, n->line);
    if (++rt->depth > rt->lim->max_depth)
        rt_fail(rt, n->line, "evaluation nested deeper than %d levels (runaway macro recursion?)",
                rt->lim->max_depth);
    struct jinja_val v = eval_inner(rt, n, env);
    rt->depth--;
    return v;
}

static struct jinja_val eval(struct rt *rt, const struct jinja_node *n, struct jinja_env *env)
{
    struct jinja_val v = eval_opt(rt, n, env);
    if (v.type == JV_MISSING)
        rt_fail(rt, n->line, "|first or |last of an empty list can only be assigned with set (the "
                             "reference renderer fails on any other use)");
    return v;
}

/* ---- statements --------------------------------------------------------------------------------- */

static void bind_target(struct rt *rt, const struct jinja_node *target, struct jinja_val v,
                        struct jinja_env *scope)
{
    if (target->kind == N_IDENT) {
        env_set(rt, scope, target->sym, v);
        return;
    }
    for (size_t j = 0; j < target->l1.n; j++) {
        const struct jinja_node *t = target->l1.v[j];
        if (t->kind != N_IDENT)
            rt_fail(rt, t->line, "cannot unpack into something that is not a name");
        env_set(rt, scope, t->sym, v.u.arr->v[j]);
    }
}

static struct jinja_val loop_object(struct rt *rt, const struct jinja_val *items, size_t i, size_t n)
{
    struct jinja_val o = jv_object(rt->c, JV_OBJECT);
    struct jinja_obj *ob = o.u.obj;
    jv_obj_set(rt->c, ob, sv("index"), jv_int((double)i + 1));
    jv_obj_set(rt->c, ob, sv("index0"), jv_int((double)i));
    jv_obj_set(rt->c, ob, sv("revindex"), jv_int((double)(n - i)));
    jv_obj_set(rt->c, ob, sv("revindex0"), jv_int((double)(n - i - 1)));
    jv_obj_set(rt->c, ob, sv("first"), jv_bool(i == 0));
    jv_obj_set(rt->c, ob, sv("last"), jv_bool(i == n - 1));
    jv_obj_set(rt->c, ob, sv("length"), jv_int((double)n));
    jv_obj_set(rt->c, ob, sv("previtem"), i > 0 ? items[i - 1] : jinja_undef);
    jv_obj_set(rt->c, ob, sv("nextitem"), i + 1 < n ? items[i + 1] : jinja_undef);
    return o;
}

static int exec_for(struct rt *rt, const struct jinja_node *n, struct jinja_env *env,
                    struct jinja_sb *out)
{
    struct jinja_env *scope = env_new(rt, env);
    const struct jinja_node *test = NULL;
    struct jinja_val it;
    if (n->b->kind == N_SELECT) {
        it = eval(rt, n->b->a, scope);
        test = n->b->b;
    } else {
        it = eval(rt, n->b, scope);
    }
    if (!jv_is_array(it) && !jv_is_object(it))
        rt_fail(rt, n->line, "for loop over %s (a list or a mapping is needed)", tname(it));
    if (jv_is_object(it))
        it = obj_keys(rt, it.u.obj);
    const struct jinja_arr *a = it.u.arr;
    struct args items = {0};
    for (size_t i = 0; i < a->n; i++) {
        struct jinja_val cur = a->v[i];
        if (n->a->kind == N_TUPLE) {
            if (cur.type != JV_ARRAY)
                rt_fail(rt, n->line, "cannot unpack %s into the loop variables", tname(cur));
            if (cur.u.arr->n != n->a->l1.n)
                rt_fail(rt, n->line, "too %s items to unpack (%zu values for %zu names)",
                        n->a->l1.n > cur.u.arr->n ? "few" : "many", cur.u.arr->n, n->a->l1.n);
        }
        if (test) {
            struct jinja_env *ls = env_new(rt, scope);
            bind_target(rt, n->a, cur, ls);
            if (!jv_truthy(eval(rt, test, ls)))
                continue;
        }
        args_push(rt, &items, cur);
    }
    bool none = true;
    for (size_t i = 0; i < items.n; i++) {
        step(rt, n->line);
        env_set(rt, scope, SYM_LOOP, loop_object(rt, items.v, i, items.n));
        bind_target(rt, n->a, items.v[i], scope);
        size_t mark = out->len;
        int flow = exec_list(rt, n->l1, scope, out);
        if (flow != FLOW_NORMAL) {
            out->len = mark; /* the reference drops an interrupted iteration's output */
            if (flow == FLOW_BREAK)
                break;
            continue;
        }
        none = false;
    }
    if (none)
        return exec_list(rt, n->l2, scope, out);
    return FLOW_NORMAL;
}

static int exec_set(struct rt *rt, const struct jinja_node *n, struct jinja_env *env)
{
    struct jinja_val rhs;
    if (n->b) {
        rhs = eval_opt(rt, n->b, env);
        if (rhs.type == JV_MISSING) {
            if (n->a->kind == N_TUPLE)
                rt_fail(rt, n->line, "cannot unpack |first or |last of an empty list");
            if (n->a->kind == N_IDENT)
                rhs = jinja_undef; /* the variable then reads as undefined */
            /* a namespace keeps it: reading the attribute gives undefined, tojson fails */
        }
    } else {
        struct jinja_sb b = new_sb(rt);
        int flow = exec_list(rt, n->l1, env, &b);
        if (flow != FLOW_NORMAL)
            return flow;
        rhs = sb_val(&b);
    }
    const struct jinja_node *t = n->a;
    if (t->kind == N_IDENT) {
        env_set(rt, env, t->sym, rhs);
    } else if (t->kind == N_TUPLE) {
        if (!jv_is_array(rhs))
            rt_fail(rt, n->line, "cannot unpack %s in set", tname(rhs));
        if (rhs.u.arr->n != t->l1.n)
            rt_fail(rt, n->line, "too %s items to unpack in set (%zu values for %zu names)",
                    t->l1.n > rhs.u.arr->n ? "few" : "many", rhs.u.arr->n, t->l1.n);
        bind_target(rt, t, rhs, env);
    } else if (t->kind == N_MEMBER) {
        struct jinja_val obj = eval(rt, t->a, env);
        if (obj.type != JV_NS)
            rt_fail(rt, n->line, "cannot set an attribute of %s (only of a namespace())",
                    tname(obj));
        if (t->b->kind != N_IDENT)
            rt_fail(rt, n->line, "cannot set a namespace attribute through a subscript");
        jv_obj_set(rt->c, obj.u.obj, t->b->str, rhs);
    } else {
        rt_fail(rt, n->line, "cannot assign to this expression");
    }
    return FLOW_NORMAL;
}

static int exec_stmt(struct rt *rt, const struct jinja_node *n, struct jinja_env *env,
                     struct jinja_sb *out)
{
    switch (n->kind) {
    case N_COMMENT: return FLOW_NORMAL;
    case N_STR: jinja_sb_put(rt->c, out, n->str.p, n->str.len); return FLOW_NORMAL;
    case N_IF: return exec_list(rt, jv_truthy(eval(rt, n->a, env)) ? n->l1 : n->l2, env, out);
    case N_FOR: return exec_for(rt, n, env, out);
    case N_SET: return exec_set(rt, n, env);
    case N_MACRO: {
        struct jinja_val f = make_fn(rt, FN_MACRO, 0, jinja_undef);
        f.u.fn->node = n;
        env_set(rt, env, n->sym, f);
        return FLOW_NORMAL;
    }
    case N_CALLBLOCK: {
        struct jinja_val caller = make_fn(rt, FN_CALLER, 0, jinja_undef);
        caller.u.fn->node = n;
        caller.u.fn->env = env;
        const struct jinja_node *call = n->a;
        struct args a = {0};
        eval_arguments(rt, call->l1, env, &a);
        struct jinja_val kw = jv_object(rt->c, JV_KWARGS);
        if (a.kw)
            kw.u.obj = a.kw;
        args_push(rt, &a, kw);
        struct jinja_val fn = eval(rt, call->a, env);
        if (fn.type != JV_FUNC)
            rt_fail(rt, n->line, "{%% call %%}: '%.*s' is %s, not a macro", svlen(call->a->str),
                    call->a->str.p, tname(fn));
        struct jinja_env *ne = env_new(rt, env);
        env_set(rt, ne, SYM_CALLER, caller);
        emit(rt, out, call_fn(rt, fn, &a, ne, n->line), n->line);
        return FLOW_NORMAL;
    }
    case N_FILTERBLOCK: {
        struct jinja_sb b = new_sb(rt);
        int flow = exec_list(rt, n->l1, env, &b);
        if (flow != FLOW_NORMAL)
            return flow;
        emit(rt, out, apply_filter(rt, sb_val(&b), n->a, env), n->line);
        return FLOW_NORMAL;
    }
    case N_BREAK: return FLOW_BREAK;
    case N_CONTINUE: return FLOW_CONTINUE;
    default: emit(rt, out, eval(rt, n, env), n->line); return FLOW_NORMAL;
    }
}

static int exec_list(struct rt *rt, struct jinja_list l, struct jinja_env *env,
                     struct jinja_sb *out)
{
    if (++rt->depth > rt->lim->max_depth)
        rt_fail(rt, l.n ? l.v[0]->line : 0,
                "evaluation nested deeper than %d levels (runaway macro recursion?)",
                rt->lim->max_depth);
    for (size_t i = 0; i < l.n; i++) {
        step(rt, l.v[i]->line);
        int flow = exec_stmt(rt, l.v[i], env, out);
        if (flow != FLOW_NORMAL) {
            rt->depth--;
            return flow;
        }
    }
    rt->depth--;
    return FLOW_NORMAL;
}

void jinja_render(struct jinja_ctx *c, const struct jinja_program *prog,
                  const struct jinja_var *vars, size_t n_vars, const struct tm *now,
                  const struct jinja_limits *lim, struct jinja_sb *out)
{
    struct rt rt = {.c = c, .prog = prog, .lim = lim, .now = now};
    rt.fn_namespace = make_fn(&rt, FN_GLOBAL, G_NAMESPACE, jinja_undef);
    struct jinja_env *global = env_new(&rt, NULL);
    /* setupGlobals; a symbol the template never mentions cannot be read, so it is skipped */
    static const struct {
        int sym;
        int kind; /* 0 bool/none, 1 function */
        int val;
    } globals[] = {
        {SYM_FALSE, 0, 0},         {SYM_TRUE, 0, 1},        {SYM_NONE, 0, 2},
        {SYM_RAISE, 1, G_RAISE},   {SYM_RANGE, 1, G_RANGE}, {SYM_STRFTIME, 1, G_STRFTIME},
        {SYM_TRUE_T, 0, 1},        {SYM_FALSE_T, 0, 0},     {SYM_NONE_T, 0, 2},
    };
    for (size_t i = 0; i < sizeof globals / sizeof *globals; i++) {
        struct jinja_val v = globals[i].kind ? make_fn(&rt, FN_GLOBAL, globals[i].val, jinja_undef)
                             : globals[i].val == 2 ? jinja_null
                                                   : jv_bool(globals[i].val == 1);
        env_set(&rt, global, (uint32_t)globals[i].sym, v);
    }
    for (size_t i = 0; i < n_vars; i++) {
        int64_t sym = jinja_find_sym(prog, vars[i].name, strlen(vars[i].name));
        if (sym >= 0)
            env_set(&rt, global, (uint32_t)sym, vars[i].val);
    }
    if (exec_list(&rt, prog->body, global, out) != FLOW_NORMAL)
        rt_fail(&rt, 0, "{%% break %%} or {%% continue %%} outside of a for loop");
}
