/*
 * logd/server.h - the network layer of ftlogd: libuv TCP listener and
 * HTTP/1.1 connections with keep-alive and pipelining (internal).
 *
 * Each connection owns an ft_http parser and a bounded read buffer; it
 * reads only while it has no request being answered (so a pipelining or
 * slow-reading client cannot make the server buffer without bound), and
 * answers requests strictly in order. Timeouts: the whole request head
 * must arrive within header_timeout, head + body within request_timeout,
 * a keep-alive connection may idle for idle_timeout, a response write may
 * stall for write_timeout; the server then closes (408 where a request was
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
 * connection must start its first request within header_timeout. While a
 * request is being answered, at most a fixed 16 KiB more is read (to
 * notice a client that leaves); then reading stops until it is answered.
 * A client that closes its side while its request is deferred is taken
 * as gone: the request is cancelled (ft_api_cancel). Once shutdown
 * begins, a request still being received gets at most 1 s more (then
 * 408), and a response write at most write_timeout.
 */
int ft_server_start(uv_loop_t *loop, const ft_server_opts *opts,
		    ft_api *api, ft_metrics *metrics, ft_server **out);

/* The bound port (useful when opts->port was 0). */
int ft_server_port(const ft_server *s);

/* Close the listener: no new connections. */
void ft_server_stop_accepting(ft_server *s);

/*
 * Graceful close: idle connections are closed now; a connection with a
 * request in progress is closed as soon as that request is answered (its
 * response says Connection: close). done(arg) runs on the loop thread
 * when every connection handle is closed.
 */
void ft_server_shutdown(ft_server *s, void (*done)(void *arg), void *arg);

/* Free after shutdown's done ran (and the listener closed). */
void ft_server_free(ft_server *s);

/* Open connections right now. */
uint64_t ft_server_connections(const ft_server *s);

#endif
