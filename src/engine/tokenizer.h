/* tokenizer: text <-> token ids, driven entirely by a GGUF file's tokenizer.* metadata, producing
 * the ids llama.cpp produces.
 *
 * Models (tokenizer.ggml.model): "llama" (SentencePiece: score-driven merges, byte fallback
 * <0xXX>, U+2581 for spaces, add_space_prefix) and "gpt2" (byte-level BPE: rank-driven merges
 * from tokenizer.ggml.merges, bytes mapped to printable code points, a pre-tokenizer regex chosen
 * by tokenizer.ggml.pre: llama-bpe/llama3, qwen2, gpt-2, smollm, starcoder, deepseek-coder,
 * falcon, default). Special and added tokens (token_type CONTROL / USER_DEFINED) are matched in
 * the input text when parse_special is set, longest first, as llama.cpp does.
 */
#ifndef BATON_ENGINE_TOKENIZER_H
#define BATON_ENGINE_TOKENIZER_H

#include "base/err.h"
#include "engine/gguf.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct tok;

/* Builds a tokenizer from g's metadata. Copies what it keeps: g may be closed afterwards.
 * Fails with a clear message on a missing or unsupported tokenizer model or pre-tokenizer. */
int tok_load(const struct gguf *g, struct tok **out, struct err *e);
void tok_free(struct tok *t);

int32_t tok_n_vocab(const struct tok *t);
int32_t tok_bos(const struct tok *t); /* -1 if none */
int32_t tok_eos(const struct tok *t); /* -1 if none */
bool tok_add_bos(const struct tok *t);
bool tok_add_eos(const struct tok *t);
/* End of generation: EOS, EOT, EOM and the like (as llama.cpp's llama_vocab_is_eog). */
bool tok_is_eog(const struct tok *t, int32_t id);
/* Control tokens (BOS/EOS/<|im_start|> ...), which detokenization skips unless asked. */
bool tok_is_control(const struct tok *t, int32_t id);
/* The token's text as stored in the vocabulary (not detokenized); NULL if id is out of range. */
const char *tok_text(const struct tok *t, int32_t id, size_t *len);
/* Looks a token up by its exact vocabulary text; -1 if absent. */
int32_t tok_find(const struct tok *t, const char *text, size_t len);

/* Tokenizes text[0..len). add_special adds BOS/EOS as the metadata says; parse_special matches
 * special-token text in the input. On success *ids (caller frees) holds *n_ids ids. */
int tok_encode(const struct tok *t, const char *text, size_t len, bool add_special,
               bool parse_special, int32_t **ids, size_t *n_ids, struct err *e);

/* Writes token id's detokenized bytes (may be part of a UTF-8 character) into out (capacity
 * cap) and returns the byte count, which may exceed cap (then nothing useful was written: retry
 * with a larger buffer). Control tokens render as "" unless render_special. Matches llama.cpp's
 * llama_token_to_piece(..., lstrip=0, special=render_special). */
size_t tok_piece(const struct tok *t, int32_t id, char *out, size_t cap, bool render_special);

/* Length of the longest prefix of s[0..n) that does not end inside an incomplete UTF-8
 * sequence (for streaming text out token by token). */
size_t tok_utf8_complete(const char *s, size_t n);

#endif
