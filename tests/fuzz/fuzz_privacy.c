/* libFuzzer target: the privacy detector and the mask/restore round trip on arbitrary bytes.
 *
 * Input: the text. Checks: spans are in order, inside the text and never overlap; masking the
 * text and restoring the masked text (fed in chunks of sizes taken from the input) gives the text
 * back exactly -- so no placeholder is ever lost or invented, whatever the split.
 */
#include "base/buf.h"
#include "gateway/policy.h"
#include "gateway/privacy.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static struct privacy *g_p;

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
    struct buf masked, back;
    buf_init(&masked);
    buf_init(&back);
    mask_text(g_p, m, text, size, &masked);
    size_t at = 0, k = 0;
    while (at < masked.len) {
        size_t c = 1 + (size ? data[k++ % size] % 7 : 0);
        if (c > masked.len - at)
            c = masked.len - at;
        mask_restore(m, masked.data + at, c, &back);
        at += c;
    }
    mask_restore_flush(m, &back);
    if (back.len != size || (size && memcmp(back.data, text, size) != 0))
        abort();
    buf_free(&masked);
    buf_free(&back);
    mask_free(m);
    return 0;
}
