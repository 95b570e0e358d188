/*
 * client/httpc.c - the small blocking HTTP/1.1 client (client/httpc.h).
 *
 * Every wait is a poll() bounded by the time left of one deadline fixed
 * when the request starts, so a slow or stalled server can never hold the
 * caller longer than timeout_ms (name resolution excepted: getaddrinfo
 * has no timeout, numeric hosts never block).
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <netdb.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include <netinet/in.h>
#include <sys/socket.h>

#include <http_parser.h>

#include "client/httpc.h"

#ifndef PACKAGE_VERSION
#define PACKAGE_VERSION "0.1.0"
#endif

static void seterr(char *err, size_t cap, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static void seterr(char *err, size_t cap, const char *fmt, ...)
{
	va_list ap;

	if (err == NULL || cap == 0) {
		return;
	}
	va_start(ap, fmt);
	(void)vsnprintf(err, cap, fmt, ap);
	va_end(ap);
}

/* ---- URLs. */

static int host_char(int c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
	       (c >= '0' && c <= '9') || c == '-' || c == '.' || c == '_';
}

static int path_char(int c)
{
	/* RFC 3986 pchar and '/', without '?' and '#'. */
	return host_char(c) || c == '/' || c == '~' || c == '%' || c == '!' ||
	       c == '$' || c == '&' || c == '\'' || c == '(' || c == ')' ||
	       c == '*' || c == '+' || c == ',' || c == ';' || c == '=' ||
	       c == ':' || c == '@';
}

int ft_httpc_parse_url(const char *url, ft_httpc_url *out, char *err,
		       size_t cap)
{
	const char *p, *h, *hend;
	size_t hlen, blen;

	memset(out, 0, sizeof(*out));
	if (url == NULL || strncasecmp(url, "http://", 7) != 0) {
		if (url != NULL && strncasecmp(url, "https://", 8) == 0) {
			seterr(err, cap,
			       "https is not supported: use http:// to a "
			       "local TLS proxy");
		} else {
			seterr(err, cap,
			       "URL must look like http://host[:port][/path]");
		}
		return FT_EINVAL;
	}
	p = url + 7;
	if (*p == '[') {
		h = p + 1;
		hend = strchr(h, ']');
		if (hend == NULL || hend == h) {
			seterr(err, cap, "URL: bad IPv6 literal");
			return FT_EINVAL;
		}
		for (p = h; p < hend; p++) {
			if (!((*p >= '0' && *p <= '9') ||
			      (*p >= 'a' && *p <= 'f') ||
			      (*p >= 'A' && *p <= 'F') || *p == ':' ||
			      *p == '.')) {
				seterr(err, cap, "URL: bad IPv6 literal");
				return FT_EINVAL;
			}
		}
		p = hend + 1;
		out->ipv6_literal = 1;
	} else {
		h = p;
		while (host_char((unsigned char)*p)) {
			p++;
		}
		hend = p;
		if (hend == h) {
			seterr(err, cap, "URL: missing host");
			return FT_EINVAL;
		}
	}
	hlen = (size_t)(hend - h);
	if (hlen > FT_HTTPC_HOST_MAX) {
		seterr(err, cap, "URL: host name too long");
		return FT_EINVAL;
	}
	memcpy(out->host, h, hlen);
	out->host[hlen] = '\0';
	strcpy(out->port, "80");
	if (*p == ':') {
		unsigned long port = 0;
		size_t nd = 0;

		p++;
		while (*p >= '0' && *p <= '9' && nd < 6) {
			port = port * 10 + (unsigned long)(*p - '0');
			p++;
			nd++;
		}
		if (nd == 0 || nd > 5 || port == 0 || port > 65535) {
			seterr(err, cap, "URL: bad port");
			return FT_EINVAL;
		}
		(void)snprintf(out->port, sizeof(out->port), "%lu", port);
	}
	if (*p != '\0' && *p != '/') {
		seterr(err, cap,
		       "URL: unexpected '%c' after the host (no user info, "
		       "query or fragment)",
		       *p);
		return FT_EINVAL;
	}
	blen = strlen(p);
	while (blen > 0 && p[blen - 1] == '/') {
		blen--;
	}
	if (blen > FT_HTTPC_PATH_MAX / 2) {
		seterr(err, cap, "URL: path too long");
		return FT_EINVAL;
	}
	for (size_t i = 0; i < blen; i++) {
		if (!path_char((unsigned char)p[i])) {
			seterr(err, cap, "URL: bad character in the path");
			return FT_EINVAL;
		}
	}
	memcpy(out->base, p, blen);
	out->base[blen] = '\0';
	return 0;
}

/* ---- Time. */

static int64_t now_ms(void)
{
	struct timespec ts;

	(void)clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Milliseconds left before deadline, at least 0. */
static int left_ms(int64_t deadline)
{
	int64_t d = deadline - now_ms();

	if (d <= 0) {
		return 0;
	}
	return d > INT_MAX ? INT_MAX : (int)d;
}

/* Wait for events on fd until the deadline: 1 ready, 0 timeout, -1. */
static int wait_fd(int fd, short events, int64_t deadline)
{
	for (;;) {
		struct pollfd pfd;
		int ms = left_ms(deadline), rc;

		if (ms == 0) {
			return 0;
		}
		pfd.fd = fd;
		pfd.events = events;
		pfd.revents = 0;
		rc = poll(&pfd, 1, ms);
		if (rc < 0 && errno == EINTR) {
			continue;
		}
		if (rc < 0) {
			return -1;
		}
		if (rc == 0) {
			continue; /* re-check the clock */
		}
		return 1;
	}
}

/* ---- Connecting. */

static int connect_one(const struct addrinfo *ai, int64_t deadline,
		       int *out_errno)
{
	int fd, rc, soerr = 0;
	socklen_t sl = sizeof(soerr);

	fd = socket(ai->ai_family, ai->ai_socktype | SOCK_CLOEXEC |
					   SOCK_NONBLOCK,
		    ai->ai_protocol);
	if (fd < 0) {
		*out_errno = errno;
		return -1;
	}
	rc = connect(fd, ai->ai_addr, ai->ai_addrlen);
	if (rc == 0) {
		return fd;
	}
	if (errno != EINPROGRESS) {
		*out_errno = errno;
		(void)close(fd);
		return -1;
	}
	rc = wait_fd(fd, POLLOUT, deadline);
	if (rc <= 0) {
		*out_errno = rc == 0 ? ETIMEDOUT : errno;
		(void)close(fd);
		return -1;
	}
	if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &soerr, &sl) != 0) {
		soerr = errno;
	}
	if (soerr != 0) {
		*out_errno = soerr;
		(void)close(fd);
		return -1;
	}
	return fd;
}

static int dial(const ft_httpc_url *u, int64_t deadline, char *err,
		size_t cap)
{
	struct addrinfo hints, *res = NULL, *ai;
	int rc, fd = -1, last = ETIMEDOUT;

	memset(&hints, 0, sizeof(hints));
	hints.ai_family = AF_UNSPEC;
	hints.ai_socktype = SOCK_STREAM;
	hints.ai_flags = AI_NUMERICSERV;
	rc = getaddrinfo(u->host, u->port, &hints, &res);
	if (rc != 0) {
		seterr(err, cap, "cannot resolve %s: %s", u->host,
		       rc == EAI_SYSTEM ? strerror(errno) : gai_strerror(rc));
		return -1;
	}
	for (ai = res; ai != NULL; ai = ai->ai_next) {
		if (left_ms(deadline) == 0) {
			last = ETIMEDOUT;
			break;
		}
		fd = connect_one(ai, deadline, &last);
		if (fd >= 0) {
			break;
		}
	}
	freeaddrinfo(res);
	if (fd < 0) {
		seterr(err, cap, "cannot connect to %s%s%s:%s: %s",
		       u->ipv6_literal ? "[" : "", u->host,
		       u->ipv6_literal ? "]" : "", u->port,
		       last == ETIMEDOUT ? "timed out" : strerror(last));
	}
	return fd;
}

static int send_all(int fd, const uint8_t *p, size_t n, int64_t deadline,
		    char *err, size_t cap)
{
	while (n > 0) {
		ssize_t w = send(fd, p, n, MSG_NOSIGNAL);

		if (w > 0) {
			p += w;
			n -= (size_t)w;
			continue;
		}
		if (w < 0 && errno == EINTR) {
			continue;
		}
		if (w < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
			int rc = wait_fd(fd, POLLOUT, deadline);

			if (rc == 0) {
				seterr(err, cap,
				       "timed out sending the request");
				return -1;
			}
			if (rc < 0) {
				seterr(err, cap, "poll: %s", strerror(errno));
				return -1;
			}
			continue;
		}
		seterr(err, cap, "cannot send the request: %s",
		       w < 0 ? strerror(errno) : "connection closed");
		return -1;
	}
	return 0;
}

/* ---- Response parsing. */

enum hdr_want { H_NONE, H_CTYPE, H_RETRY };

struct rx {
	ft_httpc_resp *resp;
	size_t max_body;
	size_t cap_body;     /* allocated body capacity (without the NUL) */
	int done;            /* message complete */
	int headers_done;
	int too_big;         /* 1 head, 2 body */
	int is_head;         /* a HEAD request: no body whatever it says */
	int nomem;
	int in_value;        /* last header callback was a value */
	char field[32];      /* current header name (truncated) */
	size_t field_len;
	int field_long;      /* longer than field[]: not one we want */
	enum hdr_want want;
	char retry[24];
	size_t retry_len;
	size_t ctype_len;
};

static int on_header_field(http_parser *p, const char *at, size_t n)
{
	struct rx *x = p->data;

	if (x->in_value) {
		x->in_value = 0;
		x->field_len = 0;
		x->field_long = 0;
	}
	if (x->field_len + n >= sizeof(x->field)) {
		x->field_long = 1;
		return 0;
	}
	memcpy(x->field + x->field_len, at, n);
	x->field_len += n;
	x->field[x->field_len] = '\0';
	return 0;
}

static int on_header_value(http_parser *p, const char *at, size_t n)
{
	struct rx *x = p->data;
	ft_httpc_resp *r = x->resp;

	if (!x->in_value) {
		x->in_value = 1;
		x->want = H_NONE;
		if (!x->field_long &&
		    strcasecmp(x->field, "Content-Type") == 0) {
			x->want = H_CTYPE;
			x->ctype_len = 0;
		} else if (!x->field_long &&
			   strcasecmp(x->field, "Retry-After") == 0) {
			x->want = H_RETRY;
			x->retry_len = 0;
		}
	}
	if (x->want == H_CTYPE) {
		size_t room = sizeof(r->content_type) - 1 - x->ctype_len;
		size_t k = n < room ? n : room;

		memcpy(r->content_type + x->ctype_len, at, k);
		x->ctype_len += k;
		r->content_type[x->ctype_len] = '\0';
	} else if (x->want == H_RETRY) {
		size_t room = sizeof(x->retry) - 1 - x->retry_len;
		size_t k = n < room ? n : room;

		memcpy(x->retry + x->retry_len, at, k);
		x->retry_len += k;
		x->retry[x->retry_len] = '\0';
	}
	return 0;
}

static int on_headers_complete(http_parser *p)
{
	struct rx *x = p->data;
	ft_httpc_resp *r = x->resp;
	size_t i;

	r->status = (int)p->status_code;
	x->headers_done = 1;
	r->retry_after = -1;
	if (x->retry_len > 0 && x->retry_len <= 9) {
		long v = 0;

		for (i = 0; i < x->retry_len; i++) {
			if (x->retry[i] < '0' || x->retry[i] > '9') {
				break;
			}
			v = v * 10 + (x->retry[i] - '0');
		}
		if (i == x->retry_len) {
			r->retry_after = v;
		}
	}
	if (x->is_head) {
		return 1;
	}
	/* A declared body larger than the cap fails before it is read. */
	if ((p->flags & F_CHUNKED) == 0 && p->content_length != ULLONG_MAX &&
	    p->content_length > x->max_body) {
		x->too_big = 2;
		return -1;
	}
	return 0;
}

static int on_body(http_parser *p, const char *at, size_t n)
{
	struct rx *x = p->data;
	ft_httpc_resp *r = x->resp;

	if (n > x->max_body - r->body_len) {
		x->too_big = 2;
		return -1;
	}
	if (r->body_len + n > x->cap_body) {
		size_t nc = x->cap_body ? x->cap_body : 4096;
		uint8_t *nb;

		while (nc < r->body_len + n) {
			nc *= 2;
		}
		if (nc > x->max_body) {
			nc = x->max_body;
		}
		nb = realloc(r->body, nc + 1);
		if (nb == NULL) {
			x->nomem = 1;
			return -1;
		}
		r->body = nb;
		x->cap_body = nc;
	}
	memcpy(r->body + r->body_len, at, n);
	r->body_len += n;
	return 0;
}

static int on_message_complete(http_parser *p)
{
	struct rx *x = p->data;

	x->done = 1;
	return 0;
}

/*
 * Feed n received bytes to the parser, never more than the head allowance
 * while the head is incomplete. 0 to go on (x->done may be set), or -1
 * with *rc and err set.
 */
static int feed_all(http_parser *parser, const http_parser_settings *st,
		    struct rx *x, const uint8_t *buf, size_t n,
		    size_t *head_seen, char *err, size_t cap, int *rc)
{
	size_t off = 0;

	while (off < n && !x->done) {
		size_t feed = n - off, used;

		if (!x->headers_done && feed > FT_HTTPC_HEAD_MAX - *head_seen) {
			feed = FT_HTTPC_HEAD_MAX - *head_seen;
		}
		if (feed == 0) {
			seterr(err, cap, "response head exceeds %d bytes",
			       FT_HTTPC_HEAD_MAX);
			*rc = FT_ETOOBIG;
			return -1;
		}
		used = http_parser_execute(parser, st,
					   (const char *)buf + off, feed);
		if (!x->headers_done) {
			*head_seen += used;
		}
		if (x->done) {
			return 0; /* bytes after the message are ignored */
		}
		if (HTTP_PARSER_ERRNO(parser) != HPE_OK || used != feed) {
			if (x->nomem) {
				seterr(err, cap, "out of memory");
				*rc = FT_ENOMEM;
			} else if (x->too_big == 2) {
				seterr(err, cap,
				       "response body exceeds %zu bytes",
				       x->max_body);
				*rc = FT_ETOOBIG;
			} else {
				seterr(err, cap, "malformed HTTP response: %s",
				       http_errno_description(
					       HTTP_PARSER_ERRNO(parser)));
				*rc = FT_EIO;
			}
			return -1;
		}
		off += used;
	}
	return 0;
}

static const char *method_ok(const char *m)
{
	static const char *const ok[] = {"GET", "POST", "HEAD", "PUT",
					 "DELETE", NULL};
	size_t i;

	for (i = 0; ok[i] != NULL; i++) {
		if (strcmp(m, ok[i]) == 0) {
			return ok[i];
		}
	}
	return NULL;
}

static int req_path_ok(const char *p)
{
	if (p == NULL || p[0] != '/') {
		return 0;
	}
	for (; *p != '\0'; p++) {
		if (!path_char((unsigned char)*p) && *p != '?') {
			return 0;
		}
	}
	return 1;
}

static int ctype_ok(const char *s)
{
	for (; *s != '\0'; s++) {
		if ((unsigned char)*s < 0x20 || (unsigned char)*s >= 0x7f) {
			return 0;
		}
	}
	return 1;
}

int ft_httpc_do(const ft_httpc_req *req, ft_httpc_resp *resp, char *err,
		size_t cap)
{
	ft_httpc_url u;
	int64_t deadline;
	char *head = NULL;
	size_t head_cap, hl = 0;
	int fd = -1, rc = FT_EIO, n;
	uint8_t buf[16384];
	size_t head_seen = 0;
	http_parser parser;
	http_parser_settings settings;
	struct rx x;
	int is_head;

	memset(resp, 0, sizeof(*resp));
	if (err != NULL && cap > 0) {
		err[0] = '\0';
	}
	if (req == NULL || req->method == NULL || method_ok(req->method) ==
							   NULL) {
		seterr(err, cap, "bad HTTP method");
		return FT_EINVAL;
	}
	if (ft_httpc_parse_url(req->url, &u, err, cap) != 0) {
		return FT_EINVAL;
	}
	if (!req_path_ok(req->path) ||
	    strlen(u.base) + strlen(req->path) > FT_HTTPC_PATH_MAX) {
		seterr(err, cap, "bad request path");
		return FT_EINVAL;
	}
	if (req->content_type != NULL && !ctype_ok(req->content_type)) {
		seterr(err, cap, "bad content type");
		return FT_EINVAL;
	}
	is_head = strcmp(req->method, "HEAD") == 0;
	deadline = now_ms() + (req->timeout_ms > 0 ? req->timeout_ms
						   : FT_HTTPC_TIMEOUT_DEFAULT);

	head_cap = FT_HTTPC_PATH_MAX + FT_HTTPC_HOST_MAX + 512 +
		   (req->content_type ? strlen(req->content_type) : 0);
	head = malloc(head_cap);
	if (head == NULL) {
		seterr(err, cap, "out of memory");
		return FT_ENOMEM;
	}
	n = snprintf(head, head_cap,
		     "%s %s%s HTTP/1.1\r\nHost: %s%s%s%s%s\r\n"
		     "User-Agent: ftlog/%s\r\nAccept: */*\r\n"
		     "Connection: close\r\n",
		     req->method, u.base, req->path, u.ipv6_literal ? "[" : "",
		     u.host, u.ipv6_literal ? "]" : "",
		     strcmp(u.port, "80") != 0 ? ":" : "",
		     strcmp(u.port, "80") != 0 ? u.port : "", PACKAGE_VERSION);
	if (n < 0 || (size_t)n >= head_cap) {
		seterr(err, cap, "request head too long");
		rc = FT_EINVAL;
		goto out;
	}
	hl = (size_t)n;
	if (req->body != NULL) {
		n = snprintf(head + hl, head_cap - hl,
			     "%s%s%sContent-Length: %zu\r\n",
			     req->content_type ? "Content-Type: " : "",
			     req->content_type ? req->content_type : "",
			     req->content_type ? "\r\n" : "", req->body_len);
		if (n < 0 || (size_t)n >= head_cap - hl) {
			seterr(err, cap, "request head too long");
			rc = FT_EINVAL;
			goto out;
		}
		hl += (size_t)n;
	}
	if (hl + 3 > head_cap) {
		seterr(err, cap, "request head too long");
		rc = FT_EINVAL;
		goto out;
	}
	memcpy(head + hl, "\r\n", 3);
	hl += 2;

	fd = dial(&u, deadline, err, cap);
	if (fd < 0) {
		rc = FT_EIO;
		goto out;
	}
	if (send_all(fd, (const uint8_t *)head, hl, deadline, err, cap) != 0 ||
	    (req->body != NULL && req->body_len > 0 &&
	     send_all(fd, req->body, req->body_len, deadline, err, cap) !=
		     0)) {
		rc = FT_EIO;
		goto out;
	}

	memset(&x, 0, sizeof(x));
	x.resp = resp;
	x.is_head = is_head;
	x.max_body = req->max_body ? req->max_body : FT_HTTPC_BODY_DEFAULT;
	resp->retry_after = -1;
	http_parser_settings_init(&settings);
	settings.on_header_field = on_header_field;
	settings.on_header_value = on_header_value;
	settings.on_headers_complete = on_headers_complete;
	settings.on_body = on_body;
	settings.on_message_complete = on_message_complete;
	http_parser_init(&parser, HTTP_RESPONSE);
	parser.data = &x;

	while (!x.done) {
		ssize_t got = recv(fd, buf, sizeof(buf), 0);

		if (got < 0 && errno == EINTR) {
			continue;
		}
		if (got < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
			int w = wait_fd(fd, POLLIN, deadline);

			if (w == 0) {
				seterr(err, cap,
				       "timed out waiting for the response");
				rc = FT_EIO;
				goto out;
			}
			if (w < 0) {
				seterr(err, cap, "poll: %s", strerror(errno));
				rc = FT_EIO;
				goto out;
			}
			continue;
		}
		if (got < 0) {
			seterr(err, cap, "cannot read the response: %s",
			       strerror(errno));
			rc = FT_EIO;
			goto out;
		}
		if (feed_all(&parser, &settings, &x, buf, (size_t)got,
			     &head_seen, err, cap, &rc) != 0) {
			goto out;
		}
		if (x.done) {
			break;
		}
		if (got == 0) {
			/* EOF: ends a body delimited by the connection
			 * close; anything else is a truncated response. */
			(void)http_parser_execute(&parser, &settings, NULL, 0);
			if (!x.done) {
				seterr(err, cap,
				       "connection closed before the end of "
				       "the response");
				rc = FT_EIO;
				goto out;
			}
		}
	}
	if (resp->body == NULL) {
		resp->body = malloc(1);
		if (resp->body == NULL) {
			seterr(err, cap, "out of memory");
			rc = FT_ENOMEM;
			goto out;
		}
	}
	resp->body[resp->body_len] = '\0';
	rc = 0;
out:
	if (fd >= 0) {
		(void)close(fd);
	}
	free(head);
	if (rc != 0) {
		free(resp->body);
		memset(resp, 0, sizeof(*resp));
	}
	return rc;
}

void ft_httpc_resp_free(ft_httpc_resp *resp)
{
	if (resp == NULL) {
		return;
	}
	free(resp->body);
	memset(resp, 0, sizeof(*resp));
}

void ft_httpc_body_line(const ft_httpc_resp *resp, char *out, size_t cap)
{
	size_t i, n = 0;

	if (cap == 0) {
		return;
	}
	for (i = 0; resp != NULL && resp->body != NULL &&
		    i < resp->body_len && n + 1 < cap;
	     i++) {
		uint8_t c = resp->body[i];

		if (c == '\r' || c == '\n') {
			break;
		}
		out[n++] = (c >= 0x20 && c < 0x7f) ? (char)c : '?';
	}
	out[n] = '\0';
}
