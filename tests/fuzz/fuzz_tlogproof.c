/*
 * tests/fuzz/fuzz_tlogproof.c - C2SP tlog-proof files from outside.
 *
 * Invariants, checked with __builtin_trap():
 *  - a parsed proof formats back to exactly the input bytes;
 *  - the checkpoint is the non-empty tail of the input; the path has at
 *    most FT_PROOF_MAX_INCLUSION hashes;
 *  - without an extra buffer, a proof with an extra line is FT_EBUFSIZE
 *    and one without parses the same;
 *  - a failed parse leaves its output untouched (or cleared).
 * Then it follows a device: open the checkpoint with the fixed log key,
 * parse it, and verify the inclusion of the extra entry (the seed corpus
 * holds genuine proofs, so this path is reached).
 */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <ftlog/note.h>
#include <ftlog/tile.h>
#include <ftlog/tlogproof.h>

#include "fuzz_common.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static ft_skey g_sk[FUZZ_NKEYS];
static ft_vkey g_vk[FUZZ_NKEYS];
static uint8_t g_extra[FT_ENTRY_MAX + 1];
static uint8_t g_out[FT_TLOG_PROOF_MAX + 1024];
static ft_tlog_proof g_p, g_p2;

static void init_once(void)
{
	static bool done;

	if (!done) {
		fuzz_keys(g_sk, g_vk);
		done = true;
	}
}

static void verify_like_a_device(const ft_tlog_proof *p)
{
	ft_note_sig st[FUZZ_NKEYS];
	ft_checkpoint cp;
	ft_hash leaf;
	size_t text_len = 0;

	if (ft_note_open(p->checkpoint, p->checkpoint_len, g_vk, FUZZ_NKEYS,
			 st, &text_len) != 0 ||
	    !st[FUZZ_KEY_LOG].verified) {
		return;
	}
	if (ft_checkpoint_parse(p->checkpoint, text_len, FUZZ_ORIGIN,
				strlen(FUZZ_ORIGIN), &cp) != 0) {
		return;
	}
	if (!p->has_extra) {
		return;
	}
	ft_merkle_leaf_hash(g_extra, p->extra_len, &leaf);
	int rc = ft_proof_verify_inclusion(p->index, cp.size, leaf.b,
					   sizeof leaf.b,
					   (const uint8_t *)p->path,
					   p->path_len * FT_HASH_LEN,
					   cp.root.b, sizeof cp.root.b);
	FUZZ_CHECK(rc <= 0);
	if (rc == 0) {
		FUZZ_CHECK(p->index < cp.size);
		FUZZ_CHECK(p->path_len ==
			   ft_proof_inclusion_len(p->index, cp.size));
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	size_t n = 0;

	init_once();
	memset(&g_p, 0xa5, sizeof g_p);
	int rc = ft_tlog_proof_parse(data, size, &g_p, g_extra, sizeof g_extra);
	FUZZ_CHECK(rc <= 0);
	if (rc != 0) {
		FUZZ_CHECK_UNTOUCHED(&g_p, 0xa5);
		return 0;
	}
	FUZZ_CHECK(size <= FT_TLOG_PROOF_MAX);
	FUZZ_CHECK(g_p.has_extra == 0 || g_p.has_extra == 1);
	FUZZ_CHECK(g_p.has_extra ? g_p.extra_len > 0 : g_p.extra_len == 0);
	FUZZ_CHECK(g_p.extra_len <= sizeof g_extra);
	FUZZ_CHECK(g_p.path_len <= FT_PROOF_MAX_INCLUSION);
	FUZZ_CHECK(g_p.index <= FT_TREE_MAX_SIZE);
	FUZZ_CHECK(g_p.checkpoint_len > 0 && g_p.checkpoint > data &&
		   g_p.checkpoint + g_p.checkpoint_len == data + size);

	/* Byte-identical round trip. */
	rc = ft_tlog_proof_format(g_p.has_extra ? g_extra : NULL, g_p.extra_len,
				  g_p.index, g_p.path, g_p.path_len,
				  g_p.checkpoint, g_p.checkpoint_len, g_out,
				  sizeof g_out, &n);
	FUZZ_CHECK(rc == 0);
	FUZZ_CHECK(n == size && memcmp(g_out, data, size) == 0);

	/* No room for the extra data. */
	rc = ft_tlog_proof_parse(data, size, &g_p2, NULL, 0);
	if (g_p.has_extra) {
		FUZZ_CHECK(rc == FT_EBUFSIZE);
	} else {
		FUZZ_CHECK(rc == 0 && g_p2.index == g_p.index &&
			   g_p2.path_len == g_p.path_len &&
			   g_p2.checkpoint == g_p.checkpoint &&
			   g_p2.checkpoint_len == g_p.checkpoint_len);
		FUZZ_CHECK(memcmp(g_p2.path, g_p.path,
				  g_p.path_len * sizeof g_p.path[0]) == 0);
	}

	verify_like_a_device(&g_p);
	return 0;
}
