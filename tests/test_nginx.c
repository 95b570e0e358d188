/*
 * tests/test_nginx.c - the static export served by a real nginx is
 * byte-for-byte what ftlogd serves itself.
 *
 * ftlogd runs with --tiles-dir; entries are appended in several batches
 * of different sizes, so the export holds full tiles, partial tiles of
 * several widths, entry bundles and a checkpoint. Then nginx (Debian's
 * /usr/sbin/nginx, or $FTLOG_NGINX) is started on 127.0.0.1 with the
 * server block of docs/nginx.conf.example - the production config we
 * recommend, with only its listen address, root and upstream port
 * rewritten - and every file under the tiles directory is fetched from
 * both: the bodies must be equal to each other and to the file, with the
 * same Content-Type and Cache-Control. The proxied locations of the
 * example (/add, /proof/, /healthz, /metrics) are exercised through nginx
 * too.
 *
 * nginx missing is a failure (./run installs the Debian package
 * nginx-light before building; tests never download anything), unless
 * FTLOG_NO_NGINX=1: then the test is skipped (exit 77).
 *
 * The example is found at $FTLOG_NGINX_EXAMPLE, else next to this source
 * file (docs/ beside tests/, located through __FILE__, which automake
 * gives relative to the build directory the tests run in).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <ftw.h>
#include <inttypes.h>
#include <netinet/in.h>
#include <arpa/inet.h>
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

#include <ftlog/tile.h>

#include "tests/logd_harness.h"
#include "tests/nginx_harness.h"
#include "tests/testutil.h"

#define CT_OCTET "application/octet-stream"
#define CT_TEXT "text/plain; charset=utf-8"
#define CC_TILE "public, max-age=31536000, immutable"
#define CC_CHECKPOINT "public, max-age=2"

static const char *const k_args[] = {
	"--batch-interval", "50ms",
	NULL,
};

static double now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

/* ---- Appending. */

/* Entry i: a signed event (lh_event), its length varying with i (about
 * 730 to 1400 bytes). malloc'd. */
static uint8_t *make_entry(unsigned i, size_t *len)
{
	uint8_t *e = NULL;

	ck_assert_msg(lh_event(i, 700 + (i * 37u) % 700u, &e, len) == 0,
		      "cannot make event %u", i);
	return e;
}

/*
 * Append entries [from, to) with up to 64 submissions in flight; record
 * each index. The sequencer cuts a batch every 50 ms, so one call makes
 * several commits, hence several partial tile widths.
 */
static void append_range(int port, unsigned from, unsigned to,
			 uint64_t *index_of)
{
	enum { PAR = 64 };
	lh_conn c[PAR];

	for (unsigned base = from; base < to; base += PAR) {
		unsigned n = to - base < PAR ? to - base : PAR;
		for (unsigned k = 0; k < n; k++) {
			char head[160];
			size_t len = 0;
			uint8_t *entry = make_entry(base + k, &len);
			int hl = snprintf(head, sizeof head,
					  "POST /add HTTP/1.1\r\nHost: x\r\n"
					  "Content-Length: %zu\r\n\r\n", len);
			ck_assert(lh_conn_open(&c[k], port) == 0);
			ck_assert(lh_conn_send(&c[k], head, (size_t)hl) == 0);
			ck_assert(lh_conn_send(&c[k], entry, len) == 0);
			free(entry);
		}
		for (unsigned k = 0; k < n; k++) {
			lh_resp r;
			uint64_t idx;
			ck_assert_msg(lh_conn_read_response(&c[k], &r, 20000)
				      == 0, "add %u: no answer", base + k);
			ck_assert_msg(r.status == 200, "add %u: status %d",
				      base + k, r.status);
			const char *p = strstr((const char *)r.body,
					       "\nindex ");
			ck_assert(p != NULL &&
				  sscanf(p, "\nindex %" SCNu64, &idx) == 1);
			index_of[base + k] = idx;
			lh_resp_free(&r);
			lh_conn_close(&c[k]);
		}
	}
}

/* Tree size in DIR/checkpoint (its second line), or 0. */
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

/* Wait until the export has caught up with the server's checkpoint. */
static void wait_export(const lh_server *s, uint64_t want)
{
	double t0 = now();
	uint64_t size = 0;
	uint8_t root[32];

	ck_assert(lh_checkpoint(s, &size, root, NULL) == 0);
	ck_assert_msg(size == want, "tree size %" PRIu64 ", want %" PRIu64,
		      size, want);
	while (exported_size(s->tiles) != want) {
		ck_assert_msg(now() - t0 < 10.0, "export stuck at size %"
			      PRIu64 ", want %" PRIu64,
			      exported_size(s->tiles), want);
		tu_sleep_ms(20);
	}
}

/* ---- Walking the tiles directory. */

#define MAX_FILES 4096

static char *g_files[MAX_FILES];
static size_t g_nfiles;
static size_t g_root_len;
static int g_stray;

static int visit(const char *path, const struct stat *st, int flag,
		 struct FTW *ftw)
{
	(void)ftw;
	if (flag != FTW_F) {
		return 0;
	}
	const char *rel = path + g_root_len + 1;
	const char *base = strrchr(rel, '/');
	base = base != NULL ? base + 1 : rel;
	if (base[0] == '.' || !S_ISREG(st->st_mode)) {
		g_stray++; /* a temporary file left behind, or not a file */
		fprintf(stderr, "test_nginx: stray file %s\n", rel);
		return 0;
	}
	if (g_nfiles < MAX_FILES) {
		g_files[g_nfiles++] = strdup(rel);
	}
	return 0;
}

static int has_file(const char *rel)
{
	for (size_t i = 0; i < g_nfiles; i++) {
		if (strcmp(g_files[i], rel) == 0) {
			return 1;
		}
	}
	return 0;
}

static int expect_tile_file(void *ctx, const ft_tile *t)
{
	char p[FT_TILE_PATH_MAX];
	size_t n;

	(void)ctx;
	ck_assert(ft_tile_path(t, p, sizeof p, &n) == 0);
	ck_assert_msg(has_file(p), "export lacks %s", p);
	return 0;
}

/* ---- Comparing. */

static void header_is(const lh_resp *r, const char *name, const char *want,
		      const char *who, const char *path)
{
	char v[256];

	ck_assert_msg(lh_header(r, name, v, sizeof v) == 0,
		      "%s %s: no %s header", who, path, name);
	ck_assert_msg(strcmp(v, want) == 0, "%s %s: %s \"%s\", want \"%s\"",
		      who, path, name, v, want);
}

/* GET path from both servers: 200, same bytes (equal to file when not
 * NULL), same content type and cache policy. */
static void same_on_both(int ngx, int ftl, const char *path,
			 const uint8_t *file, size_t file_len,
			 const char *ctype, const char *cache)
{
	lh_resp a, b;

	ck_assert_msg(lh_http(ngx, "GET", path, NULL, 0, &a) == 0,
		      "nginx GET %s failed", path);
	ck_assert_msg(lh_http(ftl, "GET", path, NULL, 0, &b) == 0,
		      "ftlogd GET %s failed", path);
	ck_assert_msg(a.status == 200, "nginx GET %s: %d", path, a.status);
	ck_assert_msg(b.status == 200, "ftlogd GET %s: %d", path, b.status);
	ck_assert_msg(a.body_len == b.body_len &&
		      memcmp(a.body, b.body, a.body_len) == 0,
		      "%s differs: nginx %zu bytes, ftlogd %zu bytes", path,
		      a.body_len, b.body_len);
	if (file != NULL) {
		ck_assert_msg(a.body_len == file_len &&
			      memcmp(a.body, file, file_len) == 0,
			      "%s: served bytes differ from the file", path);
	}
	header_is(&a, "Content-Type", ctype, "nginx", path);
	header_is(&b, "Content-Type", ctype, "ftlogd", path);
	header_is(&a, "Cache-Control", cache, "nginx", path);
	header_is(&b, "Cache-Control", cache, "ftlogd", path);
	lh_resp_free(&a);
	lh_resp_free(&b);
}

static int status_of(int port, const char *method, const char *path,
		     const void *body, size_t len)
{
	lh_resp r;

	ck_assert_msg(lh_http(port, method, path, body, len, &r) == 0,
		      "%s %s failed", method, path);
	int st = r.status;
	lh_resp_free(&r);
	return st;
}

/* ---- The test. */

START_TEST(nginx_serves_the_same_bytes)
{
	ck_assert_msg(nh_present(), "nginx not found at %s: "
		      "install the Debian package nginx-light (./run does), "
		      "set FTLOG_NGINX to its path, or "
		      "set FTLOG_NO_NGINX=1 to skip this test", nh_nginx_path());

	lh_server s;
	enum { TOTAL = 705 };
	static uint64_t index_of[TOTAL];

	memset(&s, 0, sizeof s);
	ck_assert(lh_init(&s, "nginx.example/log") == 0);
	ck_assert_msg(lh_start(&s, 1, k_args) == 0, "ftlogd did not start");

	/* Batches of different sizes: 100, 300, 300, then 5 one at a
	 * time, so the export holds partial tiles of many widths. */
	static const unsigned cuts[] = { 0, 100, 400, 700, 701, 702, 703,
					 704, 705 };
	for (size_t k = 0; k + 1 < sizeof cuts / sizeof cuts[0]; k++) {
		append_range(s.port, cuts[k], cuts[k + 1], index_of);
		wait_export(&s, cuts[k + 1]);
	}
	/* Every index was handed out exactly once. */
	static uint8_t seen[TOTAL];
	for (unsigned i = 0; i < TOTAL; i++) {
		ck_assert_msg(index_of[i] < TOTAL && !seen[index_of[i]],
			      "index %" PRIu64 " twice or out of range",
			      index_of[i]);
		seen[index_of[i]] = 1;
	}

	/* Every tile of the final tree is there, plus older partials. */
	g_nfiles = 0;
	g_stray = 0;
	g_root_len = strlen(s.tiles);
	ck_assert(nftw(s.tiles, visit, 32, FTW_PHYS) == 0);
	ck_assert_msg(g_stray == 0, "%d stray files in the export", g_stray);
	ck_assert(ft_tile_foreach_new(0, TOTAL, expect_tile_file, NULL) == 0);
	ck_assert(has_file("checkpoint"));
	ck_assert(has_file("tile/0/000") && has_file("tile/0/001") &&
		  has_file("tile/0/002.p/193") && has_file("tile/1/000.p/2") &&
		  has_file("tile/entries/001") &&
		  has_file("tile/entries/002.p/193"));
	size_t partials = 0;
	for (size_t i = 0; i < g_nfiles; i++) {
		partials += strstr(g_files[i], ".p/") != NULL;
	}
	ck_assert_msg(partials >= 10, "only %zu partial tiles exported",
		      partials);

	/* nginx with the example's server block. */
	int port = nh_free_port();
	char ngx_dir[1024];
	snprintf(ngx_dir, sizeof ngx_dir, "%s/nginx", s.dir);
	ck_assert(mkdir(ngx_dir, 0700) == 0);
	nh_write_conf(ngx_dir, port, s.port, s.tiles);
	pid_t ngx = nh_start(ngx_dir, port);

	/* Every exported file, from both. */
	for (size_t i = 0; i < g_nfiles; i++) {
		char fpath[1024], url[1100];
		size_t flen = 0;
		snprintf(fpath, sizeof fpath, "%s/%s", s.tiles, g_files[i]);
		snprintf(url, sizeof url, "/%s", g_files[i]);
		uint8_t *file = tu_read_file(fpath, &flen);
		ck_assert(file != NULL);
		if (strcmp(g_files[i], "checkpoint") == 0) {
			same_on_both(port, s.port, url, file, flen, CT_TEXT,
				     CC_CHECKPOINT);
		} else {
			ck_assert_msg(strncmp(g_files[i], "tile/", 5) == 0,
				      "unexpected file %s", g_files[i]);
			same_on_both(port, s.port, url, file, flen, CT_OCTET,
				     CC_TILE);
		}
		free(file);
	}

	/* Tiles that do not exist (yet): 404 from both. */
	static const char *const missing[] = {
		"/tile/0/002", "/tile/0/999", "/tile/entries/002",
		"/tile/1/000", "/tile/0/002.p/194",
	};
	for (size_t i = 0; i < sizeof missing / sizeof missing[0]; i++) {
		ck_assert_msg(status_of(port, "GET", missing[i], NULL, 0) ==
			      404, "nginx %s: not 404", missing[i]);
		ck_assert_msg(status_of(s.port, "GET", missing[i], NULL, 0) ==
			      404, "ftlogd %s: not 404", missing[i]);
	}

	/* The proxied locations. */
	lh_resp a, b;
	ck_assert(lh_http(port, "GET", "/proof/inclusion?index=3&size=705",
			  NULL, 0, &a) == 0);
	ck_assert(lh_http(s.port, "GET", "/proof/inclusion?index=3&size=705",
			  NULL, 0, &b) == 0);
	ck_assert_msg(a.status == 200 && b.status == 200 &&
		      a.body_len == b.body_len &&
		      memcmp(a.body, b.body, a.body_len) == 0,
		      "inclusion proof via nginx differs");
	lh_resp_free(&a);
	lh_resp_free(&b);
	ck_assert(lh_http(port, "GET", "/healthz", NULL, 0, &a) == 0);
	ck_assert_msg(a.status == 200 && a.body_len == 3 &&
		      memcmp(a.body, "ok\n", 3) == 0, "/healthz via nginx");
	lh_resp_free(&a);
	ck_assert_int_eq(status_of(port, "GET", "/metrics", NULL, 0), 200);
	ck_assert_int_eq(status_of(port, "GET", "/no/such/thing", NULL, 0),
			 404);
	ck_assert_int_eq(status_of(port, "POST", "/checkpoint", "x", 1), 403);

	/* An entry over 64 KiB stops at nginx. */
	size_t big_len = 70000;
	uint8_t *big = NULL;
	ck_assert(lh_event_exact(TOTAL + 1000, big_len, &big) == 0);
	ck_assert_int_eq(status_of(port, "POST", "/add", big, big_len), 413);
	free(big);

	/* Refusals of the policy pass through nginx unchanged: an event
	 * signed by a key the policy does not know. */
	ft_skey stranger;
	uint8_t *bad = NULL;
	size_t badlen = 0;
	ck_assert(lh_key("ftlog-stranger", 0x17, &stranger) == 0);
	ck_assert(lh_event_key(&stranger, TOTAL + 1001, 0, &bad, &badlen) ==
		  0);
	ft_skey_wipe(&stranger);
	{
		lh_resp ra;
		ck_assert(lh_http(port, "POST", "/add", bad, badlen, &ra) == 0);
		ck_assert_msg(ra.status == 403 &&
				      strncmp((const char *)ra.body,
					      "unknown-key:", 12) == 0,
			      "unknown key via nginx: %d %s", ra.status,
			      (const char *)ra.body);
		lh_resp_free(&ra);
	}
	free(bad);

	/* A submission through nginx, then the new export is served the
	 * same by both. */
	uint64_t idx;
	size_t vialen = 0;
	uint8_t *via = NULL;
	ck_assert(lh_event(TOTAL + 1002, 0, &via, &vialen) == 0);
	ck_assert(lh_add(port, via, vialen, &idx, NULL) == 0);
	free(via);
	ck_assert_msg(idx == TOTAL, "index %" PRIu64, idx);
	wait_export(&s, TOTAL + 1);
	same_on_both(port, s.port, "/checkpoint", NULL, 0, CT_TEXT,
		     CC_CHECKPOINT);
	same_on_both(port, s.port, "/tile/0/002.p/194", NULL, 0, CT_OCTET,
		     CC_TILE);
	same_on_both(port, s.port, "/tile/entries/002.p/194", NULL, 0,
		     CT_OCTET, CC_TILE);

	ck_assert_msg(nh_stop(ngx) != -1, "nginx ignored SIGTERM");
	for (size_t i = 0; i < g_nfiles; i++) {
		free(g_files[i]);
	}
	g_nfiles = 0;
	int st = lh_stop(&s);
	lh_cleanup(&s);
	ck_assert_msg(st == 0, "ftlogd exit status %d", st);
}
END_TEST

static Suite *nginx_suite(void)
{
	Suite *s = suite_create("nginx");
	TCase *tc = tcase_create("nginx");

	tcase_add_unchecked_fixture(tc, lh_suite_setup, lh_suite_teardown);
	tcase_set_timeout(tc, 120);
	tcase_add_test(tc, nginx_serves_the_same_bytes);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	signal(SIGPIPE, SIG_IGN);
	if (!nh_present()) {
		if (nh_missing_ok()) {
			printf("test_nginx: SKIP: no nginx at %s and "
			       "FTLOG_NO_NGINX=1\n", nh_nginx_path());
			return 77;
		}
		/* The test fails with a clear message. */
	}
	return tu_run_suite(nginx_suite());
}
