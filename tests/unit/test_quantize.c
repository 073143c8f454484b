/* Unit tests of whole-model quantization (quantize.c) on small synthetic models written with the
 * GGUF writer: the per-tensor types against the rules and against what llama-quantize picked for
 * the same models (tests/golden/quant/llama_quantize_types.tsv), files that reopen with the
 * right metadata and values, requantization, and inputs that must fail with a clear message.
 *
 *   test_quantize                      runs the tests
 *   test_quantize --write-models DIR   writes the synthetic models as f32 GGUFs (DIR/<name>.gguf)
 *                                      for scripts/golden/gen_quant_golden.sh
 */
#include "check.h"
#include "quant_golden.h"

#include "base/alloc.h"
#include "base/log.h"
#include "engine/dtype.h"
#include "engine/gguf.h"
#include "engine/quant.h"
#include "engine/quantize.h"

#include <inttypes.h>
#include <stdint.h>
#include <unistd.h>

/* Two shapes that reach the rules: llama8 has 8 layers (so use_more_bits() picks layers 0, 3, 6,
 * 7), GQA 4 (so Q2_K gives attn_v q4_K), its own output.weight, a 1-D rope_freqs, and ffn_down
 * rows of 288 (a multiple of 32, not of 256: the K-quants fall back). qwen2tied has no
 * output.weight (token_embd plays the output), biases, and ffn_down rows of 200 (not even a
 * multiple of 32: f16). */
struct synth {
    const char *name, *arch;
    int n_layer, n_embd, n_head, n_head_kv, n_ff, n_vocab;
    bool tied, biases, rope_freqs;
};

static const struct synth g_models[] = {
    {"llama8", "llama", 8, 256, 4, 1, 288, 320, false, false, true},
    {"qwen2tied", "qwen2", 2, 256, 4, 2, 200, 320, true, true, false},
};
#define N_MODELS (sizeof g_models / sizeof *g_models)

struct synth_tensor {
    char name[64];
    int n_dims;
    int64_t ne[2];
};

/* The tensor list of model m, in the order a converter writes them. */
static int synth_tensors(const struct synth *m, struct synth_tensor *t)
{
    int n = 0;
    const int64_t n_kv = (int64_t)m->n_embd / m->n_head * m->n_head_kv;
#define ADD(nd, a, b, ...)                                                        \
    do {                                                                          \
        snprintf(t[n].name, sizeof t[n].name, __VA_ARGS__);                       \
        t[n].n_dims = nd;                                                         \
        t[n].ne[0] = a;                                                           \
        t[n].ne[1] = b;                                                           \
        n++;                                                                      \
    } while (0)
    ADD(2, m->n_embd, m->n_vocab, "token_embd.weight");
    ADD(1, m->n_embd, 1, "output_norm.weight");
    if (!m->tied)
        ADD(2, m->n_embd, m->n_vocab, "output.weight");
    if (m->rope_freqs)
        ADD(1, m->n_embd / m->n_head / 2, 1, "rope_freqs.weight");
    for (int l = 0; l < m->n_layer; l++) {
        ADD(1, m->n_embd, 1, "blk.%d.attn_norm.weight", l);
        ADD(2, m->n_embd, m->n_embd, "blk.%d.attn_q.weight", l);
        ADD(2, m->n_embd, n_kv, "blk.%d.attn_k.weight", l);
        ADD(2, m->n_embd, n_kv, "blk.%d.attn_v.weight", l);
        if (m->biases) {
            ADD(1, m->n_embd, 1, "blk.%d.attn_q.bias", l);
            ADD(1, n_kv, 1, "blk.%d.attn_k.bias", l);
            ADD(1, n_kv, 1, "blk.%d.attn_v.bias", l);
        }
        ADD(2, m->n_embd, m->n_embd, "blk.%d.attn_output.weight", l);
        ADD(1, m->n_embd, 1, "blk.%d.ffn_norm.weight", l);
        ADD(2, m->n_embd, m->n_ff, "blk.%d.ffn_gate.weight", l);
        ADD(2, m->n_embd, m->n_ff, "blk.%d.ffn_up.weight", l);
        ADD(2, m->n_ff, m->n_embd, "blk.%d.ffn_down.weight", l);
    }
#undef ADD
    return n;
}
#define MAX_SYNTH_TENSORS 128

/* Deterministic values of tensor i: weights ~N(0, 0.02^2)-ish, norms around 1. */
static void synth_values(int i, const struct synth_tensor *t, float *x, int64_t n)
{
    uint64_t s = 0xabcdef00ull + (uint64_t)i;
    const bool norm = t->n_dims == 1;
    for (int64_t k = 0; k < n; k++)
        x[k] = norm ? 1.0f + 0.1f * qg_uniform(&s) : 0.02f * qg_bell(&s);
}

/* Writes model m with its 2-D tensors stored as wtype (f32, f16 or bf16); norms, biases and
 * rope_freqs stay f32 as converters write them. If poison >= 0, tensor poison gets a NaN. */
static int write_model(const struct synth *m, const char *path, enum dtype wtype, int poison,
                       struct err *e)
{
    struct synth_tensor t[MAX_SYNTH_TENSORS];
    const int n = synth_tensors(m, t);
    struct gguf_writer *w = gguf_writer_new();
    char key[96];
    gguf_writer_set_str(w, "general.architecture", m->arch);
    gguf_writer_set_str(w, "general.name", m->name);
    gguf_writer_set_str(w, "baton.test.note", "synthetic model of test_quantize.c");
    gguf_writer_set_u32(w, "general.file_type", wtype == DT_F32 ? 0 : wtype == DT_F16 ? 1 : 32);
#define KEY(suffix) (snprintf(key, sizeof key, "%s.%s", m->arch, suffix), key)
    gguf_writer_set_u32(w, KEY("context_length"), 256);
    gguf_writer_set_u32(w, KEY("embedding_length"), (uint32_t)m->n_embd);
    gguf_writer_set_u32(w, KEY("block_count"), (uint32_t)m->n_layer);
    gguf_writer_set_u32(w, KEY("feed_forward_length"), (uint32_t)m->n_ff);
    gguf_writer_set_u32(w, KEY("attention.head_count"), (uint32_t)m->n_head);
    gguf_writer_set_u32(w, KEY("attention.head_count_kv"), (uint32_t)m->n_head_kv);
    gguf_writer_set_f32(w, KEY("attention.layer_norm_rms_epsilon"), 1e-5f);
    gguf_writer_set_u32(w, KEY("vocab_size"), (uint32_t)m->n_vocab);
#undef KEY
    int rc = 0;
    for (int i = 0; i < n && rc == 0; i++)
        rc = gguf_writer_add_tensor(w, t[i].name, t[i].n_dims == 1 ? DT_F32 : wtype,
                                    (uint32_t)t[i].n_dims, t[i].ne, e);
    if (rc == 0)
        rc = gguf_writer_open(w, path, e);
    for (int i = 0; i < n && rc == 0; i++) {
        const int64_t count = t[i].ne[0] * (t[i].n_dims == 2 ? t[i].ne[1] : 1);
        const enum dtype ty = t[i].n_dims == 1 ? DT_F32 : wtype;
        float *x = xmalloc_array((size_t)count, sizeof(float));
        void *q = xmalloc_array((size_t)count, 4);
        synth_values(i, &t[i], x, count);
        if (i == poison)
            x[count / 2] = NAN;
        size_t bytes = quant_quantize_row_ref(ty, x, q, count);
        rc = gguf_writer_write(w, q, bytes, e);
        free(x);
        free(q);
    }
    if (rc == 0)
        rc = gguf_writer_close(w, e);
    gguf_writer_free(w);
    return rc;
}

static char g_dir[256];

static const char *tmp_path(const char *name)
{
    static char path[4][512];
    static int k;
    k = (k + 1) % 4;
    snprintf(path[k], sizeof path[k], "%s/%s", g_dir, name);
    return path[k];
}

/* ---------------------------------------------------------------------------------------
 * targets
 * --------------------------------------------------------------------------------------- */

static void test_targets(void)
{
    const struct quantize_target *t = quantize_target_find("q4_k_m");
    CHECK(t && t->ftype == 15 && t->base == DT_Q4_K);
    CHECK(quantize_target_find("Q4_K") == t); /* llama-quantize's alias */
    t = quantize_target_find("Q3_K");
    CHECK(t && t->ftype == 12);
    t = quantize_target_find("bf16");
    CHECK(t && t->ftype == 32 && t->base == DT_BF16);
    t = quantize_target_find("Q8_0");
    CHECK(t && t->ftype == 7);
    t = quantize_target_find("Q5_1");
    CHECK(t && t->ftype == 9);
    t = quantize_target_find("Q6_K");
    CHECK(t && t->ftype == 18 && t->base == DT_Q6_K);
    CHECK(quantize_target_find("Q4_K_X") == NULL);
    CHECK(quantize_target_find("IQ2_XXS") == NULL);
    CHECK(quantize_target_find("") == NULL);
    CHECK(strstr(quantize_target_list(), "Q5_K_M") != NULL);
}

/* ---------------------------------------------------------------------------------------
 * per-tensor types
 * --------------------------------------------------------------------------------------- */

static const char *const g_all_targets[] = {
    "F32", "F16", "BF16", "Q8_0", "Q4_0", "Q4_1", "Q5_0", "Q5_1", "Q2_K",
    "Q3_K_S", "Q3_K_M", "Q3_K_L", "Q4_K_S", "Q4_K_M", "Q5_K_S", "Q5_K_M", "Q6_K",
};
#define N_ALL_TARGETS (sizeof g_all_targets / sizeof *g_all_targets)

/* Type planned for tensor `name`, or -1. */
static int planned(const struct gguf *g, const uint32_t *types, const char *name)
{
    for (int64_t i = 0; i < gguf_n_tensors(g); i++)
        if (strcmp(gguf_tensor(g, i)->name, name) == 0)
            return (int)types[i];
    return -1;
}

#define CHECK_TYPE(g, types, name, want)                                                    \
    do {                                                                                    \
        int got_ = planned(g, types, name);                                                 \
        CHECK_MSG(got_ == (int)(want), "%s: %s, want %s", name, dtype_name((uint32_t)got_), \
                  dtype_name(want));                                                        \
    } while (0)

/* Rules spelled out by hand, so they are checked even without the reference's table. */
static void check_rules_llama8(const struct gguf *g)
{
    uint32_t types[MAX_SYNTH_TENSORS];
    struct err e;
    int n_fb = 0;
    CHECK(quantize_plan(g, quantize_target_find("Q4_K_M"), false, types, &n_fb, &e) == 0);
    CHECK_TYPE(g, types, "token_embd.weight", DT_Q4_K); /* not tied: an ordinary tensor */
    CHECK_TYPE(g, types, "output.weight", DT_Q6_K);
    CHECK_TYPE(g, types, "output_norm.weight", DT_F32);
    CHECK_TYPE(g, types, "rope_freqs.weight", DT_F32);
    CHECK_TYPE(g, types, "blk.5.attn_norm.weight", DT_F32);
    /* use_more_bits(i, 8): layers 0, 3, 6, 7 */
    const int more[8] = {1, 0, 0, 1, 0, 0, 1, 1};
    for (int l = 0; l < 8; l++) {
        char name[64];
        snprintf(name, sizeof name, "blk.%d.attn_v.weight", l);
        CHECK_TYPE(g, types, name, more[l] ? DT_Q6_K : DT_Q4_K);
        /* ffn_down rows are 288 long: q6_K falls back to q8_0, q4_K to q5_0 */
        snprintf(name, sizeof name, "blk.%d.ffn_down.weight", l);
        CHECK_TYPE(g, types, name, more[l] ? DT_Q8_0 : DT_Q5_0);
        snprintf(name, sizeof name, "blk.%d.attn_q.weight", l);
        CHECK_TYPE(g, types, name, DT_Q4_K);
    }
    CHECK_EQ_INT(n_fb, 8);

    CHECK(quantize_plan(g, quantize_target_find("Q2_K"), false, types, &n_fb, &e) == 0);
    CHECK_TYPE(g, types, "blk.2.attn_v.weight", DT_Q4_K); /* GQA 4 */
    CHECK_TYPE(g, types, "blk.2.attn_output.weight", DT_Q3_K);
    CHECK_TYPE(g, types, "blk.2.ffn_down.weight", DT_Q4_0); /* q3_K falls back */
    CHECK_TYPE(g, types, "blk.2.ffn_up.weight", DT_Q2_K);
    CHECK_TYPE(g, types, "output.weight", DT_Q6_K);

    CHECK(quantize_plan(g, quantize_target_find("Q3_K_M"), false, types, &n_fb, &e) == 0);
    CHECK_TYPE(g, types, "blk.0.attn_v.weight", DT_Q5_K);
    CHECK_TYPE(g, types, "blk.1.attn_v.weight", DT_Q5_K);
    CHECK_TYPE(g, types, "blk.2.attn_v.weight", DT_Q4_K);
    CHECK_TYPE(g, types, "blk.2.attn_output.weight", DT_Q4_K);

    CHECK(quantize_plan(g, quantize_target_find("Q8_0"), false, types, &n_fb, &e) == 0);
    CHECK_TYPE(g, types, "output.weight", DT_Q8_0);
    CHECK_TYPE(g, types, "blk.0.ffn_down.weight", DT_Q8_0);
    CHECK_EQ_INT(n_fb, 0);

    CHECK(quantize_plan(g, quantize_target_find("F16"), false, types, &n_fb, &e) == 0);
    CHECK_TYPE(g, types, "output.weight", DT_F16);
    CHECK_TYPE(g, types, "output_norm.weight", DT_F32);

    /* --pure: the default type everywhere, fallbacks only where a row cannot hold it */
    CHECK(quantize_plan(g, quantize_target_find("Q4_K_M"), true, types, &n_fb, &e) == 0);
    CHECK_TYPE(g, types, "output.weight", DT_Q4_K);
    CHECK_TYPE(g, types, "token_embd.weight", DT_Q4_K);
    CHECK_TYPE(g, types, "blk.0.attn_v.weight", DT_Q4_K);
    CHECK_TYPE(g, types, "blk.0.ffn_down.weight", DT_Q5_0); /* 288-long rows fall back */
    CHECK_TYPE(g, types, "output_norm.weight", DT_F32);
    CHECK_EQ_INT(n_fb, 8);
}

static void check_rules_qwen2tied(const struct gguf *g)
{
    uint32_t types[MAX_SYNTH_TENSORS];
    struct err e;
    int n_fb = 0;
    CHECK(quantize_plan(g, quantize_target_find("Q4_K_M"), false, types, &n_fb, &e) == 0);
    CHECK_TYPE(g, types, "token_embd.weight", DT_Q6_K); /* tied: plays output.weight */
    CHECK_TYPE(g, types, "blk.0.attn_q.bias", DT_F32);
    CHECK_TYPE(g, types, "blk.1.ffn_down.weight", DT_F16); /* 200 is not a multiple of 32 */
    CHECK_EQ_INT(n_fb, 2);
    CHECK(quantize_plan(g, quantize_target_find("Q4_0"), false, types, &n_fb, &e) == 0);
    CHECK_TYPE(g, types, "token_embd.weight", DT_Q6_K);
    CHECK_TYPE(g, types, "blk.0.attn_k.weight", DT_Q4_0);
}

/* The table llama-quantize produced: "model<TAB>target<TAB>tensor<TAB>type" lines. Every planned
 * type must equal it, and the table must cover every model, target and tensor. */
static void test_plan_vs_llama_quantize(void)
{
    size_t len = 0;
    char *table = check_read_file(check_source("tests/golden/quant/llama_quantize_types.tsv"), &len);
    CHECK_MSG(table != NULL, "cannot read tests/golden/quant/llama_quantize_types.tsv");
    int compared = 0, mismatched = 0;
    for (size_t mi = 0; mi < N_MODELS; mi++) {
        const struct synth *m = &g_models[mi];
        const char *path = tmp_path("plan.gguf");
        struct err e;
        struct gguf *g = NULL;
        int rc = write_model(m, path, DT_F32, -1, &e);
        if (rc == 0)
            rc = gguf_open(path, &g, &e);
        CHECK_MSG(rc == 0, "%s: %s", m->name, e.msg);
        if (rc)
            continue;
        if (mi == 0)
            check_rules_llama8(g);
        else
            check_rules_qwen2tied(g);
        for (size_t ti = 0; ti < N_ALL_TARGETS && table; ti++) {
            uint32_t types[MAX_SYNTH_TENSORS];
            CHECK(quantize_plan(g, quantize_target_find(g_all_targets[ti]), false, types, NULL, &e) == 0);
            for (int64_t i = 0; i < gguf_n_tensors(g); i++) {
                char prefix[160];
                int n = snprintf(prefix, sizeof prefix, "\n%s\t%s\t%s\t", m->name,
                                 g_all_targets[ti], gguf_tensor(g, i)->name);
                const char *hit = strstr(table, prefix); /* the table starts with a comment line */
                CHECK_MSG(hit != NULL, "table has no row for%s", prefix);
                if (!hit)
                    continue;
                char want[16] = {0};
                sscanf(hit + n, "%15s", want);
                compared++;
                if (strcmp(want, dtype_name(types[i])) != 0) {
                    mismatched++;
                    CHECK_MSG(0, "%s %s %s: baton %s, llama-quantize %s", m->name,
                              g_all_targets[ti], gguf_tensor(g, i)->name, dtype_name(types[i]),
                              want);
                }
            }
        }
        gguf_close(g);
        unlink(path);
    }
    fprintf(stderr, "  %d tensor types compared with llama-quantize, %d differ\n", compared,
            mismatched);
    free(table);
}

/* ---------------------------------------------------------------------------------------
 * whole files
 * --------------------------------------------------------------------------------------- */

/* Converts model m (stored as wtype) to target, reopens the result and checks it. Returns the
 * relative RMSE of blk.1.attn_q.weight against the original values. */
static double check_file(const struct synth *m, enum dtype wtype, const char *target_name,
                         int n_threads)
{
    const struct quantize_target *target = quantize_target_find(target_name);
    const char *in = tmp_path("in.gguf"), *out = tmp_path("out.gguf");
    struct err e;
    struct quantize_stats st;
    double rel = -1.0;
    CHECK(write_model(m, in, wtype, -1, &e) == 0);
    int rc = quantize_file(in, out, target, false, n_threads, &st, &e);
    CHECK_MSG(rc == 0, "%s -> %s: %s", m->name, target_name, e.msg);
    struct gguf *gi = NULL, *go = NULL;
    if (rc == 0 && gguf_open(in, &gi, &e) == 0 && gguf_open(out, &go, &e) == 0) {
        /* metadata: everything copied, file type and quantization version set */
        struct gguf_str s;
        CHECK(gguf_get_str(go, "baton.test.note", &s, &e) == 1);
        CHECK(gguf_get_str(go, "general.architecture", &s, &e) == 1 && gguf_str_eq(s, m->arch));
        uint32_t v = 0;
        CHECK(gguf_get_u32(go, "general.file_type", &v, &e) == 1 && v == target->ftype);
        CHECK(gguf_get_u32(go, "general.quantization_version", &v, &e) == 1 && v == 2);
        CHECK_EQ_INT(gguf_n_kv(go), gguf_n_kv(gi) + 1);
        /* tensors: same order and shapes, the planned types, sizes that add up */
        uint32_t types[MAX_SYNTH_TENSORS];
        CHECK(quantize_plan(gi, target, false, types, NULL, &e) == 0);
        CHECK_EQ_INT(gguf_n_tensors(go), gguf_n_tensors(gi));
        uint64_t total = 0;
        for (int64_t i = 0; i < gguf_n_tensors(go) && i < gguf_n_tensors(gi); i++) {
            const struct gguf_tensor *a = gguf_tensor(gi, i), *b = gguf_tensor(go, i);
            CHECK_STR(a->name, b->name);
            CHECK_EQ_INT(b->type, types[i]);
            CHECK(memcmp(a->ne, b->ne, sizeof a->ne) == 0);
            total += b->size;
            if (a->type == b->type) /* kept tensors are copied byte for byte */
                CHECK(a->size == b->size && memcmp(a->data, b->data, a->size) == 0);
        }
        CHECK_EQ_INT(st.bytes_out, total);
        CHECK_EQ_INT(st.n_tensors, gguf_n_tensors(gi));
        /* values: a converted matrix stays close to the original */
        const struct gguf_tensor *a = gguf_find_tensor(gi, "blk.1.attn_q.weight");
        const struct gguf_tensor *b = gguf_find_tensor(go, "blk.1.attn_q.weight");
        if (a && b) {
            const int64_t n = a->ne[0] * a->ne[1];
            float *x = xmalloc_array((size_t)n, sizeof(float));
            float *y = xmalloc_array((size_t)n, sizeof(float));
            quant_dequantize_row_ref((enum dtype)a->type, a->data, x, n);
            quant_dequantize_row_ref((enum dtype)b->type, b->data, y, n);
            double se = 0.0, ss = 0.0;
            for (int64_t i = 0; i < n; i++) {
                se += ((double)x[i] - y[i]) * ((double)x[i] - y[i]);
                ss += (double)x[i] * x[i];
            }
            rel = sqrt(se / ss);
            free(x);
            free(y);
        }
    }
    gguf_close(gi);
    gguf_close(go);
    unlink(in);
    unlink(out);
    return rel;
}

static void test_files(void)
{
    /* f16 and bf16 inputs (the usual converter outputs), several targets, 1 and 3 threads */
    struct { int model; enum dtype wtype; const char *target; int threads; double max_rel; } cases[] = {
        {0, DT_F16, "Q4_K_M", 2, 0.08},  {0, DT_F32, "Q8_0", 3, 0.01},
        {0, DT_BF16, "Q2_K", 1, 0.35},   {1, DT_F16, "Q5_K_S", 2, 0.04},
        {1, DT_F32, "F16", 2, 0.001},    {1, DT_F16, "Q4_0", 2, 0.13},
    };
    for (size_t k = 0; k < sizeof cases / sizeof *cases; k++) {
        double rel = check_file(&g_models[cases[k].model], cases[k].wtype, cases[k].target,
                                cases[k].threads);
        CHECK_MSG(rel >= 0 && rel <= cases[k].max_rel, "%s -> %s: relative rmse %g",
                  g_models[cases[k].model].name, cases[k].target, rel);
    }
}

/* Already-quantized input: dequantized and requantized, counted, still close. */
static void test_requantize(void)
{
    const char *in = tmp_path("rq_in.gguf"), *q8 = tmp_path("rq_q8.gguf"),
               *q4 = tmp_path("rq_q4.gguf");
    struct err e;
    struct quantize_stats st;
    CHECK(write_model(&g_models[1], in, DT_F32, -1, &e) == 0);
    CHECK(quantize_file(in, q8, quantize_target_find("Q8_0"), false, 2, &st, &e) == 0);
    CHECK(quantize_file(q8, q4, quantize_target_find("Q4_K_S"), false, 2, &st, &e) == 0);
    CHECK(st.n_requantized > 0);
    struct gguf *g = NULL;
    if (gguf_open(q4, &g, &e) == 0) {
        const struct gguf_tensor *t = gguf_find_tensor(g, "blk.0.attn_q.weight");
        CHECK(t && t->type == DT_Q4_K);
        gguf_close(g);
    }
    unlink(in);
    unlink(q8);
    unlink(q4);
}

/* A file without tensors: general.architecture = arch (unless NULL), <arch or llama>.block_count
 * (unless < 0), split.count (unless < 0). */
static void write_meta_only(const char *path, const char *arch, int block_count, int split_count)
{
    struct err e;
    char key[64];
    struct gguf_writer *w = gguf_writer_new();
    if (arch)
        gguf_writer_set_str(w, "general.architecture", arch);
    snprintf(key, sizeof key, "%s.block_count", arch ? arch : "llama");
    if (block_count >= 0)
        gguf_writer_set_u32(w, key, (uint32_t)block_count);
    if (split_count >= 0)
        gguf_writer_set_u32(w, "split.count", (uint32_t)split_count);
    CHECK(gguf_writer_open(w, path, &e) == 0 && gguf_writer_close(w, &e) == 0);
    gguf_writer_free(w);
}

static void test_errors(void)
{
    struct err e;
    const struct quantize_target *q4 = quantize_target_find("Q4_K_M");
    const char *in = tmp_path("bad.gguf"), *out = tmp_path("bad_out.gguf");

    CHECK(quantize_file(tmp_path("missing.gguf"), out, q4, false, 1, NULL, &e) != 0);
    CHECK(strstr(e.msg, "missing.gguf") != NULL);

    /* a NaN in a weight: refused, naming the tensor, and no output file left behind */
    CHECK(write_model(&g_models[1], in, DT_F32, 5, &e) == 0);
    CHECK(quantize_file(in, out, q4, false, 2, NULL, &e) != 0);
    CHECK_MSG(strstr(e.msg, "NaN") && strstr(e.msg, "blk.0.attn_v.weight") && strstr(e.msg, "row 64"),
              "%s", e.msg);
    CHECK(access(out, F_OK) != 0);

    /* the rules need the architecture and the layer count */
    write_meta_only(in, "llama", -1, -1);
    CHECK(quantize_file(in, out, q4, false, 1, NULL, &e) != 0);
    CHECK_MSG(strstr(e.msg, "llama.block_count") != NULL, "%s", e.msg);
    write_meta_only(in, NULL, 1, -1);
    CHECK(quantize_file(in, out, q4, false, 1, NULL, &e) != 0);
    CHECK_MSG(strstr(e.msg, "general.architecture") != NULL, "%s", e.msg);

    /* a 2-D weight of a type baton cannot read */
    struct gguf_writer *w = gguf_writer_new();
    gguf_writer_set_str(w, "general.architecture", "llama");
    gguf_writer_set_u32(w, "llama.block_count", 1);
    const int64_t ne[2] = {256, 2};
    CHECK(gguf_writer_add_tensor(w, "blk.0.attn_q.weight", DT_IQ4_XS, 2, ne, &e) == 0);
    CHECK(gguf_writer_open(w, in, &e) == 0);
    uint8_t zeros[2 * 136] = {0};
    CHECK(gguf_writer_write(w, zeros, sizeof zeros, &e) == 0 && gguf_writer_close(w, &e) == 0);
    gguf_writer_free(w);
    CHECK(quantize_file(in, out, q4, false, 1, NULL, &e) != 0);
    CHECK_MSG(strstr(e.msg, "iq4_xs") != NULL, "%s", e.msg);
    /* ... whatever the target, since f16 too needs its values */
    CHECK(quantize_file(in, out, quantize_target_find("F16"), false, 1, NULL, &e) != 0);

    /* split shards */
    write_meta_only(in, "llama", 1, 3);
    CHECK(quantize_file(in, out, q4, false, 1, NULL, &e) != 0);
    CHECK_MSG(strstr(e.msg, "split") != NULL, "%s", e.msg);

    /* falcon's own rules are not implemented: refused rather than quantized differently */
    write_meta_only(in, "falcon", 1, -1);
    CHECK(quantize_file(in, out, q4, false, 1, NULL, &e) != 0);
    CHECK_MSG(strstr(e.msg, "falcon") != NULL, "%s", e.msg);
    unlink(in);
    unlink(out);
}

static int write_models(const char *dir)
{
    for (size_t i = 0; i < N_MODELS; i++) {
        char path[512];
        struct err e;
        snprintf(path, sizeof path, "%s/%s.gguf", dir, g_models[i].name);
        if (write_model(&g_models[i], path, DT_F32, -1, &e)) {
            fprintf(stderr, "%s\n", e.msg);
            return 1;
        }
        printf("%s\n", g_models[i].name);
    }
    return 0;
}

int main(int argc, char **argv)
{
    if (argc == 3 && strcmp(argv[1], "--write-models") == 0)
        return write_models(argv[2]);
    log_set_level(LOG_ERROR); /* fallback and requantization warnings are expected here */
    snprintf(g_dir, sizeof g_dir, "/tmp/baton_test_quantize_XXXXXX");
    if (!mkdtemp(g_dir)) {
        perror("mkdtemp");
        return 1;
    }
    RUN(test_targets);
    RUN(test_plan_vs_llama_quantize);
    RUN(test_files);
    RUN(test_requantize);
    RUN(test_errors);
    rmdir(g_dir);
    return check_report();
}
