/*
 * merkle/internal.h - private helpers shared by libftmerkle's modules and
 * (statically linked) by libftclient. Not installed.
 *
 * All parsing of text formats goes through ft_cur, a bounded read cursor,
 * and all writing through ft_wbuf, a bounded writer that latches its first
 * error, so each parser and formatter reads like the format it handles.
 */
#ifndef FTLOG_MERKLE_INTERNAL_H
#define FTLOG_MERKLE_INTERNAL_H

#include <stdbool.h>
#include <string.h>

#include <ftlog/common.h>
#include <ftlog/merkle.h>

#define FT_STATIC_ASSERT(c, m) _Static_assert(c, m)

/* ---- Read cursor. */

typedef struct ft_cur {
	const uint8_t *p;
	size_t len;
	size_t off;
} ft_cur;

static inline void ft_cur_init(ft_cur *c, const uint8_t *p, size_t len)
{
	c->p = p;
	c->len = len;
	c->off = 0;
}

static inline size_t ft_cur_left(const ft_cur *c)
{
	return c->len - c->off;
}

static inline const uint8_t *ft_cur_ptr(const ft_cur *c)
{
	return c->p + c->off;
}

/*
 * Take the next line, which must end in a newline: line and n exclude the
 * newline. false (cursor unchanged) if no newline remains.
 */
static inline bool ft_cur_line(ft_cur *c, const uint8_t **line, size_t *n)
{
	const uint8_t *s = c->p + c->off;
	const uint8_t *nl = memchr(s, '\n', ft_cur_left(c));

	if (nl == NULL) {
		return false;
	}
	*line = s;
	*n = (size_t)(nl - s);
	c->off += *n + 1;
	return true;
}

/* If the remaining input starts with (s, n), consume it and return true. */
static inline bool ft_cur_prefix(ft_cur *c, const void *s, size_t n)
{
	if (ft_cur_left(c) < n || memcmp(ft_cur_ptr(c), s, n) != 0) {
		return false;
	}
	c->off += n;
	return true;
}

/* ---- Bounded writer. */

typedef struct ft_wbuf {
	uint8_t *p;
	size_t cap;
	size_t len;
	int err; /* first error, latched */
} ft_wbuf;

static inline void ft_wbuf_init(ft_wbuf *w, uint8_t *p, size_t cap)
{
	w->p = p;
	w->cap = cap;
	w->len = 0;
	w->err = 0;
}

static inline void ft_wbuf_put(ft_wbuf *w, const void *s, size_t n)
{
	if (w->err != 0) {
		return;
	}
	if (w->cap - w->len < n) {
		w->err = FT_EBUFSIZE;
		return;
	}
	if (n > 0) {
		memcpy(w->p + w->len, s, n);
	}
	w->len += n;
}

static inline void ft_wbuf_str(ft_wbuf *w, const char *s)
{
	ft_wbuf_put(w, s, strlen(s));
}

static inline void ft_wbuf_byte(ft_wbuf *w, uint8_t b)
{
	ft_wbuf_put(w, &b, 1);
}

/* Decimal, no leading zeros. */
void ft_wbuf_u64(ft_wbuf *w, uint64_t v);

/*
 * Strict standard base64 of any length (a signature line's, which may be
 * from an unknown key and of any size), checked 256 characters at a time
 * so that it needs no buffer of its size: the first 4 decoded bytes (the
 * key id) go to head, the decoded length to *total. Only the last
 * quantum may hold padding. merkle/note.c.
 */
bool ft_b64_scan(const uint8_t *s, size_t n, uint8_t head[4], size_t *total);

/* Standard base64 of (s, n). */
void ft_wbuf_b64(ft_wbuf *w, const uint8_t *s, size_t n);

/* NUL-terminate without counting the NUL in len (needs room for it). */
void ft_wbuf_nul(ft_wbuf *w);

/* ---- Misc. */

/* Decode a base64 line that must hold exactly one 32-byte hash. */
int ft_b64_hash(const uint8_t *s, size_t n, ft_hash *out);

static inline uint32_t ft_be32(const uint8_t *p)
{
	return ((uint32_t)p[0] << 24) | ((uint32_t)p[1] << 16) |
	       ((uint32_t)p[2] << 8) | (uint32_t)p[3];
}

static inline void ft_put_be32(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)(v >> 24);
	p[1] = (uint8_t)(v >> 16);
	p[2] = (uint8_t)(v >> 8);
	p[3] = (uint8_t)v;
}

static inline uint64_t ft_be64(const uint8_t *p)
{
	return ((uint64_t)ft_be32(p) << 32) | ft_be32(p + 4);
}

static inline void ft_put_be64(uint8_t *p, uint64_t v)
{
	ft_put_be32(p, (uint32_t)(v >> 32));
	ft_put_be32(p + 4, (uint32_t)v);
}

#endif
