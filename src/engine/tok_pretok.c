/* tok_pretok: byte-level BPE pre-tokenizers, i.e. the split patterns llama.cpp applies before
 * merging, written as hand matchers with exactly llama.cpp's results.
 *
 * llama.cpp applies a list of patterns in turn (llm_tokenizer_bpe); each pattern splits every
 * chunk left by the previous one into its matches and the gaps between them (a gap is a word
 * too). Three patterns have custom code in llama.cpp (unicode_regex_split_custom_gpt2 /
 * _llama3 / _qwen2) whose decisions we reproduce; the rest run through std::regex in one of two
 * ways, which decides what \s, \p{L} etc. mean, and which we reproduce per pattern:
 *
 *  - "collapsed" (the pattern uses \p{..}): every code point >= 128 is replaced by one byte
 *    standing for its class (0x0B if White_Space, else 0xD1 number, 0xD2 letter, 0xD3
 *    punctuation, 0xD4 mark, 0xD5 symbol, 0xD0 other); \p{N} = [0-9] or 0xD1, \p{L} = [A-Za-z]
 *    or 0xD2, \p{P} = ASCII punctuation !"#%&'()*,-./:;?@[\]_{} or 0xD3; \s = C-locale space
 *    (\t \n \v \f \r and ' '), so every non-ASCII White_Space is \s through 0x0B;
 *  - "wide" (no \p{..}): the pattern runs on code points, with non-ASCII White_Space replaced by
 *    0x0B and \s again only the six ASCII spaces; character ranges compare code points.
 *
 * Matching is ECMAScript leftmost-first with greedy quantifiers, searched from the end of the
 * previous match; none of these patterns can match the empty string.
 */
#include "engine/tok_impl.h"

#include "base/alloc.h"
#include "engine/unicode.h"

#include <stdlib.h>
#include <string.h>

/* Word end offsets being built (code point indices, strictly increasing). */
struct cuts {
    size_t *v;
    size_t n, cap;
};

/* Ends a word at end unless that would make an empty word. */
static void cut(struct cuts *c, size_t end)
{
    if (end == 0 || (c->n && c->v[c->n - 1] >= end))
        return;
    if (c->n == c->cap) {
        c->cap = c->cap ? c->cap * 2 : 64;
        c->v = xrealloc_array(c->v, c->cap, sizeof *c->v);
    }
    c->v[c->n++] = end;
}

/* The text being split: code points and their flags. */
struct pt {
    const uint32_t *cp;
    const uint16_t *fl;
};

/* ---- classes as the std::regex paths see them ---- */

static bool c_space(uint32_t c)
{
    return c == ' ' || (c >= '\t' && c <= '\r');
}

/* The collapsed byte of code point i (see the header comment). */
static uint32_t collapsed(const struct pt *p, size_t i)
{
    uint32_t c = p->cp[i];
    if (c < 128)
        return c;
    uint16_t f = p->fl[i];
    if (f & UNICODE_WHITESPACE)
        return 0x0B;
    switch (f & UNICODE_CATEGORY_MASK) {
    case UNICODE_NUMBER: return 0xD1;
    case UNICODE_LETTER: return 0xD2;
    case UNICODE_PUNCT: return 0xD3;
    case UNICODE_MARK: return 0xD4;
    case UNICODE_SYMBOL: return 0xD5;
    default: return 0xD0;
    }
}

/* The code point the wide path sees. */
static uint32_t wide(const struct pt *p, size_t i)
{
    uint32_t c = p->cp[i];
    return c > 0x7F && (p->fl[i] & UNICODE_WHITESPACE) ? 0x0B : c;
}

static bool ascii_digit(uint32_t c) { return c >= '0' && c <= '9'; }
static bool ascii_letter(uint32_t c) { return (c | 32) >= 'a' && (c | 32) <= 'z'; }

static bool coll_number(const struct pt *p, size_t i)
{
    uint32_t c = collapsed(p, i);
    return c == 0xD1 || ascii_digit(c);
}

static bool coll_letter(const struct pt *p, size_t i)
{
    uint32_t c = collapsed(p, i);
    return c == 0xD2 || ascii_letter(c);
}

static bool coll_punct_c(uint32_t c)
{
    return c == 0xD3 || (c < 128 && c && strchr("!\"#%&'()*,-./:;?@[\\]_{}", (int)c));
}

static bool coll_punct(const struct pt *p, size_t i)
{
    return coll_punct_c(collapsed(p, i));
}

static bool coll_space(const struct pt *p, size_t i)
{
    return c_space(collapsed(p, i));
}

/* [\p{P}\$\+<=>\^~\|]+ (default) */
static bool default_punct(const struct pt *p, size_t i)
{
    uint32_t c = collapsed(p, i);
    return coll_punct_c(c) || (c < 128 && c && strchr("$+<=>^~|", (int)c));
}

/* [\p{P}\$\+<=>\^~\|`]+ (falcon) */
static bool falcon_punct(const struct pt *p, size_t i)
{
    return default_punct(p, i) || p->cp[i] == '`';
}

static bool wide_space(const struct pt *p, size_t i)
{
    return c_space(wide(p, i));
}

static bool wide_crlf(const struct pt *p, size_t i)
{
    uint32_t c = wide(p, i);
    return c == '\r' || c == '\n';
}

/* [一-龥ࠀ-一가-퟿] (deepseek): U+0800..U+9FA5 and U+AC00..U+D7FF */
static bool wide_cjk(const struct pt *p, size_t i)
{
    uint32_t c = wide(p, i);
    return (c >= 0x800 && c <= 0x9FA5) || (c >= 0xAC00 && c <= 0xD7FF);
}

/* c in one of the sorted, disjoint inclusive ranges r[0..n) */
static bool in_ranges(uint32_t c, const uint32_t (*r)[2], size_t n)
{
    size_t i = unicode_pairs_lower_bound(r, n, 1, c);
    return i < n && r[i][0] <= c;
}

/* The letter class of DeepSeek LLM's pre-tokenizer pattern (from its tokenizer.json), sorted. */
static const uint32_t ds_letter_ranges[][2] = {
    {0x0041, 0x005A}, {0x0061, 0x007A}, {0x00B5, 0x00B5}, {0x00C0, 0x00D6}, {0x00D8, 0x00F6},
    {0x00F8, 0x01BA}, {0x01BC, 0x01BF}, {0x01C4, 0x0293}, {0x0295, 0x02AF}, {0x0370, 0x0373},
    {0x0376, 0x0377}, {0x037B, 0x037D}, {0x037F, 0x037F}, {0x0386, 0x0386}, {0x0388, 0x038A},
    {0x038C, 0x038C}, {0x038E, 0x03A1}, {0x03A3, 0x03F5}, {0x03F7, 0x0481}, {0x048A, 0x052F},
    {0x0531, 0x0556}, {0x10A0, 0x10C5}, {0x13A0, 0x13F5}, {0x13F8, 0x13FD}, {0x1C90, 0x1CBA},
    {0x1CBD, 0x1CBF}, {0x1D00, 0x1D2B}, {0x1D6B, 0x1D77}, {0x1D79, 0x1D9A}, {0x1E00, 0x1F15},
    {0x1F18, 0x1F1D}, {0x1F20, 0x1F45}, {0x1F48, 0x1F4D}, {0x1F50, 0x1F57}, {0x1F59, 0x1F59},
    {0x1F5B, 0x1F5B}, {0x1F5D, 0x1F5D}, {0x1F5F, 0x1F7D}, {0x1F80, 0x1FB4}, {0x1FB6, 0x1FBC},
    {0x1FBE, 0x1FBE}, {0x1FC2, 0x1FC4}, {0x1FC6, 0x1FCC}, {0x1FD0, 0x1FD3}, {0x1FD6, 0x1FDB},
    {0x1FE0, 0x1FEC}, {0x1FF2, 0x1FF4}, {0x1FF6, 0x1FFC}, {0x2102, 0x2102}, {0x2107, 0x2107},
    {0x210A, 0x2113}, {0x2115, 0x2115}, {0x2119, 0x211D}, {0x2124, 0x2124}, {0x2126, 0x2126},
    {0x2128, 0x2128}, {0x212A, 0x212D}, {0x212F, 0x2134}, {0x2139, 0x2139}, {0x213C, 0x213F},
    {0x2145, 0x2149}, {0x214E, 0x214E}, {0x2183, 0x2184}, {0x2C00, 0x2C7B}, {0x2C7E, 0x2CE4},
    {0x2CEB, 0x2CEE}, {0x2CF2, 0x2CF3}, {0xA640, 0xA66D}, {0xA680, 0xA69B}, {0xA722, 0xA76F},
    {0xA771, 0xA787}, {0xA78B, 0xA78E}, {0xAB70, 0xABBF}, {0xFB00, 0xFB06}, {0xFB13, 0xFB17},
    {0xFF21, 0xFF3A}, {0xFF41, 0xFF5A}, {0x10400, 0x1044F}, {0x104B0, 0x104D3},
    {0x104D8, 0x104FB}, {0x10C80, 0x10CB2}, {0x10CC0, 0x10CF2}, {0x118A0, 0x118DF},
    {0x1E900, 0x1E943},
};

/* [!-/:-~！-／：-～‘-‟　-。] (DeepSeek LLM), sorted */
static const uint32_t ds_punct_ranges[][2] = {
    {0x0021, 0x002F}, {0x003A, 0x007E}, {0x2018, 0x201F},
    {0x3000, 0x3002}, {0xFF01, 0xFF0F}, {0xFF1A, 0xFF5E},
};

static bool ds_letter(const struct pt *p, size_t i)
{
    return in_ranges(wide(p, i), ds_letter_ranges, sizeof ds_letter_ranges / sizeof *ds_letter_ranges);
}

static bool ds_punct(const struct pt *p, size_t i)
{
    return in_ranges(wide(p, i), ds_punct_ranges, sizeof ds_punct_ranges / sizeof *ds_punct_ranges);
}

typedef bool (*class_fn)(const struct pt *p, size_t i);

/* ---- generic pattern shapes ---- */

/* X+ : maximal runs of X are matches; what lies between them is a gap word. */
static void split_runs(const struct pt *p, size_t lo, size_t hi, class_fn x, struct cuts *out)
{
    for (size_t i = lo + 1; i < hi; i++)
        if (x(p, i) != x(p, i - 1))
            cut(out, i);
    cut(out, hi);
}

/* X : every X is a word of its own; runs of non-X between them are gap words. */
static void split_singles(const struct pt *p, size_t lo, size_t hi, class_fn x, struct cuts *out)
{
    for (size_t i = lo; i < hi; i++) {
        if (x(p, i)) {
            cut(out, i);
            cut(out, i + 1);
        }
    }
    cut(out, hi);
}

/* \s?X+ where \s and X are disjoint: a match starts at the first i with X(i), or with \s(i) and
 * X(i+1) (the optional space is tried first, so it is taken whenever it can be). */
static void split_opt_space_runs(const struct pt *p, size_t lo, size_t hi, class_fn space,
                                 class_fn x, struct cuts *out)
{
    size_t i = lo;
    while (i < hi) {
        size_t start;
        if (x(p, i))
            start = i;
        else if (i + 1 < hi && space(p, i) && x(p, i + 1))
            start = i++;
        else {
            i++;
            continue;
        }
        i++;
        while (i < hi && x(p, i))
            i++;
        cut(out, start);
        cut(out, i);
    }
    cut(out, hi);
}

/* ---- the patterns ---- */

static void pat_default_punct(const struct pt *p, size_t lo, size_t hi, struct cuts *out)
{
    split_runs(p, lo, hi, default_punct, out);
}

static void pat_falcon_punct(const struct pt *p, size_t lo, size_t hi, struct cuts *out)
{
    split_runs(p, lo, hi, falcon_punct, out);
}

static void pat_number_run(const struct pt *p, size_t lo, size_t hi, struct cuts *out)
{
    split_runs(p, lo, hi, coll_number, out);
}

static void pat_number_single(const struct pt *p, size_t lo, size_t hi, struct cuts *out)
{
    split_singles(p, lo, hi, coll_number, out);
}

/* [0-9][0-9][0-9] */
static void pat_three_digits(const struct pt *p, size_t lo, size_t hi, struct cuts *out)
{
    size_t i = lo;
    while (i + 2 < hi) {
        if (ascii_digit(p->cp[i]) && ascii_digit(p->cp[i + 1]) && ascii_digit(p->cp[i + 2])) {
            cut(out, i);
            cut(out, i + 3);
            i += 3;
        } else {
            i++;
        }
    }
    cut(out, hi);
}

static void pat_crlf(const struct pt *p, size_t lo, size_t hi, struct cuts *out)
{
    split_singles(p, lo, hi, wide_crlf, out);
}

static void pat_space_letters(const struct pt *p, size_t lo, size_t hi, struct cuts *out)
{
    split_opt_space_runs(p, lo, hi, coll_space, coll_letter, out);
}

static void pat_space_punct(const struct pt *p, size_t lo, size_t hi, struct cuts *out)
{
    split_opt_space_runs(p, lo, hi, coll_space, coll_punct, out);
}

static void pat_cjk(const struct pt *p, size_t lo, size_t hi, struct cuts *out)
{
    split_runs(p, lo, hi, wide_cjk, out);
}

static void pat_ds_letters(const struct pt *p, size_t lo, size_t hi, struct cuts *out)
{
    split_opt_space_runs(p, lo, hi, wide_space, ds_letter, out);
}

static void pat_ds_punct(const struct pt *p, size_t lo, size_t hi, struct cuts *out)
{
    split_opt_space_runs(p, lo, hi, wide_space, ds_punct, out);
}

/* \s+$ : the chunk's trailing run of spaces, if any. */
static void pat_trailing_space(const struct pt *p, size_t lo, size_t hi, struct cuts *out)
{
    size_t i = hi;
    while (i > lo && wide_space(p, i - 1))
        i--;
    cut(out, i);
    cut(out, hi);
}

/* ---- the three patterns llama.cpp hand-codes ----
 * Flags outside the chunk read as 0 (no class at all), which is how llama.cpp's custom
 * splitters see the chunk edges. */

static uint16_t flags_at(const struct pt *p, size_t i, size_t lo, size_t hi)
{
    return i >= lo && i < hi ? p->fl[i] : 0;
}

static bool is_l(uint16_t f) { return f & UNICODE_LETTER; }
static bool is_n(uint16_t f) { return f & UNICODE_NUMBER; }
static bool is_ws(uint16_t f) { return f & UNICODE_WHITESPACE; }
/* [^\s\p{L}\p{N}] as the custom splitters test it: some class, not space, letter or number */
static bool is_other(uint16_t f)
{
    return f && !(f & (UNICODE_WHITESPACE | UNICODE_LETTER | UNICODE_NUMBER));
}

/* Length (2 or 3) of a contraction 's 't 'm 'd 're 've 'll starting at i, 0 if none. With
 * fold, the letters match in either case (llama3/qwen2's (?i:...)). */
static size_t contraction(const struct pt *p, size_t i, size_t hi, bool fold)
{
    if (p->cp[i] != '\'' || i + 1 >= hi)
        return 0;
    uint32_t a = fold ? unicode_tolower(p->cp[i + 1]) : p->cp[i + 1];
    if (a == 's' || a == 't' || a == 'm' || a == 'd')
        return 2;
    if (i + 2 >= hi)
        return 0;
    uint32_t b = fold ? unicode_tolower(p->cp[i + 2]) : p->cp[i + 2];
    if ((a == 'r' && b == 'e') || (a == 'v' && b == 'e') || (a == 'l' && b == 'l'))
        return 3;
    return 0;
}

/* \s+(?!\S)|\s+ for a whitespace run [i, i+n): a run of two or more followed by a non-space
 * leaves its last space to the next word; otherwise the whole run is a word. */
static size_t space_run_end(size_t i, size_t n, size_t hi)
{
    if (n > 1 && i + n < hi)
        return i + n - 1;
    return i + n;
}

/* 's|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+ */
static void pat_gpt2(const struct pt *p, size_t lo, size_t hi, struct cuts *out)
{
    size_t i = lo;
    while (i < hi) {
        size_t k = contraction(p, i, hi, false);
        if (k) {
            i += k;
            cut(out, i);
            continue;
        }
        bool sp = p->cp[i] == ' ';
        uint16_t f = sp ? flags_at(p, i + 1, lo, hi) : p->fl[i];
        bool (*cls)(uint16_t) = is_l(f) ? is_l : is_n(f) ? is_n : is_other(f) ? is_other : NULL;
        if (cls) {
            i += sp;
            while (cls(flags_at(p, i, lo, hi)))
                i++;
            cut(out, i);
            continue;
        }
        size_t n = 0;
        while (is_ws(flags_at(p, i + n, lo, hi)))
            n++;
        i = n ? space_run_end(i, n, hi) : i + 1;
        cut(out, i);
    }
    cut(out, hi);
}

/* (?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|
 * \s*[\r\n]+|\s+(?!\S)|\s+   (llama3; qwen2 has \p{N} instead of \p{N}{1,3}) */
static void pat_llama3_like(const struct pt *p, size_t lo, size_t hi, size_t max_digits,
                            struct cuts *out)
{
    size_t i = lo;
    while (i < hi) {
        uint32_t c = p->cp[i];
        uint16_t f = p->fl[i];
        size_t k = contraction(p, i, hi, true);
        if (k) {
            i += k;
            cut(out, i);
            continue;
        }
        /* [^\r\n\p{L}\p{N}]?\p{L}+ */
        if (c != '\r' && c != '\n' && !is_n(f) && (is_l(f) || is_l(flags_at(p, i + 1, lo, hi)))) {
            i++;
            while (is_l(flags_at(p, i, lo, hi)))
                i++;
            cut(out, i);
            continue;
        }
        /* \p{N}{1,max_digits} */
        if (is_n(f)) {
            size_t start = i;
            while (is_n(flags_at(p, i, lo, hi))) {
                i++;
                if (i - start == max_digits) {
                    cut(out, i);
                    start = i;
                }
            }
            cut(out, i);
            continue;
        }
        /* " ?[^\s\p{L}\p{N}]+[\r\n]*": llama.cpp tests the optional space's follower for the
         * class but requires only that the first code point has some class at all. */
        bool sp = c == ' ';
        uint16_t f2 = sp ? flags_at(p, i + 1, lo, hi) : f;
        if (!(f2 & (UNICODE_WHITESPACE | UNICODE_LETTER | UNICODE_NUMBER)) && f) {
            i += sp;
            while (is_other(flags_at(p, i, lo, hi)))
                i++;
            while (i < hi && (p->cp[i] == '\r' || p->cp[i] == '\n'))
                i++;
            cut(out, i);
            continue;
        }
        /* \s*[\r\n]+ : a space run containing a line break ends after its last break */
        size_t n = 0, after_break = 0;
        while (is_ws(flags_at(p, i + n, lo, hi))) {
            if (p->cp[i + n] == '\r' || p->cp[i + n] == '\n')
                after_break = i + n + 1;
            n++;
        }
        if (after_break)
            i = after_break;
        else
            i = n ? space_run_end(i, n, hi) : i + 1;
        cut(out, i);
    }
    cut(out, hi);
}

static void pat_llama3(const struct pt *p, size_t lo, size_t hi, struct cuts *out)
{
    pat_llama3_like(p, lo, hi, 3, out);
}

static void pat_qwen2(const struct pt *p, size_t lo, size_t hi, struct cuts *out)
{
    pat_llama3_like(p, lo, hi, 1, out);
}

typedef void (*pattern_fn)(const struct pt *p, size_t lo, size_t hi, struct cuts *out);

#define MAX_PATTERNS 6

/* The pattern list per family, in llama.cpp's order. */
static size_t patterns_of(enum tok_pre pre, pattern_fn fns[MAX_PATTERNS])
{
    size_t n = 0;
    switch (pre) {
    case TOK_PRE_DEFAULT:
        fns[n++] = pat_default_punct;
        fns[n++] = pat_gpt2;
        fns[n++] = pat_number_run;
        fns[n++] = pat_three_digits;
        break;
    case TOK_PRE_FALCON:
        fns[n++] = pat_falcon_punct;
        fns[n++] = pat_gpt2;
        fns[n++] = pat_three_digits;
        break;
    case TOK_PRE_STARCODER:
        fns[n++] = pat_number_single;
        fns[n++] = pat_gpt2;
        break;
    case TOK_PRE_GPT2:
        fns[n++] = pat_gpt2;
        break;
    case TOK_PRE_LLAMA3:
        fns[n++] = pat_llama3;
        break;
    case TOK_PRE_QWEN2:
        fns[n++] = pat_qwen2;
        break;
    case TOK_PRE_DEEPSEEK_CODER:
        fns[n++] = pat_crlf;
        fns[n++] = pat_space_letters;
        fns[n++] = pat_space_punct;
        fns[n++] = pat_cjk;
        fns[n++] = pat_number_single;
        break;
    case TOK_PRE_DEEPSEEK_LLM:
        fns[n++] = pat_crlf;
        fns[n++] = pat_ds_letters;
        fns[n++] = pat_ds_punct;
        fns[n++] = pat_trailing_space;
        fns[n++] = pat_cjk;
        fns[n++] = pat_number_run;
        break;
    }
    return n;
}

size_t tok_pretok_split(enum tok_pre pre, const uint32_t *cps, size_t n, size_t **ends)
{
    struct cuts cur = {0}, next = {0};
    if (n == 0) {
        *ends = NULL;
        return 0;
    }
    uint16_t *fl = xmalloc_array(n, sizeof *fl);
    for (size_t i = 0; i < n; i++)
        fl[i] = unicode_flags(cps[i]);
    struct pt p = {cps, fl};

    pattern_fn fns[MAX_PATTERNS];
    size_t n_fns = patterns_of(pre, fns);
    cut(&cur, n);
    for (size_t k = 0; k < n_fns; k++) {
        next.n = 0;
        size_t lo = 0;
        for (size_t j = 0; j < cur.n; j++) {
            fns[k](&p, lo, cur.v[j], &next);
            lo = cur.v[j];
        }
        struct cuts tmp = cur;
        cur = next;
        next = tmp;
    }
    free(next.v);
    free(fl);
    *ends = cur.v;
    return cur.n;
}
