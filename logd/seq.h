/*
 * logd/seq.h - the sequencer (internal). DESIGN.md section 4.
 *
 * Submissions queue in memory (bounded by count and bytes: FT_EBUSY when
 * full). A dedicated thread takes up to batch_max entries every
 * batch_interval (or as soon as batch_max are waiting), and in ONE LMDB
 * write transaction appends them, updates the tiles, signs and stores the
 * new checkpoint (ft_store_append). Only after that commit is durable does
 * it build each entry's tlog-proof (inclusion proof + the new checkpoint)
 * and hand the answers to the loop thread through a uv_async; the loop
 * thread then calls each submitter's callback. Signing and hashing stay on
 * the sequencer thread, off the loop that accepts connections.
 *
 * After a commit the sequencer also runs the static export, if any.
 */
#ifndef FTLOG_LOGD_SEQ_H
#define FTLOG_LOGD_SEQ_H

#include <stddef.h>
#include <stdint.h>

#include <uv.h>

#include <ftlog/note.h>

#include "logd/export.h"
#include "logd/metrics.h"
#include "logd/store.h"

typedef struct ft_seq ft_seq;

typedef struct ft_seq_opts {
	ft_store *store;
	const ft_skey *key;    /* copied; the copy is wiped at ft_seq_free */
	uv_loop_t *loop;       /* callbacks run on this loop's thread */
	ft_metrics *metrics;   /* may be NULL */
	ft_export *export;     /* may be NULL */
	struct ft_witc *witc;  /* may be NULL: ft_witc_notify after each
				* commit that signs a checkpoint, once its
				* export is done */
	uint64_t batch_interval_ms;
	size_t batch_max;
	size_t queue_max;
	size_t queue_bytes_max;
} ft_seq_opts;

/* The answer to one submission. */
typedef struct ft_seq_result {
	int err;          /* 0, or FT_ESTORE_FULL / FT_ESTORE / FT_ESHUTDOWN /
			   * FT_ETREE_FULL / FT_EREVOKED ... (nothing was
			   * stored unless `stored` is set) */
	char reason[160]; /* FT_EREVOKED: "revoked-key: ..." or
			   * "revoked-image: ..." naming the revocation */
	int stored;       /* the entry is durably logged at `index`; with err
			   * set, only its proof could not be built */
	uint64_t index;   /* the entry's index */
	int dup;          /* it was already in the log */
	uint64_t size;    /* tree size of the proof's checkpoint */
	uint8_t *proof;   /* tlog-proof text, malloc'd; the callee may take it
			   * (set to NULL) or leave it to be freed */
	size_t proof_len;
	double latency;   /* seconds from submit to answer */
} ft_seq_result;

/* Called on the loop thread, once per submission not cancelled. */
typedef void (*ft_seq_done_fn)(void *ctx, ft_seq_result *res);

/* Start the thread. 0 or a negative code. */
int ft_seq_start(const ft_seq_opts *opts, ft_seq **out);

/*
 * Queue a copy of the entry with its policy meta (may be NULL). The
 * sequencer takes meta over in every case (it is freed with free() when
 * the submission ends, also on failure here). Returns 0 and a handle
 * (valid until the callback runs or ft_seq_cancel), FT_EBUSY when the
 * queue is full, FT_ESHUTDOWN after ft_seq_shutdown. Loop thread only.
 */
int ft_seq_submit(ft_seq *s, const uint8_t *entry, size_t len,
		  ft_store_meta *meta, ft_seq_done_fn done, void *ctx,
		  void **handle);

/* The submitter is gone: do not call its callback. Loop thread only. The
 * entry may still be logged. */
void ft_seq_cancel(ft_seq *s, void *handle);

/* Entries waiting (for metrics and health). */
size_t ft_seq_queue_depth(ft_seq *s);

/* Milliseconds since the sequencer thread last completed a cycle. */
uint64_t ft_seq_idle_ms(ft_seq *s);

/*
 * Begin a graceful stop: refuse new submissions, let the thread finish the
 * batch in flight and commit it, answer FT_ESHUTDOWN to everything still
 * queued, and then call done(arg) on the loop thread. Loop thread only.
 */
void ft_seq_shutdown(ft_seq *s, void (*done)(void *arg), void *arg);

/*
 * The tlog-proof of entry `index` against the snapshot state st (which has
 * a checkpoint), read through r (between read_begin and read_end); tr is
 * caller scratch for the store's hash reader. *out is malloc'd (caller
 * frees). FT_ENOTFOUND if index >= st->size or st has no checkpoint.
 * Used for POST /add answers and GET /bundle.
 */
int ft_seq_tlog_proof(ft_store_reader *r, const ft_store_state *st,
		      ft_tile_reader *tr, uint64_t index, uint8_t **out,
		      size_t *out_len);

/* Join the thread and free everything (after shutdown's done ran). */
void ft_seq_free(ft_seq *s);

#endif
