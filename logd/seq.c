/*
 * logd/seq.c - the sequencer: one thread that turns queued submissions
 * into durable, signed batches (see seq.h).
 *
 * Threads and ownership:
 *  - A submission (struct sub) is created on the loop thread, queued under
 *    mu, taken by the sequencer thread, answered (res filled in) there and
 *    pushed on the done list under mu; the loop thread, woken by the async
 *    handle, pops it, calls the callback unless cancelled, and frees it.
 *  - `cancelled` is only read and written on the loop thread.
 */
#include <errno.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <sodium.h>

#include <ftlog/tlogproof.h>

#include "logd/log.h"
#include "logd/seq.h"
#include "logd/witness.h"

struct sub {
	struct sub *next;
	uint8_t *entry;
	size_t len;
	ft_store_meta *meta; /* owned; NULL when the entry has none */
	size_t cost;         /* bytes it holds: counted in queue_bytes_max */
	ft_seq_done_fn done;
	void *ctx;
	int cancelled;
	uint64_t t0_ns;
	ft_seq_result res;
};

struct subq {
	struct sub *head, *tail;
	size_t count;
	size_t bytes;
};

struct ft_seq {
	ft_seq_opts o;
	ft_skey key;
	ft_vkey vkey;

	uv_thread_t thread;
	int thread_started;
	uv_mutex_t mu;
	uv_cond_t cond;
	struct subq queue; /* loop -> sequencer */
	struct subq done;  /* sequencer -> loop */
	int stopping;      /* under mu: the thread should finish */
	int thread_exited; /* under mu */

	uv_async_t async; /* wakes the loop for done items and exit */
	void (*shutdown_done)(void *arg);
	void *shutdown_arg;
	int shutdown_called; /* loop thread */
	int shutdown_reported;

	_Atomic uint64_t last_cycle_ms;
	_Atomic size_t depth;

	ft_store_reader reader; /* the sequencer thread's reader */
	uint64_t exported_size; /* sequencer thread */
	ft_store_item *items;   /* sequencer thread, batch_max items */
	struct sub **batch;     /* sequencer thread, batch_max pointers */
	ft_tile_reader *tr;     /* sequencer thread: hash-reader scratch */
};

static uint64_t now_ns(void)
{
	struct timespec ts;

	(void)clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static void q_push(struct subq *q, struct sub *s)
{
	s->next = NULL;
	if (q->tail != NULL) {
		q->tail->next = s;
	} else {
		q->head = s;
	}
	q->tail = s;
	q->count++;
	q->bytes += s->cost;
}

static struct sub *q_pop(struct subq *q)
{
	struct sub *s = q->head;

	if (s == NULL) {
		return NULL;
	}
	q->head = s->next;
	if (q->head == NULL) {
		q->tail = NULL;
	}
	q->count--;
	q->bytes -= s->cost;
	s->next = NULL;
	return s;
}

static void sub_free(struct sub *s)
{
	free(s->entry);
	free(s->meta);
	free(s->res.proof);
	free(s);
}

/* ---- Signing (inside the write transaction). */

static int sign_checkpoint(void *ctx, uint64_t size, const ft_hash *root,
			   uint8_t *buf, size_t cap, size_t *len)
{
	ft_seq *s = ctx;
	ft_checkpoint cp;
	uint8_t text[FT_KEY_NAME_MAX + 128];
	size_t text_len;
	size_t olen;
	const char *origin = ft_store_origin(s->o.store, &olen);
	int err;

	memset(&cp, 0, sizeof(cp));
	if (olen > FT_KEY_NAME_MAX) {
		return FT_EINVAL;
	}
	memcpy(cp.origin, origin, olen);
	cp.origin_len = olen;
	cp.size = size;
	cp.root = *root;
	err = ft_checkpoint_format(&cp, text, sizeof(text), &text_len);
	if (err != 0) {
		return err;
	}
	return ft_note_sign(text, text_len, &s->key, 1, 0, buf, cap, len);
}

/* ---- tlog-proof for one entry against the reader's snapshot. */

int ft_seq_tlog_proof(ft_store_reader *r, const ft_store_state *st,
		       ft_tile_reader *tr, uint64_t index, uint8_t **out,
		       size_t *out_len)
{
	ft_hash_reader hr;
	ft_hash path[FT_PROOF_MAX_INCLUSION];
	size_t n = 0;
	const uint8_t *entry;
	size_t entry_len;
	uint8_t *buf;
	size_t cap, len;
	int err;

	*out = NULL;
	*out_len = 0;
	if (st->checkpoint == NULL || index >= st->size) {
		return FT_ENOTFOUND;
	}
	err = ft_store_get_entry(r, index, &entry, &entry_len);
	if (err != 0) {
		return err;
	}
	ft_store_hash_reader(r, st->size, tr, &hr);
	err = ft_proof_inclusion(index, st->size, &hr, path, &n);
	if (err != 0) {
		return err;
	}
	cap = ft_b64_enclen(entry_len) + 64 + n * 48 + st->checkpoint_len + 64;
	buf = malloc(cap);
	if (buf == NULL) {
		return FT_ENOMEM;
	}
	err = ft_tlog_proof_format(entry, entry_len, index, path, n,
				   st->checkpoint, st->checkpoint_len, buf, cap,
				   &len);
	if (err != 0) {
		free(buf);
		return err;
	}
	*out = buf;
	*out_len = len;
	return 0;
}

/* ---- The sequencer thread. */

static void run_export(ft_seq *s)
{
	int err;

	if (s->o.export == NULL) {
		return;
	}
	err = ft_store_read_begin(&s->reader);
	if (err != 0) {
		ft_log(FT_LOG_ERROR, "export: cannot read the store: %s",
		       ft_strerror(err));
		return;
	}
	err = ft_export_update(s->o.export, &s->reader, s->exported_size);
	if (err == 0) {
		ft_store_state st;

		if (ft_store_get_state(&s->reader, &st) == 0) {
			s->exported_size = st.size;
		}
	} else {
		/* The store stays the source of truth: the next commit (or a
		 * restart) exports again from the last exported size. */
		ft_log(FT_LOG_ERROR, "export to the tiles directory failed: %s",
		       ft_strerror(err));
	}
	ft_store_read_end(&s->reader);
}

static void answer_batch(ft_seq *s, struct sub **batch, size_t n, int err)
{
	ft_store_state st;
	size_t i;
	int rerr = 0;

	memset(&st, 0, sizeof(st));
	if (err == 0) {
		/* One snapshot (the batch just committed) for every proof. */
		rerr = ft_store_read_begin(&s->reader);
		if (rerr == 0) {
			rerr = ft_store_get_state(&s->reader, &st);
			if (rerr != 0) {
				ft_store_read_end(&s->reader);
			}
		}
	}
	for (i = 0; i < n; i++) {
		struct sub *b = batch[i];

		b->res.err = err;
		if (err != 0) {
			continue;
		}
		if (s->items[i].rejected == FT_EEXIST) {
			b->res.err = FT_EEXIST;
			(void)snprintf(
				b->res.reason, sizeof(b->res.reason),
				"duplicate-event: another envelope of the "
				"same signed statement is logged at index %llu",
				(unsigned long long)s->items[i].rejected_by);
			continue;
		}
		if (s->items[i].rejected != 0) {
			/* Revoked inside the transaction: not stored. */
			b->res.err = s->items[i].rejected;
			(void)snprintf(
				b->res.reason, sizeof(b->res.reason),
				"%s: %s revoked by entry %llu",
				s->items[i].rejected_target == FT_REVOKE_KEY
					? "revoked-key"
					: "revoked-image",
				s->items[i].rejected_target == FT_REVOKE_KEY
					? "a signing key was"
					: "a subject image was",
				(unsigned long long)s->items[i].rejected_by);
			continue;
		}
		b->res.index = s->items[i].index;
		b->res.dup = s->items[i].dup;
		b->res.stored = 1;
		if (rerr != 0) {
			b->res.err = rerr;
			continue;
		}
		b->res.size = st.size;
		b->res.err = ft_seq_tlog_proof(&s->reader, &st, s->tr, b->res.index,
					 &b->res.proof, &b->res.proof_len);
		if (b->res.err != 0) {
			ft_log(FT_LOG_ERROR,
			       "cannot build the proof of entry %llu: %s",
			       (unsigned long long)b->res.index,
			       ft_strerror(b->res.err));
		}
	}
	if (err == 0 && rerr == 0) {
		ft_store_read_end(&s->reader);
	}
	uv_mutex_lock(&s->mu);
	for (i = 0; i < n; i++) {
		q_push(&s->done, batch[i]);
	}
	uv_mutex_unlock(&s->mu);
	uv_async_send(&s->async);
}

static void run_batch(ft_seq *s, struct sub **batch, size_t n)
{
	uint64_t t0 = now_ns();
	uint64_t before, after = 0;
	ft_hash root;
	size_t i, dups = 0, rejected = 0;
	int err;

	ft_store_head(s->o.store, &before, &root);
	for (i = 0; i < n; i++) {
		memset(&s->items[i], 0, sizeof(s->items[i]));
		s->items[i].data = batch[i]->entry;
		s->items[i].len = batch[i]->len;
		s->items[i].meta = batch[i]->meta;
	}
	err = ft_store_append(s->o.store, s->items, n, sign_checkpoint, s,
			      &after);
	if (err != 0) {
		ft_metrics_batch_error(s->o.metrics);
		ft_log(FT_LOG_ERROR,
		       "batch of %zu entries not committed: %s (%s); the "
		       "submitters get 503",
		       n, ft_strerror(err), ft_store_last_error(s->o.store));
	} else {
		for (i = 0; i < n; i++) {
			dups += s->items[i].dup != 0;
			rejected += s->items[i].rejected != 0;
		}
		for (i = 0; i < rejected; i++) {
			ft_metrics_rejected(s->o.metrics);
		}
		ft_metrics_batch(s->o.metrics, n - dups - rejected, dups,
				 (double)(now_ns() - t0) / 1e9);
		ft_metrics_tree_size(s->o.metrics, after);
		if (after != before) {
			ft_metrics_checkpoint_now(s->o.metrics);
		}
		ft_log(FT_LOG_DEBUG,
		       "batch committed: %zu new, %zu duplicates, %zu revoked, "
		       "size %llu",
		       n - dups - rejected, dups, rejected,
		       (unsigned long long)after);
	}
	answer_batch(s, batch, n, err);
	if (err == 0 && after != before) {
		run_export(s);
		/* A new checkpoint, its tiles exported: the witness client
		 * starts a round soon (this only signals, it never waits). */
		if (s->o.witc != NULL) {
			ft_witc_notify(s->o.witc);
		}
	}
}

static void thread_main(void *arg)
{
	ft_seq *s = arg;
	struct sub **batch = s->batch;
	uint64_t interval_ns = s->o.batch_interval_ms * 1000000u;
	uint64_t deadline = now_ns() + interval_ns;

	uv_mutex_lock(&s->mu);
	for (;;) {
		size_t n = 0;

		/* Wait for a full batch, the interval, or a stop. */
		while (!s->stopping && s->queue.count < s->o.batch_max) {
			uint64_t t = now_ns();

			if (t >= deadline) {
				break;
			}
			(void)uv_cond_timedwait(&s->cond, &s->mu,
						deadline - t);
		}
		if (s->stopping) {
			break;
		}
		while (n < s->o.batch_max && s->queue.head != NULL) {
			batch[n++] = q_pop(&s->queue);
		}
		/* The next batch is cut one interval after this one, not one
		 * interval after this one's commit: an entry waits at most the
		 * interval plus its own batch's commit. */
		deadline = now_ns() + interval_ns;
		atomic_store(&s->depth, s->queue.count);
		uv_mutex_unlock(&s->mu);
		if (n > 0) {
			run_batch(s, batch, n);
		}
		atomic_store(&s->last_cycle_ms, now_ns() / 1000000u);
		ft_metrics_queue_depth(s->o.metrics, atomic_load(&s->depth));
		uv_mutex_lock(&s->mu);
	}
	/* Stopping: the batch in flight (if any) was committed above;
	 * everything still queued is refused. */
	{
		struct sub *q;

		while ((q = q_pop(&s->queue)) != NULL) {
			q->res.err = FT_ESHUTDOWN;
			q_push(&s->done, q);
		}
	}
	atomic_store(&s->depth, 0);
	s->thread_exited = 1;
	uv_mutex_unlock(&s->mu);
	uv_async_send(&s->async);
}

/* ---- Loop thread side. */

static void on_async(uv_async_t *h)
{
	ft_seq *s = h->data;
	struct subq done;
	struct sub *d;
	int exited;
	uint64_t t = now_ns();

	uv_mutex_lock(&s->mu);
	done = s->done;
	memset(&s->done, 0, sizeof(s->done));
	exited = s->thread_exited;
	uv_mutex_unlock(&s->mu);
	while ((d = q_pop(&done)) != NULL) {
		if (!d->cancelled && d->done != NULL) {
			d->res.latency = (double)(t - d->t0_ns) / 1e9;
			if (d->res.err == 0) {
				ft_metrics_add_latency(s->o.metrics,
						       d->res.latency);
			}
			d->done(d->ctx, &d->res);
		}
		sub_free(d);
	}
	if (exited && s->shutdown_called && !s->shutdown_reported) {
		s->shutdown_reported = 1;
		/* Nothing more will come: let uv_run end once the rest of
		 * the server has closed; ft_seq_free closes the handle. */
		uv_unref((uv_handle_t *)&s->async);
		if (s->shutdown_done != NULL) {
			s->shutdown_done(s->shutdown_arg);
		}
	}
}

static void on_async_closed(uv_handle_t *h)
{
	ft_seq *s = h->data;

	free(s);
}

int ft_seq_start(const ft_seq_opts *opts, ft_seq **out)
{
	ft_seq *s;
	int err;

	*out = NULL;
	if (opts->store == NULL || opts->key == NULL || opts->loop == NULL ||
	    opts->batch_max == 0 || opts->queue_max == 0 ||
	    opts->batch_interval_ms == 0) {
		return FT_EINVAL;
	}
	s = calloc(1, sizeof(*s));
	if (s == NULL) {
		return FT_ENOMEM;
	}
	s->o = *opts;
	s->key = *opts->key;
	ft_skey_public(&s->key, &s->vkey);
	s->items = calloc(opts->batch_max, sizeof(*s->items));
	s->batch = calloc(opts->batch_max, sizeof(*s->batch));
	s->tr = malloc(sizeof(*s->tr));
	if (s->items == NULL || s->batch == NULL || s->tr == NULL) {
		free(s->items);
		free(s->batch);
		free(s->tr);
		free(s);
		return FT_ENOMEM;
	}
	atomic_store(&s->last_cycle_ms, now_ns() / 1000000u);
	err = ft_store_reader_init(opts->store, &s->reader);
	if (err != 0) {
		goto fail_items;
	}
	if (uv_mutex_init(&s->mu) != 0) {
		err = FT_ENOMEM;
		goto fail_reader;
	}
	if (uv_cond_init(&s->cond) != 0) {
		err = FT_ENOMEM;
		goto fail_mu;
	}
	/* A new log has no checkpoint yet: sign the empty tree's, so that
	 * GET /checkpoint always has an answer. */
	err = ft_store_read_begin(&s->reader);
	if (err == 0) {
		ft_store_state st;

		int none;

		err = ft_store_get_state(&s->reader, &st);
		none = err == 0 && st.checkpoint == NULL;
		ft_store_read_end(&s->reader);
		if (none) {
			err = ft_store_resign(opts->store, sign_checkpoint, s);
		}
	}
	if (err != 0) {
		ft_log(FT_LOG_ERROR, "cannot sign the first checkpoint: %s",
		       ft_strerror(err));
		goto fail_cond;
	}
	/* Start from what the tiles directory already has (catch up after a
	 * crash between a commit and its export). */
	if (s->o.export != NULL) {
		ft_hash root;

		err = ft_store_read_begin(&s->reader);
		if (err == 0) {
			err = ft_export_catch_up(s->o.export, &s->reader);
			ft_store_read_end(&s->reader);
		}
		if (err != 0) {
			ft_log(FT_LOG_ERROR,
			       "tiles directory catch-up failed: %s",
			       ft_strerror(err));
			goto fail_cond;
		}
		ft_store_head(s->o.store, &s->exported_size, &root);
	}
	if (uv_async_init(opts->loop, &s->async, on_async) != 0) {
		err = FT_ENOMEM;
		goto fail_cond;
	}
	s->async.data = s;
	if (uv_thread_create(&s->thread, thread_main, s) != 0) {
		err = FT_ENOMEM;
		goto fail_async;
	}
	s->thread_started = 1;
	/* The first checkpoint is signed and the tiles directory caught
	 * up: the witness client may run a round and write DIR/checkpoint
	 * (it is started before us, see logd/main.c). */
	if (s->o.witc != NULL) {
		ft_witc_notify(s->o.witc);
	}
	*out = s;
	return 0;
fail_async:
	uv_cond_destroy(&s->cond);
	uv_mutex_destroy(&s->mu);
	ft_store_reader_free(&s->reader);
	sodium_memzero(&s->key, sizeof(s->key));
	free(s->items);
	s->items = NULL;
	free(s->batch);
	s->batch = NULL;
	free(s->tr);
	s->tr = NULL;
	/* s is freed in the async handle's close callback. */
	uv_close((uv_handle_t *)&s->async, on_async_closed);
	return err;
fail_cond:
	uv_cond_destroy(&s->cond);
fail_mu:
	uv_mutex_destroy(&s->mu);
fail_reader:
	ft_store_reader_free(&s->reader);
fail_items:
	sodium_memzero(&s->key, sizeof(s->key));
	free(s->items);
	free(s->batch);
	free(s->tr);
	free(s);
	return err;
}

int ft_seq_submit(ft_seq *s, const uint8_t *entry, size_t len,
		  ft_store_meta *meta, ft_seq_done_fn done, void *ctx,
		  void **handle)
{
	struct sub *b;
	int err = 0;

	*handle = NULL;
	if (len == 0 || len > FT_ENTRY_MAX) {
		free(meta);
		return FT_EINVAL;
	}
	if (s->shutdown_called) {
		free(meta);
		return FT_ESHUTDOWN;
	}
	b = calloc(1, sizeof(*b));
	if (b == NULL) {
		free(meta);
		return FT_ENOMEM;
	}
	b->meta = meta;
	b->cost = len + sizeof(*b);
	if (meta != NULL) {
		b->cost += sizeof(*meta) + meta->record_len;
	}
	b->entry = malloc(len);
	if (b->entry == NULL) {
		sub_free(b);
		return FT_ENOMEM;
	}
	memcpy(b->entry, entry, len);
	b->len = len;
	b->done = done;
	b->ctx = ctx;
	b->t0_ns = now_ns();
	uv_mutex_lock(&s->mu);
	if (s->stopping) {
		err = FT_ESHUTDOWN;
	} else if (s->queue.count >= s->o.queue_max ||
		   (s->queue.count > 0 &&
		    s->queue.bytes + b->cost > s->o.queue_bytes_max)) {
		/* An empty queue takes any one entry: with its meta, the
		 * largest entry may cost more than the smallest limit. */
		err = FT_EBUSY;
	} else {
		q_push(&s->queue, b);
		atomic_store(&s->depth, s->queue.count);
		if (s->queue.count >= s->o.batch_max) {
			uv_cond_signal(&s->cond);
		}
	}
	uv_mutex_unlock(&s->mu);
	if (err != 0) {
		if (err == FT_EBUSY) {
			ft_metrics_queue_full(s->o.metrics);
		}
		sub_free(b);
		return err;
	}
	*handle = b;
	return 0;
}

void ft_seq_cancel(ft_seq *s, void *handle)
{
	struct sub *b = handle;

	(void)s;
	if (b != NULL) {
		b->cancelled = 1;
	}
}

size_t ft_seq_queue_depth(ft_seq *s)
{
	return atomic_load(&s->depth);
}

uint64_t ft_seq_idle_ms(ft_seq *s)
{
	uint64_t t = now_ns() / 1000000u;
	uint64_t last = atomic_load(&s->last_cycle_ms);

	return t > last ? t - last : 0;
}

void ft_seq_shutdown(ft_seq *s, void (*done)(void *arg), void *arg)
{
	if (s->shutdown_called) {
		return;
	}
	s->shutdown_called = 1;
	s->shutdown_done = done;
	s->shutdown_arg = arg;
	uv_mutex_lock(&s->mu);
	s->stopping = 1;
	uv_cond_signal(&s->cond);
	uv_mutex_unlock(&s->mu);
	/* on_async reports completion once the thread has exited. */
}

void ft_seq_free(ft_seq *s)
{
	struct sub *d;

	if (s == NULL) {
		return;
	}
	if (s->thread_started) {
		uv_mutex_lock(&s->mu);
		s->stopping = 1;
		uv_cond_signal(&s->cond);
		uv_mutex_unlock(&s->mu);
		(void)uv_thread_join(&s->thread);
	}
	/* Anything not delivered is dropped (the loop is ending). */
	while ((d = q_pop(&s->done)) != NULL) {
		sub_free(d);
	}
	while ((d = q_pop(&s->queue)) != NULL) {
		sub_free(d);
	}
	uv_cond_destroy(&s->cond);
	uv_mutex_destroy(&s->mu);
	ft_store_reader_free(&s->reader);
	sodium_memzero(&s->key, sizeof(s->key));
	free(s->items);
	free(s->batch);
	free(s->tr);
	/* The async handle is freed with s in its close callback; the
	 * caller runs the loop once more to let it close. */
	uv_close((uv_handle_t *)&s->async, on_async_closed);
}
