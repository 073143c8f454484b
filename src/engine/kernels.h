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
    /* y[i] += a * x[i] in f32 */
    void (*f32_axpy)(int64_t n, float *y, const float *x, float a);
};

const struct kernels *kernels_ref(void);
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
