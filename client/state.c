/*
 * client/state.c - the device state file: strict parser, formatter,
 * bounded load and atomic save. No allocation anywhere.
 *
 * Layout (docs/device-state.md), "\n" line endings, in this order:
 *
 *   ftlog-device-state v1
 *   checkpoint <size> <base64 root>           optional
 *   security-version <product> <n>            0..32, sorted, distinct
 *   checksum <64 lowercase hex>               SHA-256 of all bytes above
 *
 * There is exactly one valid encoding of every state, so format(parse(x))
 * == x for every accepted x; the fuzz target checks that.
 */
#include "client/state.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <nettle/sha2.h>

#define HEADER "ftlog-device-state v1"
#define HEADER_PREFIX "ftlog-device-state "
#define KW_CHECKPOINT "checkpoint "
#define KW_SV "security-version "
#define KW_CHECKSUM "checksum "
#define ROOT_B64_LEN 44 /* base64 of 32 bytes, with one '=' */
#define U63_MAX ((uint64_t)INT64_MAX)

#ifndef PATH_MAX
#define PATH_MAX 4096
#endif

static void seterr(char *err, size_t cap, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static void seterr(char *err, size_t cap, const char *fmt, ...)
{
	va_list ap;

	if (err == NULL || cap == 0) {
		return;
	}
	va_start(ap, fmt);
	(void)vsnprintf(err, cap, fmt, ap);
	va_end(ap);
}

/* ---- Product names: the release predicate rule. */

static int product_char(uint8_t c)
{
	return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') ||
	       (c >= '0' && c <= '9') || c == '.' || c == '_' || c == '-';
}

static int product_valid(const char *p, size_t n)
{
	if (n == 0 || n > FT_STATE_PRODUCT_MAX) {
		return 0;
	}
	for (size_t i = 0; i < n; i++) {
		if (!product_char((uint8_t)p[i])) {
			return 0;
		}
	}
	return 1;
}

/* Length of a caller's NUL-terminated name, or SIZE_MAX if longer than
 * any valid name (never reads more than FT_STATE_PRODUCT_MAX + 1 bytes). */
static size_t name_len(const char *p)
{
	size_t n = strnlen(p, FT_STATE_PRODUCT_MAX + 1);

	return n > FT_STATE_PRODUCT_MAX ? SIZE_MAX : n;
}

/* Bytewise order: memcmp on the common prefix, then the shorter first. */
static int name_cmp(const char *a, size_t an, const char *b, size_t bn)
{
	int c = memcmp(a, b, an < bn ? an : bn);

	if (c != 0) {
		return c;
	}
	return an < bn ? -1 : (an > bn ? 1 : 0);
}

/* 1 if st satisfies every invariant of ft_state (state.h). */
static int state_valid(const ft_state *st)
{
	if (st->has_checkpoint && st->size > U63_MAX) {
		return 0;
	}
	if (st->n > FT_STATE_MAX_PRODUCTS) {
		return 0;
	}
	for (size_t i = 0; i < st->n; i++) {
		const char *p = st->sv[i].product;
		size_t n = strnlen(p, sizeof st->sv[i].product);

		if (n == sizeof st->sv[i].product || !product_valid(p, n) ||
		    st->sv[i].sv > U63_MAX) {
			return 0;
		}
		if (i > 0) {
			const char *q = st->sv[i - 1].product;

			if (name_cmp(q, strlen(q), p, n) >= 0) {
				return 0;
			}
		}
	}
	return 1;
}

void ft_state_init(ft_state *st)
{
	memset(st, 0, sizeof *st);
}

/* ---- Parsing. */

static int hexval(uint8_t c)
{
	if (c >= '0' && c <= '9') {
		return c - '0';
	}
	if (c >= 'a' && c <= 'f') {
		return c - 'a' + 10;
	}
	return -1; /* uppercase is not canonical */
}

static int has_prefix(const uint8_t *l, size_t n, const char *kw)
{
	size_t k = strlen(kw);

	return n >= k && memcmp(l, kw, k) == 0;
}

/* Split "A B" (exactly one space, both non-empty) at the only space that
 * matters: the first. 0 or -1. */
static int split2(const uint8_t *l, size_t n, size_t *an)
{
	const uint8_t *sp = memchr(l, ' ', n);

	if (sp == NULL) {
		return -1;
	}
	*an = (size_t)(sp - l);
	if (*an == 0 || *an + 1 == n) {
		return -1;
	}
	return 0;
}

static int parse_checkpoint(const uint8_t *l, size_t n, ft_state *st,
			    unsigned line, char *err, size_t cap)
{
	size_t an;
	size_t rlen;
	uint8_t root[FT_HASH_LEN + 3];

	if (split2(l, n, &an) != 0) {
		seterr(err, cap, "line %u: checkpoint: expected "
		       "\"checkpoint <size> <base64 root>\"", line);
		return FT_ESTATE_CORRUPT;
	}
	if (ft_parse_u63((const char *)l, an, &st->size) != 0) {
		seterr(err, cap, "line %u: checkpoint: bad tree size", line);
		return FT_ESTATE_CORRUPT;
	}
	if (n - an - 1 != ROOT_B64_LEN ||
	    ft_b64_decode((const char *)l + an + 1, ROOT_B64_LEN, root,
			  sizeof root, &rlen) != 0 ||
	    rlen != FT_HASH_LEN) {
		seterr(err, cap, "line %u: checkpoint: root is not canonical "
		       "base64 of 32 bytes", line);
		return FT_ESTATE_CORRUPT;
	}
	memcpy(st->root.b, root, FT_HASH_LEN);
	st->has_checkpoint = 1;
	return 0;
}

static int parse_sv(const uint8_t *l, size_t n, ft_state *st, unsigned line,
		    char *err, size_t cap)
{
	size_t an;
	uint64_t v;

	if (split2(l, n, &an) != 0) {
		seterr(err, cap, "line %u: security-version: expected "
		       "\"security-version <product> <n>\"", line);
		return FT_ESTATE_CORRUPT;
	}
	if (!product_valid((const char *)l, an)) {
		seterr(err, cap, "line %u: security-version: invalid product "
		       "name", line);
		return FT_ESTATE_CORRUPT;
	}
	if (ft_parse_u63((const char *)l + an + 1, n - an - 1, &v) != 0) {
		seterr(err, cap, "line %u: security-version: bad number", line);
		return FT_ESTATE_CORRUPT;
	}
	if (st->n > 0) {
		const char *prev = st->sv[st->n - 1].product;

		if (name_cmp(prev, strlen(prev), (const char *)l, an) >= 0) {
			seterr(err, cap, "line %u: security-version: products "
			       "not sorted or duplicated", line);
			return FT_ESTATE_CORRUPT;
		}
	}
	if (st->n == FT_STATE_MAX_PRODUCTS) {
		seterr(err, cap, "line %u: more than %d products", line,
		       FT_STATE_MAX_PRODUCTS);
		return FT_ESTATE_CORRUPT;
	}
	memcpy(st->sv[st->n].product, l, an);
	st->sv[st->n].product[an] = '\0';
	st->sv[st->n].sv = v;
	st->n++;
	return 0;
}

static int parse_checksum(const uint8_t *l, size_t n, const uint8_t *body,
			  size_t blen, unsigned line, char *err, size_t cap)
{
	uint8_t want[SHA256_DIGEST_SIZE];
	uint8_t got[SHA256_DIGEST_SIZE];
	struct sha256_ctx c;

	if (n != 2 * SHA256_DIGEST_SIZE) {
		seterr(err, cap, "line %u: checksum: expected 64 lowercase hex "
		       "digits", line);
		return FT_ESTATE_CORRUPT;
	}
	for (size_t i = 0; i < SHA256_DIGEST_SIZE; i++) {
		int hi = hexval(l[2 * i]);
		int lo = hexval(l[2 * i + 1]);

		if (hi < 0 || lo < 0) {
			seterr(err, cap, "line %u: checksum: expected 64 "
			       "lowercase hex digits", line);
			return FT_ESTATE_CORRUPT;
		}
		want[i] = (uint8_t)(hi << 4 | lo);
	}
	sha256_init(&c);
	sha256_update(&c, blen, body);
	sha256_digest(&c, sizeof got, got);
	if (memcmp(want, got, sizeof got) != 0) {
		seterr(err, cap, "checksum mismatch: the file is corrupted or "
		       "truncated");
		return FT_ESTATE_CORRUPT;
	}
	return 0;
}

int ft_state_parse(const uint8_t *buf, size_t len, ft_state *out, char *err,
		   size_t cap)
{
	ft_state st;
	size_t pos = 0;
	unsigned line = 0;
	int rc;

	if (out == NULL || (buf == NULL && len > 0)) {
		seterr(err, cap, "state: invalid argument");
		return FT_EINVAL;
	}
	if (len > FT_STATE_FILE_MAX) {
		seterr(err, cap, "state file larger than %d bytes",
		       FT_STATE_FILE_MAX);
		return FT_ETOOBIG;
	}
	ft_state_init(&st);
	/* Each line: find its '\n', then dispatch on where we are. The
	 * states only move forward: header, checkpoint?, sv*, checksum. */
	enum { S_HEADER, S_CHECKPOINT, S_SV } where = S_HEADER;
	for (;;) {
		const uint8_t *l = buf + pos;
		const uint8_t *nl;
		size_t n;

		line++;
		if (pos == len) {
			seterr(err, cap, "line %u: missing checksum line "
			       "(truncated?)", line);
			return FT_ESTATE_CORRUPT;
		}
		nl = memchr(l, '\n', len - pos);
		if (nl == NULL) {
			seterr(err, cap, "line %u: no final newline "
			       "(truncated?)", line);
			return FT_ESTATE_CORRUPT;
		}
		n = (size_t)(nl - l);
		if (memchr(l, '\r', n) != NULL) {
			seterr(err, cap, "line %u: carriage return (CRLF line "
			       "endings are not allowed)", line);
			return FT_ESTATE_CORRUPT;
		}
		if (where == S_HEADER) {
			if (n == strlen(HEADER) && memcmp(l, HEADER, n) == 0) {
				where = S_CHECKPOINT;
			} else if (has_prefix(l, n, HEADER_PREFIX)) {
				seterr(err, cap, "line 1: unsupported state "
				       "format version");
				return FT_ESTATE_CORRUPT;
			} else {
				seterr(err, cap, "line 1: not a device state "
				       "file (expected \"" HEADER "\")");
				return FT_ESTATE_CORRUPT;
			}
		} else if (has_prefix(l, n, KW_CHECKPOINT)) {
			size_t k = strlen(KW_CHECKPOINT);

			if (where != S_CHECKPOINT) {
				seterr(err, cap, "line %u: checkpoint line out "
				       "of place", line);
				return FT_ESTATE_CORRUPT;
			}
			rc = parse_checkpoint(l + k, n - k, &st, line, err, cap);
			if (rc != 0) {
				return rc;
			}
			where = S_SV;
		} else if (has_prefix(l, n, KW_SV)) {
			size_t k = strlen(KW_SV);

			rc = parse_sv(l + k, n - k, &st, line, err, cap);
			if (rc != 0) {
				return rc;
			}
			where = S_SV;
		} else if (has_prefix(l, n, KW_CHECKSUM)) {
			size_t k = strlen(KW_CHECKSUM);

			if (pos + n + 1 != len) {
				seterr(err, cap, "line %u: bytes after the "
				       "checksum line", line);
				return FT_ESTATE_CORRUPT;
			}
			rc = parse_checksum(l + k, n - k, buf, pos, line, err,
					    cap);
			if (rc != 0) {
				return rc;
			}
			break;
		} else {
			seterr(err, cap, "line %u: unknown line", line);
			return FT_ESTATE_CORRUPT;
		}
		pos += n + 1;
	}
	memcpy(out, &st, sizeof st);
	return 0;
}

/* ---- Formatting: a bounded writer that only counts when buf is NULL. */

typedef struct wbuf {
	uint8_t *buf;
	size_t pos;
} wbuf;

static void put(wbuf *w, const void *p, size_t n)
{
	if (w->buf != NULL) {
		memcpy(w->buf + w->pos, p, n);
	}
	w->pos += n;
}

static void put_str(wbuf *w, const char *s)
{
	put(w, s, strlen(s));
}

static void put_u63(wbuf *w, uint64_t v)
{
	char d[20];
	size_t i = sizeof d;

	do {
		d[--i] = (char)('0' + v % 10);
		v /= 10;
	} while (v != 0);
	put(w, d + i, sizeof d - i);
}

/* The body (everything before the checksum line). Returns 0 or -1. */
static int put_body(wbuf *w, const ft_state *st)
{
	put_str(w, HEADER "\n");
	if (st->has_checkpoint) {
		char b64[ROOT_B64_LEN + 1];
		size_t bl;

		if (ft_b64_encode(st->root.b, FT_HASH_LEN, b64, sizeof b64,
				  &bl) != 0 ||
		    bl != ROOT_B64_LEN) {
			return -1;
		}
		put_str(w, KW_CHECKPOINT);
		put_u63(w, st->size);
		put_str(w, " ");
		put(w, b64, bl);
		put_str(w, "\n");
	}
	for (size_t i = 0; i < st->n; i++) {
		put_str(w, KW_SV);
		put_str(w, st->sv[i].product);
		put_str(w, " ");
		put_u63(w, st->sv[i].sv);
		put_str(w, "\n");
	}
	return 0;
}

int ft_state_format(const ft_state *st, uint8_t *buf, size_t cap,
		    size_t *len)
{
	static const char hex[] = "0123456789abcdef";
	wbuf w = { NULL, 0 };
	size_t total;
	uint8_t dig[SHA256_DIGEST_SIZE];
	char line[sizeof KW_CHECKSUM - 1 + 2 * SHA256_DIGEST_SIZE + 1];
	struct sha256_ctx c;

	if (st == NULL || buf == NULL || len == NULL || !state_valid(st)) {
		return FT_EINVAL;
	}
	if (put_body(&w, st) != 0) {
		return FT_EINVAL;
	}
	total = w.pos + strlen(KW_CHECKSUM) + 2 * SHA256_DIGEST_SIZE + 1;
	if (total > cap) {
		return FT_EBUFSIZE;
	}
	w.buf = buf;
	w.pos = 0;
	if (put_body(&w, st) != 0) {
		return FT_EINVAL;
	}
	sha256_init(&c);
	sha256_update(&c, w.pos, buf);
	sha256_digest(&c, sizeof dig, dig);
	memcpy(line, KW_CHECKSUM, strlen(KW_CHECKSUM));
	for (size_t i = 0; i < sizeof dig; i++) {
		line[strlen(KW_CHECKSUM) + 2 * i] = hex[dig[i] >> 4];
		line[strlen(KW_CHECKSUM) + 2 * i + 1] = hex[dig[i] & 15];
	}
	line[sizeof line - 1] = '\n';
	put(&w, line, sizeof line);
	/* The two passes must agree: the count bounded the writes. */
	if (w.pos != total) {
		return FT_EINVAL;
	}
	*len = total;
	return 0;
}

/* ---- Load. */

int ft_state_load(const char *path, ft_state *out, char *err, size_t cap)
{
	uint8_t buf[FT_STATE_FILE_MAX + 1];
	struct stat sb;
	size_t len = 0;
	int fd;
	int rc;

	if (path == NULL || path[0] == '\0' || out == NULL) {
		seterr(err, cap, "state: invalid argument");
		return FT_EINVAL;
	}
	fd = open(path, O_RDONLY | O_NONBLOCK | O_CLOEXEC | O_NOCTTY);
	if (fd < 0) {
		if (errno == ENOENT) {
			seterr(err, cap, "state file %s does not exist", path);
			return FT_ENOTFOUND;
		}
		seterr(err, cap, "open %s: %s", path, strerror(errno));
		return FT_EIO;
	}
	if (fstat(fd, &sb) != 0) {
		seterr(err, cap, "fstat %s: %s", path, strerror(errno));
		rc = FT_EIO;
		goto out;
	}
	if (!S_ISREG(sb.st_mode)) {
		seterr(err, cap, "state file %s is not a regular file", path);
		rc = FT_EIO;
		goto out;
	}
	if (sb.st_size > FT_STATE_FILE_MAX) {
		seterr(err, cap, "state file %s is larger than %d bytes", path,
		       FT_STATE_FILE_MAX);
		rc = FT_ETOOBIG;
		goto out;
	}
	/* Read to EOF with one spare byte, so a file that grew since the
	 * fstat is still caught. */
	while (len < sizeof buf) {
		ssize_t r = read(fd, buf + len, sizeof buf - len);

		if (r < 0) {
			if (errno == EINTR) {
				continue;
			}
			seterr(err, cap, "read %s: %s", path, strerror(errno));
			rc = FT_EIO;
			goto out;
		}
		if (r == 0) {
			break;
		}
		len += (size_t)r;
	}
	if (len > FT_STATE_FILE_MAX) {
		seterr(err, cap, "state file %s is larger than %d bytes", path,
		       FT_STATE_FILE_MAX);
		rc = FT_ETOOBIG;
		goto out;
	}
	rc = ft_state_parse(buf, len, out, err, cap);
out:
	(void)close(fd); /* read-only: nothing to lose */
	return rc;
}

/* ---- Save. */

static int write_all(int fd, const uint8_t *p, size_t n)
{
	while (n > 0) {
		ssize_t w = write(fd, p, n);

		if (w < 0) {
			if (errno == EINTR) {
				continue;
			}
			return -1;
		}
		p += w;
		n -= (size_t)w;
	}
	return 0;
}

/* fsync the directory holding path, so the rename survives power loss. */
static int fsync_parent(const char *path, char *err, size_t cap)
{
	char dir[PATH_MAX];
	const char *slash = strrchr(path, '/');
	size_t n;
	int fd;

	if (slash == NULL) {
		memcpy(dir, ".", 2);
	} else {
		n = slash == path ? 1 : (size_t)(slash - path);
		memcpy(dir, path, n); /* n < strlen(path) < PATH_MAX */
		dir[n] = '\0';
	}
	fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0) {
		seterr(err, cap, "open directory %s: %s", dir, strerror(errno));
		return FT_EIO;
	}
	if (fsync(fd) != 0) {
		seterr(err, cap, "fsync directory %s: %s", dir,
		       strerror(errno));
		(void)close(fd); /* already failing */
		return FT_EIO;
	}
	if (close(fd) != 0) {
		seterr(err, cap, "close directory %s: %s", dir,
		       strerror(errno));
		return FT_EIO;
	}
	return 0;
}

int ft_state_save(const char *path, const ft_state *st, char *err,
		  size_t cap)
{
	uint8_t buf[FT_STATE_FILE_MAX];
	char tmp[PATH_MAX];
	size_t len;
	size_t plen;
	int fd;

	if (path == NULL || st == NULL) {
		seterr(err, cap, "state: invalid argument");
		return FT_EINVAL;
	}
	plen = strnlen(path, PATH_MAX);
	if (plen == 0 || plen + sizeof ".tmp" > sizeof tmp) {
		seterr(err, cap, "state: path empty or too long");
		return FT_EINVAL;
	}
	if (ft_state_format(st, buf, sizeof buf, &len) != 0) {
		seterr(err, cap, "state: refusing to save an invalid state");
		return FT_EINVAL;
	}
	memcpy(tmp, path, plen);
	memcpy(tmp + plen, ".tmp", sizeof ".tmp");

	fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW,
		  0600);
	if (fd < 0) {
		seterr(err, cap, "create %s: %s", tmp, strerror(errno));
		return FT_EIO;
	}
	/* A stale temp left by a crash keeps its old mode under O_TRUNC. */
	if (fchmod(fd, 0600) != 0) {
		seterr(err, cap, "chmod %s: %s", tmp, strerror(errno));
		goto fail_open;
	}
	if (write_all(fd, buf, len) != 0) {
		seterr(err, cap, "write %s: %s", tmp, strerror(errno));
		goto fail_open;
	}
	if (fsync(fd) != 0) {
		seterr(err, cap, "fsync %s: %s", tmp, strerror(errno));
		goto fail_open;
	}
	if (close(fd) != 0) {
		seterr(err, cap, "close %s: %s", tmp, strerror(errno));
		goto fail_closed;
	}
	if (rename(tmp, path) != 0) {
		seterr(err, cap, "rename %s to %s: %s", tmp, path,
		       strerror(errno));
		goto fail_closed;
	}
	return fsync_parent(path, err, cap);

fail_open:
	(void)close(fd); /* already failing; the reason is in err */
fail_closed:
	(void)unlink(tmp); /* best effort; a stale temp is harmless */
	return FT_EIO;
}

/* ---- Floors and checkpoint. */

uint64_t ft_state_floor(const ft_state *st, const char *product)
{
	size_t n;

	if (st == NULL || product == NULL) {
		return 0;
	}
	n = name_len(product);
	if (n == SIZE_MAX || !product_valid(product, n)) {
		return 0;
	}
	for (size_t i = 0; i < st->n && i < FT_STATE_MAX_PRODUCTS; i++) {
		if (strcmp(st->sv[i].product, product) == 0) {
			return st->sv[i].sv;
		}
	}
	return 0;
}

int ft_state_set_floor(ft_state *st, const char *product, uint64_t sv)
{
	size_t n;
	size_t i;

	if (st == NULL || product == NULL || sv > U63_MAX ||
	    st->n > FT_STATE_MAX_PRODUCTS) {
		return FT_EINVAL;
	}
	n = name_len(product);
	if (n == SIZE_MAX || !product_valid(product, n)) {
		return FT_EINVAL;
	}
	/* Find the first slot not below product (the list is sorted). */
	for (i = 0; i < st->n; i++) {
		const char *p = st->sv[i].product;
		int c = name_cmp(p, strnlen(p, sizeof st->sv[i].product),
				 product, n);

		if (c == 0) {
			if (sv < st->sv[i].sv) {
				return FT_EINVAL; /* never lower a floor */
			}
			st->sv[i].sv = sv;
			return 0;
		}
		if (c > 0) {
			break;
		}
	}
	if (sv == 0) {
		return 0; /* the floor of an unknown product is already 0 */
	}
	if (st->n == FT_STATE_MAX_PRODUCTS) {
		return FT_ETOOBIG;
	}
	memmove(&st->sv[i + 1], &st->sv[i], (st->n - i) * sizeof st->sv[0]);
	memset(st->sv[i].product, 0, sizeof st->sv[i].product);
	memcpy(st->sv[i].product, product, n);
	st->sv[i].product[n] = '\0';
	st->sv[i].sv = sv;
	st->n++;
	return 0;
}

void ft_state_set_checkpoint(ft_state *st, uint64_t size,
			     const ft_hash *root)
{
	st->has_checkpoint = 1;
	st->size = size;
	memcpy(&st->root, root, sizeof st->root);
}
