/* breaker: a circuit breaker for one upstream, so a dead tier is skipped instead of waited on.
 *
 *   closed ──(threshold consecutive failures)──> open ──(open_ms later)──> half-open
 *   half-open admits one probe: its success closes the breaker, its failure opens it again for
 *   another open_ms. Any success resets the failure count and closes the breaker.
 *
 * The caller reports every attempt's outcome (breaker_success / breaker_failure) and, for a
 * probe that ends without a verdict (cancelled), breaker_release. Times are the caller's
 * monotonic milliseconds. A threshold <= 0 disables the breaker (always closed). A plain value
 * type: embed it, no allocation, not thread-safe (one loop thread owns it).
 */
#ifndef BATON_BACKEND_BREAKER_H
#define BATON_BACKEND_BREAKER_H

#include <stdbool.h>
#include <stdint.h>

enum breaker_state { BREAKER_CLOSED, BREAKER_OPEN, BREAKER_HALF_OPEN };

struct breaker {
    int32_t threshold;     /* consecutive failures that open it; <= 0: never opens */
    int64_t open_ms;       /* how long it stays open before admitting a probe */
    int32_t n_failures;    /* consecutive failures so far */
    bool open;             /* open or half-open (which one depends on the time) */
    uint64_t opened_at_ms; /* when it last opened */
    bool probe_out;        /* half-open: the one probe is in flight */
};

void breaker_init(struct breaker *b, int32_t threshold, int64_t open_ms);
enum breaker_state breaker_state(const struct breaker *b, uint64_t now_ms);
const char *breaker_state_name(enum breaker_state s);

/* May a request go now? In half-open, true for exactly one caller, with *probe set: that
 * caller must report back (success, failure or release). */
bool breaker_admit(struct breaker *b, uint64_t now_ms, bool *probe);
/* Would breaker_admit say yes now (without taking the probe)? For health reports and routing. */
bool breaker_healthy(const struct breaker *b, uint64_t now_ms);
/* Milliseconds until an open breaker admits a probe; 0 if it admits now. */
uint64_t breaker_wait_ms(const struct breaker *b, uint64_t now_ms);

/* probe: whether the reporting request was admitted as the probe. */
void breaker_success(struct breaker *b, bool probe);
void breaker_failure(struct breaker *b, uint64_t now_ms, bool probe);
void breaker_release(struct breaker *b);

#endif
