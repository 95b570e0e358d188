/*
 * logd/api.c - routing and handlers of ftlogd's HTTP API (DESIGN.md
 * section 4; answers as listed in the README). No socket code here: the
 * network layer gives us parsed requests and writes our ft_resp.
 *
 * Reads run on the loop thread against one LMDB read snapshot per request.
 * POST /add is validated here, queued to the sequencer, and answered when
 * its batch is durably committed.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <ftlog/event.h>
#include <ftlog/tile.h>

#include "logd/api.h"
#include "logd/log.h"
#include "logd/policy.h"
#include "logd/seq.h"
#include "logd/witness.h"

#define CT_TEXT "text/plain; charset=utf-8"
#define CT_OCTETS "application/octet-stream"
#define CT_TLOGPROOF "text/x.tlog-proof"
#define CT_METRICS "text/plain; version=0.0.4; charset=utf-8"
#define CT_JSON "application/json"
#define CACHE_CHECKPOINT "public, max-age=2"
#define CACHE_IMMUTABLE "public, max-age=31536000, immutable"
#define CACHE_NONE "no-store"

/* Submissions on the thread pool or waiting for it, at most: beyond, 503.
 * Bounds the memory of a flood of uploads faster than checks (each holds
 * a copy of its entry, up to 64 KiB). */
#define API_MAX_CHECKS 4096

struct ft_api {
	ft_api_opts o;
	struct ft_policy *policy; /* our reference; loop thread */
	size_t checks_in_flight;  /* loop thread */
	ft_store_reader reader;
	ft_tile_reader *tr; /* ~33 KiB, reused for every proof */
};

/*
 * A deferred POST /add. With a policy it first goes through libuv's
 * thread pool (work_check), then to the sequencer. Freed when answered,
 * or when cancelled -- except while its check runs on a worker: then
 * `cancelled` is set and after_check frees it.
 */
struct pending {
	ft_api *api;
	ft_api_done_fn done;
	void *conn_ctx;
	void *seq_handle;

	uv_work_t work;
	int in_work;   /* queued on the thread pool, after_check not run */
	int cancelled; /* the connection went away while in_work */
	uint8_t *entry; /* the body's copy, for the worker */
	size_t len;
	ft_policy *policy; /* the reference the check uses */
	ft_store_meta *meta;
	int err;
	char reason[256];
};

void ft_resp_free(ft_resp *r)
{
	free(r->body);
	r->body = NULL;
	r->body_len = 0;
}

static void resp_init(ft_resp *r)
{
	memset(r, 0, sizeof(*r));
	r->status = 500;
	r->route = FT_ROUTE_OTHER;
	r->content_type = CT_TEXT;
}

int ft_resp_error(ft_resp *r, int status, const char *reason)
{
	size_t n = strlen(reason);

	ft_resp_free(r);
	r->status = status;
	r->content_type = CT_TEXT;
	r->cache_control = CACHE_NONE;
	r->body = malloc(n + 1);
	if (r->body == NULL) {
		r->status = 500;
		return -1;
	}
	memcpy(r->body, reason, n);
	r->body[n] = '\n';
	r->body_len = n + 1;
	return 0;
}

/* Take ownership of buf as the 200 body. */
static void resp_ok(ft_resp *r, const char *ctype, const char *cache,
		    uint8_t *buf, size_t len)
{
	r->status = 200;
	r->content_type = ctype;
	r->cache_control = cache;
	r->body = buf;
	r->body_len = len;
}

static int resp_copy(ft_resp *r, const char *ctype, const char *cache,
		     const uint8_t *data, size_t len)
{
	uint8_t *buf = malloc(len > 0 ? len : 1);

	if (buf == NULL) {
		return ft_resp_error(r, 500, "out of memory");
	}
	memcpy(buf, data, len);
	resp_ok(r, ctype, cache, buf, len);
	return 0;
}

/* ---- The test validator. */

int ft_validate_test(void *ctx, const uint8_t *entry, size_t len,
		     char *reason, size_t cap)
{
	static const char prefix[] = "reject:";
	size_t n = sizeof(prefix) - 1;
	size_t i;

	(void)ctx;
	if (len == 0 || len > FT_ENTRY_MAX) {
		(void)snprintf(reason, cap, "entry must be 1 to %d bytes",
			       FT_ENTRY_MAX);
		return FT_EREJECTED;
	}
	if (len >= n && memcmp(entry, prefix, n) == 0) {
		size_t j = 0;

		for (i = n; i < len && entry[i] == ' '; i++) {
		}
		for (; i < len && entry[i] != '\n' && j + 1 < cap; i++) {
			uint8_t c = entry[i];

			reason[j++] = (c >= 0x20 && c < 0x7f) ? (char)c : '?';
		}
		if (cap > 0) {
			reason[j] = '\0';
		}
		if (j == 0) {
			(void)snprintf(reason, cap, "rejected by the test "
						    "validator");
		}
		return FT_EREJECTED;
	}
	return 0;
}

/* ---- Query strings: "a=1&b=2", each known key at most once, nothing
 * else. */

struct qparam {
	const char *name;
	const char *val;
	size_t len;
	int seen;
};

static int parse_query(const char *q, size_t qlen, struct qparam *p,
		       size_t np)
{
	size_t off = 0;

	if (qlen == 0) {
		return 0;
	}
	while (off <= qlen) {
		const char *amp = memchr(q + off, '&', qlen - off);
		size_t end = amp != NULL ? (size_t)(amp - q) : qlen;
		const char *eq = memchr(q + off, '=', end - off);
		size_t i, klen;

		if (eq == NULL) {
			return -1;
		}
		klen = (size_t)(eq - (q + off));
		for (i = 0; i < np; i++) {
			if (strlen(p[i].name) == klen &&
			    memcmp(p[i].name, q + off, klen) == 0) {
				break;
			}
		}
		if (i == np || p[i].seen) {
			return -1;
		}
		p[i].seen = 1;
		p[i].val = eq + 1;
		p[i].len = end - (size_t)(eq + 1 - q);
		if (amp == NULL) {
			break;
		}
		off = end + 1;
	}
	return 0;
}

static int hex_decode32(const char *s, size_t n, uint8_t out[32])
{
	size_t i;

	if (n != 64) {
		return -1;
	}
	for (i = 0; i < 64; i++) {
		char c = s[i];
		int v;

		if (c >= '0' && c <= '9') {
			v = c - '0';
		} else if (c >= 'a' && c <= 'f') {
			v = c - 'a' + 10;
		} else {
			return -1; /* lowercase hex only: one spelling */
		}
		if (i % 2 == 0) {
			out[i / 2] = (uint8_t)(v << 4);
		} else {
			out[i / 2] |= (uint8_t)v;
		}
	}
	return 0;
}

/* Hash lines: one base64 hash per line. */
static int hashes_body(ft_resp *r, const char *first_line,
		       const ft_hash *h, size_t n)
{
	size_t first = first_line != NULL ? strlen(first_line) : 0;
	size_t cap = first + n * 46 + 1;
	uint8_t *buf = malloc(cap);
	size_t off = 0, i;

	if (buf == NULL) {
		return ft_resp_error(r, 500, "out of memory");
	}
	if (first > 0) {
		memcpy(buf, first_line, first);
		off = first;
	}
	for (i = 0; i < n; i++) {
		size_t w;

		if (ft_b64_encode(h[i].b, FT_HASH_LEN, (char *)buf + off,
				  cap - off, &w) != 0) {
			free(buf);
			return ft_resp_error(r, 500, "internal error");
		}
		off += w;
		buf[off++] = '\n';
	}
	resp_ok(r, CT_TEXT, CACHE_NONE, buf, off);
	return 0;
}

/* 503 with a Retry-After of retry_after seconds. */
static void busy(ft_resp *r, const char *reason, int retry_after)
{
	(void)ft_resp_error(r, 503, reason);
	(void)snprintf(r->extra_header, sizeof(r->extra_header),
		       "Retry-After: %d", retry_after);
}

/* ---- Handlers (inside a read snapshot). */

/*
 * With witnesses: the published checkpoint (the log's signed note and the
 * cosignatures gathered for it), which may lag the store's newest.
 */
static void h_checkpoint_published(ft_api *api, ft_resp *r)
{
	uint8_t *note = NULL;
	size_t len = 0;
	uint64_t size;
	ft_hash root;
	int err = ft_witc_published(api->o.witc, &note, &len, &size, &root);

	if (err == FT_ENOTFOUND) {
		busy(r, "no checkpoint has been cosigned by a quorum of "
			"witnesses yet", 1);
		return;
	}
	if (err != 0) {
		(void)ft_resp_error(r, 500, "cannot read the published "
					    "checkpoint");
		return;
	}
	resp_ok(r, CT_TEXT, CACHE_CHECKPOINT, note, len);
}

static void h_checkpoint(ft_api *api, ft_resp *r)
{
	ft_store_state st;

	if (api->o.witc != NULL) {
		h_checkpoint_published(api, r);
		return;
	}
	int err = ft_store_get_state(&api->reader, &st);

	if (err != 0) {
		ft_log(FT_LOG_ERROR, "cannot read the state: %s",
		       ft_strerror(err));
		(void)ft_resp_error(r, 500, "store error");
		return;
	}
	if (st.checkpoint == NULL) {
		(void)ft_resp_error(r, 503, "no checkpoint has been signed yet");
		return;
	}
	(void)resp_copy(r, CT_TEXT, CACHE_CHECKPOINT, st.checkpoint,
			st.checkpoint_len);
}

static void h_tile(ft_api *api, const ft_http_req *req, ft_resp *r)
{
	ft_store_state st;
	ft_tile t, cur;
	int err;

	err = ft_tile_parse_path(req->path, req->path_len, &t);
	if (err != 0) {
		(void)ft_resp_error(r, 400, "malformed tile path");
		return;
	}
	r->route = t.level == FT_TILE_ENTRIES ? FT_ROUTE_ENTRIES
					      : FT_ROUTE_TILE;
	if (ft_store_get_state(&api->reader, &st) != 0) {
		(void)ft_resp_error(r, 503, "store not readable");
		return;
	}
	/* A tile exists if the current tree has it at this width or wider:
	 * hashes never change, so a narrower partial tile is a prefix of
	 * what is stored, and clients holding an older checkpoint need it. */
	if (ft_tile_at(st.size, t.level, t.index, &cur) != 0 ||
	    cur.width < t.width) {
		(void)ft_resp_error(r, 404, "no such tile at this tree size");
		return;
	}
	if (t.level != FT_TILE_ENTRIES) {
		const uint8_t *data;
		size_t len;

		err = ft_store_get_tile(&api->reader, (unsigned)t.level,
					t.index, &data, &len);
		if (err != 0 || len < (size_t)t.width * FT_HASH_LEN) {
			ft_log(FT_LOG_ERROR,
			       "tile %d/%llu missing from the store: %s",
			       t.level, (unsigned long long)t.index,
			       ft_strerror(err));
			(void)ft_resp_error(r, 500, "stored tile is missing");
			return;
		}
		(void)resp_copy(r, CT_OCTETS, CACHE_IMMUTABLE, data,
				(size_t)t.width * FT_HASH_LEN);
		return;
	} else if (t.width == FT_TILE_WIDTH) {
		/* Full bundles are stored whole: one lookup, one copy. */
		const uint8_t *data;
		size_t len;

		err = ft_store_get_bundle(&api->reader, t.index, &data, &len);
		if (err != 0) {
			ft_log(FT_LOG_ERROR,
			       "bundle %llu missing from the store: %s",
			       (unsigned long long)t.index, ft_strerror(err));
			(void)ft_resp_error(r, 500, "stored bundle is missing");
			return;
		}
		(void)resp_copy(r, CT_OCTETS, CACHE_IMMUTABLE, data, len);
	} else {
		/* A partial bundle: one lookup per entry, kept as (pointer,
		 * length), valid for the whole read snapshot; then one
		 * allocation of the exact size and one copy. */
		struct {
			const uint8_t *p;
			size_t len;
		} e[FT_TILE_WIDTH];
		uint64_t first = t.index * FT_TILE_WIDTH;
		size_t total = 0, off = 0;
		unsigned i;
		uint8_t *buf;

		for (i = 0; i < t.width; i++) {
			if (ft_store_get_entry(&api->reader, first + i, &e[i].p,
					       &e[i].len) != 0) {
				(void)ft_resp_error(r, 500,
						    "stored entry is missing");
				return;
			}
			total += 2 + e[i].len;
		}
		buf = malloc(total);
		if (buf == NULL) {
			(void)ft_resp_error(r, 500, "out of memory");
			return;
		}
		for (i = 0; i < t.width; i++) {
			if (ft_bundle_append(buf, total, &off, e[i].p,
					     e[i].len) != 0) {
				free(buf);
				(void)ft_resp_error(r, 500, "internal error");
				return;
			}
		}
		resp_ok(r, CT_OCTETS, CACHE_IMMUTABLE, buf, off);
	}
}

static void h_inclusion(ft_api *api, const ft_http_req *req, ft_resp *r)
{
	struct qparam p[3] = {{"index", NULL, 0, 0},
			      {"size", NULL, 0, 0},
			      {"leaf", NULL, 0, 0}};
	ft_store_state st;
	ft_hash_reader hr;
	ft_hash path[FT_PROOF_MAX_INCLUSION];
	uint64_t index = 0, size = 0;
	size_t n = 0;
	char line[48];
	int err;

	if (parse_query(req->query, req->query_len, p, 3) != 0 ||
	    !p[1].seen || p[0].seen == p[2].seen) {
		(void)ft_resp_error(r, 400, "expected ?index=I&size=S or "
					    "?leaf=<64 hex>&size=S");
		return;
	}
	if (ft_parse_u63(p[1].val, p[1].len, &size) != 0) {
		(void)ft_resp_error(r, 400, "size: not a canonical decimal");
		return;
	}
	if (ft_store_get_state(&api->reader, &st) != 0) {
		(void)ft_resp_error(r, 503, "store not readable");
		return;
	}
	if (size > st.size) {
		(void)ft_resp_error(r, 400, "size is beyond the tree size");
		return;
	}
	if (p[0].seen) {
		if (ft_parse_u63(p[0].val, p[0].len, &index) != 0) {
			(void)ft_resp_error(r, 400,
					    "index: not a canonical decimal");
			return;
		}
		if (index >= size) {
			(void)ft_resp_error(r, 400, "index must be below size");
			return;
		}
	} else {
		ft_hash leaf;

		if (hex_decode32(p[2].val, p[2].len, leaf.b) != 0) {
			(void)ft_resp_error(r, 400, "leaf: expected 64 "
						    "lowercase hex digits");
			return;
		}
		err = ft_store_find_leaf(&api->reader, &leaf, &index);
		if (err != 0 && err != FT_ENOTFOUND) {
			ft_log(FT_LOG_ERROR, "leaf lookup failed: %s",
			       ft_strerror(err));
			(void)ft_resp_error(r, 500, "store error");
			return;
		}
		if (err == FT_ENOTFOUND || index >= size) {
			(void)ft_resp_error(r, 404, "no entry with this leaf "
						    "hash in the tree of this "
						    "size");
			return;
		}
	}
	ft_store_hash_reader(&api->reader, size, api->tr, &hr);
	err = ft_proof_inclusion(index, size, &hr, path, &n);
	if (err != 0) {
		ft_log(FT_LOG_ERROR, "inclusion proof %llu/%llu failed: %s",
		       (unsigned long long)index, (unsigned long long)size,
		       ft_strerror(err));
		(void)ft_resp_error(r, 500, "cannot build the proof");
		return;
	}
	(void)snprintf(line, sizeof(line), "index %llu\n",
		       (unsigned long long)index);
	(void)hashes_body(r, line, path, n);
}

static void h_consistency(ft_api *api, const ft_http_req *req, ft_resp *r)
{
	struct qparam p[2] = {{"old", NULL, 0, 0}, {"new", NULL, 0, 0}};
	ft_store_state st;
	ft_hash_reader hr;
	ft_hash path[FT_PROOF_MAX_CONSISTENCY];
	uint64_t m, n;
	size_t len = 0;
	int err;

	if (parse_query(req->query, req->query_len, p, 2) != 0 ||
	    !p[0].seen || !p[1].seen ||
	    ft_parse_u63(p[0].val, p[0].len, &m) != 0 ||
	    ft_parse_u63(p[1].val, p[1].len, &n) != 0) {
		(void)ft_resp_error(r, 400, "expected ?old=M&new=N with "
					    "canonical decimals");
		return;
	}
	if (ft_store_get_state(&api->reader, &st) != 0) {
		(void)ft_resp_error(r, 503, "store not readable");
		return;
	}
	if (m < 1 || m > n || n > st.size) {
		(void)ft_resp_error(r, 400, "need 1 <= old <= new <= tree "
					    "size");
		return;
	}
	ft_store_hash_reader(&api->reader, n, api->tr, &hr);
	err = ft_proof_consistency(m, n, &hr, path, &len);
	if (err != 0) {
		ft_log(FT_LOG_ERROR, "consistency proof %llu..%llu failed: %s",
		       (unsigned long long)m, (unsigned long long)n,
		       ft_strerror(err));
		(void)ft_resp_error(r, 500, "cannot build the proof");
		return;
	}
	(void)hashes_body(r, NULL, path, len);
}

static void h_healthz(ft_api *api, ft_resp *r)
{
	ft_store_state st;

	if (ft_store_get_state(&api->reader, &st) != 0 ||
	    st.checkpoint == NULL) {
		(void)ft_resp_error(r, 503, "store not readable or no "
					    "checkpoint");
		return;
	}
	if (api->o.seq != NULL && api->o.health_max_age_ms > 0 &&
	    ft_seq_idle_ms(api->o.seq) > api->o.health_max_age_ms) {
		(void)ft_resp_error(r, 503, "sequencer has stalled");
		return;
	}
	(void)resp_copy(r, CT_TEXT, CACHE_NONE, (const uint8_t *)"ok\n", 3);
}

static void h_metrics(ft_api *api, ft_resp *r)
{
	char *out = NULL;
	size_t len = 0;

	if (api->o.seq != NULL) {
		ft_metrics_queue_depth(api->o.metrics,
				       ft_seq_queue_depth(api->o.seq));
	}
	if (ft_metrics_render(api->o.metrics, &out, &len) != 0) {
		(void)ft_resp_error(r, 500, "out of memory");
		return;
	}
	resp_ok(r, CT_METRICS, CACHE_NONE, (uint8_t *)out, len);
}

/* ---- POST /add. */

static void pending_free(struct pending *p);

static void add_done(void *ctx, ft_seq_result *res)
{
	struct pending *p = ctx;
	ft_resp r;

	resp_init(&r);
	r.route = FT_ROUTE_ADD;
	if (res->err != 0 && res->stored) {
		char msg[160];

		/* Logged, but the answer could not be built: say so, and
		 * let a resubmission (a duplicate) fetch the proof. */
		(void)snprintf(msg, sizeof(msg),
			       "entry is logged at index %llu but its proof "
			       "could not be built; submit it again to fetch it",
			       (unsigned long long)res->index);
		(void)ft_resp_error(&r, 500, msg);
		p->done(p->conn_ctx, &r);
		pending_free(p);
		return;
	}
	switch (res->err) {
	case 0:
		resp_ok(&r, CT_TLOGPROOF, CACHE_NONE, res->proof,
			res->proof_len);
		res->proof = NULL;
		break;
	case FT_EBUSY:
		busy(&r, "queue is full, retry later", 1);
		break;
	case FT_ESHUTDOWN:
		busy(&r, "server is shutting down", 5);
		break;
	case FT_EREVOKED:
		(void)ft_resp_error(&r, 403, res->reason[0] != '\0'
						     ? res->reason
						     : "revoked");
		break;
	case FT_EEXIST:
		(void)ft_resp_error(&r, 409, res->reason[0] != '\0'
						     ? res->reason
						     : "duplicate-event");
		break;
	case FT_ESTORE_FULL:
		busy(&r, "log storage is full; nothing was stored", 30);
		break;
	default:
		busy(&r, "entry not stored: storage error", 10);
		break;
	}
	p->done(p->conn_ctx, &r);
	pending_free(p);
}

/* Whether err is a verdict on the entry (4xx), not a failure of ours. */
static int is_refusal(int err)
{
	switch (err) {
	case FT_ETOOBIG:
	case FT_EEVENT_ENVELOPE:
	case FT_EEVENT_STATEMENT:
	case FT_EEVENT_PREDTYPE:
	case FT_EEVENT_PREDICATE:
	case FT_EUNKNOWN_KEY:
	case FT_ENOTE_BADSIG:
	case FT_EUNAUTHORIZED:
	case FT_ETHRESHOLD:
	case FT_EREVOKED:
	case FT_EEXIST:
		return 1;
	default:
		return 0;
	}
}

/* The HTTP status for a refused submission. */
static int reject_status(int err)
{
	switch (err) {
	case FT_ETOOBIG:
		return 413;
	case FT_EUNKNOWN_KEY:
	case FT_ENOTE_BADSIG:
	case FT_EUNAUTHORIZED:
	case FT_ETHRESHOLD:
	case FT_EREVOKED:
		return 403;
	case FT_EEXIST:
		return 409;
	default:
		return 400;
	}
}

/*
 * Is a signer or a subject of meta revoked in the snapshot of r? 0 if
 * not, FT_EREVOKED with the reason, or a store error. Advisory: the
 * sequencer checks again inside the write transaction, which is what
 * counts; this only spares a revoked submission the queue.
 */
static int check_revoked(ft_store_reader *r, const ft_store_meta *m,
			 char *reason, size_t cap)
{
	uint64_t by = 0;
	size_t i;
	int err;

	for (i = 0; i < m->n_signers; i++) {
		err = ft_store_revoked(r, FT_REVOKE_KEY, m->signers[i], &by);
		if (err == 0) {
			(void)snprintf(reason, cap,
				       "revoked-key: signing key %zu of the "
				       "envelope was revoked by entry %" PRIu64,
				       i + 1, by);
			return FT_EREVOKED;
		}
		if (err != FT_ENOTFOUND) {
			return err;
		}
	}
	for (i = 0; i < m->n_subjects; i++) {
		err = ft_store_revoked(r, FT_REVOKE_IMAGE, m->subjects[i], &by);
		if (err == 0) {
			(void)snprintf(reason, cap,
				       "revoked-image: subject %zu was revoked "
				       "by entry %" PRIu64,
				       i + 1, by);
			return FT_EREVOKED;
		}
		if (err != FT_ENOTFOUND) {
			return err;
		}
	}
	return 0;
}

/*
 * The whole check of one submission; runs on a worker thread (or inline
 * without a loop). Fills p->err, p->reason and p->meta.
 *
 * An entry that is already logged is not checked at all: it is public
 * already, and resubmitting it must give its old index and proof (POST
 * /add is idempotent) even after its key was revoked or left the policy.
 * It goes to the sequencer without meta, which answers it as a duplicate.
 */
static void run_check(struct pending *p)
{
	ft_store_reader r;
	ft_hash leaf;
	uint64_t index;
	int err;

	p->reason[0] = '\0';
	p->meta = NULL;
	err = ft_store_reader_init(p->api->o.store, &r);
	if (err != 0) {
		p->err = err;
		return;
	}
	err = ft_store_read_begin(&r);
	if (err != 0) {
		ft_store_reader_free(&r);
		p->err = err;
		return;
	}
	ft_merkle_leaf_hash(p->entry, p->len, &leaf);
	err = ft_store_find_leaf(&r, &leaf, &index);
	if (err == 0) {
		p->err = 0; /* a duplicate */
		goto out;
	}
	if (err != FT_ENOTFOUND) {
		p->err = err;
		goto out;
	}
	p->err = ft_policy_check(p->policy, p->entry, p->len, &p->meta,
				 p->reason, sizeof(p->reason));
	if (p->err != 0) {
		goto out;
	}
	p->err = check_revoked(&r, p->meta, p->reason, sizeof(p->reason));
	if (p->err == 0) {
		/* The same signed statement in other bytes (whitespace, base64
		 * alphabet, signature order): a replay, not a new event. The
		 * sequencer checks again in its transaction. */
		err = ft_store_find_statement(&r, p->meta->statement, &index);
		if (err == 0) {
			(void)snprintf(p->reason, sizeof(p->reason),
				       "duplicate-event: another envelope of the "
				       "same signed statement is logged at "
				       "index %" PRIu64,
				       index);
			p->err = FT_EEXIST;
		} else if (err != FT_ENOTFOUND) {
			p->err = err;
		}
	}
	if (p->err != 0) {
		free(p->meta);
		p->meta = NULL;
	}
out:
	ft_store_read_end(&r);
	ft_store_reader_free(&r);
}

static void pending_free(struct pending *p)
{
	ft_policy_unref(p->policy);
	free(p->entry);
	free(p->meta);
	free(p);
}

static void submit_error(ft_resp *r, int err)
{
	if (err == FT_EBUSY) {
		busy(r, "queue is full, retry later", 1);
	} else if (err == FT_ESHUTDOWN) {
		busy(r, "server is shutting down", 5);
	} else {
		busy(r, "cannot queue the entry", 1);
	}
}

/*
 * After the check: answer a refusal, or queue the entry with its meta.
 * Returns 0 with *r filled in, or 1 when the entry is queued (then
 * add_done answers). p is freed when 0 is returned.
 */
static int checked(struct pending *p, ft_resp *r)
{
	ft_api *api = p->api;
	ft_store_meta *meta;
	int err;

	if (p->err != 0 && !is_refusal(p->err)) {
		/* Our trouble (memory, store), not the entry's. */
		ft_log(FT_LOG_ERROR, "cannot check a submission: %s",
		       ft_strerror(p->err));
		busy(r, "cannot check the entry now, retry later", 1);
		pending_free(p);
		return 0;
	}
	if (p->err != 0) {
		ft_metrics_rejected(api->o.metrics);
		(void)ft_resp_error(r, reject_status(p->err),
				    p->reason[0] != '\0' ? p->reason
							 : ft_strerror(p->err));
		pending_free(p);
		return 0;
	}
	if (api->o.seq == NULL) {
		(void)ft_resp_error(r, 503, "this server does not accept "
					    "entries");
		pending_free(p);
		return 0;
	}
	meta = p->meta;
	p->meta = NULL; /* the sequencer takes it over */
	err = ft_seq_submit(api->o.seq, p->entry, p->len, meta, add_done, p,
			    &p->seq_handle);
	if (err != 0) {
		submit_error(r, err);
		pending_free(p);
		return 0;
	}
	/* The sequencer copied the entry; the policy is no longer needed. */
	free(p->entry);
	p->entry = NULL;
	ft_policy_unref(p->policy);
	p->policy = NULL;
	return 1;
}

static void work_check(uv_work_t *w)
{
	run_check(w->data);
}

static void after_check(uv_work_t *w, int status)
{
	struct pending *p = w->data;
	ft_resp r;

	p->in_work = 0;
	p->api->checks_in_flight--;
	if (p->cancelled) {
		pending_free(p);
		return;
	}
	if (status != 0) { /* UV_ECANCELED only follows ft_api_cancel,
			    * which set p->cancelled; answer anyway */
		p->err = FT_ENOMEM;
	}
	resp_init(&r);
	r.route = FT_ROUTE_ADD;
	{
		ft_api_done_fn done = p->done;
		void *conn_ctx = p->conn_ctx;

		if (checked(p, &r) == 0) {
			done(conn_ctx, &r);
		}
	}
}

static int h_add(ft_api *api, const ft_http_req *req, ft_resp *r,
		 ft_api_done_fn done, void *conn_ctx, void **pending)
{
	char reason[160];
	struct pending *p;
	int err;

	if (req->body_len == 0) {
		(void)ft_resp_error(r, 400, "json: empty body");
		return 0;
	}
	if (req->body_len > FT_ENTRY_MAX) {
		(void)ft_resp_error(r, 413, "too-large: an entry is at most "
					    "65535 bytes");
		return 0;
	}
	if (api->policy == NULL && api->o.validate != NULL) {
		reason[0] = '\0';
		err = api->o.validate(api->o.validate_ctx, req->body,
				      req->body_len, reason, sizeof(reason));
		if (err != 0) {
			char msg[200];

			ft_metrics_rejected(api->o.metrics);
			(void)snprintf(msg, sizeof(msg), "entry rejected: %s",
				       reason[0] != '\0' ? reason
							 : ft_strerror(err));
			(void)ft_resp_error(r, 400, msg);
			return 0;
		}
	}
	if (api->o.seq == NULL) {
		(void)ft_resp_error(r, 503, "this server does not accept "
					    "entries");
		return 0;
	}
	p = calloc(1, sizeof(*p));
	if (p == NULL) {
		busy(r, "out of memory", 1);
		return 0;
	}
	p->api = api;
	p->done = done;
	p->conn_ctx = conn_ctx;
	if (api->policy != NULL) {
		p->entry = malloc(req->body_len);
		if (p->entry == NULL) {
			free(p);
			busy(r, "out of memory", 1);
			return 0;
		}
		memcpy(p->entry, req->body, req->body_len);
		p->len = req->body_len;
		p->policy = ft_policy_ref(api->policy);
		if (api->o.loop == NULL) {
			run_check(p);
			err = checked(p, r);
			if (err == 1) {
				*pending = p;
			}
			return err;
		}
		if (api->checks_in_flight >= API_MAX_CHECKS) {
			pending_free(p);
			busy(r, "too many submissions being checked, retry "
				"later",
			     1);
			return 0;
		}
		p->work.data = p;
		err = uv_queue_work(api->o.loop, &p->work, work_check,
				    after_check);
		if (err != 0) {
			pending_free(p);
			busy(r, "cannot schedule the check", 1);
			return 0;
		}
		p->in_work = 1;
		api->checks_in_flight++;
		*pending = p;
		return 1;
	}
	err = ft_seq_submit(api->o.seq, req->body, req->body_len, NULL,
			    add_done, p, &p->seq_handle);
	if (err != 0) {
		free(p);
		submit_error(r, err);
		return 0;
	}
	*pending = p;
	return 1;
}

void ft_api_cancel(ft_api *api, void *pending)
{
	struct pending *p = pending;

	if (p == NULL) {
		return;
	}
	if (p->in_work) {
		/* after_check frees it; if the check has not started it is
		 * taken off the pool's queue (after_check then runs with
		 * UV_ECANCELED), else it finishes and is dropped. */
		p->cancelled = 1;
		(void)uv_cancel((uv_req_t *)&p->work);
		return;
	}
	ft_seq_cancel(api->o.seq, p->seq_handle);
	pending_free(p);
}

void ft_api_set_policy(ft_api *api, ft_policy *p)
{
	ft_policy *old = api->policy;

	api->policy = p != NULL ? ft_policy_ref(p) : NULL;
	ft_policy_unref(old);
}

/* ---- GET /lineage/<hex> and GET /bundle/<hex>. */

/* A growable output buffer for JSON answers. */
struct obuf {
	uint8_t *p;
	size_t len, cap;
	int oom;
};

static void ob_put(struct obuf *b, const void *data, size_t n)
{
	if (b->oom) {
		return;
	}
	if (b->len + n > b->cap) {
		size_t cap = b->cap ? b->cap : 1024;
		uint8_t *q;

		while (cap < b->len + n) {
			cap *= 2;
		}
		q = realloc(b->p, cap);
		if (q == NULL) {
			b->oom = 1;
			return;
		}
		b->p = q;
		b->cap = cap;
	}
	memcpy(b->p + b->len, data, n);
	b->len += n;
}

static void ob_str(struct obuf *b, const char *s)
{
	ob_put(b, s, strlen(s));
}

/* Events per /lineage answer, and bytes (a record can be tens of KiB);
 * "next" points at the rest. */
#define LINEAGE_PAGE 1000
#define LINEAGE_PAGE_BYTES (1u << 20)

struct lineage_ctx {
	struct obuf *b;
	size_t n;
	uint64_t last;
	int truncated;
	int corrupt;
};

static int lineage_cb(void *ctx, uint64_t index, int kind,
		      const uint8_t *rec, size_t len)
{
	struct lineage_ctx *c = ctx;
	char head[48];

	(void)kind;
	if (c->n == LINEAGE_PAGE ||
	    (c->n > 0 && c->b->len >= LINEAGE_PAGE_BYTES)) {
		c->truncated = 1;
		return 1;
	}
	if (len < 2 || rec[0] != '{' || rec[len - 1] != '}') {
		c->corrupt = 1;
		return 1;
	}
	(void)snprintf(head, sizeof(head), "%s{\"index\":%" PRIu64 "%s",
		       c->n > 0 ? "," : "", index, len > 2 ? "," : "");
	ob_str(c->b, head);
	ob_put(c->b, rec + 1, len - 1);
	c->n++;
	c->last = index;
	return 0;
}

/* The query "after=N" (or none); 0 or -1. */
static int parse_after(const ft_http_req *req, uint64_t *after)
{
	*after = UINT64_MAX;
	if (req->query_len == 0) {
		return 0;
	}
	if (req->query_len < 7 || memcmp(req->query, "after=", 6) != 0) {
		return -1;
	}
	return ft_parse_u63(req->query + 6, req->query_len - 6, after) == 0
		       ? 0
		       : -1;
}

static void h_lineage(ft_api *api, const ft_http_req *req, ft_resp *r)
{
	static const char prefix[] = "/lineage/";
	const char *hex = req->path + sizeof(prefix) - 1;
	size_t hexlen = req->path_len - (sizeof(prefix) - 1);
	struct obuf b = {0};
	struct lineage_ctx c = {0};
	uint8_t digest[32];
	uint64_t after;
	char tail[64];
	int err;

	if (hex_decode32(hex, hexlen, digest) != 0) {
		(void)ft_resp_error(r, 400, "malformed digest: want 64 "
					    "lowercase hex digits");
		return;
	}
	if (parse_after(req, &after) != 0) {
		(void)ft_resp_error(r, 400, "malformed query: only after=N "
					    "is understood");
		return;
	}
	ob_str(&b, "{\"digest\":\"");
	ob_put(&b, hex, 64);
	ob_str(&b, "\",\"events\":[");
	c.b = &b;
	err = ft_store_lineage(&api->reader, digest, after, lineage_cb, &c);
	if (err < 0 || c.corrupt) {
		free(b.p);
		ft_log(FT_LOG_ERROR, "lineage: %s",
		       c.corrupt ? "malformed record" : ft_strerror(err));
		(void)ft_resp_error(r, 500, "store error");
		return;
	}
	if (c.n == 0 && after == UINT64_MAX) {
		free(b.p);
		(void)ft_resp_error(r, 404, "no event names this digest");
		return;
	}
	if (c.truncated) {
		(void)snprintf(tail, sizeof(tail), "],\"next\":%" PRIu64 "}\n",
			       c.last);
	} else {
		(void)snprintf(tail, sizeof(tail), "]}\n");
	}
	ob_str(&b, tail);
	if (b.oom) {
		free(b.p);
		(void)ft_resp_error(r, 500, "out of memory");
		return;
	}
	resp_ok(r, CT_JSON, CACHE_CHECKPOINT, b.p, b.len);
}

/*
 * GET /bundle with witnesses: the tlog-proof of entry `index` against the
 * published checkpoint, so that it carries the witnesses' cosignatures.
 * A release the published checkpoint does not cover yet gets 503: it
 * will once a round has been cosigned. st is the request's snapshot.
 */
static void h_bundle_published(ft_api *api, ft_store_state *st,
			       uint64_t index, ft_resp *r)
{
	ft_store_state pst;
	uint8_t *note = NULL;
	size_t note_len = 0;
	uint8_t *out = NULL;
	size_t len = 0;
	int err;

	memset(&pst, 0, sizeof(pst));
	err = ft_witc_published(api->o.witc, &note, &note_len, &pst.size,
				&pst.root);
	if (err == FT_ENOTFOUND || (err == 0 && index >= pst.size)) {
		free(note);
		busy(r, "this release is logged but not yet in a checkpoint "
			"cosigned by the witnesses; retry shortly", 1);
		return;
	}
	if (err != 0) {
		(void)ft_resp_error(r, 500, "cannot read the published "
					    "checkpoint");
		return;
	}
	if (pst.size > st->size) {
		/* Published after this request's snapshot began: a fresh
		 * snapshot holds it (it was committed before it was
		 * published). */
		ft_store_read_end(&api->reader);
		err = ft_store_read_begin(&api->reader);
		if (err == 0) {
			err = ft_store_get_state(&api->reader, st);
		}
		if (err == 0 && pst.size > st->size) {
			err = FT_ESTORE_CORRUPT;
		}
	}
	pst.checkpoint = note;
	pst.checkpoint_len = note_len;
	if (err == 0) {
		err = ft_seq_tlog_proof(&api->reader, &pst, api->tr, index,
					&out, &len);
	}
	free(note);
	if (err != 0) {
		ft_log(FT_LOG_ERROR, "bundle: %s", ft_strerror(err));
		(void)ft_resp_error(r, 500, "store error");
		return;
	}
	resp_ok(r, CT_TLOGPROOF, CACHE_CHECKPOINT, out, len);
}

static void h_bundle(ft_api *api, const ft_http_req *req, ft_resp *r)
{
	static const char prefix[] = "/bundle/";
	const char *hex = req->path + sizeof(prefix) - 1;
	size_t hexlen = req->path_len - (sizeof(prefix) - 1);
	ft_store_state st;
	uint8_t digest[32];
	uint64_t index = 0;
	uint8_t *out = NULL;
	size_t len = 0;
	char msg[160];
	int err;

	if (hex_decode32(hex, hexlen, digest) != 0) {
		(void)ft_resp_error(r, 400, "malformed digest: want 64 "
					    "lowercase hex digits");
		return;
	}
	err = ft_store_revoked(&api->reader, FT_REVOKE_IMAGE, digest, &index);
	if (err == 0) {
		(void)snprintf(msg, sizeof(msg),
			       "revoked-image: this image was revoked by "
			       "entry %" PRIu64,
			       index);
		(void)ft_resp_error(r, 410, msg);
		return;
	}
	if (err == FT_ENOTFOUND) {
		err = ft_store_latest(&api->reader, digest, FT_EVENT_RELEASE,
				      &index);
		if (err == FT_ENOTFOUND) {
			(void)ft_resp_error(r, 404, "no release is logged for "
						    "this image");
			return;
		}
	}
	if (err == 0) {
		err = ft_store_get_state(&api->reader, &st);
	}
	if (err == 0 && api->o.witc != NULL) {
		h_bundle_published(api, &st, index, r);
		return;
	}
	if (err == 0) {
		err = ft_seq_tlog_proof(&api->reader, &st, api->tr, index, &out,
					&len);
	}
	if (err != 0) {
		ft_log(FT_LOG_ERROR, "bundle: %s", ft_strerror(err));
		(void)ft_resp_error(r, 500, "store error");
		return;
	}
	resp_ok(r, CT_TLOGPROOF, CACHE_CHECKPOINT, out, len);
}

/* ---- Routing. */

static int path_is(const ft_http_req *req, const char *p)
{
	size_t n = strlen(p);

	return req->path_len == n && memcmp(req->path, p, n) == 0;
}

static int path_starts(const ft_http_req *req, const char *p)
{
	size_t n = strlen(p);

	return req->path_len >= n && memcmp(req->path, p, n) == 0;
}

static void method_not_allowed(ft_resp *r, const char *allow)
{
	(void)ft_resp_error(r, 405, "method not allowed");
	(void)snprintf(r->extra_header, sizeof(r->extra_header), "Allow: %s",
		       allow);
}

int ft_api_handle(ft_api *api, const ft_http_req *req, ft_resp *resp,
		  ft_api_done_fn done, void *conn_ctx, void **pending)
{
	int is_get = req->method == FT_HTTP_GET || req->method == FT_HTTP_HEAD;
	int route;

	resp_init(resp);
	*pending = NULL;
	if (path_is(req, "/add")) {
		resp->route = FT_ROUTE_ADD;
		if (req->method != FT_HTTP_POST) {
			method_not_allowed(resp, "POST");
			return 0;
		}
		return h_add(api, req, resp, done, conn_ctx, pending);
	}
	if (path_is(req, "/checkpoint")) {
		route = FT_ROUTE_CHECKPOINT;
	} else if (path_starts(req, "/tile/")) {
		route = FT_ROUTE_TILE;
	} else if (path_is(req, "/proof/inclusion")) {
		route = FT_ROUTE_PROOF_INCLUSION;
	} else if (path_is(req, "/proof/consistency")) {
		route = FT_ROUTE_PROOF_CONSISTENCY;
	} else if (path_is(req, "/metrics")) {
		route = FT_ROUTE_METRICS;
	} else if (path_is(req, "/healthz")) {
		route = FT_ROUTE_HEALTHZ;
	} else if (path_starts(req, "/lineage/")) {
		route = FT_ROUTE_LINEAGE;
	} else if (path_starts(req, "/bundle/")) {
		route = FT_ROUTE_BUNDLE;
	} else {
		(void)ft_resp_error(resp, 404, "no such resource");
		return 0;
	}
	resp->route = route;
	if (!is_get) {
		method_not_allowed(resp, "GET, HEAD");
		return 0;
	}
	if (route != FT_ROUTE_PROOF_INCLUSION &&
	    route != FT_ROUTE_PROOF_CONSISTENCY && route != FT_ROUTE_LINEAGE &&
	    req->query_len > 0) {
		(void)ft_resp_error(resp, 400, "unexpected query string");
		return 0;
	}
	if (route == FT_ROUTE_METRICS) {
		h_metrics(api, resp);
		return 0;
	}
	if (ft_store_read_begin(&api->reader) != 0) {
		(void)ft_resp_error(resp, 503, "store not readable");
		return 0;
	}
	switch (route) {
	case FT_ROUTE_CHECKPOINT:
		h_checkpoint(api, resp);
		break;
	case FT_ROUTE_TILE:
		h_tile(api, req, resp);
		break;
	case FT_ROUTE_PROOF_INCLUSION:
		h_inclusion(api, req, resp);
		break;
	case FT_ROUTE_PROOF_CONSISTENCY:
		h_consistency(api, req, resp);
		break;
	case FT_ROUTE_HEALTHZ:
		h_healthz(api, resp);
		break;
	case FT_ROUTE_LINEAGE:
		h_lineage(api, req, resp);
		break;
	case FT_ROUTE_BUNDLE:
		h_bundle(api, req, resp);
		break;
	default:
		(void)ft_resp_error(resp, 404, "no such resource");
		break;
	}
	ft_store_read_end(&api->reader);
	return 0;
}

int ft_api_new(const ft_api_opts *opts, ft_api **out)
{
	ft_api *api;
	int err;

	*out = NULL;
	if (opts->store == NULL) {
		return FT_EINVAL;
	}
	api = calloc(1, sizeof(*api));
	if (api == NULL) {
		return FT_ENOMEM;
	}
	api->o = *opts;
	api->o.policy = NULL;
	api->tr = malloc(sizeof(*api->tr));
	if (api->tr == NULL) {
		free(api);
		return FT_ENOMEM;
	}
	err = ft_store_reader_init(opts->store, &api->reader);
	if (err != 0) {
		free(api->tr);
		free(api);
		return err;
	}
	if (opts->policy != NULL) {
		api->policy = ft_policy_ref(opts->policy);
	}
	*out = api;
	return 0;
}

void ft_api_free(ft_api *api)
{
	if (api == NULL) {
		return;
	}
	ft_policy_unref(api->policy);
	ft_store_reader_free(&api->reader);
	free(api->tr);
	free(api);
}
