/* test_ledger: exact cost arithmetic and its rounding, USD formatting, append/flush/reopen, the
 * batch and age triggers, WAL mode, schema-version checks, what a crash keeps, and the report. */
#include "check.h"

#include <stdbool.h>

#include "gateway/ledger.h"

#include <signal.h>
#include <sqlite3.h>
#include <stdint.h>
#include <sys/wait.h>
#include <unistd.h>

static char g_dir[64];

static const char *tmp_path(const char *name)
{
    static char p[128];
    snprintf(p, sizeof p, "%s/%s", g_dir, name);
    return p;
}

/* Polls until nothing is pending or timeout_ms passes. */
static bool wait_committed(struct ledger *l, int timeout_ms)
{
    for (int waited = 0; waited <= timeout_ms; waited += 5) {
        if (ledger_pending(l) == 0)
            return true;
        usleep(5000);
    }
    return false;
}

static void test_cost(void)
{
    CHECK_EQ_INT(ledger_cost_microusd(0, 0, 1750000, 14000000), 0);
    CHECK_EQ_INT(ledger_cost_microusd(1000, 1000, 1750000, 14000000), 15750);
    /* the published estimate: 45,000 requests of 1K in and 1K out */
    CHECK_EQ_INT(ledger_cost_microusd(45000000, 45000000, 1750000, 14000000), 708750000);
    CHECK_EQ_INT(ledger_cost_microusd(45000000, 45000000, 100000, 400000), 22500000);
    /* rounding up to the micro-dollar, on the sum (not per direction) */
    CHECK_EQ_INT(ledger_cost_microusd(1, 0, 1, 0), 1);
    CHECK_EQ_INT(ledger_cost_microusd(1, 1, 500000, 499999), 1);
    CHECK_EQ_INT(ledger_cost_microusd(1, 1, 500000, 500000), 1);
    CHECK_EQ_INT(ledger_cost_microusd(1, 1, 500000, 500001), 2);
    CHECK_EQ_INT(ledger_cost_microusd(3, 0, 333333, 0), 1);
    CHECK_EQ_INT(ledger_cost_microusd(3, 0, 333334, 0), 2);
    CHECK_EQ_INT(ledger_cost_microusd(999999, 0, 1, 0), 1);
    CHECK_EQ_INT(ledger_cost_microusd(1000001, 0, 1, 0), 2);
    /* no 64-bit overflow in the products: 1e12 tokens x $1e6 per 1M */
    CHECK_EQ_INT(ledger_cost_microusd(INT64_C(1000000000000), 0, INT64_C(1000000000000), 0),
                 INT64_C(1000000000000000000));
    CHECK_EQ_INT(ledger_cost_microusd(INT64_MAX, INT64_MAX, INT64_MAX, INT64_MAX), INT64_MAX);
    CHECK_EQ_INT(ledger_cost_microusd(-5, 10, 1000000, -3), 0);
    CHECK_EQ_INT(ledger_cost_microusd(-5, 10, 1000000, 1000000), 10);
}

static void test_format(void)
{
    char b[32];
    CHECK_STR(ledger_format_usd(708750000, b, sizeof b), "708.75");
    CHECK_STR(ledger_format_usd(22500000, b, sizeof b), "22.50");
    CHECK_STR(ledger_format_usd(0, b, sizeof b), "0.00");
    CHECK_STR(ledger_format_usd(1, b, sizeof b), "0.000001");
    CHECK_STR(ledger_format_usd(15750, b, sizeof b), "0.01575");
    CHECK_STR(ledger_format_usd(1000000, b, sizeof b), "1.00");
    CHECK_STR(ledger_format_usd(-1500000, b, sizeof b), "-1.50");
    CHECK_STR(ledger_format_usd(INT64_MAX, b, sizeof b), "9223372036854.775807");
    CHECK_STR(ledger_format_usd(INT64_MIN, b, sizeof b), "-9223372036854.775808");
}

static struct ledger_row row(int64_t ts, const char *route, const char *tier, int64_t in,
                             int64_t out, int64_t cost, int status, const char *error)
{
    return (struct ledger_row){ts, "chatcmpl-1", "key-a", route, tier, "rule x: y", in, out, cost,
                               120, 40, status, error};
}

static int64_t count_rows(const char *path)
{
    sqlite3 *db;
    sqlite3_stmt *st;
    int64_t n = -1;
    if (sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY, NULL) == SQLITE_OK &&
        sqlite3_prepare_v2(db, "SELECT count(*) FROM requests", -1, &st, NULL) == SQLITE_OK) {
        if (sqlite3_step(st) == SQLITE_ROW)
            n = sqlite3_column_int64(st, 0);
        sqlite3_finalize(st);
    }
    sqlite3_close(db);
    return n;
}

static void test_append_flush_reopen(void)
{
    const char *path = tmp_path("a.db");
    struct ledger *l;
    struct err e = {{0}};
    CHECK_MSG(ledger_open(path, NULL, &l, &e) == 0, "%s", e.msg);
    if (!l)
        return;
    struct ledger_row r1 = row(1000, "auto", "small", 10, 20, 5, 200, NULL);
    struct ledger_row r2 = row(2000, NULL, "large", 100, 200, 50, 200, NULL);
    struct ledger_row r3 = row(3000, "auto", "large", 7, 0, 1, 502, "upstream: connection refused");
    CHECK(ledger_append(l, &r1, &e) == 0);
    CHECK(ledger_append(l, &r2, &e) == 0);
    CHECK_EQ_INT(ledger_pending(l), 2);
    CHECK_EQ_INT(count_rows(path), 0); /* nothing committed yet */
    CHECK(ledger_flush(l, &e) == 0);
    CHECK_EQ_INT(ledger_pending(l), 0);
    CHECK_EQ_INT(count_rows(path), 2); /* another connection sees the batch */
    CHECK(ledger_flush(l, &e) == 0);  /* nothing pending: a no-op */
    CHECK(ledger_append(l, &r3, &e) == 0);
    ledger_close(l); /* flushes */
    CHECK_EQ_INT(count_rows(path), 3);

    CHECK_MSG(ledger_open(path, NULL, &l, &e) == 0, "reopen: %s", e.msg);
    struct ledger_row r4 = row(4000, "auto", "small", 1, 1, 1, 200, NULL);
    CHECK(ledger_append(l, &r4, &e) == 0);
    ledger_close(l);
    CHECK_EQ_INT(count_rows(path), 4);

    /* every column round-trips */
    sqlite3 *db;
    sqlite3_stmt *st;
    CHECK(sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY, NULL) == SQLITE_OK);
    CHECK(sqlite3_prepare_v2(db, "SELECT ts_ms, request_id, caller, route, tier, reason,"
                                 " tokens_in, tokens_out, cost_microusd, latency_ms, ttft_ms,"
                                 " status, error FROM requests ORDER BY id LIMIT 1 OFFSET 2",
                             -1, &st, NULL) == SQLITE_OK);
    CHECK(sqlite3_step(st) == SQLITE_ROW);
    CHECK_EQ_INT(sqlite3_column_int64(st, 0), 3000);
    CHECK_STR((const char *)sqlite3_column_text(st, 1), "chatcmpl-1");
    CHECK_STR((const char *)sqlite3_column_text(st, 2), "key-a");
    CHECK_STR((const char *)sqlite3_column_text(st, 3), "auto");
    CHECK_STR((const char *)sqlite3_column_text(st, 4), "large");
    CHECK_STR((const char *)sqlite3_column_text(st, 5), "rule x: y");
    CHECK_EQ_INT(sqlite3_column_int64(st, 6), 7);
    CHECK_EQ_INT(sqlite3_column_int64(st, 7), 0);
    CHECK_EQ_INT(sqlite3_column_int64(st, 8), 1);
    CHECK_EQ_INT(sqlite3_column_int64(st, 9), 120);
    CHECK_EQ_INT(sqlite3_column_int64(st, 10), 40);
    CHECK_EQ_INT(sqlite3_column_int64(st, 11), 502);
    CHECK_STR((const char *)sqlite3_column_text(st, 12), "upstream: connection refused");
    sqlite3_finalize(st);
    CHECK(sqlite3_prepare_v2(db, "SELECT route IS NULL, error IS NULL FROM requests WHERE id = 2",
                             -1, &st, NULL) == SQLITE_OK);
    CHECK(sqlite3_step(st) == SQLITE_ROW);
    CHECK_EQ_INT(sqlite3_column_int(st, 0), 1);
    CHECK_EQ_INT(sqlite3_column_int(st, 1), 1);
    sqlite3_finalize(st);
    CHECK(sqlite3_prepare_v2(db, "PRAGMA user_version", -1, &st, NULL) == SQLITE_OK);
    CHECK(sqlite3_step(st) == SQLITE_ROW);
    CHECK_EQ_INT(sqlite3_column_int(st, 0), 2);
    sqlite3_finalize(st);
    sqlite3_close(db);
}

static void test_wal_and_triggers(void)
{
    const char *path = tmp_path("b.db");
    struct ledger *l;
    struct err e = {{0}};
    CHECK_MSG(ledger_open(path, NULL, &l, &e) == 0, "%s", e.msg);
    if (!l)
        return;
    sqlite3 *db;
    sqlite3_stmt *st;
    CHECK(sqlite3_open(path, &db) == SQLITE_OK);
    CHECK(sqlite3_prepare_v2(db, "PRAGMA journal_mode", -1, &st, NULL) == SQLITE_OK);
    CHECK(sqlite3_step(st) == SQLITE_ROW);
    CHECK_STR((const char *)sqlite3_column_text(st, 0), "wal");
    sqlite3_finalize(st);
    sqlite3_close(db);

    /* a full batch is committed by the writer thread at once, without a flush */
    struct ledger_row r = row(1, "auto", "small", 1, 1, 1, 200, NULL);
    for (int i = 0; i < LEDGER_BATCH_ROWS; i++)
        CHECK(ledger_append(l, &r, &e) == 0);
    CHECK_MSG(wait_committed(l, 100), "a full batch still pending after 100 ms");
    CHECK_EQ_INT(count_rows(path), LEDGER_BATCH_ROWS);
    /* a lone row is committed within about the flush interval */
    CHECK(ledger_append(l, &r, &e) == 0);
    CHECK_MSG(wait_committed(l, 3 * LEDGER_FLUSH_INTERVAL_MS), "a lone row never committed");
    CHECK_EQ_INT(count_rows(path), LEDGER_BATCH_ROWS + 1);
    ledger_close(l);
}

/* A process that dies without closing keeps every committed batch and loses the pending rows. */
static void test_crash(void)
{
    const char *path = tmp_path("c.db");
    fflush(NULL);
    pid_t pid = fork();
    if (pid == 0) {
        struct ledger *l;
        struct err e;
        if (ledger_open(path, NULL, &l, &e))
            _exit(2);
        struct ledger_row r = row(1, "auto", "small", 1, 1, 1, 200, NULL);
        for (int i = 0; i < 5; i++)
            ledger_append(l, &r, &e);
        if (ledger_flush(l, &e))
            _exit(3);
        for (int i = 0; i < 3; i++)
            ledger_append(l, &r, &e);
        _exit(0); /* no ledger_close: the 3 pending rows die with the process */
    }
    int status = -1;
    waitpid(pid, &status, 0);
    CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    CHECK_EQ_INT(count_rows(path), 5);
    /* the file is intact and opens for writing again */
    struct ledger *l;
    struct err e = {{0}};
    CHECK_MSG(ledger_open(path, NULL, &l, &e) == 0, "%s", e.msg);
    ledger_close(l);
}

/* With a journal, the rows a killed process had not committed are committed by the next open,
 * strings intact however they are spelled (the journal line is JSON written by hand). */
static void test_crash_journaled(void)
{
    const char *path = tmp_path("cj.db");
    char jdir[128];
    snprintf(jdir, sizeof jdir, "%s/journal", g_dir);
    static const char *odd = "q\"uote \\ back\nnew\ttab \x01 caf\xc3\xa9 \xe2\x82\xac /";
    fflush(NULL);
    pid_t pid = fork();
    if (pid == 0) {
        struct ledger *l;
        struct err e;
        if (ledger_open(path, jdir, &l, &e))
            _exit(2);
        struct ledger_row r = row(1, "auto", "small", 1, 1, 1, 200, NULL);
        for (int i = 0; i < 5; i++)
            ledger_append(l, &r, &e);
        if (ledger_flush(l, &e))
            _exit(3);
        r = row(2, odd, "small", 7, 8, 9, 502, odd);
        r.caller = odd;
        r.reason = odd;
        for (int i = 0; i < 3; i++)
            ledger_append(l, &r, &e);
        raise(SIGKILL); /* the 3 rows are in the journal only */
        _exit(4);
    }
    int status = -1;
    waitpid(pid, &status, 0);
    CHECK(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL);
    struct ledger *l;
    struct err e = {{0}};
    CHECK_MSG(ledger_open(path, jdir, &l, &e) == 0, "%s", e.msg);
    CHECK(ledger_flush(l, &e) == 0);
    ledger_close(l);
    CHECK_EQ_INT(count_rows(path), 8);
    sqlite3 *db;
    sqlite3_stmt *st;
    CHECK(sqlite3_open(path, &db) == SQLITE_OK);
    CHECK(sqlite3_prepare_v2(db, "SELECT count(*) FROM requests WHERE route = ?1 AND caller = ?1"
                                 " AND reason = ?1 AND error = ?1 AND tokens_in = 7 AND"
                                 " status = 502", -1, &st, NULL) == SQLITE_OK);
    sqlite3_bind_text(st, 1, odd, -1, SQLITE_STATIC);
    CHECK(sqlite3_step(st) == SQLITE_ROW);
    CHECK_EQ_INT(sqlite3_column_int(st, 0), 3);
    sqlite3_finalize(st);
    sqlite3_close(db);
}

static void test_schema_checks(void)
{
    struct ledger *l = NULL;
    struct err e = {{0}};
    char want[256];
    sqlite3 *db;
    const char *newer = tmp_path("newer.db");
    CHECK(sqlite3_open(newer, &db) == SQLITE_OK);
    CHECK(sqlite3_exec(db, "PRAGMA user_version = 3", NULL, NULL, NULL) == SQLITE_OK);
    sqlite3_close(db);
    CHECK(ledger_open(newer, NULL, &l, &e) == -1);
    snprintf(want, sizeof want, "ledger %s: schema version 3 is newer than this baton's (2); use "
                                "a newer baton or another file", newer);
    CHECK_STR(e.msg, want);

    const char *foreign = tmp_path("foreign.db");
    CHECK(sqlite3_open(foreign, &db) == SQLITE_OK);
    CHECK(sqlite3_exec(db, "CREATE TABLE t (x)", NULL, NULL, NULL) == SQLITE_OK);
    sqlite3_close(db);
    CHECK(ledger_open(foreign, NULL, &l, &e) == -1);
    snprintf(want, sizeof want, "ledger %s: not a baton ledger (it has tables but no baton "
                                "schema version)", foreign);
    CHECK_STR(e.msg, want);
    struct cost_report rep;
    struct ledger_query q = {INT64_MIN, INT64_MAX, -1, -1};
    CHECK(ledger_report(foreign, &q, &rep, &e) == -1);
    CHECK_STR(e.msg, want);

    const char *text = tmp_path("text.db");
    FILE *f = fopen(text, "w");
    fputs("this is not a database, it is a text file of some length..........................."
          "...................................................................................",
          f);
    fclose(f);
    CHECK(ledger_open(text, NULL, &l, &e) == -1);
    CHECK_MSG(strstr(e.msg, "file is not a database") != NULL, "%s", e.msg);

    CHECK(ledger_open("/nonexistent-dir/l.db", NULL, &l, &e) == -1);
    CHECK_MSG(strstr(e.msg, "ledger /nonexistent-dir/l.db: cannot open") == e.msg, "%s", e.msg);
    CHECK(ledger_report(tmp_path("missing.db"), &q, &rep, &e) == -1);
    snprintf(want, sizeof want, "ledger %s: No such file or directory", tmp_path("missing.db"));
    CHECK_STR(e.msg, want);

    /* a version 1 ledger (before entry ids) is read as is and upgraded when a server opens it */
    const char *v1 = tmp_path("v1.db");
    CHECK(sqlite3_open(v1, &db) == SQLITE_OK);
    CHECK(sqlite3_exec(db, "CREATE TABLE requests (id INTEGER PRIMARY KEY, ts_ms INTEGER NOT NULL,"
                           " request_id TEXT, caller TEXT, route TEXT, tier TEXT NOT NULL, reason TEXT,"
                           " tokens_in INTEGER NOT NULL, tokens_out INTEGER NOT NULL,"
                           " cost_microusd INTEGER NOT NULL, latency_ms INTEGER NOT NULL,"
                           " ttft_ms INTEGER NOT NULL, status INTEGER NOT NULL, error TEXT);"
                           "CREATE INDEX requests_ts ON requests(ts_ms);"
                           "INSERT INTO requests VALUES (1, 5, 'r1', 'k', NULL, 'small', 'x', 1, 2, 7,"
                           " 1, 1, 200, NULL); PRAGMA user_version = 1;",
                       NULL, NULL, NULL) == SQLITE_OK);
    sqlite3_close(db);
    CHECK_MSG(ledger_report(v1, &q, &rep, &e) == 0, "%s", e.msg);
    CHECK_EQ_INT(rep.all.cost_microusd, 7);
    cost_report_free(&rep);
    CHECK_MSG(ledger_open(v1, NULL, &l, &e) == 0, "%s", e.msg);
    struct ledger_row row = {.ts_ms = 6, .request_id = "r2", .tier = "small", .cost_microusd = 5,
                             .status = 200};
    CHECK(ledger_append(l, &row, &e) == 0);
    CHECK(ledger_flush(l, &e) == 0);
    ledger_close(l);
    CHECK_MSG(ledger_report(v1, &q, &rep, &e) == 0, "%s", e.msg);
    CHECK_EQ_INT(rep.all.requests, 2);
    CHECK_EQ_INT(rep.all.cost_microusd, 12);
    cost_report_free(&rep);
}

static void test_report(void)
{
    const char *path = tmp_path("r.db");
    struct ledger *l;
    struct err e = {{0}};
    CHECK_MSG(ledger_open(path, NULL, &l, &e) == 0, "%s", e.msg);
    if (!l)
        return;
    /* small costs 0.01/0.02, large 0.05/0.10 per 1M; the reference is large */
    struct ledger_row rows[] = {
        row(1000, "auto", "small", 1000, 500, ledger_cost_microusd(1000, 500, 10000, 20000), 200,
            NULL),
        row(2000, "auto", "large", 3000, 1000, ledger_cost_microusd(3000, 1000, 50000, 100000),
            200, NULL),
        row(3000, NULL, "small", 10, 10, ledger_cost_microusd(10, 10, 10000, 20000), 200, NULL),
        row(4000, "auto", "small", 0, 0, 0, 503, "queue full"),
        row(5000, "auto", "small", 1, 1, ledger_cost_microusd(1, 1, 10000, 20000), 200, NULL),
    };
    for (size_t i = 0; i < sizeof rows / sizeof *rows; i++)
        CHECK(ledger_append(l, &rows[i], &e) == 0);
    ledger_close(l);

    struct cost_report rep;
    struct ledger_query q = {INT64_MIN, INT64_MAX, 50000, 100000};
    CHECK_MSG(ledger_report(path, &q, &rep, &e) == 0, "%s", e.msg);
    CHECK_EQ_INT(rep.all.requests, 5);
    CHECK_EQ_INT(rep.all.errors, 1);
    CHECK_EQ_INT(rep.all.tokens_in, 4011);
    CHECK_EQ_INT(rep.all.tokens_out, 1511);
    /* 20 + 250 + 1 + 0 + 1 (each rounded up) */
    CHECK_EQ_INT(rep.all.cost_microusd, 272);
    /* at large's prices: 100 + 250 + 2 + 0 + 1 */
    CHECK_EQ_INT(rep.all.ref_cost_microusd, 353);
    CHECK_EQ_INT(rep.first_ts_ms, 1000);
    CHECK_EQ_INT(rep.last_ts_ms, 5000);
    CHECK_EQ_INT(rep.n_tiers, 2);
    if (rep.n_tiers == 2) {
        CHECK_STR(rep.tiers[0].name, "large");
        CHECK_EQ_INT(rep.tiers[0].requests, 1);
        CHECK_EQ_INT(rep.tiers[0].cost_microusd, 250);
        CHECK_EQ_INT(rep.tiers[0].ref_cost_microusd, 250);
        CHECK_STR(rep.tiers[1].name, "small");
        CHECK_EQ_INT(rep.tiers[1].requests, 4);
        CHECK_EQ_INT(rep.tiers[1].errors, 1);
        CHECK_EQ_INT(rep.tiers[1].tokens_in, 1011);
        CHECK_EQ_INT(rep.tiers[1].cost_microusd, 22);
        CHECK_EQ_INT(rep.tiers[1].ref_cost_microusd, 103);
    }
    CHECK_EQ_INT(rep.n_routes, 2);
    if (rep.n_routes == 2) {
        CHECK_STR(rep.routes[0].name, "auto");
        CHECK_EQ_INT(rep.routes[0].requests, 4);
        CHECK(rep.routes[1].name == NULL);
        CHECK_EQ_INT(rep.routes[1].requests, 1);
        CHECK_EQ_INT(rep.routes[1].cost_microusd, 1);
    }
    cost_report_free(&rep);

    /* a time window, no reference */
    q = (struct ledger_query){2000, 4000, -1, -1};
    CHECK(ledger_report(path, &q, &rep, &e) == 0);
    CHECK_EQ_INT(rep.all.requests, 2);
    CHECK_EQ_INT(rep.all.cost_microusd, 251);
    CHECK_EQ_INT(rep.all.ref_cost_microusd, 0);
    cost_report_free(&rep);
    q.since_ms = 6000;
    q.until_ms = INT64_MAX;
    CHECK(ledger_report(path, &q, &rep, &e) == 0);
    CHECK_EQ_INT(rep.all.requests, 0);
    CHECK_EQ_INT(rep.n_tiers, 0);
    CHECK_EQ_INT(rep.first_ts_ms, 0);
    cost_report_free(&rep);
}

int main(void)
{
    snprintf(g_dir, sizeof g_dir, "/tmp/test_ledger_XXXXXX");
    if (!mkdtemp(g_dir)) {
        perror("mkdtemp");
        return 1;
    }
    RUN(test_cost);
    RUN(test_format);
    RUN(test_append_flush_reopen);
    RUN(test_wal_and_triggers);
    RUN(test_crash);
    RUN(test_crash_journaled);
    RUN(test_schema_checks);
    RUN(test_report);
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf %s", g_dir);
    if (system(cmd) != 0)
        fprintf(stderr, "could not remove %s\n", g_dir);
    return check_report();
}
