/* limits: budgets by reservation, rate limits by token bucket (limits.h).
 *
 * State is one entry per key seen, in an array searched linearly: O(keys) per request, which is
 * nothing next to a request for the hundreds of keys a deployment has; a hash would fix it for
 * many thousands.
 */
#include "gateway/limits.h"

#include "base/alloc.h"
#include "gateway/ledger.h"
#include "gateway/shared.h"
#include "base/log.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define UNITS_PER_ITEM 60000 /* bucket units per request or token: refill = rate units per ms */

struct key_state {
    int64_t id;
    enum key_period period;
    int64_t period_start_ms, period_end_ms;
    bool loaded;                 /* spent read for this period */
    int64_t spent, reserved;     /* micro-USD */
    int64_t rpm_level, tpm_level; /* bucket units */
    int64_t rpm_ms, tpm_ms;      /* last refill */
    bool rpm_init, tpm_init;
};

struct limits {
    limits_spent_fn spent;
    void *arg;
    struct shared *shared;
    bool fail_open;
    bool warned;                 /* the fail-open fallback was logged */
    struct key_state *v;
    size_t n, cap;
};

struct limits *limits_new(limits_spent_fn spent, void *arg)
{
    struct limits *l = xcalloc(1, sizeof *l);
    l->spent = spent;
    l->arg = arg;
    return l;
}

void limits_set_shared(struct limits *l, struct shared *s, bool fail_open)
{
    l->shared = s;
    l->fail_open = fail_open;
}

void limits_free(struct limits *l)
{
    if (!l)
        return;
    free(l->v);
    free(l);
}

static struct key_state *state_for(struct limits *l, int64_t id)
{
    for (size_t i = 0; i < l->n; i++)
        if (l->v[i].id == id)
            return &l->v[i];
    if (l->n == l->cap) {
        l->cap = l->cap ? 2 * l->cap : 16;
        l->v = xrealloc_array(l->v, l->cap, sizeof *l->v);
    }
    struct key_state *s = &l->v[l->n++];
    memset(s, 0, sizeof *s);
    s->id = id;
    return s;
}

void limits_usage(const struct limits *l, int64_t key_id, int64_t *spent, int64_t *reserved)
{
    *spent = *reserved = 0;
    for (size_t i = 0; i < l->n; i++)
        if (l->v[i].id == key_id) {
            *spent = l->v[i].spent;
            *reserved = l->v[i].reserved;
        }
}

/* Refills a bucket of `rate` per minute to now; a new bucket starts full. */
static void refill(int64_t *level, int64_t *last_ms, bool *init, int64_t rate, int64_t now_ms)
{
    int64_t cap = rate * UNITS_PER_ITEM;
    if (!*init) {
        *level = cap;
        *last_ms = now_ms;
        *init = true;
        return;
    }
    int64_t dt = now_ms > *last_ms ? now_ms - *last_ms : 0;
    *last_ms = now_ms;
    if (*level < cap)
        *level = (dt > (cap - *level) / rate) ? cap : *level + dt * rate;
}

/* Brings the budget period up to date: a new period starts with nothing spent. */
static int roll_period(struct limits *l, struct key_state *s, const struct key_info *k,
                       int64_t now_ms, struct err *e)
{
    if (s->loaded && s->period == k->period && now_ms < s->period_end_ms)
        return 0;
    int64_t start, end;
    key_period_bounds(k->period, now_ms, &start, &end);
    int64_t spent = 0;
    if (l->spent && l->spent(l->arg, k->name, start, &spent, e))
        return -1;
    s->period = k->period;
    s->period_start_ms = start;
    s->period_end_ms = end;
    s->spent = spent;
    s->loaded = true;
    return 0;
}

static void fmt_time(int64_t ms, char *out, size_t n)
{
    time_t t = (time_t)(ms / 1000);
    struct tm tm;
    gmtime_r(&t, &tm);
    strftime(out, n, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

static enum limit_verdict admit_local(struct limits *l, const struct key_info *k, int64_t now_ms,
                                      int64_t max_cost, struct limit_ticket *t,
                                      struct limit_refusal *r, struct err *e);

enum limit_verdict limits_admit(struct limits *l, const struct key_info *k, int64_t now_ms,
                                int64_t max_cost, struct limit_ticket *t, struct limit_refusal *r,
                                struct err *e)
{
    memset(r, 0, sizeof *r);
    memset(t, 0, sizeof *t);
    if (!l->shared)
        return admit_local(l, k, now_ms, max_cost, t, r, e);
    int64_t seed = 0;
    if (k->budget_microusd >= 0) {
        struct key_state *s = state_for(l, k->id);
        if (roll_period(l, s, k, now_ms, e))
            return LIMIT_ERROR;
        seed = s->spent;
    }
    enum limit_verdict v = shared_admit(l->shared, k, now_ms, max_cost, seed, t, r, e);
    if (v != LIMIT_ERROR || !l->fail_open)
        return v;
    if (!l->warned)
        log_error("%s; shared limits unavailable, using this instance's own (on_unavailable: "
                  "open)", e->msg);
    l->warned = true;
    return admit_local(l, k, now_ms, max_cost, t, r, e);
}

static enum limit_verdict admit_local(struct limits *l, const struct key_info *k, int64_t now_ms,
                                      int64_t max_cost, struct limit_ticket *t,
                                      struct limit_refusal *r, struct err *e)
{
    struct key_state *s = state_for(l, k->id);
    if (k->rpm > 0) {
        refill(&s->rpm_level, &s->rpm_ms, &s->rpm_init, k->rpm, now_ms);
        if (s->rpm_level < UNITS_PER_ITEM) {
            int64_t wait_ms = (UNITS_PER_ITEM - s->rpm_level + k->rpm - 1) / k->rpm;
            r->retry_after_s = (wait_ms + 999) / 1000;
            snprintf(r->message, sizeof r->message,
                     "Rate limit reached for key '%s': %" PRId64 " requests per minute. Retry "
                     "after %" PRId64 " s.", k->name, k->rpm, r->retry_after_s);
            return LIMIT_RPM;
        }
    }
    if (k->tpm > 0) {
        refill(&s->tpm_level, &s->tpm_ms, &s->tpm_init, k->tpm, now_ms);
        if (s->tpm_level <= 0) {
            int64_t wait_ms = (1 - s->tpm_level + k->tpm - 1) / k->tpm;
            r->retry_after_s = (wait_ms + 999) / 1000;
            snprintf(r->message, sizeof r->message,
                     "Rate limit reached for key '%s': %" PRId64 " tokens per minute. Retry "
                     "after %" PRId64 " s.", k->name, k->tpm, r->retry_after_s);
            return LIMIT_TPM;
        }
    }
    if (k->budget_microusd >= 0) {
        if (roll_period(l, s, k, now_ms, e))
            return LIMIT_ERROR;
        int64_t left = k->budget_microusd - s->spent - s->reserved;
        if (max_cost > left) {
            char b[32], sp[32], rs[32], mc[32], reset[40] = "never (no period)";
            r->reset_ms = s->period_end_ms;
            r->spent_microusd = s->spent;
            r->reserved_microusd = s->reserved;
            r->budget_microusd = k->budget_microusd;
            if (s->period_end_ms != INT64_MAX) {
                fmt_time(s->period_end_ms, reset, sizeof reset);
                int64_t wait = (s->period_end_ms - now_ms + 999) / 1000;
                r->retry_after_s = wait > 0 ? wait : 1;
            }
            snprintf(r->message, sizeof r->message,
                     "Budget exceeded for key '%s': $%s per %s, $%s spent and $%s reserved by "
                     "requests in flight; this request may cost up to $%s. The budget resets "
                     "%s.", k->name, ledger_format_usd(k->budget_microusd, b, sizeof b),
                     k->period == PERIOD_NONE ? "key lifetime" : key_period_name(k->period),
                     ledger_format_usd(s->spent, sp, sizeof sp),
                     ledger_format_usd(s->reserved, rs, sizeof rs),
                     ledger_format_usd(max_cost, mc, sizeof mc), reset);
            return LIMIT_BUDGET;
        }
        s->reserved += max_cost;
        t->reserved_microusd = max_cost;
    }
    if (k->rpm > 0)
        s->rpm_level -= UNITS_PER_ITEM;
    return LIMIT_OK;
}

void limits_settle(struct limits *l, const struct key_info *k, int64_t now_ms,
                   const struct limit_ticket *t, int64_t cost, int64_t tokens)
{
    if (t->shared) {
        struct err e;
        if (shared_settle(l->shared, k, now_ms, t, cost, tokens, &e))
            log_error("%s; the reservation expires on its own", e.msg);
        return;
    }
    int64_t reserved = t->reserved_microusd;
    struct key_state *s = state_for(l, k->id);
    if (k->budget_microusd >= 0) {
        s->reserved -= reserved;
        if (s->reserved < 0)
            s->reserved = 0;
        struct err e;
        if (roll_period(l, s, k, now_ms, &e) == 0 && s->loaded)
            s->spent += cost; /* a new period's spend is re-read, which includes nothing yet */
    }
    if (k->tpm > 0) {
        refill(&s->tpm_level, &s->tpm_ms, &s->tpm_init, k->tpm, now_ms);
        int64_t cap = k->tpm * UNITS_PER_ITEM;
        int64_t charge = tokens > INT64_MAX / UNITS_PER_ITEM ? INT64_MAX : tokens * UNITS_PER_ITEM;
        s->tpm_level = s->tpm_level - charge < -cap ? -cap : s->tpm_level - charge;
    }
}
