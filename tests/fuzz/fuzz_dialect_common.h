/* Shared by the dialect fuzz targets: runs a parsed request through a dialect's encoder (text,
 * a tool-call delta, usage, a finish naming a stop string; streaming and not) and its error
 * encoders, so every path from outside bytes to answer bytes is exercised. */
#ifndef BATON_FUZZ_DIALECT_COMMON_H
#define BATON_FUZZ_DIALECT_COMMON_H

#include "api/dialect.h"

#include <stdlib.h>
#include <string.h>

static void fuzz_encode(const struct api_dialect *d, struct request *r)
{
    char *t = request_text(r);
    free(t);
    (void)request_text_bytes(r);
    json_t *delta = json_loads("{\"tool_calls\":[{\"index\":0,\"id\":\"c\",\"type\":\"function\","
                               "\"function\":{\"name\":\"f\",\"arguments\":\"{\\\"a\\\":1}\"}}]}",
                               0, NULL);
    for (int stream = 0; stream < 2; stream++) {
        r->stream = stream;
        struct api_resp *resp = d->resp_new(r, "m");
        struct buf out;
        buf_init(&out);
        struct event evs[] = {
            {.type = EV_DELTA, .text = "x\xff", .len = 2},
            {.type = EV_DELTA, .delta = delta},
            {.type = EV_USAGE, .prompt_tokens = 3, .completion_tokens = 2},
            {.type = EV_FINISH, .finish_reason = "stop", .stop_sequence = r->n_stop ? r->stop[0] : NULL},
        };
        for (size_t i = 0; i < sizeof evs / sizeof *evs; i++)
            d->resp_event(resp, &evs[i], &out);
        d->resp_finish(resp, 1, &out);
        d->resp_free(resp);
        buf_free(&out);
    }
    json_decref(delta);
}

/* A refusal must be a 400 with a message; its encodings must work. */
static void fuzz_refusal(const struct api_dialect *d, const struct api_error *e)
{
    if (e->status != 400 || !e->message[0])
        abort();
    struct buf out;
    buf_init(&out);
    d->error_json(e, &out);
    d->stream_error(e, &out);
    if (!out.len)
        abort();
    buf_free(&out);
}

#endif
