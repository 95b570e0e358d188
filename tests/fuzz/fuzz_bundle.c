/*
 * tests/fuzz/fuzz_bundle.c - C2SP tlog-tiles entry bundles from outside.
 *
 * Invariants, checked with __builtin_trap():
 *  - ft_bundle_next yields entries that lie inside the input, back to back,
 *    and ends cleanly exactly when they cover the input;
 *  - ft_bundle_check accepts exactly the entry count the iterator found on
 *    a clean bundle, and nothing on a broken one;
 *  - ft_bundle_append rebuilds the input byte for byte;
 *  - the Merkle tree over the entries is the same whether the leaves are
 *    appended one at a time or in one batch, and, for a full tile of
 *    hashes (8192 bytes), ft_tile_hash equals the tree over its hashes.
 */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <ftlog/merkle.h>
#include <ftlog/tile.h>

#include "fuzz_common.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Every entry takes at least 2 bytes; max_len is well below this. */
#define MAX_ENTRIES 65536

static ft_hash g_leaves[MAX_ENTRIES];
static uint8_t g_buf[2 * MAX_ENTRIES + 65536];

static void check_tile_hash(const uint8_t *data, size_t size)
{
	ft_hash h, root;
	ft_tree t;

	int rc = ft_tile_hash(data, size, &h);
	if (size != FT_TILE_BYTES) {
		FUZZ_CHECK(rc == FT_ETILE_SIZE);
		return;
	}
	FUZZ_CHECK(rc == 0);
	ft_tree_init(&t);
	FUZZ_CHECK(ft_tree_append_batch(&t, (const ft_hash *)(const void *)data,
					FT_TILE_WIDTH, NULL, NULL) == 0);
	ft_tree_root(&t, &root);
	FUZZ_CHECK(memcmp(h.b, root.b, FT_HASH_LEN) == 0);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	ft_bundle_iter it;
	const uint8_t *e = NULL;
	size_t elen = 0, off = 0, blen = 0;
	unsigned n = 0;
	int rc;

	ft_bundle_iter_init(&it, data, size);
	while ((rc = ft_bundle_next(&it, &e, &elen)) == 1) {
		FUZZ_CHECK(n < MAX_ENTRIES);
		FUZZ_CHECK(elen <= FT_ENTRY_MAX);
		FUZZ_CHECK(e == data + off + 2 && off + 2 + elen <= size);
		FUZZ_CHECK(elen == ((size_t)data[off] << 8 | data[off + 1]));
		FUZZ_CHECK(ft_bundle_append(g_buf, sizeof g_buf, &blen, e,
					    elen) == 0);
		ft_merkle_leaf_hash(e, elen, &g_leaves[n]);
		off += 2 + elen;
		n++;
	}
	FUZZ_CHECK(rc == 0 || rc == FT_EBUNDLE);
	/* Nothing comes after the end, clean or not. */
	int again = ft_bundle_next(&it, &e, &elen);
	FUZZ_CHECK(rc == 0 ? again == 0 : again != 1);

	if (rc == 0) {
		FUZZ_CHECK(off == size);
		FUZZ_CHECK(blen == size && memcmp(g_buf, data, size) == 0);
		FUZZ_CHECK(ft_bundle_check(data, size, n) == 0);
		FUZZ_CHECK(ft_bundle_check(data, size, n + 1) == FT_EBUNDLE);
		if (n > 0) {
			FUZZ_CHECK(ft_bundle_check(data, size, n - 1) ==
				   FT_EBUNDLE);
		}
	} else {
		FUZZ_CHECK(off < size);
		FUZZ_CHECK(ft_bundle_check(data, size, n) == FT_EBUNDLE);
		FUZZ_CHECK(ft_bundle_check(data, size, n + 1) == FT_EBUNDLE);
	}

	/* The tree over the entries: one at a time equals one batch. */
	ft_tree t1, t2;
	ft_hash r1, r2;
	ft_tree_init(&t1);
	ft_tree_init(&t2);
	for (unsigned i = 0; i < n; i++) {
		FUZZ_CHECK(ft_tree_append(&t1, &g_leaves[i], NULL, NULL) == 0);
	}
	FUZZ_CHECK(ft_tree_append_batch(&t2, g_leaves, n, NULL, NULL) == 0);
	FUZZ_CHECK(t1.size == n && t2.size == n);
	ft_tree_root(&t1, &r1);
	ft_tree_root(&t2, &r2);
	FUZZ_CHECK(ft_hash_equal(&r1, &r2) == 1);

	check_tile_hash(data, size);
	return 0;
}
