/* dialect: the API dialects `baton serve` speaks, behind one small table of function pointers.
 *
 * The server handles every completion endpoint the same way (keys, routing, privacy, budgets,
 * fallback, ledger, audit); only the wire format differs. A dialect is:
 *   parse        body -> the normalized struct request (api/request.h), or a 400 api_error
 *   resp_*       a backend's event stream -> the dialect's answer: one JSON body, or a stream
 *                (OpenAI SSE, Anthropic's named SSE events, Ollama's NDJSON lines)
 *   error_json   an api_error in the dialect's error shape (OpenAI {"error": {...}}, Anthropic
 *                {"type": "error", "error": {...}}, Ollama {"error": "..."})
 *   stream_error the same, as the last bytes of a stream that already started
 *
 * api_error.type always holds OpenAI's error type (the server sets it); dialects with other
 * vocabularies map from the HTTP status. A dialect never knows about routing.
 */
#ifndef BATON_API_DIALECT_H
#define BATON_API_DIALECT_H

#include "api/openai.h"
#include "api/request.h"
#include "base/buf.h"

#include <stdint.h>

enum api_endpoint {
    API_OPENAI_CHAT,        /* POST /v1/chat/completions */
    API_OPENAI_COMPLETION,  /* POST /v1/completions */
    API_ANTHROPIC_MESSAGES, /* POST /v1/messages */
    API_OLLAMA_CHAT,        /* POST /api/chat */
    API_OLLAMA_GENERATE,    /* POST /api/generate */
};

struct api_resp; /* a dialect's per-response encoder state */

struct api_dialect {
    const char *name;        /* "openai", "anthropic", "ollama" */
    const char *stream_type; /* Content-Type of a streamed answer */
    /* On success *out is owned by the caller (request_free). */
    int (*parse)(const char *body, size_t len, struct request **out, struct api_error *e);
    /* req (borrowed) must outlive the response; model is reported as the answering model. */
    struct api_resp *(*resp_new)(const struct request *req, const char *model);
    /* Feeds one event (not EV_ERROR); streams append their bytes for the client to out. */
    void (*resp_event)(struct api_resp *r, const struct event *ev, struct buf *out);
    /* After EV_FINISH: the whole JSON body, or a stream's closing bytes. */
    void (*resp_finish)(struct api_resp *r, int64_t cost_microusd, struct buf *out);
    void (*resp_free)(struct api_resp *r);
    void (*error_json)(const struct api_error *e, struct buf *out);
    void (*stream_error)(const struct api_error *e, struct buf *out);
};

/* The dialect of an endpoint (static, never NULL). */
const struct api_dialect *api_dialect(enum api_endpoint ep);

/* A model the server offers, for listings (/v1/models, /api/tags, /api/show). */
struct api_model {
    const char *name;
    const char *owned_by; /* "baton-route", "baton-local", "baton-upstream" */
};

#endif
