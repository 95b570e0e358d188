/*
 * client/online.c - libftclient's online mode (ftlog/client.h,
 * ft_client_fetch): the bundle from GET /bundle/<sha256>, and the
 * consistency proof from the device's stored checkpoint to the bundle's
 * from GET /proof/consistency. Nothing fetched is trusted here; the
 * caller passes it to ft_client_verify.
 */
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include <ftlog/client.h>

#include "client/httpc.h"
#include "event/jsonutil.h"

#define set_err ft_ju_set

/* One GET; 0 with *resp for a 200, else an error with the reason. */
static int get(const char *url, const char *path, int is_bundle,
	       size_t max_body, int timeout_ms, ft_httpc_resp *resp, char *err,
	       size_t cap)
{
	char why[FT_CLIENT_ERR_MAX];
	char line[120];
	ft_httpc_req req = {
		.url = url,
		.method = "GET",
		.path = path,
		.max_body = max_body,
		.timeout_ms = timeout_ms,
	};

	int rc = ft_httpc_do(&req, resp, why, sizeof why);
	if (rc != 0) {
		set_err(err, cap, "fetch: GET %s: %s", path, why);
		return rc == FT_ETOOBIG ? FT_ETOOBIG
		       : rc == FT_ENOMEM ? FT_ENOMEM
		       : rc == FT_EINVAL ? FT_EINVAL
					 : FT_EIO;
	}
	if (resp->status == 200) {
		return 0;
	}
	ft_httpc_body_line(resp, line, sizeof line);
	int status = resp->status;
	ft_httpc_resp_free(resp);
	/* 404 and 410 of /bundle are answers, with their own rules. */
	if (is_bundle && (status == 404 || status == 410)) {
		set_err(err, cap, "%s: GET %s: HTTP %d%s%s",
			status == 404 ? "not-found" : "revoked", path, status,
			line[0] != '\0' ? ": " : "", line);
		return status == 404 ? FT_ENOTFOUND : FT_EREVOKED;
	}
	set_err(err, cap, "fetch: GET %s: HTTP %d%s%s", path, status,
		line[0] != '\0' ? ": " : "", line);
	return FT_EIO;
}

/* The size of the bundle's checkpoint (syntax only; verify trusts
 * nothing of this). */
static int bundle_size(ft_client *c, const uint8_t *b, size_t len,
		       uint64_t *size)
{
	ft_tlog_proof tp;
	ft_checkpoint cp;

	int rc = ft_tlog_proof_parse(b, len, &tp, c->entry, sizeof c->entry);
	if (rc != 0) {
		return rc;
	}
	size_t tlen = 0;
	for (size_t i = tp.checkpoint_len; i >= 2; i--) {
		if (tp.checkpoint[i - 1] == '\n' &&
		    tp.checkpoint[i - 2] == '\n') {
			tlen = i - 1;
			break;
		}
	}
	rc = ft_checkpoint_parse(tp.checkpoint, tlen, NULL, 0, &cp);
	if (rc != 0) {
		return rc;
	}
	*size = cp.size;
	return 0;
}

/* A consistency proof body: one standard base64 hash per line. */
static int parse_hashes(const uint8_t *body, size_t len, ft_hash *out,
			size_t max, size_t *n)
{
	size_t i = 0, k = 0;

	while (i < len) {
		size_t j = i;
		size_t got = 0;

		while (j < len && body[j] != '\n') {
			j++;
		}
		if (j == len || j - i != 44 || k == max) {
			return FT_ECLIENT_BUNDLE;
		}
		if (ft_b64_decode((const char *)body + i, 44, out[k].b,
				  sizeof out[k].b, &got) != 0 ||
		    got != 32) {
			return FT_ECLIENT_BUNDLE;
		}
		k++;
		i = j + 1;
	}
	*n = k;
	return 0;
}

int ft_client_fetch(ft_client *c, const char *url, const uint8_t digest[32],
		    int timeout_ms, uint8_t *bundle, size_t cap, size_t *len,
		    ft_hash *cons, size_t *cons_n, char *err, size_t errcap)
{
	static const char digits[] = "0123456789abcdef";
	ft_httpc_resp resp = {0};
	char path[128];
	uint64_t size = 0;
	int rc;

	set_err(err, errcap, "%s", "");
	if (c == NULL || url == NULL || digest == NULL || bundle == NULL ||
	    len == NULL || cons == NULL || cons_n == NULL ||
	    cap < FT_CLIENT_BUNDLE_MAX) {
		set_err(err, errcap, "fetch: invalid argument");
		return FT_EINVAL;
	}
	*len = 0;
	*cons_n = 0;
	memcpy(path, "/bundle/", 8);
	for (size_t i = 0; i < 32; i++) {
		path[8 + 2 * i] = digits[digest[i] >> 4];
		path[8 + 2 * i + 1] = digits[digest[i] & 15];
	}
	path[8 + 64] = '\0';
	rc = get(url, path, 1, FT_CLIENT_BUNDLE_MAX, timeout_ms, &resp, err,
		 errcap);
	if (rc != 0) {
		/* 404: no release of this image; 410: revoked (the log's
		 * reason is in err). */
		return rc;
	}
	memcpy(bundle, resp.body, resp.body_len);
	*len = resp.body_len;
	ft_httpc_resp_free(&resp);

	rc = bundle_size(c, bundle, *len, &size);
	if (rc != 0) {
		set_err(err, errcap, "bundle: the log's answer is not a valid "
				     "tlog-proof (%s)",
			ft_strerror(rc));
		*len = 0;
		return FT_ECLIENT_BUNDLE;
	}
	const ft_state *s = &c->state;
	if (!s->has_checkpoint || s->size == 0 || size <= s->size) {
		/* Nothing to prove: a first checkpoint, or one verify will
		 * compare (same size) or refuse (older). */
		return 0;
	}
	snprintf(path, sizeof path,
		 "/proof/consistency?old=%" PRIu64 "&new=%" PRIu64, s->size,
		 size);
	rc = get(url, path, 0, (size_t)FT_PROOF_MAX_CONSISTENCY * 45,
		 timeout_ms, &resp, err, errcap);
	if (rc != 0) {
		*len = 0;
		return rc;
	}
	rc = parse_hashes(resp.body, resp.body_len, cons,
			  FT_PROOF_MAX_CONSISTENCY, cons_n);
	ft_httpc_resp_free(&resp);
	/* An empty answer must not turn online mode into offline mode. */
	if (rc == 0 && *cons_n != ft_proof_consistency_len(s->size, size)) {
		rc = FT_ECLIENT_BUNDLE;
	}
	if (rc != 0) {
		set_err(err, errcap, "bundle: GET %s: not a consistency proof "
				     "of the right length",
			path);
		*len = 0;
		*cons_n = 0;
		return FT_ECLIENT_BUNDLE;
	}
	return 0;
}
