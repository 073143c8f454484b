/* config: baton serve's YAML configuration -> struct config (config.h has the format).
 *
 * libyaml loads the file into a node tree (yaml_parser_load); this file walks that tree against
 * the schema below and never trusts it: every mapping's keys are checked against the section's
 * list of allowed keys (unknown and duplicate keys are errors), every scalar is typed and range
 * checked, names are cross-checked (duplicate tier/route names, a route named like a tier, a
 * rule/default/fallback naming an unknown tier), and regexes are compiled by the router's own
 * check (route_regex_check) so a config that loads always yields a router.
 *
 * Every error reads "FILE:LINE: KEY: what is wrong", KEY being the path of the offending value
 * ("tiers.small.price.input", "routes.auto.rules[2].regex"). LINE is 1-based.
 *
 * YAML notes: numbers must be plain (unquoted) scalars; a plain `~`, `null` or empty value is
 * null and is refused where a string is expected; aliases (*name) are refused, which also keeps a
 * hostile file from expanding exponentially ("billion laughs") as the tree is walked. Prices are
 * decimal text converted exactly (config_parse_price), never through a double.
 */
#include "gateway/config.h"

#include "base/alloc.h"
#include "base/buf.h"
#include "gateway/pg.h"
#include "gateway/privacy.h"
#include "gateway/route.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <yaml.h>

#define CONFIG_MAX_BYTES (16u << 20)
#define NAME_MAX_LEN 64
#define PRICE_MAX_MICROUSD INT64_C(1000000000000) /* $1,000,000 per 1M tokens */

struct ctx {
    const char *file;      /* for messages */
    const char *base_dir;  /* resolves relative paths; NULL or "": leave them relative */
    yaml_document_t *doc;
    unsigned char *seen;   /* per node index: already walked (an alias would walk it twice) */
    struct err *e;
};

/* ---------------------------------------------------------------------------------------------
 * Messages and node access */

/* snprintf for key paths; names are at most NAME_MAX_LEN bytes, so paths fit, and a path that
 * did not would only be cut short in a message. */
static void pathf(char *out, size_t n, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

static void pathf(char *out, size_t n, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(out, n, fmt, ap);
    va_end(ap);
}

static int line_of(const yaml_node_t *n)
{
    return (int)n->start_mark.line + 1;
}

static int fail(struct ctx *c, const yaml_node_t *n, const char *path, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

static int fail(struct ctx *c, const yaml_node_t *n, const char *path, const char *fmt, ...)
{
    char what[ERR_MSG_MAX];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(what, sizeof what, fmt, ap);
    va_end(ap);
    return err_set(c->e, "%s:%d: %s: %s", c->file, n ? line_of(n) : 1, path, what);
}

/* The node at index, marked as walked; NULL (with the error set) if it was walked before. */
static yaml_node_t *node_at(struct ctx *c, int index, const yaml_node_t *parent, const char *path)
{
    yaml_node_t *n = yaml_document_get_node(c->doc, index);
    if (!n) {
        fail(c, parent, path, "missing value");
        return NULL;
    }
    size_t i = (size_t)(n - c->doc->nodes.start);
    if (c->seen[i]) {
        fail(c, n, path, "YAML aliases (*name) are not supported; write the value out");
        return NULL;
    }
    c->seen[i] = 1;
    return n;
}

static const char *node_kind(const yaml_node_t *n)
{
    switch (n->type) {
    case YAML_SCALAR_NODE: return "a scalar";
    case YAML_SEQUENCE_NODE: return "a list";
    case YAML_MAPPING_NODE: return "a mapping";
    default: return "nothing";
    }
}

static const char *scalar(const yaml_node_t *n)
{
    return (const char *)n->data.scalar.value;
}

static bool is_null(const yaml_node_t *n)
{
    if (n->type != YAML_SCALAR_NODE || n->data.scalar.style != YAML_PLAIN_SCALAR_STYLE)
        return false;
    const char *s = scalar(n);
    return !*s || !strcmp(s, "~") || !strcmp(s, "null") || !strcmp(s, "Null") ||
           !strcmp(s, "NULL");
}

static int want(struct ctx *c, const yaml_node_t *n, yaml_node_type_t type, const char *path)
{
    if (n->type == type && !(type == YAML_SCALAR_NODE && is_null(n)))
        return 0;
    const char *w = type == YAML_SCALAR_NODE ? "a value" : type == YAML_SEQUENCE_NODE ? "a list"
                                                                                         : "a mapping";
    return fail(c, n, path, "expected %s, got %s", w, is_null(n) ? "null" : node_kind(n));
}

/* Checks that every key of map is a plain string, appears once and is one of allowed (a
 * NULL-terminated list); an unknown key's message lists the allowed ones. */
static int check_keys(struct ctx *c, const yaml_node_t *map, const char *path,
                      const char *const *allowed)
{
    for (const yaml_node_pair_t *p = map->data.mapping.pairs.start; p < map->data.mapping.pairs.top;
         p++) {
        const yaml_node_t *k = yaml_document_get_node(c->doc, p->key);
        if (!k || k->type != YAML_SCALAR_NODE)
            return fail(c, k ? k : map, path, "keys must be plain strings, got %s",
                        k ? node_kind(k) : "nothing");
        const char *name = scalar(k);
        bool known = false;
        for (const char *const *a = allowed; *a && !known; a++)
            known = !strcmp(*a, name);
        if (!known) {
            struct buf list;
            buf_init(&list);
            for (const char *const *a = allowed; *a; a++)
                buf_printf(&list, "%s%s", a == allowed ? "" : ", ", *a);
            const char *hint = !strcmp(name, "api_key")
                                   ? "; keys do not belong in the config: name an environment "
                                     "variable with api_key_env"
                                   : "";
            fail(c, k, path, "unknown key '%.64s' (expected one of: %s)%s", name, list.data, hint);
            buf_free(&list);
            return -1;
        }
        for (const yaml_node_pair_t *q = map->data.mapping.pairs.start; q < p; q++) {
            const yaml_node_t *k2 = yaml_document_get_node(c->doc, q->key);
            if (!strcmp(scalar(k2), name))
                return fail(c, k, path, "duplicate key '%s' (first on line %d)", name, line_of(k2));
        }
    }
    return 0;
}

/* The value of key in map (keys already checked), marked walked; NULL if absent or on error
 * (then c->e is set and *failed is true). */
static yaml_node_t *map_get(struct ctx *c, const yaml_node_t *map, const char *key,
                            const char *path, bool *failed)
{
    for (const yaml_node_pair_t *p = map->data.mapping.pairs.start; p < map->data.mapping.pairs.top;
         p++) {
        const yaml_node_t *k = yaml_document_get_node(c->doc, p->key);
        if (strcmp(scalar(k), key) == 0) {
            char sub[256];
            pathf(sub, sizeof sub, "%s%s%s", path, *path ? "." : "", key);
            yaml_node_t *v = node_at(c, p->value, map, sub);
            if (!v)
                *failed = true;
            return v;
        }
    }
    return NULL;
}

/* The value of key in map without marking it walked: for pointing an error at a value already
 * read. */
static const yaml_node_t *map_find(struct ctx *c, const yaml_node_t *map, const char *key)
{
    for (const yaml_node_pair_t *p = map->data.mapping.pairs.start; p < map->data.mapping.pairs.top;
         p++)
        if (!strcmp(scalar(yaml_document_get_node(c->doc, p->key)), key))
            return yaml_document_get_node(c->doc, p->value);
    return map;
}

static void subpath(char *out, size_t n, const char *path, const char *key)
{
    pathf(out, n, "%s%s%s", path, *path ? "." : "", key);
}

/* ---------------------------------------------------------------------------------------------
 * Typed values. Each get_* reads key of map: returns 0 (absent leaves *out untouched), -1 on a
 * wrong type or range. */

static int get_str(struct ctx *c, const yaml_node_t *map, const char *key, const char *path,
                   bool required, bool allow_empty, char **out)
{
    bool failed = false;
    yaml_node_t *v = map_get(c, map, key, path, &failed);
    char p[256];
    subpath(p, sizeof p, path, key);
    if (failed)
        return -1;
    if (!v)
        return required ? fail(c, map, p, "missing (required)") : 0;
    if (want(c, v, YAML_SCALAR_NODE, p)) /* a quoted "" is a value, a plain empty one null */
        return -1;
    if (strlen(scalar(v)) != v->data.scalar.length)
        return fail(c, v, p, "contains a NUL byte");
    if (!allow_empty && v->data.scalar.length == 0)
        return fail(c, v, p, "must not be empty");
    free(*out);
    *out = xstrdup(scalar(v));
    return 0;
}

/* Parses a plain decimal integer in lo..hi. */
static int get_int(struct ctx *c, const yaml_node_t *map, const char *key, const char *path,
                   int64_t lo, int64_t hi, bool *present, int64_t *out)
{
    bool failed = false;
    yaml_node_t *v = map_get(c, map, key, path, &failed);
    char p[256];
    subpath(p, sizeof p, path, key);
    if (present)
        *present = v != NULL;
    if (failed)
        return -1;
    if (!v)
        return 0;
    if (want(c, v, YAML_SCALAR_NODE, p))
        return -1;
    const char *s = scalar(v);
    if (v->data.scalar.style != YAML_PLAIN_SCALAR_STYLE)
        return fail(c, v, p, "expected an integer, got the quoted string \"%.64s\"", s);
    const char *d = s + (*s == '-');
    bool digits = *d != 0;
    for (; *d && digits; d++)
        digits = *d >= '0' && *d <= '9';
    errno = 0;
    char *end;
    long long x = digits ? strtoll(s, &end, 10) : 0;
    if (!digits || errno || x < lo || x > hi)
        return fail(c, v, p, "expected an integer in %" PRId64 "..%" PRId64 ", got '%.64s'", lo,
                    hi, s);
    *out = x;
    return 0;
}

static int get_i32(struct ctx *c, const yaml_node_t *map, const char *key, const char *path,
                   int32_t lo, int32_t hi, int32_t *out)
{
    int64_t v = *out;
    if (get_int(c, map, key, path, lo, hi, NULL, &v))
        return -1;
    *out = (int32_t)v;
    return 0;
}

int config_parse_price(const char *text, int64_t *microusd, struct err *e)
{
    const char *s = text;
    int64_t whole = 0, frac = 0;
    int n_int = 0, n_frac = 0;
    for (; *s >= '0' && *s <= '9'; s++, n_int++) {
        if (whole > PRICE_MAX_MICROUSD / 1000000)
            break;
        whole = whole * 10 + (*s - '0');
    }
    if (*s == '.')
        for (s++; *s >= '0' && *s <= '9'; s++, n_frac++)
            if (n_frac < 6)
                frac = frac * 10 + (*s - '0');
    if (*text == '-')
        return err_set(e, "'%.64s' is negative; prices are >= 0", text);
    if (*s || n_int + n_frac == 0)
        return err_set(e, "'%.64s' is not a decimal number of USD (like 1.75)", text);
    if (n_frac > 6)
        return err_set(e, "'%.64s' has more than 6 decimals (a micro-dollar is the unit)", text);
    for (int i = n_frac; i < 6; i++)
        frac *= 10;
    int64_t v = whole * 1000000 + frac;
    if (whole > PRICE_MAX_MICROUSD / 1000000 || v > PRICE_MAX_MICROUSD)
        return err_set(e, "'%.64s' is above the limit of %" PRId64 " USD", text,
                       PRICE_MAX_MICROUSD / 1000000);
    *microusd = v;
    return 0;
}

static int get_price(struct ctx *c, const yaml_node_t *map, const char *key, const char *path,
                     int64_t *out)
{
    bool failed = false;
    yaml_node_t *v = map_get(c, map, key, path, &failed);
    char p[256];
    subpath(p, sizeof p, path, key);
    if (failed)
        return -1;
    if (!v)
        return fail(c, map, p, "missing (required): USD per 1M tokens, like 1.75");
    if (want(c, v, YAML_SCALAR_NODE, p))
        return -1;
    if (v->data.scalar.style != YAML_PLAIN_SCALAR_STYLE)
        return fail(c, v, p, "expected a number (USD per 1M tokens), got the quoted string "
                             "\"%.64s\"", scalar(v));
    struct err pe;
    if (config_parse_price(scalar(v), out, &pe))
        return fail(c, v, p, "%s", pe.msg);
    return 0;
}

/* Names of tiers, routes and rules: what clients send as `model`, what appears in headers and
 * metric labels, so they are short and plain. */
static int check_name(struct ctx *c, const yaml_node_t *map, const char *path, const char *name)
{
    size_t n = strlen(name);
    bool ok = n > 0 && n <= NAME_MAX_LEN;
    for (size_t i = 0; i < n && ok; i++) {
        char ch = name[i];
        ok = (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') ||
             strchr("._-:/@+", ch) != NULL;
    }
    if (ok)
        return 0;
    return fail(c, map_find(c, map, "name"), path,
                "name '%.64s' must be 1..%d characters of A-Z a-z 0-9 . _ - : / @ +", name,
                NAME_MAX_LEN);
}

static char *resolve_path(const char *base_dir, const char *p)
{
    if (pg_is_url(p) || p[0] == '/' || !base_dir || !*base_dir || !*p)
        return xstrdup(p);
    struct buf b;
    buf_init(&b);
    buf_printf(&b, "%s/%s", base_dir, p);
    return buf_detach(&b);
}

/* ---------------------------------------------------------------------------------------------
 * Sections */

/* The mapping at key of parent, its keys checked against keys (NULL-terminated): returns 0 with
 * *out NULL when absent, -1 on an error; p receives the mapping's path. */
static int get_map(struct ctx *c, const yaml_node_t *parent, const char *key, const char *path,
                   const char *const *keys, char *p, size_t p_size, yaml_node_t **out)
{
    bool failed = false;
    *out = map_get(c, parent, key, path, &failed);
    subpath(p, p_size, path, key);
    if (failed)
        return -1;
    if (!*out)
        return 0;
    return want(c, *out, YAML_MAPPING_NODE, p) || check_keys(c, *out, p, keys) ? -1 : 0;
}

static int parse_server(struct ctx *c, const yaml_node_t *root, struct server_config *s)
{
    static const char *const keys[] = {"host", "port", "max_connections", "max_body_bytes",
                                       "ledger", "keys", "audit", "audit_content", "journal",
                                       NULL};
    yaml_node_t *n;
    char path[64];
    if (get_map(c, root, "server", "", keys, path, sizeof path, &n))
        return -1;
    if (!n)
        return 0;
    int64_t body = s->max_body_bytes;
    char *ledger = NULL, *keystore = NULL;
    if (get_str(c, n, "keys", path, false, false, &keystore))
        return -1;
    if (keystore) {
        free(s->keys);
        s->keys = resolve_path(c->base_dir, keystore);
        free(keystore);
    }
    char *audit = NULL, *journal = NULL;
    if (get_str(c, n, "audit", path, false, false, &audit) ||
        get_str(c, n, "journal", path, false, true, &journal)) {
        free(audit);
        return -1;
    }
    if (journal) {
        free(s->journal);
        s->journal = resolve_path(c->base_dir, journal);
        free(journal);
    }
    struct err ue;
    if (audit && pg_is_url(audit) && pg_url_check(audit, NULL, 0, &ue)) {
        free(audit);
        return fail(c, map_find(c, n, "audit"), "server.audit", "%s", ue.msg);
    }
    if (audit) {
        free(s->audit);
        s->audit = resolve_path(c->base_dir, audit);
        free(audit);
    }
    bool failed = false;
    yaml_node_t *ac = map_get(c, n, "audit_content", path, &failed);
    if (failed)
        return -1;
    if (ac) {
        const char *v = ac->type == YAML_SCALAR_NODE && ac->data.scalar.style == YAML_PLAIN_SCALAR_STYLE
                            ? scalar(ac) : "";
        if (strcmp(v, "true") && strcmp(v, "false"))
            return fail(c, ac, "server.audit_content", "expected true or false");
        s->audit_content = !strcmp(v, "true");
        if (s->audit_content && !s->audit)
            return fail(c, ac, "server.audit_content", "needs server.audit (the trail's path)");
    }
    if (get_str(c, n, "host", path, false, false, &s->host) ||
        get_i32(c, n, "port", path, 1, 65535, &s->port) ||
        get_i32(c, n, "max_connections", path, 1, 1000000, &s->max_connections) ||
        get_int(c, n, "max_body_bytes", path, 1024, INT64_C(1) << 30, NULL, &body) ||
        get_str(c, n, "ledger", path, false, true, &ledger)) {
        free(ledger);
        return -1;
    }
    s->max_body_bytes = body;
    if (ledger && pg_is_url(ledger) && pg_url_check(ledger, NULL, 0, &ue)) {
        free(ledger);
        return fail(c, map_find(c, n, "ledger"), "server.ledger", "%s", ue.msg);
    }
    if (ledger) {
        free(s->ledger);
        s->ledger = resolve_path(c->base_dir, ledger);
        free(ledger);
    }
    return 0;
}

static int online_cpus(void)
{
    long n = sysconf(_SC_NPROCESSORS_ONLN);
    return n < 1 ? 1 : n > 64 ? 64 : (int)n;
}

static bool is_env_name(const char *s)
{
    if (!((*s >= 'A' && *s <= 'Z') || (*s >= 'a' && *s <= 'z') || *s == '_'))
        return false;
    for (s++; *s; s++)
        if (!((*s >= 'A' && *s <= 'Z') || (*s >= 'a' && *s <= 'z') || (*s >= '0' && *s <= '9') ||
              *s == '_'))
            return false;
    return true;
}

static int parse_timeouts(struct ctx *c, const yaml_node_t *tier, const char *path,
                          struct tier_config *t)
{
    static const char *const keys[] = {"connect_ms", "first_byte_ms", "idle_ms", NULL};
    yaml_node_t *n;
    char p[256];
    if (get_map(c, tier, "timeouts", path, keys, p, sizeof p, &n))
        return -1;
    if (!n)
        return 0;
    const int64_t hour_ms = 3600000;
    if (get_int(c, n, "connect_ms", p, 1, hour_ms, NULL, &t->connect_timeout_ms) ||
        get_int(c, n, "first_byte_ms", p, 1, hour_ms, NULL, &t->first_byte_timeout_ms) ||
        get_int(c, n, "idle_ms", p, 1, hour_ms, NULL, &t->idle_timeout_ms))
        return -1;
    return 0;
}

static int parse_breaker(struct ctx *c, const yaml_node_t *tier, const char *path,
                         struct tier_config *t)
{
    static const char *const keys[] = {"failures", "open_ms", NULL};
    yaml_node_t *n;
    char p[256];
    if (get_map(c, tier, "breaker", path, keys, p, sizeof p, &n))
        return -1;
    if (!n)
        return 0;
    if (get_i32(c, n, "failures", p, 1, 1000, &t->breaker_failures) ||
        get_int(c, n, "open_ms", p, 1, 3600000, NULL, &t->breaker_open_ms))
        return -1;
    return 0;
}

static int parse_price(struct ctx *c, const yaml_node_t *tier, const char *path,
                       struct tier_config *t)
{
    static const char *const keys[] = {"input", "output", NULL};
    yaml_node_t *n;
    char p[256];
    if (get_map(c, tier, "price", path, keys, p, sizeof p, &n))
        return -1;
    if (!n) {
        if (t->kind == TIER_LOCAL)
            return 0; /* running our own model: free unless a notional price is given */
        return fail(c, tier, p, "missing (required for kind openai): { input: USD, output: USD } "
                                "per 1M tokens");
    }
    if (get_price(c, n, "input", p, &t->price_in_microusd) ||
        get_price(c, n, "output", p, &t->price_out_microusd))
        return -1;
    return 0;
}

/* Keys that belong to one kind only. */
static const char *const g_local_only[] = {"threads", "context", "max_queue", "slots", NULL};
static const char *const g_openai_only[] = {"base_url", "api_key_env", "timeouts", "retries",
                                            "breaker", NULL};

static int check_kind_keys(struct ctx *c, const yaml_node_t *n, const char *path,
                           enum tier_kind kind)
{
    const char *const *other = kind == TIER_LOCAL ? g_openai_only : g_local_only;
    for (const yaml_node_pair_t *p = n->data.mapping.pairs.start; p < n->data.mapping.pairs.top;
         p++) {
        const yaml_node_t *k = yaml_document_get_node(c->doc, p->key);
        for (const char *const *o = other; *o; o++)
            if (!strcmp(scalar(k), *o))
                return fail(c, k, path, "'%s' is only valid for kind %s", *o,
                            kind == TIER_LOCAL ? "openai" : "local");
    }
    return 0;
}

static int parse_tier(struct ctx *c, const yaml_node_t *n, size_t index, struct tier_config *t)
{
    static const char *const keys[] = {"name", "kind", "model", "threads", "context",
                                       "max_queue", "slots", "base_url", "api_key_env", "timeouts",
                                       "retries", "breaker", "price", "max_tokens_default",
                                       NULL};
    char path[256];
    pathf(path, sizeof path, "tiers[%zu]", index);
    if (want(c, n, YAML_MAPPING_NODE, path) || check_keys(c, n, path, keys) ||
        get_str(c, n, "name", path, true, false, &t->name) || check_name(c, n, path, t->name))
        return -1;
    pathf(path, sizeof path, "tiers.%s", t->name);
    char *kind = NULL;
    if (get_str(c, n, "kind", path, true, false, &kind))
        return -1;
    bool local = !strcmp(kind, "local"), openai = !strcmp(kind, "openai");
    if (!local && !openai) {
        char p[256];
        subpath(p, sizeof p, path, "kind");
        int r = fail(c, map_find(c, n, "kind"), p,
                     "unknown kind '%.64s' (expected local or openai)", kind);
        free(kind);
        return r;
    }
    free(kind);
    t->kind = local ? TIER_LOCAL : TIER_OPENAI;
    if (check_kind_keys(c, n, path, t->kind))
        return -1;

    t->threads = online_cpus();
    t->context = 0;
    t->max_queue = 64;
    t->slots = 4;
    t->connect_timeout_ms = 2000;
    t->first_byte_timeout_ms = 60000;
    t->idle_timeout_ms = 60000;
    t->retries = 2;
    t->breaker_failures = 5;
    t->breaker_open_ms = 30000;
    t->max_tokens_default = 512;
    char *model = NULL;
    if (get_str(c, n, "model", path, local, false, &model) ||
        get_i32(c, n, "max_tokens_default", path, 1, 1 << 20, &t->max_tokens_default)) {
        free(model);
        return -1;
    }
    if (local) {
        t->model_path = resolve_path(c->base_dir, model);
        free(model);
        if (get_i32(c, n, "threads", path, 1, 1024, &t->threads) ||
            get_i32(c, n, "context", path, 16, 1 << 20, &t->context) ||
            get_i32(c, n, "max_queue", path, 0, 1000000, &t->max_queue) ||
            get_i32(c, n, "slots", path, 1, 64, &t->slots))
            return -1;
    } else {
        t->upstream_model = model ? model : xstrdup(t->name);
        if (get_str(c, n, "base_url", path, true, false, &t->base_url) ||
            get_str(c, n, "api_key_env", path, false, false, &t->api_key_env) ||
            get_i32(c, n, "retries", path, 0, 10, &t->retries) ||
            parse_timeouts(c, n, path, t) || parse_breaker(c, n, path, t))
            return -1;
        char p[256];
        size_t len = strlen(t->base_url);
        bool http = !strncmp(t->base_url, "http://", 7) && len > 7;
        bool https = !strncmp(t->base_url, "https://", 8) && len > 8;
        if (!http && !https) {
            subpath(p, sizeof p, path, "base_url");
            return fail(c, map_find(c, n, "base_url"), p,
                        "'%.128s' is not an http:// or https:// URL", t->base_url);
        }
        while (len > 8 && t->base_url[len - 1] == '/')
            t->base_url[--len] = 0;
        if (t->api_key_env && !is_env_name(t->api_key_env)) {
            subpath(p, sizeof p, path, "api_key_env");
            return fail(c, map_find(c, n, "api_key_env"), p,
                        "'%.64s' is not an environment variable name (letters, digits, _)",
                        t->api_key_env);
        }
    }
    return parse_price(c, n, path, t);
}

/* The tier name in node (a string value at path) must exist in cfg. */
static int check_tier_ref(struct ctx *c, const struct config *cfg, const yaml_node_t *v,
                          const char *path, const char *name)
{
    if (config_tier(cfg, name))
        return 0;
    struct buf list;
    buf_init(&list);
    for (size_t i = 0; i < cfg->n_tiers; i++)
        buf_printf(&list, "%s%s", i ? ", " : "", cfg->tiers[i].name);
    fail(c, v, path, "unknown tier '%.64s' (tiers: %s)", name, list.data);
    buf_free(&list);
    return -1;
}

/* Reads a list of strings at key into *out / *n. */
static int get_str_list(struct ctx *c, const yaml_node_t *map, const char *key, const char *path,
                        char ***out, size_t *n, const yaml_node_t ***items)
{
    bool failed = false;
    yaml_node_t *v = map_get(c, map, key, path, &failed);
    char p[256];
    subpath(p, sizeof p, path, key);
    if (failed)
        return -1;
    if (!v)
        return 0;
    if (want(c, v, YAML_SEQUENCE_NODE, p))
        return -1;
    size_t count = (size_t)(v->data.sequence.items.top - v->data.sequence.items.start);
    if (count == 0)
        return fail(c, v, p, "the list is empty");
    *out = xcalloc(count, sizeof **out);
    if (items)
        *items = xcalloc(count, sizeof **items);
    for (size_t i = 0; i < count; i++) {
        char ip[256];
        pathf(ip, sizeof ip, "%s[%zu]", p, i);
        yaml_node_t *it = node_at(c, v->data.sequence.items.start[i], v, ip);
        if (!it || want(c, it, YAML_SCALAR_NODE, ip))
            return -1;
        if (strlen(scalar(it)) != it->data.scalar.length || it->data.scalar.length == 0)
            return fail(c, it, ip, "must be a non-empty string without NUL bytes");
        (*out)[(*n)++] = xstrdup(scalar(it));
        if (items)
            (*items)[i] = it;
    }
    return 0;
}

static int parse_rule(struct ctx *c, const struct config *cfg, const yaml_node_t *n,
                      const char *route_path, size_t index, struct rule_config *r)
{
    static const char *const keys[] = {"name", "min_chars", "max_chars", "regex", "keywords",
                                       "needs", "tier", NULL};
    char path[256];
    pathf(path, sizeof path, "%s.rules[%zu]", route_path, index);
    r->min_chars = r->max_chars = -1;
    if (want(c, n, YAML_MAPPING_NODE, path) || check_keys(c, n, path, keys) ||
        get_str(c, n, "name", path, false, false, &r->name))
        return -1;
    if (r->name && check_name(c, n, path, r->name))
        return -1;
    if (!r->name) {
        char def[32];
        pathf(def, sizeof def, "#%zu", index + 1);
        r->name = xstrdup(def);
    }
    bool has_min, has_max;
    const int64_t max_chars = INT64_C(1) << 40;
    if (get_int(c, n, "min_chars", path, 0, max_chars, &has_min, &r->min_chars) ||
        get_int(c, n, "max_chars", path, 0, max_chars, &has_max, &r->max_chars) ||
        get_str(c, n, "regex", path, false, false, &r->regex) ||
        get_str_list(c, n, "keywords", path, &r->keywords, &r->n_keywords, NULL))
        return -1;
    char p[256];
    if (has_min && has_max && r->min_chars > r->max_chars) {
        subpath(p, sizeof p, path, "max_chars");
        return fail(c, map_find(c, n, "max_chars"), p, "%" PRId64 " is below min_chars %" PRId64, r->max_chars,
                    r->min_chars);
    }
    if (r->regex) {
        struct err re;
        if (route_regex_check(r->regex, &re)) {
            subpath(p, sizeof p, path, "regex");
            return fail(c, map_find(c, n, "regex"), p, "%s", re.msg);
        }
    }
    char **needs = NULL;
    size_t n_needs = 0;
    const yaml_node_t **need_nodes = NULL;
    int rc = get_str_list(c, n, "needs", path, &needs, &n_needs, &need_nodes);
    for (size_t i = 0; i < n_needs && rc == 0; i++) {
        if (!strcmp(needs[i], "tools")) {
            r->needs |= NEED_TOOLS;
        } else if (!strcmp(needs[i], "response_format")) {
            r->needs |= NEED_RESPONSE_FORMAT;
        } else {
            pathf(p, sizeof p, "%s.needs[%zu]", path, i);
            rc = fail(c, need_nodes[i], p,
                      "unknown feature '%.64s' (expected tools or response_format)", needs[i]);
        }
    }
    for (size_t i = 0; i < n_needs; i++)
        free(needs[i]);
    free(needs);
    free(need_nodes);
    if (rc)
        return -1;
    if (!has_min && !has_max && !r->regex && !r->n_keywords && !r->needs)
        return fail(c, n, path, "rule '%s' has no condition (min_chars, max_chars, regex, "
                                "keywords, needs); the route's default covers what no rule "
                                "matches", r->name);
    if (get_str(c, n, "tier", path, true, false, &r->tier))
        return -1;
    subpath(p, sizeof p, path, "tier");
    return check_tier_ref(c, cfg, map_find(c, n, "tier"), p, r->tier);
}

static int parse_policy(const char *s)
{
    return !strcmp(s, "none") ? PRIVACY_NONE : !strcmp(s, "local-only") ? PRIVACY_LOCAL_ONLY
         : !strcmp(s, "mask") ? PRIVACY_MASK : !strcmp(s, "block") ? PRIVACY_BLOCK : -1;
}

static int check_kind_name(struct ctx *c, const yaml_node_t *at, const char *path,
                           const char *name)
{
    size_t n = strlen(name);
    bool ok = n > 0 && n <= 32;
    for (size_t i = 0; i < n && ok; i++)
        ok = (name[i] >= 'a' && name[i] <= 'z') || (name[i] >= '0' && name[i] <= '9') ||
             name[i] == '_';
    if (!ok)
        return fail(c, at, path, "kind name '%.64s' must be 1..32 of a-z 0-9 _", name);
    if (privacy_builtin_kind(name) >= 0)
        return fail(c, at, path, "'%s' is a built-in kind; name custom kinds differently", name);
    return 0;
}

/* privacy: { default, kinds, patterns: [{name, regex}], terms: [{name, terms}] } */
static int parse_privacy(struct ctx *c, const yaml_node_t *root, struct privacy_config *pc)
{
    static const char *const keys[] = {"default", "kinds", "patterns", "terms", NULL};
    yaml_node_t *n;
    char path[64], p[256];
    bool failed = false;
    pc->kinds = (UINT64_C(1) << PK_BUILTIN_COUNT) - 1;
    if (get_map(c, root, "privacy", "", keys, path, sizeof path, &n))
        return -1;
    if (!n)
        return 0;
    char *def = NULL;
    if (get_str(c, n, "default", path, false, false, &def))
        return -1;
    if (def) {
        int v = parse_policy(def);
        free(def);
        if (v < 0)
            return fail(c, map_find(c, n, "default"), "privacy.default",
                        "unknown policy (expected none, local-only, mask or block)");
        pc->default_policy = v;
    }
    char **kinds = NULL;
    size_t n_kinds = 0;
    const yaml_node_t **items = NULL;
    int rc = get_str_list(c, n, "kinds", path, &kinds, &n_kinds, &items);
    if (rc == 0 && kinds) {
        pc->kinds = 0;
        for (size_t i = 0; i < n_kinds && rc == 0; i++) {
            int k = privacy_builtin_kind(kinds[i]);
            pathf(p, sizeof p, "privacy.kinds[%zu]", i);
            if (k < 0)
                rc = fail(c, items[i], p, "unknown kind '%.64s' (expected email, phone, card, "
                                          "iban, ssn, ipv4, ipv6, secret)", kinds[i]);
            else
                pc->kinds |= UINT64_C(1) << k;
        }
    }
    for (size_t i = 0; i < n_kinds; i++)
        free(kinds[i]);
    free(kinds);
    free(items);
    if (rc)
        return -1;
    yaml_node_t *pats = map_get(c, n, "patterns", path, &failed);
    if (failed || (pats && want(c, pats, YAML_SEQUENCE_NODE, "privacy.patterns")))
        return -1;
    if (pats) {
        size_t count = (size_t)(pats->data.sequence.items.top - pats->data.sequence.items.start);
        pc->patterns = xcalloc(count ? count : 1, sizeof *pc->patterns);
        for (size_t i = 0; i < count; i++) {
            static const char *const pk[] = {"name", "regex", NULL};
            pathf(p, sizeof p, "privacy.patterns[%zu]", i);
            yaml_node_t *it = node_at(c, pats->data.sequence.items.start[i], pats, p);
            if (!it || want(c, it, YAML_MAPPING_NODE, p) || check_keys(c, it, p, pk))
                return -1;
            struct privacy_pattern_config *pp = &pc->patterns[pc->n_patterns++];
            if (get_str(c, it, "name", p, true, false, &pp->name) ||
                check_kind_name(c, map_find(c, it, "name"), p, pp->name) ||
                get_str(c, it, "regex", p, true, false, &pp->regex))
                return -1;
            struct err re;
            if (privacy_regex_check(pp->regex, &re)) {
                char rp[280];
                pathf(rp, sizeof rp, "%s.regex", p);
                return fail(c, map_find(c, it, "regex"), rp, "%s", re.msg);
            }
        }
    }
    yaml_node_t *terms = map_get(c, n, "terms", path, &failed);
    if (failed || (terms && want(c, terms, YAML_SEQUENCE_NODE, "privacy.terms")))
        return -1;
    if (terms) {
        size_t count = (size_t)(terms->data.sequence.items.top - terms->data.sequence.items.start);
        pc->terms = xcalloc(count ? count : 1, sizeof *pc->terms);
        for (size_t i = 0; i < count; i++) {
            static const char *const tk[] = {"name", "terms", NULL};
            pathf(p, sizeof p, "privacy.terms[%zu]", i);
            yaml_node_t *it = node_at(c, terms->data.sequence.items.start[i], terms, p);
            if (!it || want(c, it, YAML_MAPPING_NODE, p) || check_keys(c, it, p, tk))
                return -1;
            struct privacy_terms_config *pt = &pc->terms[pc->n_terms++];
            if (get_str(c, it, "name", p, true, false, &pt->name) ||
                check_kind_name(c, map_find(c, it, "name"), p, pt->name) ||
                get_str_list(c, it, "terms", p, &pt->terms, &pt->n_terms, NULL))
                return -1;
            if (!pt->n_terms)
                return fail(c, it, p, "terms: missing (required): a list of words");
        }
    }
    for (size_t i = 0; i < pc->n_patterns + pc->n_terms; i++) {
        const char *a = i < pc->n_patterns ? pc->patterns[i].name
                                           : pc->terms[i - pc->n_patterns].name;
        for (size_t j = 0; j < i; j++) {
            const char *b = j < pc->n_patterns ? pc->patterns[j].name
                                               : pc->terms[j - pc->n_patterns].name;
            if (!strcmp(a, b))
                return fail(c, n, "privacy", "kind name '%s' is used twice", a);
        }
    }
    return 0;
}

/* postgres: { on_unavailable, max_pending } -- for a ledger or audit trail at a postgres:// URL */
static int parse_postgres(struct ctx *c, const yaml_node_t *root, struct config *cfg)
{
    static const char *const keys[] = {"on_unavailable", "max_pending", NULL};
    yaml_node_t *n;
    char path[64];
    if (get_map(c, root, "postgres", "", keys, path, sizeof path, &n))
        return -1;
    if (!n)
        return 0;
    char *mode = NULL;
    /* at least 16 rows, so the high-water mark (store.h) leaves a reserve; at most 10M (some
     * GB of memory for an audit trail with content) */
    if (get_int(c, n, "max_pending", path, 16, 10000000, NULL, &cfg->postgres_max_pending) ||
        get_str(c, n, "on_unavailable", path, false, false, &mode))
        return -1;
    int rc = 0;
    if (mode && !strcmp(mode, "open"))
        cfg->postgres_fail_open = true;
    else if (mode && strcmp(mode, "closed"))
        rc = fail(c, map_find(c, n, "on_unavailable"), "postgres.on_unavailable",
                  "expected open or closed");
    free(mode);
    return rc;
}

/* redis: { url, prefix, on_unavailable, reservation_ttl_ms, timeout_ms } */
static int parse_redis(struct ctx *c, const yaml_node_t *root, struct config *cfg)
{
    static const char *const keys[] = {"url", "prefix", "on_unavailable", "reservation_ttl_ms",
                                       "timeout_ms", NULL};
    yaml_node_t *n;
    char path[64];
    if (get_map(c, root, "redis", "", keys, path, sizeof path, &n))
        return -1;
    if (!n)
        return 0;
    struct redis_config *r = cfg->redis = xcalloc(1, sizeof *r);
    r->port = 6379;
    r->prefix = xstrdup("baton:");
    r->reservation_ttl_ms = 300000;
    r->timeout_ms = 200;
    char *url = NULL, *mode = NULL;
    if (get_str(c, n, "url", path, true, false, &url) ||
        get_str(c, n, "prefix", path, false, false, &r->prefix) ||
        get_str(c, n, "on_unavailable", path, false, false, &mode) ||
        get_int(c, n, "reservation_ttl_ms", path, 1000, INT64_C(86400000), NULL,
                &r->reservation_ttl_ms) ||
        get_int(c, n, "timeout_ms", path, 1, 60000, NULL, &r->timeout_ms)) {
        free(url);
        free(mode);
        return -1;
    }
    int rc = 0;
    const char *hp = url && !strncmp(url, "redis://", 8) ? url + 8 : NULL;
    const char *colon = hp ? strrchr(hp, ':') : NULL;
    if (!hp || !*hp || *hp == ':') {
        rc = fail(c, map_find(c, n, "url"), "redis.url", "'%.64s' is not redis://HOST[:PORT]",
                  url);
    } else {
        r->host = colon ? xstrndup(hp, (size_t)(colon - hp)) : xstrdup(hp);
        if (colon) {
            char *end;
            long p = strtol(colon + 1, &end, 10);
            if (*end || p < 1 || p > 65535)
                rc = fail(c, map_find(c, n, "url"), "redis.url", "bad port in '%.64s'", url);
            r->port = (int32_t)p;
        }
    }
    if (!rc && mode) {
        if (!strcmp(mode, "open"))
            r->fail_open = true;
        else if (strcmp(mode, "closed"))
            rc = fail(c, map_find(c, n, "on_unavailable"), "redis.on_unavailable",
                      "expected open or closed");
    }
    free(url);
    free(mode);
    return rc;
}

/* The keys of one strategy, refused in a route of another (they would be ignored). */
static int refuse_keys(struct ctx *c, const yaml_node_t *n, const char *path,
                       const char *const *keys, const char *strategy)
{
    char p[256];
    for (; *keys; keys++) {
        const yaml_node_t *v = map_find(c, n, *keys);
        if (v != n) {
            subpath(p, sizeof p, path, *keys);
            return fail(c, v, p, "belongs to strategy %s; this route's strategy is %s",
                        !strcmp(strategy, "rules") ? "learned" : "rules", strategy);
        }
    }
    return 0;
}

static int parse_rules(struct ctx *c, struct config *cfg, const yaml_node_t *n,
                       const char *path, struct route_config *rt)
{
    static const char *const learned_keys[] = {"router", "strong_fraction", "weak", "strong",
                                               NULL};
    char p[256];
    bool failed = false;
    if (refuse_keys(c, n, path, learned_keys, "rules"))
        return -1;
    yaml_node_t *rules = map_get(c, n, "rules", path, &failed);
    subpath(p, sizeof p, path, "rules");
    if (failed || (rules && want(c, rules, YAML_SEQUENCE_NODE, p)))
        return -1;
    if (rules) {
        size_t count = (size_t)(rules->data.sequence.items.top - rules->data.sequence.items.start);
        rt->rules = xcalloc(count ? count : 1, sizeof *rt->rules);
        for (size_t i = 0; i < count; i++) {
            char ip[256];
            pathf(ip, sizeof ip, "%s[%zu]", p, i);
            yaml_node_t *rn = node_at(c, rules->data.sequence.items.start[i], rules, ip);
            rt->n_rules++;
            if (!rn || parse_rule(c, cfg, rn, path, i, &rt->rules[i]))
                return -1;
            for (size_t j = 0; j < i; j++)
                if (!strcmp(rt->rules[j].name, rt->rules[i].name))
                    return fail(c, rn, ip, "duplicate rule name '%s'", rt->rules[i].name);
        }
    }

    if (get_str(c, n, "default", path, true, false, &rt->default_tier))
        return -1;
    subpath(p, sizeof p, path, "default");
    return check_tier_ref(c, cfg, map_find(c, n, "default"), p, rt->default_tier);
}

static int parse_learned(struct ctx *c, struct config *cfg, const yaml_node_t *n,
                         const char *path, struct route_config *rt)
{
    static const char *const rules_keys[] = {"rules", "default", NULL};
    char p[256];
    bool failed = false;
    if (refuse_keys(c, n, path, rules_keys, "learned"))
        return -1;
    for (int strong = 0; strong < 2; strong++) {
        const char *key = strong ? "strong" : "weak";
        char **dst = strong ? &rt->strong_tier : &rt->weak_tier;
        if (get_str(c, n, key, path, true, false, dst))
            return -1;
        subpath(p, sizeof p, path, key);
        if (check_tier_ref(c, cfg, map_find(c, n, key), p, *dst))
            return -1;
    }
    if (!strcmp(rt->weak_tier, rt->strong_tier)) {
        subpath(p, sizeof p, path, "strong");
        return fail(c, map_find(c, n, "strong"), p, "'%s' is also the weak tier; a learned "
                                                    "route picks between two tiers",
                    rt->strong_tier);
    }
    rt->strong_fraction = 0.3;
    const yaml_node_t *v = map_get(c, n, "strong_fraction", path, &failed);
    subpath(p, sizeof p, path, "strong_fraction");
    if (failed || (v && want(c, v, YAML_SCALAR_NODE, p)))
        return -1;
    if (v) {
        const char *t = scalar(v);
        char *end;
        errno = 0;
        double x = strtod(t, &end);
        if (v->data.scalar.style != YAML_PLAIN_SCALAR_STYLE || end == t || *end || errno ||
            !(x >= 0 && x <= 1))
            return fail(c, v, p, "expected a number in 0..1 (the share of requests for the "
                                 "strong tier), got '%.64s'", t);
        rt->strong_fraction = x;
    }
    char *router = NULL;
    if (get_str(c, n, "router", path, false, false, &router))
        return -1;
    rt->router = !router || !strcmp(router, ROUTE_LEARNED_BUILTIN) ? xstrdup(ROUTE_LEARNED_BUILTIN)
                                                            : resolve_path(c->base_dir, router);
    free(router);
    struct err le;
    if (route_learned_check(rt->router, &le)) {
        subpath(p, sizeof p, path, "router");
        return fail(c, map_find(c, n, "router"), p, "%s", le.msg);
    }
    return 0;
}

static int parse_route(struct ctx *c, struct config *cfg, const yaml_node_t *n, size_t index,
                       struct route_config *rt)
{
    static const char *const keys[] = {"name",   "strategy",        "rules", "default",
                                       "fallback", "privacy",       "router", "strong_fraction",
                                       "weak",   "strong",          NULL};
    char path[256], p[256];
    pathf(path, sizeof path, "routes[%zu]", index);
    if (want(c, n, YAML_MAPPING_NODE, path) || check_keys(c, n, path, keys) ||
        get_str(c, n, "name", path, true, false, &rt->name) || check_name(c, n, path, rt->name))
        return -1;
    const yaml_node_t *name_node = map_find(c, n, "name");
    subpath(p, sizeof p, path, "name");
    if (config_tier(cfg, rt->name))
        return fail(c, name_node, p, "'%s' is already a tier name; a model name must mean one "
                                     "thing", rt->name);
    for (size_t i = 0; i < index; i++)
        if (!strcmp(cfg->routes[i].name, rt->name))
            return fail(c, name_node, p, "duplicate route name '%s'", rt->name);
    pathf(path, sizeof path, "routes.%s", rt->name);

    rt->privacy = -1;
    char *pol = NULL;
    if (get_str(c, n, "privacy", path, false, false, &pol))
        return -1;
    if (pol) {
        int v = parse_policy(pol);
        free(pol);
        if (v < 0) {
            subpath(p, sizeof p, path, "privacy");
            return fail(c, map_find(c, n, "privacy"), p,
                        "unknown policy (expected none, local-only, mask or block)");
        }
        rt->privacy = v;
    }

    rt->strategy = xstrdup("rules");
    if (get_str(c, n, "strategy", path, false, false, &rt->strategy))
        return -1;
    struct err se;
    if (route_strategy_check(rt->strategy, &se)) {
        subpath(p, sizeof p, path, "strategy");
        return fail(c, map_find(c, n, "strategy"), p, "%s", se.msg);
    }

    if (!strcmp(rt->strategy, "learned") ? parse_learned(c, cfg, n, path, rt)
                                           : parse_rules(c, cfg, n, path, rt))
        return -1;

    const yaml_node_t **items = NULL;
    int rc = get_str_list(c, n, "fallback", path, &rt->fallback, &rt->n_fallback, &items);
    for (size_t i = 0; i < rt->n_fallback && rc == 0; i++) {
        pathf(p, sizeof p, "%s.fallback[%zu]", path, i);
        rc = check_tier_ref(c, cfg, items[i], p, rt->fallback[i]);
        for (size_t j = 0; j < i && rc == 0; j++)
            if (!strcmp(rt->fallback[i], rt->fallback[j]))
                rc = fail(c, items[i], p, "'%s' is listed twice", rt->fallback[i]);
    }
    if (rc == 0 && rt->n_fallback > ROUTE_MAX_TIERS - 1) {
        pathf(p, sizeof p, "%s.fallback", path);
        rc = fail(c, items[ROUTE_MAX_TIERS - 1], p, "at most %d fallback tiers",
                  ROUTE_MAX_TIERS - 1);
    }
    free(items);
    return rc;
}

static int parse_root(struct ctx *c, const yaml_node_t *root, struct config *cfg)
{
    static const char *const keys[] = {"server", "tiers", "routes", "privacy", "redis",
                                       "postgres", NULL};
    bool failed = false;
    if (want(c, root, YAML_MAPPING_NODE, "(top level)") || check_keys(c, root, "(top level)", keys))
        return -1;
    if (parse_server(c, root, &cfg->server) || parse_privacy(c, root, &cfg->privacy) ||
        parse_redis(c, root, cfg) || parse_postgres(c, root, cfg))
        return -1;

    yaml_node_t *tiers = map_get(c, root, "tiers", "", &failed);
    if (failed)
        return -1;
    if (!tiers)
        return fail(c, root, "tiers", "missing (required): a list of tiers, at least one");
    if (want(c, tiers, YAML_SEQUENCE_NODE, "tiers"))
        return -1;
    size_t count = (size_t)(tiers->data.sequence.items.top - tiers->data.sequence.items.start);
    if (count == 0)
        return fail(c, tiers, "tiers", "the list is empty; give at least one tier");
    cfg->tiers = xcalloc(count, sizeof *cfg->tiers);
    for (size_t i = 0; i < count; i++) {
        char ip[64];
        pathf(ip, sizeof ip, "tiers[%zu]", i);
        yaml_node_t *tn = node_at(c, tiers->data.sequence.items.start[i], tiers, ip);
        cfg->n_tiers++;
        if (!tn || parse_tier(c, tn, i, &cfg->tiers[i]))
            return -1;
        for (size_t j = 0; j < i; j++)
            if (!strcmp(cfg->tiers[j].name, cfg->tiers[i].name)) {
                pathf(ip, sizeof ip, "tiers[%zu].name", i);
                return fail(c, map_find(c, tn, "name"), ip, "duplicate tier name '%s'",
                            cfg->tiers[i].name);
            }
    }

    yaml_node_t *routes = map_get(c, root, "routes", "", &failed);
    if (failed || !routes)
        return failed ? -1 : 0;
    if (want(c, routes, YAML_SEQUENCE_NODE, "routes"))
        return -1;
    count = (size_t)(routes->data.sequence.items.top - routes->data.sequence.items.start);
    cfg->routes = xcalloc(count ? count : 1, sizeof *cfg->routes);
    for (size_t i = 0; i < count; i++) {
        char ip[64];
        pathf(ip, sizeof ip, "routes[%zu]", i);
        yaml_node_t *rn = node_at(c, routes->data.sequence.items.start[i], routes, ip);
        cfg->n_routes++;
        if (!rn || parse_route(c, cfg, rn, i, &cfg->routes[i]))
            return -1;
    }
    return 0;
}

/* ---------------------------------------------------------------------------------------------
 * Entry points */

static int parse_named(const char *text, size_t len, const char *file, const char *base_dir,
                       struct config **out, struct err *e)
{
    struct config *cfg = xcalloc(1, sizeof *cfg);
    cfg->server.host = xstrdup("127.0.0.1");
    cfg->server.port = 8080;
    cfg->server.max_connections = 1024;
    cfg->server.max_body_bytes = 1 << 20;
    cfg->server.ledger = resolve_path(base_dir, "baton-ledger.db");
    cfg->server.journal = resolve_path(base_dir, "baton-journal");

    yaml_parser_t parser;
    yaml_document_t doc;
    if (!yaml_parser_initialize(&parser)) {
        config_free(cfg);
        return err_set(e, "%s: cannot initialize the YAML parser", file);
    }
    yaml_parser_set_input_string(&parser, (const unsigned char *)text, len);
    int rc = -1;
    if (!yaml_parser_load(&parser, &doc)) {
        err_set(e, "%s:%d: YAML: %s%s%s", file, (int)parser.problem_mark.line + 1,
                parser.problem ? parser.problem : "syntax error", parser.context ? " " : "",
                parser.context ? parser.context : "");
        yaml_parser_delete(&parser);
        config_free(cfg);
        return -1;
    }
    yaml_node_t *root = yaml_document_get_root_node(&doc);
    if (!root) {
        err_set(e, "%s:1: tiers: the file is empty; a config needs at least a list of tiers",
                file);
    } else {
        yaml_document_t next;
        if (!yaml_parser_load(&parser, &next)) {
            err_set(e, "%s:%d: YAML: %s", file, (int)parser.problem_mark.line + 1,
                    parser.problem ? parser.problem : "syntax error");
        } else {
            bool more = yaml_document_get_root_node(&next) != NULL;
            int line = (int)next.start_mark.line + 1;
            yaml_document_delete(&next);
            if (more) {
                err_set(e, "%s:%d: (top level): a second YAML document; the config is one "
                           "document", file, line);
            } else {
                size_t n_nodes = (size_t)(doc.nodes.top - doc.nodes.start);
                struct ctx c = {file, base_dir, &doc, xcalloc(n_nodes + 1, 1), e};
                c.seen[0] = 1; /* the root */
                rc = parse_root(&c, root, cfg);
                free(c.seen);
            }
        }
    }
    yaml_document_delete(&doc);
    yaml_parser_delete(&parser);
    if (rc) {
        config_free(cfg);
        return -1;
    }
    *out = cfg;
    return 0;
}

int config_parse(const char *text, size_t len, const char *base_dir, struct config **out,
                 struct err *e)
{
    return parse_named(text, len, "<config>", base_dir, out, e);
}

int config_load(const char *path, struct config **out, struct err *e)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return err_set(e, "%s: cannot open: %s", path, strerror(errno));
    struct buf b;
    buf_init(&b);
    char chunk[65536];
    size_t n;
    while ((n = fread(chunk, 1, sizeof chunk, f)) > 0 && b.len <= CONFIG_MAX_BYTES)
        buf_append(&b, chunk, n);
    bool bad = ferror(f);
    fclose(f);
    if (bad || b.len > CONFIG_MAX_BYTES) {
        buf_free(&b);
        return bad ? err_set(e, "%s: read error", path)
                   : err_set(e, "%s: larger than %u bytes; not a config", path, CONFIG_MAX_BYTES);
    }
    const char *slash = strrchr(path, '/');
    char *dir = slash ? xstrndup(path, slash == path ? 1 : (size_t)(slash - path)) : NULL;
    int rc = parse_named(b.data ? b.data : "", b.len, path, dir, out, e);
    free(dir);
    buf_free(&b);
    if (rc == 0)
        (*out)->path = xstrdup(path);
    return rc;
}

static void free_strs(char **v, size_t n)
{
    for (size_t i = 0; i < n; i++)
        free(v[i]);
    free(v);
}

void config_free(struct config *c)
{
    if (!c)
        return;
    for (size_t i = 0; i < c->n_tiers; i++) {
        struct tier_config *t = &c->tiers[i];
        free(t->name);
        free(t->model_path);
        free(t->base_url);
        free(t->api_key_env);
        free(t->upstream_model);
    }
    free(c->tiers);
    for (size_t i = 0; i < c->n_routes; i++) {
        struct route_config *r = &c->routes[i];
        for (size_t j = 0; j < r->n_rules; j++) {
            struct rule_config *u = &r->rules[j];
            free(u->name);
            free(u->regex);
            free_strs(u->keywords, u->n_keywords);
            free(u->tier);
        }
        free(r->rules);
        free(r->name);
        free(r->strategy);
        free(r->default_tier);
        free(r->router);
        free(r->weak_tier);
        free(r->strong_tier);
        free_strs(r->fallback, r->n_fallback);
    }
    free(c->routes);
    for (size_t i = 0; i < c->privacy.n_patterns; i++) {
        free(c->privacy.patterns[i].name);
        free(c->privacy.patterns[i].regex);
    }
    free(c->privacy.patterns);
    for (size_t i = 0; i < c->privacy.n_terms; i++) {
        free(c->privacy.terms[i].name);
        free_strs(c->privacy.terms[i].terms, c->privacy.terms[i].n_terms);
    }
    free(c->privacy.terms);
    if (c->redis) {
        free(c->redis->host);
        free(c->redis->prefix);
        free(c->redis);
    }
    free(c->server.host);
    free(c->server.ledger);
    free(c->server.journal);
    free(c->server.keys);
    free(c->server.audit);
    free(c->path);
    free(c);
}

const struct tier_config *config_tier(const struct config *c, const char *name)
{
    for (size_t i = 0; i < c->n_tiers; i++)
        if (c->tiers[i].name && !strcmp(c->tiers[i].name, name))
            return &c->tiers[i];
    return NULL;
}

const struct route_config *config_route(const struct config *c, const char *name)
{
    for (size_t i = 0; i < c->n_routes; i++)
        if (c->routes[i].name && !strcmp(c->routes[i].name, name))
            return &c->routes[i];
    return NULL;
}
