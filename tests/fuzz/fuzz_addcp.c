/*
 * tests/fuzz/fuzz_addcp.c - C2SP tlog-witness add-checkpoint bodies and
 * witness answers from outside (merkle/witness.c).
 *
 * Every input is offered to ft_addcp_parse (a request), ft_addcp_parse_size
 * (a 409 body) and ft_addcp_check_cosig (a 200 body, against a fixed
 * checkpoint text and the fixed witness key). A parsed request's note is
 * opened with the fixed log key and parsed as a checkpoint, as the witness
 * does. Invariants, checked with __builtin_trap():
 *  - a failed parse leaves its output cleared;
 *  - a parsed request formats back to exactly the input bytes (one
 *    spelling per request), its note is the tail of the input, non-empty;
 *  - a parsed size formats back to the input ("N\n");
 *  - an accepted cosignature answer holds exactly the line we sign
 *    ourselves for its timestamp (signing is deterministic), and the
 *    answer appended to the signed checkpoint opens with the witness key.
 */
#include <inttypes.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <ftlog/note.h>
#include <ftlog/witness.h>

#include "fuzz_common.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static ft_skey g_sk[FUZZ_NKEYS];
static ft_vkey g_vk[FUZZ_NKEYS];

/* The checkpoint the seed answers cosign: FUZZ_ORIGIN at size 5. */
static const uint8_t g_text[] =
	FUZZ_ORIGIN "\n5\nAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=\n";

static uint8_t g_buf[FT_ADDCP_BODY_MAX + 1];
static uint8_t g_note[FT_NOTE_MAX_BYTES + 2 * FT_NOTE_SIG_LINE_MAX];

static void init_once(void)
{
	static bool done;

	if (!done) {
		fuzz_keys(g_sk, g_vk);
		done = true;
	}
}

static void fuzz_request(const uint8_t *data, size_t size)
{
	static ft_addcp a;
	static const ft_addcp zero;
	size_t len = 0;
	int rc;

	memset(&a, 0xa5, sizeof a);
	rc = ft_addcp_parse(data, size, &a);
	FUZZ_CHECK(rc <= 0);
	if (rc != 0) {
		FUZZ_CHECK(memcmp(&a, &zero, sizeof a) == 0);
		FUZZ_CHECK(rc == FT_EADDCP || rc == FT_ETOOBIG);
		FUZZ_CHECK(rc != FT_ETOOBIG || size > FT_ADDCP_BODY_MAX);
		return;
	}
	FUZZ_CHECK(size <= FT_ADDCP_BODY_MAX);
	FUZZ_CHECK(a.old_size <= FT_TREE_MAX_SIZE);
	FUZZ_CHECK(a.nproof <= FT_ADDCP_PROOF_MAX);
	FUZZ_CHECK(a.note_len >= 1 && a.note == data + size - a.note_len);
	FUZZ_CHECK(memchr(data, '\r', size) == NULL);

	/* One spelling per request: formatting gives the input back. */
	rc = ft_addcp_format(a.old_size, a.proof, a.nproof, a.note,
			     a.note_len, g_buf, sizeof g_buf, &len);
	FUZZ_CHECK(rc == 0);
	FUZZ_CHECK(len == size && memcmp(g_buf, data, size) == 0);

	/* What the witness does next: open the note, parse the text. */
	{
		size_t tlen = 0;
		ft_checkpoint cp;

		if (ft_note_open(a.note, a.note_len, &g_vk[FUZZ_KEY_LOG], 1,
				 NULL, &tlen) == 0) {
			FUZZ_CHECK(tlen > 0 && tlen < a.note_len);
			(void)ft_checkpoint_parse(a.note, tlen, NULL, 0, &cp);
		}
	}
}

static void fuzz_size(const uint8_t *data, size_t size)
{
	uint64_t v = 12345;
	char buf[32];
	int rc = ft_addcp_parse_size(data, size, &v);

	FUZZ_CHECK(rc == 0 || rc == FT_EADDCP);
	if (rc != 0) {
		FUZZ_CHECK(v == 0);
		return;
	}
	FUZZ_CHECK(v <= FT_TREE_MAX_SIZE);
	int n = snprintf(buf, sizeof buf, "%" PRIu64 "\n", v);
	FUZZ_CHECK(n > 0 && (size_t)n == size && memcmp(buf, data, size) == 0);
}

static void fuzz_cosig(const uint8_t *data, size_t size)
{
	char line[FT_NOTE_SIG_LINE_MAX + 1];
	char mine[FT_NOTE_SIG_LINE_MAX + 1];
	const ft_vkey *wit = &g_vk[FUZZ_KEY_WITNESS];
	size_t line_len = 99, n = 0, text_len = 0;
	uint64_t ts = 99;
	int rc;

	rc = ft_addcp_check_cosig(g_text, sizeof g_text - 1, wit, data, size,
				  line, sizeof line, &line_len, &ts);
	FUZZ_CHECK(rc == 0 || rc == FT_EADDCP || rc == FT_ENOTE_NOKEY ||
		   rc == FT_ENOTE_BADSIG);
	if (rc != 0) {
		FUZZ_CHECK(line_len == 0 && ts == 0 && line[0] == '\0');
		return;
	}
	FUZZ_CHECK(ts <= (uint64_t)INT64_MAX);
	FUZZ_CHECK(line_len > 0 && line[line_len] == '\0');
	FUZZ_CHECK(line[line_len - 1] == '\n');
	FUZZ_CHECK(ft_note_sig_line(&g_sk[FUZZ_KEY_WITNESS], g_text,
				    sizeof g_text - 1, ts, mine, sizeof mine,
				    &n) == 0);
	FUZZ_CHECK(n == line_len && memcmp(mine, line, n) == 0);

	/* "the client MAY concatenate it to the checkpoint": the log's
	 * note plus the answer opens with the witness key. */
	size_t lines = 0;
	for (size_t i = 0; i < size; i++) {
		lines += data[i] == '\n';
	}
	if (lines >= FT_NOTE_MAX_SIGS) {
		return; /* with the log's line, too many for a note */
	}
	if (ft_note_sign(g_text, sizeof g_text - 1, &g_sk[FUZZ_KEY_LOG], 1, 0,
			 g_note, sizeof g_note, &n) != 0 ||
	    n + size > FT_NOTE_MAX_BYTES) {
		return;
	}
	memcpy(g_note + n, data, size);
	{
		ft_note_sig st;

		rc = ft_note_open(g_note, n + size, wit, 1, &st, &text_len);
		FUZZ_CHECK(rc == 0 && st.verified == 1 && st.timestamp == ts);
		FUZZ_CHECK(text_len == sizeof g_text - 1);
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	init_once();
	fuzz_request(data, size);
	fuzz_size(data, size);
	fuzz_cosig(data, size);
	return 0;
}
