/*
 * tests/test_full.c - a full store: the real ftlogd with a tiny LMDB map
 * refuses submissions with 503 + Retry-After and a logged reason, stores
 * nothing of the failed batches, keeps serving reads, and takes entries
 * again once it has room (restarted with a larger map), with every
 * acknowledged entry still at its index. The entries are signed events
 * of 16000 bytes (lh_event_exact), made before the server starts.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <check.h>

#include <ftlog/merkle.h>

#include "logd_harness.h"
#include "testutil.h"

#define ENTRY_LEN 16000
#define MAX_ADDS 400

/* Entry i: a signed event of exactly ENTRY_LEN bytes (big, to fill the
 * 2 MiB map quickly). */
static void make_entry(uint8_t *buf, unsigned i)
{
	uint8_t *e = NULL;

	ck_assert_msg(lh_event_exact(i, ENTRY_LEN, &e) == 0,
		      "cannot make event %u", i);
	memcpy(buf, e, ENTRY_LEN);
	free(e);
}

/* The entry with this content is in the log at `index` (size `size`). */
static void assert_logged(const lh_server *s, const uint8_t *entry,
			  uint64_t index, uint64_t size)
{
	ft_hash leaf;
	char hex[65], path[160], want[40];
	lh_resp r;

	ft_merkle_leaf_hash(entry, ENTRY_LEN, &leaf);
	lh_hex(leaf.b, 32, hex);
	(void)snprintf(path, sizeof(path), "/proof/inclusion?leaf=%s&size=%llu",
		       hex, (unsigned long long)size);
	ck_assert_int_eq(lh_http(s->port, "GET", path, NULL, 0, &r), 0);
	ck_assert_int_eq(r.status, 200);
	(void)snprintf(want, sizeof(want), "index %llu\n",
		       (unsigned long long)index);
	ck_assert_msg(strncmp((char *)r.body, want, strlen(want)) == 0,
		      "entry moved: %s", r.body);
	lh_resp_free(&r);
}

START_TEST(test_map_full)
{
	static const char *const small[] = {"--map-size", "2M",
					    "--batch-interval", "20ms", NULL};
	static const char *const big[] = {"--map-size", "64M",
					  "--batch-interval", "20ms", NULL};
	lh_server s;
	uint8_t *entries = malloc((size_t)MAX_ADDS * ENTRY_LEN);
	uint64_t idx[MAX_ADDS];
	unsigned acked = 0, i;
	uint64_t size, size2;
	uint8_t root[32], root2[32];
	char retry[32];
	lh_resp r;
	int full = 0;
	char *log;
	size_t log_len;

	ck_assert_ptr_nonnull(entries);
	for (i = 0; i < MAX_ADDS; i++) {
		make_entry(entries + (size_t)i * ENTRY_LEN, i);
	}
	ck_assert_int_eq(lh_init(&s, "full.example/log"), 0);
	ck_assert_int_eq(lh_start(&s, 0, small), 0);

	for (i = 0; i < MAX_ADDS && !full; i++) {
		uint8_t *e = entries + (size_t)i * ENTRY_LEN;

		ck_assert_int_eq(lh_http(s.port, "POST", "/add", e, ENTRY_LEN,
					 &r),
				 0);
		if (r.status == 200) {
			ck_assert_int_eq(lh_check_tlog_proof(&s, r.body,
							     r.body_len, e,
							     ENTRY_LEN,
							     &idx[acked], NULL,
							     NULL, NULL, NULL),
					 0);
			ck_assert_uint_eq(idx[acked], acked);
			acked++;
		} else {
			ck_assert_int_eq(r.status, 503);
			ck_assert_int_eq(lh_header(&r, "Retry-After", retry,
						   sizeof(retry)),
					 0);
			ck_assert_msg(strstr((char *)r.body, "full") != NULL,
				      "503 reason: %s", r.body);
			full = 1;
		}
		lh_resp_free(&r);
	}
	ck_assert_msg(full, "a 2 MiB map never filled up");
	ck_assert_uint_gt(acked, 0);

	/* Nothing of the failed batch was stored; reads go on. */
	ck_assert_int_eq(lh_checkpoint(&s, &size, root, NULL), 0);
	ck_assert_uint_eq(size, acked);
	ck_assert_int_eq(lh_http(s.port, "GET", "/healthz", NULL, 0, &r), 0);
	ck_assert_int_eq(r.status, 200);
	lh_resp_free(&r);
	assert_logged(&s, entries, 0, size);
	assert_logged(&s, entries + (size_t)(acked - 1) * ENTRY_LEN,
		      acked - 1, size);
	/* Still full: another try is refused the same way. */
	ck_assert_int_eq(lh_http(s.port, "POST", "/add",
				 entries + (size_t)acked * ENTRY_LEN,
				 ENTRY_LEN, &r),
			 0);
	ck_assert_int_eq(r.status, 503);
	lh_resp_free(&r);
	ck_assert_int_eq(lh_stop(&s), 0);
	ck_assert_int_eq(lh_log_clean(&s), 0);
	log = (char *)tu_read_file(s.log, &log_len);
	ck_assert_ptr_nonnull(log);
	ck_assert_msg(strstr(log, "storage is full") != NULL,
		      "no logged reason for the refused batch");
	free(log);

	/* Room again: the same server data, a larger map. */
	ck_assert_int_eq(lh_start(&s, 0, big), 0);
	ck_assert_int_eq(lh_checkpoint(&s, &size2, root2, NULL), 0);
	ck_assert_uint_eq(size2, size);
	ck_assert_mem_eq(root2, root, 32);
	{
		uint8_t *e = entries + (size_t)acked * ENTRY_LEN;
		uint64_t index;

		ck_assert_int_eq(lh_add(s.port, e, ENTRY_LEN, &index, NULL), 0);
		ck_assert_uint_eq(index, acked);
	}
	for (i = 0; i < acked; i++) {
		assert_logged(&s, entries + (size_t)i * ENTRY_LEN, idx[i],
			      acked + 1);
	}
	ck_assert_int_eq(lh_stop(&s), 0);
	ck_assert_int_eq(lh_log_clean(&s), 0);
	lh_cleanup(&s);
	free(entries);
}
END_TEST

static Suite *full_suite(void)
{
	Suite *s = suite_create("full");
	TCase *tc = tcase_create("map_full");

	tcase_add_unchecked_fixture(tc, lh_suite_setup, lh_suite_teardown);
	tcase_set_timeout(tc, 120);
	tcase_add_test(tc, test_map_full);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	return tu_run_suite(full_suite());
}
