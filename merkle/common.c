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

int ft_b64_decode(const char *in, size_t n, uint8_t *out, size_t cap,
		  size_t *outlen)
{
	const char *end = NULL;
	size_t got = 0;

	if (n == 0) {
		*outlen = 0;
		return FT_OK;
	}
	if (n % 4 != 0) {
		return FT_EBASE64;
	}
	/* libsodium 1.0.18 maps bytes >= 0x80 to digits instead of refusing
	 * them, which would give one value many spellings: check the
	 * alphabet here, '=' only as the last one or two characters. */
	for (size_t i = 0; i < n; i++) {
		unsigned char ch = (unsigned char)in[i];

		if ((ch >= 'A' && ch <= 'Z') || (ch >= 'a' && ch <= 'z') ||
		    (ch >= '0' && ch <= '9') || ch == '+' || ch == '/') {
			continue;
		}
		if (ch == '=' && (i == n - 1 || (i == n - 2 && in[n - 1] == '='))) {
			continue;
		}
		return FT_EBASE64;
	}
	/* The decoded size is exact for canonical input; refuse early so
	 * that a short buffer is not reported as bad base64. */
	size_t want = n / 4 * 3 - (in[n - 1] == '=') - (in[n - 2] == '=');
	if (want > cap) {
		return FT_EBUFSIZE;
	}
	/* libsodium rejects missing padding, whitespace (no ignore set) and
	 * non-zero trailing bits for the ORIGINAL variant. */
	if (sodium_base642bin(out, cap, in, n, NULL, &got, &end,
			      sodium_base64_VARIANT_ORIGINAL) != 0 ||
	    end != in + n || got != want) {
		return FT_EBASE64;
	}
	*outlen = got;
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
