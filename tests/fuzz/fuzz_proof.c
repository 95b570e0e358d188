/*
 * tests/fuzz/fuzz_proof.c - inclusion and consistency proofs from outside.
 *
 * Input layout (short inputs are zero-padded):
 *   [0]      mode: bits 0-1 select the test below, bit 4 = take root1
 *            from the input in mode 3
 *   [1..9)   a, big endian: the index, or size1
 *   [9..17)  b, big endian: the tree size, or size2
 *   [17]     length code of the first hash (< 0xc0: 32; else & 0x3f)
 *   [18]     length code of the second hash
 *   then the first hash, the second hash, and the proof (the rest).
 *
 * Modes 0 and 1 feed everything as is to ft_proof_verify_inclusion and
 * ft_proof_verify_consistency, and check that the error is the one the
 * header promises for the first failed check, and that
 * ft_proof_root_from_inclusion agrees with verification.
 *
 * Modes 2 and 3 use a real tree of TREE_N leaves built once at start-up:
 * sizes and index are reduced into it, the roots are the genuine ones,
 * and any proof (and leaf, or old root) that verifies must be exactly the
 * genuine one from ft_proof_inclusion / ft_proof_consistency. The genuine
 * proofs must verify, too.
 */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <ftlog/merkle.h>

#include "fuzz_common.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define TREE_N 1000u
#define TREE_LEVELS 10 /* 2^10 > TREE_N */
#define HDR_LEN 19

/* Complete nodes by (level, index), and the root of every size. */
static ft_hash g_nodes[TREE_LEVELS][TREE_N];
static ft_hash g_roots[TREE_N + 1];

static int store_node(void *ctx, unsigned level, uint64_t index,
		      const ft_hash *hash)
{
	(void)ctx;
	FUZZ_CHECK(level < TREE_LEVELS && index < (TREE_N >> level));
	g_nodes[level][index] = *hash;
	return 0;
}

static int read_nodes(void *ctx, const ft_node_id *ids, size_t n,
		      ft_hash *out)
{
	(void)ctx;
	FUZZ_CHECK(n <= FT_READ_MAX);
	for (size_t i = 0; i < n; i++) {
		if (ids[i].level >= TREE_LEVELS ||
		    ids[i].index >= (TREE_N >> ids[i].level)) {
			return FT_EREAD;
		}
		out[i] = g_nodes[ids[i].level][ids[i].index];
	}
	return 0;
}

static const ft_hash_reader g_reader = { read_nodes, NULL };

/* Leaf i of the real tree is the leaf hash of its 4-byte index. */
static void tree_leaf(uint32_t i, ft_hash *out)
{
	uint8_t e[4] = { (uint8_t)(i >> 24), (uint8_t)(i >> 16),
			 (uint8_t)(i >> 8), (uint8_t)i };

	ft_merkle_leaf_hash(e, sizeof e, out);
}

static void init_once(void)
{
	static bool done;
	ft_tree t;
	ft_hash leaf, r;

	if (done) {
		return;
	}
	ft_tree_init(&t);
	ft_merkle_empty_root(&g_roots[0]);
	for (uint32_t i = 0; i < TREE_N; i++) {
		tree_leaf(i, &leaf);
		FUZZ_CHECK(ft_tree_append(&t, &leaf, store_node, NULL) == 0);
		ft_tree_root(&t, &g_roots[i + 1]);
	}
	for (uint64_t s = 1; s <= TREE_N; s++) {
		FUZZ_CHECK(ft_tree_hash_at(s, &g_reader, &r) == 0);
		FUZZ_CHECK(ft_hash_equal(&r, &g_roots[s]) == 1);
	}
	done = true;
}

static uint64_t be64(const uint8_t *p)
{
	uint64_t v = 0;

	for (int i = 0; i < 8; i++) {
		v = v << 8 | p[i];
	}
	return v;
}

static size_t hash_len(uint8_t code)
{
	return code < 0xc0 ? FT_HASH_LEN : (size_t)(code & 0x3f);
}

/* Take up to n bytes from (*p, *left); the length taken is returned. */
static size_t take(const uint8_t **p, size_t *left, size_t n,
		   const uint8_t **out)
{
	if (n > *left) {
		n = *left;
	}
	*out = *p;
	*p += n;
	*left -= n;
	return n;
}

static void mode_inclusion(uint64_t index, uint64_t size, const uint8_t *leaf,
			   size_t leaf_len, const uint8_t *root,
			   size_t root_len, const uint8_t *proof,
			   size_t proof_len)
{
	size_t want = ft_proof_inclusion_len(index, size);
	int rc = ft_proof_verify_inclusion(index, size, leaf, leaf_len, proof,
					   proof_len, root, root_len);

	FUZZ_CHECK(want < FT_PROOF_MAX_INCLUSION);
	if (index >= size || size > FT_TREE_MAX_SIZE) {
		FUZZ_CHECK(want == 0 || size > FT_TREE_MAX_SIZE);
		FUZZ_CHECK(rc == FT_EPROOF_RANGE);
		return;
	}
	if (leaf_len != FT_HASH_LEN || root_len != FT_HASH_LEN) {
		FUZZ_CHECK(rc == FT_EHASHLEN);
		return;
	}
	if (proof_len != want * FT_HASH_LEN) {
		FUZZ_CHECK(rc == FT_EPROOF_LEN);
		return;
	}
	FUZZ_CHECK(rc == 0 || rc == FT_EPROOF_ROOT);

	/* The implied root is the one verification accepts. */
	ft_hash l, path[FT_PROOF_MAX_INCLUSION], r;
	memset(path, 0, sizeof path);
	memcpy(l.b, leaf, FT_HASH_LEN);
	if (want > 0) {
		memcpy(path, proof, proof_len);
	}
	FUZZ_CHECK(ft_proof_root_from_inclusion(index, size, &l, path, want,
						&r) == 0);
	FUZZ_CHECK((rc == 0) == (memcmp(r.b, root, FT_HASH_LEN) == 0));
	FUZZ_CHECK(ft_proof_verify_inclusion(index, size, leaf, leaf_len, proof,
					     proof_len, r.b, sizeof r.b) == 0);
	FUZZ_CHECK(ft_proof_root_from_inclusion(index, size, &l, path,
						want + 1, &r) ==
		   FT_EPROOF_LEN);
}

static void mode_consistency(uint64_t size1, uint64_t size2,
			     const uint8_t *root1, size_t root1_len,
			     const uint8_t *root2, size_t root2_len,
			     const uint8_t *proof, size_t proof_len)
{
	size_t want = ft_proof_consistency_len(size1, size2);
	int rc = ft_proof_verify_consistency(size1, size2, root1, root1_len,
					     root2, root2_len, proof,
					     proof_len);

	FUZZ_CHECK(want <= FT_PROOF_MAX_CONSISTENCY);
	if (size1 == 0 || size1 > size2 || size2 > FT_TREE_MAX_SIZE) {
		FUZZ_CHECK(rc == FT_EPROOF_RANGE);
		return;
	}
	if (size1 == size2) {
		FUZZ_CHECK(want == 0);
		if (proof_len != 0) {
			FUZZ_CHECK(rc == FT_EPROOF_LEN);
			return;
		}
		if (root1_len == FT_HASH_LEN && root2_len == FT_HASH_LEN) {
			int same = memcmp(root1, root2, FT_HASH_LEN) == 0;
			FUZZ_CHECK(rc == (same ? 0 : FT_EPROOF_ROOT));
		}
		FUZZ_CHECK(rc == 0 || rc == FT_EPROOF_ROOT ||
			   rc == FT_EHASHLEN);
		return;
	}
	FUZZ_CHECK(want > 0);
	if (root1_len != FT_HASH_LEN || root2_len != FT_HASH_LEN) {
		FUZZ_CHECK(rc == FT_EHASHLEN);
		return;
	}
	if (proof_len != want * FT_HASH_LEN) {
		FUZZ_CHECK(rc == FT_EPROOF_LEN);
		return;
	}
	FUZZ_CHECK(rc == 0 || rc == FT_EPROOF_ROOT);
}

static void real_inclusion(uint64_t a, uint64_t b, const uint8_t *leaf,
			   size_t leaf_len, const uint8_t *proof,
			   size_t proof_len)
{
	ft_hash gp[FT_PROOF_MAX_INCLUSION], r;
	size_t gn = 0;
	uint64_t size = 1 + b % TREE_N;
	uint64_t index = a % size;
	const ft_hash *real_leaf = &g_nodes[0][index];
	const ft_hash *root = &g_roots[size];

	FUZZ_CHECK(ft_proof_inclusion(index, size, &g_reader, gp, &gn) == 0);
	FUZZ_CHECK(gn == ft_proof_inclusion_len(index, size));
	FUZZ_CHECK(ft_proof_verify_inclusion(index, size, real_leaf->b,
					     FT_HASH_LEN, gp[0].b,
					     gn * FT_HASH_LEN, root->b,
					     FT_HASH_LEN) == 0);
	FUZZ_CHECK(ft_proof_root_from_inclusion(index, size, real_leaf, gp, gn,
						&r) == 0);
	FUZZ_CHECK(ft_hash_equal(&r, root) == 1);

	if (leaf_len != FT_HASH_LEN) {
		leaf = real_leaf->b;
	}
	int rc = ft_proof_verify_inclusion(index, size, leaf, FT_HASH_LEN,
					   proof, proof_len, root->b,
					   FT_HASH_LEN);
	if (rc == 0) {
		FUZZ_CHECK(memcmp(leaf, real_leaf->b, FT_HASH_LEN) == 0);
		FUZZ_CHECK(proof_len == gn * FT_HASH_LEN);
		FUZZ_CHECK(gn == 0 || memcmp(proof, gp, proof_len) == 0);
	}
}

static void real_consistency(uint64_t a, uint64_t b, const uint8_t *root1,
			     size_t root1_len, const uint8_t *proof,
			     size_t proof_len)
{
	ft_hash gp[FT_PROOF_MAX_CONSISTENCY];
	size_t gn = 0;
	uint64_t size1 = 1 + a % TREE_N;
	uint64_t size2 = 1 + b % TREE_N;

	if (size1 > size2) {
		uint64_t t = size1;
		size1 = size2;
		size2 = t;
	}
	FUZZ_CHECK(ft_proof_consistency(size1, size2, &g_reader, gp, &gn) == 0);
	FUZZ_CHECK(gn == ft_proof_consistency_len(size1, size2));
	FUZZ_CHECK(ft_proof_verify_consistency(size1, size2, g_roots[size1].b,
					       FT_HASH_LEN, g_roots[size2].b,
					       FT_HASH_LEN, gp[0].b,
					       gn * FT_HASH_LEN) == 0);

	if (root1_len != FT_HASH_LEN) {
		root1 = g_roots[size1].b;
	}
	int rc = ft_proof_verify_consistency(size1, size2, root1, FT_HASH_LEN,
					     g_roots[size2].b, FT_HASH_LEN,
					     proof, proof_len);
	if (rc == 0) {
		FUZZ_CHECK(memcmp(root1, g_roots[size1].b, FT_HASH_LEN) == 0);
		FUZZ_CHECK(proof_len == gn * FT_HASH_LEN);
		FUZZ_CHECK(gn == 0 || memcmp(proof, gp, proof_len) == 0);
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	uint8_t hdr[HDR_LEN] = { 0 };
	const uint8_t *p, *h1, *h2, *proof;
	size_t left, n1, n2, plen;

	init_once();
	memcpy(hdr, data, size < HDR_LEN ? size : HDR_LEN);
	p = data + (size < HDR_LEN ? size : HDR_LEN);
	left = size - (size_t)(p - data);

	uint64_t a = be64(hdr + 1);
	uint64_t b = be64(hdr + 9);
	n1 = take(&p, &left, hash_len(hdr[17]), &h1);
	n2 = take(&p, &left, hash_len(hdr[18]), &h2);
	plen = take(&p, &left, left, &proof);

	switch (hdr[0] & 3) {
	case 0:
		mode_inclusion(a, b, h1, n1, h2, n2, proof, plen);
		break;
	case 1:
		mode_consistency(a, b, h1, n1, h2, n2, proof, plen);
		break;
	case 2:
		real_inclusion(a, b, h1, n1, proof, plen);
		break;
	default:
		real_consistency(a, b, h1, (hdr[0] & 0x10) ? n1 : 0, proof,
				 plen);
		break;
	}
	return 0;
}
