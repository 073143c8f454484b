/* hex: see hex.h. */
#include "base/hex.h"

void hex_encode(char *out, const void *p, size_t n)
{
    static const char d[] = "0123456789abcdef";
    const unsigned char *b = p;
    for (size_t i = 0; i < n; i++) {
        out[2 * i] = d[b[i] >> 4];
        out[2 * i + 1] = d[b[i] & 15];
    }
    out[2 * n] = 0;
}

bool hex_decode(void *out, size_t n, const char *s, size_t len)
{
    unsigned char *b = out;
    if (len != 2 * n)
        return false;
    for (size_t i = 0; i < len; i++) {
        char c = s[i];
        int v = c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
        if (v < 0)
            return false;
        b[i / 2] = (unsigned char)(i % 2 ? (b[i / 2] << 4) | v : v);
    }
    return true;
}
