/* Unit tests for gateway/limits: budget reservation and settlement, periods, token buckets. */
#include "check.h"

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
    struct err e;
    const int64_t now = INT64_C(1707991200000); /* 2024-02-15T10:00Z */
    int admitted = 0;
    for (int i = 0; i < 50; i++)
        admitted += limits_admit(l, &k, now, 7, &r, &e) == LIMIT_OK;
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
    limits_settle(l, &k, now, 7, 2, 10);
    limits_usage(l, 1, &spent, &reserved);
    CHECK_EQ_INT(spent, 32);
    CHECK_EQ_INT(reserved, 63);
    CHECK_EQ_INT(limits_admit(l, &k, now, 5, &r, &e), LIMIT_OK); /* 5 left */
    CHECK_EQ_INT(limits_admit(l, &k, now, 1, &r, &e), LIMIT_BUDGET);
    /* the next month starts from the ledger again */
    g_ledger_spent = 0;
    CHECK_EQ_INT(limits_admit(l, &k, INT64_C(1709251200000), 7, &r, &e), LIMIT_OK);
    CHECK_EQ_INT(g_reads, 2);
    limits_free(l);
}

static void test_rpm_bucket(void)
{
    struct limits *l = limits_new(NULL, NULL);
    struct key_info k = key(2, -1, PERIOD_NONE, 6, 0); /* one request per 10 s */
    struct limit_refusal r;
    struct err e;
    int64_t t = 1000000;
    for (int i = 0; i < 6; i++)
        CHECK_EQ_INT(limits_admit(l, &k, t, 0, &r, &e), LIMIT_OK);
    CHECK_EQ_INT(limits_admit(l, &k, t, 0, &r, &e), LIMIT_RPM);
    CHECK_EQ_INT(r.retry_after_s, 10);
    CHECK_EQ_INT(limits_admit(l, &k, t + 9999, 0, &r, &e), LIMIT_RPM);
    CHECK_EQ_INT(r.retry_after_s, 1);
    CHECK_EQ_INT(limits_admit(l, &k, t + 10000, 0, &r, &e), LIMIT_OK);
    CHECK_EQ_INT(limits_admit(l, &k, t + 10000, 0, &r, &e), LIMIT_RPM);
    limits_free(l);
}

static void test_tpm_bucket(void)
{
    struct limits *l = limits_new(NULL, NULL);
    struct key_info k = key(3, -1, PERIOD_NONE, 0, 600); /* 10 tokens per second */
    struct limit_refusal r;
    struct err e;
    int64_t t = 5000000;
    CHECK_EQ_INT(limits_admit(l, &k, t, 0, &r, &e), LIMIT_OK);
    limits_settle(l, &k, t, 0, 0, 700); /* 100 tokens past empty: 10 s to recover */
    CHECK_EQ_INT(limits_admit(l, &k, t + 5000, 0, &r, &e), LIMIT_TPM);
    CHECK_EQ_INT(r.retry_after_s, 6); /* 5.001 s, rounded up */
    CHECK_EQ_INT(limits_admit(l, &k, t + 10001, 0, &r, &e), LIMIT_OK);
    limits_free(l);
}

int main(void)
{
    RUN(test_budget_reservation);
    RUN(test_rpm_bucket);
    RUN(test_tpm_bucket);
    return check_report();
}
