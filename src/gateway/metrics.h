/* metrics: what GET /metrics serves, in the Prometheus text exposition format (version 0.0.4).
 *
 * The server calls metrics_record once per finished request with that request's numbers, and
 * metrics_inflight_add when a request starts and stops occupying a tier; metrics_render writes
 * every family:
 *
 *   baton_requests_total{route,tier,status}           counter
 *   baton_tokens_total{route,tier,direction="in|out"} counter
 *   baton_errors_total{route,tier,kind}               counter
 *   baton_cost_microusd_total{route,tier}             counter (integer micro-dollars)
 *   baton_request_duration_seconds{route,tier}        histogram, arrival to last byte
 *   baton_time_to_first_token_seconds{route,tier}     histogram, arrival to first token
 *   baton_inflight_requests{tier}                     gauge
 *
 * route is "" for requests that named a tier directly; tier is "" for requests refused before a
 * tier was chosen (unknown model, bad body).
 *
 * Threads: a registry is used from one thread (the server's loop thread, which both records and
 * renders); there are no locks. Lookups are linear in the number of label combinations, which is
 * small (routes x tiers x statuses).
 */
#ifndef BATON_GATEWAY_METRICS_H
#define BATON_GATEWAY_METRICS_H

#include "base/buf.h"

#include <stdint.h>

struct metrics;

/* The numbers of one finished request. Strings are borrowed for the call. */
struct metrics_request {
    const char *route;      /* NULL: a tier was asked for directly */
    const char *tier;       /* NULL: refused before a tier was chosen */
    int status;             /* HTTP status the client got */
    const char *error_kind; /* NULL on success; else a short fixed word ("timeout", "upstream",
                               "rate_limited", "overloaded", "bad_request", ...) */
    int64_t tokens_in, tokens_out;
    int64_t cost_microusd;
    double duration_s;      /* arrival to the last byte sent */
    double ttft_s;          /* arrival to the first token; < 0: no token was produced */
};

struct metrics *metrics_new(void);
void metrics_free(struct metrics *m);

void metrics_record(struct metrics *m, const struct metrics_request *r);
/* Adds delta (+1 when a request starts on tier, -1 when it ends) to the in-flight gauge. */
void metrics_inflight_add(struct metrics *m, const char *tier, int delta);
/* Appends the exposition text of every family to out. */
void metrics_render(const struct metrics *m, struct buf *out);

#endif
