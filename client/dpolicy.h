/*
 * client/dpolicy.h - the device trust policy (docs/device-policy.md).
 *
 * Internal to libftclient: not installed. The policy says which log the
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

#define FT_DPOLICY_MAX_WITNESSES 16
#define FT_DPOLICY_MAX_VENDOR_KEYS 16
#define FT_DPOLICY_FILE_MAX 65536 /* bytes of a policy file */
#define FT_DPOLICY_NAME_MAX 256   /* bytes of product / hardware_model */

#define FT_DPOLICY_AGE_MIN 60             /* seconds */
#define FT_DPOLICY_AGE_MAX 31536000       /* 365 days */
#define FT_DPOLICY_AGE_DEFAULT 604800     /* 7 days */

typedef struct ft_dpolicy {
	/* The log's note verifier key (FT_KEY_ED25519). Its name is the
	 * log's origin: log.name, log.name_len. */
	ft_vkey log;

	/* Witness cosignature/v1 keys (FT_KEY_COSIG_V1), distinct by name
	 * and by public key; quorum <= n_witnesses. */
	size_t n_witnesses;
	ft_vkey witnesses[FT_DPOLICY_MAX_WITNESSES];
	unsigned quorum;

	/* Vendor release keys (FT_KEY_ED25519), 1..16, distinct by name and
	 * by public key; 1 <= threshold <= n_vendor. vendor_keyid[i] is the
	 * DSSE keyid of vendor[i] ("<name>+<hex8>", ft_event_keyid). */
	size_t n_vendor;
	ft_vkey vendor[FT_DPOLICY_MAX_VENDOR_KEYS];
	unsigned threshold;
	char vendor_keyid[FT_DPOLICY_MAX_VENDOR_KEYS][FT_EVENT_KEYID_MAX + 1];

	/* NUL-terminated; product is [A-Za-z0-9._-]{1,256}, hardware_model
	 * printable ASCII without space (0x21..0x7e), 1..256 bytes. */
	char product[FT_DPOLICY_NAME_MAX + 1];
	char hardware_model[FT_DPOLICY_NAME_MAX + 1];

	/* Maximum checkpoint age in seconds, 60..31536000. */
	uint64_t max_age_s;

	/* 1 when quorum is 0: witnesses are not required. Allowed for labs
	 * only; the caller must print a warning. */
	int warn_no_quorum;
} ft_dpolicy;

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

#endif
