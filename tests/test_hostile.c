/*
 * tests/test_hostile.c - the real ftlogd against hostile and broken
 * clients, on 127.0.0.1 only.
 *
 * Every test runs against its own ftlogd (started by a checked fixture in
 * the test's own process; the harness kills it if the test fails) with
 * small limits:
 *   header 500 ms, request 1 s, idle 2 s, write 2 s, 64 connections,
 *   batches every 50 ms, the harness's default policy (valid adds are
 *   signed events from lh_event).
 * After every hostile case the test checks that GET /checkpoint still
 * verifies and that the tree grew by exactly the valid adds it made.
 * The teardown stops the server with SIGTERM and demands exit status 0.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <arpa/inet.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#include <check.h>

#include <ftlog/merkle.h>

#include "tests/logd_harness.h"
#include "tests/testutil.h"

#define MAX_CONNS 64
#define HEADER_TIMEOUT 0.5
#define REQUEST_TIMEOUT 1.0
#define IDLE_TIMEOUT 2.0
#define WRITE_TIMEOUT 2.0
#define BATCH_MS 50
/* How late past a deadline the server may act (a busy ASan build). */
#define SLACK 1.0

static const char *const k_args[] = {
	"--batch-interval", "50ms",
	"--header-timeout", "500ms",
	"--request-timeout", "1s",
	"--idle-timeout", "2s",
	"--write-timeout", "2s",
	"--max-connections", "64",
	NULL,
};

static lh_server g_srv;
static int g_started;

/* ---- Fixture (runs in the forked test process). */

static void print_log_tail(void)
{
	size_t len = 0;
	uint8_t *log = tu_read_file(g_srv.log, &len);

	if (log != NULL) {
		size_t from = len > 4000 ? len - 4000 : 0;
		fprintf(stderr, "---- ftlogd log (tail) ----\n%s\n----\n",
			(const char *)log + from);
		free(log);
	}
}

static void srv_setup(void)
{
	memset(&g_srv, 0, sizeof g_srv);
	g_started = 0;
	if (lh_init(&g_srv, "hostile.example/log") != 0) {
		fprintf(stderr, "test_hostile: ftlogd init failed (%s)\n",
			lh_ftlogd_path());
		return;
	}
	if (lh_start(&g_srv, 0, k_args) != 0) {
		fprintf(stderr, "test_hostile: ftlogd serve failed\n");
		print_log_tail();
		return;
	}
	g_started = 1;
}

/* The server must also survive the test: SIGTERM, exit status 0. */
static void srv_teardown(void)
{
	int st = 0;

	if (g_started && g_srv.pid != 0) {
		st = lh_stop(&g_srv);
		if (st != 0) {
			print_log_tail();
		}
	}
	lh_cleanup(&g_srv);
	g_started = 0;
	ck_assert_msg(st == 0, "ftlogd exit status %d after SIGTERM (want 0)",
		      st);
}

/* ---- Small helpers. */

static double now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

/* A process that is gone or a zombie is dead. */
static int server_alive(void)
{
	char path[64], line[256];
	FILE *f;
	int alive = 0;

	snprintf(path, sizeof path, "/proc/%d/status", (int)g_srv.pid);
	f = fopen(path, "r");
	if (f == NULL) {
		return 0;
	}
	while (fgets(line, sizeof line, f) != NULL) {
		if (strncmp(line, "State:", 6) == 0) {
			alive = strchr(line, 'Z') == NULL &&
				strchr(line, 'X') == NULL;
			break;
		}
	}
	fclose(f);
	return alive;
}

/* VmRSS of the server in KiB, or -1. */
static long server_rss_kib(void)
{
	char path[64], line[256];
	FILE *f;
	long kib = -1;

	snprintf(path, sizeof path, "/proc/%d/status", (int)g_srv.pid);
	f = fopen(path, "r");
	if (f == NULL) {
		return -1;
	}
	while (fgets(line, sizeof line, f) != NULL) {
		if (sscanf(line, "VmRSS: %ld kB", &kib) == 1) {
			break;
		}
	}
	fclose(f);
	return kib;
}

static void require_server(void)
{
	ck_assert_msg(g_started, "ftlogd did not start (binary %s)",
		      lh_ftlogd_path());
	ck_assert_msg(server_alive(), "ftlogd is not running");
}

/* The verified checkpoint's tree size. */
static uint64_t tree_size(void)
{
	uint64_t size = 0;
	uint8_t root[32];

	ck_assert_msg(lh_checkpoint(&g_srv, &size, root, NULL) == 0,
		      "GET /checkpoint failed or did not verify");
	return size;
}

/*
 * The server survived: still running, GET /checkpoint answers 200 with a
 * checkpoint that verifies, and the tree is exactly `want` entries.
 */
static void check_healthy(uint64_t want)
{
	ck_assert_msg(server_alive(), "ftlogd died");
	uint64_t size = tree_size();
	ck_assert_msg(size == want, "tree size %" PRIu64 ", want %" PRIu64,
		      size, want);
}

/* A blocking TCP connection to the server with 10 s socket timeouts. */
static int tcp_connect(void)
{
	struct sockaddr_in a;
	struct timeval tv = { 10, 0 };
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);

	ck_assert_msg(fd >= 0, "socket: %s", strerror(errno));
	memset(&a, 0, sizeof a);
	a.sin_family = AF_INET;
	a.sin_port = htons((uint16_t)g_srv.port);
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	ck_assert_msg(connect(fd, (struct sockaddr *)&a, sizeof a) == 0,
		      "connect: %s", strerror(errno));
	(void)setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
	(void)setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
	return fd;
}

/* Write everything; 0, or -1 if the peer went away (no SIGPIPE). */
static int send_all(int fd, const void *data, size_t len)
{
	const uint8_t *p = data;

	while (len > 0) {
		ssize_t n = send(fd, p, len, MSG_NOSIGNAL);
		if (n < 0 && errno == EINTR) {
			continue;
		}
		if (n <= 0) {
			return -1;
		}
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

static int send_str(int fd, const char *s)
{
	return send_all(fd, s, strlen(s));
}

/* Close with a reset (SO_LINGER 0) rather than a FIN. */
static void close_reset(int fd)
{
	struct linger lg = { 1, 0 };

	(void)setsockopt(fd, SOL_SOCKET, SO_LINGER, &lg, sizeof lg);
	close(fd);
}

/*
 * What the server said on a connection until it closed it.
 * closed: 1 after EOF or a reset, 0 if still open at the deadline.
 */
typedef struct drain {
	char buf[65536];
	size_t len;
	int closed;
	double elapsed; /* seconds until closed (or until the deadline) */
} drain;

/* Read until the server closes or timeout_s passes. */
static void drain_until_close(int fd, double timeout_s, drain *d)
{
	double t0 = now();

	d->len = 0;
	d->closed = 0;
	for (;;) {
		double left = timeout_s - (now() - t0);
		if (left <= 0) {
			break;
		}
		struct pollfd p = { fd, POLLIN, 0 };
		int r = poll(&p, 1, (int)(left * 1000) + 1);
		if (r < 0 && errno == EINTR) {
			continue;
		}
		if (r <= 0) {
			break;
		}
		char tmp[16384];
		ssize_t n = recv(fd, tmp, sizeof tmp, 0);
		if (n < 0 && errno == EINTR) {
			continue;
		}
		if (n <= 0) {
			d->closed = 1;
			break;
		}
		size_t room = sizeof d->buf - 1 - d->len;
		size_t take = (size_t)n < room ? (size_t)n : room;
		memcpy(d->buf + d->len, tmp, take);
		d->len += take;
	}
	d->buf[d->len] = 0;
	d->elapsed = now() - t0;
}

/* Status of the first response in d, or 0 if there is none. */
static int first_status(const drain *d)
{
	int st = 0;

	if (d->len < 12 || strncmp(d->buf, "HTTP/1.1 ", 9) != 0) {
		return 0;
	}
	if (sscanf(d->buf + 9, "%3d", &st) != 1) {
		return 0;
	}
	return st;
}

/* Number of lines starting "HTTP/1.1 NNN " in d (status lines; our
 * error bodies are one line that does not start so). */
static int count_responses(const drain *d)
{
	int n = 0;
	const char *p = d->buf;

	while ((p = strstr(p, "HTTP/1.1 ")) != NULL) {
		if (p == d->buf || p[-1] == '\n') {
			n++;
		}
		p += 9;
	}
	return n;
}

/* Exactly one response with this status, then the server closed. */
static void expect_error_and_close(const drain *d, int status,
				   const char *what)
{
	ck_assert_msg(d->closed, "%s: the server kept the connection open",
		      what);
	ck_assert_msg(first_status(d) == status,
		      "%s: want status %d, got %d (%.60s)", what, status,
		      first_status(d), d->buf);
	ck_assert_msg(count_responses(d) == 1, "%s: %d responses", what,
		      count_responses(d));
	ck_assert_msg(strstr(d->buf, "\r\nConnection: close\r\n") != NULL,
		      "%s: error response without Connection: close", what);
}

/* One raw request on a fresh connection, its answer, and the close. */
static void raw_exchange(const char *req, size_t len, double timeout_s,
			 drain *d)
{
	int fd = tcp_connect();

	(void)send_all(fd, req, len);
	drain_until_close(fd, timeout_s, d);
	close(fd);
}

/* The event number of entry i with this tag. */
static uint64_t event_number(const char *tag, unsigned i)
{
	uint32_t h = 2166136261u;

	for (const char *p = tag; *p; p++) {
		h = (h ^ (uint8_t)*p) * 16777619u;
	}
	return ((uint64_t)(h & 0xffff) << 32) | i;
}

/* Signed event i with this tag: exactly `size` bytes if size > 1000,
 * else the smallest (about 730 bytes). malloc'd. */
static uint8_t *make_event(const char *tag, unsigned i, size_t size,
			   size_t *len)
{
	uint8_t *e = NULL;

	if (size > 1000) {
		ck_assert_msg(lh_event_exact(event_number(tag, i), size, &e) ==
				      0,
			      "cannot make a %zu-byte event", size);
		*len = size;
	} else {
		ck_assert_msg(lh_event(event_number(tag, i), 0, &e, len) == 0,
			      "cannot make an event");
	}
	return e;
}

/*
 * Append n distinct signed events (make_event(tag, i, size)), all in
 * flight at once (up to 32 connections), and check each answer. Returns
 * the smallest index assigned.
 */
static uint64_t add_many(const char *tag, unsigned n, size_t size)
{
	lh_conn c[32];
	uint64_t lo = UINT64_MAX;

	ck_assert(n <= 32);
	for (unsigned i = 0; i < n; i++) {
		ck_assert_msg(lh_conn_open(&c[i], g_srv.port) == 0,
			      "add: connect");
	}
	for (unsigned i = 0; i < n; i++) {
		char head[256];
		size_t elen = 0;
		uint8_t *entry = make_event(tag, i, size, &elen);
		int hl = snprintf(head, sizeof head,
				  "POST /add HTTP/1.1\r\nHost: 127.0.0.1\r\n"
				  "Content-Length: %zu\r\n\r\n", elen);
		ck_assert(hl > 0 && (size_t)hl < sizeof head);
		ck_assert(lh_conn_send(&c[i], head, (size_t)hl) == 0);
		ck_assert(lh_conn_send(&c[i], entry, elen) == 0);
		free(entry);
	}
	for (unsigned i = 0; i < n; i++) {
		lh_resp r;
		ck_assert_msg(lh_conn_read_response(&c[i], &r, 10000) == 0,
			      "add %u: no answer", i);
		ck_assert_msg(r.status == 200, "add %u: status %d: %s", i,
			      r.status, (const char *)r.body);
		const char *p = strstr((const char *)r.body, "\nindex ");
		uint64_t idx;
		ck_assert_msg(p != NULL &&
			      sscanf(p, "\nindex %" SCNu64, &idx) == 1,
			      "add %u: no index line", i);
		if (idx < lo) {
			lo = idx;
		}
		lh_resp_free(&r);
		lh_conn_close(&c[i]);
	}
	return lo;
}

/* Whether the entry is in the first `size` entries of the log. */
static int entry_logged(const void *entry, size_t len, uint64_t size)
{
	ft_hash h;
	char path[256], hex[65];
	lh_resp r;

	ft_merkle_leaf_hash(entry, len, &h);
	for (size_t i = 0; i < 32; i++) {
		snprintf(hex + 2 * i, 3, "%02x", h.b[i]);
	}
	snprintf(path, sizeof path, "/proof/inclusion?leaf=%s&size=%" PRIu64,
		 hex, size);
	ck_assert(lh_http(g_srv.port, "GET", path, NULL, 0, &r) == 0);
	int st = r.status;
	lh_resp_free(&r);
	ck_assert_msg(st == 200 || st == 404, "leaf lookup: status %d", st);
	return st == 200;
}

/* ---- Truncated requests. */

START_TEST(truncated_requests)
{
	require_server();
	uint64_t size0 = tree_size();
	drain d;
	int fd;

	/* A head cut in the middle of a line, then a plain close. */
	fd = tcp_connect();
	ck_assert(send_str(fd, "GET /checkpoint HTTP/1.1\r\nHost: 12") == 0);
	close(fd);

	/* A request line cut short, then EOF: no answer, or a 400. */
	fd = tcp_connect();
	ck_assert(send_str(fd, "GET /chec") == 0);
	ck_assert(shutdown(fd, SHUT_WR) == 0);
	drain_until_close(fd, 3.0, &d);
	close(fd);
	ck_assert_msg(d.closed, "half-closed truncated head: not closed");
	ck_assert_msg(d.len == 0 || first_status(&d) == 400,
		      "truncated head then EOF: got %.60s", d.buf);

	/* A POST whose body stops halfway, then EOF: nothing is stored,
	 * although the part sent would be a valid entry on its own. */
	size_t partlen = 0;
	uint8_t *partev = make_event("truncated", 0, 0, &partlen);
	const char *part = (const char *)partev;
	char req[4096];
	snprintf(req, sizeof req,
		 "POST /add HTTP/1.1\r\nHost: x\r\nContent-Length: %zu\r\n\r\n%s",
		 2 * partlen, part);
	fd = tcp_connect();
	ck_assert(send_str(fd, req) == 0);
	ck_assert(shutdown(fd, SHUT_WR) == 0);
	drain_until_close(fd, 3.0, &d);
	close(fd);
	ck_assert_msg(d.closed, "half-closed truncated body: not closed");
	ck_assert_msg(d.len == 0 || first_status(&d) == 400,
		      "truncated body then EOF: got %.60s", d.buf);

	/* The same, closed with a reset in the middle of the body. */
	fd = tcp_connect();
	ck_assert(send_str(fd, req) == 0);
	tu_sleep_ms(20);
	close_reset(fd);

	/* Headers complete, then a reset before any body. */
	fd = tcp_connect();
	ck_assert(send_str(fd, "POST /add HTTP/1.1\r\nHost: x\r\n"
			   "Content-Length: 10\r\n\r\n") == 0);
	close_reset(fd);

	/* A complete valid add whose client vanishes before the answer: it
	 * may or may not be logged, but if the tree grew it is by this one
	 * entry. */
	size_t gonelen = 0;
	uint8_t *goneev = make_event("truncated", 1, 0, &gonelen);
	const char *gone = (const char *)goneev;
	snprintf(req, sizeof req,
		 "POST /add HTTP/1.1\r\nHost: x\r\nContent-Length: %zu\r\n\r\n%s",
		 gonelen, gone);
	fd = tcp_connect();
	ck_assert(send_str(fd, req) == 0);
	close(fd);

	tu_sleep_ms(4 * BATCH_MS + 200);
	ck_assert_msg(!entry_logged(part, partlen, tree_size()),
		      "a truncated body was logged");
	uint64_t size = tree_size();
	if (size == size0 + 1) {
		ck_assert_msg(entry_logged(gone, gonelen, size),
			      "the tree grew by an entry nobody sent whole");
	}
	free(partev);
	free(goneev);
	check_healthy(size == size0 + 1 ? size0 + 1 : size0);
}
END_TEST

/* ---- Oversized heads and bodies. */

START_TEST(oversized_head)
{
	require_server();
	uint64_t size0 = tree_size();
	size_t cap = 20000, n;
	char *req = malloc(cap);
	drain d;

	ck_assert(req != NULL);

	/* One 10,000-byte header value (the limit is 8 KiB). */
	n = (size_t)snprintf(req, cap, "GET /checkpoint HTTP/1.1\r\n"
			     "Host: x\r\nX-Pad: ");
	memset(req + n, 'p', 10000);
	n += 10000;
	memcpy(req + n, "\r\n\r\n", 4);
	n += 4;
	raw_exchange(req, n, 5.0, &d);
	expect_error_and_close(&d, 431, "10 KB header");

	/* A 9,000-byte request target: refused as such (ftlogd takes targets
	 * of at most 2 KiB), before the head limit is reached. */
	n = (size_t)snprintf(req, cap, "GET /proof/inclusion?x=");
	memset(req + n, '7', 9000);
	n += 9000;
	n += (size_t)snprintf(req + n, cap - n,
			      " HTTP/1.1\r\nHost: x\r\n\r\n");
	raw_exchange(req, n, 5.0, &d);
	expect_error_and_close(&d, 414, "9 KB request target");

	/* A 2,000-byte target (allowed) with headers that bring the head
	 * past 8 KiB. */
	n = (size_t)snprintf(req, cap, "GET /x");
	memset(req + n, 'u', 2000);
	n += 2000;
	n += (size_t)snprintf(req + n, cap - n, " HTTP/1.1\r\nX-Pad: ");
	memset(req + n, 'h', 6500);
	n += 6500;
	n += (size_t)snprintf(req + n, cap - n, "\r\n\r\n");
	raw_exchange(req, n, 5.0, &d);
	expect_error_and_close(&d, 431, "2 KB target + 6.5 KB header");

	/* Many small headers adding up past 8 KiB, never a blank line. */
	n = (size_t)snprintf(req, cap, "GET /checkpoint HTTP/1.1\r\n");
	while (n < 9000) {
		n += (size_t)snprintf(req + n, cap - n,
				      "X-Header-%zu: value\r\n", n);
	}
	raw_exchange(req, n, 5.0, &d);
	expect_error_and_close(&d, 431, "9 KB of small headers");

	/* More headers than allowed (100 > 64), in far fewer than 8 KiB. */
	n = (size_t)snprintf(req, cap, "GET /checkpoint HTTP/1.1\r\n");
	for (int i = 0; i < 100; i++) {
		n += (size_t)snprintf(req + n, cap - n, "X-H%d: v\r\n", i);
	}
	n += (size_t)snprintf(req + n, cap - n, "\r\n");
	ck_assert(n < 2000);
	raw_exchange(req, n, 5.0, &d);
	expect_error_and_close(&d, 431, "100 headers");

	free(req);
	check_healthy(size0);
}
END_TEST

START_TEST(oversized_body)
{
	require_server();
	uint64_t size0 = tree_size();
	drain d;
	int fd;

	/* Content-Length 70000: refused from the head alone, before any
	 * body byte is sent. */
	fd = tcp_connect();
	ck_assert(send_str(fd, "POST /add HTTP/1.1\r\nHost: x\r\n"
			   "Content-Length: 70000\r\n\r\n") == 0);
	drain_until_close(fd, 5.0, &d);
	close(fd);
	expect_error_and_close(&d, 413, "Content-Length 70000");

	/* One byte over the limit (65535). */
	fd = tcp_connect();
	ck_assert(send_str(fd, "POST /add HTTP/1.1\r\nHost: x\r\n"
			   "Content-Length: 65536\r\n\r\n") == 0);
	drain_until_close(fd, 5.0, &d);
	close(fd);
	expect_error_and_close(&d, 413, "Content-Length 65536");

	/* A length that does not fit in 64 bits. */
	fd = tcp_connect();
	ck_assert(send_str(fd, "POST /add HTTP/1.1\r\nHost: x\r\n"
			   "Content-Length: 99999999999999999999999\r\n\r\n")
		  == 0);
	drain_until_close(fd, 5.0, &d);
	close(fd);
	ck_assert_msg(d.closed && (first_status(&d) == 413 ||
				   first_status(&d) == 400),
		      "huge Content-Length: got %.60s", d.buf);

	/* 70000 bytes actually sent with the head: the server answers 413
	 * (read while sending, so the answer is not lost) and stores
	 * nothing. */
	size_t blen = 70000;
	char *body = malloc(blen + 128);
	ck_assert(body != NULL);
	int hl = snprintf(body, 128, "POST /add HTTP/1.1\r\nHost: x\r\n"
			  "Content-Length: %zu\r\n\r\n", blen);
	memset(body + hl, 'B', blen);
	fd = tcp_connect();
	ck_assert(fcntl(fd, F_SETFL, O_NONBLOCK) == 0);
	size_t off = 0, total = (size_t)hl + blen;
	d.len = 0;
	d.closed = 0;
	double t0 = now();
	while (!d.closed && now() - t0 < 5.0) {
		struct pollfd p = { fd, POLLIN | (off < total ? POLLOUT : 0),
				    0 };
		if (poll(&p, 1, 100) <= 0) {
			continue;
		}
		if ((p.revents & POLLOUT) && off < total) {
			ssize_t w = send(fd, body + off, total - off,
					 MSG_NOSIGNAL);
			if (w > 0) {
				off += (size_t)w;
			} else if (errno != EAGAIN && errno != EINTR) {
				off = total; /* the server closed: stop */
			}
		}
		if (p.revents & (POLLIN | POLLHUP | POLLERR)) {
			ssize_t r = recv(fd, d.buf + d.len,
					 sizeof d.buf - 1 - d.len, 0);
			if (r > 0) {
				d.len += (size_t)r;
			} else if (r == 0 || (errno != EAGAIN &&
					      errno != EINTR)) {
				d.closed = 1;
			}
		}
	}
	d.buf[d.len] = 0;
	close(fd);
	free(body);
	ck_assert_msg(first_status(&d) == 413,
		      "70000-byte body sent: want 413, got %.60s", d.buf);
	ck_assert_msg(d.closed, "70000-byte body: connection not closed");

	/* The largest entry allowed is accepted: exactly one valid add. */
	add_many("max", 1, 65535);

	tu_sleep_ms(4 * BATCH_MS);
	check_healthy(size0 + 1);
}
END_TEST

/* ---- Malformed requests with exact answers. */

START_TEST(malformed_requests)
{
	require_server();
	uint64_t size0 = tree_size();
	static const struct {
		const char *req;
		int status;
	} cases[] = {
		{ "POST /add HTTP/1.1\r\nHost: x\r\n\r\n", 411 },
		{ "POST /add HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked"
		  "\r\n\r\n5\r\nhello\r\n0\r\n\r\n", 501 },
		{ "GET /checkpoint HTTP/2.0\r\nHost: x\r\n\r\n", 505 },
		{ "GET http://127.0.0.1/checkpoint HTTP/1.1\r\nHost: x\r\n\r\n",
		  400 },
		{ "GET /checkpoint HTTP/1.1\r\nHost: x\r\nContent-Length: -1"
		  "\r\n\r\n", 400 },
		{ "\x01\x02\x03 / HTTP/1.1\r\n\r\n", 400 },
	};

	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		drain d;
		char what[64];
		raw_exchange(cases[i].req, strlen(cases[i].req), 5.0, &d);
		snprintf(what, sizeof what, "malformed case %zu", i);
		ck_assert_msg(first_status(&d) == cases[i].status,
			      "%s: want %d, got %.60s", what, cases[i].status,
			      d.buf);
		/* 4xx/5xx from the parser close the connection. */
		expect_error_and_close(&d, cases[i].status, what);
	}

	/* An empty entry, one that is not JSON (400) and an event signed
	 * by a key the policy does not know (403): refused, but the request
	 * itself was well-formed, so the connection stays usable. Wrong
	 * method on a known path: 405 with Allow. */
	lh_conn c;
	lh_resp r;
	ck_assert(lh_conn_open(&c, g_srv.port) == 0);
	ck_assert(lh_conn_request(&c, "POST", "/add", "", 0, &r) == 0);
	ck_assert_msg(r.status == 400, "empty entry: status %d", r.status);
	lh_resp_free(&r);
	ck_assert(lh_conn_request(&c, "POST", "/add", "reject:this", 11, &r)
		  == 0);
	ck_assert_msg(r.status == 400, "not JSON: status %d", r.status);
	ck_assert_msg(r.body_len > 0 && r.body[r.body_len - 1] == '\n' &&
		      memchr(r.body, '\n', r.body_len) ==
		      r.body + r.body_len - 1,
		      "error body is not one line");
	ck_assert_msg(strncmp((const char *)r.body, "json:", 5) == 0,
		      "not JSON: %s", (const char *)r.body);
	lh_resp_free(&r);
	ft_skey stranger;
	uint8_t *ev = NULL;
	size_t evlen = 0;
	ck_assert(lh_key("ftlog-stranger", 0x17, &stranger) == 0);
	ck_assert(lh_event_key(&stranger, 1, 0, &ev, &evlen) == 0);
	ft_skey_wipe(&stranger);
	ck_assert(lh_conn_request(&c, "POST", "/add", ev, evlen, &r) == 0);
	ck_assert_msg(r.status == 403, "unknown key: status %d", r.status);
	ck_assert_msg(r.body_len > 0 && r.body[r.body_len - 1] == '\n' &&
		      memchr(r.body, '\n', r.body_len) ==
		      r.body + r.body_len - 1,
		      "error body is not one line");
	ck_assert_msg(strncmp((const char *)r.body, "unknown-key:", 12) == 0,
		      "unknown key: %s", (const char *)r.body);
	lh_resp_free(&r);
	free(ev);
	ck_assert(lh_conn_request(&c, "DELETE", "/checkpoint", NULL, 0, &r)
		  == 0);
	char allow[64];
	ck_assert_msg(r.status == 405, "DELETE /checkpoint: %d", r.status);
	ck_assert_msg(lh_header(&r, "Allow", allow, sizeof allow) == 0,
		      "405 without Allow");
	lh_resp_free(&r);
	ck_assert(lh_conn_request(&c, "GET", "/checkpoint", NULL, 0, &r) == 0);
	ck_assert_int_eq(r.status, 200);
	lh_resp_free(&r);
	lh_conn_close(&c);

	tu_sleep_ms(4 * BATCH_MS);
	check_healthy(size0);
}
END_TEST

/* ---- Slow clients. */

/*
 * Send `req` one byte every 200 ms, reading meanwhile. Returns when the
 * server closes (or after give_up seconds); d->elapsed counts from the
 * connect.
 */
static void slow_send(const char *head, size_t head_len, const char *req,
		      size_t len, double give_up, drain *d)
{
	int fd = tcp_connect();
	double t0 = now(), next = t0;
	size_t off = 0;

	d->len = 0;
	d->closed = 0;
	if (head_len > 0) {
		ck_assert(send_all(fd, head, head_len) == 0);
	}
	while (!d->closed && now() - t0 < give_up) {
		if (off < len && now() >= next) {
			if (send(fd, req + off, 1, MSG_NOSIGNAL) == 1) {
				off++;
			} else {
				off = len; /* the server is gone */
			}
			next += 0.2;
		}
		struct pollfd p = { fd, POLLIN, 0 };
		double wait = next - now();
		int ms = wait > 0 ? (int)(wait * 1000) + 1 : 0;
		if (poll(&p, 1, ms > 50 ? 50 : ms) <= 0) {
			continue;
		}
		ssize_t r = recv(fd, d->buf + d->len,
				 sizeof d->buf - 1 - d->len, 0);
		if (r > 0) {
			d->len += (size_t)r;
		} else if (r == 0 || errno != EINTR) {
			d->closed = 1;
		}
	}
	d->elapsed = now() - t0;
	d->buf[d->len] = 0;
	close(fd);
}

START_TEST(slowloris)
{
	require_server();
	uint64_t size0 = tree_size();
	drain d;
	static const char head[] =
		"GET /checkpoint HTTP/1.1\r\nHost: 127.0.0.1\r\n"
		"User-Agent: slow-slow-slow-slow-slow\r\n\r\n";

	/* The head dribbles in: cut at the header timeout with 408. */
	slow_send("", 0, head, strlen(head), 6.0, &d);
	expect_error_and_close(&d, 408, "slow head");
	ck_assert_msg(d.elapsed <= HEADER_TIMEOUT + SLACK,
		      "slow head cut after %.2f s (header timeout %.1f s)",
		      d.elapsed, HEADER_TIMEOUT);

	/* The head at once, the body dribbling: cut at the request timeout,
	 * and nothing stored. */
	size_t blen = 0;
	uint8_t *bodyev = make_event("slow", 0, 0, &blen);
	const char *body = (const char *)bodyev;
	char h2[128];
	int hl = snprintf(h2, sizeof h2, "POST /add HTTP/1.1\r\nHost: x\r\n"
			  "Content-Length: %zu\r\n\r\n", blen);
	slow_send(h2, (size_t)hl, body, blen, 6.0, &d);
	expect_error_and_close(&d, 408, "slow body");
	ck_assert_msg(d.elapsed <= REQUEST_TIMEOUT + SLACK,
		      "slow body cut after %.2f s (request timeout %.1f s)",
		      d.elapsed, REQUEST_TIMEOUT);

	/* A connection that never sends a byte is closed without an
	 * answer (no request was started). */
	int fd = tcp_connect();
	drain_until_close(fd, IDLE_TIMEOUT + 3 * SLACK, &d);
	close(fd);
	ck_assert_msg(d.closed, "silent connection still open after %.1f s",
		      d.elapsed);
	ck_assert_msg(d.len == 0, "silent connection got an answer: %.60s",
		      d.buf);

	/* A keep-alive connection idles for the idle timeout, not less,
	 * then is closed without an answer. */
	lh_conn c;
	lh_resp r;
	ck_assert(lh_conn_open(&c, g_srv.port) == 0);
	ck_assert(lh_conn_request(&c, "GET", "/checkpoint", NULL, 0, &r) == 0);
	ck_assert_int_eq(r.status, 200);
	lh_resp_free(&r);
	drain_until_close(c.fd, IDLE_TIMEOUT + 2 * SLACK, &d);
	lh_conn_close(&c);
	ck_assert_msg(d.closed, "idle keep-alive still open after %.1f s",
		      d.elapsed);
	ck_assert_msg(d.elapsed >= IDLE_TIMEOUT - 0.3,
		      "idle keep-alive closed after %.2f s (idle timeout "
		      "%.1f s)", d.elapsed, IDLE_TIMEOUT);
	ck_assert_msg(d.len == 0, "idle close with an answer: %.60s", d.buf);

	tu_sleep_ms(4 * BATCH_MS);
	ck_assert_msg(!entry_logged(body, blen, tree_size()),
		      "the slow body was logged");
	free(bodyev);
	check_healthy(size0);
}
END_TEST

/* ---- Garbage. */

START_TEST(garbage_bytes)
{
	require_server();
	uint64_t size0 = tree_size();
	size_t len = 1 << 20;
	uint8_t *junk = malloc(len);
	uint64_t x = 0x9e3779b97f4a7c15u;
	drain d;

	ck_assert(junk != NULL);
	for (size_t i = 0; i < len; i++) {
		x ^= x << 13;
		x ^= x >> 7;
		x ^= x << 17;
		junk[i] = (uint8_t)(x >> 24);
	}
	/* Not a method character, so the very first byte is wrong whatever
	 * the parser tolerates before a request line. */
	junk[0] = 0xff;

	int fd = tcp_connect();
	ck_assert(fcntl(fd, F_SETFL, O_NONBLOCK) == 0);
	size_t off = 0;
	d.len = 0;
	d.closed = 0;
	double t0 = now();
	while (!d.closed && now() - t0 < 5.0) {
		struct pollfd p = { fd, POLLIN | (off < len ? POLLOUT : 0), 0 };
		if (poll(&p, 1, 100) <= 0) {
			continue;
		}
		if ((p.revents & POLLOUT) && off < len) {
			ssize_t w = send(fd, junk + off, len - off,
					 MSG_NOSIGNAL);
			if (w > 0) {
				off += (size_t)w;
			} else if (errno != EAGAIN && errno != EINTR) {
				off = len;
			}
		}
		if (p.revents & (POLLIN | POLLHUP | POLLERR)) {
			ssize_t r = recv(fd, d.buf + d.len,
					 sizeof d.buf - 1 - d.len, 0);
			if (r > 0) {
				d.len += (size_t)r;
			} else if (r == 0 || (errno != EAGAIN &&
					      errno != EINTR)) {
				d.closed = 1;
			}
		}
	}
	d.buf[d.len] = 0;
	close(fd);
	free(junk);
	expect_error_and_close(&d, 400, "1 MB of random bytes");

	/* Binary after a valid request line, and a NUL in a header. */
	static const char nul_req[] = "GET /checkpoint HTTP/1.1\r\nHost: a\0b"
				      "\r\n\r\n";
	raw_exchange(nul_req, sizeof nul_req - 1, 5.0, &d);
	expect_error_and_close(&d, 400, "NUL in a header");

	check_healthy(size0);
}
END_TEST

/*
 * Whether MAX_CONNS concurrent keep-alive connections can all be opened
 * and served (GET /checkpoint 200), retrying for up to timeout_s while the
 * server notices earlier closes. All are closed again, and we give the
 * server a moment to notice, before returning.
 */
static int all_slots_served(double timeout_s)
{
	lh_conn c[MAX_CONNS];
	lh_resp r;
	int ok = 0;
	double t0 = now();

	while (!ok && now() - t0 < timeout_s) {
		int i;
		tu_sleep_ms(100);
		for (i = 0; i < MAX_CONNS; i++) {
			if (lh_conn_open(&c[i], g_srv.port) != 0) {
				break;
			}
			if (lh_conn_request(&c[i], "GET", "/checkpoint", NULL,
					    0, &r) != 0) {
				lh_conn_close(&c[i]);
				break;
			}
			int st = r.status;
			lh_resp_free(&r);
			if (st != 200) {
				lh_conn_close(&c[i]);
				break;
			}
		}
		ok = i == MAX_CONNS;
		for (int j = 0; j < i; j++) {
			lh_conn_close(&c[j]);
		}
	}
	tu_sleep_ms(300);
	return ok;
}

/* ---- Connection floods. */

START_TEST(connection_flood)
{
	require_server();
	uint64_t size0 = tree_size();
	lh_conn c[MAX_CONNS];
	lh_resp r;

	/* Fill every slot, each with a served keep-alive request so that we
	 * know the server has accepted it. */
	for (int i = 0; i < MAX_CONNS; i++) {
		ck_assert_msg(lh_conn_open(&c[i], g_srv.port) == 0,
			      "connection %d", i);
		ck_assert_msg(lh_conn_request(&c[i], "GET", "/checkpoint",
					      NULL, 0, &r) == 0,
			      "request on connection %d", i);
		ck_assert_msg(r.status == 200, "connection %d: status %d", i,
			      r.status);
		lh_resp_free(&r);
	}

	/* Ten more: each is told 503 with Retry-After and closed. */
	for (int i = 0; i < 10; i++) {
		drain d;
		int fd = tcp_connect();
		(void)send_str(fd, "GET /checkpoint HTTP/1.1\r\nHost: x\r\n\r\n");
		drain_until_close(fd, 5.0, &d);
		close(fd);
		expect_error_and_close(&d, 503, "connection over the limit");
		const char *ra = strstr(d.buf, "\r\nRetry-After: ");
		ck_assert_msg(ra != NULL && ra < strstr(d.buf, "\r\n\r\n") &&
			      ra[15] >= '0' && ra[15] <= '9',
			      "503 without a numeric Retry-After");
	}

	/* The connections inside the limit are still served. */
	ck_assert(lh_conn_request(&c[0], "GET", "/checkpoint", NULL, 0, &r)
		  == 0);
	ck_assert_int_eq(r.status, 200);
	lh_resp_free(&r);

	for (int i = 0; i < MAX_CONNS; i++) {
		lh_conn_close(&c[i]);
	}

	/* Once they are gone, new clients are served again: all 64 slots
	 * come back. */
	ck_assert_msg(all_slots_served(3.0),
		      "64 connections not served again after the flood");

	uint64_t idx = add_many("after-flood", 3, 64);
	ck_assert(idx >= size0);
	check_healthy(size0 + 3);
}
END_TEST

START_TEST(connection_churn)
{
	require_server();
	uint64_t size0 = tree_size();
	struct sockaddr_in a;
	enum { BATCH = 100, ROUNDS = 20 };
	static const char whole[] = "GET /checkpoint HTTP/1.1\r\nHost: x"
				    "\r\n\r\n";
	int fds[BATCH];

	memset(&a, 0, sizeof a);
	a.sin_family = AF_INET;
	a.sin_port = htons((uint16_t)g_srv.port);
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);

	double t0 = now();
	for (int round = 0; round < ROUNDS; round++) {
		for (int i = 0; i < BATCH; i++) {
			fds[i] = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK |
					SOCK_CLOEXEC, 0);
			ck_assert(fds[i] >= 0);
			int rc = connect(fds[i], (struct sockaddr *)&a,
					 sizeof a);
			ck_assert_msg(rc == 0 || errno == EINPROGRESS,
				      "connect: %s", strerror(errno));
		}
		for (int i = 0; i < BATCH; i++) {
			struct pollfd p = { fds[i], POLLOUT, 0 };
			(void)poll(&p, 1, 1000);
			switch (i % 4) {
			case 0: /* plain close */
				close(fds[i]);
				break;
			case 1: /* reset */
				close_reset(fds[i]);
				break;
			case 2: /* half a request, then close */
				(void)send(fds[i], "GET /checkp", 11,
					   MSG_NOSIGNAL);
				close(fds[i]);
				break;
			default: /* a whole request, gone before the answer */
				(void)send(fds[i], whole, strlen(whole),
					   MSG_NOSIGNAL);
				close_reset(fds[i]);
				break;
			}
		}
	}
	double dt = now() - t0;
	ck_assert_msg(dt < 20.0, "2000 connections took %.1f s", dt);
	ck_assert_msg(server_alive(), "ftlogd died under connection churn");

	/* No slot leaked: 64 concurrent connections are all served
	 * again. */
	ck_assert_msg(all_slots_served(4.0), "connection slots leaked after "
		      "2000 dropped connections");
	check_healthy(size0);
}
END_TEST

/* ---- Pipelining. */

START_TEST(pipelining)
{
	require_server();
	uint64_t size0 = tree_size();
	enum { N = 100, ADDS = 10 };

	/* Eight entries so that inclusion proofs exist. */
	(void)add_many("pipe-base", 8, 40);
	uint64_t size = size0 + 8;
	ck_assert_uint_eq(tree_size(), size);

	size_t cap = 64 * N, len = 0;
	char *buf = malloc(cap);
	int want[N];
	ck_assert(buf != NULL);
	for (int i = 0; i < N; i++) {
		int n;
		switch (i % 4) {
		case 0:
			n = snprintf(buf + len, cap - len, "GET /checkpoint "
				     "HTTP/1.1\r\nHost: x\r\n\r\n");
			want[i] = 200;
			break;
		case 1:
			n = snprintf(buf + len, cap - len,
				     "GET /proof/inclusion?index=%" PRIu64
				     "&size=%" PRIu64 " HTTP/1.1\r\n\r\n",
				     (uint64_t)i % size, size);
			want[i] = 200;
			break;
		case 2:
			n = snprintf(buf + len, cap - len, "GET /nothing/%d "
				     "HTTP/1.1\r\n\r\n", i);
			want[i] = 404;
			break;
		default:
			n = snprintf(buf + len, cap - len,
				     "GET /proof/inclusion?index=%" PRIu64
				     "&size=%" PRIu64 " HTTP/1.1\r\n\r\n",
				     size, size);
			want[i] = 400;
			break;
		}
		ck_assert(n > 0 && (size_t)n < cap - len);
		len += (size_t)n;
	}

	lh_conn c;
	lh_resp r;
	ck_assert(lh_conn_open(&c, g_srv.port) == 0);
	ck_assert(lh_conn_send(&c, buf, len) == 0); /* one write */
	for (int i = 0; i < N; i++) {
		ck_assert_msg(lh_conn_read_response(&c, &r, 10000) == 0,
			      "pipelined answer %d missing", i);
		ck_assert_msg(r.status == want[i],
			      "pipelined answer %d: status %d, want %d", i,
			      r.status, want[i]);
		if (i % 4 == 1) {
			char line[64];
			snprintf(line, sizeof line, "index %" PRIu64 "\n",
				 (uint64_t)i % size);
			ck_assert_msg(strncmp((const char *)r.body, line,
					      strlen(line)) == 0,
				      "pipelined answer %d out of order: %.20s",
				      i, (const char *)r.body);
		}
		lh_resp_free(&r);
	}
	/* The connection is still good after the burst. */
	ck_assert(lh_conn_request(&c, "GET", "/checkpoint", NULL, 0, &r) == 0);
	ck_assert_int_eq(r.status, 200);
	lh_resp_free(&r);

	/* Ten adds pipelined in one write: answered in order (each answer's
	 * tlog-proof carries the entry of its own request), and logged at
	 * the next ten indexes. Which of them gets which index is not
	 * fixed: their signatures are checked on worker threads, in
	 * parallel, and they reach the sequencer in the order the checks
	 * end. */
	len = 0;
	free(buf);
	cap = (size_t)ADDS * 2048;
	buf = malloc(cap);
	ck_assert(buf != NULL);
	uint8_t *ev[ADDS];
	size_t evl[ADDS];
	for (int i = 0; i < ADDS; i++) {
		ev[i] = make_event("pipelined-add", (unsigned)i, 0, &evl[i]);
		int n = snprintf(buf + len, cap - len,
				 "POST /add HTTP/1.1\r\nHost: x\r\n"
				 "Content-Length: %zu\r\n\r\n%s", evl[i],
				 (const char *)ev[i]);
		ck_assert(n > 0 && (size_t)n < cap - len);
		len += (size_t)n;
	}
	ck_assert(lh_conn_send(&c, buf, len) == 0);
	int seen[ADDS] = { 0 };
	for (int i = 0; i < ADDS; i++) {
		uint64_t idx = 0;
		ck_assert_msg(lh_conn_read_response(&c, &r, 10000) == 0,
			      "pipelined add %d: no answer", i);
		ck_assert_msg(r.status == 200, "pipelined add %d: %d", i,
			      r.status);
		int rc = lh_check_tlog_proof(&g_srv, r.body, r.body_len, ev[i],
					     evl[i], &idx, NULL, NULL, NULL,
					     NULL);
		ck_assert_msg(rc == 0, "pipelined add %d: the answer is not "
			      "the tlog-proof of its entry: %s", i,
			      ft_errname(rc));
		ck_assert_msg(idx >= size && idx < size + ADDS &&
			      !seen[idx - size],
			      "pipelined add %d got index %" PRIu64 ", want "
			      "a new one in [%" PRIu64 ", %" PRIu64 ")", i,
			      idx, size, size + ADDS);
		seen[idx - size] = 1;
		lh_resp_free(&r);
		free(ev[i]);
	}
	lh_conn_close(&c);
	free(buf);
	check_healthy(size + ADDS);
}
END_TEST

/* ---- A client that sends and never reads. */

START_TEST(never_reads)
{
	require_server();
	uint64_t size0 = tree_size();
	static const char req[] = "GET /checkpoint HTTP/1.1\r\nHost: x\r\n\r\n";
	enum { CHUNK_REQS = 1024 };
	size_t rl = strlen(req);
	char *chunk = malloc(rl * CHUNK_REQS);

	ck_assert(chunk != NULL);
	for (int i = 0; i < CHUNK_REQS; i++) {
		memcpy(chunk + (size_t)i * rl, req, rl);
	}
	tu_sleep_ms(200);
	long rss0 = server_rss_kib();
	ck_assert(rss0 > 0);

	/* Write requests without reading one byte until the writes have
	 * stalled for 0.5 s (or 256 MiB went through, or 4 s passed). A
	 * server that stops reading makes the writes stall once the socket
	 * buffers are full (a few MiB). */
	int fd = tcp_connect();
	int small = 65536;
	(void)setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &small, sizeof small);
	ck_assert(fcntl(fd, F_SETFL, O_NONBLOCK) == 0);
	size_t sent = 0, off = 0, limit = (size_t)256 << 20;
	double t0 = now(), last_progress = t0, dropped_at = 0;
	while (now() - t0 < 4.0 && sent < limit &&
	       now() - last_progress < 0.5) {
		ssize_t w = send(fd, chunk + off, rl * CHUNK_REQS - off,
				 MSG_NOSIGNAL);
		if (w > 0) {
			sent += (size_t)w;
			off = (off + (size_t)w) % (rl * CHUNK_REQS);
			last_progress = now();
			continue;
		}
		if (errno == ECONNRESET || errno == EPIPE) {
			/* Dropped by the write timeout already. */
			dropped_at = now();
			break;
		}
		ck_assert_msg(errno == EAGAIN || errno == EINTR,
			      "writer: %s", strerror(errno));
		struct pollfd p = { fd, POLLOUT, 0 };
		(void)poll(&p, 1, 50);
	}
	long rss1 = server_rss_kib();
	fprintf(stderr, "never_reads: %zu KiB written before the writes "
		"stalled%s; server VmRSS %ld -> %ld KiB\n", sent >> 10,
		dropped_at > 0 ? " (then reset)" : "", rss0, rss1);
	ck_assert_msg(sent < ((size_t)64 << 20),
		      "the server accepted %zu MiB from a client that never "
		      "reads", sent >> 20);
	ck_assert_msg(dropped_at > 0 || now() - last_progress >= 0.5,
		      "writes never stalled (%zu MiB in %.1f s)", sent >> 20,
		      now() - t0);
	ck_assert_msg(rss1 - rss0 < 64 * 1024,
		      "server RSS grew from %ld to %ld KiB", rss0, rss1);

	/* Everybody else is still served, adds included. */
	lh_resp r;
	ck_assert(lh_http(g_srv.port, "GET", "/checkpoint", NULL, 0, &r) == 0);
	ck_assert_int_eq(r.status, 200);
	lh_resp_free(&r);
	(void)add_many("while-stalled", 2, 64);

	/* The stalled reader is dropped after the write timeout. */
	if (dropped_at == 0) {
		struct pollfd p = { fd, POLLRDHUP, 0 };
		int rc;
		do {
			rc = poll(&p, 1, 100);
		} while (rc == 0 &&
			 now() - last_progress < WRITE_TIMEOUT + 3 * SLACK);
		ck_assert_msg(rc == 1 && (p.revents & (POLLHUP | POLLERR |
						       POLLRDHUP)),
			      "a reader stalled for %.1f s is still connected",
			      now() - last_progress);
	}
	close(fd);
	free(chunk);

	long rss2 = server_rss_kib();
	ck_assert_msg(rss2 - rss0 < 64 * 1024,
		      "server RSS grew from %ld to %ld KiB", rss0, rss2);
	check_healthy(size0 + 2);
}
END_TEST

static Suite *hostile_suite(void)
{
	Suite *s = suite_create("hostile");
	const struct {
		const char *name;
		const TTest *fn;
	} tests[] = {
		{ "truncated", truncated_requests },
		{ "oversized_head", oversized_head },
		{ "oversized_body", oversized_body },
		{ "malformed", malformed_requests },
		{ "slowloris", slowloris },
		{ "garbage", garbage_bytes },
		{ "flood", connection_flood },
		{ "churn", connection_churn },
		{ "pipelining", pipelining },
		{ "never_reads", never_reads },
	};

	for (size_t i = 0; i < sizeof tests / sizeof tests[0]; i++) {
		TCase *tc = tcase_create(tests[i].name);
		/* Temp dirs of a failed test are removed by the parent. */
		tcase_add_unchecked_fixture(tc, lh_suite_setup,
					    lh_suite_teardown);
		tcase_add_checked_fixture(tc, srv_setup, srv_teardown);
		tcase_set_timeout(tc, 30);
		tcase_add_test(tc, tests[i].fn);
		suite_add_tcase(s, tc);
	}
	return s;
}

int main(void)
{
	signal(SIGPIPE, SIG_IGN);
	return tu_run_suite(hostile_suite());
}
