/*
 * tests/fuzz/fuzz_state.c - device state files from disk (client/state.c).
 *
 * Every input is offered to ft_state_parse. Invariants, checked with
 * __builtin_trap():
 *  - a failed parse returns FT_ESTATE_CORRUPT (FT_ETOOBIG only above
 *    FT_STATE_FILE_MAX), leaves *out untouched and writes a one-line,
 *    NUL-terminated reason;
 *  - a parsed state formats again, byte for byte the input (there is one
 *    encoding per state), and that output parses back to an equal state;
 *  - a parsed state's floors are what ft_state_floor reports, and raising
 *    each floor to itself is a no-op.
 */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "client/state.h"
#include "fuzz_common.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int state_eq(const ft_state *a, const ft_state *b)
{
	if (a->has_checkpoint != b->has_checkpoint || a->n != b->n) {
		return 0;
	}
	if (a->has_checkpoint &&
	    (a->size != b->size || memcmp(&a->root, &b->root, sizeof a->root))) {
		return 0;
	}
	for (size_t i = 0; i < a->n; i++) {
		if (strcmp(a->sv[i].product, b->sv[i].product) != 0 ||
		    a->sv[i].sv != b->sv[i].sv) {
			return 0;
		}
	}
	return 1;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static ft_state st, back, copy;
	static uint8_t buf[FT_STATE_FILE_MAX];
	char err[256];
	size_t len;
	int rc;

	memset(&st, 0xA5, sizeof st);
	memset(err, 'X', sizeof err);
	rc = ft_state_parse(data, size, &st, err, sizeof err);
	if (rc != 0) {
		FUZZ_CHECK(rc == FT_ESTATE_CORRUPT ||
			   (rc == FT_ETOOBIG && size > FT_STATE_FILE_MAX));
		FUZZ_CHECK(fuzz_all_bytes(&st, sizeof st, 0xA5));
		FUZZ_CHECK(memchr(err, '\0', sizeof err) != NULL);
		FUZZ_CHECK(err[0] != '\0' && strchr(err, '\n') == NULL);
		return 0;
	}
	FUZZ_CHECK(st.n <= FT_STATE_MAX_PRODUCTS);
	FUZZ_CHECK(ft_state_format(&st, buf, sizeof buf, &len) == 0);
	FUZZ_CHECK(len == size && memcmp(buf, data, size) == 0);
	FUZZ_CHECK(ft_state_parse(buf, len, &back, err, sizeof err) == 0);
	FUZZ_CHECK(state_eq(&st, &back));

	memcpy(&copy, &st, sizeof st);
	for (size_t i = 0; i < st.n; i++) {
		FUZZ_CHECK(ft_state_floor(&st, st.sv[i].product) == st.sv[i].sv);
		FUZZ_CHECK(ft_state_set_floor(&copy, st.sv[i].product,
					      st.sv[i].sv) == 0);
		if (st.sv[i].sv > 0) {
			FUZZ_CHECK(ft_state_set_floor(&copy, st.sv[i].product,
						      st.sv[i].sv - 1) ==
				   FT_EINVAL);
		}
	}
	FUZZ_CHECK(state_eq(&st, &copy));
	return 0;
}
