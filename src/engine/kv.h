/* kv: the key/value cache of one sequence (layout in model_impl.h).
 *
 * A cache holds up to n_ctx positions; the forward pass appends to it. Truncating keeps a prefix,
 * which is how a new request reuses the prompt prefix it shares with the previous one.
 */
#ifndef BATON_ENGINE_KV_H
#define BATON_ENGINE_KV_H

#include "base/err.h"
#include "engine/model.h"

#include <stdint.h>

struct kv_cache;

/* A cache for n_ctx positions of model m (n_ctx <= 0: the model's training context). Memory:
 * 2 bytes x n_layer x n_ctx x (k_dim + v_dim). */
int kv_new(const struct model *m, int32_t n_ctx, struct kv_cache **out, struct err *e);
void kv_free(struct kv_cache *kv);
int32_t kv_n_ctx(const struct kv_cache *kv);
int32_t kv_len(const struct kv_cache *kv);
/* Keeps positions [0, n); n larger than the filled length is ignored. */
void kv_truncate(struct kv_cache *kv, int32_t n);
uint64_t kv_bytes(const struct kv_cache *kv);

#endif
