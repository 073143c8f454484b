/* jinja_lex: template text -> tokens, as @huggingface/jinja's lexer.ts does it.
 *
 * First the preprocessing its Template constructor applies (trim_blocks and lstrip_blocks on):
 *   1. one trailing "\n" of the template is dropped;
 *   2. lstrip_blocks: spaces and tabs between a line start (after \n, \r, U+2028, U+2029) and
 *      "{%", "{#" or "{-" are removed;
 *   3. trim_blocks: the "\n" right after "%}", "#}" or "-}" is removed;
 *   4. the transformers-specific {% generation %} / {% endgeneration %} tags are removed, with
 *      the whitespace around them unless a "-" asks to strip it.
 * All four only delete bytes, so every byte keeps the line it had in the original text, which
 * is what error messages cite.
 *
 * Then tokens: text up to "{{", "{%" or "{#"; inside tags, whitespace (JavaScript's \s, Unicode
 * spaces included) separates tokens; "{%-" / "{{-" trim the whitespace ending the text before,
 * "-%}" / "-}}" / "-#}" skip the whitespace after. A "+" or "-" after an operator or an opening
 * bracket is a sign, glued to a following number ("-1" is one token). Strings take the escapes
 * \n \t \r \b \f \v \' \" \\ \xHH \uHHHH; any other escape is an error. Words are [A-Za-z0-9_]+
 * (keywords, true/false/none and operators like `and` are words too).
 */
#include "engine/jinja_impl.h"

#include "engine/template.h"
#include "engine/unicode.h"

#include <string.h>

const char *jinja_tok_name(int type)
{
    static const char *const names[] = {
        [TK_TEXT] = "text",        [TK_NUM] = "number",      [TK_STR] = "string",
        [TK_IDENT] = "name",       [TK_EQUALS] = "'='",      [TK_LPAREN] = "'('",
        [TK_RPAREN] = "')'",       [TK_OPEN_STMT] = "'{%'",  [TK_CLOSE_STMT] = "'%}'",
        [TK_OPEN_EXPR] = "'{{'",   [TK_CLOSE_EXPR] = "'}}'", [TK_LBRACKET] = "'['",
        [TK_RBRACKET] = "']'",     [TK_LBRACE] = "'{'",      [TK_RBRACE] = "'}'",
        [TK_COMMA] = "','",        [TK_DOT] = "'.'",         [TK_COLON] = "':'",
        [TK_PIPE] = "'|'",         [TK_ADD] = "operator",    [TK_MUL] = "operator",
        [TK_POW] = "'**'",         [TK_CMP] = "comparison",  [TK_UNARY] = "sign",
        [TK_COMMENT] = "comment",
    };
    return type >= 0 && type <= TK_COMMENT ? names[type] : "end of template";
}

/* ---- preprocessing ---------------------------------------------------------------------------- */

struct pp {
    char *s;
    uint32_t *ln;
    size_t n;
};

/* strchr that does not match the terminating NUL (templates may contain NUL bytes) */
static bool in_set(char ch, const char *set)
{
    return ch && strchr(set, ch);
}

static bool is_line_terminator_end(const char *s, size_t i)
{
    /* s[i] ends \n, \r, U+2028 (E2 80 A8) or U+2029 (E2 80 A9) */
    unsigned char c = (unsigned char)s[i];
    if (c == '\n' || c == '\r')
        return true;
    return (c == 0xA8 || c == 0xA9) && i >= 2 && (unsigned char)s[i - 1] == 0x80 &&
           (unsigned char)s[i - 2] == 0xE2;
}

static void lstrip_blocks(struct pp *p)
{
    size_t o = 0;
    bool line_start = true;
    for (size_t i = 0; i < p->n;) {
        if (line_start) {
            size_t j = i;
            while (j < p->n && (p->s[j] == ' ' || p->s[j] == '\t'))
                j++;
            if (j + 1 < p->n && p->s[j] == '{' && in_set(p->s[j + 1], "#%-"))
                i = j;
            line_start = false;
            if (i >= p->n)
                break;
        }
        p->s[o] = p->s[i];
        p->ln[o] = p->ln[i];
        line_start = is_line_terminator_end(p->s, o);
        o++;
        i++;
    }
    p->n = o;
}

static void trim_blocks(struct pp *p)
{
    size_t o = 0;
    for (size_t i = 0; i < p->n;) {
        if (i + 2 < p->n && in_set(p->s[i], "#%-") && p->s[i + 1] == '}' && p->s[i + 2] == '\n') {
            for (int k = 0; k < 2; k++, o++)
                p->s[o] = p->s[i + k], p->ln[o] = p->ln[i + k];
            i += 3;
            continue;
        }
        p->s[o] = p->s[i];
        p->ln[o] = p->ln[i];
        o++;
        i++;
    }
    p->n = o;
}

static size_t skip_space(const char *s, size_t n, size_t i)
{
    size_t w;
    while (i < n && (w = jinja_space_at(s, n, i)) > 0)
        i += w;
    return i;
}

static bool has_at(const struct pp *p, size_t i, const char *lit)
{
    size_t l = strlen(lit);
    return i + l <= p->n && memcmp(p->s + i, lit, l) == 0;
}

/* (\s*){%(-?)\s*(?:end)?generation\s*(-?)%}(\s*) at i: fills the parts and returns true. */
static bool match_generation(const struct pp *p, size_t i, size_t *tag, size_t *tag_end,
                             size_t *after_end, bool *lstrip, bool *rstrip)
{
    size_t j = skip_space(p->s, p->n, i);
    if (!has_at(p, j, "{%"))
        return false;
    *tag = j;
    size_t k = j + 2;
    *lstrip = k < p->n && p->s[k] == '-';
    if (*lstrip)
        k++;
    k = skip_space(p->s, p->n, k);
    if (has_at(p, k, "endgeneration"))
        k += 13;
    else if (has_at(p, k, "generation"))
        k += 10;
    else
        return false;
    k = skip_space(p->s, p->n, k);
    *rstrip = k < p->n && p->s[k] == '-';
    if (*rstrip)
        k++;
    if (!has_at(p, k, "%}"))
        return false;
    *tag_end = k + 2;
    *after_end = skip_space(p->s, p->n, *tag_end);
    return true;
}

static void strip_generation_tags(struct pp *p)
{
    size_t o = 0;
    for (size_t i = 0; i < p->n;) {
        size_t tag, tag_end, after_end;
        bool lstrip, rstrip;
        if ((p->s[i] == '{' || jinja_space_at(p->s, p->n, i)) &&
            match_generation(p, i, &tag, &tag_end, &after_end, &lstrip, &rstrip)) {
            for (size_t k = i; k < tag && !lstrip; k++, o++)
                p->s[o] = p->s[k], p->ln[o] = p->ln[k];
            for (size_t k = tag_end; k < after_end && !rstrip; k++, o++)
                p->s[o] = p->s[k], p->ln[o] = p->ln[k];
            i = after_end;
            continue;
        }
        /* no match here: none at the rest of a whitespace run either (same tag position) */
        size_t end = jinja_space_at(p->s, p->n, i) ? skip_space(p->s, p->n, i) : i + 1;
        for (; i < end; i++, o++)
            p->s[o] = p->s[i], p->ln[o] = p->ln[i];
    }
    p->n = o;
}

/* ---- tokens ------------------------------------------------------------------------------------ */

struct lexer {
    struct jinja_ctx *c;
    const char *s;
    const uint32_t *ln;
    size_t n, pos;
    struct jinja_token *toks;
    size_t n_toks, cap;
};

static _Noreturn void lex_fail(struct lexer *lx, size_t at, const char *fmt, const char *arg)
{
    uint32_t line = lx->n ? lx->ln[at < lx->n ? at : lx->n - 1] : 1;
    jinja_fail(lx->c, TMPL_ERR_SYNTAX, line, fmt, arg);
}

static void push(struct lexer *lx, int type, size_t at, const char *p, size_t len)
{
    if (lx->n_toks == lx->cap) {
        size_t cap = lx->cap ? lx->cap * 2 : 256;
        struct jinja_token *t = jinja_alloc(lx->c, cap * sizeof *t);
        if (lx->n_toks)
            memcpy(t, lx->toks, lx->n_toks * sizeof *t);
        lx->toks = t;
        lx->cap = cap;
    }
    struct jinja_token *t = &lx->toks[lx->n_toks++];
    t->type = (uint8_t)type;
    t->line = lx->ln[at < lx->n ? at : lx->n - 1];
    t->text = (struct jinja_sv){p, len};
}

static int last_type(const struct lexer *lx)
{
    return lx->n_toks ? lx->toks[lx->n_toks - 1].type : -1;
}

static void strip_trailing_ws(struct lexer *lx)
{
    if (last_type(lx) != TK_TEXT)
        return;
    struct jinja_token *t = &lx->toks[lx->n_toks - 1];
    t->text = jinja_trim(t->text, false, true);
    if (t->text.len == 0)
        lx->n_toks--;
}

static bool is_digit(char ch)
{
    return ch >= '0' && ch <= '9';
}

static bool is_word(char ch)
{
    return is_digit(ch) || (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || ch == '_';
}

/* consumeWhile for digits or word characters: running into the end of the template after
 * consuming is an error there, as in the reference. */
static size_t consume(struct lexer *lx, bool (*pred)(char))
{
    size_t start = lx->pos;
    while (lx->pos < lx->n && pred(lx->s[lx->pos])) {
        lx->pos++;
        if (lx->pos >= lx->n)
            lex_fail(lx, lx->pos, "%s", "unexpected end of template");
    }
    return lx->pos - start;
}

static void consume_space(struct lexer *lx)
{
    size_t w;
    while (lx->pos < lx->n && (w = jinja_space_at(lx->s, lx->n, lx->pos)) > 0) {
        lx->pos += w;
        if (lx->pos >= lx->n)
            lex_fail(lx, lx->pos, "%s", "unexpected end of template");
    }
}

static int hexval(char ch)
{
    return ch >= '0' && ch <= '9' ? ch - '0'
           : ch >= 'a' && ch <= 'f' ? ch - 'a' + 10
           : ch >= 'A' && ch <= 'F' ? ch - 'A' + 10 : -1;
}

static void put_cp(struct jinja_ctx *c, struct jinja_sb *b, uint32_t cp)
{
    char u[4];
    jinja_sb_put(c, b, u, unicode_encode(cp, u));
}

/* A quoted string starting at lx->pos (the quote). */
static void lex_string(struct lexer *lx)
{
    size_t at = lx->pos;
    char quote = lx->s[lx->pos++];
    struct jinja_sb b;
    jinja_sb_init(&b, SIZE_MAX / 2);
    uint32_t pending_hi = 0; /* a \uD8xx waiting for its low half */
    size_t run = lx->pos;
    for (;;) {
        if (lx->pos >= lx->n)
            lex_fail(lx, at, "%s", "unterminated string");
        char ch = lx->s[lx->pos];
        if (ch == quote)
            break;
        if (ch != '\\') {
            if (pending_hi) {
                put_cp(lx->c, &b, UNICODE_REPLACEMENT);
                pending_hi = 0;
            }
            lx->pos++;
            /* copy plain runs in one go */
            run = lx->pos - 1;
            while (lx->pos < lx->n && lx->s[lx->pos] != quote && lx->s[lx->pos] != '\\')
                lx->pos++;
            jinja_sb_put(lx->c, &b, lx->s + run, lx->pos - run);
            if (lx->pos >= lx->n)
                lex_fail(lx, at, "%s", "unterminated string");
            continue;
        }
        lx->pos++;
        if (lx->pos >= lx->n)
            lex_fail(lx, at, "%s", "unterminated string");
        char e = lx->s[lx->pos++];
        if (e == 'x' || e == 'u') {
            size_t len = e == 'x' ? 2 : 4;
            uint32_t v = 0;
            for (size_t k = 0; k < len; k++) {
                int h = lx->pos + k < lx->n ? hexval(lx->s[lx->pos + k]) : -1;
                if (h < 0) {
                    char esc[8] = {'\\', e, 0};
                    lex_fail(lx, at, "invalid hexadecimal escape sequence %s", esc);
                }
                v = v * 16 + (uint32_t)h;
            }
            lx->pos += len;
            if (pending_hi && v >= 0xDC00 && v <= 0xDFFF) {
                put_cp(lx->c, &b, 0x10000 + ((pending_hi - 0xD800) << 10) + (v - 0xDC00));
                pending_hi = 0;
                continue;
            }
            if (pending_hi) {
                put_cp(lx->c, &b, UNICODE_REPLACEMENT);
                pending_hi = 0;
            }
            if (v >= 0xD800 && v <= 0xDBFF)
                pending_hi = v;
            else
                put_cp(lx->c, &b, v >= 0xDC00 && v <= 0xDFFF ? UNICODE_REPLACEMENT : v);
            continue;
        }
        static const char from[] = "ntrbfv'\"\\", to[] = "\n\t\r\b\f\v'\"\\";
        const char *f = e ? strchr(from, e) : NULL;
        if (!f) {
            char esc[3] = {'\\', e, 0};
            lex_fail(lx, at, "unknown escape %s in a string (the reference renderer refuses it too)",
                     esc);
        }
        if (pending_hi) {
            put_cp(lx->c, &b, UNICODE_REPLACEMENT);
            pending_hi = 0;
        }
        jinja_sb_put(lx->c, &b, &to[f - from], 1);
    }
    if (pending_hi)
        put_cp(lx->c, &b, UNICODE_REPLACEMENT);
    lx->pos++; /* the closing quote */
    struct jinja_sv sv = jinja_sb_sv(&b);
    push(lx, TK_STR, at, sv.p, sv.len);
}

static const struct {
    const char *seq;
    uint8_t type;
} g_table[] = {
    {"{%", TK_OPEN_STMT}, {"%}", TK_CLOSE_STMT}, {"{{", TK_OPEN_EXPR}, {"}}", TK_CLOSE_EXPR},
    {"(", TK_LPAREN},     {")", TK_RPAREN},      {"{", TK_LBRACE},     {"}", TK_RBRACE},
    {"[", TK_LBRACKET},   {"]", TK_RBRACKET},    {",", TK_COMMA},      {".", TK_DOT},
    {":", TK_COLON},      {"|", TK_PIPE},        {"<=", TK_CMP},       {">=", TK_CMP},
    {"==", TK_CMP},       {"!=", TK_CMP},        {"<", TK_CMP},        {">", TK_CMP},
    {"+", TK_ADD},        {"-", TK_ADD},         {"~", TK_ADD},        {"**", TK_POW},
    {"*", TK_MUL},        {"//", TK_MUL},        {"/", TK_MUL},        {"%", TK_MUL},
    {"=", TK_EQUALS},
};

static bool at3(const struct lexer *lx, const char *lit)
{
    return lx->pos + 3 <= lx->n && memcmp(lx->s + lx->pos, lit, 3) == 0;
}

static void lex(struct lexer *lx)
{
    int curly = 0;
    while (lx->pos < lx->n) {
        const char *s = lx->s;
        size_t n = lx->n;
        int last = last_type(lx);
        if (last < 0 || last == TK_CLOSE_STMT || last == TK_CLOSE_EXPR || last == TK_COMMENT) {
            size_t start = lx->pos;
            while (lx->pos < n && !(s[lx->pos] == '{' && lx->pos + 1 < n &&
                                    in_set(s[lx->pos + 1], "%{#")))
                lx->pos++;
            if (lx->pos > start) {
                push(lx, TK_TEXT, start, s + start, lx->pos - start);
                continue;
            }
        }
        size_t at = lx->pos;
        if (s[at] == '{' && at + 1 < n && s[at + 1] == '#') {
            lx->pos += 2;
            bool strip_before = lx->pos < n && s[lx->pos] == '-';
            if (strip_before)
                lx->pos++;
            size_t cstart = lx->pos;
            while (!(lx->pos + 1 < n && s[lx->pos] == '#' && s[lx->pos + 1] == '}')) {
                if (lx->pos + 2 >= n)
                    lex_fail(lx, at, "%s", "comment {# ... is never closed with #}");
                lx->pos++;
            }
            size_t clen = lx->pos - cstart;
            bool strip_after = clen > 0 && s[cstart + clen - 1] == '-';
            if (strip_after)
                clen--;
            if (strip_before)
                strip_trailing_ws(lx);
            push(lx, TK_COMMENT, at, s + cstart, clen);
            lx->pos += 2;
            if (strip_after)
                lx->pos = skip_space(s, n, lx->pos);
            continue;
        }
        if (at3(lx, "{%-")) {
            strip_trailing_ws(lx);
            push(lx, TK_OPEN_STMT, at, "{%", 2);
            lx->pos += 3;
            continue;
        }
        if (at3(lx, "{{-")) {
            strip_trailing_ws(lx);
            push(lx, TK_OPEN_EXPR, at, "{{", 2);
            curly = 0;
            lx->pos += 3;
            continue;
        }
        consume_space(lx);
        at = lx->pos;
        if (at3(lx, "-%}")) {
            push(lx, TK_CLOSE_STMT, at, "%}", 2);
            lx->pos = skip_space(s, n, lx->pos + 3);
            continue;
        }
        if (at3(lx, "-}}")) {
            push(lx, TK_CLOSE_EXPR, at, "}}", 2);
            lx->pos = skip_space(s, n, lx->pos + 3);
            continue;
        }
        char ch = s[at];
        if (ch == '-' || ch == '+') {
            last = last_type(lx);
            if (last < 0 || last == TK_TEXT) {
                char t[2] = {ch, 0};
                lex_fail(lx, at, "unexpected character '%s'", t);
            }
            if (last != TK_IDENT && last != TK_NUM && last != TK_STR && last != TK_RPAREN &&
                last != TK_RBRACKET) {
                lx->pos++;
                size_t nd = consume(lx, is_digit);
                if (nd > 0 && lx->pos + 1 < n && s[lx->pos] == '.' && is_digit(s[lx->pos + 1])) {
                    lx->pos++;
                    consume(lx, is_digit);
                }
                push(lx, nd ? TK_NUM : TK_UNARY, at, s + at, lx->pos - at);
                continue;
            }
        }
        bool matched = false;
        for (size_t k = 0; k < sizeof g_table / sizeof *g_table; k++) {
            if (g_table[k].type == TK_CLOSE_EXPR && curly > 0)
                continue;
            size_t l = strlen(g_table[k].seq);
            if (at + l <= n && memcmp(s + at, g_table[k].seq, l) == 0) {
                push(lx, g_table[k].type, at, s + at, l);
                if (g_table[k].type == TK_OPEN_EXPR)
                    curly = 0;
                else if (g_table[k].type == TK_LBRACE)
                    curly++;
                else if (g_table[k].type == TK_RBRACE)
                    curly--;
                lx->pos += l;
                matched = true;
                break;
            }
        }
        if (matched)
            continue;
        if (ch == '\'' || ch == '"') {
            lex_string(lx);
            continue;
        }
        if (is_digit(ch)) {
            consume(lx, is_digit);
            if (last_type(lx) != TK_DOT && lx->pos + 1 < n && s[lx->pos] == '.' &&
                is_digit(s[lx->pos + 1])) {
                lx->pos++;
                consume(lx, is_digit);
            }
            push(lx, TK_NUM, at, s + at, lx->pos - at);
            continue;
        }
        if (is_word(ch)) {
            consume(lx, is_word);
            push(lx, TK_IDENT, at, s + at, lx->pos - at);
            continue;
        }
        /* name the character, whole if it is a multi-byte one */
        char shown[8] = {0};
        size_t off = at;
        uint32_t cp = unicode_decode(s, n, &off);
        if (cp == UNICODE_REPLACEMENT || off - at > 4)
            shown[0] = '?';
        else
            memcpy(shown, s + at, off - at);
        lex_fail(lx, at, "unexpected character '%s' inside a tag", shown);
    }
}

void jinja_tokenize(struct jinja_ctx *c, const char *src, size_t len, struct jinja_token **out,
                    size_t *n_out)
{
    struct pp p;
    p.s = jinja_alloc(c, len + 1);
    p.ln = jinja_alloc(c, (len + 1) * sizeof *p.ln);
    uint32_t line = 1;
    for (size_t i = 0; i < len; i++) {
        p.s[i] = src[i];
        p.ln[i] = line;
        if (src[i] == '\n')
            line++;
    }
    p.n = len;
    if (p.n && p.s[p.n - 1] == '\n')
        p.n--;
    lstrip_blocks(&p);
    trim_blocks(&p);
    strip_generation_tags(&p);
    struct lexer lx = {.c = c, .s = p.s, .ln = p.ln, .n = p.n};
    lex(&lx);
    *out = lx.toks;
    *n_out = lx.n_toks;
}
