/* kernels/avx512: AVX-512 (F, BW, VL, DQ) with VNNI. The quantized tiles and dots are qtile.h
 * with vpdpbusd (unsigned x signed bytes, four products per int32 lane, one instruction) in
 * place of AVX2's maddubs + madd; results are bit-identical to the reference, as qtile.h
 * explains. Everything else is the AVX2 table's.
 */
#include "engine/kernels.h"

#include "engine/quant.h"

#include <immintrin.h>
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

static void avx512_f32_axpy(int64_t n, float *y, const float *x, float a)
{
    g_base->f32_axpy(n, y, x, a);
}

static const struct kernels g_avx512 = {"avx512",          avx512_vec_dot,   avx512_tile,
                                        avx512_quantize_act, avx512_f16_mad, avx512_f16_scale,
                                        avx512_f16_to_f32,   avx512_f32_axpy};

const struct kernels *kernels_avx512(void)
{
    g_base = kernels_avx2();
    return g_base ? &g_avx512 : NULL;
}

#else

const struct kernels *kernels_avx512(void) { return NULL; }

#endif
