/* keys: the virtual API key store (keys.h).
 *
 * Schema, version 1 (PRAGMA user_version = 1):
 *
 *   CREATE TABLE keys (
 *     id              INTEGER PRIMARY KEY,
 *     name            TEXT NOT NULL UNIQUE,  -- never reused, even after revocation
 *     public_id       TEXT NOT NULL UNIQUE,  -- 12 hex digits, the non-secret part of the secret
 *     salt            BLOB NOT NULL,         -- 16 random bytes
 *     hash            BLOB NOT NULL,         -- SHA-256(salt || secret), 32 bytes
 *     created_ms      INTEGER NOT NULL,
 *     rotated_ms      INTEGER NOT NULL,      -- 0: never
 *     revoked_ms      INTEGER NOT NULL,      -- 0: active
 *     budget_microusd INTEGER NOT NULL,      -- -1: none
 *     period          TEXT NOT NULL,         -- none | day | month
 *     rpm             INTEGER NOT NULL,      -- 0: unlimited
 *     tpm             INTEGER NOT NULL,      -- 0: unlimited
 *     routes          TEXT NOT NULL,         -- comma-separated; '' = all
 *     tiers           TEXT NOT NULL          -- comma-separated; '' = all
 *   );
 *
 * The secret is never written, logged or put in an error message: keys_authenticate reports only
 * which way a secret failed (missing, malformed/unknown/mismatched, revoked).
 */
#include "gateway/keys.h"

#include "base/alloc.h"
#include "base/hex.h"

#include <openssl/sha.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/time.h>
#include <time.h>

#define KEYS_SCHEMA_VERSION 1
#define SALT_BYTES KEY_SALT_BYTES

static const char g_schema[] =
    "CREATE TABLE keys ("
    " id INTEGER PRIMARY KEY,"
    " name TEXT NOT NULL UNIQUE,"
    " public_id TEXT NOT NULL UNIQUE,"
    " salt BLOB NOT NULL,"
    " hash BLOB NOT NULL,"
    " created_ms INTEGER NOT NULL,"
    " rotated_ms INTEGER NOT NULL,"
    " revoked_ms INTEGER NOT NULL,"
    " budget_microusd INTEGER NOT NULL,"
    " period TEXT NOT NULL,"
    " rpm INTEGER NOT NULL,"
    " tpm INTEGER NOT NULL,"
    " routes TEXT NOT NULL,"
    " tiers TEXT NOT NULL);"
    "PRAGMA user_version = 1;";

#define KEY_COLUMNS                                                                               \
    "id, name, public_id, created_ms, rotated_ms, revoked_ms, budget_microusd, period, rpm, tpm," \
    " routes, tiers"

struct keystore {
    char *path;
    sqlite3 *db;
    sqlite3_stmt *by_public_id; /* the hot path's query */
};

static int64_t now_ms(void)
{
    struct timeval tv;
    gettimeofday(&tv, NULL);
    return (int64_t)tv.tv_sec * 1000 + tv.tv_usec / 1000;
}

static int db_fail(struct err *e, const struct keystore *ks, const char *what)
{
    return err_set(e, "key store %s: %s: %s", ks->path, what, sqlite3_errmsg(ks->db));
}

bool keys_equal_ct(const void *a, const void *b, size_t n)
{
    const volatile unsigned char *x = a, *y = b;
    unsigned char d = 0;
    for (size_t i = 0; i < n; i++)
        d |= (unsigned char)(x[i] ^ y[i]);
    return d == 0;
}

const char *key_period_name(enum key_period p)
{
    return p == PERIOD_DAY ? "day" : p == PERIOD_MONTH ? "month" : "none";
}

static enum key_period period_from(const char *s)
{
    return !strcmp(s, "day") ? PERIOD_DAY : !strcmp(s, "month") ? PERIOD_MONTH : PERIOD_NONE;
}

void key_period_bounds(enum key_period p, int64_t ms, int64_t *start_ms, int64_t *end_ms)
{
    time_t t = (time_t)(ms / 1000);
    struct tm tm;
    gmtime_r(&t, &tm);
    tm.tm_hour = tm.tm_min = tm.tm_sec = 0;
    if (p == PERIOD_NONE) {
        *start_ms = INT64_MIN;
        *end_ms = INT64_MAX;
        return;
    }
    if (p == PERIOD_MONTH)
        tm.tm_mday = 1;
    int64_t start = (int64_t)timegm(&tm) * 1000;
    if (p == PERIOD_MONTH)
        tm.tm_mon++;
    else
        tm.tm_mday++;
    *start_ms = start;
    *end_ms = (int64_t)timegm(&tm) * 1000; /* timegm normalizes month 12 and day 32 */
}

bool key_list_allows(const char *list, const char *name)
{
    if (!list || !*list)
        return true;
    size_t n = strlen(name);
    for (const char *p = list; *p;) {
        const char *c = strchr(p, ',');
        size_t len = c ? (size_t)(c - p) : strlen(p);
        if (len == n && memcmp(p, name, n) == 0)
            return true;
        if (!c)
            break;
        p = c + 1;
    }
    return false;
}

/* ---------------------------------------------------------------------------------------------
 * Opening */

int keystore_open(const char *path, bool create, struct keystore **out, struct err *e)
{
    struct keystore *ks = xcalloc(1, sizeof *ks);
    ks->path = xstrdup(path);
    int flags = SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOMUTEX | (create ? SQLITE_OPEN_CREATE : 0);
    if (sqlite3_open_v2(path, &ks->db, flags, NULL) != SQLITE_OK) {
        if (!ks->db) {
            err_set(e, "key store %s: out of memory", path);
        } else {
            db_fail(e, ks, create ? "cannot open" : "cannot open (create it with `baton keys "
                                                    "create`)");
        }
        keystore_close(ks);
        return -1;
    }
    sqlite3_busy_timeout(ks->db, 2000);
    sqlite3_exec(ks->db, "PRAGMA journal_mode = WAL", NULL, NULL, NULL);
    sqlite3_stmt *st;
    int version = -1, tables = 0;
    if (sqlite3_prepare_v2(ks->db, "PRAGMA user_version", -1, &st, NULL) == SQLITE_OK) {
        if (sqlite3_step(st) == SQLITE_ROW)
            version = sqlite3_column_int(st, 0);
        sqlite3_finalize(st);
    }
    if (sqlite3_prepare_v2(ks->db, "SELECT count(*) FROM sqlite_master WHERE type='table'", -1,
                           &st, NULL) == SQLITE_OK) {
        if (sqlite3_step(st) == SQLITE_ROW)
            tables = sqlite3_column_int(st, 0);
        sqlite3_finalize(st);
    }
    if (version < 0) {
        db_fail(e, ks, "cannot read the schema");
        goto fail;
    }
    if (version > KEYS_SCHEMA_VERSION) {
        err_set(e, "key store %s: schema version %d is newer than this baton's (%d)", path,
                version, KEYS_SCHEMA_VERSION);
        goto fail;
    }
    if (version == 0) {
        if (tables) {
            err_set(e, "key store %s: not a baton key store (it has other tables)", path);
            goto fail;
        }
        char *msg = NULL;
        if (sqlite3_exec(ks->db, g_schema, NULL, NULL, &msg) != SQLITE_OK) {
            err_set(e, "key store %s: cannot create the schema: %s", path, msg ? msg : "?");
            sqlite3_free(msg);
            goto fail;
        }
    }
    if (sqlite3_prepare_v2(ks->db,
                           "SELECT " KEY_COLUMNS ", salt, hash FROM keys WHERE public_id = ?1",
                           -1, &ks->by_public_id, NULL) != SQLITE_OK) {
        db_fail(e, ks, "cannot prepare a query");
        goto fail;
    }
    *out = ks;
    return 0;
fail:
    keystore_close(ks);
    return -1;
}

void keystore_close(struct keystore *ks)
{
    if (!ks)
        return;
    sqlite3_finalize(ks->by_public_id);
    sqlite3_close(ks->db);
    free(ks->path);
    free(ks);
}

/* ---------------------------------------------------------------------------------------------
 * Rows */

static void copy_text(char *dst, size_t cap, const unsigned char *src)
{
    snprintf(dst, cap, "%s", src ? (const char *)src : "");
}

static void row_to_info(sqlite3_stmt *st, struct key_info *k)
{
    memset(k, 0, sizeof *k);
    k->id = sqlite3_column_int64(st, 0);
    copy_text(k->name, sizeof k->name, sqlite3_column_text(st, 1));
    copy_text(k->public_id, sizeof k->public_id, sqlite3_column_text(st, 2));
    k->created_ms = sqlite3_column_int64(st, 3);
    k->rotated_ms = sqlite3_column_int64(st, 4);
    k->revoked_ms = sqlite3_column_int64(st, 5);
    k->budget_microusd = sqlite3_column_int64(st, 6);
    const unsigned char *p = sqlite3_column_text(st, 7);
    k->period = period_from(p ? (const char *)p : "");
    k->rpm = sqlite3_column_int64(st, 8);
    k->tpm = sqlite3_column_int64(st, 9);
    copy_text(k->routes, sizeof k->routes, sqlite3_column_text(st, 10));
    copy_text(k->tiers, sizeof k->tiers, sqlite3_column_text(st, 11));
}

static int random_bytes(unsigned char *p, size_t n, struct err *e)
{
    size_t got = 0;
    while (got < n) {
        ssize_t r = getrandom(p + got, n - got, 0);
        if (r < 0)
            return err_set(e, "getrandom failed; no key was made");
        got += (size_t)r;
    }
    return 0;
}

static void hash_secret(const unsigned char salt[SALT_BYTES], const char *secret, size_t len,
                        unsigned char out[SHA256_DIGEST_LENGTH])
{
    unsigned char msg[SALT_BYTES + KEY_SECRET_LEN];
    if (len > KEY_SECRET_LEN)
        len = KEY_SECRET_LEN; /* callers pass exactly KEY_SECRET_LEN */
    memcpy(msg, salt, SALT_BYTES);
    memcpy(msg + SALT_BYTES, secret, len);
    SHA256(msg, SALT_BYTES + len, out);
    memset(msg, 0, sizeof msg);
}

/* A fresh secret: public id, salt and hash for it. */
struct fresh {
    char secret[KEY_SECRET_LEN + 1];
    char public_id[13];
    unsigned char salt[SALT_BYTES];
    unsigned char hash[SHA256_DIGEST_LENGTH];
};

static int make_secret(struct fresh *f, struct err *e)
{
    unsigned char pub[6], sec[32];
    if (random_bytes(pub, sizeof pub, e) || random_bytes(sec, sizeof sec, e) ||
        random_bytes(f->salt, sizeof f->salt, e))
        return -1;
    char sec_hex[65];
    hex_encode(f->public_id, pub, sizeof pub);
    hex_encode(sec_hex, sec, sizeof sec);
    snprintf(f->secret, sizeof f->secret, "bt_%s_%s", f->public_id, sec_hex);
    hash_secret(f->salt, f->secret, strlen(f->secret), f->hash);
    memset(sec, 0, sizeof sec);
    memset(sec_hex, 0, sizeof sec_hex);
    return 0;
}

static int check_key_name(const char *name, struct err *e)
{
    size_t n = strlen(name);
    bool ok = n > 0 && n <= KEY_NAME_MAX &&
              ((name[0] >= 'a' && name[0] <= 'z') || (name[0] >= 'A' && name[0] <= 'Z'));
    for (size_t i = 0; i < n && ok; i++) {
        char c = name[i];
        ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
             c == '.' || c == '_' || c == '-';
    }
    if (!ok)
        return err_set(e, "key name '%.64s' must be 1..%d characters of A-Z a-z 0-9 . _ - "
                          "starting with a letter", name, KEY_NAME_MAX);
    return 0;
}

int keys_create(struct keystore *ks, struct key_info *spec, char secret[KEY_SECRET_LEN + 1],
                struct err *e)
{
    if (check_key_name(spec->name, e))
        return -1;
    struct key_info old;
    int found = keys_get(ks, spec->name, &old, e);
    if (found < 0)
        return -1;
    if (found == 0)
        return err_set(e, "a key named '%s' already exists%s; names are never reused",
                       spec->name, old.revoked_ms ? " (revoked)" : "");
    struct fresh f;
    if (make_secret(&f, e))
        return -1;
    sqlite3_stmt *st;
    if (sqlite3_prepare_v2(ks->db,
                           "INSERT INTO keys (name, public_id, salt, hash, created_ms, rotated_ms,"
                           " revoked_ms, budget_microusd, period, rpm, tpm, routes, tiers)"
                           " VALUES (?1, ?2, ?3, ?4, ?5, 0, 0, ?6, ?7, ?8, ?9, ?10, ?11)",
                           -1, &st, NULL) != SQLITE_OK)
        return db_fail(e, ks, "cannot prepare the insert");
    spec->created_ms = now_ms();
    sqlite3_bind_text(st, 1, spec->name, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 2, f.public_id, -1, SQLITE_STATIC);
    sqlite3_bind_blob(st, 3, f.salt, SALT_BYTES, SQLITE_STATIC);
    sqlite3_bind_blob(st, 4, f.hash, SHA256_DIGEST_LENGTH, SQLITE_STATIC);
    sqlite3_bind_int64(st, 5, spec->created_ms);
    sqlite3_bind_int64(st, 6, spec->budget_microusd);
    sqlite3_bind_text(st, 7, key_period_name(spec->period), -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 8, spec->rpm);
    sqlite3_bind_int64(st, 9, spec->tpm);
    sqlite3_bind_text(st, 10, spec->routes, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 11, spec->tiers, -1, SQLITE_STATIC);
    int rc = sqlite3_step(st);
    sqlite3_finalize(st);
    if (rc != SQLITE_DONE)
        return db_fail(e, ks, "cannot insert the key");
    spec->id = sqlite3_last_insert_rowid(ks->db);
    snprintf(spec->public_id, sizeof spec->public_id, "%s", f.public_id);
    memcpy(secret, f.secret, KEY_SECRET_LEN + 1);
    memset(&f, 0, sizeof f);
    return 0;
}

static int exec_sql(struct keystore *ks, const char *sql, struct err *e)
{
    return sqlite3_exec(ks->db, sql, NULL, NULL, NULL) == SQLITE_OK ? 0 : db_fail(e, ks, sql);
}

/* The rotation inside BEGIN IMMEDIATE: the row is read and changed under the write lock, and
 * publish runs before COMMIT, so the store changes only if the other instances were told. */
static int rotate_locked(struct keystore *ks, const char *name, keys_publish_fn publish,
                         void *arg, struct fresh *f, struct err *e)
{
    struct key_info k;
    int found = keys_get(ks, name, &k, e);
    if (found)
        return found < 0 ? -1 : err_set(e, "no key named '%.64s'", name);
    if (k.revoked_ms)
        return err_set(e, "key '%s' is revoked; create a new key", name);
    if (make_secret(f, e))
        return -1;
    sqlite3_stmt *st;
    if (sqlite3_prepare_v2(ks->db,
                           "UPDATE keys SET public_id = ?1, salt = ?2, hash = ?3, rotated_ms = ?4"
                           " WHERE name = ?5 AND revoked_ms = 0",
                           -1, &st, NULL) != SQLITE_OK)
        return db_fail(e, ks, "cannot prepare the update");
    sqlite3_bind_text(st, 1, f->public_id, -1, SQLITE_STATIC);
    sqlite3_bind_blob(st, 2, f->salt, SALT_BYTES, SQLITE_STATIC);
    sqlite3_bind_blob(st, 3, f->hash, SHA256_DIGEST_LENGTH, SQLITE_STATIC);
    sqlite3_bind_int64(st, 4, now_ms());
    sqlite3_bind_text(st, 5, name, -1, SQLITE_STATIC);
    int rc = sqlite3_step(st);
    sqlite3_finalize(st);
    if (rc != SQLITE_DONE || sqlite3_changes(ks->db) != 1)
        return db_fail(e, ks, "cannot rotate the key");
    if (publish) {
        struct key_credential c;
        snprintf(c.name, sizeof c.name, "%s", k.name);
        snprintf(c.public_id, sizeof c.public_id, "%s", f->public_id);
        memcpy(c.salt, f->salt, sizeof c.salt);
        memcpy(c.hash, f->hash, sizeof c.hash);
        if (publish(arg, &c, k.public_id, e))
            return -1;
    }
    return 0;
}

int keys_rotate(struct keystore *ks, const char *name, keys_publish_fn publish, void *arg,
                char secret[KEY_SECRET_LEN + 1], struct err *e)
{
    if (exec_sql(ks, "BEGIN IMMEDIATE", e))
        return -1;
    struct fresh f;
    if (rotate_locked(ks, name, publish, arg, &f, e)) {
        sqlite3_exec(ks->db, "ROLLBACK", NULL, NULL, NULL);
        memset(&f, 0, sizeof f);
        return -1;
    }
    if (exec_sql(ks, "COMMIT", e)) {
        /* rare (disk full, I/O error): if publish ran, the others now accept only a secret that
         * was never shown; rotating again repairs it */
        sqlite3_exec(ks->db, "ROLLBACK", NULL, NULL, NULL);
        memset(&f, 0, sizeof f);
        return publish ? err_prefix(e, "the other instances were told of a new secret that "
                                       "this store did not keep (rotate the key again)")
                       : -1;
    }
    memcpy(secret, f.secret, KEY_SECRET_LEN + 1);
    memset(&f, 0, sizeof f);
    return 0;
}

int keys_revoke(struct keystore *ks, const char *name, struct err *e)
{
    struct key_info k;
    int found = keys_get(ks, name, &k, e);
    if (found)
        return found < 0 ? -1 : err_set(e, "no key named '%.64s'", name);
    if (k.revoked_ms)
        return err_set(e, "key '%s' is already revoked", name);
    sqlite3_stmt *st;
    if (sqlite3_prepare_v2(ks->db, "UPDATE keys SET revoked_ms = ?1 WHERE name = ?2", -1, &st,
                           NULL) != SQLITE_OK)
        return db_fail(e, ks, "cannot prepare the update");
    sqlite3_bind_int64(st, 1, now_ms());
    sqlite3_bind_text(st, 2, name, -1, SQLITE_STATIC);
    int rc = sqlite3_step(st);
    sqlite3_finalize(st);
    return rc == SQLITE_DONE ? 0 : db_fail(e, ks, "cannot revoke the key");
}

int keys_get(struct keystore *ks, const char *name, struct key_info *out, struct err *e)
{
    sqlite3_stmt *st;
    if (sqlite3_prepare_v2(ks->db, "SELECT " KEY_COLUMNS " FROM keys WHERE name = ?1", -1, &st,
                           NULL) != SQLITE_OK)
        return db_fail(e, ks, "cannot prepare a query");
    sqlite3_bind_text(st, 1, name, -1, SQLITE_STATIC);
    int rc = sqlite3_step(st);
    if (rc == SQLITE_ROW)
        row_to_info(st, out);
    sqlite3_finalize(st);
    if (rc == SQLITE_ROW)
        return 0;
    return rc == SQLITE_DONE ? 1 : db_fail(e, ks, "cannot read keys");
}

int keys_list(struct keystore *ks, struct key_info **out, size_t *n, struct err *e)
{
    sqlite3_stmt *st;
    *out = NULL;
    *n = 0;
    if (sqlite3_prepare_v2(ks->db, "SELECT " KEY_COLUMNS " FROM keys ORDER BY name", -1, &st,
                           NULL) != SQLITE_OK)
        return db_fail(e, ks, "cannot prepare a query");
    size_t cap = 0;
    int rc;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        if (*n == cap) {
            cap = cap ? 2 * cap : 16;
            *out = xrealloc_array(*out, cap, sizeof **out);
        }
        row_to_info(st, &(*out)[(*n)++]);
    }
    sqlite3_finalize(st);
    if (rc != SQLITE_DONE) {
        free(*out);
        *out = NULL;
        *n = 0;
        return db_fail(e, ks, "cannot read keys");
    }
    return 0;
}

/* ---------------------------------------------------------------------------------------------
 * Authentication (the hot path) */

static bool is_hex(const char *s, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f')))
            return false;
    return true;
}

/* The secret in an Authorization header value, not copied: *secret points into auth. KEY_OK when
 * it has the form bt_<12 hex>_<64 hex>, else KEY_MISSING or KEY_INVALID. */
static enum key_auth parse_bearer(const char *auth, size_t len, const char **secret)
{
    if (!auth)
        return KEY_MISSING;
    if (len < 7 || strncasecmp(auth, "Bearer ", 7) != 0)
        return KEY_MISSING;
    const char *s = auth + 7;
    size_t n = len - 7;
    while (n && *s == ' ')
        s++, n--;
    while (n && s[n - 1] == ' ')
        n--;
    if (n != KEY_SECRET_LEN || memcmp(s, "bt_", 3) != 0 || s[15] != '_' || !is_hex(s + 3, 12) ||
        !is_hex(s + 16, 64))
        return KEY_INVALID;
    *secret = s;
    return KEY_OK;
}

/* Whether secret (KEY_SECRET_LEN bytes) hashes to hash under salt, in constant time. */
static bool secret_matches(const char *secret, const void *salt, const void *hash)
{
    unsigned char h[SHA256_DIGEST_LENGTH];
    hash_secret(salt, secret, KEY_SECRET_LEN, h);
    bool ok = keys_equal_ct(h, hash, sizeof h);
    memset(h, 0, sizeof h);
    return ok;
}

enum key_auth keys_authenticate(struct keystore *ks, const char *auth, size_t len,
                                struct key_info *out, struct err *e)
{
    const char *s = NULL;
    enum key_auth res = parse_bearer(auth, len, &s);
    if (res != KEY_OK)
        return res;
    char public_id[13];
    memcpy(public_id, s + 3, 12);
    public_id[12] = 0;
    sqlite3_stmt *st = ks->by_public_id;
    sqlite3_bind_text(st, 1, public_id, 12, SQLITE_STATIC);
    int rc = sqlite3_step(st);
    res = KEY_INVALID;
    if (rc == SQLITE_ROW) {
        const void *salt = sqlite3_column_blob(st, 12);
        const void *hash = sqlite3_column_blob(st, 13);
        if (salt && hash && sqlite3_column_bytes(st, 12) == SALT_BYTES &&
            sqlite3_column_bytes(st, 13) == SHA256_DIGEST_LENGTH && secret_matches(s, salt, hash)) {
            row_to_info(st, out);
            res = out->revoked_ms ? KEY_REVOKED : KEY_OK;
        }
    } else if (rc == SQLITE_DONE) {
        memset(out, 0, sizeof *out);
        memcpy(out->public_id, public_id, sizeof public_id);
        res = KEY_UNKNOWN;
    } else {
        db_fail(e, ks, "cannot read the key");
        res = KEY_ERROR;
    }
    sqlite3_reset(st);
    sqlite3_clear_bindings(st);
    return res;
}

enum key_auth keys_authenticate_with(struct keystore *ks, const char *auth, size_t len,
                                     const struct key_credential *c, struct key_info *out,
                                     struct err *e)
{
    const char *s = NULL;
    enum key_auth res = parse_bearer(auth, len, &s);
    if (res != KEY_OK)
        return res;
    if (memcmp(s + 3, c->public_id, 12) != 0 || !secret_matches(s, c->salt, c->hash))
        return KEY_INVALID;
    int found = keys_get(ks, c->name, out, e);
    if (found)
        return found < 0 ? KEY_ERROR : KEY_INVALID;
    snprintf(out->public_id, sizeof out->public_id, "%s", c->public_id);
    return out->revoked_ms ? KEY_REVOKED : KEY_OK;
}
