/* unicode: UTF-8 coding, code point flags and case, GPT-2 byte mapping (see unicode.h).
 *
 * The flag tables live in the generated unicode_data.c as a two-stage lookup: a block number
 * per 256 code points, then 256 flags per distinct block; one lookup costs two loads.
 */
#include "engine/unicode.h"

#include <stdbool.h>

size_t unicode_len_utf8(unsigned char lead)
{
    static const uint8_t len_by_nibble[16] = {1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 2, 2, 3, 4};
    return len_by_nibble[lead >> 4];
}

static bool is_cont(const char *s, size_t n, size_t i)
{
    return i < n && ((unsigned char)s[i] & 0xC0) == 0x80;
}

uint32_t unicode_decode(const char *s, size_t n, size_t *off)
{
    size_t i = *off;
    unsigned char b0 = (unsigned char)s[i];
    if (b0 < 0x80) {
        *off = i + 1;
        return b0;
    }
    /* Lead byte 10xxxxxx (a stray continuation) and 11111xxx are invalid; otherwise the count of
     * leading ones says how many continuation bytes must follow. */
    size_t len = (b0 & 0xE0) == 0xC0 ? 2 : (b0 & 0xF0) == 0xE0 ? 3 : (b0 & 0xF8) == 0xF0 ? 4 : 0;
    if (len == 0) {
        *off = i + 1;
        return UNICODE_REPLACEMENT;
    }
    uint32_t cp = b0 & (0x7F >> len);
    for (size_t k = 1; k < len; k++) {
        if (!is_cont(s, n, i + k)) {
            *off = i + 1;
            return UNICODE_REPLACEMENT;
        }
        cp = (cp << 6) | ((unsigned char)s[i + k] & 0x3F);
    }
    if (cp >= UNICODE_MAX_CP) {
        /* F4 90.. to F7 BF BF BF: llama.cpp decodes these and then aborts when re-encoding them
         * (unicode_cpt_to_utf8 throws); we treat them as invalid bytes instead. */
        *off = i + 1;
        return UNICODE_REPLACEMENT;
    }
    *off = i + len;
    return cp;
}

size_t unicode_encode(uint32_t cp, char out[4])
{
    if (cp < 0x80) {
        out[0] = (char)cp;
        return 1;
    }
    if (cp < 0x800) {
        out[0] = (char)(0xC0 | (cp >> 6));
        out[1] = (char)(0x80 | (cp & 0x3F));
        return 2;
    }
    if (cp < 0x10000) {
        out[0] = (char)(0xE0 | (cp >> 12));
        out[1] = (char)(0x80 | ((cp >> 6) & 0x3F));
        out[2] = (char)(0x80 | (cp & 0x3F));
        return 3;
    }
    if (cp < UNICODE_MAX_CP) {
        out[0] = (char)(0xF0 | (cp >> 18));
        out[1] = (char)(0x80 | ((cp >> 12) & 0x3F));
        out[2] = (char)(0x80 | ((cp >> 6) & 0x3F));
        out[3] = (char)(0x80 | (cp & 0x3F));
        return 4;
    }
    return 0;
}

uint16_t unicode_flags(uint32_t cp)
{
    if (cp >= UNICODE_MAX_CP)
        return UNICODE_UNDEFINED;
    return unicode_stage2[unicode_stage1[cp >> 8]][cp & 0xFF];
}

size_t unicode_pairs_lower_bound(const uint32_t (*pairs)[2], size_t n, int col, uint32_t key)
{
    size_t lo = 0, hi = n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (pairs[mid][col] < key)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo;
}

uint32_t unicode_tolower(uint32_t cp)
{
    if (cp < 0x80)
        return cp >= 'A' && cp <= 'Z' ? cp + 32 : cp;
    size_t lo = unicode_pairs_lower_bound(unicode_lower_map, unicode_lower_count, 0, cp);
    return lo < unicode_lower_count && unicode_lower_map[lo][0] == cp ? unicode_lower_map[lo][1] : cp;
}

/* Bytes GPT-2 considers printable keep their own code point: '!'..'~', U+00A1..U+00AC and
 * U+00AE..U+00FF. */
static bool byte_is_printable(unsigned b)
{
    return (b >= 0x21 && b <= 0x7E) || (b >= 0xA1 && b <= 0xAC) || (b >= 0xAE);
}

/* The 68 others take U+0100.. in byte order: 0x00..0x20 (33 bytes), 0x7F..0xA0 (34), 0xAD. */
uint32_t unicode_byte_to_cp(uint8_t b)
{
    if (byte_is_printable(b))
        return b;
    if (b <= 0x20)
        return 0x100 + b;
    if (b <= 0xA0)
        return 0x100 + 33 + (b - 0x7F);
    return 0x100 + 67; /* 0xAD */
}

int unicode_cp_to_byte(uint32_t cp)
{
    if (cp < 0x100)
        return byte_is_printable(cp) ? (int)cp : -1;
    if (cp <= 0x120)
        return (int)(cp - 0x100);
    if (cp <= 0x142)
        return (int)(0x7F + (cp - 0x121));
    return cp == 0x143 ? 0xAD : -1;
}
