/* model: a GGUF language model loaded for inference: hyperparameters, weights (zero-copy views
 * into the mapped file) and the tokenizer.
 *
 * Architectures are rows of a table (arch.c), not copies of the forward pass. A file with an
 * unsupported architecture, tensor type or missing/misshapen tensor is refused at load with a
 * one-line message saying what is supported.
 */
#ifndef BATON_ENGINE_MODEL_H
#define BATON_ENGINE_MODEL_H

#include "base/err.h"
#include "engine/tokenizer.h"

#include <stdint.h>

struct model;

/* Maps and validates path. On success *out owns the mapping; release with model_free. */
int model_load(const char *path, struct model **out, struct err *e);
void model_free(struct model *m);

/* Borrowed, valid until model_free. */
const struct tok *model_tok(const struct model *m);
const char *model_arch_name(const struct model *m);
int32_t model_n_vocab(const struct model *m);
int32_t model_n_ctx_train(const struct model *m);
int32_t model_n_layer(const struct model *m);
int32_t model_n_embd(const struct model *m);
/* Total bytes of weight data. */
uint64_t model_weight_bytes(const struct model *m);
/* The tensor type most weights use ("q4_K"...), for bench reports. */
const char *model_type_name(const struct model *m);
/* The model's chat template (tokenizer.chat_template), or NULL. Borrowed. */
const char *model_chat_template(const struct model *m, size_t *len);

#endif
