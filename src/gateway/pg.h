/* pg: the PostgreSQL store of the ledger and the audit trail (store.h), through libpq.
 *
 * Target: a postgres:// or postgresql:// URL in libpq's syntax (user, password, host, port,
 * database, ?sslmode=...&host=/unix/socket/dir ...). Messages and logs name the database as
 * "host:port/dbname", never with the user or the password.
 *
 * Schema (created if missing, in one transaction under an advisory lock so instances starting
 * together do not race; versions checked, a newer one is refused):
 *
 *   baton_schema (store TEXT PRIMARY KEY, version INTEGER)      -- 'ledger' 1, 'audit' 1
 *   baton_ledger (id BIGSERIAL PRIMARY KEY, entry_id TEXT UNIQUE NOT NULL, ts_ms BIGINT, request_id,
 *                 caller, route, tier, reason, tokens_in, tokens_out, cost_microusd, latency_ms,
 *                 ttft_ms, status, error)           -- the SQLite ledger's columns, plus entry_id
 *   baton_audit  (seq BIGINT PRIMARY KEY, entry_id TEXT UNIQUE, ts_ms BIGINT, record TEXT,
 *                 prev_hash TEXT, hash TEXT)        -- the SQLite trail's columns, plus entry_id
 *
 * Writes: a ledger batch is one transaction of multi-row INSERT ... ON CONFLICT (entry_id) DO
 * NOTHING. An audit batch holds pg_advisory_xact_lock(AUDIT_LOCK) from begin to commit, so the
 * writers of every instance append to one chain one batch at a time (audit.c does the chaining).
 *
 * Availability: a handle keeps one connection. When it breaks (or cannot be made) the failure is
 * logged once with the address, every call fails at once without I/O, and a new connection is
 * tried at most once a second; success is logged too. The server opens its stores even when the
 * database is down (they connect when it is back); the CLI needs it up.
 */
#ifndef BATON_GATEWAY_PG_H
#define BATON_GATEWAY_PG_H

#include "base/err.h"
#include "gateway/store.h"

#include <stdbool.h>
#include <stddef.h>

/* Whether target is a PostgreSQL URL (postgres:// or postgresql://) rather than a file path. */
bool pg_is_url(const char *target);
/* Parses url as libpq does; addr (may be NULL) gets "host:port/dbname". -1 (e) if libpq refuses
 * it. */
int pg_url_check(const char *url, char *addr, size_t addr_size, struct err *e);
/* How logs and messages name a store target: "postgres host:port/db" for a URL (never its user
 * or password), the path otherwise. */
void pg_target_name(const char *target, char *out, size_t n);

extern const struct ledger_store_ops pg_ledger_ops;
extern const struct audit_store_ops pg_audit_ops;

/* create: the server's writer (connect now if possible, else later; create the schema);
 * otherwise the database must be reachable and hold the store. *db: ops->close. */
int pg_ledger_open(const char *url, bool create, void **db, struct err *e);
int pg_audit_open(const char *url, bool create, void **db, struct err *e);

#endif
