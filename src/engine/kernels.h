/* kernels: the per-instruction-set table behind the engine's hot loops.
 *
 * One table per ISA (kernels/ref.c is the scalar reference built on quant_ref.c; SIMD tables
 * come with the performance work), chosen once at run time by kernels_get() from what the CPU
 * supports, or forced with BATON_KERNELS=ref. A SIMD entry may fall back to the reference for
 * types it does not accelerate. Every SIMD kernel is tested against the reference.
 */
#ifndef BATON_ENGINE_KERNELS_H
#define BATON_ENGINE_KERNELS_H

#include "engine/dtype.h"

#include <stdint.h>

struct kernels {
    const char *name; /* "ref", "avx2", "avx512" */
    /* sum over n elements of w[i] * a[i]; w of weight type t, a of quant_vec_dot_type(t) */
    float (*vec_dot)(enum dtype t, int64_t n, const void *w, const void *a);
    /* out[c * out_stride + r] = vec_dot(t, n, w + r * w_row, a + c * a_row) for r < nr, c < nc
     * (nc <= 4, nr * nc <= 16): a tile of rows against tokens, so each weight block loaded
     * serves several tokens (4 x 4), or many rows against one token (16 x 1). Same results as
     * vec_dot, pair by pair. */
    void (*vec_dot_tile)(enum dtype t, int64_t n, const void *w, size_t w_row, int nr,
                         const void *a, size_t a_row, int nc, float *out, size_t out_stride);
    /* converts n floats into the activation type act (F32, F16, BF16, Q8_0, Q8_1 or Q8_K) */
    void (*quantize_act)(enum dtype act, const float *x, void *y, int64_t n);
    /* attention primitives, with ggml's rounding where the f16 value accumulator needs it:
     * y[i] = f16(fma(f32(x[i]), v, f32(y[i])))  (ggml_vec_mad_f16) */
    void (*f16_mad)(int64_t n, uint16_t *y, const uint16_t *x, float v);
    /* y[i] = f16(f32(y[i]) * v)  (ggml_vec_scale_f16) */
    void (*f16_scale)(int64_t n, uint16_t *y, float v);
    /* y[i] = f32(x[i]) */
    void (*f16_to_f32)(int64_t n, float *y, const uint16_t *x);
    /* One query row of decoding attention over f16 keys and values (ggml's one-query flash
     * attention), positions 0 .. n_pos - 1 at k + pos * k_stride and v + pos * v_stride: the
     * score vec_dot(F16, hd, key, q16) * scale, an online softmax whose value accumulator is
     * f16, rounded after every update (f16_scale when the maximum rises, f16_mad with the
     * weight), and out[i] = f32(acc[i]) / sum for i < hdv. Bit for bit what
     * kernels_attn_f16_row_by computes with the same table's vec_dot, f16_scale and f16_mad;
     * hd, hdv <= KERNELS_MAX_HEAD_DIM. */
    void (*attn_f16_row)(int32_t hd, int32_t hdv, int32_t n_pos, const uint16_t *k,
                         size_t k_stride, const uint16_t *v, size_t v_stride, const uint16_t *q16,
                         float scale, float *out);
    /* Attention over f32 keys and values, one query at a time: out[j] = sum_i rows[j * stride
     * + i] x[i] for j < m (scores); y[i] = sum_j w[j] rows[j * stride + i] for i < n (values
     * weighted by probabilities); y[i] = exp(x[i]) (within a few ulp of expf for x >= -87; below,
     * a value under 2e-38; y may be x). */
    void (*f32_dots)(int64_t n, int64_t m, const float *rows, size_t stride, const float *x,
                     float *out);
    void (*f32_combine)(int64_t n, int64_t m, const float *rows, size_t stride, const float *w,
                        float *y);
    void (*f32_exp)(int64_t n, float *y, const float *x);
    /* x[i] = exp(scale x[i] - max_j scale x[j]) for i < n (n >= 1), as f32_exp computes it;
     * returns the sum of the new x[i] (softmax numerators and their denominator) */
    float (*f32_softmax)(int64_t n, float *x, float scale);
    /* Packed weights, for tables that have them (else NULL). Rows are regrouped once, at load,
     * into groups of KERNELS_PACK_ROWS rows whose blocks interleave the rows, so that one SIMD
     * lane holds one row and a dot product needs no horizontal reduction (kernels/avx512.c
     * documents its layouts). pack_bytes is the packed size of a [n_out][n_in] matrix of type t
     * (0: this table does not pack t); pack writes it. packed_tile computes the group at pw
     * (rows 16 g .. 16 g + 15) against nc <= KERNELS_PACK_COLS activation rows a (dot type,
     * a_row bytes apart; asum: per activation row, asum_row ints apart, the sums of each q8_0
     * block's quants, from kernels_q8_0_sums): out[c * 16 + i] is bit-identical to vec_dot of
     * row i and activation c. Rows past n_out come out as 0. */
    size_t (*pack_bytes)(enum dtype t, int64_t n_in, int64_t n_out);
    void (*pack)(enum dtype t, int64_t n_in, int64_t n_out, const void *w, size_t w_row,
                 void *dst);
    void (*packed_tile)(enum dtype t, int64_t n_in, const void *pw, const void *a, size_t a_row,
                        const int32_t *asum, size_t asum_row, int nc, float *out);
};

#define KERNELS_PACK_ROWS 16
#define KERNELS_PACK_COLS 8
#define KERNELS_MAX_HEAD_DIM 1024 /* model.c refuses larger attention heads */

/* x as a float in memory: the compiler may not fuse the operation that produced it into the
 * next one (-ffp-contract turns a * b + c into one fma, rounded once). Kernels that must equal
 * a reference built without FMA keep their products rounded with it. */
static inline float kernels_rounded(float x)
{
#if defined(__GNUC__) && defined(__x86_64__)
    __asm__("" : "+x"(x));
#endif
    return x;
}

/* The sums of the quants of each of the nb q8_0 blocks at a (for packed tiles). */
void kernels_q8_0_sums(const void *a, int64_t nb, int32_t *out);

const struct kernels *kernels_ref(void);
/* attn_f16_row made of table k's vec_dot, f16_scale and f16_mad: the reference table's, and
 * the definition every table's attn_f16_row is tested against. */
void kernels_attn_f16_row_by(const struct kernels *k, int32_t hd, int32_t hdv, int32_t n_pos,
                             const uint16_t *keys, size_t k_stride, const uint16_t *vals,
                             size_t v_stride, const uint16_t *q16, float scale, float *out);
/* A vec_dot_tile made of vec_dot calls, for tables without a tiled kernel for a type. */
void kernels_tile_by_dots(const struct kernels *k, enum dtype t, int64_t n, const void *w,
                          size_t w_row, int nr, const void *a, size_t a_row, int nc, float *out,
                          size_t out_stride);
/* The table called name ("ref", "avx2", "avx512") if this CPU can run it, else NULL. */
const struct kernels *kernels_for(const char *name);
/* The best table for this CPU, chosen once (BATON_KERNELS=name forces one it can run). */
const struct kernels *kernels_get(void);
/* Per-ISA tables; NULL when the file was built without the instruction set. Callers use
 * kernels_for, which also checks the CPU. */
const struct kernels *kernels_avx2(void);
const struct kernels *kernels_avx512(void);

#endif
