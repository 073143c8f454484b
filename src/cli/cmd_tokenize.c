/* baton tokenize: text -> token ids with a GGUF file's tokenizer, printed as llama.cpp's
 * llama-tokenize prints them.
 *
 *   baton tokenize -m MODEL (-p TEXT | -f FILE | --stdin) [--ids] [--no-bos]
 *                  [--no-parse-special] [--no-escape] [--show-count]
 *   baton tokenize --import-json tokenizer.json --write-vocab OUT.gguf [--pre NAME]
 *   baton tokenize -m MODEL --write-vocab OUT.gguf [--pre NAME]
 *
 * Same defaults as llama-tokenize: BOS (and EOS, only together with BOS) as the vocabulary's
 * add_bos_token / add_eos_token say, special-token text parsed as special tokens, and escape
 * sequences (\n \r \t \' \" \\ \xHH) in the -p text or the file processed; --no-escape
 * tokenizes the bytes as they are. Output: with --ids one line "[id, id, ...]"; otherwise one
 * line per token, "%6d -> '<piece>'" with special tokens rendered (a piece stops at a NUL byte,
 * as llama-tokenize's printf does). One extension: -f may be repeated, and each file is
 * tokenized in turn with one output each (the golden test uses it to load a vocabulary once).
 *
 * The second form converts a Hugging Face tokenizer.json into a vocabulary-only GGUF (see
 * engine/tok_import.h); the third copies a model's general.* and tokenizer.* keys into a
 * vocabulary-only GGUF, optionally with another tokenizer.ggml.pre. Both exist for tests (the
 * golden test builds its SmolLM2, deepseek-llm and default-pre vocabularies this way).
 */
#include "cli/cli.h"

#include "base/alloc.h"
#include "base/buf.h"
#include "engine/gguf.h"
#include "engine/tok_import.h"
#include "engine/tokenizer.h"

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void usage(FILE *f)
{
    fprintf(f,
            "usage: baton tokenize -m MODEL (-p TEXT | -f FILE | --stdin) [--ids] [--no-bos]\n"
            "                      [--no-parse-special] [--no-escape] [--show-count]\n"
            "       baton tokenize --import-json tokenizer.json --write-vocab OUT.gguf [--pre NAME]\n"
            "       baton tokenize -m MODEL --write-vocab OUT.gguf [--pre NAME]\n"
            "\n"
            "Prints the token ids of the text as llama.cpp's llama-tokenize does: BOS/EOS as the\n"
            "vocabulary says, special tokens parsed, escapes (\\n \\t \\xHH ...) processed.\n"
            "  --ids               one line [id, id, ...] instead of one 'id -> piece' per token\n"
            "  --no-bos            do not add BOS/EOS\n"
            "  --no-parse-special  treat special-token text as plain text\n"
            "  --no-escape         tokenize the text's bytes as they are\n"
            "  --show-count        print the number of tokens last\n"
            "  --import-json F     convert a Hugging Face tokenizer.json (with --write-vocab)\n"
            "  --write-vocab OUT   write a vocabulary-only GGUF from --import-json or -m\n"
            "  --pre NAME          tokenizer.ggml.pre for --write-vocab (default: detected/kept)\n");
}

/* llama.cpp's string_process_escapes, in place; returns the new length. */
static size_t process_escapes(char *s, size_t n)
{
    size_t o = 0;
    for (size_t i = 0; i < n; i++) {
        if (s[i] != '\\' || i + 1 >= n) {
            s[o++] = s[i];
            continue;
        }
        char c = s[++i];
        switch (c) {
        case 'n': s[o++] = '\n'; break;
        case 'r': s[o++] = '\r'; break;
        case 't': s[o++] = '\t'; break;
        case '\'': s[o++] = '\''; break;
        case '"': s[o++] = '"'; break;
        case '\\': s[o++] = '\\'; break;
        default:
            if (c == 'x' && i + 2 < n) {
                /* strtol over exactly the two following bytes, quirks included */
                char x[3] = {s[i + 1], s[i + 2], 0};
                char *end;
                long v = strtol(x, &end, 16);
                if (end == x + 2) {
                    i += 2;
                    s[o++] = (char)v;
                    break;
                }
            }
            s[o++] = '\\';
            s[o++] = c;
            break;
        }
    }
    return o;
}

static int read_stream(FILE *f, struct buf *b)
{
    char chunk[65536];
    size_t n;
    while ((n = fread(chunk, 1, sizeof chunk, f)) > 0)
        buf_append(b, chunk, n);
    return ferror(f) ? -1 : 0;
}

/* Writes a vocabulary-only GGUF from a tokenizer.json (json) or from a GGUF's keys (model). */
static int write_vocab(const char *json, const char *model, const char *out, const char *pre)
{
    struct err e;
    struct gguf_writer *w = gguf_writer_new();
    if (json) {
        if (tok_import_json(json, w, pre, &e)) {
            gguf_writer_free(w);
            return cli_fail("%s", e.msg);
        }
        gguf_writer_set_str(w, "general.architecture", "llama");
        gguf_writer_set_str(w, "general.name", "vocab-only (imported from tokenizer.json)");
    } else {
        struct gguf *g;
        if (gguf_open(model, &g, &e)) {
            gguf_writer_free(w);
            return cli_fail("%s", e.msg);
        }
        for (int64_t i = 0; i < gguf_n_kv(g); i++) {
            const char *k = gguf_kv_key(g, i);
            if (!strncmp(k, "general.", 8) || !strncmp(k, "tokenizer.", 10))
                gguf_writer_copy_kv(w, g, i);
        }
        gguf_close(g);
        if (pre)
            gguf_writer_set_str(w, "tokenizer.ggml.pre", pre);
    }
    if (gguf_writer_open(w, out, &e) || gguf_writer_close(w, &e)) {
        gguf_writer_free(w);
        return cli_fail("%s", e.msg);
    }
    gguf_writer_free(w);
    return 0;
}

static void print_tokens(const struct tok *t, const int32_t *ids, size_t n, bool as_ids)
{
    if (as_ids) {
        putchar('[');
        for (size_t i = 0; i < n; i++)
            printf(i ? ", %d" : "%d", ids[i]);
        fputs("]\n", stdout);
        return;
    }
    char small[256];
    for (size_t i = 0; i < n; i++) {
        size_t len = tok_piece(t, ids[i], small, sizeof small, true);
        char *p = small;
        if (len > sizeof small) {
            p = xmalloc(len);
            tok_piece(t, ids[i], p, len, true);
        }
        const char *nul = memchr(p, 0, len);
        printf("%6d -> '", ids[i]);
        fwrite(p, 1, nul ? (size_t)(nul - p) : len, stdout);
        fputs("'\n", stdout);
        if (p != small)
            free(p);
    }
}

struct opts {
    bool add_special; /* llama-tokenize: (vocabulary adds BOS) && !--no-bos */
    bool parse_special, escape, ids, show_count;
};

/* Tokenizes prompt if non-NULL, else the file at path if non-NULL, else stdin, and prints. */
static int tokenize_one(const struct tok *t, const char *prompt, const char *path,
                        const struct opts *o)
{
    struct buf text;
    buf_init(&text);
    if (prompt) {
        buf_puts(&text, prompt);
    } else {
        FILE *f = path ? fopen(path, "rb") : stdin;
        if (!f)
            return cli_fail("tokenize: cannot open '%s' for reading", path);
        int r = read_stream(f, &text);
        if (f != stdin)
            fclose(f);
        if (r) {
            buf_free(&text);
            return cli_fail("tokenize: error reading '%s'", path ? path : "<stdin>");
        }
    }
    size_t len = text.len;
    if (o->escape && len)
        len = process_escapes(text.data, len);
    struct err e;
    int32_t *out = NULL;
    size_t n_out = 0;
    int r = tok_encode(t, text.data ? text.data : "", len, o->add_special, o->parse_special, &out,
                       &n_out, &e);
    buf_free(&text);
    if (r)
        return cli_fail("%s", e.msg);
    print_tokens(t, out, n_out, o->ids);
    if (o->show_count)
        printf("Total number of tokens: %zu\n", n_out);
    free(out);
    return 0;
}

int cmd_tokenize(int argc, char **argv)
{
    enum { MAX_FILES = 256 };
    const char *files[MAX_FILES];
    int n_files = 0;
    const char *model = NULL, *prompt = NULL, *json = NULL, *vocab_out = NULL;
    const char *pre = NULL;
    bool ids = false, no_bos = false, parse_special = true, escape = true, show_count = false;
    bool use_stdin = false;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        bool has_val = i + 1 < argc;
        if (strcmp(a, "-h") == 0 || strcmp(a, "--help") == 0) {
            usage(stdout);
            return 0;
        } else if ((strcmp(a, "-m") == 0 || strcmp(a, "--model") == 0) && has_val) {
            model = argv[++i];
        } else if ((strcmp(a, "-p") == 0 || strcmp(a, "--prompt") == 0) && has_val) {
            prompt = argv[++i];
        } else if ((strcmp(a, "-f") == 0 || strcmp(a, "--file") == 0) && has_val) {
            if (n_files == MAX_FILES)
                return cli_fail("tokenize: at most %d files", MAX_FILES);
            files[n_files++] = argv[++i];
        } else if (strcmp(a, "--import-json") == 0 && has_val) {
            json = argv[++i];
        } else if (strcmp(a, "--write-vocab") == 0 && has_val) {
            vocab_out = argv[++i];
        } else if (strcmp(a, "--pre") == 0 && has_val) {
            pre = argv[++i];
        } else if (strcmp(a, "--ids") == 0) {
            ids = true;
        } else if (strcmp(a, "--stdin") == 0) {
            use_stdin = true;
        } else if (strcmp(a, "--no-bos") == 0) {
            no_bos = true;
        } else if (strcmp(a, "--no-parse-special") == 0) {
            parse_special = false;
        } else if (strcmp(a, "--parse-special") == 0) {
            parse_special = true;
        } else if (strcmp(a, "--no-escape") == 0) {
            escape = false;
        } else if (strcmp(a, "-e") == 0 || strcmp(a, "--escape") == 0) {
            escape = true;
        } else if (strcmp(a, "--show-count") == 0) {
            show_count = true;
        } else {
            usage(stderr);
            return cli_fail("tokenize: unknown or incomplete option '%s'", a);
        }
    }
    if (json || vocab_out) {
        if (!vocab_out || (json != NULL) == (model != NULL))
            return cli_fail("tokenize: --write-vocab needs exactly one of --import-json or -m");
        return write_vocab(json, model, vocab_out, pre);
    }
    if (!model) {
        usage(stderr);
        return cli_fail("tokenize: -m MODEL is required");
    }
    if ((prompt != NULL) + (n_files > 0) + use_stdin != 1) {
        usage(stderr);
        return cli_fail("tokenize: give exactly one of -p TEXT, -f FILE, --stdin");
    }

    struct err e;
    struct gguf *g;
    if (gguf_open(model, &g, &e))
        return cli_fail("%s", e.msg);
    struct tok *t;
    int r = tok_load(g, &t, &e);
    gguf_close(g);
    if (r)
        return cli_fail("%s: %s", model, e.msg);
    struct opts o = {!no_bos && tok_add_bos(t), parse_special, escape, ids, show_count};
    int rc = 0;
    if (n_files == 0)
        rc = tokenize_one(t, prompt, NULL, &o);
    for (int i = 0; i < n_files && rc == 0; i++)
        rc = tokenize_one(t, NULL, files[i], &o);
    tok_free(t);
    if (rc)
        return rc;
    return fflush(stdout) == 0 ? 0 : cli_fail("tokenize: error writing the output");
}
