/* dtype: the table of GGUF tensor types (see dtype.h). Geometry follows the GGML block structs:
 * e.g. q4_K is 256 elements in 144 bytes (f16 d, f16 dmin, 12 bytes of 6-bit scales, 128 bytes of
 * nibbles); quant_ref.c documents each supported layout in full. */
#include "engine/dtype.h"

#include <ctype.h>
#include <strings.h>

static const struct dtype_info g_types[DT_COUNT] = {
    [DT_F32] = {"f32", 1, 4, true},
    [DT_F16] = {"f16", 1, 2, true},
    [DT_Q4_0] = {"q4_0", 32, 18, true},
    [DT_Q4_1] = {"q4_1", 32, 20, true},
    [DT_Q5_0] = {"q5_0", 32, 22, true},
    [DT_Q5_1] = {"q5_1", 32, 24, true},
    [DT_Q8_0] = {"q8_0", 32, 34, true},
    [DT_Q8_1] = {"q8_1", 32, 36, false},
    [DT_Q2_K] = {"q2_K", 256, 84, true},
    [DT_Q3_K] = {"q3_K", 256, 110, true},
    [DT_Q4_K] = {"q4_K", 256, 144, true},
    [DT_Q5_K] = {"q5_K", 256, 176, true},
    [DT_Q6_K] = {"q6_K", 256, 210, true},
    [DT_Q8_K] = {"q8_K", 256, 292, false},
    [DT_IQ2_XXS] = {"iq2_xxs", 256, 66, false},
    [DT_IQ2_XS] = {"iq2_xs", 256, 74, false},
    [DT_IQ3_XXS] = {"iq3_xxs", 256, 98, false},
    [DT_IQ1_S] = {"iq1_s", 256, 50, false},
    [DT_IQ4_NL] = {"iq4_nl", 32, 18, false},
    [DT_IQ3_S] = {"iq3_s", 256, 110, false},
    [DT_IQ2_S] = {"iq2_s", 256, 82, false},
    [DT_IQ4_XS] = {"iq4_xs", 256, 136, false},
    [DT_I8] = {"i8", 1, 1, false},
    [DT_I16] = {"i16", 1, 2, false},
    [DT_I32] = {"i32", 1, 4, false},
    [DT_I64] = {"i64", 1, 8, false},
    [DT_F64] = {"f64", 1, 8, false},
    [DT_IQ1_M] = {"iq1_m", 256, 56, false},
    [DT_BF16] = {"bf16", 1, 2, true},
    [DT_TQ1_0] = {"tq1_0", 256, 54, false},
    [DT_TQ2_0] = {"tq2_0", 256, 66, false},
    [DT_MXFP4] = {"mxfp4", 32, 17, false},
    [DT_NVFP4] = {"nvfp4", 64, 36, false},
    [DT_Q1_0] = {"q1_0", 128, 18, false},
    [DT_Q2_0] = {"q2_0", 64, 18, false},
};

const struct dtype_info *dtype_get(uint32_t t)
{
    if (t >= DT_COUNT || !g_types[t].name)
        return NULL;
    return &g_types[t];
}

const char *dtype_name(uint32_t t)
{
    const struct dtype_info *d = dtype_get(t);
    return d ? d->name : "unknown";
}

int dtype_from_name(const char *name)
{
    for (int t = 0; t < DT_COUNT; t++)
        if (g_types[t].name && strcasecmp(g_types[t].name, name) == 0)
            return t;
    return -1;
}

bool dtype_row_bytes(uint32_t t, uint64_t n, uint64_t *out)
{
    const struct dtype_info *d = dtype_get(t);
    if (!d || n % d->block_elems)
        return false;
    uint64_t blocks = n / d->block_elems;
    if (blocks > UINT64_MAX / d->block_bytes)
        return false;
    *out = blocks * d->block_bytes;
    return true;
}

const char *dtype_supported_list(void)
{
    return "f32, f16, bf16, q8_0, q4_0, q4_1, q5_0, q5_1, q2_K, q3_K, q4_K, q5_K, q6_K";
}
