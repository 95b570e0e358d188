/*
 * merkle/merkle.c - RFC 6962 / RFC 9162 hashing, the incremental tree,
 * proof generation from stored hashes and proof verification.
 *
 * Proof generation follows the recursive definitions of RFC 9162
 * section 2.1.3.1 (PATH) and 2.1.4.1 (SUBPROOF), unrolled: the subtree
 * ranges are listed top-down, every range is split into the perfect
 * subtrees that are actually stored, all of those are read with one reader
 * call, and the hashes are folded back. Verification uses the equivalent
 * closed form (the proof splits into an "inner" part, where the paths to
 * the leaf and to the last leaf diverge, and a "border" part along the
 * right edge), which lets the expected proof length be checked before any
 * hashing.
 */
#include <nettle/sha2.h>

#include "merkle/internal.h"

FT_STATIC_ASSERT(sizeof(ft_hash) == FT_HASH_LEN, "ft_hash must be packed");

/* ---- Hashing. */

void ft_merkle_leaf_hash(const uint8_t *entry, size_t len, ft_hash *out)
{
	static const uint8_t prefix = 0x00;
	struct sha256_ctx c;

	sha256_init(&c);
	sha256_update(&c, 1, &prefix);
	if (len > 0) {
		sha256_update(&c, len, entry);
	}
	sha256_digest(&c, FT_HASH_LEN, out->b);
}

/* SHA-256(0x01 || l || r) over raw 32-byte hashes; out may alias. */
static void node_hash_raw(const uint8_t *l, const uint8_t *r, uint8_t *out)
{
	uint8_t buf[1 + 2 * FT_HASH_LEN];
	struct sha256_ctx c;

	/* One 65-byte update: nettle then hashes two blocks straight. */
	buf[0] = 0x01;
	memcpy(buf + 1, l, FT_HASH_LEN);
	memcpy(buf + 1 + FT_HASH_LEN, r, FT_HASH_LEN);
	sha256_init(&c);
	sha256_update(&c, sizeof buf, buf);
	sha256_digest(&c, FT_HASH_LEN, out);
}

void ft_merkle_node_hash(const ft_hash *left, const ft_hash *right,
			 ft_hash *out)
{
	node_hash_raw(left->b, right->b, out->b);
}

void ft_merkle_empty_root(ft_hash *out)
{
	struct sha256_ctx c;

	sha256_init(&c);
	sha256_digest(&c, FT_HASH_LEN, out->b);
}

static int bytes_equal_ct(const uint8_t *a, const uint8_t *b, size_t n)
{
	uint8_t d = 0;

	for (size_t i = 0; i < n; i++) {
		d |= (uint8_t)(a[i] ^ b[i]);
	}
	return d == 0;
}

int ft_hash_equal(const ft_hash *a, const ft_hash *b)
{
	return bytes_equal_ct(a->b, b->b, FT_HASH_LEN);
}

/* ---- Bit helpers. */

static unsigned bit_length(uint64_t x)
{
	return x == 0 ? 0 : 64u - (unsigned)__builtin_clzll(x);
}

static unsigned popcount64(uint64_t x)
{
	return (unsigned)__builtin_popcountll(x);
}

static unsigned trailing_zeros(uint64_t x)
{
	return x == 0 ? 64u : (unsigned)__builtin_ctzll(x);
}

/* Largest power of two strictly below n (n >= 2). */
static uint64_t split_point(uint64_t n)
{
	return (uint64_t)1 << (bit_length(n - 1) - 1);
}

/* ---- Incremental tree. */

void ft_tree_init(ft_tree *t)
{
	memset(t, 0, sizeof *t);
}

int ft_tree_append(ft_tree *t, const ft_hash *leaf, ft_tree_node_fn node_fn,
		   void *ctx)
{
	ft_hash h = *leaf;
	uint64_t index = t->size;
	unsigned level = 0;
	int rc;

	if (t->size >= FT_TREE_MAX_SIZE) {
		return FT_ETREE_FULL;
	}
	if (node_fn != NULL && (rc = node_fn(ctx, 0, index, &h)) != 0) {
		return rc;
	}
	/* Each trailing one bit of the old size is a peak that the new leaf
	 * completes into a parent, exactly like a binary carry. */
	for (uint64_t s = t->size; s & 1; s >>= 1) {
		ft_merkle_node_hash(&t->peak[level], &h, &h);
		level++;
		index >>= 1;
		if (node_fn != NULL &&
		    (rc = node_fn(ctx, level, index, &h)) != 0) {
			return rc;
		}
	}
	/* Keep the state canonical: peaks not in `size` are zero, so two
	 * trees of one size and root are byte-identical (see ft_tree_load). */
	memset(t->peak, 0, (size_t)level * sizeof t->peak[0]);
	t->peak[level] = h;
	t->size++;
	return FT_OK;
}

int ft_tree_append_batch(ft_tree *t, const ft_hash *leaves, size_t n,
			 ft_tree_node_fn node_fn, void *ctx)
{
	ft_tree tmp;
	int rc;

	if (n == 0) {
		return FT_OK;
	}
	if (leaves == NULL || n > FT_TREE_MAX_SIZE - t->size) {
		return leaves == NULL ? FT_EINVAL : FT_ETREE_FULL;
	}
	/* Work on a copy so that a failing node_fn leaves t untouched. */
	memcpy(&tmp, t, sizeof tmp);
	for (size_t i = 0; i < n; i++) {
		if ((rc = ft_tree_append(&tmp, &leaves[i], node_fn, ctx)) != 0) {
			return rc;
		}
	}
	memcpy(t, &tmp, sizeof tmp);
	return FT_OK;
}

void ft_tree_root(const ft_tree *t, ft_hash *root)
{
	unsigned l;
	ft_hash r;

	if (t->size == 0) {
		ft_merkle_empty_root(root);
		return;
	}
	/* Fold the peaks from the smallest (rightmost) to the largest. */
	l = trailing_zeros(t->size);
	r = t->peak[l];
	for (l++; l < 63; l++) {
		if (t->size & ((uint64_t)1 << l)) {
			ft_merkle_node_hash(&t->peak[l], &r, &r);
		}
	}
	*root = r;
}

/* ---- Reading stored hashes: the plan of a proof. */

/*
 * A proof plan: the hashes a proof needs, each the Merkle tree hash of a
 * leaf range, in proof order; every range is covered by the perfect
 * subtrees listed in ids[first .. first + count).
 */
#define PLAN_MAX_RANGES FT_PROOF_MAX_CONSISTENCY
#define PLAN_MAX_IDS FT_READ_MAX

typedef struct plan {
	size_t nranges;
	size_t nids;
	struct {
		size_t first;
		size_t count;
	} range[PLAN_MAX_RANGES];
	ft_node_id ids[PLAN_MAX_IDS];
	ft_hash hashes[PLAN_MAX_IDS];
} plan;

/*
 * Add MTH(D[lo:hi]) to the plan. In every range that RFC 9162's recursion
 * produces, lo is a multiple of the largest power of two <= hi - lo, so
 * greedily taking that power from the left yields stored perfect subtrees.
 */
static int plan_range(plan *p, uint64_t lo, uint64_t hi)
{
	if (p->nranges == PLAN_MAX_RANGES || lo >= hi) {
		return FT_EINVAL;
	}
	p->range[p->nranges].first = p->nids;
	while (lo < hi) {
		unsigned level = bit_length(hi - lo) - 1;

		if (p->nids == PLAN_MAX_IDS ||
		    (lo & (((uint64_t)1 << level) - 1)) != 0) {
			return FT_EINVAL; /* cannot happen: see above */
		}
		p->ids[p->nids].level = (uint8_t)level;
		p->ids[p->nids].index = lo >> level;
		p->nids++;
		lo += (uint64_t)1 << level;
	}
	p->range[p->nranges].count = p->nids - p->range[p->nranges].first;
	p->nranges++;
	return FT_OK;
}

static int plan_read(plan *p, const ft_hash_reader *r)
{
	int rc;

	if (r == NULL || r->read == NULL) {
		return FT_EINVAL;
	}
	if (p->nids == 0) {
		return FT_OK;
	}
	rc = r->read(r->ctx, p->ids, p->nids, p->hashes);
	if (rc > 0) {
		rc = FT_EREAD;
	}
	return rc;
}

/* Fold the perfect subtrees of range i right to left into its hash. */
static void plan_hash(const plan *p, size_t i, ft_hash *out)
{
	size_t first = p->range[i].first, n = p->range[i].count;
	ft_hash h = p->hashes[first + n - 1];

	for (size_t j = n - 1; j > 0; j--) {
		ft_merkle_node_hash(&p->hashes[first + j - 1], &h, &h);
	}
	*out = h;
}

/*
 * The plan lists ranges top-down (root first); proofs list hashes
 * bottom-up (leaf first), so emit in reverse.
 */
static void plan_emit_reversed(const plan *p, ft_hash *proof, size_t *n)
{
	for (size_t i = 0; i < p->nranges; i++) {
		plan_hash(p, p->nranges - 1 - i, &proof[i]);
	}
	*n = p->nranges;
}

int ft_tree_load(ft_tree *t, uint64_t size, const ft_hash_reader *r)
{
	plan p;
	int rc;

	if (size > FT_TREE_MAX_SIZE) {
		return FT_EPROOF_RANGE;
	}
	ft_tree_init(t);
	if (size == 0) {
		return FT_OK;
	}
	p.nranges = p.nids = 0;
	if ((rc = plan_range(&p, 0, size)) != 0 ||
	    (rc = plan_read(&p, r)) != 0) {
		return rc;
	}
	/* The perfect subtrees of [0, size) are exactly the peaks. */
	for (size_t i = 0; i < p.nids; i++) {
		t->peak[p.ids[i].level] = p.hashes[i];
	}
	t->size = size;
	return FT_OK;
}

int ft_tree_hash_at(uint64_t size, const ft_hash_reader *r, ft_hash *root)
{
	plan p;
	int rc;

	if (size > FT_TREE_MAX_SIZE) {
		return FT_EPROOF_RANGE;
	}
	if (size == 0) {
		ft_merkle_empty_root(root);
		return FT_OK;
	}
	p.nranges = p.nids = 0;
	if ((rc = plan_range(&p, 0, size)) != 0 ||
	    (rc = plan_read(&p, r)) != 0) {
		return rc;
	}
	plan_hash(&p, 0, root);
	return FT_OK;
}

int ft_proof_inclusion(uint64_t index, uint64_t size, const ft_hash_reader *r,
		       ft_hash *proof, size_t *n)
{
	uint64_t lo = 0, hi = size;
	plan p;
	int rc;

	if (index >= size || size > FT_TREE_MAX_SIZE) {
		return FT_EPROOF_RANGE;
	}
	p.nranges = p.nids = 0;
	/* PATH(m, D[lo:hi]): descend towards the leaf, recording the
	 * sibling subtree at every split. */
	while (hi - lo > 1) {
		uint64_t k = split_point(hi - lo);

		if (index < lo + k) {
			rc = plan_range(&p, lo + k, hi);
			hi = lo + k;
		} else {
			rc = plan_range(&p, lo, lo + k);
			lo += k;
		}
		if (rc != 0) {
			return rc;
		}
	}
	if ((rc = plan_read(&p, r)) != 0) {
		return rc;
	}
	plan_emit_reversed(&p, proof, n);
	return FT_OK;
}

int ft_proof_consistency(uint64_t size1, uint64_t size2,
			 const ft_hash_reader *r, ft_hash *proof, size_t *n)
{
	uint64_t lo = 0, hi = size2, m = size1;
	bool whole = true; /* RFC 9162's flag b */
	plan p;
	int rc;

	if (size1 == 0 || size1 > size2 || size2 > FT_TREE_MAX_SIZE) {
		return FT_EPROOF_RANGE;
	}
	p.nranges = p.nids = 0;
	/* SUBPROOF(m, D[lo:hi], b), with m relative to lo. */
	while (m != hi - lo) {
		uint64_t k = split_point(hi - lo);

		if (m <= k) {
			rc = plan_range(&p, lo + k, hi);
			hi = lo + k;
		} else {
			rc = plan_range(&p, lo, lo + k);
			m -= k;
			lo += k;
			whole = false;
		}
		if (rc != 0) {
			return rc;
		}
	}
	/* The old tree's own subtree, unless it is the old root itself. */
	if (!whole && (rc = plan_range(&p, lo, hi)) != 0) {
		return rc;
	}
	if ((rc = plan_read(&p, r)) != 0) {
		return rc;
	}
	plan_emit_reversed(&p, proof, n);
	return FT_OK;
}

/* ---- Verification. */

/*
 * For leaf `index` in a tree of `size`: `inner` proof hashes lie below the
 * level where the paths to the leaf and to the last leaf (size - 1) meet;
 * above it, one hash per set bit of index >> inner (left siblings along
 * the right border).
 */
static void decompose(uint64_t index, uint64_t size, unsigned *inner,
		      unsigned *border)
{
	*inner = bit_length(index ^ (size - 1));
	*border = popcount64(index >> *inner);
}

size_t ft_proof_inclusion_len(uint64_t index, uint64_t size)
{
	unsigned inner, border;

	if (index >= size || size > FT_TREE_MAX_SIZE) {
		return 0;
	}
	decompose(index, size, &inner, &border);
	return inner + border;
}

size_t ft_proof_consistency_len(uint64_t size1, uint64_t size2)
{
	unsigned inner, border, shift;

	if (size1 == 0 || size1 >= size2 || size2 > FT_TREE_MAX_SIZE) {
		return 0;
	}
	decompose(size1 - 1, size2, &inner, &border);
	shift = trailing_zeros(size1);
	/* A power-of-two old size is its own seed; else the seed is sent. */
	return (size1 == (uint64_t)1 << shift ? 0 : 1) + (inner - shift) +
	       border;
}

/* Hash seed up through the inner proof, placing siblings by index bits. */
static void chain_inner(uint8_t *seed, const uint8_t *proof, unsigned n,
			uint64_t index)
{
	for (unsigned i = 0; i < n; i++) {
		const uint8_t *h = proof + (size_t)i * FT_HASH_LEN;

		if ((index >> i) & 1) {
			node_hash_raw(h, seed, seed);
		} else {
			node_hash_raw(seed, h, seed);
		}
	}
}

/* Like chain_inner, but only the left siblings (the old tree's view). */
static void chain_inner_right(uint8_t *seed, const uint8_t *proof,
			      unsigned n, uint64_t index)
{
	for (unsigned i = 0; i < n; i++) {
		if ((index >> i) & 1) {
			node_hash_raw(proof + (size_t)i * FT_HASH_LEN, seed,
				      seed);
		}
	}
}

/* Along the right border every sibling is on the left. */
static void chain_border_right(uint8_t *seed, const uint8_t *proof,
			       unsigned n)
{
	for (unsigned i = 0; i < n; i++) {
		node_hash_raw(proof + (size_t)i * FT_HASH_LEN, seed, seed);
	}
}

static int root_from_inclusion(uint64_t index, uint64_t size,
			       const uint8_t *leaf, const uint8_t *proof,
			       size_t proof_len, uint8_t *root)
{
	unsigned inner, border;

	if (index >= size || size > FT_TREE_MAX_SIZE) {
		return FT_EPROOF_RANGE;
	}
	decompose(index, size, &inner, &border);
	if (proof_len % FT_HASH_LEN != 0 ||
	    proof_len / FT_HASH_LEN != (size_t)inner + border) {
		return FT_EPROOF_LEN;
	}
	memcpy(root, leaf, FT_HASH_LEN);
	chain_inner(root, proof, inner, index);
	chain_border_right(root, proof + (size_t)inner * FT_HASH_LEN, border);
	return FT_OK;
}

int ft_proof_verify_inclusion(uint64_t index, uint64_t size,
			      const uint8_t *leaf, size_t leaf_len,
			      const uint8_t *proof, size_t proof_len,
			      const uint8_t *root, size_t root_len)
{
	uint8_t got[FT_HASH_LEN];
	int rc;

	if (index >= size || size > FT_TREE_MAX_SIZE) {
		return FT_EPROOF_RANGE;
	}
	if (leaf == NULL || root == NULL || leaf_len != FT_HASH_LEN ||
	    root_len != FT_HASH_LEN) {
		return FT_EHASHLEN;
	}
	if (proof == NULL && proof_len != 0) {
		return FT_EINVAL;
	}
	rc = root_from_inclusion(index, size, leaf, proof, proof_len, got);
	if (rc != 0) {
		return rc;
	}
	return bytes_equal_ct(got, root, FT_HASH_LEN) ? FT_OK : FT_EPROOF_ROOT;
}

int ft_proof_root_from_inclusion(uint64_t index, uint64_t size,
				 const ft_hash *leaf, const ft_hash *proof,
				 size_t n, ft_hash *root)
{
	if (n > FT_PROOF_MAX_INCLUSION) {
		return FT_EPROOF_LEN;
	}
	return root_from_inclusion(index, size, leaf->b,
				   (const uint8_t *)proof, n * FT_HASH_LEN,
				   root->b);
}

int ft_proof_verify_consistency(uint64_t size1, uint64_t size2,
				const uint8_t *root1, size_t root1_len,
				const uint8_t *root2, size_t root2_len,
				const uint8_t *proof, size_t proof_len)
{
	unsigned inner, border, shift;
	uint8_t seed[FT_HASH_LEN], h1[FT_HASH_LEN], h2[FT_HASH_LEN];
	size_t start, nproof;
	uint64_t mask;

	if (size1 == 0 || size1 > size2 || size2 > FT_TREE_MAX_SIZE) {
		return FT_EPROOF_RANGE;
	}
	if (proof == NULL && proof_len != 0) {
		return FT_EINVAL;
	}
	if (size1 == size2) {
		/* Nothing to prove: the two roots must simply be the same. */
		if (proof_len != 0) {
			return FT_EPROOF_LEN;
		}
		if (root1_len != root2_len ||
		    (root1_len != 0 &&
		     !bytes_equal_ct(root1, root2, root1_len))) {
			return FT_EPROOF_ROOT;
		}
		return FT_OK;
	}
	if (root1_len != FT_HASH_LEN || root2_len != FT_HASH_LEN) {
		return FT_EHASHLEN;
	}
	decompose(size1 - 1, size2, &inner, &border);
	shift = trailing_zeros(size1);
	inner -= shift; /* the lowest `shift` levels are inside the seed */
	nproof = proof_len / FT_HASH_LEN;
	start = size1 == (uint64_t)1 << shift ? 0 : 1;
	if (proof_len % FT_HASH_LEN != 0 ||
	    nproof != start + inner + border) {
		return FT_EPROOF_LEN;
	}
	/* The seed is the hash of the old tree's last perfect subtree. */
	memcpy(seed, start == 0 ? root1 : proof, FT_HASH_LEN);
	proof += start * FT_HASH_LEN;
	mask = (size1 - 1) >> shift;

	memcpy(h1, seed, FT_HASH_LEN);
	chain_inner_right(h1, proof, inner, mask);
	chain_border_right(h1, proof + (size_t)inner * FT_HASH_LEN, border);

	memcpy(h2, seed, FT_HASH_LEN);
	chain_inner(h2, proof, inner, mask);
	chain_border_right(h2, proof + (size_t)inner * FT_HASH_LEN, border);

	if (!bytes_equal_ct(h1, root1, FT_HASH_LEN) ||
	    !bytes_equal_ct(h2, root2, FT_HASH_LEN)) {
		return FT_EPROOF_ROOT;
	}
	return FT_OK;
}
