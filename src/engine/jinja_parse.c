/* jinja_parse: tokens -> syntax tree, as @huggingface/jinja's parser.ts builds it.
 *
 * Statements: set (value or captured block, targets: name, tuple, namespace attribute), if /
 * elif / else, for (tuple targets, an inline `if` filter, else), macro (defaults), call (with
 * caller parameters), filter blocks, break, continue. Anything else ({% with %}, {% include %},
 * {% raw %} ...) is refused here with its name and line, as the reference refuses it.
 *
 * Expression precedence, loosest first: `a if b else c` (without else: undefined when false) <
 * or < and < not < comparisons and `in` / `not in` (chaining left to right) < + - ~ < * / // % <
 * ** (left-associative) < `is` tests < `|` filters < unary sign < member access, calls, slices.
 * The reference's leniencies are kept: commas between list items and arguments are optional,
 * adjacent string literals concatenate, `x[a b]` reads x[a].
 *
 * Every recursive step counts against max_depth, so hostile nesting fails cleanly.
 */
#include "engine/jinja_impl.h"

#include "base/alloc.h"
#include "engine/template.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct parser {
    struct jinja_ctx *c;
    const struct jinja_token *t;
    size_t n, cur;
    int depth, max_depth;
    struct jinja_sv *syms;
    size_t n_syms, cap_syms;
    uint32_t *hash; /* sym id + 1, open addressing */
    size_t hash_cap;
};

enum arg_mode { ARGS_CALL, ARGS_PARAMS };

static struct jinja_node *parse_any(struct parser *p);
static struct jinja_node *parse_expression(struct parser *p);
static struct jinja_node *parse_primary(struct parser *p);

/* ---- helpers ---------------------------------------------------------------------------------- */

static uint32_t cur_line(const struct parser *p)
{
    if (p->cur < p->n)
        return p->t[p->cur].line;
    return p->n ? p->t[p->n - 1].line : 1;
}

static _Noreturn void parse_fail(struct parser *p, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static _Noreturn void parse_fail(struct parser *p, const char *fmt, ...)
{
    char msg[ERR_MSG_MAX];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    jinja_fail(p->c, TMPL_ERR_SYNTAX, cur_line(p), "%s", msg);
}

static void enter(struct parser *p)
{
    if (++p->depth > p->max_depth)
        parse_fail(p, "template nested deeper than %d levels", p->max_depth);
}

static void leave(struct parser *p)
{
    p->depth--;
}

/* What the current token is, for messages: "'%}'", "name 'foo'", "end of template". */
static const char *describe(const struct parser *p, char *buf, size_t cap)
{
    if (p->cur >= p->n)
        return "end of template";
    const struct jinja_token *t = &p->t[p->cur];
    if (t->type == TK_IDENT || t->type == TK_NUM || t->type == TK_ADD || t->type == TK_MUL ||
        t->type == TK_CMP || t->type == TK_UNARY) {
        snprintf(buf, cap, "'%.*s'", (int)(t->text.len > 40 ? 40 : t->text.len), t->text.p);
        return buf;
    }
    return jinja_tok_name(t->type);
}

static bool is(const struct parser *p, int type)
{
    return p->cur < p->n && p->t[p->cur].type == type;
}

static bool is_ident_at(const struct parser *p, size_t k, const char *name)
{
    return p->cur + k < p->n && p->t[p->cur + k].type == TK_IDENT &&
           jinja_sv_eqc(p->t[p->cur + k].text, name);
}

static bool is_ident(const struct parser *p, const char *name)
{
    return is_ident_at(p, 0, name);
}

/* {% name ... where name is one of the NULL-terminated list */
static bool is_stmt(const struct parser *p, const char *const *names)
{
    if (!(is(p, TK_OPEN_STMT) && p->cur + 1 < p->n && p->t[p->cur + 1].type == TK_IDENT))
        return false;
    for (; *names; names++)
        if (jinja_sv_eqc(p->t[p->cur + 1].text, *names))
            return true;
    return false;
}

static const struct jinja_token *expect(struct parser *p, int type, const char *what)
{
    if (!is(p, type)) {
        char b[64];
        parse_fail(p, "expected %s, found %s", what, describe(p, b, sizeof b));
    }
    return &p->t[p->cur++];
}

static void expect_ident(struct parser *p, const char *name)
{
    if (!is_ident(p, name)) {
        char b[64];
        parse_fail(p, "expected '%s', found %s", name, describe(p, b, sizeof b));
    }
    p->cur++;
}

static struct jinja_node *mk(struct parser *p, int kind, uint32_t line)
{
    struct jinja_node *n = jinja_alloc(p->c, sizeof *n);
    memset(n, 0, sizeof *n);
    n->kind = (uint8_t)kind;
    n->line = line;
    return n;
}

struct vec {
    struct jinja_node **v;
    size_t n, cap;
};

static void vpush(struct parser *p, struct vec *v, struct jinja_node *x)
{
    if (v->n == v->cap) {
        size_t cap = v->cap ? v->cap * 2 : 4;
        struct jinja_node **nv = jinja_alloc(p->c, cap * sizeof *nv);
        if (v->n)
            memcpy(nv, v->v, v->n * sizeof *nv);
        v->v = nv;
        v->cap = cap;
    }
    v->v[v->n++] = x;
}

static struct jinja_list vlist(struct vec v)
{
    return (struct jinja_list){v.v, v.n};
}

static uint32_t sv_hash(struct jinja_sv s)
{
    uint32_t h = 2166136261u;
    for (size_t i = 0; i < s.len; i++)
        h = (h ^ (unsigned char)s.p[i]) * 16777619u;
    return h;
}

static uint32_t intern(struct parser *p, struct jinja_sv name)
{
    if (p->n_syms * 2 >= p->hash_cap) {
        size_t cap = p->hash_cap ? p->hash_cap * 2 : 64;
        uint32_t *h = jinja_alloc(p->c, cap * sizeof *h);
        memset(h, 0, cap * sizeof *h);
        for (size_t i = 0; i < p->n_syms; i++) {
            size_t k = sv_hash(p->syms[i]) & (cap - 1);
            while (h[k])
                k = (k + 1) & (cap - 1);
            h[k] = (uint32_t)(i + 1);
        }
        p->hash = h;
        p->hash_cap = cap;
    }
    size_t k = sv_hash(name) & (p->hash_cap - 1);
    while (p->hash[k]) {
        if (jinja_sv_eq(p->syms[p->hash[k] - 1], name))
            return p->hash[k] - 1;
        k = (k + 1) & (p->hash_cap - 1);
    }
    if (p->n_syms == p->cap_syms) {
        size_t cap = p->cap_syms ? p->cap_syms * 2 : 32;
        struct jinja_sv *s = jinja_alloc(p->c, cap * sizeof *s);
        if (p->n_syms)
            memcpy(s, p->syms, p->n_syms * sizeof *s);
        p->syms = s;
        p->cap_syms = cap;
    }
    p->syms[p->n_syms] = name;
    p->hash[k] = (uint32_t)(p->n_syms + 1);
    return (uint32_t)p->n_syms++;
}

static struct jinja_node *mk_ident(struct parser *p, struct jinja_sv name, uint32_t line)
{
    struct jinja_node *n = mk(p, N_IDENT, line);
    n->str = name;
    n->sym = intern(p, name);
    return n;
}

/* A block body up to one of the end tags; names the opening statement if it never ends. */
static struct jinja_list parse_body(struct parser *p, const char *const *ends, const char *opener,
                                    uint32_t opener_line)
{
    struct vec v = {0};
    while (!is_stmt(p, ends)) {
        if (p->cur >= p->n)
            jinja_fail(p->c, TMPL_ERR_SYNTAX, opener_line,
                       "{%% %s %%} is never closed (expected {%% %s %%})", opener, ends[0]);
        vpush(p, &v, parse_any(p));
    }
    return vlist(v);
}

/* ---- expressions ------------------------------------------------------------------------------- */

static struct jinja_node *parse_sequence(struct parser *p, bool primary)
{
    uint32_t line = cur_line(p);
    struct jinja_node *first = primary ? parse_primary(p) : parse_expression(p);
    if (!is(p, TK_COMMA))
        return first;
    struct vec v = {0};
    vpush(p, &v, first);
    for (;;) {
        p->cur++;
        vpush(p, &v, primary ? parse_primary(p) : parse_expression(p));
        if (!is(p, TK_COMMA))
            break;
    }
    struct jinja_node *t = mk(p, N_TUPLE, line);
    t->l1 = vlist(v);
    return t;
}

static struct jinja_list parse_arguments(struct parser *p, enum arg_mode mode)
{
    expect(p, TK_LPAREN, "'(' to open the argument list");
    struct vec v = {0};
    bool saw_kw = false, saw_spread = false;
    while (!is(p, TK_RPAREN)) {
        uint32_t line = cur_line(p);
        bool kwspread = is(p, TK_POW);
        bool spread = is(p, TK_MUL) && jinja_sv_eqc(p->t[p->cur].text, "*");
        if (mode == ARGS_PARAMS && (kwspread || spread))
            parse_fail(p, "argument unpacking (* or **) is not allowed in parameter declarations");
        if (kwspread) {
            p->cur++;
            struct jinja_node *a = mk(p, N_KWSPREAD, line);
            a->a = parse_expression(p);
            vpush(p, &v, a);
            if (is(p, TK_COMMA))
                p->cur++;
            if (!is(p, TK_RPAREN))
                parse_fail(p, "`**` must be applied to the final argument");
            break;
        }
        struct jinja_node *arg;
        if (spread) {
            if (saw_spread)
                parse_fail(p, "only one `*` argument unpacking is allowed");
            saw_spread = true;
            p->cur++;
            arg = mk(p, N_SPREAD, line);
            arg->a = parse_expression(p);
        } else {
            arg = parse_expression(p);
            if (is(p, TK_EQUALS)) {
                p->cur++;
                if (arg->kind != N_IDENT)
                    parse_fail(p, mode == ARGS_PARAMS ? "expected a name for a parameter"
                                                      : "expected a name for a keyword argument");
                struct jinja_node *kw = mk(p, N_KWARG, line);
                kw->str = arg->str;
                kw->sym = arg->sym;
                kw->a = parse_expression(p);
                arg = kw;
            }
            if (mode == ARGS_PARAMS) {
                if (arg->kind != N_IDENT && arg->kind != N_KWARG)
                    parse_fail(p, "expected a name for a parameter");
                for (size_t i = 0; i < v.n; i++)
                    if (v.v[i]->sym == arg->sym)
                        parse_fail(p, "duplicate parameter name '%.*s'", (int)arg->str.len,
                                   arg->str.p);
            }
            if (arg->kind == N_KWARG)
                saw_kw = true;
            else if (saw_kw)
                parse_fail(p, mode == ARGS_CALL ? "positional arguments must come before keyword "
                                                  "arguments"
                                                : "a parameter without default follows one with "
                                                  "a default");
            else if (saw_spread)
                parse_fail(p, "positional arguments must not follow `*` argument unpacking");
        }
        vpush(p, &v, arg);
        if (is(p, TK_COMMA))
            p->cur++;
    }
    expect(p, TK_RPAREN, "')' to close the argument list");
    return vlist(v);
}

static struct jinja_node *parse_subscript(struct parser *p)
{
    uint32_t line = cur_line(p);
    struct jinja_node *parts[3] = {0};
    size_t n = 0;
    bool slice = false;
    while (!is(p, TK_RBRACKET)) {
        struct jinja_node *x = NULL;
        if (is(p, TK_COLON)) {
            p->cur++;
            slice = true;
        } else {
            x = parse_expression(p);
            if (is(p, TK_COLON)) {
                p->cur++;
                slice = true;
            }
        }
        if (n < 3)
            parts[n] = x;
        n++;
        if (n > 3 && slice)
            parse_fail(p, "a slice takes at most 3 parts (start:stop:step)");
    }
    if (n == 0)
        parse_fail(p, "empty subscript []");
    if (!slice)
        return parts[0];
    if (n > 3)
        parse_fail(p, "a slice takes at most 3 parts (start:stop:step)");
    struct jinja_node *s = mk(p, N_SLICE, line);
    s->a = parts[0];
    s->b = parts[1];
    s->c = parts[2];
    return s;
}

static struct jinja_node *parse_member(struct parser *p, struct jinja_node *object)
{
    while (is(p, TK_DOT) || is(p, TK_LBRACKET)) {
        uint32_t line = cur_line(p);
        bool computed = is(p, TK_LBRACKET);
        p->cur++;
        struct jinja_node *m = mk(p, N_MEMBER, line);
        m->a = object;
        m->flag = computed;
        if (computed) {
            enter(p);
            m->b = parse_subscript(p);
            leave(p);
            expect(p, TK_RBRACKET, "']'");
        } else {
            m->b = parse_primary(p);
            if (m->b->kind != N_IDENT && m->b->kind != N_INT)
                parse_fail(p, "expected a name or an integer after '.'");
        }
        object = m;
    }
    return object;
}

static struct jinja_node *parse_call(struct parser *p, struct jinja_node *callee)
{
    enter(p);
    struct jinja_node *call = mk(p, N_CALL, cur_line(p));
    call->a = callee;
    call->l1 = parse_arguments(p, ARGS_CALL);
    struct jinja_node *e = parse_member(p, call);
    if (is(p, TK_LPAREN))
        e = parse_call(p, e);
    leave(p);
    return e;
}

static struct jinja_node *parse_call_member(struct parser *p)
{
    struct jinja_node *m = parse_member(p, parse_primary(p));
    return is(p, TK_LPAREN) ? parse_call(p, m) : m;
}

static struct jinja_node *parse_unary_sign(struct parser *p)
{
    if (p->cur < p->n && (p->t[p->cur].type == TK_UNARY || p->t[p->cur].type == TK_ADD) &&
        (jinja_sv_eqc(p->t[p->cur].text, "-") || jinja_sv_eqc(p->t[p->cur].text, "+"))) {
        enter(p);
        struct jinja_node *u = mk(p, N_UNARY, cur_line(p));
        u->op = p->t[p->cur].text.p[0] == '-' ? OP_NEG : OP_POS;
        p->cur++;
        u->a = parse_unary_sign(p);
        leave(p);
        return u;
    }
    return parse_call_member(p);
}

/* The filter part after '|' (or after {% filter): a name, maybe called. */
static struct jinja_node *parse_filter_spec(struct parser *p, struct jinja_node *operand,
                                            bool from_block)
{
    uint32_t line = cur_line(p);
    struct jinja_node *name = parse_primary(p);
    if (name->kind != N_IDENT && !from_block)
        parse_fail(p, "expected a filter name after '|'");
    struct jinja_node *f = mk(p, N_FILTER, line);
    f->a = operand;
    f->str = name->str;
    if (name->kind != N_IDENT) {
        f->op = 1; /* the reference parses it and fails when applying it */
        return f;
    }
    if (is(p, TK_LPAREN)) {
        struct jinja_node *call = parse_call(p, name);
        if (call->kind != N_CALL || call->a != name)
            f->op = 1;
        f->flag = true;
        f->l1 = call->kind == N_CALL ? call->l1 : (struct jinja_list){0};
    }
    return f;
}

static struct jinja_node *parse_filter(struct parser *p)
{
    struct jinja_node *operand = parse_unary_sign(p);
    while (is(p, TK_PIPE)) {
        p->cur++;
        operand = parse_filter_spec(p, operand, false);
    }
    return operand;
}

static struct jinja_node *parse_test(struct parser *p)
{
    struct jinja_node *operand = parse_filter(p);
    while (is_ident(p, "is")) {
        uint32_t line = cur_line(p);
        p->cur++;
        bool negate = is_ident(p, "not");
        if (negate)
            p->cur++;
        struct jinja_node *name = parse_primary(p);
        if (name->kind != N_IDENT)
            parse_fail(p, "expected a test name after 'is'");
        struct jinja_node *t = mk(p, N_TEST, line);
        t->a = operand;
        t->flag = negate;
        t->str = name->str;
        operand = t;
    }
    return operand;
}

static struct jinja_node *binary(struct parser *p, int op, struct jinja_node *l,
                                 struct jinja_node *r, uint32_t line)
{
    struct jinja_node *b = mk(p, N_BINARY, line);
    b->op = (uint8_t)op;
    b->a = l;
    b->b = r;
    return b;
}

static struct jinja_node *parse_power(struct parser *p)
{
    struct jinja_node *l = parse_test(p);
    while (is(p, TK_POW)) {
        uint32_t line = cur_line(p);
        p->cur++;
        l = binary(p, OP_POW, l, parse_test(p), line);
    }
    return l;
}

static struct jinja_node *parse_multiplicative(struct parser *p)
{
    struct jinja_node *l = parse_power(p);
    while (is(p, TK_MUL)) {
        const struct jinja_token *t = &p->t[p->cur++];
        int op = jinja_sv_eqc(t->text, "*")    ? OP_MUL
                 : jinja_sv_eqc(t->text, "/")  ? OP_DIV
                 : jinja_sv_eqc(t->text, "//") ? OP_FLOORDIV
                                               : OP_MOD;
        l = binary(p, op, l, parse_power(p), t->line);
    }
    return l;
}

static struct jinja_node *parse_additive(struct parser *p)
{
    struct jinja_node *l = parse_multiplicative(p);
    while (is(p, TK_ADD)) {
        const struct jinja_token *t = &p->t[p->cur++];
        int op = t->text.p[0] == '+' ? OP_ADD : t->text.p[0] == '-' ? OP_SUB : OP_CONCAT;
        l = binary(p, op, l, parse_multiplicative(p), t->line);
    }
    return l;
}

static struct jinja_node *parse_comparison(struct parser *p)
{
    struct jinja_node *l = parse_additive(p);
    for (;;) {
        uint32_t line = cur_line(p);
        int op;
        if (is_ident(p, "not") && is_ident_at(p, 1, "in")) {
            op = OP_NOTIN;
            p->cur += 2;
        } else if (is_ident(p, "in")) {
            op = OP_IN;
            p->cur++;
        } else if (is(p, TK_CMP)) {
            struct jinja_sv t = p->t[p->cur++].text;
            op = jinja_sv_eqc(t, "==")   ? OP_EQ
                 : jinja_sv_eqc(t, "!=") ? OP_NE
                 : jinja_sv_eqc(t, "<")  ? OP_LT
                 : jinja_sv_eqc(t, ">")  ? OP_GT
                 : jinja_sv_eqc(t, "<=") ? OP_LE
                                         : OP_GE;
        } else {
            break;
        }
        l = binary(p, op, l, parse_additive(p), line);
    }
    return l;
}

static struct jinja_node *parse_not(struct parser *p)
{
    struct jinja_node *right = NULL;
    while (is_ident(p, "not")) {
        enter(p);
        struct jinja_node *u = mk(p, N_UNARY, cur_line(p));
        u->op = OP_NOT;
        p->cur++;
        u->a = parse_not(p);
        right = u;
        leave(p);
    }
    return right ? right : parse_comparison(p);
}

static struct jinja_node *parse_and(struct parser *p)
{
    struct jinja_node *l = parse_not(p);
    while (is_ident(p, "and")) {
        uint32_t line = cur_line(p);
        p->cur++;
        l = binary(p, OP_AND, l, parse_not(p), line);
    }
    return l;
}

static struct jinja_node *parse_or(struct parser *p)
{
    struct jinja_node *l = parse_and(p);
    while (is_ident(p, "or")) {
        uint32_t line = cur_line(p);
        p->cur++;
        l = binary(p, OP_OR, l, parse_and(p), line);
    }
    return l;
}

static struct jinja_node *parse_expression(struct parser *p)
{
    enter(p);
    struct jinja_node *a = parse_or(p);
    if (is_ident(p, "if")) {
        uint32_t line = cur_line(p);
        p->cur++;
        struct jinja_node *test = parse_or(p);
        if (is_ident(p, "else")) {
            p->cur++;
            struct jinja_node *t = mk(p, N_TERNARY, line);
            t->a = test;
            t->b = a;
            t->c = parse_expression(p);
            a = t;
        } else {
            struct jinja_node *s = mk(p, N_SELECT, line);
            s->a = a;
            s->b = test;
            a = s;
        }
    }
    leave(p);
    return a;
}

static double parse_number_text(struct jinja_sv t)
{
    char buf[128];
    size_t n = t.len < sizeof buf - 1 ? t.len : sizeof buf - 1;
    memcpy(buf, t.p, n);
    buf[n] = 0;
    if (t.len >= sizeof buf) {
        /* a huge literal: strtod on the whole text (it is only digits) */
        char *d = xstrndup(t.p, t.len);
        double v = strtod(d, NULL);
        free(d);
        return v;
    }
    return strtod(buf, NULL);
}

static struct jinja_node *parse_primary(struct parser *p)
{
    if (p->cur >= p->n)
        parse_fail(p, "unexpected end of template in an expression");
    const struct jinja_token *t = &p->t[p->cur++];
    switch (t->type) {
    case TK_NUM: {
        bool is_float = memchr(t->text.p, '.', t->text.len) != NULL;
        struct jinja_node *n = mk(p, is_float ? N_FLOAT : N_INT, t->line);
        n->num = parse_number_text(t->text);
        return n;
    }
    case TK_STR: {
        struct jinja_node *n = mk(p, N_STR, t->line);
        n->str = t->text;
        if (is(p, TK_STR)) {
            struct jinja_sb b;
            jinja_sb_init(&b, SIZE_MAX / 2);
            jinja_sb_put(p->c, &b, t->text.p, t->text.len);
            while (is(p, TK_STR)) {
                jinja_sb_put(p->c, &b, p->t[p->cur].text.p, p->t[p->cur].text.len);
                p->cur++;
            }
            n->str = jinja_sb_sv(&b);
        }
        return n;
    }
    case TK_IDENT: return mk_ident(p, t->text, t->line);
    case TK_LPAREN: {
        enter(p);
        struct jinja_node *e = parse_sequence(p, false);
        expect(p, TK_RPAREN, "')'");
        leave(p);
        return e;
    }
    case TK_LBRACKET: {
        enter(p);
        struct vec v = {0};
        while (!is(p, TK_RBRACKET)) {
            vpush(p, &v, parse_expression(p));
            if (is(p, TK_COMMA))
                p->cur++;
        }
        p->cur++;
        leave(p);
        struct jinja_node *a = mk(p, N_ARRAY, t->line);
        a->l1 = vlist(v);
        return a;
    }
    case TK_LBRACE: {
        enter(p);
        struct vec keys = {0}, vals = {0};
        while (!is(p, TK_RBRACE)) {
            vpush(p, &keys, parse_expression(p));
            expect(p, TK_COLON, "':' between key and value in a dict literal");
            vpush(p, &vals, parse_expression(p));
            if (is(p, TK_COMMA))
                p->cur++;
        }
        p->cur++;
        leave(p);
        struct jinja_node *o = mk(p, N_OBJECT, t->line);
        o->l1 = vlist(keys);
        o->l2 = vlist(vals);
        return o;
    }
    default: {
        p->cur--;
        char b[64];
        parse_fail(p, "unexpected %s in an expression", describe(p, b, sizeof b));
    }
    }
}

/* ---- which special macro arguments a body reads (findAccessedSpecialMacroArguments) ------------ */

struct special_scan {
    struct parser *p;
    bool declared_kw, declared_va;
    int flags;
};

static void scan_node(struct special_scan *s, const struct jinja_node *n);

static void scan_list(struct special_scan *s, struct jinja_list l)
{
    for (size_t i = 0; i < l.n; i++)
        scan_node(s, l.v[i]);
}

static void scan_declare_sym(struct special_scan *s, uint32_t sym)
{
    if (sym == SYM_KWARGS)
        s->declared_kw = true;
    else if (sym == SYM_VARARGS)
        s->declared_va = true;
}

static void scan_declare_target(struct special_scan *s, const struct jinja_node *t)
{
    if (t->kind == N_IDENT)
        scan_declare_sym(s, t->sym);
    else if (t->kind == N_TUPLE)
        for (size_t i = 0; i < t->l1.n; i++)
            scan_declare_target(s, t->l1.v[i]);
}

static void scan_params(struct special_scan *s, struct jinja_list params)
{
    for (size_t i = 0; i < params.n; i++)
        scan_declare_sym(s, params.v[i]->sym);
    for (size_t i = 0; i < params.n; i++)
        if (params.v[i]->kind == N_KWARG)
            scan_node(s, params.v[i]->a);
}

static void scan_node(struct special_scan *s, const struct jinja_node *n)
{
    if (!n)
        return;
    enter(s->p);
    switch (n->kind) {
    case N_FOR:
        scan_declare_target(s, n->a);
        if (n->b->kind == N_SELECT) {
            scan_node(s, n->b->a);
            scan_list(s, n->l1);
            scan_list(s, n->l2);
            scan_node(s, n->b->b);
        } else {
            scan_node(s, n->b);
            scan_list(s, n->l1);
            scan_list(s, n->l2);
        }
        break;
    case N_SET:
        scan_declare_target(s, n->a);
        scan_node(s, n->b);
        scan_list(s, n->l1);
        break;
    case N_MACRO:
        scan_params(s, n->l3);
        scan_list(s, n->l1);
        break;
    case N_CALLBLOCK:
        scan_node(s, n->a);
        scan_params(s, n->l3);
        scan_list(s, n->l1);
        break;
    case N_FILTERBLOCK:
        scan_list(s, n->l1);
        scan_list(s, n->a->l1);
        break;
    case N_IDENT:
        if (n->sym == SYM_KWARGS && !s->declared_kw)
            s->flags |= JINJA_USES_KWARGS;
        if (n->sym == SYM_VARARGS && !s->declared_va)
            s->flags |= JINJA_USES_VARARGS;
        break;
    case N_MEMBER:
        scan_node(s, n->a);
        if (n->flag)
            scan_node(s, n->b);
        break;
    case N_FILTER:
        scan_node(s, n->a);
        scan_list(s, n->l1);
        break;
    case N_TEST: scan_node(s, n->a); break;
    case N_SELECT:
        scan_node(s, n->b);
        scan_node(s, n->a);
        break;
    case N_KWARG: scan_node(s, n->a); break;
    case N_OBJECT:
        for (size_t i = 0; i < n->l1.n; i++) {
            scan_node(s, n->l1.v[i]);
            scan_node(s, n->l2.v[i]);
        }
        break;
    case N_IF:
    case N_TERNARY:
        scan_node(s, n->a);
        if (n->kind == N_IF) {
            scan_list(s, n->l1);
            scan_list(s, n->l2);
        } else {
            scan_node(s, n->b);
            scan_node(s, n->c);
        }
        break;
    default:
        /* children in the reference's field order: a, b, c, then the lists */
        scan_node(s, n->a);
        scan_node(s, n->b);
        scan_node(s, n->c);
        scan_list(s, n->l1);
        scan_list(s, n->l2);
        break;
    }
    leave(s->p);
}

static int special_args(struct parser *p, struct jinja_list params, struct jinja_list body)
{
    struct special_scan s = {.p = p};
    for (size_t i = 0; i < params.n; i++)
        scan_declare_sym(&s, params.v[i]->sym);
    scan_list(&s, body);
    return s.flags;
}

/* ---- statements -------------------------------------------------------------------------------- */

static const char *const END_IF[] = {"endif", "elif", "else", NULL};
static const char *const END_IF_ONLY[] = {"endif", NULL};
static const char *const END_FOR[] = {"endfor", "else", NULL};
static const char *const END_FOR_ONLY[] = {"endfor", NULL};
static const char *const END_SET[] = {"endset", NULL};
static const char *const END_MACRO[] = {"endmacro", NULL};
static const char *const END_CALL[] = {"endcall", NULL};
static const char *const END_FILTER[] = {"endfilter", NULL};

static void close_stmt(struct parser *p)
{
    expect(p, TK_CLOSE_STMT, "'%}' to close the statement");
}

static void end_tag(struct parser *p, const char *name)
{
    expect(p, TK_OPEN_STMT, "'{%'");
    expect_ident(p, name);
    close_stmt(p);
}

static struct jinja_node *parse_if(struct parser *p, uint32_t line)
{
    struct jinja_node *n = mk(p, N_IF, line);
    n->a = parse_expression(p);
    close_stmt(p);
    n->l1 = parse_body(p, END_IF, "if", line);
    if (is_stmt(p, (const char *const[]){"elif", NULL})) {
        uint32_t eline = p->t[p->cur].line;
        p->cur += 2;
        enter(p);
        struct jinja_node *elif = parse_if(p, eline);
        leave(p);
        struct jinja_node **v = jinja_alloc(p->c, sizeof *v);
        v[0] = elif;
        n->l2 = (struct jinja_list){v, 1};
    } else if (is_stmt(p, (const char *const[]){"else", NULL})) {
        p->cur += 2;
        close_stmt(p);
        n->l2 = parse_body(p, END_IF_ONLY, "if", line);
    }
    return n;
}

static struct jinja_node *parse_statement(struct parser *p)
{
    uint32_t line = cur_line(p);
    expect(p, TK_OPEN_STMT, "'{%'");
    if (!is(p, TK_IDENT)) {
        char b[64];
        parse_fail(p, "expected a statement name after '{%%', found %s", describe(p, b, sizeof b));
    }
    struct jinja_sv name = p->t[p->cur].text;
    p->cur++;
    struct jinja_node *n;
    if (jinja_sv_eqc(name, "set")) {
        n = mk(p, N_SET, line);
        n->a = parse_sequence(p, false);
        if (is(p, TK_EQUALS)) {
            p->cur++;
            n->b = parse_sequence(p, false);
        } else {
            close_stmt(p);
            n->l1 = parse_body(p, END_SET, "set", line);
            expect(p, TK_OPEN_STMT, "'{%'");
            expect_ident(p, "endset");
        }
        close_stmt(p);
    } else if (jinja_sv_eqc(name, "if")) {
        n = parse_if(p, line);
        end_tag(p, "endif");
    } else if (jinja_sv_eqc(name, "macro")) {
        n = mk(p, N_MACRO, line);
        struct jinja_node *id = parse_primary(p);
        if (id->kind != N_IDENT)
            parse_fail(p, "expected a name after 'macro'");
        n->str = id->str;
        n->sym = id->sym;
        n->l3 = parse_arguments(p, ARGS_PARAMS);
        close_stmt(p);
        n->l1 = parse_body(p, END_MACRO, "macro", line);
        end_tag(p, "endmacro");
        n->op = (uint8_t)special_args(p, n->l3, n->l1);
    } else if (jinja_sv_eqc(name, "for")) {
        n = mk(p, N_FOR, line);
        n->a = parse_sequence(p, true);
        if (n->a->kind != N_IDENT && n->a->kind != N_TUPLE)
            parse_fail(p, "expected a name or a tuple of names as the loop variable");
        if (!is_ident(p, "in"))
            parse_fail(p, "expected 'in' after the loop variable");
        p->cur++;
        n->b = parse_expression(p);
        close_stmt(p);
        n->l1 = parse_body(p, END_FOR, "for", line);
        if (is_stmt(p, (const char *const[]){"else", NULL})) {
            p->cur += 2;
            close_stmt(p);
            n->l2 = parse_body(p, END_FOR_ONLY, "for", line);
        }
        end_tag(p, "endfor");
    } else if (jinja_sv_eqc(name, "call")) {
        n = mk(p, N_CALLBLOCK, line);
        if (is(p, TK_LPAREN)) {
            n->flag = true;
            n->l3 = parse_arguments(p, ARGS_PARAMS);
        }
        struct jinja_node *callee = parse_primary(p);
        if (callee->kind != N_IDENT)
            parse_fail(p, "expected a macro name after 'call'");
        struct jinja_node *call = mk(p, N_CALL, line);
        call->a = callee;
        call->l1 = parse_arguments(p, ARGS_CALL);
        n->a = call;
        close_stmt(p);
        n->l1 = parse_body(p, END_CALL, "call", line);
        end_tag(p, "endcall");
        n->op = (uint8_t)special_args(p, n->l3, n->l1);
    } else if (jinja_sv_eqc(name, "break") || jinja_sv_eqc(name, "continue")) {
        n = mk(p, name.p[0] == 'b' ? N_BREAK : N_CONTINUE, line);
        close_stmt(p);
    } else if (jinja_sv_eqc(name, "filter")) {
        n = mk(p, N_FILTERBLOCK, line);
        n->a = parse_filter_spec(p, NULL, true);
        close_stmt(p);
        n->l1 = parse_body(p, END_FILTER, "filter", line);
        end_tag(p, "endfilter");
    } else {
        p->cur--;
        parse_fail(p, "unsupported statement {%% %.*s %%} (the reference renderer, "
                      "@huggingface/jinja, has no such statement either)",
                   (int)(name.len > 40 ? 40 : name.len), name.p);
    }
    return n;
}

static struct jinja_node *parse_any(struct parser *p)
{
    enter(p);
    const struct jinja_token *t = &p->t[p->cur];
    struct jinja_node *n;
    switch (t->type) {
    case TK_COMMENT:
        n = mk(p, N_COMMENT, t->line);
        p->cur++;
        break;
    case TK_TEXT:
        n = mk(p, N_STR, t->line);
        n->str = t->text;
        p->cur++;
        break;
    case TK_OPEN_STMT: n = parse_statement(p); break;
    case TK_OPEN_EXPR:
        p->cur++;
        n = parse_expression(p);
        expect(p, TK_CLOSE_EXPR, "'}}' to close the expression");
        break;
    default: {
        char b[64];
        parse_fail(p, "unexpected %s outside of a tag", describe(p, b, sizeof b));
    }
    }
    leave(p);
    return n;
}

void jinja_parse(struct jinja_ctx *c, const struct jinja_token *toks, size_t n,
                 struct jinja_program *prog, int max_depth)
{
    struct parser p = {.c = c, .t = toks, .n = n, .max_depth = max_depth};
    static const char *const fixed[SYM_FIXED_COUNT] = {
        [SYM_LOOP] = "loop",         [SYM_CALLER] = "caller",   [SYM_KWARGS] = "kwargs",
        [SYM_VARARGS] = "varargs",   [SYM_NAMESPACE] = "namespace", [SYM_TRUE] = "true",
        [SYM_FALSE] = "false",       [SYM_NONE] = "none",       [SYM_TRUE_T] = "True",
        [SYM_FALSE_T] = "False",     [SYM_NONE_T] = "None",     [SYM_RAISE] = "raise_exception",
        [SYM_RANGE] = "range",       [SYM_STRFTIME] = "strftime_now",
    };
    for (int i = 0; i < SYM_FIXED_COUNT; i++)
        intern(&p, (struct jinja_sv){fixed[i], strlen(fixed[i])});
    struct vec body = {0};
    while (p.cur < p.n)
        vpush(&p, &body, parse_any(&p));
    prog->body = vlist(body);
    prog->syms = p.syms;
    prog->n_syms = p.n_syms;
}

int64_t jinja_find_sym(const struct jinja_program *prog, const char *name, size_t len)
{
    struct jinja_sv s = {name, len};
    for (size_t i = 0; i < prog->n_syms; i++)
        if (jinja_sv_eq(prog->syms[i], s))
            return (int64_t)i;
    return -1;
}
