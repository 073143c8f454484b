/* audit: the append-only, hash-chained record of who asked what to go where, and why
 * (docs/audit.md). Not a log (STYLE.md 11): a structured store with its own integrity check.
 *
 * One record per request: when, who (key name or client address), request id, route, tier, the
 * routing reason, the privacy policy that acted and the kinds of sensitive data found, tokens,
 * cost, status, error, and SHA-256 hashes of the request's and the answer's text. Content itself
 * is stored only when the config asks for it (server.audit_content), and then always masked.
 *
 * Chain: record n is stored as its canonical JSON text (compact, keys in a fixed order, "seq": n
 * inside) with prev_hash = hash of record n-1 (64 zeros for the first) and
 * hash = SHA-256(prev_hash || "\n" || json). audit_verify recomputes the chain and reports the
 * first record where it breaks and how: an edited record (its hash does not match its text), a
 * deleted, inserted or reordered one (its seq or prev_hash does not follow from the record
 * before). A chain anyone can recompute proves nothing against someone who rewrites every record
 * after the one changed; verify prints the head (last seq and hash) to compare with a copy kept
 * elsewhere, and `audit export` carries each record's hashes so an exported copy anchors it.
 *
 * Writing: audit_append (any thread; the server's loop) serializes the record, writes it to the
 * journal (journal.h: it survives SIGKILL of the process) and queues it; a writer thread chains
 * and commits batches within ~200 ms, as the ledger does, to SQLite (WAL, synchronous=FULL; a
 * path) or PostgreSQL (a postgres:// URL, pg.h). The chain is made at commit under a lock the
 * database holds, so several instances writing to one PostgreSQL make one chain (audit.c).
 */
#ifndef BATON_GATEWAY_AUDIT_H
#define BATON_GATEWAY_AUDIT_H

#include "base/err.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

struct audit_record {
    int64_t ts_ms;
    const char *request_id;
    const char *caller;        /* key name or client address; never a secret */
    const char *route;         /* NULL: a tier was named */
    const char *tier;
    const char *reason;
    const char *policy;        /* "none", "local-only", "mask", "block" */
    const char *kinds;         /* "email, card" or "" */
    int64_t masked;            /* spans replaced by placeholders */
    int64_t tokens_in, tokens_out, cost_microusd;
    int32_t status;
    const char *error;         /* NULL on success */
    const char *request_sha256;  /* hex of the request's text, as received */
    const char *response_sha256; /* hex of the answer's text */
    const char *request_text;  /* only with audit_content, already masked; else NULL */
    const char *response_text; /* idem */
};

struct audit;

/* Opens (creating) the audit store at path (a SQLite file or a postgres:// URL; PostgreSQL may
 * be down: the writer connects when it can). journal_dir: NULL for no journal; else this
 * instance's journal lives there and earlier runs' journals are replayed. *out: audit_close. */
int audit_open(const char *path, const char *journal_dir, struct audit **out, struct err *e);
#define AUDIT_MAX_PENDING 65536 /* records kept while the database refuses writes, unless
                                   audit_set_max_pending says otherwise; beyond, an append is
                                   refused (the record lost, with an error) */

/* Serializes, journals (one write(2)) and queues a record; never waits on the database. -1 (the
 * record not kept) when audit_max_pending records already wait. */
int audit_append(struct audit *a, const struct audit_record *r, struct err *e);
/* Waits until everything appended is committed. */
int audit_flush(struct audit *a, struct err *e);
/* Records appended but not committed, those the writer is committing included. One atomic
 * load (no lock). */
size_t audit_pending(const struct audit *a);
/* Sets the most records kept pending (n >= 1; AUDIT_MAX_PENDING until set) and with it the
 * high-water mark (backlog.h: backlog_high_water). For postgres.max_pending and tests; call it before
 * the first append. */
void audit_set_max_pending(struct audit *a, size_t n);
size_t audit_max_pending(const struct audit *a);
/* Whether the pending records are below the high-water mark: false from the append that reaches
 * it until a commit brings them below again (each flip logged once). One atomic load: for
 * admission. */
bool audit_has_room(const struct audit *a);
/* Whether the store took the last commit or answered the last ping; no I/O (always true for
 * SQLite). */
bool audit_available(const struct audit *a);
/* Records not committed stay in the journal for the next start. NULL is a no-op. */
void audit_close(struct audit *a);

/* Decodes one audit journal line: *entry_id and *body (malloc'd) and *ts_ms; -1 (e) if it is not
 * one (the body must be a record's text without seq). For replay and fuzzing. */
int audit_journal_decode(const char *line, size_t len, char **entry_id, int64_t *ts_ms,
                         char **body, struct err *e);

/* Verifies the chain of the store at path (a file or a postgres:// URL); prints one line per problem to out (at most 100),
 * then a summary. Returns 0 if intact, 1 if not, -1 (e) if the file cannot be read. */
int audit_verify(const char *path, FILE *out, struct err *e);
/* Writes the records with ts_ms >= since_ms as JSON lines (the record plus its prev_hash and
 * hash) to out; *n gets how many. */
int audit_export(const char *path, int64_t since_ms, FILE *out, int64_t *n, struct err *e);

/* SHA-256 of data as 64 hex digits into hex[65]. */
void audit_sha256_hex(const void *data, size_t len, char hex[65]);

#endif
