/* Unit tests for gateway/limits: budget reservation and settlement, periods, token buckets. */
#include "check.h"

#include "gateway/config.h"
#include "gateway/limits.h"

#include <string.h>

static int64_t g_ledger_spent;
static int g_reads;

static int fake_spent(void *arg, const char *name, int64_t since_ms, int64_t *spent, struct err *e)
{
    (void)arg, (void)name, (void)since_ms, (void)e;
    g_reads++;
    *spent = g_ledger_spent;
    return 0;
}

static struct key_info key(int64_t id, int64_t budget, enum key_period p, int64_t rpm, int64_t tpm)
{
    struct key_info k;
    memset(&k, 0, sizeof k);
    k.id = id;
    snprintf(k.name, sizeof k.name, "k%lld", (long long)id);
    k.budget_microusd = budget;
    k.period = p;
    k.rpm = rpm;
    k.tpm = tpm;
    return k;
}

/* Admission never lets reservations pass the budget, and refuses only when what is left is
 * smaller than the request's maximum. */
static void test_budget_reservation(void)
{
    struct limits *l = limits_new(fake_spent, NULL);
    g_ledger_spent = 30;
    g_reads = 0;
    struct key_info k = key(1, 100, PERIOD_MONTH, 0, 0);
    struct limit_refusal r;
    struct limit_ticket t;
    struct err e;
    const int64_t now = INT64_C(1707991200000); /* 2024-02-15T10:00Z */
    int admitted = 0;
    for (int i = 0; i < 50; i++)
        admitted += limits_admit(l, &k, now, 7, &t, &r, &e) == LIMIT_OK;
    CHECK_EQ_INT(admitted, 10); /* (100 - 30) / 7 */
    CHECK_EQ_INT(g_reads, 1);   /* the ledger is read once per period */
    int64_t spent, reserved;
    limits_usage(l, 1, &spent, &reserved);
    CHECK_EQ_INT(spent, 30);
    CHECK_EQ_INT(reserved, 70);
    CHECK(strstr(r.message, "Budget exceeded for key 'k1'") != NULL);
    CHECK(strstr(r.message, "resets 2024-03-01T00:00:00Z") != NULL);
    CHECK_EQ_INT(r.reset_ms, INT64_C(1709251200000));
    /* settling below the maximum frees the difference for the next request */
    struct limit_ticket seven = {.reserved_microusd = 7};
    limits_settle(l, &k, now, &seven, 2, 10);
    limits_usage(l, 1, &spent, &reserved);
    CHECK_EQ_INT(spent, 32);
    CHECK_EQ_INT(reserved, 63);
    CHECK_EQ_INT(limits_admit(l, &k, now, 5, &t, &r, &e), LIMIT_OK); /* 5 left */
    CHECK_EQ_INT(limits_admit(l, &k, now, 1, &t, &r, &e), LIMIT_BUDGET);
    /* the next month starts from the ledger again */
    g_ledger_spent = 0;
    CHECK_EQ_INT(limits_admit(l, &k, INT64_C(1709251200000), 7, &t, &r, &e), LIMIT_OK);
    CHECK_EQ_INT(g_reads, 2);
    limits_free(l);
}

static void test_rpm_bucket(void)
{
    struct limits *l = limits_new(NULL, NULL);
    struct key_info k = key(2, -1, PERIOD_NONE, 6, 0); /* one request per 10 s */
    struct limit_refusal r;
    struct limit_ticket tk;
    struct err e;
    int64_t t = 1000000;
    for (int i = 0; i < 6; i++)
        CHECK_EQ_INT(limits_admit(l, &k, t, 0, &tk, &r, &e), LIMIT_OK);
    CHECK_EQ_INT(limits_admit(l, &k, t, 0, &tk, &r, &e), LIMIT_RPM);
    CHECK_EQ_INT(r.retry_after_s, 10);
    CHECK_EQ_INT(limits_admit(l, &k, t + 9999, 0, &tk, &r, &e), LIMIT_RPM);
    CHECK_EQ_INT(r.retry_after_s, 1);
    CHECK_EQ_INT(limits_admit(l, &k, t + 10000, 0, &tk, &r, &e), LIMIT_OK);
    CHECK_EQ_INT(limits_admit(l, &k, t + 10000, 0, &tk, &r, &e), LIMIT_RPM);
    limits_free(l);
}

static void test_tpm_bucket(void)
{
    struct limits *l = limits_new(NULL, NULL);
    struct key_info k = key(3, -1, PERIOD_NONE, 0, 600); /* 10 tokens per second */
    struct limit_refusal r;
    struct limit_ticket tk;
    struct err e;
    int64_t t = 5000000;
    CHECK_EQ_INT(limits_admit(l, &k, t, 0, &tk, &r, &e), LIMIT_OK);
    struct limit_ticket none = {0};
    limits_settle(l, &k, t, &none, 0, 700); /* 100 tokens past empty: 10 s to recover */
    CHECK_EQ_INT(limits_admit(l, &k, t + 5000, 0, &tk, &r, &e), LIMIT_TPM);
    CHECK_EQ_INT(r.retry_after_s, 6); /* 5.001 s, rounded up */
    CHECK_EQ_INT(limits_admit(l, &k, t + 10001, 0, &tk, &r, &e), LIMIT_OK);
    limits_free(l);
}

/* The redis: section that makes limits shared (gateway/shared.h). */
static void test_redis_config(void)
{
    const char *base = "tiers:\n  - { name: a, kind: local, model: m.gguf }\n";
    char text[512];
    struct config *c = NULL;
    struct err e;
    snprintf(text, sizeof text, "%sredis: { url: \"redis://10.0.0.5:7000\", on_unavailable: open }\n", base);
    CHECK_MSG(config_parse(text, strlen(text), NULL, &c, &e) == 0, "%s", e.msg);
    if (c) {
        CHECK_STR(c->redis->host, "10.0.0.5");
        CHECK_EQ_INT(c->redis->port, 7000);
        CHECK(c->redis->fail_open);
        CHECK_STR(c->redis->prefix, "baton:");
        CHECK_EQ_INT(c->redis->reservation_ttl_ms, 300000);
        config_free(c);
    }
    static const struct { const char *yaml, *msg; } bad[] = {
        {"redis: { url: \"http://x\" }", "redis.url: 'http://x' is not redis://HOST[:PORT]"},
        {"redis: { url: \"redis://x:99999\" }", "redis.url: bad port"},
        {"redis: { url: \"redis://x\", on_unavailable: maybe }", "redis.on_unavailable: expected open or closed"},
        {"redis: { url: \"redis://x\", reservation_ttl_ms: 5 }", "redis.reservation_ttl_ms: expected an integer in 1000.."},
        {"redis: { prefix: a }", "redis.url: missing (required)"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        snprintf(text, sizeof text, "%s%s\n", base, bad[i].yaml);
        CHECK(config_parse(text, strlen(text), NULL, &c, &e) == -1);
        CHECK_MSG(strstr(e.msg, bad[i].msg) != NULL, "%s", e.msg);
    }
}

int main(void)
{
    RUN(test_redis_config);
    RUN(test_budget_reservation);
    RUN(test_rpm_bucket);
    RUN(test_tpm_bucket);
    return check_report();
}
