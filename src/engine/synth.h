/* synth: random-weight GGUF models at the exact shapes of real ones.
 *
 * No model hub is reachable here, so models at real shapes are synthesized: the architecture
 * metadata and tensor shapes of SmolLM2-135M, Qwen2.5-0.5B and Llama-3.2-1B (plus tiny shapes of
 * each architecture for fast tests), with a real tokenizer copied from a vocab GGUF or imported
 * from a Hugging Face tokenizer.json. Their speed is real and their logits are checkable against
 * llama.cpp, though their text is noise.
 *
 * Weights are seeded Gaussians scaled so that every layer matters (zeroing any one layer moves
 * the top logits materially; tests/unit/test_synth.c checks it) and logits come out with
 * magnitude ~4; the output matrix is always separate from the embeddings (tied, the logits would
 * mostly echo the input token). The same seed gives the same file on any machine and with any
 * thread count.
 */
#ifndef BATON_ENGINE_SYNTH_H
#define BATON_ENGINE_SYNTH_H

#include "base/err.h"
#include "engine/dtype.h"

#include <stdbool.h>
#include <stdint.h>

struct synth_opts {
    const char *shape;      /* "smollm2-135m", "qwen2.5-0.5b", "llama-3.2-1b", "tiny-llama", ... */
    const char *vocab_path; /* vocab GGUF or tokenizer.json; NULL: the shape's default fixture */
    const char *fixtures;   /* directory of the shared fixtures, for the default vocab */
    enum dtype type;        /* F32, F16 or BF16 for the matrices (1-D tensors stay F32) */
    uint64_t seed;
    int32_t n_layer;        /* > 0 overrides the shape's layer count */
    int32_t n_threads;
    bool vocab_only;        /* tokenizer metadata only, no tensors (like ggml-vocab-*.gguf) */
    const char *chat_template; /* stored as tokenizer.chat_template instead of the vocab's, or NULL */
};

int synth_write(const struct synth_opts *o, const char *out_path, struct err *e);
/* "smollm2-135m, qwen2.5-0.5b, ..." for usage and error messages. */
const char *synth_shape_list(void);

#endif
