/* libFuzzer target: the SSE parser on arbitrary bytes, fed whole and fed in fuzzer-chosen chunks.
 *
 * Input: byte 0 picks the size bound (bit 7: 64 bytes, else 64 KiB) and the number of chunks
 * (low 4 bits); that many bytes follow, each a chunk length; the rest is the stream. Both runs
 * must give the same events and the same final status, and every string must be valid UTF-8.
 */
#include "base/buf.h"
#include "net/sse.h"

#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static bool valid_utf8(const unsigned char *s, size_t n)
{
    size_t i = 0;
    while (i < n) {
        unsigned char c = s[i];
        size_t k;
        uint32_t cp, min;
        if (c < 0x80) {
            i++;
            continue;
        } else if ((c & 0xE0) == 0xC0) {
            k = 1, cp = c & 0x1F, min = 0x80;
        } else if ((c & 0xF0) == 0xE0) {
            k = 2, cp = c & 0x0F, min = 0x800;
        } else if ((c & 0xF8) == 0xF0) {
            k = 3, cp = c & 0x07, min = 0x10000;
        } else {
            return false;
        }
        if (i + k >= n)
            return false;
        for (size_t j = 1; j <= k; j++) {
            if ((s[i + j] & 0xC0) != 0x80)
                return false;
            cp = cp << 6 | (s[i + j] & 0x3F);
        }
        if (cp < min || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF))
            return false;
        i += k + 1;
    }
    return true;
}

static int on_event(void *arg, const struct sse_event *ev)
{
    struct buf *b = arg;
    if (!valid_utf8((const unsigned char *)ev->type, ev->type_len) ||
        !valid_utf8((const unsigned char *)ev->data, ev->data_len) ||
        !valid_utf8((const unsigned char *)ev->id, ev->id_len) || ev->type[ev->type_len] ||
        ev->data[ev->data_len] || ev->id[ev->id_len])
        abort();
    buf_printf(b, "%zu:", ev->type_len);
    buf_append(b, ev->type, ev->type_len);
    buf_printf(b, "%zu:", ev->data_len);
    buf_append(b, ev->data, ev->data_len);
    buf_printf(b, "%zu:", ev->id_len);
    buf_append(b, ev->id, ev->id_len);
    buf_printf(b, "%lld;", (long long)ev->retry_ms);
    return 0;
}

static int run(const uint8_t *s, size_t n, size_t max, const uint8_t *cuts, size_t n_cuts,
               struct buf *out)
{
    struct sse_parser *p = sse_new(max, on_event, out);
    struct err e;
    int st = 0;
    size_t off = 0;
    for (size_t k = 0; k <= n_cuts && st == 0; k++) {
        size_t len = k < n_cuts ? cuts[k] : n - off;
        if (len > n - off)
            len = n - off;
        /* an exact-size copy of each chunk, so ASan sees any read past its end */
        uint8_t *chunk = malloc(len ? len : 1);
        memcpy(chunk, s + off, len);
        st = sse_feed(p, chunk, len, &e);
        free(chunk);
        off += len;
    }
    if (st < 0)
        buf_printf(out, "ERROR %s", e.msg);
    sse_free(p);
    return st;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    size_t max = data[0] & 0x80 ? 64 : 65536;
    size_t n_cuts = data[0] & 0x0F;
    if (size < 1 + n_cuts)
        return 0;
    const uint8_t *cuts = data + 1, *s = data + 1 + n_cuts;
    size_t n = size - 1 - n_cuts;
    struct buf whole, chunked;
    buf_init(&whole);
    buf_init(&chunked);
    int st_whole = run(s, n, max, NULL, 0, &whole);
    int st_chunked = run(s, n, max, cuts, n_cuts, &chunked);
    if (st_whole != st_chunked || whole.len != chunked.len ||
        (whole.len && memcmp(whole.data, chunked.data, whole.len) != 0))
        abort();
    buf_free(&whole);
    buf_free(&chunked);
    return 0;
}
