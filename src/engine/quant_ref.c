/* quant_ref: the block formats, readable and scalar (see quant.h for the API).
 *
 * Every format stores a row as consecutive blocks; a block is self-contained. Multi-byte fields
 * are little-endian; "f16" is IEEE binary16, "bf16" bfloat16. The layouts are GGML's, byte for
 * byte, so GGUF files from llama.cpp load unchanged. The block structs below read the f16/f32/i16
 * fields in place, so like the GGUF reader this assumes a little-endian host, and block pointers
 * must be aligned to 2 bytes (4 for q8_K), as GGUF's 32-byte aligned tensor data is.
 *
 * Plain types (block = 1 element)
 *   f32   4 bytes    f16   2 bytes    bf16  2 bytes (upper half of an f32)
 *
 * 32-element blocks. value(i) uses the quant q(i) of element i (0..31):
 *   type  bytes  offset  field                        value
 *   q4_0  18     0       f16 d                        (q - 8) * d,          q in 0..15
 *                2       u8 qs[16]: qs[j] low nibble = q(j), high nibble = q(j + 16)
 *   q4_1  20     0       f16 d, 2 f16 m               q * d + m,            q in 0..15
 *                4       u8 qs[16] as q4_0
 *   q5_0  22     0       f16 d                        (q - 16) * d,         q in 0..31
 *                2       u32 qh: bit i = bit 4 of q(i)
 *                6       u8 qs[16]: low 4 bits of q, packed as q4_0
 *   q5_1  24     0       f16 d, 2 f16 m               q * d + m,            q in 0..31
 *                4       u32 qh, 8 u8 qs[16] as q5_0
 *   q8_0  34     0       f16 d                        q * d,                q in -127..127
 *                2       i8 qs[32]
 *   q8_1  36     0       f16 d, 2 f16 s = d * sum(q)  q * d   (activations of q4_1/q5_1 dots;
 *                4       i8 qs[32]                              s folds in the weights' min)
 *
 * 256-element super-blocks ("K-quants"), split in sub-blocks of 16 or 32 elements with their
 * own small integer scale (and min); the super-block holds the f16 scale of those scales.
 * e is the element index 0..255, j its sub-block.
 *   type  bytes  offset  field
 *   q2_K  84     0       u8 scales[16]: low nibble = scale code sc(j), high nibble = min code
 *                                       m(j), j = e / 16
 *                16      u8 qs[64]: q(e) in bits 2*((e % 128) / 32) of qs[32 * (e / 128) + e % 32]
 *                80      f16 d, 82 f16 dmin
 *                        value = d * sc(j) * q - dmin * m(j),            q in 0..3
 *   q3_K  110    0       u8 hmask[32]: bit e / 32 of hmask[e % 32] is bit 2 of q(e)
 *                32      u8 qs[64]: low 2 bits of q(e), packed as q2_K
 *                96      u8 scales[12]: 16 6-bit codes c(j), j = e / 16: bits 0-3 of c(j) are
 *                                       the low (j < 8) or high (j >= 8) nibble of scales[j % 8],
 *                                       bits 4-5 are bits 2*(j / 4) of scales[8 + j % 4]
 *                108     f16 d
 *                        value = d * (c(j) - 32) * (q - 4),              q in 0..7
 *   q4_K  144    0       f16 d, 2 f16 dmin
 *                4       u8 scales[12]: 8 pairs of 6-bit codes (sc(j), m(j)), j = e / 32:
 *                                       j < 4:  sc = s[j] & 63,  m = s[j + 4] & 63
 *                                       j >= 4: sc = (s[j + 4] & 15) | (s[j - 4] >> 6) << 4
 *                                               m  = (s[j + 4] >> 4) | (s[j] >> 6) << 4
 *                16      u8 qs[128]: q(e) is nibble (e % 64) / 32 of qs[32 * (e / 64) + e % 32]
 *                        value = d * sc(j) * q - dmin * m(j),            q in 0..15
 *   q5_K  176    0       f16 d, 2 f16 dmin, 4 u8 scales[12] as q4_K
 *                16      u8 qh[32]: bit e / 32 of qh[e % 32] is bit 4 of q(e)
 *                48      u8 qs[128]: low 4 bits of q(e), packed as q4_K
 *                        value = d * sc(j) * q - dmin * m(j),            q in 0..31
 *   q6_K  210    0       u8 ql[128]: low 4 bits of q(e): with h = e / 128, r = e % 128,
 *                                    nibble r / 64 of ql[64 * h + r % 64]
 *                128     u8 qh[64]:  high 2 bits of q(e): bits 2 * (r / 32) of qh[32 * h + e % 32]
 *                192     i8 scales[16]: sc(j), j = e / 16
 *                208     f16 d
 *                        value = d * sc(j) * (q - 32),                   q in 0..63
 *   q8_K  292    0       f32 d (not f16)                                 (activations of the
 *                4       i8 qs[256]         value = d * q                 K-quant dots)
 *                260     i16 bsums[16]: sum of qs over each group of 16 (lets a dot fold a
 *                                       weight min in without touching the quants)
 *
 * Quantizers. The 32-element formats use the one closed-form rule each that defines them (llama.cpp
 * writes the same bytes). The K-quants search: each sub-block gets a weighted least-squares fit of
 * its scale (and min) over a grid of candidate step sizes, refined by alternating "round the
 * quants / refit the scale"; then the sub-block scales are coded with the super-block scale and
 * every code is nudged by one where that lowers the sub-block's error under the final f16 scale.
 * The fit weights, rms + |x|, favour large-magnitude elements, in the spirit of llama.cpp's.
 *
 * Reading. Every block format reads out into one form, struct unpacked: integer quants with the
 * format's offset removed, an integer scale code sc and min code m per sub-block, and two floats
 * d and dmin, so that value = (d * sc) * q - (dmin * m). (A format without a min has m = 0 and
 * dmin = 0, and subtracting +0 leaves every value, -0 included, as it was; q4_1/q5_1 store +m,
 * read as dmin = -m, m = 1.) One dequantizer and one dot product then serve every format, with
 * exactly ggml's float operations.
 *
 * Dot products follow llama.cpp's CPU arithmetic: integer sums of quant products per sub-block,
 * weighted by the integer scale codes, scaled in float once per block, accumulated in float; the
 * weight mins enter through q8_1's stored s (q4_1, q5_1) or q8_K's bsums (K-quants). f32/f16/bf16
 * rows multiply in float and accumulate in double as ggml's scalar path does.
 */
#include "engine/quant.h"
#include "engine/quant_blocks.h"

#include <assert.h>
#include <math.h>
#include <stdbool.h>
#include <string.h>

/* ---- block structs (their sizes, asserted below, are dtype.c's block_bytes) ---- */

/* The block structs are in quant_blocks.h, shared with the SIMD kernels. */

/* A sub-block whose largest magnitude is below this is stored as zeros. */
#define TINY_GROUP 1e-15f

static inline float h2f(uint16_t h) { return fp16_to_fp32(h); }
static inline uint16_t f2h(float f) { return fp32_to_fp16(f); }

/* Nearest integer, ties to even, for |v| < 2^22: adding 1.5 * 2^23 leaves no fraction bits in
 * the mantissa, so the FPU's own rounding does the work and the integer lands in the low bits. */
static inline int nearest_int(float v)
{
    float t = v + 12582912.0f;
    int32_t i;
    memcpy(&i, &t, sizeof i);
    return (i & 0x007fffff) - 0x00400000;
}

static inline int clamp_int(int v, int lo, int hi) { return v < lo ? lo : v > hi ? hi : v; }

/* Index of the element with the largest magnitude (the first one on ties). */
static int argmax_abs(const float *x, int n)
{
    int best = 0;
    float amax = fabsf(x[0]);
    for (int i = 1; i < n; i++)
        if (fabsf(x[i]) > amax) {
            amax = fabsf(x[i]);
            best = i;
        }
    return best;
}

/* ======================================================================================
 * reading blocks
 * ====================================================================================== */

/* One block read out: value(i) = (d * sc[j]) * q[i] - (dmin * m[j]), j = i / sub. */
struct unpacked {
    int n, sub;              /* elements (32 or 256), elements per sub-block */
    int8_t q[QK_K];          /* quants, the format's offset removed */
    int sc[16], m[16];       /* scale and min code of each sub-block */
    float d, dmin;
    int16_t qsum16[16];      /* activations: sum of q over each group of 16 (q8_K stores them) */
    float s;                 /* q8_1: the stored d * sum(q), in f16 precision */
};

/* A 32-element block: one sub-block with scale code 1 and, if it has one, min code 1. */
static void read_32(struct unpacked *u, float d, bool has_min, float m)
{
    u->n = u->sub = 32;
    u->sc[0] = 1;
    u->m[0] = has_min;
    u->d = d;
    u->dmin = has_min ? -m : 0.0f;
}

static void sum16(struct unpacked *u)
{
    for (int g = 0; g < u->n / 16; g++) {
        int s = 0;
        for (int i = 0; i < 16; i++)
            s += u->q[16 * g + i];
        u->qsum16[g] = (int16_t)s;
    }
}

static void read_q4_0(const void *row, int64_t b, struct unpacked *u)
{
    const struct blk_q4_0 *x = (const struct blk_q4_0 *)row + b;
    read_32(u, h2f(x->d), false, 0.0f);
    for (int j = 0; j < 16; j++) {
        u->q[j] = (int8_t)((x->qs[j] & 15) - 8);
        u->q[j + 16] = (int8_t)((x->qs[j] >> 4) - 8);
    }
}

static void read_q4_1(const void *row, int64_t b, struct unpacked *u)
{
    const struct blk_q4_1 *x = (const struct blk_q4_1 *)row + b;
    read_32(u, h2f(x->d), true, h2f(x->m));
    for (int j = 0; j < 16; j++) {
        u->q[j] = (int8_t)(x->qs[j] & 15);
        u->q[j + 16] = (int8_t)(x->qs[j] >> 4);
    }
}

/* The five-bit quants of q5_0/q5_1: low nibbles as q4_0, fifth bits in a little-endian u32. */
static void read_q5_quants(const uint8_t qs[16], const uint8_t qh_bytes[4], int offset,
                           int8_t q[32])
{
    const uint32_t qh = (uint32_t)qh_bytes[0] | (uint32_t)qh_bytes[1] << 8 |
                        (uint32_t)qh_bytes[2] << 16 | (uint32_t)qh_bytes[3] << 24;
    for (int j = 0; j < 16; j++) {
        q[j] = (int8_t)(((qs[j] & 15) | (int)(qh >> j & 1) << 4) - offset);
        q[j + 16] = (int8_t)(((qs[j] >> 4) | (int)(qh >> (j + 16) & 1) << 4) - offset);
    }
}

static void read_q5_0(const void *row, int64_t b, struct unpacked *u)
{
    const struct blk_q5_0 *x = (const struct blk_q5_0 *)row + b;
    read_32(u, h2f(x->d), false, 0.0f);
    read_q5_quants(x->qs, x->qh, 16, u->q);
}

static void read_q5_1(const void *row, int64_t b, struct unpacked *u)
{
    const struct blk_q5_1 *x = (const struct blk_q5_1 *)row + b;
    read_32(u, h2f(x->d), true, h2f(x->m));
    read_q5_quants(x->qs, x->qh, 0, u->q);
}

static void read_q8_0(const void *row, int64_t b, struct unpacked *u)
{
    const struct blk_q8_0 *x = (const struct blk_q8_0 *)row + b;
    read_32(u, h2f(x->d), false, 0.0f);
    memcpy(u->q, x->qs, 32);
    sum16(u);
}

static void read_q8_1(const void *row, int64_t b, struct unpacked *u)
{
    const struct blk_q8_1 *x = (const struct blk_q8_1 *)row + b;
    read_32(u, h2f(x->d), false, 0.0f);
    memcpy(u->q, x->qs, 32);
    sum16(u);
    u->s = h2f(x->s);
}

/* Byte and shift of element e in the 2-bit planes of q2_K / q3_K. */
static inline int plane2_byte(int e) { return 32 * (e / 128) + e % 32; }
static inline int plane2_shift(int e) { return 2 * ((e % 128) / 32); }

static void read_q2_K(const void *row, int64_t b, struct unpacked *u)
{
    const struct blk_q2_K *x = (const struct blk_q2_K *)row + b;
    u->n = QK_K;
    u->sub = 16;
    u->d = h2f(x->d);
    u->dmin = h2f(x->dmin);
    for (int j = 0; j < 16; j++) {
        u->sc[j] = x->scales[j] & 15;
        u->m[j] = x->scales[j] >> 4;
    }
    for (int e = 0; e < QK_K; e++)
        u->q[e] = (int8_t)((x->qs[plane2_byte(e)] >> plane2_shift(e)) & 3);
}

static void q3k_get_codes(const uint8_t s[12], int c[16])
{
    for (int j = 0; j < 16; j++) {
        int low = j < 8 ? s[j] & 15 : s[j - 8] >> 4;
        int high = (s[8 + j % 4] >> (2 * (j / 4))) & 3;
        c[j] = low | high << 4;
    }
}

static void q3k_set_codes(uint8_t s[12], const int c[16])
{
    memset(s, 0, 12);
    for (int j = 0; j < 16; j++) {
        s[j % 8] |= (uint8_t)((c[j] & 15) << (j < 8 ? 0 : 4));
        s[8 + j % 4] |= (uint8_t)((c[j] >> 4) << (2 * (j / 4)));
    }
}

static void read_q3_K(const void *row, int64_t b, struct unpacked *u)
{
    const struct blk_q3_K *x = (const struct blk_q3_K *)row + b;
    u->n = QK_K;
    u->sub = 16;
    u->d = h2f(x->d);
    u->dmin = 0.0f;
    q3k_get_codes(x->scales, u->sc);
    for (int j = 0; j < 16; j++) {
        u->sc[j] -= 32;
        u->m[j] = 0;
    }
    for (int e = 0; e < QK_K; e++) {
        int low = (x->qs[plane2_byte(e)] >> plane2_shift(e)) & 3;
        int high = (x->hmask[e % 32] >> (e / 32)) & 1;
        u->q[e] = (int8_t)((low | high << 2) - 4);
    }
}

static void k4_get_scale_min(const uint8_t s[12], int j, int *sc, int *m)
{
    if (j < 4) {
        *sc = s[j] & 63;
        *m = s[j + 4] & 63;
    } else {
        *sc = (s[j + 4] & 15) | (s[j - 4] >> 6) << 4;
        *m = (s[j + 4] >> 4) | (s[j] >> 6) << 4;
    }
}

static void k4_set_scale_min(uint8_t s[12], const int sc[8], const int m[8])
{
    memset(s, 0, 12);
    for (int j = 0; j < 8; j++) {
        if (j < 4) {
            s[j] |= (uint8_t)sc[j];
            s[j + 4] |= (uint8_t)m[j];
        } else {
            s[j + 4] = (uint8_t)((sc[j] & 15) | (m[j] & 15) << 4);
            s[j - 4] |= (uint8_t)((sc[j] >> 4) << 6);
            s[j] |= (uint8_t)((m[j] >> 4) << 6);
        }
    }
}

/* The common part of q4_K and q5_K: header, codes and the low four bits of the quants. */
static void read_k4(uint16_t d, uint16_t dmin, const uint8_t scales[12], const uint8_t qs[128],
                    struct unpacked *u)
{
    u->n = QK_K;
    u->sub = 32;
    u->d = h2f(d);
    u->dmin = h2f(dmin);
    for (int j = 0; j < 8; j++)
        k4_get_scale_min(scales, j, &u->sc[j], &u->m[j]);
    for (int e = 0; e < QK_K; e += 64)
        for (int l = 0; l < 32; l++) {
            u->q[e + l] = (int8_t)(qs[e / 2 + l] & 15);
            u->q[e + 32 + l] = (int8_t)(qs[e / 2 + l] >> 4);
        }
}

static void read_q4_K(const void *row, int64_t b, struct unpacked *u)
{
    const struct blk_q4_K *x = (const struct blk_q4_K *)row + b;
    read_k4(x->d, x->dmin, x->scales, x->qs, u);
}

static void read_q5_K(const void *row, int64_t b, struct unpacked *u)
{
    const struct blk_q5_K *x = (const struct blk_q5_K *)row + b;
    read_k4(x->d, x->dmin, x->scales, x->qs, u);
    for (int e = 0; e < QK_K; e++)
        u->q[e] = (int8_t)(u->q[e] | ((x->qh[e % 32] >> (e / 32)) & 1) << 4);
}

static inline int q6_ql_byte(int e) { return 64 * (e / 128) + (e % 128) % 64; }
static inline int q6_ql_shift(int e) { return 4 * ((e % 128) / 64); }
static inline int q6_qh_byte(int e) { return 32 * (e / 128) + e % 32; }
static inline int q6_qh_shift(int e) { return 2 * ((e % 128) / 32); }

static void read_q6_K(const void *row, int64_t b, struct unpacked *u)
{
    const struct blk_q6_K *x = (const struct blk_q6_K *)row + b;
    u->n = QK_K;
    u->sub = 16;
    u->d = h2f(x->d);
    u->dmin = 0.0f;
    for (int j = 0; j < 16; j++) {
        u->sc[j] = x->scales[j];
        u->m[j] = 0;
    }
    for (int e = 0; e < QK_K; e++) {
        int low = (x->ql[q6_ql_byte(e)] >> q6_ql_shift(e)) & 15;
        int high = (x->qh[q6_qh_byte(e)] >> q6_qh_shift(e)) & 3;
        u->q[e] = (int8_t)((low | high << 4) - 32);
    }
}

static void read_q8_K(const void *row, int64_t b, struct unpacked *u)
{
    const struct blk_q8_K *x = (const struct blk_q8_K *)row + b;
    u->n = u->sub = QK_K;
    u->sc[0] = 1;
    u->m[0] = 0;
    u->d = x->d;
    u->dmin = 0.0f;
    memcpy(u->q, x->qs, QK_K);
    memcpy(u->qsum16, x->bsums, sizeof u->qsum16);
}

/* ======================================================================================
 * quantizing the 32-element formats: each has one defining rule
 * ====================================================================================== */

/* q4_0 / q5_0 (half = 8 / 16): the element of largest magnitude maps to the most negative level
 * -half, so the extra level on the negative side is never wasted; the rest round half up.
 * Returns d; q[i] in 0..2*half-1. */
static float quant_sym32(const float *x, int half, int q[32])
{
    const float max = x[argmax_abs(x, 32)];
    const float d = max / -(float)half;
    const float id = d != 0.0f ? 1.0f / d : 0.0f;
    for (int j = 0; j < 32; j++)
        q[j] = clamp_int((int)(x[j] * id + ((float)half + 0.5f)), 0, 2 * half - 1);
    return d;
}

/* q4_1 and q5_1 span [min, max] with 2^bits levels, rounding half up. */
static void block_min_max(const float *x, int n, float *min, float *max)
{
    *min = x[0];
    *max = x[0];
    for (int i = 1; i < n; i++) {
        if (x[i] < *min)
            *min = x[i];
        if (x[i] > *max)
            *max = x[i];
    }
}

/* q4_1 / q5_1 (nmax = 15 / 31): nmax + 1 levels span [min, max], rounding half up. Returns d. */
static float quant_asym32(const float *x, int nmax, int q[32], float *min_out)
{
    float min, max;
    block_min_max(x, 32, &min, &max);
    const float d = (max - min) / (float)nmax;
    const float id = d != 0.0f ? 1.0f / d : 0.0f;
    for (int j = 0; j < 32; j++)
        q[j] = clamp_int((int)((x[j] - min) * id + 0.5f), 0, nmax);
    *min_out = min;
    return d;
}

static void pack_q4(const int q[32], uint8_t qs[16])
{
    for (int j = 0; j < 16; j++)
        qs[j] = (uint8_t)(q[j] | q[j + 16] << 4);
}

/* Packs 32 five-bit quants into the q5 nibbles and the u32 of fifth bits. */
static void pack_q5(const int q[32], uint8_t qs[16], uint8_t qh_bytes[4])
{
    uint32_t qh = 0;
    for (int j = 0; j < 16; j++) {
        qs[j] = (uint8_t)((q[j] & 15) | (q[j + 16] & 15) << 4);
        qh |= (uint32_t)(q[j] >> 4 & 1) << j;
        qh |= (uint32_t)(q[j + 16] >> 4 & 1) << (j + 16);
    }
    for (int k = 0; k < 4; k++)
        qh_bytes[k] = (uint8_t)(qh >> (8 * k));
}

static void quantize_q4_0(const float *x, void *vy, int64_t nb)
{
    struct blk_q4_0 *y = vy;
    for (int64_t b = 0; b < nb; b++, x += 32) {
        int q[32];
        y[b].d = f2h(quant_sym32(x, 8, q));
        pack_q4(q, y[b].qs);
    }
}

static void quantize_q5_0(const float *x, void *vy, int64_t nb)
{
    struct blk_q5_0 *y = vy;
    for (int64_t b = 0; b < nb; b++, x += 32) {
        int q[32];
        y[b].d = f2h(quant_sym32(x, 16, q));
        pack_q5(q, y[b].qs, y[b].qh);
    }
}

static void quantize_q4_1(const float *x, void *vy, int64_t nb)
{
    struct blk_q4_1 *y = vy;
    for (int64_t b = 0; b < nb; b++, x += 32) {
        int q[32];
        float min;
        y[b].d = f2h(quant_asym32(x, 15, q, &min));
        y[b].m = f2h(min);
        pack_q4(q, y[b].qs);
    }
}

static void quantize_q5_1(const float *x, void *vy, int64_t nb)
{
    struct blk_q5_1 *y = vy;
    for (int64_t b = 0; b < nb; b++, x += 32) {
        int q[32];
        float min;
        y[b].d = f2h(quant_asym32(x, 31, q, &min));
        y[b].m = f2h(min);
        pack_q5(q, y[b].qs, y[b].qh);
    }
}

/* q8_0 / q8_1: symmetric, d = amax / 127, round half away from zero. (llama.cpp's AVX2
 * activation path computes 127 / amax and rounds ties to even; the two can differ by one in a
 * quant only when x / d lands exactly on a half, which random activations practically never do.) */
static float quantize_8bit_block(const float *x, int8_t qs[32], int *sum)
{
    float amax = 0.0f;
    for (int j = 0; j < 32; j++)
        amax = fmaxf(amax, fabsf(x[j]));
    const float d = amax / 127.0f;
    const float id = d != 0.0f ? 1.0f / d : 0.0f;
    int s = 0;
    for (int j = 0; j < 32; j++) {
        qs[j] = (int8_t)roundf(x[j] * id);
        s += qs[j];
    }
    *sum = s;
    return d;
}

static void quantize_q8_0(const float *x, void *vy, int64_t nb)
{
    struct blk_q8_0 *y = vy;
    for (int64_t b = 0; b < nb; b++, x += 32) {
        int sum;
        y[b].d = f2h(quantize_8bit_block(x, y[b].qs, &sum));
    }
}

static void quantize_q8_1(const float *x, void *vy, int64_t nb)
{
    struct blk_q8_1 *y = vy;
    for (int64_t b = 0; b < nb; b++, x += 32) {
        int sum;
        const float d = quantize_8bit_block(x, y[b].qs, &sum);
        y[b].d = f2h(d);
        y[b].s = f2h((float)sum * d);
    }
}

/* ======================================================================================
 * K-quants: scale fitting
 * ====================================================================================== */

/* Fits x[i] ~ scale * L[i] - min, L[i] in 0..nmax, scale >= 0, min >= 0 (the formats store the
 * offset as a subtracted, non-negative min, so the range always reaches down to zero or below),
 * minimizing E = sum w[i] (scale L[i] - min - x[i])^2. Returns scale, stores min.
 *
 * For a given L the best (scale, min) is a 2x2 weighted least-squares solve; for a given
 * (scale, min) the best L is rounding. So: try n_grid + 1 step sizes spanning [lo, hi] with
 * nmax + grid_lo ... nmax + grid_lo + n_grid * grid_step levels, solve each, keep the best, then
 * alternate round/solve from there until E stops falling. */
struct asym_grid {
    float grid_lo, grid_step;
    int n_grid;
};

/* Weighted error of x ~ scale * L - min. */
static float asym_error(int n, const float *x, const float *w, const uint8_t *L, float scale,
                        float min)
{
    float e = 0.0f;
    for (int i = 0; i < n; i++) {
        float diff = scale * (float)L[i] - min - x[i];
        e += w[i] * diff * diff;
    }
    return e;
}

/* Least-squares (scale, min) for fixed L; false if L is constant (no slope to fit). */
static bool asym_solve(int n, const float *x, const float *w, const uint8_t *L, float sw,
                       float swx, float *scale, float *min)
{
    float swl = 0.0f, swl2 = 0.0f, swxl = 0.0f;
    for (int i = 0; i < n; i++) {
        float l = (float)L[i];
        swl += w[i] * l;
        swl2 += w[i] * l * l;
        swxl += w[i] * l * x[i];
    }
    float det = sw * swl2 - swl * swl;
    if (!(det > 0.0f))
        return false;
    float s = (sw * swxl - swx * swl) / det;
    float offset = (swl2 * swx - swl * swxl) / det;
    if (offset > 0.0f) { /* the format cannot add: pin the offset at zero, refit the slope */
        offset = 0.0f;
        s = swxl / swl2;
    }
    if (!(s > 0.0f))
        return false;
    *scale = s;
    *min = -offset;
    return true;
}

static void asym_round(int n, int nmax, const float *x, float iscale, float min, uint8_t *L)
{
    for (int i = 0; i < n; i++)
        L[i] = (uint8_t)clamp_int(nearest_int(iscale * (x[i] + min)), 0, nmax);
}

static float fit_scale_min(int n, int nmax, const float *x, const float *w, uint8_t *L,
                           float *min_out, const struct asym_grid *g)
{
    float lo = x[0], hi = x[0], sw = 0.0f, swx = 0.0f;
    for (int i = 0; i < n; i++) {
        lo = fminf(lo, x[i]);
        hi = fmaxf(hi, x[i]);
        sw += w[i];
        swx += w[i] * x[i];
    }
    if (lo > 0.0f)
        lo = 0.0f;
    if (!(hi > lo)) { /* constant sub-block at or below zero: all of it is the min */
        memset(L, 0, (size_t)n);
        *min_out = -lo;
        return 0.0f;
    }
    /* the plain min-max fit is the candidate to beat */
    float best_scale = (hi - lo) / (float)nmax, best_min = -lo;
    asym_round(n, nmax, x, 1.0f / best_scale, best_min, L);
    float best_err = asym_error(n, x, w, L, best_scale, best_min);

    uint8_t cand[QK_K];
    for (int k = 0; k <= g->n_grid; k++) {
        float iscale = ((float)nmax + g->grid_lo + g->grid_step * (float)k) / (hi - lo);
        asym_round(n, nmax, x, iscale, -lo, cand);
        float s, m;
        if (!asym_solve(n, x, w, cand, sw, swx, &s, &m))
            continue;
        float e = asym_error(n, x, w, cand, s, m);
        if (e < best_err) {
            best_err = e;
            best_scale = s;
            best_min = m;
            memcpy(L, cand, (size_t)n);
        }
    }
    for (int it = 0; it < 4; it++) {
        asym_round(n, nmax, x, 1.0f / best_scale, best_min, cand);
        float s, m;
        if (!asym_solve(n, x, w, cand, sw, swx, &s, &m))
            break;
        float e = asym_error(n, x, w, cand, s, m);
        if (!(e < best_err))
            break;
        best_err = e;
        best_scale = s;
        best_min = m;
        memcpy(L, cand, (size_t)n);
    }
    *min_out = best_min;
    return best_scale;
}

/* Fits x[i] ~ scale * L[i], L[i] in -nmax..nmax-1, maximizing the weighted error reduction
 * (sum w x L)^2 / (sum w L^2) (equivalently minimizing sum w (scale L - x)^2 with the best
 * scale for that L). The element of largest magnitude goes to the -nmax side, which has the
 * extra level, so the returned scale has the opposite sign to it. Grid of 19 step sizes
 * nmax - 0.9 .. nmax + 0.9, then alternate round/refit. L is stored biased by +nmax. */
static float sym_score(int n, int nmax, const float *x, const float *w, float iscale, int8_t *L,
                       float *sumlx_out, float *suml2_out)
{
    float sumlx = 0.0f, suml2 = 0.0f;
    for (int i = 0; i < n; i++) {
        int l = clamp_int(nearest_int(iscale * x[i]), -nmax, nmax - 1);
        L[i] = (int8_t)l;
        sumlx += w[i] * x[i] * (float)l;
        suml2 += w[i] * (float)(l * l);
    }
    *sumlx_out = sumlx;
    *suml2_out = suml2;
    return suml2 > 0.0f ? sumlx * sumlx / suml2 : 0.0f;
}

static float fit_scale_sym(int n, int nmax, const float *x, const float *w, int8_t *L)
{
    const float xmax = x[argmax_abs(x, n)];
    if (fabsf(xmax) < TINY_GROUP) {
        memset(L, 0, (size_t)n);
        return 0.0f;
    }
    int8_t cand[QK_K];
    float best = -1.0f, scale = 0.0f;
    for (int k = -9; k <= 9; k++) {
        float sumlx, suml2;
        float score = sym_score(n, nmax, x, w, -((float)nmax + 0.1f * (float)k) / xmax, cand,
                                &sumlx, &suml2);
        if (suml2 > 0.0f && score > best) {
            best = score;
            scale = sumlx / suml2;
            memcpy(L, cand, (size_t)n);
        }
    }
    for (int it = 0; it < 4 && scale != 0.0f; it++) {
        float sumlx, suml2;
        float score = sym_score(n, nmax, x, w, 1.0f / scale, cand, &sumlx, &suml2);
        if (!(suml2 > 0.0f && score > best))
            break;
        best = score;
        scale = sumlx / suml2;
        memcpy(L, cand, (size_t)n);
    }
    for (int i = 0; i < n; i++)
        L[i] = (int8_t)(L[i] + nmax);
    return scale;
}

/* Importance weights of a sub-block: |x| plus the super-block's rms, so large elements count
 * more without small ones counting for nothing. */
static void importance(const float *x, int n, float rms, float *w)
{
    for (int i = 0; i < n; i++)
        w[i] = rms + fabsf(x[i]);
}

static float rms_of(const float *x, int n)
{
    float s = 0.0f;
    for (int i = 0; i < n; i++)
        s += x[i] * x[i];
    return sqrtf(s / (float)n);
}

/* Super-block coding of the (scale, min) pairs of the q2_K/q4_K/q5_K sub-blocks with n_code
 * levels each: d = max scale / n_code, dmin = max min / n_code; each code rounds, then tries its
 * neighbours (+-1 on scale and min) against the sub-block's true error once d and dmin are
 * f16. L receives the final quants for the chosen codes. */
struct scale_min_codes {
    int sc[QK_K / 16], m[QK_K / 16];
    uint16_t d, dmin;
};

static float requant_asym(int n, int nmax, const float *x, const float *w, float scale,
                          float min, uint8_t *L)
{
    if (scale > 0.0f)
        asym_round(n, nmax, x, 1.0f / scale, min, L);
    else
        memset(L, 0, (size_t)n);
    return asym_error(n, x, w, L, scale, min);
}

static void code_scale_min(int n_sub, int sub, int nmax, int max_code, const float *x,
                           const float *w, const float *scales, const float *mins,
                           struct scale_min_codes *c, uint8_t *L)
{
    float max_scale = 0.0f, max_min = 0.0f;
    for (int j = 0; j < n_sub; j++) {
        max_scale = fmaxf(max_scale, scales[j]);
        max_min = fmaxf(max_min, mins[j]);
    }
    const float inv_scale = max_scale > 0.0f ? (float)max_code / max_scale : 0.0f;
    const float inv_min = max_min > 0.0f ? (float)max_code / max_min : 0.0f;
    c->d = f2h(max_scale / (float)max_code);
    c->dmin = f2h(max_min / (float)max_code);
    const float d = h2f(c->d), dmin = h2f(c->dmin);
    uint8_t cand[32];
    for (int j = 0; j < n_sub; j++) {
        const float *xj = x + j * sub, *wj = w + j * sub;
        int sc0 = clamp_int(nearest_int(inv_scale * scales[j]), 0, max_code);
        int m0 = clamp_int(nearest_int(inv_min * mins[j]), 0, max_code);
        float best = INFINITY;
        for (int ds = -1; ds <= 1; ds++)
            for (int dm = -1; dm <= 1; dm++) {
                int sc = sc0 + ds, m = m0 + dm;
                if (sc < 0 || sc > max_code || m < 0 || m > max_code)
                    continue;
                float e = requant_asym(sub, nmax, xj, wj, d * (float)sc, dmin * (float)m, cand);
                if (e < best) {
                    best = e;
                    c->sc[j] = sc;
                    c->m[j] = m;
                    memcpy(L + j * sub, cand, (size_t)sub);
                }
            }
    }
}

static const struct asym_grid g_grid_q4k = {-1.0f, 0.1f, 20};
static const struct asym_grid g_grid_q5k = {-0.5f, 0.1f, 15};
static const struct asym_grid g_grid_q2k = {-0.5f, 0.1f, 15};

/* Fits the 8 sub-blocks of 32 of one super-block and codes their scales/mins (q4_K, q5_K). */
static void fit_k4_superblock(const float *x, int nmax, const struct asym_grid *g,
                              struct scale_min_codes *c, uint8_t L[QK_K])
{
    float w[QK_K], scales[8], mins[8];
    importance(x, QK_K, rms_of(x, QK_K), w);
    for (int j = 0; j < 8; j++)
        scales[j] = fit_scale_min(32, nmax, x + 32 * j, w + 32 * j, L + 32 * j, &mins[j], g);
    code_scale_min(8, 32, nmax, 63, x, w, scales, mins, c, L);
}

/* The common part of q4_K and q5_K, the mirror of read_k4: header, codes and the low four bits
 * of the quants. */
static void write_k4(const struct scale_min_codes *c, const uint8_t L[QK_K], uint16_t *d,
                     uint16_t *dmin, uint8_t scales[12], uint8_t qs[128])
{
    *d = c->d;
    *dmin = c->dmin;
    k4_set_scale_min(scales, c->sc, c->m);
    for (int e = 0; e < QK_K; e += 64)
        for (int l = 0; l < 32; l++)
            qs[e / 2 + l] = (uint8_t)((L[e + l] & 15) | (L[e + 32 + l] & 15) << 4);
}

static void quantize_q4_K(const float *x, void *vy, int64_t nb)
{
    struct blk_q4_K *y = vy;
    for (int64_t b = 0; b < nb; b++, x += QK_K) {
        struct scale_min_codes c;
        uint8_t L[QK_K];
        fit_k4_superblock(x, 15, &g_grid_q4k, &c, L);
        write_k4(&c, L, &y[b].d, &y[b].dmin, y[b].scales, y[b].qs);
    }
}

static void quantize_q5_K(const float *x, void *vy, int64_t nb)
{
    struct blk_q5_K *y = vy;
    for (int64_t b = 0; b < nb; b++, x += QK_K) {
        struct scale_min_codes c;
        uint8_t L[QK_K];
        fit_k4_superblock(x, 31, &g_grid_q5k, &c, L);
        write_k4(&c, L, &y[b].d, &y[b].dmin, y[b].scales, y[b].qs);
        memset(y[b].qh, 0, sizeof y[b].qh);
        for (int e = 0; e < QK_K; e++)
            y[b].qh[e % 32] |= (uint8_t)((L[e] >> 4) << (e / 32));
    }
}

static void quantize_q2_K(const float *x, void *vy, int64_t nb)
{
    struct blk_q2_K *y = vy;
    for (int64_t b = 0; b < nb; b++, x += QK_K) {
        float w[QK_K], scales[16], mins[16];
        uint8_t L[QK_K];
        importance(x, QK_K, rms_of(x, QK_K), w);
        for (int j = 0; j < 16; j++)
            scales[j] = fit_scale_min(16, 3, x + 16 * j, w + 16 * j, L + 16 * j, &mins[j],
                                      &g_grid_q2k);
        struct scale_min_codes c;
        code_scale_min(16, 16, 3, 15, x, w, scales, mins, &c, L);
        y[b].d = c.d;
        y[b].dmin = c.dmin;
        for (int j = 0; j < 16; j++)
            y[b].scales[j] = (uint8_t)(c.sc[j] | c.m[j] << 4);
        memset(y[b].qs, 0, sizeof y[b].qs);
        for (int e = 0; e < QK_K; e++)
            y[b].qs[plane2_byte(e)] |= (uint8_t)(L[e] << plane2_shift(e));
    }
}

/* Symmetric super-block coding (q3_K, q6_K): d = (scale of largest magnitude) / -half_codes so
 * that scale goes to the extra negative code; codes round, then (if refine) try +-1 against the
 * sub-block's error under the f16 d. L receives final quants biased by +nmax. */
static float requant_sym(int n, int nmax, const float *x, const float *w, float scale, uint8_t *L)
{
    float e = 0.0f;
    for (int i = 0; i < n; i++) {
        int l = scale != 0.0f ? clamp_int(nearest_int(x[i] / scale), -nmax, nmax - 1) : 0;
        L[i] = (uint8_t)(l + nmax);
        float diff = scale * (float)l - x[i];
        e += w[i] * diff * diff;
    }
    return e;
}

static bool code_scales_sym(int n_sub, int sub, int nmax, int half_codes, bool refine,
                            const float *x, const float *w, const float *scales, int *codes,
                            uint16_t *d_out, uint8_t *L)
{
    const float smax = scales[argmax_abs(scales, n_sub)];
    if (fabsf(smax) < TINY_GROUP)
        return false;
    const float iscale = -(float)half_codes / smax;
    *d_out = f2h(1.0f / iscale);
    const float d = h2f(*d_out);
    uint8_t cand[32];
    for (int j = 0; j < n_sub; j++) {
        int c0 = clamp_int(nearest_int(iscale * scales[j]), -half_codes, half_codes - 1);
        float best = INFINITY;
        for (int dc = refine ? -1 : 0; dc <= (refine ? 1 : 0); dc++) {
            int c = c0 + dc;
            if (c < -half_codes || c > half_codes - 1)
                continue;
            float e = requant_sym(sub, nmax, x + sub * j, w + sub * j, d * (float)c, cand);
            if (e < best) {
                best = e;
                codes[j] = c;
                memcpy(L + sub * j, cand, (size_t)sub);
            }
        }
    }
    return true;
}

/* Fits the 16 sub-blocks of 16 of one symmetric super-block (q3_K: nmax 4 and 6-bit codes;
 * q6_K: nmax 32 and 8-bit codes) and codes their scales. False for an all-zero block. */
static bool fit_sym_superblock(const float *x, int nmax, int half_codes, bool refine,
                               int codes[16], uint16_t *d, uint8_t L[QK_K])
{
    float w[QK_K], scales[16];
    int8_t Ls[QK_K];
    importance(x, QK_K, rms_of(x, QK_K), w);
    for (int j = 0; j < 16; j++)
        scales[j] = fit_scale_sym(16, nmax, x + 16 * j, w + 16 * j, Ls + 16 * j);
    return code_scales_sym(16, 16, nmax, half_codes, refine, x, w, scales, codes, d, L);
}

static void quantize_q3_K(const float *x, void *vy, int64_t nb)
{
    struct blk_q3_K *y = vy;
    for (int64_t b = 0; b < nb; b++, x += QK_K) {
        uint8_t L[QK_K];
        int codes[16];
        memset(&y[b], 0, sizeof y[b]);
        if (!fit_sym_superblock(x, 4, 32, true, codes, &y[b].d, L))
            continue;
        for (int j = 0; j < 16; j++)
            codes[j] += 32;
        q3k_set_codes(y[b].scales, codes);
        for (int e = 0; e < QK_K; e++) {
            y[b].qs[plane2_byte(e)] |= (uint8_t)((L[e] & 3) << plane2_shift(e));
            y[b].hmask[e % 32] |= (uint8_t)((L[e] >> 2) << (e / 32));
        }
    }
}

static void quantize_q6_K(const float *x, void *vy, int64_t nb)
{
    struct blk_q6_K *y = vy;
    for (int64_t b = 0; b < nb; b++, x += QK_K) {
        uint8_t L[QK_K];
        int codes[16];
        memset(&y[b], 0, sizeof y[b]);
        /* 8-bit codes leave little to gain from nudging them: round only */
        if (!fit_sym_superblock(x, 32, 128, false, codes, &y[b].d, L))
            continue;
        for (int j = 0; j < 16; j++)
            y[b].scales[j] = (int8_t)codes[j];
        for (int e = 0; e < QK_K; e++) {
            y[b].ql[q6_ql_byte(e)] |= (uint8_t)((L[e] & 15) << q6_ql_shift(e));
            y[b].qh[q6_qh_byte(e)] |= (uint8_t)((L[e] >> 4) << q6_qh_shift(e));
        }
    }
}

/* ---- q8_K: the K-quants' activations. Exactly llama.cpp's rule, since the engine's logits
 * depend on it: the element of largest magnitude maps to -127, ties round to even. ---- */

static void quantize_q8_K(const float *x, void *vy, int64_t nb)
{
    struct blk_q8_K *y = vy;
    for (int64_t b = 0; b < nb; b++, x += QK_K) {
        const float max = x[argmax_abs(x, QK_K)];
        memset(&y[b], 0, sizeof y[b]);
        if (max == 0.0f)
            continue;
        const float iscale = -127.0f / max;
        for (int e = 0; e < QK_K; e++) {
            int q = nearest_int(iscale * x[e]);
            y[b].qs[e] = (int8_t)(q > 127 ? 127 : q);
            y[b].bsums[e / 16] = (int16_t)(y[b].bsums[e / 16] + y[b].qs[e]);
        }
        y[b].d = 1.0f / iscale;
    }
}

/* ======================================================================================
 * plain types
 * ====================================================================================== */

static inline float plain_value(enum dtype t, const void *x, int64_t i)
{
    switch (t) {
    case DT_F16: return fp16_to_fp32(((const uint16_t *)x)[i]);
    case DT_BF16: return bf16_to_fp32(((const uint16_t *)x)[i]);
    default: return ((const float *)x)[i];
    }
}

static void quantize_f32(const float *x, void *y, int64_t n) { memcpy(y, x, (size_t)n * 4); }

static void quantize_f16(const float *x, void *vy, int64_t n)
{
    uint16_t *y = vy;
    for (int64_t i = 0; i < n; i++)
        y[i] = fp32_to_fp16(x[i]);
}

static void quantize_bf16(const float *x, void *vy, int64_t n)
{
    uint16_t *y = vy;
    for (int64_t i = 0; i < n; i++)
        y[i] = fp32_to_bf16(x[i]);
}

/* ======================================================================================
 * dispatch, dequantization and dot products
 * ====================================================================================== */

struct quant_ops {
    void (*quantize)(const float *x, void *y, int64_t n_blocks); /* plain types: n elements */
    void (*read)(const void *row, int64_t b, struct unpacked *u);  /* NULL for plain types */
    enum dtype dot_type;                                           /* DT_COUNT: no weight dot */
};

static const struct quant_ops g_ops[DT_COUNT] = {
    [DT_F32] = {quantize_f32, NULL, DT_F32},
    [DT_F16] = {quantize_f16, NULL, DT_F16},
    [DT_BF16] = {quantize_bf16, NULL, DT_BF16},
    [DT_Q4_0] = {quantize_q4_0, read_q4_0, DT_Q8_0},
    [DT_Q4_1] = {quantize_q4_1, read_q4_1, DT_Q8_1},
    [DT_Q5_0] = {quantize_q5_0, read_q5_0, DT_Q8_0},
    [DT_Q5_1] = {quantize_q5_1, read_q5_1, DT_Q8_1},
    [DT_Q8_0] = {quantize_q8_0, read_q8_0, DT_Q8_0},
    [DT_Q8_1] = {quantize_q8_1, read_q8_1, DT_COUNT},
    [DT_Q2_K] = {quantize_q2_K, read_q2_K, DT_Q8_K},
    [DT_Q3_K] = {quantize_q3_K, read_q3_K, DT_Q8_K},
    [DT_Q4_K] = {quantize_q4_K, read_q4_K, DT_Q8_K},
    [DT_Q5_K] = {quantize_q5_K, read_q5_K, DT_Q8_K},
    [DT_Q6_K] = {quantize_q6_K, read_q6_K, DT_Q8_K},
    [DT_Q8_K] = {quantize_q8_K, read_q8_K, DT_COUNT},
};

static const struct quant_ops *ops_of(enum dtype t)
{
    if ((unsigned)t >= DT_COUNT || !g_ops[t].quantize)
        return NULL;
    return &g_ops[t];
}

bool quant_has_ref(enum dtype t) { return ops_of(t) != NULL; }

enum dtype quant_vec_dot_type(enum dtype t)
{
    const struct quant_ops *o = ops_of(t);
    return o ? o->dot_type : DT_COUNT;
}

static int64_t n_blocks(enum dtype t, int64_t n)
{
    const struct dtype_info *d = dtype_get((uint32_t)t);
    assert(d && n >= 0 && n % d->block_elems == 0);
    return n / d->block_elems;
}

size_t quant_quantize_row_ref(enum dtype t, const float *x, void *y, int64_t n)
{
    const struct quant_ops *o = ops_of(t);
    assert(o);
    int64_t nb = n_blocks(t, n);
    o->quantize(x, y, nb);
    return (size_t)nb * dtype_get((uint32_t)t)->block_bytes;
}

void quant_dequantize_row_ref(enum dtype t, const void *x, float *y, int64_t n)
{
    const struct quant_ops *o = ops_of(t);
    assert(o);
    const int64_t nb = n_blocks(t, n);
    if (!o->read) {
        for (int64_t i = 0; i < n; i++)
            y[i] = plain_value(t, x, i);
        return;
    }
    struct unpacked u;
    for (int64_t b = 0; b < nb; b++) {
        o->read(x, b, &u);
        for (int j = 0; j < u.n / u.sub; j++) {
            const float dl = u.d * (float)u.sc[j], ml = u.dmin * (float)u.m[j];
            for (int i = j * u.sub; i < (j + 1) * u.sub; i++)
                *y++ = dl * (float)u.q[i] - ml;
        }
    }
}

/* sum_i w_i a_i with w_i = (dw sc_j) qw_i - dmin m_j and a_i = da qa_i:
 *   = dw da * sum_j sc_j (sum_{i in j} qw_i qa_i)  -  dmin da * sum_j m_j (sum_{i in j} qa_i),
 * the inner sums in integers. For q8_1 activations the second term is dmin * s, with the block's
 * stored s = da * sum qa (q4_1 and q5_1 have one sub-block), as ggml computes it. */
float quant_vec_dot_ref(enum dtype t, int64_t n, const void *w, const void *a)
{
    const struct quant_ops *o = ops_of(t);
    assert(o && o->dot_type != DT_COUNT);
    if (!o->read) {
        double sum = 0.0;
        for (int64_t i = 0; i < n; i++)
            sum += (double)(plain_value(t, w, i) * plain_value(t, a, i));
        return (float)sum;
    }
    const struct quant_ops *oa = ops_of(o->dot_type);
    const int64_t nb = n_blocks(t, n);
    struct unpacked uw, ua;
    float sum = 0.0f;
    for (int64_t b = 0; b < nb; b++) {
        o->read(w, b, &uw);
        oa->read(a, b, &ua);
        int isum = 0, isum_min = 0;
        for (int j = 0; j < uw.n / uw.sub; j++) {
            int s = 0;
            for (int i = j * uw.sub; i < (j + 1) * uw.sub; i++)
                s += uw.q[i] * ua.q[i];
            isum += uw.sc[j] * s;
            for (int g = j * uw.sub / 16; g < (j + 1) * uw.sub / 16; g++)
                isum_min += uw.m[j] * ua.qsum16[g];
        }
        const float min_term = o->dot_type == DT_Q8_1 ? uw.dmin * ua.s
                                                      : uw.dmin * ua.d * (float)isum_min;
        sum += uw.d * ua.d * (float)isum - min_term;
    }
    return sum;
}
