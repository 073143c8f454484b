/* backlog: the rows a store (the ledger, the audit trail) keeps in memory while its commits fail,
 * counted so that the server can stop serving before a served request's row would be refused.
 *
 * max      appends beyond are refused (the store's own cap unless set: postgres.max_pending)
 * mark     backlog_high_water(max): from here on `room` is false and the server refuses new
 *          completion requests until the writer has committed the backlog below it again
 * n        rows waiting: appended and not yet committed, those being committed included
 *
 * The store changes max and n under its own lock (backlog_set_max, backlog_count); the server
 * reads them without one (backlog_pending, backlog_room, backlog_max: atomic loads, no lock on
 * the request path). Each flip of `room` is logged once. */
#ifndef BATON_GATEWAY_BACKLOG_H
#define BATON_GATEWAY_BACKLOG_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>

/* The reserve between the high-water mark and the cap takes the rows still to come once the mark
 * is crossed: those of the requests already in flight (at most server.max_connections, 1024 by
 * default, one row each) and those of the refusals themselves. 1024 rows, or a quarter of a
 * small cap (so a test's cap of 40 has its mark at 30). The server also checks the cap itself
 * against the requests in flight (server.c), so the reserve is what keeps refusals recorded, not
 * what keeps served requests recorded. */
#define BACKLOG_RESERVE_ROWS 1024

size_t backlog_high_water(size_t max);

struct backlog {
    const char *store; /* "ledger" or "audit", for the log */
    const char *name;  /* the store's display name, borrowed for the backlog's lifetime */
    const char *rows;  /* "rows" or "records" */
    _Atomic size_t max, n;
    size_t mark;
    atomic_bool room;
};

/* store, name and rows are borrowed. */
void backlog_init(struct backlog *b, const char *store, const char *name, const char *rows,
                  size_t max);
/* Under the store's lock: a new cap (0 counts as 1) and with it the mark. */
void backlog_set_max(struct backlog *b, size_t max);
/* Under the store's lock: n rows now wait; flips (and logs) `room` when n crosses the mark. */
void backlog_count(struct backlog *b, size_t n);

static inline size_t backlog_pending(const struct backlog *b) { return atomic_load(&b->n); }
static inline size_t backlog_max(const struct backlog *b) { return atomic_load(&b->max); }
static inline bool backlog_room(const struct backlog *b) { return atomic_load(&b->room); }

#endif
