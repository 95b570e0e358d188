/*
 * tests/test_merkle.c - hashing, the incremental tree, proof generation and
 * verification: known answers and exhaustive small trees.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <ftlog/merkle.h>

#include "tests/testutil.h"

/* ---- An in-memory store of every complete node, filled by node_fn. */

#define MEM_MAX_LEAVES 1100

typedef struct mem_store {
	uint64_t size;
	ft_hash node[64][MEM_MAX_LEAVES];
	int have[64][MEM_MAX_LEAVES];
	size_t reads;
	int fail_after; /* node_fn fails after this many calls if > 0 */
	int calls;
} mem_store;

static int mem_node(void *ctx, unsigned level, uint64_t index,
		    const ft_hash *h)
{
	mem_store *m = ctx;

	if (m->fail_after > 0 && ++m->calls > m->fail_after) {
		return -1234;
	}
	ck_assert_uint_lt(level, 64);
	ck_assert_uint_lt(index, MEM_MAX_LEAVES);
	m->node[level][index] = *h;
	m->have[level][index] = 1;
	return 0;
}

static int mem_read(void *ctx, const ft_node_id *ids, size_t n, ft_hash *out)
{
	mem_store *m = ctx;

	ck_assert_uint_le(n, FT_READ_MAX);
	for (size_t i = 0; i < n; i++) {
		if (ids[i].level >= 64 || ids[i].index >= MEM_MAX_LEAVES ||
		    !m->have[ids[i].level][ids[i].index]) {
			return FT_EREAD;
		}
		/* Only complete nodes of the current tree may be asked for. */
		ck_assert_uint_le((ids[i].index + 1) << ids[i].level, m->size);
		out[i] = m->node[ids[i].level][ids[i].index];
	}
	m->reads++;
	return 0;
}

static void entry_of(uint64_t i, uint8_t *buf, size_t *len)
{
	*len = (size_t)(i % 7);
	for (size_t j = 0; j < *len; j++) {
		buf[j] = (uint8_t)(i * 31 + j);
	}
}

static mem_store *mem_build(uint64_t n)
{
	mem_store *m = calloc(1, sizeof *m);
	ft_tree t;

	ck_assert_ptr_nonnull(m);
	ft_tree_init(&t);
	for (uint64_t i = 0; i < n; i++) {
		uint8_t e[8];
		size_t len;
		ft_hash h;

		entry_of(i, e, &len);
		ft_merkle_leaf_hash(e, len, &h);
		ck_assert_int_eq(ft_tree_append(&t, &h, mem_node, m), 0);
	}
	m->size = n;
	return m;
}

/* Naive recursive MTH over leaf hashes, straight from RFC 9162 2.1.1. */
static void naive_mth(const mem_store *m, uint64_t lo, uint64_t hi,
		      ft_hash *out)
{
	if (hi - lo == 1) {
		*out = m->node[0][lo];
		return;
	}
	uint64_t k = 1;
	while (k * 2 < hi - lo) {
		k *= 2;
	}
	ft_hash l, r;
	naive_mth(m, lo, lo + k, &l);
	naive_mth(m, lo + k, hi, &r);
	ft_merkle_node_hash(&l, &r, out);
}

static void root_at(mem_store *m, uint64_t size, ft_hash *root)
{
	ft_hash_reader r = {mem_read, m};
	uint64_t saved = m->size;

	m->size = size;
	ck_assert_int_eq(ft_tree_hash_at(size, &r, root), 0);
	m->size = saved;
}

/* ---- Known answers (../shared/vectors/README.md). */

static const char *leaves_hex[] = {
	"", "00", "10", "2021", "3031", "40414243", "5051525354555657",
	"606162636465666768696a6b6c6d6e6f",
};

static int read_known_roots(char roots[9][65])
{
	char path[4096];
	size_t len;
	int found = 0;

	snprintf(path, sizeof path, "%s/README.md", tu_vectors_dir());
	char *txt = (char *)tu_read_file(path, &len);
	ck_assert_msg(txt != NULL, "cannot read %s", path);
	for (char *line = strtok(txt, "\n"); line; line = strtok(NULL, "\n")) {
		unsigned n;
		char hex[65];
		if (sscanf(line, " %u %64[0-9a-f]", &n, hex) == 2 && n >= 1 &&
		    n <= 8 && strlen(hex) == 64) {
			memcpy(roots[n], hex, 65);
			found++;
		}
	}
	free(txt);
	return found;
}

START_TEST(test_known_roots)
{
	char roots[9][65];
	ft_tree t;

	ck_assert_int_eq(read_known_roots(roots), 8);
	ft_tree_init(&t);
	for (unsigned i = 0; i < 8; i++) {
		uint8_t e[16];
		size_t n = strlen(leaves_hex[i]) / 2;
		ft_hash h, root, want;

		ck_assert_int_eq(tu_hex_decode(leaves_hex[i], e, n), 0);
		ft_merkle_leaf_hash(e, n, &h);
		ck_assert_int_eq(ft_tree_append(&t, &h, NULL, NULL), 0);
		ft_tree_root(&t, &root);
		ck_assert_int_eq(tu_hex_decode(roots[i + 1], want.b, 32), 0);
		ck_assert_msg(ft_hash_equal(&root, &want), "root of %u", i + 1);
	}
}
END_TEST

START_TEST(test_empty_root)
{
	ft_hash e, want, r;
	ft_tree t;

	ck_assert_int_eq(tu_hex_decode("e3b0c44298fc1c149afbf4c8996fb924"
				       "27ae41e4649b934ca495991b7852b855",
				       want.b, 32),
			 0);
	ft_merkle_empty_root(&e);
	ck_assert(ft_hash_equal(&e, &want));
	ft_tree_init(&t);
	ft_tree_root(&t, &r);
	ck_assert(ft_hash_equal(&r, &want));
}
END_TEST

/* The incremental root equals the naive recursive MTH at every size, and
 * ft_tree_hash_at and ft_tree_load agree with it from stored hashes. */
START_TEST(test_tree_roots_and_load)
{
	mem_store *m = mem_build(1030);
	ft_hash_reader r = {mem_read, m};
	ft_tree t;

	ft_tree_init(&t);
	for (uint64_t n = 1; n <= 1030; n++) {
		ft_hash naive, inc, stored, loaded;
		ft_tree lt;

		ck_assert_int_eq(ft_tree_append(&t, &m->node[0][n - 1], NULL,
						NULL),
				 0);
		naive_mth(m, 0, n, &naive);
		ft_tree_root(&t, &inc);
		root_at(m, n, &stored);
		ck_assert_msg(ft_hash_equal(&naive, &inc), "size %lu",
			      (unsigned long)n);
		ck_assert(ft_hash_equal(&naive, &stored));
		m->size = n;
		ck_assert_int_eq(ft_tree_load(&lt, n, &r), 0);
		m->size = 1030;
		ft_tree_root(&lt, &loaded);
		ck_assert(ft_hash_equal(&naive, &loaded));
		ck_assert_mem_eq(&lt, &t, sizeof t);
	}
	free(m);
}
END_TEST

START_TEST(test_batch_equals_single_and_is_atomic)
{
	mem_store *m = mem_build(300);
	mem_store *m2 = calloc(1, sizeof *m2);
	ft_tree a, b, before;
	ft_hash ra, rb;

	ck_assert_ptr_nonnull(m2);
	ft_tree_init(&a);
	ft_tree_init(&b);
	ck_assert_int_eq(ft_tree_append_batch(&a, m->node[0], 100, NULL, NULL),
			 0);
	ck_assert_int_eq(
		ft_tree_append_batch(&a, m->node[0] + 100, 200, NULL, NULL), 0);
	for (int i = 0; i < 300; i++) {
		ck_assert_int_eq(ft_tree_append(&b, &m->node[0][i], NULL, NULL),
				 0);
	}
	ft_tree_root(&a, &ra);
	ft_tree_root(&b, &rb);
	ck_assert(ft_hash_equal(&ra, &rb));
	ck_assert_uint_eq(a.size, 300);

	/* node_fn reports every complete node exactly once: 2n - popcount. */
	ft_tree_init(&a);
	ck_assert_int_eq(ft_tree_append_batch(&a, m->node[0], 300, mem_node, m2),
			 0);
	for (unsigned l = 0; l < 10; l++) {
		for (uint64_t i = 0; (i + 1) << l <= 300; i++) {
			ck_assert(m2->have[l][i]);
			ck_assert(ft_hash_equal(&m2->node[l][i], &m->node[l][i]));
		}
	}

	/* A failing node_fn leaves the tree unchanged, and returns its code. */
	memcpy(&before, &a, sizeof a);
	m2->fail_after = 5;
	m2->calls = 0;
	ck_assert_int_eq(ft_tree_append_batch(&a, m->node[0], 10, mem_node, m2),
			 -1234);
	ck_assert_mem_eq(&before, &a, sizeof a);
	/* At an odd size the leaf is stored, then its parent fails. */
	ck_assert_int_eq(ft_tree_append(&a, &m->node[0][0], NULL, NULL), 0);
	memcpy(&before, &a, sizeof a);
	m2->calls = 0;
	m2->fail_after = 1;
	ck_assert_int_eq(ft_tree_append(&a, &m->node[0][1], mem_node, m2),
			 -1234);
	ck_assert_mem_eq(&before, &a, sizeof a);
	free(m);
	free(m2);
}
END_TEST

START_TEST(test_tree_full)
{
	ft_tree t;
	ft_hash h = {{0}};

	ft_tree_init(&t);
	t.size = FT_TREE_MAX_SIZE;
	ck_assert_int_eq(ft_tree_append(&t, &h, NULL, NULL), FT_ETREE_FULL);
	t.size = FT_TREE_MAX_SIZE - 1;
	ck_assert_int_eq(ft_tree_append_batch(&t, &h, 2, NULL, NULL),
			 FT_ETREE_FULL);
	ck_assert_uint_eq(t.size, FT_TREE_MAX_SIZE - 1);
}
END_TEST

/* ---- Exhaustive proofs over every small tree. */

#define EXH_MAX 128

static int expect_err(size_t got_len, size_t want_len)
{
	return got_len != want_len ? FT_EPROOF_LEN : FT_EPROOF_ROOT;
}

START_TEST(test_inclusion_exhaustive)
{
	mem_store *m = mem_build(EXH_MAX);
	ft_hash_reader r = {mem_read, m};
	ft_hash roots[EXH_MAX + 1];

	for (uint64_t n = 1; n <= EXH_MAX; n++) {
		root_at(m, n, &roots[n]);
	}
	for (uint64_t n = 1; n <= EXH_MAX; n++) {
		m->size = n;
		for (uint64_t i = 0; i < n; i++) {
			ft_hash proof[FT_PROOF_MAX_INCLUSION + 1];
			ft_hash leaf = m->node[0][i], got;
			size_t np = 0;
			const uint8_t *rt = roots[n].b;

			ck_assert_int_eq(ft_proof_inclusion(i, n, &r, proof, &np),
					 0);
			ck_assert_uint_eq(np, ft_proof_inclusion_len(i, n));
			ck_assert_int_eq(ft_proof_verify_inclusion(
						 i, n, leaf.b, 32, proof[0].b,
						 np * 32, rt, 32),
					 0);
			ck_assert_int_eq(ft_proof_root_from_inclusion(
						 i, n, &leaf, proof, np, &got),
					 0);
			ck_assert(ft_hash_equal(&got, &roots[n]));

			/* Every byte of every proof hash flipped. */
			for (size_t b = 0; b < np * 32; b++) {
				proof[b / 32].b[b % 32] ^= 0x01;
				ck_assert_int_eq(
					ft_proof_verify_inclusion(
						i, n, leaf.b, 32, proof[0].b,
						np * 32, rt, 32),
					FT_EPROOF_ROOT);
				proof[b / 32].b[b % 32] ^= 0x01;
			}
			/* Leaf and root flipped. */
			for (size_t b = 0; b < 32; b++) {
				ft_hash bad = leaf;
				bad.b[b] ^= 0x80;
				ck_assert_int_eq(
					ft_proof_verify_inclusion(
						i, n, bad.b, 32, proof[0].b,
						np * 32, rt, 32),
					FT_EPROOF_ROOT);
				bad = roots[n];
				bad.b[b] ^= 0x80;
				ck_assert_int_eq(
					ft_proof_verify_inclusion(
						i, n, leaf.b, 32, proof[0].b,
						np * 32, bad.b, 32),
					FT_EPROOF_ROOT);
			}
			/* One hash added, one removed, a partial hash. */
			proof[np] = proof[0];
			ck_assert_int_eq(ft_proof_verify_inclusion(
						 i, n, leaf.b, 32, proof[0].b,
						 (np + 1) * 32, rt, 32),
					 FT_EPROOF_LEN);
			if (np > 0) {
				ck_assert_int_eq(
					ft_proof_verify_inclusion(
						i, n, leaf.b, 32, proof[0].b,
						(np - 1) * 32, rt, 32),
					FT_EPROOF_LEN);
				ck_assert_int_eq(
					ft_proof_verify_inclusion(
						i, n, leaf.b, 32, proof[0].b,
						np * 32 - 1, rt, 32),
					FT_EPROOF_LEN);
			}
			/* Wrong index: another leaf's position. */
			for (uint64_t j = 0; j < n; j++) {
				if (j == i ||
				    ft_hash_equal(&m->node[0][j], &leaf)) {
					continue;
				}
				ck_assert_int_eq(
					ft_proof_verify_inclusion(
						j, n, leaf.b, 32, proof[0].b,
						np * 32, rt, 32),
					expect_err(np,
						   ft_proof_inclusion_len(j, n)));
			}
			/* Wrong size, out of range index. */
			if (n + 1 <= EXH_MAX) {
				ck_assert_int_eq(
					ft_proof_verify_inclusion(
						i, n + 1, leaf.b, 32,
						proof[0].b, np * 32,
						roots[n + 1].b, 32),
					expect_err(np, ft_proof_inclusion_len(
							       i, n + 1)));
			}
			ck_assert_int_eq(ft_proof_verify_inclusion(
						 n, n, leaf.b, 32, proof[0].b,
						 np * 32, rt, 32),
					 FT_EPROOF_RANGE);
			ck_assert_int_eq(ft_proof_verify_inclusion(
						 i, n, leaf.b, 31, proof[0].b,
						 np * 32, rt, 32),
					 FT_EHASHLEN);
		}
	}
	free(m);
}
END_TEST

START_TEST(test_consistency_exhaustive)
{
	mem_store *m = mem_build(EXH_MAX);
	ft_hash_reader r = {mem_read, m};
	ft_hash roots[EXH_MAX + 1];

	for (uint64_t n = 1; n <= EXH_MAX; n++) {
		root_at(m, n, &roots[n]);
	}
	for (uint64_t n = 1; n <= EXH_MAX; n++) {
		m->size = n;
		for (uint64_t k = 1; k <= n; k++) {
			ft_hash proof[FT_PROOF_MAX_CONSISTENCY + 1];
			size_t np = 0;
			const uint8_t *r1 = roots[k].b, *r2 = roots[n].b;

			ck_assert_int_eq(ft_proof_consistency(k, n, &r, proof, &np),
					 0);
			ck_assert_uint_eq(np, ft_proof_consistency_len(k, n));
			ck_assert_int_eq(ft_proof_verify_consistency(
						 k, n, r1, 32, r2, 32,
						 proof[0].b, np * 32),
					 0);
			if (k == n) {
				ck_assert_uint_eq(np, 0);
				continue;
			}
			for (size_t b = 0; b < np * 32; b++) {
				proof[b / 32].b[b % 32] ^= 0x01;
				ck_assert_int_eq(
					ft_proof_verify_consistency(
						k, n, r1, 32, r2, 32,
						proof[0].b, np * 32),
					FT_EPROOF_ROOT);
				proof[b / 32].b[b % 32] ^= 0x01;
			}
			/* Either root altered. */
			ck_assert_int_eq(ft_proof_verify_consistency(
						 k, n, r2, 32, r2, 32,
						 proof[0].b, np * 32),
					 FT_EPROOF_ROOT);
			ck_assert_int_eq(ft_proof_verify_consistency(
						 k, n, r1, 32, r1, 32,
						 proof[0].b, np * 32),
					 FT_EPROOF_ROOT);
			proof[np] = proof[0];
			ck_assert_int_eq(ft_proof_verify_consistency(
						 k, n, r1, 32, r2, 32,
						 proof[0].b, (np + 1) * 32),
					 FT_EPROOF_LEN);
			if (np > 0) {
				ck_assert_int_eq(
					ft_proof_verify_consistency(
						k, n, r1, 32, r2, 32,
						proof[0].b, (np - 1) * 32),
					FT_EPROOF_LEN);
			}
			/* Wrong sizes with the right roots' sizes' proof. */
			if (k > 1) {
				ck_assert_int_eq(
					ft_proof_verify_consistency(
						k - 1, n, roots[k - 1].b, 32,
						r2, 32,
						proof[0].b, np * 32),
					expect_err(np, ft_proof_consistency_len(
							       k - 1, n)));
			}
			/* (The claimed sizes come with their own roots:
			 * sizes are only bound by the signed checkpoint.) */
			if (n < EXH_MAX) {
				ck_assert_int_eq(
					ft_proof_verify_consistency(
						k, n + 1, r1, 32,
						roots[n + 1].b, 32,
						proof[0].b, np * 32),
					expect_err(np, ft_proof_consistency_len(
							       k, n + 1)));
			}
			ck_assert_int_eq(ft_proof_verify_consistency(
						 n, k, r2, 32, r1, 32,
						 proof[0].b, np * 32),
					 FT_EPROOF_RANGE);
			ck_assert_int_eq(ft_proof_verify_consistency(
						 0, n, r1, 32, r2, 32,
						 proof[0].b, np * 32),
					 FT_EPROOF_RANGE);
			ck_assert_int_eq(ft_proof_verify_consistency(
						 k, n, r1, 33, r2, 32,
						 proof[0].b, np * 32),
					 FT_EHASHLEN);
		}
	}
	free(m);
}
END_TEST

/* Proof generation asks for stored nodes only, and a failing reader's
 * error comes back unchanged. */
static int failing_read(void *ctx, const ft_node_id *ids, size_t n,
			ft_hash *out)
{
	(void)ctx;
	(void)ids;
	(void)n;
	(void)out;
	return FT_EREAD;
}

START_TEST(test_reader_errors)
{
	ft_hash_reader r = {failing_read, NULL};
	ft_hash proof[FT_PROOF_MAX_CONSISTENCY], root;
	size_t n;
	ft_tree t;

	ck_assert_int_eq(ft_proof_inclusion(3, 10, &r, proof, &n), FT_EREAD);
	ck_assert_int_eq(ft_proof_consistency(3, 10, &r, proof, &n), FT_EREAD);
	ck_assert_int_eq(ft_tree_hash_at(10, &r, &root), FT_EREAD);
	ck_assert_int_eq(ft_tree_load(&t, 10, &r), FT_EREAD);
	ck_assert_int_eq(ft_proof_inclusion(10, 10, &r, proof, &n),
			 FT_EPROOF_RANGE);
	ck_assert_int_eq(ft_proof_consistency(0, 10, &r, proof, &n),
			 FT_EPROOF_RANGE);
	ck_assert_int_eq(ft_proof_consistency(11, 10, &r, proof, &n),
			 FT_EPROOF_RANGE);
}
END_TEST

/* ---- Huge trees through a synthetic reader: bounds hold at 2^63 - 1. */

/*
 * A consistent store of a huge tree whose leaves are all the same entry:
 * every node at level l has the same hash N_l, N_(l+1) = H(N_l, N_l).
 */
static ft_hash synth_level[64];

static void synth_init(void)
{
	ft_merkle_leaf_hash((const uint8_t *)"ftlog", 5, &synth_level[0]);
	for (int l = 1; l < 64; l++) {
		ft_merkle_node_hash(&synth_level[l - 1], &synth_level[l - 1],
				    &synth_level[l]);
	}
}

static int synth_read(void *ctx, const ft_node_id *ids, size_t n, ft_hash *out)
{
	(void)ctx;
	for (size_t i = 0; i < n; i++) {
		ck_assert_uint_lt(ids[i].level, 63);
		out[i] = synth_level[ids[i].level];
	}
	return 0;
}

START_TEST(test_huge_trees)
{
	ft_hash_reader r = {synth_read, NULL};
	synth_init();
	static const uint64_t sizes[] = {
		1000000000ull, (1ull << 40) + 12345, FT_TREE_MAX_SIZE,
		FT_TREE_MAX_SIZE - 1, 1ull << 62};

	for (size_t s = 0; s < sizeof sizes / sizeof sizes[0]; s++) {
		uint64_t n = sizes[s];
		uint64_t idx[] = {0, 1, n / 2, n - 2, n - 1};
		ft_hash root, proof[FT_PROOF_MAX_CONSISTENCY];
		size_t np;

		ck_assert_int_eq(ft_tree_hash_at(n, &r, &root), 0);
		for (size_t i = 0; i < 5; i++) {
			ft_hash leaf;
			ft_node_id id = {idx[i], 0};
			ck_assert_int_eq(synth_read(NULL, &id, 1, &leaf), 0);
			ck_assert_int_eq(
				ft_proof_inclusion(idx[i], n, &r, proof, &np), 0);
			ck_assert_uint_le(np, FT_PROOF_MAX_INCLUSION);
			ck_assert_int_eq(ft_proof_verify_inclusion(
						 idx[i], n, leaf.b, 32,
						 proof[0].b, np * 32, root.b,
						 32),
					 0);
			if (idx[i] == 0) {
				continue;
			}
			ft_hash old;
			ck_assert_int_eq(ft_tree_hash_at(idx[i], &r, &old), 0);
			ck_assert_int_eq(ft_proof_consistency(idx[i], n, &r,
							      proof, &np),
					 0);
			ck_assert_uint_le(np, FT_PROOF_MAX_CONSISTENCY);
			ck_assert_int_eq(ft_proof_verify_consistency(
						 idx[i], n, old.b, 32, root.b,
						 32, proof[0].b, np * 32),
					 0);
		}
	}
	/* Sizes beyond the cap are refused before any arithmetic. */
	ft_hash h = {{0}};
	ck_assert_int_eq(ft_proof_verify_inclusion(0, FT_TREE_MAX_SIZE + 1,
						   h.b, 32, NULL, 0, h.b, 32),
			 FT_EPROOF_RANGE);
	ck_assert_int_eq(ft_proof_verify_consistency(1, UINT64_MAX, h.b, 32,
						     h.b, 32, NULL, 0),
			 FT_EPROOF_RANGE);
}
END_TEST

START_TEST(test_errors_table)
{
	ck_assert_str_eq(ft_strerror(FT_OK), "success");
	ck_assert_str_eq(ft_errname(FT_EPROOF_ROOT), "FT_EPROOF_ROOT");
	ck_assert_str_eq(ft_strerror(-9999), "unknown error");
	for (int e = 0; e > -100; e--) {
		ck_assert_ptr_nonnull(ft_strerror(e));
		ck_assert_ptr_nonnull(ft_errname(e));
	}
}
END_TEST

START_TEST(test_base64_and_numbers)
{
	uint8_t out[64];
	char enc[64];
	size_t n;
	uint64_t v;

	for (size_t len = 0; len < 40; len++) {
		uint8_t in[40];
		for (size_t i = 0; i < len; i++) {
			in[i] = (uint8_t)(i * 97 + len);
		}
		/* Exact-size output buffer works (no room for a NUL). */
		size_t el = ft_b64_enclen(len);
		char exact[64];
		ck_assert_int_eq(ft_b64_encode(in, len, exact, el, &n), 0);
		ck_assert_uint_eq(n, el);
		ck_assert_int_eq(ft_b64_encode(in, len, enc, sizeof enc, &n), 0);
		ck_assert_mem_eq(exact, enc, el);
		ck_assert_int_eq(ft_b64_decode(enc, n, out, sizeof out, &n), 0);
		ck_assert_uint_eq(n, len);
		ck_assert_mem_eq(out, in, len);
		if (el > 0) {
			ck_assert_int_eq(ft_b64_encode(in, len, enc, el - 1, &n),
					 FT_EBUFSIZE);
		}
	}
	ck_assert_int_eq(ft_b64_decode("AAE", 3, out, sizeof out, &n),
			 FT_EBASE64);
	ck_assert_int_eq(ft_b64_decode("AAF=", 4, out, sizeof out, &n),
			 FT_EBASE64); /* non-zero trailing bits */
	ck_assert_int_eq(ft_b64_decode("AA E", 4, out, sizeof out, &n),
			 FT_EBASE64);
	ck_assert_int_eq(ft_b64_decode("AA-_", 4, out, sizeof out, &n),
			 FT_EBASE64); /* URL-safe alphabet is not standard */
	ck_assert_int_eq(ft_b64_decode("AAAA", 4, out, 2, &n), FT_EBUFSIZE);
	ck_assert_int_eq(ft_b64_decode("A=AA", 4, out, sizeof out, &n),
			 FT_EBASE64);
	ck_assert_int_eq(ft_b64_decode("AA=A", 4, out, sizeof out, &n),
			 FT_EBASE64);
	/* Every byte outside the alphabet, at every position. */
	for (int ch = 0; ch < 256; ch++) {
		if ((ch >= 'A' && ch <= 'Z') || (ch >= 'a' && ch <= 'z') ||
		    (ch >= '0' && ch <= '9') || ch == '+' || ch == '/' ||
		    ch == '=') {
			continue;
		}
		for (int pos = 0; pos < 4; pos++) {
			char in[5] = "QUJD";
			in[pos] = (char)ch;
			ck_assert_int_eq(ft_b64_decode(in, 4, out, sizeof out, &n),
					 FT_EBASE64);
		}
	}
	ck_assert_int_eq(ft_b64_decode("", 0, out, 0, &n), 0);
	ck_assert_uint_eq(n, 0);

	ck_assert_int_eq(ft_parse_u63("0", 1, &v), 0);
	ck_assert_uint_eq(v, 0);
	ck_assert_int_eq(ft_parse_u63("9223372036854775807", 19, &v), 0);
	ck_assert_uint_eq(v, INT64_MAX);
	ck_assert_int_eq(ft_parse_u63("9223372036854775808", 19, &v),
			 FT_ENUMBER);
	ck_assert_int_eq(ft_parse_u63("01", 2, &v), FT_ENUMBER);
	ck_assert_int_eq(ft_parse_u63("", 0, &v), FT_ENUMBER);
	ck_assert_int_eq(ft_parse_u63("+1", 2, &v), FT_ENUMBER);
	ck_assert_int_eq(ft_parse_u63("1 ", 2, &v), FT_ENUMBER);
	ck_assert_int_eq(ft_parse_u63("12345678901234567890", 20, &v),
			 FT_ENUMBER);
}
END_TEST

static Suite *merkle_suite(void)
{
	Suite *s = suite_create("merkle");
	TCase *tc = tcase_create("core");

	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, test_known_roots);
	tcase_add_test(tc, test_empty_root);
	tcase_add_test(tc, test_tree_roots_and_load);
	tcase_add_test(tc, test_batch_equals_single_and_is_atomic);
	tcase_add_test(tc, test_tree_full);
	tcase_add_test(tc, test_reader_errors);
	tcase_add_test(tc, test_huge_trees);
	tcase_add_test(tc, test_errors_table);
	tcase_add_test(tc, test_base64_and_numbers);
	suite_add_tcase(s, tc);

	TCase *ex = tcase_create("exhaustive");
	tcase_set_timeout(ex, 300);
	tcase_add_test(ex, test_inclusion_exhaustive);
	tcase_add_test(ex, test_consistency_exhaustive);
	suite_add_tcase(s, ex);
	return s;
}

int main(void)
{
	return tu_run_suite(merkle_suite());
}
