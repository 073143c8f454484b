/* Unit tests for gateway/audit: the chain continues across reopen, verify finds edited, deleted,
 * inserted and reordered records and says which, export filters by time. */
#include "check.h"

#include "gateway/audit.h"

#include <sqlite3.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static char g_dir[] = "/tmp/baton-audit-XXXXXX";

static void make_trail(const char *path, int n, int64_t t0)
{
    struct audit *a;
    struct err e;
    CHECK_MSG(audit_open(path, NULL, &a, &e) == 0, "%s", e.msg);
    for (int i = 0; i < n; i++) {
        char id[32];
        snprintf(id, sizeof id, "req-%d", i);
        struct audit_record r = {.ts_ms = t0 + i * 1000, .request_id = id, .caller = "team-a",
                                 .route = "auto", .tier = "small", .reason = "default",
                                 .policy = "none", .kinds = "", .tokens_in = i, .tokens_out = 2 * i,
                                 .cost_microusd = 3 * i, .status = 200,
                                 .request_sha256 = "ab", .response_sha256 = "cd"};
        CHECK(audit_append(a, &r, &e) == 0);
        if (i == n / 2)
            CHECK(audit_flush(a, &e) == 0);
    }
    audit_close(a);
}

/* Runs verify; returns its status and the output in out. */
static int verify(const char *path, char *out, size_t cap)
{
    FILE *f = fmemopen(out, cap, "w");
    struct err e;
    int rc = audit_verify(path, f, &e);
    fclose(f);
    return rc;
}

static void exec_sql(const char *path, const char *sql)
{
    sqlite3 *db;
    CHECK(sqlite3_open(path, &db) == SQLITE_OK);
    char *msg = NULL;
    CHECK_MSG(sqlite3_exec(db, sql, NULL, NULL, &msg) == SQLITE_OK, "%s", msg ? msg : "");
    sqlite3_free(msg);
    sqlite3_close(db);
}

static void copy_trail(const char *from, const char *to)
{
    char cmd[600];
    snprintf(cmd, sizeof cmd, "sqlite3 '%s' \"VACUUM INTO '%s'\"", from, to);
    CHECK(system(cmd) == 0);
}

static void test_chain(void)
{
    char path[256], out[4096];
    snprintf(path, sizeof path, "%s/a.db", g_dir);
    make_trail(path, 10, 1700000000000);
    make_trail(path, 5, 1700000100000); /* reopened: the chain continues */
    CHECK_EQ_INT(verify(path, out, sizeof out), 0);
    CHECK_MSG(strstr(out, "15 records, chain intact; head: record 15") != NULL, "%s", out);

    struct { const char *name, *sql, *expect; } cases[] = {
        {"edit", "UPDATE audit SET record = replace(record, '\"cost_microusd\":9', "
                 "'\"cost_microusd\":1') WHERE seq = 4",
         "audit: record 4: edited"},
        {"delete", "DELETE FROM audit WHERE seq = 7", "audit: record 8: records 7..7 are missing"},
        {"delete-last-and-renumber", "DELETE FROM audit WHERE seq = 3; UPDATE audit SET seq = seq - 1 WHERE seq > 3",
         "audit: record 3: moved"},
        {"insert", "UPDATE audit SET seq = seq + 100 WHERE seq > 5; UPDATE audit SET seq = seq - 99 WHERE seq > 100;"
                   " INSERT INTO audit (seq, ts_ms, record, prev_hash, hash) VALUES (6, 0, '{\"seq\":6}', "
                   "'0000000000000000000000000000000000000000000000000000000000000000', 'x')",
         "audit: record 6: edited"},
        {"swap", "UPDATE audit SET seq = 100 WHERE seq = 5; UPDATE audit SET seq = 5 WHERE seq = 6;"
                 " UPDATE audit SET seq = 6 WHERE seq = 100",
         "audit: record 5: moved"},
        {"swap-contents-and-seq", "UPDATE audit SET record = (SELECT record FROM audit WHERE seq = 9) WHERE seq = 2",
         "audit: record 2: edited"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        char p2[300];
        snprintf(p2, sizeof p2, "%s/t%zu.db", g_dir, i);
        copy_trail(path, p2);
        exec_sql(p2, cases[i].sql);
        int rc = verify(p2, out, sizeof out);
        CHECK_MSG(rc == 1, "%s: verify returned %d", cases[i].name, rc);
        CHECK_MSG(strstr(out, cases[i].expect) != NULL, "%s: %s", cases[i].name, out);
        CHECK(strstr(out, "tampered") != NULL);
    }
    /* a record re-hashed to fit its new content breaks the next record's link */
    char p3[300];
    snprintf(p3, sizeof p3, "%s/rehash.db", g_dir);
    copy_trail(path, p3);
    exec_sql(p3, "DELETE FROM audit WHERE seq = 10");
    exec_sql(p3, "UPDATE audit SET seq = 10 WHERE seq = 11");
    CHECK_EQ_INT(verify(p3, out, sizeof out), 1);
    CHECK_MSG(strstr(out, "record 10: moved") != NULL, "%s", out);

    /* export --since */
    char buf[1 << 16];
    FILE *f = fmemopen(buf, sizeof buf, "w");
    int64_t n = 0;
    struct err e;
    CHECK(audit_export(path, 1700000100000, f, &n, &e) == 0);
    fclose(f);
    CHECK_EQ_INT(n, 5);
    CHECK(strstr(buf, "{\"seq\":11,\"ts_ms\":1700000100000,\"request_id\":\"req-0\"") == buf);
    CHECK(strstr(buf, "\"prev_hash\":\"") != NULL);
}

int main(void)
{
    if (!mkdtemp(g_dir))
        return 1;
    RUN(test_chain);
    char cmd[300];
    snprintf(cmd, sizeof cmd, "rm -rf %s", g_dir);
    if (system(cmd) != 0)
        fprintf(stderr, "could not remove %s\n", g_dir);
    return check_report();
}
