/* breaker: the circuit breaker's state machine (see breaker.h). "Half-open" is not stored: it is
 * an open breaker whose open_ms have passed, so no timer is needed to get there. */
#include "backend/breaker.h"

void breaker_init(struct breaker *b, int32_t threshold, int64_t open_ms)
{
    *b = (struct breaker){.threshold = threshold, .open_ms = open_ms > 0 ? open_ms : 0};
}

enum breaker_state breaker_state(const struct breaker *b, uint64_t now_ms)
{
    if (!b->open)
        return BREAKER_CLOSED;
    return now_ms >= b->opened_at_ms + (uint64_t)b->open_ms ? BREAKER_HALF_OPEN : BREAKER_OPEN;
}

const char *breaker_state_name(enum breaker_state s)
{
    switch (s) {
    case BREAKER_CLOSED: return "closed";
    case BREAKER_OPEN: return "open";
    case BREAKER_HALF_OPEN: return "half-open";
    }
    return "?";
}

bool breaker_admit(struct breaker *b, uint64_t now_ms, bool *probe)
{
    *probe = false;
    switch (breaker_state(b, now_ms)) {
    case BREAKER_CLOSED: return true;
    case BREAKER_OPEN: return false;
    case BREAKER_HALF_OPEN:
        if (b->probe_out)
            return false;
        b->probe_out = true;
        *probe = true;
        return true;
    }
    return false;
}

bool breaker_healthy(const struct breaker *b, uint64_t now_ms)
{
    enum breaker_state s = breaker_state(b, now_ms);
    return s == BREAKER_CLOSED || (s == BREAKER_HALF_OPEN && !b->probe_out);
}

uint64_t breaker_wait_ms(const struct breaker *b, uint64_t now_ms)
{
    if (breaker_state(b, now_ms) != BREAKER_OPEN)
        return 0;
    return b->opened_at_ms + (uint64_t)b->open_ms - now_ms;
}

void breaker_success(struct breaker *b, bool probe)
{
    b->n_failures = 0;
    b->open = false;
    if (probe)
        b->probe_out = false;
}

void breaker_failure(struct breaker *b, uint64_t now_ms, bool probe)
{
    if (probe)
        b->probe_out = false;
    if (b->threshold <= 0)
        return;
    if (b->n_failures < INT32_MAX)
        b->n_failures++;
    /* a failure while open (a probe, or a request that started before it opened) restarts the
     * open period */
    if (b->open || b->n_failures >= b->threshold) {
        b->open = true;
        b->opened_at_ms = now_ms;
    }
}

void breaker_release(struct breaker *b) { b->probe_out = false; }
