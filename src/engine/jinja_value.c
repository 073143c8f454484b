/* jinja_value: the arena, runtime values and their text forms for the chat-template engine.
 *
 * Text forms follow @huggingface/jinja's runtime.ts, which leans on JavaScript:
 * - numbers print as JavaScript's Number.prototype.toString (shortest round-trip digits,
 *   exponent form below 1e-6 and from 1e21); a FloatValue with an integral value prints with
 *   ".0" (toFixed(1)), and -0.0 as "-0.0"; inside JSON and `~` concatenation a float is a plain
 *   JavaScript number again ("1", not "1.0");
 * - toJSON: JSON.stringify's string escaping (\" \\ \b \f \n \r \t, other controls as \u00xx,
 *   everything else raw), ", " and ": " separators, or "," and ": " with an indent, as Python's
 *   json.dumps; ensure_ascii escapes U+007F and above per UTF-16 unit;
 * - strings are compared, measured and indexed as JavaScript's UTF-16 strings would be.
 * Everything lives in the arena of the current parse or render (jinja_impl.h).
 */
#include "engine/jinja_impl.h"

#include "base/alloc.h"
#include "engine/template.h"
#include "engine/unicode.h"

#include <math.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- arena ---------------------------------------------------------------------------------- */

struct jinja_chunk {
    struct jinja_chunk *next;
    size_t cap, used;
    _Alignas(16) unsigned char data[];
};

#define ARENA_MIN_CHUNK (32u << 10)
#define ARENA_MAX_CHUNK (4u << 20)

void jinja_arena_init(struct jinja_arena *a, size_t limit_bytes)
{
    a->head = NULL;
    a->total_bytes = 0;
    a->limit_bytes = limit_bytes;
}

void jinja_arena_free(struct jinja_arena *a)
{
    struct jinja_chunk *c = a->head;
    while (c) {
        struct jinja_chunk *next = c->next;
        free(c);
        c = next;
    }
    a->head = NULL;
    a->total_bytes = 0;
}

void *jinja_arena_alloc(struct jinja_arena *a, size_t n)
{
    n = (n + 15) & ~(size_t)15;
    if (n == 0)
        n = 16;
    struct jinja_chunk *h = a->head;
    if (h && h->cap - h->used >= n) {
        void *p = h->data + h->used;
        h->used += n;
        return p;
    }
    /* Chunks grow with the arena (a quarter of what it holds), so a big render makes few. */
    size_t size = a->total_bytes / 4;
    size = size < ARENA_MIN_CHUNK ? ARENA_MIN_CHUNK : size > ARENA_MAX_CHUNK ? ARENA_MAX_CHUNK : size;
    if (size < n)
        size = n;
    if (n > a->limit_bytes || a->total_bytes > a->limit_bytes - n)
        return NULL;
    if (size > a->limit_bytes - a->total_bytes)
        size = a->limit_bytes - a->total_bytes;
    struct jinja_chunk *c = xmalloc(sizeof *c + size);
    c->cap = size;
    c->used = n;
    a->total_bytes += size;
    if (h && n > h->cap - h->used && size == n && h->cap - h->used > 1024) {
        /* a one-off large block: keep allocating from the current chunk */
        c->next = h->next;
        h->next = c;
    } else {
        c->next = h;
        a->head = c;
    }
    return c->data;
}

_Noreturn void jinja_fail(struct jinja_ctx *c, int code, uint32_t line, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    char msg[ERR_MSG_MAX];
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    if (line)
        err_set(c->e, "line %u: %s", line, msg);
    else
        err_set(c->e, "%s", msg);
    c->code = code;
    longjmp(c->jb, 1);
}

void *jinja_alloc(struct jinja_ctx *c, size_t n)
{
    void *p = jinja_arena_alloc(c->arena, n);
    if (!p)
        jinja_fail(c, c->oom_code, 0, "the template needs more than %zu MiB of memory",
                   c->arena->limit_bytes >> 20);
    return p;
}

char *jinja_strdup(struct jinja_ctx *c, const char *p, size_t n)
{
    char *d = jinja_alloc(c, n + 1);
    if (n)
        memcpy(d, p, n);
    d[n] = 0;
    return d;
}

void jinja_sb_init(struct jinja_sb *b, size_t limit)
{
    b->p = NULL;
    b->len = b->cap = 0;
    b->limit = limit;
}

void jinja_sb_put(struct jinja_ctx *c, struct jinja_sb *b, const char *p, size_t n)
{
    if (n == 0)
        return;
    if (n > b->limit || b->len > b->limit - n)
        jinja_fail(c, TMPL_ERR_RENDER, 0, "the template's output exceeds %zu bytes", b->limit);
    if (b->len + n > b->cap) {
        size_t cap = b->cap ? b->cap * 2 : 64;
        if (cap < b->len + n)
            cap = b->len + n;
        char *np = jinja_alloc(c, cap);
        if (b->len)
            memcpy(np, b->p, b->len);
        b->p = np;
        b->cap = cap;
    }
    memcpy(b->p + b->len, p, n);
    b->len += n;
}

void jinja_sb_puts(struct jinja_ctx *c, struct jinja_sb *b, const char *s)
{
    jinja_sb_put(c, b, s, strlen(s));
}

struct jinja_sv jinja_sb_sv(const struct jinja_sb *b)
{
    return (struct jinja_sv){b->p ? b->p : "", b->len};
}

/* ---- values --------------------------------------------------------------------------------- */

const struct jinja_val jinja_undef = {.type = JV_UNDEF};
const struct jinja_val jinja_null = {.type = JV_NULL};

struct jinja_val jv_bool(bool b)
{
    return (struct jinja_val){.type = JV_BOOL, .u.b = b};
}

struct jinja_val jv_int(double n)
{
    return (struct jinja_val){.type = JV_INT, .u.num = n};
}

struct jinja_val jv_float(double n)
{
    return (struct jinja_val){.type = JV_FLOAT, .u.num = n};
}

struct jinja_val jv_str(struct jinja_sv s)
{
    return (struct jinja_val){.type = JV_STR, .u.s = s};
}

struct jinja_val jv_cstr(const char *s)
{
    return jv_str((struct jinja_sv){s, strlen(s)});
}

struct jinja_val jv_array(struct jinja_ctx *c, size_t n)
{
    struct jinja_arr *a = jinja_alloc(c, sizeof *a);
    if (n > SIZE_MAX / sizeof(struct jinja_val))
        jinja_fail(c, TMPL_ERR_RENDER, 0, "list of %zu items is too long", n);
    a->n = n;
    a->v = n ? jinja_alloc(c, n * sizeof *a->v) : NULL;
    return (struct jinja_val){.type = JV_ARRAY, .u.arr = a};
}

struct jinja_val jv_object(struct jinja_ctx *c, uint8_t type)
{
    struct jinja_obj *o = jinja_alloc(c, sizeof *o);
    memset(o, 0, sizeof *o);
    return (struct jinja_val){.type = type, .u.obj = o};
}

static uint32_t sv_hash(struct jinja_sv s)
{
    uint32_t h = 2166136261u;
    for (size_t i = 0; i < s.len; i++)
        h = (h ^ (unsigned char)s.p[i]) * 16777619u;
    return h;
}

bool jinja_sv_eq(struct jinja_sv a, struct jinja_sv b)
{
    return a.len == b.len && (a.len == 0 || memcmp(a.p, b.p, a.len) == 0);
}

bool jinja_sv_eqc(struct jinja_sv a, const char *s)
{
    return jinja_sv_eq(a, (struct jinja_sv){s, strlen(s)});
}

static void obj_reindex(struct jinja_ctx *c, struct jinja_obj *o)
{
    size_t cap = 16;
    while (cap < o->n * 2)
        cap *= 2;
    if (cap != o->index_cap) {
        o->index = jinja_alloc(c, cap * sizeof *o->index);
        o->index_cap = cap;
    }
    memset(o->index, 0, cap * sizeof *o->index);
    for (size_t i = 0; i < o->n; i++) {
        size_t h = sv_hash(o->kv[i].key) & (cap - 1);
        while (o->index[h])
            h = (h + 1) & (cap - 1);
        o->index[h] = (uint32_t)(i + 1);
    }
}

static ptrdiff_t obj_find(const struct jinja_obj *o, struct jinja_sv key)
{
    if (o->index) {
        size_t h = sv_hash(key) & (o->index_cap - 1);
        while (o->index[h]) {
            size_t i = o->index[h] - 1;
            if (jinja_sv_eq(o->kv[i].key, key))
                return (ptrdiff_t)i;
            h = (h + 1) & (o->index_cap - 1);
        }
        return -1;
    }
    for (size_t i = 0; i < o->n; i++)
        if (jinja_sv_eq(o->kv[i].key, key))
            return (ptrdiff_t)i;
    return -1;
}

struct jinja_val *jv_obj_get(const struct jinja_obj *o, struct jinja_sv key)
{
    ptrdiff_t i = obj_find(o, key);
    return i < 0 ? NULL : &o->kv[i].val;
}

void jv_obj_set(struct jinja_ctx *c, struct jinja_obj *o, struct jinja_sv key, struct jinja_val v)
{
    ptrdiff_t i = obj_find(o, key);
    if (i >= 0) {
        o->kv[i].val = v;
        return;
    }
    if (o->n == o->cap) {
        size_t cap = o->cap ? o->cap * 2 : 4;
        struct jinja_kv *kv = jinja_alloc(c, cap * sizeof *kv);
        if (o->n)
            memcpy(kv, o->kv, o->n * sizeof *kv);
        o->kv = kv;
        o->cap = cap;
    }
    o->kv[o->n].key = key;
    o->kv[o->n].val = v;
    o->n++;
    if (o->n > 8) {
        if (o->n * 2 > o->index_cap)
            obj_reindex(c, o);
        else {
            size_t h = sv_hash(key) & (o->index_cap - 1);
            while (o->index[h])
                h = (h + 1) & (o->index_cap - 1);
            o->index[h] = (uint32_t)o->n;
        }
    }
}

void jv_obj_del(struct jinja_obj *o, struct jinja_sv key)
{
    ptrdiff_t i = obj_find(o, key);
    if (i < 0)
        return;
    memmove(&o->kv[i], &o->kv[i + 1], (o->n - (size_t)i - 1) * sizeof *o->kv);
    o->n--;
    o->index = NULL; /* back to linear search: only keyword-argument maps lose keys */
    o->index_cap = 0;
}

const char *jv_type_name(struct jinja_val v)
{
    static const char *const names[] = {
        [JV_UNDEF] = "UndefinedValue", [JV_NULL] = "NullValue",     [JV_BOOL] = "BooleanValue",
        [JV_INT] = "IntegerValue",     [JV_FLOAT] = "FloatValue",   [JV_STR] = "StringValue",
        [JV_ARRAY] = "ArrayValue",     [JV_TUPLE] = "TupleValue",   [JV_OBJECT] = "ObjectValue",
        [JV_KWARGS] = "KeywordArgumentsValue", [JV_NS] = "NamespaceValue",
        [JV_FUNC] = "FunctionValue", [JV_MISSING] = "undefined",
    };
    return names[v.type];
}

bool jv_truthy(struct jinja_val v)
{
    switch (v.type) {
    case JV_UNDEF:
    case JV_NULL: return false;
    case JV_BOOL: return v.u.b;
    case JV_INT:
    case JV_FLOAT: return v.u.num != 0 && !isnan(v.u.num);
    case JV_STR: return v.u.s.len > 0;
    case JV_ARRAY:
    case JV_TUPLE: return v.u.arr->n > 0;
    case JV_OBJECT:
    case JV_KWARGS: return v.u.obj->n > 0;
    default: return true; /* namespaces and functions */
    }
}

bool jv_js_truthy(struct jinja_val v)
{
    switch (v.type) {
    case JV_ARRAY:
    case JV_TUPLE:
    case JV_OBJECT:
    case JV_KWARGS: return true;
    default: return jv_truthy(v);
    }
}

/* What a value's raw JavaScript .value is, for the equality operators. The reference builds
 * every NullValue without an argument, so its .value is undefined, not null. */
enum js_kind { JS_UNDEF, JS_BOOL, JS_NUM, JS_STR, JS_REF };

static enum js_kind js_kind(struct jinja_val v)
{
    switch (v.type) {
    case JV_UNDEF:
    case JV_NULL: return JS_UNDEF;
    case JV_BOOL: return JS_BOOL;
    case JV_INT:
    case JV_FLOAT: return JS_NUM;
    case JV_STR: return JS_STR;
    case JV_MISSING: return JS_UNDEF;
    default: return JS_REF;
    }
}

static const void *js_ref(struct jinja_val v)
{
    switch (v.type) {
    case JV_ARRAY:
    case JV_TUPLE: return v.u.arr;
    case JV_OBJECT:
    case JV_KWARGS:
    case JV_NS: return v.u.obj;
    default: return v.u.fn;
    }
}

bool jv_strict_eq(struct jinja_val a, struct jinja_val b)
{
    enum js_kind ka = js_kind(a), kb = js_kind(b);
    if (ka != kb)
        return false;
    switch (ka) {
    case JS_UNDEF: return true;
    case JS_BOOL: return a.u.b == b.u.b;
    case JS_NUM: return a.u.num == b.u.num;
    case JS_STR: return jinja_sv_eq(a.u.s, b.u.s);
    default: return js_ref(a) == js_ref(b);
    }
}

bool jv_loose_eq(struct jinja_ctx *c, struct jinja_val a, struct jinja_val b)
{
    /* ECMAScript IsLooselyEqual over the raw values */
    enum js_kind ka = js_kind(a), kb = js_kind(b);
    if (ka == kb)
        return jv_strict_eq(a, b);
    if (ka == JS_UNDEF || kb == JS_UNDEF)
        return false;
    if (ka == JS_BOOL)
        return jv_loose_eq(c, jv_int(a.u.b ? 1 : 0), b);
    if (kb == JS_BOOL)
        return jv_loose_eq(c, a, jv_int(b.u.b ? 1 : 0));
    if (ka == JS_NUM && kb == JS_STR)
        return a.u.num == jinja_str_to_number(b.u.s);
    if (ka == JS_STR && kb == JS_NUM)
        return jinja_str_to_number(a.u.s) == b.u.num;
    /* an object against a number or string: compare its primitive (String) form; a function's
     * would be its JavaScript source, which equals nothing a template compares with */
    if (ka == JS_REF && a.type == JV_FUNC)
        return false;
    if (kb == JS_REF && b.type == JV_FUNC)
        return false;
    struct jinja_sb sb;
    jinja_sb_init(&sb, SIZE_MAX / 2);
    jinja_put_raw(c, &sb, ka == JS_REF ? a : b, 0);
    struct jinja_val prim = jv_str(jinja_sb_sv(&sb));
    return ka == JS_REF ? jv_loose_eq(c, prim, b) : jv_loose_eq(c, a, prim);
}

/* ---- numbers -------------------------------------------------------------------------------- */

void jinja_put_number(struct jinja_ctx *c, struct jinja_sb *b, double x)
{
    if (isnan(x)) {
        jinja_sb_puts(c, b, "NaN");
        return;
    }
    if (isinf(x)) {
        jinja_sb_puts(c, b, x > 0 ? "Infinity" : "-Infinity");
        return;
    }
    if (x == 0) {
        jinja_sb_puts(c, b, "0");
        return;
    }
    if (x < 0) {
        jinja_sb_puts(c, b, "-");
        x = -x;
    }
    /* shortest digits that read back as x: the correctly rounded p-digit form for the least p */
    char buf[40];
    for (int p = 1; p <= 17; p++) {
        snprintf(buf, sizeof buf, "%.*e", p - 1, x);
        if (strtod(buf, NULL) == x)
            break;
    }
    char digits[24];
    int k = 0;
    const char *s = buf;
    for (; *s && *s != 'e'; s++)
        if (*s >= '0' && *s <= '9')
            digits[k++] = *s;
    while (k > 1 && digits[k - 1] == '0')
        k--;
    int n = atoi(s + 1) + 1; /* x = 0.d1d2...dk * 10^n */
    char out[64];
    int o = 0;
    if (k <= n && n <= 21) {
        memcpy(out, digits, (size_t)k);
        o = k;
        for (int i = k; i < n; i++)
            out[o++] = '0';
    } else if (0 < n && n <= 21) {
        memcpy(out, digits, (size_t)n);
        o = n;
        out[o++] = '.';
        memcpy(out + o, digits + n, (size_t)(k - n));
        o += k - n;
    } else if (-6 < n && n <= 0) {
        out[o++] = '0';
        out[o++] = '.';
        for (int i = 0; i < -n; i++)
            out[o++] = '0';
        memcpy(out + o, digits, (size_t)k);
        o += k;
    } else {
        out[o++] = digits[0];
        if (k > 1) {
            out[o++] = '.';
            memcpy(out + o, digits + 1, (size_t)(k - 1));
            o += k - 1;
        }
        o += snprintf(out + o, sizeof out - (size_t)o, "e%c%d", n - 1 >= 0 ? '+' : '-',
                      abs(n - 1));
    }
    jinja_sb_put(c, b, out, (size_t)o);
}

/* FloatValue.toString: integral values keep ".0" (toFixed(1)), -0 is "-0.0". */
static void put_float(struct jinja_ctx *c, struct jinja_sb *b, double x)
{
    if (x == 0 && signbit(x)) {
        jinja_sb_puts(c, b, "-0.0");
        return;
    }
    if (isfinite(x) && fmod(x, 1.0) == 0 && fabs(x) < 1e21) {
        char buf[64];
        int n = snprintf(buf, sizeof buf, "%.1f", x);
        jinja_sb_put(c, b, buf, (size_t)n);
        return;
    }
    jinja_put_number(c, b, x);
}

/* ---- JavaScript strings over UTF-8 ---------------------------------------------------------- */

bool jinja_js_space(uint32_t cp)
{
    if (cp < 0x80)
        return cp == ' ' || (cp >= 9 && cp <= 13);
    return cp == 0xA0 || cp == 0x1680 || (cp >= 0x2000 && cp <= 0x200A) || cp == 0x2028 ||
           cp == 0x2029 || cp == 0x202F || cp == 0x205F || cp == 0x3000 || cp == 0xFEFF;
}

size_t jinja_space_at(const char *s, size_t n, size_t i)
{
    unsigned char ch = (unsigned char)s[i];
    if (ch < 0x80)
        return jinja_js_space(ch) ? 1 : 0;
    if (ch != 0xC2 && ch != 0xE1 && ch != 0xE2 && ch != 0xE3 && ch != 0xEF)
        return 0;
    size_t off = i;
    uint32_t cp = unicode_decode(s, n, &off);
    return jinja_js_space(cp) ? off - i : 0;
}

/* Start of the UTF-8 character that ends at s[end-1]. */
static size_t char_start_before(const char *s, size_t end)
{
    size_t i = end - 1;
    size_t lim = end >= 4 ? end - 4 : 0;
    while (i > lim && ((unsigned char)s[i] & 0xC0) == 0x80)
        i--;
    return i;
}

struct jinja_sv jinja_trim(struct jinja_sv s, bool start, bool end)
{
    size_t a = 0, z = s.len;
    if (start) {
        size_t w;
        while (a < z && (w = jinja_space_at(s.p, z, a)) > 0)
            a += w;
    }
    if (end) {
        while (z > a) {
            size_t i = char_start_before(s.p, z);
            if (i < a || jinja_space_at(s.p, z, i) != z - i)
                break;
            z = i;
        }
    }
    return (struct jinja_sv){s.p + a, z - a};
}

size_t jinja_utf16_len(struct jinja_sv s)
{
    size_t n = 0;
    for (size_t i = 0; i < s.len;) {
        size_t off = i;
        uint32_t cp = unicode_decode(s.p, s.len, &off);
        n += cp >= 0x10000 ? 2 : 1;
        i = off;
    }
    return n;
}

/* Uppercase of a code point by inverting the simple lowercase table (smallest source wins:
 * 'K' over KELVIN SIGN). Built once. */
static uint32_t (*g_upper)[2];
static size_t g_n_upper;
static pthread_once_t g_upper_once = PTHREAD_ONCE_INIT;

static int cmp_pair(const void *a, const void *b)
{
    const uint32_t *x = a, *y = b;
    if (x[0] != y[0])
        return x[0] < y[0] ? -1 : 1;
    return x[1] < y[1] ? -1 : x[1] > y[1];
}

static void build_upper(void)
{
    g_upper = xmalloc_array(unicode_lower_count, sizeof *g_upper);
    for (size_t i = 0; i < unicode_lower_count; i++) {
        g_upper[i][0] = unicode_lower_map[i][1];
        g_upper[i][1] = unicode_lower_map[i][0];
    }
    qsort(g_upper, unicode_lower_count, sizeof *g_upper, cmp_pair);
    g_n_upper = unicode_lower_count;
}

static uint32_t cp_toupper(uint32_t cp)
{
    if (cp < 0x80)
        return cp >= 'a' && cp <= 'z' ? cp - 32 : cp;
    pthread_once(&g_upper_once, build_upper);
    size_t lo = unicode_pairs_lower_bound((const uint32_t(*)[2])g_upper, g_n_upper, 0, cp);
    return lo < g_n_upper && g_upper[lo][0] == cp ? g_upper[lo][1] : cp;
}

struct jinja_sv jinja_case(struct jinja_ctx *c, struct jinja_sv s, bool upper)
{
    /* ß uppercases to "SS" and İ lowercases to "i̇": at most 3 bytes per input byte */
    char *d = jinja_alloc(c, s.len * 3 + 1);
    size_t o = 0;
    for (size_t i = 0; i < s.len;) {
        unsigned char ch = (unsigned char)s.p[i];
        if (ch < 0x80) {
            d[o++] = (char)(upper ? (ch >= 'a' && ch <= 'z' ? ch - 32 : ch)
                                  : (ch >= 'A' && ch <= 'Z' ? ch + 32 : ch));
            i++;
            continue;
        }
        size_t off = i;
        uint32_t cp = unicode_decode(s.p, s.len, &off);
        if (cp == UNICODE_REPLACEMENT && !(off - i == 3)) {
            memcpy(d + o, s.p + i, off - i); /* not a character: keep the bytes */
            o += off - i;
            i = off;
            continue;
        }
        i = off;
        if (upper && cp == 0xDF) {
            d[o++] = 'S';
            d[o++] = 'S';
            continue;
        }
        if (!upper && cp == 0x130) {
            d[o++] = 'i';
            o += unicode_encode(0x307, d + o);
            continue;
        }
        o += unicode_encode(upper ? cp_toupper(cp) : unicode_tolower(cp), d + o);
    }
    return (struct jinja_sv){d, o};
}

static uint32_t first_unit(uint32_t cp)
{
    return cp < 0x10000 ? cp : 0xD800 + ((cp - 0x10000) >> 10);
}

int jinja_str_cmp(struct jinja_sv a, struct jinja_sv b)
{
    size_t i = 0, j = 0;
    while (i < a.len && j < b.len) {
        uint32_t ca = unicode_decode(a.p, a.len, &i);
        uint32_t cb = unicode_decode(b.p, b.len, &j);
        if (ca == cb)
            continue;
        uint32_t ua = first_unit(ca), ub = first_unit(cb);
        if (ua != ub)
            return ua < ub ? -1 : 1;
        return ca < cb ? -1 : 1;
    }
    if (i < a.len)
        return 1;
    if (j < b.len)
        return -1;
    return 0;
}

/* Length of the longest prefix of s that is a StrDecimalLiteral (without sign), 0 if none. */
static size_t decimal_prefix(const char *s, size_t n, bool need_all)
{
    size_t i = 0, digits = 0;
    while (i < n && s[i] >= '0' && s[i] <= '9')
        i++, digits++;
    if (i < n && s[i] == '.') {
        size_t j = i + 1, frac = 0;
        while (j < n && s[j] >= '0' && s[j] <= '9')
            j++, frac++;
        if (digits + frac > 0) {
            i = j;
            digits += frac;
        }
    }
    if (digits == 0)
        return 0;
    if (i < n && (s[i] == 'e' || s[i] == 'E')) {
        size_t j = i + 1;
        if (j < n && (s[j] == '+' || s[j] == '-'))
            j++;
        size_t ed = 0;
        while (j < n && s[j] >= '0' && s[j] <= '9')
            j++, ed++;
        if (ed)
            i = j;
    }
    (void)need_all;
    return i;
}

static double strtod_n(const char *s, size_t n)
{
    char buf[512];
    if (n >= sizeof buf) {
        /* absurdly long digit strings: the leading part decides the double anyway, except for
         * the exponent, so keep it honest by allocating */
        char *d = xstrndup(s, n);
        double v = strtod(d, NULL);
        free(d);
        return v;
    }
    memcpy(buf, s, n);
    buf[n] = 0;
    return strtod(buf, NULL);
}

double jinja_str_to_number(struct jinja_sv s)
{
    s = jinja_trim(s, true, true);
    if (s.len == 0)
        return 0;
    const char *p = s.p;
    size_t n = s.len;
    if (n > 2 && p[0] == '0' && p[1] && strchr("xXoObB", p[1])) {
        int base = (p[1] == 'x' || p[1] == 'X') ? 16 : (p[1] == 'o' || p[1] == 'O') ? 8 : 2;
        double v = 0;
        for (size_t i = 2; i < n; i++) {
            int d = p[i] >= '0' && p[i] <= '9' ? p[i] - '0'
                    : p[i] >= 'a' && p[i] <= 'f' ? p[i] - 'a' + 10
                    : p[i] >= 'A' && p[i] <= 'F' ? p[i] - 'A' + 10 : 99;
            if (d >= base)
                return NAN;
            v = v * base + d;
        }
        return v;
    }
    double sign = 1;
    size_t i = 0;
    if (p[0] == '+' || p[0] == '-') {
        sign = p[0] == '-' ? -1 : 1;
        i = 1;
    }
    if (n - i == 8 && memcmp(p + i, "Infinity", 8) == 0)
        return sign * INFINITY;
    size_t m = decimal_prefix(p + i, n - i, true);
    if (m == 0 || i + m != n)
        return NAN;
    return sign * strtod_n(p + i, m);
}

double jinja_parse_int(struct jinja_sv s)
{
    s = jinja_trim(s, true, false);
    size_t i = 0;
    double sign = 1;
    if (i < s.len && (s.p[i] == '+' || s.p[i] == '-')) {
        sign = s.p[i] == '-' ? -1 : 1;
        i++;
    }
    size_t j = i;
    while (j < s.len && s.p[j] >= '0' && s.p[j] <= '9')
        j++;
    if (j == i)
        return NAN;
    return sign * strtod_n(s.p + i, j - i);
}

double jinja_parse_float(struct jinja_sv s)
{
    s = jinja_trim(s, true, false);
    size_t i = 0;
    double sign = 1;
    if (i < s.len && (s.p[i] == '+' || s.p[i] == '-')) {
        sign = s.p[i] == '-' ? -1 : 1;
        i++;
    }
    if (s.len - i >= 8 && memcmp(s.p + i, "Infinity", 8) == 0)
        return sign * INFINITY;
    size_t m = decimal_prefix(s.p + i, s.len - i, false);
    if (m == 0)
        return NAN;
    return sign * strtod_n(s.p + i, m);
}

/* ---- text forms ----------------------------------------------------------------------------- */

static _Noreturn void fail_function_text(struct jinja_ctx *c, uint32_t line)
{
    jinja_fail(c, TMPL_ERR_RENDER, line,
               "cannot turn a function or macro into text (call it: name(...))");
}

void jinja_put_value(struct jinja_ctx *c, struct jinja_sb *b, struct jinja_val v, uint32_t line)
{
    struct jinja_json_opts o = {.indent = -1, .undefined_as_null = false};
    switch (v.type) {
    case JV_UNDEF:
    case JV_NULL: jinja_sb_puts(c, b, "undefined"); break; /* String(NullValue.value) too */
    case JV_BOOL: jinja_sb_puts(c, b, v.u.b ? "true" : "false"); break;
    case JV_INT: jinja_put_number(c, b, v.u.num); break;
    case JV_FLOAT: put_float(c, b, v.u.num); break;
    case JV_STR: jinja_sb_put(c, b, v.u.s.p, v.u.s.len); break;
    case JV_FUNC: fail_function_text(c, line);
    default: jinja_put_json(c, b, v, &o, 0, line); break;
    }
}

void jinja_put_raw(struct jinja_ctx *c, struct jinja_sb *b, struct jinja_val v, uint32_t line)
{
    switch (v.type) {
    case JV_FLOAT: jinja_put_number(c, b, v.u.num); break;
    case JV_ARRAY:
    case JV_TUPLE:
        /* Array.prototype.toString: the elements' toString joined with "," */
        for (size_t i = 0; i < v.u.arr->n; i++) {
            if (i)
                jinja_sb_put(c, b, ",", 1);
            jinja_put_value(c, b, v.u.arr->v[i], line);
        }
        break;
    case JV_OBJECT:
    case JV_KWARGS:
    case JV_NS: jinja_sb_puts(c, b, "[object Map]"); break;
    default: jinja_put_value(c, b, v, line); break;
    }
}

static void put_json_string(struct jinja_ctx *c, struct jinja_sb *b, struct jinja_sv s, bool ascii)
{
    static const char hex[] = "0123456789abcdef";
    jinja_sb_put(c, b, "\"", 1);
    size_t run = 0; /* start of bytes copied as they are */
    for (size_t i = 0; i < s.len;) {
        unsigned char ch = (unsigned char)s.p[i];
        char esc[16];
        size_t en = 0;
        size_t next = i + 1;
        if (ch < 0x20 || ch == '"' || ch == '\\') {
            esc[en++] = '\\';
            switch (ch) {
            case '"': esc[en++] = '"'; break;
            case '\\': esc[en++] = '\\'; break;
            case '\b': esc[en++] = 'b'; break;
            case '\f': esc[en++] = 'f'; break;
            case '\n': esc[en++] = 'n'; break;
            case '\r': esc[en++] = 'r'; break;
            case '\t': esc[en++] = 't'; break;
            default:
                memcpy(esc + en, "u00", 3);
                en += 3;
                esc[en++] = hex[ch >> 4];
                esc[en++] = hex[ch & 15];
            }
        } else if (ascii && ch >= 0x7F) {
            size_t off = i;
            uint32_t cp = unicode_decode(s.p, s.len, &off);
            next = off;
            uint32_t units[2];
            int nu = 0;
            if (cp >= 0x10000) {
                units[nu++] = 0xD800 + ((cp - 0x10000) >> 10);
                units[nu++] = 0xDC00 + ((cp - 0x10000) & 0x3FF);
            } else {
                units[nu++] = cp;
            }
            for (int k = 0; k < nu; k++) {
                esc[en++] = '\\';
                esc[en++] = 'u';
                for (int sh = 12; sh >= 0; sh -= 4)
                    esc[en++] = hex[(units[k] >> sh) & 15];
            }
        } else {
            i++;
            continue;
        }
        jinja_sb_put(c, b, s.p + run, i - run);
        jinja_sb_put(c, b, esc, en);
        i = next;
        run = next;
    }
    jinja_sb_put(c, b, s.p + run, s.len - run);
    jinja_sb_put(c, b, "\"", 1);
}

#define JSON_MAX_DEPTH 2100

static void put_padding(struct jinja_ctx *c, struct jinja_sb *b, long indent, int depth)
{
    jinja_sb_put(c, b, "\n", 1);
    for (long i = 0; i < indent * depth; i++)
        jinja_sb_put(c, b, " ", 1);
}

void jinja_put_json(struct jinja_ctx *c, struct jinja_sb *b, struct jinja_val v,
                    const struct jinja_json_opts *o, int depth, uint32_t line)
{
    if (depth > JSON_MAX_DEPTH)
        jinja_fail(c, TMPL_ERR_RENDER, line,
                   "tojson: value nested deeper than %d levels (a namespace containing itself?)",
                   JSON_MAX_DEPTH);
    bool ind = o->indent > 0;
    struct jinja_sv item_sep = o->has_separators ? o->item_sep
                               : ind             ? (struct jinja_sv){",", 1}
                                                 : (struct jinja_sv){", ", 2};
    struct jinja_sv key_sep = o->has_separators ? o->key_sep : (struct jinja_sv){": ", 2};
    switch (v.type) {
    case JV_NULL: jinja_sb_puts(c, b, "null"); return;
    case JV_UNDEF: jinja_sb_puts(c, b, o->undefined_as_null ? "null" : "undefined"); return;
    case JV_INT:
    case JV_FLOAT:
        if (isfinite(v.u.num))
            jinja_put_number(c, b, v.u.num);
        else
            jinja_sb_puts(c, b, "null");
        return;
    case JV_BOOL: jinja_sb_puts(c, b, v.u.b ? "true" : "false"); return;
    case JV_STR: put_json_string(c, b, v.u.s, o->ensure_ascii); return;
    case JV_ARRAY: {
        const struct jinja_arr *a = v.u.arr;
        jinja_sb_put(c, b, "[", 1);
        for (size_t i = 0; i < a->n; i++) {
            if (i)
                jinja_sb_put(c, b, item_sep.p, item_sep.len);
            if (ind)
                put_padding(c, b, o->indent, depth + 1);
            jinja_put_json(c, b, a->v[i], o, depth + 1, line);
        }
        if (ind && a->n)
            put_padding(c, b, o->indent, depth);
        jinja_sb_put(c, b, "]", 1);
        return;
    }
    case JV_OBJECT:
    case JV_NS: {
        const struct jinja_obj *ob = v.u.obj;
        if (o->sort_keys && ob->n > 1)
            jinja_fail(c, TMPL_ERR_RENDER, line,
                       "tojson(sort_keys=true) is not supported (the reference sorts with the "
                       "locale's collation)");
        jinja_sb_put(c, b, "{", 1);
        for (size_t i = 0; i < ob->n; i++) {
            if (i)
                jinja_sb_put(c, b, item_sep.p, item_sep.len);
            if (ind)
                put_padding(c, b, o->indent, depth + 1);
            put_json_string(c, b, ob->kv[i].key, o->ensure_ascii);
            jinja_sb_put(c, b, key_sep.p, key_sep.len);
            jinja_put_json(c, b, ob->kv[i].val, o, depth + 1, line);
        }
        if (ind && ob->n)
            put_padding(c, b, o->indent, depth);
        jinja_sb_put(c, b, "}", 1);
        return;
    }
    default:
        jinja_fail(c, TMPL_ERR_RENDER, line, "Cannot convert to JSON: %s", jv_type_name(v));
    }
}

/* ---- JSON input ------------------------------------------------------------------------------ */

/* A canonical array index ("0", "17"; not "01", below 2^32-1): JavaScript lists such keys first,
 * in numeric order, whatever the order in the text. */
static bool array_index_key(const char *k, size_t n, uint64_t *idx)
{
    if (n == 0 || n > 10 || (n > 1 && k[0] == '0'))
        return false;
    uint64_t v = 0;
    for (size_t i = 0; i < n; i++) {
        if (k[i] < '0' || k[i] > '9')
            return false;
        v = v * 10 + (uint64_t)(k[i] - '0');
    }
    if (v >= 4294967295u)
        return false;
    *idx = v;
    return true;
}

struct index_key {
    uint64_t idx;
    const char *key;
    size_t len;
    const json_t *val;
};

static int cmp_index_key(const void *a, const void *b)
{
    const struct index_key *x = a, *y = b;
    return x->idx < y->idx ? -1 : x->idx > y->idx;
}

struct jinja_val jinja_from_json(struct jinja_ctx *c, const json_t *j, int depth)
{
    if (depth > JSON_MAX_DEPTH)
        jinja_fail(c, TMPL_ERR_INPUT, 0, "input JSON nested deeper than %d levels", JSON_MAX_DEPTH);
    switch (json_typeof(j)) {
    case JSON_OBJECT: {
        struct jinja_val v = jv_object(c, JV_OBJECT);
        size_t n = json_object_size(j), n_idx = 0;
        struct index_key *ik = n ? jinja_alloc(c, n * sizeof *ik) : NULL;
        const char *key;
        size_t klen;
        json_t *val;
        json_object_keylen_foreach((json_t *)j, key, klen, val)
        {
            uint64_t idx;
            if (array_index_key(key, klen, &idx))
                ik[n_idx++] = (struct index_key){idx, key, klen, val};
        }
        if (n_idx) {
            qsort(ik, n_idx, sizeof *ik, cmp_index_key);
            for (size_t i = 0; i < n_idx; i++)
                jv_obj_set(c, v.u.obj, (struct jinja_sv){ik[i].key, ik[i].len},
                           jinja_from_json(c, ik[i].val, depth + 1));
        }
        json_object_keylen_foreach((json_t *)j, key, klen, val)
        {
            uint64_t idx;
            if (!array_index_key(key, klen, &idx))
                jv_obj_set(c, v.u.obj, (struct jinja_sv){key, klen},
                           jinja_from_json(c, val, depth + 1));
        }
        return v;
    }
    case JSON_ARRAY: {
        size_t n = json_array_size(j);
        struct jinja_val v = jv_array(c, n);
        for (size_t i = 0; i < n; i++)
            v.u.arr->v[i] = jinja_from_json(c, json_array_get(j, i), depth + 1);
        return v;
    }
    case JSON_STRING:
        return jv_str((struct jinja_sv){json_string_value(j), json_string_length(j)});
    case JSON_INTEGER: return jv_int((double)json_integer_value(j));
    case JSON_REAL: {
        double x = json_real_value(j);
        return isfinite(x) && x == floor(x) ? jv_int(x) : jv_float(x);
    }
    case JSON_TRUE: return jv_bool(true);
    case JSON_FALSE: return jv_bool(false);
    default: return jinja_null;
    }
}
