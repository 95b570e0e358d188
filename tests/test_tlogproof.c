/*
 * tests/test_tlogproof.c - C2SP tlog-proof parsing and formatting.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <ftlog/tile.h>
#include <ftlog/tlogproof.h>

#include "tests/testutil.h"

/* A single-signature checkpoint note (the parser checks only its shape). */
static const char CKPT[] = "example.com/firmware-log\n"
			   "70000\n"
			   "sFodV/vSp5O8n9a8QpW6PRY97tfOSW5bsc2Xl/EQi08=\n"
			   "\n"
			   "\xe2\x80\x94 example.com/firmware-log "
			   "hI2DJwAAAAAAAAAAAAAAAAAAAAAAAA=\n";

/* The same with two witness cosignatures. */
static const char CKPT3[] =
	"example.com/firmware-log\n"
	"70000\n"
	"sFodV/vSp5O8n9a8QpW6PRY97tfOSW5bsc2Xl/EQi08=\n"
	"\n"
	"\xe2\x80\x94 example.com/firmware-log "
	"hI2DJwAAAAAAAAAAAAAAAAAAAAAAAA=\n"
	"\xe2\x80\x94 witness1.example mJirIkljAAAAAAAAAAAAAAAAAAAAAA==\n"
	"\xe2\x80\x94 witness2.example TnKKVHLXAAAAAAAAAAAAAAAAAAAAAA==\n";

/* The example of C2SP tlog-proof (its "[...]" elisions are inside the
 * checkpoint, which is carried verbatim). */
static const char SPEC_EXAMPLE[] =
	"c2sp.org/tlog-proof@v1\n"
	"extra YWdlLXYxLjIuMS1kYXJ3aW4tYXJtNjQudGFyLmd6kYXJ3aW4tYXJ\n"
	"index 73894\n"
	"gSKyXoYZUgZ6jduWYrkDOARinOMGJveXjgMkBTcdPlQ=\n"
	"B95lDa8R83lS8n0eG+o0buTxRKQTYFi//1U8anccXmA=\n"
	"EKNzoDWG8LGC0Yp9o+sv3qllpMP9uHQ9B20KNL+Q1zs=\n"
	"RoopEkOdqkYqMB4MJXrbt/hMjOxsVn0IrWjpz1ZMMes=\n"
	"AHCioX9nLjsrse6YhjRRmk1WUEirVOLLRoOQ6vfO5vk=\n"
	"\n"
	"example.com/fancylog\n"
	"109482\n"
	"sFodV/vSp5O8n9a8QpW6PRY97tfOSW5bsc2Xl/EQi08=\n"
	"\n"
	"\xe2\x80\x94 example.com/fancylog hI2DJw[...]1roloI=\n"
	"\xe2\x80\x94 witness1.example mJirIklj[...]qY9v2B/5bg==\n"
	"\xe2\x80\x94 witness2.example TnKKVHLX[...]xwYwrSjgow==\n"
	"\xe2\x80\x94 witness3.example S4X82uH5[...]3oEcROGLFQ==\n";

/* A canonical base64 hash line (32 bytes of 0x11...). */
#define H44 "ERERERERERERERERERERERERERERERERERERERERERE="

static void fill_path(ft_hash *path, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		for (size_t j = 0; j < FT_HASH_LEN; j++) {
			path[i].b[j] = (uint8_t)(i * 31 + j * 7 + 1);
		}
	}
}

static int all_zero(const void *p, size_t n)
{
	const uint8_t *b = p;

	for (size_t i = 0; i < n; i++) {
		if (b[i] != 0) {
			return 0;
		}
	}
	return 1;
}

/* Parse NUL-terminated text; out is poisoned first to see it cleared. */
static int parse_str(const char *s, ft_tlog_proof *out, uint8_t *extra,
		     size_t cap)
{
	memset(out, 0xa5, sizeof *out);
	return ft_tlog_proof_parse((const uint8_t *)s, strlen(s), out, extra,
				   cap);
}

/* Expect failure with `want`, and the output cleared. */
static void expect_reject(const char *s, int want)
{
	ft_tlog_proof p;
	uint8_t extra[256];

	memset(extra, 0x5a, sizeof extra);
	int rc = parse_str(s, &p, extra, sizeof extra);
	ck_assert_msg(rc == want, "got %s want %s for:\n%s", ft_errname(rc),
		      ft_errname(want), s);
	ck_assert(all_zero(&p, sizeof p));
	ck_assert(all_zero(extra, sizeof extra));
}

/* "c2sp...\n" + optional extra + index + hashes + "\n" + CKPT. */
static char *build(const char *extra_line, const char *index_line, size_t nhash,
		   const char *ckpt)
{
	size_t cap = 256 + nhash * 45 + strlen(ckpt) +
		     (extra_line ? strlen(extra_line) : 0) + strlen(index_line);
	char *s = malloc(cap);
	size_t off = 0;

	ck_assert_ptr_nonnull(s);
	off += (size_t)snprintf(s + off, cap - off, "%s\n",
				FT_TLOG_PROOF_HEADER);
	if (extra_line != NULL) {
		off += (size_t)snprintf(s + off, cap - off, "%s\n", extra_line);
	}
	off += (size_t)snprintf(s + off, cap - off, "%s\n", index_line);
	for (size_t i = 0; i < nhash; i++) {
		off += (size_t)snprintf(s + off, cap - off, "%s\n", H44);
	}
	off += (size_t)snprintf(s + off, cap - off, "\n%s", ckpt);
	ck_assert_uint_lt(off, cap);
	return s;
}

static void round_trip(const uint8_t *extra, size_t extra_len, uint64_t index,
		       size_t nhash)
{
	ft_hash path[FT_PROOF_MAX_INCLUSION];
	static uint8_t out[FT_TLOG_PROOF_MAX];
	static uint8_t xbuf[FT_ENTRY_MAX + 1];
	size_t len = 0;
	ft_tlog_proof p;

	fill_path(path, nhash);
	ck_assert_int_eq(ft_tlog_proof_format(extra, extra_len, index, path,
					      nhash, (const uint8_t *)CKPT,
					      strlen(CKPT), out, sizeof out,
					      &len),
			 0);
	ck_assert_int_eq(ft_tlog_proof_parse(out, len, &p, xbuf, sizeof xbuf),
			 0);
	ck_assert_int_eq(p.has_extra, extra != NULL);
	if (extra != NULL) {
		ck_assert_uint_eq(p.extra_len, extra_len);
		ck_assert(memcmp(xbuf, extra, extra_len) == 0);
	} else {
		ck_assert_uint_eq(p.extra_len, 0);
	}
	ck_assert_uint_eq(p.index, index);
	ck_assert_uint_eq(p.path_len, nhash);
	ck_assert(memcmp(p.path, path, nhash * sizeof path[0]) == 0);
	ck_assert_uint_eq(p.checkpoint_len, strlen(CKPT));
	ck_assert(p.checkpoint == out + len - strlen(CKPT));
	ck_assert(memcmp(p.checkpoint, CKPT, strlen(CKPT)) == 0);

	/* An exact-size buffer works; one byte less does not, and
	 * leaves *len alone. */
	size_t len2 = 12345;
	static uint8_t out2[FT_TLOG_PROOF_MAX];
	ck_assert_int_eq(ft_tlog_proof_format(extra, extra_len, index, path,
					      nhash, (const uint8_t *)CKPT,
					      strlen(CKPT), out2, len - 1,
					      &len2),
			 FT_EBUFSIZE);
	ck_assert_uint_eq(len2, 12345);
	ck_assert_int_eq(ft_tlog_proof_format(extra, extra_len, index, path,
					      nhash, (const uint8_t *)CKPT,
					      strlen(CKPT), out2, len, &len2),
			 0);
	ck_assert_uint_eq(len2, len);
	ck_assert(memcmp(out, out2, len) == 0);
}

START_TEST(test_round_trip)
{
	static const uint8_t entry[] = "{\"payloadType\":\"x\"}";
	static uint8_t big[FT_ENTRY_MAX];

	for (size_t i = 0; i < sizeof big; i++) {
		big[i] = (uint8_t)(i * 13);
	}
	round_trip(NULL, 0, 0, 0);
	round_trip(entry, sizeof entry - 1, 0, 0);
	round_trip(NULL, 0, 5, 63);
	round_trip(entry, sizeof entry - 1, 73894, 63);
	round_trip(entry, 1, (uint64_t)INT64_MAX, 1);
	round_trip(entry, 2, 1, 64);
	round_trip(big, sizeof big, (uint64_t)INT64_MAX, 63);
}
END_TEST

START_TEST(test_format_text)
{
	static const uint8_t extra[] = "hi";
	ft_hash path[2];
	uint8_t out[1024];
	size_t len = 0;

	memset(path[0].b, 0x11, FT_HASH_LEN);
	memset(path[1].b, 0, FT_HASH_LEN);
	ck_assert_int_eq(ft_tlog_proof_format(
				 extra, 2, 42, path, 2, (const uint8_t *)CKPT,
				 strlen(CKPT), out, sizeof out, &len),
			 0);
	char want[1024];
	int n = snprintf(want, sizeof want,
			 "c2sp.org/tlog-proof@v1\n"
			 "extra aGk=\n"
			 "index 42\n" H44 "\n"
			 "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=\n"
			 "\n%s",
			 CKPT);
	ck_assert_uint_eq(len, (size_t)n);
	ck_assert(memcmp(out, want, len) == 0);
}
END_TEST

START_TEST(test_spec_example)
{
	ft_tlog_proof p;
	uint8_t extra[64];

	ck_assert_int_eq(parse_str(SPEC_EXAMPLE, &p, extra, sizeof extra), 0);
	ck_assert_int_eq(p.has_extra, 1);
	ck_assert_uint_eq(p.extra_len, 39);
	ck_assert(memcmp(extra, "age-v1.2.1-darwin-arm64.tar.gz", 30) == 0);
	ck_assert_uint_eq(p.index, 73894);
	ck_assert_uint_eq(p.path_len, 5);
	ck_assert_uint_eq(p.path[0].b[0], 0x81);
	ck_assert_uint_eq(p.path[4].b[0], 0x00);
	ck_assert(memcmp(p.checkpoint, "example.com/fancylog\n109482\n", 28) ==
		  0);
	ck_assert(p.checkpoint + p.checkpoint_len ==
		  (const uint8_t *)SPEC_EXAMPLE + strlen(SPEC_EXAMPLE));
}
END_TEST

START_TEST(test_extra_cap)
{
	ft_tlog_proof p;
	uint8_t extra[39];

	/* Exactly enough room, one byte short, and no buffer at all. */
	ck_assert_int_eq(parse_str(SPEC_EXAMPLE, &p, extra, 39), 0);
	ck_assert_int_eq(parse_str(SPEC_EXAMPLE, &p, extra, 38), FT_EBUFSIZE);
	ck_assert(all_zero(&p, sizeof p));
	ck_assert(all_zero(extra, 38));
	ck_assert_int_eq(parse_str(SPEC_EXAMPLE, &p, NULL, 0), FT_EBUFSIZE);
	ck_assert(all_zero(&p, sizeof p));

	/* No extra line: a NULL buffer is fine. */
	char *s = build(NULL, "index 7", 3, CKPT);
	ck_assert_int_eq(parse_str(s, &p, NULL, 0), 0);
	ck_assert_int_eq(p.has_extra, 0);
	ck_assert_uint_eq(p.index, 7);
	ck_assert_uint_eq(p.path_len, 3);
	free(s);
}
END_TEST

START_TEST(test_rejects)
{
	char *s;

	/* The header line, exactly. */
	s = build(NULL, "index 1", 1, CKPT);
	s[21] = '2'; /* ...@v2 */
	expect_reject(s, FT_ETLOGPROOF);
	free(s);
	expect_reject("c2sp.org/tlog-proof@v1 \nindex 1\n\n"
		      "x\n",
		      FT_ETLOGPROOF);
	expect_reject("C2SP.org/tlog-proof@v1\nindex 1\n\n", FT_ETLOGPROOF);
	expect_reject("c2sp.org/tlog-proof@v1", FT_ETLOGPROOF);
	expect_reject("", FT_ETLOGPROOF);

	/* The extra line. */
	s = build("extra ", "index 1", 1, CKPT);
	expect_reject(s, FT_ETLOGPROOF);
	free(s);
	s = build("extra", "index 1", 1, CKPT);
	expect_reject(s, FT_ETLOGPROOF);
	free(s);
	s = build("extra QR==", "index 1", 1, CKPT); /* non-zero pad bits */
	expect_reject(s, FT_EBASE64);
	free(s);
	s = build("extra QQ", "index 1", 1, CKPT); /* missing padding */
	expect_reject(s, FT_EBASE64);
	free(s);
	s = build("extra  QQ==", "index 1", 1, CKPT);
	expect_reject(s, FT_EBASE64);
	free(s);
	s = build("extra QQ== ", "index 1", 1, CKPT);
	expect_reject(s, FT_EBASE64);
	free(s);
	s = build("extra QQ==", "extra QQ==\nindex 1", 1, CKPT);
	expect_reject(s, FT_ETLOGPROOF);
	free(s);

	/* The index line. */
	s = build(NULL, "index 01", 1, CKPT);
	expect_reject(s, FT_ENUMBER);
	free(s);
	s = build(NULL, "index 9223372036854775808", 1, CKPT);
	expect_reject(s, FT_ENUMBER);
	free(s);
	s = build(NULL, "index 18446744073709551616", 1, CKPT);
	expect_reject(s, FT_ENUMBER);
	free(s);
	s = build(NULL, "index -1", 1, CKPT);
	expect_reject(s, FT_ENUMBER);
	free(s);
	s = build(NULL, "index ", 1, CKPT);
	expect_reject(s, FT_ENUMBER);
	free(s);
	s = build(NULL, "index 1 ", 1, CKPT);
	expect_reject(s, FT_ENUMBER);
	free(s);
	s = build(NULL, "index  1", 1, CKPT);
	expect_reject(s, FT_ENUMBER);
	free(s);
	s = build(NULL, "Index 1", 1, CKPT);
	expect_reject(s, FT_ETLOGPROOF);
	free(s);
	s = build(NULL, "index 9223372036854775807", 1, CKPT);
	ft_tlog_proof p;
	ck_assert_int_eq(parse_str(s, &p, NULL, 0), 0);
	ck_assert_uint_eq(p.index, (uint64_t)INT64_MAX);
	free(s);

	/* Hash lines. */
	s = build(NULL,
		  "index 1\n" /* 31 bytes */
		  "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA==",
		  0, CKPT);
	expect_reject(s, FT_EHASHLEN);
	free(s);
	s = build(NULL,
		  "index 1\n" /* 33 bytes */
		  "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
		  0, CKPT);
	expect_reject(s, FT_EHASHLEN);
	free(s);
	s = build(NULL,
		  "index 1\n" /* 36 bytes */
		  "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
		  0, CKPT);
	expect_reject(s, FT_EHASHLEN);
	free(s);
	s = build(NULL,
		  "index 1\n" /* trailing bits set */
		  "ERERERERERERERERERERERERERERERERERERERERERF=",
		  0, CKPT);
	expect_reject(s, FT_EBASE64);
	free(s);
	s = build(NULL,
		  "index 1\n" /* a byte >= 0x80 in the alphabet's place */
		  "ERERERERERERERERERERERERERERERERERERERER\xffRE=",
		  0, CKPT);
	expect_reject(s, FT_EBASE64);
	free(s);
	s = build("extra Q\x80==", "index 1", 1, CKPT);
	expect_reject(s, FT_EBASE64);
	free(s);
	s = build(NULL, "index 1\n" H44 " ", 0, CKPT);
	expect_reject(s, FT_EBASE64);
	free(s);
	s = build(NULL, "index 1\n ", 0, CKPT);
	expect_reject(s, FT_EBASE64);
	free(s);
	s = build(NULL, "index 1", FT_PROOF_MAX_INCLUSION, CKPT);
	ck_assert_int_eq(parse_str(s, &p, NULL, 0), 0);
	ck_assert_uint_eq(p.path_len, FT_PROOF_MAX_INCLUSION);
	free(s);
	s = build(NULL, "index 1", FT_PROOF_MAX_INCLUSION + 1, CKPT);
	expect_reject(s, FT_EPROOF_LEN);
	free(s);

	/* The empty line and the checkpoint. */
	expect_reject("c2sp.org/tlog-proof@v1\nindex 1\n" H44 "\n",
		      FT_ETLOGPROOF);
	expect_reject("c2sp.org/tlog-proof@v1\nindex 1\n" H44, FT_ETLOGPROOF);
	expect_reject("c2sp.org/tlog-proof@v1\nindex 1", FT_ETLOGPROOF);
	expect_reject("c2sp.org/tlog-proof@v1\nindex 1\n", FT_ETLOGPROOF);
	/* Checkpoint right after the hashes: its origin is no hash. */
	s = build(NULL, "index 1", 2, "");
	size_t n = strlen(s);
	s = realloc(s, n + sizeof CKPT);
	ck_assert_ptr_nonnull(s);
	memcpy(s + n - 1, CKPT, sizeof CKPT);
	expect_reject(s, FT_EBASE64);
	free(s);
	s = build(NULL, "index 1", 2, "");
	expect_reject(s, FT_ETLOGPROOF);
	free(s);
	s = build(NULL, "index 1", 2, "\n");
	expect_reject(s, FT_ETLOGPROOF);
	free(s);
	s = build(NULL, "index 1", 2, CKPT);
	s[strlen(s) - 1] = 0; /* no final newline */
	expect_reject(s, FT_ETLOGPROOF);
	free(s);
	s = build(NULL, "index 1", 2, "example.com/log\n1\nroot\n\n");
	expect_reject(s, FT_ETLOGPROOF); /* no signature */
	free(s);
	s = build(NULL, "index 1", 2, "example.com/log\n1\nroot\n\nsig\n");
	expect_reject(s, FT_ETLOGPROOF); /* not a signature line */
	free(s);
	s = build(NULL, "index 1", 2,
		  "\n\n\xe2\x80\x94 example.com/log AAAA\n");
	expect_reject(s, FT_ETLOGPROOF); /* no note text */
	free(s);
}
END_TEST

/* Replace every "\n" by "\r\n". */
START_TEST(test_crlf)
{
	char *s = build("extra QQ==", "index 3", 2, CKPT);
	size_t n = strlen(s);
	char *t = malloc(2 * n + 1);
	size_t j = 0;

	ck_assert_ptr_nonnull(t);
	for (size_t i = 0; i < n; i++) {
		if (s[i] == '\n') {
			t[j++] = '\r';
		}
		t[j++] = s[i];
	}
	t[j] = 0;
	expect_reject(t, FT_ETLOGPROOF);
	/* CR only at the end of the index line. */
	free(s);
	s = build(NULL, "index 3\r", 2, CKPT);
	expect_reject(s, FT_ENUMBER);
	free(s);
	s = build(NULL, "index 3\n" H44 "\r", 0, CKPT);
	expect_reject(s, FT_EBASE64);
	free(s);
	/* A CR in place of the empty line. */
	free(t);
	t = malloc(strlen(CKPT) + 256);
	ck_assert_ptr_nonnull(t);
	snprintf(t, strlen(CKPT) + 256,
		 "c2sp.org/tlog-proof@v1\nindex 3\n" H44 "\n\r\n%s", CKPT);
	expect_reject(t, FT_EBASE64);
	free(t);
}
END_TEST

START_TEST(test_oversize)
{
	size_t n = FT_TLOG_PROOF_MAX + 1;
	uint8_t *big = malloc(n);
	ft_tlog_proof p;

	ck_assert_ptr_nonnull(big);
	/* A valid proof padded to the limit through the checkpoint's
	 * signature line: the cap comes first, whatever the content. */
	char *s = build(NULL, "index 3", 2, CKPT);
	size_t sl = strlen(s);
	memcpy(big, s, sl);
	memset(big + sl - 1, 'A', n - sl);
	big[n - 1] = '\n';
	memset(&p, 0xa5, sizeof p);
	ck_assert_int_eq(ft_tlog_proof_parse(big, n, &p, NULL, 0), FT_ETOOBIG);
	ck_assert(all_zero(&p, sizeof p));
	/* One byte less gets parsed (and refused: no header there)... */
	ck_assert_int_eq(ft_tlog_proof_parse(big + 1, n - 1, &p, NULL, 0),
			 FT_ETLOGPROOF);
	/* ...and accepted once it holds a proof. */
	memmove(big + 1, big, sl - 1);
	ck_assert_int_eq(ft_tlog_proof_parse(big + 1, n - 1, &p, NULL, 0), 0);
	ck_assert_uint_eq(p.path_len, 2);
	ck_assert_int_eq(ft_tlog_proof_parse(big, SIZE_MAX, &p, NULL, 0),
			 FT_ETOOBIG);
	free(s);
	free(big);
}
END_TEST

START_TEST(test_format_rejects)
{
	static uint8_t out[FT_TLOG_PROOF_MAX + 1024];
	static uint8_t big[FT_TLOG_PROOF_MAX];
	const uint8_t *ck = (const uint8_t *)CKPT;
	size_t cl = strlen(CKPT);
	ft_hash path[FT_PROOF_MAX_INCLUSION + 1];
	size_t len = 777;

	fill_path(path, FT_PROOF_MAX_INCLUSION + 1);
	ck_assert_int_eq(ft_tlog_proof_format((const uint8_t *)"x", 0, 1, path,
					      1, ck, cl, out, sizeof out, &len),
			 FT_EINVAL);
	ck_assert_int_eq(ft_tlog_proof_format(NULL, 0, (uint64_t)INT64_MAX + 1,
					      path, 1, ck, cl, out, sizeof out,
					      &len),
			 FT_EINVAL);
	ck_assert_int_eq(ft_tlog_proof_format(NULL, 0, 1, path,
					      FT_PROOF_MAX_INCLUSION + 1, ck,
					      cl, out, sizeof out, &len),
			 FT_EPROOF_LEN);
	ck_assert_int_eq(ft_tlog_proof_format(NULL, 0, 1, path, 1, ck, 0, out,
					      sizeof out, &len),
			 FT_EINVAL);
	ck_assert_int_eq(ft_tlog_proof_format(NULL, 0, 1, path, 1, ck, cl - 1,
					      out, sizeof out, &len),
			 FT_EINVAL);
	ck_assert_int_eq(ft_tlog_proof_format(NULL, 0, 1, NULL, 1, ck, cl, out,
					      sizeof out, &len),
			 FT_EINVAL);
	ck_assert_int_eq(
		ft_tlog_proof_format(NULL, 0, 1, path, 1, ck, cl, out, 0, &len),
		FT_EBUFSIZE);
	/* Larger than ft_tlog_proof_parse accepts. */
	memcpy(big, CKPT, cl);
	memset(big + cl - 1, 'A', sizeof big - cl);
	big[sizeof big - 1] = '\n';
	ck_assert_int_eq(ft_tlog_proof_format(NULL, 0, 1, path, 1, big,
					      sizeof big, out, sizeof out,
					      &len),
			 FT_ETOOBIG);
	ck_assert_uint_eq(len, 777);
}
END_TEST

/* Every strict prefix of a valid proof is refused, and so is every byte
 * deleted (the parser must never crash or over-read either way). */
static void truncations(const char *ckpt, int allow_sig_boundaries)
{
	static const uint8_t entry[] = "release 1.2.3";
	ft_hash path[5];
	uint8_t buf[2048];
	uint8_t extra[64];
	size_t len = 0;
	ft_tlog_proof p;

	fill_path(path, 5);
	ck_assert_int_eq(ft_tlog_proof_format(entry, sizeof entry - 1, 1234,
					      path, 5, (const uint8_t *)ckpt,
					      strlen(ckpt), buf, sizeof buf,
					      &len),
			 0);
	for (size_t n = 0; n < len; n++) {
		/* Copy, so that the sanitizers see reads past n. */
		uint8_t *t = malloc(n + 1);
		ck_assert_ptr_nonnull(t);
		memcpy(t, buf, n);
		int rc = ft_tlog_proof_parse(t, n, &p, extra, sizeof extra);
		if (rc == 0) {
			/* Dropping whole cosignature lines leaves a valid
			 * proof with fewer witnesses: that is not an error
			 * of the format. */
			ck_assert_msg(allow_sig_boundaries, "prefix %zu", n);
			ck_assert(n > len - strlen(ckpt));
			ck_assert_uint_eq(buf[n - 1], '\n');
			ck_assert(memcmp(buf + n, "\xe2\x80\x94 ", 4) == 0);
			const char *sig1 = strstr(ckpt, "\n\n") + 2;
			size_t end1 = (size_t)(strchr(sig1, '\n') + 1 - ckpt);
			ck_assert_uint_ge(n, len - strlen(ckpt) + end1);
		}
		free(t);
	}
	ck_assert_int_eq(ft_tlog_proof_parse(buf, len, &p, extra, sizeof extra),
			 0);
}

START_TEST(test_truncations)
{
	truncations(CKPT, 0);
	truncations(CKPT3, 1);
}
END_TEST

START_TEST(test_flips)
{
	/* Any changed byte in the structural part is rejected or parses
	 * to different fields; never a crash. */
	ft_hash path[3];
	uint8_t buf[1024];
	uint8_t extra[64];
	size_t len = 0;
	ft_tlog_proof p;

	fill_path(path, 3);
	ck_assert_int_eq(ft_tlog_proof_format((const uint8_t *)"abcd", 4, 99,
					      path, 3, (const uint8_t *)CKPT,
					      strlen(CKPT), buf, sizeof buf,
					      &len),
			 0);
	size_t body = len - strlen(CKPT);
	for (size_t i = 0; i < len; i++) {
		static const uint8_t vals[] = { 0,   '\n', '\r', ' ',
						'0', 'A',  '=',	 0xff };
		for (size_t v = 0; v < sizeof vals; v++) {
			uint8_t t[1024];
			memcpy(t, buf, len);
			if (t[i] == vals[v]) {
				continue;
			}
			t[i] = vals[v];
			int rc = ft_tlog_proof_parse(t, len, &p, extra,
						     sizeof extra);
			if (rc != 0 || i >= body) {
				continue;
			}
			/* Accepted: then something visible changed. */
			int same = p.index == 99 && p.path_len == 3 &&
				   p.has_extra && p.extra_len == 4 &&
				   memcmp(extra, "abcd", 4) == 0 &&
				   memcmp(p.path, path, sizeof path) == 0;
			ck_assert_msg(!same, "flip at %zu to %u", i, vals[v]);
		}
	}
}
END_TEST

static Suite *tlogproof_suite(void)
{
	Suite *s = suite_create("tlogproof");
	TCase *tc = tcase_create("core");

	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, test_round_trip);
	tcase_add_test(tc, test_format_text);
	tcase_add_test(tc, test_spec_example);
	tcase_add_test(tc, test_extra_cap);
	tcase_add_test(tc, test_rejects);
	tcase_add_test(tc, test_crlf);
	tcase_add_test(tc, test_oversize);
	tcase_add_test(tc, test_format_rejects);
	tcase_add_test(tc, test_truncations);
	tcase_add_test(tc, test_flips);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	return tu_run_suite(tlogproof_suite());
}
