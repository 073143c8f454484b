/* ledger: the record of every request and what it cost.
 *
 * One row per request: time, caller, route, tier, routing reason, tokens in and out, cost in
 * integer micro-dollars, latency and time to first token in milliseconds, HTTP status. Stored in
 * SQLite (WAL); appends are buffered and committed in batches (every ledger_flush, at most every
 * 200 ms or 256 rows) so the request path never waits on fsync. `baton cost` reads it back.
 *
 * Money: cost_microusd = ceil(tokens_in * price_in + tokens_out * price_out) / 1e6, prices in
 * micro-USD per 1M tokens (config.h), so a request's cost is exact to the micro-dollar.
 */
#ifndef BATON_GATEWAY_LEDGER_H
#define BATON_GATEWAY_LEDGER_H

#include "base/err.h"

#include <stdint.h>

struct ledger_row {
    int64_t ts_ms;         /* wall clock, ms since the epoch, when the request arrived */
    const char *request_id;
    const char *caller;    /* key name or client address; never a secret */
    const char *route;     /* NULL when a tier was asked for directly */
    const char *tier;
    const char *reason;
    int64_t tokens_in, tokens_out;
    int64_t cost_microusd;
    int64_t latency_ms, ttft_ms; /* ttft_ms -1 if no token was produced */
    int32_t status;        /* HTTP status the client got (200 even if a stream later failed: see
                              `error`) */
    const char *error;     /* NULL on success */
};

struct ledger;

/* Opens (creating if needed) the SQLite file at path. */
int ledger_open(const char *path, struct ledger **out, struct err *e);
/* Copies the row into the pending batch. */
int ledger_append(struct ledger *l, const struct ledger_row *row, struct err *e);
/* Commits pending rows. */
int ledger_flush(struct ledger *l, struct err *e);
/* Flushes and closes. */
void ledger_close(struct ledger *l);

/* The cost of tokens at prices in micro-USD per 1M tokens, rounded up to a micro-dollar. */
int64_t ledger_cost_microusd(int64_t tokens_in, int64_t tokens_out, int64_t price_in,
                             int64_t price_out);

#endif
