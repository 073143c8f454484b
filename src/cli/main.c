/* main: `baton COMMAND [ARGS]`. The only place that exits; commands return their status. */
#include "cli/cli.h"

#include "base/buf.h"
#include "base/log.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct command {
    const char *name;
    int (*fn)(int argc, char **argv);
    const char *summary;
};

static const struct command g_commands[] = {
    {"run", cmd_run, "generate text from a prompt with a local GGUF model"},
    {"logits", cmd_logits, "print the last position's top-K logits"},
    {"info", cmd_info, "print a GGUF file's metadata and tensor table"},
    {"tokenize", cmd_tokenize, "print the token ids of a text (as llama-tokenize does)"},
    {"quantize", cmd_quantize, "convert a GGUF model to Q8_0, Q4_K_M, ... (IN OUT TYPE)"},
    {"synth", cmd_synth, "write a random-weight GGUF at a real model's shape"},
    {"bench", cmd_bench, "measure prompt processing and generation speed"},
    {"serve", cmd_serve, "serve the OpenAI-compatible API over local and remote tiers"},
    {"route", cmd_route, "show which tier a request would go to, and why (--explain)"},
    {"cost", cmd_cost, "report costs and savings from the ledger, or --estimate a budget"},
    {"router", cmd_router, "train, evaluate and apply the learned router (train/eval/score/lobo)"},
    {"template", cmd_template, "render a chat request with a model's chat template"},
    {"keys", cmd_keys, "create, list, show, revoke and rotate virtual API keys"},
    {"audit", cmd_audit, "verify the audit trail's hash chain, or export it as JSON lines"},
    {"privacy", cmd_privacy, "scan text for sensitive data, or measure the detector (eval)"},
};

int cli_fail(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fputs("baton: ", stderr);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
    return 1;
}

int cli_parse_int(const char *opt, const char *s, long long min, long long max, long long *out)
{
    char *end;
    errno = 0;
    long long v = strtoll(s, &end, 10);
    if (errno || end == s || *end || v < min || v > max) {
        cli_fail("%s: '%s' is not an integer in %lld..%lld", opt, s, min, max);
        return -1;
    }
    *out = v;
    return 0;
}

int cli_parse_float(const char *opt, const char *s, double *out)
{
    char *end;
    errno = 0;
    double v = strtod(s, &end);
    if (errno || end == s || *end || v != v) {
        cli_fail("%s: '%s' is not a number", opt, s);
        return -1;
    }
    *out = v;
    return 0;
}

int cli_read_file(const char *cmd, const char *path, size_t max_bytes, struct buf *b)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return cli_fail("%s: cannot open '%s': %s", cmd, path, strerror(errno));
    char chunk[65536];
    size_t n;
    while ((n = fread(chunk, 1, sizeof chunk, f)) > 0 && b->len <= max_bytes)
        buf_append(b, chunk, n);
    int bad = ferror(f);
    fclose(f);
    if (bad)
        return cli_fail("%s: error reading '%s'", cmd, path);
    if (b->len > max_bytes)
        return cli_fail("%s: '%s' is larger than %zu bytes", cmd, path, max_bytes);
    return 0;
}

static void usage(FILE *f)
{
    fprintf(f, "usage: baton COMMAND [ARGS]\n\ncommands:\n");
    for (size_t i = 0; i < sizeof g_commands / sizeof *g_commands; i++)
        fprintf(f, "  %-10s %s\n", g_commands[i].name, g_commands[i].summary);
    fprintf(f, "\n`baton COMMAND --help` describes a command. Set BATON_LOG=info|debug for more "
               "diagnostics.\n");
}

int main(int argc, char **argv)
{
    log_init_from_env();
    if (argc < 2) {
        usage(stderr);
        return 2;
    }
    if (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0 || strcmp(argv[1], "help") == 0) {
        usage(stdout);
        return 0;
    }
    for (size_t i = 0; i < sizeof g_commands / sizeof *g_commands; i++)
        if (strcmp(argv[1], g_commands[i].name) == 0)
            return g_commands[i].fn(argc - 1, argv + 1);
    fprintf(stderr, "baton: unknown command '%s'\n", argv[1]);
    usage(stderr);
    return 2;
}
