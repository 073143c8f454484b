/* clock: monotonic time for latency measurements. */
#ifndef BATON_BASE_CLOCK_H
#define BATON_BASE_CLOCK_H

#include <stdint.h>

/* Monotonic nanoseconds since an arbitrary point. */
uint64_t clock_now_ns(void);
double clock_now_s(void);

#endif
