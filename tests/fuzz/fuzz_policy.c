/*
 * tests/fuzz/fuzz_policy.c - ftlogd policy files from outside.
 *
 * Every input is offered to ft_policy_parse. A policy that parses is
 * described and then checks three fixed, valid envelopes signed with the
 * fixed fuzz keys (a gnb-du release by both Ed25519 keys, a build by the
 * log key, a key revocation without a product by the other key); the seed
 * corpus names those keys, so the check rules are reached. Invariants,
 * checked with __builtin_trap():
 *  - a failed parse returns FT_ECONFIG (or FT_ENOMEM), leaves *out
 *    untouched and writes a one-line, NUL-terminated reason;
 *  - a parsed policy has 1..FT_POLICY_MAX_KEYS keys, a max entry of
 *    1..FT_EVENT_MAX_BYTES, and a one-line description;
 *  - a check of a valid envelope either accepts it with meta that agrees
 *    with the envelope (kind, subjects, signers among the envelope's keys,
 *    a record that starts with its kind), or refuses it with a policy rule
 *    (never an event-parse or signature rule) whose name and code match;
 *  - references: an extra ref/unref pair leaves the policy usable.
 */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <ftlog/event.h>
#include <ftlog/note.h>

#include "fuzz_common.h"
#include "logd/policy.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static ft_skey g_sk[FUZZ_NKEYS];
static ft_vkey g_vk[FUZZ_NKEYS];

enum { ENV_RELEASE, ENV_BUILD, ENV_REVOKE_KEY, NENV };

static struct {
	char *data;
	size_t len;
	int kind;
	size_t nsigners;      /* distinct keys that signed it */
	size_t n_subjects;
	uint8_t subjects[2][32];
} g_env[NENV];

static void make_env(int which, int kind, const char *pred, size_t nsub,
		     const ft_vkey *about, const ft_skey *keys, size_t nkeys)
{
	ft_event_subject subj[2];
	char *stmt = NULL;
	size_t slen = 0;

	memset(subj, 0, sizeof subj);
	for (size_t i = 0; i < nsub; i++) {
		memset(subj[i].sha256, 0x30 + (int)i, 32);
	}
	if (about != NULL) {
		ft_event_key_digest(about, subj[0].sha256);
	}
	char reason[256];

	FUZZ_CHECK(ft_event_statement(kind, subj, nsub, pred, strlen(pred),
				      &stmt, &slen, reason,
				      sizeof reason) == 0);
	FUZZ_CHECK(ft_event_sign((const uint8_t *)stmt, slen, keys, nkeys,
				 &g_env[which].data, &g_env[which].len) == 0);
	free(stmt);
	g_env[which].kind = kind;
	g_env[which].nsigners = nkeys;
	g_env[which].n_subjects = nsub;
	for (size_t i = 0; i < nsub; i++) {
		memcpy(g_env[which].subjects[i], subj[i].sha256, 32);
	}
}

static void init_once(void)
{
	static bool done;

	if (done) {
		return;
	}
	fuzz_keys(g_sk, g_vk);

	const ft_skey both[] = {g_sk[FUZZ_KEY_LOG], g_sk[FUZZ_KEY_OTHER]};
	make_env(ENV_RELEASE, FT_EVENT_RELEASE,
		 "{\"product\":\"gnb-du\",\"vendor\":\"Example\",\"version\":"
		 "\"1.0\",\"security_version\":1,\"hardware_models\":[\"hw\"]}",
		 2, NULL, both, 2);
	make_env(ENV_BUILD, FT_EVENT_BUILD,
		 "{\"buildDefinition\":{\"buildType\":\"t\","
		 "\"externalParameters\":{}},\"runDetails\":{\"builder\":"
		 "{\"id\":\"b\"}}}",
		 1, NULL, &g_sk[FUZZ_KEY_LOG], 1);

	char pred[FT_KEY_STR_MAX + 128];
	char ks[FT_KEY_STR_MAX + 1];
	size_t kl = 0;
	FUZZ_CHECK(ft_vkey_format(&g_vk[FUZZ_KEY_LOG], ks, sizeof ks, &kl) ==
		   0);
	strcpy(pred, "{\"target\":\"key\",\"reason\":\"r\",\"key\":\"");
	strcat(pred, ks);
	strcat(pred, "\"}");
	make_env(ENV_REVOKE_KEY, FT_EVENT_REVOCATION, pred, 1,
		 &g_vk[FUZZ_KEY_LOG], &g_sk[FUZZ_KEY_OTHER], 1);
	done = true;
}

/* A reason or description: NUL-terminated within cap, one line. */
static void check_line(const char *s, size_t cap)
{
	size_t n = strnlen(s, cap);

	FUZZ_CHECK(n < cap);
	for (size_t i = 0; i < n; i++) {
		FUZZ_CHECK((unsigned char)s[i] >= 0x20 &&
			   (unsigned char)s[i] != 0x7f);
	}
}

static bool starts(const char *s, const char *p)
{
	return strncmp(s, p, strlen(p)) == 0;
}

static void check_env(const ft_policy *p, int which)
{
	ft_store_meta *m = (ft_store_meta *)(uintptr_t)0x1;
	char reason[512];

	memset(reason, 0x5a, sizeof reason);
	int rc = ft_policy_check(p, (const uint8_t *)g_env[which].data,
				 g_env[which].len, &m, reason, sizeof reason);
	check_line(reason, sizeof reason);
	if (rc != 0) {
		FUZZ_CHECK(m == NULL);
		switch (rc) {
		case FT_ETOOBIG:
			FUZZ_CHECK(starts(reason, "too-large: ") ||
				   starts(reason, "signatures: "));
			break;
		case FT_EUNKNOWN_KEY:
			FUZZ_CHECK(starts(reason, "unknown-key: "));
			break;
		case FT_EUNAUTHORIZED:
			FUZZ_CHECK(starts(reason, "kind: ") ||
				   starts(reason, "product: "));
			break;
		case FT_ETHRESHOLD:
			FUZZ_CHECK(g_env[which].kind == FT_EVENT_RELEASE);
			FUZZ_CHECK(starts(reason, "threshold: "));
			break;
		case FT_ENOMEM:
			break;
		default:
			/* Valid envelopes with good signatures. */
			FUZZ_CHECK(0);
		}
		return;
	}
	FUZZ_CHECK(m != NULL);
	FUZZ_CHECK(m->kind == g_env[which].kind);
	FUZZ_CHECK(m->n_subjects == g_env[which].n_subjects);
	for (size_t i = 0; i < m->n_subjects; i++) {
		FUZZ_CHECK(memcmp(m->subjects[i], g_env[which].subjects[i],
				  32) == 0);
	}
	FUZZ_CHECK(m->n_signers == g_env[which].nsigners);
	for (size_t i = 0; i < m->n_signers; i++) {
		FUZZ_CHECK(memcmp(m->signers[i], g_vk[FUZZ_KEY_LOG].pk, 32) ==
				   0 ||
			   memcmp(m->signers[i], g_vk[FUZZ_KEY_OTHER].pk, 32) ==
				   0);
	}
	static const char *const head[] = {
		NULL, "{\"kind\":\"build\",", "{\"kind\":\"release\",",
		"{\"kind\":\"distribution\",", "{\"kind\":\"revocation\","};
	size_t hl = strlen(head[m->kind]);
	FUZZ_CHECK(m->record_len > hl &&
		   memcmp(m->record, head[m->kind], hl) == 0 &&
		   m->record[m->record_len - 1] == '}');
	if (which == ENV_REVOKE_KEY) {
		FUZZ_CHECK(m->revoke == FT_REVOKE_KEY);
		FUZZ_CHECK(memcmp(m->revoked_key, g_vk[FUZZ_KEY_LOG].pk, 32) ==
			   0);
	}
	free(m);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	ft_policy *p = (ft_policy *)(uintptr_t)0x1;
	char err[256];

	init_once();
	memset(err, 0x5a, sizeof err);
	int rc = ft_policy_parse(data, size, &p, err, sizeof err);
	check_line(err, sizeof err);
	if (rc != 0) {
		FUZZ_CHECK(rc == FT_ECONFIG || rc == FT_ENOMEM);
		FUZZ_CHECK(p == (ft_policy *)(uintptr_t)0x1);
		FUZZ_CHECK(err[0] != '\0');
		return 0;
	}
	FUZZ_CHECK(p != NULL && p != (ft_policy *)(uintptr_t)0x1);
	FUZZ_CHECK(ft_policy_nkeys(p) >= 1 &&
		   ft_policy_nkeys(p) <= FT_POLICY_MAX_KEYS);
	FUZZ_CHECK(ft_policy_max_entry(p) >= 1 &&
		   ft_policy_max_entry(p) <= FT_EVENT_MAX_BYTES);

	char desc[512];
	memset(desc, 0x5a, sizeof desc);
	ft_policy_describe(p, desc, sizeof desc);
	check_line(desc, sizeof desc);

	FUZZ_CHECK(ft_policy_ref(p) == p);
	for (int i = 0; i < NENV; i++) {
		check_env(p, i);
	}
	ft_policy_unref(p);
	check_env(p, ENV_RELEASE); /* still ours */
	ft_policy_unref(p);
	return 0;
}
