/*
 * tests/test_vectors.c - every RFC 6962/9162 proof vector of
 * ../shared/vectors/merkle/ (transparency-dev/merkle testdata), read at
 * run time: 98 inclusion and 98 consistency cases.
 *
 * Roots and leaf hashes come as base64 that may not be 32 bytes ("don't
 * care" values); they are handed to the verifiers as they are, which check
 * lengths (after the size1 == size2 rule, as the vectors require).
 */
#define _GNU_SOURCE
#include <ftw.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include <ftlog/merkle.h>

#include "tests/testutil.h"

typedef struct blob {
	uint8_t b[4096];
	size_t n;
} blob;

/* Decode a base64 JSON string (or null) into a blob. */
static void b64_field(json_t *v, blob *out, const char *file)
{
	out->n = 0;
	if (json_is_null(v)) {
		return;
	}
	ck_assert_msg(json_is_string(v), "%s: not a string", file);
	const char *s = json_string_value(v);
	ck_assert_msg(ft_b64_decode(s, strlen(s), out->b, sizeof out->b,
				    &out->n) == 0,
		      "%s: bad base64 %s", file, s);
}

/* The proof array, concatenated; *all32 says whether each was 32 bytes. */
static void proof_field(json_t *v, blob *out, int *all32, const char *file)
{
	size_t i;
	json_t *e;

	out->n = 0;
	*all32 = 1;
	if (json_is_null(v)) {
		return;
	}
	ck_assert_msg(json_is_array(v), "%s: proof not an array", file);
	json_array_foreach(v, i, e)
	{
		blob h;
		b64_field(e, &h, file);
		if (h.n != FT_HASH_LEN) {
			*all32 = 0;
		}
		ck_assert_uint_le(out->n + h.n, sizeof out->b);
		memcpy(out->b + out->n, h.b, h.n);
		out->n += h.n;
	}
}

/*
 * Sizes and indexes go up to 2^64 - 1 in the vectors, beyond what jansson
 * represents (int64): read them from the file text instead. The JSON
 * itself is loaded with JSON_DECODE_INT_AS_REAL for the same reason.
 */
static uint64_t u64_field(json_t *o, const char *k, const char *file)
{
	char key[64];
	size_t len;
	char *txt = (char *)tu_read_file(file, &len);

	(void)o;
	ck_assert_ptr_nonnull(txt);
	snprintf(key, sizeof key, "\"%s\":", k);
	char *p = strstr(txt, key);
	ck_assert_msg(p != NULL, "%s: no %s", file, k);
	p += strlen(key);
	while (*p == ' ') {
		p++;
	}
	ck_assert_msg(*p >= '0' && *p <= '9', "%s: %s", file, k);
	errno = 0;
	char *end;
	unsigned long long v = strtoull(p, &end, 10);
	ck_assert_msg(errno == 0 && (*end == ',' || *end == '\n' || *end == '}'),
		      "%s: %s", file, k);
	free(txt);
	return (uint64_t)v;
}

typedef int (*case_fn)(json_t *o, const char *file);

static int run_inclusion(json_t *o, const char *file)
{
	blob leaf, root, proof;
	int all32;

	b64_field(json_object_get(o, "leafHash"), &leaf, file);
	b64_field(json_object_get(o, "root"), &root, file);
	proof_field(json_object_get(o, "proof"), &proof, &all32, file);
	/* Proofs reach the verifier as a list of 32-byte hashes: every ftlog
	 * parser of proof lines (ft_tlog_proof_parse, the HTTP client)
	 * rejects a line that is not one, as here. */
	if (!all32) {
		return FT_EHASHLEN;
	}
	return ft_proof_verify_inclusion(
		u64_field(o, "leafIdx", file), u64_field(o, "treeSize", file),
		leaf.b, leaf.n, proof.b, proof.n, root.b, root.n);
}

static int run_consistency(json_t *o, const char *file)
{
	blob r1, r2, proof;
	int all32;

	b64_field(json_object_get(o, "root1"), &r1, file);
	b64_field(json_object_get(o, "root2"), &r2, file);
	proof_field(json_object_get(o, "proof"), &proof, &all32, file);
	if (!all32) {
		return FT_EHASHLEN; /* as above */
	}
	int rc = ft_proof_verify_consistency(u64_field(o, "size1", file),
					     u64_field(o, "size2", file), r1.b,
					     r1.n, r2.b, r2.n, proof.b, proof.n);
	if (u64_field(o, "size1", file) == 0) {
		ck_assert_int_eq(rc, FT_EPROOF_RANGE);
	}
	return rc;
}

/* Run every *.json below dir, at any depth; return the number of cases. */
static case_fn walk_fn;
static int walk_cases;

static int walk_one(const char *path, const struct stat *st, int flag,
		    struct FTW *ftw)
{
	size_t l = strlen(path);
	json_error_t err;

	(void)st;
	(void)ftw;
	if (flag != FTW_F || l < 5 || strcmp(path + l - 5, ".json") != 0) {
		return 0;
	}
	json_t *o = json_load_file(path, JSON_DECODE_INT_AS_REAL, &err);
	ck_assert_msg(o != NULL, "%s: %s", path, err.text);
	json_t *want = json_object_get(o, "wantErr");
	ck_assert_msg(json_is_boolean(want), "%s: wantErr", path);
	int rc = walk_fn(o, path);
	if (json_is_true(want)) {
		ck_assert_msg(rc != 0, "%s: accepted, want an error", path);
	} else {
		ck_assert_msg(rc == 0, "%s: rejected: %s", path,
			      ft_strerror(rc));
	}
	json_decref(o);
	walk_cases++;
	return 0;
}

static int run_dir(const char *dir, case_fn fn)
{
	walk_fn = fn;
	walk_cases = 0;
	ck_assert_msg(nftw(dir, walk_one, 16, FTW_PHYS) == 0,
		      "cannot walk %s (FTLOG_VECTORS?)", dir);
	return walk_cases;
}

START_TEST(test_inclusion_vectors)
{
	char dir[4096];

	snprintf(dir, sizeof dir, "%s/merkle/inclusion", tu_vectors_dir());
	ck_assert_int_eq(run_dir(dir, run_inclusion), 98);
}
END_TEST

START_TEST(test_consistency_vectors)
{
	char dir[4096];

	snprintf(dir, sizeof dir, "%s/merkle/consistency", tu_vectors_dir());
	ck_assert_int_eq(run_dir(dir, run_consistency), 98);
}
END_TEST

/* The happy-path proofs must also be exactly what ftlog generates for the
 * same tree: rebuild the tree of the known leaves and compare. */
static const char *leaves_hex[] = {
	"", "00", "10", "2021", "3031", "40414243", "5051525354555657",
	"606162636465666768696a6b6c6d6e6f",
};

typedef struct small_store {
	ft_hash node[8][8];
} small_store;

static int small_node(void *ctx, unsigned level, uint64_t index,
		      const ft_hash *h)
{
	small_store *s = ctx;
	s->node[level][index] = *h;
	return 0;
}

static int small_read(void *ctx, const ft_node_id *ids, size_t n, ft_hash *out)
{
	small_store *s = ctx;
	for (size_t i = 0; i < n; i++) {
		out[i] = s->node[ids[i].level][ids[i].index];
	}
	return 0;
}

START_TEST(test_happy_paths_regenerate)
{
	static const char *files[] = {"0", "1", "2", "3", "4"};
	small_store st;
	ft_tree t;
	ft_hash_reader r = {small_read, &st};

	memset(&st, 0, sizeof st);
	ft_tree_init(&t);
	for (int i = 0; i < 8; i++) {
		uint8_t e[16];
		size_t n = strlen(leaves_hex[i]) / 2;
		ft_hash h;
		ck_assert_int_eq(tu_hex_decode(leaves_hex[i], e, n), 0);
		ft_merkle_leaf_hash(e, n, &h);
		ck_assert_int_eq(ft_tree_append(&t, &h, small_node, &st), 0);
	}
	for (size_t i = 0; i < sizeof files / sizeof files[0]; i++) {
		char path[4096];
		json_error_t err;
		blob proof;
		int all32;
		ft_hash gen[FT_PROOF_MAX_INCLUSION];
		size_t ngen;

		snprintf(path, sizeof path, "%s/merkle/inclusion/%s/happy-path.json",
			 tu_vectors_dir(), files[i]);
		json_t *o = json_load_file(path, JSON_DECODE_INT_AS_REAL, &err);
		ck_assert_msg(o != NULL, "%s: %s", path, err.text);
		proof_field(json_object_get(o, "proof"), &proof, &all32, path);
		uint64_t idx = u64_field(o, "leafIdx", path);
		uint64_t size = u64_field(o, "treeSize", path);
		ck_assert_uint_le(size, 8);
		ck_assert_int_eq(ft_proof_inclusion(idx, size, &r, gen, &ngen), 0);
		ck_assert_uint_eq(ngen * 32, proof.n);
		ck_assert_mem_eq(gen, proof.b, proof.n);
		json_decref(o);
	}
}
END_TEST

static Suite *vectors_suite(void)
{
	Suite *s = suite_create("vectors");
	TCase *tc = tcase_create("merkle");

	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, test_inclusion_vectors);
	tcase_add_test(tc, test_consistency_vectors);
	tcase_add_test(tc, test_happy_paths_regenerate);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	return tu_run_suite(vectors_suite());
}
