/* model: loading a GGUF model (see model.h). Order: open and validate the file (gguf.c), find the
 * architecture row (arch.c), read hyperparameters with llama.cpp's defaults, bind and shape-check
 * every tensor, load the tokenizer. Weights stay in the mapping; only 1-D tensors (norm weights,
 * biases, rope factors) are copied to f32 so the forward pass reads one type for them.
 *
 * Metadata keys read (all under "<arch>."): context_length, embedding_length, feed_forward_length,
 * block_count, attention.head_count, attention.head_count_kv (default head_count),
 * attention.key_length / value_length (default embedding_length / head_count),
 * attention.layer_norm_rms_epsilon, rope.dimension_count (default key_length), rope.freq_base
 * (default 10000), rope.scaling.type ("none" or "linear"; with rope.scaling.factor),
 * vocab_size (checked against the tokenizer when present).
 */
#include "engine/model_impl.h"

#include "base/alloc.h"
#include "base/log.h"
#include "engine/kernels.h"
#include "engine/quant.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

static void pack_weights(struct model *m);

static int get_u32_key(const struct gguf *g, const char *arch, const char *suffix, bool required,
                       uint32_t def, int32_t *out, struct err *e)
{
    char key[128];
    snprintf(key, sizeof key, "%s.%s", arch, suffix);
    uint32_t v = def;
    int rc = gguf_get_u32(g, key, &v, e);
    if (rc < 0)
        return -1;
    if (rc == 0 && required)
        return err_set(e, "metadata %s is missing", key);
    if (v > INT32_MAX)
        return err_set(e, "metadata %s: %u is too large", key, v);
    *out = (int32_t)v;
    return 0;
}

static int get_f32_key(const struct gguf *g, const char *arch, const char *suffix, float def,
                       float *out, struct err *e)
{
    char key[128];
    snprintf(key, sizeof key, "%s.%s", arch, suffix);
    *out = def;
    return gguf_get_f32(g, key, out, e) < 0 ? -1 : 0;
}

/* Binds tensor `name` as a weight matrix with n_in columns and n_out rows. */
static int bind_weight(struct model *m, const char *name, int64_t n_in, int64_t n_out, bool required,
                       struct weight *w, struct err *e)
{
    const struct gguf_tensor *t = gguf_find_tensor(m->gguf, name);
    memset(w, 0, sizeof *w);
    if (!t) {
        if (required)
            return err_set(e, "tensor %s is missing", name);
        return 0;
    }
    if (t->n_dims != 2 || t->ne[0] != n_in || t->ne[1] != n_out)
        return err_set(e, "tensor %s: shape [%" PRId64 ", %" PRId64 "] (%u dims), expected [%" PRId64
                          ", %" PRId64 "]",
                       name, t->ne[0], t->ne[1], t->n_dims, n_in, n_out);
    const struct dtype_info *di = dtype_get(t->type);
    if (!di->supported)
        return err_set(e, "tensor %s: type %s is not supported (supported: %s)", name, di->name,
                       dtype_supported_list());
    w->name = t->name;
    w->data = t->data;
    w->type = (enum dtype)t->type;
    w->n_in = n_in;
    w->n_out = n_out;
    w->row_bytes = (size_t)(t->size / (uint64_t)n_out);
    m->weight_bytes += t->size;
    return 0;
}

/* Binds a 1-D tensor of n elements, converted to an owned f32 array. */
static int bind_vec(struct model *m, const char *name, int64_t n, bool required, const float **out,
                    struct err *e)
{
    *out = NULL;
    const struct gguf_tensor *t = gguf_find_tensor(m->gguf, name);
    if (!t) {
        if (required)
            return err_set(e, "tensor %s is missing", name);
        return 0;
    }
    if (t->n_dims != 1 || t->ne[0] != n)
        return err_set(e, "tensor %s: shape [%" PRId64 "] (%u dims), expected [%" PRId64 "]", name,
                       t->ne[0], t->n_dims, n);
    if (!dtype_get(t->type)->supported)
        return err_set(e, "tensor %s: type %s is not supported (supported: %s)", name,
                       dtype_name(t->type), dtype_supported_list());
    float *v = xmalloc_array((size_t)n, sizeof(float));
    quant_dequantize_row_ref((enum dtype)t->type, t->data, v, n);
    m->owned = xrealloc_array(m->owned, (size_t)m->n_owned + 1, sizeof *m->owned);
    m->owned[m->n_owned++] = v;
    m->weight_bytes += t->size;
    *out = v;
    return 0;
}

static int load_hparams(struct model *m, const char *arch, struct err *e)
{
    struct hparams *hp = &m->hp;
    const struct gguf *g = m->gguf;
    if (get_u32_key(g, arch, "context_length", true, 0, &hp->n_ctx_train, e) ||
        get_u32_key(g, arch, "embedding_length", true, 0, &hp->n_embd, e) ||
        get_u32_key(g, arch, "feed_forward_length", true, 0, &hp->n_ff, e) ||
        get_u32_key(g, arch, "block_count", true, 0, &hp->n_layer, e) ||
        get_u32_key(g, arch, "attention.head_count", true, 0, &hp->n_head, e))
        return -1;
    if (hp->n_embd <= 0 || hp->n_ff <= 0 || hp->n_layer <= 0 || hp->n_head <= 0 ||
        hp->n_ctx_train <= 0)
        return err_set(e, "metadata: embedding_length %d, feed_forward_length %d, block_count %d,"
                          " head_count %d, context_length %d must all be positive",
                       hp->n_embd, hp->n_ff, hp->n_layer, hp->n_head, hp->n_ctx_train);
    if (hp->n_layer > 4096 || hp->n_head > 4096 || hp->n_embd > (1 << 20) || hp->n_ff > (1 << 22))
        return err_set(e, "metadata: implausible shape (block_count %d, head_count %d, "
                          "embedding_length %d, feed_forward_length %d)",
                       hp->n_layer, hp->n_head, hp->n_embd, hp->n_ff);
    if (get_u32_key(g, arch, "attention.head_count_kv", false, (uint32_t)hp->n_head, &hp->n_head_kv, e))
        return -1;
    if (hp->n_head_kv <= 0 || hp->n_head % hp->n_head_kv)
        return err_set(e, "metadata %s.attention.head_count_kv: %d does not divide head_count %d",
                       arch, hp->n_head_kv, hp->n_head);
    if (hp->n_embd % hp->n_head) { /* key_length must then be given explicitly */
        char key[128];
        snprintf(key, sizeof key, "%s.attention.key_length", arch);
        if (gguf_find_key(g, key) < 0)
            return err_set(e, "metadata: embedding_length %d is not a multiple of head_count %d"
                              " and %s is missing",
                           hp->n_embd, hp->n_head, key);
    }
    uint32_t hd = (uint32_t)(hp->n_embd / hp->n_head);
    if (get_u32_key(g, arch, "attention.key_length", false, hd, &hp->head_dim, e) ||
        get_u32_key(g, arch, "attention.value_length", false, hd, &hp->head_dim_v, e) ||
        get_u32_key(g, arch, "rope.dimension_count", false, (uint32_t)hp->head_dim, &hp->n_rot, e))
        return -1;
    if (hp->head_dim <= 0 || hp->head_dim_v <= 0 || hp->head_dim > KERNELS_MAX_HEAD_DIM ||
        hp->head_dim_v > KERNELS_MAX_HEAD_DIM)
        return err_set(e, "metadata: head size %d / value head size %d out of range 1..%d",
                       hp->head_dim, hp->head_dim_v, KERNELS_MAX_HEAD_DIM);
    if (hp->n_rot <= 0 || hp->n_rot > hp->head_dim || hp->n_rot % 2)
        return err_set(e, "metadata %s.rope.dimension_count: %d must be even and at most the head"
                          " size %d",
                       arch, hp->n_rot, hp->head_dim);
    if (get_f32_key(g, arch, "attention.layer_norm_rms_epsilon", 1e-5f, &hp->norm_eps, e) ||
        get_f32_key(g, arch, "rope.freq_base", 10000.0f, &hp->rope_freq_base, e))
        return -1;
    if (!(hp->norm_eps >= 0) || !(hp->rope_freq_base > 0))
        return err_set(e, "metadata: layer_norm_rms_epsilon %g / rope.freq_base %g out of range",
                       (double)hp->norm_eps, (double)hp->rope_freq_base);
    hp->rope_freq_scale = 1.0f;
    char key[128];
    snprintf(key, sizeof key, "%s.rope.scaling.type", arch);
    struct gguf_str st;
    int rc = gguf_get_str(g, key, &st, e);
    if (rc < 0)
        return -1;
    if (rc == 1 && !gguf_str_eq(st, "none")) {
        if (!gguf_str_eq(st, "linear"))
            return err_set(e, "metadata %s: '%.*s' is not supported (supported: none, linear; "
                              "llama3-style scaling comes as a rope_freqs tensor)",
                           key, (int)(st.len > 40 ? 40 : st.len), st.ptr);
        float factor = 1.0f;
        if (get_f32_key(g, arch, "rope.scaling.factor", 1.0f, &factor, e))
            return -1;
        if (!(factor > 0))
            return err_set(e, "metadata %s.rope.scaling.factor: %g must be positive", arch,
                           (double)factor);
        hp->rope_freq_scale = 1.0f / factor;
    }
    hp->rope_mode = m->arch->rope;
    return 0;
}

static int load_layers(struct model *m, struct err *e)
{
    const struct hparams *hp = &m->hp;
    int64_t q_dim = (int64_t)hp->n_head * hp->head_dim;
    int64_t k_dim = (int64_t)hp->n_head_kv * hp->head_dim;
    int64_t v_dim = (int64_t)hp->n_head_kv * hp->head_dim_v;
    int64_t o_dim = (int64_t)hp->n_head * hp->head_dim_v;
    m->layers = xcalloc((size_t)hp->n_layer, sizeof *m->layers);
    char name[96];
#define NAME(fmt) (snprintf(name, sizeof name, "blk.%d." fmt, l), name)
    for (int l = 0; l < hp->n_layer; l++) {
        struct layer *L = &m->layers[l];
        if (gguf_find_tensor(m->gguf, NAME("ffn_gate_inp.weight")))
            return err_set(e, "tensor %s: mixture-of-experts layers are not supported", name);
        if (bind_vec(m, NAME("attn_norm.weight"), hp->n_embd, true, &L->attn_norm, e) ||
            bind_weight(m, NAME("attn_q.weight"), hp->n_embd, q_dim, true, &L->wq, e) ||
            bind_weight(m, NAME("attn_k.weight"), hp->n_embd, k_dim, true, &L->wk, e) ||
            bind_weight(m, NAME("attn_v.weight"), hp->n_embd, v_dim, true, &L->wv, e) ||
            bind_weight(m, NAME("attn_output.weight"), o_dim, hp->n_embd, true, &L->wo, e) ||
            bind_vec(m, NAME("ffn_norm.weight"), hp->n_embd, true, &L->ffn_norm, e) ||
            bind_weight(m, NAME("ffn_gate.weight"), hp->n_embd, hp->n_ff, true, &L->w_gate, e) ||
            bind_weight(m, NAME("ffn_up.weight"), hp->n_embd, hp->n_ff, true, &L->w_up, e) ||
            bind_weight(m, NAME("ffn_down.weight"), hp->n_ff, hp->n_embd, true, &L->w_down, e))
            return -1;
        if (m->arch->qkv_bias != ABSENT) {
            bool req = m->arch->qkv_bias == REQUIRED;
            if (bind_vec(m, NAME("attn_q.bias"), q_dim, req, &L->bq, e) ||
                bind_vec(m, NAME("attn_k.bias"), k_dim, req, &L->bk, e) ||
                bind_vec(m, NAME("attn_v.bias"), v_dim, req, &L->bv, e))
                return -1;
        }
        if (m->arch->out_bias != ABSENT &&
            bind_vec(m, NAME("attn_output.bias"), hp->n_embd, m->arch->out_bias == REQUIRED, &L->bo, e))
            return -1;
    }
#undef NAME
    return 0;
}

/* The most common weight type by bytes, for reports. */
static int main_type(const struct model *m)
{
    uint64_t bytes[DT_COUNT] = {0};
    for (int64_t i = 0; i < gguf_n_tensors(m->gguf); i++) {
        const struct gguf_tensor *t = gguf_tensor(m->gguf, i);
        if (t->n_dims >= 2 && t->type < DT_COUNT)
            bytes[t->type] += t->size;
    }
    int best = 0;
    for (int t = 1; t < DT_COUNT; t++)
        if (bytes[t] > bytes[best])
            best = t;
    return best;
}

int model_load(const char *path, struct model **out, struct err *e)
{
    struct model *m = xcalloc(1, sizeof *m);
    if (gguf_open(path, &m->gguf, e)) {
        free(m);
        return -1;
    }
    struct gguf_str arch;
    int rc = gguf_get_str(m->gguf, "general.architecture", &arch, e);
    if (rc == 0)
        rc = err_set(e, "metadata general.architecture is missing");
    if (rc < 0)
        goto fail;
    m->arch = arch_find(arch.ptr, arch.len);
    if (!m->arch) {
        err_set(e, "architecture '%.*s' is not supported (supported: %s)",
                (int)(arch.len > 40 ? 40 : arch.len), arch.ptr, arch_supported_list());
        goto fail;
    }
    if (load_hparams(m, m->arch->name, e))
        goto fail;
    if (tok_load(m->gguf, &m->tok, e))
        goto fail;
    struct hparams *hp = &m->hp;
    hp->n_vocab = tok_n_vocab(m->tok);
    int32_t vocab_meta = hp->n_vocab;
    if (get_u32_key(m->gguf, m->arch->name, "vocab_size", false, (uint32_t)hp->n_vocab, &vocab_meta, e))
        goto fail;
    if (vocab_meta != hp->n_vocab) {
        err_set(e, "metadata %s.vocab_size is %d but the tokenizer has %d tokens", m->arch->name,
                vocab_meta, hp->n_vocab);
        goto fail;
    }
    if (bind_weight(m, "token_embd.weight", hp->n_embd, hp->n_vocab, true, &m->tok_embd, e) ||
        bind_vec(m, "output_norm.weight", hp->n_embd, true, &m->output_norm, e) ||
        bind_weight(m, "output.weight", hp->n_embd, hp->n_vocab, false, &m->output, e) ||
        bind_vec(m, "rope_freqs.weight", hp->n_rot / 2, false, &m->rope_freqs, e) ||
        load_layers(m, e))
        goto fail;
    if (!m->output.data) {
        m->output = m->tok_embd; /* tied embeddings */
        log_info("%s: output.weight absent, using token_embd.weight (tied)", path);
    }
    m->main_type = main_type(m);
    pack_weights(m);
    log_info("%s: %s, %d layers, n_embd %d, n_head %d/%d, n_ff %d, vocab %d, %s", path,
             m->arch->name, hp->n_layer, hp->n_embd, hp->n_head, hp->n_head_kv, hp->n_ff,
             hp->n_vocab, dtype_name((uint32_t)m->main_type));
    *out = m;
    return 0;
fail:
    err_prefix(e, "%s", path);
    model_free(m);
    return -1;
}

/* Packs w for kernel table k into dst (bytes from k->pack_bytes). The mapped file pages of the
 * original are then dropped from memory (they fault back in from the file if anything reads
 * them), so a packed model takes no more memory than the file. */
static void pack_weight(const struct kernels *k, struct weight *w, void *dst, bool keep_original)
{
    w->packed = dst;
    k->pack(w->type, w->n_in, w->n_out, w->data, w->row_bytes, w->packed);
    w->packed_group = k->pack_bytes(w->type, w->n_in, KERNELS_PACK_ROWS);
    if (keep_original)
        return;
    uintptr_t page = (uintptr_t)sysconf(_SC_PAGESIZE);
    uintptr_t lo = ((uintptr_t)w->data + page - 1) & ~(page - 1);
    uintptr_t hi = ((uintptr_t)w->data + (uintptr_t)w->n_out * w->row_bytes) & ~(page - 1);
    if (hi > lo)
        madvise((void *)lo, hi - lo, MADV_DONTNEED);
}

#define PACK_ALIGN 64
#define HUGE_PAGE ((size_t)2 << 20)

/* Packs every matrix the kernel table can pack into one arena, on transparent huge pages when
 * it is large enough (decoding streams all of it once per token: fewer TLB misses). */
static void pack_weights(struct model *m)
{
    const struct kernels *k = kernels_get();
    if (!k->pack_bytes)
        return;
    struct weight **ws = xmalloc_array((size_t)m->hp.n_layer * 7 + 1, sizeof *ws);
    size_t *off = xmalloc_array((size_t)m->hp.n_layer * 7 + 1, sizeof *off);
    size_t n = 0, total = 0;
    for (int32_t l = 0; l < m->hp.n_layer; l++) {
        struct layer *L = &m->layers[l];
        struct weight *lw[] = {&L->wq, &L->wk, &L->wv, &L->wo, &L->w_gate, &L->w_up, &L->w_down};
        for (size_t i = 0; i < sizeof lw / sizeof *lw; i++)
            ws[n++] = lw[i];
    }
    ws[n++] = &m->output;
    for (size_t i = 0; i < n; i++) {
        size_t bytes = k->pack_bytes(ws[i]->type, ws[i]->n_in, ws[i]->n_out);
        off[i] = bytes ? total : SIZE_MAX;
        total += (bytes + PACK_ALIGN - 1) / PACK_ALIGN * PACK_ALIGN;
    }
    size_t align = total >= 2 * HUGE_PAGE ? HUGE_PAGE : PACK_ALIGN;
    size_t size = (total + align - 1) / align * align;
    void *arena = NULL;
    /* no memory for a packed copy: the plain kernels read the file's blocks */
    if (total > 0 && posix_memalign(&arena, align, size) == 0) {
        if (align == HUGE_PAGE)
            madvise(arena, size, MADV_HUGEPAGE);
        m->packed_arena = arena;
        for (size_t i = 0; i < n; i++)
            if (off[i] != SIZE_MAX)
                pack_weight(k, ws[i], (char *)arena + off[i],
                            ws[i] == &m->output && m->output.data == m->tok_embd.data);
    }
    free(ws);
    free(off);
}

void model_free(struct model *m)
{
    if (!m)
        return;
    free(m->packed_arena);
    for (int i = 0; i < m->n_owned; i++)
        free(m->owned[i]);
    free(m->owned);
    free(m->layers);
    tok_free(m->tok);
    gguf_close(m->gguf);
    free(m);
}

const struct tok *model_tok(const struct model *m) { return m->tok; }
const char *model_arch_name(const struct model *m) { return m->arch->name; }
int32_t model_n_vocab(const struct model *m) { return m->hp.n_vocab; }
int32_t model_n_ctx_train(const struct model *m) { return m->hp.n_ctx_train; }
int32_t model_n_layer(const struct model *m) { return m->hp.n_layer; }
int32_t model_n_embd(const struct model *m) { return m->hp.n_embd; }
uint64_t model_weight_bytes(const struct model *m) { return m->weight_bytes; }
const char *model_type_name(const struct model *m) { return dtype_name((uint32_t)m->main_type); }

const char *model_chat_template(const struct model *m, size_t *len)
{
    struct gguf_str s;
    if (gguf_get_str(m->gguf, "tokenizer.chat_template", &s, NULL) != 1)
        return NULL;
    *len = s.len;
    return s.ptr;
}
