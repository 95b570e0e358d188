/*
 * tests/test_splitview.c - the split-view attack, end to end, with every
 * real program: ftlogd, `ftlog witness serve`, `ftlog audit` and
 * ftverify.
 *
 * The honest log A sends its checkpoints to the witness W and publishes
 * only checkpoints W cosigned (--witness-quorum 1). A device trusting A's
 * key and W (quorum 1) installs A's release; an auditor follows A.
 *
 * Then the attacker - who holds A's signing key - runs a second log B:
 * the same key and origin, different entries (an evil release of the
 * same product). B is configured with the same witness, but publishes
 * without waiting for it (--witness-quorum 0).
 *   - W refuses to cosign B's checkpoints: B's published checkpoint never
 *     carries W's cosignature, and W answers a direct add-checkpoint of
 *     B's checkpoint, with B's own consistency proof from the size W
 *     holds, with 422 (the proof cannot verify: the histories differ);
 *   - the auditor whose state follows A (its one finding: A's release
 *     has no build event), pointed at B, raises the alarm (exit 4) and
 *     keeps its state;
 *   - the device refuses B's bundle for the evil image: quorum (exit 13).
 *
 * Environment: FTLOG_BUILDDIR (logd/ftlogd, tools/ftlog, client/ftverify).
 */
#define _DEFAULT_SOURCE
#include <errno.h>
#include <inttypes.h>
#include <signal.h>
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
#include <ftlog/event.h>
#include <ftlog/merkle.h>
#include <ftlog/note.h>
#include <ftlog/witness.h>

#include "client/httpc.h"
#include "tests/logd_harness.h"
#include "tests/testutil.h"

#define ORIGIN "example.org/splitview-log"
#define WNAME "witness.example.org/w1"
#define PRODUCT "gnb-du"
#define HW "acme-du-4400"

static char *bin(const char *rel)
{
	const char *d = getenv("FTLOG_BUILDDIR");

	return tu_strf("%s/%s", d != NULL && *d != 0 ? d : ".", rel);
}

/* ---- Files. */

static void write_text(const char *path, const char *text)
{
	ck_assert_msg(tu_write_file(path, text, strlen(text)) == 0,
		      "cannot write %s", path);
}

static char *read_text(const char *path)
{
	size_t len;
	uint8_t *b = tu_read_file(path, &len);

	ck_assert_msg(b != NULL, "cannot read %s", path);
	return (char *)b;
}

static void copy_file(const char *from, const char *to)
{
	size_t len;
	uint8_t *b = tu_read_file(from, &len);

	ck_assert_msg(b != NULL, "cannot read %s", from);
	ck_assert_msg(tu_write_file(to, b, len) == 0, "cannot write %s", to);
	ck_assert_int_eq(chmod(to, 0600), 0);
	free(b);
}

/* ---- The witness. */

typedef struct witness {
	char *dir, *logs, *ready, *log;
	char vkey[FT_KEY_STR_MAX + 1];
	pid_t pid;
	int port;
} witness;

static void witness_init(witness *w, const char *root, const char *log_vkey)
{
	char *out = NULL, *err = NULL;
	char *ftlog = bin("tools/ftlog");

	memset(w, 0, sizeof *w);
	w->dir = tu_strf("%s/witness", root);
	w->logs = tu_strf("%s/witness-logs", root);
	w->ready = tu_strf("%s/witness.ready", root);
	w->log = tu_strf("%s/witness.log", root);
	const char *args[] = {"witness", "init", "--dir", w->dir, "--name",
			      WNAME, NULL};
	int rc = lh_exec(ftlog, args, &out, &err);
	ck_assert_msg(rc == 0, "witness init: %d %s", rc, err);
	size_t n = strcspn(out, "\n");
	ck_assert_msg(n > 0 && n < sizeof w->vkey, "witness init: %s", out);
	memcpy(w->vkey, out, n);
	w->vkey[n] = 0;
	char *logs = tu_strf("# the logs this witness follows\n%s\n",
			     log_vkey);
	write_text(w->logs, logs);
	free(logs);
	free(out);
	free(err);
	free(ftlog);
}

static void witness_start(witness *w)
{
	char *ftlog = bin("tools/ftlog");
	const char *args[] = {"witness", "serve", "--dir", w->dir, "--logs",
			      w->logs, "--listen", "127.0.0.1:0",
			      "--ready-file", w->ready, NULL};

	(void)unlink(w->ready);
	w->pid = lh_spawn(ftlog, args, w->log);
	ck_assert_msg(w->pid > 0, "cannot start the witness");
	for (int i = 0; i < 400 && w->port == 0; i++) {
		size_t len;
		uint8_t *r = tu_read_file(w->ready, &len);

		if (r != NULL) {
			const char *colon = strrchr((char *)r, ':');
			w->port = colon != NULL ? atoi(colon + 1) : 0;
			free(r);
		}
		if (w->port == 0) {
			ck_assert_msg(waitpid(w->pid, NULL, WNOHANG) == 0,
				      "the witness exited; see %s", w->log);
			tu_sleep_ms(50);
		}
	}
	ck_assert_msg(w->port > 0, "the witness did not become ready");
	free(ftlog);
}

static void witness_stop(witness *w)
{
	int st = 0;

	if (w->pid > 0) {
		(void)kill(w->pid, SIGTERM);
		(void)waitpid(w->pid, &st, 0);
		w->pid = 0;
		ck_assert_msg(WIFEXITED(st) && WEXITSTATUS(st) == 0,
			      "the witness did not stop cleanly (%d); see %s",
			      st, w->log);
		/* Under ASan/UBSan: no report (leaks included). */
		char *log = read_text(w->log);
		ck_assert_msg(strstr(log, "Sanitizer") == NULL &&
				      strstr(log, "runtime error:") == NULL,
			      "the witness's log has a sanitizer report:\n%s",
			      log);
		free(log);
	}
	free(w->dir);
	free(w->logs);
	free(w->ready);
	free(w->log);
}

/* ---- Events. */

static void sha256_of(const uint8_t *b, size_t n, uint8_t out[32])
{
	struct sha256_ctx c;

	sha256_init(&c);
	sha256_update(&c, n, b);
	sha256_digest(&c, 32, out);
}

/* A release of `image` (product gnb-du, hardware HW) by the test key. */
static uint8_t *release_of(const uint8_t digest[32], const char *version,
			   unsigned sv, size_t *len)
{
	ft_event_subject sub;
	char pred[512], reason[256], *stmt = NULL, *env = NULL;
	size_t stmt_len, env_len;

	memset(&sub, 0, sizeof sub);
	sub.name = "firmware.bin";
	memcpy(sub.sha256, digest, 32);
	int n = snprintf(pred, sizeof pred,
			 "{\"product\":\"%s\",\"vendor\":\"acme\","
			 "\"version\":\"%s\",\"security_version\":%u,"
			 "\"hardware_models\":[\"%s\"]}",
			 PRODUCT, version, sv, HW);
	ck_assert(n > 0 && (size_t)n < sizeof pred);
	ck_assert_msg(ft_event_statement(FT_EVENT_RELEASE, &sub, 1, pred,
					 (size_t)n, &stmt, &stmt_len, reason,
					 sizeof reason) == 0,
		      "statement: %s", reason);
	ck_assert_int_eq(ft_event_sign((const uint8_t *)stmt, stmt_len,
				       lh_test_key(), 1, &env, &env_len),
			 0);
	free(stmt);
	*len = env_len;
	return (uint8_t *)env;
}

static void add(const lh_server *s, const uint8_t *e, size_t len)
{
	uint64_t index;

	ck_assert_msg(lh_add(s->port, e, len, &index, NULL) == 0,
		      "POST /add to the log on port %d failed", s->port);
}

/* GET path from port into a malloc'd body; the status is returned. */
static int get(int port, const char *path, uint8_t **body, size_t *len)
{
	ft_httpc_req q;
	ft_httpc_resp r;
	char url[64], err[256];

	(void)snprintf(url, sizeof url, "http://127.0.0.1:%d", port);
	memset(&q, 0, sizeof q);
	q.url = url;
	q.method = "GET";
	q.path = path;
	q.timeout_ms = 10000;
	ck_assert_msg(ft_httpc_do(&q, &r, err, sizeof err) == 0, "GET %s: %s",
		      path, err);
	*body = r.body;
	*len = r.body_len;
	return r.status;
}

/* Whether the note carries a valid cosignature by the witness. */
static int cosigned_by(const uint8_t *note, size_t len, const char *vkey)
{
	ft_vkey k;
	ft_note_sig st;
	size_t tl;

	ck_assert_int_eq(ft_vkey_parse(vkey, strlen(vkey), &k), 0);
	return ft_note_open(note, len, &k, 1, &st, &tl) == 0 && st.verified;
}

/* The log's published checkpoint, once it carries the witness's
 * cosignature and has at least `size` entries (10 s at most). */
static void wait_cosigned(const lh_server *s, const char *wkey, uint64_t size)
{
	for (int i = 0; i < 200; i++) {
		uint8_t *b;
		size_t len;
		uint64_t have = 0;

		if (get(s->port, "/checkpoint", &b, &len) == 200) {
			const char *nl = memchr(b, '\n', len);
			if (nl != NULL) {
				have = strtoull(nl + 1, NULL, 10);
			}
			if (have >= size && cosigned_by(b, len, wkey)) {
				free(b);
				return;
			}
		}
		free(b);
		tu_sleep_ms(50);
	}
	ck_abort_msg("the log on port %d never published a checkpoint of "
		     "size >= %" PRIu64 " cosigned by the witness",
		     s->port, size);
}

static void write_dpolicy(const char *path, const char *log_vkey,
			  const char *wkey)
{
	char *p = tu_strf("{\n"
			  "  \"ftlog_device_policy\": 1,\n"
			  "  \"log\": {\"key\": \"%s\"},\n"
			  "  \"witnesses\": {\"quorum\": 1, \"keys\": "
			  "[\"%s\"]},\n"
			  "  \"vendor\": {\"threshold\": 1, \"keys\": "
			  "[\"%s\"]},\n"
			  "  \"product\": \"%s\",\n"
			  "  \"hardware_model\": \"%s\",\n"
			  "  \"max_checkpoint_age\": 3600\n"
			  "}\n",
			  log_vkey, wkey, lh_test_vkey(), PRODUCT, HW);

	write_text(path, p);
	free(p);
}

static int run(const char *prog_rel, const char *const *args, char **out,
	       char **err)
{
	char *prog = bin(prog_rel);
	int rc = lh_exec(prog, args, out, err);

	free(prog);
	return rc;
}

START_TEST(test_split_view)
{
	lh_server a, b;
	witness w;
	char *root = tu_tmpdir();
	uint8_t img_a[4096], img_b[4096], d_a[32], d_b[32];
	uint8_t *e, *body;
	size_t len;
	char *out = NULL, *err = NULL;
	int rc;

	/* The honest log A and its witness. */
	ck_assert_int_eq(lh_init(&a, ORIGIN), 0);
	witness_init(&w, root, a.vkey_str);
	witness_start(&w);
	char *wfile = tu_strf("%s/witnesses", root);
	char *wline = tu_strf("%s http://127.0.0.1:%d\n", w.vkey, w.port);
	write_text(wfile, wline);
	const char *a_args[] = {"--witnesses", wfile, "--witness-quorum", "1",
				"--batch-interval", "20ms", NULL};
	ck_assert_int_eq(lh_start(&a, 0, a_args), 0);

	memset(img_a, 'A', sizeof img_a);
	memset(img_b, 'B', sizeof img_b);
	sha256_of(img_a, sizeof img_a, d_a);
	sha256_of(img_b, sizeof img_b, d_b);
	char *img_a_path = tu_strf("%s/good.bin", root);
	char *img_b_path = tu_strf("%s/evil.bin", root);
	ck_assert_int_eq(tu_write_file(img_a_path, img_a, sizeof img_a), 0);
	ck_assert_int_eq(tu_write_file(img_b_path, img_b, sizeof img_b), 0);

	for (uint64_t i = 0; i < 5; i++) {
		uint8_t *ev;
		size_t evl;
		ck_assert_int_eq(lh_event(i, 0, &ev, &evl), 0);
		add(&a, ev, evl);
		free(ev);
	}
	e = release_of(d_a, "7.2.0", 12, &len);
	add(&a, e, len);
	free(e);
	wait_cosigned(&a, w.vkey, 6);

	/* The device installs A's release (its bundle carries W's
	 * cosignature). */
	char hex_a[65], hex_b[65];
	lh_hex(d_a, 32, hex_a);
	lh_hex(d_b, 32, hex_b);
	char *bpath = tu_strf("/bundle/%s", hex_a);
	ck_assert_int_eq(get(a.port, bpath, &body, &len), 200);
	ck_assert_msg(cosigned_by(body, len, w.vkey) ||
			      strstr((char *)body, WNAME) != NULL,
		      "A's bundle has no cosignature: %s", body);
	char *bundle_a = tu_strf("%s/good.tlog-proof", root);
	ck_assert_int_eq(tu_write_file(bundle_a, body, len), 0);
	free(body);
	free(bpath);
	char *dpol = tu_strf("%s/device-policy.json", root);
	char *dstate = tu_strf("%s/device-state", root);
	write_dpolicy(dpol, a.vkey_str, w.vkey);
	{
		const char *args[] = {"--policy", dpol, "--state", dstate,
				      "--image", img_a_path, "--bundle",
				      bundle_a, "--first-boot", "--commit",
				      NULL};
		rc = run("client/ftverify", args, &out, &err);
		ck_assert_msg(rc == 0, "device refused A's release: %d %s %s",
			      rc, out, err);
		free(out);
		free(err);
	}

	/* The auditor follows A. */
	char *astate = tu_strf("%s/audit-state", root);
	char *a_url = tu_strf("http://127.0.0.1:%d", a.port);
	{
		const char *args[] = {"audit", "--log", a_url, "--log-key",
				      a.vkey_str, "--state", astate,
				      "--witness-key", w.vkey, NULL};
		rc = run("tools/ftlog", args, &out, &err);
		/* A's release has no build event logged: one finding (exit
		 * 1), and the state follows A. */
		ck_assert_msg(rc == 1 && strstr(out, "finding release-without-"
						     "build index=5") != NULL,
			      "audit of A: %d %s %s", rc, out, err);
		free(out);
		free(err);
	}

	/* The fork: B, with A's key and origin, other entries. */
	ck_assert_int_eq(lh_init(&b, ORIGIN), 0);
	char *ka = tu_strf("%s/log.key", a.data);
	char *kb = tu_strf("%s/log.key", b.data);
	char *pa = tu_strf("%s/log.pub", a.data);
	char *pb = tu_strf("%s/log.pub", b.data);
	copy_file(ka, kb);
	copy_file(pa, pb);
	const char *b_args[] = {"--witnesses", wfile, "--witness-quorum", "0",
				"--batch-interval", "20ms", NULL};
	ck_assert_int_eq(lh_start(&b, 0, b_args), 0);
	for (uint64_t i = 100; i < 106; i++) {
		uint8_t *ev;
		size_t evl;
		ck_assert_int_eq(lh_event(i, 0, &ev, &evl), 0);
		add(&b, ev, evl);
		free(ev);
	}
	e = release_of(d_b, "9.9.9", 99, &len);
	add(&b, e, len);
	free(e);

	/* W never cosigns B: give B's rounds time, then look. */
	tu_sleep_ms(1500);
	uint8_t *cb;
	size_t cbl;
	ck_assert_int_eq(get(b.port, "/checkpoint", &cb, &cbl), 200);
	ck_assert_msg(!cosigned_by(cb, cbl, w.vkey),
		      "the witness cosigned the fork: %s", cb);
	/* Directly: B's checkpoint with B's own proof from W's size (6). */
	{
		uint8_t *pr;
		size_t prl;
		char *path = tu_strf("/proof/consistency?old=6&new=7");
		ck_assert_int_eq(get(b.port, path, &pr, &prl), 200);
		ft_hash proof[FT_ADDCP_PROOF_MAX];
		size_t np = 0;
		ck_assert_int_eq(lh_parse_hashes(pr, prl, proof,
						 FT_ADDCP_PROOF_MAX, &np),
				 0);
		free(pr);
		free(path);
		uint8_t req[FT_ADDCP_BODY_MAX];
		size_t rl;
		ck_assert_int_eq(ft_addcp_format(6, proof, np, cb, cbl, req,
						 sizeof req, &rl),
				 0);
		ft_httpc_req q;
		ft_httpc_resp r;
		char url[64], herr[256];
		(void)snprintf(url, sizeof url, "http://127.0.0.1:%d", w.port);
		memset(&q, 0, sizeof q);
		q.url = url;
		q.method = "POST";
		q.path = "/add-checkpoint";
		q.body = req;
		q.body_len = rl;
		q.timeout_ms = 10000;
		ck_assert_msg(ft_httpc_do(&q, &r, herr, sizeof herr) == 0,
			      "%s", herr);
		ck_assert_msg(r.status == 422,
			      "the witness answered %d to the fork: %s",
			      r.status, r.body);
		ft_httpc_resp_free(&r);
	}

	/* The auditor, pointed at B with A's state: the alarm. */
	char *b_url = tu_strf("http://127.0.0.1:%d", b.port);
	{
		const char *args[] = {"audit", "--log", b_url, "--log-key",
				      a.vkey_str, "--state", astate, "--json",
				      NULL};
		rc = run("tools/ftlog", args, &out, &err);
		ck_assert_msg(rc == 4, "audit of the fork: exit %d (want 4) "
				       "%s %s",
			      rc, out, err);
		ck_assert_msg(strstr(out, "\"alarm\"") != NULL ||
				      strstr(err, "alarm") != NULL,
			      "no alarm printed: %s %s", out, err);
		free(out);
		free(err);
		/* And the state still follows A: A audits clean. */
		const char *again[] = {"audit", "--log", a_url, "--log-key",
				       a.vkey_str, "--state", astate, NULL};
		rc = run("tools/ftlog", again, &out, &err);
		ck_assert_msg(rc == 0, "audit of A after the alarm: %d %s %s",
			      rc, out, err);
		free(out);
		free(err);
	}

	/* The device and the fork's bundle for the evil image: quorum. */
	bpath = tu_strf("/bundle/%s", hex_b);
	ck_assert_int_eq(get(b.port, bpath, &body, &len), 200);
	char *bundle_b = tu_strf("%s/evil.tlog-proof", root);
	ck_assert_int_eq(tu_write_file(bundle_b, body, len), 0);
	free(body);
	free(bpath);
	{
		char *before = read_text(dstate);
		const char *args[] = {"--policy", dpol, "--state", dstate,
				      "--image", img_b_path, "--bundle",
				      bundle_b, "--commit", NULL};
		rc = run("client/ftverify", args, &out, &err);
		ck_assert_msg(rc == 13, "device and the fork: exit %d (want "
					"13, quorum) %s %s",
			      rc, out, err);
		ck_assert_msg(strncmp(out, "REFUSED quorum", 14) == 0, "%s",
			      out);
		char *after = read_text(dstate);
		ck_assert_str_eq(before, after);
		free(before);
		free(after);
		free(out);
		free(err);
	}

	free(cb);
	ck_assert_int_eq(lh_stop(&b), 0);
	ck_assert_int_eq(lh_stop(&a), 0);
	ck_assert_int_eq(lh_log_clean(&a), 0);
	ck_assert_int_eq(lh_log_clean(&b), 0);
	witness_stop(&w);
	lh_cleanup(&a);
	lh_cleanup(&b);
	free(wfile);
	free(wline);
	free(img_a_path);
	free(img_b_path);
	free(bundle_a);
	free(bundle_b);
	free(dpol);
	free(dstate);
	free(astate);
	free(a_url);
	free(b_url);
	free(ka);
	free(kb);
	free(pa);
	free(pb);
	tu_rmtree(root);
	free(root);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("splitview");
	TCase *tc = tcase_create("splitview");

	tcase_add_unchecked_fixture(tc, lh_suite_setup, lh_suite_teardown);
	tcase_set_timeout(tc, 120);
	tcase_add_test(tc, test_split_view);
	suite_add_tcase(s, tc);
	return tu_run_suite(s);
}
