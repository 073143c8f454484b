/* tok_bpe: byte-level BPE as llama.cpp runs it (llm_tokenizer_bpe_session).
 *
 * A raw fragment is decoded to code points (invalid bytes become U+FFFD), split into words by
 * the pre-tokenizer, and each word is re-encoded: every UTF-8 byte of the word becomes its GPT-2
 * stand-in code point. Inside a word, adjacent symbols merge by merge rank (lowest first).
 * A final symbol that is not a token is emitted byte by byte, each byte looked up as a
 * one-byte token and dropped if there is none (so in practice only ASCII survives), exactly
 * as llama.cpp does. With ignore_merges (llama3-style), a word that is itself a token is
 * emitted whole.
 */
#include "engine/tok_impl.h"

#include "base/alloc.h"
#include "engine/unicode.h"

#include <stdlib.h>

static bool bpe_pair_key(const struct tok *t, const char *text, size_t n_left, size_t n_right,
                         double *key)
{
    int32_t rank = tok_merge_rank(t, text, n_left, text + n_left, n_right);
    if (rank < 0)
        return false;
    *key = -(double)rank;
    return true;
}

static void bpe_word(const struct tok *t, const char *word, size_t n, struct tok_work *w,
                     struct tok_ids *out)
{
    if (t->ignore_merges) {
        int32_t id = tok_lookup(t, word, n);
        if (id >= 0) {
            tok_ids_push(out, id);
            return;
        }
    }
    tok_merge_word(t, word, n, bpe_pair_key, w);
    for (int32_t i = w->n_sym ? 0 : -1; i >= 0; i = w->sym[i].next) {
        const struct tok_sym *s = &w->sym[i];
        int32_t id = tok_lookup(t, s->text, s->n);
        if (id >= 0) {
            tok_ids_push(out, id);
            continue;
        }
        for (uint32_t j = 0; j < s->n; j++) {
            id = tok_lookup(t, s->text + j, 1);
            if (id >= 0)
                tok_ids_push(out, id);
        }
    }
}

void tok_bpe_encode(const struct tok *t, const char *text, size_t n, struct tok_ids *out)
{
    /* UTF-8 of each byte's stand-in code point (at most 2 bytes: they are all below U+0800) */
    char stand_in[256][2];
    uint8_t stand_in_len[256];
    for (int b = 0; b < 256; b++) {
        char tmp[4];
        stand_in_len[b] = (uint8_t)unicode_encode(unicode_byte_to_cp((uint8_t)b), tmp);
        stand_in[b][0] = tmp[0];
        stand_in[b][1] = tmp[1];
    }

    uint32_t *cps = xmalloc_array(n ? n : 1, sizeof *cps);
    size_t n_cps = 0;
    for (size_t off = 0; off < n;)
        cps[n_cps++] = unicode_decode(text, n, &off);

    size_t *ends;
    size_t n_words = tok_pretok_split(t->pre, cps, n_cps, &ends);

    struct tok_work w = {0};
    char *word = NULL;
    size_t word_cap = 0;
    size_t start = 0;
    for (size_t k = 0; k < n_words; k++) {
        /* a code point is at most 4 UTF-8 bytes, each becoming at most 2 */
        size_t need = (ends[k] - start) * 8;
        if (need > word_cap) {
            word_cap = need * 2;
            free(word);
            word = xmalloc(word_cap);
        }
        size_t len = 0;
        for (size_t i = start; i < ends[k]; i++) {
            char u[4];
            size_t ul = unicode_encode(cps[i], u);
            for (size_t j = 0; j < ul; j++) {
                unsigned char b = (unsigned char)u[j];
                for (uint8_t q = 0; q < stand_in_len[b]; q++)
                    word[len++] = stand_in[b][q];
            }
        }
        bpe_word(t, word, len, &w, out);
        start = ends[k];
    }
    free(word);
    free(ends);
    free(cps);
    tok_work_free(&w);
}
