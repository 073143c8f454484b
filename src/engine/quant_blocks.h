/* quant_blocks: the GGML block structs, field for field (layouts and value formulas are
 * documented at the top of quant_ref.c). Internal to src/engine: quant_ref.c and the SIMD
 * kernels read blocks through these. Fields are read in place, so the host must be
 * little-endian and blocks 2-byte aligned (4 for q8_K), as GGUF's aligned tensor data is. */
#ifndef BATON_ENGINE_QUANT_BLOCKS_H
#define BATON_ENGINE_QUANT_BLOCKS_H

#include "engine/dtype.h"

#include <stdint.h>

struct blk_q4_0 { uint16_t d; uint8_t qs[16]; };
struct blk_q4_1 { uint16_t d, m; uint8_t qs[16]; };
struct blk_q5_0 { uint16_t d; uint8_t qh[4]; uint8_t qs[16]; };
struct blk_q5_1 { uint16_t d, m; uint8_t qh[4]; uint8_t qs[16]; };
struct blk_q8_0 { uint16_t d; int8_t qs[32]; };
struct blk_q8_1 { uint16_t d, s; int8_t qs[32]; };
struct blk_q2_K { uint8_t scales[16]; uint8_t qs[64]; uint16_t d, dmin; };
struct blk_q3_K { uint8_t hmask[32]; uint8_t qs[64]; uint8_t scales[12]; uint16_t d; };
struct blk_q4_K { uint16_t d, dmin; uint8_t scales[12]; uint8_t qs[128]; };
struct blk_q5_K { uint16_t d, dmin; uint8_t scales[12]; uint8_t qh[32]; uint8_t qs[128]; };
struct blk_q6_K { uint8_t ql[128]; uint8_t qh[64]; int8_t scales[16]; uint16_t d; };
struct blk_q8_K { float d; int8_t qs[QK_K]; int16_t bsums[QK_K / 16]; };

_Static_assert(sizeof(struct blk_q4_0) == 18, "q4_0 layout");
_Static_assert(sizeof(struct blk_q4_1) == 20, "q4_1 layout");
_Static_assert(sizeof(struct blk_q5_0) == 22, "q5_0 layout");
_Static_assert(sizeof(struct blk_q5_1) == 24, "q5_1 layout");
_Static_assert(sizeof(struct blk_q8_0) == 34, "q8_0 layout");
_Static_assert(sizeof(struct blk_q8_1) == 36, "q8_1 layout");
_Static_assert(sizeof(struct blk_q2_K) == 84, "q2_K layout");
_Static_assert(sizeof(struct blk_q3_K) == 110, "q3_K layout");
_Static_assert(sizeof(struct blk_q4_K) == 144, "q4_K layout");
_Static_assert(sizeof(struct blk_q5_K) == 176, "q5_K layout");
_Static_assert(sizeof(struct blk_q6_K) == 210, "q6_K layout");
_Static_assert(sizeof(struct blk_q8_K) == 292, "q8_K layout");

#endif
