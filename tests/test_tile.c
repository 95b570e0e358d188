/*
 * tests/test_tile.c - C2SP tlog-tiles: tile math, paths, tile hashes, the
 * tile hash reader and entry bundles.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <ftlog/tile.h>

#include "tests/testutil.h"

/*
 * Check's ck_assert_* record every passing check through the runner's
 * pipe; the exhaustive loops below use these instead, which only call
 * into Check on failure.
 */
#define REQUIRE(c)                                                             \
	do {                                                                   \
		if (!(c)) {                                                    \
			ck_abort_msg("%s:%d: %s", __FILE__, __LINE__, #c);     \
		}                                                              \
	} while (0)
#define REQUIRE_EQ(a, b)                                                       \
	do {                                                                   \
		intmax_t a_ = (intmax_t)(a), b_ = (intmax_t)(b);               \
		if (a_ != b_) {                                                \
			ck_abort_msg("%s:%d: %s == %jd, %s == %jd", __FILE__,  \
				     __LINE__, #a, a_, #b, b_);                \
		}                                                              \
	} while (0)

/* ---- An in-memory tree: every complete node, level by level. */

/* Enough for a few sizes past 65536 (two full level-1 tiles would need
 * 131072; one and a bit is what the boundary tests need). */
#define MEM_MAX 65800

static struct {
	uint64_t n;
	uint64_t count[64];
	ft_hash *lv[64];
} mem;

static void entry_bytes(uint64_t i, uint8_t *buf, size_t *len)
{
	*len = (size_t)snprintf((char *)buf, 64, "firmware event %" PRIu64, i);
	/* Vary the length, with some empty entries. */
	if (i % 97 == 5) {
		*len = 0;
	}
}

static void mem_build(void)
{
	uint8_t e[64];
	size_t el = 0;

	mem.n = MEM_MAX;
	mem.count[0] = MEM_MAX;
	mem.lv[0] = calloc(MEM_MAX, sizeof(ft_hash));
	ck_assert_ptr_nonnull(mem.lv[0]);
	for (uint64_t i = 0; i < MEM_MAX; i++) {
		entry_bytes(i, e, &el);
		ft_merkle_leaf_hash(e, el, &mem.lv[0][i]);
	}
	for (unsigned h = 1; h < 64 && mem.count[h - 1] >= 2; h++) {
		mem.count[h] = mem.count[h - 1] / 2;
		mem.lv[h] = calloc(mem.count[h], sizeof(ft_hash));
		ck_assert_ptr_nonnull(mem.lv[h]);
		for (uint64_t k = 0; k < mem.count[h]; k++) {
			ft_merkle_node_hash(&mem.lv[h - 1][2 * k],
					    &mem.lv[h - 1][2 * k + 1],
					    &mem.lv[h][k]);
		}
	}
}

static void mem_free(void)
{
	for (unsigned h = 0; h < 64; h++) {
		free(mem.lv[h]);
		mem.lv[h] = NULL;
	}
}

/* Reference MTH(D[lo:hi]) straight from RFC 6962, using stored nodes
 * for perfect aligned subtrees. */
static void mth(uint64_t lo, uint64_t hi, ft_hash *out)
{
	uint64_t n = hi - lo;

	if (n == 0) {
		ft_merkle_empty_root(out);
		return;
	}
	if ((n & (n - 1)) == 0) {
		unsigned h = 0;
		while (((uint64_t)1 << h) < n) {
			h++;
		}
		if (lo % n == 0) {
			*out = mem.lv[h][lo >> h];
			return;
		}
	}
	uint64_t k = 1;
	while (k * 2 < n) {
		k *= 2;
	}
	ft_hash l, r;
	mth(lo, lo + k, &l);
	mth(lo + k, hi, &r);
	ft_merkle_node_hash(&l, &r, out);
}

/* An ft_hash_reader straight over mem for a tree of `size`: refuses any
 * node that is not complete at that size. */
static int mem_read(void *ctx, const ft_node_id *ids, size_t n, ft_hash *out)
{
	uint64_t size = *(const uint64_t *)ctx;

	REQUIRE(n <= FT_READ_MAX);
	for (size_t i = 0; i < n; i++) {
		if (ids[i].level >= 64 ||
		    ids[i].index >= (size >> ids[i].level)) {
			return FT_EREAD;
		}
		out[i] = mem.lv[ids[i].level][ids[i].index];
	}
	return FT_OK;
}

/* Tiles of mem for a tree of `size`, as a server would publish them. */
typedef struct fetcher {
	uint64_t size;
	unsigned fetches;
	int bad_len;	/* return one byte short */
	int fail;	/* return this code */
	int unservable; /* set if a tile that cannot be served was asked */
} fetcher;

static int mem_fetch(void *ctx, const ft_tile *t, uint8_t *buf, size_t *len)
{
	fetcher *f = ctx;

	f->fetches++;
	if (!ft_tile_servable(f->size, t) || t->level < 0) {
		f->unservable = 1;
		return FT_EREAD;
	}
	if (f->fail != 0) {
		return f->fail;
	}
	const ft_hash *src = &mem.lv[8 * t->level][t->index * FT_TILE_WIDTH];
	memcpy(buf, src, (size_t)t->width * FT_HASH_LEN);
	*len = (size_t)t->width * FT_HASH_LEN - (f->bad_len ? 1 : 0);
	return FT_OK;
}

/* ---- Paths. */

static void check_path(int level, uint64_t index, unsigned width,
		       const char *want)
{
	ft_tile t = { .level = level, .index = index, .width = width };
	ft_tile back;
	char buf[FT_TILE_PATH_MAX];
	size_t len = 0;

	ck_assert_int_eq(ft_tile_path(&t, buf, sizeof buf, &len), 0);
	ck_assert_str_eq(buf, want);
	ck_assert_uint_eq(len, strlen(want));
	memset(&back, 0xa5, sizeof back);
	ck_assert_int_eq(ft_tile_parse_path(buf, len, &back), 0);
	ck_assert_int_eq(back.level, level);
	ck_assert_uint_eq(back.index, index);
	ck_assert_uint_eq(back.width, width);
}

START_TEST(test_path_known)
{
	check_path(0, 0, 256, "tile/0/000");
	check_path(0, 5, 256, "tile/0/005");
	check_path(0, 999, 256, "tile/0/999");
	check_path(0, 1000, 256, "tile/0/x001/000");
	check_path(0, 1234067, 256, "tile/0/x001/x234/067");
	check_path(0, 123456789, 256, "tile/0/x123/x456/789");
	check_path(0, (uint64_t)INT64_MAX, 256,
		   "tile/0/x009/x223/x372/x036/x854/x775/807");
	check_path(4, 1234067, 1, "tile/4/x001/x234/067.p/1");
	check_path(1, 0, 17, "tile/1/000.p/17");
	check_path(2, 0, 1, "tile/2/000.p/1");
	check_path(63, 1000000, 255, "tile/63/x001/x000/000.p/255");
	check_path(FT_TILE_ENTRIES, 5, 17, "tile/entries/005.p/17");
	check_path(FT_TILE_ENTRIES, 1234067, 256, "tile/entries/x001/x234/067");
	check_path(FT_TILE_ENTRIES, (uint64_t)INT64_MAX, 255,
		   "tile/entries/x009/x223/x372/x036/x854/x775/807.p/255");
	ck_assert_uint_lt(strlen("tile/entries/x009/x223/x372/x036/x854/x775/"
				 "807.p/255") +
				  1,
			  FT_TILE_PATH_MAX);
}
END_TEST

/* The "N path encoding" line of ../shared/vectors/notes.txt. */
START_TEST(test_path_vectors)
{
	char path[4096];
	size_t len = 0;

	snprintf(path, sizeof path, "%s/notes.txt", tu_vectors_dir());
	char *notes = (char *)tu_read_file(path, &len);
	ck_assert_msg(notes != NULL, "cannot read %s", path);
	char *line = strstr(notes, "\n0 -> 000");
	ck_assert_ptr_nonnull(line);
	line++;
	*strchr(line, '\n') = 0;
	unsigned seen = 0;
	for (char *tok = strtok(line, ";"); tok != NULL;
	     tok = strtok(NULL, ";")) {
		unsigned long long n = 0;
		char enc[64], want[96];
		ck_assert_int_eq(sscanf(tok, " %llu -> %63s", &n, enc), 2);
		snprintf(want, sizeof want, "tile/0/%s", enc);
		check_path(0, n, 256, want);
		snprintf(want, sizeof want, "tile/entries/%s.p/9", enc);
		check_path(FT_TILE_ENTRIES, n, 9, want);
		seen++;
	}
	ck_assert_uint_eq(seen, 6);
	free(notes);
}
END_TEST

START_TEST(test_path_buffers)
{
	ft_tile t = { .level = 0, .index = 1234067, .width = 256 };
	char buf[FT_TILE_PATH_MAX];
	size_t len = 99;

	/* "tile/0/x001/x234/067" is 20 bytes, plus the NUL. */
	ck_assert_int_eq(ft_tile_path(&t, buf, 20, &len), FT_EBUFSIZE);
	ck_assert_uint_eq(len, 99);
	ck_assert_int_eq(ft_tile_path(&t, buf, 21, &len), 0);
	ck_assert_uint_eq(len, 20);
	ck_assert_int_eq(ft_tile_path(&t, buf, 0, &len), FT_EBUFSIZE);

	ft_tile bad[] = {
		{ .level = 0, .index = 0, .width = 0 },
		{ .level = 0, .index = 0, .width = 257 },
		{ .level = 64, .index = 0, .width = 256 },
		{ .level = -2, .index = 0, .width = 256 },
		{ .level = 0, .index = (uint64_t)INT64_MAX + 1, .width = 256 },
		{ .level = 0, .index = UINT64_MAX, .width = 256 },
	};
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		ck_assert_int_eq(ft_tile_path(&bad[i], buf, sizeof buf, &len),
				 FT_EINVAL);
	}
}
END_TEST

static uint64_t rng_state = 0x9e3779b97f4a7c15u;

static uint64_t rng(void)
{
	/* xorshift64: reproducible, no libc randomness. */
	rng_state ^= rng_state << 13;
	rng_state ^= rng_state >> 7;
	rng_state ^= rng_state << 17;
	return rng_state;
}

static void round_trip_one(uint64_t index)
{
	static const int levels[] = { FT_TILE_ENTRIES, 0, 1, 9, 10, 63 };
	static const unsigned widths[] = { 1, 9, 10, 99, 100, 255, 256 };
	char buf[FT_TILE_PATH_MAX + 1];
	size_t len = 0;

	for (size_t l = 0; l < sizeof levels / sizeof levels[0]; l++) {
		for (size_t w = 0; w < sizeof widths / sizeof widths[0]; w++) {
			ft_tile t = { levels[l], index, widths[w] };
			ft_tile back;

			/* Write after a '/' so the leading-slash form is
			 * checked too. */
			buf[0] = '/';
			REQUIRE_EQ(
				ft_tile_path(&t, buf + 1, sizeof buf - 1, &len),
				0);
			REQUIRE_EQ(ft_tile_parse_path(buf + 1, len, &back), 0);
			REQUIRE(back.level == t.level &&
				back.index == t.index && back.width == t.width);
			memset(&back, 0, sizeof back);
			REQUIRE_EQ(ft_tile_parse_path(buf, len + 1, &back), 0);
			REQUIRE(back.level == t.level &&
				back.index == t.index && back.width == t.width);
			/* Every strict prefix is refused, except those that
			 * end right after the index or inside W. */
			const char *dot = strstr(buf + 1, ".p/");
			size_t at = dot != NULL ? (size_t)(dot - (buf + 1)) : 0;
			for (size_t n = 0; n < len; n++) {
				int rc = ft_tile_parse_path(buf + 1, n, &back);
				if (rc == 0) {
					REQUIRE(dot != NULL);
					REQUIRE(n == at || n > at + 3);
				} else {
					REQUIRE_EQ(rc, FT_ETILE_PATH);
				}
			}
		}
	}
}

START_TEST(test_path_round_trip)
{
	for (uint64_t i = 0; i < 3000; i++) {
		round_trip_one(i);
	}
	for (uint64_t p = 10; p <= (uint64_t)INT64_MAX / 10; p *= 10) {
		round_trip_one(p - 1);
		round_trip_one(p);
		round_trip_one(p + 1);
	}
	for (unsigned b = 1; b < 63; b++) {
		round_trip_one(((uint64_t)1 << b) - 1);
		round_trip_one((uint64_t)1 << b);
	}
	round_trip_one((uint64_t)INT64_MAX);
	round_trip_one((uint64_t)INT64_MAX - 1);
	for (unsigned i = 0; i < 2000; i++) {
		round_trip_one(rng() >> (1 + rng() % 63));
	}
}
END_TEST

START_TEST(test_path_rejects)
{
	static const char *bad[] = {
		"",
		"/",
		"tile",
		"tile/",
		"tile/0",
		"tile/0/",
		"tile/entries",
		"tile/entries/",
		"tile/00/000", /* leading zero in L */
		"tile/01/000",
		"tile/000/000",
		"tile/64/000", /* L above 63 */
		"tile/100/000",
		"tile/-1/000",
		"tile/+1/000",
		"tile/ 1/000",
		"tile/1 /000",
		"tile/data/000",   /* Go's name for entries */
		"tile/8/0/000",	   /* Go's path with a height */
		"tile/0/000.p/01", /* leading zero in W */
		"tile/0/000.p/001",
		"tile/0/000.p/0", /* W out of range */
		"tile/0/000.p/256",
		"tile/0/000.p/1000",
		"tile/0/000.p/-1",
		"tile/0/000.p/",
		"tile/0/000.p",
		"tile/0/000.",
		"tile/0/000.p/1/",
		"tile/0/000.p/1x",
		"tile/0/000.p/1 ",
		"tile/0/000.q/1",
		"tile/0/000p/1",
		"tile/0/x000", /* 'x' on the last group */
		"tile/0/x001",
		"tile/0/x001/x002",
		"tile/0/001/000", /* missing 'x' */
		"tile/0/x001/002/003",
		"tile/0/0", /* groups of 1, 2 and 4 digits */
		"tile/0/00",
		"tile/0/0000",
		"tile/0/x01/000",
		"tile/0/x0001/000",
		"tile/0/x001/00",
		"tile/0/x001/0000",
		"tile/0/X001/000",
		"tile/0/xx001/000",
		"tile/0/x/001",
		"tile/0/x000/001", /* non-canonical leading zero group */
		"tile/0/x000/x001/000",
		"tile/0/000/", /* trailing slash */
		"tile/0/x001/000/",
		"tile/0/000.p/5/",
		"tile//0/000", /* empty elements */
		"tile/0//000",
		"tile/0/x001//000",
		"//tile/0/000",
		"/tile//000",
		"tile/entries//000",
		"tile/entries/000.p/0",
		"tile/entries/000.p/256",
		"tile/entries/x000/000",
		"tile/entries/0",
		"tile/Entries/000",
		"tile/entry/000",
		"Tile/0/000",
		"TILE/0/000",
		"tiles/0/000",
		" tile/0/000",
		"tile/0/000 ",
		"tile/0/000\n",
		"tile/0/ 000",
		"tile/0/+00",
		"tile/0/-00",
		"tile/0/0a0",
		"./tile/0/000",
		"tile/./0/000",
		"hello",
		"GET /tile/0/000 HTTP/1.1",
		"http://example.com/tile/0/000",
		/* index > INT64_MAX */
		"tile/0/x009/x223/x372/x036/x854/x775/808",
		"tile/0/x018/x446/x744/x073/x709/x551/615",
		"tile/0/x018/x446/x744/x073/x709/x551/616",
		"tile/0/x999/x999/x999/x999/x999/x999/999",
		"tile/0/x001/x000/x000/x000/x000/x000/x000/000",
		"tile/entries/x009/x223/x372/x036/x854/x775/808.p/1",
		/* too long: more than FT_TILE_PATH_MAX bytes */
		"tile/0/x001/x001/x001/x001/x001/x001/x001/x001/x001/x001/x001/"
		"001",
	};

	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		ft_tile t = { .level = 7, .index = 7, .width = 7 };
		int rc = ft_tile_parse_path(bad[i], strlen(bad[i]), &t);
		ck_assert_msg(rc == FT_ETILE_PATH, "accepted \"%s\" (%d)",
			      bad[i], rc);
		/* Output untouched on failure. */
		ck_assert(t.level == 7 && t.index == 7 && t.width == 7);
	}

	/* Embedded NUL. */
	ft_tile t;
	ck_assert_int_eq(ft_tile_parse_path("tile/0/000\0", 11, &t),
			 FT_ETILE_PATH);
	ck_assert_int_eq(ft_tile_parse_path("tile/0\0/000", 11, &t),
			 FT_ETILE_PATH);
	/* The length is honoured: nothing past it is read. */
	ck_assert_int_eq(ft_tile_parse_path("tile/0/0011", 10, &t), 0);
	ck_assert_uint_eq(t.index, 1);
	ck_assert_int_eq(ft_tile_parse_path("tile/0/000.p/25", 14, &t), 0);
	ck_assert_uint_eq(t.width, 2);
	ck_assert_int_eq(ft_tile_parse_path(NULL, 0, &t), FT_ETILE_PATH);

	/* Edge values that are fine. */
	static const char *good[] = {
		"tile/63/000",
		"tile/0/000.p/255",
		"tile/0/000.p/1",
		"/tile/0/000",
		"tile/0/x009/x223/x372/x036/x854/x775/807",
		"tile/0/x001/x000/x000/x000/x000/x000/000",
		"tile/entries/999.p/100",
	};
	for (size_t i = 0; i < sizeof good / sizeof good[0]; i++) {
		ck_assert_msg(
			ft_tile_parse_path(good[i], strlen(good[i]), &t) == 0,
			"refused %s", good[i]);
	}

	/* A path of exactly FT_TILE_PATH_MAX bytes is judged on content, one
	 * more byte is refused on length alone. */
	char longp[FT_TILE_PATH_MAX + 2];
	memset(longp, '0', sizeof longp);
	memcpy(longp, "tile/0/", 7);
	ck_assert_int_eq(ft_tile_parse_path(longp, FT_TILE_PATH_MAX, &t),
			 FT_ETILE_PATH);
	ck_assert_int_eq(ft_tile_parse_path(longp, FT_TILE_PATH_MAX + 1, &t),
			 FT_ETILE_PATH);
}
END_TEST

/* ---- Tile math. */

/* Reference: nodes at level 8L by repeated division, no shifts. */
static uint64_t ref_count(uint64_t size, unsigned level)
{
	for (unsigned i = 0; i < level && size != 0; i++) {
		size /= 256;
	}
	return size;
}

static void check_counts(uint64_t size)
{
	unsigned levels = 0;

	for (unsigned l = 0; l < 70; l++) {
		uint64_t c = ref_count(size, l);
		if (l < 64) {
			REQUIRE_EQ(ft_tile_full_count(size, l), c / 256);
			REQUIRE_EQ(ft_tile_partial_width(size, l), c % 256);
		}
		if (c != 0) {
			levels = l + 1;
		}
	}
	REQUIRE_EQ(ft_tile_levels(size), levels);
}

START_TEST(test_counts)
{
	/* C2SP tlog-tiles, "Partial Tiles": size 70,000 has 273 full
	 * level-0 tiles, a level-0 partial of width 112, one full level-1
	 * tile, a level-1 partial of width 17 and a level-2 partial of
	 * width 1. */
	ck_assert_uint_eq(ft_tile_levels(70000), 3);
	ck_assert_uint_eq(ft_tile_full_count(70000, 0), 273);
	ck_assert_uint_eq(ft_tile_partial_width(70000, 0), 112);
	ck_assert_uint_eq(ft_tile_full_count(70000, 1), 1);
	ck_assert_uint_eq(ft_tile_partial_width(70000, 1), 17);
	ck_assert_uint_eq(ft_tile_full_count(70000, 2), 0);
	ck_assert_uint_eq(ft_tile_partial_width(70000, 2), 1);
	ck_assert_uint_eq(ft_tile_full_count(70000, 3), 0);
	ck_assert_uint_eq(ft_tile_partial_width(70000, 3), 0);
	/* "a tree of size 256 will be represented by a full level 0 tile
	 * and a partial level 1 tile of width 1". */
	ck_assert_uint_eq(ft_tile_levels(256), 2);
	ck_assert_uint_eq(ft_tile_full_count(256, 0), 1);
	ck_assert_uint_eq(ft_tile_partial_width(256, 0), 0);
	ck_assert_uint_eq(ft_tile_full_count(256, 1), 0);
	ck_assert_uint_eq(ft_tile_partial_width(256, 1), 1);
	/* The empty tree has no tiles. */
	ck_assert_uint_eq(ft_tile_levels(0), 0);
	for (unsigned l = 0; l < 64; l++) {
		ck_assert_uint_eq(ft_tile_full_count(0, l), 0);
		ck_assert_uint_eq(ft_tile_partial_width(0, l), 0);
	}
	ck_assert_uint_eq(ft_tile_levels((uint64_t)INT64_MAX), 8);
	ck_assert_uint_eq(ft_tile_levels(UINT64_MAX), 8);

	for (uint64_t s = 0; s < 3000; s++) {
		check_counts(s);
	}
	/* Around 256^k. */
	for (unsigned k = 1; k < 8; k++) {
		uint64_t b = (uint64_t)1 << (8 * k);
		for (uint64_t d = 0; d < 3; d++) {
			check_counts(b - 1 - d);
			check_counts(b + d);
			check_counts(b * 255 + d);
			check_counts(2 * b - 1 + d);
		}
	}
	check_counts((uint64_t)INT64_MAX);
	check_counts(UINT64_MAX);
	for (unsigned i = 0; i < 10000; i++) {
		check_counts(rng() >> (rng() % 64));
	}
}
END_TEST

static void check_tile_at(uint64_t size)
{
	for (int level = FT_TILE_ENTRIES; level < 10; level++) {
		unsigned l = level < 0 ? 0 : (unsigned)level;
		uint64_t c = ref_count(size, l);
		uint64_t full = c / 256;
		unsigned pw = (unsigned)(c % 256);
		uint64_t start = full > 3 ? full - 3 : 0;

		for (uint64_t n = start; n < full + 3; n++) {
			ft_tile t = { 99, 99, 99 };
			unsigned want = n < full ? 256 : n == full ? pw : 0;
			int rc = ft_tile_at(size, level, n, &t);

			if (want == 0) {
				REQUIRE_EQ(rc, FT_ETILE_NONE);
				REQUIRE(t.level == 99 && t.index == 99 &&
					t.width == 99);
			} else {
				REQUIRE_EQ(rc, 0);
				REQUIRE_EQ(t.level, level);
				REQUIRE_EQ(t.index, n);
				REQUIRE_EQ(t.width, want);
			}
			for (unsigned w = 0; w <= 257; w++) {
				ft_tile q = { level, n, w };
				REQUIRE_EQ(ft_tile_servable(size, &q),
					   want != 0 && w == want);
			}
		}
	}
}

START_TEST(test_tile_at)
{
	ft_tile t;

	for (uint64_t s = 0; s < 1100; s++) {
		check_tile_at(s);
	}
	check_tile_at(65535);
	check_tile_at(65536);
	check_tile_at(65537);
	check_tile_at(70000);
	check_tile_at((uint64_t)1 << 40);
	check_tile_at((uint64_t)INT64_MAX);
	for (unsigned i = 0; i < 300; i++) {
		check_tile_at(rng() >> (1 + rng() % 63));
	}
	ck_assert_int_eq(ft_tile_at(1000, 64, 0, &t), FT_EINVAL);
	ck_assert_int_eq(ft_tile_at(1000, -2, 0, &t), FT_EINVAL);
	ck_assert_int_eq(ft_tile_at(0, 0, 0, &t), FT_ETILE_NONE);
	ck_assert_int_eq(ft_tile_at(256, 0, 0, &t), 0);
	ck_assert_uint_eq(t.width, 256);
	ck_assert_int_eq(ft_tile_at(256, 1, 0, &t), 0);
	ck_assert_uint_eq(t.width, 1);
	ck_assert_int_eq(ft_tile_at(256, FT_TILE_ENTRIES, 1, &t),
			 FT_ETILE_NONE);
	ck_assert_int_eq(ft_tile_servable(256, NULL), 0);
	ft_tile q = { 64, 0, 1 };
	ck_assert_int_eq(ft_tile_servable(UINT64_MAX, &q), 0);
}
END_TEST

/* ---- ft_tile_foreach_new. */

typedef struct tile_list {
	ft_tile *t;
	size_t n, cap;
	size_t stop_at; /* return 42 at this call (0: never) */
} tile_list;

static void list_add(tile_list *l, const ft_tile *t)
{
	if (l->n == l->cap) {
		l->cap = l->cap ? 2 * l->cap : 64;
		l->t = realloc(l->t, l->cap * sizeof *l->t);
		ck_assert_ptr_nonnull(l->t);
	}
	l->t[l->n++] = *t;
}

static int collect(void *ctx, const ft_tile *t)
{
	tile_list *l = ctx;

	list_add(l, t);
	if (l->stop_at != 0 && l->n == l->stop_at) {
		return 42;
	}
	return 0;
}

/* Does the tile (level, n, w) exist at `size`? From first principles. */
static int ref_exists(uint64_t size, int level, uint64_t n, unsigned w)
{
	uint64_t c = ref_count(size, level < 0 ? 0 : (unsigned)level);

	if (w == 256) {
		return n < c / 256;
	}
	return n == c / 256 && w == c % 256;
}

/* Every tile at new_size missing at old_size, levels up, then entries. */
static void ref_new(uint64_t old_size, uint64_t new_size, tile_list *out)
{
	for (int level = 0; level <= 64; level++) {
		int lv = level == 64 ? FT_TILE_ENTRIES : level;
		uint64_t c = ref_count(new_size, lv < 0 ? 0 : (unsigned)lv);
		if (c == 0) {
			if (lv >= 0) {
				level = 63; /* nothing higher: go to entries */
			}
			continue;
		}
		/* Tiles below the old full count are full at old_size
		 * already; start there so that huge trees stay cheap. */
		uint64_t first =
			ref_count(old_size, lv < 0 ? 0 : (unsigned)lv) / 256;
		for (uint64_t n = first; n <= c / 256; n++) {
			unsigned w = n < c / 256 ? 256 : (unsigned)(c % 256);
			if (w == 0 || ref_exists(old_size, lv, n, w)) {
				continue;
			}
			ft_tile t = { lv, n, w };
			list_add(out, &t);
		}
	}
}

static void check_new(uint64_t old_size, uint64_t new_size)
{
	tile_list got = { 0 }, want = { 0 };

	REQUIRE_EQ(ft_tile_foreach_new(old_size, new_size, collect, &got), 0);
	ref_new(old_size, new_size, &want);
	if (got.n != want.n) {
		ck_abort_msg("%" PRIu64 " -> %" PRIu64 ": %zu vs %zu", old_size,
			     new_size, got.n, want.n);
	}
	for (size_t i = 0; i < got.n; i++) {
		if (got.t[i].level != want.t[i].level ||
		    got.t[i].index != want.t[i].index ||
		    got.t[i].width != want.t[i].width) {
			ck_abort_msg("%" PRIu64 " -> %" PRIu64 " item %zu",
				     old_size, new_size, i);
		}
		/* Every visited tile is servable at the new size. */
		REQUIRE(ft_tile_servable(new_size, &got.t[i]));
	}
	free(got.t);
	free(want.t);
}

START_TEST(test_foreach_new)
{
	static const uint64_t sizes[] = {
		0,	1,	  2,	    3,	      17,    111,   112,
		254,	255,	  256,	    257,      258,   300,   511,
		512,	513,	  767,	    768,      1000,  65279, 65280,
		65535,	65536,	  65537,    65792,    65793, 70000, 70001,
		131072, 16777215, 16777216, 16777217,
	};
	const size_t ns = sizeof sizes / sizeof sizes[0];

	for (size_t i = 0; i < ns; i++) {
		for (size_t j = i; j < ns; j++) {
			check_new(sizes[i], sizes[j]);
		}
	}
	for (uint64_t a = 0; a < 600; a += 7) {
		for (uint64_t b = a; b < 1400; b += 13) {
			check_new(a, b);
		}
	}
	/* Close pairs anywhere, up to the largest tree. */
	for (unsigned i = 0; i < 3000; i++) {
		uint64_t b = rng() >> (1 + rng() % 63);
		uint64_t d = rng() % 70000;
		check_new(b > d ? b - d : 0, b);
	}
	check_new((uint64_t)INT64_MAX - 70000, (uint64_t)INT64_MAX);
	check_new((uint64_t)INT64_MAX, (uint64_t)INT64_MAX);

	/* Specifics: 5 -> 261 and 256 -> 257. */
	tile_list l = { 0 };
	ck_assert_int_eq(ft_tile_foreach_new(5, 261, collect, &l), 0);
	ck_assert_uint_eq(l.n, 5);
	ck_assert(l.t[0].level == 0 && l.t[0].index == 0 &&
		  l.t[0].width == 256);
	ck_assert(l.t[1].level == 0 && l.t[1].index == 1 && l.t[1].width == 5);
	ck_assert(l.t[2].level == 1 && l.t[2].index == 0 && l.t[2].width == 1);
	ck_assert(l.t[3].level == FT_TILE_ENTRIES && l.t[3].index == 0 &&
		  l.t[3].width == 256);
	ck_assert(l.t[4].level == FT_TILE_ENTRIES && l.t[4].index == 1 &&
		  l.t[4].width == 5);
	l.n = 0;
	ck_assert_int_eq(ft_tile_foreach_new(256, 257, collect, &l), 0);
	ck_assert_uint_eq(l.n, 2);
	ck_assert(l.t[0].level == 0 && l.t[0].index == 1 && l.t[0].width == 1);
	ck_assert(l.t[1].level == FT_TILE_ENTRIES && l.t[1].width == 1);
	l.n = 0;
	ck_assert_int_eq(ft_tile_foreach_new(70000, 70000, collect, &l), 0);
	ck_assert_uint_eq(l.n, 0);

	/* The callback's code stops the walk. */
	l.n = 0;
	l.stop_at = 3;
	ck_assert_int_eq(ft_tile_foreach_new(0, 70000, collect, &l), 42);
	ck_assert_uint_eq(l.n, 3);
	l.n = 0;
	l.stop_at = 0;

	ck_assert_int_eq(ft_tile_foreach_new(10, 9, collect, &l), FT_EINVAL);
	ck_assert_int_eq(ft_tile_foreach_new(0, 9, NULL, NULL), FT_EINVAL);
	ck_assert_int_eq(ft_tile_foreach_new(0, UINT64_MAX, collect, &l),
			 FT_EINVAL);
	ck_assert_uint_eq(l.n, 0);
	free(l.t);
}
END_TEST

/* ---- Tile hashes. */

START_TEST(test_tile_hash)
{
	ft_hash h;

	/* Level-0 tiles hash to level-8 nodes, level-1 tiles to level 16. */
	for (uint64_t n = 0; n < mem.count[8]; n++) {
		ck_assert_int_eq(
			ft_tile_hash((const uint8_t *)&mem.lv[0][n * 256],
				     FT_TILE_BYTES, &h),
			0);
		ck_assert(ft_hash_equal(&h, &mem.lv[8][n]));
		ft_hash ref;
		mth(n * 256, n * 256 + 256, &ref);
		ck_assert(ft_hash_equal(&h, &ref));
	}
	ck_assert_int_eq(
		ft_tile_hash((const uint8_t *)&mem.lv[8][0], FT_TILE_BYTES, &h),
		0);
	ck_assert(ft_hash_equal(&h, &mem.lv[16][0]));

	static const size_t bad[] = { 0, 32, 8160, 8191, 8193, 8224, 16384 };
	static uint8_t buf[16384];
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		ck_assert_int_eq(ft_tile_hash(buf, bad[i], &h), FT_ETILE_SIZE);
	}
	ck_assert_int_eq(ft_tile_hash(NULL, FT_TILE_BYTES, &h), FT_ETILE_SIZE);
}
END_TEST

/* ---- Proofs through tiles. */

/* Check every proof for trees of `size`: inclusion of the leaves in
 * `idx` (all of them if NULL) and consistency from the sizes in `olds`
 * (all of 1..size if NULL). */
static void check_size(uint64_t size, const uint64_t *idx, size_t nidx,
		       const uint64_t *olds, size_t nolds)
{
	fetcher f = { .size = size };
	ft_tile_reader *tr = malloc(sizeof *tr);
	ft_hash_reader tiles, direct;
	uint64_t msize = size;
	ft_hash root, root2, ref;
	ft_hash p1[FT_PROOF_MAX_CONSISTENCY], p2[FT_PROOF_MAX_CONSISTENCY];
	size_t n1 = 0, n2 = 0;

	ck_assert_ptr_nonnull(tr);
	ft_tile_reader_init(tr, size, mem_fetch, &f);
	ft_tile_reader_as_hash_reader(tr, &tiles);
	direct.read = mem_read;
	direct.ctx = &msize;

	mth(0, size, &ref);
	REQUIRE_EQ(ft_tree_hash_at(size, &tiles, &root), 0);
	REQUIRE_EQ(ft_tree_hash_at(size, &direct, &root2), 0);
	REQUIRE(ft_hash_equal(&root, &ref));
	REQUIRE(ft_hash_equal(&root2, &ref));

	size_t count = idx != NULL ? nidx : (size_t)size;
	for (size_t i = 0; i < count; i++) {
		uint64_t index = idx != NULL ? idx[i] : i;
		REQUIRE_EQ(ft_proof_inclusion(index, size, &tiles, p1, &n1), 0);
		REQUIRE_EQ(ft_proof_inclusion(index, size, &direct, p2, &n2),
			   0);
		REQUIRE_EQ(n1, n2);
		REQUIRE(memcmp(p1, p2, n1 * sizeof p1[0]) == 0);
		REQUIRE_EQ(ft_proof_verify_inclusion(
				   index, size, mem.lv[0][index].b, FT_HASH_LEN,
				   p1[0].b, n1 * FT_HASH_LEN, ref.b,
				   FT_HASH_LEN),
			   0);
	}
	count = olds != NULL ? nolds : (size_t)size;
	for (size_t i = 0; i < count; i++) {
		uint64_t old = olds != NULL ? olds[i] : i + 1;
		ft_hash oldroot;

		mth(0, old, &oldroot);
		REQUIRE_EQ(ft_proof_consistency(old, size, &tiles, p1, &n1), 0);
		REQUIRE_EQ(ft_proof_consistency(old, size, &direct, p2, &n2),
			   0);
		REQUIRE_EQ(n1, n2);
		REQUIRE(memcmp(p1, p2, n1 * sizeof p1[0]) == 0);
		REQUIRE_EQ(ft_proof_verify_consistency(
				   old, size, oldroot.b, FT_HASH_LEN, ref.b,
				   FT_HASH_LEN, p1[0].b, n1 * FT_HASH_LEN),
			   0);
		/* Also the old root, read through the new tree's tiles. */
		REQUIRE_EQ(ft_tree_hash_at(old, &tiles, &root), 0);
		REQUIRE(ft_hash_equal(&root, &oldroot));
	}
	REQUIRE_EQ(f.unservable, 0);
	free(tr);
}

START_TEST(test_reader_small)
{
	/* _i is the loop variable of tcase_add_loop_test: sizes split into
	 * chunks so that each fork stays well within its timeout. */
	for (uint64_t size = 1 + (uint64_t)_i * 100;
	     size <= (uint64_t)(_i + 1) * 100; size++) {
		check_size(size, NULL, 0, NULL, 0);
	}
}
END_TEST

START_TEST(test_reader_large)
{
	static const uint64_t sizes[] = { 65535, 65536, 65537, 65600, MEM_MAX };
	uint64_t idx[300];
	uint64_t olds[300];

	for (size_t s = 0; s < sizeof sizes / sizeof sizes[0]; s++) {
		uint64_t size = sizes[s];
		size_t n = 0;
		static const uint64_t fixed[] = { 0,	 1,	255,
						  256,	 257,	65279,
						  65280, 65534, 65535 };
		for (size_t i = 0; i < sizeof fixed / sizeof fixed[0]; i++) {
			if (fixed[i] >= size) {
				continue;
			}
			idx[n] = fixed[i];
			olds[n] = fixed[i] + 1;
			n++;
		}
		idx[n] = size - 1;
		olds[n] = size;
		n++;
		while (n < 300) {
			idx[n] = rng() % size;
			olds[n] = 1 + rng() % size;
			n++;
		}
		check_size(size, idx, n, olds, n);
	}
}
END_TEST

START_TEST(test_reader_cache)
{
	fetcher f = { .size = 600 };
	static ft_tile_reader tr;
	ft_hash_reader hr;
	ft_hash root;

	ft_tile_reader_init(&tr, 600, mem_fetch, &f);
	ft_tile_reader_as_hash_reader(&tr, &hr);
	/* 600 = 2 full level-0 tiles + 88, level 1: width 2. The root needs
	 * (9,0) from tile 1/000.p/2 and the rest from 0/002.p/88. */
	ck_assert_int_eq(ft_tree_hash_at(600, &hr, &root), 0);
	unsigned first = f.fetches;
	ck_assert_uint_ge(first, 1);
	ck_assert_uint_le(first, FT_TILE_READER_CACHE);
	ck_assert_int_eq(ft_tree_hash_at(600, &hr, &root), 0);
	ck_assert_uint_eq(f.fetches, first);
	/* Walking every leaf's proof in order keeps the fetches low. */
	f.fetches = 0;
	for (uint64_t i = 0; i < 600; i++) {
		ft_hash p[FT_PROOF_MAX_INCLUSION];
		size_t n = 0;
		ck_assert_int_eq(ft_proof_inclusion(i, 600, &hr, p, &n), 0);
	}
	ck_assert_uint_le(f.fetches, 16);
	ck_assert_int_eq(f.unservable, 0);
}
END_TEST

START_TEST(test_reader_errors)
{
	fetcher f = { .size = 1000 };
	static ft_tile_reader tr;
	ft_hash_reader hr;
	ft_hash p[FT_PROOF_MAX_INCLUSION];
	size_t n = 0;
	ft_hash h;

	ft_tile_reader_init(&tr, 1000, mem_fetch, &f);
	ft_tile_reader_as_hash_reader(&tr, &hr);

	/* A fetch of the wrong length. */
	f.bad_len = 1;
	ck_assert_int_eq(ft_proof_inclusion(3, 1000, &hr, p, &n),
			 FT_ETILE_SIZE);
	ck_assert_int_eq(ft_tree_hash_at(1000, &hr, &h), FT_ETILE_SIZE);
	/* ...is not cached: a good fetch afterwards works. */
	f.bad_len = 0;
	ck_assert_int_eq(ft_proof_inclusion(3, 1000, &hr, p, &n), 0);
	ck_assert_int_eq(ft_proof_verify_inclusion(
				 3, 1000, mem.lv[0][3].b, FT_HASH_LEN, p[0].b,
				 n * FT_HASH_LEN, mem.lv[0][0].b, FT_HASH_LEN),
			 FT_EPROOF_ROOT);
	ft_hash ref;
	mth(0, 1000, &ref);
	ck_assert_int_eq(ft_proof_verify_inclusion(
				 3, 1000, mem.lv[0][3].b, FT_HASH_LEN, p[0].b,
				 n * FT_HASH_LEN, ref.b, FT_HASH_LEN),
			 0);

	/* A fetch error is passed through; a positive one becomes
	 * FT_EREAD. */
	ft_tile_reader_init(&tr, 1000, mem_fetch, &f);
	f.fail = FT_ENOMEM;
	ck_assert_int_eq(ft_proof_inclusion(900, 1000, &hr, p, &n), FT_ENOMEM);
	f.fail = 7;
	ck_assert_int_eq(ft_proof_inclusion(900, 1000, &hr, p, &n), FT_EREAD);
	f.fail = 0;

	/* Nodes that are not complete at the reader's size. */
	ft_node_id ids[FT_TILE_READER_CACHE];
	ft_hash out[FT_TILE_READER_CACHE];
	ids[0] = (ft_node_id){ .index = 1000, .level = 0 };
	ck_assert_int_eq(hr.read(hr.ctx, ids, 1, out), FT_EREAD);
	ids[0] = (ft_node_id){ .index = 1, .level = 9 };
	ck_assert_int_eq(hr.read(hr.ctx, ids, 1, out), FT_EREAD);
	ids[0] = (ft_node_id){ .index = 0, .level = 10 };
	ck_assert_int_eq(hr.read(hr.ctx, ids, 1, out), FT_EREAD);
	ids[0] = (ft_node_id){ .index = 0, .level = 64 };
	ck_assert_int_eq(hr.read(hr.ctx, ids, 1, out), FT_EREAD);
	ids[0] = (ft_node_id){ .index = 0, .level = 255 };
	ck_assert_int_eq(hr.read(hr.ctx, ids, 1, out), FT_EREAD);
	/* And ones that are, including the last complete ones. */
	ids[0] = (ft_node_id){ .index = 999, .level = 0 };
	ids[1] = (ft_node_id){ .index = 0, .level = 9 };
	ids[2] = (ft_node_id){ .index = 61, .level = 4 };
	ck_assert_int_eq(hr.read(hr.ctx, ids, 3, out), 0);
	ck_assert(ft_hash_equal(&out[0], &mem.lv[0][999]));
	ck_assert(ft_hash_equal(&out[1], &mem.lv[9][0]));
	ck_assert(ft_hash_equal(&out[2], &mem.lv[4][61]));
	ck_assert_int_eq(f.unservable, 0);

	/* A proof beyond the tree of the reader. */
	ck_assert_int_eq(ft_proof_inclusion(3, 1001, &hr, p, &n), FT_EREAD);
	ck_assert_int_eq(ft_tree_hash_at(1001, &hr, &h), FT_EREAD);

	/* A failed fetch into a slot that held a tile evicts that tile: its
	 * buffer now holds other data. */
	fetcher g = { .size = 70000 };
	ft_tile_reader_init(&tr, 70000, mem_fetch, &g);
	for (unsigned i = 0; i < FT_TILE_READER_CACHE; i++) {
		ids[0] = (ft_node_id){ .index = i * 256, .level = 0 };
		ck_assert_int_eq(hr.read(hr.ctx, ids, 1, out), 0);
	}
	ck_assert_uint_eq(g.fetches, FT_TILE_READER_CACHE);
	g.bad_len = 1;
	ids[0] = (ft_node_id){ .index = 5000, .level = 0 };
	ck_assert_int_eq(hr.read(hr.ctx, ids, 1, out), FT_ETILE_SIZE);
	g.bad_len = 0;
	for (unsigned i = 0; i < FT_TILE_READER_CACHE; i++) {
		ids[i] = (ft_node_id){ .index = i * 256 + 1, .level = 0 };
	}
	ck_assert_int_eq(hr.read(hr.ctx, ids, 3, out), 0);
	for (unsigned i = 0; i < 3; i++) {
		ck_assert(ft_hash_equal(&out[i], &mem.lv[0][i * 256 + 1]));
	}
	/* Tile 0 was the least recently used: fetched again. */
	ck_assert_uint_eq(g.fetches, FT_TILE_READER_CACHE + 2);
	ck_assert_int_eq(g.unservable, 0);

	/* The empty tree reads nothing. */
	ft_tile_reader_init(&tr, 0, mem_fetch, &f);
	f.fetches = 0;
	ck_assert_int_eq(ft_tree_hash_at(0, &hr, &h), 0);
	ck_assert_uint_eq(f.fetches, 0);
	ids[0] = (ft_node_id){ .index = 0, .level = 0 };
	ck_assert_int_eq(hr.read(hr.ctx, ids, 1, out), FT_EREAD);
}
END_TEST

/* ---- Entry bundles. */

START_TEST(test_bundle_round_trip)
{
	static uint8_t buf[FT_TILE_WIDTH * 80];
	size_t len = 0;
	uint8_t e[64];
	size_t el = 0;

	/* A full bundle of entries 256..511: they hash to level-0 tile 1. */
	for (uint64_t i = 256; i < 512; i++) {
		entry_bytes(i, e, &el);
		ck_assert_int_eq(ft_bundle_append(buf, sizeof buf, &len, e, el),
				 0);
	}
	ck_assert_int_eq(ft_bundle_check(buf, len, 256), 0);
	ft_bundle_iter it;
	const uint8_t *ent = NULL;
	size_t n = 0;
	uint64_t i = 256;
	int rc;
	ft_bundle_iter_init(&it, buf, len);
	while ((rc = ft_bundle_next(&it, &ent, &n)) == 1) {
		ft_hash h;
		entry_bytes(i, e, &el);
		ck_assert_uint_eq(n, el);
		ck_assert(n == 0 || memcmp(ent, e, n) == 0);
		ft_merkle_leaf_hash(ent, n, &h);
		ck_assert(ft_hash_equal(&h, &mem.lv[0][i]));
		i++;
	}
	ck_assert_int_eq(rc, 0);
	ck_assert_uint_eq(i, 512);
	/* The end stays the end. */
	ck_assert_int_eq(ft_bundle_next(&it, &ent, &n), 0);

	/* Wrong counts. */
	ck_assert_int_eq(ft_bundle_check(buf, len, 255), FT_EBUNDLE);
	ck_assert_int_eq(ft_bundle_check(buf, len, 257), FT_EBUNDLE);
	ck_assert_int_eq(ft_bundle_check(buf, len, 0), FT_EBUNDLE);
	ck_assert_int_eq(ft_bundle_check(buf, 0, 0), 0);
	ck_assert_int_eq(ft_bundle_check(NULL, 0, 0), 0);
	ck_assert_int_eq(ft_bundle_check(NULL, 0, 1), FT_EBUNDLE);

	/* Every strict prefix is refused, and so is a trailing byte. */
	for (size_t k = 0; k < len; k++) {
		uint8_t *t = malloc(k + 1);
		ck_assert_ptr_nonnull(t);
		memcpy(t, buf, k);
		REQUIRE_EQ(ft_bundle_check(t, k, 256), FT_EBUNDLE);
		free(t);
	}
	buf[len] = 0;
	ck_assert_int_eq(ft_bundle_check(buf, len + 1, 256), FT_EBUNDLE);
	buf[len + 1] = 0;
	ck_assert_int_eq(ft_bundle_check(buf, len + 2, 256), FT_EBUNDLE);
	/* ...though two zero bytes are one more, empty, entry. */
	ck_assert_int_eq(ft_bundle_check(buf, len + 2, 257), 0);
}
END_TEST

START_TEST(test_bundle_limits)
{
	static uint8_t big[FT_ENTRY_MAX + 1];
	static uint8_t buf[2 * (FT_ENTRY_MAX + 2) + 16];
	size_t len = 0;
	const uint8_t *ent = NULL;
	size_t n = 0;
	ft_bundle_iter it;

	for (size_t i = 0; i < sizeof big; i++) {
		big[i] = (uint8_t)(i * 7);
	}
	/* 65535 bytes is the largest entry. */
	ck_assert_int_eq(
		ft_bundle_append(buf, sizeof buf, &len, big, FT_ENTRY_MAX), 0);
	ck_assert_uint_eq(len, FT_ENTRY_MAX + 2);
	ck_assert_uint_eq(buf[0], 0xff);
	ck_assert_uint_eq(buf[1], 0xff);
	ck_assert_int_eq(
		ft_bundle_append(buf, sizeof buf, &len, big, FT_ENTRY_MAX + 1),
		FT_ETOOBIG);
	ck_assert_uint_eq(len, FT_ENTRY_MAX + 2);
	ck_assert_int_eq(ft_bundle_append(buf, sizeof buf, &len, big, 0), 0);
	ck_assert_int_eq(ft_bundle_append(buf, sizeof buf, &len, NULL, 0), 0);
	ck_assert_int_eq(ft_bundle_append(buf, sizeof buf, &len, big, 1), 0);
	ck_assert_int_eq(ft_bundle_check(buf, len, 4), 0);
	ft_bundle_iter_init(&it, buf, len);
	ck_assert_int_eq(ft_bundle_next(&it, &ent, &n), 1);
	ck_assert_uint_eq(n, FT_ENTRY_MAX);
	ck_assert(ent == buf + 2);
	ck_assert(memcmp(ent, big, n) == 0);
	ck_assert_int_eq(ft_bundle_next(&it, &ent, &n), 1);
	ck_assert_uint_eq(n, 0);
	ck_assert_int_eq(ft_bundle_next(&it, &ent, &n), 1);
	ck_assert_uint_eq(n, 0);
	ck_assert_int_eq(ft_bundle_next(&it, &ent, &n), 1);
	ck_assert_uint_eq(n, 1);
	ck_assert_uint_eq(ent[0], big[0]);
	ck_assert_int_eq(ft_bundle_next(&it, &ent, &n), 0);

	/* Buffer too small: by one byte of the entry, or of the prefix. */
	uint8_t small[8];
	size_t sl = 0;
	ck_assert_int_eq(ft_bundle_append(small, sizeof small, &sl, big, 7),
			 FT_EBUFSIZE);
	ck_assert_uint_eq(sl, 0);
	ck_assert_int_eq(ft_bundle_append(small, sizeof small, &sl, big, 6), 0);
	ck_assert_uint_eq(sl, 8);
	ck_assert_int_eq(ft_bundle_append(small, sizeof small, &sl, big, 0),
			 FT_EBUFSIZE);
	sl = 7;
	ck_assert_int_eq(ft_bundle_append(small, sizeof small, &sl, big, 0),
			 FT_EBUFSIZE);
	ck_assert_uint_eq(sl, 7);
	sl = 9;
	ck_assert_int_eq(ft_bundle_append(small, sizeof small, &sl, big, 0),
			 FT_EINVAL);
	ck_assert_uint_eq(sl, 9);
	sl = 0;
	ck_assert_int_eq(ft_bundle_append(small, sizeof small, &sl, NULL, 1),
			 FT_EINVAL);
	ck_assert_int_eq(
		ft_bundle_append(small, sizeof small, &sl, big, SIZE_MAX),
		FT_ETOOBIG);
}
END_TEST

START_TEST(test_bundle_malformed)
{
	const uint8_t *ent = NULL;
	size_t n = 0;
	ft_bundle_iter it;

	/* Truncated length prefix. */
	static const uint8_t one[] = { 0x00 };
	ft_bundle_iter_init(&it, one, sizeof one);
	ck_assert_int_eq(ft_bundle_next(&it, &ent, &n), FT_EBUNDLE);
	/* The iterator does not move past an error. */
	ck_assert_int_eq(ft_bundle_next(&it, &ent, &n), FT_EBUNDLE);
	ck_assert_int_eq(ft_bundle_check(one, sizeof one, 1), FT_EBUNDLE);
	ck_assert_int_eq(ft_bundle_check(one, sizeof one, 0), FT_EBUNDLE);

	/* Truncated entry. */
	static const uint8_t trunc[] = { 0x00, 0x03, 'a', 'b' };
	ft_bundle_iter_init(&it, trunc, sizeof trunc);
	ck_assert_int_eq(ft_bundle_next(&it, &ent, &n), FT_EBUNDLE);
	ck_assert_int_eq(ft_bundle_check(trunc, sizeof trunc, 1), FT_EBUNDLE);
	static const uint8_t huge[] = { 0xff, 0xff, 'a' };
	ck_assert_int_eq(ft_bundle_check(huge, sizeof huge, 1), FT_EBUNDLE);

	/* A good entry, then a truncated one. */
	static const uint8_t two[] = { 0x00, 0x01, 'a', 0x00, 0x02, 'b' };
	ft_bundle_iter_init(&it, two, sizeof two);
	ck_assert_int_eq(ft_bundle_next(&it, &ent, &n), 1);
	ck_assert_uint_eq(n, 1);
	ck_assert_uint_eq(ent[0], 'a');
	ck_assert_int_eq(ft_bundle_next(&it, &ent, &n), FT_EBUNDLE);
	ck_assert_int_eq(ft_bundle_check(two, sizeof two, 2), FT_EBUNDLE);
	ck_assert_int_eq(ft_bundle_check(two, sizeof two, 1), FT_EBUNDLE);

	/* Trailing bytes after the counted entries. */
	static const uint8_t trail[] = { 0x00, 0x01, 'a', 'x' };
	ck_assert_int_eq(ft_bundle_check(trail, sizeof trail, 1), FT_EBUNDLE);
	ck_assert_int_eq(ft_bundle_check(trail, 3, 1), 0);
	ck_assert_int_eq(ft_bundle_check(trail, 3, 2), FT_EBUNDLE);

	/* Empty entries are legal. */
	static const uint8_t empties[] = { 0, 0, 0, 0, 0, 0 };
	ck_assert_int_eq(ft_bundle_check(empties, sizeof empties, 3), 0);
	ck_assert_int_eq(ft_bundle_check(empties, sizeof empties, 2),
			 FT_EBUNDLE);
}
END_TEST

static Suite *tile_suite(void)
{
	Suite *s = suite_create("tile");
	TCase *tc = tcase_create("paths");

	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, test_path_known);
	tcase_add_test(tc, test_path_vectors);
	tcase_add_test(tc, test_path_buffers);
	tcase_add_test(tc, test_path_round_trip);
	tcase_add_test(tc, test_path_rejects);
	suite_add_tcase(s, tc);

	tc = tcase_create("math");
	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, test_counts);
	tcase_add_test(tc, test_tile_at);
	tcase_add_test(tc, test_foreach_new);
	suite_add_tcase(s, tc);

	tc = tcase_create("reader");
	tcase_set_timeout(tc, 120);
	tcase_add_unchecked_fixture(tc, mem_build, mem_free);
	tcase_add_test(tc, test_tile_hash);
	tcase_add_loop_test(tc, test_reader_small, 0, 6);
	tcase_add_test(tc, test_reader_large);
	tcase_add_test(tc, test_reader_cache);
	tcase_add_test(tc, test_reader_errors);
	suite_add_tcase(s, tc);

	tc = tcase_create("bundles");
	tcase_set_timeout(tc, 60);
	tcase_add_unchecked_fixture(tc, mem_build, mem_free);
	tcase_add_test(tc, test_bundle_round_trip);
	tcase_add_test(tc, test_bundle_limits);
	tcase_add_test(tc, test_bundle_malformed);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	return tu_run_suite(tile_suite());
}
