/* request: the one normalized request type and the one event stream of `baton serve`.
 *
 * Every API dialect (OpenAI chat/completions, Anthropic messages, Ollama chat/generate; see
 * api/dialect.h) parses its body into a `struct request`; the router decides on it; a backend
 * (local engine or remote upstream) executes it and reports back only through `struct event`s,
 * which the dialect encodes for the client (JSON, SSE, NDJSON). The router never knows whether a
 * tier is local or remote; a backend never knows which dialect the client spoke: the Anthropic and
 * Ollama dialects translate their bodies into the OpenAI shape (`body` is then that translation),
 * and `dialect` below is only that shape, chat or completion.
 *
 * Ownership: request_free releases everything a request holds, including `body` (the client's
 * JSON, kept so remote tiers can pass through fields baton does not model: tools,
 * response_format, ...). Events are borrowed: valid only during the emit callback.
 */
#ifndef BATON_API_REQUEST_H
#define BATON_API_REQUEST_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum dialect {
    DIALECT_OPENAI_CHAT,       /* messages: /v1/chat/completions, /v1/messages, /api/chat,
                                * /api/generate (the prompt as a user turn) */
    DIALECT_OPENAI_COMPLETION, /* a raw prompt: /v1/completions, /api/generate with raw */
};

enum role { ROLE_SYSTEM, ROLE_USER, ROLE_ASSISTANT, ROLE_TOOL, ROLE_DEVELOPER };

struct message {
    enum role role;
    char *content;      /* text; multi-part content is concatenated text parts ("" if none) */
    char *name;         /* NULL if absent */
    char *tool_call_id; /* role tool: the call answered; NULL if absent */
    json_t *tool_calls; /* role assistant: the calls it made, as sent; NULL if absent */
};

struct request {
    enum dialect dialect;
    char *id;             /* "chatcmpl-..." assigned by the server */
    char *model;          /* the name the client asked for: a tier or a route */
    struct message *messages;
    size_t n_messages;
    char *prompt;         /* completions: the prompt; NULL for chat */
    int32_t max_tokens;   /* -1: not set (the tier's default applies) */
    bool has_temperature, has_top_p, has_seed;
    float temperature;
    float top_p;
    int64_t seed;
    bool has_top_k;       /* Anthropic top_k, Ollama options.top_k: the local engine uses it; it is
                           * not in `body`, since OpenAI upstreams refuse unknown fields */
    int32_t top_k;        /* >= 1 when has_top_k */
    char **stop;          /* up to 4 stop strings */
    size_t n_stop;
    bool stream;
    bool include_usage;   /* stream_options.include_usage */
    bool logprobs;
    int32_t top_logprobs; /* 0..20 */
    char *user;           /* the caller's end-user id, if sent */
    /* features the router may match on */
    bool has_tools;
    bool has_response_format;
    json_t *body;         /* the client's JSON body (owned reference) */
};

void request_free(struct request *r);
/* Total bytes of message text (content of every message, or the prompt): what the length rules
 * of routes measure. */
size_t request_text_bytes(const struct request *r);
/* Concatenation of all message contents (or the prompt), separated by "\n", for keyword and
 * regex rules. Caller frees. */
char *request_text(const struct request *r);
const char *role_name(enum role r);

enum event_type {
    EV_DELTA,  /* new output text (complete UTF-8) and/or a pass-through delta object */
    EV_USAGE,  /* token counts; sent once, before EV_FINISH */
    EV_FINISH, /* generation ended normally; the last event of a call */
    EV_ERROR,  /* generation failed; the last event of a call */
};

struct token_logprob {
    const char *token; /* the token's text */
    size_t len;
    float logprob;
};

struct event {
    enum event_type type;
    /* EV_DELTA */
    const char *text;         /* may be NULL when only `delta` is set */
    size_t len;
    json_t *delta;            /* an OpenAI "delta" object from an upstream (tool_calls ...), or NULL */
    const struct token_logprob *logprob;  /* the sampled token, or NULL */
    const struct token_logprob *top;      /* n_top alternatives, best first */
    int n_top;
    /* EV_USAGE */
    int64_t prompt_tokens;
    int64_t completion_tokens;
    /* EV_FINISH */
    const char *finish_reason; /* "stop", "length", "tool_calls", "content_filter" */
    const char *stop_sequence; /* "stop" because of one of request->stop: which one (NULL when the
                                * model ended, or the backend cannot tell, as OpenAI upstreams) */
    /* EV_ERROR */
    int status;                /* HTTP status to answer with if nothing was sent yet */
    const char *error_type;    /* OpenAI error type: "invalid_request_error", "server_error" ... */
    const char *error_message;
};

#endif
