/* privacy: the sensitive-data detector (privacy.h).
 *
 * One pass over the text. Each position that starts a "word" (its previous byte is not a letter
 * or digit) is offered to the scanners its first byte can start: digits and '+'/'(' to card,
 * SSN, phone and IPv4; hex digits and ':' to IPv6; letters to IBAN and the secret shapes; '@'
 * (found anywhere) to e-mail, which looks both ways. A scanner returns the end of its match or 0,
 * never reads past len, and allocates nothing. The candidates are then sorted and overlaps
 * dropped. Custom PCRE2 patterns run over the whole text afterwards (JIT, a match limit), term
 * lists by a case-insensitive whole-word search.
 *
 * Cost: about one table lookup per byte plus the scanners' work at word starts; a 4 KB prompt
 * takes well under 50 us (bench/privacy_bench.c, docs/privacy.md).
 */
#include "gateway/privacy.h"

#include "base/alloc.h"

#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>

#define MATCH_LIMIT 1000000u
#define CANDIDATES_MAX 4096 /* per scan, before overlaps are dropped */

struct custom_terms {
    char **terms;
    size_t *lens;
    size_t n;
};

struct privacy {
    uint64_t builtin_mask;
    char *names[PRIVACY_MAX_KINDS];
    int n_kinds;
    pcre2_code **res;
    size_t n_res;
    struct custom_terms *terms;
    size_t n_terms;
    pcre2_match_data *md;
    pcre2_match_context *mctx;
    struct privacy_span cand[CANDIDATES_MAX];
};

static const char *const g_builtin[PK_BUILTIN_COUNT] = {
    "email", "phone", "card", "iban", "ssn", "ipv4", "ipv6", "secret",
};

/* ---------------------------------------------------------------------------------------------
 * Character classes */

static inline bool is_digit(unsigned char c) { return c >= '0' && c <= '9'; }
static inline bool is_upper(unsigned char c) { return c >= 'A' && c <= 'Z'; }
static inline bool is_lower(unsigned char c) { return c >= 'a' && c <= 'z'; }
static inline bool is_alpha(unsigned char c) { return is_upper(c) || is_lower(c); }
static inline bool is_alnum(unsigned char c) { return is_digit(c) || is_alpha(c); }
static inline bool is_hex(unsigned char c)
{
    return is_digit(c) || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
}
/* Characters of API tokens: letters, digits, - and _. */
static inline bool is_tok(unsigned char c) { return is_alnum(c) || c == '-' || c == '_'; }
static inline char lower(char c) { return (c >= 'A' && c <= 'Z') ? (char)(c + 32) : c; }

/* True when the byte at i (if any) does not continue a word: the match ends cleanly. */
static inline bool word_end(const unsigned char *t, size_t len, size_t i)
{
    return i >= len || !is_alnum(t[i]);
}

/* ---------------------------------------------------------------------------------------------
 * Checks */

bool privacy_luhn_ok(const char *d, size_t n)
{
    int sum = 0;
    bool dbl = false;
    for (size_t i = n; i-- > 0;) {
        int v = d[i] - '0';
        if (dbl && (v *= 2) > 9)
            v -= 9;
        sum += v;
        dbl = !dbl;
    }
    return n > 0 && sum % 10 == 0;
}

bool privacy_iban_ok(const char *s, size_t n)
{
    if (n < 15 || n > 34 || !is_upper((unsigned char)s[0]) || !is_upper((unsigned char)s[1]) ||
        !is_digit((unsigned char)s[2]) || !is_digit((unsigned char)s[3]))
        return false;
    unsigned rem = 0;
    for (size_t k = 0; k < n; k++) {
        unsigned char c = (unsigned char)s[(k + 4) % n]; /* the first four move to the end */
        if (is_digit(c))
            rem = (rem * 10 + (unsigned)(c - '0')) % 97;
        else if (is_upper(c))
            rem = (rem * 100 + (unsigned)(c - 'A' + 10)) % 97;
        else
            return false;
    }
    return rem == 1;
}

/* ---------------------------------------------------------------------------------------------
 * Scanners: each is called at a word start i and returns the match's end, or 0. */

/* 13..19 digits, single spaces or dashes between groups, issuer prefix, Luhn. */
static size_t scan_card(const unsigned char *t, size_t len, size_t i)
{
    char d[20];
    size_t n = 0, j = i, end = 0, groups = 1, sizes[20] = {0};
    while (j < len && n < 19) {
        if (is_digit(t[j])) {
            d[n++] = (char)t[j++];
            sizes[groups - 1]++;
            if (n >= 13)
                end = j;
        } else if ((t[j] == ' ' || t[j] == '-') && n > 0 && j + 1 < len && is_digit(t[j + 1])) {
            groups++;
            j++;
        } else {
            break;
        }
    }
    if (!end || (end < len && is_digit(t[end])))
        return 0;
    /* the longest Luhn-valid prefix ending at a group boundary is the card */
    size_t nd = 0;
    for (size_t k = i; k < end; k++)
        nd += is_digit(t[k]);
    if (!word_end(t, len, end) || nd < 13)
        return 0;
    bool issuer = d[0] == '4' || (d[0] == '5' && d[1] >= '1' && d[1] <= '5') ||
                  (d[0] == '2' && d[1] >= '2' && d[1] <= '7') ||
                  (d[0] == '3' && (d[1] == '4' || d[1] == '7' || d[1] == '6' || d[1] == '0' ||
                                   d[1] == '5' || d[1] == '8')) ||
                  d[0] == '6';
    if (groups > 1) { /* printed groups: 4-4-4-4(-3), or 4-6-5 / 4-6-4 (Amex, Diners) */
        bool fours = true;
        for (size_t g = 0; g + 1 < groups; g++)
            fours &= sizes[g] == 4;
        bool amex = groups == 3 && sizes[0] == 4 && sizes[1] == 6 && (sizes[2] == 5 || sizes[2] == 4);
        if (!(fours && sizes[groups - 1] >= 1 && sizes[groups - 1] <= 4) && !amex)
            return 0;
    }
    return issuer && privacy_luhn_ok(d, nd) ? end : 0;
}

/* AAA-GG-SSSS or AAA GG SSSS. */
static size_t scan_ssn(const unsigned char *t, size_t len, size_t i)
{
    if (i + 11 > len)
        return 0;
    const unsigned char *s = t + i;
    char sep = (char)s[3];
    if ((sep != '-' && sep != ' ') || s[6] != sep)
        return 0;
    for (int k = 0; k < 11; k++)
        if (k != 3 && k != 6 && !is_digit(s[k]))
            return 0;
    if (!word_end(t, len, i + 11) || (i + 11 < len && t[i + 11] == '-'))
        return 0;
    int area = (s[0] - '0') * 100 + (s[1] - '0') * 10 + (s[2] - '0');
    int group = (s[4] - '0') * 10 + (s[5] - '0');
    int serial = (s[7] - '0') * 1000 + (s[8] - '0') * 100 + (s[9] - '0') * 10 + (s[10] - '0');
    if (area == 0 || area == 666 || area >= 900 || group == 0 || serial == 0)
        return 0;
    return i + 11;
}

/* +CC then 8..15 digits with separators; or 10..11 digits in >= 3 separated groups. */
static size_t scan_phone(const unsigned char *t, size_t len, size_t i)
{
    size_t j = i, digits = 0, groups = 0, end = 0;
    size_t sizes[16];
    bool plus = t[j] == '+', paren = false;
    if (plus)
        j++;
    bool in_group = false;
    while (j < len) {
        unsigned char c = t[j];
        if (is_digit(c)) {
            if (!in_group) {
                if (groups == 16)
                    return 0;
                sizes[groups++] = 0;
            }
            in_group = true;
            sizes[groups - 1]++;
            digits++;
            j++;
            end = j;
            if (digits > 15)
                return 0;
        } else if ((c == ' ' || c == '-' || c == '.') && in_group && j + 1 < len &&
                   (is_digit(t[j + 1]) || t[j + 1] == '(')) {
            in_group = false;
            j++;
        } else if (c == '(' && !paren && !in_group && j + 4 < len) {
            paren = true;
            j++;
        } else if (c == ')' && paren && in_group) {
            in_group = false;
            j++;
            if (j < len && t[j] == ' ')
                j++;
        } else {
            break;
        }
    }
    if (!end || !word_end(t, len, end) || (end < len && (t[end] == '.' || t[end] == '-') &&
                                           end + 1 < len && is_digit(t[end + 1])))
        return 0;
    if (plus)
        return digits >= 8 && digits <= 15 && groups >= 1 ? end : 0;
    /* without a country code: the North American shape, 3-3-4 after an optional 1; dates,
     * versions and part numbers have other group sizes */
    size_t g = groups == 4 && sizes[0] == 1 ? 1 : 0;
    if (groups - g != 3 || sizes[g] != 3 || sizes[g + 1] != 3 || sizes[g + 2] != 4)
        return 0;
    return end;
}

/* Whether the 32 bytes before i speak of versions ("version", "release", "build", "firmware",
 * "upgrade", "v1.2"): then a dotted quad is a version number, not an address. */
static bool version_context(const unsigned char *t, size_t i)
{
    static const char *const words[] = {"version", "release", "build", "firmware", "upgrade"};
    size_t from = i > 32 ? i - 32 : 0;
    for (size_t k = from; k < i; k++) {
        char c = lower((char)t[k]);
        if (c == 'v' && k + 1 < i && is_digit(t[k + 1]) && (k == 0 || !is_alnum(t[k - 1])))
            return true;
        for (size_t w = 0; w < sizeof words / sizeof *words; w++)
            if (c == words[w][0]) {
                size_t n = strlen(words[w]), m = 0;
                while (m < n && k + m < i && lower((char)t[k + m]) == words[w][m])
                    m++;
                if (m == n)
                    return true;
            }
    }
    return false;
}

/* Dotted quad, not inside a longer dotted run, not in a sentence about versions. */
static size_t scan_ipv4(const unsigned char *t, size_t len, size_t i)
{
    if (i > 0 && t[i - 1] == '.')
        return 0;
    size_t j = i;
    for (int part = 0; part < 4; part++) {
        int v = 0, nd = 0;
        while (j < len && is_digit(t[j]) && nd < 4) {
            v = v * 10 + (t[j++] - '0');
            nd++;
        }
        if (nd == 0 || nd > 3 || v > 255 || (nd > 1 && t[j - nd] == '0'))
            return 0;
        if (part < 3) {
            if (j >= len || t[j] != '.')
                return 0;
            j++;
        }
    }
    if (!word_end(t, len, j) || (j + 1 < len && t[j] == '.' && is_digit(t[j + 1])))
        return 0;
    return version_context(t, i) ? 0 : j;
}

/* Hex groups and colons, validated by inet_pton; at least three groups or a "::". */
static size_t scan_ipv6(const unsigned char *t, size_t len, size_t i)
{
    size_t j = i, colons = 0;
    while (j < len && j - i < 45 && (is_hex(t[j]) || t[j] == ':' || t[j] == '.'))
        colons += t[j++] == ':';
    while (j > i && (t[j - 1] == ':' || t[j - 1] == '.') && !(j - i >= 2 && t[j - 2] == ':'))
        j--; /* a trailing ':' or '.' is punctuation, "::" is not */
    if (colons < 2 || j - i < 3 || (j < len && (is_alnum(t[j]) || t[j] == ':')))
        return 0;
    char buf[48];
    memcpy(buf, t + i, j - i);
    buf[j - i] = 0;
    bool dbl = strstr(buf, "::") != NULL;
    int groups = 0;
    for (size_t k = 0; k < j - i; k++)
        groups += is_hex((unsigned char)buf[k]) && (k == 0 || buf[k - 1] == ':');
    if (!dbl && groups < 8)
        return 0;
    size_t hexd = 0;
    for (size_t k = 0; k < j - i; k++)
        hexd += is_hex((unsigned char)buf[k]);
    if (dbl && (groups < 2 || hexd < 5))
        return 0; /* "::1" needs context; "a::b" in code is not an address */
    unsigned char addr[16];
    return inet_pton(AF_INET6, buf, addr) == 1 ? j : 0;
}

static bool starts(const unsigned char *t, size_t len, size_t i, const char *p)
{
    size_t n = strlen(p);
    return i + n <= len && memcmp(t + i, p, n) == 0;
}

static bool starts_ci(const unsigned char *t, size_t len, size_t i, const char *p)
{
    size_t n = strlen(p);
    if (i + n > len)
        return false;
    for (size_t k = 0; k < n; k++)
        if (lower((char)t[i + k]) != p[k])
            return false;
    return true;
}

/* Token characters from j on; returns the end. */
static size_t tok_run(const unsigned char *t, size_t len, size_t j)
{
    while (j < len && is_tok(t[j]))
        j++;
    return j;
}

/* Whether t[a..b) mixes letters and digits (random tokens do; words do not). */
static bool mixed(const unsigned char *t, size_t a, size_t b)
{
    bool d = false, l = false;
    for (size_t k = a; k < b; k++) {
        d |= is_digit(t[k]);
        l |= is_alpha(t[k]);
    }
    return d && l;
}

/* API-key shapes by prefix, JWTs, PEM private keys. */
static size_t scan_secret_shape(const unsigned char *t, size_t len, size_t i)
{
    static const struct { const char *prefix; size_t min; } pre[] = {
        {"sk-", 20}, {"sk_live_", 16}, {"sk_test_", 16}, {"rk_live_", 16}, {"ghp_", 30},
        {"gho_", 30}, {"ghu_", 30}, {"ghs_", 30}, {"ghr_", 30}, {"github_pat_", 30},
        {"glpat-", 20}, {"xoxb-", 20}, {"xoxp-", 20}, {"xoxa-", 20}, {"xoxs-", 20},
        {"AIza", 35}, {"hf_", 30}, {"bt_", 70}, {"npm_", 30},
    };
    unsigned char c = t[i];
    if (c == 'A' && (starts(t, len, i, "AKIA") || starts(t, len, i, "ASIA"))) {
        size_t j = i + 4, k = 0;
        while (j < len && (is_upper(t[j]) || is_digit(t[j])) && k < 16)
            j++, k++;
        return k == 16 && word_end(t, len, j) ? j : 0;
    }
    if (c == 'e' && starts(t, len, i, "eyJ")) { /* JWT: three base64url parts */
        size_t j = i, dots = 0;
        while (j < len && (is_tok(t[j]) || t[j] == '.'))
            dots += t[j++] == '.';
        return dots == 2 && j - i >= 30 && t[j - 1] != '.' ? j : 0;
    }
    if (c == '-' && starts(t, len, i, "-----BEGIN ")) {
        const unsigned char *end_hdr = memchr(t + i + 11, '\n', len - i - 11);
        size_t hl = end_hdr ? (size_t)(end_hdr - (t + i)) : len - i;
        if (!memmem(t + i, hl, "PRIVATE KEY-----", 16))
            return 0;
        const unsigned char *fin = memmem(t + i + 11, len - i - 11, "-----END ", 9);
        if (!fin)
            return len;
        const unsigned char *close = memmem(fin + 9, len - (size_t)(fin + 9 - t), "-----", 5);
        return close ? (size_t)(close + 5 - t) : len;
    }
    for (size_t k = 0; k < sizeof pre / sizeof *pre; k++)
        if (c == (unsigned char)pre[k].prefix[0] && starts(t, len, i, pre[k].prefix)) {
            size_t b = i + strlen(pre[k].prefix);
            size_t j = tok_run(t, len, b);
            if (j - b >= pre[k].min && mixed(t, b, j))
                return j;
        }
    return 0;
}

/* The value after a credential word: password=..., "api_key": "...", token: ..., Bearer ...;
 * returns the value's end and sets *vstart. */
static size_t scan_credential(const unsigned char *t, size_t len, size_t i, size_t *vstart)
{
    static const char *const words[] = {
        "password", "passwd", "pwd", "passphrase", "secret", "client_secret", "api_key",
        "apikey", "api-key", "access_key", "secret_key", "private_key", "auth_token",
        "access_token", "token", "bearer",
    };
    unsigned char c = (unsigned char)lower((char)t[i]);
    if (c != 'p' && c != 's' && c != 'a' && c != 'c' && c != 't' && c != 'b')
        return 0;
    for (size_t w = 0; w < sizeof words / sizeof *words; w++) {
        if (!starts_ci(t, len, i, words[w]))
            continue;
        size_t j = i + strlen(words[w]);
        bool bearer = w == sizeof words / sizeof *words - 1;
        if (j < len && (is_alnum(t[j]) || t[j] == '_'))
            continue; /* "passwords", "tokenizer" */
        if (j < len && (t[j] == '"' || t[j] == '\''))
            j++;
        size_t k = j;
        while (k < len && t[k] == ' ')
            k++;
        bool assign = k < len && (t[k] == '=' || t[k] == ':');
        if (!assign && !bearer)
            continue;
        if (assign)
            k++;
        else if (k == j)
            continue; /* "bearer" needs a space */
        while (k < len && t[k] == ' ')
            k++;
        unsigned char q = k < len && (t[k] == '"' || t[k] == '\'') ? t[k] : 0;
        if (q)
            k++;
        size_t v = k;
        while (k < len && t[k] != (q ? q : ' ') && t[k] != '\n' && t[k] != '\r' && t[k] != '\t' &&
               (q || (t[k] != ',' && t[k] != ';' && t[k] != '}' && t[k] != '&')) && k - v < 256)
            k++;
        size_t min = bearer ? 20 : 6;
        if (k - v < min)
            continue;
        /* a value is a secret when it is not a plain word: it has a digit or a symbol, or it is
         * long; "password: required" or "token: string" stays */
        bool plain = true;
        for (size_t m = v; m < k && plain; m++)
            plain = is_lower(t[m]) || t[m] == '_' || t[m] == '-';
        if (plain && k - v < 16)
            continue;
        *vstart = v;
        return k;
    }
    return 0;
}

/* user:password@ in a URL: the password. */
static size_t scan_url_password(const unsigned char *t, size_t len, size_t i, size_t *vstart)
{
    if (!(i + 3 <= len && t[i] == ':' && t[i + 1] == '/' && t[i + 2] == '/'))
        return 0;
    size_t j = i + 3, colon = 0;
    while (j < len && j - i < 256 && t[j] != '@' && t[j] != '/' && t[j] != ' ' && t[j] != '\n') {
        if (t[j] == ':' && !colon)
            colon = j;
        j++;
    }
    if (j >= len || t[j] != '@' || !colon || j - colon < 2)
        return 0;
    *vstart = colon + 1;
    return j;
}

/* local@domain.tld around the '@' at `at`; returns the end and sets *start. */
static size_t scan_email(const unsigned char *t, size_t len, size_t at, size_t *start)
{
    size_t a = at;
    while (a > 0 && at - a < 64 &&
           (is_alnum(t[a - 1]) || strchr("._%+-", t[a - 1]) != NULL))
        a--;
    while (a < at && (t[a] == '.' || t[a] == '-'))
        a++;
    if (a == at)
        return 0;
    size_t j = at + 1, last_dot = 0;
    while (j < len && j - at < 255 && (is_alnum(t[j]) || t[j] == '-' || t[j] == '.')) {
        if (t[j] == '.')
            last_dot = j;
        j++;
    }
    while (j > at + 1 && (t[j - 1] == '.' || t[j - 1] == '-'))
        j--;
    last_dot = 0; /* the last dot inside the trimmed domain (a sentence's full stop is not) */
    for (size_t k = at + 1; k < j; k++)
        if (t[k] == '.')
            last_dot = k;
    for (size_t k = last_dot ? last_dot + 1 : j; k < j; k++)
        if (!is_alpha(t[k]))
            return 0;
    if (!last_dot || last_dot == at + 1 || j - last_dot - 1 < 2)
        return 0;
    *start = a;
    return j;
}

/* ---------------------------------------------------------------------------------------------
 * The scan */

static void add(struct privacy *p, size_t *n, size_t s, size_t e, int kind)
{
    if (*n < CANDIDATES_MAX)
        p->cand[(*n)++] = (struct privacy_span){s, e, kind};
}

static bool term_boundary(const unsigned char *t, size_t len, size_t s, size_t e)
{
    return (s == 0 || !is_alnum(t[s - 1])) && word_end(t, len, e);
}

static void scan_terms(struct privacy *p, const unsigned char *t, size_t len, size_t *n)
{
    for (size_t g = 0; g < p->n_terms; g++) {
        const struct custom_terms *ct = &p->terms[g];
        int kind = PK_BUILTIN_COUNT + (int)p->n_res + (int)g;
        for (size_t k = 0; k < ct->n; k++) {
            const char *w = ct->terms[k];
            size_t wl = ct->lens[k];
            char c0 = w[0], c0u = (c0 >= 'a' && c0 <= 'z') ? (char)(c0 - 32) : c0;
            for (size_t i = 0; i + wl <= len; i++) {
                if (t[i] != (unsigned char)c0 && t[i] != (unsigned char)c0u)
                    continue;
                size_t m = 1;
                while (m < wl && lower((char)t[i + m]) == w[m])
                    m++;
                if (m == wl && term_boundary(t, len, i, i + wl)) {
                    add(p, n, i, i + wl, kind);
                    i += wl - 1;
                }
            }
        }
    }
}

static int by_start(const void *a, const void *b)
{
    const struct privacy_span *x = a, *y = b;
    if (x->start != y->start)
        return x->start < y->start ? -1 : 1;
    if ((x->kind == PK_SECRET) != (y->kind == PK_SECRET))
        return x->kind == PK_SECRET ? -1 : 1; /* user:password@host is a secret, not an e-mail */
    return x->end > y->end ? -1 : x->end < y->end; /* longer first */
}

size_t privacy_scan(struct privacy *p, const char *text, size_t len, struct privacy_span *out,
                    size_t cap)
{
    const unsigned char *t = (const unsigned char *)text;
    size_t n = 0;
    uint64_t m = p->builtin_mask;
    bool digits = m & ((1u << PK_CARD) | (1u << PK_SSN) | (1u << PK_PHONE) | (1u << PK_IPV4));
    for (size_t i = 0; i < len; i++) {
        unsigned char c = t[i];
        if (c == '@') {
            size_t s;
            size_t e = (m & (1u << PK_EMAIL)) ? scan_email(t, len, i, &s) : 0;
            if (e) {
                add(p, &n, s, e, PK_EMAIL);
                i = e - 1;
            }
            continue;
        }
        if (c == ':' && (m & (1u << PK_SECRET))) {
            size_t s, e = scan_url_password(t, len, i, &s);
            if (e)
                add(p, &n, s, e, PK_SECRET);
        }
        if (i > 0 && (is_alnum(t[i - 1]) || t[i - 1] == '_'))
            continue; /* not a word start */
        size_t e = 0;
        int kind = -1;
        bool continues = i >= 2 && is_digit(t[i - 2]) &&
                         (t[i - 1] == '.' || t[i - 1] == '-' || t[i - 1] == '/' ||
                          t[i - 1] == ':' || t[i - 1] == ',');
        if (digits && !continues && (is_digit(c) || c == '+' || c == '(')) {
            if ((m & (1u << PK_CARD)) && is_digit(c) && (e = scan_card(t, len, i)))
                kind = PK_CARD;
            else if ((m & (1u << PK_SSN)) && is_digit(c) && (e = scan_ssn(t, len, i)))
                kind = PK_SSN;
            else if ((m & (1u << PK_IPV4)) && is_digit(c) && (e = scan_ipv4(t, len, i)))
                kind = PK_IPV4;
            else if ((m & (1u << PK_PHONE)) && (e = scan_phone(t, len, i)))
                kind = PK_PHONE;
        }
        if (kind < 0 && (m & (1u << PK_IPV6)) && (is_hex(c) || c == ':') &&
            (e = scan_ipv6(t, len, i)))
            kind = PK_IPV6;
        if (kind < 0 && (m & (1u << PK_IBAN)) && is_upper(c) && i + 15 <= len &&
            is_upper(t[i + 1]) && is_digit(t[i + 2]) && is_digit(t[i + 3])) {
            char buf[35];
            size_t j = i, k = 0;
            while (j < len && k < 34) {
                if (is_upper(t[j]) || is_digit(t[j]))
                    buf[k++] = (char)t[j++];
                else if (t[j] == ' ' && k % 4 == 0 && j + 1 < len && is_alnum(t[j + 1]))
                    j++;
                else
                    break;
            }
            /* spaced IBANs end in a short group; try the longest valid length */
            for (; k >= 15; k--) {
                size_t end = i, got = 0;
                while (got < k)
                    got += t[end++] != ' ';
                if (word_end(t, len, end) && privacy_iban_ok(buf, k)) {
                    e = end;
                    kind = PK_IBAN;
                    break;
                }
            }
        }
        if (kind < 0 && (m & (1u << PK_SECRET))) {
            size_t vs;
            if ((e = scan_secret_shape(t, len, i)))
                kind = PK_SECRET;
            else if (is_alpha(c) && (e = scan_credential(t, len, i, &vs))) {
                add(p, &n, vs, e, PK_SECRET);
                i = e - 1;
                continue;
            }
        }
        if (kind >= 0) {
            add(p, &n, i, e, kind);
            i = e - 1;
        }
    }
    for (size_t r = 0; r < p->n_res; r++) {
        PCRE2_SIZE off = 0;
        while (off <= len) {
            int rc = pcre2_match(p->res[r], (PCRE2_SPTR)text, len, off, 0, p->md, p->mctx);
            if (rc < 0)
                break;
            PCRE2_SIZE *ov = pcre2_get_ovector_pointer(p->md);
            if (ov[1] > ov[0])
                add(p, &n, ov[0], ov[1], PK_BUILTIN_COUNT + (int)r);
            off = ov[1] > ov[0] ? ov[1] : ov[1] + 1;
        }
    }
    scan_terms(p, t, len, &n);
    if (n > 1)
        qsort(p->cand, n, sizeof *p->cand, by_start);
    size_t kept = 0, last_end = 0;
    for (size_t k = 0; k < n; k++) {
        if (kept && p->cand[k].start < last_end)
            continue;
        if (kept < cap)
            out[kept] = p->cand[k];
        kept++;
        last_end = p->cand[k].end;
    }
    return kept;
}

/* ---------------------------------------------------------------------------------------------
 * Lifecycle */

int privacy_regex_check(const char *regex, struct err *e)
{
    int code;
    PCRE2_SIZE off;
    pcre2_code *re = pcre2_compile((PCRE2_SPTR)regex, PCRE2_ZERO_TERMINATED,
                                   PCRE2_UTF | PCRE2_MATCH_INVALID_UTF, &code, &off, NULL);
    if (!re) {
        PCRE2_UCHAR msg[256];
        pcre2_get_error_message(code, msg, sizeof msg);
        return err_set(e, "%s at offset %zu", (const char *)msg, (size_t)off);
    }
    pcre2_code_free(re);
    return 0;
}

int privacy_builtin_kind(const char *name)
{
    for (int k = 0; k < PK_BUILTIN_COUNT; k++)
        if (!strcmp(g_builtin[k], name))
            return k;
    return -1;
}

int privacy_new(const struct privacy_options *o, struct privacy **out, struct err *e)
{
    if (PK_BUILTIN_COUNT + o->n_patterns + o->n_terms > PRIVACY_MAX_KINDS)
        return err_set(e, "privacy: at most %d custom kinds", PRIVACY_MAX_KINDS - PK_BUILTIN_COUNT);
    struct privacy *p = xcalloc(1, sizeof *p);
    p->builtin_mask = o->builtin_mask;
    for (int k = 0; k < PK_BUILTIN_COUNT; k++)
        p->names[p->n_kinds++] = xstrdup(g_builtin[k]);
    p->res = xcalloc(o->n_patterns ? o->n_patterns : 1, sizeof *p->res);
    uint32_t jit = 0;
    pcre2_config(PCRE2_CONFIG_JIT, &jit);
    for (size_t i = 0; i < o->n_patterns; i++) {
        int code;
        PCRE2_SIZE off;
        p->res[i] = pcre2_compile((PCRE2_SPTR)o->patterns[i].regex, PCRE2_ZERO_TERMINATED,
                                  PCRE2_UTF | PCRE2_MATCH_INVALID_UTF, &code, &off, NULL);
        p->n_res++;
        if (!p->res[i]) {
            PCRE2_UCHAR msg[256];
            pcre2_get_error_message(code, msg, sizeof msg);
            err_set(e, "privacy pattern %s: %s at offset %zu", o->patterns[i].name,
                    (const char *)msg, (size_t)off);
            privacy_free(p);
            return -1;
        }
        if (jit)
            pcre2_jit_compile(p->res[i], PCRE2_JIT_COMPLETE);
        p->names[p->n_kinds++] = xstrdup(o->patterns[i].name);
    }
    p->terms = xcalloc(o->n_terms ? o->n_terms : 1, sizeof *p->terms);
    for (size_t g = 0; g < o->n_terms; g++) {
        struct custom_terms *ct = &p->terms[g];
        ct->terms = xcalloc(o->terms[g].n_terms ? o->terms[g].n_terms : 1, sizeof *ct->terms);
        ct->lens = xcalloc(o->terms[g].n_terms ? o->terms[g].n_terms : 1, sizeof *ct->lens);
        for (size_t k = 0; k < o->terms[g].n_terms; k++) {
            char *w = xstrdup(o->terms[g].terms[k]);
            for (char *q = w; *q; q++)
                *q = lower(*q);
            ct->lens[k] = strlen(w);
            if (ct->lens[k] == 0) {
                free(w);
                continue;
            }
            ct->terms[ct->n++] = w;
        }
        p->n_terms++;
        p->names[p->n_kinds++] = xstrdup(o->terms[g].name);
    }
    p->md = pcre2_match_data_create(1, NULL);
    p->mctx = pcre2_match_context_create(NULL);
    pcre2_set_match_limit(p->mctx, MATCH_LIMIT);
    *out = p;
    return 0;
}

void privacy_free(struct privacy *p)
{
    if (!p)
        return;
    for (size_t i = 0; i < p->n_res; i++)
        pcre2_code_free(p->res[i]);
    free(p->res);
    for (size_t g = 0; g < p->n_terms; g++) {
        for (size_t k = 0; k < p->terms[g].n; k++)
            free(p->terms[g].terms[k]);
        free(p->terms[g].terms);
        free(p->terms[g].lens);
    }
    free(p->terms);
    for (int k = 0; k < p->n_kinds; k++)
        free(p->names[k]);
    pcre2_match_data_free(p->md);
    pcre2_match_context_free(p->mctx);
    free(p);
}

const char *privacy_kind_name(const struct privacy *p, int kind)
{
    return kind >= 0 && kind < p->n_kinds ? p->names[kind] : "?";
}

int privacy_n_kinds(const struct privacy *p) { return p->n_kinds; }
