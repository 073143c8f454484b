/* json_schema: schemas -> GBNF, and the validator (see json_schema.h).
 *
 * Generation walks the schema once; every schema node becomes one named rule (memoized by node,
 * so a $ref cycle becomes a recursive rule), named after its path ("root-address-city"). Rule
 * names are unique per grammar; shared pieces (whitespace, string characters, any value) are
 * emitted once, on first use. Objects with declared properties use two chains of rules over the
 * properties in order: F_i "nothing written yet, at property i" and R_i "something written, at
 * property i", so optional properties may be skipped and commas come out right in linear size:
 *     F_i ::= kv_i R_i+1 | F_i+1 (the second only if i is optional)     F_n+1 ::= (empty)
 *     R_i ::= "," kv_i R_i+1 (required) or ("," kv_i)? R_i+1 (optional) R_n+1 ::= (empty)
 * Integer ranges become digit-by-digit alternations (for each digit count, the numbers between
 * two same-length bounds split at the first differing digit). Patterns go through a small
 * regular-expression parser whose output is the JSON-escaped form of the strings it matches.
 *
 * The validator implements JSON Schema semantics for the same keywords; patterns are checked with
 * PCRE2 (the project's regex library), compiled with PCRE2_UTF and PCRE2_DOLLAR_ENDONLY so that
 * '$' means the end as in ECMAScript.
 */
#include "engine/json_schema.h"

#include "base/alloc.h"
#include "base/utf8.h"
#include "engine/cpset.h"

#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>

#include <math.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#define MAX_DEPTH 64          /* schema nesting (not counting $ref cycles, which are rules) */
#define MAX_COUNT 10000       /* minItems/maxItems/minLength/maxLength: the GBNF {m,n} limit */
#define INT_DIGITS 15         /* unbounded integers: at most 15 digits */
#define INT_BOUND 999999999999999LL

/* =============================================================================================
 * Keyword tables */

/* Keywords that only annotate (ignored) or that are handled. Anything else not listed as
 * unsupported is unknown and ignored, as JSON Schema says. */
static const char *const g_unsupported[] = {
    "not", "if", "then", "else", "patternProperties", "propertyNames", "dependentRequired",
    "dependentSchemas", "dependencies", "minProperties", "maxProperties", "uniqueItems",
    "contains", "minContains", "maxContains", "prefixItems", "additionalItems",
    "unevaluatedProperties", "unevaluatedItems", "multipleOf", "$dynamicRef", "$recursiveRef",
    NULL};
static const char *const g_annotations[] = {
    "title", "description", "default", "examples", "$schema", "$id", "$comment", "deprecated",
    "readOnly", "writeOnly", "$defs", "definitions", "$anchor", "strict", NULL};
static const char *const g_object_kw[] = {"properties", "required", "additionalProperties", NULL};
static const char *const g_array_kw[] = {"items", "minItems", "maxItems", NULL};
static const char *const g_string_kw[] = {"minLength", "maxLength", "pattern", "format", NULL};
static const char *const g_number_kw[] = {"minimum", "maximum", "exclusiveMinimum",
                                          "exclusiveMaximum", NULL};

static bool in_list(const char *const *l, const char *k)
{
    for (; *l; l++)
        if (strcmp(*l, k) == 0)
            return true;
    return false;
}

static bool has_any(const json_t *s, const char *const *l)
{
    for (; *l; l++)
        if (json_object_get(s, *l))
            return true;
    return false;
}

/* =============================================================================================
 * GBNF text helpers */

/* Appends s[0..n) as a GBNF string literal. */
static void gbnf_literal(struct buf *b, const char *s, size_t n)
{
    buf_putc(b, '"');
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c == '"' || c == '\\') {
            buf_putc(b, '\\');
            buf_putc(b, (char)c);
        } else if (c == '\n') {
            buf_puts(b, "\\n");
        } else if (c == '\r') {
            buf_puts(b, "\\r");
        } else if (c == '\t') {
            buf_puts(b, "\\t");
        } else if (c < 0x20 || c == 0x7F) {
            buf_printf(b, "\\x%02X", c);
        } else {
            buf_putc(b, (char)c);
        }
    }
    buf_putc(b, '"');
}

static void gbnf_cp(struct buf *b, uint32_t c)
{
    if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9'))
        buf_putc(b, (char)c);
    else if (c <= 0xFF)
        buf_printf(b, "\\x%02X", c);
    else if (c <= 0xFFFF)
        buf_printf(b, "\\u%04X", c);
    else
        buf_printf(b, "\\U%08X", c);
}

/* Appends a normalized, non-empty set as a GBNF character class. */
static void gbnf_class(struct buf *b, const struct cpset *s)
{
    buf_putc(b, '[');
    for (size_t i = 0; i < s->n; i++) {
        gbnf_cp(b, s->lo[i]);
        if (s->hi[i] != s->lo[i]) {
            buf_putc(b, '-');
            gbnf_cp(b, s->hi[i]);
        }
    }
    buf_putc(b, ']');
}

/* The GBNF literal of a JSON value's compact serialization. */
static void gbnf_json_literal(struct buf *b, const json_t *v)
{
    char *s = json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY);
    gbnf_literal(b, s ? s : "null", s ? strlen(s) : 4);
    free(s);
}

/* =============================================================================================
 * Generator state */

enum prim { P_WS, P_CHAR, P_STRING, P_INTEGER, P_NUMBER, P_VALUE, P_OBJECT, P_ARRAY, N_PRIM };

struct gen {
    const json_t *doc;  /* the schema document, for $ref */
    const char *prefix; /* the value rule's name; helpers are prefix-... */
    struct buf *out;
    char **names;
    size_t n_names, cap_names;
    const json_t **memo_key;
    const char **memo_name;
    size_t n_memo, cap_memo;
    const char *prim[N_PRIM];
    struct err *e;
    char path[400];     /* where we are, for messages: schema.properties.a.items */
    int depth;
};

static void grow_array(void **p, size_t *cap, size_t n, size_t sz)
{
    if (n < *cap)
        return;
    *cap = *cap ? *cap * 2 : 16;
    *p = xrealloc_array(*p, *cap, sz);
}

static int gerr(struct gen *G, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static int gerr(struct gen *G, const char *fmt, ...)
{
    char msg[300];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    return err_set(G->e, "%s: %s", G->path, msg);
}

/* Appends ".seg" (or "[i]") to the path; returns the old length for path_pop. */
static size_t path_push(char *path, size_t cap, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static size_t path_push(char *path, size_t cap, const char *fmt, ...)
{
    size_t old = strlen(path);
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(path + old, cap - old, fmt, ap);
    va_end(ap);
    return old;
}

static bool name_taken(const struct gen *G, const char *n)
{
    for (size_t i = 0; i < G->n_names; i++)
        if (strcmp(G->names[i], n) == 0)
            return true;
    return false;
}

/* A fresh rule name prefix-hint (hint sanitized to letters, digits and '-'). Owned by G. */
static const char *reserve(struct gen *G, const char *hint)
{
    char base[96], name[112];
    size_t k = (size_t)snprintf(base, sizeof base, "%s", G->prefix);
    if (k >= sizeof base)
        k = sizeof base - 1;
    if (hint && *hint && k + 1 < sizeof base) {
        base[k++] = '-';
        for (const char *h = hint; *h && k + 1 < sizeof base; h++) {
            char c = *h;
            bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
            if (!ok && (k == 0 || base[k - 1] == '-'))
                continue;
            base[k++] = ok ? c : '-';
        }
        while (k > 0 && base[k - 1] == '-')
            k--;
        base[k] = 0;
    }
    snprintf(name, sizeof name, "%s", base);
    for (int n = 2; name_taken(G, name); n++)
        snprintf(name, sizeof name, "%s-%d", base, n);
    grow_array((void **)&G->names, &G->cap_names, G->n_names, sizeof *G->names);
    G->names[G->n_names++] = xstrdup(name);
    return G->names[G->n_names - 1];
}

/* A rule's name without the grammar's prefix ("root-a-b" -> "a-b"), to build child hints. */
static const char *local_name(const struct gen *G, const char *name)
{
    size_t k = strlen(G->prefix);
    return name[k] == '-' ? name + k + 1 : name + k;
}

static void define(struct gen *G, const char *name, const char *body)
{
    buf_printf(G->out, "%s ::= %s\n", name, body);
}

static const char *prim(struct gen *G, enum prim p)
{
    if (G->prim[p])
        return G->prim[p];
    static const char *const hints[N_PRIM] = {"ws", "char", "string", "integer", "number",
                                              "value", "object", "array"};
    const char *n = G->prim[p] = reserve(G, hints[p]);
    struct buf b;
    buf_init(&b);
    switch (p) {
    case P_WS: /* nothing, a space, or a line break and some indentation */
        define(G, n, "(\" \" | \"\\n\" \" \"{0,16})?");
        break;
    case P_CHAR: /* any character but '"', '\' and controls; escapes, no lone surrogates */
        define(G, n, "[^\"\\\\\\x00-\\x1F] | \"\\\\\" ([\"\\\\/bfnrt] | \"u\" ("
                     "[0-9a-cA-CeEfF] [0-9a-fA-F]{3} | [dD] [0-7] [0-9a-fA-F]{2} | "
                     "[dD] [89abAB] [0-9a-fA-F]{2} \"\\\\u\" [dD] [c-fC-F] [0-9a-fA-F]{2}))");
        break;
    case P_STRING:
        buf_printf(&b, "\"\\\"\" %s* \"\\\"\"", prim(G, P_CHAR));
        define(G, n, b.data);
        break;
    case P_INTEGER:
        define(G, n, "\"-\"? (\"0\" | [1-9] [0-9]{0,14})");
        break;
    case P_NUMBER:
        buf_printf(&b, "%s (\".\" [0-9]{1,15})? ([eE] [-+]? [0-9]{1,2})?", prim(G, P_INTEGER));
        define(G, n, b.data);
        break;
    case P_VALUE:
    case P_OBJECT:
    case P_ARRAY: {
        /* mutually recursive: name all three first */
        if (!G->prim[P_VALUE])
            G->prim[P_VALUE] = reserve(G, hints[P_VALUE]);
        if (!G->prim[P_OBJECT])
            G->prim[P_OBJECT] = reserve(G, hints[P_OBJECT]);
        if (!G->prim[P_ARRAY])
            G->prim[P_ARRAY] = reserve(G, hints[P_ARRAY]);
        const char *v = G->prim[P_VALUE], *o = G->prim[P_OBJECT], *a = G->prim[P_ARRAY];
        const char *s = prim(G, P_STRING), *ws = prim(G, P_WS), *num = prim(G, P_NUMBER);
        buf_printf(&b, "%s | %s | %s | %s | \"true\" | \"false\" | \"null\"", o, a, s, num);
        define(G, v, b.data);
        buf_clear(&b);
        buf_printf(&b, "\"{\" %s (%s %s \":\" %s %s %s (\",\" %s %s %s \":\" %s %s %s)*)? \"}\"",
                   ws, s, ws, ws, v, ws, ws, s, ws, ws, v, ws);
        define(G, o, b.data);
        buf_clear(&b);
        buf_printf(&b, "\"[\" %s (%s %s (\",\" %s %s %s)*)? \"]\"", ws, v, ws, ws, v, ws);
        define(G, a, b.data);
        break;
    }
    default:
        break;
    }
    buf_free(&b);
    return G->prim[p];
}

/* =============================================================================================
 * Integer and number ranges */

static int n_digits(uint64_t x)
{
    int n = 1;
    while (x >= 10) {
        x /= 10;
        n++;
    }
    return n;
}

static uint64_t pow10u(int n)
{
    uint64_t p = 1;
    while (n-- > 0)
        p *= 10;
    return p;
}

/* Fixed-length digit strings between lo and hi (same length, lo <= hi), as GBNF. */
static void digits_range(struct buf *b, const char *lo, const char *hi, int n)
{
    if (n == 0)
        return;
    if (memcmp(lo, hi, (size_t)n) == 0) {
        buf_printf(b, "\"%.*s\"", n, lo);
        return;
    }
    if (lo[0] == hi[0]) {
        buf_printf(b, "\"%c\" ", lo[0]);
        digits_range(b, lo + 1, hi + 1, n - 1);
        return;
    }
    char zeros[24], nines[24];
    memset(zeros, '0', sizeof zeros);
    memset(nines, '9', sizeof nines);
    bool lo_full = memcmp(lo + 1, zeros, (size_t)n - 1) == 0; /* lo = d000: whole block */
    bool hi_full = memcmp(hi + 1, nines, (size_t)n - 1) == 0; /* hi = d999 */
    char mid_lo = lo_full ? lo[0] : (char)(lo[0] + 1), mid_hi = hi_full ? hi[0] : (char)(hi[0] - 1);
    bool first = true;
    buf_putc(b, '(');
    if (!lo_full) {
        buf_printf(b, "\"%c\" (", lo[0]);
        digits_range(b, lo + 1, nines, n - 1);
        buf_putc(b, ')');
        first = false;
    }
    if (mid_lo <= mid_hi) {
        buf_printf(b, "%s[%c-%c]", first ? "" : " | ", mid_lo, mid_hi);
        if (n > 1)
            buf_printf(b, " [0-9]{%d}", n - 1);
        first = false;
    }
    if (!hi_full) {
        buf_printf(b, "%s\"%c\" (", first ? "" : " | ", hi[0]);
        digits_range(b, zeros, hi + 1, n - 1);
        buf_putc(b, ')');
    }
    buf_putc(b, ')');
}

/* Decimal forms (no leading zeros) of the integers in [lo, hi], 0 <= lo <= hi. */
static void urange(struct buf *b, uint64_t lo, uint64_t hi)
{
    buf_putc(b, '(');
    for (int len = n_digits(lo), first = 1; len <= n_digits(hi); len++, first = 0) {
        uint64_t a = len == 1 ? 0 : pow10u(len - 1), z = pow10u(len) - 1;
        if (a < lo)
            a = lo;
        if (z > hi)
            z = hi;
        char sa[24], sz[24];
        snprintf(sa, sizeof sa, "%llu", (unsigned long long)a);
        snprintf(sz, sizeof sz, "%llu", (unsigned long long)z);
        if (!first)
            buf_puts(b, " | ");
        digits_range(b, sa, sz, len);
    }
    buf_putc(b, ')');
}

/* Integers in [lo, hi] (lo <= hi), with a minus sign for negatives and no "-0". */
static void int_range(struct buf *b, int64_t lo, int64_t hi)
{
    bool neg = lo < 0, pos = hi >= 0;
    buf_putc(b, '(');
    if (neg) {
        buf_puts(b, "\"-\" ");
        urange(b, hi < 0 ? (uint64_t)-hi : 1, (uint64_t)-lo);
    }
    if (pos) {
        if (neg)
            buf_puts(b, " | ");
        urange(b, lo > 0 ? (uint64_t)lo : 0, (uint64_t)hi);
    }
    buf_putc(b, ')');
}

struct bounds {
    bool has_lo, has_hi, lo_excl, hi_excl;
    double lo, hi;
};

/* Reads minimum/maximum/exclusive* (numbers, or draft-4 booleans on exclusive*). */
static int read_bounds(struct gen *G, const json_t *s, struct bounds *bd)
{
    memset(bd, 0, sizeof *bd);
    const json_t *v;
    if ((v = json_object_get(s, "minimum"))) {
        if (!json_is_number(v))
            return gerr(G, "minimum must be a number");
        bd->has_lo = true;
        bd->lo = json_number_value(v);
    }
    if ((v = json_object_get(s, "maximum"))) {
        if (!json_is_number(v))
            return gerr(G, "maximum must be a number");
        bd->has_hi = true;
        bd->hi = json_number_value(v);
    }
    if ((v = json_object_get(s, "exclusiveMinimum"))) {
        if (json_is_boolean(v)) {
            bd->lo_excl = json_is_true(v) && bd->has_lo;
        } else if (json_is_number(v)) {
            double x = json_number_value(v);
            if (!bd->has_lo || x >= bd->lo) {
                bd->has_lo = bd->lo_excl = true;
                bd->lo = x;
            }
        } else {
            return gerr(G, "exclusiveMinimum must be a number");
        }
    }
    if ((v = json_object_get(s, "exclusiveMaximum"))) {
        if (json_is_boolean(v)) {
            bd->hi_excl = json_is_true(v) && bd->has_hi;
        } else if (json_is_number(v)) {
            double x = json_number_value(v);
            if (!bd->has_hi || x <= bd->hi) {
                bd->has_hi = bd->hi_excl = true;
                bd->hi = x;
            }
        } else {
            return gerr(G, "exclusiveMaximum must be a number");
        }
    }
    return 0;
}

static double clampd(double x) { return x < -(double)INT_BOUND ? -(double)INT_BOUND : x > (double)INT_BOUND ? (double)INT_BOUND : x; }

/* Smallest integer allowed by the lower bound, largest by the upper one. */
static int64_t int_lo(const struct bounds *bd)
{
    if (!bd->has_lo)
        return -INT_BOUND;
    double x = clampd(bd->lo);
    return (int64_t)(bd->lo_excl ? floor(x) + 1 : ceil(x));
}

static int64_t int_hi(const struct bounds *bd)
{
    if (!bd->has_hi)
        return INT_BOUND;
    double x = clampd(bd->hi);
    return (int64_t)(bd->hi_excl ? ceil(x) - 1 : floor(x));
}

static int gen_integer(struct gen *G, const json_t *s, struct buf *body)
{
    struct bounds bd;
    if (read_bounds(G, s, &bd))
        return -1;
    if (!bd.has_lo && !bd.has_hi) {
        buf_puts(body, prim(G, P_INTEGER));
        return 0;
    }
    int64_t lo = int_lo(&bd), hi = int_hi(&bd);
    if (lo > hi)
        return gerr(G, "no integer lies between the minimum and the maximum");
    int_range(body, lo, hi);
    return 0;
}

/* Numbers within bounds: the integers in range, and N.f (f not all zeros, so strictly between
 * N and N + 1) for the N whose whole open interval is in range; no exponent. */
static int gen_number(struct gen *G, const json_t *s, struct buf *body)
{
    struct bounds bd;
    if (read_bounds(G, s, &bd))
        return -1;
    if (!bd.has_lo && !bd.has_hi) {
        buf_puts(body, prim(G, P_NUMBER));
        return 0;
    }
    const char *frac = "\".\" [0-9]{0,14} [1-9]";
    bool any = false;
    buf_putc(body, '(');
    int64_t lo = int_lo(&bd), hi = int_hi(&bd);
    if (lo <= hi) {
        int_range(body, lo, hi);
        any = true;
    }
    /* x = N.f >= 0: needs N >= lo and N + 1 <= hi */
    int64_t a = bd.has_lo ? (int64_t)ceil(clampd(bd.lo)) : 0, z = bd.has_hi ? (int64_t)floor(clampd(bd.hi)) - 1 : INT_BOUND;
    if (a < 0)
        a = 0;
    if (a <= z) {
        buf_printf(body, "%s", any ? " | " : "");
        urange(body, (uint64_t)a, (uint64_t)z);
        buf_printf(body, " %s", frac);
        any = true;
    }
    /* x = -(N.f) < 0: needs -(N + 1) >= lo and -N <= hi */
    a = bd.has_hi ? (int64_t)ceil(-clampd(bd.hi)) : 0;
    z = bd.has_lo ? (int64_t)floor(-clampd(bd.lo)) - 1 : INT_BOUND;
    if (a < 0)
        a = 0;
    if (a <= z) {
        buf_printf(body, "%s\"-\" ", any ? " | " : "");
        urange(body, (uint64_t)a, (uint64_t)z);
        buf_printf(body, " %s", frac);
        any = true;
    }
    buf_putc(body, ')');
    if (!any)
        return gerr(G, "no number lies between the minimum and the maximum");
    return 0;
}

/* =============================================================================================
 * Patterns: an ECMAScript regular-expression subset -> GBNF over the JSON-escaped string body.
 * Supported: literals, escapes (\d \D \w \W \s \S \n \r \t \f \v \0 \xHH \uHHHH, escaped
 * punctuation), classes with ranges and negation, '.', groups ( ) (?: ) (?<name> ), '|', the
 * quantifiers * + ? {n} {n,} {n,m} (lazy forms match the same strings), '^' at the start and
 * '$' at the end of a top-level alternative. An unanchored end may be surrounded by any text,
 * as JSON Schema patterns are not implicitly anchored. */

struct rx {
    struct gen *G;
    const char *s;
    size_t n, pos;
    const char *pattern_path; /* for messages */
};

static int rxerr(struct rx *R, const char *what)
{
    return gerr(R->G, "pattern \"%s\": %s at offset %zu", R->pattern_path, what, R->pos);
}

static int rx_peek(const struct rx *R) { return R->pos < R->n ? (unsigned char)R->s[R->pos] : -1; }

static void set_digits(struct cpset *s) { cpset_add(s, '0', '9'); }
static void set_word(struct cpset *s)
{
    cpset_add(s, '0', '9');
    cpset_add(s, 'A', 'Z');
    cpset_add(s, 'a', 'z');
    cpset_add(s, '_', '_');
}
/* \s as both ECMAScript and PCRE2 (without UCP) agree: ASCII whitespace only. */
static void set_space(struct cpset *s)
{
    cpset_add(s, '\t', '\r');
    cpset_add(s, ' ', ' ');
}

/* Adds the class named by escape letter c (d w s, or D W S negated) to s; false if c is not one. */
static bool class_escape(int c, struct cpset *s)
{
    struct cpset t = {0};
    switch (c | 0x20) {
    case 'd': set_digits(&t); break;
    case 'w': set_word(&t); break;
    case 's': set_space(&t); break;
    default: return false;
    }
    cpset_normalize(&t);
    if (c >= 'A' && c <= 'Z')
        cpset_negate(&t);
    cpset_union(s, &t);
    cpset_free(&t);
    return true;
}

static int rx_hex(struct rx *R, int digits, uint32_t *cp)
{
    uint32_t v = 0;
    for (int i = 0; i < digits; i++) {
        int c = rx_peek(R), d = c >= '0' && c <= '9' ? c - '0' : (c | 0x20) >= 'a' && (c | 0x20) <= 'f' ? (c | 0x20) - 'a' + 10 : -1;
        if (d < 0)
            return rxerr(R, "bad hex escape");
        v = v << 4 | (uint32_t)d;
        R->pos++;
    }
    *cp = v;
    return 0;
}

/* After a backslash: a single character (*cp) or a class escape (added to cls, *cp = NIL). */
#define RX_CLASS UINT32_MAX
static int rx_escape(struct rx *R, bool in_class, uint32_t *cp, struct cpset *cls)
{
    int c = rx_peek(R);
    if (c < 0)
        return rxerr(R, "the pattern ends with a backslash");
    R->pos++;
    if (class_escape(c, cls)) {
        *cp = RX_CLASS;
        return 0;
    }
    switch (c) {
    case 'n': *cp = '\n'; return 0;
    case 'r': *cp = '\r'; return 0;
    case 't': *cp = '\t'; return 0;
    case 'f': *cp = '\f'; return 0;
    case 'v': *cp = '\v'; return 0;
    case '0':
        if (rx_peek(R) >= '0' && rx_peek(R) <= '9')
            return rxerr(R, "octal escapes are not supported");
        *cp = 0;
        return 0;
    case 'x': return rx_hex(R, 2, cp);
    case 'u': {
        if (rx_peek(R) == '{')
            return rxerr(R, "\\u{...} escapes are not supported");
        if (rx_hex(R, 4, cp))
            return -1;
        if (*cp >= 0xD800 && *cp <= 0xDBFF && R->pos + 6 <= R->n && R->s[R->pos] == '\\' &&
            R->s[R->pos + 1] == 'u') {
            size_t save = R->pos;
            uint32_t lo = 0;
            R->pos += 2;
            if (rx_hex(R, 4, &lo) == 0 && lo >= 0xDC00 && lo <= 0xDFFF) {
                *cp = 0x10000 + ((*cp - 0xD800) << 10) + (lo - 0xDC00);
                return 0;
            }
            R->pos = save;
        }
        if (*cp >= 0xD800 && *cp <= 0xDFFF)
            return rxerr(R, "a lone surrogate escape matches no character");
        return 0;
    }
    case 'b':
        if (in_class) {
            *cp = '\b';
            return 0;
        }
        return rxerr(R, "word boundaries (\\b) are not supported");
    case 'B': return rxerr(R, "\\B is not supported");
    case 'c': return rxerr(R, "control escapes (\\cX) are not supported");
    case 'k': return rxerr(R, "backreferences are not supported");
    case 'p': case 'P': return rxerr(R, "Unicode property escapes are not supported");
    default:
        if (c >= '1' && c <= '9')
            return rxerr(R, "backreferences are not supported");
        if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'))
            return rxerr(R, "unknown escape");
        *cp = (uint32_t)c; /* escaped punctuation: itself */
        return 0;
    }
}

/* One character of the pattern source (UTF-8). */
static int rx_char(struct rx *R, uint32_t *cp)
{
    size_t l = utf8_decode(R->s + R->pos, R->n - R->pos, cp);
    if (!l)
        return rxerr(R, "invalid UTF-8");
    R->pos += l;
    return 0;
}

/* Appends the GBNF of "one character of set s, as it appears inside a JSON string". */
static int rx_emit_set(struct rx *R, struct cpset *s, struct buf *out)
{
    cpset_normalize(s);
    cpset_drop_surrogates(s);
    struct cpset safe = {0}, bad = {0};
    cpset_add(&bad, 0, 0x1F);
    cpset_add(&bad, '"', '"');
    cpset_add(&bad, '\\', '\\');
    cpset_normalize(&bad);
    cpset_negate(&bad); /* everything a JSON string may hold unescaped */
    for (size_t i = 0; i < s->n; i++)
        for (size_t j = 0; j < bad.n; j++) {
            uint32_t lo = s->lo[i] > bad.lo[j] ? s->lo[i] : bad.lo[j];
            uint32_t hi = s->hi[i] < bad.hi[j] ? s->hi[i] : bad.hi[j];
            if (lo <= hi)
                cpset_add(&safe, lo, hi);
        }
    cpset_free(&bad);
    cpset_normalize(&safe);
    struct buf parts;
    buf_init(&parts);
    int n = 0;
    if (safe.n) {
        gbnf_class(&parts, &safe);
        n++;
    }
    cpset_free(&safe);
    static const char short_esc[] = {['\b'] = 'b', ['\f'] = 'f', ['\n'] = 'n', ['\r'] = 'r', ['\t'] = 't'};
    for (uint32_t c = 0; c < 0x20; c++) {
        if (!cpset_has(s, c))
            continue;
        char esc[8];
        if (c < sizeof short_esc && short_esc[c])
            snprintf(esc, sizeof esc, "\\%c", short_esc[c]);
        else
            snprintf(esc, sizeof esc, "\\u%04x", c);
        buf_puts(&parts, n ? " | " : "");
        gbnf_literal(&parts, esc, strlen(esc));
        n++;
    }
    if (cpset_has(s, '"')) {
        buf_puts(&parts, n ? " | " : "");
        gbnf_literal(&parts, "\\\"", 2);
        n++;
    }
    if (cpset_has(s, '\\')) {
        buf_puts(&parts, n ? " | " : "");
        gbnf_literal(&parts, "\\\\", 2);
        n++;
    }
    if (n == 0) {
        buf_free(&parts);
        return rxerr(R, "a character class matches no character");
    }
    buf_printf(out, n > 1 ? "(%s)" : "%s", parts.data);
    buf_free(&parts);
    return 0;
}

static int rx_class(struct rx *R, struct cpset *s)
{
    R->pos++; /* '[' */
    bool negate = rx_peek(R) == '^';
    if (negate)
        R->pos++;
    if (rx_peek(R) == ']')
        return rxerr(R, "empty classes ([] and [^]) are not supported");
    for (;;) {
        int c = rx_peek(R);
        if (c < 0)
            return rxerr(R, "unclosed character class");
        if (c == ']') {
            R->pos++;
            break;
        }
        uint32_t lo;
        if (c == '\\') {
            R->pos++;
            if (rx_escape(R, true, &lo, s))
                return -1;
        } else if (c == '[' && R->pos + 1 < R->n && (R->s[R->pos + 1] == ':' || R->s[R->pos + 1] == '=' || R->s[R->pos + 1] == '.')) {
            return rxerr(R, "POSIX classes are not supported");
        } else if (rx_char(R, &lo)) {
            return -1;
        }
        if (rx_peek(R) == '-' && R->pos + 1 < R->n && R->s[R->pos + 1] != ']') {
            if (lo == RX_CLASS)
                return rxerr(R, "a range cannot start at a class escape");
            R->pos++;
            uint32_t hi;
            if (rx_peek(R) == '\\') {
                R->pos++;
                if (rx_escape(R, true, &hi, s))
                    return -1;
                if (hi == RX_CLASS)
                    return rxerr(R, "a range cannot end at a class escape");
            } else if (rx_char(R, &hi)) {
                return -1;
            }
            if (hi < lo)
                return rxerr(R, "reversed range in a class");
            cpset_add(s, lo, hi);
        } else if (lo != RX_CLASS) {
            cpset_add(s, lo, lo);
        }
    }
    cpset_normalize(s);
    if (negate)
        cpset_negate(s);
    return 0;
}

static int rx_alternation(struct rx *R, struct buf *out, bool top);

/* Reads a {n}, {n,} or {n,m} quantifier at R->pos into min/max (max -1: none); returns 1 if one
 * was read, 0 if the '{' is a literal, -1 on error. */
static int rx_braces(struct rx *R, long *min, long *max)
{
    size_t p = R->pos + 1;
    long a = 0, b = -1;
    if (p >= R->n || R->s[p] < '0' || R->s[p] > '9') {
        if (p < R->n && R->s[p] == ',')
            return rxerr(R, "{,n} quantifiers are not supported");
        return 0;
    }
    while (p < R->n && R->s[p] >= '0' && R->s[p] <= '9' && a <= MAX_COUNT)
        a = a * 10 + (R->s[p++] - '0');
    if (p < R->n && R->s[p] == ',') {
        p++;
        if (p < R->n && R->s[p] >= '0' && R->s[p] <= '9') {
            b = 0;
            while (p < R->n && R->s[p] >= '0' && R->s[p] <= '9' && b <= MAX_COUNT)
                b = b * 10 + (R->s[p++] - '0');
        }
    } else {
        b = a;
    }
    if (p >= R->n || R->s[p] != '}')
        return 0;
    if (a > MAX_COUNT || b > MAX_COUNT)
        return rxerr(R, "a repetition count above 10000");
    if (b >= 0 && b < a)
        return rxerr(R, "a quantifier's maximum is below its minimum");
    R->pos = p + 1;
    *min = a;
    *max = b;
    return 1;
}

/* A sequence of quantified atoms, up to '|', ')' or the end. In a top-level alternative, '^' may
 * open it and '$' close it; *anchored_start / *anchored_end say whether they did. */
static int rx_sequence(struct rx *R, struct buf *out, bool top, bool *anchored_start, bool *anchored_end)
{
    *anchored_start = *anchored_end = false;
    if (top && rx_peek(R) == '^') {
        R->pos++;
        *anchored_start = true;
    }
    bool empty = true;
    for (;;) {
        int c = rx_peek(R);
        if (c < 0 || c == '|' || c == ')')
            break;
        if (c == '$') {
            R->pos++;
            int d = rx_peek(R);
            if (!top || (d >= 0 && d != '|'))
                return rxerr(R, "'$' is only supported at the end of the pattern");
            *anchored_end = true;
            break;
        }
        if (c == '^')
            return rxerr(R, "'^' is only supported at the start of the pattern");
        if (c == '*' || c == '+' || c == '?')
            return rxerr(R, "a quantifier with nothing to repeat");
        struct buf atom;
        buf_init(&atom);
        struct cpset set = {0};
        int rc = 0;
        if (c == '(') {
            R->pos++;
            if (rx_peek(R) == '?') {
                R->pos++;
                int k = rx_peek(R);
                if (k == ':') {
                    R->pos++;
                } else if (k == '<' && R->pos + 1 < R->n && R->s[R->pos + 1] != '=' && R->s[R->pos + 1] != '!') {
                    while (R->pos < R->n && R->s[R->pos] != '>')
                        R->pos++;
                    if (R->pos >= R->n)
                        rc = rxerr(R, "unclosed group name");
                    R->pos++;
                } else {
                    rc = rxerr(R, "lookaround and other (?...) groups are not supported");
                }
            }
            if (!rc) {
                buf_putc(&atom, '(');
                rc = rx_alternation(R, &atom, false);
                buf_putc(&atom, ')');
            }
            if (!rc && rx_peek(R) != ')')
                rc = rxerr(R, "unclosed group");
            R->pos++;
        } else if (c == '[') {
            rc = rx_class(R, &set);
            if (!rc)
                rc = rx_emit_set(R, &set, &atom);
        } else if (c == '.') {
            R->pos++;
            cpset_add(&set, 0, CPSET_MAX);
            struct cpset nl = {0};
            cpset_add(&nl, '\n', '\n');
            cpset_add(&nl, '\r', '\r');
            cpset_add(&nl, 0x2028, 0x2029);
            cpset_normalize(&nl);
            cpset_negate(&nl);
            cpset_free(&set);
            set = nl;
            rc = rx_emit_set(R, &set, &atom);
        } else {
            uint32_t cp;
            if (c == '\\') {
                R->pos++;
                rc = rx_escape(R, false, &cp, &set);
            } else {
                rc = rx_char(R, &cp);
            }
            if (!rc && cp != RX_CLASS)
                cpset_add(&set, cp, cp);
            if (!rc)
                rc = rx_emit_set(R, &set, &atom);
        }
        cpset_free(&set);
        if (rc) {
            buf_free(&atom);
            return -1;
        }
        /* a quantifier applies to the whole atom: make it one GBNF symbol */
        int q = rx_peek(R);
        long min = 1, max = 1;
        int got = 0;
        if (q == '*' || q == '+' || q == '?') {
            R->pos++;
            min = q == '+' ? 1 : 0;
            max = q == '?' ? 1 : -1;
            got = 1;
        } else if (q == '{') {
            got = rx_braces(R, &min, &max);
            if (got < 0) {
                buf_free(&atom);
                return -1;
            }
        }
        if (got && rx_peek(R) == '?')
            R->pos++; /* lazy: the same strings */
        if (got && (rx_peek(R) == '*' || rx_peek(R) == '+' || rx_peek(R) == '?' || rx_peek(R) == '{')) {
            buf_free(&atom);
            return rxerr(R, "a quantifier after a quantifier");
        }
        buf_printf(out, "%s(%s)", empty ? "" : " ", atom.data);
        if (got) {
            if (max < 0)
                buf_printf(out, "{%ld,}", min);
            else
                buf_printf(out, "{%ld,%ld}", min, max);
        }
        buf_free(&atom);
        empty = false;
    }
    if (empty)
        buf_puts(out, "\"\"");
    return 0;
}

static int rx_alternation(struct rx *R, struct buf *out, bool top)
{
    const char *any = top ? prim(R->G, P_CHAR) : NULL;
    for (bool first = true;; first = false) {
        bool as, ae;
        struct buf seq;
        buf_init(&seq);
        if (rx_sequence(R, &seq, top, &as, &ae)) {
            buf_free(&seq);
            return -1;
        }
        if (!first)
            buf_puts(out, " | ");
        if (top && !as)
            buf_printf(out, "%s* ", any);
        buf_puts(out, seq.data);
        if (top && !ae)
            buf_printf(out, " %s*", any);
        buf_free(&seq);
        if (rx_peek(R) != '|')
            break;
        R->pos++;
    }
    if (top && R->pos < R->n)
        return rxerr(R, "unbalanced ')'");
    return 0;
}

/* body := the GBNF of a JSON string whose value matches pattern. */
static int gen_pattern(struct gen *G, const char *pattern, struct buf *body)
{
    struct rx R = {G, pattern, strlen(pattern), 0, pattern};
    buf_puts(body, "\"\\\"\" (");
    if (rx_alternation(&R, body, true))
        return -1;
    buf_puts(body, ") \"\\\"\"");
    return 0;
}

/* =============================================================================================
 * Formats */

#define FMT_DATE \
    "[0-9]{4} \"-\" ((\"0\" [13578] | \"1\" [02]) \"-\" (\"0\" [1-9] | [12] [0-9] | \"3\" [01]) | " \
    "(\"0\" [469] | \"11\") \"-\" (\"0\" [1-9] | [12] [0-9] | \"30\") | " \
    "\"02-\" (\"0\" [1-9] | \"1\" [0-9] | \"2\" [0-8]))"
#define FMT_TIME \
    "([01] [0-9] | \"2\" [0-3]) \":\" [0-5] [0-9] \":\" [0-5] [0-9] (\".\" [0-9]{1,6})? " \
    "(\"Z\" | [+-] ([01] [0-9] | \"2\" [0-3]) \":\" [0-5] [0-9])"

static int gen_format(struct gen *G, const char *format, struct buf *body)
{
    const char *g = NULL;
    if (strcmp(format, "date") == 0)
        g = FMT_DATE;
    else if (strcmp(format, "time") == 0)
        g = FMT_TIME;
    else if (strcmp(format, "date-time") == 0)
        g = FMT_DATE " \"T\" " FMT_TIME;
    else if (strcmp(format, "uuid") == 0)
        g = "[0-9a-f]{8} \"-\" [0-9a-f]{4} \"-\" [0-9a-f]{4} \"-\" [0-9a-f]{4} \"-\" [0-9a-f]{12}";
    else
        return gerr(G, "format \"%s\" is not supported (supported: date, time, date-time, uuid)",
                    format);
    buf_printf(body, "\"\\\"\" (%s) \"\\\"\"", g);
    return 0;
}

/* =============================================================================================
 * Schema walk */

static const char *gen_schema(struct gen *G, const json_t *s, const char *hint);
static int validate_value(const json_t *doc, const json_t *schema, const json_t *v, struct err *e);

static int check_keywords(struct gen *G, const json_t *s)
{
    const char *k;
    const json_t *v;
    json_object_foreach((json_t *)s, k, v) {
        if (in_list(g_unsupported, k))
            return gerr(G, "%s is not supported", k);
        if (strcmp(k, "allOf") == 0 && (!json_is_array(v) || json_array_size(v) != 1))
            return gerr(G, "allOf is only supported with a single schema");
    }
    return 0;
}

/* Resolves a local $ref ("#", "#/$defs/x", any "#/json/pointer" with ~0 ~1 escapes) in doc;
 * NULL with *why set if it cannot. */
static const json_t *resolve_ref(const json_t *doc, const char *ref, const char **why)
{
    if (ref[0] != '#') {
        *why = "only local references (starting with '#') are supported";
        return NULL;
    }
    const json_t *cur = doc;
    const char *p = ref + 1;
    if (*p && *p != '/') {
        *why = "anchors are not supported, use a JSON pointer";
        return NULL;
    }
    while (*p == '/') {
        p++;
        char tok[256];
        size_t n = 0;
        for (; *p && *p != '/' && n + 1 < sizeof tok; p++) {
            if (p[0] == '~' && (p[1] == '0' || p[1] == '1')) {
                tok[n++] = p[1] == '0' ? '~' : '/';
                p++;
            } else {
                tok[n++] = *p;
            }
        }
        tok[n] = 0;
        if (json_is_object(cur)) {
            cur = json_object_get(cur, tok);
        } else if (json_is_array(cur)) {
            char *end;
            unsigned long i = strtoul(tok, &end, 10);
            cur = *end || !*tok ? NULL : json_array_get(cur, i);
        } else {
            cur = NULL;
        }
        if (!cur) {
            *why = "it does not resolve";
            return NULL;
        }
    }
    return cur;
}

static const json_t *gen_ref(struct gen *G, const char *ref)
{
    const char *why;
    const json_t *t = resolve_ref(G->doc, ref, &why);
    if (!t)
        gerr(G, "$ref \"%s\": %s", ref, why);
    return t;
}

/* The JSON types a schema may produce, as bits, for oneOf disjointness. */
enum { T_NULL = 1, T_BOOL = 2, T_INT = 4, T_FRAC = 8, T_STRING = 16, T_ARRAY = 32, T_OBJECT = 64 };

static unsigned type_bit(const char *t)
{
    if (strcmp(t, "null") == 0) return T_NULL;
    if (strcmp(t, "boolean") == 0) return T_BOOL;
    if (strcmp(t, "integer") == 0) return T_INT;
    if (strcmp(t, "number") == 0) return T_INT | T_FRAC;
    if (strcmp(t, "string") == 0) return T_STRING;
    if (strcmp(t, "array") == 0) return T_ARRAY;
    if (strcmp(t, "object") == 0) return T_OBJECT;
    return 0;
}

static unsigned value_bits(const json_t *v)
{
    switch (json_typeof(v)) {
    case JSON_NULL: return T_NULL;
    case JSON_TRUE: case JSON_FALSE: return T_BOOL;
    case JSON_INTEGER: return T_INT;
    case JSON_REAL: return json_real_value(v) == floor(json_real_value(v)) ? T_INT : T_FRAC;
    case JSON_STRING: return T_STRING;
    case JSON_ARRAY: return T_ARRAY;
    default: return T_OBJECT;
    }
}

static unsigned schema_bits(struct gen *G, const json_t *s, int depth)
{
    if (depth > 16 || !json_is_object(s))
        return 0x7F;
    const json_t *r = json_object_get(s, "$ref");
    if (json_is_string(r)) {
        const char *why;
        const json_t *t = resolve_ref(G->doc, json_string_value(r), &why);
        return t ? schema_bits(G, t, depth + 1) : 0x7F;
    }
    const json_t *c = json_object_get(s, "const"), *en = json_object_get(s, "enum");
    if (c)
        return value_bits(c);
    if (json_is_array(en)) {
        unsigned b = 0;
        size_t i;
        const json_t *v;
        json_array_foreach(en, i, v) b |= value_bits(v);
        return b;
    }
    const json_t *any = json_object_get(s, "anyOf");
    if (!any)
        any = json_object_get(s, "oneOf");
    if (json_is_array(any)) {
        unsigned b = 0;
        size_t i;
        const json_t *v;
        json_array_foreach(any, i, v) b |= schema_bits(G, v, depth + 1);
        return b;
    }
    const json_t *t = json_object_get(s, "type");
    if (json_is_string(t))
        return type_bit(json_string_value(t));
    if (json_is_array(t)) {
        unsigned b = 0;
        size_t i;
        const json_t *v;
        json_array_foreach(t, i, v) b |= json_is_string(v) ? type_bit(json_string_value(v)) : 0;
        return b;
    }
    return 0x7F;
}

/* Two object schemas cannot match the same generated object: one requires a property the other
 * forbids (additionalProperties false), or both pin a property to different constants. */
static bool objects_disjoint(const json_t *a, const json_t *b)
{
    for (int pass = 0; pass < 2; pass++) {
        const json_t *x = pass ? b : a, *y = pass ? a : b;
        const json_t *req = json_object_get(x, "required"), *yprops = json_object_get(y, "properties");
        size_t i;
        const json_t *name;
        json_array_foreach(req, i, name) {
            const char *n = json_string_value(name);
            if (!n)
                continue;
            if (json_is_false(json_object_get(y, "additionalProperties")) && !json_object_get(yprops, n))
                return true;
            const json_t *cx = json_object_get(json_object_get(json_object_get(x, "properties"), n), "const");
            const json_t *cy = json_object_get(json_object_get(yprops, n), "const");
            const json_t *ry = json_object_get(y, "required");
            bool y_requires = false;
            size_t j;
            const json_t *m;
            json_array_foreach(ry, j, m) y_requires |= json_is_string(m) && strcmp(json_string_value(m), n) == 0;
            if (cx && cy && y_requires && !json_equal((json_t *)cx, (json_t *)cy))
                return true;
        }
    }
    return false;
}

static int check_one_of(struct gen *G, const json_t *arr)
{
    size_t n = json_array_size(arr);
    for (size_t i = 0; i < n; i++)
        for (size_t j = i + 1; j < n; j++) {
            const json_t *a = json_array_get(arr, i), *b = json_array_get(arr, j);
            unsigned common = schema_bits(G, a, 0) & schema_bits(G, b, 0);
            if (common == T_OBJECT && objects_disjoint(a, b))
                continue;
            if (common)
                return gerr(G, "oneOf branches %zu and %zu can match the same value; make them "
                               "exclusive (different types, or objects told apart by a required "
                               "property) or use anyOf", i, j);
        }
    return 0;
}

/* The body of one schema node's rule. */
static int gen_body(struct gen *G, const json_t *s, const char *name, struct buf *body);

static int gen_alternatives(struct gen *G, const json_t *arr, const char *kw, const char *name,
                            struct buf *body)
{
    if (!json_is_array(arr) || json_array_size(arr) == 0)
        return gerr(G, "%s must be a non-empty array", kw);
    size_t i;
    const json_t *sub;
    json_array_foreach(arr, i, sub) {
        char hint[64];
        snprintf(hint, sizeof hint, "%s-%zu", local_name(G, name), i);
        size_t old = path_push(G->path, sizeof G->path, ".%s[%zu]", kw, i);
        const char *r = gen_schema(G, sub, hint);
        G->path[old] = 0;
        if (!r)
            return -1;
        buf_printf(body, "%s%s", i ? " | " : "", r);
    }
    return 0;
}

/* Literal alternatives for enum/const values that satisfy the rest of the schema. */
static int gen_literals(struct gen *G, const json_t *s, const json_t *values, struct buf *body)
{
    size_t i, kept = 0;
    const json_t *v;
    json_array_foreach(values, i, v) {
        struct err tmp;
        if (validate_value(G->doc, s, v, &tmp))
            continue; /* e.g. an enum value of the wrong type: it could never validate */
        buf_puts(body, kept++ ? " | " : "");
        gbnf_json_literal(body, v);
    }
    if (!kept)
        return gerr(G, "no enum/const value satisfies the rest of the schema");
    return 0;
}

static int read_count(struct gen *G, const json_t *s, const char *k, long *out)
{
    const json_t *v = json_object_get(s, k);
    if (!v)
        return 0;
    if (!json_is_integer(v) || json_integer_value(v) < 0)
        return gerr(G, "%s must be a non-negative integer", k);
    if (json_integer_value(v) > MAX_COUNT)
        return gerr(G, "%s above %d is not supported", k, MAX_COUNT);
    *out = (long)json_integer_value(v);
    return 0;
}

static int gen_string(struct gen *G, const json_t *s, struct buf *body)
{
    long min = 0, max = -1;
    if (read_count(G, s, "minLength", &min) || read_count(G, s, "maxLength", &max))
        return -1;
    const json_t *pat = json_object_get(s, "pattern"), *fmt = json_object_get(s, "format");
    bool lengths = json_object_get(s, "minLength") || json_object_get(s, "maxLength");
    if (pat || fmt) {
        if (lengths || (pat && fmt))
            return gerr(G, "pattern and format cannot be combined with each other or with "
                           "minLength/maxLength");
        if (pat && !json_is_string(pat))
            return gerr(G, "pattern must be a string");
        if (fmt && !json_is_string(fmt))
            return gerr(G, "format must be a string");
        return pat ? gen_pattern(G, json_string_value(pat), body) : gen_format(G, json_string_value(fmt), body);
    }
    if (max >= 0 && max < min)
        return gerr(G, "maxLength is below minLength");
    const char *c = prim(G, P_CHAR);
    if (max < 0 && min == 0)
        buf_printf(body, "\"\\\"\" %s* \"\\\"\"", c);
    else if (max < 0)
        buf_printf(body, "\"\\\"\" %s{%ld,} \"\\\"\"", c, min);
    else
        buf_printf(body, "\"\\\"\" %s{%ld,%ld} \"\\\"\"", c, min, max);
    return 0;
}

static int gen_array(struct gen *G, const json_t *s, const char *name, struct buf *body)
{
    long min = 0, max = -1;
    if (read_count(G, s, "minItems", &min) || read_count(G, s, "maxItems", &max))
        return -1;
    if (max >= 0 && max < min)
        return gerr(G, "maxItems is below minItems");
    const json_t *items = json_object_get(s, "items");
    if (json_is_false(items))
        max = 0;
    const char *ws = prim(G, P_WS);
    if (max == 0) {
        if (min > 0)
            return gerr(G, "minItems above 0 with items false");
        buf_printf(body, "\"[\" %s \"]\"", ws);
        return 0;
    }
    const char *item;
    if (items && !json_is_true(items)) {
        char hint[80];
        snprintf(hint, sizeof hint, "%s-item", local_name(G, name));
        size_t old = path_push(G->path, sizeof G->path, ".items");
        item = gen_schema(G, items, hint);
        G->path[old] = 0;
        if (!item)
            return -1;
    } else {
        item = prim(G, P_VALUE);
    }
    char more[48];
    if (max < 0)
        snprintf(more, sizeof more, "{%ld,}", min > 1 ? min - 1 : 0);
    else
        snprintf(more, sizeof more, "{%ld,%ld}", min > 1 ? min - 1 : 0, max - 1);
    if (min == 0)
        buf_printf(body, "\"[\" %s (%s %s (\",\" %s %s %s)%s)? \"]\"", ws, item, ws, ws, item, ws, more);
    else
        buf_printf(body, "\"[\" %s %s %s (\",\" %s %s %s)%s \"]\"", ws, item, ws, ws, item, ws, more);
    return 0;
}

struct prop {
    const char *key;
    const json_t *schema;
    bool required;
};

static int gen_object(struct gen *G, const json_t *s, const char *name, struct buf *body)
{
    const json_t *props = json_object_get(s, "properties"), *req = json_object_get(s, "required");
    const json_t *ap = json_object_get(s, "additionalProperties");
    if (props && !json_is_object(props))
        return gerr(G, "properties must be an object");
    if (req && !json_is_array(req))
        return gerr(G, "required must be an array");
    const char *ws = prim(G, P_WS);
    size_t n = json_object_size(props) + json_array_size(req);
    struct prop *p = xcalloc(n ? n : 1, sizeof *p);
    size_t np = 0;
    const char *k;
    const json_t *v;
    json_object_foreach((json_t *)props, k, v) p[np++] = (struct prop){k, v, false};
    size_t i;
    json_array_foreach(req, i, v) {
        if (!json_is_string(v)) {
            free(p);
            return gerr(G, "required must list strings");
        }
        size_t j = 0;
        while (j < np && strcmp(p[j].key, json_string_value(v)) != 0)
            j++;
        if (j == np) {
            /* required but not declared: its value is whatever additionalProperties allows */
            if (json_is_false(ap)) {
                int rc = gerr(G, "required property \"%s\" is not in properties and "
                                 "additionalProperties is false: no object can satisfy this",
                              json_string_value(v));
                free(p);
                return rc;
            }
            p[np++] = (struct prop){json_string_value(v), ap && !json_is_true(ap) ? ap : json_true(),
                                    false};
        }
        p[j].required = true;
    }
    int rc = 0;
    if (np == 0) {
        if (json_is_false(ap)) {
            buf_printf(body, "\"{\" %s \"}\"", ws);
        } else {
            /* a map: any keys, values of the additionalProperties schema (any value if absent) */
            const char *val;
            if (ap && !json_is_true(ap)) {
                char hint[80];
                snprintf(hint, sizeof hint, "%s-value", local_name(G, name));
                size_t old = path_push(G->path, sizeof G->path, ".additionalProperties");
                val = gen_schema(G, ap, hint);
                G->path[old] = 0;
                if (!val) {
                    free(p);
                    return -1;
                }
            } else {
                val = prim(G, P_VALUE);
            }
            const char *str = prim(G, P_STRING);
            buf_printf(body, "\"{\" %s (%s %s \":\" %s %s %s (\",\" %s %s %s \":\" %s %s %s)*)? \"}\"",
                       ws, str, ws, ws, val, ws, ws, str, ws, ws, val, ws);
        }
        free(p);
        return 0;
    }
    /* declared properties, in order, through the F / R chains (see the top of the file) */
    const char **kv = xcalloc(np, sizeof *kv), **f = xcalloc(np + 1, sizeof *f), **r = xcalloc(np + 1, sizeof *r);
    const char *local = local_name(G, name);
    for (i = 0; i < np && !rc; i++) {
        char hint[128];
        snprintf(hint, sizeof hint, "%s%s%s", local, *local ? "-" : "", p[i].key);
        size_t old = path_push(G->path, sizeof G->path, ".properties.%s", p[i].key);
        const char *val = gen_schema(G, p[i].schema, hint);
        G->path[old] = 0;
        if (!val) {
            rc = -1;
            break;
        }
        snprintf(hint, sizeof hint, "%s%s%s-kv", local, *local ? "-" : "", p[i].key);
        kv[i] = reserve(G, hint);
        struct buf b;
        buf_init(&b);
        json_t *key = json_string(p[i].key);
        gbnf_json_literal(&b, key);
        json_decref(key);
        buf_printf(&b, " %s \":\" %s %s %s", ws, ws, val, ws);
        define(G, kv[i], b.data);
        buf_free(&b);
    }
    for (size_t j = np; !rc && j-- > 0;) { /* R_j and F_j from the last property backwards */
        char hint[80];
        struct buf b;
        buf_init(&b);
        const char *rn = r[j + 1] ? r[j + 1] : "", *fn = f[j + 1] ? f[j + 1] : "";
        snprintf(hint, sizeof hint, "%s%srest-%zu", local, *local ? "-" : "", j);
        r[j] = reserve(G, hint);
        if (p[j].required)
            buf_printf(&b, "\",\" %s %s %s", ws, kv[j], rn);
        else
            buf_printf(&b, "(\",\" %s %s)? %s", ws, kv[j], rn);
        define(G, r[j], b.data);
        buf_clear(&b);
        snprintf(hint, sizeof hint, "%s%sfirst-%zu", local, *local ? "-" : "", j);
        f[j] = reserve(G, hint);
        buf_printf(&b, "%s %s", kv[j], rn);
        if (!p[j].required)
            buf_printf(&b, " | %s", f[j + 1] ? fn : "\"\"");
        define(G, f[j], b.data);
        buf_free(&b);
    }
    if (!rc)
        buf_printf(body, "\"{\" %s %s \"}\"", ws, f[0]);
    free(kv);
    free(f);
    free(r);
    free(p);
    return rc;
}

static int gen_type(struct gen *G, const json_t *s, const char *t, const char *name, struct buf *body)
{
    if (strcmp(t, "null") == 0) {
        buf_puts(body, "\"null\"");
        return 0;
    }
    if (strcmp(t, "boolean") == 0) {
        buf_puts(body, "(\"true\" | \"false\")");
        return 0;
    }
    if (strcmp(t, "integer") == 0)
        return gen_integer(G, s, body);
    if (strcmp(t, "number") == 0)
        return gen_number(G, s, body);
    if (strcmp(t, "string") == 0)
        return gen_string(G, s, body);
    if (strcmp(t, "array") == 0)
        return gen_array(G, s, name, body);
    if (strcmp(t, "object") == 0)
        return gen_object(G, s, name, body);
    return gerr(G, "unknown type \"%s\"", t);
}

static int gen_body(struct gen *G, const json_t *s, const char *name, struct buf *body)
{
    if (json_is_true(s)) {
        buf_puts(body, prim(G, P_VALUE));
        return 0;
    }
    if (json_is_false(s))
        return gerr(G, "the schema false accepts nothing");
    if (!json_is_object(s))
        return gerr(G, "a schema must be an object or a boolean");
    if (check_keywords(G, s))
        return -1;
    const json_t *ref = json_object_get(s, "$ref");
    if (ref) {
        if (!json_is_string(ref))
            return gerr(G, "$ref must be a string");
        const char *k;
        const json_t *v;
        json_object_foreach((json_t *)s, k, v)
            if (strcmp(k, "$ref") != 0 && !in_list(g_annotations, k))
                return gerr(G, "$ref next to %s is not supported", k);
        const json_t *target = gen_ref(G, json_string_value(ref));
        if (!target)
            return -1;
        const char *rs = json_string_value(ref), *slash = strrchr(rs, '/');
        size_t old = path_push(G->path, sizeof G->path, "($ref %s)", rs);
        const char *r = gen_schema(G, target, slash ? slash + 1 : "ref");
        G->path[old] = 0;
        if (!r)
            return -1;
        buf_puts(body, r);
        return 0;
    }
    const json_t *all = json_object_get(s, "allOf");
    if (all) { /* a single branch (check_keywords refused more) */
        const char *k;
        const json_t *v;
        json_object_foreach((json_t *)s, k, v)
            if (strcmp(k, "allOf") != 0 && !in_list(g_annotations, k))
                return gerr(G, "allOf next to %s is not supported", k);
        size_t old = path_push(G->path, sizeof G->path, ".allOf[0]");
        const char *r = gen_schema(G, json_array_get(all, 0), "all");
        G->path[old] = 0;
        if (!r)
            return -1;
        buf_puts(body, r);
        return 0;
    }
    const json_t *any = json_object_get(s, "anyOf"), *one = json_object_get(s, "oneOf");
    if (any || one) {
        const char *kw = any ? "anyOf" : "oneOf";
        const char *k;
        const json_t *v;
        json_object_foreach((json_t *)s, k, v)
            if (strcmp(k, kw) != 0 && !in_list(g_annotations, k))
                return gerr(G, "%s next to %s is not supported (move %s into each branch)", kw, k, k);
        if (one && check_one_of(G, one))
            return -1;
        return gen_alternatives(G, any ? any : one, kw, name, body);
    }
    const json_t *c = json_object_get(s, "const"), *en = json_object_get(s, "enum");
    if (c) {
        json_t *arr = json_pack("[O]", c);
        int rc = gen_literals(G, s, arr, body);
        json_decref(arr);
        return rc;
    }
    if (en) {
        if (!json_is_array(en) || json_array_size(en) == 0)
            return gerr(G, "enum must be a non-empty array");
        return gen_literals(G, s, en, body);
    }
    /* the types: given, or implied by the keywords present, or any value */
    const json_t *t = json_object_get(s, "type");
    const char *types[8];
    size_t nt = 0;
    if (json_is_string(t)) {
        types[nt++] = json_string_value(t);
    } else if (json_is_array(t)) {
        size_t i;
        const json_t *v;
        json_array_foreach(t, i, v) {
            if (!json_is_string(v) || nt == 8)
                return gerr(G, "type must be a string or a list of strings");
            types[nt++] = json_string_value(v);
        }
        if (nt == 0)
            return gerr(G, "type is an empty list");
    } else if (t) {
        return gerr(G, "type must be a string or a list of strings");
    } else {
        if (has_any(s, g_object_kw))
            types[nt++] = "object";
        if (has_any(s, g_array_kw))
            types[nt++] = "array";
        if (has_any(s, g_string_kw))
            types[nt++] = "string";
        if (has_any(s, g_number_kw))
            types[nt++] = "number";
        if (nt == 0) {
            buf_puts(body, prim(G, P_VALUE));
            return 0;
        }
    }
    for (size_t i = 0; i < nt; i++) {
        if (i)
            buf_puts(body, " | ");
        if (gen_type(G, s, types[i], name, body))
            return -1;
    }
    return 0;
}

static const char *gen_schema(struct gen *G, const json_t *s, const char *hint)
{
    for (size_t i = 0; i < G->n_memo; i++)
        if (G->memo_key[i] == s)
            return G->memo_name[i];
    if (G->depth >= MAX_DEPTH) {
        gerr(G, "the schema is nested deeper than %d levels", MAX_DEPTH);
        return NULL;
    }
    const char *name = reserve(G, hint);
    grow_array((void **)&G->memo_key, &G->cap_memo, G->n_memo, sizeof *G->memo_key);
    G->memo_name = xrealloc_array(G->memo_name, G->cap_memo, sizeof *G->memo_name);
    G->memo_key[G->n_memo] = s;
    G->memo_name[G->n_memo++] = name;
    G->depth++;
    struct buf body;
    buf_init(&body);
    int rc = gen_body(G, s, name, &body);
    G->depth--;
    if (!rc)
        define(G, name, body.data);
    buf_free(&body);
    return rc ? NULL : name;
}

static void gen_free(struct gen *G)
{
    for (size_t i = 0; i < G->n_names; i++)
        free(G->names[i]);
    free(G->names);
    free(G->memo_key);
    free(G->memo_name);
}

static int rules_at(const json_t *schema, const char *name, const char *where, struct buf *out,
                    struct err *e)
{
    struct gen G;
    memset(&G, 0, sizeof G);
    G.doc = schema;
    G.prefix = name;
    G.out = out;
    G.e = e;
    snprintf(G.path, sizeof G.path, "%s", where);
    const char *r = gen_schema(&G, schema, "");
    gen_free(&G);
    return r ? 0 : -1;
}

int json_schema_rules(const json_t *schema, const char *name, struct buf *out, struct err *e)
{
    return rules_at(schema, name, "schema", out, e);
}

void json_schema_any_object_rules(const char *name, struct buf *out)
{
    struct gen G;
    memset(&G, 0, sizeof G);
    G.prefix = name;
    G.out = out;
    const char *n = reserve(&G, "");
    buf_printf(out, "%s ::= %s\n", n, prim(&G, P_OBJECT));
    gen_free(&G);
}

int json_schema_to_grammar(const json_t *schema, char **gbnf, struct err *e)
{
    struct buf b;
    buf_init(&b);
    if (rules_at(schema, "root", "schema", &b, e)) {
        buf_free(&b);
        *gbnf = NULL;
        return -1;
    }
    *gbnf = buf_detach(&b);
    return 0;
}

int json_schema_response_format(const json_t *rf, char **gbnf, struct err *e)
{
    *gbnf = NULL;
    if (!rf || json_is_null(rf))
        return 0;
    if (!json_is_object(rf))
        return err_set(e, "response_format must be an object");
    const char *type = json_string_value(json_object_get(rf, "type"));
    if (!type)
        return err_set(e, "response_format.type must be \"text\", \"json_object\" or \"json_schema\"");
    if (strcmp(type, "text") == 0)
        return 0;
    struct buf b;
    buf_init(&b);
    if (strcmp(type, "json_object") == 0) {
        json_schema_any_object_rules("root", &b);
        *gbnf = buf_detach(&b);
        return 0;
    }
    if (strcmp(type, "json_schema") != 0)
        return err_set(e, "response_format.type \"%s\" is not one of \"text\", \"json_object\", "
                          "\"json_schema\"", type);
    const json_t *js = json_object_get(rf, "json_schema");
    if (!json_is_object(js))
        return err_set(e, "response_format.json_schema must be an object");
    const json_t *schema = json_object_get(js, "schema");
    if (!schema)
        return err_set(e, "response_format.json_schema.schema is missing");
    if (rules_at(schema, "root", "response_format.json_schema.schema", &b, e)) {
        buf_free(&b);
        return -1;
    }
    *gbnf = buf_detach(&b);
    return 0;
}

/* =============================================================================================
 * Validator */

struct val {
    const json_t *doc;
    struct err *e;
    char path[400]; /* $.a[2].b */
    int depth;
};

static int vfail(struct val *V, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static int vfail(struct val *V, const char *fmt, ...)
{
    char msg[300];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    return err_set(V->e, "%s: %s", V->path, msg);
}

/* JSON equality with numbers compared by value (1 == 1.0), as JSON Schema wants. */
static bool values_equal(const json_t *a, const json_t *b)
{
    if (json_is_number(a) && json_is_number(b))
        return json_number_value(a) == json_number_value(b);
    if (json_typeof(a) != json_typeof(b))
        return false;
    if (json_is_array(a)) {
        if (json_array_size(a) != json_array_size(b))
            return false;
        for (size_t i = 0; i < json_array_size(a); i++)
            if (!values_equal(json_array_get(a, i), json_array_get(b, i)))
                return false;
        return true;
    }
    if (json_is_object(a)) {
        if (json_object_size(a) != json_object_size(b))
            return false;
        const char *k;
        const json_t *v;
        json_object_foreach((json_t *)a, k, v) {
            const json_t *w = json_object_get(b, k);
            if (!w || !values_equal(v, w))
                return false;
        }
        return true;
    }
    return json_equal((json_t *)a, (json_t *)b);
}

static bool has_type(const json_t *x, const char *t)
{
    if (strcmp(t, "null") == 0) return json_is_null(x);
    if (strcmp(t, "boolean") == 0) return json_is_boolean(x);
    if (strcmp(t, "string") == 0) return json_is_string(x);
    if (strcmp(t, "array") == 0) return json_is_array(x);
    if (strcmp(t, "object") == 0) return json_is_object(x);
    if (strcmp(t, "number") == 0) return json_is_number(x);
    if (strcmp(t, "integer") == 0)
        return json_is_integer(x) || (json_is_real(x) && json_real_value(x) == floor(json_real_value(x)));
    return false;
}

static bool digits_at(const char *s, size_t n, size_t at, size_t k)
{
    if (at + k > n)
        return false;
    for (size_t i = 0; i < k; i++)
        if (s[at + i] < '0' || s[at + i] > '9')
            return false;
    return true;
}

static int num_at(const char *s, size_t at, size_t k)
{
    int v = 0;
    for (size_t i = 0; i < k; i++)
        v = v * 10 + (s[at + i] - '0');
    return v;
}

/* RFC 3339 full-date at s[0..10). */
static bool valid_date(const char *s, size_t n)
{
    if (n < 10 || !digits_at(s, n, 0, 4) || s[4] != '-' || !digits_at(s, n, 5, 2) || s[7] != '-' ||
        !digits_at(s, n, 8, 2))
        return false;
    int y = num_at(s, 0, 4), m = num_at(s, 5, 2), d = num_at(s, 8, 2);
    static const int days[13] = {0, 31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    if (m < 1 || m > 12 || d < 1)
        return false;
    bool leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
    return d <= days[m] + (m == 2 && leap);
}

/* RFC 3339 full-time: HH:MM:SS[.frac](Z|+HH:MM|-HH:MM), all of s. */
static bool valid_time(const char *s, size_t n)
{
    if (!digits_at(s, n, 0, 2) || n < 8 || s[2] != ':' || !digits_at(s, n, 3, 2) || s[5] != ':' ||
        !digits_at(s, n, 6, 2))
        return false;
    if (num_at(s, 0, 2) > 23 || num_at(s, 3, 2) > 59 || num_at(s, 6, 2) > 60)
        return false;
    size_t i = 8;
    if (i < n && s[i] == '.') {
        size_t k = ++i;
        while (i < n && s[i] >= '0' && s[i] <= '9')
            i++;
        if (i == k)
            return false;
    }
    if (i < n && (s[i] == 'Z' || s[i] == 'z'))
        return i + 1 == n;
    if (i < n && (s[i] == '+' || s[i] == '-'))
        return i + 6 == n && digits_at(s, n, i + 1, 2) && s[i + 3] == ':' && digits_at(s, n, i + 4, 2) &&
               num_at(s, i + 1, 2) <= 23 && num_at(s, i + 4, 2) <= 59;
    return false;
}

static bool valid_uuid(const char *s, size_t n)
{
    if (n != 36)
        return false;
    for (size_t i = 0; i < n; i++) {
        bool dash = i == 8 || i == 13 || i == 18 || i == 23;
        char c = s[i];
        bool hex = (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
        if (dash ? c != '-' : !hex)
            return false;
    }
    return true;
}

static int check_pattern(struct val *V, const char *pattern, const char *s, size_t n)
{
    int errcode;
    PCRE2_SIZE erroff;
    pcre2_code *re = pcre2_compile((PCRE2_SPTR)pattern, PCRE2_ZERO_TERMINATED,
                                   PCRE2_UTF | PCRE2_DOLLAR_ENDONLY, &errcode, &erroff, NULL);
    if (!re)
        return vfail(V, "pattern \"%s\" does not compile (offset %zu)", pattern, (size_t)erroff);
    pcre2_match_data *md = pcre2_match_data_create_from_pattern(re, NULL);
    int rc = pcre2_match(re, (PCRE2_SPTR)s, n, 0, 0, md, NULL);
    pcre2_match_data_free(md);
    pcre2_code_free(re);
    if (rc < 0)
        return vfail(V, "\"%.*s\" does not match the pattern \"%s\"", (int)(n > 60 ? 60 : n), s, pattern);
    return 0;
}

static int validate(struct val *V, const json_t *s, const json_t *x);

static int validate_string(struct val *V, const json_t *s, const json_t *x)
{
    const char *str = json_string_value(x);
    size_t n = json_string_length(x), chars = 0;
    for (size_t i = 0; i < n; i++)
        chars += ((unsigned char)str[i] & 0xC0) != 0x80;
    const json_t *v;
    if ((v = json_object_get(s, "minLength")) && (json_int_t)chars < json_integer_value(v))
        return vfail(V, "%zu characters, fewer than minLength %lld", chars, (long long)json_integer_value(v));
    if ((v = json_object_get(s, "maxLength")) && (json_int_t)chars > json_integer_value(v))
        return vfail(V, "%zu characters, more than maxLength %lld", chars, (long long)json_integer_value(v));
    if ((v = json_object_get(s, "pattern")) && check_pattern(V, json_string_value(v), str, n))
        return -1;
    if ((v = json_object_get(s, "format"))) {
        const char *f = json_string_value(v);
        bool ok;
        if (!f)
            return vfail(V, "format must be a string");
        if (strcmp(f, "date") == 0)
            ok = n == 10 && valid_date(str, n);
        else if (strcmp(f, "time") == 0)
            ok = valid_time(str, n);
        else if (strcmp(f, "date-time") == 0)
            ok = n > 11 && valid_date(str, n) && (str[10] == 'T' || str[10] == 't') && valid_time(str + 11, n - 11);
        else if (strcmp(f, "uuid") == 0)
            ok = valid_uuid(str, n);
        else
            return vfail(V, "format \"%s\" is not supported", f);
        if (!ok)
            return vfail(V, "\"%.*s\" is not a valid %s", (int)(n > 60 ? 60 : n), str, f);
    }
    return 0;
}

static int validate_number(struct val *V, const json_t *s, const json_t *x)
{
    double d = json_number_value(x);
    const json_t *v;
    bool emin = json_is_true(json_object_get(s, "exclusiveMinimum"));
    bool emax = json_is_true(json_object_get(s, "exclusiveMaximum"));
    if ((v = json_object_get(s, "minimum")) && (emin ? d <= json_number_value(v) : d < json_number_value(v)))
        return vfail(V, "%.17g is below the minimum %.17g", d, json_number_value(v));
    if ((v = json_object_get(s, "maximum")) && (emax ? d >= json_number_value(v) : d > json_number_value(v)))
        return vfail(V, "%.17g is above the maximum %.17g", d, json_number_value(v));
    if ((v = json_object_get(s, "exclusiveMinimum")) && json_is_number(v) && d <= json_number_value(v))
        return vfail(V, "%.17g is not above the exclusiveMinimum %.17g", d, json_number_value(v));
    if ((v = json_object_get(s, "exclusiveMaximum")) && json_is_number(v) && d >= json_number_value(v))
        return vfail(V, "%.17g is not below the exclusiveMaximum %.17g", d, json_number_value(v));
    return 0;
}

static int validate_array(struct val *V, const json_t *s, const json_t *x)
{
    size_t n = json_array_size(x);
    const json_t *v;
    if ((v = json_object_get(s, "minItems")) && (json_int_t)n < json_integer_value(v))
        return vfail(V, "%zu items, fewer than minItems %lld", n, (long long)json_integer_value(v));
    if ((v = json_object_get(s, "maxItems")) && (json_int_t)n > json_integer_value(v))
        return vfail(V, "%zu items, more than maxItems %lld", n, (long long)json_integer_value(v));
    const json_t *items = json_object_get(s, "items");
    if (!items)
        return 0;
    for (size_t i = 0; i < n; i++) {
        size_t old = path_push(V->path, sizeof V->path, "[%zu]", i);
        int rc = validate(V, items, json_array_get(x, i));
        V->path[old] = 0;
        if (rc)
            return -1;
    }
    return 0;
}

static int validate_object(struct val *V, const json_t *s, const json_t *x)
{
    const json_t *props = json_object_get(s, "properties"), *req = json_object_get(s, "required");
    const json_t *ap = json_object_get(s, "additionalProperties");
    size_t i;
    const json_t *r;
    json_array_foreach(req, i, r)
        if (json_is_string(r) && !json_object_get(x, json_string_value(r)))
            return vfail(V, "the required property \"%s\" is missing", json_string_value(r));
    const char *k;
    const json_t *v;
    json_object_foreach((json_t *)x, k, v) {
        const json_t *ps = json_object_get(props, k);
        if (!ps && !ap)
            continue;
        if (!ps && json_is_false(ap))
            return vfail(V, "property \"%s\" is not allowed (additionalProperties false)", k);
        size_t old = path_push(V->path, sizeof V->path, ".%s", k);
        int rc = validate(V, ps ? ps : ap, v);
        V->path[old] = 0;
        if (rc)
            return -1;
    }
    return 0;
}

static int validate(struct val *V, const json_t *s, const json_t *x)
{
    if (json_is_true(s))
        return 0;
    if (json_is_false(s))
        return vfail(V, "the schema false accepts nothing");
    if (!json_is_object(s))
        return vfail(V, "the schema is not an object or a boolean");
    if (++V->depth > 256) {
        V->depth--;
        return vfail(V, "the schema recurses without end");
    }
    int rc = -1;
    const char *k;
    const json_t *v;
    json_object_foreach((json_t *)s, k, v)
        if (in_list(g_unsupported, k)) {
            vfail(V, "%s is not supported", k);
            goto out;
        }
    if ((v = json_object_get(s, "$ref"))) {
        const char *why;
        const json_t *t = json_is_string(v) ? resolve_ref(V->doc, json_string_value(v), &why) : NULL;
        if (!t) {
            vfail(V, "$ref does not resolve");
            goto out;
        }
        if (validate(V, t, x))
            goto out;
    }
    if ((v = json_object_get(s, "type"))) {
        bool ok = false;
        if (json_is_string(v)) {
            ok = has_type(x, json_string_value(v));
        } else {
            size_t i;
            const json_t *t;
            json_array_foreach(v, i, t) ok |= json_is_string(t) && has_type(x, json_string_value(t));
        }
        if (!ok) {
            char *d = json_dumps(x, JSON_COMPACT | JSON_ENCODE_ANY);
            vfail(V, "%.60s is not of the type the schema requires", d ? d : "?");
            free(d);
            goto out;
        }
    }
    if ((v = json_object_get(s, "const")) && !values_equal(v, x)) {
        vfail(V, "not the const value");
        goto out;
    }
    if ((v = json_object_get(s, "enum"))) {
        bool ok = false;
        size_t i;
        const json_t *t;
        json_array_foreach(v, i, t) ok |= values_equal(t, x);
        if (!ok) {
            vfail(V, "not one of the enum values");
            goto out;
        }
    }
    if (json_is_string(x) && validate_string(V, s, x))
        goto out;
    if (json_is_number(x) && validate_number(V, s, x))
        goto out;
    if (json_is_array(x) && validate_array(V, s, x))
        goto out;
    if (json_is_object(x) && validate_object(V, s, x))
        goto out;
    if ((v = json_object_get(s, "allOf"))) {
        size_t i;
        const json_t *t;
        json_array_foreach(v, i, t) if (validate(V, t, x)) goto out;
    }
    const char *kws[2] = {"anyOf", "oneOf"};
    for (int w = 0; w < 2; w++) {
        if (!(v = json_object_get(s, kws[w])))
            continue;
        size_t i, matched = 0;
        const json_t *t;
        struct err first;
        first.msg[0] = 0;
        json_array_foreach(v, i, t) {
            struct err tmp;
            struct val sub = *V;
            sub.e = &tmp;
            if (validate(&sub, t, x) == 0)
                matched++;
            else if (!first.msg[0])
                first = tmp;
        }
        if (matched == 0) {
            vfail(V, "matches none of the %s branches (first: %s)", kws[w], first.msg);
            goto out;
        }
        if (w == 1 && matched > 1) {
            vfail(V, "matches %zu oneOf branches, not exactly one", matched);
            goto out;
        }
    }
    rc = 0;
out:
    V->depth--;
    return rc;
}

static int validate_value(const json_t *doc, const json_t *schema, const json_t *v, struct err *e)
{
    struct val V;
    memset(&V, 0, sizeof V);
    V.doc = doc;
    V.e = e;
    snprintf(V.path, sizeof V.path, "$");
    return validate(&V, schema, v);
}

int json_schema_validate(const json_t *schema, const char *json_text, size_t len, struct err *e)
{
    json_error_t je;
    json_t *x = json_loadb(json_text, len, JSON_DECODE_ANY | JSON_ALLOW_NUL, &je);
    if (!x)
        return err_set(e, "not JSON: %s at line %d, column %d", je.text, je.line, je.column);
    int rc = schema ? validate_value(schema, schema, x, e) : 0;
    json_decref(x);
    return rc;
}
