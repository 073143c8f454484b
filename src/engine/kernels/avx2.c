/* kernels/avx2: dot products and activation conversion with AVX2 + FMA + F16C.
 *
 * Each kernel computes exactly the integer sums the reference (quant_ref.c) computes -- same
 * quants, same per-(sub-)block integer totals -- and differs only in the order float partial
 * sums are added, so results agree with the reference to ~1e-6 relative (tests/unit/
 * test_kernels.c checks every type on odd sizes). Activation quantization is byte-identical to
 * the reference (same scale, same rounding rule), because it feeds every later dot.
 *
 * Int8 products use the maddubs idiom: _mm256_maddubs_epi16(u8, s8) multiplies unsigned by
 * signed bytes and adds adjacent pairs into int16 lanes. Weight quants are unsigned by
 * construction (the formats store q + offset), so the offset is taken out afterwards with the
 * activation block sums: sum (q - k) a = sum q a - k sum a. Pair sums stay below 2^15 for every
 * format here (largest: q6_K, 63 * 127 * 2 = 16002).
 */
#include "engine/kernels.h"

#include "engine/quant.h"

#include <immintrin.h>
#include <math.h>
#include <string.h>

#if defined(__AVX2__) && defined(__FMA__) && defined(__F16C__)

/* Block structs as in quant_ref.c (the layouts are documented there). */
struct blk_q4_0 { uint16_t d; uint8_t qs[16]; };
struct blk_q4_1 { uint16_t d, m; uint8_t qs[16]; };
struct blk_q5_0 { uint16_t d; uint8_t qh[4]; uint8_t qs[16]; };
struct blk_q5_1 { uint16_t d, m; uint8_t qh[4]; uint8_t qs[16]; };
struct blk_q8_0 { uint16_t d; int8_t qs[32]; };
struct blk_q8_1 { uint16_t d, s; int8_t qs[32]; };
struct blk_q2_K { uint8_t scales[16]; uint8_t qs[64]; uint16_t d, dmin; };
struct blk_q3_K { uint8_t hmask[32]; uint8_t qs[64]; uint8_t scales[12]; uint16_t d; };
struct blk_q4_K { uint16_t d, dmin; uint8_t scales[12]; uint8_t qs[128]; };
struct blk_q5_K { uint16_t d, dmin; uint8_t scales[12]; uint8_t qh[32]; uint8_t qs[128]; };
struct blk_q6_K { uint8_t ql[128]; uint8_t qh[64]; int8_t scales[16]; uint16_t d; };
struct blk_q8_K { float d; int8_t qs[QK_K]; int16_t bsums[QK_K / 16]; };

static inline float h2f(uint16_t h) { return _cvtsh_ss(h); }

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

/* 32 unsigned bytes times 32 signed bytes, summed into 8 int32 lanes. */
static inline __m256i dot_u8s8(__m256i u, __m256i s)
{
    return _mm256_madd_epi16(_mm256_maddubs_epi16(u, s), _mm256_set1_epi16(1));
}

/* 32 signed by 32 signed bytes (neither -128), into 8 int32 lanes. */
static inline __m256i dot_s8s8(__m256i x, __m256i y)
{
    return dot_u8s8(_mm256_sign_epi8(x, x), _mm256_sign_epi8(y, x));
}

/* The 32 nibbles of 16 bytes: low nibbles in bytes 0..15, high nibbles in 16..31. */
static inline __m256i unpack_nibbles(const uint8_t *p)
{
    __m128i b = _mm_loadu_si128((const __m128i *)p);
    __m256i v = _mm256_set_m128i(_mm_srli_epi16(b, 4), b);
    return _mm256_and_si256(v, _mm256_set1_epi8(15));
}

/* Bit j of a 32-bit mask expanded to byte j: 0x10 where set (the 5th bit of q5 quants). */
static inline __m256i expand_bits_0x10(uint32_t bits)
{
    const __m256i shuf = _mm256_set_epi64x(0x0303030303030303ll, 0x0202020202020202ll,
                                           0x0101010101010101ll, 0x0000000000000000ll);
    __m256i v = _mm256_shuffle_epi8(_mm256_set1_epi32((int)bits), shuf);
    const __m256i sel = _mm256_set1_epi64x((long long)0x8040201008040201ull);
    v = _mm256_cmpeq_epi8(_mm256_and_si256(v, sel), sel);
    return _mm256_and_si256(v, _mm256_set1_epi8(0x10));
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

static float dot_f16(int64_t n, const uint16_t *x, const uint16_t *y)
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

/* ---- 32-element blocks ---- */

static float dot_q8_0(int64_t nb, const struct blk_q8_0 *w, const struct blk_q8_0 *a)
{
    __m256 acc = _mm256_setzero_ps();
    for (int64_t b = 0; b < nb; b++) {
        __m256i x = _mm256_loadu_si256((const __m256i *)w[b].qs);
        __m256i y = _mm256_loadu_si256((const __m256i *)a[b].qs);
        __m256 d = _mm256_set1_ps(h2f(w[b].d) * h2f(a[b].d));
        acc = _mm256_fmadd_ps(d, _mm256_cvtepi32_ps(dot_s8s8(x, y)), acc);
    }
    return hsum_ps(acc);
}

/* sum over the block of (q - offset) * a, for unsigned quants q */
static inline __m256i block_dot_offset(__m256i q, __m256i y, int offset)
{
    __m256i qa = dot_u8s8(q, y);
    __m256i sa = dot_u8s8(_mm256_set1_epi8((char)offset), y);
    return _mm256_sub_epi32(qa, sa);
}

static float dot_q4_0(int64_t nb, const struct blk_q4_0 *w, const struct blk_q8_0 *a)
{
    __m256 acc = _mm256_setzero_ps();
    for (int64_t b = 0; b < nb; b++) {
        __m256i q = unpack_nibbles(w[b].qs);
        __m256i y = _mm256_loadu_si256((const __m256i *)a[b].qs);
        __m256 d = _mm256_set1_ps(h2f(w[b].d) * h2f(a[b].d));
        acc = _mm256_fmadd_ps(d, _mm256_cvtepi32_ps(block_dot_offset(q, y, 8)), acc);
    }
    return hsum_ps(acc);
}

static float dot_q4_1(int64_t nb, const struct blk_q4_1 *w, const struct blk_q8_1 *a)
{
    __m256 acc = _mm256_setzero_ps();
    float mins = 0.0f;
    for (int64_t b = 0; b < nb; b++) {
        __m256i q = unpack_nibbles(w[b].qs);
        __m256i y = _mm256_loadu_si256((const __m256i *)a[b].qs);
        __m256 d = _mm256_set1_ps(h2f(w[b].d) * h2f(a[b].d));
        acc = _mm256_fmadd_ps(d, _mm256_cvtepi32_ps(dot_u8s8(q, y)), acc);
        mins += h2f(w[b].m) * h2f(a[b].s);
    }
    return hsum_ps(acc) + mins;
}

static float dot_q5_0(int64_t nb, const struct blk_q5_0 *w, const struct blk_q8_0 *a)
{
    __m256 acc = _mm256_setzero_ps();
    for (int64_t b = 0; b < nb; b++) {
        uint32_t qh;
        memcpy(&qh, w[b].qh, 4);
        __m256i q = _mm256_or_si256(unpack_nibbles(w[b].qs), expand_bits_0x10(qh));
        __m256i y = _mm256_loadu_si256((const __m256i *)a[b].qs);
        __m256 d = _mm256_set1_ps(h2f(w[b].d) * h2f(a[b].d));
        acc = _mm256_fmadd_ps(d, _mm256_cvtepi32_ps(block_dot_offset(q, y, 16)), acc);
    }
    return hsum_ps(acc);
}

static float dot_q5_1(int64_t nb, const struct blk_q5_1 *w, const struct blk_q8_1 *a)
{
    __m256 acc = _mm256_setzero_ps();
    float mins = 0.0f;
    for (int64_t b = 0; b < nb; b++) {
        uint32_t qh;
        memcpy(&qh, w[b].qh, 4);
        __m256i q = _mm256_or_si256(unpack_nibbles(w[b].qs), expand_bits_0x10(qh));
        __m256i y = _mm256_loadu_si256((const __m256i *)a[b].qs);
        __m256 d = _mm256_set1_ps(h2f(w[b].d) * h2f(a[b].d));
        acc = _mm256_fmadd_ps(d, _mm256_cvtepi32_ps(dot_u8s8(q, y)), acc);
        mins += h2f(w[b].m) * h2f(a[b].s);
    }
    return hsum_ps(acc) + mins;
}

/* ---- K-quants ---- */

/* The 6-bit (scale, min) code pairs of q4_K / q5_K, j = 0..7. */
static inline void k4_scales(const uint8_t s[12], uint8_t sc[8], uint8_t m[8])
{
    for (int j = 0; j < 4; j++) {
        sc[j] = s[j] & 63;
        m[j] = s[j + 4] & 63;
        sc[j + 4] = (uint8_t)((s[j + 8] & 15) | (s[j] >> 6) << 4);
        m[j + 4] = (uint8_t)((s[j + 8] >> 4) | (s[j + 4] >> 6) << 4);
    }
}

/* q4_K and q5_K: sub-block j (32 elements) uses nibble j % 2 of qs[32 * (j / 2) ...]. */
static float dot_q45_K(int64_t nb, const void *vw, const struct blk_q8_K *a, bool five)
{
    float sum = 0.0f;
    const __m256i m4 = _mm256_set1_epi8(15), one = _mm256_set1_epi8(1);
    for (int64_t b = 0; b < nb; b++) {
        const uint8_t *qs, *scales, *qhp = NULL;
        uint16_t dw, dminw;
        if (five) {
            const struct blk_q5_K *w = (const struct blk_q5_K *)vw + b;
            qs = w->qs, scales = w->scales, qhp = w->qh, dw = w->d, dminw = w->dmin;
        } else {
            const struct blk_q4_K *w = (const struct blk_q4_K *)vw + b;
            qs = w->qs, scales = w->scales, dw = w->d, dminw = w->dmin;
        }
        uint8_t sc[8], m[8];
        k4_scales(scales, sc, m);
        __m256i qh = five ? _mm256_loadu_si256((const __m256i *)qhp) : _mm256_setzero_si256();
        __m256i isum = _mm256_setzero_si256();
        for (int p = 0; p < 4; p++) {
            __m256i raw = _mm256_loadu_si256((const __m256i *)(qs + 32 * p));
            __m256i lo = _mm256_and_si256(raw, m4);
            __m256i hi = _mm256_and_si256(_mm256_srli_epi16(raw, 4), m4);
            if (five) {
                __m256i b0 = _mm256_and_si256(_mm256_srli_epi16(qh, 2 * p), one);
                __m256i b1 = _mm256_and_si256(_mm256_srli_epi16(qh, 2 * p + 1), one);
                lo = _mm256_or_si256(lo, _mm256_slli_epi16(b0, 4));
                hi = _mm256_or_si256(hi, _mm256_slli_epi16(b1, 4));
            }
            __m256i y0 = _mm256_loadu_si256((const __m256i *)(a[b].qs + 64 * p));
            __m256i y1 = _mm256_loadu_si256((const __m256i *)(a[b].qs + 64 * p + 32));
            isum = _mm256_add_epi32(isum, _mm256_mullo_epi32(dot_u8s8(lo, y0),
                                                             _mm256_set1_epi32(sc[2 * p])));
            isum = _mm256_add_epi32(isum, _mm256_mullo_epi32(dot_u8s8(hi, y1),
                                                             _mm256_set1_epi32(sc[2 * p + 1])));
        }
        int isum_min = 0;
        for (int j = 0; j < 8; j++)
            isum_min += m[j] * (a[b].bsums[2 * j] + a[b].bsums[2 * j + 1]);
        float d = h2f(dw), dmin = h2f(dminw);
        sum += d * a[b].d * (float)hsum_epi32(isum) - dmin * a[b].d * (float)isum_min;
    }
    return sum;
}

/* Expands 16 scale codes (int16 each) for two 16-element sub-blocks into a vector whose int16
 * lane k scales pair-sum k: lanes 0..7 -> s0, 8..15 -> s1 (per 128-bit half ordering). */
static inline __m256i pair_scales(int s0, int s1)
{
    return _mm256_set_m128i(_mm_set1_epi16((short)s1), _mm_set1_epi16((short)s0));
}

/* q6_K: 16 sub-blocks of 16, quants q in 0..63 with value q - 32. */
static float dot_q6_K(int64_t nb, const struct blk_q6_K *w, const struct blk_q8_K *a)
{
    float sum = 0.0f;
    const __m256i m4 = _mm256_set1_epi8(15), m3 = _mm256_set1_epi8(3);
    for (int64_t b = 0; b < nb; b++) {
        __m256i isum = _mm256_setzero_si256();
        for (int h = 0; h < 2; h++) {
            __m256i ql0 = _mm256_loadu_si256((const __m256i *)(w[b].ql + 64 * h));
            __m256i ql1 = _mm256_loadu_si256((const __m256i *)(w[b].ql + 64 * h + 32));
            __m256i qh = _mm256_loadu_si256((const __m256i *)(w[b].qh + 32 * h));
            __m256i q[4];
            q[0] = _mm256_or_si256(_mm256_and_si256(ql0, m4),
                                   _mm256_slli_epi16(_mm256_and_si256(qh, m3), 4));
            q[1] = _mm256_or_si256(_mm256_and_si256(ql1, m4),
                                   _mm256_slli_epi16(_mm256_and_si256(_mm256_srli_epi16(qh, 2), m3), 4));
            q[2] = _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(ql0, 4), m4),
                                   _mm256_slli_epi16(_mm256_and_si256(_mm256_srli_epi16(qh, 4), m3), 4));
            q[3] = _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(ql1, 4), m4),
                                   _mm256_slli_epi16(_mm256_and_si256(_mm256_srli_epi16(qh, 6), m3), 4));
            for (int k = 0; k < 4; k++) {
                int j = 8 * h + 2 * k; /* sub-blocks j, j + 1 */
                __m256i y = _mm256_loadu_si256((const __m256i *)(a[b].qs + 128 * h + 32 * k));
                __m256i p16 = _mm256_maddubs_epi16(q[k], y);
                isum = _mm256_add_epi32(
                    isum, _mm256_madd_epi16(p16, pair_scales(w[b].scales[j], w[b].scales[j + 1])));
            }
        }
        int offs = 0;
        for (int j = 0; j < 16; j++)
            offs += w[b].scales[j] * a[b].bsums[j];
        sum += h2f(w[b].d) * a[b].d * (float)(hsum_epi32(isum) - 32 * offs);
    }
    return sum;
}

/* q3_K: 16 sub-blocks of 16, q in 0..7 with value q - 4, 6-bit codes c with scale c - 32. */
static float dot_q3_K(int64_t nb, const struct blk_q3_K *w, const struct blk_q8_K *a)
{
    float sum = 0.0f;
    const __m256i m3 = _mm256_set1_epi8(3), one = _mm256_set1_epi8(1);
    for (int64_t b = 0; b < nb; b++) {
        int c[16];
        const uint8_t *s = w[b].scales;
        for (int j = 0; j < 16; j++) {
            int low = j < 8 ? s[j] & 15 : s[j - 8] >> 4;
            int high = (s[8 + j % 4] >> (2 * (j / 4))) & 3;
            c[j] = (low | high << 4) - 32;
        }
        __m256i hm = _mm256_loadu_si256((const __m256i *)w[b].hmask);
        __m256i isum = _mm256_setzero_si256();
        for (int h = 0; h < 2; h++) {
            __m256i qs = _mm256_loadu_si256((const __m256i *)(w[b].qs + 32 * h));
            for (int k = 0; k < 4; k++) {
                int plane = 4 * h + k; /* elements 32 * plane .. +32 */
                __m256i lo = _mm256_and_si256(_mm256_srli_epi16(qs, 2 * k), m3);
                __m256i hb = _mm256_and_si256(_mm256_srli_epi16(hm, plane), one);
                __m256i q = _mm256_or_si256(lo, _mm256_slli_epi16(hb, 2));
                __m256i y = _mm256_loadu_si256((const __m256i *)(a[b].qs + 32 * plane));
                __m256i p16 = _mm256_maddubs_epi16(q, y);
                isum = _mm256_add_epi32(
                    isum, _mm256_madd_epi16(p16, pair_scales(c[2 * plane], c[2 * plane + 1])));
            }
        }
        int offs = 0;
        for (int j = 0; j < 16; j++)
            offs += c[j] * a[b].bsums[j];
        sum += h2f(w[b].d) * a[b].d * (float)(hsum_epi32(isum) - 4 * offs);
    }
    return sum;
}

/* q2_K: 16 sub-blocks of 16, q in 0..3, scale code sc and min code m (4 bits each). */
static float dot_q2_K(int64_t nb, const struct blk_q2_K *w, const struct blk_q8_K *a)
{
    float sum = 0.0f;
    const __m256i m3 = _mm256_set1_epi8(3);
    for (int64_t b = 0; b < nb; b++) {
        __m256i isum = _mm256_setzero_si256();
        for (int h = 0; h < 2; h++) {
            __m256i qs = _mm256_loadu_si256((const __m256i *)(w[b].qs + 32 * h));
            for (int k = 0; k < 4; k++) {
                int plane = 4 * h + k;
                __m256i q = _mm256_and_si256(_mm256_srli_epi16(qs, 2 * k), m3);
                __m256i y = _mm256_loadu_si256((const __m256i *)(a[b].qs + 32 * plane));
                __m256i p16 = _mm256_maddubs_epi16(q, y);
                isum = _mm256_add_epi32(
                    isum, _mm256_madd_epi16(p16, pair_scales(w[b].scales[2 * plane] & 15,
                                                             w[b].scales[2 * plane + 1] & 15)));
            }
        }
        int isum_min = 0;
        for (int j = 0; j < 16; j++)
            isum_min += (w[b].scales[j] >> 4) * a[b].bsums[j];
        sum += a[b].d * h2f(w[b].d) * (float)hsum_epi32(isum) -
               a[b].d * h2f(w[b].dmin) * (float)isum_min;
    }
    return sum;
}

static float avx2_vec_dot(enum dtype t, int64_t n, const void *w, const void *a)
{
    switch (t) {
    case DT_F32: return dot_f32(n, w, a);
    case DT_F16: return dot_f16(n, w, a);
    case DT_BF16: return dot_bf16(n, w, a);
    case DT_Q8_0: return dot_q8_0(n / 32, w, a);
    case DT_Q4_0: return dot_q4_0(n / 32, w, a);
    case DT_Q4_1: return dot_q4_1(n / 32, w, a);
    case DT_Q5_0: return dot_q5_0(n / 32, w, a);
    case DT_Q5_1: return dot_q5_1(n / 32, w, a);
    case DT_Q2_K: return dot_q2_K(n / QK_K, w, a);
    case DT_Q3_K: return dot_q3_K(n / QK_K, w, a);
    case DT_Q4_K: return dot_q45_K(n / QK_K, w, a, false);
    case DT_Q5_K: return dot_q45_K(n / QK_K, w, a, true);
    case DT_Q6_K: return dot_q6_K(n / QK_K, w, a);
    default: return quant_vec_dot_ref(t, n, w, a);
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

static const struct kernels g_avx2 = {"avx2", avx2_vec_dot, avx2_quantize_act};

const struct kernels *kernels_avx2(void) { return &g_avx2; }

#else

const struct kernels *kernels_avx2(void) { return NULL; }

#endif
