/* ollama: the Ollama dialect of baton's API (/api/chat, /api/generate, /api/tags, /api/show,
 * /api/version).
 *
 * Parsing translates a body into an OpenAI body that openai_parse_json turns into the normalized
 * request, so every backend, the privacy masking and the upstream pass-through see one shape:
 *   /api/chat      messages (system | user | assistant | tool; assistant tool_calls with object
 *                  arguments get ids, and tool turns answer them in order), tools (Ollama's are
 *                  OpenAI's function tools), stream (default true)
 *   /api/generate  prompt (+ system) as a one-turn chat through the model's template; with
 *                  "raw": true the prompt alone, as a completion (system ignored, as Ollama does)
 *   both           format "json" -> response_format json_object, a JSON schema -> json_schema
 *                  (the same constrained output as OpenAI's response_format); options
 *                  temperature [0, 2], top_p [0, 1], top_k (request->top_k), seed, num_predict
 *                  (<= 0: the tier's default), stop (up to 4); other options are ignored, as
 *                  Ollama ignores options a model does not use
 * Refused with a 400 naming the field: images, a custom template, suffix, a non-empty context,
 * another format string, more than 4 stop strings.
 *
 * Encoding: NDJSON. Each delta {"model", "created_at", "message": {"role": "assistant",
 * "content"}, "done": false} (generate: "response"); the last line (or the whole non-stream
 * answer) has "done": true, "done_reason" (stop | length), total_duration, load_duration (0),
 * prompt_eval_count, prompt_eval_duration, eval_count, eval_duration (nanoseconds) and, for chat,
 * the tool calls made, in Ollama's form {"function": {"name", "arguments": {...}}}.
 * Errors: {"error": "message"} with the HTTP status.
 */
#ifndef BATON_API_OLLAMA_H
#define BATON_API_OLLAMA_H

#include "api/dialect.h"

int ollama_parse_chat(const char *body, size_t len, struct request **out, struct api_error *e);
int ollama_parse_generate(const char *body, size_t len, struct request **out,
                          struct api_error *e);

struct api_resp *ollama_resp_new_chat(const struct request *req, const char *model);
struct api_resp *ollama_resp_new_generate(const struct request *req, const char *model);
void ollama_resp_event(struct api_resp *r, const struct event *ev, struct buf *out);
void ollama_resp_finish(struct api_resp *r, int64_t cost_microusd, struct buf *out);
void ollama_resp_free(struct api_resp *r);

void ollama_error_json(const struct api_error *e, struct buf *out);
/* An {"error": ...} line: how a stream that already started ends on a failure. */
void ollama_stream_error(const struct api_error *e, struct buf *out);

/* The version baton reports on GET /api/version: the Ollama API level it follows. */
#define OLLAMA_API_VERSION "0.6.4"

/* GET /api/tags: the models (routes and tiers) as Ollama lists them. */
void ollama_tags(const struct api_model *models, size_t n, struct buf *out);
/* POST /api/show {"model": name}: a minimal description of one of models; 400 for a bad body,
 * 404 for an unknown name. */
int ollama_show(const char *body, size_t len, const struct api_model *models, size_t n,
                struct buf *out, struct api_error *e);

#endif
