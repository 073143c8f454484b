/* shared: limits through Redis Lua scripts (shared.h).
 *
 * The scripts do in Redis what limits.c does in memory, with the same integer units (bucket
 * levels in 1/60000 of a request or token; Lua numbers are doubles, exact below 2^53, and the
 * largest level, tpm 1e9 x 60000, is 6e13). Redis runs a script atomically, which is what makes
 * admission atomic across instances.
 */
#include "gateway/shared.h"

#include "base/alloc.h"
#include "base/hex.h"
#include "base/log.h"
#include "gateway/ledger.h"

#include <hiredis/hiredis.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/time.h>
#include <time.h>

/* KEYS: rate, spent, reservations, revoked, retired.
 * ARGV: now_ms, rpm, tpm, budget (-1: none), max_cost, reservation id, reservation expiry ms,
 *       seed spent, period ttl ms, public id.
 * Returns {verdict, retry_after_s, spent, reserved}: 0 ok, 1 budget, 2 rpm, 3 tpm, 4 revoked,
 * 5 retired (the public id was rotated away). */
static const char g_admit[] =
    "if redis.call('EXISTS', KEYS[4]) == 1 then return {4, 0, 0, 0} end\n"
    "if redis.call('HEXISTS', KEYS[5], ARGV[10]) == 1 then return {5, 0, 0, 0} end\n"
    "local now = tonumber(ARGV[1])\n"
    "local rpm, tpm = tonumber(ARGV[2]), tonumber(ARGV[3])\n"
    "local budget, maxc = tonumber(ARGV[4]), tonumber(ARGV[5])\n"
    "local U = 60000\n"
    "local function level(name, rate)\n"
    "  local cap = rate * U\n"
    "  local lvl = tonumber(redis.call('HGET', KEYS[1], name))\n"
    "  local ts = tonumber(redis.call('HGET', KEYS[1], name .. '_ms'))\n"
    "  if not lvl then return cap end\n"
    "  local dt = now - ts\n"
    "  if dt < 0 then dt = 0 end\n"
    "  return math.min(cap, lvl + dt * rate)\n"
    "end\n"
    "local rl, tl = 0, 0\n"
    "if rpm > 0 then\n"
    "  rl = level('rpm', rpm)\n"
    "  if rl < U then return {2, math.ceil(math.ceil((U - rl) / rpm) / 1000), 0, 0} end\n"
    "end\n"
    "if tpm > 0 then\n"
    "  tl = level('tpm', tpm)\n"
    "  if tl <= 0 then return {3, math.ceil(math.ceil((1 - tl) / tpm) / 1000), 0, 0} end\n"
    "end\n"
    "if budget >= 0 then\n"
    "  redis.call('HSETNX', KEYS[2], 'spent', ARGV[8])\n"
    "  local spent = tonumber(redis.call('HGET', KEYS[2], 'spent'))\n"
    "  local reserved = 0\n"
    "  local all = redis.call('HGETALL', KEYS[3])\n"
    "  for i = 1, #all, 2 do\n"
    "    local amt, exp = string.match(all[i + 1], '^(%d+):(%d+)$')\n"
    "    if not amt or tonumber(exp) <= now then redis.call('HDEL', KEYS[3], all[i])\n"
    "    else reserved = reserved + tonumber(amt) end\n"
    "  end\n"
    "  if maxc > budget - spent - reserved then return {1, 0, spent, reserved} end\n"
    "  redis.call('HSET', KEYS[3], ARGV[6], ARGV[5] .. ':' .. ARGV[7])\n"
    "  redis.call('PEXPIRE', KEYS[2], ARGV[9])\n"
    "  redis.call('PEXPIRE', KEYS[3], ARGV[9])\n"
    "end\n"
    "if rpm > 0 then redis.call('HSET', KEYS[1], 'rpm', rl - U, 'rpm_ms', now) end\n"
    "if tpm > 0 then redis.call('HSET', KEYS[1], 'tpm', tl, 'tpm_ms', now) end\n"
    "redis.call('PEXPIRE', KEYS[1], 120000)\n"
    "return {0, 0, 0, 0}\n";

/* KEYS: revoked, retired. ARGV: public id. Returns 4 revoked, 5 retired, 0 neither: g_admit's
 * first two checks alone, for a request refused before admission. */
static const char g_key_state[] =
    "if redis.call('EXISTS', KEYS[1]) == 1 then return 4 end\n"
    "if redis.call('HEXISTS', KEYS[2], ARGV[1]) == 1 then return 5 end\n"
    "return 0\n";

/* KEYS: rate, spent, reservations. ARGV: now_ms, tpm, reservation id ('' none), cost, tokens,
 * has budget (0/1), period ttl ms. */
static const char g_settle[] =
    "local now, tpm = tonumber(ARGV[1]), tonumber(ARGV[2])\n"
    "if ARGV[6] == '1' then\n"
    "  if ARGV[3] ~= '' then redis.call('HDEL', KEYS[3], ARGV[3]) end\n"
    "  redis.call('HINCRBY', KEYS[2], 'spent', ARGV[4])\n"
    "  redis.call('PEXPIRE', KEYS[2], ARGV[7])\n"
    "end\n"
    "if tpm > 0 then\n"
    "  local U = 60000\n"
    "  local cap = tpm * U\n"
    "  local lvl = tonumber(redis.call('HGET', KEYS[1], 'tpm'))\n"
    "  local ts = tonumber(redis.call('HGET', KEYS[1], 'tpm_ms'))\n"
    "  if not lvl then lvl, ts = cap, now end\n"
    "  local dt = now - ts\n"
    "  if dt < 0 then dt = 0 end\n"
    "  lvl = math.min(cap, lvl + dt * tpm) - tonumber(ARGV[5]) * U\n"
    "  if lvl < -cap then lvl = -cap end\n"
    "  redis.call('HSET', KEYS[1], 'tpm', lvl, 'tpm_ms', now)\n"
    "  redis.call('PEXPIRE', KEYS[1], 120000)\n"
    "end\n"
    "return 0\n";

/* KEYS: cred (the public id last published), retired, pid (new), pid (old).
 * ARGV: new public id, old public id, name, salt hex, hash hex, now_ms, prefix.
 * The public id an earlier rotation published (cred's value) may belong to another store than
 * the one rotating now, so it is retired too; its pid key is named from the prefix in the script
 * (one Redis, not a cluster, as for every script here). */
static const char g_rotate[] =
    "local prev = redis.call('GET', KEYS[1])\n"
    "redis.call('HSET', KEYS[2], ARGV[2], ARGV[6])\n"
    "redis.call('DEL', KEYS[4])\n"
    "if prev and prev ~= ARGV[1] then\n"
    "  redis.call('HSET', KEYS[2], prev, ARGV[6])\n"
    "  redis.call('DEL', ARGV[7] .. 'pid:' .. prev)\n"
    "end\n"
    "redis.call('HSET', KEYS[3], 'name', ARGV[3], 'salt', ARGV[4], 'hash', ARGV[5])\n"
    "redis.call('SET', KEYS[1], ARGV[1])\n"
    "return 0\n";

/* Credentials found by shared_credential; a public id's never changes, so nothing is evicted but
 * by replacement (round robin). 32 rotated keys in use at once on an instance whose store missed
 * their rotation is plenty; past that, lookups cost a round trip each. */
#define CRED_CACHE 32

/* Public ids Redis does not know either, remembered for MISS_TTL_MS so that a client retrying a
 * stale or mistyped key costs one round trip per id and period instead of one per request. Safe
 * because a public id is random and published with its secret: no client can hold the secret of
 * an id before a rotation publishes it, so a remembered miss never hides a valid key. */
#define MISS_CACHE 64
#define MISS_TTL_MS 10000

struct shared {
    const struct redis_config *rc;
    redisContext *ctx;
    int64_t retry_after_ms;    /* no reconnect before (wall ms) */
    char instance[17];         /* random, names this instance's reservations */
    uint64_t counter;
    struct key_credential creds[CRED_CACHE];
    size_t n_creds;            /* filled slots */
    size_t next_cred;          /* the slot the next miss replaces once full */
    struct {
        char public_id[13];
        int64_t until_ms;      /* wall ms; 0: empty */
    } misses[MISS_CACHE];
    size_t next_miss;          /* round robin */
};

static int64_t wall_ms(void)
{
    struct timeval tv;
    gettimeofday(&tv, NULL);
    return (int64_t)tv.tv_sec * 1000 + tv.tv_usec / 1000;
}

static redisContext *connect_to(const struct redis_config *rc, struct err *e)
{
    struct timeval tv = {(time_t)(rc->timeout_ms / 1000), (suseconds_t)(rc->timeout_ms % 1000) * 1000};
    redisContext *c = redisConnectWithTimeout(rc->host, rc->port, tv);
    if (!c || c->err) {
        err_set(e, "redis %s:%d: %s", rc->host, (int)rc->port, c ? c->errstr : "out of memory");
        redisFree(c);
        return NULL;
    }
    redisSetTimeout(c, tv);
    return c;
}

struct shared *shared_new(const struct redis_config *rc)
{
    struct shared *s = xcalloc(1, sizeof *s);
    s->rc = rc;
    unsigned char r[8] = {0};
    if (getrandom(r, sizeof r, 0) != (ssize_t)sizeof r)
        memcpy(r, &(int64_t){wall_ms()}, sizeof r);
    for (int i = 0; i < 8; i++)
        snprintf(s->instance + 2 * i, 3, "%02x", r[i]);
    struct err e;
    s->ctx = connect_to(rc, &e);
    if (!s->ctx) {
        log_error("%s; retrying on demand", e.msg);
        s->retry_after_ms = wall_ms() + 1000;
    }
    return s;
}

void shared_free(struct shared *s)
{
    if (!s)
        return;
    redisFree(s->ctx);
    free(s);
}

bool shared_available(const struct shared *s) { return s && s->ctx != NULL; }

/* Runs a command; NULL (e set) on any failure, the connection dropped when it failed. A lost
 * connection is retried at most once a second. */
static redisReply *command(struct shared *s, int argc, const char **argv, struct err *e)
{
    if (!s->ctx) {
        if (wall_ms() < s->retry_after_ms)
            return err_set(e, "redis %s:%d: unreachable", s->rc->host, (int)s->rc->port), NULL;
        s->ctx = connect_to(s->rc, e);
        if (!s->ctx) {
            s->retry_after_ms = wall_ms() + 1000;
            return NULL;
        }
        log_info("redis %s:%d: connected", s->rc->host, (int)s->rc->port);
    }
    redisReply *r = redisCommandArgv(s->ctx, argc, argv, NULL);
    if (!r) {
        err_set(e, "redis %s:%d: %s", s->rc->host, (int)s->rc->port, s->ctx->errstr);
        redisFree(s->ctx);
        s->ctx = NULL;
        s->retry_after_ms = wall_ms() + 1000;
        return NULL;
    }
    if (r->type == REDIS_REPLY_ERROR) {
        err_set(e, "redis %s:%d: %.200s", s->rc->host, (int)s->rc->port, r->str);
        freeReplyObject(r);
        return NULL;
    }
    return r;
}

/* Runs a script; NULL (e set) on any failure. */
static redisReply *eval(struct shared *s, const char *script, int n_keys, const char **keys,
                        int n_args, const char **args, struct err *e)
{
    const char *argv[20];
    char nk[8];
    snprintf(nk, sizeof nk, "%d", n_keys);
    int argc = 0;
    argv[argc++] = "EVAL";
    argv[argc++] = script;
    argv[argc++] = nk;
    for (int i = 0; i < n_keys; i++)
        argv[argc++] = keys[i];
    for (int i = 0; i < n_args; i++)
        argv[argc++] = args[i];
    return command(s, argc, argv, e);
}

static void key_names(const struct redis_config *rc, const struct key_info *k, int64_t period,
                      char rate[160], char spent[180], char res[180])
{
    snprintf(rate, 160, "%srate:%s", rc->prefix, k->name);
    snprintf(spent, 180, "%sspent:%s:%" PRId64, rc->prefix, k->name, period);
    snprintf(res, 180, "%sres:%s:%" PRId64, rc->prefix, k->name, period);
}

/* The key's revocation flag and retired public ids (admission and shared_key_state read both). */
static void state_names(const struct redis_config *rc, const char *name, char revoked[160],
                        char retired[160])
{
    snprintf(revoked, 160, "%srevoked:%s", rc->prefix, name);
    snprintf(retired, 160, "%sretired:%s", rc->prefix, name);
}

static int64_t reply_int(const redisReply *r, size_t i)
{
    if (r->type != REDIS_REPLY_ARRAY || i >= r->elements)
        return 0;
    const redisReply *x = r->element[i];
    return x->type == REDIS_REPLY_INTEGER ? (int64_t)x->integer : 0;
}

enum limit_verdict shared_admit(struct shared *s, const struct key_info *k, int64_t now_ms,
                                int64_t max_cost, int64_t seed_spent, struct limit_ticket *t,
                                struct limit_refusal *r, struct err *e)
{
    int64_t start, end;
    key_period_bounds(k->period, now_ms, &start, &end);
    if (k->budget_microusd < 0)
        start = 0;
    char rate[160], spent[180], res[180], revoked[160], retired[160];
    key_names(s->rc, k, start, rate, spent, res);
    state_names(s->rc, k->name, revoked, retired);
    snprintf(t->id, sizeof t->id, "%s-%" PRIu64, s->instance, ++s->counter);
    int64_t ttl = end == INT64_MAX ? INT64_C(400) * 86400000 : end - now_ms + 86400000;
    char a[10][48];
    snprintf(a[0], 48, "%" PRId64, now_ms);
    snprintf(a[1], 48, "%" PRId64, k->rpm);
    snprintf(a[2], 48, "%" PRId64, k->tpm);
    snprintf(a[3], 48, "%" PRId64, k->budget_microusd);
    snprintf(a[4], 48, "%" PRId64, max_cost);
    snprintf(a[5], 48, "%s", t->id);
    snprintf(a[6], 48, "%" PRId64, now_ms + s->rc->reservation_ttl_ms);
    snprintf(a[7], 48, "%" PRId64, seed_spent);
    snprintf(a[8], 48, "%" PRId64, ttl);
    snprintf(a[9], 48, "%s", k->public_id);
    const char *keys[5] = {rate, spent, res, revoked, retired};
    const char *args[10];
    for (int i = 0; i < 10; i++)
        args[i] = a[i];
    redisReply *rep = eval(s, g_admit, 5, keys, 10, args, e);
    if (!rep)
        return LIMIT_ERROR;
    int64_t v = reply_int(rep, 0);
    r->retry_after_s = reply_int(rep, 1);
    int64_t sp = reply_int(rep, 2), rs = reply_int(rep, 3);
    freeReplyObject(rep);
    switch (v) {
    case 0:
        t->shared = true;
        t->reserved_microusd = k->budget_microusd >= 0 ? max_cost : 0;
        t->period_start_ms = start;
        return LIMIT_OK;
    case 4:
        return LIMIT_REVOKED;
    case 5:
        return LIMIT_RETIRED;
    case 2:
        snprintf(r->message, sizeof r->message,
                 "Rate limit reached for key '%s': %" PRId64 " requests per minute. Retry after "
                 "%" PRId64 " s.", k->name, k->rpm, r->retry_after_s);
        return LIMIT_RPM;
    case 3:
        snprintf(r->message, sizeof r->message,
                 "Rate limit reached for key '%s': %" PRId64 " tokens per minute. Retry after "
                 "%" PRId64 " s.", k->name, k->tpm, r->retry_after_s);
        return LIMIT_TPM;
    default: {
        char b[32], x[32], y[32], m[32], reset[40] = "never (no period)";
        r->reset_ms = end;
        r->spent_microusd = sp;
        r->reserved_microusd = rs;
        r->budget_microusd = k->budget_microusd;
        if (end != INT64_MAX) {
            time_t tt = (time_t)(end / 1000);
            struct tm tm;
            gmtime_r(&tt, &tm);
            strftime(reset, sizeof reset, "%Y-%m-%dT%H:%M:%SZ", &tm);
            r->retry_after_s = (end - now_ms + 999) / 1000;
        }
        snprintf(r->message, sizeof r->message,
                 "Budget exceeded for key '%s': $%s per %s, $%s spent and $%s reserved by "
                 "requests in flight; this request may cost up to $%s. The budget resets %s.",
                 k->name, ledger_format_usd(k->budget_microusd, b, sizeof b),
                 k->period == PERIOD_NONE ? "key lifetime" : key_period_name(k->period),
                 ledger_format_usd(sp, x, sizeof x), ledger_format_usd(rs, y, sizeof y),
                 ledger_format_usd(max_cost, m, sizeof m), reset);
        return LIMIT_BUDGET;
    }
    }
}

int shared_settle(struct shared *s, const struct key_info *k, int64_t now_ms,
                  const struct limit_ticket *t, int64_t cost, int64_t tokens, struct err *e)
{
    char rate[160], spent[180], res[180];
    key_names(s->rc, k, t->period_start_ms, rate, spent, res);
    int64_t start, end;
    key_period_bounds(k->period, t->period_start_ms, &start, &end);
    int64_t ttl = end == INT64_MAX ? INT64_C(400) * 86400000 : end - now_ms + 86400000;
    char a[7][48];
    snprintf(a[0], 48, "%" PRId64, now_ms);
    snprintf(a[1], 48, "%" PRId64, k->tpm);
    snprintf(a[2], 48, "%s", t->id);
    snprintf(a[3], 48, "%" PRId64, cost);
    snprintf(a[4], 48, "%" PRId64, tokens);
    snprintf(a[5], 48, "%d", k->budget_microusd >= 0);
    snprintf(a[6], 48, "%" PRId64, ttl > 1000 ? ttl : 1000);
    const char *keys[3] = {rate, spent, res};
    const char *args[7];
    for (int i = 0; i < 7; i++)
        args[i] = a[i];
    redisReply *rep = eval(s, g_settle, 3, keys, 7, args, e);
    if (!rep)
        return -1;
    freeReplyObject(rep);
    return 0;
}

int shared_revoke(const struct redis_config *rc, const char *name, struct err *e)
{
    redisContext *c = connect_to(rc, e);
    if (!c)
        return -1;
    char key[160];
    snprintf(key, sizeof key, "%srevoked:%s", rc->prefix, name);
    redisReply *r = redisCommand(c, "SET %s 1", key);
    int rc_ = 0;
    if (!r || r->type == REDIS_REPLY_ERROR)
        rc_ = err_set(e, "redis %s:%d: cannot record the revocation: %s", rc->host, (int)rc->port,
                      r ? r->str : c->errstr);
    freeReplyObject(r);
    redisFree(c);
    return rc_;
}

int shared_rotate(const struct redis_config *rc, const struct key_credential *c,
                  const char *old_public_id, struct err *e)
{
    struct shared s = {.rc = rc};
    s.ctx = connect_to(rc, e);
    if (!s.ctx)
        return -1;
    char cred[160], retired[160], pid_new[160], pid_old[160];
    snprintf(cred, sizeof cred, "%scred:%s", rc->prefix, c->name);
    snprintf(retired, sizeof retired, "%sretired:%s", rc->prefix, c->name);
    snprintf(pid_new, sizeof pid_new, "%spid:%s", rc->prefix, c->public_id);
    snprintf(pid_old, sizeof pid_old, "%spid:%s", rc->prefix, old_public_id);
    char salt[2 * KEY_SALT_BYTES + 1], hash[2 * KEY_HASH_BYTES + 1], now[24];
    hex_encode(salt, c->salt, sizeof c->salt);
    hex_encode(hash, c->hash, sizeof c->hash);
    snprintf(now, sizeof now, "%" PRId64, wall_ms());
    const char *keys[4] = {cred, retired, pid_new, pid_old};
    const char *args[7] = {c->public_id, old_public_id, c->name, salt, hash, now, rc->prefix};
    redisReply *r = eval(&s, g_rotate, 4, keys, 7, args, e);
    freeReplyObject(r);
    redisFree(s.ctx);
    return r ? 0 : -1;
}

enum limit_verdict shared_key_state(struct shared *s, const struct key_info *k, struct err *e)
{
    char revoked[160], retired[160];
    state_names(s->rc, k->name, revoked, retired);
    const char *keys[2] = {revoked, retired}, *args[1] = {k->public_id};
    redisReply *r = eval(s, g_key_state, 2, keys, 1, args, e);
    if (!r)
        return LIMIT_ERROR;
    long long v = r->type == REDIS_REPLY_INTEGER ? r->integer : 0;
    freeReplyObject(r);
    return v == 4 ? LIMIT_REVOKED : v == 5 ? LIMIT_RETIRED : LIMIT_OK;
}

int shared_credential(struct shared *s, const char *public_id, struct key_credential *out,
                      struct err *e)
{
    for (size_t i = 0; i < s->n_creds; i++) {
        if (!strcmp(s->creds[i].public_id, public_id)) {
            *out = s->creds[i];
            return 0;
        }
    }
    int64_t now = wall_ms();
    for (size_t i = 0; i < MISS_CACHE; i++)
        if (s->misses[i].until_ms > now && !strcmp(s->misses[i].public_id, public_id))
            return 1;
    char key[160];
    snprintf(key, sizeof key, "%spid:%s", s->rc->prefix, public_id);
    const char *argv[] = {"HMGET", key, "name", "salt", "hash"};
    redisReply *r = command(s, 5, argv, e);
    if (!r)
        return -1;
    int rc = 1;
    if (r->type != REDIS_REPLY_ARRAY || r->elements != 3) {
        rc = err_set(e, "redis %s:%d: unexpected reply to HMGET %s", s->rc->host,
                     (int)s->rc->port, key);
    } else if (r->element[0]->type == REDIS_REPLY_STRING) {
        const redisReply *name = r->element[0], *salt = r->element[1], *hash = r->element[2];
        memset(out, 0, sizeof *out);
        snprintf(out->public_id, sizeof out->public_id, "%s", public_id);
        bool ok = name->len >= 1 && name->len <= KEY_NAME_MAX &&
                  salt->type == REDIS_REPLY_STRING && hash->type == REDIS_REPLY_STRING &&
                  hex_decode(out->salt, sizeof out->salt, salt->str, salt->len) &&
                  hex_decode(out->hash, sizeof out->hash, hash->str, hash->len);
        if (ok) {
            memcpy(out->name, name->str, name->len);
            size_t slot = s->n_creds < CRED_CACHE ? s->n_creds++ : s->next_cred++ % CRED_CACHE;
            s->creds[slot] = *out;
            rc = 0;
        } else {
            rc = err_set(e, "redis %s:%d: %s is not a key credential (name, salt, hash)",
                         s->rc->host, (int)s->rc->port, key);
        }
    }
    freeReplyObject(r);
    if (rc == 1) {
        size_t slot = s->next_miss++ % MISS_CACHE;
        snprintf(s->misses[slot].public_id, sizeof s->misses[slot].public_id, "%s", public_id);
        s->misses[slot].until_ms = now + MISS_TTL_MS;
    }
    return rc;
}
