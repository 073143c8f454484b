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
 */
#ifndef BATON_GATEWAY_ROUTE_H
#define BATON_GATEWAY_ROUTE_H

#include "api/request.h"
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

#endif
