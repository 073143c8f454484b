/* libFuzzer target: OpenAI request bodies (chat and completions). Any input is refused with a
 * 400 and a message, or parses into a request whose text helpers and encoders work. */
#include "api/openai.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    enum dialect d = size && (data[0] & 1) ? DIALECT_OPENAI_COMPLETION : DIALECT_OPENAI_CHAT;
    struct request *r = NULL;
    struct api_error e;
    memset(&e, 0, sizeof e);
    if (openai_parse(d, (const char *)data, size, &r, &e) == 0) {
        char *t = request_text(r);
        free(t);
        (void)request_text_bytes(r);
        struct openai_resp resp;
        openai_resp_init(&resp, r, "m");
        struct buf out;
        buf_init(&out);
        struct event ev = {.type = EV_DELTA, .text = "x", .len = 1};
        openai_resp_event(&resp, &ev, &out);
        struct event f = {.type = EV_FINISH, .finish_reason = "stop"};
        openai_resp_event(&resp, &f, &out);
        openai_resp_finish(&resp, &out);
        openai_resp_free(&resp);
        buf_free(&out);
        request_free(r);
    } else if (e.status != 400 || !e.message[0]) {
        abort();
    }
    return 0;
}
