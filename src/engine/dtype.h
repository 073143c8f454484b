/* dtype: the tensor element types a GGUF file can name, and their storage geometry.
 *
 * Values are the GGML type ids stored in GGUF tensor infos. Every type is stored in blocks of
 * `block_elems` elements taking `block_bytes` bytes; a row of n elements (n a multiple of
 * block_elems) takes n / block_elems * block_bytes bytes. The table knows the geometry of every
 * type GGUF defines so that `baton info` can describe any valid file; only the types with
 * `supported` set can be computed with (quant_ref.c holds their block layouts and references).
 *
 * F16/BF16 conversions live here because every layer of the engine needs them.
 */
#ifndef BATON_ENGINE_DTYPE_H
#define BATON_ENGINE_DTYPE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

enum dtype {
    DT_F32 = 0,
    DT_F16 = 1,
    DT_Q4_0 = 2,
    DT_Q4_1 = 3,
    DT_Q5_0 = 6,
    DT_Q5_1 = 7,
    DT_Q8_0 = 8,
    DT_Q8_1 = 9,
    DT_Q2_K = 10,
    DT_Q3_K = 11,
    DT_Q4_K = 12,
    DT_Q5_K = 13,
    DT_Q6_K = 14,
    DT_Q8_K = 15,
    DT_IQ2_XXS = 16,
    DT_IQ2_XS = 17,
    DT_IQ3_XXS = 18,
    DT_IQ1_S = 19,
    DT_IQ4_NL = 20,
    DT_IQ3_S = 21,
    DT_IQ2_S = 22,
    DT_IQ4_XS = 23,
    DT_I8 = 24,
    DT_I16 = 25,
    DT_I32 = 26,
    DT_I64 = 27,
    DT_F64 = 28,
    DT_IQ1_M = 29,
    DT_BF16 = 30,
    DT_TQ1_0 = 34,
    DT_TQ2_0 = 35,
    DT_MXFP4 = 39,
    DT_NVFP4 = 40,
    DT_Q1_0 = 41,
    DT_Q2_0 = 42,
    DT_COUNT = 43,
};

#define QK_K 256 /* super-block size of the K-quants */

struct dtype_info {
    const char *name;    /* "q4_K", as llama.cpp prints it; NULL for ids GGUF does not define */
    uint32_t block_elems;
    uint32_t block_bytes;
    bool supported;      /* the engine can load and compute with weights of this type */
};

/* Geometry of type t, or NULL if t is not a GGUF type id. */
const struct dtype_info *dtype_get(uint32_t t);
/* Name of type t, "unknown" for ids outside the table. */
const char *dtype_name(uint32_t t);
/* Parses a type name case-insensitively ("Q4_K", "f16"); returns -1 if unknown. */
int dtype_from_name(const char *name);
/* Bytes of a row of n elements of type t; returns false if n is not a multiple of the block size
 * or the product overflows. */
bool dtype_row_bytes(uint32_t t, uint64_t n, uint64_t *out);
/* Comma-separated list of the supported type names, for error messages. */
const char *dtype_supported_list(void);

/* ---- half-precision conversions (IEEE binary16 and bfloat16) ---- */

static inline float fp32_from_bits(uint32_t w) { float f; memcpy(&f, &w, 4); return f; }
static inline uint32_t fp32_to_bits(float f) { uint32_t w; memcpy(&w, &f, 4); return w; }

/* Exact conversion of binary16 to binary32 (handles subnormals, inf, nan). */
static inline float fp16_to_fp32(uint16_t h)
{
    uint32_t sign = (uint32_t)(h & 0x8000) << 16;
    uint32_t exp = (h >> 10) & 0x1f, mant = h & 0x3ff;
    if (exp == 0x1f)
        return fp32_from_bits(sign | 0x7f800000u | (mant << 13));
    if (exp == 0) {
        if (mant == 0)
            return fp32_from_bits(sign);
        /* subnormal: value = mant * 2^-24 */
        float f = (float)mant * (1.0f / 16777216.0f);
        return sign ? -f : f;
    }
    return fp32_from_bits(sign | ((exp + 112) << 23) | (mant << 13));
}

/* binary32 to binary16 with round-to-nearest-even, as F16C's vcvtps2ph does. */
static inline uint16_t fp32_to_fp16(float f)
{
    uint32_t x = fp32_to_bits(f);
    uint32_t sign = (x >> 16) & 0x8000;
    uint32_t ax = x & 0x7fffffffu;
    if (ax >= 0x7f800000u) /* inf or nan */
        return (uint16_t)(sign | 0x7c00 | (ax > 0x7f800000u ? 0x200 | ((ax >> 13) & 0x3ff) : 0));
    if (ax >= 0x477ff000u) /* rounds to >= 65520: overflow to inf */
        return (uint16_t)(sign | 0x7c00);
    if (ax < 0x38800000u) { /* below the smallest normal half (2^-14): subnormal or zero */
        if (ax < 0x33000000u) /* < 2^-25: rounds to zero */
            return (uint16_t)sign;
        uint32_t e = ax >> 23, m = (ax & 0x7fffff) | 0x800000;
        uint32_t shift = 126 - e; /* 14..24 */
        uint32_t half = m >> shift, rem = m & ((1u << shift) - 1), mid = 1u << (shift - 1);
        if (rem > mid || (rem == mid && (half & 1)))
            half++;
        return (uint16_t)(sign | half);
    }
    uint32_t e = (ax >> 23) - 112, m = ax & 0x7fffff;
    uint32_t h = (e << 10) | (m >> 13), rem = m & 0x1fff;
    if (rem > 0x1000 || (rem == 0x1000 && (h & 1)))
        h++; /* may carry into the exponent, which is the right answer */
    return (uint16_t)(sign | h);
}

static inline float bf16_to_fp32(uint16_t h) { return fp32_from_bits((uint32_t)h << 16); }

/* binary32 to bfloat16, round-to-nearest-even; NaN stays a quiet NaN. */
static inline uint16_t fp32_to_bf16(float f)
{
    uint32_t x = fp32_to_bits(f);
    if ((x & 0x7fffffffu) > 0x7f800000u)
        return (uint16_t)((x >> 16) | 64);
    return (uint16_t)((x + (0x7fff + ((x >> 16) & 1))) >> 16);
}

#endif
