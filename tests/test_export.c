/*
 * tests/test_export.c - static export of tiles, entry bundles and the
 * checkpoint (logd/export.c) against a real store.
 *
 * After every batch the export directory must hold exactly the files a
 * C2SP tlog-tiles reader may ask for: every tile and bundle of the
 * current size (byte for byte what the store holds), the partial tiles of
 * earlier checkpoints whose full tile does not exist yet, the checkpoint,
 * and nothing else (no temp files, no stale partials).
 */
#define _GNU_SOURCE /* nftw's FTW_PHYS */
#include <errno.h>
#include <ftw.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <ftlog/note.h>
#include <ftlog/tile.h>

#include "logd/export.h"
#include "logd/store.h"
#include "tests/testutil.h"

#define ORIGIN "example.com/export-test"
#define MAP_SIZE ((uint64_t)1 << 30)

/* ---- Signing checkpoints. */

static int sign_cb(void *ctx, uint64_t size, const ft_hash *root,
		   uint8_t *buf, size_t cap, size_t *len)
{
	const ft_skey *key = ctx;
	ft_checkpoint cp;
	uint8_t text[512];
	size_t tlen;
	int rc;

	memset(&cp, 0, sizeof cp);
	memcpy(cp.origin, ORIGIN, sizeof ORIGIN);
	cp.origin_len = sizeof ORIGIN - 1;
	cp.size = size;
	cp.root = *root;
	if ((rc = ft_checkpoint_format(&cp, text, sizeof text, &tlen)) != 0) {
		return rc;
	}
	return ft_note_sign(text, tlen, key, 1, 0, buf, cap, len);
}

/* ---- Test fixture: a store, a reader and an export directory. */

typedef struct fx {
	char *tmp;
	char store_dir[1024];
	char tiles[1024];
	ft_store *s;
	ft_store_reader r;
	ft_export *e;
	ft_skey key;
	uint64_t size;
	/* Sizes for which a checkpoint was exported, in order. */
	uint64_t ckpt_sizes[64];
	size_t nckpt;
} fx;

static fx F;

/* Entry i: distinct, of varied length; entry 300 is the largest one. */
static size_t entry_of(uint64_t i, uint8_t *buf, size_t cap)
{
	size_t len = i == 300 ? FT_ENTRY_MAX : 1 + (size_t)(i * 7 % 61);
	int n = snprintf((char *)buf, cap, "e%" PRIu64 ";", i);

	ck_assert(n > 0 && (size_t)n < cap && len <= cap);
	if (len < (size_t)n) {
		len = (size_t)n;
	}
	for (size_t k = (size_t)n; k < len; k++) {
		buf[k] = (uint8_t)(i * 31 + k);
	}
	return len;
}

static void setup(void)
{
	static const uint8_t seed[32] = {7, 7, 7};

	memset(&F, 0, sizeof F);
	/* Directories get 0755 minus the umask; files exactly 0644. */
	(void)umask(022);
	F.tmp = tu_tmpdir();
	ck_assert_ptr_nonnull(F.tmp);
	ck_assert(snprintf(F.store_dir, sizeof F.store_dir, "%s/store",
			   F.tmp) > 0);
	ck_assert(snprintf(F.tiles, sizeof F.tiles, "%s/pub/tiles/", F.tmp) >
		  0);
	ck_assert_int_eq(mkdir(F.store_dir, 0700), 0);
	ck_assert_int_eq(ft_init(), 0);
	ck_assert_int_eq(ft_key_from_seed(ORIGIN, sizeof ORIGIN - 1,
					  FT_KEY_ED25519, seed, &F.key),
			 0);
	ck_assert_int_eq(ft_store_create(F.store_dir, ORIGIN,
					 sizeof ORIGIN - 1, MAP_SIZE),
			 0);
	ck_assert_int_eq(ft_store_open(F.store_dir, MAP_SIZE, &F.s), 0);
	ck_assert_int_eq(ft_store_reader_init(F.s, &F.r), 0);
	/* The parent "pub" is missing too: open makes only DIR itself. */
	char pub[1100];
	ck_assert(snprintf(pub, sizeof pub, "%s/pub", F.tmp) > 0);
	ck_assert_int_eq(mkdir(pub, 0755), 0);
	ck_assert_int_eq(ft_export_open(F.tiles, &F.e), 0);
}

static void teardown(void)
{
	ft_export_close(F.e);
	ft_store_reader_free(&F.r);
	ft_store_close(F.s);
	ft_skey_wipe(&F.key);
	tu_rmtree(F.tmp);
	free(F.tmp);
}

/* Append entries [F.size, F.size + n) in one batch. */
static void append(uint64_t n)
{
	ft_store_item *items = calloc(n, sizeof *items);
	uint8_t **bufs = calloc(n, sizeof *bufs);
	uint64_t new_size = 0;

	ck_assert(items != NULL && bufs != NULL);
	for (uint64_t i = 0; i < n; i++) {
		bufs[i] = malloc(FT_ENTRY_MAX);
		ck_assert_ptr_nonnull(bufs[i]);
		items[i].data = bufs[i];
		items[i].len = entry_of(F.size + i, bufs[i], FT_ENTRY_MAX);
	}
	ck_assert_int_eq(ft_store_append(F.s, items, n, sign_cb, &F.key,
					 &new_size),
			 0);
	ck_assert_uint_eq(new_size, F.size + n);
	F.size = new_size;
	for (uint64_t i = 0; i < n; i++) {
		free(bufs[i]);
	}
	free(bufs);
	free(items);
}

static int export_from(uint64_t old)
{
	ck_assert_int_eq(ft_store_read_begin(&F.r), 0);
	int rc = ft_export_update(F.e, &F.r, old);
	ft_store_read_end(&F.r);
	return rc;
}

static int catch_up(void)
{
	ck_assert_int_eq(ft_store_read_begin(&F.r), 0);
	int rc = ft_export_catch_up(F.e, &F.r);
	ft_store_read_end(&F.r);
	return rc;
}

/* Record that the checkpoint of the current size was exported. */
static void exported_now(void)
{
	if (F.nckpt > 0 && F.ckpt_sizes[F.nckpt - 1] == F.size) {
		return;
	}
	ck_assert_uint_lt(F.nckpt, 64);
	F.ckpt_sizes[F.nckpt++] = F.size;
}

/* ---- Checking the directory. */

static char *tile_file(const ft_tile *t)
{
	char rel[FT_TILE_PATH_MAX];
	size_t n;
	char *path = NULL;

	ck_assert_int_eq(ft_tile_path(t, rel, sizeof rel, &n), 0);
	ck_assert_int_ge(asprintf(&path, "%s%s", F.tiles, rel), 0);
	return path;
}

/* What tile t must contain, independently of export.c: the stored
 * hashes' prefix, or the bundle encoded by hand. */
static uint8_t *expected_tile(const ft_tile *t, size_t *len)
{
	const uint8_t *d;
	size_t n;
	uint8_t *out;

	if (t->level >= 0) {
		ck_assert_int_eq(ft_store_get_tile(&F.r, (unsigned)t->level,
						   t->index, &d, &n),
				 0);
		*len = (size_t)t->width * FT_HASH_LEN;
		ck_assert_uint_ge(n, *len);
		out = malloc(*len);
		ck_assert_ptr_nonnull(out);
		memcpy(out, d, *len);
		return out;
	}
	out = malloc((size_t)t->width * (2 + FT_ENTRY_MAX));
	ck_assert_ptr_nonnull(out);
	*len = 0;
	for (unsigned i = 0; i < t->width; i++) {
		uint8_t want[FT_ENTRY_MAX];
		uint64_t idx = t->index * FT_TILE_WIDTH + i;
		size_t wl = entry_of(idx, want, sizeof want);
		ck_assert_int_eq(ft_store_get_entry(&F.r, idx, &d, &n), 0);
		ck_assert_uint_eq(n, wl);
		ck_assert_int_eq(memcmp(d, want, wl), 0);
		out[(*len)++] = (uint8_t)(n >> 8);
		out[(*len)++] = (uint8_t)n;
		memcpy(out + *len, d, n);
		*len += n;
	}
	return out;
}

static void check_file(const char *path, const uint8_t *want, size_t wlen)
{
	struct stat st;
	size_t len;
	uint8_t *got = tu_read_file(path, &len);

	ck_assert_msg(got != NULL, "missing %s", path);
	ck_assert_msg(len == wlen && memcmp(got, want, len) == 0,
		      "%s: %zu bytes differ from the store's %zu", path, len,
		      wlen);
	free(got);
	ck_assert_int_eq(stat(path, &st), 0);
	ck_assert_uint_eq(st.st_mode & 07777, 0644);
}

/* The files found under the tiles dir, and which of them are expected
 * (one file may be expected twice: the same partial for two sizes). */
static char **g_found;
static int *g_matched;
static size_t g_nfound, g_capfound;

static int collect(const char *path, const struct stat *st, int flag,
		   struct FTW *ftw)
{
	(void)ftw;
	if (flag == FTW_D || flag == FTW_DP) {
		ck_assert_uint_eq(st->st_mode & 07777, 0755);
		return 0;
	}
	ck_assert_msg(flag == FTW_F, "odd entry %s", path);
	ck_assert_msg(strstr(path, ".tmp-") == NULL, "temp file left: %s",
		      path);
	if (g_nfound == g_capfound) {
		g_capfound = g_capfound ? 2 * g_capfound : 256;
		g_found = realloc(g_found, g_capfound * sizeof *g_found);
		ck_assert_ptr_nonnull(g_found);
		g_matched = realloc(g_matched, g_capfound * sizeof *g_matched);
		ck_assert_ptr_nonnull(g_matched);
	}
	g_matched[g_nfound] = 0;
	g_found[g_nfound] = strdup(path);
	ck_assert_ptr_nonnull(g_found[g_nfound]);
	g_nfound++;
	return 0;
}

/* Mark path as expected: it must be in g_found. */
static void expect_found(const char *path)
{
	for (size_t i = 0; i < g_nfound; i++) {
		if (strcmp(g_found[i], path) == 0) {
			g_matched[i] = 1;
			return;
		}
	}
	ck_abort_msg("expected file not found: %s", path);
}

/* Check tile t (existing at the current size) against the store. */
static void check_tile(const ft_tile *t)
{
	size_t len;
	char *path = tile_file(t);
	uint8_t *want = expected_tile(t, &len);

	check_file(path, want, len);
	expect_found(path);
	free(want);
	free(path);
}

static void check_level(int level, unsigned hl)
{
	uint64_t full = ft_tile_full_count(F.size, hl);
	unsigned pw = ft_tile_partial_width(F.size, hl);
	ft_tile t;

	for (uint64_t i = 0; i < full; i++) {
		t.level = level;
		t.index = i;
		t.width = FT_TILE_WIDTH;
		check_tile(&t);
	}
	if (pw != 0) {
		t.level = level;
		t.index = full;
		t.width = pw;
		check_tile(&t);
	}
}

/*
 * The whole directory: exactly the files of the current size, plus the
 * partials of earlier exported sizes whose full tile is not there yet,
 * plus the checkpoint.
 */
static void check_dir(void)
{
	ft_store_state st;
	char *path = NULL;

	g_nfound = 0;
	ck_assert_int_eq(nftw(F.tiles, collect, 16, FTW_PHYS), 0);
	ck_assert_int_eq(ft_store_read_begin(&F.r), 0);
	ck_assert_int_eq(ft_store_get_state(&F.r, &st), 0);
	ck_assert_uint_eq(st.size, F.size);

	unsigned levels = ft_tile_levels(F.size);
	for (unsigned l = 0; l < levels; l++) {
		check_level((int)l, l);
	}
	check_level(FT_TILE_ENTRIES, 0);

	/* Older partials: kept until their full tile exists. */
	for (size_t k = 0; k < F.nckpt; k++) {
		uint64_t old = F.ckpt_sizes[k];
		for (unsigned l = 0; l <= ft_tile_levels(old); l++) {
			for (int bundle = 0; bundle < 2; bundle++) {
				if (bundle && l != 0) {
					continue;
				}
				unsigned pw = ft_tile_partial_width(old, l);
				if (pw == 0) {
					continue;
				}
				ft_tile t = {bundle ? FT_TILE_ENTRIES : (int)l,
					     ft_tile_full_count(old, l), pw};
				if (ft_tile_full_count(F.size, l) > t.index ||
				    ft_tile_partial_width(F.size, l) == pw) {
					continue; /* replaced, or current */
				}
				char *p = tile_file(&t);
				size_t len;
				uint8_t *want = expected_tile(&t, &len);
				check_file(p, want, len);
				expect_found(p);
				free(want);
				free(p);
			}
		}
	}

	ck_assert_int_ge(asprintf(&path, "%scheckpoint", F.tiles), 0);
	if (st.checkpoint != NULL) {
		check_file(path, st.checkpoint, st.checkpoint_len);
		expect_found(path);
	}
	free(path);
	ft_store_read_end(&F.r);

	for (size_t i = 0; i < g_nfound; i++) {
		ck_assert_msg(g_matched[i], "unexpected file %s", g_found[i]);
		free(g_found[i]);
	}
	free(g_found);
	free(g_matched);
	g_found = NULL;
	g_matched = NULL;
	g_capfound = 0;
	ck_assert_uint_eq(ft_export_exported_size(F.e), F.size);
}

/* Inode of a file (a rewrite by rename gives a new one). */
static ino_t inode_of(const char *rel)
{
	char path[1200];
	struct stat st;

	ck_assert(snprintf(path, sizeof path, "%s%s", F.tiles, rel) > 0);
	ck_assert_msg(stat(path, &st) == 0, "%s: %s", path, strerror(errno));
	return st.st_ino;
}

static int exists(const char *rel)
{
	char path[1200];
	struct stat st;

	ck_assert(snprintf(path, sizeof path, "%s%s", F.tiles, rel) > 0);
	return stat(path, &st) == 0;
}

/* ---- Tests. */

START_TEST(test_export_batches)
{
	/* Sizes cross a level-0 tile boundary exactly and from inside,
	 * fill several tiles at once, and finally a whole level-1 tile. */
	static const uint64_t batches[] = {1,   2,  250, 3,    300, 1,
					   511, 10, 1,   65000, 1,  200};

	/* A new store has no checkpoint: nothing to export yet. */
	ck_assert_int_eq(export_from(0), 0);
	check_dir();
	ck_assert_uint_eq(ft_export_exported_size(F.e), 0);

	for (size_t b = 0; b < sizeof batches / sizeof batches[0]; b++) {
		uint64_t old = F.size;
		append(batches[b]);
		ck_assert_int_eq(export_from(old), 0);
		exported_now();
		check_dir();

		if (F.size == 253) {
			/* A temp file a crash left beside the partials goes
			 * with them when the tile is full. */
			char tmp[1200];
			ck_assert(snprintf(tmp, sizeof tmp,
					   "%stile/0/000.p/.tmp-crash1",
					   F.tiles) > 0);
			ck_assert_int_eq(tu_write_file(tmp, "x", 1), 0);
		}
		if (F.size == 3) {
			ck_assert(exists("tile/0/000.p/1"));
			ck_assert(exists("tile/0/000.p/3"));
			ck_assert(exists("tile/entries/000.p/1"));
		}
		if (F.size == 256) {
			/* The full tile replaced its partials. */
			ck_assert(exists("tile/0/000"));
			ck_assert(!exists("tile/0/000.p"));
			ck_assert(!exists("tile/entries/000.p"));
			ck_assert(exists("tile/1/000.p/1"));
		}
	}
	ck_assert_uint_eq(F.size, 66280);
	ck_assert(exists("tile/1/000"));
	ck_assert(!exists("tile/1/000.p"));
	ck_assert(exists("tile/2/000.p/1"));

	/* Exporting the same range again changes nothing. */
	ino_t full = inode_of("tile/0/000");
	ino_t bundle = inode_of("tile/entries/001");
	ck_assert_int_eq(export_from(F.size - 200), 0);
	check_dir();
	ck_assert_uint_eq(inode_of("tile/0/000"), full);
	ck_assert_uint_eq(inode_of("tile/entries/001"), bundle);
}
END_TEST

START_TEST(test_export_catch_up)
{
	char path[1200];

	append(600);
	ck_assert_int_eq(export_from(0), 0);
	exported_now();
	check_dir();
	ino_t full = inode_of("tile/0/001");
	ino_t ebundle = inode_of("tile/entries/000");

	/* The server died after committing two more batches. */
	append(10);
	append(100);
	ck_assert_uint_eq(ft_export_exported_size(F.e), 600);
	ck_assert_int_eq(catch_up(), 0);
	exported_now();
	check_dir();

	/* A deleted checkpoint and a deleted tile: everything is
	 * re-exported, but full tiles already there are not rewritten. */
	ck_assert(snprintf(path, sizeof path, "%scheckpoint", F.tiles) > 0);
	ck_assert_int_eq(unlink(path), 0);
	ck_assert(snprintf(path, sizeof path, "%stile/0/000", F.tiles) > 0);
	ck_assert_int_eq(unlink(path), 0);
	ck_assert_uint_eq(ft_export_exported_size(F.e), 0);
	ck_assert_int_eq(catch_up(), 0);
	check_dir();
	ck_assert_uint_eq(inode_of("tile/0/001"), full);
	ck_assert_uint_eq(inode_of("tile/entries/000"), ebundle);

	/* A checkpoint that does not parse counts as 0. */
	static const char *const junk[] = {
		"", "no newline", ORIGIN "\n", ORIGIN "\nabc\n",
		ORIGIN "\n0710\n", ORIGIN "\n-1\n", ORIGIN "\n710",
		ORIGIN "\n 710\n", ORIGIN "\n99999999999999999999\n",
	};
	ck_assert(snprintf(path, sizeof path, "%scheckpoint", F.tiles) > 0);
	for (size_t i = 0; i < sizeof junk / sizeof junk[0]; i++) {
		ck_assert_int_eq(tu_write_file(path, junk[i], strlen(junk[i])),
				 0);
		ck_assert_msg(ft_export_exported_size(F.e) == 0, "\"%s\"",
			      junk[i]);
	}
	ck_assert_int_eq(tu_write_file(path, ORIGIN "\n700\nroot\n", 
				       sizeof ORIGIN + 9),
			 0);
	ck_assert_uint_eq(ft_export_exported_size(F.e), 700);
	ck_assert_int_eq(chmod(path, 0644), 0);
	ck_assert_int_eq(catch_up(), 0);
	check_dir();

	/* A directory ahead of the store is not rolled back. */
	ck_assert_int_eq(
		tu_write_file(path, ORIGIN "\n9999\nroot\n", sizeof ORIGIN + 10),
		0);
	ck_assert_int_eq(catch_up(), FT_ECONFIG);
	ck_assert_int_eq(export_from(9999), FT_EINVAL);
	size_t len;
	char *text = (char *)tu_read_file(path, &len);
	ck_assert_ptr_nonnull(text);
	ck_assert_ptr_nonnull(strstr(text, "\n9999\n"));
	free(text);
}
END_TEST

START_TEST(test_export_open_errors)
{
	ft_export *e = NULL;
	char path[1200];

	ck_assert_int_eq(ft_export_open(NULL, &e), FT_EINVAL);
	ck_assert_int_eq(ft_export_open("", &e), FT_EINVAL);
	ck_assert(snprintf(path, sizeof path, "%sfile", F.tiles) > 0);
	ck_assert_int_eq(tu_write_file(path, "x", 1), 0);
	ck_assert_int_eq(ft_export_open(path, &e), FT_EINVAL);
	ck_assert_ptr_null(e);
	ck_assert(snprintf(path, sizeof path, "%s/no/such/parent", F.tmp) > 0);
	ck_assert_int_eq(ft_export_open(path, &e), FT_EIO);
}
END_TEST

static Suite *export_suite(void)
{
	Suite *s = suite_create("export");
	TCase *tc = tcase_create("export");

	tcase_set_timeout(tc, 300);
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, test_export_batches);
	tcase_add_test(tc, test_export_catch_up);
	tcase_add_test(tc, test_export_open_errors);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	return tu_run_suite(export_suite());
}
