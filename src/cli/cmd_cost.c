/* baton cost: what the requests in the ledger cost and what routing saved; or a budget estimate.
 *
 *   baton cost [--config FILE] [--ledger PATH] [--since ISO8601] [--by tier|route|key]
 *   baton cost --estimate --users N --requests-per-day N --input-tokens N --output-tokens N
 *              --price-in USD --price-out USD [--days N]
 *
 * The report totals the ledger per tier and per route: requests, errors, tokens in and out,
 * cost. With --config it also costs every request at the most expensive tier of the config (the
 * highest input + output price per 1M tokens; the first such tier on a tie), each rounded up as
 * it would have been billed, and prints the difference: the saving against sending everything
 * there. The ledger is --ledger, else the config's server.ledger, else ./baton-ledger.db; a
 * postgres:// or postgresql:// URL reads the ledger from PostgreSQL.
 * --since takes a date or date-time (2024-05-01, 2024-05-01T12:00, ...:00Z, ...+02:00; no zone
 * means UTC).
 *
 * --estimate is the back-of-envelope budget: users x requests per day x days requests, each of
 * the given input and output tokens, at the given prices per 1M tokens. All money is integer
 * micro-dollars (prices parsed exactly, each direction's cost rounded up to a micro-dollar).
 */
#include "cli/cli.h"

#include "gateway/config.h"
#include "gateway/ledger.h"
#include "gateway/pg.h"

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static void usage(FILE *f)
{
    fprintf(f,
            "usage: baton cost [--config FILE] [--ledger PATH] [--since ISO8601] [--by tier|route|key]\n"
            "       baton cost --estimate --users N --requests-per-day N --input-tokens N\n"
            "                  --output-tokens N --price-in USD --price-out USD [--days N]\n"
            "\n"
            "Reports requests, tokens and cost per tier and per route from the ledger, and the\n"
            "saving against sending everything to the config's most expensive tier.\n"
            "  --config FILE   the serve configuration: prices and the ledger's path\n"
            "  --ledger PATH   the ledger: a SQLite file or a postgres:// URL (default: the\n"
            "                  config's server.ledger, else ./baton-ledger.db)\n"
            "  --since TIME    only requests from TIME on (2024-05-01, 2024-05-01T12:00:00Z ...;\n"
            "                  no zone means UTC)\n"
            "  --by tier|route|key  print only that breakdown (key: per caller, the key name\n"
            "                  or the client address)\n"
            "\n"
            "--estimate prints what users x requests/day x days requests of the given size cost\n"
            "at the given prices (USD per 1M tokens), with the arithmetic. --days defaults to 30.\n");
}

/* "$1.75" */
static const char *usd(int64_t microusd, char *b)
{
    b[0] = '$';
    ledger_format_usd(microusd, b + 1, 31);
    return b;
}

/* ---------------------------------------------------------------------------------------------
 * --estimate */

struct estimate {
    long long users, per_day, in_tokens, out_tokens, days;
    int64_t price_in, price_out; /* micro-USD per 1M tokens */
};

static int print_estimate(const struct estimate *x)
{
    long long requests, tin, tout;
    if (__builtin_mul_overflow(x->users, x->per_day, &requests) ||
        __builtin_mul_overflow(requests, x->days, &requests) ||
        __builtin_mul_overflow(requests, x->in_tokens, &tin) ||
        __builtin_mul_overflow(requests, x->out_tokens, &tout))
        return cli_fail("cost: the estimate does not fit in 64-bit integers; use smaller numbers");
    int64_t cin = ledger_cost_microusd(tin, 0, x->price_in, 0);
    int64_t cout = ledger_cost_microusd(0, tout, 0, x->price_out);
    int64_t per_request = ledger_cost_microusd(x->in_tokens, x->out_tokens, x->price_in,
                                               x->price_out);
    char a[32], b[32], t[32];
    printf("requests:     %lld users x %lld requests/day x %lld days = %lld requests\n", x->users,
           x->per_day, x->days, requests);
    printf("input:        %lld requests x %lld tokens = %lld tokens x %s per 1M = %s\n", requests,
           x->in_tokens, tin, usd(x->price_in, a), usd(cin, b));
    printf("output:       %lld requests x %lld tokens = %lld tokens x %s per 1M = %s\n", requests,
           x->out_tokens, tout, usd(x->price_out, a), usd(cout, b));
    printf("per request:  %s\n", usd(per_request, a));
    if (cin > INT64_MAX - cout)
        return cli_fail("cost: the estimate does not fit in 64-bit integers; use smaller numbers");
    printf("total:        %s + %s = %s per %lld days\n", usd(cin, a), usd(cout, b),
           usd(cin + cout, t), x->days);
    return 0;
}

/* ---------------------------------------------------------------------------------------------
 * The report */

static int digits(const char **s, int n, int *out)
{
    int v = 0;
    for (int i = 0; i < n; i++) {
        if ((*s)[i] < '0' || (*s)[i] > '9')
            return -1;
        v = v * 10 + ((*s)[i] - '0');
    }
    *s += n;
    *out = v;
    return 0;
}

/* ISO 8601: YYYY-MM-DD[(T| )HH:MM[:SS[.frac]]][Z|(+|-)HH[:]MM] -> ms since the epoch (UTC when
 * no zone is given). */
int cli_parse_iso8601(const char *text, int64_t *ms)
{
    const char *s = text;
    int y, mo, d, h = 0, mi = 0, sec = 0, frac_ms = 0, zone_min = 0;
    if (digits(&s, 4, &y) || *s++ != '-' || digits(&s, 2, &mo) || *s++ != '-' ||
        digits(&s, 2, &d))
        return -1;
    if (*s == 'T' || *s == 't' || *s == ' ') {
        s++;
        if (digits(&s, 2, &h) || *s++ != ':' || digits(&s, 2, &mi))
            return -1;
        if (*s == ':') {
            s++;
            if (digits(&s, 2, &sec))
                return -1;
            if (*s == '.' || *s == ',') {
                int scale = 100;
                for (s++; *s >= '0' && *s <= '9'; s++, scale /= 10)
                    frac_ms += (*s - '0') * scale;
            }
        }
        if (*s == 'Z' || *s == 'z') {
            s++;
        } else if (*s == '+' || *s == '-') {
            int sign = *s++ == '-' ? -1 : 1, zh, zm;
            if (digits(&s, 2, &zh))
                return -1;
            if (*s == ':')
                s++;
            if (digits(&s, 2, &zm) || zh > 23 || zm > 59)
                return -1;
            zone_min = sign * (zh * 60 + zm);
        }
    }
    if (*s || mo < 1 || mo > 12 || d < 1 || d > 31 || h > 23 || mi > 59 || sec > 60)
        return -1;
    struct tm tm = {.tm_year = y - 1900, .tm_mon = mo - 1, .tm_mday = d, .tm_hour = h,
                    .tm_min = mi, .tm_sec = sec};
    time_t t = timegm(&tm);
    if (tm.tm_mday != d && sec < 60) /* 2024-02-30 normalizes to March */
        return -1;
    *ms = ((int64_t)t - zone_min * 60) * 1000 + frac_ms;
    return 0;
}

static const char *iso8601(int64_t ms, char *b, size_t n)
{
    time_t t = (time_t)(ms / 1000);
    struct tm tm;
    if (!gmtime_r(&t, &tm) || !strftime(b, n, "%Y-%m-%dT%H:%M:%SZ", &tm))
        snprintf(b, n, "%lld ms", (long long)ms);
    return b;
}

static void print_table(const char *title, const struct cost_total *v, size_t n,
                        const struct cost_total *all, bool by_route)
{
    char c[32];
    printf("%-18s %9s %7s %12s %12s %14s\n", title, "requests", "errors", "tokens in",
           "tokens out", "cost");
    for (size_t i = 0; i <= n; i++) {
        const struct cost_total *t = i < n ? &v[i] : all;
        const char *name = i < n ? (t->name ? t->name : (by_route ? "(tier named)" : "?"))
                                 : "total";
        printf("  %-16s %9lld %7lld %12lld %12lld %14s\n", name, (long long)t->requests,
               (long long)t->errors, (long long)t->tokens_in, (long long)t->tokens_out,
               usd(t->cost_microusd, c));
    }
}

static const struct tier_config *most_expensive(const struct config *c)
{
    const struct tier_config *best = NULL;
    for (size_t i = 0; i < c->n_tiers; i++) {
        const struct tier_config *t = &c->tiers[i];
        if (!best || t->price_in_microusd + t->price_out_microusd >
                         best->price_in_microusd + best->price_out_microusd)
            best = t;
    }
    return best;
}

static void print_saving(const struct cost_report *r, const struct tier_config *ref)
{
    char a[32], b[32], c[32];
    if (!ref) {
        printf("\nsaving: give --config to compare with the most expensive tier\n");
        return;
    }
    if (ref->price_in_microusd + ref->price_out_microusd == 0) {
        printf("\nsaving: every tier is priced at 0; nothing to compare\n");
        return;
    }
    int64_t saved = r->all.ref_cost_microusd - r->all.cost_microusd;
    printf("\nsaving against sending everything to %s (%s in, %s out per 1M tokens):\n",
           ref->name, usd(ref->price_in_microusd, a), usd(ref->price_out_microusd, b));
    printf("  all on %s: %s; actual: %s; saved: %s", ref->name, usd(r->all.ref_cost_microusd, a),
           usd(r->all.cost_microusd, b), usd(saved, c));
    if (r->all.ref_cost_microusd > 0)
        printf(" (%.1f%%)", 100.0 * (double)saved / (double)r->all.ref_cost_microusd);
    printf("\n");
}

static int report(const char *config_path, const char *ledger, const char *since,
                  const char *by)
{
    struct err e;
    struct config *c = NULL;
    if (config_path && config_load(config_path, &c, &e))
        return cli_fail("%s", e.msg);
    if (!ledger && c && !c->server.ledger[0]) {
        config_free(c);
        return cli_fail("cost: %s turns the ledger off (server.ledger: \"\"); give --ledger PATH",
                        config_path);
    }
    if (!ledger)
        ledger = c ? c->server.ledger : "baton-ledger.db";
    struct ledger_query q = {INT64_MIN, INT64_MAX, -1, -1};
    if (since && cli_parse_iso8601(since, &q.since_ms)) {
        config_free(c);
        return cli_fail("cost: --since: '%s' is not an ISO 8601 date or date-time "
                        "(2024-05-01, 2024-05-01T12:00:00Z)", since);
    }
    const struct tier_config *ref = c ? most_expensive(c) : NULL;
    if (ref) {
        q.ref_price_in = ref->price_in_microusd;
        q.ref_price_out = ref->price_out_microusd;
    }
    struct cost_report r;
    if (ledger_report(ledger, &q, &r, &e)) {
        config_free(c);
        return cli_fail("%s", e.msg);
    }
    char t0[40], t1[40];
    char addr[256];
    if (pg_is_url(ledger) && pg_url_check(ledger, addr, sizeof addr, NULL) == 0)
        printf("ledger: postgres %s\n", addr); /* never the URL: it may hold a password */
    else
        printf("ledger: %s\n", ledger);
    if (r.all.requests)
        printf("period: %s .. %s", iso8601(r.first_ts_ms, t0, sizeof t0),
               iso8601(r.last_ts_ms, t1, sizeof t1));
    else
        printf("period: no requests");
    if (since)
        printf(" (since %s)", iso8601(q.since_ms, t0, sizeof t0));
    printf("\n\n");
    if (!by || !strcmp(by, "tier"))
        print_table("by tier", r.tiers, r.n_tiers, &r.all, false);
    if (!by)
        printf("\n");
    if (!by || !strcmp(by, "route"))
        print_table("by route", r.routes, r.n_routes, &r.all, true);
    if (by && !strcmp(by, "key"))
        print_table("by key", r.callers, r.n_callers, &r.all, false);
    print_saving(&r, ref);
    cost_report_free(&r);
    config_free(c);
    return 0;
}

int cmd_cost(int argc, char **argv)
{
    const char *config = NULL, *ledger = NULL, *since = NULL, *by = NULL;
    bool estimate = false;
    struct estimate x = {-1, -1, -1, -1, 30, -1, -1};
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        bool has_val = i + 1 < argc;
        long long *num = NULL;
        int64_t *price = NULL;
        long long lo = 1, hi = 1000000000LL;
        if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
            usage(stdout);
            return 0;
        } else if (!strcmp(a, "--estimate")) {
            estimate = true;
            continue;
        } else if (!has_val) {
            return cli_fail("cost: unknown or incomplete option '%s' (see baton cost --help)", a);
        } else if (!strcmp(a, "--config")) {
            config = argv[++i];
            continue;
        } else if (!strcmp(a, "--ledger")) {
            ledger = argv[++i];
            continue;
        } else if (!strcmp(a, "--since")) {
            since = argv[++i];
            continue;
        } else if (!strcmp(a, "--by")) {
            by = argv[++i];
            if (strcmp(by, "tier") && strcmp(by, "route") && strcmp(by, "key"))
                return cli_fail("cost: --by: '%s' is not tier, route or key", by);
            continue;
        } else if (!strcmp(a, "--users")) {
            num = &x.users;
        } else if (!strcmp(a, "--requests-per-day")) {
            num = &x.per_day;
        } else if (!strcmp(a, "--input-tokens")) {
            num = &x.in_tokens, lo = 0;
        } else if (!strcmp(a, "--output-tokens")) {
            num = &x.out_tokens, lo = 0;
        } else if (!strcmp(a, "--days")) {
            num = &x.days, hi = 36600;
        } else if (!strcmp(a, "--price-in")) {
            price = &x.price_in;
        } else if (!strcmp(a, "--price-out")) {
            price = &x.price_out;
        } else {
            return cli_fail("cost: unknown option '%s' (see baton cost --help)", a);
        }
        const char *v = argv[++i];
        if (num && cli_parse_int(a, v, lo, hi, num))
            return 1;
        struct err e;
        if (price && config_parse_price(v, price, &e))
            return cli_fail("cost: %s: %s", a, e.msg);
    }
    bool estimate_opts = x.users >= 0 || x.per_day >= 0 || x.in_tokens >= 0 ||
                         x.out_tokens >= 0 || x.price_in >= 0 || x.price_out >= 0 || x.days != 30;
    if (!estimate) {
        if (estimate_opts)
            return cli_fail("cost: --users, --requests-per-day, ... go with --estimate");
        return report(config, ledger, since, by);
    }
    if (config || ledger || since || by)
        return cli_fail("cost: --estimate takes no --config, --ledger, --since or --by");
    const char *missing = x.users < 0 ? "--users" : x.per_day < 0 ? "--requests-per-day"
                        : x.in_tokens < 0 ? "--input-tokens" : x.out_tokens < 0 ? "--output-tokens"
                        : x.price_in < 0 ? "--price-in" : x.price_out < 0 ? "--price-out" : NULL;
    if (missing)
        return cli_fail("cost: --estimate needs %s", missing);
    int rc = print_estimate(&x);
    if (rc)
        return rc;
    return fflush(stdout) == 0 ? 0 : cli_fail("cost: error writing the output");
}
