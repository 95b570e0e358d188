/*
 * tests/test_crash.c - ftlogd under kill -9 (DESIGN.md section 4: "the log
 * never signs two different roots for one size, and never loses an
 * acknowledged entry, whatever moment it is killed at").
 *
 * Each round starts ftlogd on the same data directory (batch interval
 * 20 ms), runs several submitter threads on keep-alive connections that
 * post unique entries, and a reader that keeps fetching /checkpoint; at a
 * random moment (50-700 ms) the server gets SIGKILL. Every acknowledged
 * (entry, index, checkpoint) and every checkpoint handed out is recorded.
 * After the restart that begins the next round:
 *   - the tree size never went down (no checkpoint ever seen is larger
 *     than the current one; each thread saw sizes that never decreased);
 *   - the tree rebuilt from the served entry bundles has the current
 *     checkpoint's root;
 *   - every acknowledged entry is in its bundle at its acknowledged index
 *     (and a sample is looked up with /proof/inclusion?leaf=);
 *   - every checkpoint ever handed out is a prefix of the current tree:
 *     its root is the rebuilt tree's root at its size, and the server's
 *     /proof/consistency from it verifies with libftmerkle;
 *   - no two checkpoints of one size ever had different roots.
 * A second test does the same with --tiles-dir and checks the static
 * export after each kill and each restart: the exported checkpoint
 * verifies, never goes backwards, and all its tiles and bundles exist
 * and rebuild its root.
 *
 * FTLOG_LONG_TESTS=1: 60 rounds (20 with tiles) instead of 4 (3).
 * FTLOG_CRASH_SEED=N: replay the random delays of an earlier run.
 */
#define _DEFAULT_SOURCE
#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <check.h>

#include <ftlog/common.h>
#include <ftlog/merkle.h>
#include <ftlog/note.h>
#include <ftlog/tile.h>
#include <ftlog/tlogproof.h>

#include "tests/logd_harness.h"
#include "tests/testutil.h"

#define ORIGIN "example.org/ftlog-crash-test"
#define NSUBMITTERS 6
#define MAX_ERR 512

static const char *const crash_args[] = {"--batch-interval", "20ms",
					 "--log-level", "warn", NULL};

/* ---- Small helpers. ---------------------------------------------------- */

/* xorshift64*: reproducible delays from a printed seed. */
static uint64_t rng_state;

static uint64_t rnd(void)
{
	uint64_t x = rng_state;

	x ^= x >> 12;
	x ^= x << 25;
	x ^= x >> 27;
	rng_state = x;
	return x * UINT64_C(2685821657736338717);
}

static void rng_seed(void)
{
	const char *e = getenv("FTLOG_CRASH_SEED");
	uint64_t seed;

	if (e != NULL && *e != 0) {
		seed = strtoull(e, NULL, 10);
	} else {
		struct timespec ts;
		(void)clock_gettime(CLOCK_REALTIME, &ts);
		seed = (uint64_t)ts.tv_nsec ^ ((uint64_t)ts.tv_sec << 20) ^
		       (uint64_t)getpid();
	}
	if (seed == 0) {
		seed = 1;
	}
	fprintf(stderr, "test_crash: FTLOG_CRASH_SEED=%" PRIu64 "\n", seed);
	rng_state = seed;
}

static unsigned rounds(unsigned dflt, unsigned lng)
{
	const char *e = getenv("FTLOG_LONG_TESTS");

	return e != NULL && strcmp(e, "1") == 0 ? lng : dflt;
}

/* ---- What the clients were told. -------------------------------------- */

struct ack {
	uint8_t *entry;
	size_t len;
	uint64_t index;
	uint64_t cp_size;
	ft_hash cp_root;
};

struct obs {
	uint64_t size;
	ft_hash root;
	unsigned round;
};

struct record {
	pthread_mutex_t mu;
	struct ack *acks;
	size_t nacks, ackcap;
	struct obs *cps; /* one per distinct size */
	size_t ncps, cpcap;
	uint64_t max_size;
	char err[MAX_ERR]; /* first failure seen by a thread */
	unsigned round;
};

static void rec_fail(struct record *r, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

static void rec_fail(struct record *r, const char *fmt, ...)
{
	va_list ap;

	pthread_mutex_lock(&r->mu);
	if (r->err[0] == 0) {
		va_start(ap, fmt);
		(void)vsnprintf(r->err, sizeof r->err, fmt, ap);
		va_end(ap);
	}
	pthread_mutex_unlock(&r->mu);
}

/* Record a checkpoint; the same size must always have the same root.
 * Call with r->mu held. 0 or -1. */
static int rec_cp_locked(struct record *r, uint64_t size, const ft_hash *root)
{
	for (size_t i = 0; i < r->ncps; i++) {
		if (r->cps[i].size == size) {
			if (memcmp(r->cps[i].root.b, root->b, 32) != 0) {
				if (r->err[0] == 0) {
					snprintf(r->err, sizeof r->err,
						 "two different roots signed for "
						 "size %" PRIu64,
						 size);
				}
				return -1;
			}
			return 0;
		}
	}
	if (r->ncps == r->cpcap) {
		size_t ncap = r->cpcap ? 2 * r->cpcap : 256;
		struct obs *n = realloc(r->cps, ncap * sizeof *n);
		if (n == NULL) {
			return -1;
		}
		r->cps = n;
		r->cpcap = ncap;
	}
	r->cps[r->ncps].size = size;
	r->cps[r->ncps].root = *root;
	r->cps[r->ncps].round = r->round;
	r->ncps++;
	if (size > r->max_size) {
		r->max_size = size;
	}
	return 0;
}

static void rec_cp(struct record *r, uint64_t size, const ft_hash *root)
{
	pthread_mutex_lock(&r->mu);
	(void)rec_cp_locked(r, size, root);
	pthread_mutex_unlock(&r->mu);
}

static void rec_ack(struct record *r, uint8_t *entry, size_t len,
		    uint64_t index, uint64_t cp_size, const ft_hash *cp_root)
{
	pthread_mutex_lock(&r->mu);
	if (r->nacks == r->ackcap) {
		size_t ncap = r->ackcap ? 2 * r->ackcap : 1024;
		struct ack *n = realloc(r->acks, ncap * sizeof *n);
		if (n == NULL) {
			pthread_mutex_unlock(&r->mu);
			free(entry);
			return;
		}
		r->acks = n;
		r->ackcap = ncap;
	}
	struct ack *a = &r->acks[r->nacks++];
	a->entry = entry;
	a->len = len;
	a->index = index;
	a->cp_size = cp_size;
	a->cp_root = *cp_root;
	(void)rec_cp_locked(r, cp_size, cp_root);
	pthread_mutex_unlock(&r->mu);
}

static void rec_free(struct record *r)
{
	for (size_t i = 0; i < r->nacks; i++) {
		free(r->acks[i].entry);
	}
	free(r->acks);
	free(r->cps);
	pthread_mutex_destroy(&r->mu);
}

/* ---- Load: submitters and a checkpoint reader. -------------------------- */

struct client {
	const lh_server *s;
	int port;
	unsigned id;
	struct record *rec;
	atomic_int *stop;
	uint64_t seed;
	unsigned acked;
};

static void *submitter(void *arg)
{
	struct client *cl = arg;
	lh_conn c;
	uint64_t last_size = 0, x = cl->seed | 1;

	if (lh_conn_open(&c, cl->port) != 0) {
		return NULL; /* killed before we connected */
	}
	for (unsigned k = 0; !*cl->stop; k++) {
		x ^= x << 13;
		x ^= x >> 7;
		x ^= x << 17;
		/* A signed event unique to (round, client, k), of a random
		 * size between about 730 and 2000 bytes. */
		uint64_t num = ((uint64_t)cl->rec->round << 36) |
			       ((uint64_t)cl->id << 28) | (k & 0xfffffff);
		uint8_t *e = NULL;
		size_t len = 0;
		if (lh_event(num, (size_t)(x % 2000), &e, &len) != 0) {
			rec_fail(cl->rec, "client %u: cannot make event %u",
				 cl->id, k);
			break;
		}
		lh_resp r;
		uint64_t idx = 0, size = 0;
		ft_hash root;
		if (lh_conn_add(&c, e, len, &idx, &r) != 0) {
			int st = r.status;
			lh_resp_free(&r);
			free(e);
			if (st == 503) {
				tu_sleep_ms(5); /* queue full or shutting down */
				k--;
				continue;
			}
			if (st != 0) {
				rec_fail(cl->rec,
					 "client %u: POST /add: status %d, or "
					 "not a tlog-proof",
					 cl->id, st);
			}
			break; /* the server is gone */
		}
		int rc = lh_check_tlog_proof(cl->s, r.body, r.body_len, e, len,
					     &idx, &size, root.b, NULL, NULL);
		lh_resp_free(&r);
		if (rc != 0) {
			rec_fail(cl->rec, "client %u: acknowledged tlog-proof "
					  "does not verify: %s",
				 cl->id, ft_errname(rc));
			free(e);
			break;
		}
		if (size < last_size) {
			rec_fail(cl->rec, "client %u: checkpoint size went "
					  "from %" PRIu64 " to %" PRIu64,
				 cl->id, last_size, size);
		}
		last_size = size;
		rec_ack(cl->rec, e, len, idx, size, &root);
		cl->acked++;
	}
	lh_conn_close(&c);
	return NULL;
}

static void *cp_reader(void *arg)
{
	struct client *cl = arg;
	lh_conn c;
	uint64_t last = 0;

	if (lh_conn_open(&c, cl->port) != 0) {
		return NULL;
	}
	while (!*cl->stop) {
		lh_resp r;
		uint64_t size = 0;
		ft_hash root;
		if (lh_conn_request(&c, "GET", "/checkpoint", NULL, 0, &r) != 0) {
			break;
		}
		if (r.status != 200) {
			rec_fail(cl->rec, "GET /checkpoint: status %d", r.status);
			lh_resp_free(&r);
			break;
		}
		int rc = lh_open_checkpoint(cl->s, r.body, r.body_len, &size,
					    root.b);
		lh_resp_free(&r);
		if (rc != 0) {
			rec_fail(cl->rec, "served checkpoint does not verify: %s",
				 ft_errname(rc));
			break;
		}
		if (size < last) {
			rec_fail(cl->rec, "/checkpoint went from %" PRIu64
					  " to %" PRIu64,
				 last, size);
		}
		last = size;
		rec_cp(cl->rec, size, &root);
		cl->acked++;
		tu_sleep_ms(3);
	}
	lh_conn_close(&c);
	return NULL;
}

/* Run the load, SIGKILL the server after delay_ms, stop the clients. */
static void load_and_kill(lh_server *s, struct record *rec, long delay_ms,
			  unsigned *acked)
{
	pthread_t th[NSUBMITTERS + 1];
	struct client cl[NSUBMITTERS + 1];
	atomic_int stop = 0;

	for (unsigned i = 0; i <= NSUBMITTERS; i++) {
		cl[i].s = s;
		cl[i].port = s->port;
		cl[i].id = i;
		cl[i].rec = rec;
		cl[i].stop = &stop;
		cl[i].seed = rnd();
		cl[i].acked = 0;
		ck_assert_int_eq(pthread_create(&th[i], NULL,
						i < NSUBMITTERS ? submitter
								: cp_reader,
						&cl[i]),
				 0);
	}
	tu_sleep_ms(delay_ms);
	int alive = lh_alive(s);
	lh_kill(s);
	/* The clients notice the dead server on their own (EOF / refused);
	 * the flag only stops those between two requests. */
	stop = 1;
	*acked = 0;
	for (unsigned i = 0; i <= NSUBMITTERS; i++) {
		ck_assert_int_eq(pthread_join(th[i], NULL), 0);
		if (i < NSUBMITTERS) {
			*acked += cl[i].acked;
		}
	}
	ck_assert_msg(alive, "ftlogd died under load before the kill");
	ck_assert_msg(lh_log_clean(s) == 0, "sanitizer report in ftlogd's log");
}

/* ---- The tree as the restarted server serves it. ----------------------- */

struct tree {
	uint64_t n;
	uint8_t **ent;
	size_t *elen;
	ft_hash *lv[64];
	uint64_t nn[64];
};

static void tree_free(struct tree *t)
{
	for (uint64_t i = 0; i < t->n; i++) {
		free(t->ent[i]);
	}
	free(t->ent);
	free(t->elen);
	for (int l = 0; l < 64; l++) {
		free(t->lv[l]);
	}
	memset(t, 0, sizeof *t);
}

static int tree_node(void *ctx, unsigned level, uint64_t index,
		     const ft_hash *hash)
{
	struct tree *t = ctx;

	if (level >= 64 || index != t->nn[level]) {
		return FT_EINVAL;
	}
	t->lv[level][index] = *hash;
	t->nn[level] = index + 1;
	return 0;
}

static int tree_read(void *ctx, const ft_node_id *ids, size_t n,
		     ft_hash *out)
{
	struct tree *t = ctx;

	for (size_t i = 0; i < n; i++) {
		if (ids[i].level >= 64 || ids[i].index >= t->nn[ids[i].level]) {
			return FT_EREAD;
		}
		out[i] = t->lv[ids[i].level][ids[i].index];
	}
	return 0;
}

static void tree_root_at(struct tree *t, uint64_t size, ft_hash *root)
{
	ft_hash_reader r = {tree_read, t};

	ck_assert_uint_le(size, t->n);
	ck_assert_int_eq(ft_tree_hash_at(size, &r, root), 0);
}

/* Fetch every entry bundle of the tree of size n and build the tree. */
static void tree_fetch(const lh_server *s, uint64_t n, struct tree *t)
{
	lh_conn c;
	ft_tree ft;

	memset(t, 0, sizeof *t);
	t->ent = calloc(n + 1, sizeof *t->ent);
	t->elen = calloc(n + 1, sizeof *t->elen);
	ck_assert(t->ent != NULL && t->elen != NULL);
	for (int l = 0; l < 64; l++) {
		if ((n >> l) > 0) {
			t->lv[l] = calloc(n >> l, sizeof(ft_hash));
			ck_assert_ptr_nonnull(t->lv[l]);
		}
	}
	ft_tree_init(&ft);
	ck_assert_int_eq(lh_conn_open(&c, s->port), 0);
	for (uint64_t b = 0; b * FT_TILE_WIDTH < n; b++) {
		ft_tile tile;
		char path[FT_TILE_PATH_MAX + 1];
		size_t pl;
		lh_resp r;

		ck_assert_int_eq(ft_tile_at(n, FT_TILE_ENTRIES, b, &tile), 0);
		path[0] = '/';
		ck_assert_int_eq(ft_tile_path(&tile, path + 1, sizeof path - 1,
					      &pl),
				 0);
		ck_assert_msg(lh_conn_request(&c, "GET", path, NULL, 0, &r) == 0,
			      "GET %s: no answer", path);
		ck_assert_msg(r.status == 200, "GET %s: status %d", path,
			      r.status);
		ck_assert_msg(ft_bundle_check(r.body, r.body_len, tile.width) ==
				      0,
			      "%s is not a bundle of %u entries", path,
			      tile.width);
		ft_bundle_iter it;
		const uint8_t *e;
		size_t el;
		ft_bundle_iter_init(&it, r.body, r.body_len);
		while (ft_bundle_next(&it, &e, &el) == 1) {
			ft_hash leaf;
			t->ent[t->n] = malloc(el + 1);
			ck_assert_ptr_nonnull(t->ent[t->n]);
			memcpy(t->ent[t->n], e, el);
			t->elen[t->n] = el;
			t->n++;
			ft_merkle_leaf_hash(e, el, &leaf);
			ck_assert_int_eq(ft_tree_append(&ft, &leaf, tree_node, t),
					 0);
		}
		lh_resp_free(&r);
	}
	lh_conn_close(&c);
	ck_assert_uint_eq(t->n, n);
}

/*
 * After a restart: everything the clients were ever told must hold in the
 * tree the server now serves. Checks the consistency proofs of the
 * checkpoints first seen in `fresh_round` and of a sample of older ones
 * (all of them are compared with the rebuilt tree's roots).
 */
static uint64_t verify_log(const lh_server *s, struct record *rec,
			   unsigned fresh_round)
{
	uint64_t n = 0;
	ft_hash root;
	struct tree t;
	lh_conn c;

	ck_assert_msg(rec->err[0] == 0, "%s", rec->err);
	ck_assert_msg(lh_checkpoint(s, &n, root.b, NULL) == 0,
		      "GET /checkpoint after restart failed or does not verify");
	rec_cp(rec, n, &root);
	ck_assert_msg(rec->err[0] == 0, "after restart: %s", rec->err);
	ck_assert_msg(n >= rec->max_size,
		      "tree size went down: %" PRIu64 " after restart, but a "
		      "checkpoint of size %" PRIu64 " was handed out before",
		      n, rec->max_size);

	tree_fetch(s, n, &t);
	ft_hash mine;
	tree_root_at(&t, n, &mine);
	ck_assert_msg(memcmp(mine.b, root.b, 32) == 0,
		      "the served bundles do not rebuild the checkpoint's root "
		      "(size %" PRIu64 ")",
		      n);

	/* Every acknowledged entry, at its index. */
	for (size_t i = 0; i < rec->nacks; i++) {
		const struct ack *a = &rec->acks[i];
		ck_assert_msg(a->index < n,
			      "acknowledged entry %" PRIu64 " is lost: the "
			      "tree has %" PRIu64 " entries",
			      a->index, n);
		ck_assert_msg(t.elen[a->index] == a->len &&
				      memcmp(t.ent[a->index], a->entry, a->len) ==
					      0,
			      "acknowledged entry %" PRIu64 " is not at its index "
			      "after restart:\n%.*s",
			      a->index, (int)(a->len < 80 ? a->len : 80),
			      (const char *)a->entry);
	}

	ck_assert_int_eq(lh_conn_open(&c, s->port), 0);
	/* A sample looked up by leaf hash. */
	for (unsigned k = 0; k < 12 && rec->nacks > 0; k++) {
		const struct ack *a = &rec->acks[rnd() % rec->nacks];
		ft_hash leaf, p[FT_PROOF_MAX_INCLUSION];
		char hex[65];
		lh_resp r;
		size_t pn = 0;
		ft_merkle_leaf_hash(a->entry, a->len, &leaf);
		lh_hex(leaf.b, 32, hex);
		char *u = tu_strf("/proof/inclusion?leaf=%s&size=%" PRIu64, hex, n);
		ck_assert_int_eq(lh_conn_request(&c, "GET", u, NULL, 0, &r), 0);
		ck_assert_msg(r.status == 200, "%s: status %d", u, r.status);
		char *first = tu_strf("index %" PRIu64 "\n", a->index);
		size_t fl = strlen(first);
		ck_assert_msg(r.body_len >= fl && memcmp(r.body, first, fl) == 0,
			      "%s: not \"%s\": %s", u, first, (char *)r.body);
		ck_assert_int_eq(lh_parse_hashes(r.body + fl, r.body_len - fl,
						 p, FT_PROOF_MAX_INCLUSION, &pn),
				 0);
		ck_assert_int_eq(ft_proof_verify_inclusion(a->index, n, leaf.b,
							   32, p[0].b, pn * 32,
							   root.b, 32),
				 0);
		lh_resp_free(&r);
		free(first);
		free(u);
	}

	/* Every checkpoint ever handed out is a prefix of this tree. */
	size_t nold = 0;
	for (size_t i = 0; i < rec->ncps; i++) {
		const struct obs *o = &rec->cps[i];
		ft_hash want;
		ck_assert_msg(o->size <= n, "checkpoint %" PRIu64 " > %" PRIu64,
			      o->size, n);
		tree_root_at(&t, o->size, &want);
		ck_assert_msg(memcmp(want.b, o->root.b, 32) == 0,
			      "a checkpoint of size %" PRIu64 " handed out in "
			      "round %u is not a prefix of the tree after the "
			      "restart",
			      o->size, o->round);
		if (o->size == 0 || (o->round != fresh_round && nold++ >= 24 &&
				     rnd() % 8 != 0)) {
			continue;
		}
		ft_hash p[FT_PROOF_MAX_CONSISTENCY];
		size_t pn = 0;
		lh_resp r;
		char *u = tu_strf("/proof/consistency?old=%" PRIu64 "&new=%" PRIu64,
			       o->size, n);
		ck_assert_int_eq(lh_conn_request(&c, "GET", u, NULL, 0, &r), 0);
		ck_assert_msg(r.status == 200, "%s: status %d", u, r.status);
		ck_assert_msg(lh_parse_hashes(r.body, r.body_len, p,
					      FT_PROOF_MAX_CONSISTENCY,
					      &pn) == 0,
			      "%s: bad answer", u);
		int rc = ft_proof_verify_consistency(o->size, n, o->root.b, 32,
						     root.b, 32, p[0].b,
						     pn * 32);
		ck_assert_msg(rc == 0, "%s does not verify: %s", u,
			      ft_errname(rc));
		lh_resp_free(&r);
		free(u);
	}
	lh_conn_close(&c);
	tree_free(&t);
	return n;
}

/* ---- The static export. ------------------------------------------------ */

struct file_fetch {
	const char *dir;
};

static int fetch_file_tile(void *ctx, const ft_tile *t, uint8_t *buf,
			   size_t *len)
{
	const struct file_fetch *f = ctx;
	char p[FT_TILE_PATH_MAX], full[1024];
	size_t pl, n = 0;

	if (ft_tile_path(t, p, sizeof p, &pl) != 0 ||
	    snprintf(full, sizeof full, "%s/%s", f->dir, p) >= (int)sizeof full) {
		return FT_EINVAL;
	}
	uint8_t *b = tu_read_file(full, &n);
	if (b == NULL) {
		return FT_EREAD;
	}
	if (n != (size_t)t->width * FT_HASH_LEN) {
		free(b);
		return FT_ETILE_SIZE;
	}
	memcpy(buf, b, n);
	*len = n;
	free(b);
	return 0;
}

/*
 * The exported checkpoint in s->tiles (if any) verifies, is not older than
 * *last_size, and every tile and bundle of its tree is there: the hash
 * tiles yield its root, and the bundles' leaves yield it too. Returns its
 * size and root; -1 (after a message) if there is no exported checkpoint.
 */
static int check_export(const lh_server *s, uint64_t *last_size,
			ft_hash *root_out, const char *when)
{
	char *cp = tu_strf("%s/checkpoint", s->tiles);
	size_t len = 0;
	uint8_t *b = tu_read_file(cp, &len);
	uint64_t m = 0;
	ft_hash root;

	free(cp);
	if (b == NULL) {
		ck_assert_msg(*last_size == 0,
			      "%s: the exported checkpoint disappeared", when);
		return -1;
	}
	int rc = lh_open_checkpoint(s, b, len, &m, root.b);
	ck_assert_msg(rc == 0, "%s: exported checkpoint does not verify: %s",
		      when, ft_errname(rc));
	free(b);
	ck_assert_msg(m >= *last_size,
		      "%s: exported checkpoint went back from %" PRIu64
		      " to %" PRIu64,
		      when, *last_size, m);
	*last_size = m;

	/* Hash tiles: through a tile reader over the files. */
	struct file_fetch ff = {s->tiles};
	ft_tile_reader *tr = malloc(sizeof *tr);
	ck_assert_ptr_nonnull(tr);
	ft_tile_reader_init(tr, m, fetch_file_tile, &ff);
	ft_hash_reader hr;
	ft_tile_reader_as_hash_reader(tr, &hr);
	ft_hash th;
	if (m > 0) {
		rc = ft_tree_hash_at(m, &hr, &th);
		ck_assert_msg(rc == 0,
			      "%s: the exported tiles of size %" PRIu64
			      " are incomplete: %s",
			      when, m, ft_errname(rc));
		ck_assert_msg(memcmp(th.b, root.b, 32) == 0,
			      "%s: the exported tiles do not yield the exported "
			      "root (size %" PRIu64 ")",
			      when, m);
	}
	free(tr);

	/* Bundles: all of them, and every hash tile exists. */
	ft_tree t;
	ft_tree_init(&t);
	for (uint64_t i = 0; i * FT_TILE_WIDTH < m; i++) {
		ft_tile tile;
		char p[FT_TILE_PATH_MAX];
		size_t pl, n = 0;
		ck_assert_int_eq(ft_tile_at(m, FT_TILE_ENTRIES, i, &tile), 0);
		ck_assert_int_eq(ft_tile_path(&tile, p, sizeof p, &pl), 0);
		char *fp = tu_strf("%s/%s", s->tiles, p);
		uint8_t *bb = tu_read_file(fp, &n);
		ck_assert_msg(bb != NULL, "%s: %s is missing (checkpoint %" PRIu64
					  ")",
			      when, p, m);
		ck_assert_msg(ft_bundle_check(bb, n, tile.width) == 0,
			      "%s: %s is not a bundle of %u", when, p,
			      tile.width);
		ft_bundle_iter it;
		const uint8_t *e;
		size_t el;
		ft_bundle_iter_init(&it, bb, n);
		while (ft_bundle_next(&it, &e, &el) == 1) {
			ft_hash leaf;
			ft_merkle_leaf_hash(e, el, &leaf);
			ck_assert_int_eq(ft_tree_append(&t, &leaf, NULL, NULL), 0);
		}
		free(bb);
		free(fp);
	}
	ft_tree_root(&t, &th);
	ck_assert_msg(memcmp(th.b, root.b, 32) == 0,
		      "%s: the exported bundles do not yield the exported root "
		      "(size %" PRIu64 ")",
		      when, m);
	for (unsigned l = 0; l < ft_tile_levels(m); l++) {
		for (uint64_t i = 0;; i++) {
			ft_tile tile;
			char p[FT_TILE_PATH_MAX];
			size_t pl;
			if (ft_tile_at(m, (int)l, i, &tile) != 0) {
				break;
			}
			ck_assert_int_eq(ft_tile_path(&tile, p, sizeof p, &pl), 0);
			char *fp = tu_strf("%s/%s", s->tiles, p);
			ck_assert_msg(access(fp, R_OK) == 0,
				      "%s: %s is missing (checkpoint %" PRIu64 ")",
				      when, p, m);
			free(fp);
		}
	}
	if (root_out != NULL) {
		*root_out = root;
	}
	return 0;
}

/* ---- Tests. ------------------------------------------------------------- */

static void crash_rounds(int tiles, unsigned k)
{
	lh_server s;
	struct record rec;
	uint64_t export_size = 0, n = 0;
	unsigned total_acked = 0;

	memset(&rec, 0, sizeof rec);
	ck_assert_int_eq(pthread_mutex_init(&rec.mu, NULL), 0);
	ck_assert_int_eq(ft_init(), 0);
	rng_seed();
	ck_assert_msg(lh_init(&s, ORIGIN) == 0, "ftlogd init failed (%s)",
		      lh_ftlogd_path());
	for (unsigned round = 0; round <= k; round++) {
		ck_assert_msg(lh_start(&s, tiles, crash_args) == 0,
			      "ftlogd did not start in round %u (see its log)",
			      round);
		if (round > 0) {
			n = verify_log(&s, &rec, round - 1);
			if (tiles) {
				char *w = tu_strf("after restart %u", round);
				ft_hash er, tr;
				if (check_export(&s, &export_size, &er, w) == 0) {
					/* The export is a prefix of the log. */
					ck_assert_uint_le(export_size, n);
					struct tree t;
					tree_fetch(&s, export_size, &t);
					tree_root_at(&t, export_size, &tr);
					ck_assert_msg(memcmp(tr.b, er.b, 32) == 0,
						      "%s: exported checkpoint is "
						      "not a prefix of the log",
						      w);
					tree_free(&t);
				}
				free(w);
			}
		}
		if (round == k) {
			break;
		}
		rec.round = round;
		long delay = 50 + (long)(rnd() % 651);
		unsigned acked = 0;
		load_and_kill(&s, &rec, delay, &acked);
		total_acked += acked;
		ck_assert_msg(rec.err[0] == 0, "round %u: %s", round, rec.err);
		if (tiles) {
			char *w = tu_strf("after kill %u", round);
			(void)check_export(&s, &export_size, NULL, w);
			free(w);
		}
	}

	if (tiles) {
		/* One more entry: the export catches up with the log. */
		uint64_t idx, size;
		ft_hash root;
		lh_resp r;
		uint8_t *last = NULL;
		size_t lastlen = 0;
		ck_assert_int_eq(lh_event(UINT64_C(1) << 50, 0, &last, &lastlen),
				 0);
		ck_assert_int_eq(lh_add(s.port, last, lastlen, &idx, &r), 0);
		ck_assert_int_eq(lh_check_tlog_proof(&s, r.body, r.body_len,
						     last, lastlen, &idx, &size,
						     root.b, NULL, NULL),
				 0);
		lh_resp_free(&r);
		free(last);
		uint64_t seen = export_size;
		for (int i = 0; i < 200; i++) {
			(void)check_export(&s, &seen, NULL, "after the last add");
			if (seen >= size) {
				break;
			}
			tu_sleep_ms(50);
		}
		ck_assert_msg(seen >= size,
			      "the export stays at size %" PRIu64
			      " while the log has %" PRIu64,
			      seen, size);
	}
	fprintf(stderr,
		"test_crash: %u rounds%s, %u acknowledged entries, %zu "
		"checkpoint sizes seen, final size %" PRIu64 "\n",
		k, tiles ? " with --tiles-dir" : "", total_acked, rec.ncps, n);
	ck_assert_msg(total_acked > 0, "no entry was ever acknowledged");
	int st = lh_stop(&s);
	ck_assert_msg(st == 0, "ftlogd exit status %d after SIGTERM", st);
	ck_assert_msg(lh_log_clean(&s) == 0, "sanitizer report in ftlogd's log");
	lh_cleanup(&s);
	rec_free(&rec);
}

START_TEST(test_kill9)
{
	crash_rounds(0, rounds(4, 60));
}
END_TEST

START_TEST(test_kill9_tiles)
{
	crash_rounds(1, rounds(3, 20));
}
END_TEST

static Suite *crash_suite(void)
{
	Suite *s = suite_create("crash");
	TCase *tc = tcase_create("kill9");
	int lng = rounds(0, 1);

	tcase_set_timeout(tc, lng ? 1200 : 240);
	tcase_add_test(tc, test_kill9);
	tcase_add_test(tc, test_kill9_tiles);
	tcase_add_unchecked_fixture(tc, lh_suite_setup, lh_suite_teardown);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	(void)signal(SIGPIPE, SIG_IGN);
	return tu_run_suite(crash_suite());
}
