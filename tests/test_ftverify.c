/*
 * tests/test_ftverify.c - the device side end to end: the real ftlogd, the
 * real `ftlog` CLI making and logging releases, and the real `ftverify`
 * ($FTLOG_BUILDDIR/client/ftverify) run as a subprocess the way an
 * update agent runs it.
 *
 *   offline   first boot: verify, run the installer (stdin = the image,
 *             FTLOG_* environment), commit; a tampered image (digest,
 *             installer not run); a verification without --commit writes
 *             nothing; rollback; a failing and a missing installer leave
 *             the state alone; a newer release commits a larger
 *             checkpoint, after which the old bundle is a consistency
 *             refusal; a bundle whose entry was changed (inclusion)
 *   online    --log: a newer release with an older stored checkpoint (a
 *             consistency proof, the stored checkpoint grows); rollback;
 *             an image the log does not know (not-found); a revoked image
 *             (revoked); stored checkpoints the log's tree does not
 *             extend (forked views: consistency); the log gone (I/O)
 *   refusals  product, hardware, log, log-signature, vendor-key (unknown
 *             and revoked vendor keys), threshold, not-release; garbage,
 *             empty and truncated bundles, a missing bundle, bad and
 *             missing policies, a missing image, a state that cannot be
 *             written (commit), a corrupted and a missing state
 *   usage     --help lists every exit status; bad command lines exit 2
 *   valgrind  the happy path (offline and online, with --commit) under
 *             valgrind: no error, no leak, every block freed (skipped,
 *             with a note, for an ASan build or without valgrind)
 *
 * Every refusal also checks that the state file is byte for byte what it
 * was (or still absent).
 *
 * Environment: FTLOG_BUILDDIR (logd/ftlogd, tools/ftlog and
 * client/ftverify in it), FTLOG_KEEP_TMP.
 */
#define _DEFAULT_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#include <check.h>
#include <nettle/sha2.h>

#include <ftlog/common.h>
#include <ftlog/merkle.h>
#include <ftlog/note.h>

#include "tests/logd_harness.h"
#include "tests/testutil.h"

#define ORIGIN "example.org/ftverify-test"
#define PRODUCT "gnb-du"
#define HW "acme-du-4400"
#define MAX_ARGS 64
#define RUN_TIMEOUT_S 60
#define VALGRIND "/usr/bin/valgrind"

/* ---- Running programs. ------------------------------------------------ */

static const char *builddir(void)
{
	const char *b = getenv("FTLOG_BUILDDIR");

	return b != NULL && *b ? b : ".";
}

static const char *ftlog_path(void)
{
	static char path[1024];

	(void)snprintf(path, sizeof(path), "%s/tools/ftlog", builddir());
	return path;
}

static const char *ftverify_path(void)
{
	static char path[1024];

	(void)snprintf(path, sizeof(path), "%s/client/ftverify", builddir());
	return path;
}

/* Collect the NULL-terminated variadic arguments after `first` into argv. */
static void collect(const char **argv, const char *first, va_list ap)
{
	size_t n = 0;
	const char *a = first;

	for (;;) {
		ck_assert(n < MAX_ARGS);
		argv[n++] = a;
		if (a == NULL) {
			break;
		}
		a = va_arg(ap, const char *);
	}
}

/* ftlog ARGS... (NULL-terminated) in cwd. */
static tu_result ftlog(const char *cwd, const char *first, ...)
{
	const char *argv[MAX_ARGS + 1];
	tu_result r;
	va_list ap;

	va_start(ap, first);
	collect(argv, first, ap);
	va_end(ap);
	memset(&r, 0, sizeof(r));
	tu_run(cwd, ftlog_path(), argv, NULL, RUN_TIMEOUT_S, &r);
	return r;
}

/* ftverify ARGS... (NULL-terminated) in cwd. */
static tu_result ftverify(const char *cwd, const char *first, ...)
{
	const char *argv[MAX_ARGS + 1];
	tu_result r;
	va_list ap;

	va_start(ap, first);
	collect(argv, first, ap);
	va_end(ap);
	memset(&r, 0, sizeof(r));
	tu_run(cwd, ftverify_path(), argv, NULL, RUN_TIMEOUT_S, &r);
	return r;
}

#define NO_SANITIZER(r)                                                     \
	ck_assert_msg(strstr((r).err, "Sanitizer") == NULL &&               \
			      strstr((r).err, "runtime error:") == NULL,    \
		      "sanitizer report:\n%s", (r).err)

/* The exit status, and no sanitizer report (ASan builds). */
#define EXPECT(r, code)                                                     \
	do {                                                                \
		ck_assert_msg((r).status == (code),                         \
			      "exit %d, want %d\nstdout: %s\nstderr: %s",    \
			      (r).status, (code), (r).out, (r).err);        \
		NO_SANITIZER(r);                                            \
	} while (0)

/*
 * An ftverify result: the exit status, and standard output exactly one
 * line that starts with `prefix` ("OK gnb-du 1.0 index=0" whole, or
 * "REFUSED digest: ", "FAILED ").
 */
#define EXPECT_LINE(r, code, prefix)                                        \
	do {                                                                \
		EXPECT(r, code);                                            \
		ck_assert_msg(strncmp((r).out, (prefix), strlen(prefix)) == \
				      0,                                    \
			      "stdout %s, want a line starting %s\n"         \
			      "stderr: %s",                                 \
			      (r).out, (prefix), (r).err);                  \
		ck_assert_msg(one_line((r).out), "not one line: [%s]",      \
			      (r).out);                                     \
	} while (0)

static int one_line(const char *s)
{
	const char *nl = strchr(s, '\n');

	return nl != NULL && nl != s && nl[1] == '\0';
}

/* ---- Files. ----------------------------------------------------------- */

static char *path_in(const char *dir, const char *name)
{
	return tu_strf("%s/%s", dir, name);
}

static uint8_t *read_in(const char *dir, const char *name, size_t *len)
{
	char *p = path_in(dir, name);
	uint8_t *b = tu_read_file(p, len);

	ck_assert_msg(b != NULL, "cannot read %s", p);
	free(p);
	return b;
}

static void write_in(const char *dir, const char *name, const void *data,
		     size_t len)
{
	char *p = path_in(dir, name);

	ck_assert_msg(tu_write_file(p, data, len) == 0, "cannot write %s", p);
	free(p);
}

static void copy_in(const char *dir, const char *from, const char *to)
{
	size_t len;
	uint8_t *b = read_in(dir, from, &len);

	write_in(dir, to, b, len);
	free(b);
}

static int exists_in(const char *dir, const char *name)
{
	char *p = path_in(dir, name);
	int rc = access(p, F_OK) == 0;

	free(p);
	return rc;
}

static void remove_in(const char *dir, const char *name)
{
	char *p = path_in(dir, name);

	ck_assert_msg(unlink(p) == 0 || errno == ENOENT, "unlink %s: %s", p,
		      strerror(errno));
	free(p);
}

static void sha256_of(const uint8_t *b, size_t n, uint8_t out[32])
{
	struct sha256_ctx c;

	sha256_init(&c);
	sha256_update(&c, n, b);
	sha256_digest(&c, 32, out);
}

/* An "image" of n deterministic bytes in dir/name; its digest in d. */
static void make_image(const char *dir, const char *name, size_t n,
		       unsigned seed, uint8_t d[32])
{
	uint8_t *b = malloc(n);
	size_t i;

	ck_assert(b != NULL);
	for (i = 0; i < n; i++) {
		b[i] = (uint8_t)(i * 31 + seed * 7 + (i >> 8) + (i >> 13));
	}
	write_in(dir, name, b, n);
	sha256_of(b, n, d);
	free(b);
}

/* An executable shell script dir/name. */
static void write_script(const char *dir, const char *name, const char *text)
{
	char *p = path_in(dir, name);

	ck_assert_msg(tu_write_file(p, text, strlen(text)) == 0,
		      "cannot write %s", p);
	ck_assert_int_eq(chmod(p, 0755), 0);
	free(p);
}

/*
 * A snapshot of a state file: its bytes, or its absence. snap_same checks
 * the file is exactly as it was.
 */
struct snap {
	int exists;
	uint8_t *b;
	size_t len;
};

static struct snap snap_take(const char *path)
{
	struct snap s;

	memset(&s, 0, sizeof(s));
	s.b = tu_read_file(path, &s.len);
	s.exists = s.b != NULL;
	if (!s.exists) {
		ck_assert_msg(errno == ENOENT || access(path, F_OK) != 0,
			      "cannot read %s", path);
	}
	return s;
}

static void snap_free(struct snap *s)
{
	free(s->b);
	memset(s, 0, sizeof(*s));
}

#define SNAP_SAME(path, before)                                               \
	do {                                                                \
		struct snap now_ = snap_take(path);                         \
		ck_assert_msg(now_.exists == (before).exists,                 \
			      "%s: %s", (path),                             \
			      (before).exists ? "was removed"                 \
					    : "was created");               \
		ck_assert_msg(!now_.exists ||                               \
				      (now_.len == (before).len &&            \
				       memcmp(now_.b, (before).b, now_.len) == \
					       0),                          \
			      "%s: changed", (path));                       \
		snap_free(&now_);                                           \
		{                                                           \
			char *tmp_ = tu_strf("%s.tmp", (path));             \
			ck_assert_msg(access(tmp_, F_OK) != 0,              \
				      "%s left behind", tmp_);              \
			free(tmp_);                                         \
		}                                                           \
	} while (0)

/* ---- A log, keys and policies. ---------------------------------------- */

struct world {
	lh_server s;
	char *dir;     /* keys, images, bundles, policies, state */
	char *url;     /* http://127.0.0.1:PORT */
	char *policy;  /* dir/device.json: the device trust policy */
	char *state;   /* dir/state */
	char rel_a[FT_KEY_STR_MAX + 1]; /* vendor release keys */
	char rel_b[FT_KEY_STR_MAX + 1];
	char sec[FT_KEY_STR_MAX + 1];      /* security team: revocations */
	char stranger[FT_KEY_STR_MAX + 1]; /* known to no policy */
};

/* ftlog keygen --dir dir NAME; the verifier key string out. */
static void keygen(const char *dir, const char *name, char *out, size_t cap)
{
	tu_result r = ftlog(dir, "keygen", "--dir", dir, name, NULL);
	size_t n;
	ft_vkey vk;

	EXPECT(r, 0);
	n = strlen(r.out);
	ck_assert(n > 0 && n < cap && r.out[n - 1] == '\n');
	ck_assert_int_eq(ft_vkey_parse(r.out, n - 1, &vk), 0);
	memcpy(out, r.out, n - 1);
	out[n - 1] = '\0';
	tu_result_free(&r);
}

/*
 * Write a device trust policy to dir/file: the given log key, vendor
 * threshold and keys (a JSON list body, "\"k1\",\"k2\""), vendor_extra
 * (more members of "vendor", starting with a comma, or ""), product and
 * hardware model. No witnesses: quorum 0 (ftlogd has no witnesses yet).
 */
static void write_dpolicy(const struct world *w, const char *file,
			  const char *log_key, unsigned threshold,
			  const char *keys, const char *vendor_extra,
			  const char *product, const char *hw)
{
	char *text = tu_strf(
		"{\n  \"ftlog_device_policy\": 1,\n"
		"  \"log\": {\"key\": \"%s\"},\n"
		"  \"vendor\": {\"threshold\": %u, \"keys\": [%s]%s},\n"
		"  \"product\": \"%s\",\n  \"hardware_model\": \"%s\"\n}\n",
		log_key, threshold, keys, vendor_extra, product, hw);

	write_in(w->dir, file, text, strlen(text));
	free(text);
}

/* The normal device policy: this log, 2 of {rel-a, rel-b}, gnb-du/HW. */
static void write_default_dpolicy(const struct world *w, const char *file)
{
	char *keys = tu_strf("\"%s\", \"%s\"", w->rel_a, w->rel_b);

	write_dpolicy(w, file, w->s.vkey_str, 2, keys, "", PRODUCT, HW);
	free(keys);
}

/*
 * A running ftlogd whose submission policy lets rel-a and rel-b (2 of 2)
 * release gnb-*, "security" revoke gnb-* images and "builder" log builds;
 * the keys; the log key in dir/log.pub; the device policy dir/device.json.
 */
static void world_start(struct world *w)
{
	static const char *const fast[] = {"--batch-interval", "20ms", NULL};
	char builder[FT_KEY_STR_MAX + 1];
	char *policy, *lk;

	memset(w, 0, sizeof(*w));
	ck_assert_int_eq(lh_init(&w->s, ORIGIN), 0);
	w->dir = tu_tmpdir();
	ck_assert(w->dir != NULL);
	keygen(w->dir, "rel-a", w->rel_a, sizeof(w->rel_a));
	keygen(w->dir, "rel-b", w->rel_b, sizeof(w->rel_b));
	keygen(w->dir, "security", w->sec, sizeof(w->sec));
	keygen(w->dir, "stranger", w->stranger, sizeof(w->stranger));
	keygen(w->dir, "builder", builder, sizeof(builder));
	policy = tu_strf(
		"{\"ftlog_policy\":1,\"release_thresholds\":[{\"products\":"
		"\"gnb-*\",\"threshold\":2}],\"keys\":["
		"{\"key\":\"%s\",\"kinds\":[\"release\"],"
		"\"products\":[\"gnb-*\"]},"
		"{\"key\":\"%s\",\"kinds\":[\"release\"],"
		"\"products\":[\"gnb-*\"]},"
		"{\"key\":\"%s\",\"kinds\":[\"revocation\"],"
		"\"products\":[\"gnb-*\"]},"
		"{\"key\":\"%s\",\"kinds\":[\"build\"]}]}",
		w->rel_a, w->rel_b, w->sec, builder);
	ck_assert_int_eq(lh_write_policy(&w->s, policy), 0);
	free(policy);
	ck_assert_int_eq(lh_start(&w->s, 0, fast), 0);
	w->url = tu_strf("http://127.0.0.1:%d", w->s.port);
	lk = tu_strf("%s\n", w->s.vkey_str);
	write_in(w->dir, "log.pub", lk, strlen(lk));
	free(lk);
	w->policy = path_in(w->dir, "device.json");
	w->state = path_in(w->dir, "state");
	write_default_dpolicy(w, "device.json");
}

static void world_stop(struct world *w)
{
	if (w->s.pid != 0) {
		ck_assert_int_eq(lh_stop(&w->s), 0);
	}
	ck_assert_int_eq(lh_log_clean(&w->s), 0);
	lh_cleanup(&w->s);
	tu_rmtree(w->dir);
	free(w->dir);
	free(w->url);
	free(w->policy);
	free(w->state);
	memset(w, 0, sizeof(*w));
}

/*
 * Make image dir/img (size bytes, seed), sign a release of it with rel-a
 * and rel-b (2 of 2: the log's threshold), log it with `ftlog submit
 * --image`, which writes dir/img.tlog-proof. Returns the entry's index;
 * digest in d (may be NULL).
 */
static uint64_t release(struct world *w, const char *img, size_t size,
			unsigned seed, const char *version, const char *sv,
			uint8_t d[32])
{
	uint8_t dd[32];
	char *env = tu_strf("%s.release.dsse", img);
	char *want = tu_strf("-> %s.tlog-proof", img);
	unsigned long long index;
	tu_result r;

	make_image(w->dir, img, size, seed, d != NULL ? d : dd);
	r = ftlog(w->dir, "attest", "release", "--key", "rel-a.key", "--key",
		  "rel-b.key", "--image", img, "--product", PRODUCT,
		  "--vendor", "acme", "--version", version,
		  "--security-version", sv, "--hw", "acme-du-2200", "--hw", HW,
		  NULL);
	EXPECT(r, 0);
	tu_result_free(&r);
	r = ftlog(w->dir, "submit", "--log", w->url, "--log-key", "log.pub",
		  "--image", img, env, NULL);
	EXPECT(r, 0);
	ck_assert_msg(sscanf(r.out, "logged release index=%llu ", &index) == 1,
		      "%s", r.out);
	ck_assert_msg(strstr(r.out, want) != NULL, "%s", r.out);
	tu_result_free(&r);
	free(env);
	free(want);
	return index;
}

/* Size and root of the checkpoint in the bundle dir/name, verified. */
static void bundle_checkpoint(const struct world *w, const char *name,
			      uint64_t *size, uint8_t root[32])
{
	size_t len;
	uint8_t *b = read_in(w->dir, name, &len);
	uint64_t index;

	ck_assert_int_eq(lh_check_tlog_proof(&w->s, b, len, NULL, 0, &index,
					     size, root, NULL, NULL),
			 0);
	free(b);
}

/*
 * The documented encoding (docs/device-state.md) of a state with a
 * checkpoint (size, root) and one floor, gnb-du = sv; malloc'd.
 */
static char *format_state(uint64_t size, const uint8_t root[32], uint64_t sv)
{
	char b64[64], hex[65];
	size_t n;
	uint8_t sum[32];
	char *body, *text;

	ck_assert_int_eq(ft_b64_encode(root, 32, b64, sizeof(b64), &n), 0);
	b64[n] = '\0';
	body = tu_strf("ftlog-device-state v1\ncheckpoint %" PRIu64
		       " %s\nsecurity-version " PRODUCT " %" PRIu64 "\n",
		       size, b64, sv);
	sha256_of((const uint8_t *)body, strlen(body), sum);
	lh_hex(sum, 32, hex);
	text = tu_strf("%schecksum %s\n", body, hex);
	free(body);
	return text;
}

/* Write such a state to dir/name. */
static void write_state(const struct world *w, const char *name,
			uint64_t size, const uint8_t root[32], uint64_t sv)
{
	char *text = format_state(size, root, sv);

	write_in(w->dir, name, text, strlen(text));
	free(text);
}

/* The state file must be exactly that encoding, mode 0600. */
static void expect_state(const struct world *w, uint64_t size,
			 const uint8_t root[32], uint64_t sv)
{
	char *want = format_state(size, root, sv);
	struct stat st;
	uint8_t *got;
	size_t len;

	got = tu_read_file(w->state, &len);
	ck_assert_msg(got != NULL, "no state file %s", w->state);
	ck_assert_msg(len == strlen(want) && memcmp(got, want, len) == 0,
		      "state file:\n%s\nwant:\n%s", (char *)got, want);
	ck_assert_int_eq(stat(w->state, &st), 0);
	ck_assert_int_eq(st.st_mode & 0777, 0600);
	free(got);
	free(want);
}

/* The "checkpoint N ..." size of the state file. */
static uint64_t state_size(const struct world *w)
{
	size_t len;
	uint8_t *b = tu_read_file(w->state, &len);
	const char *p;
	unsigned long long n;

	ck_assert(b != NULL);
	p = strstr((char *)b, "\ncheckpoint ");
	ck_assert_msg(p != NULL, "no checkpoint in %s", (char *)b);
	ck_assert(sscanf(p, "\ncheckpoint %llu ", &n) == 1);
	free(b);
	return n;
}

/* An environment line "NAME=value" of the installer's env dump. */
static void expect_env(const char *env, const char *name, const char *value)
{
	char *line = tu_strf("\n%s=%s\n", name, value);
	char *all = tu_strf("\n%s", env);

	ck_assert_msg(strstr(all, line) != NULL, "no %s=%s in:\n%s", name,
		      value, env);
	free(line);
	free(all);
}

/* Installers: copy stdin to $1 and write the FTLOG_ environment to $2;
 * fail with 3; note that it ran. */
static const char INSTALL_SH[] =
	"#!/bin/sh\n"
	"cat > \"$1\" || exit 9\n"
	"env | grep '^FTLOG_' | sort > \"$2\" || exit 9\n"
	"echo 'installer: flashed'\n"
	"exit 0\n";
static const char FAIL_SH[] = "#!/bin/sh\necho 'installer: no room'\nexit 3\n";
static const char MARK_SH[] = "#!/bin/sh\ntouch \"$1\"\nexit 0\n";

/* ---- Offline: install, tamper, rollback, installer failures. ---------- */

START_TEST(test_offline)
{
	struct world w;
	uint8_t d7[32], d9[32], root[32];
	char hex[65], *img, *copy, *envf, *want;
	uint64_t size, i7, i5, i9;
	tu_result r;
	struct snap sn;
	size_t len;
	uint8_t *a, *b;

	world_start(&w);
	write_script(w.dir, "install.sh", INSTALL_SH);
	write_script(w.dir, "fail.sh", FAIL_SH);
	write_script(w.dir, "mark.sh", MARK_SH);
	img = path_in(w.dir, "fw-7.bin");
	copy = path_in(w.dir, "installed.bin");
	envf = path_in(w.dir, "installer.env");

	/* 1. First boot: verify, install, commit. */
	i7 = release(&w, "fw-7.bin", 300000, 1, "24.1.3", "7", d7);
	ck_assert_uint_eq(i7, 0);
	ck_assert(!exists_in(w.dir, "state"));
	r = ftverify(w.dir, "--policy", w.policy, "--state", w.state,
		     "--image", img, "--first-boot", "--exec",
		     "./install.sh", copy, envf, NULL);
	EXPECT_LINE(r, 0, "OK gnb-du 24.1.3 index=0\n");
	/* The installer's stdout went to ftverify's stderr. */
	ck_assert_msg(strstr(r.err, "installer: flashed") != NULL, "%s", r.err);
	ck_assert_msg(strstr(r.out, "installer") == NULL, "%s", r.out);
	/* Quorum 0: a warning every time. */
	ck_assert_msg(strstr(r.err, "quorum") != NULL ||
			      strstr(r.err, "witness") != NULL,
		      "no quorum warning: %s", r.err);
	tu_result_free(&r);
	a = read_in(w.dir, "fw-7.bin", &len);
	{
		size_t l2;

		b = read_in(w.dir, "installed.bin", &l2);
		ck_assert_uint_eq(l2, len);
		ck_assert(memcmp(a, b, len) == 0);
		free(b);
	}
	{
		char *env = (char *)read_in(w.dir, "installer.env", &len);

		lh_hex(d7, 32, hex);
		expect_env(env, "FTLOG_IMAGE", img);
		expect_env(env, "FTLOG_PRODUCT", PRODUCT);
		expect_env(env, "FTLOG_VERSION", "24.1.3");
		expect_env(env, "FTLOG_SECURITY_VERSION", "7");
		expect_env(env, "FTLOG_INDEX", "0");
		expect_env(env, "FTLOG_IMAGE_SHA256", hex);
		free(env);
	}
	bundle_checkpoint(&w, "fw-7.bin.tlog-proof", &size, root);
	ck_assert_uint_eq(size, 1);
	expect_state(&w, size, root, 7);
	sn = snap_take(w.state);

	/* Verifying again without --commit or --exec: OK, nothing written. */
	r = ftverify(w.dir, "--policy", w.policy, "--state", w.state,
		     "--image", img, NULL);
	EXPECT_LINE(r, 0, "OK gnb-du 24.1.3 index=0\n");
	tu_result_free(&r);
	SNAP_SAME(w.state, sn);

	/* 2. One byte of the image flipped, the same bundle: digest, and the
	 * installer never runs. */
	a[len / 2] ^= 0x01;
	write_in(w.dir, "fw-7-bad.bin", a, len);
	free(a);
	r = ftverify(w.dir, "--policy", w.policy, "--state", w.state,
		     "--image", "fw-7-bad.bin", "--bundle",
		     "fw-7.bin.tlog-proof", "--exec", "./mark.sh", "marker",
		     NULL);
	EXPECT_LINE(r, 19, "REFUSED digest: ");
	tu_result_free(&r);
	ck_assert(!exists_in(w.dir, "marker"));
	SNAP_SAME(w.state, sn);
	/* The default bundle name is IMAGE.tlog-proof: there is none. */
	r = ftverify(w.dir, "--policy", w.policy, "--state", w.state,
		     "--image", "fw-7-bad.bin", "--exec", "./mark.sh",
		     "marker", NULL);
	EXPECT_LINE(r, 3, "REFUSED bundle: ");
	tu_result_free(&r);
	ck_assert(!exists_in(w.dir, "marker"));
	SNAP_SAME(w.state, sn);

	/* 3. Rollback: security_version 5, logged after 7 was installed. */
	i5 = release(&w, "fw-5.bin", 200000, 2, "24.0.9", "5", NULL);
	ck_assert_uint_eq(i5, 1);
	r = ftverify(w.dir, "--policy", w.policy, "--state", w.state,
		     "--image", "fw-5.bin", "--exec", "./mark.sh", "marker",
		     NULL);
	EXPECT_LINE(r, 24, "REFUSED rollback: ");
	tu_result_free(&r);
	ck_assert(!exists_in(w.dir, "marker"));
	SNAP_SAME(w.state, sn);
	r = ftverify(w.dir, "--policy", w.policy, "--state", w.state,
		     "--image", "fw-5.bin", "--commit", NULL);
	EXPECT_LINE(r, 24, "REFUSED rollback: ");
	tu_result_free(&r);
	SNAP_SAME(w.state, sn);

	/* 4. A newer release whose installer fails, or is missing: 30, and
	 * the state is what it was. */
	i9 = release(&w, "fw-9.bin", 100000, 3, "25.0.0", "9", d9);
	ck_assert_uint_eq(i9, 2);
	r = ftverify(w.dir, "--policy", w.policy, "--state", w.state,
		     "--image", "fw-9.bin", "--exec", "./fail.sh", NULL);
	EXPECT_LINE(r, 30, "FAILED installer: ");
	ck_assert_msg(strstr(r.err, "installer: no room") != NULL, "%s",
		      r.err);
	tu_result_free(&r);
	SNAP_SAME(w.state, sn);
	r = ftverify(w.dir, "--policy", w.policy, "--state", w.state,
		     "--image", "fw-9.bin", "--exec",
		     "/nonexistent/ftlog-installer", NULL);
	EXPECT_LINE(r, 30, "FAILED installer: ");
	tu_result_free(&r);
	SNAP_SAME(w.state, sn);
	/* A bundle whose entry was changed: inclusion, before anything
	 * parses the entry. */
	{
		uint8_t *p = read_in(w.dir, "fw-9.bin.tlog-proof", &len);
		char *x = strstr((char *)p, "\nextra ");

		ck_assert_ptr_nonnull(x);
		x += strlen("\nextra ") + 20;
		*x = *x == 'A' ? 'B' : 'A';
		write_in(w.dir, "changed.tlog-proof", p, len);
		free(p);
	}
	r = ftverify(w.dir, "--policy", w.policy, "--state", w.state,
		     "--image", "fw-9.bin", "--bundle", "changed.tlog-proof",
		     "--exec", "./mark.sh", "marker", NULL);
	EXPECT_LINE(r, 17, "REFUSED inclusion: ");
	tu_result_free(&r);
	ck_assert(!exists_in(w.dir, "marker"));
	SNAP_SAME(w.state, sn);

	/* The installer succeeds: the state moves to fw-9's checkpoint. */
	remove_in(w.dir, "installed.bin");
	r = ftverify(w.dir, "--policy", w.policy, "--state", w.state,
		     "--image", "fw-9.bin", "--exec", "./install.sh", copy,
		     envf, NULL);
	want = tu_strf("OK gnb-du 25.0.0 index=%" PRIu64 "\n", i9);
	EXPECT_LINE(r, 0, want);
	free(want);
	tu_result_free(&r);
	{
		char *env = (char *)read_in(w.dir, "installer.env", &len);

		lh_hex(d9, 32, hex);
		expect_env(env, "FTLOG_VERSION", "25.0.0");
		expect_env(env, "FTLOG_SECURITY_VERSION", "9");
		expect_env(env, "FTLOG_INDEX", "2");
		expect_env(env, "FTLOG_IMAGE_SHA256", hex);
		free(env);
	}
	bundle_checkpoint(&w, "fw-9.bin.tlog-proof", &size, root);
	ck_assert_uint_eq(size, 3);
	expect_state(&w, size, root, 9);
	snap_free(&sn);
	sn = snap_take(w.state);

	/* fw-7's bundle has an older checkpoint than the stored one now. */
	r = ftverify(w.dir, "--policy", w.policy, "--state", w.state,
		     "--image", img, "--commit", NULL);
	EXPECT_LINE(r, 16, "REFUSED consistency: ");
	tu_result_free(&r);
	SNAP_SAME(w.state, sn);
	/* A release at the floor is no rollback: fw-9 again, committed. */
	r = ftverify(w.dir, "--policy", w.policy, "--state", w.state,
		     "--image", "fw-9.bin", "--commit", NULL);
	EXPECT_LINE(r, 0, "OK gnb-du 25.0.0 index=2\n");
	tu_result_free(&r);
	expect_state(&w, size, root, 9);

	snap_free(&sn);
	free(img);
	free(copy);
	free(envf);
	world_stop(&w);
}
END_TEST

/* ---- Online: consistency, not found, revoked, the log gone. ----------- */

START_TEST(test_online)
{
	struct world w;
	uint8_t d8[32], root[32], sroot[32];
	uint64_t size, i8, ssize;
	tu_result r;
	struct snap sn;
	char *want;

	world_start(&w);
	ck_assert_uint_eq(release(&w, "fw-7.bin", 50000, 4, "24.1.3", "7",
				  NULL),
			  0);
	/* Offline first boot, committed: the stored checkpoint has size 1. */
	r = ftverify(w.dir, "--policy", w.policy, "--state", w.state,
		     "--image", "fw-7.bin", "--first-boot", "--commit", NULL);
	EXPECT_LINE(r, 0, "OK gnb-du 24.1.3 index=0\n");
	tu_result_free(&r);
	ck_assert_uint_eq(state_size(&w), 1);
	bundle_checkpoint(&w, "fw-7.bin.tlog-proof", &ssize, sroot);
	expect_state(&w, ssize, sroot, 7);

	/* The log grows; a new release, its local bundle removed: ftverify
	 * must fetch the bundle and a consistency proof from size 1. */
	ck_assert_uint_eq(release(&w, "fw-6.bin", 1000, 5, "24.1.2", "6",
				  NULL),
			  1);
	i8 = release(&w, "fw-8.bin", 70000, 6, "24.2.0", "8", d8);
	ck_assert_uint_eq(i8, 2);
	ck_assert_uint_eq(release(&w, "fw-x.bin", 1000, 7, "24.2.1", "8",
				  NULL),
			  3);
	remove_in(w.dir, "fw-8.bin.tlog-proof");
	ck_assert_int_eq(lh_checkpoint(&w.s, &size, root, NULL), 0);
	ck_assert_uint_eq(size, 4);
	r = ftverify(w.dir, "--policy", w.policy, "--state", w.state,
		     "--image", "fw-8.bin", "--log", w.url, "--timeout",
		     "10000", "--commit", NULL);
	want = tu_strf("OK gnb-du 24.2.0 index=%" PRIu64 "\n", i8);
	EXPECT_LINE(r, 0, want);
	free(want);
	tu_result_free(&r);
	ck_assert(!exists_in(w.dir, "fw-8.bin.tlog-proof"));
	/* The stored checkpoint is the log's current one now. */
	expect_state(&w, size, root, 8);
	sn = snap_take(w.state);

	/* Online, the log's newest view is what counts: fw-7 is logged and
	 * consistent, but below the floor. */
	r = ftverify(w.dir, "--policy", w.policy, "--state", w.state,
		     "--image", "fw-7.bin", "--log", w.url, "--commit", NULL);
	EXPECT_LINE(r, 24, "REFUSED rollback: ");
	tu_result_free(&r);
	SNAP_SAME(w.state, sn);

	/* An image the log has no release of. */
	{
		uint8_t du[32];

		make_image(w.dir, "unknown.bin", 5000, 8, du);
	}
	r = ftverify(w.dir, "--policy", w.policy, "--state", w.state,
		     "--image", "unknown.bin", "--log", w.url, "--exec",
		     "/bin/true", NULL);
	EXPECT_LINE(r, 25, "REFUSED not-found: ");
	tu_result_free(&r);
	SNAP_SAME(w.state, sn);

	/* Revoke fw-8 (the security key): the log answers 410. */
	r = ftlog(w.dir, "attest", "revocation", "--key", "security.key",
		  "--target", "image", "--image", "fw-8.bin", "--product",
		  PRODUCT, "--reason", "CVE-2026-0001: remote crash", NULL);
	EXPECT(r, 0);
	tu_result_free(&r);
	r = ftlog(w.dir, "submit", "--log", w.url, "--log-key", "log.pub",
		  "fw-8.bin.revocation.dsse", NULL);
	EXPECT(r, 0);
	ck_assert_msg(strncmp(r.out, "logged revocation index=4 ", 26) == 0,
		      "%s", r.out);
	tu_result_free(&r);
	r = ftverify(w.dir, "--policy", w.policy, "--state", w.state,
		     "--image", "fw-8.bin", "--log", w.url, "--commit", NULL);
	EXPECT_LINE(r, 26, "REFUSED revoked: ");
	tu_result_free(&r);
	SNAP_SAME(w.state, sn);

	/* A release by the online path after the revocation: the stored
	 * checkpoint moves on again (size 5 -> 6 via a proof from 4). */
	ck_assert_uint_eq(release(&w, "fw-10.bin", 3000, 9, "26.0", "10",
				  NULL),
			  5);
	r = ftverify(w.dir, "--policy", w.policy, "--state", w.state,
		     "--image", "fw-10.bin", "--log", w.url, "--commit", NULL);
	EXPECT_LINE(r, 0, "OK gnb-du 26.0 index=5\n");
	tu_result_free(&r);
	ck_assert_int_eq(lh_checkpoint(&w.s, &size, root, NULL), 0);
	ck_assert_uint_eq(size, 6);
	expect_state(&w, size, root, 10);
	snap_free(&sn);
	sn = snap_take(w.state);

	/*
	 * Stored checkpoints the log's tree does not extend (a device that
	 * saw a forked view): the consistency proof the log serves must not
	 * verify. Control: the true size-2 checkpoint (fw-6's bundle) is
	 * extended to size 6.
	 */
	{
		static const struct {
			uint64_t size;
			int bogus_root;
		} forks[] = {{2, 1}, {5, 1}, {6, 1}, {1000, 0}};
		char *forged = path_in(w.dir, "forged");
		uint8_t r2[32], bogus[32];
		uint64_t s2;
		size_t i;

		memset(bogus, 0x5a, sizeof(bogus));
		bundle_checkpoint(&w, "fw-6.bin.tlog-proof", &s2, r2);
		ck_assert_uint_eq(s2, 2);
		for (i = 0; i < sizeof(forks) / sizeof(forks[0]); i++) {
			struct snap fs;

			write_state(&w, "forged", forks[i].size,
				    forks[i].bogus_root ? bogus : root, 0);
			fs = snap_take(forged);
			r = ftverify(w.dir, "--policy", w.policy, "--state",
				     forged, "--image", "fw-10.bin", "--log",
				     w.url, "--commit", NULL);
			EXPECT_LINE(r, 16, "REFUSED consistency: ");
			tu_result_free(&r);
			SNAP_SAME(forged, fs);
			snap_free(&fs);
		}
		write_state(&w, "forged", s2, r2, 0);
		r = ftverify(w.dir, "--policy", w.policy, "--state", forged,
			     "--image", "fw-10.bin", "--log", w.url, "--commit",
			     NULL);
		EXPECT_LINE(r, 0, "OK gnb-du 26.0 index=5\n");
		tu_result_free(&r);
		{
			char *saved = w.state;

			w.state = forged;
			expect_state(&w, size, root, 10);
			w.state = saved;
		}
		free(forged);
	}

	/* The log is gone: an I/O failure, nothing written. */
	ck_assert_int_eq(lh_stop(&w.s), 0);
	r = ftverify(w.dir, "--policy", w.policy, "--state", w.state,
		     "--image", "fw-10.bin", "--log", w.url, "--timeout",
		     "5000", "--commit", NULL);
	EXPECT_LINE(r, 3, "REFUSED fetch: ");
	tu_result_free(&r);
	SNAP_SAME(w.state, sn);

	snap_free(&sn);
	world_stop(&w);
}
END_TEST

/* ---- Refusals by policy, bundle, state. ------------------------------- */

/*
 * ftverify with policy file pol on fw.bin (first boot; bundle NULL: the
 * default fw.bin.tlog-proof): the exit status and line prefix. A refusal
 * is tried with an installer, which must not run; a success (code 0)
 * without one and without --commit. Either way no state is written.
 */
static void refused(struct world *w, const char *pol, const char *bundle,
		    int code, const char *prefix)
{
	const char *argv[MAX_ARGS + 1];
	tu_result r;
	size_t n = 0;

	argv[n++] = "--policy";
	argv[n++] = pol;
	argv[n++] = "--state";
	argv[n++] = w->state;
	argv[n++] = "--image";
	argv[n++] = "fw.bin";
	argv[n++] = "--first-boot";
	if (bundle != NULL) {
		argv[n++] = "--bundle";
		argv[n++] = bundle;
	}
	if (code != 0) {
		argv[n++] = "--exec";
		argv[n++] = "./mark.sh";
		argv[n++] = "marker";
	}
	argv[n] = NULL;
	memset(&r, 0, sizeof(r));
	tu_run(w->dir, ftverify_path(), argv, NULL, RUN_TIMEOUT_S, &r);
	EXPECT_LINE(r, code, prefix);
	tu_result_free(&r);
	ck_assert_msg(!exists_in(w->dir, "marker"), "installer ran (%s)",
		      prefix);
	ck_assert_msg(!exists_in(w->dir, "state"), "state written (%s)",
		      prefix);
}

START_TEST(test_refusals)
{
	struct world w;
	tu_result r;
	struct snap sn;
	char *keys;
	uint8_t *b;
	size_t len;

	world_start(&w);
	write_script(w.dir, "mark.sh", MARK_SH);
	ck_assert_uint_eq(release(&w, "fw.bin", 40000, 10, "1.0", "3", NULL),
			  0);
	/* Sanity: this policy and bundle pass (nothing committed). */
	refused(&w, "device.json", NULL, 0, "OK gnb-du 1.0 index=0\n");

	/* 6. A device of another product, of another hardware model. */
	keys = tu_strf("\"%s\", \"%s\"", w.rel_a, w.rel_b);
	write_dpolicy(&w, "cu.json", w.s.vkey_str, 2, keys, "", "gnb-cu", HW);
	refused(&w, "cu.json", NULL, 20, "REFUSED product: ");
	write_dpolicy(&w, "hw.json", w.s.vkey_str, 2, keys, "", PRODUCT,
		      "acme-du-9999");
	refused(&w, "hw.json", NULL, 21, "REFUSED hardware: ");

	/* Another log (origin), and the right origin with another key. */
	{
		ft_skey fake;
		ft_vkey fv;
		char fs[FT_KEY_STR_MAX + 1];
		size_t l;

		ck_assert_int_eq(lh_key("example.org/other-log", 0x31, &fake),
				 0);
		ft_skey_public(&fake, &fv);
		ck_assert_int_eq(ft_vkey_format(&fv, fs, sizeof(fs), &l), 0);
		fs[l] = '\0';
		write_dpolicy(&w, "log.json", fs, 2, keys, "", PRODUCT, HW);
		refused(&w, "log.json", NULL, 11, "REFUSED log: ");
		ck_assert_int_eq(lh_key(ORIGIN, 0x32, &fake), 0);
		ft_skey_public(&fake, &fv);
		ck_assert_int_eq(ft_vkey_format(&fv, fs, sizeof(fs), &l), 0);
		fs[l] = '\0';
		write_dpolicy(&w, "logsig.json", fs, 2, keys, "", PRODUCT, HW);
		refused(&w, "logsig.json", NULL, 12, "REFUSED log-signature: ");
		ft_skey_wipe(&fake);
	}
	free(keys);

	/* Vendor keys: none of the signers known; a signer revoked; one of
	 * two required. */
	keys = tu_strf("\"%s\"", w.stranger);
	write_dpolicy(&w, "vk.json", w.s.vkey_str, 1, keys, "", PRODUCT, HW);
	refused(&w, "vk.json", NULL, 22, "REFUSED vendor-key: ");
	free(keys);
	keys = tu_strf("\"%s\"", w.rel_a);
	{
		char *rev = tu_strf(", \"revoked\": [\"%s\"]", w.rel_b);

		write_dpolicy(&w, "rev.json", w.s.vkey_str, 1, keys, rev,
			      PRODUCT, HW);
		free(rev);
	}
	refused(&w, "rev.json", NULL, 22, "REFUSED vendor-key: ");
	/* ... while rel-a alone with threshold 1 is enough. */
	write_dpolicy(&w, "one.json", w.s.vkey_str, 1, keys, "", PRODUCT, HW);
	refused(&w, "one.json", NULL, 0, "OK gnb-du 1.0 index=0\n");
	free(keys);
	keys = tu_strf("\"%s\", \"%s\"", w.rel_a, w.stranger);
	write_dpolicy(&w, "thr.json", w.s.vkey_str, 2, keys, "", PRODUCT, HW);
	refused(&w, "thr.json", NULL, 23, "REFUSED threshold: ");
	free(keys);

	/* A logged build event is not a release. */
	r = ftlog(w.dir, "attest", "build", "--key", "builder.key", "--image",
		  "fw.bin", "--builder-id", "https://ci.example/runner",
		  "--build-type", "https://example/build/v1", NULL);
	EXPECT(r, 0);
	tu_result_free(&r);
	r = ftlog(w.dir, "submit", "--log", w.url, "--log-key", "log.pub",
		  "--out", "build.tlog-proof", "fw.bin.build.dsse", NULL);
	EXPECT(r, 0);
	tu_result_free(&r);
	refused(&w, "device.json", "build.tlog-proof", 18,
		"REFUSED not-release: ");

	/* 7. Bundles: garbage, empty, truncated (several cuts), missing. */
	write_in(w.dir, "garbage.tlog-proof", "hello, device\n", 14);
	refused(&w, "device.json", "garbage.tlog-proof", 10,
		"REFUSED bundle: ");
	write_in(w.dir, "empty.tlog-proof", "", 0);
	refused(&w, "device.json", "empty.tlog-proof", 10, "REFUSED bundle: ");
	b = read_in(w.dir, "fw.bin.tlog-proof", &len);
	{
		const size_t cuts[] = {1, 30, len / 2, len - 40, len - 1};
		size_t i;

		for (i = 0; i < sizeof(cuts) / sizeof(cuts[0]); i++) {
			write_in(w.dir, "cut.tlog-proof", b, cuts[i]);
			refused(&w, "device.json", "cut.tlog-proof", 10,
				"REFUSED bundle: ");
		}
	}
	free(b);
	refused(&w, "device.json", "no-such.tlog-proof", 3, "REFUSED bundle: ");

	/* Policies: not JSON, an unknown field, missing. */
	write_in(w.dir, "bad.json", "{", 1);
	refused(&w, "bad.json", NULL, 4, "REFUSED policy: ");
	{
		static const char unk[] = "{\"ftlog_device_policy\":1,\"x\":1}";

		write_in(w.dir, "unk.json", unk, sizeof(unk) - 1);
		refused(&w, "unk.json", NULL, 4, "REFUSED policy: ");
	}
	refused(&w, "no-such.json", NULL, 4, "REFUSED policy: ");

	/* A missing image. */
	r = ftverify(w.dir, "--policy", w.policy, "--state", w.state,
		     "--image", "no-such.bin", "--first-boot", "--commit",
		     NULL);
	EXPECT_LINE(r, 3, "REFUSED image: ");
	tu_result_free(&r);
	ck_assert(!exists_in(w.dir, "state"));

	/* Verified, but the state cannot be written (its directory does
	 * not exist): commit failed. */
	{
		char *st = path_in(w.dir, "no-such-dir/state");

		r = ftverify(w.dir, "--policy", w.policy, "--state", st,
			     "--image", "fw.bin", "--first-boot", "--commit",
			     NULL);
		EXPECT_LINE(r, 31, "FAILED commit: ");
		tu_result_free(&r);
		ck_assert(!exists_in(w.dir, "no-such-dir"));
		free(st);
	}

	/* A missing state without --first-boot. */
	r = ftverify(w.dir, "--policy", w.policy, "--state", w.state,
		     "--image", "fw.bin", "--commit", NULL);
	EXPECT_LINE(r, 5, "REFUSED state: ");
	tu_result_free(&r);
	ck_assert(!exists_in(w.dir, "state"));

	/* A corrupted state: refused, never reset, left as it is. */
	r = ftverify(w.dir, "--policy", w.policy, "--state", w.state,
		     "--image", "fw.bin", "--first-boot", "--commit", NULL);
	EXPECT_LINE(r, 0, "OK gnb-du 1.0 index=0\n");
	tu_result_free(&r);
	b = read_in(w.dir, "state", &len);
	b[len / 3] ^= 0x04;
	write_in(w.dir, "state", b, len);
	free(b);
	sn = snap_take(w.state);
	r = ftverify(w.dir, "--policy", w.policy, "--state", w.state,
		     "--image", "fw.bin", "--commit", NULL);
	EXPECT_LINE(r, 5, "REFUSED state: ");
	tu_result_free(&r);
	SNAP_SAME(w.state, sn);
	/* --first-boot does not turn a corrupted state into a first boot. */
	r = ftverify(w.dir, "--policy", w.policy, "--state", w.state,
		     "--image", "fw.bin", "--first-boot", "--exec",
		     "./mark.sh", "marker", NULL);
	EXPECT_LINE(r, 5, "REFUSED state: ");
	tu_result_free(&r);
	ck_assert(!exists_in(w.dir, "marker"));
	SNAP_SAME(w.state, sn);

	snap_free(&sn);
	world_stop(&w);
}
END_TEST

/* ---- Usage and help. -------------------------------------------------- */

/* 1 if the decimal number n appears in s as a whole number. */
static int has_number(const char *s, unsigned n)
{
	char num[16];
	size_t k;
	const char *p = s;

	(void)snprintf(num, sizeof(num), "%u", n);
	k = strlen(num);
	while ((p = strstr(p, num)) != NULL) {
		int before = p > s && p[-1] >= '0' && p[-1] <= '9';
		int after = p[k] >= '0' && p[k] <= '9';

		if (!before && !after) {
			return 1;
		}
		p += k;
	}
	return 0;
}

START_TEST(test_usage)
{
	static const unsigned codes[] = {0,  1,  2,  3,  4,  5,  10, 11, 12,
					 13, 14, 15, 16, 17, 18, 19, 20, 21,
					 22, 23, 24, 25, 26, 30, 31};
	static const char *const bad[][16] = {
		{NULL},
		{"--policy", "p.json", NULL},
		{"--policy", "p.json", "--state", "st", NULL},
		{"--state", "st", "--image", "img", NULL},
		{"--policy", "p.json", "--image", "img", NULL},
		{"--policy", "p.json", "--state", "st", "--image", "img",
		 "--frobnicate", NULL},
		{"--policy", "p.json", "--state", "st", "--image", "img",
		 "--bundle", "b", "--log", "http://127.0.0.1:1", NULL},
		{"--policy", "p.json", "--state", "st", "--image", "img",
		 "--timeout", "soon", NULL},
		{"--policy", "p.json", "--state", "st", "--image", "img",
		 "--now", "yesterday", NULL},
		{"--policy", "p.json", "--state", "st", "--image", "img",
		 "--now", "-5", NULL},
		{"--policy", "p.json", "--state", "st", "--image", "img",
		 "--exec", NULL},
		{"--policy", "p.json", "--state", "st", "--image", "img",
		 "stray", NULL},
		{"--policy", NULL},
		{"--policy", "p.json", "--state", "st", "--image", "img",
		 "--image", "img2", NULL},
	};
	char *dir = tu_tmpdir();
	tu_result r;
	size_t i;

	ck_assert(dir != NULL);
	write_in(dir, "p.json", "{}", 2);
	write_in(dir, "img", "x", 1);
	memset(&r, 0, sizeof(r));
	{
		static const char *const help[] = {"--help", NULL};

		tu_run(dir, ftverify_path(), help, NULL, RUN_TIMEOUT_S, &r);
	}
	EXPECT(r, 0);
	for (i = 0; i < sizeof(codes) / sizeof(codes[0]); i++) {
		ck_assert_msg(has_number(r.out, codes[i]),
			      "--help does not mention exit status %u:\n%s",
			      codes[i], r.out);
	}
	ck_assert_ptr_nonnull(strstr(r.out, "--policy"));
	ck_assert_ptr_nonnull(strstr(r.out, "--first-boot"));
	ck_assert_ptr_nonnull(strstr(r.out, "--exec"));
	tu_result_free(&r);

	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		memset(&r, 0, sizeof(r));
		tu_run(dir, ftverify_path(), bad[i], NULL, RUN_TIMEOUT_S, &r);
		ck_assert_msg(r.status == 2,
			      "case %zu: exit %d, want 2\nstdout: %s\n"
			      "stderr: %s",
			      i, r.status, r.out, r.err);
		ck_assert_msg(strlen(r.err) > 0, "case %zu: no message", i);
		ck_assert_msg(strncmp(r.out, "OK", 2) != 0, "case %zu: %s", i,
			      r.out);
		NO_SANITIZER(r);
		tu_result_free(&r);
	}
	tu_rmtree(dir);
	free(dir);
}
END_TEST

/* ---- Valgrind. -------------------------------------------------------- */

/* 1 if the file holds the bytes s (an ASan build has "__asan_init"). */
static int file_contains(const char *path, const char *s)
{
	size_t len, k = strlen(s), i;
	uint8_t *b = tu_read_file(path, &len);
	int found = 0;

	ck_assert_msg(b != NULL, "cannot read %s", path);
	for (i = 0; !found && i + k <= len; i++) {
		found = b[i] == (uint8_t)s[0] && memcmp(b + i, s, k) == 0;
	}
	free(b);
	return found;
}

/* ftverify ARGS under valgrind; the log must be clean, every block freed. */
static void valgrind_ok(const struct world *w, const char *log,
			const char *const *args, const char *want)
{
	const char *argv[MAX_ARGS + 1];
	char *logopt = tu_strf("--log-file=%s/%s", w->dir, log);
	tu_result r;
	size_t n = 0, i, len;
	char *text;

	argv[n++] = "--leak-check=full";
	argv[n++] = "--show-leak-kinds=all";
	argv[n++] = "--errors-for-leak-kinds=all";
	argv[n++] = "--error-exitcode=99";
	argv[n++] = logopt;
	argv[n++] = ftverify_path();
	for (i = 0; args[i] != NULL; i++) {
		ck_assert(n < MAX_ARGS);
		argv[n++] = args[i];
	}
	argv[n] = NULL;
	memset(&r, 0, sizeof(r));
	tu_run(w->dir, VALGRIND, argv, NULL, RUN_TIMEOUT_S, &r);
	text = (char *)read_in(w->dir, log, &len);
	ck_assert_msg(r.status == 0, "valgrind exit %d\nstdout: %s\n%s",
		      r.status, r.out, text);
	ck_assert_msg(strcmp(r.out, want) == 0, "stdout %s, want %s", r.out,
		      want);
	ck_assert_msg(strstr(text, "All heap blocks were freed") != NULL,
		      "%s", text);
	ck_assert_msg(strstr(text, "ERROR SUMMARY: 0 errors") != NULL, "%s",
		      text);
	free(text);
	tu_result_free(&r);
	free(logopt);
}

START_TEST(test_valgrind)
{
	struct world w;
	tu_result r;
	uint8_t root[32];
	uint64_t size;

	if (access(VALGRIND, X_OK) != 0) {
		fprintf(stderr, "test_ftverify: no %s, valgrind test "
				"skipped\n",
			VALGRIND);
		return;
	}
	if (file_contains(ftverify_path(), "__asan_init")) {
		fprintf(stderr, "test_ftverify: %s is an AddressSanitizer "
				"build, valgrind test skipped\n",
			ftverify_path());
		return;
	}
	world_start(&w);
	ck_assert_uint_eq(release(&w, "fw-7.bin", 100000, 11, "24.1.3", "7",
				  NULL),
			  0);
	r = ftverify(w.dir, "--policy", w.policy, "--state", w.state,
		     "--image", "fw-7.bin", "--first-boot", "--commit", NULL);
	EXPECT_LINE(r, 0, "OK gnb-du 24.1.3 index=0\n");
	tu_result_free(&r);
	ck_assert_uint_eq(release(&w, "fw-8.bin", 100000, 12, "24.2.0", "8",
				  NULL),
			  1);
	/* Offline, committing into a copy of the state. */
	copy_in(w.dir, "state", "state.vg1");
	{
		const char *const args[] = {
			"--policy", "device.json", "--state", "state.vg1",
			"--image", "fw-8.bin", "--commit", NULL};

		valgrind_ok(&w, "vg1.log", args, "OK gnb-du 24.2.0 index=1\n");
	}
	/* Online (HTTP, a consistency proof), into another copy. */
	copy_in(w.dir, "state", "state.vg2");
	{
		const char *const args[] = {
			"--policy", "device.json", "--state", "state.vg2",
			"--image", "fw-8.bin", "--log", w.url, "--commit",
			NULL};

		valgrind_ok(&w, "vg2.log", args, "OK gnb-du 24.2.0 index=1\n");
	}
	/* Both copies now hold the new floor and the log's checkpoint. */
	ck_assert_int_eq(lh_checkpoint(&w.s, &size, root, NULL), 0);
	{
		char *saved = w.state;

		w.state = path_in(w.dir, "state.vg1");
		expect_state(&w, size, root, 8);
		free(w.state);
		w.state = path_in(w.dir, "state.vg2");
		expect_state(&w, size, root, 8);
		free(w.state);
		w.state = saved;
	}
	world_stop(&w);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("ftverify");
	TCase *tc = tcase_create("device");

	tcase_set_timeout(tc, 120);
	tcase_add_unchecked_fixture(tc, lh_suite_setup, lh_suite_teardown);
	tcase_add_test(tc, test_offline);
	tcase_add_test(tc, test_online);
	tcase_add_test(tc, test_refusals);
	tcase_add_test(tc, test_usage);
	tcase_add_test(tc, test_valgrind);
	suite_add_tcase(s, tc);
	return tu_run_suite(s);
}
