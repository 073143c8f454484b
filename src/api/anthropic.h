/* anthropic: the Anthropic Messages dialect of baton's API (POST /v1/messages).
 *
 * Parsing validates a Messages body the way Anthropic's API does for what baton supports, and
 * translates it into an OpenAI chat body that openai_parse_json turns into the normalized request
 * (so every backend, the privacy masking and the upstream pass-through see one shape):
 *   system (string or text blocks)        -> a leading system message
 *   messages[].content string / blocks    -> text parts; role user | assistant only
 *     tool_use blocks (assistant)         -> tool_calls {id, function {name, arguments: JSON}}
 *     tool_result blocks (user)           -> role "tool" messages, before the user's own text
 *   max_tokens (required), temperature [0, 1], top_p, top_k (request->top_k, local tiers only),
 *   stop_sequences (up to 4), stream, metadata.user_id -> user,
 *   tools {name, description, input_schema} -> function tools; tool_choice auto|any|tool|none
 * Refused with a 400 naming the field: image, document, thinking and other block types, server
 * tools, extended thinking, mcp_servers.
 *
 * Encoding: a Message object {"id": "msg_...", "type": "message", "content": [text and tool_use
 * blocks], "stop_reason": end_turn | max_tokens | stop_sequence | tool_use, "stop_sequence",
 * "usage": {input_tokens, output_tokens}}; streams are SSE with `event:` lines: message_start,
 * ping, content_block_start / _delta (text_delta, input_json_delta) / _stop, message_delta
 * (stop_reason and usage), message_stop. Errors: {"type": "error", "error": {"type", "message"}},
 * the type following the HTTP status (400 invalid_request_error, 401 authentication_error, 403
 * permission_error, 404 not_found_error, 413 request_too_large, 429 rate_limit_error, 503
 * overloaded_error, other 5xx api_error).
 */
#ifndef BATON_API_ANTHROPIC_H
#define BATON_API_ANTHROPIC_H

#include "api/dialect.h"

int anthropic_parse(const char *body, size_t len, struct request **out, struct api_error *e);

struct api_resp *anthropic_resp_new(const struct request *req, const char *model);
void anthropic_resp_event(struct api_resp *r, const struct event *ev, struct buf *out);
void anthropic_resp_finish(struct api_resp *r, int64_t cost_microusd, struct buf *out);
void anthropic_resp_free(struct api_resp *r);

/* Anthropic's error type for an HTTP status (static string). */
const char *anthropic_error_type(int status);
void anthropic_error_json(const struct api_error *e, struct buf *out);
/* `event: error` with the error JSON: how a stream that already started ends on a failure. */
void anthropic_stream_error(const struct api_error *e, struct buf *out);

#endif
