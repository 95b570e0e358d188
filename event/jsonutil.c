/*
 * event/jsonutil.c - helpers shared by ftlog's strict JSON file parsers
 * (contract in event/jsonutil.h).
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "event/jsonutil.h"

void ft_ju_set(char *buf, size_t cap, const char *fmt, ...)
{
	va_list ap;
	int n;

	if (buf == NULL || cap == 0) {
		return;
	}
	va_start(ap, fmt);
	n = vsnprintf(buf, cap, fmt, ap);
	va_end(ap);
	if (n < 0) {
		buf[0] = '\0';
		return;
	}
	for (char *c = buf; *c != '\0'; c++) {
		unsigned char u = (unsigned char)*c;

		if (u < 0x20 || u == 0x7f) {
			*c = ' ';
		}
	}
}

const char *ft_ju_quote(char out[FT_JU_QUOTE_BUF], const char *s, size_t n)
{
	size_t k = n < FT_JU_QUOTE_MAX ? n : FT_JU_QUOTE_MAX;
	size_t o = 0;

	for (size_t i = 0; i < k; i++) {
		unsigned char u = (unsigned char)s[i];

		out[o++] = (u < 0x20 || u >= 0x7f || u == '"' || u == '\\')
				   ? '?'
				   : (char)u;
	}
	if (k < n) {
		out[o++] = '.';
		out[o++] = '.';
		out[o++] = '.';
	}
	out[o] = '\0';
	return out;
}

const char *ft_ju_quotez(char out[FT_JU_QUOTE_BUF], const char *s)
{
	return ft_ju_quote(out, s, strnlen(s, FT_JU_QUOTE_MAX + 1));
}

int ft_ju_load(const uint8_t *buf, size_t len, json_t **root, int code,
	       char *err, size_t cap)
{
	json_error_t jerr;

	/* Without JSON_DECODE_ANY the text must be one object or array;
	 * jansson refuses trailing bytes (but white space) itself, and
	 * "\u0000" in strings unless JSON_ALLOW_NUL is given. */
	*root = json_loadb((const char *)buf, len, JSON_REJECT_DUPLICATES,
			   &jerr);
	if (*root != NULL) {
		return 0;
	}
	if (json_error_code(&jerr) == json_error_out_of_memory) {
		ft_ju_set(err, cap, "out of memory");
		return FT_ENOMEM;
	}
	ft_ju_set(err, cap, "json: line %d column %d: %s", jerr.line,
		  jerr.column, jerr.text);
	return code;
}

int ft_ju_check_fields(json_t *o, const char *path, const char *const *known,
		       int code, char *err, size_t cap)
{
	const char *name;
	json_t *v;

	json_object_foreach(o, name, v) {
		bool ok = false;

		for (size_t i = 0; known[i] != NULL; i++) {
			if (strcmp(name, known[i]) == 0) {
				ok = true;
				break;
			}
		}
		if (!ok) {
			char q[FT_JU_QUOTE_BUF];

			ft_ju_set(err, cap, "%s%sunknown field \"%s\"", path,
				  path[0] != '\0' ? ": " : "",
				  ft_ju_quotez(q, name));
			return code;
		}
	}
	return 0;
}

int ft_ju_get_uint(json_t *v, const char *path, uint64_t min, uint64_t max,
		   uint64_t *out, int code, char *err, size_t cap)
{
	json_int_t i;

	if (!json_is_integer(v)) {
		ft_ju_set(err, cap, "%s: must be an integer", path);
		return code;
	}
	i = json_integer_value(v);
	if (i < 0 || (uint64_t)i < min || (uint64_t)i > max) {
		ft_ju_set(err, cap,
			  "%s: %" JSON_INTEGER_FORMAT " is out of range %" PRIu64
			  "..%" PRIu64,
			  path, i, min, max);
		return code;
	}
	*out = (uint64_t)i;
	return 0;
}

int ft_ju_read_file(const char *path, size_t max, int notreg, int toobig,
		    uint8_t **buf, size_t *len, char *err, size_t cap)
{
	struct stat st;
	uint8_t *b = NULL;
	size_t got = 0, want;
	int rc = FT_EIO;
	int fd;

	*buf = NULL;
	*len = 0;
	/* O_NONBLOCK: a FIFO must not hang us before fstat refuses it. */
	fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
	if (fd < 0) {
		ft_ju_set(err, cap, "%s: cannot open: %s", path,
			  strerror(errno));
		return FT_EIO;
	}
	if (fstat(fd, &st) != 0) {
		ft_ju_set(err, cap, "%s: cannot stat: %s", path,
			  strerror(errno));
		goto out;
	}
	if (!S_ISREG(st.st_mode)) {
		ft_ju_set(err, cap, "%s: not a regular file", path);
		rc = notreg;
		goto out;
	}
	if (st.st_size < 0 || (uint64_t)st.st_size > max) {
		ft_ju_set(err, cap, "%s: larger than %zu bytes", path, max);
		rc = toobig;
		goto out;
	}
	/* One byte more than stat said, to see a file that grew meanwhile. */
	want = (size_t)st.st_size + 1;
	b = malloc(want);
	if (b == NULL) {
		ft_ju_set(err, cap, "%s: out of memory", path);
		rc = FT_ENOMEM;
		goto out;
	}
	while (got < want) {
		ssize_t r = read(fd, b + got, want - got);

		if (r < 0) {
			if (errno == EINTR) {
				continue;
			}
			ft_ju_set(err, cap, "%s: cannot read: %s", path,
				  strerror(errno));
			goto out;
		}
		if (r == 0) {
			break;
		}
		got += (size_t)r;
	}
	if (got == want) {
		ft_ju_set(err, cap, "%s: changed while being read", path);
		goto out;
	}
	*buf = b;
	*len = got;
	b = NULL;
	rc = 0;
out:
	free(b);
	close(fd); /* read only: nothing to lose */
	return rc;
}
