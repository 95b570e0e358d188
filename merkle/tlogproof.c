/*
 * merkle/tlogproof.c - C2SP tlog-proof (c2sp.org/tlog-proof@v1):
 *
 *   c2sp.org/tlog-proof@v1\n
 *   extra <base64>\n            optional, non-empty
 *   index <decimal>\n
 *   <base64 of 32 bytes>\n      zero or more: the inclusion path
 *   \n
 *   <signed checkpoint>         verbatim, ends in \n
 *
 * Only the syntax is checked here; the caller opens the checkpoint note and
 * verifies the inclusion path against its root.
 */
#include <assert.h>

#include "merkle/internal.h"

#include <ftlog/tlogproof.h>

#define HEADER FT_TLOG_PROOF_HEADER
#define HEADER_LEN (sizeof HEADER - 1)

/* Whether (line, n) is key followed by a space; if so, skip past it. */
static bool take_key(const uint8_t **line, size_t *n, const char *key)
{
	size_t k = strlen(key);

	if (*n < k + 1 || memcmp(*line, key, k) != 0 || (*line)[k] != ' ') {
		return false;
	}
	*line += k + 1;
	*n -= k + 1;
	return true;
}

/*
 * Whether (p, n) has the layout of a signed note (C2SP signed-note): text
 * ending in "\n", a blank line, then one or more complete lines each
 * starting with "\u2014 ". The note itself is opened and checked later
 * by the caller; this only refuses what can never be a signed checkpoint,
 * such as an empty one or one cut off before its signature.
 */
static bool note_shaped(const uint8_t *p, size_t n)
{
	static const uint8_t dash[] = { 0xe2, 0x80, 0x94, ' ' };
	size_t split = 0;
	ft_cur c;

	if (n < 2 || p[n - 1] != '\n') {
		return false;
	}
	/* The text ends at the last blank line, as in Go's note.Open. */
	for (size_t i = n - 1; i > 0; i--) {
		if (p[i] == '\n' && p[i - 1] == '\n') {
			split = i;
			break;
		}
	}
	if (split < 2) {
		return false;
	}
	ft_cur_init(&c, p + split + 1, n - split - 1);
	if (ft_cur_left(&c) == 0) {
		return false;
	}
	while (ft_cur_left(&c) != 0) {
		const uint8_t *line = NULL;
		size_t len = 0;

		if (!ft_cur_line(&c, &line, &len) || len < sizeof dash ||
		    memcmp(line, dash, sizeof dash) != 0) {
			return false;
		}
	}
	return true;
}

/* The parse proper; ft_tlog_proof_parse wipes the outputs on failure. */
static int parse(const uint8_t *in, size_t len, ft_tlog_proof *out,
		 uint8_t *extra_buf, size_t extra_cap)
{
	const uint8_t *line = NULL;
	size_t n = 0;
	ft_cur c;
	int rc;

	ft_cur_init(&c, in, len);
	if (!ft_cur_line(&c, &line, &n) || n != HEADER_LEN ||
	    memcmp(line, HEADER, HEADER_LEN) != 0) {
		return FT_ETLOGPROOF;
	}
	if (!ft_cur_line(&c, &line, &n)) {
		return FT_ETLOGPROOF;
	}
	if (take_key(&line, &n, "extra")) {
		/* An extra line present but empty has no canonical meaning:
		 * no extra data is spelled by omitting the line. */
		if (n == 0) {
			return FT_ETLOGPROOF;
		}
		rc = ft_b64_decode((const char *)line, n, extra_buf, extra_cap,
				   &out->extra_len);
		if (rc != 0) {
			return rc;
		}
		out->has_extra = 1;
		if (!ft_cur_line(&c, &line, &n)) {
			return FT_ETLOGPROOF;
		}
	}
	if (!take_key(&line, &n, "index")) {
		return FT_ETLOGPROOF;
	}
	rc = ft_parse_u63((const char *)line, n, &out->index);
	if (rc != 0) {
		return rc;
	}
	for (;;) {
		if (!ft_cur_line(&c, &line, &n)) {
			/* The empty line before the checkpoint is missing. */
			return FT_ETLOGPROOF;
		}
		if (n == 0) {
			break;
		}
		if (out->path_len == FT_PROOF_MAX_INCLUSION) {
			return FT_EPROOF_LEN;
		}
		rc = ft_b64_hash(line, n, &out->path[out->path_len]);
		if (rc != 0) {
			return rc;
		}
		out->path_len++;
	}
	n = ft_cur_left(&c);
	if (!note_shaped(ft_cur_ptr(&c), n)) {
		return FT_ETLOGPROOF;
	}
	out->checkpoint = ft_cur_ptr(&c);
	out->checkpoint_len = n;
	return FT_OK;
}

int ft_tlog_proof_parse(const uint8_t *in, size_t len, ft_tlog_proof *out,
			uint8_t *extra_buf, size_t extra_cap)
{
	if (out == NULL) {
		return FT_EINVAL;
	}
	memset(out, 0, sizeof *out);
	if (in == NULL || (extra_buf == NULL && extra_cap != 0)) {
		return FT_EINVAL;
	}
	/* Cap before reading anything. */
	if (len > FT_TLOG_PROOF_MAX) {
		return FT_ETOOBIG;
	}
	int rc = parse(in, len, out, extra_buf, extra_cap);
	if (rc != 0) {
		memset(out, 0, sizeof *out);
		if (extra_cap != 0) {
			memset(extra_buf, 0, extra_cap);
		}
	}
	return rc;
}

/* Decimal digits of v. */
static size_t dec_len(uint64_t v)
{
	size_t n = 1;

	while (v >= 10) {
		v /= 10;
		n++;
	}
	return n;
}

int ft_tlog_proof_format(const uint8_t *extra, size_t extra_len, uint64_t index,
			 const ft_hash *path, size_t path_len,
			 const uint8_t *signed_checkpoint,
			 size_t checkpoint_len, uint8_t *out, size_t cap,
			 size_t *len)
{
	ft_wbuf w;

	if (out == NULL || len == NULL || signed_checkpoint == NULL ||
	    (extra != NULL && extra_len == 0) ||
	    (path == NULL && path_len != 0) || index > (uint64_t)INT64_MAX) {
		return FT_EINVAL;
	}
	/* The parser would refuse anything else, e.g. an empty checkpoint or
	 * one whose last line is unterminated. */
	if (!note_shaped(signed_checkpoint, checkpoint_len)) {
		return FT_EINVAL;
	}
	if (path_len > FT_PROOF_MAX_INCLUSION) {
		return FT_EPROOF_LEN;
	}
	/* Size the output first, so that nothing is written on failure and
	 * nothing is written that ft_tlog_proof_parse would refuse. The
	 * individual caps keep the sum from overflowing. */
	if (extra_len > FT_TLOG_PROOF_MAX ||
	    checkpoint_len > FT_TLOG_PROOF_MAX) {
		return FT_ETOOBIG;
	}
	size_t need = HEADER_LEN + 1;
	if (extra != NULL) {
		need += sizeof "extra " - 1 + ft_b64_enclen(extra_len) + 1;
	}
	need += sizeof "index " - 1 + dec_len(index) + 1;
	need += path_len * (ft_b64_enclen(FT_HASH_LEN) + 1) + 1;
	need += checkpoint_len;
	if (need > FT_TLOG_PROOF_MAX) {
		return FT_ETOOBIG;
	}
	if (need > cap) {
		return FT_EBUFSIZE;
	}
	ft_wbuf_init(&w, out, cap);
	ft_wbuf_str(&w, HEADER "\n");
	if (extra != NULL) {
		ft_wbuf_str(&w, "extra ");
		ft_wbuf_b64(&w, extra, extra_len);
		ft_wbuf_byte(&w, '\n');
	}
	ft_wbuf_str(&w, "index ");
	ft_wbuf_u64(&w, index);
	ft_wbuf_byte(&w, '\n');
	for (size_t i = 0; i < path_len; i++) {
		ft_wbuf_b64(&w, path[i].b, FT_HASH_LEN);
		ft_wbuf_byte(&w, '\n');
	}
	ft_wbuf_byte(&w, '\n');
	ft_wbuf_put(&w, signed_checkpoint, checkpoint_len);
	if (w.err != 0) {
		return w.err;
	}
	/* The size computed above is exactly what was written. */
	assert(w.len == need);
	*len = w.len;
	return FT_OK;
}
