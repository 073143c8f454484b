/* quantize: converts a whole GGUF model to a target quantization, as `baton quantize` and
 * llama.cpp's llama-quantize do.
 *
 * A target ("Q4_K_M") names a file type (llama.cpp's LLAMA_FTYPE value, written to
 * general.file_type) and a default tensor type (q4_K). Which tensors get which type follows
 * llama.cpp's mixing rules (src/llama-quant.cpp): only 2-D+ tensors named "*weight" that are not
 * norms (or a few other small or special tensors) are converted; the output projection (or the
 * token embedding when the model ties them) gets q6_K; attn_v and ffn_down get more bits in
 * the "use_more_bits" layers for the _M mixes; a row length the chosen type cannot hold falls
 * back to a type with smaller blocks. docs/quantization.md lists the rules in full.
 *
 * The output keeps the input's metadata (plus general.file_type and
 * general.quantization_version = 2) and its tensor order. Inputs may be f32, f16, bf16 or any
 * type quant_ref.c reads (quantized tensors are dequantized and requantized, with a warning).
 * Rows are converted by n_threads threads; progress goes to the log at info level.
 */
#ifndef BATON_ENGINE_QUANTIZE_H
#define BATON_ENGINE_QUANTIZE_H

#include "base/err.h"
#include "engine/dtype.h"
#include "engine/gguf.h"

#include <stdbool.h>
#include <stdint.h>

struct quantize_target {
    const char *name;   /* "Q4_K_M", as llama-quantize spells it */
    uint32_t ftype;     /* LLAMA_FTYPE value, e.g. 15 */
    enum dtype base;    /* default tensor type, e.g. DT_Q4_K */
};

/* Looks up a target by name, case-insensitively; also accepts llama-quantize's aliases Q3_K,
 * Q4_K, Q5_K (the _M mixes). NULL if unknown. The result is static. */
const struct quantize_target *quantize_target_find(const char *name);
/* "F32, F16, BF16, Q8_0, ..." for error messages. */
const char *quantize_target_list(void);

/* Decides the output type of every tensor of g (in gguf_tensor order) for target t, reading the
 * architecture's hyperparameters from g's metadata. pure (llama-quantize --pure) skips the
 * mixing rules: every quantizable tensor gets t's default type, falling back only where a row
 * length cannot hold it. types[] has gguf_n_tensors(g) entries.
 * *n_fallback (may be NULL) receives how many tensors needed a fallback type. Fails with a
 * message for metadata the rules need but cannot read. */
int quantize_plan(const struct gguf *g, const struct quantize_target *t, bool pure,
                  uint32_t *types, int *n_fallback, struct err *e);

struct quantize_stats {
    uint64_t bytes_in, bytes_out;   /* tensor data, without headers or padding */
    uint64_t n_elements;
    int n_tensors, n_converted, n_fallback, n_requantized;
};

/* Reads in_path, writes out_path (through out_path.tmp, renamed when complete). n_threads >= 1.
 * stats may be NULL. */
int quantize_file(const char *in_path, const char *out_path, const struct quantize_target *t,
                  bool pure, int n_threads, struct quantize_stats *stats, struct err *e);

#endif
