/*
 * tests/test_store.c - ftlogd's LMDB store: appends checked against an
 * independent model (entries, leaf index, every tile, every node of every
 * level read through the hash reader, roots, proofs and the signed
 * checkpoint, every full entry bundle), dedupe, atomicity when the signer
 * fails or the map fills, reopening, and detection of tampered storage;
 * and the firmware-event indexes: lineage, latest, revocations and the
 * schema version.
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
	uint8_t ver[4] = {0, 0, 0, 3}, ver2[4] = {0, 0, 0, 2};
	size_t vlen = 4;
	raw(dir, "meta", RAW_PUT, "version", 7, ver, &vlen);
	expect_corrupt(dir);
	raw(dir, "meta", RAW_PUT, "version", 7, ver2, &vlen);

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

/* ---- The firmware-event indexes ("subjects", "revoked"). */

/* A digest or key for a tag: 32 bytes of tag, the last one `last`, so
 * that neighbouring digests sort next to each other. */
static void dg(uint8_t out[32], uint8_t tag, uint8_t last)
{
	memset(out, tag, 32);
	out[31] = last;
}

/*
 * A meta block built by hand, as ft_policy_check would: nsubj subjects,
 * nsig signers, record "{"n":<rec>}". Freed with free().
 */
static ft_store_meta *meta_make(int kind, int revoke, const uint8_t *rkey,
				const uint8_t (*subj)[32], size_t nsubj,
				const uint8_t (*sig)[32], size_t nsig, int rec)
{
	char text[64];
	int tl = snprintf(text, sizeof text, "{\"n\":%d}", rec);
	ft_store_meta *m;

	ck_assert(tl > 0 && (size_t)tl < sizeof text);
	m = malloc(sizeof *m + (size_t)tl);
	ck_assert_ptr_nonnull(m);
	memset(m, 0, sizeof *m);
	m->kind = kind;
	m->revoke = revoke;
	if (rkey != NULL) {
		memcpy(m->revoked_key, rkey, 32);
	}
	m->n_subjects = nsubj;
	memcpy(m->subjects, subj, nsubj * 32);
	m->n_signers = nsig;
	if (nsig > 0) {
		memcpy(m->signers, sig, nsig * 32);
	}
	m->record_len = (size_t)tl;
	memcpy(m->record, text, (size_t)tl);
	return m;
}

/* One event: entry id's bytes (set_item) with meta. */
static void ev_item(ft_store_item *it, uint8_t *buf, uint64_t id,
		    const ft_store_meta *m)
{
	set_item(it, buf, id);
	it->meta = m;
}

typedef struct lin {
	size_t n, stop_after;
	uint64_t idx[32];
	int kind[32];
	int rec[32];
} lin;

static int lin_cb(void *ctx, uint64_t index, int kind, const uint8_t *record,
		  size_t len)
{
	lin *l = ctx;
	char text[64];
	int rec = -1;

	REQ(l->n < 32 && len > 0 && len < sizeof text);
	memcpy(text, record, len);
	text[len] = '\0';
	REQ(sscanf(text, "{\"n\":%d}", &rec) == 1);
	l->idx[l->n] = index;
	l->kind[l->n] = kind;
	l->rec[l->n] = rec;
	l->n++;
	return l->stop_after != 0 && l->n == l->stop_after ? 42 : 0;
}

static int lineage(ft_store *s, const uint8_t d[32], uint64_t after, lin *l)
{
	ft_store_reader r;
	size_t stop = l->stop_after;
	int rc;

	memset(l, 0, sizeof *l);
	l->stop_after = stop;
	ck_assert_int_eq(ft_store_reader_init(s, &r), 0);
	ck_assert_int_eq(ft_store_read_begin(&r), 0);
	rc = ft_store_lineage(&r, d, after, lin_cb, l);
	ft_store_read_end(&r);
	ft_store_reader_free(&r);
	return rc;
}

/* The lineage of d from the start must be exactly (idx[i], kind[i],
 * rec[i]) for i < n. */
static void expect_lineage(ft_store *s, const uint8_t d[32], size_t n,
			   const uint64_t *idx, const int *kind,
			   const int *rec)
{
	lin l = {0};

	ck_assert_int_eq(lineage(s, d, UINT64_MAX, &l), 0);
	ck_assert_uint_eq(l.n, n);
	for (size_t i = 0; i < n; i++) {
		ck_assert_uint_eq(l.idx[i], idx[i]);
		ck_assert_int_eq(l.kind[i], kind[i]);
		ck_assert_int_eq(l.rec[i], rec[i]);
	}
}

static int latest(ft_store *s, const uint8_t d[32], int kind, uint64_t *idx)
{
	ft_store_reader r;
	int rc;

	ck_assert_int_eq(ft_store_reader_init(s, &r), 0);
	ck_assert_int_eq(ft_store_read_begin(&r), 0);
	rc = ft_store_latest(&r, d, kind, idx);
	ft_store_read_end(&r);
	ft_store_reader_free(&r);
	return rc;
}

static int revoked(ft_store *s, int target, const uint8_t id[32],
		   uint64_t *idx)
{
	ft_store_reader r;
	int rc;

	ck_assert_int_eq(ft_store_reader_init(s, &r), 0);
	ck_assert_int_eq(ft_store_read_begin(&r), 0);
	rc = ft_store_revoked(&r, target, id, idx);
	ft_store_read_end(&r);
	ft_store_reader_free(&r);
	return rc;
}

static void expect_latest(ft_store *s, const uint8_t d[32], int kind,
			  uint64_t want)
{
	uint64_t idx = 12345;

	ck_assert_int_eq(latest(s, d, kind, &idx), 0);
	ck_assert_uint_eq(idx, want);
}

static void expect_revoked(ft_store *s, int target, const uint8_t id[32],
			   uint64_t want)
{
	uint64_t idx = 12345;

	ck_assert_int_eq(revoked(s, target, id, &idx), 0);
	ck_assert_uint_eq(idx, want);
}

static void expect_appended(const ft_store_item *it, uint64_t index)
{
	ck_assert_int_eq(it->rejected, 0);
	ck_assert_int_eq(it->dup, 0);
	ck_assert_uint_eq(it->index, index);
}

static void expect_rejected(const ft_store_item *it, int target,
			    uint64_t by)
{
	ck_assert_int_eq(it->rejected, FT_EREVOKED);
	ck_assert_int_eq(it->rejected_target, target);
	ck_assert_uint_eq(it->rejected_by, by);
	ck_assert_int_eq(it->dup, 0);
	ck_assert_uint_eq(it->index, 0);
}

/*
 * Lineage across batches and within one, in log order, with `after`
 * paging, a callback that stops the scan, neighbouring digests, items
 * without meta in between, duplicates that add no rows; ft_store_latest
 * per kind, at both ends of the database; all of it after a reopen; and
 * malformed rows refused as corrupt.
 */
START_TEST(test_lineage)
{
	char *dir = new_store(0);
	model *m = model_new();
	signer sg;
	ft_store *s;
	ft_store_item it[6];
	uint8_t b[6][64];
	uint8_t x[1][32], x2[1][32], y[1][32], xy[2][32], lo[1][32],
		hi[1][32], z[32], k1[1][32];
	ft_store_meta *ma, *mb, *mc, *md, *me, *mf, *mg, *mh;
	uint64_t ns = 0, idx;
	int calls;

	dg(x[0], 0x55, 0x10);
	dg(x2[0], 0x55, 0x11); /* sorts right after x */
	dg(y[0], 0x66, 0);
	memcpy(xy[0], x[0], 32);
	memcpy(xy[1], y[0], 32);
	dg(lo[0], 0x00, 0x01);
	dg(hi[0], 0xff, 0xff); /* the last digest there can be */
	dg(z, 0x55, 0x0f);     /* just before x, no rows */
	dg(k1[0], 0xa1, 0);

	signer_init(&sg);
	s = open_ok(dir, 0);
	append_new(s, m, &sg, 0, 3, 0);

	ma = meta_make(FT_EVENT_BUILD, FT_REVOKE_NONE, NULL, x, 1, k1, 1, 1);
	mb = meta_make(FT_EVENT_RELEASE, FT_REVOKE_NONE, NULL, xy, 2, k1, 1,
		       2);
	mc = meta_make(FT_EVENT_DISTRIBUTION, FT_REVOKE_NONE, NULL, y, 1, k1,
		       1, 3);
	md = meta_make(FT_EVENT_RELEASE, FT_REVOKE_NONE, NULL, x, 1, k1, 1, 4);
	me = meta_make(FT_EVENT_DISTRIBUTION, FT_REVOKE_NONE, NULL, x, 1, k1,
		       1, 5);
	mf = meta_make(FT_EVENT_BUILD, FT_REVOKE_NONE, NULL, x2, 1, k1, 1, 6);
	mg = meta_make(FT_EVENT_RELEASE, FT_REVOKE_NONE, NULL, hi, 1, NULL, 0,
		       7);
	mh = meta_make(FT_EVENT_BUILD, FT_REVOKE_NONE, NULL, lo, 1, k1, 1, 8);

	/* Batch 1: A(x) 3, a plain entry 4, B(x, y) 5, F(x2) 6. */
	ev_item(&it[0], b[0], 100, ma);
	set_item(&it[1], b[1], 101);
	ev_item(&it[2], b[2], 102, mb);
	ev_item(&it[3], b[3], 103, mf);
	calls = sg.calls;
	ck_assert_int_eq(ft_store_append(s, it, 4, sign_cb, &sg, &ns), 0);
	ck_assert_uint_eq(ns, 7);
	ck_assert_int_eq(sg.calls, calls + 1);
	for (int i = 0; i < 4; i++) {
		expect_appended(&it[i], 3 + (uint64_t)i);
		model_append(m, 100 + (uint64_t)i, entry_len(100 + (uint64_t)i));
	}
	/* Batch 2: C(y) 7, D(x) 8, G(hi) 9, H(lo) 10. */
	ev_item(&it[0], b[0], 104, mc);
	ev_item(&it[1], b[1], 105, md);
	ev_item(&it[2], b[2], 106, mg);
	ev_item(&it[3], b[3], 107, mh);
	ck_assert_int_eq(ft_store_append(s, it, 4, sign_cb, &sg, &ns), 0);
	ck_assert_uint_eq(ns, 11);
	for (int i = 0; i < 4; i++) {
		expect_appended(&it[i], 7 + (uint64_t)i);
		model_append(m, 104 + (uint64_t)i, entry_len(104 + (uint64_t)i));
	}
	/* Batch 3: A again (dup, no new row), E(x) 11, E again in the
	 * batch (dup of 11). */
	ev_item(&it[0], b[0], 100, ma);
	ev_item(&it[1], b[1], 108, me);
	ev_item(&it[2], b[2], 108, me);
	ck_assert_int_eq(ft_store_append(s, it, 3, sign_cb, &sg, &ns), 0);
	ck_assert_uint_eq(ns, 12);
	ck_assert_int_eq(it[0].dup, 1);
	ck_assert_uint_eq(it[0].index, 3);
	expect_appended(&it[1], 11);
	ck_assert_int_eq(it[2].dup, 1);
	ck_assert_uint_eq(it[2].index, 11);
	model_append(m, 108, entry_len(108));
	check_store(s, m, &sg);

	static const uint64_t xi[] = {3, 5, 8, 11};
	static const int xk[] = {FT_EVENT_BUILD, FT_EVENT_RELEASE,
				 FT_EVENT_RELEASE, FT_EVENT_DISTRIBUTION};
	static const int xr[] = {1, 2, 4, 5};
	static const uint64_t yi[] = {5, 7};
	static const int yk[] = {FT_EVENT_RELEASE, FT_EVENT_DISTRIBUTION};
	static const int yr[] = {2, 3};
	static const uint64_t x2i[] = {6}, hii[] = {9}, loi[] = {10};
	static const int x2k[] = {FT_EVENT_BUILD}, hik[] = {FT_EVENT_RELEASE},
			 lok[] = {FT_EVENT_BUILD};
	static const int x2r[] = {6}, hir[] = {7}, lor[] = {8};

	for (int round = 0; round < 2; round++) {
		lin l = {0};

		expect_lineage(s, x[0], 4, xi, xk, xr);
		expect_lineage(s, y[0], 2, yi, yk, yr);
		expect_lineage(s, x2[0], 1, x2i, x2k, x2r);
		expect_lineage(s, hi[0], 1, hii, hik, hir);
		expect_lineage(s, lo[0], 1, loi, lok, lor);
		expect_lineage(s, z, 0, NULL, NULL, NULL);

		/* Paging: after an index, present or not. */
		ck_assert_int_eq(lineage(s, x[0], 5, &l), 0);
		ck_assert_uint_eq(l.n, 2);
		ck_assert_uint_eq(l.idx[0], 8);
		ck_assert_uint_eq(l.idx[1], 11);
		ck_assert_int_eq(lineage(s, x[0], 6, &l), 0);
		ck_assert_uint_eq(l.n, 2);
		ck_assert_uint_eq(l.idx[0], 8);
		ck_assert_int_eq(lineage(s, x[0], 0, &l), 0);
		ck_assert_uint_eq(l.n, 4);
		ck_assert_int_eq(lineage(s, x[0], 3, &l), 0);
		ck_assert_uint_eq(l.n, 3);
		ck_assert_uint_eq(l.idx[0], 5);
		ck_assert_int_eq(lineage(s, x[0], 11, &l), 0);
		ck_assert_uint_eq(l.n, 0);
		ck_assert_int_eq(lineage(s, x[0], UINT64_MAX - 1, &l), 0);
		ck_assert_uint_eq(l.n, 0);
		ck_assert_int_eq(lineage(s, hi[0], 8, &l), 0);
		ck_assert_uint_eq(l.n, 1);
		ck_assert_int_eq(lineage(s, hi[0], 9, &l), 0);
		ck_assert_uint_eq(l.n, 0);
		/* The callback stops the scan with its own value. */
		l.stop_after = 2;
		ck_assert_int_eq(lineage(s, x[0], UINT64_MAX, &l), 42);
		ck_assert_uint_eq(l.n, 2);
		ck_assert_uint_eq(l.idx[1], 5);

		/* Latest per kind, and none. */
		expect_latest(s, x[0], FT_EVENT_BUILD, 3);
		expect_latest(s, x[0], FT_EVENT_RELEASE, 8);
		expect_latest(s, x[0], FT_EVENT_DISTRIBUTION, 11);
		ck_assert_int_eq(latest(s, x[0], FT_EVENT_REVOCATION, &idx),
				 FT_ENOTFOUND);
		expect_latest(s, y[0], FT_EVENT_RELEASE, 5);
		expect_latest(s, y[0], FT_EVENT_DISTRIBUTION, 7);
		ck_assert_int_eq(latest(s, y[0], FT_EVENT_BUILD, &idx),
				 FT_ENOTFOUND);
		expect_latest(s, x2[0], FT_EVENT_BUILD, 6);
		ck_assert_int_eq(latest(s, x2[0], FT_EVENT_RELEASE, &idx),
				 FT_ENOTFOUND);
		ck_assert_int_eq(latest(s, z, FT_EVENT_BUILD, &idx),
				 FT_ENOTFOUND);
		/* The ends of the database: hi's rows are the last ones
		 * (nothing at or past its search key), lo's the first. */
		expect_latest(s, hi[0], FT_EVENT_RELEASE, 9);
		ck_assert_int_eq(latest(s, hi[0], FT_EVENT_BUILD, &idx),
				 FT_ENOTFOUND);
		expect_latest(s, lo[0], FT_EVENT_BUILD, 10);
		ck_assert_int_eq(latest(s, lo[0], FT_EVENT_RELEASE, &idx),
				 FT_ENOTFOUND);
		{
			uint8_t zero[32] = {0}, top[32];

			memset(top, 0xff, 32);
			top[31] = 0xfe;
			ck_assert_int_eq(
				latest(s, zero, FT_EVENT_BUILD, &idx),
				FT_ENOTFOUND);
			ck_assert_int_eq(
				latest(s, top, FT_EVENT_RELEASE, &idx),
				FT_ENOTFOUND);
		}
		ck_assert_int_eq(latest(s, x[0], 0, &idx), FT_EINVAL);
		ck_assert_int_eq(latest(s, x[0], 5, &idx), FT_EINVAL);

		/* Nothing was revoked. */
		ck_assert_int_eq(revoked(s, FT_REVOKE_KEY, k1[0], &idx),
				 FT_ENOTFOUND);
		ck_assert_int_eq(revoked(s, FT_REVOKE_IMAGE, x[0], &idx),
				 FT_ENOTFOUND);
		ck_assert_int_eq(revoked(s, FT_REVOKE_NONE, x[0], &idx),
				 FT_EINVAL);

		ft_store_close(s);
		s = open_ok(dir, 0);
		check_store(s, m, &sg);
	}

	/* Not between read_begin and read_end, or without a callback. */
	{
		ft_store_reader r;
		lin l = {0};

		ck_assert_int_eq(ft_store_reader_init(s, &r), 0);
		ck_assert_int_eq(ft_store_lineage(&r, x[0], UINT64_MAX, lin_cb,
						  &l),
				 FT_EINVAL);
		ck_assert_int_eq(ft_store_latest(&r, x[0], FT_EVENT_BUILD,
						 &idx),
				 FT_EINVAL);
		ck_assert_int_eq(ft_store_revoked(&r, FT_REVOKE_KEY, k1[0],
						  &idx),
				 FT_EINVAL);
		ck_assert_int_eq(ft_store_read_begin(&r), 0);
		ck_assert_int_eq(ft_store_lineage(&r, x[0], UINT64_MAX, NULL,
						  &l),
				 FT_EINVAL);
		ft_store_read_end(&r);
		ft_store_reader_free(&r);
	}
	ft_store_close(s);

	/* Stored rows: u8(kind) || record under digest || be64(index). A
	 * row with no value or an unknown kind is corrupt, for both reads;
	 * the rows of other digests are still served. */
	uint8_t key[40], val[64], bad[64];
	size_t vlen = sizeof val, blen;
	memcpy(key, x[0], 32);
	memset(key + 32, 0, 8);
	key[39] = 8;
	raw(dir, "subjects", RAW_GET, key, 40, val, &vlen);
	ck_assert_uint_eq(vlen, 1 + strlen("{\"n\":4}"));
	ck_assert_int_eq(val[0], FT_EVENT_RELEASE);
	ck_assert_mem_eq(val + 1, "{\"n\":4}", vlen - 1);
	static const uint8_t kinds[] = {0, 5, 0xff};
	for (size_t k = 0; k < 4; k++) {
		lin l = {0};

		memcpy(bad, val, vlen);
		blen = vlen;
		if (k < 3) {
			bad[0] = kinds[k];
		} else {
			blen = 0;
		}
		raw(dir, "subjects", RAW_PUT, key, 40, bad, &blen);
		s = open_ok(dir, 0); /* the indexes are not read at open */
		ck_assert_int_eq(lineage(s, x[0], UINT64_MAX, &l),
				 FT_ESTORE_CORRUPT);
		ck_assert_uint_eq(l.n, 2); /* 3 and 5 came before it */
		ck_assert_int_eq(latest(s, x[0], FT_EVENT_RELEASE, &idx),
				 FT_ESTORE_CORRUPT);
		expect_lineage(s, y[0], 2, yi, yk, yr);
		ft_store_close(s);
	}
	raw(dir, "subjects", RAW_PUT, key, 40, val, &vlen);
	s = open_ok(dir, 0);
	expect_lineage(s, x[0], 4, xi, xk, xr);
	ft_store_close(s);

	free(ma);
	free(mb);
	free(mc);
	free(md);
	free(me);
	free(mf);
	free(mg);
	free(mh);
	model_free(m);
	tu_rmtree(dir);
	free(dir);
}
END_TEST

/*
 * Revocations: a key revocation refuses later items signed by that key in
 * the same batch and in later ones, an image revocation later events about
 * the image; the other items of the batch go in with consecutive indices
 * and the tree and checkpoint hold only them. A revocation does not revoke
 * itself; the first revocation wins; a batch where everything new is
 * refused writes and signs nothing; a duplicate is a duplicate before it
 * is revoked; an aborted batch leaves no revocation behind; and it all
 * survives a reopen.
 */
START_TEST(test_revocation)
{
	char *dir = new_store(0);
	model *m = model_new();
	signer sg;
	ft_store *s;
	ft_store_item it[8];
	uint8_t b[8][64];
	uint8_t k1[1][32], k2[1][32], k3[1][32], k12[2][32], k31[2][32];
	uint8_t i1[1][32], i2[1][32], i3[1][32], i12[2][32], d1[1][32];
	uint8_t ck0[FT_STORE_CHECKPOINT_MAX], ck1[FT_STORE_CHECKPOINT_MAX];
	size_t l0, l1;
	uint64_t ns = 0, idx;
	int calls;

	dg(k1[0], 0xa1, 0);
	dg(k2[0], 0xa2, 0);
	dg(k3[0], 0xa3, 0);
	memcpy(k12[0], k2[0], 32); /* k2, then k1 */
	memcpy(k12[1], k1[0], 32);
	memcpy(k31[0], k3[0], 32);
	memcpy(k31[1], k1[0], 32);
	dg(i1[0], 0x11, 0);
	dg(i2[0], 0x12, 0);
	dg(i3[0], 0x13, 0);
	memcpy(i12[0], i1[0], 32);
	memcpy(i12[1], i2[0], 32);
	dg(d1[0], 0xd1, 0); /* the key digest of k1 (any digest will do) */

	/* Releases signed by k1 / k2 / k3 / {k2, k1} about i1 / i2 / i3. */
	ft_store_meta *r1i1 = meta_make(FT_EVENT_RELEASE, FT_REVOKE_NONE, NULL,
					i1, 1, k1, 1, 1);
	ft_store_meta *r2i2 = meta_make(FT_EVENT_RELEASE, FT_REVOKE_NONE, NULL,
					i2, 1, k2, 1, 2);
	ft_store_meta *d1i1 = meta_make(FT_EVENT_DISTRIBUTION, FT_REVOKE_NONE,
					NULL, i1, 1, k1, 1, 3);
	ft_store_meta *r12i3 = meta_make(FT_EVENT_RELEASE, FT_REVOKE_NONE,
					 NULL, i3, 1, k12, 2, 4);
	ft_store_meta *r3i2 = meta_make(FT_EVENT_RELEASE, FT_REVOKE_NONE, NULL,
					i2, 1, k3, 1, 5);
	ft_store_meta *d3i1 = meta_make(FT_EVENT_DISTRIBUTION, FT_REVOKE_NONE,
					NULL, i1, 1, k3, 1, 6);
	ft_store_meta *d3i2 = meta_make(FT_EVENT_DISTRIBUTION, FT_REVOKE_NONE,
					NULL, i2, 1, k3, 1, 7);
	/* k1 revokes itself; k3 revokes k1 again; k2 revokes image i2; k3
	 * revokes images i1 and i2; k2 revokes k3. A release signed by k3
	 * and k1 about i3. */
	ft_store_meta *rk1 = meta_make(FT_EVENT_REVOCATION, FT_REVOKE_KEY,
				       k1[0], d1, 1, k1, 1, 10);
	ft_store_meta *rk1b = meta_make(FT_EVENT_REVOCATION, FT_REVOKE_KEY,
					k1[0], d1, 1, k3, 1, 11);
	ft_store_meta *ri2 = meta_make(FT_EVENT_REVOCATION, FT_REVOKE_IMAGE,
				       NULL, i2, 1, k2, 1, 12);
	ft_store_meta *ri12 = meta_make(FT_EVENT_REVOCATION, FT_REVOKE_IMAGE,
					NULL, i12, 2, k3, 1, 13);
	ft_store_meta *rk3 = meta_make(FT_EVENT_REVOCATION, FT_REVOKE_KEY,
				       k3[0], d1, 1, k2, 1, 14);
	ft_store_meta *r31i3 = meta_make(FT_EVENT_RELEASE, FT_REVOKE_NONE,
					 NULL, i3, 1, k31, 2, 15);

	signer_init(&sg);
	s = open_ok(dir, 0);
	append_new(s, m, &sg, 0, 5, 0);

	/*
	 * Batch 1 (from index 5): r1i1 (k1, before its revocation) 5,
	 * r2i2 6, rk1 (signed by k1 itself) 7, d1i1 (k1) refused by 7,
	 * a plain entry 8, r12i3 (k2 and k1) refused by 7, r1i1 again (dup
	 * of 5), r3i2 9.
	 */
	ev_item(&it[0], b[0], 200, r1i1);
	ev_item(&it[1], b[1], 201, r2i2);
	ev_item(&it[2], b[2], 202, rk1);
	ev_item(&it[3], b[3], 203, d1i1);
	set_item(&it[4], b[4], 204);
	ev_item(&it[5], b[5], 205, r12i3);
	ev_item(&it[6], b[6], 200, r1i1);
	ev_item(&it[7], b[7], 207, r3i2);
	calls = sg.calls;
	ck_assert_int_eq(ft_store_append(s, it, 8, sign_cb, &sg, &ns), 0);
	ck_assert_uint_eq(ns, 10);
	ck_assert_int_eq(sg.calls, calls + 1);
	expect_appended(&it[0], 5);
	expect_appended(&it[1], 6);
	expect_appended(&it[2], 7);
	expect_rejected(&it[3], FT_REVOKE_KEY, 7);
	expect_appended(&it[4], 8);
	expect_rejected(&it[5], FT_REVOKE_KEY, 7);
	ck_assert_int_eq(it[6].dup, 1);
	ck_assert_uint_eq(it[6].index, 5);
	ck_assert_int_eq(it[6].rejected, 0);
	expect_appended(&it[7], 9);
	model_append(m, 200, entry_len(200));
	model_append(m, 201, entry_len(201));
	model_append(m, 202, entry_len(202));
	model_append(m, 204, entry_len(204));
	model_append(m, 207, entry_len(207));
	check_store(s, m, &sg); /* tree, checkpoint: appended items only */
	check_absent(s, &it[3], 1);
	check_absent(s, &it[5], 1);
	expect_revoked(s, FT_REVOKE_KEY, k1[0], 7);
	ck_assert_int_eq(revoked(s, FT_REVOKE_KEY, k2[0], &idx),
			 FT_ENOTFOUND);
	ck_assert_int_eq(revoked(s, FT_REVOKE_IMAGE, k1[0], &idx),
			 FT_ENOTFOUND);
	ck_assert_int_eq(revoked(s, FT_REVOKE_IMAGE, d1[0], &idx),
			 FT_ENOTFOUND);
	{
		static const uint64_t wi[] = {5};
		static const int wk[] = {FT_EVENT_RELEASE}, wr[] = {1};
		static const uint64_t ri[] = {7};
		static const int rk[] = {FT_EVENT_REVOCATION}, rr[] = {10};
		static const uint64_t i2i[] = {6, 9};
		static const int i2k[] = {FT_EVENT_RELEASE, FT_EVENT_RELEASE};
		static const int i2r[] = {2, 5};

		/* Refused items left no rows. */
		expect_lineage(s, i1[0], 1, wi, wk, wr);
		expect_lineage(s, d1[0], 1, ri, rk, rr);
		expect_lineage(s, i2[0], 2, i2i, i2k, i2r);
		expect_lineage(s, i3[0], 0, NULL, NULL, NULL);
	}

	/*
	 * Batch 2, a later one: d1i1 (k1) refused again, r31i3 (k3, k1)
	 * refused, rk1b (k3 revokes k1 again) 10 (the first revocation
	 * stays), ri2 (k2 revokes i2) 11, d3i2 (about i2) refused by 11,
	 * ri12 (about i1, i2) refused by 11 (its i2 is revoked), d3i1 12.
	 */
	ev_item(&it[0], b[0], 203, d1i1);
	ev_item(&it[1], b[1], 210, r31i3);
	ev_item(&it[2], b[2], 211, rk1b);
	ev_item(&it[3], b[3], 212, ri2);
	ev_item(&it[4], b[4], 213, d3i2);
	ev_item(&it[5], b[5], 214, ri12);
	ev_item(&it[6], b[6], 215, d3i1);
	calls = sg.calls;
	ck_assert_int_eq(ft_store_append(s, it, 7, sign_cb, &sg, &ns), 0);
	ck_assert_uint_eq(ns, 13);
	ck_assert_int_eq(sg.calls, calls + 1);
	expect_rejected(&it[0], FT_REVOKE_KEY, 7);
	expect_rejected(&it[1], FT_REVOKE_KEY, 7);
	expect_appended(&it[2], 10);
	expect_appended(&it[3], 11);
	expect_rejected(&it[4], FT_REVOKE_IMAGE, 11);
	expect_rejected(&it[5], FT_REVOKE_IMAGE, 11);
	expect_appended(&it[6], 12);
	model_append(m, 211, entry_len(211));
	model_append(m, 212, entry_len(212));
	model_append(m, 215, entry_len(215));
	check_store(s, m, &sg);
	expect_revoked(s, FT_REVOKE_KEY, k1[0], 7);
	expect_revoked(s, FT_REVOKE_IMAGE, i2[0], 11);
	ck_assert_int_eq(revoked(s, FT_REVOKE_IMAGE, i1[0], &idx),
			 FT_ENOTFOUND);
	expect_latest(s, i2[0], FT_EVENT_REVOCATION, 11);
	expect_latest(s, i2[0], FT_EVENT_RELEASE, 9);
	ck_assert_int_eq(latest(s, i2[0], FT_EVENT_DISTRIBUTION, &idx),
			 FT_ENOTFOUND);
	expect_latest(s, d1[0], FT_EVENT_REVOCATION, 10);
	expect_latest(s, i1[0], FT_EVENT_DISTRIBUTION, 12);

	/*
	 * Everything new is refused (and a duplicate, and a refused item
	 * twice): no write, no signature, the same checkpoint.
	 */
	get_ckpt(s, ck0, &l0);
	ev_item(&it[0], b[0], 220, d1i1);  /* new bytes, k1 */
	ev_item(&it[1], b[1], 201, r2i2);  /* dup of 6 */
	ev_item(&it[2], b[2], 221, d3i2);  /* about i2 */
	ev_item(&it[3], b[3], 220, d1i1);  /* the first again */
	calls = sg.calls;
	ck_assert_int_eq(ft_store_append(s, it, 4, sign_cb, &sg, &ns), 0);
	ck_assert_uint_eq(ns, 13);
	ck_assert_int_eq(sg.calls, calls);
	expect_rejected(&it[0], FT_REVOKE_KEY, 7);
	ck_assert_int_eq(it[1].dup, 1);
	ck_assert_uint_eq(it[1].index, 6);
	expect_rejected(&it[2], FT_REVOKE_IMAGE, 11);
	expect_rejected(&it[3], FT_REVOKE_KEY, 7);
	get_ckpt(s, ck1, &l1);
	ck_assert_uint_eq(l1, l0);
	ck_assert_mem_eq(ck1, ck0, l0);
	check_store(s, m, &sg);
	check_absent(s, it, 1);

	/*
	 * Resubmitting events logged before their signer or image was
	 * revoked: duplicates with their old index, not refusals.
	 */
	ev_item(&it[0], b[0], 200, r1i1); /* k1, index 5 */
	ev_item(&it[1], b[1], 207, r3i2); /* about i2, index 9 */
	ck_assert_int_eq(ft_store_append(s, it, 2, sign_cb, &sg, &ns), 0);
	ck_assert_uint_eq(ns, 13);
	ck_assert_int_eq(sg.calls, calls);
	ck_assert_int_eq(it[0].dup, 1);
	ck_assert_uint_eq(it[0].index, 5);
	ck_assert_int_eq(it[0].rejected, 0);
	ck_assert_int_eq(it[1].dup, 1);
	ck_assert_uint_eq(it[1].index, 9);
	ck_assert_int_eq(it[1].rejected, 0);

	/* An aborted batch (the signer fails) leaves no revocation: rk3
	 * would revoke k3. Outputs are cleared. */
	ev_item(&it[0], b[0], 230, rk3);
	ev_item(&it[1], b[1], 231, d1i1); /* refused inside the batch */
	sg.fail = FT_ECRYPTO;
	ck_assert_int_eq(ft_store_append(s, it, 2, sign_cb, &sg, &ns),
			 FT_ECRYPTO);
	sg.fail = 0;
	ck_assert_int_eq(it[1].rejected, 0);
	ck_assert_uint_eq(it[1].rejected_by, 0);
	ck_assert_int_eq(revoked(s, FT_REVOKE_KEY, k3[0], &idx),
			 FT_ENOTFOUND);
	check_store(s, m, &sg);
	{
		static const uint64_t ri[] = {7, 10};
		static const int rk[] = {FT_EVENT_REVOCATION,
					 FT_EVENT_REVOCATION};
		static const int rr[] = {10, 11};

		expect_lineage(s, d1[0], 2, ri, rk, rr);
	}

	/* Invalid meta: the whole batch is refused, nothing written. */
	{
		ft_store_meta *bad = meta_make(FT_EVENT_RELEASE, FT_REVOKE_NONE,
					       NULL, i3, 1, k3, 1, 99);

		ev_item(&it[0], b[0], 240, d3i1);
		ev_item(&it[1], b[1], 241, bad);
		bad->kind = 0;
		ck_assert_int_eq(ft_store_append(s, it, 2, sign_cb, &sg, &ns),
				 FT_EINVAL);
		bad->kind = FT_EVENT_RELEASE;
		bad->revoke = FT_REVOKE_KEY;
		ck_assert_int_eq(ft_store_append(s, it, 2, sign_cb, &sg, &ns),
				 FT_EINVAL);
		bad->kind = FT_EVENT_REVOCATION;
		bad->revoke = FT_REVOKE_NONE;
		ck_assert_int_eq(ft_store_append(s, it, 2, sign_cb, &sg, &ns),
				 FT_EINVAL);
		bad->revoke = 3;
		ck_assert_int_eq(ft_store_append(s, it, 2, sign_cb, &sg, &ns),
				 FT_EINVAL);
		bad->kind = FT_EVENT_RELEASE;
		bad->revoke = FT_REVOKE_NONE;
		bad->n_subjects = 0;
		ck_assert_int_eq(ft_store_append(s, it, 2, sign_cb, &sg, &ns),
				 FT_EINVAL);
		bad->n_subjects = FT_EVENT_MAX_SUBJECTS + 1;
		ck_assert_int_eq(ft_store_append(s, it, 2, sign_cb, &sg, &ns),
				 FT_EINVAL);
		bad->n_subjects = 1;
		bad->n_signers = FT_EVENT_MAX_SIGS + 1;
		ck_assert_int_eq(ft_store_append(s, it, 2, sign_cb, &sg, &ns),
				 FT_EINVAL);
		ck_assert_int_eq(sg.calls, calls + 1);
		check_store(s, m, &sg);
		free(bad);
	}

	/* Reopened: the revocations hold, the retried batch goes in. */
	ft_store_close(s);
	s = open_ok(dir, 0);
	check_store(s, m, &sg);
	expect_revoked(s, FT_REVOKE_KEY, k1[0], 7);
	expect_revoked(s, FT_REVOKE_IMAGE, i2[0], 11);
	ev_item(&it[0], b[0], 230, rk3);
	ev_item(&it[1], b[1], 231, d1i1);
	ev_item(&it[2], b[2], 232, d3i1); /* k3, now revoked by 13 */
	ev_item(&it[3], b[3], 233, r3i2); /* k3 and i2: the key first */
	calls = sg.calls;
	ck_assert_int_eq(ft_store_append(s, it, 4, sign_cb, &sg, &ns), 0);
	ck_assert_uint_eq(ns, 14);
	ck_assert_int_eq(sg.calls, calls + 1);
	expect_appended(&it[0], 13);
	expect_rejected(&it[1], FT_REVOKE_KEY, 7);
	expect_rejected(&it[2], FT_REVOKE_KEY, 13);
	expect_rejected(&it[3], FT_REVOKE_KEY, 13);
	model_append(m, 230, entry_len(230));
	expect_revoked(s, FT_REVOKE_KEY, k3[0], 13);
	ft_store_close(s);
	s = open_ok(dir, 0);
	check_store(s, m, &sg);
	expect_revoked(s, FT_REVOKE_KEY, k3[0], 13);
	expect_latest(s, d1[0], FT_EVENT_REVOCATION, 13);
	ft_store_close(s);

	/* A "revoked" row of a bad length is corrupt. */
	{
		uint8_t rkey[33], v9[9] = {0};
		size_t v9len = sizeof v9;

		rkey[0] = 'k';
		memcpy(rkey + 1, k1[0], 32);
		raw(dir, "revoked", RAW_PUT, rkey, 33, v9, &v9len);
		s = open_ok(dir, 0);
		ck_assert_int_eq(revoked(s, FT_REVOKE_KEY, k1[0], &idx),
				 FT_ESTORE_CORRUPT);
		ev_item(&it[0], b[0], 250, d1i1);
		ck_assert_int_eq(ft_store_append(s, it, 1, sign_cb, &sg, &ns),
				 FT_ESTORE_CORRUPT);
		check_store(s, m, &sg);
		ft_store_close(s);
	}

	free(r1i1);
	free(r2i2);
	free(d1i1);
	free(r12i3);
	free(r3i2);
	free(d3i1);
	free(d3i2);
	free(rk1);
	free(rk1b);
	free(ri2);
	free(ri12);
	free(rk3);
	free(r31i3);
	model_free(m);
	tu_rmtree(dir);
	free(dir);
}
END_TEST

/* Drop named database `db` of the store in dir (as a schema-1 store
 * never had it). */
static void raw_drop(const char *dir, const char *db)
{
	MDB_env *env;
	MDB_txn *txn;
	MDB_dbi dbi;

	ck_assert_int_eq(mdb_env_create(&env), 0);
	ck_assert_int_eq(mdb_env_set_maxdbs(env, 4), 0);
	ck_assert_int_eq(mdb_env_open(env, dir, 0, 0600), 0);
	ck_assert_int_eq(mdb_txn_begin(env, NULL, 0, &txn), 0);
	ck_assert_int_eq(mdb_dbi_open(txn, db, 0, &dbi), 0);
	ck_assert_int_eq(mdb_drop(txn, dbi, 1), 0);
	ck_assert_int_eq(mdb_txn_commit(txn), 0);
	mdb_env_close(env);
}

/*
 * One envelope per signed statement: a new item whose statement hash is
 * logged already (in the store, or earlier in the same batch) is refused
 * with FT_EEXIST naming the first index, and gives its leaf claim back;
 * metas without a statement hash (all zeros) are never compared; the
 * index survives a reopen.
 */
START_TEST(test_statements)
{
	char *dir = new_store(0);
	signer sg;
	ft_store *s;
	ft_store_item it[4];
	uint8_t b[4][64];
	uint8_t im[1][32], kk[1][32];
	uint64_t ns = 0, idx = 0;
	ft_store_reader r;

	dg(im[0], 0x31, 0);
	dg(kk[0], 0x41, 0);
	ft_store_meta *a = meta_make(FT_EVENT_RELEASE, FT_REVOKE_NONE, NULL,
				     im, 1, kk, 1, 1);
	ft_store_meta *a2 = meta_make(FT_EVENT_RELEASE, FT_REVOKE_NONE, NULL,
				      im, 1, kk, 1, 2);
	ft_store_meta *z1 = meta_make(FT_EVENT_BUILD, FT_REVOKE_NONE, NULL,
				      im, 1, kk, 1, 3);
	ft_store_meta *z2 = meta_make(FT_EVENT_BUILD, FT_REVOKE_NONE, NULL,
				      im, 1, kk, 1, 4);
	memset(a->statement, 0x5a, 32);
	memset(a2->statement, 0x5a, 32); /* the same statement */

	signer_init(&sg);
	s = open_ok(dir, 0);
	/* a at 0; its re-encoding a2 (other bytes) refused in the same
	 * batch; z1 and z2 have no statement hash: both go in. */
	ev_item(&it[0], b[0], 300, a);
	ev_item(&it[1], b[1], 301, a2);
	ev_item(&it[2], b[2], 302, z1);
	ev_item(&it[3], b[3], 303, z2);
	ck_assert_int_eq(ft_store_append(s, it, 4, sign_cb, &sg, &ns), 0);
	ck_assert_uint_eq(ns, 3);
	expect_appended(&it[0], 0);
	ck_assert_int_eq(it[1].rejected, FT_EEXIST);
	ck_assert_uint_eq(it[1].rejected_by, 0);
	ck_assert_int_eq(it[1].dup, 0);
	expect_appended(&it[2], 1);
	expect_appended(&it[3], 2);
	ft_store_close(s);

	/* After a reopen: a2 again is refused, a (same bytes) is a dup. */
	s = open_ok(dir, 0);
	ev_item(&it[0], b[0], 301, a2);
	ev_item(&it[1], b[1], 300, a);
	ck_assert_int_eq(ft_store_append(s, it, 2, sign_cb, &sg, &ns), 0);
	ck_assert_uint_eq(ns, 3);
	ck_assert_int_eq(it[0].rejected, FT_EEXIST);
	ck_assert_uint_eq(it[0].rejected_by, 0);
	ck_assert_int_eq(it[1].dup, 1);
	ck_assert_uint_eq(it[1].index, 0);
	ck_assert_int_eq(ft_store_reader_init(s, &r), 0);
	ck_assert_int_eq(ft_store_read_begin(&r), 0);
	ck_assert_int_eq(ft_store_find_statement(&r, a->statement, &idx), 0);
	ck_assert_uint_eq(idx, 0);
	memset(a->statement, 0x5b, 32);
	ck_assert_int_eq(ft_store_find_statement(&r, a->statement, &idx),
			 FT_ENOTFOUND);
	ft_store_read_end(&r);
	ft_store_reader_free(&r);
	ft_store_close(s);

	free(a);
	free(a2);
	free(z1);
	free(z2);
	tu_rmtree(dir);
	free(dir);
}
END_TEST

/*
 * Schema 2 is written at creation; a schema-1 store (before firmware
 * events: no "subjects" or "revoked") is refused with a clear reason, as
 * is any other version, and a version-2 store missing them is corrupt.
 */
START_TEST(test_schema_version)
{
	char *dir = new_store(0);
	uint8_t v[4], v1[4] = {0, 0, 0, 1}, v3[4] = {0, 0, 0, 3};
	size_t vlen = sizeof v;
	ft_store *s = NULL;

	raw(dir, "meta", RAW_GET, "version", 7, v, &vlen);
	ck_assert_uint_eq(vlen, 4);
	ck_assert_int_eq(v[0] | v[1] | v[2], 0);
	ck_assert_int_eq(v[3], 2);
	s = open_ok(dir, 0);
	ft_store_close(s);
	s = NULL;

	raw(dir, "meta", RAW_PUT, "version", 7, v1, &vlen);
	ck_assert_int_eq(ft_store_open(dir, 0, &s), FT_ESTORE_CORRUPT);
	ck_assert_ptr_null(s);
	ck_assert_ptr_nonnull(strstr(ft_store_last_error(NULL), "schema 1"));
	ck_assert_ptr_nonnull(
		strstr(ft_store_last_error(NULL), "create a new store"));

	/* A true schema-1 layout: the version is checked first. */
	raw_drop(dir, "subjects");
	raw_drop(dir, "revoked");
	ck_assert_int_eq(ft_store_open(dir, 0, &s), FT_ESTORE_CORRUPT);
	ck_assert_ptr_nonnull(strstr(ft_store_last_error(NULL), "schema 1"));

	raw(dir, "meta", RAW_PUT, "version", 7, v3, &vlen);
	ck_assert_int_eq(ft_store_open(dir, 0, &s), FT_ESTORE_CORRUPT);
	ck_assert_ptr_nonnull(strstr(ft_store_last_error(NULL), "schema"));

	raw(dir, "meta", RAW_PUT, "version", 7, v, &vlen);
	ck_assert_int_eq(ft_store_open(dir, 0, &s), FT_ESTORE_CORRUPT);
	ck_assert_ptr_nonnull(strstr(ft_store_last_error(NULL), "missing"));
	ck_assert_ptr_null(s);

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

	tc = tcase_create("indexes");
	tcase_set_timeout(tc, 120);
	tcase_add_test(tc, test_lineage);
	tcase_add_test(tc, test_revocation);
	tcase_add_test(tc, test_schema_version);
	tcase_add_test(tc, test_statements);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	return tu_run_suite(store_suite());
}
