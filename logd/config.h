/*
 * logd/config.h - ftlogd settings from a config file and from flags
 * (internal).
 *
 * Every setting has one name, used both as a long flag ("--batch-interval
 * 250ms") and as a config-file key ("batch-interval = 250ms"). Flags given
 * on the command line win over the file, whatever their order.
 *
 * Config file syntax: UTF-8 text, one "key = value" per line; blank lines
 * and lines starting with '#' are ignored; whitespace around key and value
 * is trimmed; values are not quoted. An unknown key, a duplicate key, a
 * malformed value or a value out of range is an error naming the file and
 * line. At most 64 KiB.
 *
 * Value types:
 *   duration: a decimal integer with a unit: "ms", "s", "m" ("500ms", "10s")
 *   size:     a decimal integer with an optional unit "K", "M", "G", "T"
 *             (powers of 1024; "64M")
 *   count:    a decimal integer
 *   path, string: the rest of the line
 */
#ifndef FTLOG_LOGD_CONFIG_H
#define FTLOG_LOGD_CONFIG_H

#include <stddef.h>
#include <stdint.h>

typedef struct ft_logd_config {
	char *data_dir;      /* data           (required) */
	char *listen;        /* listen         "127.0.0.1:8080" (host:port, IPv4
			      *                or [v6]:port; port 0 = ephemeral) */
	char *tiles_dir;     /* tiles-dir      NULL = no static export */
	char *ready_file;    /* ready-file     written with "host:port\n" once
			      *                serving; for supervisors and tests */
	char *policy;        /* policy         the submission policy file
			      *                (required by serve; re-read on
			      *                SIGHUP) */
	int log_level;       /* log-level      error|warn|info|debug; info */
	uint64_t batch_interval_ms; /* batch-interval  500ms; 1ms..60s */
	uint64_t batch_max;         /* batch-size      4096 entries; 1..1M */
	uint64_t queue_max;         /* queue-size      65536 entries; 1..16M */
	uint64_t queue_bytes_max;   /* queue-bytes     256M; 64K..64G */
	uint64_t max_connections;   /* max-connections 1024; 1..1M */
	uint64_t header_timeout_ms; /* header-timeout  10s: whole request head */
	uint64_t request_timeout_ms;/* request-timeout 30s: head + body */
	uint64_t idle_timeout_ms;   /* idle-timeout    60s: keep-alive idle */
	uint64_t write_timeout_ms;  /* write-timeout   30s: a stalled reader */
	uint64_t max_header_bytes;  /* max-header-bytes 8K; 1K..1M */
	uint64_t max_body_bytes;    /* max-body-bytes  65535; 1..65535 */
	uint64_t map_size;          /* map-size        64G; 1M..1T */
	uint64_t health_max_age_ms; /* health-max-age  10s: /healthz fails when
				     * the sequencer has not completed a
				     * cycle for this long */
	char *witnesses;            /* witnesses       the witnesses file
				     * (logd/witness.h); NULL: no witness
				     * client, /checkpoint serves the newest
				     * signed checkpoint */
	uint64_t witness_quorum;    /* witness-quorum  0; 0..32, at most the
				     * number of witnesses (checked by
				     * ftlogd serve once the file is read) */
	uint64_t witness_timeout_ms;/* witness-timeout 5s; 100ms..5m: per
				     * request and per round */
	char *origin;               /* origin          (init only) */
} ft_logd_config;

/* Fill in the defaults (all strings NULL). */
void ft_config_defaults(ft_logd_config *c);

/* Free the strings. */
void ft_config_free(ft_logd_config *c);

/*
 * Set one setting by name from a string. 0, or -1 with a one-line reason
 * in err (e.g. "batch-interval: expected a duration like 500ms").
 */
int ft_config_set(ft_logd_config *c, const char *key, const char *value,
		  char *err, size_t errcap);

/*
 * Load a config file (see syntax above). Keys in `skip` (a NULL-terminated
 * array, may be NULL) are ignored because they were given as flags.
 * 0, or -1 with "FILE:LINE: reason" in err.
 */
int ft_config_load_file(ft_logd_config *c, const char *path,
			const char *const *skip, char *err, size_t errcap);

/* Whether key names a setting. */
int ft_config_known(const char *key);

/*
 * Split c->listen into host (NUL-terminated, brackets removed) and port.
 * 0, or -1 with a reason.
 */
int ft_config_listen(const ft_logd_config *c, char *host, size_t hostcap,
		     int *port, char *err, size_t errcap);

/* Parsers, exposed for tests. 0 or -1. */
int ft_config_parse_duration_ms(const char *s, uint64_t *out);
int ft_config_parse_size(const char *s, uint64_t *out);

#endif
