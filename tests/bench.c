/*
 * tests/bench.c - how close ftlog gets to this machine's limits.
 *
 * Every figure is printed next to the limit measured in the same run on
 * the same machine, as a ratio:
 *  - raw nettle SHA-256 (65-byte node input, 33-byte leaf of a 32-byte
 *    entry, bulk) is the limit of everything built from hashes;
 *  - tree building (1,000,000 leaves): from leaf hashes the limit is one
 *    node hash per leaf (a tree of n leaves has n - 1 nodes); from entries
 *    it is one leaf hash plus one node hash per leaf;
 *  - proof verification at tree size 10^9: the limit is the raw node hash
 *    rate divided by the node hashes the verification has to compute;
 *  - checkpoint verification (open the signed note, parse the checkpoint):
 *    the limit is raw Ed25519 verification (libsodium) of the same text,
 *    once per signature.
 * Each figure is the best of 3 runs of at least MIN_SECONDS each, and is
 * measured interleaved with its limit so that other load on the machine
 * skews both alike. The figures are information: the exit status is 0
 * unless setup fails.
 */
#include <inttypes.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <nettle/sha2.h>
#include <sodium.h>

#include <ftlog/merkle.h>
#include <ftlog/note.h>

#define MIN_SECONDS 0.3
#define REPEATS 3
#define TREE_LEAVES 1000000u
#define BIG_SIZE 1000000000ull
#define ENTRY_LEN 32

/* Results flow here so that the compiler cannot drop the work. */
static volatile uint8_t g_sink;
static unsigned g_errors;

static double now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

/* Does n units of work, returns the units done. */
typedef uint64_t (*bench_fn)(void *ctx, uint64_t n);

/* One measured figure: fn(ctx, batch) repeated, best rate in units/s. */
typedef struct job {
	bench_fn fn;
	void *ctx;
	uint64_t batch;
	double best;
} job;

/* Units per second of one run of at least MIN_SECONDS. */
static double run_once(const job *j)
{
	uint64_t units = 0;
	double t0 = now(), dt;

	do {
		units += j->fn(j->ctx, j->batch);
		dt = now() - t0;
	} while (dt < MIN_SECONDS);
	return (double)units / dt;
}

/*
 * Best of REPEATS runs of each job, the jobs interleaved: a figure and the
 * limit it is compared with are measured side by side, so that load from
 * other processes on the machine affects both alike.
 */
static void measure(job *jobs, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		jobs[i].best = 0;
	}
	for (int r = 0; r < REPEATS; r++) {
		for (size_t i = 0; i < n; i++) {
			double rate = run_once(&jobs[i]);

			if (rate > jobs[i].best) {
				jobs[i].best = rate;
			}
		}
	}
}

static void fail(const char *what, int rc)
{
	fprintf(stderr, "bench: %s: %s (%s)\n", what, ft_strerror(rc),
		ft_errname(rc));
	g_errors++;
}

/* ---- Raw SHA-256 (nettle). */

static uint64_t b_sha_n(uint64_t n, size_t len)
{
	struct sha256_ctx c;
	uint8_t buf[65] = { 1 };

	/* Each digest feeds the next input: no work can be skipped. */
	for (uint64_t i = 0; i < n; i++) {
		sha256_init(&c);
		sha256_update(&c, len, buf);
		sha256_digest(&c, SHA256_DIGEST_SIZE, buf + 1);
	}
	g_sink ^= buf[1];
	return n;
}

static uint64_t b_sha65(void *ctx, uint64_t n)
{
	(void)ctx;
	return b_sha_n(n, 65);
}

static uint64_t b_sha33(void *ctx, uint64_t n)
{
	(void)ctx;
	return b_sha_n(n, 1 + ENTRY_LEN);
}

#define BULK_BYTES (1u << 20)

static uint64_t b_sha_bulk(void *ctx, uint64_t n)
{
	const uint8_t *data = ctx;
	struct sha256_ctx c;
	uint8_t d[SHA256_DIGEST_SIZE];

	sha256_init(&c);
	for (uint64_t i = 0; i < n; i++) {
		sha256_update(&c, BULK_BYTES, data);
	}
	sha256_digest(&c, sizeof d, d);
	g_sink ^= d[0];
	return n * BULK_BYTES;
}

/* ---- Tree building. */

typedef struct tree_ctx {
	ft_hash *leaves; /* TREE_LEAVES leaf hashes */
	ft_hash chunk[1024];
} tree_ctx;

static void make_entry(uint64_t i, uint8_t e[ENTRY_LEN])
{
	memset(e, 0x5a, ENTRY_LEN);
	for (int k = 0; k < 8; k++) {
		e[k] = (uint8_t)(i >> (8 * k));
	}
}

static void tree_done(const ft_tree *t)
{
	ft_hash root;

	ft_tree_root(t, &root);
	g_sink ^= root.b[0];
}

static uint64_t b_tree_batch(void *ctx, uint64_t n)
{
	tree_ctx *tc = ctx;
	ft_tree t;
	int rc;

	ft_tree_init(&t);
	rc = ft_tree_append_batch(&t, tc->leaves, (size_t)n, NULL, NULL);
	if (rc != 0) {
		fail("ft_tree_append_batch", rc);
	}
	tree_done(&t);
	return n;
}

static uint64_t b_tree_one(void *ctx, uint64_t n)
{
	tree_ctx *tc = ctx;
	ft_tree t;

	ft_tree_init(&t);
	for (uint64_t i = 0; i < n; i++) {
		int rc = ft_tree_append(&t, &tc->leaves[i], NULL, NULL);
		if (rc != 0) {
			fail("ft_tree_append", rc);
			break;
		}
	}
	tree_done(&t);
	return n;
}

static uint64_t b_tree_entries(void *ctx, uint64_t n)
{
	(void)ctx;
	uint8_t e[ENTRY_LEN];
	ft_hash leaf;
	ft_tree t;

	ft_tree_init(&t);
	for (uint64_t i = 0; i < n; i++) {
		make_entry(i, e);
		ft_merkle_leaf_hash(e, sizeof e, &leaf);
		int rc = ft_tree_append(&t, &leaf, NULL, NULL);
		if (rc != 0) {
			fail("ft_tree_append", rc);
			break;
		}
	}
	tree_done(&t);
	return n;
}

static uint64_t b_tree_entries_batch(void *ctx, uint64_t n)
{
	tree_ctx *tc = ctx;
	const size_t nc = sizeof tc->chunk / sizeof tc->chunk[0];
	uint8_t e[ENTRY_LEN];
	ft_tree t;

	ft_tree_init(&t);
	for (uint64_t i = 0; i < n;) {
		size_t k = 0;

		for (; k < nc && i < n; k++, i++) {
			make_entry(i, e);
			ft_merkle_leaf_hash(e, sizeof e, &tc->chunk[k]);
		}
		int rc = ft_tree_append_batch(&t, tc->chunk, k, NULL, NULL);
		if (rc != 0) {
			fail("ft_tree_append_batch", rc);
			break;
		}
	}
	tree_done(&t);
	return n;
}

/* ---- A consistent synthetic tree of any size. */

/*
 * Leaf i is the leaf hash of (i mod PERIOD). Since PERIOD is a power of
 * two, every perfect subtree of PERIOD or more leaves is the same, so the
 * node (level, index) is a table look-up for level <= PERIOD_LOG and one
 * hash per level above: genuine proofs for a tree of 10^9 leaves without
 * 10^9 leaves.
 */
#define PERIOD_LOG 12
#define PERIOD (1u << PERIOD_LOG)

static ft_hash g_low[PERIOD_LOG + 1][PERIOD];
static ft_hash g_high[64];

static void synth_init(void)
{
	for (uint32_t i = 0; i < PERIOD; i++) {
		uint8_t e[4] = { (uint8_t)(i >> 24), (uint8_t)(i >> 16),
				 (uint8_t)(i >> 8), (uint8_t)i };
		ft_merkle_leaf_hash(e, sizeof e, &g_low[0][i]);
	}
	for (unsigned l = 1; l <= PERIOD_LOG; l++) {
		for (uint32_t i = 0; i < (PERIOD >> l); i++) {
			ft_merkle_node_hash(&g_low[l - 1][2 * i],
					    &g_low[l - 1][2 * i + 1],
					    &g_low[l][i]);
		}
	}
	g_high[PERIOD_LOG] = g_low[PERIOD_LOG][0];
	for (unsigned l = PERIOD_LOG + 1; l < 64; l++) {
		ft_merkle_node_hash(&g_high[l - 1], &g_high[l - 1], &g_high[l]);
	}
}

static int synth_read(void *ctx, const ft_node_id *ids, size_t n,
		      ft_hash *out)
{
	(void)ctx;
	for (size_t i = 0; i < n; i++) {
		unsigned l = ids[i].level;

		if (l >= 64) {
			return FT_EREAD;
		}
		if (l <= PERIOD_LOG) {
			out[i] = g_low[l][ids[i].index & ((PERIOD >> l) - 1)];
		} else {
			out[i] = g_high[l];
		}
	}
	return 0;
}

static const ft_hash_reader g_synth = { synth_read, NULL };

/* ---- Proof verification at size 10^9. */

#define NPROOFS 8

typedef struct incl_ctx {
	uint64_t index[NPROOFS];
	ft_hash leaf[NPROOFS];
	ft_hash proof[NPROOFS][FT_PROOF_MAX_INCLUSION];
	size_t n[NPROOFS];
	ft_hash root;
} incl_ctx;

static uint64_t b_incl(void *ctx, uint64_t n)
{
	const incl_ctx *ic = ctx;
	unsigned bad = 0;

	for (uint64_t i = 0; i < n; i++) {
		unsigned k = (unsigned)(i % NPROOFS);

		bad += ft_proof_verify_inclusion(ic->index[k], BIG_SIZE,
						 ic->leaf[k].b, FT_HASH_LEN,
						 ic->proof[k][0].b,
						 ic->n[k] * FT_HASH_LEN,
						 ic->root.b, FT_HASH_LEN) != 0;
	}
	if (bad != 0) {
		fail("ft_proof_verify_inclusion", FT_EPROOF_ROOT);
	}
	return n;
}

typedef struct cons_ctx {
	uint64_t size1, size2;
	ft_hash root1, root2;
	ft_hash proof[FT_PROOF_MAX_CONSISTENCY];
	size_t n;
} cons_ctx;

static uint64_t b_cons(void *ctx, uint64_t n)
{
	const cons_ctx *cc = ctx;
	unsigned bad = 0;

	for (uint64_t i = 0; i < n; i++) {
		bad += ft_proof_verify_consistency(cc->size1, cc->size2,
						   cc->root1.b, FT_HASH_LEN,
						   cc->root2.b, FT_HASH_LEN,
						   cc->proof[0].b,
						   cc->n * FT_HASH_LEN) != 0;
	}
	if (bad != 0) {
		fail("ft_proof_verify_consistency", FT_EPROOF_ROOT);
	}
	return n;
}

/*
 * Node hashes RFC 9162 section 2.1.4.2 computes to verify a consistency
 * proof of n hashes from size1 to size2: two per hash on the old tree's
 * path (fr and sr), one per hash to its right (sr only).
 */
static unsigned consistency_hashes(uint64_t size1, uint64_t size2, size_t n)
{
	uint64_t fn = size1 - 1, sn = size2 - 1;
	unsigned h = 0;
	size_t i = 1;

	if ((size1 & (size1 - 1)) == 0) {
		i = 0; /* root1 itself seeds the path */
	}
	while (fn & 1) {
		fn >>= 1;
		sn >>= 1;
	}
	for (; i < n; i++) {
		if ((fn & 1) || fn == sn) {
			h += 2;
			while (!(fn & 1) && fn != 0) {
				fn >>= 1;
				sn >>= 1;
			}
		} else {
			h += 1;
		}
		fn >>= 1;
		sn >>= 1;
	}
	return h;
}

/* ---- Checkpoint verification. */

#define CK_ORIGIN "bench.example/log"

typedef struct ckpt_ctx {
	uint8_t note[2048];
	size_t note_len;
	size_t text_len;
	ft_vkey vk[3];
	size_t nkeys;
	uint8_t sig[crypto_sign_BYTES];
	uint8_t pk[crypto_sign_PUBLICKEYBYTES];
} ckpt_ctx;

static uint64_t b_ckpt(void *ctx, uint64_t n)
{
	const ckpt_ctx *cc = ctx;
	ft_note_sig st[3];
	ft_checkpoint cp;
	unsigned bad = 0;

	for (uint64_t i = 0; i < n; i++) {
		size_t tl = 0;

		bad += ft_note_open(cc->note, cc->note_len, cc->vk, cc->nkeys,
				    st, &tl) != 0;
		bad += ft_checkpoint_parse(cc->note, tl, CK_ORIGIN,
					   strlen(CK_ORIGIN), &cp) != 0;
		for (size_t k = 0; k < cc->nkeys; k++) {
			bad += st[k].verified != 1;
		}
	}
	if (bad != 0) {
		fail("ft_note_open + ft_checkpoint_parse", FT_ENOTE_BADSIG);
	}
	return n;
}

static uint64_t b_ed25519(void *ctx, uint64_t n)
{
	const ckpt_ctx *cc = ctx;
	unsigned bad = 0;

	for (uint64_t i = 0; i < n; i++) {
		bad += crypto_sign_verify_detached(cc->sig, cc->note,
						   cc->text_len, cc->pk) != 0;
	}
	if (bad != 0) {
		fail("crypto_sign_verify_detached", FT_ECRYPTO);
	}
	return n;
}

/* A signed checkpoint of BIG_SIZE with nwit cosignatures. */
static int ckpt_setup(ckpt_ctx *cc, size_t nwit)
{
	static const char *names[3] = { CK_ORIGIN, "bench.example/w1",
					 "bench.example/w2" };
	ft_skey sk[3];
	ft_checkpoint cp;
	uint8_t seed[32];
	uint8_t text[512];
	int rc;

	memset(cc, 0, sizeof *cc);
	for (size_t k = 0; k <= nwit; k++) {
		memset(seed, (int)(0x11 * (k + 1)), sizeof seed);
		rc = ft_key_from_seed(names[k], strlen(names[k]),
				      k == 0 ? FT_KEY_ED25519 : FT_KEY_COSIG_V1,
				      seed, &sk[k]);
		if (rc != 0) {
			fail("ft_key_from_seed", rc);
			return rc;
		}
		ft_skey_public(&sk[k], &cc->vk[k]);
	}
	cc->nkeys = nwit + 1;

	memset(&cp, 0, sizeof cp);
	memcpy(cp.origin, CK_ORIGIN, strlen(CK_ORIGIN) + 1);
	cp.origin_len = strlen(CK_ORIGIN);
	cp.size = BIG_SIZE;
	rc = ft_tree_hash_at(BIG_SIZE, &g_synth, &cp.root);
	if (rc == 0) {
		rc = ft_checkpoint_format(&cp, text, sizeof text,
					  &cc->text_len);
	}
	if (rc == 0) {
		rc = ft_note_sign(text, cc->text_len, sk, cc->nkeys,
				  1700000000u, cc->note, sizeof cc->note,
				  &cc->note_len);
	}
	if (rc != 0) {
		fail("signing the checkpoint", rc);
	}
	/* Ed25519 is deterministic: the same signature the note carries. */
	crypto_sign_detached(cc->sig, NULL, cc->note, cc->text_len, sk[0].sk);
	memcpy(cc->pk, sk[0].pk, sizeof cc->pk);
	for (size_t k = 0; k <= nwit; k++) {
		ft_skey_wipe(&sk[k]);
	}
	return rc;
}

/* ---- The table. */

static void fmt_rate(char *buf, size_t cap, double v, const char *unit)
{
	if (v >= 1e9) {
		snprintf(buf, cap, "%.2f G%s", v / 1e9, unit);
	} else if (v >= 1e6) {
		snprintf(buf, cap, "%.2f M%s", v / 1e6, unit);
	} else if (v >= 1e3) {
		snprintf(buf, cap, "%.1f k%s", v / 1e3, unit);
	} else {
		snprintf(buf, cap, "%.1f %s", v, unit);
	}
}

static void row(const char *name, double measured, double limit,
		const char *unit, double target)
{
	char m[32], l[32];

	fmt_rate(m, sizeof m, measured, unit);
	if (limit <= 0) {
		printf("%-44s %14s %14s %7s %7s\n", name, m, "-", "-", "-");
		return;
	}
	fmt_rate(l, sizeof l, limit, unit);
	double ratio = measured / limit;
	if (target > 0) {
		printf("%-44s %14s %14s %7.3f %6s%.2f%s\n", name, m, l, ratio,
		       ">=", target, ratio >= target ? "" : "  (below)");
	} else {
		printf("%-44s %14s %14s %7.3f %7s\n", name, m, l, ratio, "-");
	}
	fflush(stdout);
}

/* Jobs for the limits. */
#define JOB_SHA65 { b_sha65, NULL, 100000, 0 }
#define JOB_SHA33 { b_sha33, NULL, 100000, 0 }

/* A figure against the raw 65-byte hash rate divided by `hashes`. */
static void row_vs_node_hash(const char *name, bench_fn fn, void *ctx,
			     uint64_t batch, double hashes, const char *unit,
			     double target)
{
	job j[2] = { { fn, ctx, batch, 0 }, JOB_SHA65 };

	measure(j, 2);
	row(name, j[0].best, j[1].best / hashes, unit, target);
}

/* A tree built from entries against one leaf hash + one node hash. */
static void row_vs_leaf_node(const char *name, bench_fn fn, void *ctx)
{
	job j[3] = { { fn, ctx, TREE_LEAVES, 0 }, JOB_SHA33, JOB_SHA65 };

	measure(j, 3);
	row(name, j[0].best, 1.0 / (1.0 / j[1].best + 1.0 / j[2].best),
	    "leaf/s", 0.85);
}

static int run(void)
{
	static uint8_t bulk[BULK_BYTES];
	static tree_ctx tc;
	static incl_ctx ic;
	static cons_ctx cc;
	static ckpt_ctx ck;
	char buf[160];
	int rc;

	printf("%-44s %14s %14s %7s %7s\n", "benchmark", "measured", "limit",
	       "ratio", "target");

	/* Raw SHA-256: what every limit below is made of. */
	memset(bulk, 0xa5, sizeof bulk);
	job raw[3] = { JOB_SHA65, JOB_SHA33, { b_sha_bulk, bulk, 16, 0 } };
	measure(raw, 3);
	row("nettle sha256, 65 B (node)", raw[0].best, 0, "hash/s", 0);
	row("nettle sha256, 33 B (leaf of 32 B entry)", raw[1].best, 0,
	    "hash/s", 0);
	row("nettle sha256, bulk", raw[2].best, 0, "B/s", 0);

	/* Tree building, 1,000,000 leaves. */
	tc.leaves = malloc(TREE_LEAVES * sizeof *tc.leaves);
	if (tc.leaves == NULL) {
		fail("malloc", FT_ENOMEM);
		return 1;
	}
	for (uint32_t i = 0; i < TREE_LEAVES; i++) {
		uint8_t e[ENTRY_LEN];

		make_entry(i, e);
		ft_merkle_leaf_hash(e, sizeof e, &tc.leaves[i]);
	}
	row_vs_node_hash("tree 1M: leaf hashes, ft_tree_append_batch",
			 b_tree_batch, &tc, TREE_LEAVES, 1, "leaf/s", 0.85);
	row_vs_node_hash("tree 1M: leaf hashes, ft_tree_append", b_tree_one,
			 &tc, TREE_LEAVES, 1, "leaf/s", 0.85);
	row_vs_leaf_node("tree 1M: entries, leaf hash + ft_tree_append",
			 b_tree_entries, &tc);
	row_vs_leaf_node("tree 1M: entries, leaf hash + append_batch",
			 b_tree_entries_batch, &tc);
	free(tc.leaves);
	tc.leaves = NULL;

	/* Inclusion proofs at 10^9. */
	synth_init();
	rc = ft_tree_hash_at(BIG_SIZE, &g_synth, &ic.root);
	if (rc != 0) {
		fail("ft_tree_hash_at", rc);
		return 1;
	}
	size_t total = 0;
	for (unsigned k = 0; k < NPROOFS; k++) {
		ft_node_id id;

		ic.index[k] = k * (BIG_SIZE / NPROOFS) + 123457 * (k + 1);
		id.level = 0;
		id.index = ic.index[k];
		rc = synth_read(NULL, &id, 1, &ic.leaf[k]);
		if (rc == 0) {
			rc = ft_proof_inclusion(ic.index[k], BIG_SIZE, &g_synth,
						ic.proof[k], &ic.n[k]);
		}
		if (rc == 0) {
			rc = ft_proof_verify_inclusion(
				ic.index[k], BIG_SIZE, ic.leaf[k].b,
				FT_HASH_LEN, ic.proof[k][0].b,
				ic.n[k] * FT_HASH_LEN, ic.root.b, FT_HASH_LEN);
		}
		if (rc != 0) {
			fail("inclusion proof at 10^9", rc);
			return 1;
		}
		total += ic.n[k];
	}
	double avg = (double)total / NPROOFS;
	snprintf(buf, sizeof buf, "inclusion verify, size 10^9 (%.1f hashes)",
		 avg);
	row_vs_node_hash(buf, b_incl, &ic, 20000, avg, "proof/s", 0.8);

	/* Consistency proof 10^9 - 12345 -> 10^9. */
	cc.size1 = BIG_SIZE - 12345;
	cc.size2 = BIG_SIZE;
	rc = ft_tree_hash_at(cc.size1, &g_synth, &cc.root1);
	if (rc == 0) {
		rc = ft_tree_hash_at(cc.size2, &g_synth, &cc.root2);
	}
	if (rc == 0) {
		rc = ft_proof_consistency(cc.size1, cc.size2, &g_synth,
					  cc.proof, &cc.n);
	}
	if (rc == 0) {
		rc = ft_proof_verify_consistency(
			cc.size1, cc.size2, cc.root1.b, FT_HASH_LEN,
			cc.root2.b, FT_HASH_LEN, cc.proof[0].b,
			cc.n * FT_HASH_LEN);
	}
	if (rc != 0) {
		fail("consistency proof at 10^9", rc);
		return 1;
	}
	unsigned ch = consistency_hashes(cc.size1, cc.size2, cc.n);
	snprintf(buf, sizeof buf,
		 "consistency verify, -12345 (%zu in, %u hashes)", cc.n, ch);
	row_vs_node_hash(buf, b_cons, &cc, 20000, ch, "proof/s", 0.8);

	/* Checkpoints, against raw Ed25519 verification of their text. */
	if (ckpt_setup(&ck, 0) != 0) {
		return 1;
	}
	job cj[2] = { { b_ckpt, &ck, 500, 0 }, { b_ed25519, &ck, 500, 0 } };
	measure(cj, 2);
	row("ed25519 verify (libsodium), checkpoint text", cj[1].best, 0,
	    "sig/s", 0);
	row("checkpoint: ft_note_open + parse", cj[0].best, cj[1].best,
	    "ckpt/s", 0.8);
	if (ckpt_setup(&ck, 2) != 0) {
		return 1;
	}
	cj[0].batch = cj[1].batch = 200;
	measure(cj, 2);
	row("checkpoint + 2 cosignatures (3 sigs)", cj[0].best,
	    cj[1].best / 3, "ckpt/s", 0.8);
	return 0;
}

/* Other processes skew every figure: say so when the machine is busy. */
static void print_load(const char *when)
{
	FILE *f = fopen("/proc/loadavg", "r");
	double l1 = 0;

	if (f == NULL) {
		return;
	}
	if (fscanf(f, "%lf", &l1) == 1) {
		printf("(load average %s: %.2f)\n", when, l1);
	}
	fclose(f);
}

int main(void)
{
	double t0 = now();

	if (ft_init() != 0 || sodium_init() < 0) {
		fprintf(stderr, "bench: crypto initialisation failed\n");
		return 1;
	}
	print_load("at start");
	int rc = run();
	print_load("at end");
	printf("(best of %d runs of >= %.1f s each; total %.1f s)\n", REPEATS,
	       MIN_SECONDS, now() - t0);
	if (rc != 0 || g_errors != 0) {
		fprintf(stderr, "bench: %u errors\n", g_errors);
		return 1;
	}
	return 0;
}
