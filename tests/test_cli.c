/*
 * tests/test_cli.c - the ftlog command-line tool, run as a subprocess
 * ($FTLOG_BUILDDIR/tools/ftlog), the way build systems run it.
 *
 *   keygen   key files, modes, refusal to overwrite, keys that parse
 *   attest   every kind; the envelope is parsed back with libftevent, its
 *            fields are the ones given and its signatures verify
 *   usage    bad command lines exit 2 with a message; help exits 0
 *   interop  an envelope with two signatures verifies with an independent
 *            Go DSSE verifier ($FTLOG_GO_INTEROP dsse-verify), and one
 *            payload byte changed makes it fail (the forgery test)
 *   e2e      against the real ftlogd with a policy of our own keys:
 *            build -> release (2 of 2 keys) -> distribution, lineage,
 *            bundle, proof, a release refused for its threshold, a
 *            revocation that turns the bundle into REVOKED, a wrong log
 *            key, an unreachable log
 *
 * Environment: FTLOG_BUILDDIR (tools/ftlog and logd/ftlogd in it),
 * FTLOG_GO_INTEROP (the Go interop binary; the interop test fails without
 * it), FTLOG_KEEP_TMP.
 */
#define _DEFAULT_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#include <check.h>
#include <jansson.h>
#include <nettle/sha2.h>

#include <ftlog/common.h>
#include <ftlog/event.h>
#include <ftlog/merkle.h>
#include <ftlog/note.h>
#include <ftlog/tlogproof.h>

#include "tests/logd_harness.h"
#include "tests/testutil.h"

#define ORIGIN "example.org/ftlog-cli-test"
#define MAX_ARGS 64
#define RUN_TIMEOUT_S 60

/* ---- Running programs. ------------------------------------------------ */

static const char *ftlog_path(void)
{
	static char path[1024];
	const char *b = getenv("FTLOG_BUILDDIR");

	(void)snprintf(path, sizeof(path), "%s/tools/ftlog",
		       b != NULL && *b ? b : ".");
	return path;
}

/* ftlog ARGS... (NULL-terminated) in cwd. */
static tu_result ftlog(const char *cwd, ...)
{
	const char *argv[MAX_ARGS + 1];
	tu_result r;
	size_t n = 0;
	va_list ap;

	va_start(ap, cwd);
	for (;;) {
		const char *a = va_arg(ap, const char *);

		ck_assert(n < MAX_ARGS);
		argv[n++] = a;
		if (a == NULL) {
			break;
		}
	}
	va_end(ap);
	memset(&r, 0, sizeof(r));
	tu_run(cwd, ftlog_path(), argv, NULL, RUN_TIMEOUT_S, &r);
	return r;
}

/* The exit status, and no sanitizer report (ASan builds of ftlog). */
#define EXPECT(r, code)                                                     \
	do {                                                                \
		ck_assert_msg((r).status == (code),                         \
			      "exit %d, want %d\nstdout: %s\nstderr: %s",    \
			      (r).status, (code), (r).out, (r).err);        \
		ck_assert_msg(strstr((r).err, "Sanitizer") == NULL &&       \
				      strstr((r).err, "runtime error:") ==  \
					      NULL,                         \
			      "sanitizer report:\n%s", (r).err);            \
	} while (0)

/* ---- Files and keys. -------------------------------------------------- */

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

static void sha256_of(const uint8_t *b, size_t n, uint8_t out[32])
{
	struct sha256_ctx c;

	sha256_init(&c);
	sha256_update(&c, n, b);
	sha256_digest(&c, 32, out);
}

static void hex(const uint8_t *b, size_t n, char *out)
{
	lh_hex(b, n, out);
}

/* An "image" of n deterministic bytes in dir/name; its digest in d. */
static void make_image(const char *dir, const char *name, size_t n,
		       unsigned seed, uint8_t d[32])
{
	uint8_t *b = malloc(n);
	size_t i;

	ck_assert(b != NULL);
	for (i = 0; i < n; i++) {
		b[i] = (uint8_t)(i * 31 + seed * 7 + (i >> 8));
	}
	write_in(dir, name, b, n);
	sha256_of(b, n, d);
	free(b);
}

/* ftlog keygen --dir dir NAME; the parsed verifier key out. */
static void keygen(const char *dir, const char *name, ft_vkey *vk)
{
	tu_result r = ftlog(dir, "keygen", "--dir", dir, name, NULL);
	size_t n;

	EXPECT(r, 0);
	n = strlen(r.out);
	ck_assert(n > 0 && r.out[n - 1] == '\n');
	ck_assert_int_eq(ft_vkey_parse(r.out, n - 1, vk), 0);
	tu_result_free(&r);
}

/* Parse an envelope file; every signature must verify with one of keys. */
static void parse_env(const char *dir, const char *file, ft_event *ev,
		      uint8_t **raw, size_t *raw_len)
{
	char reason[256];
	size_t len;
	uint8_t *b = read_in(dir, file, &len);
	int rc = ft_event_parse(b, len, ev, reason, sizeof(reason));

	ck_assert_msg(rc == 0, "%s: %s", file, reason);
	if (raw != NULL) {
		*raw = b;
		*raw_len = len;
	} else {
		free(b);
	}
}

/* Signature i of ev verifies with vk and has vk's keyid. */
static void check_sig(const ft_event *ev, size_t i, const ft_vkey *vk)
{
	char keyid[FT_EVENT_KEYID_MAX + 1];

	ck_assert(i < ev->n_sigs);
	ck_assert_int_eq(ft_event_keyid(vk, keyid, sizeof(keyid)), 0);
	ck_assert_str_eq(ev->sigs[i].keyid, keyid);
	ck_assert_int_eq(ft_event_verify(ev, i, vk), 0);
}

/* ---- keygen. ---------------------------------------------------------- */

START_TEST(test_keygen)
{
	char *dir = tu_tmpdir();
	tu_result r;
	ft_vkey vk, vk2, pub;
	ft_skey sk;
	struct stat st;
	uint8_t *key, *pubf;
	size_t klen, plen;
	char *kp, *pp;

	ck_assert(dir != NULL);
	keygen(dir, "acme-release-1", &vk);
	kp = path_in(dir, "acme-release-1.key");
	pp = path_in(dir, "acme-release-1.pub");
	ck_assert_int_eq(stat(kp, &st), 0);
	ck_assert_int_eq(st.st_mode & 0777, 0600);
	ck_assert_int_eq(stat(pp, &st), 0);
	ck_assert_int_eq(st.st_mode & 0777, 0644);
	ck_assert_str_eq(vk.name, "acme-release-1");
	ck_assert_int_eq(vk.type, FT_KEY_ED25519);

	key = read_in(dir, "acme-release-1.key", &klen);
	ck_assert(klen > 12 && memcmp(key, "PRIVATE+KEY+", 12) == 0);
	ck_assert(key[klen - 1] == '\n');
	ck_assert_int_eq(ft_skey_parse((char *)key, klen - 1, &sk), 0);
	ft_skey_public(&sk, &vk2);
	ck_assert(memcmp(vk2.pk, vk.pk, 32) == 0 && vk2.id == vk.id);
	ft_skey_wipe(&sk);
	pubf = read_in(dir, "acme-release-1.pub", &plen);
	ck_assert_int_eq(ft_vkey_parse((char *)pubf, plen - 1, &pub), 0);
	ck_assert(memcmp(pub.pk, vk.pk, 32) == 0);

	/* Never overwrite: exit 1, both files unchanged. */
	r = ftlog(dir, "keygen", "--dir", dir, "acme-release-1", NULL);
	EXPECT(r, 1);
	ck_assert_ptr_nonnull(strstr(r.err, "already exists"));
	ck_assert_str_eq(r.out, "");
	tu_result_free(&r);
	{
		size_t l2;
		uint8_t *k2 = read_in(dir, "acme-release-1.key", &l2);

		ck_assert(l2 == klen && memcmp(k2, key, klen) == 0);
		free(k2);
	}
	/* A .pub alone also blocks (no half-made pair). */
	write_in(dir, "other.pub", "x\n", 2);
	r = ftlog(dir, "keygen", "other", NULL);
	EXPECT(r, 1);
	tu_result_free(&r);
	{
		char *op = path_in(dir, "other.key");

		ck_assert_int_ne(access(op, F_OK), 0);
		free(op);
	}
	/* Default directory: the current one. A name with '/' is a valid
	 * key name; the file name gets '_'. */
	keygen(dir, "vendor.example/rel", &vk);
	ck_assert_str_eq(vk.name, "vendor.example/rel");
	{
		char *p = path_in(dir, "vendor.example_rel.key");

		ck_assert_int_eq(access(p, R_OK), 0);
		free(p);
	}
	free(key);
	free(pubf);
	free(kp);
	free(pp);
	tu_rmtree(dir);
	free(dir);
}
END_TEST

/* ---- attest. ---------------------------------------------------------- */

START_TEST(test_attest_kinds)
{
	char *dir = tu_tmpdir();
	ft_vkey k1, k2;
	ft_event ev;
	uint8_t d[32], sbom[32], keyd[32];
	char dhex[65], sbomhex[65], ehex[65];
	tu_result r;

	ck_assert(dir != NULL);
	keygen(dir, "rel1", &k1);
	keygen(dir, "rel2", &k2);
	make_image(dir, "gnb-du.bin", 200000, 1, d);
	make_image(dir, "sbom.json", 1000, 2, sbom);
	hex(d, 32, dhex);
	hex(sbom, 32, sbomhex);
	memset(ehex, 'e', 64);
	ehex[64] = '\0';

	/* release, two keys, every optional field. */
	r = ftlog(dir, "attest", "release", "--key", "rel1.key", "--key",
		  "rel2.key", "--image", "gnb-du.bin", "--product", "gnb-du",
		  "--vendor", "acme", "--version", "24.1.3",
		  "--security-version", "7", "--hw", "du-x1", "--hw", "du-x2",
		  "--sbom", "sbom.json", "--build-index", "12",
		  "--evidence-type", "scas", "--evidence-sha256", ehex, NULL);
	EXPECT(r, 0);
	ck_assert_ptr_nonnull(strstr(r.out, "gnb-du.bin.release.dsse"));
	tu_result_free(&r);
	parse_env(dir, "gnb-du.bin.release.dsse", &ev, NULL, NULL);
	ck_assert_int_eq(ev.kind, FT_EVENT_RELEASE);
	ck_assert_uint_eq(ev.n_subjects, 1);
	ck_assert(memcmp(ev.subjects[0].sha256, d, 32) == 0);
	ck_assert_str_eq(ev.subjects[0].name, "gnb-du.bin");
	ck_assert_str_eq(ev.product, "gnb-du");
	ck_assert_str_eq(ev.vendor, "acme");
	ck_assert_str_eq(ev.version, "24.1.3");
	ck_assert_uint_eq(ev.security_version, 7);
	ck_assert_uint_eq(ev.n_hw, 2);
	ck_assert_str_eq(ev.hw[0], "du-x1");
	ck_assert_str_eq(ev.hw[1], "du-x2");
	ck_assert(ev.has_sbom && memcmp(ev.sbom_sha256, sbom, 32) == 0);
	ck_assert(ev.has_build_index && ev.build_index == 12);
	ck_assert_str_eq(ev.evidence_type, "scas");
	ck_assert(ev.evidence_sha256[0] == 0xee);
	ck_assert_uint_eq(ev.n_sigs, 2);
	check_sig(&ev, 0, &k1);
	check_sig(&ev, 1, &k2);
	ck_assert_int_ne(ft_event_verify(&ev, 0, &k2), 0);
	ft_event_free(&ev);

	/* build from flags, by digest, named. */
	r = ftlog(dir, "attest", "build", "--key", "rel1.key", "--digest",
		  dhex, "--name", "gnb-du-24.1.3.bin", "--builder-id",
		  "https://ci.acme.example/runner", "--build-type",
		  "https://acme.example/gnb-build/v1", "--param",
		  "git_commit=4f2a9c1", "--param", "target=du", "--out",
		  "b.dsse", NULL);
	EXPECT(r, 0);
	tu_result_free(&r);
	parse_env(dir, "b.dsse", &ev, NULL, NULL);
	ck_assert_int_eq(ev.kind, FT_EVENT_BUILD);
	ck_assert(memcmp(ev.subjects[0].sha256, d, 32) == 0);
	ck_assert_str_eq(ev.subjects[0].name, "gnb-du-24.1.3.bin");
	ck_assert_str_eq(ev.builder_id, "https://ci.acme.example/runner");
	ck_assert_str_eq(ev.build_type, "https://acme.example/gnb-build/v1");
	{
		json_t *p = json_loadb((const char *)ev.payload,
				       ev.payload_len, 0, NULL);
		json_t *ext = json_object_get(
			json_object_get(json_object_get(p, "predicate"),
					"buildDefinition"),
			"externalParameters");

		ck_assert_str_eq(json_string_value(json_object_get(
					 ext, "git_commit")),
				 "4f2a9c1");
		ck_assert_str_eq(json_string_value(json_object_get(ext,
								   "target")),
				 "du");
		json_decref(p);
	}
	check_sig(&ev, 0, &k1);
	ft_event_free(&ev);

	/* build from a SLSA provenance file, to standard output. */
	{
		static const char prov[] =
			"{\"buildDefinition\":{\"buildType\":"
			"\"https://slsa-framework.github.io/github-actions-"
			"buildtypes/workflow/v1\",\"externalParameters\":{"
			"\"workflow\":{\"ref\":\"refs/tags/v24.1.3\"}},"
			"\"resolvedDependencies\":[{\"uri\":\"git+https://"
			"example.com/gnb\",\"digest\":{\"gitCommit\":"
			"\"4f2a9c1\"}}]},\"runDetails\":{\"builder\":{\"id\":"
			"\"https://github.com/actions/runner\"},\"metadata\":"
			"{\"invocationId\":\"42\"}}}";
		ft_event e2;
		char reason[256];

		write_in(dir, "prov.json", prov, sizeof(prov) - 1);
		r = ftlog(dir, "attest", "build", "--key", "rel2.key",
			  "--image", "gnb-du.bin", "--predicate", "prov.json",
			  "--out", "-", NULL);
		EXPECT(r, 0);
		ck_assert_int_eq(ft_event_parse((uint8_t *)r.out,
						strlen(r.out), &e2, reason,
						sizeof(reason)),
				 0);
		ck_assert_str_eq(e2.builder_id,
				 "https://github.com/actions/runner");
		check_sig(&e2, 0, &k2);
		ft_event_free(&e2);
		tu_result_free(&r);
		/* --predicate with kind flags: usage error. */
		r = ftlog(dir, "attest", "build", "--key", "rel2.key",
			  "--image", "gnb-du.bin", "--predicate", "prov.json",
			  "--builder-id", "x", NULL);
		EXPECT(r, 2);
		tu_result_free(&r);
	}

	/* distribution. */
	r = ftlog(dir, "attest", "distribution", "--key", "rel2.key",
		  "--image", "gnb-du.bin", "--product", "gnb-du", "--channel",
		  "stable", "--version", "24.1.3", "--region", "eu-west",
		  "--region", "us-east", "--slice", "embb", "--uri",
		  "https://dl.example/gnb-du.bin", NULL);
	EXPECT(r, 0);
	tu_result_free(&r);
	parse_env(dir, "gnb-du.bin.distribution.dsse", &ev, NULL, NULL);
	ck_assert_int_eq(ev.kind, FT_EVENT_DISTRIBUTION);
	ck_assert_str_eq(ev.product, "gnb-du");
	ck_assert_str_eq(ev.channel, "stable");
	ck_assert_str_eq(ev.version, "24.1.3");
	ck_assert_uint_eq(ev.n_regions, 2);
	ck_assert_str_eq(ev.regions[1], "us-east");
	ck_assert_uint_eq(ev.n_slices, 1);
	ck_assert_str_eq(ev.slices[0], "embb");
	ck_assert_str_eq(ev.uri, "https://dl.example/gnb-du.bin");
	check_sig(&ev, 0, &k2);
	ft_event_free(&ev);

	/* image revocation. */
	r = ftlog(dir, "attest", "revocation", "--key", "rel1.key",
		  "--target", "image", "--image", "gnb-du.bin", "--product",
		  "gnb-du", "--reason", "CVE-2025-0001: remote crash", NULL);
	EXPECT(r, 0);
	tu_result_free(&r);
	parse_env(dir, "gnb-du.bin.revocation.dsse", &ev, NULL, NULL);
	ck_assert_int_eq(ev.kind, FT_EVENT_REVOCATION);
	ck_assert_int_eq(ev.revoke, FT_REVOKE_IMAGE);
	ck_assert_str_eq(ev.reason, "CVE-2025-0001: remote crash");
	ck_assert_str_eq(ev.product, "gnb-du");
	ck_assert(memcmp(ev.subjects[0].sha256, d, 32) == 0);
	check_sig(&ev, 0, &k1);
	ft_event_free(&ev);

	/* key revocation: the subject is the key's digest. */
	r = ftlog(dir, "attest", "revocation", "--key", "rel1.key",
		  "--target", "key", "--revoke-key", "rel2.pub", "--reason",
		  "key lost", "--out", "kr.dsse", NULL);
	EXPECT(r, 0);
	tu_result_free(&r);
	parse_env(dir, "kr.dsse", &ev, NULL, NULL);
	ck_assert_int_eq(ev.revoke, FT_REVOKE_KEY);
	ft_event_key_digest(&k2, keyd);
	ck_assert_uint_eq(ev.n_subjects, 1);
	ck_assert(memcmp(ev.subjects[0].sha256, keyd, 32) == 0);
	ck_assert(memcmp(ev.revoked_key.pk, k2.pk, 32) == 0);
	ck_assert_ptr_null(ev.product);
	ft_event_free(&ev);
	/* ... and it takes no image. */
	r = ftlog(dir, "attest", "revocation", "--key", "rel1.key",
		  "--target", "key", "--revoke-key", "rel2.pub", "--reason",
		  "x", "--image", "gnb-du.bin", NULL);
	EXPECT(r, 2);
	tu_result_free(&r);

	/* A key file others can read is refused. */
	{
		char *kp = path_in(dir, "rel1.key");

		ck_assert_int_eq(chmod(kp, 0644), 0);
		r = ftlog(dir, "attest", "build", "--key", "rel1.key",
			  "--digest", dhex, "--builder-id", "x",
			  "--build-type", "y", "--out", "-", NULL);
		EXPECT(r, 1);
		ck_assert_ptr_nonnull(strstr(r.err, "chmod 600"));
		ck_assert_str_eq(r.out, "");
		tu_result_free(&r);
		free(kp);
	}
	tu_rmtree(dir);
	free(dir);
}
END_TEST

/* ---- usage and help. -------------------------------------------------- */

START_TEST(test_usage)
{
	char *dir = tu_tmpdir();
	uint8_t d[32];
	ft_vkey k;
	tu_result r;
	static const char *const bad[][16] = {
		{NULL},
		{"frobnicate", NULL},
		{"keygen", NULL},
		{"keygen", "a", "b", NULL},
		{"keygen", "bad name", NULL},
		{"keygen", "--dir", NULL},
		{"attest", NULL},
		{"attest", "launch", "--key", "k.key", NULL},
		{"attest", "release", "--key", "k.key", "--image", "img",
		 "--vendor", "v", NULL},
		{"attest", "release", "--bogus", NULL},
		{"attest", "distribution", "--key", "k.key", "--image", "img",
		 "--product", "p", "--channel", "c", "--hw", "x", NULL},
		{"attest", "release", "--key", "k.key", "--image", "img",
		 "--product", "p", "--vendor", "v", "--version", "1",
		 "--security-version", "-1", NULL},
		{"attest", "build", "--key", "k.key", "--builder-id", "b",
		 "--build-type", "t", NULL},
		{"attest", "build", "--key", "k.key", "--digest", "abc",
		 "--builder-id", "b", "--build-type", "t", NULL},
		{"attest", "revocation", "--key", "k.key", "--image", "img",
		 "--target", "firmware", "--reason", "r", NULL},
		{"submit", "x.dsse", NULL},
		{"submit", "--log", "https://log.example", "--log-key",
		 "k.pub", "x.dsse", NULL},
		{"submit", "--log", "http://127.0.0.1:1", "--log-key",
		 "not-a-key", "x.dsse", NULL},
		{"get", NULL},
		{"get", "everything", NULL},
		{"get", "checkpoint", "--log", "http://127.0.0.1:1", NULL},
		{"get", "bundle", "--log", "http://127.0.0.1:1", "--log-key",
		 "k.pub", NULL},
		{"get", "lineage", "--log", "http://127.0.0.1:1", "--log-key",
		 "k.pub", "nothex", NULL},
		{"help", "nothing", NULL},
	};
	size_t i;

	ck_assert(dir != NULL);
	keygen(dir, "k", &k);
	make_image(dir, "img", 100, 3, d);
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		const char *const *av = bad[i];

		memset(&r, 0, sizeof(r));
		tu_run(dir, ftlog_path(), av, NULL, RUN_TIMEOUT_S, &r);
		ck_assert_msg(r.status == 2,
			      "case %zu (%s %s): exit %d, want 2\nstderr: %s",
			      i, av[0] ? av[0] : "", av[0] && av[1] ? av[1] : "",
			      r.status, r.err);
		ck_assert_msg(strlen(r.err) > 0, "case %zu: no message", i);
		ck_assert_msg(strstr(r.err, "ERROR: AddressSanitizer") == NULL,
			      "case %zu: %s", i, r.err);
		if (av[0] != NULL) {
			ck_assert_msg(strstr(r.err, "ftlog") != NULL &&
					      strstr(r.err, "usage") != NULL,
				      "case %zu: %s", i, r.err);
		}
		tu_result_free(&r);
	}

	/* Help: man-page sections on stdout, exit 0. */
	{
		static const char *const helps[][4] = {
			{"--help", NULL},
			{"help", NULL},
			{"help", "attest", NULL},
			{"help", "get", NULL},
			{"keygen", "--help", NULL},
			{"attest", "release", "--help", NULL},
			{"submit", "-h", NULL},
			{"get", "lineage", "--help", NULL},
		};

		for (i = 0; i < sizeof(helps) / sizeof(helps[0]); i++) {
			memset(&r, 0, sizeof(r));
			tu_run(dir, ftlog_path(), helps[i], NULL, RUN_TIMEOUT_S,
			       &r);
			EXPECT(r, 0);
			ck_assert_ptr_nonnull(strstr(r.out, "NAME\n"));
			ck_assert_ptr_nonnull(strstr(r.out, "SYNOPSIS\n"));
			ck_assert_ptr_nonnull(strstr(r.out, "DESCRIPTION\n"));
			ck_assert_ptr_nonnull(strstr(r.out, "EXIT STATUS\n"));
			ck_assert_ptr_nonnull(strstr(r.out, "EXAMPLES\n"));
			tu_result_free(&r);
		}
		r = ftlog(dir, "help", "submit", NULL);
		ck_assert_ptr_nonnull(strstr(r.out, "OPTIONS\n"));
		ck_assert_ptr_nonnull(strstr(r.out, "--log-key"));
		tu_result_free(&r);
		r = ftlog(dir, "--version", NULL);
		EXPECT(r, 0);
		ck_assert(strncmp(r.out, "ftlog ", 6) == 0);
		tu_result_free(&r);
	}
	/* A missing file is an I/O error (3), not a usage error. */
	r = ftlog(dir, "attest", "build", "--key", "k.key", "--image",
		  "no-such-image", "--builder-id", "b", "--build-type", "t",
		  NULL);
	EXPECT(r, 3);
	tu_result_free(&r);
	tu_rmtree(dir);
	free(dir);
}
END_TEST

/* ---- Go interop. ------------------------------------------------------ */

static tu_result go_verify(const char *dir, const char *env,
			       const char *k1, const char *k2)
{
	const char *go = getenv("FTLOG_GO_INTEROP");
	const char *argv[6] = {"dsse-verify", env, k1, k2, NULL, NULL};
	tu_result r;

	memset(&r, 0, sizeof(r));
	tu_run(dir, go, argv, NULL, RUN_TIMEOUT_S, &r);
	return r;
}

START_TEST(test_go_interop)
{
	const char *go = getenv("FTLOG_GO_INTEROP");
	char *dir;
	ft_vkey k1, k2;
	uint8_t d[32], *env, *payload;
	size_t env_len, plen, i;
	tu_result r;
	char *start, *end, *b64;
	size_t b64len;
	ft_event ev;

	ck_assert_msg(go != NULL && *go != '\0',
		      "FTLOG_GO_INTEROP is not set: point it at the Go "
		      "interop binary (make check does)");
	ck_assert_msg(access(go, X_OK) == 0, "FTLOG_GO_INTEROP=%s: %s", go,
		      strerror(errno));
	dir = tu_tmpdir();
	ck_assert(dir != NULL);
	keygen(dir, "vendor.example/rel-a", &k1);
	keygen(dir, "rel-b", &k2);
	make_image(dir, "fw.bin", 70000, 4, d);
	r = ftlog(dir, "attest", "release", "--key", "vendor.example_rel-a.key",
		  "--key", "rel-b.key", "--image", "fw.bin", "--product",
		  "gnb-cu", "--vendor", "acme", "--version", "1.0 (beta)",
		  "--security-version", "9007199254740991", "--hw", "cu-1",
		  "--out", "fw.dsse", NULL);
	EXPECT(r, 0);
	tu_result_free(&r);

	r = go_verify(dir, "fw.dsse", "vendor.example_rel-a.pub", "rel-b.pub");
	EXPECT(r, 0);
	ck_assert_str_eq(r.out, "ok 2\n");
	tu_result_free(&r);
	/* Only one of the keys given: one signature checked. */
	{
		const char *argv[4] = {"dsse-verify", "fw.dsse", "rel-b.pub",
				       NULL};

		memset(&r, 0, sizeof(r));
		tu_run(dir, go, argv, NULL, RUN_TIMEOUT_S, &r);
		EXPECT(r, 0);
		ck_assert_str_eq(r.out, "ok 1\n");
		tu_result_free(&r);
	}

	/* The forgery: one payload byte changed, payload re-encoded, the
	 * signatures kept. */
	env = read_in(dir, "fw.dsse", &env_len);
	start = strstr((char *)env, "\"payload\":\"");
	ck_assert_ptr_nonnull(start);
	start += strlen("\"payload\":\"");
	end = strchr(start, '"');
	ck_assert_ptr_nonnull(end);
	payload = malloc((size_t)(end - start));
	ck_assert(payload != NULL);
	ck_assert_int_eq(ft_b64_decode(start, (size_t)(end - start), payload,
				       (size_t)(end - start), &plen),
			 0);
	{
		/* Lower the security version by one: ...991 -> ...990. */
		uint8_t *sv = NULL;

		for (i = 0; i + 16 <= plen && sv == NULL; i++) {
			if (memcmp(payload + i, "9007199254740991", 16) == 0) {
				sv = payload + i;
			}
		}
		ck_assert_ptr_nonnull(sv);
		sv[15] = '0';
	}
	b64len = ft_b64_enclen(plen);
	b64 = malloc(b64len + 1);
	ck_assert(b64 != NULL);
	ck_assert_int_eq(ft_b64_encode(payload, plen, b64, b64len + 1, &i), 0);
	ck_assert_uint_eq(i, (size_t)(end - start)); /* same length */
	memcpy(start, b64, i);
	write_in(dir, "forged.dsse", env, env_len);
	/* Still a well-formed event, so only the signatures can tell. */
	{
		char reason[256];

		ck_assert_int_eq(ft_event_parse(env, env_len, &ev, reason,
						sizeof(reason)),
				 0);
		ck_assert_int_ne(ft_event_verify(&ev, 0, &k1), 0);
		ck_assert_int_ne(ft_event_verify(&ev, 1, &k2), 0);
		ft_event_free(&ev);
	}
	r = go_verify(dir, "forged.dsse", "vendor.example_rel-a.pub",
		      "rel-b.pub");
	EXPECT(r, 1);
	ck_assert_ptr_nonnull(strstr(r.err, "does not verify"));
	tu_result_free(&r);

	free(b64);
	free(payload);
	free(env);
	tu_rmtree(dir);
	free(dir);
}
END_TEST

/* ---- End to end against ftlogd. --------------------------------------- */

/* Count lines of s. */
static size_t nlines(const char *s)
{
	size_t n = 0;

	for (; *s; s++) {
		n += *s == '\n';
	}
	return n;
}

START_TEST(test_e2e)
{
	lh_server s;
	char *dir, *url, *policy, *lk;
	ft_vkey v1, v2, v3, bld, dst;
	char v1s[FT_KEY_STR_MAX + 1], v2s[FT_KEY_STR_MAX + 1],
		bs[FT_KEY_STR_MAX + 1], ds[FT_KEY_STR_MAX + 1];
	size_t l;
	uint8_t d[32], *env, *proof;
	size_t env_len, proof_len;
	char dhex[65];
	uint64_t index;
	tu_result r;
	static const char *const fast[] = {"--batch-interval", "20ms", NULL};

	ck_assert_int_eq(lh_init(&s, ORIGIN), 0);
	dir = tu_tmpdir();
	ck_assert(dir != NULL);
	keygen(dir, "vendor-rel-1", &v1);
	keygen(dir, "vendor-rel-2", &v2);
	keygen(dir, "stranger", &v3);
	keygen(dir, "ci-builder", &bld);
	keygen(dir, "distributor", &dst);
	ck_assert_int_eq(ft_vkey_format(&v1, v1s, sizeof(v1s), &l), 0);
	ck_assert_int_eq(ft_vkey_format(&v2, v2s, sizeof(v2s), &l), 0);
	ck_assert_int_eq(ft_vkey_format(&bld, bs, sizeof(bs), &l), 0);
	ck_assert_int_eq(ft_vkey_format(&dst, ds, sizeof(ds), &l), 0);
	policy = tu_strf(
		"{\"ftlog_policy\":1,\"release_thresholds\":[{\"products\":"
		"\"gnb-*\",\"threshold\":2}],\"keys\":["
		"{\"key\":\"%s\",\"kinds\":[\"release\",\"revocation\"],"
		"\"products\":[\"gnb-*\"]},"
		"{\"key\":\"%s\",\"kinds\":[\"release\",\"revocation\"],"
		"\"products\":[\"gnb-*\"]},"
		"{\"key\":\"%s\",\"kinds\":[\"build\"]},"
		"{\"key\":\"%s\",\"kinds\":[\"distribution\"],"
		"\"products\":[\"gnb-*\"]}]}",
		v1s, v2s, bs, ds);
	ck_assert_int_eq(lh_write_policy(&s, policy), 0);
	ck_assert_int_eq(lh_start(&s, 0, fast), 0);
	url = tu_strf("http://127.0.0.1:%d", s.port);
	lk = tu_strf("%s\n", s.vkey_str);
	if (strchr(s.vkey_str, '\n') != NULL) {
		lk[strlen(lk) - 1] = '\0';
	}
	write_in(dir, "log.pub", lk, strlen(lk));

	make_image(dir, "gnb-du-24.1.bin", 300000, 5, d);
	hex(d, 32, dhex);

	/* build -> release (2 keys) -> distribution. */
	r = ftlog(dir, "attest", "build", "--key", "ci-builder.key",
		  "--image", "gnb-du-24.1.bin", "--builder-id",
		  "https://ci.example/runner", "--build-type",
		  "https://example/build/v1", "--param", "commit=abc", NULL);
	EXPECT(r, 0);
	tu_result_free(&r);
	r = ftlog(dir, "submit", "--log", url, "--log-key", "log.pub",
		  "--out", "build.proof", "gnb-du-24.1.bin.build.dsse", NULL);
	EXPECT(r, 0);
	ck_assert_msg(strncmp(r.out, "logged build index=0 tree_size=", 31) ==
			      0,
		      "%s", r.out);
	ck_assert_ptr_nonnull(strstr(r.out, "-> build.proof"));
	tu_result_free(&r);
	env = read_in(dir, "gnb-du-24.1.bin.build.dsse", &env_len);
	proof = read_in(dir, "build.proof", &proof_len);
	ck_assert_int_eq(lh_check_tlog_proof(&s, proof, proof_len, env,
					     env_len, &index, NULL, NULL, NULL,
					     NULL),
			 0);
	ck_assert_uint_eq(index, 0);
	free(env);
	free(proof);

	r = ftlog(dir, "attest", "release", "--key", "vendor-rel-1.key",
		  "--key", "vendor-rel-2.key", "--image", "gnb-du-24.1.bin",
		  "--product", "gnb-du", "--vendor", "acme", "--version",
		  "24.1", "--security-version", "7", "--hw", "du-x1",
		  "--build-index", "0", NULL);
	EXPECT(r, 0);
	tu_result_free(&r);
	/* With --image: IMAGE.tlog-proof, after checking the subject. */
	r = ftlog(dir, "submit", "--log", url, "--log-key", s.vkey_str,
		  "--image", "gnb-du-24.1.bin", "gnb-du-24.1.bin.release.dsse",
		  NULL);
	EXPECT(r, 0);
	ck_assert_msg(strncmp(r.out, "logged release index=1 ", 23) == 0, "%s",
		      r.out);
	ck_assert_ptr_nonnull(strstr(r.out, "-> gnb-du-24.1.bin.tlog-proof"));
	tu_result_free(&r);
	env = read_in(dir, "gnb-du-24.1.bin.release.dsse", &env_len);
	proof = read_in(dir, "gnb-du-24.1.bin.tlog-proof", &proof_len);
	ck_assert_int_eq(lh_check_tlog_proof(&s, proof, proof_len, env,
					     env_len, &index, NULL, NULL, NULL,
					     NULL),
			 0);
	ck_assert_uint_eq(index, 1);
	free(proof);
	/* Submitting again: the same index. */
	r = ftlog(dir, "submit", "--log", url, "--log-key", "log.pub",
		  "--out", "again.proof", "gnb-du-24.1.bin.release.dsse",
		  NULL);
	EXPECT(r, 0);
	ck_assert_msg(strncmp(r.out, "logged release index=1 ", 23) == 0, "%s",
		      r.out);
	tu_result_free(&r);
	/* get proof for the release envelope. */
	r = ftlog(dir, "get", "proof", "--log", url, "--log-key", "log.pub",
		  "gnb-du-24.1.bin.release.dsse", NULL);
	EXPECT(r, 0);
	ck_assert_msg(strncmp(r.out, "index=1 tree_size=", 18) == 0, "%s",
		      r.out);
	tu_result_free(&r);
	free(env);

	r = ftlog(dir, "attest", "distribution", "--key", "distributor.key",
		  "--image", "gnb-du-24.1.bin", "--product", "gnb-du",
		  "--channel", "stable", "--region", "eu", NULL);
	EXPECT(r, 0);
	tu_result_free(&r);
	/* Default name without --image: the subject's name. */
	r = ftlog(dir, "submit", "--log", url, "--log-key", "log.pub",
		  "gnb-du-24.1.bin.distribution.dsse", NULL);
	EXPECT(r, 0);
	ck_assert_msg(strncmp(r.out, "logged distribution index=2 ", 28) == 0,
		      "%s", r.out);
	tu_result_free(&r);

	/* An image that is not the envelope's subject: refused locally. */
	{
		uint8_t d2[32];

		make_image(dir, "other.bin", 1000, 6, d2);
		r = ftlog(dir, "submit", "--log", url, "--log-key", "log.pub",
			  "--image", "other.bin",
			  "gnb-du-24.1.bin.distribution.dsse", NULL);
		EXPECT(r, 1);
		ck_assert_ptr_nonnull(strstr(r.err, "not a subject"));
		tu_result_free(&r);
	}

	/* Lineage: the three, in order, each verified. */
	r = ftlog(dir, "get", "lineage", "--log", url, "--log-key", "log.pub",
		  "--image", "gnb-du-24.1.bin", NULL);
	EXPECT(r, 0);
	ck_assert_uint_eq(nlines(r.out), 3);
	ck_assert_msg(strncmp(r.out, "0 build signers=ci-builder", 26) == 0,
		      "%s", r.out);
	{
		char *l2 = strchr(r.out, '\n') + 1;
		char *l3 = strchr(l2, '\n') + 1;

		ck_assert_msg(strncmp(l2, "1 release signers=vendor-rel-1,"
					  "vendor-rel-2 product=gnb-du",
				      58) == 0,
			      "%s", r.out);
		ck_assert_ptr_nonnull(strstr(l2, "security_version=7"));
		ck_assert_msg(strncmp(l3, "2 distribution signers=distributor",
				      34) == 0,
			      "%s", r.out);
		ck_assert_ptr_nonnull(strstr(l3, "channel=stable"));
	}
	tu_result_free(&r);
	r = ftlog(dir, "get", "lineage", "--log", url, "--log-key", "log.pub",
		  "--json", dhex, NULL);
	EXPECT(r, 0);
	{
		json_error_t je;
		json_t *j = json_loads(r.out, 0, &je);
		json_t *evs = json_object_get(j, "events");

		ck_assert_msg(j != NULL, "%s", je.text);
		ck_assert_str_eq(json_string_value(json_object_get(j,
								   "digest")),
				 dhex);
		ck_assert_uint_eq(json_array_size(evs), 3);
		ck_assert_str_eq(json_string_value(json_object_get(
					 json_array_get(evs, 1), "kind")),
				 "release");
		json_decref(j);
	}
	tu_result_free(&r);

	/* Bundle: the release, verified, written. */
	r = ftlog(dir, "get", "bundle", "--log", url, "--log-key", "log.pub",
		  "--image", "gnb-du-24.1.bin", "--out", "dev.tlog-proof",
		  NULL);
	EXPECT(r, 0);
	tu_result_free(&r);
	env = read_in(dir, "gnb-du-24.1.bin.release.dsse", &env_len);
	proof = read_in(dir, "dev.tlog-proof", &proof_len);
	ck_assert_int_eq(lh_check_tlog_proof(&s, proof, proof_len, env,
					     env_len, &index, NULL, NULL, NULL,
					     NULL),
			 0);
	ck_assert_uint_eq(index, 1);
	free(proof);
	free(env);
	/* Default name from a digest. */
	r = ftlog(dir, "get", "bundle", "--log", url, "--log-key", "log.pub",
		  dhex, NULL);
	EXPECT(r, 0);
	tu_result_free(&r);
	{
		char *n = tu_strf("%s.tlog-proof", dhex);

		proof = read_in(dir, n, &proof_len);
		free(n);
		free(proof);
	}

	/* A release signed by one key: the threshold refuses it. */
	r = ftlog(dir, "attest", "release", "--key", "vendor-rel-1.key",
		  "--image", "gnb-du-24.1.bin", "--product", "gnb-du",
		  "--vendor", "acme", "--version", "24.1-hotfix",
		  "--security-version", "8", "--hw", "du-x1", "--out",
		  "one.dsse", NULL);
	EXPECT(r, 0);
	tu_result_free(&r);
	r = ftlog(dir, "submit", "--log", url, "--log-key", "log.pub", "--out",
		  "one.proof", "one.dsse", NULL);
	EXPECT(r, 1);
	ck_assert_msg(strstr(r.err, "REFUSED 4") != NULL &&
			      strstr(r.err, "threshold:") != NULL,
		      "%s", r.err);
	tu_result_free(&r);
	{
		char *p = path_in(dir, "one.proof");

		ck_assert_int_ne(access(p, F_OK), 0);
		free(p);
	}
	/* A key the policy does not know. */
	r = ftlog(dir, "attest", "build", "--key", "stranger.key", "--image",
		  "gnb-du-24.1.bin", "--builder-id", "x", "--build-type", "y",
		  "--out", "s.dsse", NULL);
	EXPECT(r, 0);
	tu_result_free(&r);
	r = ftlog(dir, "submit", "--log", url, "--log-key", "log.pub", "--out",
		  "s.proof", "s.dsse", NULL);
	EXPECT(r, 1);
	ck_assert_msg(strstr(r.err, "REFUSED") != NULL &&
			      strstr(r.err, "unknown-key:") != NULL,
		      "%s", r.err);
	tu_result_free(&r);

	/* Checkpoint: right key prints it; a wrong key fails. */
	r = ftlog(dir, "get", "checkpoint", "--log", url, "--log-key",
		  "log.pub", NULL);
	EXPECT(r, 0);
	ck_assert(strncmp(r.out, ORIGIN "\n", strlen(ORIGIN) + 1) == 0);
	tu_result_free(&r);
	r = ftlog(dir, "get", "checkpoint", "--log", url, "--log-key",
		  "vendor-rel-1.pub", NULL);
	EXPECT(r, 1);
	ck_assert_str_eq(r.out, "");
	tu_result_free(&r);
	/* A key with the log's name but another public key. */
	{
		ft_skey fake;
		ft_vkey fv;
		char fs[FT_KEY_STR_MAX + 1];

		ck_assert_int_eq(lh_key(ORIGIN, 0x33, &fake), 0);
		ft_skey_public(&fake, &fv);
		ck_assert_int_eq(ft_vkey_format(&fv, fs, sizeof(fs), &l), 0);
		r = ftlog(dir, "get", "bundle", "--log", url, "--log-key", fs,
			  dhex, "--out", "fake.proof", NULL);
		EXPECT(r, 1);
		tu_result_free(&r);
		r = ftlog(dir, "get", "lineage", "--log", url, "--log-key", fs,
			  dhex, NULL);
		EXPECT(r, 1);
		ck_assert_str_eq(r.out, "");
		tu_result_free(&r);
		ft_skey_wipe(&fake);
	}

	/* Revoke the image: the bundle is REVOKED now. */
	r = ftlog(dir, "attest", "revocation", "--key", "vendor-rel-2.key",
		  "--target", "image", "--image", "gnb-du-24.1.bin",
		  "--product", "gnb-du", "--reason", "CVE-2025-0001", NULL);
	EXPECT(r, 0);
	tu_result_free(&r);
	r = ftlog(dir, "submit", "--log", url, "--log-key", "log.pub", "--out",
		  "rev.proof", "gnb-du-24.1.bin.revocation.dsse", NULL);
	EXPECT(r, 0);
	ck_assert_msg(strncmp(r.out, "logged revocation index=3 ", 26) == 0,
		      "%s", r.out);
	tu_result_free(&r);
	r = ftlog(dir, "get", "bundle", "--log", url, "--log-key", "log.pub",
		  "--image", "gnb-du-24.1.bin", "--out", "after.proof", NULL);
	EXPECT(r, 1);
	ck_assert_msg(strncmp(r.err, "REVOKED: ", 9) == 0, "%s", r.err);
	tu_result_free(&r);
	r = ftlog(dir, "get", "lineage", "--log", url, "--log-key", "log.pub",
		  dhex, NULL);
	EXPECT(r, 0);
	ck_assert_uint_eq(nlines(r.out), 4);
	ck_assert_ptr_nonnull(strstr(r.out, "\n3 revocation signers=vendor-rel-2 "
					    "target=image"));
	tu_result_free(&r);

	/* Unknown digest: not found (1). */
	{
		char zero[65];

		memset(zero, '0', 64);
		zero[64] = '\0';
		r = ftlog(dir, "get", "bundle", "--log", url, "--log-key",
			  "log.pub", zero, NULL);
		EXPECT(r, 1);
		ck_assert_ptr_nonnull(strstr(r.err, "no release logged"));
		tu_result_free(&r);
		r = ftlog(dir, "get", "lineage", "--log", url, "--log-key",
			  "log.pub", zero, NULL);
		EXPECT(r, 1);
		tu_result_free(&r);
	}
	/* An envelope never logged: get proof says so (1). */
	r = ftlog(dir, "get", "proof", "--log", url, "--log-key", "log.pub",
		  "one.dsse", NULL);
	EXPECT(r, 1);
	tu_result_free(&r);

	ck_assert_int_eq(lh_stop(&s), 0);
	ck_assert_int_eq(lh_log_clean(&s), 0);
	/* The log is gone: a network error (3). */
	r = ftlog(dir, "get", "checkpoint", "--log", url, "--log-key",
		  "log.pub", NULL);
	EXPECT(r, 3);
	ck_assert_ptr_nonnull(strstr(r.err, "cannot connect"));
	tu_result_free(&r);

	lh_cleanup(&s);
	free(policy);
	free(url);
	free(lk);
	tu_rmtree(dir);
	free(dir);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("cli");
	TCase *off = tcase_create("offline");
	TCase *go = tcase_create("go");
	TCase *e2e = tcase_create("e2e");

	tcase_set_timeout(off, 120);
	tcase_add_unchecked_fixture(off, lh_suite_setup, lh_suite_teardown);
	tcase_add_test(off, test_keygen);
	tcase_add_test(off, test_attest_kinds);
	tcase_add_test(off, test_usage);
	suite_add_tcase(s, off);

	tcase_set_timeout(go, 60);
	tcase_add_unchecked_fixture(go, lh_suite_setup, lh_suite_teardown);
	tcase_add_test(go, test_go_interop);
	suite_add_tcase(s, go);

	tcase_set_timeout(e2e, 240);
	tcase_add_unchecked_fixture(e2e, lh_suite_setup, lh_suite_teardown);
	tcase_add_test(e2e, test_e2e);
	suite_add_tcase(s, e2e);
	return tu_run_suite(s);
}
