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
    /* converts n floats into the activation type act (F32, F16, BF16, Q8_0, Q8_1 or Q8_K) */
    void (*quantize_act)(enum dtype act, const float *x, void *y, int64_t n);
};

const struct kernels *kernels_ref(void);
/* The table called name ("ref", "avx2", "avx512") if this CPU can run it, else NULL. */
const struct kernels *kernels_for(const char *name);
/* The best table for this CPU, chosen once (BATON_KERNELS=name forces one it can run). */
const struct kernels *kernels_get(void);
/* Per-ISA tables; NULL when the file was built without the instruction set. Callers use
 * kernels_for, which also checks the CPU. */
const struct kernels *kernels_avx2(void);

#endif
