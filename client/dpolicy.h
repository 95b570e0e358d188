/*
 * client/dpolicy.h - the device trust policy (docs/device-policy.md).
 *
 * Internal to libftclient (the struct is public, in ftlog/client.h). The policy says which log the
 * device believes (its origin and Ed25519 note key), which witnesses must
 * cosign the log's checkpoints (k of n cosignature/v1 keys), which vendor
 * keys sign releases and how many must agree, the device's product and
 * hardware model, and how old a checkpoint may be.
 *
 * The parsed policy is one fixed-size struct with no pointers: the caller
 * allocates it (stack, static or heap), may copy it with memcpy, and owns
 * it; nothing needs to be freed. Parsing allocates only inside jansson and
 * frees all of it before returning.
 */
#ifndef FTLOG_CLIENT_DPOLICY_H
#define FTLOG_CLIENT_DPOLICY_H

#include <stddef.h>
#include <stdint.h>

#include <ftlog/common.h>
#include <ftlog/event.h>
#include <ftlog/note.h>
#include <ftlog/client.h>

/* ft_dpolicy and its limits are in the public header. */

/*
 * Parse a policy from buf[0..len) (not NUL-terminated; not kept). Strict:
 * one JSON object, no trailing bytes, no duplicate or unknown fields,
 * every field of the right type and in range.
 *
 * Returns 0 and fills *out, or an error code and zeroes *out:
 *  FT_EDEVICE_POLICY  the text is not a valid policy;
 *  FT_ETOOBIG         len > FT_DPOLICY_FILE_MAX;
 *  FT_ENOMEM          jansson ran out of memory;
 *  FT_EINVAL          buf or out is NULL.
 * err (capacity cap; may be NULL) receives a one-line, NUL-terminated
 * reason naming the field ("vendor.keys[1]: duplicate public key ..."),
 * or "" on success. Input quoted in a reason is cut to 40 bytes and
 * reduced to printable ASCII.
 */
FT_WUR int ft_dpolicy_parse(const uint8_t *buf, size_t len, ft_dpolicy *out,
			    char *err, size_t cap);

/*
 * Read and parse the policy file at path. The file is opened with
 * O_NONBLOCK (a FIFO cannot block us), must be a regular file of at most
 * FT_DPOLICY_FILE_MAX bytes (checked with fstat before reading), and is
 * read whole into a temporary buffer freed before returning.
 *
 * Returns what ft_dpolicy_parse returns, and:
 *  FT_EIO             the file cannot be opened, stat'ed or read, or it
 *                     grew while being read;
 *  FT_EDEVICE_POLICY  it is not a regular file;
 *  FT_ETOOBIG         fstat says it is larger than FT_DPOLICY_FILE_MAX;
 *  FT_ENOMEM          no memory for the read buffer.
 * The reason starts with the path ("<path>: ..."). *out is zeroed on
 * failure.
 */
FT_WUR int ft_dpolicy_load(const char *path, ft_dpolicy *out, char *err,
			   size_t cap);

/*
 * The index (0..n_vendor-1) of the vendor key whose DSSE keyid equals the
 * NUL-terminated keyid, or -1 (also for NULL arguments). Allocation-free;
 * at most one match, since vendor key names are distinct.
 */
int ft_dpolicy_vendor_index(const ft_dpolicy *p, const char *keyid);

/* The same among the revoked vendor keys (vendor.revoked). */
int ft_dpolicy_revoked_index(const ft_dpolicy *p, const char *keyid);

#endif
