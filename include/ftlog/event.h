/*
 * ftlog/event.h - firmware events: DSSE envelopes carrying in-toto
 * Statement v1 payloads (DESIGN.md section 3, docs/events.md).
 *
 * libftevent parses an entry strictly (jansson), decodes its payload,
 * checks the statement and the predicate of one of the four event kinds,
 * and verifies DSSE signatures (Ed25519 over PAE(payloadType, payload)).
 * It also builds statements and signs envelopes, for the `ftlog` CLI.
 * It does no I/O and knows nothing of policy: which key may sign what is
 * decided by the caller (ftlogd's submission policy, the device's trust
 * policy).
 *
 * Used by ftlogd, libftclient and the ftlog tools. Depends on libftmerkle,
 * jansson, libsodium and nettle.
 */
#ifndef FTLOG_EVENT_H
#define FTLOG_EVENT_H

#include <stddef.h>
#include <stdint.h>

#include <ftlog/common.h>
#include <ftlog/note.h>

#ifdef __cplusplus
extern "C" {
#endif

/* The DSSE payloadType of an in-toto statement. */
#define FT_DSSE_PAYLOAD_TYPE "application/vnd.in-toto+json"
/* The in-toto statement _type. */
#define FT_STATEMENT_TYPE "https://in-toto.io/Statement/v1"

/* predicateType of each event kind (docs/events.md). */
#define FT_PRED_BUILD "https://slsa.dev/provenance/v1"
#define FT_PRED_RELEASE "https://ftlog.dev/release/v1"
#define FT_PRED_DISTRIBUTION "https://ftlog.dev/distribution/v1"
#define FT_PRED_REVOCATION "https://ftlog.dev/revocation/v1"

/* Event kinds. 0 is never a valid kind. */
enum ft_event_kind {
	FT_EVENT_BUILD = 1,
	FT_EVENT_RELEASE = 2,
	FT_EVENT_DISTRIBUTION = 3,
	FT_EVENT_REVOCATION = 4
};

/* What a revocation revokes. */
enum ft_revoke_target {
	FT_REVOKE_NONE = 0,
	FT_REVOKE_IMAGE = 1, /* the statement's subjects (image digests) */
	FT_REVOKE_KEY = 2    /* predicate.key, an Ed25519 verifier key */
};

/* Hard caps of the parser (a policy may set lower ones). */
#define FT_EVENT_MAX_BYTES 65535 /* an entry: a C2SP entry bundle limit */
#define FT_EVENT_MAX_SIGS 16     /* signatures in one envelope */
#define FT_EVENT_MAX_SUBJECTS 64 /* subjects in one statement */
#define FT_EVENT_MAX_HW 64       /* hardware models of a release */
#define FT_EVENT_KEYID_MAX 300   /* bytes of a DSSE keyid */
#define FT_EVENT_FIELD_MAX 256   /* bytes of a short string field
				  * (product, vendor, version, channel,
				  * hardware model, region, slice, name) */
#define FT_EVENT_TEXT_MAX 1024   /* bytes of reason / uri / builder id */

/* One DSSE signature as parsed. keyid is "" when unset or empty. */
typedef struct ft_dsse_sig {
	char keyid[FT_EVENT_KEYID_MAX + 1]; /* NUL-terminated */
	uint8_t sig[64];
} ft_dsse_sig;

/* One in-toto subject. name may be "" (it is optional in in-toto v1). */
typedef struct ft_event_subject {
	const char *name;  /* into the parsed JSON, NUL-terminated */
	uint8_t sha256[32];
} ft_event_subject;

/*
 * A parsed entry. String pointers point into the parsed JSON and are valid
 * until ft_event_free; every field named "optional" is NULL (or 0, with a
 * has_ flag) when absent. Only the fields of ev->kind are set.
 */
typedef struct ft_event {
	/* Envelope. */
	uint8_t *payload;   /* decoded payload bytes (malloc'd) */
	size_t payload_len;
	uint8_t *pae;       /* PAE(payloadType, payload), malloc'd */
	size_t pae_len;
	size_t n_sigs;      /* 1..FT_EVENT_MAX_SIGS */
	ft_dsse_sig sigs[FT_EVENT_MAX_SIGS];

	/* Statement. */
	int kind;           /* enum ft_event_kind */
	const char *predicate_type;
	size_t n_subjects;  /* 1..FT_EVENT_MAX_SUBJECTS */
	ft_event_subject subjects[FT_EVENT_MAX_SUBJECTS];

	/* Release and distribution; revocation: required for an image,
	 * optional for a key. */
	const char *product;
	const char *version;  /* release: required; distribution: optional */

	/* Release. */
	const char *vendor;
	uint64_t security_version;   /* 0 .. 2^53-1 (a JSON-safe integer) */
	size_t n_hw;
	const char *hw[FT_EVENT_MAX_HW];
	int has_sbom;                /* optional references */
	uint8_t sbom_sha256[32];
	int has_build_index;
	uint64_t build_index;
	const char *evidence_type;   /* optional: "scas" or "nesas" */
	uint8_t evidence_sha256[32]; /* set when evidence_type is set */

	/* Distribution. */
	const char *channel;
	size_t n_regions;  /* optional arrays, up to FT_EVENT_MAX_HW each */
	const char *regions[FT_EVENT_MAX_HW];
	size_t n_slices;
	const char *slices[FT_EVENT_MAX_HW];
	const char *uri;   /* optional */

	/* Revocation. */
	int revoke;        /* enum ft_revoke_target */
	const char *reason;
	ft_vkey revoked_key; /* FT_REVOKE_KEY: the parsed predicate.key */

	/* Build (SLSA provenance v1): the fields ftlog looks at. */
	const char *build_type;
	const char *builder_id;

	void *json_;       /* internal: the parsed envelope and statement */
} ft_event;

/*
 * Parse an entry (the exact bytes submitted). Checks, in this order, and
 * stops at the first failure with a one-line reason in `reason` (NUL-
 * terminated, at most cap bytes; may be NULL):
 *   - size 1..FT_EVENT_MAX_BYTES                         FT_ETOOBIG
 *   - the envelope: one JSON object (no duplicate keys, no trailing
 *     bytes, valid UTF-8, no NUL in strings), "payloadType" string,
 *     "payload" string, "signatures" array of 1..FT_EVENT_MAX_SIGS
 *     objects with "sig" string and optional "keyid" string; other
 *     envelope fields are ignored, as DSSE requires     FT_EEVENT_ENVELOPE
 *   - payloadType is FT_DSSE_PAYLOAD_TYPE                FT_EEVENT_ENVELOPE
 *   - payload and sig are base64, standard or URL-safe alphabet (one
 *     alphabet per string), padded or not, canonical trailing bits; each
 *     sig decodes to 64 bytes                            FT_EEVENT_ENVELOPE
 *   - the payload is a JSON object (same strictness): "_type" is
 *     FT_STATEMENT_TYPE, "subject" an array of 1..FT_EVENT_MAX_SUBJECTS
 *     objects each with a "digest" object holding "sha256" as 64
 *     lowercase hex digits (other digests allowed and ignored), no two
 *     subjects with the same sha256, "predicateType" a string, and
 *     "predicate" an object                              FT_EEVENT_STATEMENT
 *   - predicateType is one of the four kinds             FT_EEVENT_PREDTYPE
 *   - the predicate has the fields docs/events.md requires for its kind,
 *     of the right types and sizes, and no unknown field (ftlog's own
 *     predicates; SLSA provenance may carry any further field)
 *                                                        FT_EEVENT_PREDICATE
 *   - a key revocation has exactly one subject, whose sha256 is
 *     ft_event_key_digest(predicate.key)                 FT_EEVENT_PREDICATE
 * The reason has the form "<rule>: <detail>", rule being the name of the
 * check: too-large, json (not JSON, duplicate key, trailing bytes, bad
 * UTF-8), envelope, payload-type, statement, predicate-type, predicate.
 * Signatures are NOT verified here (see ft_event_verify). On failure ev is
 * left empty (ft_event_free is still safe). On success free with
 * ft_event_free.
 */
FT_WUR FT_API int ft_event_parse(const uint8_t *entry, size_t len,
				 ft_event *ev, char *reason, size_t cap);

/* Free what ft_event_parse allocated; ev is zeroed. NULL-safe. */
FT_API void ft_event_free(ft_event *ev);

/* "build", "release", "distribution", "revocation", or "unknown". */
FT_API const char *ft_event_kind_name(int kind);

/*
 * Verify signature number i of ev (i < n_sigs) with key (an Ed25519
 * verifier key): 0 if it verifies over ev->pae, FT_ENOTE_BADSIG if not,
 * FT_EINVAL for a bad i or a non-Ed25519 key. Allocation-free.
 */
FT_WUR FT_API int ft_event_verify(const ft_event *ev, size_t i,
				  const ft_vkey *key);

/*
 * The DSSE keyid ftlog uses for a key: "<name>+<8 hex key id>", the
 * verifier key string without its public key. NUL-terminated into out
 * (cap >= FT_EVENT_KEYID_MAX + 1 always suffices). 0 or FT_EBUFSIZE.
 */
FT_WUR FT_API int ft_event_keyid(const ft_vkey *key, char *out, size_t cap);

/* PAE(type, body) = "DSSEv1" SP len(type) SP type SP len(body) SP body,
 * lengths as ASCII decimal. Writes into out (cap) and sets *len. */
FT_API size_t ft_dsse_pae_len(size_t type_len, size_t body_len);
FT_WUR FT_API int ft_dsse_pae(const char *type, size_t type_len,
			      const uint8_t *body, size_t body_len,
			      uint8_t *out, size_t cap, size_t *len);

/* The subject digest ftlog gives a key in a key revocation:
 * SHA-256 of the 32-byte Ed25519 public key. */
FT_API void ft_event_key_digest(const ft_vkey *key, uint8_t out[32]);

/* ---- Building and signing (the ftlog CLI). */

/*
 * Build a statement: `subjects` (1..FT_EVENT_MAX_SUBJECTS; names may be
 * NULL) and the predicate given as JSON object text for predicate type
 * `kind`. The result is compact JSON with keys in a fixed order
 * ("_type", "subject", "predicateType", "predicate"), malloc'd into *out.
 * The result is parsed back with the rules of ft_event_parse, so a
 * statement this returns is one ftlog accepts (FT_EEVENT_* and a reason
 * otherwise).
 */
FT_WUR FT_API int ft_event_statement(int kind, const ft_event_subject *subjects,
				     size_t n_subjects, const char *predicate,
				     size_t predicate_len, char **out,
				     size_t *out_len, char *reason,
				     size_t cap);

/*
 * Sign `payload` (a statement) with nkeys (1..FT_EVENT_MAX_SIGS) Ed25519
 * signer keys and write the DSSE envelope: compact JSON
 * {"payloadType":...,"payload":<standard base64>,"signatures":[{"keyid":
 * <ft_event_keyid>,"sig":<standard base64>},...]} without a trailing
 * newline, malloc'd into *out. Fails with FT_ETOOBIG if the envelope would
 * exceed FT_EVENT_MAX_BYTES.
 */
FT_WUR FT_API int ft_event_sign(const uint8_t *payload, size_t payload_len,
				const ft_skey *keys, size_t nkeys,
				char **out, size_t *out_len);

#ifdef __cplusplus
}
#endif
#endif
