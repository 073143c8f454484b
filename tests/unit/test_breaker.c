/* The circuit breaker's state machine: opening after N consecutive failures, success resetting
 * the count, one probe in half-open, the probe's verdict, release, and the disabled breaker. */
#include "check.h"

#include "backend/breaker.h"

static void test_opens_and_recovers(void)
{
    struct breaker b;
    breaker_init(&b, 3, 1000);
    bool probe;
    uint64_t t = 5000;
    CHECK(breaker_admit(&b, t, &probe) && !probe);
    breaker_failure(&b, t, false);
    breaker_failure(&b, t, false);
    breaker_success(&b, false); /* resets the count */
    breaker_failure(&b, t, false);
    breaker_failure(&b, t, false);
    CHECK_EQ_INT(breaker_state(&b, t), BREAKER_CLOSED);
    breaker_failure(&b, t, false);
    CHECK_EQ_INT(breaker_state(&b, t), BREAKER_OPEN);
    CHECK(!breaker_admit(&b, t + 999, &probe));
    CHECK(!breaker_healthy(&b, t + 999));
    CHECK_EQ_INT(breaker_wait_ms(&b, t + 400), 600);

    /* half-open: one probe, others refused while it is out */
    CHECK(breaker_healthy(&b, t + 1000));
    CHECK(breaker_admit(&b, t + 1000, &probe) && probe);
    CHECK_EQ_INT(breaker_state(&b, t + 1000), BREAKER_HALF_OPEN);
    CHECK(!breaker_admit(&b, t + 1001, &probe) && !probe);
    CHECK(!breaker_healthy(&b, t + 1001));
    /* the probe fails: open again for a full period */
    breaker_failure(&b, t + 1100, true);
    CHECK_EQ_INT(breaker_state(&b, t + 2000), BREAKER_OPEN);
    CHECK(breaker_admit(&b, t + 2100, &probe) && probe);
    /* a cancelled probe lets the next request probe */
    breaker_release(&b);
    CHECK(breaker_admit(&b, t + 2101, &probe) && probe);
    breaker_success(&b, true);
    CHECK_EQ_INT(breaker_state(&b, t + 2102), BREAKER_CLOSED);
    CHECK(breaker_admit(&b, t + 2102, &probe) && !probe);
    CHECK_STR(breaker_state_name(breaker_state(&b, t)), "closed");
}

static void test_disabled(void)
{
    struct breaker b;
    breaker_init(&b, 0, 1000);
    bool probe;
    for (int i = 0; i < 100; i++)
        breaker_failure(&b, 1, false);
    CHECK(breaker_admit(&b, 1, &probe) && !probe);
    CHECK(breaker_healthy(&b, 1));
}

int main(void)
{
    RUN(test_opens_and_recovers);
    RUN(test_disabled);
    return check_report();
}
