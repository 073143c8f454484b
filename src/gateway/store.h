/* store: the tables of functions behind the ledger and the audit trail (STYLE.md 6).
 *
 * ledger.c and audit.c own everything that is the same for every database: the pending rows, the
 * journal (journal.h), the writer thread and its batching, the audit chain, the reports and
 * verify. A store only moves rows in and out of one database. Two implement these tables: SQLite
 * (a file path; in ledger.c and audit.c) and PostgreSQL (a postgres:// or postgresql:// URL;
 * pg.c). ledger_store_open / audit_store_open pick one from the target's shape.
 *
 * Every row carries an entry_id, unique across instances ("<16 hex of the instance>-<counter>"),
 * and a store keeps at most one row per entry_id: a row replayed from a journal after a crash
 * that had in fact been committed is skipped, so replays are safe. (request_id is not unique
 * across instances: it is a per-process counter and the second.)
 *
 * Threads: one handle is used by one thread at a time (the writer thread, or a CLI command).
 */
#ifndef BATON_GATEWAY_STORE_H
#define BATON_GATEWAY_STORE_H

#include "base/err.h"
#include "gateway/ledger.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct ledger_entry {
    const char *entry_id;
    struct ledger_row row;
};

typedef int (*ledger_scan_fn)(void *arg, const struct ledger_row *row);

struct ledger_store_ops {
    const char *name; /* "sqlite", "postgres" */
    /* Inserts the rows in one transaction; rows whose entry_id is stored already are skipped. On
     * failure nothing is inserted. */
    int (*insert)(void *db, const struct ledger_entry *rows, size_t n, struct err *e);
    /* Calls fn for every row with since_ms <= ts_ms < until_ms, in no particular order; a
     * non-zero return from fn stops the scan and is returned. */
    int (*scan)(void *db, int64_t since_ms, int64_t until_ms, ledger_scan_fn fn, void *arg,
                struct err *e);
    /* Sum of cost_microusd of caller's rows with ts_ms >= since_ms. */
    int (*spent)(void *db, const char *caller, int64_t since_ms, int64_t *microusd, struct err *e);
    /* Optional (NULL: always up): a cheap round trip; false when the database is unreachable. */
    bool (*ping)(void *db);
    void (*close)(void *db);
};

/* One stored audit record (all strings borrowed). */
struct audit_stored {
    int64_t seq, ts_ms;
    const char *entry_id;  /* NULL in stores written before entry ids */
    const char *record;    /* canonical JSON, "seq" first */
    const char *prev_hash, *hash;
};

typedef int (*audit_scan_fn)(void *arg, const struct audit_stored *r);

struct audit_store_ops {
    const char *name;
    /* Begins a transaction that holds the chain: no other writer, in this process or another,
     * can append until commit or rollback. *head_seq, head_hash: the last record (0 and 64
     * zeros when there is none). */
    int (*begin)(void *db, int64_t *head_seq, char head_hash[65], struct err *e);
    /* known[i] = whether ids[i] is stored already (inside the transaction). */
    int (*known)(void *db, const char *const *ids, size_t n, bool *known, struct err *e);
    int (*insert)(void *db, const struct audit_stored *rows, size_t n, struct err *e);
    int (*commit)(void *db, struct err *e);
    void (*rollback)(void *db);
    /* Calls fn for every record with ts_ms >= since_ms in seq order (INT64_MIN: all). */
    int (*scan)(void *db, int64_t since_ms, audit_scan_fn fn, void *arg, struct err *e);
    bool (*ping)(void *db); /* optional, as for the ledger */
    void (*close)(void *db);
};

/* Opens the store target names: a postgres:// or postgresql:// URL, else a SQLite path. create:
 * open for writing, creating the schema if missing; else the store must exist. */
int ledger_store_open(const char *target, bool create, const struct ledger_store_ops **ops,
                      void **db, struct err *e);
int audit_store_open(const char *target, bool create, const struct audit_store_ops **ops,
                     void **db, struct err *e);

#endif
