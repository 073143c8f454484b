/* audit: hash-chained audit records in SQLite (audit.h).
 *
 * This file holds what every store shares (pending records, the writer thread's loop, the chain,
 * verify and export) and the SQLite store; pg.c holds the PostgreSQL one (store.h), writer.c the
 * thread's plumbing that the ledger shares (lock, flush, journal, entry ids).
 *
 * SQLite schema, version 2 (PRAGMA user_version = 2; application_id 0x62746175 'btau' marks the
 * file):
 *
 *   CREATE TABLE audit (
 *     seq       INTEGER PRIMARY KEY,   -- 1, 2, 3 ... in append order
 *     ts_ms     INTEGER NOT NULL,      -- copy of the record's ts_ms, for --since
 *     record    TEXT NOT NULL,         -- canonical JSON, "seq" inside
 *     prev_hash TEXT NOT NULL,         -- hex SHA-256 of the record before (64 zeros for seq 1)
 *     hash      TEXT NOT NULL,         -- hex SHA-256(prev_hash || "\n" || record)
 *     entry_id  TEXT                   -- unique per record across instances (store.h); v2
 *   );
 *   CREATE UNIQUE INDEX audit_entry ON audit(entry_id);                             -- v2
 * A version 1 file is upgraded in place when opened for writing; readers take both.
 *
 * The JSON is produced by jansson with JSON_COMPACT and a fixed insertion order
 * (JSON_PRESERVE_ORDER), so the text hashed is the text stored; verify hashes the stored text
 * and never re-serializes.
 *
 * Chaining happens at commit, not at append: audit_append serializes the record without its seq
 * (the "body", `{"ts_ms":...}`) and queues it; the writer thread, inside one transaction that
 * holds the chain (SQLite: BEGIN IMMEDIATE; PostgreSQL: pg_advisory_xact_lock), reads the head
 * (last seq and hash), skips records whose entry_id is stored already (a journal replay), and
 * gives each record seq = head + 1, its text `{"seq":N,` + body without its `{`, which is exactly
 * what jansson would print for the whole object, prev_hash and hash. So several instances
 * writing to one database make one chain, their batches interleaved, and verify is the same code
 * for every store.
 *
 * Journal line (journal.h): {"e":entry_id,"b":body} with the body as a JSON string, so its bytes
 * come back exactly.
 */
#include "gateway/audit.h"

#include "base/alloc.h"
#include "base/buf.h"
#include "base/clock.h"
#include "base/hex.h"
#include "base/log.h"
#include "gateway/backlog.h"
#include "gateway/journal.h"
#include "gateway/pg.h"
#include "gateway/store.h"
#include "gateway/writer.h"

#include <jansson.h>
#include <openssl/evp.h>
#include <openssl/sha.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdatomic.h>
#include <sqlite3.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define AUDIT_SCHEMA_VERSION 2
#define AUDIT_PING_MS 1000
#define AUDIT_FLUSH_MS 200

static const char g_schema[] =
    "CREATE TABLE audit ("
    " seq INTEGER PRIMARY KEY,"
    " ts_ms INTEGER NOT NULL,"
    " record TEXT NOT NULL,"
    " prev_hash TEXT NOT NULL,"
    " hash TEXT NOT NULL,"
    " entry_id TEXT);"
    "CREATE INDEX audit_ts ON audit(ts_ms);"
    "CREATE UNIQUE INDEX audit_entry ON audit(entry_id);"
    "PRAGMA application_id = 1652793717;"
    "PRAGMA user_version = 2;";

static const char g_upgrade_1_2[] =
    "BEGIN IMMEDIATE;"
    "ALTER TABLE audit ADD COLUMN entry_id TEXT;"
    "CREATE UNIQUE INDEX audit_entry ON audit(entry_id);"
    "PRAGMA user_version = 2;"
    "COMMIT;";

static const char g_zero_hash[65] =
    "0000000000000000000000000000000000000000000000000000000000000000";

/* A queued record: not yet chained (seq and hashes are given at commit). */
struct row {
    int64_t ts_ms;
    char *entry_id;
    char *body;                /* the canonical JSON without "seq" */
};

struct audit {
    char *path;
    const struct audit_store_ops *ops;
    void *db;                  /* writer thread only after open */
    struct writer w;           /* thread, lock, journal, flush handshake, backlog (writer.h) */
    struct row *rows;          /* queued, in append order (under w.mu) */
    size_t n_rows, cap_rows;
    size_t n_committing;       /* rows the writer took from `rows` and is committing */
};

void audit_sha256_hex(const void *data, size_t len, char hex[65])
{
    unsigned char h[SHA256_DIGEST_LENGTH];
    SHA256(data, len, h);
    hex_encode(hex, h, sizeof h);
}

static void chain_hash(const char *prev, const char *record, char out[65])
{
    EVP_MD_CTX *c = EVP_MD_CTX_new();
    unsigned char h[SHA256_DIGEST_LENGTH];
    unsigned int n = 0;
    EVP_DigestInit_ex(c, EVP_sha256(), NULL);
    EVP_DigestUpdate(c, prev, 64);
    EVP_DigestUpdate(c, "\n", 1);
    EVP_DigestUpdate(c, record, strlen(record));
    EVP_DigestFinal_ex(c, h, &n);
    EVP_MD_CTX_free(c);
    hex_encode(out, h, sizeof h);
}

/* ---------------------------------------------------------------------------------------------
 * The SQLite store */

struct sq {
    char *path;
    sqlite3 *db;
    sqlite3_stmt *insert, *known;
};

static int db_fail(struct err *e, const char *path, sqlite3 *db, const char *what)
{
    return err_set(e, "audit %s: %s: %s", path, what, db ? sqlite3_errmsg(db) : "out of memory");
}

/* Opens path; checks (or, if create, makes or upgrades) the schema. */
static int open_db(const char *path, bool create, sqlite3 **out, struct err *e)
{
    sqlite3 *db = NULL;
    int flags = create ? SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE : SQLITE_OPEN_READONLY;
    if (sqlite3_open_v2(path, &db, flags | SQLITE_OPEN_NOMUTEX, NULL) != SQLITE_OK) {
        db_fail(e, path, db, "cannot open");
        sqlite3_close(db);
        return -1;
    }
    sqlite3_busy_timeout(db, 5000);
    sqlite3_stmt *st;
    int version = -1, tables = 0;
    if (sqlite3_prepare_v2(db, "PRAGMA user_version", -1, &st, NULL) == SQLITE_OK) {
        if (sqlite3_step(st) == SQLITE_ROW)
            version = sqlite3_column_int(st, 0);
        sqlite3_finalize(st);
    }
    if (sqlite3_prepare_v2(db, "SELECT count(*) FROM sqlite_master WHERE type='table'", -1, &st,
                           NULL) == SQLITE_OK) {
        if (sqlite3_step(st) == SQLITE_ROW)
            tables = sqlite3_column_int(st, 0);
        sqlite3_finalize(st);
    }
    int rc = 0;
    char *msg = NULL;
    if (version < 0)
        rc = db_fail(e, path, db, "cannot read the schema");
    else if (version > AUDIT_SCHEMA_VERSION)
        rc = err_set(e, "audit %s: schema version %d is newer than this baton's (%d)", path,
                     version, AUDIT_SCHEMA_VERSION);
    else if (version == 0 && tables)
        rc = err_set(e, "audit %s: not a baton audit store", path);
    else if (version == 0 && !create)
        rc = err_set(e, "audit %s: empty, no records yet", path);
    else if (version == 0) {
        sqlite3_exec(db, "PRAGMA journal_mode = WAL", NULL, NULL, NULL);
        if (sqlite3_exec(db, g_schema, NULL, NULL, &msg) != SQLITE_OK)
            rc = err_set(e, "audit %s: cannot create the schema: %s", path, msg ? msg : "?");
    } else if (version == 1 && create) {
        if (sqlite3_exec(db, g_upgrade_1_2, NULL, NULL, &msg) != SQLITE_OK) {
            rc = err_set(e, "audit %s: cannot upgrade the schema to version 2: %s", path,
                         msg ? msg : "?");
            sqlite3_exec(db, "ROLLBACK", NULL, NULL, NULL);
        }
    }
    sqlite3_free(msg);
    if (rc) {
        sqlite3_close(db);
        return -1;
    }
    *out = db;
    return 0;
}

static void sq_close(void *h)
{
    struct sq *q = h;
    if (!q)
        return;
    sqlite3_finalize(q->insert);
    sqlite3_finalize(q->known);
    sqlite3_close(q->db);
    free(q->path);
    free(q);
}

static int sq_open(const char *path, bool create, void **out, struct err *e)
{
    sqlite3 *db;
    if (open_db(path, create, &db, e))
        return -1;
    struct sq *q = xcalloc(1, sizeof *q);
    q->path = xstrdup(path);
    q->db = db;
    if (create) {
        sqlite3_exec(db, "PRAGMA journal_mode = WAL; PRAGMA synchronous = FULL", NULL, NULL, NULL);
        if (sqlite3_prepare_v2(db, "INSERT INTO audit (seq, ts_ms, record, prev_hash, hash,"
                                   " entry_id) VALUES (?1, ?2, ?3, ?4, ?5, ?6)", -1, &q->insert,
                               NULL) != SQLITE_OK ||
            sqlite3_prepare_v2(db, "SELECT 1 FROM audit WHERE entry_id = ?1", -1, &q->known,
                               NULL) != SQLITE_OK) {
            db_fail(e, path, db, "cannot prepare the insert");
            sq_close(q);
            return -1;
        }
    }
    *out = q;
    return 0;
}

static int sq_begin(void *h, int64_t *head_seq, char head_hash[65], struct err *e)
{
    struct sq *q = h;
    *head_seq = 0;
    memcpy(head_hash, g_zero_hash, 65);
    if (sqlite3_exec(q->db, "BEGIN IMMEDIATE", NULL, NULL, NULL) != SQLITE_OK)
        return db_fail(e, q->path, q->db, "cannot begin");
    sqlite3_stmt *st;
    if (sqlite3_prepare_v2(q->db, "SELECT seq, hash FROM audit ORDER BY seq DESC LIMIT 1", -1, &st,
                           NULL) != SQLITE_OK) {
        db_fail(e, q->path, q->db, "cannot read the head");
        sqlite3_exec(q->db, "ROLLBACK", NULL, NULL, NULL);
        return -1;
    }
    if (sqlite3_step(st) == SQLITE_ROW) {
        *head_seq = sqlite3_column_int64(st, 0);
        const unsigned char *hh = sqlite3_column_text(st, 1);
        if (hh && strlen((const char *)hh) == 64)
            memcpy(head_hash, hh, 65);
    }
    sqlite3_finalize(st);
    return 0;
}

static int sq_known(void *h, const char *const *ids, size_t n, bool *known, struct err *e)
{
    struct sq *q = h;
    for (size_t i = 0; i < n; i++) {
        sqlite3_bind_text(q->known, 1, ids[i], -1, SQLITE_STATIC);
        int rc = sqlite3_step(q->known);
        sqlite3_reset(q->known);
        if (rc != SQLITE_ROW && rc != SQLITE_DONE)
            return db_fail(e, q->path, q->db, "cannot look up an entry");
        known[i] = rc == SQLITE_ROW;
    }
    return 0;
}

static int sq_insert(void *h, const struct audit_stored *rows, size_t n, struct err *e)
{
    struct sq *q = h;
    for (size_t i = 0; i < n; i++) {
        sqlite3_stmt *st = q->insert;
        sqlite3_bind_int64(st, 1, rows[i].seq);
        sqlite3_bind_int64(st, 2, rows[i].ts_ms);
        sqlite3_bind_text(st, 3, rows[i].record, -1, SQLITE_STATIC);
        sqlite3_bind_text(st, 4, rows[i].prev_hash, 64, SQLITE_STATIC);
        sqlite3_bind_text(st, 5, rows[i].hash, 64, SQLITE_STATIC);
        sqlite3_bind_text(st, 6, rows[i].entry_id, -1, SQLITE_STATIC);
        int rc = sqlite3_step(st);
        sqlite3_reset(st);
        if (rc != SQLITE_DONE)
            return db_fail(e, q->path, q->db, "cannot insert");
    }
    return 0;
}

static int sq_commit(void *h, struct err *e)
{
    struct sq *q = h;
    return sqlite3_exec(q->db, "COMMIT", NULL, NULL, NULL) == SQLITE_OK
               ? 0 : db_fail(e, q->path, q->db, "cannot commit");
}

static void sq_rollback(void *h)
{
    struct sq *q = h;
    sqlite3_exec(q->db, "ROLLBACK", NULL, NULL, NULL);
}

static int sq_scan(void *h, int64_t since_ms, audit_scan_fn fn, void *arg, struct err *e)
{
    struct sq *q = h;
    sqlite3_stmt *st;
    if (sqlite3_prepare_v2(q->db, "SELECT seq, ts_ms, record, prev_hash, hash FROM audit"
                                  " WHERE ts_ms >= ?1 ORDER BY seq", -1, &st, NULL) != SQLITE_OK)
        return db_fail(e, q->path, q->db, "cannot query");
    sqlite3_bind_int64(st, 1, since_ms);
    int rc, stopped = 0;
    while (!stopped && (rc = sqlite3_step(st)) == SQLITE_ROW) {
        struct audit_stored r = {
            .seq = sqlite3_column_int64(st, 0), .ts_ms = sqlite3_column_int64(st, 1),
            .record = (const char *)sqlite3_column_text(st, 2),
            .prev_hash = (const char *)sqlite3_column_text(st, 3),
            .hash = (const char *)sqlite3_column_text(st, 4),
        };
        stopped = fn(arg, &r);
    }
    if (!stopped && rc != SQLITE_DONE)
        db_fail(e, q->path, q->db, "cannot read");
    sqlite3_finalize(st);
    return stopped ? stopped : rc == SQLITE_DONE ? 0 : -1;
}

static const struct audit_store_ops sqlite_audit_ops = {
    .name = "sqlite",
    .begin = sq_begin,
    .known = sq_known,
    .insert = sq_insert,
    .commit = sq_commit,
    .rollback = sq_rollback,
    .scan = sq_scan,
    .ping = NULL,
    .close = sq_close,
};

int audit_store_open(const char *target, bool create, const struct audit_store_ops **ops,
                     void **db, struct err *e)
{
    if (pg_is_url(target)) {
        *ops = &pg_audit_ops;
        return pg_audit_open(target, create, db, e);
    }
    *ops = &sqlite_audit_ops;
    return sq_open(target, create, db, e);
}

/* ---------------------------------------------------------------------------------------------
 * Writing */

static void free_rows(struct row *rows, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        free(rows[i].entry_id);
        free(rows[i].body);
    }
    free(rows);
}

/* Chains and commits rows in one transaction (writer thread). */
static int commit_rows(struct audit *a, struct row *rows, size_t n, struct err *e)
{
    if (!n)
        return 0;
    int64_t seq;
    char prev[65];
    if (a->ops->begin(a->db, &seq, prev, e))
        return -1;
    const char **ids = xmalloc_array(n, sizeof *ids);
    bool *known = xcalloc(n, sizeof *known);
    struct audit_stored *st = xcalloc(n, sizeof *st);
    char (*hashes)[2][65] = xmalloc_array(n, sizeof *hashes);
    for (size_t i = 0; i < n; i++)
        ids[i] = rows[i].entry_id;
    int rc = a->ops->known(a->db, ids, n, known, e);
    size_t m = 0;
    struct buf text;
    buf_init(&text);
    size_t *offs = xmalloc_array(n, sizeof *offs);
    for (size_t i = 0; i < n && rc == 0; i++) {
        if (known[i])
            continue; /* committed before a crash, replayed from the journal */
        seq++;
        offs[m] = text.len;
        buf_printf(&text, "{\"seq\":%" PRId64 ",%s", seq, rows[i].body + 1);
        buf_append(&text, "", 1);
        memcpy(hashes[m][0], prev, 65);
        st[m] = (struct audit_stored){.seq = seq, .ts_ms = rows[i].ts_ms,
                                      .entry_id = rows[i].entry_id};
        m++;
    }
    for (size_t i = 0; i < m; i++) { /* text is final now: point into it and chain */
        st[i].record = text.data + offs[i];
        if (i)
            memcpy(hashes[i][0], hashes[i - 1][1], 65);
        chain_hash(hashes[i][0], st[i].record, hashes[i][1]);
        st[i].prev_hash = hashes[i][0];
        st[i].hash = hashes[i][1];
    }
    if (rc == 0 && m)
        rc = a->ops->insert(a->db, st, m, e);
    if (rc == 0)
        rc = a->ops->commit(a->db, e);
    if (rc)
        a->ops->rollback(a->db);
    buf_free(&text);
    free(offs);
    free(ids);
    free(known);
    free(st);
    free(hashes);
    return rc;
}

/* Under w.mu (or before the writer starts), wherever n_rows or n_committing changes. */
static void count_pending(struct audit *a)
{
    backlog_count(&a->w.backlog, a->n_committing + a->n_rows);
}

static void *writer_main(void *arg)
{
    struct audit *a = arg;
    struct writer *w = &a->w;
    uint64_t last_check_ns = clock_now_ns();
    pthread_mutex_lock(&w->mu);
    for (;;) {
        if (!w->stop && w->requested == w->completed) {
            struct timespec ts;
            clock_gettime(CLOCK_REALTIME, &ts);
            ts.tv_nsec += AUDIT_FLUSH_MS * 1000000L;
            ts.tv_sec += ts.tv_nsec / 1000000000;
            ts.tv_nsec %= 1000000000;
            pthread_cond_timedwait(&w->wake, &w->mu, &ts);
        }
        uint64_t gen = w->requested;
        struct row *rows = a->rows;
        size_t n = a->n_rows;
        if (n)
            writer_batch_taken(w);
        a->rows = NULL;
        a->n_rows = a->cap_rows = 0;
        a->n_committing = n; /* still pending: count_pending's total does not change */
        bool stopping = w->stop;
        pthread_mutex_unlock(&w->mu);
        struct err e;
        int rc = 0;
        bool up = true;
        if (n) {
            rc = commit_rows(a, rows, n, &e);
            up = rc == 0 || !a->ops->ping || a->ops->ping(a->db);
            last_check_ns = clock_now_ns();
        } else if (a->ops->ping && clock_now_ns() - last_check_ns >= AUDIT_PING_MS * 1000000ull) {
            up = a->ops->ping(a->db);
            last_check_ns = clock_now_ns();
        } else {
            up = atomic_load(&w->available);
        }
        atomic_store(&w->available, up);
        pthread_mutex_lock(&w->mu);
        if (rc) { /* keep them, in order, before anything appended meanwhile */
            size_t total = n + a->n_rows;
            rows = xrealloc_array(rows, total ? total : 1, sizeof *rows);
            if (a->n_rows) /* a->rows is NULL when nothing was appended meanwhile */
                memcpy(rows + n, a->rows, a->n_rows * sizeof *rows);
            free(a->rows);
            a->rows = rows;
            a->n_rows = a->cap_rows = total;
        } else {
            free_rows(rows, n);
        }
        a->n_committing = 0;
        count_pending(a);
        writer_attempted(w, gen, rc, &e, n, a->n_rows);
        if (stopping)
            break;
    }
    pthread_mutex_unlock(&w->mu);
    return NULL;
}

static void queue(struct audit *a, const char *entry_id, int64_t ts_ms, char *body)
{
    if (a->n_rows == a->cap_rows) {
        a->cap_rows = a->cap_rows ? 2 * a->cap_rows : 64;
        a->rows = xrealloc_array(a->rows, a->cap_rows, sizeof *a->rows);
    }
    a->rows[a->n_rows++] = (struct row){ts_ms, xstrdup(entry_id), body};
}

int audit_journal_decode(const char *line, size_t len, char **entry_id, int64_t *ts_ms,
                         char **body, struct err *e)
{
    json_error_t je;
    json_t *o = json_loadb(line, len, JSON_REJECT_DUPLICATES, &je);
    if (!o)
        return err_set(e, "audit journal: not JSON: %s (column %d)", je.text, je.column);
    json_t *id = json_object_get(o, "e"), *b = json_object_get(o, "b");
    int rc = -1;
    if (!json_is_object(o) || !json_is_string(id) || !json_string_length(id) || !json_is_string(b)) {
        err_set(e, "audit journal: expected {\"e\": entry id, \"b\": record text}");
    } else {
        const char *text = json_string_value(b);
        json_t *rec = json_loads(text, JSON_REJECT_DUPLICATES, &je);
        json_t *ts = rec ? json_object_get(rec, "ts_ms") : NULL;
        if (!json_is_object(rec) || strncmp(text, "{\"ts_ms\":", 9) || !json_is_integer(ts) ||
            strlen(text) != json_string_length(b) || json_object_get(rec, "seq"))
            err_set(e, "audit journal: \"b\" is not a record's text (a JSON object starting with "
                       "ts_ms, without seq)");
        else {
            *entry_id = xstrdup(json_string_value(id));
            *ts_ms = json_integer_value(ts);
            *body = xstrdup(text);
            rc = 0;
        }
        json_decref(rec);
    }
    json_decref(o);
    return rc;
}

static int replay_line(void *arg, const char *line, size_t len, struct err *e)
{
    char *id, *body;
    int64_t ts;
    if (audit_journal_decode(line, len, &id, &ts, &body, e))
        return -1;
    queue(arg, id, ts, body);
    count_pending(arg);
    free(id);
    return 0;
}

int audit_open(const char *path, const char *journal_dir, struct audit **out, struct err *e)
{
    const struct audit_store_ops *ops;
    void *db;
    if (audit_store_open(path, true, &ops, &db, e))
        return -1;
    struct audit *a = xcalloc(1, sizeof *a);
    a->path = xstrdup(path);
    a->ops = ops;
    a->db = db;
    writer_init(&a->w, "audit", "records", path, AUDIT_MAX_PENDING, ops->ping ? ops->ping(db) : true);
    if (journal_dir && writer_open_journal(&a->w, journal_dir, replay_line, a, e)) {
        audit_close(a);
        return -1;
    }
    writer_start(&a->w, writer_main, a);
    *out = a;
    return 0;
}

static json_t *str_or_null(const char *s) { return s ? json_string(s) : json_null(); }

int audit_append(struct audit *a, const struct audit_record *r, struct err *e)
{
    json_t *o = json_object();
    json_object_set_new(o, "ts_ms", json_integer(r->ts_ms));
    json_object_set_new(o, "request_id", str_or_null(r->request_id));
    json_object_set_new(o, "caller", str_or_null(r->caller));
    json_object_set_new(o, "route", str_or_null(r->route));
    json_object_set_new(o, "tier", str_or_null(r->tier));
    json_object_set_new(o, "reason", str_or_null(r->reason));
    json_object_set_new(o, "policy", str_or_null(r->policy));
    json_object_set_new(o, "kinds", json_string(r->kinds ? r->kinds : ""));
    json_object_set_new(o, "masked", json_integer(r->masked));
    json_object_set_new(o, "tokens_in", json_integer(r->tokens_in));
    json_object_set_new(o, "tokens_out", json_integer(r->tokens_out));
    json_object_set_new(o, "cost_microusd", json_integer(r->cost_microusd));
    json_object_set_new(o, "status", json_integer(r->status));
    json_object_set_new(o, "error", str_or_null(r->error));
    json_object_set_new(o, "request_sha256", str_or_null(r->request_sha256));
    json_object_set_new(o, "response_sha256", str_or_null(r->response_sha256));
    if (r->request_text)
        json_object_set_new(o, "request_text", json_string(r->request_text));
    if (r->response_text)
        json_object_set_new(o, "response_text", json_string(r->response_text));
    char *body = json_dumps(o, JSON_COMPACT | JSON_PRESERVE_ORDER | JSON_ENSURE_ASCII);
    json_decref(o);
    if (!body)
        return err_set(e, "audit %s: a record with a string that is not UTF-8 is not kept",
                       a->w.name);
    char id[40];
    writer_entry_id(&a->w, id);
    char *line = NULL;
    if (a->w.journal) { /* encoded outside the lock */
        json_t *j = json_pack("{s:s, s:s}", "e", id, "b", body);
        line = j ? json_dumps(j, JSON_COMPACT | JSON_PRESERVE_ORDER) : NULL;
        json_decref(j);
    }
    pthread_mutex_lock(&a->w.mu);
    size_t max = backlog_max(&a->w.backlog);
    if (a->n_committing + a->n_rows >= max) {
        pthread_mutex_unlock(&a->w.mu);
        free(body);
        free(line);
        return err_set(e, "audit %s: %zu records wait for the database; this one is lost",
                       a->w.name, max);
    }
    writer_journal(&a->w, line);
    free(line);
    queue(a, id, r->ts_ms, body);
    count_pending(a);
    pthread_mutex_unlock(&a->w.mu);
    return 0;
}

int audit_flush(struct audit *a, struct err *e) { return writer_flush(&a->w, e); }

bool audit_available(const struct audit *a) { return atomic_load(&a->w.available); }

size_t audit_pending(const struct audit *a) { return backlog_pending(&a->w.backlog); }

bool audit_has_room(const struct audit *a) { return backlog_room(&a->w.backlog); }

size_t audit_max_pending(const struct audit *a) { return backlog_max(&a->w.backlog); }

void audit_set_max_pending(struct audit *a, size_t n) { writer_set_max_pending(&a->w, n); }

void audit_close(struct audit *a)
{
    if (!a)
        return;
    writer_stop(&a->w);
    writer_destroy(&a->w, a->w.started ? a->n_rows : 0);
    free_rows(a->rows, a->n_rows);
    if (a->db)
        a->ops->close(a->db);
    free(a->path);
    free(a);
}

/* ---------------------------------------------------------------------------------------------
 * Reading */

struct verify_ctx {
    FILE *out;
    char prev_hash[65];
    int64_t expect, n, problems, last_seq;
};

static int verify_row(void *arg, const struct audit_stored *r)
{
    struct verify_ctx *v = arg;
    v->n++;
    int64_t seq = r->seq;
    const char *rec = r->record ? r->record : "";
    const char *prev = r->prev_hash ? r->prev_hash : "";
    const char *hash = r->hash ? r->hash : "";
    char problem[300] = "";
    json_t *j = json_loads(rec, 0, NULL);
    json_t *js = j ? json_object_get(j, "seq") : NULL;
    int64_t inner = json_is_integer(js) ? json_integer_value(js) : -1;
    json_decref(j);
    char h[65];
    chain_hash(strlen(prev) == 64 ? prev : g_zero_hash, rec, h);
    if (strcmp(h, hash) != 0)
        snprintf(problem, sizeof problem, "edited: its hash does not match its content");
    else if (inner != seq)
        snprintf(problem, sizeof problem, "moved: it says it is record %lld", (long long)inner);
    else if (seq != v->expect) /* rows come in seq order, so seq > expect */
        snprintf(problem, sizeof problem, "records %lld..%lld are missing (deleted)",
                 (long long)v->expect, (long long)(seq - 1));
    else if (strcmp(prev, v->prev_hash) != 0)
        snprintf(problem, sizeof problem,
                 "does not follow record %lld: a record before it was deleted, inserted, "
                 "replaced or reordered", (long long)(seq - 1));
    if (*problem) {
        if (v->problems < 100)
            fprintf(v->out, "audit: record %lld: %s\n", (long long)seq, problem);
        v->problems++;
    }
    memcpy(v->prev_hash, strlen(hash) == 64 ? hash : g_zero_hash, 65);
    v->expect = seq + 1;
    v->last_seq = seq;
    return 0;
}

int audit_verify(const char *path, FILE *out, struct err *e)
{
    const struct audit_store_ops *ops;
    void *db;
    if (audit_store_open(path, false, &ops, &db, e))
        return -1;
    struct verify_ctx v = {.out = out, .expect = 1};
    memcpy(v.prev_hash, g_zero_hash, 65);
    int rc = ops->scan(db, INT64_MIN, verify_row, &v, e);
    ops->close(db);
    if (rc)
        return -1;
    char name[256];
    pg_target_name(path, name, sizeof name);
    if (v.problems) {
        fprintf(out, "audit %s: %lld records, %lld problems: the trail has been tampered with\n",
                name, (long long)v.n, (long long)v.problems);
        return 1;
    }
    fprintf(out, "audit %s: %lld records, chain intact; head: record %lld, hash %s\n", name,
            (long long)v.n, (long long)v.last_seq, v.prev_hash);
    return 0;
}

struct export_ctx {
    FILE *out;
    int64_t n;
};

static int export_row(void *arg, const struct audit_stored *r)
{
    struct export_ctx *x = arg;
    const char *rec = r->record;
    size_t len = rec ? strlen(rec) : 0;
    const char *ph = r->prev_hash ? r->prev_hash : "", *h = r->hash ? r->hash : "";
    if (len < 2 || rec[len - 1] != '}') { /* not a record: say so in the export too */
        fprintf(x->out, "{\"corrupt\":true,\"prev_hash\":\"%s\",\"hash\":\"%s\"}\n", ph, h);
    } else {
        fwrite(rec, 1, len - 1, x->out);
        fprintf(x->out, ",\"prev_hash\":\"%s\",\"hash\":\"%s\"}\n", ph, h);
    }
    x->n++;
    return 0;
}

int audit_export(const char *path, int64_t since_ms, FILE *out, int64_t *n, struct err *e)
{
    *n = 0;
    const struct audit_store_ops *ops;
    void *db;
    if (audit_store_open(path, false, &ops, &db, e))
        return -1;
    struct export_ctx x = {out, 0};
    int rc = ops->scan(db, since_ms, export_row, &x, e);
    ops->close(db);
    *n = x.n;
    return rc ? -1 : 0;
}
