/*
 * client/state.h - the device state file (internal, not installed).
 *
 * What a device remembers between verifications (DESIGN.md section 5):
 * the last accepted checkpoint (tree size and root hash; none on first
 * boot) and the highest installed security_version per product (the
 * rollback floor). The file format, the checksum's purpose and the atomic
 * update sequence are described in docs/device-state.md.
 *
 * Conventions (BearSSL style): the caller allocates every ft_state; no
 * function here allocates memory or keeps a pointer after it returns; an
 * ft_state may be copied with memcpy. Functions return 0 or a negative
 * FT_E* code (ftlog/common.h) and write their outputs only on success.
 * Error reasons are written to err (capacity cap, always NUL-terminated
 * when cap > 0, truncated to fit, one line, no trailing newline); err may
 * be NULL when cap is 0.
 *
 * Not thread-safe for a shared ft_state; two processes must not save the
 * same path at the same time (both use PATH.tmp): the caller serializes.
 */
#ifndef FTLOG_CLIENT_STATE_H
#define FTLOG_CLIENT_STATE_H

#include <stddef.h>
#include <stdint.h>

#include <ftlog/common.h>
#include <ftlog/merkle.h>
#include <ftlog/client.h>

/* ft_state and its limits are in the public header (ftlog/client.h). */

/* The empty state of a first boot: no checkpoint, no floors. */
void ft_state_init(ft_state *st);

/*
 * Parse a whole state file held in buf[0..len) (not NUL-terminated; buf
 * is only read during the call). Strict: any deviation from the format
 * (order, spaces, CRLF, unknown or missing lines, non-canonical numbers or
 * base64, unsorted or duplicate products, bytes after the checksum line,
 * a wrong checksum) is FT_ESTATE_CORRUPT with a one-line reason naming
 * the line. FT_ETOOBIG if len > FT_STATE_FILE_MAX; FT_EINVAL if buf (with
 * len > 0) or out is NULL. *out is written only on success.
 */
FT_WUR int ft_state_parse(const uint8_t *buf, size_t len, ft_state *out,
			  char *err, size_t cap);

/*
 * Read and parse the state file at path (NUL-terminated). FT_ENOTFOUND if
 * it does not exist (whether a missing state is acceptable, i.e. a first
 * boot, is the caller's decision); FT_EIO if it cannot be opened or read
 * or is not a regular file (directories and FIFOs are refused; the file is
 * opened with O_NONBLOCK so a FIFO cannot block); FT_ETOOBIG if larger
 * than FT_STATE_FILE_MAX (checked with fstat before reading, and again
 * while reading); otherwise as ft_state_parse. Uses about 16 KiB of stack
 * for the file plus one ft_state (~8.6 KiB) in ft_state_parse.
 */
FT_WUR int ft_state_load(const char *path, ft_state *out, char *err,
			 size_t cap);

/*
 * Format st, with its checksum line, into buf (capacity cap; not
 * NUL-terminated) and set *len. FT_EINVAL if an argument is NULL or st
 * breaks an invariant above (nothing that ft_state_parse would refuse is
 * ever written); FT_EBUFSIZE if cap is too small (FT_STATE_FILE_MAX
 * always suffices). buf and *len are written only on success.
 */
FT_WUR int ft_state_format(const ft_state *st, uint8_t *buf, size_t cap,
			   size_t *len);

/*
 * Atomically replace the file at path with st: format; write PATH.tmp
 * (created or truncated, mode 0600, not following a symlink), write it
 * all, fsync, close; rename over path; fsync the directory. On a failure
 * before the rename the old file is untouched and PATH.tmp is removed (if
 * this call created or opened it). FT_EINVAL for bad arguments or an
 * invalid st, or a path too long; FT_EIO for any I/O failure, with the
 * step and strerror in err. If only the final directory fsync fails, the
 * new file is already in place under path but its name may not survive a
 * power loss; FT_EIO is returned and the caller must not assume either
 * content (reload to see which). A symlink at path is replaced, not
 * followed. The caller serializes savers of the same path.
 */
FT_WUR int ft_state_save(const char *path, const ft_state *st, char *err,
			 size_t cap);

/*
 * The stored security_version floor of product (NUL-terminated), or 0 if
 * none is stored, or if product is NULL or not a valid product name.
 */
uint64_t ft_state_floor(const ft_state *st, const char *product);

/*
 * Raise the floor of product (NUL-terminated, valid name) to sv, inserting
 * it in sorted order if new. Setting the current value again is a no-op;
 * setting 0 for a product with no floor is a no-op too (the floor is
 * already 0; no slot is used). FT_EINVAL for a NULL or invalid name,
 * sv > 2^63-1, or sv below the stored floor (floors never go down);
 * FT_ETOOBIG if the product is new and FT_STATE_MAX_PRODUCTS are stored.
 * st is unchanged on failure.
 */
FT_WUR int ft_state_set_floor(ft_state *st, const char *product,
			      uint64_t sv);

/*
 * Record the accepted checkpoint (copies *root). Does not check that the
 * new checkpoint extends the old one: that is the verifier's job (a
 * consistency proof) before it commits. A size above 2^63-1 makes
 * ft_state_format and ft_state_save fail with FT_EINVAL.
 */
void ft_state_set_checkpoint(ft_state *st, uint64_t size,
			     const ft_hash *root);

#endif
