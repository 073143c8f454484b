/* test_pg: the ledger and the audit trail in a real PostgreSQL started by the test
 * (pg_fixture.h): batched commits and reports through the URL, replays that are idempotent,
 * settled rows that survive SIGKILL of the writing process (journal), one audit chain from two
 * writers and verify finding edited, deleted, inserted and reordered records, an outage (rows
 * kept, availability reported, committed when the server is back), the high-water mark an outage
 * reaches (room gone at the mark, appends refused only at the hard cap, room back once the rows
 * are committed), URL errors. It prints the
 * measured cost of a journaled append and of a batch commit. */
#include "check.h"
#include "pg_fixture.h"

#include "base/clock.h"
#include "gateway/audit.h"
#include "gateway/backlog.h"
#include "gateway/ledger.h"
#include "gateway/pg.h"
#include "gateway/store.h"

#include <libpq-fe.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/stat.h>
#include <sys/wait.h>

static struct pgfx g_pg;
static char g_tmp[80];  /* inside the fixture's directory: removed with it, even on a crash */

static const char *tmp_path(const char *name)
{
    static char p[160];
    snprintf(p, sizeof p, "%s/%s", g_tmp, name);
    return p;
}

static void sql(const char *q)
{
    PGconn *c = PQconnectdb(g_pg.url);
    PGresult *r = PQexec(c, q);
    ExecStatusType st = PQresultStatus(r);
    CHECK_MSG(st == PGRES_COMMAND_OK || st == PGRES_TUPLES_OK, "%s: %s", q, PQerrorMessage(c));
    PQclear(r);
    PQfinish(c);
}

static long long sql_int(const char *q)
{
    PGconn *c = PQconnectdb(g_pg.url);
    PGresult *r = PQexec(c, q);
    long long v = PQresultStatus(r) == PGRES_TUPLES_OK && PQntuples(r) == 1
                      ? atoll(PQgetvalue(r, 0, 0)) : -1;
    PQclear(r);
    PQfinish(c);
    return v;
}

static struct ledger_row row(int i, const char *caller)
{
    static char ids[64];
    snprintf(ids, sizeof ids, "chatcmpl-%d", i);
    return (struct ledger_row){.ts_ms = 1700000000000 + i, .request_id = ids, .caller = caller,
                               .route = i % 2 ? "auto" : NULL, .tier = "small",
                               .reason = "default", .tokens_in = 10, .tokens_out = 20,
                               .cost_microusd = 3, .latency_ms = 5, .ttft_ms = i % 3 ? 2 : -1,
                               .status = i % 5 ? 200 : 502,
                               .error = i % 5 ? NULL : "upstream: refused"};
}

static int64_t report_requests(const char *target, int64_t *cost)
{
    struct cost_report rep;
    struct ledger_query q = {INT64_MIN, INT64_MAX, -1, -1};
    struct err e;
    if (ledger_report(target, &q, &rep, &e)) {
        fprintf(stderr, "report: %s\n", e.msg);
        return -1;
    }
    int64_t n = rep.all.requests;
    if (cost)
        *cost = rep.all.cost_microusd;
    cost_report_free(&rep);
    return n;
}

static void test_ledger_roundtrip(void)
{
    struct ledger *l;
    struct err e;
    CHECK_MSG(ledger_open(g_pg.url, tmp_path("j1"), &l, &e) == 0, "%s", e.msg);
    CHECK(ledger_available(l));
    for (int i = 0; i < 600; i++) { /* more than a batch, more than one INSERT statement */
        struct ledger_row r = row(i, i % 3 ? "team-a" : "team-b");
        CHECK(ledger_append(l, &r, &e) == 0);
    }
    CHECK_MSG(ledger_flush(l, &e) == 0, "%s", e.msg);
    CHECK_EQ_INT(ledger_pending(l), 0);
    int64_t spent = -1;
    CHECK_MSG(ledger_spent_live(l, "team-b", 0, &spent, &e) == 0, "%s", e.msg);
    CHECK_EQ_INT(spent, 200 * 3);
    ledger_close(l);
    int64_t cost = 0;
    CHECK_EQ_INT(report_requests(g_pg.url, &cost), 600);
    CHECK_EQ_INT(cost, 1800);
    CHECK(ledger_spent(g_pg.url, "team-a", 1700000000000 + 300, &spent, &e) == 0);
    CHECK_EQ_INT(spent, 200 * 3);
    /* the row's fields, as the SQLite ledger stores them */
    CHECK_EQ_INT(sql_int("SELECT count(*) FROM baton_ledger WHERE route IS NULL"), 300);
    CHECK_EQ_INT(sql_int("SELECT count(*) FROM baton_ledger WHERE error = 'upstream: refused'"
                         " AND status = 502"), 120);
    CHECK_EQ_INT(sql_int("SELECT count(*) FROM baton_ledger WHERE ttft_ms = -1"), 200);
    CHECK_EQ_INT(sql_int("SELECT version FROM baton_schema WHERE store = 'ledger'"), 1);
    /* a newer schema is refused by the server and by readers, as a newer SQLite file is */
    sql("UPDATE baton_schema SET version = 9 WHERE store = 'ledger'");
    CHECK(ledger_open(g_pg.url, NULL, &l, &e) == -1);
    CHECK_MSG(strstr(e.msg, "schema version 9 is newer than this baton's (1)") != NULL, "%s", e.msg);
    struct cost_report rep;
    struct ledger_query q = {INT64_MIN, INT64_MAX, -1, -1};
    CHECK(ledger_report(g_pg.url, &q, &rep, &e) == -1);
    CHECK_MSG(strstr(e.msg, "schema version 9 is newer") != NULL, "%s", e.msg);
    sql("UPDATE baton_schema SET version = 1 WHERE store = 'ledger'");
    /* the journal is empty once everything is committed */
    char cmd[256];
    snprintf(cmd, sizeof cmd, "test -z \"$(ls %s/j1/*.journal 2>/dev/null)\"", g_tmp);
    CHECK(system(cmd) == 0);
}

/* A journal holding rows already committed (a crash between commit and cleanup), a new row, a
 * line of garbage and a torn last line: the replay commits the new row once and nothing twice. */
static void test_replay_idempotent(void)
{
    sql("TRUNCATE baton_ledger");
    struct ledger *l;
    struct err e;
    CHECK_MSG(ledger_open(g_pg.url, tmp_path("j2"), &l, &e) == 0, "%s", e.msg);
    for (int i = 0; i < 3; i++) {
        struct ledger_row r = row(i, "k");
        CHECK(ledger_append(l, &r, &e) == 0);
    }
    /* copy the journal before it is committed and removed */
    char cmd[512];
    snprintf(cmd, sizeof cmd, "cat %s/j2/ledger.0.*.journal > %s/saved", g_tmp, g_tmp);
    CHECK(system(cmd) == 0);
    CHECK(ledger_flush(l, &e) == 0);
    ledger_close(l);
    CHECK_EQ_INT(report_requests(g_pg.url, NULL), 3);
    FILE *f = fopen(tmp_path("saved"), "a");
    fputs("{\"e\":\"feedfacefeedface-1\",\"ts\":1700000009999,\"rid\":\"x\",\"caller\":\"k\","
          "\"route\":null,\"tier\":\"small\",\"reason\":null,\"in\":1,\"out\":1,\"cost\":7,"
          "\"lat\":1,\"ttft\":-1,\"status\":200,\"error\":null}\n", f);
    fputs("this is not a row\n{\"e\":\"x\",\"ts\":-5}\n{\"e\":\"torn", f);
    fclose(f);
    snprintf(cmd, sizeof cmd, "mv %s/saved %s/j2/ledger.3.17.journal", g_tmp, g_tmp);
    CHECK(system(cmd) == 0);
    CHECK_MSG(ledger_open(g_pg.url, tmp_path("j2"), &l, &e) == 0, "%s", e.msg);
    CHECK_EQ_INT(ledger_pending(l), 4);
    CHECK(ledger_flush(l, &e) == 0);
    ledger_close(l);
    int64_t cost = 0;
    CHECK_EQ_INT(report_requests(g_pg.url, &cost), 4);
    CHECK_EQ_INT(cost, 3 * 3 + 7);
    snprintf(cmd, sizeof cmd, "test -z \"$(ls %s/j2/*.journal 2>/dev/null)\"", g_tmp);
    CHECK(system(cmd) == 0);
}

/* A child appends rows and is SIGKILLed before the writer's first commit: a new open of the
 * same journal directory commits every one, exactly once. */
static void test_sigkill(const char *target, const char *jdir)
{
    int fds[2];
    CHECK(pipe(fds) == 0);
    pid_t pid = fork();
    if (pid == 0) {
        close(fds[0]);
        struct ledger *l;
        struct err e;
        if (ledger_open(target, jdir, &l, &e))
            _exit(2);
        for (int i = 0; i < 500; i++) {
            struct ledger_row r = row(100000 + i, "killed");
            ledger_append(l, &r, &e);
        }
        if (write(fds[1], "x", 1) != 1)
            _exit(3);
        pause(); /* killed here, rows (mostly) not committed */
        _exit(4);
    }
    close(fds[1]);
    char c;
    CHECK(read(fds[0], &c, 1) == 1);
    kill(pid, SIGKILL);
    int st;
    waitpid(pid, &st, 0);
    close(fds[0]);
    CHECK(WIFSIGNALED(st) && WTERMSIG(st) == SIGKILL);
    struct ledger *l;
    struct err e;
    if (ledger_open(target, jdir, &l, &e)) {
        CHECK_MSG(0, "%s", e.msg);
        return;
    }
    CHECK(ledger_flush(l, &e) == 0);
    ledger_close(l);
    int64_t spent = -1;
    CHECK(ledger_spent(target, "killed", 0, &spent, &e) == 0);
    CHECK_EQ_INT(spent, 500 * 3);
}

static void test_sigkill_pg(void) { test_sigkill(g_pg.url, tmp_path("j3")); }

static void test_sigkill_sqlite(void)
{
    char db[160];
    snprintf(db, sizeof db, "%s/k.db", g_tmp);
    test_sigkill(db, tmp_path("j4"));
}

/* ---- audit ---- */

static struct audit_record rec(int i, const char *who)
{
    static char id[32];
    snprintf(id, sizeof id, "req-%s-%d", who, i);
    return (struct audit_record){.ts_ms = 1700000000000 + i, .request_id = id, .caller = who,
                                 .route = "auto", .tier = "small", .reason = "default",
                                 .policy = "none", .kinds = "", .tokens_in = i,
                                 .tokens_out = 2 * i, .cost_microusd = 3 * i, .status = 200,
                                 .request_sha256 = "ab", .response_sha256 = "cd"};
}

static int verify(const char *target, char *out, size_t cap)
{
    FILE *f = fmemopen(out, cap, "w");
    struct err e;
    int rc = audit_verify(target, f, &e);
    if (rc < 0)
        fprintf(f, "error: %s", e.msg);
    fclose(f);
    return rc;
}

static void test_audit_two_writers(void)
{
    struct audit *a, *b;
    struct err e;
    CHECK_MSG(audit_open(g_pg.url, tmp_path("ja"), &a, &e) == 0, "%s", e.msg);
    CHECK_MSG(audit_open(g_pg.url, tmp_path("jb"), &b, &e) == 0, "%s", e.msg);
    for (int i = 0; i < 300; i++) { /* interleaved batches of two "instances" */
        struct audit_record r = rec(i, "a");
        CHECK(audit_append(a, &r, &e) == 0);
        r = rec(i, "b");
        CHECK(audit_append(b, &r, &e) == 0);
        if (i % 50 == 0) {
            CHECK(audit_flush(i % 100 ? a : b, &e) == 0);
        }
    }
    CHECK(audit_flush(a, &e) == 0);
    CHECK(audit_flush(b, &e) == 0);
    audit_close(a);
    audit_close(b);
    char out[8192];
    CHECK_EQ_INT(verify(g_pg.url, out, sizeof out), 0);
    CHECK_MSG(strstr(out, "600 records, chain intact; head: record 600") != NULL, "%s", out);
    CHECK_MSG(strstr(out, "pgtester") == NULL, "the URL's user is not printed: %s", out);
    /* both writers' records are in the one chain, interleaved */
    CHECK(sql_int("SELECT count(*) FROM baton_audit WHERE record LIKE '%\"caller\":\"a\"%'") == 300);
    CHECK(sql_int("SELECT count(DISTINCT split_part(entry_id, '-', 1)) FROM baton_audit") == 2);

    /* the SQLite trail's text is the same for the same record */
    char sq[300];
    snprintf(sq, sizeof sq, "%s/a.db", g_tmp);
    CHECK(audit_open(sq, NULL, &a, &e) == 0);
    struct audit_record r = rec(0, "a");
    CHECK(audit_append(a, &r, &e) == 0);
    audit_close(a);
    char buf[4096] = "", pgbuf[4096] = "";
    FILE *f = fmemopen(buf, sizeof buf, "w");
    int64_t n;
    CHECK(audit_export(sq, 0, f, &n, &e) == 0);
    fclose(f);
    f = fmemopen(pgbuf, sizeof pgbuf, "w");
    CHECK(audit_export(g_pg.url, 1700000000000 + 1, f, &n, &e) == 0); /* seq 1 starts the same */
    fclose(f);
    CHECK_EQ_INT(n, 598);
    CHECK_EQ_INT(sql_int("SELECT count(*) FROM baton_audit WHERE seq = 1 AND record ="
                         " '{\"seq\":1,\"ts_ms\":1700000000000,\"request_id\":\"req-a-0\","
                         "\"caller\":\"a\",\"route\":\"auto\",\"tier\":\"small\",\"reason\":"
                         "\"default\",\"policy\":\"none\",\"kinds\":\"\",\"masked\":0,"
                         "\"tokens_in\":0,\"tokens_out\":0,\"cost_microusd\":0,\"status\":200,"
                         "\"error\":null,\"request_sha256\":\"ab\",\"response_sha256\":\"cd\"}'"
                         " OR seq = 1 AND record LIKE '%\"caller\":\"b\"%'"), 1);
    CHECK_MSG(strstr(buf, "{\"seq\":1,\"ts_ms\":1700000000000,\"request_id\":\"req-a-0\"") == buf,
              "%s", buf);

    /* tampering, undone after each case from a copy */
    sql("CREATE TABLE audit_copy AS SELECT * FROM baton_audit");
    struct { const char *name, *sql, *expect; } cases[] = {
        {"edit", "UPDATE baton_audit SET record = replace(record, '\"status\":200,',"
                 " '\"status\":201,') WHERE seq = 9", "audit: record 9: edited"},
        {"delete", "DELETE FROM baton_audit WHERE seq = 7", "audit: record 8: records 7..7 are missing"},
        {"delete-and-renumber", "DELETE FROM baton_audit WHERE seq = 3;"
                                " UPDATE baton_audit SET seq = 1 - seq WHERE seq > 3;"
                                " UPDATE baton_audit SET seq = -seq WHERE seq < 0",
         "audit: record 3: moved"},
        {"insert", "UPDATE baton_audit SET seq = seq + 1000 WHERE seq > 5;"
                   " UPDATE baton_audit SET seq = seq - 999 WHERE seq > 1000;"
                   " INSERT INTO baton_audit (seq, ts_ms, record, prev_hash, hash) VALUES (6, 0,"
                   " '{\"seq\":6}', '0000000000000000000000000000000000000000000000000000000000000000', 'x')",
         "audit: record 6: edited"},
        {"swap", "UPDATE baton_audit SET seq = 10000 WHERE seq = 5;"
                 " UPDATE baton_audit SET seq = 5 WHERE seq = 6; UPDATE baton_audit SET seq = 6 WHERE seq = 10000",
         "audit: record 5: moved"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        sql(cases[i].sql);
        int rc = verify(g_pg.url, out, sizeof out);
        CHECK_MSG(rc == 1, "%s: verify returned %d: %s", cases[i].name, rc, out);
        CHECK_MSG(strstr(out, cases[i].expect) != NULL, "%s: %s", cases[i].name, out);
        sql("DELETE FROM baton_audit; INSERT INTO baton_audit SELECT * FROM audit_copy");
        CHECK_EQ_INT(verify(g_pg.url, out, sizeof out), 0);
    }
    sql("DROP TABLE audit_copy");
}

/* A record replayed from a journal after it was committed is not chained twice. */
static void test_audit_replay(void)
{
    struct audit *a;
    struct err e;
    CHECK(audit_open(g_pg.url, tmp_path("jr"), &a, &e) == 0);
    struct audit_record r = rec(1, "replay");
    CHECK(audit_append(a, &r, &e) == 0);
    char cmd[512];
    snprintf(cmd, sizeof cmd, "cat %s/jr/audit.0.*.journal > %s/asaved", g_tmp, g_tmp);
    CHECK(system(cmd) == 0);
    CHECK(audit_flush(a, &e) == 0);
    audit_close(a);
    long long before = sql_int("SELECT count(*) FROM baton_audit");
    FILE *f = fopen(tmp_path("asaved"), "a");
    fputs("{\"e\":\"x-1\",\"b\":\"{\\\"seq\\\":3,\\\"ts_ms\\\":1}\"}\n", f); /* refused: has seq */
    fclose(f);
    snprintf(cmd, sizeof cmd, "mv %s/asaved %s/jr/audit.9.1.journal", g_tmp, g_tmp);
    CHECK(system(cmd) == 0);
    CHECK(audit_open(g_pg.url, tmp_path("jr"), &a, &e) == 0);
    CHECK(audit_flush(a, &e) == 0);
    audit_close(a);
    CHECK_EQ_INT(sql_int("SELECT count(*) FROM baton_audit"), before);
    char out[4096];
    CHECK_EQ_INT(verify(g_pg.url, out, sizeof out), 0);
}

/* The server stops: appends are kept, availability drops within about a second and a half,
 * the rows are committed once it is back. */
static void test_outage(void)
{
    sql("TRUNCATE baton_ledger");
    struct ledger *l;
    struct err e;
    CHECK(ledger_open(g_pg.url, tmp_path("jo"), &l, &e) == 0);
    CHECK(pgfx_pause(&g_pg) == 0);
    for (int i = 0; i < 20; i++) {
        struct ledger_row r = row(i, "outage");
        CHECK(ledger_append(l, &r, &e) == 0);
    }
    bool down = false;
    for (int t = 0; t < 40 && !down; t++) {
        usleep(100000);
        down = !ledger_available(l);
    }
    CHECK_MSG(down, "ledger_available still true 4 s after the server stopped");
    CHECK_EQ_INT(ledger_pending(l), 20);
    int64_t spent;
    uint64_t t0 = clock_now_ns();
    CHECK(ledger_spent_live(l, "outage", 0, &spent, &e) == -1); /* at once, no connect */
    CHECK((clock_now_ns() - t0) < 50000000ull);
    CHECK_MSG(strstr(e.msg, "unavailable") != NULL, "%s", e.msg);
    struct cost_report rep;
    struct ledger_query q = {INT64_MIN, INT64_MAX, -1, -1};
    CHECK(ledger_report(g_pg.url, &q, &rep, &e) == -1);
    CHECK_MSG(strstr(e.msg, "ledger postgres /tmp/baton-pg-") == e.msg, "%s", e.msg);
    CHECK(pgfx_resume(&g_pg) == 0);
    bool committed = false;
    for (int t = 0; t < 60 && !committed; t++) {
        usleep(100000);
        committed = ledger_pending(l) == 0 && ledger_available(l);
    }
    CHECK_MSG(committed, "rows not committed 6 s after the server came back");
    ledger_close(l);
    CHECK_EQ_INT(report_requests(g_pg.url, NULL), 20);
}

static struct audit_record audit_rec(int i)
{
    static char ids[64];
    snprintf(ids, sizeof ids, "chatcmpl-%d", i);
    return (struct audit_record){.ts_ms = 1700000000000 + i, .request_id = ids, .caller = "room",
                                 .tier = "small", .reason = "default", .policy = "none",
                                 .kinds = "", .status = 200};
}

/* An outage with small caps (40 rows: high-water mark 30, store.h): the room flag drops at the
 * append that reaches the mark, appends are still kept up to the cap (the reserve: requests in
 * flight, refusals) and refused past it, and the room comes back once the writers have committed
 * the backlog after the server returns. Ledger and audit trail alike. */
static void test_room(void)
{
    CHECK_EQ_INT(backlog_high_water(LEDGER_MAX_PENDING), LEDGER_MAX_PENDING - BACKLOG_RESERVE_ROWS);
    CHECK_EQ_INT(backlog_high_water(40), 30);
    sql("TRUNCATE baton_ledger");
    long long audit_before = sql_int("SELECT count(*) FROM baton_audit");
    struct ledger *l;
    struct audit *a;
    struct err e;
    CHECK(ledger_open(g_pg.url, tmp_path("jr"), &l, &e) == 0);
    CHECK(audit_open(g_pg.url, tmp_path("jr"), &a, &e) == 0);
    CHECK_EQ_INT(ledger_max_pending(l), LEDGER_MAX_PENDING);
    CHECK_EQ_INT(audit_max_pending(a), AUDIT_MAX_PENDING);
    ledger_set_max_pending(l, 40);
    audit_set_max_pending(a, 40);
    CHECK_EQ_INT(ledger_max_pending(l), 40);
    CHECK(ledger_has_room(l) && audit_has_room(a));
    CHECK(pgfx_pause(&g_pg) == 0);
    for (int i = 0; i < 29; i++) {
        struct ledger_row r = row(i, "room");
        struct audit_record ar = audit_rec(i);
        CHECK(ledger_append(l, &r, &e) == 0);
        CHECK(audit_append(a, &ar, &e) == 0);
    }
    usleep(300000); /* the writers try (and fail) a commit meanwhile: the count holds */
    CHECK_EQ_INT(ledger_pending(l), 29);
    CHECK_EQ_INT(audit_pending(a), 29);
    CHECK(ledger_has_room(l) && audit_has_room(a));
    for (int i = 29; i < 40; i++) { /* the 30th reaches the mark; the reserve takes the rest */
        struct ledger_row r = row(i, "room");
        struct audit_record ar = audit_rec(i);
        CHECK(ledger_append(l, &r, &e) == 0);
        CHECK(audit_append(a, &ar, &e) == 0);
        CHECK(!ledger_has_room(l) && !audit_has_room(a));
    }
    struct ledger_row r = row(40, "room");
    struct audit_record ar = audit_rec(40);
    CHECK(ledger_append(l, &r, &e) == -1); /* the hard cap */
    CHECK_MSG(strstr(e.msg, "40 rows wait") != NULL, "%s", e.msg);
    CHECK(audit_append(a, &ar, &e) == -1);
    CHECK_MSG(strstr(e.msg, "40 records wait") != NULL, "%s", e.msg);
    CHECK_EQ_INT(ledger_pending(l), 40);
    CHECK_EQ_INT(audit_pending(a), 40);
    CHECK(!ledger_has_room(l) && !audit_has_room(a));
    CHECK(pgfx_resume(&g_pg) == 0);
    bool room = false;
    for (int t = 0; t < 80 && !room; t++) {
        usleep(100000);
        room = ledger_has_room(l) && audit_has_room(a);
    }
    CHECK_MSG(room, "no room 8 s after the server came back (%zu rows, %zu records wait)",
              ledger_pending(l), audit_pending(a));
    CHECK(ledger_flush(l, &e) == 0);
    CHECK(audit_flush(a, &e) == 0);
    CHECK_EQ_INT(ledger_pending(l), 0);
    CHECK_EQ_INT(audit_pending(a), 0);
    ledger_close(l);
    audit_close(a);
    CHECK_EQ_INT(report_requests(g_pg.url, NULL), 40);
    CHECK_EQ_INT(sql_int("SELECT count(*) FROM baton_audit"), audit_before + 40);
}

static void test_urls(void)
{
    struct err e;
    char addr[128];
    CHECK(pg_is_url("postgres://h/db") && pg_is_url("postgresql://h") && !pg_is_url("/tmp/x.db"));
    CHECK(pg_url_check("postgres://u:secret@db.example:6543/money?sslmode=require", addr,
                       sizeof addr, &e) == 0);
    CHECK_STR(addr, "db.example:6543/money");
    CHECK(pg_url_check("postgres://h:99999999999/db", addr, sizeof addr, &e) == 0 ||
          strstr(e.msg, "not a PostgreSQL URL") != NULL);
    CHECK(pg_url_check("postgresql://h/db?nosuchoption=1", addr, sizeof addr, &e) == -1);
    CHECK_MSG(strstr(e.msg, "not a PostgreSQL URL") != NULL, "%s", e.msg);
    CHECK(pg_url_check("postgres://[::1/db", addr, sizeof addr, &e) == -1);
    struct ledger *l;
    CHECK(ledger_open("postgres://u:pw@h/db?bogus=1", NULL, &l, &e) == -1);
    CHECK_MSG(strstr(e.msg, "pw") == NULL, "no password in messages: %s", e.msg);
    /* a reader needs the database: an unreachable one is an error naming it */
    struct cost_report rep;
    struct ledger_query q = {INT64_MIN, INT64_MAX, -1, -1};
    CHECK(ledger_report("postgresql://u:pw@127.0.0.1:1/db", &q, &rep, &e) == -1);
    CHECK_MSG(strstr(e.msg, "ledger postgres 127.0.0.1:1/db: unavailable") == e.msg, "%s", e.msg);
    CHECK(strstr(e.msg, "pw") == NULL);
}

/* Measured, printed: a journaled append (the request path) and a 256-row batch commit. */
static void test_costs(void)
{
    struct ledger *l, *lj;
    struct err e;
    sql("TRUNCATE baton_ledger");
    CHECK(ledger_open(g_pg.url, NULL, &l, &e) == 0);
    CHECK(ledger_open(g_pg.url, tmp_path("jc"), &lj, &e) == 0);
    const int n = 2000;
    double best_plain = 1e9, best_j = 1e9;
    for (int rep = 0; rep < 3; rep++) {
        uint64_t t0 = clock_now_ns();
        for (int i = 0; i < n; i++) {
            struct ledger_row r = row(i, "cost");
            ledger_append(l, &r, &e);
        }
        uint64_t t1 = clock_now_ns();
        for (int i = 0; i < n; i++) {
            struct ledger_row r = row(i, "cost");
            ledger_append(lj, &r, &e);
        }
        uint64_t t2 = clock_now_ns();
        double a = (double)(t1 - t0) / n / 1000.0, b = (double)(t2 - t1) / n / 1000.0;
        best_plain = a < best_plain ? a : best_plain;
        best_j = b < best_j ? b : best_j;
        CHECK(ledger_flush(l, &e) == 0);
        CHECK(ledger_flush(lj, &e) == 0);
    }
    /* batch commit: 256 rows appended, then one flush */
    double best_commit = 1e9;
    for (int rep = 0; rep < 5; rep++) {
        for (int i = 0; i < LEDGER_BATCH_ROWS; i++) {
            struct ledger_row r = row(i, "cost");
            ledger_append(l, &r, &e);
        }
        uint64_t t0 = clock_now_ns();
        CHECK(ledger_flush(l, &e) == 0);
        double ms = (double)(clock_now_ns() - t0) / 1e6;
        best_commit = ms < best_commit ? ms : best_commit;
    }
    printf("cost: ledger_append %.2f us/row without journal, %.2f us/row with journal "
           "(journal: +%.2f us); PostgreSQL batch commit of %d rows: %.2f ms (unix socket, "
           "fsync=off in the test server)\n", best_plain, best_j, best_j - best_plain,
           LEDGER_BATCH_ROWS, best_commit);
    ledger_close(l);
    ledger_close(lj);
    CHECK(best_j < 1000.0); /* a journal append is a write(2), far below a millisecond */
}

int main(void)
{
    if (pgfx_start(&g_pg)) {
        fprintf(stderr, "test_pg: cannot start PostgreSQL\n");
        return 1;
    }
    snprintf(g_tmp, sizeof g_tmp, "%s/t", g_pg.dir);
    if (mkdir(g_tmp, 0700))
        return 1;
    RUN(test_urls);
    RUN(test_ledger_roundtrip);
    RUN(test_replay_idempotent);
    RUN(test_sigkill_pg);
    RUN(test_sigkill_sqlite);
    RUN(test_audit_two_writers);
    RUN(test_audit_replay);
    RUN(test_costs);
    RUN(test_outage);
    RUN(test_room);
    pgfx_stop(&g_pg); /* removes g_tmp too */
    return check_report();
}
