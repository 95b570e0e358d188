/*
 * logd/config.c - ftlogd settings from a config file and from flags (see
 * config.h for the syntax and the table of settings).
 *
 * Every setting is described once in `settings` below: its name, its type,
 * where it lives in ft_logd_config and its range. Flags and the file both
 * go through ft_config_set, so they accept exactly the same values.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <ftlog/note.h>

#include "logd/config.h"
#include "logd/log.h"

/* The config file is read whole; anything longer is an error. */
#define CONFIG_FILE_MAX 65536

#define KIB ((uint64_t)1 << 10)
#define MIB ((uint64_t)1 << 20)
#define GIB ((uint64_t)1 << 30)
#define TIB ((uint64_t)1 << 40)

#define SEC ((uint64_t)1000)
#define MINUTE ((uint64_t)60 * SEC)
#define HOUR ((uint64_t)60 * MINUTE)

#define DEFAULT_LISTEN "127.0.0.1:8080"

enum setting_type {
	T_PATH,     /* non-empty string, the rest of the line */
	T_STRING,   /* non-empty string */
	T_LISTEN,   /* host:port, checked like ft_config_listen */
	T_ORIGIN,   /* a valid note key name */
	T_LEVEL,    /* error|warn|info|debug */
	T_DURATION, /* uint64_t milliseconds */
	T_SIZE,     /* uint64_t bytes */
	T_COUNT,    /* uint64_t */
};

typedef struct setting {
	const char *name;
	enum setting_type type;
	size_t off; /* offsetof the field in ft_logd_config */
	uint64_t min, max;
	const char *range; /* human form of [min, max] for messages */
} setting;

#define OFF(f) offsetof(ft_logd_config, f)

static const setting settings[] = {
	{"data", T_PATH, OFF(data_dir), 0, 0, NULL},
	{"listen", T_LISTEN, OFF(listen), 0, 0, NULL},
	{"tiles-dir", T_PATH, OFF(tiles_dir), 0, 0, NULL},
	{"ready-file", T_PATH, OFF(ready_file), 0, 0, NULL},
	{"policy", T_PATH, OFF(policy), 0, 0, NULL},
	{"log-level", T_LEVEL, OFF(log_level), 0, 0, NULL},
	{"batch-interval", T_DURATION, OFF(batch_interval_ms), 1, 60 * SEC,
	 "1ms..60s"},
	{"batch-size", T_COUNT, OFF(batch_max), 1, MIB, "1..1048576"},
	{"queue-size", T_COUNT, OFF(queue_max), 1, 16 * MIB, "1..16777216"},
	{"queue-bytes", T_SIZE, OFF(queue_bytes_max), 64 * KIB, 64 * GIB,
	 "64K..64G"},
	{"max-connections", T_COUNT, OFF(max_connections), 1, MIB,
	 "1..1048576"},
	{"header-timeout", T_DURATION, OFF(header_timeout_ms), 1, HOUR,
	 "1ms..60m"},
	{"request-timeout", T_DURATION, OFF(request_timeout_ms), 1, HOUR,
	 "1ms..60m"},
	{"idle-timeout", T_DURATION, OFF(idle_timeout_ms), 1, HOUR,
	 "1ms..60m"},
	{"write-timeout", T_DURATION, OFF(write_timeout_ms), 1, HOUR,
	 "1ms..60m"},
	{"max-header-bytes", T_SIZE, OFF(max_header_bytes), KIB, MIB,
	 "1K..1M"},
	{"max-body-bytes", T_SIZE, OFF(max_body_bytes), 1, 65535, "1..65535"},
	{"map-size", T_SIZE, OFF(map_size), MIB, TIB, "1M..1T"},
	{"health-max-age", T_DURATION, OFF(health_max_age_ms), 1, 24 * HOUR,
	 "1ms..1440m"},
	{"witnesses", T_PATH, OFF(witnesses), 0, 0, NULL},
	{"witness-quorum", T_COUNT, OFF(witness_quorum), 0, 32, "0..32"},
	{"witness-timeout", T_DURATION, OFF(witness_timeout_ms), 100,
	 5 * MINUTE, "100ms..5m"},
	{"origin", T_ORIGIN, OFF(origin), 0, 0, NULL},
};

#define NSETTINGS (sizeof settings / sizeof settings[0])

static const setting *find_setting(const char *key)
{
	if (key == NULL) {
		return NULL;
	}
	for (size_t i = 0; i < NSETTINGS; i++) {
		if (strcmp(settings[i].name, key) == 0) {
			return &settings[i];
		}
	}
	return NULL;
}

/* snprintf into err if there is one; truncation only shortens a message. */
__attribute__((format(printf, 3, 4))) static void
set_err(char *err, size_t errcap, const char *fmt, ...)
{
	va_list ap;

	if (err == NULL || errcap == 0) {
		return;
	}
	va_start(ap, fmt);
	int n = vsnprintf(err, errcap, fmt, ap);
	va_end(ap);
	if (n < 0) {
		err[0] = '\0';
	}
}

void ft_config_defaults(ft_logd_config *c)
{
	memset(c, 0, sizeof *c);
	c->log_level = FT_LOG_INFO;
	c->batch_interval_ms = 500;
	c->batch_max = 4096;
	c->queue_max = 65536;
	c->queue_bytes_max = 256 * MIB;
	c->max_connections = 1024;
	c->header_timeout_ms = 10 * SEC;
	c->request_timeout_ms = 30 * SEC;
	c->idle_timeout_ms = 60 * SEC;
	c->write_timeout_ms = 30 * SEC;
	c->max_header_bytes = 8 * KIB;
	c->max_body_bytes = 65535;
	c->map_size = 64 * GIB;
	c->health_max_age_ms = 10 * SEC;
	c->witness_quorum = 0;
	c->witness_timeout_ms = 5 * SEC;
}

static char **string_field(ft_logd_config *c, const setting *s)
{
	return (char **)(void *)((char *)c + s->off);
}

static uint64_t *u64_field(ft_logd_config *c, const setting *s)
{
	return (uint64_t *)(void *)((char *)c + s->off);
}

static int is_string_type(enum setting_type t)
{
	switch (t) {
	case T_PATH:
	case T_STRING:
	case T_LISTEN:
	case T_ORIGIN:
		return 1;
	case T_LEVEL:
	case T_DURATION:
	case T_SIZE:
	case T_COUNT:
		return 0;
	default:
		return 0;
	}
}

void ft_config_free(ft_logd_config *c)
{
	if (c == NULL) {
		return;
	}
	for (size_t i = 0; i < NSETTINGS; i++) {
		if (is_string_type(settings[i].type)) {
			char **p = string_field(c, &settings[i]);
			free(*p);
			*p = NULL;
		}
	}
}

int ft_config_known(const char *key)
{
	return find_setting(key) != NULL;
}

/*
 * A canonical decimal prefix of s (no sign, no leading zeros but "0"):
 * *end past the digits. -1 on no digits, a leading zero or overflow.
 */
static int parse_digits(const char *s, uint64_t *out, const char **end)
{
	uint64_t v = 0;
	size_t i = 0;

	while (s[i] >= '0' && s[i] <= '9') {
		unsigned d = (unsigned)(s[i] - '0');
		if (v > (UINT64_MAX - d) / 10) {
			return -1;
		}
		v = v * 10 + d;
		i++;
	}
	if (i == 0 || (s[0] == '0' && i > 1)) {
		return -1;
	}
	*out = v;
	*end = s + i;
	return 0;
}

int ft_config_parse_duration_ms(const char *s, uint64_t *out)
{
	uint64_t v, mult;
	const char *unit;

	if (s == NULL || out == NULL || parse_digits(s, &v, &unit) != 0) {
		return -1;
	}
	if (strcmp(unit, "ms") == 0) {
		mult = 1;
	} else if (strcmp(unit, "s") == 0) {
		mult = SEC;
	} else if (strcmp(unit, "m") == 0) {
		mult = MINUTE;
	} else {
		return -1; /* the unit is required: "500" is ambiguous */
	}
	if (v > UINT64_MAX / mult) {
		return -1;
	}
	*out = v * mult;
	return 0;
}

int ft_config_parse_size(const char *s, uint64_t *out)
{
	uint64_t v, mult;
	const char *unit;

	if (s == NULL || out == NULL || parse_digits(s, &v, &unit) != 0) {
		return -1;
	}
	if (unit[0] == '\0') {
		mult = 1;
	} else if (unit[1] != '\0') {
		return -1;
	} else {
		switch (unit[0]) {
		case 'K':
			mult = KIB;
			break;
		case 'M':
			mult = MIB;
			break;
		case 'G':
			mult = GIB;
			break;
		case 'T':
			mult = TIB;
			break;
		default:
			return -1;
		}
	}
	if (v > UINT64_MAX / mult) {
		return -1;
	}
	*out = v * mult;
	return 0;
}

static int parse_count(const char *s, uint64_t *out)
{
	const char *end;
	uint64_t v;

	if (parse_digits(s, &v, &end) != 0 || *end != '\0') {
		return -1;
	}
	*out = v;
	return 0;
}

/*
 * Split "a.b.c.d:port" or "[v6]:port" (IP literals only: the server binds
 * exactly what it is told, no name lookups). 0 or -1 with a reason.
 */
static int split_listen(const char *s, char *host, size_t hostcap, int *port,
			char *err, size_t errcap)
{
	const char *h, *colon;
	size_t hlen;
	int v6 = 0;

	if (s[0] == '[') {
		const char *close = strchr(s, ']');
		if (close == NULL) {
			set_err(err, errcap, "listen: missing ']' after IPv6 "
				"address");
			return -1;
		}
		h = s + 1;
		hlen = (size_t)(close - h);
		colon = close + 1;
		if (*colon != ':') {
			set_err(err, errcap, "listen: expected ':PORT' after "
				"']'");
			return -1;
		}
		v6 = 1;
	} else {
		colon = strchr(s, ':');
		if (colon == NULL) {
			set_err(err, errcap,
				"listen: expected HOST:PORT like %s",
				DEFAULT_LISTEN);
			return -1;
		}
		if (strchr(colon + 1, ':') != NULL) {
			set_err(err, errcap, "listen: IPv6 addresses need "
				"brackets, like [::1]:8080");
			return -1;
		}
		h = s;
		hlen = (size_t)(colon - s);
	}
	if (hlen == 0) {
		set_err(err, errcap, "listen: empty host");
		return -1;
	}

	/* Port: 0..65535, canonical decimal, nothing after it. */
	const char *p = colon + 1;
	const char *end;
	uint64_t pv;
	if (parse_digits(p, &pv, &end) != 0 || *end != '\0' || pv > 65535) {
		set_err(err, errcap, "listen: port must be a decimal number "
			"0..65535 without sign or leading zeros");
		return -1;
	}

	char buf[64];
	if (hlen >= sizeof buf || hlen >= hostcap) {
		set_err(err, errcap, "listen: host too long");
		return -1;
	}
	memcpy(buf, h, hlen);
	buf[hlen] = '\0';
	unsigned char addr[16];
	if (inet_pton(v6 ? AF_INET6 : AF_INET, buf, addr) != 1) {
		set_err(err, errcap, "listen: \"%s\" is not an %s address", buf,
			v6 ? "IPv6" : "IPv4");
		return -1;
	}
	if (host != NULL) {
		memcpy(host, buf, hlen + 1);
	}
	if (port != NULL) {
		*port = (int)pv;
	}
	return 0;
}

int ft_config_listen(const ft_logd_config *c, char *host, size_t hostcap,
		     int *port, char *err, size_t errcap)
{
	/* NULL means not configured: the documented default address. */
	const char *s = c->listen != NULL ? c->listen : DEFAULT_LISTEN;

	return split_listen(s, host, hostcap, port, err, errcap);
}

/* Check a string value by type; 0 or -1 with a reason. */
static int check_string(const setting *st, const char *value, char *err,
			size_t errcap)
{
	char host[64];
	int port;

	if (value[0] == '\0') {
		set_err(err, errcap, "%s: empty value", st->name);
		return -1;
	}
	switch (st->type) {
	case T_LISTEN:
		return split_listen(value, host, sizeof host, &port, err,
				    errcap);
	case T_ORIGIN:
		if (!ft_key_name_valid(value, strlen(value))) {
			set_err(err, errcap, "%s: not a valid log name (no "
				"spaces, '+' or control characters, at most "
				"%d bytes)", st->name, FT_KEY_NAME_MAX);
			return -1;
		}
		return 0;
	case T_PATH:
	case T_STRING:
		return 0;
	case T_LEVEL:
	case T_DURATION:
	case T_SIZE:
	case T_COUNT:
	default:
		set_err(err, errcap, "%s: internal error", st->name);
		return -1;
	}
}

int ft_config_set(ft_logd_config *c, const char *key, const char *value,
		  char *err, size_t errcap)
{
	const setting *st = find_setting(key);
	uint64_t v = 0;
	int r;

	if (st == NULL) {
		char safe[64];
		set_err(err, errcap, "unknown setting \"%s\"",
			ft_log_sanitize(safe, sizeof safe, key,
					key != NULL ? strlen(key) : 0));
		return -1;
	}
	if (value == NULL) {
		set_err(err, errcap, "%s: missing value", st->name);
		return -1;
	}

	switch (st->type) {
	case T_PATH:
	case T_STRING:
	case T_LISTEN:
	case T_ORIGIN: {
		if (check_string(st, value, err, errcap) != 0) {
			return -1;
		}
		char *dup = strdup(value);
		if (dup == NULL) {
			set_err(err, errcap, "%s: out of memory", st->name);
			return -1;
		}
		char **field = string_field(c, st);
		free(*field);
		*field = dup;
		return 0;
	}
	case T_LEVEL:
		r = ft_log_parse_level(value);
		if (r < 0) {
			set_err(err, errcap, "%s: expected error, warn, info "
				"or debug", st->name);
			return -1;
		}
		c->log_level = r;
		return 0;
	case T_DURATION:
		if (ft_config_parse_duration_ms(value, &v) != 0) {
			set_err(err, errcap, "%s: expected a duration like "
				"500ms, 10s or 5m", st->name);
			return -1;
		}
		break;
	case T_SIZE:
		if (ft_config_parse_size(value, &v) != 0) {
			set_err(err, errcap, "%s: expected a size like 65536, "
				"64K or 256M", st->name);
			return -1;
		}
		break;
	case T_COUNT:
		if (parse_count(value, &v) != 0) {
			set_err(err, errcap, "%s: expected a decimal number",
				st->name);
			return -1;
		}
		break;
	default:
		set_err(err, errcap, "%s: internal error", st->name);
		return -1;
	}
	if (v < st->min || v > st->max) {
		set_err(err, errcap, "%s: out of range (%s)", st->name,
			st->range);
		return -1;
	}
	*u64_field(c, st) = v;
	return 0;
}

/* ---- The config file. */

static int in_list(const char *key, const char *const *list)
{
	if (list == NULL) {
		return 0;
	}
	for (size_t i = 0; list[i] != NULL; i++) {
		if (strcmp(list[i], key) == 0) {
			return 1;
		}
	}
	return 0;
}

/* Space, tab or CR (so CRLF files work): what is trimmed around keys. */
static int is_blank(char ch)
{
	return ch == ' ' || ch == '\t' || ch == '\r';
}

/*
 * Length of the valid UTF-8 sequence at s (at most n bytes): 1..4, or 0
 * if it is invalid (overlong, surrogate, above U+10FFFF, truncated).
 */
static size_t utf8_len(const unsigned char *s, size_t n)
{
	uint32_t cp;
	size_t len;

	if (s[0] < 0x80) {
		return 1;
	} else if (s[0] >= 0xc2 && s[0] <= 0xdf) {
		len = 2;
		cp = s[0] & 0x1fu;
	} else if (s[0] >= 0xe0 && s[0] <= 0xef) {
		len = 3;
		cp = s[0] & 0x0fu;
	} else if (s[0] >= 0xf0 && s[0] <= 0xf4) {
		len = 4;
		cp = s[0] & 0x07u;
	} else {
		return 0;
	}
	if (n < len) {
		return 0;
	}
	for (size_t i = 1; i < len; i++) {
		if ((s[i] & 0xc0) != 0x80) {
			return 0;
		}
		cp = (cp << 6) | (s[i] & 0x3fu);
	}
	if ((len == 3 && cp < 0x800) || (len == 4 && cp < 0x10000) ||
	    cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff)) {
		return 0;
	}
	return len;
}

/* Deep copy of the string fields, so a failed load changes nothing. */
static int config_clone(const ft_logd_config *src, ft_logd_config *dst)
{
	*dst = *src;
	for (size_t i = 0; i < NSETTINGS; i++) {
		if (is_string_type(settings[i].type)) {
			*string_field(dst, &settings[i]) = NULL;
		}
	}
	for (size_t i = 0; i < NSETTINGS; i++) {
		if (!is_string_type(settings[i].type)) {
			continue;
		}
		const char *s = *(char *const *)(const void *)((const char *)src +
							     settings[i].off);
		if (s == NULL) {
			continue;
		}
		char *d = strdup(s);
		if (d == NULL) {
			ft_config_free(dst);
			return -1;
		}
		*string_field(dst, &settings[i]) = d;
	}
	return 0;
}

/* Read the whole file (at most CONFIG_FILE_MAX bytes) into buf. */
static int read_config(const char *path, char *buf, size_t *len, char *err,
		       size_t errcap)
{
	struct stat st;
	size_t got = 0;
	int rc = -1;

	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		set_err(err, errcap, "%s: cannot open: %s", path,
			strerror(errno));
		return -1;
	}
	if (fstat(fd, &st) != 0) {
		set_err(err, errcap, "%s: cannot stat: %s", path,
			strerror(errno));
		goto out;
	}
	if (!S_ISREG(st.st_mode)) {
		set_err(err, errcap, "%s: not a regular file", path);
		goto out;
	}
	/* Read one byte more than allowed to tell "too big" from "full". */
	for (;;) {
		if (got > CONFIG_FILE_MAX) {
			set_err(err, errcap, "%s: larger than %d bytes", path,
				CONFIG_FILE_MAX);
			goto out;
		}
		ssize_t r = read(fd, buf + got, CONFIG_FILE_MAX + 1 - got);
		if (r < 0) {
			if (errno == EINTR) {
				continue;
			}
			set_err(err, errcap, "%s: cannot read: %s", path,
				strerror(errno));
			goto out;
		}
		if (r == 0) {
			break;
		}
		got += (size_t)r;
	}
	*len = got;
	rc = 0;
out:
	if (close(fd) != 0 && rc == 0) {
		set_err(err, errcap, "%s: cannot close: %s", path,
			strerror(errno));
		rc = -1;
	}
	return rc;
}

/* Check one line's bytes: UTF-8, no control characters but tab and CR. */
static int check_line_bytes(const char *line, size_t n)
{
	const unsigned char *u = (const unsigned char *)line;

	for (size_t i = 0; i < n;) {
		if (u[i] < 0x20 && u[i] != '\t' && u[i] != '\r') {
			return -1;
		}
		if (u[i] == 0x7f) {
			return -1;
		}
		size_t l = utf8_len(u + i, n - i);
		if (l == 0) {
			return -1;
		}
		i += l;
	}
	return 0;
}

int ft_config_load_file(ft_logd_config *c, const char *path,
			const char *const *skip, char *err, size_t errcap)
{
	ft_logd_config tmp;
	unsigned seen[NSETTINGS]; /* line of first occurrence, 0 = not yet */
	size_t len = 0;
	unsigned lineno = 0;
	int rc = -1;

	char *data = malloc(CONFIG_FILE_MAX + 1);
	if (data == NULL) {
		set_err(err, errcap, "%s: out of memory", path);
		return -1;
	}
	if (read_config(path, data, &len, err, errcap) != 0) {
		free(data);
		return -1;
	}
	if (config_clone(c, &tmp) != 0) {
		set_err(err, errcap, "%s: out of memory", path);
		free(data);
		return -1;
	}
	memset(seen, 0, sizeof seen);

	size_t pos = 0;
	while (pos < len) {
		char *line = data + pos;
		char *nl = memchr(line, '\n', len - pos);
		size_t n = nl != NULL ? (size_t)(nl - line) : len - pos;
		pos += n + (nl != NULL ? 1 : 0);
		lineno++;

		if (memchr(line, '\0', n) != NULL ||
		    check_line_bytes(line, n) != 0) {
			set_err(err, errcap, "%s:%u: control character or "
				"invalid UTF-8", path, lineno);
			goto out;
		}
		line[n] = '\0'; /* the '\n' or the spare byte at the end */

		/* Trim both ends. */
		while (is_blank(*line)) {
			line++;
		}
		char *end = line + strlen(line);
		while (end > line && is_blank(end[-1])) {
			*--end = '\0';
		}
		if (line[0] == '\0' || line[0] == '#') {
			continue;
		}

		char *eq = strchr(line, '=');
		if (eq == NULL) {
			set_err(err, errcap, "%s:%u: expected \"key = value\"",
				path, lineno);
			goto out;
		}
		char *value = eq + 1;
		char *kend = eq;
		while (kend > line && is_blank(kend[-1])) {
			kend--;
		}
		*kend = '\0';
		while (is_blank(*value)) {
			value++;
		}
		if (line[0] == '\0') {
			set_err(err, errcap, "%s:%u: missing key before '='",
				path, lineno);
			goto out;
		}

		const setting *st = find_setting(line);
		if (st == NULL) {
			char safe[64];
			set_err(err, errcap, "%s:%u: unknown key \"%s\"", path,
				lineno,
				ft_log_sanitize(safe, sizeof safe, line,
						strlen(line)));
			goto out;
		}
		size_t idx = (size_t)(st - settings);
		if (seen[idx] != 0) {
			set_err(err, errcap, "%s:%u: duplicate key \"%s\" "
				"(first set on line %u)", path, lineno,
				st->name, seen[idx]);
			goto out;
		}
		seen[idx] = lineno;
		if (in_list(st->name, skip)) {
			continue; /* given as a flag, which wins */
		}
		char why[256];
		if (ft_config_set(&tmp, st->name, value, why, sizeof why) !=
		    0) {
			set_err(err, errcap, "%s:%u: %s", path, lineno, why);
			goto out;
		}
	}
	rc = 0;
out:
	free(data);
	if (rc == 0) {
		ft_config_free(c);
		*c = tmp;
	} else {
		ft_config_free(&tmp);
	}
	return rc;
}
