/* pg_fixture: a throwaway PostgreSQL server for unit tests, started in a temp directory and
 * listening only on a unix socket there.
 *
 * The binaries come from `pg_config --bindir`, else /usr/lib/postgresql/<newest>/bin. PostgreSQL
 * refuses to run as root, so as root the data directory is given to `nobody` and every server
 * command runs through `runuser -u nobody --`. The URL is
 * postgresql:///postgres?host=<dir>&user=pgtester (trust authentication, local socket only).
 * pgfx_stop kills the server (immediate mode) and removes the directory; pgfx_pause / pgfx_resume
 * stop and start the same server to test outages.
 */
#ifndef BATON_TESTS_PG_FIXTURE_H
#define BATON_TESTS_PG_FIXTURE_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

struct pgfx {
    char dir[64];
    char bin[512];
    char as[64];   /* "runuser -u nobody -- " as root, else "" */
    char url[256];
};

static int pgfx_run(const char *cmd)
{
    int rc = system(cmd);
    if (rc != 0)
        fprintf(stderr, "pg_fixture: failed (%d): %s\n", rc, cmd);
    return rc == 0 ? 0 : -1;
}

static int pgfx_ctl(struct pgfx *f, const char *what)
{
    char cmd[2048];
    if (!strcmp(what, "start"))
        snprintf(cmd, sizeof cmd,
                 "%s%s/pg_ctl -D %s/data -l %s/log -w -t 30 -o \"-k %s -c listen_addresses='' -F "
                 "-c fsync=off -c max_connections=40\" start >/dev/null",
                 f->as, f->bin, f->dir, f->dir, f->dir);
    else
        snprintf(cmd, sizeof cmd, "%s%s/pg_ctl -D %s/data -m immediate -w stop >/dev/null 2>&1",
                 f->as, f->bin, f->dir);
    return pgfx_run(cmd);
}

/* Starts a fresh server; -1 (with a message on stderr) if PostgreSQL is not installed or will
 * not start: scripts/deps.sh installs it. */
static int pgfx_start(struct pgfx *f)
{
    memset(f, 0, sizeof *f);
    FILE *p = popen("pg_config --bindir 2>/dev/null", "r");
    if (p) {
        if (fgets(f->bin, sizeof f->bin, p))
            f->bin[strcspn(f->bin, "\n")] = 0;
        pclose(p);
    }
    char probe[600];
    snprintf(probe, sizeof probe, "%s/initdb", f->bin);
    if (!f->bin[0] || access(probe, X_OK) != 0) {
        p = popen("ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -1", "r");
        f->bin[0] = 0;
        if (p) {
            if (fgets(f->bin, sizeof f->bin, p))
                f->bin[strcspn(f->bin, "\n")] = 0;
            pclose(p);
        }
    }
    snprintf(probe, sizeof probe, "%s/initdb", f->bin);
    if (!f->bin[0] || access(probe, X_OK) != 0) {
        fprintf(stderr, "pg_fixture: no PostgreSQL server binaries (pg_config --bindir, "
                        "/usr/lib/postgresql/*/bin): run scripts/deps.sh\n");
        return -1;
    }
    snprintf(f->dir, sizeof f->dir, "/tmp/baton-pg-XXXXXX");
    if (!mkdtemp(f->dir))
        return -1;
    char cmd[2048];
    if (geteuid() == 0) {
        snprintf(f->as, sizeof f->as, "runuser -u nobody -- ");
        snprintf(cmd, sizeof cmd, "chown nobody %s", f->dir);
        if (pgfx_run(cmd))
            return -1;
    }
    snprintf(cmd, sizeof cmd, "%s%s/initdb -D %s/data -A trust -U pgtester --no-sync >/dev/null",
             f->as, f->bin, f->dir);
    if (pgfx_run(cmd) || pgfx_ctl(f, "start"))
        return -1;
    snprintf(f->url, sizeof f->url, "postgresql:///postgres?host=%s&user=pgtester", f->dir);
    /* a watchdog stops the server and removes the directory if the test dies without
     * pgfx_stop (a crash, a ctest timeout's SIGKILL) */
    snprintf(cmd, sizeof cmd,
             "(while kill -0 %d 2>/dev/null; do sleep 1; done; %s%s/pg_ctl -D %s/data -m immediate "
             "stop; rm -rf %s) >/dev/null 2>&1 </dev/null &", (int)getpid(), f->as, f->bin, f->dir,
             f->dir);
    return pgfx_run(cmd);
}

static int pgfx_pause(struct pgfx *f) { return pgfx_ctl(f, "stop"); }
static int pgfx_resume(struct pgfx *f) { return pgfx_ctl(f, "start"); }

static void pgfx_stop(struct pgfx *f)
{
    if (!f->dir[0])
        return;
    pgfx_ctl(f, "stop");
    char cmd[256];
    snprintf(cmd, sizeof cmd, "rm -rf %s", f->dir);
    (void)system(cmd);
    f->dir[0] = 0;
}

#endif
