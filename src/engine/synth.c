/* synth: writes random-weight models at real shapes (see synth.h).
 *
 * Weight scales, for a residual stream x of rms ~1 entering each block:
 *   token_embd   N(0, 1)                    the stream starts at rms 1
 *   attn_q/k/v   N(0, 1/sqrt(n_embd))       q, k, v rows of rms ~1 after RMSNorm
 *   attn_output  N(0, 1/sqrt(n_head*hd_v))  each block adds rms ~1 back to the stream
 *   ffn_gate/up  N(0, 1/sqrt(n_embd))
 *   ffn_down     N(0, 1/sqrt(n_ff))
 *   norms        1 + N(0, 0.1)              near identity, not exactly (so they matter)
 *   q/k/v bias   N(0, 0.1) (qwen2)
 *   output       N(0, 1/sqrt(n_embd))       logits of std ~1: the top of 32K-150K draws lands
 *                                           near 4-4.5, the magnitude the golden tolerances
 *                                           (0.03 float, 0.10 quantized) are stated for
 * With L blocks the stream grows to rms ~sqrt(1 + 2L), so the last of 30 blocks still moves
 * about a tenth of it; measured effects are in docs/engine.md.
 *
 * Randomness: tensor t's chunk c (CHUNK elements) is drawn from xoshiro256** seeded with
 * hash(seed, tensor name, c), so the file depends on neither thread count nor write order.
 */
#include "engine/synth.h"

#include "base/alloc.h"
#include "base/log.h"
#include "base/threadpool.h"
#include "engine/gguf.h"
#include "engine/sampler.h"
#include "engine/tok_import.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

#define CHUNK (1 << 16)

struct shape {
    const char *name;
    const char *arch;
    int32_t n_embd, n_layer, n_head, n_head_kv, n_ff, n_ctx;
    float rope_base, norm_eps;
    const char *vocab;  /* fixture-relative default tokenizer */
    bool llama3_rope;   /* Llama 3.1+ frequency factors (factor 32, low 1, high 4, orig 8192) */
    const char *title;
};

static const struct shape g_shapes[] = {
    {"smollm2-135m", "llama", 576, 30, 9, 3, 1536, 8192, 100000.0f, 1e-5f,
     "vocab/smollm2-135m-tokenizer.json", false, "SmolLM2-135M"},
    {"qwen2.5-0.5b", "qwen2", 896, 24, 14, 2, 4864, 32768, 1000000.0f, 1e-6f,
     "vocab/ggml-vocab-qwen2.gguf", false, "Qwen2.5-0.5B"},
    {"llama-3.2-1b", "llama", 2048, 16, 32, 8, 8192, 131072, 500000.0f, 1e-5f,
     "vocab/ggml-vocab-llama-bpe.gguf", true, "Llama-3.2-1B"},
    /* tiny shapes: every row length a multiple of 256 so every quantized type applies */
    {"tiny-llama", "llama", 256, 4, 4, 2, 768, 4096, 10000.0f, 1e-5f,
     "vocab/ggml-vocab-llama-spm.gguf", false, "tiny llama"},
    {"tiny-qwen2", "qwen2", 256, 4, 4, 2, 768, 4096, 1000000.0f, 1e-6f,
     "vocab/ggml-vocab-qwen2.gguf", false, "tiny qwen2"},
    {"tiny-llama3", "llama", 256, 4, 4, 1, 768, 131072, 500000.0f, 1e-5f,
     "vocab/ggml-vocab-llama-bpe.gguf", true, "tiny llama3 (rope_freqs, MQA)"},
};

const char *synth_shape_list(void)
{
    return "smollm2-135m, qwen2.5-0.5b, llama-3.2-1b, tiny-llama, tiny-qwen2, tiny-llama3";
}

static const struct shape *find_shape(const char *name)
{
    for (size_t i = 0; i < sizeof g_shapes / sizeof *g_shapes; i++)
        if (strcmp(g_shapes[i].name, name) == 0)
            return &g_shapes[i];
    return NULL;
}

/* ---------------------------------------------------------------------------------------------
 * Tokenizer metadata */

static bool ends_with(const char *s, const char *suffix)
{
    size_t n = strlen(s), m = strlen(suffix);
    return n >= m && strcmp(s + n - m, suffix) == 0;
}

static int copy_tokenizer(struct gguf_writer *w, const char *path, struct err *e)
{
    if (ends_with(path, ".json"))
        return tok_import_json(path, w, NULL, e);
    struct gguf *g;
    if (gguf_open(path, &g, e))
        return -1;
    int copied = 0;
    for (int64_t i = 0; i < gguf_n_kv(g); i++)
        if (strncmp(gguf_kv_key(g, i), "tokenizer.", 10) == 0) {
            gguf_writer_copy_kv(w, g, i);
            copied++;
        }
    gguf_close(g);
    if (!copied)
        return err_set(e, "%s: no tokenizer.* metadata", path);
    return 0;
}

/* ---------------------------------------------------------------------------------------------
 * Weights */

enum init { INIT_NORMAL, INIT_NEAR_ONE, INIT_ROPE_FREQS };

struct tensor_plan {
    char name[64];
    int32_t n_dims;
    int64_t ne[2];
    enum dtype type;
    enum init init;
    float std;
};

static uint64_t hash_name(uint64_t seed, const char *name, uint64_t chunk)
{
    uint64_t h = 1469598103934665603ull ^ seed; /* FNV-1a over the name, then mixed */
    for (const char *p = name; *p; p++)
        h = (h ^ (uint8_t)*p) * 1099511628211ull;
    h ^= chunk * 0x9e3779b97f4a7c15ull;
    h ^= h >> 33;
    h *= 0xff51afd7ed558ccdull;
    h ^= h >> 33;
    return h;
}

/* Standard normal by Box-Muller, two per draw pair. */
static void fill_normal(struct rng *r, float *x, int64_t n, float std)
{
    for (int64_t i = 0; i < n; i += 2) {
        double u1 = rng_uniform(r), u2 = rng_uniform(r);
        if (u1 < 1e-300)
            u1 = 1e-300;
        double rad = sqrt(-2.0 * log(u1)), ang = 2.0 * M_PI * u2;
        x[i] = (float)(rad * cos(ang)) * std;
        if (i + 1 < n)
            x[i + 1] = (float)(rad * sin(ang)) * std;
    }
}

/* Llama 3.1 rope frequency factors for head size hd (Meta's published scaling rule). */
static void llama3_rope_factors(float *out, int32_t hd, float base)
{
    const double factor = 32.0, low = 1.0, high = 4.0, orig_ctx = 8192.0;
    double low_wavelen = orig_ctx / low, high_wavelen = orig_ctx / high;
    for (int32_t i = 0; i < hd / 2; i++) {
        double freq = 1.0 / pow((double)base, (double)(2 * i) / (double)hd);
        double wavelen = 2.0 * M_PI / freq;
        if (wavelen < high_wavelen) {
            out[i] = 1.0f;
        } else if (wavelen > low_wavelen) {
            out[i] = (float)factor;
        } else {
            double smooth = (orig_ctx / wavelen - low) / (high - low);
            out[i] = (float)(1.0 / ((1.0 - smooth) / factor + smooth));
        }
    }
}

struct gen_job {
    const struct tensor_plan *t;
    uint64_t seed;
    int64_t first_chunk, n_chunks, n_elems;
    float *f32;  /* [n_chunks * CHUNK] */
    void *out;   /* converted, row-contiguous */
};

static void gen_worker(void *p, int ith, int nth)
{
    struct gen_job *j = p;
    long lo, hi;
    threadpool_split((long)j->n_chunks, ith, nth, &lo, &hi);
    for (long c = lo; c < hi; c++) {
        int64_t start = (j->first_chunk + c) * CHUNK;
        int64_t n = j->n_elems - start < CHUNK ? j->n_elems - start : CHUNK;
        float *x = j->f32 + c * CHUNK;
        struct rng r;
        rng_seed(&r, hash_name(j->seed, j->t->name, (uint64_t)(j->first_chunk + c)));
        fill_normal(&r, x, n, j->t->std);
        if (j->t->init == INIT_NEAR_ONE)
            for (int64_t i = 0; i < n; i++)
                x[i] += 1.0f;
        if (j->t->type == DT_F16) {
            uint16_t *o = (uint16_t *)j->out + c * CHUNK;
            for (int64_t i = 0; i < n; i++)
                o[i] = fp32_to_fp16(x[i]);
        } else if (j->t->type == DT_BF16) {
            uint16_t *o = (uint16_t *)j->out + c * CHUNK;
            for (int64_t i = 0; i < n; i++)
                o[i] = fp32_to_bf16(x[i]);
        }
    }
}

static int write_tensor(struct gguf_writer *w, struct threadpool *tp, const struct tensor_plan *t,
                        const struct shape *sh, uint64_t seed, struct err *e)
{
    int64_t n = t->ne[0] * (t->n_dims > 1 ? t->ne[1] : 1);
    if (t->init == INIT_ROPE_FREQS) {
        float f[512];
        llama3_rope_factors(f, (int32_t)(2 * t->ne[0]), sh->rope_base);
        return gguf_writer_write(w, f, sizeof(float) * (size_t)t->ne[0], e);
    }
    size_t esize = t->type == DT_F32 ? 4 : 2;
    const int64_t batch_chunks = 64; /* 4M elements per round: bounded memory */
    float *f32 = xmalloc_array((size_t)batch_chunks * CHUNK, sizeof(float));
    void *conv = esize == 4 ? (void *)f32 : xmalloc_array((size_t)batch_chunks * CHUNK, esize);
    int64_t total_chunks = (n + CHUNK - 1) / CHUNK;
    int rc = 0;
    for (int64_t c0 = 0; c0 < total_chunks && rc == 0; c0 += batch_chunks) {
        int64_t nc = total_chunks - c0 < batch_chunks ? total_chunks - c0 : batch_chunks;
        struct gen_job j = {t, seed, c0, nc, n, f32, conv};
        threadpool_run(tp, gen_worker, &j);
        int64_t elems = (c0 + nc) * CHUNK > n ? n - c0 * CHUNK : nc * CHUNK;
        rc = gguf_writer_write(w, conv, (size_t)elems * esize, e);
    }
    if (conv != f32)
        free(conv);
    free(f32);
    return rc;
}

static int plan_tensors(const struct shape *sh, int32_t n_layer, int32_t n_vocab, enum dtype type,
                        struct tensor_plan **out, int *n_out)
{
    int cap = 16 + n_layer * 16, n = 0;
    struct tensor_plan *p = xcalloc((size_t)cap, sizeof *p);
    int32_t hd = sh->n_embd / sh->n_head;
    int32_t q_dim = sh->n_head * hd, kv_dim = sh->n_head_kv * hd;
    float s_in = 1.0f / sqrtf((float)sh->n_embd);
#define ADD(nm, d, e0, e1, ty, in, sd)                                             \
    do {                                                                        \
        struct tensor_plan *t_ = &p[n++];                                       \
        snprintf(t_->name, sizeof t_->name, "%s", nm);                          \
        t_->n_dims = d;                                                         \
        t_->ne[0] = e0;                                                         \
        t_->ne[1] = e1;                                                         \
        t_->type = ty;                                                          \
        t_->init = in;                                                          \
        t_->std = sd;                                                           \
    } while (0)
    ADD("token_embd.weight", 2, sh->n_embd, n_vocab, type, INIT_NORMAL, 1.0f);
    if (sh->llama3_rope)
        ADD("rope_freqs.weight", 1, hd / 2, 1, DT_F32, INIT_ROPE_FREQS, 0.0f);
    bool bias = strcmp(sh->arch, "qwen2") == 0;
    for (int32_t l = 0; l < n_layer; l++) {
        char nm[64];
#define LNAME(s) (snprintf(nm, sizeof nm, "blk.%d.%s", l, s), nm)
        ADD(LNAME("attn_norm.weight"), 1, sh->n_embd, 1, DT_F32, INIT_NEAR_ONE, 0.1f);
        ADD(LNAME("attn_q.weight"), 2, sh->n_embd, q_dim, type, INIT_NORMAL, s_in);
        ADD(LNAME("attn_k.weight"), 2, sh->n_embd, kv_dim, type, INIT_NORMAL, s_in);
        ADD(LNAME("attn_v.weight"), 2, sh->n_embd, kv_dim, type, INIT_NORMAL, s_in);
        if (bias) {
            ADD(LNAME("attn_q.bias"), 1, q_dim, 1, DT_F32, INIT_NORMAL, 0.1f);
            ADD(LNAME("attn_k.bias"), 1, kv_dim, 1, DT_F32, INIT_NORMAL, 0.1f);
            ADD(LNAME("attn_v.bias"), 1, kv_dim, 1, DT_F32, INIT_NORMAL, 0.1f);
        }
        ADD(LNAME("attn_output.weight"), 2, q_dim, sh->n_embd, type, INIT_NORMAL,
            1.0f / sqrtf((float)q_dim));
        ADD(LNAME("ffn_norm.weight"), 1, sh->n_embd, 1, DT_F32, INIT_NEAR_ONE, 0.1f);
        ADD(LNAME("ffn_gate.weight"), 2, sh->n_embd, sh->n_ff, type, INIT_NORMAL, s_in);
        ADD(LNAME("ffn_up.weight"), 2, sh->n_embd, sh->n_ff, type, INIT_NORMAL, s_in);
        ADD(LNAME("ffn_down.weight"), 2, sh->n_ff, sh->n_embd, type, INIT_NORMAL,
            1.0f / sqrtf((float)sh->n_ff));
#undef LNAME
    }
    ADD("output_norm.weight", 1, sh->n_embd, 1, DT_F32, INIT_NEAR_ONE, 0.1f);
    ADD("output.weight", 2, sh->n_embd, n_vocab, type, INIT_NORMAL, s_in);
#undef ADD
    *out = p;
    *n_out = n;
    return 0;
}

static void set_arch_kv(struct gguf_writer *w, const struct shape *sh, int32_t n_layer,
                        int32_t n_vocab, enum dtype type)
{
    char key[96];
#define K(s) (snprintf(key, sizeof key, "%s.%s", sh->arch, s), key)
    char name[96];
    snprintf(name, sizeof name, "synthetic %s (random weights)", sh->title);
    gguf_writer_set_str(w, "general.architecture", sh->arch);
    gguf_writer_set_str(w, "general.name", name);
    gguf_writer_set_u32(w, K("context_length"), (uint32_t)sh->n_ctx);
    gguf_writer_set_u32(w, K("embedding_length"), (uint32_t)sh->n_embd);
    gguf_writer_set_u32(w, K("feed_forward_length"), (uint32_t)sh->n_ff);
    gguf_writer_set_u32(w, K("block_count"), (uint32_t)n_layer);
    gguf_writer_set_u32(w, K("attention.head_count"), (uint32_t)sh->n_head);
    gguf_writer_set_u32(w, K("attention.head_count_kv"), (uint32_t)sh->n_head_kv);
    gguf_writer_set_f32(w, K("rope.freq_base"), sh->rope_base);
    gguf_writer_set_f32(w, K("attention.layer_norm_rms_epsilon"), sh->norm_eps);
    gguf_writer_set_u32(w, K("rope.dimension_count"), (uint32_t)(sh->n_embd / sh->n_head));
    gguf_writer_set_u32(w, K("vocab_size"), (uint32_t)n_vocab);
    /* llama.cpp's LLAMA_FTYPE values: ALL_F32 0, MOSTLY_F16 1, MOSTLY_BF16 32 */
    gguf_writer_set_u32(w, "general.file_type", type == DT_F32 ? 0 : type == DT_F16 ? 1 : 32);
#undef K
}

int synth_write(const struct synth_opts *o, const char *out_path, struct err *e)
{
    const struct shape *sh = find_shape(o->shape);
    if (!sh)
        return err_set(e, "unknown shape '%s' (known: %s)", o->shape, synth_shape_list());
    if (o->type != DT_F32 && o->type != DT_F16 && o->type != DT_BF16)
        return err_set(e, "synth writes f32, f16 or bf16 (got %s); quantize afterwards",
                       dtype_name(o->type));
    char vocab[4096];
    if (o->vocab_path)
        snprintf(vocab, sizeof vocab, "%s", o->vocab_path);
    else
        snprintf(vocab, sizeof vocab, "%s/%s", o->fixtures ? o->fixtures : "../shared", sh->vocab);
    int32_t n_layer = o->n_layer > 0 ? o->n_layer : sh->n_layer;
    struct gguf_writer *w = gguf_writer_new();
    int64_t n_vocab = 0;
    if (copy_tokenizer(w, vocab, e)) {
        gguf_writer_free(w);
        return err_prefix(e, "vocabulary");
    }
    if (o->chat_template) /* replaces the vocabulary's */
        gguf_writer_set_str(w, "tokenizer.chat_template", o->chat_template);
    n_vocab = gguf_writer_arr_len(w, "tokenizer.ggml.tokens");
    if (n_vocab <= 0 || n_vocab > INT32_MAX) {
        gguf_writer_free(w);
        return err_set(e, "vocabulary %s: no tokenizer.ggml.tokens array", vocab);
    }
    if (!o->vocab_only)
        set_arch_kv(w, sh, n_layer, (int32_t)n_vocab, o->type);
    else
        gguf_writer_set_str(w, "general.architecture", sh->arch);
    struct tensor_plan *plan = NULL;
    int n_plan = 0;
    if (!o->vocab_only)
        plan_tensors(sh, n_layer, (int32_t)n_vocab, o->type, &plan, &n_plan);
    int rc = 0;
    for (int i = 0; i < n_plan && rc == 0; i++)
        rc = gguf_writer_add_tensor(w, plan[i].name, plan[i].type, (uint32_t)plan[i].n_dims,
                                    plan[i].ne, e);
    if (rc == 0)
        rc = gguf_writer_open(w, out_path, e);
    struct threadpool *tp = threadpool_new(o->n_threads > 0 ? o->n_threads : 1);
    for (int i = 0; i < n_plan && rc == 0; i++) {
        rc = write_tensor(w, tp, &plan[i], sh, o->seed, e);
        log_debug("synth: %s done", plan[i].name);
    }
    threadpool_free(tp);
    if (rc == 0)
        rc = gguf_writer_close(w, e);
    gguf_writer_free(w);
    free(plan);
    return rc;
}
