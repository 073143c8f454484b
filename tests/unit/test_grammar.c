/* GBNF grammars: every construct of the dialect accepts what it should and rejects what it
 * should, parse errors say where and what, left recursion and state explosions are refused
 * clearly, partial UTF-8 behaves as a prefix, garbage collection changes nothing observable, and
 * the vocabulary mask equals a token-by-token check on real vocabularies (SentencePiece with
 * byte fallback, byte-level BPE). */
#include "check.h"

#include "base/buf.h"
#include "engine/gguf.h"
#include "engine/grammar.h"

static struct grammar *compile(const char *src)
{
    struct grammar *g = NULL;
    struct err e;
    if (grammar_parse(src, strlen(src), NULL, &g, &e)) {
        CHECK_MSG(0, "grammar failed to compile: %s\n%s", e.msg, src);
        return NULL;
    }
    return g;
}

static bool matches(struct grammar *g, const char *s) { return grammar_matches(g, s, strlen(s)); }

/* Is s a prefix of some sentence? */
static bool prefix(struct grammar *g, const char *s)
{
    grammar_reset(g);
    return grammar_accepts(g, s, strlen(s));
}

/* Each line of yes must match whole, each of no must not. */
static void expect(const char *src, const char *const *yes, const char *const *no)
{
    struct grammar *g = compile(src);
    if (!g)
        return;
    for (; yes && *yes; yes++)
        CHECK_MSG(matches(g, *yes), "grammar %s\nshould match \"%s\"", src, *yes);
    for (; no && *no; no++)
        CHECK_MSG(!matches(g, *no), "grammar %s\nshould not match \"%s\"", src, *no);
    grammar_free(g);
}

#define L(...) ((const char *const[]){__VA_ARGS__, NULL})

static void test_constructs(void)
{
    expect("root ::= \"abc\"", L("abc"), L("", "ab", "abcd", "abd"));
    expect("root ::= \"a\" \"b\" | \"c\"", L("ab", "c"), L("a", "b", "ac", "abc"));
    expect("root ::= (\"a\" | \"b\") \"c\"", L("ac", "bc"), L("c", "abc"));
    expect("root ::= \"a\"*", L("", "a", "aaaa"), L("b", "ab"));
    expect("root ::= \"ab\"+", L("ab", "abab"), L("", "a", "aba"));
    expect("root ::= \"a\"? \"b\"", L("b", "ab"), L("aab", "a"));
    expect("root ::= \"a\"{3}", L("aaa"), L("aa", "aaaa"));
    expect("root ::= \"a\"{2,}", L("aa", "aaaaaaa"), L("a", ""));
    expect("root ::= \"a\"{1,3}", L("a", "aa", "aaa"), L("", "aaaa"));
    expect("root ::= \"a\"{0,2} \"b\"", L("b", "ab", "aab"), L("aaab"));
    expect("root ::= \"a\"{ 2 , 3 }", L("aa", "aaa"), L("a"));
    expect("root ::= (\"x\" \"y\"?){2}", L("xx", "xyx", "xyxy", "xxy"), L("x", "xyxyx"));
    expect("root ::= \"a\"*?", L("", "aa"), L("b"));             /* (a*)? */
    expect("root ::= \"\" \"a\"", L("a"), L(""));
    expect("root ::=", L(""), L("a"));
    expect("root ::= [a-c0-9_]+", L("abc", "0_9"), L("d", "A", ""));
    expect("root ::= [^a-c]", L("d", "\n", "\xc3\xa9", "\xf0\x9f\x98\x80"), L("a", "c", ""));
    expect("root ::= [-a]+ [b-]", L("-a-b", "a-"), L("b"));    /* '-' first or last is literal */
    expect("root ::= .", L("a", "\n", "\xe2\x82\xac", "\xf0\x9f\x98\x80"), L("", "ab"));
    expect("root ::= [\\u00e9-\\u00ff]", L("\xc3\xa9", "\xc3\xbf"), L("e", "\xc4\x80"));
    expect("root ::= \"\\x41\\u00e9\\U0001F600\\t\\n\\r\\\\\\\"\"",
           L("A\xc3\xa9\xf0\x9f\x98\x80\t\n\r\\\""), NULL);
    expect("root ::= [\\[\\]\\-\\\\]+", L("[]-\\"), L("a"));
    expect("root ::= \"\xc3\xa9t\xc3\xa9\"", L("\xc3\xa9t\xc3\xa9"), L("ete"));
    /* rules, references, comments, line continuation, CRLF */
    expect("# a comment\nroot ::= item (\",\" item)* # trailing\n\nitem ::= [0-9]+\n",
           L("1", "1,22,333"), L("", "1,", ",1"));
    expect("root ::= \"a\" |\n   \"b\" |\n\n  \"c\"", L("a", "b", "c"), NULL);
    expect("root ::= (\n  \"a\"\n  | \"b\"\n)", L("a", "b"), NULL);
    expect("root ::= x\r\nx ::= \"y\"\r\n", L("y"), NULL);
    expect("root ::= a-b_c\na-b_c ::= \"ok\"", L("ok"), NULL);
    /* right recursion and loops through nullable rules */
    expect("root ::= \"a\" root | \"\"", L("", "aaaa"), L("b"));
    expect("root ::= (\"a\"?)*", L("", "a", "aaa"), L("b"));
    expect("root ::= (\"a\"* \"b\"?)* \"c\"", L("c", "aabbc", "bac"), L("", "ca"));
    expect("root ::= x\nx ::= \"(\" x \")\" | \"\"", L("", "()", "((()))"), L("(()", "())"));
    /* the start rule need not come first */
    expect("item ::= \"i\"\nroot ::= item item", L("ii"), L("i"));
}

static void test_start_rule(void)
{
    struct grammar *g;
    struct err e;
    const char *src = "root ::= \"r\"\nother ::= \"o\"";
    CHECK(grammar_parse(src, strlen(src), "other", &g, &e) == 0);
    CHECK(matches(g, "o") && !matches(g, "r"));
    grammar_free(g);
    CHECK(grammar_parse(src, strlen(src), "missing", &g, &e) == -1);
    CHECK_STR(e.msg, "grammar: no rule named 'missing' (the start rule)");
}

static void expect_error(const char *src, const char *want)
{
    struct grammar *g = NULL;
    struct err e;
    e.msg[0] = 0;
    int rc = grammar_parse(src, strlen(src), NULL, &g, &e);
    CHECK_MSG(rc == -1 && g == NULL, "should fail: %s", src);
    CHECK_MSG(strstr(e.msg, want) != NULL, "error for %s\n  is:   %s\n  want: %s", src, e.msg, want);
}

static void test_errors(void)
{
    expect_error("", "no rule named 'root'");
    expect_error("root ::= foo", "line 1, column 10: rule 'foo' is used but never defined");
    expect_error("root ::= \"a\"\nroot ::= \"b\"", "line 2, column 1: rule 'root' is defined twice (first at line 1)");
    expect_error("root = \"a\"", "line 1, column 6: expected '::=' after rule name 'root', found '='");
    expect_error("root ::= \"abc", "line 1, column 10: string literal is not closed");
    expect_error("root ::= [abc", "line 1, column 10: character class is not closed");
    expect_error("root ::= (\"a\"", "expected ')' closing the group opened at line 1, column 10");
    expect_error("root ::= \"a\")", "line 1, column 13: ')' without a matching '('");
    expect_error("root ::= *", "line 1, column 10: '*' has nothing before it to repeat");
    expect_error("root ::= \"a\"{2", "expected ',' or '}' in {m,n}");
    expect_error("root ::= \"a\"{3,2}", "{3,2}: the maximum is below the minimum");
    expect_error("root ::= \"a\"{x}", "expected a number in {m,n}, found 'x'");
    expect_error("root ::= \"a\"{10001}", "repetition count above 10000");
    expect_error("root ::= \"\\q\"", "line 1, column 11: unknown escape '\\q'");
    expect_error("root ::= \"\\x4\"", "\\x needs 2 hex digits");
    expect_error("root ::= \"\\U00110000\"", "above U+10FFFF");
    expect_error("root ::= \"\\uD800\"", "U+D800 is a surrogate");
    expect_error("root ::= [z-a]", "range U+007A-U+0061 is reversed");
    expect_error("root ::= \"\xff\"", "invalid UTF-8 byte 0xFF");
    expect_error("root ::= <[42]>", "token references (<[id]>, <text>, !<...>) are not supported");
    expect_error("root ::= \"a\"\n  | \"b\"", "line 2, column 3: expected a rule name, found '|'");
    expect_error("root ::= \"a\" ;", "line 1, column 14: expected a line break or the end of rule 'root', found ';'");
    expect_error("root ::= expr\nexpr ::= expr \"+\" term | term\nterm ::= [0-9]",
                 "rule 'expr' is left-recursive");
    expect_error("root ::= a\na ::= b \"x\"\nb ::= c? a\nc ::= \"c\"", "are left-recursive");
    expect_error("root ::= (x \"y\")\nx ::= \"z\"? root", "left-recursive");
    /* columns count characters, not bytes */
    expect_error("root ::= \"\xc3\xa9\xc3\xa9\" ?? !", "line 1, column 18: token references");
}

static void test_prefix_and_complete(void)
{
    struct grammar *g = compile("root ::= \"ab\" (\"c\" | \"de\")");
    CHECK(prefix(g, "") && prefix(g, "a") && prefix(g, "abd") && !prefix(g, "abe"));
    grammar_reset(g);
    struct err e;
    CHECK(!grammar_complete(g));
    CHECK(grammar_advance(g, "ab", 2, &e) == 0);
    CHECK(!grammar_complete(g));
    CHECK(grammar_advance(g, "x", 1, &e) == -1); /* rejected: state unchanged */
    CHECK(grammar_advance(g, "d", 1, &e) == 0 && !grammar_complete(g));
    CHECK(grammar_advance(g, "e", 1, &e) == 0 && grammar_complete(g) && grammar_finished(g));
    CHECK(!grammar_accepts(g, "e", 1));
    grammar_free(g);
    g = compile("root ::= \"a\"+");
    grammar_reset(g);
    CHECK(grammar_advance(g, "a", 1, &e) == 0 && grammar_complete(g) && !grammar_finished(g));
    grammar_free(g);
    /* a language with no sentence: nothing is ever allowed, and that is not an error */
    g = compile("root ::= [^\\x00-\\U0010FFFF]");
    CHECK(!prefix(g, "a") && !grammar_complete(g) && grammar_error(g) == NULL);
    grammar_free(g);
}

static void test_utf8(void)
{
    struct grammar *g = compile("root ::= [\\u00e9] \"\\U0001F600\" [^a]");
    grammar_reset(g);
    struct err e;
    /* a character split across tokens: each partial byte is a valid prefix */
    CHECK(grammar_advance(g, "\xc3", 1, &e) == 0);
    CHECK(!grammar_accepts(g, "\xc3", 1) && grammar_accepts(g, "\xa9", 1));
    CHECK(grammar_advance(g, "\xa9\xf0\x9f", 3, &e) == 0);
    CHECK(grammar_advance(g, "\x98", 1, &e) == 0);
    CHECK(!grammar_accepts(g, "\x99", 1)); /* U+1F601 */
    CHECK(grammar_advance(g, "\x80", 1, &e) == 0);
    /* [^a] admits any well-formed character but no ill-formed byte sequence */
    CHECK(grammar_accepts(g, "\xe2\x82\xac", 3));
    CHECK(!grammar_accepts(g, "\xc0\xaf", 2));          /* overlong '/' */
    CHECK(!grammar_accepts(g, "\xed\xa0\x80", 3));      /* surrogate D800 */
    CHECK(!grammar_accepts(g, "\xf4\x90\x80\x80", 4));  /* above U+10FFFF */
    CHECK(!grammar_accepts(g, "\x80", 1));              /* lone continuation byte */
    CHECK(!grammar_accepts(g, "\xff", 1));
    CHECK(grammar_accepts(g, "\xf4\x8f\xbf\xbf", 4));   /* U+10FFFF */
    CHECK(grammar_accepts(g, "\xef\xbf\xbf", 3) && grammar_accepts(g, "\xee\x80\x80", 3));
    CHECK(!grammar_accepts(g, "a", 1));
    CHECK(grammar_advance(g, "\xc2", 1, &e) == 0 && !grammar_complete(g));
    CHECK(grammar_advance(g, "\x80", 1, &e) == 0 && grammar_complete(g));
    grammar_free(g);
    /* every code point class boundary, checked against a direct decoder over a sample */
    g = compile("root ::= [\\x00-\\x7f\\u0100-\\u07ff\\u0800\\uffff\\U00010000-\\U0001ffff\\U0010fffe]");
    static const uint32_t cps[] = {0x0, 0x7f, 0x80, 0xff, 0x100, 0x7ff, 0x800, 0x801, 0xfffe,
                                   0xffff, 0x10000, 0x1ffff, 0x20000, 0x10fffd, 0x10fffe, 0x10ffff};
    for (size_t i = 0; i < sizeof cps / sizeof *cps; i++) {
        uint32_t c = cps[i];
        char b[4];
        size_t n;
        if (c < 0x80) {
            b[0] = (char)c;
            n = 1;
        } else if (c < 0x800) {
            b[0] = (char)(0xC0 | c >> 6);
            b[1] = (char)(0x80 | (c & 0x3F));
            n = 2;
        } else if (c < 0x10000) {
            b[0] = (char)(0xE0 | c >> 12);
            b[1] = (char)(0x80 | (c >> 6 & 0x3F));
            b[2] = (char)(0x80 | (c & 0x3F));
            n = 3;
        } else {
            b[0] = (char)(0xF0 | c >> 18);
            b[1] = (char)(0x80 | (c >> 12 & 0x3F));
            b[2] = (char)(0x80 | (c >> 6 & 0x3F));
            b[3] = (char)(0x80 | (c & 0x3F));
            n = 4;
        }
        bool want = c <= 0x7f || (c >= 0x100 && c <= 0x7ff) || c == 0x800 || c == 0xffff ||
                    (c >= 0x10000 && c <= 0x1ffff) || c == 0x10fffe;
        CHECK_MSG(grammar_matches(g, b, n) == want, "U+%04X: want %d", c, want);
    }
    grammar_free(g);
}

static void test_explosion(void)
{
    /* ambiguity: after k 'a's, k + 1 ways to split them: more than 4096 live stacks */
    struct grammar *g = compile("root ::= \"a\"{0,6000} \"a\"{0,6000} \"b\"");
    grammar_reset(g);
    char *as = malloc(5000);
    memset(as, 'a', 5000);
    struct err e;
    CHECK(grammar_advance(g, as, 1000, &e) == 0);
    CHECK(grammar_advance(g, as, 4000, &e) == -1);
    CHECK_MSG(strstr(e.msg, "grammar state explosion: more than 4096 parse stacks") != NULL, "%s", e.msg);
    CHECK(grammar_error(g) != NULL && !grammar_accepts(g, "a", 1) && !grammar_complete(g));
    grammar_reset(g); /* a reset starts clean */
    CHECK(grammar_error(g) == NULL && matches(g, "aab"));
    grammar_free(g);
    /* unbounded nesting: stacks deeper than 4096 */
    g = compile("root ::= x\nx ::= \"(\" x \")\" | \"\"");
    grammar_reset(g);
    memset(as, '(', 5000);
    CHECK(grammar_advance(g, as, 4000, &e) == 0);
    CHECK(grammar_advance(g, as, 1000, &e) == -1);
    CHECK_MSG(strstr(e.msg, "deeper than 4096") != NULL, "%s", e.msg);
    grammar_free(g);
    free(as);
}

/* A JSON grammar: long inputs, many states, collection in the middle. */
static const char *g_json =
    "root   ::= value\n"
    "value  ::= object | array | string | number | \"true\" | \"false\" | \"null\"\n"
    "object ::= \"{\" ws (pair (\",\" ws pair)*)? \"}\" ws\n"
    "pair   ::= string \":\" ws value\n"
    "array  ::= \"[\" ws (value (\",\" ws value)*)? \"]\" ws\n"
    "string ::= \"\\\"\" ([^\"\\\\\\x00-\\x1f] | \"\\\\\" ([\"\\\\/bfnrt] | \"u\" [0-9a-fA-F]{4}))* \"\\\"\" ws\n"
    "number ::= \"-\"? (\"0\" | [1-9] [0-9]*) (\".\" [0-9]+)? ([eE] [-+]? [0-9]+)? ws\n"
    "ws     ::= [ \\t\\n]*\n";

static void test_json_and_collection(void)
{
    struct grammar *g = compile(g_json);
    const char *ok[] = {"{}", "[1, -2.5e+3, true, null, \"x\\u00e9\\n\"]",
                        "{\"a\": {\"b\": [[], {}]}, \"c\": \"\xe2\x82\xac\"}", "0", "\"\""};
    const char *bad[] = {"{", "[1,]", "01", "\"\x01\"", "{\"a\" 1}", "tru", "[1 2]"};
    for (size_t i = 0; i < sizeof ok / sizeof *ok; i++)
        CHECK_MSG(matches(g, ok[i]), "%s", ok[i]);
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++)
        CHECK_MSG(!matches(g, bad[i]), "%s", bad[i]);
    /* byte by byte with a collection after every byte: same verdicts */
    const char *doc = "{\"k\": [1, {\"z\": [true, \"s\\\"\"]}], \"e\": \"\xf0\x9f\x98\x80\"}";
    struct err e;
    grammar_reset(g);
    for (size_t i = 0; doc[i]; i++) {
        CHECK(grammar_accepts(g, doc + i, 1));
        CHECK(grammar_advance(g, doc + i, 1, &e) == 0);
        CHECK(!grammar_accepts(g, "\x01", 1));
        grammar_compact(g);
    }
    CHECK(grammar_complete(g));
    struct grammar_stats st;
    grammar_stats(g, &st);
    CHECK(st.n_gc >= strlen(doc) && st.n_states == 1);
    /* a long nesting run that crosses the automatic collection limits */
    grammar_stats(g, &st);
    size_t gc_before = st.n_gc;
    grammar_reset(g);
    int depth = 1200;
    char *deep = malloc((size_t)depth * 2);
    for (int i = 0; i < depth; i++) {
        deep[i] = '[';
        deep[2 * depth - 1 - i] = ']';
    }
    CHECK(grammar_advance(g, deep, (size_t)depth, &e) == 0);
    CHECK(grammar_advance(g, deep + depth, (size_t)depth - 1, &e) == 0 && !grammar_complete(g));
    CHECK(grammar_advance(g, "]", 1, &e) == 0 && grammar_complete(g));
    grammar_stats(g, &st);
    CHECK_MSG(st.n_gc > gc_before, "no automatic collection: %zu states", st.n_states);
    free(deep);
    grammar_free(g);
}

/* ---------------------------------------------------------------------------------------------
 * Token level on real vocabularies */

static struct tok *load_vocab(const char *name)
{
    char rel[256];
    snprintf(rel, sizeof rel, "vocab/ggml-vocab-%s.gguf", name);
    struct gguf *gg;
    struct tok *t = NULL;
    struct err e;
    if (gguf_open(check_fixture(rel), &gg, &e)) {
        CHECK_MSG(0, "%s", e.msg);
        return NULL;
    }
    if (tok_load(gg, &t, &e))
        CHECK_MSG(0, "%s", e.msg);
    gguf_close(gg);
    return t;
}

/* The mask must equal grammar_allows_token on every token, and allows must equal walking the
 * token's text by hand. */
static void check_mask(struct grammar *g, struct grammar_vocab *v, const struct tok *t, const char *what)
{
    int32_t n = grammar_vocab_n(v);
    uint32_t *bits = calloc(((size_t)n + 31) / 32, sizeof *bits);
    int32_t count = grammar_mask(g, v, bits);
    int32_t manual = 0, bad = 0;
    for (int32_t id = 0; id < n; id++) {
        size_t len;
        const char *p = grammar_vocab_piece(v, id, &len);
        bool want = tok_is_eog(t, id) ? grammar_complete(g) : len > 0 && grammar_accepts(g, p, len);
        bool got = bits[id >> 5] >> (id & 31) & 1;
        manual += want;
        if (want != got || grammar_allows_token(g, v, id) != want)
            bad++;
    }
    CHECK_MSG(bad == 0 && count == manual, "%s: %d tokens disagree; mask count %d, manual %d",
              what, bad, count, manual);
    /* served from the cache the second time, identically */
    uint32_t *again = calloc(((size_t)n + 31) / 32, sizeof *again);
    CHECK(grammar_mask(g, v, again) == count);
    CHECK(memcmp(bits, again, ((size_t)n + 31) / 32 * sizeof *bits) == 0);
    free(again);
    free(bits);
}

static void test_vocab_mask(void)
{
    const char *names[] = {"llama-spm", "qwen2"};
    for (int k = 0; k < 2; k++) {
        struct tok *t = load_vocab(names[k]);
        if (!t)
            continue;
        struct grammar_vocab *v = grammar_vocab_new(t, false);
        CHECK_EQ_INT(grammar_vocab_n(v), tok_n_vocab(t));
        struct grammar *g = compile(g_json);
        grammar_reset(g);
        check_mask(g, v, t, "json start");
        const char *steps[] = {"{", "\"", "ke", "y\xc3", "\xa9\"", ": ", "[1", "2.", "5", "]", "}"};
        struct err e;
        for (size_t i = 0; i < sizeof steps / sizeof *steps; i++) {
            CHECK(grammar_advance(g, steps[i], strlen(steps[i]), &e) == 0);
            char what[64];
            snprintf(what, sizeof what, "%s after step %zu", names[k], i);
            check_mask(g, v, t, what);
        }
        CHECK(grammar_complete(g));
        /* a token-level run: accept_token on an EOG token only when complete */
        int32_t eos = tok_eos(t);
        CHECK(grammar_accept_token(g, v, eos, &e) == 0);
        grammar_reset(g);
        CHECK(grammar_accept_token(g, v, eos, &e) == -1);
        CHECK(!grammar_allows_token(g, v, eos) && !grammar_allows_token(g, v, -1));
        grammar_free(g);
        /* a grammar over non-ASCII text exercises byte-fallback and partial pieces */
        g = compile("root ::= [\\u3040-\\u30ff\\u4e00-\\u9fff]{1,4} \"!\"");
        grammar_reset(g);
        check_mask(g, v, t, "cjk start");
        CHECK(grammar_advance(g, "\xe3", 1, &e) == 0);
        check_mask(g, v, t, "cjk partial");
        grammar_free(g);
        grammar_vocab_free(v);
        tok_free(t);
    }
    /* control tokens: empty text without render_special (never allowed), their text with it */
    struct tok *t = load_vocab("qwen2");
    if (t) {
        int32_t im = tok_find(t, "<|im_start|>", 12);
        CHECK(im >= 0);
        struct grammar_vocab *plain = grammar_vocab_new(t, false), *special = grammar_vocab_new(t, true);
        struct grammar *g = compile("root ::= \"<|im_start|>\" [a-z]*");
        grammar_reset(g);
        CHECK(!grammar_allows_token(g, plain, im));
        CHECK(grammar_allows_token(g, special, im));
        check_mask(g, special, t, "special");
        grammar_free(g);
        grammar_vocab_free(plain);
        grammar_vocab_free(special);
        tok_free(t);
    }
}

/* The constrained sampler with a real grammar: every draw is allowed and advancing never fails. */
static void test_sampler_hook(void)
{
    struct tok *t = load_vocab("llama-spm");
    if (!t)
        return;
    struct grammar_vocab *v = grammar_vocab_new(t, false);
    struct grammar *g = compile("root ::= \"[\" [0-9]+ (\", \" [0-9]+)* \"]\"");
    int32_t n = grammar_vocab_n(v);
    float *logits = malloc((size_t)n * sizeof *logits);
    struct rng r;
    rng_seed(&r, 7);
    struct sampler_params p;
    sampler_params_default(&p);
    p.temp = 1.0f;
    p.seed = 3;
    struct sampler *s = sampler_new(&p, n);
    struct sampler_constraint c = grammar_constraint(g, v);
    int completed = 0;
    for (int run = 0; run < 20; run++) {
        grammar_reset(g);
        struct buf out;
        buf_init(&out);
        for (int step = 0; step < 64; step++) {
            for (int32_t i = 0; i < n; i++)
                logits[i] = (float)(rng_uniform(&r) * 8.0 - 4.0);
            int32_t id = sampler_sample_constrained(s, logits, &c);
            CHECK(id >= 0);
            struct err e;
            CHECK_MSG(grammar_accept_token(g, v, id, &e) == 0, "%s", e.msg);
            if (tok_is_eog(t, id))
                break;
            size_t len;
            const char *piece = grammar_vocab_piece(v, id, &len);
            buf_append(&out, piece, len);
        }
        if (grammar_matches(g, out.data ? out.data : "", out.len))
            completed++;
        else
            CHECK(prefix(g, out.data ? out.data : "")); /* cut by the budget: still a prefix */
        buf_free(&out);
    }
    CHECK(completed > 0);
    CHECK(sampler_n_masked(s) > 0);
    sampler_free(s);
    free(logits);
    grammar_free(g);
    grammar_vocab_free(v);
    tok_free(t);
}

int main(void)
{
    RUN(test_constructs);
    RUN(test_start_rule);
    RUN(test_errors);
    RUN(test_prefix_and_complete);
    RUN(test_utf8);
    RUN(test_explosion);
    RUN(test_json_and_collection);
    RUN(test_vocab_mask);
    RUN(test_sampler_hook);
    return check_report();
}
