/*
 * tests/test_event.c - firmware events: DSSE envelopes, in-toto
 * statements and ftlog's predicates (event/event.c, docs/events.md).
 *
 * Envelopes are built here with deterministic keys (seeds of 32 equal
 * bytes) through ft_event_sign, or by hand where the envelope itself must
 * be malformed. Every rejection asserts the exact error code and the rule
 * prefix of the reason, and that the event was left empty. Known answers
 * (PAE, key digest, key id) are computed independently.
 */
#include <inttypes.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <check.h>
#include <sodium.h>

#include <ftlog/event.h>

#include "tests/testutil.h"

#define NKEYS 4

static ft_skey K[NKEYS];
static ft_vkey V[NKEYS];

static const char *const key_names[NKEYS] = {
	"release-1.vendor.example",
	"release-2.vendor.example",
	"builder.vendor.example",
	"ops.operator.example",
};

static void setup(void)
{
	for (unsigned k = 0; k < NKEYS; k++) {
		uint8_t seed[32];

		memset(seed, (int)(k + 1), sizeof seed);
		ck_assert_int_eq(ft_key_from_seed(key_names[k],
						  strlen(key_names[k]),
						  FT_KEY_ED25519, seed, &K[k]),
				 0);
		ft_skey_public(&K[k], &V[k]);
	}
}

/* Digests used as subjects. */
#define HEX_A "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
#define HEX_B "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"
#define HEX_C "c0ffee00c0ffee00c0ffee00c0ffee00c0ffee00c0ffee00c0ffee00c0ffee00"

/* Not digests ftlog accepts. */
#define HEXUP "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"
#define HEX_G "gaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
/* 63 digits */
#define HEX63 "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"

#define SUBJ_A                                                                \
	"{\"name\":\"gnb-du-1.2.3.img\",\"digest\":{\"sha256\":\"" HEX_A "\"}}"
#define SUBJ_B "{\"name\":\"other.img\",\"digest\":{\"sha256\":\"" HEX_B "\"}}"

#define PRED_RELEASE                                                          \
	"{\"product\":\"gnb-du\",\"vendor\":\"acme\",\"version\":\"1.2.3\","  \
	"\"security_version\":7,\"hardware_models\":[\"hw-a\",\"hw-b\"],"    \
	"\"sbom_sha256\":\"" HEX_B "\",\"build_index\":42,"                   \
	"\"evidence\":{\"type\":\"scas\",\"sha256\":\"" HEX_C "\"}}"

#define PRED_RELEASE_MIN                                                      \
	"{\"product\":\"gnb-du\",\"vendor\":\"acme\",\"version\":\"1.2.3\","  \
	"\"security_version\":7,\"hardware_models\":[\"hw-a\"]}"

#define PRED_DIST                                                             \
	"{\"product\":\"gnb-du\",\"channel\":\"stable\","                 \
	"\"version\":\"1.2.3\","                                             \
	"\"regions\":[\"eu-west\",\"us-east\"],\"network_slices\":"            \
	"[\"sst1-sd000001\"],\"uri\":\"https://fw.example/gnb-du-1.2.3.img\"}"

#define PRED_REVOKE_IMAGE                                                     \
	"{\"target\":\"image\",\"product\":\"gnb-du\","                       \
	"\"reason\":\"CVE-2031-0001: remote code execution\"}"

#define PRED_BUILD                                                            \
	"{\"buildDefinition\":{\"buildType\":\"https://ci.vendor.example/"    \
	"fw/v1\",\"externalParameters\":{\"ref\":\"refs/tags/v1.2.3\"},"      \
	"\"resolvedDependencies\":[]},\"runDetails\":{\"builder\":{\"id\":"   \
	"\"https://ci.vendor.example/builder/7\"},\"metadata\":"              \
	"{\"invocationId\":\"42\"}}}"

/* ---- Helpers. */

static char *statement_of(const char *subjects, const char *ptype,
			  const char *pred)
{
	return tu_strf("{\"_type\":\"%s\",\"subject\":[%s],"
		       "\"predicateType\":\"%s\",\"predicate\":%s}",
		       FT_STATEMENT_TYPE, subjects, ptype, pred);
}

/* Sign a statement text with the first nkeys keys. Caller frees. */
static char *sign_n(const char *stmt, size_t nkeys, size_t *len)
{
	char *out = NULL;
	size_t n = 0;

	ck_assert_int_eq(ft_event_sign((const uint8_t *)stmt, strlen(stmt), K,
				       nkeys, &out, &n),
			 0);
	ck_assert_ptr_nonnull(out);
	ck_assert_uint_eq(strlen(out), n);
	if (len != NULL) {
		*len = n;
	}
	return out;
}

/* An envelope of one statement signed by K[0]. Caller frees. */
static char *envelope(const char *subjects, const char *ptype,
		      const char *pred)
{
	char *stmt = statement_of(subjects, ptype, pred);
	char *env = sign_n(stmt, 1, NULL);

	free(stmt);
	return env;
}

static char *b64(const void *p, size_t n)
{
	size_t cap = (n + 2) / 3 * 4 + 1;
	char *out = malloc(cap);
	size_t got = 0;

	ck_assert_ptr_nonnull(out);
	ck_assert_int_eq(ft_b64_encode(p, n, out, cap, &got), 0);
	out[got] = '\0';
	return out;
}

/* Standard base64 to URL-safe, optionally without padding. */
static void to_url(char *s, bool strip)
{
	for (char *p = s; *p != '\0'; p++) {
		if (*p == '+') {
			*p = '-';
		} else if (*p == '/') {
			*p = '_';
		} else if (*p == '=' && strip) {
			*p = '\0';
			break;
		}
	}
}

static void strip_pad(char *s)
{
	char *p = strchr(s, '=');

	if (p != NULL) {
		*p = '\0';
	}
}

/* A 64-byte signature, base64, from a fixed pattern. */
static char *some_sig(void)
{
	uint8_t sig[64];

	for (size_t i = 0; i < sizeof sig; i++) {
		sig[i] = (uint8_t)(i * 7);
	}
	return b64(sig, sizeof sig);
}

/* A hand-made envelope with a release statement as payload. */
static char *raw_env(const char *ptype, const char *payload64,
		     const char *sigs)
{
	return tu_strf("{\"payloadType\":\"%s\",\"payload\":\"%s\","
		       "\"signatures\":%s}",
		       ptype, payload64, sigs);
}

static char *release_payload64(void)
{
	char *stmt = statement_of(SUBJ_A, FT_PRED_RELEASE, PRED_RELEASE);
	char *p = b64(stmt, strlen(stmt));

	free(stmt);
	return p;
}

static void check_empty(const ft_event *ev)
{
	const uint8_t *p = (const uint8_t *)ev;

	for (size_t i = 0; i < sizeof *ev; i++) {
		ck_assert_msg(p[i] == 0, "ev not cleared at byte %zu", i);
	}
}

/*
 * Parse must fail with code, a reason starting with prefix and containing
 * sub (if not NULL), one line, and ev left empty.
 */
static void expect_fail_n(const char *what, const char *entry, size_t len,
			  int code, const char *prefix, const char *sub)
{
	ft_event ev;
	char reason[256];

	memset(&ev, 0xa5, sizeof ev);
	memset(reason, 'x', sizeof reason);
	int rc = ft_event_parse((const uint8_t *)entry, len, &ev, reason,
				sizeof reason);
	ck_assert_msg(memchr(reason, '\0', sizeof reason) != NULL,
		      "%s: reason not terminated", what);
	ck_assert_msg(rc == code, "%s: want %s, got %s (%s)", what,
		      ft_errname(code), ft_errname(rc), reason);
	ck_assert_msg(strncmp(reason, prefix, strlen(prefix)) == 0,
		      "%s: reason \"%s\" does not start with \"%s\"", what,
		      reason, prefix);
	ck_assert_msg(sub == NULL || strstr(reason, sub) != NULL,
		      "%s: reason \"%s\" does not mention \"%s\"", what, reason,
		      sub);
	ck_assert_msg(strchr(reason, '\n') == NULL, "%s: newline in reason",
		      what);
	check_empty(&ev);
	ft_event_free(&ev);
	check_empty(&ev);
}

static void expect_fail(const char *what, const char *entry, int code,
			const char *prefix, const char *sub)
{
	expect_fail_n(what, entry, strlen(entry), code, prefix, sub);
}

/* Parse a valid entry into ev (caller frees). */
static void expect_ok(const char *what, const char *entry, ft_event *ev)
{
	char reason[256];
	int rc = ft_event_parse((const uint8_t *)entry, strlen(entry), ev,
				reason, sizeof reason);

	ck_assert_msg(rc == 0, "%s: %s (%s)", what, ft_errname(rc), reason);
	ck_assert_str_eq(reason, "");
}

/* A signed statement with these parts must fail / pass. */
static void stmt_fail(const char *what, const char *subjects,
		      const char *ptype, const char *pred, int code,
		      const char *prefix, const char *sub)
{
	char *env = envelope(subjects, ptype, pred);

	expect_fail(what, env, code, prefix, sub);
	free(env);
}

static void pred_fail(const char *what, const char *ptype, const char *pred,
		      const char *sub)
{
	stmt_fail(what, SUBJ_A, ptype, pred, FT_EEVENT_PREDICATE,
		  "predicate: ", sub);
}

static void stmt_ok(const char *what, const char *subjects, const char *ptype,
		    const char *pred)
{
	char *env = envelope(subjects, ptype, pred);
	ft_event ev;

	expect_ok(what, env, &ev);
	ck_assert_int_eq(ft_event_verify(&ev, 0, &V[0]), 0);
	ft_event_free(&ev);
	free(env);
}

static void hex_of(const uint8_t d[32], char out[65])
{
	for (size_t i = 0; i < 32; i++) {
		snprintf(out + 2 * i, 3, "%02x", d[i]);
	}
}

/* A release predicate of the given members ("" leaves one out). */
static char *release_with(const char *product, const char *vendor,
			  const char *version, const char *secver,
			  const char *hw, const char *extra)
{
	const char *parts[] = { product, vendor, version, secver, hw, extra };
	char *out = strdup("{");

	ck_assert_ptr_nonnull(out);
	for (size_t i = 0; i < sizeof parts / sizeof parts[0]; i++) {
		if (parts[i][0] == '\0') {
			continue;
		}
		char *more = tu_strf("%s%s%s", out, out[1] == '\0' ? "" : ",",
				     parts[i]);
		free(out);
		out = more;
	}
	char *done = tu_strf("%s}", out);
	free(out);
	return done;
}

#define F_PRODUCT "\"product\":\"gnb-du\""
#define F_VENDOR "\"vendor\":\"acme\""
#define F_VERSION "\"version\":\"1.2.3\""
#define F_SECVER "\"security_version\":7"
#define F_HW "\"hardware_models\":[\"hw-a\"]"

static void release_fail(const char *what, const char *product,
			 const char *vendor, const char *version,
			 const char *secver, const char *hw, const char *extra,
			 const char *sub)
{
	char *pred = release_with(product, vendor, version, secver, hw, extra);

	pred_fail(what, FT_PRED_RELEASE, pred, sub);
	free(pred);
}

static void release_ok(const char *what, const char *product,
		       const char *vendor, const char *version,
		       const char *secver, const char *hw, const char *extra)
{
	char *pred = release_with(product, vendor, version, secver, hw, extra);

	stmt_ok(what, SUBJ_A, FT_PRED_RELEASE, pred);
	free(pred);
}

/* ---- Small functions. */

START_TEST(test_kind_name)
{
	ck_assert_str_eq(ft_event_kind_name(FT_EVENT_BUILD), "build");
	ck_assert_str_eq(ft_event_kind_name(FT_EVENT_RELEASE), "release");
	ck_assert_str_eq(ft_event_kind_name(FT_EVENT_DISTRIBUTION),
			 "distribution");
	ck_assert_str_eq(ft_event_kind_name(FT_EVENT_REVOCATION),
			 "revocation");
	ck_assert_str_eq(ft_event_kind_name(0), "unknown");
	ck_assert_str_eq(ft_event_kind_name(5), "unknown");
	ck_assert_str_eq(ft_event_kind_name(-1), "unknown");
}
END_TEST

START_TEST(test_pae_known)
{
	static const char want[] =
		"DSSEv1 29 http://example.com/HelloWorld 11 hello world";
	static const char type[] = "http://example.com/HelloWorld";
	static const char body[] = "hello world";
	uint8_t out[128];
	size_t len = 99;

	ck_assert_uint_eq(ft_dsse_pae_len(sizeof type - 1, sizeof body - 1),
			  sizeof want - 1);
	ck_assert_int_eq(ft_dsse_pae(type, sizeof type - 1,
				     (const uint8_t *)body, sizeof body - 1,
				     out, sizeof out, &len),
			 0);
	ck_assert_uint_eq(len, sizeof want - 1);
	ck_assert_mem_eq(out, want, len);

	/* Exact fit works, one byte short does not. */
	ck_assert_int_eq(ft_dsse_pae(type, sizeof type - 1,
				     (const uint8_t *)body, sizeof body - 1,
				     out, sizeof want - 1, &len),
			 0);
	ck_assert_int_eq(ft_dsse_pae(type, sizeof type - 1,
				     (const uint8_t *)body, sizeof body - 1,
				     out, sizeof want - 2, &len),
			 FT_EBUFSIZE);
	ck_assert_uint_eq(len, 0);

	/* Empty type and body. */
	ck_assert_int_eq(ft_dsse_pae("", 0, NULL, 0, out, sizeof out, &len),
			 0);
	ck_assert_uint_eq(len, 12);
	ck_assert_mem_eq(out, "DSSEv1 0  0 ", 12);
	ck_assert_uint_eq(ft_dsse_pae_len(0, 0), 12);

	/* Multi-digit lengths: a 1000-byte body. */
	uint8_t *body1k = calloc(1, 1000);
	uint8_t *big = calloc(1, 1000 + 64);
	ck_assert_ptr_nonnull(body1k);
	ck_assert_ptr_nonnull(big);
	ck_assert_int_eq(ft_dsse_pae(FT_DSSE_PAYLOAD_TYPE,
				     strlen(FT_DSSE_PAYLOAD_TYPE), body1k, 1000,
				     big, 1000 + 64, &len),
			 0);
	ck_assert_uint_eq(len, ft_dsse_pae_len(28, 1000));
	ck_assert_mem_eq(big, "DSSEv1 28 application/vnd.in-toto+json 1000 ",
			 44);
	ck_assert_mem_eq(big + 44, body1k, 1000);
	free(body1k);
	free(big);

	ck_assert_int_eq(ft_dsse_pae(NULL, 1, NULL, 0, out, sizeof out, &len),
			 FT_EINVAL);
	ck_assert_uint_eq(ft_dsse_pae_len(SIZE_MAX - 5, 10), SIZE_MAX);
}
END_TEST

START_TEST(test_keyid)
{
	char out[FT_EVENT_KEYID_MAX + 1];
	char want[FT_EVENT_KEYID_MAX + 1];
	size_t n = strlen(key_names[0]) + 9;

	snprintf(want, sizeof want, "%s+%08" PRIx32, key_names[0], V[0].id);
	ck_assert_int_eq(ft_event_keyid(&V[0], out, sizeof out), 0);
	ck_assert_str_eq(out, want);

	/* The verifier key string minus its "+<base64>" tail. */
	char vstr[FT_KEY_STR_MAX + 1];
	size_t vlen = 0;
	ck_assert_int_eq(ft_vkey_format(&V[0], vstr, sizeof vstr, &vlen), 0);
	ck_assert_uint_gt(vlen, n);
	ck_assert_mem_eq(vstr, out, n);
	ck_assert_int_eq(vstr[n], '+');

	ck_assert_int_eq(ft_event_keyid(&V[0], out, n + 1), 0);
	ck_assert_int_eq(ft_event_keyid(&V[0], out, n), FT_EBUFSIZE);
	ck_assert_int_eq(out[0], '\0');
	ck_assert_int_eq(ft_event_keyid(NULL, out, sizeof out), FT_EINVAL);
}
END_TEST

START_TEST(test_key_digest)
{
	uint8_t want[32];
	uint8_t got[32];

	crypto_hash_sha256(want, V[1].pk, 32);
	ft_event_key_digest(&V[1], got);
	ck_assert_mem_eq(got, want, 32);
}
END_TEST

/* ---- Valid events of each kind. */

START_TEST(test_release_valid)
{
	char *env = envelope(SUBJ_A "," SUBJ_B, FT_PRED_RELEASE, PRED_RELEASE);
	uint8_t b[32];
	uint8_t c[32];
	ft_event ev;

	ck_assert_int_eq(tu_hex_decode(HEX_B, b, 32), 0);
	ck_assert_int_eq(tu_hex_decode(HEX_C, c, 32), 0);
	expect_ok("release", env, &ev);
	ck_assert_int_eq(ev.kind, FT_EVENT_RELEASE);
	ck_assert_str_eq(ev.predicate_type, FT_PRED_RELEASE);
	ck_assert_uint_eq(ev.n_subjects, 2);
	ck_assert_str_eq(ev.subjects[0].name, "gnb-du-1.2.3.img");
	ck_assert_str_eq(ev.subjects[1].name, "other.img");
	ck_assert_mem_eq(ev.subjects[1].sha256, b, 32);
	ck_assert_str_eq(ev.product, "gnb-du");
	ck_assert_str_eq(ev.vendor, "acme");
	ck_assert_str_eq(ev.version, "1.2.3");
	ck_assert_uint_eq(ev.security_version, 7);
	ck_assert_uint_eq(ev.n_hw, 2);
	ck_assert_str_eq(ev.hw[0], "hw-a");
	ck_assert_str_eq(ev.hw[1], "hw-b");
	ck_assert_int_eq(ev.has_sbom, 1);
	ck_assert_mem_eq(ev.sbom_sha256, b, 32);
	ck_assert_int_eq(ev.has_build_index, 1);
	ck_assert_uint_eq(ev.build_index, 42);
	ck_assert_str_eq(ev.evidence_type, "scas");
	ck_assert_mem_eq(ev.evidence_sha256, c, 32);
	ck_assert_ptr_null(ev.channel);
	ck_assert_ptr_null(ev.builder_id);
	ck_assert_int_eq(ev.revoke, FT_REVOKE_NONE);
	ck_assert_uint_eq(ev.n_sigs, 1);
	ck_assert_int_eq(ft_event_verify(&ev, 0, &V[0]), 0);

	/* The payload is the statement, the PAE is over it. */
	char *stmt = statement_of(SUBJ_A "," SUBJ_B, FT_PRED_RELEASE,
				  PRED_RELEASE);
	ck_assert_uint_eq(ev.payload_len, strlen(stmt));
	ck_assert_mem_eq(ev.payload, stmt, ev.payload_len);
	char *pae = tu_strf("DSSEv1 28 %s %zu %s", FT_DSSE_PAYLOAD_TYPE,
			    strlen(stmt), stmt);
	ck_assert_uint_eq(ev.pae_len, strlen(pae));
	ck_assert_mem_eq(ev.pae, pae, ev.pae_len);
	free(pae);
	free(stmt);
	ft_event_free(&ev);
	check_empty(&ev);
	free(env);

	/* Minimal: the optional references are absent. */
	env = envelope(SUBJ_A, FT_PRED_RELEASE, PRED_RELEASE_MIN);
	expect_ok("minimal release", env, &ev);
	ck_assert_int_eq(ev.has_sbom, 0);
	ck_assert_int_eq(ev.has_build_index, 0);
	ck_assert_ptr_null(ev.evidence_type);
	ck_assert_uint_eq(ev.n_hw, 1);
	ft_event_free(&ev);
	free(env);
}
END_TEST

START_TEST(test_distribution_valid)
{
	char *env = envelope(SUBJ_A, FT_PRED_DISTRIBUTION, PRED_DIST);
	ft_event ev;

	expect_ok("distribution", env, &ev);
	ck_assert_int_eq(ev.kind, FT_EVENT_DISTRIBUTION);
	ck_assert_str_eq(ev.product, "gnb-du");
	ck_assert_str_eq(ev.channel, "stable");
	ck_assert_str_eq(ev.version, "1.2.3");
	ck_assert_uint_eq(ev.n_regions, 2);
	ck_assert_str_eq(ev.regions[0], "eu-west");
	ck_assert_str_eq(ev.regions[1], "us-east");
	ck_assert_uint_eq(ev.n_slices, 1);
	ck_assert_str_eq(ev.slices[0], "sst1-sd000001");
	ck_assert_str_eq(ev.uri, "https://fw.example/gnb-du-1.2.3.img");
	ck_assert_ptr_null(ev.vendor);
	ft_event_free(&ev);
	free(env);

	env = envelope(SUBJ_A, FT_PRED_DISTRIBUTION,
		       "{\"product\":\"gnb-du\",\"channel\":\"beta\"}");
	expect_ok("minimal distribution", env, &ev);
	ck_assert_ptr_null(ev.version);
	ck_assert_ptr_null(ev.uri);
	ck_assert_uint_eq(ev.n_regions, 0);
	ck_assert_uint_eq(ev.n_slices, 0);
	ft_event_free(&ev);
	free(env);
}
END_TEST

START_TEST(test_revocation_image_valid)
{
	char *env = envelope(SUBJ_A "," SUBJ_B, FT_PRED_REVOCATION,
			     PRED_REVOKE_IMAGE);
	ft_event ev;

	expect_ok("image revocation", env, &ev);
	ck_assert_int_eq(ev.kind, FT_EVENT_REVOCATION);
	ck_assert_int_eq(ev.revoke, FT_REVOKE_IMAGE);
	ck_assert_str_eq(ev.product, "gnb-du");
	ck_assert_str_eq(ev.reason, "CVE-2031-0001: remote code execution");
	ck_assert_uint_eq(ev.n_subjects, 2);
	ck_assert_int_eq(ev.revoked_key.type, 0);
	ft_event_free(&ev);
	free(env);
}
END_TEST

/* A key revocation predicate for V[k] (and its subject). */
static void key_revocation(unsigned k, char **subj, char **pred,
			   const char *extra)
{
	char vstr[FT_KEY_STR_MAX + 1];
	size_t vlen = 0;
	uint8_t d[32];
	char hex[65];

	ck_assert_int_eq(ft_vkey_format(&V[k], vstr, sizeof vstr, &vlen), 0);
	ft_event_key_digest(&V[k], d);
	hex_of(d, hex);
	*subj = tu_strf("{\"name\":\"%s\",\"digest\":{\"sha256\":\"%s\"}}",
			key_names[k], hex);
	*pred = tu_strf("{\"target\":\"key\",\"key\":\"%s\",\"reason\":"
			"\"key compromised\"%s}",
			vstr, extra);
}

START_TEST(test_revocation_key_valid)
{
	char *subj = NULL;
	char *pred = NULL;
	ft_event ev;

	key_revocation(1, &subj, &pred, "");
	char *env = envelope(subj, FT_PRED_REVOCATION, pred);
	expect_ok("key revocation", env, &ev);
	ck_assert_int_eq(ev.revoke, FT_REVOKE_KEY);
	ck_assert_ptr_null(ev.product);
	ck_assert_str_eq(ev.reason, "key compromised");
	ck_assert_int_eq(ev.revoked_key.type, FT_KEY_ED25519);
	ck_assert_uint_eq(ev.revoked_key.id, V[1].id);
	ck_assert_mem_eq(ev.revoked_key.pk, V[1].pk, 32);
	ck_assert_str_eq(ev.revoked_key.name, key_names[1]);
	ck_assert_str_eq(ev.subjects[0].name, key_names[1]);
	ft_event_free(&ev);
	free(env);
	free(subj);
	free(pred);

	/* With the optional product. */
	key_revocation(1, &subj, &pred, ",\"product\":\"gnb-du\"");
	env = envelope(subj, FT_PRED_REVOCATION, pred);
	expect_ok("key revocation with product", env, &ev);
	ck_assert_str_eq(ev.product, "gnb-du");
	ft_event_free(&ev);
	free(env);
	free(subj);
	free(pred);
}
END_TEST

START_TEST(test_build_valid)
{
	char *env = envelope(SUBJ_A, FT_PRED_BUILD, PRED_BUILD);
	ft_event ev;

	expect_ok("build", env, &ev);
	ck_assert_int_eq(ev.kind, FT_EVENT_BUILD);
	ck_assert_str_eq(ev.build_type, "https://ci.vendor.example/fw/v1");
	ck_assert_str_eq(ev.builder_id,
			 "https://ci.vendor.example/builder/7");
	ck_assert_ptr_null(ev.product);
	ck_assert_ptr_null(ev.version);
	ft_event_free(&ev);
	free(env);

	/* Any further SLSA field, anywhere, is the builder's business. */
	stmt_ok("slsa extras", SUBJ_A, FT_PRED_BUILD,
		"{\"buildDefinition\":{\"buildType\":\"t\","
		"\"externalParameters\":{},\"internalParameters\":{\"x\":1}},"
		"\"runDetails\":{\"builder\":{\"id\":\"b\",\"version\":{}},"
		"\"byproducts\":[]},\"whatever\":[1,2.5,null]}");
}
END_TEST

/* ---- Signing and verification. */

START_TEST(test_sign_roundtrip)
{
	char *stmt = statement_of(SUBJ_A, FT_PRED_RELEASE, PRED_RELEASE);
	char keyid[FT_EVENT_KEYID_MAX + 1];
	ft_event ev;

	for (size_t nk = 1; nk <= 2; nk++) {
		size_t len = 0;
		char *env = sign_n(stmt, nk, &len);

		/* Compact, fixed member order, no trailing newline. */
		ck_assert_msg(strncmp(env,
				      "{\"payloadType\":\"application/vnd."
				      "in-toto+json\",\"payload\":\"",
				      55) == 0,
			      "%s", env);
		ck_assert_int_ne(env[len - 1], '\n');
		expect_ok("signed", env, &ev);
		ck_assert_uint_eq(ev.n_sigs, nk);
		for (size_t i = 0; i < nk; i++) {
			ck_assert_int_eq(ft_event_keyid(&V[i], keyid,
							sizeof keyid),
					 0);
			ck_assert_str_eq(ev.sigs[i].keyid, keyid);
			ck_assert_int_eq(ft_event_verify(&ev, i, &V[i]), 0);
			/* Another key does not verify it. */
			ck_assert_int_eq(ft_event_verify(&ev, i, &V[i + 1]),
					 FT_ENOTE_BADSIG);
			ck_assert_int_eq(ft_event_verify(&ev, i, &V[3]),
					 FT_ENOTE_BADSIG);
		}
		ck_assert_int_eq(ft_event_verify(&ev, nk, &V[0]), FT_EINVAL);
		ft_event_free(&ev);

		/* Signing is deterministic. */
		char *again = sign_n(stmt, nk, NULL);
		ck_assert_str_eq(env, again);
		free(again);
		free(env);
	}
	free(stmt);
}
END_TEST

START_TEST(test_sign_16_keys)
{
	ft_skey keys[FT_EVENT_MAX_SIGS + 1];
	ft_vkey vk;
	char *stmt = statement_of(SUBJ_A, FT_PRED_RELEASE, PRED_RELEASE);
	char *env = NULL;
	size_t len = 0;
	ft_event ev;

	for (unsigned k = 0; k <= FT_EVENT_MAX_SIGS; k++) {
		uint8_t seed[32];
		char name[32];

		memset(seed, (int)(0x40 + k), sizeof seed);
		snprintf(name, sizeof name, "k%u.example", k);
		ck_assert_int_eq(ft_key_from_seed(name, strlen(name),
						  FT_KEY_ED25519, seed,
						  &keys[k]),
				 0);
	}
	ck_assert_int_eq(ft_event_sign((const uint8_t *)stmt, strlen(stmt),
				       keys, FT_EVENT_MAX_SIGS, &env, &len),
			 0);
	expect_ok("16 signatures", env, &ev);
	ck_assert_uint_eq(ev.n_sigs, FT_EVENT_MAX_SIGS);
	for (unsigned k = 0; k < FT_EVENT_MAX_SIGS; k++) {
		ft_skey_public(&keys[k], &vk);
		ck_assert_int_eq(ft_event_verify(&ev, k, &vk), 0);
	}
	ft_event_free(&ev);
	free(env);

	ck_assert_int_eq(ft_event_sign((const uint8_t *)stmt, strlen(stmt),
				       keys, FT_EVENT_MAX_SIGS + 1, &env,
				       &len),
			 FT_EINVAL);
	ck_assert_ptr_null(env);

	/* 17 signatures by hand: too many for the parser. */
	char *p64 = release_payload64();
	char *sig = some_sig();
	char *sigs = tu_strf("[{\"sig\":\"%s\"}", sig);
	for (unsigned k = 1; k <= FT_EVENT_MAX_SIGS; k++) {
		char *more = tu_strf("%s,{\"sig\":\"%s\"}", sigs, sig);
		free(sigs);
		sigs = more;
	}
	char *more = tu_strf("%s]", sigs);
	free(sigs);
	env = raw_env(FT_DSSE_PAYLOAD_TYPE, p64, more);
	expect_fail("17 signatures", env, FT_EEVENT_ENVELOPE, "envelope: ",
		    "17 signatures");
	free(env);
	free(more);
	free(sig);
	free(p64);
	free(stmt);
	for (unsigned k = 0; k <= FT_EVENT_MAX_SIGS; k++) {
		ft_skey_wipe(&keys[k]);
	}
}
END_TEST

START_TEST(test_flip_every_sig_bit)
{
	char *stmt = statement_of(SUBJ_A, FT_PRED_RELEASE, PRED_RELEASE);
	char *env = sign_n(stmt, 2, NULL);
	ft_event ev;

	expect_ok("signed", env, &ev);
	for (size_t s = 0; s < 2; s++) {
		for (size_t i = 0; i < 64; i++) {
			for (unsigned bit = 0; bit < 8; bit++) {
				ev.sigs[s].sig[i] ^= (uint8_t)(1u << bit);
				ck_assert_int_eq(ft_event_verify(&ev, s, &V[s]),
						 FT_ENOTE_BADSIG);
				ev.sigs[s].sig[i] ^= (uint8_t)(1u << bit);
			}
			ev.sigs[s].sig[i] ^= 0xff;
			ck_assert_int_eq(ft_event_verify(&ev, s, &V[s]),
					 FT_ENOTE_BADSIG);
			ev.sigs[s].sig[i] ^= 0xff;
		}
		ck_assert_int_eq(ft_event_verify(&ev, s, &V[s]), 0);
	}
	/* The PAE is what is signed: changing it breaks the signature. */
	ev.pae[ev.pae_len - 2] ^= 1;
	ck_assert_int_eq(ft_event_verify(&ev, 0, &V[0]), FT_ENOTE_BADSIG);
	ev.pae[ev.pae_len - 2] ^= 1;
	ft_event_free(&ev);
	free(env);
	free(stmt);
}
END_TEST

START_TEST(test_verify_wrong_key)
{
	char *env = envelope(SUBJ_A, FT_PRED_RELEASE, PRED_RELEASE);
	ft_event ev;
	ft_skey cosig;
	ft_vkey cv;
	uint8_t seed[32];

	expect_ok("signed", env, &ev);
	ck_assert_int_eq(ft_event_verify(&ev, 0, &V[1]), FT_ENOTE_BADSIG);
	/* Same public key under another name: the signature is over the
	 * PAE only, so the key bytes decide (the keyid is the policy's). */
	ft_vkey renamed = V[0];
	renamed.id ^= 1;
	ck_assert_int_eq(ft_event_verify(&ev, 0, &renamed), 0);

	memset(seed, 1, sizeof seed);
	ck_assert_int_eq(ft_key_from_seed("w.example", 9, FT_KEY_COSIG_V1,
					  seed, &cosig),
			 0);
	ft_skey_public(&cosig, &cv);
	ck_assert_int_eq(ft_event_verify(&ev, 0, &cv), FT_EINVAL);
	ck_assert_int_eq(ft_event_verify(&ev, 1, &V[0]), FT_EINVAL);
	ck_assert_int_eq(ft_event_verify(&ev, 0, NULL), FT_EINVAL);
	ck_assert_int_eq(ft_event_verify(NULL, 0, &V[0]), FT_EINVAL);
	ft_event_free(&ev);
	ck_assert_int_eq(ft_event_verify(&ev, 0, &V[0]), FT_EINVAL);
	free(env);

	/* ft_event_sign refuses a cosignature key. */
	char *out = NULL;
	size_t len = 0;
	ck_assert_int_eq(ft_event_sign((const uint8_t *)"{}", 2, &cosig, 1,
				       &out, &len),
			 FT_EKEY_ALG);
	ck_assert_ptr_null(out);
	ft_skey_wipe(&cosig);
}
END_TEST

START_TEST(test_sign_errors)
{
	char *out = (char *)1;
	size_t len = 1;
	uint8_t *big = calloc(1, FT_EVENT_MAX_BYTES);

	ck_assert_ptr_nonnull(big);
	ck_assert_int_eq(ft_event_sign(big, 10, K, 0, &out, &len), FT_EINVAL);
	ck_assert_ptr_null(out);
	ck_assert_uint_eq(len, 0);
	ck_assert_int_eq(ft_event_sign(big, 10, NULL, 1, &out, &len),
			 FT_EINVAL);
	/* 49152 bytes encode to 65536 characters: too big already. */
	ck_assert_int_eq(ft_event_sign(big, 49152, K, 1, &out, &len),
			 FT_ETOOBIG);
	/* The payload fits, the whole envelope does not. */
	ck_assert_int_eq(ft_event_sign(big, 49000, K, 1, &out, &len),
			 FT_ETOOBIG);
	ck_assert_ptr_null(out);
	/* A size that fits. */
	ck_assert_int_eq(ft_event_sign(big, 48000, K, 1, &out, &len), 0);
	ck_assert_uint_le(len, FT_EVENT_MAX_BYTES);
	free(out);
	free(big);
}
END_TEST

/* ---- Size and JSON. */

START_TEST(test_too_large)
{
	char *buf = malloc(FT_EVENT_MAX_BYTES + 2);
	ft_event ev;
	char reason[128];

	ck_assert_ptr_nonnull(buf);
	memset(buf, ' ', FT_EVENT_MAX_BYTES + 1);
	buf[FT_EVENT_MAX_BYTES + 1] = '\0';
	expect_fail_n("65536 bytes", buf, FT_EVENT_MAX_BYTES + 1, FT_ETOOBIG,
		      "too-large: ", NULL);
	expect_fail_n("empty", "", 0, FT_ETOOBIG, "too-large: ", NULL);
	/* 65535 bytes is not too large (it is just not JSON). */
	expect_fail_n("65535 bytes", buf, FT_EVENT_MAX_BYTES,
		      FT_EEVENT_ENVELOPE, "json: ", NULL);
	free(buf);

	/* A valid envelope padded with white space up to the limit. */
	char *env = envelope(SUBJ_A, FT_PRED_RELEASE, PRED_RELEASE);
	size_t n = strlen(env);
	buf = malloc(FT_EVENT_MAX_BYTES + 1);
	ck_assert_ptr_nonnull(buf);
	memcpy(buf, env, n);
	memset(buf + n, ' ', FT_EVENT_MAX_BYTES + 1 - n);
	ck_assert_int_eq(ft_event_parse((uint8_t *)buf, FT_EVENT_MAX_BYTES,
					&ev, reason, sizeof reason),
			 0);
	ft_event_free(&ev);
	ck_assert_int_eq(ft_event_parse((uint8_t *)buf, FT_EVENT_MAX_BYTES + 1,
					&ev, reason, sizeof reason),
			 FT_ETOOBIG);
	free(buf);
	free(env);

	ck_assert_int_eq(ft_event_parse(NULL, 5, &ev, reason, sizeof reason),
			 FT_EINVAL);
	ck_assert_int_eq(ft_event_parse((const uint8_t *)"{}", 2, NULL, reason,
					sizeof reason),
			 FT_EINVAL);
}
END_TEST

START_TEST(test_json_errors)
{
	char *env = envelope(SUBJ_A, FT_PRED_RELEASE, PRED_RELEASE);
	char *p64 = release_payload64();
	char *sig = some_sig();
	char *sigs = tu_strf("[{\"sig\":\"%s\"}]", sig);

	expect_fail("not JSON", "hello", FT_EEVENT_ENVELOPE, "json: ", NULL);
	expect_fail("unterminated", "{\"payload\":", FT_EEVENT_ENVELOPE,
		    "json: ", NULL);
	expect_fail("scalar", "42", FT_EEVENT_ENVELOPE, "json: ", NULL);

	/* Trailing bytes after a valid envelope. */
	char *t = tu_strf("%sx", env);
	expect_fail("trailing byte", t, FT_EEVENT_ENVELOPE, "json: ", NULL);
	free(t);
	t = tu_strf("%s{}", env);
	expect_fail("second object", t, FT_EEVENT_ENVELOPE, "json: ", NULL);
	free(t);
	/* Trailing white space is JSON (RFC 8259 "ws"): accepted. */
	t = tu_strf("%s \n", env);
	ft_event ev;
	expect_ok("trailing white space", t, &ev);
	ft_event_free(&ev);
	free(t);

	/* Duplicate keys, at the top and inside signatures. */
	t = tu_strf("{\"payloadType\":\"%s\",\"payload\":\"%s\",\"payload\":"
		    "\"%s\",\"signatures\":%s}",
		    FT_DSSE_PAYLOAD_TYPE, p64, p64, sigs);
	expect_fail("duplicate payload", t, FT_EEVENT_ENVELOPE, "json: ",
		    "duplicate");
	free(t);
	t = tu_strf("{\"payloadType\":\"%s\",\"payload\":\"%s\","
		    "\"signatures\":[{\"sig\":\"%s\",\"sig\":\"%s\"}]}",
		    FT_DSSE_PAYLOAD_TYPE, p64, sig, sig);
	expect_fail("duplicate sig", t, FT_EEVENT_ENVELOPE, "json: ",
		    "duplicate");
	free(t);

	/* Bad UTF-8 and NUL inside strings. */
	t = tu_strf("{\"payloadType\":\"%s\",\"payload\":\"%s\","
		    "\"signatures\":%s,\"x\":\"\xff\"}",
		    FT_DSSE_PAYLOAD_TYPE, p64, sigs);
	expect_fail("bad UTF-8", t, FT_EEVENT_ENVELOPE, "json: ", NULL);
	free(t);
	t = tu_strf("{\"payloadType\":\"%s\",\"payload\":\"%s\","
		    "\"signatures\":%s,\"x\":\"a\\u0000b\"}",
		    FT_DSSE_PAYLOAD_TYPE, p64, sigs);
	expect_fail("escaped NUL", t, FT_EEVENT_ENVELOPE, "json: ", NULL);
	free(t);
	const char raw_nul[] = "{\"a\":1}\0";
	expect_fail_n("raw NUL", raw_nul, sizeof raw_nul - 1,
		      FT_EEVENT_ENVELOPE, "json: ", NULL);

	/* A byte-order mark is not JSON text. */
	t = tu_strf("\xef\xbb\xbf%s", env);
	expect_fail("BOM", t, FT_EEVENT_ENVELOPE, "json: ", NULL);
	free(t);

	/* An array is JSON but not an envelope. */
	expect_fail("array", "[1,2]", FT_EEVENT_ENVELOPE, "envelope: ", NULL);

	free(sigs);
	free(sig);
	free(p64);
	free(env);
}
END_TEST

/* ---- Envelope. */

START_TEST(test_envelope_errors)
{
	char *p64 = release_payload64();
	char *sig = some_sig();
	char *sigs = tu_strf("[{\"sig\":\"%s\"}]", sig);
	char *t;

#define ENV_FAIL(what, fmt, ...)                                              \
	do {                                                                  \
		t = tu_strf(fmt, __VA_ARGS__);                                \
		expect_fail(what, t, FT_EEVENT_ENVELOPE, "envelope: ", NULL); \
		free(t);                                                      \
	} while (0)

	ENV_FAIL("no payloadType", "{\"payload\":\"%s\",\"signatures\":%s}",
		 p64, sigs);
	ENV_FAIL("payloadType number",
		 "{\"payloadType\":1,\"payload\":\"%s\",\"signatures\":%s}",
		 p64, sigs);
	ENV_FAIL("no payload", "{\"payloadType\":\"%s\",\"signatures\":%s}",
		 FT_DSSE_PAYLOAD_TYPE, sigs);
	ENV_FAIL("payload null",
		 "{\"payloadType\":\"%s\",\"payload\":null,\"signatures\":%s}",
		 FT_DSSE_PAYLOAD_TYPE, sigs);
	ENV_FAIL("no signatures", "{\"payloadType\":\"%s\",\"payload\":\"%s\"}",
		 FT_DSSE_PAYLOAD_TYPE, p64);
	ENV_FAIL("empty signatures",
		 "{\"payloadType\":\"%s\",\"payload\":\"%s\","
		 "\"signatures\":[]}",
		 FT_DSSE_PAYLOAD_TYPE, p64);
	ENV_FAIL("signatures object",
		 "{\"payloadType\":\"%s\",\"payload\":\"%s\",\"signatures\":"
		 "{\"sig\":\"%s\"}}",
		 FT_DSSE_PAYLOAD_TYPE, p64, sig);
	ENV_FAIL("signature not object",
		 "{\"payloadType\":\"%s\",\"payload\":\"%s\",\"signatures\":"
		 "[\"%s\"]}",
		 FT_DSSE_PAYLOAD_TYPE, p64, sig);
	ENV_FAIL("no sig",
		 "{\"payloadType\":\"%s\",\"payload\":\"%s\",\"signatures\":"
		 "[{\"keyid\":\"%s\"}]}",
		 FT_DSSE_PAYLOAD_TYPE, p64, "k");
	ENV_FAIL("sig number",
		 "{\"payloadType\":\"%s\",\"payload\":\"%s\",\"signatures\":"
		 "[{\"sig\":%d}]}",
		 FT_DSSE_PAYLOAD_TYPE, p64, 5);
	ENV_FAIL("keyid number",
		 "{\"payloadType\":\"%s\",\"payload\":\"%s\",\"signatures\":"
		 "[{\"keyid\":7,\"sig\":\"%s\"}]}",
		 FT_DSSE_PAYLOAD_TYPE, p64, sig);
	char longid[FT_EVENT_KEYID_MAX + 2];
	memset(longid, 'k', sizeof longid - 1);
	longid[sizeof longid - 1] = '\0';
	ENV_FAIL("keyid too long",
		 "{\"payloadType\":\"%s\",\"payload\":\"%s\",\"signatures\":"
		 "[{\"keyid\":\"%s\",\"sig\":\"%s\"}]}",
		 FT_DSSE_PAYLOAD_TYPE, p64, longid, sig);
	/* Keyid of exactly the maximum, and other fields: fine. */
	longid[FT_EVENT_KEYID_MAX] = '\0';
	t = tu_strf("{\"payloadType\":\"%s\",\"payload\":\"%s\",\"signatures\":"
		    "[{\"keyid\":\"%s\",\"sig\":\"%s\",\"extra\":1}],"
		    "\"other\":{}}",
		    FT_DSSE_PAYLOAD_TYPE, p64, longid, sig);
	ft_event ev;
	expect_ok("max keyid, extra fields", t, &ev);
	ck_assert_str_eq(ev.sigs[0].keyid, longid);
	ft_event_free(&ev);
	free(t);
	/* No keyid: "". */
	t = raw_env(FT_DSSE_PAYLOAD_TYPE, p64, sigs);
	expect_ok("no keyid", t, &ev);
	ck_assert_str_eq(ev.sigs[0].keyid, "");
	ck_assert_int_eq(ev.kind, FT_EVENT_RELEASE);
	ck_assert_int_eq(ft_event_verify(&ev, 0, &V[0]), FT_ENOTE_BADSIG);
	ft_event_free(&ev);
	free(t);
#undef ENV_FAIL

	/* Wrong payloadType: its own rule, still an envelope error. */
	const char *bad_types[] = { "application/json",
				    "application/vnd.in-toto+json ",
				    "APPLICATION/VND.IN-TOTO+JSON", "" };
	for (size_t i = 0; i < sizeof bad_types / sizeof bad_types[0]; i++) {
		t = raw_env(bad_types[i], p64, sigs);
		expect_fail(bad_types[i], t, FT_EEVENT_ENVELOPE,
			    "payload-type: ", NULL);
		free(t);
	}
	/* The payload-type check comes after the envelope's shape. */
	t = tu_strf("{\"payloadType\":\"x\",\"payload\":\"%s\"}", p64);
	expect_fail("shape first", t, FT_EEVENT_ENVELOPE, "envelope: ", NULL);
	free(t);

	free(sigs);
	free(sig);
	free(p64);
}
END_TEST

START_TEST(test_base64)
{
	char *stmt = statement_of(SUBJ_A, FT_PRED_RELEASE, PRED_RELEASE);
	char *env = sign_n(stmt, 1, NULL);
	ft_event ev;
	ft_event good;
	char *t;

	expect_ok("signed", env, &good);
	char *p64 = b64(stmt, strlen(stmt));
	char *s64 = b64(good.sigs[0].sig, 64);
	/* The mixed-alphabet test below needs two of '+' and '/'. */
	size_t nspecial = 0;
	for (const char *p = s64; *p != '\0'; p++) {
		nspecial += *p == '+' || *p == '/';
	}
	ck_assert_uint_ge(nspecial, 2);

	/* Every spelling: standard/URL-safe, padded/unpadded, for payload
	 * and signature independently; all parse to the same event. */
	for (unsigned v = 0; v < 16; v++) {
		char *pp = strdup(p64);
		char *ss = strdup(s64);

		ck_assert(pp != NULL && ss != NULL);
		if (v & 1) {
			to_url(pp, false);
		}
		if (v & 2) {
			strip_pad(pp);
		}
		if (v & 4) {
			to_url(ss, false);
		}
		if (v & 8) {
			strip_pad(ss);
		}
		char *sigs = tu_strf("[{\"sig\":\"%s\"}]", ss);
		t = raw_env(FT_DSSE_PAYLOAD_TYPE, pp, sigs);
		expect_ok("variant", t, &ev);
		ck_assert_uint_eq(ev.payload_len, good.payload_len);
		ck_assert_mem_eq(ev.payload, good.payload, ev.payload_len);
		ck_assert_mem_eq(ev.sigs[0].sig, good.sigs[0].sig, 64);
		ck_assert_int_eq(ft_event_verify(&ev, 0, &V[0]), 0);
		ft_event_free(&ev);
		free(t);
		free(sigs);
		free(pp);
		free(ss);
	}

	/* Mixed alphabets in one string. */
	char *mixed = strdup(s64);
	ck_assert_ptr_nonnull(mixed);
	char *first = mixed + strcspn(mixed, "+/");
	*first = *first == '+' ? '-' : '_';
	char *sigs = tu_strf("[{\"sig\":\"%s\"}]", mixed);
	t = raw_env(FT_DSSE_PAYLOAD_TYPE, p64, sigs);
	expect_fail("mixed sig", t, FT_EEVENT_ENVELOPE, "envelope: ", "base64");
	free(t);
	free(sigs);
	free(mixed);

	/* Mixed payload: a statement whose encoding has '+' and '/'. */
	{
		/* "?>" encodes with '/', "~~" with '+' ("Pz4" and "fn4"):
		 * use bytes that produce both: 0xfb 0xff -> "+/8". */
		static const uint8_t odd[] = { 0xfb, 0xff, 0xfe };
		char *o64 = b64(odd, sizeof odd); /* "+//+" */
		char *m = strdup(o64);
		ck_assert_ptr_nonnull(m);
		ck_assert_str_eq(o64, "+//+");
		m[0] = '-';
		sigs = tu_strf("[{\"sig\":\"%s\"}]", s64);
		t = raw_env(FT_DSSE_PAYLOAD_TYPE, m, sigs);
		expect_fail("mixed payload", t, FT_EEVENT_ENVELOPE,
			    "envelope: ", "payload");
		free(t);
		/* The pure alphabets of those bytes decode; the payload is
		 * then not JSON: a statement error, past base64. */
		t = raw_env(FT_DSSE_PAYLOAD_TYPE, o64, sigs);
		expect_fail("pure payload", t, FT_EEVENT_STATEMENT,
			    "statement: ", NULL);
		free(t);
		strcpy(m, "-__-");
		t = raw_env(FT_DSSE_PAYLOAD_TYPE, m, sigs);
		expect_fail("url payload", t, FT_EEVENT_STATEMENT,
			    "statement: ", NULL);
		free(t);
		free(sigs);
		free(m);
		free(o64);
	}

	/* Broken payload encodings ("e30" is "{}", "ew" is "{"). */
	static const struct {
		const char *b64;
		int want;
	} pl[] = {
		{ "e30", FT_EEVENT_STATEMENT },	  /* unpadded */
		{ "e30=", FT_EEVENT_STATEMENT },  /* padded */
		{ "ew", FT_EEVENT_STATEMENT },	  /* unpadded */
		{ "ew==", FT_EEVENT_STATEMENT },  /* padded */
		{ "e31=", FT_EEVENT_ENVELOPE },	  /* non-zero trailing bits */
		{ "e3", FT_EEVENT_ENVELOPE },	  /* non-zero trailing bits */
		{ "ew=", FT_EEVENT_ENVELOPE },	  /* short padding */
		{ "e", FT_EEVENT_ENVELOPE },	  /* one character */
		{ "e30==", FT_EEVENT_ENVELOPE },  /* too much padding */
		{ "e30===", FT_EEVENT_ENVELOPE }, /* three '=' */
		{ "=e30", FT_EEVENT_ENVELOPE },	  /* padding first */
		{ "e3=0", FT_EEVENT_ENVELOPE },	  /* padding inside */
		{ "e30 ", FT_EEVENT_ENVELOPE },	  /* space */
		{ "e3\\n0", FT_EEVENT_ENVELOPE }, /* newline */
		{ "e30*", FT_EEVENT_ENVELOPE },	  /* not base64 */
		{ "\\u00e930", FT_EEVENT_ENVELOPE }, /* non-ASCII */
	};
	sigs = tu_strf("[{\"sig\":\"%s\"}]", s64);
	for (size_t i = 0; i < sizeof pl / sizeof pl[0]; i++) {
		t = raw_env(FT_DSSE_PAYLOAD_TYPE, pl[i].b64, sigs);
		expect_fail(pl[i].b64, t, pl[i].want,
			    pl[i].want == FT_EEVENT_ENVELOPE ? "envelope: "
							     : "statement: ",
			    NULL);
		free(t);
	}
	/* An empty payload decodes to nothing, which is not a statement. */
	t = raw_env(FT_DSSE_PAYLOAD_TYPE, "", sigs);
	expect_fail("empty payload", t, FT_EEVENT_STATEMENT, "statement: ",
		    NULL);
	free(t);
	free(sigs);

	/* Broken signature encodings and lengths. */
	uint8_t raw[66];
	memset(raw, 0x5a, sizeof raw);
	const size_t lens[] = { 0, 1, 63, 65, 66 };
	for (size_t i = 0; i < sizeof lens / sizeof lens[0]; i++) {
		char *e = b64(raw, lens[i]);
		sigs = tu_strf("[{\"sig\":\"%s\"}]", e);
		t = raw_env(FT_DSSE_PAYLOAD_TYPE, p64, sigs);
		expect_fail("sig length", t, FT_EEVENT_ENVELOPE, "envelope: ",
			    "not 64");
		free(t);
		free(sigs);
		free(e);
	}
	/* Non-canonical trailing bits in a signature: 64 bytes are 86
	 * characters and 4 spare bits. */
	char *nc = strdup(s64);
	ck_assert_ptr_nonnull(nc);
	strip_pad(nc);
	ck_assert_uint_eq(strlen(nc), 86);
	/* Its last character carries 2 data bits: A, Q, g or w. */
	ck_assert_ptr_nonnull(strchr("AQgw", nc[85]));
	nc[85]++;
	sigs = tu_strf("[{\"sig\":\"%s\"}]", nc);
	t = raw_env(FT_DSSE_PAYLOAD_TYPE, p64, sigs);
	expect_fail("sig trailing bits", t, FT_EEVENT_ENVELOPE, "envelope: ",
		    "base64");
	free(t);
	free(sigs);
	free(nc);
	/* The second signature is bad: reported with its index. */
	sigs = tu_strf("[{\"sig\":\"%s\"},{\"sig\":\"%s*\"}]", s64, s64);
	t = raw_env(FT_DSSE_PAYLOAD_TYPE, p64, sigs);
	expect_fail("second sig", t, FT_EEVENT_ENVELOPE, "envelope: ",
		    "signature 1");
	free(t);
	free(sigs);

	ft_event_free(&good);
	free(s64);
	free(p64);
	free(env);
	free(stmt);
}
END_TEST

/* ---- Statement. */

START_TEST(test_statement_errors)
{
	const char *rp = PRED_RELEASE;
	const char *rt = FT_PRED_RELEASE;
	char *t;
	char *env;

#define ST_FAIL(what, stmt)                                                   \
	do {                                                                  \
		env = sign_n(stmt, 1, NULL);                                  \
		expect_fail(what, env, FT_EEVENT_STATEMENT, "statement: ",    \
			    NULL);                                            \
		free(env);                                                    \
	} while (0)

	ST_FAIL("not JSON", "not json");
	ST_FAIL("array", "[]");
	ST_FAIL("trailing", "{\"_type\":\"x\"} x");
	ST_FAIL("duplicate key",
		"{\"_type\":\"" FT_STATEMENT_TYPE "\","
		"\"_type\":\"" FT_STATEMENT_TYPE "\","
		"\"subject\":[" SUBJ_A "],"
		"\"predicateType\":\"" FT_PRED_RELEASE "\","
		"\"predicate\":" PRED_RELEASE "}");
	ST_FAIL("no _type",
		"{\"subject\":[" SUBJ_A "],\"predicateType\":\"" FT_PRED_RELEASE
		"\",\"predicate\":" PRED_RELEASE "}");
	ST_FAIL("old _type",
		"{\"_type\":\"https://in-toto.io/Statement/v0.1\",\"subject\":["
		SUBJ_A "],\"predicateType\":\"" FT_PRED_RELEASE
		"\",\"predicate\":" PRED_RELEASE "}");

	t = tu_strf("{\"_type\":\"%s\",\"predicateType\":\"%s\","
		    "\"predicate\":%s}",
		    FT_STATEMENT_TYPE, rt, rp);
	ST_FAIL("no subject", t);
	free(t);

#define SUBJ_FAIL(what, subjects)                                             \
	do {                                                                  \
		stmt_fail(what, subjects, rt, rp, FT_EEVENT_STATEMENT,        \
			  "statement: ", NULL);                               \
	} while (0)

	SUBJ_FAIL("empty subject", "");
	SUBJ_FAIL("subject not object", "\"x\"");
	SUBJ_FAIL("no digest", "{\"name\":\"a\"}");
	SUBJ_FAIL("digest not object", "{\"digest\":\"" HEX_A "\"}");
	SUBJ_FAIL("no sha256", "{\"digest\":{\"sha512\":\"" HEX_A "\"}}");
	SUBJ_FAIL("uppercase hex",
		  "{\"digest\":{\"sha256\":\"" HEXUP "\"}}");
	SUBJ_FAIL("short hex",
		  "{\"digest\":{\"sha256\":\"" HEX63 "\"}}");
	SUBJ_FAIL("long hex", "{\"digest\":{\"sha256\":\"" HEX_A "a\"}}");
	SUBJ_FAIL("non-hex",
		  "{\"digest\":{\"sha256\":\"" HEX_G "\"}}");
	SUBJ_FAIL("sha256 number", "{\"digest\":{\"sha256\":1}}");
	SUBJ_FAIL("duplicate subject", SUBJ_A "," SUBJ_B "," SUBJ_A);
	SUBJ_FAIL("name number",
		  "{\"name\":1,\"digest\":{\"sha256\":\"" HEX_A "\"}}");
	SUBJ_FAIL("name control",
		  "{\"name\":\"a\\nb\",\"digest\":{\"sha256\":\"" HEX_A "\"}}");
	stmt_fail("duplicate subject reason", SUBJ_A "," SUBJ_A, rt, rp,
		  FT_EEVENT_STATEMENT, "statement: ", "repeats");
	stmt_fail("uppercase reason",
		  "{\"digest\":{\"sha256\":\"" HEXUP "\"}}",
		  rt, rp, FT_EEVENT_STATEMENT, "statement: ", "lowercase hex");

	/* 64 subjects fit, 65 do not. */
	char *subs = strdup("");
	ck_assert_ptr_nonnull(subs);
	for (unsigned i = 0; i < FT_EVENT_MAX_SUBJECTS + 1; i++) {
		char *more = tu_strf("%s%s{\"digest\":{\"sha256\":\"%064x\"}}",
				     subs, i == 0 ? "" : ",", i + 1);
		free(subs);
		subs = more;
		if (i + 1 == FT_EVENT_MAX_SUBJECTS) {
			stmt_ok("64 subjects", subs, rt, rp);
		}
	}
	SUBJ_FAIL("65 subjects", subs);
	free(subs);

	/* Other digests and subject fields are in-toto's: ignored. Names
	 * are optional, and may be empty. */
	stmt_ok("other digests", "{\"digest\":{\"sha512\":\"zz\",\"sha256\":\""
		HEX_A "\",\"gitCommit\":\"abc\"},\"annotations\":{\"a\":1}}",
		rt, rp);
	stmt_ok("empty name", "{\"name\":\"\",\"digest\":{\"sha256\":\"" HEX_A
		"\"}}", rt, rp);
	{
		char *e = envelope("{\"digest\":{\"sha256\":\"" HEX_A "\"}}",
				   rt, rp);
		ft_event ev;

		expect_ok("no name", e, &ev);
		ck_assert_ptr_nonnull(ev.subjects[0].name);
		ck_assert_str_eq(ev.subjects[0].name, "");
		ft_event_free(&ev);
		free(e);
	}

	t = tu_strf("{\"_type\":\"%s\",\"subject\":[%s],\"predicate\":%s}",
		    FT_STATEMENT_TYPE, SUBJ_A, rp);
	ST_FAIL("no predicateType", t);
	free(t);
	t = tu_strf("{\"_type\":\"%s\",\"subject\":[%s],\"predicateType\":1,"
		    "\"predicate\":%s}",
		    FT_STATEMENT_TYPE, SUBJ_A, rp);
	ST_FAIL("predicateType number", t);
	free(t);
	t = tu_strf("{\"_type\":\"%s\",\"subject\":[%s],\"predicateType\":"
		    "\"%s\"}",
		    FT_STATEMENT_TYPE, SUBJ_A, rt);
	ST_FAIL("no predicate", t);
	free(t);
	stmt_fail("predicate array", SUBJ_A, rt, "[]", FT_EEVENT_STATEMENT,
		  "statement: ", NULL);
	stmt_fail("predicate null", SUBJ_A, rt, "null", FT_EEVENT_STATEMENT,
		  "statement: ", NULL);
#undef ST_FAIL
#undef SUBJ_FAIL
}
END_TEST

START_TEST(test_predicate_type)
{
	const char *bad[] = {
		"https://ftlog.dev/release/v2",
		"https://ftlog.dev/release/v1/",
		"HTTPS://ftlog.dev/release/v1",
		"https://slsa.dev/provenance/v0.2",
		"",
	};

	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		stmt_fail(bad[i], SUBJ_A, bad[i], PRED_RELEASE,
			  FT_EEVENT_PREDTYPE, "predicate-type: ", NULL);
	}
	/* A long type is quoted, cut, on one line. */
	char longtype[2000];
	memset(longtype, 'z', sizeof longtype - 1);
	longtype[sizeof longtype - 1] = '\0';
	longtype[5] = '\\'; /* a JSON escaped tab */
	longtype[6] = 't';
	char *env = envelope(SUBJ_A, longtype, PRED_RELEASE);
	char reason[512];
	ft_event ev;
	ck_assert_int_eq(ft_event_parse((uint8_t *)env, strlen(env), &ev,
					reason, sizeof reason),
			 FT_EEVENT_PREDTYPE);
	ck_assert_uint_lt(strlen(reason), 120);
	ck_assert_ptr_nonnull(strstr(reason, "..."));
	ck_assert_ptr_null(strchr(reason, '\t'));
	/* A tiny reason buffer still gets a terminated prefix. */
	ck_assert_int_eq(ft_event_parse((uint8_t *)env, strlen(env), &ev,
					reason, 8),
			 FT_EEVENT_PREDTYPE);
	ck_assert_str_eq(reason, "predica");
	ck_assert_int_eq(ft_event_parse((uint8_t *)env, strlen(env), &ev,
					NULL, 0),
			 FT_EEVENT_PREDTYPE);
	free(env);
}
END_TEST

/* ---- Predicates. */

START_TEST(test_release_errors)
{
	const char *rt = FT_PRED_RELEASE;

	/* Missing required fields, one at a time. */
	release_fail("no product", "", F_VENDOR, F_VERSION, F_SECVER, F_HW, "",
		     "\"product\" is missing");
	release_fail("no vendor", F_PRODUCT, "", F_VERSION, F_SECVER, F_HW, "",
		     "\"vendor\" is missing");
	release_fail("no version", F_PRODUCT, F_VENDOR, "", F_SECVER, F_HW, "",
		     "\"version\" is missing");
	release_fail("no secver", F_PRODUCT, F_VENDOR, F_VERSION, "", F_HW, "",
		     "\"security_version\" is missing");
	release_fail("no hw", F_PRODUCT, F_VENDOR, F_VERSION, F_SECVER, "", "",
		     "\"hardware_models\" is missing");
	release_ok("all required", F_PRODUCT, F_VENDOR, F_VERSION, F_SECVER,
		   F_HW, "");

	/* Ill-typed. */
	release_fail("product number", "\"product\":1", F_VENDOR, F_VERSION,
		     F_SECVER, F_HW, "", "not a string");
	release_fail("vendor null", F_PRODUCT, "\"vendor\":null", F_VERSION,
		     F_SECVER, F_HW, "", "not a string");
	release_fail("version array", F_PRODUCT, F_VENDOR,
		     "\"version\":[\"1\"]", F_SECVER, F_HW, "",
		     "not a string");
	release_fail("secver string", F_PRODUCT, F_VENDOR, F_VERSION,
		     "\"security_version\":\"7\"", F_HW, "",
		     "not an integer");
	release_fail("hw string", F_PRODUCT, F_VENDOR, F_VERSION, F_SECVER,
		     "\"hardware_models\":\"hw-a\"", "", "not an array");
	release_fail("hw numbers", F_PRODUCT, F_VENDOR, F_VERSION, F_SECVER,
		     "\"hardware_models\":[1]", "", "element 0");

	/* security_version range and form. */
	release_fail("secver negative", F_PRODUCT, F_VENDOR, F_VERSION,
		     "\"security_version\":-1", F_HW, "", "negative");
	release_fail("secver real", F_PRODUCT, F_VENDOR, F_VERSION,
		     "\"security_version\":7.0", F_HW, "", "not an integer");
	release_fail("secver exp", F_PRODUCT, F_VENDOR, F_VERSION,
		     "\"security_version\":1e3", F_HW, "", "not an integer");
	release_fail("secver 2^53", F_PRODUCT, F_VENDOR, F_VERSION,
		     "\"security_version\":9007199254740992", F_HW, "",
		     "2^53");
	release_fail("secver bool", F_PRODUCT, F_VENDOR, F_VERSION,
		     "\"security_version\":true", F_HW, "", "not an integer");
	release_ok("secver 2^53-1", F_PRODUCT, F_VENDOR, F_VERSION,
		   "\"security_version\":9007199254740991", F_HW, "");
	release_ok("secver 0", F_PRODUCT, F_VENDOR, F_VERSION,
		   "\"security_version\":0", F_HW, "");
	/* Beyond jansson's integers: the payload is not JSON it reads. */
	{
		char *pred = release_with(F_PRODUCT, F_VENDOR, F_VERSION,
					  "\"security_version\":"
					  "99999999999999999999",
					  F_HW, "");
		stmt_fail("secver huge", SUBJ_A, rt, pred,
			  FT_EEVENT_STATEMENT, "statement: ", NULL);
		free(pred);
	}

	/* Unknown fields. */
	release_fail("unknown", F_PRODUCT, F_VENDOR, F_VERSION, F_SECVER, F_HW,
		     "\"securityVersion\":7", "unknown field");
	release_fail("unknown evidence field", F_PRODUCT, F_VENDOR, F_VERSION,
		     F_SECVER, F_HW,
		     "\"evidence\":{\"type\":\"scas\",\"sha256\":\"" HEX_A
		     "\",\"url\":\"x\"}",
		     "unknown field");

	/* Field contents. */
	release_fail("product space", "\"product\":\"gnb du\"", F_VENDOR,
		     F_VERSION, F_SECVER, F_HW, "", "[A-Za-z0-9._-]");
	release_fail("product slash", "\"product\":\"gnb/du\"", F_VENDOR,
		     F_VERSION, F_SECVER, F_HW, "", "[A-Za-z0-9._-]");
	release_fail("product star", "\"product\":\"gnb*\"", F_VENDOR,
		     F_VERSION, F_SECVER, F_HW, "", "[A-Za-z0-9._-]");
	release_fail("product empty", "\"product\":\"\"", F_VENDOR, F_VERSION,
		     F_SECVER, F_HW, "", "empty");
	release_fail("vendor space", F_PRODUCT, "\"vendor\":\"Acme Corp\"",
		     F_VERSION, F_SECVER, F_HW, "", "space");
	release_fail("vendor utf8", F_PRODUCT, "\"vendor\":\"acm\\u00e9\"",
		     F_VERSION, F_SECVER, F_HW, "", "non-ASCII");
	release_fail("version control", F_PRODUCT, F_VENDOR,
		     "\"version\":\"1.2\\u0007\"", F_SECVER, F_HW, "",
		     "control");
	release_fail("version C1 control", F_PRODUCT, F_VENDOR,
		     "\"version\":\"1.2\\u009b\"", F_SECVER, F_HW, "",
		     "control");
	release_ok("version utf8 and space", F_PRODUCT, F_VENDOR,
		   "\"version\":\"1.2 r\\u00e9v\"", F_SECVER, F_HW, "");
	release_fail("hw empty", F_PRODUCT, F_VENDOR, F_VERSION, F_SECVER,
		     "\"hardware_models\":[]", "", "empty");
	release_fail("hw duplicate", F_PRODUCT, F_VENDOR, F_VERSION, F_SECVER,
		     "\"hardware_models\":[\"a\",\"b\",\"a\"]", "", "repeats");
	release_fail("hw empty string", F_PRODUCT, F_VENDOR, F_VERSION,
		     F_SECVER, "\"hardware_models\":[\"\"]", "", "empty");
	release_fail("hw space", F_PRODUCT, F_VENDOR, F_VERSION, F_SECVER,
		     "\"hardware_models\":[\"hw a\"]", "", "space");

	/* Sizes: FT_EVENT_FIELD_MAX bytes fit, one more does not. */
	{
		char v[FT_EVENT_FIELD_MAX + 2];
		char *f;

		memset(v, 'p', sizeof v - 1);
		v[FT_EVENT_FIELD_MAX] = '\0';
		f = tu_strf("\"product\":\"%s\"", v);
		release_ok("product max", f, F_VENDOR, F_VERSION, F_SECVER,
			   F_HW, "");
		free(f);
		v[FT_EVENT_FIELD_MAX] = 'p';
		v[FT_EVENT_FIELD_MAX + 1] = '\0';
		f = tu_strf("\"product\":\"%s\"", v);
		release_fail("product long", f, F_VENDOR, F_VERSION, F_SECVER,
			     F_HW, "", "too long");
		free(f);
		f = tu_strf("\"version\":\"%s\"", v);
		release_fail("version long", F_PRODUCT, F_VENDOR, f, F_SECVER,
			     F_HW, "", "too long");
		free(f);
		f = tu_strf("\"hardware_models\":[\"%s\"]", v);
		release_fail("hw long", F_PRODUCT, F_VENDOR, F_VERSION,
			     F_SECVER, f, "", "too long");
		free(f);
	}
	/* 64 hardware models fit, 65 do not. */
	{
		char *hw = strdup("\"hardware_models\":[");
		ck_assert_ptr_nonnull(hw);
		for (unsigned i = 0; i <= FT_EVENT_MAX_HW; i++) {
			char *more = tu_strf("%s%s\"hw-%u\"", hw,
					     i == 0 ? "" : ",", i);
			free(hw);
			hw = more;
			if (i + 1 == FT_EVENT_MAX_HW) {
				char *f = tu_strf("%s]", hw);
				release_ok("64 hw", F_PRODUCT, F_VENDOR,
					   F_VERSION, F_SECVER, f, "");
				free(f);
			}
		}
		char *f = tu_strf("%s]", hw);
		release_fail("65 hw", F_PRODUCT, F_VENDOR, F_VERSION, F_SECVER,
			     f, "", "too many");
		free(f);
		free(hw);
	}

	/* Optional references. */
	release_fail("sbom uppercase", F_PRODUCT, F_VENDOR, F_VERSION,
		     F_SECVER, F_HW,
		     "\"sbom_sha256\":\"" HEXUP "\"",
		     "sbom_sha256");
	release_fail("sbom short", F_PRODUCT, F_VENDOR, F_VERSION, F_SECVER,
		     F_HW, "\"sbom_sha256\":\"abab\"", "sbom_sha256");
	release_fail("build_index negative", F_PRODUCT, F_VENDOR, F_VERSION,
		     F_SECVER, F_HW, "\"build_index\":-3", "negative");
	release_fail("build_index real", F_PRODUCT, F_VENDOR, F_VERSION,
		     F_SECVER, F_HW, "\"build_index\":3.5", "not an integer");
	release_fail("evidence not object", F_PRODUCT, F_VENDOR, F_VERSION,
		     F_SECVER, F_HW, "\"evidence\":\"scas\"", "not an object");
	release_fail("evidence type", F_PRODUCT, F_VENDOR, F_VERSION,
		     F_SECVER, F_HW,
		     "\"evidence\":{\"type\":\"SCAS\",\"sha256\":\"" HEX_A
		     "\"}",
		     "evidence.type");
	release_fail("evidence no type", F_PRODUCT, F_VENDOR, F_VERSION,
		     F_SECVER, F_HW, "\"evidence\":{\"sha256\":\"" HEX_A "\"}",
		     "evidence.type");
	release_fail("evidence no sha256", F_PRODUCT, F_VENDOR, F_VERSION,
		     F_SECVER, F_HW, "\"evidence\":{\"type\":\"nesas\"}",
		     "evidence.sha256");
	release_ok("evidence nesas", F_PRODUCT, F_VENDOR, F_VERSION, F_SECVER,
		   F_HW,
		   "\"evidence\":{\"type\":\"nesas\","
		   "\"sha256\":\"" HEX_A "\"}");
	release_ok("build_index 0", F_PRODUCT, F_VENDOR, F_VERSION, F_SECVER,
		   F_HW, "\"build_index\":0");
}
END_TEST

START_TEST(test_distribution_errors)
{
	const char *dt = FT_PRED_DISTRIBUTION;

	pred_fail("no product", dt, "{\"channel\":\"stable\"}",
		  "\"product\" is missing");
	pred_fail("no channel", dt, "{\"product\":\"gnb-du\"}",
		  "\"channel\" is missing");
	pred_fail("unknown", dt,
		  "{\"product\":\"gnb-du\",\"channel\":\"s\","
		  "\"region\":[\"x\"]}",
		  "unknown field");
	pred_fail("channel space", dt,
		  "{\"product\":\"gnb-du\",\"channel\":\"early access\"}",
		  "space");
	pred_fail("regions string", dt,
		  "{\"product\":\"gnb-du\",\"channel\":\"s\","
		  "\"regions\":\"eu\"}",
		  "not an array");
	pred_fail("regions empty", dt,
		  "{\"product\":\"gnb-du\",\"channel\":\"s\",\"regions\":[]}",
		  "empty");
	pred_fail("regions number", dt,
		  "{\"product\":\"gnb-du\",\"channel\":\"s\",\"regions\":[1]}",
		  "element 0");
	pred_fail("slices duplicate", dt,
		  "{\"product\":\"gnb-du\",\"channel\":\"s\","
		  "\"network_slices\":[\"a\",\"a\"]}",
		  "repeats");
	pred_fail("uri space", dt,
		  "{\"product\":\"gnb-du\",\"channel\":\"s\",\"uri\":\"a b\"}",
		  "space");
	pred_fail("uri empty", dt,
		  "{\"product\":\"gnb-du\",\"channel\":\"s\",\"uri\":\"\"}",
		  "empty");
	pred_fail("version number", dt,
		  "{\"product\":\"gnb-du\",\"channel\":\"s\",\"version\":1}",
		  "not a string");
	pred_fail("release fields", dt,
		  "{\"product\":\"gnb-du\",\"channel\":\"s\","
		  "\"security_version\":1}",
		  "unknown field");

	/* uri: up to FT_EVENT_TEXT_MAX bytes. */
	char u[FT_EVENT_TEXT_MAX + 2];
	memset(u, 'u', sizeof u - 1);
	u[FT_EVENT_TEXT_MAX] = '\0';
	char *p = tu_strf("{\"product\":\"gnb-du\",\"channel\":\"s\","
			  "\"uri\":\"%s\"}",
			  u);
	stmt_ok("uri max", SUBJ_A, dt, p);
	free(p);
	u[FT_EVENT_TEXT_MAX] = 'u';
	u[FT_EVENT_TEXT_MAX + 1] = '\0';
	p = tu_strf("{\"product\":\"gnb-du\",\"channel\":\"s\","
		    "\"uri\":\"%s\"}",
		    u);
	pred_fail("uri long", dt, p, "too long");
	free(p);
}
END_TEST

START_TEST(test_revocation_errors)
{
	const char *vt = FT_PRED_REVOCATION;
	char *subj = NULL;
	char *pred = NULL;

	pred_fail("no target", vt, "{\"product\":\"gnb-du\",\"reason\":\"r\"}",
		  "\"target\" is missing");
	pred_fail("bad target", vt,
		  "{\"target\":\"firmware\",\"product\":\"gnb-du\","
		  "\"reason\":\"r\"}",
		  "\"target\" is not");
	pred_fail("target number", vt,
		  "{\"target\":1,\"product\":\"gnb-du\",\"reason\":\"r\"}",
		  "\"target\" is not");
	pred_fail("no reason", vt,
		  "{\"target\":\"image\",\"product\":\"gnb-du\"}",
		  "\"reason\" is missing");
	pred_fail("empty reason", vt,
		  "{\"target\":\"image\",\"product\":\"gnb-du\","
		  "\"reason\":\"\"}",
		  "empty");
	pred_fail("reason newline", vt,
		  "{\"target\":\"image\",\"product\":\"gnb-du\","
		  "\"reason\":\"a\\nb\"}",
		  "control");
	pred_fail("image no product", vt,
		  "{\"target\":\"image\",\"reason\":\"r\"}",
		  "\"product\" is missing");
	pred_fail("unknown", vt,
		  "{\"target\":\"image\",\"product\":\"gnb-du\",\"reason\":"
		  "\"r\",\"severity\":\"high\"}",
		  "unknown field");

	/* Image revocation with a key: forbidden. */
	{
		char vstr[FT_KEY_STR_MAX + 1];
		size_t vlen = 0;

		ck_assert_int_eq(ft_vkey_format(&V[1], vstr, sizeof vstr,
						&vlen),
				 0);
		char *p = tu_strf("{\"target\":\"image\",\"product\":"
				  "\"gnb-du\",\"reason\":\"r\",\"key\":\"%s\"}",
				  vstr);
		pred_fail("image with key", vt, p, "\"key\" is not allowed");
		free(p);

		/* Key revocation without the key. */
		pred_fail("key without key", vt,
			  "{\"target\":\"key\",\"reason\":\"r\"}",
			  "\"key\" is missing");
		/* A key that does not parse. */
		vstr[vlen - 2] ^= 1; /* base64 of the key: id mismatch */
		p = tu_strf("{\"target\":\"key\",\"reason\":\"r\",\"key\":"
			    "\"%s\"}",
			    vstr);
		pred_fail("key id mismatch", vt, p, "not a verifier key");
		free(p);
		pred_fail("key garbage", vt,
			  "{\"target\":\"key\",\"reason\":\"r\",\"key\":\"x\"}",
			  "not a verifier key");
		pred_fail("key number", vt,
			  "{\"target\":\"key\",\"reason\":\"r\",\"key\":1}",
			  "not a key string");
	}

	/* A cosignature (0x04) key is not an Ed25519 signing key. */
	{
		ft_skey ck;
		ft_vkey cv;
		uint8_t seed[32];
		char vstr[FT_KEY_STR_MAX + 1];
		size_t vlen = 0;
		uint8_t d[32];
		char hex[65];

		memset(seed, 9, sizeof seed);
		ck_assert_int_eq(ft_key_from_seed("w.example", 9,
						  FT_KEY_COSIG_V1, seed, &ck),
				 0);
		ft_skey_public(&ck, &cv);
		ck_assert_int_eq(ft_vkey_format(&cv, vstr, sizeof vstr, &vlen),
				 0);
		ft_event_key_digest(&cv, d);
		hex_of(d, hex);
		char *s = tu_strf("{\"digest\":{\"sha256\":\"%s\"}}", hex);
		char *p = tu_strf("{\"target\":\"key\",\"reason\":\"r\","
				  "\"key\":\"%s\"}",
				  vstr);
		stmt_fail("cosig key", s, vt, p, FT_EEVENT_PREDICATE,
			  "predicate: ", "Ed25519");
		free(s);
		free(p);
		ft_skey_wipe(&ck);
	}

	/* The subject must be the key's digest, and be alone. */
	key_revocation(1, &subj, &pred, "");
	stmt_fail("digest mismatch", SUBJ_A, vt, pred, FT_EEVENT_PREDICATE,
		  "predicate: ", "digest");
	{
		char *two = tu_strf("%s,%s", subj, SUBJ_A);
		stmt_fail("two subjects", two, vt, pred, FT_EEVENT_PREDICATE,
			  "predicate: ", "exactly 1");
		free(two);
	}
	free(subj);
	free(pred);
	/* The digest of another key. */
	{
		char *s2 = NULL;
		char *p2 = NULL;

		key_revocation(2, &s2, &p2, "");
		key_revocation(1, &subj, &pred, "");
		stmt_fail("other key's digest", s2, vt, pred,
			  FT_EEVENT_PREDICATE, "predicate: ", "digest");
		free(s2);
		free(p2);
		free(subj);
		free(pred);
	}
	/* Key revocation: product is optional but checked. */
	key_revocation(1, &subj, &pred, ",\"product\":\"a b\"");
	stmt_fail("key bad product", subj, vt, pred, FT_EEVENT_PREDICATE,
		  "predicate: ", "product");
	free(subj);
	free(pred);
}
END_TEST

START_TEST(test_build_errors)
{
	const char *bt = FT_PRED_BUILD;

	pred_fail("empty", bt, "{}", "buildDefinition");
	pred_fail("no buildType", bt,
		  "{\"buildDefinition\":{\"externalParameters\":{}},"
		  "\"runDetails\":{\"builder\":{\"id\":\"b\"}}}",
		  "buildType");
	pred_fail("buildType number", bt,
		  "{\"buildDefinition\":{\"buildType\":1,"
		  "\"externalParameters\":{}},"
		  "\"runDetails\":{\"builder\":{\"id\":\"b\"}}}",
		  "buildType");
	pred_fail("no externalParameters", bt,
		  "{\"buildDefinition\":{\"buildType\":\"t\"},"
		  "\"runDetails\":{\"builder\":{\"id\":\"b\"}}}",
		  "externalParameters");
	pred_fail("externalParameters array", bt,
		  "{\"buildDefinition\":{\"buildType\":\"t\","
		  "\"externalParameters\":[]},"
		  "\"runDetails\":{\"builder\":{\"id\":\"b\"}}}",
		  "externalParameters");
	pred_fail("no runDetails", bt,
		  "{\"buildDefinition\":{\"buildType\":\"t\","
		  "\"externalParameters\":{}}}",
		  "runDetails");
	pred_fail("no builder", bt,
		  "{\"buildDefinition\":{\"buildType\":\"t\","
		  "\"externalParameters\":{}},\"runDetails\":{}}",
		  "runDetails.builder");
	pred_fail("no builder id", bt,
		  "{\"buildDefinition\":{\"buildType\":\"t\","
		  "\"externalParameters\":{}},\"runDetails\":{\"builder\":{}}}",
		  "runDetails.builder.id");
	pred_fail("empty builder id", bt,
		  "{\"buildDefinition\":{\"buildType\":\"t\","
		  "\"externalParameters\":{}},\"runDetails\":{\"builder\":"
		  "{\"id\":\"\"}}}",
		  "runDetails.builder.id");
	pred_fail("builder id number", bt,
		  "{\"buildDefinition\":{\"buildType\":\"t\","
		  "\"externalParameters\":{}},\"runDetails\":{\"builder\":"
		  "{\"id\":5}}}",
		  "runDetails.builder.id");
}
END_TEST

/* ---- Statement builder. */

START_TEST(test_statement_builder)
{
	static const struct {
		int kind;
		const char *uri;
		const char *pred;
	} cases[] = {
		{ FT_EVENT_BUILD, FT_PRED_BUILD, PRED_BUILD },
		{ FT_EVENT_RELEASE, FT_PRED_RELEASE, PRED_RELEASE },
		{ FT_EVENT_DISTRIBUTION, FT_PRED_DISTRIBUTION, PRED_DIST },
		{ FT_EVENT_REVOCATION, FT_PRED_REVOCATION, PRED_REVOKE_IMAGE },
	};
	ft_event_subject subj[2];
	char reason[256];
	char *out = NULL;
	size_t len = 0;
	ft_event ev;

	memset(subj, 0, sizeof subj);
	subj[0].name = "gnb-du-1.2.3.img";
	ck_assert_int_eq(tu_hex_decode(HEX_A, subj[0].sha256, 32), 0);
	subj[1].name = NULL;
	ck_assert_int_eq(tu_hex_decode(HEX_B, subj[1].sha256, 32), 0);

	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		const char *pred = cases[i].pred;
		int rc = ft_event_statement(cases[i].kind, subj, 2, pred,
					    strlen(pred), &out, &len, reason,
					    sizeof reason);

		ck_assert_msg(rc == 0, "%s (%s)", ft_errname(rc), reason);
		ck_assert_uint_eq(strlen(out), len);
		char *want = tu_strf(
			"{\"_type\":\"%s\",\"subject\":[{\"name\":"
			"\"gnb-du-1.2.3.img\",\"digest\":{\"sha256\":\"%s\"}},"
			"{\"digest\":{\"sha256\":\"%s\"}}],\"predicateType\":"
			"\"%s\",\"predicate\":%s}",
			FT_STATEMENT_TYPE, HEX_A, HEX_B, cases[i].uri,
			cases[i].pred);
		/* Our predicates are already compact and ordered. */
		ck_assert_str_eq(out, want);
		free(want);

		char *env = sign_n(out, 1, NULL);
		expect_ok("built", env, &ev);
		ck_assert_int_eq(ev.kind, cases[i].kind);
		ck_assert_uint_eq(ev.n_subjects, 2);
		ck_assert_str_eq(ev.subjects[0].name, "gnb-du-1.2.3.img");
		ck_assert_str_eq(ev.subjects[1].name, "");
		ck_assert_mem_eq(ev.subjects[1].sha256, subj[1].sha256, 32);
		ck_assert_int_eq(ft_event_verify(&ev, 0, &V[0]), 0);
		ft_event_free(&ev);
		free(env);
		free(out);
		out = NULL;
	}

	/* Spaced predicate text comes out compact, order kept. */
	static const char spaced[] =
		"{ \"product\" : \"gnb-du\",\n  \"channel\": \"stable\" }";
	ck_assert_int_eq(ft_event_statement(FT_EVENT_DISTRIBUTION, subj, 1,
					    spaced, sizeof spaced - 1, &out,
					    &len, reason, sizeof reason),
			 0);
	ck_assert_ptr_nonnull(strstr(out, "\"predicate\":{"
					  "\"product\":\"gnb-du\","
					  "\"channel\":\"stable\"}}"));
	free(out);
	out = NULL;

	/* The builder applies the parser's rules. */
#define B_FAIL(kind, s, n, pred, code, prefix)                                \
	do {                                                                  \
		out = (char *)1;                                              \
		len = 7;                                                      \
		int rc_ = ft_event_statement(kind, s, n, pred, strlen(pred),  \
					     &out, &len, reason,              \
					     sizeof reason);                  \
		ck_assert_msg(rc_ == (code), "want %s got %s (%s)",           \
			      ft_errname(code), ft_errname(rc_), reason);     \
		ck_assert_msg(strncmp(reason, prefix, strlen(prefix)) == 0,   \
			      "reason %s", reason);                           \
		ck_assert_ptr_null(out);                                      \
		ck_assert_uint_eq(len, 0);                                    \
	} while (0)

	B_FAIL(FT_EVENT_RELEASE, subj, 1, "{\"product\":\"gnb-du\"}",
	       FT_EEVENT_PREDICATE, "predicate: ");
	B_FAIL(FT_EVENT_RELEASE, subj, 1, "not json", FT_EEVENT_PREDICATE,
	       "predicate: ");
	B_FAIL(FT_EVENT_RELEASE, subj, 1, "[1]", FT_EEVENT_PREDICATE,
	       "predicate: ");
	B_FAIL(FT_EVENT_RELEASE, subj, 1,
	       "{\"product\":\"a\",\"product\":\"b\"}", FT_EEVENT_PREDICATE,
	       "predicate: ");
	B_FAIL(FT_EVENT_RELEASE, subj, 0, PRED_RELEASE, FT_EEVENT_STATEMENT,
	       "statement: ");
	B_FAIL(FT_EVENT_RELEASE, subj, FT_EVENT_MAX_SUBJECTS + 1, PRED_RELEASE,
	       FT_EEVENT_STATEMENT, "statement: ");
	B_FAIL(0, subj, 1, PRED_RELEASE, FT_EINVAL, "predicate-type: ");
	B_FAIL(5, subj, 1, PRED_RELEASE, FT_EINVAL, "predicate-type: ");
	/* Duplicate subjects. */
	ft_event_subject dup[2];
	dup[0] = subj[0];
	dup[1] = subj[0];
	B_FAIL(FT_EVENT_RELEASE, dup, 2, PRED_RELEASE, FT_EEVENT_STATEMENT,
	       "statement: ");
	/* A name with a control character, and one not UTF-8. */
	dup[1] = subj[1];
	dup[1].name = "a\tb";
	B_FAIL(FT_EVENT_RELEASE, dup, 2, PRED_RELEASE, FT_EEVENT_STATEMENT,
	       "statement: ");
	dup[1].name = "a\xff";
	B_FAIL(FT_EVENT_RELEASE, dup, 2, PRED_RELEASE, FT_EEVENT_STATEMENT,
	       "statement: ");
	/* Key revocation: the subject must be the key digest. */
	{
		char *s = NULL;
		char *p = NULL;
		ft_event_subject ks;

		key_revocation(1, &s, &p, "");
		B_FAIL(FT_EVENT_REVOCATION, subj, 1, p, FT_EEVENT_PREDICATE,
		       "predicate: ");
		ks.name = NULL;
		ft_event_key_digest(&V[1], ks.sha256);
		ck_assert_int_eq(ft_event_statement(FT_EVENT_REVOCATION, &ks,
						    1, p, strlen(p), &out, &len,
						    reason, sizeof reason),
				 0);
		free(out);
		out = NULL;
		free(s);
		free(p);
	}
#undef B_FAIL
	ck_assert_int_eq(ft_event_statement(FT_EVENT_RELEASE, subj, 1, NULL, 0,
					    &out, &len, reason, sizeof reason),
			 FT_EINVAL);
}
END_TEST

/* ---- Robustness. */

START_TEST(test_truncations)
{
	char *subj = NULL;
	char *pred = NULL;

	key_revocation(1, &subj, &pred, "");
	char *stmt = statement_of(subj, FT_PRED_REVOCATION, pred);
	size_t len = 0;
	char *env = sign_n(stmt, 2, &len);

	for (size_t n = 0; n < len; n++) {
		char *cut = malloc(n + 1);
		ft_event ev;
		char reason[128];

		ck_assert_ptr_nonnull(cut);
		memcpy(cut, env, n);
		cut[n] = '\0';
		memset(&ev, 0x5a, sizeof ev);
		int rc = ft_event_parse((uint8_t *)cut, n, &ev, reason,
					sizeof reason);
		ck_assert_msg(rc < 0, "prefix %zu accepted", n);
		check_empty(&ev);
		ck_assert_ptr_null(strchr(reason, '\n'));
		ft_event_free(&ev);
		free(cut);
	}
	/* And every single-byte deletion, too. */
	for (size_t n = 0; n < len; n++) {
		char *cut = malloc(len);
		ft_event ev;

		ck_assert_ptr_nonnull(cut);
		memcpy(cut, env, n);
		memcpy(cut + n, env + n + 1, len - n - 1);
		int rc = ft_event_parse((uint8_t *)cut, len - 1, &ev, NULL, 0);
		if (rc == 0) {
			/* Only possible inside a keyid, which is not
			 * signed. */
			ck_assert_int_eq(ft_event_verify(&ev, 0, &V[0]) == 0 ||
						 ft_event_verify(&ev, 1,
								 &V[1]) == 0,
					 1);
		} else {
			check_empty(&ev);
		}
		ft_event_free(&ev);
		free(cut);
	}
	free(env);
	free(stmt);
	free(subj);
	free(pred);
}
END_TEST

START_TEST(test_free_safe)
{
	ft_event ev;
	char reason[64];

	memset(&ev, 0x77, sizeof ev);
	ck_assert_int_eq(ft_event_parse((const uint8_t *)"{", 1, &ev, reason,
					sizeof reason),
			 FT_EEVENT_ENVELOPE);
	ft_event_free(&ev);
	ft_event_free(&ev);
	ft_event_free(NULL);

	/* Failing late (after payload, PAE and statement were allocated). */
	char *env = envelope(SUBJ_A, FT_PRED_RELEASE, "{\"product\":\"x\"}");
	ck_assert_int_eq(ft_event_parse((uint8_t *)env, strlen(env), &ev,
					reason, sizeof reason),
			 FT_EEVENT_PREDICATE);
	check_empty(&ev);
	ft_event_free(&ev);
	free(env);

	/* A successful parse freed twice. */
	env = envelope(SUBJ_A, FT_PRED_RELEASE, PRED_RELEASE);
	ck_assert_int_eq(ft_event_parse((uint8_t *)env, strlen(env), &ev,
					reason, sizeof reason),
			 0);
	ft_event_free(&ev);
	check_empty(&ev);
	ft_event_free(&ev);
	free(env);
}
END_TEST

static Suite *event_suite(void)
{
	Suite *s = suite_create("event");
	TCase *tc;

	tc = tcase_create("basics");
	tcase_add_checked_fixture(tc, setup, NULL);
	tcase_set_timeout(tc, 30);
	tcase_add_test(tc, test_kind_name);
	tcase_add_test(tc, test_pae_known);
	tcase_add_test(tc, test_keyid);
	tcase_add_test(tc, test_key_digest);
	suite_add_tcase(s, tc);

	tc = tcase_create("valid");
	tcase_add_checked_fixture(tc, setup, NULL);
	tcase_set_timeout(tc, 30);
	tcase_add_test(tc, test_release_valid);
	tcase_add_test(tc, test_distribution_valid);
	tcase_add_test(tc, test_revocation_image_valid);
	tcase_add_test(tc, test_revocation_key_valid);
	tcase_add_test(tc, test_build_valid);
	suite_add_tcase(s, tc);

	tc = tcase_create("sign");
	tcase_add_checked_fixture(tc, setup, NULL);
	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, test_sign_roundtrip);
	tcase_add_test(tc, test_sign_16_keys);
	tcase_add_test(tc, test_flip_every_sig_bit);
	tcase_add_test(tc, test_verify_wrong_key);
	tcase_add_test(tc, test_sign_errors);
	suite_add_tcase(s, tc);

	tc = tcase_create("reject");
	tcase_add_checked_fixture(tc, setup, NULL);
	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, test_too_large);
	tcase_add_test(tc, test_json_errors);
	tcase_add_test(tc, test_envelope_errors);
	tcase_add_test(tc, test_base64);
	tcase_add_test(tc, test_statement_errors);
	tcase_add_test(tc, test_predicate_type);
	tcase_add_test(tc, test_release_errors);
	tcase_add_test(tc, test_distribution_errors);
	tcase_add_test(tc, test_revocation_errors);
	tcase_add_test(tc, test_build_errors);
	suite_add_tcase(s, tc);

	tc = tcase_create("build");
	tcase_add_checked_fixture(tc, setup, NULL);
	tcase_set_timeout(tc, 30);
	tcase_add_test(tc, test_statement_builder);
	suite_add_tcase(s, tc);

	tc = tcase_create("robust");
	tcase_add_checked_fixture(tc, setup, NULL);
	tcase_set_timeout(tc, 120);
	tcase_add_test(tc, test_truncations);
	tcase_add_test(tc, test_free_safe);
	suite_add_tcase(s, tc);

	return s;
}

int main(void)
{
	return tu_run_suite(event_suite());
}
