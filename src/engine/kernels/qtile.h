/* qtile: quantized dot products of a tile of up to 4 weight rows x 4 activation rows, exact to
 * the reference. Included (once) by each x86 kernel file, which first defines
 *
 *   QT_DOT_U8S8(u, s): __m256i whose int32 lanes sum products of the unsigned bytes of u with
 *                      the signed bytes of s (AVX2: maddubs + madd; AVX-512: vpdpbusd),
 *
 * and compiles this with its own instruction set.
 *
 * Exactness. The reference (quant_ref.c) computes, per block b of a (row, token) pair,
 *     t = (d_w * d_a) * (float)isum - min_term,   sum = sum + t,
 * with isum, isum_min exact integers and min_term = (dmin_w * d_a) * (float)isum_min, or
 * dmin_w * s_a for q8_1 activations (q4_1, q5_1; dmin_w = -m). This file computes the integers
 * with SIMD (any order: integer sums are exact) and then performs exactly those float operations
 * for 8 pairs at a time, one pair per lane, block after block: every result is bit-identical to
 * quant_vec_dot_ref's (tests/unit/test_kernels.c checks with memcmp). So no kernel can move a
 * logit: results do not depend on the CPU, the table, or the tile shape.
 *
 * Layout: pair k = c * nr + r (token c, row r), with nr x nc <= 16: 4 x 4 tiles for prompts
 * (each weight block unpacked once serves 4 tokens), 16 x 1 for decoding (16 independent
 * accumulation chains); missing pairs repeat the last row / token and are dropped. Weights are unpacked to bytes once per block and reused by every token
 * of the tile; K-quant weights are unpacked unsigned (q + offset) and the offset is taken out
 * with the activations' 16-element sums (q8_K's bsums): sum (q_u - o) a = sum q_u a - o sum a.
 */
#ifndef BATON_ENGINE_KERNELS_QTILE_H
#define BATON_ENGINE_KERNELS_QTILE_H

#include "engine/dtype.h"
#include "engine/quant_blocks.h"

#include <immintrin.h>
#include <stdbool.h>
#include <string.h>

#define QT_PAIRS 16 /* pairs per tile: 4 rows x 4 tokens, or up to 16 rows x 1 token */

static inline float qt_h2f(uint16_t h) { return _cvtsh_ss(h); }

/* Totals of 8 vectors of 8 int32 lanes, as one vector [sum v0, ..., sum v7]. */
static inline __m256i qt_reduce8(const __m256i v[8])
{
    __m256i h01 = _mm256_hadd_epi32(v[0], v[1]), h23 = _mm256_hadd_epi32(v[2], v[3]);
    __m256i h45 = _mm256_hadd_epi32(v[4], v[5]), h67 = _mm256_hadd_epi32(v[6], v[7]);
    __m256i a = _mm256_hadd_epi32(h01, h23), b = _mm256_hadd_epi32(h45, h67);
    return _mm256_add_epi32(_mm256_permute2x128_si256(a, b, 0x20),
                            _mm256_permute2x128_si256(a, b, 0x31));
}

/* One step of the reference's float arithmetic for 8 pairs. */
static inline __m256 qt_step(__m256 sum, __m256 dw, __m256 da, __m256i isum, __m256 min_term)
{
    __m256 t = _mm256_sub_ps(_mm256_mul_ps(_mm256_mul_ps(dw, da), _mm256_cvtepi32_ps(isum)), min_term);
    return _mm256_add_ps(sum, t);
}

/* The tile's shape: which row and token each of the 16 pairs reads. */
struct qt_shape {
    int nr, nc;
    int row[QT_PAIRS], col[QT_PAIRS];
};

/* The per-pair vector h (pairs 8h .. 8h + 7) of per-row values v[] (QT_PAIRS entries, rows
 * past nr repeating the last), in the two common shapes without gathering. */
static inline __m256 qt_by_row(const struct qt_shape *sh, const float *v, int h)
{
    if (sh->nc == 1)
        return _mm256_loadu_ps(v + 8 * h);
    if (sh->nr == 4 && sh->nc == 4)
        return _mm256_broadcast_ps((const __m128 *)v);
    return _mm256_setr_ps(v[sh->row[8 * h]], v[sh->row[8 * h + 1]], v[sh->row[8 * h + 2]],
                          v[sh->row[8 * h + 3]], v[sh->row[8 * h + 4]], v[sh->row[8 * h + 5]],
                          v[sh->row[8 * h + 6]], v[sh->row[8 * h + 7]]);
}

/* The same for per-token values. */
static inline __m256 qt_by_col(const struct qt_shape *sh, const float *v, int h)
{
    if (sh->nc == 1)
        return _mm256_set1_ps(v[0]);
    if (sh->nr == 4 && sh->nc == 4)
        return _mm256_setr_m128(_mm_set1_ps(v[2 * h]), _mm_set1_ps(v[2 * h + 1]));
    return _mm256_setr_ps(v[sh->col[8 * h]], v[sh->col[8 * h + 1]], v[sh->col[8 * h + 2]],
                          v[sh->col[8 * h + 3]], v[sh->col[8 * h + 4]], v[sh->col[8 * h + 5]],
                          v[sh->col[8 * h + 6]], v[sh->col[8 * h + 7]]);
}

#define QT_INLINE static inline __attribute__((always_inline))

/* signed x signed bytes (neither -128) */
static inline __m256i qt_dot_s8s8(__m256i x, __m256i y)
{
    return QT_DOT_U8S8(_mm256_sign_epi8(x, x), _mm256_sign_epi8(y, x));
}

/* ---- 32-element blocks ---- */

/* Bit j of a 32-bit mask as byte j: 0x10 where set (the 5th bit of q5 quants). */
static inline __m256i qt_bits_0x10(uint32_t bits)
{
    const __m256i shuf = _mm256_set_epi64x(0x0303030303030303ll, 0x0202020202020202ll,
                                           0x0101010101010101ll, 0x0000000000000000ll);
    __m256i v = _mm256_shuffle_epi8(_mm256_set1_epi32((int)bits), shuf);
    const __m256i sel = _mm256_set1_epi64x((long long)0x8040201008040201ull);
    v = _mm256_cmpeq_epi8(_mm256_and_si256(v, sel), sel);
    return _mm256_and_si256(v, _mm256_set1_epi8(0x10));
}

/* 32 nibbles of 16 bytes: low nibbles first, then high nibbles (the q4/q5 element order). */
static inline __m256i qt_nibbles(const uint8_t *p)
{
    __m128i b = _mm_loadu_si128((const __m128i *)p);
    return _mm256_and_si256(_mm256_set_m128i(_mm_srli_epi16(b, 4), b), _mm256_set1_epi8(15));
}

/* Weight block b of a 32-element type as bytes: signed (q - offset) or unsigned (q). */
QT_INLINE __m256i qt_w32(enum dtype t, const void *row, int64_t b, float *d, float *dmin,
                         bool *is_signed)
{
    uint32_t qh;
    switch (t) {
    case DT_Q8_0: {
        const struct blk_q8_0 *x = (const struct blk_q8_0 *)row + b;
        *d = qt_h2f(x->d), *dmin = 0.0f, *is_signed = true;
        return _mm256_loadu_si256((const __m256i *)x->qs);
    }
    case DT_Q4_0: {
        const struct blk_q4_0 *x = (const struct blk_q4_0 *)row + b;
        *d = qt_h2f(x->d), *dmin = 0.0f, *is_signed = true;
        return _mm256_sub_epi8(qt_nibbles(x->qs), _mm256_set1_epi8(8));
    }
    case DT_Q5_0: {
        const struct blk_q5_0 *x = (const struct blk_q5_0 *)row + b;
        *d = qt_h2f(x->d), *dmin = 0.0f, *is_signed = true;
        memcpy(&qh, x->qh, 4);
        return _mm256_sub_epi8(_mm256_or_si256(qt_nibbles(x->qs), qt_bits_0x10(qh)),
                               _mm256_set1_epi8(16));
    }
    case DT_Q4_1: {
        const struct blk_q4_1 *x = (const struct blk_q4_1 *)row + b;
        *d = qt_h2f(x->d), *dmin = -qt_h2f(x->m), *is_signed = false;
        return qt_nibbles(x->qs);
    }
    default: { /* DT_Q5_1 */
        const struct blk_q5_1 *x = (const struct blk_q5_1 *)row + b;
        *d = qt_h2f(x->d), *dmin = -qt_h2f(x->m), *is_signed = false;
        memcpy(&qh, x->qh, 4);
        return _mm256_or_si256(qt_nibbles(x->qs), qt_bits_0x10(qh));
    }
    }
}

QT_INLINE void qt_tile32_body(enum dtype t, int64_t nb, const struct qt_shape *sh,
                              const char *const *w, const char *const *a, __m256 sum[2])
{
    bool q81 = t == DT_Q4_1 || t == DT_Q5_1;
    int np = sh->nr * sh->nc, nh = (np + 7) / 8;
    for (int64_t b = 0; b < nb; b++) {
        __m256i wq[QT_PAIRS], wabs[QT_PAIRS], aq[4];
        float dw[QT_PAIRS], dmin[QT_PAIRS], da[4], sa[4];
        bool sgn = true;
        for (int r = 0; r < sh->nr; r++) {
            wq[r] = qt_w32(t, w[r], b, &dw[r], &dmin[r], &sgn);
            wabs[r] = sgn ? _mm256_sign_epi8(wq[r], wq[r]) : wq[r];
        }
        for (int r = sh->nr; r < QT_PAIRS; r++) /* padding for the lane patterns */
            dw[r] = dw[sh->nr - 1], dmin[r] = dmin[sh->nr - 1];
        for (int c = 0; c < sh->nc; c++) {
            if (q81) {
                const struct blk_q8_1 *y = (const struct blk_q8_1 *)a[c] + b;
                aq[c] = _mm256_loadu_si256((const __m256i *)y->qs);
                da[c] = qt_h2f(y->d);
                sa[c] = qt_h2f(y->s);
            } else {
                const struct blk_q8_0 *y = (const struct blk_q8_0 *)a[c] + b;
                aq[c] = _mm256_loadu_si256((const __m256i *)y->qs);
                da[c] = qt_h2f(y->d);
                sa[c] = 0.0f;
            }
        }
        __m256i lanes[QT_PAIRS];
        for (int k = 0; k < nh * 8; k++) {
            int r = sh->row[k], c = sh->col[k];
            lanes[k] = sgn ? QT_DOT_U8S8(wabs[r], _mm256_sign_epi8(aq[c], wq[r]))
                           : QT_DOT_U8S8(wq[r], aq[c]);
        }
        for (int h = 0; h < nh; h++) {
            __m256i isum = qt_reduce8(lanes + 8 * h);
            __m256 vdw = qt_by_row(sh, dw, h), vdmin = qt_by_row(sh, dmin, h);
            __m256 vda = qt_by_col(sh, da, h);
            /* min_term: q8_1 activations: dmin * s; else (dmin * da) * (float)0 */
            __m256 mt = q81 ? _mm256_mul_ps(vdmin, qt_by_col(sh, sa, h))
                            : _mm256_mul_ps(_mm256_mul_ps(vdmin, vda), _mm256_setzero_ps());
            sum[h] = qt_step(sum[h], vdw, vda, isum, mt);
        }
    }
}

/* One copy of the block loop per type, so the type's unpacking is resolved at compile time. */
static void qt_tile32(enum dtype t, int64_t nb, const struct qt_shape *sh, const char *const *w,
                      const char *const *a, __m256 sum[2])
{
    switch (t) {
    case DT_Q8_0: qt_tile32_body(DT_Q8_0, nb, sh, w, a, sum); break;
    case DT_Q4_0: qt_tile32_body(DT_Q4_0, nb, sh, w, a, sum); break;
    case DT_Q5_0: qt_tile32_body(DT_Q5_0, nb, sh, w, a, sum); break;
    case DT_Q4_1: qt_tile32_body(DT_Q4_1, nb, sh, w, a, sum); break;
    default: qt_tile32_body(DT_Q5_1, nb, sh, w, a, sum); break;
    }
}

/* ---- K-quants ---- */

/* A super-block of one weight row, unpacked: 256 unsigned quants, the per-16-element scale
 * and min codes (int16, repeated for 32-element sub-blocks), the quants' offset, d and dmin. */
struct qt_kblock {
    __m256i q[8];       /* bytes 32j..32j+31 */
    __m256i sc16;       /* int16 lane g: scale code of 16-group g */
    __m256i m16;        /* int16 lane g: min code of 16-group g */
    int offset;         /* q_u - offset is the signed quant */
    float d, dmin;
};

static inline void qt_k4_codes(const uint8_t s[12], int16_t sc[16], int16_t m[16])
{
    for (int j = 0; j < 8; j++) {
        int a, b;
        if (j < 4) {
            a = s[j] & 63;
            b = s[j + 4] & 63;
        } else {
            a = (s[j + 4] & 15) | (s[j - 4] >> 6) << 4;
            b = (s[j + 4] >> 4) | (s[j] >> 6) << 4;
        }
        sc[2 * j] = sc[2 * j + 1] = (int16_t)a;
        m[2 * j] = m[2 * j + 1] = (int16_t)b;
    }
}

/* The 2-bit plane k (0..3) of 32 bytes. */
static inline __m256i qt_plane2(__m256i v, int k)
{
    return _mm256_and_si256(_mm256_srli_epi16(v, 2 * k), _mm256_set1_epi8(3));
}

QT_INLINE void qt_kread(enum dtype t, const void *row, int64_t b, struct qt_kblock *k)
{
    int16_t sc[16], m[16];
    const __m256i m4 = _mm256_set1_epi8(15), one = _mm256_set1_epi8(1);
    memset(m, 0, sizeof m);
    switch (t) {
    case DT_Q4_K:
    case DT_Q5_K: {
        const uint8_t *qs, *scales, *qhp = NULL;
        uint16_t d, dmin;
        if (t == DT_Q5_K) {
            const struct blk_q5_K *x = (const struct blk_q5_K *)row + b;
            qs = x->qs, scales = x->scales, qhp = x->qh, d = x->d, dmin = x->dmin;
        } else {
            const struct blk_q4_K *x = (const struct blk_q4_K *)row + b;
            qs = x->qs, scales = x->scales, d = x->d, dmin = x->dmin;
        }
        qt_k4_codes(scales, sc, m);
        __m256i qh = qhp ? _mm256_loadu_si256((const __m256i *)qhp) : _mm256_setzero_si256();
        for (int p = 0; p < 4; p++) {
            __m256i raw = _mm256_loadu_si256((const __m256i *)(qs + 32 * p));
            __m256i lo = _mm256_and_si256(raw, m4);
            __m256i hi = _mm256_and_si256(_mm256_srli_epi16(raw, 4), m4);
            if (qhp) {
                lo = _mm256_or_si256(lo, _mm256_slli_epi16(_mm256_and_si256(_mm256_srli_epi16(qh, 2 * p), one), 4));
                hi = _mm256_or_si256(hi, _mm256_slli_epi16(_mm256_and_si256(_mm256_srli_epi16(qh, 2 * p + 1), one), 4));
            }
            k->q[2 * p] = lo;
            k->q[2 * p + 1] = hi;
        }
        k->offset = 0;
        k->d = qt_h2f(d);
        k->dmin = qt_h2f(dmin);
        break;
    }
    case DT_Q6_K: {
        const struct blk_q6_K *x = (const struct blk_q6_K *)row + b;
        const __m256i m3 = _mm256_set1_epi8(3);
        for (int h = 0; h < 2; h++) {
            __m256i ql0 = _mm256_loadu_si256((const __m256i *)(x->ql + 64 * h));
            __m256i ql1 = _mm256_loadu_si256((const __m256i *)(x->ql + 64 * h + 32));
            __m256i qh = _mm256_loadu_si256((const __m256i *)(x->qh + 32 * h));
            k->q[4 * h] = _mm256_or_si256(_mm256_and_si256(ql0, m4), _mm256_slli_epi16(_mm256_and_si256(qh, m3), 4));
            k->q[4 * h + 1] = _mm256_or_si256(_mm256_and_si256(ql1, m4),
                                              _mm256_slli_epi16(_mm256_and_si256(_mm256_srli_epi16(qh, 2), m3), 4));
            k->q[4 * h + 2] = _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(ql0, 4), m4),
                                              _mm256_slli_epi16(_mm256_and_si256(_mm256_srli_epi16(qh, 4), m3), 4));
            k->q[4 * h + 3] = _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(ql1, 4), m4),
                                              _mm256_slli_epi16(_mm256_and_si256(_mm256_srli_epi16(qh, 6), m3), 4));
        }
        for (int j = 0; j < 16; j++)
            sc[j] = x->scales[j];
        k->offset = 32;
        k->d = qt_h2f(x->d);
        k->dmin = 0.0f;
        break;
    }
    case DT_Q3_K: {
        const struct blk_q3_K *x = (const struct blk_q3_K *)row + b;
        const uint8_t *s = x->scales;
        for (int j = 0; j < 16; j++) {
            int low = j < 8 ? s[j] & 15 : s[j - 8] >> 4;
            int high = (s[8 + j % 4] >> (2 * (j / 4))) & 3;
            sc[j] = (int16_t)((low | high << 4) - 32);
        }
        __m256i hm = _mm256_loadu_si256((const __m256i *)x->hmask);
        for (int h = 0; h < 2; h++) {
            __m256i qs = _mm256_loadu_si256((const __m256i *)(x->qs + 32 * h));
            for (int kk = 0; kk < 4; kk++) {
                int plane = 4 * h + kk;
                __m256i hb = _mm256_and_si256(_mm256_srli_epi16(hm, plane), one);
                k->q[plane] = _mm256_or_si256(qt_plane2(qs, kk), _mm256_slli_epi16(hb, 2));
            }
        }
        k->offset = 4;
        k->d = qt_h2f(x->d);
        k->dmin = 0.0f;
        break;
    }
    default: { /* DT_Q2_K */
        const struct blk_q2_K *x = (const struct blk_q2_K *)row + b;
        for (int h = 0; h < 2; h++) {
            __m256i qs = _mm256_loadu_si256((const __m256i *)(x->qs + 32 * h));
            for (int kk = 0; kk < 4; kk++)
                k->q[4 * h + kk] = qt_plane2(qs, kk);
        }
        for (int j = 0; j < 16; j++) {
            sc[j] = (int16_t)(x->scales[j] & 15);
            m[j] = (int16_t)(x->scales[j] >> 4);
        }
        k->offset = 0;
        k->d = qt_h2f(x->d);
        k->dmin = qt_h2f(x->dmin);
        break;
    }
    }
    k->sc16 = _mm256_loadu_si256((const __m256i *)sc);
    k->m16 = _mm256_loadu_si256((const __m256i *)m);
}

/* int16 scale pattern for the 32 bytes of chunk j (16-groups 2j and 2j + 1): lanes 0..7 take
 * group 2j, lanes 8..15 group 2j + 1 (maddubs output order). */
static inline __m256i qt_chunk_scales(const int16_t sc[16], int j)
{
    return _mm256_set_m128i(_mm_set1_epi16(sc[2 * j + 1]), _mm_set1_epi16(sc[2 * j]));
}

QT_INLINE void qt_tilek_body(enum dtype t, int64_t nb, const struct qt_shape *sh,
                             const char *const *w, const char *const *a, __m256 sum[2])
{
    int np = sh->nr * sh->nc, nh = (np + 7) / 8;
    for (int64_t b = 0; b < nb; b++) {
        struct qt_kblock k[QT_PAIRS];
        int16_t sc[QT_PAIRS][16];
        float dw[QT_PAIRS], dmin[QT_PAIRS], da[4];
        for (int r = 0; r < sh->nr; r++) {
            qt_kread(t, w[r], b, &k[r]);
            _mm256_storeu_si256((__m256i *)sc[r], k[r].sc16);
            dw[r] = k[r].d;
            dmin[r] = k[r].dmin;
        }
        for (int r = sh->nr; r < QT_PAIRS; r++)
            dw[r] = dw[sh->nr - 1], dmin[r] = dmin[sh->nr - 1];
        const struct blk_q8_K *y[4];
        __m256i bsums[4];
        for (int c = 0; c < sh->nc; c++) {
            y[c] = (const struct blk_q8_K *)a[c] + b;
            da[c] = y[c]->d;
            bsums[c] = _mm256_loadu_si256((const __m256i *)y[c]->bsums);
        }
        __m256i lanes[QT_PAIRS], mins[QT_PAIRS];
        for (int kk = 0; kk < nh * 8; kk++) {
            int r = sh->row[kk], c = sh->col[kk];
            {
                __m256i acc = _mm256_setzero_si256();
                for (int j = 0; j < 8; j++) {
                    __m256i yq = _mm256_loadu_si256((const __m256i *)(y[c]->qs + 32 * j));
                    __m256i p16 = _mm256_maddubs_epi16(k[r].q[j], yq);
                    acc = _mm256_add_epi32(acc, _mm256_madd_epi16(p16, qt_chunk_scales(sc[r], j)));
                }
                __m256i scb = _mm256_madd_epi16(k[r].sc16, bsums[c]); /* sum_g sc_g * bsum_g */
                if (k[r].offset == 32)
                    acc = _mm256_sub_epi32(acc, _mm256_slli_epi32(scb, 5));
                else if (k[r].offset == 4)
                    acc = _mm256_sub_epi32(acc, _mm256_slli_epi32(scb, 2));
                lanes[kk] = acc;
                mins[kk] = _mm256_madd_epi16(k[r].m16, bsums[c]);
            }
        }
        for (int h = 0; h < nh; h++) {
            __m256i isum = qt_reduce8(lanes + 8 * h);
            __m256i imin = qt_reduce8(mins + 8 * h);
            __m256 vdw = qt_by_row(sh, dw, h), vdmin = qt_by_row(sh, dmin, h);
            __m256 vda = qt_by_col(sh, da, h);
            __m256 mt = _mm256_mul_ps(_mm256_mul_ps(vdmin, vda), _mm256_cvtepi32_ps(imin));
            sum[h] = qt_step(sum[h], vdw, vda, isum, mt);
        }
    }
}

static void qt_tilek(enum dtype t, int64_t nb, const struct qt_shape *sh, const char *const *w,
                     const char *const *a, __m256 sum[2])
{
    switch (t) {
    case DT_Q2_K: qt_tilek_body(DT_Q2_K, nb, sh, w, a, sum); break;
    case DT_Q3_K: qt_tilek_body(DT_Q3_K, nb, sh, w, a, sum); break;
    case DT_Q4_K: qt_tilek_body(DT_Q4_K, nb, sh, w, a, sum); break;
    case DT_Q5_K: qt_tilek_body(DT_Q5_K, nb, sh, w, a, sum); break;
    default: qt_tilek_body(DT_Q6_K, nb, sh, w, a, sum); break;
    }
}

/* ---- decoding: many rows, one token ----
 *
 * Rows are streamed one after another (one sequential stream for the hardware prefetcher,
 * where interleaving 16 rows block by block defeats it): phase 1 computes each row's exact
 * per-block integers, eight blocks per reduction; phase 2 runs the reference's float steps for
 * all rows at once, block after block, one row per lane. */

#define QT_GEMV_CHUNK 64 /* blocks per pass, so the integer buffers stay in L1 */

QT_INLINE void qt_gemv32_body(enum dtype t, int64_t nb, int nr, const char *const *w,
                              const char *a, __m256 sum[2])
{
    bool q81 = t == DT_Q4_1 || t == DT_Q5_1;
    int32_t isum[QT_GEMV_CHUNK][QT_PAIRS];
    float dw[QT_GEMV_CHUNK][QT_PAIRS], dmin[QT_GEMV_CHUNK][QT_PAIRS];
    for (int64_t b0 = 0; b0 < nb; b0 += QT_GEMV_CHUNK) {
        int64_t n = nb - b0 < QT_GEMV_CHUNK ? nb - b0 : QT_GEMV_CHUNK;
        for (int r = 0; r < QT_PAIRS; r++) {
            int rr = r < nr ? r : nr - 1;
            for (int64_t i = 0; i < n; i += 8) {
                __m256i lanes[8];
                for (int k = 0; k < 8; k++) {
                    if (i + k >= n) {
                        lanes[k] = _mm256_setzero_si256();
                        continue;
                    }
                    bool sgn;
                    __m256i wq = qt_w32(t, w[rr], b0 + i + k, &dw[i + k][r], &dmin[i + k][r], &sgn);
                    __m256i aq;
                    if (q81)
                        aq = _mm256_loadu_si256((const __m256i *)((const struct blk_q8_1 *)a + b0 + i + k)->qs);
                    else
                        aq = _mm256_loadu_si256((const __m256i *)((const struct blk_q8_0 *)a + b0 + i + k)->qs);
                    lanes[k] = sgn ? qt_dot_s8s8(wq, aq) : QT_DOT_U8S8(wq, aq);
                }
                int32_t tot[8];
                _mm256_storeu_si256((__m256i *)tot, qt_reduce8(lanes));
                for (int k = 0; k < 8 && i + k < n; k++)
                    isum[i + k][r] = tot[k];
            }
        }
        for (int64_t i = 0; i < n; i++) {
            float da, sa = 0.0f;
            if (q81) {
                const struct blk_q8_1 *y = (const struct blk_q8_1 *)a + b0 + i;
                da = qt_h2f(y->d), sa = qt_h2f(y->s);
            } else {
                da = qt_h2f(((const struct blk_q8_0 *)a + b0 + i)->d);
            }
            __m256 vda = _mm256_set1_ps(da);
            for (int h = 0; h < 2; h++) {
                __m256 vdw = _mm256_loadu_ps(&dw[i][8 * h]), vdmin = _mm256_loadu_ps(&dmin[i][8 * h]);
                __m256i vi = _mm256_loadu_si256((const __m256i *)&isum[i][8 * h]);
                __m256 mt = q81 ? _mm256_mul_ps(vdmin, _mm256_set1_ps(sa))
                                : _mm256_mul_ps(_mm256_mul_ps(vdmin, vda), _mm256_setzero_ps());
                sum[h] = qt_step(sum[h], vdw, vda, vi, mt);
            }
        }
    }
}

QT_INLINE void qt_gemvk_body(enum dtype t, int64_t nb, int nr, const char *const *w,
                             const char *a, __m256 sum[2])
{
    int32_t isum[QT_GEMV_CHUNK][QT_PAIRS], imin[QT_GEMV_CHUNK][QT_PAIRS];
    float dw[QT_GEMV_CHUNK][QT_PAIRS], dmin[QT_GEMV_CHUNK][QT_PAIRS];
    for (int64_t b0 = 0; b0 < nb; b0 += QT_GEMV_CHUNK) {
        int64_t n = nb - b0 < QT_GEMV_CHUNK ? nb - b0 : QT_GEMV_CHUNK;
        for (int r = 0; r < QT_PAIRS; r++) {
            int rr = r < nr ? r : nr - 1;
            for (int64_t i = 0; i < n; i += 8) {
                __m256i lanes[8], mins[8];
                for (int kk = 0; kk < 8; kk++) {
                    if (i + kk >= n) {
                        lanes[kk] = mins[kk] = _mm256_setzero_si256();
                        continue;
                    }
                    struct qt_kblock k;
                    qt_kread(t, w[rr], b0 + i + kk, &k);
                    dw[i + kk][r] = k.d;
                    dmin[i + kk][r] = k.dmin;
                    int16_t sc[16];
                    _mm256_storeu_si256((__m256i *)sc, k.sc16);
                    const struct blk_q8_K *y = (const struct blk_q8_K *)a + b0 + i + kk;
                    __m256i bsums = _mm256_loadu_si256((const __m256i *)y->bsums);
                    __m256i acc = _mm256_setzero_si256();
                    for (int j = 0; j < 8; j++) {
                        __m256i yq = _mm256_loadu_si256((const __m256i *)(y->qs + 32 * j));
                        __m256i p16 = _mm256_maddubs_epi16(k.q[j], yq);
                        acc = _mm256_add_epi32(acc, _mm256_madd_epi16(p16, qt_chunk_scales(sc, j)));
                    }
                    __m256i scb = _mm256_madd_epi16(k.sc16, bsums);
                    if (k.offset == 32)
                        acc = _mm256_sub_epi32(acc, _mm256_slli_epi32(scb, 5));
                    else if (k.offset == 4)
                        acc = _mm256_sub_epi32(acc, _mm256_slli_epi32(scb, 2));
                    lanes[kk] = acc;
                    mins[kk] = _mm256_madd_epi16(k.m16, bsums);
                }
                int32_t tot[8], totm[8];
                _mm256_storeu_si256((__m256i *)tot, qt_reduce8(lanes));
                _mm256_storeu_si256((__m256i *)totm, qt_reduce8(mins));
                for (int kk = 0; kk < 8 && i + kk < n; kk++) {
                    isum[i + kk][r] = tot[kk];
                    imin[i + kk][r] = totm[kk];
                }
            }
        }
        for (int64_t i = 0; i < n; i++) {
            __m256 vda = _mm256_set1_ps(((const struct blk_q8_K *)a + b0 + i)->d);
            for (int h = 0; h < 2; h++) {
                __m256 vdw = _mm256_loadu_ps(&dw[i][8 * h]), vdmin = _mm256_loadu_ps(&dmin[i][8 * h]);
                __m256i vi = _mm256_loadu_si256((const __m256i *)&isum[i][8 * h]);
                __m256i vm = _mm256_loadu_si256((const __m256i *)&imin[i][8 * h]);
                __m256 mt = _mm256_mul_ps(_mm256_mul_ps(vdmin, vda), _mm256_cvtepi32_ps(vm));
                sum[h] = qt_step(sum[h], vdw, vda, vi, mt);
            }
        }
    }
}

static void qt_gemv(enum dtype t, int64_t n, int nr, const char *const *w, const char *a,
                    __m256 sum[2])
{
    switch (t) {
    case DT_Q8_0: qt_gemv32_body(DT_Q8_0, n / 32, nr, w, a, sum); break;
    case DT_Q4_0: qt_gemv32_body(DT_Q4_0, n / 32, nr, w, a, sum); break;
    case DT_Q5_0: qt_gemv32_body(DT_Q5_0, n / 32, nr, w, a, sum); break;
    case DT_Q4_1: qt_gemv32_body(DT_Q4_1, n / 32, nr, w, a, sum); break;
    case DT_Q5_1: qt_gemv32_body(DT_Q5_1, n / 32, nr, w, a, sum); break;
    case DT_Q2_K: qt_gemvk_body(DT_Q2_K, n / QK_K, nr, w, a, sum); break;
    case DT_Q3_K: qt_gemvk_body(DT_Q3_K, n / QK_K, nr, w, a, sum); break;
    case DT_Q4_K: qt_gemvk_body(DT_Q4_K, n / QK_K, nr, w, a, sum); break;
    case DT_Q5_K: qt_gemvk_body(DT_Q5_K, n / QK_K, nr, w, a, sum); break;
    default: qt_gemvk_body(DT_Q6_K, n / QK_K, nr, w, a, sum); break;
    }
}

/* ---- entry ---- */

static bool qt_handles(enum dtype t)
{
    switch (t) {
    case DT_Q8_0: case DT_Q4_0: case DT_Q5_0: case DT_Q4_1: case DT_Q5_1:
    case DT_Q2_K: case DT_Q3_K: case DT_Q4_K: case DT_Q5_K: case DT_Q6_K:
        return true;
    default:
        return false;
    }
}

/* out[c * out_stride + r] for r < nr, c < nc (nr * nc <= 16, nc <= 4); t must satisfy
 * qt_handles. */
static void qt_tile(enum dtype t, int64_t n, const void *w, size_t w_row, int nr, const void *a,
                    size_t a_row, int nc, float *out, size_t out_stride)
{
    struct qt_shape sh;
    sh.nr = nr;
    sh.nc = nc;
    const char *wr[QT_PAIRS], *ac[4];
    for (int r = 0; r < nr; r++)
        wr[r] = (const char *)w + (size_t)r * w_row;
    for (int c = 0; c < nc; c++)
        ac[c] = (const char *)a + (size_t)c * a_row;
    int np = nr * nc;
    for (int k = 0; k < QT_PAIRS; k++) { /* pairs past np repeat the last one */
        int kk = k < np ? k : np - 1;
        sh.row[k] = kk % nr;
        sh.col[k] = kk / nr;
    }
    __m256 sum[2] = {_mm256_setzero_ps(), _mm256_setzero_ps()};
    if (nc == 1 && nr > 1)
        qt_gemv(t, n, nr, wr, ac[0], sum);
    else if (t == DT_Q2_K || t == DT_Q3_K || t == DT_Q4_K || t == DT_Q5_K || t == DT_Q6_K)
        qt_tilek(t, n / QK_K, &sh, wr, ac, sum);
    else
        qt_tile32(t, n / 32, &sh, wr, ac, sum);
    float s[QT_PAIRS];
    _mm256_storeu_ps(s, sum[0]);
    _mm256_storeu_ps(s + 8, sum[1]);
    for (int c = 0; c < nc; c++)
        for (int r = 0; r < nr; r++)
            out[(size_t)c * out_stride + (size_t)r] = s[c * nr + r];
}

#endif
