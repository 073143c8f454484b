/* journal: the per-instance append-only files that keep settled ledger rows and audit records
 * across a process kill until the database has them.
 *
 * Why: the ledger and the audit trail commit in batches (every ~200 ms) from a writer thread so
 * the request path never waits on a database. A row appended but not yet committed lives only in
 * memory; SIGKILL (or a crash, or an OOM kill) would lose it. So each append also writes the row,
 * as one line, with one write(2) to a journal file. A write(2) that has returned is in the
 * kernel's page cache and survives the death of the process: the kernel writes it back to disk
 * later whether or not the process still exists. It does NOT survive a power loss or a kernel
 * crash before write-back (no fsync is done: that would put a disk flush on the request path).
 *
 * Files, in the journal directory (server.journal):
 *   <kind>.<slot>.lock                 one per instance slot; an instance holds flock(LOCK_EX) on
 *                                      its slot's lock file while it runs (the kernel drops the
 *                                      lock when the process dies, however it dies)
 *   <kind>.<slot>.<segment>.journal    the rows appended since the last rotation, one per line
 * kind is "ledger" or "audit"; slot 0..63 is the first lock the instance could take; segment is
 * a decimal counter. The writer thread rotates (starts a new segment) when it takes a batch, and
 * removes a batch's segments once the batch is committed.
 *
 * Replay: journal_open takes a slot, then every slot whose lock is free (its own from before a
 * crash, and any instance's that died) is read: each complete line is handed to the caller (who
 * re-queues the row) and copied into a fresh segment of this instance; then the old segments are
 * removed. A crash at any point leaves each row in at least one segment; a row replayed twice is
 * skipped by the store (entry_id, store.h). A last line without its newline is a torn write and
 * is skipped with a warning; a line the caller rejects is skipped with its message.
 *
 * Line format: the caller's; it must not contain '\n' (the callers write compact JSON).
 * Threads: one journal is used under its owner's lock.
 */
#ifndef BATON_GATEWAY_JOURNAL_H
#define BATON_GATEWAY_JOURNAL_H

#include "base/err.h"

#include <stddef.h>
#include <stdint.h>

#define JOURNAL_MAX_SLOTS 64
#define JOURNAL_MAX_LINE (16u << 20) /* a longer line is refused on append and on replay */

/* A line from a journal (without its '\n'); 0 to keep it, -1 (e set) to skip it. */
typedef int (*journal_line_fn)(void *arg, const char *line, size_t len, struct err *e);

struct journal;

/* Opens this instance's journal of kind in dir (created if missing) and replays every free
 * slot's segments through fn (see above). *n_replayed: lines fn kept. *out: journal_close. */
int journal_open(const char *dir, const char *kind, journal_line_fn fn, void *arg,
                 struct journal **out, size_t *n_replayed, struct err *e);
/* Appends line (len bytes, no '\n') plus a '\n' with one write(2). -1 (e) if the write failed:
 * the row is then only in memory. */
int journal_append(struct journal *j, const char *line, size_t len, struct err *e);
/* Ends the current segment; returns its number: every line appended before is in a segment
 * numbered at most that. */
uint64_t journal_rotate(struct journal *j);
/* Removes the segments numbered up to seg (their rows are committed). */
void journal_release(struct journal *j, uint64_t seg);
/* Releases the slot. keep: leave the segments for the next start (their rows were not
 * committed); else every segment is removed. NULL is a no-op. */
void journal_close(struct journal *j, int keep);
/* The current segment's path (for messages and tests); borrowed, valid until the next call. */
const char *journal_path(const struct journal *j);

/* Splits a segment's bytes into lines and calls fn for each complete one (fn's -1 skips the
 * line; its message goes to the log with name and line number). *n_kept: lines fn kept;
 * *n_bad: lines skipped (rejected, too long, or a torn last line). For replay and fuzzing. */
void journal_parse(const char *name, const char *data, size_t len, journal_line_fn fn, void *arg,
                   size_t *n_kept, size_t *n_bad);

#endif
