/* arch: the supported architectures, described as data.
 *
 * A row says how an architecture differs from the common decoder-only transformer the forward
 * pass computes (pre-norm RMSNorm, rotary attention with grouped KV heads, SwiGLU FFN): its RoPE
 * pairing, which biases exist, whether the output matrix may be tied to the embeddings. Adding an
 * architecture is a row here plus whatever new op it needs in forward.c.
 */
#ifndef BATON_ENGINE_ARCH_H
#define BATON_ENGINE_ARCH_H

#include <stdbool.h>
#include <stddef.h>

enum rope_mode {
    ROPE_NORM, /* rotate adjacent pairs (x[2i], x[2i+1]): llama.cpp's GGML_ROPE_TYPE_NORMAL */
    ROPE_NEOX, /* rotate halves (x[i], x[i + n_rot/2]): GPT-NeoX style, used by qwen2 */
};

enum presence { ABSENT, OPTIONAL, REQUIRED };

struct arch {
    const char *name;          /* general.architecture */
    enum rope_mode rope;
    enum presence qkv_bias;    /* attn_q/k/v.bias */
    enum presence out_bias;    /* attn_output.bias */
};

/* The row for an architecture name, or NULL. */
const struct arch *arch_find(const char *name, size_t len);
/* "llama, qwen2": for error messages. */
const char *arch_supported_list(void);

#endif
