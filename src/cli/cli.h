/* cli: the baton command line. main.c dispatches `baton COMMAND ...` to one cmd_* function per
 * command (one file each); each returns the process exit status and prints a one-line reason on
 * stderr when it fails. The contract (flags, output formats) is in docs/cli.md. */
#ifndef BATON_CLI_CLI_H
#define BATON_CLI_CLI_H

#include <stddef.h>
#include <stdint.h>

int cmd_info(int argc, char **argv);
int cmd_run(int argc, char **argv);
int cmd_logits(int argc, char **argv);
int cmd_tokenize(int argc, char **argv);
int cmd_quantize(int argc, char **argv);
int cmd_synth(int argc, char **argv);
int cmd_bench(int argc, char **argv);
int cmd_route(int argc, char **argv);
int cmd_serve(int argc, char **argv);
int cmd_cost(int argc, char **argv);
int cmd_router(int argc, char **argv);
int cmd_template(int argc, char **argv);
int cmd_keys(int argc, char **argv);
int cmd_privacy(int argc, char **argv);
int cmd_audit(int argc, char **argv);

struct model;
/* Number of online CPUs (1..64), the default for -t. */
int cli_default_threads(void);
/* Tokenizes a prompt as `run` and `logits` do: BOS per the vocabulary, special tokens parsed; an
 * empty result becomes [BOS]. On failure prints the reason and returns 1. *ids: caller frees. */
int cli_tokenize_prompt(const struct model *m, const char *prompt, int32_t **ids, size_t *n);

/* Prints "baton: <msg>" to stderr and returns exit status 1 (for `return cli_fail(...)`). */
int cli_fail(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* Parses a whole decimal integer / float option value; returns -1 with a message if malformed. */
int cli_parse_int(const char *opt, const char *s, long long min, long long max, long long *out);
int cli_parse_float(const char *opt, const char *s, double *out);

/* ISO 8601 date or date-time (2024-05-01, 2024-05-01T12:00, ...Z, ...+02:00; no zone means UTC)
 * to ms since the epoch; -1 if malformed (nothing printed). For --since. */
int cli_parse_iso8601(const char *text, int64_t *ms);
struct buf;
/* Appends the whole file at path to b; files above max_bytes are refused. Returns 0, or 1 with
 * "baton: <cmd>: ..." printed. */
int cli_read_file(const char *cmd, const char *path, size_t max_bytes, struct buf *b);

#endif
