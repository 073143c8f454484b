/* ledger: the record of every request and what it cost.
 *
 * One row per request: time, caller, route, tier, routing reason, tokens in and out, cost in
 * integer micro-dollars, latency and time to first token in milliseconds, HTTP status. Stored in
 * SQLite (WAL; a file path) or PostgreSQL (a postgres:// URL; pg.h), behind the store table of
 * store.h. Appends are buffered and committed in batches by a writer thread (every 256 rows,
 * within ~200 ms of a row's arrival, or on ledger_flush), so the request path never waits on the
 * database or fsync. With a journal directory each append is also written to a journal file
 * (journal.h), so a settled row survives SIGKILL of the process and is committed by the next
 * start. `baton cost` reads it back.
 *
 * Money: cost_microusd = ceil((tokens_in * price_in + tokens_out * price_out) / 1e6), prices in
 * micro-USD per 1M tokens (config.h), so a request's cost is exact to the micro-dollar.
 *
 * Threads: append, flush and pending may be called from any thread. Readers
 * (ledger_report, `baton cost`) open the file separately and may run while a server writes: WAL
 * lets them read the last committed batch without blocking the writer.
 */
#ifndef BATON_GATEWAY_LEDGER_H
#define BATON_GATEWAY_LEDGER_H

#include "base/err.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define LEDGER_BATCH_ROWS 256        /* a full batch is committed at once */
#define LEDGER_FLUSH_INTERVAL_MS 200 /* rows are committed within about this long */
#define LEDGER_MAX_PENDING 16384     /* rows kept while the database refuses writes, unless
                                        ledger_set_max_pending says otherwise; beyond, an append
                                        is refused (and the row lost, with an error). The server
                                        stops serving before: ledger_has_room */

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

/* Opens (creating if needed) the ledger at target: a SQLite file (WAL mode, schema created or
 * checked: a newer schema version or a foreign database is an error) or a postgres:// URL (an
 * unreachable database is not an error here: the writer connects when it can, and
 * ledger_available says whether it can). journal_dir: NULL for no journal; else this
 * instance's journal is kept there and the rows of earlier runs' journals are replayed (they
 * are committed with the first batch). *out: ledger_close. */
int ledger_open(const char *target, const char *journal_dir, struct ledger **out, struct err *e);
/* Copies the row (strings included) into the pending batch and, with a journal, writes it there
 * (one write(2), no fsync: a few microseconds); never waits on the database. Returns -1 (row not
 * kept) only when ledger_max_pending rows already wait because commits keep failing. */
int ledger_append(struct ledger *l, const struct ledger_row *row, struct err *e);
/* Waits until every row appended before the call is committed; -1 if the commit failed (the
 * rows stay pending and are retried). */
int ledger_flush(struct ledger *l, struct err *e);
/* Rows appended but not yet committed. One atomic load (no lock): exact as of the last append
 * or commit; a read racing the writer may still count rows it is committing just now. */
size_t ledger_pending(const struct ledger *l);
/* Sets the most rows kept pending (n >= 1; LEDGER_MAX_PENDING until set) and with it the
 * high-water mark (backlog.h: backlog_high_water). For postgres.max_pending and tests; call it before
 * the first append. */
void ledger_set_max_pending(struct ledger *l, size_t n);
size_t ledger_max_pending(const struct ledger *l);
/* Whether the pending rows are below the high-water mark: false from the append that reaches it
 * until a commit brings them below again (each flip is logged once). One atomic load: for
 * admission, which refuses new requests while it is false. */
bool ledger_has_room(const struct ledger *l);
/* Whether the database took the last commit or answered the last ping (the writer pings about
 * once a second when idle; always true for SQLite). No I/O: for /health and fail-closed
 * admission. */
bool ledger_available(const struct ledger *l);
/* Flushes and closes; rows a failed final flush leaves are logged, and stay in the journal (if
 * any) for the next start. NULL is a no-op. */
void ledger_close(struct ledger *l);
/* What the ledger's caller spent, as ledger_spent, through the open ledger's target. For PostgreSQL
 * it fails at once (no I/O) while the writer finds the database down. */
int ledger_spent_live(struct ledger *l, const char *caller, int64_t since_ms, int64_t *microusd,
                      struct err *e);

/* Decodes one ledger journal line (journal.h) and calls fn with its entry id and row (strings
 * valid during the call). -1 (e) if it is not a ledger journal line. For replay and fuzzing. */
typedef int (*ledger_entry_fn)(void *arg, const char *entry_id, const struct ledger_row *row);
int ledger_journal_decode(const char *line, size_t len, ledger_entry_fn fn, void *arg,
                          struct err *e);

/* The cost of tokens at prices in micro-USD per 1M tokens, rounded up to a micro-dollar.
 * Negative counts or prices count as 0; a result beyond INT64_MAX saturates. */
int64_t ledger_cost_microusd(int64_t tokens_in, int64_t tokens_out, int64_t price_in,
                             int64_t price_out);
/* Formats micro-dollars as decimal USD without a currency sign: at least 2 decimals, at most 6,
 * no trailing zeros past the cents ("708.75", "0.000123", "-1.50", "0.00"). out: >= 32 bytes.
 * For x-baton-cost-usd and reports. Returns out. */
char *ledger_format_usd(int64_t microusd, char *out, size_t size);

/* ---- the read side (`baton cost`) ---- */

struct ledger_query {
    int64_t since_ms;       /* rows with ts_ms >= since_ms; INT64_MIN: all */
    int64_t until_ms;       /* and ts_ms < until_ms; INT64_MAX: all */
    int64_t ref_price_in;   /* prices of the reference tier (micro-USD per 1M tokens) that each */
    int64_t ref_price_out;  /* row's tokens are also costed at; -1: no reference */
};

struct cost_total {
    char *name;              /* tier or route; NULL: the requests that named a tier directly */
    int64_t requests;
    int64_t errors;          /* status >= 400 or an error recorded */
    int64_t tokens_in, tokens_out;
    int64_t cost_microusd;
    int64_t ref_cost_microusd; /* the same requests at the reference prices, each rounded up as
                                  it would have been billed; 0 without a reference */
};

struct cost_report {
    struct cost_total all;   /* name NULL */
    struct cost_total *tiers;  /* by tier, sorted by name */
    size_t n_tiers;
    struct cost_total *routes; /* by route, sorted by name, the NULL route last */
    size_t n_routes;
    struct cost_total *callers; /* by caller (key name or client address), sorted by name */
    size_t n_callers;
    int64_t first_ts_ms, last_ts_ms; /* of the rows counted; 0 when none */
};

/* Totals the ledger at path (a SQLite file opened read-only, which must exist, or a postgres://
 * URL) per tier and per route. *out: cost_report_free. */
int ledger_report(const char *path, const struct ledger_query *q, struct cost_report *out,
                  struct err *e);
void cost_report_free(struct cost_report *r);

/* What caller spent in requests that arrived at or after since_ms (committed rows). A missing
 * file is 0 spent; a postgres:// URL is read over a new connection. For budgets (limits.h). */
int ledger_spent(const char *path, const char *caller, int64_t since_ms, int64_t *microusd,
                 struct err *e);

#endif
