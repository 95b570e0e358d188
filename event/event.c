/*
 * event/event.c - firmware events: DSSE envelopes carrying in-toto
 * Statement v1 payloads (DESIGN.md section 3, docs/events.md).
 *
 * Parsing goes envelope -> payload -> statement -> predicate and stops at
 * the first failure with a one-line reason "<rule>: <detail>". All JSON is
 * read by jansson with duplicate keys rejected (and, jansson's default, no
 * NUL in strings, valid UTF-8 only, nothing but white space after the
 * value). Strings from the input are never echoed whole: quote() cuts
 * them to QUOTE_MAX bytes of printable ASCII.
 *
 * The parsed event points into the JSON trees, which live in one jansson
 * array (ev->json_) until ft_event_free. Only public symbols of
 * libftmerkle and static inline helpers of merkle/internal.h are used, so
 * this file links against the shared library.
 */
#include <pthread.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>
#include <nettle/sha2.h>
#include <sodium.h>

#include <ftlog/event.h>

#include "merkle/internal.h"

/* jansson rejects NUL in strings unless JSON_ALLOW_NUL is given. */
#define JSON_FLAGS JSON_REJECT_DUPLICATES

/* The largest integer every JSON implementation reads exactly. */
#define JSON_SAFE_MAX 9007199254740991LL /* 2^53 - 1 */

#define ED25519_SIG_LEN 64
#define SHA256_HEX_LEN 64

/* Bytes of input quoted in a reason; longer input ends in "...". */
#define QUOTE_MAX 40
/* Bytes of a jansson error text quoted in a reason. */
#define JSON_ERR_MAX 100

/* "DSSEv1" SP LEN SP type SP LEN SP body: 6 + 4 separators + 2 lengths. */
#define PAE_FIXED 10
/* Decimal digits of a size_t, at most. */
#define SIZE_DIGITS 20

FT_STATIC_ASSERT(FT_EVENT_KEYID_MAX >= FT_KEY_NAME_MAX + 1 + 8,
		 "ftlog's keyids fit ft_dsse_sig.keyid");
FT_STATIC_ASSERT(FT_EVENT_MAX_BYTES < SIZE_MAX / 4,
		 "size arithmetic on entries cannot overflow");

static const char *const kind_names[] = {
	[FT_EVENT_BUILD] = "build",
	[FT_EVENT_RELEASE] = "release",
	[FT_EVENT_DISTRIBUTION] = "distribution",
	[FT_EVENT_REVOCATION] = "revocation",
};

static const char *const kind_uris[] = {
	[FT_EVENT_BUILD] = FT_PRED_BUILD,
	[FT_EVENT_RELEASE] = FT_PRED_RELEASE,
	[FT_EVENT_DISTRIBUTION] = FT_PRED_DISTRIBUTION,
	[FT_EVENT_REVOCATION] = FT_PRED_REVOCATION,
};

#define NKINDS (sizeof kind_names / sizeof kind_names[0])

const char *ft_event_kind_name(int kind)
{
	if (kind <= 0 || (size_t)kind >= NKINDS) {
		return "unknown";
	}
	return kind_names[kind];
}

/* ---- Reasons. */

/* Where a parse writes its reason. */
typedef struct pctx {
	char *reason;
	size_t cap;
} pctx;

/* An input string made safe to show: printable ASCII, cut, one line. */
typedef struct qstr {
	char s[JSON_ERR_MAX + 4];
} qstr;

static const char *quote_n(qstr *q, const char *s, size_t n, size_t max,
			   bool quotes)
{
	size_t k = n < max ? n : max;
	size_t i;

	for (i = 0; i < k; i++) {
		unsigned char ch = (unsigned char)s[i];
		bool ok = ch >= 0x20 && ch < 0x7f && ch != '\\' &&
			  (quotes || ch != '"');

		/* Quotes and backslashes would make a quoted string
		 * ambiguous; control bytes could end the line or drive a
		 * terminal; non-ASCII could be invalid UTF-8. */
		q->s[i] = ok ? (char)ch : '?';
	}
	if (n > max) {
		memcpy(q->s + i, "...", 3);
		i += 3;
	}
	q->s[i] = '\0';
	return q->s;
}

static const char *quote(qstr *q, const char *s, size_t n)
{
	return quote_n(q, s, n, QUOTE_MAX, false);
}

/* Write "<rule>: <detail>" (the format carries the rule) and return code. */
static int fail(const pctx *c, int code, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static int fail(const pctx *c, int code, const char *fmt, ...)
{
	va_list ap;

	if (c->reason == NULL || c->cap == 0) {
		return code;
	}
	va_start(ap, fmt);
	/* A truncated reason is still one NUL-terminated line. */
	if (vsnprintf(c->reason, c->cap, fmt, ap) < 0) {
		c->reason[0] = '\0';
	}
	va_end(ap);
	return code;
}

static int fail_json(const pctx *c, int code, const char *rule,
		     const char *what, const json_error_t *err)
{
	qstr q;

	return fail(c, code, "%s: %s%s (byte %d)", rule, what,
		    quote_n(&q, err->text, strnlen(err->text, sizeof err->text),
			    JSON_ERR_MAX, true),
		    err->position);
}

/* ---- Strict base64 (RFC 4648 sections 4 and 5). */

/*
 * One table for both alphabets: the 6-bit value, plus B64_STD for '+' and
 * '/', B64_URL for '-' and '_' (a string must not use both), B64_BAD for
 * every other byte. A table, not branches: payloads are kilobytes and this
 * runs for every submission.
 */
#define B64_STD 0x40
#define B64_URL 0x80
#define B64_BAD 0xff

static uint8_t b64_tab[256];

static void b64_tab_init(void)
{
	static const char std[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
				  "abcdefghijklmnopqrstuvwxyz0123456789";

	memset(b64_tab, B64_BAD, sizeof(b64_tab));
	for (int v = 0; v < 62; v++) {
		b64_tab[(unsigned char)std[v]] = (uint8_t)v;
	}
	b64_tab['+'] = 62 | B64_STD;
	b64_tab['/'] = 63 | B64_STD;
	b64_tab['-'] = 62 | B64_URL;
	b64_tab['_'] = 63 | B64_URL;
}

static int b64_val(unsigned char ch, int *alpha)
{
	static pthread_once_t once = PTHREAD_ONCE_INIT;
	uint8_t t;

	(void)pthread_once(&once, b64_tab_init);
	t = b64_tab[ch];
	if (t == B64_BAD) {
		return -1;
	}
	*alpha |= t >> 6; /* 1 standard, 2 URL-safe */
	return t & 0x3f;
}

/*
 * Decode base64 in either alphabet (one per string), padded or not, with
 * zero trailing bits: every byte string has exactly one encoding per
 * alphabet and padding choice. *outlen is the decoded length whenever the
 * input is valid, also when FT_EBUFSIZE says it does not fit cap; out may
 * be NULL to measure. FT_EBASE64 on anything else.
 */
static int b64_decode(const char *in, size_t n, uint8_t *out, size_t cap,
		      size_t *outlen)
{
	size_t pad = 0;
	size_t d;
	size_t need;
	int alpha = 0;
	uint32_t acc = 0;
	size_t o = 0;

	while (pad < 2 && pad < n && in[n - 1 - pad] == '=') {
		pad++;
	}
	d = n - pad;
	/* Padding, if any, completes the last quantum exactly. */
	if (d % 4 == 1 || (pad > 0 && (d % 4 == 0 || (d + pad) % 4 != 0))) {
		return FT_EBASE64;
	}
	if (d > 0 && b64_val((unsigned char)in[0], &alpha) < 0) {
		return FT_EBASE64; /* also initialises the table */
	}
	{
		unsigned any = 0;

		for (size_t i = 0; i < d; i++) {
			uint8_t t = b64_tab[(unsigned char)in[i]];

			if (t == B64_BAD) {
				return FT_EBASE64; /* also a third or inner '=' */
			}
			any |= t;
		}
		alpha |= (int)((any >> 6) & 3);
	}
	if (alpha == 3) {
		return FT_EBASE64;
	}
	need = d / 4 * 3 + (d % 4 == 0 ? 0 : d % 4 - 1);
	*outlen = need;
	if (d % 4 != 0) {
		/* The bits below the last whole byte must be zero. */
		int last = b64_val((unsigned char)in[d - 1], &alpha);
		int mask = d % 4 == 2 ? 0x0f : 0x03;

		if ((last & mask) != 0) {
			return FT_EBASE64;
		}
	}
	if (need > cap || out == NULL) {
		return FT_EBUFSIZE;
	}
	for (size_t i = 0; i < d; i++) {
		acc = (acc << 6) | (uint32_t)(b64_tab[(unsigned char)in[i]] & 0x3f);
		if (i % 4 == 3) {
			out[o++] = (uint8_t)(acc >> 16);
			out[o++] = (uint8_t)(acc >> 8);
			out[o++] = (uint8_t)acc;
			acc = 0;
		}
	}
	if (d % 4 == 2) {
		out[o++] = (uint8_t)(acc >> 4);
	} else if (d % 4 == 3) {
		out[o++] = (uint8_t)(acc >> 10);
		out[o++] = (uint8_t)(acc >> 2);
	}
	return FT_OK;
}

/* ---- Small checks. */

static int hex_digit(unsigned char ch)
{
	if (ch >= '0' && ch <= '9') {
		return ch - '0';
	}
	if (ch >= 'a' && ch <= 'f') {
		return ch - 'a' + 10;
	}
	return -1; /* upper case too: one spelling per digest */
}

/* A JSON string of exactly 64 lowercase hex digits, into out. */
static bool hex32_parse(const json_t *v, uint8_t out[32])
{
	uint8_t tmp[32];
	const char *s;

	if (!json_is_string(v) || json_string_length(v) != SHA256_HEX_LEN) {
		return false;
	}
	s = json_string_value(v);
	for (size_t i = 0; i < 32; i++) {
		int hi = hex_digit((unsigned char)s[2 * i]);
		int lo = hex_digit((unsigned char)s[2 * i + 1]);

		if (hi < 0 || lo < 0) {
			return false;
		}
		tmp[i] = (uint8_t)(hi << 4 | lo);
	}
	memcpy(out, tmp, 32);
	return true;
}

static void hex32_format(const uint8_t in[32], char out[SHA256_HEX_LEN + 1])
{
	static const char digits[] = "0123456789abcdef";

	for (size_t i = 0; i < 32; i++) {
		out[2 * i] = digits[in[i] >> 4];
		out[2 * i + 1] = digits[in[i] & 0xf];
	}
	out[SHA256_HEX_LEN] = '\0';
}

static bool str_is(const json_t *v, const char *want)
{
	size_t n = strlen(want);

	return json_is_string(v) && json_string_length(v) == n &&
	       memcmp(json_string_value(v), want, n) == 0;
}

/* Character classes of predicate strings (docs/events.md). */
enum str_class {
	CLS_TEXT,    /* UTF-8 without C0, DEL or C1 control characters */
	CLS_TOKEN,   /* printable ASCII without space: 0x21..0x7e */
	CLS_PRODUCT, /* [A-Za-z0-9._-], so that policy patterns work */
};

static bool product_char(unsigned char ch)
{
	return (ch >= 'A' && ch <= 'Z') || (ch >= 'a' && ch <= 'z') ||
	       (ch >= '0' && ch <= '9') || ch == '.' || ch == '_' || ch == '-';
}

/* NULL if v is a string fit for the class and size, else the problem. */
static const char *str_problem(const json_t *v, size_t max,
			       enum str_class cls)
{
	const unsigned char *s;
	size_t n;

	if (!json_is_string(v)) {
		return "is not a string";
	}
	s = (const unsigned char *)json_string_value(v);
	n = json_string_length(v);
	if (n == 0) {
		return "is empty";
	}
	if (n > max) {
		return "is too long";
	}
	for (size_t i = 0; i < n; i++) {
		unsigned char ch = s[i];

		switch (cls) {
		case CLS_PRODUCT:
			if (!product_char(ch)) {
				return "has a character outside [A-Za-z0-9._-]";
			}
			break;
		case CLS_TOKEN:
			if (ch <= 0x20 || ch >= 0x7f) {
				return "has a space, control or non-ASCII "
				       "character";
			}
			break;
		case CLS_TEXT:
			/* jansson has checked the UTF-8: C1 controls are
			 * exactly C2 80..C2 9F. */
			if (ch < 0x20 || ch == 0x7f ||
			    (ch == 0xc2 && i + 1 < n && s[i + 1] < 0xa0)) {
				return "has a control character";
			}
			break;
		default:
			return "has an unknown class";
		}
	}
	return NULL;
}

/* ---- Predicates. */

/* The JSON object being checked and the event it fills. */
typedef struct pred {
	const pctx *c;
	json_t *obj;
	ft_event *ev;
} pred_ctx;

static int pred_fail_field(const pred_ctx *p, const char *key, const char *what)
{
	return fail(p->c, FT_EEVENT_PREDICATE, "predicate: %s \"%s\" %s",
		    ft_event_kind_name(p->ev->kind), key, what);
}

/* Every field of obj is one of allowed (NULL-terminated). */
static int pred_known_fields(const pred_ctx *p, const json_t *obj,
			     const char *where, const char *const *allowed)
{
	const char *key;
	json_t *v;

	json_object_foreach((json_t *)obj, key, v) {
		bool ok = false;

		for (size_t i = 0; allowed[i] != NULL; i++) {
			if (strcmp(key, allowed[i]) == 0) {
				ok = true;
				break;
			}
		}
		if (!ok) {
			qstr q;

			return fail(p->c, FT_EEVENT_PREDICATE,
				    "predicate: %s%s has unknown field \"%s\"",
				    ft_event_kind_name(p->ev->kind), where,
				    quote(&q, key, strlen(key)));
		}
	}
	return FT_OK;
}

/* A string field: absent (NULL out) unless required. */
static int pred_str(const pred_ctx *p, const char *key, bool required,
		    size_t max, enum str_class cls, const char **out)
{
	json_t *v = json_object_get(p->obj, key);
	const char *why;

	if (v == NULL) {
		return required ? pred_fail_field(p, key, "is missing") : FT_OK;
	}
	why = str_problem(v, max, cls);
	if (why != NULL) {
		return pred_fail_field(p, key, why);
	}
	*out = json_string_value(v);
	return FT_OK;
}

/* A non-empty array of at most FT_EVENT_MAX_HW unique strings. */
static int pred_str_array(const pred_ctx *p, const char *key, bool required,
			  enum str_class cls, const char **out, size_t *n)
{
	json_t *a = json_object_get(p->obj, key);
	size_t len;

	if (a == NULL) {
		return required ? pred_fail_field(p, key, "is missing") : FT_OK;
	}
	if (!json_is_array(a)) {
		return pred_fail_field(p, key, "is not an array");
	}
	len = json_array_size(a);
	if (len == 0) {
		return pred_fail_field(p, key, "is empty");
	}
	if (len > FT_EVENT_MAX_HW) {
		return pred_fail_field(p, key, "has too many elements");
	}
	for (size_t i = 0; i < len; i++) {
		json_t *v = json_array_get(a, i);
		const char *why = str_problem(v, FT_EVENT_FIELD_MAX, cls);

		if (why != NULL) {
			return fail(p->c, FT_EEVENT_PREDICATE,
				    "predicate: %s \"%s\" element %zu %s",
				    ft_event_kind_name(p->ev->kind), key, i,
				    why);
		}
		for (size_t j = 0; j < i; j++) {
			if (json_equal(v, json_array_get(a, j))) {
				return fail(p->c, FT_EEVENT_PREDICATE,
					    "predicate: %s \"%s\" element %zu "
					    "repeats element %zu",
					    ft_event_kind_name(p->ev->kind),
					    key, i, j);
			}
		}
		out[i] = json_string_value(v);
	}
	*n = len;
	return FT_OK;
}

/* A JSON integer 0..2^53-1 (not a real, not negative). */
static int pred_u53(const pred_ctx *p, const char *key, bool required,
		    uint64_t *out, int *has)
{
	json_t *v = json_object_get(p->obj, key);
	json_int_t x;

	if (v == NULL) {
		return required ? pred_fail_field(p, key, "is missing") : FT_OK;
	}
	if (!json_is_integer(v)) {
		return pred_fail_field(p, key, "is not an integer");
	}
	x = json_integer_value(v);
	if (x < 0) {
		return pred_fail_field(p, key, "is negative");
	}
	if (x > JSON_SAFE_MAX) {
		return pred_fail_field(p, key, "is above 2^53-1");
	}
	*out = (uint64_t)x;
	if (has != NULL) {
		*has = 1;
	}
	return FT_OK;
}

static int pred_hex32(const pred_ctx *p, const json_t *obj, const char *key,
		      const char *label, uint8_t out[32], bool *has)
{
	json_t *v = json_object_get(obj, key);

	if (v == NULL) {
		*has = false;
		return FT_OK;
	}
	if (!hex32_parse(v, out)) {
		return pred_fail_field(p, label,
				       "is not 64 lowercase hex digits");
	}
	*has = true;
	return FT_OK;
}

static int check_release(const pred_ctx *p)
{
	static const char *const fields[] = {
		"product", "vendor",	  "version",	 "security_version",
		"hardware_models", "sbom_sha256", "build_index", "evidence",
		NULL
	};
	static const char *const ev_fields[] = { "type", "sha256", NULL };
	ft_event *ev = p->ev;
	json_t *evi;
	bool has = false;
	int rc;

	rc = pred_known_fields(p, p->obj, "", fields);
	if (rc == 0) {
		rc = pred_str(p, "product", true, FT_EVENT_FIELD_MAX,
			      CLS_PRODUCT, &ev->product);
	}
	if (rc == 0) {
		rc = pred_str(p, "vendor", true, FT_EVENT_FIELD_MAX, CLS_TOKEN,
			      &ev->vendor);
	}
	if (rc == 0) {
		rc = pred_str(p, "version", true, FT_EVENT_FIELD_MAX, CLS_TEXT,
			      &ev->version);
	}
	if (rc == 0) {
		rc = pred_u53(p, "security_version", true,
			      &ev->security_version, NULL);
	}
	if (rc == 0) {
		rc = pred_str_array(p, "hardware_models", true, CLS_TOKEN,
				    ev->hw, &ev->n_hw);
	}
	if (rc == 0) {
		rc = pred_hex32(p, p->obj, "sbom_sha256", "sbom_sha256",
				ev->sbom_sha256, &has);
		ev->has_sbom = has ? 1 : 0;
	}
	if (rc == 0) {
		rc = pred_u53(p, "build_index", false, &ev->build_index,
			      &ev->has_build_index);
	}
	if (rc != 0) {
		return rc;
	}
	evi = json_object_get(p->obj, "evidence");
	if (evi == NULL) {
		return FT_OK;
	}
	if (!json_is_object(evi)) {
		return pred_fail_field(p, "evidence", "is not an object");
	}
	rc = pred_known_fields(p, evi, " \"evidence\"", ev_fields);
	if (rc != 0) {
		return rc;
	}
	json_t *type = json_object_get(evi, "type");
	if (type == NULL) {
		return pred_fail_field(p, "evidence.type", "is missing");
	}
	if (!str_is(type, "scas") && !str_is(type, "nesas")) {
		return pred_fail_field(p, "evidence.type",
				       "is not \"scas\" or \"nesas\"");
	}
	rc = pred_hex32(p, evi, "sha256", "evidence.sha256",
			ev->evidence_sha256, &has);
	if (rc != 0) {
		return rc;
	}
	if (!has) {
		return pred_fail_field(p, "evidence.sha256", "is missing");
	}
	ev->evidence_type = json_string_value(type);
	return FT_OK;
}

static int check_distribution(const pred_ctx *p)
{
	static const char *const fields[] = { "product", "channel",
					      "version", "regions",
					      "network_slices", "uri",
					      NULL };
	ft_event *ev = p->ev;
	int rc;

	rc = pred_known_fields(p, p->obj, "", fields);
	if (rc == 0) {
		rc = pred_str(p, "product", true, FT_EVENT_FIELD_MAX,
			      CLS_PRODUCT, &ev->product);
	}
	if (rc == 0) {
		rc = pred_str(p, "channel", true, FT_EVENT_FIELD_MAX,
			      CLS_TOKEN, &ev->channel);
	}
	if (rc == 0) {
		rc = pred_str(p, "version", false, FT_EVENT_FIELD_MAX,
			      CLS_TEXT, &ev->version);
	}
	if (rc == 0) {
		rc = pred_str_array(p, "regions", false, CLS_TOKEN,
				    ev->regions, &ev->n_regions);
	}
	if (rc == 0) {
		rc = pred_str_array(p, "network_slices", false, CLS_TOKEN,
				    ev->slices, &ev->n_slices);
	}
	if (rc == 0) {
		rc = pred_str(p, "uri", false, FT_EVENT_TEXT_MAX, CLS_TOKEN,
			      &ev->uri);
	}
	return rc;
}

static int check_revocation(const pred_ctx *p)
{
	static const char *const fields[] = { "target", "reason", "product",
					      "key", NULL };
	ft_event *ev = p->ev;
	json_t *target;
	json_t *key;
	int rc;

	rc = pred_known_fields(p, p->obj, "", fields);
	if (rc != 0) {
		return rc;
	}
	target = json_object_get(p->obj, "target");
	if (target == NULL) {
		return pred_fail_field(p, "target", "is missing");
	}
	if (str_is(target, "image")) {
		ev->revoke = FT_REVOKE_IMAGE;
	} else if (str_is(target, "key")) {
		ev->revoke = FT_REVOKE_KEY;
	} else {
		return pred_fail_field(p, "target",
				       "is not \"image\" or \"key\"");
	}
	rc = pred_str(p, "reason", true, FT_EVENT_TEXT_MAX, CLS_TEXT,
		      &ev->reason);
	if (rc == 0) {
		rc = pred_str(p, "product", ev->revoke == FT_REVOKE_IMAGE,
			      FT_EVENT_FIELD_MAX, CLS_PRODUCT, &ev->product);
	}
	if (rc != 0) {
		return rc;
	}
	key = json_object_get(p->obj, "key");
	if (ev->revoke == FT_REVOKE_IMAGE) {
		if (key != NULL) {
			return pred_fail_field(p, "key",
					       "is not allowed for an image");
		}
		return FT_OK;
	}
	if (key == NULL) {
		return pred_fail_field(p, "key", "is missing");
	}
	if (!json_is_string(key) || json_string_length(key) > FT_KEY_STR_MAX) {
		return pred_fail_field(p, "key", "is not a key string");
	}
	rc = ft_vkey_parse(json_string_value(key), json_string_length(key),
			   &ev->revoked_key);
	if (rc != 0) {
		memset(&ev->revoked_key, 0, sizeof ev->revoked_key);
		return fail(p->c, FT_EEVENT_PREDICATE,
			    "predicate: revocation \"key\" is not a verifier "
			    "key (%s)",
			    ft_strerror(rc));
	}
	if (ev->revoked_key.type != FT_KEY_ED25519) {
		return pred_fail_field(p, "key", "is not an Ed25519 key");
	}
	return FT_OK;
}

/* SLSA provenance v1: only what ftlog reads; the rest is the builder's. */
static int check_build(const pred_ctx *p)
{
	ft_event *ev = p->ev;
	json_t *def = json_object_get(p->obj, "buildDefinition");
	json_t *run = json_object_get(p->obj, "runDetails");
	json_t *builder;
	const char *why;
	json_t *v;

	if (!json_is_object(def)) {
		return pred_fail_field(p, "buildDefinition",
				       "is missing or not an object");
	}
	v = json_object_get(def, "buildType");
	why = v == NULL ? "is missing"
			: str_problem(v, FT_EVENT_TEXT_MAX, CLS_TEXT);
	if (why != NULL) {
		return pred_fail_field(p, "buildDefinition.buildType", why);
	}
	ev->build_type = json_string_value(v);
	if (!json_is_object(json_object_get(def, "externalParameters"))) {
		return pred_fail_field(p,
				       "buildDefinition.externalParameters",
				       "is missing or not an object");
	}
	if (!json_is_object(run)) {
		return pred_fail_field(p, "runDetails",
				       "is missing or not an object");
	}
	builder = json_object_get(run, "builder");
	if (!json_is_object(builder)) {
		return pred_fail_field(p, "runDetails.builder",
				       "is missing or not an object");
	}
	v = json_object_get(builder, "id");
	why = v == NULL ? "is missing"
			: str_problem(v, FT_EVENT_TEXT_MAX, CLS_TEXT);
	if (why != NULL) {
		return pred_fail_field(p, "runDetails.builder.id", why);
	}
	ev->builder_id = json_string_value(v);
	return FT_OK;
}

/* ---- Statement. */

static int check_subjects(const pctx *c, const json_t *subj, ft_event *ev)
{
	size_t n;

	if (!json_is_array(subj)) {
		return fail(c, FT_EEVENT_STATEMENT,
			    "statement: \"subject\" is missing or not an "
			    "array");
	}
	n = json_array_size(subj);
	if (n == 0 || n > FT_EVENT_MAX_SUBJECTS) {
		return fail(c, FT_EEVENT_STATEMENT,
			    "statement: \"subject\" has %zu entries "
			    "(1..%d allowed)",
			    n, FT_EVENT_MAX_SUBJECTS);
	}
	for (size_t i = 0; i < n; i++) {
		json_t *s = json_array_get(subj, i);
		json_t *name;
		json_t *digest;
		ft_event_subject *out = &ev->subjects[i];

		if (!json_is_object(s)) {
			return fail(c, FT_EEVENT_STATEMENT,
				    "statement: subject %zu is not an object",
				    i);
		}
		name = json_object_get(s, "name");
		out->name = "";
		/* Optional in in-toto, and may be empty there; we only
		 * bound it and keep control characters out. */
		if (name != NULL &&
		    !(json_is_string(name) && json_string_length(name) == 0)) {
			const char *why = str_problem(name, FT_EVENT_FIELD_MAX,
						      CLS_TEXT);

			if (why != NULL) {
				return fail(c, FT_EEVENT_STATEMENT,
					    "statement: subject %zu name %s",
					    i, why);
			}
		}
		if (name != NULL) {
			out->name = json_string_value(name);
		}
		digest = json_object_get(s, "digest");
		if (!json_is_object(digest)) {
			return fail(c, FT_EEVENT_STATEMENT,
				    "statement: subject %zu \"digest\" is "
				    "missing or not an object",
				    i);
		}
		if (!hex32_parse(json_object_get(digest, "sha256"),
				 out->sha256)) {
			return fail(c, FT_EEVENT_STATEMENT,
				    "statement: subject %zu digest.sha256 is "
				    "missing or not 64 lowercase hex digits",
				    i);
		}
		for (size_t j = 0; j < i; j++) {
			if (memcmp(ev->subjects[j].sha256, out->sha256, 32) ==
			    0) {
				return fail(c, FT_EEVENT_STATEMENT,
					    "statement: subject %zu repeats "
					    "the sha256 of subject %zu",
					    i, j);
			}
		}
		ev->n_subjects = i + 1;
	}
	return FT_OK;
}

/*
 * Check the statement in (p, n) and fill ev's statement and predicate
 * fields, which point into *out (the caller's to json_decref, set on
 * success only). ev's statement fields must be zero on entry.
 */
static int check_statement(const pctx *c, const uint8_t *p, size_t n,
			   ft_event *ev, json_t **out)
{
	json_error_t err;
	json_t *root;
	json_t *ptype;
	json_t *v;
	pred_ctx pr;
	int rc;
	int kind = 0;

	root = json_loadb((const char *)p, n, JSON_FLAGS, &err);
	if (root == NULL) {
		return fail_json(c, FT_EEVENT_STATEMENT, "statement",
				 "payload is not valid JSON: ", &err);
	}
	if (!json_is_object(root)) {
		rc = fail(c, FT_EEVENT_STATEMENT,
			  "statement: payload is not a JSON object");
		goto out;
	}
	if (!str_is(json_object_get(root, "_type"), FT_STATEMENT_TYPE)) {
		rc = fail(c, FT_EEVENT_STATEMENT,
			  "statement: \"_type\" is not \"" FT_STATEMENT_TYPE
			  "\"");
		goto out;
	}
	rc = check_subjects(c, json_object_get(root, "subject"), ev);
	if (rc != 0) {
		goto out;
	}
	ptype = json_object_get(root, "predicateType");
	if (!json_is_string(ptype)) {
		rc = fail(c, FT_EEVENT_STATEMENT,
			  "statement: \"predicateType\" is missing or not a "
			  "string");
		goto out;
	}
	v = json_object_get(root, "predicate");
	if (!json_is_object(v)) {
		rc = fail(c, FT_EEVENT_STATEMENT,
			  "statement: \"predicate\" is missing or not an "
			  "object");
		goto out;
	}
	for (size_t k = 1; k < NKINDS; k++) {
		if (str_is(ptype, kind_uris[k])) {
			kind = (int)k;
		}
	}
	if (kind == 0) {
		qstr q;

		rc = fail(c, FT_EEVENT_PREDTYPE,
			  "predicate-type: unknown predicateType \"%s\"",
			  quote(&q, json_string_value(ptype),
				json_string_length(ptype)));
		goto out;
	}
	ev->kind = kind;
	ev->predicate_type = json_string_value(ptype);
	pr.c = c;
	pr.obj = v;
	pr.ev = ev;
	switch (kind) {
	case FT_EVENT_BUILD:
		rc = check_build(&pr);
		break;
	case FT_EVENT_RELEASE:
		rc = check_release(&pr);
		break;
	case FT_EVENT_DISTRIBUTION:
		rc = check_distribution(&pr);
		break;
	case FT_EVENT_REVOCATION:
		rc = check_revocation(&pr);
		if (rc == 0 && ev->revoke == FT_REVOKE_KEY) {
			uint8_t d[32];

			ft_event_key_digest(&ev->revoked_key, d);
			if (ev->n_subjects != 1) {
				rc = fail(c, FT_EEVENT_PREDICATE,
					  "predicate: a key revocation has "
					  "%zu subjects (exactly 1 allowed)",
					  ev->n_subjects);
			} else if (memcmp(d, ev->subjects[0].sha256, 32) != 0) {
				rc = fail(c, FT_EEVENT_PREDICATE,
					  "predicate: the subject sha256 is "
					  "not the digest of the revoked key");
			}
		}
		break;
	default:
		rc = fail(c, FT_EEVENT_PREDTYPE, "predicate-type: no kind");
		break;
	}
out:
	if (rc != 0) {
		json_decref(root);
		return rc;
	}
	*out = root;
	return FT_OK;
}

/* ---- Envelope. */

/* Decode a base64 string field of the envelope into a malloc'd buffer. */
static int decode_payload(const pctx *c, const json_t *v, ft_event *ev)
{
	const char *s = json_string_value(v);
	size_t n = json_string_length(v);
	size_t need = 0;
	int rc = b64_decode(s, n, NULL, 0, &need);

	if (rc != FT_EBUFSIZE && rc != 0) {
		return fail(c, FT_EEVENT_ENVELOPE,
			    "envelope: \"payload\" is not canonical base64");
	}
	/* malloc(0) may return NULL: keep one spare byte. */
	ev->payload = malloc(need + 1);
	if (ev->payload == NULL) {
		return fail(c, FT_ENOMEM, "envelope: out of memory");
	}
	rc = b64_decode(s, n, ev->payload, need, &ev->payload_len);
	if (rc != 0) {
		return fail(c, FT_EEVENT_ENVELOPE,
			    "envelope: \"payload\" is not canonical base64");
	}
	return FT_OK;
}

static int check_sigs(const pctx *c, const json_t *sigs)
{
	size_t n;

	if (!json_is_array(sigs)) {
		return fail(c, FT_EEVENT_ENVELOPE,
			    "envelope: \"signatures\" is missing or not an "
			    "array");
	}
	n = json_array_size(sigs);
	if (n == 0 || n > FT_EVENT_MAX_SIGS) {
		return fail(c, FT_EEVENT_ENVELOPE,
			    "envelope: %zu signatures (1..%d allowed)", n,
			    FT_EVENT_MAX_SIGS);
	}
	for (size_t i = 0; i < n; i++) {
		json_t *s = json_array_get(sigs, i);
		json_t *keyid;

		if (!json_is_object(s)) {
			return fail(c, FT_EEVENT_ENVELOPE,
				    "envelope: signature %zu is not an object",
				    i);
		}
		if (!json_is_string(json_object_get(s, "sig"))) {
			return fail(c, FT_EEVENT_ENVELOPE,
				    "envelope: signature %zu \"sig\" is "
				    "missing or not a string",
				    i);
		}
		keyid = json_object_get(s, "keyid");
		if (keyid != NULL && !json_is_string(keyid)) {
			return fail(c, FT_EEVENT_ENVELOPE,
				    "envelope: signature %zu \"keyid\" is not "
				    "a string",
				    i);
		}
		if (keyid != NULL &&
		    json_string_length(keyid) > FT_EVENT_KEYID_MAX) {
			return fail(c, FT_EEVENT_ENVELOPE,
				    "envelope: signature %zu \"keyid\" is "
				    "longer than %d bytes",
				    i, FT_EVENT_KEYID_MAX);
		}
	}
	return FT_OK;
}

static int decode_sigs(const pctx *c, const json_t *sigs, ft_event *ev)
{
	size_t n = json_array_size(sigs);

	for (size_t i = 0; i < n; i++) {
		json_t *s = json_array_get(sigs, i);
		json_t *sig = json_object_get(s, "sig");
		json_t *keyid = json_object_get(s, "keyid");
		size_t got = 0;
		int rc = b64_decode(json_string_value(sig),
				    json_string_length(sig), ev->sigs[i].sig,
				    sizeof ev->sigs[i].sig, &got);

		if (rc != 0 && rc != FT_EBUFSIZE) {
			return fail(c, FT_EEVENT_ENVELOPE,
				    "envelope: signature %zu \"sig\" is not "
				    "canonical base64",
				    i);
		}
		if (rc != 0 || got != ED25519_SIG_LEN) {
			return fail(c, FT_EEVENT_ENVELOPE,
				    "envelope: signature %zu \"sig\" is %zu "
				    "bytes, not %d",
				    i, got, ED25519_SIG_LEN);
		}
		if (keyid != NULL) {
			/* Bounded by check_sigs; NUL-free (jansson). */
			memcpy(ev->sigs[i].keyid, json_string_value(keyid),
			       json_string_length(keyid));
			ev->sigs[i].keyid[json_string_length(keyid)] = '\0';
		}
	}
	ev->n_sigs = n;
	return FT_OK;
}

static int parse(const pctx *c, const uint8_t *entry, size_t len,
		 ft_event *ev)
{
	json_error_t err;
	json_t *holder;
	json_t *env;
	json_t *stmt = NULL;
	json_t *ptype;
	json_t *payload;
	json_t *sigs;
	int rc;

	if (len == 0 || len > FT_EVENT_MAX_BYTES) {
		return fail(c, FT_ETOOBIG,
			    "too-large: entry of %zu bytes (1..%d allowed)",
			    len, FT_EVENT_MAX_BYTES);
	}
	/* One array owns both JSON trees the event points into. */
	holder = json_array();
	if (holder == NULL) {
		return fail(c, FT_ENOMEM, "envelope: out of memory");
	}
	ev->json_ = holder;
	env = json_loadb((const char *)entry, len, JSON_FLAGS, &err);
	if (env == NULL) {
		return fail_json(c, FT_EEVENT_ENVELOPE, "json", "", &err);
	}
	if (json_array_append_new(holder, env) != 0) {
		return fail(c, FT_ENOMEM, "envelope: out of memory");
	}
	if (!json_is_object(env)) {
		return fail(c, FT_EEVENT_ENVELOPE,
			    "envelope: not a JSON object");
	}
	ptype = json_object_get(env, "payloadType");
	if (!json_is_string(ptype)) {
		return fail(c, FT_EEVENT_ENVELOPE,
			    "envelope: \"payloadType\" is missing or not a "
			    "string");
	}
	payload = json_object_get(env, "payload");
	if (!json_is_string(payload)) {
		return fail(c, FT_EEVENT_ENVELOPE,
			    "envelope: \"payload\" is missing or not a string");
	}
	sigs = json_object_get(env, "signatures");
	rc = check_sigs(c, sigs);
	if (rc != 0) {
		return rc;
	}
	if (!str_is(ptype, FT_DSSE_PAYLOAD_TYPE)) {
		qstr q;

		return fail(c, FT_EEVENT_ENVELOPE,
			    "payload-type: \"%s\" is not "
			    "\"" FT_DSSE_PAYLOAD_TYPE "\"",
			    quote(&q, json_string_value(ptype),
				  json_string_length(ptype)));
	}
	rc = decode_payload(c, payload, ev);
	if (rc == 0) {
		rc = decode_sigs(c, sigs, ev);
	}
	if (rc != 0) {
		return rc;
	}
	ev->pae_len = ft_dsse_pae_len(sizeof FT_DSSE_PAYLOAD_TYPE - 1,
				      ev->payload_len);
	ev->pae = malloc(ev->pae_len);
	if (ev->pae == NULL) {
		return fail(c, FT_ENOMEM, "envelope: out of memory");
	}
	rc = ft_dsse_pae(FT_DSSE_PAYLOAD_TYPE, sizeof FT_DSSE_PAYLOAD_TYPE - 1,
			 ev->payload, ev->payload_len, ev->pae, ev->pae_len,
			 &ev->pae_len);
	if (rc != 0) {
		return fail(c, rc, "envelope: cannot build the PAE");
	}
	rc = check_statement(c, ev->payload, ev->payload_len, ev, &stmt);
	if (rc != 0) {
		return rc;
	}
	if (json_array_append_new(holder, stmt) != 0) {
		return fail(c, FT_ENOMEM, "statement: out of memory");
	}
	return FT_OK;
}

int ft_event_parse(const uint8_t *entry, size_t len, ft_event *ev,
		   char *reason, size_t cap)
{
	pctx c = { reason, cap };
	int rc;

	if (reason != NULL && cap > 0) {
		reason[0] = '\0';
	}
	if (ev == NULL) {
		return fail(&c, FT_EINVAL, "invalid: no event to fill");
	}
	memset(ev, 0, sizeof *ev);
	if (entry == NULL && len > 0) {
		return fail(&c, FT_EINVAL, "invalid: no entry");
	}
	rc = parse(&c, entry, len, ev);
	if (rc != 0) {
		ft_event_free(ev);
	}
	return rc;
}

void ft_event_free(ft_event *ev)
{
	if (ev == NULL) {
		return;
	}
	json_decref((json_t *)ev->json_);
	free(ev->payload);
	free(ev->pae);
	memset(ev, 0, sizeof *ev);
}

/* ---- Signatures, keys, PAE. */

int ft_event_verify(const ft_event *ev, size_t i, const ft_vkey *key)
{
	if (ev == NULL || key == NULL || i >= ev->n_sigs ||
	    i >= FT_EVENT_MAX_SIGS || ev->pae == NULL ||
	    key->type != FT_KEY_ED25519) {
		return FT_EINVAL;
	}
	if (ft_init() != 0) {
		return FT_ECRYPTO;
	}
	if (crypto_sign_verify_detached(ev->sigs[i].sig, ev->pae, ev->pae_len,
					key->pk) != 0) {
		return FT_ENOTE_BADSIG;
	}
	return FT_OK;
}

int ft_event_keyid(const ft_vkey *key, char *out, size_t cap)
{
	static const char digits[] = "0123456789abcdef";

	if (out != NULL && cap > 0) {
		out[0] = '\0';
	}
	if (key == NULL || out == NULL || key->name_len == 0 ||
	    key->name_len > FT_KEY_NAME_MAX) {
		return FT_EINVAL;
	}
	/* name '+' 8 hex digits NUL */
	if (cap < key->name_len + 1 + 8 + 1) {
		return FT_EBUFSIZE;
	}
	memcpy(out, key->name, key->name_len);
	out[key->name_len] = '+';
	for (size_t i = 0; i < 8; i++) {
		out[key->name_len + 1 + i] =
			digits[(key->id >> (28 - 4 * i)) & 0xf];
	}
	out[key->name_len + 9] = '\0';
	return FT_OK;
}

void ft_event_key_digest(const ft_vkey *key, uint8_t out[32])
{
	struct sha256_ctx ctx;

	sha256_init(&ctx);
	sha256_update(&ctx, sizeof key->pk, key->pk);
	sha256_digest(&ctx, SHA256_DIGEST_SIZE, out);
}

static size_t dec_len(size_t v)
{
	size_t n = 1;

	while (v >= 10) {
		v /= 10;
		n++;
	}
	return n;
}

static void put_dec(ft_wbuf *w, size_t v)
{
	char tmp[SIZE_DIGITS];
	size_t i = sizeof tmp;

	do {
		tmp[--i] = (char)('0' + v % 10);
		v /= 10;
	} while (v != 0);
	ft_wbuf_put(w, tmp + i, sizeof tmp - i);
}

/* SIZE_MAX if the PAE would not fit a size_t. */
size_t ft_dsse_pae_len(size_t type_len, size_t body_len)
{
	size_t fixed = PAE_FIXED + dec_len(type_len) + dec_len(body_len);

	if (type_len > SIZE_MAX - fixed ||
	    body_len > SIZE_MAX - fixed - type_len) {
		return SIZE_MAX;
	}
	return fixed + type_len + body_len;
}

/* DSSE v1 "Signature definition": the lengths are ASCII decimal. */
int ft_dsse_pae(const char *type, size_t type_len, const uint8_t *body,
		size_t body_len, uint8_t *out, size_t cap, size_t *len)
{
	ft_wbuf w;
	size_t need;

	if (len != NULL) {
		*len = 0;
	}
	if ((type == NULL && type_len > 0) || (body == NULL && body_len > 0) ||
	    (out == NULL && cap > 0) || len == NULL) {
		return FT_EINVAL;
	}
	need = ft_dsse_pae_len(type_len, body_len);
	if (need == SIZE_MAX || need > cap) {
		return FT_EBUFSIZE;
	}
	ft_wbuf_init(&w, out, cap);
	ft_wbuf_put(&w, "DSSEv1 ", 7);
	put_dec(&w, type_len);
	ft_wbuf_byte(&w, ' ');
	ft_wbuf_put(&w, type, type_len);
	ft_wbuf_byte(&w, ' ');
	put_dec(&w, body_len);
	ft_wbuf_byte(&w, ' ');
	ft_wbuf_put(&w, body, body_len);
	if (w.err != 0) {
		return w.err;
	}
	*len = w.len;
	return FT_OK;
}

/* ---- Building and signing. */

/* Compact JSON of v into a malloc'd NUL-terminated buffer. */
static char *dump(const json_t *v, size_t *len)
{
	size_t n = json_dumpb(v, NULL, 0, JSON_COMPACT | JSON_PRESERVE_ORDER);
	char *buf;

	if (n == 0) {
		return NULL;
	}
	buf = malloc(n + 1);
	if (buf == NULL) {
		return NULL;
	}
	if (json_dumpb(v, buf, n, JSON_COMPACT | JSON_PRESERVE_ORDER) != n) {
		free(buf);
		return NULL;
	}
	buf[n] = '\0';
	*len = n;
	return buf;
}

static json_t *subject_json(const ft_event_subject *s)
{
	char hex[SHA256_HEX_LEN + 1];
	json_t *o = json_object();
	json_t *d = json_object();
	int bad = o == NULL || d == NULL;

	hex32_format(s->sha256, hex);
	if (!bad && s->name != NULL && s->name[0] != '\0') {
		/* json_string refuses invalid UTF-8: a NULL is caught. */
		bad |= json_object_set_new(o, "name", json_string(s->name));
	}
	if (!bad) {
		bad |= json_object_set_new(d, "sha256", json_string(hex));
		bad |= json_object_set_new(o, "digest", d);
		d = NULL;
	}
	json_decref(d);
	if (bad) {
		json_decref(o);
		return NULL;
	}
	return o;
}

int ft_event_statement(int kind, const ft_event_subject *subjects,
		       size_t n_subjects, const char *predicate,
		       size_t predicate_len, char **out, size_t *out_len,
		       char *reason, size_t cap)
{
	pctx c = { reason, cap };
	json_error_t err;
	json_t *pred = NULL;
	json_t *root = NULL;
	json_t *subj = NULL;
	json_t *back = NULL;
	ft_event ev;
	char *buf = NULL;
	size_t len = 0;
	int rc;

	if (reason != NULL && cap > 0) {
		reason[0] = '\0';
	}
	if (out != NULL) {
		*out = NULL;
	}
	if (out_len != NULL) {
		*out_len = 0;
	}
	if (out == NULL || out_len == NULL || predicate == NULL ||
	    (subjects == NULL && n_subjects > 0)) {
		return fail(&c, FT_EINVAL, "invalid: missing argument");
	}
	if (kind <= 0 || (size_t)kind >= NKINDS) {
		return fail(&c, FT_EINVAL, "predicate-type: unknown kind %d",
			    kind);
	}
	if (n_subjects == 0 || n_subjects > FT_EVENT_MAX_SUBJECTS) {
		return fail(&c, FT_EEVENT_STATEMENT,
			    "statement: %zu subjects (1..%d allowed)",
			    n_subjects, FT_EVENT_MAX_SUBJECTS);
	}
	if (predicate_len > FT_EVENT_MAX_BYTES) {
		return fail(&c, FT_ETOOBIG,
			    "too-large: predicate of %zu bytes", predicate_len);
	}
	pred = json_loadb(predicate, predicate_len, JSON_FLAGS, &err);
	if (pred == NULL) {
		return fail_json(&c, FT_EEVENT_PREDICATE, "predicate",
				 "not valid JSON: ", &err);
	}
	if (!json_is_object(pred)) {
		rc = fail(&c, FT_EEVENT_PREDICATE,
			  "predicate: not a JSON object");
		goto out;
	}
	root = json_object();
	subj = json_array();
	if (root == NULL || subj == NULL) {
		rc = fail(&c, FT_ENOMEM, "statement: out of memory");
		goto out;
	}
	for (size_t i = 0; i < n_subjects; i++) {
		if (json_array_append_new(subj, subject_json(&subjects[i])) !=
		    0) {
			rc = fail(&c, FT_EEVENT_STATEMENT,
				  "statement: subject %zu cannot be encoded "
				  "(name not UTF-8?)",
				  i);
			goto out;
		}
	}
	/* Insertion order is the output order: the fixed key order. */
	if (json_object_set_new(root, "_type",
				json_string(FT_STATEMENT_TYPE)) != 0 ||
	    json_object_set(root, "subject", subj) != 0 ||
	    json_object_set_new(root, "predicateType",
				json_string(kind_uris[kind])) != 0 ||
	    json_object_set(root, "predicate", pred) != 0) {
		rc = fail(&c, FT_ENOMEM, "statement: out of memory");
		goto out;
	}
	buf = dump(root, &len);
	if (buf == NULL) {
		rc = fail(&c, FT_ENOMEM, "statement: out of memory");
		goto out;
	}
	/* What we return is what ft_event_parse accepts. */
	memset(&ev, 0, sizeof ev);
	rc = check_statement(&c, (const uint8_t *)buf, len, &ev, &back);
	json_decref(back);
	if (rc == 0 && ev.kind != kind) {
		rc = fail(&c, FT_EEVENT_PREDTYPE, "predicate-type: kind lost");
	}
	if (rc != 0) {
		goto out;
	}
	*out = buf;
	*out_len = len;
	buf = NULL;
out:
	free(buf);
	json_decref(subj);
	json_decref(pred);
	json_decref(root);
	return rc;
}

int ft_event_sign(const uint8_t *payload, size_t payload_len,
		  const ft_skey *keys, size_t nkeys, char **out,
		  size_t *out_len)
{
	json_t *root = NULL;
	json_t *sigs = NULL;
	uint8_t *pae = NULL;
	char *b64 = NULL;
	char *buf = NULL;
	size_t pae_len = 0;
	size_t b64_len = 0;
	size_t len = 0;
	int rc;

	if (out != NULL) {
		*out = NULL;
	}
	if (out_len != NULL) {
		*out_len = 0;
	}
	if (out == NULL || out_len == NULL || keys == NULL ||
	    (payload == NULL && payload_len > 0) || nkeys == 0 ||
	    nkeys > FT_EVENT_MAX_SIGS) {
		return FT_EINVAL;
	}
	for (size_t k = 0; k < nkeys; k++) {
		if (keys[k].type != FT_KEY_ED25519) {
			return FT_EKEY_ALG;
		}
		if (!ft_key_name_valid(keys[k].name, keys[k].name_len)) {
			return FT_EKEY_NAME;
		}
	}
	/* The payload alone must leave room for the envelope. */
	if (payload_len > FT_EVENT_MAX_BYTES ||
	    ft_b64_enclen(payload_len) > FT_EVENT_MAX_BYTES) {
		return FT_ETOOBIG;
	}
	rc = ft_init();
	if (rc != 0) {
		return rc;
	}
	pae_len = ft_dsse_pae_len(sizeof FT_DSSE_PAYLOAD_TYPE - 1,
				  payload_len);
	pae = malloc(pae_len);
	b64 = malloc(ft_b64_enclen(payload_len) + 1);
	root = json_object();
	sigs = json_array();
	if (pae == NULL || b64 == NULL || root == NULL || sigs == NULL) {
		rc = FT_ENOMEM;
		goto out;
	}
	rc = ft_dsse_pae(FT_DSSE_PAYLOAD_TYPE, sizeof FT_DSSE_PAYLOAD_TYPE - 1,
			 payload, payload_len, pae, pae_len, &pae_len);
	if (rc == 0) {
		rc = ft_b64_encode(payload, payload_len, b64,
				   ft_b64_enclen(payload_len) + 1, &b64_len);
	}
	if (rc != 0) {
		goto out;
	}
	if (json_object_set_new(root, "payloadType",
				json_string(FT_DSSE_PAYLOAD_TYPE)) != 0 ||
	    json_object_set_new(root, "payload", json_stringn(b64, b64_len)) !=
		    0 ||
	    json_object_set(root, "signatures", sigs) != 0) {
		rc = FT_ENOMEM;
		goto out;
	}
	for (size_t k = 0; k < nkeys; k++) {
		uint8_t sig[ED25519_SIG_LEN];
		char sig64[(ED25519_SIG_LEN + 2) / 3 * 4 + 1];
		char keyid[FT_EVENT_KEYID_MAX + 1];
		ft_vkey vk;
		size_t n = 0;
		json_t *o;

		if (crypto_sign_detached(sig, NULL, pae, pae_len,
					 keys[k].sk) != 0) {
			rc = FT_ECRYPTO;
			goto out;
		}
		ft_skey_public(&keys[k], &vk);
		rc = ft_event_keyid(&vk, keyid, sizeof keyid);
		if (rc == 0) {
			rc = ft_b64_encode(sig, sizeof sig, sig64,
					   sizeof sig64, &n);
		}
		if (rc != 0) {
			goto out;
		}
		o = json_object();
		if (o == NULL ||
		    json_object_set_new(o, "keyid", json_string(keyid)) != 0 ||
		    json_object_set_new(o, "sig", json_stringn(sig64, n)) !=
			    0) {
			json_decref(o);
			rc = FT_ENOMEM;
			goto out;
		}
		/* append_new drops o if it fails. */
		if (json_array_append_new(sigs, o) != 0) {
			rc = FT_ENOMEM;
			goto out;
		}
	}
	buf = dump(root, &len);
	if (buf == NULL) {
		rc = FT_ENOMEM;
		goto out;
	}
	if (len > FT_EVENT_MAX_BYTES) {
		rc = FT_ETOOBIG;
		goto out;
	}
	*out = buf;
	*out_len = len;
	buf = NULL;
out:
	free(buf);
	free(b64);
	free(pae);
	json_decref(sigs);
	json_decref(root);
	return rc;
}
