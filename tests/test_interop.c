/*
 * tests/test_interop.c - interoperability of libftmerkle with the Go
 * reference (golang.org/x/mod/sumdb/note and sumdb/tlog), both directions.
 *
 * The Go side is tests/interop/main.go, built by `make check` and found
 * through $FTLOG_GO_INTEROP. Both sides exchange a directory whose layout
 * is documented at the top of main.go:
 *
 *   C -> Go: libftmerkle writes keys, entries, signed checkpoints, proofs,
 *            tiles, a cosigned checkpoint, multi-signature notes and
 *            tlog-proofs; `ftlog-interop-go verify DIR` checks each with
 *            Go's note/tlog packages and prints "ok <what>" per check. We
 *            demand exit status 0 and an ok line for everything written.
 *   Go -> C: `ftlog-interop-go generate DIR` writes the same artifacts made
 *            by Go; libftmerkle must verify every one, produce the same
 *            proofs, tiles and signatures byte for byte, and reject
 *            tampered copies.
 *   Differential: `parse DIR` gives Go's verdict on edge-case key names,
 *            key strings, tile paths and signed notes; libftmerkle must
 *            agree except where ftlog is documented to be stricter (or
 *            supports cosignature keys, which Go's note package does not).
 *            FTLOG_INTEROP_VERBOSE=1 prints every verdict pair.
 *   Huge trees: `synthetic DIR` generates proofs and tree hashes over
 *            synthetic stored hashes for sizes up to 2^62, where C's and
 *            Go's node index math must agree.
 *   Known answer: Go's note.Sign and ft_note_sign on the PeterNeumann key
 *            of ../shared/vectors/notes.txt give the documented line.
 *
 * A missing or broken Go helper is a test failure, never a skip.
 */
#include <errno.h>
#include <fcntl.h>
#include <dirent.h>
#include <inttypes.h>
#include <signal.h>
#include <spawn.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <ftlog/common.h>
#include <ftlog/merkle.h>
#include <ftlog/note.h>
#include <ftlog/tile.h>
#include <ftlog/tlogproof.h>

#include <nettle/sha2.h>
#include <sodium.h>

#include "tests/testutil.h"

extern char **environ;

#define EM_DASH "\xe2\x80\x94"

/* ---- Small helpers. ---------------------------------------------------- */

/* A growable byte buffer. */
struct buf {
	uint8_t *p;
	size_t len, cap;
};

/* Room for n more bytes plus a NUL. */
static void buf_reserve(struct buf *b, size_t n)
{
	if (b->cap - b->len < n + 1) {
		size_t ncap = b->cap ? b->cap : 4096;
		while (ncap - b->len < n + 1) {
			ncap *= 2;
		}
		uint8_t *np = realloc(b->p, ncap);
		ck_assert_ptr_nonnull(np);
		b->p = np;
		b->cap = ncap;
	}
}

static void buf_add(struct buf *b, const void *data, size_t n)
{
	buf_reserve(b, n);
	if (n > 0) {
		memcpy(b->p + b->len, data, n);
	}
	b->len += n;
	b->p[b->len] = 0;
}

__attribute__((format(printf, 2, 3))) static void buf_printf(struct buf *b,
							     const char *fmt,
							     ...)
{
	va_list ap;

	va_start(ap, fmt);
	int n = vsnprintf(NULL, 0, fmt, ap);
	va_end(ap);
	ck_assert_int_ge(n, 0);
	char *s = malloc((size_t)n + 1);
	ck_assert_ptr_nonnull(s);
	va_start(ap, fmt);
	(void)vsnprintf(s, (size_t)n + 1, fmt, ap);
	va_end(ap);
	buf_add(b, s, (size_t)n);
	free(s);
}

static void buf_free(struct buf *b)
{
	free(b->p);
	memset(b, 0, sizeof *b);
}

/* A list of strings (the "ok" lines we expect from Go). */
struct strlist {
	char **v;
	size_t n, cap;
};

static void sl_add_owned(struct strlist *l, char *s)
{
	if (l->n == l->cap) {
		l->cap = l->cap ? 2 * l->cap : 256;
		l->v = realloc(l->v, l->cap * sizeof *l->v);
		ck_assert_ptr_nonnull(l->v);
	}
	l->v[l->n++] = s;
}

static void sl_free(struct strlist *l)
{
	for (size_t i = 0; i < l->n; i++) {
		free(l->v[i]);
	}
	free(l->v);
	memset(l, 0, sizeof *l);
}

static void mkdir_p(const char *path)
{
	char *p = tu_strf("%s", path);

	for (char *s = p + 1; *s; s++) {
		if (*s == '/') {
			*s = 0;
			ck_assert_msg(mkdir(p, 0755) == 0 || errno == EEXIST,
				      "mkdir %s: %s", p, strerror(errno));
			*s = '/';
		}
	}
	ck_assert_msg(mkdir(p, 0755) == 0 || errno == EEXIST, "mkdir %s: %s",
		      p, strerror(errno));
	free(p);
}

/* Write dir/name, creating the directories in name. */
static void put_file(const char *dir, const char *name, const void *data,
		     size_t len)
{
	char *path = tu_strf("%s/%s", dir, name);
	char *slash = strrchr(path, '/');

	*slash = 0;
	mkdir_p(path);
	*slash = '/';
	ck_assert_msg(tu_write_file(path, data, len) == 0, "write %s", path);
	free(path);
}

static uint8_t *get_file(const char *dir, const char *name, size_t *len)
{
	char *path = tu_strf("%s/%s", dir, name);
	uint8_t *b = tu_read_file(path, len);

	ck_assert_msg(b != NULL, "cannot read %s", path);
	free(path);
	return b;
}

/* Count regular files under dir (recursively). */
static size_t count_files(const char *dir)
{
	DIR *d = opendir(dir);
	struct dirent *de;
	size_t n = 0;

	ck_assert_msg(d != NULL, "opendir %s: %s", dir, strerror(errno));
	while ((de = readdir(d)) != NULL) {
		if (strcmp(de->d_name, ".") == 0 ||
		    strcmp(de->d_name, "..") == 0) {
			continue;
		}
		char *p = tu_strf("%s/%s", dir, de->d_name);
		struct stat st;
		ck_assert_int_eq(stat(p, &st), 0);
		n += S_ISDIR(st.st_mode) ? count_files(p) : 1;
		free(p);
	}
	closedir(d);
	return n;
}

static char *b64(const uint8_t *p, size_t n)
{
	size_t cap = ft_b64_enclen(n) + 1, len = 0;
	char *s = malloc(cap);

	ck_assert_ptr_nonnull(s);
	ck_assert_int_eq(ft_b64_encode(p, n, s, cap, &len), 0);
	ck_assert_uint_eq(len, cap - 1);
	s[len] = 0;
	return s;
}

static int hash_eq(const ft_hash *a, const ft_hash *b)
{
	return memcmp(a->b, b->b, FT_HASH_LEN) == 0;
}

/* ---- Running the Go helper. ------------------------------------------- */

/* Longest a single run of the Go helper may take. */
#define GO_TIMEOUT_MS 60000

/* The Go helper's path; the test fails (not skips) without it. */
static const char *go_bin(void)
{
	const char *p = getenv("FTLOG_GO_INTEROP");

	ck_assert_msg(p != NULL && *p != 0,
		      "FTLOG_GO_INTEROP is not set: run through `make check`, "
		      "or point it at tests/interop/ftlog-interop-go");
	ck_assert_msg(access(p, X_OK) == 0,
		      "FTLOG_GO_INTEROP=%s is not an executable: %s", p,
		      strerror(errno));
	return p;
}

/*
 * Run "$FTLOG_GO_INTEROP verb dir" with stdout and stderr into outpath.
 * Returns the exit status; the output (NUL-terminated) in *out.
 */
static int run_go(const char *verb, const char *dir, const char *outpath,
		  char **out)
{
	const char *bin = go_bin();
	posix_spawn_file_actions_t fa;
	pid_t pid;
	int st = 0;
	char *argv[] = {(char *)bin, (char *)verb, (char *)dir, NULL};

	ck_assert_int_eq(posix_spawn_file_actions_init(&fa), 0);
	ck_assert_int_eq(posix_spawn_file_actions_addopen(
				 &fa, 1, outpath, O_WRONLY | O_CREAT | O_TRUNC,
				 0644),
			 0);
	ck_assert_int_eq(posix_spawn_file_actions_adddup2(&fa, 1, 2), 0);
	int rc = posix_spawn(&pid, bin, &fa, NULL, argv, environ);
	posix_spawn_file_actions_destroy(&fa);
	ck_assert_msg(rc == 0, "cannot run %s: %s", bin, strerror(rc));
	/* Poll, so that a hung helper is killed here rather than orphaned
	 * when Check's timeout kills this process. */
	for (long ms = 0;; ms += 10) {
		pid_t w = waitpid(pid, &st, WNOHANG);
		if (w == pid) {
			break;
		}
		ck_assert_msg(w == 0 || errno == EINTR, "waitpid: %s",
			      strerror(errno));
		if (ms >= GO_TIMEOUT_MS) {
			(void)kill(pid, SIGKILL);
			(void)waitpid(pid, &st, 0);
			ck_abort_msg("%s %s %s did not finish in %d s", bin, verb,
				     dir, GO_TIMEOUT_MS / 1000);
		}
		struct timespec ts = {0, 10 * 1000 * 1000};
		(void)nanosleep(&ts, NULL);
	}
	size_t len = 0;
	*out = (char *)tu_read_file(outpath, &len);
	ck_assert_ptr_nonnull(*out);
	ck_assert_msg(WIFEXITED(st), "%s %s was killed by signal %d; output:\n%s",
		      bin, verb, WIFSIGNALED(st) ? WTERMSIG(st) : -1, *out);
	return WEXITSTATUS(st);
}

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Lines of out (modified in place), sorted. */
static char **split_lines(char *out, size_t *n)
{
	size_t cap = 1;
	for (char *s = out; *s; s++) {
		cap += *s == '\n';
	}
	char **v = calloc(cap, sizeof *v);
	ck_assert_ptr_nonnull(v);
	*n = 0;
	for (char *s = out; *s;) {
		char *e = strchr(s, '\n');
		v[(*n)++] = s;
		if (e == NULL) {
			break;
		}
		*e = 0;
		s = e + 1;
	}
	qsort(v, *n, sizeof *v, cmp_str);
	return v;
}

/* Print Go's output to stderr (bounded), for the failure message. */
static void dump_output(const char *what, const char *out)
{
	size_t len = strlen(out);

	fprintf(stderr, "---- output of ftlog-interop-go %s (%zu bytes) ----\n",
		what, len);
	if (len > 20000) {
		fprintf(stderr, "%.10000s\n[...]\n%s", out, out + len - 10000);
	} else {
		fputs(out, stderr);
	}
	fprintf(stderr, "---- end ----\n");
}

/*
 * Demand: exit status 0, no FAIL line, an "ok" line for every expected
 * check, and the summary counting exactly as many checks as we expect.
 */
static void check_go_verify(int status, char *out, const struct strlist *ex)
{
	char *copy = tu_strf("%s", out);
	size_t n = 0, missing = 0, fails = 0;
	char **lines = split_lines(copy, &n);
	unsigned long ok_count = 0, fail_count = 0;
	int have_summary = 0;

	for (size_t i = 0; i < n; i++) {
		if (strncmp(lines[i], "FAIL", 4) == 0) {
			fails++;
		}
		if (sscanf(lines[i], "summary ok=%lu fail=%lu", &ok_count,
			   &fail_count) == 2) {
			have_summary = 1;
		}
	}
	for (size_t i = 0; i < ex->n; i++) {
		char *key = ex->v[i];
		if (bsearch(&key, lines, n, sizeof *lines, cmp_str) == NULL) {
			if (missing++ < 20) {
				fprintf(stderr, "no Go line \"%s\"\n", key);
			}
		}
	}
	if (status != 0 || fails != 0 || missing != 0 || !have_summary ||
	    ok_count != ex->n || fail_count != 0) {
		dump_output("verify", out);
	}
	ck_assert_msg(fails == 0, "Go reports %zu FAIL lines (see above)",
		      fails);
	ck_assert_msg(status == 0, "Go verify exit status %d", status);
	ck_assert_msg(missing == 0, "%zu expected Go checks missing", missing);
	ck_assert_msg(have_summary, "no summary line from Go");
	ck_assert_msg(ok_count == ex->n,
		      "Go ran %lu checks, the C side expects %zu", ok_count,
		      ex->n);
	free(lines);
	free(copy);
}

/* ---- Stored hashes: every complete node, by (level, index). ----------- */

struct store {
	ft_hash *lv[64];
	uint64_t n[64];
	uint64_t cap[64];
};

static void store_init(struct store *st, uint64_t max)
{
	memset(st, 0, sizeof *st);
	for (unsigned l = 0; l < 64 && (max >> l) > 0; l++) {
		st->cap[l] = max >> l;
		st->lv[l] = calloc(st->cap[l], sizeof(ft_hash));
		ck_assert_ptr_nonnull(st->lv[l]);
	}
}

static void store_free(struct store *st)
{
	for (unsigned l = 0; l < 64; l++) {
		free(st->lv[l]);
	}
	memset(st, 0, sizeof *st);
}

static int store_node(void *ctx, unsigned level, uint64_t index,
		      const ft_hash *hash)
{
	struct store *st = ctx;

	if (level >= 64 || index >= st->cap[level] || index != st->n[level]) {
		return FT_EINVAL; /* nodes complete once each, in order */
	}
	st->lv[level][index] = *hash;
	st->n[level] = index + 1;
	return 0;
}

static int store_read(void *ctx, const ft_node_id *ids, size_t n,
		      ft_hash *out)
{
	struct store *st = ctx;

	if (n > FT_READ_MAX) {
		return FT_EINVAL;
	}
	for (size_t i = 0; i < n; i++) {
		if (ids[i].level >= 64 || ids[i].index >= st->n[ids[i].level]) {
			return FT_EREAD;
		}
		out[i] = st->lv[ids[i].level][ids[i].index];
	}
	return 0;
}

static ft_hash_reader store_reader(struct store *st)
{
	ft_hash_reader r = {store_read, st};

	return r;
}

/* ---- Entries. ---------------------------------------------------------- */

struct entries {
	struct buf data;
	size_t *off; /* n + 1 offsets */
	uint64_t n, cap;
};

static void entries_add(struct entries *e, const uint8_t *p, size_t len)
{
	if (e->off == NULL || e->n + 2 > e->cap) {
		e->cap = e->cap ? 2 * e->cap : 1024;
		e->off = realloc(e->off, e->cap * sizeof *e->off);
		ck_assert_ptr_nonnull(e->off);
		if (e->n == 0) {
			e->off[0] = 0;
		}
	}
	buf_add(&e->data, p, len);
	e->off[++e->n] = e->data.len;
}

static const uint8_t *entry_at(const struct entries *e, uint64_t i,
			       size_t *len)
{
	ck_assert_uint_lt(i, e->n);
	*len = e->off[i + 1] - e->off[i];
	return e->data.p + e->off[i];
}

static void entries_free(struct entries *e)
{
	buf_free(&e->data);
	free(e->off);
	memset(e, 0, sizeof *e);
}

/* C's entries: mostly short, one empty, one of the maximum size, every
 * 89th long enough to need both bytes of the bundle length prefix. */
static size_t c_entry(uint64_t i, uint8_t *out)
{
	if (i == 1) {
		return 0;
	}
	if (i == 4) {
		for (size_t j = 0; j < FT_ENTRY_MAX; j++) {
			out[j] = (uint8_t)(j * 7 + (j >> 8));
		}
		return FT_ENTRY_MAX;
	}
	int n = snprintf((char *)out, 64, "ftlog C interop entry %" PRIu64 "\n",
			 i);
	size_t extra = i % 89 == 0 ? (size_t)(i * 7) % 700 : (size_t)(i * 131) % 61;
	for (size_t j = 0; j < extra; j++) {
		out[(size_t)n + j] = (uint8_t)(i * 31 + j * 7);
	}
	return (size_t)n + extra;
}

/*
 * Build the tree over all entries into st (every complete node), and the
 * roots at the (ascending) sizes. Appends one by one for the first 1000
 * leaves, then in batches that stop at every size of interest. Cross-checks
 * ft_tree_root against ft_tree_hash_at and ft_tree_load from stored hashes.
 */
static void build_tree(const struct entries *e, const uint64_t *sizes,
		       size_t nsizes, struct store *st, ft_hash *roots)
{
	ft_tree t;
	size_t k = 0;
	ft_hash *leaves = malloc(777 * sizeof *leaves);

	ck_assert_ptr_nonnull(leaves);
	store_init(st, e->n);
	ft_tree_init(&t);
	while (k < nsizes && sizes[k] == 0) {
		ft_tree_root(&t, &roots[k++]);
	}
	for (uint64_t i = 0; i < e->n;) {
		uint64_t stop = i + (i < 1000 ? 1 : 777);
		if (k < nsizes && sizes[k] < stop) {
			stop = sizes[k];
		}
		if (stop > e->n) {
			stop = e->n;
		}
		for (uint64_t j = i; j < stop; j++) {
			size_t len;
			const uint8_t *p = entry_at(e, j, &len);
			ft_merkle_leaf_hash(p, len, &leaves[j - i]);
		}
		if (stop - i == 1) {
			ck_assert_int_eq(
				ft_tree_append(&t, &leaves[0], store_node, st),
				0);
		} else {
			ck_assert_int_eq(ft_tree_append_batch(&t, leaves,
							      (size_t)(stop - i),
							      store_node, st),
					 0);
		}
		ck_assert_uint_eq(t.size, stop);
		i = stop;
		while (k < nsizes && sizes[k] == i) {
			ft_tree_root(&t, &roots[k++]);
		}
	}
	ck_assert_uint_eq(k, nsizes);
	free(leaves);

	ft_hash_reader r = store_reader(st);
	for (k = 0; k < nsizes; k++) {
		ft_hash h;
		ft_tree t2;
		ck_assert_int_eq(ft_tree_hash_at(sizes[k], &r, &h), 0);
		ck_assert_msg(hash_eq(&h, &roots[k]),
			      "ft_tree_hash_at(%" PRIu64 ") != ft_tree_root",
			      sizes[k]);
		ck_assert_int_eq(ft_tree_load(&t2, sizes[k], &r), 0);
		ft_tree_root(&t2, &h);
		ck_assert_msg(hash_eq(&h, &roots[k]),
			      "ft_tree_load(%" PRIu64 ") root differs", sizes[k]);
	}
}

/* ---- Tiles. ------------------------------------------------------------ */

struct tile_list {
	ft_tile *t;
	size_t n, cap;
};

static int tile_collect(void *ctx, const ft_tile *t)
{
	struct tile_list *l = ctx;

	if (l->n == l->cap) {
		l->cap = l->cap ? 2 * l->cap : 64;
		l->t = realloc(l->t, l->cap * sizeof *l->t);
		ck_assert_ptr_nonnull(l->t);
	}
	l->t[l->n++] = *t;
	return 0;
}

static int cmp_tile(const void *a, const void *b)
{
	const ft_tile *x = a, *y = b;

	if (x->level != y->level) {
		return x->level < y->level ? -1 : 1;
	}
	if (x->index != y->index) {
		return x->index < y->index ? -1 : 1;
	}
	return x->width < y->width ? -1 : x->width > y->width;
}

/*
 * The tiles of a tree of `size` per C2SP tlog-tiles, written out from the
 * specification: per level the full tiles and one partial tile of the
 * current width; entry bundles like level 0. Checked against
 * ft_tile_foreach_new(0, size), ft_tile_at and the count helpers.
 */
static void tiles_at(uint64_t size, struct tile_list *out)
{
	struct tile_list lib = {0};
	unsigned levels = 0;

	memset(out, 0, sizeof *out);
	for (unsigned l = 0; l < 8 && (size >> (8 * l)) > 0; l++, levels++) {
		uint64_t count = size >> (8 * l);
		ck_assert_uint_eq(ft_tile_full_count(size, l), count / 256);
		ck_assert_uint_eq(ft_tile_partial_width(size, l), count % 256);
		for (uint64_t i = 0; i < count / 256; i++) {
			ft_tile t = {(int)l, i, 256};
			tile_collect(out, &t);
		}
		if (count % 256) {
			ft_tile t = {(int)l, count / 256, (unsigned)(count % 256)};
			tile_collect(out, &t);
		}
	}
	ck_assert_uint_eq(ft_tile_levels(size), levels);
	for (uint64_t i = 0; i < size / 256; i++) {
		ft_tile t = {FT_TILE_ENTRIES, i, 256};
		tile_collect(out, &t);
	}
	if (size % 256) {
		ft_tile t = {FT_TILE_ENTRIES, size / 256, (unsigned)(size % 256)};
		tile_collect(out, &t);
	}
	for (size_t i = 0; i < out->n; i++) {
		ft_tile t;
		ck_assert_int_eq(ft_tile_at(size, out->t[i].level,
					    out->t[i].index, &t),
				 0);
		ck_assert_int_eq(cmp_tile(&t, &out->t[i]), 0);
		ck_assert_int_eq(ft_tile_servable(size, &out->t[i]), 1);
	}
	ck_assert_int_eq(ft_tile_foreach_new(0, size, tile_collect, &lib), 0);
	qsort(out->t, out->n, sizeof *out->t, cmp_tile);
	qsort(lib.t, lib.n, sizeof *lib.t, cmp_tile);
	ck_assert_msg(lib.n == out->n,
		      "ft_tile_foreach_new(0, %" PRIu64 ") visits %zu tiles, "
		      "C2SP has %zu",
		      size, lib.n, out->n);
	for (size_t i = 0; i < out->n; i++) {
		ck_assert_msg(cmp_tile(&lib.t[i], &out->t[i]) == 0,
			      "ft_tile_foreach_new(0, %" PRIu64
			      ") tile %zu differs",
			      size, i);
	}
	free(lib.t);
}

static char *tile_path(const ft_tile *t)
{
	char buf[FT_TILE_PATH_MAX];
	size_t len = 0;

	ck_assert_int_eq(ft_tile_path(t, buf, sizeof buf, &len), 0);
	ck_assert_uint_eq(len, strlen(buf));
	return tu_strf("%s", buf);
}

/* The tile's bytes rebuilt in C from stored hashes or entries. */
static void tile_data(const ft_tile *t, const struct store *st,
		      const struct entries *e, struct buf *out)
{
	out->len = 0;
	if (t->level == FT_TILE_ENTRIES) {
		for (unsigned i = 0; i < t->width; i++) {
			size_t len;
			const uint8_t *p = entry_at(e, t->index * 256 + i, &len);
			size_t old = out->len;
			buf_reserve(out, len + 2);
			/* Exactly enough room: the append must fit... */
			ck_assert_int_eq(ft_bundle_append(out->p, old + len + 2,
							  &out->len, p, len),
					 0);
			ck_assert_uint_eq(out->len, old + 2 + len);
		}
		return;
	}
	unsigned level = 8 * (unsigned)t->level;
	ck_assert_uint_le(t->index * 256 + t->width, st->n[level]);
	buf_add(out, &st->lv[level][t->index * 256],
		(size_t)t->width * FT_HASH_LEN);
}

/* ft_tile_reader over DIR/tiles/S. */
struct tile_dir {
	char *dir;
	unsigned fetches;
};

static int tile_fetch(void *ctx, const ft_tile *t, uint8_t *buf, size_t *len)
{
	struct tile_dir *td = ctx;
	char path[FT_TILE_PATH_MAX];
	size_t plen = 0, n = 0;

	if (ft_tile_path(t, path, sizeof path, &plen) != 0) {
		return FT_EINVAL;
	}
	char *full = tu_strf("%s/%s", td->dir, path);
	uint8_t *data = tu_read_file(full, &n);
	free(full);
	if (data == NULL || n > FT_TILE_BYTES) {
		free(data);
		return FT_EREAD;
	}
	memcpy(buf, data, n);
	*len = n;
	free(data);
	td->fetches++;
	return 0;
}

/* ---- Proof pairs (edges: first, last, around powers of two). --------- */

struct pairs {
	uint64_t (*v)[2];
	size_t n, cap;
};

static void pairs_add(struct pairs *p, uint64_t a, uint64_t b)
{
	for (size_t i = 0; i < p->n; i++) {
		if (p->v[i][0] == a && p->v[i][1] == b) {
			return;
		}
	}
	if (p->n == p->cap) {
		p->cap = p->cap ? 2 * p->cap : 256;
		p->v = realloc(p->v, p->cap * sizeof *p->v);
		ck_assert_ptr_nonnull(p->v);
	}
	p->v[p->n][0] = a;
	p->v[p->n][1] = b;
	p->n++;
}

static void inclusion_pairs(const uint64_t *sizes, size_t n, struct pairs *out)
{
	memset(out, 0, sizeof *out);
	for (size_t k = 0; k < n; k++) {
		uint64_t s = sizes[k];
		uint64_t cand[64];
		size_t nc = 0;
		cand[nc++] = 0;
		cand[nc++] = 1;
		cand[nc++] = 2;
		cand[nc++] = s / 2;
		cand[nc++] = s - 1;
		if (s >= 2) {
			cand[nc++] = s - 2;
		}
		for (uint64_t p = 1; p < s && nc < 60; p <<= 1) {
			cand[nc++] = p - 1;
			cand[nc++] = p;
		}
		for (size_t i = 0; i < nc; i++) {
			if (cand[i] < s) {
				pairs_add(out, cand[i], s);
			}
		}
		for (uint64_t i = 0; i < 3; i++) {
			pairs_add(out, (i * 7919 + 13) % s, s);
		}
	}
}

static void consistency_pairs(const uint64_t *sizes, size_t n,
			      struct pairs *out)
{
	memset(out, 0, sizeof *out);
	for (size_t i = 0; i < n; i++) {
		for (size_t j = i; j < n; j++) {
			pairs_add(out, sizes[i], sizes[j]);
		}
	}
}

/* ---- The exchange directory. ------------------------------------------ */

struct manifest {
	char origin[FT_KEY_NAME_MAX + 1];
	uint64_t entries;
	uint64_t cps[64];
	size_t ncps;
	uint64_t tiles[16];
	size_t ntiles;
	uint64_t tps[16];
	size_t ntps;
	uint64_t cos_at, cos_ts;
};

static size_t parse_u64s(char *s, uint64_t *out, size_t cap)
{
	size_t n = 0;
	char *save = NULL;

	for (char *tok = strtok_r(s, " ", &save); tok != NULL;
	     tok = strtok_r(NULL, " ", &save)) {
		char *end;
		ck_assert_uint_lt(n, cap);
		errno = 0;
		out[n++] = strtoull(tok, &end, 10);
		ck_assert_msg(*end == 0 && errno == 0, "bad number %s", tok);
	}
	return n;
}

static void read_manifest(const char *dir, struct manifest *m)
{
	size_t len;
	char *text = (char *)get_file(dir, "manifest", &len);
	char *save = NULL;
	unsigned seen = 0;

	memset(m, 0, sizeof *m);
	for (char *line = strtok_r(text, "\n", &save); line != NULL;
	     line = strtok_r(NULL, "\n", &save)) {
		char *sp = strchr(line, ' ');
		ck_assert_ptr_nonnull(sp);
		*sp++ = 0;
		if (strcmp(line, "origin") == 0) {
			ck_assert_uint_lt(strlen(sp), sizeof m->origin);
			strcpy(m->origin, sp);
			seen |= 1;
		} else if (strcmp(line, "entries") == 0) {
			ck_assert_uint_eq(parse_u64s(sp, &m->entries, 1), 1);
			seen |= 2;
		} else if (strcmp(line, "checkpoints") == 0) {
			m->ncps = parse_u64s(sp, m->cps, 64);
			seen |= 4;
		} else if (strcmp(line, "tiles") == 0) {
			m->ntiles = parse_u64s(sp, m->tiles, 16);
			seen |= 8;
		} else if (strcmp(line, "tlogproofs") == 0) {
			m->ntps = parse_u64s(sp, m->tps, 16);
			seen |= 16;
		} else if (strcmp(line, "cosigned") == 0) {
			uint64_t v[2];
			ck_assert_uint_eq(parse_u64s(sp, v, 2), 2);
			m->cos_at = v[0];
			m->cos_ts = v[1];
			seen |= 32;
		} else {
			ck_abort_msg("manifest: unknown key %s", line);
		}
	}
	ck_assert_uint_eq(seen, 63);
	free(text);
}

static void join_u64s(struct buf *b, const char *key, const uint64_t *v,
		      size_t n)
{
	buf_printf(b, "%s", key);
	for (size_t i = 0; i < n; i++) {
		buf_printf(b, " %" PRIu64, v[i]);
	}
	buf_printf(b, "\n");
}

static void write_manifest(const char *dir, const struct manifest *m)
{
	struct buf b = {0};

	buf_printf(&b, "origin %s\nentries %" PRIu64 "\n", m->origin,
		   m->entries);
	join_u64s(&b, "checkpoints", m->cps, m->ncps);
	join_u64s(&b, "tiles", m->tiles, m->ntiles);
	join_u64s(&b, "tlogproofs", m->tps, m->ntps);
	buf_printf(&b, "cosigned %" PRIu64 " %" PRIu64 "\n", m->cos_at,
		   m->cos_ts);
	put_file(dir, "manifest", b.p, b.len);
	buf_free(&b);
}

/* Index of size in the manifest's checkpoint sizes, or -1. */
static int cp_index(const struct manifest *m, uint64_t size)
{
	for (size_t i = 0; i < m->ncps; i++) {
		if (m->cps[i] == size) {
			return (int)i;
		}
	}
	return -1;
}

static void write_key_line(const char *dir, const char *name, const char *s)
{
	char *line = tu_strf("%s\n", s);

	put_file(dir, name, line, strlen(line));
	free(line);
}

static void vkey_string(const ft_vkey *k, char *out)
{
	size_t len = 0;

	ck_assert_int_eq(ft_vkey_format(k, out, FT_KEY_STR_MAX + 1, &len), 0);
	ck_assert_uint_eq(len, strlen(out));
}

static void key_from_tag(const char *name, uint8_t type, uint8_t tag,
			 ft_skey *out)
{
	uint8_t seed[32];

	for (unsigned i = 0; i < 32; i++) {
		seed[i] = (uint8_t)(tag * 37 + i * 11);
	}
	ck_assert_int_eq(ft_key_from_seed(name, strlen(name), type, seed, out),
			 0);
}

/* A proof line "A B h1 h2 ...". */
static void proof_line(struct buf *b, uint64_t x, uint64_t y,
		       const ft_hash *p, size_t n)
{
	buf_printf(b, "%" PRIu64 " %" PRIu64, x, y);
	for (size_t i = 0; i < n; i++) {
		char *s = b64(p[i].b, FT_HASH_LEN);
		buf_printf(b, " %s", s);
		free(s);
	}
	buf_printf(b, "\n");
}

/* ---- C -> Go ----------------------------------------------------------- */

struct c_config {
	uint64_t nentries;
	const uint64_t *cps;
	size_t ncps;
	const uint64_t *tiles;
	size_t ntiles;
	const uint64_t *tps;
	size_t ntps;
};

#define C_ORIGIN "ftlog.example/interop-c-log"
#define C_SECOND "ftlog.example/second"
#define C_UNKNOWN "ftlog.example/unknown"
#define C_WITNESS "ftlog.example/witness"
#define C_COSIG_TS UINT64_C(1719999999)

static const uint64_t CPS[] = {1,    2,    3,     4,     5,     6,     7,
			       8,    9,    15,    16,    17,    31,    32,
			       33,   255,  256,   257,   511,   512,   513,
			       1000, 1023, 1024,  1025,  4096,  65535, 65536,
			       65537, 69999, 70000};
static const uint64_t TILE_SIZES[] = {1, 2, 7, 256, 257, 1000, 70000};
static const uint64_t TPS[] = {0, 1, 4, 35000, 69999};

#define NELEM(a) (sizeof(a) / sizeof((a)[0]))

/*
 * Write everything C makes for Go into dir, and the list of "ok" lines Go
 * must print for it.
 */
static void build_c_artifacts(const char *dir, const struct c_config *cfg,
			      struct strlist *ex)
{
	ft_skey logk, second, unknown, witness;
	ft_vkey v;
	char ks[FT_KEY_STR_MAX + 1];
	size_t len = 0;
	struct manifest m;
	struct entries e = {0};
	struct store st;
	struct buf b = {0};
	uint8_t *ebuf = malloc(FT_ENTRY_MAX);
	ft_hash *roots = calloc(cfg->ncps, sizeof *roots);
	uint8_t *note = malloc(FT_NOTE_MAX_BYTES);
	size_t note_len = 0;

	ck_assert_ptr_nonnull(ebuf);
	ck_assert_ptr_nonnull(roots);
	ck_assert_ptr_nonnull(note);
	ck_assert_int_eq(ft_init(), 0);

	memset(&m, 0, sizeof m);
	strcpy(m.origin, C_ORIGIN);
	m.entries = cfg->nentries;
	memcpy(m.cps, cfg->cps, cfg->ncps * sizeof *cfg->cps);
	m.ncps = cfg->ncps;
	memcpy(m.tiles, cfg->tiles, cfg->ntiles * sizeof *cfg->tiles);
	m.ntiles = cfg->ntiles;
	memcpy(m.tps, cfg->tps, cfg->ntps * sizeof *cfg->tps);
	m.ntps = cfg->ntps;
	m.cos_at = cfg->cps[cfg->ncps - 1];
	m.cos_ts = C_COSIG_TS;
	write_manifest(dir, &m);
	sl_add_owned(ex, tu_strf("ok manifest"));

	/* Keys. */
	key_from_tag(C_ORIGIN, FT_KEY_ED25519, 1, &logk);
	key_from_tag(C_SECOND, FT_KEY_ED25519, 2, &second);
	key_from_tag(C_UNKNOWN, FT_KEY_ED25519, 3, &unknown);
	key_from_tag(C_WITNESS, FT_KEY_COSIG_V1, 4, &witness);
	ft_skey_public(&logk, &v);
	vkey_string(&v, ks);
	write_key_line(dir, "log.vkey", ks);
	ck_assert_int_eq(ft_skey_format(&logk, ks, sizeof ks, &len), 0);
	write_key_line(dir, "log.skey", ks);
	ft_skey_public(&second, &v);
	vkey_string(&v, ks);
	write_key_line(dir, "second.vkey", ks);
	ft_skey_public(&witness, &v);
	vkey_string(&v, ks);
	write_key_line(dir, "witness.vkey", ks);
	ck_assert_int_eq(ft_skey_format(&witness, ks, sizeof ks, &len), 0);
	write_key_line(dir, "witness.skey", ks);
	sl_add_owned(ex, tu_strf("ok vkey"));
	sl_add_owned(ex, tu_strf("ok skey"));

	/* Entries and the tree. */
	for (uint64_t i = 0; i < cfg->nentries; i++) {
		size_t n = c_entry(i, ebuf);
		entries_add(&e, ebuf, n);
		char *s = b64(ebuf, n);
		buf_printf(&b, "%s\n", s);
		free(s);
	}
	put_file(dir, "entries", b.p, b.len);
	b.len = 0;
	sl_add_owned(ex, tu_strf("ok entries %" PRIu64, cfg->nentries));
	build_tree(&e, cfg->cps, cfg->ncps, &st, roots);
	ft_hash_reader r = store_reader(&st);

	/* Signed checkpoints. */
	for (size_t k = 0; k < cfg->ncps; k++) {
		ft_checkpoint cp;
		uint8_t text[FT_KEY_NAME_MAX + 128];
		size_t text_len = 0;
		memset(&cp, 0, sizeof cp);
		strcpy(cp.origin, C_ORIGIN);
		cp.origin_len = strlen(C_ORIGIN);
		cp.size = cfg->cps[k];
		cp.root = roots[k];
		ck_assert_int_eq(ft_checkpoint_format(&cp, text, sizeof text,
						      &text_len),
				 0);
		ck_assert_int_eq(ft_note_sign(text, text_len, &logk, 1, 0,
					      note, FT_NOTE_MAX_BYTES,
					      &note_len),
				 0);
		char *name = tu_strf("checkpoint/%" PRIu64, cfg->cps[k]);
		put_file(dir, name, note, note_len);
		free(name);
		sl_add_owned(ex, tu_strf("ok checkpoint %" PRIu64 " signature",
				      cfg->cps[k]));
		sl_add_owned(ex,
			     tu_strf("ok checkpoint %" PRIu64 " root", cfg->cps[k]));
		sl_add_owned(ex, tu_strf("ok checkpoint %" PRIu64 " resign",
				      cfg->cps[k]));
	}

	/* Proofs, each also verified in C before Go sees it. */
	struct pairs ip, cpairs;
	ft_hash proof[FT_PROOF_MAX_CONSISTENCY];
	size_t pn = 0;
	inclusion_pairs(cfg->cps, cfg->ncps, &ip);
	for (size_t i = 0; i < ip.n; i++) {
		uint64_t idx = ip.v[i][0], size = ip.v[i][1];
		int k = cp_index(&m, size);
		ft_hash leaf;
		size_t elen;
		const uint8_t *ent = entry_at(&e, idx, &elen);
		ck_assert_int_ge(k, 0);
		ck_assert_int_eq(ft_proof_inclusion(idx, size, &r, proof, &pn),
				 0);
		ck_assert_uint_eq(pn, ft_proof_inclusion_len(idx, size));
		ft_merkle_leaf_hash(ent, elen, &leaf);
		ck_assert_int_eq(ft_proof_verify_inclusion(
					 idx, size, leaf.b, FT_HASH_LEN,
					 proof[0].b, pn * FT_HASH_LEN,
					 roots[k].b, FT_HASH_LEN),
				 0);
		proof_line(&b, idx, size, proof, pn);
		sl_add_owned(ex, tu_strf("ok inclusion %" PRIu64 " %" PRIu64, idx,
				      size));
	}
	put_file(dir, "inclusion", b.p, b.len);
	b.len = 0;
	sl_add_owned(ex, tu_strf("ok inclusion file"));
	consistency_pairs(cfg->cps, cfg->ncps, &cpairs);
	for (size_t i = 0; i < cpairs.n; i++) {
		uint64_t s1 = cpairs.v[i][0], s2 = cpairs.v[i][1];
		int k1 = cp_index(&m, s1), k2 = cp_index(&m, s2);
		ck_assert_int_eq(ft_proof_consistency(s1, s2, &r, proof, &pn),
				 0);
		ck_assert_uint_eq(pn, ft_proof_consistency_len(s1, s2));
		ck_assert_int_eq(ft_proof_verify_consistency(
					 s1, s2, roots[k1].b, FT_HASH_LEN,
					 roots[k2].b, FT_HASH_LEN, proof[0].b,
					 pn * FT_HASH_LEN),
				 0);
		proof_line(&b, s1, s2, proof, pn);
		sl_add_owned(ex, tu_strf("ok consistency %" PRIu64 " %" PRIu64,
				      s1, s2));
	}
	put_file(dir, "consistency", b.p, b.len);
	b.len = 0;
	sl_add_owned(ex, tu_strf("ok consistency file"));
	free(ip.v);
	free(cpairs.v);

	/* Tiles and entry bundles, at every tile size. */
	for (size_t k = 0; k < cfg->ntiles; k++) {
		uint64_t size = cfg->tiles[k];
		struct tile_list tl;
		tiles_at(size, &tl);
		for (size_t i = 0; i < tl.n; i++) {
			char *p = tile_path(&tl.t[i]);
			char *name = tu_strf("tiles/%" PRIu64 "/%s", size, p);
			tile_data(&tl.t[i], &st, &e, &b);
			if (tl.t[i].level >= 0 && tl.t[i].width == 256) {
				/* A full tile hashes to the node a tile up. */
				ft_hash h;
				unsigned up = 8 * (unsigned)tl.t[i].level + 8;
				ck_assert_int_eq(ft_tile_hash(b.p, b.len, &h), 0);
				if (up < 64 && tl.t[i].index < st.n[up]) {
					ck_assert(hash_eq(
						&h,
						&st.lv[up][tl.t[i].index]));
				}
			}
			put_file(dir, name, b.p, b.len);
			b.len = 0;
			sl_add_owned(ex, tu_strf("ok %s %" PRIu64 " %s",
					      tl.t[i].level == FT_TILE_ENTRIES
						      ? "bundle"
						      : "tile",
					      size, p));
			free(name);
			free(p);
		}
		sl_add_owned(ex, tu_strf("ok tileset %" PRIu64, size));
		sl_add_owned(ex, tu_strf("ok tilereader %" PRIu64, size));
		free(tl.t);
	}

	/* The largest checkpoint, cosigned by the witness. */
	{
		char *name = tu_strf("checkpoint/%" PRIu64, m.cos_at);
		uint8_t *plain = get_file(dir, name, &note_len);
		ck_assert_uint_le(note_len, FT_NOTE_MAX_BYTES);
		memcpy(note, plain, note_len);
		free(plain);
		free(name);
		ck_assert_int_eq(ft_cosig_add(&witness, m.cos_ts, note,
					      FT_NOTE_MAX_BYTES, &note_len),
				 0);
		put_file(dir, "cosigned", note, note_len);
		sl_add_owned(ex, tu_strf("ok witness vkey"));
		sl_add_owned(ex, tu_strf("ok cosigned log signature"));
		sl_add_owned(ex, tu_strf("ok cosignature"));
		sl_add_owned(ex, tu_strf("ok cosignature reproduce"));
		sl_add_owned(ex, tu_strf("ok cosigned open"));
	}

	/* Notes with several signatures, one from a key Go does not know. */
	{
		static const char text[] =
			"ftlog interop: a note with several signatures\n"
			"signed by C\n";
		ft_skey keys[3] = {logk, unknown, second};
		ck_assert_int_eq(ft_note_sign((const uint8_t *)text,
					      strlen(text), keys, 3, 0, note,
					      FT_NOTE_MAX_BYTES, &note_len),
				 0);
		put_file(dir, "multisig.note", note, note_len);
		ck_assert_int_eq(ft_note_sign((const uint8_t *)text,
					      strlen(text), &unknown, 1, 0,
					      note, FT_NOTE_MAX_BYTES,
					      &note_len),
				 0);
		put_file(dir, "unknown.note", note, note_len);
		for (size_t i = 0; i < 3; i++) {
			ft_skey_wipe(&keys[i]);
		}
		sl_add_owned(ex, tu_strf("ok multisig"));
		sl_add_owned(ex, tu_strf("ok unknown rejected"));
	}

	/* tlog-proofs against the cosigned checkpoint. */
	{
		size_t clen = 0;
		uint8_t *cos = get_file(dir, "cosigned", &clen);
		size_t cap = FT_TLOG_PROOF_MAX;
		uint8_t *tp = malloc(cap);
		ck_assert_ptr_nonnull(tp);
		for (size_t i = 0; i < cfg->ntps; i++) {
			uint64_t idx = cfg->tps[i];
			size_t elen, tlen = 0;
			const uint8_t *ent = entry_at(&e, idx, &elen);
			ck_assert_int_eq(ft_proof_inclusion(idx, m.cos_at, &r,
							    proof, &pn),
					 0);
			ck_assert_int_eq(ft_tlog_proof_format(
						 elen ? ent : NULL, elen, idx,
						 proof, pn, cos, clen, tp, cap,
						 &tlen),
					 0);
			char *name = tu_strf("tlogproof/%" PRIu64, idx);
			put_file(dir, name, tp, tlen);
			free(name);
			sl_add_owned(ex, tu_strf("ok tlogproof %" PRIu64, idx));
		}
		free(tp);
		free(cos);
	}

	ft_skey_wipe(&logk);
	ft_skey_wipe(&second);
	ft_skey_wipe(&unknown);
	ft_skey_wipe(&witness);
	store_free(&st);
	entries_free(&e);
	buf_free(&b);
	free(ebuf);
	free(roots);
	free(note);
}

START_TEST(test_go_helper_runs)
{
	/* The helper must exist and refuse bad usage with status 2. */
	char *tmp = tu_tmpdir();
	char *outp = tu_strf("%s/usage.out", tmp);
	char *out = NULL;

	ck_assert_ptr_nonnull(tmp);
	int st = run_go("no-such-verb", tmp, outp, &out);
	ck_assert_msg(st == 2, "status %d, output:\n%s", st, out);
	ck_assert_ptr_nonnull(strstr(out, "usage:"));
	free(out);
	free(outp);
	tu_rmtree(tmp);
	free(tmp);
}
END_TEST

START_TEST(test_c_to_go)
{
	char *tmp = tu_tmpdir();
	ck_assert_ptr_nonnull(tmp);
	char *dir = tu_strf("%s/data", tmp);
	char *outp = tu_strf("%s/verify.out", tmp);
	struct strlist ex = {0};
	struct c_config cfg = {70000,		CPS, NELEM(CPS), TILE_SIZES,
			       NELEM(TILE_SIZES), TPS, NELEM(TPS)};
	char *out = NULL;

	(void)go_bin();
	mkdir_p(dir);
	build_c_artifacts(dir, &cfg, &ex);
	int st = run_go("verify", dir, outp, &out);
	check_go_verify(st, out, &ex);

	free(out);
	sl_free(&ex);
	free(outp);
	free(dir);
	tu_rmtree(tmp);
	free(tmp);
}
END_TEST

/* Go's verifier is not vacuous: tampered C artifacts are reported. */
START_TEST(test_c_to_go_tampered)
{
	static const uint64_t cps[] = {1, 2, 7, 256, 257, 300};
	static const uint64_t tiles[] = {7, 257};
	static const uint64_t tps[] = {0, 299};
	char *tmp = tu_tmpdir();
	ck_assert_ptr_nonnull(tmp);
	char *dir = tu_strf("%s/data", tmp);
	char *outp = tu_strf("%s/verify.out", tmp);
	struct strlist ex = {0};
	struct c_config cfg = {300, cps, NELEM(cps), tiles, NELEM(tiles),
			       tps, NELEM(tps)};
	char *out = NULL;
	size_t len;

	(void)go_bin();
	mkdir_p(dir);
	build_c_artifacts(dir, &cfg, &ex);

	/* Untouched, it passes. */
	int st = run_go("verify", dir, outp, &out);
	check_go_verify(st, out, &ex);
	free(out);

	/* 1. One hash of the inclusion proof "1 257": first base64 char. */
	char *incl = (char *)get_file(dir, "inclusion", &len);
	char *line = strstr(incl, "\n1 257 ");
	ck_assert_ptr_nonnull(line);
	line += strlen("\n1 257 ");
	*line = *line == 'A' ? 'B' : 'A';
	put_file(dir, "inclusion", incl, len);
	free(incl);
	/* 2. One byte of a full tile. */
	uint8_t *tile = get_file(dir, "tiles/257/tile/0/000", &len);
	ck_assert_uint_eq(len, FT_TILE_BYTES);
	tile[100] ^= 1;
	put_file(dir, "tiles/257/tile/0/000", tile, len);
	free(tile);
	/* 3. The root line of a checkpoint. */
	uint8_t *cp = get_file(dir, "checkpoint/7", &len);
	char *root = strchr(strchr((char *)cp, '\n') + 1, '\n') + 1;
	*root = *root == 'A' ? 'B' : 'A';
	put_file(dir, "checkpoint/7", cp, len);
	free(cp);
	/* 4. A tile that does not exist at size 7. */
	put_file(dir, "tiles/7/tile/0/000.p/6", "", 0);

	st = run_go("verify", dir, outp, &out);
	static const char *const want[] = {
		"FAIL inclusion 1 257:",
		"FAIL tile 257 tile/0/000:",
		"FAIL tilereader 257:",
		"FAIL checkpoint 7 signature:",
		"FAIL tileset 7:",
	};
	for (size_t i = 0; i < NELEM(want); i++) {
		char *nl = tu_strf("\n%s", want[i]);
		if (strstr(out, nl) == NULL) {
			dump_output("verify", out);
		}
		ck_assert_msg(strstr(out, nl) != NULL,
			      "Go did not report \"%s\"", want[i]);
		free(nl);
	}
	ck_assert_msg(st == 1, "Go verify exit status %d on tampered input",
		      st);

	free(out);
	sl_free(&ex);
	free(outp);
	free(dir);
	tu_rmtree(tmp);
	free(tmp);
}
END_TEST

/* ---- Go -> C ----------------------------------------------------------- */

static void read_vkey(const char *dir, const char *name, ft_vkey *out,
		      char *str)
{
	size_t len;
	char *s = (char *)get_file(dir, name, &len);
	char again[FT_KEY_STR_MAX + 1];

	ck_assert_msg(len > 1 && s[len - 1] == '\n', "%s: no newline", name);
	len--;
	int rc = ft_vkey_parse(s, len, out);
	ck_assert_msg(rc == 0, "ft_vkey_parse(Go's %.*s) = %s", (int)len, s,
		      ft_errname(rc));
	vkey_string(out, again);
	ck_assert_msg(strlen(again) == len && memcmp(again, s, len) == 0,
		      "vkey round trip: Go %.*s, C %s", (int)len, s, again);
	if (str != NULL) {
		memcpy(str, s, len);
		str[len] = 0;
	}
	free(s);
}

static void read_skey(const char *dir, const char *name, ft_skey *out)
{
	size_t len;
	char *s = (char *)get_file(dir, name, &len);
	char again[FT_KEY_STR_MAX + 1];
	size_t alen = 0;

	ck_assert_msg(len > 1 && s[len - 1] == '\n', "%s: no newline", name);
	len--;
	int rc = ft_skey_parse(s, len, out);
	ck_assert_msg(rc == 0, "ft_skey_parse(Go's %s) = %s", name,
		      ft_errname(rc));
	ck_assert_int_eq(ft_skey_format(out, again, sizeof again, &alen), 0);
	ck_assert_msg(alen == len && memcmp(again, s, len) == 0,
		      "skey round trip of Go's %s differs", name);
	sodium_memzero(s, len); /* a signer key string */
	free(s);
}

static void read_entries(const char *dir, uint64_t want, struct entries *e)
{
	size_t len;
	char *text = (char *)get_file(dir, "entries", &len);
	uint8_t *ebuf = malloc(FT_ENTRY_MAX);
	size_t off = 0;

	ck_assert_ptr_nonnull(ebuf);
	memset(e, 0, sizeof *e);
	while (off < len) {
		char *nl = memchr(text + off, '\n', len - off);
		ck_assert_ptr_nonnull(nl);
		size_t n = 0, llen = (size_t)(nl - (text + off));
		int rc = ft_b64_decode(text + off, llen, ebuf, FT_ENTRY_MAX,
				       &n);
		ck_assert_msg(rc == 0, "entry %" PRIu64 ": %s", e->n,
			      ft_errname(rc));
		entries_add(e, ebuf, n);
		off += llen + 1;
	}
	ck_assert_uint_eq(e->n, want);
	free(ebuf);
	free(text);
}

/* A parsed proof line: "A B h1 h2 ...". */
struct proof_rec {
	uint64_t a, b;
	uint8_t hashes[FT_PROOF_MAX_CONSISTENCY * FT_HASH_LEN];
	size_t n;
};

/* Parse the next line at *pos; 0 at the end of text. */
static int next_proof(const char *text, size_t len, size_t *pos,
		      struct proof_rec *p)
{
	if (*pos >= len) {
		return 0;
	}
	const char *s = text + *pos;
	const char *nl = memchr(s, '\n', len - *pos);
	ck_assert_ptr_nonnull(nl);
	char *line = tu_strf("%.*s", (int)(nl - s), s);
	char *save = NULL, *tok;
	*pos += (size_t)(nl - s) + 1;

	memset(p, 0, sizeof *p);
	tok = strtok_r(line, " ", &save);
	ck_assert_ptr_nonnull(tok);
	p->a = strtoull(tok, NULL, 10);
	tok = strtok_r(NULL, " ", &save);
	ck_assert_ptr_nonnull(tok);
	p->b = strtoull(tok, NULL, 10);
	while ((tok = strtok_r(NULL, " ", &save)) != NULL) {
		size_t n = 0;
		ck_assert_uint_lt(p->n, FT_PROOF_MAX_CONSISTENCY);
		ck_assert_int_eq(ft_b64_decode(tok, strlen(tok),
					       p->hashes + p->n * FT_HASH_LEN,
					       FT_HASH_LEN, &n),
				 0);
		ck_assert_uint_eq(n, FT_HASH_LEN);
		p->n++;
	}
	free(line);
	return 1;
}

/* Every single-bit flip, a dropped and an extra hash: all rejected. */
static void tamper_inclusion(const struct proof_rec *p, const ft_hash *leaf,
			     const ft_hash *root)
{
	uint8_t bad[(FT_PROOF_MAX_INCLUSION + 1) * FT_HASH_LEN];
	size_t plen = p->n * FT_HASH_LEN;
	ft_hash leaf2 = *leaf;

	memcpy(bad, p->hashes, plen);
	for (size_t i = 0; i < plen; i++) {
		bad[i] ^= (uint8_t)(1u << (i % 8));
		ck_assert_int_eq(ft_proof_verify_inclusion(
					 p->a, p->b, leaf->b, FT_HASH_LEN, bad,
					 plen, root->b, FT_HASH_LEN),
				 FT_EPROOF_ROOT);
		bad[i] ^= (uint8_t)(1u << (i % 8));
	}
	ck_assert_int_eq(ft_proof_verify_inclusion(p->a, p->b, leaf->b,
						   FT_HASH_LEN, bad,
						   plen - FT_HASH_LEN, root->b,
						   FT_HASH_LEN),
			 FT_EPROOF_LEN);
	memcpy(bad + plen, bad, FT_HASH_LEN);
	ck_assert_int_eq(ft_proof_verify_inclusion(p->a, p->b, leaf->b,
						   FT_HASH_LEN, bad,
						   plen + FT_HASH_LEN, root->b,
						   FT_HASH_LEN),
			 FT_EPROOF_LEN);
	leaf2.b[0] ^= 0x80;
	ck_assert_int_eq(ft_proof_verify_inclusion(p->a, p->b, leaf2.b,
						   FT_HASH_LEN, p->hashes, plen,
						   root->b, FT_HASH_LEN),
			 FT_EPROOF_ROOT);
}

static void tamper_consistency(const struct proof_rec *p, const ft_hash *r1,
			       const ft_hash *r2)
{
	uint8_t bad[(FT_PROOF_MAX_CONSISTENCY + 1) * FT_HASH_LEN];
	size_t plen = p->n * FT_HASH_LEN;

	memcpy(bad, p->hashes, plen);
	for (size_t i = 0; i < plen; i++) {
		bad[i] ^= (uint8_t)(1u << (i % 8));
		ck_assert_int_eq(ft_proof_verify_consistency(
					 p->a, p->b, r1->b, FT_HASH_LEN, r2->b,
					 FT_HASH_LEN, bad, plen),
				 FT_EPROOF_ROOT);
		bad[i] ^= (uint8_t)(1u << (i % 8));
	}
	ck_assert_int_eq(ft_proof_verify_consistency(p->a, p->b, r1->b,
						     FT_HASH_LEN, r2->b,
						     FT_HASH_LEN, bad,
						     plen - FT_HASH_LEN),
			 FT_EPROOF_LEN);
	memcpy(bad + plen, bad, FT_HASH_LEN);
	ck_assert_int_eq(ft_proof_verify_consistency(p->a, p->b, r1->b,
						     FT_HASH_LEN, r2->b,
						     FT_HASH_LEN, bad,
						     plen + FT_HASH_LEN),
			 FT_EPROOF_LEN);
}

/*
 * Flip the low bit of each of the first `upto` bytes of a signed note whose
 * every signature is from a known key: ft_note_open must refuse it, or at
 * least no longer verify every key (a flip in a signer's name turns its
 * line into an unknown key's, which is ignored).
 */
static void tamper_note(const uint8_t *msg, size_t len, size_t upto,
			const ft_vkey *known, size_t nknown)
{
	uint8_t *bad = malloc(len);
	ft_note_sig status[4];
	size_t tl = 0;

	ck_assert_ptr_nonnull(bad);
	ck_assert_uint_le(nknown, 4);
	ck_assert_uint_le(upto, len);
	memcpy(bad, msg, len);
	for (size_t i = 0; i < upto; i++) {
		bad[i] ^= 0x01;
		int rc = ft_note_open(bad, len, known, nknown, status, &tl);
		if (rc == 0) {
			size_t nv = 0;
			for (size_t k = 0; k < nknown; k++) {
				nv += status[k].verified == 1;
			}
			ck_assert_msg(nv < nknown,
				      "note with byte %zu flipped verifies "
				      "all keys",
				      i);
		}
		bad[i] ^= 0x01;
	}
	free(bad);
}

/* Replace the base64 of `name`'s signature line in note by a version with
 * raw byte `at` xor 1. Returns a malloc'd note. */
static uint8_t *flip_sig_byte(const uint8_t *msg, size_t len,
			      const char *name, size_t at, size_t *out_len)
{
	char *prefix = tu_strf("\n" EM_DASH " %s ", name);
	const char *s = strstr((const char *)msg, prefix);
	ck_assert_ptr_nonnull(s);
	s += strlen(prefix);
	const char *nl = strchr(s, '\n');
	ck_assert_ptr_nonnull(nl);
	uint8_t raw[128];
	size_t n = 0;
	ck_assert_int_eq(ft_b64_decode(s, (size_t)(nl - s), raw, sizeof raw,
				       &n),
			 0);
	ck_assert_uint_lt(at, n);
	raw[at] ^= 1;
	char *enc = b64(raw, n);
	struct buf b = {0};
	buf_add(&b, msg, (size_t)(s - (const char *)msg));
	buf_add(&b, enc, strlen(enc));
	buf_add(&b, nl, len - (size_t)(nl - (const char *)msg));
	free(enc);
	free(prefix);
	*out_len = b.len;
	return b.p;
}

START_TEST(test_go_to_c)
{
	char *tmp = tu_tmpdir();
	ck_assert_ptr_nonnull(tmp);
	char *dir = tu_strf("%s/data", tmp);
	char *outp = tu_strf("%s/generate.out", tmp);
	char *out = NULL;
	struct manifest m;
	ft_vkey logv, secondv, witv;
	ft_skey logs, wits;
	struct entries e;
	struct store st;
	size_t len;
	ft_note_sig status[4];
	size_t text_len = 0;
	uint8_t *note = malloc(FT_NOTE_MAX_BYTES);

	ck_assert_ptr_nonnull(note);
	ck_assert_int_eq(ft_init(), 0);
	(void)go_bin();
	mkdir_p(dir);
	int rc = run_go("generate", dir, outp, &out);
	if (rc != 0) {
		dump_output("generate", out);
	}
	ck_assert_msg(rc == 0, "Go generate exit status %d", rc);
	free(out);

	read_manifest(dir, &m);
	ck_assert_uint_gt(m.ncps, 0);
	ck_assert_uint_eq(m.cos_at, m.cps[m.ncps - 1]);

	/* Keys: Go's strings parse, and format back identically. */
	read_vkey(dir, "log.vkey", &logv, NULL);
	read_vkey(dir, "second.vkey", &secondv, NULL);
	read_vkey(dir, "witness.vkey", &witv, NULL);
	read_skey(dir, "log.skey", &logs);
	read_skey(dir, "witness.skey", &wits);
	ck_assert_uint_eq(logv.type, FT_KEY_ED25519);
	ck_assert_uint_eq(witv.type, FT_KEY_COSIG_V1);
	ck_assert_str_eq(logv.name, m.origin);
	{
		ft_vkey pub;
		ft_skey_public(&logs, &pub);
		ck_assert_uint_eq(pub.id, logv.id);
		ck_assert_mem_eq(pub.pk, logv.pk, 32);
		ft_skey_public(&wits, &pub);
		ck_assert_uint_eq(pub.id, witv.id);
		ck_assert_uint_eq(pub.type, FT_KEY_COSIG_V1);
		ck_assert_mem_eq(pub.pk, witv.pk, 32);
		ck_assert_uint_eq(ft_key_id(logv.name, logv.name_len,
					    logv.type, logv.pk),
				  logv.id);
	}

	/* Entries, and the tree rebuilt in C. */
	read_entries(dir, m.entries, &e);
	ft_hash *roots = calloc(m.ncps, sizeof *roots);
	ck_assert_ptr_nonnull(roots);
	build_tree(&e, m.cps, m.ncps, &st, roots);
	ft_hash_reader r = store_reader(&st);

	/* Checkpoints: open, parse, same root as C, and C re-signing Go's
	 * text with Go's key reproduces Go's note byte for byte. */
	for (size_t k = 0; k < m.ncps; k++) {
		char *name = tu_strf("checkpoint/%" PRIu64, m.cps[k]);
		uint8_t *msg = get_file(dir, name, &len);
		ft_checkpoint cp;
		size_t sl = 0;
		uint8_t text[FT_KEY_NAME_MAX + 128];
		size_t tlen = 0;

		rc = ft_note_open(msg, len, &logv, 1, status, &text_len);
		ck_assert_msg(rc == 0, "ft_note_open(Go's %s) = %s", name,
			      ft_errname(rc));
		ck_assert_int_eq(status[0].verified, 1);
		rc = ft_checkpoint_parse(msg, text_len, m.origin,
					 strlen(m.origin), &cp);
		ck_assert_msg(rc == 0, "ft_checkpoint_parse(Go's %s) = %s",
			      name, ft_errname(rc));
		ck_assert_uint_eq(cp.size, m.cps[k]);
		ck_assert_uint_eq(cp.ext_len, 0);
		ck_assert_msg(hash_eq(&cp.root, &roots[k]),
			      "Go's root at %" PRIu64 " differs from C's",
			      m.cps[k]);
		ck_assert_int_eq(ft_checkpoint_format(&cp, text, sizeof text,
						      &tlen),
				 0);
		ck_assert_uint_eq(tlen, text_len);
		ck_assert_mem_eq(text, msg, tlen);
		ck_assert_int_eq(ft_note_sign(msg, text_len, &logs, 1, 0, note,
					      FT_NOTE_MAX_BYTES, &sl),
				 0);
		ck_assert_msg(sl == len && memcmp(note, msg, len) == 0,
			      "C signs Go's %s differently:\n%.*s", name,
			      (int)sl, note);
		/* Tampered copies: text, signature, any byte. */
		{
			uint8_t *bad = malloc(len);
			ck_assert_ptr_nonnull(bad);
			memcpy(bad, msg, len);
			char *rl = strchr(strchr((char *)bad, '\n') + 1, '\n') + 1;
			*rl = *rl == 'A' ? 'B' : 'A';
			ck_assert_int_eq(ft_note_open(bad, len, &logv, 1,
						      status, &text_len),
					 FT_ENOTE_BADSIG);
			free(bad);
			size_t blen = 0;
			bad = flip_sig_byte(msg, len, m.origin, 20, &blen);
			ck_assert_int_eq(ft_note_open(bad, blen, &logv, 1,
						      status, &text_len),
					 FT_ENOTE_BADSIG);
			free(bad);
			if (m.cps[k] == m.cos_at) {
				tamper_note(msg, len, len, &logv, 1);
			}
		}
		free(msg);
		free(name);
	}

	/* Inclusion proofs: verify against Go's checkpoint roots (equal to
	 * C's, checked above), C generates the same proof from its stored
	 * hashes, and the longest one is tampered with. */
	{
		char *text = (char *)get_file(dir, "inclusion", &len);
		size_t pos = 0, count = 0, longest = 0;
		struct proof_rec *p = malloc(sizeof *p), *lp = malloc(sizeof *lp);
		ft_hash mine[FT_PROOF_MAX_INCLUSION], lleaf;
		size_t mn = 0;
		ck_assert_ptr_nonnull(p);
		ck_assert_ptr_nonnull(lp);
		while (next_proof(text, len, &pos, p)) {
			int k = cp_index(&m, p->b);
			ft_hash leaf;
			size_t elen;
			const uint8_t *ent = entry_at(&e, p->a, &elen);
			ck_assert_int_ge(k, 0);
			ft_merkle_leaf_hash(ent, elen, &leaf);
			rc = ft_proof_verify_inclusion(
				p->a, p->b, leaf.b, FT_HASH_LEN, p->hashes,
				p->n * FT_HASH_LEN, roots[k].b, FT_HASH_LEN);
			ck_assert_msg(rc == 0,
				      "Go inclusion proof %" PRIu64 " %" PRIu64
				      ": %s",
				      p->a, p->b, ft_errname(rc));
			ck_assert_int_eq(ft_proof_inclusion(p->a, p->b, &r,
							    mine, &mn),
					 0);
			ck_assert_msg(mn == p->n &&
					      memcmp(mine, p->hashes,
						     mn * FT_HASH_LEN) == 0,
				      "C inclusion proof %" PRIu64 " %" PRIu64
				      " differs from Go's",
				      p->a, p->b);
			if (p->n >= longest) {
				longest = p->n;
				*lp = *p;
				lleaf = leaf;
			}
			count++;
		}
		ck_assert_uint_gt(count, 300);
		ck_assert_uint_gt(longest, 10);
		tamper_inclusion(lp, &lleaf, &roots[cp_index(&m, lp->b)]);
		free(p);
		free(lp);
		free(text);
	}

	/* Consistency proofs, the same way. */
	{
		char *text = (char *)get_file(dir, "consistency", &len);
		size_t pos = 0, count = 0, longest = 0;
		struct proof_rec *p = malloc(sizeof *p), *lp = malloc(sizeof *lp);
		ft_hash mine[FT_PROOF_MAX_CONSISTENCY];
		size_t mn = 0;
		ck_assert_ptr_nonnull(p);
		ck_assert_ptr_nonnull(lp);
		while (next_proof(text, len, &pos, p)) {
			int k1 = cp_index(&m, p->a), k2 = cp_index(&m, p->b);
			ck_assert_int_ge(k1, 0);
			ck_assert_int_ge(k2, 0);
			rc = ft_proof_verify_consistency(
				p->a, p->b, roots[k1].b, FT_HASH_LEN,
				roots[k2].b, FT_HASH_LEN, p->hashes,
				p->n * FT_HASH_LEN);
			ck_assert_msg(rc == 0,
				      "Go consistency proof %" PRIu64
				      " %" PRIu64 ": %s",
				      p->a, p->b, ft_errname(rc));
			ck_assert_int_eq(ft_proof_consistency(p->a, p->b, &r,
							      mine, &mn),
					 0);
			ck_assert_msg(mn == p->n &&
					      memcmp(mine, p->hashes,
						     mn * FT_HASH_LEN) == 0,
				      "C consistency proof %" PRIu64
				      " %" PRIu64 " differs from Go's",
				      p->a, p->b);
			if (p->n >= longest) {
				longest = p->n;
				*lp = *p;
			}
			count++;
		}
		ck_assert_uint_eq(count, m.ncps * (m.ncps + 1) / 2);
		ck_assert_uint_gt(longest, 10);
		tamper_consistency(lp, &roots[cp_index(&m, lp->a)],
				   &roots[cp_index(&m, lp->b)]);
		free(p);
		free(lp);
		free(text);
	}

	/* Tiles: exactly the C2SP set, each parsed from its path and equal
	 * to the tile C rebuilds; then proofs read through Go's tiles with
	 * ft_tile_reader equal Go's proofs. */
	for (size_t k = 0; k < m.ntiles; k++) {
		uint64_t size = m.tiles[k];
		int ki = cp_index(&m, size);
		struct tile_list tl;
		struct buf mine = {0};
		char *tdir = tu_strf("%s/tiles/%" PRIu64, dir, size);

		ck_assert_int_ge(ki, 0);
		tiles_at(size, &tl);
		ck_assert_uint_eq(count_files(tdir), tl.n);
		for (size_t i = 0; i < tl.n; i++) {
			char *p = tile_path(&tl.t[i]);
			char *name = tu_strf("tiles/%" PRIu64 "/%s", size, p);
			uint8_t *data = get_file(dir, name, &len);
			ft_tile parsed;
			ck_assert_int_eq(ft_tile_parse_path(p, strlen(p),
							    &parsed),
					 0);
			ck_assert_int_eq(cmp_tile(&parsed, &tl.t[i]), 0);
			char *slashed = tu_strf("/%s", p);
			ck_assert_int_eq(ft_tile_parse_path(slashed,
							    strlen(slashed),
							    &parsed),
					 0);
			ck_assert_int_eq(cmp_tile(&parsed, &tl.t[i]), 0);
			free(slashed);
			tile_data(&tl.t[i], &st, &e, &mine);
			ck_assert_msg(mine.len == len &&
					      memcmp(mine.p, data, len) == 0,
				      "Go's %s differs from C's (%zu vs %zu "
				      "bytes)",
				      name, len, mine.len);
			if (tl.t[i].level == FT_TILE_ENTRIES) {
				ft_bundle_iter it;
				const uint8_t *ep;
				size_t el, j = 0;
				ck_assert_int_eq(ft_bundle_check(data, len,
								 tl.t[i].width),
						 0);
				ft_bundle_iter_init(&it, data, len);
				while ((rc = ft_bundle_next(&it, &ep, &el)) == 1) {
					size_t wl;
					const uint8_t *w = entry_at(
						&e, tl.t[i].index * 256 + j,
						&wl);
					ck_assert_uint_eq(el, wl);
					ck_assert(el == 0 ||
						  memcmp(ep, w, el) == 0);
					j++;
				}
				ck_assert_int_eq(rc, 0);
				ck_assert_uint_eq(j, tl.t[i].width);
			} else {
				ck_assert_uint_eq(len, (size_t)tl.t[i].width *
							       FT_HASH_LEN);
			}
			free(data);
			free(name);
			free(p);
		}

		/* The tree and proofs through ft_tile_reader on Go's tiles. */
		struct tile_dir td = {tdir, 0};
		ft_tile_reader *tr = malloc(sizeof *tr);
		ft_hash_reader thr;
		ft_hash proof[FT_PROOF_MAX_CONSISTENCY],
			want[FT_PROOF_MAX_CONSISTENCY];
		size_t pn = 0, wn = 0;
		ck_assert_ptr_nonnull(tr);
		ft_tile_reader_init(tr, size, tile_fetch, &td);
		ft_tile_reader_as_hash_reader(tr, &thr);
		ft_hash th;
		ck_assert_int_eq(ft_tree_hash_at(size, &thr, &th), 0);
		ck_assert_msg(hash_eq(&th, &roots[ki]),
			      "tree hash from Go's tiles at %" PRIu64
			      " differs",
			      size);
		for (uint64_t idx = 0; idx < size;
		     idx = idx < 3 ? idx + 1 : idx * 3 + 1) {
			ck_assert_int_eq(ft_proof_inclusion(idx, size, &thr,
							    proof, &pn),
					 0);
			ck_assert_int_eq(ft_proof_inclusion(idx, size, &r, want,
							    &wn),
					 0);
			ck_assert_uint_eq(pn, wn);
			ck_assert_mem_eq(proof, want, pn * FT_HASH_LEN);
		}
		for (size_t j = 0; j < m.ncps && m.cps[j] <= size; j++) {
			ck_assert_int_eq(ft_proof_consistency(m.cps[j], size,
							      &thr, proof, &pn),
					 0);
			ck_assert_int_eq(ft_proof_consistency(m.cps[j], size,
							      &r, want, &wn),
					 0);
			ck_assert_uint_eq(pn, wn);
			ck_assert_mem_eq(proof, want, pn * FT_HASH_LEN);
			ck_assert_int_eq(ft_proof_verify_consistency(
						 m.cps[j], size, roots[j].b,
						 FT_HASH_LEN, roots[ki].b,
						 FT_HASH_LEN, proof[0].b,
						 pn * FT_HASH_LEN),
					 0);
		}
		ck_assert_uint_gt(td.fetches, 0);
		free(tr);
		free(tdir);
		buf_free(&mine);
		free(tl.t);
	}

	/* The cosigned checkpoint: both signatures verify, the timestamp is
	 * Go's, C cosigning Go's checkpoint with Go's witness key reproduces
	 * it, and a changed timestamp or a flipped byte is rejected. */
	{
		uint8_t *cos = get_file(dir, "cosigned", &len);
		char *name = tu_strf("checkpoint/%" PRIu64, m.cos_at);
		size_t plen = 0, nl = 0;
		uint8_t *plain = get_file(dir, name, &plen);
		ft_vkey both[2] = {logv, witv};

		rc = ft_note_open(cos, len, both, 2, status, &text_len);
		ck_assert_msg(rc == 0, "ft_note_open(Go's cosigned) = %s",
			      ft_errname(rc));
		ck_assert_int_eq(status[0].verified, 1);
		ck_assert_int_eq(status[1].verified, 1);
		ck_assert_uint_eq(status[1].timestamp, m.cos_ts);
		rc = ft_note_open(cos, len, &witv, 1, status, &text_len);
		ck_assert_msg(rc == 0, "ft_note_open(cosigned, witness) = %s",
			      ft_errname(rc));
		ck_assert_uint_eq(status[0].timestamp, m.cos_ts);

		ck_assert_uint_le(plen, FT_NOTE_MAX_BYTES);
		memcpy(note, plain, plen);
		nl = plen;
		ck_assert_int_eq(ft_cosig_add(&wits, m.cos_ts, note,
					      FT_NOTE_MAX_BYTES, &nl),
				 0);
		ck_assert_msg(nl == len && memcmp(note, cos, len) == 0,
			      "C cosigns Go's checkpoint differently:\n%.*s",
			      (int)nl, note);

		size_t blen = 0;
		/* Raw bytes 4..11 are the timestamp: flip its lowest bit. */
		uint8_t *bad = flip_sig_byte(cos, len, witv.name, 11, &blen);
		ck_assert_int_eq(ft_note_open(bad, blen, both, 2, status,
					      &text_len),
				 FT_ENOTE_BADSIG);
		free(bad);
		bad = flip_sig_byte(cos, len, witv.name, 40, &blen);
		ck_assert_int_eq(ft_note_open(bad, blen, both, 2, status,
					      &text_len),
				 FT_ENOTE_BADSIG);
		free(bad);
		tamper_note(cos, len, len, both, 2);
		free(plain);
		free(name);
		free(cos);
	}

	/* Several signatures, one from a key nobody was told about. */
	{
		uint8_t *msg = get_file(dir, "multisig.note", &len);
		ft_vkey two[2] = {logv, secondv};
		rc = ft_note_open(msg, len, two, 2, status, &text_len);
		ck_assert_msg(rc == 0, "ft_note_open(Go's multisig) = %s",
			      ft_errname(rc));
		ck_assert_int_eq(status[0].verified, 1);
		ck_assert_int_eq(status[1].verified, 1);
		ck_assert_int_eq(ft_note_open(msg, len, &secondv, 1, status,
					      &text_len),
				 0);
		ck_assert_int_eq(ft_note_open(msg, len, &witv, 1, status,
					      &text_len),
				 FT_ENOTE_NOKEY);
		/* One bad signature from a known key spoils the note, even
		 * though the other known key's signature is good (Go). */
		size_t blen = 0;
		uint8_t *bad = flip_sig_byte(msg, len, secondv.name, 30, &blen);
		ck_assert_int_eq(ft_note_open(bad, blen, two, 2, status,
					      &text_len),
				 FT_ENOTE_BADSIG);
		ck_assert_int_eq(ft_note_open(bad, blen, &logv, 1, status,
					      &text_len),
				 0);
		free(bad);
		/* The unknown key's line may change freely: flip the text
		 * and the blank line only. */
		ck_assert_int_eq(ft_note_open(msg, len, two, 2, status,
					      &text_len),
				 0);
		tamper_note(msg, len, text_len + 1, two, 2);
		free(msg);
		msg = get_file(dir, "unknown.note", &len);
		ck_assert_int_eq(ft_note_open(msg, len, two, 2, status,
					      &text_len),
				 FT_ENOTE_NOKEY);
		free(msg);
	}

	/* tlog-proofs: parse, open the checkpoint, verify the inclusion,
	 * and C formats the same bytes. */
	{
		uint8_t *extra = malloc(FT_ENTRY_MAX);
		uint8_t *again = malloc(FT_TLOG_PROOF_MAX);
		ft_tlog_proof *tp = malloc(sizeof *tp);
		ft_vkey both[2] = {logv, witv};
		ck_assert_ptr_nonnull(extra);
		ck_assert_ptr_nonnull(again);
		ck_assert_ptr_nonnull(tp);
		for (size_t i = 0; i < m.ntps; i++) {
			char *name = tu_strf("tlogproof/%" PRIu64, m.tps[i]);
			uint8_t *data = get_file(dir, name, &len);
			size_t el, alen = 0;
			const uint8_t *want = entry_at(&e, m.tps[i], &el);
			ft_checkpoint cp;
			ft_hash leaf;

			rc = ft_tlog_proof_parse(data, len, tp, extra,
						 FT_ENTRY_MAX);
			ck_assert_msg(rc == 0, "ft_tlog_proof_parse(Go's %s) = %s",
				      name, ft_errname(rc));
			ck_assert_uint_eq(tp->index, m.tps[i]);
			/* An empty entry has no extra line (an empty
			 * extra is not canonical). */
			ck_assert_int_eq(tp->has_extra, el != 0);
			ck_assert_uint_eq(tp->extra_len, el);
			ck_assert_mem_eq(extra, want, el);
			rc = ft_note_open(tp->checkpoint, tp->checkpoint_len,
					  both, 2, status, &text_len);
			ck_assert_msg(rc == 0, "%s: ft_note_open = %s", name,
				      ft_errname(rc));
			ck_assert_int_eq(status[1].verified, 1);
			ck_assert_int_eq(ft_checkpoint_parse(
						 tp->checkpoint, text_len,
						 m.origin, strlen(m.origin),
						 &cp),
					 0);
			ft_merkle_leaf_hash(extra, tp->extra_len, &leaf);
			ck_assert_int_eq(ft_proof_verify_inclusion(
						 tp->index, cp.size, leaf.b,
						 FT_HASH_LEN, tp->path[0].b,
						 tp->path_len * FT_HASH_LEN,
						 cp.root.b, FT_HASH_LEN),
					 0);
			ck_assert_int_eq(ft_tlog_proof_format(
						 tp->has_extra ? extra : NULL,
						 tp->extra_len, tp->index,
						 tp->path, tp->path_len,
						 tp->checkpoint,
						 tp->checkpoint_len, again,
						 FT_TLOG_PROOF_MAX, &alen),
					 0);
			ck_assert_msg(alen == len &&
					      memcmp(again, data, len) == 0,
				      "C formats Go's %s differently", name);
			free(data);
			free(name);
		}
		free(extra);
		free(again);
		free(tp);
	}

	ft_skey_wipe(&logs);
	ft_skey_wipe(&wits);
	store_free(&st);
	entries_free(&e);
	free(roots);
	free(note);
	free(outp);
	free(dir);
	tu_rmtree(tmp);
	free(tmp);
}
END_TEST

/* ---- The Go documentation key pair (shared/vectors/notes.txt). -------- */

/* The line `skip` lines after the first line starting with prefix (0: that
 * line itself), malloc'd, without its newline. */
static char *vector_line(const char *text, const char *prefix, int skip)
{
	const char *s = text;

	for (;;) {
		if (strncmp(s, prefix, strlen(prefix)) == 0) {
			break;
		}
		s = strchr(s, '\n');
		ck_assert_msg(s != NULL, "notes.txt: no line \"%s\"", prefix);
		s++;
	}
	for (int i = 0; i < skip; i++) {
		s = strchr(s, '\n');
		ck_assert_ptr_nonnull(s);
		s++;
	}
	const char *e = strchr(s, '\n');
	ck_assert_ptr_nonnull(e);
	return tu_strf("%.*s", (int)(e - s), s);
}

START_TEST(test_known_key)
{
	char *path = tu_strf("%s/notes.txt", tu_vectors_dir());
	size_t len;
	char *vec = (char *)tu_read_file(path, &len);
	ck_assert_msg(vec != NULL, "cannot read %s", path);
	char *skey = vector_line(vec, "skey: PRIVATE+KEY+PeterNeumann+", 0);
	char *vkey = vector_line(vec, "vkey: PeterNeumann+", 0);
	char *l1 = vector_line(vec, "text (", 1);
	char *l2 = vector_line(vec, "text (", 2);
	char *sigline = vector_line(vec, "signature line", 1);
	char *text = tu_strf("%s\n%s\n", l1, l2);
	char *expect = tu_strf("%s\n%s\n", text, sigline);
	ft_skey sk;
	ft_vkey vk;
	char line[FT_NOTE_SIG_LINE_MAX + 1];
	uint8_t signed_c[1024];
	size_t ll = 0, sl = 0, tl = 0;
	ft_note_sig status[1];

	ck_assert_int_eq(ft_init(), 0);
	/* Drop the "skey: " and "vkey: " labels. */
	memmove(skey, skey + strlen("skey: "), strlen(skey) - 5);
	memmove(vkey, vkey + strlen("vkey: "), strlen(vkey) - 5);
	ck_assert_int_eq(ft_skey_parse(skey, strlen(skey), &sk), 0);
	ck_assert_int_eq(ft_vkey_parse(vkey, strlen(vkey), &vk), 0);

	/* C reproduces the documented signature line... */
	ck_assert_int_eq(ft_note_sig_line(&sk, (const uint8_t *)text,
					  strlen(text), 0, line, sizeof line,
					  &ll),
			 0);
	ck_assert_uint_eq(ll, strlen(sigline) + 1);
	ck_assert_mem_eq(line, sigline, ll - 1);
	ck_assert_int_eq(ft_note_sign((const uint8_t *)text, strlen(text), &sk,
				      1, 0, signed_c, sizeof signed_c, &sl),
			 0);
	ck_assert_uint_eq(sl, strlen(expect));
	ck_assert_mem_eq(signed_c, expect, sl);
	ck_assert_int_eq(ft_note_open(signed_c, sl, &vk, 1, status, &tl), 0);
	ck_assert_uint_eq(tl, strlen(text));

	/* ...and Go's note.NewSigner/note.Sign on the same skey agrees. */
	char *tmp = tu_tmpdir();
	ck_assert_ptr_nonnull(tmp);
	char *skline = tu_strf("%s\n", skey);
	char *outp = tu_strf("%s/sign.out", tmp);
	char *out = NULL;
	put_file(tmp, "skey", skline, strlen(skline));
	put_file(tmp, "text", text, strlen(text));
	int st = run_go("sign", tmp, outp, &out);
	ck_assert_msg(st == 0, "Go sign exit status %d:\n%s", st, out);
	uint8_t *go_signed = get_file(tmp, "signed", &len);
	ck_assert_msg(len == sl && memcmp(go_signed, signed_c, sl) == 0,
		      "Go signs:\n%s\nC signs:\n%.*s", (char *)go_signed,
		      (int)sl, signed_c);

	ft_skey_wipe(&sk);
	free(go_signed);
	free(out);
	free(outp);
	free(skline);
	tu_rmtree(tmp);
	free(tmp);
	free(expect);
	free(text);
	free(sigline);
	free(l2);
	free(l1);
	free(vkey);
	free(skey);
	free(vec);
	free(path);
}
END_TEST

/* ---- Differential parsing: Go's verdict against libftmerkle's. -------- */

/*
 * How C's verdict may relate to Go's for one input:
 *   SAME        identical (accept/reject, and what was accepted);
 *   C_STRICTER  C may reject what Go accepts: ftlog's documented, stricter
 *               choices (canonical base64 only, no control characters in
 *               key names, size caps); Go's lenient base64 skips \r, \n;
 *   C_EXTENSION C may accept what Go rejects: key type 0x04
 *               (tlog-cosignature), which note.NewVerifier does not know.
 */
enum rel { SAME, C_STRICTER, C_EXTENSION };

struct dcase {
	char *what; /* malloc'd description */
	struct buf in;
	enum rel rel;
	char *c_verdict; /* malloc'd, same form as Go's line tail */
};

struct dcases {
	struct dcase *v;
	size_t n, cap;
};

static struct dcase *dc_add(struct dcases *l, const char *what,
			    const void *p, size_t len, enum rel rel)
{
	if (l->n == l->cap) {
		l->cap = l->cap ? 2 * l->cap : 64;
		l->v = realloc(l->v, l->cap * sizeof *l->v);
		ck_assert_ptr_nonnull(l->v);
	}
	struct dcase *c = &l->v[l->n++];
	memset(c, 0, sizeof *c);
	c->what = tu_strf("%s", what);
	buf_add(&c->in, p, len);
	c->rel = rel;
	return c;
}

static void dc_free(struct dcases *l)
{
	for (size_t i = 0; i < l->n; i++) {
		free(l->v[i].what);
		free(l->v[i].c_verdict);
		buf_free(&l->v[i].in);
	}
	free(l->v);
	memset(l, 0, sizeof *l);
}

static void dc_write_hex(const char *dir, const char *name,
			 const struct dcases *l)
{
	struct buf b = {0};

	for (size_t i = 0; i < l->n; i++) {
		for (size_t j = 0; j < l->v[i].in.len; j++) {
			buf_printf(&b, "%02x", l->v[i].in.p[j]);
		}
		buf_printf(&b, "\n");
	}
	put_file(dir, name, b.p, b.len);
	buf_free(&b);
}

static char *hexstr(const void *p, size_t n)
{
	char *s = malloc(2 * n + 1);

	ck_assert_ptr_nonnull(s);
	for (size_t i = 0; i < n; i++) {
		snprintf(s + 2 * i, 3, "%02x", ((const uint8_t *)p)[i]);
	}
	s[2 * n] = 0;
	return s;
}

/* Printable rendering of a candidate for messages. */
static char *show(const struct buf *b)
{
	struct buf o = {0};
	size_t n = b->len > 160 ? 160 : b->len;

	for (size_t i = 0; i < n; i++) {
		uint8_t c = b->p[i];
		if (c >= 0x20 && c < 0x7f && c != '\\') {
			buf_add(&o, &c, 1);
		} else {
			buf_printf(&o, "\\x%02x", c);
		}
	}
	if (n < b->len) {
		buf_printf(&o, "...(%zu bytes)", b->len);
	}
	buf_add(&o, "", 0);
	return (char *)o.p;
}

/* Go's verdict for "<kind> <i> ..." in the parse output. */
static const char *go_verdict(char **lines, size_t n, const char *kind,
			      size_t i)
{
	char *prefix = tu_strf("%s %zu ", kind, i);
	const char *found = NULL;

	for (size_t k = 0; k < n; k++) {
		if (strncmp(lines[k], prefix, strlen(prefix)) == 0) {
			found = lines[k] + strlen(prefix);
			break;
		}
	}
	free(prefix);
	return found;
}

/* Compare; print and count disagreements. */
static size_t dc_compare(const struct dcases *l, const char *kind,
			 char **lines, size_t n)
{
	size_t bad = 0;

	for (size_t i = 0; i < l->n; i++) {
		const struct dcase *c = &l->v[i];
		const char *g = go_verdict(lines, n, kind, i);
		int g_acc, c_acc, ok;
		ck_assert_msg(g != NULL, "Go printed no verdict for %s %zu",
			      kind, i);
		g_acc = strncmp(g, "accept", 6) == 0 ||
			strcmp(g, "valid") == 0;
		c_acc = strncmp(c->c_verdict, "accept", 6) == 0 ||
			strcmp(c->c_verdict, "valid") == 0;
		ok = strcmp(g, c->c_verdict) == 0 ||
		     (c->rel == C_STRICTER && g_acc && !c_acc) ||
		     (c->rel == C_EXTENSION && !g_acc && c_acc);
		if (!ok || getenv("FTLOG_INTEROP_VERBOSE") != NULL) {
			char *sh = show(&c->in);
			fprintf(stderr, "%s %s %zu (%s): Go \"%s\", C \"%s\"; "
				"input \"%s\"\n",
				ok ? "agree" : "DISAGREE", kind, i, c->what, g,
				c->c_verdict, sh);
			free(sh);
			bad += !ok;
		}
	}
	return bad;
}

#define LIT(s) (s), (sizeof(s) - 1)

static void name_cases(struct dcases *l)
{
	static const struct {
		const char *p;
		size_t len;
		enum rel rel;
		const char *what;
	} t[] = {
		{LIT("a"), SAME, "one letter"},
		{LIT("example.com/log"), SAME, "URL-like"},
		{LIT("\xc3\xbcn\xc3\xaf" "c\xc3\xb6" "d\xc3\xa9"), SAME,
		 "Latin-1 letters"},
		{LIT("\xe6\x97\xa5\xe6\x9c\xac"), SAME, "CJK"},
		{LIT("a\xef\xbf\xbd"), SAME, "U+FFFD literal"},
		{LIT("a\xe2\x80\x8b"), SAME, "U+200B zero width space (Cf)"},
		{LIT("a\xef\xbb\xbf"), SAME, "U+FEFF (Cf)"},
		{LIT("a\xe1\xa0\x8e"), SAME, "U+180E (Cf since Unicode 6.3)"},
		{LIT("a~!@#$%^&*()=\"'"), SAME, "ASCII punctuation"},
		{LIT("\xf0\x9f\x94\x92"), SAME, "4-byte UTF-8"},
		{LIT(""), SAME, "empty"},
		{LIT("a b"), SAME, "space"},
		{LIT("a+b"), SAME, "plus"},
		{LIT("a\tb"), SAME, "tab"},
		{LIT("a\nb"), SAME, "newline"},
		{LIT("a\x0b" "b"), SAME, "VT"},
		{LIT("a\x0c" "b"), SAME, "FF"},
		{LIT("a\rb"), SAME, "CR"},
		{LIT("a\xc2\x85" "b"), SAME, "U+0085 NEL (space)"},
		{LIT("a\xc2\xa0" "b"), SAME, "U+00A0 NBSP"},
		{LIT("a\xe1\x9a\x80"), SAME, "U+1680"},
		{LIT("a\xe2\x80\x80"), SAME, "U+2000"},
		{LIT("a\xe2\x80\x8a"), SAME, "U+200A"},
		{LIT("a\xe2\x80\xa8"), SAME, "U+2028"},
		{LIT("a\xe2\x80\xa9"), SAME, "U+2029"},
		{LIT("a\xe2\x80\xaf"), SAME, "U+202F"},
		{LIT("a\xe2\x81\x9f"), SAME, "U+205F"},
		{LIT("a\xe3\x80\x80"), SAME, "U+3000"},
		{LIT("a\xff"), SAME, "invalid byte"},
		{LIT("a\xc0\x80"), SAME, "overlong NUL"},
		{LIT("a\xc1\xbf"), SAME, "overlong 2-byte"},
		{LIT("a\xe0\x80\xaf"), SAME, "overlong 3-byte"},
		{LIT("a\xed\xa0\x80"), SAME, "surrogate"},
		{LIT("\xf4\x90\x80\x80"), SAME, "above U+10FFFF"},
		{LIT("a\xe2\x82"), SAME, "truncated sequence"},
		{LIT("a\x80"), SAME, "lone continuation byte"},
		{LIT("a\x01" "b"), C_STRICTER, "C0 control (not a space)"},
		{LIT("a\x00" "b"), C_STRICTER, "NUL"},
		{LIT("a\x7f"), SAME, "DEL (C2SP forbids only C0 controls)"},
		{LIT("a\xc2\x80"), SAME, "C1 control U+0080"},
	};
	char big[300];

	for (size_t i = 0; i < NELEM(t); i++) {
		dc_add(l, t[i].what, t[i].p, t[i].len, t[i].rel);
	}
	memset(big, 'n', sizeof big);
	dc_add(l, "255 bytes", big, 255, SAME);
	dc_add(l, "256 bytes (C caps names at 255)", big, 256, C_STRICTER);
	for (size_t i = 0; i < l->n; i++) {
		struct dcase *c = &l->v[i];
		c->c_verdict = tu_strf(
			"%s", ft_key_name_valid((const char *)c->in.p, c->in.len)
				      ? "valid"
				      : "invalid");
	}
}

/* key id = SHA-256(name || "\n" || key bytes)[:4], any key length. */
static uint32_t raw_key_id(const char *name, const uint8_t *key, size_t n)
{
	struct sha256_ctx h;
	uint8_t d[SHA256_DIGEST_SIZE];

	sha256_init(&h);
	sha256_update(&h, strlen(name), (const uint8_t *)name);
	sha256_update(&h, 1, (const uint8_t *)"\n");
	sha256_update(&h, n, key);
	sha256_digest(&h, sizeof d, d);
	return (uint32_t)d[0] << 24 | (uint32_t)d[1] << 16 |
	       (uint32_t)d[2] << 8 | d[3];
}

/* "name+id+base64(key)" with the id computed over exactly these bytes. */
static char *raw_vkey(const char *name, const uint8_t *key, size_t n,
		      int upper)
{
	char *k = b64(key, n);
	uint32_t kid = raw_key_id(name, key, n);
	char *id = upper ? tu_strf("%08" PRIX32, kid) : tu_strf("%08" PRIx32, kid);
	char *s = tu_strf("%s+%s+%s", name, id, k);

	free(k);
	free(id);
	return s;
}

static void key_cases(struct dcases *vk, struct dcases *sk)
{
	ft_skey k, k4, ku;
	ft_vkey v;
	char vs[FT_KEY_STR_MAX + 1], ss[FT_KEY_STR_MAX + 1];
	size_t len = 0;
	uint8_t raw[40];
	char *s;

	key_from_tag("ftlog.example/k", FT_KEY_ED25519, 9, &k);
	key_from_tag("ftlog.example/k", FT_KEY_COSIG_V1, 9, &k4);
	key_from_tag("ftlog.example/\xd0\xba\xd0\xbb\xd1\x8e\xd1\x87",
		     FT_KEY_ED25519, 10, &ku);
	ft_skey_public(&k, &v);
	vkey_string(&v, vs);
	ck_assert_int_eq(ft_skey_format(&k, ss, sizeof ss, &len), 0);
	size_t nl = strlen("ftlog.example/k"); /* the '+' before the id */

	dc_add(vk, "canonical", vs, strlen(vs), SAME);
	s = tu_strf("%s", vs);
	for (char *p = s + nl + 1; p < s + nl + 9; p++) {
		if (*p >= 'a' && *p <= 'f') {
			*p = (char)(*p - 'a' + 'A');
		}
	}
	dc_add(vk, "uppercase key id", s, strlen(s), SAME);
	free(s);
	s = tu_strf("%s", vs);
	s[nl + 8] = s[nl + 8] == '0' ? '1' : '0';
	dc_add(vk, "wrong key id", s, strlen(s), SAME);
	free(s);
	s = tu_strf("%.*s%s", (int)(nl + 1), vs, vs + nl + 2);
	dc_add(vk, "7-digit key id", s, strlen(s), SAME);
	free(s);
	s = tu_strf("%.*s0%s", (int)(nl + 1), vs, vs + nl + 1);
	dc_add(vk, "9-digit key id", s, strlen(s), SAME);
	free(s);
	raw[0] = 0x01;
	memcpy(raw + 1, v.pk, 32);
	raw[0] = 0x02;
	s = raw_vkey("ftlog.example/k", raw, 33, 0);
	dc_add(vk, "type 0x02", s, strlen(s), SAME);
	free(s);
	raw[0] = 0x04;
	s = raw_vkey("ftlog.example/k", raw, 33, 0);
	dc_add(vk, "type 0x04 (cosignature)", s, strlen(s), C_EXTENSION);
	free(s);
	raw[0] = 0x01;
	s = raw_vkey("ftlog.example/k", raw, 32, 0);
	dc_add(vk, "31-byte key", s, strlen(s), SAME);
	free(s);
	raw[33] = 7;
	s = raw_vkey("ftlog.example/k", raw, 34, 0);
	dc_add(vk, "33-byte key", s, strlen(s), SAME);
	free(s);
	s = raw_vkey("ftlog.example/k", raw, 1, 0);
	dc_add(vk, "type byte only", s, strlen(s), SAME);
	free(s);
	s = raw_vkey("", raw, 33, 0);
	dc_add(vk, "empty name", s, strlen(s), SAME);
	free(s);
	s = raw_vkey("ftlog.example/k\xc2\xa0", raw, 33, 0);
	dc_add(vk, "NBSP in name", s, strlen(s), SAME);
	free(s);
	s = raw_vkey("ftlog.example/k\x7f", raw, 33, 0);
	dc_add(vk, "DEL in name", s, strlen(s), SAME);
	free(s);
	s = raw_vkey("k", raw, 33, 1);
	dc_add(vk, "uppercase id, short name", s, strlen(s), SAME);
	free(s);
	ft_skey_public(&ku, &v);
	vkey_string(&v, ss);
	dc_add(vk, "UTF-8 name", ss, strlen(ss), SAME);
	ck_assert_int_eq(ft_skey_format(&k, ss, sizeof ss, &len), 0);
	s = tu_strf("%s\n", vs);
	dc_add(vk, "trailing newline", s, strlen(s), C_STRICTER);
	free(s);
	s = tu_strf("%s\r", vs);
	dc_add(vk, "trailing CR", s, strlen(s), C_STRICTER);
	free(s);
	s = tu_strf("%.*s\n%s", (int)(strlen(vs) - 10), vs, vs + strlen(vs) - 10);
	dc_add(vk, "newline inside the base64", s, strlen(s), C_STRICTER);
	free(s);
	s = tu_strf("%s+extra", vs);
	dc_add(vk, "extra field", s, strlen(s), SAME);
	free(s);
	s = tu_strf(" %s", vs);
	dc_add(vk, "leading space", s, strlen(s), SAME);
	free(s);
	s = tu_strf("%s ", vs);
	dc_add(vk, "trailing space", s, strlen(s), SAME);
	free(s);
	s = tu_strf("%s=", vs);
	dc_add(vk, "extra padding", s, strlen(s), SAME);
	free(s);
	s = tu_strf("%.*s", (int)(strlen(vs) - 1), vs);
	dc_add(vk, "truncated base64", s, strlen(s), SAME);
	free(s);
	dc_add(vk, "empty", "", 0, SAME);
	s = tu_strf("%.*s0x%s", (int)(nl + 1), vs, vs + nl + 3);
	dc_add(vk, "0x-prefixed id", s, strlen(s), SAME);
	free(s);

	dc_add(sk, "canonical", ss, strlen(ss), SAME);
	s = tu_strf("%s", ss);
	for (char *p = s + strlen("PRIVATE+KEY+") + nl + 1;
	     p < s + strlen("PRIVATE+KEY+") + nl + 9; p++) {
		if (*p >= 'a' && *p <= 'f') {
			*p = (char)(*p - 'a' + 'A');
		}
	}
	dc_add(sk, "uppercase key id", s, strlen(s), SAME);
	free(s);
	s = tu_strf("%s", ss);
	s[strlen("PRIVATE+KEY+") + nl + 8] =
		s[strlen("PRIVATE+KEY+") + nl + 8] == '0' ? '1' : '0';
	dc_add(sk, "wrong key id", s, strlen(s), SAME);
	free(s);
	s = tu_strf("private+key+%s", ss + strlen("PRIVATE+KEY+"));
	dc_add(sk, "lowercase PRIVATE+KEY", s, strlen(s), SAME);
	free(s);
	s = tu_strf("PRIVATE+KEY+%s", vs);
	dc_add(sk, "public key as seed", s, strlen(s), SAME);
	free(s);
	s = tu_strf("%s\n", ss);
	dc_add(sk, "trailing newline", s, strlen(s), C_STRICTER);
	free(s);
	s = tu_strf("%.*s", (int)(strlen(ss) - 4), ss);
	dc_add(sk, "truncated", s, strlen(s), SAME);
	free(s);
	ck_assert_int_eq(ft_skey_format(&k4, ss, sizeof ss, &len), 0);
	dc_add(sk, "type 0x04 (cosignature)", ss, strlen(ss), C_EXTENSION);
	ck_assert_int_eq(ft_skey_format(&ku, ss, sizeof ss, &len), 0);
	dc_add(sk, "UTF-8 name", ss, strlen(ss), SAME);

	for (size_t i = 0; i < vk->n; i++) {
		struct dcase *c = &vk->v[i];
		ft_vkey out;
		if (ft_vkey_parse((const char *)c->in.p, c->in.len, &out) == 0) {
			char *hn = hexstr(out.name, out.name_len);
			c->c_verdict = tu_strf("accept %s %08" PRIx32, hn, out.id);
			free(hn);
		} else {
			c->c_verdict = tu_strf("reject");
		}
	}
	for (size_t i = 0; i < sk->n; i++) {
		struct dcase *c = &sk->v[i];
		ft_skey out;
		if (ft_skey_parse((const char *)c->in.p, c->in.len, &out) == 0) {
			char *hn = hexstr(out.name, out.name_len);
			c->c_verdict = tu_strf("accept %s %08" PRIx32, hn, out.id);
			free(hn);
			ft_skey_wipe(&out);
		} else {
			c->c_verdict = tu_strf("reject");
		}
	}
	ft_skey_wipe(&k);
	ft_skey_wipe(&k4);
	ft_skey_wipe(&ku);
}

static void path_cases(struct dcases *l)
{
	static const char *const t[] = {
		"tile/0/000",
		"tile/0/999",
		"tile/0/x001/000",
		"tile/0/x001/x234/067",
		"tile/0/x999/999",
		"tile/0/000.p/1",
		"tile/0/000.p/255",
		"tile/1/x001/x234/067.p/8",
		"tile/63/000",
		"tile/entries/000",
		"tile/entries/x001/000.p/17",
		"tile/entries/273.p/112",
		"tile/0/x009/x223/x372/x036/x854/x775/807",
		"/tile/0/000",
		"tile/0/00",
		"tile/0/0000",
		"tile/0/x000/001",
		"tile/0/x000/x001/000",
		"tile/0/x001",
		"tile/0/001/000",
		"tile/0/xx01/000",
		"tile/0/x01/000",
		"tile/00/000",
		"tile/01/000",
		"tile/0/000.p/0",
		"tile/0/000.p/256",
		"tile/0/000.p/01",
		"tile/0/000.p/",
		"tile/0/000.p",
		"tile/0/000/",
		"tile/0/000.p/5/",
		"tile/-1/000",
		"tile/+1/000",
		"tile/0/+00",
		"tile/0/-01",
		"tile/64/000",
		"tile/0/x009/x223/x372/x036/x854/x775/808",
		"tile/0/x999/x999/x999/x999/x999/x999/x999/999",
		"tile/entries/000.p/256",
		"tile/data/000",
		"tile/8/0/000",
		"tile//000",
		"tile/0/000\n",
		"tile/0/000 ",
		"//tile/0/000",
		"tile/0/0a0",
		"tile/ 0/000",
		"tile/0/ 00",
		"tile/0/000.p/ 5",
		"tile/0/000.p/+5",
		"tile/0",
		"tile",
		"",
		"Tile/0/000",
		"tile/entries/000.p/0",
		"tile/entries",
		"tile/0/x000/000.p/5",
	};

	for (size_t i = 0; i < NELEM(t); i++) {
		dc_add(l, "C2SP tile path", t[i], strlen(t[i]), SAME);
	}
	for (size_t i = 0; i < l->n; i++) {
		struct dcase *c = &l->v[i];
		ft_tile tile;
		if (ft_tile_parse_path((const char *)c->in.p, c->in.len,
				       &tile) == 0) {
			c->c_verdict = tu_strf("accept %d %" PRIu64 " %u", tile.level,
					    tile.index, tile.width);
		} else {
			c->c_verdict = tu_strf("reject");
		}
	}
}

/* One signature line of key over text ("— name base64\n"). */
static char *sig_of(const ft_skey *k, const char *text, size_t tlen,
		    uint64_t ts)
{
	char line[FT_NOTE_SIG_LINE_MAX + 1];
	size_t n = 0;
	int rc = ft_note_sig_line(k, (const uint8_t *)text, tlen, ts, line,
				  sizeof line, &n);

	ck_assert_msg(rc == 0, "ft_note_sig_line(%s) over %zu bytes: %s",
		      k->name, tlen, ft_errname(rc));
	return tu_strf("%.*s", (int)n, line);
}

/* A signature line with raw byte `at` (after base64 decoding) xor 1, or,
 * with at == SIZE_MAX, the last base64 digit's padding bits set (a
 * non-canonical encoding of the same bytes). */
static char *sig_mangle(const char *line, size_t at)
{
	const char *b = strrchr(line, ' ') + 1;
	size_t blen = strlen(b) - 1; /* without the newline */
	char *s;

	if (at == SIZE_MAX) {
		static const char alpha[] =
			"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
			"0123456789+/";
		s = tu_strf("%s", line);
		char *pad = strchr(s + (b - line), '=');
		ck_assert_ptr_nonnull(pad);
		const char *pos = strchr(alpha, pad[-1]);
		ck_assert_ptr_nonnull(pos);
		pad[-1] = alpha[(pos - alpha) | 1];
		ck_assert_int_ne(pad[-1], *pos);
		return s;
	}
	uint8_t raw[128];
	size_t n = 0;
	ck_assert_int_eq(ft_b64_decode(b, blen, raw, sizeof raw, &n), 0);
	ck_assert_uint_lt(at, n);
	raw[at] ^= 1;
	char *enc = b64(raw, n);
	s = tu_strf("%.*s%s\n", (int)(b - line), line, enc);
	free(enc);
	return s;
}

static void note_case(struct dcases *l, const char *what, enum rel rel,
		      const char *text, size_t tlen, const char *const *lines,
		      size_t nlines, int blank)
{
	struct buf b = {0};

	buf_add(&b, text, tlen);
	if (blank) {
		buf_add(&b, "\n", 1);
	}
	for (size_t i = 0; i < nlines; i++) {
		buf_add(&b, lines[i], strlen(lines[i]));
	}
	dc_add(l, what, b.p ? b.p : (uint8_t *)"", b.len, rel);
	buf_free(&b);
}

#define NOTE(what, rel, text, ...)                                           \
	do {                                                                 \
		const char *const ls_[] = {__VA_ARGS__};                     \
		note_case(l, what, rel, text, strlen(text), ls_, NELEM(ls_), \
			  1);                                                \
	} while (0)

static void note_cases(struct dcases *l, ft_vkey *known)
{
	ft_skey k1, k2, w, u, u1;
	static const char T[] = "hello\nworld\n";
	char *s1, *s2, *sw, *su, *su1, *bad1, *bad2, *nc1, *x;

	key_from_tag("ftlog.example/n1", FT_KEY_ED25519, 21, &k1);
	key_from_tag("ftlog.example/n2", FT_KEY_ED25519, 22, &k2);
	key_from_tag("ftlog.example/w", FT_KEY_COSIG_V1, 23, &w);
	key_from_tag("ftlog.example/u", FT_KEY_ED25519, 24, &u);
	key_from_tag("ftlog.example/n1", FT_KEY_ED25519, 25, &u1);
	ft_skey_public(&k1, &known[0]);
	ft_skey_public(&k2, &known[1]);
	ft_skey_public(&w, &known[2]);

	s1 = sig_of(&k1, T, strlen(T), 0);
	s2 = sig_of(&k2, T, strlen(T), 0);
	sw = sig_of(&w, T, strlen(T), 1234567);
	su = sig_of(&u, T, strlen(T), 0);
	su1 = sig_of(&u1, T, strlen(T), 0);
	bad1 = sig_mangle(s1, 20);
	bad2 = sig_mangle(s2, 40);
	nc1 = sig_mangle(s1, SIZE_MAX);

	NOTE("one known signature", SAME, T, s1);
	NOTE("two known signatures", SAME, T, s1, s2);
	NOTE("unknown key only", SAME, T, su);
	NOTE("unknown then known", SAME, T, su, s1);
	NOTE("bad signature", SAME, T, bad1);
	NOTE("same signature twice", SAME, T, s1, s1);
	NOTE("good then bad from one key (Go ignores repeats)", SAME, T, s1,
	     bad1);
	NOTE("bad then good from one key", SAME, T, bad1, s1);
	NOTE("good, then bad from another known key", SAME, T, s1, bad2);
	NOTE("cosignature with a log signature", SAME, T, s1, sw);
	NOTE("cosignature only", SAME, T, sw);
	NOTE("same name as a known key, other key id", SAME, T, su1);
	NOTE("same name other id, then known", SAME, T, su1, s1);
	NOTE("non-canonical base64 (padding bits)", C_STRICTER, T, nc1);
	{
		const char *const ls[] = {s1};
		note_case(l, "no blank line", SAME, T, strlen(T), ls, 1, 0);
	}
	x = tu_strf("%.*s", (int)strlen(s1) - 1, s1);
	NOTE("no final newline", SAME, T, x);
	free(x);
	NOTE("blank line but no signature", SAME, T, "");
	x = tu_strf("%s\n", s1);
	NOTE("trailing blank line", SAME, T, x);
	free(x);
	dc_add(l, "empty message", "", 0, SAME);
	x = tu_strf(EM_DASH " ftlog.example/n1  %s", strrchr(s1, ' ') + 1);
	NOTE("two spaces after the name", SAME, T, x);
	free(x);
	x = tu_strf(EM_DASH "ftlog.example/n1 %s", strrchr(s1, ' ') + 1);
	NOTE("no space after the dash", SAME, T, x);
	free(x);
	x = tu_strf("-- ftlog.example/n1 %s", strrchr(s1, ' ') + 1);
	NOTE("ASCII dashes", SAME, T, x);
	free(x);
	x = tu_strf("\xe2\x80\x93 ftlog.example/n1 %s", strrchr(s1, ' ') + 1);
	NOTE("en dash", SAME, T, x);
	free(x);
	x = tu_strf("%.*s \n", (int)strlen(s1) - 1, s1);
	NOTE("trailing space", SAME, T, x);
	free(x);
	NOTE("3-byte signature", SAME, T, EM_DASH " ftlog.example/u AAAA\n",
	     s1);
	NOTE("4-byte signature (key id only)", SAME, T,
	     EM_DASH " ftlog.example/u AAAAAA==\n", s1);
	NOTE("5-byte unknown signature", SAME, T,
	     EM_DASH " ftlog.example/u AAAAAAA=\n", s1);
	NOTE("empty base64", SAME, T, EM_DASH " ftlog.example/u \n", s1);
	NOTE("NBSP in an unknown signer's name", SAME, T,
	     EM_DASH " ftlog.example/u\xc2\xa0x AAAAAAA=\n", s1);
	NOTE("DEL in an unknown signer's name", SAME, T,
	     EM_DASH " ftlog.example/u\x7f AAAAAAA=\n", s1);
	NOTE("U+0080 in an unknown signer's name", SAME, T,
	     EM_DASH " ftlog.example/u\xc2\x80 AAAAAAA=\n", s1);
	NOTE("plus in an unknown signer's name", SAME, T,
	     EM_DASH " ftlog.example/u+x AAAAAAA=\n", s1);
	{
		/* A known key's id under the other known key's name. */
		const char *b = strrchr(s2, ' ') + 1;
		x = tu_strf(EM_DASH " ftlog.example/n1 %s", b);
		NOTE("key id of n2 under the name n1", SAME, T, x, s1);
		free(x);
	}
	{
		/* Known key id, Ed25519 signature one byte short. */
		const char *b = strrchr(s1, ' ') + 1;
		uint8_t raw[128];
		size_t n = 0;
		ck_assert_int_eq(ft_b64_decode(b, strlen(b) - 1, raw,
					       sizeof raw, &n),
				 0);
		char *enc = b64(raw, n - 1);
		x = tu_strf(EM_DASH " ftlog.example/n1 %s\n", enc);
		NOTE("known key, 63-byte signature", SAME, T, x);
		free(x);
		free(enc);
		raw[n] = 0;
		enc = b64(raw, n + 1);
		x = tu_strf(EM_DASH " ftlog.example/n1 %s\n", enc);
		NOTE("known key, 65-byte signature", SAME, T, x);
		free(x);
		free(enc);
	}
	{
		char *o = sig_of(&k1, "other\n", 6, 0);
		NOTE("signature over another text", SAME, T, o);
		free(o);
	}
	{
		/* Texts that are valid UTF-8 without C0 controls. */
		static const char *const texts[] = {
			"a\n\nb\n",
			"\n",
			"del \x7f\n",
			"nel \xc2\x85\n",
			"replacement \xef\xbf\xbd\n",
			"bom \xef\xbb\xbf\n",
			"a\n\n" EM_DASH " ftlog.example/n1 AAAAAAA=\n",
			" leading space\n",
			"trailing space \n",
		};
		static const char *const what[] = {
			"blank line inside the text",
			"text of one newline",
			"DEL in the text",
			"U+0085 in the text",
			"U+FFFD in the text",
			"U+FEFF in the text",
			"text containing a signature-like line",
			"text with a leading space",
			"text with a trailing space",
		};
		for (size_t i = 0; i < NELEM(texts); i++) {
			x = sig_of(&k1, texts[i], strlen(texts[i]), 0);
			NOTE(what[i], SAME, texts[i], x);
			free(x);
		}
	}
	{
		/* Invalid bytes substituted into a signed text: rejected
		 * before any signature is checked. */
		static const struct {
			const char *bytes;
			const char *what;
		} subs[] = {
			{"\xff", "0xFF in the text"},
			{"\xc0\xaf", "overlong '/' in the text"},
			{"\xed\xa0\x80", "surrogate in the text"},
			{"\xf4\x90\x80\x80", "above U+10FFFF in the text"},
			{"\r", "CR in the text"},
			{"\t", "tab in the text"},
			{"\x01", "C0 control in the text"},
		};
		for (size_t i = 0; i < NELEM(subs); i++) {
			x = tu_strf("hel%slo\nworld\n", subs[i].bytes);
			NOTE(subs[i].what, SAME, x, s1);
			free(x);
		}
		struct buf b = {0};
		buf_add(&b, LIT("hel\0lo\nworld\n\n"));
		buf_add(&b, s1, strlen(s1));
		dc_add(l, "NUL in the text", b.p, b.len, SAME);
		buf_free(&b);
		x = tu_strf("%.*s\r\n", (int)strlen(s1) - 1, s1);
		NOTE("CRLF after the signature", SAME, T, x);
		free(x);
	}
	{
		/* Signature counts around Go's limit of 100 lines. */
		struct buf b = {0};
		buf_add(&b, T, strlen(T));
		buf_add(&b, "\n", 1);
		buf_add(&b, s1, strlen(s1));
		for (int i = 1; i < 101; i++) {
			buf_add(&b, su, strlen(su));
			if (i == 15) {
				dc_add(l, "16 signature lines", b.p, b.len,
				       SAME);
			}
			if (i == 99) {
				dc_add(l, "100 signature lines", b.p, b.len,
				       SAME);
			}
		}
		dc_add(l, "101 signature lines", b.p, b.len, SAME);
		buf_free(&b);
	}
	{
		/* Around the C cap on a whole note (FT_NOTE_MAX_BYTES). */
		size_t tl = FT_NOTE_MAX_BYTES - 200;
		char *big = malloc(FT_NOTE_MAX_BYTES + 2000);
		ck_assert_ptr_nonnull(big);
		memset(big, 'x', FT_NOTE_MAX_BYTES + 2000);
		big[tl - 1] = '\n';
		x = sig_of(&k1, big, tl, 0);
		note_case(l, "note just under the C size cap", SAME, big, tl,
			  (const char *const *)&x, 1, 1);
		free(x);
		tl = FT_NOTE_MAX_BYTES + 1000;
		big[tl - 1] = '\n';
		char line[FT_NOTE_SIG_LINE_MAX + 1];
		size_t n = 0;
		if (ft_note_sig_line(&k1, (const uint8_t *)big, tl, 0, line,
				     sizeof line, &n) == 0) {
			x = tu_strf("%.*s", (int)n, line);
			note_case(l, "note over the C size cap", C_STRICTER,
				  big, tl, (const char *const *)&x, 1, 1);
			free(x);
		}
		free(big);
	}
	{
		/* Cosignature timestamps at the edges of tlog-cosignature's
		 * range (at most 2^63 - 1); 2^63 is signed by hand. */
		char *c0 = sig_of(&w, T, strlen(T), 0);
		char *cmax = sig_of(&w, T, strlen(T), UINT64_C(0x7fffffffffffffff));
		NOTE("cosignature at time 0", SAME, T, c0);
		NOTE("cosignature at time 2^63-1", SAME, T, cmax);
		struct buf msg = {0};
		uint8_t raw[4 + 8 + 64];
		uint64_t ts = UINT64_C(1) << 63;
		buf_printf(&msg, "cosignature/v1\ntime %" PRIu64 "\n%s", ts, T);
		for (int i = 0; i < 4; i++) {
			raw[i] = (uint8_t)(known[2].id >> (24 - 8 * i));
		}
		for (int i = 0; i < 8; i++) {
			raw[4 + i] = (uint8_t)(ts >> (56 - 8 * i));
		}
		ck_assert_int_eq(crypto_sign_detached(raw + 12, NULL, msg.p,
						      msg.len, w.sk),
				 0);
		char *enc = b64(raw, sizeof raw);
		x = tu_strf(EM_DASH " %s %s\n", w.name, enc);
		NOTE("cosignature at time 2^63 (out of range)", SAME, T, s1, x);
		free(x);
		free(enc);
		enc = b64(raw, 12);
		x = tu_strf(EM_DASH " %s %s\n", w.name, enc);
		NOTE("cosignature without the signature", SAME, T, s1, x);
		free(x);
		free(enc);
		buf_free(&msg);
		free(c0);
		free(cmax);
	}
	{
		char name[300];
		memset(name, 'u', sizeof name);
		x = tu_strf(EM_DASH " %.256s AAAAAAA=\n", name);
		NOTE("unknown signer name of 256 bytes", SAME, T, x, s1);
		free(x);
	}

	free(s1);
	free(s2);
	free(sw);
	free(su);
	free(su1);
	free(bad1);
	free(bad2);
	free(nc1);
	ft_skey_wipe(&k1);
	ft_skey_wipe(&k2);
	ft_skey_wipe(&w);
	ft_skey_wipe(&u);
	ft_skey_wipe(&u1);

	for (size_t i = 0; i < l->n; i++) {
		struct dcase *c = &l->v[i];
		ft_note_sig st[3];
		size_t tl = 0;
		int rc = ft_note_open(c->in.p, c->in.len, known, 3, st, &tl);
		switch (rc) {
		case 0: {
			int nv = st[0].verified + st[1].verified +
				 st[2].verified;
			c->c_verdict = tu_strf("accept %d", nv);
			break;
		}
		case FT_ENOTE_NOKEY:
			c->c_verdict = tu_strf("reject unverified");
			break;
		case FT_ENOTE_BADSIG:
		case FT_ECOSIG_TIME:
			c->c_verdict = tu_strf("reject badsig");
			break;
		case FT_ENOTE_FORMAT:
		case FT_ENOTE_TOOMANY:
		case FT_ETOOBIG:
			c->c_verdict = tu_strf("reject malformed");
			break;
		default:
			c->c_verdict = tu_strf("reject other (%s)", ft_errname(rc));
			break;
		}
	}
}

/*
 * Edge-case inputs through both parsers: key names, verifier and signer
 * key strings, tile paths and signed notes. Any disagreement outside the
 * documented C_STRICTER / C_EXTENSION allowances fails, with every
 * disagreement listed on stderr.
 */
START_TEST(test_parsers_agree)
{
	char *tmp = tu_tmpdir();
	ck_assert_ptr_nonnull(tmp);
	char *outp = tu_strf("%s/parse.out", tmp);
	char *dir = tu_strf("%s/data", tmp);
	struct dcases names = {0}, vkeys = {0}, skeys = {0}, paths = {0},
		      notes = {0};
	ft_vkey known[3];
	char *out = NULL;
	struct buf kb = {0};

	ck_assert_int_eq(ft_init(), 0);
	(void)go_bin();
	mkdir_p(dir);
	name_cases(&names);
	key_cases(&vkeys, &skeys);
	path_cases(&paths);
	note_cases(&notes, known);

	dc_write_hex(dir, "names", &names);
	dc_write_hex(dir, "vkeys", &vkeys);
	dc_write_hex(dir, "skeys", &skeys);
	dc_write_hex(dir, "paths", &paths);
	for (size_t i = 0; i < 3; i++) {
		char ks[FT_KEY_STR_MAX + 1];
		vkey_string(&known[i], ks);
		buf_printf(&kb, "%s\n", ks);
	}
	put_file(dir, "notes.keys", kb.p, kb.len);
	buf_free(&kb);
	for (size_t i = 0; i < notes.n; i++) {
		char *name = tu_strf("notes/%zu", i);
		put_file(dir, name, notes.v[i].in.p, notes.v[i].in.len);
		free(name);
	}
	char *count = tu_strf("%zu\n", notes.n);
	put_file(dir, "notes.count", count, strlen(count));
	free(count);

	int st = run_go("parse", dir, outp, &out);
	if (st != 0) {
		dump_output("parse", out);
	}
	ck_assert_msg(st == 0, "Go parse exit status %d", st);
	size_t n = 0;
	char **lines = split_lines(out, &n);
	size_t bad = dc_compare(&names, "name", lines, n) +
		     dc_compare(&vkeys, "vkey", lines, n) +
		     dc_compare(&skeys, "skey", lines, n) +
		     dc_compare(&paths, "path", lines, n) +
		     dc_compare(&notes, "note", lines, n);
	ck_assert_msg(bad == 0,
		      "%zu disagreements between libftmerkle and Go (listed "
		      "above as DISAGREE)",
		      bad);

	free(lines);
	free(out);
	dc_free(&names);
	dc_free(&vkeys);
	dc_free(&skeys);
	dc_free(&paths);
	dc_free(&notes);
	free(outp);
	free(dir);
	tu_rmtree(tmp);
	free(tmp);
}
END_TEST

/* ---- Huge trees over synthetic stored hashes. ------------------------- */

/* SHA-256("ftlog synthetic" || level || index_be64), as in main.go. */
static void synthetic_hash(unsigned level, uint64_t index, ft_hash *out)
{
	struct sha256_ctx h;
	uint8_t b[9];

	b[0] = (uint8_t)level;
	for (int i = 0; i < 8; i++) {
		b[1 + i] = (uint8_t)(index >> (56 - 8 * i));
	}
	sha256_init(&h);
	sha256_update(&h, strlen("ftlog synthetic"),
		      (const uint8_t *)"ftlog synthetic");
	sha256_update(&h, sizeof b, b);
	sha256_digest(&h, FT_HASH_LEN, out->b);
}

static int synthetic_read(void *ctx, const ft_node_id *ids, size_t n,
			  ft_hash *out)
{
	(void)ctx;
	for (size_t i = 0; i < n; i++) {
		synthetic_hash(ids[i].level, ids[i].index, &out[i]);
	}
	return 0;
}

static void hashes_line(struct buf *b, const ft_hash *h, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		char *s = b64(h[i].b, FT_HASH_LEN);
		buf_printf(b, " %s", s);
		free(s);
	}
	buf_printf(b, "\n");
}

/*
 * Proof generation and tree hashes for trees of up to 2^62 - 1 leaves
 * (Go's stored-hash index needs about 2 * size < 2^63), where the node
 * index math of C and Go must agree exactly; and inclusion-proof
 * verification up to 2^62 leaves, where tlog.CheckRecord must accept the
 * root that ft_proof_root_from_inclusion computes.
 */
START_TEST(test_huge_trees)
{
	static const uint64_t gen[] = {
		(UINT64_C(1) << 20) + 3,
		UINT64_C(1) << 40,
		(UINT64_C(1) << 40) + 1,
		(UINT64_C(1) << 61) - 1,
		UINT64_C(1) << 61,
		(UINT64_C(1) << 61) + 12345,
		(UINT64_C(3) << 59) + 7,
		(UINT64_C(1) << 62) - 1,
	};
	/* Go's tlog loops forever above 2^62 leaves (maxpow2 shifts 1 into
	 * the sign bit), so that is as far as it can referee. */
	static const uint64_t chk[] = {
		7,
		(UINT64_C(1) << 61) + 12345,
		(UINT64_C(1) << 62) - 1,
		UINT64_C(1) << 62,
	};
	ft_hash_reader r = {synthetic_read, NULL};
	ft_hash p[FT_PROOF_MAX_CONSISTENCY], h;
	size_t pn = 0;
	struct buf in = {0}, want = {0};
	struct pairs ip = {0}, cp = {0};
	size_t nlines = 0;

	ck_assert_int_eq(ft_init(), 0);
	(void)go_bin();
	for (size_t k = 0; k < NELEM(gen); k++) {
		uint64_t s = gen[k];
		uint64_t is[] = {0, 1, s / 2, s - 2, s - 1, (s - 1) & ~UINT64_C(255),
				 (s - 1) & ~UINT64_C(65535)};
		uint64_t ms[] = {1, 2, s / 2, s / 2 + 1, s - 1, s, 1000,
				 UINT64_C(1) << 32};
		for (size_t i = 0; i < NELEM(is); i++) {
			pairs_add(&ip, is[i], s);
		}
		for (size_t i = 0; i < NELEM(ms); i++) {
			if (ms[i] >= 1 && ms[i] <= s) {
				pairs_add(&cp, ms[i], s);
			}
		}
		for (size_t j = 0; j < NELEM(gen); j++) {
			if (gen[j] <= s) {
				pairs_add(&cp, gen[j], s);
			}
		}
		buf_printf(&in, "treehash %" PRIu64 "\n", s);
		ck_assert_int_eq(ft_tree_hash_at(s, &r, &h), 0);
		buf_printf(&want, "treehash %" PRIu64, s);
		hashes_line(&want, &h, 1);
		nlines++;
	}
	for (size_t i = 0; i < ip.n; i++) {
		uint64_t idx = ip.v[i][0], s = ip.v[i][1];
		buf_printf(&in, "inclusion %" PRIu64 " %" PRIu64 "\n", idx, s);
		ck_assert_int_eq(ft_proof_inclusion(idx, s, &r, p, &pn), 0);
		ck_assert_uint_eq(pn, ft_proof_inclusion_len(idx, s));
		buf_printf(&want, "inclusion %" PRIu64 " %" PRIu64, idx, s);
		hashes_line(&want, p, pn);
		nlines++;
	}
	for (size_t i = 0; i < cp.n; i++) {
		uint64_t s1 = cp.v[i][0], s2 = cp.v[i][1];
		buf_printf(&in, "consistency %" PRIu64 " %" PRIu64 "\n", s1, s2);
		ck_assert_int_eq(ft_proof_consistency(s1, s2, &r, p, &pn), 0);
		ck_assert_uint_eq(pn, ft_proof_consistency_len(s1, s2));
		buf_printf(&want, "consistency %" PRIu64 " %" PRIu64, s1, s2);
		hashes_line(&want, p, pn);
		nlines++;
	}
	for (size_t k = 0; k < NELEM(chk); k++) {
		uint64_t s = chk[k];
		uint64_t is[] = {0, 1, s / 2, s - 2, s - 1,
				 (s - 1) & ~UINT64_C(0xffffffff)};
		for (size_t i = 0; i < NELEM(is); i++) {
			ft_hash leaf, root;
			size_t n = ft_proof_inclusion_len(is[i], s);
			synthetic_hash(59, is[i] & 0xffff, &leaf);
			for (size_t j = 0; j < n; j++) {
				synthetic_hash(60, j, &p[j]);
			}
			ck_assert_int_eq(ft_proof_root_from_inclusion(
						 is[i], s, &leaf, p, n, &root),
					 0);
			ck_assert_int_eq(ft_proof_verify_inclusion(
						 is[i], s, leaf.b, FT_HASH_LEN,
						 p[0].b, n * FT_HASH_LEN, root.b,
						 FT_HASH_LEN),
					 0);
			for (int bad = 0; bad < (i == 0 ? 2 : 1); bad++) {
				/* bad: the wrong root, which Go must refuse. */
				root.b[0] ^= (uint8_t)bad;
				buf_printf(&in, "check %" PRIu64 " %" PRIu64,
					   is[i], s);
				hashes_line(&in, &leaf, 1);
				in.len--; /* join the lines */
				hashes_line(&in, &root, 1);
				in.len--;
				hashes_line(&in, p, n);
				buf_printf(&want,
					   "check %" PRIu64 " %" PRIu64 " %s\n",
					   is[i], s, bad ? "fail" : "ok");
				nlines++;
			}
		}
	}

	char *tmp = tu_tmpdir();
	ck_assert_ptr_nonnull(tmp);
	char *outp = tu_strf("%s/synthetic.out", tmp);
	char *out = NULL;
	put_file(tmp, "synthetic", in.p, in.len);
	int st = run_go("synthetic", tmp, outp, &out);
	if (st != 0) {
		dump_output("synthetic", out);
	}
	ck_assert_msg(st == 0, "Go synthetic exit status %d", st);

	size_t n = 0, missing = 0;
	char *copy = tu_strf("%s", out);
	char **lines = split_lines(copy, &n);
	for (char *w = (char *)want.p; *w;) {
		char *e = strchr(w, '\n');
		*e = 0;
		if (bsearch(&w, lines, n, sizeof *lines, cmp_str) == NULL) {
			if (missing++ < 10) {
				fprintf(stderr, "DISAGREE: C says \"%s\"\n", w);
			}
		}
		w = e + 1;
	}
	if (missing != 0) {
		dump_output("synthetic", out);
	}
	ck_assert_msg(missing == 0,
		      "%zu of %zu huge-tree results differ between C and Go",
		      missing, nlines);
	ck_assert_uint_eq(n, nlines);

	free(lines);
	free(copy);
	free(out);
	free(outp);
	tu_rmtree(tmp);
	free(tmp);
	free(ip.v);
	free(cp.v);
	buf_free(&in);
	buf_free(&want);
}
END_TEST

static Suite *interop_suite(void)
{
	Suite *s = suite_create("interop");
	TCase *tc = tcase_create("go");

	tcase_set_timeout(tc, 120);
	tcase_add_test(tc, test_go_helper_runs);
	tcase_add_test(tc, test_known_key);
	tcase_add_test(tc, test_c_to_go);
	tcase_add_test(tc, test_c_to_go_tampered);
	tcase_add_test(tc, test_go_to_c);
	tcase_add_test(tc, test_parsers_agree);
	tcase_add_test(tc, test_huge_trees);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	return tu_run_suite(interop_suite());
}
