/* openai_up: the backend for a remote OpenAI-compatible upstream (OpenAI, vLLM, llama.cpp's
 * server, another baton, ...), a tier of kind "openai".
 *
 * Each call becomes one POST {base_url}/chat/completions (or /completions for the completions
 * dialect) on the loop, through a per-tier http_client (its own keep-alive pool). The body is
 * the client's own JSON passed through with four changes: `model` is the tier's upstream model,
 * `max_tokens` is the tier default when the client set neither max_tokens nor
 * max_completion_tokens, `stream` is true and `stream_options.include_usage` is true, so usage
 * is always known; the server re-assembles non-stream answers from the events. The upstream's
 * SSE chunks become EV_DELTA (the chunk's choices[0].delta passed through, its content as text,
 * its logprobs), then EV_USAGE and EV_FINISH at "data: [DONE]". A non-stream JSON answer is
 * translated to the same events.
 *
 * Reliability (docs/upstreams.md has the full rules): retries with exponential backoff and
 * jitter on connect errors, 429 (honouring Retry-After up to a cap) and 5xx, only before any
 * body of a successful response arrived; a circuit breaker per tier (healthy() and
 * START_UNAVAILABLE while open); after the first delta any failure ends in EV_ERROR 502 "upstream
 * stream broke: ...", never in a stream that looks complete.
 *
 * The API key is read from the environment variable named by api_key_env once, at creation; it
 * is sent only in the Authorization header and never logged or put in a message.
 */
#ifndef BATON_BACKEND_OPENAI_UP_H
#define BATON_BACKEND_OPENAI_UP_H

#include "backend/backend.h"
#include "base/err.h"
#include "gateway/config.h"

struct loop;

/* A backend for tier t (kind openai) on loop l. t is only read during the call: the backend
 * copies what it needs, including the name backend->name points to. NULL with e filled when the
 * tier is unusable (no base_url, the key's environment variable unset, curl unavailable).
 * Free with backend_free, before the loop. */
struct backend *openai_up_new(struct loop *l, const struct tier_config *t, struct err *e);

#endif
