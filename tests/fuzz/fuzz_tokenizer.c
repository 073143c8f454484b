/* libFuzzer target: tokenization and detokenization of arbitrary bytes.
 *
 * Input: byte 0 picks the vocabulary (llama-spm = SentencePiece; gpt-2, llama-bpe,
 * deepseek-coder = byte-level BPE with the gpt2 / llama3 / regex-path pre-tokenizers) and the
 * add_special / parse_special flags; the rest is the text. Every id must be in range and every
 * piece readable. For strictly valid UTF-8 without special-token parsing, detokenize(tokenize(x))
 * must give x back (BPE), or " " + x with U+2581 read as a space (SPM, which prefixes a space and
 * stores spaces as U+2581). Invalid UTF-8 has no such guarantee: BPE turns it into U+FFFD and
 * accepts overlong forms, as llama.cpp does.
 *
 * Vocabularies load once from $BATON_FIXTURES/vocab, else $BATON_FIXTURES_DEFAULT, ../shared,
 * ../../shared, or ../shared beside the source tree this file was compiled from.
 */
#include "engine/gguf.h"
#include "engine/tokenizer.h"

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const char *const g_names[] = {"llama-spm", "gpt-2", "llama-bpe", "deepseek-coder"};
#define N_VOCABS (sizeof g_names / sizeof *g_names)
static struct tok *g_tok[N_VOCABS];

static bool try_dir(const char *dir, char *out, size_t cap)
{
    if (!dir || !*dir)
        return false;
    snprintf(out, cap, "%s/vocab/ggml-vocab-llama-spm.gguf", dir);
    FILE *f = fopen(out, "rb");
    if (!f)
        return false;
    fclose(f);
    snprintf(out, cap, "%s", dir);
    return true;
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    char dir[4096], src[4096];
    /* ../shared beside the source tree: __FILE__ is .../tests/fuzz/fuzz_tokenizer.c */
    snprintf(src, sizeof src, "%s", __FILE__);
    char *cut = strstr(src, "/tests/fuzz/");
    if (cut)
        strcpy(cut, "/../shared");
    const char *cands[] = {getenv("BATON_FIXTURES"), getenv("BATON_FIXTURES_DEFAULT"), "../shared",
                           "../../shared", cut ? src : NULL};
    bool found = false;
    for (size_t i = 0; i < sizeof cands / sizeof *cands && !found; i++)
        found = try_dir(cands[i], dir, sizeof dir);
    if (!found) {
        fprintf(stderr, "fuzz_tokenizer: fixtures not found; set BATON_FIXTURES to the directory "
                        "holding vocab/ggml-vocab-*.gguf\n");
        abort();
    }
    for (size_t v = 0; v < N_VOCABS; v++) {
        char path[4200];
        snprintf(path, sizeof path, "%s/vocab/ggml-vocab-%s.gguf", dir, g_names[v]);
        struct err e;
        struct gguf *g;
        if (gguf_open(path, &g, &e) || tok_load(g, &g_tok[v], &e)) {
            fprintf(stderr, "fuzz_tokenizer: %s: %s\n", path, e.msg);
            abort();
        }
        gguf_close(g);
    }
    return 0;
}

/* Strict UTF-8: shortest form, no surrogates, at most U+10FFFF. */
static bool valid_utf8(const uint8_t *s, size_t n)
{
    for (size_t i = 0; i < n;) {
        uint8_t c = s[i];
        size_t len = c < 0x80 ? 1 : (c & 0xE0) == 0xC0 ? 2 : (c & 0xF0) == 0xE0 ? 3 : (c & 0xF8) == 0xF0 ? 4 : 0;
        if (!len || i + len > n)
            return false;
        uint32_t cp = len == 1 ? c : c & (0x7F >> len);
        for (size_t k = 1; k < len; k++) {
            if ((s[i + k] & 0xC0) != 0x80)
                return false;
            cp = (cp << 6) | (s[i + k] & 0x3F);
        }
        static const uint32_t min_cp[5] = {0, 0, 0x80, 0x800, 0x10000};
        if (cp < min_cp[len] || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF))
            return false;
        i += len;
    }
    return true;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    const struct tok *t = g_tok[data[0] % N_VOCABS];
    bool spm = data[0] % N_VOCABS == 0;
    bool parse_special = data[0] & 0x10, add_special = data[0] & 0x20;
    size_t n = size - 1;
    char *text = malloc(n ? n : 1); /* exact size: ASan catches reads past the end */
    memcpy(text, data + 1, n);

    int32_t *ids = NULL;
    size_t n_ids = 0;
    struct err e;
    if (tok_encode(t, text, n, add_special, parse_special, &ids, &n_ids, &e)) {
        fprintf(stderr, "tok_encode failed: %s\n", e.msg);
        abort();
    }
    size_t cap = 16 * n + 64, len = 0;
    char *out = malloc(cap);
    for (size_t i = 0; i < n_ids; i++) {
        if (ids[i] < 0 || ids[i] >= tok_n_vocab(t))
            abort();
        size_t k = tok_piece(t, ids[i], out + len, cap - len, false);
        if (len + k > cap)
            abort(); /* a piece bigger than 16 bytes per input byte: not expected */
        len += k;
    }
    (void)tok_utf8_complete(out, len);

    if (!parse_special && !add_special && valid_utf8(data + 1, n)) {
        /* expected text: x (BPE) or " " + x with U+2581 as space (SPM, non-empty x) */
        char *want = malloc(n + 2);
        size_t w = 0;
        if (spm && n)
            want[w++] = ' ';
        for (size_t i = 0; i < n; i++) {
            if (spm && i + 2 < n && memcmp(text + i, "\xe2\x96\x81", 3) == 0) {
                want[w++] = ' ';
                i += 2;
            } else {
                want[w++] = text[i];
            }
        }
        if (w != len || memcmp(want, out, w) != 0) {
            fprintf(stderr, "round trip failed (%s): %zu bytes in, %zu out\n",
                    g_names[data[0] % N_VOCABS], w, len);
            abort();
        }
        free(want);
    }
    free(out);
    free(ids);
    free(text);
    return 0;
}
