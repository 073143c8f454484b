/* baton keys: manage the virtual API keys `baton serve` accepts (docs/governance.md).
 *
 *   baton keys [--config FILE | --store PATH] create --name NAME [--budget-usd X
 *              [--period month|day|none]] [--rpm N] [--tpm N] [--routes a,b] [--tiers t1,t2]
 *   baton keys [...] list | show NAME | revoke NAME | rotate NAME
 *
 * The store is --store, else the config's server.keys, else ./baton-keys.db. create and rotate
 * print the secret once on stdout (nothing else goes to stdout for them); it is not stored and
 * cannot be shown again. With --config and a redis: section, revoke and rotate also tell every
 * other instance through Redis (shared.h); a rotation Redis did not take is not made at all.
 */
#include "cli/cli.h"

#include "gateway/config.h"
#include "gateway/keys.h"
#include "gateway/ledger.h"
#include "gateway/shared.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static void usage(FILE *f)
{
    fprintf(f,
            "usage: baton keys [--config FILE | --store PATH] COMMAND\n"
            "  create --name NAME [--budget-usd X [--period month|day|none]] [--rpm N]\n"
            "         [--tpm N] [--routes a,b] [--tiers t1,t2]\n"
            "                    make a key; its secret is printed once on stdout\n"
            "  list              every key with its limits\n"
            "  show NAME         one key\n"
            "  revoke NAME       stop accepting the key (kept for history)\n"
            "  rotate NAME       a new secret for the key; the old one stops working\n"
            "The store is --store, else the config's server.keys, else ./baton-keys.db.\n");
}

/* keys_publish_fn for a rotation: arg is the config's redis section. */
static int publish_rotation(void *arg, const struct key_credential *c, const char *old_public_id,
                            struct err *e)
{
    if (shared_rotate(arg, c, old_public_id, e))
        return err_prefix(e, "not rotated, since the other instances cannot be told");
    return 0;
}

static void fmt_time(int64_t ms, char *out, size_t n)
{
    if (!ms) {
        snprintf(out, n, "-");
        return;
    }
    time_t t = (time_t)(ms / 1000);
    struct tm tm;
    gmtime_r(&t, &tm);
    strftime(out, n, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

static void print_key(const struct key_info *k, bool verbose)
{
    char budget[48] = "-", created[32], revoked[32], rotated[32];
    if (k->budget_microusd >= 0) {
        char usd[32];
        snprintf(budget, sizeof budget, "$%s/%s", ledger_format_usd(k->budget_microusd, usd,
                                                                      sizeof usd),
                 k->period == PERIOD_NONE ? "total" : key_period_name(k->period));
    }
    fmt_time(k->created_ms, created, sizeof created);
    fmt_time(k->revoked_ms, revoked, sizeof revoked);
    fmt_time(k->rotated_ms, rotated, sizeof rotated);
    if (!verbose) {
        printf("%-20s %-8s %-16s %8" PRId64 " %10" PRId64 "  %s  %s\n", k->name,
               k->revoked_ms ? "revoked" : "active", budget, k->rpm, k->tpm,
               *k->routes ? k->routes : "*", *k->tiers ? k->tiers : "*");
        return;
    }
    printf("name:     %s\n", k->name);
    printf("status:   %s\n", k->revoked_ms ? "revoked" : "active");
    printf("id:       bt_%s_...\n", k->public_id);
    printf("created:  %s\n", created);
    printf("rotated:  %s\n", rotated);
    printf("revoked:  %s\n", revoked);
    printf("budget:   %s\n", budget);
    printf("rpm:      %" PRId64 "%s\n", k->rpm, k->rpm ? "" : " (unlimited)");
    printf("tpm:      %" PRId64 "%s\n", k->tpm, k->tpm ? "" : " (unlimited)");
    printf("routes:   %s\n", *k->routes ? k->routes : "(all)");
    printf("tiers:    %s\n", *k->tiers ? k->tiers : "(all)");
}

static int set_list(char *dst, const char *opt, const char *v)
{
    if (strlen(v) >= KEY_LIST_MAX)
        return cli_fail("keys: %s: longer than %d bytes", opt, KEY_LIST_MAX - 1);
    for (const char *p = v; *p; p++)
        if (*p == ' ')
            return cli_fail("keys: %s: '%s': write names separated by commas, no spaces", opt, v);
    if (*v == ',' || (*v && v[strlen(v) - 1] == ',') || strstr(v, ",,"))
        return cli_fail("keys: %s: '%s' has an empty name", opt, v);
    snprintf(dst, KEY_LIST_MAX, "%s", v);
    return 0;
}

/* Checks list names against the config (when one was given): a typo would silently lock a key
 * out of everything. */
static int check_names(const struct config *cfg, const char *list, bool routes)
{
    if (!cfg || !*list)
        return 0;
    char copy[KEY_LIST_MAX];
    snprintf(copy, sizeof copy, "%s", list);
    for (char *save = NULL, *t = strtok_r(copy, ",", &save); t; t = strtok_r(NULL, ",", &save))
        if (routes ? !config_route(cfg, t) : !config_tier(cfg, t))
            return cli_fail("keys: --%s: '%s' is not a %s of %s", routes ? "routes" : "tiers", t,
                            routes ? "route" : "tier", cfg->path);
    return 0;
}

static int do_create(struct keystore *ks, const struct config *cfg, int argc, char **argv)
{
    struct key_info k;
    memset(&k, 0, sizeof k);
    k.budget_microusd = -1;
    k.period = PERIOD_MONTH;
    bool have_name = false, have_period = false;
    for (int i = 0; i < argc; i++) {
        const char *a = argv[i];
        if (i + 1 >= argc)
            return cli_fail("keys create: %s needs a value", a);
        const char *v = argv[++i];
        long long n;
        if (!strcmp(a, "--name")) {
            if (strlen(v) > KEY_NAME_MAX)
                return cli_fail("keys create: --name: longer than %d characters", KEY_NAME_MAX);
            snprintf(k.name, sizeof k.name, "%s", v);
            have_name = true;
        } else if (!strcmp(a, "--budget-usd")) {
            struct err e;
            if (config_parse_price(v, &k.budget_microusd, &e))
                return cli_fail("keys create: --budget-usd: %s", e.msg);
        } else if (!strcmp(a, "--period")) {
            if (!strcmp(v, "month"))
                k.period = PERIOD_MONTH;
            else if (!strcmp(v, "day"))
                k.period = PERIOD_DAY;
            else if (!strcmp(v, "none"))
                k.period = PERIOD_NONE;
            else
                return cli_fail("keys create: --period: '%s' (expected month, day or none)", v);
            have_period = true;
        } else if (!strcmp(a, "--rpm")) {
            if (cli_parse_int("--rpm", v, 1, 1000000000, &n))
                return 1;
            k.rpm = n;
        } else if (!strcmp(a, "--tpm")) {
            if (cli_parse_int("--tpm", v, 1, INT64_C(1) << 40, &n))
                return 1;
            k.tpm = n;
        } else if (!strcmp(a, "--routes")) {
            if (set_list(k.routes, a, v) || check_names(cfg, k.routes, true))
                return 1;
        } else if (!strcmp(a, "--tiers")) {
            if (set_list(k.tiers, a, v) || check_names(cfg, k.tiers, false))
                return 1;
        } else {
            return cli_fail("keys create: unknown option '%s'", a);
        }
    }
    if (!have_name)
        return cli_fail("keys create: --name NAME is required");
    if (have_period && k.budget_microusd < 0)
        return cli_fail("keys create: --period needs --budget-usd");
    if (k.budget_microusd < 0)
        k.period = PERIOD_NONE;
    char secret[KEY_SECRET_LEN + 1];
    struct err e;
    if (keys_create(ks, &k, secret, &e))
        return cli_fail("keys create: %s", e.msg);
    printf("%s\n", secret);
    fprintf(stderr, "baton: key '%s' created; the secret above is shown only once\n", k.name);
    memset(secret, 0, sizeof secret);
    return 0;
}

int cmd_keys(int argc, char **argv)
{
    const char *store = NULL, *config_path = NULL;
    int i = 1;
    for (; i < argc; i++) {
        if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) {
            usage(stdout);
            return 0;
        }
        if (!strcmp(argv[i], "--store") || !strcmp(argv[i], "--config")) {
            if (i + 1 >= argc)
                return cli_fail("keys: %s needs a value", argv[i]);
            *(argv[i][2] == 's' ? &store : &config_path) = argv[i + 1];
            i++;
            continue;
        }
        break;
    }
    if (i >= argc) {
        usage(stderr);
        return 1;
    }
    const char *cmd = argv[i++];
    struct config *cfg = NULL;
    struct err e;
    if (config_path && config_load(config_path, &cfg, &e))
        return cli_fail("%s", e.msg);
    if (!store)
        store = cfg && cfg->server.keys ? cfg->server.keys : "baton-keys.db";
    bool create = !strcmp(cmd, "create");
    bool known = create || !strcmp(cmd, "list") || !strcmp(cmd, "show") ||
                 !strcmp(cmd, "revoke") || !strcmp(cmd, "rotate");
    int rc = 1;
    struct keystore *ks = NULL;
    if (!known) {
        cli_fail("keys: unknown command '%s' (create, list, show, revoke, rotate)", cmd);
        goto out;
    }
    if (keystore_open(store, create, &ks, &e)) {
        cli_fail("%s", e.msg);
        goto out;
    }
    if (create) {
        rc = do_create(ks, cfg, argc - i, argv + i);
    } else if (!strcmp(cmd, "list")) {
        if (i != argc) {
            cli_fail("keys list: unexpected argument '%s'", argv[i]);
            goto out;
        }
        struct key_info *list;
        size_t n;
        if (keys_list(ks, &list, &n, &e)) {
            cli_fail("%s", e.msg);
            goto out;
        }
        printf("%-20s %-8s %-16s %8s %10s  %s  %s\n", "name", "status", "budget", "rpm", "tpm",
               "routes", "tiers");
        for (size_t j = 0; j < n; j++)
            print_key(&list[j], false);
        free(list);
        rc = 0;
    } else {
        if (i + 1 != argc) {
            cli_fail("keys %s: expected one key name", cmd);
            goto out;
        }
        const char *name = argv[i];
        if (!strcmp(cmd, "show")) {
            struct key_info k;
            int found = keys_get(ks, name, &k, &e);
            if (found) {
                cli_fail("keys show: %s", found < 0 ? e.msg : "no key by that name");
                goto out;
            }
            print_key(&k, true);
            rc = 0;
        } else if (!strcmp(cmd, "revoke")) {
            if (keys_revoke(ks, name, &e)) {
                cli_fail("keys revoke: %s", e.msg);
                goto out;
            }
            if (cfg && cfg->redis && shared_revoke(cfg->redis, name, &e)) {
                cli_fail("keys revoke: revoked in %s, but not for other instances: %s", store,
                         e.msg);
                goto out;
            }
            fprintf(stderr, "baton: key '%s' revoked\n", name);
            rc = 0;
        } else {
            char secret[KEY_SECRET_LEN + 1];
            struct redis_config *redis = cfg ? cfg->redis : NULL;
            if (keys_rotate(ks, name, redis ? publish_rotation : NULL, redis, secret, &e)) {
                cli_fail("keys rotate: %s", e.msg);
                goto out;
            }
            printf("%s\n", secret);
            memset(secret, 0, sizeof secret);
            fprintf(stderr, "baton: key '%s' rotated; the old secret no longer works%s\n", name,
                    redis ? " on any instance sharing this Redis" : "");
            rc = 0;
        }
    }
out:
    keystore_close(ks);
    config_free(cfg);
    return rc;
}
