/* libFuzzer target: Anthropic Messages request bodies (POST /v1/messages). Any input is refused
 * with a 400 and a message, or parses into a request whose text helpers and encoders work. */
#include "fuzz_dialect_common.h"

#include <stdint.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const struct api_dialect *d = api_dialect(API_ANTHROPIC_MESSAGES);
    struct request *r = NULL;
    struct api_error e;
    memset(&e, 0, sizeof e);
    if (d->parse((const char *)data, size, &r, &e) == 0) {
        fuzz_encode(d, r);
        request_free(r);
    } else {
        fuzz_refusal(d, &e);
    }
    return 0;
}
