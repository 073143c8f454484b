/* shared: limits shared by several baton instances through Redis (docs/governance.md).
 *
 * With `redis:` in the config, every instance admits and settles through the same Redis, in Lua
 * scripts that Redis runs atomically, so one budget and one rate limit hold across all of them:
 *
 *   admit   (one round trip) the key's revocation flag, its rpm and tpm buckets, and its budget:
 *           spent this period + live reservations + this request's maximum must fit; if so the
 *           maximum is recorded as a reservation that expires after reservation_ttl_ms (so an
 *           instance killed mid-request leaves nothing stuck past that), and the rpm token taken
 *   settle  drops the reservation, adds the actual cost to the period's spend, charges the
 *           tokens to the tpm bucket
 *   revoke  (`baton keys revoke` with the config) sets the key's revocation flag, which every
 *           instance's next admit sees
 *   rotate  (`baton keys rotate` with the config) publishes the key's new credential (public id,
 *           salt, SHA-256; never the secret) and retires the public ids it replaces: admit
 *           refuses a retired public id (the old secret, still in other instances' own stores),
 *           and an instance whose store does not know the new public id finds the credential by
 *           shared_credential and checks the secret against it
 *
 * Redis keys: PREFIX "rate:" NAME (hash: rpm/tpm levels and times), PREFIX "spent:" NAME ":"
 * PERIOD_START (hash: spent), PREFIX "res:" NAME ":" PERIOD_START (hash: id -> "amount:expiry"),
 * PREFIX "revoked:" NAME, PREFIX "retired:" NAME (hash: public id -> ms retired), PREFIX "cred:"
 * NAME (the public id last published), PREFIX "pid:" PUBLIC_ID (hash: name, salt and hash in
 * hex; only for the published public id). Units and bucket arithmetic are limits.h's. Nothing
 * expires but the rate, spend and reservation keys.
 *
 * Calls are synchronous (hiredis, a timeout of timeout_ms) on the server's loop thread: a round
 * trip on a local network is ~0.1 ms. When Redis cannot be reached the caller decides, by the
 * config's on_unavailable, whether to refuse (fail closed, the default) or fall back to the
 * instance's own limits (fail open); a lost connection is retried at most once a second.
 */
#ifndef BATON_GATEWAY_SHARED_H
#define BATON_GATEWAY_SHARED_H

#include "base/err.h"
#include "gateway/config.h"
#include "gateway/keys.h"
#include "gateway/limits.h"

struct shared;

/* Connects (a failure is not fatal: calls retry). *out: shared_free. */
struct shared *shared_new(const struct redis_config *rc);
void shared_free(struct shared *s);
bool shared_available(const struct shared *s);

/* As limits_admit, through Redis: LIMIT_OK (t filled), a refusal in r, LIMIT_REVOKED,
 * LIMIT_RETIRED (k->public_id was rotated away), or LIMIT_ERROR with e when Redis cannot be
 * reached. seed_spent is the key's spend this period as this instance knows it (the ledger's),
 * used when Redis has none yet. */
enum limit_verdict shared_admit(struct shared *s, const struct key_info *k, int64_t now_ms,
                                int64_t max_cost, int64_t seed_spent, struct limit_ticket *t,
                                struct limit_refusal *r, struct err *e);
/* Whether k is revoked (LIMIT_REVOKED) or k->public_id retired (LIMIT_RETIRED), else LIMIT_OK;
 * LIMIT_ERROR with e when Redis cannot be reached. One round trip: for a request refused before
 * admission, so that a revoked key or a rotated-away secret is refused as such (401) rather than
 * learning how its request was wrong. */
enum limit_verdict shared_key_state(struct shared *s, const struct key_info *k, struct err *e);
int shared_settle(struct shared *s, const struct key_info *k, int64_t now_ms,
                  const struct limit_ticket *t, int64_t cost, int64_t tokens, struct err *e);
/* Marks the key revoked for every instance. */
int shared_revoke(const struct redis_config *rc, const char *name, struct err *e);
/* Publishes a rotation, atomically: c becomes the key's credential for every instance, and
 * old_public_id (what the rotating store held) and the public id of any earlier published
 * rotation are retired. Fits keys_publish_fn through a wrapper (cmd_keys.c). */
int shared_rotate(const struct redis_config *rc, const struct key_credential *c,
                  const char *old_public_id, struct err *e);
/* The credential a rotation published for public_id: 0 and *out, 1 when there is none, -1 (e)
 * when Redis cannot be reached or holds a malformed entry. A public id's credential never
 * changes (a later rotation retires it, which admit checks), so hits are kept in a small cache
 * and answered without a round trip; so are misses, for 10 s (a public id is published with
 * its secret, so no valid key can be asked for before it exists). */
int shared_credential(struct shared *s, const char *public_id, struct key_credential *out,
                      struct err *e);

#endif
