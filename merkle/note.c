/*
 * merkle/note.c - C2SP signed-note with Ed25519, Go note key strings,
 * C2SP tlog-checkpoint and C2SP tlog-cosignature v1 (Ed25519, type 0x04).
 *
 * Nothing here allocates: every buffer is bounded by a constant from
 * <ftlog/note.h> and lives on the stack. Text is read through ft_cur and
 * written through ft_wbuf. The rules follow the C2SP texts and, where they
 * are silent, golang.org/x/mod/sumdb/note, with which we interoperate.
 */
#include <nettle/sha2.h>
#include <sodium.h>

#include <ftlog/note.h>

#include "merkle/internal.h"

/* "— ": U+2014 EM DASH (E2 80 94) and a space, signed-note "Format". */
static const uint8_t sig_prefix[4] = { 0xe2, 0x80, 0x94, ' ' };

/* Signer keys carry this prefix (Go note.NewSigner). */
static const char priv_prefix[] = "PRIVATE+KEY+";
#define PRIV_PREFIX_LEN (sizeof priv_prefix - 1)

/* Key material in a key string: type byte || 32-byte key (public or seed). */
#define KEY_RAW_LEN 33
/* 33 bytes are 11 whole base64 quanta: exactly 44 characters, no '='. */
#define KEY_B64_LEN 44

#define ED25519_SIG_LEN 64
/* Decoded signature lines: key id || signature (signed-note "Signatures"). */
#define SIG_ED25519_LEN (4 + ED25519_SIG_LEN)
/* key id || uint64 timestamp || Ed25519 signature (tlog-cosignature). */
#define SIG_COSIG_LEN (4 + 8 + ED25519_SIG_LEN)

/* ft_note_open's documented limit on known keys. */
#define NOTE_MAX_KNOWN 64

/* tlog-cosignature "Ed25519 signed message": header line, then "time ". */
static const char cosig_header[] = "cosignature/v1\ntime ";
/* Header, at most 19 digits (timestamp <= 2^63 - 1) and a newline. */
#define COSIG_PREFIX_MAX (sizeof cosig_header - 1 + 19 + 1)

/* Base64 characters validated per step when scanning a signature. */
#define B64_CHUNK 256

FT_STATIC_ASSERT(B64_CHUNK % 4 == 0, "base64 chunks are whole quanta");
FT_STATIC_ASSERT(FT_NOTE_SIG_LINE_MAX >=
			 sizeof sig_prefix + FT_KEY_NAME_MAX + 1 +
				 (SIG_COSIG_LEN + 2) / 3 * 4 + 1 + 1,
		 "a signature line with its NUL fits FT_NOTE_SIG_LINE_MAX");
FT_STATIC_ASSERT(FT_KEY_STR_MAX >= PRIV_PREFIX_LEN + FT_KEY_NAME_MAX + 1 +
					   8 + 1 + KEY_B64_LEN + 1,
		 "a signer key string with its NUL fits FT_KEY_STR_MAX");

/* ---- UTF-8 and names. */

/*
 * Decode one UTF-8 sequence at p (n >= 1 bytes left) strictly, per RFC 3629
 * section 4: no overlong forms, no surrogates, nothing above U+10FFFF, as
 * Go's utf8.DecodeRune. Returns its length (1 to 4) and sets *cp, or
 * returns 0 if the bytes are not valid UTF-8.
 */
static size_t utf8_decode(const uint8_t *p, size_t n, uint32_t *cp)
{
	uint8_t b0 = p[0];
	uint8_t lo = 0x80;
	uint8_t hi = 0xbf;
	size_t len;
	uint32_t c;

	if (b0 < 0x80) {
		*cp = b0;
		return 1;
	}
	if (b0 >= 0xc2 && b0 <= 0xdf) {
		len = 2;
		c = b0 & 0x1fu;
	} else if (b0 >= 0xe0 && b0 <= 0xef) {
		len = 3;
		c = b0 & 0x0fu;
		if (b0 == 0xe0) {
			lo = 0xa0; /* below: overlong */
		} else if (b0 == 0xed) {
			hi = 0x9f; /* above: UTF-16 surrogates */
		}
	} else if (b0 >= 0xf0 && b0 <= 0xf4) {
		len = 4;
		c = b0 & 0x07u;
		if (b0 == 0xf0) {
			lo = 0x90; /* below: overlong */
		} else if (b0 == 0xf4) {
			hi = 0x8f; /* above: beyond U+10FFFF */
		}
	} else {
		/* Continuation bytes, C0/C1 (always overlong), F5-FF. */
		return 0;
	}
	if (n < len || p[1] < lo || p[1] > hi) {
		return 0;
	}
	c = (c << 6) | (p[1] & 0x3fu);
	for (size_t i = 2; i < len; i++) {
		if ((p[i] & 0xc0) != 0x80) {
			return 0;
		}
		c = (c << 6) | (p[i] & 0x3fu);
	}
	*cp = c;
	return len;
}

/*
 * Unicode White_Space, the set Go's unicode.IsSpace tests, which is what
 * signed-note means by "Unicode spaces" in key names.
 */
static bool is_unicode_space(uint32_t c)
{
	if ((c >= 0x09 && c <= 0x0d) || (c >= 0x2000 && c <= 0x200a)) {
		return true;
	}
	switch (c) {
	case 0x20:
	case 0x85:
	case 0xa0:
	case 0x1680:
	case 0x2028:
	case 0x2029:
	case 0x202f:
	case 0x205f:
	case 0x3000:
		return true;
	default:
		return false;
	}
}

/*
 * Signed notes "MUST be valid UTF-8 and MUST NOT contain any ASCII control
 * characters (those below U+0020) other than newline" (signed-note
 * "Format"). Note texts and checkpoints obey the same rule.
 */
static bool note_chars_ok(const uint8_t *p, size_t n)
{
	size_t i = 0;

	while (i < n) {
		uint32_t c = 0;
		size_t k = utf8_decode(p + i, n - i, &c);

		if (k == 0 || (c < 0x20 && c != '\n')) {
			return false;
		}
		i += k;
	}
	return true;
}

/*
 * The character rules for key names (signed-note "Format", Go's
 * isValidName): non-empty, valid UTF-8, no Unicode space, no '+'; and, as
 * the whole note forbids them, no control characters. No length cap: a
 * signature line from an unknown key with a long name is still well formed.
 */
static bool name_chars_ok(const uint8_t *p, size_t n)
{
	size_t i = 0;

	if (p == NULL || n == 0) {
		return false;
	}
	while (i < n) {
		uint32_t c = 0;
		size_t k = utf8_decode(p + i, n - i, &c);

		if (k == 0 || c < 0x20 || c == '+' || is_unicode_space(c)) {
			return false;
		}
		i += k;
	}
	return true;
}

int ft_key_name_valid(const char *name, size_t len)
{
	if (len > FT_KEY_NAME_MAX) {
		return 0;
	}
	return name_chars_ok((const uint8_t *)name, len) ? 1 : 0;
}

/* ---- Keys. */

static bool key_type_ok(uint8_t type)
{
	return type == FT_KEY_ED25519 || type == FT_KEY_COSIG_V1;
}

/*
 * key ID = SHA-256(key name || 0x0A || signature type || public key)[:4],
 * big endian (signed-note "Signatures"; tlog-cosignature "Format" for 0x04).
 */
uint32_t ft_key_id(const char *name, size_t name_len, uint8_t type,
		   const uint8_t pk[32])
{
	struct sha256_ctx ctx;
	uint8_t sum[SHA256_DIGEST_SIZE];
	const uint8_t nl = '\n';

	sha256_init(&ctx);
	if (name_len > 0) {
		sha256_update(&ctx, name_len, (const uint8_t *)name);
	}
	sha256_update(&ctx, 1, &nl);
	sha256_update(&ctx, 1, &type);
	sha256_update(&ctx, 32, pk);
	sha256_digest(&ctx, sizeof sum, sum);
	return ft_be32(sum);
}

int ft_key_from_seed(const char *name, size_t name_len, uint8_t type,
		     const uint8_t seed[32], ft_skey *out)
{
	int rc;

	if (out == NULL) {
		return FT_EINVAL;
	}
	sodium_memzero(out, sizeof *out);
	if (name == NULL || seed == NULL) {
		return FT_EINVAL;
	}
	if (!ft_key_name_valid(name, name_len)) {
		return FT_EKEY_NAME;
	}
	if (!key_type_ok(type)) {
		return FT_EKEY_ALG;
	}
	rc = ft_init();
	if (rc != 0) {
		return rc;
	}
	/* libsodium's secret key is seed || public key. */
	if (crypto_sign_seed_keypair(out->pk, out->sk, seed) != 0) {
		sodium_memzero(out, sizeof *out);
		return FT_ECRYPTO;
	}
	memcpy(out->name, name, name_len);
	out->name[name_len] = '\0';
	out->name_len = name_len;
	out->type = type;
	out->id = ft_key_id(name, name_len, type, out->pk);
	return FT_OK;
}

int ft_key_generate(const char *name, size_t name_len, uint8_t type,
		    ft_skey *out)
{
	uint8_t seed[32];
	int rc;

	if (out == NULL) {
		return FT_EINVAL;
	}
	rc = ft_init();
	if (rc != 0) {
		sodium_memzero(out, sizeof *out);
		return rc;
	}
	randombytes_buf(seed, sizeof seed);
	rc = ft_key_from_seed(name, name_len, type, seed, out);
	sodium_memzero(seed, sizeof seed);
	return rc;
}

void ft_skey_public(const ft_skey *sk, ft_vkey *out)
{
	memset(out, 0, sizeof *out);
	memcpy(out->name, sk->name, sizeof out->name);
	out->name_len = sk->name_len;
	out->id = sk->id;
	out->type = sk->type;
	memcpy(out->pk, sk->pk, sizeof out->pk);
}

void ft_skey_wipe(ft_skey *sk)
{
	if (sk != NULL) {
		sodium_memzero(sk, sizeof *sk);
	}
}

/*
 * Take the bytes up to the next sep, consuming sep; false (cursor
 * unchanged) if no sep remains. Go's chop cuts key strings this way.
 */
static bool cur_field(ft_cur *c, uint8_t sep, const uint8_t **f, size_t *n)
{
	const uint8_t *s = ft_cur_ptr(c);
	const uint8_t *end = memchr(s, sep, ft_cur_left(c));

	if (end == NULL) {
		return false;
	}
	*f = s;
	*n = (size_t)(end - s);
	c->off += *n + 1;
	return true;
}

static int hexval(uint8_t ch)
{
	if (ch >= '0' && ch <= '9') {
		return ch - '0';
	}
	if (ch >= 'a' && ch <= 'f') {
		return ch - 'a' + 10;
	}
	if (ch >= 'A' && ch <= 'F') {
		return ch - 'A' + 10;
	}
	return -1;
}

/* Exactly 8 hex digits of either case, as Go's len check + ParseUint. */
static bool hex8_parse(const uint8_t *s, size_t n, uint32_t *out)
{
	uint32_t v = 0;

	if (n != 8) {
		return false;
	}
	for (size_t i = 0; i < n; i++) {
		int d = hexval(s[i]);

		if (d < 0) {
			return false;
		}
		v = (v << 4) | (uint32_t)d;
	}
	*out = v;
	return true;
}

static void put_hex8(ft_wbuf *w, uint32_t v)
{
	static const char digits[] = "0123456789abcdef";
	char tmp[8];

	for (size_t i = 0; i < sizeof tmp; i++) {
		tmp[i] = digits[(v >> (28 - 4 * i)) & 0xf];
	}
	ft_wbuf_put(w, tmp, sizeof tmp);
}

/*
 * Parse "<name>+<hex8 id>+base64(type || 32-byte key)" (the part of a
 * signer key after PRIVATE+KEY+). The fields are cut at the first '+'
 * each, as Go's chop does: a name cannot hold '+' but base64 can, so
 * whatever follows the id is the key field and must be exactly one key.
 * raw receives type || key; the caller wipes it if it is a seed.
 */
static int key_fields(const uint8_t *s, size_t len, const uint8_t **name,
		      size_t *name_len, uint32_t *id,
		      uint8_t raw[KEY_RAW_LEN])
{
	ft_cur c;
	const uint8_t *f = NULL;
	size_t n = 0;
	size_t got = 0;

	ft_cur_init(&c, s, len);
	if (!cur_field(&c, '+', name, name_len)) {
		return FT_EKEY_FORMAT;
	}
	if (!ft_key_name_valid((const char *)*name, *name_len)) {
		return FT_EKEY_NAME;
	}
	if (!cur_field(&c, '+', &f, &n) || !hex8_parse(f, n, id)) {
		return FT_EKEY_FORMAT;
	}
	/* A missing, short, long or extra field shows as a wrong length. */
	if (ft_cur_left(&c) != KEY_B64_LEN) {
		return FT_EKEY_FORMAT;
	}
	if (ft_b64_decode((const char *)ft_cur_ptr(&c), KEY_B64_LEN, raw,
			  KEY_RAW_LEN, &got) != 0) {
		return FT_EBASE64;
	}
	if (got != KEY_RAW_LEN) {
		return FT_EKEY_FORMAT;
	}
	if (!key_type_ok(raw[0])) {
		return FT_EKEY_ALG;
	}
	return FT_OK;
}

int ft_vkey_parse(const char *s, size_t len, ft_vkey *out)
{
	uint8_t raw[KEY_RAW_LEN];
	const uint8_t *name = NULL;
	size_t name_len = 0;
	uint32_t id = 0;
	int rc;

	if (out == NULL) {
		return FT_EINVAL;
	}
	memset(out, 0, sizeof *out);
	if (s == NULL) {
		return FT_EINVAL;
	}
	if (len > FT_KEY_STR_MAX) {
		return FT_ETOOBIG;
	}
	rc = key_fields((const uint8_t *)s, len, &name, &name_len, &id, raw);
	if (rc != 0) {
		return rc;
	}
	/* The id is a hash of the name and key: a mismatch is a wrong key
	 * or a wrong name (Go's errVerifierHash). */
	if (ft_key_id((const char *)name, name_len, raw[0], raw + 1) != id) {
		return FT_EKEY_HASH;
	}
	memcpy(out->name, name, name_len);
	out->name_len = name_len;
	out->id = id;
	out->type = raw[0];
	memcpy(out->pk, raw + 1, sizeof out->pk);
	return FT_OK;
}

int ft_skey_parse(const char *s, size_t len, ft_skey *out)
{
	uint8_t raw[KEY_RAW_LEN];
	const uint8_t *name = NULL;
	size_t name_len = 0;
	uint32_t id = 0;
	ft_cur c;
	int rc;

	if (out == NULL) {
		return FT_EINVAL;
	}
	sodium_memzero(out, sizeof *out);
	if (s == NULL) {
		return FT_EINVAL;
	}
	if (len > FT_KEY_STR_MAX) {
		return FT_ETOOBIG;
	}
	ft_cur_init(&c, (const uint8_t *)s, len);
	if (!ft_cur_prefix(&c, priv_prefix, PRIV_PREFIX_LEN)) {
		return FT_EKEY_FORMAT;
	}
	rc = key_fields(ft_cur_ptr(&c), ft_cur_left(&c), &name, &name_len,
			&id, raw);
	if (rc == 0) {
		rc = ft_key_from_seed((const char *)name, name_len, raw[0],
				      raw + 1, out);
	}
	sodium_memzero(raw, sizeof raw);
	if (rc != 0) {
		return rc;
	}
	/* The id names the public key, which only the seed determines:
	 * check it after deriving (as Go's NewSigner). */
	if (out->id != id) {
		sodium_memzero(out, sizeof *out);
		return FT_EKEY_HASH;
	}
	return FT_OK;
}

/*
 * A key struct is only usable if its parts agree: a valid name, a
 * supported type, and the id that name, type and key hash to.
 */
static int key_check(const char *name, size_t name_len, uint8_t type,
		     uint32_t id, const uint8_t pk[32])
{
	if (!ft_key_name_valid(name, name_len)) {
		return FT_EKEY_NAME;
	}
	if (!key_type_ok(type)) {
		return FT_EKEY_ALG;
	}
	if (ft_key_id(name, name_len, type, pk) != id) {
		return FT_EKEY_HASH;
	}
	return FT_OK;
}

/* Write "<name>+<hex8>+base64(type || key)". */
static void key_put(ft_wbuf *w, const char *name, size_t name_len,
		    uint32_t id, uint8_t type, const uint8_t key[32])
{
	uint8_t raw[KEY_RAW_LEN];

	raw[0] = type;
	memcpy(raw + 1, key, 32);
	ft_wbuf_put(w, name, name_len);
	ft_wbuf_byte(w, '+');
	put_hex8(w, id);
	ft_wbuf_byte(w, '+');
	ft_wbuf_b64(w, raw, sizeof raw);
	/* raw may hold a seed. */
	sodium_memzero(raw, sizeof raw);
}

int ft_vkey_format(const ft_vkey *k, char *buf, size_t cap, size_t *len)
{
	ft_wbuf w;
	int rc;

	if (k == NULL || buf == NULL || len == NULL) {
		return FT_EINVAL;
	}
	*len = 0;
	rc = key_check(k->name, k->name_len, k->type, k->id, k->pk);
	if (rc != 0) {
		memset(buf, 0, cap);
		return rc;
	}
	ft_wbuf_init(&w, (uint8_t *)buf, cap);
	key_put(&w, k->name, k->name_len, k->id, k->type, k->pk);
	ft_wbuf_nul(&w);
	if (w.err != 0) {
		memset(buf, 0, cap);
		return w.err;
	}
	*len = w.len;
	return FT_OK;
}

int ft_skey_format(const ft_skey *k, char *buf, size_t cap, size_t *len)
{
	ft_wbuf w;
	int rc;

	if (k == NULL || buf == NULL || len == NULL) {
		return FT_EINVAL;
	}
	*len = 0;
	rc = key_check(k->name, k->name_len, k->type, k->id, k->pk);
	if (rc == 0 && sodium_memcmp(k->sk + 32, k->pk, 32) != 0) {
		/* libsodium's sk is seed || pk: the halves must agree. */
		rc = FT_EINVAL;
	}
	if (rc != 0) {
		memset(buf, 0, cap);
		return rc;
	}
	ft_wbuf_init(&w, (uint8_t *)buf, cap);
	ft_wbuf_str(&w, priv_prefix);
	key_put(&w, k->name, k->name_len, k->id, k->type, k->sk);
	ft_wbuf_nul(&w);
	if (w.err != 0) {
		/* A partial write may already hold part of the seed. */
		sodium_memzero(buf, cap);
		return w.err;
	}
	*len = w.len;
	return FT_OK;
}

/* ---- Signing. */

/*
 * The tlog-cosignature v1 signed message ("Ed25519 signed message"):
 * "cosignature/v1\n", "time <decimal, no leading zeros>\n", then the note
 * text including its final newline and excluding the signature lines.
 */
static int cosig_message(uint64_t ts, const uint8_t *text, size_t text_len,
			 uint8_t *buf, size_t cap, size_t *n)
{
	ft_wbuf w;

	if (text_len > FT_COSIG_TEXT_MAX) {
		return FT_ETOOBIG;
	}
	ft_wbuf_init(&w, buf, cap);
	ft_wbuf_str(&w, cosig_header);
	ft_wbuf_u64(&w, ts);
	ft_wbuf_byte(&w, '\n');
	ft_wbuf_put(&w, text, text_len);
	if (w.err != 0) {
		return w.err;
	}
	*n = w.len;
	return FT_OK;
}

/* A note text is non-empty, ends in "\n" and obeys the note's charset. */
static bool note_text_ok(const uint8_t *text, size_t len)
{
	return len > 0 && text[len - 1] == '\n' && note_chars_ok(text, len);
}

/*
 * The signature bytes of a line: key id || Ed25519 signature of the text
 * (signed-note "Ed25519 signatures"), or for cosignature keys key id ||
 * uint64_be(timestamp) || Ed25519 signature of the cosigned message
 * (tlog-cosignature "Format").
 */
static int sign_bytes(const ft_skey *key, const uint8_t *text,
		      size_t text_len, uint64_t ts,
		      uint8_t sig[SIG_COSIG_LEN], size_t *sig_len)
{
	uint8_t msg[COSIG_PREFIX_MAX + FT_COSIG_TEXT_MAX];
	size_t msg_len = 0;
	int rc;

	rc = key_check(key->name, key->name_len, key->type, key->id, key->pk);
	if (rc != 0) {
		return rc;
	}
	/* libsodium signs with the pk half of sk: it must be this key's. */
	if (sodium_memcmp(key->sk + 32, key->pk, 32) != 0) {
		return FT_EINVAL;
	}
	/* "It MUST NOT exceed 2^63 - 1" (tlog-cosignature "Format"). */
	if (key->type == FT_KEY_COSIG_V1 && ts > (uint64_t)INT64_MAX) {
		return FT_ECOSIG_TIME;
	}
	if (!note_text_ok(text, text_len)) {
		return FT_ENOTE_FORMAT;
	}
	rc = ft_init();
	if (rc != 0) {
		return rc;
	}
	ft_put_be32(sig, key->id);
	switch (key->type) {
	case FT_KEY_ED25519:
		if (crypto_sign_detached(sig + 4, NULL, text, text_len,
					 key->sk) != 0) {
			return FT_ECRYPTO;
		}
		*sig_len = SIG_ED25519_LEN;
		return FT_OK;
	case FT_KEY_COSIG_V1:
		rc = cosig_message(ts, text, text_len, msg, sizeof msg,
				   &msg_len);
		if (rc != 0) {
			return rc;
		}
		ft_put_be64(sig + 4, ts);
		if (crypto_sign_detached(sig + 12, NULL, msg, msg_len,
					 key->sk) != 0) {
			return FT_ECRYPTO;
		}
		*sig_len = SIG_COSIG_LEN;
		return FT_OK;
	default:
		return FT_EKEY_ALG;
	}
}

int ft_note_sig_line(const ft_skey *key, const uint8_t *text,
		     size_t text_len, uint64_t timestamp, char *out,
		     size_t cap, size_t *len)
{
	uint8_t sig[SIG_COSIG_LEN];
	size_t sig_len = 0;
	ft_wbuf w;
	int rc;

	if (out == NULL || len == NULL) {
		return FT_EINVAL;
	}
	*len = 0;
	if (key == NULL || text == NULL) {
		memset(out, 0, cap);
		return FT_EINVAL;
	}
	rc = sign_bytes(key, text, text_len, timestamp, sig, &sig_len);
	if (rc != 0) {
		memset(out, 0, cap);
		return rc;
	}
	/* "— <key name> base64(32-bit key ID || signature)\n". */
	ft_wbuf_init(&w, (uint8_t *)out, cap);
	ft_wbuf_put(&w, sig_prefix, sizeof sig_prefix);
	ft_wbuf_put(&w, key->name, key->name_len);
	ft_wbuf_byte(&w, ' ');
	ft_wbuf_b64(&w, sig, sig_len);
	ft_wbuf_byte(&w, '\n');
	ft_wbuf_nul(&w);
	if (w.err != 0) {
		memset(out, 0, cap);
		return w.err;
	}
	*len = w.len;
	return FT_OK;
}

int ft_note_sign(const uint8_t *text, size_t text_len, const ft_skey *keys,
		 size_t nkeys, uint64_t timestamp, uint8_t *out, size_t cap,
		 size_t *len)
{
	char line[FT_NOTE_SIG_LINE_MAX];
	size_t n = 0;
	ft_wbuf w;
	int rc;

	if (out == NULL || len == NULL) {
		return FT_EINVAL;
	}
	*len = 0;
	if (text == NULL || keys == NULL || nkeys == 0) {
		rc = FT_EINVAL;
		goto fail;
	}
	/* Never produce a note that ft_note_open would refuse. */
	if (nkeys > FT_NOTE_MAX_SIGS) {
		rc = FT_ENOTE_TOOMANY;
		goto fail;
	}
	if (text_len > FT_NOTE_MAX_BYTES) {
		rc = FT_ETOOBIG;
		goto fail;
	}
	/* text, the blank line, then one signature line per key. */
	ft_wbuf_init(&w, out, cap);
	ft_wbuf_put(&w, text, text_len);
	ft_wbuf_byte(&w, '\n');
	for (size_t i = 0; i < nkeys; i++) {
		rc = ft_note_sig_line(&keys[i], text, text_len, timestamp,
				      line, sizeof line, &n);
		if (rc != 0) {
			goto fail;
		}
		ft_wbuf_put(&w, line, n);
	}
	if (w.err != 0) {
		rc = w.err;
		goto fail;
	}
	if (w.len > FT_NOTE_MAX_BYTES) {
		rc = FT_ETOOBIG;
		goto fail;
	}
	*len = w.len;
	return FT_OK;
fail:
	memset(out, 0, cap);
	return rc;
}

/* ---- Opening notes. */

/* One signature line, "— <name> <base64(key id || signature)>". */
typedef struct sig_line {
	const uint8_t *name;
	size_t name_len;
	const uint8_t *b64;
	size_t b64_len;
	uint32_t id;
	size_t sig_len; /* decoded length, key id included */
} sig_line;

/*
 * Validate strict base64 of any length without a buffer of that size:
 * decode B64_CHUNK characters at a time, keep the first 4 bytes (the key
 * id) and count the rest. Only the final quantum may hold '=' padding, so
 * every chunk but the last must end in a data character (ft_b64_decode
 * already rejects '=' anywhere but at a chunk's end).
 */
bool ft_b64_scan(const uint8_t *s, size_t n, uint8_t head[4],
		 size_t *total)
{
	uint8_t tmp[B64_CHUNK / 4 * 3];
	size_t have = 0;
	size_t sum = 0;
	size_t off = 0;

	if (n == 0 || n % 4 != 0) {
		return false;
	}
	while (off < n) {
		size_t step = n - off < B64_CHUNK ? n - off : B64_CHUNK;
		size_t got = 0;

		if (off + step < n && s[off + step - 1] == '=') {
			return false;
		}
		if (ft_b64_decode((const char *)s + off, step, tmp, sizeof tmp,
				  &got) != 0) {
			return false;
		}
		for (size_t i = 0; i < got && have < 4; i++) {
			head[have++] = tmp[i];
		}
		sum += got;
		off += step;
	}
	*total = sum;
	return true;
}

/*
 * Parse one signature line (signed-note "Format"; Go's Open): the em dash
 * and space, a valid name up to the first space, then non-empty strict
 * base64 of at least 5 bytes (a key id and a signature byte).
 */
static int sig_line_parse(const uint8_t *p, size_t n, sig_line *out)
{
	uint8_t head[4] = { 0 };
	const uint8_t *name = NULL;
	size_t name_len = 0;
	ft_cur c;

	ft_cur_init(&c, p, n);
	if (!ft_cur_prefix(&c, sig_prefix, sizeof sig_prefix)) {
		return FT_ENOTE_FORMAT;
	}
	if (!cur_field(&c, ' ', &name, &name_len) ||
	    !name_chars_ok(name, name_len)) {
		return FT_ENOTE_FORMAT;
	}
	out->name = name;
	out->name_len = name_len;
	out->b64 = ft_cur_ptr(&c);
	out->b64_len = ft_cur_left(&c);
	if (!ft_b64_scan(out->b64, out->b64_len, head, &out->sig_len) ||
	    out->sig_len < 5) {
		return FT_ENOTE_FORMAT;
	}
	out->id = ft_be32(head);
	return FT_OK;
}

/*
 * Check a signed note's framing and every signature line, without any
 * crypto (so that no work is spent on a note rejected anyway): its size,
 * its characters, the text ending at the last blank line (signed-note
 * "Format": the text "MAY contain empty lines"), a non-empty signature
 * block ending in "\n", and at most FT_NOTE_MAX_SIGS well-formed lines.
 * *text_len includes the text's final newline, not the blank line.
 */
static int note_split(const uint8_t *msg, size_t len, size_t *text_len,
		      size_t *nsigs)
{
	const uint8_t *line = NULL;
	size_t split = 0;
	size_t n = 0;
	size_t count = 0;
	bool found = false;
	sig_line sl;
	ft_cur c;

	if (len > FT_NOTE_MAX_BYTES) {
		return FT_ETOOBIG;
	}
	if (!note_chars_ok(msg, len)) {
		return FT_ENOTE_FORMAT;
	}
	for (size_t i = len; i >= 2; i--) {
		if (msg[i - 1] == '\n' && msg[i - 2] == '\n') {
			split = i - 2;
			found = true;
			break;
		}
	}
	if (!found) {
		return FT_ENOTE_FORMAT;
	}
	/* Signature lines follow the blank line; the last one ends in \n. */
	if (split + 2 == len || msg[len - 1] != '\n') {
		return FT_ENOTE_FORMAT;
	}
	ft_cur_init(&c, msg + split + 2, len - split - 2);
	while (ft_cur_line(&c, &line, &n)) {
		/* Bound the work before parsing further (Go stops at 100). */
		if (++count > FT_NOTE_MAX_SIGS) {
			return FT_ENOTE_TOOMANY;
		}
		int rc = sig_line_parse(line, n, &sl);
		if (rc != 0) {
			return rc;
		}
	}
	*text_len = split + 1;
	*nsigs = count;
	return FT_OK;
}

/*
 * The known keys must be usable and unambiguous: a (name, id) pair that
 * names two keys cannot tell which one signed (Go's ambiguous key error).
 */
static int known_check(const ft_vkey *known, size_t nknown)
{
	for (size_t i = 0; i < nknown; i++) {
		const ft_vkey *k = &known[i];

		if (!ft_key_name_valid(k->name, k->name_len)) {
			return FT_EKEY_NAME;
		}
		if (!key_type_ok(k->type)) {
			return FT_EKEY_ALG;
		}
		for (size_t j = 0; j < i; j++) {
			if (known[j].id == k->id &&
			    known[j].name_len == k->name_len &&
			    memcmp(known[j].name, k->name, k->name_len) == 0) {
				return FT_EINVAL;
			}
		}
	}
	return FT_OK;
}

/* Index of the known key with this line's (name, id), or nknown. */
static size_t known_find(const ft_vkey *known, size_t nknown,
			 const sig_line *sl)
{
	for (size_t i = 0; i < nknown; i++) {
		if (known[i].id == sl->id &&
		    known[i].name_len == sl->name_len &&
		    memcmp(known[i].name, sl->name, sl->name_len) == 0) {
			return i;
		}
	}
	return nknown;
}

/*
 * Verify a line from a known key over the note text. A signature of the
 * wrong length for the key's type cannot verify: FT_ENOTE_BADSIG.
 */
static int sig_verify(const ft_vkey *k, const uint8_t *text, size_t text_len,
		      const sig_line *sl, uint64_t *ts_out)
{
	uint8_t msg[COSIG_PREFIX_MAX + FT_COSIG_TEXT_MAX];
	uint8_t raw[SIG_COSIG_LEN];
	size_t msg_len = 0;
	size_t got = 0;
	uint64_t ts;
	int rc;

	switch (k->type) {
	case FT_KEY_ED25519:
		if (sl->sig_len != SIG_ED25519_LEN) {
			return FT_ENOTE_BADSIG;
		}
		if (ft_b64_decode((const char *)sl->b64, sl->b64_len, raw,
				  sizeof raw, &got) != 0 ||
		    got != SIG_ED25519_LEN) {
			return FT_ENOTE_FORMAT;
		}
		if (crypto_sign_verify_detached(raw + 4, text, text_len,
						k->pk) != 0) {
			return FT_ENOTE_BADSIG;
		}
		*ts_out = 0;
		return FT_OK;
	case FT_KEY_COSIG_V1:
		if (sl->sig_len != SIG_COSIG_LEN) {
			return FT_ENOTE_BADSIG;
		}
		if (ft_b64_decode((const char *)sl->b64, sl->b64_len, raw,
				  sizeof raw, &got) != 0 ||
		    got != SIG_COSIG_LEN) {
			return FT_ENOTE_FORMAT;
		}
		/* timestamp "MUST NOT exceed 2^63 - 1" (tlog-cosignature). */
		ts = ft_be64(raw + 4);
		if (ts > (uint64_t)INT64_MAX) {
			return FT_ECOSIG_TIME;
		}
		rc = cosig_message(ts, text, text_len, msg, sizeof msg,
				   &msg_len);
		if (rc != 0) {
			return rc;
		}
		if (crypto_sign_verify_detached(raw + 12, msg, msg_len,
						k->pk) != 0) {
			return FT_ENOTE_BADSIG;
		}
		*ts_out = ts;
		return FT_OK;
	default:
		return FT_EKEY_ALG;
	}
}

int ft_note_open(const uint8_t *msg, size_t len, const ft_vkey *known,
		 size_t nknown, ft_note_sig *status, size_t *text_len)
{
	ft_note_sig st[NOTE_MAX_KNOWN];
	const uint8_t *line = NULL;
	size_t n = 0;
	size_t tlen = 0;
	size_t nsigs = 0;
	size_t nverified = 0;
	sig_line sl;
	ft_cur c;
	int rc;

	memset(st, 0, sizeof st);
	if (text_len != NULL) {
		*text_len = 0;
	}
	if (nknown > NOTE_MAX_KNOWN) {
		return FT_EINVAL;
	}
	if (status != NULL) {
		memset(status, 0, nknown * sizeof *status);
	}
	if (msg == NULL || text_len == NULL || (known == NULL && nknown > 0)) {
		return FT_EINVAL;
	}
	rc = known_check(known, nknown);
	if (rc != 0) {
		return rc;
	}
	rc = note_split(msg, len, &tlen, &nsigs);
	if (rc != 0) {
		return rc;
	}
	rc = ft_init();
	if (rc != 0) {
		return rc;
	}
	/* The lines were all checked by note_split; now the crypto. */
	ft_cur_init(&c, msg + tlen + 1, len - tlen - 1);
	while (ft_cur_line(&c, &line, &n)) {
		rc = sig_line_parse(line, n, &sl);
		if (rc != 0) {
			goto fail;
		}
		/* "Verifiers MUST ignore signatures from unknown keys, even if
		 * they share a name or ID (but not both) with a known key"
		 * (signed-note "Signatures"). */
		size_t i = known_find(known, nknown, &sl);
		if (i == nknown) {
			continue;
		}
		/* Go drops repeated signatures by one verifier unchecked. */
		if (st[i].verified) {
			continue;
		}
		/* A known key's signature that fails rejects the whole note
		 * (signed-note: clients SHOULD; we do). */
		rc = sig_verify(&known[i], msg, tlen, &sl, &st[i].timestamp);
		if (rc != 0) {
			goto fail;
		}
		st[i].verified = 1;
		nverified++;
	}
	if (nverified == 0) {
		rc = FT_ENOTE_NOKEY;
		goto fail;
	}
	if (status != NULL) {
		memcpy(status, st, nknown * sizeof *status);
	}
	*text_len = tlen;
	return FT_OK;
fail:
	if (status != NULL) {
		memset(status, 0, nknown * sizeof *status);
	}
	return rc;
}

/* ---- Checkpoints. */

/* Extension lines: each non-empty and ending in "\n" (tlog-checkpoint). */
static bool ext_lines_ok(const uint8_t *p, size_t n)
{
	const uint8_t *line = NULL;
	size_t k = 0;
	ft_cur c;

	ft_cur_init(&c, p, n);
	while (ft_cur_left(&c) > 0) {
		if (!ft_cur_line(&c, &line, &k) || k == 0) {
			return false;
		}
	}
	return true;
}

int ft_checkpoint_parse(const uint8_t *text, size_t len,
			const char *want_origin, size_t want_len,
			ft_checkpoint *out)
{
	ft_checkpoint cp;
	const uint8_t *line = NULL;
	size_t n = 0;
	ft_cur c;
	int rc;

	if (out == NULL) {
		return FT_EINVAL;
	}
	memset(out, 0, sizeof *out);
	if (text == NULL) {
		return FT_EINVAL;
	}
	memset(&cp, 0, sizeof cp);
	if (len > FT_NOTE_MAX_BYTES) {
		return FT_ETOOBIG;
	}
	/* A checkpoint is a note text: the note's character rules apply. */
	if (!note_chars_ok(text, len)) {
		return FT_ECKPT_FORMAT;
	}
	ft_cur_init(&c, text, len);
	/* 1. origin: non-empty (tlog-checkpoint "Note text"). */
	if (!ft_cur_line(&c, &line, &n) || n == 0 || n > FT_KEY_NAME_MAX) {
		return FT_ECKPT_FORMAT;
	}
	memcpy(cp.origin, line, n);
	cp.origin_len = n;
	/* 2. tree size: ASCII decimal, no leading zeroes. */
	if (!ft_cur_line(&c, &line, &n)) {
		return FT_ECKPT_FORMAT;
	}
	rc = ft_parse_u63((const char *)line, n, &cp.size);
	if (rc != 0) {
		return rc;
	}
	/* 3. root hash: base64 of 32 bytes. */
	if (!ft_cur_line(&c, &line, &n)) {
		return FT_ECKPT_FORMAT;
	}
	rc = ft_b64_hash(line, n, &cp.root);
	if (rc != 0) {
		return rc;
	}
	/* 4. extension lines, if any, MUST be non-empty. */
	if (ft_cur_left(&c) > 0) {
		if (!ext_lines_ok(ft_cur_ptr(&c), ft_cur_left(&c))) {
			return FT_ECKPT_FORMAT;
		}
		cp.ext = ft_cur_ptr(&c);
		cp.ext_len = ft_cur_left(&c);
	}
	if (want_origin != NULL &&
	    (want_len != cp.origin_len ||
	     memcmp(want_origin, cp.origin, want_len) != 0)) {
		return FT_ECKPT_ORIGIN;
	}
	*out = cp;
	return FT_OK;
}

int ft_checkpoint_format(const ft_checkpoint *cp, uint8_t *buf, size_t cap,
			 size_t *len)
{
	ft_wbuf w;
	int rc = FT_ECKPT_FORMAT;

	if (cp == NULL || buf == NULL || len == NULL) {
		return FT_EINVAL;
	}
	*len = 0;
	if (cp->ext == NULL && cp->ext_len > 0) {
		rc = FT_EINVAL;
		goto fail;
	}
	/* Write only what ft_checkpoint_parse would take back. */
	if (cp->origin_len == 0 || cp->origin_len > FT_KEY_NAME_MAX ||
	    memchr(cp->origin, '\n', cp->origin_len) != NULL ||
	    !note_chars_ok((const uint8_t *)cp->origin, cp->origin_len) ||
	    cp->size > (uint64_t)INT64_MAX ||
	    (cp->ext_len > 0 && (!ext_lines_ok(cp->ext, cp->ext_len) ||
				 !note_chars_ok(cp->ext, cp->ext_len)))) {
		goto fail;
	}
	ft_wbuf_init(&w, buf, cap);
	ft_wbuf_put(&w, cp->origin, cp->origin_len);
	ft_wbuf_byte(&w, '\n');
	ft_wbuf_u64(&w, cp->size);
	ft_wbuf_byte(&w, '\n');
	ft_wbuf_b64(&w, cp->root.b, FT_HASH_LEN);
	ft_wbuf_byte(&w, '\n');
	if (cp->ext_len > 0) {
		ft_wbuf_put(&w, cp->ext, cp->ext_len);
	}
	if (w.err != 0) {
		rc = w.err;
		goto fail;
	}
	*len = w.len;
	return FT_OK;
fail:
	memset(buf, 0, cap);
	return rc;
}

/* ---- Cosignatures. */

int ft_cosig_add(const ft_skey *witness, uint64_t timestamp, uint8_t *buf,
		 size_t cap, size_t *len)
{
	char line[FT_NOTE_SIG_LINE_MAX];
	size_t tlen = 0;
	size_t nsigs = 0;
	size_t n = 0;
	int rc;

	/* buf is both input and output: on failure it is left untouched. */
	if (witness == NULL || buf == NULL || len == NULL || *len > cap) {
		return FT_EINVAL;
	}
	if (witness->type != FT_KEY_COSIG_V1) {
		return FT_EKEY_ALG;
	}
	rc = note_split(buf, *len, &tlen, &nsigs);
	if (rc != 0) {
		return rc;
	}
	if (nsigs >= FT_NOTE_MAX_SIGS) {
		return FT_ENOTE_TOOMANY;
	}
	/* The cosigned text is the note text, without any signature line
	 * (tlog-cosignature "Ed25519 signed message"). */
	rc = ft_note_sig_line(witness, buf, tlen, timestamp, line, sizeof line,
			      &n);
	if (rc != 0) {
		return rc;
	}
	if (n > FT_NOTE_MAX_BYTES - *len) {
		return FT_ETOOBIG;
	}
	if (n > cap - *len) {
		return FT_EBUFSIZE;
	}
	memcpy(buf + *len, line, n);
	*len += n;
	return FT_OK;
}
