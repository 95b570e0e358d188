/*
 * ftlog/common.h - conventions shared by every ftlog library.
 *
 * Errors: every fallible function returns 0 (FT_OK) or a negative FT_E*
 * code from the single table below; ft_strerror() gives a one-line reason.
 * Outputs are written only on success unless documented otherwise.
 *
 * Bytes are (pointer, length) pairs; no function calls strlen() on data
 * that came from outside.
 */
#ifndef FTLOG_COMMON_H
#define FTLOG_COMMON_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#if defined(__GNUC__) || defined(__clang__)
#define FT_API __attribute__((visibility("default")))
#define FT_WUR __attribute__((warn_unused_result))
#else
#define FT_API
#define FT_WUR
#endif

/* The error table. Codes are stable; append only. */
#define FT_ERRORS(X)                                                          \
	X(FT_OK, 0, "success")                                                \
	X(FT_EINVAL, -1, "invalid argument")                                  \
	X(FT_ENOMEM, -2, "out of memory")                                     \
	X(FT_EBUFSIZE, -3, "output buffer too small")                         \
	X(FT_ETOOBIG, -4, "input exceeds the size limit")                     \
	X(FT_EBASE64, -5, "invalid or non-canonical base64")                  \
	X(FT_EHASHLEN, -6, "hash is not 32 bytes")                            \
	X(FT_ECRYPTO, -7, "crypto library failure")                           \
	X(FT_ENUMBER, -8, "invalid or non-canonical decimal number")          \
	X(FT_EPROOF_RANGE, -20, "proof index or tree sizes out of range")     \
	X(FT_EPROOF_LEN, -21, "proof has the wrong number of hashes")         \
	X(FT_EPROOF_ROOT, -22, "proof does not lead to the expected root")    \
	X(FT_EREAD, -23, "stored hash could not be read")                     \
	X(FT_ETREE_FULL, -24, "tree has reached its maximum size")            \
	X(FT_ETILE_PATH, -30, "malformed or non-canonical tile path")         \
	X(FT_ETILE_SIZE, -31, "tile data has the wrong size")                 \
	X(FT_ETILE_NONE, -32, "no such tile for this tree size")              \
	X(FT_EBUNDLE, -33, "malformed entry bundle")                          \
	X(FT_ENOTE_FORMAT, -40, "malformed signed note")                      \
	X(FT_ENOTE_NOKEY, -41, "note has no signature from a known key")      \
	X(FT_ENOTE_BADSIG, -42, "signature from a known key does not verify") \
	X(FT_ENOTE_TOOMANY, -43, "note has too many signatures")              \
	X(FT_EKEY_FORMAT, -44, "malformed key string")                        \
	X(FT_EKEY_NAME, -45, "invalid key name")                              \
	X(FT_EKEY_HASH, -46, "key id does not match the key")                 \
	X(FT_EKEY_ALG, -47, "unsupported key type")                           \
	X(FT_ECKPT_FORMAT, -50, "malformed checkpoint")                       \
	X(FT_ECKPT_ORIGIN, -51, "checkpoint origin is not the expected one")  \
	X(FT_ECOSIG_TIME, -52, "cosignature timestamp out of range")          \
	X(FT_ETLOGPROOF, -53, "malformed tlog-proof")                         \
	X(FT_ESTORE, -60, "storage error")                                    \
	X(FT_ESTORE_FULL, -61, "storage is full (disk or LMDB map)")          \
	X(FT_ESTORE_CORRUPT, -62, "stored data is inconsistent")              \
	X(FT_ENOTFOUND, -63, "not found")                                     \
	X(FT_EEXIST, -64, "already exists")                                   \
	X(FT_ECONFIG, -65, "invalid configuration")                           \
	X(FT_EIO, -66, "I/O error")                                           \
	X(FT_EBUSY, -67, "queue is full, retry later")                        \
	X(FT_ESHUTDOWN, -68, "server is shutting down")                       \
	X(FT_EREJECTED, -69, "entry rejected by the submission validator")  \
	X(FT_EEVENT_ENVELOPE, -70, "malformed DSSE envelope")                  \
	X(FT_EEVENT_STATEMENT, -71, "malformed in-toto statement")             \
	X(FT_EEVENT_PREDTYPE, -72, "unknown predicate type")                   \
	X(FT_EEVENT_PREDICATE, -73, "malformed predicate")                     \
	X(FT_EUNKNOWN_KEY, -74, "signature by a key the policy does not know") \
	X(FT_EUNAUTHORIZED, -75, "key not authorized for this kind or product") \
	X(FT_ETHRESHOLD, -76, "not enough authorized signatures")              \
	X(FT_EREVOKED, -77, "key or image has been revoked")                 \
	X(FT_EDEVICE_POLICY, -80, "invalid device trust policy")             \
	X(FT_ESTATE_CORRUPT, -81, "device state file is corrupted")         \
	X(FT_ECLIENT_BUNDLE, -90, "malformed proof bundle")                  \
	X(FT_ECLIENT_LOG, -91, "checkpoint is not from the trusted log")     \
	X(FT_ECLIENT_LOG_SIG, -92, "checkpoint not signed by the log key")   \
	X(FT_ECLIENT_QUORUM, -93, "witness cosignature quorum not met")      \
	X(FT_ECLIENT_FUTURE, -94, "cosignature dated in the future")         \
	X(FT_ECLIENT_STALE, -95, "checkpoint is too old")                    \
	X(FT_ECLIENT_CONSISTENCY, -96,                                        \
	  "checkpoint older than or inconsistent with the stored one")      \
	X(FT_ECLIENT_INCLUSION, -97, "inclusion proof does not verify")      \
	X(FT_ECLIENT_NOT_RELEASE, -98, "logged entry is not a release")      \
	X(FT_ECLIENT_DIGEST, -99, "image digest does not match the release") \
	X(FT_ECLIENT_PRODUCT, -100, "release is for another product")        \
	X(FT_ECLIENT_HW, -101, "release is not for this hardware model")     \
	X(FT_ECLIENT_VENDOR_KEY, -102,                                        \
	  "release signed by a revoked or unknown vendor key")              \
	X(FT_ECLIENT_THRESHOLD, -103, "not enough valid vendor signatures")  \
	X(FT_ECLIENT_ROLLBACK, -104,                                          \
	  "security_version below the device's floor")                      \
	X(FT_ECLIENT_NOT_VERIFIED, -105, "nothing verified to commit")       \
	X(FT_EADDCP, -110, "malformed add-checkpoint request or answer")     \
	X(FT_EINCONSISTENT, -111,                                             \
	  "the log contradicts a checkpoint seen before (split view)")

enum ft_error {
#define FT_ERR_ENUM_(name, val, msg) name = (val),
	FT_ERRORS(FT_ERR_ENUM_)
#undef FT_ERR_ENUM_
};

/* One-line, human-readable reason for an error code; never NULL. */
FT_API const char *ft_strerror(int err);

/* The symbolic name of an error code ("FT_EPROOF_ROOT"); never NULL. */
FT_API const char *ft_errname(int err);

/*
 * Initialise the crypto backend (libsodium). Safe to call many times and
 * from several threads; every function that signs or verifies calls it.
 */
FT_WUR FT_API int ft_init(void);

/* ---- Standard base64 (RFC 4648 section 4, with padding), via libsodium. */

/* Length of the encoding of n bytes, without a terminating NUL. */
FT_API size_t ft_b64_enclen(size_t n);

/*
 * Encode n bytes of in to out (capacity cap). Writes a NUL after the
 * encoding when there is room (cap >= enclen + 1 is therefore advisable).
 * Fails with FT_EBUFSIZE if cap < enclen.
 */
FT_WUR FT_API int ft_b64_encode(const uint8_t *in, size_t n, char *out,
				size_t cap, size_t *outlen);

/*
 * Strictly decode standard base64: padding required, no whitespace, no
 * non-zero trailing bits (canonical encodings only). FT_EBUFSIZE if the
 * result does not fit cap; FT_EBASE64 on any invalid input. Empty input
 * decodes to zero bytes. out is unspecified on failure. Table speed, not
 * constant time: meant for public data (hashes, signatures, keys, entries).
 */
FT_WUR FT_API int ft_b64_decode(const char *in, size_t n, uint8_t *out,
				size_t cap, size_t *outlen);

/*
 * Parse a canonical ASCII decimal (no sign, no leading zeros unless the
 * value is 0) of at most 19 digits with value <= INT64_MAX, the limit Go
 * and the C2SP formats share. FT_ENUMBER otherwise.
 */
FT_WUR FT_API int ft_parse_u63(const char *s, size_t n, uint64_t *out);

#ifdef __cplusplus
}
#endif
#endif
