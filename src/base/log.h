/* log: diagnostics on stderr, filtered by level before formatting.
 *
 * Diagnostics only: the cost ledger and the audit trail are separate structured stores. The level
 * comes from log_set_level() or the BATON_LOG environment variable (error|warn|info|debug).
 */
#ifndef BATON_BASE_LOG_H
#define BATON_BASE_LOG_H

enum log_level { LOG_ERROR = 0, LOG_WARN = 1, LOG_INFO = 2, LOG_DEBUG = 3 };

void log_set_level(enum log_level level);
enum log_level log_get_level(void);
/* Reads BATON_LOG; unknown values leave the level unchanged. */
void log_init_from_env(void);
void log_write(enum log_level level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#define log_error(...) log_write(LOG_ERROR, __VA_ARGS__)
#define log_warn(...) log_write(LOG_WARN, __VA_ARGS__)
#define log_info(...) \
    do { if (log_get_level() >= LOG_INFO) log_write(LOG_INFO, __VA_ARGS__); } while (0)
#define log_debug(...) \
    do { if (log_get_level() >= LOG_DEBUG) log_write(LOG_DEBUG, __VA_ARGS__); } while (0)

#endif
