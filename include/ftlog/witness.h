/*
 * ftlog/witness.h - the wire format of C2SP tlog-witness v1.0.0
 * (c2sp.org/tlog-witness), in libftmerkle: no I/O, no allocation.
 *
 * POST <prefix>/add-checkpoint carries
 *
 *     old <decimal size>\n            no leading zeros ("0" for zero)
 *     <base64 hash>\n                 0..63 consistency proof lines
 *     \n
 *     <signed checkpoint note>        origin, size, root, extensions,
 *                                     blank line, signature lines
 *
 * The witness answers 200 with one or more cosignature lines
 * ("\u2014 <name> <base64>\n", tlog-cosignature v1), or 409 Conflict with
 * body "<decimal size>\n" and Content-Type text/x.tlog.size (the size it
 * last cosigned), or 400/403/404/422 with a short text reason.
 *
 * Used by the witness (`ftlog witness serve`: parse a request), by ftlogd
 * (format requests, parse 409 bodies, check the cosignatures it gets) and
 * by the fuzz target "addcp".
 */
#ifndef FTLOG_WITNESS_H
#define FTLOG_WITNESS_H

#include <ftlog/note.h>

#ifdef __cplusplus
extern "C" {
#endif

/* At most this many consistency proof lines (the spec's limit). */
#define FT_ADDCP_PROOF_MAX 63

/* Largest request body: old line, 63 proof lines, blank line, a note. */
#define FT_ADDCP_BODY_MAX (32 + FT_ADDCP_PROOF_MAX * 45 + 1 + FT_NOTE_MAX_BYTES)

/* Content-Type of a 409 answer. */
#define FT_ADDCP_SIZE_CT "text/x.tlog.size"

typedef struct ft_addcp {
	uint64_t old_size;                /* <= FT_TREE_MAX_SIZE */
	size_t nproof;                    /* 0..FT_ADDCP_PROOF_MAX */
	ft_hash proof[FT_ADDCP_PROOF_MAX];
	const uint8_t *note;              /* points into the body: the
					   * signed checkpoint, to its end */
	size_t note_len;                  /* >= 1 */
} ft_addcp;

/*
 * Parse an add-checkpoint request body strictly: the "old " line with a
 * canonical decimal (no sign, no leading zero, no space, at most
 * FT_TREE_MAX_SIZE), then lines each holding exactly the canonical
 * base64 of 32 bytes (44 characters), at most FT_ADDCP_PROOF_MAX of
 * them, then one empty line, then a non-empty rest (the note; its own
 * syntax and signatures are the caller's: ft_note_open,
 * ft_checkpoint_parse). Every line ends in "\n"; "\r" is an error.
 * A body longer than FT_ADDCP_BODY_MAX is FT_ETOOBIG. Anything else
 * malformed is FT_EADDCP. On error *out is zeroed.
 *
 * Whether a proof is allowed with old size 0, and whether old <= the
 * checkpoint size, are protocol checks left to the witness (the spec
 * gives them their own status codes).
 */
FT_WUR FT_API int ft_addcp_parse(const uint8_t *body, size_t len,
				 ft_addcp *out);

/*
 * Format a request body: "old N\n", the proof lines, "\n", the note
 * bytes as given. FT_EINVAL for n > FT_ADDCP_PROOF_MAX or an empty note,
 * FT_EBUFSIZE if it does not fit cap (*len is then the size needed).
 */
FT_WUR FT_API int ft_addcp_format(uint64_t old_size, const ft_hash *proof,
				  size_t n, const uint8_t *note,
				  size_t note_len, uint8_t *buf, size_t cap,
				  size_t *len);

/*
 * Parse a 409 body: a canonical decimal size followed by exactly one
 * "\n" and nothing else. 0, or FT_EADDCP.
 */
FT_WUR FT_API int ft_addcp_parse_size(const uint8_t *body, size_t len,
				      uint64_t *size);

/*
 * Check a 200 answer from the witness whose cosignature key is `witness`
 * (type FT_KEY_COSIG_V1) for the checkpoint text `text` (the note's text
 * part: up to and including the blank line's preceding "\n", as
 * ft_note_open reports with text_len). The body must be 1..FT_NOTE_MAX_SIGS
 * signature lines, each "\u2014 name base64\n"; lines from other keys are
 * ignored (the spec says so), but at least one must be from `witness`
 * and every line from it must verify. On success the first verified line
 * is copied to line (NUL-terminated, cap >= FT_NOTE_SIG_LINE_MAX + 1),
 * *line_len set, and *timestamp is its cosignature time.
 * FT_EADDCP for a malformed body, FT_ENOTE_NOKEY when no line is from
 * the witness, FT_ENOTE_BADSIG when one from it does not verify,
 * FT_EBUFSIZE for a small line buffer.
 */
FT_WUR FT_API int ft_addcp_check_cosig(const uint8_t *text, size_t text_len,
				       const ft_vkey *witness,
				       const uint8_t *body, size_t len,
				       char *line, size_t cap,
				       size_t *line_len, uint64_t *timestamp);

#ifdef __cplusplus
}
#endif

#endif
