/* ledger: one SQLite row per request, and the totals `baton cost` reports (ledger.h).
 *
 * Money is integer micro-dollars everywhere (1 USD = 1,000,000 micro-USD); prices are micro-USD
 * per 1M tokens, so a request's cost is ceil((in * price_in + out * price_out) / 1e6) micro-USD,
 * computed in 128 bits (tokens and prices up to 2^63 each cannot overflow).
 *
 * Schema, version 1 (PRAGMA user_version = 1):
 *
 *   CREATE TABLE requests (
 *     id            INTEGER PRIMARY KEY,  -- insertion order
 *     ts_ms         INTEGER NOT NULL,     -- arrival, ms since the Unix epoch (UTC)
 *     request_id    TEXT,                 -- "chatcmpl-..."
 *     caller        TEXT,                 -- key name or client address, never a secret
 *     route         TEXT,                 -- NULL: the client named a tier
 *     tier          TEXT NOT NULL,        -- the tier that answered (or failed last)
 *     reason        TEXT,                 -- the routing reason (x-baton-route-reason)
 *     tokens_in     INTEGER NOT NULL,
 *     tokens_out    INTEGER NOT NULL,
 *     cost_microusd INTEGER NOT NULL,
 *     latency_ms    INTEGER NOT NULL,
 *     ttft_ms       INTEGER NOT NULL,     -- -1: no token was produced
 *     status        INTEGER NOT NULL,     -- HTTP status the client got
 *     error         TEXT                  -- NULL on success
 *   );
 *   CREATE INDEX requests_ts ON requests(ts_ms);
 *
 * A later version adds columns or tables and bumps user_version; a baton that finds a version
 * newer than its own refuses the file rather than guess.
 *
 * Durability: the database is in WAL mode with synchronous=FULL, so a committed batch survives a
 * process crash and a power loss. Appends only copy the row into memory; a batch is committed in
 * one transaction (one fsync) by ledger_flush, or by the append that fills LEDGER_BATCH_ROWS or
 * finds the oldest pending row LEDGER_FLUSH_INTERVAL_MS old. A crash therefore loses at most the
 * rows not yet flushed: under 256 rows, or about 200 ms of traffic if the server's timer runs.
 */
#include "gateway/ledger.h"

#include "base/alloc.h"
#include "base/buf.h"
#include "base/clock.h"
#include "base/log.h"

#include <errno.h>
#include <inttypes.h>
#include <sqlite3.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#define LEDGER_SCHEMA_VERSION 1
#define NO_STR SIZE_MAX

static const char g_schema[] =
    "CREATE TABLE requests ("
    " id INTEGER PRIMARY KEY,"
    " ts_ms INTEGER NOT NULL,"
    " request_id TEXT,"
    " caller TEXT,"
    " route TEXT,"
    " tier TEXT NOT NULL,"
    " reason TEXT,"
    " tokens_in INTEGER NOT NULL,"
    " tokens_out INTEGER NOT NULL,"
    " cost_microusd INTEGER NOT NULL,"
    " latency_ms INTEGER NOT NULL,"
    " ttft_ms INTEGER NOT NULL,"
    " status INTEGER NOT NULL,"
    " error TEXT);"
    "CREATE INDEX requests_ts ON requests(ts_ms);"
    "PRAGMA user_version = 1;";

/* A pending row: numbers inline, strings as offsets into ledger.strings (NO_STR: NULL). */
struct pending {
    int64_t ts_ms, tokens_in, tokens_out, cost_microusd, latency_ms, ttft_ms;
    int32_t status;
    size_t request_id, caller, route, tier, reason, error;
};

struct ledger {
    char *path;
    sqlite3 *db;
    sqlite3_stmt *insert;
    struct pending *rows;
    size_t n_rows, cap_rows;
    struct buf strings;      /* the pending rows' strings, NUL-separated */
    uint64_t oldest_ns;      /* clock_now_ns() when the oldest pending row was appended */
};

/* ---------------------------------------------------------------------------------------------
 * Money */

int64_t ledger_cost_microusd(int64_t tokens_in, int64_t tokens_out, int64_t price_in,
                             int64_t price_out)
{
    __extension__ typedef unsigned __int128 u128;
    u128 in = tokens_in > 0 ? (u128)tokens_in : 0, out = tokens_out > 0 ? (u128)tokens_out : 0;
    u128 pin = price_in > 0 ? (u128)price_in : 0, pout = price_out > 0 ? (u128)price_out : 0;
    u128 micro = (in * pin + out * pout + 999999) / 1000000;
    return micro > (u128)INT64_MAX ? INT64_MAX : (int64_t)micro;
}

char *ledger_format_usd(int64_t microusd, char *out, size_t size)
{
    uint64_t m = microusd < 0 ? (uint64_t)0 - (uint64_t)microusd : (uint64_t)microusd;
    char frac[8];
    snprintf(frac, sizeof frac, "%06" PRIu64, m % 1000000);
    int keep = 6;
    while (keep > 2 && frac[keep - 1] == '0')
        keep--;
    snprintf(out, size, "%s%" PRIu64 ".%.*s", microusd < 0 ? "-" : "", m / 1000000, keep, frac);
    return out;
}

/* ---------------------------------------------------------------------------------------------
 * Opening */

static int db_fail(struct err *e, const char *path, sqlite3 *db, const char *what)
{
    return err_set(e, "ledger %s: %s: %s", path, what, db ? sqlite3_errmsg(db) : "out of memory");
}

/* Reads PRAGMA user_version and whether any table exists. */
static int schema_state(sqlite3 *db, int *version, bool *has_tables)
{
    sqlite3_stmt *st;
    if (sqlite3_prepare_v2(db, "PRAGMA user_version", -1, &st, NULL) != SQLITE_OK)
        return -1;
    int rc = sqlite3_step(st);
    *version = rc == SQLITE_ROW ? sqlite3_column_int(st, 0) : 0;
    sqlite3_finalize(st);
    if (rc != SQLITE_ROW)
        return -1;
    if (sqlite3_prepare_v2(db, "SELECT count(*) FROM sqlite_master WHERE type = 'table'", -1, &st,
                           NULL) != SQLITE_OK)
        return -1;
    rc = sqlite3_step(st);
    *has_tables = rc == SQLITE_ROW && sqlite3_column_int(st, 0) > 0;
    sqlite3_finalize(st);
    return rc == SQLITE_ROW ? 0 : -1;
}

/* Checks an existing file is a ledger baton can read; creates the schema in an empty one if
 * create. */
static int check_schema(sqlite3 *db, const char *path, bool create, struct err *e)
{
    int version;
    bool has_tables;
    if (schema_state(db, &version, &has_tables))
        return db_fail(e, path, db, "cannot read the schema");
    if (version > LEDGER_SCHEMA_VERSION)
        return err_set(e, "ledger %s: schema version %d is newer than this baton's (%d); use a "
                          "newer baton or another file", path, version, LEDGER_SCHEMA_VERSION);
    if (version == LEDGER_SCHEMA_VERSION)
        return 0;
    if (has_tables)
        return err_set(e, "ledger %s: not a baton ledger (it has tables but no baton schema "
                          "version)", path);
    if (!create)
        return err_set(e, "ledger %s: empty, no requests recorded yet", path);
    char *msg = NULL;
    if (sqlite3_exec(db, g_schema, NULL, NULL, &msg) != SQLITE_OK) {
        err_set(e, "ledger %s: cannot create the schema: %s", path, msg ? msg : "?");
        sqlite3_free(msg);
        return -1;
    }
    return 0;
}

int ledger_open(const char *path, struct ledger **out, struct err *e)
{
    sqlite3 *db = NULL;
    if (sqlite3_open_v2(path, &db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE |
                                        SQLITE_OPEN_NOMUTEX, NULL) != SQLITE_OK) {
        db_fail(e, path, db, "cannot open");
        sqlite3_close(db);
        return -1;
    }
    sqlite3_busy_timeout(db, 5000);
    sqlite3_stmt *st = NULL;
    const char *mode = NULL;
    if (sqlite3_prepare_v2(db, "PRAGMA journal_mode = WAL", -1, &st, NULL) == SQLITE_OK &&
        sqlite3_step(st) == SQLITE_ROW)
        mode = (const char *)sqlite3_column_text(st, 0);
    bool wal = mode && strcmp(mode, "wal") == 0;
    if (!wal) {
        if (mode)
            err_set(e, "ledger %s: journal mode is '%s', not WAL", path, mode);
        else
            db_fail(e, path, db, "cannot switch to WAL");
    }
    sqlite3_finalize(st);
    if (!wal || check_schema(db, path, true, e)) {
        sqlite3_close(db);
        return -1;
    }
    char *msg = NULL;
    if (sqlite3_exec(db, "PRAGMA synchronous = FULL", NULL, NULL, &msg) != SQLITE_OK) {
        err_set(e, "ledger %s: %s", path, msg ? msg : "cannot set synchronous");
        sqlite3_free(msg);
        sqlite3_close(db);
        return -1;
    }
    struct ledger *l = xcalloc(1, sizeof *l);
    l->path = xstrdup(path);
    l->db = db;
    buf_init(&l->strings);
    if (sqlite3_prepare_v2(db,
                           "INSERT INTO requests (ts_ms, request_id, caller, route, tier, reason,"
                           " tokens_in, tokens_out, cost_microusd, latency_ms, ttft_ms, status,"
                           " error) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13)",
                           -1, &l->insert, NULL) != SQLITE_OK) {
        db_fail(e, path, db, "cannot prepare the insert");
        ledger_close(l);
        return -1;
    }
    *out = l;
    return 0;
}

/* ---------------------------------------------------------------------------------------------
 * Writing */

static size_t keep_str(struct ledger *l, const char *s)
{
    if (!s)
        return NO_STR;
    size_t off = l->strings.len;
    buf_append(&l->strings, s, strlen(s) + 1);
    return off;
}

static void bind_str(sqlite3_stmt *st, int i, const struct ledger *l, size_t off)
{
    if (off == NO_STR)
        sqlite3_bind_null(st, i);
    else
        sqlite3_bind_text(st, i, l->strings.data + off, -1, SQLITE_STATIC);
}

size_t ledger_pending(const struct ledger *l)
{
    return l->n_rows;
}

int ledger_flush(struct ledger *l, struct err *e)
{
    if (!l->n_rows)
        return 0;
    if (sqlite3_exec(l->db, "BEGIN IMMEDIATE", NULL, NULL, NULL) != SQLITE_OK)
        return db_fail(e, l->path, l->db, "cannot begin a transaction");
    for (size_t i = 0; i < l->n_rows; i++) {
        const struct pending *p = &l->rows[i];
        sqlite3_stmt *st = l->insert;
        sqlite3_bind_int64(st, 1, p->ts_ms);
        bind_str(st, 2, l, p->request_id);
        bind_str(st, 3, l, p->caller);
        bind_str(st, 4, l, p->route);
        bind_str(st, 5, l, p->tier);
        bind_str(st, 6, l, p->reason);
        sqlite3_bind_int64(st, 7, p->tokens_in);
        sqlite3_bind_int64(st, 8, p->tokens_out);
        sqlite3_bind_int64(st, 9, p->cost_microusd);
        sqlite3_bind_int64(st, 10, p->latency_ms);
        sqlite3_bind_int64(st, 11, p->ttft_ms);
        sqlite3_bind_int(st, 12, p->status);
        bind_str(st, 13, l, p->error);
        int rc = sqlite3_step(st);
        sqlite3_reset(st);
        sqlite3_clear_bindings(st);
        if (rc != SQLITE_DONE) {
            db_fail(e, l->path, l->db, "cannot insert");
            sqlite3_exec(l->db, "ROLLBACK", NULL, NULL, NULL);
            return -1;
        }
    }
    if (sqlite3_exec(l->db, "COMMIT", NULL, NULL, NULL) != SQLITE_OK) {
        db_fail(e, l->path, l->db, "cannot commit");
        sqlite3_exec(l->db, "ROLLBACK", NULL, NULL, NULL);
        return -1;
    }
    l->n_rows = 0;
    buf_clear(&l->strings);
    return 0;
}

int ledger_append(struct ledger *l, const struct ledger_row *row, struct err *e)
{
    if (l->n_rows >= LEDGER_MAX_PENDING)
        return err_set(e, "ledger %s: %d rows wait for a commit that keeps failing; this request "
                          "is not recorded", l->path, LEDGER_MAX_PENDING);
    if (l->n_rows == l->cap_rows) {
        l->cap_rows = l->cap_rows ? 2 * l->cap_rows : 64;
        l->rows = xrealloc_array(l->rows, l->cap_rows, sizeof *l->rows);
    }
    if (l->n_rows == 0)
        l->oldest_ns = clock_now_ns();
    struct pending *p = &l->rows[l->n_rows++];
    *p = (struct pending){
        .ts_ms = row->ts_ms, .tokens_in = row->tokens_in, .tokens_out = row->tokens_out,
        .cost_microusd = row->cost_microusd, .latency_ms = row->latency_ms,
        .ttft_ms = row->ttft_ms, .status = row->status,
    };
    p->request_id = keep_str(l, row->request_id);
    p->caller = keep_str(l, row->caller);
    p->route = keep_str(l, row->route);
    p->tier = keep_str(l, row->tier ? row->tier : "");
    p->reason = keep_str(l, row->reason);
    p->error = keep_str(l, row->error);
    uint64_t age_ms = (clock_now_ns() - l->oldest_ns) / 1000000;
    if (l->n_rows >= LEDGER_BATCH_ROWS || age_ms >= LEDGER_FLUSH_INTERVAL_MS)
        return ledger_flush(l, e);
    return 0;
}

void ledger_close(struct ledger *l)
{
    if (!l)
        return;
    struct err e;
    if (l->db && l->n_rows && ledger_flush(l, &e))
        log_error("%s (%zu rows lost)", e.msg, l->n_rows);
    sqlite3_finalize(l->insert);
    sqlite3_close(l->db);
    free(l->rows);
    buf_free(&l->strings);
    free(l->path);
    free(l);
}

/* ---------------------------------------------------------------------------------------------
 * Reading */

/* The total named name in *v (NULL names one too), added if absent. */
static struct cost_total *total_for(struct cost_total **v, size_t *n, const char *name)
{
    for (size_t i = 0; i < *n; i++)
        if ((*v)[i].name == name || ((*v)[i].name && name && !strcmp((*v)[i].name, name)))
            return &(*v)[i];
    *v = xrealloc_array(*v, *n + 1, sizeof **v);
    struct cost_total *t = &(*v)[(*n)++];
    memset(t, 0, sizeof *t);
    t->name = name ? xstrdup(name) : NULL;
    return t;
}

static void add_to(struct cost_total *t, int64_t tin, int64_t tout, int64_t cost, int64_t ref,
                   bool error)
{
    t->requests++;
    t->errors += error;
    t->tokens_in += tin;
    t->tokens_out += tout;
    t->cost_microusd += cost;
    t->ref_cost_microusd += ref;
}

static int by_name(const void *a, const void *b)
{
    const char *x = ((const struct cost_total *)a)->name, *y = ((const struct cost_total *)b)->name;
    if (!x || !y)
        return (x == NULL) - (y == NULL);
    return strcmp(x, y);
}

int ledger_report(const char *path, const struct ledger_query *q, struct cost_report *out,
                  struct err *e)
{
    memset(out, 0, sizeof *out);
    struct stat sb;
    if (stat(path, &sb) != 0)
        return err_set(e, "ledger %s: %s", path, strerror(errno));
    sqlite3 *db = NULL;
    if (sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY | SQLITE_OPEN_NOMUTEX, NULL) !=
        SQLITE_OK) {
        db_fail(e, path, db, "cannot open");
        sqlite3_close(db);
        return -1;
    }
    sqlite3_busy_timeout(db, 5000);
    sqlite3_stmt *st = NULL;
    if (check_schema(db, path, false, e)) {
        sqlite3_close(db);
        return -1;
    }
    if (sqlite3_prepare_v2(db, "SELECT tier, route, tokens_in, tokens_out, cost_microusd, status,"
                               " error IS NOT NULL, ts_ms FROM requests"
                               " WHERE ts_ms >= ?1 AND ts_ms < ?2",
                           -1, &st, NULL) != SQLITE_OK) {
        db_fail(e, path, db, "cannot query");
        sqlite3_close(db);
        return -1;
    }
    sqlite3_bind_int64(st, 1, q->since_ms);
    sqlite3_bind_int64(st, 2, q->until_ms);
    bool ref = q->ref_price_in >= 0 && q->ref_price_out >= 0;
    int rc;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        const char *tier = (const char *)sqlite3_column_text(st, 0);
        const char *route = (const char *)sqlite3_column_text(st, 1);
        int64_t tin = sqlite3_column_int64(st, 2), tout = sqlite3_column_int64(st, 3);
        int64_t cost = sqlite3_column_int64(st, 4);
        bool error = sqlite3_column_int(st, 5) >= 400 || sqlite3_column_int(st, 6);
        int64_t ts = sqlite3_column_int64(st, 7);
        int64_t rcost = ref ? ledger_cost_microusd(tin, tout, q->ref_price_in, q->ref_price_out)
                            : 0;
        add_to(&out->all, tin, tout, cost, rcost, error);
        add_to(total_for(&out->tiers, &out->n_tiers, tier ? tier : ""), tin, tout, cost, rcost,
               error);
        add_to(total_for(&out->routes, &out->n_routes, route), tin, tout, cost, rcost, error);
        if (out->all.requests == 1 || ts < out->first_ts_ms)
            out->first_ts_ms = ts;
        if (out->all.requests == 1 || ts > out->last_ts_ms)
            out->last_ts_ms = ts;
    }
    if (rc != SQLITE_DONE)
        db_fail(e, path, db, "cannot read");
    sqlite3_finalize(st);
    sqlite3_close(db);
    if (rc != SQLITE_DONE) {
        cost_report_free(out);
        return -1;
    }
    if (out->n_tiers)
        qsort(out->tiers, out->n_tiers, sizeof *out->tiers, by_name);
    if (out->n_routes)
        qsort(out->routes, out->n_routes, sizeof *out->routes, by_name);
    return 0;
}

void cost_report_free(struct cost_report *r)
{
    for (size_t i = 0; i < r->n_tiers; i++)
        free(r->tiers[i].name);
    for (size_t i = 0; i < r->n_routes; i++)
        free(r->routes[i].name);
    free(r->tiers);
    free(r->routes);
    memset(r, 0, sizeof *r);
}
