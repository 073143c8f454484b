/* route: which tier answers a request.
 *
 * Decision order: (1) the request's `model` names a tier -> that tier, reason "tier requested";
 * (2) it names a route -> the route's strategy decides; (3) otherwise the request is refused
 * (404, model not found). A strategy is a small table of function pointers, so the rules
 * strategy of this file and the learned router (its own issue) plug in side by side; a
 * strategy only ever sees the normalized request, never the backends.
 *
 * The rules strategy walks the route's rules in order; the first rule whose every condition
 * holds (min/max message length, regex, any keyword, needed features) picks its tier; no match
 * picks the route's default. Reasons read like "rule code: regex matched" or "default: no rule
 * matched", and are what x-baton-route-reason carries.
 *
 * The learned strategy scores the request's text (route_learned_text) with a router file
 * (src/router/rmodel.h): score = P(the weak tier's answer is as good as the strong tier's).
 * The route's strong_fraction becomes a threshold once, when the router is built (the score
 * under which that share of the router's calibration mix falls); a request scoring under it
 * goes to the strong tier. Reasons read like "learned: score 0.412 < threshold 0.533 -> strong
 * (cloud)". Deciding costs one pass over at most 8 KB of text and no allocation.
 *
 * Threads: a router keeps per-route scratch (PCRE2 match data, a JIT stack, the learned
 * router's feature buffer) so that deciding never allocates; one router is used from one thread
 * at a time (the server's loop thread).
 * Build one router per thread to decide from several.
 */
#ifndef BATON_GATEWAY_ROUTE_H
#define BATON_GATEWAY_ROUTE_H

#include "api/request.h"
#include "base/buf.h"
#include "base/err.h"
#include "gateway/config.h"

#include <stddef.h>

#define ROUTE_MAX_TIERS 8

struct route_decision {
    const char *route;                    /* route name, or NULL when a tier was asked for */
    const char *tiers[ROUTE_MAX_TIERS];   /* the chosen tier, then fallbacks, in order */
    size_t n_tiers;
    char reason[256];                     /* human-readable, one line, no secrets */
};

struct router;

/* Compiles every route of cfg (regexes, keyword tables). cfg must outlive the router. */
int router_new(const struct config *cfg, struct router **out, struct err *e);
void router_free(struct router *r);

/* Decides for req. Returns 0, or -1 with e filled when the model names neither a tier nor a
 * route (e says which names exist). Runs on the hot path: no allocation, microseconds. */
int router_decide(const struct router *r, const struct request *req, struct route_decision *d,
                  struct err *e);
/* Decides as router_decide, and appends to trace a readable account of how: what the model
 * names, and for a route every rule evaluated, each condition and whether it held (for `baton
 * route --explain`). The decision is the same as router_decide's. Allocates: not for the hot
 * path. */
int router_explain(const struct router *r, const struct request *req, struct route_decision *d,
                   struct buf *trace, struct err *e);

/* The text the learned strategy scores (borrowed from req): the content of the last user
 * message of a chat request, the prompt of a completion; "" when there is neither. Routing data
 * are single prompts, so earlier turns and system prompts do not take part. */
const char *route_learned_text(const struct request *req, size_t *len);

/* The router file name meaning the one compiled into baton (models/router/). */
#define ROUTE_LEARNED_BUILTIN "builtin"
/* 0 if path (or ROUTE_LEARNED_BUILTIN) loads as a router file; else -1 with e naming the
 * problem (for config.c). */
int route_learned_check(const char *path, struct err *e);

/* ---- strategies ----
 * A route's `strategy` names one of these. compile builds the strategy's state from the route's
 * config (cfg and rc outlive the state); decide returns the chosen tier's name (borrowed from
 * cfg) and writes a one-line reason (printable ASCII) into reason; trace is NULL on the hot path,
 * where decide must not allocate, and otherwise receives the explanation. */
struct route_strategy_ops {
    const char *name;
    int (*compile)(const struct config *cfg, const struct route_config *rc, void **state,
                   struct err *e);
    const char *(*decide)(void *state, const struct request *req, char *reason,
                          size_t reason_size, struct buf *trace);
    void (*free_state)(void *state);
};

/* 0 if name is a known strategy; else -1 with e listing the known ones (for config.c). */
int route_strategy_check(const char *name, struct err *e);
/* 0 if pattern compiles as a rule regex (PCRE2, UTF-8); else -1 with PCRE2's message and the
 * offset (for config.c). */
int route_regex_check(const char *pattern, struct err *e);

#endif
