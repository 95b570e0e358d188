/*
 * tests/test_note.c - signed notes, key strings, checkpoints and
 * cosignatures (merkle/note.c).
 *
 * Known answers come from $FTLOG_VECTORS/notes.txt, parsed at run time:
 * the C2SP signed-note example and the Go note.go PeterNeumann key pair.
 * Everything else is built here with deterministic keys, and checked
 * independently with libsodium where it matters (key ids, cosignatures).
 */
#include <inttypes.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <check.h>
#include <sodium.h>

#include <ftlog/note.h>

#include "tests/testutil.h"

/* ---- Known answers from notes.txt. */

static struct {
	char ex_vkey[FT_KEY_STR_MAX + 1]; /* C2SP signed-note example */
	uint8_t ex_note[2048];
	size_t ex_note_len;
	char pn_skey[FT_KEY_STR_MAX + 1]; /* Go note.go example */
	char pn_vkey[FT_KEY_STR_MAX + 1];
	uint8_t pn_text[512];
	size_t pn_text_len;
	char pn_sigline[FT_NOTE_SIG_LINE_MAX]; /* without its newline */
} V;

static bool starts(const char *line, size_t n, const char *p)
{
	size_t k = strlen(p);

	return n >= k && memcmp(line, p, k) == 0;
}

static void copy_field(char *dst, size_t cap, const char *src, size_t n)
{
	ck_assert_uint_lt(n, cap);
	memcpy(dst, src, n);
	dst[n] = '\0';
}

/*
 * notes.txt layout: "# " section headers; "vkey: ", "skey: " lines; the
 * C2SP note between BEGIN/END NOTE markers; the Go text as the two lines
 * after "text (...)"; the Go signature line after "signature line ...".
 */
static void load_vectors(void)
{
	char path[4096];
	size_t flen = 0;
	enum { SEC_NONE, SEC_C2SP, SEC_GO } sec = SEC_NONE;
	enum { ST_NONE, ST_NOTE, ST_TEXT, ST_SIG } st = ST_NONE;
	int text_lines = 0;

	memset(&V, 0, sizeof V);
	ck_assert_int_lt(snprintf(path, sizeof path, "%s/notes.txt",
				  tu_vectors_dir()),
			 (int)sizeof path);
	uint8_t *file = tu_read_file(path, &flen);
	ck_assert_msg(file != NULL, "cannot read %s", path);

	const char *p = (const char *)file;
	const char *end = p + flen;
	while (p < end) {
		const char *nl = memchr(p, '\n', (size_t)(end - p));
		size_t n = nl != NULL ? (size_t)(nl - p) : (size_t)(end - p);
		const char *line = p;

		p += n + (nl != NULL ? 1 : 0);
		if (st == ST_NOTE) {
			if (starts(line, n, "-----END NOTE-----")) {
				st = ST_NONE;
				continue;
			}
			ck_assert_uint_lt(V.ex_note_len + n + 1,
					  sizeof V.ex_note);
			memcpy(V.ex_note + V.ex_note_len, line, n);
			V.ex_note_len += n;
			V.ex_note[V.ex_note_len++] = '\n';
			continue;
		}
		if (st == ST_TEXT) {
			ck_assert_uint_lt(V.pn_text_len + n + 1,
					  sizeof V.pn_text);
			memcpy(V.pn_text + V.pn_text_len, line, n);
			V.pn_text_len += n;
			V.pn_text[V.pn_text_len++] = '\n';
			if (++text_lines == 2) {
				st = ST_NONE;
			}
			continue;
		}
		if (st == ST_SIG) {
			copy_field(V.pn_sigline, sizeof V.pn_sigline, line, n);
			st = ST_NONE;
			continue;
		}
		if (starts(line, n, "# C2SP signed-note")) {
			sec = SEC_C2SP;
		} else if (starts(line, n, "# Go ")) {
			sec = SEC_GO;
		} else if (starts(line, n, "# ")) {
			sec = SEC_NONE;
		} else if (starts(line, n, "vkey: ") && sec == SEC_C2SP) {
			copy_field(V.ex_vkey, sizeof V.ex_vkey, line + 6,
				   n - 6);
		} else if (starts(line, n, "vkey: ") && sec == SEC_GO) {
			copy_field(V.pn_vkey, sizeof V.pn_vkey, line + 6,
				   n - 6);
		} else if (starts(line, n, "skey: ") && sec == SEC_GO) {
			copy_field(V.pn_skey, sizeof V.pn_skey, line + 6,
				   n - 6);
		} else if (starts(line, n, "-----BEGIN NOTE-----")) {
			st = ST_NOTE;
		} else if (starts(line, n, "text (") && sec == SEC_GO) {
			st = ST_TEXT;
		} else if (starts(line, n, "signature line") && sec == SEC_GO) {
			st = ST_SIG;
		}
	}
	free(file);
	ck_assert_msg(V.ex_vkey[0] && V.ex_note_len > 0 && V.pn_skey[0] &&
			      V.pn_vkey[0] && V.pn_text_len > 0 &&
			      V.pn_sigline[0],
		      "notes.txt is missing a known answer");
}

/* ---- Helpers. */

/* A growable-by-hand note buffer, big enough for oversized notes. */
typedef struct nbuf {
	uint8_t b[FT_NOTE_MAX_BYTES + 8192];
	size_t n;
} nbuf;

static void nb_put(nbuf *nb, const void *p, size_t n)
{
	ck_assert_uint_le(n, sizeof nb->b - nb->n);
	memcpy(nb->b + nb->n, p, n);
	nb->n += n;
}

static void nb_str(nbuf *nb, const char *s)
{
	nb_put(nb, s, strlen(s));
}

static const char EM_DASH[] = "\xe2\x80\x94";

/* Append "— name base64(raw)\n" (standard base64, encoded by libsodium). */
static void nb_sigline(nbuf *nb, const char *name, const uint8_t *raw,
		       size_t n)
{
	char b64[8192];

	ck_assert_uint_lt(sodium_base64_ENCODED_LEN(
				  n, sodium_base64_VARIANT_ORIGINAL),
			  sizeof b64);
	sodium_bin2base64(b64, sizeof b64, raw, n,
			  sodium_base64_VARIANT_ORIGINAL);
	nb_str(nb, EM_DASH);
	nb_str(nb, " ");
	nb_str(nb, name);
	nb_str(nb, " ");
	nb_str(nb, b64);
	nb_str(nb, "\n");
}

static void make_key(ft_skey *k, const char *name, uint8_t type, uint8_t s)
{
	uint8_t seed[32];

	memset(seed, s, sizeof seed);
	ck_assert_int_eq(ft_key_from_seed(name, strlen(name), type, seed, k),
			 FT_OK);
}

/* Signature bytes (key id included) of key over text. */
static size_t raw_sig(const ft_skey *k, const void *text, size_t tlen,
		      uint64_t ts, uint8_t *raw, size_t cap)
{
	char line[FT_NOTE_SIG_LINE_MAX];
	size_t n = 0, got = 0;

	ck_assert_int_eq(ft_note_sig_line(k, text, tlen, ts, line, sizeof line,
					  &n),
			 FT_OK);
	ck_assert_uint_eq(strlen(line), n);
	ck_assert(line[n - 1] == '\n');
	const char *sp = strrchr(line, ' ');
	ck_assert_ptr_nonnull(sp);
	ck_assert_int_eq(sodium_base642bin(raw, cap, sp + 1,
					   (size_t)(line + n - 1 - (sp + 1)),
					   NULL, &got, NULL,
					   sodium_base64_VARIANT_ORIGINAL),
			 0);
	return got;
}

static int open1(const nbuf *nb, const ft_vkey *known, size_t nknown)
{
	ft_note_sig st[64];
	size_t tl = 0;

	return ft_note_open(nb->b, nb->n, known, nknown, st, &tl);
}

/* The text every test note uses unless it says otherwise. */
static const char TEXT[] = "example.com/log\n42\nsome text\n";

/* Base64 (libsodium) of n bytes into a NUL-terminated string. */
static void b64enc(const uint8_t *in, size_t n, char *out, size_t cap)
{
	sodium_bin2base64(out, cap, in, n, sodium_base64_VARIANT_ORIGINAL);
}

/* Copy tmpl to out with its first "%s" replaced by val (no printf: the
 * templates are data, and -Wformat=2 wants literal formats). */
static void subst(char *out, size_t cap, const char *tmpl, const char *val)
{
	const char *at = strstr(tmpl, "%s");
	int k;

	if (at == NULL) {
		k = snprintf(out, cap, "%s", tmpl);
	} else {
		k = snprintf(out, cap, "%.*s%s%s", (int)(at - tmpl), tmpl, val,
			     at + 2);
	}
	ck_assert(k >= 0 && (size_t)k < cap);
}

/* key id computed independently: SHA-256(name || \n || type || pk)[:4]. */
static uint32_t ref_key_id(const char *name, uint8_t type, const uint8_t *pk)
{
	crypto_hash_sha256_state h;
	uint8_t sum[32];

	crypto_hash_sha256_init(&h);
	crypto_hash_sha256_update(&h, (const uint8_t *)name, strlen(name));
	crypto_hash_sha256_update(&h, (const uint8_t *)"\n", 1);
	crypto_hash_sha256_update(&h, &type, 1);
	crypto_hash_sha256_update(&h, pk, 32);
	crypto_hash_sha256_final(&h, sum);
	return ((uint32_t)sum[0] << 24) | ((uint32_t)sum[1] << 16) |
	       ((uint32_t)sum[2] << 8) | sum[3];
}

static void vkey_eq(const ft_vkey *a, const ft_vkey *b)
{
	ck_assert_uint_eq(a->name_len, b->name_len);
	ck_assert_str_eq(a->name, b->name);
	ck_assert_uint_eq(a->id, b->id);
	ck_assert_uint_eq(a->type, b->type);
	ck_assert_mem_eq(a->pk, b->pk, 32);
}

/* ---- Known answers. */

START_TEST(test_vec_peter_sign)
{
	ft_skey sk;
	char line[FT_NOTE_SIG_LINE_MAX];
	size_t n = 0;

	ck_assert_int_eq(ft_skey_parse(V.pn_skey, strlen(V.pn_skey), &sk),
			 FT_OK);
	ck_assert_int_eq(ft_note_sig_line(&sk, V.pn_text, V.pn_text_len, 0,
					  line, sizeof line, &n),
			 FT_OK);
	/* The vector's line, plus the newline the file shows as a line end. */
	ck_assert_uint_eq(n, strlen(V.pn_sigline) + 1);
	ck_assert_mem_eq(line, V.pn_sigline, n - 1);
	ck_assert_int_eq(line[n - 1], '\n');
	ck_assert_int_eq(line[n], '\0');

	/* The whole note: text, blank line, signature line. */
	uint8_t note[1024];
	size_t len = 0;
	ck_assert_int_eq(ft_note_sign(V.pn_text, V.pn_text_len, &sk, 1, 0,
				      note, sizeof note, &len),
			 FT_OK);
	ck_assert_uint_eq(len, V.pn_text_len + 1 + n);
	ck_assert_mem_eq(note, V.pn_text, V.pn_text_len);
	ck_assert_int_eq(note[V.pn_text_len], '\n');
	ck_assert_mem_eq(note + V.pn_text_len + 1, line, n);
	ft_skey_wipe(&sk);
}
END_TEST

START_TEST(test_vec_peter_keys)
{
	ft_skey sk;
	ft_vkey vk, pub;
	char buf[FT_KEY_STR_MAX + 1];
	size_t n = 0;

	ck_assert_int_eq(ft_skey_parse(V.pn_skey, strlen(V.pn_skey), &sk),
			 FT_OK);
	ck_assert_int_eq(ft_vkey_parse(V.pn_vkey, strlen(V.pn_vkey), &vk),
			 FT_OK);
	ft_skey_public(&sk, &pub);
	vkey_eq(&vk, &pub);
	ck_assert_uint_eq(vk.type, FT_KEY_ED25519);
	ck_assert_uint_eq(vk.id, ref_key_id(vk.name, vk.type, vk.pk));

	ck_assert_int_eq(ft_vkey_format(&vk, buf, sizeof buf, &n), FT_OK);
	ck_assert_uint_eq(n, strlen(V.pn_vkey));
	ck_assert_str_eq(buf, V.pn_vkey);
	ck_assert_int_eq(ft_skey_format(&sk, buf, sizeof buf, &n), FT_OK);
	ck_assert_uint_eq(n, strlen(V.pn_skey));
	ck_assert_str_eq(buf, V.pn_skey);

	ft_skey_wipe(&sk);
	uint8_t zero[sizeof sk];
	memset(zero, 0, sizeof zero);
	ck_assert_mem_eq(&sk, zero, sizeof sk);
}
END_TEST

START_TEST(test_vec_peter_open)
{
	nbuf nb = { .n = 0 };
	ft_vkey vk;
	ft_note_sig st[1];
	size_t tl = 0;

	ck_assert_int_eq(ft_vkey_parse(V.pn_vkey, strlen(V.pn_vkey), &vk),
			 FT_OK);
	nb_put(&nb, V.pn_text, V.pn_text_len);
	nb_str(&nb, "\n");
	nb_str(&nb, V.pn_sigline);
	nb_str(&nb, "\n");
	ck_assert_int_eq(ft_note_open(nb.b, nb.n, &vk, 1, st, &tl), FT_OK);
	ck_assert_uint_eq(tl, V.pn_text_len);
	ck_assert_int_eq(st[0].verified, 1);
	ck_assert_uint_eq(st[0].timestamp, 0);
}
END_TEST

START_TEST(test_vec_c2sp_example)
{
	ft_vkey vk;
	ft_note_sig st[1];
	size_t tl = 0;

	ck_assert_int_eq(ft_vkey_parse(V.ex_vkey, strlen(V.ex_vkey), &vk),
			 FT_OK);
	ck_assert_uint_eq(vk.id, ref_key_id(vk.name, vk.type, vk.pk));
	/* The signature line starts with the 3-byte em dash. */
	const uint8_t *dash = NULL;
	for (size_t i = 0; i + 1 < V.ex_note_len; i++) {
		if (V.ex_note[i] == '\n' && V.ex_note[i + 1] == '\n') {
			dash = V.ex_note + i; /* the last blank line */
		}
	}
	ck_assert_ptr_nonnull(dash);
	ck_assert_mem_eq(dash + 2, EM_DASH, 3);

	ck_assert_int_eq(ft_note_open(V.ex_note, V.ex_note_len, &vk, 1, st,
				      &tl),
			 FT_OK);
	ck_assert_uint_eq(tl, (size_t)(dash - V.ex_note) + 1);
	ck_assert_int_eq(st[0].verified, 1);

	/* An en dash (U+2013) instead of the em dash is malformed. */
	nbuf nb = { .n = 0 };
	nb_put(&nb, V.ex_note, V.ex_note_len);
	nb.b[(size_t)(dash - V.ex_note) + 4] = 0x93;
	ck_assert_int_eq(open1(&nb, &vk, 1), FT_ENOTE_FORMAT);

	/* One text byte changed: the known key's signature fails. */
	nb.n = 0;
	nb_put(&nb, V.ex_note, V.ex_note_len);
	nb.b[0] ^= 0x01;
	ck_assert_int_eq(open1(&nb, &vk, 1), FT_ENOTE_BADSIG);
}
END_TEST

/* ---- Key names. */

START_TEST(test_name_valid)
{
	static const char *ok[] = {
		"a",
		"example.com/foo",
		"PeterNeumann",
		"witness.example/w1",
		"caf\xc3\xa9",			/* é */
		"\xe6\x97\xa5\xe6\x9c\xac",	/* 日本 */
		"\xf0\x9f\x94\x91",		/* U+1F511 */
		"\xf4\x8f\xbf\xbf",		/* U+10FFFF */
		"a\x7f" "b",		/* DEL is not below U+0020 */
		"a\xe2\x80\x8b" "b",	/* U+200B: not White_Space */
		"a\xe1\xa0\x8e" "b",		/* U+180E neither */
		"a\xef\xbf\xbd" "b",	/* U+FFFD, encoded properly */
		"a=b/c:d@e",
	};
	static const char *bad[] = {
		"",
		"a+b",
		"+",
		"a b",
		" a",
		"a ",
		"a\tb",
		"a\nb",
		"a\rb",
		"a\x01" "b",
		"\x1f",
	};

	for (size_t i = 0; i < sizeof ok / sizeof ok[0]; i++) {
		ck_assert_msg(ft_key_name_valid(ok[i], strlen(ok[i])) == 1,
			      "ok[%zu]", i);
	}
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		ck_assert_msg(ft_key_name_valid(bad[i], strlen(bad[i])) == 0,
			      "bad[%zu]", i);
	}
	/* An embedded NUL is a control character. */
	ck_assert_int_eq(ft_key_name_valid("a\0b", 3), 0);

	char name[FT_KEY_NAME_MAX + 2];
	memset(name, 'n', sizeof name);
	ck_assert_int_eq(ft_key_name_valid(name, FT_KEY_NAME_MAX), 1);
	ck_assert_int_eq(ft_key_name_valid(name, FT_KEY_NAME_MAX + 1), 0);
}
END_TEST

/* UTF-8 encoding of a code point (test-side, straightforward). */
static size_t enc_utf8(uint32_t c, char *out)
{
	if (c < 0x80) {
		out[0] = (char)c;
		return 1;
	}
	if (c < 0x800) {
		out[0] = (char)(0xc0 | (c >> 6));
		out[1] = (char)(0x80 | (c & 0x3f));
		return 2;
	}
	if (c < 0x10000) {
		out[0] = (char)(0xe0 | (c >> 12));
		out[1] = (char)(0x80 | ((c >> 6) & 0x3f));
		out[2] = (char)(0x80 | (c & 0x3f));
		return 3;
	}
	out[0] = (char)(0xf0 | (c >> 18));
	out[1] = (char)(0x80 | ((c >> 12) & 0x3f));
	out[2] = (char)(0x80 | ((c >> 6) & 0x3f));
	out[3] = (char)(0x80 | (c & 0x3f));
	return 4;
}

START_TEST(test_name_unicode_spaces)
{
	static const uint32_t spaces[] = {
		0x09, 0x0a, 0x0b, 0x0c, 0x0d, 0x20, 0x85, 0xa0, 0x1680,
		0x2000, 0x2001, 0x2002, 0x2003, 0x2004, 0x2005, 0x2006,
		0x2007, 0x2008, 0x2009, 0x200a, 0x2028, 0x2029, 0x202f,
		0x205f, 0x3000,
	};
	static const uint32_t not_spaces[] = {
		0x84, 0x86, 0x9f, 0xa1, 0x167f, 0x1681, 0x1fff, 0x200b,
		0x2027, 0x202a, 0x202e, 0x2030, 0x205e, 0x2060, 0x2fff,
		0x3001, 0xfeff, 0x10000,
	};
	char name[16];

	for (size_t i = 0; i < sizeof spaces / sizeof spaces[0]; i++) {
		size_t n = 0;
		name[n++] = 'a';
		n += enc_utf8(spaces[i], name + n);
		name[n++] = 'b';
		ck_assert_msg(ft_key_name_valid(name, n) == 0, "U+%04X",
			      (unsigned)spaces[i]);
	}
	for (size_t i = 0; i < sizeof not_spaces / sizeof not_spaces[0]; i++) {
		size_t n = 0;
		name[n++] = 'a';
		n += enc_utf8(not_spaces[i], name + n);
		name[n++] = 'b';
		ck_assert_msg(ft_key_name_valid(name, n) == 1, "U+%04X",
			      (unsigned)not_spaces[i]);
	}
}
END_TEST

START_TEST(test_name_invalid_utf8)
{
	static const char *bad[] = {
		"\x80",			/* lone continuation byte */
		"a\xbf",
		"\xc0\xaf",		/* overlong '/' */
		"\xc1\xbf",		/* overlong */
		"\xe0\x80\xaf",		/* overlong, 3 bytes */
		"\xe0\x9f\xbf",		/* overlong U+07FF */
		"\xf0\x80\x80\xaf",	/* overlong, 4 bytes */
		"\xf0\x8f\xbf\xbf",	/* overlong U+FFFF */
		"\xed\xa0\x80",		/* U+D800 surrogate */
		"\xed\xbf\xbf",		/* U+DFFF surrogate */
		"\xf4\x90\x80\x80",	/* U+110000 */
		"\xf5\x80\x80\x80",
		"\xf8\x88\x80\x80\x80",
		"\xfe",
		"\xff",
		"\xc3",			/* truncated */
		"\xe2\x80",		/* truncated em dash */
		"\xf0\x9f\x94",		/* truncated 4-byte */
		"\xc3\x28",		/* bad continuation */
		"\xe2\x28\xa1",
		"\xf0\x9f\x28\x91",
	};

	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		char name[16];
		size_t n = (size_t)snprintf(name, sizeof name, "x%sy", bad[i]);
		ck_assert_msg(ft_key_name_valid(name, n) == 0, "bad[%zu]", i);
		ck_assert_msg(ft_key_name_valid(bad[i], strlen(bad[i])) == 0,
			      "bad[%zu] alone", i);
	}
	/* The boundaries just inside are fine. */
	ck_assert_int_eq(ft_key_name_valid("\xe0\xa0\x80", 3), 1); /* U+0800 */
	ck_assert_int_eq(ft_key_name_valid("\xed\x9f\xbf", 3), 1); /* U+D7FF */
	ck_assert_int_eq(ft_key_name_valid("\xee\x80\x80", 3), 1); /* U+E000 */
	ck_assert_int_eq(ft_key_name_valid("\xf0\x90\x80\x80", 4), 1);
}
END_TEST

/* ---- Keys. */

START_TEST(test_key_roundtrip)
{
	static const uint8_t types[] = { FT_KEY_ED25519, FT_KEY_COSIG_V1 };

	for (size_t t = 0; t < sizeof types; t++) {
		ft_skey sk, sk2;
		ft_vkey vk, vk2;
		char sbuf[FT_KEY_STR_MAX + 1], vbuf[FT_KEY_STR_MAX + 1];
		size_t sn = 0, vn = 0;
		const char *name = "example.com/\xc3\xa9t\xc3\xa9";

		ck_assert_int_eq(ft_key_generate(name, strlen(name), types[t],
						 &sk),
				 FT_OK);
		ck_assert_uint_eq(sk.type, types[t]);
		ck_assert_str_eq(sk.name, name);
		ck_assert_uint_eq(sk.id, ref_key_id(name, types[t], sk.pk));
		ck_assert_uint_eq(sk.id, ft_key_id(name, strlen(name),
						   types[t], sk.pk));
		ck_assert_mem_eq(sk.sk + 32, sk.pk, 32);

		ck_assert_int_eq(ft_skey_format(&sk, sbuf, sizeof sbuf, &sn),
				 FT_OK);
		ck_assert_uint_eq(sn, strlen(sbuf));
		ck_assert(strncmp(sbuf, "PRIVATE+KEY+", 12) == 0);
		ck_assert_int_eq(ft_skey_parse(sbuf, sn, &sk2), FT_OK);
		ck_assert_mem_eq(sk2.sk, sk.sk, 64);
		ck_assert_mem_eq(sk2.pk, sk.pk, 32);
		ck_assert_uint_eq(sk2.id, sk.id);
		ck_assert_uint_eq(sk2.type, sk.type);
		ck_assert_str_eq(sk2.name, sk.name);

		ft_skey_public(&sk, &vk);
		ck_assert_int_eq(ft_vkey_format(&vk, vbuf, sizeof vbuf, &vn),
				 FT_OK);
		ck_assert_uint_eq(vn, strlen(vbuf));
		/* The signer key is the verifier key behind the prefix, but
		 * with the seed in place of the public key. */
		ck_assert_uint_eq(sn, vn + 12);
		ck_assert_mem_eq(sbuf + 12, vbuf, vn - 44);
		ck_assert_int_eq(ft_vkey_parse(vbuf, vn, &vk2), FT_OK);
		vkey_eq(&vk, &vk2);

		/* Go's key format: lowercase hex, type byte first. */
		char expect[FT_KEY_STR_MAX + 1], kb[64];
		uint8_t raw[33];
		raw[0] = types[t];
		memcpy(raw + 1, sk.pk, 32);
		b64enc(raw, sizeof raw, kb, sizeof kb);
		snprintf(expect, sizeof expect, "%s+%08" PRIx32 "+%s", name,
			 ref_key_id(name, types[t], sk.pk), kb);
		ck_assert_str_eq(vbuf, expect);

		/* Signatures made by a parsed key verify with the parsed
		 * verifier. */
		uint8_t note[1024];
		size_t len = 0, tl = 0;
		ft_note_sig st[1];
		ck_assert_int_eq(ft_note_sign((const uint8_t *)TEXT,
					      strlen(TEXT), &sk2, 1, 7, note,
					      sizeof note, &len),
				 FT_OK);
		ck_assert_int_eq(ft_note_open(note, len, &vk2, 1, st, &tl),
				 FT_OK);
		ck_assert_int_eq(st[0].verified, 1);
		ck_assert_uint_eq(st[0].timestamp,
				  types[t] == FT_KEY_COSIG_V1 ? 7 : 0);
		ft_skey_wipe(&sk);
		ft_skey_wipe(&sk2);
	}
}
END_TEST

START_TEST(test_key_from_seed)
{
	ft_skey a, b;
	uint8_t seed[32];

	memset(seed, 7, sizeof seed);
	ck_assert_int_eq(ft_key_from_seed("n", 1, FT_KEY_ED25519, seed, &a),
			 FT_OK);
	ck_assert_int_eq(ft_key_from_seed("n", 1, FT_KEY_ED25519, seed, &b),
			 FT_OK);
	ck_assert_mem_eq(a.sk, b.sk, 64);
	ck_assert_mem_eq(a.sk, seed, 32);
	/* Same key, other type: other id (domain separation). */
	ck_assert_int_eq(ft_key_from_seed("n", 1, FT_KEY_COSIG_V1, seed, &b),
			 FT_OK);
	ck_assert_mem_eq(a.pk, b.pk, 32);
	ck_assert_uint_ne(a.id, b.id);

	/* Bad inputs clear the output. */
	uint8_t zero[sizeof b];
	memset(zero, 0, sizeof zero);
	ck_assert_int_eq(ft_key_from_seed("n", 1, 0x02, seed, &b),
			 FT_EKEY_ALG);
	ck_assert_mem_eq(&b, zero, sizeof b);
	ck_assert_int_eq(ft_key_from_seed("n", 1, 0x00, seed, &b),
			 FT_EKEY_ALG);
	ck_assert_int_eq(ft_key_from_seed("a b", 3, FT_KEY_ED25519, seed, &b),
			 FT_EKEY_NAME);
	ck_assert_mem_eq(&b, zero, sizeof b);
	ck_assert_int_eq(ft_key_from_seed("", 0, FT_KEY_ED25519, seed, &b),
			 FT_EKEY_NAME);
	ck_assert_int_eq(ft_key_generate("a+b", 3, FT_KEY_ED25519, &b),
			 FT_EKEY_NAME);
	ck_assert_int_eq(ft_key_generate("a", 1, 0x05, &b), FT_EKEY_ALG);
	ck_assert_int_eq(ft_key_from_seed(NULL, 0, FT_KEY_ED25519, seed, &b),
			 FT_EINVAL);

	/* Two generated keys differ. */
	ck_assert_int_eq(ft_key_generate("a", 1, FT_KEY_ED25519, &a), FT_OK);
	ck_assert_int_eq(ft_key_generate("a", 1, FT_KEY_ED25519, &b), FT_OK);
	ck_assert(memcmp(a.sk, b.sk, 64) != 0);
}
END_TEST

/* Build "<name>+<hex8>+base64(raw)" with an explicit id. */
static void mk_keystr(char *out, size_t cap, const char *prefix,
		      const char *name, uint32_t id, const uint8_t *raw,
		      size_t rawlen)
{
	char kb[256];

	b64enc(raw, rawlen, kb, sizeof kb);
	ck_assert_int_lt(snprintf(out, cap, "%s%s+%08" PRIx32 "+%s", prefix,
				  name, id, kb),
			 (int)cap);
}

static void expect_vkey(const char *s, int want)
{
	ft_vkey k;
	uint8_t zero[sizeof k];

	memset(&k, 0xaa, sizeof k);
	memset(zero, 0, sizeof zero);
	int rc = ft_vkey_parse(s, strlen(s), &k);
	ck_assert_msg(rc == want, "ft_vkey_parse(\"%s\") = %s, want %s", s,
		      ft_errname(rc), ft_errname(want));
	if (rc != 0) {
		ck_assert_mem_eq(&k, zero, sizeof k);
	}
}

static void expect_skey(const char *s, int want)
{
	ft_skey k;
	uint8_t zero[sizeof k];

	memset(&k, 0xaa, sizeof k);
	memset(zero, 0, sizeof zero);
	int rc = ft_skey_parse(s, strlen(s), &k);
	ck_assert_msg(rc == want, "ft_skey_parse(\"%s\") = %s, want %s", s,
		      ft_errname(rc), ft_errname(want));
	if (rc != 0) {
		ck_assert_mem_eq(&k, zero, sizeof k);
	}
	ft_skey_wipe(&k);
}

START_TEST(test_vkey_reject)
{
	ft_vkey vk;
	char s[1024], kb[64];
	uint8_t raw[34];

	ck_assert_int_eq(ft_vkey_parse(V.pn_vkey, strlen(V.pn_vkey), &vk),
			 FT_OK);
	raw[0] = vk.type;
	memcpy(raw + 1, vk.pk, 32);
	const char *name = vk.name;
	uint32_t id = vk.id;

	/* Baseline and uppercase hex (Go's ParseUint takes both cases). */
	mk_keystr(s, sizeof s, "", name, id, raw, 33);
	expect_vkey(s, FT_OK);
	ck_assert_str_eq(s, V.pn_vkey);
	snprintf(s, sizeof s, "%s+%08" PRIX32 "+", name, id);
	b64enc(raw, 33, kb, sizeof kb);
	strcat(s, kb);
	expect_vkey(s, FT_OK);

	/* Wrong key id. */
	mk_keystr(s, sizeof s, "", name, id ^ 1, raw, 33);
	expect_vkey(s, FT_EKEY_HASH);
	mk_keystr(s, sizeof s, "", name, id ^ 0x80000000u, raw, 33);
	expect_vkey(s, FT_EKEY_HASH);
	/* Right id for another name. */
	mk_keystr(s, sizeof s, "", "PeterNeumanm", id, raw, 33);
	expect_vkey(s, FT_EKEY_HASH);
	/* A different public key under the same id. */
	raw[32] ^= 1;
	mk_keystr(s, sizeof s, "", name, id, raw, 33);
	expect_vkey(s, FT_EKEY_HASH);
	raw[32] ^= 1;

	/* Wrong type byte, with the old id and with a matching id. */
	for (unsigned t = 0; t < 256; t++) {
		if (t == FT_KEY_ED25519 || t == FT_KEY_COSIG_V1) {
			continue;
		}
		raw[0] = (uint8_t)t;
		mk_keystr(s, sizeof s, "", name, id, raw, 33);
		expect_vkey(s, FT_EKEY_ALG);
		mk_keystr(s, sizeof s, "", name,
			  ref_key_id(name, (uint8_t)t, raw + 1), raw, 33);
		expect_vkey(s, FT_EKEY_ALG);
	}
	/* Type 0x04 is supported, but the id commits to the type. */
	raw[0] = FT_KEY_COSIG_V1;
	mk_keystr(s, sizeof s, "", name, id, raw, 33);
	expect_vkey(s, FT_EKEY_HASH);
	raw[0] = FT_KEY_ED25519;

	/* Short and long keys. */
	mk_keystr(s, sizeof s, "", name, id, raw, 32);
	expect_vkey(s, FT_EKEY_FORMAT);
	mk_keystr(s, sizeof s, "", name, id, raw, 1);
	expect_vkey(s, FT_EKEY_FORMAT);
	raw[33] = 0;
	mk_keystr(s, sizeof s, "", name, id, raw, 34);
	expect_vkey(s, FT_EKEY_FORMAT);
	mk_keystr(s, sizeof s, "", name, id, raw, 0);
	expect_vkey(s, FT_EKEY_FORMAT);

	/* Bad base64 of the right length. */
	mk_keystr(s, sizeof s, "", name, id, raw, 33);
	char *k = strrchr(s, '+') + 1;
	k[10] = '!';
	expect_vkey(s, FT_EBASE64);
	mk_keystr(s, sizeof s, "", name, id, raw, 33);
	k = strrchr(s, '+') + 1;
	k[41] = '=';
	expect_vkey(s, FT_EBASE64);
	mk_keystr(s, sizeof s, "", name, id, raw, 33);
	k = strrchr(s, '+') + 1;
	k[20] = '=';
	expect_vkey(s, FT_EBASE64);
	mk_keystr(s, sizeof s, "", name, id, raw, 33);
	k = strrchr(s, '+') + 1;
	k[5] = ' ';
	expect_vkey(s, FT_EBASE64);
	/* URL-safe alphabet is not standard base64. */
	mk_keystr(s, sizeof s, "", name, id, raw, 33);
	k = strrchr(s, '+') + 1;
	k[7] = '-';
	expect_vkey(s, FT_EBASE64);

	/* Bad names. */
	mk_keystr(s, sizeof s, "", "", ref_key_id("", 1, raw + 1), raw, 33);
	expect_vkey(s, FT_EKEY_NAME);
	mk_keystr(s, sizeof s, "", "Peter Neumann",
		  ref_key_id("Peter Neumann", 1, raw + 1), raw, 33);
	expect_vkey(s, FT_EKEY_NAME);
	mk_keystr(s, sizeof s, "", "Peter\xc2\xa0Neumann",
		  ref_key_id("Peter\xc2\xa0Neumann", 1, raw + 1), raw, 33);
	expect_vkey(s, FT_EKEY_NAME);
	mk_keystr(s, sizeof s, "", "Peter\xffNeumann",
		  ref_key_id("Peter\xffNeumann", 1, raw + 1), raw, 33);
	expect_vkey(s, FT_EKEY_NAME);
	mk_keystr(s, sizeof s, "", "Peter\xed\xa0\x80",
		  ref_key_id("Peter\xed\xa0\x80", 1, raw + 1), raw, 33);
	expect_vkey(s, FT_EKEY_NAME);
	mk_keystr(s, sizeof s, "", "a\tb", ref_key_id("a\tb", 1, raw + 1),
		  raw, 33);
	expect_vkey(s, FT_EKEY_NAME);
	/* A '+' in the name moves every field: the id field is no id. */
	mk_keystr(s, sizeof s, "", "Peter+Neumann",
		  ref_key_id("Peter+Neumann", 1, raw + 1), raw, 33);
	expect_vkey(s, FT_EKEY_FORMAT);
	/* A name over FT_KEY_NAME_MAX bytes. */
	char longname[FT_KEY_NAME_MAX + 2];
	memset(longname, 'n', sizeof longname);
	longname[FT_KEY_NAME_MAX] = '\0';
	mk_keystr(s, sizeof s, "", longname, ref_key_id(longname, 1, raw + 1),
		  raw, 33);
	expect_vkey(s, FT_OK);
	ck_assert_uint_le(strlen(s), FT_KEY_STR_MAX);
	longname[FT_KEY_NAME_MAX] = 'n';
	longname[FT_KEY_NAME_MAX + 1] = '\0';
	mk_keystr(s, sizeof s, "", longname, ref_key_id(longname, 1, raw + 1),
		  raw, 33);
	expect_vkey(s, FT_EKEY_NAME);

	/* Missing fields. */
	expect_vkey("", FT_EKEY_FORMAT);
	expect_vkey("PeterNeumann", FT_EKEY_FORMAT);
	expect_vkey("+", FT_EKEY_NAME);
	snprintf(s, sizeof s, "%s+%08" PRIx32, name, id);
	expect_vkey(s, FT_EKEY_FORMAT);
	snprintf(s, sizeof s, "%s+%08" PRIx32 "+", name, id);
	expect_vkey(s, FT_EKEY_FORMAT);
	snprintf(s, sizeof s, "%s+%s", name, kb);
	expect_vkey(s, FT_EKEY_FORMAT);
	snprintf(s, sizeof s, "%08" PRIx32 "+%s", id, kb);
	expect_vkey(s, FT_EKEY_FORMAT);

	/* Extra fields. */
	snprintf(s, sizeof s, "%s+extra", V.pn_vkey);
	expect_vkey(s, FT_EKEY_FORMAT);
	snprintf(s, sizeof s, "%s+AAAA", V.pn_vkey);
	expect_vkey(s, FT_EKEY_FORMAT);
	snprintf(s, sizeof s, "%s+", V.pn_vkey);
	expect_vkey(s, FT_EKEY_FORMAT);
	snprintf(s, sizeof s, "%s\n", V.pn_vkey);
	expect_vkey(s, FT_EKEY_FORMAT);
	snprintf(s, sizeof s, "%s ", V.pn_vkey);
	expect_vkey(s, FT_EKEY_FORMAT);
	snprintf(s, sizeof s, "%s+%08" PRIx32 "+extra+%s", name, id, kb);
	expect_vkey(s, FT_EKEY_FORMAT);

	/* Key id field: exactly 8 hex digits. */
	snprintf(s, sizeof s, "%s+%07" PRIx32 "+%s", name, id & 0xfffffff,
		 kb);
	expect_vkey(s, FT_EKEY_FORMAT);
	snprintf(s, sizeof s, "%s+0%08" PRIx32 "+%s", name, id, kb);
	expect_vkey(s, FT_EKEY_FORMAT);
	snprintf(s, sizeof s, "%s+0x%06" PRIx32 "+%s", name, id & 0xffffff,
		 kb);
	expect_vkey(s, FT_EKEY_FORMAT);
	snprintf(s, sizeof s, "%s+%08" PRIx32 "+%s", name, id, kb);
	s[strlen(name) + 3] = 'g';
	expect_vkey(s, FT_EKEY_FORMAT);
	snprintf(s, sizeof s, "%s+%08" PRIx32 "+%s", name, id, kb);
	s[strlen(name) + 1] = ' ';
	expect_vkey(s, FT_EKEY_FORMAT);

	/* A signer key is not a verifier key, and vice versa. */
	expect_vkey(V.pn_skey, FT_EKEY_FORMAT);
	snprintf(s, sizeof s, "PRIVATE+KEY+%s", V.pn_vkey);
	expect_vkey(s, FT_EKEY_FORMAT);
	expect_skey(V.pn_vkey, FT_EKEY_FORMAT);

	/* Longer than any key string we accept. */
	char huge[FT_KEY_STR_MAX + 2];
	memset(huge, 'a', sizeof huge);
	huge[FT_KEY_STR_MAX + 1] = '\0';
	expect_vkey(huge, FT_ETOOBIG);
	expect_skey(huge, FT_ETOOBIG);
	ck_assert_int_eq(ft_vkey_parse(V.pn_vkey, strlen(V.pn_vkey) - 1, &vk),
			 FT_EKEY_FORMAT);
}
END_TEST

START_TEST(test_skey_reject)
{
	ft_skey sk;
	char s[1024];
	uint8_t raw[34];

	ck_assert_int_eq(ft_skey_parse(V.pn_skey, strlen(V.pn_skey), &sk),
			 FT_OK);
	raw[0] = sk.type;
	memcpy(raw + 1, sk.sk, 32);
	char name[FT_KEY_NAME_MAX + 1];
	strcpy(name, sk.name);
	uint32_t id = sk.id;
	ft_skey_wipe(&sk);

	mk_keystr(s, sizeof s, "PRIVATE+KEY+", name, id, raw, 33);
	expect_skey(s, FT_OK);
	ck_assert_str_eq(s, V.pn_skey);

	/* The id is checked against the derived public key. */
	mk_keystr(s, sizeof s, "PRIVATE+KEY+", name, id ^ 0x10, raw, 33);
	expect_skey(s, FT_EKEY_HASH);
	raw[5] ^= 1;
	mk_keystr(s, sizeof s, "PRIVATE+KEY+", name, id, raw, 33);
	expect_skey(s, FT_EKEY_HASH);
	raw[5] ^= 1;
	mk_keystr(s, sizeof s, "PRIVATE+KEY+", "PeterNeumanm", id, raw, 33);
	expect_skey(s, FT_EKEY_HASH);
	raw[0] = FT_KEY_COSIG_V1;
	mk_keystr(s, sizeof s, "PRIVATE+KEY+", name, id, raw, 33);
	expect_skey(s, FT_EKEY_HASH);
	raw[0] = 0x02;
	mk_keystr(s, sizeof s, "PRIVATE+KEY+", name, id, raw, 33);
	expect_skey(s, FT_EKEY_ALG);
	raw[0] = FT_KEY_ED25519;

	/* Prefix. */
	mk_keystr(s, sizeof s, "", name, id, raw, 33);
	expect_skey(s, FT_EKEY_FORMAT);
	mk_keystr(s, sizeof s, "PRIVATE+", name, id, raw, 33);
	expect_skey(s, FT_EKEY_FORMAT);
	mk_keystr(s, sizeof s, "private+key+", name, id, raw, 33);
	expect_skey(s, FT_EKEY_FORMAT);
	mk_keystr(s, sizeof s, "PRIVATE+KEX+", name, id, raw, 33);
	expect_skey(s, FT_EKEY_FORMAT);
	mk_keystr(s, sizeof s, "PRIVATE+KEY+PRIVATE+KEY+", name, id, raw, 33);
	expect_skey(s, FT_EKEY_FORMAT);

	/* Fields. */
	expect_skey("PRIVATE+KEY+", FT_EKEY_FORMAT);
	expect_skey("PRIVATE+KEY++", FT_EKEY_NAME);
	mk_keystr(s, sizeof s, "PRIVATE+KEY+", name, id, raw, 32);
	expect_skey(s, FT_EKEY_FORMAT);
	mk_keystr(s, sizeof s, "PRIVATE+KEY+", "a b", id, raw, 33);
	expect_skey(s, FT_EKEY_NAME);
	snprintf(s, sizeof s, "%s+x", V.pn_skey);
	expect_skey(s, FT_EKEY_FORMAT);
	mk_keystr(s, sizeof s, "PRIVATE+KEY+", name, id, raw, 33);
	s[strlen(s) - 3] = '*';
	expect_skey(s, FT_EBASE64);
	sodium_memzero(raw, sizeof raw);
}
END_TEST

START_TEST(test_key_format)
{
	ft_skey sk;
	ft_vkey vk;
	char buf[FT_KEY_STR_MAX + 1];
	size_t n = 0, full = 0;

	make_key(&sk, "example.com/log", FT_KEY_ED25519, 1);
	ft_skey_public(&sk, &vk);
	ck_assert_int_eq(ft_vkey_format(&vk, buf, sizeof buf, &full), FT_OK);
	/* Exactly enough room needs the NUL too. */
	ck_assert_int_eq(ft_vkey_format(&vk, buf, full + 1, &n), FT_OK);
	ck_assert_uint_eq(n, full);
	memset(buf, 'x', sizeof buf);
	ck_assert_int_eq(ft_vkey_format(&vk, buf, full, &n), FT_EBUFSIZE);
	ck_assert_uint_eq(n, 0);
	for (size_t i = 0; i < full; i++) {
		ck_assert_int_eq(buf[i], 0);
	}
	ck_assert_int_eq(ft_vkey_format(&vk, buf, 0, &n), FT_EBUFSIZE);

	ck_assert_int_eq(ft_skey_format(&sk, buf, sizeof buf, &full), FT_OK);
	ck_assert_int_eq(ft_skey_format(&sk, buf, full, &n), FT_EBUFSIZE);
	for (size_t i = 0; i < full; i++) {
		ck_assert_int_eq(buf[i], 0);
	}

	/* Inconsistent structs are refused, not formatted. */
	ft_vkey bad = vk;
	bad.id ^= 1;
	ck_assert_int_eq(ft_vkey_format(&bad, buf, sizeof buf, &n),
			 FT_EKEY_HASH);
	bad = vk;
	bad.type = 0x02;
	ck_assert_int_eq(ft_vkey_format(&bad, buf, sizeof buf, &n),
			 FT_EKEY_ALG);
	bad = vk;
	bad.name[3] = ' ';
	ck_assert_int_eq(ft_vkey_format(&bad, buf, sizeof buf, &n),
			 FT_EKEY_NAME);
	bad = vk;
	bad.name_len = 0;
	ck_assert_int_eq(ft_vkey_format(&bad, buf, sizeof buf, &n),
			 FT_EKEY_NAME);
	ft_skey sbad = sk;
	sbad.sk[40] ^= 1;
	ck_assert_int_eq(ft_skey_format(&sbad, buf, sizeof buf, &n),
			 FT_EINVAL);
	ft_skey_wipe(&sbad);
	ft_skey_wipe(&sk);
}
END_TEST

START_TEST(test_key_cosig_vkey)
{
	ft_skey w;
	ft_vkey vk, parsed;
	char s[FT_KEY_STR_MAX + 1];
	uint8_t raw[40];
	size_t n = 0, got = 0;

	make_key(&w, "witness.example/w1", FT_KEY_COSIG_V1, 9);
	ft_skey_public(&w, &vk);
	ck_assert_int_eq(ft_vkey_format(&vk, s, sizeof s, &n), FT_OK);
	/* The key material is 0x04 || public key. */
	const char *kb = strrchr(s, '+') + 1;
	ck_assert_int_eq(sodium_base642bin(raw, sizeof raw, kb, strlen(kb),
					   NULL, &got, NULL,
					   sodium_base64_VARIANT_ORIGINAL),
			 0);
	ck_assert_uint_eq(got, 33);
	ck_assert_uint_eq(raw[0], 0x04);
	ck_assert_mem_eq(raw + 1, w.pk, 32);
	ck_assert_int_eq(ft_vkey_parse(s, n, &parsed), FT_OK);
	ck_assert_uint_eq(parsed.type, FT_KEY_COSIG_V1);
	ck_assert_uint_eq(parsed.id,
			  ref_key_id("witness.example/w1", 0x04, w.pk));
	vkey_eq(&parsed, &vk);

	/* A string built independently of the library parses the same. */
	mk_keystr(s, sizeof s, "", "witness.example/w1",
		  ref_key_id("witness.example/w1", 0x04, w.pk), raw, 33);
	ck_assert_int_eq(ft_vkey_parse(s, strlen(s), &parsed), FT_OK);
	vkey_eq(&parsed, &vk);
	ft_skey_wipe(&w);
}
END_TEST

/* ---- Signing. */

START_TEST(test_sign_errors)
{
	ft_skey k;
	uint8_t out[2048];
	char line[FT_NOTE_SIG_LINE_MAX];
	size_t n = 0;

	make_key(&k, "example.com/log", FT_KEY_ED25519, 1);
	static const char *bad_text[] = {
		"",
		"no newline",
		"tab\there\n",
		"cr\r\n",
		"nul\x01\n",
		"bad \xff utf8\n",
		"overlong \xc0\xaf\n",
		"surrogate \xed\xa0\x80\n",
	};
	for (size_t i = 0; i < sizeof bad_text / sizeof bad_text[0]; i++) {
		const uint8_t *t = (const uint8_t *)bad_text[i];
		ck_assert_msg(ft_note_sign(t, strlen(bad_text[i]), &k, 1, 0,
					   out, sizeof out,
					   &n) == FT_ENOTE_FORMAT,
			      "bad_text[%zu]", i);
		ck_assert_uint_eq(n, 0);
		ck_assert_msg(ft_note_sig_line(&k, t, strlen(bad_text[i]), 0,
					       line, sizeof line,
					       &n) == FT_ENOTE_FORMAT,
			      "bad_text[%zu]", i);
	}
	/* An embedded NUL is a control character too. */
	ck_assert_int_eq(ft_note_sign((const uint8_t *)"a\0b\n", 4, &k, 1, 0,
				      out, sizeof out, &n),
			 FT_ENOTE_FORMAT);

	const uint8_t *t = (const uint8_t *)TEXT;
	size_t tl = strlen(TEXT);
	ck_assert_int_eq(ft_note_sign(t, tl, &k, 0, 0, out, sizeof out, &n),
			 FT_EINVAL);
	ck_assert_int_eq(ft_note_sign(t, tl, &k, 1, 0, out, sizeof out, &n),
			 FT_OK);
	size_t full = n;
	/* Exactly enough room; one byte less fails and clears. */
	ck_assert_int_eq(ft_note_sign(t, tl, &k, 1, 0, out, full, &n), FT_OK);
	ck_assert_uint_eq(n, full);
	ck_assert_int_eq(ft_note_sign(t, tl, &k, 1, 0, out, full - 1, &n),
			 FT_EBUFSIZE);
	ck_assert_uint_eq(n, 0);
	for (size_t i = 0; i < full - 1; i++) {
		ck_assert_uint_eq(out[i], 0);
	}
	ck_assert_int_eq(ft_note_sig_line(&k, t, tl, 0, line, 10, &n),
			 FT_EBUFSIZE);

	/* More keys than a note may carry. */
	static ft_skey many[FT_NOTE_MAX_SIGS + 1];
	for (size_t i = 0; i < FT_NOTE_MAX_SIGS + 1; i++) {
		many[i] = k;
	}
	ck_assert_int_eq(ft_note_sign(t, tl, many, FT_NOTE_MAX_SIGS + 1, 0,
				      out, sizeof out, &n),
			 FT_ENOTE_TOOMANY);

	/* A key whose parts disagree signs nothing. */
	ft_skey bad = k;
	bad.id ^= 1;
	ck_assert_int_eq(ft_note_sig_line(&bad, t, tl, 0, line, sizeof line,
					  &n),
			 FT_EKEY_HASH);
	bad = k;
	bad.type = 0x02;
	ck_assert_int_eq(ft_note_sig_line(&bad, t, tl, 0, line, sizeof line,
					  &n),
			 FT_EKEY_ALG);
	bad = k;
	bad.sk[63] ^= 1;
	ck_assert_int_eq(ft_note_sig_line(&bad, t, tl, 0, line, sizeof line,
					  &n),
			 FT_EINVAL);

	/* Ed25519 keys ignore the timestamp, even an out-of-range one. */
	char l2[FT_NOTE_SIG_LINE_MAX];
	size_t n2 = 0;
	ck_assert_int_eq(ft_note_sig_line(&k, t, tl, 0, line, sizeof line, &n),
			 FT_OK);
	ck_assert_int_eq(ft_note_sig_line(&k, t, tl, UINT64_MAX, l2,
					  sizeof l2, &n2),
			 FT_OK);
	ck_assert_str_eq(line, l2);
	ft_skey_wipe(&bad);
	ft_skey_wipe(&k);
}
END_TEST

/* ---- Opening notes. */

static void note_with(nbuf *nb, const char *text, const ft_skey *keys,
		      size_t nkeys, uint64_t ts)
{
	size_t n = 0;

	nb->n = 0;
	ck_assert_int_eq(ft_note_sign((const uint8_t *)text, strlen(text),
				      keys, nkeys, ts, nb->b, sizeof nb->b,
				      &n),
			 FT_OK);
	nb->n = n;
}

START_TEST(test_open_unknown_ignored)
{
	ft_skey a, other_name, same_name, x;
	ft_vkey va;
	nbuf nb = { .n = 0 };
	uint8_t raw[128];
	ft_note_sig st[1];
	size_t tl = 0;

	make_key(&a, "example.com/log", FT_KEY_ED25519, 1);
	make_key(&other_name, "example.com/other", FT_KEY_ED25519, 2);
	make_key(&same_name, "example.com/log", FT_KEY_ED25519, 3);
	make_key(&x, "example.com/x", FT_KEY_ED25519, 4);
	ft_skey_public(&a, &va);
	ck_assert_uint_ne(same_name.id, a.id);

	ft_skey keys[] = { other_name, a, same_name };
	note_with(&nb, TEXT, keys, 3, 0);
	/* Same id as the known key under another name: unknown. The bytes
	 * are even a valid signature by the known key. */
	size_t rn = raw_sig(&a, TEXT, strlen(TEXT), 0, raw, sizeof raw);
	nb_sigline(&nb, "example.com/log2", raw, rn);
	/* Same id and a garbage signature, other name: still unknown. */
	memset(raw + 4, 0x55, rn - 4);
	nb_sigline(&nb, "example.com/lo", raw, rn);
	/* Same name, an unknown id, garbage. */
	raw[0] ^= 0xff;
	nb_sigline(&nb, "example.com/log", raw, rn);
	/* Unknown key, short and long signatures of other algorithms. */
	memset(raw, 0x11, sizeof raw);
	nb_sigline(&nb, "example.com/x", raw, 5);
	nb_sigline(&nb, "example.com/x", raw, 100);
	ck_assert_int_eq(ft_note_open(nb.b, nb.n, &va, 1, st, &tl), FT_OK);
	ck_assert_int_eq(st[0].verified, 1);
	ck_assert_uint_eq(tl, strlen(TEXT));
	ck_assert_mem_eq(nb.b, TEXT, tl);

	/* Known key first, unknown lines after. */
	note_with(&nb, TEXT, &a, 1, 0);
	rn = raw_sig(&x, TEXT, strlen(TEXT), 0, raw, sizeof raw);
	nb_sigline(&nb, "example.com/x", raw, rn);
	ck_assert_int_eq(open1(&nb, &va, 1), FT_OK);

	/* Unknown lines before the known one, with garbage signatures, so
	 * that only the (name, id) pair can tell them apart. */
	uint8_t good[128];
	size_t gn = raw_sig(&a, TEXT, strlen(TEXT), 0, good, sizeof good);
	static const char *names[] = { "example.com/lo", "example.com/log2",
				       "Example.com/log", "example.com/log" };
	for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
		memcpy(raw, good, gn);
		memset(raw + 4, 0x55, gn - 4);
		if (strcmp(names[i], "example.com/log") == 0) {
			raw[3] ^= 1; /* same name, other id */
		}
		nb.n = 0;
		nb_str(&nb, TEXT);
		nb_str(&nb, "\n");
		nb_sigline(&nb, names[i], raw, gn);
		nb_sigline(&nb, "example.com/log", good, gn);
		ck_assert_msg(open1(&nb, &va, 1) == FT_OK, "%s", names[i]);
		/* Alone, such a line leaves no known signature. */
		nb.n = 0;
		nb_str(&nb, TEXT);
		nb_str(&nb, "\n");
		nb_sigline(&nb, names[i], raw, gn);
		ck_assert_msg(open1(&nb, &va, 1) == FT_ENOTE_NOKEY, "%s",
			      names[i]);
	}
	ft_skey_wipe(&a);
	ft_skey_wipe(&other_name);
	ft_skey_wipe(&same_name);
	ft_skey_wipe(&x);
}
END_TEST

START_TEST(test_open_long_unknown)
{
	/* An unknown signer may use a long name and a post-quantum-sized
	 * signature: the line is well formed and ignored. */
	ft_skey a;
	ft_vkey va;
	nbuf nb = { .n = 0 };
	static uint8_t big[5000];
	char name[400];

	make_key(&a, "example.com/log", FT_KEY_ED25519, 1);
	ft_skey_public(&a, &va);
	note_with(&nb, TEXT, &a, 1, 0);
	memset(big, 0xa5, sizeof big);
	memset(name, 'n', sizeof name - 1);
	name[sizeof name - 1] = '\0';
	nb_sigline(&nb, name, big, sizeof big);
	nb_sigline(&nb, "pq.example", big, 2421);
	nb_sigline(&nb, "pq.example", big, 2420);
	nb_sigline(&nb, "pq.example", big, 2419);
	ck_assert_int_eq(open1(&nb, &va, 1), FT_OK);

	/* The same long line with one bad base64 character is not. */
	nbuf nb2 = nb;
	nb2.n = 0;
	note_with(&nb2, TEXT, &a, 1, 0);
	size_t at = nb2.n;
	nb_sigline(&nb2, "pq.example", big, 2421);
	nb2.b[at + 4 + 11 + 1000] = '=';
	ck_assert_int_eq(open1(&nb2, &va, 1), FT_ENOTE_FORMAT);
	/* Canonical-looking padding ("AAA=", "AA==") that ends a
	 * 256-character chunk but not the encoding. */
	static uint8_t zeros[2421];
	for (size_t pad = 1; pad <= 2; pad++) {
		for (size_t chunk = 1; chunk <= 3; chunk++) {
			note_with(&nb2, TEXT, &a, 1, 0);
			at = nb2.n;
			nb_sigline(&nb2, "pq.example", zeros, sizeof zeros);
			for (size_t k = 0; k < pad; k++) {
				nb2.b[at + 15 + 256 * chunk - 1 - k] = '=';
			}
			ck_assert_int_eq(open1(&nb2, &va, 1), FT_ENOTE_FORMAT);
		}
	}
	/* '=' around the end of a 256-character chunk. */
	for (size_t off = 250; off < 262; off++) {
		note_with(&nb2, TEXT, &a, 1, 0);
		at = nb2.n;
		nb_sigline(&nb2, "pq.example", big, 2421);
		nb2.b[at + 4 + 11 + off] = '=';
		ck_assert_int_eq(open1(&nb2, &va, 1), FT_ENOTE_FORMAT);
	}
	ft_skey_wipe(&a);
}
END_TEST

START_TEST(test_open_badsig)
{
	ft_skey a, b;
	ft_vkey va, vb;
	nbuf nb = { .n = 0 };
	uint8_t raw[128];

	make_key(&a, "example.com/log", FT_KEY_ED25519, 1);
	make_key(&b, "example.com/b", FT_KEY_ED25519, 2);
	ft_skey_public(&a, &va);
	ft_skey_public(&b, &vb);

	/* A's line carries a signature of another text. */
	nb_str(&nb, TEXT);
	nb_str(&nb, "\n");
	size_t rn = raw_sig(&a, "other\n", 6, 0, raw, sizeof raw);
	nb_sigline(&nb, "example.com/log", raw, rn);
	ck_assert_int_eq(open1(&nb, &va, 1), FT_ENOTE_BADSIG);

	/* A bad known signature rejects the note even if another verifies,
	 * before or after it. */
	ft_vkey both[2] = { va, vb };
	note_with(&nb, TEXT, &b, 1, 0);
	nb_sigline(&nb, "example.com/log", raw, rn);
	ck_assert_int_eq(open1(&nb, both, 2), FT_ENOTE_BADSIG);
	ck_assert_int_eq(open1(&nb, &vb, 1), FT_OK);

	/* Right id, wrong length for Ed25519: cannot verify. */
	memset(raw, 0, sizeof raw);
	rn = raw_sig(&a, TEXT, strlen(TEXT), 0, raw, sizeof raw);
	for (size_t len = 5; len < 100; len++) {
		if (len == rn) {
			continue;
		}
		note_with(&nb, TEXT, &b, 1, 0);
		nb_sigline(&nb, "example.com/log", raw, len);
		ck_assert_int_eq(open1(&nb, both, 2), FT_ENOTE_BADSIG);
	}

	/* A key known with the wrong public key (same name and id). */
	ft_vkey wrong = va;
	wrong.pk[0] ^= 1;
	note_with(&nb, TEXT, &a, 1, 0);
	ck_assert_int_eq(open1(&nb, &wrong, 1), FT_ENOTE_BADSIG);

	/* The status and text length are cleared on failure. */
	ft_note_sig st[2], pat;
	size_t tl = 77;
	memset(st, 0xaa, sizeof st);
	memset(&pat, 0xaa, sizeof pat);
	ck_assert_int_eq(ft_note_open(nb.b, nb.n, &wrong, 1, st, &tl),
			 FT_ENOTE_BADSIG);
	ck_assert_uint_eq(tl, 0);
	ck_assert_int_eq(st[0].verified, 0);
	ck_assert_uint_eq(st[0].timestamp, 0);
	ck_assert_mem_eq(&st[1], &pat, sizeof pat); /* beyond nknown */
	ft_skey_wipe(&a);
	ft_skey_wipe(&b);
}
END_TEST

START_TEST(test_open_nokey)
{
	ft_skey a, b;
	ft_vkey va, vb;
	nbuf nb = { .n = 0 };
	ft_note_sig st[1];
	size_t tl = 5;

	make_key(&a, "example.com/log", FT_KEY_ED25519, 1);
	make_key(&b, "example.com/b", FT_KEY_ED25519, 2);
	ft_skey_public(&a, &va);
	ft_skey_public(&b, &vb);
	note_with(&nb, TEXT, &a, 1, 0);
	ck_assert_int_eq(open1(&nb, &vb, 1), FT_ENOTE_NOKEY);
	ck_assert_int_eq(open1(&nb, NULL, 0), FT_ENOTE_NOKEY);
	st[0].verified = 1;
	ck_assert_int_eq(ft_note_open(nb.b, nb.n, &vb, 1, st, &tl),
			 FT_ENOTE_NOKEY);
	ck_assert_int_eq(st[0].verified, 0);
	ck_assert_uint_eq(tl, 0);
	/* status may be NULL. */
	ck_assert_int_eq(ft_note_open(nb.b, nb.n, &va, 1, NULL, &tl), FT_OK);
	ck_assert_uint_eq(tl, strlen(TEXT));
	ft_skey_wipe(&a);
	ft_skey_wipe(&b);
}
END_TEST

START_TEST(test_open_16_sigs)
{
	/* signed-note: verifiers "MUST accept at least up to 16
	 * signatures"; here 16 known ones among unknown ones. */
	ft_skey keys[16], unk[20];
	ft_vkey known[16];
	nbuf nb = { .n = 0 };
	ft_note_sig st[16];
	size_t tl = 0;
	char name[64];

	for (size_t i = 0; i < 16; i++) {
		snprintf(name, sizeof name, "signer%zu.example", i);
		make_key(&keys[i], name,
			 i % 4 == 3 ? FT_KEY_COSIG_V1 : FT_KEY_ED25519,
			 (uint8_t)(i + 1));
		ft_skey_public(&keys[i], &known[i]);
	}
	for (size_t i = 0; i < 20; i++) {
		snprintf(name, sizeof name, "unknown%zu.example", i);
		make_key(&unk[i], name, FT_KEY_ED25519, (uint8_t)(100 + i));
	}
	note_with(&nb, TEXT, unk, 10, 1234);
	for (size_t i = 0; i < 16; i++) {
		uint8_t raw[128];
		size_t rn = raw_sig(&keys[i], TEXT, strlen(TEXT), 1234, raw,
				    sizeof raw);
		nb_sigline(&nb, keys[i].name, raw, rn);
		rn = raw_sig(&unk[10 + i % 10], TEXT, strlen(TEXT), 0, raw,
			     sizeof raw);
		if (i < 10) {
			nb_sigline(&nb, unk[10 + i].name, raw, rn);
		}
	}
	ck_assert_int_eq(ft_note_open(nb.b, nb.n, known, 16, st, &tl), FT_OK);
	ck_assert_uint_eq(tl, strlen(TEXT));
	for (size_t i = 0; i < 16; i++) {
		ck_assert_int_eq(st[i].verified, 1);
		ck_assert_uint_eq(st[i].timestamp, i % 4 == 3 ? 1234 : 0);
	}
	for (size_t i = 0; i < 16; i++) {
		ft_skey_wipe(&keys[i]);
	}
}
END_TEST

START_TEST(test_open_toomany)
{
	ft_skey a;
	ft_vkey va;
	nbuf nb = { .n = 0 };
	uint8_t raw[68];

	make_key(&a, "example.com/log", FT_KEY_ED25519, 1);
	ft_skey_public(&a, &va);
	memset(raw, 0x33, sizeof raw);
	note_with(&nb, TEXT, &a, 1, 0);
	for (size_t i = 1; i < FT_NOTE_MAX_SIGS; i++) {
		nb_sigline(&nb, "unknown.example", raw, sizeof raw);
	}
	ck_assert_int_eq(open1(&nb, &va, 1), FT_OK);
	nb_sigline(&nb, "unknown.example", raw, sizeof raw);
	ck_assert_int_eq(open1(&nb, &va, 1), FT_ENOTE_TOOMANY);

	/* Even when every line repeats the one known signature. */
	uint8_t good[128];
	size_t rn = raw_sig(&a, TEXT, strlen(TEXT), 0, good, sizeof good);
	note_with(&nb, TEXT, &a, 1, 0);
	for (size_t i = 0; i < FT_NOTE_MAX_SIGS; i++) {
		nb_sigline(&nb, "example.com/log", good, rn);
	}
	ck_assert_int_eq(open1(&nb, &va, 1), FT_ENOTE_TOOMANY);
	ft_skey_wipe(&a);
}
END_TEST

START_TEST(test_open_duplicates)
{
	ft_skey a;
	ft_vkey va;
	nbuf nb = { .n = 0 };
	uint8_t good[128], bad[128];

	make_key(&a, "example.com/log", FT_KEY_ED25519, 1);
	ft_skey_public(&a, &va);
	size_t rn = raw_sig(&a, TEXT, strlen(TEXT), 0, good, sizeof good);
	memcpy(bad, good, rn);
	bad[10] ^= 1;

	/* Repeats of a verified key are ignored, as in Go's Open, even a
	 * bad one. */
	note_with(&nb, TEXT, &a, 1, 0);
	nb_sigline(&nb, "example.com/log", good, rn);
	nb_sigline(&nb, "example.com/log", bad, rn);
	ck_assert_int_eq(open1(&nb, &va, 1), FT_OK);

	/* A bad one first rejects the note. */
	nb.n = 0;
	nb_str(&nb, TEXT);
	nb_str(&nb, "\n");
	nb_sigline(&nb, "example.com/log", bad, rn);
	nb_sigline(&nb, "example.com/log", good, rn);
	ck_assert_int_eq(open1(&nb, &va, 1), FT_ENOTE_BADSIG);

	/* Two known keys with the same name and id are ambiguous. */
	ft_vkey twice[2] = { va, va };
	note_with(&nb, TEXT, &a, 1, 0);
	ck_assert_int_eq(open1(&nb, twice, 2), FT_EINVAL);
	ft_skey_wipe(&a);
}
END_TEST

/* Expect ft_note_open(text || sigs) to fail with want. */
static void expect_open(const char *what, const nbuf *nb, const ft_vkey *k,
			int want)
{
	ft_note_sig st[1];
	size_t tl = 9;
	int rc;

	memset(st, 0x5a, sizeof st);
	rc = ft_note_open(nb->b, nb->n, k, 1, st, &tl);
	ck_assert_msg(rc == want, "%s: %s, want %s", what, ft_errname(rc),
		      ft_errname(want));
	if (rc != 0) {
		ck_assert_uint_eq(tl, 0);
		ck_assert_int_eq(st[0].verified, 0);
		ck_assert_uint_eq(st[0].timestamp, 0);
	}
}

START_TEST(test_open_format)
{
	ft_skey a;
	ft_vkey va;
	nbuf nb = { .n = 0 };
	uint8_t raw[128];
	char good[FT_NOTE_SIG_LINE_MAX]; /* A's line over TEXT */
	size_t gn = 0;

	make_key(&a, "example.com/log", FT_KEY_ED25519, 1);
	ft_skey_public(&a, &va);
	ck_assert_int_eq(ft_note_sig_line(&a, (const uint8_t *)TEXT,
					  strlen(TEXT), 0, good, sizeof good,
					  &gn),
			 FT_OK);
	size_t rn = raw_sig(&a, TEXT, strlen(TEXT), 0, raw, sizeof raw);
	const char *gb64 = strrchr(good, ' ') + 1; /* ends in "\n" */

	note_with(&nb, TEXT, &a, 1, 0);
	expect_open("baseline", &nb, &va, FT_OK);

	static const char *bad_text[] = {
		"a\x01" "b\n", "a\tb\n", "a\rb\n", "a\x1b[0m\n", "a\xff\n",
		"a\xc0\xaf\n", "a\xed\xa0\x80\n", "a\xe2\x80\n",
		"a\xf4\x90\x80\x80\n",
	};
	for (size_t i = 0; i < sizeof bad_text / sizeof bad_text[0]; i++) {
		nb.n = 0;
		nb_str(&nb, bad_text[i]);
		nb_str(&nb, "\n");
		nb_str(&nb, good);
		expect_open(bad_text[i], &nb, &va, FT_ENOTE_FORMAT);
	}
	/* A NUL byte is a control character. */
	nb.n = 0;
	nb_put(&nb, "a\0b\n\n", 5);
	nb_str(&nb, good);
	expect_open("NUL in text", &nb, &va, FT_ENOTE_FORMAT);
	/* The same characters in a signature line. */
	nb.n = 0;
	nb_str(&nb, TEXT);
	nb_str(&nb, "\n");
	nb_str(&nb, good);
	nb.b[nb.n - 5] = '\x01';
	expect_open("control in signature", &nb, &va, FT_ENOTE_FORMAT);

	/* Missing blank line. */
	nb.n = 0;
	nb_str(&nb, TEXT);
	nb_str(&nb, good);
	expect_open("no blank line", &nb, &va, FT_ENOTE_FORMAT);
	/* Missing final newline. */
	nb.n = 0;
	nb_str(&nb, TEXT);
	nb_str(&nb, "\n");
	nb_put(&nb, good, gn - 1);
	expect_open("no final newline", &nb, &va, FT_ENOTE_FORMAT);
	/* Garbage after the last line. */
	nb_str(&nb, "\nx");
	expect_open("trailing bytes", &nb, &va, FT_ENOTE_FORMAT);
	/* No signature lines at all. */
	nb.n = 0;
	nb_str(&nb, TEXT);
	nb_str(&nb, "\n");
	expect_open("no signatures", &nb, &va, FT_ENOTE_FORMAT);
	nb.n = 0;
	expect_open("empty", &nb, &va, FT_ENOTE_FORMAT);
	nb_str(&nb, "\n\n");
	expect_open("blank", &nb, &va, FT_ENOTE_FORMAT);
	/* A blank line after the signatures makes them text. */
	nb.n = 0;
	nb_str(&nb, TEXT);
	nb_str(&nb, "\n");
	nb_str(&nb, good);
	nb_str(&nb, "\n");
	expect_open("blank line at end", &nb, &va, FT_ENOTE_FORMAT);

	/* The em dash and its space. */
	static const char *bad_prefix[] = {
		"\xe2\x80\x93 ",	/* en dash */
		"\xe2\x80\x95 ",	/* horizontal bar */
		"- ",
		"-- ",
		"\xe2\x80\x94",	/* no space */
		"\xe2\x80\x94\xc2\xa0", /* no-break space */
		" \xe2\x80\x94 ",
		"\xe2\x80\x94\t",
		"",
	};
	for (size_t i = 0; i < sizeof bad_prefix / sizeof bad_prefix[0];
	     i++) {
		nb.n = 0;
		nb_str(&nb, TEXT);
		nb_str(&nb, "\n");
		nb_str(&nb, bad_prefix[i]);
		nb_str(&nb, good + 4);
		expect_open(bad_prefix[i], &nb, &va, FT_ENOTE_FORMAT);
	}

	/* Names and base64. */
	struct {
		const char *line;
		int want;
	} lines[] = {
		{ "\xe2\x80\x94  %s", FT_ENOTE_FORMAT },	/* empty name */
		{ "\xe2\x80\x94 example.com/log \n", FT_ENOTE_FORMAT },
		{ "\xe2\x80\x94 example.com/log\n", FT_ENOTE_FORMAT },
		{ "\xe2\x80\x94 \n", FT_ENOTE_FORMAT },
		{ "\xe2\x80\x94 example.com/log  %s", FT_ENOTE_FORMAT },
		{ "\xe2\x80\x94 example.com\xc2\xa0log %s", FT_ENOTE_FORMAT },
		{ "\xe2\x80\x94 example.com+log %s", FT_ENOTE_FORMAT },
		{ "\xe2\x80\x94 example.com/\xff %s", FT_ENOTE_FORMAT },
		{ "\xe2\x80\x94 example.com/log AAAAAA==\n", FT_ENOTE_FORMAT },
		{ "\xe2\x80\x94 example.com/log AAAA\n", FT_ENOTE_FORMAT },
		{ "\xe2\x80\x94 example.com/log AAAAAAA\n", FT_ENOTE_FORMAT },
		{ "\xe2\x80\x94 example.com/log AAAAAAB=\n", FT_ENOTE_FORMAT },
		{ "\xe2\x80\x94 example.com/log ####AAAA\n", FT_ENOTE_FORMAT },
		{ "\xe2\x80\x94 example.com/log AAAA AAAA\n", FT_ENOTE_FORMAT },
		{ "\xe2\x80\x94 example.com/log AA==AAAA\n", FT_ENOTE_FORMAT },
		{ "\xe2\x80\x94 example.com/log ====\n", FT_ENOTE_FORMAT },
		{ "\xe2\x80\x94 example.com/log AAAAAAA==\n", FT_ENOTE_FORMAT },
		/* Well formed (5 bytes), from unknown keys: ignored. */
		{ "\xe2\x80\x94 unknown.example AAAAAAA=\n", FT_OK },
		{ "\xe2\x80\x94 example.com/log AAAAAAA=\n", FT_OK },
	};
	for (size_t i = 0; i < sizeof lines / sizeof lines[0]; i++) {
		char l[FT_NOTE_SIG_LINE_MAX + 64];
		subst(l, sizeof l, lines[i].line, gb64);
		/* A good line first, so only the bad one can fail. */
		note_with(&nb, TEXT, &a, 1, 0);
		nb_str(&nb, l);
		expect_open(lines[i].line, &nb, &va, lines[i].want);
	}

	/* Signature of exactly 4 bytes (only a key id): malformed, even
	 * with the known key's id; 5 bytes: well formed but bad. */
	note_with(&nb, TEXT, &a, 1, 0);
	nb_sigline(&nb, "example.com/log", raw, 4);
	expect_open("4-byte signature", &nb, &va, FT_ENOTE_FORMAT);
	nb.n = 0;
	nb_str(&nb, TEXT);
	nb_str(&nb, "\n");
	nb_sigline(&nb, "example.com/log", raw, 5);
	expect_open("5-byte signature", &nb, &va, FT_ENOTE_BADSIG);
	nb.n = 0;
	nb_str(&nb, TEXT);
	nb_str(&nb, "\n");
	nb_sigline(&nb, "example.com/log", raw, rn);
	expect_open("rebuilt line", &nb, &va, FT_OK);
	ft_skey_wipe(&a);
}
END_TEST

START_TEST(test_open_toobig)
{
	ft_skey a;
	ft_vkey va;
	static nbuf nb;
	static uint8_t text[FT_NOTE_MAX_BYTES + 2];
	char line[FT_NOTE_SIG_LINE_MAX];
	size_t ln = 0, n = 0;

	make_key(&a, "example.com/log", FT_KEY_ED25519, 1);
	ft_skey_public(&a, &va);
	ck_assert_int_eq(ft_note_sig_line(&a, (const uint8_t *)"x\n", 2, 0,
					  line, sizeof line, &ln),
			 FT_OK);
	/* A text that makes the note exactly FT_NOTE_MAX_BYTES. */
	size_t tlen = FT_NOTE_MAX_BYTES - 1 - ln;
	memset(text, 'a', tlen - 1);
	text[tlen - 1] = '\n';
	ck_assert_int_eq(ft_note_sign(text, tlen, &a, 1, 0, nb.b, sizeof nb.b,
				      &n),
			 FT_OK);
	ck_assert_uint_eq(n, FT_NOTE_MAX_BYTES);
	nb.n = n;
	ck_assert_int_eq(open1(&nb, &va, 1), FT_OK);

	/* One byte more. */
	memset(text, 'a', tlen);
	text[tlen] = '\n';
	ck_assert_int_eq(ft_note_sign(text, tlen + 1, &a, 1, 0, nb.b,
				      sizeof nb.b, &n),
			 FT_ETOOBIG);
	ck_assert_int_eq(ft_note_sig_line(&a, text, tlen + 1, 0, line,
					  sizeof line, &ln),
			 FT_OK);
	nb.n = 0;
	nb_put(&nb, text, tlen + 1);
	nb_str(&nb, "\n");
	nb_str(&nb, line);
	ck_assert_uint_eq(nb.n, FT_NOTE_MAX_BYTES + 1);
	ck_assert_int_eq(open1(&nb, &va, 1), FT_ETOOBIG);
	/* Size is checked before anything else. */
	nb.b[0] = 0x01;
	ck_assert_int_eq(open1(&nb, &va, 1), FT_ETOOBIG);
	ft_skey_wipe(&a);
}
END_TEST

/* Rebuild a note: text, blank line, one line with these raw bytes. */
static void note_raw(nbuf *nb, const char *text, const char *name,
		     const uint8_t *raw, size_t n)
{
	nb->n = 0;
	nb_str(nb, text);
	nb_str(nb, "\n");
	nb_sigline(nb, name, raw, n);
}

START_TEST(test_open_flip_sig)
{
	ft_skey a;
	ft_vkey va;
	nbuf nb = { .n = 0 };
	uint8_t raw[128], mod[128];

	make_key(&a, "example.com/log", FT_KEY_ED25519, 1);
	ft_skey_public(&a, &va);
	size_t rn = raw_sig(&a, TEXT, strlen(TEXT), 0, raw, sizeof raw);
	ck_assert_uint_eq(rn, 68);
	note_raw(&nb, TEXT, "example.com/log", raw, rn);
	expect_open("unmodified", &nb, &va, FT_OK);

	/* Every byte of key id || signature, every bit and the whole
	 * byte: a changed key id makes the line unknown (so no known key
	 * signed), a changed signature must not verify. */
	for (size_t i = 0; i < rn; i++) {
		for (unsigned m = 0; m <= 8; m++) {
			uint8_t mask = m == 8 ? 0xff : (uint8_t)(1u << m);
			memcpy(mod, raw, rn);
			mod[i] ^= mask;
			note_raw(&nb, TEXT, "example.com/log", mod, rn);
			int rc = open1(&nb, &va, 1);
			int want = i < 4 ? FT_ENOTE_NOKEY : FT_ENOTE_BADSIG;
			ck_assert_msg(rc == want,
				      "byte %zu mask %02x: %s, want %s", i,
				      mask, ft_errname(rc), ft_errname(want));
		}
	}
	/* Every byte of the text changed to another allowed character. */
	char t[sizeof TEXT];
	for (size_t i = 0; i < strlen(TEXT); i++) {
		memcpy(t, TEXT, sizeof TEXT);
		if (t[i] == '\n') {
			continue;
		}
		t[i] = t[i] == 'x' ? 'y' : 'x';
		note_raw(&nb, t, "example.com/log", raw, rn);
		ck_assert_int_eq(open1(&nb, &va, 1), FT_ENOTE_BADSIG);
	}
	/* Truncated and extended signatures. */
	note_raw(&nb, TEXT, "example.com/log", raw, rn - 1);
	ck_assert_int_eq(open1(&nb, &va, 1), FT_ENOTE_BADSIG);
	raw[rn] = 0;
	note_raw(&nb, TEXT, "example.com/log", raw, rn + 1);
	ck_assert_int_eq(open1(&nb, &va, 1), FT_ENOTE_BADSIG);
	ft_skey_wipe(&a);
}
END_TEST

START_TEST(test_open_blank_lines)
{
	static const char *texts[] = {
		"a\n\nb\n\n\nc\n",
		"\n",
		"\n\n",
		"a\n\n",
		"first\n\n\xe2\x80\x94 looks like a signature AAAAAAA=\n"
		"\nend\n",
		"caf\xc3\xa9 \xf0\x9f\x94\x91 \x7f\n",
	};
	ft_skey a;
	ft_vkey va;
	nbuf nb = { .n = 0 };
	ft_note_sig st[1];
	size_t tl = 0;

	make_key(&a, "example.com/log", FT_KEY_ED25519, 1);
	ft_skey_public(&a, &va);
	for (size_t i = 0; i < sizeof texts / sizeof texts[0]; i++) {
		note_with(&nb, texts[i], &a, 1, 0);
		int rc = ft_note_open(nb.b, nb.n, &va, 1, st, &tl);
		ck_assert_msg(rc == FT_OK, "texts[%zu]", i);
		ck_assert_uint_eq(tl, strlen(texts[i]));
		ck_assert_mem_eq(nb.b, texts[i], tl);
	}
	ft_skey_wipe(&a);
}
END_TEST

START_TEST(test_open_status)
{
	ft_skey a, b, c, w;
	ft_vkey known[4];
	nbuf nb = { .n = 0 };
	ft_note_sig st[4];
	size_t tl = 0;

	make_key(&a, "a.example", FT_KEY_ED25519, 1);
	make_key(&b, "b.example", FT_KEY_ED25519, 2);
	make_key(&c, "c.example", FT_KEY_ED25519, 3);
	make_key(&w, "w.example", FT_KEY_COSIG_V1, 4);
	ft_skey_public(&a, &known[0]);
	ft_skey_public(&b, &known[1]);
	ft_skey_public(&c, &known[2]);
	ft_skey_public(&w, &known[3]);
	ft_skey signers[3] = { c, w, a };
	note_with(&nb, TEXT, signers, 3, 1700000000);
	memset(st, 0xff, sizeof st);
	ck_assert_int_eq(ft_note_open(nb.b, nb.n, known, 4, st, &tl), FT_OK);
	ck_assert_int_eq(st[0].verified, 1);
	ck_assert_int_eq(st[1].verified, 0);
	ck_assert_uint_eq(st[1].timestamp, 0);
	ck_assert_int_eq(st[2].verified, 1);
	ck_assert_int_eq(st[3].verified, 1);
	ck_assert_uint_eq(st[0].timestamp, 0);
	ck_assert_uint_eq(st[3].timestamp, 1700000000);

	/* Argument checks. */
	static ft_vkey many[65];
	for (size_t i = 0; i < 65; i++) {
		many[i] = known[0];
		many[i].id = (uint32_t)i;
	}
	ck_assert_int_eq(ft_note_open(nb.b, nb.n, many, 65, NULL, &tl),
			 FT_EINVAL);
	ck_assert_int_eq(ft_note_open(nb.b, nb.n, many, 64, NULL, &tl),
			 FT_ENOTE_NOKEY);
	ck_assert_int_eq(ft_note_open(nb.b, nb.n, known, 4, st, NULL),
			 FT_EINVAL);
	ck_assert_int_eq(ft_note_open(NULL, 0, known, 4, st, &tl), FT_EINVAL);
	ck_assert_int_eq(ft_note_open(nb.b, nb.n, NULL, 1, st, &tl),
			 FT_EINVAL);
	ft_vkey bad = known[0];
	bad.type = 0x02;
	ck_assert_int_eq(ft_note_open(nb.b, nb.n, &bad, 1, st, &tl),
			 FT_EKEY_ALG);
	bad = known[0];
	bad.name_len = FT_KEY_NAME_MAX + 1;
	ck_assert_int_eq(ft_note_open(nb.b, nb.n, &bad, 1, st, &tl),
			 FT_EKEY_NAME);
	ft_skey_wipe(&a);
	ft_skey_wipe(&b);
	ft_skey_wipe(&c);
	ft_skey_wipe(&w);
}
END_TEST

/* ---- Checkpoints. */

static void root_b64(const ft_hash *h, char *out, size_t cap)
{
	b64enc(h->b, FT_HASH_LEN, out, cap);
}

static void sample_cp(ft_checkpoint *cp)
{
	memset(cp, 0, sizeof *cp);
	strcpy(cp->origin, "example.com/log42");
	cp->origin_len = strlen(cp->origin);
	cp->size = 20852163;
	for (size_t i = 0; i < FT_HASH_LEN; i++) {
		cp->root.b[i] = (uint8_t)(i * 7 + 3);
	}
}

START_TEST(test_ckpt_roundtrip)
{
	ft_checkpoint cp, got;
	uint8_t buf[1024];
	char expect[512], rb[64];
	size_t n = 0;

	sample_cp(&cp);
	ck_assert_int_eq(ft_checkpoint_format(&cp, buf, sizeof buf, &n), FT_OK);
	root_b64(&cp.root, rb, sizeof rb);
	snprintf(expect, sizeof expect, "example.com/log42\n20852163\n%s\n",
		 rb);
	ck_assert_uint_eq(n, strlen(expect));
	ck_assert_mem_eq(buf, expect, n);
	/* Exactly enough room (no NUL is written). */
	ck_assert_int_eq(ft_checkpoint_format(&cp, buf, n, &n), FT_OK);
	ck_assert_int_eq(ft_checkpoint_format(&cp, buf, n - 1, &n),
			 FT_EBUFSIZE);
	ck_assert_uint_eq(n, 0);

	n = strlen(expect);
	ck_assert_int_eq(ft_checkpoint_parse((const uint8_t *)expect, n,
					     "example.com/log42", 17, &got),
			 FT_OK);
	ck_assert_str_eq(got.origin, cp.origin);
	ck_assert_uint_eq(got.origin_len, cp.origin_len);
	ck_assert_uint_eq(got.size, cp.size);
	ck_assert_mem_eq(got.root.b, cp.root.b, FT_HASH_LEN);
	ck_assert_ptr_null(got.ext);
	ck_assert_uint_eq(got.ext_len, 0);
	ck_assert_int_eq(ft_checkpoint_parse((const uint8_t *)expect, n, NULL,
					     0, &got),
			 FT_OK);

	/* Limits: size 0 and INT64_MAX; a 255-byte origin with spaces
	 * and '+' (a SHOULD, not a MUST, in tlog-checkpoint). */
	cp.size = 0;
	ck_assert_int_eq(ft_checkpoint_format(&cp, buf, sizeof buf, &n), FT_OK);
	ck_assert_int_eq(ft_checkpoint_parse(buf, n, NULL, 0, &got), FT_OK);
	ck_assert_uint_eq(got.size, 0);
	cp.size = (uint64_t)INT64_MAX;
	ck_assert_int_eq(ft_checkpoint_format(&cp, buf, sizeof buf, &n), FT_OK);
	ck_assert_int_eq(ft_checkpoint_parse(buf, n, NULL, 0, &got), FT_OK);
	ck_assert_uint_eq(got.size, (uint64_t)INT64_MAX);
	cp.size = (uint64_t)INT64_MAX + 1;
	ck_assert_int_eq(ft_checkpoint_format(&cp, buf, sizeof buf, &n),
			 FT_ECKPT_FORMAT);
	cp.size = 1;
	memset(cp.origin, 'o', FT_KEY_NAME_MAX);
	cp.origin[10] = ' ';
	cp.origin[11] = '+';
	cp.origin[FT_KEY_NAME_MAX] = '\0';
	cp.origin_len = FT_KEY_NAME_MAX;
	ck_assert_int_eq(ft_checkpoint_format(&cp, buf, sizeof buf, &n), FT_OK);
	ck_assert_int_eq(ft_checkpoint_parse(buf, n, cp.origin, cp.origin_len,
					     &got),
			 FT_OK);
	ck_assert_str_eq(got.origin, cp.origin);
}
END_TEST

START_TEST(test_ckpt_ext_roundtrip)
{
	ft_checkpoint cp, got, again;
	uint8_t buf[1024], buf2[1024];
	size_t n = 0, n2 = 0;
	static const char ext[] = "ext one\n\xe2\x80\x94 two\nthree\n";

	sample_cp(&cp);
	cp.ext = (const uint8_t *)ext;
	cp.ext_len = strlen(ext);
	ck_assert_int_eq(ft_checkpoint_format(&cp, buf, sizeof buf, &n), FT_OK);
	ck_assert_int_eq(ft_checkpoint_parse(buf, n, "example.com/log42", 17,
					     &got),
			 FT_OK);
	ck_assert_uint_eq(got.ext_len, strlen(ext));
	ck_assert_ptr_nonnull(got.ext);
	/* ext points into the parsed text. */
	ck_assert(got.ext >= buf && got.ext + got.ext_len == buf + n);
	ck_assert_mem_eq(got.ext, ext, got.ext_len);
	ck_assert_int_eq(ft_checkpoint_format(&got, buf2, sizeof buf2, &n2),
			 FT_OK);
	ck_assert_uint_eq(n2, n);
	ck_assert_mem_eq(buf2, buf, n);
	ck_assert_int_eq(ft_checkpoint_parse(buf2, n2, NULL, 0, &again),
			 FT_OK);
	ck_assert_uint_eq(again.ext_len, got.ext_len);

	/* Formatting refuses extension text that would not parse back. */
	static const char *bad_ext[] = {
		"no newline", "\n", "a\n\nb\n", "a\x01\n", "a\xff\n",
	};
	for (size_t i = 0; i < sizeof bad_ext / sizeof bad_ext[0]; i++) {
		cp.ext = (const uint8_t *)bad_ext[i];
		cp.ext_len = strlen(bad_ext[i]);
		ck_assert_msg(ft_checkpoint_format(&cp, buf, sizeof buf, &n) ==
				      FT_ECKPT_FORMAT,
			      "bad_ext[%zu]", i);
	}
	cp.ext = NULL;
	cp.ext_len = 3;
	ck_assert_int_eq(ft_checkpoint_format(&cp, buf, sizeof buf, &n),
			 FT_EINVAL);
	/* Bad origins. */
	sample_cp(&cp);
	cp.origin_len = 0;
	ck_assert_int_eq(ft_checkpoint_format(&cp, buf, sizeof buf, &n),
			 FT_ECKPT_FORMAT);
	sample_cp(&cp);
	cp.origin[3] = '\n';
	ck_assert_int_eq(ft_checkpoint_format(&cp, buf, sizeof buf, &n),
			 FT_ECKPT_FORMAT);
	sample_cp(&cp);
	cp.origin_len = FT_KEY_NAME_MAX + 1;
	ck_assert_int_eq(ft_checkpoint_format(&cp, buf, sizeof buf, &n),
			 FT_ECKPT_FORMAT);
}
END_TEST

static void expect_ckpt(const char *text, size_t len, const char *want_origin,
			int want)
{
	ft_checkpoint cp;
	uint8_t zero[sizeof cp];

	memset(&cp, 0xaa, sizeof cp);
	memset(zero, 0, sizeof zero);
	int rc = ft_checkpoint_parse((const uint8_t *)text, len, want_origin,
				     want_origin ? strlen(want_origin) : 0,
				     &cp);
	ck_assert_msg(rc == want, "\"%s\": %s, want %s", text, ft_errname(rc),
		      ft_errname(want));
	if (rc != 0) {
		ck_assert_mem_eq(&cp, zero, sizeof cp);
	}
}

START_TEST(test_ckpt_reject)
{
	ft_hash h;
	char r[64], r31[64], r33[64], nc[64], t[1024];
	uint8_t raw[33];

	for (size_t i = 0; i < sizeof raw; i++) {
		raw[i] = (uint8_t)(0xf0 - i);
	}
	memcpy(h.b, raw, FT_HASH_LEN);
	root_b64(&h, r, sizeof r);
	b64enc(raw, 31, r31, sizeof r31);
	b64enc(raw, 33, r33, sizeof r33);
	/* Non-canonical: a set trailing bit in the last data character. */
	strcpy(nc, r);
	ck_assert_int_eq(nc[43], '=');
	static const char alpha[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
				    "abcdefghijklmnopqrstuvwxyz"
				    "0123456789+/";
	nc[42] = alpha[(strchr(alpha, nc[42]) - alpha) ^ 1];

	struct {
		const char *fmt; /* %s is the root */
		int want;
	} cases[] = {
		{ "o\n1\n%s\n", FT_OK },
		{ "o\n0\n%s\n", FT_OK },
		{ "o\n9223372036854775807\n%s\n", FT_OK },
		{ "o\n1\n%s\next\n", FT_OK },
		{ "o\n01\n%s\n", FT_ENUMBER },
		{ "o\n00\n%s\n", FT_ENUMBER },
		{ "o\n9223372036854775808\n%s\n", FT_ENUMBER },
		{ "o\n18446744073709551615\n%s\n", FT_ENUMBER },
		{ "o\n99999999999999999999\n%s\n", FT_ENUMBER },
		{ "o\n12a\n%s\n", FT_ENUMBER },
		{ "o\n-1\n%s\n", FT_ENUMBER },
		{ "o\n+1\n%s\n", FT_ENUMBER },
		{ "o\n 1\n%s\n", FT_ENUMBER },
		{ "o\n1 \n%s\n", FT_ENUMBER },
		{ "o\n0x10\n%s\n", FT_ENUMBER },
		{ "o\n\n%s\n", FT_ENUMBER },
		{ "o\n1\n%s \n", FT_EBASE64 },
		{ "o\n1\n\n", FT_EHASHLEN },
		{ "o\n1\n%s", FT_ECKPT_FORMAT },	/* no final newline */
		{ "o\n1\n%s\next", FT_ECKPT_FORMAT },
		{ "\n1\n%s\n", FT_ECKPT_FORMAT },	/* empty origin */
		{ "o\n1\n%s\n\n", FT_ECKPT_FORMAT }, /* empty extension */
		{ "o\n1\n%s\na\n\nb\n", FT_ECKPT_FORMAT },
		{ "o\n1\n", FT_ECKPT_FORMAT },
		{ "o\n", FT_ECKPT_FORMAT },
		{ "o", FT_ECKPT_FORMAT },
		{ "", FT_ECKPT_FORMAT },
		{ "o\x01\n1\n%s\n", FT_ECKPT_FORMAT },
		{ "o\xff\n1\n%s\n", FT_ECKPT_FORMAT },
		{ "o\n1\n%s\ne\tx\n", FT_ECKPT_FORMAT },
		{ "o\r\n1\n%s\n", FT_ECKPT_FORMAT },
	};
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		subst(t, sizeof t, cases[i].fmt, r);
		expect_ckpt(t, strlen(t), NULL, cases[i].want);
	}

	/* Roots of the wrong size or encoding. */
	snprintf(t, sizeof t, "o\n1\n%s\n", r31);
	expect_ckpt(t, strlen(t), NULL, FT_EHASHLEN);
	snprintf(t, sizeof t, "o\n1\n%s\n", r33);
	expect_ckpt(t, strlen(t), NULL, FT_EHASHLEN);
	snprintf(t, sizeof t, "o\n1\n%s\n", nc);
	expect_ckpt(t, strlen(t), NULL, FT_EBASE64);
	snprintf(t, sizeof t, "o\n1\n%.43s\n", r); /* no padding */
	expect_ckpt(t, strlen(t), NULL, FT_EBASE64);
	snprintf(t, sizeof t, "o\n1\n%.42s==\n", r);
	expect_ckpt(t, strlen(t), NULL, FT_EBASE64);
	snprintf(t, sizeof t, "o\n1\n%.40s-_-=\n", r); /* URL alphabet */
	expect_ckpt(t, strlen(t), NULL, FT_EBASE64);

	/* Origin: too long, mismatched. */
	char origin[FT_KEY_NAME_MAX + 2];
	memset(origin, 'o', sizeof origin);
	origin[FT_KEY_NAME_MAX + 1] = '\0';
	snprintf(t, sizeof t, "%s\n1\n%s\n", origin, r);
	expect_ckpt(t, strlen(t), NULL, FT_ECKPT_FORMAT);
	origin[FT_KEY_NAME_MAX] = '\0';
	snprintf(t, sizeof t, "%s\n1\n%s\n", origin, r);
	expect_ckpt(t, strlen(t), origin, FT_OK);

	snprintf(t, sizeof t, "example.com/log\n1\n%s\n", r);
	expect_ckpt(t, strlen(t), "example.com/log", FT_OK);
	expect_ckpt(t, strlen(t), "example.com/lo", FT_ECKPT_ORIGIN);
	expect_ckpt(t, strlen(t), "example.com/log2", FT_ECKPT_ORIGIN);
	expect_ckpt(t, strlen(t), "example.com/LOG", FT_ECKPT_ORIGIN);
	expect_ckpt(t, strlen(t), "", FT_ECKPT_ORIGIN);
	/* A malformed checkpoint is reported as such, not as a mismatch. */
	snprintf(t, sizeof t, "example.com/log\n01\n%s\n", r);
	expect_ckpt(t, strlen(t), "other", FT_ENUMBER);
	/* An embedded NUL in the origin. */
	snprintf(t, sizeof t, "oXo\n1\n%s\n", r);
	t[1] = '\0';
	expect_ckpt(t, 4 + 2 + 45, NULL, FT_ECKPT_FORMAT);
}
END_TEST

/* ---- Cosignatures. */

typedef struct cosig_fx {
	ft_skey log, wit;
	ft_vkey vlog, vwit;
	uint8_t note[4096];
	size_t len;
	size_t text_len;
} cosig_fx;

static const uint64_t TS = 1679315147;

static void cosig_setup(cosig_fx *fx, const uint8_t *ext, size_t ext_len)
{
	ft_checkpoint cp;
	uint8_t text[1024];
	size_t tl = 0;

	make_key(&fx->log, "example.com/behind-the-sofa", FT_KEY_ED25519, 21);
	make_key(&fx->wit, "witness.example.com/w1", FT_KEY_COSIG_V1, 22);
	ft_skey_public(&fx->log, &fx->vlog);
	ft_skey_public(&fx->wit, &fx->vwit);
	memset(&cp, 0, sizeof cp);
	strcpy(cp.origin, fx->log.name);
	cp.origin_len = fx->log.name_len;
	cp.size = 20852163;
	memset(cp.root.b, 0x42, FT_HASH_LEN);
	cp.ext = ext;
	cp.ext_len = ext_len;
	ck_assert_int_eq(ft_checkpoint_format(&cp, text, sizeof text, &tl),
			 FT_OK);
	ck_assert_int_eq(ft_note_sign(text, tl, &fx->log, 1, 0, fx->note,
				      sizeof fx->note, &fx->len),
			 FT_OK);
	fx->text_len = tl;
	ck_assert_int_eq(ft_cosig_add(&fx->wit, TS, fx->note, sizeof fx->note,
				      &fx->len),
			 FT_OK);
}

static void cosig_wipe(cosig_fx *fx)
{
	ft_skey_wipe(&fx->log);
	ft_skey_wipe(&fx->wit);
}

/* The raw bytes of the note's last signature line. */
static size_t last_sig(const uint8_t *note, size_t len, char *name,
		       uint8_t *raw, size_t cap)
{
	size_t start = len - 1;
	size_t got = 0;

	while (start > 0 && note[start - 1] != '\n') {
		start--;
	}
	const char *l = (const char *)note + start;
	ck_assert_mem_eq(l, EM_DASH, 3);
	const char *sp = memchr(l + 4, ' ', len - start - 4);
	ck_assert_ptr_nonnull(sp);
	memcpy(name, l + 4, (size_t)(sp - (l + 4)));
	name[sp - (l + 4)] = '\0';
	ck_assert_int_eq(sodium_base642bin(raw, cap, sp + 1,
					   (size_t)((const char *)note + len -
						    1 - (sp + 1)),
					   NULL, &got, NULL,
					   sodium_base64_VARIANT_ORIGINAL),
			 0);
	return got;
}

START_TEST(test_cosig_add_open)
{
	static const uint8_t ext[] = "extension line\n";
	for (int with_ext = 0; with_ext < 2; with_ext++) {
		cosig_fx fx;
		ft_vkey both[2];
		ft_note_sig st[2];
		size_t tl = 0;

		cosig_setup(&fx, with_ext ? ext : NULL,
			    with_ext ? sizeof ext - 1 : 0);
		both[0] = fx.vlog;
		both[1] = fx.vwit;
		ck_assert_int_eq(ft_note_open(fx.note, fx.len, both, 2, st,
					      &tl),
				 FT_OK);
		ck_assert_uint_eq(tl, fx.text_len);
		ck_assert_int_eq(st[0].verified, 1);
		ck_assert_uint_eq(st[0].timestamp, 0);
		ck_assert_int_eq(st[1].verified, 1);
		ck_assert_uint_eq(st[1].timestamp, TS);

		/* The text is a checkpoint again. */
		ft_checkpoint cp;
		ck_assert_int_eq(ft_checkpoint_parse(fx.note, tl,
						     fx.log.name,
						     fx.log.name_len, &cp),
				 FT_OK);
		ck_assert_uint_eq(cp.size, 20852163);
		ck_assert_uint_eq(cp.ext_len, with_ext ? sizeof ext - 1 : 0);

		/* Only the log key known: the cosignature is ignored. */
		ck_assert_int_eq(ft_note_open(fx.note, fx.len, &fx.vlog, 1, st,
					      &tl),
				 FT_OK);
		ck_assert_int_eq(st[0].verified, 1);
		/* Only the witness key known: it verifies alone. */
		ck_assert_int_eq(ft_note_open(fx.note, fx.len, &fx.vwit, 1, st,
					      &tl),
				 FT_OK);
		ck_assert_int_eq(st[0].verified, 1);
		ck_assert_uint_eq(st[0].timestamp, TS);

		/* A second witness; and its line order does not matter. */
		ft_skey w2;
		ft_vkey all[3];
		make_key(&w2, "w2.example", FT_KEY_COSIG_V1, 23);
		ck_assert_int_eq(ft_cosig_add(&w2, 0, fx.note, sizeof fx.note,
					      &fx.len),
				 FT_OK);
		all[0] = fx.vwit;
		ft_skey_public(&w2, &all[1]);
		all[2] = fx.vlog;
		ft_note_sig st3[3];
		ck_assert_int_eq(ft_note_open(fx.note, fx.len, all, 3, st3,
					      &tl),
				 FT_OK);
		ck_assert_uint_eq(tl, fx.text_len);
		ck_assert_int_eq(st3[0].verified + st3[1].verified +
					 st3[2].verified,
				 3);
		ck_assert_uint_eq(st3[0].timestamp, TS);
		ck_assert_uint_eq(st3[1].timestamp, 0);
		ft_skey_wipe(&w2);
		cosig_wipe(&fx);
	}
}
END_TEST

START_TEST(test_cosig_layout)
{
	/* Check the cosignature independently of the library: key id ||
	 * uint64_be(ts) || Ed25519 over "cosignature/v1\ntime <ts>\n" ||
	 * text (tlog-cosignature "Format", "Ed25519 signed message"). */
	cosig_fx fx;
	char name[FT_KEY_NAME_MAX + 1];
	uint8_t raw[128];
	char msg[2048];

	cosig_setup(&fx, NULL, 0);
	size_t n = last_sig(fx.note, fx.len, name, raw, sizeof raw);
	ck_assert_uint_eq(n, 4 + 8 + 64);
	ck_assert_str_eq(name, "witness.example.com/w1");
	uint32_t id = ((uint32_t)raw[0] << 24) | ((uint32_t)raw[1] << 16) |
		      ((uint32_t)raw[2] << 8) | raw[3];
	ck_assert_uint_eq(id, ref_key_id(name, 0x04, fx.wit.pk));
	uint64_t ts = 0;
	for (size_t i = 0; i < 8; i++) {
		ts = (ts << 8) | raw[4 + i];
	}
	ck_assert_uint_eq(ts, TS);
	int hl = snprintf(msg, sizeof msg, "cosignature/v1\ntime %" PRIu64 "\n",
			  ts);
	memcpy(msg + hl, fx.note, fx.text_len);
	ck_assert_int_eq(crypto_sign_verify_detached(raw + 12,
						     (const uint8_t *)msg,
						     (size_t)hl + fx.text_len,
						     fx.wit.pk),
			 0);
	/* Not a plain signature of the text. */
	ck_assert_int_ne(crypto_sign_verify_detached(raw + 12, fx.note,
						     fx.text_len, fx.wit.pk),
			 0);

	/* Timestamp 0 is written as "time 0". */
	uint8_t note[4096];
	size_t len = 0;
	ck_assert_int_eq(ft_note_sign(fx.note, fx.text_len, &fx.wit, 1, 0,
				      note, sizeof note, &len),
			 FT_OK);
	n = last_sig(note, len, name, raw, sizeof raw);
	hl = snprintf(msg, sizeof msg, "cosignature/v1\ntime 0\n");
	memcpy(msg + hl, fx.note, fx.text_len);
	ck_assert_int_eq(crypto_sign_verify_detached(raw + 12,
						     (const uint8_t *)msg,
						     (size_t)hl + fx.text_len,
						     fx.wit.pk),
			 0);
	cosig_wipe(&fx);
}
END_TEST

START_TEST(test_cosig_altered)
{
	cosig_fx fx;
	char name[FT_KEY_NAME_MAX + 1];
	uint8_t raw[128], mod[128];
	nbuf nb = { .n = 0 };
	ft_vkey both[2];

	cosig_setup(&fx, NULL, 0);
	both[0] = fx.vlog;
	both[1] = fx.vwit;
	size_t n = last_sig(fx.note, fx.len, name, raw, sizeof raw);
	/* The note without its cosignature line. */
	size_t base = fx.len - 1;
	while (fx.note[base - 1] != '\n') {
		base--;
	}
	/* Every bit and byte: key id -> unknown (the log key still
	 * verifies, so the note opens without the witness); timestamp ->
	 * bad signature, or out of range when the top bit gets set;
	 * signature -> bad signature. */
	for (size_t i = 0; i < n; i++) {
		for (unsigned m = 0; m <= 8; m++) {
			uint8_t mask = m == 8 ? 0xff : (uint8_t)(1u << m);
			memcpy(mod, raw, n);
			mod[i] ^= mask;
			nb.n = 0;
			nb_put(&nb, fx.note, base);
			nb_sigline(&nb, name, mod, n);
			int want = FT_ENOTE_BADSIG;
			if (i < 4) {
				want = FT_ENOTE_NOKEY;
			} else if (i == 4 && (mask & 0x80)) {
				want = FT_ECOSIG_TIME;
			}
			int rc = open1(&nb, &fx.vwit, 1);
			ck_assert_msg(rc == want,
				      "byte %zu mask %02x: %s, want %s", i,
				      mask, ft_errname(rc), ft_errname(want));
			rc = open1(&nb, both, 2);
			ck_assert_msg(rc == (i < 4 ? FT_OK : want),
				      "byte %zu mask %02x (both): %s", i, mask,
				      ft_errname(rc));
		}
	}
	/* A timestamp moved by one second. */
	memcpy(mod, raw, n);
	mod[11] = (uint8_t)(mod[11] + 1);
	nb.n = 0;
	nb_put(&nb, fx.note, base);
	nb_sigline(&nb, name, mod, n);
	ck_assert_int_eq(open1(&nb, both, 2), FT_ENOTE_BADSIG);
	/* Wrong lengths. */
	nb.n = 0;
	nb_put(&nb, fx.note, base);
	nb_sigline(&nb, name, raw, n - 1);
	ck_assert_int_eq(open1(&nb, both, 2), FT_ENOTE_BADSIG);
	nb.n = 0;
	nb_put(&nb, fx.note, base);
	nb_sigline(&nb, name, raw, 68); /* an Ed25519-sized line */
	ck_assert_int_eq(open1(&nb, both, 2), FT_ENOTE_BADSIG);
	/* The witness key known as an Ed25519 key does not verify the
	 * cosignature (and the id differs anyway: type is hashed in). */
	ft_vkey as_ed = fx.vwit;
	as_ed.type = FT_KEY_ED25519;
	as_ed.id = ref_key_id(as_ed.name, FT_KEY_ED25519, as_ed.pk);
	ck_assert_int_eq(ft_note_open(fx.note, fx.len, &as_ed, 1, NULL,
				      &n),
			 FT_ENOTE_NOKEY);
	cosig_wipe(&fx);
}
END_TEST

START_TEST(test_cosig_time_range)
{
	cosig_fx fx;
	uint8_t copy[4096];
	size_t len, n = 0;
	char line[FT_NOTE_SIG_LINE_MAX];

	cosig_setup(&fx, NULL, 0);
	memcpy(copy, fx.note, fx.len);
	len = fx.len;
	ck_assert_int_eq(ft_cosig_add(&fx.wit, (uint64_t)INT64_MAX + 1,
				      fx.note, sizeof fx.note, &len),
			 FT_ECOSIG_TIME);
	ck_assert_int_eq(ft_cosig_add(&fx.wit, UINT64_MAX, fx.note,
				      sizeof fx.note, &len),
			 FT_ECOSIG_TIME);
	/* Nothing was written. */
	ck_assert_uint_eq(len, fx.len);
	ck_assert_mem_eq(fx.note, copy, fx.len);
	ck_assert_int_eq(ft_note_sig_line(&fx.wit, fx.note, fx.text_len,
					  (uint64_t)INT64_MAX + 1, line,
					  sizeof line, &n),
			 FT_ECOSIG_TIME);
	ck_assert_uint_eq(n, 0);
	ck_assert_int_eq(ft_note_sign(fx.note, fx.text_len, &fx.wit, 1,
				      (uint64_t)INT64_MAX + 1, copy,
				      sizeof copy, &n),
			 FT_ECOSIG_TIME);

	/* INT64_MAX itself is fine and round-trips. */
	ck_assert_int_eq(ft_cosig_add(&fx.wit, (uint64_t)INT64_MAX, fx.note,
				      sizeof fx.note, &len),
			 FT_OK);
	ft_note_sig st[1];
	size_t tl = 0;
	/* The first witness line (at TS) verifies; its repeat (at
	 * INT64_MAX) is ignored as in Go. */
	ck_assert_int_eq(ft_note_open(fx.note, len, &fx.vwit, 1, st, &tl),
			 FT_OK);
	ck_assert_uint_eq(st[0].timestamp, TS);
	uint8_t n2[4096];
	size_t l2 = 0;
	ck_assert_int_eq(ft_note_sign(fx.note, fx.text_len, &fx.wit, 1,
				      (uint64_t)INT64_MAX, n2, sizeof n2, &l2),
			 FT_OK);
	ck_assert_int_eq(ft_note_open(n2, l2, &fx.vwit, 1, st, &tl), FT_OK);
	ck_assert_uint_eq(st[0].timestamp, (uint64_t)INT64_MAX);
	cosig_wipe(&fx);
}
END_TEST

START_TEST(test_cosig_add_errors)
{
	cosig_fx fx;
	uint8_t copy[4096];
	size_t len;

	cosig_setup(&fx, NULL, 0);
	memcpy(copy, fx.note, fx.len);
	len = fx.len;
	/* Only cosignature keys cosign. */
	ck_assert_int_eq(ft_cosig_add(&fx.log, TS, fx.note, sizeof fx.note,
				      &len),
			 FT_EKEY_ALG);
	/* No room for the line: nothing is written. */
	ck_assert_int_eq(ft_cosig_add(&fx.wit, TS, fx.note, fx.len + 10, &len),
			 FT_EBUFSIZE);
	ck_assert_uint_eq(len, fx.len);
	ck_assert_mem_eq(fx.note, copy, fx.len);
	ck_assert_int_eq(ft_cosig_add(&fx.wit, TS, fx.note, fx.len - 1, &len),
			 FT_EINVAL);
	/* Malformed notes. */
	len = fx.text_len;
	ck_assert_int_eq(ft_cosig_add(&fx.wit, TS, fx.note, sizeof fx.note,
				      &len),
			 FT_ENOTE_FORMAT);
	ck_assert_uint_eq(len, fx.text_len);
	len = fx.len - 1;
	ck_assert_int_eq(ft_cosig_add(&fx.wit, TS, fx.note, sizeof fx.note,
				      &len),
			 FT_ENOTE_FORMAT);
	len = fx.len;
	fx.note[0] = '\t';
	ck_assert_int_eq(ft_cosig_add(&fx.wit, TS, fx.note, sizeof fx.note,
				      &len),
			 FT_ENOTE_FORMAT);
	fx.note[0] = copy[0];
	/* A note already carrying FT_NOTE_MAX_SIGS lines. */
	static nbuf nb;
	uint8_t raw[68];
	memset(raw, 1, sizeof raw);
	nb.n = 0;
	nb_put(&nb, fx.note, fx.len);
	for (size_t i = 3; i < FT_NOTE_MAX_SIGS; i++) {
		nb_sigline(&nb, "x.example", raw, sizeof raw);
	}
	ck_assert_int_eq(ft_cosig_add(&fx.wit, TS, nb.b, sizeof nb.b, &nb.n),
			 FT_OK);
	ck_assert_int_eq(ft_cosig_add(&fx.wit, TS, nb.b, sizeof nb.b, &nb.n),
			 FT_ENOTE_TOOMANY);
	cosig_wipe(&fx);
}
END_TEST

static Suite *note_suite(void)
{
	Suite *s = suite_create("note");
	TCase *tc;

	tc = tcase_create("vectors");
	tcase_add_checked_fixture(tc, load_vectors, NULL);
	tcase_set_timeout(tc, 30);
	tcase_add_test(tc, test_vec_peter_sign);
	tcase_add_test(tc, test_vec_peter_keys);
	tcase_add_test(tc, test_vec_peter_open);
	tcase_add_test(tc, test_vec_c2sp_example);
	suite_add_tcase(s, tc);

	tc = tcase_create("names");
	tcase_set_timeout(tc, 30);
	tcase_add_test(tc, test_name_valid);
	tcase_add_test(tc, test_name_unicode_spaces);
	tcase_add_test(tc, test_name_invalid_utf8);
	suite_add_tcase(s, tc);

	tc = tcase_create("keys");
	tcase_add_checked_fixture(tc, load_vectors, NULL);
	tcase_set_timeout(tc, 30);
	tcase_add_test(tc, test_key_roundtrip);
	tcase_add_test(tc, test_key_from_seed);
	tcase_add_test(tc, test_vkey_reject);
	tcase_add_test(tc, test_skey_reject);
	tcase_add_test(tc, test_key_format);
	tcase_add_test(tc, test_key_cosig_vkey);
	suite_add_tcase(s, tc);

	tc = tcase_create("open");
	tcase_set_timeout(tc, 120);
	tcase_add_test(tc, test_sign_errors);
	tcase_add_test(tc, test_open_unknown_ignored);
	tcase_add_test(tc, test_open_long_unknown);
	tcase_add_test(tc, test_open_badsig);
	tcase_add_test(tc, test_open_nokey);
	tcase_add_test(tc, test_open_16_sigs);
	tcase_add_test(tc, test_open_toomany);
	tcase_add_test(tc, test_open_duplicates);
	tcase_add_test(tc, test_open_format);
	tcase_add_test(tc, test_open_toobig);
	tcase_add_test(tc, test_open_flip_sig);
	tcase_add_test(tc, test_open_blank_lines);
	tcase_add_test(tc, test_open_status);
	suite_add_tcase(s, tc);

	tc = tcase_create("checkpoint");
	tcase_set_timeout(tc, 30);
	tcase_add_test(tc, test_ckpt_roundtrip);
	tcase_add_test(tc, test_ckpt_ext_roundtrip);
	tcase_add_test(tc, test_ckpt_reject);
	suite_add_tcase(s, tc);

	tc = tcase_create("cosig");
	tcase_set_timeout(tc, 120);
	tcase_add_test(tc, test_cosig_add_open);
	tcase_add_test(tc, test_cosig_layout);
	tcase_add_test(tc, test_cosig_altered);
	tcase_add_test(tc, test_cosig_time_range);
	tcase_add_test(tc, test_cosig_add_errors);
	suite_add_tcase(s, tc);

	return s;
}

int main(void)
{
	return tu_run_suite(note_suite());
}
