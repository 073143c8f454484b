/* quant_golden: the inputs and file layout of the quantization golden test, shared by the test
 * (tests/unit/test_quant.c) and the harness that writes the golden file from ggml
 * (scripts/golden/quant_harness.c), so both sides see the very same numbers.
 *
 * Inputs come from a 64-bit PRNG turned into floats with exact or correctly rounded IEEE
 * operations only (no libm), so every conforming machine produces the same bits; the golden file
 * still records a hash of them and the test checks it. Rows follow 8 recipes (row % 8) chosen to
 * reach every branch of the quantizers: gaussian, a row with an all-zero / constant / tiny
 * sub-block, heavy tails, all-positive, small-scale, all-negative, offset, spiky.
 *
 * Golden file (little-endian):
 *   char magic[8] "BQGOLD01"; u32 n_rows, n_per_row, n_rows_stored, n_records; u64 input_hash
 *   then n_records records, each starting with u32 kind, u32 type:
 *   kind 1 (weight type, quantized by ggml_quantize_chunk as llama-quantize does):
 *       u32 n; u8 bytes[n]                   ggml's quantization of rows 0..n_rows_stored-1
 *       u64 dequant_hash                     FNV-1a of ggml's dequantization of those rows
 *       f32 dequant_row0[n_per_row]          the first of those rows in clear
 *       f64 rmse                             ggml's RMSE over all n_rows rows
 *       u32 act_type; u32 m; u8 act[m]       the activation row in ggml's vec_dot type
 *       f32 dot[n_rows_stored]               ggml's vec_dot of each stored row with act
 *   kind 2 (activation type, quantized by ggml's CPU from_float as matmuls do):
 *       u32 n; u8 bytes[n]                   ggml's quantization of the activation row
 *       u32 has_dequant; f32 dequant[n_per_row] if has_dequant
 *                                            ggml's dequantization of it (ggml has none for q8_1)
 */
#ifndef BATON_TESTS_QUANT_GOLDEN_H
#define BATON_TESTS_QUANT_GOLDEN_H

#include <stdint.h>
#include <string.h>

#define QG_MAGIC "BQGOLD01"
#define QG_N_ROWS 32
#define QG_N_PER_ROW 512
#define QG_N_STORED 4
#define QG_KIND_WEIGHT 1
#define QG_KIND_ACT 2

/* splitmix64 */
static inline uint64_t qg_next(uint64_t *s)
{
    uint64_t z = (*s += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

/* Uniform in [-1, 1): a 24-bit signed integer times 2^-23, both exact in binary32. */
static inline float qg_uniform(uint64_t *s)
{
    int32_t k = (int32_t)(qg_next(s) >> 40) - (1 << 23);
    return (float)k * (1.0f / 8388608.0f);
}

/* Bell-shaped, variance ~1: sum of four uniforms (variance 4/3) scaled by 0.866. */
static inline float qg_bell(uint64_t *s)
{
    float a = qg_uniform(s), b = qg_uniform(s), c = qg_uniform(s), d = qg_uniform(s);
    return ((a + b) + (c + d)) * 0.866f;
}

static inline void qg_row(int r, float *x, int n)
{
    uint64_t s = 0x5eed0000ull + (uint64_t)r;
    for (int i = 0; i < n; i++) {
        float g = qg_bell(&s);
        switch (r % 8) {
        case 0: x[i] = g; break;
        case 1: /* sub-blocks of 32 that are all zero, constant, tiny; the rest gaussian */
            x[i] = (i / 32) % 4 == 1 ? 0.0f : (i / 32) % 4 == 2 ? 0.25f
                 : (i / 32) % 4 == 3 ? g * 1e-6f : g;
            break;
        case 2: x[i] = (qg_next(&s) & 63) == 0 ? g * 8.0f : g; break;
        case 3: x[i] = qg_uniform(&s) * 0.5f + 0.5f; break;
        case 4: x[i] = g * 0.02f; break;
        case 5: x[i] = qg_uniform(&s) * 0.5f - 0.5f; break;
        case 6: x[i] = g + 0.75f; break;
        default: x[i] = g * qg_uniform(&s) * 2.0f; break;
        }
    }
}

/* The activation row the dots use. */
static inline void qg_act(float *x, int n)
{
    uint64_t s = 0xac7ull;
    for (int i = 0; i < n; i++)
        x[i] = qg_bell(&s);
}

/* FNV-1a over bytes. */
static inline uint64_t qg_hash(uint64_t h, const void *p, size_t n)
{
    const unsigned char *b = p;
    for (size_t i = 0; i < n; i++) {
        h ^= b[i];
        h *= 0x100000001b3ull;
    }
    return h;
}
#define QG_HASH_INIT 0xcbf29ce484222325ull

/* Hash of every input: all rows, then the activation row. */
static inline uint64_t qg_input_hash(void)
{
    float x[QG_N_PER_ROW];
    uint64_t h = QG_HASH_INIT;
    for (int r = 0; r < QG_N_ROWS; r++) {
        qg_row(r, x, QG_N_PER_ROW);
        h = qg_hash(h, x, sizeof x);
    }
    qg_act(x, QG_N_PER_ROW);
    return qg_hash(h, x, sizeof x);
}

#endif
