/*
 * tests/test_dpolicy.c - the device trust policy (client/dpolicy.c): a
 * full policy read back field by field, defaults, every error with the
 * field path asserted in the reason and *out zeroed, truncations, loading
 * files (missing, directory, FIFO, too big, exactly at the cap), and the
 * vendor keyid lookup. Policies are built with jansson from a valid base
 * and mutated one field at a time.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
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

#include "client/dpolicy.h"
#include "tests/testutil.h"

/* ---- Keys: derived from fixed seeds, so every run is the same. */

#define NV 17 /* one more than the limits */

static ft_vkey LOG_VK, VEND_VK[NV], WIT_VK[NV];
static char LOG_S[FT_KEY_STR_MAX + 1];
static char VEND_S[NV][FT_KEY_STR_MAX + 1];
static char WIT_S[NV][FT_KEY_STR_MAX + 1];
static char VEND_KID[NV][FT_EVENT_KEYID_MAX + 1];
/* Same seeds as VEND_S[0] / WIT_S[0], other names: same public keys. */
static char VEND0_RENAMED[FT_KEY_STR_MAX + 1];
static char WIT0_RENAMED[FT_KEY_STR_MAX + 1];
/* The log's seed as a cosignature key, a vendor seed as cosig key. */
static char LOG_AS_COSIG[FT_KEY_STR_MAX + 1];

static void make_key(const char *name, uint8_t type, uint8_t fill,
		     ft_vkey *vk, char *s)
{
	uint8_t seed[32];
	ft_skey sk;
	size_t n;

	for (size_t i = 0; i < sizeof seed; i++) {
		seed[i] = (uint8_t)(fill + 5 * i);
	}
	ck_assert_int_eq(
		ft_key_from_seed(name, strlen(name), type, seed, &sk), 0);
	ft_skey_public(&sk, vk);
	ft_skey_wipe(&sk);
	ck_assert_int_eq(ft_vkey_format(vk, s, FT_KEY_STR_MAX + 1, &n), 0);
}

static void keys_setup(void)
{
	ft_vkey tmp;

	ck_assert_int_eq(ft_init(), 0);
	make_key("log.example.net/ftlog", FT_KEY_ED25519, 0x01, &LOG_VK,
		 LOG_S);
	for (int i = 0; i < NV; i++) {
		char name[64];

		snprintf(name, sizeof name, "acme.example/release-%02d", i);
		make_key(name, FT_KEY_ED25519, (uint8_t)(0x20 + i),
			 &VEND_VK[i], VEND_S[i]);
		ck_assert_int_eq(ft_event_keyid(&VEND_VK[i], VEND_KID[i],
						sizeof VEND_KID[i]),
				 0);
		snprintf(name, sizeof name, "witness-%02d.example.org/w", i);
		make_key(name, FT_KEY_COSIG_V1, (uint8_t)(0x60 + i),
			 &WIT_VK[i], WIT_S[i]);
	}
	make_key("acme.example/renamed", FT_KEY_ED25519, 0x20, &tmp,
		 VEND0_RENAMED);
	make_key("witness.example.org/renamed", FT_KEY_COSIG_V1, 0x60, &tmp,
		 WIT0_RENAMED);
	make_key("log.example.net/ftlog", FT_KEY_COSIG_V1, 0x01, &tmp,
		 LOG_AS_COSIG);
}

/* ---- Building policies. */

static json_t *strs(const char *const *s, size_t n)
{
	json_t *a = json_array();

	ck_assert_ptr_nonnull(a);
	for (size_t i = 0; i < n; i++) {
		ck_assert_int_eq(json_array_append_new(a, json_string(s[i])),
				 0);
	}
	return a;
}

/* The full, valid policy: 2 of 3 witnesses, 2 of 3 vendor keys. */
static json_t *base(void)
{
	const char *w[] = {WIT_S[0], WIT_S[1], WIT_S[2]};
	const char *v[] = {VEND_S[0], VEND_S[1], VEND_S[2]};
	json_t *r = json_pack(
		"{s:i, s:{s:s}, s:{s:i, s:o}, s:{s:i, s:o}, s:s, s:s, s:i}",
		"ftlog_device_policy", 1, "log", "key", LOG_S, "witnesses",
		"quorum", 2, "keys", strs(w, 3), "vendor", "threshold", 2,
		"keys", strs(v, 3), "product", "gnb-du", "hardware_model",
		"acme-du-4400", "max_checkpoint_age", 86400);

	ck_assert_ptr_nonnull(r);
	return r;
}

static json_t *sect(json_t *r, const char *name)
{
	json_t *o = json_object_get(r, name);

	ck_assert_ptr_nonnull(o);
	return o;
}

/* obj[name] = v (v stolen); obj[name] removed when v is NULL. */
static void put(json_t *obj, const char *name, json_t *v)
{
	if (v == NULL) {
		ck_assert_int_eq(json_object_del(obj, name), 0);
		return;
	}
	ck_assert_int_eq(json_object_set_new(obj, name, v), 0);
}

static char *dump(json_t *r)
{
	char *s = json_dumps(r, JSON_COMPACT | JSON_PRESERVE_ORDER);

	ck_assert_ptr_nonnull(s);
	return s;
}

static bool all_zero(const void *p, size_t n)
{
	const uint8_t *b = p;

	for (size_t i = 0; i < n; i++) {
		if (b[i] != 0) {
			return false;
		}
	}
	return true;
}

/* The reason is one NUL-terminated line of printable bytes. */
static void assert_line(const char *s, size_t cap)
{
	size_t n = strnlen(s, cap);

	ck_assert_uint_lt(n, cap);
	for (size_t i = 0; i < n; i++) {
		ck_assert((unsigned char)s[i] >= 0x20 &&
			  (unsigned char)s[i] != 0x7f);
	}
}

/* Parse bytes; expect rc and (if want) the reason to contain want. */
static void bad_raw(const void *buf, size_t len, int want_rc,
		    const char *want)
{
	ft_dpolicy p;
	char err[256];

	memset(&p, 0xa5, sizeof p);
	memset(err, 0x5a, sizeof err);
	int rc = ft_dpolicy_parse(buf, len, &p, err, sizeof err);
	ck_assert_msg(rc == want_rc, "rc %d (%s), want %d, for %.*s", rc, err,
		      want_rc, (int)(len < 300 ? len : 300),
		      (const char *)buf);
	assert_line(err, sizeof err);
	ck_assert_msg(strstr(err, want) != NULL, "reason \"%s\" lacks \"%s\"",
		      err, want);
	ck_assert(all_zero(&p, sizeof p));
}

static void bad_str(const char *s, const char *want)
{
	bad_raw(s, strlen(s), FT_EDEVICE_POLICY, want);
}

/* Dump r (consumed), parse, expect a policy error containing want. */
static void bad(json_t *r, const char *want)
{
	char *s = dump(r);

	json_decref(r);
	bad_str(s, want);
	free(s);
}

/* Dump r (consumed), parse, expect success into *p. */
static void good(json_t *r, ft_dpolicy *p)
{
	char *s = dump(r);
	char err[256];

	json_decref(r);
	int rc = ft_dpolicy_parse((const uint8_t *)s, strlen(s), p, err,
				  sizeof err);
	ck_assert_msg(rc == 0, "rc %d: %s", rc, err);
	ck_assert_str_eq(err, "");
	free(s);
}

/* ---- Valid policies. */

START_TEST(test_full)
{
	ft_dpolicy p, copy;

	good(base(), &p);
	ck_assert_int_eq(p.log.type, FT_KEY_ED25519);
	ck_assert_str_eq(p.log.name, "log.example.net/ftlog");
	ck_assert_uint_eq(p.log.name_len, strlen("log.example.net/ftlog"));
	ck_assert_uint_eq(p.log.id, LOG_VK.id);
	ck_assert_mem_eq(p.log.pk, LOG_VK.pk, 32);

	ck_assert_uint_eq(p.n_witnesses, 3);
	for (size_t i = 0; i < 3; i++) {
		ck_assert_int_eq(p.witnesses[i].type, FT_KEY_COSIG_V1);
		ck_assert_str_eq(p.witnesses[i].name, WIT_VK[i].name);
		ck_assert_uint_eq(p.witnesses[i].id, WIT_VK[i].id);
		ck_assert_mem_eq(p.witnesses[i].pk, WIT_VK[i].pk, 32);
	}
	ck_assert_uint_eq(p.quorum, 2);
	ck_assert_int_eq(p.warn_no_quorum, 0);

	ck_assert_uint_eq(p.n_vendor, 3);
	for (size_t i = 0; i < 3; i++) {
		ck_assert_int_eq(p.vendor[i].type, FT_KEY_ED25519);
		ck_assert_str_eq(p.vendor[i].name, VEND_VK[i].name);
		ck_assert_mem_eq(p.vendor[i].pk, VEND_VK[i].pk, 32);
		ck_assert_str_eq(p.vendor_keyid[i], VEND_KID[i]);
	}
	ck_assert_uint_eq(p.threshold, 2);
	ck_assert_str_eq(p.product, "gnb-du");
	ck_assert_str_eq(p.hardware_model, "acme-du-4400");
	ck_assert_uint_eq(p.max_age_s, 86400);

	/* No pointers inside: a memcpy is a working policy. */
	memcpy(&copy, &p, sizeof p);
	memset(&p, 0xee, sizeof p);
	ck_assert_int_eq(ft_dpolicy_vendor_index(&copy, VEND_KID[1]), 1);
	ck_assert_str_eq(copy.product, "gnb-du");
}
END_TEST

START_TEST(test_defaults)
{
	ft_dpolicy p;
	json_t *r = base();

	/* No witnesses, no max age. */
	put(r, "witnesses", NULL);
	put(r, "max_checkpoint_age", NULL);
	good(r, &p);
	ck_assert_uint_eq(p.n_witnesses, 0);
	ck_assert_uint_eq(p.quorum, 0);
	ck_assert_int_eq(p.warn_no_quorum, 1);
	ck_assert_uint_eq(p.max_age_s, 604800);
	ck_assert_uint_eq(p.max_age_s, FT_DPOLICY_AGE_DEFAULT);

	/* Witnesses listed but quorum 0: allowed, with the warning. */
	r = base();
	put(sect(r, "witnesses"), "quorum", json_integer(0));
	good(r, &p);
	ck_assert_uint_eq(p.n_witnesses, 3);
	ck_assert_int_eq(p.warn_no_quorum, 1);

	/* An empty witness list with quorum 0. */
	r = base();
	put(sect(r, "witnesses"), "keys", json_array());
	put(sect(r, "witnesses"), "quorum", json_integer(0));
	good(r, &p);
	ck_assert_uint_eq(p.n_witnesses, 0);
	ck_assert_int_eq(p.warn_no_quorum, 1);

	/* Limits that are allowed: 16 of 16, 1 of 1, the age bounds,
	 * 256-byte names, quorum = number of witnesses. */
	const char *w16[16], *v16[16];
	for (int i = 0; i < 16; i++) {
		w16[i] = WIT_S[i];
		v16[i] = VEND_S[i];
	}
	r = base();
	put(sect(r, "witnesses"), "keys", strs(w16, 16));
	put(sect(r, "witnesses"), "quorum", json_integer(16));
	put(sect(r, "vendor"), "keys", strs(v16, 16));
	put(sect(r, "vendor"), "threshold", json_integer(16));
	put(r, "max_checkpoint_age", json_integer(60));
	good(r, &p);
	ck_assert_uint_eq(p.n_witnesses, 16);
	ck_assert_uint_eq(p.quorum, 16);
	ck_assert_uint_eq(p.n_vendor, 16);
	ck_assert_uint_eq(p.threshold, 16);
	ck_assert_uint_eq(p.max_age_s, 60);
	for (int i = 0; i < 16; i++) {
		ck_assert_int_eq(ft_dpolicy_vendor_index(&p, VEND_KID[i]), i);
	}

	r = base();
	put(sect(r, "vendor"), "keys", strs(v16, 1));
	put(sect(r, "vendor"), "threshold", json_integer(1));
	put(r, "max_checkpoint_age", json_integer(31536000));
	good(r, &p);
	ck_assert_uint_eq(p.n_vendor, 1);
	ck_assert_uint_eq(p.threshold, 1);
	ck_assert_uint_eq(p.max_age_s, 31536000);

	char big[257];
	memset(big, 'a', 256);
	big[256] = '\0';
	big[0] = '.';
	big[1] = '_';
	big[2] = '-';
	big[3] = 'Z';
	big[4] = '9';
	r = base();
	put(r, "product", json_string(big));
	big[1] = '/';
	big[2] = ':';
	big[3] = '~';
	big[4] = '!';
	put(r, "hardware_model", json_string(big));
	good(r, &p);
	ck_assert_uint_eq(strlen(p.product), 256);
	ck_assert_str_eq(p.hardware_model, big);

	/* Field order and white space do not matter; a trailing newline is
	 * white space. */
	char *s = tu_strf(
		"\n{ \"product\" : \"p\", \"vendor\": {\"keys\": [\"%s\"], "
		"\"threshold\": 1}, \"hardware_model\": \"h\", \"log\": "
		"{\"key\": \"%s\"}, \"ftlog_device_policy\": 1 }\n\n",
		VEND_S[0], LOG_S);
	char err[256];
	ck_assert_int_eq(ft_dpolicy_parse((const uint8_t *)s, strlen(s), &p,
					  err, sizeof err),
			 0);
	ck_assert_str_eq(p.product, "p");
	free(s);

	/* err may be NULL. */
	s = dump(r = base());
	json_decref(r);
	ck_assert_int_eq(
		ft_dpolicy_parse((const uint8_t *)s, strlen(s), &p, NULL, 0),
		0);
	free(s);
}
END_TEST

/* ---- Errors. */

START_TEST(test_err_version_and_shape)
{
	json_t *r;

	r = base();
	put(r, "ftlog_device_policy", NULL);
	bad(r, "ftlog_device_policy: missing (must be 1)");
	json_t *vals[] = {json_integer(2), json_integer(0), json_real(1.0),
			  json_string("1"), json_true(), json_null(),
			  json_integer(-1)};
	for (size_t i = 0; i < sizeof vals / sizeof vals[0]; i++) {
		r = base();
		put(r, "ftlog_device_policy", vals[i]);
		bad(r, "ftlog_device_policy: must be 1");
	}
	/* The version is checked before unknown fields. */
	r = base();
	put(r, "ftlog_device_policy", json_integer(2));
	put(r, "new_field", json_true());
	bad(r, "ftlog_device_policy: must be 1");

	r = base();
	put(r, "extra", json_integer(1));
	bad(r, "unknown field \"extra\"");
	r = base();
	put(sect(r, "log"), "origin", json_string("x"));
	bad(r, "log: unknown field \"origin\"");
	r = base();
	put(sect(r, "witnesses"), "threshold", json_integer(1));
	bad(r, "witnesses: unknown field \"threshold\"");
	r = base();
	put(sect(r, "vendor"), "quorum", json_integer(1));
	bad(r, "vendor: unknown field \"quorum\"");

	/* Not an object; not JSON; empty; trailing bytes; duplicates. */
	bad_str("[]", "policy: must be a JSON object");
	bad_str("[{\"ftlog_device_policy\":1}]", "policy: must be a JSON object");
	bad_str("1", "json: ");
	bad_str("\"x\"", "json: ");
	bad_str("", "json: ");
	bad_str("   ", "json: ");
	bad_str("{", "json: ");
	bad_str("{\"ftlog_device_policy\":1,}", "json: ");
	bad_str("\xef\xbb\xbf{}", "json: ");
	bad_raw("{\"ftlog_device_policy\":1}\0", 26, FT_EDEVICE_POLICY,
		"json: ");

	char *s = dump(r = base());
	json_decref(r);
	char *t = tu_strf("%s x", s);
	bad_str(t, "json: ");
	free(t);
	t = tu_strf("%s{}", s);
	bad_str(t, "json: ");
	free(t);
	t = tu_strf("%s,", s);
	bad_str(t, "json: ");
	free(t);
	/* A duplicate field, top level and nested. */
	t = tu_strf("{\"product\":\"x\",%s", s + 1);
	bad_str(t, "json: ");
	ck_assert_ptr_nonnull(strstr(t, "\"product\":\"gnb-du\""));
	free(t);
	t = tu_strf("{\"ftlog_device_policy\":1,%s", s + 1);
	bad_str(t, "duplicate");
	free(t);
	free(s);
	s = tu_strf("{\"ftlog_device_policy\":1,\"log\":{\"key\":\"%s\","
		    "\"key\":\"%s\"}}",
		    LOG_S, LOG_S);
	bad_str(s, "duplicate");
	free(s);
	/* "\u0000" in a string. */
	bad_str("{\"ftlog_device_policy\":1,\"product\":\"a\\u0000b\"}",
		"json: ");
	/* Integers beyond int64. */
	bad_str("{\"ftlog_device_policy\":99999999999999999999}", "json: ");
}
END_TEST

START_TEST(test_err_log)
{
	json_t *r;

	r = base();
	put(r, "log", NULL);
	bad(r, "log: missing");
	r = base();
	put(r, "log", json_string(LOG_S));
	bad(r, "log: must be an object");
	r = base();
	put(sect(r, "log"), "key", NULL);
	bad(r, "log.key: missing");
	r = base();
	put(sect(r, "log"), "key", json_integer(1));
	bad(r, "log.key: must be a string");
	r = base();
	put(sect(r, "log"), "key", json_string("not a key"));
	bad(r, "log.key: invalid verifier key \"not a key\"");
	r = base();
	put(sect(r, "log"), "key", json_string(""));
	bad(r, "log.key: invalid verifier key");
	/* A key string with a wrong key id. */
	char k[FT_KEY_STR_MAX + 1];
	strcpy(k, LOG_S);
	char *plus = strchr(k, '+');
	plus[1] = plus[1] == '0' ? '1' : '0';
	r = base();
	put(sect(r, "log"), "key", json_string(k));
	bad(r, "log.key: invalid verifier key");
	/* A cosignature key as the log key. */
	r = base();
	put(sect(r, "log"), "key", json_string(LOG_AS_COSIG));
	bad(r, "log.key: key \"log.example.net/ftlog\" has type 0x04, must "
	       "be an Ed25519 note key");
	r = base();
	put(sect(r, "log"), "key", json_string(WIT_S[0]));
	bad(r, "log.key: key \"witness-00.example.org/w\" has type 0x04");
}
END_TEST

START_TEST(test_err_witnesses)
{
	json_t *r;

	r = base();
	put(r, "witnesses", json_array());
	bad(r, "witnesses: must be an object");
	r = base();
	put(r, "witnesses", json_null());
	bad(r, "witnesses: must be an object");
	r = base();
	put(sect(r, "witnesses"), "keys", NULL);
	bad(r, "witnesses.keys: missing");
	r = base();
	put(sect(r, "witnesses"), "quorum", NULL);
	bad(r, "witnesses.quorum: missing");
	r = base();
	put(sect(r, "witnesses"), "keys", json_string(WIT_S[0]));
	bad(r, "witnesses.keys: must be an array of 0..16 keys");

	const char *w17[NV];
	for (int i = 0; i < NV; i++) {
		w17[i] = WIT_S[i];
	}
	r = base();
	put(sect(r, "witnesses"), "keys", strs(w17, NV));
	bad(r, "witnesses.keys: must be an array of 0..16 keys");

	r = base();
	json_array_append_new(json_object_get(sect(r, "witnesses"), "keys"),
			      json_integer(4));
	bad(r, "witnesses.keys[3]: must be a string");
	r = base();
	json_array_set_new(json_object_get(sect(r, "witnesses"), "keys"), 1,
			   json_string("witness+00000000+AAAA"));
	bad(r, "witnesses.keys[1]: invalid verifier key");
	/* An Ed25519 key as a witness. */
	r = base();
	json_array_set_new(json_object_get(sect(r, "witnesses"), "keys"), 1,
			   json_string(VEND_S[5]));
	bad(r, "witnesses.keys[1]: key \"acme.example/release-05\" has type "
	       "0x01, must be a cosignature/v1 key");
	r = base();
	json_array_set_new(json_object_get(sect(r, "witnesses"), "keys"), 0,
			   json_string(LOG_S));
	bad(r, "witnesses.keys[0]: key \"log.example.net/ftlog\" has type "
	       "0x01");
	/* Duplicates: the same key, and the same public key renamed. */
	r = base();
	json_array_set_new(json_object_get(sect(r, "witnesses"), "keys"), 2,
			   json_string(WIT_S[0]));
	bad(r, "witnesses.keys[2]: duplicate key name "
	       "\"witness-00.example.org/w\" (also witnesses.keys[0])");
	r = base();
	json_array_set_new(json_object_get(sect(r, "witnesses"), "keys"), 1,
			   json_string(WIT0_RENAMED));
	bad(r, "witnesses.keys[1]: duplicate public key (also "
	       "witnesses.keys[0])");

	/* Quorum: type, range, more than the keys. */
	r = base();
	put(sect(r, "witnesses"), "quorum", json_integer(4));
	bad(r, "witnesses.quorum: 4 is more than the 3 witness keys");
	r = base();
	put(sect(r, "witnesses"), "keys", json_array());
	put(sect(r, "witnesses"), "quorum", json_integer(1));
	bad(r, "witnesses.quorum: 1 is more than the 0 witness keys");
	r = base();
	put(sect(r, "witnesses"), "quorum", json_integer(17));
	bad(r, "witnesses.quorum: 17 is out of range 0..16");
	r = base();
	put(sect(r, "witnesses"), "quorum", json_integer(-1));
	bad(r, "witnesses.quorum: -1 is out of range 0..16");
	r = base();
	put(sect(r, "witnesses"), "quorum", json_string("2"));
	bad(r, "witnesses.quorum: must be an integer");
	r = base();
	put(sect(r, "witnesses"), "quorum", json_real(2.0));
	bad(r, "witnesses.quorum: must be an integer");
	r = base();
	put(sect(r, "witnesses"), "quorum", json_false());
	bad(r, "witnesses.quorum: must be an integer");
}
END_TEST

START_TEST(test_err_vendor)
{
	json_t *r;

	r = base();
	put(r, "vendor", NULL);
	bad(r, "vendor: missing");
	r = base();
	put(r, "vendor", json_string("acme"));
	bad(r, "vendor: must be an object");
	r = base();
	put(sect(r, "vendor"), "keys", NULL);
	bad(r, "vendor.keys: missing");
	r = base();
	put(sect(r, "vendor"), "threshold", NULL);
	bad(r, "vendor.threshold: missing");
	r = base();
	put(sect(r, "vendor"), "keys", json_array());
	bad(r, "vendor.keys: must be an array of 1..16 keys");
	r = base();
	put(sect(r, "vendor"), "keys", json_object());
	bad(r, "vendor.keys: must be an array of 1..16 keys");

	const char *v17[NV];
	for (int i = 0; i < NV; i++) {
		v17[i] = VEND_S[i];
	}
	r = base();
	put(sect(r, "vendor"), "keys", strs(v17, NV));
	bad(r, "vendor.keys: must be an array of 1..16 keys");

	r = base();
	json_array_set_new(json_object_get(sect(r, "vendor"), "keys"), 0,
			   json_null());
	bad(r, "vendor.keys[0]: must be a string");
	r = base();
	json_array_set_new(json_object_get(sect(r, "vendor"), "keys"), 2,
			   json_string("acme+12345678+AQ=="));
	bad(r, "vendor.keys[2]: invalid verifier key \"acme+12345678+AQ==\"");
	/* A cosignature key as a vendor key. */
	r = base();
	json_array_set_new(json_object_get(sect(r, "vendor"), "keys"), 1,
			   json_string(WIT_S[7]));
	bad(r, "vendor.keys[1]: key \"witness-07.example.org/w\" has type "
	       "0x04, must be an Ed25519 note key");
	r = base();
	json_array_set_new(json_object_get(sect(r, "vendor"), "keys"), 1,
			   json_string(VEND_S[0]));
	bad(r, "vendor.keys[1]: duplicate key name "
	       "\"acme.example/release-00\" (also vendor.keys[0])");
	r = base();
	json_array_set_new(json_object_get(sect(r, "vendor"), "keys"), 2,
			   json_string(VEND0_RENAMED));
	bad(r, "vendor.keys[2]: duplicate public key (also vendor.keys[0])");

	r = base();
	put(sect(r, "vendor"), "threshold", json_integer(4));
	bad(r, "vendor.threshold: 4 is more than the 3 vendor keys");
	r = base();
	put(sect(r, "vendor"), "keys", strs(v17, 1));
	put(sect(r, "vendor"), "threshold", json_integer(2));
	bad(r, "vendor.threshold: 2 is more than the 1 vendor key");
	r = base();
	put(sect(r, "vendor"), "threshold", json_integer(0));
	bad(r, "vendor.threshold: 0 is out of range 1..16");
	r = base();
	put(sect(r, "vendor"), "threshold", json_integer(17));
	bad(r, "vendor.threshold: 17 is out of range 1..16");
	r = base();
	put(sect(r, "vendor"), "threshold", json_string("2"));
	bad(r, "vendor.threshold: must be an integer");
	r = base();
	put(sect(r, "vendor"), "threshold", json_real(1.5));
	bad(r, "vendor.threshold: must be an integer");
}
END_TEST

START_TEST(test_err_names_and_age)
{
	json_t *r;
	char big[258];

	r = base();
	put(r, "product", NULL);
	bad(r, "product: missing");
	r = base();
	put(r, "product", json_integer(7));
	bad(r, "product: must be a string");
	r = base();
	put(r, "product", json_string(""));
	bad(r, "product: must be 1..256 bytes");
	memset(big, 'a', 257);
	big[257] = '\0';
	r = base();
	put(r, "product", json_string(big));
	bad(r, "product: must be 1..256 bytes");
	const char *bad_products[] = {"gnb du", "gnb/du", "gnb*", "gnb\tdu",
				      "gnb\xc3\xa9", "a\"b"};
	for (size_t i = 0; i < sizeof bad_products / sizeof *bad_products;
	     i++) {
		r = base();
		put(r, "product", json_string(bad_products[i]));
		bad(r, "product: \"");
	}
	r = base();
	put(r, "product", json_string("gnb du"));
	bad(r, "product: \"gnb du\" may only hold A-Z a-z 0-9 . _ -");

	r = base();
	put(r, "hardware_model", NULL);
	bad(r, "hardware_model: missing");
	r = base();
	put(r, "hardware_model", json_array());
	bad(r, "hardware_model: must be a string");
	r = base();
	put(r, "hardware_model", json_string(""));
	bad(r, "hardware_model: must be 1..256 bytes");
	r = base();
	put(r, "hardware_model", json_string(big));
	bad(r, "hardware_model: must be 1..256 bytes");
	r = base();
	put(r, "hardware_model", json_string("acme du"));
	bad(r, "hardware_model: \"acme du\" may only hold printable ASCII "
	       "without space");
	r = base();
	put(r, "hardware_model", json_string("acme\x7f"));
	bad(r, "hardware_model: \"acme?\" may only hold");
	r = base();
	put(r, "hardware_model", json_string("acme\n"));
	bad(r, "hardware_model: \"acme?\" may only hold");
	r = base();
	put(r, "hardware_model", json_string("\xc3\xa9"));
	bad(r, "hardware_model: \"??\" may only hold");

	r = base();
	put(r, "max_checkpoint_age", json_integer(59));
	bad(r, "max_checkpoint_age: 59 is out of range 60..31536000");
	r = base();
	put(r, "max_checkpoint_age", json_integer(31536001));
	bad(r, "max_checkpoint_age: 31536001 is out of range 60..31536000");
	r = base();
	put(r, "max_checkpoint_age", json_integer(0));
	bad(r, "max_checkpoint_age: 0 is out of range");
	r = base();
	put(r, "max_checkpoint_age", json_integer(-604800));
	bad(r, "max_checkpoint_age: -604800 is out of range");
	r = base();
	put(r, "max_checkpoint_age", json_integer(INT64_MAX));
	bad(r, "max_checkpoint_age: 9223372036854775807 is out of range");
	r = base();
	put(r, "max_checkpoint_age", json_string("604800"));
	bad(r, "max_checkpoint_age: must be an integer");
	r = base();
	put(r, "max_checkpoint_age", json_real(604800.0));
	bad(r, "max_checkpoint_age: must be an integer");
	r = base();
	put(r, "max_checkpoint_age", json_null());
	bad(r, "max_checkpoint_age: must be an integer");
}
END_TEST

/* Quoted input is cut to 40 bytes and sanitized; reasons fit any cap. */
START_TEST(test_err_quoting)
{
	char name[200];
	json_t *r = base();

	memset(name, 'f', sizeof name - 1);
	name[sizeof name - 1] = '\0';
	name[3] = '\x01';
	name[4] = '"';
	name[5] = '\\';
	put(r, name, json_integer(1));
	char *s = dump(r);
	json_decref(r);

	ft_dpolicy p;
	char err[256];
	int rc = ft_dpolicy_parse((const uint8_t *)s, strlen(s), &p, err,
				  sizeof err);
	ck_assert_int_eq(rc, FT_EDEVICE_POLICY);
	/* 40 bytes quoted, then "...". */
	ck_assert_str_eq(err, "unknown field \"fff???"
			      "ffffffffffffffffffffffffffffffffff...\"");

	/* Small caps: cut, NUL-terminated; cap 0 and NULL are fine. */
	char small[8];
	memset(small, 0x5a, sizeof small);
	rc = ft_dpolicy_parse((const uint8_t *)s, strlen(s), &p, small,
			      sizeof small);
	ck_assert_int_eq(rc, FT_EDEVICE_POLICY);
	ck_assert_str_eq(small, "unknown");
	small[0] = 'x';
	rc = ft_dpolicy_parse((const uint8_t *)s, strlen(s), &p, small, 0);
	ck_assert_int_eq(rc, FT_EDEVICE_POLICY);
	ck_assert_int_eq(small[0], 'x');
	rc = ft_dpolicy_parse((const uint8_t *)s, strlen(s), &p, NULL, 0);
	ck_assert_int_eq(rc, FT_EDEVICE_POLICY);
	free(s);

	/* A long invalid key is quoted cut. */
	char key[300];
	memset(key, 'k', sizeof key - 1);
	key[sizeof key - 1] = '\0';
	r = base();
	put(sect(r, "log"), "key", json_string(key));
	bad(r, "log.key: invalid verifier key "
	       "\"kkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkk...\"");
}
END_TEST

START_TEST(test_err_args_and_size)
{
	ft_dpolicy p;
	char err[128];
	uint8_t *big = calloc(FT_DPOLICY_FILE_MAX + 1, 1);

	ck_assert_ptr_nonnull(big);
	memset(&p, 0xa5, sizeof p);
	ck_assert_int_eq(ft_dpolicy_parse(NULL, 0, &p, err, sizeof err),
			 FT_EINVAL);
	ck_assert(all_zero(&p, sizeof p));
	ck_assert_int_eq(ft_dpolicy_parse(big, 1, NULL, err, sizeof err),
			 FT_EINVAL);
	memset(big, ' ', FT_DPOLICY_FILE_MAX + 1);
	bad_raw(big, FT_DPOLICY_FILE_MAX + 1, FT_ETOOBIG,
		"policy: larger than 65536 bytes");
	free(big);
	ck_assert_int_eq(ft_dpolicy_load(NULL, &p, err, sizeof err),
			 FT_EINVAL);
	ck_assert_int_eq(ft_dpolicy_load("/nonexistent", NULL, err,
					 sizeof err),
			 FT_EINVAL);
}
END_TEST

/* Every strict prefix of a valid policy is refused, without a crash. */
START_TEST(test_truncations)
{
	json_t *r = base();
	char *s = json_dumps(r, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
	size_t n = strlen(s);

	json_decref(r);
	for (size_t i = 0; i < n; i++) {
		ft_dpolicy p;
		char err[256];
		/* A copy of exactly i bytes, so ASan sees any overread. */
		uint8_t *c = malloc(i + 1);

		ck_assert_ptr_nonnull(c);
		memcpy(c, s, i);
		memset(&p, 0xa5, sizeof p);
		int rc = ft_dpolicy_parse(c, i, &p, err,
					  sizeof err);
		ck_assert_msg(rc == FT_EDEVICE_POLICY, "prefix %zu: rc %d", i,
			      rc);
		ck_assert(err[0] != '\0');
		ck_assert(all_zero(&p, sizeof p));
		free(c);
	}
	ft_dpolicy p;
	ck_assert_int_eq(
		ft_dpolicy_parse((const uint8_t *)s, n, &p, NULL, 0), 0);
	free(s);
}
END_TEST

/* ---- vendor_index. */

START_TEST(test_vendor_index)
{
	ft_dpolicy p;
	char kid[FT_EVENT_KEYID_MAX + 8];

	good(base(), &p);
	for (int i = 0; i < 3; i++) {
		ck_assert_int_eq(ft_dpolicy_vendor_index(&p, VEND_KID[i]), i);
	}
	ck_assert_int_eq(ft_dpolicy_vendor_index(&p, VEND_KID[3]), -1);
	ck_assert_int_eq(ft_dpolicy_vendor_index(&p, ""), -1);
	ck_assert_int_eq(ft_dpolicy_vendor_index(&p, NULL), -1);
	ck_assert_int_eq(ft_dpolicy_vendor_index(NULL, VEND_KID[0]), -1);
	ck_assert_int_eq(ft_dpolicy_vendor_index(&p, VEND_VK[0].name), -1);
	ck_assert_int_eq(ft_dpolicy_vendor_index(&p, VEND_S[0]), -1);
	/* The log key and witnesses are not vendor keys. */
	ck_assert_int_eq(ft_event_keyid(&LOG_VK, kid, sizeof kid), 0);
	ck_assert_int_eq(ft_dpolicy_vendor_index(&p, kid), -1);
	ck_assert_int_eq(ft_event_keyid(&WIT_VK[0], kid, sizeof kid), 0);
	ck_assert_int_eq(ft_dpolicy_vendor_index(&p, kid), -1);
	/* Prefix, extension, case, a wrong hex digit. */
	snprintf(kid, sizeof kid, "%s", VEND_KID[1]);
	kid[strlen(kid) - 1] = '\0';
	ck_assert_int_eq(ft_dpolicy_vendor_index(&p, kid), -1);
	snprintf(kid, sizeof kid, "%sx", VEND_KID[1]);
	ck_assert_int_eq(ft_dpolicy_vendor_index(&p, kid), -1);
	snprintf(kid, sizeof kid, "%s", VEND_KID[1]);
	kid[0] = 'A';
	ck_assert_int_eq(ft_dpolicy_vendor_index(&p, kid), -1);
	snprintf(kid, sizeof kid, "%s", VEND_KID[1]);
	char *h = strchr(kid, '+') + 1;
	*h = *h == '0' ? '1' : '0';
	ck_assert_int_eq(ft_dpolicy_vendor_index(&p, kid), -1);
	/* Upper-case hex: keyids are lowercase, as ft_event_keyid forms. */
	snprintf(kid, sizeof kid, "%s+%08" PRIX32, VEND_VK[1].name,
		 VEND_VK[1].id);
	if (strcmp(kid, VEND_KID[1]) != 0) {
		ck_assert_int_eq(ft_dpolicy_vendor_index(&p, kid), -1);
	}
	/* A zeroed policy (what a failed parse leaves) matches nothing. */
	memset(&p, 0, sizeof p);
	ck_assert_int_eq(ft_dpolicy_vendor_index(&p, ""), -1);
	ck_assert_int_eq(ft_dpolicy_vendor_index(&p, VEND_KID[0]), -1);
}
END_TEST

/* A JSON array of the key strings k[0..n). */
static json_t *keys_json(char (*k)[FT_KEY_STR_MAX + 1], size_t n)
{
	json_t *a = json_array();

	for (size_t i = 0; i < n; i++) {
		json_array_append_new(a, json_string(k[i]));
	}
	return a;
}

START_TEST(test_vendor_revoked)
{
	ft_dpolicy p;
	json_t *r;

	/* Keys 3 and 4 revoked: parsed, keyids formed, found only there. */
	r = base();
	put(sect(r, "vendor"), "revoked", keys_json(&VEND_S[3], 2));
	good(r, &p);
	ck_assert_uint_eq(p.n_revoked, 2);
	ck_assert_str_eq(p.revoked_keyid[0], VEND_KID[3]);
	ck_assert_str_eq(p.revoked_keyid[1], VEND_KID[4]);
	ck_assert_int_eq(ft_dpolicy_revoked_index(&p, VEND_KID[4]), 1);
	ck_assert_int_eq(ft_dpolicy_revoked_index(&p, VEND_KID[0]), -1);
	ck_assert_int_eq(ft_dpolicy_vendor_index(&p, VEND_KID[3]), -1);
	ck_assert_int_eq(ft_dpolicy_revoked_index(&p, NULL), -1);
	/* An empty list is allowed, and none is the default. */
	r = base();
	put(sect(r, "vendor"), "revoked", json_array());
	good(r, &p);
	ck_assert_uint_eq(p.n_revoked, 0);
	good(base(), &p);
	ck_assert_uint_eq(p.n_revoked, 0);
	ck_assert_int_eq(ft_dpolicy_revoked_index(&p, VEND_KID[3]), -1);

	/* A key both trusted and revoked, by key or by name. */
	r = base();
	put(sect(r, "vendor"), "revoked", keys_json(&VEND_S[1], 1));
	bad(r, "vendor.revoked[0]: also in vendor.keys (vendor.keys[1])");
	r = base();
	json_t *a = keys_json(&VEND_S[3], 1);
	json_array_append_new(a, json_string(VEND0_RENAMED));
	put(sect(r, "vendor"), "revoked", a);
	bad(r, "vendor.revoked[1]: also in vendor.keys (vendor.keys[0])");
	/* Types, duplicates, size. */
	r = base();
	put(sect(r, "vendor"), "revoked", json_string(VEND_S[3]));
	bad(r, "vendor.revoked: must be an array of 0..16 keys");
	r = base();
	a = keys_json(&VEND_S[3], 1);
	json_array_append_new(a, json_string(VEND_S[3]));
	put(sect(r, "vendor"), "revoked", a);
	bad(r, "vendor.revoked[1]: duplicate key name");
	r = base();
	put(sect(r, "vendor"), "revoked", keys_json(&WIT_S[0], 1));
	bad(r, "vendor.revoked[0]: key \"witness-00.example.org/w\" has "
	       "type 0x04");
	r = base();
	put(sect(r, "vendor"), "revoked", keys_json(&VEND_S[0], NV));
	bad(r, "vendor.revoked: must be an array of 0..16 keys");
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

static void load_bad(const char *path, int want_rc, const char *want)
{
	ft_dpolicy p;
	char err[512];

	memset(&p, 0xa5, sizeof p);
	int rc = ft_dpolicy_load(path, &p, err, sizeof err);
	ck_assert_msg(rc == want_rc, "%s: rc %d (%s), want %d", path, rc, err,
		      want_rc);
	ck_assert_msg(strncmp(err, path, strlen(path)) == 0 &&
			      strncmp(err + strlen(path), ": ", 2) == 0,
		      "reason \"%s\" does not start with the path", err);
	ck_assert_msg(strstr(err, want) != NULL, "reason \"%s\" lacks \"%s\"",
		      err, want);
	assert_line(err, sizeof err);
	ck_assert(all_zero(&p, sizeof p));
}

START_TEST(test_load)
{
	ft_dpolicy p;
	char err[512];
	json_t *r = base();
	char *s = dump(r);
	size_t n = strlen(s);

	json_decref(r);
	char *good_path = tu_strf("%s/device-policy.json", g_dir);
	ck_assert_int_eq(tu_write_file(good_path, s, n), 0);
	ck_assert_int_eq(ft_dpolicy_load(good_path, &p, err, sizeof err), 0);
	ck_assert_str_eq(p.product, "gnb-du");
	ck_assert_uint_eq(p.n_vendor, 3);

	char *missing = tu_strf("%s/nope.json", g_dir);
	load_bad(missing, FT_EIO, "cannot open");

	load_bad(g_dir, FT_EDEVICE_POLICY, "not a regular file");

	/* A FIFO is refused without blocking (no writer exists). */
	char *fifo = tu_strf("%s/fifo", g_dir);
	ck_assert_int_eq(mkfifo(fifo, 0600), 0);
	load_bad(fifo, FT_EDEVICE_POLICY, "not a regular file");

	/* Exactly at the cap: the policy padded with white space. */
	char *at = tu_strf("%s/at-cap.json", g_dir);
	char *pad = malloc(FT_DPOLICY_FILE_MAX + 1);
	ck_assert_ptr_nonnull(pad);
	memset(pad, ' ', FT_DPOLICY_FILE_MAX + 1);
	memcpy(pad, s, n);
	pad[FT_DPOLICY_FILE_MAX - 1] = '\n';
	ck_assert_int_eq(tu_write_file(at, pad, FT_DPOLICY_FILE_MAX), 0);
	memset(&p, 0xa5, sizeof p);
	ck_assert_int_eq(ft_dpolicy_load(at, &p, err, sizeof err), 0);
	ck_assert_str_eq(err, "");
	ck_assert_uint_eq(p.threshold, 2);

	/* One byte more: refused before reading. */
	char *over = tu_strf("%s/over-cap.json", g_dir);
	ck_assert_int_eq(tu_write_file(over, pad, FT_DPOLICY_FILE_MAX + 1),
			 0);
	load_bad(over, FT_ETOOBIG, "larger than 65536 bytes");
	/* Much larger (sparse): the same. */
	char *huge = tu_strf("%s/huge.json", g_dir);
	int fd = open(huge, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(ftruncate(fd, (off_t)1 << 33), 0);
	ck_assert_int_eq(close(fd), 0);
	load_bad(huge, FT_ETOOBIG, "larger than 65536 bytes");

	/* A bad policy: the path, then the field reason. */
	char *badp = tu_strf("%s/bad.json", g_dir);
	r = base();
	put(sect(r, "vendor"), "threshold", json_integer(9));
	char *bs = dump(r);
	json_decref(r);
	ck_assert_int_eq(tu_write_file(badp, bs, strlen(bs)), 0);
	load_bad(badp, FT_EDEVICE_POLICY,
		 "vendor.threshold: 9 is more than the 3 vendor keys");
	free(bs);

	/* An empty file. */
	char *empty = tu_strf("%s/empty.json", g_dir);
	ck_assert_int_eq(tu_write_file(empty, "", 0), 0);
	load_bad(empty, FT_EDEVICE_POLICY, "json: ");

	/* err may be NULL. */
	ck_assert_int_eq(ft_dpolicy_load(good_path, &p, NULL, 0), 0);
	ck_assert_int_eq(ft_dpolicy_load(missing, &p, NULL, 0), FT_EIO);

	free(pad);
	free(s);
	free(good_path);
	free(missing);
	free(fifo);
	free(at);
	free(over);
	free(huge);
	free(badp);
	free(empty);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("dpolicy");
	TCase *tp = tcase_create("parse");

	tcase_set_timeout(tp, 60);
	tcase_add_checked_fixture(tp, keys_setup, NULL);
	tcase_add_test(tp, test_full);
	tcase_add_test(tp, test_defaults);
	tcase_add_test(tp, test_err_version_and_shape);
	tcase_add_test(tp, test_err_log);
	tcase_add_test(tp, test_err_witnesses);
	tcase_add_test(tp, test_err_vendor);
	tcase_add_test(tp, test_err_names_and_age);
	tcase_add_test(tp, test_err_quoting);
	tcase_add_test(tp, test_err_args_and_size);
	tcase_add_test(tp, test_truncations);
	tcase_add_test(tp, test_vendor_index);
	tcase_add_test(tp, test_vendor_revoked);
	suite_add_tcase(s, tp);

	TCase *tl = tcase_create("load");
	tcase_set_timeout(tl, 30);
	tcase_add_checked_fixture(tl, dir_setup, dir_teardown);
	tcase_add_test(tl, test_load);
	suite_add_tcase(s, tl);

	return tu_run_suite(s);
}
