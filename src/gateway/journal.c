/* journal: per-instance append-only files of rows not yet committed (journal.h).
 *
 * Invariant: a row appended through the ledger or the audit trail is, from the moment its
 * journal_append returns until its batch commits, in at least one segment file. Rotation hands
 * the writer a segment number; journal_release removes segments only after the batch that holds
 * their rows committed. Replay copies lines into a new segment before removing the old ones.
 */
#include "gateway/journal.h"

#include "base/alloc.h"
#include "base/buf.h"
#include "base/log.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <unistd.h>

struct journal {
    char *dir, *kind;
    int slot;
    int lock_fd;
    int fd;              /* current segment, -1 until the first append after a rotation */
    uint64_t seg;        /* current segment number */
    uint64_t oldest;     /* lowest segment number that may still exist */
    char path[4096];
};

static void seg_path(const struct journal *j, int slot, uint64_t seg, char *out, size_t n)
{
    snprintf(out, n, "%s/%s.%d.%" PRIu64 ".journal", j->dir, j->kind, slot, seg);
}

const char *journal_path(const struct journal *j)
{
    seg_path(j, j->slot, j->seg, (char *)j->path, sizeof j->path);
    return j->path;
}

void journal_parse(const char *name, const char *data, size_t len, journal_line_fn fn, void *arg,
                   size_t *n_kept, size_t *n_bad)
{
    *n_kept = *n_bad = 0;
    size_t line_no = 0;
    for (size_t i = 0; i < len;) {
        const char *nl = memchr(data + i, '\n', len - i);
        line_no++;
        if (!nl) {
            log_warn("journal %s: line %zu: torn write (%zu bytes without a newline), skipped",
                     name, line_no, len - i);
            (*n_bad)++;
            break;
        }
        size_t n = (size_t)(nl - (data + i));
        struct err e;
        if (n > JOURNAL_MAX_LINE) {
            log_warn("journal %s: line %zu: %zu bytes, longer than %u; skipped", name, line_no, n,
                     JOURNAL_MAX_LINE);
            (*n_bad)++;
        } else if (fn(arg, data + i, n, &e)) {
            log_warn("journal %s: line %zu: %s; skipped", name, line_no, e.msg);
            (*n_bad)++;
        } else {
            (*n_kept)++;
        }
        i += n + 1;
    }
}

static int read_file(const char *path, struct buf *b, struct err *e)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return err_set(e, "journal %s: %s", path, strerror(errno));
    char tmp[65536];
    for (;;) {
        ssize_t r = read(fd, tmp, sizeof tmp);
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0) {
            err_set(e, "journal %s: %s", path, strerror(errno));
            close(fd);
            return -1;
        }
        if (r == 0)
            break;
        buf_append(b, tmp, (size_t)r);
    }
    close(fd);
    return 0;
}

static int write_all(int fd, const char *p, size_t n)
{
    while (n) {
        ssize_t w = write(fd, p, n);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            return -1;
        p += w;
        n -= (size_t)w;
    }
    return 0;
}

int journal_append(struct journal *j, const char *line, size_t len, struct err *e)
{
    if (len > JOURNAL_MAX_LINE)
        return err_set(e, "journal: a %zu-byte row is longer than %u", len, JOURNAL_MAX_LINE);
    if (j->fd < 0) {
        journal_path(j);
        j->fd = open(j->path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
        if (j->fd < 0)
            return err_set(e, "journal %s: %s", j->path, strerror(errno));
    }
    /* one write(2) for line and newline: a kill lands before or after it, and a reader never
     * sees half a line unless the disk itself fills up mid-write */
    struct iovec iov[2] = {{(void *)line, len}, {"\n", 1}};
    ssize_t w;
    do
        w = writev(j->fd, iov, 2);
    while (w < 0 && errno == EINTR);
    if (w != (ssize_t)len + 1) {
        int err = w < 0 ? errno : ENOSPC;
        journal_path(j);
        if (w > 0) /* a partial line would be read as torn; end it so the next one is whole */
            (void)write_all(j->fd, "\n", 1);
        return err_set(e, "journal %s: %s; the row is only in memory", j->path, strerror(err));
    }
    return 0;
}

uint64_t journal_rotate(struct journal *j)
{
    uint64_t ended = j->seg;
    if (j->fd >= 0)
        close(j->fd);
    j->fd = -1;
    j->seg++; /* even if nothing was written: every later line goes to a later number */
    return ended;
}

void journal_release(struct journal *j, uint64_t seg)
{
    for (; j->oldest <= seg; j->oldest++) {
        if (j->oldest == j->seg && j->fd >= 0)
            break; /* never the open one */
        char p[4096];
        seg_path(j, j->slot, j->oldest, p, sizeof p);
        if (unlink(p) && errno != ENOENT)
            log_warn("journal %s: cannot remove: %s", p, strerror(errno));
    }
}

void journal_close(struct journal *j, int keep)
{
    if (!j)
        return;
    if (j->fd >= 0)
        close(j->fd);
    j->fd = -1;
    if (!keep)
        journal_release(j, j->seg);
    close(j->lock_fd); /* drops the flock */
    free(j->dir);
    free(j->kind);
    free(j);
}

static int mkdirs(const char *dir, struct err *e)
{
    char p[4096];
    snprintf(p, sizeof p, "%s", dir);
    for (char *s = p + 1; *s; s++) {
        if (*s != '/')
            continue;
        *s = 0;
        if (mkdir(p, 0700) && errno != EEXIST)
            return err_set(e, "journal %s: cannot create %s: %s", dir, p, strerror(errno));
        *s = '/';
    }
    if (mkdir(p, 0700) && errno != EEXIST)
        return err_set(e, "journal %s: cannot create it: %s", dir, strerror(errno));
    return 0;
}

/* One segment found on disk. */
struct found {
    int slot;
    uint64_t seg;
};

static int by_slot_seg(const void *a, const void *b)
{
    const struct found *x = a, *y = b;
    if (x->slot != y->slot)
        return x->slot < y->slot ? -1 : 1;
    return x->seg < y->seg ? -1 : x->seg > y->seg;
}

struct copy {
    struct journal *j;
    journal_line_fn fn;
    void *arg;
    bool write_failed;
};

static int copy_line(void *arg, const char *line, size_t len, struct err *e)
{
    struct copy *c = arg;
    if (c->fn(c->arg, line, len, e))
        return -1;
    struct err we;
    if (journal_append(c->j, line, len, &we) && !c->write_failed) {
        c->write_failed = true;
        log_error("%s", we.msg);
    }
    return 0;
}

int journal_open(const char *dir, const char *kind, journal_line_fn fn, void *arg,
                 struct journal **out, size_t *n_replayed, struct err *e)
{
    *n_replayed = 0;
    if (mkdirs(dir, e))
        return -1;
    struct journal *j = xcalloc(1, sizeof *j);
    j->dir = xstrdup(dir);
    j->kind = xstrdup(kind);
    j->slot = -1;
    j->lock_fd = j->fd = -1;
    int held[JOURNAL_MAX_SLOTS]; /* lock fds of free slots: ours and the dead instances' */
    for (int s = 0; s < JOURNAL_MAX_SLOTS; s++) {
        held[s] = -1;
        char p[4096];
        snprintf(p, sizeof p, "%s/%s.%d.lock", dir, kind, s);
        int fd = open(p, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
        if (fd < 0) {
            err_set(e, "journal %s: %s", p, strerror(errno));
            goto fail;
        }
        if (flock(fd, LOCK_EX | LOCK_NB)) {
            close(fd);
            continue;
        }
        held[s] = fd;
        if (j->slot < 0) {
            j->slot = s;
            j->lock_fd = fd;
        }
    }
    if (j->slot < 0) {
        err_set(e, "journal %s: all %d %s slots are taken by running instances; give each "
                   "instance its own server.journal", dir, JOURNAL_MAX_SLOTS, kind);
        goto fail;
    }
    /* every segment of a free slot, in order */
    struct found *segs = NULL;
    size_t n_segs = 0;
    DIR *d = opendir(dir);
    if (!d) {
        err_set(e, "journal %s: %s", dir, strerror(errno));
        goto fail;
    }
    struct dirent *de;
    size_t klen = strlen(kind);
    while ((de = readdir(d))) {
        const char *nm = de->d_name;
        if (strncmp(nm, kind, klen) || nm[klen] != '.')
            continue;
        int slot;
        uint64_t seg;
        int used = 0;
        if (sscanf(nm + klen, ".%d.%" SCNu64 ".journal%n", &slot, &seg, &used) != 2 ||
            nm[klen + (size_t)used] != 0 || used == 0 || slot < 0 || slot >= JOURNAL_MAX_SLOTS ||
            held[slot] < 0)
            continue;
        segs = xrealloc_array(segs, n_segs + 1, sizeof *segs);
        segs[n_segs++] = (struct found){slot, seg};
        if (slot == j->slot && seg >= j->seg)
            j->seg = seg + 1;
    }
    closedir(d);
    if (n_segs)
        qsort(segs, n_segs, sizeof *segs, by_slot_seg);
    j->oldest = j->seg;
    struct copy c = {j, fn, arg, false};
    struct buf b;
    buf_init(&b);
    for (size_t i = 0; i < n_segs; i++) {
        char p[4096];
        seg_path(j, segs[i].slot, segs[i].seg, p, sizeof p);
        buf_clear(&b);
        struct err re;
        if (read_file(p, &b, &re)) {
            log_error("%s; its rows are not replayed", re.msg);
            continue;
        }
        size_t kept, bad;
        journal_parse(p, b.data ? b.data : "", b.len, copy_line, &c, &kept, &bad);
        *n_replayed += kept;
        if (kept || bad)
            log_info("journal %s: %zu rows replayed, %zu skipped", p, kept, bad);
    }
    buf_free(&b);
    /* the copies are in our new segment (or, if that write failed, in memory only: the old
     * files are then kept for the next start) */
    for (size_t i = 0; i < n_segs && !c.write_failed; i++) {
        char p[4096];
        seg_path(j, segs[i].slot, segs[i].seg, p, sizeof p);
        unlink(p);
    }
    free(segs);
    for (int s = 0; s < JOURNAL_MAX_SLOTS; s++)
        if (held[s] >= 0 && s != j->slot)
            close(held[s]);
    *out = j;
    return 0;
fail:
    for (int s = 0; s < JOURNAL_MAX_SLOTS; s++)
        if (held[s] >= 0)
            close(held[s]);
    free(j->dir);
    free(j->kind);
    free(j);
    return -1;
}
