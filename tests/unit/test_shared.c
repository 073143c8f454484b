/* Unit tests for gateway/shared against a real redis-server (started here on a free localhost
 * port, killed at the end): rotations published through Redis retire the replaced public ids for
 * every instance's admission, the new credential is found by public id (and cached), nothing in
 * Redis holds a secret, revocation still wins, and an unreachable Redis is an error, not "no
 * such key". Prints what admission and a credential lookup cost per call (`cost: ...`).
 */
#include "check.h"

#include "gateway/keys.h"
#include "gateway/shared.h"

#include <arpa/inet.h>
#include <hiredis/hiredis.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static char g_dir[] = "/tmp/baton-shared-XXXXXX";
static pid_t g_redis;
static int g_port;
static struct redis_config g_rc = {.prefix = "t:", .reservation_ttl_ms = 60000, .timeout_ms = 500};

static int free_port(void)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t len = sizeof a;
    int port = -1;
    if (fd >= 0 && bind(fd, (struct sockaddr *)&a, sizeof a) == 0 &&
        getsockname(fd, (struct sockaddr *)&a, &len) == 0)
        port = ntohs(a.sin_port);
    if (fd >= 0)
        close(fd);
    return port;
}

/* A direct connection, for looking at what the code under test left in Redis. */
static redisContext *peek(void)
{
    redisContext *c = redisConnect("127.0.0.1", g_port);
    if (c && c->err) {
        redisFree(c);
        return NULL;
    }
    return c;
}

/* Starts redis-server without persistence; -1 if it is missing or does not answer in 5 s. */
static int redis_start(void)
{
    g_port = free_port();
    char port[16];
    snprintf(port, sizeof port, "%d", g_port);
    g_redis = fork();
    if (g_redis == 0) {
        freopen("/dev/null", "w", stdout);
        execlp("redis-server", "redis-server", "--port", port, "--bind", "127.0.0.1", "--save",
               "", "--appendonly", "no", (char *)NULL);
        _exit(127);
    }
    for (int i = 0; i < 100; i++) {
        redisContext *c = peek();
        if (c) {
            redisFree(c);
            return 0;
        }
        int st;
        if (waitpid(g_redis, &st, WNOHANG) == g_redis)
            break;
        usleep(50000);
    }
    return -1;
}

static void redis_stop(void)
{
    if (g_redis > 0) {
        kill(g_redis, SIGKILL);
        waitpid(g_redis, NULL, 0);
        g_redis = 0;
    }
}

static struct key_info key(const char *name, const char *public_id)
{
    struct key_info k = {.id = 1, .budget_microusd = -1};
    snprintf(k.name, sizeof k.name, "%s", name);
    snprintf(k.public_id, sizeof k.public_id, "%s", public_id);
    return k;
}

static enum limit_verdict admit(struct shared *s, const char *name, const char *public_id)
{
    struct key_info k = key(name, public_id);
    struct limit_ticket t;
    struct limit_refusal r;
    struct err e;
    memset(&t, 0, sizeof t);
    enum limit_verdict v = shared_admit(s, &k, 1700000000000, 10, 0, &t, &r, &e);
    if (v == LIMIT_OK)
        shared_settle(s, &k, 1700000000001, &t, 0, 0, &e);
    return v;
}

static struct key_credential cred(const char *name, const char *public_id, unsigned char fill)
{
    struct key_credential c;
    memset(&c, 0, sizeof c);
    snprintf(c.name, sizeof c.name, "%s", name);
    snprintf(c.public_id, sizeof c.public_id, "%s", public_id);
    memset(c.salt, fill, sizeof c.salt);
    memset(c.hash, fill ^ 0x5a, sizeof c.hash);
    return c;
}

/* Store A rotates P0 -> P1, then store B (which missed it, still P0) rotates P0 -> P2: each
 * rotation retires what it replaced and what was published before, and only the latest public
 * id is found by lookup. */
static void test_rotation(void)
{
    struct shared *s = shared_new(&g_rc);
    struct err e;
    CHECK_EQ_INT(admit(s, "svc", "aaaaaaaaaaa0"), LIMIT_OK); /* nothing rotated yet */

    struct key_credential c1 = cred("svc", "aaaaaaaaaaa1", 0x11);
    CHECK_MSG(shared_rotate(&g_rc, &c1, "aaaaaaaaaaa0", &e) == 0, "%s", e.msg);
    CHECK_EQ_INT(admit(s, "svc", "aaaaaaaaaaa0"), LIMIT_RETIRED);
    CHECK_EQ_INT(admit(s, "svc", "aaaaaaaaaaa1"), LIMIT_OK);
    CHECK_EQ_INT(admit(s, "other", "aaaaaaaaaaa0"), LIMIT_OK); /* retired per key name */

    struct key_credential got;
    CHECK_EQ_INT(shared_credential(s, "aaaaaaaaaaa1", &got, &e), 0);
    CHECK(memcmp(&got, &c1, sizeof got) == 0);
    CHECK_EQ_INT(shared_credential(s, "aaaaaaaaaaa0", &got, &e), 1);
    CHECK_EQ_INT(shared_credential(s, "ffffffffffff", &got, &e), 1);

    struct key_credential c2 = cred("svc", "aaaaaaaaaaa2", 0x22);
    CHECK_MSG(shared_rotate(&g_rc, &c2, "aaaaaaaaaaa0", &e) == 0, "%s", e.msg);
    CHECK_EQ_INT(admit(s, "svc", "aaaaaaaaaaa0"), LIMIT_RETIRED);
    CHECK_EQ_INT(admit(s, "svc", "aaaaaaaaaaa1"), LIMIT_RETIRED);
    CHECK_EQ_INT(admit(s, "svc", "aaaaaaaaaaa2"), LIMIT_OK);
    CHECK_EQ_INT(shared_credential(s, "aaaaaaaaaaa2", &got, &e), 0);
    CHECK(memcmp(&got, &c2, sizeof got) == 0);
    /* P1's credential is gone from Redis; this instance's cache still has it, which is safe
     * because admission refuses P1 */
    CHECK_EQ_INT(shared_credential(s, "aaaaaaaaaaa1", &got, &e), 0);
    struct shared *fresh = shared_new(&g_rc);
    CHECK_EQ_INT(shared_credential(fresh, "aaaaaaaaaaa1", &got, &e), 1);
    shared_free(fresh);

    /* revocation wins over any public id */
    CHECK(shared_revoke(&g_rc, "svc", &e) == 0);
    CHECK_EQ_INT(admit(s, "svc", "aaaaaaaaaaa2"), LIMIT_REVOKED);
    shared_free(s);
}

/* A malformed credential in Redis is an error (refused as unavailable), not a key. */
static void test_malformed(void)
{
    redisContext *c = peek();
    CHECK(c != NULL);
    if (!c)
        return;
    freeReplyObject(redisCommand(c, "HSET t:pid:bbbbbbbbbbbb name svc salt zz hash 00"));
    redisFree(c);
    struct shared *s = shared_new(&g_rc);
    struct key_credential got;
    struct err e;
    CHECK_EQ_INT(shared_credential(s, "bbbbbbbbbbbb", &got, &e), -1);
    CHECK(strstr(e.msg, "not a key credential") != NULL);
    shared_free(s);
}

static int publish(void *arg, const struct key_credential *c, const char *old, struct err *e)
{
    return shared_rotate(arg, c, old, e);
}

/* Through keys_rotate, as `baton keys rotate` does: neither the old nor the new secret is
 * anywhere in Redis. */
static void test_no_secret_in_redis(void)
{
    char path[256];
    snprintf(path, sizeof path, "%s/keys.db", g_dir);
    struct keystore *ks;
    struct err e;
    CHECK_MSG(keystore_open(path, true, &ks, &e) == 0, "%s", e.msg);
    struct key_info spec = {.budget_microusd = -1};
    snprintf(spec.name, sizeof spec.name, "leaky");
    char old[KEY_SECRET_LEN + 1], fresh[KEY_SECRET_LEN + 1];
    CHECK(keys_create(ks, &spec, old, &e) == 0);
    CHECK_MSG(keys_rotate(ks, "leaky", publish, &g_rc, fresh, &e) == 0, "%s", e.msg);
    keystore_close(ks);
    redisContext *c = peek();
    CHECK(c != NULL);
    if (!c)
        return;
    redisReply *all = redisCommand(c, "KEYS t:*");
    int n_values = 0;
    for (size_t i = 0; all && i < all->elements; i++) {
        const char *k = all->element[i]->str;
        CHECK(!strstr(k, old + 16) && !strstr(k, fresh + 16));
        redisReply *t = redisCommand(c, "TYPE %s", k);
        redisReply *v = !strcmp(t->str, "hash") ? redisCommand(c, "HGETALL %s", k)
                        : !strcmp(t->str, "string") ? redisCommand(c, "GET %s", k) : NULL;
        for (size_t j = 0; v && j < (v->type == REDIS_REPLY_ARRAY ? v->elements : 1); j++) {
            const redisReply *x = v->type == REDIS_REPLY_ARRAY ? v->element[j] : v;
            CHECK(!memmem(x->str, x->len, old + 16, 64) && !memmem(x->str, x->len, fresh + 16, 64));
            n_values++;
        }
        freeReplyObject(v);
        freeReplyObject(t);
    }
    CHECK(n_values > 0);
    freeReplyObject(all);
    redisFree(c);
}

static double now_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1e6 + ts.tv_nsec / 1e3;
}

/* What a request pays: admission (one script, now also checking the retired public ids), and a
 * credential lookup for a public id this store does not know (a round trip when not cached). */
static void test_cost(void)
{
    struct shared *s = shared_new(&g_rc);
    struct key_credential got;
    struct err e;
    enum { N = 2000 };
    double best_admit = 1e9, best_miss = 1e9, best_hit = 1e9, best_known_miss = 1e9;
    for (int round = 0; round < 3; round++) {
        double t0 = now_us();
        for (int i = 0; i < N; i++)
            admit(s, "bench", "cccccccccccc"); /* admit + settle: two scripts */
        double t1 = now_us();
        for (int i = 0; i < N; i++) { /* never published, each id new: a round trip each */
            char id[13];
            snprintf(id, sizeof id, "d%05d%06d", round, i);
            CHECK_EQ_INT(shared_credential(s, id, &got, &e), 1);
        }
        double t2 = now_us();
        for (int i = 0; i < N; i++)
            shared_credential(s, "aaaaaaaaaaa2", &got, &e); /* cached */
        double t3 = now_us();
        for (int i = 0; i < N; i++) /* the same unknown id again and again: a remembered miss */
            CHECK_EQ_INT(shared_credential(s, "dddddddddddd", &got, &e), 1);
        double t4 = now_us();
        best_admit = (t1 - t0) / N < best_admit ? (t1 - t0) / N : best_admit;
        best_miss = (t2 - t1) / N < best_miss ? (t2 - t1) / N : best_miss;
        best_hit = (t3 - t2) / N < best_hit ? (t3 - t2) / N : best_hit;
        best_known_miss = (t4 - t3) / N < best_known_miss ? (t4 - t3) / N : best_known_miss;
    }
    fprintf(stderr, "cost: admit+settle %.1f us, credential lookup %.1f us (miss), %.2f us "
                    "(cached), %.2f us (a miss remembered)\n", best_admit, best_miss, best_hit,
            best_known_miss);
    CHECK(best_hit < 5.0);
    shared_free(s);
}

/* Redis gone: a lookup is an error (the server refuses with 503 when fail-closed), except for a
 * credential already cached or a public id Redis said it did not know seconds ago. */
static void test_unreachable(void)
{
    struct shared *s = shared_new(&g_rc);
    struct key_credential got;
    struct err e;
    CHECK_EQ_INT(shared_credential(s, "aaaaaaaaaaa2", &got, &e), 0); /* cached now */
    CHECK_EQ_INT(shared_credential(s, "999999999999", &got, &e), 1); /* a miss, remembered */
    redis_stop();
    CHECK_EQ_INT(shared_credential(s, "eeeeeeeeeeee", &got, &e), -1);
    CHECK(strstr(e.msg, "redis 127.0.0.1:") != NULL);
    CHECK_EQ_INT(shared_credential(s, "aaaaaaaaaaa2", &got, &e), 0);
    CHECK_EQ_INT(shared_credential(s, "999999999999", &got, &e), 1);
    CHECK_EQ_INT(admit(s, "svc", "aaaaaaaaaaa2"), LIMIT_ERROR);
    struct key_credential c = cred("svc", "aaaaaaaaaaa3", 0x33);
    CHECK(shared_rotate(&g_rc, &c, "aaaaaaaaaaa2", &e) == -1);
    shared_free(s);
}

int main(void)
{
    if (!mkdtemp(g_dir))
        return 1;
    if (redis_start()) {
        fprintf(stderr, "test_shared: cannot start redis-server (scripts/deps.sh installs it)\n");
        redis_stop();
        return 1;
    }
    g_rc.host = "127.0.0.1";
    g_rc.port = g_port;
    RUN(test_rotation);
    RUN(test_malformed);
    RUN(test_no_secret_in_redis);
    RUN(test_cost);
    RUN(test_unreachable);
    redis_stop();
    char cmd[300];
    snprintf(cmd, sizeof cmd, "rm -rf %s", g_dir);
    if (system(cmd) != 0)
        return 1;
    return check_report();
}
