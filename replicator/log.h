/*
 * Daemon logging: levels from syslog.h, to stderr and, when detached, to
 * syslog. Only daemon-level code logs; pure modules return codes.
 */
#ifndef REPD_LOG_H
#define REPD_LOG_H

#include <stdbool.h>
#include <syslog.h>

/* Set the lowest level printed (LOG_INFO by default, LOG_DEBUG with -v). */
void log_set_level(int level);
/* Also send messages to syslog (daemon mode); ident is the program name. */
void log_use_syslog(const char *ident);
bool log_enabled(int level);

void log_msg(int level, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

/* Log with strerror(-err) appended and return err (a negative errno). */
int log_errno(int level, int err, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

/* The last message at LOG_ERR or worse and its time (0: none). */
const char *log_last_error(long *ret_time);

#define log_debug(...) \
	do { if (log_enabled(LOG_DEBUG)) log_msg(LOG_DEBUG, __VA_ARGS__); } while (0)

#endif /* REPD_LOG_H */
