/* writer: the writer-thread plumbing the ledger and the audit trail share (writer.h). */
#include "gateway/writer.h"

#include "base/clock.h"
#include "base/log.h"
#include "gateway/pg.h"

#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <sys/random.h>
#include <unistd.h>

void writer_init(struct writer *w, const char *store, const char *unit, const char *target,
                 size_t max_pending, bool available)
{
    w->store = store;
    w->unit = unit;
    pg_target_name(target, w->name, sizeof w->name);
    atomic_init(&w->available, available);
    atomic_init(&w->n_entries, 0);
    backlog_init(&w->backlog, store, w->name, unit, max_pending);
    uint8_t rnd[8];
    if (getrandom(rnd, sizeof rnd, 0) != (ssize_t)sizeof rnd) {
        uint64_t t = clock_now_ns() ^ ((uint64_t)getpid() << 32);
        memcpy(rnd, &t, sizeof rnd);
    }
    for (int i = 0; i < 8; i++)
        snprintf(w->nonce + 2 * i, 3, "%02x", rnd[i]);
    pthread_mutex_init(&w->mu, NULL);
    pthread_cond_init(&w->wake, NULL);
    pthread_cond_init(&w->done, NULL);
}

int writer_open_journal(struct writer *w, const char *dir, journal_line_fn fn, void *arg,
                        struct err *e)
{
    size_t n = 0;
    if (journal_open(dir, w->store, fn, arg, &w->journal, &n, e))
        return -1;
    if (n)
        log_warn("%s %s: %zu %s from an earlier run's journal (%s) will be committed", w->store,
                 w->name, n, w->unit, dir);
    return 0;
}

void writer_start(struct writer *w, void *(*loop)(void *), void *arg)
{
    pthread_create(&w->thread, NULL, loop, arg);
    w->started = true;
}

void writer_entry_id(struct writer *w, char id[40])
{
    snprintf(id, 40, "%s-%" PRIx64, w->nonce, atomic_fetch_add(&w->n_entries, 1) + 1);
}

void writer_journal(struct writer *w, const char *line)
{
    if (!w->journal)
        return;
    struct err e;
    if (!line)
        log_error("%s %s: one of its %s could not be encoded for the journal; until it is "
                  "committed it is in memory only", w->store, w->name, w->unit);
    else if (journal_append(w->journal, line, strlen(line), &e))
        log_error("%s: %s", w->store, e.msg);
}

void writer_batch_taken(struct writer *w)
{
    if (w->journal)
        w->back_seg = journal_rotate(w->journal);
}

void writer_attempted(struct writer *w, uint64_t gen, int rc, const struct err *e, size_t n_rows,
                      size_t waiting)
{
    w->failed = rc != 0;
    if (rc) {
        if (strcmp(w->last_error, e->msg)) /* said once per outage; retries come every ~50 ms */
            log_error("%s (%zu %s wait for a retry)", e->msg, waiting, w->unit);
        memcpy(w->last_error, e->msg, sizeof w->last_error);
    } else if (n_rows) {
        if (w->journal)
            journal_release(w->journal, w->back_seg); /* committed: no replay needed */
        if (w->last_error[0]) {
            log_warn("%s %s: committing again", w->store, w->name);
            w->last_error[0] = 0;
        }
    }
    w->completed = gen;
    pthread_cond_broadcast(&w->done);
}

int writer_flush(struct writer *w, struct err *e)
{
    pthread_mutex_lock(&w->mu);
    uint64_t want = ++w->requested;
    pthread_cond_signal(&w->wake);
    while (w->completed < want)
        pthread_cond_wait(&w->done, &w->mu);
    int rc = w->failed ? err_set(e, "%s", w->last_error) : 0;
    pthread_mutex_unlock(&w->mu);
    return rc;
}

void writer_set_max_pending(struct writer *w, size_t n)
{
    pthread_mutex_lock(&w->mu);
    backlog_set_max(&w->backlog, n);
    pthread_mutex_unlock(&w->mu);
}

void writer_stop(struct writer *w)
{
    if (!w->started)
        return;
    pthread_mutex_lock(&w->mu);
    w->stop = true;
    w->requested++;
    pthread_cond_signal(&w->wake);
    pthread_mutex_unlock(&w->mu);
    pthread_join(w->thread, NULL);
}

void writer_destroy(struct writer *w, size_t lost)
{
    if (w->started && lost && w->journal)
        log_error("%s %s: %zu %s could not be committed; they stay in the journal and the next "
                  "start commits them", w->store, w->name, lost, w->unit);
    else if (w->started && lost)
        log_error("%s %s: %zu %s could not be committed and are lost", w->store, w->name, lost,
                  w->unit);
    journal_close(w->journal, lost > 0 || !w->started);
    pthread_mutex_destroy(&w->mu);
    pthread_cond_destroy(&w->wake);
    pthread_cond_destroy(&w->done);
}
