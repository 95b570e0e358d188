/*
 * logd/policy.h - ftlogd's submission policy (internal). docs/policy.md.
 *
 * A policy file (JSON) names the Ed25519 keys that may sign events, which
 * event kinds each may sign and for which products (fnmatch patterns),
 * the release threshold (k distinct authorized release keys), and size
 * limits. A loaded policy is immutable and reference counted, so the
 * server can swap in a new one on SIGHUP while checks on worker threads
 * still use the old one.
 *
 * File format (docs/policy.md has the full text):
 *   {
 *     "ftlog_policy": 1,
 *     "max_entry_bytes": 65535,          optional, 1..65535 (default 65535)
 *     "max_signatures": 4,               optional, 1..16 (default 4)
 *     "release_threshold": 1,            optional, >= 1 (default 1)
 *     "release_thresholds": [            optional, first match wins
 *       {"products": "gnb-*", "threshold": 2}
 *     ],
 *     "keys": [                          1..256 keys
 *       {"key": "<note verifier key>",
 *        "kinds": ["build"|"release"|"distribution"|"revocation", ...],
 *        "products": ["<pattern>", ...]}  optional, default ["*"]
 *     ]
 *   }
 * Strict: no unknown or duplicate fields, no duplicate keys (by name or
 * public key), every kind known, every pattern non-empty and made only of
 * product characters and '*' / '?'. A threshold larger than the number
 * of keys that may sign releases for a pattern is allowed (that pattern
 * can then never be released) but is reported by ft_policy_describe.
 */
#ifndef FTLOG_LOGD_POLICY_H
#define FTLOG_LOGD_POLICY_H

#include <stddef.h>
#include <stdint.h>

#include <ftlog/common.h>
#include <ftlog/event.h>

#include "logd/store.h"

typedef struct ft_policy ft_policy;

/* Largest policy file read (bytes). */
#define FT_POLICY_FILE_MAX (1 << 20)
#define FT_POLICY_MAX_KEYS 256

/*
 * Parse a policy from memory. 0 with *out (refcount 1), or FT_ECONFIG with
 * a one-line reason naming the field ("keys[2].kinds[0]: unknown kind
 * \"relase\"") in err (NUL-terminated, at most cap bytes), or FT_ENOMEM.
 */
FT_WUR int ft_policy_parse(const uint8_t *buf, size_t len, ft_policy **out,
			   char *err, size_t cap);

/* Read (at most FT_POLICY_FILE_MAX bytes) and parse a file. FT_EIO with
 * the reason for an unreadable file; otherwise as ft_policy_parse, with
 * the path in front of the reason. */
FT_WUR int ft_policy_load(const char *path, ft_policy **out, char *err,
			  size_t cap);

/* Reference counting (atomic: any thread). unref(NULL) is a no-op. */
ft_policy *ft_policy_ref(ft_policy *p);
void ft_policy_unref(ft_policy *p);

/* Number of keys, and the entry size limit. */
size_t ft_policy_nkeys(const ft_policy *p);
size_t ft_policy_max_entry(const ft_policy *p);

/* A one-line summary for the log: "N keys (b build, r release, ...),
 * release threshold k, max entry M bytes". */
void ft_policy_describe(const ft_policy *p, char *buf, size_t cap);

/*
 * Check one entry against the policy. Thread-safe (p is read only).
 * Returns 0 and a malloc'd *meta (free with free()) describing the event
 * for the store (kind, subjects, verified signer keys, what it revokes,
 * and its lineage record), or a negative code with a one-line reason of
 * the form "<rule>: <detail>" in `reason`. The rules, checked in this
 * order (the first failing one is reported):
 *   too-large       FT_ETOOBIG          entry longer than max_entry_bytes
 *   json, envelope, payload-type, statement, predicate-type, predicate
 *                   FT_EEVENT_*         from ft_event_parse
 *   signatures      FT_ETOOBIG          more than max_signatures
 *   unknown-key     FT_EUNKNOWN_KEY     a signature whose keyid is not
 *                                       "<name>+<hex8>" of a policy key
 *                                       (ftlog requires the keyid)
 *   signature       FT_ENOTE_BADSIG     a signature that does not verify
 *                                       with the key its keyid names
 *   kind            FT_EUNAUTHORIZED    a signer not allowed this kind
 *   product         FT_EUNAUTHORIZED    a signer not allowed the event's
 *                                       product (an event without a
 *                                       product needs a "*" pattern;
 *                                       build events carry no product
 *                                       and are not checked for one)
 *   threshold       FT_ETHRESHOLD       a release with fewer distinct
 *                                       verified signers than its
 *                                       threshold
 * Repeated signatures by one key count once. Revocation state (revoked-
 * key, revoked-image) is not the policy's: the caller checks the store.
 */
FT_WUR int ft_policy_check(const ft_policy *p, const uint8_t *entry,
			   size_t len, ft_store_meta **meta, char *reason,
			   size_t cap);

#endif
