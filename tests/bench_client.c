/*
 * tests/bench_client.c - how close the device client (libftclient,
 * ftverify) gets to this machine's limits.
 *
 * Every figure is printed next to a limit measured in the same run on the
 * same machine, and their ratio:
 *  a) ft_client_verify of one genuine bundle (log signature, 3 witness
 *     cosignatures with quorum 2, a release signed by 2 of 3 vendor keys,
 *     a tree of 1000 entries, a ~2 KiB envelope), image hashing excluded.
 *     The limit is the signature verifications verify cannot avoid, done
 *     with libsodium on the same messages: 1 log Ed25519 over the
 *     checkpoint text, 3 cosignatures over "cosignature/v1\ntime <ts>\n"
 *     and the text, 2 vendor signatures over the DSSE PAE. Overhead =
 *     (bundle - signatures) / signatures; the target is <= 25%.
 *  b) ft_client_hash_file over a 512 MiB file in the page cache against
 *     raw nettle SHA-256 over a 512 MiB buffer (target >= 0.9).
 *  c) peak RSS of $FTLOG_BUILDDIR/client/ftverify verifying a 1 GiB image
 *     (target < 8 MiB), with its exit status and first output line. The
 *     figure is VmHWM of its own memory, read from /proc when it stops at
 *     exit (ptrace); wait4's ru_maxrss is printed too, but on Linux it
 *     also counts the RSS the forked child inherited from this process
 *     before exec, so it is only an upper bound.
 *  d) stripped sizes of ftverify and libftclient.so.
 * Every bundle, key, tree and policy is built here from the library's own
 * building blocks with fixed seeds; trees with an independent recursive
 * RFC 6962 implementation. Timings are information, never asserted: the
 * exit status is 1 only if something fails functionally.
 */
#define _DEFAULT_SOURCE /* wait4, ptrace */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <signal.h>
#include <sys/ptrace.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <nettle/sha2.h>
#include <sodium.h>

#include <ftlog/client.h>
#include <ftlog/event.h>
#include <ftlog/merkle.h>
#include <ftlog/note.h>
#include <ftlog/tlogproof.h>

#define TREE_SIZE 1000u
#define ENTRY_INDEX 617u
#define N_WITNESSES 3
#define N_VENDOR 3
#define N_HW 40 /* hardware models: makes the envelope ~2 KiB */
#define VERIFY_SECONDS 0.6
#define SIGS_SECONDS 0.3
#define REPEATS 3
#define HASH_BYTES ((size_t)512 << 20)
#define BIG_IMAGE_BYTES ((off_t)1 << 30)
#define PRODUCT "gnb-du"
#define HW_MODEL "acme-du-4400"
#define ORIGIN "bench.example/log"

static volatile uint8_t g_sink;
static unsigned g_errors;
static char g_dir[64]; /* the temporary directory, "" if none */

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static void fail(const char *what, const char *detail)
{
	fprintf(stderr, "bench_client: %s: %s\n", what, detail);
	g_errors++;
}

static void fail_rc(const char *what, int rc)
{
	fail(what, ft_strerror(rc));
}

/* ---- Keys. */

typedef struct keys {
	ft_skey log;
	ft_skey wit[N_WITNESSES];
	ft_skey ven[N_VENDOR];
	ft_vkey vlog;
	ft_vkey vwit[N_WITNESSES];
	ft_vkey vven[N_VENDOR];
} keys;

static int key_make(const char *name, uint8_t type, unsigned n, ft_skey *sk,
		    ft_vkey *vk)
{
	uint8_t seed[32];

	for (unsigned i = 0; i < sizeof seed; i++) {
		seed[i] = (uint8_t)(0x31 * (n + 1) + 11 * i);
	}
	int rc = ft_key_from_seed(name, strlen(name), type, seed, sk);
	if (rc != 0) {
		return rc;
	}
	ft_skey_public(sk, vk);
	return 0;
}

static int keys_make(keys *k)
{
	static const char *const wn[N_WITNESSES] = {
		"witness-a.example/w1", "witness-b.example/w2",
		"witness-c.example/w3",
	};
	static const char *const vn[N_VENDOR] = {
		"acme.example/release-a", "acme.example/release-b",
		"acme.example/release-hsm",
	};
	int rc = key_make(ORIGIN, FT_KEY_ED25519, 0, &k->log, &k->vlog);

	for (unsigned i = 0; rc == 0 && i < N_WITNESSES; i++) {
		rc = key_make(wn[i], FT_KEY_COSIG_V1, 1 + i, &k->wit[i],
			      &k->vwit[i]);
	}
	for (unsigned i = 0; rc == 0 && i < N_VENDOR; i++) {
		rc = key_make(vn[i], FT_KEY_ED25519, 10 + i, &k->ven[i],
			      &k->vven[i]);
	}
	return rc;
}

static void keys_wipe(keys *k)
{
	ft_skey_wipe(&k->log);
	for (unsigned i = 0; i < N_WITNESSES; i++) {
		ft_skey_wipe(&k->wit[i]);
	}
	for (unsigned i = 0; i < N_VENDOR; i++) {
		ft_skey_wipe(&k->ven[i]);
	}
}

/* ---- Files. */

static int write_file(const char *path, const void *buf, size_t len)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	const uint8_t *p = buf;

	if (fd < 0) {
		return -1;
	}
	while (len > 0) {
		ssize_t w = write(fd, p, len);

		if (w < 0 && errno == EINTR) {
			continue;
		}
		if (w <= 0) {
			(void)close(fd);
			return -1;
		}
		p += w;
		len -= (size_t)w;
	}
	return close(fd);
}

static void tmp_path(char *out, size_t cap, const char *name)
{
	snprintf(out, cap, "%s/%s", g_dir, name);
}

/* The policy: the log, 3 witnesses (quorum 2), 3 vendor keys (2). */
static int write_policy(const keys *k, const char *path)
{
	char buf[8192];
	char ks[FT_KEY_STR_MAX + 1];
	size_t n = 0, kl;
	int w, rc;

#define PUT(...)                                                              \
	do {                                                                  \
		w = snprintf(buf + n, sizeof buf - n, __VA_ARGS__);           \
		if (w < 0 || (size_t)w >= sizeof buf - n) {                   \
			return -1;                                            \
		}                                                             \
		n += (size_t)w;                                               \
	} while (0)

	rc = ft_vkey_format(&k->vlog, ks, sizeof ks, &kl);
	if (rc != 0) {
		return -1;
	}
	PUT("{\"ftlog_device_policy\": 1, \"log\": {\"key\": \"%s\"},\n", ks);
	PUT("\"witnesses\": {\"quorum\": 2, \"keys\": [");
	for (unsigned i = 0; i < N_WITNESSES; i++) {
		if (ft_vkey_format(&k->vwit[i], ks, sizeof ks, &kl) != 0) {
			return -1;
		}
		PUT("%s\"%s\"", i > 0 ? ", " : "", ks);
	}
	PUT("]},\n\"vendor\": {\"threshold\": 2, \"keys\": [");
	for (unsigned i = 0; i < N_VENDOR; i++) {
		if (ft_vkey_format(&k->vven[i], ks, sizeof ks, &kl) != 0) {
			return -1;
		}
		PUT("%s\"%s\"", i > 0 ? ", " : "", ks);
	}
	PUT("]},\n\"product\": \"%s\", \"hardware_model\": \"%s\", "
	    "\"max_checkpoint_age\": 86400}\n",
	    PRODUCT, HW_MODEL);
#undef PUT
	return write_file(path, buf, n);
}

/* ---- The release envelope. */

typedef struct release {
	char *statement; /* malloc'd, the DSSE payload */
	size_t statement_len;
	char *envelope;  /* malloc'd, the log entry */
	size_t envelope_len;
} release;

static void release_free(release *r)
{
	free(r->statement);
	free(r->envelope);
	memset(r, 0, sizeof *r);
}

/* A release of digest for PRODUCT, listing HW_MODEL among N_HW models,
 * signed by vendor keys 0 and 1. */
static int release_make(const keys *k, const uint8_t digest[32], release *r)
{
	char pred[4096];
	char why[256];
	size_t n = 0;
	int w;

	memset(r, 0, sizeof *r);
	w = snprintf(pred, sizeof pred,
		     "{\"product\":\"%s\",\"vendor\":\"acme\",\"version\":"
		     "\"24.3.1-build.7781\",\"security_version\":12,"
		     "\"sbom_sha256\":\"%064d\",\"hardware_models\":[",
		     PRODUCT, 7);
	if (w < 0 || (size_t)w >= sizeof pred) {
		return FT_EBUFSIZE;
	}
	n = (size_t)w;
	for (unsigned i = 0; i < N_HW; i++) {
		if (i == N_HW / 2) {
			w = snprintf(pred + n, sizeof pred - n, "\"%s\",",
				     HW_MODEL);
		} else {
			w = snprintf(pred + n, sizeof pred - n,
				     "\"acme-du-%u-rev%c\",", 1000 + 17 * i,
				     'a' + (int)(i % 26));
		}
		if (w < 0 || (size_t)w >= sizeof pred - n) {
			return FT_EBUFSIZE;
		}
		n += (size_t)w;
	}
	w = snprintf(pred + n - 1, sizeof pred - n + 1, "]}");
	if (w < 0 || (size_t)w >= sizeof pred - n + 1) {
		return FT_EBUFSIZE;
	}
	n += 1;

	ft_event_subject subj = { .name = "gnb-du-24.3.1.bin" };
	memcpy(subj.sha256, digest, 32);
	int rc = ft_event_statement(FT_EVENT_RELEASE, &subj, 1, pred, n,
				    &r->statement, &r->statement_len, why,
				    sizeof why);
	if (rc != 0) {
		fprintf(stderr, "bench_client: statement: %s\n", why);
		return rc;
	}
	rc = ft_event_sign((const uint8_t *)r->statement, r->statement_len,
			   k->ven, 2, &r->envelope, &r->envelope_len);
	if (rc != 0) {
		release_free(r);
	}
	return rc;
}

/* ---- Trees: RFC 6962 section 2.1, recursively, independent of merkle/. */

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

/* PATH(m, D[n]), leaf side first. */
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

/* ---- Bundles. */

typedef struct bundle {
	uint8_t *buf; /* FT_CLIENT_BUNDLE_MAX bytes, malloc'd */
	size_t len;
	uint8_t text[1024]; /* the checkpoint text */
	size_t text_len;
	uint64_t ts[N_WITNESSES]; /* the cosignature timestamps */
	size_t path_len;
} bundle;

/*
 * A tree of TREE_SIZE entries with entry at ENTRY_INDEX, its checkpoint
 * signed by the log and cosigned by every witness at ts, and the
 * tlog-proof of the entry.
 */
static int bundle_make(const keys *k, const release *rel, uint64_t ts,
		       bundle *b)
{
	ft_hash *leaf = calloc(TREE_SIZE, sizeof *leaf);
	ft_hash pth[FT_PROOF_MAX_INCLUSION];
	uint8_t note[4096];
	size_t note_len;
	ft_checkpoint cp;
	int rc = FT_ENOMEM;

	b->buf = malloc(FT_CLIENT_BUNDLE_MAX);
	if (leaf == NULL || b->buf == NULL) {
		goto out;
	}
	for (unsigned i = 0; i < TREE_SIZE; i++) {
		char e[64];
		int w = snprintf(e, sizeof e, "filler entry %u", i);

		ft_merkle_leaf_hash((const uint8_t *)e, (size_t)w, &leaf[i]);
	}
	ft_merkle_leaf_hash((const uint8_t *)rel->envelope, rel->envelope_len,
			    &leaf[ENTRY_INDEX]);
	memset(&cp, 0, sizeof cp);
	memcpy(cp.origin, ORIGIN, sizeof ORIGIN);
	cp.origin_len = strlen(ORIGIN);
	cp.size = TREE_SIZE;
	mth(leaf, TREE_SIZE, &cp.root);
	b->path_len = path(leaf, TREE_SIZE, ENTRY_INDEX, pth);
	rc = ft_proof_verify_inclusion(ENTRY_INDEX, TREE_SIZE,
				       leaf[ENTRY_INDEX].b, 32,
				       (const uint8_t *)pth,
				       b->path_len * sizeof(ft_hash),
				       cp.root.b, 32);
	if (rc != 0) {
		goto out;
	}
	rc = ft_checkpoint_format(&cp, b->text, sizeof b->text, &b->text_len);
	if (rc != 0) {
		goto out;
	}
	rc = ft_note_sign(b->text, b->text_len, &k->log, 1, 0, note,
			  sizeof note, &note_len);
	for (unsigned i = 0; rc == 0 && i < N_WITNESSES; i++) {
		b->ts[i] = ts - i;
		rc = ft_cosig_add(&k->wit[i], b->ts[i], note, sizeof note,
				  &note_len);
	}
	if (rc != 0) {
		goto out;
	}
	rc = ft_tlog_proof_format((const uint8_t *)rel->envelope,
				  rel->envelope_len, ENTRY_INDEX, pth,
				  b->path_len, note, note_len, b->buf,
				  FT_CLIENT_BUNDLE_MAX, &b->len);
out:
	free(leaf);
	return rc;
}

static void bundle_free(bundle *b)
{
	free(b->buf);
	b->buf = NULL;
}

/* ---- a) one bundle vs its signatures. */

typedef struct sigjob {
	uint8_t msg[6][8192];
	size_t len[6];
	uint8_t sig[6][64];
	uint8_t pk[6][32];
} sigjob;

/* The six messages verify checks a signature over, signed again here
 * (Ed25519 is deterministic: the same signatures as in the bundle). */
static int sigjob_make(const keys *k, const release *rel, const bundle *b,
		       sigjob *j)
{
	const ft_skey *signer[6] = { &k->log, &k->wit[0], &k->wit[1],
				     &k->wit[2], &k->ven[0], &k->ven[1] };

	memcpy(j->msg[0], b->text, b->text_len);
	j->len[0] = b->text_len;
	for (unsigned i = 0; i < N_WITNESSES; i++) {
		int w = snprintf((char *)j->msg[1 + i], sizeof j->msg[0],
				 "cosignature/v1\ntime %" PRIu64 "\n",
				 b->ts[i]);

		if (w < 0 || (size_t)w + b->text_len > sizeof j->msg[0]) {
			return FT_EBUFSIZE;
		}
		memcpy(j->msg[1 + i] + w, b->text, b->text_len);
		j->len[1 + i] = (size_t)w + b->text_len;
	}
	for (unsigned i = 0; i < 2; i++) {
		int rc = ft_dsse_pae(FT_DSSE_PAYLOAD_TYPE,
				     strlen(FT_DSSE_PAYLOAD_TYPE),
				     (const uint8_t *)rel->statement,
				     rel->statement_len, j->msg[4 + i],
				     sizeof j->msg[0], &j->len[4 + i]);
		if (rc != 0) {
			return rc;
		}
	}
	for (unsigned i = 0; i < 6; i++) {
		if (crypto_sign_detached(j->sig[i], NULL, j->msg[i], j->len[i],
					 signer[i]->sk) != 0) {
			return FT_ECRYPTO;
		}
		memcpy(j->pk[i], signer[i]->pk, 32);
		if (crypto_sign_verify_detached(j->sig[i], j->msg[i],
						j->len[i], j->pk[i]) != 0) {
			return FT_ECRYPTO;
		}
	}
	return 0;
}

/* Runs of sigjob for at least `secs`: best seconds per run. */
static double time_sigs(const sigjob *j, double secs)
{
	double t0 = now_s(), t, best = 1e9;
	uint64_t n = 0;

	do {
		double s = now_s();

		for (unsigned i = 0; i < 6; i++) {
			int r = crypto_sign_verify_detached(
				j->sig[i], j->msg[i], j->len[i], j->pk[i]);
			g_sink ^= (uint8_t)r;
		}
		t = now_s();
		if (t - s < best) {
			best = t - s;
		}
		n++;
	} while (t - t0 < secs || n < 10);
	return best;
}

/* Verifications of b for at least `secs`: mean seconds per verification
 * over batches of 16, best batch. Sets *ok to 0 on any failure. */
static double time_verify(ft_client *c, const uint8_t digest[32],
			  const bundle *b, uint64_t now, double secs,
			  bool *ok)
{
	double t0 = now_s(), t, best = 1e9;
	ft_client_result res;
	char err[FT_CLIENT_ERR_MAX];

	do {
		double s = now_s();

		for (unsigned i = 0; i < 16; i++) {
			int rc = ft_client_verify(c, digest, b->buf, b->len,
						  NULL, 0, now, &res, err,
						  sizeof err);
			if (rc != 0 || res.n_cosigs != N_WITNESSES ||
			    res.n_vendor_sigs != 2) {
				fail("ft_client_verify", err);
				*ok = false;
				return 0;
			}
		}
		t = now_s();
		if ((t - s) / 16 < best) {
			best = (t - s) / 16;
		}
	} while (t - t0 < secs);
	return best;
}

static void bench_verify(const keys *k, ft_client *c)
{
	uint8_t digest[32];
	release rel;
	bundle b = { 0 };
	static sigjob j;
	char pol[128], st[128], err[FT_CLIENT_ERR_MAX];
	uint64_t now = (uint64_t)time(NULL);
	double tv = 1e9, ts = 1e9;
	bool ok = true;
	int rc;

	tmp_path(pol, sizeof pol, "policy-a.json");
	tmp_path(st, sizeof st, "state-a");
	for (unsigned i = 0; i < 32; i++) {
		digest[i] = (uint8_t)(0xa0 + i);
	}
	rc = release_make(k, digest, &rel);
	if (rc != 0) {
		fail_rc("release", rc);
		return;
	}
	rc = bundle_make(k, &rel, now - 60, &b);
	if (rc != 0) {
		fail_rc("bundle", rc);
		goto out;
	}
	rc = sigjob_make(k, &rel, &b, &j);
	if (rc != 0) {
		fail_rc("signatures", rc);
		goto out;
	}
	if (write_policy(k, pol) != 0) {
		fail("policy", strerror(errno));
		goto out;
	}
	rc = ft_client_init(c, pol, st, FT_CLIENT_FIRST_BOOT, err, sizeof err);
	if (rc != 0) {
		fail("ft_client_init", err);
		goto out;
	}
	for (unsigned r = 0; r < REPEATS && ok; r++) {
		double v = time_verify(c, digest, &b, now, VERIFY_SECONDS, &ok);
		double s = time_sigs(&j, SIGS_SECONDS);

		if (v < tv) {
			tv = v;
		}
		if (s < ts) {
			ts = s;
		}
	}
	if (!ok) {
		goto out;
	}
	double over = (tv - ts) / ts * 100.0;
	printf("a) verify one bundle (%u B envelope, %zu-hash path, %u B "
	       "bundle)\n",
	       (unsigned)rel.envelope_len, b.path_len, (unsigned)b.len);
	printf("   ft_client_verify %9.1f us/bundle   6 Ed25519 verifies "
	       "%9.1f us   ratio %.3f   overhead %+.1f%%   target <= 25%%: "
	       "%s\n",
	       tv * 1e6, ts * 1e6, tv / ts, over,
	       over <= 25.0 ? "met" : "NOT met");
out:
	(void)unlink(pol);
	bundle_free(&b);
	release_free(&rel);
}

/* ---- b) image hashing. */

static void bench_hash(ft_client *c)
{
	char img[128], err[FT_CLIENT_ERR_MAX];
	uint8_t *buf = malloc(HASH_BYTES);
	uint8_t d_lib[32], d_raw[32];
	double best_lib = 1e9, best_raw = 1e9;
	uint64_t n = 0;

	tmp_path(img, sizeof img, "image-512m");
	if (buf == NULL) {
		fail("malloc", "512 MiB");
		return;
	}
	/* Cheap, non-constant content (xorshift). */
	uint64_t x = 0x9e3779b97f4a7c15ull;
	for (size_t i = 0; i < HASH_BYTES; i += 8) {
		x ^= x << 13;
		x ^= x >> 7;
		x ^= x << 17;
		memcpy(buf + i, &x, 8);
	}
	if (write_file(img, buf, HASH_BYTES) != 0) {
		fail("write image", strerror(errno));
		goto out;
	}
	for (unsigned r = 0; r < 2; r++) {
		struct sha256_ctx h;
		double s = now_s();
		int rc = ft_client_hash_file(c, img, d_lib, &n, err,
					     sizeof err);
		double t = now_s();

		if (rc != 0 || n != HASH_BYTES) {
			fail("ft_client_hash_file", err);
			goto out;
		}
		if (t - s < best_lib) {
			best_lib = t - s;
		}
		s = now_s();
		sha256_init(&h);
		sha256_update(&h, HASH_BYTES, buf);
		sha256_digest(&h, sizeof d_raw, d_raw);
		t = now_s();
		if (t - s < best_raw) {
			best_raw = t - s;
		}
		if (memcmp(d_lib, d_raw, 32) != 0) {
			fail("ft_client_hash_file", "digest differs from nettle");
			goto out;
		}
	}
	double mb = (double)HASH_BYTES / 1e6;
	double ratio = (mb / best_lib) / (mb / best_raw);
	printf("b) image hashing, 512 MiB (page cache vs memory), best of 2\n");
	printf("   ft_client_hash_file %8.1f MB/s   nettle sha256 %8.1f MB/s"
	       "   ratio %.3f   target >= 0.9: %s\n",
	       mb / best_lib, mb / best_raw, ratio,
	       ratio >= 0.9 ? "met" : "NOT met");
out:
	(void)unlink(img);
	free(buf);
}

/* ---- c) peak RSS of ftverify. */

/* A "Vm...:  N kB" field of /proc/<pid>/status in KiB; -1 if unknown. */
static double pid_vm_kib(pid_t pid, const char *field)
{
	char path[64], line[256];
	double v = -1;
	size_t fl = strlen(field);

	snprintf(path, sizeof path, "/proc/%ld/status", (long)pid);
	FILE *f = fopen(path, "r");
	if (f == NULL) {
		return -1;
	}
	while (fgets(line, sizeof line, f) != NULL) {
		if (strncmp(line, field, fl) == 0 && line[fl] == ':') {
			v = strtod(line + fl + 1, NULL);
			break;
		}
	}
	fclose(f);
	return v;
}

static double vm_kib(const char *field)
{
	return pid_vm_kib(getpid(), field);
}

static const char *builddir(void)
{
	const char *d = getenv("FTLOG_BUILDDIR");

	return d != NULL && d[0] != '\0' ? d : ".";
}

static void bench_rss(const keys *k, ft_client *c)
{
	char bin[4096], img[128], pol[128], st[128], bp[128], outp[128];
	char err[FT_CLIENT_ERR_MAX];
	uint8_t digest[32];
	release rel = { 0 };
	bundle b = { 0 };
	uint64_t n;
	int fd, rc;

	snprintf(bin, sizeof bin, "%s/client/ftverify", builddir());
	if (access(bin, X_OK) != 0) {
		printf("c) ftverify peak RSS, 1 GiB image\n   skipped: no "
		       "executable %s\n",
		       bin);
		return;
	}
	tmp_path(img, sizeof img, "image-1g");
	tmp_path(pol, sizeof pol, "policy-c.json");
	tmp_path(st, sizeof st, "state-c");
	tmp_path(bp, sizeof bp, "image-1g.tlog-proof");
	tmp_path(outp, sizeof outp, "ftverify.out");

	fd = open(img, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (fd < 0 || ftruncate(fd, BIG_IMAGE_BYTES) != 0 ||
	    pwrite(fd, "ftlog", 5, 0) != 5 ||
	    pwrite(fd, "bench", 5, BIG_IMAGE_BYTES / 2) != 5 ||
	    pwrite(fd, "end", 3, BIG_IMAGE_BYTES - 3) != 3) {
		fail("1 GiB image", strerror(errno));
		if (fd >= 0) {
			(void)close(fd);
		}
		goto out;
	}
	if (close(fd) != 0) {
		fail("1 GiB image", strerror(errno));
		goto out;
	}
	rc = ft_client_hash_file(c, img, digest, &n, err, sizeof err);
	if (rc != 0) {
		fail("ft_client_hash_file", err);
		goto out;
	}
	rc = release_make(k, digest, &rel);
	if (rc == 0) {
		rc = bundle_make(k, &rel, (uint64_t)time(NULL) - 60, &b);
	}
	if (rc != 0) {
		fail_rc("bundle", rc);
		goto out;
	}
	if (write_file(bp, b.buf, b.len) != 0 || write_policy(k, pol) != 0) {
		fail("write", strerror(errno));
		goto out;
	}

	double self_mib = vm_kib("VmRSS") / 1024.0;
	struct rusage ru;
	double hwm_mib = -1, s = now_s();
	int status;
	pid_t pid = fork();
	if (pid < 0) {
		fail("fork", strerror(errno));
		goto out;
	}
	if (pid == 0) {
		int o = open(outp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC,
			     0600);
		int nul = open("/dev/null", O_WRONLY | O_CLOEXEC);

		if (o < 0 || nul < 0 || dup2(o, 1) < 0 || dup2(nul, 2) < 0) {
			_exit(127);
		}
		/* Traced, it stops at exec and, with PTRACE_O_TRACEEXIT, once
		 * more at exit while its memory still exists. If tracing is
		 * not allowed it simply runs. */
		(void)ptrace(PTRACE_TRACEME, 0, NULL, NULL);
		execl(bin, bin, "--policy", pol, "--state", st, "--image", img,
		      "--bundle", bp, "--first-boot", (char *)NULL);
		_exit(127);
	}
	for (;;) {
		pid_t w = wait4(pid, &status, 0, &ru);

		if (w < 0 && errno == EINTR) {
			continue;
		}
		if (w != pid) {
			fail("wait4", strerror(errno));
			goto out;
		}
		if (!WIFSTOPPED(status)) {
			break;
		}
		int sig = WSTOPSIG(status);
		if (sig == SIGTRAP && (status >> 16) == PTRACE_EVENT_EXIT) {
			hwm_mib = pid_vm_kib(pid, "VmHWM") / 1024.0;
			sig = 0;
		} else if (sig == SIGTRAP && hwm_mib < 0) {
			/* The exec stop: watch for the exit. */
			(void)ptrace(PTRACE_SETOPTIONS, pid, NULL,
				     (void *)(long)PTRACE_O_TRACEEXIT);
			sig = 0;
		}
		if (ptrace(PTRACE_CONT, pid, NULL, (void *)(long)sig) != 0) {
			fail("ptrace", strerror(errno));
		}
	}
	double t = now_s();
	char line[256] = "";
	FILE *f = fopen(outp, "r");
	if (f != NULL) {
		if (fgets(line, sizeof line, f) == NULL) {
			line[0] = '\0';
		}
		fclose(f);
	}
	line[strcspn(line, "\n")] = '\0';
	int code = WIFEXITED(status) ? WEXITSTATUS(status)
				     : 128 + WTERMSIG(status);
	double rss_mib = (double)ru.ru_maxrss / 1024.0;
	printf("c) ftverify peak RSS, 1 GiB image (%.2f s)\n", t - s);
	if (hwm_mib >= 0) {
		printf("   peak RSS (VmHWM at exit) %6.2f MiB   limit 8 MiB   "
		       "ratio %.3f   target < 8 MiB: %s\n",
		       hwm_mib, hwm_mib / 8.0,
		       hwm_mib < 8.0 ? "met" : "NOT met");
	} else {
		printf("   peak RSS: no VmHWM (ptrace refused); ru_maxrss "
		       "below is an upper bound\n");
	}
	/* Linux keeps the RSS a forked child had before exec in its
	 * ru_maxrss: this process's own RSS at fork is a floor of it. */
	printf("   ru_maxrss (wait4) %6.2f MiB, of which up to %.2f MiB is "
	       "this process's RSS at fork   exit %d   \"%.60s\"\n",
	       rss_mib, self_mib, code, line);
	if (code != 0 || strncmp(line, "OK ", 3) != 0) {
		fail("ftverify", "did not accept a genuine bundle");
	}
out:
	(void)unlink(img);
	(void)unlink(pol);
	(void)unlink(st);
	(void)unlink(bp);
	(void)unlink(outp);
	bundle_free(&b);
	release_free(&rel);
}

/* ---- d) sizes. */

/* Stripped size in bytes of a copy of src; -1 if it cannot be made. */
static long long stripped_size(const char *src)
{
	char dst[128], buf[65536];
	struct stat sb;
	long long r = -1;
	int in, out;

	tmp_path(dst, sizeof dst, "strip.bin");
	in = open(src, O_RDONLY | O_CLOEXEC);
	if (in < 0) {
		return -1;
	}
	out = open(dst, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0700);
	if (out < 0) {
		(void)close(in);
		return -1;
	}
	for (;;) {
		ssize_t n = read(in, buf, sizeof buf);

		if (n < 0 && errno == EINTR) {
			continue;
		}
		if (n <= 0 || write(out, buf, (size_t)n) != n) {
			if (n != 0) {
				goto done;
			}
			break;
		}
	}
	if (close(out) != 0) {
		out = -1;
		goto done;
	}
	out = -1;
	pid_t pid = fork();
	if (pid < 0) {
		goto done;
	}
	if (pid == 0) {
		int nul = open("/dev/null", O_WRONLY | O_CLOEXEC);

		if (nul >= 0) {
			(void)dup2(nul, 1);
			(void)dup2(nul, 2);
		}
		execlp("strip", "strip", dst, (char *)NULL);
		_exit(127);
	}
	int status;
	pid_t w;
	do {
		w = waitpid(pid, &status, 0);
	} while (w < 0 && errno == EINTR);
	if (w == pid && WIFEXITED(status) && WEXITSTATUS(status) == 0 &&
	    stat(dst, &sb) == 0) {
		r = (long long)sb.st_size;
	}
done:
	if (out >= 0) {
		(void)close(out);
	}
	(void)close(in);
	(void)unlink(dst);
	return r;
}

/* The NEEDED entries of an ELF file, from `readelf -d` (no ldd: it would
 * run the binary's loader). Prints "static" when there are none. */
static void print_needed(const char *path)
{
	char cmd[4200], line[512], libs[1024] = "";
	size_t n = 0;

	if (strchr(path, '\'') != NULL) {
		return;
	}
	snprintf(cmd, sizeof cmd, "readelf -d '%s' 2>/dev/null", path);
	FILE *p = popen(cmd, "r");
	if (p == NULL) {
		return;
	}
	while (fgets(line, sizeof line, p) != NULL) {
		char *a = strstr(line, "(NEEDED)");
		char *l = a != NULL ? strchr(a, '[') : NULL;
		char *r = l != NULL ? strchr(l, ']') : NULL;

		if (r == NULL) {
			continue;
		}
		*r = '\0';
		int w = snprintf(libs + n, sizeof libs - n, "%s%s",
				 n > 0 ? " " : "", l + 1);
		if (w > 0 && (size_t)w < sizeof libs - n) {
			n += (size_t)w;
		}
	}
	if (pclose(p) != 0 && n == 0) {
		return;
	}
	printf("   ftverify links dynamically: %s\n",
	       n > 0 ? libs : "nothing (static)");
}

static void bench_sizes(void)
{
	char bin[4096], lib[4096];

	snprintf(bin, sizeof bin, "%s/client/ftverify", builddir());
	snprintf(lib, sizeof lib, "%s/.libs/libftclient.so.0.0.0", builddir());
	printf("d) stripped sizes\n");
	const char *what[2] = { bin, lib };
	for (unsigned i = 0; i < 2; i++) {
		if (access(what[i], R_OK) != 0) {
			printf("   skipped: no %s\n", what[i]);
			continue;
		}
		long long sz = stripped_size(what[i]);
		if (sz < 0) {
			printf("   skipped: cannot strip %s\n", what[i]);
			continue;
		}
		printf("   %-28s %8.1f KiB\n",
		       i == 0 ? "client/ftverify" : ".libs/libftclient.so",
		       (double)sz / 1024.0);
	}
	if (access(bin, R_OK) == 0) {
		print_needed(bin);
	}
}

int main(void)
{
	static ft_client c; /* ~230 KiB */
	static keys k;
	double t0 = now_s();

	if (ft_init() != 0 || sodium_init() < 0) {
		fprintf(stderr, "bench_client: crypto initialisation failed\n");
		return 1;
	}
	const char *tmp = getenv("TMPDIR");
	snprintf(g_dir, sizeof g_dir, "%s/ftbench-client.XXXXXX",
		 tmp != NULL && tmp[0] != '\0' && strlen(tmp) < 32 ? tmp
								 : "/tmp");
	if (mkdtemp(g_dir) == NULL) {
		fprintf(stderr, "bench_client: mkdtemp: %s\n", strerror(errno));
		return 1;
	}
	int rc = keys_make(&k);
	if (rc != 0) {
		fail_rc("keys", rc);
	} else {
		bench_verify(&k, &c);
		bench_hash(&c);
		bench_rss(&k, &c);
		bench_sizes();
	}
	keys_wipe(&k);
	if (rmdir(g_dir) != 0) {
		fprintf(stderr, "bench_client: rmdir %s: %s\n", g_dir,
			strerror(errno));
	}
	printf("(total %.1f s)\n", now_s() - t0);
	if (g_errors > 0) {
		fprintf(stderr, "bench_client: %u errors\n", g_errors);
		return 1;
	}
	return 0;
}
