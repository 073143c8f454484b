/* dialect: the table of API dialects (see dialect.h); OpenAI's entries adapt openai.h. */
#include "api/dialect.h"

#include "api/anthropic.h"
#include "api/ollama.h"
#include "base/alloc.h"

static int openai_chat_parse(const char *body, size_t len, struct request **out,
                             struct api_error *e)
{
    return openai_parse(DIALECT_OPENAI_CHAT, body, len, out, e);
}

static int openai_completion_parse(const char *body, size_t len, struct request **out,
                                   struct api_error *e)
{
    return openai_parse(DIALECT_OPENAI_COMPLETION, body, len, out, e);
}

static struct api_resp *openai_new(const struct request *req, const char *model)
{
    struct openai_resp *r = xmalloc(sizeof *r);
    openai_resp_init(r, req, model);
    return (struct api_resp *)r;
}

static void openai_event(struct api_resp *r, const struct event *ev, struct buf *out)
{
    openai_resp_event((struct openai_resp *)r, ev, out);
}

static void openai_finish(struct api_resp *r, int64_t cost_microusd, struct buf *out)
{
    ((struct openai_resp *)r)->cost_microusd = cost_microusd;
    openai_resp_finish((struct openai_resp *)r, out);
}

static void openai_free(struct api_resp *r)
{
    openai_resp_free((struct openai_resp *)r);
    free(r);
}

static const struct api_dialect dialects[] = {
    [API_OPENAI_CHAT] = {"openai", "text/event-stream", openai_chat_parse, openai_new,
                         openai_event, openai_finish, openai_free, api_error_json,
                         openai_stream_error},
    [API_OPENAI_COMPLETION] = {"openai", "text/event-stream", openai_completion_parse, openai_new,
                               openai_event, openai_finish, openai_free, api_error_json,
                               openai_stream_error},
    [API_ANTHROPIC_MESSAGES] = {"anthropic", "text/event-stream", anthropic_parse,
                                anthropic_resp_new, anthropic_resp_event, anthropic_resp_finish,
                                anthropic_resp_free, anthropic_error_json,
                                anthropic_stream_error},
    [API_OLLAMA_CHAT] = {"ollama", "application/x-ndjson", ollama_parse_chat,
                         ollama_resp_new_chat, ollama_resp_event, ollama_resp_finish,
                         ollama_resp_free, ollama_error_json, ollama_stream_error},
    [API_OLLAMA_GENERATE] = {"ollama", "application/x-ndjson", ollama_parse_generate,
                             ollama_resp_new_generate, ollama_resp_event, ollama_resp_finish,
                             ollama_resp_free, ollama_error_json, ollama_stream_error},
};

const struct api_dialect *api_dialect(enum api_endpoint ep)
{
    return (unsigned)ep < sizeof dialects / sizeof *dialects ? &dialects[ep] : &dialects[0];
}
