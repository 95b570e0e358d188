/*
 * tests/fuzz/fuzz_event.c - firmware-event entries from outside.
 *
 * Every input is offered to ft_event_parse. Invariants, checked with
 * __builtin_trap():
 *  - a failed parse leaves the event empty and gives a one-line reason
 *    whose rule matches the error code (too-large FT_ETOOBIG; json,
 *    envelope, payload-type FT_EEVENT_ENVELOPE; statement
 *    FT_EEVENT_STATEMENT; predicate-type FT_EEVENT_PREDTYPE; predicate
 *    FT_EEVENT_PREDICATE);
 *  - a parsed event has a known kind, the predicate type of that kind, the
 *    fields its kind requires, counts within the caps, and a PAE that is
 *    exactly PAE(payloadType, payload);
 *  - each signature verifies or not with the fixed Ed25519 keys (never any
 *    other answer), and a cosignature key is refused;
 *  - a signature that verified is the one we would make ourselves
 *    (Ed25519 is deterministic), and an accepted payload re-signed with
 *    our keys parses again to the same event kind and verifies.
 */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include <ftlog/event.h>

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

static bool starts(const char *s, const char *prefix)
{
	return strncmp(s, prefix, strlen(prefix)) == 0;
}

static void check_reason(int rc, const char *reason, size_t cap)
{
	size_t n = strnlen(reason, cap);

	FUZZ_CHECK(n < cap);
	FUZZ_CHECK(memchr(reason, '\n', n) == NULL);
	switch (rc) {
	case FT_ETOOBIG:
		FUZZ_CHECK(starts(reason, "too-large: "));
		break;
	case FT_EEVENT_ENVELOPE:
		FUZZ_CHECK(starts(reason, "json: ") ||
			   starts(reason, "envelope: ") ||
			   starts(reason, "payload-type: "));
		break;
	case FT_EEVENT_STATEMENT:
		FUZZ_CHECK(starts(reason, "statement: "));
		break;
	case FT_EEVENT_PREDTYPE:
		FUZZ_CHECK(starts(reason, "predicate-type: "));
		break;
	case FT_EEVENT_PREDICATE:
		FUZZ_CHECK(starts(reason, "predicate: "));
		break;
	case FT_ENOMEM:
		break;
	default:
		FUZZ_CHECK(0);
	}
}

static void check_fields(const ft_event *ev)
{
	static const char *const uris[] = { NULL, FT_PRED_BUILD,
					    FT_PRED_RELEASE,
					    FT_PRED_DISTRIBUTION,
					    FT_PRED_REVOCATION };

	FUZZ_CHECK(ev->kind >= FT_EVENT_BUILD &&
		   ev->kind <= FT_EVENT_REVOCATION);
	FUZZ_CHECK(strcmp(ev->predicate_type, uris[ev->kind]) == 0);
	FUZZ_CHECK(ev->n_sigs >= 1 && ev->n_sigs <= FT_EVENT_MAX_SIGS);
	FUZZ_CHECK(ev->n_subjects >= 1 &&
		   ev->n_subjects <= FT_EVENT_MAX_SUBJECTS);
	for (size_t i = 0; i < ev->n_subjects; i++) {
		FUZZ_CHECK(ev->subjects[i].name != NULL);
		for (size_t j = 0; j < i; j++) {
			FUZZ_CHECK(memcmp(ev->subjects[i].sha256,
					  ev->subjects[j].sha256, 32) != 0);
		}
	}
	for (size_t i = 0; i < ev->n_sigs; i++) {
		FUZZ_CHECK(strnlen(ev->sigs[i].keyid,
				   sizeof ev->sigs[i].keyid) <
			   sizeof ev->sigs[i].keyid);
	}
	switch (ev->kind) {
	case FT_EVENT_RELEASE:
		FUZZ_CHECK(ev->product != NULL && ev->vendor != NULL &&
			   ev->version != NULL);
		FUZZ_CHECK(ev->n_hw >= 1 && ev->n_hw <= FT_EVENT_MAX_HW);
		FUZZ_CHECK(ev->security_version <= 9007199254740991ull);
		FUZZ_CHECK(ev->channel == NULL && ev->reason == NULL);
		break;
	case FT_EVENT_DISTRIBUTION:
		FUZZ_CHECK(ev->product != NULL && ev->channel != NULL);
		FUZZ_CHECK(ev->n_regions <= FT_EVENT_MAX_HW &&
			   ev->n_slices <= FT_EVENT_MAX_HW);
		FUZZ_CHECK(ev->vendor == NULL && ev->n_hw == 0);
		break;
	case FT_EVENT_REVOCATION:
		FUZZ_CHECK(ev->reason != NULL);
		if (ev->revoke == FT_REVOKE_IMAGE) {
			FUZZ_CHECK(ev->product != NULL);
			FUZZ_CHECK(ev->revoked_key.type == 0);
		} else {
			uint8_t d[32];

			FUZZ_CHECK(ev->revoke == FT_REVOKE_KEY);
			FUZZ_CHECK(ev->revoked_key.type == FT_KEY_ED25519);
			FUZZ_CHECK(ev->n_subjects == 1);
			ft_event_key_digest(&ev->revoked_key, d);
			FUZZ_CHECK(memcmp(d, ev->subjects[0].sha256, 32) == 0);
		}
		break;
	case FT_EVENT_BUILD:
		FUZZ_CHECK(ev->build_type != NULL && ev->builder_id != NULL);
		FUZZ_CHECK(ev->product == NULL);
		break;
	default:
		FUZZ_CHECK(0);
	}
}

/* The PAE is exactly "DSSEv1 28 <type> <len> <payload>". */
static void check_pae(const ft_event *ev)
{
	size_t want = ft_dsse_pae_len(strlen(FT_DSSE_PAYLOAD_TYPE),
				      ev->payload_len);
	uint8_t *buf = malloc(want);
	size_t len = 0;

	FUZZ_CHECK(buf != NULL);
	FUZZ_CHECK(ft_dsse_pae(FT_DSSE_PAYLOAD_TYPE,
			       strlen(FT_DSSE_PAYLOAD_TYPE), ev->payload,
			       ev->payload_len, buf, want, &len) == 0);
	FUZZ_CHECK(len == want && ev->pae_len == want);
	FUZZ_CHECK(memcmp(buf, ev->pae, want) == 0);
	free(buf);
}

/* Signatures: verdicts, determinism, and re-signing. */
static void check_sigs(const ft_event *ev)
{
	static const unsigned ed[] = { FUZZ_KEY_LOG, FUZZ_KEY_OTHER };

	for (size_t i = 0; i < ev->n_sigs; i++) {
		for (size_t k = 0; k < sizeof ed / sizeof ed[0]; k++) {
			int rc = ft_event_verify(ev, i, &g_vk[ed[k]]);
			uint8_t sig[64];

			FUZZ_CHECK(rc == 0 || rc == FT_ENOTE_BADSIG);
			if (rc != 0) {
				continue;
			}
			FUZZ_CHECK(crypto_sign_detached(sig, NULL, ev->pae,
							ev->pae_len,
							g_sk[ed[k]].sk) == 0);
			FUZZ_CHECK(memcmp(sig, ev->sigs[i].sig, 64) == 0);
		}
		FUZZ_CHECK(ft_event_verify(ev, i, &g_vk[FUZZ_KEY_WITNESS]) ==
			   FT_EINVAL);
	}
	FUZZ_CHECK(ft_event_verify(ev, ev->n_sigs, &g_vk[FUZZ_KEY_LOG]) ==
		   FT_EINVAL);

	/* Our own envelope of this payload parses to the same kind. */
	char *env = NULL;
	size_t len = 0;
	int rc = ft_event_sign(ev->payload, ev->payload_len, g_sk, 2, &env,
			       &len);
	if (rc == FT_ETOOBIG) {
		return; /* a longer spelling of a payload near the limit */
	}
	FUZZ_CHECK(rc == 0);
	ft_event ev2;
	char reason[160];
	FUZZ_CHECK(ft_event_parse((const uint8_t *)env, len, &ev2, reason,
				  sizeof reason) == 0);
	FUZZ_CHECK(ev2.kind == ev->kind && ev2.n_sigs == 2);
	FUZZ_CHECK(ev2.payload_len == ev->payload_len);
	FUZZ_CHECK(memcmp(ev2.payload, ev->payload, ev->payload_len) == 0);
	FUZZ_CHECK(ft_event_verify(&ev2, 0, &g_vk[FUZZ_KEY_LOG]) == 0);
	FUZZ_CHECK(ft_event_verify(&ev2, 1, &g_vk[FUZZ_KEY_OTHER]) == 0);
	ft_event_free(&ev2);
	free(env);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	ft_event ev;
	char reason[200];

	init_once();
	memset(&ev, 0xa5, sizeof ev);
	memset(reason, 0xa5, sizeof reason);
	int rc = ft_event_parse(data, size, &ev, reason, sizeof reason);
	FUZZ_CHECK(rc <= 0);
	if (rc != 0) {
		FUZZ_CHECK(fuzz_all_bytes(&ev, sizeof ev, 0));
		check_reason(rc, reason, sizeof reason);
		ft_event_free(&ev);
		return 0;
	}
	FUZZ_CHECK(reason[0] == '\0');
	FUZZ_CHECK(size >= 1 && size <= FT_EVENT_MAX_BYTES);
	check_fields(&ev);
	check_pae(&ev);
	check_sigs(&ev);
	ft_event_free(&ev);
	FUZZ_CHECK(fuzz_all_bytes(&ev, sizeof ev, 0));
	return 0;
}
