/* backend: the one interface behind every tier.
 *
 * A backend executes requests: the local engine (local.c) or a remote OpenAI-compatible upstream
 * (openai_up.c). The server starts a `struct call` on a backend; the backend reports progress
 * only through call->emit, always on the event loop thread, ending with exactly one EV_FINISH or
 * EV_ERROR. backend_cancel (the client went away, or a fallback gave up on this call) stops the
 * work as soon as possible; after it returns, emit is never called again for that call.
 *
 * Ownership: the caller owns the call and the request it points to, and keeps both alive until
 * the final event has been emitted or backend_cancel has returned. Backends own their private
 * per-call state (call->impl) and free it at the final event or on cancel.
 */
#ifndef BATON_BACKEND_BACKEND_H
#define BATON_BACKEND_BACKEND_H

#include "api/request.h"
#include "base/err.h"

#include <stdbool.h>
#include <stdint.h>

struct loop;
struct backend;
struct call;

typedef void (*call_emit_fn)(struct call *c, const struct event *ev);

struct call {
    const struct request *req;
    struct backend *backend;
    call_emit_fn emit;
    void *user;   /* the caller's context */
    void *impl;   /* the backend's per-call state */
    /* START_BAD_REQUEST: the OpenAI error's param and code (static strings), set by the backend
     * when the fault is not the prompt's length; NULL: "messages", "context_length_exceeded". */
    const char *error_param, *error_code;
};

/* Why a call could not start, so the server can answer with the right status or fall back. */
enum start_error {
    START_OK = 0,
    START_BAD_REQUEST,  /* 400: e.g. prompt longer than the context (message names the numbers) */
    START_BUSY,         /* 503 + Retry-After: queue full */
    START_UNAVAILABLE,  /* the tier cannot serve now (circuit open, dead): try the next tier */
};

struct backend_ops {
    const char *kind; /* "local", "openai" */
    /* Begins c. On failure returns the reason and fills e; emit is then never called. */
    enum start_error (*start)(struct backend *b, struct call *c, struct err *e);
    void (*cancel)(struct backend *b, struct call *c);
    /* Health for /health and routing: true if the tier should be tried. Optional (NULL: true). */
    bool (*healthy)(struct backend *b);
    void (*free)(struct backend *b);
};

struct backend {
    const struct backend_ops *ops;
    const char *name;  /* the tier's name, owned by the config */
    struct loop *loop; /* where emits happen */
    void *impl;
};

static inline enum start_error backend_start(struct backend *b, struct call *c, struct err *e)
{
    c->backend = b;
    return b->ops->start(b, c, e);
}

static inline void backend_cancel(struct backend *b, struct call *c) { b->ops->cancel(b, c); }

static inline bool backend_healthy(struct backend *b)
{
    return !b->ops->healthy || b->ops->healthy(b);
}

static inline void backend_free(struct backend *b)
{
    if (b)
        b->ops->free(b);
}

#endif
