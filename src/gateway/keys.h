/* keys: virtual API keys -- who is calling, and the limits that come with the key.
 *
 * A key has a name (what the ledger, the audit trail and `baton keys` show), a secret (what the
 * client sends as `Authorization: Bearer <secret>`), and optional limits: a budget in
 * micro-dollars per period, requests and tokens per minute, and the routes and tiers it may use.
 *
 * Secrets look like `bt_<id>_<secret>`: `id` is 12 hex digits, public, and selects the row;
 * `secret` is 64 hex digits (256 random bits from getrandom). Only the id, a 16-byte random salt
 * and SHA-256(salt || whole secret string) are stored; the secret itself is returned once, by
 * keys_create and keys_rotate, and exists nowhere else. Because the secret carries 256 random bits
 * a slow password hash buys nothing: a salted SHA-256 cannot be inverted or pre-computed. The
 * stored and computed hashes are compared in constant time.
 *
 * Store: a SQLite file (WAL), schema in keys.c. `baton keys` writes it; `baton serve` reads a key
 * on every request (one indexed SELECT, a few microseconds), so a revocation, a rotation or a new
 * limit takes effect on the next request, without a restart.
 *
 * Several instances may each keep their own copy of the store. A rotation made through one of them
 * reaches the others through Redis (shared.h): keys_rotate hands the new credential (public id,
 * salt, hash; never the secret) to a publish callback before it commits, and
 * keys_authenticate_with checks a secret against a credential from there while taking the key's
 * limits from this store's row of the same name.
 */
#ifndef BATON_GATEWAY_KEYS_H
#define BATON_GATEWAY_KEYS_H

#include "base/err.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define KEY_NAME_MAX 64
#define KEY_LIST_MAX 1024      /* bytes of a comma-separated routes/tiers list */
#define KEY_SECRET_LEN 80      /* "bt_" + 12 + "_" + 64 */
#define KEY_SALT_BYTES 16
#define KEY_HASH_BYTES 32      /* SHA-256 */

enum key_period { PERIOD_NONE, PERIOD_DAY, PERIOD_MONTH };

struct key_info {
    int64_t id;                    /* row id */
    char name[KEY_NAME_MAX + 1];
    char public_id[13];            /* the non-secret part of the secret */
    int64_t created_ms;
    int64_t revoked_ms;            /* 0: active */
    int64_t rotated_ms;            /* 0: never */
    int64_t budget_microusd;       /* -1: no budget */
    enum key_period period;        /* with a budget: when it resets (UTC calendar) */
    int64_t rpm;                   /* requests per minute; 0: unlimited */
    int64_t tpm;                   /* tokens (in + out) per minute; 0: unlimited */
    char routes[KEY_LIST_MAX];     /* "a,b"; "": every route */
    char tiers[KEY_LIST_MAX];      /* "t1,t2"; "": every tier */
};

/* What proves a key's secret without being it: the public id that selects the key, the salt,
 * and SHA-256(salt || secret). A small value type: copy it freely, it holds nothing secret. */
struct key_credential {
    char name[KEY_NAME_MAX + 1];
    char public_id[13];
    unsigned char salt[KEY_SALT_BYTES];
    unsigned char hash[KEY_HASH_BYTES];
};

struct keystore;

/* Opens the store at path, creating file and schema if create. *out: keystore_close. */
int keystore_open(const char *path, bool create, struct keystore **out, struct err *e);
void keystore_close(struct keystore *ks);

/* Creates a key from spec (name, limits, lists; the other fields are filled in). Names are
 * 1..64 of A-Z a-z 0-9 . _ - starting with a letter, unique among all keys ever created (a
 * revoked key keeps its name, so the ledger's history stays unambiguous). secret receives the
 * secret (KEY_SECRET_LEN + 1 bytes): show it once, never store it. */
int keys_create(struct keystore *ks, struct key_info *spec, char secret[KEY_SECRET_LEN + 1],
                struct err *e);
/* Hands a rotated key's new credential on (c borrowed for the call) before the rotation commits;
 * nonzero (e set) undoes the rotation. old_public_id is the one the store held until now. */
typedef int (*keys_publish_fn)(void *arg, const struct key_credential *c,
                               const char *old_public_id, struct err *e);
/* A new secret for an active key; the old one stops working at once. With publish (may be NULL)
 * the store's row is changed in a transaction that commits only if publish succeeds, so a
 * rotation that other instances did not hear of is not made at all. */
int keys_rotate(struct keystore *ks, const char *name, keys_publish_fn publish, void *arg,
                char secret[KEY_SECRET_LEN + 1], struct err *e);
/* Marks the key revoked (kept for history). Revoking a revoked key is an error. */
int keys_revoke(struct keystore *ks, const char *name, struct err *e);
/* 0 and *out when found, 1 when no key has that name, -1 on error. */
int keys_get(struct keystore *ks, const char *name, struct key_info *out, struct err *e);
/* Every key, by name. *out: caller frees. */
int keys_list(struct keystore *ks, struct key_info **out, size_t *n, struct err *e);

enum key_auth {
    KEY_OK,
    KEY_MISSING,   /* no Authorization: Bearer header */
    KEY_INVALID,   /* malformed, or the secret does not match */
    KEY_UNKNOWN,   /* well-formed, but no row has its public id (out->public_id says which) */
    KEY_REVOKED,
    KEY_ERROR,     /* the store could not be read (e says why; fail closed) */
};
/* Checks an Authorization header value ("Bearer <secret>"; NULL when absent). On KEY_OK *out is
 * the key. Never copies the secret anywhere. */
enum key_auth keys_authenticate(struct keystore *ks, const char *authorization, size_t len,
                                struct key_info *out, struct err *e);
/* As keys_authenticate, but the secret is checked against c (e.g. a rotation published by another
 * instance) instead of this store's row; the limits are those of this store's row named c->name,
 * with out->public_id set to c's. KEY_INVALID when the secret does not match c or this store has
 * no key of that name. */
enum key_auth keys_authenticate_with(struct keystore *ks, const char *authorization, size_t len,
                                     const struct key_credential *c, struct key_info *out,
                                     struct err *e);

/* Whether a comma-separated list allows name ("" allows everything). */
bool key_list_allows(const char *list, const char *name);
const char *key_period_name(enum key_period p);
/* The start of the budget period containing now_ms, and of the next one (UTC, ms). */
void key_period_bounds(enum key_period p, int64_t now_ms, int64_t *start_ms, int64_t *end_ms);
/* Constant-time equality of n bytes. */
bool keys_equal_ct(const void *a, const void *b, size_t n);

#endif
