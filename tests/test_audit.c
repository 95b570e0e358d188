/*
 * tests/test_audit.c - ftlog audit and ftlog monitor against real
 * servers on 127.0.0.1 (docs/audit.md).
 *
 *  big:     ftlogd --tiles-dir with 100,000+ signed events, served by
 *           nginx with docs/nginx.conf.example: a full audit passes; more
 *           entries are audited incrementally, from a partial bundle; a
 *           flipped byte in an entry bundle, a level-0 and a level-1 hash
 *           tile each raise the alarm (exit 4) and leave the state file
 *           byte for byte unchanged; restored, the audit passes again.
 *           Prints the full audit rate (entries/s).
 *  rules:   a static log written here (tiles, bundles, signed checkpoint;
 *           ftlogd refuses events after revocations, so it cannot make
 *           such a log) served by nginx: every rule's finding with its
 *           index, exit 1; --policy adds a policy finding; monitor --once
 *           prints the watched-key/product/digest alerts.
 *  fork:    a second ftlogd with the same key and origin but other
 *           entries: audit says split view (exit 4), monitor prints an
 *           inconsistency alert and exits 4; rollback; a state of another
 *           log is refused; monitor ends cleanly on SIGTERM.
 *
 * Binaries: $FTLOG_FTLOG, else $FTLOG_BUILDDIR/tools/ftlog; ftlogd as in
 * tests/logd_harness.h; nginx as in tests/test_nginx.c ($FTLOG_NGINX,
 * FTLOG_NO_NGINX=1 skips).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <netinet/in.h>
#include <arpa/inet.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <check.h>

#include <ftlog/event.h>
#include <ftlog/merkle.h>
#include <ftlog/note.h>
#include <ftlog/tile.h>

#include "tests/logd_harness.h"
#include "tests/nginx_harness.h"
#include "tests/testutil.h"

static const char *const k_args[] = { "--batch-interval", "50ms", NULL };

static double now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static const char *ftlog_path(void)
{
	static char path[1024];
	const char *p = getenv("FTLOG_FTLOG");
	const char *b = getenv("FTLOG_BUILDDIR");

	if (p != NULL && *p != 0) {
		return p;
	}
	snprintf(path, sizeof path, "%s/tools/ftlog",
		 b != NULL && *b ? b : ".");
	return path;
}

/* ---- Running ftlog. */

typedef struct run_result {
	int status;
	char *out, *err;
} run_result;

static void rr_free(run_result *r)
{
	free(r->out);
	free(r->err);
	memset(r, 0, sizeof *r);
}

/* Run ftlog with args (NULL-terminated) in dir, at most 120 s. */
static run_result run_ftlog(const char *dir, const char *const *args)
{
	run_result r;
	char outp[1024], errp[1024];
	const char *argv[64];
	size_t n = 0;

	argv[n++] = "ftlog";
	for (; args[n - 1] != NULL; n++) {
		ck_assert(n < 63);
		argv[n] = args[n - 1];
	}
	argv[n] = NULL;
	snprintf(outp, sizeof outp, "%s/run.out", dir);
	snprintf(errp, sizeof errp, "%s/run.err", dir);
	pid_t pid = fork();
	ck_assert(pid >= 0);
	if (pid == 0) {
		int o = open(outp, O_WRONLY | O_CREAT | O_TRUNC, 0600);
		int e = open(errp, O_WRONLY | O_CREAT | O_TRUNC, 0600);
		int in = open("/dev/null", O_RDONLY);
		if (o < 0 || e < 0 || in < 0) {
			_exit(126);
		}
		(void)prctl(PR_SET_PDEATHSIG, SIGKILL);
		dup2(in, 0);
		dup2(o, 1);
		dup2(e, 2);
		execv(ftlog_path(), (char *const *)argv);
		_exit(127);
	}
	double t0 = now();
	int st = 0;
	for (;;) {
		pid_t w = waitpid(pid, &st, WNOHANG);
		if (w == pid) {
			break;
		}
		if (now() - t0 > 120.0) {
			kill(pid, SIGKILL);
			waitpid(pid, &st, 0);
			ck_abort_msg("ftlog %s: still running after 120 s",
				     args[0]);
		}
		tu_sleep_ms(5);
	}
	r.status = WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
	size_t len;
	r.out = (char *)tu_read_file(outp, &len);
	r.err = (char *)tu_read_file(errp, &len);
	ck_assert(r.out != NULL && r.err != NULL);
	ck_assert_msg(strstr(r.err, "Sanitizer") == NULL &&
		      strstr(r.err, "runtime error:") == NULL,
		      "sanitizer report from ftlog:\n%s", r.err);
	return r;
}

#define RUN(dir, ...)                                                  \
	run_ftlog(dir, (const char *const[]){ __VA_ARGS__, NULL })

static void expect(const run_result *r, int status, const char *what)
{
	ck_assert_msg(r->status == status,
		      "%s: exit %d, want %d\nstdout:\n%s\nstderr:\n%s", what,
		      r->status, status, r->out, r->err);
}

static void expect_has(const char *text, const char *needle, const char *what)
{
	ck_assert_msg(strstr(text, needle) != NULL,
		      "%s: \"%s\" not in:\n%s", what, needle, text);
}

static size_t count_lines(const char *s)
{
	size_t n = 0;

	for (; *s; s++) {
		n += *s == '\n';
	}
	return n;
}

/* ---- nginx (the example's server block, as tests/test_nginx.c). */

typedef struct ngx {
	pid_t pid;
	int port;
	char dir[1024];
} ngx;

/* nginx serving `root`, proxying to upstream_port, config under dir. */
static void ngx_start(ngx *g, const char *dir, const char *root,
		      int upstream_port)
{
	snprintf(g->dir, sizeof g->dir, "%s", dir);
	ck_assert(mkdir(dir, 0700) == 0);
	g->port = nh_free_port();
	nh_write_conf(dir, g->port, upstream_port, root);
	g->pid = nh_start(dir, g->port);
}

static void ngx_stop(ngx *g)
{
	if (g->pid > 0) {
		(void)nh_stop(g->pid);
		g->pid = 0;
	}
}

static char *url_of(int port)
{
	return tu_strf("http://127.0.0.1:%d", port);
}

/* ---- Filling ftlogd fast: threads of pipelining keep-alive
 * connections. */

typedef struct filler {
	int port;
	uint64_t from, to, step, first; /* n = first + k*step ... */
	uint64_t base;                  /* lh_event numbers start here */
	int failed;
} filler;

enum { FILL_CONNS = 8, FILL_PIPE = 64 };

static void *fill_thread(void *arg)
{
	filler *f = arg;
	lh_conn c[FILL_CONNS];
	uint64_t n = f->first;

	for (int k = 0; k < FILL_CONNS; k++) {
		if (lh_conn_open(&c[k], f->port) != 0) {
			f->failed = 1;
			return NULL;
		}
	}
	while (n < f->to && !f->failed) {
		unsigned sent[FILL_CONNS] = { 0 };
		for (int k = 0; k < FILL_CONNS && n < f->to; k++) {
			for (int p = 0; p < FILL_PIPE && n < f->to; p++) {
				uint8_t *e = NULL;
				size_t len = 0;
				char head[128];
				if (lh_event(f->base + n, 0, &e, &len) != 0) {
					f->failed = 1;
					break;
				}
				int hl = snprintf(head, sizeof head,
						  "POST /add HTTP/1.1\r\nHost: x"
						  "\r\nContent-Length: %zu\r\n"
						  "\r\n", len);
				if (lh_conn_send(&c[k], head, (size_t)hl) != 0 ||
				    lh_conn_send(&c[k], e, len) != 0) {
					f->failed = 1;
				}
				free(e);
				sent[k]++;
				n += f->step;
			}
		}
		for (int k = 0; k < FILL_CONNS; k++) {
			for (unsigned p = 0; p < sent[k]; p++) {
				lh_resp r;
				if (lh_conn_read_response(&c[k], &r, 60000) !=
				    0) {
					f->failed = 1;
					continue;
				}
				if (r.status != 200) {
					fprintf(stderr, "fill: status %d %s\n",
						r.status, (char *)r.body);
					f->failed = 1;
				}
				lh_resp_free(&r);
			}
		}
	}
	for (int k = 0; k < FILL_CONNS; k++) {
		lh_conn_close(&c[k]);
	}
	return NULL;
}

/* Add events base+[from, to) with 4 threads. */
static void fill(const lh_server *s, uint64_t base, uint64_t from,
		 uint64_t to)
{
	enum { T = 4 };
	filler f[T];
	pthread_t th[T];

	for (int t = 0; t < T; t++) {
		memset(&f[t], 0, sizeof f[t]);
		f[t].port = s->port;
		f[t].first = from + (uint64_t)t;
		f[t].to = to;
		f[t].step = T;
		f[t].base = base;
		ck_assert(pthread_create(&th[t], NULL, fill_thread, &f[t]) ==
			  0);
	}
	int failed = 0;
	for (int t = 0; t < T; t++) {
		pthread_join(th[t], NULL);
		failed |= f[t].failed;
	}
	ck_assert_msg(!failed, "filling the log failed");
}

static uint64_t exported_size(const char *tiles)
{
	char path[1024];
	size_t len = 0;
	uint64_t size = 0;

	snprintf(path, sizeof path, "%s/checkpoint", tiles);
	uint8_t *b = tu_read_file(path, &len);
	if (b == NULL) {
		return 0;
	}
	const char *nl = memchr(b, '\n', len);
	if (nl != NULL) {
		(void)sscanf(nl + 1, "%" SCNu64, &size);
	}
	free(b);
	return size;
}

static void wait_export(const lh_server *s, uint64_t want)
{
	double t0 = now();

	while (exported_size(s->tiles) != want) {
		ck_assert_msg(now() - t0 < 20.0, "export at %" PRIu64
			      ", want %" PRIu64, exported_size(s->tiles),
			      want);
		tu_sleep_ms(20);
	}
}

/* ---- Files. */

static void flip_byte(const char *path, off_t at)
{
	int fd = open(path, O_RDWR);
	uint8_t b;

	ck_assert_msg(fd >= 0, "open %s: %s", path, strerror(errno));
	ck_assert(pread(fd, &b, 1, at) == 1);
	b ^= 0x20;
	ck_assert(pwrite(fd, &b, 1, at) == 1);
	close(fd);
}

static uint8_t *slurp(const char *path, size_t *len)
{
	uint8_t *b = tu_read_file(path, len);

	ck_assert_msg(b != NULL, "cannot read %s", path);
	return b;
}

static int same_file(const char *path, const uint8_t *data, size_t len)
{
	size_t l2;
	uint8_t *b = slurp(path, &l2);
	int same = l2 == len && memcmp(b, data, len) == 0;

	free(b);
	return same;
}

static char *tile_file(const char *root, int level, uint64_t index,
		       uint64_t size)
{
	ft_tile t;
	char p[FT_TILE_PATH_MAX];
	size_t n;

	ck_assert(ft_tile_at(size, level, index, &t) == 0);
	ck_assert(ft_tile_path(&t, p, sizeof p, &n) == 0);
	return tu_strf("%s/%s", root, p);
}

/* ---- big: 100,000 entries through nginx. */

static void summary_is(const run_result *r, const char *origin, uint64_t m,
		       uint64_t n, uint64_t findings)
{
	char *want = tu_strf("audited %s %" PRIu64 " -> %" PRIu64 ": %" PRIu64
			     " entries, %" PRIu64 " findings, root ok\n",
			     origin, m, n, n - m, findings);
	expect_has(r->out, want, "summary");
	free(want);
}

/* Tamper with one file: the audit alarms, names `what`, leaves the state
 * file as it was; then the file is restored. */
static void tamper(const char *dir, const char *url, const char *vkey,
		   const char *state, const char *file, off_t at,
		   const char *what)
{
	size_t flen, slen;
	char *mdb = tu_strf("%s/data.mdb", state);
	uint8_t *orig = slurp(file, &flen);
	uint8_t *before = slurp(mdb, &slen);

	flip_byte(file, at);
	run_result r = RUN(dir, "audit", "--log", url, "--log-key", vkey,
			   "--state", state);
	expect(&r, 4, file);
	expect_has(r.err, "alarm: ", file);
	expect_has(r.err, what, file);
	ck_assert_msg(same_file(mdb, before, slen),
		      "state changed by a failed pass (%s)", file);
	rr_free(&r);
	ck_assert(tu_write_file(file, orig, flen) == 0);
	free(orig);
	free(before);
	free(mdb);
}

START_TEST(audit_big_log_via_nginx)
{
	lh_server s;
	ngx g;
	enum { BIG = 100000 };

	memset(&s, 0, sizeof s);
	memset(&g, 0, sizeof g);
	ck_assert(lh_init(&s, "audit.example/big") == 0);
	ck_assert(lh_start(&s, 1, k_args) == 0);
	double t0 = now();
	fill(&s, 0, 0, BIG);
	wait_export(&s, BIG);
	fprintf(stderr, "test_audit: filled %d entries in %.1f s\n", BIG,
		now() - t0);
	char *ngx_dir = tu_strf("%s/nginx", s.dir);
	ngx_start(&g, ngx_dir, s.tiles, s.port);
	char *url = url_of(g.port);
	char *state = tu_strf("%s/state", s.dir);

	/* Full audit. */
	t0 = now();
	run_result r = RUN(s.dir, "audit", "--log", url, "--log-key",
			   s.vkey_str, "--state", state);
	double dt = now() - t0;
	expect(&r, 0, "full audit");
	summary_is(&r, s.origin, 0, BIG, 0);
	ck_assert_msg(count_lines(r.out) == 1, "output:\n%s", r.out);
	fprintf(stderr, "test_audit: full audit of %d entries via nginx: "
		"%.2f s, %.0f entries/s (re-hashed, parsed, tiles compared)\n",
		BIG, dt, BIG / dt);
	rr_free(&r);
	struct stat st;
	ck_assert(stat(state, &st) == 0 && (st.st_mode & 0777) == 0700);

	/* Nothing new. */
	r = RUN(s.dir, "audit", "--log", url, "--log-key", s.vkey_str,
		"--state", state, "--json");
	expect(&r, 0, "audit again");
	expect_has(r.out, "{\"type\":\"summary\",\"origin\":\"audit.example/"
		   "big\",\"from\":100000,\"to\":100000,\"entries\":0,"
		   "\"findings\":0,\"root\":\"ok\"}\n", "json summary");
	rr_free(&r);

	/* More entries: resumes inside the partial bundle 390 (100000 =
	 * 390 * 256 + 160). */
	fill(&s, 0, BIG, BIG + 100);
	wait_export(&s, BIG + 100);
	r = RUN(s.dir, "audit", "--log", url, "--log-key", s.vkey_str,
		"--state", state);
	expect(&r, 0, "incremental audit");
	summary_is(&r, s.origin, BIG, BIG + 100, 0);
	rr_free(&r);

	/* 300 more, then tampering with what the next pass reads. Size
	 * 100400: bundle 391 is new and full, level 1 has tile 000 full
	 * and 001.p/136. */
	fill(&s, 0, BIG + 100, BIG + 400);
	wait_export(&s, BIG + 400);
	char *b391 = tile_file(s.tiles, FT_TILE_ENTRIES, 391, BIG + 400);
	char *t391 = tile_file(s.tiles, 0, 391, BIG + 400);
	char *t1 = tile_file(s.tiles, 1, 1, BIG + 400);
	struct stat bst;
	ck_assert(stat(b391, &bst) == 0);
	tamper(s.dir, url, s.vkey_str, state, b391, bst.st_size - 100,
	       "do not produce the signed root");
	tamper(s.dir, url, s.vkey_str, state, t391, 5 * 32 + 7,
	       "tampered tile");
	tamper(s.dir, url, s.vkey_str, state, t1, 100 * 32 + 1,
	       "tampered tile");
	/* An entry audited before (100096, in the bundle re-read). */
	tamper(s.dir, url, s.vkey_str, state, b391, 100,
	       "entry 100096 differs from the one audited before (history "
	       "rewritten)");
	r = RUN(s.dir, "audit", "--log", url, "--log-key", s.vkey_str,
		"--state", state);
	expect(&r, 0, "audit after restoring");
	summary_is(&r, s.origin, BIG + 100, BIG + 400, 0);
	rr_free(&r);

	/* A missing tile is an I/O error, not an alarm. */
	fill(&s, 0, BIG + 400, BIG + 410);
	wait_export(&s, BIG + 410);
	char *b392 = tile_file(s.tiles, FT_TILE_ENTRIES, 392, BIG + 410);
	char *moved = tu_strf("%s.moved", b392);
	ck_assert(rename(b392, moved) == 0);
	r = RUN(s.dir, "audit", "--log", url, "--log-key", s.vkey_str,
		"--state", state);
	expect(&r, 3, "missing bundle");
	expect_has(r.err, "HTTP 404", "missing bundle");
	rr_free(&r);
	ck_assert(rename(moved, b392) == 0);

	ngx_stop(&g);
	ck_assert(lh_log_clean(&s) == 0);
	ck_assert_int_eq(lh_stop(&s), 0);
	lh_cleanup(&s);
	free(b391);
	free(t391);
	free(t1);
	free(b392);
	free(moved);
	free(url);
	free(state);
	free(ngx_dir);
}
END_TEST

/* ---- A static log written here. */

typedef struct slog {
	ft_hash *nodes[FT_TILE_MAX_LEVEL + 1]; /* level 8L nodes */
	size_t nn[FT_TILE_MAX_LEVEL + 1];
} slog;

static int slog_node(void *ctx, unsigned level, uint64_t index,
		     const ft_hash *h)
{
	slog *sl = ctx;

	if (level % 8 != 0) {
		return 0;
	}
	unsigned L = level / 8;
	if (index != sl->nn[L]) {
		return -1;
	}
	sl->nodes[L] = realloc(sl->nodes[L], (index + 1) * sizeof(ft_hash));
	sl->nodes[L][index] = *h;
	sl->nn[L]++;
	return 0;
}

typedef struct slog_write {
	const char *root;
	uint8_t **entries;
	size_t *lens;
	slog *sl;
} slog_write;

static int slog_tile(void *ctx, const ft_tile *t)
{
	slog_write *w = ctx;
	char p[FT_TILE_PATH_MAX];
	size_t n;

	ck_assert(ft_tile_path(t, p, sizeof p, &n) == 0);
	char *path = tu_strf("%s/%s", w->root, p);
	for (char *q = path + strlen(w->root) + 1; *q; q++) {
		if (*q == '/') {
			*q = 0;
			(void)mkdir(path, 0755);
			*q = '/';
		}
	}
	uint64_t first = t->index * FT_TILE_WIDTH;
	if (t->level == FT_TILE_ENTRIES) {
		size_t cap = (size_t)t->width * (2 + FT_ENTRY_MAX), len = 0;
		uint8_t *b = malloc(cap);
		for (unsigned j = 0; j < t->width; j++) {
			ck_assert(ft_bundle_append(b, cap, &len,
						   w->entries[first + j],
						   w->lens[first + j]) == 0);
		}
		ck_assert(tu_write_file(path, b, len) == 0);
		free(b);
	} else {
		ck_assert(tu_write_file(path, &w->sl->nodes[t->level][first],
					t->width * sizeof(ft_hash)) == 0);
	}
	free(path);
	return 0;
}

/* Write the log of entries[0..n) under root, checkpoint signed by key. */
static void slog_write_all(const char *root, const ft_skey *key,
			   uint8_t **entries, size_t *lens, size_t n)
{
	slog sl;
	ft_tree t;
	slog_write w = { root, entries, lens, &sl };

	memset(&sl, 0, sizeof sl);
	ft_tree_init(&t);
	for (size_t i = 0; i < n; i++) {
		ft_hash leaf;
		ft_merkle_leaf_hash(entries[i], lens[i], &leaf);
		ck_assert(ft_tree_append(&t, &leaf, slog_node, &sl) == 0);
	}
	(void)mkdir(root, 0755);
	ck_assert(ft_tile_foreach_new(0, n, slog_tile, &w) == 0);
	ft_checkpoint cp;
	uint8_t text[1024], note[4096];
	size_t tl, nl;
	memset(&cp, 0, sizeof cp);
	memcpy(cp.origin, key->name, key->name_len + 1);
	cp.origin_len = key->name_len;
	cp.size = n;
	ft_tree_root(&t, &cp.root);
	ck_assert(ft_checkpoint_format(&cp, text, sizeof text, &tl) == 0);
	ck_assert(ft_note_sign(text, tl, key, 1, 0, note, sizeof note, &nl) ==
		  0);
	char *path = tu_strf("%s/checkpoint", root);
	ck_assert(tu_write_file(path, note, nl) == 0);
	free(path);
	for (unsigned L = 0; L <= FT_TILE_MAX_LEVEL; L++) {
		free(sl.nodes[L]);
	}
}

/* Events signed by `key`. */
static void digest_of(const char *name, uint8_t out[32])
{
	ft_hash h;

	/* Any fixed digest will do: SHA-256 via the leaf hash function. */
	ft_merkle_leaf_hash((const uint8_t *)name, strlen(name), &h);
	memcpy(out, h.b, 32);
}

static uint8_t *make_event(const ft_skey *key, int kind, const char *image,
			   const char *pred, size_t *len)
{
	ft_event_subject sub;
	char *stmt = NULL, *env = NULL, reason[256];
	size_t sl = 0, el = 0;

	memset(&sub, 0, sizeof sub);
	sub.name = image;
	digest_of(image, sub.sha256);
	ck_assert_msg(ft_event_statement(kind, &sub, 1, pred, strlen(pred),
					 &stmt, &sl, reason,
					 sizeof reason) == 0,
		      "statement: %s", reason);
	ck_assert(ft_event_sign((const uint8_t *)stmt, sl, key, 1, &env,
				&el) == 0);
	free(stmt);
	*len = el;
	return (uint8_t *)env;
}

static const char k_build[] =
	"{\"buildDefinition\":{\"buildType\":\"https://ftlog.dev/t/v1\","
	"\"externalParameters\":{}},\"runDetails\":{\"builder\":{\"id\":"
	"\"https://ftlog.dev/b\"}}}";

static char *release_pred(const char *product, const char *version,
			  unsigned sv)
{
	return tu_strf("{\"product\":\"%s\",\"vendor\":\"acme\",\"version\":"
		       "\"%s\",\"security_version\":%u,\"hardware_models\":"
		       "[\"hw1\"]}", product, version, sv);
}

enum { NRULES = 10 };

typedef struct rules_log {
	uint8_t *e[NRULES];
	size_t len[NRULES];
	ft_skey k2;
	char k2_keyid[FT_EVENT_KEYID_MAX + 1];
	char k1_keyid[FT_EVENT_KEYID_MAX + 1];
} rules_log;

static void rules_entries(rules_log *rl)
{
	const ft_skey *k1 = lh_test_key();
	ft_vkey v2, v1;
	char *p;

	ck_assert(lh_key("ftlog-other", 0x33, &rl->k2) == 0);
	ft_skey_public(&rl->k2, &v2);
	ft_skey_public(k1, &v1);
	ck_assert(ft_event_keyid(&v2, rl->k2_keyid, sizeof rl->k2_keyid) == 0);
	ck_assert(ft_event_keyid(&v1, rl->k1_keyid, sizeof rl->k1_keyid) == 0);

	rl->e[0] = make_event(k1, FT_EVENT_BUILD, "A", k_build, &rl->len[0]);
	p = release_pred("p1", "1.0", 5);
	rl->e[1] = make_event(k1, FT_EVENT_RELEASE, "A", p, &rl->len[1]);
	free(p);
	p = release_pred("p1", "2.0", 6);
	rl->e[2] = make_event(k1, FT_EVENT_RELEASE, "B", p, &rl->len[2]);
	free(p);
	rl->e[3] = make_event(k1, FT_EVENT_BUILD, "C", k_build, &rl->len[3]);
	p = release_pred("p1", "1.5", 4);
	rl->e[4] = make_event(k1, FT_EVENT_RELEASE, "C", p, &rl->len[4]);
	free(p);
	/* Revoke k2: subject digest = SHA-256 of its public key. */
	{
		char vs[FT_KEY_STR_MAX];
		size_t vl;
		ft_event_subject sub;
		char *stmt = NULL, *env = NULL, reason[256];
		size_t sl = 0, el = 0;
		ck_assert(ft_vkey_format(&v2, vs, sizeof vs, &vl) == 0);
		p = tu_strf("{\"target\":\"key\",\"key\":\"%s\",\"reason\":"
			    "\"leaked\"}", vs);
		memset(&sub, 0, sizeof sub);
		sub.name = "key";
		ft_event_key_digest(&v2, sub.sha256);
		ck_assert_msg(ft_event_statement(FT_EVENT_REVOCATION, &sub, 1,
						 p, strlen(p), &stmt, &sl,
						 reason, sizeof reason) == 0,
			      "revocation: %s", reason);
		ck_assert(ft_event_sign((const uint8_t *)stmt, sl, k1, 1, &env,
					&el) == 0);
		free(stmt);
		free(p);
		rl->e[5] = (uint8_t *)env;
		rl->len[5] = el;
	}
	rl->e[6] = make_event(&rl->k2, FT_EVENT_BUILD, "D", k_build,
			      &rl->len[6]);
	rl->e[7] = make_event(k1, FT_EVENT_REVOCATION, "A",
			      "{\"target\":\"image\",\"product\":\"p1\","
			      "\"reason\":\"bad\"}", &rl->len[7]);
	p = release_pred("p1", "3.0", 7);
	rl->e[8] = make_event(k1, FT_EVENT_RELEASE, "A", p, &rl->len[8]);
	free(p);
	rl->e[9] = (uint8_t *)strdup("not an event");
	rl->len[9] = strlen("not an event");
}

static void rules_free(rules_log *rl)
{
	for (int i = 0; i < NRULES; i++) {
		free(rl->e[i]);
	}
	ft_skey_wipe(&rl->k2);
}

static void hex_of(const char *image, char out[65])
{
	uint8_t d[32];

	digest_of(image, d);
	lh_hex(d, 32, out);
}

START_TEST(audit_rules_and_monitor)
{
	char *dir = tu_tmpdir();
	char *root = tu_strf("%s/log", dir);
	char *state = tu_strf("%s/state", dir);
	char *state2 = tu_strf("%s/state2", dir);
	char *state3 = tu_strf("%s/state3", dir);
	char *ngx_dir = tu_strf("%s/nginx", dir);
	char *pol = tu_strf("%s/policy.json", dir);
	ft_skey logkey;
	ft_vkey lv;
	char vkey[FT_KEY_STR_MAX];
	size_t vl;
	rules_log rl;
	ngx g;

	memset(&g, 0, sizeof g);
	ck_assert(lh_key("audit.example/static", 0x51, &logkey) == 0);
	ft_skey_public(&logkey, &lv);
	ck_assert(ft_vkey_format(&lv, vkey, sizeof vkey, &vl) == 0);
	rules_entries(&rl);
	slog_write_all(root, &logkey, rl.e, rl.len, NRULES);
	ngx_start(&g, ngx_dir, root, 1);
	char *url = url_of(g.port);

	run_result r = RUN(dir, "audit", "--log", url, "--log-key", vkey,
			   "--state", state);
	expect(&r, 1, "rules");
	char hb[65], ha[65], hc[65];
	hex_of("B", hb);
	hex_of("A", ha);
	hex_of("C", hc);
	char *want = tu_strf(
		"finding release-without-build index=2: release of p1 2.0: "
		"image %s has no earlier build event\n"
		"finding security-version-decrease index=4: release of p1 1.5 "
		"has security_version 4, below 6 (index 2)\n"
		"finding after-revocation index=6: build signed by key %s, "
		"revoked at index 5\n"
		"finding after-revocation index=8: release of image %s, "
		"revoked at index 7\n"
		"finding malformed-entry index=9: json: ",
		hb, rl.k2_keyid, ha);
	ck_assert_msg(strncmp(r.out, want, strlen(want)) == 0,
		      "findings:\n%s\nwant:\n%s", r.out, want);
	free(want);
	expect_has(r.out, "audited audit.example/static 0 -> 10: 10 entries, "
		   "5 findings, root ok\n", "rules summary");
	ck_assert_int_eq(count_lines(r.out), 6);
	rr_free(&r);

	/* Reported once: the next pass has nothing new. */
	r = RUN(dir, "audit", "--log", url, "--log-key", vkey, "--state",
		state);
	expect(&r, 0, "rules again");
	ck_assert_int_eq(count_lines(r.out), 1);
	rr_free(&r);

	/* --policy: the default test policy does not know k2. */
	char *ptext = lh_default_policy(NULL);
	ck_assert(tu_write_file(pol, ptext, strlen(ptext)) == 0);
	free(ptext);
	r = RUN(dir, "audit", "--log", url, "--log-key", vkey, "--state",
		state2, "--policy", pol, "--json");
	expect(&r, 1, "policy");
	want = tu_strf("{\"type\":\"finding\",\"rule\":\"policy\",\"index\":6,"
		       "\"detail\":\"unknown-key: ");
	expect_has(r.out, want, "policy finding");
	free(want);
	expect_has(r.out, "\"rule\":\"after-revocation\",\"index\":6,",
		   "policy run");
	expect_has(r.out, "\"findings\":6,", "policy summary");
	rr_free(&r);

	/* monitor --once with watches. */
	r = RUN(dir, "monitor", "--once", "--log", url, "--log-key", vkey,
		"--state", state3, "--watch-product", "p1", "--watch-key",
		rl.k2_keyid, "--watch-digest", hc);
	expect(&r, 1, "monitor --once");
	const char *lines[] = {
		"{\"alert\":\"checkpoint\",\"size\":10,\"root\":\"",
		tu_strf("{\"alert\":\"watched-product\",\"index\":1,\"kind\":"
			"\"release\",\"product\":\"p1\",\"version\":\"1.0\","
			"\"digest\":\"%s\",\"keyids\":[\"%s\"]}\n", ha,
			rl.k1_keyid),
		tu_strf("{\"alert\":\"watched-digest\",\"index\":3,\"kind\":"
			"\"build\",\"product\":null,\"version\":null,"
			"\"digest\":\"%s\",\"keyids\":[\"%s\"]}\n", hc,
			rl.k1_keyid),
		tu_strf("{\"alert\":\"watched-digest\",\"index\":4,\"kind\":"
			"\"release\",\"product\":\"p1\",\"version\":\"1.5\","
			"\"digest\":\"%s\",", hc),
		"{\"alert\":\"watched-product\",\"index\":4,",
		"{\"alert\":\"watched-key\",\"index\":5,\"kind\":"
		"\"revocation\",",
		tu_strf("{\"alert\":\"watched-key\",\"index\":6,\"kind\":"
			"\"build\",\"product\":null,\"version\":null,"
			"\"digest\":\"%s\",", (hex_of("D", hb), hb)),
		"{\"alert\":\"finding\",\"rule\":\"after-revocation\","
		"\"index\":6,",
		"{\"alert\":\"watched-product\",\"index\":7,\"kind\":"
		"\"revocation\",",
		"{\"alert\":\"watched-product\",\"index\":8,",
		"{\"alert\":\"finding\",\"rule\":\"malformed-entry\","
		"\"index\":9,",
	};
	for (size_t i = 0; i < sizeof lines / sizeof lines[0]; i++) {
		expect_has(r.out, lines[i], "monitor");
	}
	ck_assert_msg(strncmp(r.out, lines[0], strlen(lines[0])) == 0,
		      "checkpoint alert first:\n%s", r.out);
	/* 1 checkpoint + 5 findings + watched 1,2,3,4 (twice),5,6,7,8. */
	ck_assert_int_eq(count_lines(r.out), 1 + 5 + 9);
	ck_assert(strstr(r.out, "\"index\":0,") == NULL);
	for (size_t i = 1; i < 7; i++) {
		if (i != 4 && i != 5) {
			free((char *)lines[i]);
		}
	}
	rr_free(&r);

	/* Cosignature quorum: a witness key that never cosigned. */
	{
		ft_skey w;
		ft_vkey wv;
		char ws[FT_KEY_STR_MAX];
		size_t wl;
		ck_assert(ft_key_from_seed("witness.example", 15,
					   FT_KEY_COSIG_V1,
					   (const uint8_t *)
					   "0123456789abcdef0123456789abcdef",
					   &w) == 0);
		ft_skey_public(&w, &wv);
		ck_assert(ft_vkey_format(&wv, ws, sizeof ws, &wl) == 0);
		r = RUN(dir, "audit", "--log", url, "--log-key", vkey,
			"--state", state, "--witness-key", ws);
		expect(&r, 1, "quorum");
		expect_has(r.err, "has 0 of the 1 required witness", "quorum");
		rr_free(&r);
		/* Now cosigned. */
		char *cpath = tu_strf("%s/checkpoint", root);
		size_t nl, orig_len;
		uint8_t *note = slurp(cpath, &orig_len);
		uint8_t buf[4096];
		memcpy(buf, note, orig_len);
		nl = orig_len;
		ck_assert(ft_cosig_add(&w, 1700000000, buf, sizeof buf, &nl) ==
			  0);
		ck_assert(tu_write_file(cpath, buf, nl) == 0);
		r = RUN(dir, "audit", "--log", url, "--log-key", vkey,
			"--state", state, "--witness-key", ws);
		expect(&r, 0, "quorum met");
		rr_free(&r);
		/* A bad log signature is an alarm. */
		buf[nl - 10] ^= 1;
		ck_assert(tu_write_file(cpath, buf, nl) == 0);
		r = RUN(dir, "audit", "--log", url, "--log-key", vkey,
			"--state", state, "--witness-key", ws);
		expect(&r, 4, "bad cosignature");
		rr_free(&r);
		ck_assert(tu_write_file(cpath, note, orig_len) == 0);
		free(note);
		free(cpath);
		ft_skey_wipe(&w);
	}

	ngx_stop(&g);
	free(url);
	rules_free(&rl);
	ft_skey_wipe(&logkey);
	free(root);
	free(state);
	free(state2);
	free(state3);
	free(ngx_dir);
	free(pol);
	tu_rmtree(dir);
	free(dir);
}
END_TEST

/* ---- fork: same key, other entries. */

static void copy_file(const char *from, const char *to)
{
	size_t len;
	uint8_t *b = slurp(from, &len);

	ck_assert(tu_write_file(to, b, len) == 0);
	ck_assert(chmod(to, 0600) == 0);
	free(b);
}

START_TEST(audit_split_view)
{
	lh_server a, b;

	memset(&a, 0, sizeof a);
	memset(&b, 0, sizeof b);
	ck_assert(lh_init(&a, "audit.example/fork") == 0);
	ck_assert(lh_init(&b, "audit.example/fork") == 0);
	/* b signs with a's key. */
	char *ka = tu_strf("%s/log.key", a.data);
	char *kb = tu_strf("%s/log.key", b.data);
	char *pa = tu_strf("%s/log.pub", a.data);
	char *pb = tu_strf("%s/log.pub", b.data);
	copy_file(ka, kb);
	copy_file(pa, pb);
	ck_assert(lh_start(&a, 1, k_args) == 0);
	ck_assert(lh_start(&b, 1, k_args) == 0);
	fill(&a, 0, 0, 300);
	fill(&b, 1000000, 0, 300);
	wait_export(&a, 300);
	wait_export(&b, 300);
	char *ua = url_of(a.port), *ub = url_of(b.port);
	char *state = tu_strf("%s/state", a.dir);
	char *mdb = tu_strf("%s/data.mdb", state);

	run_result r = RUN(a.dir, "audit", "--log", ua, "--log-key",
			   a.vkey_str, "--state", state);
	expect(&r, 0, "audit a");
	summary_is(&r, a.origin, 0, 300, 0);
	rr_free(&r);
	size_t slen;
	uint8_t *before = slurp(mdb, &slen);

	/* Same size, other root. */
	r = RUN(a.dir, "audit", "--log", ub, "--log-key", a.vkey_str,
		"--state", state);
	expect(&r, 4, "split view");
	expect_has(r.err, "alarm: split view", "split view");
	rr_free(&r);
	r = RUN(a.dir, "audit", "--log", ub, "--log-key", a.vkey_str,
		"--state", state, "--json");
	expect(&r, 4, "split view json");
	expect_has(r.out, "{\"type\":\"alarm\",\"reason\":\"split view",
		   "json alarm");
	rr_free(&r);
	r = RUN(a.dir, "monitor", "--log", ub, "--log-key", a.vkey_str,
		"--state", state, "--interval", "100ms");
	expect(&r, 4, "monitor split view");
	static const char incons[] =
		"{\"alert\":\"inconsistency\",\"reason\":\"split view";
	ck_assert_msg(strncmp(r.out, incons, strlen(incons)) == 0 &&
		      count_lines(r.out) == 1, "monitor:\n%s", r.out);
	rr_free(&r);

	/* b grows: its entries do not extend what was audited. */
	fill(&b, 1000000, 300, 350);
	wait_export(&b, 350);
	r = RUN(a.dir, "audit", "--log", ub, "--log-key", a.vkey_str,
		"--state", state);
	expect(&r, 4, "fork grows");
	expect_has(r.err, "history rewritten", "fork grows");
	rr_free(&r);
	ck_assert_msg(same_file(mdb, before, slen), "state changed");

	/* a grows; then b (at 350) is behind a: rollback. */
	fill(&a, 0, 300, 400);
	wait_export(&a, 400);
	r = RUN(a.dir, "audit", "--log", ua, "--log-key", a.vkey_str,
		"--state", state);
	expect(&r, 0, "audit a again");
	summary_is(&r, a.origin, 300, 400, 0);
	rr_free(&r);
	r = RUN(a.dir, "audit", "--log", ub, "--log-key", a.vkey_str,
		"--state", state);
	expect(&r, 4, "rollback");
	expect_has(r.err, "alarm: rollback", "rollback");
	rr_free(&r);

	/* A state made for another log (b's own key: same origin). */
	r = RUN(a.dir, "audit", "--log", ua, "--log-key", b.vkey_str,
		"--state", state);
	expect(&r, 2, "other log's state");
	expect_has(r.err, "belongs to another log", "other state");
	rr_free(&r);

	/* Unreachable: exit 3; monitor keeps going and stops on SIGTERM. */
	r = RUN(a.dir, "audit", "--log", "http://127.0.0.1:1", "--log-key",
		a.vkey_str, "--state", state, "--timeout", "2s");
	expect(&r, 3, "unreachable");
	rr_free(&r);
	{
		char *outp = tu_strf("%s/mon.out", a.dir);
		pid_t pid = fork();
		ck_assert(pid >= 0);
		if (pid == 0) {
			int o = open(outp, O_WRONLY | O_CREAT | O_TRUNC, 0600);
			(void)prctl(PR_SET_PDEATHSIG, SIGKILL);
			dup2(o, 1);
			execl(ftlog_path(), "ftlog", "monitor", "--log", ua,
			      "--log-key", a.vkey_str, "--state", state,
			      "--interval", "200ms", (char *)NULL);
			_exit(127);
		}
		fill(&a, 0, 400, 420);
		double t0 = now();
		size_t len = 0;
		char *out = NULL;
		for (;;) {
			free(out);
			out = (char *)tu_read_file(outp, &len);
			if (out != NULL && strstr(out, "\"size\":420,") != NULL) {
				break;
			}
			ck_assert_msg(now() - t0 < 20.0, "monitor output:\n%s",
				      out ? out : "");
			tu_sleep_ms(50);
		}
		free(out);
		kill(pid, SIGTERM);
		int st = 0;
		ck_assert(waitpid(pid, &st, 0) == pid);
		ck_assert_msg(WIFEXITED(st) && WEXITSTATUS(st) == 0,
			      "monitor after SIGTERM: status %d", st);
		free(outp);
	}

	free(before);
	free(mdb);
	free(state);
	free(ua);
	free(ub);
	free(ka);
	free(kb);
	free(pa);
	free(pb);
	ck_assert(lh_log_clean(&a) == 0 && lh_log_clean(&b) == 0);
	ck_assert_int_eq(lh_stop(&a), 0);
	ck_assert_int_eq(lh_stop(&b), 0);
	lh_cleanup(&a);
	lh_cleanup(&b);
}
END_TEST

static Suite *audit_suite(void)
{
	Suite *s = suite_create("audit");
	TCase *tc = tcase_create("audit");

	tcase_add_unchecked_fixture(tc, lh_suite_setup, lh_suite_teardown);
	tcase_set_timeout(tc, 240);
	tcase_add_test(tc, audit_rules_and_monitor);
	tcase_add_test(tc, audit_split_view);
	tcase_add_test(tc, audit_big_log_via_nginx);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	signal(SIGPIPE, SIG_IGN);
	if (access(nh_nginx_path(), X_OK) != 0) {
		const char *v = getenv("FTLOG_NO_NGINX");
		if (v != NULL && strcmp(v, "1") == 0) {
			printf("test_audit: SKIP: no nginx\n");
			return 77;
		}
	}
	return tu_run_suite(audit_suite());
}
