/*
 * ftlog/note.h - C2SP signed-note with Ed25519, Go note key strings,
 * C2SP tlog-checkpoint, and C2SP tlog-cosignature v1 (Ed25519, type 0x04).
 *
 * Key strings (golang.org/x/mod/sumdb/note format):
 *   verifier: <name>+<hex8 key id>+base64(type || 32-byte public key)
 *   signer:   PRIVATE+KEY+<name>+<hex8 key id>+base64(type || 32-byte seed)
 *   key id  = SHA-256(name || "\n" || type || public key)[:4], big endian.
 *
 * A signed note is: text (ending in "\n"), a blank line, then one or more
 * lines "— <name> base64(key id || signature)\n" (U+2014 em dash).
 * Cosignature (type 0x04) signatures are key id || uint64_be(timestamp) ||
 * Ed25519 signature over "cosignature/v1\ntime <ts>\n" || note text.
 *
 * Keys are plain structs, caller-allocated. ft_skey holds secrets: wipe it
 * with ft_skey_wipe() when done. Nothing here allocates.
 */
#ifndef FTLOG_NOTE_H
#define FTLOG_NOTE_H

#include <ftlog/merkle.h>

#ifdef __cplusplus
extern "C" {
#endif

#define FT_KEY_ED25519 0x01  /* signed-note Ed25519 */
#define FT_KEY_COSIG_V1 0x04 /* tlog-cosignature v1, timestamped Ed25519 */

#define FT_KEY_NAME_MAX 255   /* bytes, our cap on key names and origins */
#define FT_KEY_STR_MAX 400    /* longest key string we format or accept */
#define FT_NOTE_MAX_SIGS 100  /* parse at most this many signature lines */
#define FT_NOTE_MAX_BYTES 65536 /* a whole signed note */
/* Text covered by a cosignature must fit a stack buffer of this size. */
#define FT_COSIG_TEXT_MAX 8192
/* Longest signature line ft_note_sig_line writes (incl. newline). */
#define FT_NOTE_SIG_LINE_MAX (FT_KEY_NAME_MAX + 128)

typedef struct ft_vkey {
	char name[FT_KEY_NAME_MAX + 1]; /* NUL-terminated for convenience */
	size_t name_len;
	uint32_t id;
	uint8_t type; /* FT_KEY_ED25519 or FT_KEY_COSIG_V1 */
	uint8_t pk[32];
} ft_vkey;

typedef struct ft_skey {
	char name[FT_KEY_NAME_MAX + 1];
	size_t name_len;
	uint32_t id;
	uint8_t type;
	uint8_t pk[32];
	uint8_t sk[64]; /* libsodium secret key: seed || public key */
} ft_skey;

/*
 * 1 if name is a valid key name: non-empty, at most FT_KEY_NAME_MAX bytes,
 * valid UTF-8, no Unicode white space, no '+', no control characters.
 */
FT_API int ft_key_name_valid(const char *name, size_t len);

/* The key id for (name, type, public key). */
FT_API uint32_t ft_key_id(const char *name, size_t name_len, uint8_t type,
			  const uint8_t pk[32]);

/* Generate a new key pair with randomness from libsodium. */
FT_WUR FT_API int ft_key_generate(const char *name, size_t name_len,
				  uint8_t type, ft_skey *out);

/* Derive a key pair deterministically from a 32-byte seed. */
FT_WUR FT_API int ft_key_from_seed(const char *name, size_t name_len,
				   uint8_t type, const uint8_t seed[32],
				   ft_skey *out);

/* The verifier half of a signer key. */
FT_API void ft_skey_public(const ft_skey *sk, ft_vkey *out);

/* Wipe a signer key (sodium_memzero). */
FT_API void ft_skey_wipe(ft_skey *sk);

/*
 * Parse / format key strings. Parsing checks the name, the hex key id
 * (8 lowercase or uppercase hex digits, as Go accepts), strict base64, the
 * type byte (0x01 or 0x04), the key length, and that the key id matches.
 * Formatting writes a NUL-terminated string.
 */
FT_WUR FT_API int ft_vkey_parse(const char *s, size_t len, ft_vkey *out);
FT_WUR FT_API int ft_vkey_format(const ft_vkey *k, char *buf, size_t cap,
				 size_t *len);
FT_WUR FT_API int ft_skey_parse(const char *s, size_t len, ft_skey *out);
FT_WUR FT_API int ft_skey_format(const ft_skey *k, char *buf, size_t cap,
				 size_t *len);

/*
 * One signature line over `text` ("— name base64\n"), NUL-terminated.
 * Ed25519 keys ignore `timestamp`; cosignature keys sign it (it must be
 * <= INT64_MAX, else FT_ECOSIG_TIME). text must be a valid note text:
 * non-empty, ending in "\n", valid UTF-8, no control characters but "\n"
 * (FT_ENOTE_FORMAT otherwise).
 */
FT_WUR FT_API int ft_note_sig_line(const ft_skey *key, const uint8_t *text,
				   size_t text_len, uint64_t timestamp,
				   char *out, size_t cap, size_t *len);

/*
 * Sign `text` with nkeys keys (at least one): writes text, a blank line and
 * one signature line per key into out.
 */
FT_WUR FT_API int ft_note_sign(const uint8_t *text, size_t text_len,
			       const ft_skey *keys, size_t nkeys,
			       uint64_t timestamp, uint8_t *out, size_t cap,
			       size_t *len);

/* Verification outcome for one known key. */
typedef struct ft_note_sig {
	int verified;       /* 1 if this key's signature verified */
	uint64_t timestamp; /* cosignature keys: the signed timestamp */
} ft_note_sig;

/*
 * Open a signed note against nknown known verifier keys (at most 64), per
 * C2SP signed-note and Go's note.Open:
 *  - the note is at most FT_NOTE_MAX_BYTES, valid UTF-8, no control
 *    characters but "\n"; the text ends at the last blank line; every
 *    signature line is well formed (FT_ENOTE_FORMAT, FT_ETOOBIG);
 *  - more than FT_NOTE_MAX_SIGS signature lines: FT_ENOTE_TOOMANY;
 *  - lines whose (name, key id) match no known key are ignored;
 *  - a line matching a known key must verify, else FT_ENOTE_BADSIG
 *    (repeats of an already verified key are ignored, as in Go);
 *  - no known key verified: FT_ENOTE_NOKEY.
 * On success *text_len is the length of the note text (msg[0..text_len))
 * and, if status is not NULL, status[i] tells about known[i]. Outputs are
 * cleared on failure.
 */
FT_WUR FT_API int ft_note_open(const uint8_t *msg, size_t len,
			       const ft_vkey *known, size_t nknown,
			       ft_note_sig *status, size_t *text_len);

/* ---- Checkpoints (C2SP tlog-checkpoint). */

typedef struct ft_checkpoint {
	char origin[FT_KEY_NAME_MAX + 1]; /* NUL-terminated */
	size_t origin_len;
	uint64_t size;
	ft_hash root;
	/* Extension lines (each ends in "\n"), pointing into the parsed
	 * text; NULL/0 if none. Formatting copies them verbatim. */
	const uint8_t *ext;
	size_t ext_len;
} ft_checkpoint;

/*
 * Parse a checkpoint note text (not the signatures: open the note first):
 * origin line (non-empty, at most FT_KEY_NAME_MAX bytes), canonical
 * decimal size (<= INT64_MAX), base64 root of exactly 32 bytes, then
 * optional non-empty extension lines; every line ends in "\n".
 * want_origin, if not NULL, must equal the origin (FT_ECKPT_ORIGIN).
 * *out is cleared on failure.
 */
FT_WUR FT_API int ft_checkpoint_parse(const uint8_t *text, size_t len,
				      const char *want_origin,
				      size_t want_len, ft_checkpoint *out);

/* Format the checkpoint text (origin, size, root, extensions). */
FT_WUR FT_API int ft_checkpoint_format(const ft_checkpoint *cp, uint8_t *buf,
				       size_t cap, size_t *len);

/*
 * Add a cosignature of `witness` (type FT_KEY_COSIG_V1) at `timestamp` to
 * the signed note in buf (length *len, capacity cap): the new signature
 * line is appended. The note must be well formed (its text is what is
 * cosigned).
 */
FT_WUR FT_API int ft_cosig_add(const ft_skey *witness, uint64_t timestamp,
			       uint8_t *buf, size_t cap, size_t *len);

#ifdef __cplusplus
}
#endif
#endif
