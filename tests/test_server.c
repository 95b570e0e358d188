/*
 * tests/test_server.c - the network layer (logd/server.c) in isolation:
 * keep-alive, pipelining (with several deferred requests in flight per
 * connection), HEAD, parse errors, timeouts, the connection cap,
 * cancellation of deferred requests and graceful shutdown.
 *
 * The api is a fake defined here (logd/api.c is not linked):
 *   GET  /hello  -> 200 "hello\n"
 *   POST /echo   -> 200, the request body
 *   GET  /defer  -> deferred; answered 50 ms later by a uv_timer
 *   POST /add    -> deferred like POST /add of the real api; answered with
 *                   the request body after g_defer_ms, or after a random
 *                   1..g_defer_ms with g_add_random (so answers complete
 *                   out of order)
 *   GET  /close  -> 200 "bye\n" with resp.close
 *   GET  /big    -> 200, BIG_LEN bytes (for the write timeout)
 *   GET  /k64    -> 200, 64 KiB of 'k' (for the queued-bytes bound)
 *   other        -> 404
 * The server's loop runs in a thread; the test talks to it over blocking
 * sockets on 127.0.0.1 only. Every test runs in its own forked process
 * (Check's default), so a hang is cut by the test timeout.
 */
#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <uv.h>

#include "logd/api.h"
#include "logd/log.h"
#include "logd/metrics.h"
#include "logd/server.h"
#include "tests/testutil.h"

#define BIG_LEN (16u * 1024 * 1024)
#define DEFER_MS 50
#define K64_LEN (64u * 1024)

/* ---- The fake api. */

static uv_loop_t *g_loop; /* the loop the fake's timers run on */
static unsigned g_defer_ms = DEFER_MS; /* how long /defer takes */
static int g_add_random;                /* POST /add: random delays */
static unsigned g_seed = 12345;         /* for them (loop thread) */

typedef struct fake_def {
	uv_timer_t timer;
	ft_api *api;
	ft_api_done_fn done;
	void *conn_ctx;
	int seq;              /* order of arrival (0, 1, ...) */
	uint8_t *body;        /* POST /add: the entry, answered back */
	size_t body_len;
} fake_def;

struct ft_api {
	atomic_int handled;   /* requests seen by ft_api_handle */
	atomic_int deferred;  /* of those, deferred */
	atomic_int answered;  /* deferred requests answered via done */
	atomic_int cancelled; /* ft_api_cancel calls */
	atomic_int outstanding;     /* deferred, not answered or cancelled */
	atomic_int max_outstanding; /* the most at any time */
	atomic_int inversions;      /* answers before an earlier request's */
	int max_seq_answered;       /* loop thread */
	int live;             /* fake_def timers not yet freed (loop thread) */
};

void ft_resp_free(ft_resp *r)
{
	free(r->body);
	r->body = NULL;
	r->body_len = 0;
}

int ft_resp_error(ft_resp *r, int status, const char *reason)
{
	size_t n = strlen(reason);

	ft_resp_free(r);
	r->status = status;
	r->content_type = "text/plain; charset=utf-8";
	r->cache_control = "no-store";
	r->body = malloc(n + 1);
	if (r->body == NULL) {
		r->status = 500;
		return -1;
	}
	memcpy(r->body, reason, n);
	r->body[n] = '\n';
	r->body_len = n + 1;
	return 0;
}

int ft_api_new(const ft_api_opts *opts, ft_api **out)
{
	(void)opts;
	*out = calloc(1, sizeof **out);
	return *out == NULL ? -1 : 0;
}

void ft_api_free(ft_api *api)
{
	if (api != NULL) {
		ck_assert_int_eq(api->live, 0);
	}
	free(api);
}

static void resp_body(ft_resp *r, int status, const void *data, size_t len)
{
	memset(r, 0, sizeof *r);
	r->status = status;
	r->route = FT_ROUTE_OTHER;
	r->content_type = "text/plain; charset=utf-8";
	r->body = malloc(len > 0 ? len : 1);
	ck_assert_ptr_nonnull(r->body);
	memcpy(r->body, data, len);
	r->body_len = len;
}

static void def_close_cb(uv_handle_t *h)
{
	fake_def *d = h->data;

	d->api->live--;
	free(d->body);
	free(d);
}

static void def_timer_cb(uv_timer_t *t)
{
	fake_def *d = t->data;
	ft_resp r;

	if (d->body != NULL) {
		resp_body(&r, 200, d->body, d->body_len);
	} else {
		resp_body(&r, 200, "deferred\n", 9);
	}
	r.route = FT_ROUTE_ADD;
	if (d->seq < d->api->max_seq_answered) {
		atomic_fetch_add(&d->api->inversions, 1);
	} else {
		d->api->max_seq_answered = d->seq;
	}
	atomic_fetch_sub(&d->api->outstanding, 1);
	atomic_fetch_add(&d->api->answered, 1);
	d->done(d->conn_ctx, &r);
	/* done took the body over. */
	uv_close((uv_handle_t *)&d->timer, def_close_cb);
}

static int path_is(const ft_http_req *req, const char *p)
{
	return req->path_len == strlen(p) &&
	       memcmp(req->path, p, req->path_len) == 0;
}

int ft_api_handle(ft_api *api, const ft_http_req *req, ft_resp *resp,
		  ft_api_done_fn done, void *conn_ctx, void **pending)
{
	int get = req->method == FT_HTTP_GET || req->method == FT_HTTP_HEAD;

	atomic_fetch_add(&api->handled, 1);
	memset(resp, 0, sizeof *resp);
	*pending = NULL;
	if (get && path_is(req, "/hello")) {
		resp_body(resp, 200, "hello\n", 6);
		resp->route = FT_ROUTE_CHECKPOINT;
		return 0;
	}
	if (req->method == FT_HTTP_POST && path_is(req, "/echo")) {
		resp_body(resp, 200, req->body, req->body_len);
		return 0;
	}
	if (get && path_is(req, "/close")) {
		resp_body(resp, 200, "bye\n", 4);
		resp->close = 1;
		return 0;
	}
	if (get && path_is(req, "/k64")) {
		memset(resp, 0, sizeof *resp);
		resp->status = 200;
		resp->content_type = "application/octet-stream";
		resp->body = malloc(K64_LEN);
		ck_assert_ptr_nonnull(resp->body);
		memset(resp->body, 'k', K64_LEN);
		resp->body_len = K64_LEN;
		return 0;
	}
	if (get && path_is(req, "/big")) {
		memset(resp, 0, sizeof *resp);
		resp->status = 200;
		resp->content_type = "application/octet-stream";
		resp->body = malloc(BIG_LEN);
		ck_assert_ptr_nonnull(resp->body);
		memset(resp->body, 'x', BIG_LEN);
		resp->body_len = BIG_LEN;
		return 0;
	}
	int add = req->method == FT_HTTP_POST && path_is(req, "/add");
	if ((get && path_is(req, "/defer")) || add) {
		fake_def *d = calloc(1, sizeof *d);
		ck_assert_ptr_nonnull(d);
		ck_assert_int_eq(uv_timer_init(g_loop, &d->timer), 0);
		d->timer.data = d;
		d->api = api;
		d->done = done;
		d->conn_ctx = conn_ctx;
		unsigned ms = g_defer_ms;
		if (add) {
			/* Copied: the request is released once we return. */
			d->body = malloc(req->body_len > 0 ? req->body_len
							   : 1);
			ck_assert_ptr_nonnull(d->body);
			memcpy(d->body, req->body, req->body_len);
			d->body_len = req->body_len;
			if (g_add_random) {
				ms = 1 + (unsigned)rand_r(&g_seed) % g_defer_ms;
			}
		}
		api->live++;
		ck_assert_int_eq(uv_timer_start(&d->timer, def_timer_cb, ms,
						0),
				 0);
		d->seq = atomic_fetch_add(&api->deferred, 1);
		int o = atomic_fetch_add(&api->outstanding, 1) + 1;
		if (o > atomic_load(&api->max_outstanding)) {
			atomic_store(&api->max_outstanding, o);
		}
		*pending = d;
		return 1;
	}
	ck_assert_int_eq(ft_resp_error(resp, 404, "not found"), 0);
	resp->route = FT_ROUTE_OTHER;
	return 0;
}

void ft_api_cancel(ft_api *api, void *pending)
{
	fake_def *d = pending;

	ck_assert_ptr_eq(d->api, api);
	atomic_fetch_sub(&api->outstanding, 1);
	atomic_fetch_add(&api->cancelled, 1);
	ck_assert_int_eq(uv_timer_stop(&d->timer), 0);
	uv_close((uv_handle_t *)&d->timer, def_close_cb);
}

/* ---- The server in a thread. */

typedef struct fx {
	uv_loop_t loop;
	uv_async_t wake;  /* asks the loop thread to shut down */
	pthread_t thread;
	ft_server_opts opts;
	ft_server *srv;
	ft_api *api;
	ft_metrics *metrics;
	int port;
	atomic_int done;  /* shutdown's done ran */
	int shutdown_asked;
	char metrics_text[32768]; /* rendered by fx_stop */
} fx;

static fx F;

static void fx_done(void *arg)
{
	fx *f = arg;

	atomic_store(&f->done, 1);
	uv_close((uv_handle_t *)&f->wake, NULL);
}

static void fx_wake_cb(uv_async_t *a)
{
	fx *f = a->data;

	ft_server_shutdown(f->srv, fx_done, f);
}

static void *fx_thread(void *arg)
{
	fx *f = arg;

	ck_assert_int_ge(uv_run(&f->loop, UV_RUN_DEFAULT), 0);
	return NULL;
}

/* Defaults the tests then change in F.opts before fx_start. */
static void fx_opts(void)
{
	memset(&F, 0, sizeof F);
	F.opts.host = "127.0.0.1";
	F.opts.port = 0;
	F.opts.max_connections = 64;
	F.opts.header_timeout_ms = 3000;
	F.opts.request_timeout_ms = 5000;
	F.opts.idle_timeout_ms = 5000;
	F.opts.write_timeout_ms = 3000;
	ft_http_limits_default(&F.opts.limits);
}

static void fx_start(void)
{
	/* libuv leaves SIGPIPE alone; ftlogd's main ignores it too. */
	ck_assert(signal(SIGPIPE, SIG_IGN) != SIG_ERR);
	if (getenv("FTLOG_TEST_DEBUG") != NULL) {
		ft_log_set_level(FT_LOG_DEBUG);
	}
	ck_assert_int_eq(uv_loop_init(&F.loop), 0);
	g_loop = &F.loop;
	ck_assert_int_eq(ft_api_new(NULL, &F.api), 0);
	F.metrics = ft_metrics_new();
	ck_assert_ptr_nonnull(F.metrics);
	ck_assert_int_eq(uv_async_init(&F.loop, &F.wake, fx_wake_cb), 0);
	F.wake.data = &F;
	ck_assert_int_eq(ft_server_start(&F.loop, &F.opts, F.api, F.metrics,
					 &F.srv),
			 0);
	F.port = ft_server_port(F.srv);
	ck_assert_int_gt(F.port, 0);
	ck_assert_int_eq(pthread_create(&F.thread, NULL, fx_thread, &F), 0);
}

static void fx_shutdown(void)
{
	if (!F.shutdown_asked) {
		F.shutdown_asked = 1;
		ck_assert_int_eq(uv_async_send(&F.wake), 0);
	}
}

/* Shut down (if not yet), wait for the loop to end, free everything. */
static void fx_stop(void)
{
	fx_shutdown();
	ck_assert_int_eq(pthread_join(F.thread, NULL), 0);
	ck_assert_int_eq(atomic_load(&F.done), 1);
	ft_server_free(F.srv);
	ck_assert_int_eq(uv_loop_close(&F.loop), 0);
	ft_api_free(F.api);
	char *text = NULL;
	size_t len = 0;
	ck_assert_int_eq(ft_metrics_render(F.metrics, &text, &len), 0);
	ck_assert_uint_lt(len, sizeof F.metrics_text);
	memcpy(F.metrics_text, text, len);
	F.metrics_text[len] = '\0';
	free(text);
	ft_metrics_free(F.metrics);
}

/* ---- A blocking test client. */

typedef struct cli {
	int fd;
	char buf[1 << 16];
	size_t len;
} cli;

typedef struct resp {
	int status;
	char head[2048];
	char body[4096];
	size_t body_len;
	size_t content_length;
	int conn_close;
} resp;

static uint64_t now_ms(void)
{
	struct timespec ts;

	ck_assert_int_eq(clock_gettime(CLOCK_MONOTONIC, &ts), 0);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

static int cli_socket(int rcvbuf)
{
	int fd = socket(AF_INET, SOCK_STREAM, 0);
	ck_assert_int_ge(fd, 0);
	struct timeval tv = { 5, 0 };
	ck_assert_int_eq(setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv,
				    sizeof tv),
			 0);
	ck_assert_int_eq(setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv,
				    sizeof tv),
			 0);
	if (rcvbuf > 0) {
		ck_assert_int_eq(setsockopt(fd, SOL_SOCKET, SO_RCVBUF,
					    &rcvbuf, sizeof rcvbuf),
				 0);
	}
	return fd;
}

static int cli_connect_fd(int port, int rcvbuf)
{
	struct sockaddr_in sa;
	int fd = cli_socket(rcvbuf);

	memset(&sa, 0, sizeof sa);
	sa.sin_family = AF_INET;
	sa.sin_port = htons((uint16_t)port);
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (connect(fd, (struct sockaddr *)&sa, sizeof sa) != 0) {
		close(fd);
		return -1;
	}
	return fd;
}

static cli *cli_open_rcvbuf(int rcvbuf)
{
	cli *c = calloc(1, sizeof *c);
	ck_assert_ptr_nonnull(c);
	c->fd = cli_connect_fd(F.port, rcvbuf);
	ck_assert_int_ge(c->fd, 0);
	return c;
}

static cli *cli_open(void)
{
	return cli_open_rcvbuf(0);
}

static void cli_close(cli *c)
{
	if (c->fd >= 0) {
		ck_assert_int_eq(close(c->fd), 0);
	}
	free(c);
}

static void cli_send(cli *c, const void *data, size_t len)
{
	const char *p = data;

	while (len > 0) {
		ssize_t n = send(c->fd, p, len, MSG_NOSIGNAL);
		ck_assert_msg(n > 0, "send: %s", strerror(errno));
		p += n;
		len -= (size_t)n;
	}
}

static void cli_sends(cli *c, const char *s)
{
	cli_send(c, s, strlen(s));
}

/* More bytes into c->buf; the count, 0 on EOF, -1 on error (errno). */
static ssize_t cli_fill(cli *c)
{
	ck_assert_uint_lt(c->len, sizeof c->buf);
	ssize_t n = recv(c->fd, c->buf + c->len, sizeof c->buf - c->len, 0);
	if (n > 0) {
		c->len += (size_t)n;
	}
	return n;
}

static void cli_drop(cli *c, size_t n)
{
	memmove(c->buf, c->buf + n, c->len - n);
	c->len -= n;
}

/* The end of the head ("\r\n\r\n") in buf, or NULL. */
static char *find_head_end(char *buf, size_t len)
{
	for (size_t i = 0; i + 4 <= len; i++) {
		if (memcmp(buf + i, "\r\n\r\n", 4) == 0) {
			return buf + i;
		}
	}
	return NULL;
}

static int header_value(const char *head, const char *name, char *out,
			size_t cap)
{
	size_t nl = strlen(name);
	const char *p = strstr(head, "\r\n");

	while (p != NULL && p[2] != '\r') {
		p += 2;
		if (strncasecmp(p, name, nl) == 0 && p[nl] == ':') {
			const char *v = p + nl + 1;
			while (*v == ' ') {
				v++;
			}
			const char *e = strstr(v, "\r\n");
			size_t vl = (size_t)(e - v);
			ck_assert_uint_lt(vl, cap);
			memcpy(out, v, vl);
			out[vl] = '\0';
			return 0;
		}
		p = strstr(p, "\r\n");
	}
	return -1;
}

/*
 * Read one response; with head_only, no body is expected whatever the
 * Content-Length says (HEAD). Fails the test on EOF or timeout.
 */
static void cli_read(cli *c, resp *r, int head_only)
{
	char *end;
	char v[64];

	memset(r, 0, sizeof *r);
	for (;;) {
		end = find_head_end(c->buf, c->len);
		if (end != NULL) {
			break;
		}
		ssize_t n = cli_fill(c);
		ck_assert_msg(n > 0, "no response head (%zd, %s)", n,
			      strerror(errno));
	}
	size_t hl = (size_t)(end - c->buf) + 4;
	ck_assert_uint_lt(hl, sizeof r->head);
	memcpy(r->head, c->buf, hl);
	r->head[hl] = '\0';
	cli_drop(c, hl);
	ck_assert_int_eq(sscanf(r->head, "HTTP/1.1 %d ", &r->status), 1);
	ck_assert_int_eq(header_value(r->head, "Content-Length", v, sizeof v),
			 0);
	r->content_length = strtoul(v, NULL, 10);
	ck_assert_int_eq(header_value(r->head, "Connection", v, sizeof v), 0);
	r->conn_close = strcmp(v, "close") == 0;
	if (head_only) {
		return;
	}
	ck_assert_uint_lt(r->content_length, sizeof r->body);
	while (c->len < r->content_length) {
		ssize_t n = cli_fill(c);
		ck_assert_msg(n > 0, "short body");
	}
	memcpy(r->body, c->buf, r->content_length);
	r->body[r->content_length] = '\0';
	r->body_len = r->content_length;
	cli_drop(c, r->content_length);
}

/* Wait for the server to close: 1 on EOF or reset with no more data. */
static int cli_closed(cli *c)
{
	if (c->len != 0) {
		return 0;
	}
	ssize_t n = cli_fill(c);
	return n == 0 || (n < 0 && errno == ECONNRESET);
}

static void expect(cli *c, int status, const char *body, int conn_close)
{
	resp r;

	cli_read(c, &r, 0);
	ck_assert_int_eq(r.status, status);
	if (body != NULL) {
		ck_assert_str_eq(r.body, body);
	}
	ck_assert_int_eq(r.conn_close, conn_close);
}

/* Poll until *v >= want (from the loop thread) or 2 s pass. */
static void wait_for(atomic_int *v, int want)
{
	uint64_t t0 = now_ms();

	while (atomic_load(v) < want) {
		ck_assert_msg(now_ms() - t0 < 2000, "timed out waiting");
		tu_sleep_ms(5);
	}
}

/* ---- Tests. */

START_TEST(test_keep_alive)
{
	fx_opts();
	fx_start();
	cli *c = cli_open();

	for (int i = 0; i < 3; i++) {
		cli_sends(c, "GET /hello HTTP/1.1\r\nHost: x\r\n\r\n");
		expect(c, 200, "hello\n", 0);
	}
	cli_sends(c, "POST /echo HTTP/1.1\r\nHost: x\r\n"
		     "Content-Length: 5\r\n\r\nabcde");
	expect(c, 200, "abcde", 0);
	cli_sends(c, "GET /nothing HTTP/1.1\r\n\r\n");
	expect(c, 404, "not found\n", 0);
	/* A body split over several writes. */
	cli_sends(c, "POST /echo HTTP/1.1\r\nContent-Length: 6\r\n\r\nab");
	tu_sleep_ms(20);
	cli_sends(c, "cdef");
	expect(c, 200, "abcdef", 0);
	/* HTTP/1.0 without keep-alive: answered, then closed. */
	cli_sends(c, "GET /hello HTTP/1.0\r\n\r\n");
	expect(c, 200, "hello\n", 1);
	ck_assert(cli_closed(c));
	cli_close(c);

	/* resp.close from the api closes after the answer. */
	c = cli_open();
	cli_sends(c, "GET /close HTTP/1.1\r\n\r\n");
	expect(c, 200, "bye\n", 1);
	ck_assert(cli_closed(c));
	cli_close(c);
	fx_stop();
}
END_TEST

START_TEST(test_pipelined_in_order)
{
	fx_opts();
	fx_start();
	cli *c = cli_open();

	cli_sends(c, "GET /hello HTTP/1.1\r\n\r\n"
		     "GET /defer HTTP/1.1\r\n\r\n"
		     "POST /echo HTTP/1.1\r\nContent-Length: 3\r\n\r\nxyz");
	expect(c, 200, "hello\n", 0);
	expect(c, 200, "deferred\n", 0);
	expect(c, 200, "xyz", 0);
	ck_assert_int_eq(atomic_load(&F.api->answered), 1);
	cli_close(c);
	fx_stop();
}
END_TEST

/* More pipelined bytes than the server's read buffer: it must stop
 * reading, answer, and resume, losing nothing. */
START_TEST(test_pipelined_many)
{
	enum { N = 600 };
	static const char one[] =
		"GET /hello HTTP/1.1\r\nHost: pipelined\r\n\r\n";
	size_t len = (sizeof one - 1) * N;
	char *all = malloc(len);

	ck_assert_ptr_nonnull(all);
	for (int i = 0; i < N; i++) {
		memcpy(all + (size_t)i * (sizeof one - 1), one, sizeof one - 1);
	}
	fx_opts();
	fx_start();
	cli *c = cli_open();
	cli_send(c, all, len);
	for (int i = 0; i < N; i++) {
		expect(c, 200, "hello\n", 0);
	}
	ck_assert_int_eq(atomic_load(&F.api->handled), N);
	cli_close(c);
	free(all);
	fx_stop();
}
END_TEST

START_TEST(test_head)
{
	fx_opts();
	fx_start();
	cli *c = cli_open();
	resp r;

	cli_sends(c, "HEAD /hello HTTP/1.1\r\n\r\n");
	cli_read(c, &r, 1);
	ck_assert_int_eq(r.status, 200);
	ck_assert_uint_eq(r.content_length, 6);
	ck_assert_int_eq(r.conn_close, 0);
	/* No body followed: the next answer starts right here. */
	cli_sends(c, "GET /hello HTTP/1.1\r\n\r\n");
	expect(c, 200, "hello\n", 0);
	ck_assert_uint_eq(c->len, 0);
	cli_close(c);
	fx_stop();
}
END_TEST

START_TEST(test_parse_error)
{
	fx_opts();
	fx_start();
	cli *c = cli_open();
	resp r;

	cli_sends(c, "GET /hello HTTP/1.1\r\n\r\n"
		     "GET /a b c d\r\n\x01\x02\r\n\r\n"
		     "GET /hello HTTP/1.1\r\n\r\n");
	expect(c, 200, "hello\n", 0);
	cli_read(c, &r, 0);
	ck_assert_int_eq(r.status, 400);
	ck_assert_int_eq(r.conn_close, 1);
	ck_assert_uint_gt(r.body_len, 1);
	ck_assert_int_eq(r.body[r.body_len - 1], '\n');
	ck_assert_ptr_null(memchr(r.body, '\n', r.body_len - 1));
	ck_assert(cli_closed(c));
	cli_close(c);

	/* A request target that is not origin-form. */
	c = cli_open();
	cli_sends(c, "GET http://example/ HTTP/1.1\r\n\r\n");
	expect(c, 400, NULL, 1);
	ck_assert(cli_closed(c));
	cli_close(c);
	fx_stop();
}
END_TEST

START_TEST(test_limits)
{
	fx_opts();
	F.opts.limits.max_header_bytes = 1024;
	F.opts.limits.max_body_bytes = 1000;
	fx_start();

	/* 431: a head over max_header_bytes. */
	cli *c = cli_open();
	char pad[2100];
	memset(pad, 'a', sizeof pad - 1);
	pad[sizeof pad - 1] = '\0';
	cli_sends(c, "GET /hello HTTP/1.1\r\nX-Pad: ");
	cli_sends(c, pad);
	cli_sends(c, "\r\n\r\n");
	expect(c, 431, NULL, 1);
	ck_assert(cli_closed(c));
	cli_close(c);

	/* 413: Content-Length over max_body_bytes, with the body sent
	 * anyway: the lingering close keeps the answer from being lost to
	 * an RST caused by the unread body. */
	c = cli_open();
	char body[20000];
	memset(body, 'b', sizeof body);
	cli_sends(c, "POST /echo HTTP/1.1\r\nContent-Length: 20000\r\n\r\n");
	cli_send(c, body, sizeof body);
	expect(c, 413, NULL, 1);
	ck_assert(cli_closed(c));
	cli_close(c);

	/* Right at the limit is fine. */
	c = cli_open();
	cli_sends(c, "POST /echo HTTP/1.1\r\nContent-Length: 1000\r\n\r\n");
	cli_send(c, body, 1000);
	resp r;
	cli_read(c, &r, 0);
	ck_assert_int_eq(r.status, 200);
	ck_assert_uint_eq(r.body_len, 1000);
	cli_close(c);
	fx_stop();
}
END_TEST

/* Slowloris: a byte every 100 ms never completes the head; the deadline is
 * from the first byte, not the last. */
START_TEST(test_header_timeout)
{
	static const char req[] = "GET /hello HTTP/1.1\r\nX-Slow: aaaaaaaaaaaa"
				  "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\r\n\r\n";
	fx_opts();
	F.opts.header_timeout_ms = 300;
	fx_start();
	cli *c = cli_open();
	uint64_t t0 = now_ms();
	size_t i = 0;

	for (;;) {
		struct pollfd p = { c->fd, POLLIN, 0 };
		ck_assert_int_ge(poll(&p, 1, 100), 0);
		if (p.revents != 0) {
			break;
		}
		ck_assert_uint_lt(i, sizeof req - 1);
		ck_assert_int_eq(send(c->fd, req + i, 1, MSG_NOSIGNAL), 1);
		i++;
	}
	expect(c, 408, "request timeout\n", 1);
	ck_assert(cli_closed(c));
	uint64_t took = now_ms() - t0;
	ck_assert_uint_ge(took, 250);
	ck_assert_uint_lt(took, 1000);
	ck_assert_int_eq(atomic_load(&F.api->handled), 0);
	cli_close(c);

	/* A connection that sends nothing at all is closed silently. */
	c = cli_open();
	t0 = now_ms();
	ck_assert(cli_closed(c));
	ck_assert_uint_lt(now_ms() - t0, 1000);
	cli_close(c);
	fx_stop();
}
END_TEST

/* A body trickling in: the head is complete, request_timeout applies. */
START_TEST(test_request_timeout)
{
	fx_opts();
	F.opts.header_timeout_ms = 200;
	F.opts.request_timeout_ms = 600;
	fx_start();
	cli *c = cli_open();
	uint64_t t0 = now_ms();

	cli_sends(c, "POST /echo HTTP/1.1\r\nContent-Length: 100\r\n\r\n");
	for (int i = 0; i < 4; i++) {
		tu_sleep_ms(100);
		cli_sends(c, "x");
	}
	/* Past the header timeout but within the request timeout: still
	 * open. Then nothing more until the request timeout. */
	expect(c, 408, NULL, 1);
	uint64_t took = now_ms() - t0;
	ck_assert_uint_ge(took, 550);
	ck_assert_uint_lt(took, 1500);
	ck_assert(cli_closed(c));
	cli_close(c);
	fx_stop();
}
END_TEST

START_TEST(test_idle_timeout)
{
	fx_opts();
	F.opts.idle_timeout_ms = 200;
	fx_start();
	cli *c = cli_open();

	cli_sends(c, "GET /hello HTTP/1.1\r\n\r\n");
	expect(c, 200, "hello\n", 0);
	uint64_t t0 = now_ms();
	ck_assert(cli_closed(c));
	uint64_t took = now_ms() - t0;
	ck_assert_uint_ge(took, 150);
	ck_assert_uint_lt(took, 1000);
	cli_close(c);
	fx_stop();
}
END_TEST

START_TEST(test_max_connections)
{
	cli *c[4];
	resp r;
	char v[32];

	fx_opts();
	F.opts.max_connections = 4;
	fx_start();
	for (int i = 0; i < 4; i++) {
		c[i] = cli_open();
		cli_sends(c[i], "GET /hello HTTP/1.1\r\n\r\n");
		expect(c[i], 200, "hello\n", 0);
	}
	cli *x = cli_open();
	cli_sends(x, "GET /hello HTTP/1.1\r\n\r\n");
	cli_read(x, &r, 0);
	ck_assert_int_eq(r.status, 503);
	ck_assert_int_eq(r.conn_close, 1);
	ck_assert_int_eq(header_value(r.head, "Retry-After", v, sizeof v), 0);
	ck_assert_str_eq(v, "1");
	ck_assert(cli_closed(x));
	cli_close(x);
	ck_assert_int_eq(atomic_load(&F.api->handled), 4);

	/* The open ones still work; once one leaves, there is room again. */
	cli_sends(c[3], "GET /hello HTTP/1.1\r\n\r\n");
	expect(c[3], 200, "hello\n", 0);
	cli_close(c[0]);
	uint64_t t0 = now_ms();
	int refused = 1;
	for (;;) {
		x = cli_open();
		cli_sends(x, "GET /hello HTTP/1.1\r\n\r\n");
		cli_read(x, &r, 0);
		cli_close(x);
		if (r.status == 200) {
			break;
		}
		ck_assert_int_eq(r.status, 503);
		refused++;
		ck_assert_uint_lt(now_ms() - t0, 2000);
		tu_sleep_ms(20);
	}
	for (int i = 1; i < 4; i++) {
		cli_close(c[i]);
	}
	fx_stop();

	char want[80];
	snprintf(want, sizeof want, "ftlog_http_connections_refused_total %d\n",
		 refused);
	ck_assert_ptr_nonnull(strstr(F.metrics_text, want));
	ck_assert_ptr_nonnull(strstr(F.metrics_text,
				     "ftlog_http_connections_open 0\n"));
}
END_TEST

/* The client leaves while its request is deferred: the api is told. */
START_TEST(test_cancel_on_disconnect)
{
	fx_opts();
	fx_start();
	cli *c = cli_open();

	cli_sends(c, "GET /defer HTTP/1.1\r\n\r\n");
	wait_for(&F.api->deferred, 1);
	cli_close(c);
	wait_for(&F.api->cancelled, 1);
	tu_sleep_ms(2 * DEFER_MS);
	ck_assert_int_eq(atomic_load(&F.api->answered), 0);

	/* The same with a reset instead of a FIN. */
	c = cli_open();
	cli_sends(c, "GET /defer HTTP/1.1\r\n\r\n");
	wait_for(&F.api->deferred, 2);
	struct linger lg = { 1, 0 };
	ck_assert_int_eq(setsockopt(c->fd, SOL_SOCKET, SO_LINGER, &lg,
				    sizeof lg),
			 0);
	cli_close(c);
	wait_for(&F.api->cancelled, 2);
	tu_sleep_ms(2 * DEFER_MS);
	ck_assert_int_eq(atomic_load(&F.api->answered), 0);
	fx_stop();
}
END_TEST

/* A client that does not read a large answer is cut by the write timeout
 * and holds nobody else up meanwhile. */
START_TEST(test_write_timeout)
{
	fx_opts();
	F.opts.write_timeout_ms = 300;
	fx_start();
	cli *slow = cli_open_rcvbuf(4096);
	cli_sends(slow, "GET /big HTTP/1.1\r\n\r\n");
	tu_sleep_ms(50);

	cli *c = cli_open();
	uint64_t t0 = now_ms();
	cli_sends(c, "GET /hello HTTP/1.1\r\n\r\n");
	expect(c, 200, "hello\n", 0);
	ck_assert_uint_lt(now_ms() - t0, 300);

	tu_sleep_ms(1200);
	/* Now read: less than the whole answer, then EOF or a reset. */
	size_t total = 0;
	for (;;) {
		ssize_t n = recv(slow->fd, slow->buf, sizeof slow->buf, 0);
		if (n == 0 || (n < 0 && errno == ECONNRESET)) {
			break;
		}
		ck_assert_msg(n > 0, "recv: %s", strerror(errno));
		total += (size_t)n;
	}
	ck_assert_uint_gt(total, 0);
	ck_assert_uint_lt(total, BIG_LEN);
	cli_close(slow);

	cli_sends(c, "GET /hello HTTP/1.1\r\n\r\n");
	expect(c, 200, "hello\n", 0);
	cli_close(c);
	fx_stop();
}
END_TEST

/* A client that half-closes after its request still gets the answer. */
START_TEST(test_half_close)
{
	fx_opts();
	fx_start();
	cli *c = cli_open();

	cli_sends(c, "GET /hello HTTP/1.1\r\n\r\nGET /hello HTTP/1.1\r\n\r\n");
	ck_assert_int_eq(shutdown(c->fd, SHUT_WR), 0);
	resp r;
	cli_read(c, &r, 0);
	ck_assert_int_eq(r.status, 200);
	cli_read(c, &r, 0);
	ck_assert_int_eq(r.status, 200);
	/* Connection: close only if the server saw the FIN before writing
	 * the answer; either way it closes after it. */
	ck_assert(cli_closed(c));
	cli_close(c);

	/* Cut mid-request: 400, then closed. */
	c = cli_open();
	cli_sends(c, "GET /hello HTTP/1.1\r\nHost:");
	ck_assert_int_eq(shutdown(c->fd, SHUT_WR), 0);
	expect(c, 400, NULL, 1);
	ck_assert(cli_closed(c));
	cli_close(c);
	fx_stop();
}
END_TEST

START_TEST(test_graceful_shutdown)
{
	/* Long enough that the shutdown surely begins while it waits. */
	g_defer_ms = 300;
	fx_opts();
	fx_start();
	cli *idle = cli_open();
	cli_sends(idle, "GET /hello HTTP/1.1\r\n\r\n");
	expect(idle, 200, "hello\n", 0);
	/* Half a request head: it gets a short grace, then 408. */
	cli *partial = cli_open();
	cli_sends(partial, "GET /hello HTTP/1.1\r\nHost: x");
	tu_sleep_ms(20);
	cli *busy = cli_open();
	cli_sends(busy, "GET /defer HTTP/1.1\r\n\r\n");
	wait_for(&F.api->deferred, 1);

	uint64_t t0 = now_ms();
	fx_shutdown();
	/* The idle connection is closed at once, without an answer. */
	ck_assert(cli_closed(idle));
	cli_close(idle);
	/* The deferred request is answered, with Connection: close. */
	expect(busy, 200, "deferred\n", 1);
	ck_assert(cli_closed(busy));
	cli_close(busy);
	/* No new connections. */
	int fd = cli_connect_fd(F.port, 0);
	ck_assert_int_eq(fd, -1);
	expect(partial, 408, NULL, 1);
	ck_assert(cli_closed(partial));
	cli_close(partial);
	uint64_t took = now_ms() - t0;
	ck_assert_uint_ge(took, 900);
	ck_assert_uint_lt(took, 2000);

	while (!atomic_load(&F.done)) {
		ck_assert_uint_lt(now_ms() - t0, 3000);
		tu_sleep_ms(5);
	}
	ck_assert_int_eq(atomic_load(&F.api->answered), 1);
	ck_assert_int_eq(atomic_load(&F.api->cancelled), 0);
	fx_stop();
}
END_TEST

/* Past the refusal budget, connections over the cap are closed without
 * an answer; everyone is closed in the end and nothing leaks. */
START_TEST(test_refusal_budget)
{
	enum { N = 80 };
	cli *held;
	cli *x[N];
	int got503 = 0, dropped = 0;

	fx_opts();
	F.opts.max_connections = 1;
	fx_start();
	held = cli_open();
	cli_sends(held, "GET /hello HTTP/1.1\r\n\r\n");
	expect(held, 200, "hello\n", 0);
	for (int i = 0; i < N; i++) {
		x[i] = cli_open();
	}
	for (int i = 0; i < N; i++) {
		ssize_t n = cli_fill(x[i]);
		if (n > 0) {
			resp r;
			cli_read(x[i], &r, 0);
			ck_assert_int_eq(r.status, 503);
			ck_assert(cli_closed(x[i]));
			got503++;
		} else {
			ck_assert(n == 0 || errno == ECONNRESET);
			dropped++;
		}
		cli_close(x[i]);
	}
	ck_assert_int_ge(got503, 1);
	ck_assert_int_ge(dropped, N - 64);
	cli_sends(held, "GET /hello HTTP/1.1\r\n\r\n");
	expect(held, 200, "hello\n", 0);
	cli_close(held);
	fx_stop();
	char want[80];
	snprintf(want, sizeof want, "ftlog_http_connections_refused_total %d\n",
		 N);
	ck_assert_ptr_nonnull(strstr(F.metrics_text, want));
}
END_TEST

static double cpu_seconds(void)
{
	struct rusage ru;

	ck_assert_int_eq(getrusage(RUSAGE_SELF, &ru), 0);
	return (double)ru.ru_utime.tv_sec + ru.ru_utime.tv_usec / 1e6 +
	       (double)ru.ru_stime.tv_sec + ru.ru_stime.tv_usec / 1e6;
}

/* Out of file descriptors: accept fails; the server logs, does not spin
 * or crash, and serves again once descriptors are available. */
START_TEST(test_accept_emfile)
{
	enum { MAXFILL = 64 };
	int fill[MAXFILL];
	int nfill = 0;
	struct rlimit old, lim;

	fx_opts();
	fx_start();
	ck_assert_int_eq(getrlimit(RLIMIT_NOFILE, &old), 0);
	/* Descriptors are allocated lowest first: find the lowest free one
	 * and allow a few more. */
	int probe = dup(0);
	ck_assert_int_ge(probe, 0);
	ck_assert_int_eq(close(probe), 0);
	lim = old;
	lim.rlim_cur = (rlim_t)probe + 8;
	ck_assert_int_eq(setrlimit(RLIMIT_NOFILE, &lim), 0);
	while (nfill < MAXFILL) {
		int fd = socket(AF_INET, SOCK_STREAM, 0);
		if (fd < 0) {
			ck_assert_int_eq(errno, EMFILE);
			break;
		}
		fill[nfill++] = fd;
	}
	ck_assert_int_lt(nfill, MAXFILL);
	ck_assert_int_gt(nfill, 0);
	/* One slot for our client; none left for the server's accept. */
	ck_assert_int_eq(close(fill[--nfill]), 0);
	int fd = cli_connect_fd(F.port, 0);
	ck_assert_int_ge(fd, 0);
	double cpu0 = cpu_seconds();
	tu_sleep_ms(300);
	/* Not spinning: well under half a CPU over that time. */
	ck_assert(cpu_seconds() - cpu0 < 0.15);
	while (nfill > 0) {
		ck_assert_int_eq(close(fill[--nfill]), 0);
	}
	ck_assert_int_eq(setrlimit(RLIMIT_NOFILE, &old), 0);
	/* That connection was either dropped (libuv 1.44 accepts and closes
	 * it with a reserved descriptor) or is served now. */
	char b[256];
	struct timeval tv = { 1, 0 };
	ck_assert_int_eq(setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv,
				    sizeof tv),
			 0);
	(void)send(fd, "GET /hello HTTP/1.1\r\n\r\n", 24, MSG_NOSIGNAL);
	ssize_t n = recv(fd, b, sizeof b, 0);
	ck_assert(n >= 0 || errno == ECONNRESET || errno == EPIPE ||
		  errno == EAGAIN);
	ck_assert_int_eq(close(fd), 0);

	cli *c = cli_open();
	cli_sends(c, "GET /hello HTTP/1.1\r\n\r\n");
	expect(c, 200, "hello\n", 0);
	cli_close(c);
	fx_stop();
}
END_TEST

/* Shutdown with nothing open. */
START_TEST(test_shutdown_empty)
{
	fx_opts();
	fx_start();
	fx_stop();
}
END_TEST

/* ---- Pipelining with deferred answers. */

/* A POST /add request with body "entry-<i>" appended to buf at *len. */
static void add_req(char *buf, size_t cap, size_t *len, int i)
{
	char body[32];
	int bl = snprintf(body, sizeof body, "entry-%d", i);

	ck_assert(bl > 0 && (size_t)bl < sizeof body);
	int n = snprintf(buf + *len, cap - *len,
			 "POST /add HTTP/1.1\r\nHost: x\r\n"
			 "Content-Length: %d\r\n\r\n%s",
			 bl, body);
	ck_assert(n > 0 && (size_t)n < cap - *len);
	*len += (size_t)n;
}

static void expect_entry(cli *c, int i, int conn_close)
{
	char want[32];

	snprintf(want, sizeof want, "entry-%d", i);
	expect(c, 200, want, conn_close);
}

/* Sends a buffer from its own thread, so that the test can read answers
 * while a large pipeline is still being sent. */
typedef struct sender {
	pthread_t thread;
	int fd;
	const char *data;
	size_t len;
	int err; /* errno of a failed send, else 0 */
} sender;

static void *sender_thread(void *arg)
{
	sender *sd = arg;
	size_t off = 0;

	while (off < sd->len) {
		ssize_t n = send(sd->fd, sd->data + off, sd->len - off,
				 MSG_NOSIGNAL);
		if (n <= 0) {
			sd->err = n < 0 ? errno : EPIPE;
			return NULL;
		}
		off += (size_t)n;
	}
	return NULL;
}

/* 50 pipelined POST /add whose answers complete in random order: all are
 * in flight together, and the answers come back complete and in request
 * order. */
START_TEST(test_pipelined_deferred_out_of_order)
{
	enum { N = 50 };
	static char all[N * 96];
	size_t len = 0;

	g_add_random = 1;
	g_defer_ms = 60;
	for (int i = 0; i < N; i++) {
		add_req(all, sizeof all, &len, i);
	}
	fx_opts();
	fx_start();
	cli *c = cli_open();
	uint64_t t0 = now_ms();
	cli_send(c, all, len);
	for (int i = 0; i < N; i++) {
		expect_entry(c, i, 0);
	}
	/* One after another they would take about N * 30 ms. */
	ck_assert_uint_lt(now_ms() - t0, 800);
	ck_assert_int_eq(atomic_load(&F.api->deferred), N);
	ck_assert_int_eq(atomic_load(&F.api->answered), N);
	ck_assert_int_gt(atomic_load(&F.api->inversions), 0);
	ck_assert_int_gt(atomic_load(&F.api->max_outstanding), 1);
	/* Still a working keep-alive connection. */
	cli_sends(c, "GET /hello HTTP/1.1\r\n\r\n");
	expect(c, 200, "hello\n", 0);
	ck_assert_uint_eq(c->len, 0);
	cli_close(c);
	ck_assert_int_eq(atomic_load(&F.api->cancelled), 0);
	fx_stop();
}
END_TEST

/* Deferred, immediate, HEAD, deferred in one write: immediate answers wait
 * behind deferred ones. A request asking to close ends the pipeline. */
START_TEST(test_pipelined_mixed)
{
	char all[1024];
	size_t len = 0;
	resp r;

	fx_opts();
	fx_start();
	cli *c = cli_open();
	add_req(all, sizeof all, &len, 1);
	len += (size_t)snprintf(all + len, sizeof all - len,
				"GET /hello HTTP/1.1\r\n\r\n"
				"HEAD /hello HTTP/1.1\r\n\r\n"
				"GET /defer HTTP/1.1\r\n\r\n"
				"GET /nothing HTTP/1.1\r\n\r\n");
	add_req(all, sizeof all, &len, 2);
	cli_send(c, all, len);
	expect_entry(c, 1, 0);
	expect(c, 200, "hello\n", 0);
	cli_read(c, &r, 1);
	ck_assert_int_eq(r.status, 200);
	ck_assert_uint_eq(r.content_length, 6);
	ck_assert_int_eq(r.conn_close, 0);
	expect(c, 200, "deferred\n", 0);
	expect(c, 404, "not found\n", 0);
	expect_entry(c, 2, 0);
	ck_assert_uint_eq(c->len, 0);
	ck_assert_int_eq(atomic_load(&F.api->handled), 6);

	/* Connection: close in the middle: answered with close, nothing
	 * after it is parsed. */
	len = 0;
	add_req(all, sizeof all, &len, 3);
	len += (size_t)snprintf(all + len, sizeof all - len,
				"GET /hello HTTP/1.1\r\nConnection: close\r\n\r\n"
				"GET /hello HTTP/1.1\r\n\r\n");
	cli_send(c, all, len);
	expect_entry(c, 3, 0);
	expect(c, 200, "hello\n", 1);
	ck_assert(cli_closed(c));
	cli_close(c);
	ck_assert_int_eq(atomic_load(&F.api->handled), 8);

	/* The same for an HTTP/1.0 request behind a deferred one. */
	c = cli_open();
	len = 0;
	add_req(all, sizeof all, &len, 4);
	len += (size_t)snprintf(all + len, sizeof all - len,
				"GET /hello HTTP/1.0\r\n\r\n"
				"GET /hello HTTP/1.1\r\n\r\n");
	cli_send(c, all, len);
	expect_entry(c, 4, 0);
	expect(c, 200, "hello\n", 1);
	ck_assert(cli_closed(c));
	cli_close(c);
	ck_assert_int_eq(atomic_load(&F.api->handled), 10);
	fx_stop();
}
END_TEST

/* 1000 pipelined POST /add on one connection: all answered in order, and
 * the api never holds more than FT_SERVER_MAX_INFLIGHT of them at once. */
START_TEST(test_pipelined_inflight_cap)
{
	enum { N = 1000 };
	size_t cap = (size_t)N * 96;
	char *all = malloc(cap);
	size_t len = 0;
	sender sd;

	ck_assert_ptr_nonnull(all);
	g_add_random = 1;
	g_defer_ms = 20;
	for (int i = 0; i < N; i++) {
		add_req(all, cap, &len, i);
	}
	ck_assert_uint_gt(len, 3 * 16 * 1024); /* more than the read buffer */
	fx_opts();
	fx_start();
	cli *c = cli_open();
	memset(&sd, 0, sizeof sd);
	sd.fd = c->fd;
	sd.data = all;
	sd.len = len;
	ck_assert_int_eq(pthread_create(&sd.thread, NULL, sender_thread, &sd),
			 0);
	for (int i = 0; i < N; i++) {
		expect_entry(c, i, 0);
	}
	ck_assert_int_eq(pthread_join(sd.thread, NULL), 0);
	ck_assert_int_eq(sd.err, 0);
	ck_assert_int_eq(atomic_load(&F.api->answered), N);
	int most = atomic_load(&F.api->max_outstanding);
	ck_assert_int_le(most, FT_SERVER_MAX_INFLIGHT);
	ck_assert_int_ge(most, FT_SERVER_MAX_INFLIGHT / 2);
	cli_sends(c, "GET /hello HTTP/1.1\r\n\r\n");
	expect(c, 200, "hello\n", 0);
	cli_close(c);
	free(all);
	ck_assert_int_eq(atomic_load(&F.api->cancelled), 0);
	fx_stop();
}
END_TEST

/* The client leaves with 10 requests pending (and an immediate answer
 * queued behind them): each is cancelled exactly once. */
START_TEST(test_pipelined_cancel_all)
{
	char all[2048];
	size_t len = 0;

	g_defer_ms = 5000; /* never answered in this test */
	for (int i = 0; i < 10; i++) {
		add_req(all, sizeof all, &len, i);
	}
	len += (size_t)snprintf(all + len, sizeof all - len,
				"GET /hello HTTP/1.1\r\n\r\n");
	fx_opts();
	fx_start();
	cli *c = cli_open();
	cli_send(c, all, len);
	wait_for(&F.api->handled, 11);
	ck_assert_int_eq(atomic_load(&F.api->deferred), 10);
	cli_close(c);
	wait_for(&F.api->cancelled, 10);
	tu_sleep_ms(100);
	ck_assert_int_eq(atomic_load(&F.api->cancelled), 10);
	ck_assert_int_eq(atomic_load(&F.api->answered), 0);
	ck_assert_int_eq(atomic_load(&F.api->outstanding), 0);
	fx_stop();
}
END_TEST

/* A parse error after 3 deferred requests: those 3 are answered first, then
 * the 400, then the connection closes; nothing after the error is seen. */
START_TEST(test_pipelined_parse_error)
{
	char all[1024];
	size_t len = 0;
	resp r;

	for (int i = 0; i < 3; i++) {
		add_req(all, sizeof all, &len, i);
	}
	len += (size_t)snprintf(all + len, sizeof all - len,
				"GET /a b c d\r\n\x01\x02\r\n\r\n"
				"GET /hello HTTP/1.1\r\n\r\n");
	fx_opts();
	fx_start();
	cli *c = cli_open();
	cli_send(c, all, len);
	for (int i = 0; i < 3; i++) {
		expect_entry(c, i, 0);
	}
	cli_read(c, &r, 0);
	ck_assert_int_eq(r.status, 400);
	ck_assert_int_eq(r.conn_close, 1);
	ck_assert(cli_closed(c));
	cli_close(c);
	ck_assert_int_eq(atomic_load(&F.api->handled), 3);
	ck_assert_int_eq(atomic_load(&F.api->answered), 3);
	ck_assert_int_eq(atomic_load(&F.api->cancelled), 0);
	fx_stop();
}
END_TEST

/* Shutdown with several requests in flight on one connection: all are
 * answered, only the last says close, then the connection closes. */
START_TEST(test_pipelined_shutdown)
{
	enum { N = 5 };
	char all[1024];
	size_t len = 0;

	g_defer_ms = 300;
	for (int i = 0; i < N; i++) {
		add_req(all, sizeof all, &len, i);
	}
	fx_opts();
	fx_start();
	cli *c = cli_open();
	cli_send(c, all, len);
	wait_for(&F.api->deferred, N);
	uint64_t t0 = now_ms();
	fx_shutdown();
	for (int i = 0; i < N; i++) {
		expect_entry(c, i, i == N - 1);
	}
	ck_assert(cli_closed(c));
	cli_close(c);
	while (!atomic_load(&F.done)) {
		ck_assert_uint_lt(now_ms() - t0, 3000);
		tu_sleep_ms(5);
	}
	ck_assert_int_eq(atomic_load(&F.api->answered), N);
	ck_assert_int_eq(atomic_load(&F.api->cancelled), 0);
	fx_stop();
}
END_TEST

/* A client that pipelines large GETs and does not read: the server stops
 * parsing once enough answers wait (it does not build all of them), and
 * goes on when the client reads. */
START_TEST(test_pipelined_queued_bytes)
{
	enum { N = 200 };
	static const char one[] = "GET /k64 HTTP/1.1\r\n\r\n";
	size_t len = (sizeof one - 1) * N;
	char *all = malloc(len);
	resp r;

	ck_assert_ptr_nonnull(all);
	for (int i = 0; i < N; i++) {
		memcpy(all + (size_t)i * (sizeof one - 1), one, sizeof one - 1);
	}
	fx_opts();
	fx_start();
	cli *c = cli_open_rcvbuf(4096);
	cli_send(c, all, len);
	tu_sleep_ms(300);
	/* Without the bound all MAX_INFLIGHT answers would be built; the
	 * kernel's socket buffers take a few MiB of them. */
	int seen = atomic_load(&F.api->handled);
	ck_assert_int_lt(seen, FT_SERVER_MAX_INFLIGHT);
	for (int i = 0; i < N; i++) {
		cli_read(c, &r, 1);
		ck_assert_int_eq(r.status, 200);
		ck_assert_uint_eq(r.content_length, K64_LEN);
		size_t left = K64_LEN;
		while (left > 0) {
			size_t n = c->len < left ? c->len : left;
			size_t bad = 0;
			for (size_t j = 0; j < n; j++) {
				bad += c->buf[j] != 'k';
			}
			ck_assert_uint_eq(bad, 0);
			cli_drop(c, n);
			left -= n;
			if (left > 0) {
				ck_assert_int_gt(cli_fill(c), 0);
			}
		}
	}
	ck_assert_int_eq(atomic_load(&F.api->handled), N);
	cli_close(c);
	free(all);
	fx_stop();
}
END_TEST

static Suite *server_suite(void)
{
	Suite *s = suite_create("server");
	TCase *tc = tcase_create("core");

	tcase_set_timeout(tc, 20);
	tcase_add_test(tc, test_keep_alive);
	tcase_add_test(tc, test_pipelined_in_order);
	tcase_add_test(tc, test_pipelined_many);
	tcase_add_test(tc, test_head);
	tcase_add_test(tc, test_parse_error);
	tcase_add_test(tc, test_limits);
	tcase_add_test(tc, test_header_timeout);
	tcase_add_test(tc, test_request_timeout);
	tcase_add_test(tc, test_idle_timeout);
	tcase_add_test(tc, test_max_connections);
	tcase_add_test(tc, test_cancel_on_disconnect);
	tcase_add_test(tc, test_write_timeout);
	tcase_add_test(tc, test_half_close);
	tcase_add_test(tc, test_graceful_shutdown);
	tcase_add_test(tc, test_refusal_budget);
	tcase_add_test(tc, test_accept_emfile);
	tcase_add_test(tc, test_shutdown_empty);
	tcase_add_test(tc, test_pipelined_deferred_out_of_order);
	tcase_add_test(tc, test_pipelined_mixed);
	tcase_add_test(tc, test_pipelined_inflight_cap);
	tcase_add_test(tc, test_pipelined_cancel_all);
	tcase_add_test(tc, test_pipelined_parse_error);
	tcase_add_test(tc, test_pipelined_shutdown);
	tcase_add_test(tc, test_pipelined_queued_bytes);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	return tu_run_suite(server_suite());
}
