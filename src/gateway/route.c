/* route: which tier answers a request (route.h has the contract).
 *
 * Decision order:
 *   1. the request's model names a tier  -> that tier alone, reason "tier requested";
 *   2. it names a route                  -> the route's strategy picks a tier; the route's
 *                                           fallbacks follow it (the chosen tier not repeated);
 *   3. neither                           -> error listing the tiers and routes that exist.
 *
 * Strategies sit in g_strategies, a table of route_strategy_ops: "rules" and "learned".
 *
 * The rules strategy: rules are tried in order and the first whose every condition holds picks
 * its tier; none -> the route's default. Conditions, cheapest first:
 *   needs      the request has every listed feature (tools, response_format);
 *   min_chars  request_text_bytes(req) >= min_chars  (bytes of all message text, not characters);
 *   max_chars  request_text_bytes(req) <= max_chars;
 *   keywords   any keyword occurs in the text as a substring ("prove" matches "improve"), ASCII
 *              letters compared case-insensitively, other bytes (UTF-8) exactly;
 *   regex      PCRE2 (UTF-8 mode, case-sensitive unless the pattern says (?i)) finds a match.
 * Text is the prompt and every message's content, each searched on its own, so a keyword or a
 * regex never matches across a message boundary and nothing is concatenated (request_text would
 * allocate). Invalid UTF-8 simply cannot match (PCRE2_MATCH_INVALID_UTF).
 *
 * Hot path: no allocation. Regexes are compiled (and JIT-compiled where PCRE2 has a JIT) when the
 * router is built; each route holds its own match data, match context and JIT stack, which is
 * why a router is used from one thread. A regex that backtracks past ROUTE_MATCH_LIMIT counts as
 * no match (the trace says so) rather than stalling the loop.
 */
#include "gateway/route.h"

#include "base/alloc.h"
#include "base/buf.h"
#include "router/rmodel.h"

#include <math.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>

#define ROUTE_REGEX_OPTIONS (PCRE2_UTF | PCRE2_MATCH_INVALID_UTF)
#define ROUTE_MATCH_LIMIT 1000000u
#define ROUTE_JIT_STACK_MAX (512u << 10)

/* ---------------------------------------------------------------------------------------------
 * Text segments of a request: the prompt, then each message's content. */

static size_t n_segments(const struct request *req)
{
    return req->n_messages + 1;
}

static const char *segment(const struct request *req, size_t i, size_t *len)
{
    const char *s = i == 0 ? req->prompt : req->messages[i - 1].content;
    *len = s ? strlen(s) : 0;
    return s ? s : "";
}

static inline unsigned char ascii_lower(unsigned char c)
{
    return c >= 'A' && c <= 'Z' ? (unsigned char)(c + 32) : c;
}

static inline unsigned char ascii_upper(unsigned char c)
{
    return c >= 'a' && c <= 'z' ? (unsigned char)(c - 32) : c;
}

/* Makes reason printable ASCII (it becomes an HTTP header value). */
static void sanitize(char *s)
{
    for (; *s; s++)
        if ((unsigned char)*s < 0x20 || (unsigned char)*s >= 0x7f)
            *s = '?';
}

const char *route_learned_text(const struct request *req, size_t *len)
{
    const char *t = req->prompt;
    for (size_t i = req->n_messages; !t && i > 0; i--)
        if (req->messages[i - 1].role == ROLE_USER)
            t = req->messages[i - 1].content;
    t = t ? t : "";
    *len = strlen(t);
    return t;
}

/* ---------------------------------------------------------------------------------------------
 * The rules strategy */

struct rule_rt {
    const struct rule_config *cfg;
    pcre2_code *re;         /* NULL: no regex condition */
    char **kw;              /* keywords, ASCII-lowercased (owned) */
    size_t *kw_len;
    uint64_t *pairs;        /* 65536-bit filter: bit (a << 8 | b) set if some keyword starts with
                               the bytes a b, in any ASCII case, or is the one byte a (owned;
                               NULL without keywords) */
    bool single[256];       /* some one-byte keyword is this byte, in either case */
};

struct rules_state {
    const struct route_config *rc;
    struct rule_rt *rules;
    size_t n_rules;
    pcre2_match_data *md;       /* scratch: why the router is single-threaded */
    pcre2_match_context *mctx;
    pcre2_jit_stack *jit;
};

static pcre2_code *compile_regex(const char *pattern, struct err *e)
{
    int code;
    PCRE2_SIZE off;
    pcre2_code *re = pcre2_compile((PCRE2_SPTR)pattern, PCRE2_ZERO_TERMINATED, ROUTE_REGEX_OPTIONS,
                                   &code, &off, NULL);
    if (!re) {
        PCRE2_UCHAR msg[256];
        pcre2_get_error_message(code, msg, sizeof msg);
        err_set(e, "bad regex at offset %zu: %s", (size_t)off, (const char *)msg);
    }
    return re;
}

int route_regex_check(const char *pattern, struct err *e)
{
    pcre2_code *re = compile_regex(pattern, e);
    if (!re)
        return -1;
    pcre2_code_free(re);
    return 0;
}

static void rules_free(void *state)
{
    struct rules_state *s = state;
    if (!s)
        return;
    for (size_t i = 0; i < s->n_rules; i++) {
        struct rule_rt *r = &s->rules[i];
        pcre2_code_free(r->re);
        for (size_t k = 0; k < r->cfg->n_keywords; k++)
            free(r->kw[k]);
        free(r->kw);
        free(r->kw_len);
        free(r->pairs);
    }
    free(s->rules);
    pcre2_match_data_free(s->md);
    pcre2_match_context_free(s->mctx);
    pcre2_jit_stack_free(s->jit);
    free(s);
}

static int rules_compile(const struct config *cfg, const struct route_config *rc, void **state,
                         struct err *e)
{
    (void)cfg;
    struct rules_state *s = xcalloc(1, sizeof *s);
    s->rc = rc;
    s->rules = xcalloc(rc->n_rules ? rc->n_rules : 1, sizeof *s->rules);
    uint32_t have_jit = 0;
    pcre2_config(PCRE2_CONFIG_JIT, &have_jit);
    for (size_t i = 0; i < rc->n_rules; i++) {
        struct rule_rt *r = &s->rules[i];
        r->cfg = &rc->rules[i];
        s->n_rules++;
        if (r->cfg->regex) {
            r->re = compile_regex(r->cfg->regex, e);
            if (!r->re) {
                err_prefix(e, "route %s, rule %s", rc->name, r->cfg->name);
                rules_free(s);
                return -1;
            }
            if (have_jit)
                pcre2_jit_compile(r->re, PCRE2_JIT_COMPLETE); /* failure: the interpreter runs */
        }
        r->kw = xcalloc(r->cfg->n_keywords + 1, sizeof *r->kw);
        r->kw_len = xcalloc(r->cfg->n_keywords + 1, sizeof *r->kw_len);
        if (r->cfg->n_keywords)
            r->pairs = xcalloc(65536 / 64, sizeof *r->pairs);
        for (size_t k = 0; k < r->cfg->n_keywords; k++) {
            char *w = xstrdup(r->cfg->keywords[k]);
            for (char *p = w; *p; p++)
                *p = (char)ascii_lower((unsigned char)*p);
            r->kw[k] = w;
            r->kw_len[k] = strlen(w);
            unsigned char a = (unsigned char)w[0], b = (unsigned char)w[1];
            const unsigned char as[2] = {a, ascii_upper(a)};
            for (int x = 0; x < 2; x++) {
                if (!b) { /* one byte: every pair starting with it */
                    r->single[as[x]] = true;
                    memset(&r->pairs[(unsigned)as[x] << 2], 0xff, 4 * sizeof *r->pairs);
                    continue;
                }
                const unsigned char bs[2] = {b, ascii_upper(b)};
                for (int y = 0; y < 2; y++) {
                    unsigned idx = (unsigned)as[x] << 8 | bs[y];
                    r->pairs[idx >> 6] |= UINT64_C(1) << (idx & 63);
                }
            }
        }
    }
    s->md = pcre2_match_data_create(1, NULL);
    s->mctx = pcre2_match_context_create(NULL);
    pcre2_set_match_limit(s->mctx, ROUTE_MATCH_LIMIT);
    if (have_jit) {
        s->jit = pcre2_jit_stack_create(32u << 10, ROUTE_JIT_STACK_MAX, NULL);
        pcre2_jit_stack_assign(s->mctx, NULL, s->jit);
    }
    if (!s->md || !s->mctx) {
        rules_free(s);
        return err_set(e, "route %s: out of memory for PCRE2 match data", rc->name);
    }
    *state = s;
    return 0;
}

/* The first keyword of r occurring in text[0..n), or NULL. One pass over the text: a position
 * whose two bytes start no keyword costs one bit test; the others compare the keywords. */
static const char *find_keyword(const struct rule_rt *r, const char *text, size_t n)
{
    const unsigned char *t = (const unsigned char *)text;
    const uint64_t *pairs = r->pairs;
    for (size_t i = 0; i < n; i++) {
        if (i + 1 < n) {
            unsigned idx = (unsigned)t[i] << 8 | t[i + 1];
            if (!(pairs[idx >> 6] >> (idx & 63) & 1))
                continue;
        } else if (!r->single[t[i]]) {
            continue;
        }
        unsigned char c = ascii_lower(t[i]);
        for (size_t k = 0; k < r->cfg->n_keywords; k++) {
            const char *w = r->kw[k];
            size_t len = r->kw_len[k];
            if ((unsigned char)w[0] != c || len > n - i)
                continue;
            size_t j = 1;
            while (j < len && ascii_lower(t[i + j]) == (unsigned char)w[j])
                j++;
            if (j == len)
                return r->cfg->keywords[k];
        }
    }
    return NULL;
}

enum regex_result { RX_MATCH, RX_NO_MATCH, RX_FAILED };

static enum regex_result match_regex(struct rules_state *s, const struct rule_rt *r,
                                     const struct request *req, int *pcre_rc)
{
    for (size_t i = 0; i < n_segments(req); i++) {
        size_t len;
        const char *t = segment(req, i, &len);
        int rc = pcre2_match(r->re, (PCRE2_SPTR)t, len, 0, 0, s->md, s->mctx);
        if (rc >= 0)
            return RX_MATCH;
        if (rc != PCRE2_ERROR_NOMATCH) {
            *pcre_rc = rc;
            return RX_FAILED;
        }
    }
    return RX_NO_MATCH;
}

static void need_names(unsigned needs, char *out, size_t n)
{
    snprintf(out, n, "%s%s%s", needs & NEED_TOOLS ? "tools" : "",
             (needs & NEED_TOOLS) && (needs & NEED_RESPONSE_FORMAT) ? ", " : "",
             needs & NEED_RESPONSE_FORMAT ? "response_format" : "");
}

/* Evaluates one rule. why receives the matched conditions ("regex matched, needs tools").
 * With trace, every condition is evaluated and reported; without, evaluation stops at the first
 * condition that fails. */
static bool eval_rule(struct rules_state *s, const struct rule_rt *r, const struct request *req,
                      size_t text_bytes, char *why, size_t why_size, struct buf *trace)
{
    const struct rule_config *rc = r->cfg;
    bool all = true;
    size_t w = 0;
    why[0] = 0;
#define WHY(...)                                                                  \
    do {                                                                          \
        if (w < why_size)                                                         \
            w += (size_t)snprintf(why + w, why_size - w, "%s", w ? ", " : "");    \
        if (w < why_size)                                                         \
            w += (size_t)snprintf(why + w, why_size - w, __VA_ARGS__);            \
    } while (0)
    if (rc->needs) {
        unsigned have = (req->has_tools ? NEED_TOOLS : 0u) |
                        (req->has_response_format ? NEED_RESPONSE_FORMAT : 0u);
        bool ok = (have & rc->needs) == rc->needs;
        char names[64];
        need_names(rc->needs, names, sizeof names);
        if (ok)
            WHY("needs %s", names);
        if (trace) {
            char missing[64];
            need_names(rc->needs & ~have, missing, sizeof missing);
            buf_printf(trace, "       needs [%s]: %s%s\n", names, ok ? "yes" : "no, the request has no ",
                       ok ? "" : missing);
        }
        all = all && ok;
        if (!all && !trace)
            return false;
    }
    for (int is_max = 0; is_max < 2; is_max++) { /* min_chars, then max_chars */
        long long bound = is_max ? rc->max_chars : rc->min_chars;
        if (bound < 0)
            continue;
        bool ok = is_max ? (long long)text_bytes <= bound : (long long)text_bytes >= bound;
        const char *key = is_max ? "max_chars" : "min_chars";
        if (ok)
            WHY("text %zu bytes %s %s %lld", text_bytes, is_max ? "<=" : ">=", key, bound);
        if (trace)
            buf_printf(trace, "       %s %lld: %s, the text is %zu bytes\n", key, bound,
                       ok ? "yes" : "no", text_bytes);
        all = all && ok;
        if (!all && !trace)
            return false;
    }
    if (rc->n_keywords) {
        const char *kw = NULL;
        for (size_t i = 0; i < n_segments(req) && !kw; i++) {
            size_t len;
            const char *t = segment(req, i, &len);
            kw = find_keyword(r, t, len);
        }
        if (kw)
            WHY("keyword \"%.40s\"", kw);
        if (trace) {
            buf_puts(trace, "       keywords [");
            for (size_t k = 0; k < rc->n_keywords; k++)
                buf_printf(trace, "%s%s", k ? ", " : "", rc->keywords[k]);
            if (kw)
                buf_printf(trace, "]: yes, \"%s\" occurs\n", kw);
            else
                buf_puts(trace, "]: no, none occurs\n");
        }
        all = all && kw;
        if (!all && !trace)
            return false;
    }
    if (r->re) {
        int prc = 0;
        enum regex_result rx = match_regex(s, r, req, &prc);
        if (rx == RX_MATCH)
            WHY("regex matched");
        if (trace) {
            buf_printf(trace, "       regex /%s/: ", rc->regex);
            if (rx == RX_FAILED) {
                PCRE2_UCHAR msg[256];
                pcre2_get_error_message(prc, msg, sizeof msg);
                buf_printf(trace, "no, matching gave up: %s\n", (const char *)msg);
            } else {
                buf_puts(trace, rx == RX_MATCH ? "yes, it matches\n" : "no match\n");
            }
        }
        all = all && rx == RX_MATCH;
    }
#undef WHY
    return all;
}

static const char *rules_decide(void *state, const struct request *req, char *reason,
                                size_t reason_size, struct buf *trace)
{
    struct rules_state *s = state;
    size_t text_bytes = request_text_bytes(req);
    if (trace) {
        if (s->n_rules)
            buf_printf(trace, "rules, in order (the first match wins):\n");
        else
            buf_printf(trace, "the route has no rules\n");
    }
    for (size_t i = 0; i < s->n_rules; i++) {
        const struct rule_rt *r = &s->rules[i];
        char why[200];
        if (trace)
            buf_printf(trace, "  %zu. %s -> %s\n", i + 1, r->cfg->name, r->cfg->tier);
        if (eval_rule(s, r, req, text_bytes, why, sizeof why, trace)) {
            snprintf(reason, reason_size, "rule %s: %s", r->cfg->name, why);
            if (trace) {
                buf_printf(trace, "     => matches: %s\n", r->cfg->tier);
                for (size_t j = i + 1; j < s->n_rules; j++)
                    buf_printf(trace, "  %zu. %s -> %s: not evaluated (rule %s matched first)\n",
                               j + 1, s->rules[j].cfg->name, s->rules[j].cfg->tier,
                               r->cfg->name);
            }
            return r->cfg->tier;
        }
        if (trace)
            buf_puts(trace, "     => does not match\n");
    }
    snprintf(reason, reason_size, "default: %s", s->n_rules ? "no rule matched" : "no rules");
    if (trace)
        buf_printf(trace, "default: %s\n", s->rc->default_tier);
    return s->rc->default_tier;
}

/* ---------------------------------------------------------------------------------------------
 * The learned strategy: score against a threshold fixed when the router is built */

struct learned_state {
    const struct route_config *rc;
    struct rmodel *m;
    float threshold;        /* score < threshold -> strong */
    struct rfeat scratch;   /* 33 KB of feature buffer: why a router is used from one thread */
};

int route_learned_check(const char *path, struct err *e)
{
    struct rmodel *m;
    if (rmodel_open(path, &m, e))
        return -1;
    rmodel_free(m);
    return 0;
}

static void learned_free(void *state)
{
    struct learned_state *s = state;
    if (s)
        rmodel_free(s->m);
    free(s);
}

static int learned_compile(const struct config *cfg, const struct route_config *rc, void **state,
                           struct err *e)
{
    (void)cfg;
    struct learned_state *s = xcalloc(1, sizeof *s);
    s->rc = rc;
    if (rmodel_open(rc->router ? rc->router : ROUTE_LEARNED_BUILTIN, &s->m, e)) {
        learned_free(s);
        return err_prefix(e, "route %s", rc->name);
    }
    s->threshold = rmodel_threshold(s->m, rc->strong_fraction);
    *state = s;
    return 0;
}

static const char *learned_decide(void *state, const struct request *req, char *reason,
                                  size_t reason_size, struct buf *trace)
{
    struct learned_state *s = state;
    size_t len;
    const char *text = route_learned_text(req, &len);
    float z_dense[RFEAT_N_DENSE], z_hashed = 0, z_bias = 0;
    float score = trace ? rmodel_score_parts(s->m, text, len, &s->scratch, z_dense, &z_hashed,
                                             &z_bias)
                        : rmodel_score(s->m, text, len, &s->scratch);
    bool strong = score < s->threshold;
    const char *tier = strong ? s->rc->strong_tier : s->rc->weak_tier;
    snprintf(reason, reason_size, "learned: score %.3f %s threshold %.3f -> %s (%s)",
             (double)score, strong ? "<" : ">=", (double)s->threshold,
             strong ? "strong" : "weak", tier);
    if (trace) {
        const char *meta = rmodel_meta(s->m);
        const char *nl = strchr(meta, '\n');
        buf_printf(trace, "learned router: %s\n  %.*s\n",
                   s->rc->router ? s->rc->router : ROUTE_LEARNED_BUILTIN,
                   (int)(nl ? (size_t)(nl - meta) : strlen(meta)), meta);
        buf_printf(trace, "text scored: %s, %zu bytes\n",
                   req->prompt ? "the prompt" : len ? "the last user message" : "none (empty)",
                   len);
        buf_printf(trace, "strong_fraction %.3f -> threshold %.4f (the score under which that "
                          "share of the router's calibration mix falls)\n",
                   s->rc->strong_fraction, (double)s->threshold);
        float dense = 0;
        for (int i = 0; i < RFEAT_N_DENSE; i++)
            dense += z_dense[i];
        buf_printf(trace, "score %.4f = P(weak as good as strong) = sigmoid(%.4f): bias %.4f, "
                          "dense features %+.4f, hashed words %+.4f\n",
                   (double)score, (double)(z_bias + dense + z_hashed), (double)z_bias,
                   (double)dense, (double)z_hashed);
        /* the dense features that moved z most away from the mean training prompt's */
        int top[3] = {-1, -1, -1};
        for (int i = 0; i < RFEAT_N_DENSE; i++)
            for (int k = 0; k < 3; k++)
                if (top[k] < 0 || fabsf(z_dense[i]) > fabsf(z_dense[top[k]])) {
                    for (int j = 2; j > k; j--)
                        top[j] = top[j - 1];
                    top[k] = i;
                    break;
                }
        buf_puts(trace, "  largest dense terms (against the mean training prompt):");
        for (int k = 0; k < 3; k++)
            buf_printf(trace, " %s %+.3f", rfeat_dense_name((unsigned)top[k]),
                       (double)z_dense[top[k]]);
        buf_printf(trace, "\n  %.1f%% of the calibration mix scores lower\n",
                   100 * rmodel_strong_share(s->m, score));
        buf_printf(trace, "score %s threshold => %s tier: %s\n", strong ? "<" : ">=",
                   strong ? "strong" : "weak", tier);
    }
    return tier;
}

/* ---------------------------------------------------------------------------------------------
 * Strategies and the router */

static const struct route_strategy_ops g_strategies[] = {
    {"rules", rules_compile, rules_decide, rules_free},
    {"learned", learned_compile, learned_decide, learned_free},
};

static const struct route_strategy_ops *find_strategy(const char *name)
{
    for (size_t i = 0; i < sizeof g_strategies / sizeof *g_strategies; i++)
        if (!strcmp(g_strategies[i].name, name))
            return &g_strategies[i];
    return NULL;
}

int route_strategy_check(const char *name, struct err *e)
{
    if (find_strategy(name))
        return 0;
    struct buf b;
    buf_init(&b);
    for (size_t i = 0; i < sizeof g_strategies / sizeof *g_strategies; i++)
        buf_printf(&b, "%s%s", i ? ", " : "", g_strategies[i].name);
    err_set(e, "unknown strategy '%.64s' (known: %s)", name, b.data);
    buf_free(&b);
    return -1;
}

struct route_rt {
    const struct route_config *cfg;
    const struct route_strategy_ops *ops;
    void *state;
};

struct router {
    const struct config *cfg;
    struct route_rt *routes;
    size_t n_routes;
    char *names; /* "tiers: a, b; routes: c" for the model-not-found message */
};

void router_free(struct router *r)
{
    if (!r)
        return;
    for (size_t i = 0; i < r->n_routes; i++)
        r->routes[i].ops->free_state(r->routes[i].state);
    free(r->routes);
    free(r->names);
    free(r);
}

int router_new(const struct config *cfg, struct router **out, struct err *e)
{
    struct router *r = xcalloc(1, sizeof *r);
    r->cfg = cfg;
    r->routes = xcalloc(cfg->n_routes ? cfg->n_routes : 1, sizeof *r->routes);
    for (size_t i = 0; i < cfg->n_routes; i++) {
        const struct route_config *rc = &cfg->routes[i];
        const struct route_strategy_ops *ops = find_strategy(rc->strategy);
        if (!ops) {
            route_strategy_check(rc->strategy, e);
            router_free(r);
            return err_prefix(e, "route %s", rc->name);
        }
        void *state = NULL;
        if (ops->compile(cfg, rc, &state, e)) {
            router_free(r);
            return -1;
        }
        r->routes[r->n_routes++] = (struct route_rt){rc, ops, state};
    }
    struct buf b;
    buf_init(&b);
    buf_puts(&b, "tiers: ");
    for (size_t i = 0; i < cfg->n_tiers; i++)
        buf_printf(&b, "%s%s", i ? ", " : "", cfg->tiers[i].name);
    buf_puts(&b, "; routes: ");
    for (size_t i = 0; i < cfg->n_routes; i++)
        buf_printf(&b, "%s%s", i ? ", " : "", cfg->routes[i].name);
    if (!cfg->n_routes)
        buf_puts(&b, "none");
    r->names = buf_detach(&b);
    *out = r;
    return 0;
}

static int decide(const struct router *r, const struct request *req, struct route_decision *d,
                  struct buf *trace, struct err *e)
{
    memset(d, 0, sizeof *d);
    const char *model = req->model ? req->model : "";
    for (size_t i = 0; i < r->cfg->n_tiers; i++)
        if (!strcmp(r->cfg->tiers[i].name, model)) {
            d->tiers[0] = r->cfg->tiers[i].name;
            d->n_tiers = 1;
            snprintf(d->reason, sizeof d->reason, "tier requested");
            if (trace)
                buf_printf(trace, "model '%s' names a tier: it answers, with no fallback\n",
                           model);
            return 0;
        }
    const struct route_rt *rt = NULL;
    for (size_t i = 0; i < r->n_routes && !rt; i++)
        if (!strcmp(r->routes[i].cfg->name, model))
            rt = &r->routes[i];
    if (!rt)
        return err_set(e, "model '%.64s' not found: it names neither a tier nor a route (%s)",
                       model, r->names);
    if (trace)
        buf_printf(trace, "model '%s' names a route (strategy %s)\n", model, rt->ops->name);
    d->route = rt->cfg->name;
    d->tiers[0] = rt->ops->decide(rt->state, req, d->reason, sizeof d->reason, trace);
    d->n_tiers = 1;
    for (size_t i = 0; i < rt->cfg->n_fallback && d->n_tiers < ROUTE_MAX_TIERS; i++)
        if (strcmp(rt->cfg->fallback[i], d->tiers[0]) != 0)
            d->tiers[d->n_tiers++] = rt->cfg->fallback[i];
    sanitize(d->reason);
    return 0;
}

int router_decide(const struct router *r, const struct request *req, struct route_decision *d,
                  struct err *e)
{
    return decide(r, req, d, NULL, e);
}

int router_explain(const struct router *r, const struct request *req, struct route_decision *d,
                   struct buf *trace, struct err *e)
{
    return decide(r, req, d, trace, e);
}
