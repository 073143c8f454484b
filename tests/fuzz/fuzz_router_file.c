/* libFuzzer target: the router file loader (rmodel_parse) on arbitrary bytes. Each input is
 * parsed twice: as given, and with both CRC-32 fields recomputed, so mutations reach the field
 * checks behind the checksums. Any input must either be refused with a message or give a model
 * whose scores are probabilities and whose thresholds and strong shares are in range. */
#include "router/rfeat.h"
#include "router/rmodel.h"

#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static struct rfeat g_scratch;

static void put32(uint8_t *p, uint32_t v)
{
    for (int i = 0; i < 4; i++)
        p[i] = (uint8_t)(v >> (8 * i));
}

static void try_parse(const uint8_t *data, size_t size)
{
    struct rmodel *m = NULL;
    struct err e;
    e.msg[0] = 0;
    if (rmodel_parse(data, size, "fuzz", &m, &e) != 0) {
        if (!e.msg[0] || m)
            abort(); /* a refusal names its reason and hands out nothing */
        return;
    }
    static const char *const texts[] = {"", "What is 2+2?", "```c\nint main(void) {}\n```\n",
                                        "A. 1\nB. 2\nC. 3\nAnswer:"};
    for (size_t i = 0; i < sizeof texts / sizeof texts[0]; i++) {
        float s = rmodel_score(m, texts[i], strlen(texts[i]), &g_scratch);
        if (!(s >= 0.0f && s <= 1.0f))
            abort();
    }
    for (int k = 0; k <= 10; k++) {
        float t = rmodel_threshold(m, k / 10.0);
        double share = rmodel_strong_share(m, t);
        if (!isfinite(t) || !(share >= 0.0 && share <= 1.0))
            abort();
    }
    if (!rmodel_meta(m))
        abort();
    rmodel_free(m);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    uint8_t *copy = malloc(size ? size : 1); /* exact size: ASan sees any read past the end */
    memcpy(copy, data, size);
    try_parse(copy, size);
    if (size >= RMODEL_HEADER_BYTES) {
        put32(copy + 32, rmodel_crc32(0, copy + RMODEL_HEADER_BYTES, size - RMODEL_HEADER_BYTES));
        put32(copy + 36, rmodel_crc32(0, copy, 36));
        try_parse(copy, size);
    }
    free(copy);
    return 0;
}
