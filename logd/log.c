/*
 * logd/log.c - one line per event on stderr (see log.h).
 *
 * Each line is formatted into one stack buffer and handed to a single
 * write(2). A line is at most LOG_LINE_MAX (= 4096, the POSIX minimum of
 * PIPE_BUF) bytes, so even when stderr is a pipe read by a supervisor the
 * kernel writes it atomically and lines from two threads never mix.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "logd/log.h"

#define LOG_LINE_MAX 4096

/* Read on every call from any thread, written rarely: an atomic int. */
static atomic_int g_level = FT_LOG_INFO;

static const char *const level_words[] = {
	[FT_LOG_ERROR] = "error",
	[FT_LOG_WARN] = "warn",
	[FT_LOG_INFO] = "info",
	[FT_LOG_DEBUG] = "debug",
};

void ft_log_set_level(int level)
{
	if (level < FT_LOG_ERROR) {
		level = FT_LOG_ERROR;
	}
	if (level > FT_LOG_DEBUG) {
		level = FT_LOG_DEBUG;
	}
	atomic_store(&g_level, level);
}

int ft_log_get_level(void)
{
	return atomic_load(&g_level);
}

int ft_log_parse_level(const char *s)
{
	if (s == NULL) {
		return -1;
	}
	for (int i = FT_LOG_ERROR; i <= FT_LOG_DEBUG; i++) {
		if (strcmp(s, level_words[i]) == 0) {
			return i;
		}
	}
	return -1;
}

/*
 * "2026-11-24T10:00:00.123Z" into buf. Returns its length, or 0 if the
 * clock or the calendar conversion failed (the line is still logged).
 */
static size_t format_time(char *buf, size_t cap)
{
	struct timespec ts;
	struct tm tm;

	if (clock_gettime(CLOCK_REALTIME, &ts) != 0) {
		return 0;
	}
	if (gmtime_r(&ts.tv_sec, &tm) == NULL) {
		return 0;
	}
	size_t n = strftime(buf, cap, "%Y-%m-%dT%H:%M:%S", &tm);
	if (n == 0) {
		return 0;
	}
	int m = snprintf(buf + n, cap - n, ".%03ldZ",
			 (long)(ts.tv_nsec / 1000000));
	if (m < 0 || (size_t)m >= cap - n) {
		return 0;
	}
	return n + (size_t)m;
}

/*
 * Write all of buf to stderr. A failure is dropped on purpose: there is
 * nowhere left to report that the log itself cannot be written.
 */
static void write_all_stderr(const char *buf, size_t len)
{
	while (len > 0) {
		ssize_t w = write(STDERR_FILENO, buf, len);
		if (w < 0) {
			if (errno == EINTR) {
				continue;
			}
			return;
		}
		if (w == 0) {
			return;
		}
		buf += (size_t)w;
		len -= (size_t)w;
	}
}

void ft_log(int level, const char *fmt, ...)
{
	char line[LOG_LINE_MAX];
	char ts[64];
	size_t pos;
	int saved_errno = errno; /* callers log, then still look at errno */

	if (level > ft_log_get_level()) {
		return;
	}
	if (level < FT_LOG_ERROR) {
		level = FT_LOG_ERROR;
	}
	if (level > FT_LOG_DEBUG) {
		level = FT_LOG_DEBUG;
	}
	if (format_time(ts, sizeof ts) == 0) {
		/* Still log the event; the time is what we could not get. */
		static const char unknown[] = "0000-00-00T00:00:00.000Z";
		memcpy(ts, unknown, sizeof unknown);
	}
	int n = snprintf(line, sizeof line, "%s ftlogd[%ld]: %s: ", ts,
			 (long)getpid(), level_words[level]);
	if (n < 0 || (size_t)n >= sizeof line) {
		errno = saved_errno;
		return;
	}
	pos = (size_t)n;

	/* Leave one byte for the newline. */
	size_t room = sizeof line - pos - 1;
	va_list ap;
	va_start(ap, fmt);
	int m = vsnprintf(line + pos, room + 1, fmt, ap);
	va_end(ap);
	if (m < 0) {
		static const char bad[] = "(unformattable message)";
		memcpy(line + pos, bad, sizeof bad - 1);
		m = (int)(sizeof bad - 1);
	}
	size_t msglen = (size_t)m;
	if (msglen > room) {
		/* Truncated: mark it so a reader knows the line is cut. */
		msglen = room;
		memcpy(line + pos + room - 3, "...", 3);
	}
	/*
	 * One event, one line: a stray control character (a newline in an
	 * unsanitized argument) must not forge a second log line.
	 */
	for (size_t i = pos; i < pos + msglen; i++) {
		unsigned char c = (unsigned char)line[i];
		if ((c < 0x20 && c != '\t') || c == 0x7f) {
			line[i] = '?';
		}
	}
	pos += msglen;
	line[pos++] = '\n';
	write_all_stderr(line, pos);
	errno = saved_errno;
}

char *ft_log_sanitize(char *out, size_t cap, const void *data, size_t len)
{
	const unsigned char *p = data;

	if (out == NULL || cap == 0) {
		return out;
	}
	if (p == NULL) {
		len = 0;
	}
	size_t n = len < cap - 1 ? len : cap - 1;
	for (size_t i = 0; i < n; i++) {
		out[i] = (p[i] >= 0x20 && p[i] < 0x7f) ? (char)p[i] : '?';
	}
	out[n] = '\0';
	return out;
}
