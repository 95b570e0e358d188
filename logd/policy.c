/*
 * logd/policy.c - ftlogd's submission policy (logd/policy.h, docs/policy.md).
 *
 * A policy is parsed once (strictly: every field known, typed and in range)
 * into an immutable struct. Its keys are kept sorted by their DSSE keyid
 * ("<name>+<hex8>", ft_event_keyid), so a signature's key is found with one
 * bsearch and checked with exactly one Ed25519 verification: the cost of a
 * submission is bounded by max_signatures, whatever the envelope claims.
 *
 * Reasons are one line and bounded: anything quoted from the input (a field
 * name, a kind, a product, a keyid) is cut to FT_JU_QUOTE_MAX bytes and reduced to
 * printable ASCII.
 */
#include <errno.h>
#include <fcntl.h>
#include <fnmatch.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <jansson.h>
#include <nettle/sha2.h>

#include <ftlog/note.h>

#include "event/jsonutil.h"
#include "logd/policy.h"

#define PATTERN_MAX 256      /* bytes of a product pattern */
#define KEY_PATTERNS_MAX 64  /* patterns of one key */
#define THRESHOLDS_MAX 64    /* release_thresholds entries */

#define DEFAULT_MAX_ENTRY 65535
#define DEFAULT_MAX_SIGS 4
#define DEFAULT_THRESHOLD 1

#define NKINDS 5 /* enum ft_event_kind is 1..4; 0 unused */

static const char *const kind_names[NKINDS] = {
	NULL, "build", "release", "distribution", "revocation",
};

/* One policy key. */
struct pkey {
	ft_vkey vk;
	char keyid[FT_EVENT_KEYID_MAX + 1]; /* ft_event_keyid(&vk) */
	unsigned kinds;                     /* bit (1u << kind) */
	size_t n_products;
	char **products;                    /* NUL-terminated patterns */
	bool star;                          /* one pattern is exactly "*" */
};

/* One release_thresholds entry. */
struct pthreshold {
	char *pattern;
	size_t threshold;
};

struct ft_policy {
	atomic_size_t refs;
	size_t max_entry;
	size_t max_sigs;
	size_t threshold;          /* release_threshold */
	size_t n_thr;
	struct pthreshold *thr;    /* in file order: first match wins */
	size_t nkeys;
	struct pkey *keys;         /* sorted by keyid (strcmp) */
	size_t per_kind[NKINDS];   /* keys allowed each kind */
};

/* ---- Freeing and reference counting. */

static void policy_free(ft_policy *p)
{
	if (p == NULL) {
		return;
	}
	for (size_t i = 0; p->keys != NULL && i < p->nkeys; i++) {
		struct pkey *k = &p->keys[i];

		for (size_t j = 0; k->products != NULL && j < k->n_products;
		     j++) {
			free(k->products[j]);
		}
		free(k->products);
	}
	free(p->keys);
	for (size_t i = 0; p->thr != NULL && i < p->n_thr; i++) {
		free(p->thr[i].pattern);
	}
	free(p->thr);
	free(p);
}

ft_policy *ft_policy_ref(ft_policy *p)
{
	if (p != NULL) {
		atomic_fetch_add_explicit(&p->refs, 1, memory_order_relaxed);
	}
	return p;
}

void ft_policy_unref(ft_policy *p)
{
	if (p == NULL) {
		return;
	}
	/* Release our writes; the last owner acquires everyone's before
	 * freeing (the usual shared_ptr ordering). */
	if (atomic_fetch_sub_explicit(&p->refs, 1, memory_order_release) ==
	    1) {
		atomic_thread_fence(memory_order_acquire);
		policy_free(p);
	}
}

size_t ft_policy_nkeys(const ft_policy *p)
{
	return p->nkeys;
}

size_t ft_policy_max_entry(const ft_policy *p)
{
	return p->max_entry;
}

/* ---- Parsing. */

/* 1 if c may appear in a product pattern: [A-Za-z0-9._-] and '*', '?'. */
static bool pattern_char(unsigned char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
	       (c >= '0' && c <= '9') || c == '.' || c == '_' || c == '-' ||
	       c == '*' || c == '?';
}

/* A pattern string at path: 0 and a malloc'd copy, or FT_ECONFIG. */
static int get_pattern(json_t *v, const char *path, char **out, char *err,
		       size_t cap)
{
	if (!json_is_string(v)) {
		ft_ju_set(err, cap, "%s: must be a string", path);
		return FT_ECONFIG;
	}
	const char *s = json_string_value(v);
	size_t n = json_string_length(v);
	char q[FT_JU_QUOTE_BUF];

	if (n == 0 || n > PATTERN_MAX) {
		ft_ju_set(err, cap, "%s: pattern must be 1..%d bytes", path,
		    PATTERN_MAX);
		return FT_ECONFIG;
	}
	for (size_t i = 0; i < n; i++) {
		if (!pattern_char((unsigned char)s[i])) {
			ft_ju_set(err, cap,
			    "%s: pattern \"%s\" may only hold A-Z a-z 0-9 . _ "
			    "- * ?",
			    path, ft_ju_quote(q, s, n));
			return FT_ECONFIG;
		}
	}
	char *c = malloc(n + 1);
	if (c == NULL) {
		ft_ju_set(err, cap, "out of memory");
		return FT_ENOMEM;
	}
	memcpy(c, s, n + 1);
	*out = c;
	return 0;
}

static int kind_from_name(const char *s, size_t n)
{
	for (int k = 1; k < NKINDS; k++) {
		if (strlen(kind_names[k]) == n &&
		    memcmp(kind_names[k], s, n) == 0) {
			return k;
		}
	}
	return 0;
}

static int parse_key(ft_policy *p, size_t idx, json_t *o, char *err,
		     size_t cap)
{
	static const char *const fields[] = {"key", "kinds", "products",
					     NULL};
	struct pkey *k = &p->keys[idx];
	char path[64];
	int rc;

	snprintf(path, sizeof path, "keys[%zu]", idx);
	if (!json_is_object(o)) {
		ft_ju_set(err, cap, "%s: must be an object", path);
		return FT_ECONFIG;
	}
	rc = ft_ju_check_fields(o, path, fields, FT_ECONFIG, err, cap);
	if (rc != 0) {
		return rc;
	}

	/* "key": a note verifier key string, Ed25519. */
	json_t *v = json_object_get(o, "key");
	if (v == NULL) {
		ft_ju_set(err, cap, "%s.key: missing", path);
		return FT_ECONFIG;
	}
	if (!json_is_string(v)) {
		ft_ju_set(err, cap, "%s.key: must be a string", path);
		return FT_ECONFIG;
	}
	rc = ft_vkey_parse(json_string_value(v), json_string_length(v),
			   &k->vk);
	if (rc != 0) {
		ft_ju_set(err, cap, "%s.key: invalid verifier key (%s)", path,
		    ft_strerror(rc));
		return FT_ECONFIG;
	}
	if (k->vk.type != FT_KEY_ED25519) {
		ft_ju_set(err, cap, "%s.key: not an Ed25519 key (type 0x%02x)", path,
		    (unsigned)k->vk.type);
		return FT_ECONFIG;
	}
	rc = ft_event_keyid(&k->vk, k->keyid, sizeof k->keyid);
	if (rc != 0) {
		ft_ju_set(err, cap, "%s.key: cannot form its keyid (%s)", path,
		    ft_strerror(rc));
		return FT_ECONFIG;
	}

	/* "kinds": 1..4 distinct kind names. */
	v = json_object_get(o, "kinds");
	if (v == NULL) {
		ft_ju_set(err, cap, "%s.kinds: missing", path);
		return FT_ECONFIG;
	}
	if (!json_is_array(v) || json_array_size(v) == 0) {
		ft_ju_set(err, cap, "%s.kinds: must be a non-empty array", path);
		return FT_ECONFIG;
	}
	for (size_t j = 0; j < json_array_size(v); j++) {
		json_t *s = json_array_get(v, j);
		char q[FT_JU_QUOTE_BUF];

		if (!json_is_string(s)) {
			ft_ju_set(err, cap, "%s.kinds[%zu]: must be a string", path,
			    j);
			return FT_ECONFIG;
		}
		int kind = kind_from_name(json_string_value(s),
					  json_string_length(s));
		if (kind == 0) {
			ft_ju_set(err, cap, "%s.kinds[%zu]: unknown kind \"%s\"",
			    path, j,
			    ft_ju_quote(q, json_string_value(s),
				  json_string_length(s)));
			return FT_ECONFIG;
		}
		if (k->kinds & (1u << kind)) {
			ft_ju_set(err, cap, "%s.kinds[%zu]: duplicate kind \"%s\"",
			    path, j, kind_names[kind]);
			return FT_ECONFIG;
		}
		k->kinds |= 1u << kind;
	}

	/* "products": 1..KEY_PATTERNS_MAX distinct patterns, default "*". */
	v = json_object_get(o, "products");
	size_t n = 1;
	if (v != NULL) {
		if (!json_is_array(v) || json_array_size(v) == 0 ||
		    json_array_size(v) > KEY_PATTERNS_MAX) {
			ft_ju_set(err, cap,
			    "%s.products: must be an array of 1..%d patterns",
			    path, KEY_PATTERNS_MAX);
			return FT_ECONFIG;
		}
		n = json_array_size(v);
	}
	k->products = calloc(n, sizeof *k->products);
	if (k->products == NULL) {
		ft_ju_set(err, cap, "out of memory");
		return FT_ENOMEM;
	}
	if (v == NULL) {
		k->products[0] = strdup("*");
		if (k->products[0] == NULL) {
			ft_ju_set(err, cap, "out of memory");
			return FT_ENOMEM;
		}
		k->n_products = 1;
		k->star = true;
		return 0;
	}
	for (size_t j = 0; j < n; j++) {
		char ppath[96];
		char *pat = NULL;

		snprintf(ppath, sizeof ppath, "%s.products[%zu]", path, j);
		rc = get_pattern(json_array_get(v, j), ppath, &pat, err, cap);
		if (rc != 0) {
			return rc;
		}
		k->products[k->n_products++] = pat;
		for (size_t m = 0; m < j; m++) {
			if (strcmp(k->products[m], pat) == 0) {
				char q[FT_JU_QUOTE_BUF];

				ft_ju_set(err, cap,
				    "%s: duplicate pattern \"%s\"", ppath,
				    ft_ju_quotez(q, pat));
				return FT_ECONFIG;
			}
		}
		if (strcmp(pat, "*") == 0) {
			k->star = true;
		}
	}
	return 0;
}

static int parse_thresholds(ft_policy *p, json_t *a, char *err, size_t cap)
{
	static const char *const fields[] = {"products", "threshold", NULL};

	if (!json_is_array(a) || json_array_size(a) > THRESHOLDS_MAX) {
		ft_ju_set(err, cap,
		    "release_thresholds: must be an array of at most %d "
		    "entries",
		    THRESHOLDS_MAX);
		return FT_ECONFIG;
	}
	size_t n = json_array_size(a);
	if (n == 0) {
		return 0;
	}
	p->thr = calloc(n, sizeof *p->thr);
	if (p->thr == NULL) {
		ft_ju_set(err, cap, "out of memory");
		return FT_ENOMEM;
	}
	for (size_t i = 0; i < n; i++) {
		json_t *o = json_array_get(a, i);
		char path[64], fpath[96];
		uint64_t t;
		int rc;

		snprintf(path, sizeof path, "release_thresholds[%zu]", i);
		if (!json_is_object(o)) {
			ft_ju_set(err, cap, "%s: must be an object", path);
			return FT_ECONFIG;
		}
		rc = ft_ju_check_fields(o, path, fields, FT_ECONFIG, err, cap);
		if (rc != 0) {
			return rc;
		}
		json_t *v = json_object_get(o, "products");
		snprintf(fpath, sizeof fpath, "%s.products", path);
		if (v == NULL) {
			ft_ju_set(err, cap, "%s: missing", fpath);
			return FT_ECONFIG;
		}
		rc = get_pattern(v, fpath, &p->thr[i].pattern, err, cap);
		if (rc != 0) {
			return rc;
		}
		p->n_thr = i + 1;
		v = json_object_get(o, "threshold");
		snprintf(fpath, sizeof fpath, "%s.threshold", path);
		if (v == NULL) {
			ft_ju_set(err, cap, "%s: missing", fpath);
			return FT_ECONFIG;
		}
		rc = ft_ju_get_uint(v, fpath, 1, FT_POLICY_MAX_KEYS, &t, FT_ECONFIG, err, cap);
		if (rc != 0) {
			return rc;
		}
		p->thr[i].threshold = (size_t)t;
		for (size_t m = 0; m < i; m++) {
			if (strcmp(p->thr[m].pattern, p->thr[i].pattern) ==
			    0) {
				char q[FT_JU_QUOTE_BUF];

				ft_ju_set(err, cap,
				    "%s.products: duplicate pattern \"%s\" "
				    "(release_thresholds[%zu] wins)",
				    path, ft_ju_quotez(q, p->thr[i].pattern), m);
				return FT_ECONFIG;
			}
		}
	}
	return 0;
}

static int cmp_keyid(const void *a, const void *b)
{
	const struct pkey *x = a, *y = b;

	return strcmp(x->keyid, y->keyid);
}

static int parse_keys(ft_policy *p, json_t *a, char *err, size_t cap)
{
	if (!json_is_array(a) || json_array_size(a) == 0 ||
	    json_array_size(a) > FT_POLICY_MAX_KEYS) {
		ft_ju_set(err, cap, "keys: must be an array of 1..%d keys",
		    FT_POLICY_MAX_KEYS);
		return FT_ECONFIG;
	}
	size_t n = json_array_size(a);
	p->keys = calloc(n, sizeof *p->keys);
	if (p->keys == NULL) {
		ft_ju_set(err, cap, "out of memory");
		return FT_ENOMEM;
	}
	for (size_t i = 0; i < n; i++) {
		p->nkeys = i + 1; /* so policy_free frees keys[i] */
		int rc = parse_key(p, i, json_array_get(a, i), err, cap);
		if (rc != 0) {
			return rc;
		}
		const struct pkey *k = &p->keys[i];
		for (size_t j = 0; j < i; j++) {
			const struct pkey *o = &p->keys[j];
			char q[FT_JU_QUOTE_BUF];

			if (o->vk.name_len == k->vk.name_len &&
			    memcmp(o->vk.name, k->vk.name, k->vk.name_len) ==
				    0) {
				ft_ju_set(err, cap,
				    "keys[%zu].key: duplicate key name \"%s\" "
				    "(also keys[%zu])",
				    i, ft_ju_quote(q, k->vk.name, k->vk.name_len),
				    j);
				return FT_ECONFIG;
			}
			if (memcmp(o->vk.pk, k->vk.pk, 32) == 0) {
				ft_ju_set(err, cap,
				    "keys[%zu].key: duplicate public key "
				    "(also keys[%zu])",
				    i, j);
				return FT_ECONFIG;
			}
		}
		for (int kind = 1; kind < NKINDS; kind++) {
			if (k->kinds & (1u << kind)) {
				p->per_kind[kind]++;
			}
		}
	}
	/* Names are unique, hence keyids too: bsearch finds one key. */
	qsort(p->keys, n, sizeof *p->keys, cmp_keyid);
	return 0;
}

static int parse_root(ft_policy *p, json_t *root, char *err, size_t cap)
{
	static const char *const fields[] = {
		"ftlog_policy",	     "max_entry_bytes",	   "max_signatures",
		"release_threshold", "release_thresholds", "keys",
		NULL};
	uint64_t u;
	int rc;

	if (!json_is_object(root)) {
		ft_ju_set(err, cap, "policy: must be a JSON object");
		return FT_ECONFIG;
	}
	/* The version first: a newer file's fields are then explained. */
	json_t *v = json_object_get(root, "ftlog_policy");
	if (v == NULL) {
		ft_ju_set(err, cap, "ftlog_policy: missing (must be 1)");
		return FT_ECONFIG;
	}
	if (!json_is_integer(v) || json_integer_value(v) != 1) {
		ft_ju_set(err, cap, "ftlog_policy: must be 1");
		return FT_ECONFIG;
	}
	rc = ft_ju_check_fields(root, "", fields, FT_ECONFIG, err, cap);
	if (rc != 0) {
		return rc;
	}

	p->max_entry = DEFAULT_MAX_ENTRY;
	p->max_sigs = DEFAULT_MAX_SIGS;
	p->threshold = DEFAULT_THRESHOLD;
	if ((v = json_object_get(root, "max_entry_bytes")) != NULL) {
		rc = ft_ju_get_uint(v, "max_entry_bytes", 1, FT_EVENT_MAX_BYTES, &u, FT_ECONFIG, err, cap);
		if (rc != 0) {
			return rc;
		}
		p->max_entry = (size_t)u;
	}
	if ((v = json_object_get(root, "max_signatures")) != NULL) {
		rc = ft_ju_get_uint(v, "max_signatures", 1, FT_EVENT_MAX_SIGS, &u, FT_ECONFIG, err, cap);
		if (rc != 0) {
			return rc;
		}
		p->max_sigs = (size_t)u;
	}
	if ((v = json_object_get(root, "release_threshold")) != NULL) {
		rc = ft_ju_get_uint(v, "release_threshold", 1, FT_POLICY_MAX_KEYS,
			      &u, FT_ECONFIG, err, cap);
		if (rc != 0) {
			return rc;
		}
		p->threshold = (size_t)u;
	}
	if ((v = json_object_get(root, "release_thresholds")) != NULL) {
		rc = parse_thresholds(p, v, err, cap);
		if (rc != 0) {
			return rc;
		}
	}
	v = json_object_get(root, "keys");
	if (v == NULL) {
		ft_ju_set(err, cap, "keys: missing");
		return FT_ECONFIG;
	}
	return parse_keys(p, v, err, cap);
}

int ft_policy_parse(const uint8_t *buf, size_t len, ft_policy **out,
		    char *err, size_t cap)
{
	ft_ju_set(err, cap, "%s", "");
	if (buf == NULL || out == NULL) {
		ft_ju_set(err, cap, "policy: no input");
		return FT_EINVAL;
	}
	if (len > FT_POLICY_FILE_MAX) {
		ft_ju_set(err, cap, "policy: larger than %d bytes",
		    FT_POLICY_FILE_MAX);
		return FT_ECONFIG;
	}
	json_t *root = NULL;
	int lrc = ft_ju_load(buf, len, &root, FT_ECONFIG, err, cap);

	if (lrc != 0) {
		return lrc;
	}
	ft_policy *p = calloc(1, sizeof *p);
	if (p == NULL) {
		json_decref(root);
		ft_ju_set(err, cap, "out of memory");
		return FT_ENOMEM;
	}
	atomic_init(&p->refs, 1);
	int rc = parse_root(p, root, err, cap);
	json_decref(root);
	if (rc != 0) {
		policy_free(p);
		return rc;
	}
	ft_ju_set(err, cap, "%s", "");
	*out = p;
	return 0;
}

int ft_policy_load(const char *path, ft_policy **out, char *err, size_t cap)
{
	uint8_t *buf = NULL;
	size_t len = 0;
	char perr[256];
	int rc;

	if (path == NULL || out == NULL) {
		ft_ju_set(err, cap, "policy: no file");
		return FT_EINVAL;
	}
	rc = ft_ju_read_file(path, FT_POLICY_FILE_MAX, FT_ECONFIG, FT_ECONFIG,
			     &buf, &len, err, cap);
	if (rc != 0) {
		return rc;
	}
	rc = ft_policy_parse(buf, len, out, perr, sizeof perr);
	free(buf);
	if (rc != 0) {
		ft_ju_set(err, cap, "%s: %s", path, perr);
	} else {
		ft_ju_set(err, cap, "%s", "");
	}
	return rc;
}

/* ---- Describing. */

/*
 * 1 if some string matches both glob patterns a and b (literals, '?' and
 * '*' only, as parsed). A walk of the product of the two pattern automata;
 * state (i, j) = positions in a and b. Conservative (1) without memory.
 */
static bool patterns_meet(const char *a, const char *b)
{
	size_t na = strlen(a), nb = strlen(b);
	size_t w = nb + 1, ns = (na + 1) * w;
	uint8_t *seen = calloc(ns, 1);
	size_t *stack = malloc(ns * sizeof *stack);
	size_t top = 0;
	bool meet = false;

	if (seen == NULL || stack == NULL) {
		free(seen);
		free(stack);
		return true;
	}
#define PUSH(i, j)                                                            \
	do {                                                                  \
		size_t s_ = (i) * w + (j);                                    \
		if (!seen[s_]) {                                              \
			seen[s_] = 1;                                         \
			stack[top++] = s_;                                    \
		}                                                             \
	} while (0)
	PUSH(0, 0);
	while (top > 0) {
		size_t s = stack[--top], i = s / w, j = s % w;

		if (i == na && j == nb) {
			meet = true;
			break;
		}
		if (i < na && a[i] == '*') {
			PUSH(i + 1, j); /* '*' matches nothing more */
		}
		if (j < nb && b[j] == '*') {
			PUSH(i, j + 1);
		}
		if (i < na && j < nb) {
			/* Both consume one character. */
			bool wa = a[i] == '*' || a[i] == '?';
			bool wb = b[j] == '*' || b[j] == '?';

			if (wa || wb || a[i] == b[j]) {
				PUSH(a[i] == '*' ? i : i + 1,
				     b[j] == '*' ? j : j + 1);
			}
		}
	}
#undef PUSH
	free(seen);
	free(stack);
	return meet;
}

/* Keys that may sign releases for some product matching pattern. */
static size_t release_keys_for(const ft_policy *p, const char *pattern)
{
	size_t n = 0;

	for (size_t i = 0; i < p->nkeys; i++) {
		const struct pkey *k = &p->keys[i];

		if (!(k->kinds & (1u << FT_EVENT_RELEASE))) {
			continue;
		}
		for (size_t j = 0; j < k->n_products; j++) {
			if (patterns_meet(k->products[j], pattern)) {
				n++;
				break;
			}
		}
	}
	return n;
}

/* Append to buf (capacity cap, used *o): silently cut at the end. */
static void add(char *buf, size_t cap, size_t *o, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));

static void add(char *buf, size_t cap, size_t *o, const char *fmt, ...)
{
	va_list ap;

	if (*o + 1 >= cap) {
		return;
	}
	va_start(ap, fmt);
	int n = vsnprintf(buf + *o, cap - *o, fmt, ap);
	va_end(ap);
	if (n < 0) {
		return;
	}
	*o += (size_t)n < cap - *o ? (size_t)n : cap - *o - 1;
}

void ft_policy_describe(const ft_policy *p, char *buf, size_t cap)
{
	size_t o = 0;
	char q[FT_JU_QUOTE_BUF];

	if (buf == NULL || cap == 0) {
		return;
	}
	buf[0] = '\0';
	add(buf, cap, &o,
	    "%zu key%s (%zu build, %zu release, %zu distribution, %zu "
	    "revocation), release threshold %zu",
	    p->nkeys, p->nkeys == 1 ? "" : "s", p->per_kind[FT_EVENT_BUILD],
	    p->per_kind[FT_EVENT_RELEASE], p->per_kind[FT_EVENT_DISTRIBUTION],
	    p->per_kind[FT_EVENT_REVOCATION], p->threshold);
	for (size_t i = 0; i < p->n_thr && i < 4; i++) {
		add(buf, cap, &o, "%s%s: %zu", i == 0 ? " (" : ", ",
		    ft_ju_quotez(q, p->thr[i].pattern), p->thr[i].threshold);
	}
	if (p->n_thr > 4) {
		add(buf, cap, &o, ", %zu more", p->n_thr - 4);
	}
	if (p->n_thr > 0) {
		add(buf, cap, &o, ")");
	}
	add(buf, cap, &o, ", max entry %zu bytes, max signatures %zu",
	    p->max_entry, p->max_sigs);

	/* Thresholds no envelope can meet: more than the release keys that
	 * may sign for the pattern, or more than max_signatures.
	 * A policy without release keys simply logs no releases: no warning
	 * for its default threshold. */
	size_t have = p->per_kind[FT_EVENT_RELEASE];
	if (have > 0 && (p->threshold > have || p->threshold > p->max_sigs)) {
		add(buf, cap, &o,
		    "; warning: releases can never be logged (release "
		    "threshold %zu, %zu release keys, max signatures %zu)",
		    p->threshold, have, p->max_sigs);
	}
	for (size_t i = 0; i < p->n_thr; i++) {
		have = release_keys_for(p, p->thr[i].pattern);
		if (p->thr[i].threshold > have ||
		    p->thr[i].threshold > p->max_sigs) {
			add(buf, cap, &o,
			    "; warning: \"%s\" can never be released "
			    "(threshold %zu, %zu release keys, max "
			    "signatures %zu)",
			    ft_ju_quotez(q, p->thr[i].pattern), p->thr[i].threshold,
			    have, p->max_sigs);
		}
	}
}

/* ---- Checking. */

static int cmp_find(const void *key, const void *elem)
{
	const struct pkey *k = elem;

	return strcmp(key, k->keyid);
}

static const struct pkey *find_key(const ft_policy *p, const char *keyid)
{
	return bsearch(keyid, p->keys, p->nkeys, sizeof *p->keys, cmp_find);
}

static bool key_allows_product(const struct pkey *k, const char *product)
{
	if (product == NULL) {
		return k->star;
	}
	for (size_t j = 0; j < k->n_products; j++) {
		if (fnmatch(k->products[j], product, 0) == 0) {
			return true;
		}
	}
	return false;
}

static size_t release_threshold(const ft_policy *p, const char *product)
{
	for (size_t i = 0; product != NULL && i < p->n_thr; i++) {
		if (fnmatch(p->thr[i].pattern, product, 0) == 0) {
			return p->thr[i].threshold;
		}
	}
	return p->threshold;
}

static void hex32(const uint8_t b[32], char out[65])
{
	static const char digits[] = "0123456789abcdef";

	for (size_t i = 0; i < 32; i++) {
		out[2 * i] = digits[b[i] >> 4];
		out[2 * i + 1] = digits[b[i] & 15];
	}
	out[64] = '\0';
}

/* obj[name] = new value v; false (and v freed) on failure. */
static bool put(json_t *obj, const char *name, json_t *v)
{
	return v != NULL && json_object_set_new(obj, name, v) == 0;
}

static bool put_str(json_t *obj, const char *name, const char *s)
{
	return put(obj, name, json_string(s));
}

static bool put_opt(json_t *obj, const char *name, const char *s)
{
	return s == NULL || put_str(obj, name, s);
}

static bool put_hex(json_t *obj, const char *name, const uint8_t b[32])
{
	char h[65];

	hex32(b, h);
	return put_str(obj, name, h);
}

static bool put_strs(json_t *obj, const char *name, const char *const *s,
		     size_t n)
{
	json_t *a = json_array();

	for (size_t i = 0; a != NULL && i < n; i++) {
		if (json_array_append_new(a, json_string(s[i])) != 0) {
			json_decref(a);
			return false;
		}
	}
	return put(obj, name, a);
}

static bool put_uint(json_t *obj, const char *name, uint64_t v)
{
	/* The parser keeps these to JSON-safe integers (< 2^53). */
	if (v > (uint64_t)INT64_MAX) {
		return false;
	}
	return put(obj, name, json_integer((json_int_t)v));
}

/* The predicate fields of the lineage record, by kind. */
static bool record_fields(json_t *r, const ft_event *ev)
{
	switch (ev->kind) {
	case FT_EVENT_RELEASE: {
		bool ok = put_str(r, "product", ev->product) &&
			  put_str(r, "vendor", ev->vendor) &&
			  put_str(r, "version", ev->version) &&
			  put_uint(r, "security_version",
				   ev->security_version) &&
			  put_strs(r, "hardware_models", ev->hw, ev->n_hw);
		if (ok && ev->has_sbom) {
			ok = put_hex(r, "sbom_sha256", ev->sbom_sha256);
		}
		if (ok && ev->has_build_index) {
			ok = put_uint(r, "build_index", ev->build_index);
		}
		if (ok && ev->evidence_type != NULL) {
			json_t *e = json_object();

			ok = e != NULL &&
			     put_str(e, "type", ev->evidence_type) &&
			     put_hex(e, "sha256", ev->evidence_sha256);
			if (!ok) {
				json_decref(e);
			} else {
				ok = put(r, "evidence", e);
			}
		}
		return ok;
	}
	case FT_EVENT_DISTRIBUTION:
		return put_str(r, "product", ev->product) &&
		       put_str(r, "channel", ev->channel) &&
		       put_opt(r, "version", ev->version) &&
		       (ev->n_regions == 0 ||
			put_strs(r, "regions", ev->regions, ev->n_regions)) &&
		       (ev->n_slices == 0 ||
			put_strs(r, "network_slices", ev->slices,
				 ev->n_slices)) &&
		       put_opt(r, "uri", ev->uri);
	case FT_EVENT_REVOCATION: {
		bool ok = put_str(r, "target",
				  ev->revoke == FT_REVOKE_KEY ? "key"
							      : "image") &&
			  put_str(r, "reason", ev->reason) &&
			  put_opt(r, "product", ev->product);
		if (ok && ev->revoke == FT_REVOKE_KEY) {
			char ks[FT_KEY_STR_MAX + 1];
			size_t kl;

			ok = ft_vkey_format(&ev->revoked_key, ks, sizeof ks,
					    &kl) == 0 &&
			     put_str(r, "key", ks);
		}
		return ok;
	}
	case FT_EVENT_BUILD:
		return put_str(r, "build_type", ev->build_type) &&
		       put_str(r, "builder_id", ev->builder_id);
	default:
		return false;
	}
}

/*
 * The store's view of an accepted event: one malloc'd block with the
 * lineage record (compact JSON, keys in a fixed order) at its end.
 */
static int make_meta(const ft_event *ev, const struct pkey *const *signers,
		     size_t n, ft_store_meta **meta)
{
	json_t *r = json_object();
	json_t *names = json_array();
	json_t *ids = json_array();
	char *text = NULL;
	int rc = FT_ENOMEM;

	if (r == NULL || names == NULL || ids == NULL) {
		json_decref(names);
		json_decref(ids);
		goto out;
	}
	/* Names for people; key ids ("name+hex8", DESIGN.md section 4) stay
	 * unambiguous when a later policy reuses a name. */
	for (size_t i = 0; i < n; i++) {
		if (json_array_append_new(names,
					  json_string(signers[i]->vk.name)) !=
			    0 ||
		    json_array_append_new(ids,
					  json_string(signers[i]->keyid)) != 0) {
			json_decref(names);
			json_decref(ids);
			goto out;
		}
	}
	if (!put_str(r, "kind", kind_names[ev->kind])) {
		json_decref(names);
		json_decref(ids);
		goto out;
	}
	if (!put(r, "signers", names)) { /* names is gone either way */
		json_decref(ids);
		goto out;
	}
	if (!put(r, "signer_keyids", ids) || !record_fields(r, ev)) {
		goto out;
	}
	text = json_dumps(r, JSON_COMPACT | JSON_PRESERVE_ORDER);
	if (text == NULL) {
		goto out;
	}
	size_t len = strlen(text);
	ft_store_meta *m = malloc(sizeof *m + len);
	if (m == NULL) {
		goto out;
	}
	memset(m, 0, sizeof *m);
	m->kind = ev->kind;
	m->revoke = ev->revoke;
	{
		struct sha256_ctx h;

		sha256_init(&h);
		sha256_update(&h, ev->pae_len, ev->pae);
		sha256_digest(&h, sizeof m->statement, m->statement);
	}
	if (ev->kind == FT_EVENT_REVOCATION && ev->revoke == FT_REVOKE_KEY) {
		memcpy(m->revoked_key, ev->revoked_key.pk, 32);
	}
	m->n_subjects = ev->n_subjects;
	for (size_t i = 0; i < ev->n_subjects; i++) {
		memcpy(m->subjects[i], ev->subjects[i].sha256, 32);
	}
	m->n_signers = n;
	for (size_t i = 0; i < n; i++) {
		memcpy(m->signers[i], signers[i]->vk.pk, 32);
	}
	m->record_len = len;
	memcpy(m->record, text, len);
	*meta = m;
	rc = 0;
out:
	free(text);
	json_decref(r);
	return rc;
}

int ft_policy_check(const ft_policy *p, const uint8_t *entry, size_t len,
		    ft_store_meta **meta, char *reason, size_t cap)
{
	ft_event ev;
	const struct pkey *by_sig[FT_EVENT_MAX_SIGS];
	const struct pkey *signers[FT_EVENT_MAX_SIGS];
	size_t nsigners = 0;
	char q[FT_JU_QUOTE_BUF];
	int rc;

	memset(&ev, 0, sizeof ev);
	ft_ju_set(reason, cap, "%s", "");
	if (p == NULL || meta == NULL || (entry == NULL && len != 0)) {
		ft_ju_set(reason, cap, "internal: bad arguments");
		return FT_EINVAL;
	}
	*meta = NULL;

	/* too-large: before parsing anything. */
	if (len > p->max_entry) {
		ft_ju_set(reason, cap, "too-large: entry is %zu bytes, the limit is %zu",
		    len, p->max_entry);
		return FT_ETOOBIG;
	}

	/* json .. predicate: the parser's own rule names and codes. */
	rc = ft_event_parse(entry, len, &ev, reason, cap);
	if (rc != 0) {
		ft_event_free(&ev);
		return rc;
	}

	if (ev.n_sigs > p->max_sigs) {
		ft_ju_set(reason, cap, "signatures: %zu signatures, the limit is %zu",
		    ev.n_sigs, p->max_sigs);
		rc = FT_ETOOBIG;
		goto out;
	}

	/* unknown-key: every keyid must name a policy key. */
	for (size_t i = 0; i < ev.n_sigs; i++) {
		const char *kid = ev.sigs[i].keyid;

		if (kid[0] == '\0') {
			ft_ju_set(reason, cap,
			    "unknown-key: signature %zu has no keyid (ftlog "
			    "requires \"<name>+<hex8>\")",
			    i);
			rc = FT_EUNKNOWN_KEY;
			goto out;
		}
		by_sig[i] = find_key(p, kid);
		if (by_sig[i] == NULL) {
			ft_ju_set(reason, cap,
			    "unknown-key: signature %zu keyid \"%s\" is not a "
			    "policy key",
			    i, ft_ju_quotez(q, kid));
			rc = FT_EUNKNOWN_KEY;
			goto out;
		}
	}

	/* signature: one Ed25519 verification per signature. */
	for (size_t i = 0; i < ev.n_sigs; i++) {
		rc = ft_event_verify(&ev, i, &by_sig[i]->vk);
		if (rc != 0) {
			ft_ju_set(reason, cap,
			    "signature: signature %zu by \"%s\" does not "
			    "verify",
			    i, ft_ju_quotez(q, by_sig[i]->keyid));
			/* Whatever the cause (FT_EINVAL cannot happen:
			 * policy keys are Ed25519), fail closed. */
			rc = FT_ENOTE_BADSIG;
			goto out;
		}
		bool seen = false;
		for (size_t j = 0; j < nsigners; j++) {
			seen = seen || signers[j] == by_sig[i];
		}
		if (!seen) {
			signers[nsigners++] = by_sig[i];
		}
	}

	/* kind. */
	for (size_t i = 0; i < nsigners; i++) {
		if (!(signers[i]->kinds & (1u << ev.kind))) {
			ft_ju_set(reason, cap,
			    "kind: key \"%s\" may not sign %s events",
			    ft_ju_quote(q, signers[i]->vk.name,
				  signers[i]->vk.name_len),
			    kind_names[ev.kind]);
			rc = FT_EUNAUTHORIZED;
			goto out;
		}
	}

	/* product: builds carry none; a key revocation may have none. */
	if (ev.kind != FT_EVENT_BUILD) {
		for (size_t i = 0; i < nsigners; i++) {
			char q2[FT_JU_QUOTE_BUF];

			if (key_allows_product(signers[i], ev.product)) {
				continue;
			}
			if (ev.product == NULL) {
				ft_ju_set(reason, cap,
				    "product: key \"%s\" may not sign %s "
				    "events without a product (that needs "
				    "the pattern \"*\")",
				    ft_ju_quote(q, signers[i]->vk.name,
					  signers[i]->vk.name_len),
				    kind_names[ev.kind]);
			} else {
				ft_ju_set(reason, cap,
				    "product: key \"%s\" may not sign for "
				    "product \"%s\"",
				    ft_ju_quote(q, signers[i]->vk.name,
					  signers[i]->vk.name_len),
				    ft_ju_quotez(q2, ev.product));
			}
			rc = FT_EUNAUTHORIZED;
			goto out;
		}
	}

	/* threshold: distinct verified authorized signers of a release. */
	if (ev.kind == FT_EVENT_RELEASE) {
		size_t need = release_threshold(p, ev.product);

		if (nsigners < need) {
			ft_ju_set(reason, cap,
			    "threshold: %zu distinct release key%s signed, "
			    "product \"%s\" needs %zu",
			    nsigners, nsigners == 1 ? "" : "s",
			    ft_ju_quotez(q, ev.product), need);
			rc = FT_ETHRESHOLD;
			goto out;
		}
	}

	rc = make_meta(&ev, signers, nsigners, meta);
	if (rc != 0) {
		ft_ju_set(reason, cap, "internal: %s", ft_strerror(rc));
	}
out:
	ft_event_free(&ev);
	return rc;
}
