/* config: baton serve's configuration (YAML), parsed and validated into plain structs.
 *
 * The file (docs/config.md has the reference and examples/baton.yaml a working example):
 *
 *   server:   { host: 127.0.0.1, port: 8080, max_connections: 1024, max_body_bytes: 1048576,
 *               ledger: baton-ledger.db, keys: baton-keys.db, audit: baton-audit.db,
 *               audit_content: false }    # keys and audit: docs/governance.md, docs/audit.md
 *   tiers:
 *     - name: small
 *       kind: local                       # runs a GGUF with baton's engine
 *       model: models/small.gguf          # relative paths are relative to the config file
 *       threads: 2
 *       context: 2048
 *       max_queue: 64                     # requests waiting beyond this get 503 + Retry-After
 *       price: { input: 0.0, output: 0.0 }   # USD per 1M tokens
 *     - name: cloud
 *       kind: openai                      # any OpenAI-compatible endpoint
 *       base_url: https://api.example.com/v1
 *       api_key_env: CLOUD_API_KEY        # the key is read from this environment variable
 *       model: gpt-4o-mini                # the model name sent upstream (default: the tier name)
 *       timeouts: { connect_ms: 2000, first_byte_ms: 30000, idle_ms: 30000 }
 *       retries: 2                        # before the first byte: connect errors, 429, 5xx
 *       breaker: { failures: 5, open_ms: 30000 }
 *       price: { input: 1.75, output: 14.00 }
 *   routes:
 *     - name: auto
 *       strategy: rules                   # or learned (below); strategies plug in (route.h)
 *       rules:                            # first match wins
 *         - { name: long, min_chars: 4000, tier: cloud }
 *         - { name: code, regex: "```|\\bdef\\b", tier: cloud }
 *         - { name: tools, needs: [tools], tier: cloud }
 *         - { name: hard, keywords: [prove, derive], tier: cloud }
 *       default: small
 *       fallback: [cloud]                 # tried in order when the chosen tier fails
 *       privacy: mask                     # none | local-only | mask | block (docs/privacy.md)
 *     - name: smart
 *       strategy: learned                 # the learned router scores the request
 *       router: builtin                   # or a router file (baton router train); default builtin
 *       strong_fraction: 0.3              # about this share of a representative mix goes strong
 *       weak: small
 *       strong: cloud
 *   privacy:                              # the detector's custom kinds and default policy
 *     default: none
 *     patterns: [{ name: employee_id, regex: "EMP-[0-9]{6}" }]
 *     terms: [{ name: project, terms: [Bluebird] }]
 *
 * Money is integer micro-dollars: a price of $1.75 per 1M tokens is stored as 1750000
 * micro-USD per 1M tokens. Every config error names the file, line and key.
 */
#ifndef BATON_GATEWAY_CONFIG_H
#define BATON_GATEWAY_CONFIG_H

#include "base/err.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum tier_kind { TIER_LOCAL, TIER_OPENAI };

struct tier_config {
    char *name;
    enum tier_kind kind;
    /* local */
    char *model_path;          /* resolved against the config file's directory */
    int32_t threads;           /* default: online CPUs */
    int32_t context;           /* 0 (default): min(model's training context, 4096), decided when
                                  the model loads */
    int32_t max_queue;         /* default 64 */
    int32_t slots;             /* sequences decoded together in one forward pass (continuous
                                  batching), each with its own KV cache; default 4 */
    /* openai */
    char *base_url;            /* ".../v1" */
    char *api_key_env;         /* NULL: no key */
    char *upstream_model;      /* default: the tier name */
    int64_t connect_timeout_ms;    /* default 2000 */
    int64_t first_byte_timeout_ms; /* default 60000 */
    int64_t idle_timeout_ms;       /* default 60000 */
    int32_t retries;               /* default 2 */
    int32_t breaker_failures;      /* consecutive failures that open the breaker; default 5 */
    int64_t breaker_open_ms;       /* default 30000 */
    /* both */
    int64_t price_in_microusd;     /* per 1M input tokens */
    int64_t price_out_microusd;    /* per 1M output tokens */
    int32_t max_tokens_default;    /* when the request sets none; default 512 */
};

enum rule_need { NEED_TOOLS = 1, NEED_RESPONSE_FORMAT = 2 };

struct rule_config {
    char *name;
    int64_t min_chars;   /* -1: unset; the request's total message text length in bytes */
    int64_t max_chars;   /* -1: unset */
    char *regex;         /* PCRE2 pattern, NULL: unset */
    char **keywords;     /* case-insensitive substrings, any of which matches */
    size_t n_keywords;
    unsigned needs;      /* NEED_* bits that must all be present in the request */
    char *tier;          /* where a match sends the request */
};

/* A route's privacy policy when the detector finds sensitive data (docs/privacy.md). */
enum privacy_policy { PRIVACY_NONE, PRIVACY_LOCAL_ONLY, PRIVACY_MASK, PRIVACY_BLOCK };

struct route_config {
    char *name;
    int privacy;         /* enum privacy_policy; -1: the privacy section's default */
    char *strategy;      /* "rules" or "learned" */
    /* strategy rules */
    struct rule_config *rules;
    size_t n_rules;
    char *default_tier;  /* NULL for learned */
    /* strategy learned (route.h): the router file's score against the threshold that sends
     * strong_fraction of the calibration mix to the strong tier */
    char *router;        /* router file, resolved against the config's directory, or "builtin"
                            (the shipped file compiled into baton); NULL for rules */
    double strong_fraction;  /* 0..1, default 0.3 */
    char *weak_tier, *strong_tier;
    char **fallback;     /* tiers tried in order after the chosen one fails */
    size_t n_fallback;
};

struct server_config {
    char *host;            /* default 127.0.0.1 */
    int32_t port;          /* default 8080 */
    int32_t max_connections; /* default 1024 */
    int64_t max_body_bytes;  /* default 1 MiB */
    char *ledger;          /* SQLite path, default "baton-ledger.db" beside the config, or a
                              postgres:// URL (pg.h); "" = off */
    char *keys;            /* key store (SQLite) path; NULL: keys off, no Authorization needed;
                              set: every request needs a valid key (docs/governance.md) */
    char *audit;           /* audit trail: SQLite path or postgres:// URL; NULL: off
                              (docs/audit.md) */
    char *journal;         /* directory of the ledger's and audit trail's journals (journal.h),
                              default "baton-journal" beside the config; "" = off */
    bool audit_content;    /* store masked request and answer text in the audit trail */
};

struct privacy_pattern_config {
    char *name;          /* the kind's name: 1..32 of a-z 0-9 _ */
    char *regex;
};
struct privacy_terms_config {
    char *name;
    char **terms;
    size_t n_terms;
};
struct privacy_config {
    enum privacy_policy default_policy; /* routes without their own, and tiers named directly */
    uint64_t kinds;                     /* built-in kinds detected: bit per enum privacy_kind */
    struct privacy_pattern_config *patterns;
    size_t n_patterns;
    struct privacy_terms_config *terms;
    size_t n_terms;
};

/* Limits, budget reservations and revocations shared by several instances (docs/governance.md). */
struct redis_config {
    char *host;                  /* from url: redis://HOST:PORT */
    int32_t port;                /* default 6379 */
    char *prefix;                /* of every Redis key; default "baton:" */
    bool fail_open;              /* on_unavailable: open (own limits) | closed (refuse, default) */
    int64_t reservation_ttl_ms;  /* a reservation not settled by then expires; default 300000 */
    int64_t timeout_ms;          /* connect and command timeout; default 200 */
};

struct config {
    char *path;            /* the file it came from (NULL when built in code) */
    struct privacy_config privacy;
    struct redis_config *redis; /* NULL: no Redis, limits are this instance's own */
    bool postgres_fail_open;    /* postgres.on_unavailable: open (serve, retry commits) |
                                   closed (refuse with 503 while down; default) */
    int64_t postgres_max_pending; /* postgres.max_pending: rows (ledger) and records (audit) a
                                     store in PostgreSQL keeps while the database is down;
                                     0: the stores' own (LEDGER_MAX_PENDING, AUDIT_MAX_PENDING) */
    struct server_config server;
    struct tier_config *tiers;
    size_t n_tiers;
    struct route_config *routes;
    size_t n_routes;
};

/* Parses and validates path: unknown keys, wrong types, duplicate names, routes naming unknown
 * tiers, bad regexes are errors with file:line. *out owned by the caller: config_free. */
int config_load(const char *path, struct config **out, struct err *e);
/* Same from memory (for tests and fuzzing); base_dir resolves relative model paths. */
int config_parse(const char *text, size_t len, const char *base_dir, struct config **out,
                 struct err *e);
void config_free(struct config *c);

/* Parses a decimal USD amount ("1.75", "0.000001", "14") exactly into micro-dollars: digits with
 * at most 6 decimals, no sign, no exponent, at most $1,000,000. For prices and `baton cost`. */
int config_parse_price(const char *text, int64_t *microusd, struct err *e);

const struct tier_config *config_tier(const struct config *c, const char *name);
const struct route_config *config_route(const struct config *c, const char *name);

#endif
