/* Unit tests for gateway/keys: create/authenticate/rotate/revoke, what is stored, scopes, periods. */
#include "check.h"

#include "gateway/keys.h"

#include <sqlite3.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static char g_dir[] = "/tmp/baton-keys-XXXXXX";

static struct keystore *open_store(const char *name)
{
    char path[256];
    snprintf(path, sizeof path, "%s/%s", g_dir, name);
    struct keystore *ks = NULL;
    struct err e;
    CHECK_MSG(keystore_open(path, true, &ks, &e) == 0, "%s", e.msg);
    return ks;
}

static enum key_auth auth(struct keystore *ks, const char *secret, struct key_info *k)
{
    char h[256];
    snprintf(h, sizeof h, "Bearer %s", secret);
    struct err e;
    return keys_authenticate(ks, h, strlen(h), k, &e);
}

static void test_lifecycle(void)
{
    struct keystore *ks = open_store("a.db");
    struct key_info spec = {.budget_microusd = 5000000, .period = PERIOD_MONTH, .rpm = 10};
    snprintf(spec.name, sizeof spec.name, "team-a");
    snprintf(spec.routes, sizeof spec.routes, "auto");
    char secret[KEY_SECRET_LEN + 1];
    struct err e;
    CHECK_MSG(keys_create(ks, &spec, secret, &e) == 0, "%s", e.msg);
    CHECK_EQ_INT(strlen(secret), KEY_SECRET_LEN);
    CHECK(strncmp(secret, "bt_", 3) == 0);

    struct key_info k;
    CHECK_EQ_INT(auth(ks, secret, &k), KEY_OK);
    CHECK_STR(k.name, "team-a");
    CHECK_EQ_INT(k.budget_microusd, 5000000);
    CHECK_EQ_INT(k.period, PERIOD_MONTH);
    CHECK_EQ_INT(k.rpm, 10);
    CHECK_STR(k.routes, "auto");

    /* a wrong secret with the right public id, one flipped digit, truncated, no header */
    char bad[KEY_SECRET_LEN + 1];
    memcpy(bad, secret, sizeof bad);
    bad[KEY_SECRET_LEN - 1] = bad[KEY_SECRET_LEN - 1] == '0' ? '1' : '0';
    CHECK_EQ_INT(auth(ks, bad, &k), KEY_INVALID);
    bad[KEY_SECRET_LEN - 1] = 0;
    CHECK_EQ_INT(auth(ks, bad, &k), KEY_INVALID);
    CHECK_EQ_INT(keys_authenticate(ks, NULL, 0, &k, &e), KEY_MISSING);
    CHECK_EQ_INT(keys_authenticate(ks, "Basic abc", 9, &k, &e), KEY_MISSING);
    CHECK_EQ_INT(auth(ks, "bt_000000000000_" "0000000000000000000000000000000000000000000000000000000000000000", &k),
                 KEY_UNKNOWN);
    CHECK_STR(k.public_id, "000000000000"); /* for a lookup in Redis (shared.h) */

    /* names are unique and checked */
    CHECK(keys_create(ks, &spec, bad, &e) == -1 && strstr(e.msg, "already exists"));
    struct key_info spec2 = {.budget_microusd = -1};
    snprintf(spec2.name, sizeof spec2.name, "1abc");
    CHECK(keys_create(ks, &spec2, bad, &e) == -1 && strstr(e.msg, "starting with a letter"));
    snprintf(spec2.name, sizeof spec2.name, "b b");
    CHECK(keys_create(ks, &spec2, bad, &e) == -1);

    /* rotation: the old secret stops working, the new one works, limits are kept */
    char fresh[KEY_SECRET_LEN + 1];
    CHECK_MSG(keys_rotate(ks, "team-a", NULL, NULL, fresh, &e) == 0, "%s", e.msg);
    CHECK(strcmp(fresh, secret) != 0);
    CHECK_EQ_INT(auth(ks, secret, &k), KEY_UNKNOWN);
    CHECK_EQ_INT(auth(ks, fresh, &k), KEY_OK);
    CHECK_EQ_INT(k.rpm, 10);
    CHECK(k.rotated_ms > 0);

    /* revocation */
    CHECK_MSG(keys_revoke(ks, "team-a", &e) == 0, "%s", e.msg);
    CHECK_EQ_INT(auth(ks, fresh, &k), KEY_REVOKED);
    CHECK(keys_revoke(ks, "team-a", &e) == -1 && strstr(e.msg, "already revoked"));
    CHECK(keys_rotate(ks, "team-a", NULL, NULL, fresh, &e) == -1);
    CHECK(keys_create(ks, &spec, fresh, &e) == -1 && strstr(e.msg, "revoked"));
    CHECK(keys_revoke(ks, "nobody", &e) == -1 && strstr(e.msg, "no key named"));

    struct key_info *list;
    size_t n;
    CHECK(keys_list(ks, &list, &n, &e) == 0);
    CHECK_EQ_INT(n, 1);
    free(list);
    keystore_close(ks);
}

/* The secret is nowhere in the file: only its salted hash. */
static void test_secret_not_stored(void)
{
    struct keystore *ks = open_store("b.db");
    struct key_info spec = {.budget_microusd = -1};
    snprintf(spec.name, sizeof spec.name, "svc");
    char secret[KEY_SECRET_LEN + 1];
    struct err e;
    CHECK(keys_create(ks, &spec, secret, &e) == 0);
    keystore_close(ks);
    char path[256];
    snprintf(path, sizeof path, "%s/b.db", g_dir);
    FILE *f = fopen(path, "rb");
    CHECK(f != NULL);
    static char data[1 << 20];
    size_t len = f ? fread(data, 1, sizeof data, f) : 0;
    if (f)
        fclose(f);
    /* WAL mode: rows may still be in the -wal file; check both */
    snprintf(path, sizeof path, "%s/b.db-wal", g_dir);
    f = fopen(path, "rb");
    if (f) {
        len += fread(data + len, 1, sizeof data - len, f);
        fclose(f);
    }
    CHECK(len > 0);
    CHECK(memmem(data, len, secret + 16, 64) == NULL); /* the secret part */
    CHECK(memmem(data, len, secret + 3, 12) != NULL);  /* the public id is stored */
}

/* What a publish callback saw, and whether it fails. */
struct published {
    bool fail;
    int calls;
    struct key_credential c;
    char old_public_id[13];
};

static int publish(void *arg, const struct key_credential *c, const char *old_public_id,
                   struct err *e)
{
    struct published *p = arg;
    p->calls++;
    if (p->fail)
        return err_set(e, "redis 127.0.0.1:1: Connection refused");
    p->c = *c;
    snprintf(p->old_public_id, sizeof p->old_public_id, "%s", old_public_id);
    return 0;
}

static void copy_file(const char *from, const char *to)
{
    char a[256], b[256];
    snprintf(a, sizeof a, "%s/%s", g_dir, from);
    snprintf(b, sizeof b, "%s/%s", g_dir, to);
    FILE *in = fopen(a, "rb"), *out = fopen(b, "wb");
    CHECK(in && out);
    char buf[4096];
    size_t n;
    while (in && out && (n = fread(buf, 1, sizeof buf, in)) > 0)
        CHECK(fwrite(buf, 1, n, out) == n);
    if (in)
        fclose(in);
    if (out)
        fclose(out);
}

/* A rotation published to other instances: the callback gets the new credential before the
 * store commits and can veto it; a store that missed the rotation accepts the new secret against
 * that credential, with its own row's limits. */
static void test_rotation_published(void)
{
    struct keystore *a = open_store("pa.db");
    struct key_info spec = {.budget_microusd = -1, .rpm = 7};
    snprintf(spec.name, sizeof spec.name, "svc");
    char old[KEY_SECRET_LEN + 1], fresh[KEY_SECRET_LEN + 1];
    struct err e;
    CHECK(keys_create(a, &spec, old, &e) == 0);
    struct key_info k;
    CHECK_EQ_INT(auth(a, old, &k), KEY_OK);
    char old_id[13];
    snprintf(old_id, sizeof old_id, "%s", k.public_id);
    keystore_close(a); /* checkpoints the WAL, so the file alone is the store */
    copy_file("pa.db", "pb.db");
    a = open_store("pa.db");
    struct keystore *b = open_store("pb.db");

    /* publishing fails: nothing changed */
    struct published p = {.fail = true};
    CHECK(keys_rotate(a, "svc", publish, &p, fresh, &e) == -1);
    CHECK(strstr(e.msg, "Connection refused") != NULL);
    CHECK_EQ_INT(p.calls, 1);
    CHECK_EQ_INT(auth(a, old, &k), KEY_OK);
    CHECK_EQ_INT(k.rotated_ms, 0);

    /* publishing succeeds: the callback saw the new public id, the salt and hash of the secret
     * it returned, and the replaced public id; the secret is not in what it saw */
    p.fail = false;
    CHECK_MSG(keys_rotate(a, "svc", publish, &p, fresh, &e) == 0, "%s", e.msg);
    CHECK_STR(p.c.name, "svc");
    CHECK_STR(p.old_public_id, old_id);
    CHECK(strncmp(fresh + 3, p.c.public_id, 12) == 0);
    CHECK(memmem(&p.c, sizeof p.c, fresh + 16, 64) == NULL);
    CHECK_EQ_INT(auth(a, fresh, &k), KEY_OK);
    CHECK_EQ_INT(auth(a, old, &k), KEY_UNKNOWN);

    /* the other store still has the old credential, and does not know the new public id */
    CHECK_EQ_INT(auth(b, old, &k), KEY_OK);
    CHECK_EQ_INT(auth(b, fresh, &k), KEY_UNKNOWN);
    CHECK_STR(k.public_id, p.c.public_id);
    char h[256];
    snprintf(h, sizeof h, "Bearer %s", fresh);
    memset(&k, 0, sizeof k);
    CHECK_EQ_INT(keys_authenticate_with(b, h, strlen(h), &p.c, &k, &e), KEY_OK);
    CHECK_STR(k.name, "svc");
    CHECK_EQ_INT(k.rpm, 7);                   /* b's row */
    CHECK_STR(k.public_id, p.c.public_id);    /* what admission checks is not retired */

    /* the credential proves only its own secret */
    snprintf(h, sizeof h, "Bearer %s", old);
    CHECK_EQ_INT(keys_authenticate_with(b, h, strlen(h), &p.c, &k, &e), KEY_INVALID);
    char bad[KEY_SECRET_LEN + 1];
    memcpy(bad, fresh, sizeof bad);
    bad[KEY_SECRET_LEN - 1] = bad[KEY_SECRET_LEN - 1] == '0' ? '1' : '0';
    snprintf(h, sizeof h, "Bearer %s", bad);
    CHECK_EQ_INT(keys_authenticate_with(b, h, strlen(h), &p.c, &k, &e), KEY_INVALID);
    CHECK_EQ_INT(keys_authenticate_with(b, NULL, 0, &p.c, &k, &e), KEY_MISSING);

    /* a name this store does not have, and a key this store revoked */
    snprintf(h, sizeof h, "Bearer %s", fresh);
    struct key_credential other = p.c;
    snprintf(other.name, sizeof other.name, "stranger");
    CHECK_EQ_INT(keys_authenticate_with(b, h, strlen(h), &other, &k, &e), KEY_INVALID);
    CHECK(keys_revoke(b, "svc", &e) == 0);
    CHECK_EQ_INT(keys_authenticate_with(b, h, strlen(h), &p.c, &k, &e), KEY_REVOKED);
    keystore_close(a);
    keystore_close(b);
}

static void test_lists_and_periods(void)
{
    CHECK(key_list_allows("", "x"));
    CHECK(key_list_allows("a,bb,c", "bb"));
    CHECK(!key_list_allows("a,bb,c", "b"));
    CHECK(!key_list_allows("a,bb,c", "bbb"));
    CHECK(key_list_allows("a", "a"));
    int64_t s, en;
    /* 2024-02-15T10:00:00Z -> Feb 1 .. Mar 1 (leap year) */
    key_period_bounds(PERIOD_MONTH, INT64_C(1707991200000), &s, &en);
    CHECK_EQ_INT(s, INT64_C(1706745600000));
    CHECK_EQ_INT(en, INT64_C(1709251200000));
    /* December rolls into the next year */
    key_period_bounds(PERIOD_MONTH, INT64_C(1734220800000), &s, &en); /* 2024-12-15 */
    CHECK_EQ_INT(en, INT64_C(1735689600000));                         /* 2025-01-01 */
    key_period_bounds(PERIOD_DAY, INT64_C(1707991200000), &s, &en);
    CHECK_EQ_INT(s, INT64_C(1707955200000));
    CHECK_EQ_INT(en - s, INT64_C(86400000));
    unsigned char a[4] = {1, 2, 3, 4}, b[4] = {1, 2, 3, 5};
    CHECK(!keys_equal_ct(a, b, 4));
    CHECK(keys_equal_ct(a, b, 3));
}

int main(void)
{
    if (!mkdtemp(g_dir))
        return 1;
    RUN(test_lifecycle);
    RUN(test_secret_not_stored);
    RUN(test_rotation_published);
    RUN(test_lists_and_periods);
    char cmd[300];
    snprintf(cmd, sizeof cmd, "rm -rf %s", g_dir);
    if (system(cmd) != 0)
        return 1;
    return check_report();
}
