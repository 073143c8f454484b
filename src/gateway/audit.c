/* audit: hash-chained audit records in SQLite (audit.h).
 *
 * Schema, version 1 (PRAGMA user_version = 1; application_id 0x62746175 'btau' marks the file):
 *
 *   CREATE TABLE audit (
 *     seq       INTEGER PRIMARY KEY,   -- 1, 2, 3 ... in append order
 *     ts_ms     INTEGER NOT NULL,      -- copy of the record's ts_ms, for --since
 *     record    TEXT NOT NULL,         -- canonical JSON, "seq" inside
 *     prev_hash TEXT NOT NULL,         -- hex SHA-256 of the record before (64 zeros for seq 1)
 *     hash      TEXT NOT NULL          -- hex SHA-256(prev_hash || "\n" || record)
 *   );
 *
 * The JSON is produced by jansson with JSON_COMPACT and a fixed insertion order
 * (JSON_PRESERVE_ORDER), so the text hashed is the text stored; verify hashes the stored text
 * and never re-serializes.
 */
#include "gateway/audit.h"

#include "base/alloc.h"
#include "base/buf.h"
#include "base/log.h"

#include <jansson.h>
#include <openssl/evp.h>
#include <openssl/sha.h>
#include <pthread.h>
#include <sqlite3.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define AUDIT_SCHEMA_VERSION 1
#define AUDIT_FLUSH_MS 200
#define AUDIT_MAX_PENDING 65536

static const char g_schema[] =
    "CREATE TABLE audit ("
    " seq INTEGER PRIMARY KEY,"
    " ts_ms INTEGER NOT NULL,"
    " record TEXT NOT NULL,"
    " prev_hash TEXT NOT NULL,"
    " hash TEXT NOT NULL);"
    "CREATE INDEX audit_ts ON audit(ts_ms);"
    "PRAGMA application_id = 1652793717;"
    "PRAGMA user_version = 1;";

static const char g_zero_hash[65] =
    "0000000000000000000000000000000000000000000000000000000000000000";

struct row {
    int64_t seq, ts_ms;
    char *record;
    char prev[65], hash[65];
};

struct audit {
    char *path;
    sqlite3 *db;               /* writer thread only after open */
    sqlite3_stmt *insert;
    pthread_t writer;
    pthread_mutex_t mu;
    pthread_cond_t wake, done;
    struct row *rows;          /* queued */
    size_t n_rows, cap_rows;
    int64_t next_seq;
    char head[65];             /* hash of the last appended record */
    uint64_t requested, completed;
    bool failed, stop;
};

void audit_sha256_hex(const void *data, size_t len, char hex[65])
{
    unsigned char h[SHA256_DIGEST_LENGTH];
    SHA256(data, len, h);
    static const char d[] = "0123456789abcdef";
    for (int i = 0; i < SHA256_DIGEST_LENGTH; i++) {
        hex[2 * i] = d[h[i] >> 4];
        hex[2 * i + 1] = d[h[i] & 15];
    }
    hex[64] = 0;
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
    static const char d[] = "0123456789abcdef";
    for (int i = 0; i < SHA256_DIGEST_LENGTH; i++) {
        out[2 * i] = d[h[i] >> 4];
        out[2 * i + 1] = d[h[i] & 15];
    }
    out[64] = 0;
}

static int db_fail(struct err *e, const char *path, sqlite3 *db, const char *what)
{
    return err_set(e, "audit %s: %s: %s", path, what, db ? sqlite3_errmsg(db) : "out of memory");
}

/* Opens path; checks (or, if create, makes) the schema. */
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
        char *msg = NULL;
        sqlite3_exec(db, "PRAGMA journal_mode = WAL", NULL, NULL, NULL);
        if (sqlite3_exec(db, g_schema, NULL, NULL, &msg) != SQLITE_OK)
            rc = err_set(e, "audit %s: cannot create the schema: %s", path, msg ? msg : "?");
        sqlite3_free(msg);
    }
    if (rc) {
        sqlite3_close(db);
        return -1;
    }
    *out = db;
    return 0;
}

/* ---------------------------------------------------------------------------------------------
 * Writing */

static int commit_rows(struct audit *a, struct row *rows, size_t n, struct err *e)
{
    if (!n)
        return 0;
    if (sqlite3_exec(a->db, "BEGIN IMMEDIATE", NULL, NULL, NULL) != SQLITE_OK)
        return db_fail(e, a->path, a->db, "cannot begin");
    for (size_t i = 0; i < n; i++) {
        sqlite3_stmt *st = a->insert;
        sqlite3_bind_int64(st, 1, rows[i].seq);
        sqlite3_bind_int64(st, 2, rows[i].ts_ms);
        sqlite3_bind_text(st, 3, rows[i].record, -1, SQLITE_STATIC);
        sqlite3_bind_text(st, 4, rows[i].prev, 64, SQLITE_STATIC);
        sqlite3_bind_text(st, 5, rows[i].hash, 64, SQLITE_STATIC);
        int rc = sqlite3_step(st);
        sqlite3_reset(st);
        if (rc != SQLITE_DONE) {
            db_fail(e, a->path, a->db, "cannot insert");
            sqlite3_exec(a->db, "ROLLBACK", NULL, NULL, NULL);
            return -1;
        }
    }
    if (sqlite3_exec(a->db, "COMMIT", NULL, NULL, NULL) != SQLITE_OK) {
        db_fail(e, a->path, a->db, "cannot commit");
        sqlite3_exec(a->db, "ROLLBACK", NULL, NULL, NULL);
        return -1;
    }
    return 0;
}

static void *writer_main(void *arg)
{
    struct audit *a = arg;
    pthread_mutex_lock(&a->mu);
    for (;;) {
        if (!a->stop && a->requested == a->completed) {
            struct timespec ts;
            clock_gettime(CLOCK_REALTIME, &ts);
            ts.tv_nsec += AUDIT_FLUSH_MS * 1000000L;
            ts.tv_sec += ts.tv_nsec / 1000000000;
            ts.tv_nsec %= 1000000000;
            pthread_cond_timedwait(&a->wake, &a->mu, &ts);
        }
        uint64_t gen = a->requested;
        struct row *rows = a->rows;
        size_t n = a->n_rows;
        a->rows = NULL;
        a->n_rows = a->cap_rows = 0;
        bool stopping = a->stop;
        pthread_mutex_unlock(&a->mu);
        struct err e;
        int rc = commit_rows(a, rows, n, &e);
        pthread_mutex_lock(&a->mu);
        if (rc) { /* keep them, in order, before anything appended meanwhile */
            log_error("%s (%zu audit records wait for a retry)", e.msg, n);
            size_t total = n + a->n_rows;
            rows = xrealloc_array(rows, total ? total : 1, sizeof *rows);
            memcpy(rows + n, a->rows, a->n_rows * sizeof *rows);
            free(a->rows);
            a->rows = rows;
            a->n_rows = a->cap_rows = total;
        } else {
            for (size_t i = 0; i < n; i++)
                free(rows[i].record);
            free(rows);
        }
        a->failed = rc != 0;
        a->completed = gen;
        pthread_cond_broadcast(&a->done);
        if (stopping)
            break;
    }
    pthread_mutex_unlock(&a->mu);
    return NULL;
}

int audit_open(const char *path, struct audit **out, struct err *e)
{
    sqlite3 *db;
    if (open_db(path, true, &db, e))
        return -1;
    sqlite3_exec(db, "PRAGMA journal_mode = WAL; PRAGMA synchronous = FULL", NULL, NULL, NULL);
    struct audit *a = xcalloc(1, sizeof *a);
    a->path = xstrdup(path);
    a->db = db;
    a->next_seq = 1;
    memcpy(a->head, g_zero_hash, 65);
    sqlite3_stmt *st;
    if (sqlite3_prepare_v2(db, "SELECT seq, hash FROM audit ORDER BY seq DESC LIMIT 1", -1, &st,
                           NULL) == SQLITE_OK) {
        if (sqlite3_step(st) == SQLITE_ROW) {
            a->next_seq = sqlite3_column_int64(st, 0) + 1;
            const unsigned char *h = sqlite3_column_text(st, 1);
            if (h && strlen((const char *)h) == 64)
                memcpy(a->head, h, 65);
        }
        sqlite3_finalize(st);
    }
    if (sqlite3_prepare_v2(db, "INSERT INTO audit (seq, ts_ms, record, prev_hash, hash)"
                               " VALUES (?1, ?2, ?3, ?4, ?5)", -1, &a->insert, NULL) != SQLITE_OK) {
        db_fail(e, path, db, "cannot prepare the insert");
        sqlite3_close(db);
        free(a->path);
        free(a);
        return -1;
    }
    pthread_mutex_init(&a->mu, NULL);
    pthread_cond_init(&a->wake, NULL);
    pthread_cond_init(&a->done, NULL);
    pthread_create(&a->writer, NULL, writer_main, a);
    *out = a;
    return 0;
}

static json_t *str_or_null(const char *s) { return s ? json_string(s) : json_null(); }

int audit_append(struct audit *a, const struct audit_record *r, struct err *e)
{
    json_t *o = json_object();
    pthread_mutex_lock(&a->mu);
    if (a->n_rows >= AUDIT_MAX_PENDING) {
        pthread_mutex_unlock(&a->mu);
        json_decref(o);
        return err_set(e, "audit %s: %d records wait for the disk; this one is lost", a->path,
                       AUDIT_MAX_PENDING);
    }
    int64_t seq = a->next_seq++;
    json_object_set_new(o, "seq", json_integer(seq));
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
    char *text = json_dumps(o, JSON_COMPACT | JSON_PRESERVE_ORDER | JSON_ENSURE_ASCII);
    json_decref(o);
    if (a->n_rows == a->cap_rows) {
        a->cap_rows = a->cap_rows ? 2 * a->cap_rows : 64;
        a->rows = xrealloc_array(a->rows, a->cap_rows, sizeof *a->rows);
    }
    struct row *w = &a->rows[a->n_rows++];
    w->seq = seq;
    w->ts_ms = r->ts_ms;
    w->record = text;
    memcpy(w->prev, a->head, 65);
    chain_hash(a->head, text, w->hash);
    memcpy(a->head, w->hash, 65);
    pthread_mutex_unlock(&a->mu);
    return 0;
}

int audit_flush(struct audit *a, struct err *e)
{
    pthread_mutex_lock(&a->mu);
    uint64_t want = ++a->requested;
    pthread_cond_signal(&a->wake);
    while (a->completed < want)
        pthread_cond_wait(&a->done, &a->mu);
    bool failed = a->failed;
    pthread_mutex_unlock(&a->mu);
    return failed ? err_set(e, "audit %s: the last commit failed", a->path) : 0;
}

void audit_close(struct audit *a)
{
    if (!a)
        return;
    pthread_mutex_lock(&a->mu);
    a->stop = true;
    a->requested++;
    pthread_cond_signal(&a->wake);
    pthread_mutex_unlock(&a->mu);
    pthread_join(a->writer, NULL);
    if (a->n_rows)
        log_error("audit %s: %zu records could not be written", a->path, a->n_rows);
    for (size_t i = 0; i < a->n_rows; i++)
        free(a->rows[i].record);
    free(a->rows);
    sqlite3_finalize(a->insert);
    sqlite3_close(a->db);
    pthread_mutex_destroy(&a->mu);
    pthread_cond_destroy(&a->wake);
    pthread_cond_destroy(&a->done);
    free(a->path);
    free(a);
}

/* ---------------------------------------------------------------------------------------------
 * Reading */

int audit_verify(const char *path, FILE *out, struct err *e)
{
    sqlite3 *db;
    if (open_db(path, false, &db, e))
        return -1;
    sqlite3_stmt *st;
    if (sqlite3_prepare_v2(db, "SELECT seq, record, prev_hash, hash FROM audit ORDER BY seq", -1,
                           &st, NULL) != SQLITE_OK) {
        db_fail(e, path, db, "cannot query");
        sqlite3_close(db);
        return -1;
    }
    char prev_hash[65];
    memcpy(prev_hash, g_zero_hash, 65);
    int64_t expect = 1, n = 0, problems = 0, last_seq = 0;
    int rc;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        n++;
        int64_t seq = sqlite3_column_int64(st, 0);
        const char *rec = (const char *)sqlite3_column_text(st, 1);
        const char *prev = (const char *)sqlite3_column_text(st, 2);
        const char *hash = (const char *)sqlite3_column_text(st, 3);
        rec = rec ? rec : "";
        prev = prev ? prev : "";
        hash = hash ? hash : "";
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
            snprintf(problem, sizeof problem, "moved: it says it is record %lld",
                     (long long)inner);
        else if (seq != expect) /* rows come in seq order, so seq > expect */
            snprintf(problem, sizeof problem, "records %lld..%lld are missing (deleted)",
                     (long long)expect, (long long)(seq - 1));
        else if (strcmp(prev, prev_hash) != 0)
            snprintf(problem, sizeof problem,
                     "does not follow record %lld: a record before it was deleted, inserted, "
                     "replaced or reordered", (long long)(seq - 1));
        if (*problem) {
            if (problems < 100)
                fprintf(out, "audit: record %lld: %s\n", (long long)seq, problem);
            problems++;
        }
        memcpy(prev_hash, strlen(hash) == 64 ? hash : g_zero_hash, 65);
        expect = seq + 1;
        last_seq = seq;
    }
    if (rc != SQLITE_DONE)
        db_fail(e, path, db, "cannot read");
    sqlite3_finalize(st);
    sqlite3_close(db);
    if (rc != SQLITE_DONE)
        return -1;
    if (problems) {
        fprintf(out, "audit %s: %lld records, %lld problems: the trail has been tampered with\n",
                path, (long long)n, (long long)problems);
        return 1;
    }
    fprintf(out, "audit %s: %lld records, chain intact; head: record %lld, hash %s\n", path,
            (long long)n, (long long)last_seq, prev_hash);
    return 0;
}

int audit_export(const char *path, int64_t since_ms, FILE *out, int64_t *n, struct err *e)
{
    sqlite3 *db;
    *n = 0;
    if (open_db(path, false, &db, e))
        return -1;
    sqlite3_stmt *st;
    if (sqlite3_prepare_v2(db, "SELECT record, prev_hash, hash FROM audit WHERE ts_ms >= ?1"
                               " ORDER BY seq", -1, &st, NULL) != SQLITE_OK) {
        db_fail(e, path, db, "cannot query");
        sqlite3_close(db);
        return -1;
    }
    sqlite3_bind_int64(st, 1, since_ms);
    int rc;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        const char *rec = (const char *)sqlite3_column_text(st, 0);
        size_t len = rec ? strlen(rec) : 0;
        if (len < 2 || rec[len - 1] != '}') { /* not a record: say so in the export too */
            fprintf(out, "{\"corrupt\":true,\"prev_hash\":\"%s\",\"hash\":\"%s\"}\n",
                    sqlite3_column_text(st, 1), sqlite3_column_text(st, 2));
        } else {
            fwrite(rec, 1, len - 1, out);
            fprintf(out, ",\"prev_hash\":\"%s\",\"hash\":\"%s\"}\n", sqlite3_column_text(st, 1),
                    sqlite3_column_text(st, 2));
        }
        (*n)++;
    }
    if (rc != SQLITE_DONE)
        db_fail(e, path, db, "cannot read");
    sqlite3_finalize(st);
    sqlite3_close(db);
    return rc == SQLITE_DONE ? 0 : -1;
}
