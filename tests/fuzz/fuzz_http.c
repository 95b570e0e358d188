/*
 * tests/fuzz/fuzz_http.c - HTTP/1.1 request streams from the network.
 *
 * Input: byte 0 chooses how the stream is cut and which limits apply; the
 * rest is everything one connection sends, followed by EOF.
 *  - bits 0-5: piece size 1..63 (0: one byte at a time);
 *  - bit 6: small limits (200 header bytes, 4 headers, 32 body bytes), so
 *    short inputs reach every limit;
 *  - bit 7: route every request of the whole-stream run through the real
 *    API (logd/api.c) over a real LMDB store of 300 entries made at start
 *    (no sequencer: POST /add is validated, then answered 503). Checked:
 *    never deferred, a known status, a one-line body for errors, a
 *    Content-Type, a response head that formats, tile bodies of the
 *    right size.
 *
 * The stream is fed whole and in pieces, the way the server does it: on a
 * request, check it, call ft_http_next and feed the rest. Invariants,
 * checked with __builtin_trap():
 *  - consumed <= len; NEED_MORE consumed everything; a request consumed at
 *    least one byte (so the loop always makes progress);
 *  - a request's path starts with '/', has no '?', '#' or byte outside
 *    visible ASCII, is a C string of exactly path_len bytes (so is the
 *    query), and the target fits 2048 bytes; method and method_name agree;
 *    body_len <= max_body_bytes; keep_alive is 0/1, http_minor 0/1; the
 *    adapter's buffers never outgrow the limits;
 *  - an error has one of the documented statuses and a one-line reason,
 *    and is sticky;
 *  - EOF is an error exactly when a request was in progress;
 *  - cutting the stream differently changes nothing: the same requests,
 *    and an error in both runs or in neither. The status may differ only
 *    among 400, 414 and 431: the target length and header count are
 *    checked in data callbacks, which http-parser calls when a piece ends
 *    as well as when a token ends, so with other cuts a syntax error later
 *    in the same token can be seen first (or second). The head-level
 *    decisions (411, 413, 501, 505) come after all of that either way.
 */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include <ftlog/tile.h>

#include "logd/api.h"
#include "logd/http.h"
#include "logd/store.h"

#include "fuzz_common.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define MAX_REQS 256
#define URL_MAX 2048

typedef struct outcome {
	uint64_t req[MAX_REQS]; /* a digest of each request, in order */
	size_t nreq;
	int error;
	int status;
} outcome;

/* FNV-1a: a digest only needs to tell requests apart, not resist anyone. */
static uint64_t mix(uint64_t h, const void *p, size_t n)
{
	const uint8_t *b = p;

	for (size_t i = 0; i < n; i++) {
		h = (h ^ b[i]) * 0x100000001b3ull;
	}
	return h;
}

static uint64_t mix_u64(uint64_t h, uint64_t v)
{
	return mix(h, &v, sizeof v);
}


/* ---- The API over a real store, made once per process. */

static ft_api *g_api;
static ft_store *g_store;
static char g_dir[64];

static int fuzz_sign(void *ctx, uint64_t size, const ft_hash *root,
		     uint8_t *buf, size_t cap, size_t *len)
{
	const ft_skey *key = ctx;
	ft_checkpoint cp;
	uint8_t text[512];
	size_t tlen;
	int err;

	memset(&cp, 0, sizeof cp);
	memcpy(cp.origin, "fuzz.example/log", 16);
	cp.origin_len = 16;
	cp.size = size;
	cp.root = *root;
	err = ft_checkpoint_format(&cp, text, sizeof text, &tlen);
	if (err != 0) {
		return err;
	}
	return ft_note_sign(text, tlen, key, 1, 0, buf, cap, len);
}

static void cleanup_store(void)
{
	char p[128];

	ft_api_free(g_api);
	ft_store_close(g_store);
	(void)snprintf(p, sizeof p, "%s/data.mdb", g_dir);
	(void)unlink(p);
	(void)snprintf(p, sizeof p, "%s/lock.mdb", g_dir);
	(void)unlink(p);
	(void)rmdir(g_dir);
}

static void setup_api(void)
{
	static uint8_t seed[32] = {7};
	static ft_store_item items[300];
	static char entries[300][32];
	ft_skey key;
	ft_api_opts o;
	uint64_t size;

	if (g_api != NULL) {
		return;
	}
	(void)snprintf(g_dir, sizeof g_dir, "/tmp/ftlog-fuzz-http-XXXXXX");
	FUZZ_CHECK(mkdtemp(g_dir) != NULL);
	FUZZ_CHECK(ft_init() == 0);
	FUZZ_CHECK(ft_key_from_seed("fuzz.example/log", 16, FT_KEY_ED25519,
				    seed, &key) == 0);
	FUZZ_CHECK(ft_store_create(g_dir, "fuzz.example/log", 16,
				   64u << 20) == 0);
	FUZZ_CHECK(ft_store_open(g_dir, 64u << 20, &g_store) == 0);
	for (size_t i = 0; i < 300; i++) {
		int n = snprintf(entries[i], sizeof entries[i], "entry %zu", i);

		items[i].data = (const uint8_t *)entries[i];
		items[i].len = (size_t)n;
	}
	FUZZ_CHECK(ft_store_append(g_store, items, 300, fuzz_sign, &key,
				   &size) == 0);
	ft_skey_wipe(&key);
	memset(&o, 0, sizeof o);
	o.store = g_store;
	o.validate = ft_validate_test;
	FUZZ_CHECK(ft_api_new(&o, &g_api) == 0);
	atexit(cleanup_store);
}

static void never_done(void *conn_ctx, ft_resp *resp)
{
	(void)conn_ctx;
	(void)resp;
	FUZZ_CHECK(0);
}

static void route(const ft_http_req *r)
{
	static const int ok_status[] = {200, 400, 404, 405, 413, 500, 503};
	ft_resp resp;
	void *pending = (void *)1;
	char head[1024];
	size_t i;
	int known = 0;

	FUZZ_CHECK(ft_api_handle(g_api, r, &resp, never_done, NULL,
				 &pending) == 0);
	FUZZ_CHECK(pending == NULL);
	for (i = 0; i < sizeof ok_status / sizeof ok_status[0]; i++) {
		known |= resp.status == ok_status[i];
	}
	FUZZ_CHECK(known);
	FUZZ_CHECK(resp.status != 500); /* a healthy store never fails */
	FUZZ_CHECK(resp.content_type != NULL);
	FUZZ_CHECK(resp.body != NULL || resp.body_len == 0);
	if (resp.status != 200) {
		FUZZ_CHECK(resp.body_len > 0 &&
			   resp.body[resp.body_len - 1] == '\n' &&
			   memchr(resp.body, '\n', resp.body_len) ==
				   resp.body + resp.body_len - 1);
	} else if (r->path_len > 6 && memcmp(r->path, "/tile/", 6) == 0) {
		ft_tile t;

		FUZZ_CHECK(ft_tile_parse_path(r->path, r->path_len, &t) == 0);
		if (t.level >= 0) {
			FUZZ_CHECK(resp.body_len == (size_t)t.width * 32);
		} else {
			FUZZ_CHECK(ft_bundle_check(resp.body, resp.body_len,
						   t.width) == 0);
		}
	}
	FUZZ_CHECK(ft_http_format_head(head, sizeof head, resp.status,
				       resp.content_type, resp.body_len, 1,
				       resp.cache_control,
				       resp.extra_header[0] != '\0'
					       ? resp.extra_header
					       : NULL) > 0);
	ft_resp_free(&resp);
}

static bool g_route;

static void check_request(const ft_http *h, outcome *out)
{
	const ft_http_req *r = &h->req;
	uint64_t d = 0xcbf29ce484222325ull;

	FUZZ_CHECK(!ft_http_in_progress(h));
	FUZZ_CHECK(h->err_status == 0);

	FUZZ_CHECK(r->method_name != NULL);
	size_t mlen = strlen(r->method_name);
	FUZZ_CHECK(mlen > 0 && mlen < 24);
	switch (r->method) {
	case FT_HTTP_GET:
		FUZZ_CHECK(strcmp(r->method_name, "GET") == 0);
		break;
	case FT_HTTP_HEAD:
		FUZZ_CHECK(strcmp(r->method_name, "HEAD") == 0);
		break;
	case FT_HTTP_POST:
		FUZZ_CHECK(strcmp(r->method_name, "POST") == 0);
		break;
	case FT_HTTP_OTHER:
		FUZZ_CHECK(strcmp(r->method_name, "GET") != 0 &&
			   strcmp(r->method_name, "HEAD") != 0 &&
			   strcmp(r->method_name, "POST") != 0);
		break;
	default:
		FUZZ_CHECK(0);
		break;
	}

	FUZZ_CHECK(r->path != NULL && r->query != NULL);
	FUZZ_CHECK(r->path_len >= 1 && r->path_len <= URL_MAX);
	FUZZ_CHECK(r->path[0] == '/');
	FUZZ_CHECK(r->path[r->path_len] == '\0');
	FUZZ_CHECK(r->query[r->query_len] == '\0');
	FUZZ_CHECK(r->path_len + 1 + r->query_len <= URL_MAX + 1);
	for (size_t i = 0; i < r->path_len; i++) {
		uint8_t c = (uint8_t)r->path[i];

		FUZZ_CHECK(c > 0x20 && c < 0x7f && c != '?' && c != '#');
	}
	for (size_t i = 0; i < r->query_len; i++) {
		uint8_t c = (uint8_t)r->query[i];

		FUZZ_CHECK(c > 0x20 && c < 0x7f && c != '#');
	}

	FUZZ_CHECK(r->keep_alive == 0 || r->keep_alive == 1);
	FUZZ_CHECK(r->http_minor <= 1);
	FUZZ_CHECK(r->body_len <= h->lim.max_body_bytes);
	FUZZ_CHECK(r->body != NULL || r->body_len == 0);
	FUZZ_CHECK(h->url_cap <= URL_MAX + 1);
	FUZZ_CHECK(h->body_cap <= h->lim.max_body_bytes);

	d = mix_u64(d, (uint64_t)r->method);
	d = mix(d, r->method_name, mlen);
	d = mix_u64(d, r->path_len);
	d = mix(d, r->path, r->path_len);
	d = mix_u64(d, r->query_len);
	d = mix(d, r->query, r->query_len);
	d = mix_u64(d, (uint64_t)r->keep_alive);
	d = mix_u64(d, r->http_minor);
	d = mix_u64(d, r->body_len);
	d = mix(d, r->body, r->body_len);
	if (g_route) {
		route(r);
	}
	if (out->nreq < MAX_REQS) {
		out->req[out->nreq] = d;
	}
	out->nreq++;
}

static void check_error(ft_http *h, outcome *out)
{
	size_t c = 1;

	switch (h->err_status) {
	case 400:
	case 411:
	case 413:
	case 414:
	case 431:
	case 501:
	case 505:
		break;
	default:
		/* 500 is out of memory only, which the fuzzer cannot cause. */
		FUZZ_CHECK(0);
		break;
	}
	FUZZ_CHECK(h->err_reason != NULL && h->err_reason[0] != '\0');
	FUZZ_CHECK(strchr(h->err_reason, '\n') == NULL);
	FUZZ_CHECK(!ft_http_in_progress(h));
	/* Sticky, even across ft_http_next. */
	ft_http_next(h);
	FUZZ_CHECK(ft_http_feed(h, (const uint8_t *)"GET", 3, &c) ==
		   FT_HTTP_ERROR);
	FUZZ_CHECK(c == 0);
	out->error = 1;
	out->status = h->err_status;
}

/*
 * Feed one piece; false once the connection is in error. Each round of the
 * loop consumes at least one byte or ends it, so it terminates.
 */
static bool feed_piece(ft_http *h, const uint8_t *p, size_t len, outcome *out)
{
	size_t off = 0;

	while (off < len) {
		size_t c = (size_t)-1;
		int ev = ft_http_feed(h, p + off, len - off, &c);

		FUZZ_CHECK(c <= len - off);
		off += c;
		switch (ev) {
		case FT_HTTP_NEED_MORE:
			FUZZ_CHECK(off == len);
			FUZZ_CHECK(h->err_status == 0);
			break;
		case FT_HTTP_REQUEST:
			FUZZ_CHECK(c > 0);
			check_request(h, out);
			ft_http_next(h);
			FUZZ_CHECK(!ft_http_in_progress(h));
			break;
		case FT_HTTP_ERROR:
			check_error(h, out);
			return false;
		default:
			FUZZ_CHECK(0);
			break;
		}
	}
	return true;
}

/* The whole stream in pieces of `step` bytes (0: all at once), then EOF. */
static void run(const ft_http_limits *lim, const uint8_t *data, size_t size,
		size_t step, outcome *out)
{
	ft_http h;
	size_t off = 0;

	memset(out, 0, sizeof *out);
	ft_http_init(&h, lim);
	while (off < size) {
		size_t n = size - off;

		if (step > 0 && n > step) {
			n = step;
		}
		if (!feed_piece(&h, data + off, n, out)) {
			ft_http_free(&h);
			return;
		}
		off += n;
	}

	int busy = ft_http_in_progress(&h);
	size_t c = 1;
	int ev = ft_http_feed(&h, NULL, 0, &c);
	FUZZ_CHECK(c == 0);
	if (busy) {
		FUZZ_CHECK(ev == FT_HTTP_ERROR && h.err_status == 400);
		check_error(&h, out);
	} else {
		FUZZ_CHECK(ev == FT_HTTP_NEED_MORE);
	}
	ft_http_free(&h);
}

static void same(const outcome *a, const outcome *b)
{
	size_t n = a->nreq < MAX_REQS ? a->nreq : MAX_REQS;

	FUZZ_CHECK(a->nreq == b->nreq);
	FUZZ_CHECK(memcmp(a->req, b->req, n * sizeof a->req[0]) == 0);
	FUZZ_CHECK(a->error == b->error);
	if (a->status != b->status) {
		FUZZ_CHECK(a->status == 400 || a->status == 414 ||
			   a->status == 431);
		FUZZ_CHECK(b->status == 400 || b->status == 414 ||
			   b->status == 431);
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static outcome whole, cut;
	ft_http_limits lim;

	if (size == 0) {
		return 0;
	}
	ft_http_limits_default(&lim);
	if (data[0] & 0x40) {
		lim.max_header_bytes = 200;
		lim.max_headers = 4;
		lim.max_body_bytes = 32;
	}
	size_t step = data[0] & 0x3f;
	if (step == 0) {
		step = 1;
	}
	data++;
	size--;

	int with_api = (data[-1] & 0x80) != 0;

	if (with_api) {
		setup_api();
	}
	g_route = with_api;
	run(&lim, data, size, 0, &whole);
	g_route = false;
	run(&lim, data, size, step, &cut);
	same(&whole, &cut);
	return 0;
}
