/*
 * logd/api.h - the HTTP API of ftlogd: routing and handlers, with no
 * socket code (internal). DESIGN.md section 4.
 *
 * The network layer (server.c) parses a request with logd/http.h, hands it
 * to ft_api_handle, and writes the ft_resp it gets back: at once for
 * reads, or later for POST /add, which is answered only after the batch
 * holding the entry is durably committed.
 */
#ifndef FTLOG_LOGD_API_H
#define FTLOG_LOGD_API_H

#include <stddef.h>
#include <stdint.h>

#include <uv.h>

#include "logd/http.h"
#include "logd/metrics.h"
#include "logd/store.h"

struct ft_seq;
struct ft_witc;

typedef struct ft_resp {
	int status;
	int route;                 /* enum ft_route, for metrics */
	const char *content_type;  /* static string */
	const char *cache_control; /* static string or NULL */
	char extra_header[96];     /* "" or one header line without CRLF */
	uint8_t *body;             /* malloc'd, owned by the ft_resp */
	size_t body_len;
	int close;                 /* close the connection after this */
} ft_resp;

/* Release the body; the ft_resp itself is the caller's. */
void ft_resp_free(ft_resp *r);

/*
 * An error answer: text/plain, body "<reason>\n" (one line), no caching.
 * Returns 0, or -1 when out of memory (then status is 500 and the body
 * empty).
 */
int ft_resp_error(ft_resp *r, int status, const char *reason);

/*
 * The validator hook: decides whether an entry may be logged. 0 to accept,
 * or a negative FT_E* code with a one-line reason written to `reason`
 * (NUL-terminated, at most cap bytes). Must not keep the entry pointer.
 * Called on the loop thread before the entry is queued, so must be quick.
 * Only unit tests use it: ftlogd itself always runs with a policy.
 */
typedef int (*ft_validate_fn)(void *ctx, const uint8_t *entry, size_t len,
			      char *reason, size_t cap);

/*
 * The test validator ("validator = test"): accepts any entry of 1..65535
 * bytes except those that begin with "reject:", which are refused with
 * the rest of their first line as the reason. For unit tests and fuzzing
 * of the HTTP layer only; the ftlogd binary cannot select it.
 */
int ft_validate_test(void *ctx, const uint8_t *entry, size_t len,
		     char *reason, size_t cap);

typedef struct ft_api_opts {
	ft_store *store;
	struct ft_seq *seq;       /* NULL: POST /add answers 503 */
	/* With witnesses (logd/witness.h): GET /checkpoint serves the
	 * published checkpoint and GET /bundle proves against it (503
	 * with Retry-After for a release newer than it). NULL: the
	 * store's newest checkpoint, as before. */
	struct ft_witc *witc;
	ft_metrics *metrics;      /* may be NULL */
	/*
	 * The submission policy (ftlogd always has one): the api takes its
	 * own reference. With a policy, POST /add bodies are checked by
	 * ft_policy_check and against the store's revocations on libuv's
	 * thread pool of `loop` (so signature checks use every core), or
	 * synchronously when loop is NULL (tests, fuzzing). The validator
	 * hook below is then not used.
	 */
	struct ft_policy *policy;
	uv_loop_t *loop;
	ft_validate_fn validate;  /* without a policy; NULL: accept all */
	void *validate_ctx;
	uint64_t health_max_age_ms;
} ft_api_opts;

typedef struct ft_api ft_api;

/* 0 or a negative code. The api keeps pointers to everything in opts. */
int ft_api_new(const ft_api_opts *opts, ft_api **out);
void ft_api_free(ft_api *api);

/* Called on the loop thread with the final answer to a deferred request;
 * the callee takes over resp (and must ft_resp_free it). */
typedef void (*ft_api_done_fn)(void *conn_ctx, ft_resp *resp);

/*
 * Handle one request (HEAD is handled as GET; the server drops the body).
 * Returns 0 with *resp filled in, or 1 when the answer is deferred: then
 * done(conn_ctx, resp) is called exactly once later on the loop thread,
 * unless ft_api_cancel(api, *pending) is called first (the connection
 * went away). *resp is always initialised.
 */
int ft_api_handle(ft_api *api, const ft_http_req *req, ft_resp *resp,
		  ft_api_done_fn done, void *conn_ctx, void **pending);

/* Forget a deferred request: done will not be called. Loop thread only. */
void ft_api_cancel(ft_api *api, void *pending);

/*
 * Use policy p for submissions from now on (the api takes a reference and
 * drops the old one; checks already running finish with the old one).
 * Loop thread only (it is called from the SIGHUP handler).
 */
void ft_api_set_policy(ft_api *api, struct ft_policy *p);

#endif
