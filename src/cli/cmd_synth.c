/* baton synth --shape NAME OUT.gguf [--type f32|f16|bf16] [--seed S] [--vocab FILE]
 *             [--layers N] [-t THREADS] [--vocab-only] [--chat-template FILE.jinja]
 * Writes a random-weight model at a real model's shape with a real tokenizer (see
 * src/engine/synth.h). The default vocabulary comes from $BATON_FIXTURES (default ../shared). */
#include "cli/cli.h"

#include "base/buf.h"
#include "engine/dtype.h"
#include "engine/synth.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void usage(FILE *f)
{
    fprintf(f, "usage: baton synth --shape NAME OUT.gguf [--type f32|f16|bf16] [--seed S]\n"
               "                   [--vocab FILE.gguf|tokenizer.json] [--layers N] [-t THREADS]\n"
               "                   [--vocab-only] [--chat-template FILE.jinja]\nshapes: %s\n",
            synth_shape_list());
}

int cmd_synth(int argc, char **argv)
{
    struct synth_opts o = {0};
    struct buf tmpl; /* --chat-template's text; the process ends soon after, errors included */
    buf_init(&tmpl);
    o.type = DT_F16;
    o.seed = 1;
    o.n_threads = cli_default_threads();
    const char *env = getenv("BATON_FIXTURES");
    o.fixtures = env && *env ? env : "../shared";
    const char *out = NULL;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        long long n;
        if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) {
            usage(stdout);
            return 0;
        } else if (strcmp(a, "--vocab-only") == 0) {
            o.vocab_only = true;
        } else if (a[0] != '-') {
            if (out)
                return cli_fail("more than one output path ('%s', '%s')", out, a);
            out = a;
        } else if (!v) {
            usage(stderr);
            return cli_fail("%s needs a value", a) + 1;
        } else {
            i++;
            if (strcmp(a, "--shape") == 0) {
                o.shape = v;
            } else if (strcmp(a, "--type") == 0) {
                int t = dtype_from_name(v);
                if (t != DT_F32 && t != DT_F16 && t != DT_BF16)
                    return cli_fail("--type: '%s' must be f32, f16 or bf16 (quantize afterwards)", v);
                o.type = (enum dtype)t;
            } else if (strcmp(a, "--seed") == 0) {
                if (cli_parse_int(a, v, 0, (long long)((~0ull) >> 1), &n))
                    return 2;
                o.seed = (uint64_t)n;
            } else if (strcmp(a, "--vocab") == 0) {
                o.vocab_path = v;
            } else if (strcmp(a, "--chat-template") == 0) {
                if (cli_read_file("synth", v, 1u << 20, &tmpl))
                    return 1;
                o.chat_template = tmpl.data ? tmpl.data : "";
            } else if (strcmp(a, "--layers") == 0) {
                if (cli_parse_int(a, v, 1, 4096, &n))
                    return 2;
                o.n_layer = (int32_t)n;
            } else if (strcmp(a, "-t") == 0) {
                if (cli_parse_int(a, v, 1, 256, &n))
                    return 2;
                o.n_threads = (int32_t)n;
            } else {
                usage(stderr);
                return cli_fail("unknown option %s", a) + 1;
            }
        }
    }
    if (!o.shape || !out) {
        usage(stderr);
        return cli_fail("--shape NAME and OUT.gguf are required") + 1;
    }
    struct err e;
    int rc = synth_write(&o, out, &e) ? cli_fail("synth: %s", e.msg) : 0;
    buf_free(&tmpl);
    return rc;
}
