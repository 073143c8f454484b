/* tok_impl: the inside of struct tok, shared by the tokenizer's files and nobody else.
 *
 *   tokenizer.c  loading from GGUF metadata, special-token partition, encode driver, pieces
 *   tok_spm.c    SentencePiece: score-ordered bigram merges over UTF-8 characters, byte fallback
 *   tok_bpe.c    byte-level BPE: rank-ordered merges inside each pre-tokenized word
 *   tok_pretok.c the pre-tokenizers (the split patterns, as hand-written matchers)
 *
 * Every table is copied out of the GGUF at load, so a struct tok outlives its file. Token and
 * merge lookups go through open-addressing hash tables keyed by the bytes (load is O(n)).
 */
#ifndef BATON_ENGINE_TOK_IMPL_H
#define BATON_ENGINE_TOK_IMPL_H

#include "engine/tokenizer.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum tok_model { TOK_MODEL_SPM, TOK_MODEL_BPE };

/* Pre-tokenizer families: one per distinct split-pattern list in llama.cpp's
 * llm_tokenizer_bpe (several tokenizer.ggml.pre names share one family). */
enum tok_pre {
    TOK_PRE_DEFAULT,
    TOK_PRE_LLAMA3,
    TOK_PRE_QWEN2,
    TOK_PRE_GPT2,
    TOK_PRE_STARCODER,
    TOK_PRE_DEEPSEEK_CODER,
    TOK_PRE_DEEPSEEK_LLM,
    TOK_PRE_FALCON,
};

/* Token attributes: the bits of llama.cpp's llama_token_attr. */
enum tok_attr {
    TOK_ATTR_UNDEFINED = 0,
    TOK_ATTR_UNKNOWN = 1 << 0,
    TOK_ATTR_UNUSED = 1 << 1,
    TOK_ATTR_NORMAL = 1 << 2,
    TOK_ATTR_CONTROL = 1 << 3,
    TOK_ATTR_USER_DEFINED = 1 << 4,
    TOK_ATTR_BYTE = 1 << 5,
    TOK_ATTR_LSTRIP = 1 << 7,
    TOK_ATTR_RSTRIP = 1 << 8,
};

/* Open-addressing hash set of indices: slot = (hash tag << 32) | (index + 1), 0 = empty; the
 * keys live elsewhere. */
struct tok_hash {
    uint64_t *slot;
    size_t mask; /* capacity - 1, capacity a power of two at least twice the entries */
};

struct tok {
    enum tok_model model;
    enum tok_pre pre;
    int32_t n_vocab;

    /* token id -> text (bytes in text_arena), score, attributes (enum tok_attr bits) */
    char *text_arena;
    uint32_t *text_off;
    uint32_t *text_len;
    float *score;
    uint32_t *attr;
    struct tok_hash by_text;

    /* BPE merges: merge i (rank i) joins merge_arena[off, off+left_len) with the right_len bytes
     * after the separating space. */
    char *merge_arena;
    uint32_t *merge_off;
    uint32_t *merge_left_len;
    uint32_t *merge_right_len;
    uint32_t n_merges;
    struct tok_hash by_pair;

    /* detokenized bytes per token as llama.cpp's token_to_piece(special=true) gives them */
    char *piece_arena;
    uint32_t *piece_off;
    uint32_t *piece_len;

    int32_t bos, eos, eot, eom, unk, sep, pad, mask;
    int32_t fim_pre, fim_suf, fim_mid, fim_pad, fim_rep, fim_sep;
    bool add_bos, add_eos, add_space_prefix;
    bool ignore_merges; /* BPE: a pre-tokenized word that is itself a token skips merging */
    uint8_t *eog;       /* per id: 1 if end of generation */

    /* CONTROL / USER_DEFINED / UNKNOWN ids, longest text first (ties: lower id first) */
    int32_t *special;
    size_t n_special;

    /* SPM byte fallback: the id of <0xXX> (or of the one-byte token) per byte, -1 if none */
    int32_t byte_token[256];
};

/* A growing list of token ids. */
struct tok_ids {
    int32_t *v;
    size_t n, cap;
};

void tok_ids_push(struct tok_ids *ids, int32_t id);

/* The merge loop SentencePiece and BPE share (tok_merge.c): a word's UTF-8 characters become
 * symbols, then the best adjacent pair is merged until no pair qualifies. key_fn says whether
 * the pair text[0..n_left+n_right) (left symbol then right symbol) may merge and with what
 * priority (higher first; equal priorities merge the leftmost pair first, as llama.cpp does). */
struct tok_sym {
    const char *text;
    uint32_t n;           /* bytes; 0 once merged into its left neighbour */
    int32_t prev, next;   /* -1 at the ends */
};

struct tok_bigram {
    double key;
    int32_t left, right;
    uint32_t size;        /* bytes of the pair when queued: stale if the symbols changed */
};

struct tok_work {
    struct tok_sym *sym;
    size_t n_sym, sym_cap;
    struct tok_bigram *heap;
    size_t n_heap, heap_cap;
};

typedef bool (*tok_pair_key_fn)(const struct tok *t, const char *text, size_t n_left,
                                size_t n_right, double *key);

/* Merges the word s[0..n) into w->sym (read from index 0 along next; n == 0 gives no symbols). */
void tok_merge_word(const struct tok *t, const char *s, size_t n, tok_pair_key_fn key_fn,
                    struct tok_work *w);
void tok_work_free(struct tok_work *w);

/* Token id of the exact bytes s[0..n), -1 if none (any token type). */
int32_t tok_lookup(const struct tok *t, const char *s, size_t n);
/* Rank of the merge (a, b), -1 if there is none. */
int32_t tok_merge_rank(const struct tok *t, const char *a, size_t na, const char *b, size_t nb);

/* SentencePiece-encodes text[0..n) (spaces already escaped to U+2581) onto out. */
void tok_spm_encode(const struct tok *t, const char *text, size_t n, struct tok_ids *out);
/* Pre-tokenizes and BPE-encodes one raw text fragment onto out. */
void tok_bpe_encode(const struct tok *t, const char *text, size_t n, struct tok_ids *out);

/* Splits code points cps[0..n) into words by pre-tokenizer pre. Writes the word end offsets
 * (in code points, increasing, the last = n) into *ends (caller frees) and returns their count. */
size_t tok_pretok_split(enum tok_pre pre, const uint32_t *cps, size_t n, size_t **ends);

#endif
