/* libFuzzer target: Ollama request bodies (/api/chat, /api/generate, /api/show). Any input is
 * refused with a 400 and a message, or parses into a request whose text helpers and encoders
 * work. The first byte's low bit picks chat or generate (as fuzz_openai_request does). */
#include "fuzz_dialect_common.h"

#include "api/ollama.h"

#include <stdint.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const struct api_dialect *d =
        api_dialect(size && (data[0] & 1) ? API_OLLAMA_GENERATE : API_OLLAMA_CHAT);
    struct request *r = NULL;
    struct api_error e;
    memset(&e, 0, sizeof e);
    if (d->parse((const char *)data, size, &r, &e) == 0) {
        fuzz_encode(d, r);
        request_free(r);
    } else {
        fuzz_refusal(d, &e);
    }
    static const struct api_model models[] = {{"auto", "baton-route"}, {"small", "baton-local"}};
    struct buf out;
    buf_init(&out);
    if (ollama_show((const char *)data, size, models, 2, &out, &e) &&
        (e.status != 400 && e.status != 404))
        abort();
    buf_free(&out);
    return 0;
}
