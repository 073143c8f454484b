/* clock: CLOCK_MONOTONIC wrappers (see clock.h). */
#include "base/clock.h"

#include <time.h>

uint64_t clock_now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

double clock_now_s(void) { return (double)clock_now_ns() * 1e-9; }
