/*
 * tests/fuzz/fuzz_verify.c - tlog-proof bundles from outside, through the
 * whole device check (ft_client_verify, ftlog/client.h).
 *
 * Every input is a bundle for a fixed image digest, verified at a fixed
 * time against a fixed policy and state, written once to a temporary
 * directory and loaded with ft_client_init:
 *  - policy: the fuzz log key; witnesses the fuzz witness key and two more
 *    derived here, quorum 2; vendor keys the fuzz "other" key and two more,
 *    threshold 2; one revoked vendor key; product FUZZ_PRODUCT, hardware
 *    model FUZZ_HW, max age one day;
 *  - state: a checkpoint of size STATE_SIZE, floor 3 for FUZZ_PRODUCT.
 * Invariants, checked with __builtin_trap():
 *  - the result is 0 or one of the FT_ECLIENT_* codes of the rule table
 *    (FT_ENOMEM from the JSON parser);
 *  - err is one NUL-terminated line of printable ASCII: empty on success,
 *    on failure "<rule>: <detail>" with the rule of the returned code;
 *  - on failure the result is zeroed, nothing is prepared (verified is 0)
 *    and ft_client_commit refuses with FT_ECLIENT_NOT_VERIFIED;
 *  - on success the result obeys the policy and state (product, quorum,
 *    threshold, floor, freshness, tree sizes), the prepared state holds
 *    the larger checkpoint and the raised floor, and verifying the same
 *    input again gives the same code, result and reason;
 *  - the loaded policy and state in the context never change, and the
 *    state file keeps its bytes, inode and mtime (checked every 1024
 *    runs and at exit).
 *
 * Seeds: FUZZ_VERIFY_WRITE_SEEDS=DIR makes the first call write the seed
 * corpus (a genuine bundle and one bundle per rule that fails it, all
 * signed with the fixed keys) into DIR and exit. tests/fuzz/corpus/verify
 * was made so.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <ftlog/client.h>
#include <ftlog/event.h>
#include <ftlog/merkle.h>
#include <ftlog/note.h>
#include <ftlog/tlogproof.h>

#include "client/state.h"
#include "fuzz_common.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define FUZZ_NOW 1767225600u /* 2026-01-01T00:00:00Z, the device clock */
#define FUZZ_PRODUCT "fuzz-gnb"
#define FUZZ_HW "fuzz-hw-1"
#define FUZZ_FLOOR 3u
#define FUZZ_SV 5u
#define STATE_SIZE 40u
#define TREE_SIZE 64u
#define ENTRY_INDEX 45u
#define MAX_AGE 86400u
#define CHECK_EVERY 1024u

/* Keys derived here, besides fuzz_keys'. */
enum {
	XK_WITNESS2, /* cosignature witness */
	XK_WITNESS3, /* cosignature witness */
	XK_VENDOR2,  /* Ed25519 vendor key */
	XK_VENDOR3,  /* Ed25519 vendor key, not used to sign the seeds */
	XK_REVOKED,  /* Ed25519, vendor.revoked */
	XK_N
};

static const struct {
	const char *name;
	uint8_t type;
} xk_def[XK_N] = {
	{ "fuzz.example/witness2", FT_KEY_COSIG_V1 },
	{ "fuzz.example/witness3", FT_KEY_COSIG_V1 },
	{ "fuzz.example/vendor2", FT_KEY_ED25519 },
	{ "fuzz.example/vendor3", FT_KEY_ED25519 },
	{ "fuzz.example/revoked", FT_KEY_ED25519 },
};

static ft_skey g_sk[FUZZ_NKEYS], g_xsk[XK_N];
static ft_vkey g_vk[FUZZ_NKEYS], g_xvk[XK_N];
static ft_client g_c;
static ft_dpolicy g_policy; /* copies of what init loaded */
static ft_state g_state;
static uint8_t g_digest[32];
static ft_hash g_fill[TREE_SIZE]; /* leaf hashes of the filler entries */
static char g_dir[64], g_policy_path[128], g_state_path[128];
static uint8_t g_state_bytes[FT_STATE_FILE_MAX];
static size_t g_state_len;
static struct stat g_state_st;

/* ---- Files. */

static bool write_file(const char *path, const void *buf, size_t len)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	const uint8_t *p = buf;

	if (fd < 0) {
		return false;
	}
	while (len > 0) {
		ssize_t w = write(fd, p, len);

		if (w < 0 && errno == EINTR) {
			continue;
		}
		if (w <= 0) {
			(void)close(fd);
			return false;
		}
		p += w;
		len -= (size_t)w;
	}
	return close(fd) == 0;
}

/* Up to cap bytes of path into buf; -1 on error. */
static ssize_t read_file(const char *path, uint8_t *buf, size_t cap)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	size_t n = 0;

	if (fd < 0) {
		return -1;
	}
	while (n < cap) {
		ssize_t r = read(fd, buf + n, cap - n);

		if (r < 0 && errno == EINTR) {
			continue;
		}
		if (r < 0) {
			(void)close(fd);
			return -1;
		}
		if (r == 0) {
			break;
		}
		n += (size_t)r;
	}
	(void)close(fd);
	return (ssize_t)n;
}

/* The state file still has the bytes, inode and mtime it had at init. */
static void check_state_file(void)
{
	static uint8_t now[FT_STATE_FILE_MAX + 1];
	struct stat st;

	FUZZ_CHECK(stat(g_state_path, &st) == 0);
	FUZZ_CHECK(st.st_ino == g_state_st.st_ino &&
		   st.st_size == g_state_st.st_size &&
		   st.st_mtim.tv_sec == g_state_st.st_mtim.tv_sec &&
		   st.st_mtim.tv_nsec == g_state_st.st_mtim.tv_nsec);
	ssize_t n = read_file(g_state_path, now, sizeof now);
	FUZZ_CHECK(n >= 0 && (size_t)n == g_state_len &&
		   memcmp(now, g_state_bytes, g_state_len) == 0);
}

static void cleanup(void)
{
	if (g_dir[0] == '\0') {
		return;
	}
	check_state_file();
	(void)unlink(g_policy_path);
	(void)unlink(g_state_path);
	(void)rmdir(g_dir);
	g_dir[0] = '\0';
}

/* ---- Building bundles. */

/* RFC 6962 section 2.1 MTH and PATH, recursively. */
static size_t split(size_t n)
{
	size_t k = 1;

	while (k * 2 < n) {
		k *= 2;
	}
	return k;
}

static void mth(const ft_hash *d, size_t n, ft_hash *out)
{
	if (n == 0) {
		ft_merkle_empty_root(out);
		return;
	}
	if (n == 1) {
		*out = d[0];
		return;
	}
	size_t k = split(n);
	ft_hash l, r;
	mth(d, k, &l);
	mth(d + k, n - k, &r);
	ft_merkle_node_hash(&l, &r, out);
}

static size_t path(const ft_hash *d, size_t n, size_t m, ft_hash *out)
{
	if (n <= 1) {
		return 0;
	}
	size_t k = split(n), c;
	if (m < k) {
		c = path(d, k, m, out);
		mth(d + k, n - k, &out[c]);
	} else {
		c = path(d + k, n - k, m - k, out);
		mth(d, k, &out[c]);
	}
	return c + 1;
}

/* What one seed bundle is made of. Zero fields take the genuine value. */
typedef struct seed {
	const char *file;
	int want; /* what ft_client_verify must say */
	/* The entry: a release, raw bytes, or an event of another kind. */
	const char *raw;
	int kind;
	const char *pred;
	const uint8_t *digest;
	const char *product;
	const char *hw;
	uint64_t sv;
	const ft_skey *signers[4]; /* NULL-terminated; none: genuine */
	/* The tree and the checkpoint. */
	uint64_t size, index, claim_index;
	const ft_skey *log;
	unsigned n_wit; /* 0: all three */
	uint64_t ts;
	bool no_extra;
	size_t cut; /* keep only this many bytes, if not 0 */
} seed;

static uint8_t g_bundle[FT_CLIENT_BUNDLE_MAX];

/* Build the bundle of s into g_bundle; returns its length. */
static size_t seed_build(const seed *s)
{
	char pred[512], why[256];
	const uint8_t *entry;
	size_t entry_len, len;
	char *stmt = NULL, *env = NULL;
	size_t stmt_len, env_len;

	if (s->raw != NULL) {
		entry = (const uint8_t *)s->raw;
		entry_len = strlen(s->raw);
	} else {
		int w = snprintf(pred, sizeof pred,
				 "{\"product\":\"%s\",\"vendor\":\"fuzz\","
				 "\"version\":\"1.2.3\",\"security_version\":"
				 "%llu,\"hardware_models\":[\"fuzz-hw-0\","
				 "\"%s\"]}",
				 s->product != NULL ? s->product
						    : FUZZ_PRODUCT,
				 (unsigned long long)(s->sv != 0 ? s->sv
								 : FUZZ_SV),
				 s->hw != NULL ? s->hw : FUZZ_HW);
		FUZZ_CHECK(w > 0 && (size_t)w < sizeof pred);
		if (s->pred != NULL) {
			w = snprintf(pred, sizeof pred, "%s", s->pred);
			FUZZ_CHECK(w > 0 && (size_t)w < sizeof pred);
		}
		ft_event_subject subj = { .name = "fuzz.bin" };
		memcpy(subj.sha256, s->digest != NULL ? s->digest : g_digest,
		       32);
		FUZZ_CHECK(ft_event_statement(
				   s->kind != 0 ? s->kind : FT_EVENT_RELEASE,
				   &subj, 1, pred, (size_t)w, &stmt, &stmt_len,
				   why, sizeof why) == 0);
		ft_skey signers[4];
		size_t ns = 0;
		if (s->signers[0] == NULL) {
			signers[ns++] = g_sk[FUZZ_KEY_OTHER];
			signers[ns++] = g_xsk[XK_VENDOR2];
		}
		for (; ns < 4 && s->signers[ns] != NULL; ns++) {
			signers[ns] = *s->signers[ns];
		}
		FUZZ_CHECK(ft_event_sign((const uint8_t *)stmt, stmt_len,
					 signers, ns, &env, &env_len) == 0);
		for (size_t i = 0; i < ns; i++) {
			ft_skey_wipe(&signers[i]);
		}
		entry = (const uint8_t *)env;
		entry_len = env_len;
	}

	uint64_t size = s->size != 0 ? s->size : TREE_SIZE;
	uint64_t index = s->index != 0 ? s->index : ENTRY_INDEX;
	ft_hash leaf[TREE_SIZE], pth[FT_PROOF_MAX_INCLUSION];
	FUZZ_CHECK(size <= TREE_SIZE && index < size);
	memcpy(leaf, g_fill, sizeof leaf);
	ft_merkle_leaf_hash(entry, entry_len, &leaf[index]);

	ft_checkpoint cp;
	memset(&cp, 0, sizeof cp);
	const ft_skey *log = s->log != NULL ? s->log : &g_sk[FUZZ_KEY_LOG];
	memcpy(cp.origin, log->name, log->name_len);
	cp.origin_len = log->name_len;
	cp.size = size;
	mth(leaf, size, &cp.root);
	size_t np = path(leaf, size, index, pth);
	FUZZ_CHECK(ft_proof_verify_inclusion(index, size, leaf[index].b, 32,
					     (const uint8_t *)pth,
					     np * sizeof(ft_hash), cp.root.b,
					     32) == 0);

	uint8_t text[512], note[2048];
	size_t text_len, note_len;
	FUZZ_CHECK(ft_checkpoint_format(&cp, text, sizeof text, &text_len) ==
		   0);
	FUZZ_CHECK(ft_note_sign(text, text_len, log, 1, 0, note, sizeof note,
				&note_len) == 0);
	const ft_skey *wit[3] = { &g_sk[FUZZ_KEY_WITNESS],
				  &g_xsk[XK_WITNESS2], &g_xsk[XK_WITNESS3] };
	unsigned nw = s->n_wit != 0 ? s->n_wit : 3;
	uint64_t ts = s->ts != 0 ? s->ts : FUZZ_NOW - 1000;
	for (unsigned i = 0; i < nw; i++) {
		FUZZ_CHECK(ft_cosig_add(wit[i], ts - i, note, sizeof note,
					&note_len) == 0);
	}
	uint64_t claim = s->claim_index != 0 ? s->claim_index : index;
	FUZZ_CHECK(ft_tlog_proof_format(s->no_extra ? NULL : entry,
					s->no_extra ? 0 : entry_len, claim,
					pth, np, note, note_len, g_bundle,
					sizeof g_bundle, &len) == 0);
	free(stmt);
	free(env);
	if (s->cut != 0 && s->cut < len) {
		len = s->cut;
	}
	return len;
}

static void write_seeds(const char *dir)
{
	static const uint8_t other_digest[32] = { 0xde, 0xad, 0xbe, 0xef };
	const seed seeds[] = {
		{ .file = "genuine" },
		{ .file = "genuine-at-floor", .sv = FUZZ_FLOOR },
		{ .file = "genuine-quorum-2", .n_wit = 2 },
		{ .file = "genuine-3-vendors",
		  .signers = { &g_sk[FUZZ_KEY_OTHER], &g_xsk[XK_VENDOR2],
			       &g_xsk[XK_VENDOR3] } },
		{ .file = "genuine-small-tree", .size = STATE_SIZE + 1,
		  .index = STATE_SIZE },
		{ .file = "bundle-truncated", .want = FT_ECLIENT_BUNDLE,
		  .cut = 600 },
		{ .file = "bundle-no-extra", .want = FT_ECLIENT_BUNDLE,
		  .no_extra = true },
		{ .file = "log-other-origin", .want = FT_ECLIENT_LOG,
		  .log = &g_sk[FUZZ_KEY_OTHER] },
		{ .file = "quorum-one-cosig", .want = FT_ECLIENT_QUORUM,
		  .n_wit = 1 },
		{ .file = "future", .want = FT_ECLIENT_FUTURE,
		  .ts = FUZZ_NOW + 1000 },
		{ .file = "stale", .want = FT_ECLIENT_STALE,
		  .ts = FUZZ_NOW - 2 * MAX_AGE },
		{ .file = "consistency-older", .want = FT_ECLIENT_CONSISTENCY,
		  .size = 30, .index = 20 },
		{ .file = "consistency-fork", .want = FT_ECLIENT_CONSISTENCY,
		  .size = STATE_SIZE, .index = 20 },
		{ .file = "inclusion-wrong-index", .want = FT_ECLIENT_INCLUSION,
		  .claim_index = ENTRY_INDEX - 1 },
		{ .file = "not-release-json", .want = FT_ECLIENT_NOT_RELEASE,
		  .raw = "{\"payloadType\":1}" },
		{ .file = "not-release-distribution",
		  .want = FT_ECLIENT_NOT_RELEASE, .kind = FT_EVENT_DISTRIBUTION,
		  .pred = "{\"product\":\"" FUZZ_PRODUCT "\","
			  "\"channel\":\"stable\"}" },
		{ .file = "digest-other", .want = FT_ECLIENT_DIGEST,
		  .digest = other_digest },
		{ .file = "product-other", .want = FT_ECLIENT_PRODUCT,
		  .product = "fuzz-other" },
		{ .file = "hardware-other", .want = FT_ECLIENT_HW,
		  .hw = "fuzz-hw-9" },
		{ .file = "vendor-key-revoked", .want = FT_ECLIENT_VENDOR_KEY,
		  .signers = { &g_sk[FUZZ_KEY_OTHER], &g_xsk[XK_VENDOR2],
			       &g_xsk[XK_REVOKED] } },
		{ .file = "vendor-key-unknown", .want = FT_ECLIENT_VENDOR_KEY,
		  .signers = { &g_sk[FUZZ_KEY_LOG] } },
		{ .file = "threshold-one", .want = FT_ECLIENT_THRESHOLD,
		  .signers = { &g_sk[FUZZ_KEY_OTHER] } },
		{ .file = "rollback", .want = FT_ECLIENT_ROLLBACK,
		  .sv = FUZZ_FLOOR - 1 },
	};
	char p[4096];

	for (size_t i = 0; i < sizeof seeds / sizeof seeds[0]; i++) {
		size_t len = seed_build(&seeds[i]);
		ft_client_result res;
		char err[FT_CLIENT_ERR_MAX];
		int rc = ft_client_verify(&g_c, g_digest, g_bundle, len, NULL,
					  0, FUZZ_NOW, &res, err, sizeof err);

		fprintf(stderr, "seed %-24s %5zu bytes: %s%s%s\n",
			seeds[i].file, len, ft_errname(rc),
			err[0] != '\0' ? " " : "", err);
		FUZZ_CHECK(rc == seeds[i].want);
		snprintf(p, sizeof p, "%s/%s", dir, seeds[i].file);
		FUZZ_CHECK(write_file(p, g_bundle, len));
	}
}

/* ---- Setup. */

static void derive_keys(void)
{
	fuzz_keys(g_sk, g_vk);
	for (unsigned k = 0; k < XK_N; k++) {
		uint8_t seed[32];

		for (unsigned i = 0; i < sizeof seed; i++) {
			seed[i] = (uint8_t)(0x17 * (k + 1) + 13 * i + 5);
		}
		FUZZ_CHECK(ft_key_from_seed(xk_def[k].name,
					    strlen(xk_def[k].name),
					    xk_def[k].type, seed,
					    &g_xsk[k]) == 0);
		ft_skey_public(&g_xsk[k], &g_xvk[k]);
	}
}

static void write_policy(void)
{
	const ft_vkey *keys[8] = {
		&g_vk[FUZZ_KEY_LOG],    &g_vk[FUZZ_KEY_WITNESS],
		&g_xvk[XK_WITNESS2],    &g_xvk[XK_WITNESS3],
		&g_vk[FUZZ_KEY_OTHER],  &g_xvk[XK_VENDOR2],
		&g_xvk[XK_VENDOR3],     &g_xvk[XK_REVOKED],
	};
	char ks[8][FT_KEY_STR_MAX + 1];
	char buf[4096];
	size_t kl;

	for (unsigned i = 0; i < 8; i++) {
		FUZZ_CHECK(ft_vkey_format(keys[i], ks[i], sizeof ks[i], &kl) ==
			   0);
	}
	int w = snprintf(
		buf, sizeof buf,
		"{\"ftlog_device_policy\": 1,\n"
		" \"log\": {\"key\": \"%s\"},\n"
		" \"witnesses\": {\"quorum\": 2, \"keys\": [\"%s\", \"%s\", "
		"\"%s\"]},\n"
		" \"vendor\": {\"threshold\": 2, \"keys\": [\"%s\", \"%s\", "
		"\"%s\"], \"revoked\": [\"%s\"]},\n"
		" \"product\": \"%s\", \"hardware_model\": \"%s\",\n"
		" \"max_checkpoint_age\": %u}\n",
		ks[0], ks[1], ks[2], ks[3], ks[4], ks[5], ks[6], ks[7],
		FUZZ_PRODUCT, FUZZ_HW, MAX_AGE);
	FUZZ_CHECK(w > 0 && (size_t)w < sizeof buf);
	FUZZ_CHECK(write_file(g_policy_path, buf, (size_t)w));
}

/* The state: the checkpoint of the first STATE_SIZE fillers (a prefix of
 * every genuine tree whose release is at index >= STATE_SIZE), a floor. */
static void write_state(void)
{
	ft_state st;
	ft_hash root;
	char why[256];

	ft_state_init(&st);
	mth(g_fill, STATE_SIZE, &root);
	ft_state_set_checkpoint(&st, STATE_SIZE, &root);
	FUZZ_CHECK(ft_state_set_floor(&st, FUZZ_PRODUCT, FUZZ_FLOOR) == 0);
	FUZZ_CHECK(ft_state_save(g_state_path, &st, why, sizeof why) == 0);
}

static void init_once(void)
{
	static bool done;
	char err[FT_CLIENT_ERR_MAX];

	if (done) {
		return;
	}
	done = true;
	derive_keys();
	for (unsigned i = 0; i < 32; i++) {
		g_digest[i] = (uint8_t)(7 * i + 1);
	}
	for (unsigned i = 0; i < TREE_SIZE; i++) {
		char e[32];
		int w = snprintf(e, sizeof e, "fuzz filler %u", i);

		ft_merkle_leaf_hash((const uint8_t *)e, (size_t)w, &g_fill[i]);
	}
	const char *tmp = getenv("TMPDIR");
	snprintf(g_dir, sizeof g_dir, "%s/ftfuzz-verify.XXXXXX",
		 tmp != NULL && tmp[0] != '\0' && strlen(tmp) < 32 ? tmp
								 : "/tmp");
	FUZZ_CHECK(mkdtemp(g_dir) != NULL);
	snprintf(g_policy_path, sizeof g_policy_path, "%s/policy.json", g_dir);
	snprintf(g_state_path, sizeof g_state_path, "%s/state", g_dir);
	write_policy();
	write_state();
	FUZZ_CHECK(ft_client_init(&g_c, g_policy_path, g_state_path, 0, err,
				  sizeof err) == 0);
	g_policy = g_c.policy;
	g_state = g_c.state;
	FUZZ_CHECK(stat(g_state_path, &g_state_st) == 0);
	ssize_t n = read_file(g_state_path, g_state_bytes,
			      sizeof g_state_bytes);
	FUZZ_CHECK(n > 0);
	g_state_len = (size_t)n;
	FUZZ_CHECK(atexit(cleanup) == 0);

	const char *sd = getenv("FUZZ_VERIFY_WRITE_SEEDS");
	if (sd != NULL && sd[0] != '\0') {
		write_seeds(sd);
		cleanup();
		_exit(0); /* libFuzzer reports a plain exit as an error */
	}
	for (unsigned k = 0; k < FUZZ_NKEYS; k++) {
		ft_skey_wipe(&g_sk[k]);
	}
	for (unsigned k = 0; k < XK_N; k++) {
		ft_skey_wipe(&g_xsk[k]);
	}
}

/* ---- Invariants. */

/* The rule name a code is reported under; NULL if verify may not return
 * it. */
static const char *rule_of(int rc)
{
	switch (rc) {
	case FT_ECLIENT_BUNDLE:
		return "bundle";
	case FT_ECLIENT_LOG:
		return "log";
	case FT_ECLIENT_LOG_SIG:
		return "log-signature";
	case FT_ECLIENT_QUORUM:
		return "quorum";
	case FT_ECLIENT_FUTURE:
		return "future";
	case FT_ECLIENT_STALE:
		return "stale";
	case FT_ECLIENT_CONSISTENCY:
		return "consistency";
	case FT_ECLIENT_INCLUSION:
		return "inclusion";
	case FT_ECLIENT_NOT_RELEASE:
	case FT_ENOMEM:
		return "not-release";
	case FT_ECLIENT_DIGEST:
		return "digest";
	case FT_ECLIENT_PRODUCT:
		return "product";
	case FT_ECLIENT_HW:
		return "hardware";
	case FT_ECLIENT_VENDOR_KEY:
		return "vendor-key";
	case FT_ECLIENT_THRESHOLD:
		return "threshold";
	case FT_ECLIENT_ROLLBACK:
		return "rollback";
	default:
		return NULL;
	}
}

/* One NUL-terminated line of printable ASCII within cap. */
static void check_line(const char *s, size_t cap)
{
	size_t n = strnlen(s, cap);

	FUZZ_CHECK(n < cap);
	for (size_t i = 0; i < n; i++) {
		FUZZ_CHECK((unsigned char)s[i] >= 0x20 &&
			   (unsigned char)s[i] <= 0x7e);
	}
}

static void check_success(const ft_client_result *r)
{
	const ft_dpolicy *p = &g_policy;

	FUZZ_CHECK(g_c.verified == 1);
	FUZZ_CHECK(strcmp(r->product, p->product) == 0);
	FUZZ_CHECK(strnlen(r->version, sizeof r->version) > 0 &&
		   strnlen(r->version, sizeof r->version) < sizeof r->version);
	FUZZ_CHECK(strnlen(r->vendor, sizeof r->vendor) > 0 &&
		   strnlen(r->vendor, sizeof r->vendor) < sizeof r->vendor);
	FUZZ_CHECK(r->security_version >= FUZZ_FLOOR);
	FUZZ_CHECK(r->tree_size >= STATE_SIZE && r->index < r->tree_size);
	FUZZ_CHECK(r->n_cosigs >= p->quorum && r->n_cosigs <= p->n_witnesses);
	FUZZ_CHECK(r->newest_cosig + p->max_age_s >= FUZZ_NOW &&
		   r->newest_cosig <= FUZZ_NOW + FT_CLIENT_MAX_SKEW);
	FUZZ_CHECK(r->n_vendor_sigs >= p->threshold &&
		   r->n_vendor_sigs <= p->n_vendor);
	FUZZ_CHECK(r->consistency_proved == 0); /* offline: no proof given */
	/* A same-size checkpoint must be the stored one. */
	if (r->tree_size == STATE_SIZE) {
		FUZZ_CHECK(ft_hash_equal(&r->root, &g_state.root));
	}
	/* What commit would write. */
	FUZZ_CHECK(g_c.next.has_checkpoint);
	FUZZ_CHECK(g_c.next.size == r->tree_size);
	FUZZ_CHECK(ft_hash_equal(&g_c.next.root, &r->root));
	FUZZ_CHECK(ft_state_floor(&g_c.next, FUZZ_PRODUCT) ==
		   r->security_version);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static ft_client_result res, res2;
	static uint64_t runs;
	char err[FT_CLIENT_ERR_MAX], err2[FT_CLIENT_ERR_MAX];

	init_once();
	memset(&res, 0x5a, sizeof res);
	memset(err, 0x5a, sizeof err);
	int rc = ft_client_verify(&g_c, g_digest, data, size, NULL, 0,
				  FUZZ_NOW, &res, err, sizeof err);
	check_line(err, sizeof err);
	if (rc != 0) {
		const char *rule = rule_of(rc);
		size_t rl;

		FUZZ_CHECK(rule != NULL);
		rl = strlen(rule);
		FUZZ_CHECK(strncmp(err, rule, rl) == 0 && err[rl] == ':' &&
			   err[rl + 1] == ' ' && err[rl + 2] != '\0');
		FUZZ_CHECK(fuzz_all_bytes(&res, sizeof res, 0));
		FUZZ_CHECK(g_c.verified == 0);
		FUZZ_CHECK(ft_client_commit(&g_c, err2, sizeof err2) ==
			   FT_ECLIENT_NOT_VERIFIED);
		check_line(err2, sizeof err2);
		FUZZ_CHECK(strncmp(err2, "commit: ", 8) == 0);
	} else {
		FUZZ_CHECK(err[0] == '\0');
		check_success(&res);
		/* Deterministic: the same input, the same answer. */
		memset(&res2, 0xa5, sizeof res2);
		memset(err2, 0xa5, sizeof err2);
		FUZZ_CHECK(ft_client_verify(&g_c, g_digest, data, size, NULL, 0,
					    FUZZ_NOW, &res2, err2,
					    sizeof err2) == 0);
		FUZZ_CHECK(memcmp(&res, &res2, sizeof res) == 0);
		FUZZ_CHECK(err2[0] == '\0');
	}
	FUZZ_CHECK(memcmp(&g_c.policy, &g_policy, sizeof g_policy) == 0);
	FUZZ_CHECK(memcmp(&g_c.state, &g_state, sizeof g_state) == 0);
	if (++runs % CHECK_EVERY == 0) {
		check_state_file();
	}
	return 0;
}
