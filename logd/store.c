/*
 * logd/store.c - ftlogd's LMDB storage (contract and layout: store.h).
 *
 * The writer keeps an ft_tree (the compact range) in memory and feeds each
 * batch's leaves through ft_tree_append_batch, which reports every node it
 * completes. Those on tree levels 0, 8, 16, ... are exactly the hashes of
 * the C2SP tiles; the others (levels 8L+1 .. 8L+7) are the inner nodes of
 * those tiles. Both kinds are gathered into one buffer per tile level and
 * written once per tile per batch, so storing the inner nodes costs no
 * hashing at all. Readers never see the in-memory tree and never hash: every
 * node a proof needs is one stored hash (store_read below).
 */
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <lmdb.h>

#include <ftlog/note.h>

#include "logd/store.h"

#define STORE_VERSION 2u
/* Tree levels are < 63, so tile levels are 0..7. */
#define STORE_TILE_LEVELS 8
#define STORE_TILE_KEY 9
#define STORE_STATE_LEN (8 + FT_HASH_LEN)
#define STORE_MAXDBS 9
/* "subjects" keys: sha256(32) || be64(index). */
#define STORE_SUBJ_KEY (32 + 8)
/* "revoked" keys: 'i' or 'k' || 32 bytes. */
#define STORE_REVOKED_KEY (1 + 32)
/* Hashes in an "inner" value: 128 + 64 + ... + 2 (sub-levels 1..7). */
#define STORE_INNER_HASHES (FT_TILE_WIDTH - 2)
#define STORE_INNER_BYTES (STORE_INNER_HASHES * FT_HASH_LEN)
#define STORE_MAXREADERS 256
/* A full entry bundle: 256 times uint16_be(len) || entry, len 1..65535. */
#define STORE_BUNDLE_MIN ((size_t)FT_TILE_WIDTH * 3)
#define STORE_BUNDLE_MAX ((size_t)FT_TILE_WIDTH * (2 + FT_ENTRY_MAX))

/* One tile being extended during a batch: hashes [0, width) of tile
 * (level, index), its stored prefix followed by this batch's nodes. */
typedef struct tile_buf {
	int active;
	uint64_t index;
	unsigned width;
	uint8_t data[FT_TILE_BYTES];
} tile_buf;

/* The inner nodes of one tile being extended during a batch: the stored
 * value (or zeros) with this batch's nodes written into their slots. */
typedef struct inner_buf {
	int active;
	uint64_t index;
	uint8_t data[STORE_INNER_BYTES];
} inner_buf;

struct ft_store {
	MDB_env *env;
	MDB_dbi entries, leaves, tiles, meta, inner, bundles, subjects,
		revoked, statements;
	char *origin;
	size_t origin_len;

	/* Writer thread only: the committed tree and reusable scratch. */
	ft_tree tree;
	ft_hash *batch_leaves;
	size_t batch_cap;
	tile_buf tbuf[STORE_TILE_LEVELS];
	inner_buf ibuf[STORE_TILE_LEVELS];
	uint8_t ckpt[FT_STORE_CHECKPOINT_MAX];
	uint8_t *bundle_buf; /* a full bundle being assembled, grown on demand */
	size_t bundle_cap;

	/* Read from any thread. */
	pthread_mutex_t head_mu;
	uint64_t head_size;
	ft_hash head_root;

	/* The last error for logs: a static description and the LMDB code
	 * (0 when the error did not come from LMDB). Atomics, because any
	 * reader thread may record one while another logs. */
	_Atomic(const char *) err_what;
	atomic_int err_rc;
};

/* ---- Small helpers. */

static void put_be64(uint8_t *p, uint64_t v)
{
	for (int i = 7; i >= 0; i--) {
		p[i] = (uint8_t)v;
		v >>= 8;
	}
}

static uint64_t get_be64(const uint8_t *p)
{
	uint64_t v = 0;

	for (int i = 0; i < 8; i++) {
		v = (v << 8) | p[i];
	}
	return v;
}

static void tile_key(uint8_t key[STORE_TILE_KEY], unsigned level,
		     uint64_t index)
{
	key[0] = (uint8_t)level;
	put_be64(key + 1, index);
}

/*
 * Where the node at tree level 8L + k (k = 1..7), index i, lives in the
 * "inner" value of tile (L, i >> (8 - k)): sub-level k holds 256 >> k
 * slots and starts after the 256 - (512 >> k) slots of sub-levels 1..k-1.
 * Returns the hash offset; *tile gets the tile index.
 */
static size_t inner_slot(unsigned k, uint64_t i, uint64_t *tile)
{
	uint64_t per = (uint64_t)FT_TILE_WIDTH >> k;

	*tile = i >> (FT_TILE_HEIGHT - k);
	return (size_t)(FT_TILE_WIDTH - ((2 * FT_TILE_WIDTH) >> k)) +
	       (size_t)(i & (per - 1));
}

static int hash_is_zero(const uint8_t *p)
{
	uint8_t acc = 0;

	for (size_t j = 0; j < FT_HASH_LEN; j++) {
		acc |= p[j];
	}
	return acc == 0;
}

static MDB_val mval(const void *p, size_t n)
{
	MDB_val v;

	v.mv_data = (void *)(uintptr_t)p;
	v.mv_size = n;
	return v;
}

static void set_error(ft_store *s, const char *what, int mrc)
{
	atomic_store(&s->err_what, what);
	atomic_store(&s->err_rc, mrc);
}

/*
 * Record an LMDB (or errno) failure and map it: a full map or disk is the
 * one condition the sequencer reports differently, since retrying later or
 * growing the map helps.
 */
static int store_err(ft_store *s, const char *what, int mrc)
{
	if (s != NULL) {
		set_error(s, what, mrc);
	}
	switch (mrc) {
	case MDB_MAP_FULL:
	case ENOSPC:
#ifdef EDQUOT
	case EDQUOT:
#endif
		return FT_ESTORE_FULL;
	case MDB_CORRUPTED:
	case MDB_PAGE_NOTFOUND:
		return FT_ESTORE_CORRUPT;
	case ENOMEM:
		return FT_ENOMEM;
	default:
		return FT_ESTORE;
	}
}

static int corrupt(ft_store *s, const char *what)
{
	if (s != NULL) {
		set_error(s, what, 0);
	}
	return FT_ESTORE_CORRUPT;
}

/* dir + "/data.mdb" into buf: 0, or FT_EINVAL if it does not fit. */
static int data_path(const char *dir, char *buf, size_t cap)
{
	int n = snprintf(buf, cap, "%s/data.mdb", dir);

	if (n < 0 || (size_t)n >= cap) {
		return FT_EINVAL;
	}
	return FT_OK;
}

static int env_open(const char *dir, uint64_t map_size, MDB_env **out)
{
	MDB_env *env = NULL;
	int mrc;

	if (map_size == 0) {
		map_size = FT_STORE_DEFAULT_MAP;
	}
	if (map_size > SIZE_MAX) {
		return FT_EINVAL;
	}
	if ((mrc = mdb_env_create(&env)) != 0) {
		return store_err(NULL, "mdb_env_create", mrc);
	}
	/* MDB_NOTLS: a reader's slot belongs to its txn, not its thread, so
	 * reusable readers may move between threads. Sync stays default:
	 * commit returns only once the batch is on disk. */
	if ((mrc = mdb_env_set_maxdbs(env, STORE_MAXDBS)) != 0 ||
	    (mrc = mdb_env_set_maxreaders(env, STORE_MAXREADERS)) != 0 ||
	    (mrc = mdb_env_set_mapsize(env, (size_t)map_size)) != 0 ||
	    (mrc = mdb_env_open(env, dir, MDB_NOTLS, 0600)) != 0) {
		mdb_env_close(env);
		return store_err(NULL, "mdb_env_open", mrc);
	}
	*out = env;
	return FT_OK;
}

/* ---- Creation. */

static int create_dbs(MDB_env *env, const char *origin, size_t origin_len)
{
	MDB_txn *txn = NULL;
	MDB_dbi dbi[STORE_MAXDBS];
	static const char *const names[STORE_MAXDBS] = {
		"entries", "leaves",   "tiles",  "meta",      "inner",
		"bundles", "subjects", "revoked", "statements"};
	uint8_t version[4] = {0, 0, 0, STORE_VERSION};
	uint8_t state[STORE_STATE_LEN];
	ft_hash empty;
	MDB_val k, v;
	int mrc;

	ft_merkle_empty_root(&empty);
	put_be64(state, 0);
	memcpy(state + 8, empty.b, FT_HASH_LEN);

	if ((mrc = mdb_txn_begin(env, NULL, 0, &txn)) != 0) {
		goto fail;
	}
	for (size_t i = 0; i < STORE_MAXDBS; i++) {
		if ((mrc = mdb_dbi_open(txn, names[i], MDB_CREATE, &dbi[i])) !=
		    0) {
			goto fail;
		}
	}
	k = mval("origin", 6);
	v = mval(origin, origin_len);
	if ((mrc = mdb_put(txn, dbi[3], &k, &v, 0)) != 0) {
		goto fail;
	}
	k = mval("version", 7);
	v = mval(version, sizeof version);
	if ((mrc = mdb_put(txn, dbi[3], &k, &v, 0)) != 0) {
		goto fail;
	}
	k = mval("state", 5);
	v = mval(state, sizeof state);
	if ((mrc = mdb_put(txn, dbi[3], &k, &v, 0)) != 0) {
		goto fail;
	}
	mrc = mdb_txn_commit(txn);
	txn = NULL;
	if (mrc != 0) {
		goto fail;
	}
	return FT_OK;
fail:
	if (txn != NULL) {
		mdb_txn_abort(txn);
	}
	return store_err(NULL, "create", mrc);
}

int ft_store_create(const char *dir, const char *origin, size_t origin_len,
		    uint64_t map_size)
{
	char path[4096];
	struct stat st;
	MDB_env *env = NULL;
	int rc;

	if (dir == NULL || origin == NULL || origin_len == 0 ||
	    origin_len > FT_KEY_NAME_MAX) {
		return FT_EINVAL;
	}
	/* The origin becomes the first line of every checkpoint. */
	if (memchr(origin, '\n', origin_len) != NULL ||
	    memchr(origin, '\0', origin_len) != NULL) {
		return FT_EINVAL;
	}
	if ((rc = data_path(dir, path, sizeof path)) != 0) {
		return rc;
	}
	if (stat(path, &st) == 0) {
		return FT_EEXIST;
	}
	if (errno != ENOENT) {
		return FT_EIO;
	}
	if ((rc = env_open(dir, map_size, &env)) != 0) {
		return rc;
	}
	rc = create_dbs(env, origin, origin_len);
	mdb_env_close(env);
	if (rc != 0) {
		/* We made data.mdb above; a half-made store must not be
		 * mistaken for a real one by the next create or open. */
		(void)unlink(path);
	}
	return rc;
}

/* ---- Reading. */

/* mdb_get with the not-found case split out: 0, FT_ENOTFOUND or error. */
static int get(ft_store *s, MDB_txn *txn, MDB_dbi dbi, const void *key,
	       size_t klen, MDB_val *out)
{
	MDB_val k = mval(key, klen);
	int mrc = mdb_get(txn, dbi, &k, out);

	if (mrc == MDB_NOTFOUND) {
		return FT_ENOTFOUND;
	}
	if (mrc != 0) {
		return store_err(s, "mdb_get", mrc);
	}
	return FT_OK;
}

/* An entry as LMDB returned it: valid until the transaction's next
 * update or its end, whichever comes first. */
typedef struct entry_ref {
	const uint8_t *p;
	size_t len;
} entry_ref;

/*
 * The 256 entries of full bundle n, one cursor walk over "entries":
 * refs[i] is entry 256n + i and *total the length of the bundle they make.
 * FT_ESTORE_CORRUPT if one is missing or cannot be a bundle entry.
 */
static int bundle_entries(ft_store *s, MDB_txn *txn, uint64_t n,
			  entry_ref refs[FT_TILE_WIDTH], size_t *total)
{
	uint64_t first = n * FT_TILE_WIDTH;
	MDB_cursor *cur = NULL;
	uint8_t key[8];
	MDB_val k, v;
	size_t sum = 0;
	int mrc, rc = FT_OK;

	if ((mrc = mdb_cursor_open(txn, s->entries, &cur)) != 0) {
		return store_err(s, "mdb_cursor_open", mrc);
	}
	put_be64(key, first);
	k = mval(key, sizeof key);
	for (unsigned i = 0; i < FT_TILE_WIDTH; i++) {
		mrc = mdb_cursor_get(cur, &k, &v,
				     i == 0 ? MDB_SET_KEY : MDB_NEXT);
		if (mrc == MDB_NOTFOUND) {
			rc = corrupt(s, "entries missing for a full bundle");
			break;
		}
		if (mrc != 0) {
			rc = store_err(s, "mdb_cursor_get", mrc);
			break;
		}
		if (k.mv_size != 8 || get_be64(k.mv_data) != first + i ||
		    v.mv_size == 0 || v.mv_size > FT_ENTRY_MAX) {
			rc = corrupt(s, "entries do not make a full bundle");
			break;
		}
		refs[i].p = v.mv_data;
		refs[i].len = v.mv_size;
		sum += 2 + v.mv_size;
	}
	mdb_cursor_close(cur);
	if (rc == FT_OK) {
		*total = sum;
	}
	return rc;
}

static int read_state(ft_store *s, MDB_txn *txn, uint64_t *size,
		      ft_hash *root)
{
	MDB_val v;
	int rc = get(s, txn, s->meta, "state", 5, &v);

	if (rc == FT_ENOTFOUND || (rc == 0 && v.mv_size != STORE_STATE_LEN)) {
		return corrupt(s, "meta state missing or malformed");
	}
	if (rc != 0) {
		return rc;
	}
	*size = get_be64(v.mv_data);
	memcpy(root->b, (const uint8_t *)v.mv_data + 8, FT_HASH_LEN);
	if (*size > FT_TREE_MAX_SIZE) {
		return corrupt(s, "meta state size out of range");
	}
	return FT_OK;
}

int ft_store_reader_init(ft_store *s, ft_store_reader *r)
{
	MDB_txn *txn = NULL;
	int mrc;

	if (s == NULL || r == NULL) {
		return FT_EINVAL;
	}
	/* Begin once and park the txn reset: read_begin is then a cheap
	 * renew that reuses the reader slot. */
	if ((mrc = mdb_txn_begin(s->env, NULL, MDB_RDONLY, &txn)) != 0) {
		return store_err(s, "mdb_txn_begin(read)", mrc);
	}
	mdb_txn_reset(txn);
	r->s = s;
	r->txn = txn;
	r->active = 0;
	return FT_OK;
}

void ft_store_reader_free(ft_store_reader *r)
{
	if (r == NULL || r->txn == NULL) {
		return;
	}
	mdb_txn_abort(r->txn);
	r->txn = NULL;
	r->active = 0;
}

int ft_store_read_begin(ft_store_reader *r)
{
	int mrc;

	if (r == NULL || r->txn == NULL || r->active) {
		return FT_EINVAL;
	}
	if ((mrc = mdb_txn_renew(r->txn)) != 0) {
		return store_err(r->s, "mdb_txn_renew", mrc);
	}
	r->active = 1;
	return FT_OK;
}

void ft_store_read_end(ft_store_reader *r)
{
	if (r == NULL || r->txn == NULL || !r->active) {
		return;
	}
	mdb_txn_reset(r->txn);
	r->active = 0;
}

int ft_store_get_state(ft_store_reader *r, ft_store_state *out)
{
	ft_store_state st;
	MDB_val v;
	int rc;

	if (r == NULL || !r->active || out == NULL) {
		return FT_EINVAL;
	}
	memset(&st, 0, sizeof st);
	if ((rc = read_state(r->s, r->txn, &st.size, &st.root)) != 0) {
		return rc;
	}
	rc = get(r->s, r->txn, r->s->meta, "checkpoint", 10, &v);
	if (rc != 0 && rc != FT_ENOTFOUND) {
		return rc;
	}
	if (rc == 0) {
		st.checkpoint = v.mv_data;
		st.checkpoint_len = v.mv_size;
	}
	*out = st;
	return FT_OK;
}

int ft_store_get_entry(ft_store_reader *r, uint64_t index,
		       const uint8_t **data, size_t *len)
{
	uint8_t key[8];
	MDB_val v;
	int rc;

	if (r == NULL || !r->active || data == NULL || len == NULL) {
		return FT_EINVAL;
	}
	put_be64(key, index);
	if ((rc = get(r->s, r->txn, r->s->entries, key, sizeof key, &v)) !=
	    0) {
		return rc;
	}
	*data = v.mv_data;
	*len = v.mv_size;
	return FT_OK;
}

int ft_store_get_tile(ft_store_reader *r, unsigned level, uint64_t index,
		      const uint8_t **data, size_t *len)
{
	uint8_t key[STORE_TILE_KEY];
	MDB_val v;
	int rc;

	if (r == NULL || !r->active || data == NULL || len == NULL) {
		return FT_EINVAL;
	}
	if (level >= STORE_TILE_LEVELS) {
		return FT_ENOTFOUND;
	}
	tile_key(key, level, index);
	if ((rc = get(r->s, r->txn, r->s->tiles, key, sizeof key, &v)) != 0) {
		return rc;
	}
	if (v.mv_size == 0 || v.mv_size > FT_TILE_BYTES ||
	    v.mv_size % FT_HASH_LEN != 0) {
		return corrupt(r->s, "stored tile has a bad length");
	}
	*data = v.mv_data;
	*len = v.mv_size;
	return FT_OK;
}

int ft_store_get_bundle(ft_store_reader *r, uint64_t index,
			const uint8_t **data, size_t *len)
{
	uint8_t key[8];
	MDB_val v;
	int rc;

	if (r == NULL || !r->active || data == NULL || len == NULL) {
		return FT_EINVAL;
	}
	put_be64(key, index);
	if ((rc = get(r->s, r->txn, r->s->bundles, key, sizeof key, &v)) !=
	    0) {
		return rc;
	}
	if (v.mv_size < STORE_BUNDLE_MIN || v.mv_size > STORE_BUNDLE_MAX) {
		return corrupt(r->s, "stored bundle has a bad length");
	}
	*data = v.mv_data;
	*len = v.mv_size;
	return FT_OK;
}

/* The be64 index stored under a 32-byte key of dbi ("leaves",
 * "statements"): FT_ENOTFOUND if none. */
static int find_index(ft_store_reader *r, MDB_dbi dbi, const uint8_t *key,
		      uint64_t *index)
{
	MDB_val v;
	int rc;

	if (r == NULL || !r->active || key == NULL || index == NULL) {
		return FT_EINVAL;
	}
	if ((rc = get(r->s, r->txn, dbi, key, 32, &v)) != 0) {
		return rc;
	}
	if (v.mv_size != 8) {
		return corrupt(r->s, "stored index has a bad length");
	}
	*index = get_be64(v.mv_data);
	return FT_OK;
}

int ft_store_find_leaf(ft_store_reader *r, const ft_hash *leaf,
		       uint64_t *index)
{
	if (r == NULL || leaf == NULL) {
		return FT_EINVAL;
	}
	return find_index(r, r->s->leaves, leaf->b, index);
}

/* ---- The firmware-event indexes. */

/* Whether meta carries a statement hash (all zeros: none; SHA-256 never
 * yields that). */
static int has_statement(const ft_store_meta *m)
{
	static const uint8_t zero[32];

	return memcmp(m->statement, zero, 32) != 0;
}

int ft_store_find_statement(ft_store_reader *r, const uint8_t hash[32],
			    uint64_t *index)
{
	if (r == NULL) {
		return FT_EINVAL;
	}
	return find_index(r, r->s->statements, hash, index);
}

/*
 * Claim the statement of a new item for index `next` in txn: 0, or 1 if
 * another envelope of the same signed statement is logged (or earlier in
 * this batch): then the item is refused (FT_EEXIST, rejected_by its
 * index). Stops the replay of a logged event re-encoded into new bytes
 * (other whitespace, base64 alphabet or signature order), which the leaf
 * hash alone would take for a new entry.
 */
static int claim_statement(ft_store *s, MDB_txn *txn, ft_store_item *it,
			   uint64_t next)
{
	uint8_t ib[8];
	MDB_val k, v;
	int mrc;

	if (!has_statement(it->meta)) {
		return 0;
	}
	put_be64(ib, next);
	k = mval(it->meta->statement, 32);
	v = mval(ib, sizeof ib);
	mrc = mdb_put(txn, s->statements, &k, &v, MDB_NOOVERWRITE);
	if (mrc == MDB_KEYEXIST) {
		if (v.mv_size != 8) {
			return corrupt(s, "statement index has a bad length");
		}
		it->rejected = FT_EEXIST;
		it->rejected_target = 0;
		it->rejected_by = get_be64(v.mv_data);
		return 1;
	}
	if (mrc != 0) {
		return store_err(s, "mdb_put(statements)", mrc);
	}
	return 0;
}

static int kind_valid(int kind)
{
	return kind >= FT_EVENT_BUILD && kind <= FT_EVENT_REVOCATION;
}

/* A "subjects" row as stored: its index, kind and record, checked. The
 * key must be 40 bytes and the value u8(kind) || record with a known
 * kind; anything else is FT_ESTORE_CORRUPT. */
static int subject_row(ft_store *s, const MDB_val *k, const MDB_val *v,
		       uint64_t *index, int *kind)
{
	const uint8_t *p = v->mv_data;

	if (k->mv_size != STORE_SUBJ_KEY) {
		return corrupt(s, "subjects key has a bad length");
	}
	if (v->mv_size == 0 || !kind_valid(p[0])) {
		return corrupt(s, "subjects row is malformed");
	}
	*index = get_be64((const uint8_t *)k->mv_data + 32);
	*kind = p[0];
	return FT_OK;
}

static int same_digest(const MDB_val *k, const uint8_t digest[32])
{
	return k->mv_size >= 32 && memcmp(k->mv_data, digest, 32) == 0;
}

int ft_store_lineage(ft_store_reader *r, const uint8_t digest[32],
		     uint64_t after, ft_store_lineage_fn cb, void *ctx)
{
	uint8_t key[STORE_SUBJ_KEY];
	MDB_cursor *cur = NULL;
	MDB_val k, v;
	MDB_cursor_op op = MDB_SET_RANGE;
	int rc = FT_OK, mrc;

	if (r == NULL || !r->active || digest == NULL || cb == NULL) {
		return FT_EINVAL;
	}
	memcpy(key, digest, 32);
	put_be64(key + 32, after == UINT64_MAX ? 0 : after + 1);
	if ((mrc = mdb_cursor_open(r->txn, r->s->subjects, &cur)) != 0) {
		return store_err(r->s, "mdb_cursor_open", mrc);
	}
	k = mval(key, sizeof key);
	for (;;) {
		uint64_t index;
		int kind;

		mrc = mdb_cursor_get(cur, &k, &v, op);
		op = MDB_NEXT;
		if (mrc == MDB_NOTFOUND) {
			break;
		}
		if (mrc != 0) {
			rc = store_err(r->s, "mdb_cursor_get", mrc);
			break;
		}
		if (!same_digest(&k, digest)) {
			break;
		}
		if ((rc = subject_row(r->s, &k, &v, &index, &kind)) != 0) {
			break;
		}
		/* The record: v without its kind byte; into the map, so
		 * valid until read_end. */
		rc = cb(ctx, index, kind, (const uint8_t *)v.mv_data + 1,
			v.mv_size - 1);
		if (rc != 0) {
			break;
		}
	}
	mdb_cursor_close(cur);
	return rc;
}

int ft_store_latest(ft_store_reader *r, const uint8_t digest[32], int kind,
		    uint64_t *index)
{
	uint8_t key[STORE_SUBJ_KEY];
	MDB_cursor *cur = NULL;
	MDB_val k, v;
	int rc = FT_ENOTFOUND, mrc;

	if (r == NULL || !r->active || digest == NULL || index == NULL ||
	    !kind_valid(kind)) {
		return FT_EINVAL;
	}
	memcpy(key, digest, 32);
	put_be64(key + 32, UINT64_MAX);
	if ((mrc = mdb_cursor_open(r->txn, r->s->subjects, &cur)) != 0) {
		return store_err(r->s, "mdb_cursor_open", mrc);
	}
	/* The first key >= digest || be64(max) is past this digest's rows
	 * (or, never in practice, its row for index 2^64-1 itself); with
	 * none, this digest's rows (if any) end the database. Then walk
	 * back while the digest is the same. */
	k = mval(key, sizeof key);
	mrc = mdb_cursor_get(cur, &k, &v, MDB_SET_RANGE);
	if (mrc == 0 && !(k.mv_size == sizeof key &&
			  memcmp(k.mv_data, key, sizeof key) == 0)) {
		mrc = mdb_cursor_get(cur, &k, &v, MDB_PREV);
	} else if (mrc == MDB_NOTFOUND) {
		mrc = mdb_cursor_get(cur, &k, &v, MDB_LAST);
	}
	for (;;) {
		uint64_t idx;
		int kd;

		if (mrc == MDB_NOTFOUND) {
			break;
		}
		if (mrc != 0) {
			rc = store_err(r->s, "mdb_cursor_get", mrc);
			break;
		}
		if (!same_digest(&k, digest)) {
			break;
		}
		if ((rc = subject_row(r->s, &k, &v, &idx, &kd)) != 0) {
			break;
		}
		if (kd == kind) {
			*index = idx;
			rc = FT_OK;
			break;
		}
		rc = FT_ENOTFOUND;
		mrc = mdb_cursor_get(cur, &k, &v, MDB_PREV);
	}
	mdb_cursor_close(cur);
	return rc;
}

/* 'i' || id or 'k' || id, or FT_EINVAL for another target. */
static int revoked_key(int target, const uint8_t id[32],
		       uint8_t key[STORE_REVOKED_KEY])
{
	switch (target) {
	case FT_REVOKE_IMAGE:
		key[0] = 'i';
		break;
	case FT_REVOKE_KEY:
		key[0] = 'k';
		break;
	default:
		return FT_EINVAL;
	}
	memcpy(key + 1, id, 32);
	return FT_OK;
}

/* The "revoked" row of (target, id) in txn: 0 and its index,
 * FT_ENOTFOUND, or an error. */
static int revoked_get(ft_store *s, MDB_txn *txn, int target,
		       const uint8_t id[32], uint64_t *index)
{
	uint8_t key[STORE_REVOKED_KEY];
	MDB_val v;
	int rc;

	if ((rc = revoked_key(target, id, key)) != 0) {
		return rc;
	}
	if ((rc = get(s, txn, s->revoked, key, sizeof key, &v)) != 0) {
		return rc;
	}
	if (v.mv_size != 8) {
		return corrupt(s, "revoked row has a bad length");
	}
	*index = get_be64(v.mv_data);
	return FT_OK;
}

int ft_store_revoked(ft_store_reader *r, int target, const uint8_t id[32],
		     uint64_t *index)
{
	if (r == NULL || !r->active || id == NULL || index == NULL) {
		return FT_EINVAL;
	}
	return revoked_get(r->s, r->txn, target, id, index);
}

/*
 * The hash reader. Every complete node is stored: level 8L nodes as the
 * prefix of tile (L, N) in "tiles", the others in "inner". One read call
 * asks for at most FT_READ_MAX nodes, usually a proof's path, whose nodes
 * of one tile level share one tile; so the last tile looked up per level
 * and per database is remembered for the rest of the call. The pointers
 * are LMDB's and live as long as the read transaction, which outlasts the
 * call; they are not kept across calls, so a hash reader left over from
 * an ended transaction can never touch a dead pointer through the cache.
 */
typedef struct read_cache {
	int valid;
	uint64_t index;
	const uint8_t *data;
	size_t len;
} read_cache;

typedef struct read_ctx {
	ft_store_reader *r;
	uint64_t size;
	read_cache tile[STORE_TILE_LEVELS];
	read_cache inner[STORE_TILE_LEVELS];
} read_ctx;

/* The stored value of (level, index) in dbi through cache e: 0,
 * FT_EREAD if absent, or an LMDB error. */
static int cached_get(read_ctx *c, read_cache *e, MDB_dbi dbi,
		      unsigned level, uint64_t index)
{
	uint8_t key[STORE_TILE_KEY];
	MDB_val v;
	int rc;

	if (e->valid && e->index == index) {
		return FT_OK;
	}
	tile_key(key, level, index);
	rc = get(c->r->s, c->r->txn, dbi, key, sizeof key, &v);
	if (rc == FT_ENOTFOUND) {
		return FT_EREAD;
	}
	if (rc != 0) {
		return rc;
	}
	e->valid = 1;
	e->index = index;
	e->data = v.mv_data;
	e->len = v.mv_size;
	return FT_OK;
}

static int read_node(read_ctx *c, const ft_node_id *id, ft_hash *out)
{
	unsigned l = id->level / FT_TILE_HEIGHT;
	unsigned k = id->level % FT_TILE_HEIGHT;
	const uint8_t *p;
	uint64_t tile;
	size_t slot;
	int rc;

	/* (level, index) is complete at size iff (index + 1) << level <=
	 * size; no node of a tree below 2^63 leaves is above level 62. */
	if (id->level >= FT_TILE_HEIGHT * STORE_TILE_LEVELS - 1 ||
	    id->index >= (c->size >> id->level)) {
		return FT_EREAD;
	}
	if (k == 0) {
		read_cache *t = &c->tile[l];

		tile = id->index / FT_TILE_WIDTH;
		slot = (size_t)(id->index % FT_TILE_WIDTH);
		if ((rc = cached_get(c, t, c->r->s->tiles, l, tile)) != 0) {
			return rc;
		}
		if (t->len == 0 || t->len > FT_TILE_BYTES ||
		    t->len % FT_HASH_LEN != 0) {
			return corrupt(c->r->s, "stored tile has a bad length");
		}
		/* Shorter than the node: the snapshot is older than size. */
		if ((slot + 1) * FT_HASH_LEN > t->len) {
			return FT_EREAD;
		}
		p = t->data + slot * FT_HASH_LEN;
	} else {
		read_cache *in = &c->inner[l];

		slot = inner_slot(k, id->index, &tile);
		if ((rc = cached_get(c, in, c->r->s->inner, l, tile)) != 0) {
			return rc;
		}
		if (in->len != STORE_INNER_BYTES) {
			return corrupt(c->r->s,
				       "stored inner nodes have a bad length");
		}
		p = in->data + slot * FT_HASH_LEN;
		/* Not completed in this snapshot (size is past it): SHA-256
		 * does not yield 32 zero bytes, so zero means not stored. */
		if (hash_is_zero(p)) {
			return FT_EREAD;
		}
	}
	memcpy(out->b, p, FT_HASH_LEN);
	return FT_OK;
}

/* ft_hash_read_fn; ctx is the caller's ft_tile_reader (see below). */
static int store_read(void *ctx, const ft_node_id *ids, size_t n,
		      ft_hash *out)
{
	const ft_tile_reader *tr = ctx;
	read_ctx c;

	if (tr == NULL || tr->ctx == NULL || (n > 0 && ids == NULL)) {
		return FT_EINVAL;
	}
	c.r = tr->ctx;
	c.size = tr->size;
	if (c.r->txn == NULL || !c.r->active) {
		return FT_EINVAL;
	}
	for (unsigned l = 0; l < STORE_TILE_LEVELS; l++) {
		c.tile[l].valid = 0;
		c.inner[l].valid = 0;
	}
	for (size_t i = 0; i < n; i++) {
		int rc = read_node(&c, &ids[i], &out[i]);
		if (rc != 0) {
			return rc;
		}
	}
	return FT_OK;
}

/*
 * tr is only the home of the reader's two words of state, so that nothing
 * is allocated per proof: its size and ctx fields hold (size, r). fetch
 * stays NULL and every cache slot invalid, so tr used as a tile reader by
 * mistake fails with FT_EINVAL instead of reading anything. Not clearing
 * the other 33 KiB keeps this O(1).
 */
void ft_store_hash_reader(ft_store_reader *r, uint64_t size,
			  ft_tile_reader *tr, ft_hash_reader *out)
{
	tr->size = size;
	tr->fetch = NULL;
	tr->ctx = r;
	tr->clock = 0;
	for (size_t i = 0; i < FT_TILE_READER_CACHE; i++) {
		tr->cache[i].valid = 0;
	}
	out->read = store_read;
	out->ctx = tr;
}

/* ---- Opening. */

static int open_db(ft_store *s, MDB_txn *txn, const char *name,
		   MDB_dbi *dbi)
{
	int mrc = mdb_dbi_open(txn, name, 0, dbi);

	if (mrc == MDB_NOTFOUND) {
		return corrupt(s, "a named database is missing");
	}
	if (mrc != 0) {
		return store_err(s, "mdb_dbi_open", mrc);
	}
	return FT_OK;
}

/* Every database but "meta", which load_meta opens first: an older
 * schema lacks some of these and must be reported as old, not as
 * damaged. */
static int open_dbs(ft_store *s, MDB_txn *txn)
{
	static const char *const names[STORE_MAXDBS - 1] = {
		"entries",  "leaves",  "tiles",     "inner",
		"bundles",  "subjects", "revoked", "statements"};
	MDB_dbi *dbi[STORE_MAXDBS - 1] = {
		&s->entries,  &s->leaves,  &s->tiles,   &s->inner,
		&s->bundles,  &s->subjects, &s->revoked, &s->statements};
	int rc;

	for (size_t i = 0; i < STORE_MAXDBS - 1; i++) {
		if ((rc = open_db(s, txn, names[i], dbi[i])) != 0) {
			return rc;
		}
	}
	return FT_OK;
}

static int load_meta(ft_store *s, MDB_txn *txn)
{
	MDB_val v;
	int rc;

	if ((rc = open_db(s, txn, "meta", &s->meta)) != 0) {
		return rc;
	}
	rc = get(s, txn, s->meta, "version", 7, &v);
	if (rc == FT_ENOTFOUND || (rc == 0 && v.mv_size != 4)) {
		return corrupt(s, "schema version missing or malformed");
	}
	if (rc != 0) {
		return rc;
	}
	const uint8_t *p = v.mv_data;
	uint32_t version = (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 |
			   (uint32_t)p[2] << 8 | p[3];
	if (version == 1) {
		return corrupt(s, "store schema 1 predates firmware events; "
				  "create a new store");
	}
	if (version != STORE_VERSION) {
		return corrupt(s, "unsupported schema version (not 2)");
	}
	rc = get(s, txn, s->meta, "origin", 6, &v);
	if (rc == FT_ENOTFOUND ||
	    (rc == 0 && (v.mv_size == 0 || v.mv_size > FT_KEY_NAME_MAX))) {
		return corrupt(s, "origin missing or malformed");
	}
	if (rc != 0) {
		return rc;
	}
	/* A copy: the origin must outlive every transaction. */
	if ((s->origin = malloc(v.mv_size + 1)) == NULL) {
		return FT_ENOMEM;
	}
	memcpy(s->origin, v.mv_data, v.mv_size);
	s->origin[v.mv_size] = '\0';
	s->origin_len = v.mv_size;
	return FT_OK;
}

/* Entries are exactly [0, size): the last key is size - 1. */
static int check_entries(ft_store *s, MDB_txn *txn, uint64_t size)
{
	MDB_cursor *cur = NULL;
	MDB_val k, v;
	int mrc, rc = FT_OK;

	if ((mrc = mdb_cursor_open(txn, s->entries, &cur)) != 0) {
		return store_err(s, "mdb_cursor_open", mrc);
	}
	mrc = mdb_cursor_get(cur, &k, &v, MDB_LAST);
	if (mrc == MDB_NOTFOUND) {
		if (size != 0) {
			rc = corrupt(s, "entries missing");
		}
	} else if (mrc != 0) {
		rc = store_err(s, "mdb_cursor_get", mrc);
	} else if (size == 0 || k.mv_size != 8 ||
		   get_be64(k.mv_data) != size - 1) {
		rc = corrupt(s, "entries do not match the tree size");
	}
	mdb_cursor_close(cur);
	return rc;
}

/*
 * "bundles" holds exactly the full bundles at size: its last key is
 * size / 256 - 1 (it is empty below 256 entries), and that bundle, the one
 * the writer stored last, is the one its entries make. Older bundles are
 * not reread at open: that would read every entry of the log.
 */
static int check_bundles(ft_store *s, MDB_txn *txn, uint64_t size)
{
	uint64_t full = size / FT_TILE_WIDTH;
	entry_ref refs[FT_TILE_WIDTH];
	MDB_cursor *cur = NULL;
	const uint8_t *p;
	size_t total = 0, off = 0;
	MDB_val k, v;
	int mrc, rc;

	if ((mrc = mdb_cursor_open(txn, s->bundles, &cur)) != 0) {
		return store_err(s, "mdb_cursor_open", mrc);
	}
	mrc = mdb_cursor_get(cur, &k, &v, MDB_LAST);
	mdb_cursor_close(cur);
	if (mrc == MDB_NOTFOUND) {
		return full == 0 ? FT_OK : corrupt(s, "bundles missing");
	}
	if (mrc != 0) {
		return store_err(s, "mdb_cursor_get", mrc);
	}
	if (full == 0 || k.mv_size != 8 || get_be64(k.mv_data) != full - 1) {
		return corrupt(s, "bundles do not match the tree size");
	}
	/* A read-only txn: v stays valid across the walk below. */
	if ((rc = bundle_entries(s, txn, full - 1, refs, &total)) != 0) {
		return rc;
	}
	if (v.mv_size != total) {
		return corrupt(s, "the last bundle does not match its entries");
	}
	p = v.mv_data;
	for (unsigned i = 0; i < FT_TILE_WIDTH; i++) {
		if (p[off] != (uint8_t)(refs[i].len >> 8) ||
		    p[off + 1] != (uint8_t)refs[i].len ||
		    memcmp(p + off + 2, refs[i].p, refs[i].len) != 0) {
			return corrupt(s, "the last bundle does not match "
					  "its entries");
		}
		off += 2 + refs[i].len;
	}
	return FT_OK;
}

/*
 * The inner nodes of the last tile of tile level l, the one the writer
 * extends next, must be exactly those its stored hashes imply at size:
 * recompute them (at most 255 hashes) and demand zeros after them. Older
 * tiles are not rehashed at open (that would be the whole tree); proofs
 * built from them are checked by whoever verifies them against a root.
 */
static int check_edge_inner(ft_store *s, MDB_txn *txn, uint64_t size,
			    unsigned l)
{
	uint64_t count = size >> (FT_TILE_HEIGHT * l);
	uint64_t n = (count - 1) / FT_TILE_WIDTH;
	size_t w = (size_t)(count - n * FT_TILE_WIDTH), off = 0;
	ft_hash cur[FT_TILE_WIDTH];
	uint8_t key[STORE_TILE_KEY];
	const uint8_t *inner = NULL;
	MDB_val v;
	int rc;

	tile_key(key, l, n);
	rc = get(s, txn, s->tiles, key, sizeof key, &v);
	if (rc == FT_ENOTFOUND ||
	    (rc == 0 && v.mv_size != w * FT_HASH_LEN)) {
		return corrupt(s, "tiles do not match the stored tree size");
	}
	if (rc != 0) {
		return rc;
	}
	memcpy(cur, v.mv_data, v.mv_size);
	rc = get(s, txn, s->inner, key, sizeof key, &v);
	if (rc != 0 && rc != FT_ENOTFOUND) {
		return rc;
	}
	if (rc == 0) {
		if (v.mv_size != STORE_INNER_BYTES) {
			return corrupt(s,
				       "stored inner nodes have a bad length");
		}
		inner = v.mv_data;
	} else if (w >= 2) {
		return corrupt(s, "inner nodes missing for the stored tree");
	}
	for (unsigned k = 1; k < FT_TILE_HEIGHT; k++) {
		size_t slots = (size_t)FT_TILE_WIDTH >> k;

		w /= 2;
		for (size_t j = 0; j < slots && inner != NULL; j++) {
			const uint8_t *p = inner + (off + j) * FT_HASH_LEN;

			if (j < w) {
				ft_merkle_node_hash(&cur[2 * j],
						    &cur[2 * j + 1], &cur[j]);
			}
			if (j < w ? memcmp(p, cur[j].b, FT_HASH_LEN) != 0
				  : !hash_is_zero(p)) {
				return corrupt(s, "inner nodes do not "
						  "match the tiles");
			}
		}
		off += slots;
	}
	return FT_OK;
}

/* Rebuild the in-memory tree from the stored nodes, check it against the
 * state, and check the inner nodes at the right edge against the tiles. */
static int load_tree(ft_store *s, MDB_txn *txn)
{
	ft_store_reader r;
	ft_tile_reader *tr;
	ft_hash_reader hr;
	uint64_t size;
	ft_hash want, got;
	int rc;

	if ((rc = read_state(s, txn, &size, &want)) != 0) {
		return rc;
	}
	if ((rc = check_entries(s, txn, size)) != 0 ||
	    (rc = check_bundles(s, txn, size)) != 0) {
		return rc;
	}
	if ((tr = malloc(sizeof *tr)) == NULL) {
		return FT_ENOMEM;
	}
	r.s = s;
	r.txn = txn;
	r.active = 1;
	ft_store_hash_reader(&r, size, tr, &hr);
	rc = ft_tree_load(&s->tree, size, &hr);
	free(tr);
	if (rc == FT_EREAD) {
		return corrupt(s, "nodes missing for the stored tree size");
	}
	if (rc != 0) {
		return rc;
	}
	ft_tree_root(&s->tree, &got);
	if (!ft_hash_equal(&got, &want)) {
		return corrupt(s, "stored nodes do not match the stored root");
	}
	for (unsigned l = 0; l < STORE_TILE_LEVELS &&
			     (size >> (FT_TILE_HEIGHT * l)) != 0;
	     l++) {
		if ((rc = check_edge_inner(s, txn, size, l)) != 0) {
			return rc;
		}
	}
	s->head_size = size;
	s->head_root = want;
	return FT_OK;
}

/* Why this thread's last ft_store_open failed (NULL: it did not), for
 * ft_store_last_error(NULL): the store it would be read from is gone. */
static _Thread_local const char *open_err_what;
static _Thread_local int open_err_rc;

int ft_store_open(const char *dir, uint64_t map_size, ft_store **out)
{
	char path[4096];
	struct stat st;
	ft_store *s = NULL;
	MDB_txn *txn = NULL;
	int rc, mrc, mutex_ok = 0;

	open_err_what = NULL;
	open_err_rc = 0;
	if (dir == NULL || out == NULL) {
		return FT_EINVAL;
	}
	if ((rc = data_path(dir, path, sizeof path)) != 0) {
		return rc;
	}
	/* Opening must never create: LMDB would make an empty env. */
	if (stat(path, &st) != 0) {
		open_err_what = "no store in that directory";
		return errno == ENOENT ? FT_ENOTFOUND : FT_EIO;
	}
	if ((s = calloc(1, sizeof *s)) == NULL) {
		return FT_ENOMEM;
	}
	atomic_init(&s->err_what, "no error");
	atomic_init(&s->err_rc, 0);
	if (pthread_mutex_init(&s->head_mu, NULL) != 0) {
		rc = FT_ENOMEM;
		goto fail;
	}
	mutex_ok = 1;
	if ((rc = env_open(dir, map_size, &s->env)) != 0) {
		goto fail;
	}
	if ((mrc = mdb_txn_begin(s->env, NULL, MDB_RDONLY, &txn)) != 0) {
		rc = store_err(s, "mdb_txn_begin", mrc);
		goto fail;
	}
	if ((rc = load_meta(s, txn)) != 0 || (rc = open_dbs(s, txn)) != 0 ||
	    (rc = load_tree(s, txn)) != 0) {
		goto fail;
	}
	/* Committing (not aborting) keeps the dbi handles for later txns. */
	mrc = mdb_txn_commit(txn);
	txn = NULL;
	if (mrc != 0) {
		rc = store_err(s, "mdb_txn_commit(open)", mrc);
		goto fail;
	}
	*out = s;
	return FT_OK;
fail:
	open_err_what = atomic_load(&s->err_what);
	open_err_rc = atomic_load(&s->err_rc);
	if (txn != NULL) {
		mdb_txn_abort(txn);
	}
	if (s->env != NULL) {
		mdb_env_close(s->env);
	}
	if (mutex_ok) {
		pthread_mutex_destroy(&s->head_mu);
	}
	free(s->origin);
	free(s);
	return rc;
}

void ft_store_close(ft_store *s)
{
	if (s == NULL) {
		return;
	}
	mdb_env_close(s->env);
	pthread_mutex_destroy(&s->head_mu);
	free(s->origin);
	free(s->batch_leaves);
	free(s->bundle_buf);
	free(s);
}

const char *ft_store_origin(const ft_store *s, size_t *len)
{
	if (len != NULL) {
		*len = s->origin_len;
	}
	return s->origin;
}

void ft_store_head(ft_store *s, uint64_t *size, ft_hash *root)
{
	uint64_t sz;
	ft_hash rt;

	/* Cannot fail with a default mutex used correctly; if it did, a
	 * torn read is worse than a crash. */
	if (pthread_mutex_lock(&s->head_mu) != 0) {
		abort();
	}
	sz = s->head_size;
	rt = s->head_root;
	(void)pthread_mutex_unlock(&s->head_mu);
	if (size != NULL) {
		*size = sz;
	}
	if (root != NULL) {
		*root = rt;
	}
}

static void set_head(ft_store *s, uint64_t size, const ft_hash *root)
{
	if (pthread_mutex_lock(&s->head_mu) != 0) {
		abort();
	}
	s->head_size = size;
	s->head_root = *root;
	(void)pthread_mutex_unlock(&s->head_mu);
}

const char *ft_store_last_error(const ft_store *s)
{
	static _Thread_local char buf[160];
	const char *what;
	int mrc;

	if (s == NULL) {
		if (open_err_what == NULL) {
			return "no store";
		}
		what = open_err_what;
		mrc = open_err_rc;
	} else {
		what = atomic_load(&s->err_what);
		mrc = atomic_load(&s->err_rc);
	}
	if (mrc == 0) {
		return what;
	}
	/* Truncation is fine: this is for a log line. */
	(void)snprintf(buf, sizeof buf, "%s: %s", what, mdb_strerror(mrc));
	return buf;
}

/* ---- Writing. */

typedef struct batch_ctx {
	ft_store *s;
	MDB_txn *txn;
} batch_ctx;

static int tile_flush(batch_ctx *b, unsigned level)
{
	tile_buf *t = &b->s->tbuf[level];
	uint8_t key[STORE_TILE_KEY];
	MDB_val k, v;
	int mrc;

	if (!t->active) {
		return FT_OK;
	}
	t->active = 0;
	tile_key(key, level, t->index);
	k = mval(key, sizeof key);
	v = mval(t->data, (size_t)t->width * FT_HASH_LEN);
	if ((mrc = mdb_put(b->txn, b->s->tiles, &k, &v, 0)) != 0) {
		return store_err(b->s, "mdb_put(tiles)", mrc);
	}
	return FT_OK;
}

/* Start extending tile (level, index) whose next slot is `slot`: load what
 * an earlier batch stored of it, which must be exactly slot hashes. */
static int tile_start(batch_ctx *b, unsigned level, uint64_t index,
		      unsigned slot)
{
	tile_buf *t = &b->s->tbuf[level];
	uint8_t key[STORE_TILE_KEY];
	MDB_val v;
	int rc;

	tile_key(key, level, index);
	rc = get(b->s, b->txn, b->s->tiles, key, sizeof key, &v);
	if (rc == FT_ENOTFOUND) {
		v.mv_size = 0;
	} else if (rc != 0) {
		return rc;
	}
	if (v.mv_size != (size_t)slot * FT_HASH_LEN) {
		return corrupt(b->s, "stored tile does not match the tree");
	}
	if (v.mv_size > 0) {
		memcpy(t->data, v.mv_data, v.mv_size);
	}
	t->active = 1;
	t->index = index;
	t->width = slot;
	return FT_OK;
}

static int inner_flush(batch_ctx *b, unsigned level)
{
	inner_buf *t = &b->s->ibuf[level];
	uint8_t key[STORE_TILE_KEY];
	MDB_val k, v;
	int mrc;

	if (!t->active) {
		return FT_OK;
	}
	t->active = 0;
	tile_key(key, level, t->index);
	k = mval(key, sizeof key);
	v = mval(t->data, sizeof t->data);
	if ((mrc = mdb_put(b->txn, b->s->inner, &k, &v, 0)) != 0) {
		return store_err(b->s, "mdb_put(inner)", mrc);
	}
	return FT_OK;
}

/* Start filling the inner nodes of tile (level, index): from what an
 * earlier batch stored, or from zeros (no node of it complete yet). */
static int inner_start(batch_ctx *b, unsigned level, uint64_t index)
{
	inner_buf *t = &b->s->ibuf[level];
	uint8_t key[STORE_TILE_KEY];
	MDB_val v;
	int rc;

	tile_key(key, level, index);
	rc = get(b->s, b->txn, b->s->inner, key, sizeof key, &v);
	if (rc == FT_ENOTFOUND) {
		memset(t->data, 0, sizeof t->data);
	} else if (rc != 0) {
		return rc;
	} else if (v.mv_size != sizeof t->data) {
		return corrupt(b->s, "stored inner nodes have a bad length");
	} else {
		memcpy(t->data, v.mv_data, sizeof t->data);
	}
	t->active = 1;
	t->index = index;
	return FT_OK;
}

/* A node on tree level 8*tl + k, k = 1..7: into its inner slot. The last
 * node of a tile to complete is its top pair's right one (k = 7, slot 1),
 * since every other inner node of the tile lies below it. */
static int on_inner(batch_ctx *b, unsigned tl, unsigned k, uint64_t index,
		    const ft_hash *hash)
{
	inner_buf *t = &b->s->ibuf[tl];
	uint64_t ti;
	size_t slot = inner_slot(k, index, &ti);
	uint8_t *p;
	int rc;

	if (t->active && t->index != ti) {
		if ((rc = inner_flush(b, tl)) != 0) {
			return rc;
		}
	}
	if (!t->active && (rc = inner_start(b, tl, ti)) != 0) {
		return rc;
	}
	p = t->data + slot * FT_HASH_LEN;
	/* Each node completes once: a filled slot means the stored inner
	 * nodes run ahead of the tree. */
	if (!hash_is_zero(p)) {
		return corrupt(b->s,
			       "stored inner nodes do not match the tree");
	}
	memcpy(p, hash->b, FT_HASH_LEN);
	if (slot == STORE_INNER_HASHES - 1) {
		return inner_flush(b, tl);
	}
	return FT_OK;
}

/* ft_tree_node_fn: tile hashes (levels 8L) into their tile, every other
 * node into the inner nodes of the tile below it. */
static int on_node(void *ctx, unsigned level, uint64_t index,
		   const ft_hash *hash)
{
	batch_ctx *b = ctx;
	unsigned tl = level / FT_TILE_HEIGHT;
	uint64_t ti = index / FT_TILE_WIDTH;
	unsigned slot = (unsigned)(index % FT_TILE_WIDTH);
	tile_buf *t;
	int rc;

	if (tl >= STORE_TILE_LEVELS) {
		return FT_ETREE_FULL; /* cannot happen below 2^63 leaves */
	}
	if (level % FT_TILE_HEIGHT != 0) {
		return on_inner(b, tl, level % FT_TILE_HEIGHT, index, hash);
	}
	t = &b->s->tbuf[tl];
	if (t->active && t->index != ti) {
		if ((rc = tile_flush(b, tl)) != 0) {
			return rc;
		}
	}
	if (!t->active && (rc = tile_start(b, tl, ti, slot)) != 0) {
		return rc;
	}
	/* The tree reports each level's nodes in index order. */
	if (slot != t->width) {
		return corrupt(b->s, "tile nodes out of order");
	}
	memcpy(t->data + (size_t)slot * FT_HASH_LEN, hash->b, FT_HASH_LEN);
	t->width++;
	if (t->width == FT_TILE_WIDTH) {
		return tile_flush(b, tl);
	}
	return FT_OK;
}

static int reserve_leaves(ft_store *s, size_t n)
{
	ft_hash *p;

	if (n <= s->batch_cap) {
		return FT_OK;
	}
	if (n > SIZE_MAX / sizeof *p) {
		return FT_ENOMEM;
	}
	if ((p = realloc(s->batch_leaves, n * sizeof *p)) == NULL) {
		return FT_ENOMEM;
	}
	s->batch_leaves = p;
	s->batch_cap = n;
	return FT_OK;
}

/* Call the signer for (size, root) and put the checkpoint in txn. */
static int sign_and_put(ft_store *s, MDB_txn *txn, uint64_t size,
			const ft_hash *root, ft_store_sign_fn sign,
			void *sign_ctx)
{
	uint8_t state[STORE_STATE_LEN];
	size_t len = 0;
	MDB_val k, v;
	int rc, mrc;

	rc = sign(sign_ctx, size, root, s->ckpt, sizeof s->ckpt, &len);
	if (rc != 0) {
		set_error(s, "signer failed", 0);
		return rc < 0 ? rc : FT_EINVAL;
	}
	if (len == 0 || len > sizeof s->ckpt) {
		set_error(s, "signer returned a bad length", 0);
		return FT_EBUFSIZE;
	}
	put_be64(state, size);
	memcpy(state + 8, root->b, FT_HASH_LEN);
	k = mval("state", 5);
	v = mval(state, sizeof state);
	if ((mrc = mdb_put(txn, s->meta, &k, &v, 0)) != 0) {
		return store_err(s, "mdb_put(state)", mrc);
	}
	k = mval("checkpoint", 10);
	v = mval(s->ckpt, len);
	if ((mrc = mdb_put(txn, s->meta, &k, &v, 0)) != 0) {
		return store_err(s, "mdb_put(checkpoint)", mrc);
	}
	return FT_OK;
}

/*
 * Whether a new item may go in: 0 if none of its signers and subjects is
 * revoked in txn (which holds the rows of the items appended before it in
 * this batch; its own rows are written only after this check, so a
 * revocation never revokes itself), 1 if one is (the item's rejected
 * fields are set), or an error. Signers are looked at first.
 */
static int check_revoked(ft_store *s, MDB_txn *txn, ft_store_item *it)
{
	const ft_store_meta *m = it->meta;
	uint64_t by = 0;
	int rc;

	for (size_t j = 0; j < m->n_signers; j++) {
		rc = revoked_get(s, txn, FT_REVOKE_KEY, m->signers[j], &by);
		if (rc == 0) {
			it->rejected = FT_EREVOKED;
			it->rejected_target = FT_REVOKE_KEY;
			it->rejected_by = by;
			return 1;
		}
		if (rc != FT_ENOTFOUND) {
			return rc;
		}
	}
	for (size_t j = 0; j < m->n_subjects; j++) {
		rc = revoked_get(s, txn, FT_REVOKE_IMAGE, m->subjects[j], &by);
		if (rc == 0) {
			it->rejected = FT_EREVOKED;
			it->rejected_target = FT_REVOKE_IMAGE;
			it->rejected_by = by;
			return 1;
		}
		if (rc != FT_ENOTFOUND) {
			return rc;
		}
	}
	return 0;
}

/* A "revoked" row for (target, id) -> index, unless one is there: the
 * first revocation wins. */
static int revoked_put(ft_store *s, MDB_txn *txn, int target,
		       const uint8_t id[32], uint64_t index)
{
	uint8_t key[STORE_REVOKED_KEY], val[8];
	MDB_val k, v;
	int rc, mrc;

	if ((rc = revoked_key(target, id, key)) != 0) {
		return rc;
	}
	put_be64(val, index);
	k = mval(key, sizeof key);
	v = mval(val, sizeof val);
	mrc = mdb_put(txn, s->revoked, &k, &v, MDB_NOOVERWRITE);
	if (mrc != 0 && mrc != MDB_KEYEXIST) {
		return store_err(s, "mdb_put(revoked)", mrc);
	}
	return FT_OK;
}

/* The index rows of an item appended at `index`: one "subjects" row per
 * subject, u8(kind) || record written in place (MDB_RESERVE), and the
 * "revoked" rows of a revocation. */
static int index_put(ft_store *s, MDB_txn *txn, const ft_store_meta *m,
		     uint64_t index)
{
	uint8_t key[STORE_SUBJ_KEY];
	MDB_val k, v;
	int rc, mrc;

	put_be64(key + 32, index);
	for (size_t j = 0; j < m->n_subjects; j++) {
		memcpy(key, m->subjects[j], 32);
		k = mval(key, sizeof key);
		v.mv_data = NULL;
		v.mv_size = 1 + m->record_len;
		if ((mrc = mdb_put(txn, s->subjects, &k, &v, MDB_RESERVE)) !=
		    0) {
			return store_err(s, "mdb_put(subjects)", mrc);
		}
		((uint8_t *)v.mv_data)[0] = (uint8_t)m->kind;
		if (m->record_len > 0) {
			memcpy((uint8_t *)v.mv_data + 1, m->record,
			       m->record_len);
		}
	}
	switch (m->revoke) {
	case FT_REVOKE_IMAGE:
		for (size_t j = 0; j < m->n_subjects; j++) {
			if ((rc = revoked_put(s, txn, FT_REVOKE_IMAGE,
					      m->subjects[j], index)) != 0) {
				return rc;
			}
		}
		return FT_OK;
	case FT_REVOKE_KEY:
		return revoked_put(s, txn, FT_REVOKE_KEY, m->revoked_key,
				   index);
	default:
		return FT_OK;
	}
}

/*
 * Dedupe, check and stage the items, in batch order: one MDB_NOOVERWRITE
 * put into "leaves" both looks the leaf up and claims it, so a repeat
 * later in the same batch finds the index its first copy was given. A new
 * item with meta that turns out revoked gives its claim back (so a repeat
 * of it is checked, and refused, again) and takes no index. New entries
 * go to the end of "entries" (keys are increasing be64, hence MDB_APPEND),
 * with their index rows.
 */
static int stage_items(ft_store *s, MDB_txn *txn, ft_store_item *items,
		       size_t n, size_t *nnew)
{
	MDB_cursor *cur = NULL;
	uint64_t next = s->tree.size;
	size_t k = 0;
	int rc = FT_OK, mrc;

	if ((mrc = mdb_cursor_open(txn, s->entries, &cur)) != 0) {
		return store_err(s, "mdb_cursor_open", mrc);
	}
	for (size_t i = 0; i < n; i++) {
		uint8_t ib[8];
		MDB_val lk = mval(items[i].leaf.b, FT_HASH_LEN);
		MDB_val lv = mval(ib, sizeof ib);

		put_be64(ib, next);
		mrc = mdb_put(txn, s->leaves, &lk, &lv, MDB_NOOVERWRITE);
		if (mrc == MDB_KEYEXIST) {
			/* lv now holds the stored index. */
			if (lv.mv_size != 8) {
				rc = corrupt(s, "leaf index has a bad length");
				goto done;
			}
			items[i].index = get_be64(lv.mv_data);
			items[i].dup = 1;
			continue;
		}
		if (mrc != 0) {
			rc = store_err(s, "mdb_put(leaves)", mrc);
			goto done;
		}
		if (items[i].meta != NULL) {
			rc = check_revoked(s, txn, &items[i]);
			if (rc == 0) {
				rc = claim_statement(s, txn, &items[i], next);
			}
			if (rc == 1) {
				lk = mval(items[i].leaf.b, FT_HASH_LEN);
				mrc = mdb_del(txn, s->leaves, &lk, NULL);
				rc = FT_OK;
				if (mrc != 0) {
					rc = store_err(s, "mdb_del(leaves)",
						       mrc);
					goto done;
				}
				continue;
			}
			if (rc != 0) {
				goto done;
			}
		}
		if (next >= FT_TREE_MAX_SIZE) {
			rc = FT_ETREE_FULL;
			goto done;
		}
		MDB_val ek = mval(ib, sizeof ib);
		MDB_val ev = mval(items[i].data, items[i].len);
		mrc = mdb_cursor_put(cur, &ek, &ev, MDB_APPEND);
		if (mrc == MDB_KEYEXIST) {
			rc = corrupt(s, "entries extend past the tree size");
			goto done;
		}
		if (mrc != 0) {
			rc = store_err(s, "mdb_put(entries)", mrc);
			goto done;
		}
		if (items[i].meta != NULL &&
		    (rc = index_put(s, txn, items[i].meta, next)) != 0) {
			goto done;
		}
		items[i].index = next;
		items[i].dup = 0;
		s->batch_leaves[k++] = items[i].leaf;
		next++;
	}
	*nnew = k;
done:
	mdb_cursor_close(cur);
	return rc;
}

/*
 * Store full bundle n, assembled from "entries" as this transaction sees
 * them: its first entries may come from earlier batches. The entries are
 * copied into the writer's buffer before the put, since LMDB values read in
 * a write transaction die at its next update. Bundle keys only grow, hence
 * MDB_APPEND; a key already there means "bundles" runs ahead of the tree.
 */
static int bundle_put(ft_store *s, MDB_txn *txn, uint64_t n)
{
	entry_ref refs[FT_TILE_WIDTH];
	size_t total = 0, off = 0;
	uint8_t key[8];
	MDB_val k, v;
	int rc, mrc;

	if ((rc = bundle_entries(s, txn, n, refs, &total)) != 0) {
		return rc;
	}
	if (total > s->bundle_cap) {
		uint8_t *p = realloc(s->bundle_buf, total);

		if (p == NULL) {
			set_error(s, "out of memory for a bundle", 0);
			return FT_ENOMEM;
		}
		s->bundle_buf = p;
		s->bundle_cap = total;
	}
	for (unsigned i = 0; i < FT_TILE_WIDTH; i++) {
		/* Cannot fail: lengths were checked and total sized. */
		if ((rc = ft_bundle_append(s->bundle_buf, total, &off,
					   refs[i].p, refs[i].len)) != 0) {
			return rc;
		}
	}
	put_be64(key, n);
	k = mval(key, sizeof key);
	v = mval(s->bundle_buf, off);
	mrc = mdb_put(txn, s->bundles, &k, &v, MDB_APPEND);
	if (mrc == MDB_KEYEXIST) {
		return corrupt(s, "bundles extend past the tree size");
	}
	if (mrc != 0) {
		return store_err(s, "mdb_put(bundles)", mrc);
	}
	return FT_OK;
}

/* The bounds and codes a meta block can have (store.h, event.h); a
 * revocation target only on a revocation, and every revocation has one.
 * The record comes from an entry, so it is no longer than one. */
static int meta_valid(const ft_store_meta *m)
{
	if (!kind_valid(m->kind) || m->n_subjects == 0 ||
	    m->n_subjects > FT_EVENT_MAX_SUBJECTS ||
	    m->n_signers > FT_EVENT_MAX_SIGS || m->record_len > FT_ENTRY_MAX) {
		return 0;
	}
	switch (m->revoke) {
	case FT_REVOKE_NONE:
		return m->kind != FT_EVENT_REVOCATION;
	case FT_REVOKE_IMAGE:
	case FT_REVOKE_KEY:
		return m->kind == FT_EVENT_REVOCATION;
	default:
		return 0;
	}
}

static void clear_out(ft_store_item *it)
{
	it->index = 0;
	it->dup = 0;
	it->rejected = 0;
	it->rejected_target = 0;
	it->rejected_by = 0;
}

int ft_store_append(ft_store *s, ft_store_item *items, size_t n,
		    ft_store_sign_fn sign, void *sign_ctx, uint64_t *new_size)
{
	ft_tree saved;
	MDB_txn *txn = NULL;
	batch_ctx b;
	ft_hash root;
	size_t nnew = 0;
	int rc, mrc;

	if (s == NULL || sign == NULL || new_size == NULL ||
	    (n > 0 && items == NULL)) {
		return FT_EINVAL;
	}
	for (size_t i = 0; i < n; i++) {
		if (items[i].data == NULL || items[i].len == 0) {
			return FT_EINVAL;
		}
		if (items[i].len > FT_ENTRY_MAX) {
			return FT_ETOOBIG;
		}
		if (items[i].meta != NULL && !meta_valid(items[i].meta)) {
			return FT_EINVAL;
		}
	}
	if ((rc = reserve_leaves(s, n)) != 0) {
		return rc;
	}
	for (size_t i = 0; i < n; i++) {
		ft_merkle_leaf_hash(items[i].data, items[i].len, &items[i].leaf);
		clear_out(&items[i]);
	}
	saved = s->tree;
	if (n == 0) {
		*new_size = s->tree.size;
		return FT_OK;
	}
	if ((mrc = mdb_txn_begin(s->env, NULL, 0, &txn)) != 0) {
		rc = store_err(s, "mdb_txn_begin(write)", mrc);
		goto fail;
	}
	if ((rc = stage_items(s, txn, items, n, &nnew)) != 0) {
		goto fail;
	}
	if (nnew == 0) {
		/* All duplicates or refused: nothing to write, nothing to
		 * sign. */
		mdb_txn_abort(txn);
		*new_size = s->tree.size;
		return FT_OK;
	}
	b.s = s;
	b.txn = txn;
	for (unsigned l = 0; l < STORE_TILE_LEVELS; l++) {
		s->tbuf[l].active = 0;
		s->ibuf[l].active = 0;
	}
	if ((rc = ft_tree_append_batch(&s->tree, s->batch_leaves, nnew,
				       on_node, &b)) != 0) {
		goto fail;
	}
	for (unsigned l = 0; l < STORE_TILE_LEVELS; l++) {
		if ((rc = tile_flush(&b, l)) != 0 ||
		    (rc = inner_flush(&b, l)) != 0) {
			goto fail;
		}
	}
	/* Every bundle this batch completes: 256(n + 1) in (old, new]. */
	for (uint64_t bn = saved.size / FT_TILE_WIDTH;
	     (bn + 1) * FT_TILE_WIDTH <= s->tree.size; bn++) {
		if ((rc = bundle_put(s, txn, bn)) != 0) {
			goto fail;
		}
	}
	ft_tree_root(&s->tree, &root);
	if ((rc = sign_and_put(s, txn, s->tree.size, &root, sign, sign_ctx)) !=
	    0) {
		goto fail;
	}
	mrc = mdb_txn_commit(txn);
	txn = NULL;
	if (mrc != 0) {
		rc = store_err(s, "mdb_txn_commit", mrc);
		goto fail;
	}
	set_head(s, s->tree.size, &root);
	*new_size = s->tree.size;
	return FT_OK;
fail:
	if (txn != NULL) {
		mdb_txn_abort(txn);
	}
	for (unsigned l = 0; l < STORE_TILE_LEVELS; l++) {
		s->tbuf[l].active = 0;
		s->ibuf[l].active = 0;
	}
	s->tree = saved;
	for (size_t i = 0; i < n; i++) {
		clear_out(&items[i]);
	}
	return rc;
}

int ft_store_resign(ft_store *s, ft_store_sign_fn sign, void *sign_ctx)
{
	MDB_txn *txn = NULL;
	uint64_t size;
	ft_hash root;
	int rc, mrc;

	if (s == NULL || sign == NULL) {
		return FT_EINVAL;
	}
	if ((mrc = mdb_txn_begin(s->env, NULL, 0, &txn)) != 0) {
		return store_err(s, "mdb_txn_begin(write)", mrc);
	}
	if ((rc = read_state(s, txn, &size, &root)) != 0) {
		goto fail;
	}
	if ((rc = sign_and_put(s, txn, size, &root, sign, sign_ctx)) != 0) {
		goto fail;
	}
	mrc = mdb_txn_commit(txn);
	txn = NULL;
	if (mrc != 0) {
		rc = store_err(s, "mdb_txn_commit", mrc);
		goto fail;
	}
	return FT_OK;
fail:
	if (txn != NULL) {
		mdb_txn_abort(txn);
	}
	return rc;
}
