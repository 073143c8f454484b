/* err: formatting of one-line error messages (see err.h). */
#include "base/err.h"

#include <stdio.h>
#include <string.h>

int err_vset(struct err *e, const char *fmt, va_list ap)
{
    if (e)
        vsnprintf(e->msg, sizeof e->msg, fmt, ap);
    return -1;
}

int err_set(struct err *e, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    err_vset(e, fmt, ap);
    va_end(ap);
    return -1;
}

int err_prefix(struct err *e, const char *fmt, ...)
{
    if (!e)
        return -1;
    char prefix[ERR_MSG_MAX], old[ERR_MSG_MAX];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(prefix, sizeof prefix, fmt, ap);
    va_end(ap);
    memcpy(old, e->msg, sizeof old);
    size_t n = strnlen(prefix, sizeof e->msg - 3);
    memcpy(e->msg, prefix, n);
    memcpy(e->msg + n, ": ", 2);
    size_t m = strnlen(old, sizeof e->msg - n - 3);
    memcpy(e->msg + n + 2, old, m);
    e->msg[n + 2 + m] = 0;
    return -1;
}
