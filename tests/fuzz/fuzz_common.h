/*
 * tests/fuzz/fuzz_common.h - what the libFuzzer targets share: the
 * invariant check and the fixed keys the seed corpora are signed with.
 *
 * The keys are derived from fixed seeds, so a seed note signed once keeps
 * verifying in every later run, and a crash input reproduces anywhere.
 */
#ifndef FTLOG_FUZZ_COMMON_H
#define FTLOG_FUZZ_COMMON_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <ftlog/note.h>

/* A violated invariant is a bug: stop at once so libFuzzer saves the input. */
#define FUZZ_CHECK(cond)                                                      \
	do {                                                                  \
		if (!(cond)) {                                                \
			__builtin_trap();                                     \
		}                                                             \
	} while (0)

/* 1 if p[0..n) is all `b`. */
static inline int fuzz_all_bytes(const void *p, size_t n, uint8_t b)
{
	const uint8_t *q = p;

	for (size_t i = 0; i < n; i++) {
		if (q[i] != b) {
			return 0;
		}
	}
	return 1;
}

/*
 * Outputs are written only on success (ftlog/common.h): after a failure,
 * *p still holds the sentinel it was filled with, or has been cleared.
 */
#define FUZZ_CHECK_UNTOUCHED(p, sentinel)                                     \
	FUZZ_CHECK(fuzz_all_bytes((p), sizeof *(p), (sentinel)) ||            \
		   fuzz_all_bytes((p), sizeof *(p), 0))

enum {
	FUZZ_KEY_LOG,     /* Ed25519, the log; its name is the origin */
	FUZZ_KEY_OTHER,   /* Ed25519, a second signer */
	FUZZ_KEY_WITNESS, /* tlog-cosignature v1 witness */
	FUZZ_NKEYS
};

#define FUZZ_ORIGIN "fuzz.example/log"

static const struct {
	const char *name;
	uint8_t type;
} fuzz_key_def[FUZZ_NKEYS] = {
	{ FUZZ_ORIGIN, FT_KEY_ED25519 },
	{ "fuzz.example/other", FT_KEY_ED25519 },
	{ "fuzz.example/witness", FT_KEY_COSIG_V1 },
};

/* Derive the fixed keys; traps if the library cannot (that is a bug too). */
static inline void fuzz_keys(ft_skey sk[FUZZ_NKEYS], ft_vkey vk[FUZZ_NKEYS])
{
	FUZZ_CHECK(ft_init() == 0);
	for (unsigned k = 0; k < FUZZ_NKEYS; k++) {
		const char *name = fuzz_key_def[k].name;
		uint8_t seed[32];

		for (unsigned i = 0; i < sizeof seed; i++) {
			seed[i] = (uint8_t)(0x40 * (k + 1) + 7 * i);
		}
		FUZZ_CHECK(ft_key_from_seed(name, strlen(name),
					    fuzz_key_def[k].type, seed,
					    &sk[k]) == 0);
		ft_skey_public(&sk[k], &vk[k]);
	}
}

#endif
