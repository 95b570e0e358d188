/*
 * tests/logd_harness.h - start the real ftlogd on 127.0.0.1 with an
 * ephemeral port and a temporary data directory, and talk HTTP/1.1 to it.
 * Shared by the integration suites (test_logd, test_crash, test_hostile,
 * test_nginx). Never uses any address but 127.0.0.1.
 *
 * The ftlogd binary is $FTLOG_BUILDDIR/logd/ftlogd.
 */
#ifndef FTLOG_LOGD_HARNESS_H
#define FTLOG_LOGD_HARNESS_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include <ftlog/note.h>

typedef struct lh_server {
	char *dir;        /* temporary directory, removed by lh_cleanup */
	char data[512];   /* dir/data */
	char tiles[512];  /* dir/tiles (used only with lh_start(..., tiles=1)) */
	char log[512];    /* dir/ftlogd.log: the server's stderr, appended */
	char origin[256];
	char vkey_str[512];
	ft_vkey vkey;     /* parsed verifier key of the log */
	pid_t pid;        /* 0 when not running */
	int port;
} lh_server;

/* Path of the ftlogd binary. */
const char *lh_ftlogd_path(void);

/*
 * Make a temp dir and run "ftlogd init --data DIR/data --origin ORIGIN",
 * capturing the printed verifier key. 0 or -1.
 */
int lh_init(lh_server *s, const char *origin);

/*
 * Start "ftlogd serve --data ... --listen 127.0.0.1:0 --ready-file ..."
 * plus --tiles-dir DIR/tiles when tiles != 0, plus extra_args (NULL-
 * terminated, may be NULL), stderr appended to s->log. Waits (up to 20 s)
 * for the ready file and sets s->port. 0 or -1.
 */
int lh_start(lh_server *s, int tiles, const char *const *extra_args);

/* SIGTERM and wait (up to 20 s, then SIGKILL). Returns the exit status
 * (0..255), 128+signal if killed by a signal, -1 on error. */
int lh_stop(lh_server *s);

/* SIGKILL and reap. */
void lh_kill(lh_server *s);

/* Stop if running and remove the temp dir. */
void lh_cleanup(lh_server *s);

/* ---- A small blocking HTTP/1.1 client. */

typedef struct lh_resp {
	int status;
	char *head;      /* the response head, NUL-terminated */
	uint8_t *body;   /* NUL-terminated (not counted in body_len) */
	size_t body_len;
} lh_resp;

/*
 * One request on a fresh connection to 127.0.0.1:port ("Connection:
 * close"). body may be NULL. 0 with *out filled, or -1 (connection
 * failure, timeout of 30 s, or malformed response).
 */
int lh_http(int port, const char *method, const char *path,
	    const void *body, size_t body_len, lh_resp *out);

/* Value of a response header (case-insensitive name) copied into buf;
 * 0 or -1 if absent. */
int lh_header(const lh_resp *r, const char *name, char *buf, size_t cap);

void lh_resp_free(lh_resp *r);

/* A keep-alive connection. */
typedef struct lh_conn {
	int fd;
	uint8_t *buf;
	size_t len, cap;
} lh_conn;

int lh_conn_open(lh_conn *c, int port);
/* Send one request (keep-alive) and read its response. */
int lh_conn_request(lh_conn *c, const char *method, const char *path,
		    const void *body, size_t body_len, lh_resp *out);
/* Write raw bytes; 0 or -1. */
int lh_conn_send(lh_conn *c, const void *data, size_t len);
/* Read one response (after lh_conn_send); 0 or -1 (EOF/timeout). */
int lh_conn_read_response(lh_conn *c, lh_resp *out, int timeout_ms);
void lh_conn_close(lh_conn *c);

/* ---- Log helpers. */

/* POST /add: returns 0 and the parsed index; proof copied if non-NULL. */
int lh_add(int port, const void *entry, size_t len, uint64_t *index,
	   lh_resp *proof_out);

/* GET /checkpoint, verified with s->vkey; size/root out. 0 or -1. */
int lh_checkpoint(const lh_server *s, uint64_t *size, uint8_t root[32],
		  lh_resp *raw_out);

#endif
