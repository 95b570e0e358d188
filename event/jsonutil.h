/*
 * event/jsonutil.h - helpers shared by ftlog's strict JSON file parsers:
 * ftlogd's submission policy (logd/policy.c) and the device trust policy
 * (client/dpolicy.c). Internal: not installed, not a public API (the
 * symbols are exported from libftevent only so that both can link them).
 *
 * Every reason is one line of printable bytes; input quoted in it is cut
 * to FT_JU_QUOTE_MAX bytes of printable ASCII. Functions that fail return
 * the caller's error code (`code`), so each file format keeps its own.
 */
#ifndef FTLOG_EVENT_JSONUTIL_H
#define FTLOG_EVENT_JSONUTIL_H

#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include <ftlog/common.h>

#define FT_JU_QUOTE_MAX 40
#define FT_JU_QUOTE_BUF (FT_JU_QUOTE_MAX + 4)

/* snprintf into buf (if not NULL and cap > 0), control bytes made spaces. */
FT_API void ft_ju_set(char *buf, size_t cap, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

/* At most FT_JU_QUOTE_MAX bytes of s[0..n) as printable ASCII ('"', '\\'
 * and other bytes become '?', "..." marks a cut), into out; returns out. */
FT_API const char *ft_ju_quote(char out[FT_JU_QUOTE_BUF], const char *s,
			       size_t n);
/* The same for a NUL-terminated s. */
FT_API const char *ft_ju_quotez(char out[FT_JU_QUOTE_BUF], const char *s);

/*
 * Parse buf as one JSON object or array, duplicate keys refused, no
 * trailing bytes: 0 and *root (json_decref it), FT_ENOMEM, or `code` with
 * "json: line L column C: ..." in err.
 */
FT_WUR FT_API int ft_ju_load(const uint8_t *buf, size_t len, json_t **root,
			     int code, char *err, size_t cap);

/* `code` with "<path>: unknown field \"x\"" if object o has a field not
 * among the NULL-terminated `known` (path "" for the top level). */
FT_WUR FT_API int ft_ju_check_fields(json_t *o, const char *path,
				     const char *const *known, int code,
				     char *err, size_t cap);

/* An integer in [min, max] at path (no reals, no booleans, no negatives),
 * or `code` with the reason. */
FT_WUR FT_API int ft_ju_get_uint(json_t *v, const char *path, uint64_t min,
				 uint64_t max, uint64_t *out, int code,
				 char *err, size_t cap);

/*
 * Read a whole small file: opened O_NONBLOCK (a FIFO cannot block us),
 * refused before reading when not a regular file (`notreg`) or larger than
 * max bytes (`toobig`); FT_EIO if it cannot be opened or read, or grew
 * while being read; FT_ENOMEM. On success *buf (malloc'd, caller frees)
 * and *len. Reasons start with the path.
 */
FT_WUR FT_API int ft_ju_read_file(const char *path, size_t max, int notreg,
				  int toobig, uint8_t **buf, size_t *len,
				  char *err, size_t cap);

#endif
