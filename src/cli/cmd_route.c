/* baton route: which tier a request would go to, and why, without calling any model.
 *
 *   baton route --config FILE [--explain] (-p PROMPT | -f REQUEST.json) [--model NAME]
 *
 * The request is what a client would POST: -p builds a chat request with one user message;
 * -f reads an OpenAI chat (has "messages") or completions (has "prompt") body, validated as the
 * server validates it. --model overrides the body's model; without either, the model is the
 * route `auto` if the config has one, else its first route, else its first tier.
 *
 * Output: the decision as `key: value` lines (route, tier, fallback, reason). --explain first
 * prints the request's routing features and the router's trace: what the model names and, for
 * a route, each rule evaluated with each condition and whether it held.
 */
#include "cli/cli.h"

#include "api/openai.h"
#include "base/alloc.h"
#include "base/buf.h"
#include "gateway/config.h"
#include "gateway/route.h"

#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#define REQUEST_MAX_BYTES (64u << 20)

static void usage(FILE *f)
{
    fprintf(f,
            "usage: baton route --config FILE [--explain] (-p PROMPT | -f REQUEST.json)\n"
            "                   [--model NAME]\n"
            "\n"
            "Prints which tier would answer the request and why, without calling any model.\n"
            "  --config FILE    the serve configuration (YAML)\n"
            "  --explain        also print every rule evaluated and each condition's outcome\n"
            "  -p PROMPT        a chat request with this one user message\n"
            "  -f REQUEST.json  an OpenAI chat/completions or completions request body\n"
            "  --model NAME     the tier or route asked for (default: the body's model, else\n"
            "                   the route 'auto', else the first route, else the first tier)\n");
}

static const char *default_model(const struct config *c)
{
    if (config_route(c, "auto"))
        return "auto";
    return c->n_routes ? c->routes[0].name : c->tiers[0].name;
}

static int read_file(const char *path, struct buf *b)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return cli_fail("route: cannot open '%s': %s", path, strerror(errno));
    char chunk[65536];
    size_t n;
    while ((n = fread(chunk, 1, sizeof chunk, f)) > 0 && b->len <= REQUEST_MAX_BYTES)
        buf_append(b, chunk, n);
    bool bad = ferror(f) != 0;
    fclose(f);
    if (bad)
        return cli_fail("route: error reading '%s'", path);
    if (b->len > REQUEST_MAX_BYTES)
        return cli_fail("route: '%s' is larger than %u bytes", path, REQUEST_MAX_BYTES);
    return 0;
}

/* Builds the request the server would see. Returns 0 or an exit status (message printed). */
static int build_request(const struct config *c, const char *prompt, const char *file,
                         const char *model, struct request **out)
{
    json_t *body;
    const char *what = file ? file : "-p";
    if (prompt) {
        body = json_pack("{s:[{s:s, s:s}]}", "messages", "role", "user", "content", prompt);
        if (!body)
            return cli_fail("route: -p: the prompt is not valid UTF-8");
    } else {
        struct buf text;
        buf_init(&text);
        if (read_file(file, &text)) {
            buf_free(&text);
            return 1;
        }
        json_error_t je;
        body = json_loadb(text.data ? text.data : "", text.len, JSON_REJECT_DUPLICATES, &je);
        buf_free(&text);
        if (!body)
            return cli_fail("route: %s:%d:%d: not a JSON request body: %s", file, je.line,
                            je.column, je.text);
        if (!json_is_object(body)) {
            json_decref(body);
            return cli_fail("route: %s: the request body must be a JSON object", file);
        }
    }
    if (model || !json_object_get(body, "model"))
        json_object_set_new(body, "model", json_string(model ? model : default_model(c)));
    enum dialect d = json_object_get(body, "prompt") && !json_object_get(body, "messages")
                         ? DIALECT_OPENAI_COMPLETION
                         : DIALECT_OPENAI_CHAT;
    char *text = json_dumps(body, JSON_COMPACT);
    json_decref(body);
    struct api_error ae;
    int rc = openai_parse(d, text, strlen(text), out, &ae);
    free(text);
    if (rc)
        return cli_fail("route: %s: %s", what, ae.message);
    return 0;
}

static void print_features(const struct request *r)
{
    printf("request:  model %s; %s, %zu %s, %zu bytes of text; tools: %s; response_format: %s\n",
           r->model, r->dialect == DIALECT_OPENAI_CHAT ? "chat" : "completion",
           r->dialect == DIALECT_OPENAI_CHAT ? r->n_messages : (size_t)1,
           r->dialect == DIALECT_OPENAI_CHAT ? (r->n_messages == 1 ? "message" : "messages")
                                             : "prompt",
           request_text_bytes(r), r->has_tools ? "yes" : "no",
           r->has_response_format ? "yes" : "no");
}

static void print_decision(const struct route_decision *d)
{
    printf("route:    %s\n", d->route ? d->route : "(none: a tier was named)");
    printf("tier:     %s\n", d->tiers[0]);
    printf("fallback: ");
    for (size_t i = 1; i < d->n_tiers; i++)
        printf("%s%s", i > 1 ? ", " : "", d->tiers[i]);
    printf("%s\nreason:   %s\n", d->n_tiers > 1 ? "" : "none", d->reason);
}

int cmd_route(int argc, char **argv)
{
    const char *config = NULL, *prompt = NULL, *file = NULL, *model = NULL;
    bool explain = false;
    if (argc < 2) {
        usage(stderr);
        return 2;
    }
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        bool has_val = i + 1 < argc;
        if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
            usage(stdout);
            return 0;
        } else if (!strcmp(a, "--config") && has_val) {
            config = argv[++i];
        } else if ((!strcmp(a, "-p") || !strcmp(a, "--prompt")) && has_val) {
            prompt = argv[++i];
        } else if ((!strcmp(a, "-f") || !strcmp(a, "--file")) && has_val) {
            file = argv[++i];
        } else if ((!strcmp(a, "--model") || !strcmp(a, "-m")) && has_val) {
            model = argv[++i];
        } else if (!strcmp(a, "--explain")) {
            explain = true;
        } else {
            return cli_fail("route: unknown or incomplete option '%s' (see baton route --help)",
                            a);
        }
    }
    if (!config)
        return cli_fail("route: --config FILE is required");
    if ((prompt != NULL) == (file != NULL))
        return cli_fail("route: give exactly one of -p PROMPT or -f REQUEST.json");

    struct err e;
    struct config *c;
    if (config_load(config, &c, &e))
        return cli_fail("%s", e.msg);
    struct request *req = NULL;
    struct router *r = NULL;
    int rc = build_request(c, prompt, file, model, &req);
    if (rc == 0 && router_new(c, &r, &e))
        rc = cli_fail("%s", e.msg);
    if (rc == 0) {
        struct route_decision d;
        struct buf trace;
        buf_init(&trace);
        if (router_explain(r, req, &d, &trace, &e)) {
            rc = cli_fail("route: %s", e.msg);
        } else {
            if (explain) {
                printf("config:   %s\n", config);
                print_features(req);
                fputs(trace.data, stdout);
                putchar('\n');
            }
            print_decision(&d);
        }
        buf_free(&trace);
    }
    router_free(r);
    request_free(req);
    config_free(c);
    if (rc)
        return rc;
    return fflush(stdout) == 0 ? 0 : cli_fail("route: error writing the output");
}
