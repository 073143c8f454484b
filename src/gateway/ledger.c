/* ledger: one SQLite row per request, and the totals `baton cost` reports (ledger.h).
 *
 * Money is integer micro-dollars everywhere (1 USD = 1,000,000 micro-USD); prices are micro-USD
 * per 1M tokens, so a request's cost is ceil((in * price_in + out * price_out) / 1e6) micro-USD,
 * computed in 128 bits (tokens and prices up to 2^63 each cannot overflow).
 *
 * This file holds what every store shares (pending rows, the writer thread's loop, reports) and
 * the SQLite store; pg.c holds the PostgreSQL one (store.h), writer.c the thread's plumbing that
 * the audit trail shares (lock, flush, journal, entry ids).
 *
 * SQLite schema, version 2 (PRAGMA user_version = 2):
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
 *     error         TEXT,                 -- NULL on success
 *     entry_id      TEXT                  -- unique per row across instances (store.h); v2
 *   );
 *   CREATE INDEX requests_ts ON requests(ts_ms);
 *   CREATE UNIQUE INDEX requests_entry ON requests(entry_id);                       -- v2
 *
 * A version 1 file (no entry_id) is upgraded in place when opened for writing; readers take both.
 *
 * A later version adds columns or tables and bumps user_version; a baton that finds a version
 * newer than its own refuses the file rather than guess.
 *
 * Durability: the SQLite database is in WAL mode with synchronous=FULL (PostgreSQL: its own
 * commit), so a committed batch survives a process crash and a power loss. Appends copy the row
 * into memory and, with a journal, write it as one JSON line to this instance's journal file
 * (journal.h); a writer thread commits a batch in one transaction when it holds LEDGER_BATCH_ROWS
 * rows, when its oldest row is LEDGER_FLUSH_INTERVAL_MS old, or when ledger_flush asks, and then
 * removes the batch's journal segments. So a row whose append returned survives the death of the
 * process (SIGKILL included): the next start replays it. Without a journal, a crash loses the
 * rows not yet committed (under 256 rows, or about 200 ms of traffic); a power loss can still
 * lose the journal's last seconds (not fsynced).
 *
 * While commits fail, rows wait in memory up to max_pending (LEDGER_MAX_PENDING unless set);
 * `room` drops when they reach the high-water mark below it (backlog.h) and returns when a commit
 * brings them under, so the server stops serving before a served request's row could be refused.
 *
 * Journal line: {"e":entry_id,"ts":..,"rid":..,"caller":..,"route":..,"tier":..,"reason":..,
 * "in":..,"out":..,"cost":..,"lat":..,"ttft":..,"status":..,"error":..} (compact JSON; absent
 * strings are null).
 */
#include "gateway/ledger.h"

#include "base/alloc.h"
#include "base/buf.h"
#include "base/clock.h"
#include "base/log.h"
#include "base/utf8.h"
#include "gateway/backlog.h"
#include "gateway/journal.h"
#include "gateway/pg.h"
#include "gateway/store.h"
#include "gateway/writer.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <jansson.h>
#include <pthread.h>
#include <sqlite3.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#define LEDGER_SCHEMA_VERSION 2
#define LEDGER_PING_MS 1000 /* an idle writer checks the database this often (PostgreSQL) */
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
    " error TEXT,"
    " entry_id TEXT);"
    "CREATE INDEX requests_ts ON requests(ts_ms);"
    "CREATE UNIQUE INDEX requests_entry ON requests(entry_id);"
    "PRAGMA user_version = 2;";

static const char g_upgrade_1_2[] =
    "BEGIN IMMEDIATE;"
    "ALTER TABLE requests ADD COLUMN entry_id TEXT;"
    "CREATE UNIQUE INDEX requests_entry ON requests(entry_id);"
    "PRAGMA user_version = 2;"
    "COMMIT;";

/* A pending row: numbers inline, strings as offsets into batch.strings (NO_STR: NULL). */
struct pending {
    int64_t ts_ms, tokens_in, tokens_out, cost_microusd, latency_ms, ttft_ms;
    int32_t status;
    size_t entry_id, request_id, caller, route, tier, reason, error;
};

/* Rows waiting for a commit, with their strings. */
struct batch {
    struct pending *rows;
    size_t n_rows, cap_rows;
    struct buf strings;      /* the rows' strings, NUL-separated */
    uint64_t oldest_ns;      /* clock_now_ns() when the oldest row was appended */
};

/* Appends go to `front` under w.mu; the writer thread swaps it with `back` and commits `back`
 * without the lock, so the thread that appends (the server's loop) never waits on the database.
 * `back` keeps its rows while commits fail, and is retried first. */
struct ledger {
    char *path;              /* the target: a file or a URL (never printed if a URL: w.name) */
    const struct ledger_store_ops *ops;
    void *db;                /* writer thread only (after open) */
    pthread_mutex_t db_mu;   /* for ledger_spent_live, which shares db with the writer */
    struct writer w;         /* thread, lock, journal, flush handshake, backlog (writer.h) */
    struct batch front, back;
    size_t n_back;           /* rows in back, readable under w.mu */
    bool retry_later;        /* the last attempt failed: the next waits for the timer */
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
 * The SQLite store */

struct sq {
    char *path;
    sqlite3 *db;
    sqlite3_stmt *insert;
};

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

/* Checks an existing file is a ledger baton can read; creates the schema in an empty one, or
 * upgrades a version 1 one, if create. */
static int check_schema(sqlite3 *db, const char *path, bool create, struct err *e)
{
    int version;
    bool has_tables;
    if (schema_state(db, &version, &has_tables))
        return db_fail(e, path, db, "cannot read the schema");
    if (version > LEDGER_SCHEMA_VERSION)
        return err_set(e, "ledger %s: schema version %d is newer than this baton's (%d); use a "
                          "newer baton or another file", path, version, LEDGER_SCHEMA_VERSION);
    if (version == LEDGER_SCHEMA_VERSION || (version == 1 && !create))
        return 0;
    char *msg = NULL;
    if (version == 1) {
        if (sqlite3_exec(db, g_upgrade_1_2, NULL, NULL, &msg) != SQLITE_OK) {
            err_set(e, "ledger %s: cannot upgrade the schema to version 2: %s", path,
                    msg ? msg : "?");
            sqlite3_free(msg);
            sqlite3_exec(db, "ROLLBACK", NULL, NULL, NULL);
            return -1;
        }
        return 0;
    }
    if (has_tables)
        return err_set(e, "ledger %s: not a baton ledger (it has tables but no baton schema "
                          "version)", path);
    if (!create)
        return err_set(e, "ledger %s: empty, no requests recorded yet", path);
    if (sqlite3_exec(db, g_schema, NULL, NULL, &msg) != SQLITE_OK) {
        err_set(e, "ledger %s: cannot create the schema: %s", path, msg ? msg : "?");
        sqlite3_free(msg);
        return -1;
    }
    return 0;
}

static void sq_close(void *h)
{
    struct sq *q = h;
    if (!q)
        return;
    sqlite3_finalize(q->insert);
    sqlite3_close(q->db);
    free(q->path);
    free(q);
}

static int sq_open(const char *path, bool create, void **out, struct err *e)
{
    struct stat sb;
    if (!create && stat(path, &sb) != 0)
        return err_set(e, "ledger %s: %s", path, strerror(errno));
    sqlite3 *db = NULL;
    int flags = create ? SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE : SQLITE_OPEN_READONLY;
    if (sqlite3_open_v2(path, &db, flags | SQLITE_OPEN_NOMUTEX, NULL) != SQLITE_OK) {
        db_fail(e, path, db, "cannot open");
        sqlite3_close(db);
        return -1;
    }
    sqlite3_busy_timeout(db, 5000);
    if (create) {
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
        if (!wal) {
            sqlite3_close(db);
            return -1;
        }
    }
    if (check_schema(db, path, create, e)) {
        sqlite3_close(db);
        return -1;
    }
    struct sq *q = xcalloc(1, sizeof *q);
    q->path = xstrdup(path);
    q->db = db;
    if (!create) {
        *out = q;
        return 0;
    }
    char *msg = NULL;
    if (sqlite3_exec(db, "PRAGMA synchronous = FULL", NULL, NULL, &msg) != SQLITE_OK) {
        err_set(e, "ledger %s: %s", path, msg ? msg : "cannot set synchronous");
        sqlite3_free(msg);
        sq_close(q);
        return -1;
    }
    if (sqlite3_prepare_v2(db,
                           "INSERT OR IGNORE INTO requests (ts_ms, request_id, caller, route, tier,"
                           " reason, tokens_in, tokens_out, cost_microusd, latency_ms, ttft_ms,"
                           " status, error, entry_id) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9,"
                           " ?10, ?11, ?12, ?13, ?14)",
                           -1, &q->insert, NULL) != SQLITE_OK) {
        db_fail(e, path, db, "cannot prepare the insert");
        sq_close(q);
        return -1;
    }
    *out = q;
    return 0;
}

static void bind_str(sqlite3_stmt *st, int i, const char *s)
{
    if (!s)
        sqlite3_bind_null(st, i);
    else
        sqlite3_bind_text(st, i, s, -1, SQLITE_STATIC);
}

static int sq_insert(void *h, const struct ledger_entry *rows, size_t n, struct err *e)
{
    struct sq *q = h;
    if (!n)
        return 0;
    if (sqlite3_exec(q->db, "BEGIN IMMEDIATE", NULL, NULL, NULL) != SQLITE_OK)
        return db_fail(e, q->path, q->db, "cannot begin a transaction");
    for (size_t i = 0; i < n; i++) {
        const struct ledger_row *p = &rows[i].row;
        sqlite3_stmt *st = q->insert;
        sqlite3_bind_int64(st, 1, p->ts_ms);
        bind_str(st, 2, p->request_id);
        bind_str(st, 3, p->caller);
        bind_str(st, 4, p->route);
        bind_str(st, 5, p->tier ? p->tier : "");
        bind_str(st, 6, p->reason);
        sqlite3_bind_int64(st, 7, p->tokens_in);
        sqlite3_bind_int64(st, 8, p->tokens_out);
        sqlite3_bind_int64(st, 9, p->cost_microusd);
        sqlite3_bind_int64(st, 10, p->latency_ms);
        sqlite3_bind_int64(st, 11, p->ttft_ms);
        sqlite3_bind_int(st, 12, p->status);
        bind_str(st, 13, p->error);
        bind_str(st, 14, rows[i].entry_id);
        int rc = sqlite3_step(st);
        sqlite3_reset(st);
        sqlite3_clear_bindings(st);
        if (rc != SQLITE_DONE) {
            db_fail(e, q->path, q->db, "cannot insert");
            sqlite3_exec(q->db, "ROLLBACK", NULL, NULL, NULL);
            return -1;
        }
    }
    if (sqlite3_exec(q->db, "COMMIT", NULL, NULL, NULL) != SQLITE_OK) {
        db_fail(e, q->path, q->db, "cannot commit");
        sqlite3_exec(q->db, "ROLLBACK", NULL, NULL, NULL);
        return -1;
    }
    return 0;
}

static int sq_scan(void *h, int64_t since_ms, int64_t until_ms, ledger_scan_fn fn, void *arg,
                   struct err *e)
{
    struct sq *q = h;
    sqlite3_stmt *st = NULL;
    if (sqlite3_prepare_v2(q->db, "SELECT ts_ms, request_id, caller, route, tier, reason,"
                                  " tokens_in, tokens_out, cost_microusd, latency_ms, ttft_ms,"
                                  " status, error FROM requests WHERE ts_ms >= ?1 AND ts_ms < ?2",
                           -1, &st, NULL) != SQLITE_OK)
        return db_fail(e, q->path, q->db, "cannot query");
    sqlite3_bind_int64(st, 1, since_ms);
    sqlite3_bind_int64(st, 2, until_ms);
    int rc, stopped = 0;
    while (!stopped && (rc = sqlite3_step(st)) == SQLITE_ROW) {
#define TXT(i) ((const char *)sqlite3_column_text(st, i))
        struct ledger_row w = {
            .ts_ms = sqlite3_column_int64(st, 0), .request_id = TXT(1), .caller = TXT(2),
            .route = TXT(3), .tier = TXT(4), .reason = TXT(5),
            .tokens_in = sqlite3_column_int64(st, 6), .tokens_out = sqlite3_column_int64(st, 7),
            .cost_microusd = sqlite3_column_int64(st, 8),
            .latency_ms = sqlite3_column_int64(st, 9), .ttft_ms = sqlite3_column_int64(st, 10),
            .status = sqlite3_column_int(st, 11), .error = TXT(12),
        };
#undef TXT
        stopped = fn(arg, &w);
    }
    if (!stopped && rc != SQLITE_DONE)
        db_fail(e, q->path, q->db, "cannot read");
    sqlite3_finalize(st);
    return stopped ? stopped : rc == SQLITE_DONE ? 0 : -1;
}

static int sq_spent(void *h, const char *caller, int64_t since_ms, int64_t *microusd,
                    struct err *e)
{
    struct sq *q = h;
    sqlite3_stmt *st = NULL;
    *microusd = 0;
    if (sqlite3_prepare_v2(q->db, "SELECT coalesce(sum(cost_microusd), 0) FROM requests"
                                  " WHERE caller = ?1 AND ts_ms >= ?2", -1, &st, NULL) != SQLITE_OK)
        return db_fail(e, q->path, q->db, "cannot read what a key spent");
    sqlite3_bind_text(st, 1, caller, -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 2, since_ms);
    int rc = -1;
    if (sqlite3_step(st) == SQLITE_ROW) {
        *microusd = sqlite3_column_int64(st, 0);
        rc = 0;
    } else {
        db_fail(e, q->path, q->db, "cannot read what a key spent");
    }
    sqlite3_finalize(st);
    return rc;
}

static const struct ledger_store_ops sqlite_ledger_ops = {
    .name = "sqlite",
    .insert = sq_insert,
    .scan = sq_scan,
    .spent = sq_spent,
    .ping = NULL,
    .close = sq_close,
};

int ledger_store_open(const char *target, bool create, const struct ledger_store_ops **ops,
                      void **db, struct err *e)
{
    if (pg_is_url(target)) {
        *ops = &pg_ledger_ops;
        return pg_ledger_open(target, create, db, e);
    }
    *ops = &sqlite_ledger_ops;
    return sq_open(target, create, db, e);
}

/* ---------------------------------------------------------------------------------------------
 * The journal line */

/* A JSON string (or null) for the journal: quotes, backslashes and control characters escaped;
 * false if s is not valid UTF-8 (jansson would refuse the line on replay). */
static bool put_jstr(struct buf *b, const char *s)
{
    if (!s) {
        buf_puts(b, "null");
        return true;
    }
    size_t n = strlen(s);
    if (!utf8_valid(s, n))
        return false;
    buf_putc(b, '"');
    buf_put_json_escaped(b, s, n);
    buf_putc(b, '"');
    return true;
}

/* The row as one compact JSON line (malloc'd; NULL if a string is not UTF-8). Written by hand
 * rather than through jansson: this runs on the request path (a few microseconds less per row);
 * ledger_journal_decode (jansson) reads it back, and test_pg and fuzz_journal check both. */
static char *journal_line(const char *entry_id, const struct ledger_row *r)
{
    struct buf b;
    buf_init(&b);
    buf_reserve(&b, 320);
    bool ok = true;
    buf_puts(&b, "{\"e\":");
    ok &= put_jstr(&b, entry_id);
    buf_printf(&b, ",\"ts\":%" PRId64 ",\"rid\":", r->ts_ms);
    ok &= put_jstr(&b, r->request_id);
    buf_puts(&b, ",\"caller\":");
    ok &= put_jstr(&b, r->caller);
    buf_puts(&b, ",\"route\":");
    ok &= put_jstr(&b, r->route);
    buf_puts(&b, ",\"tier\":");
    ok &= put_jstr(&b, r->tier ? r->tier : "");
    buf_puts(&b, ",\"reason\":");
    ok &= put_jstr(&b, r->reason);
    buf_printf(&b, ",\"in\":%" PRId64 ",\"out\":%" PRId64 ",\"cost\":%" PRId64 ",\"lat\":%" PRId64
                   ",\"ttft\":%" PRId64 ",\"status\":%d,\"error\":",
               r->tokens_in, r->tokens_out, r->cost_microusd, r->latency_ms, r->ttft_ms,
               (int)r->status);
    ok &= put_jstr(&b, r->error);
    buf_putc(&b, '}');
    if (!ok) {
        buf_free(&b);
        return NULL;
    }
    return buf_detach(&b);
}

static int get_str_field(json_t *o, const char *k, bool nullable, const char **out, struct err *e)
{
    json_t *v = json_object_get(o, k);
    if (nullable && (!v || json_is_null(v))) {
        *out = NULL;
        return 0;
    }
    if (!json_is_string(v))
        return err_set(e, "ledger journal: \"%s\" is not a string%s", k, nullable ? " or null" : "");
    *out = json_string_value(v);
    return 0;
}

static int get_int_field(json_t *o, const char *k, int64_t lo, int64_t hi, int64_t *out,
                         struct err *e)
{
    json_t *v = json_object_get(o, k);
    if (!json_is_integer(v) || json_integer_value(v) < lo || json_integer_value(v) > hi)
        return err_set(e, "ledger journal: \"%s\" is not an integer in [%" PRId64 ", %" PRId64 "]",
                       k, lo, hi);
    *out = json_integer_value(v);
    return 0;
}

int ledger_journal_decode(const char *line, size_t len, ledger_entry_fn fn, void *arg,
                          struct err *e)
{
    json_error_t je;
    json_t *o = json_loadb(line, len, JSON_REJECT_DUPLICATES, &je);
    if (!o)
        return err_set(e, "ledger journal: not JSON: %s (column %d)", je.text, je.column);
    if (!json_is_object(o)) {
        json_decref(o);
        return err_set(e, "ledger journal: not a JSON object");
    }
    struct ledger_row r = {0};
    const char *id = NULL;
    int64_t status = 0;
    int rc = -1;
    if (get_str_field(o, "e", false, &id, e) || !*id ||
        get_int_field(o, "ts", 0, INT64_MAX, &r.ts_ms, e) ||
        get_str_field(o, "rid", true, &r.request_id, e) ||
        get_str_field(o, "caller", true, &r.caller, e) ||
        get_str_field(o, "route", true, &r.route, e) ||
        get_str_field(o, "tier", false, &r.tier, e) ||
        get_str_field(o, "reason", true, &r.reason, e) ||
        get_int_field(o, "in", 0, INT64_MAX, &r.tokens_in, e) ||
        get_int_field(o, "out", 0, INT64_MAX, &r.tokens_out, e) ||
        get_int_field(o, "cost", 0, INT64_MAX, &r.cost_microusd, e) ||
        get_int_field(o, "lat", INT64_MIN, INT64_MAX, &r.latency_ms, e) ||
        get_int_field(o, "ttft", INT64_MIN, INT64_MAX, &r.ttft_ms, e) ||
        get_int_field(o, "status", 0, 999, &status, e) ||
        get_str_field(o, "error", true, &r.error, e)) {
        if (id && !*id)
            err_set(e, "ledger journal: \"e\" (the entry id) is empty");
    } else {
        r.status = (int32_t)status;
        rc = fn(arg, id, &r);
        if (rc)
            err_set(e, "ledger journal: the row was refused");
    }
    json_decref(o);
    return rc;
}

/* ---------------------------------------------------------------------------------------------
 * Opening */

/* Under w.mu, wherever front or n_back changes. */
static void count_pending(struct ledger *l)
{
    backlog_count(&l->w.backlog, l->front.n_rows + l->n_back);
}

static void *writer_main(void *arg);
static void queue_row(struct ledger *l, const char *entry_id, const struct ledger_row *row);

static int replay_row(void *arg, const char *entry_id, const struct ledger_row *row)
{
    queue_row(arg, entry_id, row);
    count_pending(arg);
    return 0;
}

static int replay_line(void *arg, const char *line, size_t len, struct err *e)
{
    return ledger_journal_decode(line, len, replay_row, arg, e);
}

int ledger_open(const char *target, const char *journal_dir, struct ledger **out, struct err *e)
{
    const struct ledger_store_ops *ops;
    void *db;
    if (ledger_store_open(target, true, &ops, &db, e))
        return -1;
    struct ledger *l = xcalloc(1, sizeof *l);
    l->path = xstrdup(target);
    l->ops = ops;
    l->db = db;
    pthread_mutex_init(&l->db_mu, NULL);
    writer_init(&l->w, "ledger", "rows", target, LEDGER_MAX_PENDING, ops->ping ? ops->ping(db) : true);
    if (journal_dir && writer_open_journal(&l->w, journal_dir, replay_line, l, e)) {
        ledger_close(l);
        return -1;
    }
    writer_start(&l->w, writer_main, l);
    *out = l;
    return 0;
}

/* ---------------------------------------------------------------------------------------------
 * Writing */

static void batch_free(struct batch *b)
{
    free(b->rows);
    buf_free(&b->strings);
}

static size_t batch_str(struct batch *b, const char *s)
{
    if (!s)
        return NO_STR;
    size_t off = b->strings.len;
    buf_append(&b->strings, s, strlen(s) + 1);
    return off;
}

static const char *str_at(const struct batch *b, size_t off)
{
    return off == NO_STR ? NULL : b->strings.data + off;
}

/* Commits b in one transaction (writer thread). On failure b keeps its rows. */
static int commit_batch(struct ledger *l, struct batch *b, struct err *e)
{
    if (!b->n_rows)
        return 0;
    struct ledger_entry *rows = xmalloc_array(b->n_rows, sizeof *rows);
    for (size_t i = 0; i < b->n_rows; i++) {
        const struct pending *p = &b->rows[i];
        rows[i] = (struct ledger_entry){
            .entry_id = str_at(b, p->entry_id),
            .row = {.ts_ms = p->ts_ms, .request_id = str_at(b, p->request_id),
                    .caller = str_at(b, p->caller), .route = str_at(b, p->route),
                    .tier = str_at(b, p->tier), .reason = str_at(b, p->reason),
                    .tokens_in = p->tokens_in, .tokens_out = p->tokens_out,
                    .cost_microusd = p->cost_microusd, .latency_ms = p->latency_ms,
                    .ttft_ms = p->ttft_ms, .status = p->status, .error = str_at(b, p->error)},
        };
    }
    pthread_mutex_lock(&l->db_mu);
    int rc = l->ops->insert(l->db, rows, b->n_rows, e);
    pthread_mutex_unlock(&l->db_mu);
    free(rows);
    if (rc)
        return -1;
    b->n_rows = 0;
    buf_clear(&b->strings);
    return 0;
}

/* Moves every row of `from` to the end of `to` (strings re-based). */
static void batch_move(struct batch *to, struct batch *from)
{
    if (!from->n_rows)
        return;
    if (!to->n_rows)
        to->oldest_ns = from->oldest_ns;
    size_t base = to->strings.len;
    buf_append(&to->strings, from->strings.data, from->strings.len);
    for (size_t i = 0; i < from->n_rows; i++) {
        if (to->n_rows == to->cap_rows) {
            to->cap_rows = to->cap_rows ? 2 * to->cap_rows : 64;
            to->rows = xrealloc_array(to->rows, to->cap_rows, sizeof *to->rows);
        }
        struct pending p = from->rows[i];
        size_t *offs[] = {&p.entry_id, &p.request_id, &p.caller, &p.route, &p.tier, &p.reason,
                          &p.error};
        for (size_t k = 0; k < sizeof offs / sizeof *offs; k++)
            if (*offs[k] != NO_STR)
                *offs[k] += base;
        to->rows[to->n_rows++] = p;
    }
    from->n_rows = 0;
    buf_clear(&from->strings);
}

static bool due(const struct ledger *l, uint64_t now_ns)
{
    return l->front.n_rows >= LEDGER_BATCH_ROWS || l->w.requested > l->w.completed || l->w.stop ||
           (l->front.n_rows && now_ns - l->front.oldest_ns >= LEDGER_FLUSH_INTERVAL_MS * 1000000ull);
}

static void *writer_main(void *arg)
{
    struct ledger *l = arg;
    struct writer *w = &l->w;
    uint64_t last_check_ns = clock_now_ns();
    pthread_mutex_lock(&w->mu);
    for (;;) {
        bool ping = false;
        while (!due(l, clock_now_ns()) && !(l->n_back && !l->retry_later)) {
            uint64_t now = clock_now_ns();
            if (l->ops->ping && !l->n_back && now - last_check_ns >= LEDGER_PING_MS * 1000000ull) {
                ping = true; /* idle: is the database still there? (for /health, admission) */
                break;
            }
            struct timespec ts;
            clock_gettime(CLOCK_REALTIME, &ts);
            uint64_t wait_ms = l->front.n_rows || l->n_back ? LEDGER_FLUSH_INTERVAL_MS / 4
                                                            : LEDGER_PING_MS / 4;
            ts.tv_nsec += (long)(wait_ms % 1000) * 1000000;
            ts.tv_sec += (time_t)(wait_ms / 1000) + ts.tv_nsec / 1000000000;
            ts.tv_nsec %= 1000000000;
            pthread_cond_timedwait(&w->wake, &w->mu, &ts);
            l->retry_later = false; /* a timed retry of a failed commit */
        }
        if (ping) {
            pthread_mutex_unlock(&w->mu);
            pthread_mutex_lock(&l->db_mu);
            bool up = l->ops->ping(l->db);
            pthread_mutex_unlock(&l->db_mu);
            atomic_store(&w->available, up);
            last_check_ns = clock_now_ns();
            pthread_mutex_lock(&w->mu);
            continue;
        }
        uint64_t generation = w->requested;
        if (l->front.n_rows)
            writer_batch_taken(w); /* back's rows end in this journal segment */
        batch_move(&l->back, &l->front);
        l->n_back = l->back.n_rows;
        bool stopping = w->stop;
        size_t n_rows = l->n_back;
        pthread_mutex_unlock(&w->mu);
        struct err e;
        int rc = commit_batch(l, &l->back, &e);
        bool up = rc == 0 || !l->ops->ping;
        if (rc && l->ops->ping) {
            pthread_mutex_lock(&l->db_mu);
            up = l->ops->ping(l->db);
            pthread_mutex_unlock(&l->db_mu);
        }
        atomic_store(&w->available, up);
        last_check_ns = clock_now_ns();
        pthread_mutex_lock(&w->mu);
        l->n_back = l->back.n_rows;
        count_pending(l);
        l->retry_later = rc != 0;
        writer_attempted(w, generation, rc, &e, n_rows, l->back.n_rows);
        if (stopping && (rc == 0 || l->front.n_rows == 0))
            break;
        if (stopping) /* one more attempt for rows appended while stopping, then give up */
            continue;
    }
    pthread_mutex_unlock(&w->mu);
    return NULL;
}

size_t ledger_pending(const struct ledger *l) { return backlog_pending(&l->w.backlog); }

bool ledger_has_room(const struct ledger *l) { return backlog_room(&l->w.backlog); }

size_t ledger_max_pending(const struct ledger *l) { return backlog_max(&l->w.backlog); }

void ledger_set_max_pending(struct ledger *l, size_t n) { writer_set_max_pending(&l->w, n); }

bool ledger_available(const struct ledger *l) { return atomic_load(&l->w.available); }

int ledger_flush(struct ledger *l, struct err *e) { return writer_flush(&l->w, e); }

/* Adds the row to front (under mu). */
static void queue_row(struct ledger *l, const char *entry_id, const struct ledger_row *row)
{
    struct batch *b = &l->front;
    if (b->n_rows == b->cap_rows) {
        b->cap_rows = b->cap_rows ? 2 * b->cap_rows : 64;
        b->rows = xrealloc_array(b->rows, b->cap_rows, sizeof *b->rows);
    }
    if (b->n_rows == 0)
        b->oldest_ns = clock_now_ns();
    struct pending *p = &b->rows[b->n_rows++];
    *p = (struct pending){
        .ts_ms = row->ts_ms, .tokens_in = row->tokens_in, .tokens_out = row->tokens_out,
        .cost_microusd = row->cost_microusd, .latency_ms = row->latency_ms,
        .ttft_ms = row->ttft_ms, .status = row->status,
    };
    p->entry_id = batch_str(b, entry_id);
    p->request_id = batch_str(b, row->request_id);
    p->caller = batch_str(b, row->caller);
    p->route = batch_str(b, row->route);
    p->tier = batch_str(b, row->tier ? row->tier : "");
    p->reason = batch_str(b, row->reason);
    p->error = batch_str(b, row->error);
}

int ledger_append(struct ledger *l, const struct ledger_row *row, struct err *e)
{
    char id[40];
    writer_entry_id(&l->w, id);
    char *line = l->w.journal ? journal_line(id, row) : NULL; /* encoded outside the lock */
    pthread_mutex_lock(&l->w.mu);
    size_t max = backlog_max(&l->w.backlog);
    if (l->front.n_rows + l->n_back >= max) {
        pthread_mutex_unlock(&l->w.mu);
        free(line);
        return err_set(e, "ledger %s: %zu rows wait for a commit that keeps failing; this request "
                          "is not recorded", l->w.name, max);
    }
    queue_row(l, id, row);
    count_pending(l);
    writer_journal(&l->w, line);
    free(line);
    /* the first row of a batch starts the writer's interval clock; a full batch goes at once */
    if (l->front.n_rows == 1 || l->front.n_rows >= LEDGER_BATCH_ROWS)
        pthread_cond_signal(&l->w.wake);
    pthread_mutex_unlock(&l->w.mu);
    return 0;
}

void ledger_close(struct ledger *l)
{
    if (!l)
        return;
    writer_stop(&l->w);
    writer_destroy(&l->w, l->w.started ? l->front.n_rows + l->back.n_rows : 0);
    if (l->db)
        l->ops->close(l->db);
    batch_free(&l->front);
    batch_free(&l->back);
    pthread_mutex_destroy(&l->db_mu);
    free(l->path);
    free(l);
}

int ledger_spent_live(struct ledger *l, const char *caller, int64_t since_ms, int64_t *microusd,
                      struct err *e)
{
    if (l->ops != &pg_ledger_ops) /* SQLite: a reader beside the writer, as before */
        return ledger_spent(l->path, caller, since_ms, microusd, e);
    *microusd = 0;
    if (!ledger_available(l))
        return err_set(e, "ledger %s: unavailable", l->w.name);
    pthread_mutex_lock(&l->db_mu);
    int rc = l->ops->spent(l->db, caller, since_ms, microusd, e);
    pthread_mutex_unlock(&l->db_mu);
    return rc;
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

struct report_ctx {
    struct cost_report *out;
    const struct ledger_query *q;
    bool ref;
};

static int report_row(void *arg, const struct ledger_row *w)
{
    struct report_ctx *c = arg;
    struct cost_report *out = c->out;
    bool error = w->status >= 400 || w->error;
    int64_t tin = w->tokens_in, tout = w->tokens_out, cost = w->cost_microusd;
    int64_t rcost = c->ref ? ledger_cost_microusd(tin, tout, c->q->ref_price_in,
                                                  c->q->ref_price_out) : 0;
    add_to(&out->all, tin, tout, cost, rcost, error);
    add_to(total_for(&out->tiers, &out->n_tiers, w->tier ? w->tier : ""), tin, tout, cost, rcost,
           error);
    add_to(total_for(&out->routes, &out->n_routes, w->route), tin, tout, cost, rcost, error);
    add_to(total_for(&out->callers, &out->n_callers, w->caller ? w->caller : ""), tin, tout, cost,
           rcost, error);
    if (out->all.requests == 1 || w->ts_ms < out->first_ts_ms)
        out->first_ts_ms = w->ts_ms;
    if (out->all.requests == 1 || w->ts_ms > out->last_ts_ms)
        out->last_ts_ms = w->ts_ms;
    return 0;
}

int ledger_report(const char *path, const struct ledger_query *q, struct cost_report *out,
                  struct err *e)
{
    memset(out, 0, sizeof *out);
    const struct ledger_store_ops *ops;
    void *db;
    if (ledger_store_open(path, false, &ops, &db, e))
        return -1;
    struct report_ctx c = {out, q, q->ref_price_in >= 0 && q->ref_price_out >= 0};
    int rc = ops->scan(db, q->since_ms, q->until_ms, report_row, &c, e);
    ops->close(db);
    if (rc) {
        cost_report_free(out);
        return -1;
    }
    if (out->n_tiers)
        qsort(out->tiers, out->n_tiers, sizeof *out->tiers, by_name);
    if (out->n_routes)
        qsort(out->routes, out->n_routes, sizeof *out->routes, by_name);
    if (out->n_callers)
        qsort(out->callers, out->n_callers, sizeof *out->callers, by_name);
    return 0;
}

int ledger_spent(const char *path, const char *caller, int64_t since_ms, int64_t *microusd,
                 struct err *e)
{
    *microusd = 0;
    struct stat sb;
    if (!pg_is_url(path) && stat(path, &sb) != 0)
        return errno == ENOENT ? 0 : err_set(e, "ledger %s: %s", path, strerror(errno));
    const struct ledger_store_ops *ops;
    void *db;
    if (ledger_store_open(path, false, &ops, &db, e))
        return -1;
    int rc = ops->spent(db, caller, since_ms, microusd, e);
    ops->close(db);
    return rc;
}

void cost_report_free(struct cost_report *r)
{
    for (size_t i = 0; i < r->n_tiers; i++)
        free(r->tiers[i].name);
    for (size_t i = 0; i < r->n_routes; i++)
        free(r->routes[i].name);
    for (size_t i = 0; i < r->n_callers; i++)
        free(r->callers[i].name);
    free(r->callers);
    free(r->tiers);
    free(r->routes);
    memset(r, 0, sizeof *r);
}
