/* kernels/ref: the scalar reference table (a thin layer over quant_ref.c) and the run-time
 * choice among the tables this CPU can run. */
#include "engine/kernels.h"
#include "engine/quant_blocks.h"

#include "engine/quant.h"

#include <cpuid.h>
#include <math.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

static float ref_vec_dot(enum dtype t, int64_t n, const void *w, const void *a)
{
    return quant_vec_dot_ref(t, n, w, a);
}

static void ref_quantize_act(enum dtype act, const float *x, void *y, int64_t n)
{
    if (act == DT_F32)
        memcpy(y, x, (size_t)n * sizeof(float));
    else
        quant_quantize_row_ref(act, x, y, n);
}

static void ref_f16_mad(int64_t n, uint16_t *y, const uint16_t *x, float v)
{
    for (int64_t i = 0; i < n; i++)
        y[i] = fp32_to_fp16(fmaf(fp16_to_fp32(x[i]), v, fp16_to_fp32(y[i])));
}

static void ref_f16_scale(int64_t n, uint16_t *y, float v)
{
    for (int64_t i = 0; i < n; i++)
        y[i] = fp32_to_fp16(fp16_to_fp32(y[i]) * v);
}

static void ref_f16_to_f32(int64_t n, float *y, const uint16_t *x)
{
    for (int64_t i = 0; i < n; i++)
        y[i] = fp16_to_fp32(x[i]);
}

void kernels_attn_f16_row_by(const struct kernels *k, int32_t hd, int32_t hdv, int32_t n_pos,
                             const uint16_t *keys, size_t k_stride, const uint16_t *vals,
                             size_t v_stride, const uint16_t *q16, float scale, float *out)
{
    uint16_t acc[KERNELS_MAX_HEAD_DIM];
    memset(acc, 0, sizeof(uint16_t) * (size_t)hdv);
    float m = -INFINITY, s = 0.0f;
    for (int32_t pos = 0; pos < n_pos; pos++) {
        float dot = kernels_rounded(k->vec_dot(DT_F16, hd, keys + (size_t)pos * k_stride, q16) * scale);
        float ms = 1.0f, vs = 1.0f;
        if (dot > m) {
            ms = expf(m - dot);
            m = dot;
            k->f16_scale(hdv, acc, ms);
        } else {
            vs = expf(dot - m);
        }
        k->f16_mad(hdv, acc, vals + (size_t)pos * v_stride, vs);
        s = kernels_rounded(s * ms) + vs;
    }
    float inv = s == 0.0f ? 0.0f : 1.0f / s;
    for (int32_t i = 0; i < hdv; i++)
        out[i] = fp16_to_fp32(acc[i]) * inv;
}

static void ref_f32_dots(int64_t n, int64_t m, const float *rows, size_t stride, const float *x,
                         float *out)
{
    for (int64_t j = 0; j < m; j++) {
        float s = 0.0f;
        for (int64_t i = 0; i < n; i++)
            s += rows[(size_t)j * stride + (size_t)i] * x[i];
        out[j] = s;
    }
}

static void ref_f32_combine(int64_t n, int64_t m, const float *rows, size_t stride,
                            const float *w, float *y)
{
    for (int64_t i = 0; i < n; i++)
        y[i] = 0.0f;
    for (int64_t j = 0; j < m; j++)
        for (int64_t i = 0; i < n; i++)
            y[i] += w[j] * rows[(size_t)j * stride + (size_t)i];
}

static void ref_f32_exp(int64_t n, float *y, const float *x)
{
    for (int64_t i = 0; i < n; i++)
        y[i] = expf(x[i]);
}

static float ref_f32_softmax(int64_t n, float *x, float scale)
{
    float m = -INFINITY, sum = 0.0f;
    for (int64_t i = 0; i < n; i++) {
        x[i] *= scale;
        m = x[i] > m ? x[i] : m;
    }
    for (int64_t i = 0; i < n; i++) {
        x[i] = expf(x[i] - m);
        sum += x[i];
    }
    return sum;
}

void kernels_tile_by_dots(const struct kernels *k, enum dtype t, int64_t n, const void *w,
                          size_t w_row, int nr, const void *a, size_t a_row, int nc, float *out,
                          size_t out_stride)
{
    for (int c = 0; c < nc; c++)
        for (int r = 0; r < nr; r++)
            out[(size_t)c * out_stride + (size_t)r] =
                k->vec_dot(t, n, (const char *)w + (size_t)r * w_row, (const char *)a + (size_t)c * a_row);
}

static const struct kernels g_ref;

static void ref_tile(enum dtype t, int64_t n, const void *w, size_t w_row, int nr, const void *a,
                     size_t a_row, int nc, float *out, size_t out_stride)
{
    kernels_tile_by_dots(&g_ref, t, n, w, w_row, nr, a, a_row, nc, out, out_stride);
}

static void ref_attn_f16_row(int32_t hd, int32_t hdv, int32_t n_pos, const uint16_t *k,
                             size_t k_stride, const uint16_t *v, size_t v_stride,
                             const uint16_t *q16, float scale, float *out)
{
    kernels_attn_f16_row_by(&g_ref, hd, hdv, n_pos, k, k_stride, v, v_stride, q16, scale, out);
}

static const struct kernels g_ref = {
    .name = "ref",
    .vec_dot = ref_vec_dot,
    .vec_dot_tile = ref_tile,
    .quantize_act = ref_quantize_act,
    .f16_mad = ref_f16_mad,
    .f16_scale = ref_f16_scale,
    .f16_to_f32 = ref_f16_to_f32,
    .attn_f16_row = ref_attn_f16_row,
    .f32_dots = ref_f32_dots,
    .f32_combine = ref_f32_combine,
    .f32_exp = ref_f32_exp,
    .f32_softmax = ref_f32_softmax,
};

const struct kernels *kernels_ref(void) { return &g_ref; }

void kernels_q8_0_sums(const void *a, int64_t nb, int32_t *out)
{
    const struct blk_q8_0 *y = a;
    for (int64_t b = 0; b < nb; b++) {
        int32_t s = 0;
        for (int i = 0; i < 32; i++)
            s += y[b].qs[i];
        out[b] = s;
    }
}

/* CPU features from cpuid, with the OS's consent to save the wide registers (XCR0), so the
 * answer is the same under gcc and clang (whose __builtin_cpu_supports names differ). */
struct cpu_features {
    bool avx2, fma, f16c;
    bool avx512; /* F, BW, VL, DQ and VNNI, with the OS saving the zmm and opmask state */
};

static struct cpu_features cpu_features(void)
{
    struct cpu_features f = {false, false, false, false};
#if defined(__x86_64__) || defined(__i386__)
    unsigned a, b, c, d;
    if (!__get_cpuid(1, &a, &b, &c, &d))
        return f;
    bool osxsave = c & (1u << 27), fma = c & (1u << 12), f16c = c & (1u << 29);
    if (!osxsave)
        return f;
    unsigned xlo, xhi;
    __asm__ volatile("xgetbv" : "=a"(xlo), "=d"(xhi) : "c"(0));
    bool ymm = (xlo & 6) == 6; /* SSE and AVX state */
    if (!ymm || !__get_cpuid_count(7, 0, &a, &b, &c, &d))
        return f;
    f.avx2 = b & (1u << 5);
    f.fma = fma;
    f.f16c = f16c;
    bool zmm_state = (xlo & 0xe6) == 0xe6; /* opmask, upper zmm0-15, zmm16-31 */
    bool avx512f = b & (1u << 16), dq = b & (1u << 17), bw = b & (1u << 30), vl = b & (1u << 31);
    bool vnni = c & (1u << 11);
    f.avx512 = zmm_state && avx512f && dq && bw && vl && vnni;
#endif
    return f;
}

const struct kernels *kernels_for(const char *name)
{
    if (strcmp(name, "ref") == 0)
        return &g_ref;
    struct cpu_features f = cpu_features();
    if (strcmp(name, "avx2") == 0 && f.avx2 && f.fma && f.f16c)
        return kernels_avx2();
    if (strcmp(name, "avx512") == 0 && f.avx512 && f.avx2 && f.fma && f.f16c)
        return kernels_avx512();
    return NULL;
}

const struct kernels *kernels_get(void)
{
    static const struct kernels *chosen;
    if (!chosen) {
        const char *force = getenv("BATON_KERNELS");
        static const char *const order[] = {"avx512", "avx2", "ref"};
        if (force && *force)
            chosen = kernels_for(force);
        for (size_t i = 0; !chosen && i < sizeof order / sizeof *order; i++)
            chosen = kernels_for(order[i]);
    }
    return chosen;
}
