/* libFuzzer target: the GBNF parser and matcher on arbitrary bytes.
 *
 * Input: the grammar text, optionally followed by a NUL byte and a text to match. The grammar
 * must either be refused with a message, or compile; then the text is fed byte by byte and the
 * matcher must be self-consistent: grammar_accepts agrees with grammar_advance, a refused byte
 * leaves the state unchanged, grammar_finished implies grammar_complete, grammar_compact changes
 * nothing observable, grammar_matches on the accepted prefix agrees with the byte walk, and a
 * failed grammar (state explosion) says why. At the start and at the end of the walk the
 * vocabulary mask (llama-spm vocabulary, loaded once like fuzz_tokenizer's) must agree with
 * grammar_allows_token on a sample of tokens.
 *
 * Seeds in corpus/grammar/: the grammars of test_grammar.c, JSON and arithmetic grammars, the
 * JSON-schema converter's output for a few schemas, and malformed ones.
 */
#include "engine/gguf.h"
#include "engine/grammar.h"
#include "engine/tokenizer.h"

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static struct tok *g_tok;
static struct grammar_vocab *g_vocab;
static uint32_t *g_mask;

static bool try_dir(const char *dir, char *out, size_t cap)
{
    if (!dir || !*dir)
        return false;
    snprintf(out, cap, "%s/vocab/ggml-vocab-llama-spm.gguf", dir);
    FILE *f = fopen(out, "rb");
    if (!f)
        return false;
    fclose(f);
    return true;
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    char path[4200], src[4096];
    snprintf(src, sizeof src, "%s", __FILE__); /* .../tests/fuzz/fuzz_grammar.c */
    char *cut = strstr(src, "/tests/fuzz/");
    if (cut)
        strcpy(cut, "/../shared");
    const char *cands[] = {getenv("BATON_FIXTURES"), getenv("BATON_FIXTURES_DEFAULT"), "../shared",
                           "../../shared", cut ? src : NULL};
    bool found = false;
    for (size_t i = 0; i < sizeof cands / sizeof *cands && !found; i++)
        found = try_dir(cands[i], path, sizeof path);
    if (!found) {
        fprintf(stderr, "fuzz_grammar: fixtures not found; set BATON_FIXTURES to the directory "
                        "holding vocab/ggml-vocab-llama-spm.gguf\n");
        abort();
    }
    struct err e;
    struct gguf *g;
    if (gguf_open(path, &g, &e) || tok_load(g, &g_tok, &e)) {
        fprintf(stderr, "fuzz_grammar: %s: %s\n", path, e.msg);
        abort();
    }
    gguf_close(g);
    g_vocab = grammar_vocab_new(g_tok, false);
    g_mask = malloc(((size_t)grammar_vocab_n(g_vocab) + 31) / 32 * sizeof *g_mask);
    if (!g_vocab || !g_mask)
        abort();
    return 0;
}

/* The mask agrees with the per-token check on a spread of ids (all of them is too slow). */
static void check_mask(struct grammar *g, uint32_t salt)
{
    int32_t n = grammar_vocab_n(g_vocab);
    int32_t allowed = grammar_mask(g, g_vocab, g_mask);
    if (allowed < 0) {
        if (!grammar_error(g))
            abort();
        return;
    }
    int32_t count = 0;
    for (int32_t w = 0; w < (n + 31) / 32; w++)
        count += __builtin_popcount(g_mask[w]);
    if (count != allowed)
        abort();
    for (int32_t i = 0; i < 64; i++) {
        int32_t id = (int32_t)((salt + (uint32_t)i * 2654435761u) % (uint32_t)n);
        bool in_mask = (g_mask[id / 32] >> (id % 32)) & 1;
        if (in_mask != grammar_allows_token(g, g_vocab, id))
            abort();
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const uint8_t *nul = memchr(data, 0, size);
    size_t glen = nul ? (size_t)(nul - data) : size;
    const char *text = nul ? (const char *)nul + 1 : "";
    size_t tlen = nul ? size - glen - 1 : 0;
    char *copy = malloc(glen ? glen : 1); /* exact size: ASan sees any read past the end */
    if (glen)
        memcpy(copy, data, glen);
    struct err e;
    struct grammar *g = NULL;
    int rc = grammar_parse(copy, glen, NULL, &g, &e);
    free(copy);
    if (rc) {
        if (!e.msg[0] || g)
            abort();
        return 0;
    }
    uint32_t salt = (uint32_t)size * 40503u;
    check_mask(g, salt);
    char *acc = malloc(tlen ? tlen : 1); /* the accepted bytes, in order */
    size_t accepted = 0;
    for (size_t i = 0; i < tlen; i++) {
        bool complete = grammar_complete(g), finished = grammar_finished(g);
        if (finished && !complete)
            abort();
        bool ok = grammar_accepts(g, text + i, 1);
        if (ok != (grammar_advance(g, text + i, 1, &e) == 0))
            abort();
        if (!ok) {
            /* state unchanged: the same answers as before */
            if (grammar_complete(g) != complete || grammar_finished(g) != finished)
                abort();
            if (grammar_error(g))
                break;
            continue; /* skip the byte, as a sampler would skip a refused token */
        }
        acc[accepted++] = text[i];
        if (i % 16 == 15) {
            bool c = grammar_complete(g);
            grammar_compact(g);
            if (grammar_complete(g) != c)
                abort();
        }
    }
    check_mask(g, salt ^ 0x9e3779b9u);
    /* Finished: no byte may follow. */
    if (grammar_finished(g))
        for (int b = 0; b < 256; b++)
            if (grammar_accepts(g, (const char *)&(unsigned char){(unsigned char)b}, 1))
                abort();
    /* The whole-string check from the start agrees with the walk (unless the walk failed). */
    if (!grammar_error(g)) {
        bool complete = grammar_complete(g);
        if (grammar_matches(g, acc, accepted) != complete && !grammar_error(g))
            abort();
    }
    free(acc);
    grammar_free(g);
    return 0;
}
