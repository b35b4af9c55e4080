/* Daemon logging to stderr and optionally syslog. */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "log.h"

static int min_level = LOG_INFO;
static bool to_syslog;
static char last_error[1024];
static long last_error_time;

const char *log_last_error(long *ret_time)
{
	*ret_time = last_error_time;
	return last_error;
}

void log_set_level(int level)
{
	min_level = level;
}

void log_use_syslog(const char *ident)
{
	openlog(ident, LOG_PID | LOG_NDELAY, LOG_DAEMON);
	to_syslog = true;
}

bool log_enabled(int level)
{
	return level <= min_level;
}

static const char *level_name(int level)
{
	switch (level) {
	case LOG_EMERG: case LOG_ALERT: case LOG_CRIT: return "crit";
	case LOG_ERR: return "error";
	case LOG_WARNING: return "warning";
	case LOG_NOTICE: return "notice";
	case LOG_INFO: return "info";
	default: return "debug";
	}
}

static void vlog(int level, const char *fmt, va_list ap, int err)
{
	char msg[1024];
	struct timespec ts;
	struct tm tm;
	int n;

	if (!log_enabled(level))
		return;
	n = vsnprintf(msg, sizeof(msg), fmt, ap);
	if (err && n >= 0 && (size_t)n < sizeof(msg))
		snprintf(msg + n, sizeof(msg) - (size_t)n, ": %s",
			 strerror(-err));
	if (level <= LOG_ERR) {
		snprintf(last_error, sizeof(last_error), "%s", msg);
		last_error_time = (long)time(NULL);
	}
	if (to_syslog) {
		syslog(level, "%s", msg);
		return;
	}
	clock_gettime(CLOCK_REALTIME, &ts);
	gmtime_r(&ts.tv_sec, &tm);
	fprintf(stderr, "%02d:%02d:%02d.%03ld repd %s: %s\n", tm.tm_hour,
		tm.tm_min, tm.tm_sec, ts.tv_nsec / 1000000, level_name(level),
		msg);
}

void log_msg(int level, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vlog(level, fmt, ap, 0);
	va_end(ap);
}

int log_errno(int level, int err, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vlog(level, fmt, ap, err);
	va_end(ap);
	return err;
}
