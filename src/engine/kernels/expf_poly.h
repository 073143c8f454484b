/* expf_poly: the constants of the vectorized exp shared by the SIMD tables (kernels.h,
 * f32_exp and f32_softmax). exp(x) = 2^k exp(r) with k = round(x log2 e) and
 * r = x - k ln2 (ln2 in two parts, so r is exact); exp(r) on |r| <= ln2 / 2 by Cephes' expf
 * polynomial: 1 + r + r^2 (C5 + r (C4 + r (C3 + r (C2 + r (C1 + r C0))))). Within a few ulp of
 * expf (tests/unit/test_kernels.c). */
#ifndef BATON_ENGINE_KERNELS_EXPF_POLY_H
#define BATON_ENGINE_KERNELS_EXPF_POLY_H

#define EXPF_LOG2E 1.44269504088896341f
#define EXPF_LN2_HI 0.693359375f
#define EXPF_LN2_LO (-2.12194440e-4f)
#define EXPF_MAX 88.3f /* exp overflows float above ~88.72 */
#define EXPF_C0 1.9875691500e-4f
#define EXPF_C1 1.3981999507e-3f
#define EXPF_C2 8.3334519073e-3f
#define EXPF_C3 4.1665795894e-2f
#define EXPF_C4 1.6666665459e-1f
#define EXPF_C5 5.0000001201e-1f

#endif
