/* grammar: GBNF parser, UTF-8 lowering, and the lazy-DFA matcher over hash-consed parse stacks
 * (see grammar.h for the dialect and the design).
 *
 * Three stages:
 *   parse   GBNF text -> `struct prule`s: alternatives of items (a byte, a code-point class, a
 *           rule reference). Groups and repetitions become anonymous rules here:
 *             S? -> R ::= S |        S* -> R ::= S R |        S+ -> S S*
 *             S{m,n} -> S (m times) R_k with R_j ::= S R_(j-1) | and R_1 ::= S |  (k = n - m)
 *   lower   items -> compiled elements: a flat array of BYTES(class) / REF(rule) / END, each
 *           rule a list of alternative start offsets. A class of ASCII characters is one BYTES
 *           element; any other class becomes a rule of UTF-8 byte-range sequences.
 *   match   nodes (pos, parent) hash-consed into ids: pos is the next element of some
 *           alternative, parent the node to return to when it ends (NIL: the root). A state is
 *           the sorted set of "leaf" nodes whose pos is a BYTES element, plus whether the root
 *           can end here; states are interned and get a lazily filled row of 256 transitions.
 *
 * Invariants: a node's pos never points at END (ends are resolved while expanding); a parent's
 * id is smaller than its children's (parents exist first), which the garbage collector relies
 * on; every state's leaves are sorted ascending.
 */
#include "engine/grammar.h"

#include "base/alloc.h"
#include "base/buf.h"
#include "base/utf8.h"
#include "engine/cpset.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_REPEAT 10000           /* largest m or n in {m,n} */
#define MAX_ELEMENTS (1u << 22)    /* compiled grammar size */
#define MAX_LEAVES 4096            /* parse stacks alive in one state */
#define MAX_DEPTH 4096             /* return addresses on one stack */
#define SOFT_NODES (1u << 18)      /* garbage-collect between tokens above these */
#define SOFT_STATES 2048
#define HARD_NODES (1u << 23)      /* fail above these (within one token's work) */
#define HARD_STATES 32768
#define MASK_CACHE 16              /* vocabulary masks kept, per grammar */

#define NIL UINT32_MAX
#define CP_MAX CPSET_MAX

/* =============================================================================================
 * Parse structures */

enum item_kind { IT_BYTE, IT_CLASS, IT_REF };

struct item {
    uint8_t kind;
    uint32_t arg; /* the byte, the class index, or the rule index */
};

struct alt {
    struct item *items;
    size_t n, cap;
};

struct prule {
    char *name;         /* user rules: their name; anonymous: NULL */
    uint32_t origin;    /* the user rule an anonymous rule was made for (itself for user rules) */
    bool defined;
    size_t def_at;      /* offset of the definition (user rules) */
    size_t used_at;     /* offset of the first reference, for "not defined" errors */
    struct alt *alts;
    size_t n_alts, cap_alts;
};

struct parser {
    const char *src;
    size_t len, pos;
    struct err *e;
    struct prule *rules;
    size_t n_rules, cap_rules;
    struct cpset *classes;
    size_t n_classes, cap_classes;
    size_t n_items; /* total, against MAX_ELEMENTS */
};

static void alt_push(struct parser *p, struct alt *a, uint8_t kind, uint32_t arg)
{
    if (a->n == a->cap) {
        a->cap = a->cap ? a->cap * 2 : 8;
        a->items = xrealloc_array(a->items, a->cap, sizeof *a->items);
    }
    a->items[a->n].kind = kind;
    a->items[a->n].arg = arg;
    a->n++;
    p->n_items++;
}

static struct alt *rule_new_alt(struct prule *r)
{
    if (r->n_alts == r->cap_alts) {
        r->cap_alts = r->cap_alts ? r->cap_alts * 2 : 4;
        r->alts = xrealloc_array(r->alts, r->cap_alts, sizeof *r->alts);
    }
    struct alt *a = &r->alts[r->n_alts++];
    memset(a, 0, sizeof *a);
    return a;
}

static uint32_t rule_add(struct parser *p, const char *name, size_t name_len, uint32_t origin)
{
    if (p->n_rules == p->cap_rules) {
        p->cap_rules = p->cap_rules ? p->cap_rules * 2 : 32;
        p->rules = xrealloc_array(p->rules, p->cap_rules, sizeof *p->rules);
    }
    uint32_t id = (uint32_t)p->n_rules++;
    struct prule *r = &p->rules[id];
    memset(r, 0, sizeof *r);
    r->name = name ? xstrndup(name, name_len) : NULL;
    r->origin = name ? id : origin;
    return id;
}

static uint32_t rule_find(struct parser *p, const char *name, size_t name_len)
{
    for (size_t i = 0; i < p->n_rules; i++) /* user rules are few; anonymous ones have no name */
        if (p->rules[i].name && strlen(p->rules[i].name) == name_len &&
            memcmp(p->rules[i].name, name, name_len) == 0)
            return (uint32_t)i;
    return NIL;
}

static uint32_t class_add(struct parser *p, struct cpset *s)
{
    if (p->n_classes == p->cap_classes) {
        p->cap_classes = p->cap_classes ? p->cap_classes * 2 : 16;
        p->classes = xrealloc_array(p->classes, p->cap_classes, sizeof *p->classes);
    }
    p->classes[p->n_classes] = *s;
    memset(s, 0, sizeof *s);
    return (uint32_t)p->n_classes++;
}

static void parser_free(struct parser *p)
{
    for (size_t i = 0; i < p->n_rules; i++) {
        for (size_t j = 0; j < p->rules[i].n_alts; j++)
            free(p->rules[i].alts[j].items);
        free(p->rules[i].alts);
        free(p->rules[i].name);
    }
    free(p->rules);
    for (size_t i = 0; i < p->n_classes; i++)
        cpset_free(&p->classes[i]);
    free(p->classes);
}

/* =============================================================================================
 * Parser */

static void line_col(const char *src, size_t at, int *line, int *col)
{
    *line = 1;
    *col = 1;
    for (size_t i = 0; i < at; i++) {
        if (src[i] == '\n') {
            ++*line;
            *col = 1;
        } else if (((unsigned char)src[i] & 0xC0) != 0x80) {
            ++*col; /* columns count characters, not bytes */
        }
    }
}

static int perr_at(struct parser *p, size_t at, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static int perr_at(struct parser *p, size_t at, const char *fmt, ...)
{
    char msg[400];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    int line, col;
    line_col(p->src, at > p->len ? p->len : at, &line, &col);
    return err_set(p->e, "grammar: line %d, column %d: %s", line, col, msg);
}

/* What is at `at`, for messages: "'x'", "end of input", "a newline". */
static const char *describe(struct parser *p, size_t at, char *tmp, size_t cap)
{
    if (at >= p->len)
        return "the end of the grammar";
    unsigned char c = (unsigned char)p->src[at];
    if (c == '\n' || c == '\r')
        return "a line break";
    if (c < 0x20 || c == 0x7F) {
        snprintf(tmp, cap, "control character 0x%02X", c);
        return tmp;
    }
    size_t l = utf8_seq_len((const unsigned char *)p->src + at, p->len - at);
    snprintf(tmp, cap, "'%.*s'", (int)(l ? l : 1), p->src + at);
    return tmp;
}

static int peek(const struct parser *p) { return p->pos < p->len ? (unsigned char)p->src[p->pos] : -1; }
static int peek_at(const struct parser *p, size_t k)
{
    return p->pos + k < p->len ? (unsigned char)p->src[p->pos + k] : -1;
}

static bool is_name_char(int c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' ||
           c == '_';
}

/* Spaces, tabs and comments; line breaks too when newline_ok. */
static void skip_space(struct parser *p, bool newline_ok)
{
    for (;;) {
        int c = peek(p);
        if (c == ' ' || c == '\t' || (newline_ok && (c == '\r' || c == '\n'))) {
            p->pos++;
        } else if (c == '#') {
            while (p->pos < p->len && p->src[p->pos] != '\n' && p->src[p->pos] != '\r')
                p->pos++;
        } else {
            return;
        }
    }
}

static int hex_digit(int c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

/* One character of a literal or class: an escape or one UTF-8 encoded code point. */
static int parse_char(struct parser *p, uint32_t *cp)
{
    size_t at = p->pos;
    char tmp[32];
    if (p->pos >= p->len)
        return perr_at(p, at, "unexpected end of the grammar inside a literal or class");
    if (p->src[p->pos] != '\\') {
        size_t l = utf8_decode(p->src + p->pos, p->len - p->pos, cp);
        if (!l)
            return perr_at(p, at, "invalid UTF-8 byte 0x%02X", (unsigned char)p->src[p->pos]);
        p->pos += l;
        return 0;
    }
    int c = peek_at(p, 1);
    int digits = 0;
    switch (c) {
    case 'x': digits = 2; break;
    case 'u': digits = 4; break;
    case 'U': digits = 8; break;
    case 't': *cp = '\t'; p->pos += 2; return 0;
    case 'r': *cp = '\r'; p->pos += 2; return 0;
    case 'n': *cp = '\n'; p->pos += 2; return 0;
    case '\\': case '"': case '[': case ']': case '-':
        *cp = (uint32_t)c;
        p->pos += 2;
        return 0;
    case -1:
        return perr_at(p, at, "unexpected end of the grammar after '\\'");
    default:
        return perr_at(p, at, "unknown escape '\\%s' (known: \\x \\u \\U \\t \\r \\n \\\\ \\\" "
                              "\\[ \\] \\-)", describe(p, p->pos + 1, tmp, sizeof tmp) + 1);
    }
    uint32_t v = 0;
    for (int i = 0; i < digits; i++) {
        int d = hex_digit(peek_at(p, 2 + (size_t)i));
        if (d < 0)
            return perr_at(p, at, "\\%c needs %d hex digits", c, digits);
        v = v << 4 | (uint32_t)d;
    }
    if (v > CP_MAX)
        return perr_at(p, at, "\\%c%.*s is above U+10FFFF", c, digits, p->src + at + 2);
    *cp = v;
    p->pos += 2 + (size_t)digits;
    return 0;
}

static void push_utf8(struct parser *p, struct alt *a, uint32_t cp)
{
    char b[4];
    size_t n = utf8_encode(cp, b);
    for (size_t i = 0; i < n; i++)
        alt_push(p, a, IT_BYTE, (unsigned char)b[i]);
}

static int parse_literal(struct parser *p, struct alt *a)
{
    size_t start = p->pos;
    p->pos++; /* the opening quote */
    for (;;) {
        if (p->pos >= p->len)
            return perr_at(p, start, "string literal is not closed");
        if (p->src[p->pos] == '"')
            break;
        size_t at = p->pos;
        uint32_t cp;
        if (parse_char(p, &cp))
            return -1;
        if (cp >= 0xD800 && cp <= 0xDFFF)
            return perr_at(p, at, "U+%04X is a surrogate, not a character", cp);
        push_utf8(p, a, cp);
    }
    p->pos++;
    return 0;
}

static int parse_class(struct parser *p, struct alt *a)
{
    size_t start = p->pos;
    p->pos++; /* '[' */
    bool negate = false;
    if (peek(p) == '^') {
        negate = true;
        p->pos++;
    }
    struct cpset s = {0};
    for (;;) {
        if (p->pos >= p->len) {
            cpset_free(&s);
            return perr_at(p, start, "character class is not closed");
        }
        if (p->src[p->pos] == ']')
            break;
        size_t at = p->pos;
        uint32_t lo, hi;
        if (parse_char(p, &lo)) {
            cpset_free(&s);
            return -1;
        }
        hi = lo;
        if (peek(p) == '-' && peek_at(p, 1) != ']' && peek_at(p, 1) != -1) {
            p->pos++;
            if (parse_char(p, &hi)) {
                cpset_free(&s);
                return -1;
            }
            if (hi < lo) {
                cpset_free(&s);
                return perr_at(p, at, "range U+%04X-U+%04X is reversed", lo, hi);
            }
        }
        cpset_add(&s, lo, hi);
    }
    p->pos++;
    cpset_normalize(&s);
    if (negate)
        cpset_negate(&s);
    cpset_drop_surrogates(&s);
    alt_push(p, a, IT_CLASS, class_add(p, &s));
    return 0;
}

/* Parses a decimal count for {m,n}. */
static int parse_count(struct parser *p, uint32_t *out)
{
    size_t at = p->pos;
    char tmp[32];
    if (peek(p) < '0' || peek(p) > '9')
        return perr_at(p, at, "expected a number in {m,n}, found %s", describe(p, at, tmp, sizeof tmp));
    uint64_t v = 0;
    while (peek(p) >= '0' && peek(p) <= '9') {
        v = v * 10 + (uint64_t)(peek(p) - '0');
        if (v > MAX_REPEAT)
            return perr_at(p, at, "repetition count above %d", MAX_REPEAT);
        p->pos++;
    }
    *out = (uint32_t)v;
    return 0;
}

static int parse_alternates(struct parser *p, uint32_t target, bool nested);

/* Applies {min,max} (max NIL: unbounded) to the operand items[from..) of alternative alt_i of
 * rule target. */
static void repeat(struct parser *p, uint32_t target, size_t alt_i, size_t from, uint32_t min,
                   uint32_t max)
{
    uint32_t origin = p->rules[target].origin;
    struct alt *a = &p->rules[target].alts[alt_i];
    struct item x;
    if (a->n - from == 1) {
        x = a->items[from];
    } else {
        /* several items (a literal): move them into their own rule */
        uint32_t r = rule_add(p, NULL, 0, origin);
        a = &p->rules[target].alts[alt_i];
        struct alt *inner = rule_new_alt(&p->rules[r]);
        for (size_t i = from; i < a->n; i++)
            alt_push(p, inner, a->items[i].kind, a->items[i].arg);
        x.kind = IT_REF;
        x.arg = r;
    }
    p->n_items -= a->n - from;
    a->n = from;
    for (uint32_t i = 0; i < min; i++)
        alt_push(p, a, x.kind, x.arg);
    if (max == NIL) {
        uint32_t r = rule_add(p, NULL, 0, origin); /* R ::= X R | */
        struct alt *one = rule_new_alt(&p->rules[r]);
        alt_push(p, one, x.kind, x.arg);
        alt_push(p, one, IT_REF, r);
        rule_new_alt(&p->rules[r]);
        a = &p->rules[target].alts[alt_i];
        alt_push(p, a, IT_REF, r);
        return;
    }
    uint32_t prev = NIL;
    for (uint32_t k = 0; k < max - min; k++) {
        uint32_t r = rule_add(p, NULL, 0, origin); /* R_k ::= X R_(k-1) | */
        struct alt *one = rule_new_alt(&p->rules[r]);
        alt_push(p, one, x.kind, x.arg);
        if (prev != NIL)
            alt_push(p, one, IT_REF, prev);
        rule_new_alt(&p->rules[r]);
        prev = r;
    }
    if (prev != NIL) {
        a = &p->rules[target].alts[alt_i];
        alt_push(p, a, IT_REF, prev);
    }
}

/* One alternative of rule `target`; nested: inside parentheses, where line breaks are spaces. */
static int parse_sequence(struct parser *p, uint32_t target, bool nested)
{
    size_t alt_i = p->rules[target].n_alts;
    rule_new_alt(&p->rules[target]);
#define ALT (&p->rules[target].alts[alt_i])
    size_t operand = (size_t)-1; /* start of the last symbol's items, for * + ? {} */
    char tmp[32];
    for (;;) {
        if (p->n_items > MAX_ELEMENTS)
            return perr_at(p, p->pos, "grammar too large (more than %u elements)", MAX_ELEMENTS);
        int c = peek(p);
        size_t at = p->pos;
        if (c == '"') {
            operand = ALT->n;
            if (parse_literal(p, ALT))
                return -1;
            if (ALT->n == operand)
                operand = (size_t)-1; /* "" matches the empty string: nothing to repeat */
        } else if (c == '[') {
            operand = ALT->n;
            if (parse_class(p, ALT))
                return -1;
        } else if (c == '.') {
            struct cpset s = {0};
            cpset_add(&s, 0, CP_MAX);
            cpset_drop_surrogates(&s);
            operand = ALT->n;
            alt_push(p, ALT, IT_CLASS, class_add(p, &s));
            p->pos++;
        } else if (is_name_char(c)) {
            size_t s = p->pos;
            while (is_name_char(peek(p)))
                p->pos++;
            uint32_t r = rule_find(p, p->src + s, p->pos - s);
            if (r == NIL) {
                r = rule_add(p, p->src + s, p->pos - s, 0);
                p->rules[r].used_at = s;
            }
            operand = ALT->n;
            alt_push(p, ALT, IT_REF, r);
        } else if (c == '(') {
            p->pos++;
            skip_space(p, true);
            uint32_t r = rule_add(p, NULL, 0, p->rules[target].origin);
            if (parse_alternates(p, r, true))
                return -1;
            if (peek(p) != ')') {
                int line, col;
                line_col(p->src, at, &line, &col);
                return perr_at(p, p->pos, "expected ')' closing the group opened at line %d, "
                                          "column %d, found %s", line, col,
                               describe(p, p->pos, tmp, sizeof tmp));
            }
            p->pos++;
            operand = ALT->n;
            alt_push(p, ALT, IT_REF, r);
        } else if (c == '*' || c == '+' || c == '?' || c == '{') {
            if (operand == (size_t)-1)
                return perr_at(p, at, "'%c' has nothing before it to repeat", c);
            uint32_t min = 0, max = NIL;
            p->pos++;
            if (c == '+')
                min = 1;
            else if (c == '?')
                max = 1;
            else if (c == '{') {
                skip_space(p, nested);
                if (parse_count(p, &min))
                    return -1;
                skip_space(p, nested);
                if (peek(p) == '}') {
                    max = min;
                } else if (peek(p) == ',') {
                    p->pos++;
                    skip_space(p, nested);
                    if (peek(p) != '}') {
                        if (parse_count(p, &max))
                            return -1;
                        skip_space(p, nested);
                        if (max < min)
                            return perr_at(p, at, "{%u,%u}: the maximum is below the minimum",
                                           min, max);
                    }
                } else {
                    return perr_at(p, p->pos, "expected ',' or '}' in {m,n}, found %s",
                                   describe(p, p->pos, tmp, sizeof tmp));
                }
                if (peek(p) != '}')
                    return perr_at(p, p->pos, "expected '}' closing {m,n}, found %s",
                                   describe(p, p->pos, tmp, sizeof tmp));
                p->pos++;
            }
            if ((uint64_t)p->n_items + (uint64_t)(max == NIL ? min : max) * 3 > MAX_ELEMENTS)
                return perr_at(p, at, "grammar too large (more than %u elements)", MAX_ELEMENTS);
            repeat(p, target, alt_i, operand, min, max);
            /* the repetition's items are the operand of a following * + ? {} */
            if (ALT->n == operand)
                operand = (size_t)-1; /* x{0} left nothing */
        } else if (c == '<' || c == '!') {
            return perr_at(p, at, "token references (<[id]>, <text>, !<...>) are not supported; "
                                  "write the token's text as a string literal");
        } else {
            break;
        }
        skip_space(p, nested);
    }
#undef ALT
    return 0;
}

static int parse_alternates(struct parser *p, uint32_t target, bool nested)
{
    if (parse_sequence(p, target, nested))
        return -1;
    while (peek(p) == '|') {
        p->pos++;
        skip_space(p, true);
        if (parse_sequence(p, target, nested))
            return -1;
    }
    return 0;
}

static int parse_rule(struct parser *p)
{
    char tmp[32];
    size_t start = p->pos;
    if (!is_name_char(peek(p))) {
        if (peek(p) == '|')
            return perr_at(p, start, "expected a rule name, found '|': to continue a rule on "
                                     "the next line, end the previous line with '|' or wrap "
                                     "the alternatives in parentheses");
        return perr_at(p, start, "expected a rule name, found %s",
                       describe(p, start, tmp, sizeof tmp));
    }
    while (is_name_char(peek(p)))
        p->pos++;
    size_t name_len = p->pos - start;
    skip_space(p, false);
    if (!(peek(p) == ':' && peek_at(p, 1) == ':' && peek_at(p, 2) == '='))
        return perr_at(p, p->pos, "expected '::=' after rule name '%.*s', found %s",
                       (int)name_len, p->src + start, describe(p, p->pos, tmp, sizeof tmp));
    p->pos += 3;
    uint32_t r = rule_find(p, p->src + start, name_len);
    if (r == NIL) {
        r = rule_add(p, p->src + start, name_len, 0);
    } else if (p->rules[r].defined) {
        int line, col;
        line_col(p->src, p->rules[r].def_at, &line, &col);
        return perr_at(p, start, "rule '%s' is defined twice (first at line %d)",
                       p->rules[r].name, line);
    }
    p->rules[r].defined = true;
    p->rules[r].def_at = start;
    skip_space(p, true);
    if (parse_alternates(p, r, false))
        return -1;
    int c = peek(p);
    if (c == '\r' || c == '\n' || c == -1) {
        skip_space(p, true);
        return 0;
    }
    if (c == ')')
        return perr_at(p, p->pos, "')' without a matching '('");
    return perr_at(p, p->pos, "expected a line break or the end of rule '%s', found %s",
                   p->rules[r].name, describe(p, p->pos, tmp, sizeof tmp));
}

/* =============================================================================================
 * Compiled form */

enum { EL_END = 0, EL_BYTES = 1, EL_REF = 2 };
#define EL(kind, arg) ((uint32_t)(kind) << 30 | (uint32_t)(arg))
#define EL_KIND(e) ((e) >> 30)
#define EL_ARG(e) ((e) & 0x3FFFFFFFu)

struct bclass {
    uint64_t w[4];
};

static bool bclass_has(const struct bclass *c, unsigned b) { return c->w[b >> 6] >> (b & 63) & 1; }
static void bclass_set_range(struct bclass *c, unsigned lo, unsigned hi)
{
    for (unsigned b = lo; b <= hi; b++)
        c->w[b >> 6] |= 1ull << (b & 63);
}

struct node {
    uint32_t pos;    /* next element to match; never an END */
    uint32_t parent; /* node to continue with when pos's alternative ends; NIL: the root ends */
    uint32_t depth;  /* nodes on the chain to the root, this one included */
    uint32_t stamp;  /* == grammar.stamp: already expanded in the current closure */
};

struct state {
    uint32_t off, n;  /* leaves: leaf_pool[off .. off + n), sorted */
    uint32_t hash;
    bool accepting;   /* the root can end here */
    int32_t *next;    /* 256 transitions (a state id, DEAD, or UNKNOWN); NULL until first used */
};

#define DEAD (-1)
#define UNKNOWN (-2)
#define FAIL (-3)

struct mask_entry {
    int32_t state; /* -1: empty slot */
    int32_t count;
    uint32_t *bits;
};

struct grammar {
    /* compiled (immutable after grammar_parse) */
    uint32_t *el;
    size_t n_el;
    uint32_t *alt_off;   /* rule r's alternatives start at alt_start[alt_off[r] .. alt_off[r+1]) */
    uint32_t *alt_start;
    size_t n_rules;
    struct bclass *cls;
    size_t n_cls;
    uint32_t root;
    /* stack nodes, hash-consed */
    struct node *nodes;
    size_t n_nodes, cap_nodes;
    uint32_t *node_ht;   /* open addressing; NIL empty; capacity a power of two */
    size_t node_ht_cap;
    uint32_t stamp;
    /* DFA states, interned */
    struct state *states;
    size_t n_states, cap_states;
    uint32_t *leaf_pool;
    size_t n_pool, cap_pool;
    int32_t *state_ht;   /* -1 empty */
    size_t state_ht_cap;
    int32_t start;       /* start state, or UNKNOWN after a collection */
    int32_t cur;         /* current state or DEAD */
    /* closure scratch */
    uint32_t *work, *leaves;
    size_t n_work, cap_work, n_leaves, cap_leaves;
    size_t closure_work;
    bool accepting;
    /* failure */
    bool failed;
    char error[256];
    /* token level */
    const struct grammar_vocab *vocab; /* the vocabulary the mask cache and dfs were sized for */
    int32_t *dfs;                      /* state per trie depth */
    struct mask_entry masks[MASK_CACHE];
    int mask_next;
    size_t n_gc, n_masks, n_mask_hits;
};

/* Growable-array helper: makes room for one more element of *p (element size sz). */
static void grow(void **p, size_t *cap, size_t n, size_t sz)
{
    if (n < *cap)
        return;
    *cap = *cap ? *cap * 2 : 64;
    *p = xrealloc_array(*p, *cap, sz);
}

/* ---------------------------------------------------------------------------------------------
 * UTF-8 lowering: a code-point set becomes sequences of byte ranges. */

struct useq {
    int n;               /* bytes */
    struct bclass first; /* allowed first bytes (sequences with equal tails share one entry) */
    uint8_t lo[4], hi[4];
};

struct useqs {
    struct useq *s;
    size_t n, cap;
};

static void useqs_add(struct useqs *q, const uint8_t *lo, const uint8_t *hi, int n)
{
    for (size_t i = 0; i < q->n; i++) { /* same length and tail: widen the first byte's class */
        struct useq *s = &q->s[i];
        if (s->n == n && memcmp(s->lo + 1, lo + 1, (size_t)n - 1) == 0 &&
            memcmp(s->hi + 1, hi + 1, (size_t)n - 1) == 0) {
            bclass_set_range(&s->first, lo[0], hi[0]);
            return;
        }
    }
    grow((void **)&q->s, &q->cap, q->n, sizeof *q->s);
    struct useq *s = &q->s[q->n++];
    memset(s, 0, sizeof *s);
    s->n = n;
    bclass_set_range(&s->first, lo[0], hi[0]);
    memcpy(s->lo, lo, (size_t)n);
    memcpy(s->hi, hi, (size_t)n);
}

/* [lo, hi] within one encoded length: split until every byte position is an independent range
 * (the low 6i bits of lo all 0 and of hi all 1 wherever the higher bits differ). */
static void utf8_split_same_len(struct useqs *q, uint32_t lo, uint32_t hi)
{
    uint8_t a[4], b[4];
    int n = (int)utf8_encode(lo, (char *)a);
    for (int i = 1; i < n; i++) {
        uint32_t m = (1u << (6 * i)) - 1;
        if ((lo & ~m) == (hi & ~m))
            continue;
        if ((lo & m) != 0) {
            utf8_split_same_len(q, lo, lo | m);
            utf8_split_same_len(q, (lo | m) + 1, hi);
            return;
        }
        if ((hi & m) != m) {
            utf8_split_same_len(q, lo, (hi & ~m) - 1);
            utf8_split_same_len(q, hi & ~m, hi);
            return;
        }
    }
    utf8_encode(hi, (char *)b);
    useqs_add(q, a, b, n);
}

static void utf8_split(struct useqs *q, uint32_t lo, uint32_t hi)
{
    static const uint32_t first[4] = {0, 0x80, 0x800, 0x10000}, last[4] = {0x7F, 0x7FF, 0xFFFF, CP_MAX};
    for (int l = 0; l < 4; l++) {
        if (hi < first[l] || lo > last[l])
            continue;
        utf8_split_same_len(q, lo > first[l] ? lo : first[l], hi < last[l] ? hi : last[l]);
    }
}

/* ---------------------------------------------------------------------------------------------
 * Lowering parse rules to elements */

struct lower {
    struct grammar *g;
    size_t cap_el, cap_alt_start, cap_alt_off, cap_cls;
    uint32_t byte_cls[256]; /* class index of each single byte, NIL until used */
    uint32_t *class_rule;   /* compiled rule of each non-ASCII parser class, NIL until used */
    uint32_t *pending;      /* parser classes waiting to be emitted as rules, in rule order */
    size_t n_pending, cap_pending;
    size_t n_rules_next;
};

static uint32_t cls_add(struct lower *L, const struct bclass *c)
{
    struct grammar *g = L->g;
    grow((void **)&g->cls, &L->cap_cls, g->n_cls, sizeof *g->cls);
    g->cls[g->n_cls] = *c;
    return (uint32_t)g->n_cls++;
}

static uint32_t cls_byte(struct lower *L, unsigned b)
{
    if (L->byte_cls[b] == NIL) {
        struct bclass c = {{0}};
        bclass_set_range(&c, b, b);
        L->byte_cls[b] = cls_add(L, &c);
    }
    return L->byte_cls[b];
}

static void el_push(struct lower *L, uint32_t e)
{
    struct grammar *g = L->g;
    grow((void **)&g->el, &L->cap_el, g->n_el, sizeof *g->el);
    g->el[g->n_el++] = e;
}

/* alt_off[n_rules + 1] counts the alternatives emitted so far while rule n_rules is built. */
static void rule_begin(struct lower *L)
{
    struct grammar *g = L->g;
    grow((void **)&g->alt_off, &L->cap_alt_off, g->n_rules + 1, sizeof *g->alt_off);
    g->alt_off[g->n_rules + 1] = g->alt_off[g->n_rules];
}

static void alt_begin(struct lower *L)
{
    struct grammar *g = L->g;
    size_t n = g->alt_off[g->n_rules + 1];
    grow((void **)&g->alt_start, &L->cap_alt_start, n, sizeof *g->alt_start);
    g->alt_start[n] = (uint32_t)g->n_el;
    g->alt_off[g->n_rules + 1]++;
}

static void rule_end(struct lower *L) { L->g->n_rules++; }

static bool cpset_ascii(const struct cpset *s) { return s->n == 0 || s->hi[s->n - 1] < 0x80; }

static uint32_t lower_class_item(struct lower *L, struct parser *p, uint32_t c)
{
    const struct cpset *s = &p->classes[c];
    if (cpset_ascii(s)) {
        struct bclass b = {{0}};
        for (size_t i = 0; i < s->n; i++)
            bclass_set_range(&b, s->lo[i], s->hi[i]);
        return EL(EL_BYTES, cls_add(L, &b));
    }
    if (L->class_rule[c] == NIL) {
        L->class_rule[c] = (uint32_t)L->n_rules_next++;
        grow((void **)&L->pending, &L->cap_pending, L->n_pending, sizeof *L->pending);
        L->pending[L->n_pending++] = c;
    }
    return EL(EL_REF, L->class_rule[c]);
}

static void lower_class_rule(struct lower *L, const struct cpset *s)
{
    struct useqs q = {0};
    for (size_t i = 0; i < s->n; i++)
        utf8_split(&q, s->lo[i], s->hi[i]);
    rule_begin(L);
    for (size_t i = 0; i < q.n; i++) {
        alt_begin(L);
        el_push(L, EL(EL_BYTES, cls_add(L, &q.s[i].first)));
        for (int j = 1; j < q.s[i].n; j++) {
            struct bclass b = {{0}};
            bclass_set_range(&b, q.s[i].lo[j], q.s[i].hi[j]);
            el_push(L, EL(EL_BYTES, cls_add(L, &b)));
        }
        el_push(L, EL(EL_END, 0));
    }
    rule_end(L);
    free(q.s);
}

static void lower(struct parser *p, struct grammar *g)
{
    struct lower L;
    memset(&L, 0, sizeof L);
    L.g = g;
    for (int i = 0; i < 256; i++)
        L.byte_cls[i] = NIL;
    L.class_rule = xmalloc_array(p->n_classes ? p->n_classes : 1, sizeof *L.class_rule);
    for (size_t i = 0; i < p->n_classes; i++)
        L.class_rule[i] = NIL;
    L.n_rules_next = p->n_rules;
    g->alt_off = xcalloc(64, sizeof *g->alt_off);
    L.cap_alt_off = 64;
    for (size_t r = 0; r < p->n_rules; r++) {
        rule_begin(&L);
        for (size_t a = 0; a < p->rules[r].n_alts; a++) {
            alt_begin(&L);
            const struct alt *al = &p->rules[r].alts[a];
            for (size_t i = 0; i < al->n; i++) {
                const struct item *it = &al->items[i];
                if (it->kind == IT_BYTE)
                    el_push(&L, EL(EL_BYTES, cls_byte(&L, it->arg)));
                else if (it->kind == IT_REF)
                    el_push(&L, EL(EL_REF, it->arg));
                else
                    el_push(&L, lower_class_item(&L, p, it->arg));
            }
            el_push(&L, EL(EL_END, 0));
        }
        rule_end(&L);
    }
    for (size_t i = 0; i < L.n_pending; i++)
        lower_class_rule(&L, &p->classes[L.pending[i]]);
    free(L.class_rule);
    free(L.pending);
}

/* ---------------------------------------------------------------------------------------------
 * Analysis: nullable rules and left recursion that grows stacks */

static const char *rule_label(const struct parser *p, uint32_t r)
{
    if (r < p->n_rules)
        return p->rules[p->rules[r].origin].name ? p->rules[p->rules[r].origin].name : "?";
    return "(character class)";
}

static int check_left_recursion(struct parser *p, struct grammar *g, struct err *e)
{
    size_t nr = g->n_rules, n_alts = g->alt_off[nr];
    /* nullable: an alternative is nullable when all its elements are references to nullable
     * rules; propagate from rules with an empty alternative (worklist, linear time). */
    uint32_t *alt_rule = xmalloc_array(n_alts ? n_alts : 1, sizeof *alt_rule);
    uint32_t *alt_left = xmalloc_array(n_alts ? n_alts : 1, sizeof *alt_left); /* refs to prove */
    uint32_t *occ_off = xcalloc(nr + 1, sizeof *occ_off);
    bool *nullable = xcalloc(nr ? nr : 1, sizeof *nullable);
    for (size_t r = 0; r < nr; r++)
        for (uint32_t a = g->alt_off[r]; a < g->alt_off[r + 1]; a++) {
            alt_rule[a] = (uint32_t)r;
            alt_left[a] = 0;
            for (uint32_t i = g->alt_start[a]; EL_KIND(g->el[i]) != EL_END; i++) {
                if (EL_KIND(g->el[i]) == EL_BYTES) {
                    alt_left[a] = NIL; /* consumes a byte: never nullable */
                    break;
                }
                alt_left[a]++;
            }
            if (alt_left[a] != NIL)
                for (uint32_t i = g->alt_start[a]; EL_KIND(g->el[i]) != EL_END; i++)
                    occ_off[EL_ARG(g->el[i])]++;
        }
    for (size_t r = 0, sum = 0; r <= nr; r++) { /* prefix sums: occurrences of rule r */
        size_t c = r < nr ? occ_off[r] : 0;
        occ_off[r] = (uint32_t)sum;
        sum += c;
    }
    uint32_t *occ = xmalloc_array(occ_off[nr] ? occ_off[nr] : 1, sizeof *occ);
    uint32_t *fill = xmalloc_array(nr ? nr : 1, sizeof *fill);
    memcpy(fill, occ_off, nr * sizeof *fill);
    for (size_t a = 0; a < n_alts; a++) {
        if (alt_left[a] == NIL)
            continue;
        for (uint32_t i = g->alt_start[a]; EL_KIND(g->el[i]) != EL_END; i++)
            occ[fill[EL_ARG(g->el[i])]++] = (uint32_t)a;
    }
    uint32_t *queue = xmalloc_array(nr ? nr : 1, sizeof *queue);
    size_t qh = 0, qt = 0;
    for (size_t a = 0; a < n_alts; a++)
        if (alt_left[a] == 0 && !nullable[alt_rule[a]]) {
            nullable[alt_rule[a]] = true;
            queue[qt++] = alt_rule[a];
        }
    while (qh < qt) {
        uint32_t r = queue[qh++];
        for (uint32_t k = occ_off[r]; k < occ_off[r + 1]; k++) {
            uint32_t a = occ[k];
            if (alt_left[a] != NIL && alt_left[a] > 0 && --alt_left[a] == 0 && !nullable[alt_rule[a]]) {
                nullable[alt_rule[a]] = true;
                queue[qt++] = alt_rule[a];
            }
        }
    }
    free(occ);
    free(fill);
    free(queue);
    free(alt_left);
    free(alt_rule);

    /* left edges A -> B: B referenced where everything before it in the alternative is
     * nullable. Growing: the reference is not in tail position (a return address is pushed). */
    size_t n_edges = 0, cap_edges = 0;
    uint32_t *edge_from = NULL, *edge_to = NULL;
    bool *edge_grow = NULL;
    size_t cap_from = 0, cap_grow = 0;
    for (size_t r = 0; r < nr; r++)
        for (uint32_t a = g->alt_off[r]; a < g->alt_off[r + 1]; a++)
            for (uint32_t i = g->alt_start[a]; EL_KIND(g->el[i]) == EL_REF; i++) {
                grow((void **)&edge_to, &cap_edges, n_edges, sizeof *edge_to);
                grow((void **)&edge_from, &cap_from, n_edges, sizeof *edge_from);
                grow((void **)&edge_grow, &cap_grow, n_edges, sizeof *edge_grow);
                edge_from[n_edges] = (uint32_t)r;
                edge_to[n_edges] = EL_ARG(g->el[i]);
                edge_grow[n_edges] = EL_KIND(g->el[i + 1]) != EL_END;
                n_edges++;
                if (!nullable[EL_ARG(g->el[i])])
                    break;
            }
    /* adjacency (CSR) and an iterative Tarjan SCC */
    uint32_t *adj_off = xcalloc(nr + 1, sizeof *adj_off);
    for (size_t k = 0; k < n_edges; k++)
        adj_off[edge_from[k] + 1]++;
    for (size_t r = 0; r < nr; r++)
        adj_off[r + 1] += adj_off[r];
    uint32_t *adj = xmalloc_array(n_edges ? n_edges : 1, sizeof *adj);
    uint32_t *pos = xmalloc_array(nr ? nr : 1, sizeof *pos);
    memcpy(pos, adj_off, nr * sizeof *pos);
    for (size_t k = 0; k < n_edges; k++)
        adj[pos[edge_from[k]]++] = edge_to[k];
    uint32_t *index = xmalloc_array(nr ? nr : 1, sizeof *index);
    uint32_t *low = xmalloc_array(nr ? nr : 1, sizeof *low);
    uint32_t *comp = xmalloc_array(nr ? nr : 1, sizeof *comp);
    bool *on = xcalloc(nr ? nr : 1, sizeof *on);
    uint32_t *stk = xmalloc_array(nr ? nr : 1, sizeof *stk);
    uint32_t *fv = xmalloc_array(nr ? nr : 1, sizeof *fv), *fi = xmalloc_array(nr ? nr : 1, sizeof *fi);
    for (size_t r = 0; r < nr; r++)
        index[r] = NIL;
    uint32_t next_index = 0, n_comp = 0;
    size_t sp = 0, fp = 0;
    for (size_t root = 0; root < nr; root++) {
        if (index[root] != NIL)
            continue;
        fv[0] = (uint32_t)root;
        fi[0] = adj_off[root];
        fp = 1;
        index[root] = low[root] = next_index++;
        stk[sp++] = (uint32_t)root;
        on[root] = true;
        while (fp) {
            uint32_t v = fv[fp - 1];
            if (fi[fp - 1] < adj_off[v + 1]) {
                uint32_t w = adj[fi[fp - 1]++];
                if (index[w] == NIL) {
                    index[w] = low[w] = next_index++;
                    stk[sp++] = w;
                    on[w] = true;
                    fv[fp] = w;
                    fi[fp] = adj_off[w];
                    fp++;
                } else if (on[w] && index[w] < low[v]) {
                    low[v] = index[w];
                }
                continue;
            }
            if (low[v] == index[v]) {
                uint32_t w;
                do {
                    w = stk[--sp];
                    on[w] = false;
                    comp[w] = n_comp;
                } while (w != v);
                n_comp++;
            }
            fp--;
            if (fp && low[v] < low[fv[fp - 1]])
                low[fv[fp - 1]] = low[v];
        }
    }
    int rc = 0;
    for (size_t k = 0; k < n_edges && !rc; k++)
        if (edge_grow[k] && comp[edge_from[k]] == comp[edge_to[k]]) {
            const char *a = rule_label(p, edge_from[k]), *b = rule_label(p, edge_to[k]);
            if (strcmp(a, b) == 0)
                rc = err_set(e, "grammar: rule '%s' is left-recursive (it can reach itself "
                                "before matching any character); rewrite it with repetition, "
                                "e.g. x ::= y (\"+\" y)*", a);
            else
                rc = err_set(e, "grammar: rules '%s' and '%s' are left-recursive (each can reach "
                                "the other before matching any character); rewrite them with "
                                "repetition", a, b);
        }
    free(edge_from);
    free(edge_to);
    free(edge_grow);
    free(adj_off);
    free(adj);
    free(pos);
    free(index);
    free(low);
    free(comp);
    free(on);
    free(stk);
    free(fv);
    free(fi);
    free(nullable);
    free(occ_off);
    return rc;
}

/* =============================================================================================
 * Matcher: nodes, closures, states */

static void fail(struct grammar *g, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void fail(struct grammar *g, const char *fmt, ...)
{
    if (g->failed)
        return;
    g->failed = true;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(g->error, sizeof g->error, fmt, ap);
    va_end(ap);
}

static uint32_t hash2(uint32_t a, uint32_t b)
{
    uint64_t h = ((uint64_t)a << 32 | b) * 0x9E3779B97F4A7C15ull;
    return (uint32_t)(h >> 32) ^ (uint32_t)h;
}

static void node_ht_rebuild(struct grammar *g, size_t cap)
{
    free(g->node_ht);
    g->node_ht_cap = cap;
    g->node_ht = xmalloc_array(cap, sizeof *g->node_ht);
    memset(g->node_ht, 0xFF, cap * sizeof *g->node_ht);
    for (size_t id = 0; id < g->n_nodes; id++) {
        size_t h = hash2(g->nodes[id].pos, g->nodes[id].parent) & (cap - 1);
        while (g->node_ht[h] != NIL)
            h = (h + 1) & (cap - 1);
        g->node_ht[h] = (uint32_t)id;
    }
}

/* The id of node (pos, parent), created if new; NIL (and the grammar failed) past a limit. */
static uint32_t node_intern(struct grammar *g, uint32_t pos, uint32_t parent)
{
    size_t mask = g->node_ht_cap - 1, h = hash2(pos, parent) & mask;
    for (uint32_t id; (id = g->node_ht[h]) != NIL; h = (h + 1) & mask)
        if (g->nodes[id].pos == pos && g->nodes[id].parent == parent)
            return id;
    uint32_t depth = parent == NIL ? 1 : g->nodes[parent].depth + 1;
    if (depth > MAX_DEPTH) {
        fail(g, "grammar state explosion: a parse stack is deeper than %d (deeply nested "
                "rules or unbounded nesting in the output)", MAX_DEPTH);
        return NIL;
    }
    if (g->n_nodes >= HARD_NODES) {
        fail(g, "grammar state explosion: more than %u parse-stack nodes", HARD_NODES);
        return NIL;
    }
    grow((void **)&g->nodes, &g->cap_nodes, g->n_nodes, sizeof *g->nodes);
    uint32_t id = (uint32_t)g->n_nodes++;
    g->nodes[id] = (struct node){pos, parent, depth, 0};
    g->node_ht[h] = id;
    if (g->n_nodes * 2 > g->node_ht_cap)
        node_ht_rebuild(g, g->node_ht_cap * 2);
    return id;
}

static void closure_begin(struct grammar *g)
{
    if (++g->stamp == 0) { /* wrapped: clear the old marks */
        for (size_t i = 0; i < g->n_nodes; i++)
            g->nodes[i].stamp = 0;
        g->stamp = 1;
    }
    g->n_work = g->n_leaves = 0;
    g->closure_work = 0;
    g->accepting = false;
}

static void work_push(struct grammar *g, uint32_t id)
{
    if (g->nodes[id].stamp == g->stamp)
        return;
    g->nodes[id].stamp = g->stamp;
    grow((void **)&g->work, &g->cap_work, g->n_work, sizeof *g->work);
    g->work[g->n_work++] = id;
}

/* Continue at element pos of some alternative, returning to parent when it ends. */
static void enter(struct grammar *g, uint32_t pos, uint32_t parent)
{
    if (EL_KIND(g->el[pos]) == EL_END) {
        if (parent == NIL)
            g->accepting = true;
        else
            work_push(g, parent);
        return;
    }
    uint32_t id = node_intern(g, pos, parent);
    if (id != NIL)
        work_push(g, id);
}

/* Expands the queued nodes until every stack's top is a byte class (a leaf). */
static void closure_run(struct grammar *g)
{
    while (g->n_work && !g->failed) {
        uint32_t id = g->work[--g->n_work];
        struct node n = g->nodes[id];
        uint32_t e = g->el[n.pos];
        if (++g->closure_work > HARD_NODES) {
            fail(g, "grammar state explosion: one step expanded more than %u stack nodes",
                 HARD_NODES);
            return;
        }
        if (EL_KIND(e) == EL_BYTES) {
            if (g->n_leaves >= MAX_LEAVES) {
                fail(g, "grammar state explosion: more than %d parse stacks alive at once (the "
                        "grammar is too ambiguous here)", MAX_LEAVES);
                return;
            }
            grow((void **)&g->leaves, &g->cap_leaves, g->n_leaves, sizeof *g->leaves);
            g->leaves[g->n_leaves++] = id;
            continue;
        }
        uint32_t r = EL_ARG(e);
        /* a reference in tail position returns straight to our parent: constant depth for
         * right recursion, and loops through empty rules meet nodes already expanded */
        uint32_t ret = EL_KIND(g->el[n.pos + 1]) == EL_END ? n.parent : node_intern(g, n.pos + 1, n.parent);
        if (g->failed)
            return;
        for (uint32_t a = g->alt_off[r]; a < g->alt_off[r + 1]; a++)
            enter(g, g->alt_start[a], ret);
    }
}

static int cmp_u32(const void *a, const void *b)
{
    uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
    return (x > y) - (x < y);
}

static void state_ht_rebuild(struct grammar *g, size_t cap)
{
    free(g->state_ht);
    g->state_ht_cap = cap;
    g->state_ht = xmalloc_array(cap, sizeof *g->state_ht);
    memset(g->state_ht, 0xFF, cap * sizeof *g->state_ht);
    for (size_t s = 0; s < g->n_states; s++) {
        size_t h = g->states[s].hash & (cap - 1);
        while (g->state_ht[h] >= 0)
            h = (h + 1) & (cap - 1);
        g->state_ht[h] = (int32_t)s;
    }
}

/* Interns the closure's result (g->leaves, g->accepting) as a state; DEAD if it is empty. */
static int32_t state_intern(struct grammar *g)
{
    if (g->failed)
        return FAIL;
    if (g->n_leaves == 0 && !g->accepting)
        return DEAD;
    qsort(g->leaves, g->n_leaves, sizeof *g->leaves, cmp_u32);
    uint32_t h = g->accepting ? 0x5bd1e995u : 0;
    for (size_t i = 0; i < g->n_leaves; i++)
        h = hash2(h, g->leaves[i]);
    size_t mask = g->state_ht_cap - 1, slot = h & mask;
    for (int32_t s; (s = g->state_ht[slot]) >= 0; slot = (slot + 1) & mask) {
        const struct state *st = &g->states[s];
        if (st->hash == h && st->accepting == g->accepting && st->n == g->n_leaves &&
            memcmp(g->leaf_pool + st->off, g->leaves, g->n_leaves * sizeof *g->leaves) == 0)
            return s;
    }
    if (g->n_states >= HARD_STATES) {
        fail(g, "grammar state explosion: more than %d distinct parser states", HARD_STATES);
        return FAIL;
    }
    while (g->n_pool + g->n_leaves > g->cap_pool) {
        g->cap_pool = g->cap_pool ? g->cap_pool * 2 : 1024;
        g->leaf_pool = xrealloc_array(g->leaf_pool, g->cap_pool, sizeof *g->leaf_pool);
    }
    memcpy(g->leaf_pool + g->n_pool, g->leaves, g->n_leaves * sizeof *g->leaves);
    grow((void **)&g->states, &g->cap_states, g->n_states, sizeof *g->states);
    int32_t id = (int32_t)g->n_states++;
    g->states[id] = (struct state){(uint32_t)g->n_pool, (uint32_t)g->n_leaves, h, g->accepting, NULL};
    g->n_pool += g->n_leaves;
    g->state_ht[slot] = id;
    if (g->n_states * 2 > g->state_ht_cap)
        state_ht_rebuild(g, g->state_ht_cap * 2);
    return id;
}

static int32_t start_state(struct grammar *g)
{
    closure_begin(g);
    for (uint32_t a = g->alt_off[g->root]; a < g->alt_off[g->root + 1]; a++)
        enter(g, g->alt_start[a], NIL);
    closure_run(g);
    return state_intern(g);
}

/* The state after byte b from state s (s >= 0): a state id, DEAD, or FAIL. */
static int32_t step_slow(struct grammar *g, int32_t s, unsigned b)
{
    if (!g->states[s].next) {
        int32_t *row = xmalloc_array(256, sizeof *row);
        for (int i = 0; i < 256; i++)
            row[i] = UNKNOWN;
        g->states[s].next = row;
    }
    closure_begin(g);
    uint32_t off = g->states[s].off, n = g->states[s].n;
    for (uint32_t i = 0; i < n && !g->failed; i++) {
        struct node nd = g->nodes[g->leaf_pool[off + i]];
        if (bclass_has(&g->cls[EL_ARG(g->el[nd.pos])], b))
            enter(g, nd.pos + 1, nd.parent);
    }
    closure_run(g);
    int32_t t = state_intern(g);
    if (t != FAIL)
        g->states[s].next[b] = t;
    return t;
}

static inline int32_t step(struct grammar *g, int32_t s, unsigned b)
{
    const int32_t *row = g->states[s].next;
    if (row && row[b] != UNKNOWN)
        return row[b];
    return step_slow(g, s, b);
}

/* The state after bytes from s, or DEAD / FAIL. */
static int32_t walk(struct grammar *g, int32_t s, const char *bytes, size_t len)
{
    for (size_t i = 0; i < len && s >= 0; i++)
        s = step(g, s, (unsigned char)bytes[i]);
    return s;
}

static void masks_clear(struct grammar *g)
{
    for (int i = 0; i < MASK_CACHE; i++)
        g->masks[i].state = -1;
}

static void states_clear(struct grammar *g)
{
    for (size_t s = 0; s < g->n_states; s++)
        free(g->states[s].next);
    g->n_states = 0;
    g->n_pool = 0;
    memset(g->state_ht, 0xFF, g->state_ht_cap * sizeof *g->state_ht);
    masks_clear(g);
    g->start = UNKNOWN;
}

/* Keeps only the nodes the current state reaches and only the current state: node ids are
 * renumbered in order (parents stay below children), every cached transition and mask goes. */
static void collect(struct grammar *g)
{
    g->n_gc++;
    uint8_t *live = xcalloc(g->n_nodes ? g->n_nodes : 1, 1);
    const struct state *cs = &g->states[g->cur];
    for (uint32_t i = 0; i < cs->n; i++)
        for (uint32_t id = g->leaf_pool[cs->off + i]; id != NIL && !live[id]; id = g->nodes[id].parent)
            live[id] = 1;
    uint32_t *map = xmalloc_array(g->n_nodes ? g->n_nodes : 1, sizeof *map);
    size_t k = 0;
    for (size_t id = 0; id < g->n_nodes; id++) {
        if (!live[id])
            continue;
        struct node n = g->nodes[id];
        n.parent = n.parent == NIL ? NIL : map[n.parent];
        n.stamp = 0;
        map[id] = (uint32_t)k;
        g->nodes[k++] = n;
    }
    g->n_nodes = k;
    g->stamp = 0;
    size_t cap = 1024;
    while (cap < k * 2)
        cap *= 2;
    node_ht_rebuild(g, cap);
    /* the current state, renumbered (the map is monotonic, so the leaves stay sorted) */
    g->n_leaves = 0;
    for (uint32_t i = 0; i < cs->n; i++) {
        grow((void **)&g->leaves, &g->cap_leaves, g->n_leaves, sizeof *g->leaves);
        g->leaves[g->n_leaves++] = map[g->leaf_pool[cs->off + i]];
    }
    g->accepting = cs->accepting;
    states_clear(g);
    g->cur = state_intern(g);
    free(map);
    free(live);
}

static void maybe_collect(struct grammar *g)
{
    if (g->cur >= 0 && (g->n_nodes > SOFT_NODES || g->n_states > SOFT_STATES))
        collect(g);
}

/* =============================================================================================
 * Public: grammar */

int grammar_parse(const char *src, size_t len, const char *root, struct grammar **out,
                  struct err *e)
{
    *out = NULL;
    if (!root)
        root = "root";
    struct parser p;
    memset(&p, 0, sizeof p);
    p.src = src ? src : "";
    p.len = src ? len : 0;
    p.e = e;
    int rc = 0;
    skip_space(&p, true);
    while (!rc && p.pos < p.len)
        rc = parse_rule(&p);
    for (size_t r = 0; !rc && r < p.n_rules; r++)
        if (p.rules[r].name && !p.rules[r].defined)
            rc = perr_at(&p, p.rules[r].used_at, "rule '%s' is used but never defined",
                         p.rules[r].name);
    uint32_t root_id = rc ? NIL : rule_find(&p, root, strlen(root));
    if (!rc && root_id == NIL)
        rc = err_set(e, "grammar: no rule named '%s' (the start rule)", root);
    if (rc) {
        parser_free(&p);
        return -1;
    }
    struct grammar *g = xcalloc(1, sizeof *g);
    lower(&p, g);
    g->root = root_id;
    if (check_left_recursion(&p, g, e)) {
        parser_free(&p);
        grammar_free(g);
        return -1;
    }
    parser_free(&p);
    g->cap_leaves = g->cap_work = g->cap_pool = 64; /* never NULL: qsort/memcmp of 0 items */
    g->leaves = xmalloc_array(g->cap_leaves, sizeof *g->leaves);
    g->work = xmalloc_array(g->cap_work, sizeof *g->work);
    g->leaf_pool = xmalloc_array(g->cap_pool, sizeof *g->leaf_pool);
    node_ht_rebuild(g, 1024);
    state_ht_rebuild(g, 256);
    masks_clear(g);
    grammar_reset(g);
    *out = g;
    return 0;
}

void grammar_free(struct grammar *g)
{
    if (!g)
        return;
    for (size_t s = 0; s < g->n_states; s++)
        free(g->states[s].next);
    for (int i = 0; i < MASK_CACHE; i++)
        free(g->masks[i].bits);
    free(g->states);
    free(g->leaf_pool);
    free(g->state_ht);
    free(g->nodes);
    free(g->node_ht);
    free(g->work);
    free(g->leaves);
    free(g->dfs);
    free(g->el);
    free(g->alt_off);
    free(g->alt_start);
    free(g->cls);
    free(g);
}

void grammar_reset(struct grammar *g)
{
    if (g->failed) { /* start over clean: drop what the failed step left behind */
        g->failed = false;
        g->error[0] = 0;
        g->n_nodes = 0;
        node_ht_rebuild(g, 1024);
        states_clear(g);
    }
    if (g->start == UNKNOWN || g->n_states == 0)
        g->start = start_state(g);
    g->cur = g->start < 0 ? DEAD : g->start;
}

bool grammar_accepts(struct grammar *g, const char *bytes, size_t len)
{
    if (g->failed || g->cur < 0)
        return false;
    return walk(g, g->cur, bytes, len) >= 0;
}

int grammar_advance(struct grammar *g, const char *bytes, size_t len, struct err *e)
{
    if (g->failed)
        return err_set(e, "%s", g->error);
    if (g->cur < 0)
        return err_set(e, "grammar: nothing can follow the text so far");
    int32_t s = walk(g, g->cur, bytes, len);
    if (s == FAIL)
        return err_set(e, "%s", g->error);
    if (s < 0)
        return err_set(e, "grammar: %zu bytes of text are not allowed here", len);
    g->cur = s;
    maybe_collect(g);
    return 0;
}

bool grammar_complete(const struct grammar *g)
{
    return !g->failed && g->cur >= 0 && g->states[g->cur].accepting;
}

bool grammar_finished(const struct grammar *g)
{
    return grammar_complete(g) && g->states[g->cur].n == 0;
}

const char *grammar_error(const struct grammar *g) { return g->failed ? g->error : NULL; }

bool grammar_matches(struct grammar *g, const char *text, size_t len)
{
    grammar_reset(g);
    return grammar_advance(g, text, len, NULL) == 0 && grammar_complete(g);
}

void grammar_compact(struct grammar *g)
{
    if (!g->failed && g->cur >= 0)
        collect(g);
}

void grammar_stats(const struct grammar *g, struct grammar_stats *st)
{
    st->n_rules = g->n_rules;
    st->n_elements = g->n_el;
    st->n_nodes = g->n_nodes;
    st->n_states = g->n_states;
    st->n_gc = g->n_gc;
    st->n_masks = g->n_masks;
    st->n_mask_hits = g->n_mask_hits;
}

/* =============================================================================================
 * Token level: the vocabulary trie and masks
 *
 * The trie is stored in preorder: node i has a byte, a depth (1 for a first byte) and skip[i],
 * the index just past its subtree; tokens whose text ends at node i are tok_ids[tok_off[i] ..
 * tok_off[i + 1]). The mask walk keeps one state per depth and jumps to skip[i] as soon as a
 * prefix is rejected, so a rejected first byte costs one step for its whole subtree. */

struct grammar_vocab {
    int32_t n_vocab;
    char *pieces;        /* all token texts back to back */
    uint32_t *piece_off; /* token i: pieces[piece_off[i] .. piece_off[i + 1]) */
    uint8_t *eog;        /* 1 for end-of-generation tokens */
    int32_t *eog_ids;
    size_t n_eog;
    size_t n_nodes;
    uint8_t *byte;
    uint32_t *depth, *skip, *tok_off;
    int32_t *tok_ids;
    uint32_t max_depth;
};

struct piece_ref {
    const char *p;
    uint32_t len;
    int32_t id;
};

static int cmp_piece(const void *a, const void *b)
{
    const struct piece_ref *x = a, *y = b;
    uint32_t n = x->len < y->len ? x->len : y->len;
    int c = memcmp(x->p, y->p, n);
    if (c)
        return c;
    if (x->len != y->len)
        return x->len < y->len ? -1 : 1;
    return (x->id > y->id) - (x->id < y->id);
}

struct grammar_vocab *grammar_vocab_new(const struct tok *t, bool render_special)
{
    struct grammar_vocab *v = xcalloc(1, sizeof *v);
    int32_t n = tok_n_vocab(t);
    v->n_vocab = n;
    v->piece_off = xmalloc_array((size_t)n + 1, sizeof *v->piece_off);
    v->eog = xcalloc((size_t)n ? (size_t)n : 1, 1);
    struct buf all;
    buf_init(&all);
    size_t cap = 256;
    char *tmp = xmalloc(cap);
    for (int32_t id = 0; id < n; id++) {
        v->piece_off[id] = (uint32_t)all.len;
        if (tok_is_eog(t, id)) {
            v->eog[id] = 1;
            v->n_eog++;
            continue; /* EOG: no text to match */
        }
        size_t len = tok_piece(t, id, tmp, cap, render_special);
        if (len > cap) {
            cap = len;
            tmp = xrealloc(tmp, cap);
            len = tok_piece(t, id, tmp, cap, render_special);
        }
        buf_append(&all, tmp, len);
    }
    v->piece_off[n] = (uint32_t)all.len;
    free(tmp);
    v->pieces = buf_detach(&all);
    v->eog_ids = xmalloc_array(v->n_eog ? v->n_eog : 1, sizeof *v->eog_ids);
    v->n_eog = 0;
    for (int32_t id = 0; id < n; id++)
        if (v->eog[id])
            v->eog_ids[v->n_eog++] = id;

    /* sort the non-empty texts and lay the trie out in preorder */
    struct piece_ref *refs = xmalloc_array((size_t)n ? (size_t)n : 1, sizeof *refs);
    size_t n_refs = 0, total = 0;
    for (int32_t id = 0; id < n; id++) {
        uint32_t len = v->piece_off[id + 1] - v->piece_off[id];
        if (v->eog[id] || len == 0)
            continue;
        refs[n_refs++] = (struct piece_ref){v->pieces + v->piece_off[id], len, id};
        total += len;
    }
    qsort(refs, n_refs, sizeof *refs, cmp_piece);
    size_t cap_nodes = total + 1;
    v->byte = xmalloc(cap_nodes);
    v->depth = xmalloc_array(cap_nodes, sizeof *v->depth);
    v->skip = xmalloc_array(cap_nodes, sizeof *v->skip);
    v->tok_off = xmalloc_array(cap_nodes + 1, sizeof *v->tok_off);
    v->tok_ids = xmalloc_array(n_refs ? n_refs : 1, sizeof *v->tok_ids);
    uint32_t maxlen = 0;
    for (size_t i = 0; i < n_refs; i++)
        maxlen = refs[i].len > maxlen ? refs[i].len : maxlen;
    uint32_t *path = xmalloc_array((size_t)maxlen + 1, sizeof *path); /* open node per depth */
    uint32_t open = 0; /* depth of the deepest open node */
    size_t nn = 0, nt = 0;
    for (size_t i = 0; i < n_refs; i++) {
        uint32_t lcp = 0;
        if (i) {
            const struct piece_ref *a = &refs[i - 1], *b = &refs[i];
            while (lcp < a->len && lcp < b->len && a->p[lcp] == b->p[lcp])
                lcp++;
        }
        for (; open > lcp; open--) /* close the nodes below the common prefix */
            v->skip[path[open]] = (uint32_t)nn;
        for (uint32_t d = lcp; d < refs[i].len; d++) {
            v->byte[nn] = (uint8_t)refs[i].p[d];
            v->depth[nn] = d + 1;
            v->tok_off[nn] = (uint32_t)nt;
            path[d + 1] = (uint32_t)nn;
            nn++;
        }
        open = refs[i].len;
        v->tok_ids[nt++] = refs[i].id; /* ends at path[len]: the last node made or reused */
        v->tok_off[nn] = (uint32_t)nt; /* provisional end of the last node's range */
    }
    for (; open > 0; open--)
        v->skip[path[open]] = (uint32_t)nn;
    v->n_nodes = nn;
    v->max_depth = maxlen;
    free(path);
    free(refs);
    return v;
}

void grammar_vocab_free(struct grammar_vocab *v)
{
    if (!v)
        return;
    free(v->pieces);
    free(v->piece_off);
    free(v->eog);
    free(v->eog_ids);
    free(v->byte);
    free(v->depth);
    free(v->skip);
    free(v->tok_off);
    free(v->tok_ids);
    free(v);
}

int32_t grammar_vocab_n(const struct grammar_vocab *v) { return v->n_vocab; }

const char *grammar_vocab_piece(const struct grammar_vocab *v, int32_t id, size_t *len)
{
    if (id < 0 || id >= v->n_vocab) {
        *len = 0;
        return NULL;
    }
    *len = v->piece_off[id + 1] - v->piece_off[id];
    return v->pieces + v->piece_off[id];
}

bool grammar_allows_token(struct grammar *g, const struct grammar_vocab *v, int32_t token)
{
    if (token < 0 || token >= v->n_vocab || g->failed || g->cur < 0)
        return false;
    if (v->eog[token])
        return g->states[g->cur].accepting;
    size_t len;
    const char *p = grammar_vocab_piece(v, token, &len);
    return len > 0 && walk(g, g->cur, p, len) >= 0;
}

int grammar_accept_token(struct grammar *g, const struct grammar_vocab *v, int32_t token,
                         struct err *e)
{
    if (token < 0 || token >= v->n_vocab)
        return err_set(e, "grammar: token %d is outside the vocabulary", (int)token);
    if (v->eog[token]) {
        if (grammar_complete(g))
            return 0;
        return err_set(e, "grammar: the output ended before the grammar was complete");
    }
    size_t len;
    const char *p = grammar_vocab_piece(v, token, &len);
    if (len == 0)
        return err_set(e, "grammar: token %d has no text and cannot advance the grammar", (int)token);
    return grammar_advance(g, p, len, e);
}

/* Sizes the per-vocabulary scratch and drops masks made for another vocabulary. */
static void bind_vocab(struct grammar *g, const struct grammar_vocab *v)
{
    if (g->vocab == v)
        return;
    g->vocab = v;
    free(g->dfs);
    g->dfs = xmalloc_array((size_t)v->max_depth + 1, sizeof *g->dfs);
    for (int i = 0; i < MASK_CACHE; i++) {
        free(g->masks[i].bits);
        g->masks[i].bits = NULL;
        g->masks[i].state = -1;
    }
}

int32_t grammar_mask(struct grammar *g, const struct grammar_vocab *v, uint32_t *allowed)
{
    size_t words = ((size_t)v->n_vocab + 31) / 32;
    bind_vocab(g, v);
    if (g->failed)
        return -1;
    if (g->cur < 0) {
        memset(allowed, 0, words * sizeof *allowed);
        return 0;
    }
    for (int i = 0; i < MASK_CACHE; i++)
        if (g->masks[i].state == g->cur) {
            memcpy(allowed, g->masks[i].bits, words * sizeof *allowed);
            g->n_mask_hits++;
            return g->masks[i].count;
        }
    g->n_masks++;
    memset(allowed, 0, words * sizeof *allowed);
    int32_t count = 0;
    int32_t *dfs = g->dfs;
    dfs[0] = g->cur;
    for (size_t i = 0; i < v->n_nodes;) {
        uint32_t d = v->depth[i];
        int32_t s = step(g, dfs[d - 1], v->byte[i]);
        if (s < 0) {
            if (s == FAIL)
                return -1;
            i = v->skip[i]; /* no token below this prefix can be allowed */
            continue;
        }
        dfs[d] = s;
        for (uint32_t k = v->tok_off[i]; k < v->tok_off[i + 1]; k++) {
            int32_t id = v->tok_ids[k];
            allowed[id >> 5] |= 1u << (id & 31);
            count++;
        }
        i++;
    }
    if (g->states[g->cur].accepting)
        for (size_t k = 0; k < v->n_eog; k++) {
            int32_t id = v->eog_ids[k];
            allowed[id >> 5] |= 1u << (id & 31);
            count++;
        }
    struct mask_entry *m = &g->masks[g->mask_next];
    g->mask_next = (g->mask_next + 1) % MASK_CACHE;
    if (!m->bits)
        m->bits = xmalloc_array(words, sizeof *m->bits);
    memcpy(m->bits, allowed, words * sizeof *allowed);
    m->state = g->cur;
    m->count = count;
    return count;
}


static bool constraint_allows(void *ctx, int32_t token)
{
    struct grammar *g = ctx;
    return grammar_allows_token(g, g->vocab, token);
}

static int32_t constraint_mask(void *ctx, uint32_t *allowed)
{
    struct grammar *g = ctx;
    return grammar_mask(g, g->vocab, allowed);
}

struct sampler_constraint grammar_constraint(struct grammar *g, const struct grammar_vocab *v)
{
    bind_vocab(g, v);
    return (struct sampler_constraint){g, constraint_allows, constraint_mask};
}
