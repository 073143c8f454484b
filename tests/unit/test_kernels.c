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
        tested++;
    }
    CHECK(tested >= 1);
    fprintf(stderr, "kernels_get() chose %s\n", kernels_get()->name);
    return check_report();
}
