/* test_tokenizer: the tokenizers against llama.cpp's own test pairs (vocab/ggml-vocab-*.gguf with
 * .inp/.out, compared the way llama.cpp's test-tokenizer-0 does: add_special = false,
 * parse_special = false), plus detokenization round trips, UTF-8 split across tokens, special
 * tokens on and off, BOS/EOS rules, load errors and the Unicode tables' edge cases. */
#include "check.h"

#include "engine/gguf.h"
#include "engine/tok_import.h"
#include "engine/tokenizer.h"
#include "engine/unicode.h"

#include <stdbool.h>
#include <stdint.h>
#include <unistd.h>

/* CHECK that also yields the condition, for "if (CHECK_OK(...)) use it". */
static bool check_ok(bool cond, const char *expr, int line)
{
    check_count++;
    if (!cond) {
        check_failures++;
        fprintf(stderr, "%s:%d: CHECK failed: %s\n", __FILE__, line, expr);
    }
    return cond;
}
#define CHECK_OK(cond) check_ok((cond), #cond, __LINE__)

static struct tok *load_vocab(const char *name)
{
    char rel[256];
    snprintf(rel, sizeof rel, "vocab/ggml-vocab-%s.gguf", name);
    struct err e;
    struct gguf *g;
    if (gguf_open(check_fixture(rel), &g, &e)) {
        CHECK_MSG(0, "%s: %s", rel, e.msg);
        return NULL;
    }
    struct tok *t = NULL;
    int r = tok_load(g, &t, &e);
    gguf_close(g);
    CHECK_MSG(r == 0, "%s: %s", rel, e.msg);
    return r == 0 ? t : NULL;
}

static size_t encode(const struct tok *t, const char *s, size_t n, bool add_special,
                     bool parse_special, int32_t **ids)
{
    struct err e;
    size_t n_ids = 0;
    *ids = NULL;
    int r = tok_encode(t, s, n, add_special, parse_special, ids, &n_ids, &e);
    CHECK_MSG(r == 0, "%s", e.msg);
    return n_ids;
}

/* Concatenated pieces of ids; caller frees. */
static char *decode(const struct tok *t, const int32_t *ids, size_t n, bool special, size_t *len)
{
    size_t cap = 64, o = 0;
    char *s = malloc(cap);
    for (size_t i = 0; i < n; i++) {
        size_t k = tok_piece(t, ids[i], s + o, cap - o, special);
        if (o + k > cap) {
            while (o + k > cap)
                cap *= 2;
            s = realloc(s, cap);
            k = tok_piece(t, ids[i], s + o, cap - o, special);
        }
        o += k;
    }
    *len = o;
    return s;
}

/* ---- llama.cpp's test pairs ---- */

static void check_pairs(const char *name)
{
    struct tok *t = load_vocab(name);
    if (!t)
        return;
    char rel[256];
    size_t n_inp, n_out;
    snprintf(rel, sizeof rel, "vocab/ggml-vocab-%s.gguf.inp", name);
    char *inp = check_read_file(check_fixture(rel), &n_inp);
    snprintf(rel, sizeof rel, "vocab/ggml-vocab-%s.gguf.out", name);
    char *out = check_read_file(check_fixture(rel), &n_out);
    CHECK(inp && out);
    if (!inp || !out) {
        free(inp), free(out), tok_free(t);
        return;
    }
    static const char sep[] = "\n__ggml_vocab_test__\n";
    size_t pos = 0, line = 0, n_tests = 0, n_ok = 0;
    char *lp = out;
    while (pos < n_inp) {
        char *next = strstr(inp + pos, sep);
        size_t end = next ? (size_t)(next - inp) : n_inp;
        char *nl = strchr(lp, '\n');
        if (!nl) {
            CHECK_MSG(0, "%s: fewer expected lines than texts", name);
            break;
        }
        *nl = 0;
        int32_t want[1024];
        size_t n_want = 0;
        for (char *p = lp; *p;) {
            while (*p == ' ')
                p++;
            if (!*p)
                break;
            want[n_want++] = (int32_t)strtol(p, &p, 10);
        }
        int32_t *ids;
        size_t n = encode(t, inp + pos, end - pos, false, false, &ids);
        bool same = n == n_want && (n == 0 || memcmp(ids, want, n * sizeof *ids) == 0);
        n_tests++;
        n_ok += same;
        if (!same) {
            fprintf(stderr, "%s text %zu '%.*s': got", name, line, (int)(end - pos), inp + pos);
            for (size_t i = 0; i < n; i++)
                fprintf(stderr, " %d", ids[i]);
            fprintf(stderr, "\n  want %s\n", lp);
        }
        CHECK(same);
        free(ids);
        lp = nl + 1;
        line++;
        pos = next ? end + sizeof sep - 1 : n_inp;
    }
    fprintf(stderr, "  %s: %zu/%zu texts match\n", name, n_ok, n_tests);
    free(inp);
    free(out);
    tok_free(t);
}

static void test_pairs_spm(void)
{
    check_pairs("llama-spm");
    check_pairs("phi-3");
}

static void test_pairs_bpe(void)
{
    check_pairs("llama-bpe");
    check_pairs("qwen2");
    check_pairs("gpt-2");
    check_pairs("starcoder");
    check_pairs("deepseek-coder");
    check_pairs("falcon");
    /* bert-bge is WordPiece ("bert"), which baton does not implement: it must fail clearly. */
    struct err e;
    struct gguf *g;
    if (gguf_open(check_fixture("vocab/ggml-vocab-bert-bge.gguf"), &g, &e) == 0) {
        struct tok *t = NULL;
        CHECK(tok_load(g, &t, &e) != 0);
        CHECK(strstr(e.msg, "'bert' is not supported") != NULL);
        gguf_close(g);
    }
    fprintf(stderr, "  bert-bge: skipped (WordPiece not implemented; load refuses it)\n");
}

/* ---- detokenization ---- */

static void check_roundtrip(const struct tok *t, const char *name, const char *s, const char *want)
{
    int32_t *ids;
    size_t n = encode(t, s, strlen(s), false, false, &ids);
    size_t len;
    char *back = decode(t, ids, n, false, &len);
    CHECK_MSG(len == strlen(want) && memcmp(back, want, len) == 0, "%s: '%s' came back as '%.*s'",
              name, s, (int)len, back);
    free(back);
    free(ids);
}

static const char *const g_texts[] = {
    "Hello world", "  leading spaces and trailing  ", "tabs\tand\nnew\r\nlines\n\n",
    "emoji \xf0\x9f\xa6\x99\xf0\x9f\x91\xa8\xe2\x80\x8d\xf0\x9f\x91\xa9 and CJK \xe4\xbd\xa0\xe5\xa5\xbd",
    "I'M you'Re 12345678 3.14 $$$ ---", "\xd8\xa7\xd9\x84\xd8\xb3\xd9\x84\xd8\xa7\xd9\x85",
    "nul-free \x01\x7f control", "",
};

static void test_roundtrip(void)
{
    const char *bpe[] = {"gpt-2", "llama-bpe", "qwen2", "starcoder", "deepseek-coder", "falcon"};
    for (size_t v = 0; v < sizeof bpe / sizeof *bpe; v++) {
        struct tok *t = load_vocab(bpe[v]);
        for (size_t i = 0; t && i < sizeof g_texts / sizeof *g_texts; i++)
            check_roundtrip(t, bpe[v], g_texts[i], g_texts[i]);
        tok_free(t);
    }
    /* SentencePiece: the space prefix comes back as a leading space */
    struct tok *t = load_vocab("llama-spm");
    for (size_t i = 0; t && i < sizeof g_texts / sizeof *g_texts; i++) {
        char want[256];
        snprintf(want, sizeof want, "%s%s", g_texts[i][0] ? " " : "", g_texts[i]);
        check_roundtrip(t, "llama-spm", g_texts[i], want);
    }
    if (t) {
        /* byte fallback pieces are single raw bytes */
        int32_t id = tok_find(t, "<0x0A>", 6);
        char c = 0;
        CHECK(id >= 0 && tok_piece(t, id, &c, 1, false) == 1 && c == '\n');
        /* a piece larger than the buffer reports its size and writes nothing useful */
        int32_t hello = tok_find(t, "\xe2\x96\x81Hello", 8);
        char small[2];
        CHECK(hello >= 0 && tok_piece(t, hello, small, sizeof small, false) == 6);
    }
    tok_free(t);
}

static void test_utf8_split(void)
{
    CHECK_EQ_INT(tok_utf8_complete("", 0), 0);
    CHECK_EQ_INT(tok_utf8_complete("ab", 2), 2);
    CHECK_EQ_INT(tok_utf8_complete("a\xe2\x82", 3), 1);
    CHECK_EQ_INT(tok_utf8_complete("a\xe2\x82\xac", 4), 4);
    CHECK_EQ_INT(tok_utf8_complete("a\xf0\x9f\x98", 4), 1);
    CHECK_EQ_INT(tok_utf8_complete("\xf0\x9f\x98\x80", 4), 4);
    CHECK_EQ_INT(tok_utf8_complete("x\xc3", 2), 1);
    CHECK_EQ_INT(tok_utf8_complete("\x80\x80", 2), 2); /* no lead byte: nothing to wait for */

    /* gpt-2 has no token for these emoji: they come out as byte-level pieces that split
     * characters; streaming with tok_utf8_complete must never emit half a character. */
    struct tok *t = load_vocab("gpt-2");
    if (!t)
        return;
    const char *s = "llama \xf0\x9f\xa6\x99 zwj \xf0\x9f\x91\xa8\xe2\x80\x8d\xf0\x9f\x91\xa9 ok";
    int32_t *ids;
    size_t n = encode(t, s, strlen(s), false, false, &ids);
    char pending[64], out[256];
    size_t n_pending = 0, n_out = 0;
    bool split_seen = false;
    for (size_t i = 0; i < n; i++) {
        n_pending += tok_piece(t, ids[i], pending + n_pending, sizeof pending - n_pending, false);
        size_t ok = tok_utf8_complete(pending, n_pending);
        split_seen |= ok < n_pending;
        memcpy(out + n_out, pending, ok);
        n_out += ok;
        memmove(pending, pending + ok, n_pending - ok);
        n_pending -= ok;
        CHECK(tok_utf8_complete(out, n_out) == n_out);
    }
    CHECK(split_seen);
    CHECK(n_pending == 0 && n_out == strlen(s) && memcmp(out, s, n_out) == 0);
    free(ids);
    tok_free(t);
}

/* ---- special tokens, BOS/EOS, end of generation ---- */

static bool has_id(const int32_t *ids, size_t n, int32_t id)
{
    for (size_t i = 0; i < n; i++)
        if (ids[i] == id)
            return true;
    return false;
}

static void test_special(void)
{
    struct tok *t = load_vocab("llama-bpe");
    if (t) {
        const char *s = "hi<|eot_id|>there";
        int32_t *ids;
        size_t n = encode(t, s, strlen(s), false, true, &ids);
        CHECK(n == 3 && ids[1] == 128009);
        free(ids);
        n = encode(t, s, strlen(s), false, false, &ids);
        CHECK(n > 3 && !has_id(ids, n, 128009));
        free(ids);
        CHECK(tok_is_control(t, 128009) && tok_is_eog(t, 128009));
        CHECK(tok_is_eog(t, 128001) && !tok_is_eog(t, 128000) && !tok_is_eog(t, 15339));
        char buf[32];
        CHECK_EQ_INT(tok_piece(t, 128009, buf, sizeof buf, false), 0);
        CHECK(tok_piece(t, 128009, buf, sizeof buf, true) == 10 && memcmp(buf, "<|eot_id|>", 10) == 0);
        size_t len;
        const char *txt = tok_text(t, 128000, &len);
        CHECK(txt && len == 17 && memcmp(txt, "<|begin_of_text|>", 17) == 0);
        CHECK(tok_text(t, -1, &len) == NULL && tok_text(t, tok_n_vocab(t), &len) == NULL);
        CHECK_EQ_INT(tok_find(t, "<|eot_id|>", 10), 128009);
        CHECK_EQ_INT(tok_find(t, "no such token at all", 20), -1);
    }
    tok_free(t);

    t = load_vocab("qwen2");
    if (t) {
        int32_t im_end = tok_find(t, "<|im_end|>", 10), eot = tok_find(t, "<|endoftext|>", 13);
        CHECK(im_end > 0 && tok_is_eog(t, im_end) && tok_is_eog(t, eot));
        int32_t im_start = tok_find(t, "<|im_start|>", 12);
        CHECK(im_start > 0 && !tok_is_eog(t, im_start) && tok_is_control(t, im_start));
    }
    tok_free(t);

    /* phi-3: special tokens eat the whitespace to their right (rstrip), except <s> and co */
    t = load_vocab("phi-3");
    if (t) {
        const char *s = "<|user|>   hi<|end|>\n x";
        int32_t *ids, *ids2;
        size_t n = encode(t, s, strlen(s), false, true, &ids);
        size_t n2 = encode(t, "<|user|>hi<|end|>x", 18, false, true, &ids2);
        CHECK(n == n2 && memcmp(ids, ids2, n * sizeof *ids) == 0);
        free(ids);
        free(ids2);
    }
    tok_free(t);
}

static void test_bos_eos(void)
{
    struct { const char *name; bool add_bos; int32_t bos; } cases[] = {
        {"llama-spm", true, 1}, {"phi-3", true, 1}, {"llama-bpe", true, 128000},
        {"deepseek-coder", true, 32013}, {"gpt-2", false, 50256}, {"qwen2", false, 151643},
        {"falcon", false, 11}, {"starcoder", false, 0},
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        struct tok *t = load_vocab(cases[i].name);
        if (!t)
            continue;
        CHECK_MSG(tok_add_bos(t) == cases[i].add_bos && tok_bos(t) == cases[i].bos, "%s",
                  cases[i].name);
        CHECK_MSG(!tok_add_eos(t) && tok_is_eog(t, tok_eos(t)), "%s", cases[i].name);
        int32_t *ids;
        size_t n = encode(t, "hi", 2, true, true, &ids);
        CHECK_MSG(n >= 1 && (ids[0] == cases[i].bos) == cases[i].add_bos, "%s", cases[i].name);
        free(ids);
        n = encode(t, "", 0, true, true, &ids);
        CHECK_EQ_INT(n, cases[i].add_bos);
        free(ids);
        tok_free(t);
    }
}

/* ---- load errors and metadata edits, through small GGUFs written to a temp file ---- */

static char g_tmp[64];

/* Copies the tokenizer keys of fixture vocab name, applies edit, and loads the result. */
static int load_edited(const char *name, void (*edit)(struct gguf_writer *w), struct tok **t,
                       struct err *e)
{
    char rel[256];
    snprintf(rel, sizeof rel, "vocab/ggml-vocab-%s.gguf", name);
    struct gguf *g;
    if (gguf_open(check_fixture(rel), &g, e))
        return -1;
    struct gguf_writer *w = gguf_writer_new();
    for (int64_t i = 0; i < gguf_n_kv(g); i++)
        gguf_writer_copy_kv(w, g, i);
    gguf_close(g);
    edit(w);
    snprintf(g_tmp, sizeof g_tmp, "/tmp/baton-test-tok-%d.gguf", (int)getpid());
    if (gguf_writer_open(w, g_tmp, e) || gguf_writer_close(w, e)) {
        gguf_writer_free(w);
        return -1;
    }
    gguf_writer_free(w);
    if (gguf_open(g_tmp, &g, e))
        return -1;
    *t = NULL;
    int r = tok_load(g, t, e);
    gguf_close(g);
    unlink(g_tmp);
    return r;
}

static void edit_no_merges(struct gguf_writer *w) { gguf_writer_remove(w, "tokenizer.ggml.merges"); }
static void edit_bert(struct gguf_writer *w) { gguf_writer_set_str(w, "tokenizer.ggml.model", "bert"); }
static void edit_no_model(struct gguf_writer *w) { gguf_writer_remove(w, "tokenizer.ggml.model"); }
static void edit_pre(struct gguf_writer *w) { gguf_writer_set_str(w, "tokenizer.ggml.pre", "nonesuch"); }
static void edit_no_pre(struct gguf_writer *w) { gguf_writer_remove(w, "tokenizer.ggml.pre"); }
static void edit_add_eos(struct gguf_writer *w) { gguf_writer_set_bool(w, "tokenizer.ggml.add_eos_token", true); }
static void edit_bad_eos(struct gguf_writer *w) { gguf_writer_set_u32(w, "tokenizer.ggml.eos_token_id", 1u << 30); }
static void edit_scores(struct gguf_writer *w)
{
    float s[3] = {0, 0, 0};
    gguf_writer_set_arr(w, "tokenizer.ggml.scores", GGUF_FLOAT32, s, 3);
}
static void edit_dup(struct gguf_writer *w)
{
    const char *toks[] = {"a", "b", "a"};
    gguf_writer_set_arr_str(w, "tokenizer.ggml.tokens", toks, NULL, 3);
    int32_t types[] = {1, 1, 1};
    gguf_writer_set_arr(w, "tokenizer.ggml.token_type", GGUF_INT32, types, 3);
    gguf_writer_remove(w, "tokenizer.ggml.scores");
}

static void test_load_errors(void)
{
    struct err e;
    struct tok *t;
    CHECK(load_edited("gpt-2", edit_no_merges, &t, &e) != 0 && strstr(e.msg, "tokenizer.ggml.merges: missing"));
    CHECK(load_edited("gpt-2", edit_bert, &t, &e) != 0 && strstr(e.msg, "'bert' is not supported"));
    CHECK(load_edited("gpt-2", edit_no_model, &t, &e) != 0 && strstr(e.msg, "tokenizer.ggml.model: missing"));
    CHECK(load_edited("gpt-2", edit_pre, &t, &e) != 0 && strstr(e.msg, "'nonesuch' is not supported") &&
          strstr(e.msg, "llama-bpe") && strstr(e.msg, "deepseek-llm"));
    CHECK(load_edited("llama-spm", edit_scores, &t, &e) != 0 && strstr(e.msg, "3 scores for 32000 tokens"));
    CHECK(load_edited("llama-spm", edit_dup, &t, &e) != 0 && strstr(e.msg, "same text 'a'"));
    fprintf(stderr, "  e.g. %s\n", e.msg);

    /* a missing pre means "default" (llama.cpp warns and does the same) */
    if (CHECK_OK(load_edited("gpt-2", edit_no_pre, &t, &e) == 0)) {
        int32_t *ids;
        size_t n = encode(t, "a 1234", 6, false, false, &ids);
        CHECK_EQ_INT(n, 4); /* default splits digits into 123 + 4 */
        free(ids);
        tok_free(t);
    }
    /* add_eos_token appends EOS (together with BOS, when add_special) */
    if (CHECK_OK(load_edited("llama-spm", edit_add_eos, &t, &e) == 0)) {
        int32_t *ids;
        size_t n = encode(t, "hi", 2, true, false, &ids);
        CHECK(n >= 3 && ids[0] == 1 && ids[n - 1] == 2);
        free(ids);
        tok_free(t);
    }
    /* an out-of-range special id keeps the default */
    if (CHECK_OK(load_edited("gpt-2", edit_bad_eos, &t, &e) == 0)) {
        CHECK_EQ_INT(tok_eos(t), 11);
        tok_free(t);
    }
}

/* ---- tokenizer.json import ---- */

static void test_import(void)
{
    struct err e;
    struct gguf_writer *w = gguf_writer_new();
    int r = tok_import_json(check_fixture("vocab/smollm2-135m-tokenizer.json"), w, NULL, &e);
    CHECK_MSG(r == 0, "%s", e.msg);
    snprintf(g_tmp, sizeof g_tmp, "/tmp/baton-test-import-%d.gguf", (int)getpid());
    struct gguf *g = NULL;
    if (r == 0 && gguf_writer_open(w, g_tmp, &e) == 0 && gguf_writer_close(w, &e) == 0 &&
        gguf_open(g_tmp, &g, &e) == 0) {
        struct gguf_str s;
        CHECK(gguf_get_str(g, "tokenizer.ggml.pre", &s, &e) == 1 && gguf_str_eq(s, "smollm"));
        struct tok *t = NULL;
        CHECK(tok_load(g, &t, &e) == 0);
        if (t) {
            CHECK_EQ_INT(tok_n_vocab(t), 49152);
            CHECK(tok_bos(t) == 0 && tok_eos(t) == 0 && !tok_add_bos(t));
            CHECK(tok_is_control(t, 1) && tok_is_eog(t, 2)); /* <|im_start|>, <|im_end|> */
            int32_t *ids;
            size_t n = encode(t, "Hello 12", 8, false, true, &ids);
            CHECK(n == 4 && ids[0] == 19556); /* digits one by one */
            free(ids);
            tok_free(t);
        }
        gguf_close(g);
    }
    gguf_writer_free(w);
    unlink(g_tmp);

    struct { const char *json; const char *err; } bad[] = {
        {"{\"model\": ", "line 1"},
        {"[1, 2]", "not a JSON object"},
        {"{\"model\": {\"type\": \"Unigram\"}, \"pre_tokenizer\": {\"type\": \"ByteLevel\", \"use_regex\": true}}",
         "'Unigram' is not supported"},
        {"{\"model\": {\"type\": \"BPE\", \"vocab\": {\"a\": 0}, \"merges\": []}, \"pre_tokenizer\": "
         "{\"type\": \"ByteLevel\", \"use_regex\": true}}", "merges: missing or empty"},
        {"{\"model\": {\"type\": \"BPE\", \"vocab\": {\"a\": 0}, \"merges\": [\"a a\"]}, \"pre_tokenizer\": "
         "{\"type\": \"Whitespace\"}}", "cannot tell the pre-tokenizer"},
        {"{\"model\": {\"type\": \"BPE\", \"vocab\": {\"a\": 0, \"b\": 0}, \"merges\": [\"a b\"]}, "
         "\"pre_tokenizer\": {\"type\": \"ByteLevel\", \"use_regex\": true}}", "id 0 is given to both"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        w = gguf_writer_new();
        CHECK_MSG(tok_import_json_mem(bad[i].json, strlen(bad[i].json), w, NULL, &e) != 0 &&
                      strstr(e.msg, bad[i].err),
                  "case %zu: %s", i, e.msg);
        gguf_writer_free(w);
    }
    /* an explicit pre-tokenizer name bypasses detection */
    w = gguf_writer_new();
    const char *ok = "{\"model\": {\"type\": \"BPE\", \"vocab\": {\"a\": 0, \"b\": 1, \"ab\": 2}, "
                     "\"merges\": [[\"a\", \"b\"]]}, \"pre_tokenizer\": null}";
    CHECK_MSG(tok_import_json_mem(ok, strlen(ok), w, "gpt-2", &e) == 0, "%s", e.msg);
    gguf_writer_free(w);
}

/* ---- the Unicode tables where versions or conventions could differ ---- */

static void test_unicode(void)
{
    CHECK(unicode_flags('a') == UNICODE_LETTER && unicode_flags('7') == UNICODE_NUMBER);
    CHECK(unicode_flags(' ') == (UNICODE_SEPARATOR | UNICODE_WHITESPACE));
    CHECK(unicode_flags('\n') == (UNICODE_CONTROL | UNICODE_WHITESPACE));
    CHECK(unicode_flags(0x1C) == UNICODE_CONTROL);          /* not White_Space */
    CHECK(unicode_flags(0x85) & UNICODE_WHITESPACE);        /* NEL is */
    CHECK(unicode_flags(0x200B) == UNICODE_CONTROL);        /* ZWSP: Cf, not White_Space */
    CHECK(unicode_flags(0x180E) == UNICODE_CONTROL);        /* Mongolian VS: Cf since 6.3 */
    CHECK(unicode_flags(0x3000) == (UNICODE_SEPARATOR | UNICODE_WHITESPACE));
    CHECK(unicode_flags(0x0301) == UNICODE_MARK && unicode_flags(0x00B2) == UNICODE_NUMBER);
    CHECK(unicode_flags('$') == UNICODE_SYMBOL && unicode_flags('_') == UNICODE_PUNCT);
    CHECK(unicode_flags(0xFFFD) == UNICODE_SYMBOL && unicode_flags(0x0378) == UNICODE_UNDEFINED);
    CHECK(unicode_flags(0xE000) == UNICODE_CONTROL && unicode_flags(0xD800) == UNICODE_CONTROL);
    CHECK(unicode_flags(0x110000) == UNICODE_UNDEFINED);
    /* Unicode 15.0 and 15.1 additions, which llama.cpp's 15.1 tables have */
    CHECK(unicode_flags(0x1FAE8) == UNICODE_SYMBOL);        /* shaking face, 15.0 */
    CHECK(unicode_flags(0x31350) == UNICODE_LETTER);        /* CJK Ext H, 15.0 */
    CHECK(unicode_flags(0x2EBF0) == UNICODE_LETTER);        /* CJK Ext I, 15.1 */
    CHECK(unicode_flags(0x31EF) == UNICODE_SYMBOL);         /* 15.1 */
    CHECK(unicode_flags(0x10D40) == UNICODE_UNDEFINED);     /* Garay, 16.0: not yet */
    CHECK(unicode_tolower('S') == 's' && unicode_tolower(0x130) == 'i' && unicode_tolower(0x212A) == 'k');
    CHECK(unicode_tolower(0x3A3) == 0x3C3 && unicode_tolower('7') == '7');

    size_t off = 0;
    CHECK(unicode_decode("\xe2\x82\xac", 3, &off) == 0x20AC && off == 3);
    struct { const char *s; size_t n; uint32_t cp; size_t adv; } dec[] = {
        {"\x80", 1, UNICODE_REPLACEMENT, 1}, {"\xc3", 1, UNICODE_REPLACEMENT, 1},
        {"\xc3(", 2, UNICODE_REPLACEMENT, 1}, {"\xc0\xaf", 2, '/', 2},  /* overlong accepted */
        {"\xed\xa0\x80", 3, 0xD800, 3},                                 /* surrogate accepted */
        {"\xf4\x90\x80\x80", 4, UNICODE_REPLACEMENT, 1},                 /* > U+10FFFF */
        {"\xf8\x88\x80\x80", 4, UNICODE_REPLACEMENT, 1}, {"\xff", 1, UNICODE_REPLACEMENT, 1},
    };
    for (size_t i = 0; i < sizeof dec / sizeof *dec; i++) {
        off = 0;
        uint32_t cp = unicode_decode(dec[i].s, dec[i].n, &off);
        CHECK_MSG(cp == dec[i].cp && off == dec[i].adv, "case %zu: %x +%zu", i, cp, off);
    }
    char u[4];
    CHECK(unicode_encode(0x1F999, u) == 4 && unicode_encode(0x110000, u) == 0);
    /* the GPT-2 byte map is a bijection onto printable code points */
    bool seen[0x144] = {0};
    for (int b = 0; b < 256; b++) {
        uint32_t cp = unicode_byte_to_cp((uint8_t)b);
        CHECK(cp < 0x144 && !seen[cp] && unicode_cp_to_byte(cp) == b);
        if (cp < 0x144)
            seen[cp] = true;
    }
    CHECK(unicode_byte_to_cp(' ') == 0x120 && unicode_byte_to_cp('\n') == 0x10A && unicode_byte_to_cp(0xAD) == 0x143);
    CHECK(unicode_cp_to_byte(0x144) == -1 && unicode_cp_to_byte(0x20) == -1);
}

int main(void)
{
    RUN(test_pairs_spm);
    RUN(test_pairs_bpe);
    RUN(test_roundtrip);
    RUN(test_utf8_split);
    RUN(test_special);
    RUN(test_bos_eos);
    RUN(test_load_errors);
    RUN(test_import);
    RUN(test_unicode);
    return check_report();
}
