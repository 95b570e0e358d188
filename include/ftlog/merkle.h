/*
 * ftlog/merkle.h - RFC 6962 / RFC 9162 Merkle trees with SHA-256:
 * hashing, an incremental tree (compact range), proof generation from
 * stored hashes, and proof verification.
 *
 * Nothing here allocates or does I/O. Verification functions use a fixed,
 * small amount of stack and reject proofs longer than the bounds below.
 *
 * Node addressing: the node at (level, index) is the root of the perfect
 * subtree over leaves [index << level, (index + 1) << level). Level 0
 * nodes are leaf hashes. Only such perfect ("complete") nodes are ever
 * stored; hashes of the ragged right edge are computed from them.
 */
#ifndef FTLOG_MERKLE_H
#define FTLOG_MERKLE_H

#include <ftlog/common.h>

#ifdef __cplusplus
extern "C" {
#endif

#define FT_HASH_LEN 32
/* Largest tree size ftlog accepts: sizes are <= INT64_MAX everywhere. */
#define FT_TREE_MAX_SIZE ((uint64_t)INT64_MAX)
/* An inclusion proof for a tree of size < 2^63 has at most 63 hashes. */
#define FT_PROOF_MAX_INCLUSION 64
/* A consistency proof has at most 2 * 63 hashes (+1 seed). */
#define FT_PROOF_MAX_CONSISTENCY 128

/* A SHA-256 hash. Plain bytes, so arrays of it are contiguous hashes. */
typedef struct ft_hash {
	uint8_t b[FT_HASH_LEN];
} ft_hash;

/* leaf = SHA-256(0x00 || entry). */
FT_API void ft_merkle_leaf_hash(const uint8_t *entry, size_t len,
				ft_hash *out);

/* node = SHA-256(0x01 || left || right). out may alias left or right. */
FT_API void ft_merkle_node_hash(const ft_hash *left, const ft_hash *right,
				ft_hash *out);

/* Root of the empty tree: SHA-256(""). */
FT_API void ft_merkle_empty_root(ft_hash *out);

/* Constant-time equality of two hashes: 1 if equal, 0 if not. */
FT_API int ft_hash_equal(const ft_hash *a, const ft_hash *b);

/* ---- Incremental tree (compact range [0, size)). */

/*
 * The state of a tree of `size` leaves in O(log n) memory: peak[l] holds
 * the hash of the perfect subtree of 2^l leaves for every bit l set in
 * size. Plain data: may be copied with memcpy and stored.
 */
typedef struct ft_tree {
	uint64_t size;
	ft_hash peak[63];
} ft_tree;

/*
 * Called once for every node that becomes complete while appending: first
 * the leaf (level 0), then each parent it completes, in increasing level.
 * A storage backend persists them from here. A non-zero return aborts
 * the append with that code; the tree is then unchanged.
 */
typedef int (*ft_tree_node_fn)(void *ctx, unsigned level, uint64_t index,
			       const ft_hash *hash);

FT_API void ft_tree_init(ft_tree *t);

/*
 * Append one leaf hash; node_fn may be NULL. On failure (FT_ETREE_FULL, or
 * node_fn's error) the tree is unchanged.
 */
FT_WUR FT_API int ft_tree_append(ft_tree *t, const ft_hash *leaf,
				 ft_tree_node_fn node_fn, void *ctx);

/*
 * Append n leaf hashes in order. All or nothing: on failure the tree is
 * unchanged (nodes already reported through node_fn must be discarded by
 * the caller, e.g. by aborting its transaction).
 */
FT_WUR FT_API int ft_tree_append_batch(ft_tree *t, const ft_hash *leaves,
				       size_t n, ft_tree_node_fn node_fn,
				       void *ctx);

/* Root hash of the tree at its current size (empty root for size 0). */
FT_API void ft_tree_root(const ft_tree *t, ft_hash *root);

/* ---- Reading stored hashes. */

typedef struct ft_node_id {
	uint64_t index;
	uint8_t level;
} ft_node_id;

/*
 * Fill out[i] with the stored hash of node ids[i] for i < n. Only complete
 * nodes are ever requested. Return 0, or a negative code (FT_EREAD if a
 * hash is missing). n is at most FT_READ_MAX.
 */
typedef int (*ft_hash_read_fn)(void *ctx, const ft_node_id *ids, size_t n,
			       ft_hash *out);

typedef struct ft_hash_reader {
	ft_hash_read_fn read;
	void *ctx;
} ft_hash_reader;

/* Most node ids requested by one read callback. */
#define FT_READ_MAX 256

/*
 * Rebuild the tree state of `size` leaves from stored hashes (reads at most
 * 63 nodes). Used to resume appending after a restart.
 */
FT_WUR FT_API int ft_tree_load(ft_tree *t, uint64_t size,
			       const ft_hash_reader *r);

/* Root hash of the tree at any past or current `size`, from stored hashes. */
FT_WUR FT_API int ft_tree_hash_at(uint64_t size, const ft_hash_reader *r,
				  ft_hash *root);

/* ---- Proof generation (RFC 9162 section 2.1.3.1 and 2.1.4.1). */

/*
 * Inclusion proof of leaf `index` in the tree of `size` leaves.
 * proof must have room for FT_PROOF_MAX_INCLUSION hashes; *n receives the
 * count. FT_EPROOF_RANGE if index >= size or size > FT_TREE_MAX_SIZE.
 */
FT_WUR FT_API int ft_proof_inclusion(uint64_t index, uint64_t size,
				     const ft_hash_reader *r, ft_hash *proof,
				     size_t *n);

/*
 * Consistency proof from tree size1 to size2 (0 < size1 <= size2).
 * proof must have room for FT_PROOF_MAX_CONSISTENCY hashes. size1 == size2
 * gives the empty proof.
 */
FT_WUR FT_API int ft_proof_consistency(uint64_t size1, uint64_t size2,
				       const ft_hash_reader *r, ft_hash *proof,
				       size_t *n);

/* ---- Proof verification (RFC 9162 section 2.1.3.2 and 2.1.4.2). */

/* Number of hashes in a valid inclusion proof (0 if index >= size). */
FT_API size_t ft_proof_inclusion_len(uint64_t index, uint64_t size);

/* Number of hashes in a valid consistency proof (0 if not 0 < s1 < s2). */
FT_API size_t ft_proof_consistency_len(uint64_t size1, uint64_t size2);

/*
 * Hashes are passed as they come off the wire: (pointer, byte length), and
 * the proof as the concatenation of its hashes. Checks, in order:
 *   index < size <= FT_TREE_MAX_SIZE              else FT_EPROOF_RANGE
 *   leaf and root are 32 bytes                    else FT_EHASHLEN
 *   proof is exactly ft_proof_inclusion_len hashes else FT_EPROOF_LEN
 *   the path leads to root                        else FT_EPROOF_ROOT
 */
FT_WUR FT_API int ft_proof_verify_inclusion(uint64_t index, uint64_t size,
					    const uint8_t *leaf, size_t leaf_len,
					    const uint8_t *proof,
					    size_t proof_len,
					    const uint8_t *root, size_t root_len);

/*
 * Root implied by an inclusion proof (same range and length checks);
 * the caller compares it. Used when the root is not yet trusted.
 */
FT_WUR FT_API int ft_proof_root_from_inclusion(uint64_t index, uint64_t size,
					       const ft_hash *leaf,
					       const ft_hash *proof, size_t n,
					       ft_hash *root);

/*
 * Checks, in order:
 *   size1 != 0 and size1 <= size2 <= FT_TREE_MAX_SIZE  else FT_EPROOF_RANGE
 *   size1 == size2: proof empty (else FT_EPROOF_LEN) and root1, root2
 *       byte-identical (else FT_EPROOF_ROOT); success.
 *   roots are 32 bytes                               else FT_EHASHLEN
 *   proof is exactly ft_proof_consistency_len hashes else FT_EPROOF_LEN
 *   the proof yields root1 and root2                 else FT_EPROOF_ROOT
 * A consistency check from the empty tree proves nothing and is refused.
 */
FT_WUR FT_API int ft_proof_verify_consistency(uint64_t size1, uint64_t size2,
					      const uint8_t *root1,
					      size_t root1_len,
					      const uint8_t *root2,
					      size_t root2_len,
					      const uint8_t *proof,
					      size_t proof_len);

#ifdef __cplusplus
}
#endif
#endif
