#include "common/log.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <syslog.h>
#include <systemd/sd-journal.h>

static enum log_level current_level = LOG_LEVEL_INFO;
static bool to_journal;

void log_set_level(enum log_level level)
{
	current_level = level;
}

enum log_level log_get_level(void)
{
	return current_level;
}

void log_set_journal(bool on)
{
	to_journal = on;
}

/* Indexed by enum log_level: the values of --log-level and log_level. */
const char *const log_level_names[] = { "error", "warn", "info", "debug", NULL };

void log_msg(enum log_level level, const char *fmt, ...)
{
	static const char *const prefix[] = { "error", "warning", "info", "debug" };
	static const int priority[] = { LOG_ERR, LOG_WARNING, LOG_INFO, LOG_DEBUG };
	int saved = errno;
	char line[2048];
	va_list ap;

	if (level > current_level)
		return;
	va_start(ap, fmt);
	vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	if (to_journal)
		sd_journal_send("MESSAGE=%s", line, "PRIORITY=%i", priority[level],
				"SYSLOG_IDENTIFIER=brasa", NULL);
	else
		fprintf(stderr, "brasa: %s: %s\n", prefix[level], line);
	errno = saved;
}
