/*
 * logd/store.h - ftlogd's storage: one LMDB environment (internal, not
 * installed).
 *
 * Named databases:
 *   "entries"  be64(index)                 -> entry bytes as submitted
 *   "leaves"   leaf hash (32 bytes)        -> be64(index)   (idempotency)
 *   "tiles"    u8(level) || be64(index)    -> the hashes known so far of hash
 *                                             tile (level, index): width*32
 *                                             bytes, width 1..256. A hash
 *                                             never changes once stored, so
 *                                             any prefix of a stored tile is
 *                                             the partial tile of that width.
 *   "inner"    u8(level) || be64(index)    -> the inner nodes of hash tile
 *                                             (level L, index N): the nodes
 *                                             of tree levels 8L+1 .. 8L+7
 *                                             over its hashes, 254*32 bytes
 *                                             (layout below). Written once
 *                                             the tile has two hashes.
 *   "bundles"  be64(N)                     -> FULL entry bundle N exactly as
 *                                             C2SP serves it: for entries
 *                                             256N .. 256N+255 in order,
 *                                             uint16_be(len) || entry.
 *                                             Written in the transaction
 *                                             that appends entry 256N+255
 *                                             (assembled from "entries",
 *                                             earlier ones possibly from
 *                                             older batches), never
 *                                             changed. Partial bundles are
 *                                             not stored: they are made
 *                                             from "entries" per request.
 *   "subjects" sha256(32) || be64(index)   -> u8(kind) || lineage record:
 *                                             one row per subject digest
 *                                             of each event (and, for a
 *                                             key revocation, the key's
 *                                             digest), so the events about
 *                                             an image are one range scan
 *                                             in log order. The record is
 *                                             the JSON object text of
 *                                             ft_store_meta.record.
 *   "statements" SHA-256 of the DSSE PAE     -> be64(index): one envelope per
 *                                             signed statement, whatever
 *                                             its bytes (see
 *                                             ft_store_meta.statement)
 *   "revoked"  'i' || sha256(32)            -> be64(index of the revocation)
 *              'k' || Ed25519 pk(32)        -> be64(index of the revocation)
 *                                             (the first revocation wins)
 *   "meta"     "state"      -> be64(size) || root(32)
 *              "checkpoint" -> the latest signed checkpoint (signed note)
 *              "origin"     -> the log's origin line (set at creation)
 *              "version"    -> be32(2), the schema version (1 was
 *                                 before firmware events; refused)
 *
 * "inner" value layout: sub-level k = 1..7 (tree level 8L + k) has 256 >> k
 * slots (128, 64, 32, 16, 8, 4, 2), stored one sub-level after another,
 * so sub-level k starts at hash 256 - (512 >> k) (0, 128, 192, 224, 240,
 * 248, 252). Node (8L + k, i) lies in tile N = i >> (8 - k), at slot
 * i - N * (256 >> k). A slot whose node is not complete yet is 32 zero
 * bytes (SHA-256 never yields that), filled in by later batches. With the
 * tiles, every complete node of the tree is stored, so proofs are read
 * without hashing.
 *
 * Everything a batch changes (entries, leaves, tiles, inner, bundles,
 * subjects, revoked, statements, state, checkpoint) is written in ONE
 * write transaction, committed with LMDB's
 * default durable sync: after ft_store_append returns 0 the batch survives
 * a crash or kill -9 at any later moment, and before that it is as if it
 * never happened. The tree size and the checkpoint therefore never disagree.
 *
 * Threads: one writer thread calls ft_store_append; any thread may read
 * through its own ft_store_reader (the environment is opened MDB_NOTLS).
 */
#ifndef FTLOG_LOGD_STORE_H
#define FTLOG_LOGD_STORE_H

#include <stddef.h>
#include <stdint.h>

#include <ftlog/common.h>
#include <ftlog/event.h>
#include <ftlog/merkle.h>
#include <ftlog/tile.h>

typedef struct ft_store ft_store;

/* Default LMDB map size: 64 GiB of address space (not disk). */
#define FT_STORE_DEFAULT_MAP ((uint64_t)64 << 30)

/*
 * Create a new store in directory `dir` (which must exist and hold no
 * store yet: FT_EEXIST otherwise) for the log named `origin`.
 */
FT_WUR int ft_store_create(const char *dir, const char *origin,
			   size_t origin_len, uint64_t map_size);

/*
 * Open an existing store. Checks the schema version and that the stored
 * state agrees with the stored nodes (the tree is reloaded from them
 * through ft_store_hash_reader and its root compared with the stored one)
 * and that the inner nodes of the last tile of each level match that
 * tile's hashes, and that "bundles" ends at the last full bundle, which
 * must equal its entries: FT_ESTORE_CORRUPT otherwise. *out is freed with
 * ft_store_close.
 */
FT_WUR int ft_store_open(const char *dir, uint64_t map_size, ft_store **out);

/* Close the environment. No reader or write may be in progress. */
void ft_store_close(ft_store *s);

/* The origin stored at creation; valid while s is open. */
const char *ft_store_origin(const ft_store *s, size_t *len);

/*
 * The current tree size and root as last committed (cheap; safe from any
 * thread: the values are updated atomically after each commit).
 */
void ft_store_head(ft_store *s, uint64_t *size, ft_hash *root);

/* ---- Reading. */

/*
 * A reader: one LMDB read transaction, reused with reset/renew. Owned by
 * one thread. Between ft_store_read_begin and ft_store_read_end it sees
 * one consistent snapshot; every pointer it returns points into the LMDB
 * map and is valid only until ft_store_read_end.
 */
typedef struct ft_store_reader {
	ft_store *s;
	void *txn; /* MDB_txn * */
	int active;
} ft_store_reader;

FT_WUR int ft_store_reader_init(ft_store *s, ft_store_reader *r);
void ft_store_reader_free(ft_store_reader *r);
FT_WUR int ft_store_read_begin(ft_store_reader *r);
void ft_store_read_end(ft_store_reader *r);

/* Snapshot state: tree size, root and the signed checkpoint bytes
 * (checkpoint NULL/0 for a store that has never signed one). */
typedef struct ft_store_state {
	uint64_t size;
	ft_hash root;
	const uint8_t *checkpoint;
	size_t checkpoint_len;
} ft_store_state;

FT_WUR int ft_store_get_state(ft_store_reader *r, ft_store_state *out);

/* Entry at index: FT_ENOTFOUND if index >= size. */
FT_WUR int ft_store_get_entry(ft_store_reader *r, uint64_t index,
			      const uint8_t **data, size_t *len);

/*
 * The stored hashes of hash tile (level, index), level >= 0: *len is
 * width*32 of what is stored so far (FT_ENOTFOUND if none). Callers serve
 * a prefix of it for a partial tile.
 */
FT_WUR int ft_store_get_tile(ft_store_reader *r, unsigned level,
			     uint64_t index, const uint8_t **data, size_t *len);

/*
 * Full entry bundle `index` (entries 256*index .. 256*index+255), served
 * as is: FT_ENOTFOUND if the snapshot does not have all 256 of its entries
 * yet (a partial bundle is built from ft_store_get_entry).
 * FT_ESTORE_CORRUPT for a stored value of impossible length. *data points
 * into the map, valid until ft_store_read_end.
 */
FT_WUR int ft_store_get_bundle(ft_store_reader *r, uint64_t index,
			       const uint8_t **data, size_t *len);

/*
 * The events about a digest, in log order, starting after index `after`
 * (UINT64_MAX: from the first). For each one cb(ctx, index, kind, record,
 * record_len) is called (record into the map, valid until read_end); a
 * non-zero return from cb stops the scan and is returned. Returns 0 after
 * the last event, or a negative code.
 */
typedef int (*ft_store_lineage_fn)(void *ctx, uint64_t index, int kind,
				   const uint8_t *record, size_t record_len);
FT_WUR int ft_store_lineage(ft_store_reader *r, const uint8_t digest[32],
			    uint64_t after, ft_store_lineage_fn cb, void *ctx);

/* Index of the newest event of `kind` about digest; FT_ENOTFOUND if none. */
FT_WUR int ft_store_latest(ft_store_reader *r, const uint8_t digest[32],
			   int kind, uint64_t *index);

/* Revocation lookups: 0 and the index of the revoking entry, or
 * FT_ENOTFOUND. target is FT_REVOKE_IMAGE (id = sha256 of the image) or
 * FT_REVOKE_KEY (id = the Ed25519 public key). */
FT_WUR int ft_store_revoked(ft_store_reader *r, int target,
			    const uint8_t id[32], uint64_t *index);

/* Index of the logged envelope whose statement hash (SHA-256 of its PAE)
 * is `hash`; FT_ENOTFOUND if none. */
FT_WUR int ft_store_find_statement(ft_store_reader *r, const uint8_t hash[32],
				   uint64_t *index);

/* Index of the entry whose leaf hash is `leaf`; FT_ENOTFOUND if none. */
FT_WUR int ft_store_find_leaf(ft_store_reader *r, const ft_hash *leaf,
			      uint64_t *index);

/*
 * A hash reader over the snapshot for a tree of `size` (<= the snapshot's
 * size): each node is one stored hash ("tiles" for levels 8L, "inner" for
 * the others), no hashing and no allocation. Use with ft_proof_inclusion /
 * ft_proof_consistency / ft_tree_hash_at while the read transaction is
 * active. Its read returns FT_EREAD for a node not complete at `size` or
 * not in the snapshot (size past it), FT_ESTORE_CORRUPT for a malformed
 * stored value, FT_EINVAL if r is not between read_begin and read_end.
 *
 * tr is caller memory holding the reader's state (r and size, in its
 * ctx and size fields; O(1) to set up) and must live as long as *out; r
 * too. It is no longer a usable ft_tile_reader afterwards (its fetch is
 * NULL). Any ft_tile_reader works, e.g. one per serving thread, reused.
 */
void ft_store_hash_reader(ft_store_reader *r, uint64_t size,
			  ft_tile_reader *tr, ft_hash_reader *out);

/* ---- Writing (the sequencer thread only). */

/*
 * What the policy check learned about an event, for the indexes written
 * with it: one malloc'd block (record is a flexible array), freed with
 * free(). Made by ft_policy_check; tests may build their own.
 */
typedef struct ft_store_meta {
	int kind;                 /* enum ft_event_kind */
	int revoke;               /* enum ft_revoke_target */
	uint8_t revoked_key[32];  /* FT_REVOKE_KEY: the revoked public key */
	uint8_t statement[32];    /* SHA-256 of PAE(payloadType, payload):
				   * what the signatures cover. All zeros:
				   * none (no "statements" check) */
	size_t n_subjects;        /* 1..FT_EVENT_MAX_SUBJECTS */
	uint8_t subjects[FT_EVENT_MAX_SUBJECTS][32];
	size_t n_signers;         /* verified signer public keys */
	uint8_t signers[FT_EVENT_MAX_SIGS][32];
	size_t record_len;        /* the lineage record: a JSON object text */
	char record[];            /* "{...}", not NUL-terminated */
} ft_store_meta;

/* One submitted entry; data and meta stay owned by the caller. */
typedef struct ft_store_item {
	const uint8_t *data; /* in: 1..FT_ENTRY_MAX bytes */
	size_t len;
	const ft_store_meta *meta; /* in: may be NULL (no indexes, no
				    * revocation checks: unit tests) */
	ft_hash leaf;   /* out: leaf hash */
	uint64_t index; /* out: its index (new or existing) */
	int dup;        /* out: 1 if it was already logged (or earlier in
			 * this batch) and was not appended again */
	int rejected;   /* out: FT_EREVOKED if a signer key or a subject was
			 * revoked (in the store or earlier in this batch),
			 * FT_EEXIST if another envelope of the same
			 * statement is logged: the item was not appended */
	int rejected_target;   /* out: FT_REVOKE_KEY or FT_REVOKE_IMAGE
				* (FT_EREVOKED), 0 (FT_EEXIST) */
	uint64_t rejected_by;  /* out: index of the revocation, or of the
				* logged envelope of the same statement */
} ft_store_item;

/*
 * Sign the checkpoint for (size, root): write the whole signed note into
 * buf (capacity cap) and set *len. Called inside the write transaction,
 * once per batch that grows the tree; a negative return aborts the batch.
 */
typedef int (*ft_store_sign_fn)(void *ctx, uint64_t size, const ft_hash *root,
				uint8_t *buf, size_t cap, size_t *len);

#define FT_STORE_CHECKPOINT_MAX 8192

/*
 * Append a batch: look every item up by leaf hash (duplicates keep their
 * index); refuse (item->rejected) a new item with meta one of whose
 * signers or subjects is revoked, in the store or by an item appended
 * before it in this batch (a revocation never revokes its own signers:
 * FT_EREVOKED), or whose statement is logged already under other bytes
 * (FT_EEXIST);
 * append the rest in order with their "subjects" rows and, for
 * revocations, their "revoked" rows (only if not revoked already); update
 * the tiles, sign and store the new checkpoint, and commit durably, all
 * in one transaction. If no item is new, nothing is written and no
 * checkpoint is signed.
 *
 * On failure nothing is changed (the transaction is aborted and the
 * in-memory tree restored): FT_ESTORE_FULL when the disk or the LMDB map
 * is full, FT_ETREE_FULL, FT_ESTORE for other LMDB or I/O errors, or the
 * signer's error. On success *new_size is the size after the batch.
 */
FT_WUR int ft_store_append(ft_store *s, ft_store_item *items, size_t n,
			   ft_store_sign_fn sign, void *sign_ctx,
			   uint64_t *new_size);

/*
 * Re-sign the checkpoint of the current tree (e.g. after the log key is
 * rotated, or when a store has no checkpoint yet) and store it durably.
 * The root is the stored one: a size is never given two roots.
 */
FT_WUR int ft_store_resign(ft_store *s, ft_store_sign_fn sign, void *sign_ctx);

/* A one-line description of the last LMDB error (for logs). With s NULL:
 * why this thread's last ft_store_open failed (e.g. an old schema), or
 * "no store". */
const char *ft_store_last_error(const ft_store *s);

#endif
