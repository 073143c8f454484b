/* libFuzzer target: the privacy detector and the mask/restore round trip on arbitrary bytes.
 *
 * Input: the text. Checks: spans are in order, inside the text and never overlap; masking the
 * text and restoring the masked text (fed in chunks of sizes taken from the input) gives the text
 * back exactly -- so no placeholder is ever lost or invented, whatever the split; and the same
 * with the tool-call arguments' escaping: the JSON-escaped masked text, restored with MASK_JSON,
 * gives the JSON-escaped text.
 */
#include "base/buf.h"
#include "gateway/policy.h"
#include "gateway/privacy.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static struct privacy *g_p;

/* Restores s in chunks of 1..7 bytes, the sizes taken from the input, through a fresh stream. */
static void restore_chunked(const struct mask *m, enum mask_escape esc, const uint8_t *data,
                            size_t size, const char *s, size_t len, struct buf *out)
{
    struct mask_stream st;
    mask_stream_init(&st);
    size_t at = 0, k = 0;
    while (at < len) {
        size_t c = 1 + (size ? data[k++ % size] % 7 : 0);
        if (c > len - at)
            c = len - at;
        mask_restore(m, &st, esc, s + at, c, out);
        at += c;
    }
    mask_restore_flush(m, &st, esc, out);
    mask_stream_free(&st);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (!g_p) {
        static const char *const terms[] = {"acme", "blue bird"};
        struct privacy_pattern pats[] = {{"code", "X-[0-9]{3}"}};
        struct privacy_terms t[] = {{"project", terms, 2}};
        struct privacy_options o = {(UINT64_C(1) << PK_BUILTIN_COUNT) - 1, pats, 1, t, 1};
        struct err e;
        if (privacy_new(&o, &g_p, &e))
            abort();
    }
    const char *text = (const char *)data;
    struct privacy_span s[64];
    size_t n = privacy_scan(g_p, text, size, s, 64);
    for (size_t i = 0; i < n && i < 64; i++) {
        if (s[i].start >= s[i].end || s[i].end > size)
            abort();
        if (i && s[i].start < s[i - 1].end)
            abort();
    }
    /* A text that already contains placeholder-shaped text is not round-trip safe by design
     * (an answer may legitimately contain "[EMAIL_1]"); skip those. */
    if (memmem(text, size, "[", 1))
        return 0;
    struct mask *m = mask_new();
    struct buf masked, back, json_masked, json_text;
    buf_init(&masked);
    buf_init(&back);
    buf_init(&json_masked);
    buf_init(&json_text);
    mask_text(g_p, m, text, size, &masked);
    restore_chunked(m, MASK_RAW, data, size, masked.data, masked.len, &back);
    if (back.len != size || (size && memcmp(back.data, text, size) != 0))
        abort();
    /* escaping is byte by byte and leaves placeholders alone, so the JSON-escaped masked text
     * restored with MASK_JSON must be the JSON-escaped text */
    buf_put_json_escaped(&json_masked, masked.data, masked.len);
    buf_put_json_escaped(&json_text, text, size);
    buf_clear(&back);
    restore_chunked(m, MASK_JSON, data, size, json_masked.data, json_masked.len, &back);
    if (back.len != json_text.len || (back.len && memcmp(back.data, json_text.data, back.len) != 0))
        abort();
    buf_free(&masked);
    buf_free(&back);
    buf_free(&json_masked);
    buf_free(&json_text);
    mask_free(m);
    return 0;
}
