/*
 * logd/http.h - a thin, sans-I/O adapter over http-parser 2.9 for HTTP/1.1
 * requests, and response formatting (internal).
 *
 * The rest of ftlogd sees only these types, so the parser underneath can
 * be replaced. The adapter enforces the limits itself: header bytes
 * (request line + headers, 431), body size (413), a strict request target
 * (origin-form only, 400; longer than 2048 bytes, 414), Content-Length
 * required for bodies (411),
 * Transfer-Encoding refused (501, we never need chunked uploads), HTTP/1.0
 * and 1.1 only (505). Each error carries a status and a one-line reason.
 *
 * Pipelining: ft_http_feed stops right after a complete request and
 * reports how many bytes it consumed; the caller answers it, calls
 * ft_http_next, and feeds the remaining bytes again.
 */
#ifndef FTLOG_LOGD_HTTP_H
#define FTLOG_LOGD_HTTP_H

#include <stddef.h>
#include <stdint.h>

#include <http_parser.h>

enum ft_http_method {
	FT_HTTP_OTHER = 0,
	FT_HTTP_GET,
	FT_HTTP_HEAD,
	FT_HTTP_POST,
};

typedef struct ft_http_limits {
	size_t max_header_bytes; /* request line + headers; default 8192 */
	size_t max_body_bytes;   /* default FT_ENTRY_MAX (65535) */
	unsigned max_headers;    /* default 64 */
} ft_http_limits;

void ft_http_limits_default(ft_http_limits *l);

/*
 * One parsed request. Pointers are into the ft_http's own buffers and are
 * valid until ft_http_next or ft_http_free.
 */
typedef struct ft_http_req {
	int method;             /* enum ft_http_method */
	const char *method_name; /* NUL-terminated, e.g. "PUT" */
	const char *path;       /* raw path, not percent-decoded; NUL-terminated */
	size_t path_len;
	const char *query;      /* after '?', NUL-terminated; "" if none */
	size_t query_len;
	int keep_alive;         /* 1 if the connection may stay open */
	const uint8_t *body;
	size_t body_len;
	unsigned http_minor;    /* 0 or 1 */
} ft_http_req;

enum ft_http_event {
	FT_HTTP_NEED_MORE = 0, /* all bytes consumed, request incomplete */
	FT_HTTP_REQUEST = 1,   /* a complete request is in h->req */
	FT_HTTP_ERROR = 2,     /* h->err_status / h->err_reason; close after
				* answering */
};

typedef struct ft_http {
	http_parser parser;
	ft_http_limits lim;
	ft_http_req req;
	int err_status;          /* 400, 411, 413, 414, 431, 500, 501, 505 */
	const char *err_reason;  /* static one-line reason */
	/* private: see logd/http.c */
	int state;           /* where in a request we are */
	int paused_at;       /* which callback paused the parser */
	size_t header_bytes; /* request line + headers counted so far */
	unsigned nheaders;
	char *url;           /* the request target, NUL-terminated */
	size_t url_len, url_cap;
	uint8_t *body;
	size_t body_len, body_cap;
	int header_field;    /* inside a header name or a header value */
	char hname[32];      /* the current header name, if it fits */
	size_t hname_len;
	int saw_content_length, saw_te;
	/* The accepted Content-Length: 0 until the head is checked (and for
	 * a request without one), reset by ft_http_next. server.c reads it. */
	uint64_t content_length;
} ft_http;

/* Initialise (no allocation until bytes arrive). */
void ft_http_init(ft_http *h, const ft_http_limits *lim);
/* Free buffers. */
void ft_http_free(ft_http *h);

/*
 * Feed bytes. Returns the event and sets *consumed (<= len). After
 * FT_HTTP_REQUEST the unconsumed bytes belong to the next request; after
 * FT_HTTP_ERROR the connection must be answered with the error and closed.
 * EOF is fed as len == 0: a request cut short is an error then.
 */
int ft_http_feed(ft_http *h, const uint8_t *data, size_t len,
		 size_t *consumed);

/* Get ready for the next request on the same connection. */
void ft_http_next(ft_http *h);

/* Whether some bytes of a request have been received but not all. */
int ft_http_in_progress(const ft_http *h);

/* ---- Responses. */

/* Reason phrase for a status code ("Not Found"). */
const char *ft_http_status_text(int status);

/*
 * Write a response head into buf: status line, Date, Server, Content-Type,
 * Content-Length, Connection (keep-alive or close), optional Cache-Control
 * and one optional extra header line (without CRLF, e.g.
 * "Retry-After: 1"), X-Content-Type-Options: nosniff, then the blank line.
 * Returns the length, or 0 if it does not fit.
 */
size_t ft_http_format_head(char *buf, size_t cap, int status,
			   const char *content_type, size_t content_length,
			   int keep_alive, const char *cache_control,
			   const char *extra_header);

#endif
