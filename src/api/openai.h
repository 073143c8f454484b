/* openai: the OpenAI dialect of baton's API -- request bodies in, responses out.
 *
 * Parsing validates the way OpenAI's API does (types, ranges, required fields) and turns a
 * body into the normalized `struct request`; every refusal is an `api_error` carrying the
 * HTTP status, OpenAI's error type, the offending parameter and a message a developer can act on.
 * Encoding turns the event stream of a backend into a chat.completion / text_completion JSON
 * object, or into `chat.completion.chunk` SSE events ending with `data: [DONE]`.
 *
 * Error body shape (OpenAI's): {"error": {"message": ..., "type": ..., "param": ..., "code": ...}}
 */
#ifndef BATON_API_OPENAI_H
#define BATON_API_OPENAI_H

#include "api/request.h"
#include "base/buf.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct api_error {
    int status;          /* 400, 404, 413, 429, 500, 502, 503, 504 ... */
    const char *type;    /* "invalid_request_error", "server_error", ... (static string) */
    const char *param;   /* offending parameter or NULL (static string) */
    const char *code;    /* machine code or NULL (static string): "model_not_found" ... */
    char message[512];
};

/* Fills e and returns -1, for `return api_error_set(...)`. */
int api_error_set(struct api_error *e, int status, const char *type, const char *param,
                  const char *code, const char *fmt, ...) __attribute__((format(printf, 6, 7)));
/* Appends the OpenAI error JSON for e to out. */
void api_error_json(const struct api_error *e, struct buf *out);

/* Parses a /v1/chat/completions (DIALECT_OPENAI_CHAT) or /v1/completions body. On success *out is
 * owned by the caller (request_free); its id is assigned here. */
int openai_parse(enum dialect d, const char *body, size_t len, struct request **out,
                 struct api_error *e);

/* The same from an already parsed body; takes ownership of root (it becomes request->body, or is
 * freed on failure). The Anthropic and Ollama dialects translate their bodies into an OpenAI chat
 * or completions body and finish through here, so every backend sees one shape. */
int openai_parse_json(enum dialect d, json_t *root, struct request **out, struct api_error *e);

/* ---- responses ---- */

/* Accumulates a backend's events into one response; also the SSE encoder when streaming.
 * Usage: openai_resp_init; for each event openai_resp_event (which, when streaming, appends SSE
 * bytes for the client to out); at the end openai_resp_finish (non-stream: the whole JSON body;
 * stream: the final usage chunk if asked for, and "data: [DONE]"). */
struct openai_resp {
    const struct request *req;
    const char *model;        /* what to report as "model": the tier that answered */
    int64_t created;          /* unix seconds */
    struct buf content;       /* non-stream: accumulated text */
    json_t *tool_calls;       /* non-stream: accumulated pass-through tool calls, or NULL */
    json_t *logprobs;         /* non-stream: accumulated logprobs content array, or NULL */
    const char *finish_reason;
    int64_t prompt_tokens, completion_tokens;
    bool have_usage;
    bool sent_role;           /* stream: the first chunk carries the role */
    int64_t cost_microusd;    /* reported in usage as "cost_usd" when >= 0 */
};

void openai_resp_init(struct openai_resp *r, const struct request *req, const char *model);
void openai_resp_free(struct openai_resp *r);
/* Feeds one event; for streams, appends the SSE chunk(s) to out. EV_ERROR is not handled here
 * (see openai_stream_error). */
void openai_resp_event(struct openai_resp *r, const struct event *ev, struct buf *out);
/* Completes the response into out (see above). */
void openai_resp_finish(struct openai_resp *r, struct buf *out);
/* A stream that fails after it started ends with an explicit error event, so a client never
 * mistakes it for a complete answer: `data: {"error": {...}}` then no [DONE]. */
void openai_stream_error(const struct api_error *e, struct buf *out);

/* Helpers the other dialects share. */
/* What a JSON value is, for error messages: "an object", "a string", "null", ... (static). */
const char *openai_json_type_name(const json_t *v);
/* A JSON string of s[0..n), invalid UTF-8 replaced by U+FFFD. Caller owns the result. */
json_t *openai_json_text(const char *s, size_t n);
/* Merges a streamed OpenAI tool_calls delta array into *acc (created on first use), by "index".
 * Deltas with an index outside [0, OPENAI_MAX_TOOL_CALLS) are dropped. */
#define OPENAI_MAX_TOOL_CALLS 128
void openai_merge_tool_calls(json_t **acc, const json_t *delta_calls);

#endif
