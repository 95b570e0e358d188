/*
 * logd/metrics.h - counters, gauges and histograms for GET /metrics in
 * the Prometheus text exposition format 0.0.4 (internal).
 *
 * Updated from the loop thread (requests, connections) and the sequencer
 * thread (batches): every update is thread-safe (C11 atomics or a mutex).
 * Metric names (all prefixed ftlog_):
 *   ftlog_tree_size                       gauge
 *   ftlog_entries_appended_total          counter (new entries)
 *   ftlog_entries_duplicate_total         counter (resubmissions)
 *   ftlog_entries_rejected_total          counter (validator said no)
 *   ftlog_batch_size                      histogram (entries per batch)
 *   ftlog_batch_commit_seconds            histogram (append+sign+commit)
 *   ftlog_batch_errors_total              counter
 *   ftlog_add_latency_seconds             histogram (queue -> answer)
 *   ftlog_queue_depth                     gauge
 *   ftlog_queue_full_total                counter (503 answers)
 *   ftlog_http_requests_total{route,code} counter
 *   ftlog_http_connections_open           gauge
 *   ftlog_http_connections_total          counter
 *   ftlog_http_connections_refused_total  counter (over the cap)
 *   ftlog_checkpoint_age_seconds          gauge (since last signing/commit)
 *   ftlog_witness_cosignatures_total{witness}  counter (valid cosignatures)
 *   ftlog_witness_failures_total{witness}      counter (failed requests)
 *   ftlog_published_checkpoint_size       gauge (with witnesses configured)
 *   ftlog_build_info{version}             gauge 1
 */
#ifndef FTLOG_LOGD_METRICS_H
#define FTLOG_LOGD_METRICS_H

#include <stddef.h>
#include <stdint.h>

enum ft_route {
	FT_ROUTE_CHECKPOINT = 0,
	FT_ROUTE_TILE,
	FT_ROUTE_ENTRIES,
	FT_ROUTE_ADD,
	FT_ROUTE_PROOF_INCLUSION,
	FT_ROUTE_PROOF_CONSISTENCY,
	FT_ROUTE_METRICS,
	FT_ROUTE_HEALTHZ,
	FT_ROUTE_LINEAGE,
	FT_ROUTE_BUNDLE,
	FT_ROUTE_OTHER, /* unknown paths, and errors before routing */
	FT_ROUTE_COUNT
};

/* Label value of a route: "checkpoint", "tile", "entries", "add",
 * "proof_inclusion", "proof_consistency", "metrics", "healthz", "lineage",
 * "bundle", "other". */
const char *ft_route_name(int route);

typedef struct ft_metrics ft_metrics;

/* NULL on allocation failure. */
ft_metrics *ft_metrics_new(void);
void ft_metrics_free(ft_metrics *m);

/* Every function below accepts m == NULL and then does nothing. */
void ft_metrics_request(ft_metrics *m, int route, int status);
void ft_metrics_conn_open(ft_metrics *m);
void ft_metrics_conn_close(ft_metrics *m);
void ft_metrics_conn_refused(ft_metrics *m);
void ft_metrics_batch(ft_metrics *m, size_t appended, size_t duplicates,
		      double commit_seconds);
void ft_metrics_batch_error(ft_metrics *m);
void ft_metrics_add_latency(ft_metrics *m, double seconds);
void ft_metrics_rejected(ft_metrics *m);
/* A policy reload on SIGHUP: ok != 0 if the new policy was taken. */
void ft_metrics_policy_reload(ft_metrics *m, int ok);
void ft_metrics_queue_depth(ft_metrics *m, size_t depth);
void ft_metrics_queue_full(ft_metrics *m);
void ft_metrics_tree_size(ft_metrics *m, uint64_t size);
/* Record that a checkpoint was signed/committed now (CLOCK_MONOTONIC). */
void ft_metrics_checkpoint_now(ft_metrics *m);

/* Most witnesses with their own series (logd/witness.h FT_WITC_MAX). */
#define FT_METRICS_WITNESS_MAX 32

/*
 * Witnesses, by key name (label "witness"): register each once, in order;
 * returns its slot, or -1 (m NULL, full, or out of memory: then
 * results for it are not counted). The name is copied.
 */
int ft_metrics_witness_add(ft_metrics *m, const char *name);
/* One add-checkpoint exchange with witness `slot`: ok != 0 when it gave
 * a valid cosignature. A slot of -1 is ignored. */
void ft_metrics_witness_result(ft_metrics *m, int slot, int ok);
/* The tree size of the published (cosigned) checkpoint. */
void ft_metrics_published_size(ft_metrics *m, uint64_t size);

/*
 * Render all metrics: *out is malloc'd (caller frees), *len its length.
 * 0, or -1 on allocation failure.
 */
int ft_metrics_render(ft_metrics *m, char **out, size_t *len);

#endif
