/* tok_spm: SentencePiece BPE as llama.cpp runs it (llm_tokenizer_spm_session).
 *
 * The fragment arrives with spaces already replaced by U+2581 (and a leading one added when the
 * vocabulary asks for a space prefix). It is cut into UTF-8 characters by lead byte (no
 * validation), then adjacent symbols whose concatenation is a vocabulary token merge, highest
 * token score first. A final symbol that is not a token (a character missing from the
 * vocabulary, or a stray byte) falls back to one <0xXX> token per byte.
 *
 * llama.cpp's session also keeps a reverse-merge map to re-split symbols that are not tokens;
 * since a symbol only grows by merging into a token, a multi-character symbol is always a
 * token and that map is never consulted, so we do without it.
 */
#include "engine/tok_impl.h"

static bool spm_pair_key(const struct tok *t, const char *text, size_t n_left, size_t n_right,
                         double *key)
{
    int32_t id = tok_lookup(t, text, n_left + n_right);
    if (id < 0)
        return false;
    *key = t->score[id];
    return true;
}

void tok_spm_encode(const struct tok *t, const char *text, size_t n, struct tok_ids *out)
{
    struct tok_work w = {0};
    tok_merge_word(t, text, n, spm_pair_key, &w);
    for (int32_t i = w.n_sym ? 0 : -1; i >= 0; i = w.sym[i].next) {
        const struct tok_sym *s = &w.sym[i];
        int32_t id = tok_lookup(t, s->text, s->n);
        if (id >= 0) {
            tok_ids_push(out, id);
            continue;
        }
        for (uint32_t j = 0; j < s->n; j++) {
            /* llama.cpp throws (and aborts) when a byte has no token; we fall back to the
             * unknown token, or drop the byte if there is none either. */
            int32_t b = t->byte_token[(unsigned char)s->text[j]];
            if (b < 0)
                b = t->unk;
            if (b >= 0)
                tok_ids_push(out, b);
        }
    }
    tok_work_free(&w);
}
