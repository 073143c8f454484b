/* forward: the transformer forward pass over a step of tokens: a prompt chunk of one sequence,
 * or tokens of several sequences at once (decoding tokens and prompt chunks mixed).
 *
 * A `struct forward` owns the scratch activations for up to n_batch tokens and the thread pool;
 * each sequence's state lives in its `struct kv_cache`, so one forward object serves many
 * sequences, in turn or together. Arithmetic follows llama.cpp's CPU backend where it affects results
 * (activations converted to each weight type's dot-product type, f16 KV cache, f16 queries in
 * the attention dot products, RMSNorm sums in double, RoPE angles as running products).
 */
#ifndef BATON_ENGINE_FORWARD_H
#define BATON_ENGINE_FORWARD_H

#include "base/err.h"
#include "engine/kv.h"
#include "engine/model.h"

#include <stdbool.h>
#include <stdint.h>

struct forward;

/* n_batch: most tokens per internal step (longer inputs are split); n_threads >= 1. */
struct forward *fwd_new(const struct model *m, int32_t n_batch, int32_t n_threads);
void fwd_free(struct forward *f);
int32_t fwd_n_threads(const struct forward *f);

/* Appends tokens[0..n) to kv's sequence (positions kv_len(kv) ...) and runs the model over
 * them. If logits is non-NULL, the last token's model_n_vocab() logits are written there.
 * Fails (cache unchanged) if a token id is out of range or the cache would overflow. */
int fwd_eval(struct forward *f, struct kv_cache *kv, const int32_t *tokens, int32_t n,
             float *logits, struct err *e);

/* One sequence's part of a step: n_tokens tokens appended to kv's sequence. */
struct fwd_seq {
    struct kv_cache *kv;
    const int32_t *tokens; /* borrowed for the call */
    int32_t n_tokens;
    bool logits;           /* write its last token's logits */
};

/* One step for several sequences at once (continuous batching with prompts mixed in: some
 * sequences decode one token while others add a prompt chunk): seqs[i]'s tokens go to its own
 * cache (distinct caches of this model; n_seqs <= n_batch, all tokens together <= n_batch), and
 * where seqs[i].logits, its last token's logits go to logits + i * model_n_vocab() (logits
 * non-NULL; other rows are left alone). The weights are read once for the step, and every
 * sequence gets exactly what fwd_eval of the same tokens would give it alone. Fails (caches
 * unchanged) on a bad token id, a full cache, a shared cache or too many tokens. */
int fwd_eval_seqs(struct forward *f, const struct fwd_seq *seqs, int32_t n_seqs, float *logits,
                  struct err *e);

/* One decoding step for n sequences at once (continuous batching): appends tokens[i] to
 * kvs[i] (distinct caches of this model; n <= n_batch) and writes each sequence's logits at
 * logits + i * model_n_vocab() when logits is non-NULL. The weights are read once for all n,
 * and every sequence gets the logits fwd_eval would give it alone. Fails (caches unchanged) on
 * a bad token id, a full cache or a repeated cache. */
int fwd_eval_batch(struct forward *f, struct kv_cache *const *kvs, const int32_t *tokens,
                   int32_t n, float *logits, struct err *e);

/* Profiling: while on, each step's time is counted by part (the matmuls by role and weight
 * type, with the weight bytes they read; attention; the whole step as "step"), for
 * `baton bench --profile`. Off by default; the clock is read only while it is on. */
#define FWD_PROFILE_MAX 32
struct fwd_profile_row {
    const char *what; /* attn_qkv, attn_output, ffn_gate_up, ffn_down, output, attention, step */
    int type;         /* the (first) weight's enum dtype, or -1 */
    double seconds;
    double bytes;     /* weight bytes read */
    long calls;
};
void fwd_profile(struct forward *f, bool on, bool reset);
/* The rows so far (valid until the next step or fwd_profile call). */
int fwd_profile_rows(const struct forward *f, const struct fwd_profile_row **rows);

#endif
