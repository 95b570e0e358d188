/*
 * ftlog/client.h - libftclient, the device side of ftlog (DESIGN.md
 * section 5, docs/device-client.md): no proof, no install.
 *
 * A network element calls this before it installs a firmware image. The
 * image must come with a C2SP tlog-proof ("bundle") of its release event;
 * the device checks it against its trust policy (docs/device-policy.md)
 * and its state (docs/device-state.md) and refuses anything that does not
 * pass every check.
 *
 *   static ft_client c;                       // ~230 KiB: static or heap
 *   uint8_t digest[32];
 *   ft_client_result res;
 *   char err[FT_CLIENT_ERR_MAX];
 *   ft_client_init(&c, "/etc/ftlog/policy.json", "/var/lib/ftlog/state",
 *                  0, err, sizeof err);
 *   int fd = open("fw.bin", O_RDONLY);      // hash and install ONE open file
 *   ft_client_hash_fd(&c, fd, digest, NULL, err, sizeof err);
 *   rc = ft_client_verify(&c, digest, bundle, bundle_len, NULL, 0,
 *                         (uint64_t)time(NULL), &res, err, sizeof err);
 *   if (rc == 0 && lseek(fd, 0, SEEK_SET) == 0 && install_from(fd) == 0)
 *           ft_client_commit(&c, err, sizeof err);
 *
 * Conventions (BearSSL style):
 *  - The caller allocates the context (ft_client) and every output; the
 *    library keeps no pointer to caller memory after a call returns and
 *    has no global state. One context per thread.
 *  - Functions return 0 or a negative FT_E* code (ftlog/common.h). Every
 *    failure also writes a one-line, NUL-terminated reason into err
 *    (capacity cap; may be NULL when cap is 0), of the form
 *    "<rule>: <detail>", rule being one of the names in the table of
 *    ft_client_verify below, or "policy", "state", "image", "fetch",
 *    "commit".
 *  - No malloc on the proof, note and signature path: bundle parsing,
 *    checkpoint and cosignature verification, Merkle proofs and Ed25519
 *    run on the context and the stack. Only the release envelope's JSON
 *    is parsed with jansson, which allocates (bounded by the 64 KiB entry
 *    cap) and is freed before ft_client_verify returns. Loading the
 *    policy allocates inside jansson and frees it too; ft_client_fetch
 *    allocates response bodies (freed before it returns).
 *  - Fail closed: any doubt is a refusal. Nothing is written to the state
 *    file except by ft_client_commit after a successful ft_client_verify.
 */
#ifndef FTLOG_CLIENT_H
#define FTLOG_CLIENT_H

#include <stddef.h>
#include <stdint.h>

#include <ftlog/common.h>
#include <ftlog/event.h>
#include <ftlog/merkle.h>
#include <ftlog/note.h>
#include <ftlog/tlogproof.h>

#ifdef __cplusplus
extern "C" {
#endif

/* ---- The trust policy (docs/device-policy.md). ------------------------ */

#define FT_DPOLICY_MAX_WITNESSES 16
#define FT_DPOLICY_MAX_VENDOR_KEYS 16
#define FT_DPOLICY_MAX_REVOKED 16
#define FT_DPOLICY_FILE_MAX 65536 /* bytes of a policy file */
#define FT_DPOLICY_NAME_MAX 256   /* bytes of product / hardware_model */

#define FT_DPOLICY_AGE_MIN 60             /* seconds */
#define FT_DPOLICY_AGE_MAX 31536000       /* 365 days */
#define FT_DPOLICY_AGE_DEFAULT 604800     /* 7 days */

/* A parsed policy: fixed size, no pointers, may be copied with memcpy. */
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

	/* Revoked vendor keys (vendor.revoked, optional, 0..16 Ed25519
	 * keys, none of them also in vendor.keys): a release carrying a
	 * signature by one of them is refused, whatever else signed it. */
	size_t n_revoked;
	ft_vkey revoked[FT_DPOLICY_MAX_REVOKED];
	char revoked_keyid[FT_DPOLICY_MAX_REVOKED][FT_EVENT_KEYID_MAX + 1];

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

/* ---- The device state (docs/device-state.md). ------------------------- */

#define FT_STATE_MAX_PRODUCTS 32
#define FT_STATE_PRODUCT_MAX 256 /* bytes of a product name */
#define FT_STATE_FILE_MAX 16384  /* a formatted state is at most ~9.6 KiB */

/*
 * Invariants: size <= 2^63-1 when has_checkpoint; n <=
 * FT_STATE_MAX_PRODUCTS; sv[0..n) have valid product names, sorted
 * bytewise and distinct, with sv <= 2^63-1. When has_checkpoint is 0,
 * size and root are zero and meaningless.
 */
typedef struct ft_state {
	int has_checkpoint;
	uint64_t size;
	ft_hash root;
	size_t n;
	struct {
		char product[FT_STATE_PRODUCT_MAX + 1];
		uint64_t sv;
	} sv[FT_STATE_MAX_PRODUCTS];
} ft_state;

/* ---- The verifier. ---------------------------------------------------- */

#define FT_CLIENT_ERR_MAX 512          /* an err buffer that always fits */
#define FT_CLIENT_PATH_MAX 4091        /* bytes of the state file path
					* (PATH_MAX less ".tmp" and NUL) */
#define FT_CLIENT_IO_CHUNK (128 * 1024) /* image read size */
#define FT_CLIENT_MAX_SKEW 300         /* seconds a cosignature may be
					* ahead of the device's clock */
#define FT_CLIENT_BUNDLE_MAX FT_TLOG_PROOF_MAX

/* ft_client_init flags. */
#define FT_CLIENT_FIRST_BOOT 1u /* a missing state file is the empty
				 * state (first boot), not an error */

/*
 * The context. Treat every field as private: read results from
 * ft_client_result, not from here. About 230 KiB; allocate it static or
 * on the heap, not on a small stack. It may be reused for any number of
 * verifications; nothing in it needs freeing.
 */
typedef struct ft_client {
	ft_dpolicy policy;
	ft_state state;      /* as loaded (and as last committed) */
	ft_state next;       /* what commit writes, after a verify */
	int verified;        /* next is valid and not yet committed */
	char state_path[FT_CLIENT_PATH_MAX + 1];
	uint8_t entry[FT_EVENT_MAX_BYTES];   /* the bundle's decoded entry */
	uint8_t io[FT_CLIENT_IO_CHUNK];      /* image read buffer */
} ft_client;

/* What a successful verification established. */
typedef struct ft_client_result {
	char product[FT_EVENT_FIELD_MAX + 1];  /* the release's, NUL-terminated */
	char version[FT_EVENT_FIELD_MAX + 1];
	char vendor[FT_EVENT_FIELD_MAX + 1];
	uint64_t security_version;
	uint64_t index;            /* the release entry's index in the log */
	uint64_t tree_size;        /* the checkpoint's size and root */
	ft_hash root;
	unsigned n_cosigs;         /* distinct policy witnesses that cosigned */
	uint64_t newest_cosig;     /* newest of their timestamps; 0 if none */
	unsigned n_vendor_sigs;    /* distinct policy vendor keys that signed */
	int consistency_proved;    /* 1 if a consistency proof from the
				    * stored checkpoint was verified */
} ft_client_result;

/*
 * Load the policy (ft_dpolicy rules) and the state file at state_path
 * (NUL-terminated, at most FT_CLIENT_PATH_MAX bytes; it is also where
 * ft_client_commit writes). With FT_CLIENT_FIRST_BOOT a missing state
 * file means the empty state. Errors: FT_EDEVICE_POLICY, FT_ETOOBIG,
 * FT_EIO (policy); FT_ESTATE_CORRUPT, FT_ENOTFOUND (no state file and no
 * FT_CLIENT_FIRST_BOOT), FT_EIO (state); FT_EINVAL (arguments). A
 * corrupted state is never reset. On failure the context is zeroed.
 */
FT_WUR FT_API int ft_client_init(ft_client *c, const char *policy_path,
				 const char *state_path, unsigned flags,
				 char *err, size_t cap);

/*
 * SHA-256 of the file at path, streamed through c->io in
 * FT_CLIENT_IO_CHUNK reads (constant memory for any size). *nbytes (may
 * be NULL) receives the length. FT_EIO ("image: ...") if it cannot be
 * opened or read or is not a regular file.
 */
FT_WUR FT_API int ft_client_hash_file(ft_client *c, const char *path,
				      uint8_t digest[32], uint64_t *nbytes,
				      char *err, size_t cap);

/* The same over an open descriptor (read to its end from where it is). */
FT_WUR FT_API int ft_client_hash_fd(ft_client *c, int fd, uint8_t digest[32],
				    uint64_t *nbytes, char *err, size_t cap);

/*
 * Verify the bundle (a tlog-proof, bundle[0..len), len at most
 * FT_CLIENT_BUNDLE_MAX) for the image whose SHA-256 is digest, at time
 * `now` (Unix seconds, the device's clock). cons (cons_n hashes) is a
 * consistency proof from the stored checkpoint to the bundle's
 * checkpoint, as ft_client_fetch returns it; offline there is none
 * (cons NULL or cons_n 0: a proof between two different sizes always
 * has at least one hash).
 *
 * The checks, in this order; the first that fails is returned:
 *
 *  rule          code                    refused when
 *  bundle        FT_ECLIENT_BUNDLE       not a well-formed tlog-proof with
 *                                        an extra line (the entry), or its
 *                                        checkpoint is not a well-formed
 *                                        signed checkpoint
 *  log           FT_ECLIENT_LOG          the checkpoint's origin is not the
 *                                        policy's log
 *  log-signature FT_ECLIENT_LOG_SIG      no valid signature by the log key
 *  quorum        FT_ECLIENT_QUORUM       fewer than policy.quorum distinct
 *                                        policy witnesses cosigned it
 *                                        validly (whatever the dates)
 *  future        FT_ECLIENT_FUTURE       a valid cosignature is dated more
 *                                        than FT_CLIENT_MAX_SKEW after now
 *  stale         FT_ECLIENT_STALE        the newest valid cosignature is
 *                                        older than policy.max_age_s (not
 *                                        checked when there is none, which
 *                                        only a quorum of 0 allows)
 *  consistency   FT_ECLIENT_CONSISTENCY  the checkpoint is smaller than the
 *                                        stored one, or the same size with
 *                                        another root, or cons is given and
 *                                        does not prove the stored tree is a
 *                                        prefix of this one
 *  inclusion     FT_ECLIENT_INCLUSION    the entry's inclusion proof does
 *                                        not lead to the checkpoint's root
 *  not-release   FT_ECLIENT_NOT_RELEASE  the entry is not a firmware event,
 *                                        or not a release
 *  digest        FT_ECLIENT_DIGEST       no subject of the release has the
 *                                        image's SHA-256
 *  product       FT_ECLIENT_PRODUCT      the release's product is not the
 *                                        policy's product
 *  hardware      FT_ECLIENT_HW           the release does not list the
 *                                        policy's hardware model
 *  vendor-key    FT_ECLIENT_VENDOR_KEY   a signature names a revoked vendor
 *                                        key, or no signature names a
 *                                        policy vendor key at all
 *  threshold     FT_ECLIENT_THRESHOLD    fewer than policy.threshold
 *                                        distinct vendor keys signed it
 *                                        validly
 *  rollback      FT_ECLIENT_ROLLBACK     security_version is below the
 *                                        state's floor for the product
 *
 * The inclusion proof comes before the entry is parsed, so only logged
 * entries reach the JSON parser. A signature whose keyid names a policy
 * vendor key but does not verify does not count (and says so in the
 * threshold reason).
 *
 * On success fills *res and prepares the state ft_client_commit would
 * write: the bundle's checkpoint (if larger than the stored one) and the
 * product's floor raised to security_version. On failure *res is zeroed
 * and nothing is prepared. The state file is never touched here.
 * Also FT_EINVAL (arguments), FT_ENOMEM (jansson) and FT_ETOOBIG
 * ("state: ...": the state already holds FT_STATE_MAX_PRODUCTS other
 * products, so this one's floor cannot be recorded).
 */
FT_WUR FT_API int ft_client_verify(ft_client *c, const uint8_t digest[32],
				   const uint8_t *bundle, size_t len,
				   const ft_hash *cons, size_t cons_n,
				   uint64_t now, ft_client_result *res,
				   char *err, size_t cap);

/*
 * Online mode: fetch the bundle of the image from the log at url
 * ("http://host[:port][/prefix]"): GET <url>/bundle/<hex digest> into
 * bundle (capacity cap, at least FT_CLIENT_BUNDLE_MAX), and, when the
 * state holds a checkpoint of size M and the bundle's checkpoint is
 * larger, GET <url>/proof/consistency?old=M&new=N into cons (room for
 * FT_PROOF_MAX_CONSISTENCY hashes; *cons_n set, 0 if none was needed).
 * Nothing fetched is trusted: pass it to ft_client_verify. timeout_ms
 * bounds each request (<= 0: 30 s). Errors:
 *  FT_ENOTFOUND  "not-found: ...": the log has no release of this image
 *                (404 to the bundle request)
 *  FT_EREVOKED   "revoked: ...": the log says the image was revoked (410)
 *  FT_EIO        "fetch: ...": network failure, timeout, or another
 *                status
 *  FT_ETOOBIG    an answer over its cap
 *  FT_ECLIENT_BUNDLE  the bundle or the proof is malformed
 */
FT_WUR FT_API int ft_client_fetch(ft_client *c, const char *url,
				  const uint8_t digest[32], int timeout_ms,
				  uint8_t *bundle, size_t cap, size_t *len,
				  ft_hash *cons, size_t *cons_n, char *err,
				  size_t errcap);

/*
 * Write the state prepared by the last successful ft_client_verify to the
 * state file, atomically (temporary file, fsync, rename, fsync of the
 * directory). Call it only once the image is installed. Then the context
 * holds the new state and must be verified again before another commit.
 * Callers must serialize verifiers of one state file; as a last guard,
 * commit re-reads the file and refuses (FT_EIO, "commit: ... changed since
 * it was loaded") to overwrite a state that changed since ft_client_init,
 * which would otherwise lower another install's floor.
 * FT_ECLIENT_NOT_VERIFIED if there is nothing to commit (no successful
 * verify since init or the last commit; a failed verify also clears it);
 * FT_EIO ("commit: ...") if the file cannot be written, the old file then
 * being intact (see ft_state_save in docs/device-state.md for the one
 * exception, a failed directory fsync).
 */
FT_WUR FT_API int ft_client_commit(ft_client *c, char *err, size_t cap);

/* The loaded policy, e.g. to print warn_no_quorum. Never NULL. */
FT_API const ft_dpolicy *ft_client_policy(const ft_client *c);

#ifdef __cplusplus
}
#endif
#endif
