/*
 * logd/server.h - the network layer of ftlogd: libuv TCP listener and
 * HTTP/1.1 connections with keep-alive and pipelining (internal).
 *
 * Each connection owns an ft_http parser and a bounded read buffer. It
 * keeps parsing pipelined requests while earlier ones are deferred (POST
 * /add waiting for its batch), up to FT_SERVER_MAX_INFLIGHT requests in
 * flight; at that cap it stops parsing and reading (so a pipelining or
 * slow-reading client cannot make the server buffer or queue without
 * bound) until answers drain. Answers go out strictly in request order.
 * Timeouts: the whole request head must arrive within header_timeout, head
 * + body within request_timeout, a keep-alive connection with nothing in
 * flight may idle for idle_timeout, a response write may stall for
 * write_timeout; the server then closes (408 where a request was
 * started). Over max_connections, a new connection gets "503 Service
 * Unavailable" with Retry-After and is closed. A connection's memory is
 * freed only in its uv_close callback.
 */
#ifndef FTLOG_LOGD_SERVER_H
#define FTLOG_LOGD_SERVER_H

#include <stdint.h>

#include <uv.h>

#include "logd/api.h"
#include "logd/http.h"
#include "logd/metrics.h"

/* Requests one connection may have in flight (received, not yet answered):
 * the api sees at most this many deferred requests per connection. */
#define FT_SERVER_MAX_INFLIGHT 128

typedef struct ft_server_opts {
	const char *host;  /* numeric IPv4 or IPv6 address */
	int port;          /* 0 = ephemeral */
	uint64_t max_connections;
	uint64_t header_timeout_ms;
	uint64_t request_timeout_ms;
	uint64_t idle_timeout_ms;
	uint64_t write_timeout_ms;
	ft_http_limits limits;
} ft_server_opts;

typedef struct ft_server ft_server;

/*
 * Bind and listen. 0, or a negative code (FT_EIO, reason logged). On
 * failure the handles it opened are already closing: run the loop once
 * (uv_run) before uv_loop_close. A timeout of 0 means no limit; a new
 * connection must start its first request within header_timeout. At most
 * a fixed 16 KiB of unparsed input is buffered per connection (beyond
 * that, reading stops until requests are parsed). A client that closes
 * its side while requests are deferred is taken as gone: every one of
 * them is cancelled (ft_api_cancel, once each). A request that asks to
 * close (Connection: close, HTTP/1.0 without keep-alive, or an answer
 * with resp.close) or a parse error ends the pipeline: nothing after it is
 * parsed, everything before it is answered, then the connection closes.
 * Once shutdown begins, a request still being received gets at most 1 s
 * more (then 408), and a response write at most write_timeout.
 */
int ft_server_start(uv_loop_t *loop, const ft_server_opts *opts,
		    ft_api *api, ft_metrics *metrics, ft_server **out);

/*
 * The request handler behind a server: ftlogd's api (ft_server_start) or
 * another service on the same network layer (the witness of
 * `ftlog witness serve`). handle and cancel follow ft_api_handle and
 * ft_api_cancel exactly (api.h): handle returns 0 with *resp filled, or 1
 * with the answer deferred to done(conn_ctx, resp) and a handle in
 * *pending; done is never called from inside handle; cancel forgets a
 * deferred request. Both run on the loop thread.
 */
typedef struct ft_handler {
	int (*handle)(void *ctx, const ft_http_req *req, ft_resp *resp,
		      ft_api_done_fn done, void *conn_ctx, void **pending);
	void (*cancel)(void *ctx, void *pending);
	void *ctx;
} ft_handler;

/* ft_server_start with any handler (copied); metrics may be NULL. */
int ft_server_start_with(uv_loop_t *loop, const ft_server_opts *opts,
			 const ft_handler *h, ft_metrics *metrics,
			 ft_server **out);

/* The bound port (useful when opts->port was 0). */
int ft_server_port(const ft_server *s);

/* Close the listener: no new connections. */
void ft_server_stop_accepting(ft_server *s);

/*
 * Graceful close: idle connections are closed now; a connection with
 * requests in progress parses no more and is closed as soon as those are
 * answered (the last response says Connection: close). done(arg) runs on the loop thread
 * when every connection handle is closed.
 */
void ft_server_shutdown(ft_server *s, void (*done)(void *arg), void *arg);

/* Free after shutdown's done ran (and the listener closed). */
void ft_server_free(ft_server *s);

/* Open connections right now. */
uint64_t ft_server_connections(const ft_server *s);

#endif
