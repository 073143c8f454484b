/* limits: per-key budgets and rate limits, decided on admission (docs/governance.md).
 *
 * Budgets are enforced by reservation: admitting a request reserves the most it can cost (its
 * prompt's token bound and its max_tokens at the highest prices among the tiers it may use);
 * when it ends, the reservation is replaced by what it actually cost. A request is admitted only
 * if spent + reserved + its own maximum fits in the budget, so concurrent requests can never
 * together spend past it, and a request is refused only when the budget not yet spent or reserved
 * is smaller than its maximum. The spend of the current period is read from the ledger the first
 * time a key is seen (so it survives restarts; a crash loses at most the ledger's uncommitted
 * ~200 ms), then kept in memory.
 *
 * Rate limits are token buckets refilled continuously: `rpm` holds up to rpm requests and refills
 * rpm per minute; `tpm` admits while its bucket is positive and is charged the actual tokens
 * (in + out) when a request ends, so one large request may push it below zero and hold the key
 * back until it refills. Integers throughout: a bucket's level is in units of 1/60000 request
 * (or token), so refilling rpm per minute adds exactly rpm units per millisecond.
 *
 * Money is micro-USD. One struct limits serves one thread (the server's loop); it is the single
 * place these numbers change, which is what makes admission atomic.
 */
#ifndef BATON_GATEWAY_LIMITS_H
#define BATON_GATEWAY_LIMITS_H

#include "base/err.h"
#include "gateway/keys.h"

#include <stdint.h>

enum limit_verdict {
    LIMIT_OK,
    LIMIT_BUDGET,
    LIMIT_RPM,
    LIMIT_TPM,
    LIMIT_ERROR,
    LIMIT_REVOKED,
    LIMIT_RETIRED, /* shared limits: the key was rotated and this public id is no longer its */
};

/* What an admitted request holds until it is settled. */
struct limit_ticket {
    int64_t reserved_microusd; /* the maximum reserved from the budget (0: no budget) */
    bool shared;               /* admitted through Redis (shared.h) */
    char id[48];               /* the reservation's id in Redis */
    int64_t period_start_ms;   /* the budget period the reservation belongs to */
};

/* Reads what a key spent since since_ms (settled cost), e.g. from the ledger. */
typedef int (*limits_spent_fn)(void *arg, const char *key_name, int64_t since_ms,
                               int64_t *spent_microusd, struct err *e);

struct limits;

/* spent (may be NULL: every key starts at 0) is called once per key and period. */
struct limits *limits_new(limits_spent_fn spent, void *arg);
void limits_free(struct limits *l);
/* Shares the limits through Redis (borrowed; NULL: this instance's own). fail_open: when Redis
 * cannot be reached, use this instance's own limits instead of refusing. */
struct shared;
void limits_set_shared(struct limits *l, struct shared *s, bool fail_open);

struct limit_refusal {
    int64_t retry_after_s;     /* for the Retry-After header */
    int64_t reset_ms;          /* LIMIT_BUDGET: when the period ends (INT64_MAX: never) */
    int64_t spent_microusd, reserved_microusd, budget_microusd;
    char message[400];         /* names the key and the limit, never a secret */
};

/* Admits a request for key k at now_ms that may cost up to max_cost_microusd: LIMIT_OK (the
 * amount is reserved, a request counted, *t filled) or the limit that refuses it, explained in
 * r; LIMIT_REVOKED when shared limits say the key was revoked, LIMIT_RETIRED when they say
 * k->public_id was rotated away; LIMIT_ERROR (e) when the spend or Redis cannot be read. */
enum limit_verdict limits_admit(struct limits *l, const struct key_info *k, int64_t now_ms,
                                int64_t max_cost_microusd, struct limit_ticket *t,
                                struct limit_refusal *r, struct err *e);
/* Ends an admitted request: releases its reservation, adds its actual cost to the spend and its
 * tokens to the tpm bucket. Call exactly once per LIMIT_OK. */
void limits_settle(struct limits *l, const struct key_info *k, int64_t now_ms,
                   const struct limit_ticket *t, int64_t cost_microusd, int64_t tokens);
/* The key's numbers now (for tests and health): spent this period, reserved. 0 if unseen. */
void limits_usage(const struct limits *l, int64_t key_id, int64_t *spent, int64_t *reserved);

#endif
