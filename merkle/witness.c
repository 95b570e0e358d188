/*
 * merkle/witness.c - the add-checkpoint wire format of C2SP tlog-witness
 * v1.0.0 ("HTTP Interface", "add-checkpoint"): requests, 409 size bodies
 * and 200 cosignature answers.
 *
 * Pure: no I/O, no allocation. Every line is read through ft_cur and every
 * request written through ft_wbuf. Signatures are verified by ft_note_open
 * over a small note rebuilt on the stack (the checkpoint text, the blank
 * line, one signature line), so that the signed-note rules live in one
 * place (merkle/note.c).
 */
#include <ftlog/witness.h>

#include "merkle/internal.h"

/* "— ": U+2014 EM DASH (E2 80 94) and a space (signed-note "Format"). */
static const uint8_t sig_prefix[4] = { 0xe2, 0x80, 0x94, ' ' };

/* "old " opens every request (tlog-witness "add-checkpoint"). */
static const char old_prefix[] = "old ";
#define OLD_PREFIX_LEN (sizeof old_prefix - 1)

/* A proof line: base64 of one 32-byte hash is exactly 44 characters. */
#define PROOF_B64_LEN 44

/* key id || uint64 timestamp || Ed25519 signature (tlog-cosignature). */
#define COSIG_SIG_LEN (4 + 8 + 64)

/* Base64 characters validated per step in a signature line. */

FT_STATIC_ASSERT(PROOF_B64_LEN + 1 == 45,
		 "FT_ADDCP_BODY_MAX counts 45 bytes per proof line");

/* ---- Requests. */

int ft_addcp_parse(const uint8_t *body, size_t len, ft_addcp *out)
{
	const uint8_t *line = NULL;
	size_t n = 0;
	ft_addcp r;
	ft_cur c;
	int rc;

	if (out == NULL) {
		return FT_EINVAL;
	}
	memset(out, 0, sizeof *out);
	if (body == NULL) {
		return FT_EINVAL;
	}
	if (len > FT_ADDCP_BODY_MAX) {
		return FT_ETOOBIG;
	}
	/* "Each line MUST terminate in a newline character": a CR is never
	 * part of a valid request (the note forbids control characters). */
	if (memchr(body, '\r', len) != NULL) {
		return FT_EADDCP;
	}
	memset(&r, 0, sizeof r);
	ft_cur_init(&c, body, len);

	/* "old", one space, a decimal with no leading zeroes. */
	if (!ft_cur_line(&c, &line, &n) || n <= OLD_PREFIX_LEN ||
	    memcmp(line, old_prefix, OLD_PREFIX_LEN) != 0) {
		return FT_EADDCP;
	}
	rc = ft_parse_u63((const char *)line + OLD_PREFIX_LEN,
			  n - OLD_PREFIX_LEN, &r.old_size);
	if (rc != 0) {
		return FT_EADDCP;
	}

	/* Proof lines, each "a single hash in base64", up to the empty
	 * line; "MUST NOT send more than 63". */
	for (;;) {
		if (!ft_cur_line(&c, &line, &n)) {
			return FT_EADDCP; /* no empty line */
		}
		if (n == 0) {
			break;
		}
		if (r.nproof == FT_ADDCP_PROOF_MAX || n != PROOF_B64_LEN) {
			return FT_EADDCP;
		}
		if (ft_b64_hash(line, n, &r.proof[r.nproof]) != 0) {
			return FT_EADDCP;
		}
		r.nproof++;
	}

	/* The checkpoint: whatever follows, at least one byte. */
	if (ft_cur_left(&c) == 0) {
		return FT_EADDCP;
	}
	r.note = ft_cur_ptr(&c);
	r.note_len = ft_cur_left(&c);
	*out = r;
	return FT_OK;
}

int ft_addcp_format(uint64_t old_size, const ft_hash *proof, size_t n,
		    const uint8_t *note, size_t note_len, uint8_t *buf,
		    size_t cap, size_t *len)
{
	size_t ndigits = 0;
	uint64_t v = old_size;
	size_t need;
	ft_wbuf w;

	if (len == NULL) {
		return FT_EINVAL;
	}
	*len = 0;
	if (n > FT_ADDCP_PROOF_MAX || (n > 0 && proof == NULL) ||
	    note == NULL || note_len == 0 || old_size > FT_TREE_MAX_SIZE ||
	    (buf == NULL && cap > 0)) {
		return FT_EINVAL;
	}
	do {
		ndigits++;
		v /= 10;
	} while (v != 0);
	/* note_len is at most SIZE_MAX: keep the sum from wrapping. */
	need = OLD_PREFIX_LEN + ndigits + 1 + n * (PROOF_B64_LEN + 1) + 1;
	if (note_len > SIZE_MAX - need) {
		return FT_EINVAL;
	}
	need += note_len;
	if (cap < need) {
		*len = need;
		return FT_EBUFSIZE;
	}
	ft_wbuf_init(&w, buf, cap);
	ft_wbuf_put(&w, old_prefix, OLD_PREFIX_LEN);
	ft_wbuf_u64(&w, old_size);
	ft_wbuf_byte(&w, '\n');
	for (size_t i = 0; i < n; i++) {
		ft_wbuf_b64(&w, proof[i].b, FT_HASH_LEN);
		ft_wbuf_byte(&w, '\n');
	}
	ft_wbuf_byte(&w, '\n');
	ft_wbuf_put(&w, note, note_len);
	if (w.err != 0 || w.len != need) {
		/* Cannot happen: need was computed for exactly these. */
		memset(buf, 0, cap);
		return w.err != 0 ? w.err : FT_EINVAL;
	}
	*len = w.len;
	return FT_OK;
}

/* ---- 409 answers. */

int ft_addcp_parse_size(const uint8_t *body, size_t len, uint64_t *size)
{
	uint64_t v = 0;

	if (size == NULL) {
		return FT_EINVAL;
	}
	*size = 0;
	/* "the tree size of the latest cosigned checkpoint in decimal,
	 * followed by a newline" and nothing else. */
	if (body == NULL || len < 2 || body[len - 1] != '\n') {
		return FT_EADDCP;
	}
	if (ft_parse_u63((const char *)body, len - 1, &v) != 0) {
		return FT_EADDCP;
	}
	*size = v;
	return FT_OK;
}

/* ---- 200 answers. */

/*
 * One signature line without its newline: "— <name> <base64>", a valid
 * key name and strict base64 of a key id and at least one signature byte
 * (signed-note "Format"). Names are capped at FT_KEY_NAME_MAX, ftlog's
 * cap on every key name. *id is the line's key id.
 */
static bool sig_line_ok(const uint8_t *p, size_t n, const uint8_t **name,
			size_t *name_len, uint32_t *id, size_t *sig_len)
{
	uint8_t head[4] = { 0 };
	const uint8_t *sp;
	ft_cur c;

	ft_cur_init(&c, p, n);
	if (!ft_cur_prefix(&c, sig_prefix, sizeof sig_prefix)) {
		return false;
	}
	sp = memchr(ft_cur_ptr(&c), ' ', ft_cur_left(&c));
	if (sp == NULL) {
		return false;
	}
	*name = ft_cur_ptr(&c);
	*name_len = (size_t)(sp - *name);
	if (!ft_key_name_valid((const char *)*name, *name_len)) {
		return false;
	}
	c.off += *name_len + 1;
	if (!ft_b64_scan(ft_cur_ptr(&c), ft_cur_left(&c), head, sig_len) ||
	    *sig_len < 5) {
		return false;
	}
	*id = ft_be32(head);
	return true;
}

/*
 * Verify one line (with its newline) claimed by the witness: rebuild the
 * cosigned note "text\nline" and open it with the witness key alone.
 */
static int verify_line(const uint8_t *text, size_t text_len,
		       const ft_vkey *witness, const uint8_t *line, size_t n,
		       uint64_t *ts)
{
	uint8_t note[FT_COSIG_TEXT_MAX + 1 + FT_NOTE_SIG_LINE_MAX];
	ft_note_sig st;
	size_t tlen = 0;
	int rc;

	if (n > FT_NOTE_SIG_LINE_MAX) {
		return FT_ENOTE_BADSIG; /* too long to be a cosignature */
	}
	memcpy(note, text, text_len);
	note[text_len] = '\n';
	memcpy(note + text_len + 1, line, n);
	rc = ft_note_open(note, text_len + 1 + n, witness, 1, &st, &tlen);
	switch (rc) {
	case FT_OK:
		if (tlen != text_len || !st.verified) {
			return FT_ENOTE_BADSIG;
		}
		*ts = st.timestamp;
		return FT_OK;
	case FT_ENOTE_FORMAT:
	case FT_ETOOBIG:
		return FT_EADDCP;
	case FT_EINVAL:
	case FT_EKEY_NAME:
	case FT_EKEY_ALG:
	case FT_ECRYPTO:
		return rc;
	default:
		/* BADSIG, a timestamp over 2^63 - 1, or a signature of the
		 * wrong length: not a valid cosignature by this key. */
		return FT_ENOTE_BADSIG;
	}
}

int ft_addcp_check_cosig(const uint8_t *text, size_t text_len,
			 const ft_vkey *witness, const uint8_t *body,
			 size_t len, char *line, size_t cap,
			 size_t *line_len, uint64_t *timestamp)
{
	const uint8_t *l = NULL;
	const uint8_t *first = NULL;
	size_t first_len = 0;
	uint64_t first_ts = 0;
	size_t n = 0;
	size_t count = 0;
	size_t from_witness = 0;
	ft_cur c;
	int rc;

	if (line_len != NULL) {
		*line_len = 0;
	}
	if (timestamp != NULL) {
		*timestamp = 0;
	}
	if (line != NULL && cap > 0) {
		line[0] = '\0';
	}
	if (text == NULL || witness == NULL || body == NULL || line == NULL ||
	    line_len == NULL || timestamp == NULL) {
		return FT_EINVAL;
	}
	if (witness->type != FT_KEY_COSIG_V1) {
		return FT_EKEY_ALG;
	}
	if (text_len == 0 || text[text_len - 1] != '\n') {
		return FT_EINVAL;
	}
	if (text_len > FT_COSIG_TEXT_MAX) {
		return FT_ETOOBIG;
	}
	if (cap < FT_NOTE_SIG_LINE_MAX + 1) {
		return FT_EBUFSIZE;
	}
	/* "one or more note signature lines, each starting with the —
	 * character and ending with a newline character". */
	if (len == 0 || body[len - 1] != '\n') {
		return FT_EADDCP;
	}
	/* First the framing of every line, without crypto. */
	ft_cur_init(&c, body, len);
	while (ft_cur_line(&c, &l, &n)) {
		const uint8_t *name = NULL;
		size_t name_len = 0;
		size_t sig_len = 0;
		uint32_t id = 0;

		if (++count > FT_NOTE_MAX_SIGS) {
			return FT_EADDCP;
		}
		if (!sig_line_ok(l, n, &name, &name_len, &id, &sig_len)) {
			return FT_EADDCP;
		}
	}
	/* Then the witness's lines: each must verify ("The client MUST
	 * ignore any cosignatures from unknown keys"; a key is its name and
	 * key id together, signed-note "Signatures"). */
	ft_cur_init(&c, body, len);
	while (ft_cur_line(&c, &l, &n)) {
		const uint8_t *name = NULL;
		size_t name_len = 0;
		size_t sig_len = 0;
		uint32_t id = 0;
		uint64_t ts = 0;

		if (!sig_line_ok(l, n, &name, &name_len, &id, &sig_len)) {
			return FT_EADDCP;
		}
		if (id != witness->id || name_len != witness->name_len ||
		    memcmp(name, witness->name, name_len) != 0) {
			continue;
		}
		from_witness++;
		if (sig_len != COSIG_SIG_LEN) {
			return FT_ENOTE_BADSIG;
		}
		rc = verify_line(text, text_len, witness, l, n + 1, &ts);
		if (rc != 0) {
			return rc;
		}
		if (first == NULL) {
			first = l;
			first_len = n + 1;
			first_ts = ts;
		}
	}
	if (from_witness == 0) {
		return FT_ENOTE_NOKEY;
	}
	/* verify_line bounded the line by FT_NOTE_SIG_LINE_MAX < cap. */
	memcpy(line, first, first_len);
	line[first_len] = '\0';
	*line_len = first_len;
	*timestamp = first_ts;
	return FT_OK;
}
