/* err: the one way library code reports failure.
 *
 * Functions that can fail on outside input return an int status (0 ok, -1 failed) and fill a
 * caller-provided `struct err` with a one-line message the user can act on, naming the field and
 * the numbers ("tensor blk.3.attn_q.weight: data ends at 12345, past end of file (9000 bytes)").
 * Only main() turns an error into an exit status. Asserts are for our own bugs, never for input.
 */
#ifndef BATON_BASE_ERR_H
#define BATON_BASE_ERR_H

#include <stdarg.h>

#define ERR_MSG_MAX 512

struct err {
    char msg[ERR_MSG_MAX];
};

/* Formats into e (if e is non-NULL) and returns -1, so callers can `return err_set(e, ...)`. */
int err_set(struct err *e, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
int err_vset(struct err *e, const char *fmt, va_list ap);
/* Prepends "prefix: " to an existing message; returns -1. */
int err_prefix(struct err *e, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#endif
