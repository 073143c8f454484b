/* log: leveled diagnostics to stderr (see log.h). One write(2)-sized line per call so lines from
 * several threads do not interleave mid-line. */
#include "base/log.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static enum log_level g_level = LOG_WARN;

void log_set_level(enum log_level level) { g_level = level; }
enum log_level log_get_level(void) { return g_level; }

void log_init_from_env(void)
{
    const char *v = getenv("BATON_LOG");
    if (!v)
        return;
    static const char *names[] = {"error", "warn", "info", "debug"};
    for (int i = 0; i < 4; i++)
        if (strcmp(v, names[i]) == 0)
            g_level = (enum log_level)i;
}

void log_write(enum log_level level, const char *fmt, ...)
{
    if (level > g_level)
        return;
    static const char *tags[] = {"error", "warn", "info", "debug"};
    char line[2048];
    int n = snprintf(line, sizeof line, "baton %s: ", tags[level]);
    va_list ap;
    va_start(ap, fmt);
    int m = vsnprintf(line + n, sizeof line - (size_t)n - 1, fmt, ap);
    va_end(ap);
    size_t len = (size_t)n + (m < 0 ? 0 : (size_t)m);
    if (len > sizeof line - 2)
        len = sizeof line - 2;
    if (len == 0 || line[len - 1] != '\n')
        line[len++] = '\n';
    fwrite(line, 1, len, stderr);
}
