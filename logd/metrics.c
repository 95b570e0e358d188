/*
 * logd/metrics.c - Prometheus text exposition format 0.0.4 (see
 * metrics.h).
 *
 * All state sits behind one mutex: updates are a few additions, the loop
 * and the sequencer thread rarely contend, and render then sees one
 * consistent snapshot (a histogram's buckets, _sum and _count agree).
 */
#include <math.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#ifdef HAVE_CONFIG_H
#include "config.h" /* PACKAGE_VERSION from configure.ac */
#endif

#include "logd/metrics.h"

/* Builds without configure (a bare gcc line) report the release. */
#ifndef PACKAGE_VERSION
#define PACKAGE_VERSION "0.1.0"
#endif

/* Bucket upper bounds, and the same values as label text. */
#define HIST_MAX_BUCKETS 12

typedef struct hist_spec {
	size_t n;
	double le[HIST_MAX_BUCKETS];
	const char *label[HIST_MAX_BUCKETS];
} hist_spec;

static const hist_spec batch_size_spec = {
	6,
	{1, 10, 100, 1000, 10000, 100000},
	{"1", "10", "100", "1000", "10000", "100000"},
};

static const hist_spec seconds_spec = {
	12,
	{0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10},
	{"0.001", "0.005", "0.01", "0.025", "0.05", "0.1", "0.25", "0.5",
	 "1", "2.5", "5", "10"},
};

typedef struct hist {
	/* Non-cumulative counts per bucket; the last slot is +Inf only. */
	uint64_t bucket[HIST_MAX_BUCKETS + 1];
	uint64_t count;
	double sum;
} hist;

/* Status codes with their own label; anything else is "other". */
static const int tracked_codes[] = {200, 204, 304, 400, 403, 404, 405,
				    408, 410, 411, 413, 414, 422, 431,
				    500, 501, 503, 505};
#define NCODES (sizeof tracked_codes / sizeof tracked_codes[0])

static const char *const route_names[FT_ROUTE_COUNT] = {
	[FT_ROUTE_CHECKPOINT] = "checkpoint",
	[FT_ROUTE_TILE] = "tile",
	[FT_ROUTE_ENTRIES] = "entries",
	[FT_ROUTE_ADD] = "add",
	[FT_ROUTE_PROOF_INCLUSION] = "proof_inclusion",
	[FT_ROUTE_PROOF_CONSISTENCY] = "proof_consistency",
	[FT_ROUTE_METRICS] = "metrics",
	[FT_ROUTE_HEALTHZ] = "healthz",
	[FT_ROUTE_LINEAGE] = "lineage",
	[FT_ROUTE_BUNDLE] = "bundle",
	[FT_ROUTE_OTHER] = "other",
};

/* Everything render shows; copied whole under the lock. */
typedef struct metrics_state {
	uint64_t tree_size;
	uint64_t appended;
	uint64_t duplicates;
	uint64_t rejected;
	uint64_t policy_reloads;
	uint64_t policy_reload_failures;
	hist batch_size;
	hist batch_commit;
	uint64_t batch_errors;
	hist add_latency;
	uint64_t queue_depth;
	uint64_t queue_full;
	/* requests[route][i]: i < NCODES for tracked codes, NCODES other. */
	uint64_t requests[FT_ROUTE_COUNT][NCODES + 1];
	uint64_t conns_open;
	uint64_t conns_total;
	uint64_t conns_refused;
	int have_checkpoint;
	struct timespec checkpoint_at; /* CLOCK_MONOTONIC */
	size_t n_witnesses;
	uint64_t witness_ok[FT_METRICS_WITNESS_MAX];
	uint64_t witness_fail[FT_METRICS_WITNESS_MAX];
	int have_published;
	uint64_t published_size;
} metrics_state;

struct ft_metrics {
	pthread_mutex_t mu;
	metrics_state s;
	/* Label values of the witnesses: set once at registration (under
	 * mu), never changed; freed with m. */
	char *witness_name[FT_METRICS_WITNESS_MAX];
};

const char *ft_route_name(int route)
{
	if (route < 0 || route >= FT_ROUTE_COUNT) {
		return route_names[FT_ROUTE_OTHER];
	}
	return route_names[route];
}

ft_metrics *ft_metrics_new(void)
{
	ft_metrics *m = calloc(1, sizeof *m);

	if (m == NULL) {
		return NULL;
	}
	if (pthread_mutex_init(&m->mu, NULL) != 0) {
		free(m);
		return NULL;
	}
	return m;
}

void ft_metrics_free(ft_metrics *m)
{
	if (m == NULL) {
		return;
	}
	/* Fails only if still locked, which would be a caller bug. */
	(void)pthread_mutex_destroy(&m->mu);
	for (size_t i = 0; i < FT_METRICS_WITNESS_MAX; i++) {
		free(m->witness_name[i]);
	}
	free(m);
}

/*
 * The mutex is a default one, initialised in ft_metrics_new: lock and
 * unlock can only fail on misuse (destroyed mutex), which is a bug.
 */
static void lock(ft_metrics *m)
{
	int rc = pthread_mutex_lock(&m->mu);
	if (rc != 0) {
		abort();
	}
}

static void unlock(ft_metrics *m)
{
	int rc = pthread_mutex_unlock(&m->mu);
	if (rc != 0) {
		abort();
	}
}

/* Observe v: NaN and infinities are dropped (the exposition format
 * would need "+Inf" in _sum), negative values count as 0. */
static void hist_observe(hist *h, const hist_spec *spec, double v)
{
	if (!isfinite(v)) {
		return;
	}
	if (v < 0) {
		v = 0;
	}
	size_t i = 0;
	while (i < spec->n && v > spec->le[i]) {
		i++;
	}
	h->bucket[i]++;
	h->count++;
	h->sum += v;
}

static size_t code_slot(int status)
{
	for (size_t i = 0; i < NCODES; i++) {
		if (tracked_codes[i] == status) {
			return i;
		}
	}
	return NCODES;
}

void ft_metrics_request(ft_metrics *m, int route, int status)
{
	if (m == NULL) {
		return;
	}
	if (route < 0 || route >= FT_ROUTE_COUNT) {
		route = FT_ROUTE_OTHER;
	}
	size_t slot = code_slot(status);
	lock(m);
	m->s.requests[route][slot]++;
	unlock(m);
}

void ft_metrics_conn_open(ft_metrics *m)
{
	if (m == NULL) {
		return;
	}
	lock(m);
	m->s.conns_open++;
	m->s.conns_total++;
	unlock(m);
}

void ft_metrics_conn_close(ft_metrics *m)
{
	if (m == NULL) {
		return;
	}
	lock(m);
	/* An unmatched close is a caller bug; never wrap the gauge. */
	if (m->s.conns_open > 0) {
		m->s.conns_open--;
	}
	unlock(m);
}

void ft_metrics_conn_refused(ft_metrics *m)
{
	if (m == NULL) {
		return;
	}
	lock(m);
	m->s.conns_refused++;
	unlock(m);
}

void ft_metrics_batch(ft_metrics *m, size_t appended, size_t duplicates,
		      double commit_seconds)
{
	if (m == NULL) {
		return;
	}
	lock(m);
	m->s.appended += appended;
	m->s.duplicates += duplicates;
	/* Batch size counts every item the batch handled, new or not. */
	hist_observe(&m->s.batch_size, &batch_size_spec,
		     (double)appended + (double)duplicates);
	hist_observe(&m->s.batch_commit, &seconds_spec, commit_seconds);
	unlock(m);
}

void ft_metrics_batch_error(ft_metrics *m)
{
	if (m == NULL) {
		return;
	}
	lock(m);
	m->s.batch_errors++;
	unlock(m);
}

void ft_metrics_add_latency(ft_metrics *m, double seconds)
{
	if (m == NULL) {
		return;
	}
	lock(m);
	hist_observe(&m->s.add_latency, &seconds_spec, seconds);
	unlock(m);
}

void ft_metrics_rejected(ft_metrics *m)
{
	if (m == NULL) {
		return;
	}
	lock(m);
	m->s.rejected++;
	unlock(m);
}

void ft_metrics_policy_reload(ft_metrics *m, int ok)
{
	if (m == NULL) {
		return;
	}
	lock(m);
	if (ok) {
		m->s.policy_reloads++;
	} else {
		m->s.policy_reload_failures++;
	}
	unlock(m);
}

void ft_metrics_queue_depth(ft_metrics *m, size_t depth)
{
	if (m == NULL) {
		return;
	}
	lock(m);
	m->s.queue_depth = depth;
	unlock(m);
}

void ft_metrics_queue_full(ft_metrics *m)
{
	if (m == NULL) {
		return;
	}
	lock(m);
	m->s.queue_full++;
	unlock(m);
}

void ft_metrics_tree_size(ft_metrics *m, uint64_t size)
{
	if (m == NULL) {
		return;
	}
	lock(m);
	m->s.tree_size = size;
	unlock(m);
}

void ft_metrics_checkpoint_now(ft_metrics *m)
{
	struct timespec now;

	if (m == NULL) {
		return;
	}
	/* CLOCK_MONOTONIC cannot fail on Linux; if it did, keep the old. */
	if (clock_gettime(CLOCK_MONOTONIC, &now) != 0) {
		return;
	}
	lock(m);
	m->s.checkpoint_at = now;
	m->s.have_checkpoint = 1;
	unlock(m);
}

int ft_metrics_witness_add(ft_metrics *m, const char *name)
{
	int slot = -1;

	if (m == NULL || name == NULL) {
		return -1;
	}
	char *copy = strdup(name);
	if (copy == NULL) {
		return -1;
	}
	lock(m);
	if (m->s.n_witnesses < FT_METRICS_WITNESS_MAX) {
		slot = (int)m->s.n_witnesses++;
		m->witness_name[slot] = copy;
		copy = NULL;
	}
	unlock(m);
	free(copy);
	return slot;
}

void ft_metrics_witness_result(ft_metrics *m, int slot, int ok)
{
	if (m == NULL || slot < 0 || slot >= FT_METRICS_WITNESS_MAX) {
		return;
	}
	lock(m);
	if (ok) {
		m->s.witness_ok[slot]++;
	} else {
		m->s.witness_fail[slot]++;
	}
	unlock(m);
}

void ft_metrics_published_size(ft_metrics *m, uint64_t size)
{
	if (m == NULL) {
		return;
	}
	lock(m);
	m->s.published_size = size;
	m->s.have_published = 1;
	unlock(m);
}

/* ---- Rendering. */

typedef struct obuf {
	char *p;
	size_t len, cap;
	int failed; /* sticky: an allocation or formatting error */
} obuf;

__attribute__((format(printf, 2, 3))) static void ob_printf(obuf *b,
							     const char *fmt,
							     ...)
{
	va_list ap;

	if (b->failed) {
		return;
	}
	for (;;) {
		va_start(ap, fmt);
		int n = vsnprintf(b->p + b->len, b->cap - b->len, fmt, ap);
		va_end(ap);
		if (n < 0) {
			b->failed = 1;
			return;
		}
		if ((size_t)n < b->cap - b->len) {
			b->len += (size_t)n;
			return;
		}
		/* Truncated: grow so the whole line and its NUL fit. */
		size_t need = b->len + (size_t)n + 1;
		size_t ncap = b->cap * 2;
		if (ncap < need) {
			ncap = need;
		}
		char *np = realloc(b->p, ncap);
		if (np == NULL) {
			b->failed = 1;
			return;
		}
		b->p = np;
		b->cap = ncap;
	}
}

/* A label value in the exposition format: backslash, double quote and
 * newline escaped. Truncated (never mid-escape) if it does not fit. */
static const char *escape_label(char *out, size_t cap, const char *in)
{
	size_t j = 0;

	for (size_t i = 0; in != NULL && in[i] != '\0'; i++) {
		char c = in[i];
		int esc = c == '\\' || c == '"' || c == '\n';
		if (j + (esc ? 2 : 1) + 1 > cap) {
			break;
		}
		if (esc) {
			out[j++] = '\\';
			c = c == '\n' ? 'n' : c;
		}
		out[j++] = c;
	}
	out[j] = '\0';
	return out;
}

static void header(obuf *b, const char *name, const char *type,
		   const char *help)
{
	ob_printf(b, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

static void scalar(obuf *b, const char *name, const char *type,
		   const char *help, uint64_t v)
{
	header(b, name, type, help);
	ob_printf(b, "%s %" PRIu64 "\n", name, v);
}

/* Buckets are cumulative in the exposition format; +Inf equals _count. */
static void histogram(obuf *b, const char *name, const char *help,
		      const hist *h, const hist_spec *spec)
{
	uint64_t cum = 0;

	header(b, name, "histogram", help);
	for (size_t i = 0; i < spec->n; i++) {
		cum += h->bucket[i];
		ob_printf(b, "%s_bucket{le=\"%s\"} %" PRIu64 "\n", name,
			  spec->label[i], cum);
	}
	ob_printf(b, "%s_bucket{le=\"+Inf\"} %" PRIu64 "\n", name, h->count);
	/* %.17g round-trips a double and is a valid Go ParseFloat input. */
	ob_printf(b, "%s_sum %.17g\n", name, h->sum);
	ob_printf(b, "%s_count %" PRIu64 "\n", name, h->count);
}

int ft_metrics_render(ft_metrics *m, char **out, size_t *len)
{
	obuf b = {NULL, 0, 0, 0};
	struct timespec now;
	int have_now;

	if (out == NULL || len == NULL) {
		return -1;
	}
	b.cap = 8192;
	b.p = malloc(b.cap);
	if (b.p == NULL) {
		return -1;
	}
	b.p[0] = '\0';
	if (m == NULL) {
		*out = b.p;
		*len = 0;
		return 0;
	}
	have_now = clock_gettime(CLOCK_MONOTONIC, &now) == 0;

	/* Copy under the lock, format outside it. */
	lock(m);
	metrics_state snap = m->s;
	unlock(m);

	scalar(&b, "ftlog_tree_size", "gauge",
	       "Number of entries in the log.", snap.tree_size);
	scalar(&b, "ftlog_entries_appended_total", "counter",
	       "Entries appended to the log.", snap.appended);
	scalar(&b, "ftlog_entries_duplicate_total", "counter",
	       "Submissions of entries that were already logged.",
	       snap.duplicates);
	scalar(&b, "ftlog_entries_rejected_total", "counter",
	       "Submissions refused by the submission policy or a "
	       "revocation.",
	       snap.rejected);
	scalar(&b, "ftlog_policy_reloads_total", "counter",
	       "Submission policies loaded on SIGHUP.", snap.policy_reloads);
	scalar(&b, "ftlog_policy_reload_failures_total", "counter",
	       "SIGHUP reloads refused because the new policy was invalid.",
	       snap.policy_reload_failures);
	histogram(&b, "ftlog_batch_size", "Entries handled per batch.",
		  &snap.batch_size, &batch_size_spec);
	histogram(&b, "ftlog_batch_commit_seconds",
		  "Time to append, sign and durably commit a batch.",
		  &snap.batch_commit, &seconds_spec);
	scalar(&b, "ftlog_batch_errors_total", "counter",
	       "Batches that failed to commit.", snap.batch_errors);
	histogram(&b, "ftlog_add_latency_seconds",
		  "Time from queueing a submission to answering it.",
		  &snap.add_latency, &seconds_spec);
	scalar(&b, "ftlog_queue_depth", "gauge",
	       "Submissions waiting for the sequencer.", snap.queue_depth);
	scalar(&b, "ftlog_queue_full_total", "counter",
	       "Submissions refused with 503 because the queue was full.",
	       snap.queue_full);

	header(&b, "ftlog_http_requests_total", "counter",
	       "HTTP requests answered, by route and status code.");
	for (int r = 0; r < FT_ROUTE_COUNT; r++) {
		for (size_t i = 0; i <= NCODES; i++) {
			uint64_t v = snap.requests[r][i];
			if (v == 0) {
				continue; /* only series that happened */
			}
			if (i < NCODES) {
				ob_printf(&b,
					  "ftlog_http_requests_total{route=\"%s\","
					  "code=\"%d\"} %" PRIu64 "\n",
					  route_names[r], tracked_codes[i], v);
			} else {
				ob_printf(&b,
					  "ftlog_http_requests_total{route=\"%s\","
					  "code=\"other\"} %" PRIu64 "\n",
					  route_names[r], v);
			}
		}
	}

	scalar(&b, "ftlog_http_connections_open", "gauge",
	       "HTTP connections currently open.", snap.conns_open);
	scalar(&b, "ftlog_http_connections_total", "counter",
	       "HTTP connections accepted.", snap.conns_total);
	scalar(&b, "ftlog_http_connections_refused_total", "counter",
	       "HTTP connections refused over the connection cap.",
	       snap.conns_refused);

	if (snap.have_checkpoint && have_now) {
		double age = (double)(now.tv_sec - snap.checkpoint_at.tv_sec) +
			     (double)(now.tv_nsec - snap.checkpoint_at.tv_nsec) /
				     1e9;
		if (age < 0) {
			age = 0;
		}
		header(&b, "ftlog_checkpoint_age_seconds", "gauge",
		       "Seconds since the last checkpoint was signed and "
		       "committed.");
		ob_printf(&b, "ftlog_checkpoint_age_seconds %.3f\n", age);
	}

	if (snap.n_witnesses > 0) {
		char label[2 * 255 + 1];

		header(&b, "ftlog_witness_cosignatures_total", "counter",
		       "Valid cosignatures received, by witness key name.");
		for (size_t i = 0; i < snap.n_witnesses; i++) {
			ob_printf(&b, "ftlog_witness_cosignatures_total"
				  "{witness=\"%s\"} %" PRIu64 "\n",
				  escape_label(label, sizeof label,
					       m->witness_name[i]),
				  snap.witness_ok[i]);
		}
		header(&b, "ftlog_witness_failures_total", "counter",
		       "Add-checkpoint requests that did not yield a valid "
		       "cosignature (error status, timeout, unreachable, bad "
		       "cosignature), by witness key name.");
		for (size_t i = 0; i < snap.n_witnesses; i++) {
			ob_printf(&b, "ftlog_witness_failures_total"
				  "{witness=\"%s\"} %" PRIu64 "\n",
				  escape_label(label, sizeof label,
					       m->witness_name[i]),
				  snap.witness_fail[i]);
		}
	}
	if (snap.have_published) {
		scalar(&b, "ftlog_published_checkpoint_size", "gauge",
		       "Tree size of the published checkpoint (the one "
		       "cosigned by the witness quorum).",
		       snap.published_size);
	}

	header(&b, "ftlog_build_info", "gauge",
	       "Build information; the value is always 1.");
	ob_printf(&b, "ftlog_build_info{version=\"%s\"} 1\n", PACKAGE_VERSION);

	if (b.failed) {
		free(b.p);
		return -1;
	}
	*out = b.p;
	*len = b.len;
	return 0;
}
