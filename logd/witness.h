/*
 * logd/witness.h - ftlogd's witness client and checkpoint publisher
 * (internal). DESIGN.md section 4, C2SP tlog-witness v1.0.0.
 *
 * The witnesses file (config key "witnesses = PATH") names the witnesses,
 * one per line; blank lines and lines starting with '#' are ignored:
 *
 *     <cosignature verifier key> <base URL>
 *     witness.example/w1+1a2b3c4d+BEx... http://127.0.0.1:7380
 *
 * The key is a C2SP note verifier key of type 0x04 (tlog-cosignature v1:
 * `ftlog witness init` prints it); the URL is the witness's submission
 * prefix (http only; ft_httpc_parse_url). At most FT_WITC_MAX witnesses,
 * no key listed twice (by name or by key id). Errors name the file and
 * line.
 *
 * Rounds. After every commit that signs a new checkpoint (and after the
 * export wrote its tiles) the sequencer calls ft_witc_notify. A
 * coordinator thread then starts a round on the newest signed checkpoint
 * C, unless a round is running (the next round takes whatever is newest
 * when it starts: rounds coalesce under load). Each witness has its own
 * thread, which in a round sends
 *     POST <url>/add-checkpoint   old = the size it last cosigned
 * with the consistency proof from that size to C (read from the store),
 * and on 409 reads the witness's size from the body and resends once
 * from there (a witness AHEAD of C, or one whose 409 size the log cannot
 * prove from, is reported as an error: that witness saw another view).
 * Its 200 answer must carry a valid cosignature of C by its key
 * (ft_addcp_check_cosig); anything else (other status, timeout,
 * unreachable, bad cosignature) is logged with a one-line reason and
 * counted, and the witness is retried in the next round: the next
 * checkpoint's, or, when the log is idle, a retry round on the same
 * checkpoint after 1 s, doubling up to 60 s, so that a witness that comes
 * back gets to cosign without new entries. A round ends when every
 * witness answered or `timeout_ms` passed (each request has that timeout
 * too). Sequencing never waits for witnesses: ft_witc_notify only sets a
 * flag and signals.
 *
 * Publishing. The published checkpoint is the signed note of C followed
 * by the cosignature lines gathered for C, in witness-file order:
 *   quorum 0:  C is published as soon as its round starts (with no
 *              cosignatures), and published again with them when the
 *              round ends;
 *   quorum k:  C is published only if at least k distinct witnesses
 *              cosigned it - as soon as the k-th cosignature is in, not
 *              after the slowest witness; later ones publish it again.
 *              Until then the previous published checkpoint stays
 *              (readers never see a checkpoint without k witnesses).
 * It is what GET /checkpoint serves, what GET /bundle builds its proofs
 * against (so bundles carry cosignatures), and what the static export
 * writes as DIR/checkpoint (ft_export_write_checkpoint, after its tiles).
 * POST /add answers still carry the freshly signed checkpoint: they come
 * right after the commit, before any witness saw it (docs/deviations.md).
 *
 * Durability. Every published checkpoint is also written atomically to
 * DATA/published-checkpoint (temporary file, fsync, rename, fsync of the
 * directory). At start it is read back and published again if its log
 * signature verifies, its size is at most the store's and its root is the
 * store's root at that size (otherwise it is ignored with a warning).
 * A witness whose cosignature it carries is then taken to hold its size
 * (the first request goes from there); other witnesses' sizes are learned
 * from their 409 answers.
 */
#ifndef FTLOG_LOGD_WITNESS_H
#define FTLOG_LOGD_WITNESS_H

#include <stddef.h>
#include <stdint.h>

#include <ftlog/note.h>

#include "logd/export.h"
#include "logd/metrics.h"
#include "logd/store.h"

#define FT_WITC_MAX 32
#define FT_WITC_URL_MAX 1024

typedef struct ft_witc_peer {
	ft_vkey key;                  /* FT_KEY_COSIG_V1 */
	char url[FT_WITC_URL_MAX + 1];
} ft_witc_peer;

/*
 * Read a witnesses file (at most 64 KiB). 0 with *n peers in out (caller
 * array of FT_WITC_MAX), or FT_ECONFIG / FT_EIO with "FILE:LINE: reason"
 * in err.
 */
int ft_witc_load(const char *path, ft_witc_peer *out, size_t *n, char *err,
		 size_t cap);

typedef struct ft_witc ft_witc;

typedef struct ft_witc_opts {
	ft_store *store;
	const ft_vkey *log_key;      /* the log's verifier key (copied) */
	const char *data_dir;        /* for DATA/published-checkpoint */
	const ft_witc_peer *peers;   /* copied; n may be 0 (publisher only) */
	size_t n;
	size_t quorum;               /* 0..n */
	uint64_t timeout_ms;         /* per request and per round; > 0 */
	ft_export *export;           /* may be NULL */
	ft_metrics *metrics;         /* may be NULL */
} ft_witc_opts;

/*
 * Load DATA/published-checkpoint (see Durability), publish the store's
 * newest checkpoint when quorum is 0 and it is newer, start the threads
 * and run a first round. 0 or a negative code (reason logged).
 */
int ft_witc_start(const ft_witc_opts *opts, ft_witc **out);

/* A new checkpoint is committed (and exported): start a round soon. Any
 * thread; never blocks on the network. */
void ft_witc_notify(ft_witc *w);

/*
 * A copy of the published checkpoint: *note malloc'd (caller frees),
 * with its size and root. FT_ENOTFOUND when nothing is published yet
 * (quorum k > 0 and no checkpoint has reached it). Any thread.
 */
int ft_witc_published(ft_witc *w, uint8_t **note, size_t *len,
		      uint64_t *size, ft_hash *root);

/* Stop: wake and join every thread (an in-flight request ends within its
 * timeout). Then free. */
void ft_witc_stop(ft_witc *w);
void ft_witc_free(ft_witc *w);

#endif
