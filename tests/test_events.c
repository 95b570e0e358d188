/*
 * tests/test_events.c - ftlogd's firmware events, end to end, over HTTP on
 * 127.0.0.1 (DESIGN.md sections 3-4, logd/policy.h, include/ftlog/event.h).
 *
 * Every test starts its own ftlogd (tests/logd_harness.h) with a submission
 * policy written here, and submits DSSE envelopes built with libftevent
 * (ft_event_statement + ft_event_sign) or crafted by hand (a DSSE signer of
 * our own over arbitrary payload bytes, so that a defect is exactly the one
 * we put in). Every accepted answer is a tlog-proof verified in full
 * against the log's key; every rejection is checked for its status, its
 * one-line "<rule>: <detail>" body, and for having stored nothing: the
 * checkpoint size and the lineage of the event's subject are the same
 * before and after.
 *
 * Covered: each rejection rule of the policy and of revocations; a valid
 * event of each kind found again through /lineage and /bundle; lineage
 * paging with ?after=; malformed and unknown digests; the release
 * threshold (1-of-2 refused, same key twice refused, 2-of-2 accepted) and
 * per-product thresholds; key and image revocations (and idempotent
 * resubmission of what was logged before them, across a restart); policy
 * reload on SIGHUP (a new key admitted, keep-alive connections kept, an
 * invalid policy refused with the old one kept); refusal to start without
 * a valid policy; the rejection counter in /metrics.
 *
 * Environment: FTLOG_BUILDDIR (ftlogd is $FTLOG_BUILDDIR/logd/ftlogd),
 * FTLOG_KEEP_TMP (keep the directory of a failed test).
 */
#define _DEFAULT_SOURCE
#include <ctype.h>
#include <errno.h>
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <unistd.h>

#include <check.h>
#include <jansson.h>
#include <sodium.h>

#include <ftlog/common.h>
#include <ftlog/event.h>
#include <ftlog/merkle.h>
#include <ftlog/note.h>

#include "tests/logd_harness.h"
#include "tests/testutil.h"

#define ORIGIN "example.org/ftlog-events-test"
#define NELEM(a) (sizeof(a) / sizeof((a)[0]))

/* Short batches so that appends are quick. */
static const char *const fast_args[] = {"--batch-interval", "10ms", NULL};

static const char *const all_kinds =
	"[\"build\",\"release\",\"distribution\",\"revocation\"]";

/* ---- Keys. -------------------------------------------------------------- */

struct tkey {
	ft_skey sk;
	ft_vkey vk;
	char str[FT_KEY_STR_MAX + 1]; /* verifier key string */
};

static void tkey_from(struct tkey *k, const ft_skey *sk)
{
	size_t n = 0;

	k->sk = *sk;
	ft_skey_public(sk, &k->vk);
	ck_assert_int_eq(ft_vkey_format(&k->vk, k->str, sizeof k->str, &n), 0);
	ck_assert_uint_eq(n, strlen(k->str));
}

static void tkey_make(struct tkey *k, const char *name, uint8_t seed)
{
	ft_skey sk;

	ck_assert_msg(lh_key(name, seed, &sk) == 0, "lh_key %s", name);
	tkey_from(k, &sk);
	ft_skey_wipe(&sk);
}

static void tkey_test(struct tkey *k)
{
	tkey_from(k, lh_test_key());
	ck_assert_str_eq(k->vk.name, "ftlog-test");
	ck_assert_str_eq(k->str, lh_test_vkey());
}

/* ---- Policies. ---------------------------------------------------------- */

/* A growing string. */
struct sb {
	char *p;
	size_t len, cap;
};

static void sb_add(struct sb *b, const char *s)
{
	size_t n = strlen(s);

	if (b->len + n + 1 > b->cap) {
		size_t ncap = b->cap ? b->cap : 256;
		while (b->len + n + 1 > ncap) {
			ncap *= 2;
		}
		b->p = realloc(b->p, ncap);
		ck_assert_ptr_nonnull(b->p);
		b->cap = ncap;
	}
	memcpy(b->p + b->len, s, n + 1);
	b->len += n;
}

struct pkey {
	const struct tkey *k;
	const char *kinds;    /* JSON array text */
	const char *products; /* JSON array text, or NULL (the default) */
};

/* {"ftlog_policy":1,<extra,>"keys":[...]} (malloc'd). */
static char *policy_text(const char *extra, const struct pkey *keys,
			 size_t n)
{
	struct sb b = {0};

	sb_add(&b, "{\"ftlog_policy\":1,");
	if (extra != NULL && *extra != 0) {
		sb_add(&b, extra);
		sb_add(&b, ",");
	}
	sb_add(&b, "\"keys\":[");
	for (size_t i = 0; i < n; i++) {
		char *e = tu_strf("%s{\"key\":\"%s\",\"kinds\":%s%s%s}",
				  i > 0 ? "," : "", keys[i].k->str,
				  keys[i].kinds,
				  keys[i].products != NULL ? ",\"products\":"
							   : "",
				  keys[i].products != NULL ? keys[i].products
							   : "");
		sb_add(&b, e);
		free(e);
	}
	sb_add(&b, "]}\n");
	return b.p;
}

/* ---- Events. ------------------------------------------------------------ */

/* The digest of a test image. */
static void image(const char *tag, uint8_t out[32])
{
	char *s = tu_strf("ftlog events test image %s", tag);

	ck_assert_int_eq(crypto_hash_sha256(out, (const uint8_t *)s, strlen(s)),
			 0);
	free(s);
}

static void hex32(const uint8_t d[32], char out[65])
{
	lh_hex(d, 32, out);
}

/* A signed envelope from libftevent: statement about subjects, signed by
 * nkeys keys (repeats allowed). malloc'd, length in *len. */
static char *event_multi(int kind, const uint8_t (*subj)[32], size_t nsubj,
			 const char *pred, const struct tkey *const *keys,
			 size_t nkeys, size_t *len)
{
	ft_event_subject sub[4];
	ft_skey sk[8];
	char reason[512] = "";
	char *st = NULL, *env = NULL;
	size_t stlen = 0;

	ck_assert_uint_le(nsubj, NELEM(sub));
	ck_assert_uint_le(nkeys, NELEM(sk));
	for (size_t i = 0; i < nsubj; i++) {
		sub[i].name = i == 0 ? "firmware.bin" : NULL;
		memcpy(sub[i].sha256, subj[i], 32);
	}
	int rc = ft_event_statement(kind, sub, nsubj, pred, strlen(pred), &st,
				    &stlen, reason, sizeof reason);
	ck_assert_msg(rc == 0, "ft_event_statement(%s): %s: %s\n%s",
		      ft_event_kind_name(kind), ft_errname(rc), reason, pred);
	for (size_t i = 0; i < nkeys; i++) {
		sk[i] = keys[i]->sk;
	}
	rc = ft_event_sign((const uint8_t *)st, stlen, sk, nkeys, &env, len);
	ck_assert_msg(rc == 0, "ft_event_sign: %s", ft_errname(rc));
	sodium_memzero(sk, sizeof sk);
	free(st);
	return env;
}

static char *event1(int kind, const uint8_t subj[32], const char *pred,
		    const struct tkey *key, size_t *len)
{
	const struct tkey *keys[1] = {key};

	return event_multi(kind, (const uint8_t(*)[32])subj, 1, pred, keys, 1,
			   len);
}

/* Predicates (malloc'd JSON object text, docs/events.md). */
static char *pred_release(const char *product, const char *version,
			  unsigned sv)
{
	return tu_strf("{\"product\":\"%s\",\"vendor\":\"example-networks\","
		       "\"version\":\"%s\",\"security_version\":%u,"
		       "\"hardware_models\":[\"hw-a1\",\"hw-b2\"]}",
		       product, version, sv);
}

static char *pred_dist(const char *product, const char *channel)
{
	return tu_strf("{\"product\":\"%s\",\"channel\":\"%s\","
		       "\"version\":\"1.0.0\",\"regions\":[\"eu-west\"]}",
		       product, channel);
}

static char *pred_revoke_image(const char *product, const char *reason)
{
	return tu_strf("{\"target\":\"image\",\"product\":\"%s\","
		       "\"reason\":\"%s\"}",
		       product, reason);
}

static char *pred_revoke_key(const struct tkey *k, const char *reason)
{
	return tu_strf("{\"target\":\"key\",\"key\":\"%s\",\"reason\":\"%s\"}",
		       k->str, reason);
}

#define BUILD_TYPE "https://ftlog.dev/build/make/v1"
#define BUILDER_ID "https://ci.example.org/builders/7"

static char *pred_build(const char *ref)
{
	return tu_strf("{\"buildDefinition\":{\"buildType\":\"" BUILD_TYPE
		       "\",\"externalParameters\":{\"ref\":\"%s\"}},"
		       "\"runDetails\":{\"builder\":{\"id\":\"" BUILDER_ID
		       "\"}}}",
		       ref);
}

/* Convenience: one event of `kind` about subj with predicate p (freed). */
static char *ev_take(int kind, const uint8_t subj[32], char *p,
		     const struct tkey *key, size_t *len)
{
	char *e = event1(kind, subj, p, key, len);

	free(p);
	return e;
}

/* ---- Hand-made envelopes. ----------------------------------------------- */

/* A statement text, verbatim (no checks): subject digest given as text. */
static char *stmt_text(const char *type, const char *digest_hex,
		       const char *ptype, const char *pred)
{
	return tu_strf("{\"_type\":\"%s\",\"subject\":[{\"name\":\"fw.bin\","
		       "\"digest\":{\"sha256\":\"%s\"}}],\"predicateType\":"
		       "\"%s\",\"predicate\":%s}",
		       type, digest_hex, ptype, pred);
}

static char *b64(const uint8_t *in, size_t n)
{
	size_t cap = ft_b64_enclen(n) + 1, len = 0;
	char *out = malloc(cap);

	ck_assert_ptr_nonnull(out);
	ck_assert_int_eq(ft_b64_encode(in, n, out, cap, &len), 0);
	out[len] = 0;
	return out;
}

enum {
	RAW_FLIP = 1,    /* flip one bit of every signature */
	RAW_NOKEYID = 2, /* no "keyid" member */
};

/*
 * A DSSE envelope over payload (any bytes) with payloadType `type`, one
 * signature per key computed here (Ed25519 over PAE(type, payload)). The
 * keyid of signature i names keyid_of[i] if given, else keys[i]. flags:
 * RAW_*. malloc'd compact JSON.
 */
static char *envelope_raw(const char *type, const char *payload,
			  const struct tkey *const *keys,
			  const struct tkey *const *keyid_of, size_t n,
			  int flags, size_t *len)
{
	size_t plen = strlen(payload), tlen = strlen(type);
	size_t cap = ft_dsse_pae_len(tlen, plen), pae_len = 0;
	uint8_t *pae = malloc(cap);
	json_t *sigs = json_array();

	ck_assert_ptr_nonnull(pae);
	ck_assert_ptr_nonnull(sigs);
	ck_assert_int_eq(ft_dsse_pae(type, tlen, (const uint8_t *)payload,
				     plen, pae, cap, &pae_len),
			 0);
	ck_assert_uint_eq(pae_len, cap);
	for (size_t i = 0; i < n; i++) {
		uint8_t sig[64];
		char keyid[FT_EVENT_KEYID_MAX + 1];
		const struct tkey *idk =
			keyid_of != NULL && keyid_of[i] != NULL ? keyid_of[i]
								: keys[i];

		ck_assert_int_eq(crypto_sign_ed25519_detached(
					 sig, NULL, pae, pae_len, keys[i]->sk.sk),
				 0);
		if (flags & RAW_FLIP) {
			sig[17] ^= 0x10;
		}
		ck_assert_int_eq(ft_event_keyid(&idk->vk, keyid, sizeof keyid),
				 0);
		char *s64 = b64(sig, 64);
		json_t *o = json_object();
		ck_assert_ptr_nonnull(o);
		if (!(flags & RAW_NOKEYID)) {
			ck_assert_int_eq(
				json_object_set_new(o, "keyid",
						    json_string(keyid)),
				0);
		}
		ck_assert_int_eq(json_object_set_new(o, "sig", json_string(s64)),
				 0);
		ck_assert_int_eq(json_array_append_new(sigs, o), 0);
		free(s64);
	}
	char *p64 = b64((const uint8_t *)payload, plen);
	json_t *env = json_object();
	ck_assert_ptr_nonnull(env);
	ck_assert_int_eq(json_object_set_new(env, "payloadType",
					     json_string(type)),
			 0);
	ck_assert_int_eq(json_object_set_new(env, "payload", json_string(p64)),
			 0);
	ck_assert_int_eq(json_object_set_new(env, "signatures", sigs), 0);
	char *out = json_dumps(env, JSON_COMPACT);
	ck_assert_ptr_nonnull(out);
	json_decref(env);
	free(p64);
	free(pae);
	*len = strlen(out);
	return out;
}

/* One signature by key over a verbatim statement. */
static char *raw1(const char *stmt, const struct tkey *key, int flags,
		  size_t *len)
{
	const struct tkey *keys[1] = {key};

	return envelope_raw(FT_DSSE_PAYLOAD_TYPE, stmt, keys, NULL, 1, flags,
			    len);
}

/* ---- Talking to the server. --------------------------------------------- */

static void start_log(lh_server *s, const char *policy)
{
	ck_assert_msg(lh_init(s, ORIGIN) == 0, "ftlogd init failed (%s)",
		      lh_ftlogd_path());
	if (policy != NULL) {
		ck_assert_int_eq(lh_write_policy(s, policy), 0);
	}
	ck_assert_msg(lh_start(s, 0, fast_args) == 0,
		      "ftlogd serve failed, policy:\n%s",
		      policy != NULL ? policy : "(default)");
}

/* SIGTERM: exit status 0, a log without sanitizer reports; clean up. */
static void finish(lh_server *s)
{
	int st = lh_stop(s);

	ck_assert_msg(st == 0, "ftlogd exit status %d after SIGTERM", st);
	ck_assert_msg(lh_log_clean(s) == 0, "sanitizer report in ftlogd's log");
	lh_cleanup(s);
}

static uint64_t cp_size(const lh_server *s)
{
	uint64_t size = 0;
	uint8_t root[32];
	lh_resp raw;

	ck_assert_msg(lh_checkpoint(s, &size, root, &raw) == 0,
		      "GET /checkpoint: status %d, or it does not verify",
		      raw.status);
	lh_resp_free(&raw);
	return size;
}

/* Check an accepted answer r to entry e; returns its index. */
static uint64_t check_accepted(const lh_server *s, const lh_resp *r,
			       const void *e, size_t len, const char *what)
{
	char ct[128];
	uint64_t idx = 0, size = 0;

	ck_assert_msg(r->status == 200, "%s: POST /add: status %d: %s", what,
		      r->status, r->body != NULL ? (char *)r->body : "");
	ck_assert_int_eq(lh_header(r, "Content-Type", ct, sizeof ct), 0);
	ck_assert_str_eq(ct, "text/x.tlog-proof");
	int rc = lh_check_tlog_proof(s, r->body, r->body_len, e, len, &idx,
				     &size, NULL, NULL, NULL);
	ck_assert_msg(rc == 0, "%s: tlog-proof does not verify: %s\n%s", what,
		      ft_errname(rc), (char *)r->body);
	ck_assert_uint_lt(idx, size);
	return idx;
}

/* POST /add, expecting acceptance; returns the index. */
static uint64_t add_ok(const lh_server *s, const void *e, size_t len,
		       const char *what)
{
	lh_resp r;

	ck_assert_msg(lh_http(s->port, "POST", "/add", e, len, &r) == 0,
		      "%s: POST /add: no answer", what);
	uint64_t idx = check_accepted(s, &r, e, len, what);
	lh_resp_free(&r);
	return idx;
}

/* An error body: exactly one line, "\n"-terminated, no NUL. */
static void check_one_line(const lh_resp *r, const char *what)
{
	ck_assert_msg(r->body_len >= 2 && r->body[r->body_len - 1] == '\n' &&
			      memchr(r->body, '\n', r->body_len - 1) == NULL &&
			      memchr(r->body, 0, r->body_len) == NULL,
		      "%s: error body is not one line: \"%s\"", what,
		      r->body != NULL ? (char *)r->body : "");
}

/* GET /lineage/<hex><query>: status and body, for before/after compares. */
struct lin_snap {
	int status;
	char *body;
};

static void lin_snap(const lh_server *s, const uint8_t d[32],
		     struct lin_snap *out)
{
	char hex[65];
	lh_resp r;

	hex32(d, hex);
	char *path = tu_strf("/lineage/%s", hex);
	ck_assert_msg(lh_http(s->port, "GET", path, NULL, 0, &r) == 0,
		      "GET %s: no answer", path);
	ck_assert_msg(r.status == 200 || r.status == 404,
		      "GET %s: status %d (%s)", path, r.status, (char *)r.body);
	out->status = r.status;
	out->body = strdup(r.body != NULL ? (char *)r.body : "");
	ck_assert_ptr_nonnull(out->body);
	free(path);
	lh_resp_free(&r);
}

/*
 * POST /add of a refused entry: the status, Content-Type text/plain, one
 * line "<rule>: <detail>\n"; then nothing was stored (the checkpoint size,
 * and the lineage of subj if not NULL, are unchanged). The reason line is
 * returned (malloc'd) if reason is not NULL.
 */
static void expect_reject(const lh_server *s, const void *e, size_t len,
			  int status, const char *rule, const uint8_t *subj,
			  const char *what, char **reason)
{
	struct lin_snap before = {0}, after = {0};
	lh_resp r;
	char ct[128];
	uint64_t n = cp_size(s);

	if (subj != NULL) {
		lin_snap(s, subj, &before);
	}
	ck_assert_msg(lh_http(s->port, "POST", "/add", e, len, &r) == 0,
		      "%s: POST /add: no answer", what);
	ck_assert_msg(r.status == status,
		      "%s: POST /add: status %d, want %d \"%s: ...\" (body: %s)",
		      what, r.status, status, rule,
		      r.body != NULL ? (char *)r.body : "");
	ck_assert_msg(lh_header(&r, "Content-Type", ct, sizeof ct) == 0 &&
			      strncmp(ct, "text/plain", 10) == 0,
		      "%s: Content-Type of the refusal is not text/plain", what);
	check_one_line(&r, what);
	size_t rl = strlen(rule);
	ck_assert_msg(r.body_len > rl + 3 &&
			      memcmp(r.body, rule, rl) == 0 &&
			      r.body[rl] == ':' && r.body[rl + 1] == ' ' &&
			      r.body[rl + 2] != '\n',
		      "%s: refusal \"%s\", want \"%s: <detail>\"", what,
		      (char *)r.body, rule);
	if (reason != NULL) {
		*reason = strdup((char *)r.body);
		ck_assert_ptr_nonnull(*reason);
	}
	lh_resp_free(&r);

	ck_assert_msg(cp_size(s) == n,
		      "%s: the tree grew after a refusal (%s)", what, rule);
	if (subj != NULL) {
		lin_snap(s, subj, &after);
		ck_assert_msg(after.status == before.status &&
				      strcmp(after.body, before.body) == 0,
			      "%s: the lineage of the subject changed after a "
			      "refusal: %d %s -> %d %s",
			      what, before.status, before.body, after.status,
			      after.body);
		free(before.body);
		free(after.body);
	}
}

/* 1 if the decimal n appears in text as a whole number. */
static int has_number(const char *text, uint64_t n)
{
	char num[32];
	size_t k;
	const char *p = text;

	snprintf(num, sizeof num, "%" PRIu64, n);
	k = strlen(num);
	while ((p = strstr(p, num)) != NULL) {
		if ((p == text || !isdigit((unsigned char)p[-1])) &&
		    !isdigit((unsigned char)p[k])) {
			return 1;
		}
		p++;
	}
	return 0;
}

/*
 * GET /lineage/<hex of d><query>, want 200: parse and check the shape
 * (digest, events in strictly increasing log order, each with index, kind
 * and signers). Returns the document (json_decref it).
 */
static json_t *lineage(const lh_server *s, const uint8_t d[32],
		       const char *query)
{
	char hex[65], ct[128];
	lh_resp r;
	json_error_t jerr;

	hex32(d, hex);
	char *path = tu_strf("/lineage/%s%s", hex, query != NULL ? query : "");
	ck_assert_msg(lh_http(s->port, "GET", path, NULL, 0, &r) == 0,
		      "GET %s: no answer", path);
	ck_assert_msg(r.status == 200, "GET %s: status %d (%s)", path,
		      r.status, (char *)r.body);
	ck_assert_msg(lh_header(&r, "Content-Type", ct, sizeof ct) == 0 &&
			      strncmp(ct, "application/json", 16) == 0,
		      "GET %s: Content-Type is not application/json", path);
	json_t *doc = json_loadb((const char *)r.body, r.body_len,
				 JSON_REJECT_DUPLICATES, &jerr);
	ck_assert_msg(doc != NULL, "GET %s: not JSON (%s): %s", path, jerr.text,
		      (char *)r.body);
	ck_assert_msg(json_is_object(doc), "GET %s: not an object", path);
	json_t *dg = json_object_get(doc, "digest");
	ck_assert_msg(json_is_string(dg) && strcmp(json_string_value(dg), hex) == 0,
		      "GET %s: \"digest\" is not %s: %s", path, hex,
		      (char *)r.body);
	json_t *evs = json_object_get(doc, "events");
	ck_assert_msg(json_is_array(evs), "GET %s: no \"events\" array: %s",
		      path, (char *)r.body);
	json_int_t last = -1;
	for (size_t i = 0; i < json_array_size(evs); i++) {
		json_t *e = json_array_get(evs, i);
		json_t *ix = json_object_get(e, "index");
		json_t *kd = json_object_get(e, "kind");
		json_t *sg = json_object_get(e, "signers");
		ck_assert_msg(json_is_object(e) && json_is_integer(ix) &&
				      json_is_string(kd) && json_is_array(sg) &&
				      json_array_size(sg) > 0,
			      "GET %s: event %zu lacks index, kind or signers: %s",
			      path, i, (char *)r.body);
		ck_assert_msg(json_integer_value(ix) > last,
			      "GET %s: events not in log order: %s", path,
			      (char *)r.body);
		last = json_integer_value(ix);
		for (size_t j = 0; j < json_array_size(sg); j++) {
			ck_assert(json_is_string(json_array_get(sg, j)));
		}
	}
	free(path);
	lh_resp_free(&r);
	return doc;
}

/* The status (and one-line body for errors) of GET path. */
static void expect_get(const lh_server *s, const char *path, int status,
		       lh_resp *out)
{
	lh_resp r;

	ck_assert_msg(lh_http(s->port, "GET", path, NULL, 0, &r) == 0,
		      "GET %s: no answer", path);
	ck_assert_msg(r.status == status, "GET %s: status %d, want %d (%s)",
		      path, r.status, status,
		      r.body != NULL ? (char *)r.body : "");
	if (status >= 400) {
		check_one_line(&r, path);
	}
	if (out != NULL) {
		*out = r;
	} else {
		lh_resp_free(&r);
	}
}

static void expect_lineage_status(const lh_server *s, const uint8_t d[32],
				  int status)
{
	char hex[65];

	hex32(d, hex);
	char *path = tu_strf("/lineage/%s", hex);
	expect_get(s, path, status, NULL);
	free(path);
}

static json_t *ev_at(json_t *doc, size_t i)
{
	return json_array_get(json_object_get(doc, "events"), i);
}

static size_t ev_count(json_t *doc)
{
	return json_array_size(json_object_get(doc, "events"));
}

static void expect_str(json_t *e, const char *field, const char *want)
{
	json_t *v = json_object_get(e, field);
	char *dump = json_dumps(e, JSON_COMPACT);

	ck_assert_msg(json_is_string(v) && strcmp(json_string_value(v), want) == 0,
		      "lineage event: \"%s\" is not \"%s\": %s", field, want,
		      dump);
	free(dump);
}

static void expect_int(json_t *e, const char *field, json_int_t want)
{
	json_t *v = json_object_get(e, field);
	char *dump = json_dumps(e, JSON_COMPACT);

	ck_assert_msg(json_is_integer(v) && json_integer_value(v) == want,
		      "lineage event: \"%s\" is not %lld: %s", field,
		      (long long)want, dump);
	free(dump);
}

/* index, kind and the exact signer list of a lineage event. */
static void expect_event(json_t *e, uint64_t index, const char *kind,
			 const char *const *signers, size_t nsigners)
{
	char *dump = json_dumps(e, JSON_COMPACT);
	json_t *sg = json_object_get(e, "signers");

	ck_assert_msg(e != NULL, "missing lineage event (index %" PRIu64 ")",
		      index);
	expect_int(e, "index", (json_int_t)index);
	expect_str(e, "kind", kind);
	ck_assert_msg(json_array_size(sg) == nsigners,
		      "lineage event: %zu signers, want %zu: %s",
		      json_array_size(sg), nsigners, dump);
	for (size_t i = 0; i < nsigners; i++) {
		int found = 0;
		for (size_t j = 0; j < json_array_size(sg); j++) {
			const char *v = json_string_value(json_array_get(sg, j));
			found |= v != NULL && strcmp(v, signers[i]) == 0;
		}
		ck_assert_msg(found, "lineage event: signer %s missing: %s",
			      signers[i], dump);
	}
	free(dump);
}

static const char *const by_test[] = {"ftlog-test"};

/* GET /bundle/<hex>: 200, the tlog-proof of entry e at index. */
static void expect_bundle(const lh_server *s, const uint8_t d[32],
			  const void *e, size_t len, uint64_t index)
{
	char hex[65], ct[128];
	lh_resp r;
	uint64_t idx = 0, size = 0;

	hex32(d, hex);
	char *path = tu_strf("/bundle/%s", hex);
	expect_get(s, path, 200, &r);
	ck_assert_int_eq(lh_header(&r, "Content-Type", ct, sizeof ct), 0);
	ck_assert_str_eq(ct, "text/x.tlog-proof");
	int rc = lh_check_tlog_proof(s, r.body, r.body_len, e, len, &idx,
				     &size, NULL, NULL, NULL);
	ck_assert_msg(rc == 0,
		      "GET %s: not the tlog-proof of the expected release: %s\n%s",
		      path, ft_errname(rc), (char *)r.body);
	ck_assert_msg(idx == index, "GET %s: index %" PRIu64 ", want %" PRIu64,
		      path, idx, index);
	ck_assert_uint_lt(idx, size);
	lh_resp_free(&r);
	free(path);
}

static void expect_bundle_status(const lh_server *s, const uint8_t d[32],
				 int status, lh_resp *out)
{
	char hex[65];

	hex32(d, hex);
	char *path = tu_strf("/bundle/%s", hex);
	expect_get(s, path, status, out);
	free(path);
}

/* Sum of every sample of /metrics whose metric name contains "rejected". */
static double rejected_total(const lh_server *s)
{
	lh_resp r;
	double sum = 0;
	int seen = 0;

	ck_assert_int_eq(lh_http(s->port, "GET", "/metrics", NULL, 0, &r), 0);
	ck_assert_int_eq(r.status, 200);
	char *p = (char *)r.body;
	while (p != NULL && *p) {
		char *nl = strchr(p, '\n');
		size_t ll = nl != NULL ? (size_t)(nl - p) : strlen(p);
		char *sp = memchr(p, ' ', ll);
		if (*p != '#' && sp != NULL) {
			char name[256];
			size_t nlen = (size_t)(sp - p);
			char *br = memchr(p, '{', nlen);
			if (br != NULL) {
				nlen = (size_t)(br - p);
			}
			if (nlen < sizeof name) {
				memcpy(name, p, nlen);
				name[nlen] = 0;
				if (strstr(name, "rejected") != NULL) {
					/* the value follows the last space
					 * before the end of the line (labels
					 * may hold spaces) */
					char *vs = p + ll;
					while (vs > p && vs[-1] != ' ') {
						vs--;
					}
					sum += strtod(vs, NULL);
					seen = 1;
				}
			}
		}
		p = nl != NULL ? nl + 1 : NULL;
	}
	ck_assert_msg(seen, "no \"rejected\" metric in /metrics:\n%s",
		      (char *)r.body);
	lh_resp_free(&r);
	return sum;
}

/* The server's log from offset `from` (malloc'd, NUL-terminated). */
static char *log_since(const lh_server *s, size_t from)
{
	size_t len = 0;
	uint8_t *b = tu_read_file(s->log, &len);
	char *out;

	if (b == NULL) {
		return strdup("");
	}
	out = strdup(from < len ? (char *)b + from : "");
	free(b);
	return out;
}

static size_t log_size(const lh_server *s)
{
	struct stat st;

	return stat(s->log, &st) == 0 ? (size_t)st.st_size : 0;
}

/* A line of text with "policy" and a word of refusal (case-insensitive). */
static int mentions_refusal(const char *text)
{
	static const char *const words[] = {"refus", "invalid", "error",
					    "fail",  "reject",  "keep",
					    "kept",  "ignor",   "cannot"};
	const char *p = text;

	while (*p) {
		const char *nl = strchr(p, '\n');
		size_t ll = nl != NULL ? (size_t)(nl - p) : strlen(p);
		char *line = strndup(p, ll);
		ck_assert_ptr_nonnull(line);
		for (char *q = line; *q; q++) {
			*q = (char)tolower((unsigned char)*q);
		}
		if (strstr(line, "policy") != NULL) {
			for (size_t i = 0; i < NELEM(words); i++) {
				if (strstr(line, words[i]) != NULL) {
					free(line);
					return 1;
				}
			}
		}
		free(line);
		p += ll;
		if (*p == '\n') {
			p++;
		}
	}
	return 0;
}

/* SIGHUP, then wait (up to 5 s) for the log to report a refused policy. */
static void hup_expect_refusal(lh_server *s, const char *what)
{
	size_t off = log_size(s);
	char *l = NULL;

	ck_assert_int_eq(kill(s->pid, SIGHUP), 0);
	for (int i = 0; i < 500; i++) {
		free(l);
		l = log_since(s, off);
		if (mentions_refusal(l)) {
			break;
		}
		tu_sleep_ms(10);
	}
	ck_assert_msg(mentions_refusal(l),
		      "%s: after SIGHUP the log does not report the refused "
		      "policy; new log text:\n%s",
		      what, l);
	free(l);
	ck_assert_msg(lh_alive(s), "%s: ftlogd died on SIGHUP", what);
}

/* ---- Tests: the command line. ------------------------------------------ */

/*
 * Run "ftlogd serve" expecting a refusal to start: nonzero status, and the
 * first line of stderr contains `want` (if not NULL). With one_line, that
 * is all stderr holds (a usage error may add ftlogd's usual hint line
 * "Run \"ftlogd --help\" for usage.").
 */
static void serve_refused(const lh_server *s, const char *policy,
			  const char *want, int one_line, const char *what)
{
	char *out = NULL, *err = NULL;
	const char *args[] = {"serve",	 "--data", s->data, "--listen",
			      "127.0.0.1:0", "--batch-interval", "10ms",
			      policy != NULL ? "--policy" : NULL, policy, NULL};
	int st = lh_run(args, &out, &err);

	ck_assert_msg(st > 0 && st < 128,
		      "%s: ftlogd serve exited %d, want a nonzero exit "
		      "(stderr: %s)",
		      what, st, err != NULL ? err : "");
	ck_assert_ptr_nonnull(err);
	size_t el = strlen(err);
	ck_assert_msg(el >= 2 && err[el - 1] == '\n' &&
			      (!one_line || memchr(err, '\n', el - 1) == NULL),
		      "%s: stderr is not one line: \"%s\"", what, err);
	if (want != NULL) {
		char *nl = strchr(err, '\n');
		*nl = 0;
		ck_assert_msg(strstr(err, want) != NULL,
			      "%s: the first line of stderr does not name %s: "
			      "\"%s\"",
			      what, want, err);
	}
	free(out);
	free(err);
}

START_TEST(test_cli_policy)
{
	lh_server s;
	char *out = NULL, *err = NULL;
	struct tkey t;

	ck_assert_int_eq(ft_init(), 0);
	tkey_test(&t);

	/* `ftlogd help serve` documents --policy. */
	const char *help[] = {"help", "serve", NULL};
	int st = lh_run(help, &out, &err);
	ck_assert_msg(st == 0, "ftlogd help serve: exit %d", st);
	ck_assert_msg((out != NULL && strstr(out, "--policy") != NULL) ||
			      (err != NULL && strstr(err, "--policy") != NULL),
		      "ftlogd help serve does not mention --policy:\n%s%s",
		      out != NULL ? out : "", err != NULL ? err : "");
	free(out);
	free(err);

	ck_assert_msg(lh_init(&s, ORIGIN) == 0, "ftlogd init failed (%s)",
		      lh_ftlogd_path());

	/* No --policy at all. */
	serve_refused(&s, NULL, "--policy", 0, "serve without --policy");

	/* A file that is not there. */
	char *missing = tu_strf("%s/no-such-policy.json", s.dir);
	serve_refused(&s, missing, missing, 1, "missing policy file");

	/* Broken JSON. */
	char *bad = tu_strf("%s/broken-policy.json", s.dir);
	static const char broken[] = "{\"ftlog_policy\":1,\"keys\":[{\"key\":";
	ck_assert_int_eq(tu_write_file(bad, broken, strlen(broken)), 0);
	serve_refused(&s, bad, bad, 1, "broken JSON policy");

	/* Valid JSON, invalid policy: an unknown kind. */
	char *kinds = tu_strf("%s/bad-kind-policy.json", s.dir);
	struct pkey pk[] = {{&t, "[\"relase\"]", NULL}};
	char *txt = policy_text(NULL, pk, 1);
	ck_assert_int_eq(tu_write_file(kinds, txt, strlen(txt)), 0);
	serve_refused(&s, kinds, kinds, 1, "policy with an unknown kind");
	free(txt);

	/* No keys at all (1..256 required). */
	char *nokeys = tu_strf("%s/no-keys-policy.json", s.dir);
	static const char nk[] = "{\"ftlog_policy\":1,\"keys\":[]}\n";
	ck_assert_int_eq(tu_write_file(nokeys, nk, strlen(nk)), 0);
	serve_refused(&s, nokeys, nokeys, 1, "policy without keys");

	/* The same data directory starts with the default policy. */
	ck_assert_msg(lh_start(&s, 0, fast_args) == 0,
		      "ftlogd serve failed with the default policy");
	finish(&s);
	free(missing);
	free(bad);
	free(kinds);
	free(nokeys);
}
END_TEST

/* ---- Tests: valid events, lineage, bundles. ------------------------------ */

START_TEST(test_kinds)
{
	lh_server s;
	struct tkey t;
	size_t lb, lr1, ld, lr2;
	uint8_t x[32];

	ck_assert_int_eq(ft_init(), 0);
	tkey_test(&t);
	start_log(&s, NULL);
	image("x", x);

	/* No event about x yet: 404 everywhere. */
	expect_lineage_status(&s, x, 404);
	expect_bundle_status(&s, x, 404, NULL);

	/* One event of each kind (two releases) about image x. */
	char *b = ev_take(FT_EVENT_BUILD, x, pred_build("refs/tags/v1.0.0"), &t,
			  &lb);
	char *r1 = ev_take(FT_EVENT_RELEASE, x,
			   pred_release("gnb-du", "1.0.0", 3), &t, &lr1);
	char *d = ev_take(FT_EVENT_DISTRIBUTION, x,
			  pred_dist("gnb-du", "stable"), &t, &ld);
	char *r2 = ev_take(FT_EVENT_RELEASE, x,
			   pred_release("gnb-du", "1.1.0", 4), &t, &lr2);
	uint64_t ib = add_ok(&s, b, lb, "build");
	uint64_t ir1 = add_ok(&s, r1, lr1, "release 1.0.0");
	uint64_t id = add_ok(&s, d, ld, "distribution");
	uint64_t ir2 = add_ok(&s, r2, lr2, "release 1.1.0");
	ck_assert(ib < ir1 && ir1 < id && id < ir2);

	json_t *doc = lineage(&s, x, NULL);
	ck_assert_msg(ev_count(doc) == 4, "lineage of x: %zu events, want 4",
		      ev_count(doc));
	ck_assert_msg(json_object_get(doc, "next") == NULL,
		      "lineage of 4 events has \"next\"");
	json_t *e = ev_at(doc, 0);
	expect_event(e, ib, "build", by_test, 1);
	expect_str(e, "build_type", BUILD_TYPE);
	expect_str(e, "builder_id", BUILDER_ID);
	e = ev_at(doc, 1);
	expect_event(e, ir1, "release", by_test, 1);
	expect_str(e, "product", "gnb-du");
	expect_str(e, "vendor", "example-networks");
	expect_str(e, "version", "1.0.0");
	expect_int(e, "security_version", 3);
	json_t *hw = json_object_get(e, "hardware_models");
	ck_assert_msg(json_is_array(hw) && json_array_size(hw) == 2 &&
			      strcmp(json_string_value(json_array_get(hw, 0)),
				     "hw-a1") == 0 &&
			      strcmp(json_string_value(json_array_get(hw, 1)),
				     "hw-b2") == 0,
		      "lineage: release hardware_models wrong");
	e = ev_at(doc, 2);
	expect_event(e, id, "distribution", by_test, 1);
	expect_str(e, "product", "gnb-du");
	expect_str(e, "channel", "stable");
	e = ev_at(doc, 3);
	expect_event(e, ir2, "release", by_test, 1);
	expect_str(e, "version", "1.1.0");
	expect_int(e, "security_version", 4);
	json_decref(doc);

	/* ?after=N: only the later events. */
	char *q = tu_strf("?after=%" PRIu64, ir1);
	doc = lineage(&s, x, q);
	free(q);
	ck_assert_msg(ev_count(doc) == 2, "?after=%" PRIu64 ": %zu events", ir1,
		      ev_count(doc));
	expect_event(ev_at(doc, 0), id, "distribution", by_test, 1);
	expect_event(ev_at(doc, 1), ir2, "release", by_test, 1);
	ck_assert(json_object_get(doc, "next") == NULL);
	json_decref(doc);
	q = tu_strf("?after=%" PRIu64, ib);
	doc = lineage(&s, x, q);
	free(q);
	ck_assert_uint_eq(ev_count(doc), 3);
	expect_event(ev_at(doc, 0), ir1, "release", by_test, 1);
	json_decref(doc);
	q = tu_strf("?after=%" PRIu64, ir2);
	doc = lineage(&s, x, q);
	free(q);
	ck_assert_msg(ev_count(doc) == 0, "?after=<last>: %zu events",
		      ev_count(doc));
	ck_assert(json_object_get(doc, "next") == NULL);
	json_decref(doc);

	/* The bundle is the newest release, r2 (not r1). */
	expect_bundle(&s, x, r2, lr2, ir2);

	/* Resubmitting r1: the same index, nothing appended. */
	uint64_t n = cp_size(&s);
	ck_assert_uint_eq(add_ok(&s, r1, lr1, "release 1.0.0 again"), ir1);
	ck_assert_uint_eq(cp_size(&s), n);
	expect_bundle(&s, x, r2, lr2, ir2);

	/* Image y: only build and distribution events: no bundle. */
	uint8_t y[32];
	size_t lyb, lyd;
	image("y", y);
	char *yb = ev_take(FT_EVENT_BUILD, y, pred_build("refs/tags/y"), &t,
			   &lyb);
	char *yd = ev_take(FT_EVENT_DISTRIBUTION, y,
			   pred_dist("upf-core", "beta"), &t, &lyd);
	uint64_t iyb = add_ok(&s, yb, lyb, "build of y");
	uint64_t iyd = add_ok(&s, yd, lyd, "distribution of y");
	expect_bundle_status(&s, y, 404, NULL);
	doc = lineage(&s, y, NULL);
	ck_assert_uint_eq(ev_count(doc), 2);
	expect_event(ev_at(doc, 0), iyb, "build", by_test, 1);
	expect_event(ev_at(doc, 1), iyd, "distribution", by_test, 1);
	expect_str(ev_at(doc, 1), "product", "upf-core");
	expect_str(ev_at(doc, 1), "channel", "beta");
	json_decref(doc);

	/* A release about two images shows in both lineages. */
	uint8_t two[2][32];
	size_t l2;
	image("two-a", two[0]);
	image("two-b", two[1]);
	const struct tkey *tk[1] = {&t};
	char *p2 = pred_release("gnb-cu", "2.0.0", 7);
	char *e2 = event_multi(FT_EVENT_RELEASE, (const uint8_t(*)[32])two, 2,
			       p2, tk, 1, &l2);
	free(p2);
	uint64_t i2 = add_ok(&s, e2, l2, "release of two images");
	for (int k = 0; k < 2; k++) {
		doc = lineage(&s, two[k], NULL);
		ck_assert_uint_eq(ev_count(doc), 1);
		expect_event(ev_at(doc, 0), i2, "release", by_test, 1);
		expect_str(ev_at(doc, 0), "product", "gnb-cu");
		json_decref(doc);
		expect_bundle(&s, two[k], e2, l2, i2);
	}

	/* An image revocation: found in the lineage of its image. */
	uint8_t z[32];
	size_t lz;
	image("z", z);
	char *rz = ev_take(FT_EVENT_REVOCATION, z,
			   pred_revoke_image("gnb-du", "CVE-2026-0001"), &t,
			   &lz);
	uint64_t iz = add_ok(&s, rz, lz, "image revocation");
	doc = lineage(&s, z, NULL);
	ck_assert_uint_eq(ev_count(doc), 1);
	expect_event(ev_at(doc, 0), iz, "revocation", by_test, 1);
	expect_str(ev_at(doc, 0), "target", "image");
	expect_str(ev_at(doc, 0), "reason", "CVE-2026-0001");
	json_decref(doc);

	/* A key revocation: found under the key's digest. */
	struct tkey old;
	uint8_t kd[32];
	size_t lk;
	tkey_make(&old, "retired-signer", 0x51);
	ft_event_key_digest(&old.vk, kd);
	char *rk = ev_take(FT_EVENT_REVOCATION, kd,
			   pred_revoke_key(&old, "key compromised"), &t, &lk);
	uint64_t ik = add_ok(&s, rk, lk, "key revocation");
	doc = lineage(&s, kd, NULL);
	ck_assert_uint_eq(ev_count(doc), 1);
	expect_event(ev_at(doc, 0), ik, "revocation", by_test, 1);
	expect_str(ev_at(doc, 0), "target", "key");
	expect_str(ev_at(doc, 0), "reason", "key compromised");
	if (json_object_get(ev_at(doc, 0), "key") != NULL) {
		expect_str(ev_at(doc, 0), "key", old.str);
	}
	json_decref(doc);

	/* Digests: unknown 404; malformed 400 (lineage and bundle). */
	uint8_t nobody[32];
	char hex[65];
	image("nobody", nobody);
	expect_lineage_status(&s, nobody, 404);
	expect_bundle_status(&s, nobody, 404, NULL);
	hex32(x, hex);
	const char *bad[5];
	char upper[65], shortx[64], longx[66], nonhex[65];
	for (int i = 0; i < 65; i++) {
		upper[i] = (char)toupper((unsigned char)hex[i]);
	}
	/* make sure at least one letter is there to upper-case */
	upper[0] = 'A';
	memcpy(shortx, hex, 63);
	shortx[63] = 0;
	memcpy(longx, hex, 64);
	longx[64] = '0';
	longx[65] = 0;
	memcpy(nonhex, hex, 65);
	nonhex[10] = 'g';
	bad[0] = upper;
	bad[1] = shortx;
	bad[2] = longx;
	bad[3] = nonhex;
	bad[4] = "";
	for (size_t i = 0; i < NELEM(bad); i++) {
		char *p = tu_strf("/lineage/%s", bad[i]);
		lh_resp r;
		ck_assert_msg(lh_http(s.port, "GET", p, NULL, 0, &r) == 0,
			      "GET %s: no answer", p);
		/* "/lineage/" alone may also be "no such resource" */
		ck_assert_msg(r.status == 400 || (i == 4 && r.status == 404),
			      "GET %s: status %d, want 400 (%s)", p, r.status,
			      (char *)r.body);
		check_one_line(&r, p);
		lh_resp_free(&r);
		free(p);
		p = tu_strf("/bundle/%s", bad[i]);
		ck_assert_msg(lh_http(s.port, "GET", p, NULL, 0, &r) == 0,
			      "GET %s: no answer", p);
		ck_assert_msg(r.status == 400 || (i == 4 && r.status == 404),
			      "GET %s: status %d, want 400 (%s)", p, r.status,
			      (char *)r.body);
		lh_resp_free(&r);
		free(p);
	}

	free(b);
	free(r1);
	free(d);
	free(r2);
	free(yb);
	free(yd);
	free(e2);
	free(rz);
	free(rk);
	finish(&s);
}
END_TEST

/* ---- Tests: rejections. -------------------------------------------------- */

#define MAX_ENTRY 1500

START_TEST(test_rejections)
{
	lh_server s;
	struct tkey t, dist, upf, stranger, ops;
	char hex[65];
	size_t len;
	char *e, *p, *st;

	ck_assert_int_eq(ft_init(), 0);
	tkey_test(&t);
	tkey_make(&dist, "distributor", 0x11);
	tkey_make(&upf, "upf-vendor", 0x12);
	tkey_make(&stranger, "stranger", 0x13);
	tkey_make(&ops, "gnb-ops", 0x14);
	struct pkey pk[] = {
		{&t, all_kinds, "[\"*\"]"},
		{&dist, "[\"distribution\"]", NULL},
		{&upf, "[\"build\",\"release\"]", "[\"upf-*\"]"},
		{&ops, "[\"build\",\"revocation\"]", "[\"gnb-*\"]"},
	};
	char *pol = policy_text("\"max_entry_bytes\":1500,"
				"\"max_signatures\":3",
				pk, NELEM(pk));
	start_log(&s, pol);
	free(pol);

	/* What is allowed is accepted. */
	uint8_t gx[32], ux[32];
	image("gnb", gx);
	image("upf", ux);
	e = ev_take(FT_EVENT_RELEASE, gx, pred_release("gnb-du", "1.0.0", 1),
		    &t, &len);
	(void)add_ok(&s, e, len, "release by the test key");
	free(e);
	e = ev_take(FT_EVENT_DISTRIBUTION, gx, pred_dist("gnb-du", "stable"),
		    &dist, &len);
	(void)add_ok(&s, e, len, "distribution by the distributor");
	free(e);
	e = ev_take(FT_EVENT_RELEASE, ux, pred_release("upf-core", "3.0", 2),
		    &upf, &len);
	(void)add_ok(&s, e, len, "upf release by the upf vendor");
	free(e);
	/* Build events carry no product: a key limited to gnb-* may sign
	 * them; and it may revoke a gnb image. */
	e = ev_take(FT_EVENT_BUILD, ux, pred_build("ops"), &ops, &len);
	(void)add_ok(&s, e, len, "build by a product-limited key");
	free(e);
	uint8_t ox[32];
	image("ops-revoked", ox);
	e = ev_take(FT_EVENT_REVOCATION, ox,
		    pred_revoke_image("gnb-cu", "withdrawn"), &ops, &len);
	(void)add_ok(&s, e, len, "gnb image revocation by gnb-ops");
	free(e);
	/* Our hand-made signer makes acceptable envelopes: the refusals
	 * below are due to the one defect each carries. */
	uint8_t hm[32];
	image("hand-made", hm);
	hex32(hm, hex);
	p = pred_release("gnb-du", "1.0.1", 1);
	st = stmt_text(FT_STATEMENT_TYPE, hex, FT_PRED_RELEASE, p);
	e = raw1(st, &t, 0, &len);
	(void)add_ok(&s, e, len, "hand-made release");
	free(e);
	free(st);
	free(p);
	/* Exactly max_entry_bytes is fine. */
	uint8_t *big = NULL;
	ck_assert_int_eq(lh_event_exact(1, MAX_ENTRY, &big), 0);
	(void)add_ok(&s, big, MAX_ENTRY, "event of max_entry_bytes");
	free(big);

	double rej0 = rejected_total(&s);
	unsigned nrej = 0;

	/* Subjects of the refused events: each a fresh image, so that their
	 * lineage must stay 404. */
	uint8_t r[32];
#define FRESH(tag) (image(tag, r), hex32(r, hex), r)

	/* too-large: one byte over the policy's limit (413); over the hard
	 * cap too. */
	ck_assert_int_eq(lh_event_exact(2, MAX_ENTRY + 1, &big), 0);
	char ltag[64];
	snprintf(ltag, sizeof ltag, "ftlog test image %d", 2);
	uint8_t lsub[32];
	ck_assert_int_eq(crypto_hash_sha256(lsub, (const uint8_t *)ltag,
					    strlen(ltag)),
			 0);
	expect_reject(&s, big, MAX_ENTRY + 1, 413, "too-large", lsub,
		      "max_entry_bytes + 1", NULL);
	nrej++;
	free(big);
	/* the size is checked first: garbage over the limit is too-large */
	big = malloc(MAX_ENTRY + 1);
	ck_assert_ptr_nonnull(big);
	memset(big, '{', MAX_ENTRY + 1);
	expect_reject(&s, big, MAX_ENTRY + 1, 413, "too-large", NULL,
		      "garbage over max_entry_bytes", NULL);
	nrej++;
	free(big);
	ck_assert_int_eq(lh_event_exact(3, 70000, &big), 0);
	{
		lh_resp rr;
		uint64_t n0 = cp_size(&s);
		ck_assert_int_eq(lh_http(s.port, "POST", "/add", big, 70000, &rr),
				 0);
		ck_assert_msg(rr.status == 413, "70000-byte event: status %d (%s)",
			      rr.status, (char *)rr.body);
		check_one_line(&rr, "70000-byte event");
		lh_resp_free(&rr);
		ck_assert_uint_eq(cp_size(&s), n0);
		nrej++;
	}
	free(big);

	/* json */
	static const char *const notjson[] = {
		"this is not JSON\n",
		"{\"payloadType\":\"application/vnd.in-toto+json\",\"payload\":",
		"{\"payloadType\":\"a\",\"payloadType\":\"b\",\"payload\":\"\","
		"\"signatures\":[]}",
		"[1,2,3] x",
	};
	for (size_t i = 0; i < NELEM(notjson); i++) {
		expect_reject(&s, notjson[i], strlen(notjson[i]), 400, "json",
			      NULL, notjson[i], NULL);
		nrej++;
	}
	/* a valid envelope with trailing bytes */
	p = pred_release("gnb-du", "1.0.0", 1);
	e = event1(FT_EVENT_RELEASE, FRESH("trailing"), p, &t, &len);
	free(p);
	char *tr = tu_strf("%s {}", e);
	expect_reject(&s, tr, strlen(tr), 400, "json", r, "trailing bytes",
		      NULL);
	nrej++;
	free(tr);
	/* an envelope that is valid JSON but not an object is the envelope
	 * rule; signatures [] too */
	static const char *const badenv[] = {
		"[]",
		"{\"payloadType\":\"application/vnd.in-toto+json\","
		"\"payload\":\"e30=\",\"signatures\":[]}",
		"{\"payloadType\":\"application/vnd.in-toto+json\","
		"\"signatures\":[{\"keyid\":\"x\",\"sig\":\"AAAA\"}]}",
		"{\"payloadType\":\"application/vnd.in-toto+json\","
		"\"payload\":\"e30=\",\"signatures\":[{\"sig\":\"!!!!\"}]}",
		"{\"payloadType\":\"application/vnd.in-toto+json\","
		"\"payload\":\"e30=\",\"signatures\":[{\"sig\":\"AAAA\"}]}",
		"{\"payloadType\":\"application/vnd.in-toto+json\","
		"\"payload\":\"e30=\",\"signatures\":{}}",
	};
	for (size_t i = 0; i < NELEM(badenv); i++) {
		expect_reject(&s, badenv[i], strlen(badenv[i]), 400, "envelope",
			      NULL, badenv[i], NULL);
		nrej++;
	}
	free(e);

	/* payload-type: a correct signature over the wrong type. */
	p = pred_release("gnb-du", "1.0.0", 1);
	st = stmt_text(FT_STATEMENT_TYPE, (FRESH("ptype"), hex),
		       FT_PRED_RELEASE, p);
	{
		const struct tkey *ks[1] = {&t};
		e = envelope_raw("application/json", st, ks, NULL, 1, 0, &len);
	}
	expect_reject(&s, e, len, 400, "payload-type", r, "payloadType", NULL);
	nrej++;
	free(e);
	free(st);
	free(p);

	/* statement: wrong _type, uppercase digest, no subject, payload not
	 * a statement object. */
	p = pred_release("gnb-du", "1.0.0", 1);
	st = stmt_text("https://in-toto.io/Statement/v0.1",
		       (FRESH("stype"), hex), FT_PRED_RELEASE, p);
	e = raw1(st, &t, 0, &len);
	expect_reject(&s, e, len, 400, "statement", r, "_type v0.1", NULL);
	nrej++;
	free(e);
	free(st);
	image("upper", r);
	hex32(r, hex);
	char uhex[65];
	for (int i = 0; i < 65; i++) {
		uhex[i] = (char)toupper((unsigned char)hex[i]);
	}
	uhex[0] = 'F';
	st = stmt_text(FT_STATEMENT_TYPE, uhex, FT_PRED_RELEASE, p);
	e = raw1(st, &t, 0, &len);
	expect_reject(&s, e, len, 400, "statement", r, "uppercase digest",
		      NULL);
	nrej++;
	free(e);
	free(st);
	st = tu_strf("{\"_type\":\"" FT_STATEMENT_TYPE "\",\"subject\":[],"
		     "\"predicateType\":\"" FT_PRED_RELEASE "\",\"predicate\":%s}",
		     p);
	e = raw1(st, &t, 0, &len);
	expect_reject(&s, e, len, 400, "statement", NULL, "no subject", NULL);
	nrej++;
	free(e);
	free(st);
	free(p);

	/* predicate-type */
	st = stmt_text(FT_STATEMENT_TYPE, (FRESH("unknown-ptype"), hex),
		       "https://example.com/attestation/v9", "{}");
	e = raw1(st, &t, 0, &len);
	expect_reject(&s, e, len, 400, "predicate-type", r,
		      "unknown predicateType", NULL);
	nrej++;
	free(e);
	free(st);

	/* predicate: release without security_version; an unknown field; a
	 * negative security_version; a key revocation whose subject is not
	 * the key's digest. */
	static const char *const badpred[] = {
		"{\"product\":\"gnb-du\",\"vendor\":\"v\",\"version\":\"1\","
		"\"hardware_models\":[\"hw\"]}",
		"{\"product\":\"gnb-du\",\"vendor\":\"v\",\"version\":\"1\","
		"\"security_version\":1,\"hardware_models\":[\"hw\"],"
		"\"colour\":\"red\"}",
		"{\"product\":\"gnb-du\",\"vendor\":\"v\",\"version\":\"1\","
		"\"security_version\":-1,\"hardware_models\":[\"hw\"]}",
		"{\"product\":\"gnb du\",\"vendor\":\"v\",\"version\":\"1\","
		"\"security_version\":1,\"hardware_models\":[\"hw\"]}",
	};
	for (size_t i = 0; i < NELEM(badpred); i++) {
		char tag[32];
		snprintf(tag, sizeof tag, "badpred-%zu", i);
		st = stmt_text(FT_STATEMENT_TYPE, (FRESH(tag), hex),
			       FT_PRED_RELEASE, badpred[i]);
		e = raw1(st, &t, 0, &len);
		expect_reject(&s, e, len, 400, "predicate", r, badpred[i],
			      NULL);
		nrej++;
		free(e);
		free(st);
	}
	p = pred_revoke_key(&stranger, "wrong subject");
	st = stmt_text(FT_STATEMENT_TYPE, (FRESH("not-the-key"), hex),
		       FT_PRED_REVOCATION, p);
	e = raw1(st, &t, 0, &len);
	expect_reject(&s, e, len, 400, "predicate", r,
		      "key revocation about another digest", NULL);
	nrej++;
	free(e);
	free(st);
	free(p);

	/* signatures: 4 > max_signatures 3 (even by one key). */
	{
		const struct tkey *ks[4] = {&t, &t, &t, &t};
		p = pred_release("gnb-du", "1.0.0", 1);
		e = event_multi(FT_EVENT_RELEASE,
				(const uint8_t(*)[32])FRESH("sigs"), 1, p, ks,
				4, &len);
		free(p);
		expect_reject(&s, e, len, 413, "signatures", r,
			      "4 signatures", NULL);
		nrej++;
		free(e);
	}

	/* unknown-key: a stranger; the test key's signature without keyid. */
	e = ev_take(FT_EVENT_BUILD, FRESH("stranger"), pred_build("s"),
		    &stranger, &len);
	expect_reject(&s, e, len, 403, "unknown-key", r, "stranger", NULL);
	nrej++;
	free(e);
	p = pred_build("nokeyid");
	st = stmt_text(FT_STATEMENT_TYPE, (FRESH("nokeyid"), hex), FT_PRED_BUILD,
		       p);
	e = raw1(st, &t, RAW_NOKEYID, &len);
	expect_reject(&s, e, len, 403, "unknown-key", r, "no keyid", NULL);
	nrej++;
	free(e);

	/* signature: one flipped bit; the stranger's signature under the
	 * test key's keyid. */
	e = raw1(st, &t, RAW_FLIP, &len);
	expect_reject(&s, e, len, 403, "signature", r, "flipped bit", NULL);
	nrej++;
	free(e);
	{
		const struct tkey *ks[1] = {&stranger};
		const struct tkey *ids[1] = {&t};
		e = envelope_raw(FT_DSSE_PAYLOAD_TYPE, st, ks, ids, 1, 0, &len);
		expect_reject(&s, e, len, 403, "signature", r,
			      "signature by another key", NULL);
		nrej++;
		free(e);
		/* a good signature followed by a bad one is still refused */
		const struct tkey *ks2[2] = {&t, &stranger};
		const struct tkey *ids2[2] = {&t, &t};
		e = envelope_raw(FT_DSSE_PAYLOAD_TYPE, st, ks2, ids2, 2, 0,
				 &len);
		expect_reject(&s, e, len, 403, "signature", r,
			      "good + bad signature", NULL);
		nrej++;
		free(e);
	}
	free(st);
	free(p);

	/* kind: the distributor signs a release; the upf vendor a
	 * distribution. */
	e = ev_take(FT_EVENT_RELEASE, gx, pred_release("gnb-du", "9.9.9", 9),
		    &dist, &len);
	expect_reject(&s, e, len, 403, "kind", gx, "distributor's release",
		      NULL);
	nrej++;
	free(e);
	e = ev_take(FT_EVENT_DISTRIBUTION, ux, pred_dist("upf-core", "stable"),
		    &upf, &len);
	expect_reject(&s, e, len, 403, "kind", ux,
		      "release key's distribution", NULL);
	nrej++;
	free(e);

	/* product: the upf vendor signs a gnb release. */
	e = ev_take(FT_EVENT_RELEASE, gx, pred_release("gnb-du", "9.9.8", 9),
		    &upf, &len);
	expect_reject(&s, e, len, 403, "product", gx, "upf key on gnb", NULL);
	nrej++;
	free(e);

	/* product: an image revocation for another product; a key
	 * revocation (no product) needs a "*" pattern. */
	e = ev_take(FT_EVENT_REVOCATION, ux,
		    pred_revoke_image("upf-core", "nope"), &ops, &len);
	expect_reject(&s, e, len, 403, "product", ux,
		      "gnb-ops revokes a upf image", NULL);
	nrej++;
	free(e);
	{
		uint8_t kd[32];
		ft_event_key_digest(&upf.vk, kd);
		e = ev_take(FT_EVENT_REVOCATION, kd,
			    pred_revoke_key(&upf, "nope"), &ops, &len);
		expect_reject(&s, e, len, 403, "product", kd,
			      "gnb-ops revokes a key", NULL);
		nrej++;
		free(e);
	}
	/* kind: a revocation by a key not allowed revocations. */
	e = ev_take(FT_EVENT_REVOCATION, FRESH("kind-rev"),
		    pred_revoke_image("upf-core", "nope"), &upf, &len);
	expect_reject(&s, e, len, 403, "kind", r, "upf vendor revokes", NULL);
	nrej++;
	free(e);

	/* Rejections are counted. */
	double rej1 = rejected_total(&s);
	ck_assert_msg(rej1 > rej0,
		      "the rejected counters did not grow (%g -> %g) after %u "
		      "refusals",
		      rej0, rej1, nrej);
#undef FRESH
	finish(&s);
}
END_TEST

/* ---- Tests: thresholds. ------------------------------------------------- */

START_TEST(test_threshold)
{
	lh_server s;
	struct tkey t, a, b, dist, upf;
	uint8_t g[32];
	size_t len;
	char *e;

	ck_assert_int_eq(ft_init(), 0);
	tkey_test(&t);
	tkey_make(&a, "vendor-a", 0x21);
	tkey_make(&b, "vendor-b", 0x22);
	tkey_make(&dist, "distributor", 0x23);
	tkey_make(&upf, "upf-vendor", 0x24);
	struct pkey pk[] = {
		{&t, "[\"build\",\"distribution\",\"revocation\"]", NULL},
		{&a, "[\"release\"]", "[\"gnb-*\"]"},
		{&b, "[\"release\"]", "[\"gnb-*\"]"},
		{&dist, "[\"distribution\"]", "[\"*\"]"},
		{&upf, "[\"release\"]", "[\"upf-*\"]"},
	};
	char *pol = policy_text("\"release_threshold\":2", pk, NELEM(pk));
	start_log(&s, pol);
	free(pol);
	image("threshold", g);

	/* Something logged first, so the checks below compare sizes > 0. */
	e = ev_take(FT_EVENT_BUILD, g, pred_build("refs/tags/t"), &t, &len);
	uint64_t ib = add_ok(&s, e, len, "build");
	free(e);

	const struct tkey *k_a[1] = {&a};
	const struct tkey *k_aa[2] = {&a, &a};
	const struct tkey *k_ab[2] = {&a, &b};
	const struct tkey *k_ad[2] = {&a, &dist};
	const struct tkey *k_au[2] = {&a, &upf};
	const struct tkey *k_baa[3] = {&b, &a, &a};
	char *p = pred_release("gnb-du", "5.0.0", 5);

	e = event_multi(FT_EVENT_RELEASE, (const uint8_t(*)[32])g, 1, p, k_a,
			1, &len);
	expect_reject(&s, e, len, 403, "threshold", g, "1-of-2", NULL);
	free(e);
	e = event_multi(FT_EVENT_RELEASE, (const uint8_t(*)[32])g, 1, p, k_aa,
			2, &len);
	expect_reject(&s, e, len, 403, "threshold", g, "A twice", NULL);
	free(e);
	e = event_multi(FT_EVENT_RELEASE, (const uint8_t(*)[32])g, 1, p, k_ad,
			2, &len);
	expect_reject(&s, e, len, 403, "kind", g, "A + distributor", NULL);
	free(e);
	e = event_multi(FT_EVENT_RELEASE, (const uint8_t(*)[32])g, 1, p, k_au,
			2, &len);
	expect_reject(&s, e, len, 403, "product", g, "A + upf vendor", NULL);
	free(e);
	const struct tkey *k_d[1] = {&dist};
	e = event_multi(FT_EVENT_RELEASE, (const uint8_t(*)[32])g, 1, p, k_d, 1,
			&len);
	expect_reject(&s, e, len, 403, "kind", g, "distributor alone", NULL);
	free(e);
	const struct tkey *k_u[1] = {&upf};
	e = event_multi(FT_EVENT_RELEASE, (const uint8_t(*)[32])g, 1, p, k_u, 1,
			&len);
	expect_reject(&s, e, len, 403, "product", g, "upf vendor on gnb-du",
		      NULL);
	free(e);

	/* 2-of-2: accepted, both signers in the lineage. */
	e = event_multi(FT_EVENT_RELEASE, (const uint8_t(*)[32])g, 1, p, k_ab,
			2, &len);
	uint64_t i1 = add_ok(&s, e, len, "2-of-2 release");
	free(p);
	expect_bundle(&s, g, e, len, i1);
	free(e);
	/* B, A, A (a repeat counts once, but does not hurt). */
	p = pred_release("gnb-du", "5.0.1", 6);
	e = event_multi(FT_EVENT_RELEASE, (const uint8_t(*)[32])g, 1, p, k_baa,
			3, &len);
	free(p);
	uint64_t i2 = add_ok(&s, e, len, "B + A + A release");
	expect_bundle(&s, g, e, len, i2);
	free(e);

	json_t *doc = lineage(&s, g, NULL);
	static const char *const ab[] = {"vendor-a", "vendor-b"};
	ck_assert_uint_eq(ev_count(doc), 3);
	expect_event(ev_at(doc, 0), ib, "build", by_test, 1);
	expect_event(ev_at(doc, 1), i1, "release", ab, 2);
	expect_str(ev_at(doc, 1), "version", "5.0.0");
	expect_event(ev_at(doc, 2), i2, "release", ab, 2);
	json_decref(doc);

	/* A and B may not release upf products, whatever their number. */
	uint8_t u[32];
	image("threshold-upf", u);
	p = pred_release("upf-core", "1.0.0", 1);
	e = event_multi(FT_EVENT_RELEASE, (const uint8_t(*)[32])u, 1, p, k_ab,
			2, &len);
	expect_reject(&s, e, len, 403, "product", u, "A + B on upf-core",
		      NULL);
	free(e);
	/* The upf vendor alone is 1 of 2. */
	e = event_multi(FT_EVENT_RELEASE, (const uint8_t(*)[32])u, 1, p, k_u, 1,
			&len);
	expect_reject(&s, e, len, 403, "threshold", u, "upf vendor alone",
		      NULL);
	free(e);
	free(p);
	finish(&s);
}
END_TEST

/* "release_thresholds": the first matching pattern sets the threshold. */
START_TEST(test_threshold_per_product)
{
	lh_server s;
	struct tkey t, a, b, upf;
	uint8_t g[32], u[32];
	size_t len;
	char *e, *p;

	ck_assert_int_eq(ft_init(), 0);
	tkey_test(&t);
	tkey_make(&a, "vendor-a", 0x21);
	tkey_make(&b, "vendor-b", 0x22);
	tkey_make(&upf, "upf-vendor", 0x24);
	struct pkey pk[] = {
		{&t, "[\"build\"]", NULL},
		{&a, "[\"release\"]", "[\"gnb-*\",\"upf-*\"]"},
		{&b, "[\"release\"]", "[\"gnb-*\"]"},
		{&upf, "[\"release\"]", "[\"upf-*\"]"},
	};
	char *pol = policy_text("\"release_threshold\":2,"
				"\"release_thresholds\":[{\"products\":"
				"\"upf-*\",\"threshold\":1}]",
				pk, NELEM(pk));
	start_log(&s, pol);
	free(pol);
	image("pp-gnb", g);
	image("pp-upf", u);

	e = ev_take(FT_EVENT_BUILD, g, pred_build("x"), &t, &len);
	(void)add_ok(&s, e, len, "build");
	free(e);
	/* upf-*: 1 suffices. */
	e = ev_take(FT_EVENT_RELEASE, u, pred_release("upf-core", "1", 1), &upf,
		    &len);
	uint64_t iu = add_ok(&s, e, len, "upf release, threshold 1");
	expect_bundle(&s, u, e, len, iu);
	free(e);
	/* gnb-*: still 2. */
	e = ev_take(FT_EVENT_RELEASE, g, pred_release("gnb-du", "1", 1), &a,
		    &len);
	expect_reject(&s, e, len, 403, "threshold", g, "gnb release 1-of-2",
		      NULL);
	free(e);
	const struct tkey *k_ab[2] = {&a, &b};
	p = pred_release("gnb-du", "1", 1);
	e = event_multi(FT_EVENT_RELEASE, (const uint8_t(*)[32])g, 1, p, k_ab,
			2, &len);
	free(p);
	(void)add_ok(&s, e, len, "gnb release 2-of-2");
	free(e);
	finish(&s);
}
END_TEST

/* ---- Tests: revocations. ------------------------------------------------ */

START_TEST(test_revocation)
{
	lh_server s;
	struct tkey t, k;
	uint8_t i1[32], i2[32], i3[32], kd[32];
	size_t l1, l2, len;
	char *e, *reason = NULL;
	lh_resp r;

	ck_assert_int_eq(ft_init(), 0);
	tkey_test(&t);
	tkey_make(&k, "vendor-k", 0x31);
	struct pkey pk[] = {
		{&t, all_kinds, NULL},
		{&k, "[\"build\",\"release\",\"distribution\"]", "[\"*\"]"},
	};
	char *pol = policy_text(NULL, pk, NELEM(pk));
	start_log(&s, pol);
	free(pol);
	image("rev-1", i1);
	image("rev-2", i2);
	image("rev-3", i3);
	ft_event_key_digest(&k.vk, kd);

	/* K releases image 1; then K is revoked. */
	char *e1 = ev_take(FT_EVENT_RELEASE, i1,
			   pred_release("gnb-du", "1.0.0", 1), &k, &l1);
	uint64_t x1 = add_ok(&s, e1, l1, "release by K");
	e = ev_take(FT_EVENT_REVOCATION, kd, pred_revoke_key(&k, "leaked"), &t,
		    &len);
	uint64_t rk = add_ok(&s, e, len, "revocation of K");
	free(e);
	json_t *doc = lineage(&s, kd, NULL);
	ck_assert_uint_eq(ev_count(doc), 1);
	expect_event(ev_at(doc, 0), rk, "revocation", by_test, 1);
	expect_str(ev_at(doc, 0), "target", "key");
	expect_str(ev_at(doc, 0), "reason", "leaked");
	json_decref(doc);

	/* K's new events: refused, naming the revocation. */
	e = ev_take(FT_EVENT_BUILD, i3, pred_build("after"), &k, &len);
	expect_reject(&s, e, len, 403, "revoked-key", i3, "build by revoked K",
		      &reason);
	ck_assert_msg(has_number(reason, rk),
		      "revoked-key refusal does not name revocation %" PRIu64
		      ": %s",
		      rk, reason);
	free(reason);
	free(e);
	e = ev_take(FT_EVENT_RELEASE, i1, pred_release("gnb-du", "1.0.1", 2),
		    &k, &len);
	expect_reject(&s, e, len, 403, "revoked-key", i1,
		      "release by revoked K", &reason);
	ck_assert(has_number(reason, rk));
	free(reason);
	free(e);
	/* K together with a valid key: still refused. */
	{
		const struct tkey *ks[2] = {&t, &k};
		char *p = pred_dist("gnb-du", "stable");
		e = event_multi(FT_EVENT_DISTRIBUTION,
				(const uint8_t(*)[32])i3, 1, p, ks, 2, &len);
		free(p);
		expect_reject(&s, e, len, 403, "revoked-key", i3,
			      "co-signed by revoked K", NULL);
		free(e);
	}
	/* What K signed before its revocation is still the same entry. */
	uint64_t n = cp_size(&s);
	ck_assert_uint_eq(add_ok(&s, e1, l1, "pre-revocation release again"),
			  x1);
	ck_assert_uint_eq(cp_size(&s), n);
	expect_bundle(&s, i1, e1, l1, x1);

	/* Image 2: released, then revoked. */
	char *e2 = ev_take(FT_EVENT_RELEASE, i2,
			   pred_release("gnb-cu", "2.0.0", 3), &t, &l2);
	uint64_t x2 = add_ok(&s, e2, l2, "release of image 2");
	expect_bundle(&s, i2, e2, l2, x2);
	e = ev_take(FT_EVENT_REVOCATION, i2,
		    pred_revoke_image("gnb-cu", "CVE-2026-1234"), &t, &len);
	uint64_t rv = add_ok(&s, e, len, "revocation of image 2");
	free(e);

	for (int round = 0; round < 2; round++) {
		/* The bundle is gone: 410 naming the revocation. */
		char entry[48];
		snprintf(entry, sizeof entry, "entry %" PRIu64, rv);
		expect_bundle_status(&s, i2, 410, &r);
		const char *at = strstr((char *)r.body, entry);
		ck_assert_msg(at != NULL &&
				      !isdigit((unsigned char)at[strlen(entry)]),
			      "410 body does not say \"%s\": %s", entry,
			      (char *)r.body);
		lh_resp_free(&r);

		doc = lineage(&s, i2, NULL);
		ck_assert_uint_eq(ev_count(doc), 2);
		expect_event(ev_at(doc, 0), x2, "release", by_test, 1);
		expect_event(ev_at(doc, 1), rv, "revocation", by_test, 1);
		expect_str(ev_at(doc, 1), "target", "image");
		expect_str(ev_at(doc, 1), "reason", "CVE-2026-1234");
		json_decref(doc);

		/* A new release of image 2: refused. */
		e = ev_take(FT_EVENT_RELEASE, i2,
			    pred_release("gnb-cu", "2.0.1", 4), &t, &len);
		expect_reject(&s, e, len, 403, "revoked-image", i2,
			      "release of a revoked image", &reason);
		ck_assert_msg(has_number(reason, rv),
			      "revoked-image refusal does not name revocation "
			      "%" PRIu64 ": %s",
			      rv, reason);
		free(reason);
		free(e);

		/* Nor any other event about it. */
		e = ev_take(FT_EVENT_DISTRIBUTION, i2,
			    pred_dist("gnb-cu", "stable"), &t, &len);
		expect_reject(&s, e, len, 403, "revoked-image", i2,
			      "distribution of a revoked image", NULL);
		free(e);

		/* The old release is still answered with its index. */
		n = cp_size(&s);
		ck_assert_uint_eq(add_ok(&s, e2, l2, "old release of image 2"),
				  x2);
		ck_assert_uint_eq(cp_size(&s), n);

		/* K is still revoked. */
		e = ev_take(FT_EVENT_BUILD, i3, pred_build("after-2"), &k,
			    &len);
		expect_reject(&s, e, len, 403, "revoked-key", i3,
			      "build by revoked K", &reason);
		ck_assert(has_number(reason, rk));
		free(reason);
		free(e);

		if (round == 0) {
			/* The same after a restart. */
			int st = lh_stop(&s);
			ck_assert_msg(st == 0, "ftlogd exit status %d", st);
			ck_assert_msg(lh_start(&s, 0, fast_args) == 0,
				      "ftlogd restart failed");
		}
	}
	/* Image 1 (not revoked) keeps its bundle. */
	expect_bundle(&s, i1, e1, l1, x1);
	free(e1);
	free(e2);
	finish(&s);
}
END_TEST

/* Send two POST /add pipelined in one write on c; read both answers. */
static void add_pipelined(const lh_server *s, lh_conn *c, const char *a,
			  size_t la, const char *b, size_t lb, lh_resp out[2])
{
	char *ha = tu_strf("POST /add HTTP/1.1\r\nHost: 127.0.0.1:%d\r\n"
			   "Content-Length: %zu\r\n\r\n",
			   s->port, la);
	char *hb = tu_strf("POST /add HTTP/1.1\r\nHost: 127.0.0.1:%d\r\n"
			   "Content-Length: %zu\r\n\r\n",
			   s->port, lb);
	size_t n = strlen(ha) + la + strlen(hb) + lb;
	char *req = malloc(n);

	ck_assert_ptr_nonnull(req);
	memcpy(req, ha, strlen(ha));
	memcpy(req + strlen(ha), a, la);
	memcpy(req + strlen(ha) + la, hb, strlen(hb));
	memcpy(req + strlen(ha) + la + strlen(hb), b, lb);
	ck_assert_int_eq(lh_conn_send(c, req, n), 0);
	ck_assert_msg(lh_conn_read_response(c, &out[0], 30000) == 0,
		      "no answer to the first pipelined POST");
	ck_assert_msg(lh_conn_read_response(c, &out[1], 30000) == 0,
		      "no answer to the second pipelined POST");
	free(req);
	free(ha);
	free(hb);
}

/*
 * A revocation and an event it revokes, submitted together (likely one
 * batch): whatever the order they are sequenced in, no event signed by a
 * revoked key or about a revoked image is ever logged after its
 * revocation; if refused, the refusal names the revocation.
 */
START_TEST(test_revocation_race)
{
	lh_server s;
	struct tkey t;
	lh_conn c;
	lh_resp r[2];
	size_t lr, le;

	ck_assert_int_eq(ft_init(), 0);
	tkey_test(&t);
	struct tkey ks[6];
	struct pkey pk[7];
	pk[0] = (struct pkey){&t, all_kinds, NULL};
	for (int i = 0; i < 6; i++) {
		char name[32];
		snprintf(name, sizeof name, "racer-%d", i);
		tkey_make(&ks[i], name, (uint8_t)(0x70 + i));
		pk[i + 1] = (struct pkey){&ks[i], "[\"build\",\"release\"]",
					  NULL};
	}
	char *pol = policy_text(NULL, pk, NELEM(pk));
	start_log(&s, pol);
	free(pol);
	ck_assert_int_eq(lh_conn_open(&c, s.port), 0);

	for (int i = 0; i < 12; i++) {
		const struct tkey *k = &ks[i % 6];
		int image_case = i >= 6;
		uint8_t kd[32], img[32];
		char tag[32];
		char *rev, *ev;

		snprintf(tag, sizeof tag, "race-%d", i);
		image(tag, img);
		if (!image_case) {
			/* revoke key k; k signs a build */
			ft_event_key_digest(&k->vk, kd);
			rev = ev_take(FT_EVENT_REVOCATION, kd,
				      pred_revoke_key(k, "race"), &t, &lr);
			ev = ev_take(FT_EVENT_BUILD, img, pred_build(tag), k,
				     &le);
		} else {
			/* revoke an image; a release of it */
			rev = ev_take(FT_EVENT_REVOCATION, img,
				      pred_revoke_image("gnb-du", "race"), &t,
				      &lr);
			ev = ev_take(FT_EVENT_RELEASE, img,
				     pred_release("gnb-du", tag, 1), &t, &le);
		}
		add_pipelined(&s, &c, rev, lr, ev, le, r);
		uint64_t irev = check_accepted(&s, &r[0], rev, lr, "revocation");
		if (r[1].status == 200) {
			uint64_t iev = check_accepted(&s, &r[1], ev, le,
						      "raced event");
			ck_assert_msg(iev < irev,
				      "round %d: an event logged at %" PRIu64
				      " after its revocation at %" PRIu64,
				      i, iev, irev);
		} else {
			const char *rule =
				image_case ? "revoked-image: " : "revoked-key: ";
			ck_assert_msg(r[1].status == 403 &&
					      strncmp((char *)r[1].body, rule,
						      strlen(rule)) == 0 &&
					      has_number((char *)r[1].body, irev),
				      "round %d: raced event: %d %s", i,
				      r[1].status, (char *)r[1].body);
			check_one_line(&r[1], "raced event");
			if (image_case) {
				json_t *doc = lineage(&s, img, NULL);
				ck_assert_uint_eq(ev_count(doc), 1);
				expect_event(ev_at(doc, 0), irev, "revocation",
					     by_test, 1);
				json_decref(doc);
			} else {
				expect_lineage_status(&s, img, 404);
			}
		}
		lh_resp_free(&r[0]);
		lh_resp_free(&r[1]);
		free(rev);
		free(ev);
	}
	lh_conn_close(&c);
	finish(&s);
}
END_TEST

/* ---- Tests: SIGHUP. ----------------------------------------------------- */

/* Submit e (unchanged bytes) until it is accepted, up to 5 s. */
static uint64_t add_eventually(const lh_server *s, const void *e, size_t len,
			       const char *what)
{
	lh_resp r = {0};

	for (int i = 0; i < 250; i++) {
		ck_assert_msg(lh_http(s->port, "POST", "/add", e, len, &r) == 0,
			      "%s: no answer", what);
		if (r.status == 200) {
			uint64_t idx = check_accepted(s, &r, e, len, what);
			lh_resp_free(&r);
			return idx;
		}
		ck_assert_msg(r.status == 403, "%s: status %d (%s)", what,
			      r.status, (char *)r.body);
		lh_resp_free(&r);
		tu_sleep_ms(20);
	}
	ck_abort_msg("%s: still refused 5 s after SIGHUP", what);
	return 0;
}

/*
 * Submit events by key (a fresh one each time, numbers from n0: one that
 * is accepted must not be resubmitted) until one is refused with 403
 * unknown-key, up to 5 s.
 */
static void unknown_eventually(const lh_server *s, const struct tkey *key,
			       uint64_t n0, const char *what)
{
	lh_resp r = {0};
	uint8_t *e = NULL;
	size_t len = 0;

	for (int i = 0; i < 250; i++) {
		ck_assert_int_eq(lh_event_key(&key->sk, n0 + (uint64_t)i, 0, &e,
					      &len),
				 0);
		ck_assert_msg(lh_http(s->port, "POST", "/add", e, len, &r) == 0,
			      "%s: no answer", what);
		free(e);
		ck_assert_msg(r.status == 200 || r.status == 403,
			      "%s: status %d (%s)", what, r.status,
			      (char *)r.body);
		if (r.status == 403) {
			ck_assert_msg(strncmp((char *)r.body, "unknown-key: ",
					      13) == 0,
				      "%s: %s", what, (char *)r.body);
			lh_resp_free(&r);
			return;
		}
		lh_resp_free(&r);
		tu_sleep_ms(20);
	}
	ck_abort_msg("%s: still accepted 5 s after SIGHUP", what);
}

START_TEST(test_reload)
{
	lh_server s;
	struct tkey t, nk, stranger;
	uint8_t *e = NULL;
	size_t len;
	lh_conn c;
	lh_resp r;
	uint64_t idx;
	uint8_t sub[32];

	ck_assert_int_eq(ft_init(), 0);
	tkey_test(&t);
	tkey_make(&nk, "new-key", 0x61);
	tkey_make(&stranger, "stranger", 0x62);
	start_log(&s, NULL); /* the default policy: the test key only */

	ck_assert_int_eq(lh_event(1, 0, &e, &len), 0);
	(void)add_ok(&s, e, len, "test key, default policy");
	free(e);
	/* lh_event_key(n) is about image "ftlog test image <n>" */
	char tag[64];
	snprintf(tag, sizeof tag, "ftlog test image %d", 100);
	ck_assert_int_eq(
		crypto_hash_sha256(sub, (const uint8_t *)tag, strlen(tag)), 0);
	ck_assert_int_eq(lh_event_key(&nk.sk, 100, 0, &e, &len), 0);
	expect_reject(&s, e, len, 403, "unknown-key", sub, "new key, before",
		      NULL);

	/* A keep-alive connection from before the reload. */
	ck_assert_int_eq(lh_conn_open(&c, s.port), 0);
	ck_assert_int_eq(lh_conn_request(&c, "GET", "/checkpoint", NULL, 0, &r),
			 0);
	ck_assert_int_eq(r.status, 200);
	lh_resp_free(&r);

	/* A policy that adds the new key. */
	struct pkey both[] = {{&t, all_kinds, NULL}, {&nk, "[\"build\"]", NULL}};
	char *pol = policy_text(NULL, both, NELEM(both));
	ck_assert_int_eq(lh_write_policy(&s, pol), 0);
	free(pol);
	ck_assert_int_eq(kill(s.pid, SIGHUP), 0);
	uint64_t inew = add_eventually(&s, e, len, "new key after SIGHUP");
	free(e);
	json_t *doc = lineage(&s, sub, NULL);
	static const char *const by_new[] = {"new-key"};
	ck_assert_uint_eq(ev_count(doc), 1);
	expect_event(ev_at(doc, 0), inew, "build", by_new, 1);
	json_decref(doc);

	/* The old connection still works, for reads and for submissions. */
	ck_assert_msg(lh_conn_request(&c, "GET", "/checkpoint", NULL, 0, &r) ==
			      0,
		      "keep-alive connection lost after SIGHUP");
	ck_assert_int_eq(r.status, 200);
	lh_resp_free(&r);
	ck_assert_int_eq(lh_event(2, 0, &e, &len), 0);
	ck_assert_msg(lh_conn_add(&c, e, len, &idx, &r) == 0,
		      "POST /add on the old connection: %d %s", r.status,
		      r.body != NULL ? (char *)r.body : "");
	(void)check_accepted(&s, &r, e, len, "old connection");
	lh_resp_free(&r);
	free(e);

	/* A broken policy: refused, the old one stays. */
	static const char broken[] = "{\"ftlog_policy\":1,\"keys\":[{";
	ck_assert_int_eq(lh_write_policy(&s, broken), 0);
	hup_expect_refusal(&s, "broken JSON");
	ck_assert_int_eq(lh_event_key(&nk.sk, 101, 0, &e, &len), 0);
	(void)add_ok(&s, e, len, "new key after a refused reload");
	free(e);
	ck_assert_int_eq(lh_event(3, 0, &e, &len), 0);
	(void)add_ok(&s, e, len, "test key after a refused reload");
	free(e);
	ck_assert_int_eq(lh_event_key(&stranger.sk, 102, 0, &e, &len), 0);
	expect_reject(&s, e, len, 403, "unknown-key", NULL,
		      "stranger after a refused reload", NULL);
	free(e);

	/* A policy without the new key: its events are refused again. */
	struct pkey one[] = {{&t, all_kinds, NULL}};
	pol = policy_text(NULL, one, NELEM(one));
	ck_assert_int_eq(lh_write_policy(&s, pol), 0);
	free(pol);
	ck_assert_int_eq(kill(s.pid, SIGHUP), 0);
	unknown_eventually(&s, &nk, 1000, "new key after its removal");

	/* Valid JSON but an invalid policy (adds the key with an unknown
	 * kind): refused as a whole; the key stays unknown. */
	struct pkey typo[] = {{&t, all_kinds, NULL},
			      {&nk, "[\"build\",\"relase\"]", NULL}};
	pol = policy_text(NULL, typo, NELEM(typo));
	ck_assert_int_eq(lh_write_policy(&s, pol), 0);
	free(pol);
	hup_expect_refusal(&s, "unknown kind");
	ck_assert_int_eq(lh_event_key(&nk.sk, 104, 0, &e, &len), 0);
	expect_reject(&s, e, len, 403, "unknown-key", NULL,
		      "new key after a refused policy", NULL);
	free(e);

	ck_assert_msg(lh_conn_request(&c, "GET", "/checkpoint", NULL, 0, &r) ==
			      0,
		      "keep-alive connection lost after three SIGHUPs");
	ck_assert_int_eq(r.status, 200);
	lh_resp_free(&r);
	lh_conn_close(&c);
	finish(&s);
}
END_TEST

/*
 * A logged event re-encoded into other bytes (trailing white space, an
 * unknown envelope field DSSE says to ignore, its signature twice) is the
 * same signed statement: 409 duplicate-event naming the first index, and
 * nothing stored. The exact bytes again are still a 200 duplicate.
 */
START_TEST(test_replay)
{
	lh_server s;
	struct tkey t;
	size_t len;
	uint8_t x[32];
	char *reason = NULL;

	ck_assert_int_eq(ft_init(), 0);
	tkey_test(&t);
	start_log(&s, NULL);
	image("replay", x);
	char *e = ev_take(FT_EVENT_RELEASE, x,
			  pred_release("gnb-du", "2.0.0", 7), &t, &len);
	uint64_t idx = add_ok(&s, e, len, "release");

	/* The same bytes: the same index, nothing new. */
	uint64_t n = cp_size(&s);
	ck_assert_uint_eq(add_ok(&s, e, len, "release again"), idx);
	ck_assert_uint_eq(cp_size(&s), n);

	/* Trailing white space. */
	char *ws = malloc(len + 2);
	ck_assert_ptr_nonnull(ws);
	memcpy(ws, e, len);
	ws[len] = '\n';
	ws[len + 1] = '\0';
	expect_reject(&s, ws, len + 1, 409, "duplicate-event", x,
		      "re-encoded: trailing newline", &reason);
	ck_assert_msg(has_number(reason, idx), "reason does not name %" PRIu64
		      ": %s", idx, reason);
	free(reason);
	reason = NULL;

	/* An unknown envelope field in front. */
	ck_assert(e[0] == '{');
	char *xf = tu_strf("{\"x-note\":\"again\",%s", e + 1);
	ck_assert_ptr_nonnull(xf);
	expect_reject(&s, xf, strlen(xf), 409, "duplicate-event", x,
		      "re-encoded: extra field", &reason);
	ck_assert(has_number(reason, idx));
	free(reason);
	reason = NULL;

	/* Its one signature given twice: still one signer, same statement. */
	json_error_t jerr;
	json_t *env = json_loads(e, 0, &jerr);
	ck_assert_ptr_nonnull(env);
	json_t *sigs = json_object_get(env, "signatures");
	ck_assert_int_eq(json_array_append(sigs, json_array_get(sigs, 0)), 0);
	char *twice = json_dumps(env, JSON_COMPACT | JSON_PRESERVE_ORDER);
	ck_assert_ptr_nonnull(twice);
	expect_reject(&s, twice, strlen(twice), 409, "duplicate-event", x,
		      "re-encoded: signature twice", &reason);
	ck_assert(has_number(reason, idx));
	free(reason);
	ck_assert_uint_eq(cp_size(&s), n);

	json_decref(env);
	free(twice);
	free(xf);
	free(ws);
	free(e);
	finish(&s);
}
END_TEST

static Suite *events_suite(void)
{
	Suite *s = suite_create("events");
	TCase *cli = tcase_create("cli");
	TCase *tc = tcase_create("serve");

	tcase_set_timeout(cli, 90);
	tcase_add_test(cli, test_cli_policy);
	tcase_add_unchecked_fixture(cli, lh_suite_setup, lh_suite_teardown);
	suite_add_tcase(s, cli);

	tcase_set_timeout(tc, 120);
	tcase_add_test(tc, test_kinds);
	tcase_add_test(tc, test_rejections);
	tcase_add_test(tc, test_threshold);
	tcase_add_test(tc, test_threshold_per_product);
	tcase_add_test(tc, test_revocation);
	tcase_add_test(tc, test_revocation_race);
	tcase_add_test(tc, test_reload);
	tcase_add_test(tc, test_replay);
	tcase_add_unchecked_fixture(tc, lh_suite_setup, lh_suite_teardown);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	/* A client must survive a server that closes early. */
	(void)signal(SIGPIPE, SIG_IGN);
	return tu_run_suite(events_suite());
}
