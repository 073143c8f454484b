/* kv: allocation and bookkeeping of a sequence's KV cache (layout in model_impl.h). */
#include "engine/kv.h"

#include "base/alloc.h"
#include "engine/model_impl.h"

#include <inttypes.h>

int kv_new(const struct model *m, int32_t n_ctx, struct kv_cache **out, struct err *e)
{
    const struct hparams *hp = &m->hp;
    if (n_ctx <= 0)
        n_ctx = hp->n_ctx_train;
    struct kv_cache *kv = xcalloc(1, sizeof *kv);
    kv->n_ctx = n_ctx;
    kv->n_layer = hp->n_layer;
    kv->k_dim = hp->n_head_kv * hp->head_dim;
    kv->v_dim = hp->n_head_kv * hp->head_dim_v;
    uint64_t rows = (uint64_t)kv->n_layer * (uint64_t)n_ctx;
    uint64_t bytes = rows * (uint64_t)(kv->k_dim + kv->v_dim) * 2;
    if (bytes > (1ull << 38)) {
        free(kv);
        return err_set(e, "KV cache for %d positions would take %" PRIu64 " bytes", n_ctx, bytes);
    }
    kv->k = xmalloc_aligned((size_t)(rows * (uint64_t)kv->k_dim * 2));
    kv->v = xmalloc_aligned((size_t)(rows * (uint64_t)kv->v_dim * 2));
    *out = kv;
    return 0;
}

void kv_free(struct kv_cache *kv)
{
    if (!kv)
        return;
    free(kv->k);
    free(kv->v);
    free(kv);
}

int32_t kv_n_ctx(const struct kv_cache *kv) { return kv->n_ctx; }
int32_t kv_len(const struct kv_cache *kv) { return kv->n_used; }

void kv_truncate(struct kv_cache *kv, int32_t n)
{
    if (n >= 0 && n < kv->n_used)
        kv->n_used = n;
}

uint64_t kv_bytes(const struct kv_cache *kv)
{
    return (uint64_t)kv->n_layer * (uint64_t)kv->n_ctx * (uint64_t)(kv->k_dim + kv->v_dim) * 2;
}
