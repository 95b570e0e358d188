/*
 * tests/test_state.c - the device state file (client/state.c): round
 * trips, the documented example byte for byte, every single-bit flip and
 * every truncation refused, each strictness rule on otherwise
 * well-checksummed files, bounded loads (missing, directory, FIFO, too
 * big), atomic saves (mode 0600, no temp left, the old file surviving a
 * failed save) and the floor rules.
 */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <nettle/sha2.h>

#include "client/state.h"
#include "tests/testutil.h"

/* Cheap assertion for loops (ck_assert marks a point on every success). */
#define REQ(c)                                                         \
	do {                                                           \
		if (!(c)) {                                            \
			ck_abort_msg("%s:%d: %s", __FILE__, __LINE__, #c); \
		}                                                      \
	} while (0)

/* The example of docs/device-state.md, byte for byte. */
static const char EXAMPLE[] =
	"ftlog-device-state v1\n"
	"checkpoint 1234 AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=\n"
	"security-version gnb-cu 3\n"
	"security-version gnb-du 7\n"
	"checksum "
	"b90cbd814d164b6123c6784d2ff3c2fb4dd7879e5e1e27bf6839384e133c9933\n";

static char *g_dir;

static void setup(void)
{
	g_dir = tu_tmpdir();
}

static void teardown(void)
{
	tu_rmtree(g_dir);
	free(g_dir);
}

static void example_state(ft_state *st)
{
	ft_hash root;

	for (unsigned i = 0; i < FT_HASH_LEN; i++) {
		root.b[i] = (uint8_t)i;
	}
	ft_state_init(st);
	ft_state_set_checkpoint(st, 1234, &root);
	ck_assert_int_eq(ft_state_set_floor(st, "gnb-du", 7), 0);
	ck_assert_int_eq(ft_state_set_floor(st, "gnb-cu", 3), 0);
}

/* Semantic equality (the bytes after a product's NUL do not matter). */
static int state_eq(const ft_state *a, const ft_state *b)
{
	if (a->has_checkpoint != b->has_checkpoint || a->n != b->n) {
		return 0;
	}
	if (a->has_checkpoint &&
	    (a->size != b->size || !ft_hash_equal(&a->root, &b->root))) {
		return 0;
	}
	for (size_t i = 0; i < a->n; i++) {
		if (strcmp(a->sv[i].product, b->sv[i].product) != 0 ||
		    a->sv[i].sv != b->sv[i].sv) {
			return 0;
		}
	}
	return 1;
}

/* body followed by its correct checksum line, into out; returns length. */
static size_t with_cs(const char *body, uint8_t *out, size_t cap)
{
	static const char hex[] = "0123456789abcdef";
	size_t n = strlen(body);
	uint8_t d[SHA256_DIGEST_SIZE];
	struct sha256_ctx c;

	ck_assert_uint_le(n + 9 + 64 + 1, cap);
	sha256_init(&c);
	sha256_update(&c, n, (const uint8_t *)body);
	sha256_digest(&c, sizeof d, d);
	memcpy(out, body, n);
	memcpy(out + n, "checksum ", 9);
	n += 9;
	for (size_t i = 0; i < sizeof d; i++) {
		out[n++] = (uint8_t)hex[d[i] >> 4];
		out[n++] = (uint8_t)hex[d[i] & 15];
	}
	out[n++] = '\n';
	return n;
}

/* Parse must refuse with FT_ESTATE_CORRUPT, a one-line reason, and leave
 * *out untouched. */
static void expect_corrupt(const uint8_t *buf, size_t len, const char *what)
{
	ft_state st;
	ft_state sentinel;
	char err[256];
	int rc;

	memset(&st, 0xA5, sizeof st);
	memset(&sentinel, 0xA5, sizeof sentinel);
	err[0] = '\0';
	rc = ft_state_parse(buf, len, &st, err, sizeof err);
	if (rc != FT_ESTATE_CORRUPT) {
		ck_abort_msg("%s: got %d (%s), want FT_ESTATE_CORRUPT", what,
			     rc, err);
	}
	REQ(memcmp(&st, &sentinel, sizeof st) == 0);
	REQ(err[0] != '\0' && strchr(err, '\n') == NULL);
}

static void expect_corrupt_body(const char *body)
{
	uint8_t buf[FT_STATE_FILE_MAX + 256];
	size_t n = with_cs(body, buf, sizeof buf);

	expect_corrupt(buf, n, body);
}

static void expect_valid_body(const char *body)
{
	uint8_t buf[FT_STATE_FILE_MAX];
	uint8_t again[FT_STATE_FILE_MAX];
	size_t n = with_cs(body, buf, sizeof buf);
	size_t m;
	ft_state st;
	char err[256];

	if (ft_state_parse(buf, n, &st, err, sizeof err) != 0) {
		ck_abort_msg("refused a valid file (%s): %s", err, body);
	}
	ck_assert_int_eq(ft_state_format(&st, again, sizeof again, &m), 0);
	ck_assert_uint_eq(m, n);
	ck_assert(memcmp(buf, again, n) == 0);
}

/* A state with nprod products (longest names, largest values when full)
 * and an optional checkpoint. */
static void make_state(ft_state *st, size_t nprod, int cp)
{
	ft_state_init(st);
	if (cp) {
		ft_hash root;

		memset(root.b, 0xFF, sizeof root.b);
		ft_state_set_checkpoint(st, (uint64_t)INT64_MAX, &root);
	}
	/* Inserted in reverse order: set_floor must keep them sorted. */
	for (size_t i = nprod; i-- > 0;) {
		char name[FT_STATE_PRODUCT_MAX + 1];

		memset(name, 'a' + (int)(i % 26), FT_STATE_PRODUCT_MAX);
		name[FT_STATE_PRODUCT_MAX] = '\0';
		name[0] = (char)('A' + (int)i); /* distinct, A..` sorted */
		if (i >= 26) {
			name[0] = (char)('a' + (int)(i - 26));
		}
		ck_assert_int_eq(ft_state_set_floor(st, name,
						    (uint64_t)INT64_MAX - i), 0);
	}
	ck_assert_uint_eq(st->n, nprod);
}

START_TEST(test_round_trip)
{
	static const size_t counts[] = { 0, 1, 2, FT_STATE_MAX_PRODUCTS };

	for (size_t k = 0; k < sizeof counts / sizeof counts[0]; k++) {
		for (int cp = 0; cp <= 1; cp++) {
			ft_state st;
			ft_state back;
			uint8_t buf[FT_STATE_FILE_MAX];
			uint8_t again[FT_STATE_FILE_MAX];
			size_t n;
			size_t m;
			char err[256];

			make_state(&st, counts[k], cp);
			ck_assert_int_eq(ft_state_format(&st, buf, sizeof buf,
							 &n), 0);
			ck_assert_uint_le(n, FT_STATE_FILE_MAX);
			ck_assert_int_eq(ft_state_parse(buf, n, &back, err,
							sizeof err), 0);
			ck_assert(state_eq(&st, &back));
			for (size_t i = 1; i < back.n; i++) {
				ck_assert_int_lt(strcmp(back.sv[i - 1].product,
							back.sv[i].product), 0);
			}
			ck_assert_int_eq(ft_state_format(&back, again,
							 sizeof again, &m), 0);
			ck_assert_uint_eq(m, n);
			ck_assert(memcmp(buf, again, n) == 0);
		}
	}
}
END_TEST

START_TEST(test_example)
{
	ft_state st;
	ft_state back;
	uint8_t buf[FT_STATE_FILE_MAX];
	size_t n;
	char err[256];

	example_state(&st);
	ck_assert_int_eq(ft_state_format(&st, buf, sizeof buf, &n), 0);
	ck_assert_uint_eq(n, sizeof EXAMPLE - 1);
	ck_assert(memcmp(buf, EXAMPLE, n) == 0);
	ck_assert_int_eq(ft_state_parse((const uint8_t *)EXAMPLE,
					sizeof EXAMPLE - 1, &back, err,
					sizeof err), 0);
	ck_assert(state_eq(&st, &back));
	ck_assert_uint_eq(ft_state_floor(&back, "gnb-du"), 7);
	ck_assert_uint_eq(ft_state_floor(&back, "gnb-cu"), 3);
	ck_assert_uint_eq(ft_state_floor(&back, "gnb"), 0);

	/* The first-boot file: header and checksum only. */
	ft_state_init(&st);
	ck_assert_int_eq(ft_state_format(&st, buf, sizeof buf, &n), 0);
	ck_assert_uint_eq(n, 22 + 9 + 64 + 1);
	ck_assert(memcmp(buf, "ftlog-device-state v1\nchecksum ", 31) == 0);
}
END_TEST

START_TEST(test_bit_flips)
{
	ft_state st;
	uint8_t good[FT_STATE_FILE_MAX];
	uint8_t buf[FT_STATE_FILE_MAX];
	size_t n;
	unsigned flips = 0;

	make_state(&st, 3, 1);
	ck_assert_int_eq(ft_state_format(&st, good, sizeof good, &n), 0);
	for (size_t i = 0; i < n; i++) {
		for (unsigned b = 0; b < 8; b++) {
			memcpy(buf, good, n);
			buf[i] ^= (uint8_t)(1u << b);
			expect_corrupt(buf, n, "bit flip");
			flips++;
		}
	}
	ck_assert_uint_eq(flips, 8 * n);
	/* The example too (a different shape: short numbers). */
	for (size_t i = 0; i < sizeof EXAMPLE - 1; i++) {
		memcpy(buf, EXAMPLE, sizeof EXAMPLE - 1);
		buf[i] ^= 0x01;
		expect_corrupt(buf, sizeof EXAMPLE - 1, "example flip");
	}
}
END_TEST

START_TEST(test_truncations)
{
	uint8_t buf[FT_STATE_FILE_MAX];
	size_t n = sizeof EXAMPLE - 1;

	for (size_t k = 0; k < n; k++) {
		memcpy(buf, EXAMPLE, k);
		expect_corrupt(buf, k, "truncation");
	}
	/* Trailing bytes after the checksum line. */
	memcpy(buf, EXAMPLE, n);
	buf[n] = '\n';
	expect_corrupt(buf, n + 1, "trailing newline");
	buf[n] = 'x';
	expect_corrupt(buf, n + 1, "trailing byte");
	memcpy(buf + n, EXAMPLE, n);
	expect_corrupt(buf, 2 * n, "file twice");
}
END_TEST

#define H "ftlog-device-state v1\n"
#define CP "checkpoint 5 AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=\n"

START_TEST(test_strict_rules)
{
	char body[FT_STATE_FILE_MAX];
	char name[FT_STATE_PRODUCT_MAX + 2];

	/* Valid shapes, as anchors for the refusals below. */
	expect_valid_body(H);
	expect_valid_body(H CP);
	expect_valid_body(H "checkpoint 0 "
			  "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=\n");
	expect_valid_body(H "security-version a 0\n");
	expect_valid_body(H CP "security-version A 1\nsecurity-version B 2\n"
			  "security-version a 1\nsecurity-version a.b 1\n"
			  "security-version a_b-9 9223372036854775807\n");

	/* Line endings and spacing. */
	expect_corrupt_body("ftlog-device-state v1\r\n");
	expect_corrupt_body(H "checkpoint 5 "
			    "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=\r\n");
	expect_corrupt_body(H "security-version a 1\r\n");
	expect_corrupt_body(H "security-version  a 1\n");
	expect_corrupt_body(H "security-version a  1\n");
	expect_corrupt_body(H "security-version a 1 \n");
	expect_corrupt_body(H "security-version a\t1\n");
	expect_corrupt_body(H "checkpoint 5  "
			    "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=\n");
	expect_corrupt_body(H "checkpoint  5 "
			    "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=\n");
	expect_corrupt_body(" " H);
	expect_corrupt_body("ftlog-device-state v1 \n");

	/* Header, unknown and misplaced lines. */
	expect_corrupt_body("");
	expect_corrupt_body("ftlog-device-state v2\n");
	expect_corrupt_body("FTLOG-DEVICE-STATE V1\n");
	expect_corrupt_body(CP);
	expect_corrupt_body(H H);
	expect_corrupt_body(H "\n");
	expect_corrupt_body(H CP "\n");
	expect_corrupt_body(H "comment\n");
	expect_corrupt_body(H "# comment\n");
	expect_corrupt_body(H "checkpoint\n");
	expect_corrupt_body(H "security-version\n");
	expect_corrupt_body(H CP CP);
	expect_corrupt_body(H "security-version a 1\n" CP);
	expect_corrupt_body(H CP "security-version a 1\nextra 1\n");

	/* Products: order, duplicates, characters, length. */
	expect_corrupt_body(H "security-version b 1\nsecurity-version a 1\n");
	expect_corrupt_body(H "security-version a 1\nsecurity-version a 2\n");
	expect_corrupt_body(H "security-version a.b 1\nsecurity-version a 1\n");
	expect_corrupt_body(H "security-version a 1\nsecurity-version A 1\n");
	expect_corrupt_body(H "security-version a/b 1\n");
	expect_corrupt_body(H "security-version a:b 1\n");
	expect_corrupt_body(H "security-version \xc3\xa9 1\n");
	memset(name, 'p', FT_STATE_PRODUCT_MAX);
	name[FT_STATE_PRODUCT_MAX] = '\0';
	ck_assert(snprintf(body, sizeof body, H "security-version %s 1\n",
			   name) > 0);
	expect_valid_body(body);
	name[FT_STATE_PRODUCT_MAX] = 'p';
	name[FT_STATE_PRODUCT_MAX + 1] = '\0';
	ck_assert(snprintf(body, sizeof body, H "security-version %s 1\n",
			   name) > 0);
	expect_corrupt_body(body);

	/* 32 products are fine, 33 are not. */
	{
		size_t off = (size_t)snprintf(body, sizeof body, H);

		for (int i = 0; i < FT_STATE_MAX_PRODUCTS; i++) {
			off += (size_t)snprintf(body + off, sizeof body - off,
						"security-version p%02d %d\n",
						i, i);
		}
		expect_valid_body(body);
		(void)snprintf(body + off, sizeof body - off,
			       "security-version p99 1\n");
		expect_corrupt_body(body);
	}

	/* Numbers: canonical decimal <= 2^63-1 only. */
	expect_corrupt_body(H "security-version a 01\n");
	expect_corrupt_body(H "security-version a 00\n");
	expect_corrupt_body(H "security-version a +1\n");
	expect_corrupt_body(H "security-version a -1\n");
	expect_corrupt_body(H "security-version a 1x\n");
	expect_corrupt_body(H "security-version a 0x10\n");
	expect_corrupt_body(H "security-version a 9223372036854775808\n");
	expect_corrupt_body(H "security-version a 18446744073709551616\n");
	expect_corrupt_body(H "security-version a \n");
	expect_corrupt_body(H "checkpoint 05 "
			    "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=\n");
	expect_corrupt_body(H "checkpoint 9223372036854775808 "
			    "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=\n");
	expect_corrupt_body(H "checkpoint -1 "
			    "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=\n");

	/* Base64: canonical, padded, exactly 32 bytes. */
	expect_corrupt_body(H "checkpoint 5 "
			    "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh9=\n");
	expect_corrupt_body(H "checkpoint 5 "
			    "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8\n");
	expect_corrupt_body(H "checkpoint 5 "
			    "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHg==\n");
	expect_corrupt_body(H "checkpoint 5 "
			    "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8gIQ==\n");
	expect_corrupt_body(H "checkpoint 5 "
			    "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8_\n");
	expect_corrupt_body(H "checkpoint 5 "
			    "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwd Hh8=\n");
	expect_corrupt_body(H "checkpoint 5 \n");
	expect_corrupt_body(H "checkpoint 5\n");
}
END_TEST

START_TEST(test_checksum_line)
{
	uint8_t buf[FT_STATE_FILE_MAX];
	size_t n = sizeof EXAMPLE - 1;
	char *p;

	/* Missing checksum line, uppercase hex, short/long digests. */
	expect_corrupt((const uint8_t *)H CP, strlen(H CP), "no checksum");
	memcpy(buf, EXAMPLE, n);
	p = strstr((char *)buf, "checksum ") + 9;
	for (size_t i = 0; i < 64; i++) {
		if (p[i] >= 'a' && p[i] <= 'f') {
			p[i] = (char)(p[i] - 'a' + 'A');
			break;
		}
	}
	expect_corrupt(buf, n, "uppercase hex");
	memcpy(buf, EXAMPLE, n);
	memmove(buf + n - 2, buf + n - 1, 1);
	expect_corrupt(buf, n - 1, "63 hex digits");
	memcpy(buf, EXAMPLE, n);
	buf[n - 1] = '0';
	buf[n] = '\n';
	expect_corrupt(buf, n + 1, "65 hex digits");
	/* A checksum line in the middle. */
	{
		uint8_t two[2 * FT_STATE_FILE_MAX];
		size_t m = with_cs(H, two, sizeof two);

		memcpy(two + m, "security-version a 1\n", 21);
		expect_corrupt(two, m + 21, "checksum not last");
	}
	/* The checksum of nothing, and a wrong but well-formed one. */
	expect_corrupt((const uint8_t *)H "checksum "
		       "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b"
		       "7852b855\n", 22 + 9 + 64 + 1, "wrong checksum");
}
END_TEST

START_TEST(test_parse_args)
{
	ft_state st;
	uint8_t big[FT_STATE_FILE_MAX + 1];
	char err[8];

	ck_assert_int_eq(ft_state_parse((const uint8_t *)EXAMPLE,
					sizeof EXAMPLE - 1, NULL, NULL, 0),
			 FT_EINVAL);
	ck_assert_int_eq(ft_state_parse(NULL, 1, &st, NULL, 0), FT_EINVAL);
	ck_assert_int_eq(ft_state_parse(NULL, 0, &st, NULL, 0),
			 FT_ESTATE_CORRUPT);
	memset(big, 'x', sizeof big);
	ck_assert_int_eq(ft_state_parse(big, sizeof big, &st, NULL, 0),
			 FT_ETOOBIG);
	/* A tiny err buffer is truncated and NUL-terminated. */
	ck_assert_int_eq(ft_state_parse(big, 10, &st, err, sizeof err),
			 FT_ESTATE_CORRUPT);
	ck_assert_uint_eq(strlen(err), sizeof err - 1);
}
END_TEST

START_TEST(test_format_errors)
{
	ft_state st;
	uint8_t buf[FT_STATE_FILE_MAX];
	size_t n = 77;
	size_t full;

	example_state(&st);
	ck_assert_int_eq(ft_state_format(&st, buf, sizeof buf, &full), 0);
	memset(buf, 0xA5, sizeof buf);
	ck_assert_int_eq(ft_state_format(&st, buf, full - 1, &n), FT_EBUFSIZE);
	ck_assert_uint_eq(n, 77);
	ck_assert_uint_eq(buf[0], 0xA5);
	ck_assert_int_eq(ft_state_format(&st, buf, full, &n), 0);
	ck_assert_uint_eq(n, full);
	ck_assert_int_eq(ft_state_format(NULL, buf, sizeof buf, &n),
			 FT_EINVAL);
	ck_assert_int_eq(ft_state_format(&st, NULL, sizeof buf, &n),
			 FT_EINVAL);
	ck_assert_int_eq(ft_state_format(&st, buf, sizeof buf, NULL),
			 FT_EINVAL);

	/* States that break an invariant are never written. */
	n = 77;
	example_state(&st);
	memcpy(st.sv[0].product, "zzz", 4); /* now unsorted */
	ck_assert_int_eq(ft_state_format(&st, buf, sizeof buf, &n), FT_EINVAL);
	example_state(&st);
	memcpy(st.sv[1].product, "gnb-cu", 7); /* duplicate */
	ck_assert_int_eq(ft_state_format(&st, buf, sizeof buf, &n), FT_EINVAL);
	example_state(&st);
	st.sv[0].product[0] = '\0'; /* empty */
	ck_assert_int_eq(ft_state_format(&st, buf, sizeof buf, &n), FT_EINVAL);
	example_state(&st);
	st.sv[0].product[1] = ' ';
	ck_assert_int_eq(ft_state_format(&st, buf, sizeof buf, &n), FT_EINVAL);
	example_state(&st);
	memset(st.sv[1].product, 'z', sizeof st.sv[1].product); /* no NUL */
	ck_assert_int_eq(ft_state_format(&st, buf, sizeof buf, &n), FT_EINVAL);
	example_state(&st);
	st.sv[1].sv = (uint64_t)INT64_MAX + 1;
	ck_assert_int_eq(ft_state_format(&st, buf, sizeof buf, &n), FT_EINVAL);
	example_state(&st);
	st.size = UINT64_MAX;
	ck_assert_int_eq(ft_state_format(&st, buf, sizeof buf, &n), FT_EINVAL);
	example_state(&st);
	st.n = FT_STATE_MAX_PRODUCTS + 1;
	ck_assert_int_eq(ft_state_format(&st, buf, sizeof buf, &n), FT_EINVAL);
	ck_assert_uint_eq(n, 77);
}
END_TEST

static char *path_in(const char *name)
{
	return tu_strf("%s/%s", g_dir, name);
}

START_TEST(test_load)
{
	ft_state st;
	ft_state want;
	char err[256];
	char *p = path_in("state");
	char *fifo = path_in("fifo");
	char *big = path_in("big");
	char *garbage = path_in("garbage");
	char *empty = path_in("empty");
	uint8_t buf[FT_STATE_FILE_MAX + 1];

	ck_assert_int_eq(ft_state_load(p, &st, err, sizeof err), FT_ENOTFOUND);
	ck_assert(strchr(err, '\n') == NULL);
	ck_assert_int_eq(tu_write_file(p, EXAMPLE, sizeof EXAMPLE - 1), 0);
	ck_assert_int_eq(ft_state_load(p, &st, err, sizeof err), 0);
	example_state(&want);
	ck_assert(state_eq(&st, &want));

	/* Not regular files. */
	ck_assert_int_eq(ft_state_load(g_dir, &st, err, sizeof err), FT_EIO);
	ck_assert_int_eq(mkfifo(fifo, 0600), 0);
	ck_assert_int_eq(ft_state_load(fifo, &st, err, sizeof err), FT_EIO);
	ck_assert_ptr_nonnull(strstr(err, "not a regular file"));
	ck_assert_int_eq(ft_state_load("/dev/null", &st, err, sizeof err),
			 FT_EIO);

	/* Too big: refused on size alone, whatever the content. */
	memset(buf, 'x', sizeof buf);
	ck_assert_int_eq(tu_write_file(big, buf, sizeof buf), 0);
	ck_assert_int_eq(ft_state_load(big, &st, err, sizeof err), FT_ETOOBIG);
	ck_assert_int_eq(tu_write_file(garbage, buf, FT_STATE_FILE_MAX), 0);
	ck_assert_int_eq(ft_state_load(garbage, &st, err, sizeof err),
			 FT_ESTATE_CORRUPT);
	ck_assert_int_eq(tu_write_file(empty, "", 0), 0);
	ck_assert_int_eq(ft_state_load(empty, &st, err, sizeof err),
			 FT_ESTATE_CORRUPT);

	/* A path through a file, and bad arguments. */
	{
		char *through = tu_strf("%s/x", p);

		ck_assert_int_eq(ft_state_load(through, &st, err, sizeof err),
				 FT_EIO);
		free(through);
	}
	ck_assert_int_eq(ft_state_load(NULL, &st, err, sizeof err), FT_EINVAL);
	ck_assert_int_eq(ft_state_load("", &st, err, sizeof err), FT_EINVAL);
	ck_assert_int_eq(ft_state_load(p, NULL, err, sizeof err), FT_EINVAL);
	free(p);
	free(fifo);
	free(big);
	free(garbage);
	free(empty);
}
END_TEST

START_TEST(test_save)
{
	ft_state st;
	ft_state back;
	char err[512];
	char *p = path_in("state");
	char *tmp = path_in("state.tmp");
	struct stat sb;
	size_t len;
	uint8_t *data;

	umask(022);
	make_state(&st, FT_STATE_MAX_PRODUCTS, 1);
	ck_assert_int_eq(ft_state_save(p, &st, err, sizeof err), 0);
	ck_assert_int_eq(stat(p, &sb), 0);
	ck_assert_uint_eq(sb.st_mode & 07777, 0600);
	ck_assert_int_eq(stat(tmp, &sb), -1);
	ck_assert_int_eq(errno, ENOENT);
	ck_assert_int_eq(ft_state_load(p, &back, err, sizeof err), 0);
	ck_assert(state_eq(&st, &back));

	/* Overwrite, over a stale temp with a looser mode. */
	ck_assert_int_eq(tu_write_file(tmp, "stale junk", 10), 0);
	ck_assert_int_eq(chmod(tmp, 0644), 0);
	example_state(&st);
	ck_assert_int_eq(ft_state_save(p, &st, err, sizeof err), 0);
	ck_assert_int_eq(stat(p, &sb), 0);
	ck_assert_uint_eq(sb.st_mode & 07777, 0600);
	ck_assert_int_eq(stat(tmp, &sb), -1);
	data = tu_read_file(p, &len);
	ck_assert_ptr_nonnull(data);
	ck_assert_uint_eq(len, sizeof EXAMPLE - 1);
	ck_assert(memcmp(data, EXAMPLE, len) == 0);
	free(data);

	/* A relative path (directory ".") works too. */
	{
		char cwd[4096];

		ck_assert_ptr_nonnull(getcwd(cwd, sizeof cwd));
		ck_assert_int_eq(chdir(g_dir), 0);
		ck_assert_int_eq(ft_state_save("rel", &st, err, sizeof err), 0);
		ck_assert_int_eq(ft_state_load("rel", &back, err, sizeof err),
				 0);
		ck_assert_int_eq(chdir(cwd), 0);
	}
	free(p);
	free(tmp);
}
END_TEST

START_TEST(test_save_failures)
{
	ft_state st;
	char err[512];
	char *p = path_in("state");
	char *tmp = path_in("state.tmp");
	char *nodir = path_in("no/such/dir/state");
	char *big;
	size_t len;
	uint8_t *data;
	struct stat sb;

	ck_assert_int_eq(tu_write_file(p, EXAMPLE, sizeof EXAMPLE - 1), 0);
	make_state(&st, 5, 0);

	/* PATH.tmp is a directory: the temp cannot be created. */
	ck_assert_int_eq(mkdir(tmp, 0700), 0);
	ck_assert_int_eq(ft_state_save(p, &st, err, sizeof err), FT_EIO);
	ck_assert_ptr_nonnull(strstr(err, "state.tmp"));
	ck_assert(strchr(err, '\n') == NULL);
	data = tu_read_file(p, &len);
	ck_assert_ptr_nonnull(data);
	ck_assert_uint_eq(len, sizeof EXAMPLE - 1);
	ck_assert(memcmp(data, EXAMPLE, len) == 0);
	free(data);
	ck_assert_int_eq(rmdir(tmp), 0);

	/* PATH is a non-empty directory: the rename fails after the temp
	 * was written; the temp must be gone, the directory intact. */
	{
		char *d = path_in("dirstate");
		char *inner = path_in("dirstate/keep");
		char *dtmp = path_in("dirstate.tmp");

		ck_assert_int_eq(mkdir(d, 0700), 0);
		ck_assert_int_eq(tu_write_file(inner, "k", 1), 0);
		ck_assert_int_eq(ft_state_save(d, &st, err, sizeof err), FT_EIO);
		ck_assert_ptr_nonnull(strstr(err, "rename"));
		ck_assert_int_eq(stat(dtmp, &sb), -1);
		ck_assert_int_eq(stat(inner, &sb), 0);
		free(d);
		free(inner);
		free(dtmp);
	}

	/* The directory does not exist. */
	ck_assert_int_eq(ft_state_save(nodir, &st, err, sizeof err), FT_EIO);

	/* An invalid state is refused before anything is touched. */
	st.sv[0].sv = UINT64_MAX;
	ck_assert_int_eq(ft_state_save(p, &st, err, sizeof err), FT_EINVAL);
	ck_assert_int_eq(stat(tmp, &sb), -1);
	data = tu_read_file(p, &len);
	ck_assert_ptr_nonnull(data);
	ck_assert(len == sizeof EXAMPLE - 1 && memcmp(data, EXAMPLE, len) == 0);
	free(data);

	/* Bad arguments, and a path too long for PATH.tmp. */
	ck_assert_int_eq(ft_state_save(NULL, &st, err, sizeof err), FT_EINVAL);
	ck_assert_int_eq(ft_state_save("", &st, err, sizeof err), FT_EINVAL);
	ck_assert_int_eq(ft_state_save(p, NULL, err, sizeof err), FT_EINVAL);
	big = malloc(5000);
	ck_assert_ptr_nonnull(big);
	memset(big, 'a', 4999);
	big[4999] = '\0';
	ck_assert_int_eq(ft_state_save(big, &st, err, sizeof err), FT_EINVAL);
	free(big);
	free(p);
	free(tmp);
	free(nodir);
}
END_TEST

START_TEST(test_set_floor)
{
	ft_state st;
	ft_state copy;
	char name[FT_STATE_PRODUCT_MAX + 2];
	ft_hash root;

	ft_state_init(&st);
	ck_assert_uint_eq(ft_state_floor(&st, "x"), 0);
	/* 0 for a new product uses no slot. */
	ck_assert_int_eq(ft_state_set_floor(&st, "x", 0), 0);
	ck_assert_uint_eq(st.n, 0);

	ck_assert_int_eq(ft_state_set_floor(&st, "m", 5), 0);
	ck_assert_int_eq(ft_state_set_floor(&st, "z", 1), 0);
	ck_assert_int_eq(ft_state_set_floor(&st, "a", 2), 0);
	ck_assert_int_eq(ft_state_set_floor(&st, "m.1", 3), 0);
	ck_assert_uint_eq(st.n, 4);
	ck_assert_str_eq(st.sv[0].product, "a");
	ck_assert_str_eq(st.sv[1].product, "m");
	ck_assert_str_eq(st.sv[2].product, "m.1");
	ck_assert_str_eq(st.sv[3].product, "z");

	/* Raise, keep, never lower. */
	ck_assert_int_eq(ft_state_set_floor(&st, "m", 9), 0);
	ck_assert_uint_eq(ft_state_floor(&st, "m"), 9);
	ck_assert_int_eq(ft_state_set_floor(&st, "m", 9), 0);
	memcpy(&copy, &st, sizeof st);
	ck_assert_int_eq(ft_state_set_floor(&st, "m", 8), FT_EINVAL);
	ck_assert_int_eq(ft_state_set_floor(&st, "m", 0), FT_EINVAL);
	ck_assert(memcmp(&copy, &st, sizeof st) == 0);
	ck_assert_uint_eq(ft_state_floor(&st, "m"), 9);

	/* Bad names and values. */
	ck_assert_int_eq(ft_state_set_floor(&st, NULL, 1), FT_EINVAL);
	ck_assert_int_eq(ft_state_set_floor(&st, "", 1), FT_EINVAL);
	ck_assert_int_eq(ft_state_set_floor(&st, "a b", 1), FT_EINVAL);
	ck_assert_int_eq(ft_state_set_floor(&st, "a/b", 1), FT_EINVAL);
	ck_assert_int_eq(ft_state_set_floor(&st, "a\n", 1), FT_EINVAL);
	ck_assert_int_eq(ft_state_set_floor(&st, "q",
					    (uint64_t)INT64_MAX + 1),
			 FT_EINVAL);
	ck_assert_int_eq(ft_state_set_floor(&st, "q", (uint64_t)INT64_MAX),
			 0);
	memset(name, 'n', FT_STATE_PRODUCT_MAX + 1);
	name[FT_STATE_PRODUCT_MAX + 1] = '\0';
	ck_assert_int_eq(ft_state_set_floor(&st, name, 1), FT_EINVAL);
	ck_assert_uint_eq(ft_state_floor(&st, name), 0);
	name[FT_STATE_PRODUCT_MAX] = '\0';
	ck_assert_int_eq(ft_state_set_floor(&st, name, 1), 0);
	ck_assert_uint_eq(ft_state_floor(&st, name), 1);
	ck_assert_uint_eq(ft_state_floor(&st, NULL), 0);
	ck_assert_uint_eq(ft_state_floor(&st, "a b"), 0);

	/* Full: a new product is FT_ETOOBIG, existing ones still rise. */
	make_state(&st, FT_STATE_MAX_PRODUCTS, 0);
	memcpy(&copy, &st, sizeof st);
	ck_assert_int_eq(ft_state_set_floor(&st, "new", 1), FT_ETOOBIG);
	ck_assert(memcmp(&copy, &st, sizeof st) == 0);
	ck_assert_int_eq(ft_state_set_floor(&st, "new", 0), 0);
	ck_assert_int_eq(ft_state_set_floor(&st, st.sv[3].product,
					    (uint64_t)INT64_MAX), 0);

	/* Checkpoint. */
	memset(root.b, 7, sizeof root.b);
	ft_state_set_checkpoint(&st, 42, &root);
	ck_assert_int_eq(st.has_checkpoint, 1);
	ck_assert_uint_eq(st.size, 42);
	ck_assert(ft_hash_equal(&st.root, &root));
}
END_TEST

static Suite *state_suite(void)
{
	Suite *s = suite_create("state");
	TCase *tc = tcase_create("state");

	tcase_set_timeout(tc, 120);
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, test_round_trip);
	tcase_add_test(tc, test_example);
	tcase_add_test(tc, test_bit_flips);
	tcase_add_test(tc, test_truncations);
	tcase_add_test(tc, test_strict_rules);
	tcase_add_test(tc, test_checksum_line);
	tcase_add_test(tc, test_parse_args);
	tcase_add_test(tc, test_format_errors);
	tcase_add_test(tc, test_load);
	tcase_add_test(tc, test_save);
	tcase_add_test(tc, test_save_failures);
	tcase_add_test(tc, test_set_floor);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	return tu_run_suite(state_suite());
}
