/* quantize: whole-model conversion (see quantize.h).
 *
 * Decision order for each tensor, as in llama.cpp's llama_tensor_get_type:
 *   1. may_quantize(): not a 2-D+ "*weight" tensor, a norm, or one of the special tensors in
 *      g_never -> keep its type.
 *   2. The target's base type is f32/f16/bf16 -> that type, no mixing.
 *   3. mix_type(): the per-category rules (output, attn_v, ffn_down, attn_output, ...) of the
 *      target, using counters that advance in llama.cpp's tensor order (by layer number, then by
 *      name; see plan_order()), because its use_more_bits() pattern counts attn_v tensors.
 *   4. fallback_type(): if the row length is not a multiple of the chosen type's block, a type
 *      with 32-element blocks, else f16.
 * Only the branches reachable for the targets baton offers are kept (llama.cpp's IQ, TQ and
 * MXFP4 mixes are not offered); falcon's exceptions are not implemented, so falcon is refused.
 *
 * Conversion goes tensor by tensor in the input's order, in slabs of rows bounded by
 * SLAB_BYTES of output so memory stays small for huge embeddings; each slab's rows are split
 * evenly among the threads, which convert row by row through a private f32 buffer.
 */
#include "engine/quantize.h"

#include "base/alloc.h"
#include "base/log.h"
#include "engine/quant.h"

#include <inttypes.h>
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define QUANT_VERSION 2               /* general.quantization_version, GGML_QNT_VERSION */
#define SLAB_BYTES (64u << 20)        /* output bytes converted per slab */

static const struct quantize_target g_targets[] = {
    {"F32", 0, DT_F32},      {"F16", 1, DT_F16},       {"BF16", 32, DT_BF16},
    {"Q8_0", 7, DT_Q8_0},    {"Q4_0", 2, DT_Q4_0},     {"Q4_1", 3, DT_Q4_1},
    {"Q5_0", 8, DT_Q5_0},    {"Q5_1", 9, DT_Q5_1},     {"Q2_K", 10, DT_Q2_K},
    {"Q3_K_S", 11, DT_Q3_K}, {"Q3_K_M", 12, DT_Q3_K},  {"Q3_K_L", 13, DT_Q3_K},
    {"Q4_K_S", 14, DT_Q4_K}, {"Q4_K_M", 15, DT_Q4_K},  {"Q5_K_S", 16, DT_Q5_K},
    {"Q5_K_M", 17, DT_Q5_K}, {"Q6_K", 18, DT_Q6_K},
};
#define N_TARGETS (sizeof g_targets / sizeof *g_targets)

/* LLAMA_FTYPE values the rules test */
enum {
    FT_Q2_K = 10, FT_Q3_K_S = 11, FT_Q3_K_M = 12, FT_Q3_K_L = 13,
    FT_Q4_K_S = 14, FT_Q4_K_M = 15, FT_Q5_K_S = 16, FT_Q5_K_M = 17,
};

const struct quantize_target *quantize_target_find(const char *name)
{
    static const struct { const char *alias, *target; } aliases[] = {
        {"Q3_K", "Q3_K_M"}, {"Q4_K", "Q4_K_M"}, {"Q5_K", "Q5_K_M"},
    };
    for (size_t i = 0; i < sizeof aliases / sizeof *aliases; i++)
        if (strcasecmp(name, aliases[i].alias) == 0)
            name = aliases[i].target;
    for (size_t i = 0; i < N_TARGETS; i++)
        if (strcasecmp(name, g_targets[i].name) == 0)
            return &g_targets[i];
    return NULL;
}

const char *quantize_target_list(void)
{
    static char list[256];
    if (!list[0]) {
        size_t n = 0;
        for (size_t i = 0; i < N_TARGETS; i++)
            n += (size_t)snprintf(list + n, sizeof list - n, "%s%s", i ? ", " : "",
                                  g_targets[i].name);
    }
    return list;
}

static bool is_float_type(enum dtype t) { return t == DT_F32 || t == DT_F16 || t == DT_BF16; }

/* ======================================================================================
 * which tensors, which category
 * ====================================================================================== */

/* Substrings of tensors llama.cpp never quantizes even when 2-D and named "*weight": norms,
 * MoE routers, tiny or positional tensors of other architectures. */
static const char *const g_never[] = {
    "_norm.weight", "ffn_gate_inp.weight", "ffn_gate_tid2eid.weight", "altup", "laurel",
    "per_layer_model_proj", "ssm_conv1d", "shortconv.conv.weight", "indexer.k_proj.weight",
    "indexer.q_proj.weight", "time_mix_first.weight", "time_mix_w0.weight", "time_mix_w1.weight",
    "time_mix_w2.weight", "time_mix_v0.weight", "time_mix_v1.weight", "time_mix_v2.weight",
    "time_mix_a0.weight", "time_mix_a1.weight", "time_mix_a2.weight", "time_mix_g1.weight",
    "time_mix_g2.weight", "time_mix_decay_w1.weight", "time_mix_decay_w2.weight",
    "time_mix_lerp_fused.weight", "attn_rel_b.weight", ".position_embd", "sam.pos_embd",
    "sam.neck.", "sam.net_", ".rel_pos", ".patch_embd", ".patch_merger", "a.rvq.codebook",
    "mm.a.code_embd",
};

/* Dimensions ignoring trailing ones (a [4096, 1] tensor is 1-D), as ggml_n_dims counts. */
static int effective_dims(const struct gguf_tensor *t)
{
    int n = 1;
    for (int d = 1; d < GGUF_MAX_DIMS; d++)
        if (t->ne[d] > 1)
            n = d + 1;
    return n;
}

static bool ends_with(const char *s, const char *suffix)
{
    size_t n = strlen(s), m = strlen(suffix);
    return n >= m && strcmp(s + n - m, suffix) == 0;
}

static bool may_quantize(const struct gguf_tensor *t)
{
    if (effective_dims(t) < 2 || !ends_with(t->name, "weight"))
        return false;
    if (strcmp(t->name, "position_embd.weight") == 0 || strcmp(t->name, "token_types.weight") == 0)
        return false;
    for (size_t i = 0; i < sizeof g_never / sizeof *g_never; i++)
        if (strstr(t->name, g_never[i]))
            return false;
    return true;
}

enum category {
    CAT_OTHER, CAT_TOKEN_EMBD, CAT_OUTPUT, CAT_ATTN_Q, CAT_ATTN_K, CAT_ATTN_V, CAT_ATTN_QKV,
    CAT_ATTN_KV_B, CAT_ATTN_OUTPUT, CAT_FFN_UP, CAT_FFN_GATE, CAT_FFN_DOWN,
};

/* First match wins, in llama.cpp's order (attn_kv_b before attn_v, ...). */
static enum category category_of(const char *name)
{
    if (strcmp(name, "output.weight") == 0)
        return CAT_OUTPUT;
    if (strcmp(name, "token_embd.weight") == 0 || strcmp(name, "per_layer_token_embd.weight") == 0)
        return CAT_TOKEN_EMBD;
    static const struct { const char *part; enum category c; } parts[] = {
        {"attn_qkv.weight", CAT_ATTN_QKV}, {"attn_kv_b.weight", CAT_ATTN_KV_B},
        {"attn_v.weight", CAT_ATTN_V},     {"attn_k.weight", CAT_ATTN_K},
        {"attn_q.weight", CAT_ATTN_Q},     {"attn_output.weight", CAT_ATTN_OUTPUT},
        {"ffn_up", CAT_FFN_UP},            {"ffn_gate", CAT_FFN_GATE},
        {"ffn_down", CAT_FFN_DOWN},
    };
    for (size_t i = 0; i < sizeof parts / sizeof *parts; i++)
        if (strstr(name, parts[i].part))
            return parts[i].c;
    return CAT_OTHER;
}

/* attn_v-like tensors (fused qkv and MLA's kv_b too) share attn_v's rules and counter. */
static bool is_attn_v_like(enum category c)
{
    return c == CAT_ATTN_V || c == CAT_ATTN_QKV || c == CAT_ATTN_KV_B;
}

/* "blk.N." -> N, else -1 */
static int layer_of(const char *name)
{
    if (strncmp(name, "blk.", 4) != 0)
        return -1;
    char *end;
    long v = strtol(name + 4, &end, 10);
    return end != name + 4 && *end == '.' && v >= 0 && v < 1000000 ? (int)v : -1;
}

/* ======================================================================================
 * the mixing rules
 * ====================================================================================== */

struct model_info {
    char arch[64];
    int n_layer, n_head, n_head_kv, n_expert;
    bool is_70b;      /* llama.cpp's LLM_TYPE_70B, which gets more bits for attn_v */
};

struct mix_state {
    const struct quantize_target *target;
    struct model_info m;
    bool tied;        /* no output.weight: token_embd is also the output projection */
    int n_attn_v, i_attn_v, i_ffn_down;
    int n_fallback;
};

/* The layers that get more bits in the _M mixes: the first and last eighth, and every third
 * layer in between. */
static bool use_more_bits(int i_layer, int n_layers)
{
    return i_layer < n_layers / 8 || i_layer >= 7 * n_layers / 8 ||
           (i_layer - n_layers / 8) % 3 == 2;
}

static int n_gqa(const struct model_info *m)
{
    return m->n_head_kv > 0 ? m->n_head / m->n_head_kv : 0;
}

static int mix_type(struct mix_state *s, const struct gguf_tensor *t, enum category c,
                    enum dtype *type, struct err *e)
{
    const uint32_t ft = s->target->ftype;
    const struct model_info *m = &s->m;
    enum dtype nt = s->target->base;

    if (c == CAT_OUTPUT || (s->tied && c == CAT_TOKEN_EMBD)) {
        if (t->ne[0] % dtype_get(nt)->block_elems != 0)
            nt = DT_Q8_0;
        else if (nt != DT_Q8_0)
            nt = DT_Q6_K;
    } else if (is_attn_v_like(c)) {
        if (ft == FT_Q2_K)
            nt = n_gqa(m) >= 4 ? DT_Q4_K : DT_Q3_K;
        else if (ft == FT_Q3_K_M)
            nt = s->i_attn_v < 2 ? DT_Q5_K : DT_Q4_K;
        else if (ft == FT_Q3_K_L)
            nt = DT_Q5_K;
        else if ((ft == FT_Q4_K_M || ft == FT_Q5_K_M) && use_more_bits(s->i_attn_v, s->n_attn_v))
            nt = DT_Q6_K;
        else if (ft == FT_Q4_K_S && s->i_attn_v < 4)
            nt = DT_Q5_K;
        if (m->is_70b && (nt == DT_Q3_K || nt == DT_Q4_K))
            nt = DT_Q5_K; /* 8 heads share attn_v, so it is small: more bits are cheap */
        if (m->n_expert == 8)
            nt = DT_Q8_0;
        s->i_attn_v++;
    } else if (c == CAT_ATTN_K) {
        if (m->n_expert == 8)
            nt = DT_Q8_0;
    } else if (c == CAT_FFN_DOWN) {
        int i_layer = s->i_ffn_down, n_layer = m->n_layer;
        if (m->n_expert > 1) { /* experts are not consecutive: take the layer from the name */
            i_layer = layer_of(t->name);
            if (i_layer < 0 || i_layer >= n_layer)
                return err_set(e, "tensor %s: cannot tell its layer (block_count %d)", t->name,
                               n_layer);
        }
        if (ft == FT_Q2_K)
            nt = DT_Q3_K;
        else if (ft == FT_Q3_K_M)
            nt = i_layer < n_layer / 16 ? DT_Q5_K : DT_Q4_K;
        else if (ft == FT_Q3_K_L)
            nt = DT_Q5_K;
        else if (ft == FT_Q4_K_M) {
            if (use_more_bits(i_layer, n_layer))
                nt = DT_Q6_K;
        } else if (ft == FT_Q5_K_M && use_more_bits(i_layer, n_layer))
            nt = DT_Q6_K;
        else if (ft == FT_Q4_K_S && i_layer < n_layer / 8)
            nt = DT_Q5_K;
        s->i_ffn_down++;
    } else if (c == CAT_ATTN_OUTPUT) {
        if (m->n_expert == 8) {
            if (ft == FT_Q2_K || ft == FT_Q3_K_S || ft == FT_Q3_K_M || ft == FT_Q4_K_S ||
                ft == FT_Q4_K_M)
                nt = DT_Q5_K;
        } else if (ft == FT_Q2_K)
            nt = DT_Q3_K;
        else if (ft == FT_Q3_K_M)
            nt = DT_Q4_K;
        else if (ft == FT_Q3_K_L)
            nt = DT_Q5_K;
    }
    *type = nt;
    return 0;
}

/* A row length the type cannot hold: the K-quants fall back to the 32-element type nearest in
 * size; if even 32 does not divide the row, f16. */
static enum dtype fallback_type(struct mix_state *s, const struct gguf_tensor *t, enum dtype nt)
{
    const int64_t ncols = t->ne[0];
    if (ncols % dtype_get(nt)->block_elems == 0)
        return nt;
    enum dtype fb = nt;
    switch (nt) {
    case DT_Q2_K: case DT_Q3_K: fb = DT_Q4_0; break;
    case DT_Q4_K: fb = DT_Q5_0; break;
    case DT_Q5_K: fb = DT_Q5_1; break;
    case DT_Q6_K: fb = DT_Q8_0; break;
    default: break;
    }
    if (ncols % dtype_get(fb)->block_elems != 0)
        fb = DT_F16;
    log_warn("tensor %s: row length %" PRId64 " is not a multiple of %u (type %s), using %s",
             t->name, ncols, dtype_get(nt)->block_elems, dtype_name(nt), dtype_name(fb));
    s->n_fallback++;
    return fb;
}

/* Reads a u32 hyperparameter that may also be stored per layer (then the first layer's). */
static int hparam(const struct gguf *g, const char *arch, const char *suffix, int *out, bool need,
                  struct err *e)
{
    char key[160];
    snprintf(key, sizeof key, "%s.%s", arch, suffix);
    int64_t i = gguf_find_key(g, key);
    if (i < 0) {
        if (need)
            return err_set(e, "metadata %s is missing (the mixing rules need it)", key);
        return 0;
    }
    int64_t v;
    if (gguf_kv_type(g, i) == GGUF_ARRAY) {
        enum gguf_vtype at = gguf_kv_arr_type(g, i);
        if (at == GGUF_STRING || at == GGUF_ARRAY || gguf_kv_len(g, i) == 0)
            return err_set(e, "metadata %s: expected an integer", key);
        v = gguf_arr_int(g, i, 0);
    } else if (gguf_get_int(g, key, &v, e) != 1) {
        return -1;
    }
    if (v < 0 || v > 1000000)
        return err_set(e, "metadata %s: %" PRId64 " is out of range", key, v);
    *out = (int)v;
    return 0;
}

static int read_model_info(const struct gguf *g, struct model_info *m, struct err *e)
{
    memset(m, 0, sizeof *m);
    struct gguf_str arch;
    int rc = gguf_get_str(g, "general.architecture", &arch, e);
    if (rc == 0)
        return err_set(e, "metadata general.architecture is missing");
    if (rc < 0)
        return -1;
    if (arch.len == 0 || arch.len >= sizeof m->arch)
        return err_set(e, "metadata general.architecture: bad length %" PRIu64, arch.len);
    memcpy(m->arch, arch.ptr, arch.len);
    if (strcmp(m->arch, "falcon") == 0)
        return err_set(e, "architecture falcon: its quantization rules are not implemented");
    if (hparam(g, m->arch, "block_count", &m->n_layer, true, e) ||
        hparam(g, m->arch, "attention.head_count", &m->n_head, false, e) ||
        hparam(g, m->arch, "expert_count", &m->n_expert, false, e))
        return -1;
    m->n_head_kv = m->n_head;
    if (hparam(g, m->arch, "attention.head_count_kv", &m->n_head_kv, false, e))
        return -1;
    if (m->n_layer == 80) {
        if (strcmp(m->arch, "qwen2") == 0)
            m->is_70b = true;
        else if (strcmp(m->arch, "llama") == 0)
            m->is_70b = m->n_expert != 8 && m->n_head != m->n_head_kv;
    }
    return 0;
}

/* llama.cpp visits tensors ordered by layer number (non-layer tensors first), then by name. */
struct order_key {
    int layer;
    const char *name;
    int64_t index;
};

static int cmp_order_key(const void *pa, const void *pb)
{
    const struct order_key *a = pa, *b = pb;
    if (a->layer != b->layer)
        return a->layer < b->layer ? -1 : 1;
    return strcmp(a->name, b->name);
}

/* Tensor indices of g in llama.cpp's visiting order; caller frees. */
static struct order_key *plan_order(const struct gguf *g)
{
    const int64_t n = gguf_n_tensors(g);
    struct order_key *k = xmalloc_array((size_t)(n > 0 ? n : 1), sizeof *k);
    for (int64_t i = 0; i < n; i++) {
        const char *name = gguf_tensor(g, i)->name;
        k[i] = (struct order_key){layer_of(name), name, i};
    }
    qsort(k, (size_t)n, sizeof *k, cmp_order_key);
    return k;
}

int quantize_plan(const struct gguf *g, const struct quantize_target *t, bool pure,
                  uint32_t *types, int *n_fallback, struct err *e)
{
    struct mix_state s = {.target = t, .tied = true};
    if (read_model_info(g, &s.m, e))
        return -1;
    const int64_t n = gguf_n_tensors(g);
    for (int64_t i = 0; i < n; i++) {
        enum category c = category_of(gguf_tensor(g, i)->name);
        s.tied &= c != CAT_OUTPUT;
        s.n_attn_v += is_attn_v_like(c);
    }
    struct order_key *order = plan_order(g);
    int rc = 0;
    for (int64_t k = 0; k < n && rc == 0; k++) {
        const struct gguf_tensor *ti = gguf_tensor(g, order[k].index);
        enum dtype nt = (enum dtype)ti->type;
        if (may_quantize(ti)) {
            nt = t->base;
            if (!is_float_type(t->base)) {
                if (!pure)
                    rc = mix_type(&s, ti, category_of(ti->name), &nt, e);
                nt = fallback_type(&s, ti, nt);
            }
        }
        types[order[k].index] = nt;
    }
    free(order);
    if (n_fallback)
        *n_fallback = s.n_fallback;
    return rc;
}

/* ======================================================================================
 * conversion
 * ====================================================================================== */

struct convert_job {
    const struct gguf_tensor *t;
    enum dtype dst;
    int64_t ne0;
    const uint8_t *src;          /* first row of this job */
    uint8_t *out;
    size_t src_row, dst_row;     /* bytes per row */
    int64_t n_rows, first_row;   /* first_row: index in the tensor, for messages */
    int64_t bad_row;             /* first row with a non-finite value, or -1 */
    pthread_t tid;
    bool threaded;               /* runs on tid (else it ran on the caller's thread) */
};

static void *convert_rows(void *arg)
{
    struct convert_job *j = arg;
    float *buf = xmalloc_array((size_t)j->ne0, sizeof(float));
    j->bad_row = -1;
    for (int64_t r = 0; r < j->n_rows; r++) {
        quant_dequantize_row_ref((enum dtype)j->t->type, j->src + (size_t)r * j->src_row, buf,
                                 j->ne0);
        for (int64_t i = 0; i < j->ne0; i++)
            if (!isfinite(buf[i])) {
                j->bad_row = j->first_row + r;
                free(buf);
                return NULL;
            }
        quant_quantize_row_ref(j->dst, buf, j->out + (size_t)r * j->dst_row, j->ne0);
    }
    free(buf);
    return NULL;
}

/* Converts rows [row0, row0 + n_rows) of t into out with up to n_threads threads. */
static int convert_slab(const struct gguf_tensor *t, enum dtype dst, int64_t row0, int64_t n_rows,
                        size_t src_row, size_t dst_row, uint8_t *out, int n_threads,
                        struct err *e)
{
    if (n_threads > n_rows)
        n_threads = (int)n_rows;
    struct convert_job *jobs = xcalloc((size_t)n_threads, sizeof *jobs);
    int64_t start = 0;
    for (int k = 0; k < n_threads; k++) {
        int64_t count = n_rows / n_threads + (k < n_rows % n_threads);
        jobs[k] = (struct convert_job){
            .t = t, .dst = dst, .ne0 = t->ne[0],
            .src = (const uint8_t *)t->data + (size_t)(row0 + start) * src_row,
            .out = out + (size_t)start * dst_row, .src_row = src_row, .dst_row = dst_row,
            .n_rows = count, .first_row = row0 + start,
        };
        start += count;
        /* the last share runs on this thread; so does a share whose thread cannot start */
        jobs[k].threaded = k < n_threads - 1 &&
                           pthread_create(&jobs[k].tid, NULL, convert_rows, &jobs[k]) == 0;
        if (!jobs[k].threaded)
            convert_rows(&jobs[k]);
    }
    int64_t bad = -1;
    for (int k = 0; k < n_threads; k++) {
        if (jobs[k].threaded)
            pthread_join(jobs[k].tid, NULL);
        if (jobs[k].bad_row >= 0 && bad < 0)
            bad = jobs[k].bad_row;
    }
    free(jobs);
    if (bad >= 0)
        return err_set(e, "tensor %s: row %" PRId64 " holds a NaN or infinity", t->name, bad);
    return 0;
}

static int write_tensor(struct gguf_writer *w, const struct gguf_tensor *t, enum dtype dst,
                        int n_threads, uint64_t *bytes_out, struct err *e)
{
    if ((enum dtype)t->type == dst) { /* same type: copy as stored */
        *bytes_out = t->size;
        return gguf_writer_write(w, t->data, (size_t)t->size, e);
    }
    const int64_t ne0 = t->ne[0];
    const int64_t n_rows = t->ne[1] * t->ne[2] * t->ne[3];
    uint64_t src_row, dst_row;
    if (!dtype_row_bytes(t->type, (uint64_t)ne0, &src_row) ||
        !dtype_row_bytes(dst, (uint64_t)ne0, &dst_row))
        return err_set(e, "tensor %s: row length %" PRId64 " does not fit %s", t->name, ne0,
                       dtype_name(dst));
    int64_t slab_rows = (int64_t)(SLAB_BYTES / (dst_row ? dst_row : 1));
    if (slab_rows < 1)
        slab_rows = 1;
    if (slab_rows > n_rows)
        slab_rows = n_rows;
    uint8_t *out = xmalloc((size_t)(dst_row * (uint64_t)(slab_rows > 0 ? slab_rows : 1)));
    int rc = 0;
    for (int64_t r = 0; r < n_rows && rc == 0; r += slab_rows) {
        int64_t k = n_rows - r < slab_rows ? n_rows - r : slab_rows;
        rc = convert_slab(t, dst, r, k, (size_t)src_row, (size_t)dst_row, out, n_threads, e);
        if (rc == 0)
            rc = gguf_writer_write(w, out, (size_t)(dst_row * (uint64_t)k), e);
    }
    free(out);
    *bytes_out = dst_row * (uint64_t)n_rows;
    return rc;
}

static void shape_str(const struct gguf_tensor *t, char *s, size_t n)
{
    int k = snprintf(s, n, "[");
    for (uint32_t d = 0; d < t->n_dims && (size_t)k < n; d++)
        k += snprintf(s + k, n - (size_t)k, "%s%" PRId64, d ? ", " : "", t->ne[d]);
    if ((size_t)k < n)
        snprintf(s + k, n - (size_t)k, "]");
}

static double mib(uint64_t b) { return (double)b / (1024.0 * 1024.0); }

/* Copies the metadata and declares every tensor with its new type. */
static int prepare_writer(const struct gguf *g, const struct quantize_target *target,
                          const uint32_t *types, struct gguf_writer *w, struct err *e)
{
    int64_t split = gguf_find_key(g, "split.count");
    if (split >= 0) {
        int64_t n_split = 0;
        if (gguf_get_int(g, "split.count", &n_split, e) != 1)
            return -1;
        if (n_split > 1)
            return err_set(e, "split GGUF files are not supported (split.count = %" PRId64
                              "); merge the shards first", n_split);
    }
    for (int64_t i = 0; i < gguf_n_kv(g); i++)
        gguf_writer_copy_kv(w, g, i);
    if (gguf_find_key(g, "general.alignment") >= 0)
        gguf_writer_set_alignment(w, gguf_alignment(g));
    gguf_writer_remove(w, "split.no");
    gguf_writer_remove(w, "split.count");
    gguf_writer_remove(w, "split.tensors.count");
    gguf_writer_set_u32(w, "general.quantization_version", QUANT_VERSION);
    gguf_writer_set_u32(w, "general.file_type", target->ftype);
    for (int64_t i = 0; i < gguf_n_tensors(g); i++) {
        const struct gguf_tensor *t = gguf_tensor(g, i);
        if (types[i] != t->type && !quant_has_ref((enum dtype)t->type))
            return err_set(e, "tensor %s: cannot convert from type %s (baton reads %s)", t->name,
                           dtype_name(t->type), dtype_supported_list());
        if (gguf_writer_add_tensor(w, t->name, types[i], t->n_dims, t->ne, e))
            return -1;
    }
    return 0;
}

int quantize_file(const char *in_path, const char *out_path, const struct quantize_target *target,
                  bool pure, int n_threads, struct quantize_stats *stats, struct err *e)
{
    struct quantize_stats st = {0};
    struct gguf *g = NULL;
    struct gguf_writer *w = NULL;
    uint32_t *types = NULL;
    int rc = -1;
    if (n_threads < 1)
        n_threads = 1;
    if (gguf_open(in_path, &g, e))
        return -1;
    const int64_t n = gguf_n_tensors(g);
    types = xmalloc_array((size_t)(n > 0 ? n : 1), sizeof *types);
    if (quantize_plan(g, target, pure, types, &st.n_fallback, e))
        goto done;
    w = gguf_writer_new();
    if (prepare_writer(g, target, types, w, e) || gguf_writer_open(w, out_path, e))
        goto done;
    log_info("quantizing %s -> %s as %s (file type %u), %d threads", in_path, out_path,
             target->name, target->ftype, n_threads);
    for (int64_t i = 0; i < n; i++) {
        const struct gguf_tensor *t = gguf_tensor(g, i);
        const enum dtype dst = (enum dtype)types[i];
        char shape[96];
        shape_str(t, shape, sizeof shape);
        if (dst != t->type && !is_float_type((enum dtype)t->type)) {
            log_warn("tensor %s: requantizing from %s to %s (dequantized first; some precision is "
                     "lost twice)", t->name, dtype_name(t->type), dtype_name(dst));
            st.n_requantized++;
        }
        uint64_t out_bytes = 0;
        if (write_tensor(w, t, dst, n_threads, &out_bytes, e))
            goto done;
        log_info("[%4" PRId64 "/%4" PRId64 "] %-36s %-20s %-5s -> %-5s %9.3f MiB -> %9.3f MiB",
                 i + 1, n, t->name, shape, dtype_name(t->type), dtype_name(dst), mib(t->size),
                 mib(out_bytes));
        st.bytes_in += t->size;
        st.bytes_out += out_bytes;
        st.n_converted += dst != t->type;
        uint64_t elems = 1;
        for (int d = 0; d < GGUF_MAX_DIMS; d++)
            elems *= (uint64_t)t->ne[d];
        st.n_elements += elems;
    }
    if (gguf_writer_close(w, e))
        goto done;
    st.n_tensors = (int)n;
    const double el = st.n_elements ? (double)st.n_elements : 1.0;
    log_info("model size %.2f MiB (%.2f bits per weight) -> %.2f MiB (%.2f bits per weight), "
             "%d of %d tensors converted", mib(st.bytes_in), 8.0 * (double)st.bytes_in / el,
             mib(st.bytes_out), 8.0 * (double)st.bytes_out / el, st.n_converted, st.n_tensors);
    if (st.n_fallback)
        log_warn("%d of %d tensors needed a fallback type", st.n_fallback, st.n_tensors);
    rc = 0;
done:
    if (rc && e)
        err_prefix(e, "quantize %s", in_path);
    gguf_writer_free(w);
    gguf_close(g);
    free(types);
    if (stats)
        *stats = st;
    return rc;
}
