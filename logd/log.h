/*
 * logd/log.h - one line per event on stderr (internal).
 *
 * Format: "2026-11-24T10:00:00.123Z ftlogd[pid]: LEVEL: message\n",
 * written with one write(2) so lines from two threads never interleave.
 * Messages never contain secrets (keys, seeds) and control characters in
 * arguments taken from the network are escaped by the caller via
 * ft_log_sanitize.
 */
#ifndef FTLOG_LOGD_LOG_H
#define FTLOG_LOGD_LOG_H

#include <stddef.h>

enum ft_log_level {
	FT_LOG_ERROR = 0,
	FT_LOG_WARN = 1,
	FT_LOG_INFO = 2,
	FT_LOG_DEBUG = 3,
};

/* Messages above `level` are dropped. Default FT_LOG_INFO. */
void ft_log_set_level(int level);
int ft_log_get_level(void);

/* "error", "warn", "info", "debug" -> level; -1 if unknown. */
int ft_log_parse_level(const char *s);

void ft_log(int level, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

/*
 * Copy at most cap-1 bytes of untrusted (data, len) into out as printable
 * ASCII (other bytes become '?'), NUL-terminated; returns out.
 */
char *ft_log_sanitize(char *out, size_t cap, const void *data, size_t len);

#endif
