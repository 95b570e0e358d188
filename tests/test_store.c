/*
 * tests/test_store.c - ftlogd's LMDB store: appends checked against an
 * independent model (entries, leaf index, every tile, every node of every
 * level read through the hash reader, roots, proofs and the signed
 * checkpoint, every full entry bundle), dedupe, atomicity when the signer
 * fails or the map fills, reopening, and detection of tampered storage.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <lmdb.h>

#include <ftlog/merkle.h>
#include <ftlog/note.h>
#include <ftlog/tile.h>

#include "logd/store.h"
#include "tests/testutil.h"

#define ORIGIN "example.com/ftlog-store-test"
#define ORIGIN_LEN (sizeof ORIGIN - 1)

/* Cheap assertion for hot loops: Check's ck_assert marks a point on every
 * success, which costs far more than the lookups being checked. */
#define REQ(c)                                                         \
	do {                                                           \
		if (!(c)) {                                            \
			ck_abort_msg("%s:%d: %s", __FILE__, __LINE__, #c); \
		}                                                      \
	} while (0)

/* ---- The signer: a real checkpoint note, plus failure injection. */

typedef struct signer {
	ft_skey key;
	ft_vkey vkey;
	int calls;
	int fail;       /* returned instead of signing when non-zero */
	size_t bad_len; /* reported as the length when non-zero */
} signer;

static int sign_cb(void *ctx, uint64_t size, const ft_hash *root,
		   uint8_t *buf, size_t cap, size_t *len)
{
	signer *sg = ctx;
	ft_checkpoint cp;
	uint8_t text[512];
	size_t tlen;
	int rc;

	sg->calls++;
	if (sg->fail != 0) {
		return sg->fail;
	}
	memset(&cp, 0, sizeof cp);
	memcpy(cp.origin, ORIGIN, ORIGIN_LEN);
	cp.origin_len = ORIGIN_LEN;
	cp.size = size;
	cp.root = *root;
	if ((rc = ft_checkpoint_format(&cp, text, sizeof text, &tlen)) != 0) {
		return rc;
	}
	if ((rc = ft_note_sign(text, tlen, &sg->key, 1, 0, buf, cap, len)) !=
	    0) {
		return rc;
	}
	if (sg->bad_len != 0) {
		*len = sg->bad_len;
	}
	return 0;
}

static void signer_init(signer *sg)
{
	memset(sg, 0, sizeof *sg);
	ck_assert_int_eq(ft_key_generate(ORIGIN, ORIGIN_LEN, FT_KEY_ED25519,
					 &sg->key),
			 0);
	ft_skey_public(&sg->key, &sg->vkey);
}

/* ---- Entries: unique, deterministic bytes for an id. */

static void entry_make(uint64_t id, size_t len, uint8_t *buf)
{
	for (size_t j = 0; j < 8 && j < len; j++) {
		buf[j] = (uint8_t)(id >> (56 - 8 * j));
	}
	for (size_t j = 8; j < len; j++) {
		buf[j] = (uint8_t)(id * 131 + j * 7);
	}
}

static size_t entry_len(uint64_t id)
{
	return 8 + (size_t)(id % 53);
}

/* ---- The model: what the store must hold, built without it. */

typedef struct model {
	uint64_t size, cap;
	uint64_t *ids;   /* entry id of each index */
	size_t *lens;    /* entry length of each index */
	ft_hash *leaves; /* leaf hash of each index */
	ft_hash *roots;  /* roots[s]: root of the tree of size s */
	ft_tree tree;
	int want_ckpt; /* a checkpoint has been signed */
} model;

static model *model_new(void)
{
	model *m = calloc(1, sizeof *m);

	ck_assert_ptr_nonnull(m);
	ft_tree_init(&m->tree);
	m->roots = malloc(sizeof *m->roots);
	ck_assert_ptr_nonnull(m->roots);
	ft_merkle_empty_root(&m->roots[0]);
	return m;
}

static void model_free(model *m)
{
	free(m->ids);
	free(m->lens);
	free(m->leaves);
	free(m->roots);
	free(m);
}

static void model_append(model *m, uint64_t id, size_t len)
{
	uint8_t buf[FT_ENTRY_MAX];

	if (m->size == m->cap) {
		m->cap = m->cap == 0 ? 1024 : m->cap * 2;
		m->ids = realloc(m->ids, m->cap * sizeof *m->ids);
		m->lens = realloc(m->lens, m->cap * sizeof *m->lens);
		m->leaves = realloc(m->leaves, m->cap * sizeof *m->leaves);
		m->roots = realloc(m->roots, (m->cap + 1) * sizeof *m->roots);
		ck_assert(m->ids && m->lens && m->leaves && m->roots);
	}
	entry_make(id, len, buf);
	m->ids[m->size] = id;
	m->lens[m->size] = len;
	ft_merkle_leaf_hash(buf, len, &m->leaves[m->size]);
	REQ(ft_tree_append(&m->tree, &m->leaves[m->size], NULL, NULL) == 0);
	m->size++;
	ft_tree_root(&m->tree, &m->roots[m->size]);
	m->want_ckpt = 1;
}

/*
 * The level-8L hashes of the model, computed straight from the leaves by
 * pairwise hashing of each group of 256: the expected tile contents.
 * lvl[L] has size >> 8L hashes.
 */
static void model_levels(const model *m, ft_hash *lvl[8], uint64_t cnt[8])
{
	ft_hash tmp[FT_TILE_WIDTH];

	for (unsigned l = 0; l < 8; l++) {
		cnt[l] = m->size >> (8 * l);
		lvl[l] = malloc((cnt[l] + 1) * sizeof(ft_hash));
		ck_assert_ptr_nonnull(lvl[l]);
		if (l == 0) {
			if (cnt[0] > 0) {
				memcpy(lvl[0], m->leaves,
				       cnt[0] * sizeof(ft_hash));
			}
			continue;
		}
		for (uint64_t i = 0; i < cnt[l]; i++) {
			memcpy(tmp, &lvl[l - 1][i * FT_TILE_WIDTH], sizeof tmp);
			for (size_t w = FT_TILE_WIDTH; w > 1; w /= 2) {
				for (size_t j = 0; j < w / 2; j++) {
					ft_merkle_node_hash(&tmp[2 * j],
							    &tmp[2 * j + 1],
							    &tmp[j]);
				}
			}
			lvl[l][i] = tmp[0];
		}
	}
}

/*
 * Every complete node of the model's tree, level by level, by pairwise
 * hashing of the level below (independent of the store and of ft_tree):
 * nodes[l] has cnt[l] = size >> l hashes; *levels is the number of
 * non-empty levels. A node's hash does not depend on the tree size, so
 * these are also the complete nodes of every smaller tree.
 */
typedef struct model_nodes {
	unsigned levels;
	uint64_t cnt[64];
	ft_hash *nodes[64];
} model_nodes;

static void model_nodes_make(const model *m, model_nodes *mn)
{
	memset(mn, 0, sizeof *mn);
	for (unsigned l = 0; l < 63 && (m->size >> l) != 0; l++) {
		mn->cnt[l] = m->size >> l;
		mn->nodes[l] = malloc(mn->cnt[l] * sizeof(ft_hash));
		ck_assert_ptr_nonnull(mn->nodes[l]);
		for (uint64_t i = 0; i < mn->cnt[l]; i++) {
			if (l == 0) {
				mn->nodes[0][i] = m->leaves[i];
				continue;
			}
			ft_merkle_node_hash(&mn->nodes[l - 1][2 * i],
					    &mn->nodes[l - 1][2 * i + 1],
					    &mn->nodes[l][i]);
		}
		mn->levels = l + 1;
	}
}

static void model_nodes_free(model_nodes *mn)
{
	for (unsigned l = 0; l < mn->levels; l++) {
		free(mn->nodes[l]);
	}
}

/*
 * Read every node complete at `size` through the store's hash reader, in
 * requests of FT_READ_MAX ids walking up and across the levels, and
 * compare with the model. Then each level's first node that is not
 * complete at size (whether or not the snapshot has it) must be FT_EREAD,
 * alone and at the end of a request that is otherwise fine.
 */
static void check_nodes_at(ft_store_reader *r, const model_nodes *mn,
			   uint64_t size)
{
	ft_tile_reader *tr = malloc(sizeof *tr);
	ft_node_id ids[FT_READ_MAX];
	ft_hash got[FT_READ_MAX];
	ft_hash_reader hr;
	size_t n = 0;

	ck_assert_ptr_nonnull(tr);
	ft_store_hash_reader(r, size, tr, &hr);
	for (unsigned l = 0; l < 63 && (size >> l) != 0; l++) {
		for (uint64_t i = 0; i < (size >> l); i++) {
			ids[n].level = (uint8_t)l;
			ids[n].index = i;
			n++;
			if (n == FT_READ_MAX || i + 1 == (size >> l)) {
				REQ(hr.read(hr.ctx, ids, n, got) == 0);
				for (size_t j = 0; j < n; j++) {
					REQ(ft_hash_equal(
						&got[j],
						&mn->nodes[ids[j].level]
							  [ids[j].index]));
				}
				n = 0;
			}
		}
	}
	for (unsigned l = 0; l < 63; l++) {
		ids[0].level = 0;
		ids[0].index = 0;
		ids[1].level = (uint8_t)l;
		ids[1].index = size >> l;
		if (size == 0) {
			REQ(hr.read(hr.ctx, &ids[1], 1, got) == FT_EREAD);
			continue;
		}
		REQ(hr.read(hr.ctx, ids, 1, got) == 0);
		REQ(hr.read(hr.ctx, ids, 2, got) == FT_EREAD);
		REQ(hr.read(hr.ctx, &ids[1], 1, got) == FT_EREAD);
	}
	ids[0].level = 63;
	ids[0].index = 0;
	REQ(hr.read(hr.ctx, ids, 1, got) == FT_EREAD);
	free(tr);
}

static uint64_t rng_state = 0x9e3779b97f4a7c15u;

static uint64_t rnd(uint64_t n)
{
	rng_state = rng_state * 6364136223846793005u + 1442695040888963407u;
	return (rng_state >> 17) % n;
}

/* Verify the checkpoint note of (size, root) signed by sg. */
static void check_checkpoint(const signer *sg, const uint8_t *note,
			     size_t len, uint64_t size, const ft_hash *root)
{
	ft_checkpoint cp;
	size_t tlen;

	ck_assert_ptr_nonnull(note);
	ck_assert_int_eq(ft_note_open(note, len, &sg->vkey, 1, NULL, &tlen), 0);
	ck_assert_int_eq(
		ft_checkpoint_parse(note, tlen, ORIGIN, ORIGIN_LEN, &cp), 0);
	ck_assert_uint_eq(cp.size, size);
	ck_assert(ft_hash_equal(&cp.root, root));
}

/* Proofs through the store's hash reader at tree size `size`. */
static void check_proofs_at(ft_store_reader *r, const model *m, uint64_t size,
			    size_t samples)
{
	ft_tile_reader *tr = malloc(sizeof *tr);
	ft_hash proof[FT_PROOF_MAX_CONSISTENCY];
	ft_hash_reader hr;
	ft_hash root;
	size_t n;

	ck_assert_ptr_nonnull(tr);
	ft_store_hash_reader(r, size, tr, &hr);
	ck_assert_int_eq(ft_tree_hash_at(size, &hr, &root), 0);
	ck_assert(ft_hash_equal(&root, &m->roots[size]));
	if (size == 0) {
		free(tr);
		return;
	}
	for (size_t k = 0; k < samples; k++) {
		uint64_t i = k == 0 ? 0 : k == 1 ? size - 1 : rnd(size);
		if (size <= samples) {
			i = k % size;
		}
		REQ(ft_proof_inclusion(i, size, &hr, proof, &n) == 0);
		REQ(ft_proof_verify_inclusion(i, size, m->leaves[i].b,
					      FT_HASH_LEN, proof[0].b,
					      n * FT_HASH_LEN, m->roots[size].b,
					      FT_HASH_LEN) == 0);
		uint64_t s1 = k == 0 ? 1 : k == 1 ? size : 1 + rnd(size);
		REQ(ft_proof_consistency(s1, size, &hr, proof, &n) == 0);
		REQ(ft_proof_verify_consistency(
			    s1, size, m->roots[s1].b, FT_HASH_LEN,
			    m->roots[size].b, FT_HASH_LEN, proof[0].b,
			    n * FT_HASH_LEN) == 0);
	}
	free(tr);
}

/*
 * Full bundle n of the model, encoded here byte by byte from the entries
 * (not through ft_bundle_append, which the store uses). Returns a malloc'd
 * buffer and its length.
 */
static uint8_t *model_bundle(const model *m, uint64_t n, size_t *len)
{
	uint64_t first = n * FT_TILE_WIDTH;
	size_t total = 0, off = 0;
	uint8_t *b;

	REQ(first + FT_TILE_WIDTH <= m->size);
	for (uint64_t i = first; i < first + FT_TILE_WIDTH; i++) {
		total += 2 + m->lens[i];
	}
	b = malloc(total);
	ck_assert_ptr_nonnull(b);
	for (uint64_t i = first; i < first + FT_TILE_WIDTH; i++) {
		b[off] = (uint8_t)(m->lens[i] >> 8);
		b[off + 1] = (uint8_t)(m->lens[i] & 0xff);
		entry_make(m->ids[i], m->lens[i], b + off + 2);
		off += 2 + m->lens[i];
	}
	*len = total;
	return b;
}

/* Every full bundle of the model is stored exactly; the next is not. */
static void check_bundles(ft_store_reader *r, const model *m)
{
	uint64_t full = m->size / FT_TILE_WIDTH;
	const uint8_t *data;
	size_t len, wlen;

	for (uint64_t n = 0; n < full; n++) {
		uint8_t *want = model_bundle(m, n, &wlen);

		REQ(ft_store_get_bundle(r, n, &data, &len) == 0);
		REQ(len == wlen && memcmp(data, want, len) == 0);
		free(want);
	}
	REQ(ft_store_get_bundle(r, full, &data, &len) == FT_ENOTFOUND);
	REQ(ft_store_get_bundle(r, full + 1, &data, &len) == FT_ENOTFOUND);
	REQ(ft_store_get_bundle(r, UINT64_MAX, &data, &len) == FT_ENOTFOUND);
}

/* Everything the store shows must equal the model. */
static void check_store(ft_store *s, const model *m, const signer *sg)
{
	ft_store_reader r;
	ft_store_state st;
	uint64_t size, idx;
	ft_hash root;
	const uint8_t *data;
	size_t len;
	uint8_t buf[FT_ENTRY_MAX];
	ft_hash *lvl[8];
	uint64_t cnt[8];

	ft_store_head(s, &size, &root);
	ck_assert_uint_eq(size, m->size);
	ck_assert(ft_hash_equal(&root, &m->roots[m->size]));

	ck_assert_int_eq(ft_store_reader_init(s, &r), 0);
	ck_assert_int_eq(ft_store_read_begin(&r), 0);
	ck_assert_int_eq(ft_store_get_state(&r, &st), 0);
	ck_assert_uint_eq(st.size, m->size);
	ck_assert(ft_hash_equal(&st.root, &m->roots[m->size]));
	if (m->want_ckpt) {
		check_checkpoint(sg, st.checkpoint, st.checkpoint_len, m->size,
				 &m->roots[m->size]);
	} else {
		ck_assert_ptr_null(st.checkpoint);
		ck_assert_uint_eq(st.checkpoint_len, 0);
	}

	for (uint64_t i = 0; i < m->size; i++) {
		REQ(ft_store_get_entry(&r, i, &data, &len) == 0);
		entry_make(m->ids[i], m->lens[i], buf);
		REQ(len == m->lens[i] && memcmp(data, buf, len) == 0);
		REQ(ft_store_find_leaf(&r, &m->leaves[i], &idx) == 0);
		REQ(idx == i);
	}
	ck_assert_int_eq(ft_store_get_entry(&r, m->size, &data, &len),
			 FT_ENOTFOUND);
	check_bundles(&r, m);

	model_levels(m, lvl, cnt);
	for (unsigned l = 0; l < 8; l++) {
		uint64_t ntiles = (cnt[l] + FT_TILE_WIDTH - 1) / FT_TILE_WIDTH;

		for (uint64_t t = 0; t < ntiles; t++) {
			uint64_t w = cnt[l] - t * FT_TILE_WIDTH;
			if (w > FT_TILE_WIDTH) {
				w = FT_TILE_WIDTH;
			}
			REQ(ft_store_get_tile(&r, l, t, &data, &len) == 0);
			REQ(len == w * FT_HASH_LEN);
			REQ(memcmp(data, &lvl[l][t * FT_TILE_WIDTH], len) == 0);
		}
		/* Nothing beyond the tree's edge, at any level. */
		REQ(ft_store_get_tile(&r, l, ntiles, &data, &len) ==
		    FT_ENOTFOUND);
		free(lvl[l]);
	}

	/* Every node, at the current size and at older ones. */
	model_nodes mn;
	model_nodes_make(m, &mn);
	check_nodes_at(&r, &mn, m->size);
	for (int k = 0; k < 3 && m->size > 0; k++) {
		check_nodes_at(&r, &mn, rnd(m->size));
	}
	model_nodes_free(&mn);

	/* The current size, and a few older ones (prefix tiles). */
	check_proofs_at(&r, m, m->size, 150);
	for (int k = 0; k < 4 && m->size > 0; k++) {
		check_proofs_at(&r, m, 1 + rnd(m->size), 20);
	}
	ft_store_read_end(&r);
	ft_store_reader_free(&r);
}

/* Append ids [first, first + n) as one batch; they must all be new. */
static void append_new(ft_store *s, model *m, signer *sg, uint64_t first,
		       size_t n, size_t fixed_len)
{
	ft_store_item *items = calloc(n, sizeof *items);
	uint8_t *bufs;
	size_t maxlen = fixed_len != 0 ? fixed_len : 64;
	uint64_t old = m->size, new_size = 0;
	int calls = sg->calls;

	ck_assert_ptr_nonnull(items);
	bufs = malloc(n * maxlen);
	ck_assert_ptr_nonnull(bufs);
	for (size_t i = 0; i < n; i++) {
		size_t len = fixed_len != 0 ? fixed_len : entry_len(first + i);
		entry_make(first + i, len, bufs + i * maxlen);
		items[i].data = bufs + i * maxlen;
		items[i].len = len;
	}
	ck_assert_int_eq(ft_store_append(s, items, n, sign_cb, sg, &new_size),
			 0);
	ck_assert_uint_eq(new_size, old + n);
	ck_assert_int_eq(sg->calls, calls + 1);
	for (size_t i = 0; i < n; i++) {
		size_t len = fixed_len != 0 ? fixed_len : entry_len(first + i);
		model_append(m, first + i, len);
		REQ(items[i].dup == 0);
		REQ(items[i].index == old + i);
		REQ(ft_hash_equal(&items[i].leaf, &m->leaves[old + i]));
	}
	free(bufs);
	free(items);
}

static ft_store *open_ok(const char *dir, uint64_t map)
{
	ft_store *s = NULL;

	ck_assert_int_eq(ft_store_open(dir, map, &s), 0);
	ck_assert_ptr_nonnull(s);
	return s;
}

static char *new_store(uint64_t map)
{
	char *dir = tu_tmpdir();

	ck_assert_ptr_nonnull(dir);
	ck_assert_int_eq(ft_store_create(dir, ORIGIN, ORIGIN_LEN, map), 0);
	return dir;
}

/* ---- Tests. */

START_TEST(test_create_open_close)
{
	char *dir = new_store(0);
	char sub[4200];
	model *m = model_new();
	signer sg;
	ft_store *s;
	const char *o;
	size_t olen;

	signer_init(&sg);
	ck_assert_int_eq(ft_store_create(dir, ORIGIN, ORIGIN_LEN, 0),
			 FT_EEXIST);
	s = open_ok(dir, 0);
	o = ft_store_origin(s, &olen);
	ck_assert_uint_eq(olen, ORIGIN_LEN);
	ck_assert_mem_eq(o, ORIGIN, ORIGIN_LEN);
	ck_assert_ptr_nonnull(ft_store_last_error(s));
	check_store(s, m, &sg);

	ft_store_reader r;
	const uint8_t *d;
	size_t len;
	uint64_t idx;
	ck_assert_int_eq(ft_store_reader_init(s, &r), 0);
	ck_assert_int_eq(ft_store_read_begin(&r), 0);
	ck_assert_int_eq(ft_store_get_tile(&r, 0, 0, &d, &len), FT_ENOTFOUND);
	ck_assert_int_eq(ft_store_find_leaf(&r, &m->roots[0], &idx),
			 FT_ENOTFOUND);
	ft_store_read_end(&r);
	ft_store_reader_free(&r);
	ft_store_close(s);

	/* Still refuses once closed, and open does not create. */
	ck_assert_int_eq(ft_store_create(dir, ORIGIN, ORIGIN_LEN, 0),
			 FT_EEXIST);
	snprintf(sub, sizeof sub, "%s/nope", dir);
	ck_assert_int_eq(ft_store_open(sub, 0, &s), FT_ENOTFOUND);
	s = open_ok(dir, 0);
	check_store(s, m, &sg);
	ft_store_close(s);

	char *d2 = tu_tmpdir();
	ck_assert_int_eq(ft_store_create(d2, "", 0, 0), FT_EINVAL);
	ck_assert_int_eq(ft_store_create(d2, "a\nb", 3, 0), FT_EINVAL);
	ck_assert_int_eq(ft_store_open(d2, 0, &s), FT_ENOTFOUND);
	tu_rmtree(d2);
	free(d2);

	model_free(m);
	tu_rmtree(dir);
	free(dir);
}
END_TEST

START_TEST(test_append_batches_and_reopen)
{
	static const size_t batches[] = {1,    255,   256,   257,
					 1000, 20000, 24000, 24231};
	char *dir = new_store(0);
	model *m = model_new();
	signer sg;
	ft_store *s;
	uint64_t id = 0;

	signer_init(&sg);
	s = open_ok(dir, 0);

	/* A fresh store has no checkpoint until one is signed at size 0. */
	check_store(s, m, &sg);
	ck_assert_int_eq(ft_store_resign(s, sign_cb, &sg), 0);
	ck_assert_int_eq(sg.calls, 1);
	m->want_ckpt = 1;
	check_store(s, m, &sg);

	for (size_t b = 0; b < sizeof batches / sizeof batches[0]; b++) {
		append_new(s, m, &sg, id, batches[b], 0);
		id += batches[b];
		check_store(s, m, &sg);
		/* Reopening rebuilds the same tree from the tiles. */
		ft_store_close(s);
		s = open_ok(dir, 0);
		check_store(s, m, &sg);
	}
	ck_assert_uint_eq(m->size, 70000);

	/* The reloaded tree keeps growing correctly. */
	append_new(s, m, &sg, id, 300, 0);
	id += 300;
	check_store(s, m, &sg);

	/* Re-signing keeps size and root. */
	int calls = sg.calls;
	ck_assert_int_eq(ft_store_resign(s, sign_cb, &sg), 0);
	ck_assert_int_eq(sg.calls, calls + 1);
	check_store(s, m, &sg);

	/* Single appends crossing a tile boundary one leaf at a time. */
	for (int i = 0; i < 260; i++) {
		append_new(s, m, &sg, id++, 1, 0);
	}
	check_store(s, m, &sg);
	ft_store_close(s);
	s = open_ok(dir, 0);
	check_store(s, m, &sg);
	ft_store_close(s);

	model_free(m);
	tu_rmtree(dir);
	free(dir);
}
END_TEST

static void set_item(ft_store_item *it, uint8_t *buf, uint64_t id)
{
	memset(it, 0, sizeof *it);
	entry_make(id, entry_len(id), buf);
	it->data = buf;
	it->len = entry_len(id);
}

START_TEST(test_dedupe)
{
	char *dir = new_store(0);
	model *m = model_new();
	signer sg;
	ft_store *s;
	ft_store_item it[5];
	uint8_t b[5][64];
	uint64_t ns = 0;

	signer_init(&sg);
	s = open_ok(dir, 0);
	append_new(s, m, &sg, 0, 10, 0);

	/* new X(100), old 3, new Y(101), X again, old 3 again */
	set_item(&it[0], b[0], 100);
	set_item(&it[1], b[1], 3);
	set_item(&it[2], b[2], 101);
	set_item(&it[3], b[3], 100);
	set_item(&it[4], b[4], 3);
	ck_assert_int_eq(ft_store_append(s, it, 5, sign_cb, &sg, &ns), 0);
	ck_assert_uint_eq(ns, 12);
	ck_assert_int_eq(sg.calls, 2);
	ck_assert_uint_eq(it[0].index, 10);
	ck_assert_int_eq(it[0].dup, 0);
	ck_assert_uint_eq(it[1].index, 3);
	ck_assert_int_eq(it[1].dup, 1);
	ck_assert_uint_eq(it[2].index, 11);
	ck_assert_int_eq(it[2].dup, 0);
	ck_assert_uint_eq(it[3].index, 10);
	ck_assert_int_eq(it[3].dup, 1);
	ck_assert_uint_eq(it[4].index, 3);
	ck_assert_int_eq(it[4].dup, 1);
	ck_assert(ft_hash_equal(&it[3].leaf, &it[0].leaf));
	model_append(m, 100, entry_len(100));
	model_append(m, 101, entry_len(101));
	check_store(s, m, &sg);

	/* A batch of nothing new: no write, no signature. */
	ft_store_reader r;
	ft_store_state st;
	uint8_t before[FT_STORE_CHECKPOINT_MAX];
	size_t before_len;
	ck_assert_int_eq(ft_store_reader_init(s, &r), 0);
	ck_assert_int_eq(ft_store_read_begin(&r), 0);
	ck_assert_int_eq(ft_store_get_state(&r, &st), 0);
	before_len = st.checkpoint_len;
	memcpy(before, st.checkpoint, before_len);
	ft_store_read_end(&r);

	set_item(&it[0], b[0], 0);
	set_item(&it[1], b[1], 101);
	set_item(&it[2], b[2], 100);
	set_item(&it[3], b[3], 101);
	ck_assert_int_eq(ft_store_append(s, it, 4, sign_cb, &sg, &ns), 0);
	ck_assert_uint_eq(ns, 12);
	ck_assert_int_eq(sg.calls, 2);
	ck_assert_uint_eq(it[0].index, 0);
	ck_assert_uint_eq(it[1].index, 11);
	ck_assert_uint_eq(it[2].index, 10);
	ck_assert_uint_eq(it[3].index, 11);
	for (int i = 0; i < 4; i++) {
		ck_assert_int_eq(it[i].dup, 1);
	}
	ck_assert_int_eq(ft_store_append(s, it, 0, sign_cb, &sg, &ns), 0);
	ck_assert_uint_eq(ns, 12);
	ck_assert_int_eq(sg.calls, 2);

	ck_assert_int_eq(ft_store_read_begin(&r), 0);
	ck_assert_int_eq(ft_store_get_state(&r, &st), 0);
	ck_assert_uint_eq(st.checkpoint_len, before_len);
	ck_assert_mem_eq(st.checkpoint, before, before_len);
	ft_store_read_end(&r);
	ft_store_reader_free(&r);
	check_store(s, m, &sg);

	/* Duplicates survive a reopen (the leaf index is durable). */
	ft_store_close(s);
	s = open_ok(dir, 0);
	set_item(&it[0], b[0], 7);
	set_item(&it[1], b[1], 102);
	ck_assert_int_eq(ft_store_append(s, it, 2, sign_cb, &sg, &ns), 0);
	ck_assert_uint_eq(ns, 13);
	ck_assert_uint_eq(it[0].index, 7);
	ck_assert_int_eq(it[0].dup, 1);
	ck_assert_uint_eq(it[1].index, 12);
	ck_assert_int_eq(it[1].dup, 0);
	model_append(m, 102, entry_len(102));
	check_store(s, m, &sg);
	ft_store_close(s);

	model_free(m);
	tu_rmtree(dir);
	free(dir);
}
END_TEST

/* Snapshot of what a failed append must not change. */
static void get_ckpt(ft_store *s, uint8_t *out, size_t *len)
{
	ft_store_reader r;
	ft_store_state st;

	ck_assert_int_eq(ft_store_reader_init(s, &r), 0);
	ck_assert_int_eq(ft_store_read_begin(&r), 0);
	ck_assert_int_eq(ft_store_get_state(&r, &st), 0);
	ck_assert_ptr_nonnull(st.checkpoint);
	memcpy(out, st.checkpoint, st.checkpoint_len);
	*len = st.checkpoint_len;
	ft_store_read_end(&r);
	ft_store_reader_free(&r);
}

static void check_absent(ft_store *s, const ft_store_item *it, size_t n)
{
	ft_store_reader r;
	uint64_t idx;

	ck_assert_int_eq(ft_store_reader_init(s, &r), 0);
	ck_assert_int_eq(ft_store_read_begin(&r), 0);
	for (size_t i = 0; i < n; i++) {
		ft_hash leaf;

		/* Hashed here: a failed append need not have set it[i].leaf. */
		ft_merkle_leaf_hash(it[i].data, it[i].len, &leaf);
		ck_assert_int_eq(ft_store_find_leaf(&r, &leaf, &idx),
				 FT_ENOTFOUND);
	}
	ft_store_read_end(&r);
	ft_store_reader_free(&r);
}

START_TEST(test_sign_failure_is_atomic)
{
	static const int fails[] = {FT_ECRYPTO, 1, 0};
	char *dir = new_store(0);
	model *m = model_new();
	signer sg;
	ft_store *s;
	ft_store_item it[11];
	uint8_t b[11][64];
	uint8_t ck0[FT_STORE_CHECKPOINT_MAX], ck1[FT_STORE_CHECKPOINT_MAX];
	size_t l0, l1;
	uint64_t ns = 99;

	signer_init(&sg);
	s = open_ok(dir, 0);
	append_new(s, m, &sg, 0, 300, 0);
	get_ckpt(s, ck0, &l0);

	/* A failing signer, a positive return, and a bogus length. */
	for (size_t f = 0; f < sizeof fails / sizeof fails[0]; f++) {
		for (int i = 0; i < 10; i++) {
			set_item(&it[i], b[i], 1000 + (uint64_t)i);
		}
		set_item(&it[10], b[10], 5);
		sg.fail = fails[f];
		sg.bad_len = fails[f] == 0 ? FT_STORE_CHECKPOINT_MAX + 1 : 0;
		int calls = sg.calls;
		int rc = ft_store_append(s, it, 11, sign_cb, &sg, &ns);
		if (fails[f] < 0) {
			ck_assert_int_eq(rc, fails[f]);
		} else {
			ck_assert_int_lt(rc, 0);
		}
		ck_assert_int_eq(sg.calls, calls + 1);
		ck_assert_uint_eq(ns, 99);
		check_store(s, m, &sg);
		check_absent(s, it, 10);
		get_ckpt(s, ck1, &l1);
		ck_assert_uint_eq(l1, l0);
		ck_assert_mem_eq(ck1, ck0, l0);
	}

	/* The failure left nothing behind in memory either. */
	sg.fail = 0;
	sg.bad_len = 0;
	ck_assert_int_eq(ft_store_append(s, it, 11, sign_cb, &sg, &ns), 0);
	ck_assert_uint_eq(ns, 310);
	for (int i = 0; i < 10; i++) {
		ck_assert_uint_eq(it[i].index, 300 + (uint64_t)i);
		ck_assert_int_eq(it[i].dup, 0);
		model_append(m, 1000 + (uint64_t)i, entry_len(1000 + (uint64_t)i));
	}
	ck_assert_uint_eq(it[10].index, 5);
	ck_assert_int_eq(it[10].dup, 1);
	check_store(s, m, &sg);
	ft_store_close(s);
	s = open_ok(dir, 0);
	check_store(s, m, &sg);
	ft_store_close(s);

	model_free(m);
	tu_rmtree(dir);
	free(dir);
}
END_TEST

START_TEST(test_invalid_items)
{
	char *dir = new_store(0);
	model *m = model_new();
	signer sg;
	ft_store *s;
	ft_store_item it[2];
	uint8_t *big = calloc(1, FT_ENTRY_MAX + 1);
	uint8_t b[64];
	uint64_t ns = 0;

	ck_assert_ptr_nonnull(big);
	signer_init(&sg);
	s = open_ok(dir, 0);
	append_new(s, m, &sg, 0, 3, 0);

	set_item(&it[0], b, 50);
	memset(&it[1], 0, sizeof it[1]);
	it[1].data = b;
	it[1].len = 0;
	ck_assert_int_eq(ft_store_append(s, it, 2, sign_cb, &sg, &ns),
			 FT_EINVAL);
	it[1].data = NULL;
	it[1].len = 5;
	ck_assert_int_eq(ft_store_append(s, it, 2, sign_cb, &sg, &ns),
			 FT_EINVAL);
	it[1].data = big;
	it[1].len = FT_ENTRY_MAX + 1;
	ck_assert_int_eq(ft_store_append(s, it, 2, sign_cb, &sg, &ns),
			 FT_ETOOBIG);
	ck_assert_int_eq(ft_store_append(s, it, 1, NULL, &sg, &ns), FT_EINVAL);
	ck_assert_int_eq(sg.calls, 1);
	check_store(s, m, &sg);

	/* The largest entry is fine. */
	it[1].len = FT_ENTRY_MAX;
	entry_make(77, FT_ENTRY_MAX, big);
	ck_assert_int_eq(ft_store_append(s, it, 2, sign_cb, &sg, &ns), 0);
	ck_assert_uint_eq(ns, 5);
	model_append(m, 50, entry_len(50));
	model_append(m, 77, FT_ENTRY_MAX);
	check_store(s, m, &sg);
	ft_store_close(s);

	free(big);
	model_free(m);
	tu_rmtree(dir);
	free(dir);
}
END_TEST

START_TEST(test_reader_snapshot)
{
	char *dir = new_store(0);
	model *m = model_new();
	signer sg;
	ft_store *s;
	ft_store_reader r;
	ft_store_state st;
	ft_tile_reader *tr = malloc(sizeof *tr);
	ft_hash_reader hr;
	ft_hash root;
	const uint8_t *d;
	size_t len;

	ck_assert_ptr_nonnull(tr);
	signer_init(&sg);
	s = open_ok(dir, 0);
	append_new(s, m, &sg, 0, 256, 0);
	ck_assert_int_eq(ft_store_reader_init(s, &r), 0);
	ck_assert_int_eq(ft_store_read_begin(&r), 0);
	ck_assert_int_eq(ft_store_read_begin(&r), FT_EINVAL);

	append_new(s, m, &sg, 256, 100, 0);
	ck_assert_int_eq(ft_store_get_state(&r, &st), 0);
	ck_assert_uint_eq(st.size, 256);
	check_checkpoint(&sg, st.checkpoint, st.checkpoint_len, 256,
			 &m->roots[256]);
	ck_assert_int_eq(ft_store_get_entry(&r, 256, &d, &len), FT_ENOTFOUND);
	ck_assert_int_eq(ft_store_get_tile(&r, 0, 1, &d, &len), FT_ENOTFOUND);
	ck_assert_int_eq(ft_store_get_tile(&r, 1, 0, &d, &len), 0);
	ck_assert_uint_eq(len, FT_HASH_LEN);
	/* Asking past the snapshot finds no stored hashes. */
	ft_store_hash_reader(&r, 257, tr, &hr);
	ck_assert_int_eq(ft_tree_hash_at(257, &hr, &root), FT_EREAD);
	ft_store_hash_reader(&r, 256, tr, &hr);
	ck_assert_int_eq(ft_tree_hash_at(256, &hr, &root), 0);
	ck_assert(ft_hash_equal(&root, &m->roots[256]));
	ft_store_read_end(&r);

	ck_assert_int_eq(ft_store_read_begin(&r), 0);
	ck_assert_int_eq(ft_store_get_state(&r, &st), 0);
	ck_assert_uint_eq(st.size, 356);
	ck_assert_int_eq(ft_store_get_tile(&r, 0, 1, &d, &len), 0);
	ck_assert_uint_eq(len, 100 * FT_HASH_LEN);
	ft_store_read_end(&r);
	ft_store_reader_free(&r);
	check_store(s, m, &sg);
	ft_store_close(s);

	free(tr);
	model_free(m);
	tu_rmtree(dir);
	free(dir);
}
END_TEST

START_TEST(test_map_full)
{
	const uint64_t small = (uint64_t)1 << 20;
	char *dir = new_store(small);
	model *m = model_new();
	signer sg;
	ft_store *s;
	uint64_t id = 0;
	int rc = 0, rounds = 0;

	signer_init(&sg);
	s = open_ok(dir, small);
	append_new(s, m, &sg, id, 50, 1024);
	id += 50;

	/* Fill the 1 MiB map with 1 KiB entries. */
	ft_store_item it[50];
	uint8_t (*bufs)[1024] = malloc(50 * 1024);
	ck_assert_ptr_nonnull(bufs);
	for (rounds = 0; rounds < 100; rounds++) {
		uint64_t ns = 0;
		for (int i = 0; i < 50; i++) {
			memset(&it[i], 0, sizeof it[i]);
			entry_make(id + (uint64_t)i, 1024, bufs[i]);
			it[i].data = bufs[i];
			it[i].len = 1024;
		}
		rc = ft_store_append(s, it, 50, sign_cb, &sg, &ns);
		if (rc != 0) {
			break;
		}
		for (int i = 0; i < 50; i++) {
			model_append(m, id + (uint64_t)i, 1024);
		}
		id += 50;
		ck_assert_uint_eq(ns, m->size);
	}
	ck_assert_int_eq(rc, FT_ESTORE_FULL);
	ck_assert_int_gt(rounds, 0);
	ck_assert_ptr_nonnull(strstr(ft_store_last_error(s), "MAP_FULL"));
	check_store(s, m, &sg);
	check_absent(s, it, 50);
	ft_store_close(s);

	/* Reopen with room to grow: the same batch now goes in. */
	s = open_ok(dir, (uint64_t)64 << 20);
	check_store(s, m, &sg);
	append_new(s, m, &sg, id, 50, 1024);
	id += 50;
	append_new(s, m, &sg, id, 500, 1024);
	check_store(s, m, &sg);
	ft_store_close(s);

	free(bufs);
	model_free(m);
	tu_rmtree(dir);
	free(dir);
}
END_TEST

/* ---- Raw LMDB access to tamper with a closed store. */

typedef enum raw_op { RAW_GET, RAW_PUT, RAW_DEL } raw_op;

static void raw(const char *dir, const char *db, raw_op op, const void *key,
		size_t klen, uint8_t *val, size_t *vlen)
{
	MDB_env *env;
	MDB_txn *txn;
	MDB_dbi dbi;
	MDB_val k = {klen, (void *)(uintptr_t)key}, v;

	ck_assert_int_eq(mdb_env_create(&env), 0);
	ck_assert_int_eq(mdb_env_set_maxdbs(env, 4), 0);
	ck_assert_int_eq(mdb_env_set_mapsize(env, (size_t)1 << 30), 0);
	ck_assert_int_eq(mdb_env_open(env, dir, 0, 0600), 0);
	ck_assert_int_eq(mdb_txn_begin(env, NULL, 0, &txn), 0);
	ck_assert_int_eq(mdb_dbi_open(txn, db, 0, &dbi), 0);
	switch (op) {
	case RAW_GET:
		ck_assert_int_eq(mdb_get(txn, dbi, &k, &v), 0);
		ck_assert_uint_le(v.mv_size, *vlen);
		memcpy(val, v.mv_data, v.mv_size);
		*vlen = v.mv_size;
		break;
	case RAW_PUT:
		v.mv_data = val;
		v.mv_size = *vlen;
		ck_assert_int_eq(mdb_put(txn, dbi, &k, &v, 0), 0);
		break;
	case RAW_DEL:
		ck_assert_int_eq(mdb_del(txn, dbi, &k, NULL), 0);
		break;
	default:
		ck_abort_msg("bad raw op");
	}
	ck_assert_int_eq(mdb_txn_commit(txn), 0);
	mdb_env_close(env);
}

static void expect_corrupt(const char *dir)
{
	ft_store *s = NULL;

	ck_assert_int_eq(ft_store_open(dir, 0, &s), FT_ESTORE_CORRUPT);
	ck_assert_ptr_null(s);
}

START_TEST(test_corrupt_detected)
{
	char *dir = new_store(0);
	model *m = model_new();
	signer sg;
	ft_store *s;
	uint8_t tkey03[9] = {0, 0, 0, 0, 0, 0, 0, 0, 3};
	uint8_t tkey10[9] = {1, 0, 0, 0, 0, 0, 0, 0, 0};
	uint8_t ekey[8] = {0, 0, 0, 0, 0, 0, 0x03, 0xe7}; /* 999 */
	uint8_t orig[FT_TILE_BYTES], buf[FT_ENTRY_MAX];
	size_t olen, len;

	signer_init(&sg);
	s = open_ok(dir, 0);
	append_new(s, m, &sg, 0, 1000, 0);
	ft_store_close(s);

	/* 1000 = 512+256+128+64+32+8: the smaller peaks are hashed from the
	 * partial level-0 tile 3 (232 hashes), the 512 from tile (1, 0). */
	olen = sizeof orig;
	raw(dir, "tiles", RAW_GET, tkey03, 9, orig, &olen);
	ck_assert_uint_eq(olen, 232 * FT_HASH_LEN);
	for (size_t pos = 0; pos < olen; pos += olen - 1) {
		memcpy(buf, orig, olen);
		buf[pos] ^= 0x01;
		len = olen;
		raw(dir, "tiles", RAW_PUT, tkey03, 9, buf, &len);
		expect_corrupt(dir);
	}
	len = olen - FT_HASH_LEN; /* one hash short */
	raw(dir, "tiles", RAW_PUT, tkey03, 9, orig, &len);
	expect_corrupt(dir);
	len = olen;
	raw(dir, "tiles", RAW_PUT, tkey03, 9, orig, &len);
	s = open_ok(dir, 0);
	ft_store_close(s);

	uint8_t t10[FT_TILE_BYTES];
	size_t t10len = sizeof t10;
	raw(dir, "tiles", RAW_GET, tkey10, 9, t10, &t10len);
	raw(dir, "tiles", RAW_DEL, tkey10, 9, NULL, NULL);
	expect_corrupt(dir);
	raw(dir, "tiles", RAW_PUT, tkey10, 9, t10, &t10len);

	/* The state's root, then its size. */
	uint8_t state[40], bad[40];
	size_t slen = sizeof state;
	raw(dir, "meta", RAW_GET, "state", 5, state, &slen);
	ck_assert_uint_eq(slen, 40);
	memcpy(bad, state, 40);
	bad[39] ^= 0x80;
	raw(dir, "meta", RAW_PUT, "state", 5, bad, &slen);
	expect_corrupt(dir);
	memcpy(bad, state, 40);
	bad[7] = 0xe9; /* 1001 */
	raw(dir, "meta", RAW_PUT, "state", 5, bad, &slen);
	expect_corrupt(dir);
	raw(dir, "meta", RAW_PUT, "state", 5, state, &slen);

	/* A lost entry. */
	size_t elen = sizeof buf;
	raw(dir, "entries", RAW_GET, ekey, 8, buf, &elen);
	raw(dir, "entries", RAW_DEL, ekey, 8, NULL, NULL);
	expect_corrupt(dir);
	raw(dir, "entries", RAW_PUT, ekey, 8, buf, &elen);

	/* An unknown schema version. */
	uint8_t ver[4] = {0, 0, 0, 2}, ver1[4] = {0, 0, 0, 1};
	size_t vlen = 4;
	raw(dir, "meta", RAW_PUT, "version", 7, ver, &vlen);
	expect_corrupt(dir);
	raw(dir, "meta", RAW_PUT, "version", 7, ver1, &vlen);

	/* Everything restored: the store is whole again. */
	s = open_ok(dir, 0);
	check_store(s, m, &sg);
	append_new(s, m, &sg, 1000, 30, 0);
	check_store(s, m, &sg);
	ft_store_close(s);

	model_free(m);
	tu_rmtree(dir);
	free(dir);
}
END_TEST

/*
 * Inner nodes up to tile level 2 (tree level 17 needs 2^17 leaves), with
 * batches that start and end mid-tile at every level, and a reader asked
 * for a size past its snapshot: the inner value of that tile exists but
 * the slot is not filled yet, which must read as FT_EREAD, not zeros.
 */
START_TEST(test_inner_nodes)
{
	static const size_t batches[] = {1, 2, 253, 300, 5000, 125516, 3};
	char *dir = new_store(0);
	model *m = model_new();
	signer sg;
	ft_store *s;
	ft_store_reader r;
	ft_tile_reader *tr = malloc(sizeof *tr);
	ft_hash_reader hr;
	ft_hash root, proof[FT_PROOF_MAX_INCLUSION];
	ft_node_id id;
	size_t n;
	uint64_t first = 0;

	ck_assert_ptr_nonnull(tr);
	signer_init(&sg);
	s = open_ok(dir, 0);
	append_new(s, m, &sg, 0, 258, 0);
	ck_assert_int_eq(ft_store_reader_init(s, &r), 0);
	ck_assert_int_eq(ft_store_read_begin(&r), 0);
	append_new(s, m, &sg, 258, 2, 0);
	/* The snapshot is 258: node (1, 128) is stored, (2, 64) is not. */
	ft_store_hash_reader(&r, 260, tr, &hr);
	id.level = 1;
	id.index = 128;
	ck_assert_int_eq(hr.read(hr.ctx, &id, 1, &root), 0);
	ft_merkle_node_hash(&m->leaves[256], &m->leaves[257], &proof[0]);
	ck_assert(ft_hash_equal(&root, &proof[0]));
	id.level = 2;
	id.index = 64;
	ck_assert_int_eq(hr.read(hr.ctx, &id, 1, &root), FT_EREAD);
	ck_assert_int_eq(ft_tree_hash_at(260, &hr, &root), FT_EREAD);
	ck_assert_int_eq(ft_proof_inclusion(259, 260, &hr, proof, &n),
			 FT_EREAD);
	ft_store_hash_reader(&r, 258, tr, &hr);
	ck_assert_int_eq(ft_tree_hash_at(258, &hr, &root), 0);
	ck_assert(ft_hash_equal(&root, &m->roots[258]));
	ft_store_read_end(&r);
	/* A new snapshot has it; the same tr is reused. */
	ck_assert_int_eq(ft_store_read_begin(&r), 0);
	ft_store_hash_reader(&r, 260, tr, &hr);
	ck_assert_int_eq(ft_tree_hash_at(260, &hr, &root), 0);
	ck_assert(ft_hash_equal(&root, &m->roots[260]));
	ft_store_read_end(&r);
	/* Not between read_begin and read_end. */
	ck_assert_int_eq(hr.read(hr.ctx, &id, 1, &root), FT_EINVAL);
	ft_store_reader_free(&r);
	first = 260;

	for (size_t b = 0; b < sizeof batches / sizeof batches[0]; b++) {
		append_new(s, m, &sg, first, batches[b], 0);
		first += batches[b];
		if (b + 1 == sizeof batches / sizeof batches[0] ||
		    batches[b] > 1000) {
			check_store(s, m, &sg);
		}
	}
	ck_assert_uint_eq(m->size, 131335);
	ft_store_close(s);
	s = open_ok(dir, 0);
	check_store(s, m, &sg);
	ft_store_close(s);

	free(tr);
	model_free(m);
	tu_rmtree(dir);
	free(dir);
}
END_TEST

/* Inclusion proofs from the store at size for leaves i: 1 if every one
 * verifies against the model's root, 0 if any fails to. */
static int proofs_verify(ft_store *s, const model *m, uint64_t size,
			 const uint64_t *leaves, size_t count)
{
	ft_store_reader r;
	ft_tile_reader *tr = malloc(sizeof *tr);
	ft_hash_reader hr;
	ft_hash proof[FT_PROOF_MAX_INCLUSION];
	size_t n;
	int ok = 1;

	ck_assert_ptr_nonnull(tr);
	ck_assert_int_eq(ft_store_reader_init(s, &r), 0);
	ck_assert_int_eq(ft_store_read_begin(&r), 0);
	ft_store_hash_reader(&r, size, tr, &hr);
	for (size_t k = 0; k < count; k++) {
		uint64_t i = leaves[k];

		ck_assert_int_eq(ft_proof_inclusion(i, size, &hr, proof, &n),
				 0);
		if (ft_proof_verify_inclusion(i, size, m->leaves[i].b,
					      FT_HASH_LEN, proof[0].b,
					      n * FT_HASH_LEN,
					      m->roots[size].b,
					      FT_HASH_LEN) != 0) {
			ok = 0;
		}
	}
	ft_store_read_end(&r);
	ft_store_reader_free(&r);
	free(tr);
	return ok;
}

/* Byte offset of node (8L + k, i) in its "inner" value (store.h). */
static size_t inner_off(unsigned k, uint64_t i)
{
	size_t start = 0;

	for (unsigned j = 1; j < k; j++) {
		start += (size_t)FT_TILE_WIDTH >> j;
	}
	return (start + (size_t)(i % ((uint64_t)FT_TILE_WIDTH >> k))) *
	       FT_HASH_LEN;
}

START_TEST(test_inner_tamper)
{
	char *dir = new_store(0);
	model *m = model_new();
	signer sg;
	ft_store *s;
	uint8_t ikey00[9] = {0, 0, 0, 0, 0, 0, 0, 0, 0};
	uint8_t ikey03[9] = {0, 0, 0, 0, 0, 0, 0, 0, 3};
	uint8_t ikey10[9] = {1, 0, 0, 0, 0, 0, 0, 0, 0};
	uint8_t orig[FT_TILE_BYTES], buf[FT_TILE_BYTES];
	size_t olen, len;
	/* Leaves whose proof at 1000 uses node (1, 0), and some that not. */
	static const uint64_t uses10[] = {2, 3};
	static const uint64_t others[] = {0, 1, 4, 255, 256, 511, 998, 999};

	signer_init(&sg);
	s = open_ok(dir, 0);
	append_new(s, m, &sg, 0, 1000, 0);
	ck_assert(proofs_verify(s, m, 1000, uses10, 2));
	ft_store_close(s);

	/* The layout of store.h: node (1, 0) is hash 0 of inner (0, 0), node
	 * (7, 1) hash 253, and tile (0, 0) is full, so all 254 are set. */
	olen = sizeof orig;
	raw(dir, "inner", RAW_GET, ikey00, 9, orig, &olen);
	ck_assert_uint_eq(olen, 254 * FT_HASH_LEN);
	{
		model_nodes mn;

		model_nodes_make(m, &mn);
		for (unsigned k = 1; k < 8; k++) {
			for (uint64_t i = 0; i < (256u >> k); i++) {
				ck_assert_mem_eq(orig + inner_off(k, i),
						 mn.nodes[k][i].b, FT_HASH_LEN);
			}
		}
		model_nodes_free(&mn);
	}

	/* 1000 = 512+256+128+64+32+8: the reload reads (9, 0) and (8, 2)
	 * from tile level 1, (7, 6) ... (3, 124) from tile level 0's edge
	 * tile 3. Inner (0, 0) is neither, so a flip there is not seen at
	 * open, but the proofs through that node no longer verify. */
	for (size_t pos = 0; pos < FT_HASH_LEN; pos += 31) {
		memcpy(buf, orig, olen);
		buf[pos] ^= 0x40;
		len = olen;
		raw(dir, "inner", RAW_PUT, ikey00, 9, buf, &len);
		s = open_ok(dir, 0);
		ck_assert(!proofs_verify(s, m, 1000, uses10, 2));
		ck_assert(proofs_verify(s, m, 1000, others, 8));
		ft_store_close(s);
	}
	/* Truncated: every read of it is refused as corrupt. */
	len = olen - 1;
	raw(dir, "inner", RAW_PUT, ikey00, 9, orig, &len);
	s = open_ok(dir, 0);
	{
		ft_store_reader r;
		ft_tile_reader *tr = malloc(sizeof *tr);
		ft_hash_reader hr;
		ft_hash proof[FT_PROOF_MAX_INCLUSION];
		size_t n;

		ck_assert_ptr_nonnull(tr);
		ck_assert_int_eq(ft_store_reader_init(s, &r), 0);
		ck_assert_int_eq(ft_store_read_begin(&r), 0);
		ft_store_hash_reader(&r, 1000, tr, &hr);
		ck_assert_int_eq(ft_proof_inclusion(2, 1000, &hr, proof, &n),
				 FT_ESTORE_CORRUPT);
		ft_store_read_end(&r);
		ft_store_reader_free(&r);
		free(tr);
	}
	ft_store_close(s);
	len = olen;
	raw(dir, "inner", RAW_PUT, ikey00, 9, orig, &len);

	/* Inner (1, 0) holds the peak (9, 0): open recomputes a wrong root.
	 * Missing or short, the reload cannot read it. */
	uint8_t i10[FT_TILE_BYTES];
	size_t i10len = sizeof i10;
	raw(dir, "inner", RAW_GET, ikey10, 9, i10, &i10len);
	ck_assert_uint_eq(i10len, 254 * FT_HASH_LEN);
	memcpy(buf, i10, i10len);
	buf[inner_off(1, 0) + 5] ^= 0x01;
	len = i10len;
	raw(dir, "inner", RAW_PUT, ikey10, 9, buf, &len);
	expect_corrupt(dir);
	memcpy(buf, i10, i10len);
	memset(buf + inner_off(1, 0), 0, FT_HASH_LEN);
	raw(dir, "inner", RAW_PUT, ikey10, 9, buf, &len);
	expect_corrupt(dir);
	len = i10len - FT_HASH_LEN;
	raw(dir, "inner", RAW_PUT, ikey10, 9, i10, &len);
	expect_corrupt(dir);
	raw(dir, "inner", RAW_DEL, ikey10, 9, NULL, NULL);
	expect_corrupt(dir);
	raw(dir, "inner", RAW_PUT, ikey10, 9, i10, &i10len);

	/* The edge tile (0, 3) (232 hashes): a flip in any set slot, a wrong
	 * length, or a non-zero slot past the tree are all seen at open,
	 * since the writer would build on them. Slot (1, 511) is past it. */
	olen = sizeof orig;
	raw(dir, "inner", RAW_GET, ikey03, 9, orig, &olen);
	ck_assert_uint_eq(olen, 254 * FT_HASH_LEN);
	static const struct {
		unsigned k;
		uint64_t i;
	} flips[] = {{1, 384}, {1, 499}, {3, 96}, {5, 27}, {6, 13}, {7, 6},
		     {1, 511}, {2, 255}, {7, 7}};
	for (size_t f = 0; f < sizeof flips / sizeof flips[0]; f++) {
		memcpy(buf, orig, olen);
		buf[inner_off(flips[f].k, flips[f].i) + 17] ^= 0x08;
		len = olen;
		raw(dir, "inner", RAW_PUT, ikey03, 9, buf, &len);
		expect_corrupt(dir);
	}
	len = olen + 1;
	memcpy(buf, orig, olen);
	raw(dir, "inner", RAW_PUT, ikey03, 9, buf, &len);
	expect_corrupt(dir);
	raw(dir, "inner", RAW_DEL, ikey03, 9, NULL, NULL);
	expect_corrupt(dir);
	raw(dir, "inner", RAW_PUT, ikey03, 9, orig, &olen);

	/* Restored: whole again, and it keeps growing across the edge. */
	s = open_ok(dir, 0);
	check_store(s, m, &sg);
	append_new(s, m, &sg, 1000, 30, 0);
	check_store(s, m, &sg);
	ft_store_close(s);
	s = open_ok(dir, 0);
	check_store(s, m, &sg);
	ft_store_close(s);

	model_free(m);
	tu_rmtree(dir);
	free(dir);
}
END_TEST

/* Bundle n as a reader of the current snapshot sees it: 0 and equal to
 * the model's, or FT_ENOTFOUND. */
static int bundle_state(ft_store *s, const model *m, uint64_t n)
{
	ft_store_reader r;
	const uint8_t *data;
	size_t len, wlen;
	int rc;

	ck_assert_int_eq(ft_store_reader_init(s, &r), 0);
	ck_assert_int_eq(ft_store_read_begin(&r), 0);
	rc = ft_store_get_bundle(&r, n, &data, &len);
	if (rc == 0) {
		uint8_t *want = model_bundle(m, n, &wlen);

		ck_assert_uint_eq(len, wlen);
		ck_assert_mem_eq(data, want, len);
		free(want);
	}
	ft_store_read_end(&r);
	ft_store_reader_free(&r);
	return rc;
}

/*
 * Full bundles are stored by the batch that appends their 256th entry,
 * whatever the batch boundaries: a single append completing one, batches
 * completing several at once from a mid-bundle or aligned start, a
 * failed batch that would have completed one, and old snapshots.
 */
START_TEST(test_bundles)
{
	char *dir = new_store(0);
	model *m = model_new();
	signer sg;
	ft_store *s;
	ft_store_reader r;
	ft_store_item it[2];
	uint8_t b[2][64];
	const uint8_t *d;
	size_t len;
	uint64_t id = 0, ns = 0;

	signer_init(&sg);
	s = open_ok(dir, 0);
	ck_assert_int_eq(ft_store_reader_init(s, &r), 0);
	ck_assert_int_eq(ft_store_get_bundle(&r, 0, &d, &len), FT_EINVAL);
	ck_assert_int_eq(ft_store_read_begin(&r), 0);
	ck_assert_int_eq(ft_store_get_bundle(&r, 0, &d, &len), FT_ENOTFOUND);
	ck_assert_int_eq(ft_store_get_bundle(&r, 0, NULL, &len), FT_EINVAL);
	ck_assert_int_eq(ft_store_get_bundle(&r, 0, &d, NULL), FT_EINVAL);
	ft_store_read_end(&r);

	append_new(s, m, &sg, id, 1, 0);
	id += 1;
	append_new(s, m, &sg, id, 254, 0);
	id += 254;
	ck_assert_int_eq(bundle_state(s, m, 0), FT_ENOTFOUND);

	/* A failing batch that would complete bundle 0 stores nothing. */
	set_item(&it[0], b[0], 5000);
	set_item(&it[1], b[1], 5001);
	sg.fail = FT_ECRYPTO;
	ck_assert_int_eq(ft_store_append(s, it, 2, sign_cb, &sg, &ns),
			 FT_ECRYPTO);
	sg.fail = 0;
	ck_assert_int_eq(bundle_state(s, m, 0), FT_ENOTFOUND);
	check_store(s, m, &sg);

	/* A single append completes it; a snapshot taken now keeps not
	 * seeing the bundles completed after it. */
	append_new(s, m, &sg, id, 1, 0);
	id += 1;
	ck_assert_int_eq(bundle_state(s, m, 0), 0);
	ck_assert_int_eq(ft_store_read_begin(&r), 0);

	/* 256 -> 1034: bundles 1, 2 and 3 in one batch. */
	append_new(s, m, &sg, id, 3 * 256 + 10, 0);
	id += 3 * 256 + 10;
	ck_assert_int_eq(ft_store_get_bundle(&r, 0, &d, &len), 0);
	ck_assert_int_eq(ft_store_get_bundle(&r, 1, &d, &len), FT_ENOTFOUND);
	ft_store_read_end(&r);
	ck_assert_int_eq(ft_store_read_begin(&r), 0);
	ck_assert_int_eq(ft_store_get_bundle(&r, 3, &d, &len), 0);
	ck_assert_int_eq(ft_store_get_bundle(&r, 4, &d, &len), FT_ENOTFOUND);
	ft_store_read_end(&r);
	ft_store_reader_free(&r);
	check_store(s, m, &sg);

	/* From mid-bundle to mid-bundle (1034 -> 2034), to the boundary
	 * (2048), then aligned to aligned (2560: bundles 8 and 9). */
	append_new(s, m, &sg, id, 1000, 0);
	id += 1000;
	append_new(s, m, &sg, id, 14, 0);
	id += 14;
	ck_assert_int_eq(bundle_state(s, m, 7), 0);
	ck_assert_int_eq(bundle_state(s, m, 8), FT_ENOTFOUND);
	append_new(s, m, &sg, id, 512, 0);
	id += 512;
	ck_assert_int_eq(bundle_state(s, m, 9), 0);
	ck_assert_int_eq(bundle_state(s, m, 10), FT_ENOTFOUND);
	check_store(s, m, &sg);

	/* Duplicates do not count: a batch of old entries plus the one new
	 * entry that completes bundle 10 (size 2815 -> 2816). */
	append_new(s, m, &sg, id, 255, 0);
	id += 255;
	set_item(&it[0], b[0], 7);
	set_item(&it[1], b[1], id);
	ck_assert_int_eq(ft_store_append(s, it, 2, sign_cb, &sg, &ns), 0);
	ck_assert_uint_eq(ns, 2816);
	model_append(m, id, entry_len(id));
	id++;
	ck_assert_int_eq(bundle_state(s, m, 10), 0);

	/* One entry at a time across a boundary, and large entries. */
	for (int i = 0; i < 260; i++) {
		append_new(s, m, &sg, id++, 1, 0);
	}
	append_new(s, m, &sg, id, 300, FT_ENTRY_MAX);
	id += 300;
	check_store(s, m, &sg);
	ft_store_close(s);

	s = open_ok(dir, 0);
	check_store(s, m, &sg);
	append_new(s, m, &sg, id, 700, 0);
	check_store(s, m, &sg);
	ft_store_close(s);

	model_free(m);
	tu_rmtree(dir);
	free(dir);
}
END_TEST

/*
 * "bundles" must end at the last full bundle and that one must equal its
 * entries: lost, altered, truncated, or one too many is FT_ESTORE_CORRUPT
 * at open. (Older bundles are not reread at open.)
 */
START_TEST(test_bundle_tamper)
{
	char *dir = new_store(0);
	model *m = model_new();
	signer sg;
	ft_store *s;
	uint8_t key2[8] = {0, 0, 0, 0, 0, 0, 0, 2};
	uint8_t key3[8] = {0, 0, 0, 0, 0, 0, 0, 3};
	uint8_t key0[8] = {0};
	size_t olen, len, wlen;
	uint8_t *orig, *buf, *want;

	signer_init(&sg);
	s = open_ok(dir, 0);
	append_new(s, m, &sg, 0, 1000, 0);
	ft_store_close(s);

	/* The stored bytes are exactly the C2SP bundle. */
	want = model_bundle(m, 2, &wlen);
	orig = malloc(wlen + 1);
	buf = malloc(wlen + 1);
	ck_assert(orig != NULL && buf != NULL);
	olen = wlen + 1;
	raw(dir, "bundles", RAW_GET, key2, 8, orig, &olen);
	ck_assert_uint_eq(olen, wlen);
	ck_assert_mem_eq(orig, want, wlen);

	/* Lost. */
	raw(dir, "bundles", RAW_DEL, key2, 8, NULL, NULL);
	expect_corrupt(dir);

	/* A flipped length prefix, entry byte, last byte. */
	static const size_t pos[] = {0, 1, 2, 1000, (size_t)-1};
	for (size_t k = 0; k < sizeof pos / sizeof pos[0]; k++) {
		size_t p = pos[k] == (size_t)-1 ? olen - 1 : pos[k];

		memcpy(buf, orig, olen);
		buf[p] ^= 0x01;
		len = olen;
		raw(dir, "bundles", RAW_PUT, key2, 8, buf, &len);
		expect_corrupt(dir);
	}
	/* Truncated, or a byte too long. */
	len = olen - 1;
	raw(dir, "bundles", RAW_PUT, key2, 8, orig, &len);
	expect_corrupt(dir);
	memcpy(buf, orig, olen);
	buf[olen] = 0;
	len = olen + 1;
	raw(dir, "bundles", RAW_PUT, key2, 8, buf, &len);
	expect_corrupt(dir);
	len = olen;
	raw(dir, "bundles", RAW_PUT, key2, 8, orig, &len);
	s = open_ok(dir, 0);
	ft_store_close(s);

	/* One past the tree: bundle 3 at size 1000. */
	raw(dir, "bundles", RAW_PUT, key3, 8, orig, &len);
	expect_corrupt(dir);
	raw(dir, "bundles", RAW_DEL, key3, 8, NULL, NULL);

	/* Restored: whole again, and bundle 3 is stored when complete. */
	s = open_ok(dir, 0);
	check_store(s, m, &sg);
	append_new(s, m, &sg, 1000, 30, 0);
	check_store(s, m, &sg);
	ft_store_close(s);
	s = open_ok(dir, 0);
	check_store(s, m, &sg);
	ft_store_close(s);

	/* Below 256 entries no bundle may exist. */
	char *d2 = new_store(0);
	model *m2 = model_new();
	s = open_ok(d2, 0);
	append_new(s, m2, &sg, 0, 255, 0);
	ft_store_close(s);
	len = olen;
	raw(d2, "bundles", RAW_PUT, key0, 8, orig, &len);
	expect_corrupt(d2);
	raw(d2, "bundles", RAW_DEL, key0, 8, NULL, NULL);
	s = open_ok(d2, 0);
	check_store(s, m2, &sg);
	ft_store_close(s);
	model_free(m2);
	tu_rmtree(d2);
	free(d2);

	free(want);
	free(orig);
	free(buf);
	model_free(m);
	tu_rmtree(dir);
	free(dir);
}
END_TEST

static Suite *store_suite(void)
{
	Suite *s = suite_create("store");
	TCase *tc = tcase_create("core");

	tcase_set_timeout(tc, 120);
	tcase_add_test(tc, test_create_open_close);
	tcase_add_test(tc, test_append_batches_and_reopen);
	tcase_add_test(tc, test_dedupe);
	tcase_add_test(tc, test_sign_failure_is_atomic);
	tcase_add_test(tc, test_invalid_items);
	tcase_add_test(tc, test_reader_snapshot);
	tcase_add_test(tc, test_map_full);
	tcase_add_test(tc, test_corrupt_detected);
	tcase_add_test(tc, test_inner_nodes);
	tcase_add_test(tc, test_inner_tamper);
	tcase_add_test(tc, test_bundles);
	tcase_add_test(tc, test_bundle_tamper);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	return tu_run_suite(store_suite());
}
