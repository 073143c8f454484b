/* quant: block quantization formats, with a readable scalar reference for each.
 *
 * For every supported weight type t (dtype.h) this module provides:
 *   - quant_quantize_row_ref:   n floats -> n/block_elems blocks of type t
 *   - quant_dequantize_row_ref: blocks of type t -> n floats
 *   - quant_vec_dot_ref:        dot product of a row of t with a row of activations that were
 *                               converted to quant_vec_dot_type(t), exactly as llama.cpp's CPU
 *                               backend does (Q8_0 for q4_0/q5_0/q8_0, Q8_1 for q4_1/q5_1, Q8_K
 *                               for the K-quants, F16 for f16, BF16 for bf16, F32 for f32), so
 *                               the engine's arithmetic matches the reference's.
 * The activation types Q8_0, Q8_1 and Q8_K are also quantizable/dequantizable here.
 * Block layouts are documented at the top of quant_ref.c. n is always a multiple of the type's
 * block size (callers check with dtype_row_bytes); block data must be 2-byte aligned (4-byte for
 * q8_K), as GGUF tensor data is. The SIMD kernels are tested against these.
 */
#ifndef BATON_ENGINE_QUANT_H
#define BATON_ENGINE_QUANT_H

#include "engine/dtype.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* True if t has a reference here: f32, f16, bf16, q4_0, q4_1, q5_0, q5_1, q8_0, q8_1, q2_K..q6_K,
 * q8_K. Calling the functions below with any other type is a bug (they assert). */
bool quant_has_ref(enum dtype t);
/* Activation type the dot product of weight type t consumes; DT_COUNT for the activation-only
 * types q8_1 and q8_K (no weight dot) and for types without a reference. */
enum dtype quant_vec_dot_type(enum dtype t);
/* Quantizes x[0..n) into y; returns the bytes written. x must be finite. */
size_t quant_quantize_row_ref(enum dtype t, const float *x, void *y, int64_t n);
/* Dequantizes n elements of x (type t) into y. */
void quant_dequantize_row_ref(enum dtype t, const void *x, float *y, int64_t n);
/* sum_i w[i] * a[i] for n elements; w is type t, a is quant_vec_dot_type(t). */
float quant_vec_dot_ref(enum dtype t, int64_t n, const void *w, const void *a);

#endif
