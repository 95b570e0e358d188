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

#define QUOTE_MAX 40 /* bytes of input quoted in a reason */
#define QUOTE_BUF (QUOTE_MAX + 4)

#define PERR FT_EDEVICE_POLICY

/* ---- Reasons. */

static void vset(char *buf, size_t cap, const char *fmt, va_list ap)
	__attribute__((format(printf, 3, 0)));

/* Format into buf (if any) and keep it to one line of printable bytes. */
static void vset(char *buf, size_t cap, const char *fmt, va_list ap)
{
	if (buf == NULL || cap == 0) {
		return;
	}
	int n = vsnprintf(buf, cap, fmt, ap);
	if (n < 0) {
		buf[0] = '\0';
		return;
	}
	for (char *c = buf; *c != '\0'; c++) {
		unsigned char u = (unsigned char)*c;

		if (u < 0x20 || u == 0x7f) {
			*c = ' ';
		}
	}
}

static void set(char *buf, size_t cap, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static void set(char *buf, size_t cap, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vset(buf, cap, fmt, ap);
	va_end(ap);
}

/*
 * Copy at most QUOTE_MAX bytes of s[0..n) into out (QUOTE_BUF bytes) as
 * printable ASCII: other bytes, '"' and '\\' become '?'; "..." marks a cut.
 */
static const char *quote(char out[QUOTE_BUF], const char *s, size_t n)
{
	size_t k = n < QUOTE_MAX ? n : QUOTE_MAX;
	size_t o = 0;

	for (size_t i = 0; i < k; i++) {
		unsigned char u = (unsigned char)s[i];

		out[o++] = (u < 0x20 || u >= 0x7f || u == '"' || u == '\\')
				   ? '?'
				   : (char)u;
	}
	if (k < n) {
		out[o++] = '.';
		out[o++] = '.';
		out[o++] = '.';
	}
	out[o] = '\0';
	return out;
}

static const char *quotez(char out[QUOTE_BUF], const char *s)
{
	return quote(out, s, strnlen(s, QUOTE_MAX + 1));
}

/* ---- Field helpers. */

/*
 * Refuse any field of object o (at path; "" for the top level) not among
 * the NULL-terminated `known`.
 */
static int check_fields(json_t *o, const char *path,
			const char *const *known, char *err, size_t cap)
{
	const char *name;
	json_t *v;

	json_object_foreach(o, name, v) {
		bool ok = false;

		for (size_t i = 0; known[i] != NULL; i++) {
			if (strcmp(name, known[i]) == 0) {
				ok = true;
				break;
			}
		}
		if (!ok) {
			char q[QUOTE_BUF];

			set(err, cap, "%s%sunknown field \"%s\"", path,
			    path[0] != '\0' ? ": " : "", quotez(q, name));
			return PERR;
		}
	}
	return 0;
}

/* An integer in [min, max] at path (no reals, no booleans, no negatives). */
static int get_uint(json_t *v, const char *path, uint64_t min, uint64_t max,
		    uint64_t *out, char *err, size_t cap)
{
	if (!json_is_integer(v)) {
		set(err, cap, "%s: must be an integer", path);
		return PERR;
	}
	json_int_t i = json_integer_value(v);
	if (i < 0 || (uint64_t)i < min || (uint64_t)i > max) {
		set(err, cap,
		    "%s: %" JSON_INTEGER_FORMAT " is out of range %" PRIu64
		    "..%" PRIu64,
		    path, i, min, max);
		return PERR;
	}
	*out = (uint64_t)i;
	return 0;
}

/* An object at path, its fields among `known`. */
static int get_object(json_t *v, const char *path, const char *const *known,
		      char *err, size_t cap)
{
	if (!json_is_object(v)) {
		set(err, cap, "%s: must be an object", path);
		return PERR;
	}
	return check_fields(v, path, known, err, cap);
}

/* A verifier key string of type `type` at path into *k. */
static int get_key(json_t *v, const char *path, uint8_t type, ft_vkey *k,
		   char *err, size_t cap)
{
	char q[QUOTE_BUF];

	if (!json_is_string(v)) {
		set(err, cap, "%s: must be a string", path);
		return PERR;
	}
	const char *s = json_string_value(v);
	size_t n = json_string_length(v);
	int rc = ft_vkey_parse(s, n, k);
	if (rc != 0) {
		set(err, cap, "%s: invalid verifier key \"%s\" (%s)", path,
		    quote(q, s, n), ft_strerror(rc));
		memset(k, 0, sizeof *k);
		return PERR;
	}
	if (k->type != type) {
		set(err, cap, "%s: key \"%s\" has type 0x%02x, must be %s",
		    path, quote(q, k->name, k->name_len), (unsigned)k->type,
		    type == FT_KEY_ED25519
			    ? "an Ed25519 note key (0x01)"
			    : "a cosignature/v1 key (0x04)");
		memset(k, 0, sizeof *k);
		return PERR;
	}
	return 0;
}

/*
 * The "keys" array of `section` ("witnesses" or "vendor"): min..max keys
 * of `type`, distinct by name and by public key, into keys[], count *n.
 */
static int get_keys(json_t *a, const char *section, size_t min, size_t max,
		    uint8_t type, ft_vkey *keys, size_t *n, char *err,
		    size_t cap)
{
	if (!json_is_array(a) || json_array_size(a) < min ||
	    json_array_size(a) > max) {
		set(err, cap, "%s.keys: must be an array of %zu..%zu keys",
		    section, min, max);
		return PERR;
	}
	size_t cnt = json_array_size(a);
	for (size_t i = 0; i < cnt; i++) {
		char path[64];
		char q[QUOTE_BUF];

		snprintf(path, sizeof path, "%s.keys[%zu]", section, i);
		int rc = get_key(json_array_get(a, i), path, type, &keys[i],
				 err, cap);
		if (rc != 0) {
			return rc;
		}
		for (size_t j = 0; j < i; j++) {
			if (keys[j].name_len == keys[i].name_len &&
			    memcmp(keys[j].name, keys[i].name,
				   keys[i].name_len) == 0) {
				set(err, cap,
				    "%s: duplicate key name \"%s\" (also "
				    "%s.keys[%zu])",
				    path,
				    quote(q, keys[i].name, keys[i].name_len),
				    section, j);
				return PERR;
			}
			if (memcmp(keys[j].pk, keys[i].pk, 32) == 0) {
				set(err, cap,
				    "%s: duplicate public key (also "
				    "%s.keys[%zu])",
				    path, section, j);
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
	char q[QUOTE_BUF];

	if (!json_is_string(v)) {
		set(err, cap, "%s: must be a string", path);
		return PERR;
	}
	const char *s = json_string_value(v);
	size_t n = json_string_length(v);
	if (n == 0 || n > FT_DPOLICY_NAME_MAX) {
		set(err, cap, "%s: must be 1..%d bytes", path,
		    FT_DPOLICY_NAME_MAX);
		return PERR;
	}
	for (size_t i = 0; i < n; i++) {
		if (!ok((unsigned char)s[i])) {
			set(err, cap, "%s: \"%s\" may only hold %s", path,
			    quote(q, s, n), rule);
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
		set(err, cap, "log: missing");
		return PERR;
	}
	int rc = get_object(v, "log", fields, err, cap);
	if (rc != 0) {
		return rc;
	}
	json_t *k = json_object_get(v, "key");
	if (k == NULL) {
		set(err, cap, "log.key: missing");
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
		set(err, cap, "witnesses.keys: missing");
		return PERR;
	}
	rc = get_keys(a, "witnesses", 0, FT_DPOLICY_MAX_WITNESSES,
		      FT_KEY_COSIG_V1, p->witnesses, &p->n_witnesses, err,
		      cap);
	if (rc != 0) {
		return rc;
	}
	json_t *q = json_object_get(v, "quorum");
	if (q == NULL) {
		set(err, cap, "witnesses.quorum: missing");
		return PERR;
	}
	rc = get_uint(q, "witnesses.quorum", 0, FT_DPOLICY_MAX_WITNESSES, &u,
		      err, cap);
	if (rc != 0) {
		return rc;
	}
	if (u > p->n_witnesses) {
		set(err, cap,
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
	static const char *const fields[] = {"threshold", "keys", NULL};
	uint64_t u;

	if (v == NULL) {
		set(err, cap, "vendor: missing");
		return PERR;
	}
	int rc = get_object(v, "vendor", fields, err, cap);
	if (rc != 0) {
		return rc;
	}
	json_t *a = json_object_get(v, "keys");
	if (a == NULL) {
		set(err, cap, "vendor.keys: missing");
		return PERR;
	}
	rc = get_keys(a, "vendor", 1, FT_DPOLICY_MAX_VENDOR_KEYS,
		      FT_KEY_ED25519, p->vendor, &p->n_vendor, err, cap);
	if (rc != 0) {
		return rc;
	}
	for (size_t i = 0; i < p->n_vendor; i++) {
		/* Cannot fail: names are at most FT_KEY_NAME_MAX bytes. */
		rc = ft_event_keyid(&p->vendor[i], p->vendor_keyid[i],
				    sizeof p->vendor_keyid[i]);
		if (rc != 0) {
			set(err, cap, "vendor.keys[%zu]: cannot form its "
				      "keyid (%s)",
			    i, ft_strerror(rc));
			return PERR;
		}
	}
	json_t *t = json_object_get(v, "threshold");
	if (t == NULL) {
		set(err, cap, "vendor.threshold: missing");
		return PERR;
	}
	rc = get_uint(t, "vendor.threshold", 1, FT_DPOLICY_MAX_VENDOR_KEYS,
		      &u, err, cap);
	if (rc != 0) {
		return rc;
	}
	if (u > p->n_vendor) {
		set(err, cap,
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
		set(err, cap, "policy: must be a JSON object");
		return PERR;
	}
	/* The version first: a newer file's fields are then explained. */
	json_t *v = json_object_get(root, "ftlog_device_policy");
	if (v == NULL) {
		set(err, cap, "ftlog_device_policy: missing (must be 1)");
		return PERR;
	}
	if (!json_is_integer(v) || json_integer_value(v) != 1) {
		set(err, cap, "ftlog_device_policy: must be 1");
		return PERR;
	}
	rc = check_fields(root, "", fields, err, cap);
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
		set(err, cap, "product: missing");
		return PERR;
	}
	rc = get_name(v, "product", product_char, "A-Z a-z 0-9 . _ -",
		      p->product, err, cap);
	if (rc != 0) {
		return rc;
	}
	if ((v = json_object_get(root, "hardware_model")) == NULL) {
		set(err, cap, "hardware_model: missing");
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
		rc = get_uint(v, "max_checkpoint_age", FT_DPOLICY_AGE_MIN,
			      FT_DPOLICY_AGE_MAX, &u, err, cap);
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
	json_error_t jerr;

	set(err, cap, "%s", "");
	if (out == NULL) {
		set(err, cap, "policy: no output");
		return FT_EINVAL;
	}
	memset(out, 0, sizeof *out);
	if (buf == NULL) {
		set(err, cap, "policy: no input");
		return FT_EINVAL;
	}
	if (len > FT_DPOLICY_FILE_MAX) {
		set(err, cap, "policy: larger than %d bytes",
		    FT_DPOLICY_FILE_MAX);
		return FT_ETOOBIG;
	}
	/* Without JSON_DECODE_ANY the text must be one object or array;
	 * jansson refuses trailing bytes (but white space) itself, and
	 * "\u0000" in strings unless JSON_ALLOW_NUL is given. */
	json_t *root = json_loadb((const char *)buf, len,
				  JSON_REJECT_DUPLICATES, &jerr);
	if (root == NULL) {
		if (json_error_code(&jerr) == json_error_out_of_memory) {
			set(err, cap, "out of memory");
			return FT_ENOMEM;
		}
		set(err, cap, "json: line %d column %d: %s", jerr.line,
		    jerr.column, jerr.text);
		return PERR;
	}
	int rc = parse_root(out, root, err, cap);
	json_decref(root);
	if (rc != 0) {
		memset(out, 0, sizeof *out);
		return rc;
	}
	set(err, cap, "%s", "");
	return 0;
}

int ft_dpolicy_load(const char *path, ft_dpolicy *out, char *err, size_t cap)
{
	struct stat st;
	uint8_t *buf = NULL;
	size_t got = 0, want;
	int rc = FT_EIO;

	set(err, cap, "%s", "");
	if (out == NULL) {
		set(err, cap, "policy: no output");
		return FT_EINVAL;
	}
	memset(out, 0, sizeof *out);
	if (path == NULL) {
		set(err, cap, "policy: no file");
		return FT_EINVAL;
	}
	/* O_NONBLOCK: a FIFO must not hang us before fstat refuses it. */
	int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
	if (fd < 0) {
		set(err, cap, "%s: cannot open: %s", path, strerror(errno));
		return FT_EIO;
	}
	if (fstat(fd, &st) != 0) {
		set(err, cap, "%s: cannot stat: %s", path, strerror(errno));
		goto out;
	}
	if (!S_ISREG(st.st_mode)) {
		set(err, cap, "%s: not a regular file", path);
		rc = PERR;
		goto out;
	}
	if (st.st_size < 0 || st.st_size > FT_DPOLICY_FILE_MAX) {
		set(err, cap, "%s: larger than %d bytes", path,
		    FT_DPOLICY_FILE_MAX);
		rc = FT_ETOOBIG;
		goto out;
	}
	/* One byte more than stat said, to see a file that grew meanwhile. */
	want = (size_t)st.st_size + 1;
	buf = malloc(want);
	if (buf == NULL) {
		set(err, cap, "%s: out of memory", path);
		rc = FT_ENOMEM;
		goto out;
	}
	while (got < want) {
		ssize_t r = read(fd, buf + got, want - got);

		if (r < 0) {
			if (errno == EINTR) {
				continue;
			}
			set(err, cap, "%s: cannot read: %s", path,
			    strerror(errno));
			rc = FT_EIO;
			goto out;
		}
		if (r == 0) {
			break;
		}
		got += (size_t)r;
	}
	if (got == want) {
		set(err, cap, "%s: changed while being read", path);
		rc = FT_EIO;
		goto out;
	}
	char perr[256];
	rc = ft_dpolicy_parse(buf, got, out, perr, sizeof perr);
	if (rc != 0) {
		set(err, cap, "%s: %s", path, perr);
	}
out:
	free(buf);
	close(fd); /* read only: nothing to lose */
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
