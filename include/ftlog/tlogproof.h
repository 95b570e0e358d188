/*
 * ftlog/tlogproof.h - C2SP tlog-proof (c2sp.org/tlog-proof@v1), the
 * offline proof that an entry was logged:
 *
 *   c2sp.org/tlog-proof@v1
 *   extra <base64 of the log entry>      (optional line)
 *   index <decimal>
 *   <base64 hash>                        (zero or more: the inclusion path)
 *   <empty line>
 *   <signed checkpoint, verbatim>
 *
 * ftlog carries the whole log entry on the extra line, so the proof is
 * self-contained. The parser only checks the syntax: the caller opens the
 * checkpoint note, parses it and verifies the inclusion proof.
 */
#ifndef FTLOG_TLOGPROOF_H
#define FTLOG_TLOGPROOF_H

#include <ftlog/merkle.h>

#ifdef __cplusplus
extern "C" {
#endif

#define FT_TLOG_PROOF_HEADER "c2sp.org/tlog-proof@v1"
/* Cap on a whole tlog-proof: a 64 KiB entry in base64, 64 hashes, a note. */
#define FT_TLOG_PROOF_MAX (FT_ENTRY_MAX_B64 + 64 * 45 + 65536 + 64)
#define FT_ENTRY_MAX_B64 (((65535 + 2) / 3) * 4)

typedef struct ft_tlog_proof {
	int has_extra;
	size_t extra_len;        /* decoded length, in the caller's buffer */
	uint64_t index;
	ft_hash path[FT_PROOF_MAX_INCLUSION];
	size_t path_len;
	const uint8_t *checkpoint; /* signed note, points into the input */
	size_t checkpoint_len;
} ft_tlog_proof;

/*
 * Strictly parse a tlog-proof of at most FT_TLOG_PROOF_MAX bytes. The extra
 * data is decoded into extra_buf (capacity extra_cap; FT_EBUFSIZE if it
 * does not fit; may be NULL/0 when no extra line is expected, in which case
 * an extra line is FT_EBUFSIZE). Rejects: a wrong header, an empty or
 * non-canonical extra, a non-canonical index, hash lines that are not
 * canonical base64 of 32 bytes, more than FT_PROOF_MAX_INCLUSION hashes, a
 * missing empty line, an empty checkpoint (FT_ETLOGPROOF, FT_EBASE64,
 * FT_ENUMBER, FT_EHASHLEN, FT_EPROOF_LEN, FT_ETOOBIG).
 */
FT_WUR FT_API int ft_tlog_proof_parse(const uint8_t *in, size_t len,
				      ft_tlog_proof *out, uint8_t *extra_buf,
				      size_t extra_cap);

/*
 * Write a tlog-proof. extra may be NULL (no extra line) or at least 1
 * byte; signed_checkpoint is copied verbatim and must end in "\n".
 */
FT_WUR FT_API int ft_tlog_proof_format(const uint8_t *extra, size_t extra_len,
				       uint64_t index, const ft_hash *path,
				       size_t path_len,
				       const uint8_t *signed_checkpoint,
				       size_t checkpoint_len, uint8_t *out,
				       size_t cap, size_t *len);

#ifdef __cplusplus
}
#endif
#endif
