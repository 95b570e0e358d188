/*
 * tests/test_http.c - the HTTP/1.1 request adapter (logd/http.c): requests
 * fed whole, byte by byte and split at every boundary; every limit with its
 * exact status; EOF; keep-alive; and response heads that parse back.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <http_parser.h>

#include "logd/http.h"
#include "tests/testutil.h"

/* ---- Recording what the adapter reports for a stream. */

#define REC_MAX 8
#define REC_STR 2100
#define REC_BODY 128

/* One event: a request (its fields copied out) or the final error. */
typedef struct rec {
	int ev;
	int status;
	const char *reason;
	int method;
	char method_name[16];
	char path[REC_STR];
	size_t path_len;
	char query[REC_STR];
	size_t query_len;
	int keep_alive;
	unsigned minor;
	size_t body_len;
	uint8_t body[REC_BODY]; /* the first REC_BODY bytes */
	unsigned long body_sum; /* all of it, so long bodies compare too */
} rec;

typedef struct run {
	rec r[REC_MAX];
	size_t n;
	int eof_ev; /* event of the final EOF, or -1 if none was fed */
} run;

static unsigned long sum_bytes(const uint8_t *p, size_t n)
{
	unsigned long s = 5381;

	for (size_t i = 0; i < n; i++) {
		s = s * 33 + p[i];
	}
	return s;
}

static void rec_request(run *out, const ft_http *h)
{
	const ft_http_req *q = &h->req;
	rec *r;

	ck_assert_uint_lt(out->n, REC_MAX);
	r = &out->r[out->n++];
	memset(r, 0, sizeof *r);
	r->ev = FT_HTTP_REQUEST;
	r->method = q->method;
	ck_assert_ptr_nonnull(q->method_name);
	ck_assert_uint_lt(strlen(q->method_name), sizeof r->method_name);
	strcpy(r->method_name, q->method_name);
	/* Path and query are C strings of exactly their stated length. */
	ck_assert_ptr_nonnull(q->path);
	ck_assert_ptr_nonnull(q->query);
	ck_assert_uint_lt(q->path_len, REC_STR);
	ck_assert_uint_lt(q->query_len, REC_STR);
	ck_assert_uint_eq(strlen(q->path), q->path_len);
	ck_assert_uint_eq(strlen(q->query), q->query_len);
	ck_assert_int_eq(q->path[0], '/');
	ck_assert_ptr_null(memchr(q->path, '?', q->path_len));
	memcpy(r->path, q->path, q->path_len + 1);
	r->path_len = q->path_len;
	memcpy(r->query, q->query, q->query_len + 1);
	r->query_len = q->query_len;
	ck_assert(q->keep_alive == 0 || q->keep_alive == 1);
	r->keep_alive = q->keep_alive;
	ck_assert_uint_le(q->http_minor, 1);
	r->minor = q->http_minor;
	ck_assert(q->body != NULL || q->body_len == 0);
	r->body_len = q->body_len;
	memcpy(r->body, q->body,
	       q->body_len < REC_BODY ? q->body_len : REC_BODY);
	r->body_sum = sum_bytes(q->body, q->body_len);
}

static void rec_error(run *out, const ft_http *h)
{
	rec *r;

	ck_assert_uint_lt(out->n, REC_MAX);
	r = &out->r[out->n++];
	memset(r, 0, sizeof *r);
	r->ev = FT_HTTP_ERROR;
	r->status = h->err_status;
	r->reason = h->err_reason;
	ck_assert_ptr_nonnull(r->reason);
	ck_assert_ptr_null(strchr(r->reason, '\n'));
}

/*
 * Feed one piece the way the server does: on a request, record it, call
 * ft_http_next and feed the rest. Returns 0, or -1 after an error.
 */
static int feed_piece(ft_http *h, const uint8_t *p, size_t len, run *out)
{
	size_t off = 0;

	while (off < len) {
		size_t c = 9999999;
		int ev = ft_http_feed(h, p + off, len - off, &c);

		ck_assert_uint_le(c, len - off);
		off += c;
		switch (ev) {
		case FT_HTTP_NEED_MORE:
			ck_assert_uint_eq(off, len);
			ck_assert_int_eq(h->err_status, 0);
			break;
		case FT_HTTP_REQUEST:
			ck_assert_uint_gt(c, 0);
			ck_assert(!ft_http_in_progress(h));
			rec_request(out, h);
			ft_http_next(h);
			break;
		case FT_HTTP_ERROR:
			rec_error(out, h);
			return -1;
		default:
			ck_abort_msg("unknown event %d", ev);
		}
	}
	return 0;
}

/*
 * Feed s[0..len) cut at the increasing positions cuts[0..ncuts), then EOF
 * if eof is set. The adapter is freed before returning.
 */
static void run_cuts(const ft_http_limits *lim, const void *s, size_t len,
		     const size_t *cuts, size_t ncuts, int eof, run *out)
{
	const uint8_t *p = s;
	ft_http h;
	size_t start = 0;

	memset(out, 0, sizeof *out);
	out->eof_ev = -1;
	ft_http_init(&h, lim);
	for (size_t k = 0; k <= ncuts; k++) {
		size_t end = k < ncuts ? cuts[k] : len;

		ck_assert_uint_le(start, end);
		if (end > start && feed_piece(&h, p + start, end - start,
					      out) != 0) {
			ft_http_free(&h);
			return;
		}
		start = end;
	}
	if (eof) {
		size_t c = 1;

		out->eof_ev = ft_http_feed(&h, NULL, 0, &c);
		ck_assert_uint_eq(c, 0);
		if (out->eof_ev == FT_HTTP_ERROR) {
			rec_error(out, &h);
		}
	}
	ft_http_free(&h);
}

/* Pieces of `step` bytes (0: the whole stream at once). */
static void run_step(const ft_http_limits *lim, const void *s, size_t len,
		     size_t step, int eof, run *out)
{
	size_t n = 0;
	size_t *cuts = NULL;

	if (step > 0 && len > step) {
		cuts = calloc(len / step + 1, sizeof *cuts);
		ck_assert_ptr_nonnull(cuts);
		for (size_t at = step; at < len; at += step) {
			cuts[n++] = at;
		}
	}
	run_cuts(lim, s, len, cuts, n, eof, out);
	free(cuts);
}

static void rec_same(const rec *a, const rec *b, const char *what, size_t at)
{
	ck_assert_msg(a->ev == b->ev, "%s %zu: event %d vs %d", what, at,
		      a->ev, b->ev);
	ck_assert_msg(a->status == b->status, "%s %zu: status %d vs %d", what,
		      at, a->status, b->status);
	ck_assert_int_eq(a->method, b->method);
	ck_assert_str_eq(a->method_name, b->method_name);
	ck_assert_str_eq(a->path, b->path);
	ck_assert_uint_eq(a->path_len, b->path_len);
	ck_assert_str_eq(a->query, b->query);
	ck_assert_uint_eq(a->query_len, b->query_len);
	ck_assert_int_eq(a->keep_alive, b->keep_alive);
	ck_assert_uint_eq(a->minor, b->minor);
	ck_assert_uint_eq(a->body_len, b->body_len);
	ck_assert_mem_eq(a->body, b->body, sizeof a->body);
	ck_assert_uint_eq(a->body_sum, b->body_sum);
}

static void run_same(const run *a, const run *b, const char *what, size_t at)
{
	ck_assert_msg(a->n == b->n, "%s %zu: %zu events vs %zu", what, at,
		      a->n, b->n);
	for (size_t i = 0; i < a->n; i++) {
		rec_same(&a->r[i], &b->r[i], what, at);
	}
	ck_assert_int_eq(a->eof_ev, b->eof_ev);
}

/*
 * Run a stream whole, byte by byte, and cut once at every position; all
 * must agree. Returns the whole-stream result in *out.
 */
static void run_all_ways(const ft_http_limits *lim, const char *s,
			 size_t len, int eof, run *out)
{
	static run other;

	run_step(lim, s, len, 0, eof, out);
	run_step(lim, s, len, 1, eof, &other);
	run_same(out, &other, "bytewise", 0);
	for (size_t i = 0; i <= len; i++) {
		run_cuts(lim, s, len, &i, 1, eof, &other);
		run_same(out, &other, "cut at", i);
	}
}

/* The status a stream ends in (fed all ways); it must end in an error. */
static int status_of(const ft_http_limits *lim, const char *s, size_t len)
{
	static run r;

	run_all_ways(lim, s, len, 1, &r);
	ck_assert_uint_ge(r.n, 1);
	ck_assert_int_eq(r.r[r.n - 1].ev, FT_HTTP_ERROR);
	return r.r[r.n - 1].status;
}

#define STATUS_OF(lit) status_of(NULL, (lit), sizeof(lit) - 1)

/* One request, fed all ways, that must parse; returns it. */
static const rec *one_request(const char *s)
{
	static run r;

	run_all_ways(NULL, s, strlen(s), 1, &r);
	ck_assert_uint_eq(r.n, 1);
	ck_assert_int_eq(r.r[0].ev, FT_HTTP_REQUEST);
	ck_assert_int_eq(r.eof_ev, FT_HTTP_NEED_MORE);
	return &r.r[0];
}

/* ---- Requests. */

START_TEST(test_simple_get)
{
	static const char s[] = "GET /checkpoint HTTP/1.1\r\nHost: x\r\n\r\n";
	ft_http h;
	size_t c = 0;

	ft_http_init(&h, NULL);
	ck_assert_int_eq(h.lim.max_header_bytes, 8192);
	ck_assert_int_eq(h.lim.max_body_bytes, 65535);
	ck_assert_int_eq(h.lim.max_headers, 64);
	ck_assert(!ft_http_in_progress(&h));
	ck_assert_int_eq(ft_http_feed(&h, (const uint8_t *)s, sizeof s - 1,
				      &c),
			 FT_HTTP_REQUEST);
	ck_assert_uint_eq(c, sizeof s - 1);
	ck_assert_int_eq(h.req.method, FT_HTTP_GET);
	ck_assert_str_eq(h.req.method_name, "GET");
	ck_assert_str_eq(h.req.path, "/checkpoint");
	ck_assert_uint_eq(h.req.path_len, 11);
	ck_assert_str_eq(h.req.query, "");
	ck_assert_uint_eq(h.req.query_len, 0);
	ck_assert_int_eq(h.req.keep_alive, 1);
	ck_assert_uint_eq(h.req.body_len, 0);
	ck_assert_uint_eq(h.req.http_minor, 1);
	ck_assert(!ft_http_in_progress(&h));

	/* Without ft_http_next the same request is reported again. */
	c = 7;
	ck_assert_int_eq(ft_http_feed(&h, (const uint8_t *)s, 3, &c),
			 FT_HTTP_REQUEST);
	ck_assert_uint_eq(c, 0);
	ck_assert_str_eq(h.req.path, "/checkpoint");

	ft_http_next(&h);
	ck_assert_int_eq(ft_http_feed(&h, NULL, 0, &c), FT_HTTP_NEED_MORE);
	ck_assert_uint_eq(c, 0);

	/* The same connection serves a second request. */
	ck_assert_int_eq(ft_http_feed(&h, (const uint8_t *)s, sizeof s - 1,
				      &c),
			 FT_HTTP_REQUEST);
	ck_assert_uint_eq(c, sizeof s - 1);
	ck_assert_str_eq(h.req.path, "/checkpoint");
	ft_http_free(&h);
	ft_http_free(&h); /* twice is harmless */

	(void)one_request(s);
}
END_TEST

START_TEST(test_methods)
{
	const rec *r;

	r = one_request("HEAD /checkpoint HTTP/1.1\r\n\r\n");
	ck_assert_int_eq(r->method, FT_HTTP_HEAD);
	ck_assert_str_eq(r->method_name, "HEAD");
	r = one_request("PUT /x HTTP/1.1\r\nContent-Length: 2\r\n\r\nab");
	ck_assert_int_eq(r->method, FT_HTTP_OTHER);
	ck_assert_str_eq(r->method_name, "PUT");
	ck_assert_uint_eq(r->body_len, 2);
	r = one_request("DELETE /x HTTP/1.1\r\n\r\n");
	ck_assert_int_eq(r->method, FT_HTTP_OTHER);
	ck_assert_str_eq(r->method_name, "DELETE");
	r = one_request("OPTIONS /x HTTP/1.1\r\n\r\n");
	ck_assert_int_eq(r->method, FT_HTTP_OTHER);
	ck_assert_str_eq(r->method_name, "OPTIONS");
	/* A body on GET is read (and bounded) like any other. */
	r = one_request("GET /x HTTP/1.1\r\nContent-Length: 3\r\n\r\nabc");
	ck_assert_int_eq(r->method, FT_HTTP_GET);
	ck_assert_uint_eq(r->body_len, 3);
	ck_assert_mem_eq(r->body, "abc", 3);
}
END_TEST

START_TEST(test_query_split)
{
	const rec *r;

	r = one_request("GET /proof/inclusion?index=1&size=2 HTTP/1.1\r\n\r\n");
	ck_assert_str_eq(r->path, "/proof/inclusion");
	ck_assert_uint_eq(r->path_len, 16);
	ck_assert_str_eq(r->query, "index=1&size=2");
	ck_assert_uint_eq(r->query_len, 14);

	r = one_request("GET /? HTTP/1.1\r\n\r\n");
	ck_assert_str_eq(r->path, "/");
	ck_assert_str_eq(r->query, "");
	ck_assert_uint_eq(r->query_len, 0);

	/* Only the first '?' splits. */
	r = one_request("GET /a?b?c=%3F HTTP/1.1\r\n\r\n");
	ck_assert_str_eq(r->path, "/a");
	ck_assert_str_eq(r->query, "b?c=%3F");

	/* Percent-escapes are left alone. */
	r = one_request("GET /tile/%30/x HTTP/1.1\r\n\r\n");
	ck_assert_str_eq(r->path, "/tile/%30/x");
	ck_assert_str_eq(r->query, "");
}
END_TEST

START_TEST(test_post_body)
{
	static const char s[] =
		"POST /add HTTP/1.1\r\nHost: log\r\nContent-Length: 11\r\n"
		"Content-Type: application/json\r\n\r\n{\"a\":\"b c\"}";
	const rec *r = one_request(s);

	ck_assert_int_eq(r->method, FT_HTTP_POST);
	ck_assert_str_eq(r->method_name, "POST");
	ck_assert_str_eq(r->path, "/add");
	ck_assert_uint_eq(r->body_len, 11);
	ck_assert_mem_eq(r->body, "{\"a\":\"b c\"}", 11);

	/* Content-Length: 0 on POST is an empty body, not a 411. */
	r = one_request("POST /add HTTP/1.1\r\nContent-Length: 0\r\n\r\n");
	ck_assert_int_eq(r->method, FT_HTTP_POST);
	ck_assert_uint_eq(r->body_len, 0);
}
END_TEST

START_TEST(test_body_bytewise)
{
	static const char s[] =
		"POST /add HTTP/1.1\r\nContent-Length: 5\r\n\r\nhello";
	const size_t n = sizeof s - 1;
	ft_http h;
	size_t c;

	ft_http_init(&h, NULL);
	for (size_t i = 0; i < n; i++) {
		int ev = ft_http_feed(&h, (const uint8_t *)s + i, 1, &c);

		ck_assert_uint_eq(c, 1);
		if (i + 1 < n) {
			ck_assert_int_eq(ev, FT_HTTP_NEED_MORE);
			ck_assert(ft_http_in_progress(&h));
		} else {
			ck_assert_int_eq(ev, FT_HTTP_REQUEST);
		}
	}
	ck_assert_uint_eq(h.req.body_len, 5);
	ck_assert_mem_eq(h.req.body, "hello", 5);
	ft_http_free(&h);
}
END_TEST

START_TEST(test_big_body)
{
	static char s[65535 + 128];
	static run a, b;
	int n = snprintf(s, sizeof s,
			 "POST /add HTTP/1.1\r\nContent-Length: 65535\r\n\r\n");
	size_t len;

	ck_assert_int_gt(n, 0);
	len = (size_t)n + 65535;
	ck_assert_uint_le(len, sizeof s);
	for (size_t i = (size_t)n; i < len; i++) {
		s[i] = (char)(i * 7);
	}
	run_step(NULL, s, len, 0, 1, &a);
	ck_assert_uint_eq(a.n, 1);
	ck_assert_int_eq(a.r[0].ev, FT_HTTP_REQUEST);
	ck_assert_uint_eq(a.r[0].body_len, 65535);
	ck_assert_uint_eq(a.r[0].body_sum,
			  sum_bytes((const uint8_t *)s + n, 65535));
	for (size_t step = 1; step < 5000; step = step * 3 + 1) {
		run_step(NULL, s, len, step, 1, &b);
		run_same(&a, &b, "step", step);
	}
}
END_TEST

/* Three requests back to back: query, body, and a HEAD that closes. */
static const char pipe3[] =
	"GET /proof/consistency?old=1&new=2 HTTP/1.1\r\nHost: a\r\n\r\n"
	"POST /add HTTP/1.1\r\nContent-Length: 4\r\n\r\nbody"
	"HEAD /checkpoint HTTP/1.1\r\nConnection: close\r\n\r\n";

static void check_pipe3(const run *r)
{
	ck_assert_uint_eq(r->n, 3);
	ck_assert_int_eq(r->r[0].ev, FT_HTTP_REQUEST);
	ck_assert_int_eq(r->r[0].method, FT_HTTP_GET);
	ck_assert_str_eq(r->r[0].path, "/proof/consistency");
	ck_assert_str_eq(r->r[0].query, "old=1&new=2");
	ck_assert_int_eq(r->r[0].keep_alive, 1);
	ck_assert_int_eq(r->r[1].ev, FT_HTTP_REQUEST);
	ck_assert_int_eq(r->r[1].method, FT_HTTP_POST);
	ck_assert_str_eq(r->r[1].path, "/add");
	ck_assert_uint_eq(r->r[1].body_len, 4);
	ck_assert_mem_eq(r->r[1].body, "body", 4);
	ck_assert_int_eq(r->r[2].ev, FT_HTTP_REQUEST);
	ck_assert_int_eq(r->r[2].method, FT_HTTP_HEAD);
	ck_assert_str_eq(r->r[2].path, "/checkpoint");
	ck_assert_int_eq(r->r[2].keep_alive, 0);
	ck_assert_int_eq(r->eof_ev, FT_HTTP_NEED_MORE);
}

START_TEST(test_pipelined_one_feed)
{
	const size_t len = sizeof pipe3 - 1;
	size_t ends[3], off = 0, k = 0;
	ft_http h;

	/* The byte offsets where each request ends. */
	const char *e1 = strstr(pipe3, "POST");
	const char *e2 = strstr(pipe3, "HEAD");
	ends[0] = (size_t)(e1 - pipe3);
	ends[1] = (size_t)(e2 - pipe3);
	ends[2] = len;

	ft_http_init(&h, NULL);
	while (off < len) {
		size_t c = 0;
		int ev = ft_http_feed(&h, (const uint8_t *)pipe3 + off,
				      len - off, &c);

		ck_assert_int_eq(ev, FT_HTTP_REQUEST);
		off += c;
		ck_assert_uint_lt(k, 3);
		ck_assert_uint_eq(off, ends[k]);
		k++;
		ft_http_next(&h);
	}
	ck_assert_uint_eq(k, 3);
	ft_http_free(&h);
}
END_TEST

START_TEST(test_pipelined_every_split)
{
	const size_t len = sizeof pipe3 - 1;
	static run whole, other;

	run_all_ways(NULL, pipe3, len, 1, &whole);
	check_pipe3(&whole);

	/* Two cuts at every pair of positions. */
	for (size_t i = 0; i <= len; i++) {
		for (size_t j = i; j <= len; j++) {
			size_t cuts[2] = { i, j };

			run_cuts(NULL, pipe3, len, cuts, 2, 1, &other);
			run_same(&whole, &other, "cuts from", i * 1000 + j);
		}
	}
	for (size_t step = 2; step < len; step++) {
		run_step(NULL, pipe3, len, step, 1, &other);
		run_same(&whole, &other, "step", step);
	}
}
END_TEST

START_TEST(test_pipelined_then_error)
{
	static const char s[] = "GET /a HTTP/1.1\r\n\r\n"
				"GET /b HTTP/1.1\r\n\r\n"
				"GET http://x/ HTTP/1.1\r\n\r\n"
				"GET /c HTTP/1.1\r\n\r\n";
	static run r;

	run_all_ways(NULL, s, sizeof s - 1, 1, &r);
	ck_assert_uint_eq(r.n, 3);
	ck_assert_str_eq(r.r[0].path, "/a");
	ck_assert_str_eq(r.r[1].path, "/b");
	ck_assert_int_eq(r.r[2].ev, FT_HTTP_ERROR);
	ck_assert_int_eq(r.r[2].status, 400);
}
END_TEST

START_TEST(test_stray_crlf)
{
	/* Old clients send a CRLF after a POST body; it is skipped. */
	static const char s[] = "\r\nPOST /add HTTP/1.1\r\nContent-Length: 1"
				"\r\n\r\nx\r\nGET /b HTTP/1.1\r\n\r\n\r\n";
	static run r;

	run_all_ways(NULL, s, sizeof s - 1, 1, &r);
	ck_assert_uint_eq(r.n, 2);
	ck_assert_uint_eq(r.r[0].body_len, 1);
	ck_assert_str_eq(r.r[1].path, "/b");
	/* Stray CRLFs alone are not a request in progress. */
	ck_assert_int_eq(r.eof_ev, FT_HTTP_NEED_MORE);
}
END_TEST

START_TEST(test_lf_only)
{
	/* http-parser accepts bare LF line ends; the head pause must count
	 * them the same way. */
	const rec *r = one_request("GET /x?y HTTP/1.1\nHost: a\n\n");

	ck_assert_str_eq(r->path, "/x");
	ck_assert_str_eq(r->query, "y");
}
END_TEST

/* ---- Limits. */

/* A GET whose head (request line + headers) is exactly `total` bytes. */
static char *head_of_size(size_t total, size_t *len)
{
	static const char pre[] = "GET / HTTP/1.1\r\nX-Pad: ";
	static const char post[] = "\r\n\r\n";
	size_t fixed = sizeof pre - 1 + sizeof post - 1;
	char *s;

	ck_assert_uint_gt(total, fixed);
	s = malloc(total + 1);
	ck_assert_ptr_nonnull(s);
	memcpy(s, pre, sizeof pre - 1);
	memset(s + sizeof pre - 1, 'a', total - fixed);
	memcpy(s + total - (sizeof post - 1), post, sizeof post);
	*len = total;
	return s;
}

START_TEST(test_limit_header_bytes)
{
	static run r, o;
	ft_http_limits lim;
	size_t len;
	char *s;

	/* Default limit: exactly 8192 passes, 8193 is a 431. */
	s = head_of_size(8192, &len);
	run_step(NULL, s, len, 0, 1, &r);
	ck_assert_uint_eq(r.n, 1);
	ck_assert_int_eq(r.r[0].ev, FT_HTTP_REQUEST);
	for (size_t step = 1; step < len; step = step * 2 + 1) {
		run_step(NULL, s, len, step, 1, &o);
		run_same(&r, &o, "step", step);
	}
	free(s);

	s = head_of_size(8193, &len);
	run_step(NULL, s, len, 0, 1, &r);
	ck_assert_uint_eq(r.n, 1);
	ck_assert_int_eq(r.r[0].ev, FT_HTTP_ERROR);
	ck_assert_int_eq(r.r[0].status, 431);
	ck_assert_str_eq(r.r[0].reason, "request header fields too large");
	for (size_t step = 1; step < len; step = step * 2 + 1) {
		run_step(NULL, s, len, step, 1, &o);
		run_same(&r, &o, "step", step);
	}
	free(s);

	/* A small limit, checked at every split: at and one over. */
	ft_http_limits_default(&lim);
	lim.max_header_bytes = 64;
	s = head_of_size(64, &len);
	run_all_ways(&lim, s, len, 1, &r);
	ck_assert_uint_eq(r.n, 1);
	ck_assert_int_eq(r.r[0].ev, FT_HTTP_REQUEST);
	free(s);
	s = head_of_size(65, &len);
	run_all_ways(&lim, s, len, 1, &r);
	ck_assert_uint_eq(r.n, 1);
	ck_assert_int_eq(r.r[0].status, 431);
	free(s);

	/* A head that never ends is refused at limit + 1 bytes, without
	 * reading the rest. */
	s = malloc(20000);
	ck_assert_ptr_nonnull(s);
	memcpy(s, "GET / HTTP/1.1\r\nX: ", 19);
	memset(s + 19, 'b', 20000 - 19);
	{
		ft_http h;
		size_t c = 0;

		ft_http_init(&h, NULL);
		ck_assert_int_eq(ft_http_feed(&h, (const uint8_t *)s, 20000,
					      &c),
				 FT_HTTP_ERROR);
		ck_assert_int_eq(h.err_status, 431);
		ck_assert_uint_eq(c, 8193);
		ft_http_free(&h);
	}
	free(s);

	/* The same counting on a second request of a connection. */
	s = head_of_size(64, &len);
	{
		char *two = malloc(2 * len);

		ck_assert_ptr_nonnull(two);
		memcpy(two, s, len);
		memcpy(two + len, s, len);
		run_all_ways(&lim, two, 2 * len, 1, &r);
		ck_assert_uint_eq(r.n, 2);
		ck_assert_int_eq(r.r[1].ev, FT_HTTP_REQUEST);
		free(two);
	}
	free(s);
}
END_TEST

/* A GET with n headers "H<i>: v". */
static char *with_headers(unsigned n, size_t *len)
{
	size_t cap = 64 + (size_t)n * 16, off = 0;
	char *s = malloc(cap);
	int w;

	ck_assert_ptr_nonnull(s);
	w = snprintf(s, cap, "GET / HTTP/1.1\r\n");
	ck_assert_int_gt(w, 0);
	off = (size_t)w;
	for (unsigned i = 0; i < n; i++) {
		w = snprintf(s + off, cap - off, "H%u: v\r\n", i);
		ck_assert(w > 0 && (size_t)w < cap - off);
		off += (size_t)w;
	}
	w = snprintf(s + off, cap - off, "\r\n");
	ck_assert(w > 0 && (size_t)w < cap - off);
	*len = off + (size_t)w;
	return s;
}

START_TEST(test_limit_headers)
{
	static run r;
	size_t len;
	char *s;

	s = with_headers(64, &len);
	run_all_ways(NULL, s, len, 1, &r);
	ck_assert_uint_eq(r.n, 1);
	ck_assert_int_eq(r.r[0].ev, FT_HTTP_REQUEST);
	free(s);

	s = with_headers(65, &len);
	ck_assert_int_eq(status_of(NULL, s, len), 431);
	run_step(NULL, s, len, 0, 1, &r);
	ck_assert_str_eq(r.r[0].reason, "too many header fields");
	free(s);

	/* max_headers 0: no header at all is allowed. */
	{
		ft_http_limits lim;

		ft_http_limits_default(&lim);
		lim.max_headers = 0;
		s = with_headers(1, &len);
		ck_assert_int_eq(status_of(&lim, s, len), 431);
		free(s);
		s = with_headers(0, &len);
		run_all_ways(&lim, s, len, 1, &r);
		ck_assert_int_eq(r.r[0].ev, FT_HTTP_REQUEST);
		free(s);
	}
}
END_TEST

START_TEST(test_limit_body)
{
	static const char big[] =
		"POST /add HTTP/1.1\r\nContent-Length: 65536\r\n\r\n";
	ft_http h;
	size_t c = 0;

	/* Decided on the head alone: no body byte has been sent. */
	ck_assert_int_eq(STATUS_OF(big), 413);
	ft_http_init(&h, NULL);
	ck_assert_int_eq(ft_http_feed(&h, (const uint8_t *)big,
				      sizeof big - 1, &c),
			 FT_HTTP_ERROR);
	ck_assert_int_eq(h.err_status, 413);
	ck_assert_str_eq(h.err_reason, "request body too large");
	ck_assert_ptr_null(h.body);
	ft_http_free(&h);

	ck_assert_int_eq(STATUS_OF("POST /add HTTP/1.1\r\nContent-Length: "
				   "1844674407370955160\r\n\r\n"),
			 413);
	/* http-parser refuses lengths near 2^64 itself (its overflow guard
	 * stops short of 2^64 - 1, the "no length" sentinel). */
	ck_assert_int_eq(STATUS_OF("POST /add HTTP/1.1\r\nContent-Length: "
				   "18446744073709551615\r\n\r\n"),
			 400);
	ck_assert_int_eq(STATUS_OF("POST /add HTTP/1.1\r\nContent-Length: "
				   "18446744073709551616\r\n\r\n"),
			 400);
	ck_assert_int_eq(STATUS_OF("GET / HTTP/1.1\r\nContent-Length: "
				   "100000\r\n\r\n"),
			 413);

	/* A lower configured limit. */
	{
		static const char s[] =
			"POST /add HTTP/1.1\r\nContent-Length: 11\r\n\r\n"
			"hello world";
		ft_http_limits lim;

		ft_http_limits_default(&lim);
		lim.max_body_bytes = 10;
		ck_assert_int_eq(status_of(&lim, s, sizeof s - 1), 413);
		lim.max_body_bytes = 11;
		static run r;
		run_all_ways(&lim, s, sizeof s - 1, 1, &r);
		ck_assert_int_eq(r.r[0].ev, FT_HTTP_REQUEST);
		ck_assert_uint_eq(r.r[0].body_len, 11);
	}
}
END_TEST

START_TEST(test_length_required)
{
	ck_assert_int_eq(STATUS_OF("POST /add HTTP/1.1\r\n\r\n"), 411);
	ck_assert_int_eq(STATUS_OF("PUT /add HTTP/1.1\r\nHost: a\r\n\r\n"),
			 411);
	ck_assert_int_eq(STATUS_OF("POST /add HTTP/1.0\r\n\r\nbody"), 411);
}
END_TEST

START_TEST(test_transfer_encoding)
{
	ck_assert_int_eq(STATUS_OF("POST /add HTTP/1.1\r\nTransfer-Encoding: "
				   "chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n"),
			 501);
	ck_assert_int_eq(STATUS_OF("POST /add HTTP/1.1\r\ntransfer-encoding: "
				   "gzip, chunked\r\n\r\n"),
			 501);
	ck_assert_int_eq(STATUS_OF("GET / HTTP/1.1\r\nTRANSFER-ENCODING: "
				   "identity\r\n\r\n"),
			 501);
	ck_assert_int_eq(STATUS_OF("POST / HTTP/1.1\r\nTransfer-Encoding:"
				   "\r\n\r\n"),
			 501);
	/* Both framings at once is a smuggling attempt: 400. */
	ck_assert_int_eq(STATUS_OF("POST /add HTTP/1.1\r\nContent-Length: 5"
				   "\r\nTransfer-Encoding: chunked\r\n\r\n"),
			 400);
}
END_TEST

START_TEST(test_version)
{
	const rec *r;

	ck_assert_int_eq(STATUS_OF("GET / HTTP/2.0\r\n\r\n"), 505);
	ck_assert_int_eq(STATUS_OF("GET / HTTP/1.2\r\n\r\n"), 505);
	ck_assert_int_eq(STATUS_OF("GET / HTTP/0.9\r\n\r\n"), 505);
	ck_assert_int_eq(STATUS_OF("GET / HTTP/3.1\r\n\r\n"), 505);
	/* An HTTP/0.9 request line (no version) parses as 0.9. */
	ck_assert_int_eq(STATUS_OF("GET /\r\n\r\n"), 505);
	/* Not a version at all. */
	ck_assert_int_eq(STATUS_OF("GET / HTTP/x.1\r\n\r\n"), 400);
	ck_assert_int_eq(STATUS_OF("GET / FTP/1.1\r\n\r\n"), 400);

	r = one_request("GET / HTTP/1.0\r\n\r\n");
	ck_assert_uint_eq(r->minor, 0);
}
END_TEST

START_TEST(test_garbage)
{
	static const char nul[] = "\0\0\0\0GET / HTTP/1.1\r\n\r\n";
	ck_assert_int_eq(STATUS_OF("hello world\r\n\r\n"), 400);
	ck_assert_int_eq(STATUS_OF("\x16\x03\x01\x02\x00\x01\x00\x01\xfc"), 400);
	ck_assert_int_eq(status_of(NULL, nul, sizeof nul - 1), 400);
	ck_assert_int_eq(STATUS_OF("BREW /pot HTTP/1.1\r\n\r\n"), 400);
	ck_assert_int_eq(STATUS_OF("GET / HTTP/1.1\r\nNo colon here\r\n\r\n"),
			 400);
	ck_assert_int_eq(STATUS_OF("GET / HTTP/1.1\r\nHost: a\x01\r\n\r\n"),
			 400);
	ck_assert_int_eq(STATUS_OF("GET / HTTP/1.1\rX\n\r\n"), 400);
	/* The reason is the parser's own one-line description. */
	{
		static run r;

		run_step(NULL, "hello world\r\n\r\n", 15, 0, 1, &r);
		ck_assert_str_eq(r.r[0].reason,
				 http_errno_description(HPE_INVALID_METHOD));
	}
}
END_TEST

START_TEST(test_bad_targets)
{
	static char url[2048 + 64];
	static char req[4096];
	const rec *r;
	int n;

	/* Absolute-form, authority-form, asterisk-form. */
	ck_assert_int_eq(STATUS_OF("GET http://example.com/ HTTP/1.1\r\n\r\n"),
			 400);
	ck_assert_int_eq(STATUS_OF("CONNECT example.com:443 HTTP/1.1\r\n\r\n"),
			 400);
	ck_assert_int_eq(STATUS_OF("OPTIONS * HTTP/1.1\r\n\r\n"), 400);
	/* No leading slash. */
	ck_assert_int_eq(STATUS_OF("GET foo HTTP/1.1\r\n\r\n"), 400);
	ck_assert_int_eq(STATUS_OF("GET ?a=b HTTP/1.1\r\n\r\n"), 400);
	/* A fragment. */
	ck_assert_int_eq(STATUS_OF("GET /a#frag HTTP/1.1\r\n\r\n"), 400);
	ck_assert_int_eq(STATUS_OF("GET /a?q#frag HTTP/1.1\r\n\r\n"), 400);
	/* Control bytes, including the ones http-parser lets through. */
	ck_assert_int_eq(STATUS_OF("GET /a\tb HTTP/1.1\r\n\r\n"), 400);
	ck_assert_int_eq(STATUS_OF("GET /a\fb HTTP/1.1\r\n\r\n"), 400);
	ck_assert_int_eq(STATUS_OF("GET /a\x01 HTTP/1.1\r\n\r\n"), 400);
	ck_assert_int_eq(STATUS_OF("GET /a\x7f HTTP/1.1\r\n\r\n"), 400);
	ck_assert_int_eq(STATUS_OF("GET /\xc3\xa9 HTTP/1.1\r\n\r\n"), 400);
	{
		static const char s[] = "GET /a\0b HTTP/1.1\r\n\r\n";

		ck_assert_int_eq(status_of(NULL, s, sizeof s - 1), 400);
	}

	/* Length: 2048 passes, 2049 is a 414. */
	url[0] = '/';
	memset(url + 1, 'u', 2047);
	url[2048] = '\0';
	n = snprintf(req, sizeof req, "GET %s HTTP/1.1\r\n\r\n", url);
	ck_assert(n > 0 && (size_t)n < sizeof req);
	r = one_request(req);
	ck_assert_uint_eq(r->path_len, 2048);
	url[2048] = 'u';
	url[2049] = '\0';
	n = snprintf(req, sizeof req, "GET %s HTTP/1.1\r\n\r\n", url);
	ck_assert(n > 0 && (size_t)n < sizeof req);
	ck_assert_int_eq(status_of(NULL, req, (size_t)n), 414);
}
END_TEST

START_TEST(test_content_length_values)
{
	ck_assert_int_eq(STATUS_OF("POST /add HTTP/1.1\r\nContent-Length: 1\r\n"
				   "Content-Length: 1\r\n\r\nx"),
			 400);
	ck_assert_int_eq(STATUS_OF("POST /add HTTP/1.1\r\nContent-Length: 1\r\n"
				   "content-length: 2\r\n\r\nxy"),
			 400);
	ck_assert_int_eq(STATUS_OF("POST /add HTTP/1.1\r\nContent-Length:"
				   "\r\n\r\n"),
			 400);
	ck_assert_int_eq(STATUS_OF("POST /add HTTP/1.1\r\nContent-Length: "
				   "+1\r\n\r\nx"),
			 400);
	ck_assert_int_eq(STATUS_OF("POST /add HTTP/1.1\r\nContent-Length: "
				   "1,1\r\n\r\nx"),
			 400);
	ck_assert_int_eq(STATUS_OF("POST /add HTTP/1.1\r\nContent-Length: "
				   "0x1\r\n\r\nx"),
			 400);
}
END_TEST

START_TEST(test_eof)
{
	static run r;
	ft_http h;
	size_t c = 1;

	/* Idle: nothing received. */
	ft_http_init(&h, NULL);
	ck_assert_int_eq(ft_http_feed(&h, NULL, 0, &c), FT_HTTP_NEED_MORE);
	ck_assert_uint_eq(c, 0);
	ft_http_free(&h);

	/* Mid-head and mid-body. */
	run_step(NULL, "G", 1, 0, 1, &r);
	ck_assert_uint_eq(r.n, 1);
	ck_assert_int_eq(r.eof_ev, FT_HTTP_ERROR);
	ck_assert_int_eq(r.r[0].status, 400);
	ck_assert_str_eq(r.r[0].reason, "connection closed mid-request");
	ck_assert_int_eq(STATUS_OF("GET / HTTP/1.1\r\nHost: a\r\n"), 400);
	ck_assert_int_eq(STATUS_OF("POST / HTTP/1.1\r\nContent-Length: 5\r\n"
				   "\r\nhell"),
			 400);
	ck_assert_int_eq(STATUS_OF("POST / HTTP/1.1\r\nContent-Length: 5\r\n"
				   "\r\n"),
			 400);
	/* After a whole request, and before any byte of the next one. */
	run_step(NULL, "GET / HTTP/1.1\r\n\r\n", 18, 0, 1, &r);
	ck_assert_uint_eq(r.n, 1);
	ck_assert_int_eq(r.eof_ev, FT_HTTP_NEED_MORE);
	run_step(NULL, "GET / HTTP/1.1\r\n\r\nG", 19, 0, 1, &r);
	ck_assert_uint_eq(r.n, 2);
	ck_assert_int_eq(r.eof_ev, FT_HTTP_ERROR);

	/* Errors are sticky; ft_http_next does not clear them. */
	ft_http_init(&h, NULL);
	ck_assert_int_eq(ft_http_feed(&h, (const uint8_t *)"G", 1, &c),
			 FT_HTTP_NEED_MORE);
	ck_assert(ft_http_in_progress(&h));
	ck_assert_int_eq(ft_http_feed(&h, NULL, 0, &c), FT_HTTP_ERROR);
	ft_http_next(&h);
	ck_assert_int_eq(ft_http_feed(&h, (const uint8_t *)"GET", 3, &c),
			 FT_HTTP_ERROR);
	ck_assert_uint_eq(c, 0);
	ck_assert_int_eq(h.err_status, 400);
	ft_http_free(&h);
}
END_TEST

START_TEST(test_keep_alive)
{
	const rec *r;

	r = one_request("GET / HTTP/1.1\r\n\r\n");
	ck_assert_int_eq(r->keep_alive, 1);
	ck_assert_uint_eq(r->minor, 1);
	r = one_request("GET / HTTP/1.1\r\nConnection: close\r\n\r\n");
	ck_assert_int_eq(r->keep_alive, 0);
	r = one_request("GET / HTTP/1.1\r\nconnection: CLOSE\r\n\r\n");
	ck_assert_int_eq(r->keep_alive, 0);
	r = one_request("GET / HTTP/1.1\r\nConnection: keep-alive\r\n\r\n");
	ck_assert_int_eq(r->keep_alive, 1);
	r = one_request("GET / HTTP/1.0\r\n\r\n");
	ck_assert_int_eq(r->keep_alive, 0);
	ck_assert_uint_eq(r->minor, 0);
	r = one_request("GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n");
	ck_assert_int_eq(r->keep_alive, 1);
	r = one_request("GET / HTTP/1.0\r\nConnection: close\r\n\r\n");
	ck_assert_int_eq(r->keep_alive, 0);
	/* Per request on one connection. */
	{
		static const char s[] =
			"GET /a HTTP/1.1\r\n\r\n"
			"GET /b HTTP/1.0\r\n\r\n"
			"GET /c HTTP/1.1\r\nConnection: close\r\n\r\n";
		static run rr;

		run_all_ways(NULL, s, sizeof s - 1, 1, &rr);
		ck_assert_uint_eq(rr.n, 3);
		ck_assert_int_eq(rr.r[0].keep_alive, 1);
		ck_assert_int_eq(rr.r[1].keep_alive, 0);
		ck_assert_int_eq(rr.r[2].keep_alive, 0);
	}
}
END_TEST

START_TEST(test_buffers_reused)
{
	/* A big body, then a small request: the body buffer is released
	 * so an idle keep-alive connection holds little. */
	static char s[9000];
	ft_http h;
	size_t c = 0;
	int n = snprintf(s, sizeof s,
			 "POST /add HTTP/1.1\r\nContent-Length: 8000\r\n\r\n");

	ck_assert_int_gt(n, 0);
	memset(s + n, 'z', 8000);
	ft_http_init(&h, NULL);
	ck_assert_int_eq(ft_http_feed(&h, (const uint8_t *)s,
				      (size_t)n + 8000, &c),
			 FT_HTTP_REQUEST);
	ck_assert_uint_eq(h.req.body_len, 8000);
	ck_assert_uint_le(h.body_cap, 8000);
	ft_http_next(&h);
	ck_assert_ptr_null(h.body);
	ck_assert_int_eq(ft_http_feed(&h, (const uint8_t *)"GET / HTTP/1.1"
				      "\r\n\r\n", 18, &c),
			 FT_HTTP_REQUEST);
	ck_assert_uint_eq(h.req.body_len, 0);
	ck_assert_ptr_nonnull(h.req.body);
	ck_assert_uint_le(h.url_cap, 2049);
	ft_http_free(&h);
}
END_TEST

/* ---- Responses. */

START_TEST(test_status_text)
{
	static const struct {
		int code;
		const char *text;
	} t[] = {
		{ 200, "OK" },
		{ 201, "Created" },
		{ 204, "No Content" },
		{ 301, "Moved Permanently" },
		{ 304, "Not Modified" },
		{ 400, "Bad Request" },
		{ 403, "Forbidden" },
		{ 404, "Not Found" },
		{ 405, "Method Not Allowed" },
		{ 408, "Request Timeout" },
		{ 409, "Conflict" },
		{ 410, "Gone" },
		{ 411, "Length Required" },
		{ 413, "Payload Too Large" },
		{ 414, "URI Too Long" },
		{ 415, "Unsupported Media Type" },
		{ 422, "Unprocessable Entity" },
		{ 429, "Too Many Requests" },
		{ 431, "Request Header Fields Too Large" },
		{ 500, "Internal Server Error" },
		{ 501, "Not Implemented" },
		{ 503, "Service Unavailable" },
		{ 505, "HTTP Version Not Supported" },
		{ 0, "Unknown" },
		{ 299, "Unknown" },
		{ 999, "Unknown" },
		{ -1, "Unknown" },
	};

	for (size_t i = 0; i < sizeof t / sizeof t[0]; i++) {
		ck_assert_str_eq(ft_http_status_text(t[i].code), t[i].text);
	}
}
END_TEST

/* Split buf at CRLFs into lines[]; returns the count (the blank line
 * included). Every line must end in CRLF. */
static size_t split_lines(char *buf, size_t len, char **lines, size_t max)
{
	size_t n = 0, start = 0;

	for (size_t i = 0; i < len; i++) {
		if (buf[i] == '\r') {
			ck_assert_uint_lt(i + 1, len);
			ck_assert_int_eq(buf[i + 1], '\n');
			ck_assert_uint_lt(n, max);
			buf[i] = '\0';
			lines[n++] = buf + start;
			start = i + 2;
			i++;
		} else {
			ck_assert_int_ne(buf[i], '\n');
		}
	}
	ck_assert_uint_eq(start, len);
	return n;
}

/* The Date line is one of the IMF-fixdates between t0 and t1. */
static void check_date(const char *line, time_t t0, time_t t1)
{
	ck_assert_uint_eq(strlen(line), strlen("Date: ") + 29);
	for (time_t t = t0; t <= t1; t++) {
		struct tm tm;
		char want[64];

		ck_assert_ptr_nonnull(gmtime_r(&t, &tm));
		ck_assert_uint_gt(strftime(want, sizeof want,
					   "Date: %a, %d %b %Y %H:%M:%S GMT",
					   &tm),
				  0);
		if (strcmp(line, want) == 0) {
			return;
		}
	}
	ck_abort_msg("bad Date line: %s", line);
}

typedef struct parsed_head {
	unsigned status;
	char names[16][64];
	char values[16][128];
	size_t n;
	int complete;
	int keep_alive;
	uint64_t content_length;
} parsed_head;

static int ph_field(http_parser *p, const char *at, size_t len)
{
	parsed_head *ph = p->data;

	ck_assert_uint_lt(ph->n, 16);
	ck_assert_uint_lt(len, 64);
	memcpy(ph->names[ph->n], at, len);
	ph->names[ph->n][len] = '\0';
	return 0;
}

static int ph_value(http_parser *p, const char *at, size_t len)
{
	parsed_head *ph = p->data;

	ck_assert_uint_lt(len, 128);
	memcpy(ph->values[ph->n], at, len);
	ph->values[ph->n][len] = '\0';
	ph->n++;
	return 0;
}

static int ph_headers_complete(http_parser *p)
{
	parsed_head *ph = p->data;

	ph->status = p->status_code;
	ph->keep_alive = http_should_keep_alive(p);
	ph->content_length = p->content_length;
	return 0;
}

static int ph_complete(http_parser *p)
{
	parsed_head *ph = p->data;

	ph->complete = 1;
	return 0;
}

/* Parse a response head (fed whole, so no callback splits). */
static void parse_head(const char *buf, size_t len, parsed_head *ph)
{
	http_parser_settings st;
	http_parser p;
	size_t n;

	memset(&st, 0, sizeof st);
	memset(ph, 0, sizeof *ph);
	st.on_header_field = ph_field;
	st.on_header_value = ph_value;
	st.on_headers_complete = ph_headers_complete;
	st.on_message_complete = ph_complete;
	http_parser_init(&p, HTTP_RESPONSE);
	p.data = ph;
	n = http_parser_execute(&p, &st, buf, len);
	ck_assert_uint_eq(n, len);
	ck_assert_int_eq(HTTP_PARSER_ERRNO(&p), HPE_OK);
}

START_TEST(test_format_head_full)
{
	char buf[1024], want[1024];
	char *lines[16];
	parsed_head ph;
	time_t t0 = time(NULL);
	size_t len = ft_http_format_head(buf, sizeof buf, 200,
					 "text/plain; charset=utf-8", 1234, 1,
					 "public, max-age=10",
					 "Retry-After: 1");
	time_t t1 = time(NULL);
	size_t n;
	int w;

	ck_assert_uint_gt(len, 0);
	ck_assert_uint_eq(strlen(buf), len);
	parse_head(buf, len, &ph);
	ck_assert_uint_eq(ph.status, 200);
	ck_assert_int_eq(ph.keep_alive, 1);
	ck_assert_uint_eq(ph.content_length, 1234);
	ck_assert_uint_eq(ph.n, 8);
	ck_assert_str_eq(ph.names[0], "Date");
	ck_assert_str_eq(ph.names[1], "Server");
	ck_assert_str_eq(ph.values[1], "ftlogd");
	ck_assert_str_eq(ph.names[2], "Content-Type");
	ck_assert_str_eq(ph.values[2], "text/plain; charset=utf-8");
	ck_assert_str_eq(ph.names[3], "Content-Length");
	ck_assert_str_eq(ph.values[3], "1234");
	ck_assert_str_eq(ph.names[4], "Connection");
	ck_assert_str_eq(ph.values[4], "keep-alive");
	ck_assert_str_eq(ph.names[5], "Cache-Control");
	ck_assert_str_eq(ph.values[5], "public, max-age=10");
	ck_assert_str_eq(ph.names[6], "Retry-After");
	ck_assert_str_eq(ph.values[6], "1");
	ck_assert_str_eq(ph.names[7], "X-Content-Type-Options");
	ck_assert_str_eq(ph.values[7], "nosniff");

	/* The exact bytes, line by line. */
	memcpy(want, buf, len + 1);
	n = split_lines(want, len, lines, 16);
	ck_assert_uint_eq(n, 10);
	check_date(lines[1], t0, t1);
	w = snprintf(want, sizeof want,
		     "HTTP/1.1 200 OK\r\n"
		     "%s\r\n"
		     "Server: ftlogd\r\n"
		     "Content-Type: text/plain; charset=utf-8\r\n"
		     "Content-Length: 1234\r\n"
		     "Connection: keep-alive\r\n"
		     "Cache-Control: public, max-age=10\r\n"
		     "Retry-After: 1\r\n"
		     "X-Content-Type-Options: nosniff\r\n"
		     "\r\n",
		     lines[1]);
	ck_assert(w > 0 && (size_t)w < sizeof want);
	ck_assert_uint_eq((size_t)w, len);
	ck_assert_str_eq(buf, want);

	/* It fits only with room for the NUL; nothing less will do. */
	for (size_t cap = 0; cap <= len; cap++) {
		char small[1024];

		ck_assert_uint_eq(ft_http_format_head(small, cap, 200,
						      "text/plain; charset=utf-8",
						      1234, 1,
						      "public, max-age=10",
						      "Retry-After: 1"),
				  0);
	}
	ck_assert_uint_eq(ft_http_format_head(buf, len + 1, 200,
					      "text/plain; charset=utf-8",
					      1234, 1, "public, max-age=10",
					      "Retry-After: 1"),
			  len);
}
END_TEST

START_TEST(test_format_head_minimal)
{
	char buf[512], want[512];
	char *lines[16];
	parsed_head ph;
	time_t t0 = time(NULL);
	size_t len = ft_http_format_head(buf, sizeof buf, 404, NULL, 0, 0,
					 NULL, NULL);
	time_t t1 = time(NULL);
	size_t n;
	int w;

	ck_assert_uint_gt(len, 0);
	parse_head(buf, len, &ph);
	ck_assert_uint_eq(ph.status, 404);
	ck_assert_int_eq(ph.keep_alive, 0);
	ck_assert_int_eq(ph.complete, 1); /* Content-Length: 0 */
	ck_assert_uint_eq(ph.n, 5);

	memcpy(want, buf, len + 1);
	n = split_lines(want, len, lines, 16);
	ck_assert_uint_eq(n, 7);
	check_date(lines[1], t0, t1);
	w = snprintf(want, sizeof want,
		     "HTTP/1.1 404 Not Found\r\n"
		     "%s\r\n"
		     "Server: ftlogd\r\n"
		     "Content-Length: 0\r\n"
		     "Connection: close\r\n"
		     "X-Content-Type-Options: nosniff\r\n"
		     "\r\n",
		     lines[1]);
	ck_assert(w > 0 && (size_t)w < sizeof want);
	ck_assert_str_eq(buf, want);

	/* 204 carries no Content-Length (RFC 7230 3.3.2). */
	len = ft_http_format_head(buf, sizeof buf, 204, NULL, 0, 1, NULL,
				  NULL);
	ck_assert_uint_gt(len, 0);
	ck_assert_ptr_nonnull(strstr(buf, "HTTP/1.1 204 No Content\r\n"));
	ck_assert_ptr_null(strstr(buf, "Content-Length"));
	ck_assert_ptr_nonnull(strstr(buf, "\r\nConnection: keep-alive\r\n"));

	/* An unknown code still formats, with "Unknown". */
	len = ft_http_format_head(buf, sizeof buf, 299, NULL, 0, 1, NULL,
				  NULL);
	ck_assert_uint_gt(len, 0);
	ck_assert_int_eq(strncmp(buf, "HTTP/1.1 299 Unknown\r\n", 22), 0);
}
END_TEST

START_TEST(test_format_head_refuses)
{
	char buf[512];

	/* Header injection through any string argument. */
	ck_assert_uint_eq(ft_http_format_head(buf, sizeof buf, 200,
					      "text/plain\r\nX-Evil: 1", 0,
					      1, NULL, NULL),
			  0);
	ck_assert_uint_eq(ft_http_format_head(buf, sizeof buf, 200, NULL, 0,
					      1, "no-store\n", NULL),
			  0);
	ck_assert_uint_eq(ft_http_format_head(buf, sizeof buf, 200, NULL, 0,
					      1, NULL, "Location: /a\r\n"),
			  0);
	/* Not a status code. */
	ck_assert_uint_eq(ft_http_format_head(buf, sizeof buf, 99, NULL, 0,
					      1, NULL, NULL),
			  0);
	ck_assert_uint_eq(ft_http_format_head(buf, sizeof buf, 1000, NULL, 0,
					      1, NULL, NULL),
			  0);
	ck_assert_uint_eq(ft_http_format_head(NULL, 0, 200, NULL, 0, 1, NULL,
					      NULL),
			  0);
}
END_TEST

static Suite *http_suite(void)
{
	Suite *s = suite_create("http");
	TCase *tc = tcase_create("requests");

	tcase_set_timeout(tc, 120);
	tcase_add_test(tc, test_simple_get);
	tcase_add_test(tc, test_methods);
	tcase_add_test(tc, test_query_split);
	tcase_add_test(tc, test_post_body);
	tcase_add_test(tc, test_body_bytewise);
	tcase_add_test(tc, test_big_body);
	tcase_add_test(tc, test_pipelined_one_feed);
	tcase_add_test(tc, test_pipelined_every_split);
	tcase_add_test(tc, test_pipelined_then_error);
	tcase_add_test(tc, test_stray_crlf);
	tcase_add_test(tc, test_lf_only);
	tcase_add_test(tc, test_eof);
	tcase_add_test(tc, test_keep_alive);
	tcase_add_test(tc, test_buffers_reused);
	suite_add_tcase(s, tc);

	TCase *lim = tcase_create("limits");
	tcase_set_timeout(lim, 120);
	tcase_add_test(lim, test_limit_header_bytes);
	tcase_add_test(lim, test_limit_headers);
	tcase_add_test(lim, test_limit_body);
	tcase_add_test(lim, test_length_required);
	tcase_add_test(lim, test_transfer_encoding);
	tcase_add_test(lim, test_version);
	tcase_add_test(lim, test_garbage);
	tcase_add_test(lim, test_bad_targets);
	tcase_add_test(lim, test_content_length_values);
	suite_add_tcase(s, lim);

	TCase *resp = tcase_create("responses");
	tcase_add_test(resp, test_status_text);
	tcase_add_test(resp, test_format_head_full);
	tcase_add_test(resp, test_format_head_minimal);
	tcase_add_test(resp, test_format_head_refuses);
	suite_add_tcase(s, resp);
	return s;
}

int main(void)
{
	return tu_run_suite(http_suite());
}
