/* Every SIMD kernel table this CPU can run, against the scalar reference: activation conversion
 * byte-identical; quantized dot products and tiles bit-identical (kernels/qtile.h performs the
 * reference's float operations lane by lane); float-row dots (f32/f16/bf16, whose lanes sum in
 * another order than the reference's double) within 1e-5 of sum |w_i a_i|. Random data, odd
 * block counts, every tile shape. */

#include "check.h"

#include "engine/kernels.h"
#include "engine/quant.h"
#include "engine/sampler.h"

#include <stdbool.h>

static bool exact_type(enum dtype t) { return dtype_get(t)->block_elems > 1; }

/* got equals want: bit for bit for quantized types, within tol for float rows. */
static bool agrees(enum dtype t, float got, float want, double tol)
{
    if (exact_type(t))
        return memcmp(&got, &want, sizeof got) == 0;
    return fabs((double)got - want) <= tol;
}

static const enum dtype g_types[] = {DT_F32,  DT_F16,  DT_BF16, DT_Q8_0, DT_Q4_0,
                                     DT_Q4_1, DT_Q5_0, DT_Q5_1, DT_Q2_K, DT_Q3_K,
                                     DT_Q4_K, DT_Q5_K, DT_Q6_K};

static void fill(struct rng *r, float *x, int64_t n, float scale)
{
    for (int64_t i = 0; i < n; i++)
        x[i] = (float)(rng_uniform(r) * 2.0 - 1.0) * scale;
    /* a few outliers, as real activations have */
    for (int64_t i = 0; i < n; i += 97)
        x[i] *= 8.0f;
}

static void check_table(const struct kernels *k)
{
    struct rng r;
    rng_seed(&r, 77);
    const int64_t blocks[] = {1, 3, 7, 33};
    for (size_t ti = 0; ti < sizeof g_types / sizeof *g_types; ti++) {
        enum dtype t = g_types[ti];
        enum dtype act = quant_vec_dot_type(t);
        int64_t be = dtype_get(t)->block_elems == 1 ? 32 : dtype_get(t)->block_elems;
        for (size_t bi = 0; bi < sizeof blocks / sizeof *blocks; bi++) {
            int64_t n = be * blocks[bi] + (dtype_get(t)->block_elems == 1 ? 5 : 0); /* odd tail */
            uint64_t wbytes, abytes;
            dtype_row_bytes(t, (uint64_t)n, &wbytes);
            dtype_row_bytes(act, (uint64_t)n, &abytes);
            float *wf = malloc(sizeof(float) * (size_t)n), *af = malloc(sizeof(float) * (size_t)n);
            float *wd = malloc(sizeof(float) * (size_t)n), *ad = malloc(sizeof(float) * (size_t)n);
            void *wq = malloc(wbytes), *aq_ref = malloc(abytes), *aq = malloc(abytes);
            fill(&r, wf, n, 0.05f);
            fill(&r, af, n, 2.0f);
            quant_quantize_row_ref(t, wf, wq, n);
            quant_quantize_row_ref(act, af, aq_ref, n);
            k->quantize_act(act, af, aq, n);
            CHECK_MSG(memcmp(aq, aq_ref, abytes) == 0, "%s: %s activation conversion of %lld differs",
                      k->name, dtype_name(act), (long long)n);
            quant_dequantize_row_ref(t, wq, wd, n);
            quant_dequantize_row_ref(act, aq_ref, ad, n);
            double mag = 0;
            for (int64_t i = 0; i < n; i++)
                mag += fabs((double)wd[i] * ad[i]);
            float ref = quant_vec_dot_ref(t, n, wq, aq_ref);
            float got = k->vec_dot(t, n, wq, aq_ref);
            CHECK_MSG(agrees(t, got, ref, 1e-5 * mag + 1e-7), "%s: %s dot of %lld: %.9g vs ref %.9g (mag %.3g)",
                      k->name, dtype_name(t), (long long)n, (double)got, (double)ref, mag);
            free(wf);
            free(af);
            free(wd);
            free(ad);
            free(wq);
            free(aq_ref);
            free(aq);
        }
    }
}

/* vec_dot_tile: every tile shape, against the reference dot of each pair. */
static void check_tiles(const struct kernels *k)
{
    struct rng r;
    rng_seed(&r, 91);
    for (size_t ti = 0; ti < sizeof g_types / sizeof *g_types; ti++) {
        enum dtype t = g_types[ti];
        enum dtype act = quant_vec_dot_type(t);
        int64_t be = dtype_get(t)->block_elems == 1 ? 32 : dtype_get(t)->block_elems;
        int64_t n = be * 5;
        uint64_t wrow, arow;
        dtype_row_bytes(t, (uint64_t)n, &wrow);
        dtype_row_bytes(act, (uint64_t)n, &arow);
        char *w = malloc(wrow * 16), *a = malloc(arow * 4);
        float *x = malloc(sizeof(float) * (size_t)n), *wd = malloc(sizeof(float) * (size_t)n);
        float *ad = malloc(sizeof(float) * (size_t)n);
        for (int i = 0; i < 16; i++) {
            fill(&r, x, n, 0.05f);
            quant_quantize_row_ref(t, x, w + (size_t)i * wrow, n);
        }
        for (int i = 0; i < 4; i++) {
            fill(&r, x, n, 2.0f);
            quant_quantize_row_ref(act, x, a + (size_t)i * arow, n);
        }
        for (int nr = 1; nr <= 16; nr++)
            for (int nc = 1; nc <= 4 && nr * nc <= 16; nc++) {
                float out[4 * 17];
                k->vec_dot_tile(t, n, w, wrow, nr, a, arow, nc, out, 17);
                for (int c = 0; c < nc; c++)
                    for (int i = 0; i < nr; i++) {
                        const char *wi = w + (size_t)i * wrow, *ac = a + (size_t)c * arow;
                        quant_dequantize_row_ref(t, wi, wd, n);
                        quant_dequantize_row_ref(act, ac, ad, n);
                        double mag = 0;
                        for (int64_t e = 0; e < n; e++)
                            mag += fabs((double)wd[e] * ad[e]);
                        float ref = quant_vec_dot_ref(t, n, wi, ac);
                        CHECK_MSG(agrees(t, out[c * 17 + i], ref, 1e-5 * mag + 1e-7),
                                  "%s: %s tile %dx%d [%d][%d]: %.9g vs ref %.9g", k->name,
                                  dtype_name(t), nr, nc, i, c, (double)out[c * 17 + i], (double)ref);
                    }
            }
        free(w);
        free(a);
        free(x);
        free(wd);
        free(ad);
    }
}

/* Packed weights: every type the table packs, odd row counts (a partial last group), every
 * activation count up to KERNELS_PACK_COLS, bit-identical to the reference per (row, token). */
static void check_packed(const struct kernels *k)
{
    if (!k->pack_bytes)
        return;
    struct rng r;
    rng_seed(&r, 7);
    int packed_types = 0;
    for (size_t ti = 0; ti < sizeof g_types / sizeof *g_types; ti++) {
        enum dtype t = g_types[ti];
        enum dtype act = quant_vec_dot_type(t);
        int64_t be = dtype_get(t)->block_elems == 1 ? 32 : dtype_get(t)->block_elems;
        const int64_t n = be * 7, n_out = 37;
        if (!k->pack_bytes(t, n, n_out))
            continue;
        packed_types++;
        uint64_t wrow, arow;
        dtype_row_bytes(t, (uint64_t)n, &wrow);
        dtype_row_bytes(act, (uint64_t)n, &arow);
        char *w = malloc(wrow * (size_t)n_out), *a = malloc(arow * KERNELS_PACK_COLS);
        float *x = malloc(sizeof(float) * (size_t)n);
        int32_t asum[KERNELS_PACK_COLS * 7 * 8];
        const size_t asum_row = (size_t)(n / 32);
        for (int64_t i = 0; i < n_out; i++) {
            fill(&r, x, n, 0.05f);
            quant_quantize_row_ref(t, x, w + (size_t)i * wrow, n);
        }
        for (int c = 0; c < KERNELS_PACK_COLS; c++) {
            fill(&r, x, n, 2.0f);
            quant_quantize_row_ref(act, x, a + (size_t)c * arow, n);
            if (act == DT_Q8_0)
                kernels_q8_0_sums(a + (size_t)c * arow, n / 32, asum + (size_t)c * asum_row);
        }
        size_t bytes = k->pack_bytes(t, n, n_out), group = k->pack_bytes(t, n, KERNELS_PACK_ROWS);
        CHECK(bytes == group * (size_t)((n_out + KERNELS_PACK_ROWS - 1) / KERNELS_PACK_ROWS));
        char *pw = malloc(bytes);
        k->pack(t, n, n_out, w, wrow, pw);
        for (int64_t g = 0; g * KERNELS_PACK_ROWS < n_out; g++)
            for (int nc = 1; nc <= KERNELS_PACK_COLS; nc++) {
                float out[KERNELS_PACK_COLS * KERNELS_PACK_ROWS];
                k->packed_tile(t, n, pw + (size_t)g * group, a, arow, asum, asum_row, nc, out);
                for (int c = 0; c < nc; c++)
                    for (int i = 0; i < KERNELS_PACK_ROWS; i++) {
                        int64_t row = g * KERNELS_PACK_ROWS + i;
                        float got = out[c * KERNELS_PACK_ROWS + i];
                        float ref = row < n_out ? quant_vec_dot_ref(t, n, w + (size_t)row * wrow,
                                                                    a + (size_t)c * arow)
                                                : 0.0f;
                        CHECK_MSG(memcmp(&got, &ref, sizeof got) == 0 || (row >= n_out && got == 0.0f),
                                  "%s: packed %s group %lld nc %d [%d][%d]: %.9g vs ref %.9g",
                                  k->name, dtype_name(t), (long long)g, nc, i, c, (double)got,
                                  (double)ref);
                    }
            }
        free(pw);
        free(w);
        free(a);
        free(x);
    }
    CHECK_MSG(packed_types > 0, "%s: has pack functions but packs no type", k->name);
}

/* Attention kernels against the reference: scores and weighted values within float rounding of
 * their magnitude (head sizes the SIMD tables specialize, 64 and 128, and an odd one), exp
 * within a few ulp of expf over softmax's range, and exactly 0 far below it. */
/* Decoding attention rows over f16 keys and values: bit for bit the loop of the table's own
 * primitives (kernels_attn_f16_row_by), and within f16 rounding of the reference table. Head
 * sizes with the inlined bodies (64, 128), another multiple of 8 and one that is not; 1 to 77
 * positions, strides wider than a head (grouped heads share a cache row). */
static void check_attn_f16_row(const struct kernels *k)
{
    const struct kernels *ref = kernels_ref();
    struct rng r;
    rng_seed(&r, 11);
    const int32_t dims[][2] = {{64, 64}, {128, 128}, {40, 40}, {64, 20}, {96, 60}};
    const int32_t n_pos[] = {1, 2, 13, 77};
    const size_t stride = 300;
    uint16_t *keys = malloc(sizeof(uint16_t) * stride * 77), *vals = malloc(sizeof(uint16_t) * stride * 77);
    for (size_t i = 0; i < stride * 77; i++) {
        keys[i] = fp32_to_fp16((float)(rng_uniform(&r) * 2.0 - 1.0));
        vals[i] = fp32_to_fp16((float)(rng_uniform(&r) * 2.0 - 1.0) * 3.0f);
    }
    for (size_t d = 0; d < sizeof dims / sizeof *dims; d++) {
        int32_t hd = dims[d][0], hdv = dims[d][1];
        float qf[128], got[128], same[128], want[128];
        uint16_t q16[128];
        fill(&r, qf, hd, 1.5f);
        k->quantize_act(DT_F16, qf, q16, hd);
        float scale = 1.0f / sqrtf((float)hd);
        for (size_t p = 0; p < sizeof n_pos / sizeof *n_pos; p++) {
            int32_t np = n_pos[p];
            k->attn_f16_row(hd, hdv, np, keys + 7, stride, vals + 3, stride, q16, scale, got);
            kernels_attn_f16_row_by(k, hd, hdv, np, keys + 7, stride, vals + 3, stride, q16, scale, same);
            ref->attn_f16_row(hd, hdv, np, keys + 7, stride, vals + 3, stride, q16, scale, want);
            CHECK_MSG(memcmp(got, same, sizeof(float) * (size_t)hdv) == 0,
                      "%s: attn_f16_row %d/%d over %d positions differs from its primitives' loop",
                      k->name, hd, hdv, np);
            for (int32_t i = 0; i < hdv; i++) /* values up to 3: f16 steps of 2e-3 near them */
                CHECK_MSG(fabsf(got[i] - want[i]) <= 8e-3f, "%s: attn_f16_row %d/%d, %d positions [%d]: %.9g vs %.9g",
                          k->name, hd, hdv, np, i, (double)got[i], (double)want[i]);
        }
    }
    free(keys);
    free(vals);
}

static void check_attention(const struct kernels *k)
{
    const struct kernels *ref = kernels_ref();
    struct rng r;
    rng_seed(&r, 5);
    const int64_t dims[] = {64, 128, 40}, m = 77;
    const size_t stride = 300;
    float *rows = malloc(sizeof(float) * stride * (size_t)m), x[128], w[77];
    float got[128], want[128], gs[77], ws[77];
    fill(&r, rows, (int64_t)stride * m, 1.0f);
    for (size_t d = 0; d < sizeof dims / sizeof *dims; d++) {
        int64_t n = dims[d];
        fill(&r, x, n, 1.0f);
        for (int64_t j = 0; j < m; j++)
            w[j] = (float)rng_uniform(&r);
        k->f32_dots(n, m, rows + 3, stride, x, gs);
        ref->f32_dots(n, m, rows + 3, stride, x, ws);
        for (int64_t j = 0; j < m; j++) {
            double mag = 0;
            for (int64_t i = 0; i < n; i++)
                mag += fabs((double)rows[3 + (size_t)j * stride + (size_t)i] * x[i]);
            CHECK_MSG(fabs((double)gs[j] - ws[j]) <= 1e-5 * mag + 1e-7,
                      "%s: f32_dots n %lld row %lld: %.9g vs %.9g", k->name, (long long)n,
                      (long long)j, (double)gs[j], (double)ws[j]);
        }
        k->f32_combine(n, m, rows + 5, stride, w, got);
        ref->f32_combine(n, m, rows + 5, stride, w, want);
        for (int64_t i = 0; i < n; i++) {
            double mag = 0;
            for (int64_t j = 0; j < m; j++)
                mag += fabs((double)w[j] * rows[5 + (size_t)j * stride + (size_t)i]);
            CHECK_MSG(fabs((double)got[i] - want[i]) <= 1e-5 * mag + 1e-7,
                      "%s: f32_combine n %lld [%lld]: %.9g vs %.9g", k->name, (long long)n,
                      (long long)i, (double)got[i], (double)want[i]);
        }
    }
    float ex[203], ey[203];
    for (int i = 0; i < 203; i++)
        ex[i] = -87.0f + 96.0f * (float)i / 202.0f; /* -87 .. 9, odd count: the tail path too */
    ex[7] = 0.0f;
    k->f32_exp(203, ey, ex);
    for (int i = 0; i < 203; i++) {
        float e = expf(ex[i]);
        CHECK_MSG(fabsf(ey[i] - e) <= 4e-7f * e, "%s: exp(%.9g) = %.9g, expf %.9g", k->name,
                  (double)ex[i], (double)ey[i], (double)e);
    }
    ex[0] = -1000.0f;
    k->f32_exp(1, ey, ex);
    CHECK_MSG(ey[0] >= 0.0f && ey[0] < 2e-38f, "%s: exp(-1000) = %g", k->name, (double)ey[0]);
    /* softmax numerators and their sum, odd lengths (tails), against the reference */
    for (int n = 1; n <= 203; n += 29) {
        float a[203], b[203];
        for (int i = 0; i < n; i++)
            a[i] = b[i] = (float)(rng_uniform(&r) * 40.0 - 20.0);
        float sg = k->f32_softmax(n, a, 0.125f), sr = ref->f32_softmax(n, b, 0.125f);
        CHECK_MSG(fabsf(sg - sr) <= 1e-5f * sr, "%s: softmax sum of %d: %.9g vs %.9g", k->name, n,
                  (double)sg, (double)sr);
        for (int i = 0; i < n; i++)
            CHECK_MSG(fabsf(a[i] - b[i]) <= 4e-7f * b[i] + 1e-30f, "%s: softmax %d [%d]: %.9g vs %.9g",
                      k->name, n, i, (double)a[i], (double)b[i]);
    }
    free(rows);
    check_attn_f16_row(k);
}

/* Edge cases of activation conversion: all zeros, exact rounding ties, a lone extreme. */
static void check_act_edges(const struct kernels *k)
{
    float x[256];
    const enum dtype acts[] = {DT_Q8_0, DT_Q8_1, DT_Q8_K, DT_F16};
    for (int c = 0; c < 4; c++) {
        for (int i = 0; i < 256; i++) {
            switch (c) {
            case 0: x[i] = 0.0f; break;
            case 1: x[i] = (float)(i % 64 - 32) * 0.5f; break; /* many x/d on .5 ties */
            case 2: x[i] = i == 100 ? -1000.0f : (float)i * 1e-3f; break;
            default: x[i] = i == 3 ? 127.0f : (i == 200 ? -127.0f : (float)(i % 7) - 3.0f); break;
            }
        }
        for (size_t a = 0; a < sizeof acts / sizeof *acts; a++) {
            uint8_t ref[512], got[512];
            uint64_t nb;
            dtype_row_bytes(acts[a], 256, &nb);
            memset(ref, 0, sizeof ref);
            memset(got, 0, sizeof got);
            quant_quantize_row_ref(acts[a], x, ref, 256);
            k->quantize_act(acts[a], x, got, 256);
            CHECK_MSG(memcmp(ref, got, nb) == 0, "%s: %s conversion of edge case %d differs",
                      k->name, dtype_name(acts[a]), c);
        }
    }
}

int main(void)
{
    const char *names[] = {"ref", "avx2", "avx512"};
    int tested = 0;
    for (size_t i = 0; i < sizeof names / sizeof *names; i++) {
        const struct kernels *k = kernels_for(names[i]);
        if (!k) {
            fprintf(stderr, "skip %s: not supported by this CPU or build\n", names[i]);
            continue;
        }
        fprintf(stderr, "table %s\n", k->name);
        check_table(k);
        check_tiles(k);
        check_act_edges(k);
        check_packed(k);
        check_attention(k);
        tested++;
    }
    CHECK(tested >= 1);
    fprintf(stderr, "kernels_get() chose %s\n", kernels_get()->name);
    return check_report();
}
