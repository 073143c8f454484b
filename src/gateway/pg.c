/* pg: the ledger and the audit trail in PostgreSQL (pg.h, store.h).
 *
 * Every value goes as a text parameter (PQexecParams), never spliced into SQL. Reads use
 * single-row mode so a report over millions of rows holds one row at a time.
 */
#include "gateway/pg.h"

#include "base/alloc.h"
#include "base/buf.h"
#include "base/clock.h"
#include "base/log.h"

#include <inttypes.h>
#include <libpq-fe.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define PG_SCHEMA_VERSION 1
#define PG_SCHEMA_LOCK 0x6274736dLL /* 'btsm': schema creation */
#define PG_AUDIT_LOCK 0x62746175LL  /* 'btau': the audit chain */
#define PG_RECONNECT_MS 1000
#define PG_ROWS_PER_INSERT 500       /* rows per INSERT statement (libpq: < 65536 parameters) */

enum pg_kind { PG_LEDGER, PG_AUDIT };

struct pg {
    enum pg_kind kind;
    char *url;
    char addr[256];
    PGconn *conn;           /* NULL while down */
    uint64_t last_try_ns;   /* of a connection attempt */
    bool create;
    bool down_logged;       /* the outage was logged (once) */
    char last_error[ERR_MSG_MAX];
};

static const char *kind_name(const struct pg *p) { return p->kind == PG_LEDGER ? "ledger" : "audit"; }

void pg_target_name(const char *target, char *out, size_t n)
{
    char addr[200];
    if (pg_is_url(target) && pg_url_check(target, addr, sizeof addr, NULL) == 0)
        snprintf(out, n, "postgres %s", addr);
    else
        snprintf(out, n, "%s", target);
}

bool pg_is_url(const char *t)
{
    return t && (!strncmp(t, "postgres://", 11) || !strncmp(t, "postgresql://", 13));
}

int pg_url_check(const char *url, char *addr, size_t addr_size, struct err *e)
{
    char *msg = NULL;
    PQconninfoOption *o = PQconninfoParse(url, &msg);
    if (!o) {
        size_t n = msg ? strlen(msg) : 0;
        while (n && (msg[n - 1] == '\n' || msg[n - 1] == ' '))
            msg[--n] = 0;
        /* only the scheme: the rest may hold a password */
        err_set(e, "'%s...': not a PostgreSQL URL: %s",
                strncmp(url, "postgresql://", 13) ? "postgres://" : "postgresql://",
                msg ? msg : "out of memory");
        PQfreemem(msg);
        return -1;
    }
    const char *host = NULL, *port = NULL, *db = NULL, *user = NULL;
    for (PQconninfoOption *i = o; i->keyword; i++) {
        if (!i->val)
            continue;
        if (!strcmp(i->keyword, "host"))
            host = i->val;
        else if (!strcmp(i->keyword, "port"))
            port = i->val;
        else if (!strcmp(i->keyword, "dbname"))
            db = i->val;
        else if (!strcmp(i->keyword, "user"))
            user = i->val;
    }
    if (addr)
        snprintf(addr, addr_size, "%s:%s/%s", host && *host ? host : "localhost",
                 port && *port ? port : "5432", db && *db ? db : user ? user : "");
    PQconninfoFree(o);
    return 0;
}

/* ---------------------------------------------------------------------------------------------
 * The connection */

static const char g_ledger_schema[] =
    "CREATE TABLE IF NOT EXISTS baton_schema (store TEXT PRIMARY KEY, version INTEGER NOT NULL);"
    "CREATE TABLE IF NOT EXISTS baton_ledger ("
    " id BIGSERIAL PRIMARY KEY,"
    " entry_id TEXT NOT NULL UNIQUE,"
    " ts_ms BIGINT NOT NULL,"
    " request_id TEXT,"
    " caller TEXT,"
    " route TEXT,"
    " tier TEXT NOT NULL,"
    " reason TEXT,"
    " tokens_in BIGINT NOT NULL,"
    " tokens_out BIGINT NOT NULL,"
    " cost_microusd BIGINT NOT NULL,"
    " latency_ms BIGINT NOT NULL,"
    " ttft_ms BIGINT NOT NULL,"
    " status INTEGER NOT NULL,"
    " error TEXT);"
    "CREATE INDEX IF NOT EXISTS baton_ledger_ts ON baton_ledger (ts_ms);"
    "CREATE INDEX IF NOT EXISTS baton_ledger_caller ON baton_ledger (caller, ts_ms);"
    "INSERT INTO baton_schema VALUES ('ledger', 1) ON CONFLICT DO NOTHING;";

static const char g_audit_schema[] =
    "CREATE TABLE IF NOT EXISTS baton_schema (store TEXT PRIMARY KEY, version INTEGER NOT NULL);"
    "CREATE TABLE IF NOT EXISTS baton_audit ("
    " seq BIGINT PRIMARY KEY,"
    " entry_id TEXT UNIQUE,"
    " ts_ms BIGINT NOT NULL,"
    " record TEXT NOT NULL,"
    " prev_hash TEXT NOT NULL,"
    " hash TEXT NOT NULL);"
    "CREATE INDEX IF NOT EXISTS baton_audit_ts ON baton_audit (ts_ms);"
    "INSERT INTO baton_schema VALUES ('audit', 1) ON CONFLICT DO NOTHING;";

static int fail_res(struct pg *p, PGresult *r, const char *what, struct err *e)
{
    const char *m = p->conn ? PQerrorMessage(p->conn) : "not connected";
    char msg[400];
    snprintf(msg, sizeof msg, "%s", r && PQresultErrorMessage(r)[0] ? PQresultErrorMessage(r) : m);
    size_t n = strlen(msg);
    while (n && (msg[n - 1] == '\n' || msg[n - 1] == ' '))
        msg[--n] = 0;
    PQclear(r);
    return err_set(e, "%s postgres %s: %s: %s", kind_name(p), p->addr, what, msg);
}

/* Runs sql (no parameters, no rows wanted). */
static int exec_cmd(struct pg *p, const char *sql, struct err *e)
{
    PGresult *r = PQexec(p->conn, sql);
    if (PQresultStatus(r) != PGRES_COMMAND_OK && PQresultStatus(r) != PGRES_TUPLES_OK)
        return fail_res(p, r, sql[0] == 'C' && sql[1] == 'R' ? "cannot create the schema" : sql, e);
    PQclear(r);
    return 0;
}

/* Schema: created (create) or found, and its version checked. On a fresh connection. */
static int schema(struct pg *p, struct err *e)
{
    const char *name = kind_name(p);
    if (p->create) {
        char lock[96];
        snprintf(lock, sizeof lock, "SELECT pg_advisory_xact_lock(%lld)", PG_SCHEMA_LOCK);
        if (exec_cmd(p, "BEGIN", e) || exec_cmd(p, lock, e) ||
            exec_cmd(p, p->kind == PG_LEDGER ? g_ledger_schema : g_audit_schema, e) ||
            exec_cmd(p, "COMMIT", e)) {
            PGresult *r = PQexec(p->conn, "ROLLBACK");
            PQclear(r);
            return -1;
        }
    }
    const char *params[1] = {name};
    PGresult *r = PQexecParams(p->conn,
                               "SELECT CASE WHEN to_regclass('baton_schema') IS NULL THEN -1 ELSE"
                               " (SELECT coalesce(max(version), 0) FROM baton_schema"
                               "  WHERE store = $1) END", 1, NULL, params, NULL, NULL, 0);
    if (PQresultStatus(r) != PGRES_TUPLES_OK || PQntuples(r) != 1)
        return fail_res(p, r, "cannot read the schema version", e);
    int v = atoi(PQgetvalue(r, 0, 0));
    PQclear(r);
    if (v > PG_SCHEMA_VERSION)
        return err_set(e, "%s postgres %s: schema version %d is newer than this baton's (%d); use "
                          "a newer baton", name, p->addr, v, PG_SCHEMA_VERSION);
    if (v <= 0)
        return err_set(e, "%s postgres %s: no baton %s in this database yet (a server with "
                          "this URL creates it)", name, p->addr, name);
    return 0;
}

/* why may point into the connection (PQerrorMessage): copied before the connection is freed */
static void mark_down(struct pg *p, const char *why)
{
    snprintf(p->last_error, sizeof p->last_error, "%s", why);
    size_t n = strlen(p->last_error);
    while (n && (p->last_error[n - 1] == '\n' || p->last_error[n - 1] == ' '))
        p->last_error[--n] = 0;
    if (p->conn)
        PQfinish(p->conn);
    p->conn = NULL;
    if (!p->down_logged) {
        log_error("%s postgres %s: unavailable: %s; retrying at most once a second", kind_name(p),
                  p->addr, p->last_error);
        p->down_logged = true;
    }
}

/* A usable connection (0); -1 (e) if the database cannot be reached (without I/O if the last
 * attempt was under a second ago); -2 (e) if it can but its schema is not usable (newer
 * version, cannot be created). */
static int connected(struct pg *p, struct err *e)
{
    if (p->conn && PQstatus(p->conn) == CONNECTION_OK)
        return 0;
    if (p->conn)
        mark_down(p, PQerrorMessage(p->conn));
    uint64_t now = clock_now_ns();
    if (p->last_try_ns && now - p->last_try_ns < PG_RECONNECT_MS * 1000000ull)
        return err_set(e, "%s postgres %s: unavailable (%s)", kind_name(p), p->addr,
                       p->last_error);
    p->last_try_ns = now;
    const char *keys[] = {"dbname", "connect_timeout", "application_name", NULL};
    const char *vals[] = {p->url, "2", "baton", NULL};
    p->conn = PQconnectdbParams(keys, vals, 1);
    if (!p->conn || PQstatus(p->conn) != CONNECTION_OK) {
        char msg[300];
        snprintf(msg, sizeof msg, "%s", p->conn ? PQerrorMessage(p->conn) : "out of memory");
        size_t n = strlen(msg);
        while (n && (msg[n - 1] == '\n' || msg[n - 1] == ' '))
            msg[--n] = 0;
        mark_down(p, msg);
        return err_set(e, "%s postgres %s: unavailable (%s)", kind_name(p), p->addr, msg);
    }
    PGresult *r = PQexec(p->conn, "SET client_min_messages = warning");
    PQclear(r);
    if (schema(p, e)) {
        PQfinish(p->conn);
        p->conn = NULL;
        return -2; /* reachable, but not a store this baton can use */
    }
    if (p->down_logged)
        log_warn("%s postgres %s: connected again", kind_name(p), p->addr);
    p->down_logged = false;
    return 0;
}

/* After a failed statement: a broken connection is dropped (and reported once). */
static void after_failure(struct pg *p)
{
    if (p->conn && PQstatus(p->conn) != CONNECTION_OK)
        mark_down(p, PQerrorMessage(p->conn));
}

static int pg_open(enum pg_kind kind, const char *url, bool create, void **db, struct err *e)
{
    char addr[256];
    if (pg_url_check(url, addr, sizeof addr, e))
        return err_prefix(e, "%s", kind == PG_LEDGER ? "ledger" : "audit");
    struct pg *p = xcalloc(1, sizeof *p);
    p->kind = kind;
    p->url = xstrdup(url);
    p->create = create;
    snprintf(p->addr, sizeof p->addr, "%s", addr);
    struct err ce;
    int rc = connected(p, &ce);
    if (rc == -2 || (rc && !create)) {
        /* a schema baton cannot use is an error at start, as with a SQLite file; an unreachable
         * database is one for the CLI, while the server's writer connects when it can */
        err_set(e, "%s", ce.msg);
        if (p->conn)
            PQfinish(p->conn);
        free(p->url);
        free(p);
        return -1;
    }
    *db = p;
    return 0;
}

int pg_ledger_open(const char *url, bool create, void **db, struct err *e)
{
    return pg_open(PG_LEDGER, url, create, db, e);
}

int pg_audit_open(const char *url, bool create, void **db, struct err *e)
{
    return pg_open(PG_AUDIT, url, create, db, e);
}

static void pg_close(void *db)
{
    struct pg *p = db;
    if (!p)
        return;
    if (p->conn)
        PQfinish(p->conn);
    free(p->url);
    free(p);
}

static bool pg_ping(void *db)
{
    struct pg *p = db;
    struct err e;
    if (connected(p, &e))
        return false;
    PGresult *r = PQexec(p->conn, "SELECT 1");
    bool ok = PQresultStatus(r) == PGRES_TUPLES_OK;
    PQclear(r);
    if (!ok)
        after_failure(p);
    return ok && p->conn;
}

/* ---------------------------------------------------------------------------------------------
 * Single-row reads */

typedef int (*row_fn)(void *arg, PGresult *r);

static int read_rows(struct pg *p, const char *sql, int n_params, const char *const *params,
                     row_fn fn, void *arg, struct err *e)
{
    if (connected(p, e))
        return -1;
    if (!PQsendQueryParams(p->conn, sql, n_params, NULL, params, NULL, NULL, 0) ||
        !PQsetSingleRowMode(p->conn)) {
        fail_res(p, NULL, "cannot query", e);
        after_failure(p);
        return -1;
    }
    int rc = 0;
    PGresult *r;
    while ((r = PQgetResult(p->conn))) {
        ExecStatusType st = PQresultStatus(r);
        if (st == PGRES_SINGLE_TUPLE && rc == 0) {
            rc = fn(arg, r);
            if (rc)
                err_set(e, "%s postgres %s: the read was stopped", kind_name(p), p->addr);
        } else if (st != PGRES_SINGLE_TUPLE && st != PGRES_TUPLES_OK && rc == 0) {
            fail_res(p, r, "cannot read", e);
            r = NULL;
            rc = -1;
        }
        PQclear(r);
    }
    if (rc)
        after_failure(p);
    return rc;
}

static const char *opt(PGresult *r, int col)
{
    return PQgetisnull(r, 0, col) ? NULL : PQgetvalue(r, 0, col);
}

static int64_t num(PGresult *r, int col) { return strtoll(PQgetvalue(r, 0, col), NULL, 10); }

/* ---------------------------------------------------------------------------------------------
 * Ledger */

#define LEDGER_COLS 14

static int run_insert(struct pg *p, struct buf *sql, const char *const *params, int n,
                      struct err *e)
{
    PGresult *r = PQexecParams(p->conn, sql->data, n, NULL, params, NULL, NULL, 0);
    if (PQresultStatus(r) != PGRES_COMMAND_OK) {
        fail_res(p, r, "cannot insert", e);
        return -1;
    }
    PQclear(r);
    return 0;
}

static int ledger_insert(void *db, const struct ledger_entry *rows, size_t n, struct err *e)
{
    struct pg *p = db;
    if (!n)
        return 0;
    if (connected(p, e))
        return -1;
    if (exec_cmd(p, "BEGIN", e)) {
        after_failure(p);
        return -1;
    }
    size_t chunk = PG_ROWS_PER_INSERT;
    const char **params = xmalloc_array(chunk * LEDGER_COLS, sizeof *params);
    char (*nums)[24] = xmalloc_array(chunk * 7, sizeof *nums);
    struct buf sql;
    buf_init(&sql);
    int rc = 0;
    for (size_t at = 0; at < n && rc == 0; at += chunk) {
        size_t m = n - at < chunk ? n - at : chunk;
        buf_clear(&sql);
        buf_puts(&sql, "INSERT INTO baton_ledger (entry_id, ts_ms, request_id, caller, route, tier,"
                       " reason, tokens_in, tokens_out, cost_microusd, latency_ms, ttft_ms, status,"
                       " error) VALUES ");
        for (size_t i = 0; i < m; i++) {
            const struct ledger_entry *x = &rows[at + i];
            const struct ledger_row *w = &x->row;
            const char **pp = params + i * LEDGER_COLS;
            char (*nn)[24] = nums + i * 7;
            int64_t v[7] = {w->ts_ms, w->tokens_in, w->tokens_out, w->cost_microusd,
                            w->latency_ms, w->ttft_ms, w->status};
            for (int k = 0; k < 7; k++)
                snprintf(nn[k], sizeof nn[k], "%" PRId64, v[k]);
            const char *vals[LEDGER_COLS] = {x->entry_id, nn[0], w->request_id, w->caller,
                                             w->route, w->tier ? w->tier : "", w->reason, nn[1],
                                             nn[2], nn[3], nn[4], nn[5], nn[6], w->error};
            memcpy(pp, vals, sizeof vals);
            buf_puts(&sql, i ? ",(" : "(");
            for (int k = 0; k < LEDGER_COLS; k++)
                buf_printf(&sql, "%s$%zu", k ? "," : "", i * LEDGER_COLS + (size_t)k + 1);
            buf_putc(&sql, ')');
        }
        buf_puts(&sql, " ON CONFLICT (entry_id) DO NOTHING");
        rc = run_insert(p, &sql, params, (int)(m * LEDGER_COLS), e);
    }
    buf_free(&sql);
    free(params);
    free(nums);
    if (rc == 0 && exec_cmd(p, "COMMIT", e))
        rc = -1;
    if (rc) {
        after_failure(p);
        if (p->conn) {
            PGresult *r = PQexec(p->conn, "ROLLBACK");
            PQclear(r);
        }
    }
    return rc;
}

struct lscan {
    ledger_scan_fn fn;
    void *arg;
};

static int ledger_row_cb(void *arg, PGresult *r)
{
    struct lscan *s = arg;
    struct ledger_row w = {
        .ts_ms = num(r, 0), .request_id = opt(r, 1), .caller = opt(r, 2), .route = opt(r, 3),
        .tier = opt(r, 4), .reason = opt(r, 5), .tokens_in = num(r, 6), .tokens_out = num(r, 7),
        .cost_microusd = num(r, 8), .latency_ms = num(r, 9), .ttft_ms = num(r, 10),
        .status = (int32_t)num(r, 11), .error = opt(r, 12),
    };
    return s->fn(s->arg, &w);
}

static int ledger_scan(void *db, int64_t since_ms, int64_t until_ms, ledger_scan_fn fn, void *arg,
                       struct err *e)
{
    char a[24], b[24];
    snprintf(a, sizeof a, "%" PRId64, since_ms);
    snprintf(b, sizeof b, "%" PRId64, until_ms);
    const char *params[2] = {a, b};
    struct lscan s = {fn, arg};
    return read_rows(db, "SELECT ts_ms, request_id, caller, route, tier, reason, tokens_in,"
                         " tokens_out, cost_microusd, latency_ms, ttft_ms, status, error"
                         " FROM baton_ledger WHERE ts_ms >= $1 AND ts_ms < $2 ORDER BY id",
                     2, params, ledger_row_cb, &s, e);
}

static int spent_cb(void *arg, PGresult *r)
{
    *(int64_t *)arg = num(r, 0);
    return 0;
}

static int ledger_spent_pg(void *db, const char *caller, int64_t since_ms, int64_t *microusd,
                           struct err *e)
{
    char a[24];
    snprintf(a, sizeof a, "%" PRId64, since_ms);
    const char *params[2] = {caller, a};
    *microusd = 0;
    return read_rows(db, "SELECT coalesce(sum(cost_microusd), 0) FROM baton_ledger"
                         " WHERE caller = $1 AND ts_ms >= $2", 2, params, spent_cb, microusd, e);
}

const struct ledger_store_ops pg_ledger_ops = {
    .name = "postgres",
    .insert = ledger_insert,
    .scan = ledger_scan,
    .spent = ledger_spent_pg,
    .ping = pg_ping,
    .close = pg_close,
};

/* ---------------------------------------------------------------------------------------------
 * Audit */

static int head_cb(void *arg, PGresult *r)
{
    void **out = arg;
    *(int64_t *)out[0] = num(r, 0);
    snprintf((char *)out[1], 65, "%s", PQgetvalue(r, 0, 1));
    return 0;
}

static int audit_begin(void *db, int64_t *head_seq, char head_hash[65], struct err *e)
{
    struct pg *p = db;
    *head_seq = 0;
    memset(head_hash, '0', 64);
    head_hash[64] = 0;
    if (connected(p, e))
        return -1;
    char lock[96];
    snprintf(lock, sizeof lock, "SELECT pg_advisory_xact_lock(%lld)", PG_AUDIT_LOCK);
    if (exec_cmd(p, "BEGIN", e) || exec_cmd(p, lock, e)) {
        after_failure(p);
        return -1;
    }
    void *out[2] = {head_seq, head_hash};
    if (read_rows(p, "SELECT seq, hash FROM baton_audit ORDER BY seq DESC LIMIT 1", 0, NULL,
                  head_cb, out, e)) {
        if (p->conn) {
            PGresult *r = PQexec(p->conn, "ROLLBACK");
            PQclear(r);
        }
        return -1;
    }
    return 0;
}

struct known_ctx {
    const char *const *ids;
    size_t n;
    bool *known;
};

static int known_cb(void *arg, PGresult *r)
{
    struct known_ctx *k = arg;
    const char *id = PQgetvalue(r, 0, 0);
    for (size_t i = 0; i < k->n; i++)
        if (k->ids[i] && !strcmp(k->ids[i], id))
            k->known[i] = true;
    return 0;
}

static int audit_known(void *db, const char *const *ids, size_t n, bool *known, struct err *e)
{
    for (size_t i = 0; i < n; i++)
        known[i] = false;
    if (!n)
        return 0;
    /* entry ids are hex digits and '-' (store.h): safe inside an array literal's quotes, and
     * they are bound as one parameter anyway */
    struct buf arr;
    buf_init(&arr);
    buf_putc(&arr, '{');
    for (size_t i = 0; i < n; i++) {
        buf_printf(&arr, "%s\"", i ? "," : "");
        for (const char *c = ids[i] ? ids[i] : ""; *c; c++)
            if (*c != '"' && *c != '\\')
                buf_putc(&arr, *c);
        buf_putc(&arr, '"');
    }
    buf_puts(&arr, "}");
    buf_append(&arr, "", 1);
    const char *params[1] = {arr.data};
    struct known_ctx k = {ids, n, known};
    int rc = read_rows(db, "SELECT entry_id FROM baton_audit WHERE entry_id = ANY($1::text[])", 1,
                       params, known_cb, &k, e);
    buf_free(&arr);
    return rc;
}

static int audit_insert(void *db, const struct audit_stored *rows, size_t n, struct err *e)
{
    struct pg *p = db;
    const size_t cols = 6, chunk = PG_ROWS_PER_INSERT;
    const char **params = xmalloc_array(chunk * cols, sizeof *params);
    char (*nums)[24] = xmalloc_array(chunk * 2, sizeof *nums);
    struct buf sql;
    buf_init(&sql);
    int rc = 0;
    for (size_t at = 0; at < n && rc == 0; at += chunk) {
        size_t m = n - at < chunk ? n - at : chunk;
        buf_clear(&sql);
        buf_puts(&sql, "INSERT INTO baton_audit (seq, entry_id, ts_ms, record, prev_hash, hash)"
                       " VALUES ");
        for (size_t i = 0; i < m; i++) {
            const struct audit_stored *s = &rows[at + i];
            snprintf(nums[2 * i], 24, "%" PRId64, s->seq);
            snprintf(nums[2 * i + 1], 24, "%" PRId64, s->ts_ms);
            const char *vals[6] = {nums[2 * i], s->entry_id, nums[2 * i + 1], s->record,
                                   s->prev_hash, s->hash};
            memcpy(params + i * cols, vals, sizeof vals);
            buf_puts(&sql, i ? ",(" : "(");
            for (size_t k = 0; k < cols; k++)
                buf_printf(&sql, "%s$%zu", k ? "," : "", i * cols + k + 1);
            buf_putc(&sql, ')');
        }
        rc = run_insert(p, &sql, params, (int)(m * cols), e);
    }
    buf_free(&sql);
    free(params);
    free(nums);
    if (rc)
        after_failure(p);
    return rc;
}

static int audit_commit(void *db, struct err *e)
{
    struct pg *p = db;
    if (exec_cmd(p, "COMMIT", e)) {
        after_failure(p);
        return -1;
    }
    return 0;
}

static void audit_rollback(void *db)
{
    struct pg *p = db;
    if (p->conn) {
        PGresult *r = PQexec(p->conn, "ROLLBACK");
        PQclear(r);
        after_failure(p);
    }
}

struct ascan {
    audit_scan_fn fn;
    void *arg;
};

static int audit_row_cb(void *arg, PGresult *r)
{
    struct ascan *s = arg;
    struct audit_stored a = {.seq = num(r, 0), .ts_ms = num(r, 1), .entry_id = opt(r, 2),
                             .record = opt(r, 3), .prev_hash = opt(r, 4), .hash = opt(r, 5)};
    return s->fn(s->arg, &a);
}

static int audit_scan(void *db, int64_t since_ms, audit_scan_fn fn, void *arg, struct err *e)
{
    char a[24];
    snprintf(a, sizeof a, "%" PRId64, since_ms);
    const char *params[1] = {a};
    struct ascan s = {fn, arg};
    return read_rows(db, "SELECT seq, ts_ms, entry_id, record, prev_hash, hash FROM baton_audit"
                         " WHERE ts_ms >= $1 ORDER BY seq", 1, params, audit_row_cb, &s, e);
}

const struct audit_store_ops pg_audit_ops = {
    .name = "postgres",
    .begin = audit_begin,
    .known = audit_known,
    .insert = audit_insert,
    .commit = audit_commit,
    .rollback = audit_rollback,
    .scan = audit_scan,
    .ping = pg_ping,
    .close = pg_close,
};
