/*
 * logd/http.c - the sans-I/O HTTP/1.1 request adapter over http-parser 2.9
 * (contract in logd/http.h).
 *
 * How http-parser is driven. The adapter pauses the parser in two
 * callbacks and does its own work between execute calls:
 *
 *  - on_headers_complete: the head is complete, so the adapter can count
 *    its bytes exactly and decide every head-level limit (version, target,
 *    Transfer-Encoding, Content-Length) before a single body byte is
 *    parsed or buffered.
 *  - on_message_complete: one request is handed out at a time, which is
 *    what makes pipelining work.
 *
 * http-parser 2.9.4 counts the bytes of a paused execute differently for
 * the two: a pause in on_message_complete returns the count up to and
 * including the request's last byte, but a pause in on_headers_complete
 * returns the count *without* the final LF of the head (the parser is left
 * in a state that re-reads that LF when resumed). So after the head pause
 * the LF is counted as a head byte here and fed again with the next
 * execute; the parser consumes it silently. Both behaviours are pinned by
 * the pipelining tests in tests/test_http.c, which split a stream at every
 * byte.
 *
 * Header bytes are bounded without trusting the parser's own 80 KiB limit:
 * while the head is incomplete the parser is never given more than one byte
 * past the limit, so the 431 triggers at exactly max_header_bytes + 1.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <ftlog/tile.h>

#include "logd/http.h"

/* Longest request target accepted (the API's longest is far shorter). */
#define FT_HTTP_URL_MAX 2048

/* A keep-alive connection keeps at most this much body buffer between
 * requests; a larger one is freed so idle connections stay small. */
#define FT_HTTP_BODY_KEEP 4096

enum http_state {
	ST_IDLE = 0, /* between requests (stray CRLFs may have been read) */
	ST_HEAD,     /* request line or headers being read */
	ST_BODY,     /* head accepted; body (if any) being read */
	ST_DONE,     /* a complete request is in h->req until ft_http_next */
	ST_ERROR,    /* sticky: the stream position is lost, only close */
};

enum http_pause {
	PAUSE_NONE = 0,
	PAUSE_HEAD,
	PAUSE_MESSAGE,
};

enum http_hdr {
	HDR_NONE = 0,
	HDR_FIELD,
	HDR_VALUE,
};

static const uint8_t empty_body[1];

void ft_http_limits_default(ft_http_limits *l)
{
	l->max_header_bytes = 8192;
	l->max_body_bytes = FT_ENTRY_MAX;
	l->max_headers = 64;
}

/* Record the first error only: a later one is a consequence of it. */
static int fail(ft_http *h, int status, const char *reason)
{
	if (h->err_status == 0) {
		h->err_status = status;
		h->err_reason = reason;
	}
	h->state = ST_ERROR;
	return -1;
}

/*
 * Make room for `need` bytes in *buf (capacity *cap), growing by doubling
 * but never past `limit`. -1 if need > limit (callers check that first,
 * with the right status) or memory runs out.
 */
static int grow(void **buf, size_t *cap, size_t need, size_t limit)
{
	size_t ncap;
	void *p;

	if (need <= *cap) {
		return 0;
	}
	if (need > limit) {
		return -1;
	}
	ncap = *cap < 64 ? 64 : *cap;
	while (ncap < need) {
		ncap = ncap > limit / 2 ? limit : ncap * 2;
	}
	if (ncap > limit) {
		ncap = limit;
	}
	p = realloc(*buf, ncap);
	if (p == NULL) {
		return -1;
	}
	*buf = p;
	*cap = ncap;
	return 0;
}

static int ascii_lower(int c)
{
	return (c >= 'A' && c <= 'Z') ? c - 'A' + 'a' : c;
}

static int name_is(const ft_http *h, const char *name)
{
	size_t n = strlen(name);

	if (h->hname_len != n) {
		return 0;
	}
	for (size_t i = 0; i < n; i++) {
		if (ascii_lower((unsigned char)h->hname[i]) != name[i]) {
			return 0;
		}
	}
	return 1;
}

/*
 * A header name is complete (its value started, or the head ended). Only
 * the framing headers matter here; Connection is read by the parser.
 */
static int end_name(ft_http *h)
{
	if (h->header_field != HDR_FIELD) {
		return 0;
	}
	h->header_field = HDR_VALUE;
	if (name_is(h, "content-length")) {
		/* RFC 7230 3.3.2: two lengths are a smuggling vector, and the
		 * parser would reject them too; say so plainly. */
		if (h->saw_content_length) {
			return fail(h, 400, "duplicate content-length");
		}
		h->saw_content_length = 1;
	} else if (name_is(h, "transfer-encoding")) {
		h->saw_te = 1;
	}
	return 0;
}

/* ---- http-parser callbacks (parser->data is the ft_http). */

static int on_message_begin(http_parser *p)
{
	ft_http *h = p->data;

	h->state = ST_HEAD;
	return 0;
}

static int on_url(http_parser *p, const char *at, size_t len)
{
	ft_http *h = p->data;

	if (len > FT_HTTP_URL_MAX - h->url_len) {
		return fail(h, 414, "request target too long");
	}
	/* +1 for the NUL that makes path and query C strings. */
	if (grow((void **)&h->url, &h->url_cap, h->url_len + len + 1,
		 FT_HTTP_URL_MAX + 1) != 0) {
		return fail(h, 500, "out of memory");
	}
	memcpy(h->url + h->url_len, at, len);
	h->url_len += len;
	return 0;
}

static int on_header_field(http_parser *p, const char *at, size_t len)
{
	ft_http *h = p->data;

	/* A name split across two feeds arrives in two calls; only the
	 * first call after a value (or none) starts a new header. */
	if (h->header_field != HDR_FIELD) {
		if (h->nheaders >= h->lim.max_headers) {
			return fail(h, 431, "too many header fields");
		}
		h->nheaders++;
		h->hname_len = 0;
		h->header_field = HDR_FIELD;
	}
	if (len < sizeof h->hname - h->hname_len) {
		memcpy(h->hname + h->hname_len, at, len);
		h->hname_len += len;
	} else {
		/* Longer than any name we look for: make it match none. */
		h->hname_len = sizeof h->hname;
	}
	return 0;
}

static int on_header_value(http_parser *p, const char *at, size_t len)
{
	ft_http *h = p->data;

	(void)at;
	(void)len;
	return end_name(h);
}

static int on_headers_complete(http_parser *p)
{
	ft_http *h = p->data;

	if (end_name(h) != 0) {
		return -1;
	}
	/* Stop here so ft_http_feed can count the head and apply the limits
	 * before the body; see the top of this file for the byte count. */
	h->paused_at = PAUSE_HEAD;
	http_parser_pause(p, 1);
	return 0;
}

static int on_body(http_parser *p, const char *at, size_t len)
{
	ft_http *h = p->data;

	/* The parser stops at Content-Length, which check_head bounded; this
	 * guards the buffer should that ever change. */
	if (len > h->content_length - h->body_len) {
		return fail(h, 413, "request body too large");
	}
	if (grow((void **)&h->body, &h->body_cap, h->body_len + len,
		 (size_t)h->content_length) != 0) {
		return fail(h, 500, "out of memory");
	}
	memcpy(h->body + h->body_len, at, len);
	h->body_len += len;
	return 0;
}

static int on_message_complete(http_parser *p)
{
	ft_http *h = p->data;
	ft_http_req *r = &h->req;

	/* Only valid in this callback or on_headers_complete. */
	r->keep_alive = http_should_keep_alive(p) ? 1 : 0;
	r->body = h->body_len > 0 ? h->body : empty_body;
	r->body_len = h->body_len;
	h->paused_at = PAUSE_MESSAGE;
	http_parser_pause(p, 1);
	return 0;
}

static const http_parser_settings parser_settings = {
	.on_message_begin = on_message_begin,
	.on_url = on_url,
	.on_header_field = on_header_field,
	.on_header_value = on_header_value,
	.on_headers_complete = on_headers_complete,
	.on_body = on_body,
	.on_message_complete = on_message_complete,
};

/* ---- The head, decided as a whole. */

/*
 * RFC 7230 5.3.1 origin-form only: absolute-form, authority-form and '*'
 * are proxy or OPTIONS business we never serve. Bytes outside visible
 * ASCII are refused even where the parser (non-strict build) lets tabs and
 * high bytes through, and so is a fragment, which a client never sends.
 */
static int check_target(ft_http *h)
{
	ft_http_req *r = &h->req;
	size_t q = h->url_len;

	if (h->url_len == 0 || h->url[0] != '/') {
		return fail(h, 400, "request target must start with '/'");
	}
	for (size_t i = 0; i < h->url_len; i++) {
		unsigned char c = (unsigned char)h->url[i];

		if (c <= 0x20 || c >= 0x7f) {
			return fail(h, 400, "bad byte in request target");
		}
		if (c == '#') {
			return fail(h, 400, "fragment in request target");
		}
		if (c == '?' && q == h->url_len) {
			q = i;
		}
	}
	h->url[h->url_len] = '\0';
	r->path = h->url;
	r->path_len = q;
	if (q < h->url_len) {
		h->url[q] = '\0';
		r->query = h->url + q + 1;
		r->query_len = h->url_len - q - 1;
	} else {
		r->query = "";
		r->query_len = 0;
	}
	return 0;
}

static int check_head(ft_http *h)
{
	const http_parser *p = &h->parser;
	ft_http_req *r = &h->req;

	if (h->header_bytes > h->lim.max_header_bytes) {
		return fail(h, 431, "request header fields too large");
	}
	if (p->http_major != 1 || p->http_minor > 1) {
		return fail(h, 505, "only HTTP/1.0 and HTTP/1.1 are supported");
	}
	if (check_target(h) != 0) {
		return -1;
	}
	if (h->saw_te) {
		return fail(h, 501, "transfer-encoding not supported");
	}
	/* Our name matching and the parser's must agree on whether there is
	 * a length, or the two would frame the body differently. */
	if (h->saw_content_length != ((p->flags & F_CONTENTLENGTH) != 0)) {
		return fail(h, 400, "ambiguous content-length");
	}
	switch (p->method) {
	case HTTP_GET:
		r->method = FT_HTTP_GET;
		break;
	case HTTP_HEAD:
		r->method = FT_HTTP_HEAD;
		break;
	case HTTP_POST:
		r->method = FT_HTTP_POST;
		break;
	default:
		r->method = FT_HTTP_OTHER;
		break;
	}
	/* Static storage inside http-parser: valid for the process. */
	r->method_name = http_method_str((enum http_method)p->method);
	r->http_minor = p->http_minor;
	if (!h->saw_content_length) {
		if (p->method == HTTP_POST || p->method == HTTP_PUT) {
			return fail(h, 411, "content-length required");
		}
		/* RFC 7230 3.3.3: a request without a length has no body. */
		h->content_length = 0;
		return 0;
	}
	if (p->content_length > h->lim.max_body_bytes) {
		return fail(h, 413, "request body too large");
	}
	h->content_length = p->content_length;
	return 0;
}

/* fail(), as the event ft_http_feed returns. */
static int error_event(ft_http *h, int status, const char *reason)
{
	(void)fail(h, status, reason);
	return FT_HTTP_ERROR;
}

/* Map a parser error that no callback of ours explained. */
static int parser_error(ft_http *h, enum http_errno e)
{
	switch (e) {
	case HPE_HEADER_OVERFLOW:
		return error_event(h, 431, "request header fields too large");
	default:
		/* http_errno_description returns static one-line strings. */
		return error_event(h, 400, http_errno_description(e));
	}
}

/* ---- Public functions. */

static void reset_request(ft_http *h)
{
	memset(&h->req, 0, sizeof h->req);
	h->paused_at = PAUSE_NONE;
	h->header_bytes = 0;
	h->nheaders = 0;
	h->url_len = 0;
	h->body_len = 0;
	h->header_field = HDR_NONE;
	h->hname_len = 0;
	h->saw_content_length = 0;
	h->saw_te = 0;
	h->content_length = 0;
}

void ft_http_init(ft_http *h, const ft_http_limits *lim)
{
	memset(h, 0, sizeof *h);
	if (lim != NULL) {
		h->lim = *lim;
	} else {
		ft_http_limits_default(&h->lim);
	}
	http_parser_init(&h->parser, HTTP_REQUEST);
	h->parser.data = h;
	h->state = ST_IDLE;
	reset_request(h);
}

void ft_http_free(ft_http *h)
{
	free(h->url);
	free(h->body);
	h->url = NULL;
	h->url_cap = 0;
	h->body = NULL;
	h->body_cap = 0;
	reset_request(h);
}

int ft_http_in_progress(const ft_http *h)
{
	return h->state == ST_HEAD || h->state == ST_BODY;
}

void ft_http_next(ft_http *h)
{
	/* Only a delivered request is cleared: an error stays (the stream
	 * cannot be resynchronised) and a request in progress continues. */
	if (h->state != ST_DONE) {
		return;
	}
	http_parser_pause(&h->parser, 0);
	if (h->body_cap > FT_HTTP_BODY_KEEP) {
		free(h->body);
		h->body = NULL;
		h->body_cap = 0;
	}
	reset_request(h);
	h->state = ST_IDLE;
}

int ft_http_feed(ft_http *h, const uint8_t *data, size_t len,
		 size_t *consumed)
{
	size_t off = 0;

	*consumed = 0;
	switch (h->state) {
	case ST_ERROR:
		return FT_HTTP_ERROR;
	case ST_DONE:
		/* ft_http_next was not called: the same request again. */
		return FT_HTTP_REQUEST;
	default:
		break;
	}
	if (len == 0) {
		if (ft_http_in_progress(h)) {
			return error_event(h, 400,
					   "connection closed mid-request");
		}
		return FT_HTTP_NEED_MORE;
	}
	/* The struct may have been moved since ft_http_init. */
	h->parser.data = h;

	while (off < len) {
		size_t n = len - off;

		if (h->state != ST_BODY) {
			/* header_bytes <= max here; never more than one byte
			 * past the limit reaches the parser. */
			size_t room = h->lim.max_header_bytes - h->header_bytes;

			if (n > room) {
				n = room + 1;
			}
		}
		h->paused_at = PAUSE_NONE;
		size_t got = http_parser_execute(&h->parser, &parser_settings,
						 (const char *)data + off, n);
		enum http_errno e = HTTP_PARSER_ERRNO(&h->parser);

		if (h->state == ST_ERROR) {
			/* One of our callbacks refused (and said why). */
			*consumed = off + got;
			return FT_HTTP_ERROR;
		}
		if (e == HPE_PAUSED && h->paused_at == PAUSE_HEAD) {
			/* got stops before the head's final LF, which the
			 * resumed parser reads again: count it now. */
			h->header_bytes += got + 1;
			off += got;
			*consumed = off;
			http_parser_pause(&h->parser, 0);
			if (check_head(h) != 0) {
				return FT_HTTP_ERROR;
			}
			h->state = ST_BODY;
			continue;
		}
		if (e == HPE_PAUSED && h->paused_at == PAUSE_MESSAGE) {
			/* got includes the request's last byte. The parser
			 * stays paused until ft_http_next. */
			off += got;
			*consumed = off;
			h->state = ST_DONE;
			return FT_HTTP_REQUEST;
		}
		if (e != HPE_OK) {
			*consumed = off + got;
			return parser_error(h, e);
		}
		if (got != n) {
			/* Without a pause or an error the parser only stops
			 * early after an Upgrade, and we pause before that. */
			*consumed = off + got;
			return error_event(h, 400, "request not understood");
		}
		off += got;
		if (h->state != ST_BODY) {
			h->header_bytes += got;
			if (h->header_bytes > h->lim.max_header_bytes) {
				*consumed = off;
				return error_event(h, 431, "request header "
						   "fields too large");
			}
		}
	}
	*consumed = off;
	return FT_HTTP_NEED_MORE;
}

/* ---- Responses. */

const char *ft_http_status_text(int status)
{
	switch (status) {
	case 200:
		return "OK";
	case 201:
		return "Created";
	case 204:
		return "No Content";
	case 301:
		return "Moved Permanently";
	case 304:
		return "Not Modified";
	case 400:
		return "Bad Request";
	case 403:
		return "Forbidden";
	case 404:
		return "Not Found";
	case 405:
		return "Method Not Allowed";
	case 408:
		return "Request Timeout";
	case 409:
		return "Conflict";
	case 410:
		return "Gone";
	case 411:
		return "Length Required";
	case 413:
		return "Payload Too Large";
	case 414:
		return "URI Too Long";
	case 415:
		return "Unsupported Media Type";
	case 422:
		return "Unprocessable Entity";
	case 429:
		return "Too Many Requests";
	case 431:
		return "Request Header Fields Too Large";
	case 500:
		return "Internal Server Error";
	case 501:
		return "Not Implemented";
	case 503:
		return "Service Unavailable";
	case 505:
		return "HTTP Version Not Supported";
	default:
		return "Unknown";
	}
}

/* Append to buf at *off; -1 if it does not fit (nothing is half-written
 * that the caller would use: the whole head is then refused). */
__attribute__((format(printf, 4, 5))) static int
put(char *buf, size_t cap, size_t *off, const char *fmt, ...)
{
	va_list ap;
	int n;

	if (*off >= cap) {
		return -1;
	}
	va_start(ap, fmt);
	n = vsnprintf(buf + *off, cap - *off, fmt, ap);
	va_end(ap);
	if (n < 0 || (size_t)n >= cap - *off) {
		return -1;
	}
	*off += (size_t)n;
	return 0;
}

/* A header value we emit must not smuggle a CR/LF (or other controls). */
static int value_ok(const char *s)
{
	for (; *s != '\0'; s++) {
		unsigned char c = (unsigned char)*s;

		if ((c < 0x20 && c != '\t') || c == 0x7f) {
			return 0;
		}
	}
	return 1;
}

/*
 * RFC 7231 7.1.1.1 IMF-fixdate. The names come from our own tables, not
 * strftime, because %a and %b follow the locale.
 */
static int format_date(char *out, size_t cap)
{
	static const char wday[7][4] = { "Sun", "Mon", "Tue", "Wed",
					 "Thu", "Fri", "Sat" };
	static const char mon[12][4] = { "Jan", "Feb", "Mar", "Apr",
					 "May", "Jun", "Jul", "Aug",
					 "Sep", "Oct", "Nov", "Dec" };
	struct tm tm;
	time_t now = time(NULL);
	int n;

	if (now == (time_t)-1 || gmtime_r(&now, &tm) == NULL) {
		return -1;
	}
	if (tm.tm_wday < 0 || tm.tm_wday > 6 || tm.tm_mon < 0 ||
	    tm.tm_mon > 11 || tm.tm_year + 1900 > 9999) {
		return -1;
	}
	n = snprintf(out, cap, "%s, %02d %s %04d %02d:%02d:%02d GMT",
		     wday[tm.tm_wday], tm.tm_mday, mon[tm.tm_mon],
		     tm.tm_year + 1900, tm.tm_hour, tm.tm_min, tm.tm_sec);
	if (n < 0 || (size_t)n >= cap) {
		return -1;
	}
	return 0;
}

size_t ft_http_format_head(char *buf, size_t cap, int status,
			   const char *content_type, size_t content_length,
			   int keep_alive, const char *cache_control,
			   const char *extra_header)
{
	char date[40];
	size_t off = 0;

	if (buf == NULL || status < 100 || status > 999) {
		return 0;
	}
	if ((content_type != NULL && !value_ok(content_type)) ||
	    (cache_control != NULL && !value_ok(cache_control)) ||
	    (extra_header != NULL && !value_ok(extra_header))) {
		return 0;
	}
	if (format_date(date, sizeof date) != 0) {
		return 0;
	}
	if (put(buf, cap, &off, "HTTP/1.1 %d %s\r\nDate: %s\r\n"
		"Server: ftlogd\r\n", status, ft_http_status_text(status),
		date) != 0) {
		return 0;
	}
	if (content_type != NULL &&
	    put(buf, cap, &off, "Content-Type: %s\r\n", content_type) != 0) {
		return 0;
	}
	/* RFC 7230 3.3.2: never a Content-Length on 1xx or 204. */
	if (status >= 200 && status != 204 &&
	    put(buf, cap, &off, "Content-Length: %zu\r\n", content_length) !=
		    0) {
		return 0;
	}
	if (put(buf, cap, &off, "Connection: %s\r\n",
		keep_alive ? "keep-alive" : "close") != 0) {
		return 0;
	}
	if (cache_control != NULL &&
	    put(buf, cap, &off, "Cache-Control: %s\r\n", cache_control) != 0) {
		return 0;
	}
	if (extra_header != NULL && extra_header[0] != '\0' &&
	    put(buf, cap, &off, "%s\r\n", extra_header) != 0) {
		return 0;
	}
	if (put(buf, cap, &off, "X-Content-Type-Options: nosniff\r\n\r\n") !=
	    0) {
		return 0;
	}
	return off;
}
