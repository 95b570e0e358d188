/*
 * client/httpc.h - a small blocking HTTP/1.1 client (internal, not
 * installed), used by the ftlog CLI and the device client.
 *
 * One request per connection ("Connection: close"), plain http only:
 * HTTPS is done by a TLS-terminating proxy in front of the log, or a
 * local one (stunnel, nginx) in front of this client. Responses are parsed
 * with http-parser 2.9 under strict caps: the response head at most
 * FT_HTTPC_HEAD_MAX bytes, the body at most the caller's max_body, and the
 * whole exchange (resolve, connect, send, receive) within one total
 * timeout enforced with poll(). No libuv, no LMDB, no global state: safe
 * to use from several threads.
 */
#ifndef FTLOG_CLIENT_HTTPC_H
#define FTLOG_CLIENT_HTTPC_H

#include <stddef.h>
#include <stdint.h>

#include <ftlog/common.h>

#define FT_HTTPC_HEAD_MAX 16384            /* response line and headers */
#define FT_HTTPC_BODY_DEFAULT (1u << 20)   /* max_body when 0 */
#define FT_HTTPC_TIMEOUT_DEFAULT 30000     /* timeout_ms when 0 */
#define FT_HTTPC_HOST_MAX 255
#define FT_HTTPC_PATH_MAX 2048             /* base path + request path */

/* A parsed base URL "http://host[:port][/base]". */
typedef struct ft_httpc_url {
	char host[FT_HTTPC_HOST_MAX + 1]; /* without [] for IPv6 literals */
	char port[6];                     /* decimal, "80" by default */
	char base[FT_HTTPC_PATH_MAX + 1]; /* "" or "/a/b" (no trailing /) */
	int ipv6_literal;                 /* host was written "[...]" */
} ft_httpc_url;

/*
 * Parse a base URL: scheme "http" (case-insensitive), a host name, IPv4
 * or bracketed IPv6 literal, an optional port 1..65535, an optional path
 * prefix (trailing slashes dropped). No user info, query or fragment.
 * 0, or FT_EINVAL with a one-line reason in err (NUL-terminated, at most
 * cap bytes; err may be NULL).
 */
FT_WUR int ft_httpc_parse_url(const char *url, ft_httpc_url *out, char *err,
			      size_t cap);

typedef struct ft_httpc_req {
	const char *url;          /* base URL, as ft_httpc_parse_url */
	const char *method;       /* "GET", "POST", ... */
	const char *path;         /* starts with '/', appended to the base;
				   * may carry a query string */
	const uint8_t *body;      /* NULL: no body and no Content-Length */
	size_t body_len;
	const char *content_type; /* sent with a body; may be NULL */
	size_t max_body;          /* response body cap; 0: 1 MiB */
	int timeout_ms;           /* whole request; <= 0: 30 s */
} ft_httpc_req;

typedef struct ft_httpc_resp {
	int status;              /* e.g. 200 */
	char content_type[128];  /* "" when absent; truncated if longer */
	long retry_after;        /* Retry-After in seconds, -1 if absent or
				  * not a plain number */
	uint8_t *body;           /* malloc'd, NUL-terminated (the NUL is not
				  * counted in body_len); never NULL after
				  * success */
	size_t body_len;
} ft_httpc_resp;

/*
 * Do one request and read the whole response. Returns 0 with *resp
 * filled for ANY HTTP status (the caller looks at resp->status; free with
 * ft_httpc_resp_free), or a negative code with a one-line reason in err
 * and *resp zeroed (nothing to free):
 *   FT_EINVAL   bad URL, method or path
 *   FT_EIO      name resolution, connect, send or receive failed, the
 *               timeout expired, or the response is not valid HTTP/1.x
 *   FT_ETOOBIG  the response head or body exceeds its cap
 *   FT_ENOMEM
 */
FT_WUR int ft_httpc_do(const ft_httpc_req *req, ft_httpc_resp *resp,
		       char *err, size_t cap);

/* Free the body and zero *resp. NULL-safe; safe on a zeroed resp. */
void ft_httpc_resp_free(ft_httpc_resp *resp);

/*
 * The first line of a (text) response body for an error message: at most
 * cap-1 bytes, stopped at the first "\r" or "\n", bytes outside printable
 * ASCII replaced by '?'. Always NUL-terminates out (cap >= 1).
 */
void ft_httpc_body_line(const ft_httpc_resp *resp, char *out, size_t cap);

#endif
