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
 * process crash and a power loss. Appends only copy the row into memory; a writer thread commits
 * a batch in one transaction (one fsync) when it holds LEDGER_BATCH_ROWS rows, when its oldest row
 * is LEDGER_FLUSH_INTERVAL_MS old, or when ledger_flush asks. A crash therefore loses at most the
 * rows not yet committed: under 256 rows, or about 200 ms of traffic.
 */
#include "gateway/ledger.h"

#include "base/alloc.h"
#include "base/buf.h"
#include "base/clock.h"
#include "base/log.h"

#include <errno.h>
#include <pthread.h>
#include <time.h>
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

/* Rows waiting for a commit, with their strings. */
struct batch {
    struct pending *rows;
    size_t n_rows, cap_rows;
    struct buf strings;      /* the rows' strings, NUL-separated */
    uint64_t oldest_ns;      /* clock_now_ns() when the oldest row was appended */
};

/* Appends go to `front` under `mu`; the writer thread swaps it with `back` and commits `back`
 * without the lock, so the thread that appends (the server's loop) never waits on SQLite or
 * fsync. `back` keeps its rows while commits fail, and is retried first. */
struct ledger {
    char *path;
    sqlite3 *db;             /* writer thread only (after open) */
    sqlite3_stmt *insert;
    pthread_t writer;
    bool writer_started;
    pthread_mutex_t mu;
    pthread_cond_t wake;     /* to the writer: rows, a flush request, or stop */
    pthread_cond_t done;     /* from the writer: a commit finished */
    struct batch front, back;
    size_t n_back;           /* rows in back, readable under mu */
    uint64_t requested;      /* flush generations asked for ... */
    uint64_t completed;      /* ... and committed (or failed, see last_error) */
    bool last_failed;
    char last_error[ERR_MSG_MAX];
    bool stop;
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

static void *writer_main(void *arg);

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
    pthread_mutex_init(&l->mu, NULL);
    pthread_cond_init(&l->wake, NULL);
    pthread_cond_init(&l->done, NULL);
    if (sqlite3_prepare_v2(db,
                           "INSERT INTO requests (ts_ms, request_id, caller, route, tier, reason,"
                           " tokens_in, tokens_out, cost_microusd, latency_ms, ttft_ms, status,"
                           " error) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13)",
                           -1, &l->insert, NULL) != SQLITE_OK) {
        db_fail(e, path, db, "cannot prepare the insert");
        ledger_close(l);
        return -1;
    }
    pthread_create(&l->writer, NULL, writer_main, l);
    l->writer_started = true;
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

static void bind_str(sqlite3_stmt *st, int i, const struct batch *b, size_t off)
{
    if (off == NO_STR)
        sqlite3_bind_null(st, i);
    else
        sqlite3_bind_text(st, i, b->strings.data + off, -1, SQLITE_STATIC);
}

/* Commits b in one transaction (writer thread). On failure b keeps its rows. */
static int commit_batch(struct ledger *l, struct batch *b, struct err *e)
{
    if (!b->n_rows)
        return 0;
    if (sqlite3_exec(l->db, "BEGIN IMMEDIATE", NULL, NULL, NULL) != SQLITE_OK)
        return db_fail(e, l->path, l->db, "cannot begin a transaction");
    for (size_t i = 0; i < b->n_rows; i++) {
        const struct pending *p = &b->rows[i];
        sqlite3_stmt *st = l->insert;
        sqlite3_bind_int64(st, 1, p->ts_ms);
        bind_str(st, 2, b, p->request_id);
        bind_str(st, 3, b, p->caller);
        bind_str(st, 4, b, p->route);
        bind_str(st, 5, b, p->tier);
        bind_str(st, 6, b, p->reason);
        sqlite3_bind_int64(st, 7, p->tokens_in);
        sqlite3_bind_int64(st, 8, p->tokens_out);
        sqlite3_bind_int64(st, 9, p->cost_microusd);
        sqlite3_bind_int64(st, 10, p->latency_ms);
        sqlite3_bind_int64(st, 11, p->ttft_ms);
        sqlite3_bind_int(st, 12, p->status);
        bind_str(st, 13, b, p->error);
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
        size_t *offs[] = {&p.request_id, &p.caller, &p.route, &p.tier, &p.reason, &p.error};
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
    return l->front.n_rows >= LEDGER_BATCH_ROWS || l->requested > l->completed || l->stop ||
           (l->front.n_rows && now_ns - l->front.oldest_ns >= LEDGER_FLUSH_INTERVAL_MS * 1000000ull);
}

static void *writer_main(void *arg)
{
    struct ledger *l = arg;
    pthread_mutex_lock(&l->mu);
    for (;;) {
        while (!due(l, clock_now_ns()) && !(l->n_back && !l->last_failed)) {
            struct timespec ts;
            clock_gettime(CLOCK_REALTIME, &ts);
            uint64_t wait_ms = l->front.n_rows || l->n_back ? LEDGER_FLUSH_INTERVAL_MS / 4 : 1000;
            ts.tv_nsec += (long)(wait_ms % 1000) * 1000000;
            ts.tv_sec += (time_t)(wait_ms / 1000) + ts.tv_nsec / 1000000000;
            ts.tv_nsec %= 1000000000;
            pthread_cond_timedwait(&l->wake, &l->mu, &ts);
            l->last_failed = false; /* a timed retry of a failed commit */
        }
        uint64_t generation = l->requested;
        batch_move(&l->back, &l->front);
        l->n_back = l->back.n_rows;
        bool stopping = l->stop;
        pthread_mutex_unlock(&l->mu);
        struct err e;
        int rc = commit_batch(l, &l->back, &e);
        pthread_mutex_lock(&l->mu);
        l->n_back = l->back.n_rows;
        l->last_failed = rc != 0;
        if (rc) {
            memcpy(l->last_error, e.msg, sizeof l->last_error);
            log_error("%s (%zu rows wait for a retry)", e.msg, l->back.n_rows);
        }
        l->completed = generation;
        pthread_cond_broadcast(&l->done);
        if (stopping && (rc == 0 || l->front.n_rows == 0))
            break;
        if (stopping) /* one more attempt for rows appended while stopping, then give up */
            continue;
    }
    pthread_mutex_unlock(&l->mu);
    return NULL;
}

size_t ledger_pending(const struct ledger *l)
{
    struct ledger *m = (struct ledger *)l;
    pthread_mutex_lock(&m->mu);
    size_t n = m->front.n_rows + m->n_back;
    pthread_mutex_unlock(&m->mu);
    return n;
}

int ledger_flush(struct ledger *l, struct err *e)
{
    pthread_mutex_lock(&l->mu);
    uint64_t want = ++l->requested;
    pthread_cond_signal(&l->wake);
    while (l->completed < want)
        pthread_cond_wait(&l->done, &l->mu);
    int rc = 0;
    if (l->last_failed && l->n_back)
        rc = err_set(e, "%s", l->last_error);
    pthread_mutex_unlock(&l->mu);
    return rc;
}

int ledger_append(struct ledger *l, const struct ledger_row *row, struct err *e)
{
    pthread_mutex_lock(&l->mu);
    if (l->front.n_rows + l->n_back >= LEDGER_MAX_PENDING) {
        pthread_mutex_unlock(&l->mu);
        return err_set(e, "ledger %s: %d rows wait for a commit that keeps failing; this request "
                          "is not recorded", l->path, LEDGER_MAX_PENDING);
    }
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
    p->request_id = batch_str(b, row->request_id);
    p->caller = batch_str(b, row->caller);
    p->route = batch_str(b, row->route);
    p->tier = batch_str(b, row->tier ? row->tier : "");
    p->reason = batch_str(b, row->reason);
    p->error = batch_str(b, row->error);
    /* the first row of a batch starts the writer's interval clock; a full batch goes at once */
    if (b->n_rows == 1 || b->n_rows >= LEDGER_BATCH_ROWS)
        pthread_cond_signal(&l->wake);
    pthread_mutex_unlock(&l->mu);
    return 0;
}

void ledger_close(struct ledger *l)
{
    if (!l)
        return;
    if (l->writer_started) {
        pthread_mutex_lock(&l->mu);
        l->stop = true;
        pthread_cond_signal(&l->wake);
        pthread_mutex_unlock(&l->mu);
        pthread_join(l->writer, NULL);
        size_t lost = l->front.n_rows + l->back.n_rows;
        if (lost)
            log_error("ledger %s: %zu rows could not be committed and are lost", l->path, lost);
    }
    sqlite3_finalize(l->insert);
    sqlite3_close(l->db);
    batch_free(&l->front);
    batch_free(&l->back);
    pthread_mutex_destroy(&l->mu);
    pthread_cond_destroy(&l->wake);
    pthread_cond_destroy(&l->done);
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
                               " error IS NOT NULL, ts_ms, caller FROM requests"
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
        const char *caller = (const char *)sqlite3_column_text(st, 8);
        add_to(total_for(&out->callers, &out->n_callers, caller ? caller : ""), tin, tout, cost,
               rcost, error);
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
    if (out->n_callers)
        qsort(out->callers, out->n_callers, sizeof *out->callers, by_name);
    return 0;
}

int ledger_spent(const char *path, const char *caller, int64_t since_ms, int64_t *microusd,
                 struct err *e)
{
    *microusd = 0;
    struct stat sb;
    if (stat(path, &sb) != 0)
        return errno == ENOENT ? 0 : err_set(e, "ledger %s: %s", path, strerror(errno));
    sqlite3 *db = NULL;
    sqlite3_stmt *st = NULL;
    int rc = -1;
    if (sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY | SQLITE_OPEN_NOMUTEX, NULL) !=
            SQLITE_OK ||
        (sqlite3_busy_timeout(db, 2000),
         sqlite3_prepare_v2(db, "SELECT coalesce(sum(cost_microusd), 0) FROM requests"
                                " WHERE caller = ?1 AND ts_ms >= ?2", -1, &st, NULL)) !=
            SQLITE_OK) {
        db_fail(e, path, db, "cannot read what a key spent");
    } else {
        sqlite3_bind_text(st, 1, caller, -1, SQLITE_STATIC);
        sqlite3_bind_int64(st, 2, since_ms);
        if (sqlite3_step(st) == SQLITE_ROW) {
            *microusd = sqlite3_column_int64(st, 0);
            rc = 0;
        } else {
            db_fail(e, path, db, "cannot read what a key spent");
        }
    }
    sqlite3_finalize(st);
    sqlite3_close(db);
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
