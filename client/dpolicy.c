/*
 * client/dpolicy.c - the device trust policy (client/dpolicy.h,
 * docs/device-policy.md).
 *
 * The same strict style as the server's policy (logd/policy.c): jansson
 * with JSON_REJECT_DUPLICATES and no trailing bytes, every field known,
 * typed and in range, and a one-line reason that names the field path.
 * The result is a fixed-size struct: everything is copied out of the JSON
 * tree, which is freed before returning.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <jansson.h>

#include "client/dpolicy.h"
#include "event/jsonutil.h"


#define PERR FT_EDEVICE_POLICY

/* ---- Field helpers. */

/* An object at path, its fields among `known`. */
static int get_object(json_t *v, const char *path, const char *const *known,
		      char *err, size_t cap)
{
	if (!json_is_object(v)) {
		ft_ju_set(err, cap, "%s: must be an object", path);
		return PERR;
	}
	return ft_ju_check_fields(v, path, known, PERR, err, cap);
}

/* A verifier key string of type `type` at path into *k. */
static int get_key(json_t *v, const char *path, uint8_t type, ft_vkey *k,
		   char *err, size_t cap)
{
	char q[FT_JU_QUOTE_BUF];

	if (!json_is_string(v)) {
		ft_ju_set(err, cap, "%s: must be a string", path);
		return PERR;
	}
	const char *s = json_string_value(v);
	size_t n = json_string_length(v);
	int rc = ft_vkey_parse(s, n, k);
	if (rc != 0) {
		ft_ju_set(err, cap, "%s: invalid verifier key \"%s\" (%s)", path,
		    ft_ju_quote(q, s, n), ft_strerror(rc));
		memset(k, 0, sizeof *k);
		return PERR;
	}
	if (k->type != type) {
		ft_ju_set(err, cap, "%s: key \"%s\" has type 0x%02x, must be %s",
		    path, ft_ju_quote(q, k->name, k->name_len), (unsigned)k->type,
		    type == FT_KEY_ED25519
			    ? "an Ed25519 note key (0x01)"
			    : "a cosignature/v1 key (0x04)");
		memset(k, 0, sizeof *k);
		return PERR;
	}
	return 0;
}

/*
 * The key array `field` ("witnesses.keys", "vendor.keys", ...): min..max keys
 * of `type`, distinct by name and by public key, into keys[], count *n.
 */
static int get_keys(json_t *a, const char *field, size_t min, size_t max,
		    uint8_t type, ft_vkey *keys, size_t *n, char *err,
		    size_t cap)
{
	if (!json_is_array(a) || json_array_size(a) < min ||
	    json_array_size(a) > max) {
		ft_ju_set(err, cap, "%s: must be an array of %zu..%zu keys",
		    field, min, max);
		return PERR;
	}
	size_t cnt = json_array_size(a);
	for (size_t i = 0; i < cnt; i++) {
		char path[64];
		char q[FT_JU_QUOTE_BUF];

		snprintf(path, sizeof path, "%s[%zu]", field, i);
		int rc = get_key(json_array_get(a, i), path, type, &keys[i],
				 err, cap);
		if (rc != 0) {
			return rc;
		}
		for (size_t j = 0; j < i; j++) {
			if (keys[j].name_len == keys[i].name_len &&
			    memcmp(keys[j].name, keys[i].name,
				   keys[i].name_len) == 0) {
				ft_ju_set(err, cap,
				    "%s: duplicate key name \"%s\" (also "
				    "%s[%zu])",
				    path,
				    ft_ju_quote(q, keys[i].name, keys[i].name_len),
				    field, j);
				return PERR;
			}
			if (memcmp(keys[j].pk, keys[i].pk, 32) == 0) {
				ft_ju_set(err, cap,
				    "%s: duplicate public key (also "
				    "%s[%zu])",
				    path, field, j);
				return PERR;
			}
		}
		*n = i + 1;
	}
	return 0;
}

/* 1 if c may appear in a product: [A-Za-z0-9._-] (docs/events.md). */
static bool product_char(unsigned char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
	       (c >= '0' && c <= '9') || c == '.' || c == '_' || c == '-';
}

/* 1 if c is a token byte: printable ASCII without space. */
static bool token_char(unsigned char c)
{
	return c >= 0x21 && c <= 0x7e;
}

/* A 1..FT_DPOLICY_NAME_MAX byte string of allowed bytes into out. */
static int get_name(json_t *v, const char *path, bool (*ok)(unsigned char),
		    const char *rule, char out[FT_DPOLICY_NAME_MAX + 1],
		    char *err, size_t cap)
{
	char q[FT_JU_QUOTE_BUF];

	if (!json_is_string(v)) {
		ft_ju_set(err, cap, "%s: must be a string", path);
		return PERR;
	}
	const char *s = json_string_value(v);
	size_t n = json_string_length(v);
	if (n == 0 || n > FT_DPOLICY_NAME_MAX) {
		ft_ju_set(err, cap, "%s: must be 1..%d bytes", path,
		    FT_DPOLICY_NAME_MAX);
		return PERR;
	}
	for (size_t i = 0; i < n; i++) {
		if (!ok((unsigned char)s[i])) {
			ft_ju_set(err, cap, "%s: \"%s\" may only hold %s", path,
			    ft_ju_quote(q, s, n), rule);
			return PERR;
		}
	}
	memcpy(out, s, n);
	out[n] = '\0';
	return 0;
}

/* ---- Sections. */

static int parse_log(ft_dpolicy *p, json_t *v, char *err, size_t cap)
{
	static const char *const fields[] = {"key", NULL};

	if (v == NULL) {
		ft_ju_set(err, cap, "log: missing");
		return PERR;
	}
	int rc = get_object(v, "log", fields, err, cap);
	if (rc != 0) {
		return rc;
	}
	json_t *k = json_object_get(v, "key");
	if (k == NULL) {
		ft_ju_set(err, cap, "log.key: missing");
		return PERR;
	}
	return get_key(k, "log.key", FT_KEY_ED25519, &p->log, err, cap);
}

static int parse_witnesses(ft_dpolicy *p, json_t *v, char *err, size_t cap)
{
	static const char *const fields[] = {"quorum", "keys", NULL};
	uint64_t u;

	if (v == NULL) { /* no witnesses: quorum 0 */
		return 0;
	}
	int rc = get_object(v, "witnesses", fields, err, cap);
	if (rc != 0) {
		return rc;
	}
	json_t *a = json_object_get(v, "keys");
	if (a == NULL) {
		ft_ju_set(err, cap, "witnesses.keys: missing");
		return PERR;
	}
	rc = get_keys(a, "witnesses.keys", 0, FT_DPOLICY_MAX_WITNESSES,
		      FT_KEY_COSIG_V1, p->witnesses, &p->n_witnesses, err,
		      cap);
	if (rc != 0) {
		return rc;
	}
	json_t *q = json_object_get(v, "quorum");
	if (q == NULL) {
		ft_ju_set(err, cap, "witnesses.quorum: missing");
		return PERR;
	}
	rc = ft_ju_get_uint(q, "witnesses.quorum", 0, FT_DPOLICY_MAX_WITNESSES, &u, PERR, err, cap);
	if (rc != 0) {
		return rc;
	}
	if (u > p->n_witnesses) {
		ft_ju_set(err, cap,
		    "witnesses.quorum: %" PRIu64 " is more than the %zu "
		    "witness key%s",
		    u, p->n_witnesses, p->n_witnesses == 1 ? "" : "s");
		return PERR;
	}
	p->quorum = (unsigned)u;
	return 0;
}

static int parse_vendor(ft_dpolicy *p, json_t *v, char *err, size_t cap)
{
	static const char *const fields[] = {"threshold", "keys", "revoked",
					     NULL};
	uint64_t u;

	if (v == NULL) {
		ft_ju_set(err, cap, "vendor: missing");
		return PERR;
	}
	int rc = get_object(v, "vendor", fields, err, cap);
	if (rc != 0) {
		return rc;
	}
	json_t *a = json_object_get(v, "keys");
	if (a == NULL) {
		ft_ju_set(err, cap, "vendor.keys: missing");
		return PERR;
	}
	rc = get_keys(a, "vendor.keys", 1, FT_DPOLICY_MAX_VENDOR_KEYS,
		      FT_KEY_ED25519, p->vendor, &p->n_vendor, err, cap);
	if (rc != 0) {
		return rc;
	}
	for (size_t i = 0; i < p->n_vendor; i++) {
		/* Cannot fail: names are at most FT_KEY_NAME_MAX bytes. */
		rc = ft_event_keyid(&p->vendor[i], p->vendor_keyid[i],
				    sizeof p->vendor_keyid[i]);
		if (rc != 0) {
			ft_ju_set(err, cap, "vendor.keys[%zu]: cannot form its "
				      "keyid (%s)",
			    i, ft_strerror(rc));
			return PERR;
		}
	}
	a = json_object_get(v, "revoked");
	if (a != NULL) {
		rc = get_keys(a, "vendor.revoked", 0, FT_DPOLICY_MAX_REVOKED,
			      FT_KEY_ED25519, p->revoked, &p->n_revoked, err,
			      cap);
		if (rc != 0) {
			return rc;
		}
	}
	for (size_t i = 0; i < p->n_revoked; i++) {
		for (size_t j = 0; j < p->n_vendor; j++) {
			if (memcmp(p->revoked[i].pk, p->vendor[j].pk, 32) ==
				    0 ||
			    (p->revoked[i].name_len == p->vendor[j].name_len &&
			     memcmp(p->revoked[i].name, p->vendor[j].name,
				    p->vendor[j].name_len) == 0)) {
				ft_ju_set(err, cap,
				    "vendor.revoked[%zu]: also in vendor.keys "
				    "(vendor.keys[%zu])",
				    i, j);
				return PERR;
			}
		}
		rc = ft_event_keyid(&p->revoked[i], p->revoked_keyid[i],
				    sizeof p->revoked_keyid[i]);
		if (rc != 0) {
			ft_ju_set(err, cap, "vendor.revoked[%zu]: cannot form "
				      "its keyid (%s)",
			    i, ft_strerror(rc));
			return PERR;
		}
	}
	json_t *t = json_object_get(v, "threshold");
	if (t == NULL) {
		ft_ju_set(err, cap, "vendor.threshold: missing");
		return PERR;
	}
	rc = ft_ju_get_uint(t, "vendor.threshold", 1, FT_DPOLICY_MAX_VENDOR_KEYS,
		      &u, PERR, err, cap);
	if (rc != 0) {
		return rc;
	}
	if (u > p->n_vendor) {
		ft_ju_set(err, cap,
		    "vendor.threshold: %" PRIu64 " is more than the %zu "
		    "vendor key%s",
		    u, p->n_vendor, p->n_vendor == 1 ? "" : "s");
		return PERR;
	}
	p->threshold = (unsigned)u;
	return 0;
}

static int parse_root(ft_dpolicy *p, json_t *root, char *err, size_t cap)
{
	static const char *const fields[] = {
		"ftlog_device_policy", "log",		 "witnesses",
		"vendor",	       "product",	 "hardware_model",
		"max_checkpoint_age",  NULL};
	uint64_t u;
	int rc;

	if (!json_is_object(root)) {
		ft_ju_set(err, cap, "policy: must be a JSON object");
		return PERR;
	}
	/* The version first: a newer file's fields are then explained. */
	json_t *v = json_object_get(root, "ftlog_device_policy");
	if (v == NULL) {
		ft_ju_set(err, cap, "ftlog_device_policy: missing (must be 1)");
		return PERR;
	}
	if (!json_is_integer(v) || json_integer_value(v) != 1) {
		ft_ju_set(err, cap, "ftlog_device_policy: must be 1");
		return PERR;
	}
	rc = ft_ju_check_fields(root, "", fields, PERR, err, cap);
	if (rc != 0) {
		return rc;
	}
	rc = parse_log(p, json_object_get(root, "log"), err, cap);
	if (rc != 0) {
		return rc;
	}
	rc = parse_witnesses(p, json_object_get(root, "witnesses"), err, cap);
	if (rc != 0) {
		return rc;
	}
	rc = parse_vendor(p, json_object_get(root, "vendor"), err, cap);
	if (rc != 0) {
		return rc;
	}
	if ((v = json_object_get(root, "product")) == NULL) {
		ft_ju_set(err, cap, "product: missing");
		return PERR;
	}
	rc = get_name(v, "product", product_char, "A-Z a-z 0-9 . _ -",
		      p->product, err, cap);
	if (rc != 0) {
		return rc;
	}
	if ((v = json_object_get(root, "hardware_model")) == NULL) {
		ft_ju_set(err, cap, "hardware_model: missing");
		return PERR;
	}
	rc = get_name(v, "hardware_model", token_char,
		      "printable ASCII without space", p->hardware_model, err,
		      cap);
	if (rc != 0) {
		return rc;
	}
	p->max_age_s = FT_DPOLICY_AGE_DEFAULT;
	if ((v = json_object_get(root, "max_checkpoint_age")) != NULL) {
		rc = ft_ju_get_uint(v, "max_checkpoint_age", FT_DPOLICY_AGE_MIN,
			      FT_DPOLICY_AGE_MAX, &u, PERR, err, cap);
		if (rc != 0) {
			return rc;
		}
		p->max_age_s = u;
	}
	p->warn_no_quorum = p->quorum == 0;
	return 0;
}

int ft_dpolicy_parse(const uint8_t *buf, size_t len, ft_dpolicy *out,
		     char *err, size_t cap)
{

	ft_ju_set(err, cap, "%s", "");
	if (out == NULL) {
		ft_ju_set(err, cap, "policy: no output");
		return FT_EINVAL;
	}
	memset(out, 0, sizeof *out);
	if (buf == NULL) {
		ft_ju_set(err, cap, "policy: no input");
		return FT_EINVAL;
	}
	if (len > FT_DPOLICY_FILE_MAX) {
		ft_ju_set(err, cap, "policy: larger than %d bytes",
		    FT_DPOLICY_FILE_MAX);
		return FT_ETOOBIG;
	}
	json_t *root = NULL;
	int lrc = ft_ju_load(buf, len, &root, PERR, err, cap);

	if (lrc != 0) {
		return lrc;
	}
	int rc = parse_root(out, root, err, cap);
	json_decref(root);
	if (rc != 0) {
		memset(out, 0, sizeof *out);
		return rc;
	}
	ft_ju_set(err, cap, "%s", "");
	return 0;
}

int ft_dpolicy_load(const char *path, ft_dpolicy *out, char *err, size_t cap)
{
	uint8_t *buf = NULL;
	size_t len = 0;
	char perr[256];
	int rc;

	ft_ju_set(err, cap, "%s", "");
	if (out == NULL) {
		ft_ju_set(err, cap, "policy: no output");
		return FT_EINVAL;
	}
	memset(out, 0, sizeof *out);
	if (path == NULL) {
		ft_ju_set(err, cap, "policy: no file");
		return FT_EINVAL;
	}
	rc = ft_ju_read_file(path, FT_DPOLICY_FILE_MAX, PERR, FT_ETOOBIG, &buf,
			     &len, err, cap);
	if (rc != 0) {
		return rc;
	}
	rc = ft_dpolicy_parse(buf, len, out, perr, sizeof perr);
	free(buf);
	if (rc != 0) {
		ft_ju_set(err, cap, "%s: %s", path, perr);
	}
	return rc;
}

int ft_dpolicy_vendor_index(const ft_dpolicy *p, const char *keyid)
{
	if (p == NULL || keyid == NULL) {
		return -1;
	}
	for (size_t i = 0; i < p->n_vendor && i < FT_DPOLICY_MAX_VENDOR_KEYS;
	     i++) {
		/* strcmp stops at our NUL: it reads at most as many bytes of
		 * keyid as our keyid is long, plus one. */
		if (strcmp(p->vendor_keyid[i], keyid) == 0) {
			return (int)i;
		}
	}
	return -1;
}

int ft_dpolicy_revoked_index(const ft_dpolicy *p, const char *keyid)
{
	if (p == NULL || keyid == NULL) {
		return -1;
	}
	for (size_t i = 0; i < p->n_revoked && i < FT_DPOLICY_MAX_REVOKED;
	     i++) {
		if (strcmp(p->revoked_keyid[i], keyid) == 0) {
			return (int)i;
		}
	}
	return -1;
}
