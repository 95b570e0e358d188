/*
 * tests/test_client.c - the attack matrix of libftclient (ftlog/client.h),
 * fully in-process: every key, release envelope, Merkle tree, checkpoint,
 * cosignature and bundle is built here from the library's own building
 * blocks (ft_key_from_seed, ft_event_statement/sign, ft_merkle_*,
 * ft_checkpoint_format, ft_note_sign, ft_cosig_add, ft_tlog_proof_format),
 * with fixed seeds and a fixed clock.
 *
 * Every refusal asserts the exact error code, a one-line reason starting
 * with the rule name of the table in client.h, a zeroed result, that the
 * state file is byte-for-byte unchanged, and that ft_client_commit then
 * refuses with FT_ECLIENT_NOT_VERIFIED without touching the file.
 *
 *   genuine        the good bundle (every result field), commit, reload
 *   bundle         truncations at every length, garbage, empty, no extra
 *                  line, wrong header, a note that is not a checkpoint
 *   log            other origin, forged root, outsider key with the log's
 *                  name
 *   witnesses      quorum, unknown witness, duplicate cosignature, future,
 *                  stale (and their boundaries), quorum 0
 *   inclusion      other index, other tree size, flipped path hash,
 *                  modified entry
 *   release        not a release, other image, other product, hardware
 *   vendor         threshold, revoked key, outsider key, bad signature
 *   state          rollback, consistency (smaller, same size other root,
 *                  proof good / bad / absent), first boot, corrupted state
 *   image          ft_client_hash_file against nettle, refusals
 *   order          the table's order (quorum before future); a failed
 *                  verify, even an argument error, leaves nothing to commit
 *   malloc         (non-ASan builds) no allocation on the proof path, none
 *                  leaked by a full verify, none in hashing. The counters
 *                  check themselves through jansson first; under ASan or
 *                  valgrind (whose allocator bypasses ours) they are
 *                  skipped with a note, the verdicts are still asserted.
 *
 * Trees are built with an independent recursive RFC 6962 implementation
 * (MTH, PATH, SUBPROOF of RFC 6962 section 2.1) and every proof meant to
 * be valid is checked with ft_proof_verify_* before use, so the fixture is
 * known-good.
 */
#define _DEFAULT_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <unistd.h>

#include <jansson.h>
#include <nettle/sha2.h>

#include <ftlog/client.h>
#include <ftlog/common.h>
#include <ftlog/event.h>
#include <ftlog/merkle.h>
#include <ftlog/note.h>
#include <ftlog/tlogproof.h>

#include "client/state.h"
#include "tests/testutil.h"

/* Cheap assertion for loops (ck_assert marks a point on every success). */
#define REQ(c)                                                         \
	do {                                                           \
		if (!(c)) {                                            \
			ck_abort_msg("%s:%d: %s", __FILE__, __LINE__, #c); \
		}                                                      \
	} while (0)

/* ---- Malloc interposition (non-sanitizer builds only). ---------------- */

#if defined(__SANITIZE_ADDRESS__)
#define TC_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define TC_ASAN 1
#endif
#endif
#ifndef TC_ASAN
#define TC_ASAN 0
#endif

#define TC_LIVE_MAX 4096

static int g_counting;       /* count calls while set */
static size_t g_allocs;      /* successful allocations while counting */
static size_t g_frees;       /* frees of pointers allocated while counting */
static size_t g_calls;       /* every malloc-family call while counting */
static int g_live_overflow;  /* more than TC_LIVE_MAX live pointers */
static void *g_live[TC_LIVE_MAX];

#if !TC_ASAN
/* Exported even under -fvisibility=hidden, so that shared libraries
 * (jansson) call these. */
#define TC_EXPORT __attribute__((visibility("default")))

extern void *__libc_malloc(size_t n);
extern void *__libc_calloc(size_t n, size_t m);
extern void *__libc_realloc(void *p, size_t n);
extern void __libc_free(void *p);

static void live_add(void *p)
{
	if (p == NULL) {
		return;
	}
	g_allocs++;
	for (size_t i = 0; i < TC_LIVE_MAX; i++) {
		if (g_live[i] == NULL) {
			g_live[i] = p;
			return;
		}
	}
	g_live_overflow = 1;
}

static void live_del(void *p)
{
	if (p == NULL) {
		return;
	}
	for (size_t i = 0; i < TC_LIVE_MAX; i++) {
		if (g_live[i] == p) {
			g_live[i] = NULL;
			g_frees++;
			return;
		}
	}
}

TC_EXPORT void *malloc(size_t n)
{
	void *p = __libc_malloc(n);

	if (g_counting) {
		g_calls++;
		live_add(p);
	}
	return p;
}

TC_EXPORT void *calloc(size_t n, size_t m)
{
	void *p = __libc_calloc(n, m);

	if (g_counting) {
		g_calls++;
		live_add(p);
	}
	return p;
}

TC_EXPORT void *realloc(void *p, size_t n)
{
	void *q = __libc_realloc(p, n);

	if (g_counting) {
		g_calls++;
		if (p == NULL) {
			live_add(q);
		} else if (n == 0 || q != NULL) {
			live_del(p);
			live_add(q);
		}
	}
	return q;
}

TC_EXPORT void free(void *p)
{
	if (g_counting && p != NULL) {
		g_calls++;
		live_del(p);
	}
	__libc_free(p);
}
#endif

static void count_start(void)
{
	g_allocs = 0;
	g_frees = 0;
	g_calls = 0;
	g_live_overflow = 0;
	memset(g_live, 0, sizeof g_live);
	g_counting = 1;
}

static void count_stop(void)
{
	g_counting = 0;
}

static size_t live_count(void)
{
	size_t n = 0;

	for (size_t i = 0; i < TC_LIVE_MAX; i++) {
		n += g_live[i] != NULL;
	}
	return n;
}

/*
 * 1 if the allocation counters can be trusted here. Under ASan the hooks
 * are compiled out; under valgrind (which preloads its own malloc and
 * bypasses ours) they are inactive. Both print a note and return 0; an
 * inactive hook anywhere else fails the test.
 */
static int counts_checked(void)
{
	const char *pre = getenv("LD_PRELOAD");
	json_t *j;
	size_t seen;

	if (TC_ASAN) {
		fprintf(stderr, "test_client: sanitizer build, malloc counts "
			"not checked\n");
		return 0;
	}
	/* Through a shared library, as the code under test allocates. */
	count_start();
	j = json_string("hook");
	json_decref(j);
	count_stop();
	seen = g_allocs;
	if (j == NULL) {
		ck_abort_msg("json_string failed");
	}
	if (seen > 0 && g_frees == seen) {
		return 1;
	}
	if (pre != NULL && strstr(pre, "valgrind") != NULL) {
		fprintf(stderr, "test_client: under valgrind, malloc counts "
			"not checked\n");
		return 0;
	}
	ck_abort_msg("the malloc interposition of this test is not active");
	return 0;
}

/* ---- Fixed material. -------------------------------------------------- */

#define NOW 1900000000ull          /* the device's clock */
#define ORIGIN "test.example/ftlog"
#define PRODUCT "gnb-du"
#define HW "acme-du-4400"
#define MAX_AGE 86400ull
#define FLOOR 7ull                 /* the stored floor of PRODUCT */
#define GOOD_SV 8ull               /* security_version of the release */
#define TREE 12ull                 /* tree size of the genuine bundle */
#define IDX 7ull                   /* index of the release in it */
#define MAX_LEAVES 64
#define MAX_COSIGS 8
#define IMAGE_LEN 4096

static ft_skey K_LOG;      /* the log, name ORIGIN */
static ft_skey K_LOGOUT;   /* an outsider key named ORIGIN */
static ft_skey K_EVIL;     /* another log, "evil.example/ftlog" */
static ft_skey K_W[4];     /* witnesses; K_W[3] is not in the policy */
static ft_skey K_V[3];     /* vendor release keys */
static ft_skey K_VREV;     /* a revoked vendor key */
static ft_skey K_VOUT;     /* the outsider, an Ed25519 key of nobody */

/* The policy written by write_policy(). */
static struct {
	int no_witnesses;  /* leave "witnesses" out (quorum 0) */
	unsigned quorum;   /* of K_W[0..2] */
	unsigned threshold; /* of K_V[0..2] */
	int revoked;       /* list K_VREV in vendor.revoked */
	uint64_t max_age;
} g_pol;

static char *g_dir;
static char g_policy[512];
static char g_state[512];
static char g_image[512];
static uint8_t g_img[IMAGE_LEN];
static uint8_t g_digest[32];

static ft_client g_c; /* ~230 KiB: static */

/* Work buffers: large, static. */
static uint8_t g_bundle[FT_TLOG_PROOF_MAX];
static size_t g_bundle_len;
static uint8_t g_entry[FT_EVENT_MAX_BYTES];
static size_t g_entry_len;
static uint8_t g_entry2[FT_EVENT_MAX_BYTES];
static size_t g_entry2_len;

/* The first occurrence of needle in hay[0..n), or NULL. */
static uint8_t *find(uint8_t *hay, size_t n, const char *needle)
{
	size_t m = strlen(needle);

	for (size_t i = 0; m <= n && i <= n - m; i++) {
		if (memcmp(hay + i, needle, m) == 0) {
			return hay + i;
		}
	}
	return NULL;
}

static void sha256(const uint8_t *p, size_t n, uint8_t out[32])
{
	struct sha256_ctx c;

	sha256_init(&c);
	sha256_update(&c, n, p);
	sha256_digest(&c, 32, out);
}

static void key(ft_skey *k, const char *name, uint8_t type, uint8_t tag)
{
	uint8_t seed[32];

	for (size_t i = 0; i < sizeof seed; i++) {
		seed[i] = (uint8_t)(tag * 31u + i);
	}
	ck_assert_int_eq(ft_key_from_seed(name, strlen(name), type, seed, k),
			 0);
}

static void make_keys(void)
{
	key(&K_LOG, ORIGIN, FT_KEY_ED25519, 1);
	key(&K_LOGOUT, ORIGIN, FT_KEY_ED25519, 2);
	key(&K_EVIL, "evil.example/ftlog", FT_KEY_ED25519, 3);
	key(&K_W[0], "witness-a.example/w", FT_KEY_COSIG_V1, 10);
	key(&K_W[1], "witness-b.example/w", FT_KEY_COSIG_V1, 11);
	key(&K_W[2], "witness-c.example/w", FT_KEY_COSIG_V1, 12);
	key(&K_W[3], "witness-x.example/w", FT_KEY_COSIG_V1, 13);
	key(&K_V[0], "acme.example/release-a", FT_KEY_ED25519, 20);
	key(&K_V[1], "acme.example/release-b", FT_KEY_ED25519, 21);
	key(&K_V[2], "acme.example/release-c", FT_KEY_ED25519, 22);
	key(&K_VREV, "acme.example/release-old", FT_KEY_ED25519, 23);
	key(&K_VOUT, "outsider.example/release", FT_KEY_ED25519, 24);
}

/* The verifier key string of k, into out (FT_KEY_STR_MAX + 1). */
static void vkey_str(const ft_skey *k, char *out)
{
	ft_vkey v;
	size_t n;

	ft_skey_public(k, &v);
	ck_assert_int_eq(ft_vkey_format(&v, out, FT_KEY_STR_MAX + 1, &n), 0);
}

/* ---- Files. ----------------------------------------------------------- */

static void write_policy(void)
{
	char k[FT_KEY_STR_MAX + 1];
	char buf[8192];
	size_t n = 0;
	int w;

#define PUT(...)                                                            \
	do {                                                                \
		w = snprintf(buf + n, sizeof buf - n, __VA_ARGS__);         \
		ck_assert(w >= 0 && (size_t)w < sizeof buf - n);            \
		n += (size_t)w;                                             \
	} while (0)
	vkey_str(&K_LOG, k);
	PUT("{\"ftlog_device_policy\": 1, \"log\": {\"key\": \"%s\"},\n", k);
	if (!g_pol.no_witnesses) {
		PUT("\"witnesses\": {\"quorum\": %u, \"keys\": [", g_pol.quorum);
		for (int i = 0; i < 3; i++) {
			vkey_str(&K_W[i], k);
			PUT("%s\"%s\"", i ? ", " : "", k);
		}
		PUT("]},\n");
	}
	PUT("\"vendor\": {\"threshold\": %u, \"keys\": [", g_pol.threshold);
	for (int i = 0; i < 3; i++) {
		vkey_str(&K_V[i], k);
		PUT("%s\"%s\"", i ? ", " : "", k);
	}
	PUT("]");
	if (g_pol.revoked) {
		vkey_str(&K_VREV, k);
		PUT(", \"revoked\": [\"%s\"]", k);
	}
	PUT("},\n\"product\": \"%s\", \"hardware_model\": \"%s\",\n"
	    "\"max_checkpoint_age\": %llu}\n",
	    PRODUCT, HW, (unsigned long long)g_pol.max_age);
#undef PUT
	ck_assert_int_eq(tu_write_file(g_policy, buf, n), 0);
}

/* Save a state: floor FLOOR for PRODUCT, optionally a checkpoint. */
static void write_state(int has_cp, uint64_t size, const ft_hash *root,
			uint64_t floor)
{
	ft_state st;
	char err[256];

	ft_state_init(&st);
	if (has_cp) {
		ft_state_set_checkpoint(&st, size, root);
	}
	ck_assert_int_eq(ft_state_set_floor(&st, PRODUCT, floor), 0);
	if (ft_state_save(g_state, &st, err, sizeof err) != 0) {
		ck_abort_msg("ft_state_save: %s", err);
	}
}

static void client_init(void)
{
	char err[FT_CLIENT_ERR_MAX];
	int rc = ft_client_init(&g_c, g_policy, g_state, 0, err, sizeof err);

	if (rc != 0) {
		ck_abort_msg("ft_client_init: %d %s", rc, err);
	}
}

/* Rewrite the policy from g_pol and load it with the current state. */
static void reinit(void)
{
	write_policy();
	client_init();
}

/* ---- Entries. --------------------------------------------------------- */

/* A release of the image with SHA-256 digest, signed by keys. */
static void release(uint8_t *out, size_t *out_len, const uint8_t digest[32],
		    const char *product, uint64_t sv, const char *hw_json,
		    const ft_skey *keys, size_t nkeys)
{
	ft_event_subject sub = { "fw.bin", { 0 } };
	char pred[1024];
	char reason[256];
	char *stmt = NULL;
	char *env = NULL;
	size_t slen = 0;
	size_t elen = 0;
	int w;
	int rc;

	memcpy(sub.sha256, digest, 32);
	w = snprintf(pred, sizeof pred,
		     "{\"product\":\"%s\",\"vendor\":\"acme.example\","
		     "\"version\":\"4.2.%llu\",\"security_version\":%llu,"
		     "\"hardware_models\":%s}",
		     product, (unsigned long long)sv, (unsigned long long)sv,
		     hw_json);
	ck_assert(w > 0 && (size_t)w < sizeof pred);
	rc = ft_event_statement(FT_EVENT_RELEASE, &sub, 1, pred, (size_t)w,
				&stmt, &slen, reason, sizeof reason);
	if (rc != 0) {
		ck_abort_msg("ft_event_statement: %d %s", rc, reason);
	}
	ck_assert_int_eq(ft_event_sign((const uint8_t *)stmt, slen, keys, nkeys,
				       &env, &elen), 0);
	ck_assert_uint_le(elen, FT_EVENT_MAX_BYTES);
	memcpy(out, env, elen);
	*out_len = elen;
	free(stmt);
	free(env);
}

/* The default release: the image, PRODUCT, sv, HW, signed by V0 and V1. */
static void good_release(uint8_t *out, size_t *len, uint64_t sv)
{
	release(out, len, g_digest, PRODUCT, sv,
		"[\"acme-du-4500\",\"" HW "\"]", K_V, 2);
}

/* A build event (SLSA provenance) of the image, signed by V0. */
static void build_event(uint8_t *out, size_t *out_len)
{
	static const char pred[] =
		"{\"buildDefinition\":{\"buildType\":"
		"\"https://ci.acme.example/fw/v1\",\"externalParameters\":{}},"
		"\"runDetails\":{\"builder\":{\"id\":"
		"\"https://ci.acme.example/b1\"}}}";
	ft_event_subject sub = { "fw.bin", { 0 } };
	char reason[256];
	char *stmt = NULL;
	char *env = NULL;
	size_t slen = 0;
	size_t elen = 0;
	int rc;

	memcpy(sub.sha256, g_digest, 32);
	rc = ft_event_statement(FT_EVENT_BUILD, &sub, 1, pred,
				sizeof pred - 1, &stmt, &slen, reason,
				sizeof reason);
	if (rc != 0) {
		ck_abort_msg("ft_event_statement: %d %s", rc, reason);
	}
	ck_assert_int_eq(ft_event_sign((const uint8_t *)stmt, slen, K_V, 1,
				       &env, &elen), 0);
	memcpy(out, env, elen);
	*out_len = elen;
	free(stmt);
	free(env);
}

/* ---- RFC 6962 trees, computed independently of libftmerkle. ---------- */

static uint64_t split(uint64_t n) /* largest power of 2 below n (n > 1) */
{
	uint64_t k = 1;

	while (k * 2 < n) {
		k *= 2;
	}
	return k;
}

static void mth(const ft_hash *d, uint64_t n, ft_hash *out)
{
	ft_hash a;
	ft_hash b;
	uint64_t k;

	if (n == 0) {
		ft_merkle_empty_root(out);
		return;
	}
	if (n == 1) {
		*out = d[0];
		return;
	}
	k = split(n);
	mth(d, k, &a);
	mth(d + k, n - k, &b);
	ft_merkle_node_hash(&a, &b, out);
}

static void path(uint64_t m, const ft_hash *d, uint64_t n, ft_hash *p,
		 size_t *np)
{
	uint64_t k;

	if (n <= 1) {
		return;
	}
	k = split(n);
	if (m < k) {
		path(m, d, k, p, np);
		mth(d + k, n - k, &p[(*np)++]);
	} else {
		path(m - k, d + k, n - k, p, np);
		mth(d, k, &p[(*np)++]);
	}
}

static void subproof(uint64_t m, const ft_hash *d, uint64_t n, int b,
		     ft_hash *p, size_t *np)
{
	uint64_t k;

	if (m == n) {
		if (!b) {
			mth(d, n, &p[(*np)++]);
		}
		return;
	}
	k = split(n);
	if (m <= k) {
		subproof(m, d, k, b, p, np);
		mth(d + k, n - k, &p[(*np)++]);
	} else {
		subproof(m - k, d + k, n - k, 0, p, np);
		mth(d, k, &p[(*np)++]);
	}
}

/* The leaves of our log: fillers, with `entry` at index idx. Any tree
 * size is a prefix of any larger one. */
static void leaves(ft_hash *d, uint64_t n, uint64_t idx, const uint8_t *entry,
		   size_t len)
{
	ck_assert_uint_le(n, MAX_LEAVES);
	for (uint64_t i = 0; i < n; i++) {
		char f[64];
		int w = snprintf(f, sizeof f, "filler entry %llu",
				 (unsigned long long)i);

		ft_merkle_leaf_hash((const uint8_t *)f, (size_t)w, &d[i]);
	}
	if (idx < n) {
		ft_merkle_leaf_hash(entry, len, &d[idx]);
	}
}

/* Root of the tree of size n holding the genuine entry g_entry at IDX. */
static void root_at(uint64_t n, ft_hash *root)
{
	ft_hash d[MAX_LEAVES];

	leaves(d, n, IDX, g_entry, g_entry_len);
	mth(d, n, root);
}

/* Consistency proof m -> n of the genuine layout, checked. */
static void cons_proof(uint64_t m, uint64_t n, ft_hash *p, size_t *np)
{
	ft_hash d[MAX_LEAVES];
	ft_hash r1;
	ft_hash r2;

	leaves(d, n, IDX, g_entry, g_entry_len);
	*np = 0;
	subproof(m, d, n, 1, p, np);
	mth(d, m, &r1);
	mth(d, n, &r2);
	ck_assert_uint_eq(*np, ft_proof_consistency_len(m, n));
	ck_assert_int_eq(ft_proof_verify_consistency(m, n, r1.b, 32, r2.b, 32,
						     (const uint8_t *)p,
						     *np * 32), 0);
}

/* ---- Checkpoints and bundles. ---------------------------------------- */

struct cosig {
	const ft_skey *k;
	uint64_t ts;
};

/* How to build a bundle. spec_default() gives the genuine one. */
struct spec {
	const uint8_t *entry;   /* the extra line (NULL: no extra line) */
	size_t elen;
	const uint8_t *logged;  /* what the tree holds at index */
	size_t llen;
	uint64_t size;          /* checkpoint tree size */
	uint64_t index;         /* where `logged` is in the tree */
	uint64_t claim;         /* the index line of the bundle */
	uint64_t path_index;    /* the path is for this leaf ... */
	uint64_t path_size;     /* ... in the tree of this size */
	int flip_path;          /* flip a bit of path[flip_path - 1] */
	const char *origin;     /* checkpoint origin */
	const ft_skey *signer;  /* the note signer */
	int forge_root;         /* change the root after signing */
	size_t ncs;
	struct cosig cs[MAX_COSIGS];
};

static void spec_default(struct spec *s)
{
	memset(s, 0, sizeof *s);
	s->entry = g_entry;
	s->elen = g_entry_len;
	s->logged = g_entry;
	s->llen = g_entry_len;
	s->size = TREE;
	s->index = IDX;
	s->claim = IDX;
	s->path_index = IDX;
	s->path_size = TREE;
	s->origin = ORIGIN;
	s->signer = &K_LOG;
	s->ncs = 3;
	s->cs[0] = (struct cosig){ &K_W[0], NOW - 600 };
	s->cs[1] = (struct cosig){ &K_W[1], NOW - 300 };
	s->cs[2] = (struct cosig){ &K_W[2], NOW - 60 };
}

/* The signed checkpoint note of spec s for root, into out. */
static size_t make_note(const struct spec *s, const ft_hash *root,
			uint8_t *out, size_t cap)
{
	ft_checkpoint cp;
	uint8_t text[1024];
	size_t tlen = 0;
	size_t n = 0;

	memset(&cp, 0, sizeof cp);
	ck_assert_uint_lt(strlen(s->origin), sizeof cp.origin);
	memcpy(cp.origin, s->origin, strlen(s->origin));
	cp.origin_len = strlen(s->origin);
	cp.size = s->size;
	cp.root = *root;
	ck_assert_int_eq(ft_checkpoint_format(&cp, text, sizeof text, &tlen),
			 0);
	ck_assert_int_eq(ft_note_sign(text, tlen, s->signer, 1, 0, out, cap,
				      &n), 0);
	for (size_t i = 0; i < s->ncs; i++) {
		ck_assert_int_eq(ft_cosig_add(s->cs[i].k, s->cs[i].ts, out, cap,
					      &n), 0);
	}
	if (s->forge_root) {
		/* Same text length, another root; signatures kept. */
		uint8_t text2[1024];
		size_t t2 = 0;

		cp.root.b[0] ^= 0x01;
		ck_assert_int_eq(ft_checkpoint_format(&cp, text2, sizeof text2,
						      &t2), 0);
		ck_assert_uint_eq(t2, tlen);
		memcpy(out, text2, t2);
	}
	return n;
}

/* Build the bundle of s into g_bundle. */
static void make_bundle(const struct spec *s)
{
	ft_hash d[MAX_LEAVES];
	ft_hash root;
	ft_hash p[FT_PROOF_MAX_INCLUSION];
	size_t np = 0;
	static uint8_t note[8192];
	size_t nlen;
	uint64_t psize = s->path_size ? s->path_size : s->size;

	/* The checkpoint's tree. */
	leaves(d, s->size, s->index, s->logged, s->llen);
	mth(d, s->size, &root);
	/* The path, possibly for another leaf or tree. */
	leaves(d, psize, s->index, s->logged, s->llen);
	path(s->path_index, d, psize, p, &np);
	ck_assert_uint_eq(np, ft_proof_inclusion_len(s->path_index, psize));
	if (s->entry == s->logged && s->index == s->claim &&
	    s->path_index == s->index && psize == s->size && !s->flip_path) {
		/* Meant to be valid: check it with the library. */
		ft_hash leaf;

		ft_merkle_leaf_hash(s->entry, s->elen, &leaf);
		ck_assert_int_eq(ft_proof_verify_inclusion(
					 s->claim, s->size, leaf.b, 32,
					 (const uint8_t *)p, np * 32, root.b,
					 32), 0);
	}
	if (s->flip_path) {
		ck_assert_uint_le((size_t)s->flip_path, np);
		p[s->flip_path - 1].b[5] ^= 0x20;
	}
	nlen = make_note(s, &root, note, sizeof note);
	ck_assert_int_eq(ft_tlog_proof_format(s->entry, s->entry ? s->elen : 0,
					      s->claim, p, np, note, nlen,
					      g_bundle, sizeof g_bundle,
					      &g_bundle_len), 0);
}

static void make_genuine(void)
{
	struct spec s;

	spec_default(&s);
	make_bundle(&s);
}

/* ---- Fixture. --------------------------------------------------------- */

static void setup(void)
{
	g_dir = tu_tmpdir();
	ck_assert(strlen(g_dir) < 400);
	(void)snprintf(g_policy, sizeof g_policy, "%s/policy.json", g_dir);
	(void)snprintf(g_state, sizeof g_state, "%s/state", g_dir);
	(void)snprintf(g_image, sizeof g_image, "%s/fw.bin", g_dir);
	make_keys();
	for (size_t i = 0; i < sizeof g_img; i++) {
		g_img[i] = (uint8_t)(i * 7 + (i >> 8));
	}
	ck_assert_int_eq(tu_write_file(g_image, g_img, sizeof g_img), 0);
	sha256(g_img, sizeof g_img, g_digest);
	good_release(g_entry, &g_entry_len, GOOD_SV);

	memset(&g_pol, 0, sizeof g_pol);
	g_pol.quorum = 2;
	g_pol.threshold = 2;
	g_pol.max_age = MAX_AGE;
	write_state(0, 0, NULL, FLOOR);
	reinit();
	make_genuine();
}

static void teardown(void)
{
	g_counting = 0;
	tu_rmtree(g_dir);
	free(g_dir);
	g_dir = NULL;
}

/* ---- Expectations. ---------------------------------------------------- */

static int all_zero(const void *p, size_t n)
{
	const uint8_t *b = p;

	for (size_t i = 0; i < n; i++) {
		if (b[i] != 0) {
			return 0;
		}
	}
	return 1;
}

/* err is non-empty, one line, "<rule>: ..." */
static void check_err(const char *err, const char *rule, const char *what)
{
	size_t n = strlen(rule);

	if (err[0] == '\0' || strchr(err, '\n') != NULL ||
	    strncmp(err, rule, n) != 0 || err[n] != ':') {
		ck_abort_msg("%s: reason \"%s\" does not start with \"%s:\"",
			     what, err, rule);
	}
}

/* The state file's bytes into one of two static buffers (slot 0 or 1):
 * nothing to free, nothing leaked when a test aborts in nofork mode. */
static const uint8_t *state_bytes(int slot, size_t *n)
{
	static uint8_t buf[2][FT_STATE_FILE_MAX + 1];
	FILE *f = fopen(g_state, "rb");

	ck_assert_ptr_nonnull(f);
	*n = fread(buf[slot], 1, sizeof buf[slot], f);
	ck_assert_int_eq(ferror(f), 0);
	ck_assert_int_eq(fclose(f), 0);
	ck_assert_uint_le(*n, FT_STATE_FILE_MAX);
	return buf[slot];
}

/* Verify buf[0..n) with cons; refused with want/rule, res zeroed, state
 * file unchanged, commit refused and file still unchanged. */
static void expect_at(const uint8_t *buf, size_t n, const ft_hash *cons,
		      size_t cons_n, uint64_t now, int want, const char *rule,
		      const char *what)
{
	ft_client_result res;
	char err[FT_CLIENT_ERR_MAX];
	size_t n0;
	size_t n1;
	size_t n2;
	const uint8_t *before = state_bytes(0, &n0);
	const uint8_t *after;
	int rc;

	memset(&res, 0xA5, sizeof res);
	memset(err, 'x', sizeof err);
	err[sizeof err - 1] = '\0';
	rc = ft_client_verify(&g_c, g_digest, buf, n, cons, cons_n, now, &res,
			      err, sizeof err);
	if (rc != want) {
		ck_abort_msg("%s: got %d %s (%s), want %s", what, rc,
			     ft_errname(rc), err, ft_errname(want));
	}
	check_err(err, rule, what);
	if (!all_zero(&res, sizeof res)) {
		ck_abort_msg("%s: result not zeroed on failure", what);
	}
	after = state_bytes(1, &n1);
	REQ(n0 == n1 && memcmp(before, after, n0) == 0);

	rc = ft_client_commit(&g_c, err, sizeof err);
	if (rc != FT_ECLIENT_NOT_VERIFIED) {
		ck_abort_msg("%s: commit after refusal: %d (%s)", what, rc,
			     err);
	}
	check_err(err, "commit", what);
	after = state_bytes(1, &n2);
	REQ(n0 == n2 && memcmp(before, after, n0) == 0);
}

static void expect(int want, const char *rule, const char *what)
{
	expect_at(g_bundle, g_bundle_len, NULL, 0, NOW, want, rule, what);
}

static void expect_spec(const struct spec *s, int want, const char *rule,
			const char *what)
{
	make_bundle(s);
	expect(want, rule, what);
}

/* Verify must pass; returns the result. */
static void pass_at(const ft_hash *cons, size_t cons_n, uint64_t now,
		    ft_client_result *res, const char *what)
{
	char err[FT_CLIENT_ERR_MAX];
	int rc;

	memset(res, 0xA5, sizeof *res);
	err[0] = '\0';
	rc = ft_client_verify(&g_c, g_digest, g_bundle, g_bundle_len, cons,
			      cons_n, now, res, err, sizeof err);
	if (rc != 0) {
		ck_abort_msg("%s: refused: %d %s (%s)", what, rc,
			     ft_errname(rc), err);
	}
}

static void pass(ft_client_result *res, const char *what)
{
	pass_at(NULL, 0, NOW, res, what);
}

/* ---- Genuine. --------------------------------------------------------- */

START_TEST(test_genuine)
{
	ft_client_result res;
	ft_hash root;
	ft_state st;
	char err[FT_CLIENT_ERR_MAX];
	size_t n0;
	size_t n1;
	const uint8_t *before = state_bytes(0, &n0);
	const uint8_t *after;

	pass(&res, "genuine");
	root_at(TREE, &root);
	ck_assert_str_eq(res.product, PRODUCT);
	ck_assert_str_eq(res.version, "4.2.8");
	ck_assert_str_eq(res.vendor, "acme.example");
	ck_assert_uint_eq(res.security_version, GOOD_SV);
	ck_assert_uint_eq(res.index, IDX);
	ck_assert_uint_eq(res.tree_size, TREE);
	ck_assert(ft_hash_equal(&res.root, &root));
	ck_assert_uint_eq(res.n_cosigs, 3);
	ck_assert_uint_eq(res.newest_cosig, NOW - 60);
	ck_assert_uint_eq(res.n_vendor_sigs, 2);
	ck_assert_int_eq(res.consistency_proved, 0);

	/* verify wrote nothing. */
	after = state_bytes(1, &n1);
	ck_assert(n0 == n1 && memcmp(before, after, n0) == 0);

	/* Commit writes checkpoint and floor; a second commit is refused. */
	ck_assert_int_eq(ft_client_commit(&g_c, err, sizeof err), 0);
	ck_assert_int_eq(ft_client_commit(&g_c, err, sizeof err),
			 FT_ECLIENT_NOT_VERIFIED);
	check_err(err, "commit", "second commit");
	ck_assert_int_eq(ft_state_load(g_state, &st, err, sizeof err), 0);
	ck_assert_int_eq(st.has_checkpoint, 1);
	ck_assert_uint_eq(st.size, TREE);
	ck_assert(ft_hash_equal(&st.root, &root));
	ck_assert_uint_eq(ft_state_floor(&st, PRODUCT), GOOD_SV);
	ck_assert_uint_eq(st.n, 1);

	/* The context now holds the committed state: an older checkpoint
	 * of the same log (size 10) is refused without a reload ... */
	{
		struct spec s;

		spec_default(&s);
		s.size = 10;
		s.path_size = 10;
		expect_spec(&s, FT_ECLIENT_CONSISTENCY, "consistency",
			    "older checkpoint after commit");
	}
	/* ... and after a reload the same bundle passes again (same size,
	 * same root, equal security_version). */
	client_init();
	make_genuine();
	pass(&res, "after reload");
	ck_assert_uint_eq(res.tree_size, TREE);
	ck_assert_int_eq(res.consistency_proved, 0);
}
END_TEST

START_TEST(test_all_vendor_keys)
{
	ft_client_result res;

	release(g_entry, &g_entry_len, g_digest, PRODUCT, GOOD_SV,
		"[\"" HW "\"]", K_V, 3);
	make_genuine();
	pass(&res, "3 of 3 vendor keys");
	ck_assert_uint_eq(res.n_vendor_sigs, 3);
}
END_TEST

/* A failed verify after a successful one leaves nothing to commit. */
START_TEST(test_fail_clears_verified)
{
	ft_client_result res;
	char err[FT_CLIENT_ERR_MAX];
	uint8_t d2[32];

	pass(&res, "genuine");
	memcpy(d2, g_digest, 32);
	d2[0] ^= 1;
	ck_assert_int_eq(ft_client_verify(&g_c, d2, g_bundle, g_bundle_len,
					  NULL, 0, NOW, &res, err, sizeof err),
			 FT_ECLIENT_DIGEST);
	ck_assert_int_eq(ft_client_commit(&g_c, err, sizeof err),
			 FT_ECLIENT_NOT_VERIFIED);
}
END_TEST

/* "a failed verify also clears it": an argument error too. */
START_TEST(test_einval_clears_verified)
{
	ft_client_result res;
	char err[FT_CLIENT_ERR_MAX];

	pass(&res, "genuine");
	ck_assert_int_eq(ft_client_verify(&g_c, g_digest, g_bundle,
					  g_bundle_len, NULL, 1, NOW, &res, err,
					  sizeof err),
			 FT_EINVAL);
	ck_assert_int_eq(ft_client_commit(&g_c, err, sizeof err),
			 FT_ECLIENT_NOT_VERIFIED);
}
END_TEST

/* ---- Digest, product, hardware. ------------------------------------- */

START_TEST(test_tampered_image)
{
	char err[FT_CLIENT_ERR_MAX];
	uint8_t d[32];
	uint64_t nb = 0;

	/* The real image hashes to the release's digest ... */
	ck_assert_int_eq(ft_client_hash_file(&g_c, g_image, d, &nb, err,
					     sizeof err), 0);
	ck_assert_uint_eq(nb, IMAGE_LEN);
	ck_assert(memcmp(d, g_digest, 32) == 0);
	/* ... one byte changed does not. */
	g_img[IMAGE_LEN / 2] ^= 0x01;
	ck_assert_int_eq(tu_write_file(g_image, g_img, sizeof g_img), 0);
	ck_assert_int_eq(ft_client_hash_file(&g_c, g_image, g_digest, &nb, err,
					     sizeof err), 0);
	ck_assert(memcmp(d, g_digest, 32) != 0);
	expect(FT_ECLIENT_DIGEST, "digest", "tampered image");
}
END_TEST

START_TEST(test_other_image)
{
	struct spec s;
	uint8_t other[32];

	/* A correctly logged, correctly signed release of another image. */
	sha256((const uint8_t *)"another image", 13, other);
	release(g_entry2, &g_entry2_len, other, PRODUCT, GOOD_SV,
		"[\"" HW "\"]", K_V, 2);
	spec_default(&s);
	s.entry = s.logged = g_entry2;
	s.elen = s.llen = g_entry2_len;
	expect_spec(&s, FT_ECLIENT_DIGEST, "digest", "release of another image");
}
END_TEST

START_TEST(test_other_product)
{
	struct spec s;

	release(g_entry2, &g_entry2_len, g_digest, "gnb-cu", GOOD_SV,
		"[\"" HW "\"]", K_V, 2);
	spec_default(&s);
	s.entry = s.logged = g_entry2;
	s.elen = s.llen = g_entry2_len;
	expect_spec(&s, FT_ECLIENT_PRODUCT, "product", "other product");
}
END_TEST

START_TEST(test_hardware)
{
	struct spec s;

	release(g_entry2, &g_entry2_len, g_digest, PRODUCT, GOOD_SV,
		"[\"acme-du-4500\",\"acme-du-44000\"]", K_V, 2);
	spec_default(&s);
	s.entry = s.logged = g_entry2;
	s.elen = s.llen = g_entry2_len;
	expect_spec(&s, FT_ECLIENT_HW, "hardware", "hardware model missing");
}
END_TEST

/* ---- Bundle syntax. --------------------------------------------------- */

/* Offsets just past each signature line of the note in g_bundle. */
static size_t sig_line_ends(size_t *ends, size_t cap)
{
	static const char dash[] = "\xe2\x80\x94 "; /* "— " */
	size_t k = 0;

	for (size_t i = 0; i + 4 <= g_bundle_len; i++) {
		if ((i == 0 || g_bundle[i - 1] == '\n') &&
		    memcmp(g_bundle + i, dash, 4) == 0) {
			const uint8_t *nl = memchr(g_bundle + i, '\n',
						   g_bundle_len - i);

			ck_assert_ptr_nonnull(nl);
			ck_assert_uint_lt(k, cap);
			ends[k++] = (size_t)(nl - g_bundle) + 1;
		}
	}
	return k;
}

START_TEST(test_truncated)
{
	ft_client_result res;
	char err[FT_CLIENT_ERR_MAX];
	size_t ends[8];
	size_t nends = sig_line_ends(ends, 8);
	size_t n0;
	size_t n1;
	const uint8_t *before = state_bytes(0, &n0);
	const uint8_t *after;
	static uint8_t copy[FT_TLOG_PROOF_MAX];

	/* log signature + 3 cosignatures, the last ending the bundle. */
	ck_assert_uint_eq(nends, 4);
	ck_assert_uint_eq(ends[3], g_bundle_len);
	for (size_t len = 0; len < g_bundle_len; len++) {
		int want = FT_ECLIENT_BUNDLE;
		int rc;

		/* A cut just after a whole signature line leaves a valid note
		 * with fewer cosignatures. */
		if (len == ends[0] || len == ends[1]) {
			want = FT_ECLIENT_QUORUM;
		} else if (len == ends[2]) {
			want = 0;
		}
		/* A copy of exactly len bytes, so ASan sees overreads. */
		memcpy(copy, g_bundle, len);
		rc = ft_client_verify(&g_c, g_digest, len ? copy : NULL, len,
				      NULL, 0, NOW, &res, err, sizeof err);
		if (rc != want) {
			ck_abort_msg("truncated at %zu of %zu: got %d %s (%s), "
				     "want %s", len, g_bundle_len, rc,
				     ft_errname(rc), err, ft_errname(want));
		}
		if (want == FT_ECLIENT_BUNDLE) {
			check_err(err, "bundle", "truncated");
		}
	}
	after = state_bytes(1, &n1);
	ck_assert(n0 == n1 && memcmp(before, after, n0) == 0);
	/* A few of them through the full check (commit, file). */
	expect_at(g_bundle, 0, NULL, 0, NOW, FT_ECLIENT_BUNDLE, "bundle",
		  "empty");
	expect_at(g_bundle, 1, NULL, 0, NOW, FT_ECLIENT_BUNDLE, "bundle",
		  "1 byte");
	expect_at(g_bundle, g_bundle_len / 2, NULL, 0, NOW, FT_ECLIENT_BUNDLE,
		  "bundle", "half");
	expect_at(g_bundle, g_bundle_len - 1, NULL, 0, NOW, FT_ECLIENT_BUNDLE,
		  "bundle", "last byte cut");
}
END_TEST

START_TEST(test_garbage)
{
	static uint8_t junk[4096];
	static const char hdr[] = FT_TLOG_PROOF_HEADER;
	uint32_t x = 12345;
	uint8_t *p;
	struct spec s;

	for (size_t i = 0; i < sizeof junk; i++) {
		x = x * 1103515245u + 12345u;
		junk[i] = (uint8_t)(x >> 16);
	}
	expect_at(junk, sizeof junk, NULL, 0, NOW, FT_ECLIENT_BUNDLE, "bundle",
		  "random bytes");
	memset(junk, 0, sizeof junk);
	expect_at(junk, 100, NULL, 0, NOW, FT_ECLIENT_BUNDLE, "bundle",
		  "zeros");
	expect_at((const uint8_t *)"\n\n\n", 3, NULL, 0, NOW,
		  FT_ECLIENT_BUNDLE, "bundle", "newlines");

	/* The header changed (v1 -> v2), everything else intact. */
	p = find(g_bundle, g_bundle_len, hdr);
	ck_assert_ptr_eq(p, g_bundle);
	p[sizeof hdr - 2] = '2';
	expect(FT_ECLIENT_BUNDLE, "bundle", "header v2");
	p[sizeof hdr - 2] = '1';
	p[0] = 'C';
	expect(FT_ECLIENT_BUNDLE, "bundle", "header case");

	/* No extra line: a valid tlog-proof without the entry. */
	spec_default(&s);
	s.entry = NULL;
	expect_spec(&s, FT_ECLIENT_BUNDLE, "bundle", "no extra line");

	/* Trailing garbage after the checkpoint note. */
	make_genuine();
	g_bundle[g_bundle_len++] = 'x';
	expect(FT_ECLIENT_BUNDLE, "bundle", "trailing byte");
}
END_TEST

/* A note signed by the log that is not a checkpoint. */
START_TEST(test_not_a_checkpoint)
{
	static const uint8_t text[] = "hello, device\n";
	static uint8_t note[4096];
	size_t nlen = 0;
	ft_hash d[MAX_LEAVES];
	ft_hash p[FT_PROOF_MAX_INCLUSION];
	size_t np = 0;

	ck_assert_int_eq(ft_note_sign(text, sizeof text - 1, &K_LOG, 1, 0, note,
				      sizeof note, &nlen), 0);
	for (int i = 0; i < 3; i++) {
		ck_assert_int_eq(ft_cosig_add(&K_W[i], NOW - 10, note,
					      sizeof note, &nlen), 0);
	}
	leaves(d, TREE, IDX, g_entry, g_entry_len);
	path(IDX, d, TREE, p, &np);
	ck_assert_int_eq(ft_tlog_proof_format(g_entry, g_entry_len, IDX, p, np,
					      note, nlen, g_bundle,
					      sizeof g_bundle, &g_bundle_len),
			 0);
	expect(FT_ECLIENT_BUNDLE, "bundle", "note is not a checkpoint");
}
END_TEST

/* ---- The log. --------------------------------------------------------- */

START_TEST(test_log)
{
	struct spec s;

	/* Another log, properly signed by its own key. */
	spec_default(&s);
	s.origin = "evil.example/ftlog";
	s.signer = &K_EVIL;
	expect_spec(&s, FT_ECLIENT_LOG, "log", "other origin");

	/* Root changed after signing. */
	spec_default(&s);
	s.forge_root = 1;
	expect_spec(&s, FT_ECLIENT_LOG_SIG, "log-signature", "forged root");

	/* An outsider key that calls itself the log. */
	spec_default(&s);
	s.signer = &K_LOGOUT;
	expect_spec(&s, FT_ECLIENT_LOG_SIG, "log-signature",
		    "outsider named like the log");

	/* A witness cannot stand in for the log. */
	spec_default(&s);
	s.signer = &K_W[0];
	expect_spec(&s, FT_ECLIENT_LOG_SIG, "log-signature",
		    "signed by a witness only");
}
END_TEST

/* ---- Witnesses. ------------------------------------------------------- */

START_TEST(test_quorum)
{
	struct spec s;
	ft_client_result res;

	spec_default(&s);
	s.ncs = 1;
	expect_spec(&s, FT_ECLIENT_QUORUM, "quorum", "1 of 2");

	s.ncs = 0;
	expect_spec(&s, FT_ECLIENT_QUORUM, "quorum", "0 of 2");

	/* A witness not in the policy does not count. */
	s.ncs = 2;
	s.cs[1] = (struct cosig){ &K_W[3], NOW - 100 };
	expect_spec(&s, FT_ECLIENT_QUORUM, "quorum", "unknown witness");

	/* The same cosignature twice counts once. */
	s.cs[1] = s.cs[0];
	expect_spec(&s, FT_ECLIENT_QUORUM, "quorum", "duplicate cosig");

	/* Two distinct policy witnesses (plus noise) make the quorum. */
	s.ncs = 4;
	s.cs[2] = (struct cosig){ &K_W[3], NOW - 100 };
	s.cs[3] = (struct cosig){ &K_W[2], NOW - 120 };
	make_bundle(&s);
	pass(&res, "2 distinct + unknown + duplicate");
	ck_assert_uint_eq(res.n_cosigs, 2);
	ck_assert_uint_eq(res.newest_cosig, NOW - 120);
}
END_TEST

START_TEST(test_future)
{
	struct spec s;
	ft_client_result res;

	spec_default(&s);
	s.cs[1].ts = NOW + FT_CLIENT_MAX_SKEW + 60;
	expect_spec(&s, FT_ECLIENT_FUTURE, "future", "cosig far ahead");

	/* Even a cosignature beyond the quorum may not be in the future. */
	s.cs[1].ts = NOW - 300;
	s.cs[2].ts = NOW + FT_CLIENT_MAX_SKEW + 1;
	expect_spec(&s, FT_ECLIENT_FUTURE, "future", "third cosig ahead");

	/* Exactly the allowed skew is fine. */
	s.cs[2].ts = NOW + FT_CLIENT_MAX_SKEW;
	make_bundle(&s);
	pass(&res, "skew boundary");
	ck_assert_uint_eq(res.newest_cosig, NOW + FT_CLIENT_MAX_SKEW);
}
END_TEST

/* The checks come in the table's order: quorum before future. One
 * valid, future-dated cosignature of the 2 required is a quorum failure. */
START_TEST(test_quorum_before_future)
{
	struct spec s;

	spec_default(&s);
	s.ncs = 1;
	s.cs[0].ts = NOW + FT_CLIENT_MAX_SKEW + 60;
	expect_spec(&s, FT_ECLIENT_QUORUM, "quorum", "1 future cosig of 2");
}
END_TEST

START_TEST(test_stale)
{
	struct spec s;
	ft_client_result res;

	spec_default(&s);
	for (size_t i = 0; i < 3; i++) {
		s.cs[i].ts = NOW - MAX_AGE - 1 - i;
	}
	expect_spec(&s, FT_ECLIENT_STALE, "stale", "all cosigs too old");

	/* One fresh cosignature (the newest) is enough. */
	s.cs[2].ts = NOW - 5;
	make_bundle(&s);
	pass(&res, "newest fresh");
	ck_assert_uint_eq(res.newest_cosig, NOW - 5);

	/* The boundary: exactly max_age old is not older than max_age. */
	s.cs[2].ts = NOW - MAX_AGE;
	make_bundle(&s);
	pass(&res, "age boundary");

	/* A shorter policy age. */
	g_pol.max_age = 3600;
	reinit();
	s.cs[2].ts = NOW - 3601;
	expect_spec(&s, FT_ECLIENT_STALE, "stale", "max_age 3600");
}
END_TEST

START_TEST(test_quorum_zero)
{
	struct spec s;
	ft_client_result res;

	g_pol.no_witnesses = 1;
	reinit();
	ck_assert_int_eq(ft_client_policy(&g_c)->warn_no_quorum, 1);
	spec_default(&s);
	s.ncs = 0;
	make_bundle(&s);
	/* No cosignature: no freshness check, even years later. */
	pass_at(NULL, 0, NOW + 10 * MAX_AGE, &res, "quorum 0, no cosigs");
	ck_assert_uint_eq(res.n_cosigs, 0);
	ck_assert_uint_eq(res.newest_cosig, 0);

	/* The log signature is still required. */
	s.signer = &K_LOGOUT;
	expect_spec(&s, FT_ECLIENT_LOG_SIG, "log-signature", "quorum 0 forged");

	/* quorum 0 written explicitly with the three witnesses listed. */
	g_pol.no_witnesses = 0;
	g_pol.quorum = 0;
	reinit();
	spec_default(&s);
	s.ncs = 0;
	make_bundle(&s);
	pass(&res, "explicit quorum 0");
	ck_assert_uint_eq(res.n_cosigs, 0);
}
END_TEST

/* ---- Inclusion. ------------------------------------------------------- */

START_TEST(test_inclusion)
{
	struct spec s;

	/* The path (and index) of leaf 6, the entry being at 7. */
	spec_default(&s);
	s.claim = 6;
	s.path_index = 6;
	expect_spec(&s, FT_ECLIENT_INCLUSION, "inclusion", "index 6 path 6");
	/* The right index, another leaf's path. */
	s.claim = IDX;
	expect_spec(&s, FT_ECLIENT_INCLUSION, "inclusion", "index 7 path 6");
	/* The right path, another index. */
	s.claim = 6;
	s.path_index = IDX;
	expect_spec(&s, FT_ECLIENT_INCLUSION, "inclusion", "index 6 path 7");
	/* An index beyond the tree. */
	s.claim = TREE + 3;
	expect_spec(&s, FT_ECLIENT_INCLUSION, "inclusion", "index past size");

	/* A path from a tree of another size: same length (16) and not. */
	spec_default(&s);
	s.path_size = 16;
	ck_assert_uint_eq(ft_proof_inclusion_len(IDX, 16),
			  ft_proof_inclusion_len(IDX, TREE));
	expect_spec(&s, FT_ECLIENT_INCLUSION, "inclusion", "path of size 16");
	s.path_size = 20;
	ck_assert_uint_ne(ft_proof_inclusion_len(IDX, 20),
			  ft_proof_inclusion_len(IDX, TREE));
	expect_spec(&s, FT_ECLIENT_INCLUSION, "inclusion", "path of size 20");

	/* Every path hash flipped in turn. */
	spec_default(&s);
	for (int i = 1; i <= (int)ft_proof_inclusion_len(IDX, TREE); i++) {
		s.flip_path = i;
		expect_spec(&s, FT_ECLIENT_INCLUSION, "inclusion",
			    "flipped path hash");
	}
}
END_TEST

START_TEST(test_entry_modified)
{
	struct spec s;
	uint8_t *p;

	/* The logged entry is the genuine one; the bundle carries a copy
	 * with its version changed (still a well-signed-looking envelope). */
	memcpy(g_entry2, g_entry, g_entry_len);
	g_entry2_len = g_entry_len;
	p = find(g_entry2, g_entry2_len, "\"payload\":\"");
	ck_assert_ptr_nonnull(p);
	p[20] = p[20] == 'A' ? 'B' : 'A';
	spec_default(&s);
	s.entry = g_entry2;
	s.elen = g_entry2_len;
	expect_spec(&s, FT_ECLIENT_INCLUSION, "inclusion", "entry modified");

	/* One byte appended. */
	memcpy(g_entry2, g_entry, g_entry_len);
	g_entry2[g_entry_len] = ' ';
	s.elen = g_entry_len + 1;
	expect_spec(&s, FT_ECLIENT_INCLUSION, "inclusion", "entry + 1 byte");
}
END_TEST

/* ---- Not a release. --------------------------------------------------- */

START_TEST(test_not_release)
{
	struct spec s;
	static const uint8_t junk[] = "not an envelope at all";

	build_event(g_entry2, &g_entry2_len);
	spec_default(&s);
	s.entry = s.logged = g_entry2;
	s.elen = s.llen = g_entry2_len;
	expect_spec(&s, FT_ECLIENT_NOT_RELEASE, "not-release", "build event");

	/* Logged bytes that are not an event at all. */
	s.entry = s.logged = junk;
	s.elen = s.llen = sizeof junk - 1;
	expect_spec(&s, FT_ECLIENT_NOT_RELEASE, "not-release", "not JSON");
}
END_TEST

/* ---- Vendor keys. ----------------------------------------------------- */

/* Log entry e (length n) as the bundle's release. */
static void expect_entry(const uint8_t *e, size_t n, int want,
			 const char *rule, const char *what)
{
	struct spec s;

	spec_default(&s);
	s.entry = s.logged = e;
	s.elen = s.llen = n;
	expect_spec(&s, want, rule, what);
}

START_TEST(test_vendor)
{
	ft_skey ks[3];
	uint8_t *p;
	uint8_t *q;

	/* 1 of threshold 2. */
	release(g_entry2, &g_entry2_len, g_digest, PRODUCT, GOOD_SV,
		"[\"" HW "\"]", &K_V[1], 1);
	expect_entry(g_entry2, g_entry2_len, FT_ECLIENT_THRESHOLD, "threshold",
		     "1 of 2");

	/* Only the outsider. */
	release(g_entry2, &g_entry2_len, g_digest, PRODUCT, GOOD_SV,
		"[\"" HW "\"]", &K_VOUT, 1);
	expect_entry(g_entry2, g_entry2_len, FT_ECLIENT_VENDOR_KEY,
		     "vendor-key", "outsider only");

	/* One good key and the outsider: threshold, not vendor-key. */
	ks[0] = K_V[2];
	ks[1] = K_VOUT;
	release(g_entry2, &g_entry2_len, g_digest, PRODUCT, GOOD_SV,
		"[\"" HW "\"]", ks, 2);
	expect_entry(g_entry2, g_entry2_len, FT_ECLIENT_THRESHOLD, "threshold",
		     "1 good + outsider");

	/* The same key twice counts once. */
	ks[0] = K_V[0];
	ks[1] = K_V[0];
	release(g_entry2, &g_entry2_len, g_digest, PRODUCT, GOOD_SV,
		"[\"" HW "\"]", ks, 2);
	expect_entry(g_entry2, g_entry2_len, FT_ECLIENT_THRESHOLD, "threshold",
		     "same key twice");

	/* 1 good + 1 bad signature (a byte of the second sig changed). */
	release(g_entry2, &g_entry2_len, g_digest, PRODUCT, GOOD_SV,
		"[\"" HW "\"]", K_V, 2);
	p = find(g_entry2, g_entry2_len, "\"sig\":\"");
	ck_assert_ptr_nonnull(p);
	q = find(p + 7, g_entry2_len - (size_t)(p + 7 - g_entry2),
		 "\"sig\":\"");
	ck_assert_ptr_nonnull(q);
	q[7 + 10] = q[7 + 10] == 'A' ? 'B' : 'A';
	expect_entry(g_entry2, g_entry2_len, FT_ECLIENT_THRESHOLD, "threshold",
		     "1 good + 1 bad signature");

	/* Revoked key plus two good ones. */
	g_pol.revoked = 1;
	reinit();
	ks[0] = K_V[0];
	ks[1] = K_VREV;
	ks[2] = K_V[1];
	release(g_entry2, &g_entry2_len, g_digest, PRODUCT, GOOD_SV,
		"[\"" HW "\"]", ks, 3);
	expect_entry(g_entry2, g_entry2_len, FT_ECLIENT_VENDOR_KEY,
		     "vendor-key", "revoked + 2 good");
	/* The genuine release still passes under that policy. */
	{
		ft_client_result res;

		make_genuine();
		pass(&res, "genuine with revocation list");
	}
}
END_TEST

/* ---- Rollback. -------------------------------------------------------- */

START_TEST(test_rollback)
{
	ft_client_result res;
	ft_state st;
	char err[FT_CLIENT_ERR_MAX];

	good_release(g_entry, &g_entry_len, 5);
	make_genuine();
	expect(FT_ECLIENT_ROLLBACK, "rollback", "sv 5 below floor 7");

	good_release(g_entry, &g_entry_len, 0);
	make_genuine();
	expect(FT_ECLIENT_ROLLBACK, "rollback", "sv 0 below floor 7");

	/* Equal: accepted, and commit keeps the floor. */
	good_release(g_entry, &g_entry_len, FLOOR);
	make_genuine();
	pass(&res, "sv equal to floor");
	ck_assert_uint_eq(res.security_version, FLOOR);
	ck_assert_int_eq(ft_client_commit(&g_c, err, sizeof err), 0);
	ck_assert_int_eq(ft_state_load(g_state, &st, err, sizeof err), 0);
	ck_assert_uint_eq(ft_state_floor(&st, PRODUCT), FLOOR);
	ck_assert_int_eq(st.has_checkpoint, 1);
}
END_TEST

/* ---- Consistency with the stored checkpoint. ------------------------- */

START_TEST(test_consistency)
{
	ft_client_result res;
	ft_hash root;
	ft_hash cons[FT_PROOF_MAX_CONSISTENCY];
	size_t ncons = 0;
	ft_state st;
	char err[FT_CLIENT_ERR_MAX];

	/* Stored 16 > bundle 12. */
	root_at(16, &root);
	write_state(1, 16, &root, FLOOR);
	client_init();
	expect(FT_ECLIENT_CONSISTENCY, "consistency", "smaller than stored");

	/* Same size, another root. */
	root_at(TREE, &root);
	root.b[31] ^= 0x80;
	write_state(1, TREE, &root, FLOOR);
	client_init();
	expect(FT_ECLIENT_CONSISTENCY, "consistency", "same size other root");

	/* Same size, same root: fine. */
	root_at(TREE, &root);
	write_state(1, TREE, &root, FLOOR);
	client_init();
	pass(&res, "same checkpoint");

	/* Stored 10: a valid proof 10 -> 12. */
	root_at(10, &root);
	write_state(1, 10, &root, FLOOR);
	client_init();
	cons_proof(10, TREE, cons, &ncons);
	pass_at(cons, ncons, NOW, &res, "valid consistency proof");
	ck_assert_int_eq(res.consistency_proved, 1);

	/* A wrong proof: each hash flipped, one hash short, one extra. */
	for (size_t i = 0; i < ncons; i++) {
		cons[i].b[3] ^= 0x04;
		expect_at(g_bundle, g_bundle_len, cons, ncons, NOW,
			  FT_ECLIENT_CONSISTENCY, "consistency",
			  "flipped consistency hash");
		cons[i].b[3] ^= 0x04;
	}
	expect_at(g_bundle, g_bundle_len, cons, ncons - 1, NOW,
		  FT_ECLIENT_CONSISTENCY, "consistency", "short proof");
	cons[ncons] = cons[0];
	expect_at(g_bundle, g_bundle_len, cons, ncons + 1, NOW,
		  FT_ECLIENT_CONSISTENCY, "consistency", "long proof");
	/* The proof of another old size (11 -> 12). */
	{
		ft_hash c11[FT_PROOF_MAX_CONSISTENCY];
		size_t n11 = 0;

		cons_proof(11, TREE, c11, &n11);
		expect_at(g_bundle, g_bundle_len, c11, n11, NOW,
			  FT_ECLIENT_CONSISTENCY, "consistency",
			  "proof from another size");
	}

	/* Offline (no proof): accepted, consistency not proved. */
	pass(&res, "larger, offline");
	ck_assert_int_eq(res.consistency_proved, 0);

	/* With the proof, then commit: the state moves to 12. */
	pass_at(cons, ncons, NOW, &res, "valid proof again");
	ck_assert_int_eq(ft_client_commit(&g_c, err, sizeof err), 0);
	ck_assert_int_eq(ft_state_load(g_state, &st, err, sizeof err), 0);
	root_at(TREE, &root);
	ck_assert_uint_eq(st.size, TREE);
	ck_assert(ft_hash_equal(&st.root, &root));
	ck_assert_uint_eq(ft_state_floor(&st, PRODUCT), GOOD_SV);
}
END_TEST

/* ---- First boot and a corrupted state. ------------------------------- */

START_TEST(test_first_boot)
{
	char err[FT_CLIENT_ERR_MAX];
	ft_client_result res;
	ft_state st;
	int rc;

	ck_assert_int_eq(unlink(g_state), 0);
	err[0] = '\0';
	rc = ft_client_init(&g_c, g_policy, g_state, 0, err, sizeof err);
	ck_assert_int_eq(rc, FT_ENOTFOUND);
	check_err(err, "state", "missing state");
	ck_assert_int_eq(access(g_state, F_OK), -1);

	rc = ft_client_init(&g_c, g_policy, g_state, FT_CLIENT_FIRST_BOOT, err,
			    sizeof err);
	ck_assert_int_eq(rc, 0);
	ck_assert_int_eq(access(g_state, F_OK), -1);
	/* Any security_version passes on an empty state. */
	good_release(g_entry, &g_entry_len, 0);
	make_genuine();
	pass(&res, "first boot");
	ck_assert_int_eq(access(g_state, F_OK), -1);
	ck_assert_int_eq(ft_client_commit(&g_c, err, sizeof err), 0);
	ck_assert_int_eq(ft_state_load(g_state, &st, err, sizeof err), 0);
	ck_assert_int_eq(st.has_checkpoint, 1);
	ck_assert_uint_eq(st.size, TREE);
}
END_TEST

START_TEST(test_corrupt_state)
{
	char err[FT_CLIENT_ERR_MAX];
	char tmp[600];
	size_t n0;
	size_t n1;
	static uint8_t b[FT_STATE_FILE_MAX + 1];
	const uint8_t *orig = state_bytes(0, &n0);
	const uint8_t *after;
	struct stat st0;
	struct stat st1;

	memcpy(b, orig, n0);
	b[n0 / 2] ^= 0x01;
	ck_assert_int_eq(tu_write_file(g_state, b, n0), 0);
	ck_assert_int_eq(stat(g_state, &st0), 0);
	for (unsigned flags = 0; flags <= FT_CLIENT_FIRST_BOOT; flags++) {
		int rc = ft_client_init(&g_c, g_policy, g_state, flags, err,
					sizeof err);

		ck_assert_int_eq(rc, FT_ESTATE_CORRUPT);
		check_err(err, "state", "corrupted state");
		/* A failed init leaves nothing to commit. */
		ck_assert_int_eq(ft_client_commit(&g_c, err, sizeof err),
				 FT_ECLIENT_NOT_VERIFIED);
	}
	after = state_bytes(1, &n1);
	ck_assert(n0 == n1 && memcmp(b, after, n0) == 0);
	ck_assert_int_eq(stat(g_state, &st1), 0);
	ck_assert(st0.st_ino == st1.st_ino);
	ck_assert(st0.st_mtim.tv_sec == st1.st_mtim.tv_sec &&
		  st0.st_mtim.tv_nsec == st1.st_mtim.tv_nsec);
	(void)snprintf(tmp, sizeof tmp, "%s.tmp", g_state);
	ck_assert_int_eq(access(tmp, F_OK), -1);
}
END_TEST

/* ---- Image hashing. --------------------------------------------------- */

START_TEST(test_hash_file)
{
	static const size_t sizes[] = { 0, 1, FT_CLIENT_IO_CHUNK - 1,
					FT_CLIENT_IO_CHUNK,
					3 * FT_CLIENT_IO_CHUNK + 17 };
	size_t max = 3 * FT_CLIENT_IO_CHUNK + 17;
	uint8_t *img = malloc(max);
	char path[600];
	char err[FT_CLIENT_ERR_MAX];

	ck_assert_ptr_nonnull(img);
	for (size_t i = 0; i < max; i++) {
		img[i] = (uint8_t)((i * 2654435761u) >> 13);
	}
	(void)snprintf(path, sizeof path, "%s/img", g_dir);
	for (size_t k = 0; k < sizeof sizes / sizeof sizes[0]; k++) {
		uint8_t want[32];
		uint8_t got[32];
		uint64_t nb = 12345;
		int fd;

		ck_assert_int_eq(tu_write_file(path, img, sizes[k]), 0);
		sha256(img, sizes[k], want);
		ck_assert_int_eq(ft_client_hash_file(&g_c, path, got, &nb, err,
						     sizeof err), 0);
		ck_assert(memcmp(want, got, 32) == 0);
		ck_assert_uint_eq(nb, sizes[k]);
		ck_assert_int_eq(ft_client_hash_file(&g_c, path, got, NULL, err,
						     sizeof err), 0);
		ck_assert(memcmp(want, got, 32) == 0);

		/* The descriptor form, from an offset. */
		fd = open(path, O_RDONLY);
		ck_assert_int_ge(fd, 0);
		if (sizes[k] > 0) {
			ck_assert_int_eq(lseek(fd, 1, SEEK_SET), 1);
		}
		sha256(img + (sizes[k] > 0), sizes[k] - (sizes[k] > 0), want);
		ck_assert_int_eq(ft_client_hash_fd(&g_c, fd, got, &nb,
						   err, sizeof err), 0);
		ck_assert(memcmp(want, got, 32) == 0);
		ck_assert_uint_eq(nb, sizes[k] - (sizes[k] > 0));
		ck_assert_int_eq(close(fd), 0);
	}
	free(img);
}
END_TEST

START_TEST(test_hash_file_refused)
{
	char path[600];
	char err[FT_CLIENT_ERR_MAX];
	uint8_t d[32];
	uint64_t nb = 0;

	ck_assert_int_eq(ft_client_hash_file(&g_c, g_dir, d, &nb, err,
					     sizeof err), FT_EIO);
	check_err(err, "image", "directory");

	(void)snprintf(path, sizeof path, "%s/fifo", g_dir);
	ck_assert_int_eq(mkfifo(path, 0600), 0);
	ck_assert_int_eq(ft_client_hash_file(&g_c, path, d, &nb, err,
					     sizeof err), FT_EIO);
	check_err(err, "image", "fifo");

	(void)snprintf(path, sizeof path, "%s/missing", g_dir);
	ck_assert_int_eq(ft_client_hash_file(&g_c, path, d, &nb, err,
					     sizeof err), FT_EIO);
	check_err(err, "image", "missing");
}
END_TEST

/* ---- Allocations. ----------------------------------------------------- */

/* Verify under the counters; returns rc. No ck_assert while counting:
 * Check itself may allocate. */
static int counted_verify(const ft_hash *cons, size_t cons_n)
{
	ft_client_result res;
	char err[FT_CLIENT_ERR_MAX];
	int rc;

	count_start();
	rc = ft_client_verify(&g_c, g_digest, g_bundle, g_bundle_len, cons,
			      cons_n, NOW, &res, err, sizeof err);
	count_stop();
	return rc;
}

static void zero_alloc_case(const struct spec *s, int want, int check,
			    const char *what)
{
	int rc;

	make_bundle(s);
	rc = counted_verify(NULL, 0);
	if (rc != want) {
		ck_abort_msg("%s: got %s, want %s", what, ft_errname(rc),
			     ft_errname(want));
	}
	if (check && g_calls != 0) {
		ck_abort_msg("%s: %zu malloc-family calls on the proof path",
			     what, g_calls);
	}
}

START_TEST(test_malloc_proof_path)
{
	struct spec s;
	ft_client_result res;
	int check = counts_checked();

	/* Warm up (libsodium init and the like). */
	pass(&res, "warm-up");

	spec_default(&s);
	s.forge_root = 1;
	zero_alloc_case(&s, FT_ECLIENT_LOG_SIG, check, "log-signature");

	spec_default(&s);
	s.ncs = 1;
	zero_alloc_case(&s, FT_ECLIENT_QUORUM, check, "quorum");

	spec_default(&s);
	s.flip_path = 2;
	zero_alloc_case(&s, FT_ECLIENT_INCLUSION, check, "inclusion");

	spec_default(&s);
	s.origin = "evil.example/ftlog";
	s.signer = &K_EVIL;
	zero_alloc_case(&s, FT_ECLIENT_LOG, check, "log");

	spec_default(&s);
	s.cs[0].ts = NOW - 10 * MAX_AGE;
	s.cs[1].ts = NOW - 10 * MAX_AGE;
	s.cs[2].ts = NOW - 10 * MAX_AGE;
	zero_alloc_case(&s, FT_ECLIENT_STALE, check, "stale");

	spec_default(&s);
	s.entry = NULL;
	zero_alloc_case(&s, FT_ECLIENT_BUNDLE, check, "bundle");

	/* A consistency refusal, with a stored checkpoint and a proof. */
	{
		ft_hash root;
		ft_hash cons[FT_PROOF_MAX_CONSISTENCY];
		size_t ncons = 0;
		int rc;

		root_at(10, &root);
		write_state(1, 10, &root, FLOOR);
		client_init();
		cons_proof(10, TREE, cons, &ncons);
		cons[0].b[0] ^= 1;
		make_genuine();
		rc = counted_verify(cons, ncons);
		ck_assert_int_eq(rc, FT_ECLIENT_CONSISTENCY);
		if (check) {
			ck_assert_uint_eq(g_calls, 0);
		}
	}
}
END_TEST

START_TEST(test_malloc_full_verify)
{
	ft_client_result res;
	struct spec s;
	int check = counts_checked();
	int rc;

	pass(&res, "warm-up");
	rc = counted_verify(NULL, 0);
	ck_assert_int_eq(rc, 0);
	if (check) {
		ck_assert_int_eq(g_live_overflow, 0);
		/* jansson parsed the envelope ... */
		ck_assert_uint_gt(g_allocs, 0);
		/* ... and every byte of it was freed. */
		ck_assert_uint_eq(live_count(), 0);
		ck_assert_uint_eq(g_allocs, g_frees);
	}

	/* The same for a refusal after the JSON stage. */
	release(g_entry2, &g_entry2_len, g_digest, PRODUCT, GOOD_SV,
		"[\"" HW "\"]", &K_V[1], 1);
	spec_default(&s);
	s.entry = s.logged = g_entry2;
	s.elen = s.llen = g_entry2_len;
	make_bundle(&s);
	rc = counted_verify(NULL, 0);
	ck_assert_int_eq(rc, FT_ECLIENT_THRESHOLD);
	if (check) {
		ck_assert_uint_gt(g_allocs, 0);
		ck_assert_uint_eq(live_count(), 0);
		ck_assert_uint_eq(g_allocs, g_frees);
	}
}
END_TEST

START_TEST(test_malloc_hash_file)
{
	char err[FT_CLIENT_ERR_MAX];
	uint8_t d[32];
	uint64_t nb = 0;
	int check = counts_checked();
	int rc;

	count_start();
	rc = ft_client_hash_file(&g_c, g_image, d, &nb, err, sizeof err);
	count_stop();
	ck_assert_int_eq(rc, 0);
	ck_assert(memcmp(d, g_digest, 32) == 0);
	if (check) {
		ck_assert_uint_eq(g_calls, 0);
	}
}
END_TEST

static Suite *client_suite(void)
{
	Suite *s = suite_create("client");
	TCase *tc = tcase_create("client");

	tcase_set_timeout(tc, 120);
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, test_genuine);
	tcase_add_test(tc, test_all_vendor_keys);
	tcase_add_test(tc, test_fail_clears_verified);
	tcase_add_test(tc, test_einval_clears_verified);
	tcase_add_test(tc, test_tampered_image);
	tcase_add_test(tc, test_other_image);
	tcase_add_test(tc, test_other_product);
	tcase_add_test(tc, test_hardware);
	tcase_add_test(tc, test_truncated);
	tcase_add_test(tc, test_garbage);
	tcase_add_test(tc, test_not_a_checkpoint);
	tcase_add_test(tc, test_log);
	tcase_add_test(tc, test_quorum);
	tcase_add_test(tc, test_future);
	tcase_add_test(tc, test_quorum_before_future);
	tcase_add_test(tc, test_stale);
	tcase_add_test(tc, test_quorum_zero);
	tcase_add_test(tc, test_inclusion);
	tcase_add_test(tc, test_entry_modified);
	tcase_add_test(tc, test_not_release);
	tcase_add_test(tc, test_vendor);
	tcase_add_test(tc, test_rollback);
	tcase_add_test(tc, test_consistency);
	tcase_add_test(tc, test_first_boot);
	tcase_add_test(tc, test_corrupt_state);
	tcase_add_test(tc, test_hash_file);
	tcase_add_test(tc, test_hash_file_refused);
	tcase_add_test(tc, test_malloc_proof_path);
	tcase_add_test(tc, test_malloc_full_verify);
	tcase_add_test(tc, test_malloc_hash_file);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	return tu_run_suite(client_suite());
}
