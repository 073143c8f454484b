/* baton quantize [--pure] IN.gguf OUT.gguf TYPE [-t THREADS]: converts a model to a
 * quantization target (engine/quantize.h), printing one line per tensor and a size summary on
 * stderr. --pure (as llama-quantize's) gives every quantizable tensor the target's default
 * type instead of the mix. */
#include "cli/cli.h"

#include "base/log.h"
#include "engine/quantize.h"

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static void usage(FILE *f)
{
    fprintf(f, "usage: baton quantize [--pure] IN.gguf OUT.gguf TYPE [-t THREADS]\n"
               "  TYPE (case-insensitive): %s\n"
               "  --pure      no mixing rules: every quantizable tensor in TYPE's default type\n"
               "  -t THREADS  worker threads (default: all online CPUs)\n",
               quantize_target_list());
}

int cmd_quantize(int argc, char **argv)
{
    const char *pos[3];
    int n_pos = 0;
    bool pure = false;
    long long n_threads = sysconf(_SC_NPROCESSORS_ONLN);
    if (n_threads < 1)
        n_threads = 1;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
            usage(stdout);
            return 0;
        }
        if (strcmp(argv[i], "--pure") == 0) {
            pure = true;
        } else if (strcmp(argv[i], "-t") == 0 || strcmp(argv[i], "--threads") == 0) {
            if (i + 1 >= argc)
                return cli_fail("%s needs a value", argv[i]);
            if (cli_parse_int(argv[i], argv[i + 1], 1, 1024, &n_threads))
                return 1;
            i++;
        } else if (argv[i][0] == '-' && argv[i][1] != '\0') {
            return cli_fail("quantize: unknown option '%s' (see baton quantize --help)", argv[i]);
        } else if (n_pos < 3) {
            pos[n_pos++] = argv[i];
        } else {
            return cli_fail("quantize: unexpected argument '%s' (usage: baton quantize IN.gguf "
                            "OUT.gguf TYPE [-t THREADS])", argv[i]);
        }
    }
    if (n_pos != 3) {
        usage(stderr);
        return 2;
    }
    const struct quantize_target *target = quantize_target_find(pos[2]);
    if (!target)
        return cli_fail("quantize: unknown type '%s'; supported: %s", pos[2],
                        quantize_target_list());
    /* a long batch job: show per-tensor progress unless BATON_LOG chose a level */
    if (!getenv("BATON_LOG"))
        log_set_level(LOG_INFO);
    struct err e;
    if (quantize_file(pos[0], pos[1], target, pure, (int)n_threads, NULL, &e))
        return cli_fail("%s", e.msg);
    return 0;
}
