/*
 * tests/test_logd.c - the real ftlogd, end to end, over HTTP on 127.0.0.1
 * (docs/ftlogd-contract.md).
 *
 * Every test starts its own server in a fresh temporary directory through
 * tests/logd_harness.h. The log's answers are never trusted: every
 * checkpoint is opened with the key that `ftlogd init` printed, every
 * tlog-proof and proof answer is verified with libftmerkle, and the tree
 * is rebuilt here from the entries we submitted (and from the entry
 * bundles the server hands out) to compare roots and tiles byte for byte.
 *
 * The Go reference check runs tests/interop/main.go `serve-verify` against
 * the live server (found through $FTLOG_GO_INTEROP; skipped with a message
 * when that is unset, since this suite may be run by hand).
 *
 * Environment: FTLOG_BUILDDIR (ftlogd is $FTLOG_BUILDDIR/logd/ftlogd),
 * FTLOG_GO_INTEROP, FTLOG_KEEP_TMP (keep the directory of a failed test).
 */
#define _DEFAULT_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <check.h>

#include <ftlog/common.h>
#include <ftlog/merkle.h>
#include <ftlog/note.h>
#include <ftlog/tile.h>
#include <ftlog/tlogproof.h>

#include "tests/logd_harness.h"
#include "tests/testutil.h"

#define ORIGIN "example.org/ftlog-test-log"
#define NELEM(a) (sizeof(a) / sizeof((a)[0]))

/* Server options of most tests: short batches so that appends are quick. */
static const char *const fast_args[] = {"--batch-interval", "10ms", NULL};

/* ---- The model: what we submitted, by index, and the tree over it. ---- */

struct seen_cp {
	uint64_t size;
	ft_hash root;
};

struct model {
	uint8_t **ent; /* by index; NULL where unknown */
	size_t *elen;
	uint64_t cap;
	struct seen_cp *cps; /* every checkpoint handed out */
	size_t ncps, cpcap;
	/* every complete node of the tree over ent[0..n), by level */
	ft_hash *lv[64];
	uint64_t nn[64];
	uint64_t built; /* tree size of lv */
};

static void model_free(struct model *m)
{
	for (uint64_t i = 0; i < m->cap; i++) {
		free(m->ent[i]);
	}
	free(m->ent);
	free(m->elen);
	free(m->cps);
	for (int l = 0; l < 64; l++) {
		free(m->lv[l]);
	}
	memset(m, 0, sizeof *m);
}

static void model_put(struct model *m, uint64_t index, const uint8_t *e,
		      size_t len)
{
	ck_assert_uint_lt(index, 1u << 24);
	if (index >= m->cap) {
		uint64_t ncap = m->cap ? m->cap : 256;
		while (ncap <= index) {
			ncap *= 2;
		}
		m->ent = realloc(m->ent, ncap * sizeof *m->ent);
		m->elen = realloc(m->elen, ncap * sizeof *m->elen);
		ck_assert_ptr_nonnull(m->ent);
		ck_assert_ptr_nonnull(m->elen);
		for (uint64_t i = m->cap; i < ncap; i++) {
			m->ent[i] = NULL;
			m->elen[i] = 0;
		}
		m->cap = ncap;
	}
	if (m->ent[index] != NULL) {
		ck_assert_msg(m->elen[index] == len &&
				      memcmp(m->ent[index], e, len) == 0,
			      "two different entries acknowledged at index %" PRIu64,
			      index);
		return;
	}
	m->ent[index] = malloc(len + 1);
	ck_assert_ptr_nonnull(m->ent[index]);
	memcpy(m->ent[index], e, len);
	m->elen[index] = len;
}

static void model_cp(struct model *m, uint64_t size, const uint8_t root[32])
{
	for (size_t i = 0; i < m->ncps; i++) {
		if (m->cps[i].size == size) {
			ck_assert_msg(memcmp(m->cps[i].root.b, root, 32) == 0,
				      "two different roots signed for size %" PRIu64,
				      size);
			return;
		}
	}
	if (m->ncps == m->cpcap) {
		m->cpcap = m->cpcap ? 2 * m->cpcap : 64;
		m->cps = realloc(m->cps, m->cpcap * sizeof *m->cps);
		ck_assert_ptr_nonnull(m->cps);
	}
	m->cps[m->ncps].size = size;
	memcpy(m->cps[m->ncps].root.b, root, 32);
	m->ncps++;
}

static int store_node(void *ctx, unsigned level, uint64_t index,
		      const ft_hash *hash)
{
	struct model *m = ctx;

	if (level >= 64 || index != m->nn[level]) {
		return FT_EINVAL;
	}
	m->lv[level][index] = *hash;
	m->nn[level] = index + 1;
	return 0;
}

static int store_read(void *ctx, const ft_node_id *ids, size_t n,
		      ft_hash *out)
{
	struct model *m = ctx;

	for (size_t i = 0; i < n; i++) {
		if (ids[i].level >= 64 || ids[i].index >= m->nn[ids[i].level]) {
			return FT_EREAD;
		}
		out[i] = m->lv[ids[i].level][ids[i].index];
	}
	return 0;
}

/* Build the tree over entries [0, n): every one must be known. */
static void model_build(struct model *m, uint64_t n)
{
	ft_tree t;

	for (int l = 0; l < 64; l++) {
		free(m->lv[l]);
		m->lv[l] = NULL;
		m->nn[l] = 0;
		if ((n >> l) > 0) {
			m->lv[l] = calloc(n >> l, sizeof(ft_hash));
			ck_assert_ptr_nonnull(m->lv[l]);
		}
	}
	ft_tree_init(&t);
	for (uint64_t i = 0; i < n; i++) {
		ck_assert_msg(i < m->cap && m->ent[i] != NULL,
			      "no acknowledged entry at index %" PRIu64
			      " of %" PRIu64,
			      i, n);
		ft_hash leaf;
		ft_merkle_leaf_hash(m->ent[i], m->elen[i], &leaf);
		ck_assert_int_eq(ft_tree_append(&t, &leaf, store_node, m), 0);
	}
	m->built = n;
}

static void model_root(struct model *m, uint64_t size, ft_hash *root)
{
	ft_hash_reader r = {store_read, m};

	ck_assert_uint_le(size, m->built);
	ck_assert_int_eq(ft_tree_hash_at(size, &r, root), 0);
}

/* ---- Entries. ---------------------------------------------------------- */

/* The event number of entry i of a test run with this tag. */
static uint64_t event_number(const char *tag, unsigned i)
{
	uint32_t h = 2166136261u;

	for (const char *p = tag; *p; p++) {
		h = (h ^ (uint8_t)*p) * 16777619u;
	}
	return ((uint64_t)(h & 0xffff) << 32) | i;
}

/* Entry `i` of a test run: a signed build event (lh_event) of varying
 * size, every 37th one a few KiB. malloc'd into *out; 0 or -1. */
static int entry_bytes(const char *tag, unsigned i, uint8_t **out,
		       size_t *len)
{
	size_t min = i % 37 == 0 ? 2000 + i % 500 : 700 + (i % 23) * 5;

	return lh_event(event_number(tag, i), min, out, len);
}

static uint8_t *make_entry(const char *tag, unsigned i, size_t *len)
{
	uint8_t *e = NULL;

	ck_assert_msg(entry_bytes(tag, i, &e, len) == 0,
		      "cannot make event %s %u", tag, i);
	return e;
}

/* The first line of an error answer starts with `rule` ("unknown-key:"). */
static void expect_rule(const lh_resp *r, const char *rule)
{
	ck_assert_msg(r->body != NULL &&
			      strncmp((const char *)r->body, rule,
				      strlen(rule)) == 0,
		      "answer %d does not start with \"%s\": \"%s\"",
		      r->status, rule, r->body ? (char *)r->body : "");
}

/* ---- Submitting, checking each answer. --------------------------------- */

/* Submit one entry on c and check the proof; record it in m. */
static uint64_t submit(const lh_server *s, lh_conn *c, struct model *m,
		       const uint8_t *e, size_t len)
{
	lh_resp r;
	uint64_t idx = 0, size = 0;
	uint8_t root[32];
	char ct[128];

	int rc = lh_conn_add(c, e, len, &idx, &r);
	ck_assert_msg(rc == 0, "POST /add failed: status %d: %s", r.status,
		      r.body != NULL ? (char *)r.body : "(no answer)");
	ck_assert_int_eq(lh_header(&r, "Content-Type", ct, sizeof ct), 0);
	ck_assert_str_eq(ct, "text/x.tlog-proof");
	rc = lh_check_tlog_proof(s, r.body, r.body_len, e, len, &idx, &size,
				 root, NULL, NULL);
	ck_assert_msg(rc == 0, "tlog-proof does not verify: %s\n%s",
		      ft_errname(rc), (char *)r.body);
	ck_assert_uint_lt(idx, size);
	model_put(m, idx, e, len);
	model_cp(m, size, root);
	lh_resp_free(&r);
	return idx;
}

struct worker {
	const lh_server *s;
	const char *tag;
	unsigned first, count;
	/* results, per entry */
	uint64_t *idx, *size;
	ft_hash *root;
	uint8_t **ent;
	size_t *elen;
	char err[512];
};

static void *worker_run(void *arg)
{
	struct worker *w = arg;
	lh_conn c;

	if (lh_conn_open(&c, w->s->port) != 0) {
		snprintf(w->err, sizeof w->err, "connect failed");
		return NULL;
	}
	for (unsigned k = 0; k < w->count; k++) {
		uint8_t *e = NULL;
		size_t len = 0;
		lh_resp r;
		uint64_t idx = 0;

		if (entry_bytes(w->tag, w->first + k, &e, &len) != 0) {
			snprintf(w->err, sizeof w->err, "cannot make event");
			break;
		}
		w->ent[k] = e;
		w->elen[k] = len;
		if (lh_conn_add(&c, e, len, &idx, &r) != 0) {
			snprintf(w->err, sizeof w->err,
				 "entry %u: POST /add: status %d: %.200s",
				 w->first + k, r.status,
				 r.body != NULL ? (char *)r.body : "(none)");
			lh_resp_free(&r);
			break;
		}
		int rc = lh_check_tlog_proof(w->s, r.body, r.body_len, e, len,
					     &w->idx[k], &w->size[k],
					     w->root[k].b, NULL, NULL);
		lh_resp_free(&r);
		if (rc != 0) {
			snprintf(w->err, sizeof w->err,
				 "entry %u: tlog-proof: %s", w->first + k,
				 ft_errname(rc));
			break;
		}
	}
	lh_conn_close(&c);
	return NULL;
}

/*
 * Append `seq` entries one by one, then nthreads * per entries from
 * concurrent keep-alive connections; every answer is verified and
 * recorded in m. Entry numbers start at `first`.
 */
static void populate(const lh_server *s, struct model *m, const char *tag,
		     unsigned first, unsigned seq, unsigned nthreads,
		     unsigned per)
{
	lh_conn c;

	ck_assert_int_eq(lh_conn_open(&c, s->port), 0);
	for (unsigned i = 0; i < seq; i++) {
		size_t len = 0;
		uint8_t *e = make_entry(tag, first + i, &len);
		(void)submit(s, &c, m, e, len);
		free(e);
	}
	lh_conn_close(&c);
	if (nthreads == 0) {
		return;
	}

	struct worker *w = calloc(nthreads, sizeof *w);
	pthread_t *th = calloc(nthreads, sizeof *th);
	ck_assert_ptr_nonnull(w);
	ck_assert_ptr_nonnull(th);
	for (unsigned t = 0; t < nthreads; t++) {
		w[t].s = s;
		w[t].tag = tag;
		w[t].first = first + seq + t * per;
		w[t].count = per;
		w[t].idx = calloc(per, sizeof(uint64_t));
		w[t].size = calloc(per, sizeof(uint64_t));
		w[t].root = calloc(per, sizeof(ft_hash));
		w[t].ent = calloc(per, sizeof(uint8_t *));
		w[t].elen = calloc(per, sizeof(size_t));
		ck_assert(w[t].idx && w[t].size && w[t].root && w[t].ent &&
			  w[t].elen);
		ck_assert_int_eq(pthread_create(&th[t], NULL, worker_run, &w[t]),
				 0);
	}
	for (unsigned t = 0; t < nthreads; t++) {
		ck_assert_int_eq(pthread_join(th[t], NULL), 0);
	}
	for (unsigned t = 0; t < nthreads; t++) {
		ck_assert_msg(w[t].err[0] == 0, "thread %u: %s", t, w[t].err);
		for (unsigned k = 0; k < per; k++) {
			ck_assert_uint_lt(w[t].idx[k], w[t].size[k]);
			model_put(m, w[t].idx[k], w[t].ent[k], w[t].elen[k]);
			model_cp(m, w[t].size[k], w[t].root[k].b);
			free(w[t].ent[k]);
		}
		free(w[t].idx);
		free(w[t].size);
		free(w[t].root);
		free(w[t].ent);
		free(w[t].elen);
	}
	free(w);
	free(th);
}

/* GET /checkpoint; record it; build the model at its size. */
static uint64_t current(const lh_server *s, struct model *m, ft_hash *root)
{
	uint64_t size = 0;
	lh_resp raw;

	ck_assert_msg(lh_checkpoint(s, &size, root->b, &raw) == 0,
		      "GET /checkpoint: status %d, or it does not verify",
		      raw.status);
	lh_resp_free(&raw);
	model_cp(m, size, root->b);
	model_build(m, size);
	ft_hash mine;
	model_root(m, size, &mine);
	ck_assert_msg(memcmp(mine.b, root->b, 32) == 0,
		      "the checkpoint root of size %" PRIu64
		      " is not the root of the entries we were acknowledged",
		      size);
	return size;
}

/* Every checkpoint handed out is a prefix of the model's tree. */
static void check_seen_roots(struct model *m)
{
	for (size_t i = 0; i < m->ncps; i++) {
		ft_hash r;
		model_root(m, m->cps[i].size, &r);
		ck_assert_msg(memcmp(r.b, m->cps[i].root.b, 32) == 0,
			      "checkpoint of size %" PRIu64
			      " is not a prefix of the current tree",
			      m->cps[i].size);
	}
}

static void start_log(lh_server *s, int tiles, const char *const *args)
{
	ck_assert_msg(lh_init(s, ORIGIN) == 0, "ftlogd init failed (%s)",
		      lh_ftlogd_path());
	ck_assert_msg(lh_start(s, tiles, args) == 0, "ftlogd serve failed");
}

/* An error answer: the status, and a body of one line ending in "\n". */
static void expect_error(int port, const char *method, const char *path,
			 const void *body, size_t len, int status)
{
	lh_resp r;

	ck_assert_msg(lh_http(port, method, path, body, len, &r) == 0,
		      "%s %s: no answer", method, path);
	ck_assert_msg(r.status == status, "%s %s: status %d, want %d (%s)",
		      method, path, r.status, status, (char *)r.body);
	ck_assert_msg(r.body_len >= 2 && r.body[r.body_len - 1] == '\n' &&
			      memchr(r.body, '\n', r.body_len - 1) == NULL,
		      "%s %s: error body is not one line: \"%s\"", method, path,
		      (char *)r.body);
	lh_resp_free(&r);
}

static void expect_status(lh_conn *c, const char *method, const char *path,
			  int status, lh_resp *out)
{
	lh_resp r;

	ck_assert_msg(lh_conn_request(c, method, path, NULL, 0, &r) == 0,
		      "%s %s: no answer", method, path);
	ck_assert_msg(r.status == status, "%s %s: status %d, want %d (%s)",
		      method, path, r.status, status, (char *)r.body);
	if (out != NULL) {
		*out = r;
	} else {
		lh_resp_free(&r);
	}
}

/* The value of metric `name` (no labels) in a Prometheus text answer. */
static int metric_value(const lh_resp *r, const char *name, double *v)
{
	size_t k = strlen(name);
	const char *p = (const char *)r->body;

	while (p != NULL && *p) {
		if (strncmp(p, name, k) == 0 && (p[k] == ' ' || p[k] == '{')) {
			const char *sp = strchr(p + k, ' ');
			if (sp == NULL) {
				return -1;
			}
			char *end;
			*v = strtod(sp + 1, &end);
			return end != sp + 1 ? 0 : -1;
		}
		p = strchr(p, '\n');
		if (p != NULL) {
			p++;
		}
	}
	return -1;
}

static void check_metrics_size(const lh_server *s, uint64_t size)
{
	lh_resp r;
	char ct[128];
	double v = -1;

	ck_assert_int_eq(lh_http(s->port, "GET", "/metrics", NULL, 0, &r), 0);
	ck_assert_int_eq(r.status, 200);
	ck_assert_int_eq(lh_header(&r, "Content-Type", ct, sizeof ct), 0);
	ck_assert_msg(strncmp(ct, "text/plain; version=0.0.4", 25) == 0,
		      "metrics Content-Type \"%s\"", ct);
	ck_assert_msg(metric_value(&r, "ftlog_tree_size", &v) == 0,
		      "no ftlog_tree_size in /metrics:\n%s", (char *)r.body);
	ck_assert_msg(v == (double)size, "ftlog_tree_size %g, want %" PRIu64,
		      v, size);
	lh_resp_free(&r);
}

/* SIGTERM: exit status 0, a log without sanitizer reports; clean up. */
static void finish(lh_server *s)
{
	int st = lh_stop(s);

	ck_assert_msg(st == 0, "ftlogd exit status %d after SIGTERM", st);
	ck_assert_msg(lh_log_clean(s) == 0, "sanitizer report in ftlogd's log");
	lh_cleanup(s);
}

/* ---- Tests: init and the command line. ---------------------------------- */

START_TEST(test_init_key)
{
	lh_server s;
	struct stat st;
	char *p;
	size_t len = 0;

	ck_assert_int_eq(ft_init(), 0);
	ck_assert_msg(lh_init(&s, ORIGIN) == 0, "ftlogd init failed (%s)",
		      lh_ftlogd_path());
	/* The printed key parses (lh_init) and is the log's key. */
	ck_assert_str_eq(s.vkey.name, ORIGIN);
	ck_assert_int_eq(s.vkey.type, FT_KEY_ED25519);

	ck_assert_int_eq(stat(s.data, &st), 0);
	ck_assert(S_ISDIR(st.st_mode));
	ck_assert_msg((st.st_mode & 0777) == 0700, "data dir mode %o",
		      (unsigned)(st.st_mode & 0777));

	p = tu_strf("%s/log.pub", s.data);
	uint8_t *pub = tu_read_file(p, &len);
	ck_assert_msg(pub != NULL, "no %s", p);
	char *want = tu_strf("%s\n", s.vkey_str);
	ck_assert_str_eq((char *)pub, want);
	free(want);
	free(pub);
	free(p);

	p = tu_strf("%s/log.key", s.data);
	ck_assert_int_eq(stat(p, &st), 0);
	ck_assert_msg((st.st_mode & 0777) == 0600, "log.key mode %o",
		      (unsigned)(st.st_mode & 0777));
	uint8_t *key = tu_read_file(p, &len);
	ck_assert_ptr_nonnull(key);
	ck_assert_msg(len > 1 && key[len - 1] == '\n' &&
			      memchr(key, '\n', len - 1) == NULL,
		      "log.key is not one line");
	ft_skey sk;
	ft_vkey vk;
	ck_assert_int_eq(ft_skey_parse((char *)key, len - 1, &sk), 0);
	ft_skey_public(&sk, &vk);
	ft_skey_wipe(&sk);
	memset(key, 0, len);
	free(key);
	ck_assert_int_eq(vk.id, s.vkey.id);
	ck_assert_mem_eq(vk.pk, s.vkey.pk, 32);

	/* init refuses to overwrite: same directory, key unchanged. */
	uint8_t *before = tu_read_file(p, &len);
	ck_assert_ptr_nonnull(before);
	size_t blen = len;
	const char *again[] = {"init", "--data", s.data, "--origin", ORIGIN,
			       NULL};
	char *out = NULL, *err = NULL;
	int rc = lh_run(again, &out, &err);
	ck_assert_msg(rc == 1, "second init: exit %d (%s)", rc, err);
	ck_assert_msg(out != NULL && out[0] == 0, "second init printed \"%s\"",
		      out);
	ck_assert_msg(err != NULL && strlen(err) > 1 &&
			      strchr(err, '\n') == err + strlen(err) - 1,
		      "second init: stderr is not one line: \"%s\"", err);
	free(out);
	free(err);
	uint8_t *after = tu_read_file(p, &len);
	ck_assert_ptr_nonnull(after);
	ck_assert_uint_eq(len, blen);
	ck_assert_mem_eq(after, before, len);
	free(before);
	free(after);

	/* A store without a key is refused too. */
	ck_assert_int_eq(unlink(p), 0);
	free(p);
	p = tu_strf("%s/log.pub", s.data);
	ck_assert_int_eq(unlink(p), 0);
	free(p);
	rc = lh_run(again, NULL, &err);
	ck_assert_msg(rc == 1, "init over an existing store: exit %d (%s)", rc,
		      err);
	free(err);
	p = tu_strf("%s/log.key", s.data);
	ck_assert_msg(access(p, F_OK) != 0, "init wrote a key over a store");
	free(p);

	/* And a key without a store. */
	char *d2 = tu_strf("%s/other", s.dir);
	ck_assert_int_eq(mkdir(d2, 0700), 0);
	p = tu_strf("%s/log.key", d2);
	ck_assert_int_eq(tu_write_file(p, "PRIVATE+KEY+x\n", 14), 0);
	const char *third[] = {"init", "--data", d2, "--origin", ORIGIN, NULL};
	rc = lh_run(third, NULL, &err);
	ck_assert_msg(rc == 1, "init over an existing key: exit %d (%s)", rc,
		      err);
	free(err);
	uint8_t *k2 = tu_read_file(p, &len);
	ck_assert_ptr_nonnull(k2);
	ck_assert_str_eq((char *)k2, "PRIVATE+KEY+x\n");
	free(k2);
	free(p);
	free(d2);
	lh_cleanup(&s);
}
END_TEST

START_TEST(test_cli)
{
	char *out = NULL, *err = NULL;
	int rc;

	const char *help[] = {"--help", NULL};
	rc = lh_run(help, &out, &err);
	ck_assert_msg(rc == 0, "--help: exit %d", rc);
	ck_assert_msg(strstr(out, "serve") != NULL || strstr(err, "serve"),
		      "--help does not mention serve");
	free(out);
	free(err);

	const char *hs[] = {"help", "serve", NULL};
	rc = lh_run(hs, &out, &err);
	ck_assert_msg(rc == 0, "help serve: exit %d", rc);
	ck_assert_msg(strstr(out, "--listen") != NULL ||
			      strstr(err, "--listen") != NULL,
		      "help serve does not mention --listen");
	free(out);
	free(err);

	const char *ver[] = {"--version", NULL};
	rc = lh_run(ver, &out, &err);
	ck_assert_msg(rc == 0, "--version: exit %d", rc);
	ck_assert_msg(strlen(out) + strlen(err) > 0, "--version prints nothing");
	free(out);
	free(err);

	const char *bogus[] = {"frobnicate", NULL};
	rc = lh_run(bogus, &out, &err);
	ck_assert_msg(rc != 0 && rc < 128, "unknown verb: exit %d", rc);
	free(out);
	free(err);

	/* help serve documents --policy; the test validator is gone. */
	rc = lh_run(hs, &out, &err);
	ck_assert_msg(rc == 0, "help serve: exit %d", rc);
	ck_assert_msg(strstr(out, "--policy") != NULL ||
			      strstr(err, "--policy") != NULL,
			  "help serve does not mention --policy");
	ck_assert_msg(strstr(out, "--validator") == NULL &&
			      strstr(err, "--validator") == NULL,
		      "help serve still mentions --validator");
	free(out);
	free(err);

	/* serve without a store: exit 1 at startup. */
	char *tmp = tu_tmpdir();
	ck_assert_ptr_nonnull(tmp);
	char *d = tu_strf("%s/none", tmp);
	char *pol = tu_strf("%s/policy.json", tmp);
	char *ptext = lh_default_policy(NULL);
	ck_assert_ptr_nonnull(ptext);
	ck_assert_int_eq(tu_write_file(pol, ptext, strlen(ptext)), 0);
	free(ptext);
	const char *serve[] = {"serve", "--data", d, "--listen", "127.0.0.1:0",
			       "--policy", pol, NULL};
	rc = lh_run(serve, &out, &err);
	ck_assert_msg(rc == 1, "serve without a store: exit %d (%s)", rc, err);
	free(out);
	free(err);
	free(d);
	free(pol);

	/* serve without --policy, with a missing or bad policy file, and
	 * with the old --validator: refused at startup, nothing served. */
	lh_server s;
	ck_assert_int_eq(lh_init(&s, ORIGIN), 0);
	char *missing = tu_strf("%s/nope.json", s.dir);
	char *badp = tu_strf("%s/bad.json", s.dir);
	static const char badtext[] =
		"{\"ftlog_policy\":1,\"keys\":[{\"key\":\"x\","
		"\"kinds\":[\"relase\"]}]}\n";
	ck_assert_int_eq(tu_write_file(badp, badtext, strlen(badtext)), 0);
	const char *nopol[] = {"serve", "--data", s.data, "--listen",
			       "127.0.0.1:0", NULL};
	const char *misspol[] = {"serve",    "--data",	    s.data,
				 "--listen", "127.0.0.1:0", "--policy",
				 missing,    NULL};
	const char *badpol[] = {"serve",    "--data",	   s.data,
				"--listen", "127.0.0.1:0", "--policy",
				badp,	    NULL};
	const char *val[] = {"serve",	 "--data",	s.data,
			     "--listen", "127.0.0.1:0", "--policy",
			     s.policy,	 "--validator", "test",
			     NULL};
	const char *const *refused[] = {nopol, misspol, badpol, val};
	static const char *const what[] = {"no --policy", "a missing policy",
					   "a bad policy", "--validator test"};
	for (size_t i = 0; i < NELEM(refused); i++) {
		rc = lh_run(refused[i], &out, &err);
		ck_assert_msg(rc >= 1 && rc < 128, "serve with %s: exit %d (%s)",
			      what[i], rc, err);
		ck_assert_msg(err != NULL && strlen(err) > 1,
			      "serve with %s: no reason on stderr", what[i]);
		if (i == 1 || i == 2) {
			const char *p = i == 1 ? missing : badp;
			ck_assert_msg(strstr(err, p) != NULL,
				      "serve with %s: the reason does not name "
				      "%s: %s",
				      what[i], p, err);
		}
		free(out);
		free(err);
	}
	free(missing);
	free(badp);
	lh_cleanup(&s);
	tu_rmtree(tmp);
	free(tmp);
}
END_TEST


/* ---- Tests: the config file. -------------------------------------------- */

START_TEST(test_config_file)
{
	lh_server s;
	char *out = NULL, *err = NULL;
	uint8_t *body = NULL;
	size_t blen = 0;
	lh_resp r;
	int rc;

	ck_assert_int_eq(lh_init(&s, "config.example/log"), 0);
	ck_assert_int_eq(lh_event(event_number("config", 0), 1500, &body,
				  &blen),
			 0);
	char *conf = tu_strf("%s/ftlogd.conf", s.dir);
	const char text[] = "# ftlogd settings\n"
			    "\n"
			    "batch-interval = 20ms\n"
			    "max-body-bytes = 1000\n"
			    "log-level = debug\n";
	ck_assert_int_eq(tu_write_file(conf, text, sizeof text - 1), 0);

	/* The file applies: bodies over 1000 bytes get 413. */
	const char *a1[] = {"--config", conf, NULL};
	ck_assert_int_eq(lh_start(&s, 0, a1), 0);
	expect_error(s.port, "POST", "/add", body, blen, 413);
	ck_assert_int_eq(lh_stop(&s), 0);

	/* A flag wins over the file. */
	const char *a2[] = {"--config", conf, "--max-body-bytes", "2000", NULL};
	ck_assert_int_eq(lh_start(&s, 0, a2), 0);
	ck_assert_int_eq(lh_http(s.port, "POST", "/add", body, blen, &r), 0);
	ck_assert_msg(r.status == 200, "status %d (%s)", r.status,
		      (char *)r.body);
	lh_resp_free(&r);
	ck_assert_int_eq(lh_stop(&s), 0);
	free(body);

	/* A bad line: exit 1 at startup, "FILE:LINE: reason". */
	const char bad[] = "batch-interval = 20ms\nbatch-interval = 30ms\n";
	ck_assert_int_eq(tu_write_file(conf, bad, sizeof bad - 1), 0);
	const char *serve[] = {"serve",	      "--data",	  s.data,
			       "--listen",    "127.0.0.1:0", "--policy",
			       s.policy,      "--config", conf,
			       NULL};
	rc = lh_run(serve, &out, &err);
	ck_assert_msg(rc == 1, "bad config: exit %d", rc);
	char *where = tu_strf("%s:2:", conf);
	ck_assert_msg(strstr(err, where) != NULL, "no \"%s\" in: %s", where,
		      err);
	free(where);
	free(out);
	free(err);

	/* An unknown key is refused too. */
	const char unknown[] = "batch-intervall = 20ms\n";
	ck_assert_int_eq(tu_write_file(conf, unknown, sizeof unknown - 1), 0);
	rc = lh_run(serve, &out, &err);
	ck_assert_msg(rc == 1, "unknown key: exit %d", rc);
	free(out);
	free(err);
	free(conf);
	ck_assert_int_eq(lh_log_clean(&s), 0);
	lh_cleanup(&s);
}
END_TEST

/* ---- Tests: an empty log. ---------------------------------------------- */

START_TEST(test_empty_log)
{
	lh_server s;
	uint64_t size = 99;
	uint8_t root[32];
	lh_resp r, h;
	char v[256];
	ft_hash empty;

	ck_assert_int_eq(ft_init(), 0);
	start_log(&s, 0, fast_args);
	ck_assert_msg(lh_checkpoint(&s, &size, root, &r) == 0,
		      "GET /checkpoint at size 0: status %d, or it does not "
		      "verify:\n%s",
		      r.status, (char *)r.body);
	ck_assert_uint_eq(size, 0);
	ft_merkle_empty_root(&empty);
	ck_assert_mem_eq(root, empty.b, 32);
	ck_assert_int_eq(lh_header(&r, "Content-Type", v, sizeof v), 0);
	ck_assert_str_eq(v, "text/plain; charset=utf-8");
	ck_assert_int_eq(lh_header(&r, "Cache-Control", v, sizeof v), 0);
	ck_assert_str_eq(v, "public, max-age=2");

	/* HEAD: no body, the GET's Content-Length. On a keep-alive
	 * connection, so that a stray body would garble the next answer. */
	lh_conn c;
	ck_assert_int_eq(lh_conn_open(&c, s.port), 0);
	ck_assert_int_eq(lh_conn_request(&c, "HEAD", "/checkpoint", NULL, 0, &h),
			 0);
	ck_assert_int_eq(h.status, 200);
	ck_assert_uint_eq(h.body_len, 0);
	ck_assert_int_eq(lh_header(&h, "Content-Length", v, sizeof v), 0);
	char *want = tu_strf("%zu", r.body_len);
	ck_assert_str_eq(v, want);
	free(want);
	lh_resp_free(&h);
	expect_status(&c, "GET", "/healthz", 200, &h);
	ck_assert_uint_eq(h.body_len, 3);
	ck_assert_str_eq((char *)h.body, "ok\n");
	lh_resp_free(&h);
	expect_status(&c, "GET", "/checkpoint", 200, &h);
	ck_assert_uint_eq(h.body_len, r.body_len);
	ck_assert_mem_eq(h.body, r.body, r.body_len);
	lh_resp_free(&h);
	lh_conn_close(&c);
	lh_resp_free(&r);

	check_metrics_size(&s, 0);

	/* Nothing to prove in an empty tree, and no tiles. */
	expect_error(s.port, "GET", "/proof/inclusion?index=0&size=0", NULL, 0,
		     400);
	expect_error(s.port, "GET", "/proof/inclusion?index=0&size=1", NULL, 0,
		     400);
	expect_error(s.port, "GET", "/proof/consistency?old=1&new=1", NULL, 0,
		     400);
	expect_error(s.port, "GET", "/proof/consistency?old=0&new=0", NULL, 0,
		     400);
	expect_error(s.port, "GET", "/tile/0/000", NULL, 0, 404);
	expect_error(s.port, "GET", "/tile/0/000.p/1", NULL, 0, 404);
	expect_error(s.port, "GET", "/tile/entries/000.p/1", NULL, 0, 404);

	finish(&s);
}
END_TEST

/* ---- Tests: appending. ------------------------------------------------- */

START_TEST(test_append)
{
	lh_server s;
	struct model m = {0};
	ft_hash root;

	ck_assert_int_eq(ft_init(), 0);
	start_log(&s, 0, fast_args);
	populate(&s, &m, "append", 0, 20, 0, 0);
	/* Sequential: the indexes are 0..19 in order. */
	for (uint64_t i = 0; i < 20; i++) {
		size_t len = 0;
		uint8_t *e = make_entry("append", (unsigned)i, &len);
		ck_assert_msg(i < m.cap && m.ent[i] != NULL && m.elen[i] == len &&
				      memcmp(m.ent[i], e, len) == 0,
			      "sequential entry %" PRIu64 " is not at index %" PRIu64,
			      i, i);
		free(e);
	}
	populate(&s, &m, "append", 20, 0, 8, 40);
	uint64_t n = current(&s, &m, &root);
	ck_assert_uint_eq(n, 20 + 8 * 40);
	check_seen_roots(&m);

	/* Every checkpoint handed out is consistent with the current one,
	 * by the server's own consistency proofs. */
	lh_conn c;
	ck_assert_int_eq(lh_conn_open(&c, s.port), 0);
	for (size_t i = 0; i < m.ncps; i++) {
		uint64_t old = m.cps[i].size;
		char *path = tu_strf("/proof/consistency?old=%" PRIu64
				  "&new=%" PRIu64,
				  old, n);
		lh_resp r;
		ft_hash p[FT_PROOF_MAX_CONSISTENCY];
		size_t pn = 0;
		expect_status(&c, "GET", path, 200, &r);
		ck_assert_msg(lh_parse_hashes(r.body, r.body_len, p, NELEM(p),
					      &pn) == 0,
			      "%s: bad answer \"%s\"", path, (char *)r.body);
		int rc = ft_proof_verify_consistency(old, n, m.cps[i].root.b, 32,
						     root.b, 32, p[0].b,
						     pn * 32);
		ck_assert_msg(rc == 0, "%s does not verify: %s", path,
			      ft_errname(rc));
		lh_resp_free(&r);
		free(path);
	}
	lh_conn_close(&c);

	check_metrics_size(&s, n);
	finish(&s);
	model_free(&m);
}
END_TEST

START_TEST(test_duplicates)
{
	lh_server s;
	struct model m = {0};
	ft_hash root;
	uint64_t idx, idx2, size, size2;
	uint8_t r2[32];
	lh_resp r;

	ck_assert_int_eq(ft_init(), 0);
	start_log(&s, 0, fast_args);
	populate(&s, &m, "dup", 0, 5, 0, 0);
	uint64_t n = current(&s, &m, &root);
	ck_assert_uint_eq(n, 5);

	/* Re-submitting an old entry: same index, the tree does not grow. */
	for (uint64_t i = 0; i < 5; i++) {
		ck_assert_int_eq(lh_add(s.port, m.ent[i], m.elen[i], &idx, &r),
				 0);
		int rc = lh_check_tlog_proof(&s, r.body, r.body_len, m.ent[i],
					     m.elen[i], &idx2, &size, r2, NULL,
					     NULL);
		ck_assert_msg(rc == 0, "duplicate's tlog-proof: %s",
			      ft_errname(rc));
		ck_assert_uint_eq(idx, i);
		ck_assert_uint_eq(idx2, i);
		ck_assert_uint_eq(size, n);
		ck_assert_mem_eq(r2, root.b, 32);
		lh_resp_free(&r);
	}
	ck_assert_int_eq(lh_checkpoint(&s, &size2, r2, NULL), 0);
	ck_assert_uint_eq(size2, n);

	/* The same new entry from four connections at once: one index, and
	 * the tree grows by exactly one. */
	size_t duplen = 0;
	uint8_t *dup = make_entry("dup, four times at once", 0, &duplen);
	lh_conn c[4];
	for (int i = 0; i < 4; i++) {
		ck_assert_int_eq(lh_conn_open(&c[i], s.port), 0);
	}
	char *req = tu_strf("POST /add HTTP/1.1\r\nHost: 127.0.0.1:%d\r\n"
			 "Content-Length: %zu\r\n\r\n%s",
			 s.port, duplen, (const char *)dup);
	for (int i = 0; i < 4; i++) {
		ck_assert_int_eq(lh_conn_send(&c[i], req, strlen(req)), 0);
	}
	free(req);
	uint64_t first = UINT64_MAX;
	for (int i = 0; i < 4; i++) {
		ck_assert_int_eq(lh_conn_read_response(&c[i], &r, 30000), 0);
		ck_assert_msg(r.status == 200, "status %d: %s", r.status,
			      (char *)r.body);
		int rc = lh_check_tlog_proof(&s, r.body, r.body_len, dup,
					     duplen, &idx, &size, r2, NULL,
					     NULL);
		ck_assert_msg(rc == 0, "tlog-proof: %s", ft_errname(rc));
		if (first == UINT64_MAX) {
			first = idx;
		}
		ck_assert_msg(idx == first, "one entry, indexes %" PRIu64
					    " and %" PRIu64,
			      first, idx);
		model_cp(&m, size, r2);
		lh_resp_free(&r);
		lh_conn_close(&c[i]);
	}
	ck_assert_uint_eq(first, n);
	model_put(&m, first, dup, duplen);
	free(dup);
	uint64_t n2 = current(&s, &m, &root);
	ck_assert_uint_eq(n2, n + 1);
	check_seen_roots(&m);
	check_metrics_size(&s, n2);

	finish(&s);
	model_free(&m);
}
END_TEST

/* POST /add: the status, a one-line body starting with `rule`. */
static void expect_refused(int port, const void *body, size_t len,
			   int status, const char *rule)
{
	lh_resp r;

	ck_assert_msg(lh_http(port, "POST", "/add", body, len, &r) == 0,
		      "POST /add: no answer");
	ck_assert_msg(r.status == status, "POST /add: status %d, want %d (%s)",
		      r.status, status, (char *)r.body);
	ck_assert_msg(r.body_len >= 2 && r.body[r.body_len - 1] == '\n' &&
			      memchr(r.body, '\n', r.body_len - 1) == NULL,
		      "POST /add: error body is not one line: \"%s\"",
		      (char *)r.body);
	if (rule != NULL) {
		expect_rule(&r, rule);
	}
	lh_resp_free(&r);
}

/* The entry is not in the first `size` entries of the log. */
static void expect_not_logged(const lh_server *s, const void *e, size_t len,
			      uint64_t size)
{
	ft_hash leaf;
	char hex[65];

	ft_merkle_leaf_hash(e, len, &leaf);
	lh_hex(leaf.b, 32, hex);
	char *path = tu_strf("/proof/inclusion?leaf=%s&size=%" PRIu64, hex,
			     size);
	expect_error(s->port, "GET", path, NULL, 0, 404);
	free(path);
}

START_TEST(test_rejections)
{
	lh_server s;
	struct model m = {0};
	ft_hash root;
	lh_resp r;
	uint64_t idx;

	ck_assert_int_eq(ft_init(), 0);
	start_log(&s, 0, fast_args);
	populate(&s, &m, "rej", 0, 3, 0, 0);
	uint64_t n = current(&s, &m, &root);

	/* A well-formed event signed by a key the policy does not know. */
	ft_skey other;
	uint8_t *bad = NULL;
	size_t badlen = 0;
	ck_assert_int_eq(lh_key("ftlog-stranger", 0x17, &other), 0);
	ck_assert_int_eq(lh_event_key(&other, event_number("rej", 100), 0,
				      &bad, &badlen),
			 0);
	ft_skey_wipe(&other);
	expect_refused(s.port, bad, badlen, 403, "unknown-key:");
	/* Not JSON; JSON but not an envelope. */
	static const char notjson[] = "this is not JSON";
	expect_refused(s.port, notjson, strlen(notjson), 400, "json:");
	static const char trailing[] = "{}{}";
	expect_refused(s.port, trailing, strlen(trailing), 400, "json:");
	static const char notenv[] = "{\"payload\":\"e30=\"}";
	expect_refused(s.port, notenv, strlen(notenv), 400, NULL);
	/* One of ours with its signature changed: it does not verify. */
	size_t tlen = 0;
	uint8_t *tampered = make_entry("rej", 101, &tlen);
	uint8_t *sg = (uint8_t *)strstr((char *)tampered, "\"sig\":\"");
	ck_assert_ptr_nonnull(sg);
	sg += 7;
	*sg = *sg == 'A' ? 'B' : 'A';
	expect_refused(s.port, tampered, tlen, 403, "signature:");
	/* Empty entry. */
	expect_error(s.port, "POST", "/add", "", 0, 400);
	/* One byte over the HTTP body limit (65535 by default): refused by
	 * the HTTP layer. */
	uint8_t *big = NULL;
	ck_assert_int_eq(lh_event_exact(event_number("rej", 102), 65536, &big),
			 0);
	expect_error(s.port, "POST", "/add", big, 65536, 413);
	free(big);
	/* No length at all. */
	lh_conn c;
	ck_assert_int_eq(lh_conn_open(&c, s.port), 0);
	char *req = tu_strf("POST /add HTTP/1.1\r\nHost: 127.0.0.1:%d\r\n"
			 "Connection: close\r\n\r\n",
			 s.port);
	ck_assert_int_eq(lh_conn_send(&c, req, strlen(req)), 0);
	free(req);
	ck_assert_int_eq(lh_conn_read_response(&c, &r, 30000), 0);
	ck_assert_msg(r.status == 411, "POST /add without a length: %d (%s)",
		      r.status, (char *)r.body);
	ck_assert(r.body_len >= 2 && r.body[r.body_len - 1] == '\n' &&
		  memchr(r.body, '\n', r.body_len - 1) == NULL);
	lh_resp_free(&r);
	lh_conn_close(&c);

	/* Nothing was stored. */
	uint64_t size;
	uint8_t r2[32];
	ck_assert_int_eq(lh_checkpoint(&s, &size, r2, NULL), 0);
	ck_assert_uint_eq(size, n);
	ck_assert_mem_eq(r2, root.b, 32);
	expect_not_logged(&s, bad, badlen, n);
	expect_not_logged(&s, tampered, tlen, n);
	free(bad);
	free(tampered);

	/* The largest entry is fine, and a bundle holds it. */
	ck_assert_int_eq(lh_event_exact(event_number("rej", 103), 65535, &big),
			 0);
	ck_assert_int_eq(lh_add(s.port, big, 65535, &idx, &r), 0);
	uint64_t psize;
	ck_assert_int_eq(lh_check_tlog_proof(&s, r.body, r.body_len, big, 65535,
					     &idx, &psize, r2, NULL, NULL),
			 0);
	ck_assert_uint_eq(idx, n);
	lh_resp_free(&r);
	model_put(&m, idx, big, 65535);
	free(big);
	/* And a small one after it. */
	size_t flen = 0;
	uint8_t *fine = make_entry("rej", 104, &flen);
	ck_assert_int_eq(lh_conn_open(&c, s.port), 0);
	(void)submit(&s, &c, &m, fine, flen);
	lh_conn_close(&c);
	free(fine);

	/* The whole big entry comes back in its bundle. */
	uint64_t n2 = current(&s, &m, &root);
	ck_assert_uint_eq(n2, n + 2);
	char *bp = tu_strf("/tile/entries/000.p/%" PRIu64, n2);
	ck_assert_int_eq(lh_http(s.port, "GET", bp, NULL, 0, &r), 0);
	ck_assert_int_eq(r.status, 200);
	ck_assert_int_eq(ft_bundle_check(r.body, r.body_len, (unsigned)n2), 0);
	ft_bundle_iter it;
	const uint8_t *e;
	size_t el;
	ft_bundle_iter_init(&it, r.body, r.body_len);
	for (uint64_t i = 0; i < n2; i++) {
		ck_assert_int_eq(ft_bundle_next(&it, &e, &el), 1);
		ck_assert_uint_eq(el, m.elen[i]);
		ck_assert_mem_eq(e, m.ent[i], el);
	}
	lh_resp_free(&r);
	free(bp);

	/* The policy's entry limit: restarted with max_entry_bytes 2000,
	 * an entry of 2001 bytes gets 413 "too-large:", one of 2000 is
	 * logged. */
	ck_assert_int_eq(lh_stop(&s), 0);
	char *pol = lh_default_policy("\"max_entry_bytes\":2000");
	ck_assert_ptr_nonnull(pol);
	ck_assert_int_eq(lh_write_policy(&s, pol), 0);
	free(pol);
	ck_assert_msg(lh_start(&s, 0, fast_args) == 0, "restart failed");
	ck_assert_int_eq(lh_event_exact(event_number("rej", 105), 2001, &big),
			 0);
	expect_refused(s.port, big, 2001, 413, "too-large:");
	free(big);
	ck_assert_int_eq(lh_event_exact(event_number("rej", 106), 2000, &big),
			 0);
	ck_assert_int_eq(lh_conn_open(&c, s.port), 0);
	(void)submit(&s, &c, &m, big, 2000);
	lh_conn_close(&c);
	free(big);
	ck_assert_uint_eq(current(&s, &m, &root), n2 + 1);
	check_seen_roots(&m);

	finish(&s);
	model_free(&m);
}
END_TEST

/*
 * The policy is reloaded on SIGHUP: with the test key taken out of it,
 * the test key's events are refused (403 "unknown-key:"), and a key put
 * in is accepted; entries logged before stay.
 */
START_TEST(test_policy_reload)
{
	lh_server s;
	struct model m = {0};
	ft_hash root;
	ft_skey other;
	ft_vkey ov;
	char ovs[FT_KEY_STR_MAX + 1];
	size_t ovl = 0;

	ck_assert_int_eq(ft_init(), 0);
	start_log(&s, 0, fast_args);
	populate(&s, &m, "reload", 0, 3, 0, 0);
	uint64_t n = current(&s, &m, &root);

	ck_assert_int_eq(lh_key("ftlog-other", 0x23, &other), 0);
	ft_skey_public(&other, &ov);
	ck_assert_int_eq(ft_vkey_format(&ov, ovs, sizeof ovs, &ovl), 0);
	char *pol = tu_strf("{\"ftlog_policy\":1,\"keys\":[{\"key\":\"%s\","
			    "\"kinds\":[\"build\"]}]}\n",
			    ovs);
	ck_assert_int_eq(lh_write_policy(&s, pol), 0);
	free(pol);
	ck_assert_int_eq(kill(s.pid, SIGHUP), 0);

	/* Wait for the reload: the test key's events become unknown. The
	 * ones accepted meanwhile are logged and go into the model. */
	int refused = 0;
	lh_conn c;
	ck_assert_int_eq(lh_conn_open(&c, s.port), 0);
	for (unsigned i = 1000; i < 1400 && !refused; i++) {
		size_t len = 0;
		uint8_t *e = make_entry("reload", i, &len);
		lh_resp r;
		uint64_t idx = 0;
		if (lh_conn_add(&c, e, len, &idx, &r) == 0) {
			model_put(&m, idx, e, len);
		} else {
			ck_assert_msg(r.status == 403, "status %d (%s)",
				      r.status, (char *)r.body);
			expect_rule(&r, "unknown-key:");
			refused = 1;
		}
		lh_resp_free(&r);
		free(e);
		tu_sleep_ms(25);
	}
	ck_assert_msg(refused, "the policy was not reloaded after SIGHUP");
	/* The new key's events are logged. */
	for (unsigned i = 2000; i < 2003; i++) {
		uint8_t *e = NULL;
		size_t len = 0;
		ck_assert_int_eq(lh_event_key(&other, event_number("reload", i),
					      0, &e, &len),
				 0);
		(void)submit(&s, &c, &m, e, len);
		free(e);
	}
	ft_skey_wipe(&other);
	lh_conn_close(&c);
	uint64_t n2 = current(&s, &m, &root);
	ck_assert_uint_ge(n2, n + 3);
	check_seen_roots(&m);

	/* A policy that does not parse: the old one stays (the test key is
	 * still unknown), and the server keeps running. */
	ck_assert_int_eq(lh_write_policy(&s, "{\"ftlog_policy\":1,"), 0);
	ck_assert_int_eq(kill(s.pid, SIGHUP), 0);
	tu_sleep_ms(300);
	ck_assert(lh_alive(&s));
	size_t len = 0;
	uint8_t *e = make_entry("reload", 3000, &len);
	expect_refused(s.port, e, len, 403, "unknown-key:");
	free(e);

	finish(&s);
	model_free(&m);
}
END_TEST

/*
 * A full queue: with one batch every 2 s and room for one submission,
 * ten submissions that arrive together mostly get 503 with Retry-After,
 * and only the ones answered 200 are logged.
 */
START_TEST(test_queue_full)
{
	static const char *const args[] = {"--batch-interval", "2s",
					   "--queue-size", "1", NULL};
	lh_server s;
	struct model m = {0};
	lh_conn c[10];
	lh_resp r;
	ft_hash root;
	unsigned ok = 0, busy = 0;

	ck_assert_int_eq(ft_init(), 0);
	start_log(&s, 0, args);
	for (int i = 0; i < 10; i++) {
		ck_assert_int_eq(lh_conn_open(&c[i], s.port), 0);
	}
	uint8_t *ev[10];
	size_t evlen[10];
	for (int i = 0; i < 10; i++) {
		ev[i] = make_entry("queue", (unsigned)i, &evlen[i]);
	}
	for (int i = 0; i < 10; i++) {
		char *req = tu_strf("POST /add HTTP/1.1\r\nHost: 127.0.0.1:%d\r\n"
				 "Content-Length: %zu\r\n\r\n%s",
				 s.port, evlen[i], (const char *)ev[i]);
		ck_assert_int_eq(lh_conn_send(&c[i], req, strlen(req)), 0);
		free(req);
	}
	for (int i = 0; i < 10; i++) {
		char v[64];
		ck_assert_int_eq(lh_conn_read_response(&c[i], &r, 30000), 0);
		if (r.status == 200) {
			uint64_t idx, size;
			uint8_t rt[32];
			int rc = lh_check_tlog_proof(&s, r.body, r.body_len,
						     ev[i], evlen[i], &idx,
						     &size, rt, NULL, NULL);
			ck_assert_msg(rc == 0, "tlog-proof: %s", ft_errname(rc));
			model_put(&m, idx, ev[i], evlen[i]);
			ok++;
		} else {
			ck_assert_msg(r.status == 503, "status %d (%s)", r.status,
				      (char *)r.body);
			ck_assert_msg(lh_header(&r, "Retry-After", v, sizeof v) ==
					      0,
				      "503 without Retry-After:\n%s", r.head);
			ck_assert_msg(r.body_len >= 2 &&
					      r.body[r.body_len - 1] == '\n' &&
					      memchr(r.body, '\n',
						     r.body_len - 1) == NULL,
				      "503 body is not one line");
			busy++;
		}
		lh_resp_free(&r);
		lh_conn_close(&c[i]);
		free(ev[i]);
	}
	ck_assert_msg(ok >= 1, "no submission was accepted");
	ck_assert_msg(busy >= 1, "a queue of one took %u submissions", ok);
	ck_assert_uint_eq(current(&s, &m, &root), ok);
	finish(&s);
	model_free(&m);
}
END_TEST

/* ---- Tests: HTTP errors. ----------------------------------------------- */

/* A 405 whose Allow header names `allow`. */
static void expect_405(int port, const char *method, const char *path,
		       const char *allow)
{
	lh_resp r;
	char v[256];
	const char *body = strcmp(method, "POST") == 0 ||
					   strcmp(method, "PUT") == 0
				   ? "x"
				   : NULL;

	ck_assert_msg(lh_http(port, method, path, body, body ? 1 : 0, &r) == 0,
		      "%s %s: no answer", method, path);
	ck_assert_msg(r.status == 405, "%s %s: status %d, want 405 (%s)",
		      method, path, r.status, (char *)r.body);
	ck_assert_msg(lh_header(&r, "Allow", v, sizeof v) == 0,
		      "%s %s: 405 without Allow", method, path);
	ck_assert_msg(strstr(v, allow) != NULL, "%s %s: Allow \"%s\" lacks %s",
		      method, path, v, allow);
	ck_assert_msg(r.body_len >= 2 && r.body[r.body_len - 1] == '\n' &&
			      memchr(r.body, '\n', r.body_len - 1) == NULL,
		      "%s %s: error body is not one line", method, path);
	lh_resp_free(&r);
}

START_TEST(test_http_errors)
{
	lh_server s;
	struct model m = {0};

	ck_assert_int_eq(ft_init(), 0);
	start_log(&s, 0, fast_args);
	populate(&s, &m, "err", 0, 2, 0, 0);

	static const char *const notfound[] = {
		"/", "/nope", "/checkpointx", "/proof/nope", "/tiles/0/000",
		"/add/x", "/healthzz", "/metrics/x",
	};
	for (size_t i = 0; i < NELEM(notfound); i++) {
		expect_error(s.port, "GET", notfound[i], NULL, 0, 404);
	}
	expect_405(s.port, "POST", "/checkpoint", "GET");
	expect_405(s.port, "PUT", "/checkpoint", "GET");
	expect_405(s.port, "DELETE", "/checkpoint", "GET");
	expect_405(s.port, "GET", "/add", "POST");
	expect_405(s.port, "PUT", "/add", "POST");
	expect_405(s.port, "POST", "/healthz", "GET");
	expect_405(s.port, "POST", "/metrics", "GET");
	expect_405(s.port, "POST", "/proof/inclusion?index=0&size=1", "GET");
	expect_405(s.port, "POST", "/proof/consistency?old=1&new=1", "GET");
	expect_405(s.port, "POST", "/tile/0/000.p/2", "GET");
	expect_405(s.port, "DELETE", "/tile/entries/000.p/2", "GET");

	/* The log is untouched and still answers on a keep-alive
	 * connection after errors on it. */
	lh_conn c;
	lh_resp r;
	ck_assert_int_eq(lh_conn_open(&c, s.port), 0);
	expect_status(&c, "GET", "/nope", 404, NULL);
	expect_status(&c, "GET", "/tile/0/1", 400, NULL);
	expect_status(&c, "GET", "/healthz", 200, &r);
	ck_assert_str_eq((char *)r.body, "ok\n");
	lh_resp_free(&r);
	lh_conn_close(&c);
	ft_hash root;
	ck_assert_uint_eq(current(&s, &m, &root), 2);

	finish(&s);
	model_free(&m);
}
END_TEST

/* ---- Tiles and bundles. ------------------------------------------------- */

struct tile_list {
	ft_tile *v;
	size_t n, cap;
};

static int collect_tile(void *ctx, const ft_tile *t)
{
	struct tile_list *l = ctx;

	if (l->n == l->cap) {
		l->cap = l->cap ? 2 * l->cap : 64;
		l->v = realloc(l->v, l->cap * sizeof *l->v);
		if (l->v == NULL) {
			return FT_ENOMEM;
		}
	}
	l->v[l->n++] = *t;
	return 0;
}

/* Every tile and bundle of the tree of size n. */
static void tiles_of(uint64_t n, struct tile_list *l)
{
	memset(l, 0, sizeof *l);
	ck_assert_int_eq(ft_tile_foreach_new(0, n, collect_tile, l), 0);
	/* ft_tile_foreach_new(0, n) lists the tiles that exist at n. */
	for (size_t i = 0; i < l->n; i++) {
		ft_tile t;
		ck_assert_int_eq(ft_tile_at(n, l->v[i].level, l->v[i].index, &t),
				 0);
		ck_assert_uint_eq(t.width, l->v[i].width);
	}
}

static char *tile_url(int level, uint64_t index, unsigned width)
{
	ft_tile t = {level, index, width};
	char p[FT_TILE_PATH_MAX];
	size_t len;

	ck_assert_int_eq(ft_tile_path(&t, p, sizeof p, &len), 0);
	return tu_strf("/%s", p);
}

/* What the tile (level, index) of width w must hold, from the model. */
static uint8_t *expected_tile(const struct model *m, int level, uint64_t index,
			      unsigned w, size_t *len)
{
	uint8_t *b = malloc(w * (size_t)(FT_ENTRY_MAX + 2) + 1);
	size_t n = 0;

	ck_assert_ptr_nonnull(b);
	for (unsigned i = 0; i < w; i++) {
		uint64_t k = index * FT_TILE_WIDTH + i;
		if (level == FT_TILE_ENTRIES) {
			ck_assert_uint_lt(k, m->built);
			ck_assert_int_eq(ft_bundle_append(b, w * (size_t)(FT_ENTRY_MAX + 2),
							  &n, m->ent[k],
							  m->elen[k]),
					 0);
		} else {
			unsigned l = (unsigned)level * FT_TILE_HEIGHT;
			ck_assert_uint_lt(k, m->nn[l]);
			memcpy(b + n, m->lv[l][k].b, FT_HASH_LEN);
			n += FT_HASH_LEN;
		}
	}
	*len = n;
	return b;
}

/* GET a tile: 200, the immutable caching headers, and the model's bytes. */
static void check_tile(lh_conn *c, const struct model *m, int level,
		       uint64_t index, unsigned width)
{
	char *url = tile_url(level, index, width);
	lh_resp r;
	char v[256];
	size_t len;

	expect_status(c, "GET", url, 200, &r);
	ck_assert_int_eq(lh_header(&r, "Content-Type", v, sizeof v), 0);
	ck_assert_str_eq(v, "application/octet-stream");
	ck_assert_int_eq(lh_header(&r, "Cache-Control", v, sizeof v), 0);
	ck_assert_str_eq(v, "public, max-age=31536000, immutable");
	uint8_t *want = expected_tile(m, level, index, width, &len);
	ck_assert_msg(r.body_len == len && memcmp(r.body, want, len) == 0,
		      "%s: %zu bytes that are not the tile (%zu bytes)", url,
		      r.body_len, len);
	free(want);
	lh_resp_free(&r);
	free(url);
}

/*
 * Read back every tile and bundle of the tree of size n (root) over HTTP:
 * each must equal the model's; and the tree rebuilt from the bundles
 * alone must have the checkpoint's root.
 */
static void read_back(const lh_server *s, const struct model *m, uint64_t n,
		      const ft_hash *root)
{
	struct tile_list l;
	lh_conn c;
	ft_tree t;

	tiles_of(n, &l);
	ck_assert_int_eq(lh_conn_open(&c, s->port), 0);
	for (size_t i = 0; i < l.n; i++) {
		check_tile(&c, m, l.v[i].level, l.v[i].index, l.v[i].width);
	}
	ft_tree_init(&t);
	for (uint64_t b = 0; b * FT_TILE_WIDTH < n; b++) {
		unsigned w = n - b * FT_TILE_WIDTH >= FT_TILE_WIDTH
				     ? FT_TILE_WIDTH
				     : (unsigned)(n % FT_TILE_WIDTH);
		char *url = tile_url(FT_TILE_ENTRIES, b, w);
		lh_resp r;
		expect_status(&c, "GET", url, 200, &r);
		ck_assert_int_eq(ft_bundle_check(r.body, r.body_len, w), 0);
		ft_bundle_iter it;
		const uint8_t *e;
		size_t el;
		ft_bundle_iter_init(&it, r.body, r.body_len);
		while (ft_bundle_next(&it, &e, &el) == 1) {
			ft_hash leaf;
			ft_merkle_leaf_hash(e, el, &leaf);
			ck_assert_int_eq(ft_tree_append(&t, &leaf, NULL, NULL), 0);
		}
		lh_resp_free(&r);
		free(url);
	}
	ck_assert_uint_eq(t.size, n);
	ft_hash got;
	ft_tree_root(&t, &got);
	ck_assert_msg(memcmp(got.b, root->b, 32) == 0,
		      "the tree rebuilt from the served bundles does not have "
		      "the checkpoint's root (size %" PRIu64 ")",
		      n);
	lh_conn_close(&c);
	free(l.v);
}

START_TEST(test_tiles)
{
	lh_server s;
	struct model m = {0};
	ft_hash root;
	lh_conn c;
	lh_resp r;

	ck_assert_int_eq(ft_init(), 0);
	start_log(&s, 0, fast_args);
	populate(&s, &m, "tiles", 0, 4, 6, 50);
	uint64_t n = current(&s, &m, &root);
	ck_assert_uint_eq(n, 304);
	read_back(&s, &m, n, &root);

	unsigned pw = (unsigned)(n % 256); /* 48 */
	ck_assert_int_eq(lh_conn_open(&c, s.port), 0);
	/* A full tile is served at every narrower width too. */
	for (unsigned w = 1; w < 256; w++) {
		check_tile(&c, &m, 0, 0, w);
	}
	for (unsigned w = 1; w < 256; w += 17) {
		check_tile(&c, &m, FT_TILE_ENTRIES, 0, w);
	}
	/* The partial tile at every width up to the one that exists. */
	for (unsigned w = 1; w <= pw; w++) {
		check_tile(&c, &m, 0, 1, w);
		check_tile(&c, &m, FT_TILE_ENTRIES, 1, w);
	}
	/* Level 1 holds one hash: the root of the first full tile. */
	check_tile(&c, &m, 1, 0, 1);
	expect_status(&c, "GET", "/tile/0/000", 200, &r);
	ft_hash th;
	ck_assert_int_eq(ft_tile_hash(r.body, r.body_len, &th), 0);
	lh_resp_free(&r);
	expect_status(&c, "GET", "/tile/1/000.p/1", 200, &r);
	ck_assert_uint_eq(r.body_len, 32);
	ck_assert_mem_eq(r.body, th.b, 32);
	lh_resp_free(&r);

	/* Tiles that do not exist (yet): 404. */
	const unsigned wider[] = {pw + 1, pw + 2, 200, 255};
	for (size_t i = 0; i < NELEM(wider); i++) {
		char *u = tile_url(0, 1, wider[i]);
		expect_status(&c, "GET", u, 404, NULL);
		free(u);
		u = tile_url(FT_TILE_ENTRIES, 1, wider[i]);
		expect_status(&c, "GET", u, 404, NULL);
		free(u);
	}
	static const char *const absent[] = {
		"/tile/0/001",	     "/tile/entries/001", "/tile/0/002",
		"/tile/0/002.p/1",   "/tile/entries/002.p/1",
		"/tile/1/000",	     "/tile/1/000.p/2",	 "/tile/1/001.p/1",
		"/tile/2/000.p/1",   "/tile/63/000",	 "/tile/0/x001/000",
		"/tile/entries/x001/000.p/5",
	};
	for (size_t i = 0; i < NELEM(absent); i++) {
		ft_tile t;
		ck_assert_int_eq(ft_tile_parse_path(absent[i], strlen(absent[i]),
						    &t),
				 0);
		expect_status(&c, "GET", absent[i], 404, NULL);
	}
	lh_conn_close(&c);
	for (size_t i = 0; i < 3; i++) {
		expect_error(s.port, "GET", absent[i], NULL, 0, 404);
	}

	/* Malformed tile paths: 400 (each one refused by the strict parser
	 * of libftmerkle, so the test itself is right). */
	static const char *const bad[] = {
		"/tile/0/1",	     "/tile/0/0000",	  "/tile/0/000.p/0",
		"/tile/0/000.p/256", "/tile/0/000.p/01",  "/tile/64/000",
		"/tile/00/000",	     "/tile/0/x000",	  "/tile/0/000/",
		"/tile/a/000",	     "/tile/entries/000.p/", "/tile/0/000.p/1/",
		"/tile/0/00a",	     "/tile/-1/000",	  "/tile/0/x001",
		"/tile/entries/0000", "/tile/0/000.q/1",  "/tile/0/001.p/",
		"/tile/0/",	     "/tile/entries/x000/001",
	};
	for (size_t i = 0; i < NELEM(bad); i++) {
		ft_tile t;
		ck_assert_msg(ft_tile_parse_path(bad[i], strlen(bad[i]), &t) ==
				      FT_ETILE_PATH,
			      "test bug: %s parses", bad[i]);
		expect_error(s.port, "GET", bad[i], NULL, 0, 400);
	}

	finish(&s);
	model_free(&m);
}
END_TEST

/* ---- Proofs. ----------------------------------------------------------- */

/* GET an inclusion proof and verify it for entry `index` of the model. */
static void check_inclusion(lh_conn *c, struct model *m, const char *url,
			    uint64_t index, uint64_t size, const ft_hash *root)
{
	lh_resp r;
	ft_hash p[FT_PROOF_MAX_INCLUSION], leaf;
	size_t pn = 0;

	expect_status(c, "GET", url, 200, &r);
	char *first = tu_strf("index %" PRIu64 "\n", index);
	size_t fl = strlen(first);
	ck_assert_msg(r.body_len >= fl && memcmp(r.body, first, fl) == 0,
		      "%s: answer does not start with \"index %" PRIu64
		      "\": \"%s\"",
		      url, index, (char *)r.body);
	ck_assert_msg(lh_parse_hashes(r.body + fl, r.body_len - fl, p,
				      NELEM(p), &pn) == 0,
		      "%s: bad hash lines \"%s\"", url, (char *)r.body);
	ft_merkle_leaf_hash(m->ent[index], m->elen[index], &leaf);
	int rc = ft_proof_verify_inclusion(index, size, leaf.b, 32, p[0].b,
					   pn * 32, root->b, 32);
	ck_assert_msg(rc == 0, "%s does not verify: %s", url, ft_errname(rc));
	free(first);
	lh_resp_free(&r);
}

static void check_consistency(lh_conn *c, struct model *m, uint64_t old,
			      uint64_t new)
{
	lh_resp r;
	ft_hash p[FT_PROOF_MAX_CONSISTENCY], r1, r2;
	size_t pn = 0;
	char *url = tu_strf("/proof/consistency?old=%" PRIu64 "&new=%" PRIu64, old,
			 new);

	model_root(m, old, &r1);
	model_root(m, new, &r2);
	expect_status(c, "GET", url, 200, &r);
	ck_assert_msg(lh_parse_hashes(r.body, r.body_len, p, NELEM(p), &pn) == 0,
		      "%s: bad answer \"%s\"", url, (char *)r.body);
	int rc = ft_proof_verify_consistency(old, new, r1.b, 32, r2.b, 32,
					     p[0].b, pn * 32);
	ck_assert_msg(rc == 0, "%s does not verify: %s", url, ft_errname(rc));
	if (old == new) {
		ck_assert_uint_eq(r.body_len, 0);
	}
	lh_resp_free(&r);
	free(url);
}

START_TEST(test_proofs)
{
	lh_server s;
	struct model m = {0};
	ft_hash root;
	lh_conn c;

	ck_assert_int_eq(ft_init(), 0);
	start_log(&s, 0, fast_args);
	populate(&s, &m, "proofs", 0, 9, 5, 54);
	uint64_t n = current(&s, &m, &root);
	ck_assert_uint_eq(n, 279);
	ck_assert_int_eq(lh_conn_open(&c, s.port), 0);

	/* Every entry, by index and by leaf hash, in the current tree. */
	for (uint64_t i = 0; i < n; i++) {
		ft_hash leaf;
		char hex[65];
		char *u = tu_strf("/proof/inclusion?index=%" PRIu64 "&size=%" PRIu64,
			       i, n);
		check_inclusion(&c, &m, u, i, n, &root);
		free(u);
		ft_merkle_leaf_hash(m.ent[i], m.elen[i], &leaf);
		lh_hex(leaf.b, 32, hex);
		u = tu_strf("/proof/inclusion?leaf=%s&size=%" PRIu64, hex, n);
		check_inclusion(&c, &m, u, i, n, &root);
		free(u);
	}
	/* Older sizes: each seen checkpoint and some edges. */
	uint64_t extra[] = {1, 2, 3, 7, 8, 9, 255, 256, 257, n - 1};
	for (size_t k = 0; k < m.ncps + NELEM(extra); k++) {
		uint64_t sz = k < m.ncps ? m.cps[k].size : extra[k - m.ncps];
		ft_hash rt;
		if (sz == 0 || sz > n) {
			continue;
		}
		model_root(&m, sz, &rt);
		uint64_t is[] = {0, sz / 2, sz - 1};
		for (size_t j = 0; j < NELEM(is); j++) {
			char *u = tu_strf("/proof/inclusion?index=%" PRIu64
				       "&size=%" PRIu64,
				       is[j], sz);
			check_inclusion(&c, &m, u, is[j], sz, &rt);
			free(u);
		}
		/* Consistency from every seen size to now. */
		check_consistency(&c, &m, sz, n);
	}
	/* Consistency between many pairs of sizes. */
	for (uint64_t a = 1; a <= n; a += (a < 20 ? 1 : 37)) {
		for (uint64_t b = a; b <= n; b += (b < 20 ? 1 : 41)) {
			check_consistency(&c, &m, a, b);
		}
	}
	lh_conn_close(&c);

	/* Out of range and malformed: 400. Unknown leaves: 404. */
	ft_hash leaf;
	char hex[65], badhex[65];
	ft_merkle_leaf_hash(m.ent[100], m.elen[100], &leaf);
	lh_hex(leaf.b, 32, hex);
	memset(badhex, 'z', 64);
	badhex[64] = 0;
	char *bad400[] = {
		tu_strf("/proof/inclusion?index=%" PRIu64 "&size=%" PRIu64, n, n),
		tu_strf("/proof/inclusion?index=0&size=%" PRIu64, n + 1),
		tu_strf("/proof/inclusion?index=5&size=5"),
		tu_strf("/proof/inclusion?index=-1&size=%" PRIu64, n),
		tu_strf("/proof/inclusion?index=abc&size=%" PRIu64, n),
		tu_strf("/proof/inclusion?index=0"),
		tu_strf("/proof/inclusion?size=%" PRIu64, n),
		tu_strf("/proof/inclusion"),
		tu_strf("/proof/inclusion?leaf=%s&size=%" PRIu64, badhex, n),
		tu_strf("/proof/inclusion?leaf=%.63s&size=%" PRIu64, hex, n),
		tu_strf("/proof/inclusion?leaf=%s0&size=%" PRIu64, hex, n),
		tu_strf("/proof/inclusion?leaf=%s&size=%" PRIu64, hex, n + 1),
		tu_strf("/proof/consistency?old=0&new=%" PRIu64, n),
		tu_strf("/proof/consistency?old=%" PRIu64 "&new=%" PRIu64, n, n + 1),
		tu_strf("/proof/consistency?old=%" PRIu64 "&new=%" PRIu64, n + 1,
		     n + 1),
		tu_strf("/proof/consistency?old=5&new=4"),
		tu_strf("/proof/consistency?old=5"),
		tu_strf("/proof/consistency?new=5"),
		tu_strf("/proof/consistency"),
		tu_strf("/proof/consistency?old=abc&new=%" PRIu64, n),
		tu_strf("/proof/consistency?old=1&new=x"),
	};
	for (size_t i = 0; i < NELEM(bad400); i++) {
		expect_error(s.port, "GET", bad400[i], NULL, 0, 400);
		free(bad400[i]);
	}
	ft_hash unknown;
	ft_merkle_leaf_hash((const uint8_t *)"never logged", 12, &unknown);
	char uhex[65];
	lh_hex(unknown.b, 32, uhex);
	char *nf404[] = {
		tu_strf("/proof/inclusion?leaf=%s&size=%" PRIu64, uhex, n),
		/* entry 100 is not in the first 100 entries */
		tu_strf("/proof/inclusion?leaf=%s&size=100", hex),
		tu_strf("/proof/inclusion?leaf=%s&size=1", hex),
	};
	for (size_t i = 0; i < NELEM(nf404); i++) {
		expect_error(s.port, "GET", nf404[i], NULL, 0, 404);
		free(nf404[i]);
	}
	/* But in the first 101 it is. */
	ck_assert_int_eq(lh_conn_open(&c, s.port), 0);
	char *u = tu_strf("/proof/inclusion?leaf=%s&size=101", hex);
	ft_hash r101;
	model_root(&m, 101, &r101);
	check_inclusion(&c, &m, u, 100, 101, &r101);
	free(u);
	lh_conn_close(&c);

	finish(&s);
	model_free(&m);
}
END_TEST

/* ---- Restart. ---------------------------------------------------------- */

START_TEST(test_restart)
{
	lh_server s;
	struct model m = {0};
	ft_hash root, root2;
	lh_resp before, after;
	uint64_t size;

	ck_assert_int_eq(ft_init(), 0);
	start_log(&s, 0, fast_args);
	populate(&s, &m, "restart", 0, 5, 4, 30);
	uint64_t n = current(&s, &m, &root);
	ck_assert_uint_eq(n, 125);
	ck_assert_int_eq(lh_checkpoint(&s, &size, root2.b, &before), 0);

	int st = lh_stop(&s);
	ck_assert_msg(st == 0, "ftlogd exit status %d after SIGTERM", st);
	ck_assert_msg(lh_start(&s, 0, fast_args) == 0, "restart failed");

	/* The same checkpoint, byte for byte, and every entry. */
	ck_assert_int_eq(lh_checkpoint(&s, &size, root2.b, &after), 0);
	ck_assert_uint_eq(after.body_len, before.body_len);
	ck_assert_msg(memcmp(after.body, before.body, before.body_len) == 0,
		      "checkpoint changed across a restart:\n%s\n---\n%s",
		      (char *)before.body, (char *)after.body);
	lh_resp_free(&before);
	lh_resp_free(&after);
	read_back(&s, &m, n, &root);

	/* Old entries are still duplicates; new ones extend the tree. */
	uint64_t idx;
	ck_assert_int_eq(lh_add(s.port, m.ent[17], m.elen[17], &idx, NULL), 0);
	ck_assert_uint_eq(idx, 17);
	populate(&s, &m, "restart", 1000, 3, 3, 10);
	uint64_t n2 = current(&s, &m, &root2);
	ck_assert_uint_eq(n2, n + 33);
	check_seen_roots(&m);
	lh_conn c;
	ck_assert_int_eq(lh_conn_open(&c, s.port), 0);
	check_consistency(&c, &m, n, n2);
	lh_conn_close(&c);
	read_back(&s, &m, n2, &root2);
	check_metrics_size(&s, n2);

	/* A second restart, right after appending. */
	ck_assert_int_eq(lh_stop(&s), 0);
	ck_assert_msg(lh_start(&s, 0, fast_args) == 0, "restart failed");
	uint64_t n3 = current(&s, &m, &root);
	ck_assert_uint_eq(n3, n2);
	ck_assert_mem_eq(root.b, root2.b, 32);
	finish(&s);
	model_free(&m);
}
END_TEST

/* ---- Static export (--tiles-dir). ------------------------------------- */

START_TEST(test_tiles_export)
{
	lh_server s;
	struct model m = {0};
	ft_hash root;
	lh_resp cp;
	uint64_t size;
	uint8_t *file = NULL;
	size_t flen = 0;

	ck_assert_int_eq(ft_init(), 0);
	start_log(&s, 1, fast_args);
	populate(&s, &m, "export", 0, 3, 4, 70);
	uint64_t n = current(&s, &m, &root);
	ck_assert_uint_eq(n, 283);
	ck_assert_int_eq(lh_checkpoint(&s, &size, root.b, &cp), 0);
	ck_assert_uint_eq(size, n);

	/* The export may trail the commit a little: wait for it. */
	char *cpath = tu_strf("%s/checkpoint", s.tiles);
	for (int i = 0; i < 200; i++) {
		free(file);
		file = tu_read_file(cpath, &flen);
		if (file != NULL && flen == cp.body_len &&
		    memcmp(file, cp.body, flen) == 0) {
			break;
		}
		tu_sleep_ms(50);
	}
	ck_assert_msg(file != NULL, "no %s", cpath);
	ck_assert_msg(flen == cp.body_len && memcmp(file, cp.body, flen) == 0,
		      "exported checkpoint is not the served one after 10 s:\n"
		      "%s\n---\n%s",
		      (char *)file, (char *)cp.body);
	free(file);
	free(cpath);
	lh_resp_free(&cp);

	/* Every tile of the tree: the file equals the HTTP answer. */
	struct tile_list l;
	lh_conn c;
	tiles_of(n, &l);
	ck_assert_int_eq(lh_conn_open(&c, s.port), 0);
	for (size_t i = 0; i < l.n; i++) {
		char *url = tile_url(l.v[i].level, l.v[i].index, l.v[i].width);
		char *fp = tu_strf("%s%s", s.tiles, url);
		lh_resp r;
		expect_status(&c, "GET", url, 200, &r);
		file = tu_read_file(fp, &flen);
		ck_assert_msg(file != NULL, "%s was not exported", fp);
		ck_assert_msg(flen == r.body_len &&
				      memcmp(file, r.body, flen) == 0,
			      "%s differs from GET %s", fp, url);
		free(file);
		lh_resp_free(&r);
		free(fp);
		free(url);
	}
	lh_conn_close(&c);
	free(l.v);
	read_back(&s, &m, n, &root);

	finish(&s);
	model_free(&m);
}
END_TEST

/* ---- The Go reference (golang.org/x/mod/sumdb/note, sumdb/tlog). ------ */

#define GO_TIMEOUT_MS 120000

/* Run the Go helper with argv (argv[0] is the binary), stdout and stderr
 * into outpath. The exit status, the output in *out. */
static int run_go(char *const argv[], const char *outpath, char **out)
{
	int fd = open(outpath, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	ck_assert_int_ge(fd, 0);
	pid_t pid = fork();
	ck_assert_int_ge(pid, 0);
	if (pid == 0) {
		if (dup2(fd, 1) < 0 || dup2(fd, 2) < 0) {
			_exit(127);
		}
		execv(argv[0], argv);
		_exit(127);
	}
	close(fd);
	int st = 0;
	for (long ms = 0;; ms += 10) {
		pid_t w = waitpid(pid, &st, WNOHANG);
		if (w == pid) {
			break;
		}
		ck_assert_msg(w == 0 || errno == EINTR, "waitpid: %s",
			      strerror(errno));
		if (ms >= GO_TIMEOUT_MS) {
			(void)kill(pid, SIGKILL);
			(void)waitpid(pid, &st, 0);
			ck_abort_msg("%s did not finish in %d s", argv[0],
				     GO_TIMEOUT_MS / 1000);
		}
		tu_sleep_ms(10);
	}
	size_t len = 0;
	*out = (char *)tu_read_file(outpath, &len);
	ck_assert_ptr_nonnull(*out);
	ck_assert_msg(WIFEXITED(st), "%s killed by signal %d:\n%s", argv[0],
		      WIFSIGNALED(st) ? WTERMSIG(st) : -1, *out);
	return WEXITSTATUS(st);
}

static void save_checkpoint(const lh_server *s, const char *path,
			    uint64_t *size)
{
	lh_resp r;
	uint8_t root[32];

	ck_assert_int_eq(lh_checkpoint(s, size, root, &r), 0);
	ck_assert_int_eq(tu_write_file(path, r.body, r.body_len), 0);
	lh_resp_free(&r);
}

START_TEST(test_go_reference)
{
	const char *go = getenv("FTLOG_GO_INTEROP");
	if (go == NULL || *go == 0) {
		fprintf(stderr, "test_logd: SKIP test_go_reference: "
				"FTLOG_GO_INTEROP is not set (run through make "
				"check, or point it at "
				"tests/interop/ftlog-interop-go)\n");
		return;
	}
	ck_assert_msg(access(go, X_OK) == 0, "FTLOG_GO_INTEROP=%s: %s", go,
		      strerror(errno));

	lh_server s;
	struct model m = {0};
	ft_hash root;
	uint64_t sz[3];

	ck_assert_int_eq(ft_init(), 0);
	start_log(&s, 0, fast_args);
	char *old[3] = {tu_strf("%s/old0", s.dir), tu_strf("%s/old1", s.dir),
			tu_strf("%s/old2", s.dir)};
	populate(&s, &m, "go", 0, 7, 0, 0);
	save_checkpoint(&s, old[0], &sz[0]);
	populate(&s, &m, "go", 7, 0, 4, 64);
	save_checkpoint(&s, old[1], &sz[1]);
	populate(&s, &m, "go", 263, 0, 2, 30);
	uint64_t n = current(&s, &m, &root);
	save_checkpoint(&s, old[2], &sz[2]);
	ck_assert_uint_eq(sz[0], 7);
	ck_assert_uint_eq(sz[1], 263);
	ck_assert_uint_eq(sz[2], n);
	ck_assert_uint_eq(n, 323);

	char *url = tu_strf("http://127.0.0.1:%d", s.port);
	char *outp = tu_strf("%s/go.out", s.dir);
	char *argv[] = {(char *)go, "serve-verify", url, s.vkey_str,
			old[0], old[1], old[2], NULL};
	char *out = NULL;
	int st = run_go(argv, outp, &out);

	/* The checks Go must report. */
	uint64_t recs[] = {0, 1, 161, 255, 256, 257, 322};
	size_t want = 0, missing = 0;
	char *lines[32];
	lines[want++] = tu_strf("ok vkey\n");
	lines[want++] = tu_strf("ok checkpoint\n");
	lines[want++] = tu_strf("ok treehash\n");
	for (size_t i = 0; i < NELEM(recs); i++) {
		lines[want++] = tu_strf("ok record %" PRIu64 "\n", recs[i]);
	}
	for (size_t i = 0; i < 3; i++) {
		lines[want++] = tu_strf("ok tree %" PRIu64 "\n", sz[i]);
	}
	lines[want++] = tu_strf("ok tampered tree hash refused\n");
	char *summary = tu_strf("summary ok=%zu fail=0\n", want);
	for (size_t i = 0; i < want; i++) {
		if (strstr(out, lines[i]) == NULL) {
			fprintf(stderr, "no Go line \"%.*s\"\n",
				(int)strlen(lines[i]) - 1, lines[i]);
			missing++;
		}
		free(lines[i]);
	}
	if (st != 0 || missing != 0 || strstr(out, summary) == NULL) {
		fprintf(stderr, "---- ftlog-interop-go serve-verify ----\n%s"
				"---- end ----\n",
			out);
	}
	ck_assert_msg(st == 0, "Go serve-verify exit status %d", st);
	ck_assert_msg(missing == 0, "%zu Go checks missing", missing);
	ck_assert_msg(strstr(out, summary) != NULL, "Go summary is not \"%s\"",
		      summary);
	free(summary);
	free(out);
	free(outp);
	free(url);
	for (int i = 0; i < 3; i++) {
		free(old[i]);
	}
	finish(&s);
	model_free(&m);
}
END_TEST

static Suite *logd_suite(void)
{
	Suite *s = suite_create("logd");
	TCase *cli = tcase_create("cli");
	TCase *tc = tcase_create("serve");
	TCase *go = tcase_create("go");

	tcase_set_timeout(cli, 60);
	tcase_add_test(cli, test_init_key);
	tcase_add_test(cli, test_cli);
	tcase_add_test(cli, test_config_file);
	tcase_add_unchecked_fixture(cli, lh_suite_setup, lh_suite_teardown);
	suite_add_tcase(s, cli);

	tcase_set_timeout(tc, 180);
	tcase_add_test(tc, test_empty_log);
	tcase_add_test(tc, test_append);
	tcase_add_test(tc, test_duplicates);
	tcase_add_test(tc, test_rejections);
	tcase_add_test(tc, test_policy_reload);
	tcase_add_test(tc, test_http_errors);
	tcase_add_test(tc, test_queue_full);
	tcase_add_test(tc, test_tiles);
	tcase_add_test(tc, test_proofs);
	tcase_add_test(tc, test_restart);
	tcase_add_test(tc, test_tiles_export);
	tcase_add_unchecked_fixture(tc, lh_suite_setup, lh_suite_teardown);
	suite_add_tcase(s, tc);

	tcase_set_timeout(go, 240);
	tcase_add_test(go, test_go_reference);
	tcase_add_unchecked_fixture(go, lh_suite_setup, lh_suite_teardown);
	suite_add_tcase(s, go);
	return s;
}

int main(void)
{
	/* A client must survive a server that closes early. */
	(void)signal(SIGPIPE, SIG_IGN);
	return tu_run_suite(logd_suite());
}
