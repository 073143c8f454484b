/* kernels/avx2: dot products and activation conversion with AVX2 + FMA + F16C.
 *
 * Quantized dot products (qtile.h) are bit-identical to the reference (quant_ref.c); float
 * rows (f32/f16/bf16) accumulate in vector lanes and agree with the reference's double sum to
 * ~1e-6 relative. Activation quantization is byte-identical to the reference (same scale, same
 * rounding rule), because it feeds every later dot. tests/unit/test_kernels.c checks all of it.
 *
 * Int8 products use the maddubs idiom: _mm256_maddubs_epi16(u8, s8) multiplies unsigned by
 * signed bytes and adds adjacent pairs into int16 lanes. Weight quants are unsigned by
 * construction (the formats store q + offset), so the offset is taken out afterwards with the
 * activation block sums: sum (q - k) a = sum q a - k sum a. Pair sums stay below 2^15 for every
 * format here (largest: q6_K, 63 * 127 * 2 = 16002).
 */
#include "engine/kernels.h"
#include "engine/kernels/expf_poly.h"

#include "engine/quant.h"

#include <immintrin.h>
#include <math.h>
#include <string.h>

#if defined(__AVX2__) && defined(__FMA__) && defined(__F16C__)

static inline float h2f(uint16_t h) { return _cvtsh_ss(h); }

/* 32 unsigned bytes times 32 signed bytes, summed into 8 int32 lanes. */
static inline __m256i dot_u8s8(__m256i u, __m256i s)
{
    return _mm256_madd_epi16(_mm256_maddubs_epi16(u, s), _mm256_set1_epi16(1));
}

#define QT_DOT_U8S8(u, s) dot_u8s8(u, s)
#include "engine/kernels/qtile.h"

static inline float hsum_ps(__m256 v)
{
    __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    s = _mm_add_ps(s, _mm_movehl_ps(s, s));
    s = _mm_add_ss(s, _mm_movehdup_ps(s));
    return _mm_cvtss_f32(s);
}

static inline int hsum_epi32(__m256i v)
{
    __m128i s = _mm_add_epi32(_mm256_castsi256_si128(v), _mm256_extracti128_si256(v, 1));
    s = _mm_add_epi32(s, _mm_shuffle_epi32(s, 0x4e));
    s = _mm_add_epi32(s, _mm_shuffle_epi32(s, 0xb1));
    return _mm_cvtsi128_si32(s);
}

/* 32 signed by 32 signed bytes (neither -128), into 8 int32 lanes. */
static inline __m256i dot_s8s8(__m256i x, __m256i y)
{
    return dot_u8s8(_mm256_sign_epi8(x, x), _mm256_sign_epi8(y, x));
}

/* ---- float rows ---- */

static float dot_f32(int64_t n, const float *x, const float *y)
{
    __m256 acc[4] = {_mm256_setzero_ps(), _mm256_setzero_ps(), _mm256_setzero_ps(),
                     _mm256_setzero_ps()};
    int64_t i = 0;
    for (; i + 32 <= n; i += 32)
        for (int k = 0; k < 4; k++)
            acc[k] = _mm256_fmadd_ps(_mm256_loadu_ps(x + i + 8 * k), _mm256_loadu_ps(y + i + 8 * k),
                                     acc[k]);
    for (; i + 8 <= n; i += 8)
        acc[0] = _mm256_fmadd_ps(_mm256_loadu_ps(x + i), _mm256_loadu_ps(y + i), acc[0]);
    float s = hsum_ps(_mm256_add_ps(_mm256_add_ps(acc[0], acc[1]), _mm256_add_ps(acc[2], acc[3])));
    for (; i < n; i++)
        s += x[i] * y[i];
    return s;
}

/* Inlined where n is a constant (the attention rows' head sizes), so the loops unroll; the
 * same operations in the same order either way. */
static inline __attribute__((always_inline)) float dot_f16_body(int64_t n, const uint16_t *x,
                                                                const uint16_t *y)
{
    __m256 acc[4] = {_mm256_setzero_ps(), _mm256_setzero_ps(), _mm256_setzero_ps(),
                     _mm256_setzero_ps()};
    int64_t i = 0;
    for (; i + 32 <= n; i += 32)
        for (int k = 0; k < 4; k++) {
            __m256 a = _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)(x + i + 8 * k)));
            __m256 b = _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)(y + i + 8 * k)));
            acc[k] = _mm256_fmadd_ps(a, b, acc[k]);
        }
    for (; i + 8 <= n; i += 8) {
        __m256 a = _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)(x + i)));
        __m256 b = _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)(y + i)));
        acc[0] = _mm256_fmadd_ps(a, b, acc[0]);
    }
    float s = hsum_ps(_mm256_add_ps(_mm256_add_ps(acc[0], acc[1]), _mm256_add_ps(acc[2], acc[3])));
    for (; i < n; i++)
        s += h2f(x[i]) * h2f(y[i]);
    return s;
}

static float dot_f16(int64_t n, const uint16_t *x, const uint16_t *y) { return dot_f16_body(n, x, y); }

static inline __m256 load_bf16(const uint16_t *p)
{
    __m128i h = _mm_loadu_si128((const __m128i *)p);
    return _mm256_castsi256_ps(_mm256_slli_epi32(_mm256_cvtepu16_epi32(h), 16));
}

static float dot_bf16(int64_t n, const uint16_t *x, const uint16_t *y)
{
    __m256 acc[2] = {_mm256_setzero_ps(), _mm256_setzero_ps()};
    int64_t i = 0;
    for (; i + 16 <= n; i += 16) {
        acc[0] = _mm256_fmadd_ps(load_bf16(x + i), load_bf16(y + i), acc[0]);
        acc[1] = _mm256_fmadd_ps(load_bf16(x + i + 8), load_bf16(y + i + 8), acc[1]);
    }
    for (; i + 8 <= n; i += 8)
        acc[0] = _mm256_fmadd_ps(load_bf16(x + i), load_bf16(y + i), acc[0]);
    float s = hsum_ps(_mm256_add_ps(acc[0], acc[1]));
    for (; i < n; i++)
        s += bf16_to_fp32(x[i]) * bf16_to_fp32(y[i]);
    return s;
}

static float avx2_vec_dot(enum dtype t, int64_t n, const void *w, const void *a)
{
    switch (t) {
    case DT_F32: return dot_f32(n, w, a);
    case DT_F16: return dot_f16(n, w, a);
    case DT_BF16: return dot_bf16(n, w, a);
    default:
        if (qt_handles(t)) {
            float out;
            qt_tile(t, n, w, 0, 1, a, 0, 1, &out, 1);
            return out;
        }
        return quant_vec_dot_ref(t, n, w, a);
    }
}

/* ---- activation conversion ---- */

/* round half away from zero, exactly like roundf: truncate, then step away if |frac| >= 0.5 */
static inline __m256 round_away(__m256 x)
{
    __m256 t = _mm256_round_ps(x, _MM_FROUND_TO_ZERO | _MM_FROUND_NO_EXC);
    __m256 frac = _mm256_sub_ps(x, t);
    const __m256 sign = _mm256_set1_ps(-0.0f);
    __m256 afrac = _mm256_andnot_ps(sign, frac);
    __m256 step = _mm256_and_ps(_mm256_cmp_ps(afrac, _mm256_set1_ps(0.5f), _CMP_GE_OQ),
                                _mm256_or_ps(_mm256_set1_ps(1.0f), _mm256_and_ps(x, sign)));
    return _mm256_add_ps(t, step);
}

static inline __m256 abs_ps(__m256 x) { return _mm256_andnot_ps(_mm256_set1_ps(-0.0f), x); }

static inline float hmax_ps(__m256 v)
{
    __m128 m = _mm_max_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    m = _mm_max_ps(m, _mm_movehl_ps(m, m));
    m = _mm_max_ss(m, _mm_movehdup_ps(m));
    return _mm_cvtss_f32(m);
}

/* Packs 32 int32-valued floats (4 vectors) to 32 int8 in element order. */
static inline __m256i pack_32(__m256 v0, __m256 v1, __m256 v2, __m256 v3)
{
    __m256i i0 = _mm256_cvtps_epi32(v0), i1 = _mm256_cvtps_epi32(v1);
    __m256i i2 = _mm256_cvtps_epi32(v2), i3 = _mm256_cvtps_epi32(v3);
    __m256i p01 = _mm256_packs_epi32(i0, i1), p23 = _mm256_packs_epi32(i2, i3);
    __m256i p = _mm256_packs_epi16(p01, p23);
    return _mm256_permutevar8x32_epi32(p, _mm256_setr_epi32(0, 4, 1, 5, 2, 6, 3, 7));
}

/* One q8_0/q8_1 block: d = amax / 127, q = roundf(x / d) (as quant_ref.c). Returns d. */
static inline float quant_block_8bit(const float *x, int8_t *qs, int *sum)
{
    __m256 v[4];
    __m256 mx = _mm256_setzero_ps();
    for (int k = 0; k < 4; k++) {
        v[k] = _mm256_loadu_ps(x + 8 * k);
        mx = _mm256_max_ps(mx, abs_ps(v[k]));
    }
    float amax = hmax_ps(mx);
    float d = amax / 127.0f, id = d != 0.0f ? 1.0f / d : 0.0f;
    __m256 vid = _mm256_set1_ps(id);
    for (int k = 0; k < 4; k++)
        v[k] = round_away(_mm256_mul_ps(v[k], vid));
    __m256i q = pack_32(v[0], v[1], v[2], v[3]);
    _mm256_storeu_si256((__m256i *)qs, q);
    if (sum)
        *sum = hsum_epi32(dot_s8s8(_mm256_set1_epi8(1), q));
    return d;
}

static void avx2_quantize_act(enum dtype act, const float *x, void *y, int64_t n)
{
    switch (act) {
    case DT_F32:
        memcpy(y, x, (size_t)n * sizeof(float));
        return;
    case DT_F16: {
        uint16_t *h = y;
        int64_t i = 0;
        for (; i + 8 <= n; i += 8)
            _mm_storeu_si128((__m128i *)(h + i),
                             _mm256_cvtps_ph(_mm256_loadu_ps(x + i), _MM_FROUND_TO_NEAREST_INT));
        for (; i < n; i++)
            h[i] = fp32_to_fp16(x[i]);
        return;
    }
    case DT_Q8_0: {
        struct blk_q8_0 *b = y;
        for (int64_t i = 0; i < n / 32; i++)
            b[i].d = fp32_to_fp16(quant_block_8bit(x + 32 * i, b[i].qs, NULL));
        return;
    }
    case DT_Q8_1: {
        struct blk_q8_1 *b = y;
        for (int64_t i = 0; i < n / 32; i++) {
            int sum;
            float d = quant_block_8bit(x + 32 * i, b[i].qs, &sum);
            b[i].d = fp32_to_fp16(d);
            b[i].s = fp32_to_fp16((float)sum * d);
        }
        return;
    }
    case DT_Q8_K: {
        struct blk_q8_K *b = y;
        for (int64_t i = 0; i < n / QK_K; i++, x += QK_K) {
            __m256 mx = _mm256_setzero_ps();
            for (int k = 0; k < QK_K; k += 8)
                mx = _mm256_max_ps(mx, abs_ps(_mm256_loadu_ps(x + k)));
            float amax = hmax_ps(mx);
            memset(&b[i], 0, sizeof b[i]);
            if (amax == 0.0f)
                continue;
            int first = 0; /* the first element of largest magnitude sets the sign */
            while (fabsf(x[first]) != amax)
                first++;
            float iscale = -127.0f / x[first];
            __m256 vs = _mm256_set1_ps(iscale);
            for (int k = 0; k < QK_K; k += 32) {
                __m256 v[4];
                for (int j = 0; j < 4; j++) /* ties to even, like the reference; clamp at 127 */
                    v[j] = _mm256_min_ps(_mm256_round_ps(_mm256_mul_ps(vs, _mm256_loadu_ps(x + k + 8 * j)),
                                                         _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC),
                                         _mm256_set1_ps(127.0f));
                __m256i q = pack_32(v[0], v[1], v[2], v[3]);
                _mm256_storeu_si256((__m256i *)(b[i].qs + k), q);
                /* bsums over groups of 16: widen to int16 and add within each half */
                __m256i w16a = _mm256_cvtepi8_epi16(_mm256_castsi256_si128(q));
                __m256i w16b = _mm256_cvtepi8_epi16(_mm256_extracti128_si256(q, 1));
                __m256i s32a = _mm256_madd_epi16(w16a, _mm256_set1_epi16(1));
                __m256i s32b = _mm256_madd_epi16(w16b, _mm256_set1_epi16(1));
                b[i].bsums[k / 16] = (int16_t)hsum_epi32(s32a);
                b[i].bsums[k / 16 + 1] = (int16_t)hsum_epi32(s32b);
            }
            b[i].d = 1.0f / iscale;
        }
        return;
    }
    default:
        quant_quantize_row_ref(act, x, y, n);
        return;
    }
}

/* ---- attention primitives ---- */

static void avx2_f16_mad(int64_t n, uint16_t *y, const uint16_t *x, float v)
{
    __m256 vv = _mm256_set1_ps(v);
    int64_t i = 0;
    for (; i + 8 <= n; i += 8) {
        __m256 a = _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)(x + i)));
        __m256 b = _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)(y + i)));
        _mm_storeu_si128((__m128i *)(y + i),
                         _mm256_cvtps_ph(_mm256_fmadd_ps(a, vv, b), _MM_FROUND_TO_NEAREST_INT));
    }
    for (; i < n; i++)
        y[i] = fp32_to_fp16(fmaf(h2f(x[i]), v, h2f(y[i])));
}

static void avx2_f16_scale(int64_t n, uint16_t *y, float v)
{
    __m256 vv = _mm256_set1_ps(v);
    int64_t i = 0;
    for (; i + 8 <= n; i += 8) {
        __m256 b = _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)(y + i)));
        _mm_storeu_si128((__m128i *)(y + i),
                         _mm256_cvtps_ph(_mm256_mul_ps(b, vv), _MM_FROUND_TO_NEAREST_INT));
    }
    for (; i < n; i++)
        y[i] = fp32_to_fp16(h2f(y[i]) * v);
}

/* One decoding attention row (kernels.h attn_f16_row) with the accumulator in registers: a
 * lane holds an f16 value as f32, and rounding it to f16 and back after every update is what
 * storing it and loading it again in avx2_f16_scale / avx2_f16_mad does, so the result is theirs
 * bit for bit, without two calls and a round trip through memory per position. nv: hdv / 8,
 * hd and nv constants where the body is inlined for a common head size. */
static inline __m256 round_f16(__m256 x)
{
    return _mm256_cvtph_ps(_mm256_cvtps_ph(x, _MM_FROUND_TO_NEAREST_INT));
}

static inline __attribute__((always_inline)) void
attn_row_body(int nv, int64_t hd, int32_t n_pos, const uint16_t *k, size_t k_stride,
              const uint16_t *v, size_t v_stride, const uint16_t *q16, float scale, float *out)
{
    __m256 acc[KERNELS_MAX_HEAD_DIM / 8];
    for (int i = 0; i < nv; i++)
        acc[i] = _mm256_setzero_ps();
    float m = -INFINITY, s = 0.0f;
    for (int32_t pos = 0; pos < n_pos; pos++) {
        float dot = kernels_rounded(dot_f16_body(hd, k + (size_t)pos * k_stride, q16) * scale);
        float ms = 1.0f, vs = 1.0f;
        if (dot > m) {
            ms = expf(m - dot);
            m = dot;
            __m256 vm = _mm256_set1_ps(ms);
            for (int i = 0; i < nv; i++)
                acc[i] = round_f16(_mm256_mul_ps(acc[i], vm));
        } else {
            vs = expf(dot - m);
        }
        const uint16_t *vr = v + (size_t)pos * v_stride;
        __m256 vv = _mm256_set1_ps(vs);
        for (int i = 0; i < nv; i++)
            acc[i] = round_f16(_mm256_fmadd_ps(
                _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)(vr + 8 * i))), vv, acc[i]));
        s = kernels_rounded(s * ms) + vs;
    }
    __m256 inv = _mm256_set1_ps(s == 0.0f ? 0.0f : 1.0f / s);
    for (int i = 0; i < nv; i++)
        _mm256_storeu_ps(out + 8 * i, _mm256_mul_ps(acc[i], inv));
}

static const struct kernels g_avx2;

static void avx2_attn_f16_row(int32_t hd, int32_t hdv, int32_t n_pos, const uint16_t *k,
                              size_t k_stride, const uint16_t *v, size_t v_stride,
                              const uint16_t *q16, float scale, float *out)
{
    if (hd == 64 && hdv == 64)
        attn_row_body(8, 64, n_pos, k, k_stride, v, v_stride, q16, scale, out);
    else if (hd == 128 && hdv == 128)
        attn_row_body(16, 128, n_pos, k, k_stride, v, v_stride, q16, scale, out);
    else if (hdv % 8 == 0)
        attn_row_body(hdv / 8, hd, n_pos, k, k_stride, v, v_stride, q16, scale, out);
    else
        kernels_attn_f16_row_by(&g_avx2, hd, hdv, n_pos, k, k_stride, v, v_stride, q16, scale, out);
}

static void avx2_f16_to_f32(int64_t n, float *y, const uint16_t *x)
{
    int64_t i = 0;
    for (; i + 8 <= n; i += 8)
        _mm256_storeu_ps(y + i, _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)(x + i))));
    for (; i < n; i++)
        y[i] = h2f(x[i]);
}

static inline float avx2_hsum(__m256 v)
{
    __m128 x = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    x = _mm_add_ps(x, _mm_movehl_ps(x, x));
    x = _mm_add_ss(x, _mm_movehdup_ps(x));
    return _mm_cvtss_f32(x);
}

static void avx2_f32_dots(int64_t n, int64_t m, const float *rows, size_t stride, const float *x,
                          float *out)
{
    for (int64_t j = 0; j < m; j++) {
        const float *r = rows + (size_t)j * stride;
        __m256 acc = _mm256_setzero_ps();
        int64_t i = 0;
        for (; i + 8 <= n; i += 8)
            acc = _mm256_fmadd_ps(_mm256_loadu_ps(r + i), _mm256_loadu_ps(x + i), acc);
        float s = avx2_hsum(acc);
        for (; i < n; i++)
            s += r[i] * x[i];
        out[j] = s;
    }
}

static void avx2_f32_combine(int64_t n, int64_t m, const float *rows, size_t stride,
                             const float *w, float *y)
{
    int64_t i = 0;
    for (; i + 32 <= n; i += 32) { /* four accumulators in registers over all rows */
        __m256 a0 = _mm256_setzero_ps(), a1 = a0, a2 = a0, a3 = a0;
        for (int64_t j = 0; j < m; j++) {
            const float *r = rows + (size_t)j * stride + i;
            __m256 wj = _mm256_set1_ps(w[j]);
            a0 = _mm256_fmadd_ps(wj, _mm256_loadu_ps(r), a0);
            a1 = _mm256_fmadd_ps(wj, _mm256_loadu_ps(r + 8), a1);
            a2 = _mm256_fmadd_ps(wj, _mm256_loadu_ps(r + 16), a2);
            a3 = _mm256_fmadd_ps(wj, _mm256_loadu_ps(r + 24), a3);
        }
        _mm256_storeu_ps(y + i, a0);
        _mm256_storeu_ps(y + i + 8, a1);
        _mm256_storeu_ps(y + i + 16, a2);
        _mm256_storeu_ps(y + i + 24, a3);
    }
    for (; i < n; i++) {
        float s = 0.0f;
        for (int64_t j = 0; j < m; j++)
            s += w[j] * rows[(size_t)j * stride + (size_t)i];
        y[i] = s;
    }
}

/* exp(x) = 2^k exp(r), x = k ln2 + r, |r| <= ln2 / 2, exp(r) by Cephes' expf polynomial. */
static inline __m256 avx2_exp8(__m256 x)
{
    x = _mm256_min_ps(_mm256_max_ps(x, _mm256_set1_ps(-87.3f)), _mm256_set1_ps(EXPF_MAX));
    __m256 k = _mm256_round_ps(_mm256_mul_ps(x, _mm256_set1_ps(EXPF_LOG2E)),
                               _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
    __m256 r = _mm256_fnmadd_ps(k, _mm256_set1_ps(EXPF_LN2_HI), x);
    r = _mm256_fnmadd_ps(k, _mm256_set1_ps(EXPF_LN2_LO), r);
    __m256 p = _mm256_set1_ps(EXPF_C0);
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(EXPF_C1));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(EXPF_C2));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(EXPF_C3));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(EXPF_C4));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(EXPF_C5));
    p = _mm256_fmadd_ps(p, _mm256_mul_ps(r, r), _mm256_add_ps(r, _mm256_set1_ps(1.0f)));
    __m256i e = _mm256_slli_epi32(_mm256_add_epi32(_mm256_cvtps_epi32(k), _mm256_set1_epi32(127)), 23);
    return _mm256_mul_ps(p, _mm256_castsi256_ps(e));
}

static void avx2_f32_exp(int64_t n, float *y, const float *x)
{
    int64_t i = 0;
    for (; i + 8 <= n; i += 8)
        _mm256_storeu_ps(y + i, avx2_exp8(_mm256_loadu_ps(x + i)));
    for (; i < n; i++)
        y[i] = expf(x[i]);
}

static float avx2_f32_softmax(int64_t n, float *x, float scale)
{
    const __m256 vs = _mm256_set1_ps(scale);
    __m256 vm = _mm256_set1_ps(-INFINITY);
    float m = -INFINITY;
    int64_t i = 0;
    for (; i + 8 <= n; i += 8) {
        __m256 v = _mm256_mul_ps(_mm256_loadu_ps(x + i), vs);
        _mm256_storeu_ps(x + i, v);
        vm = _mm256_max_ps(vm, v);
    }
    for (; i < n; i++) {
        x[i] *= scale;
        m = x[i] > m ? x[i] : m;
    }
    __m128 h = _mm_max_ps(_mm256_castps256_ps128(vm), _mm256_extractf128_ps(vm, 1));
    h = _mm_max_ps(h, _mm_movehl_ps(h, h));
    h = _mm_max_ss(h, _mm_movehdup_ps(h));
    m = _mm_cvtss_f32(h) > m ? _mm_cvtss_f32(h) : m;
    const __m256 vmax = _mm256_set1_ps(m);
    __m256 acc = _mm256_setzero_ps();
    for (i = 0; i + 8 <= n; i += 8) {
        __m256 e = avx2_exp8(_mm256_sub_ps(_mm256_loadu_ps(x + i), vmax));
        _mm256_storeu_ps(x + i, e);
        acc = _mm256_add_ps(acc, e);
    }
    float sum = avx2_hsum(acc);
    for (; i < n; i++) {
        x[i] = expf(x[i] - m);
        sum += x[i];
    }
    return sum;
}

static void avx2_tile(enum dtype t, int64_t n, const void *w, size_t w_row, int nr, const void *a,
                      size_t a_row, int nc, float *out, size_t out_stride)
{
    if (qt_handles(t))
        qt_tile(t, n, w, w_row, nr, a, a_row, nc, out, out_stride);
    else
        kernels_tile_by_dots(&g_avx2, t, n, w, w_row, nr, a, a_row, nc, out, out_stride);
}

static const struct kernels g_avx2 = {
    .name = "avx2",
    .vec_dot = avx2_vec_dot,
    .vec_dot_tile = avx2_tile,
    .quantize_act = avx2_quantize_act,
    .f16_mad = avx2_f16_mad,
    .f16_scale = avx2_f16_scale,
    .f16_to_f32 = avx2_f16_to_f32,
    .attn_f16_row = avx2_attn_f16_row,
    .f32_dots = avx2_f32_dots,
    .f32_combine = avx2_f32_combine,
    .f32_exp = avx2_f32_exp,
    .f32_softmax = avx2_f32_softmax,
};

const struct kernels *kernels_avx2(void) { return &g_avx2; }

#else

const struct kernels *kernels_avx2(void) { return NULL; }

#endif
