/* baton audit: check and export the audit trail (docs/audit.md).
 *
 *   baton audit [--config FILE | --audit PATH] verify
 *   baton audit [--config FILE | --audit PATH] export [--since ISO8601] [--out FILE]
 *
 * verify recomputes the hash chain: exit 0 and the head (last record and its hash) when intact,
 * exit 1 and one line per broken record otherwise. export writes JSON lines (each record with
 * its prev_hash and hash) to stdout or --out. The trail is --audit, else the config's
 * server.audit: a SQLite file or a postgres:// URL.
 */
#include "cli/cli.h"

#include "gateway/audit.h"
#include "gateway/config.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

static void usage(FILE *f)
{
    fprintf(f, "usage: baton audit [--config FILE | --audit PATH] verify\n"
               "       baton audit [--config FILE | --audit PATH] export [--since ISO8601] "
               "[--out FILE]\n");
}

int cmd_audit(int argc, char **argv)
{
    const char *config_path = NULL, *path = NULL, *sub = NULL, *since = NULL, *out_path = NULL;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        bool has_v = i + 1 < argc;
        if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
            usage(stdout);
            return 0;
        } else if (!strcmp(a, "--config") && has_v) {
            config_path = argv[++i];
        } else if (!strcmp(a, "--audit") && has_v) {
            path = argv[++i];
        } else if (!strcmp(a, "--since") && has_v) {
            since = argv[++i];
        } else if (!strcmp(a, "--out") && has_v) {
            out_path = argv[++i];
        } else if (!sub && (!strcmp(a, "verify") || !strcmp(a, "export"))) {
            sub = a;
        } else {
            return cli_fail("audit: unknown or incomplete argument '%s'", a);
        }
    }
    if (!sub) {
        usage(stderr);
        return 1;
    }
    if (!strcmp(sub, "verify") && (since || out_path))
        return cli_fail("audit verify: takes no --since or --out");
    int64_t since_ms = INT64_MIN;
    if (since && cli_parse_iso8601(since, &since_ms))
        return cli_fail("audit export: --since: '%s' is not an ISO 8601 date or date-time "
                        "(2024-05-01, 2024-05-01T12:00:00Z)", since);
    struct config *cfg = NULL;
    struct err e;
    if (!path && config_path) {
        if (config_load(config_path, &cfg, &e))
            return cli_fail("%s", e.msg);
        path = cfg->server.audit;
        if (!path) {
            config_free(cfg);
            return cli_fail("audit: %s has no server.audit; give --audit PATH", config_path);
        }
    }
    if (!path)
        return cli_fail("audit: give --audit PATH or --config FILE");
    int rc;
    if (!strcmp(sub, "verify")) {
        rc = audit_verify(path, stdout, &e);
        if (rc < 0)
            rc = cli_fail("%s", e.msg);
    } else {
        FILE *out = out_path ? fopen(out_path, "w") : stdout;
        if (!out) {
            config_free(cfg);
            return cli_fail("audit export: cannot write '%s': %s", out_path, strerror(errno));
        }
        int64_t n = 0;
        rc = audit_export(path, since_ms, out, &n, &e) ? cli_fail("%s", e.msg) : 0;
        if (out_path && fclose(out) != 0 && rc == 0)
            rc = cli_fail("audit export: cannot write '%s'", out_path);
        if (rc == 0)
            fprintf(stderr, "baton: %" PRId64 " audit records exported\n", n);
    }
    config_free(cfg);
    return rc;
}
