/*
 * tests/fuzz/fuzz_dpolicy.c - device trust policy files from outside.
 *
 * Every input is offered to ft_dpolicy_parse. The seed corpus names the
 * fixed fuzz keys (the log key as log, the other Ed25519 key and the log
 * key as vendor keys, the witness key as witness), so the key rules are
 * reached. Invariants, checked with __builtin_trap():
 *  - a failed parse returns FT_EDEVICE_POLICY, FT_ETOOBIG or FT_ENOMEM,
 *    zeroes *out and writes a one-line, non-empty, NUL-terminated reason;
 *  - a parsed policy obeys every documented bound: an Ed25519 log key,
 *    0..16 cosignature witnesses with quorum <= their number, 1..16
 *    Ed25519 vendor keys with 1 <= threshold <= their number, distinct
 *    names and public keys, product and hardware model of 1..256 allowed
 *    bytes, an age of 60..31536000, warn_no_quorum == (quorum == 0), an
 *    empty reason;
 *  - vendor_index finds each vendor keyid at its own index, also in a
 *    memcpy'd copy, and refuses fixed strings that are no vendor keyid.
 */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <ftlog/event.h>
#include <ftlog/note.h>

#include "client/dpolicy.h"
#include "fuzz_common.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static ft_skey g_sk[FUZZ_NKEYS];
static ft_vkey g_vk[FUZZ_NKEYS];
static char g_kid[FUZZ_NKEYS][FT_EVENT_KEYID_MAX + 1];

static void init_once(void)
{
	static bool done;

	if (done) {
		return;
	}
	fuzz_keys(g_sk, g_vk);
	for (int k = 0; k < FUZZ_NKEYS; k++) {
		FUZZ_CHECK(ft_event_keyid(&g_vk[k], g_kid[k],
					  sizeof g_kid[k]) == 0);
		ft_skey_wipe(&g_sk[k]);
	}
	done = true;
}

/* A reason: NUL-terminated within cap, one line. */
static void check_line(const char *s, size_t cap)
{
	size_t n = strnlen(s, cap);

	FUZZ_CHECK(n < cap);
	for (size_t i = 0; i < n; i++) {
		FUZZ_CHECK((unsigned char)s[i] >= 0x20 &&
			   (unsigned char)s[i] != 0x7f);
	}
}

static void check_name(const char *s, bool product)
{
	size_t n = strnlen(s, FT_DPOLICY_NAME_MAX + 1);

	FUZZ_CHECK(n >= 1 && n <= FT_DPOLICY_NAME_MAX);
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)s[i];

		if (product) {
			FUZZ_CHECK((c >= 'a' && c <= 'z') ||
				   (c >= 'A' && c <= 'Z') ||
				   (c >= '0' && c <= '9') || c == '.' ||
				   c == '_' || c == '-');
		} else {
			FUZZ_CHECK(c >= 0x21 && c <= 0x7e);
		}
	}
}

static void check_keys(const ft_vkey *k, size_t n, uint8_t type)
{
	for (size_t i = 0; i < n; i++) {
		FUZZ_CHECK(k[i].type == type);
		FUZZ_CHECK(k[i].name_len >= 1 &&
			   k[i].name_len <= FT_KEY_NAME_MAX);
		FUZZ_CHECK(k[i].name[k[i].name_len] == '\0');
		for (size_t j = 0; j < i; j++) {
			FUZZ_CHECK(k[i].name_len != k[j].name_len ||
				   memcmp(k[i].name, k[j].name,
					  k[i].name_len) != 0);
			FUZZ_CHECK(memcmp(k[i].pk, k[j].pk, 32) != 0);
		}
	}
}

static void check_index(const ft_dpolicy *p)
{
	char kid[FT_EVENT_KEYID_MAX + 1];

	for (size_t i = 0; i < p->n_vendor; i++) {
		FUZZ_CHECK(ft_event_keyid(&p->vendor[i], kid, sizeof kid) == 0);
		FUZZ_CHECK(strcmp(kid, p->vendor_keyid[i]) == 0);
		FUZZ_CHECK(ft_dpolicy_vendor_index(p, kid) == (int)i);
	}
	/* The fixed keys: found only where their keyid is. */
	for (int k = 0; k < FUZZ_NKEYS; k++) {
		int idx = ft_dpolicy_vendor_index(p, g_kid[k]);

		FUZZ_CHECK(idx >= -1 && idx < (int)p->n_vendor);
		if (idx >= 0) {
			FUZZ_CHECK(strcmp(p->vendor_keyid[idx], g_kid[k]) ==
				   0);
		}
	}
	static const char *const never[] = {
		"", "+", "fuzz.example/other", "fuzz.example/other+",
		"fuzz.example/other+zzzzzzzz",
	};
	for (size_t i = 0; i < sizeof never / sizeof never[0]; i++) {
		FUZZ_CHECK(ft_dpolicy_vendor_index(p, never[i]) == -1);
	}
	FUZZ_CHECK(ft_dpolicy_vendor_index(p, NULL) == -1);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static ft_dpolicy p, copy; /* ~16 KiB: keep them off the stack */
	char err[256];

	init_once();
	memset(&p, 0x5a, sizeof p);
	memset(err, 0x5a, sizeof err);
	int rc = ft_dpolicy_parse(data, size, &p, err, sizeof err);
	check_line(err, sizeof err);
	if (rc != 0) {
		FUZZ_CHECK(rc == FT_EDEVICE_POLICY || rc == FT_ETOOBIG ||
			   rc == FT_ENOMEM);
		FUZZ_CHECK(fuzz_all_bytes(&p, sizeof p, 0));
		FUZZ_CHECK(err[0] != '\0');
		FUZZ_CHECK(ft_dpolicy_vendor_index(&p, "") == -1);
		return 0;
	}
	FUZZ_CHECK(err[0] == '\0');
	check_keys(&p.log, 1, FT_KEY_ED25519);
	FUZZ_CHECK(p.n_witnesses <= FT_DPOLICY_MAX_WITNESSES);
	FUZZ_CHECK(p.quorum <= p.n_witnesses);
	FUZZ_CHECK(p.warn_no_quorum == (p.quorum == 0));
	check_keys(p.witnesses, p.n_witnesses, FT_KEY_COSIG_V1);
	FUZZ_CHECK(p.n_vendor >= 1 &&
		   p.n_vendor <= FT_DPOLICY_MAX_VENDOR_KEYS);
	FUZZ_CHECK(p.threshold >= 1 && p.threshold <= p.n_vendor);
	check_keys(p.vendor, p.n_vendor, FT_KEY_ED25519);
	check_name(p.product, true);
	check_name(p.hardware_model, false);
	FUZZ_CHECK(p.max_age_s >= FT_DPOLICY_AGE_MIN &&
		   p.max_age_s <= FT_DPOLICY_AGE_MAX);
	check_index(&p);

	/* No pointers inside: a copy works after the original is gone. */
	memcpy(&copy, &p, sizeof p);
	memset(&p, 0xa5, sizeof p);
	check_index(&copy);
	return 0;
}
