/* kernels/avx512: AVX-512 (F, BW, VL, DQ) with VNNI. The quantized tiles and dots are qtile.h
 * with vpdpbusd (unsigned x signed bytes, four products per int32 lane, one instruction) in
 * place of AVX2's maddubs + madd; results are bit-identical to the reference, as qtile.h
 * explains. Everything else is the AVX2 table's.
 */
#include "engine/kernels.h"
#include "engine/kernels/expf_poly.h"

#include "engine/quant.h"
#include "engine/quant_blocks.h"

#include <immintrin.h>
#include <math.h>
#include <string.h>

#if defined(__AVX512F__) && defined(__AVX512BW__) && defined(__AVX512VL__) && \
    defined(__AVX512VNNI__)

/* vpdpbusd on 256-bit registers (AVX512VL): one instruction for unsigned x signed bytes. */
#define QT_DOT_U8S8(u, s) _mm256_dpbusd_epi32(_mm256_setzero_si256(), u, s)
#include "engine/kernels/qtile.h"

static const struct kernels *g_base; /* the AVX2 table: everything not overridden */
static const struct kernels g_avx512;

static void avx512_tile(enum dtype t, int64_t n, const void *w, size_t w_row, int nr,
                        const void *a, size_t a_row, int nc, float *out, size_t out_stride)
{
    if (qt_handles(t))
        qt_tile(t, n, w, w_row, nr, a, a_row, nc, out, out_stride);
    else
        kernels_tile_by_dots(&g_avx512, t, n, w, w_row, nr, a, a_row, nc, out, out_stride);
}

static float avx512_vec_dot(enum dtype t, int64_t n, const void *w, const void *a)
{
    if (!qt_handles(t))
        return g_base->vec_dot(t, n, w, a);
    float out;
    qt_tile(t, n, w, 0, 1, a, 0, 1, &out, 1);
    return out;
}

static void avx512_quantize_act(enum dtype act, const float *x, void *y, int64_t n)
{
    g_base->quantize_act(act, x, y, n);
}

static void avx512_f16_mad(int64_t n, uint16_t *y, const uint16_t *x, float v)
{
    g_base->f16_mad(n, y, x, v);
}

static void avx512_f16_scale(int64_t n, uint16_t *y, float v) { g_base->f16_scale(n, y, v); }

static void avx512_f16_to_f32(int64_t n, float *y, const uint16_t *x)
{
    g_base->f16_to_f32(n, y, x);
}

/* the AVX2 table's: its vec_dot, f16_scale and f16_mad are this table's for f16 */
static void avx512_attn_f16_row(int32_t hd, int32_t hdv, int32_t n_pos, const uint16_t *k,
                                size_t k_stride, const uint16_t *v, size_t v_stride,
                                const uint16_t *q16, float scale, float *out)
{
    g_base->attn_f16_row(hd, hdv, n_pos, k, k_stride, v, v_stride, q16, scale, out);
}

/* ---- packed weights ----
 * A group of 16 rows is stored block after block (a block: 32 elements, or 256 for K-quants),
 * and in each block the rows are interleaved so that one 32-bit lane of a 512-bit register
 * holds four consecutive quants of one row: lane i of
 *     vpdpbusd(acc, quants of k-group k, broadcast(the activation's 4 quants of k-group k))
 * sums row i's products, and 8 k-groups (32 elements) later every lane holds its row's integer
 * sum of the reference (quant_vec_dot_ref): no horizontal reduction. vpdpbusd multiplies
 * unsigned by signed bytes, so quants are stored unsigned (q + o) and o times the activation's
 * sum is taken out first; the float steps are then the reference's, 16 rows at a time, so
 * results are bit-identical to it. Layouts, per block of a group ("[k][16][4]": per k-group,
 * per row, 4 bytes; V[k]: 64 bytes of 16 rows x 4 quant bytes, low nibbles one k-group and
 * high nibbles another):
 *   q8_0  d[16] f16, q[8][16][4] (q + 128)                                   544 = 16 x 34
 *   q4_0  d[16] f16, V[4] (nibbles; k-group k low, k + 4 high; o = 8)           288 = 16 x 18
 *   q5_0  d[16] f16, hbit masks M[8] (bit 4i + j: row i, element 4k + j), V[4]  352 = 16 x 22
 *   q4_K  d[16], dmin[16] f16, sc[8][16], m[8][16] u8 (decoded 6-bit scales and mins),
 *         V[4 chunks][8] (chunk c: sub-block 2c low, 2c + 1 high)          2368 = 16 x 148
 *   q6_K  d[16] f16, sc[16][16] i8, per half h (128 elements, segments s = 0..3 of 32): planes
 *         P0[8], P1[8], P2[8] ([k][16][4]); P_s's byte = segment s's 6-bit quant (q + 32) in
 *         bits 0-5, and bits 6-7 = bits 2s, 2s + 1 of segment 3's quant       3360 = 16 x 210
 * q6_K's planes cost 3 ANDs for segments 0-2 and 3 AND+shift pairs and one OR for segment 3,
 * against 13 operations (5 shifts) for the file's split nibbles and high-bit bytes: with the
 * file's layout the q6_K GEMV was compute-bound at about half the core's read bandwidth.
 * q4_K keeps its 6-bit codes decoded (4 bytes more per row and block, under 3%); every other
 * layout is exactly the size of the plain blocks. Padding rows past n_out are zeros. */

static size_t pk_block_bytes(enum dtype t)
{
    switch (t) {
    case DT_Q8_0: return 16 * 34;
    case DT_Q4_0: return 16 * 18;
    case DT_Q5_0: return 16 * 22;
    case DT_Q4_K: return 16 * 148;
    case DT_Q6_K: return 16 * 210;
    default: return 0;
    }
}

#ifndef PK_PREFETCH_Q6_K
#define PK_PREFETCH_Q6_K 4096
#endif

static size_t avx512_pack_bytes(enum dtype t, int64_t n_in, int64_t n_out)
{
    size_t bb = pk_block_bytes(t);
    int64_t be = dtype_get((uint32_t)t)->block_elems;
    if (!bb || n_in % be != 0)
        return 0;
    return (size_t)((n_out + 15) / 16) * (size_t)(n_in / be) * bb;
}

/* 4 bytes of src at dst, for row i of k-group k of an interleaved [k][16][4] array */
static inline void pk_put4(uint8_t *arr, int k, int i, const uint8_t *src)
{
    memcpy(arr + (k * 16 + i) * 4, src, 4);
}

static void pk_xor(uint8_t *p, int n_vec, uint8_t v)
{
    for (int k = 0; k < n_vec; k++)
        _mm512_storeu_si512(p + 64 * k, _mm512_xor_si512(_mm512_loadu_si512(p + 64 * k),
                                                          _mm512_set1_epi8((char)v)));
}

/* Block b of row i (< 16) of group g into the packed block o. */
static void pk_row(enum dtype t, const void *row, int64_t b, int i, uint8_t *o)
{
    uint16_t *d = (uint16_t *)o;
    switch (t) {
    case DT_Q8_0: {
        const struct blk_q8_0 *x = (const struct blk_q8_0 *)row + b;
        d[i] = x->d;
        for (int k = 0; k < 8; k++)
            pk_put4(o + 32, k, i, (const uint8_t *)x->qs + 4 * k);
        break;
    }
    case DT_Q4_0: {
        const struct blk_q4_0 *x = (const struct blk_q4_0 *)row + b;
        d[i] = x->d;
        for (int k = 0; k < 4; k++)
            pk_put4(o + 32, k, i, x->qs + 4 * k);
        break;
    }
    case DT_Q5_0: {
        const struct blk_q5_0 *x = (const struct blk_q5_0 *)row + b;
        d[i] = x->d;
        uint32_t qh;
        memcpy(&qh, x->qh, 4);
        uint64_t *m = (uint64_t *)(o + 32);
        for (int k = 0; k < 8; k++)
            m[k] |= (uint64_t)((qh >> (4 * k)) & 15) << (4 * i);
        for (int k = 0; k < 4; k++)
            pk_put4(o + 96, k, i, x->qs + 4 * k);
        break;
    }
    case DT_Q4_K: {
        const struct blk_q4_K *x = (const struct blk_q4_K *)row + b;
        d[i] = x->d;
        d[16 + i] = x->dmin;
        for (int j = 0; j < 8; j++) {
            int sc, mn;
            k4_get_scale_min(x->scales, j, &sc, &mn);
            o[64 + j * 16 + i] = (uint8_t)sc;
            o[192 + j * 16 + i] = (uint8_t)mn;
        }
        for (int c = 0; c < 4; c++)
            for (int k = 0; k < 8; k++)
                pk_put4(o + 320 + c * 512, k, i, x->qs + 32 * c + 4 * k);
        break;
    }
    default: { /* DT_Q6_K */
        const struct blk_q6_K *x = (const struct blk_q6_K *)row + b;
        d[i] = x->d;
        for (int j = 0; j < 16; j++)
            o[32 + j * 16 + i] = (uint8_t)x->scales[j];
        for (int h = 0; h < 2; h++)
            for (int k = 0; k < 8; k++) {
                uint8_t p[3][4];
                for (int j = 0; j < 4; j++) {
                    const int l = 4 * k + j; /* element l of each segment of half h */
                    const uint8_t lo = x->ql[64 * h + l], lo2 = x->ql[64 * h + 32 + l];
                    const uint8_t hb = x->qh[32 * h + l];
                    const uint8_t q[4] = {(uint8_t)((lo & 15) | (hb & 3) << 4),
                                          (uint8_t)((lo2 & 15) | (hb >> 2 & 3) << 4),
                                          (uint8_t)((lo >> 4) | (hb >> 4 & 3) << 4),
                                          (uint8_t)((lo2 >> 4) | (hb >> 6 & 3) << 4)};
                    for (int s = 0; s < 3; s++)
                        p[s][j] = (uint8_t)(q[s] | (q[3] >> 2 * s & 3) << 6);
                }
                for (int s = 0; s < 3; s++)
                    pk_put4(o + 288 + h * 1536 + s * 512, k, i, p[s]);
            }
        break;
    }
    }
}

static void avx512_pack(enum dtype t, int64_t n_in, int64_t n_out, const void *w, size_t w_row,
                        void *dst)
{
    const size_t bb = pk_block_bytes(t);
    const int64_t nb = n_in / dtype_get((uint32_t)t)->block_elems, ng = (n_out + 15) / 16;
    uint8_t *o = dst;
    for (int64_t g = 0; g < ng; g++)
        for (int64_t b = 0; b < nb; b++, o += bb) {
            memset(o, 0, bb);
            for (int i = 0; i < 16 && g * 16 + i < n_out; i++)
                pk_row(t, (const char *)w + (size_t)(g * 16 + i) * w_row, b, i, o);
            if (t == DT_Q8_0) /* q + 128 as unsigned: flip the sign bit (padding: 0 -> 128) */
                pk_xor(o + 32, 8, 0x80);
        }
}

static inline __m512i pk_bcast4(const int8_t *p)
{
    int32_t v;
    memcpy(&v, p, 4);
    return _mm512_set1_epi32(v);
}

static inline __m512i pk_lo(__m512i v) { return _mm512_and_si512(v, _mm512_set1_epi8(15)); }
static inline __m512i pk_hi(__m512i v)
{
    return _mm512_and_si512(_mm512_srli_epi16(v, 4), _mm512_set1_epi8(15));
}

/* Fetches the `bytes` at p + PK_PREFETCH_Q6_K into L2 (prefetcht2), for decoding's q6_K GEMV.
 * The hardware prefetchers keep the q8_0, q4_0, q5_0 and q4_K GEMVs streaming at the read
 * bandwidth, but not q6_K's: without this it read 17-20 GB/s from memory on 2 threads where
 * q4_K read 35-55 in the same runs; with it, 30-43, as fast as q4_K (Llama-3.2-1B decoding
 * +40-55%, docs/performance.md). prefetcht0 2 KB ahead reached only 22 GB/s, 8 KB ahead was no
 * better than 4, and prefetching the q4_K and q8_0 GEMVs as well measured slower.
 * always_inline matters: as a plain static inline function, GCC 12 at -O3 emitted no prefetch
 * at all (the calls were dropped as if they had no effect), so the prefetching tuned here before
 * was never in the binary; tests/cli/test_kernels_build.sh checks that it is. */
static inline __attribute__((always_inline)) void pk_prefetch_q6_K(const uint8_t *p, size_t bytes)
{
    for (size_t l = 0; l < bytes; l += 64)
        _mm_prefetch((const char *)p + PK_PREFETCH_Q6_K + l, _MM_HINT_T2);
}

/* The 32-element types (q8_0, q4_0, q5_0). t and nc are compile-time constants at each call
 * site, so the unpacking is resolved and sum[] stays in registers. */
static inline __attribute__((always_inline)) void
pk_b32(const enum dtype t, int64_t nb, const uint8_t *pw, const char *a, size_t a_row,
       const int32_t *asum, size_t asum_row, const int nc, float *out)
{
    const int off = t == DT_Q8_0 ? 128 : t == DT_Q4_0 ? 8 : 16;
    const size_t bb = pk_block_bytes(t);
    __m512 sum[KERNELS_PACK_COLS];
    for (int c = 0; c < nc; c++)
        sum[c] = _mm512_setzero_ps();
    for (int64_t b = 0; b < nb; b++, pw += bb) {
        const __m512 dw = _mm512_cvtph_ps(_mm256_loadu_si256((const __m256i *)pw));
        __m512i w[8];
        if (t == DT_Q8_0) {
            for (int k = 0; k < 8; k++)
                w[k] = _mm512_loadu_si512(pw + 32 + 64 * k);
        } else {
            const uint8_t *q = pw + (t == DT_Q5_0 ? 96 : 32);
            for (int k = 0; k < 4; k++) {
                __m512i v = _mm512_loadu_si512(q + 64 * k);
                w[k] = pk_lo(v);
                w[k + 4] = pk_hi(v);
            }
            if (t == DT_Q5_0) {
                const uint64_t *m = (const uint64_t *)(pw + 32);
                for (int k = 0; k < 8; k++)
                    w[k] = _mm512_mask_add_epi8(w[k], _cvtu64_mask64(m[k]), w[k],
                                                _mm512_set1_epi8(16));
            }
        }
        for (int c = 0; c < nc; c++) {
            const struct blk_q8_0 *y = (const struct blk_q8_0 *)(a + (size_t)c * a_row) + b;
            __m512i acc0 = _mm512_set1_epi32(-off * asum[(size_t)c * asum_row + (size_t)b]);
            __m512i acc1 = _mm512_setzero_si512();
            for (int k = 0; k < 8; k += 2) {
                acc0 = _mm512_dpbusd_epi32(acc0, w[k], pk_bcast4(y->qs + 4 * k));
                acc1 = _mm512_dpbusd_epi32(acc1, w[k + 1], pk_bcast4(y->qs + 4 * k + 4));
            }
            const __m512 da = _mm512_set1_ps(qt_h2f(y->d));
            const __m512 isum = _mm512_cvtepi32_ps(_mm512_add_epi32(acc0, acc1));
            sum[c] = _mm512_add_ps(sum[c], _mm512_mul_ps(_mm512_mul_ps(dw, da), isum));
        }
    }
    for (int c = 0; c < nc; c++)
        _mm512_storeu_ps(out + 16 * c, sum[c]);
}

/* q4_K against q8_K: per sub-block j, lane i gets s_j = sum q a (unsigned nibbles, no offset);
 * isum = sum_j sc_j s_j, isum_min = sum_j m_j (bsums[2j] + bsums[2j + 1]); then the
 * reference's t = (d da) isum - (dmin da) isum_min. Each chunk's 8 vectors are loaded once and
 * give both of its sub-blocks (low and high nibbles). */
static inline __attribute__((always_inline)) void
pk_q4_K_sub(const __m512i *w, const uint8_t *pw, int j, const char *a, size_t a_row, int64_t b,
            const int nc, __m512i *isum, __m512i *imin)
{
    const __m512i sc = _mm512_cvtepu8_epi32(_mm_loadu_si128((const __m128i *)(pw + 64 + 16 * j)));
    const __m512i mn = _mm512_cvtepu8_epi32(_mm_loadu_si128((const __m128i *)(pw + 192 + 16 * j)));
    for (int c = 0; c < nc; c++) {
        const struct blk_q8_K *y = (const struct blk_q8_K *)(a + (size_t)c * a_row) + b;
        const int8_t *aq = y->qs + 32 * j;
        __m512i acc0 = _mm512_setzero_si512(), acc1 = _mm512_setzero_si512();
        for (int k = 0; k < 8; k += 2) {
            acc0 = _mm512_dpbusd_epi32(acc0, w[k], pk_bcast4(aq + 4 * k));
            acc1 = _mm512_dpbusd_epi32(acc1, w[k + 1], pk_bcast4(aq + 4 * k + 4));
        }
        isum[c] = _mm512_add_epi32(isum[c], _mm512_mullo_epi32(sc, _mm512_add_epi32(acc0, acc1)));
        imin[c] = _mm512_add_epi32(
            imin[c], _mm512_mullo_epi32(mn, _mm512_set1_epi32(y->bsums[2 * j] + y->bsums[2 * j + 1])));
    }
}

static inline __attribute__((always_inline)) void
pk_q4_K(int64_t nb, const uint8_t *pw, const char *a, size_t a_row, const int nc, float *out)
{
    __m512 sum[KERNELS_PACK_COLS];
    for (int c = 0; c < nc; c++)
        sum[c] = _mm512_setzero_ps();
    for (int64_t b = 0; b < nb; b++, pw += 16 * 148) {
        __m512i isum[KERNELS_PACK_COLS], imin[KERNELS_PACK_COLS];
        for (int c = 0; c < nc; c++)
            isum[c] = imin[c] = _mm512_setzero_si512();
        for (int ch = 0; ch < 4; ch++) {
            const uint8_t *v = pw + 320 + ch * 512;
            __m512i lo[8], hi[8];
            for (int k = 0; k < 8; k++) {
                __m512i x = _mm512_loadu_si512(v + 64 * k);
                lo[k] = pk_lo(x);
                hi[k] = pk_hi(x);
            }
            pk_q4_K_sub(lo, pw, 2 * ch, a, a_row, b, nc, isum, imin);
            pk_q4_K_sub(hi, pw, 2 * ch + 1, a, a_row, b, nc, isum, imin);
        }
        const __m512 dw = _mm512_cvtph_ps(_mm256_loadu_si256((const __m256i *)pw));
        const __m512 dmin = _mm512_cvtph_ps(_mm256_loadu_si256((const __m256i *)(pw + 32)));
        for (int c = 0; c < nc; c++) {
            const struct blk_q8_K *y = (const struct blk_q8_K *)(a + (size_t)c * a_row) + b;
            const __m512 da = _mm512_set1_ps(y->d);
            __m512 mt = _mm512_mul_ps(_mm512_mul_ps(dmin, da), _mm512_cvtepi32_ps(imin[c]));
            __m512 t = _mm512_sub_ps(_mm512_mul_ps(_mm512_mul_ps(dw, da), _mm512_cvtepi32_ps(isum[c])), mt);
            sum[c] = _mm512_add_ps(sum[c], t);
        }
    }
    for (int c = 0; c < nc; c++)
        _mm512_storeu_ps(out + 16 * c, sum[c]);
}

/* q6_K against q8_K: 16-element sub-blocks with signed scales; quants stored q + 32 (6 bits),
 * so s_j = sum q_u a - 32 bsums[j]; isum = sum_j sc_j s_j; t = (d da) isum. */

/* The quants of k-group k of segment s of a half, from its planes P (P0 at P, 512 bytes
 * apart). s is a literal at each call. */
static inline __attribute__((always_inline)) __m512i pk_q6_quants(const uint8_t *P, int k,
                                                                    const int s)
{
    const __m512i m6 = _mm512_set1_epi8(0x3F), top = _mm512_set1_epi8((char)0xC0);
    if (s < 3)
        return _mm512_and_si512(_mm512_loadu_si512(P + s * 512 + 64 * k), m6);
    /* bits 6-7 of each plane, to bits 0-1, 2-3, 4-5 (masked first, so the 16-bit shifts move
     * no bits between bytes) */
    const __m512i a = _mm512_srli_epi16(_mm512_and_si512(_mm512_loadu_si512(P + 64 * k), top), 6);
    const __m512i b = _mm512_srli_epi16(_mm512_and_si512(_mm512_loadu_si512(P + 512 + 64 * k), top), 4);
    const __m512i c = _mm512_srli_epi16(_mm512_and_si512(_mm512_loadu_si512(P + 1024 + 64 * k), top), 2);
    return _mm512_ternarylogic_epi32(a, b, c, 0xFE); /* a | b | c */
}

/* One segment (32 elements: sub-blocks j0 and j0 + 1) of half h for nc activation rows. */
static inline __attribute__((always_inline)) void
pk_q6_seg(const uint8_t *pw, const int h, const int s, const char *a, size_t a_row, int64_t b,
          const int nc, __m512i *isum)
{
    const uint8_t *P = pw + 288 + h * 1536;
    __m512i w[8];
    for (int k = 0; k < 8; k++)
        w[k] = pk_q6_quants(P, k, s);
    const int j0 = 8 * h + 2 * s; /* sub-blocks j0 (k-groups 0-3), j0 + 1 (4-7) */
    const __m512i sc0 = _mm512_cvtepi8_epi32(_mm_loadu_si128((const __m128i *)(pw + 32 + 16 * j0)));
    const __m512i sc1 = _mm512_cvtepi8_epi32(_mm_loadu_si128((const __m128i *)(pw + 48 + 16 * j0)));
    for (int c = 0; c < nc; c++) {
        const struct blk_q8_K *y = (const struct blk_q8_K *)(a + (size_t)c * a_row) + b;
        const int8_t *aq = y->qs + 128 * h + 32 * s;
        __m512i acc0 = _mm512_set1_epi32(-32 * y->bsums[j0]);
        __m512i acc1 = _mm512_set1_epi32(-32 * y->bsums[j0 + 1]);
        for (int k = 0; k < 4; k++) {
            acc0 = _mm512_dpbusd_epi32(acc0, w[k], pk_bcast4(aq + 4 * k));
            acc1 = _mm512_dpbusd_epi32(acc1, w[k + 4], pk_bcast4(aq + 16 + 4 * k));
        }
        isum[c] = _mm512_add_epi32(isum[c], _mm512_add_epi32(_mm512_mullo_epi32(sc0, acc0),
                                                             _mm512_mullo_epi32(sc1, acc1)));
    }
}

/* Decoding (one activation row): each of a half's 24 vectors is loaded once and feeds the
 * four segments, eight accumulators in flight. */
static inline __attribute__((always_inline)) __m512i
pk_q6_half1(const uint8_t *pw, const int h, const struct blk_q8_K *y)
{
    const uint8_t *P = pw + 288 + h * 1536;
    __m512i acc[4][2];
    for (int s = 0; s < 4; s++)
        for (int q = 0; q < 2; q++)
            acc[s][q] = _mm512_set1_epi32(-32 * y->bsums[8 * h + 2 * s + q]);
    const int8_t *aq = y->qs + 128 * h;
    for (int k = 0; k < 8; k++) {
        const int q = k >= 4;
        acc[0][q] = _mm512_dpbusd_epi32(acc[0][q], pk_q6_quants(P, k, 0), pk_bcast4(aq + 4 * k));
        acc[1][q] = _mm512_dpbusd_epi32(acc[1][q], pk_q6_quants(P, k, 1), pk_bcast4(aq + 32 + 4 * k));
        acc[2][q] = _mm512_dpbusd_epi32(acc[2][q], pk_q6_quants(P, k, 2), pk_bcast4(aq + 64 + 4 * k));
        acc[3][q] = _mm512_dpbusd_epi32(acc[3][q], pk_q6_quants(P, k, 3), pk_bcast4(aq + 96 + 4 * k));
    }
    __m512i isum = _mm512_setzero_si512();
    for (int s = 0; s < 4; s++)
        for (int q = 0; q < 2; q++) {
            const int j = 8 * h + 2 * s + q;
            const __m512i sc = _mm512_cvtepi8_epi32(_mm_loadu_si128((const __m128i *)(pw + 32 + 16 * j)));
            isum = _mm512_add_epi32(isum, _mm512_mullo_epi32(sc, acc[s][q]));
        }
    return isum;
}

static inline __attribute__((always_inline)) void
pk_q6_K(int64_t nb, const uint8_t *pw, const char *a, size_t a_row, const int nc, float *out)
{
    if (nc == 1) {
        __m512 sum = _mm512_setzero_ps();
        for (int64_t b = 0; b < nb; b++, pw += 16 * 210) {
            pk_prefetch_q6_K(pw, 16 * 210);
            const struct blk_q8_K *y = (const struct blk_q8_K *)a + b;
            const __m512i isum = _mm512_add_epi32(pk_q6_half1(pw, 0, y), pk_q6_half1(pw, 1, y));
            const __m512 dw = _mm512_cvtph_ps(_mm256_loadu_si256((const __m256i *)pw));
            sum = _mm512_add_ps(sum, _mm512_mul_ps(_mm512_mul_ps(dw, _mm512_set1_ps(y->d)),
                                                   _mm512_cvtepi32_ps(isum)));
        }
        _mm512_storeu_ps(out, sum);
        return;
    }
    __m512 sum[KERNELS_PACK_COLS];
    for (int c = 0; c < nc; c++)
        sum[c] = _mm512_setzero_ps();
    for (int64_t b = 0; b < nb; b++, pw += 16 * 210) {
        __m512i isum[KERNELS_PACK_COLS];
        for (int c = 0; c < nc; c++)
            isum[c] = _mm512_setzero_si512();
        pk_q6_seg(pw, 0, 0, a, a_row, b, nc, isum);
        pk_q6_seg(pw, 0, 1, a, a_row, b, nc, isum);
        pk_q6_seg(pw, 0, 2, a, a_row, b, nc, isum);
        pk_q6_seg(pw, 0, 3, a, a_row, b, nc, isum);
        pk_q6_seg(pw, 1, 0, a, a_row, b, nc, isum);
        pk_q6_seg(pw, 1, 1, a, a_row, b, nc, isum);
        pk_q6_seg(pw, 1, 2, a, a_row, b, nc, isum);
        pk_q6_seg(pw, 1, 3, a, a_row, b, nc, isum);
        const __m512 dw = _mm512_cvtph_ps(_mm256_loadu_si256((const __m256i *)pw));
        for (int c = 0; c < nc; c++) {
            const struct blk_q8_K *y = (const struct blk_q8_K *)(a + (size_t)c * a_row) + b;
            const __m512 da = _mm512_set1_ps(y->d);
            sum[c] = _mm512_add_ps(sum[c], _mm512_mul_ps(_mm512_mul_ps(dw, da), _mm512_cvtepi32_ps(isum[c])));
        }
    }
    for (int c = 0; c < nc; c++)
        _mm512_storeu_ps(out + 16 * c, sum[c]);
}

#define PK_DISPATCH(CALL)                                                                   \
    switch (nc) {                                                                           \
    case 1: CALL(1); break;                                                                 \
    case 2: CALL(2); break;                                                                 \
    case 3: CALL(3); break;                                                                 \
    case 4: CALL(4); break;                                                                 \
    case 5: CALL(5); break;                                                                 \
    case 6: CALL(6); break;                                                                 \
    case 7: CALL(7); break;                                                                 \
    default: CALL(8); break;                                                                \
    }

static void avx512_packed_tile(enum dtype t, int64_t n_in, const void *pw, const void *a,
                               size_t a_row, const int32_t *asum, size_t asum_row, int nc,
                               float *out)
{
    const int64_t nb = n_in / dtype_get((uint32_t)t)->block_elems;
    switch (t) {
#define PK_Q8_0(N) pk_b32(DT_Q8_0, nb, pw, a, a_row, asum, asum_row, N, out)
#define PK_Q4_0(N) pk_b32(DT_Q4_0, nb, pw, a, a_row, asum, asum_row, N, out)
#define PK_Q5_0(N) pk_b32(DT_Q5_0, nb, pw, a, a_row, asum, asum_row, N, out)
#define PK_Q4_K(N) pk_q4_K(nb, pw, a, a_row, N, out)
#define PK_Q6_K(N) pk_q6_K(nb, pw, a, a_row, N, out)
    case DT_Q8_0: PK_DISPATCH(PK_Q8_0) break;
    case DT_Q4_0: PK_DISPATCH(PK_Q4_0) break;
    case DT_Q5_0: PK_DISPATCH(PK_Q5_0) break;
    case DT_Q4_K: PK_DISPATCH(PK_Q4_K) break;
    default: PK_DISPATCH(PK_Q6_K) break; /* DT_Q6_K: the last type avx512_pack_bytes accepts */
    }
}

/* ---- attention over f32 keys and values ---- */

static void avx512_f32_dots(int64_t n, int64_t m, const float *rows, size_t stride,
                            const float *x, float *out)
{
    if (n != 64 && n != 128) {
        g_base->f32_dots(n, m, rows, stride, x, out);
        return;
    }
    __m512 q[8];
    for (int i = 0; i < n / 16; i++)
        q[i] = _mm512_loadu_ps(x + 16 * i);
    for (int64_t j = 0; j < m; j++) {
        const float *r = rows + (size_t)j * stride;
        __m512 acc = _mm512_mul_ps(_mm512_loadu_ps(r), q[0]);
        for (int i = 1; i < n / 16; i++)
            acc = _mm512_fmadd_ps(_mm512_loadu_ps(r + 16 * i), q[i], acc);
        out[j] = _mm512_reduce_add_ps(acc);
    }
}

static void avx512_f32_combine(int64_t n, int64_t m, const float *rows, size_t stride,
                               const float *w, float *y)
{
    if (n != 64 && n != 128) {
        g_base->f32_combine(n, m, rows, stride, w, y);
        return;
    }
    for (int64_t i = 0; i < n; i += 64) { /* four accumulators in registers over all rows */
        __m512 a0 = _mm512_setzero_ps(), a1 = a0, a2 = a0, a3 = a0;
        for (int64_t j = 0; j < m; j++) {
            const float *r = rows + (size_t)j * stride + i;
            __m512 wj = _mm512_set1_ps(w[j]);
            a0 = _mm512_fmadd_ps(wj, _mm512_loadu_ps(r), a0);
            a1 = _mm512_fmadd_ps(wj, _mm512_loadu_ps(r + 16), a1);
            a2 = _mm512_fmadd_ps(wj, _mm512_loadu_ps(r + 32), a2);
            a3 = _mm512_fmadd_ps(wj, _mm512_loadu_ps(r + 48), a3);
        }
        _mm512_storeu_ps(y + i, a0);
        _mm512_storeu_ps(y + i + 16, a1);
        _mm512_storeu_ps(y + i + 32, a2);
        _mm512_storeu_ps(y + i + 48, a3);
    }
}

/* exp(x) = 2^k exp(r), x = k ln2 + r, |r| <= ln2 / 2, exp(r) by Cephes' expf polynomial;
 * vscalefps applies 2^k (and underflows to 0 below -87). */
static inline __m512 avx512_exp16(__m512 v)
{
    v = _mm512_min_ps(_mm512_max_ps(v, _mm512_set1_ps(-104.0f)), _mm512_set1_ps(EXPF_MAX));
    __m512 k = _mm512_roundscale_ps(_mm512_mul_ps(v, _mm512_set1_ps(EXPF_LOG2E)),
                                    _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
    __m512 r = _mm512_fnmadd_ps(k, _mm512_set1_ps(EXPF_LN2_HI), v);
    r = _mm512_fnmadd_ps(k, _mm512_set1_ps(EXPF_LN2_LO), r);
    __m512 p = _mm512_set1_ps(EXPF_C0);
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(EXPF_C1));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(EXPF_C2));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(EXPF_C3));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(EXPF_C4));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(EXPF_C5));
    p = _mm512_fmadd_ps(p, _mm512_mul_ps(r, r), _mm512_add_ps(r, _mm512_set1_ps(1.0f)));
    return _mm512_scalef_ps(p, k);
}

static inline __mmask16 avx512_tail(int64_t left)
{
    return left >= 16 ? (__mmask16)0xFFFF : (__mmask16)((1u << left) - 1);
}

/* exp(x) = 2^k exp(r), x = k ln2 + r, |r| <= ln2 / 2, exp(r) by Cephes' expf polynomial;
 * vscalefps applies 2^k (and underflows to 0 below -87). */
static void avx512_f32_exp(int64_t n, float *y, const float *x)
{
    for (int64_t i = 0; i < n; i += 16) {
        __mmask16 mk = avx512_tail(n - i);
        _mm512_mask_storeu_ps(y + i, mk, avx512_exp16(_mm512_maskz_loadu_ps(mk, x + i)));
    }
}

static float avx512_f32_softmax(int64_t n, float *x, float scale)
{
    const __m512 vs = _mm512_set1_ps(scale);
    __m512 vm = _mm512_set1_ps(-INFINITY);
    for (int64_t i = 0; i < n; i += 16) {
        __mmask16 mk = avx512_tail(n - i);
        __m512 v = _mm512_mul_ps(_mm512_maskz_loadu_ps(mk, x + i), vs);
        _mm512_mask_storeu_ps(x + i, mk, v);
        vm = _mm512_mask_max_ps(vm, mk, vm, v);
    }
    const __m512 vmax = _mm512_set1_ps(_mm512_reduce_max_ps(vm));
    __m512 acc = _mm512_setzero_ps();
    for (int64_t i = 0; i < n; i += 16) {
        __mmask16 mk = avx512_tail(n - i);
        __m512 e = avx512_exp16(_mm512_sub_ps(_mm512_maskz_loadu_ps(mk, x + i), vmax));
        _mm512_mask_storeu_ps(x + i, mk, e);
        acc = _mm512_mask_add_ps(acc, mk, acc, e);
    }
    return _mm512_reduce_add_ps(acc);
}

static const struct kernels g_avx512 = {
    .name = "avx512",
    .vec_dot = avx512_vec_dot,
    .vec_dot_tile = avx512_tile,
    .quantize_act = avx512_quantize_act,
    .f16_mad = avx512_f16_mad,
    .f16_scale = avx512_f16_scale,
    .f16_to_f32 = avx512_f16_to_f32,
    .attn_f16_row = avx512_attn_f16_row,
    .f32_dots = avx512_f32_dots,
    .f32_combine = avx512_f32_combine,
    .f32_exp = avx512_f32_exp,
    .f32_softmax = avx512_f32_softmax,
    .pack_bytes = avx512_pack_bytes,
    .pack = avx512_pack,
    .packed_tile = avx512_packed_tile,
};

const struct kernels *kernels_avx512(void)
{
    g_base = kernels_avx2();
    return g_base ? &g_avx512 : NULL;
}

#else

const struct kernels *kernels_avx512(void) { return NULL; }

#endif
