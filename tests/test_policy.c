/*
 * tests/test_policy.c - ftlogd's submission policy (logd/policy.c): the
 * strict parser (every kind of bad field, with the field path in the
 * reason), defaults, describe, loading files, reference counting, and
 * ft_policy_check for every rule with its exact code and rule name, on
 * envelopes built and signed here with deterministic keys.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <check.h>
#include <jansson.h>

#include <ftlog/event.h>
#include <ftlog/note.h>

#include "logd/policy.h"
#include "tests/testutil.h"

/* ---- Keys: derived from fixed seeds, so every run is the same. */

enum {
	K_REL_A,   /* vendor release key 1 */
	K_REL_B,   /* vendor release key 2 */
	K_BUILD,   /* builder */
	K_DIST,    /* distributor */
	K_REVOKE,  /* revocation key */
	K_STRAY,   /* not in any policy */
	K_COSIG,   /* a witness key (type 0x04): refused by policies */
	NK
};

static const char *const key_names[NK] = {
	"vendor.example/rel-a", "vendor.example/rel-b", "ci.example/builder",
	"cdn.example/dist",     "vendor.example/revoke", "stray.example/x",
	"witness.example/w",
};

static ft_skey SK[NK];
static ft_vkey VK[NK];
static char VS[NK][FT_KEY_STR_MAX + 1]; /* verifier key strings */
static char KID[NK][FT_EVENT_KEYID_MAX + 1];

static void make_key(const char *name, uint8_t type, uint8_t fill,
		     ft_skey *sk)
{
	uint8_t seed[32];

	for (size_t i = 0; i < sizeof seed; i++) {
		seed[i] = (uint8_t)(fill + 3 * i);
	}
	ck_assert_int_eq(
		ft_key_from_seed(name, strlen(name), type, seed, sk), 0);
}

static void keys_setup(void)
{
	ck_assert_int_eq(ft_init(), 0);
	for (int k = 0; k < NK; k++) {
		size_t n;

		make_key(key_names[k],
			 k == K_COSIG ? FT_KEY_COSIG_V1 : FT_KEY_ED25519,
			 (uint8_t)(0x11 * (k + 1)), &SK[k]);
		ft_skey_public(&SK[k], &VK[k]);
		ck_assert_int_eq(ft_vkey_format(&VK[k], VS[k], sizeof VS[k], &n),
				 0);
		snprintf(KID[k], sizeof KID[k], "%s+%08" PRIx32,
			 key_names[k], VK[k].id);
	}
}

/* ---- Helpers. */

static ft_policy *parse_ok(const char *json)
{
	ft_policy *p = NULL;
	char err[256] = "unset";

	int rc = ft_policy_parse((const uint8_t *)json, strlen(json), &p, err,
				 sizeof err);
	ck_assert_msg(rc == 0, "parse failed (%d): %s\n%s", rc, err, json);
	ck_assert_ptr_nonnull(p);
	ck_assert_str_eq(err, "");
	return p;
}

/* The parse must fail with FT_ECONFIG and a reason containing want. */
static void parse_bad(const char *json, const char *want)
{
	ft_policy *p = (ft_policy *)(uintptr_t)0x1;
	char err[256] = "";

	int rc = ft_policy_parse((const uint8_t *)json, strlen(json), &p, err,
				 sizeof err);
	ck_assert_msg(rc == FT_ECONFIG, "rc %d for\n%s", rc, json);
	ck_assert_msg(p == (ft_policy *)(uintptr_t)0x1,
		      "output written on failure");
	ck_assert_msg(strstr(err, want) != NULL,
		      "reason \"%s\" lacks \"%s\"\nfor %s", err, want, json);
	ck_assert_ptr_null(strchr(err, '\n'));
}

/* A policy with one release key and `fields` (",..." or "") added at the
 * top level and `kfields` in the key object. */
static char *pol1(const char *fields, const char *kfields)
{
	return tu_strf("{\"ftlog_policy\":1%s,\"keys\":[{\"key\":\"%s\","
		       "\"kinds\":[\"release\"]%s}]}",
		       fields, VS[K_REL_A], kfields);
}

static void bad1(const char *fields, const char *kfields, const char *want)
{
	char *j = pol1(fields, kfields);

	parse_bad(j, want);
	free(j);
}

/* ---- Parsing. */

START_TEST(test_parse_minimal_defaults)
{
	char *j = pol1("", "");
	ft_policy *p = parse_ok(j);
	char d[512];

	ck_assert_uint_eq(ft_policy_nkeys(p), 1);
	ck_assert_uint_eq(ft_policy_max_entry(p), 65535);
	ft_policy_describe(p, d, sizeof d);
	ck_assert_str_eq(d, "1 key (0 build, 1 release, 0 distribution, 0 "
			    "revocation), release threshold 1, max entry "
			    "65535 bytes, max signatures 4");
	ft_policy_unref(p);
	free(j);

	/* Trailing white space is not trailing bytes. */
	char *base = pol1("", "");
	j = tu_strf("%s \n", base);
	p = parse_ok(j);
	ft_policy_unref(p);
	free(j);
	free(base);
}
END_TEST

START_TEST(test_parse_full)
{
	char *j = tu_strf(
		"{\"ftlog_policy\":1,\"max_entry_bytes\":1000,"
		"\"max_signatures\":16,\"release_threshold\":1,"
		"\"release_thresholds\":[{\"products\":\"gnb-*\","
		"\"threshold\":2},{\"threshold\":1,\"products\":\"upf\"}],"
		"\"keys\":["
		"{\"key\":\"%s\",\"kinds\":[\"release\"],\"products\":"
		"[\"gnb-*\",\"upf\"]},"
		"{\"key\":\"%s\",\"kinds\":[\"release\",\"revocation\"],"
		"\"products\":[\"gnb-??\"]},"
		"{\"key\":\"%s\",\"kinds\":[\"build\"]},"
		"{\"key\":\"%s\",\"kinds\":[\"distribution\"],\"products\":"
		"[\"*\"]},"
		"{\"key\":\"%s\",\"kinds\":[\"revocation\"]}]}",
		VS[K_REL_A], VS[K_REL_B], VS[K_BUILD], VS[K_DIST],
		VS[K_REVOKE]);
	ft_policy *p = parse_ok(j);
	char d[512];

	ck_assert_uint_eq(ft_policy_nkeys(p), 5);
	ck_assert_uint_eq(ft_policy_max_entry(p), 1000);
	ft_policy_describe(p, d, sizeof d);
	ck_assert_str_eq(d, "5 keys (1 build, 2 release, 1 distribution, 2 "
			    "revocation), release threshold 1 (gnb-*: 2, "
			    "upf: 1), max entry 1000 bytes, max signatures "
			    "16");
	/* Cut short, still NUL-terminated. */
	ft_policy_describe(p, d, 10);
	ck_assert_str_eq(d, "5 keys (1");
	ft_policy_describe(p, d, 1);
	ck_assert_str_eq(d, "");
	ft_policy_unref(p);
	free(j);
}
END_TEST

START_TEST(test_describe_warnings)
{
	/* Threshold 2 for upf, but only rel-a may release upf; threshold 3
	 * for gnb-* with two keys; the default 5 exceeds max_signatures. */
	char *j = tu_strf(
		"{\"ftlog_policy\":1,\"max_signatures\":4,"
		"\"release_threshold\":5,"
		"\"release_thresholds\":[{\"products\":\"gnb-*\","
		"\"threshold\":2},{\"products\":\"upf\",\"threshold\":2},"
		"{\"products\":\"gnb-d?\",\"threshold\":3}],"
		"\"keys\":["
		"{\"key\":\"%s\",\"kinds\":[\"release\"],\"products\":"
		"[\"gnb-du\",\"upf\"]},"
		"{\"key\":\"%s\",\"kinds\":[\"release\"],\"products\":"
		"[\"gnb-*\"]}]}",
		VS[K_REL_A], VS[K_REL_B]);
	ft_policy *p = parse_ok(j);
	char d[1024];

	ft_policy_describe(p, d, sizeof d);
	ck_assert_msg(strstr(d, "gnb-*") != NULL, "%s", d);
	ck_assert_msg(strstr(d, "; warning: releases can never be logged "
				"(release threshold 5, 2 release keys, max "
				"signatures 4)") != NULL,
		      "%s", d);
	ck_assert_msg(strstr(d, "\"upf\" can never be released (threshold "
				"2, 1 release keys") != NULL,
		      "%s", d);
	ck_assert_msg(strstr(d, "\"gnb-d?\" can never be released "
				"(threshold 3, 2 release keys") != NULL,
		      "%s", d);
	ck_assert_msg(strstr(d, "\"gnb-*\" can never") == NULL, "%s", d);

	/* No release keys at all: no warning for the default. */
	free(j);
	ft_policy_unref(p);
	j = tu_strf("{\"ftlog_policy\":1,\"release_threshold\":3,\"keys\":"
		    "[{\"key\":\"%s\",\"kinds\":[\"build\"]}]}",
		    VS[K_BUILD]);
	p = parse_ok(j);
	ft_policy_describe(p, d, sizeof d);
	ck_assert_msg(strstr(d, "warning") == NULL, "%s", d);
	ck_assert_ptr_null(strchr(d, '\n'));
	ft_policy_unref(p);
	free(j);
}
END_TEST

START_TEST(test_parse_json_errors)
{
	parse_bad("", "json:");
	parse_bad("{", "json:");
	parse_bad("not json", "json:");
	parse_bad("{\"ftlog_policy\":1} x", "json:");
	parse_bad("{\"ftlog_policy\":1}{}", "json:");
	parse_bad("{\"ftlog_policy\":1,\"ftlog_policy\":1}", "duplicate");
	parse_bad("{\"ftlog_policy\":1,\"keys\":[],\"x\":\"a\\u0000b\"}",
		  "json:");
	parse_bad("[]", "policy: must be a JSON object");
	parse_bad("\"x\"", "json:");
	parse_bad("{\"ftlog_policy\":1,\"max_entry_bytes\":"
		  "99999999999999999999999}",
		  "json:");

	/* Duplicate fields inside keys too. */
	char *j = tu_strf("{\"ftlog_policy\":1,\"keys\":[{\"key\":\"%s\","
			  "\"kinds\":[\"build\"],\"kinds\":[\"build\"]}]}",
			  VS[K_BUILD]);
	parse_bad(j, "duplicate");
	free(j);

	/* Bytes that are not UTF-8 never reach the reason. */
	ft_policy *p = NULL;
	char err[256];
	const uint8_t bad[] = "{\"ftlog_policy\":1,\"\xff\xfe\":1}";
	ck_assert_int_eq(ft_policy_parse(bad, sizeof bad - 1, &p, err,
					 sizeof err),
			 FT_ECONFIG);
	for (const char *c = err; *c; c++) {
		ck_assert((unsigned char)*c >= 0x20);
	}
}
END_TEST

START_TEST(test_parse_version_and_fields)
{
	char *j;

	parse_bad("{}", "ftlog_policy: missing");
	parse_bad("{\"keys\":[]}", "ftlog_policy: missing");
	parse_bad("{\"ftlog_policy\":2}", "ftlog_policy: must be 1");
	parse_bad("{\"ftlog_policy\":\"1\"}", "ftlog_policy: must be 1");
	parse_bad("{\"ftlog_policy\":1.0}", "ftlog_policy: must be 1");
	parse_bad("{\"ftlog_policy\":true}", "ftlog_policy: must be 1");
	parse_bad("{\"ftlog_policy\":1}", "keys: missing");
	bad1(",\"colour\":1", "", "unknown field \"colour\"");
	bad1(",\"Keys\":1", "", "unknown field \"Keys\"");

	/* A long unknown field name is cut in the reason. */
	char longname[300];
	memset(longname, 'z', sizeof longname - 1);
	longname[sizeof longname - 1] = '\0';
	char *f = tu_strf(",\"%s\":1", longname);
	j = pol1(f, "");
	{
		ft_policy *p = NULL;
		char err[512];

		ck_assert_int_eq(ft_policy_parse((const uint8_t *)j,
						 strlen(j), &p, err,
						 sizeof err),
				 FT_ECONFIG);
		ck_assert_msg(strstr(err, "...\"") != NULL, "%s", err);
		ck_assert_uint_lt(strlen(err), 100);
	}
	free(j);
	free(f);

	/* A tiny reason buffer: cut, NUL-terminated. */
	{
		ft_policy *p = NULL;
		char err[8];

		ck_assert_int_eq(ft_policy_parse((const uint8_t *)"{}", 2, &p,
						 err, sizeof err),
				 FT_ECONFIG);
		ck_assert_str_eq(err, "ftlog_p");
		ck_assert_int_eq(ft_policy_parse((const uint8_t *)"{}", 2, &p,
						 NULL, 0),
				 FT_ECONFIG);
	}
}
END_TEST

START_TEST(test_parse_limits)
{
	bad1(",\"max_entry_bytes\":0", "", "max_entry_bytes: 0 is out of "
					   "range 1..65535");
	bad1(",\"max_entry_bytes\":65536", "", "max_entry_bytes: 65536 is "
					       "out of range");
	bad1(",\"max_entry_bytes\":-1", "", "max_entry_bytes: -1 is out of "
					    "range");
	bad1(",\"max_entry_bytes\":100.0", "", "max_entry_bytes: must be an "
					       "integer");
	bad1(",\"max_entry_bytes\":1e3", "", "max_entry_bytes: must be an "
					     "integer");
	bad1(",\"max_entry_bytes\":\"100\"", "", "max_entry_bytes: must be "
						 "an integer");
	bad1(",\"max_entry_bytes\":true", "", "max_entry_bytes: must be an "
					      "integer");
	bad1(",\"max_entry_bytes\":null", "", "max_entry_bytes: must be an "
					      "integer");
	bad1(",\"max_signatures\":0", "", "max_signatures: 0 is out of range "
					  "1..16");
	bad1(",\"max_signatures\":17", "", "max_signatures: 17 is out of "
					   "range 1..16");
	bad1(",\"release_threshold\":0", "", "release_threshold: 0 is out "
					     "of range 1..256");
	bad1(",\"release_threshold\":257", "", "release_threshold: 257 is "
					       "out of range");
	bad1(",\"release_threshold\":-3", "", "release_threshold: -3");

	/* The edges are fine. */
	char *j = pol1(",\"max_entry_bytes\":1,\"max_signatures\":1,"
		       "\"release_threshold\":256",
		       "");
	ft_policy *p = parse_ok(j);
	ck_assert_uint_eq(ft_policy_max_entry(p), 1);
	ft_policy_unref(p);
	free(j);
}
END_TEST

START_TEST(test_parse_keys)
{
	char *j;

	parse_bad("{\"ftlog_policy\":1,\"keys\":[]}", "keys: must be an "
						   "array of 1..256 keys");
	parse_bad("{\"ftlog_policy\":1,\"keys\":{}}", "keys: must be an "
						   "array");
	parse_bad("{\"ftlog_policy\":1,\"keys\":[1]}", "keys[0]: must be an "
						    "object");
	parse_bad("{\"ftlog_policy\":1,\"keys\":[{\"kinds\":[\"build\"]}]}",
		  "keys[0].key: missing");
	parse_bad("{\"ftlog_policy\":1,\"keys\":[{\"key\":1,"
		  "\"kinds\":[\"build\"]}]}",
		  "keys[0].key: must be a string");
	parse_bad("{\"ftlog_policy\":1,\"keys\":[{\"key\":\"nope\","
		  "\"kinds\":[\"build\"]}]}",
		  "keys[0].key: invalid verifier key");
	bad1("", ",\"name\":\"x\"", "keys[0]: unknown field \"name\"");

	/* A cosignature key is not an Ed25519 signing key. */
	j = tu_strf("{\"ftlog_policy\":1,\"keys\":[{\"key\":\"%s\","
		    "\"kinds\":[\"build\"]}]}",
		    VS[K_COSIG]);
	parse_bad(j, "keys[0].key: not an Ed25519 key (type 0x04)");
	free(j);

	/* A key string with a wrong key id. */
	j = tu_strf("{\"ftlog_policy\":1,\"keys\":[{\"key\":\"%s\","
		    "\"kinds\":[\"build\"]}]}",
		    VS[K_BUILD]);
	char *plus = strchr(j, '+');
	plus[1] = plus[1] == '0' ? '1' : '0';
	parse_bad(j, "keys[0].key: invalid verifier key");
	free(j);

	/* kinds. */
	bad1("", ",\"kinds\":[]", "duplicate");
	j = tu_strf("{\"ftlog_policy\":1,\"keys\":[{\"key\":\"%s\"}]}",
		    VS[K_BUILD]);
	parse_bad(j, "keys[0].kinds: missing");
	free(j);
	j = tu_strf("{\"ftlog_policy\":1,\"keys\":[{\"key\":\"%s\","
		    "\"kinds\":[]}]}",
		    VS[K_BUILD]);
	parse_bad(j, "keys[0].kinds: must be a non-empty array");
	free(j);
	j = tu_strf("{\"ftlog_policy\":1,\"keys\":[{\"key\":\"%s\","
		    "\"kinds\":\"build\"}]}",
		    VS[K_BUILD]);
	parse_bad(j, "keys[0].kinds: must be a non-empty array");
	free(j);
	j = tu_strf("{\"ftlog_policy\":1,\"keys\":[{\"key\":\"%s\","
		    "\"kinds\":[\"build\",2]}]}",
		    VS[K_BUILD]);
	parse_bad(j, "keys[0].kinds[1]: must be a string");
	free(j);
	j = tu_strf("{\"ftlog_policy\":1,\"keys\":[{\"key\":\"%s\","
		    "\"kinds\":[\"build\",\"Build\"]}]}",
		    VS[K_BUILD]);
	parse_bad(j, "keys[0].kinds[1]: unknown kind \"Build\"");
	free(j);
	j = tu_strf("{\"ftlog_policy\":1,\"keys\":[{\"key\":\"%s\","
		    "\"kinds\":[\"build\",\"build\"]}]}",
		    VS[K_BUILD]);
	parse_bad(j, "keys[0].kinds[1]: duplicate kind \"build\"");
	free(j);

	/* The example of policy.h, at index 2. */
	j = tu_strf("{\"ftlog_policy\":1,\"keys\":["
		    "{\"key\":\"%s\",\"kinds\":[\"release\"]},"
		    "{\"key\":\"%s\",\"kinds\":[\"release\"]},"
		    "{\"key\":\"%s\",\"kinds\":[\"relase\"]}]}",
		    VS[K_REL_A], VS[K_REL_B], VS[K_REVOKE]);
	parse_bad(j, "keys[2].kinds[0]: unknown kind \"relase\"");
	{
		ft_policy *p = NULL;
		char err[256];

		ck_assert_int_eq(ft_policy_parse((const uint8_t *)j,
						 strlen(j), &p, err,
						 sizeof err),
				 FT_ECONFIG);
		ck_assert_str_eq(err,
				 "keys[2].kinds[0]: unknown kind \"relase\"");
	}
	free(j);

	/* Duplicate names (different public keys) and duplicate public
	 * keys (different names). */
	ft_skey other;
	ft_vkey ov;
	char os[FT_KEY_STR_MAX + 1];
	size_t n;

	make_key(key_names[K_REL_A], FT_KEY_ED25519, 0x99, &other);
	ft_skey_public(&other, &ov);
	ck_assert_int_eq(ft_vkey_format(&ov, os, sizeof os, &n), 0);
	j = tu_strf("{\"ftlog_policy\":1,\"keys\":["
		    "{\"key\":\"%s\",\"kinds\":[\"release\"]},"
		    "{\"key\":\"%s\",\"kinds\":[\"build\"]},"
		    "{\"key\":\"%s\",\"kinds\":[\"build\"]}]}",
		    VS[K_REL_A], VS[K_BUILD], os);
	parse_bad(j, "keys[2].key: duplicate key name "
		     "\"vendor.example/rel-a\" (also keys[0])");
	free(j);

	make_key("another/name", FT_KEY_ED25519, 0x11 * (K_BUILD + 1), &other);
	ft_skey_public(&other, &ov);
	ck_assert_int_eq(memcmp(ov.pk, VK[K_BUILD].pk, 32), 0);
	ck_assert_int_eq(ft_vkey_format(&ov, os, sizeof os, &n), 0);
	j = tu_strf("{\"ftlog_policy\":1,\"keys\":["
		    "{\"key\":\"%s\",\"kinds\":[\"build\"]},"
		    "{\"key\":\"%s\",\"kinds\":[\"build\"]}]}",
		    VS[K_BUILD], os);
	parse_bad(j, "keys[1].key: duplicate public key (also keys[0])");
	free(j);
	ft_skey_wipe(&other);
}
END_TEST

START_TEST(test_parse_too_many_keys)
{
	/* 257 keys: refused before any is parsed further than needed. */
	size_t cap = 300 * 200, o = 0;
	char *j = malloc(cap);

	ck_assert_ptr_nonnull(j);
	o += (size_t)snprintf(j + o, cap - o, "{\"ftlog_policy\":1,\"keys\":[");
	for (int i = 0; i < 257; i++) {
		o += (size_t)snprintf(j + o, cap - o,
				      "%s{\"key\":\"%s\",\"kinds\":[\"build\"]}",
				      i ? "," : "", VS[K_BUILD]);
	}
	o += (size_t)snprintf(j + o, cap - o, "]}");
	ck_assert_uint_lt(o, cap);
	parse_bad(j, "keys: must be an array of 1..256 keys");
	free(j);

	/* 256 distinct keys are fine. */
	size_t cap2 = 256 * 250, o2 = 0;
	char *k = malloc(cap2);
	ck_assert_ptr_nonnull(k);
	o2 += (size_t)snprintf(k + o2, cap2 - o2,
			       "{\"ftlog_policy\":1,\"keys\":[");
	for (int i = 0; i < 256; i++) {
		ft_skey s;
		ft_vkey v;
		char name[32], vs[FT_KEY_STR_MAX + 1];
		uint8_t seed[32] = {0};
		size_t n;

		snprintf(name, sizeof name, "k%d", i);
		seed[0] = (uint8_t)i;
		seed[1] = 0x5a;
		ck_assert_int_eq(ft_key_from_seed(name, strlen(name),
						  FT_KEY_ED25519, seed, &s),
				 0);
		ft_skey_public(&s, &v);
		ck_assert_int_eq(ft_vkey_format(&v, vs, sizeof vs, &n), 0);
		o2 += (size_t)snprintf(
			k + o2, cap2 - o2,
			"%s{\"key\":\"%s\",\"kinds\":[\"build\"]}",
			i ? "," : "", vs);
	}
	o2 += (size_t)snprintf(k + o2, cap2 - o2, "]}");
	ck_assert_uint_lt(o2, cap2);
	ft_policy *p = parse_ok(k);
	ck_assert_uint_eq(ft_policy_nkeys(p), 256);
	ft_policy_unref(p);
	free(k);
}
END_TEST

START_TEST(test_parse_products)
{
	bad1("", ",\"products\":[]", "keys[0].products: must be an array of "
				     "1..64 patterns");
	bad1("", ",\"products\":\"*\"", "keys[0].products: must be an array");
	bad1("", ",\"products\":[\"gnb\",1]", "keys[0].products[1]: must be "
					      "a string");
	bad1("", ",\"products\":[\"\"]", "keys[0].products[0]: pattern must "
					 "be 1..256 bytes");
	bad1("", ",\"products\":[\"gnb/du\"]", "keys[0].products[0]: pattern "
					       "\"gnb/du\" may only hold");
	bad1("", ",\"products\":[\"gnb[du]\"]", "keys[0].products[0]: "
						"pattern");
	bad1("", ",\"products\":[\"gnb du\"]", "keys[0].products[0]: "
					       "pattern");
	bad1("", ",\"products\":[\"gn\\\\b\"]", "keys[0].products[0]: "
						"pattern");
	bad1("", ",\"products\":[\"gnb\\u00e9\"]", "keys[0].products[0]: "
						   "pattern");
	bad1("", ",\"products\":[\"a\",\"b\",\"a\"]", "keys[0].products[2]: "
						      "duplicate pattern "
						      "\"a\"");

	char pat[300];
	memset(pat, 'p', 257);
	pat[257] = '\0';
	char *k = tu_strf(",\"products\":[\"%s\"]", pat);
	bad1("", k, "keys[0].products[0]: pattern must be 1..256 bytes");
	free(k);
	pat[256] = '\0';
	k = tu_strf(",\"products\":[\"%s\",\"A-Z.a_z-0?9*\"]", pat);
	char *j = pol1("", k);
	ft_policy_unref(parse_ok(j));
	free(j);
	free(k);

	/* 65 patterns. */
	size_t o = 0;
	char many[65 * 8 + 32];
	o += (size_t)snprintf(many + o, sizeof many - o, ",\"products\":[");
	for (int i = 0; i < 65; i++) {
		o += (size_t)snprintf(many + o, sizeof many - o, "%s\"p%d\"",
				      i ? "," : "", i);
	}
	snprintf(many + o, sizeof many - o, "]");
	bad1("", many, "keys[0].products: must be an array of 1..64");
}
END_TEST

START_TEST(test_parse_thresholds)
{
	bad1(",\"release_thresholds\":{}", "", "release_thresholds: must be "
					       "an array");
	bad1(",\"release_thresholds\":[1]", "", "release_thresholds[0]: must "
						"be an object");
	bad1(",\"release_thresholds\":[{\"threshold\":2}]", "",
	     "release_thresholds[0].products: missing");
	bad1(",\"release_thresholds\":[{\"products\":\"x\"}]", "",
	     "release_thresholds[0].threshold: missing");
	bad1(",\"release_thresholds\":[{\"products\":\"x\",\"threshold\":0}]",
	     "", "release_thresholds[0].threshold: 0 is out of range 1..256");
	bad1(",\"release_thresholds\":[{\"products\":\"x\",\"threshold\":"
	     "2.5}]",
	     "", "release_thresholds[0].threshold: must be an integer");
	bad1(",\"release_thresholds\":[{\"products\":[\"x\"],\"threshold\":"
	     "2}]",
	     "", "release_thresholds[0].products: must be a string");
	bad1(",\"release_thresholds\":[{\"products\":\"x!\",\"threshold\":"
	     "2}]",
	     "", "release_thresholds[0].products: pattern \"x!\"");
	bad1(",\"release_thresholds\":[{\"products\":\"x\",\"threshold\":2,"
	     "\"vendor\":\"y\"}]",
	     "", "release_thresholds[0]: unknown field \"vendor\"");
	bad1(",\"release_thresholds\":[{\"products\":\"x\",\"threshold\":2},"
	     "{\"products\":\"x\",\"threshold\":3}]",
	     "", "release_thresholds[1].products: duplicate pattern \"x\"");

	/* An empty list is the same as none. */
	char *j = pol1(",\"release_thresholds\":[]", "");
	ft_policy_unref(parse_ok(j));
	free(j);
}
END_TEST

/* ---- Loading files. */

static char *g_dir;

static void dir_setup(void)
{
	keys_setup();
	g_dir = tu_tmpdir();
}

static void dir_teardown(void)
{
	tu_rmtree(g_dir);
	free(g_dir);
}

START_TEST(test_load)
{
	char *path = tu_strf("%s/policy.json", g_dir);
	char *j = pol1("", "");
	ft_policy *p = NULL;
	char err[512];

	ck_assert_int_eq(tu_write_file(path, j, strlen(j)), 0);
	ck_assert_int_eq(ft_policy_load(path, &p, err, sizeof err), 0);
	ck_assert_uint_eq(ft_policy_nkeys(p), 1);
	ft_policy_unref(p);

	/* Missing. */
	char *missing = tu_strf("%s/nope.json", g_dir);
	p = NULL;
	ck_assert_int_eq(ft_policy_load(missing, &p, err, sizeof err),
			 FT_EIO);
	ck_assert_ptr_null(p);
	ck_assert_msg(strstr(err, missing) == err, "%s", err);
	ck_assert_msg(strstr(err, "cannot open") != NULL, "%s", err);

	/* A directory. */
	ck_assert_int_ne(ft_policy_load(g_dir, &p, err, sizeof err), 0);
	ck_assert_msg(strstr(err, "not a regular file") != NULL, "%s", err);

	/* A FIFO is refused without blocking. */
	char *fifo = tu_strf("%s/fifo", g_dir);
	ck_assert_int_eq(mkfifo(fifo, 0600), 0);
	ck_assert_int_ne(ft_policy_load(fifo, &p, err, sizeof err), 0);
	ck_assert_msg(strstr(err, "not a regular file") != NULL, "%s", err);
	unlink(fifo);

	/* Invalid content: the path, then the parser's reason. */
	const char *badj = "{\"ftlog_policy\":1,\"keys\":[],\"x\":1}";
	ck_assert_int_eq(tu_write_file(path, badj, strlen(badj)), 0);
	ck_assert_int_eq(ft_policy_load(path, &p, err, sizeof err),
			 FT_ECONFIG);
	char *want = tu_strf("%s: unknown field \"x\"", path);
	ck_assert_str_eq(err, want);
	free(want);

	/* Too large (sparse): refused before reading. */
	int fd = open(path, O_WRONLY | O_TRUNC);
	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(ftruncate(fd, FT_POLICY_FILE_MAX + 1), 0);
	close(fd);
	ck_assert_int_ne(ft_policy_load(path, &p, err, sizeof err), 0);
	ck_assert_msg(strstr(err, "larger than 1048576 bytes") != NULL, "%s",
		      err);

	/* Exactly the limit is read (and then fails as JSON: NUL bytes). */
	fd = open(path, O_WRONLY | O_TRUNC);
	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(ftruncate(fd, FT_POLICY_FILE_MAX), 0);
	close(fd);
	ck_assert_int_eq(ft_policy_load(path, &p, err, sizeof err),
			 FT_ECONFIG);
	ck_assert_msg(strstr(err, "json:") != NULL, "%s", err);

	free(fifo);
	free(missing);
	free(path);
	free(j);
}
END_TEST

/* ---- Reference counting. */

START_TEST(test_refcount)
{
	char *j = pol1("", "");
	ft_policy *p = parse_ok(j);

	ck_assert_ptr_eq(ft_policy_ref(p), p);
	ck_assert_ptr_eq(ft_policy_ref(p), p);
	ft_policy_unref(p);
	ft_policy_unref(p);
	ck_assert_uint_eq(ft_policy_nkeys(p), 1); /* still alive */
	ft_policy_unref(p);                       /* freed (ASan: no leak) */
	ft_policy_unref(NULL);
	ck_assert_ptr_null(ft_policy_ref(NULL));
	free(j);
}
END_TEST

static void *ref_worker(void *arg)
{
	ft_policy *p = arg;

	for (int i = 0; i < 20000; i++) {
		ft_policy *q = ft_policy_ref(p);

		if (ft_policy_nkeys(q) != 1) {
			abort();
		}
		ft_policy_unref(q);
	}
	ft_policy_unref(p); /* the reference it was given */
	return NULL;
}

START_TEST(test_refcount_threads)
{
	char *j = pol1("", "");
	ft_policy *p = parse_ok(j);
	pthread_t t[4];

	for (int i = 0; i < 4; i++) {
		ck_assert_int_eq(pthread_create(&t[i], NULL, ref_worker,
						ft_policy_ref(p)),
				 0);
	}
	ft_policy_unref(p); /* the workers hold the last references */
	for (int i = 0; i < 4; i++) {
		ck_assert_int_eq(pthread_join(t[i], NULL), 0);
	}
	free(j);
}
END_TEST

/* ---- Checking entries. */

/* The policy the check tests use: a vendor with two release keys
 * (threshold 2 for gnb-*, 1 otherwise), a builder, a distributor for
 * gnb-du / gnb-?u / upf*, and a revocation key for every product. */
static char *check_policy_json(const char *extra)
{
	return tu_strf(
		"{\"ftlog_policy\":1%s,"
		"\"release_thresholds\":[{\"products\":\"gnb-*\","
		"\"threshold\":2}],"
		"\"keys\":["
		"{\"key\":\"%s\",\"kinds\":[\"release\"],\"products\":"
		"[\"gnb-*\",\"upf\"]},"
		"{\"key\":\"%s\",\"kinds\":[\"release\",\"revocation\"],"
		"\"products\":[\"gnb-*\"]},"
		"{\"key\":\"%s\",\"kinds\":[\"build\"],\"products\":[\"x\"]},"
		"{\"key\":\"%s\",\"kinds\":[\"distribution\"],\"products\":"
		"[\"gnb-?u\",\"upf*\"]},"
		"{\"key\":\"%s\",\"kinds\":[\"revocation\"]}]}",
		extra, VS[K_REL_A], VS[K_REL_B], VS[K_BUILD], VS[K_DIST],
		VS[K_REVOKE]);
}

static ft_policy *check_policy(const char *extra)
{
	char *j = check_policy_json(extra);
	ft_policy *p = parse_ok(j);

	free(j);
	return p;
}

#define PRED_BUILD                                                            \
	"{\"buildDefinition\":{\"buildType\":\"https://ci.example/type/v1\","  \
	"\"externalParameters\":{\"ref\":\"v1\"}},\"runDetails\":{\"builder\":" \
	"{\"id\":\"https://ci.example/runner\"}}}"
#define PRED_RELEASE(product)                                                 \
	"{\"product\":\"" product "\",\"vendor\":\"Example\",\"version\":"     \
	"\"4.2.0\",\"security_version\":7,\"hardware_models\":[\"hw-a\","      \
	"\"hw-b\"]}"

typedef struct {
	char *data;
	size_t len;
} entry;

/* A statement about nsub subjects (sha256 = fill, fill+1, ...) or, with
 * key != NULL, about that key (a key revocation). */
static char *make_statement(int kind, const char *pred, size_t nsub,
			    uint8_t fill, const ft_vkey *key, size_t *len)
{
	ft_event_subject subj[4];
	char reason[256];
	char *out = NULL;

	ck_assert_uint_le(nsub, 4);
	memset(subj, 0, sizeof subj);
	for (size_t i = 0; i < nsub; i++) {
		subj[i].name = i == 0 ? "image.bin" : NULL;
		memset(subj[i].sha256, fill + (int)i, 32);
	}
	if (key != NULL) {
		ft_event_key_digest(key, subj[0].sha256);
		subj[0].name = NULL;
		nsub = 1;
	}
	int rc = ft_event_statement(kind, subj, nsub, pred, strlen(pred), &out,
				    len, reason, sizeof reason);
	ck_assert_msg(rc == 0, "statement: %d %s", rc, reason);
	return out;
}

static entry sign_with(const char *stmt, size_t slen, const int *keys,
		       size_t n)
{
	ft_skey sk[FT_EVENT_MAX_SIGS];
	entry e;

	ck_assert_uint_le(n, FT_EVENT_MAX_SIGS);
	for (size_t i = 0; i < n; i++) {
		sk[i] = SK[keys[i]];
	}
	ck_assert_int_eq(ft_event_sign((const uint8_t *)stmt, slen, sk, n,
				       &e.data, &e.len),
			 0);
	return e;
}

static entry make_entry(int kind, const char *pred, const int *keys,
			size_t n)
{
	size_t slen;
	char *s = make_statement(kind, pred, 2, 0xa0, NULL, &slen);
	entry e = sign_with(s, slen, keys, n);

	free(s);
	return e;
}

static int check(const ft_policy *p, const entry *e, ft_store_meta **m,
		 char *reason, size_t cap)
{
	*m = NULL;
	return ft_policy_check(p, (const uint8_t *)e->data, e->len, m, reason,
			       cap);
}

/* The check must fail with code and a reason starting with "<rule>: ". */
static void check_bad(const ft_policy *p, const entry *e, int code,
		      const char *rule)
{
	ft_store_meta *m = (ft_store_meta *)(uintptr_t)0x1;
	char reason[512] = "";
	char want[64];

	int rc = ft_policy_check(p, (const uint8_t *)e->data, e->len, &m,
				 reason, sizeof reason);
	snprintf(want, sizeof want, "%s: ", rule);
	ck_assert_msg(rc == code, "rc %d (%s), want %d; reason %s", rc,
		      ft_errname(rc), code, reason);
	ck_assert_msg(strncmp(reason, want, strlen(want)) == 0,
		      "reason \"%s\" is not rule \"%s\"", reason, rule);
	ck_assert_ptr_null(strchr(reason, '\n'));
	ck_assert_uint_lt(strlen(reason), 200);
	ck_assert_ptr_null(m);
}

static ft_store_meta *check_ok(const ft_policy *p, const entry *e)
{
	ft_store_meta *m = NULL;
	char reason[512] = "unset";

	int rc = check(p, e, &m, reason, sizeof reason);
	ck_assert_msg(rc == 0, "rc %d (%s): %s", rc, ft_errname(rc), reason);
	ck_assert_ptr_nonnull(m);
	return m;
}

/* The record parsed back; its "kind" and "signers" checked. */
static json_t *record(const ft_store_meta *m, const char *kind,
		      const char *const *signers, size_t n)
{
	json_error_t jerr;
	json_t *r = json_loadb(m->record, m->record_len,
			       JSON_REJECT_DUPLICATES, &jerr);

	ck_assert_msg(r != NULL, "record: %s: %.*s", jerr.text,
		      (int)m->record_len, m->record);
	ck_assert(json_is_object(r));
	ck_assert_str_eq(json_string_value(json_object_get(r, "kind")), kind);
	json_t *s = json_object_get(r, "signers");
	ck_assert(json_is_array(s));
	ck_assert_uint_eq(json_array_size(s), n);
	for (size_t i = 0; i < n; i++) {
		ck_assert_str_eq(json_string_value(json_array_get(s, i)),
				 signers[i]);
	}
	/* signer_keyids: "<name>+<8 hex>", in the same order. */
	json_t *ids = json_object_get(r, "signer_keyids");
	ck_assert(json_is_array(ids));
	ck_assert_uint_eq(json_array_size(ids), n);
	for (size_t i = 0; i < n; i++) {
		const char *id = json_string_value(json_array_get(ids, i));
		size_t nl = strlen(signers[i]);

		ck_assert_ptr_nonnull(id);
		ck_assert_uint_eq(strlen(id), nl + 9);
		ck_assert_int_eq(memcmp(id, signers[i], nl), 0);
		ck_assert_int_eq(id[nl], '+');
		ck_assert_uint_eq(strspn(id + nl + 1, "0123456789abcdef"), 8);
	}
	/* Compact, one line, bounded. */
	ck_assert_ptr_null(memchr(m->record, '\n', m->record_len));
	ck_assert_uint_lt(m->record_len, 8192);
	return r;
}

static const char *jstr(json_t *o, const char *k)
{
	json_t *v = json_object_get(o, k);

	ck_assert_msg(json_is_string(v), "record field %s", k);
	return json_string_value(v);
}

static void assert_subjects(const ft_store_meta *m, size_t n, uint8_t fill)
{
	uint8_t want[32];

	ck_assert_uint_eq(m->n_subjects, n);
	for (size_t i = 0; i < n; i++) {
		memset(want, fill + (int)i, 32);
		ck_assert_int_eq(memcmp(m->subjects[i], want, 32), 0);
	}
}

START_TEST(test_check_build)
{
	ft_policy *p = check_policy("");
	const int keys[] = {K_BUILD};
	entry e = make_entry(FT_EVENT_BUILD, PRED_BUILD, keys, 1);
	ft_store_meta *m = check_ok(p, &e);
	const char *names[] = {key_names[K_BUILD]};

	ck_assert_int_eq(m->kind, FT_EVENT_BUILD);
	ck_assert_int_eq(m->revoke, FT_REVOKE_NONE);
	assert_subjects(m, 2, 0xa0);
	ck_assert_uint_eq(m->n_signers, 1);
	ck_assert_int_eq(memcmp(m->signers[0], VK[K_BUILD].pk, 32), 0);
	json_t *r = record(m, "build", names, 1);
	ck_assert_str_eq(jstr(r, "build_type"), "https://ci.example/type/v1");
	ck_assert_str_eq(jstr(r, "builder_id"), "https://ci.example/runner");
	ck_assert_uint_eq(json_object_size(r), 5);
	json_decref(r);
	/* The exact text: compact, keys in a fixed order. */
	char kid[FT_EVENT_KEYID_MAX + 1], want[1024];

	ck_assert_int_eq(ft_event_keyid(&VK[K_BUILD], kid, sizeof(kid)), 0);
	(void)snprintf(want, sizeof(want),
		       "{\"kind\":\"build\",\"signers\":[\"ci.example/"
		       "builder\"],\"signer_keyids\":[\"%s\"],\"build_type\":"
		       "\"https://ci.example/type/v1\",\"builder_id\":\"https:"
		       "//ci.example/runner\"}",
		       kid);
	ck_assert_uint_eq(m->record_len, strlen(want));
	ck_assert_int_eq(memcmp(m->record, want, m->record_len), 0);
	free(m);

	/* A NULL reason buffer is fine. */
	m = NULL;
	ck_assert_int_eq(ft_policy_check(p, (const uint8_t *)e.data, e.len,
					 &m, NULL, 0),
			 0);
	free(m);
	free(e.data);
	ft_policy_unref(p);
}
END_TEST

START_TEST(test_check_release)
{
	ft_policy *p = check_policy("");
	const int both[] = {K_REL_B, K_REL_A};
	const char *pred =
		"{\"product\":\"gnb-du\",\"vendor\":\"Example\",\"version\":"
		"\"4.2.0 (LTS)\",\"security_version\":9007199254740991,"
		"\"hardware_models\":[\"hw-a\",\"hw-b\"],\"sbom_sha256\":"
		"\"0101010101010101010101010101010101010101010101010101010101"
		"010101\",\"build_index\":42,\"evidence\":{\"type\":\"scas\","
		"\"sha256\":\"0202020202020202020202020202020202020202020202"
		"020202020202020202\"}}";
	entry e = make_entry(FT_EVENT_RELEASE, pred, both, 2);
	ft_store_meta *m = check_ok(p, &e);
	const char *names[] = {key_names[K_REL_B], key_names[K_REL_A]};

	ck_assert_int_eq(m->kind, FT_EVENT_RELEASE);
	ck_assert_int_eq(m->revoke, FT_REVOKE_NONE);
	assert_subjects(m, 2, 0xa0);
	ck_assert_uint_eq(m->n_signers, 2);
	ck_assert_int_eq(memcmp(m->signers[0], VK[K_REL_B].pk, 32), 0);
	ck_assert_int_eq(memcmp(m->signers[1], VK[K_REL_A].pk, 32), 0);
	json_t *r = record(m, "release", names, 2);
	ck_assert_str_eq(jstr(r, "product"), "gnb-du");
	ck_assert_str_eq(jstr(r, "vendor"), "Example");
	ck_assert_str_eq(jstr(r, "version"), "4.2.0 (LTS)");
	ck_assert(json_integer_value(json_object_get(r, "security_version")) ==
		  9007199254740991LL);
	json_t *hw = json_object_get(r, "hardware_models");
	ck_assert_uint_eq(json_array_size(hw), 2);
	ck_assert_str_eq(json_string_value(json_array_get(hw, 1)), "hw-b");
	ck_assert_str_eq(jstr(r, "sbom_sha256"),
			 "0101010101010101010101010101010101010101010101010101"
			 "010101010101");
	ck_assert_int_eq(json_integer_value(json_object_get(r, "build_index")),
			 42);
	json_t *ev = json_object_get(r, "evidence");
	ck_assert_str_eq(jstr(ev, "type"), "scas");
	ck_assert_str_eq(jstr(ev, "sha256"),
			 "0202020202020202020202020202020202020202020202020202"
			 "020202020202");
	ck_assert_uint_eq(json_object_size(r), 11);
	json_decref(r);
	free(m);
	free(e.data);

	/* Without the optional references: none in the record. */
	const int a[] = {K_REL_A};
	e = make_entry(FT_EVENT_RELEASE, PRED_RELEASE("upf"), a, 1);
	m = check_ok(p, &e);
	r = record(m, "release", names + 1, 1);
	ck_assert_uint_eq(json_object_size(r), 8);
	ck_assert_ptr_null(json_object_get(r, "sbom_sha256"));
	ck_assert_ptr_null(json_object_get(r, "build_index"));
	ck_assert_ptr_null(json_object_get(r, "evidence"));
	json_decref(r);
	free(m);
	free(e.data);
	ft_policy_unref(p);
}
END_TEST

START_TEST(test_check_threshold)
{
	ft_policy *p = check_policy("");
	const int a[] = {K_REL_A}, b[] = {K_REL_B}, aa[] = {K_REL_A, K_REL_A},
		  ab[] = {K_REL_A, K_REL_B}, aab[] = {K_REL_A, K_REL_A, K_REL_B};
	entry e;

	/* 1 of 2 for gnb-*: refused, whichever key. */
	e = make_entry(FT_EVENT_RELEASE, PRED_RELEASE("gnb-du"), a, 1);
	check_bad(p, &e, FT_ETHRESHOLD, "threshold");
	free(e.data);
	e = make_entry(FT_EVENT_RELEASE, PRED_RELEASE("gnb-cu"), b, 1);
	check_bad(p, &e, FT_ETHRESHOLD, "threshold");
	free(e.data);

	/* The same key twice counts once. */
	e = make_entry(FT_EVENT_RELEASE, PRED_RELEASE("gnb-du"), aa, 2);
	check_bad(p, &e, FT_ETHRESHOLD, "threshold");
	{
		ft_store_meta *m;
		char reason[256];

		ck_assert_int_eq(check(p, &e, &m, reason, sizeof reason),
				 FT_ETHRESHOLD);
		ck_assert_str_eq(reason, "threshold: 1 distinct release key "
					 "signed, product \"gnb-du\" needs 2");
	}
	free(e.data);

	/* 2 of 2: accepted; a repeat of one of them changes nothing. */
	e = make_entry(FT_EVENT_RELEASE, PRED_RELEASE("gnb-du"), ab, 2);
	free(check_ok(p, &e));
	free(e.data);
	e = make_entry(FT_EVENT_RELEASE, PRED_RELEASE("gnb-du"), aab, 3);
	ft_store_meta *m = check_ok(p, &e);
	ck_assert_uint_eq(m->n_signers, 2);
	ck_assert_int_eq(memcmp(m->signers[0], VK[K_REL_A].pk, 32), 0);
	ck_assert_int_eq(memcmp(m->signers[1], VK[K_REL_B].pk, 32), 0);
	free(m);
	free(e.data);

	/* upf falls back to release_threshold 1; a repeated key too. */
	e = make_entry(FT_EVENT_RELEASE, PRED_RELEASE("upf"), aa, 2);
	m = check_ok(p, &e);
	ck_assert_uint_eq(m->n_signers, 1);
	free(m);
	free(e.data);
	ft_policy_unref(p);

	/* A default of 2 with overrides: the first matching one wins. */
	char *j = tu_strf(
		"{\"ftlog_policy\":1,\"release_threshold\":2,"
		"\"release_thresholds\":[{\"products\":\"gnb-du\","
		"\"threshold\":1},{\"products\":\"gnb-*\",\"threshold\":2},"
		"{\"products\":\"gnb-du\",\"threshold\":5}],"
		"\"keys\":[{\"key\":\"%s\",\"kinds\":[\"release\"]},"
		"{\"key\":\"%s\",\"kinds\":[\"release\"]}]}",
		VS[K_REL_A], VS[K_REL_B]);
	parse_bad(j, "duplicate pattern");
	free(j);
	j = tu_strf("{\"ftlog_policy\":1,\"release_threshold\":2,"
		    "\"release_thresholds\":[{\"products\":\"gnb-du\","
		    "\"threshold\":1},{\"products\":\"gnb-*\",\"threshold\":"
		    "3}],"
		    "\"keys\":[{\"key\":\"%s\",\"kinds\":[\"release\"]},"
		    "{\"key\":\"%s\",\"kinds\":[\"release\"]}]}",
		    VS[K_REL_A], VS[K_REL_B]);
	p = parse_ok(j);
	free(j);
	e = make_entry(FT_EVENT_RELEASE, PRED_RELEASE("gnb-du"), a, 1);
	free(check_ok(p, &e)); /* gnb-du: 1 */
	free(e.data);
	e = make_entry(FT_EVENT_RELEASE, PRED_RELEASE("gnb-cu"), ab, 2);
	check_bad(p, &e, FT_ETHRESHOLD, "threshold"); /* gnb-*: 3 */
	free(e.data);
	e = make_entry(FT_EVENT_RELEASE, PRED_RELEASE("upf"), a, 1);
	check_bad(p, &e, FT_ETHRESHOLD, "threshold"); /* default 2 */
	free(e.data);
	e = make_entry(FT_EVENT_RELEASE, PRED_RELEASE("upf"), ab, 2);
	free(check_ok(p, &e));
	free(e.data);
	ft_policy_unref(p);
}
END_TEST

START_TEST(test_check_distribution)
{
	ft_policy *p = check_policy("");
	const int d[] = {K_DIST};
	const char *names[] = {key_names[K_DIST]};
	entry e = make_entry(
		FT_EVENT_DISTRIBUTION,
		"{\"product\":\"gnb-du\",\"channel\":\"stable\",\"version\":"
		"\"4.2.0\",\"regions\":[\"eu-west\",\"us-east\"],"
		"\"network_slices\":[\"sst-1\"],\"uri\":"
		"\"https://cdn.example/gnb-du-4.2.0.bin\"}",
		d, 1);
	ft_store_meta *m = check_ok(p, &e);

	ck_assert_int_eq(m->kind, FT_EVENT_DISTRIBUTION);
	json_t *r = record(m, "distribution", names, 1);
	ck_assert_str_eq(jstr(r, "product"), "gnb-du");
	ck_assert_str_eq(jstr(r, "channel"), "stable");
	ck_assert_str_eq(jstr(r, "version"), "4.2.0");
	ck_assert_uint_eq(json_array_size(json_object_get(r, "regions")), 2);
	ck_assert_str_eq(json_string_value(json_array_get(
				 json_object_get(r, "network_slices"), 0)),
			 "sst-1");
	ck_assert_str_eq(jstr(r, "uri"), "https://cdn.example/gnb-du-4.2.0.bin");
	ck_assert_uint_eq(json_object_size(r), 9);
	json_decref(r);
	free(m);
	free(e.data);

	/* Only the required fields. */
	e = make_entry(FT_EVENT_DISTRIBUTION,
		       "{\"product\":\"upf-east\",\"channel\":\"beta\"}", d, 1);
	m = check_ok(p, &e);
	r = record(m, "distribution", names, 1);
	ck_assert_uint_eq(json_object_size(r), 5);
	json_decref(r);
	free(m);
	free(e.data);
	ft_policy_unref(p);
}
END_TEST

START_TEST(test_check_product)
{
	ft_policy *p = check_policy("");
	const int d[] = {K_DIST}, a[] = {K_REL_A}, ab[] = {K_REL_A, K_REL_B};
	entry e;

	/* Patterns "gnb-?u" and "upf*" of the distributor. */
	static const char *const ok[] = {"gnb-du", "gnb-cu", "gnb-xu", "upf",
					 "upf-east", "upf.2"};
	static const char *const bad[] = {"gnb-d", "gnb-dux", "gnb--du",
					  "xupf", "GNB-DU", "amf"};
	for (size_t i = 0; i < sizeof ok / sizeof ok[0]; i++) {
		char *pred = tu_strf("{\"product\":\"%s\",\"channel\":\"s\"}",
				     ok[i]);
		e = make_entry(FT_EVENT_DISTRIBUTION, pred, d, 1);
		free(check_ok(p, &e));
		free(e.data);
		free(pred);
	}
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		char *pred = tu_strf("{\"product\":\"%s\",\"channel\":\"s\"}",
				     bad[i]);
		e = make_entry(FT_EVENT_DISTRIBUTION, pred, d, 1);
		check_bad(p, &e, FT_EUNAUTHORIZED, "product");
		free(e.data);
		free(pred);
	}

	/* rel-a may release upf, rel-b may not: with both signing, rel-b
	 * is refused though the threshold (1) would be met. */
	e = make_entry(FT_EVENT_RELEASE, PRED_RELEASE("upf"), ab, 2);
	check_bad(p, &e, FT_EUNAUTHORIZED, "product");
	{
		ft_store_meta *m;
		char reason[256];

		ck_assert_int_eq(check(p, &e, &m, reason, sizeof reason),
				 FT_EUNAUTHORIZED);
		ck_assert_str_eq(reason, "product: key \"vendor.example/rel-b\" "
					 "may not sign for product \"upf\"");
	}
	free(e.data);

	/* A refused product is quoted, cut to 40 bytes. */
	char longp[201];
	memset(longp, 'q', 200);
	longp[200] = '\0';
	char *pred = tu_strf("{\"product\":\"%s\",\"channel\":\"s\"}", longp);
	e = make_entry(FT_EVENT_DISTRIBUTION, pred, d, 1);
	check_bad(p, &e, FT_EUNAUTHORIZED, "product");
	{
		ft_store_meta *m;
		char reason[512];

		ck_assert_int_eq(check(p, &e, &m, reason, sizeof reason),
				 FT_EUNAUTHORIZED);
		ck_assert_msg(strstr(reason, "qqqq...\"") != NULL, "%s",
			      reason);
		ck_assert_uint_lt(strlen(reason), 120);
	}
	free(e.data);
	free(pred);

	/* Product rule before threshold: amf by rel-a alone. */
	e = make_entry(FT_EVENT_RELEASE, PRED_RELEASE("amf"), a, 1);
	check_bad(p, &e, FT_EUNAUTHORIZED, "product");
	free(e.data);

	/* Builds are not checked for a product: the builder's only pattern
	 * is "x". */
	const int b[] = {K_BUILD};
	e = make_entry(FT_EVENT_BUILD, PRED_BUILD, b, 1);
	free(check_ok(p, &e));
	free(e.data);
	ft_policy_unref(p);
}
END_TEST

START_TEST(test_check_kind)
{
	ft_policy *p = check_policy("");
	const int b[] = {K_BUILD}, ad[] = {K_REL_A, K_DIST}, a[] = {K_REL_A};
	entry e;

	/* The builder may not release (kind is checked before product). */
	e = make_entry(FT_EVENT_RELEASE, PRED_RELEASE("gnb-du"), b, 1);
	check_bad(p, &e, FT_EUNAUTHORIZED, "kind");
	{
		ft_store_meta *m;
		char reason[256];

		ck_assert_int_eq(check(p, &e, &m, reason, sizeof reason),
				 FT_EUNAUTHORIZED);
		ck_assert_str_eq(reason, "kind: key \"ci.example/builder\" may "
					 "not sign release events");
	}
	free(e.data);

	/* Every signer must be allowed the kind, not just one. */
	e = make_entry(FT_EVENT_RELEASE, PRED_RELEASE("upf"), ad, 2);
	check_bad(p, &e, FT_EUNAUTHORIZED, "kind");
	free(e.data);

	/* A release key may not sign builds, distributions, revocations. */
	e = make_entry(FT_EVENT_BUILD, PRED_BUILD, a, 1);
	check_bad(p, &e, FT_EUNAUTHORIZED, "kind");
	free(e.data);
	e = make_entry(FT_EVENT_DISTRIBUTION,
		       "{\"product\":\"upf\",\"channel\":\"s\"}", a, 1);
	check_bad(p, &e, FT_EUNAUTHORIZED, "kind");
	free(e.data);
	e = make_entry(FT_EVENT_REVOCATION,
		       "{\"target\":\"image\",\"reason\":\"r\",\"product\":"
		       "\"upf\"}",
		       a, 1);
	check_bad(p, &e, FT_EUNAUTHORIZED, "kind");
	free(e.data);
	ft_policy_unref(p);
}
END_TEST

START_TEST(test_check_revocation)
{
	ft_policy *p = check_policy("");
	const int r1[] = {K_REVOKE}, rb[] = {K_REL_B};
	const char *names[] = {key_names[K_REVOKE]};
	entry e;

	/* An image. */
	e = make_entry(FT_EVENT_REVOCATION,
		       "{\"target\":\"image\",\"reason\":\"CVE-2025-0001\","
		       "\"product\":\"gnb-du\"}",
		       r1, 1);
	ft_store_meta *m = check_ok(p, &e);
	ck_assert_int_eq(m->kind, FT_EVENT_REVOCATION);
	ck_assert_int_eq(m->revoke, FT_REVOKE_IMAGE);
	assert_subjects(m, 2, 0xa0);
	json_t *r = record(m, "revocation", names, 1);
	ck_assert_str_eq(jstr(r, "target"), "image");
	ck_assert_str_eq(jstr(r, "reason"), "CVE-2025-0001");
	ck_assert_str_eq(jstr(r, "product"), "gnb-du");
	ck_assert_ptr_null(json_object_get(r, "key"));
	json_decref(r);
	free(m);
	free(e.data);

	/* A key, without a product: the revocation key has "*". */
	char *pred = tu_strf("{\"target\":\"key\",\"reason\":\"compromised\","
			     "\"key\":\"%s\"}",
			     VS[K_REL_B]);
	size_t slen;
	char *s = make_statement(FT_EVENT_REVOCATION, pred, 1, 0, &VK[K_REL_B],
				 &slen);
	e = sign_with(s, slen, r1, 1);
	m = check_ok(p, &e);
	ck_assert_int_eq(m->revoke, FT_REVOKE_KEY);
	ck_assert_int_eq(memcmp(m->revoked_key, VK[K_REL_B].pk, 32), 0);
	uint8_t dig[32];
	ft_event_key_digest(&VK[K_REL_B], dig);
	ck_assert_uint_eq(m->n_subjects, 1);
	ck_assert_int_eq(memcmp(m->subjects[0], dig, 32), 0);
	r = record(m, "revocation", names, 1);
	ck_assert_str_eq(jstr(r, "target"), "key");
	ck_assert_str_eq(jstr(r, "key"), VS[K_REL_B]);
	ck_assert_ptr_null(json_object_get(r, "product"));
	json_decref(r);
	free(m);
	free(e.data);

	/* rel-b may revoke, but only for gnb-*: a key revocation without a
	 * product needs "*". */
	e = sign_with(s, slen, rb, 1);
	check_bad(p, &e, FT_EUNAUTHORIZED, "product");
	{
		char reason[256];

		ck_assert_int_eq(check(p, &e, &m, reason, sizeof reason),
				 FT_EUNAUTHORIZED);
		ck_assert_msg(strstr(reason, "without a product") != NULL,
			      "%s", reason);
	}
	free(e.data);
	free(s);
	free(pred);

	/* With a product it matches: accepted. */
	pred = tu_strf("{\"target\":\"key\",\"reason\":\"compromised\","
		       "\"product\":\"gnb-cu\",\"key\":\"%s\"}",
		       VS[K_REL_A]);
	s = make_statement(FT_EVENT_REVOCATION, pred, 1, 0, &VK[K_REL_A],
			   &slen);
	e = sign_with(s, slen, rb, 1);
	m = check_ok(p, &e);
	ck_assert_int_eq(memcmp(m->revoked_key, VK[K_REL_A].pk, 32), 0);
	const char *nb[] = {key_names[K_REL_B]};
	r = record(m, "revocation", nb, 1);
	ck_assert_str_eq(jstr(r, "product"), "gnb-cu");
	json_decref(r);
	free(m);
	free(e.data);
	free(s);
	free(pred);
	ft_policy_unref(p);
}
END_TEST

/* Rewrite signature i of an envelope: its keyid (NULL: drop it; unless
 * keep_keyid) and/or flip bit 0 of byte `flip` of its sig (-1: none). */
static entry tamper(const entry *in, size_t i, const char *keyid,
		    bool keep_keyid, int flip)
{
	json_error_t jerr;
	json_t *env = json_loadb(in->data, in->len, 0, &jerr);
	entry e;

	ck_assert_ptr_nonnull(env);
	json_t *sig = json_array_get(json_object_get(env, "signatures"), i);
	ck_assert_ptr_nonnull(sig);
	if (!keep_keyid) {
		if (keyid == NULL) {
			ck_assert_int_eq(json_object_del(sig, "keyid"), 0);
		} else {
			ck_assert_int_eq(json_object_set_new(sig, "keyid",
							     json_string(keyid)),
					 0);
		}
	}
	if (flip >= 0) {
		json_t *sv = json_object_get(sig, "sig");
		uint8_t raw[64];
		char b64[100];
		size_t n;

		ck_assert_int_eq(ft_b64_decode(json_string_value(sv),
					       json_string_length(sv), raw,
					       sizeof raw, &n),
				 0);
		ck_assert_uint_eq(n, 64);
		raw[flip] ^= 1;
		ck_assert_int_eq(ft_b64_encode(raw, 64, b64, sizeof b64, &n), 0);
		ck_assert_int_eq(json_object_set_new(sig, "sig",
						     json_stringn(b64, n)),
				 0);
	}
	e.data = json_dumps(env, JSON_COMPACT | JSON_PRESERVE_ORDER);
	ck_assert_ptr_nonnull(e.data);
	e.len = strlen(e.data);
	json_decref(env);
	return e;
}

START_TEST(test_check_keys_and_signatures)
{
	ft_policy *p = check_policy("");
	const int ab[] = {K_REL_A, K_REL_B}, x[] = {K_STRAY};
	entry good = make_entry(FT_EVENT_RELEASE, PRED_RELEASE("gnb-du"), ab,
				2);
	entry e;

	free(check_ok(p, &good));

	/* A key the policy does not know. */
	e = make_entry(FT_EVENT_RELEASE, PRED_RELEASE("gnb-du"), x, 1);
	check_bad(p, &e, FT_EUNKNOWN_KEY, "unknown-key");
	free(e.data);

	/* No keyid, an empty one, the name alone, upper-case hex, the
	 * whole verifier key string: all unknown. */
	e = tamper(&good, 1, NULL, false, -1);
	check_bad(p, &e, FT_EUNKNOWN_KEY, "unknown-key");
	{
		ft_store_meta *m;
		char reason[256];

		ck_assert_int_eq(check(p, &e, &m, reason, sizeof reason),
				 FT_EUNKNOWN_KEY);
		ck_assert_msg(strstr(reason, "signature 1 has no keyid") != NULL,
			      "%s", reason);
	}
	free(e.data);
	e = tamper(&good, 0, "", false, -1);
	check_bad(p, &e, FT_EUNKNOWN_KEY, "unknown-key");
	free(e.data);
	e = tamper(&good, 0, key_names[K_REL_A], false, -1);
	check_bad(p, &e, FT_EUNKNOWN_KEY, "unknown-key");
	free(e.data);
	char upper[FT_EVENT_KEYID_MAX + 1];
	snprintf(upper, sizeof upper, "%s+%08" PRIX32, key_names[K_REL_A],
		 VK[K_REL_A].id);
	if (strcmp(upper, KID[K_REL_A]) != 0) {
		e = tamper(&good, 0, upper, false, -1);
		check_bad(p, &e, FT_EUNKNOWN_KEY, "unknown-key");
		free(e.data);
	}
	e = tamper(&good, 0, VS[K_REL_A], false, -1);
	check_bad(p, &e, FT_EUNKNOWN_KEY, "unknown-key");
	free(e.data);

	/* A keyid naming the other policy key: its signature does not
	 * verify with that key. */
	e = tamper(&good, 0, KID[K_REL_B], false, -1);
	check_bad(p, &e, FT_ENOTE_BADSIG, "signature");
	free(e.data);

	/* Every byte of the first signature flipped: refused. */
	for (int i = 0; i < 64; i++) {
		e = tamper(&good, 0, NULL, true, i);
		check_bad(p, &e, FT_ENOTE_BADSIG, "signature");
		free(e.data);
	}
	e = tamper(&good, 1, NULL, true, 63);
	check_bad(p, &e, FT_ENOTE_BADSIG, "signature");
	{
		ft_store_meta *m;
		char reason[256];

		ck_assert_int_eq(check(p, &e, &m, reason, sizeof reason),
				 FT_ENOTE_BADSIG);
		ck_assert_msg(strstr(reason, "signature 1 by "
					     "\"vendor.example/rel-b+") != NULL,
			      "%s", reason);
	}
	free(e.data);

	/* unknown-key is reported before signature, whatever the order. */
	entry bad0 = tamper(&good, 0, NULL, true, 5);
	e = tamper(&bad0, 1, "nobody+00000000", false, -1);
	check_bad(p, &e, FT_EUNKNOWN_KEY, "unknown-key");
	free(e.data);
	free(bad0.data);

	/* signature before kind: an unauthorized signer with a bad sig. */
	const int b[] = {K_BUILD};
	entry eb = make_entry(FT_EVENT_RELEASE, PRED_RELEASE("gnb-du"), b, 1);
	e = tamper(&eb, 0, NULL, true, 0);
	check_bad(p, &e, FT_ENOTE_BADSIG, "signature");
	free(e.data);
	free(eb.data);

	free(good.data);
	ft_policy_unref(p);
}
END_TEST

START_TEST(test_check_limits)
{
	const int a[] = {K_REL_A};
	const int four[] = {K_REL_A, K_REL_B, K_REL_A, K_REL_B};
	entry e = make_entry(FT_EVENT_RELEASE, PRED_RELEASE("upf"), a, 1);
	char *extra;
	ft_policy *p;

	/* max_entry_bytes: the entry's length is allowed, one less not. */
	extra = tu_strf(",\"max_entry_bytes\":%zu", e.len);
	p = check_policy(extra);
	free(check_ok(p, &e));
	ft_policy_unref(p);
	free(extra);
	extra = tu_strf(",\"max_entry_bytes\":%zu", e.len - 1);
	p = check_policy(extra);
	check_bad(p, &e, FT_ETOOBIG, "too-large");
	free(extra);

	/* too-large comes before everything, even garbage. */
	entry g = {.data = tu_strf("%*s", (int)e.len, "x"), .len = e.len};
	check_bad(p, &g, FT_ETOOBIG, "too-large");
	free(g.data);
	ft_policy_unref(p);
	free(e.data);

	/* max_signatures: 4 by default. */
	p = check_policy("");
	e = make_entry(FT_EVENT_RELEASE, PRED_RELEASE("gnb-du"), four, 4);
	free(check_ok(p, &e));
	free(e.data);
	const int five[] = {K_REL_A, K_REL_B, K_REL_A, K_REL_B, K_REL_A};
	e = make_entry(FT_EVENT_RELEASE, PRED_RELEASE("gnb-du"), five, 5);
	check_bad(p, &e, FT_ETOOBIG, "signatures");
	ft_policy_unref(p);

	/* Before unknown-key. */
	entry t = tamper(&e, 0, "nobody+00000000", false, -1);
	p = check_policy(",\"max_signatures\":2");
	check_bad(p, &t, FT_ETOOBIG, "signatures");
	free(t.data);
	free(e.data);
	e = make_entry(FT_EVENT_RELEASE, PRED_RELEASE("gnb-du"), four, 3);
	check_bad(p, &e, FT_ETOOBIG, "signatures");
	{
		ft_store_meta *m;
		char reason[256];

		ck_assert_int_eq(check(p, &e, &m, reason, sizeof reason),
				 FT_ETOOBIG);
		ck_assert_str_eq(reason,
				 "signatures: 3 signatures, the limit is 2");
	}
	free(e.data);
	ft_policy_unref(p);
}
END_TEST

/* An envelope around an arbitrary payload text, with one dummy sig. */
static entry raw_envelope(const char *ptype, const char *payload)
{
	char b64[4096];
	size_t n;
	uint8_t sig[64] = {0};
	char s64[100];
	size_t sn;
	entry e;

	ck_assert_int_eq(ft_b64_encode((const uint8_t *)payload,
				       strlen(payload), b64, sizeof b64, &n),
			 0);
	ck_assert_int_eq(ft_b64_encode(sig, 64, s64, sizeof s64, &sn), 0);
	e.data = tu_strf("{\"payloadType\":\"%s\",\"payload\":\"%s\","
			 "\"signatures\":[{\"keyid\":\"%s\",\"sig\":\"%s\"}]}",
			 ptype, b64, KID[K_REL_A], s64);
	e.len = strlen(e.data);
	return e;
}

/* The check reports exactly what ft_event_parse does, with rule. */
static void parse_rule(const ft_policy *p, const entry *e, int code,
		       const char *rule)
{
	ft_event ev;
	char want[512], got[512];
	ft_store_meta *m = NULL;

	memset(&ev, 0, sizeof ev);
	int rc = ft_event_parse((const uint8_t *)e->data, e->len, &ev, want,
				sizeof want);
	ft_event_free(&ev);
	ck_assert_int_eq(rc, code);
	check_bad(p, e, code, rule);
	ck_assert_int_eq(check(p, e, &m, got, sizeof got), code);
	ck_assert_str_eq(got, want);
}

START_TEST(test_check_event_rules)
{
	ft_policy *p = check_policy("");
	const char *stmt_ok_head =
		"{\"_type\":\"https://in-toto.io/Statement/v1\",\"subject\":"
		"[{\"digest\":{\"sha256\":\"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
		"aaaaaaaaaaaaaaaaaaaaaaaaaaaa\"}}],";
	entry e;
	char *s;

	e.data = tu_strf("not json");
	e.len = strlen(e.data);
	parse_rule(p, &e, FT_EEVENT_ENVELOPE, "json");
	free(e.data);

	e.data = tu_strf("{\"payloadType\":1}");
	e.len = strlen(e.data);
	parse_rule(p, &e, FT_EEVENT_ENVELOPE, "envelope");
	free(e.data);

	e = raw_envelope("text/plain", "{}");
	parse_rule(p, &e, FT_EEVENT_ENVELOPE, "payload-type");
	free(e.data);

	e = raw_envelope(FT_DSSE_PAYLOAD_TYPE, "{\"_type\":\"x\"}");
	parse_rule(p, &e, FT_EEVENT_STATEMENT, "statement");
	free(e.data);

	s = tu_strf("%s\"predicateType\":\"https://example/x\",\"predicate\":"
		    "{}}",
		    stmt_ok_head);
	e = raw_envelope(FT_DSSE_PAYLOAD_TYPE, s);
	parse_rule(p, &e, FT_EEVENT_PREDTYPE, "predicate-type");
	free(e.data);
	free(s);

	s = tu_strf("%s\"predicateType\":\"" FT_PRED_RELEASE "\",\"predicate\":"
		    "{\"product\":\"gnb-du\"}}",
		    stmt_ok_head);
	e = raw_envelope(FT_DSSE_PAYLOAD_TYPE, s);
	parse_rule(p, &e, FT_EEVENT_PREDICATE, "predicate");
	free(e.data);
	free(s);

	/* Empty. */
	e.data = tu_strf("%s", "");
	e.len = 0;
	{
		ft_store_meta *m = NULL;
		char reason[256];

		ck_assert_int_lt(check(p, &e, &m, reason, sizeof reason), 0);
		ck_assert_ptr_null(m);
	}
	free(e.data);
	ft_policy_unref(p);
}
END_TEST

/* A policy reference held across an unref by its owner (the SIGHUP swap)
 * stays usable. */
START_TEST(test_check_after_swap)
{
	ft_policy *p = check_policy("");
	ft_policy *held = ft_policy_ref(p);
	const int a[] = {K_REL_A};

	ft_policy_unref(p); /* the server installs a new one */
	entry e = make_entry(FT_EVENT_RELEASE, PRED_RELEASE("upf"), a, 1);
	free(check_ok(held, &e));
	free(e.data);
	ft_policy_unref(held);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("policy");
	TCase *tp = tcase_create("parse");

	tcase_set_timeout(tp, 30);
	tcase_add_checked_fixture(tp, keys_setup, NULL);
	tcase_add_test(tp, test_parse_minimal_defaults);
	tcase_add_test(tp, test_parse_full);
	tcase_add_test(tp, test_describe_warnings);
	tcase_add_test(tp, test_parse_json_errors);
	tcase_add_test(tp, test_parse_version_and_fields);
	tcase_add_test(tp, test_parse_limits);
	tcase_add_test(tp, test_parse_keys);
	tcase_add_test(tp, test_parse_too_many_keys);
	tcase_add_test(tp, test_parse_products);
	tcase_add_test(tp, test_parse_thresholds);
	tcase_add_test(tp, test_refcount);
	tcase_add_test(tp, test_refcount_threads);
	suite_add_tcase(s, tp);

	TCase *tl = tcase_create("load");
	tcase_set_timeout(tl, 30);
	tcase_add_checked_fixture(tl, dir_setup, dir_teardown);
	tcase_add_test(tl, test_load);
	suite_add_tcase(s, tl);

	TCase *tc = tcase_create("check");
	tcase_set_timeout(tc, 60);
	tcase_add_checked_fixture(tc, keys_setup, NULL);
	tcase_add_test(tc, test_check_build);
	tcase_add_test(tc, test_check_release);
	tcase_add_test(tc, test_check_threshold);
	tcase_add_test(tc, test_check_distribution);
	tcase_add_test(tc, test_check_product);
	tcase_add_test(tc, test_check_kind);
	tcase_add_test(tc, test_check_revocation);
	tcase_add_test(tc, test_check_keys_and_signatures);
	tcase_add_test(tc, test_check_limits);
	tcase_add_test(tc, test_check_event_rules);
	tcase_add_test(tc, test_check_after_swap);
	suite_add_tcase(s, tc);

	return tu_run_suite(s);
}
