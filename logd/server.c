/*
 * logd/server.c - the network layer of ftlogd (see server.h).
 *
 * A connection is a small state machine, driven only by libuv callbacks on
 * the loop thread:
 *
 *   ACTIVE    requests are received, handed to the api and answered. Input
 *             and output run side by side (HTTP/1.1 pipelining):
 *             - input: bytes are fed to the ft_http parser as they arrive;
 *               each complete request gets a slot at the tail of the
 *               connection's queue and goes to the api at once, whether the
 *               requests before it are answered yet or not;
 *             - output: the answers are written from the head of the queue,
 *               strictly in request order, one uv_write at a time (several
 *               ready answers may share one uv_write).
 *   LINGER    the last response is written; our side is shut down and we
 *             read and discard what the client still sends until it
 *             closes (or LINGER_MS), so that closing a socket with unread
 *             input does not send an RST that destroys the response before
 *             the client has read it (the classic "lingering close").
 *   CLOSING   uv_close was called on both handles; the memory is freed in
 *             the second close callback and nowhere else.
 *
 * The request queue. A slot is deferred (the api holds it: POST /add waits
 * for its batch) or ready (its ft_resp is filled in). An immediate answer
 * behind a deferred one waits in its slot. The api gets the slot itself as
 * its conn_ctx, and a slot's memory lives until its answer is written or
 * the connection's close callback runs, so a deferred answer always finds
 * it; every slot still deferred when the connection lingers or closes is
 * cancelled (ft_api_cancel) exactly once first.
 *
 * Bounded input and work: at most MAX_INFLIGHT slots per connection (and
 * about MAX_QUEUED_BYTES of answers waiting to be written); at the cap we
 * stop parsing (buffered bytes wait) and resume as answers are written. Reading goes on into the fixed read buffer (RBUF_CAP bytes) so a
 * client that goes away while requests are pending is noticed and they are
 * cancelled; once the buffer is full we uv_read_stop and the rest stays in
 * the kernel (TCP flow control then stops the client).
 *
 * The end of input ("input done"): after a request that asks to close (or
 * is answered with resp.close), after a parse error or timeout (its error
 * answer is queued), after the client's EOF, and at shutdown. Nothing more
 * is parsed; what is queued is answered, the last answer says "Connection:
 * close", and then we linger and close.
 *
 * Timeouts use one uv_timer per connection, re-armed for the earliest
 * deadline (see conn_deadline).
 */
#include <assert.h>
#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include <uv.h>

#include <ftlog/common.h>

#include "logd/log.h"
#include "logd/server.h"

#define LISTEN_BACKLOG 1024
/* Read buffer per connection. The parser copies what it needs, so this only
 * bounds what a pipelining client can park with us while its requests are
 * being answered or the queue is full; it is smaller than any request the
 * limits allow. */
#define RBUF_CAP (16 * 1024)
/* Requests in flight (received, not yet fully answered) per connection. */
#define MAX_INFLIGHT FT_SERVER_MAX_INFLIGHT
/* Answer bodies queued per connection (ready, not yet written) past which
 * no more requests are parsed until some are written: a client that
 * pipelines large GETs and reads slowly holds about this much, not
 * MAX_INFLIGHT whole answers. */
#define MAX_QUEUED_BYTES (256 * 1024)
/* Ready answers written with one uv_write (two buffers each). */
#define WRITE_BATCH 16
/* Room for the response head: status line, Date, Server, type, length,
 * Connection, Cache-Control, a 96-byte extra header, nosniff. */
#define HEAD_CAP 1024
#define DISCARD_CAP 4096
/* How long to drain a client after our last response before closing. */
#define LINGER_MS 2000
/* The same for refused (503) connections: shorter, they hold a budget. */
#define REFUSED_LINGER_MS 500
/* Refused connections that may be open at once; past that, new connections
 * over the cap are closed without an answer. */
#define MAX_REFUSING 64
/* During a graceful shutdown, how long a request still being received may
 * take before it is answered 408 (the client retries elsewhere or later). */
#define SHUTDOWN_GRACE_MS 1000
/* Rate limit of repeated warnings (accept errors, refusals). */
#define LOG_INTERVAL_MS 1000

/* Sent as is to connections over max_connections. */
#define REFUSED_BODY "too many connections, retry later\n"
_Static_assert(sizeof REFUSED_BODY - 1 == 34, "fix the Content-Length");
static char refused_response[] =
	"HTTP/1.1 503 Service Unavailable\r\n"
	"Content-Type: text/plain; charset=utf-8\r\n"
	"Retry-After: 1\r\n"
	"Content-Length: 34\r\n"
	"Connection: close\r\n"
	"\r\n" REFUSED_BODY;

enum conn_state {
	CS_ACTIVE = 0,
	CS_LINGER,
	CS_CLOSING,
};

struct conn;

/* One request in flight; see "The request queue" above. */
typedef struct slot {
	struct slot *next;    /* towards the tail (later requests) */
	struct conn *c;
	void *pending;        /* the api's handle while deferred, else NULL */
	int ready;            /* resp holds the answer */
	int is_head;          /* HEAD: send the head only */
	int keep_alive;       /* the request allows keep-alive */
	ft_resp resp;         /* owns its body once ready */
	char head[HEAD_CAP];  /* formatted when the write starts */
} slot;

typedef struct conn {
	uv_tcp_t tcp;         /* data = the conn */
	uv_timer_t timer;     /* data = the conn */
	uv_write_t wreq;
	uv_shutdown_t sreq;
	ft_server *srv;
	struct conn *prev, *next; /* in srv->conns until the memory is freed */
	int refused;          /* a 503-and-close connection */
	int state;            /* enum conn_state */
	int nclosed;          /* close callbacks seen (2 = both handles) */
	int reading;          /* uv_read_start is in effect */
	int eof;              /* the client shut down its side */
	int in_done;          /* no more requests are parsed (see above) */
	/* The request being received. */
	int req_started;      /* bytes of it were fed to the parser */
	uint64_t req_start;   /* uv_now when they were */
	uint64_t nreqs;       /* requests answered on this connection */
	uint64_t idle_since;  /* uv_now when the queue last became empty */
	/* Requests in flight, oldest first. Owned by the conn; freed when
	 * written or in the close callback. */
	slot *sq_head, *sq_tail;
	unsigned nq;          /* slots in the queue (<= MAX_INFLIGHT) */
	unsigned npending;    /* of those, still with the api */
	size_t qbytes;        /* sum of the queued slots' resp.body_len */
	/* The write in flight: the first nwriting slots of the queue (or the
	 * static 503 of a refused connection). */
	int writing;
	unsigned nwriting;
	int close_after;      /* linger and close after this write */
	uint64_t write_progress_at; /* uv_now of the last observed progress */
	size_t wq_last;             /* write queue size seen then */
	uint64_t linger_start;
	/* Input. */
	ft_http http;
	uint8_t *rbuf;        /* RBUF_CAP bytes, allocated on the first read */
	size_t rpos, rlen;    /* unparsed bytes: rbuf[rpos .. rpos+rlen) */
	char peer[64];        /* for log lines */
} conn;

struct ft_server {
	uv_loop_t *loop;
	uv_tcp_t listener;    /* data = the server */
	/* Never started: closing it in ft_server_shutdown guarantees that done
	 * runs from a callback, never inside ft_server_shutdown itself. */
	uv_timer_t aux;
	uv_tcp_t drop;        /* accept-and-close when malloc fails */
	int drop_busy;
	int listener_open;    /* uv_close not yet called on the listener */
	int listener_closed;  /* its close callback ran */
	int aux_closed;
	int start_failed_handles; /* during a failed start: handles to close */
	ft_server_opts opts;  /* opts.host is not kept (NULL) */
	ft_handler h;
	ft_metrics *metrics;
	conn *conns;
	uint64_t nconns;      /* open connections that count toward the cap */
	uint64_t nrefusing;   /* refused connections still open */
	uint64_t nhandles;    /* conns + dropped sockets not yet freed */
	int shutting_down;
	uint64_t shutdown_at; /* uv_now when it began */
	int done_called;
	void (*done)(void *arg);
	void *done_arg;
	int port;
	uint64_t refuse_log_at, refuse_suppressed;
	uint64_t accept_log_at, accept_suppressed;
	uint8_t discard[DISCARD_CAP]; /* lingering reads land here */
};

static void conn_advance(conn *c);
static void conn_close(conn *c);
static void conn_arm_timer(conn *c);

/* ---- Small helpers. */

/* Whether a rate-limited warning may be logged now; counts the others. */
static int log_allowed(ft_server *s, uint64_t *last, uint64_t *suppressed)
{
	uint64_t now = uv_now(s->loop);

	if (*last != 0 && now - *last < LOG_INTERVAL_MS) {
		(*suppressed)++;
		return 0;
	}
	*last = now == 0 ? 1 : now;
	return 1;
}

static void server_maybe_done(ft_server *s)
{
	if (!s->shutting_down || s->done_called || s->nhandles != 0 ||
	    !s->listener_closed || !s->aux_closed) {
		return;
	}
	s->done_called = 1;
	ft_log(FT_LOG_INFO, "server: all connections closed");
	if (s->done != NULL) {
		/* Last statement: done may free the server. */
		s->done(s->done_arg);
	}
}

static void conn_set_peer(conn *c)
{
	struct sockaddr_storage ss;
	int len = (int)sizeof ss;
	char ip[48];

	memcpy(c->peer, "?", 2);
	if (uv_tcp_getpeername(&c->tcp, (struct sockaddr *)&ss, &len) != 0) {
		return;
	}
	if (uv_ip_name((const struct sockaddr *)&ss, ip, sizeof ip) != 0) {
		return;
	}
	int port = 0;
	if (ss.ss_family == AF_INET) {
		port = ntohs(((const struct sockaddr_in *)&ss)->sin_port);
	} else if (ss.ss_family == AF_INET6) {
		port = ntohs(((const struct sockaddr_in6 *)&ss)->sin6_port);
	}
	int n = snprintf(c->peer, sizeof c->peer, "%s:%d", ip, port);
	if (n < 0 || (size_t)n >= sizeof c->peer) {
		memcpy(c->peer, "?", 2); /* cannot happen: 47 + 6 < 64 */
	}
}

/* ---- The request queue. */

/* A new slot at the tail, or NULL when out of memory. */
static slot *conn_slot_push(conn *c)
{
	assert(c->nq < MAX_INFLIGHT);
	slot *sl = calloc(1, sizeof *sl);
	if (sl == NULL) {
		return NULL;
	}
	sl->c = c;
	if (c->sq_tail != NULL) {
		c->sq_tail->next = sl;
	} else {
		c->sq_head = sl;
	}
	c->sq_tail = sl;
	c->nq++;
	return sl;
}

/* Take the head slot off the queue and free it (its answer is written). */
static void conn_slot_pop(conn *c)
{
	slot *sl = c->sq_head;

	assert(sl != NULL && sl->pending == NULL);
	c->sq_head = sl->next;
	if (c->sq_head == NULL) {
		c->sq_tail = NULL;
	}
	c->nq--;
	assert(c->qbytes >= sl->resp.body_len);
	c->qbytes -= sl->resp.body_len;
	ft_resp_free(&sl->resp);
	free(sl);
}

/* Whether no more requests may be parsed for now (back-pressure). */
static int conn_queue_full(const conn *c)
{
	return c->nq >= MAX_INFLIGHT || c->qbytes >= MAX_QUEUED_BYTES;
}

/* Tell the api to forget every deferred request (each exactly once: the
 * handle is dropped as it is cancelled). The slots stay until freed. */
static void conn_cancel_pending(conn *c)
{
	for (slot *sl = c->sq_head; sl != NULL; sl = sl->next) {
		if (sl->pending != NULL) {
			c->srv->h.cancel(c->srv->h.ctx, sl->pending);
			sl->pending = NULL;
			c->npending--;
		}
	}
	assert(c->npending == 0);
}

/* ---- Reading. */

static void conn_alloc_cb(uv_handle_t *h, size_t suggested, uv_buf_t *buf)
{
	conn *c = h->data;

	(void)suggested;
	if (c->state == CS_LINGER) {
		/* Everything read now is thrown away (see LINGER above). */
		*buf = uv_buf_init((char *)c->srv->discard, DISCARD_CAP);
		return;
	}
	if (c->rbuf == NULL) {
		c->rbuf = malloc(RBUF_CAP);
		if (c->rbuf == NULL) {
			/* read_cb gets UV_ENOBUFS and closes. */
			*buf = uv_buf_init(NULL, 0);
			return;
		}
	}
	if (c->rlen == 0) {
		c->rpos = 0;
	} else if (c->rpos + c->rlen == RBUF_CAP && c->rpos > 0) {
		memmove(c->rbuf, c->rbuf + c->rpos, c->rlen);
		c->rpos = 0;
	}
	size_t room = RBUF_CAP - c->rpos - c->rlen;
	*buf = uv_buf_init((char *)c->rbuf + c->rpos + c->rlen,
			   (unsigned int)room);
}

static void conn_read_cb(uv_stream_t *st, ssize_t nread, const uv_buf_t *buf);

static int conn_read_start(conn *c)
{
	if (c->reading) {
		return 0;
	}
	int r = uv_read_start((uv_stream_t *)&c->tcp, conn_alloc_cb,
			      conn_read_cb);
	if (r != 0) {
		ft_log(FT_LOG_DEBUG, "conn %s: read start: %s", c->peer,
		       uv_strerror(r));
		return r;
	}
	c->reading = 1;
	return 0;
}

static void conn_read_stop(conn *c)
{
	if (!c->reading) {
		return;
	}
	/* uv_read_stop cannot fail on a TCP handle (libuv 1.x). */
	(void)uv_read_stop((uv_stream_t *)&c->tcp);
	c->reading = 0;
}

static void conn_read_cb(uv_stream_t *st, ssize_t nread, const uv_buf_t *buf)
{
	conn *c = st->data;

	(void)buf;
	if (nread == 0) {
		return; /* EAGAIN */
	}
	switch (c->state) {
	case CS_CLOSING:
		return;
	case CS_LINGER:
		if (nread < 0) {
			conn_close(c); /* EOF or reset: the client is done */
		}
		return;
	default:
		break;
	}
	if (nread == UV_ENOBUFS) {
		if (c->rbuf == NULL) {
			ft_log(FT_LOG_ERROR, "conn %s: out of memory", c->peer);
			conn_close(c);
			return;
		}
		/* Full buffer: leave the rest in the kernel. */
		conn_read_stop(c);
		return;
	}
	if (nread < 0) {
		conn_read_stop(c);
		if (nread != UV_EOF) {
			ft_log(FT_LOG_DEBUG, "conn %s: read: %s", c->peer,
			       uv_strerror((int)nread));
			conn_close(c);
			return;
		}
		c->eof = 1;
		if (c->npending > 0) {
			/* As nginx does by default: a client that closes
			 * while waiting is gone. The requests' effects (if
			 * any) still happen, only their answers are dropped. */
			ft_log(FT_LOG_DEBUG,
			       "conn %s: client closed with %u requests pending",
			       c->peer, c->npending);
			conn_close(c);
			return;
		}
		/* Answer what was received before the EOF. */
		conn_advance(c);
		return;
	}
	c->rlen += (size_t)nread;
	conn_advance(c);
}

/* ---- Timers. */

static uint64_t add_ms(uint64_t t, uint64_t ms)
{
	return UINT64_MAX - t < ms ? UINT64_MAX : t + ms;
}

/* The earlier of two deadlines, where 0 means none. */
static uint64_t min_deadline(uint64_t a, uint64_t b)
{
	if (a == 0) {
		return b;
	}
	return b != 0 && b < a ? b : a;
}

/*
 * Whether the head of the current request is complete and its body is
 * still arriving. A request without a body is complete with its head, and
 * is then dispatched at once, so this matters only for a body, whose
 * length the adapter records (content_length, 0 until the head is checked
 * and reset between requests) exactly when it accepts the head.
 */
static int conn_head_complete(const conn *c)
{
	return ft_http_in_progress(&c->http) && c->http.content_length > 0;
}

/*
 * The deadline of the input side, or 0 for none. A timeout of 0 means "no
 * limit".
 *   Nothing received, nothing in flight: header_timeout on a fresh
 *     connection (a client must start its first request soon),
 *     idle_timeout between requests.
 *   Nothing received, requests in flight: none (the sequencer bounds the
 *     api's work; the write timeout guards the answers).
 *   A request started: header_timeout from its first byte until the head
 *     is complete, request_timeout for head and body. The deadline is
 *     never pushed back by more bytes, which is what stops slowloris.
 *     While shutting down, a request being received gets at most
 *     SHUTDOWN_GRACE_MS more.
 */
static uint64_t conn_recv_deadline(const conn *c)
{
	const ft_server_opts *o = &c->srv->opts;
	uint64_t d = 0;

	if (c->in_done) {
		return 0;
	}
	if (!c->req_started) {
		if (c->sq_head != NULL || c->writing) {
			return 0;
		}
		uint64_t to = c->nreqs == 0 ? o->header_timeout_ms
					    : o->idle_timeout_ms;
		return to != 0 ? add_ms(c->idle_since, to) : 0;
	}
	if (o->request_timeout_ms != 0) {
		d = add_ms(c->req_start, o->request_timeout_ms);
	}
	if (o->header_timeout_ms != 0 && !conn_head_complete(c)) {
		d = min_deadline(d, add_ms(c->req_start, o->header_timeout_ms));
	}
	if (c->srv->shutting_down) {
		d = min_deadline(d, add_ms(c->srv->shutdown_at,
					   SHUTDOWN_GRACE_MS));
	}
	return d;
}

/* The deadline of the write in flight: write_timeout since its last
 * progress (and at most write_timeout after the shutdown began). */
static uint64_t conn_write_deadline(const conn *c)
{
	const ft_server_opts *o = &c->srv->opts;

	if (!c->writing || o->write_timeout_ms == 0) {
		return 0;
	}
	uint64_t d = add_ms(c->write_progress_at, o->write_timeout_ms);
	/* A reader slow enough to keep making progress must still not hold
	 * the shutdown up for ever. */
	if (c->srv->shutting_down) {
		d = min_deadline(d, add_ms(c->srv->shutdown_at,
					   o->write_timeout_ms));
	}
	return d;
}

/* The earliest deadline of the connection, or 0 for none. LINGER:
 * LINGER_MS (shorter for a refused connection). */
static uint64_t conn_deadline(const conn *c)
{
	switch (c->state) {
	case CS_ACTIVE:
		return min_deadline(conn_recv_deadline(c),
				    conn_write_deadline(c));
	case CS_LINGER:
		return add_ms(c->linger_start,
			      c->refused ? REFUSED_LINGER_MS : LINGER_MS);
	case CS_CLOSING:
	default:
		return 0;
	}
}

static void conn_timer_cb(uv_timer_t *t);

static void conn_arm_timer(conn *c)
{
	if (c->state == CS_CLOSING) {
		return;
	}
	uint64_t d = conn_deadline(c);
	if (d == 0) {
		/* uv_timer_stop cannot fail. */
		(void)uv_timer_stop(&c->timer);
		return;
	}
	uint64_t now = uv_now(c->srv->loop);
	uint64_t wait = d > now ? d - now : 0;
	int r = uv_timer_start(&c->timer, conn_timer_cb, wait, 0);
	if (r != 0) {
		/* Only fails on a closing handle; never leave a connection
		 * without its timeout. */
		ft_log(FT_LOG_ERROR, "conn %s: timer: %s", c->peer,
		       uv_strerror(r));
		conn_close(c);
	}
}

/* ---- Writing responses. */

static void conn_linger(conn *c);

static void conn_write_cb(uv_write_t *req, int status)
{
	conn *c = req->handle->data;

	if (c->state == CS_CLOSING) {
		return; /* cancelled by uv_close; memory goes in close_cb */
	}
	if (status != 0) {
		ft_log(FT_LOG_DEBUG, "conn %s: write: %s", c->peer,
		       uv_strerror(status));
		conn_close(c);
		return;
	}
	c->writing = 0;
	for (unsigned i = 0; i < c->nwriting; i++) {
		conn_slot_pop(c);
		c->nreqs++;
	}
	c->nwriting = 0;
	if (c->close_after) {
		conn_linger(c);
		return;
	}
	if (c->sq_head == NULL) {
		c->idle_since = uv_now(c->srv->loop);
	}
	/* Keep-alive: on to the next answers and requests. */
	conn_advance(c);
}

/* Start the write of bufs (nwriting and close_after set by the caller). */
static void conn_write(conn *c, const uv_buf_t *bufs, unsigned nbufs)
{
	c->writing = 1;
	c->write_progress_at = uv_now(c->srv->loop);
	int r = uv_write(&c->wreq, (uv_stream_t *)&c->tcp, bufs, nbufs,
			 conn_write_cb);
	if (r != 0) {
		ft_log(FT_LOG_DEBUG, "conn %s: write: %s", c->peer,
		       uv_strerror(r));
		conn_close(c);
		return;
	}
	c->wq_last = uv_stream_get_write_queue_size((uv_stream_t *)&c->tcp);
	conn_arm_timer(c);
}

/*
 * Format the head of a ready slot's answer into sl->head and count it in
 * the metrics. keep: whether it says keep-alive. Returns the head length,
 * or 0 when it cannot be sent (then the connection must close).
 */
static size_t conn_format(conn *c, slot *sl, int keep)
{
	ft_server *s = c->srv;
	const ft_resp *resp = &sl->resp;
	const char *ctype = resp->content_type != NULL
				    ? resp->content_type
				    : "text/plain; charset=utf-8";
	const char *extra =
		resp->extra_header[0] != '\0' ? resp->extra_header : NULL;

	ft_metrics_request(s->metrics, resp->route, resp->status);
	ft_log(FT_LOG_DEBUG, "conn %s: %d %s%s", c->peer, resp->status,
	       ft_route_name(resp->route), keep ? "" : " (close)");
	if (resp->body_len > UINT_MAX) {
		ft_log(FT_LOG_ERROR, "conn %s: response body too large",
		       c->peer);
		return 0;
	}
	/* HEAD gets the Content-Length of the GET answer, but no body. */
	size_t n = ft_http_format_head(sl->head, sizeof sl->head, resp->status,
				       ctype, resp->body_len, keep,
				       resp->cache_control, extra);
	if (n == 0) {
		ft_log(FT_LOG_ERROR, "conn %s: response head does not fit",
		       c->peer);
	}
	return n;
}

/*
 * Write the ready answers at the head of the queue (no write may be in
 * flight). An answer says keep-alive unless its request or the api asked
 * to close, or it is the last one the connection will send (input done,
 * nothing queued after it); the write ends with the first answer that
 * closes.
 */
static void conn_write_ready(conn *c)
{
	uv_buf_t bufs[2 * WRITE_BATCH];
	unsigned nbufs = 0, n = 0;
	int close_after = 0;

	assert(!c->writing);
	for (slot *sl = c->sq_head; sl != NULL && sl->ready && n < WRITE_BATCH;
	     sl = sl->next) {
		int keep = sl->keep_alive && !sl->resp.close &&
			   !(c->in_done && sl->next == NULL);
		size_t hl = conn_format(c, sl, keep);
		if (hl == 0) {
			conn_close(c);
			return;
		}
		bufs[nbufs++] = uv_buf_init(sl->head, (unsigned int)hl);
		if (!sl->is_head && sl->resp.body_len > 0) {
			bufs[nbufs++] = uv_buf_init(
				(char *)sl->resp.body,
				(unsigned int)sl->resp.body_len);
		}
		n++;
		if (!keep) {
			close_after = 1;
			break;
		}
	}
	if (n == 0) {
		return;
	}
	c->nwriting = n;
	c->close_after = close_after;
	conn_write(c, bufs, nbufs);
}

/*
 * Queue an answer made here (parse errors, timeouts, internal errors): it
 * always closes, so input is done. 0, or -1 when out of memory (then the
 * connection is closed).
 */
static int conn_queue_error(conn *c, int status, const char *reason)
{
	slot *sl = conn_slot_push(c);

	c->in_done = 1;
	if (sl == NULL) {
		ft_log(FT_LOG_ERROR, "conn %s: out of memory", c->peer);
		conn_close(c);
		return -1;
	}
	if (ft_resp_error(&sl->resp, status, reason) != 0) {
		ft_log(FT_LOG_ERROR, "conn %s: out of memory", c->peer);
	}
	sl->resp.route = FT_ROUTE_OTHER;
	sl->resp.close = 1;
	sl->ready = 1;
	c->qbytes += sl->resp.body_len;
	return 0;
}

/* ft_api_done_fn: the answer to a deferred request; conn_ctx is its slot. */
static void conn_api_done(void *conn_ctx, ft_resp *resp)
{
	slot *sl = conn_ctx;
	conn *c = sl->c;

	/* A connection that lingers or closes cancels its pending requests
	 * first, so the api can only answer a slot that is waiting for it. */
	assert(c->state == CS_ACTIVE && sl->pending != NULL);
	if (c->state != CS_ACTIVE || sl->pending == NULL) {
		ft_resp_free(resp);
		return;
	}
	sl->pending = NULL;
	c->npending--;
	sl->resp = *resp;
	memset(resp, 0, sizeof *resp);
	sl->ready = 1;
	c->qbytes += sl->resp.body_len;
	if (sl->resp.close) {
		/* The connection ends with this answer: parse no more. */
		c->in_done = 1;
	}
	conn_advance(c);
}

/* ---- Requests. */

/* Hand the parsed request to the api; its answer goes into a new slot. */
static void conn_dispatch(conn *c)
{
	ft_server *s = c->srv;
	const ft_http_req *req = &c->http.req;
	void *pending = NULL;
	slot *sl = conn_slot_push(c);

	if (sl == NULL) {
		ft_log(FT_LOG_ERROR, "conn %s: out of memory", c->peer);
		conn_close(c);
		return;
	}
	sl->is_head = req->method == FT_HTTP_HEAD;
	sl->keep_alive = req->keep_alive;
	/* The api never calls done from inside ft_api_handle (api.h), so the
	 * slot is complete before its answer can arrive. */
	int r = s->h.handle(s->h.ctx, req, &sl->resp, conn_api_done, sl,
			    &pending);
	if (r == 1) {
		/* Without the handle we could not cancel, and done would
		 * later find freed memory. */
		assert(pending != NULL);
		/* *resp is initialised even when deferred; release whatever
		 * it holds, the answer comes to conn_api_done. */
		ft_resp_free(&sl->resp);
		memset(&sl->resp, 0, sizeof sl->resp);
		sl->pending = pending;
		c->npending++;
	} else if (r != 0) {
		ft_log(FT_LOG_ERROR, "conn %s: api: unexpected result %d",
		       c->peer, r);
		ft_resp_free(&sl->resp);
		memset(&sl->resp, 0, sizeof sl->resp);
		if (ft_resp_error(&sl->resp, 500, "internal error") != 0) {
			ft_log(FT_LOG_ERROR, "conn %s: out of memory",
			       c->peer);
		}
		sl->resp.route = FT_ROUTE_OTHER;
		sl->resp.close = 1;
		sl->ready = 1;
	} else {
		sl->ready = 1;
	}
	c->qbytes += sl->resp.body_len;
	/* The api copied what it keeps: the parser may move on. */
	ft_http_next(&c->http);
	c->req_started = 0;
	if (!sl->keep_alive || (sl->ready && sl->resp.close) ||
	    s->shutting_down) {
		/* This request ends the pipeline. */
		c->in_done = 1;
	}
}

/*
 * Parse buffered bytes while input is open and the queue has room,
 * dispatching each complete request; at EOF, with everything parsed, end
 * the input (a request cut short is an error the adapter reports for
 * len == 0).
 */
static void conn_pump(conn *c)
{
	ft_server *s = c->srv;

	for (;;) {
		if (s->shutting_down && !ft_http_in_progress(&c->http)) {
			/* Between requests while shutting down. */
			c->in_done = 1;
		}
		if (c->in_done || conn_queue_full(c) || c->rlen == 0) {
			break;
		}
		if (!c->req_started) {
			c->req_started = 1;
			c->req_start = uv_now(s->loop);
		}
		size_t used = 0;
		int ev = ft_http_feed(&c->http, c->rbuf + c->rpos, c->rlen,
				      &used);
		if (used > c->rlen) {
			ft_log(FT_LOG_ERROR, "conn %s: parser overran input",
			       c->peer);
			conn_close(c);
			return;
		}
		c->rpos += used;
		c->rlen -= used;
		switch (ev) {
		case FT_HTTP_NEED_MORE:
			if (used == 0) {
				/* The adapter consumes everything while it
				 * needs more; anything else would spin. */
				ft_log(FT_LOG_ERROR,
				       "conn %s: parser made no progress",
				       c->peer);
				conn_close(c);
				return;
			}
			break;
		case FT_HTTP_REQUEST:
			conn_dispatch(c);
			if (c->state != CS_ACTIVE) {
				return;
			}
			break;
		case FT_HTTP_ERROR: {
			const char *why = c->http.err_reason != NULL
						  ? c->http.err_reason
						  : "bad request";
			char safe[128];
			ft_log(FT_LOG_INFO, "conn %s: bad request: %d %s",
			       c->peer, c->http.err_status,
			       ft_log_sanitize(safe, sizeof safe, why,
					       strlen(why)));
			(void)conn_queue_error(c, c->http.err_status, why);
			return;
		}
		default:
			ft_log(FT_LOG_ERROR, "conn %s: parser result %d",
			       c->peer, ev);
			conn_close(c);
			return;
		}
	}
	if (c->rlen == 0) {
		c->rpos = 0;
	}
	if (!c->eof || c->in_done || c->rlen != 0 || conn_queue_full(c)) {
		return;
	}
	/* The client sent all it will send. */
	size_t used = 0;
	int started = ft_http_in_progress(&c->http);
	int ev = ft_http_feed(&c->http, (const uint8_t *)"", 0, &used);
	if (ev == FT_HTTP_REQUEST) {
		conn_dispatch(c);
	} else if (ev == FT_HTTP_ERROR && started) {
		(void)conn_queue_error(c, c->http.err_status,
				       c->http.err_reason != NULL
					       ? c->http.err_reason
					       : "bad request");
	}
	c->in_done = 1;
}

/*
 * Move the connection on after any event: parse what may be parsed, start
 * writing the answers that are ready, close once everything is answered
 * and nothing more will come, keep reading while the buffer has room, and
 * re-arm the timer.
 */
static void conn_advance(conn *c)
{
	if (c->state != CS_ACTIVE) {
		return;
	}
	conn_pump(c);
	if (c->state != CS_ACTIVE) {
		return;
	}
	if (!c->writing) {
		conn_write_ready(c);
		if (c->state != CS_ACTIVE) {
			return;
		}
	}
	if (!c->writing && c->sq_head == NULL && c->in_done) {
		/* The last answer said keep-alive (EOF or shutdown came
		 * after it): an idle keep-alive connection just closes. */
		conn_close(c);
		return;
	}
	if (!c->eof) {
		if (c->rlen < RBUF_CAP) {
			if (conn_read_start(c) != 0) {
				conn_close(c);
				return;
			}
		} else {
			/* Full: the rest waits in the kernel. */
			conn_read_stop(c);
		}
	}
	conn_arm_timer(c);
}

static void conn_timer_cb(uv_timer_t *t)
{
	conn *c = t->data;
	ft_server *s = c->srv;
	uint64_t now = uv_now(s->loop);
	uint64_t d;

	switch (c->state) {
	case CS_ACTIVE:
		break;
	case CS_LINGER:
		conn_close(c);
		return;
	case CS_CLOSING:
	default:
		return;
	}
	if (c->writing) {
		size_t q = uv_stream_get_write_queue_size(
			(uv_stream_t *)&c->tcp);
		if (q < c->wq_last) {
			/* The client is reading, just slowly: the timeout is
			 * for a stalled write, not a long one. */
			c->wq_last = q;
			c->write_progress_at = now;
		}
		d = conn_write_deadline(c);
		if (d != 0 && now >= d) {
			ft_log(FT_LOG_INFO, "conn %s: write timeout", c->peer);
			conn_close(c);
			return;
		}
	}
	d = conn_recv_deadline(c);
	if (d != 0 && now >= d) {
		if (c->req_started && ft_http_in_progress(&c->http)) {
			ft_log(FT_LOG_INFO, "conn %s: request timeout (408)",
			       c->peer);
			if (conn_queue_error(c, 408, "request timeout") != 0) {
				return;
			}
			conn_advance(c);
			return;
		}
		if (c->sq_head == NULL && !c->writing) {
			ft_log(FT_LOG_DEBUG, "conn %s: idle timeout", c->peer);
			conn_close(c);
			return;
		}
		/* Bytes between requests (no request head yet) while others
		 * are in flight: nothing is being received after all. */
		c->req_started = 0;
	}
	conn_arm_timer(c); /* e.g. the head completed, or the write moved */
}

/* ---- Closing. */

static void conn_close_cb(uv_handle_t *h)
{
	conn *c = h->data;
	ft_server *s = c->srv;

	if (++c->nclosed < 2) {
		return;
	}
	/* Both handles are closed, so no callback can refer to c again: an
	 * in-flight write or shutdown was cancelled before this, and every
	 * deferred request was cancelled in conn_close. */
	if (c->prev != NULL) {
		c->prev->next = c->next;
	} else {
		s->conns = c->next;
	}
	if (c->next != NULL) {
		c->next->prev = c->prev;
	}
	while (c->sq_head != NULL) {
		conn_slot_pop(c);
	}
	ft_http_free(&c->http);
	free(c->rbuf);
	if (c->refused) {
		s->nrefusing--;
	} else {
		s->nconns--;
		ft_metrics_conn_close(s->metrics);
	}
	ft_log(FT_LOG_DEBUG, "conn %s: closed", c->peer);
	free(c);
	s->nhandles--;
	server_maybe_done(s);
}

/* Close now (no more bytes are sent). Cancels every pending api request. */
static void conn_close(conn *c)
{
	if (c->state == CS_CLOSING) {
		return;
	}
	conn_cancel_pending(c);
	c->state = CS_CLOSING;
	c->reading = 0;
	uv_close((uv_handle_t *)&c->tcp, conn_close_cb);
	uv_close((uv_handle_t *)&c->timer, conn_close_cb);
}

static void conn_shutdown_cb(uv_shutdown_t *req, int status)
{
	conn *c = req->handle->data;

	if (c->state == CS_CLOSING) {
		return;
	}
	if (status != 0 || c->eof) {
		conn_close(c);
	}
}

/* After the last response: send FIN, drain the client, then close.
 * Requests queued after that response are dropped (cancelled). */
static void conn_linger(conn *c)
{
	conn_cancel_pending(c);
	c->state = CS_LINGER;
	c->linger_start = uv_now(c->srv->loop);
	c->rlen = 0;
	int r = uv_shutdown(&c->sreq, (uv_stream_t *)&c->tcp,
			    conn_shutdown_cb);
	if (r != 0) {
		conn_close(c);
		return;
	}
	if (!c->eof && conn_read_start(c) != 0) {
		conn_close(c);
		return;
	}
	conn_arm_timer(c);
}

/* ---- Accepting. */

static void drop_close_cb(uv_handle_t *h)
{
	ft_server *s = h->data;

	s->drop_busy = 0;
	s->nhandles--;
	server_maybe_done(s);
}

static void dropped_close_cb(uv_handle_t *h)
{
	ft_server *s = h->data;

	free(h);
	s->nhandles--;
	server_maybe_done(s);
}

/*
 * Accept a connection and close it at once. libuv stops watching the
 * listener until a pending connection is accepted, so even when nothing
 * can be allocated we must take it off the queue.
 */
static void accept_and_drop(ft_server *s)
{
	uv_tcp_t *t = malloc(sizeof *t);
	uv_close_cb cb = dropped_close_cb;

	if (t == NULL) {
		if (s->drop_busy) {
			ft_log(FT_LOG_ERROR, "server: out of memory; "
					     "connection left queued");
			return;
		}
		t = &s->drop;
		cb = drop_close_cb;
		s->drop_busy = 1;
	}
	int r = uv_tcp_init(s->loop, t);
	if (r != 0) {
		ft_log(FT_LOG_ERROR, "server: tcp init: %s", uv_strerror(r));
		if (t == &s->drop) {
			s->drop_busy = 0;
		} else {
			free(t);
		}
		return;
	}
	t->data = s;
	s->nhandles++;
	r = uv_accept((uv_stream_t *)&s->listener, (uv_stream_t *)t);
	if (r != 0) {
		ft_log(FT_LOG_DEBUG, "server: accept: %s", uv_strerror(r));
	}
	uv_close((uv_handle_t *)t, cb);
}

static void accept_conn(ft_server *s, int refused)
{
	conn *c = calloc(1, sizeof *c);
	if (c == NULL) {
		accept_and_drop(s);
		return;
	}
	int r = uv_tcp_init(s->loop, &c->tcp);
	if (r != 0) {
		ft_log(FT_LOG_ERROR, "server: tcp init: %s", uv_strerror(r));
		free(c);
		accept_and_drop(s);
		return;
	}
	/* uv_timer_init cannot fail. */
	(void)uv_timer_init(s->loop, &c->timer);
	c->tcp.data = c;
	c->timer.data = c;
	c->srv = s;
	c->refused = refused;
	c->state = CS_ACTIVE;
	c->idle_since = uv_now(s->loop);
	memcpy(c->peer, "?", 2);
	ft_http_init(&c->http, &s->opts.limits);
	c->next = s->conns;
	if (s->conns != NULL) {
		s->conns->prev = c;
	}
	s->conns = c;
	s->nhandles++;
	if (refused) {
		s->nrefusing++;
	} else {
		s->nconns++;
		ft_metrics_conn_open(s->metrics);
	}

	r = uv_accept((uv_stream_t *)&s->listener, (uv_stream_t *)&c->tcp);
	if (r != 0) {
		ft_log(FT_LOG_DEBUG, "server: accept: %s", uv_strerror(r));
		conn_close(c);
		return;
	}
	conn_set_peer(c);
	if (refused) {
		uv_buf_t b = uv_buf_init(
			refused_response,
			(unsigned int)(sizeof refused_response - 1));
		c->close_after = 1;
		c->in_done = 1; /* reads nothing until it lingers */
		conn_write(c, &b, 1);
		return;
	}
	r = uv_tcp_nodelay(&c->tcp, 1);
	if (r != 0) {
		/* Only latency suffers. */
		ft_log(FT_LOG_DEBUG, "conn %s: TCP_NODELAY: %s", c->peer,
		       uv_strerror(r));
	}
	ft_log(FT_LOG_DEBUG, "conn %s: accepted", c->peer);
	if (conn_read_start(c) != 0) {
		conn_close(c);
		return;
	}
	conn_arm_timer(c);
}

static void on_connection(uv_stream_t *l, int status)
{
	ft_server *s = l->data;

	if (status != 0) {
		/* EMFILE/ENFILE: libuv has already accepted and closed the
		 * queued connections with its reserved descriptor, so this
		 * does not spin; we only report it, at most once a second. */
		if (log_allowed(s, &s->accept_log_at, &s->accept_suppressed)) {
			ft_log(FT_LOG_ERROR,
			       "server: accept: %s (%llu more suppressed)",
			       uv_strerror(status),
			       (unsigned long long)s->accept_suppressed);
			s->accept_suppressed = 0;
		}
		return;
	}
	if (s->nconns < s->opts.max_connections && !s->shutting_down) {
		accept_conn(s, 0);
		return;
	}
	ft_metrics_conn_refused(s->metrics);
	if (log_allowed(s, &s->refuse_log_at, &s->refuse_suppressed)) {
		ft_log(FT_LOG_WARN,
		       "server: %llu connections open (the maximum); refusing "
		       "(%llu more refused since the last message)",
		       (unsigned long long)s->nconns,
		       (unsigned long long)s->refuse_suppressed);
		s->refuse_suppressed = 0;
	}
	if (s->nrefusing < MAX_REFUSING && !s->shutting_down) {
		accept_conn(s, 1);
	} else {
		accept_and_drop(s);
	}
}

/* ---- Public API. */

static void start_fail_close_cb(uv_handle_t *h)
{
	ft_server *s = h->data;

	if (--s->start_failed_handles == 0) {
		free(s);
	}
}

static void listener_close_cb(uv_handle_t *h)
{
	ft_server *s = h->data;

	s->listener_closed = 1;
	server_maybe_done(s);
}

static void aux_close_cb(uv_handle_t *h)
{
	ft_server *s = h->data;

	s->aux_closed = 1;
	server_maybe_done(s);
}

static int api_handle(void *ctx, const ft_http_req *req, ft_resp *resp,
		      ft_api_done_fn done, void *conn_ctx, void **pending)
{
	return ft_api_handle(ctx, req, resp, done, conn_ctx, pending);
}

static void api_cancel(void *ctx, void *pending)
{
	ft_api_cancel(ctx, pending);
}

int ft_server_start(uv_loop_t *loop, const ft_server_opts *opts,
		    ft_api *api, ft_metrics *metrics, ft_server **out)
{
	ft_handler h = {api_handle, api_cancel, api};

	if (api == NULL) {
		if (out != NULL) {
			*out = NULL;
		}
		ft_log(FT_LOG_ERROR, "server: invalid options");
		return FT_EIO;
	}
	return ft_server_start_with(loop, opts, &h, metrics, out);
}

int ft_server_start_with(uv_loop_t *loop, const ft_server_opts *opts,
			 const ft_handler *h, ft_metrics *metrics,
			 ft_server **out)
{
	struct sockaddr_storage addr;
	int r;

	if (out != NULL) {
		*out = NULL;
	}
	if (loop == NULL || opts == NULL || opts->host == NULL ||
	    h == NULL || h->handle == NULL || h->cancel == NULL ||
	    out == NULL || opts->port < 0 ||
	    opts->port > 65535 || opts->max_connections == 0) {
		ft_log(FT_LOG_ERROR, "server: invalid options");
		return FT_EIO;
	}
	memset(&addr, 0, sizeof addr);
	if (uv_ip4_addr(opts->host, opts->port,
			(struct sockaddr_in *)&addr) != 0 &&
	    uv_ip6_addr(opts->host, opts->port,
			(struct sockaddr_in6 *)&addr) != 0) {
		ft_log(FT_LOG_ERROR, "server: not a numeric address: %s",
		       opts->host);
		return FT_EIO;
	}

	ft_server *s = calloc(1, sizeof *s);
	if (s == NULL) {
		ft_log(FT_LOG_ERROR, "server: out of memory");
		return FT_EIO;
	}
	s->loop = loop;
	s->opts = *opts;
	s->opts.host = NULL;
	if (s->opts.limits.max_header_bytes == 0) {
		ft_http_limits_default(&s->opts.limits);
	}
	s->h = *h;
	s->metrics = metrics;

	r = uv_tcp_init(loop, &s->listener);
	if (r != 0) {
		ft_log(FT_LOG_ERROR, "server: tcp init: %s", uv_strerror(r));
		free(s);
		return FT_EIO;
	}
	s->listener.data = s;
	(void)uv_timer_init(loop, &s->aux); /* cannot fail */
	s->aux.data = s;

	r = uv_tcp_bind(&s->listener, (const struct sockaddr *)&addr, 0);
	if (r == 0) {
		r = uv_listen((uv_stream_t *)&s->listener, LISTEN_BACKLOG,
			      on_connection);
	}
	if (r == 0) {
		int len = (int)sizeof addr;
		r = uv_tcp_getsockname(&s->listener, (struct sockaddr *)&addr,
				       &len);
	}
	if (r != 0) {
		ft_log(FT_LOG_ERROR, "server: cannot listen on %s:%d: %s",
		       opts->host, opts->port, uv_strerror(r));
		/* The handles are freed in their close callbacks, which run
		 * the next time the loop runs. */
		s->start_failed_handles = 2;
		uv_close((uv_handle_t *)&s->listener, start_fail_close_cb);
		uv_close((uv_handle_t *)&s->aux, start_fail_close_cb);
		return FT_EIO;
	}
	if (addr.ss_family == AF_INET6) {
		s->port = ntohs(((struct sockaddr_in6 *)&addr)->sin6_port);
	} else {
		s->port = ntohs(((struct sockaddr_in *)&addr)->sin_port);
	}
	s->listener_open = 1;
	ft_log(FT_LOG_INFO, "server: listening on %s port %d", opts->host,
	       s->port);
	*out = s;
	return 0;
}

int ft_server_port(const ft_server *s)
{
	return s->port;
}

uint64_t ft_server_connections(const ft_server *s)
{
	return s->nconns;
}

void ft_server_stop_accepting(ft_server *s)
{
	if (!s->listener_open) {
		return;
	}
	s->listener_open = 0;
	uv_close((uv_handle_t *)&s->listener, listener_close_cb);
	ft_log(FT_LOG_INFO, "server: no longer accepting connections");
}

void ft_server_shutdown(ft_server *s, void (*done)(void *arg), void *arg)
{
	if (s->shutting_down) {
		return;
	}
	s->shutting_down = 1;
	s->shutdown_at = uv_now(s->loop);
	s->done = done;
	s->done_arg = arg;
	ft_server_stop_accepting(s);
	ft_log(FT_LOG_INFO, "server: shutting down, %llu connections open",
	       (unsigned long long)s->nconns);
	/* conn_close unlinks nothing (that happens in the close callback),
	 * so walking the list while closing is safe. */
	for (conn *c = s->conns; c != NULL; c = c->next) {
		if (c->refused || c->state != CS_ACTIVE) {
			continue; /* closes after its answer */
		}
		/* Parse no more requests, except one being received, which
		 * gets SHUTDOWN_GRACE_MS; those in flight are answered, the
		 * last with Connection: close. */
		if (!ft_http_in_progress(&c->http)) {
			c->in_done = 1;
		}
		if (c->in_done && c->sq_head == NULL && !c->writing) {
			conn_close(c); /* idle */
			continue;
		}
		/* Receiving a request, or writing: shorter deadlines now. */
		conn_arm_timer(c);
	}
	uv_close((uv_handle_t *)&s->aux, aux_close_cb);
}

void ft_server_free(ft_server *s)
{
	if (s == NULL) {
		return;
	}
	/* Freeing with handles still open would leave libuv pointing into
	 * freed memory. */
	assert(s->listener_closed && s->aux_closed && s->nhandles == 0);
	free(s);
}
