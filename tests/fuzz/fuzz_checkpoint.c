/*
 * tests/fuzz/fuzz_checkpoint.c - C2SP tlog-checkpoint texts from outside.
 *
 * The input is parsed with ft_checkpoint_parse as a bare checkpoint text;
 * if it looks like a signed note, its text part (up to the last blank line)
 * is parsed too, and the note is opened with the fixed log key the seed
 * corpus is signed with. Invariants, checked with __builtin_trap():
 *  - a parsed checkpoint formats back to exactly the input bytes;
 *  - the origin is the first line, extensions point to the tail of the
 *    input, want_origin matching works both ways;
 *  - a failed parse leaves its output untouched (or cleared).
 */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <ftlog/note.h>

#include "fuzz_common.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static ft_skey g_sk[FUZZ_NKEYS];
static ft_vkey g_vk[FUZZ_NKEYS];

static void init_once(void)
{
	static bool done;

	if (!done) {
		fuzz_keys(g_sk, g_vk);
		done = true;
	}
}

static void check_parse(const uint8_t *text, size_t len, const char *want,
			size_t want_len)
{
	static uint8_t buf[FT_NOTE_MAX_BYTES + 1024];
	ft_checkpoint cp, cp2;
	size_t n = 0;

	memset(&cp, 0xa5, sizeof cp);
	int rc = ft_checkpoint_parse(text, len, want, want_len, &cp);
	FUZZ_CHECK(rc <= 0);
	if (rc != 0) {
		FUZZ_CHECK_UNTOUCHED(&cp, 0xa5);
		FUZZ_CHECK(want != NULL || rc != FT_ECKPT_ORIGIN);
		return;
	}

	/* The origin is the first line. */
	FUZZ_CHECK(cp.origin_len > 0 && cp.origin_len <= FT_KEY_NAME_MAX);
	FUZZ_CHECK(cp.origin_len < len && text[cp.origin_len] == '\n');
	FUZZ_CHECK(memcmp(cp.origin, text, cp.origin_len) == 0);
	FUZZ_CHECK(cp.origin[cp.origin_len] == '\0');
	FUZZ_CHECK(cp.size <= FT_TREE_MAX_SIZE);
	if (want != NULL) {
		FUZZ_CHECK(want_len == cp.origin_len &&
			   memcmp(want, cp.origin, want_len) == 0);
	}

	/* Extensions, if any, are the non-empty tail of the input. */
	FUZZ_CHECK((cp.ext == NULL) == (cp.ext_len == 0));
	if (cp.ext != NULL) {
		FUZZ_CHECK(cp.ext > text && cp.ext + cp.ext_len == text + len);
		FUZZ_CHECK(cp.ext[0] != '\n' && cp.ext[cp.ext_len - 1] == '\n');
	}

	/* Byte-identical round trip, and a clean refusal when short. */
	FUZZ_CHECK(ft_checkpoint_format(&cp, buf, sizeof buf, &n) == 0);
	FUZZ_CHECK(n == len && memcmp(buf, text, len) == 0);
	FUZZ_CHECK(ft_checkpoint_format(&cp, buf, len - 1, &n) == FT_EBUFSIZE);

	/* Without extensions it is the first three lines. */
	cp2 = cp;
	cp2.ext = NULL;
	cp2.ext_len = 0;
	FUZZ_CHECK(ft_checkpoint_format(&cp2, buf, sizeof buf, &n) == 0);
	FUZZ_CHECK(n == len - cp.ext_len && memcmp(buf, text, n) == 0);

	/* want_origin: its own origin passes, any other is refused. */
	FUZZ_CHECK(ft_checkpoint_parse(text, len, cp.origin, cp.origin_len,
				       &cp2) == 0);
	FUZZ_CHECK(cp2.size == cp.size &&
		   ft_hash_equal(&cp2.root, &cp.root) == 1);
	FUZZ_CHECK(ft_checkpoint_parse(text, len, cp.origin,
				       cp.origin_len - 1,
				       &cp2) == FT_ECKPT_ORIGIN);
	if (want == NULL) {
		char other[FT_KEY_NAME_MAX + 1];

		memcpy(other, cp.origin, cp.origin_len + 1);
		other[0] = (char)(other[0] ^ 1);
		FUZZ_CHECK(ft_checkpoint_parse(text, len, other, cp.origin_len,
					       &cp2) == FT_ECKPT_ORIGIN);
	}
}

/* Offset just past the text of a signed note (its last "\n\n"), or 0. */
static size_t note_text_end(const uint8_t *data, size_t size)
{
	for (size_t j = size; j >= 2; j--) {
		if (data[j - 2] == '\n' && data[j - 1] == '\n') {
			return j - 1;
		}
	}
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	ft_note_sig st[FUZZ_NKEYS];
	size_t text_len = 0;

	init_once();
	check_parse(data, size, NULL, 0);

	size_t end = note_text_end(data, size);
	if (end == 0) {
		return 0;
	}
	check_parse(data, end, NULL, 0);

	/* The verification path of a client: open, then parse. */
	if (ft_note_open(data, size, g_vk, FUZZ_NKEYS, st, &text_len) == 0 &&
	    st[FUZZ_KEY_LOG].verified) {
		FUZZ_CHECK(text_len == end);
		check_parse(data, text_len, FUZZ_ORIGIN, strlen(FUZZ_ORIGIN));
	}
	return 0;
}
