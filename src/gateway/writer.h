/* writer: what the ledger and the audit trail share around their store's writer thread.
 *
 * Both queue rows in memory on the request path and commit them in batches from a thread of
 * their own, with a journal so that a queued row survives the death of the process. What they
 * share is here: the lock and the two conditions (rows or a flush request for the thread; a
 * finished commit for whoever waits), the flush handshake (generations asked for and
 * completed), stopping, the journal and the segment a batch ends in, the store's availability
 * as the last commit or ping saw it, the pending-row count (backlog.h), entry ids (this
 * instance's random nonce and a counter), and the error said once per outage. How rows are held,
 * batched, retried and committed is the owner's: each keeps its own thread loop.
 *
 * Locking: fields marked "under mu" are read and written with mu held; the owner's loop holds mu
 * except around its commit, as the functions below expect.
 */
#ifndef BATON_GATEWAY_WRITER_H
#define BATON_GATEWAY_WRITER_H

#include "base/err.h"
#include "gateway/backlog.h"
#include "gateway/journal.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct writer {
    const char *store;         /* "ledger" or "audit", for messages */
    const char *unit;          /* "rows" or "records" */
    char name[256];            /* the target as messages name it (never a URL's password) */
    char nonce[17];            /* this instance's part of entry ids */
    _Atomic uint64_t n_entries;
    atomic_bool available;     /* the store answered its last commit or ping */
    struct journal *journal;   /* NULL: none; under mu */
    uint64_t back_seg;         /* the journal segments of the batch being committed end here */
    struct backlog backlog;    /* counted by the owner under mu */
    pthread_t thread;
    bool started;
    pthread_mutex_t mu;
    pthread_cond_t wake;       /* to the thread: rows, a flush request, or stop */
    pthread_cond_t done;       /* from the thread: a commit attempt finished */
    uint64_t requested;        /* flush generations asked for (under mu) ... */
    uint64_t completed;        /* ... and attempted (under mu) */
    bool failed;               /* the last attempt failed (under mu) */
    bool stop;                 /* under mu */
    char last_error[ERR_MSG_MAX]; /* of the last failed attempt; "" after a success (under mu) */
};

/* Everything but the journal and the thread: target names the store in messages (a PostgreSQL
 * URL is shown as host:port/db), available is the store's first answer. */
void writer_init(struct writer *w, const char *store, const char *unit, const char *target,
                 size_t max_pending, bool available);
/* Opens the journal in dir and replays an earlier run's lines through fn (before the thread
 * starts, so fn may queue without the lock); says how many will be committed. */
int writer_open_journal(struct writer *w, const char *dir, journal_line_fn fn, void *arg,
                        struct err *e);
void writer_start(struct writer *w, void *(*loop)(void *), void *arg);
/* A new entry id, unique across instances: "NONCE-COUNTER" (hex), under 40 bytes. */
void writer_entry_id(struct writer *w, char id[40]);
/* Under mu: writes a queued row's journal line (NULL: the row could not be encoded). */
void writer_journal(struct writer *w, const char *line);
/* The thread, under mu, before it commits a batch that holds rows: the journal segments up to
 * here are the batch's. */
void writer_batch_taken(struct writer *w);
/* The thread, under mu, after an attempt for flush generation gen: rc and e its outcome,
 * n_rows the rows it held (0: nothing was committed, so nothing is said of a recovery), waiting
 * the rows that wait for a retry when it failed. Releases a committed batch's journal segments,
 * says a failure once per outage and the recovery once, and wakes the flush waiters. */
void writer_attempted(struct writer *w, uint64_t gen, int rc, const struct err *e, size_t n_rows,
                      size_t waiting);
/* Asks the thread for a commit of everything queued so far and waits for the attempt: -1 (e)
 * when it failed. */
int writer_flush(struct writer *w, struct err *e);
/* Under mu: a new cap on pending rows. */
void writer_set_max_pending(struct writer *w, size_t n);
/* Stops the thread (it makes its last attempt first) and waits for it. */
void writer_stop(struct writer *w);
/* After writer_stop: says how many rows were lost (or stay in the journal for the next start),
 * closes the journal (kept when rows are in it) and frees the lock and conditions. */
void writer_destroy(struct writer *w, size_t lost);

#endif
