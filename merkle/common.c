/*
 * merkle/common.c - the error table, libsodium initialisation, strict
 * base64 and decimal parsing, and the bounded writer's helpers.
 */
#include <sodium.h>

#include "merkle/internal.h"

const char *ft_strerror(int err)
{
	switch (err) {
#define FT_ERR_MSG_(name, val, msg)                                           \
	case name:                                                            \
		return msg;
		FT_ERRORS(FT_ERR_MSG_)
#undef FT_ERR_MSG_
	default:
		return "unknown error";
	}
}

const char *ft_errname(int err)
{
	switch (err) {
#define FT_ERR_NAME_(name, val, msg)                                          \
	case name:                                                            \
		return #name;
		FT_ERRORS(FT_ERR_NAME_)
#undef FT_ERR_NAME_
	default:
		return "FT_E?";
	}
}

int ft_init(void)
{
	/* sodium_init is thread-safe and returns 1 when already done. */
	if (sodium_init() < 0) {
		return FT_ECRYPTO;
	}
	return FT_OK;
}

size_t ft_b64_enclen(size_t n)
{
	return (n + 2) / 3 * 4;
}

int ft_b64_encode(const uint8_t *in, size_t n, char *out, size_t cap,
		  size_t *outlen)
{
	size_t need = ft_b64_enclen(n);
	char tmp[4];

	if (n > (SIZE_MAX / 4) * 3 - 3 || cap < need) {
		return FT_EBUFSIZE;
	}
	if (cap == need) {
		/* libsodium always writes a NUL: encode the last quantum
		 * separately so that an exact-size buffer works. */
		size_t head = n >= 3 ? (n - 1) / 3 * 3 : 0;
		char last[5];

		if (head > 0) {
			sodium_bin2base64(out, need + 1 - 4, in, head,
					  sodium_base64_VARIANT_ORIGINAL);
		}
		sodium_bin2base64(last, sizeof last, in + head, n - head,
				  sodium_base64_VARIANT_ORIGINAL);
		memcpy(tmp, last, 4);
		if (n > 0) {
			memcpy(out + need - 4, tmp, 4);
		}
	} else {
		sodium_bin2base64(out, cap, in, n,
				  sodium_base64_VARIANT_ORIGINAL);
	}
	*outlen = need;
	return FT_OK;
}

/* The value of a standard base64 digit, or -1. Data-dependent branches
 * are fine here: everything ftlog decodes this way is public (hashes,
 * signatures, public keys, log entries). */
static int b64_digit(unsigned char ch)
{
	if (ch >= 'A' && ch <= 'Z') {
		return ch - 'A';
	}
	if (ch >= 'a' && ch <= 'z') {
		return ch - 'a' + 26;
	}
	if (ch >= '0' && ch <= '9') {
		return ch - '0' + 52;
	}
	if (ch == '+') {
		return 62;
	}
	if (ch == '/') {
		return 63;
	}
	return -1;
}

int ft_b64_decode(const char *in, size_t n, uint8_t *out, size_t cap,
		  size_t *outlen)
{
	const unsigned char *s = (const unsigned char *)in;

	if (n == 0) {
		*outlen = 0;
		return FT_OK;
	}
	/* Padded, standard alphabet, '=' only as the last one or two
	 * characters, zero trailing bits: one spelling per value. */
	if (n % 4 != 0) {
		return FT_EBASE64;
	}
	size_t pad = (s[n - 1] == '=') + (s[n - 1] == '=' && s[n - 2] == '=');
	size_t want = n / 4 * 3 - pad;
	/* The decoded size is exact for canonical input; refuse early so
	 * that a short buffer is not reported as bad base64. */
	if (want > cap) {
		for (size_t i = 0; i < n - pad; i++) {
			if (b64_digit(s[i]) < 0) {
				return FT_EBASE64;
			}
		}
		return FT_EBUFSIZE;
	}
	size_t full = (n - (pad > 0 ? 4 : 0)) / 4;
	size_t o = 0;
	for (size_t g = 0; g < full; g++, s += 4) {
		int a = b64_digit(s[0]), b = b64_digit(s[1]);
		int c = b64_digit(s[2]), d = b64_digit(s[3]);

		if ((a | b | c | d) < 0) {
			return FT_EBASE64;
		}
		uint32_t v = (uint32_t)a << 18 | (uint32_t)b << 12 |
			     (uint32_t)c << 6 | (uint32_t)d;
		out[o++] = (uint8_t)(v >> 16);
		out[o++] = (uint8_t)(v >> 8);
		out[o++] = (uint8_t)v;
	}
	if (pad > 0) {
		int a = b64_digit(s[0]), b = b64_digit(s[1]);
		int c = pad == 1 ? b64_digit(s[2]) : 0;

		if ((a | b | c) < 0) {
			return FT_EBASE64;
		}
		if (pad == 2 ? (b & 15) != 0 : (c & 3) != 0) {
			return FT_EBASE64; /* non-zero trailing bits */
		}
		out[o++] = (uint8_t)(a << 2 | b >> 4);
		if (pad == 1) {
			out[o++] = (uint8_t)((b & 15) << 4 | c >> 2);
		}
	}
	*outlen = o;
	return FT_OK;
}

int ft_parse_u63(const char *s, size_t n, uint64_t *out)
{
	uint64_t v = 0;

	if (n == 0 || n > 19 || (n > 1 && s[0] == '0')) {
		return FT_ENUMBER;
	}
	for (size_t i = 0; i < n; i++) {
		if (s[i] < '0' || s[i] > '9') {
			return FT_ENUMBER;
		}
		unsigned d = (unsigned)(s[i] - '0');
		if (v > ((uint64_t)INT64_MAX - d) / 10) {
			return FT_ENUMBER;
		}
		v = v * 10 + d;
	}
	*out = v;
	return FT_OK;
}

void ft_wbuf_u64(ft_wbuf *w, uint64_t v)
{
	char tmp[20];
	size_t i = sizeof tmp;

	do {
		tmp[--i] = (char)('0' + v % 10);
		v /= 10;
	} while (v != 0);
	ft_wbuf_put(w, tmp + i, sizeof tmp - i);
}

void ft_wbuf_b64(ft_wbuf *w, const uint8_t *s, size_t n)
{
	size_t got = 0;

	if (w->err != 0) {
		return;
	}
	int rc = ft_b64_encode(s, n, (char *)w->p + w->len, w->cap - w->len,
			       &got);
	if (rc != 0) {
		w->err = rc;
		return;
	}
	w->len += got;
}

void ft_wbuf_nul(ft_wbuf *w)
{
	if (w->err == 0 && w->len == w->cap) {
		w->err = FT_EBUFSIZE;
	}
	if (w->err == 0) {
		w->p[w->len] = 0;
	}
}

int ft_b64_hash(const uint8_t *s, size_t n, ft_hash *out)
{
	uint8_t tmp[FT_HASH_LEN + 3];
	size_t got = 0;

	/* 32 bytes encode to exactly 44 characters. */
	int rc = ft_b64_decode((const char *)s, n, tmp, sizeof tmp, &got);
	if (rc == FT_EBUFSIZE) {
		return FT_EHASHLEN;
	}
	if (rc != 0) {
		return rc;
	}
	if (got != FT_HASH_LEN) {
		return FT_EHASHLEN;
	}
	memcpy(out->b, tmp, FT_HASH_LEN);
	return FT_OK;
}
