/* model_impl: the model's layout, shared by model.c (loading), kv.c and forward.c. Not for use
 * outside src/engine. */
#ifndef BATON_ENGINE_MODEL_IMPL_H
#define BATON_ENGINE_MODEL_IMPL_H

#include "engine/arch.h"
#include "engine/dtype.h"
#include "engine/gguf.h"
#include "engine/model.h"

#include <stddef.h>
#include <stdint.h>

/* A weight matrix: n_out rows of n_in elements of `type`, row-major, inside the mapping.
 * y = W x computes y[r] = dot(row r, x) for r < n_out. */
struct weight {
    const char *name; /* tensor name, owned by the gguf handle */
    const void *data;
    enum dtype type;
    int64_t n_in;  /* GGUF ne[0] */
    int64_t n_out; /* GGUF ne[1] */
    size_t row_bytes;
    /* the kernel table's packed copy (kernels.h), made at load when the table packs this type,
     * else NULL; inside the model's packed_arena. packed_group: bytes per group of
     * KERNELS_PACK_ROWS rows */
    void *packed;
    size_t packed_group;
};

struct hparams {
    int32_t n_vocab;
    int32_t n_ctx_train;
    int32_t n_embd;
    int32_t n_ff;
    int32_t n_layer;
    int32_t n_head;
    int32_t n_head_kv;
    int32_t head_dim;   /* key/query head size */
    int32_t head_dim_v; /* value head size */
    int32_t n_rot;      /* rotated dims per head */
    float norm_eps;
    float rope_freq_base;
    float rope_freq_scale; /* 1 / linear scaling factor */
    enum rope_mode rope_mode;
};

struct layer {
    const float *attn_norm; /* [n_embd], owned (converted to f32 at load) */
    const float *ffn_norm;
    struct weight wq, wk, wv, wo;
    const float *bq, *bk, *bv, *bo; /* NULL when absent */
    struct weight w_gate, w_up, w_down;
};

struct model {
    struct gguf *gguf;
    const struct arch *arch;
    struct hparams hp;
    struct tok *tok;
    struct weight tok_embd; /* [n_vocab rows of n_embd] */
    struct weight output;   /* [n_vocab rows of n_embd]; == tok_embd when tied */
    const float *output_norm;
    const float *rope_freqs; /* [n_rot/2] frequency divisors, or NULL */
    struct layer *layers;
    float **owned;           /* f32 copies of 1-D tensors, freed with the model */
    int n_owned;
    uint64_t weight_bytes;
    int main_type;
    void *packed_arena;      /* every weight's packed copy (kernels.h), or NULL */
};

#endif

/* The KV cache of one sequence: per layer, n_ctx rows of keys and of values, stored as f16 (as
 * llama.cpp's default cache type), rows in position order. Positions [0, n_used) are filled. */
struct kv_cache {
    int32_t n_ctx;
    int32_t n_layer;
    int32_t k_dim; /* n_head_kv * head_dim */
    int32_t v_dim; /* n_head_kv * head_dim_v */
    int32_t n_used;
    uint16_t *k; /* [n_layer][n_ctx][k_dim] */
    uint16_t *v; /* [n_layer][n_ctx][v_dim] */
};

static inline uint16_t *kv_k_row(struct kv_cache *kv, int32_t layer, int32_t pos)
{
    return kv->k + ((size_t)layer * (size_t)kv->n_ctx + (size_t)pos) * (size_t)kv->k_dim;
}

static inline uint16_t *kv_v_row(struct kv_cache *kv, int32_t layer, int32_t pos)
{
    return kv->v + ((size_t)layer * (size_t)kv->n_ctx + (size_t)pos) * (size_t)kv->v_dim;
}
