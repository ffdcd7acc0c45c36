/* Process-wide logger. agent/ logs where it decides; library-like
 * directories (unwind/, symbolize/, proto/) only call log_debug.
 *
 *   log_set_level(level)        messages above level are dropped
 *   log_set_journal(on)         also send to the systemd journal
 *   log_error/warn/info/debug   printf-style, newline added
 *   log_level_names[level]      "error", "warn", "info", "debug" (NULL
 *                               after the last), as configuration names them
 */
#ifndef BRASA_COMMON_LOG_H
#define BRASA_COMMON_LOG_H

#include <stdbool.h>

enum log_level {
	LOG_LEVEL_ERROR = 0,
	LOG_LEVEL_WARN,
	LOG_LEVEL_INFO,
	LOG_LEVEL_DEBUG,
};

void log_set_level(enum log_level level);
enum log_level log_get_level(void);
void log_set_journal(bool on);
extern const char *const log_level_names[];
void log_msg(enum log_level level, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

#define log_error(...) log_msg(LOG_LEVEL_ERROR, __VA_ARGS__)
#define log_warn(...) log_msg(LOG_LEVEL_WARN, __VA_ARGS__)
#define log_info(...) log_msg(LOG_LEVEL_INFO, __VA_ARGS__)
#define log_debug(...)                                                        \
	do {                                                                  \
		if (log_get_level() >= LOG_LEVEL_DEBUG)                       \
			log_msg(LOG_LEVEL_DEBUG, __VA_ARGS__);                \
	} while (0)

#endif
