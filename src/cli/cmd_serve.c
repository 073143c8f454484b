/* baton serve [--config FILE] [-m MODEL.gguf ...] [--host H] [--port P] [--ledger PATH]
 * Runs the OpenAI-compatible endpoint (src/server/server.h) until SIGINT or SIGTERM. With -m and
 * no config, each model becomes a local tier named after its file (stories260K.gguf -> tier
 * "stories260K") and a route "auto" sends everything to the first one. */
#include "cli/cli.h"

#include "base/alloc.h"
#include "base/buf.h"
#include "base/log.h"
#include "gateway/config.h"
#include "server/server.h"

#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

static const char *g_usage =
    "usage: baton serve [--config FILE] [-m MODEL.gguf ...] [--host HOST] [--port PORT]\n"
    "                   [--ledger PATH]\n";

static struct server *g_server;

static void on_signal(int sig)
{
    (void)sig;
    if (g_server)
        server_stop(g_server); /* an atomic store and an eventfd write: signal-safe */
}

/* The journal directory for a ledger given on the command line: baton-journal in the ledger
 * file's directory, or in the current one for a database URL. */
static char *journal_beside(const char *ledger)
{
    const char *slash = strrchr(ledger, '/');
    if (strstr(ledger, "://") || !slash)
        return xstrdup("baton-journal");
    struct buf b;
    buf_init(&b);
    buf_printf(&b, "%.*s/baton-journal", (int)(slash - ledger), ledger);
    return buf_detach(&b);
}

/* A config with one local tier per model file and a route "auto" to the first. */
static struct config *config_from_models(char **models, int n)
{
    struct config *c = xcalloc(1, sizeof *c);
    c->server.host = xstrdup("127.0.0.1");
    c->server.port = 8080;
    c->server.max_connections = 1024;
    c->server.max_body_bytes = 1 << 20;
    c->server.ledger = xstrdup("");
    c->tiers = xcalloc((size_t)n, sizeof *c->tiers);
    for (int i = 0; i < n; i++) {
        struct tier_config *t = &c->tiers[c->n_tiers++];
        const char *base = strrchr(models[i], '/');
        base = base ? base + 1 : models[i];
        size_t len = strlen(base);
        if (len > 5 && strcmp(base + len - 5, ".gguf") == 0)
            len -= 5;
        t->name = xstrndup(base, len);
        t->kind = TIER_LOCAL;
        t->model_path = xstrdup(models[i]);
        t->max_queue = 64;
        t->slots = 4;
        t->max_tokens_default = 512;
    }
    c->routes = xcalloc(1, sizeof *c->routes);
    c->n_routes = 1;
    c->routes[0].name = xstrdup("auto");
    c->routes[0].strategy = xstrdup("rules");
    c->routes[0].default_tier = xstrdup(c->tiers[0].name);
    return c;
}

int cmd_serve(int argc, char **argv)
{
    const char *config_path = NULL, *host = NULL, *ledger = NULL;
    long long port = -1;
    char **models = xcalloc((size_t)argc, sizeof *models);
    int n_models = 0, rc = 0;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) {
            fputs(g_usage, stdout);
            free(models);
            return 0;
        }
        if (!v) {
            free(models);
            return cli_fail("%s needs a value", a) + 1;
        }
        i++;
        if (strcmp(a, "--config") == 0 || strcmp(a, "-c") == 0)
            config_path = v;
        else if (strcmp(a, "-m") == 0 || strcmp(a, "--model") == 0)
            models[n_models++] = (char *)v;
        else if (strcmp(a, "--host") == 0)
            host = v;
        else if (strcmp(a, "--ledger") == 0)
            ledger = v;
        else if (strcmp(a, "--port") == 0) {
            if (cli_parse_int(a, v, 0, 65535, &port)) {
                free(models);
                return 2;
            }
        } else {
            fputs(g_usage, stderr);
            free(models);
            return cli_fail("unknown option %s", a) + 1;
        }
    }
    if (!config_path == !n_models) {
        fputs(g_usage, stderr);
        free(models);
        return cli_fail("give either --config FILE or -m MODEL.gguf") + 1;
    }
    struct err e;
    struct config *cfg = NULL;
    if (config_path) {
        if (config_load(config_path, &cfg, &e)) {
            free(models);
            return cli_fail("%s", e.msg);
        }
    } else {
        cfg = config_from_models(models, n_models);
    }
    free(models);
    if (host) {
        free(cfg->server.host);
        cfg->server.host = xstrdup(host);
    }
    if (port >= 0)
        cfg->server.port = (int32_t)port;
    if (ledger) {
        free(cfg->server.ledger);
        cfg->server.ledger = xstrdup(ledger);
        if (!config_path && *ledger) /* -m: journals beside the ledger (a config's: beside it) */
            cfg->server.journal = journal_beside(ledger);
    }
    if (!getenv("BATON_LOG"))
        log_set_level(LOG_INFO);
    struct server *s;
    if (server_new(cfg, &s, &e)) {
        config_free(cfg);
        return cli_fail("%s", e.msg);
    }
    g_server = s;
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_signal;
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    signal(SIGPIPE, SIG_IGN);
    fprintf(stderr, "baton: serving on http://%s:%d/v1 (tiers:", cfg->server.host, server_port(s));
    for (size_t i = 0; i < cfg->n_tiers; i++)
        fprintf(stderr, " %s", cfg->tiers[i].name);
    fprintf(stderr, "; routes:");
    for (size_t i = 0; i < cfg->n_routes; i++)
        fprintf(stderr, " %s", cfg->routes[i].name);
    fprintf(stderr, ")\n");
    fflush(stderr);
    if (server_run(s))
        rc = cli_fail("event loop failed");
    g_server = NULL;
    server_free(s);
    config_free(cfg);
    fprintf(stderr, "baton: stopped\n");
    return rc;
}
