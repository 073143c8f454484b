/* rfeat: features of a request text (rfeat.h has the contract).
 *
 * One pass over the window does everything: a small tokenizer (letters, numbers, punctuation,
 * non-ASCII sequences, line breaks) feeds both the hashed unigrams/bigrams and the counters the
 * dense features are computed from; line-level facts (option markers, code-like lines) are
 * decided when a line ends. The window is the head and the tail of the text, scanned as one
 * stream with a line break between them.
 *
 * Hashing: a token's hash is FNV-1a over its (lowercased) bytes, finished with a 64-bit mixer
 * and a per-kind salt; a bigram's is the mix of its two tokens' hashes. The bucket is the top
 * hash_bits bits. Collisions are accepted: that is the hashing trick.
 */
#include "router/rfeat.h"

#include <math.h>
#include <stdbool.h>
#include <string.h>

enum {
    F_LOG_BYTES, F_LOG_WORDS, F_LOG_LINES, F_LOG_SENTENCES, F_WORD_LEN, F_DIGIT_SHARE,
    F_UPPER_SHARE, F_PUNCT_SHARE, F_NONASCII_SHARE, F_LOG_NUMBERS, F_LOG_DECIMALS, F_LOG_DOLLARS,
    F_LOG_LATEX, F_LOG_OPERATORS, F_CODE_FENCE, F_LOG_CODE_LINES, F_LOG_BRACKETS, F_LOG_OPTIONS,
    F_NUMERIC_OPTIONS, F_LOG_QMARKS, F_STARTS_QWORD, F_ENDS_QMARK, F_LOG_PERCENT, F_HAS_URL,
    F_LOG_QUOTES, F_CJK_SHARE, F_LONG_WORD_SHARE, F_LOG_MAX_LINE, F_LIST_LINE_SHARE,
    F_LOG_PARAGRAPHS, F_STARTS_IMPERATIVE, F_LOG_EQUALS,
    F_COUNT
};
_Static_assert(F_COUNT == RFEAT_N_DENSE, "dense feature table out of step");

static const char *const g_dense_names[RFEAT_N_DENSE] = {
    "log_bytes", "log_words", "log_lines", "log_sentences", "word_len", "digit_share",
    "upper_share", "punct_share", "nonascii_share", "log_numbers", "log_decimals", "log_dollars",
    "log_latex", "log_operators", "code_fence", "log_code_lines", "log_brackets", "log_options",
    "numeric_options", "log_qmarks", "starts_qword", "ends_qmark", "log_percent", "has_url",
    "log_quotes", "cjk_share", "long_word_share", "log_max_line", "list_line_share",
    "log_paragraphs", "starts_imperative", "log_equals",
};

const char *rfeat_dense_name(unsigned i)
{
    return i < RFEAT_N_DENSE ? g_dense_names[i] : "?";
}

static inline uint64_t mix64(uint64_t h)
{
    h ^= h >> 33;
    h *= 0xff51afd7ed558ccdull;
    h ^= h >> 33;
    h *= 0xc4ceb9fe1a85ec53ull;
    h ^= h >> 33;
    return h;
}

#define FNV_OFFSET 1469598103934665603ull
#define FNV_PRIME 1099511628211ull
#define SALT_UNI 0x9e3779b97f4a7c15ull
#define SALT_BI 0xd1b54a32d192ed03ull

enum tok_kind { T_NONE, T_WORD, T_NUM, T_NONASCII };

struct scan {
    struct rfeat *out;
    unsigned shift;        /* 64 - hash_bits */
    uint64_t prev;         /* hash of the previous token (0: none) */
    /* the token being built */
    enum tok_kind kind;
    uint64_t h;
    unsigned tok_len;
    bool num_has_dot;
    /* counters */
    unsigned words, letters, word_letters, long_words, numbers, decimals, lines, sentences;
    unsigned digits, upper, punct, nonascii, cjk, dollars, latex, operators, equals, brackets;
    unsigned qmarks, percent, quotes, fences, code_lines, options, numeric_options, list_lines;
    unsigned paragraphs, max_line, line_len, backticks, urls;
    /* the current line */
    unsigned line_pos;     /* bytes since the line started (leading spaces included) */
    unsigned line_indent;
    char line_start[4];    /* first non-space bytes of the line */
    unsigned line_start_n;
    unsigned char last_nonspace;
    bool blank_line;       /* the previous line was empty */
    /* the first word of the text */
    char first_word[16];
    unsigned first_word_len;
    bool first_word_done;
};

static inline void emit(struct scan *s, uint64_t h)
{
    struct rfeat *o = s->out;
    if (o->n_hashed < RFEAT_MAX_HASHED)
        o->hashed[o->n_hashed++] = (uint32_t)(h >> s->shift);
}

/* A finished token with hash h: its unigram and the bigram with the previous token. */
static inline void token(struct scan *s, uint64_t h)
{
    uint64_t u = mix64(h ^ SALT_UNI);
    emit(s, u);
    if (s->prev)
        emit(s, mix64(s->prev * 31 + u + SALT_BI));
    s->prev = u;
}

static inline uint64_t fnv_byte(uint64_t h, unsigned char c)
{
    return (h ^ c) * FNV_PRIME;
}

static void end_token(struct scan *s)
{
    switch (s->kind) {
    case T_NONE:
        return;
    case T_WORD:
        s->words++;
        s->word_letters += s->tok_len;
        s->long_words += s->tok_len >= 12;
        token(s, s->h);
        break;
    case T_NUM: { /* a number is its digit-count class: "<n1>", "<n2>", "<n3>", "<n4+>" */
        s->numbers++;
        s->decimals += s->num_has_dot;
        unsigned cls = s->tok_len >= 4 ? 4 : s->tok_len;
        token(s, fnv_byte(fnv_byte(FNV_OFFSET, 0x01), (unsigned char)(cls + (s->num_has_dot ? 8 : 0))));
        break;
    }
    case T_NONASCII:
        token(s, s->h);
        break;
    }
    s->kind = T_NONE;
}

static bool is_option_marker(const char *p, unsigned n)
{
    /* "A." "A)" "A:" "(A)" for A..J, upper case */
    if (n >= 2 && p[0] >= 'A' && p[0] <= 'J' && (p[1] == '.' || p[1] == ')' || p[1] == ':'))
        return true;
    return n >= 3 && p[0] == '(' && p[1] >= 'A' && p[1] <= 'J' && p[2] == ')';
}

static void end_line(struct scan *s)
{
    if (s->line_len > s->max_line)
        s->max_line = s->line_len;
    if (s->line_start_n == 0) {
        if (!s->blank_line)
            s->paragraphs++;
        s->blank_line = true;
    } else {
        s->blank_line = false;
        unsigned char l = s->last_nonspace;
        if (l == ';' || l == '{' || l == '}' || (s->line_indent >= 4 && l != '.'))
            s->code_lines++;
        const char *p = s->line_start;
        if ((p[0] == '-' || p[0] == '*') && s->line_start_n >= 2 && p[1] == ' ')
            s->list_lines++;
        else if (p[0] >= '0' && p[0] <= '9' && s->line_start_n >= 2 && (p[1] == '.' || p[1] == ')'))
            s->list_lines++;
    }
    s->lines++;
    s->line_pos = s->line_indent = s->line_start_n = s->line_len = 0;
    s->last_nonspace = 0;
}

/* An option line's content starts after its marker: numeric if it starts with a digit, a sign,
 * '$' or '.' followed by a digit. Called with the byte after the marker and one space. */
static bool numeric_start(const unsigned char *p, const unsigned char *end)
{
    while (p < end && *p == ' ')
        p++;
    if (p < end && (*p == '$' || *p == '-' || *p == '+'))
        p++;
    if (p < end && *p == '.')
        p++;
    return p < end && *p >= '0' && *p <= '9';
}

static void scan_bytes(struct scan *s, const unsigned char *p, const unsigned char *end)
{
    while (p < end) {
        unsigned char c = *p;
        /* line bookkeeping */
        if (c == '\n') {
            end_token(s);
            token(s, fnv_byte(FNV_OFFSET, '\n'));
            end_line(s);
            p++;
            continue;
        }
        s->line_len++;
        if (c != ' ' && c != '\t' && c != '\r') {
            if (s->line_start_n < sizeof s->line_start) {
                s->line_start[s->line_start_n++] = (char)c;
                bool paren = s->line_start[0] == '(';
                if (s->line_start_n == (paren ? 3u : 2u) &&
                    is_option_marker(s->line_start, s->line_start_n)) {
                    s->options++;
                    s->numeric_options += numeric_start(p + 1, end);
                }
            }
            s->last_nonspace = c;
        } else if (s->line_start_n == 0) {
            s->line_indent += c == '\t' ? 4 : 1;
        }
        s->line_pos++;

        if (c >= 0x80) {
            s->nonascii++;
            if (c >= 0xe3 && c <= 0xe9)
                s->cjk++; /* lead byte of U+3000..U+9FFF: CJK punctuation, kana, ideographs */
            if (s->kind != T_NONASCII || c >= 0xc0) { /* a lead byte starts a new token */
                end_token(s);
                s->kind = T_NONASCII;
                s->h = FNV_OFFSET;
                s->tok_len = 0;
            }
            s->h = fnv_byte(s->h, c);
            s->tok_len++;
            p++;
            continue;
        }
        bool upper = c >= 'A' && c <= 'Z', lower = c >= 'a' && c <= 'z';
        if (upper || lower) {
            if (c == 'h' && s->kind != T_WORD && end - p >= 8 &&
                (!memcmp(p, "http://", 7) || !memcmp(p, "https://", 8)))
                s->urls++;
            s->letters++;
            s->upper += upper;
            unsigned char lc = upper ? (unsigned char)(c + 32) : c;
            if (s->kind != T_WORD) {
                end_token(s);
                s->kind = T_WORD;
                s->h = FNV_OFFSET;
                s->tok_len = 0;
            }
            s->h = fnv_byte(s->h, lc);
            if (!s->first_word_done && s->first_word_len < sizeof s->first_word)
                s->first_word[s->first_word_len++] = (char)lc;
            s->tok_len++;
            p++;
            continue;
        }
        if (s->first_word_len)
            s->first_word_done = true;
        if (c >= '0' && c <= '9') {
            s->digits++;
            if (s->kind != T_NUM) {
                end_token(s);
                s->kind = T_NUM;
                s->tok_len = 0;
                s->num_has_dot = false;
            }
            s->tok_len++;
            p++;
            continue;
        }
        if (c == '.' && s->kind == T_NUM && p + 1 < end && p[1] >= '0' && p[1] <= '9') {
            s->num_has_dot = true; /* 3.14: one number */
            p++;
            continue;
        }
        if (c == ',' && s->kind == T_NUM && p + 3 < end && p[1] >= '0' && p[1] <= '9' &&
            p[2] >= '0' && p[2] <= '9' && p[3] >= '0' && p[3] <= '9') {
            p++; /* 12,345: one number */
            continue;
        }
        end_token(s);
        if (c == ' ' || c == '\t' || c == '\r') {
            p++;
            continue;
        }
        /* punctuation and symbols: each byte a token */
        s->punct++;
        switch (c) {
        case '$': s->dollars++; break;
        case '\\':
            if (p + 1 < end && ((p[1] >= 'a' && p[1] <= 'z') || (p[1] >= 'A' && p[1] <= 'Z')))
                s->latex++;
            break;
        case '=': s->equals++; s->operators++; break;
        case '+': case '*': case '/': case '^': case '<': case '>': case '-':
            s->operators++;
            break;
        case '(': case '[': case '{': s->brackets++; break;
        case '?': s->qmarks++; break;
        case '%': s->percent++; break;
        case '"': case '\'': s->quotes++; break;
        case '`':
            s->backticks++;
            if (p + 2 < end && p[1] == '`' && p[2] == '`')
                s->fences++;
            break;
        case '.': case '!':
            if (p + 1 >= end || p[1] == ' ' || p[1] == '\n')
                s->sentences++;
            break;
        default: break;
        }
        token(s, fnv_byte(FNV_OFFSET ^ 0x5a, c));
        p++;
    }
}

static bool word_in(const char *w, unsigned n, const char *const *list)
{
    for (; *list; list++)
        if (strlen(*list) == n && !memcmp(*list, w, n))
            return true;
    return false;
}

static inline float lg(unsigned x)
{
    return log1pf((float)x);
}

void rfeat_extract(const char *text, size_t len, unsigned hash_bits, struct rfeat *out)
{
    struct scan s;
    memset(&s, 0, sizeof s);
    s.out = out;
    s.shift = 64 - hash_bits;
    out->n_hashed = 0;
    const unsigned char *t = (const unsigned char *)text;
    if (len <= RFEAT_HEAD_BYTES + RFEAT_TAIL_BYTES) {
        scan_bytes(&s, t, t + len);
    } else {
        scan_bytes(&s, t, t + RFEAT_HEAD_BYTES);
        end_token(&s);
        end_line(&s);
        scan_bytes(&s, t + len - RFEAT_TAIL_BYTES, t + len);
    }
    end_token(&s);
    if (s.line_start_n || s.line_len)
        end_line(&s);
    size_t window = len <= RFEAT_HEAD_BYTES + RFEAT_TAIL_BYTES ? len
                                                                : RFEAT_HEAD_BYTES + RFEAT_TAIL_BYTES;
    float wb = window ? (float)window : 1.0f;
    float *d = out->dense;
    size_t end_i = len;
    while (end_i > 0 && (text[end_i - 1] == ' ' || text[end_i - 1] == '\n' ||
                         text[end_i - 1] == '\r' || text[end_i - 1] == '\t'))
        end_i--;
    static const char *const qwords[] = {"what", "how", "why", "who", "when", "where", "which",
                                         "is", "are", "can", "does", "do", "should", "could",
                                         "would", "will", "did", NULL};
    static const char *const imperatives[] = {"write", "create", "generate", "explain",
                                              "describe", "list", "summarize", "translate",
                                              "give", "tell", "make", "compose", "rewrite",
                                              "suggest", "provide", "design", "draft",
                                              "implement", "find", "solve", "calculate",
                                              "compute", "prove", NULL};
    d[F_LOG_BYTES] = lg((unsigned)(len > 0xffffffffu ? 0xffffffffu : len));
    d[F_LOG_WORDS] = lg(s.words);
    d[F_LOG_LINES] = lg(s.lines);
    d[F_LOG_SENTENCES] = lg(s.sentences);
    d[F_WORD_LEN] = s.words ? (float)s.word_letters / (float)s.words / 10.0f : 0.0f;
    d[F_DIGIT_SHARE] = (float)s.digits / wb;
    d[F_UPPER_SHARE] = s.letters ? (float)s.upper / (float)s.letters : 0.0f;
    d[F_PUNCT_SHARE] = (float)s.punct / wb;
    d[F_NONASCII_SHARE] = (float)s.nonascii / wb;
    d[F_LOG_NUMBERS] = lg(s.numbers);
    d[F_LOG_DECIMALS] = lg(s.decimals);
    d[F_LOG_DOLLARS] = lg(s.dollars);
    d[F_LOG_LATEX] = lg(s.latex);
    d[F_LOG_OPERATORS] = lg(s.operators);
    d[F_CODE_FENCE] = s.fences ? 1.0f : 0.0f;
    d[F_LOG_CODE_LINES] = lg(s.code_lines);
    d[F_LOG_BRACKETS] = lg(s.brackets);
    d[F_LOG_OPTIONS] = lg(s.options);
    d[F_NUMERIC_OPTIONS] = s.options ? (float)s.numeric_options / (float)s.options : 0.0f;
    d[F_LOG_QMARKS] = lg(s.qmarks);
    d[F_STARTS_QWORD] = word_in(s.first_word, s.first_word_len, qwords) ? 1.0f : 0.0f;
    d[F_ENDS_QMARK] = end_i > 0 && text[end_i - 1] == '?' ? 1.0f : 0.0f;
    d[F_LOG_PERCENT] = lg(s.percent);
    d[F_HAS_URL] = s.urls ? 1.0f : 0.0f;
    d[F_LOG_QUOTES] = lg(s.quotes);
    d[F_CJK_SHARE] = (float)s.cjk * 3.0f / wb;
    d[F_LONG_WORD_SHARE] = s.words ? (float)s.long_words / (float)s.words : 0.0f;
    d[F_LOG_MAX_LINE] = lg(s.max_line);
    d[F_LIST_LINE_SHARE] = s.lines ? (float)s.list_lines / (float)s.lines : 0.0f;
    d[F_LOG_PARAGRAPHS] = lg(s.paragraphs);
    d[F_STARTS_IMPERATIVE] = word_in(s.first_word, s.first_word_len, imperatives) ? 1.0f : 0.0f;
    d[F_LOG_EQUALS] = lg(s.equals);
    out->hashed_value = out->n_hashed ? 1.0f / sqrtf((float)out->n_hashed) : 0.0f;
}
