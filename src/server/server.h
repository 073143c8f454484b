/* server: `baton serve` -- the HTTP endpoint wired to routing, backends, the ledger and metrics.
 *
 * Endpoints: POST /v1/chat/completions, POST /v1/completions, GET /v1/models, GET /health,
 * GET /metrics. Per request: parse (api/openai.c) -> decide (gateway/route.c) -> start the chosen
 * tier's backend, falling back along the route's tiers while nothing has reached the client ->
 * encode events back (JSON or SSE) -> record a ledger row and metrics. Every answer carries
 * x-baton-tier, x-baton-route-reason and x-baton-cost-usd (for streams, a trailer and the cost
 * in the final usage chunk, since the cost is known only at the end).
 */
#ifndef BATON_SERVER_SERVER_H
#define BATON_SERVER_SERVER_H

#include "base/err.h"
#include "gateway/config.h"

struct server;

/* Builds everything cfg describes (loads local models, connects nothing yet) and listens.
 * cfg must outlive the server. */
int server_new(const struct config *cfg, struct server **out, struct err *e);
/* The port actually bound (useful with port 0). */
int server_port(const struct server *s);
/* Runs the event loop until server_stop (or SIGINT/SIGTERM when installed by the CLI). */
int server_run(struct server *s);
/* Thread- and signal-safe. */
void server_stop(struct server *s);
void server_free(struct server *s);

#endif
