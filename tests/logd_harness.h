/*
 * tests/logd_harness.h - start the real ftlogd on 127.0.0.1 with an
 * ephemeral port and a temporary data directory, and talk HTTP/1.1 to it.
 * Shared by the integration suites (test_logd, test_crash, test_hostile,
 * test_nginx). Never uses any address but 127.0.0.1.
 *
 * The ftlogd binary is $FTLOG_BUILDDIR/logd/ftlogd.
 *
 * ftlogd only logs firmware events: DSSE envelopes carrying an in-toto
 * statement, admitted by a submission policy (logd/policy.h,
 * docs/policy.md). Every server started here gets `--policy s->policy`;
 * lh_init writes the default policy there, which lets the test key
 * (lh_test_key) sign every kind of event for every product. lh_event and
 * lh_event_exact make signed build events to submit.
 *
 * Nothing here calls Check's assertions: every function returns an error,
 * so the client functions may be used from several threads at once (one
 * lh_conn per thread). Spawning and stopping the server (lh_init,
 * lh_start, lh_stop, lh_kill, lh_cleanup, lh_run) must happen on the main
 * thread: the server is started with PR_SET_PDEATHSIG, which fires when
 * the thread that forked it ends.
 *
 * A server never outlives the test process (PR_SET_PDEATHSIG). If the test
 * process exits normally with servers not cleaned up, they are killed, the
 * tail of each log is printed to stderr and the temporary directories are
 * removed (kept if $FTLOG_KEEP_TMP is set); a failed Check assertion ends
 * the process with _exit, which is what lh_suite_setup is for.
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
	char policy[512]; /* dir/policy.json: the submission policy, written
			   * by lh_init (lh_default_policy), passed by
			   * lh_start as --policy */
	char origin[256];
	char vkey_str[512];
	ft_vkey vkey;     /* parsed verifier key of the log */
	pid_t pid;        /* 0 when not running */
	int port;
} lh_server;

/*
 * Unchecked fixture for a TCase that uses servers:
 *   tcase_add_unchecked_fixture(tc, lh_suite_setup, lh_suite_teardown);
 * Puts every temporary directory of its tests under one root that is
 * removed afterwards, also when a test fails (Check ends a failed test
 * with _exit, so the test process cannot clean up after itself).
 */
void lh_suite_setup(void);
void lh_suite_teardown(void);

/* Path of the ftlogd binary. */
const char *lh_ftlogd_path(void);

/*
 * Make a temp dir and run "ftlogd init --data DIR/data --origin ORIGIN",
 * capturing the printed verifier key, then write the default policy
 * (lh_default_policy(NULL)) to s->policy. 0 or -1.
 */
int lh_init(lh_server *s, const char *origin);

/*
 * Start "ftlogd serve --data ... --listen 127.0.0.1:0 --ready-file ...
 * --policy s->policy" plus --tiles-dir DIR/tiles when tiles != 0, plus
 * extra_args (NULL-
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

/*
 * Run "ftlogd ARGS..." (args NULL-terminated, without argv[0]) to
 * completion (at most 30 s), stdin from /dev/null. stdout and stderr are
 * returned as malloc'd NUL-terminated strings in *out and *err when those
 * are not NULL (caller frees). Returns the exit status, 128+signal, or -1.
 */
int lh_run(const char *const *args, char **out, char **err);

/* lh_run for any program (prog is its path, args do not repeat it). */
int lh_exec(const char *prog, const char *const *args, char **out,
	    char **err);

/*
 * Start "prog ARGS..." in the background (stdin /dev/null, stdout and
 * stderr appended to log; killed if the test process dies). The pid, or
 * -1. The caller stops and reaps it.
 */
pid_t lh_spawn(const char *prog, const char *const *args, const char *log);

/*
 * 0 if the server's log holds no sanitizer report (AddressSanitizer,
 * LeakSanitizer, UndefinedBehaviorSanitizer "runtime error:"); else the
 * tail of the log is printed to stderr and -1 is returned.
 */
int lh_log_clean(const lh_server *s);

/* 1 if the server process is still running (not exited on its own). */
int lh_alive(lh_server *s);

/* ---- Keys, policies and signed events. */

/*
 * The test signer: a deterministic Ed25519 key named "ftlog-test"
 * (ft_key_from_seed, seed 32 bytes of 0x42), the key every default policy
 * authorizes. Made on first use (thread-safe); never NULL (the process
 * aborts if the key cannot be made).
 */
const ft_skey *lh_test_key(void);

/* The verifier key string of lh_test_key() (static, NUL-terminated). */
const char *lh_test_vkey(void);

/*
 * Another deterministic Ed25519 key: name, seed 32 bytes of seed_byte
 * (0x42 with "ftlog-test" is lh_test_key). For keys a policy does not
 * know, or for policies with several keys. 0 or -1.
 */
int lh_key(const char *name, uint8_t seed_byte, ft_skey *out);

/*
 * The default policy text, malloc'd, NUL-terminated (caller frees):
 *   {"ftlog_policy":1,<extra,>"keys":[{"key":"<lh_test_vkey()>",
 *    "kinds":["build","release","distribution","revocation"],
 *    "products":["*"]}]}
 * extra (may be NULL or "") is inserted as further top-level members,
 * e.g. "\"max_entry_bytes\":1000". NULL if out of memory.
 */
char *lh_default_policy(const char *extra);

/*
 * Write `text` to s->policy atomically (a temporary file in the same
 * directory, then rename). Call before lh_start, or while the server runs
 * and then send it SIGHUP to reload. 0 or -1.
 */
int lh_write_policy(lh_server *s, const char *text);

/*
 * A signed build event (predicateType FT_PRED_BUILD): one subject
 * {"name":"image-<n>","digest":{"sha256":hex(SHA-256("ftlog test image
 * <n>"))}}, and the SLSA v1 predicate
 *   {"buildDefinition":{"buildType":"https://ftlog.dev/test-build/v1",
 *    "externalParameters":{"n":<n>,"pad":"xxx..."}},
 *    "runDetails":{"builder":{"id":"https://ftlog.dev/test-builder"}}}
 * signed by lh_test_key() (one DSSE signature, keyid ft_event_keyid).
 * Deterministic: the same (n, min_len) always gives the same bytes, and
 * different n give different events (n < 2^53). The envelope is at least
 * min_len bytes (the pad grows) and at most min_len + 3 bytes when min_len
 * is above the size with an empty pad (about 730 bytes), else exactly that
 * size. At most FT_EVENT_MAX_BYTES (65535). *out is malloc'd (caller
 * frees), NUL-terminated (not counted in *len). 0, or -1 (min_len too
 * large, out of memory, libftevent failure: the reason is printed).
 * Thread-safe; signing takes about 20 us.
 */
int lh_event(uint64_t n, size_t min_len, uint8_t **out, size_t *len);

/* As lh_event, signed by `key` instead (a key the policy may not know). */
int lh_event_key(const ft_skey *key, uint64_t n, size_t min_len,
		 uint8_t **out, size_t *len);

/*
 * An event of exactly `len` bytes: the envelope of lh_event(n, ...) with
 * the pad tuned so that the envelope is len bytes; where base64 steps of 4
 * do not allow it, or len is over FT_EVENT_MAX_BYTES, the envelope's JSON
 * gets one further member "x":"xxx..." before its closing brace (DSSE
 * consumers ignore unknown envelope fields; it is not signed). So any len
 * from about 745 bytes up to 64 MiB is possible; an event over 65535 bytes
 * is valid but for its size (for size limits). *out malloc'd, NUL-
 * terminated. 0, or -1 if len is too small or out of memory.
 */
int lh_event_exact(uint64_t n, size_t len, uint8_t **out);

/* ---- A small blocking HTTP/1.1 client. */

typedef struct lh_resp {
	int status;
	char *head;      /* the response head, NUL-terminated */
	uint8_t *body;   /* NUL-terminated (not counted in body_len) */
	size_t body_len;
} lh_resp;

/*
 * One request on a fresh connection to 127.0.0.1:port ("Connection:
 * close"). body may be NULL: then no Content-Length is sent at all; a
 * non-NULL body (even of length 0) is sent with its Content-Length.
 * 0 with *out filled, or -1 (connection failure, timeout of 30 s, or
 * malformed response). *out is zeroed on failure.
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
	int head_req; /* the last request was HEAD: its response has no body */
} lh_conn;

int lh_conn_open(lh_conn *c, int port);
/* Send one request (keep-alive) and read its response. body as in
 * lh_http. Timeout 30 s. */
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

/*
 * POST /add on a keep-alive connection. Returns 0 on a 200 answer whose
 * body parses as a tlog-proof (index in *index); -1 otherwise. *out (if
 * not NULL) receives the response whenever one was read, also on a non-200
 * status, so the caller can look at it; free it with lh_resp_free.
 */
int lh_conn_add(lh_conn *c, const void *entry, size_t len, uint64_t *index,
		lh_resp *out);

/* GET /checkpoint, verified with s->vkey; size/root out. 0 or -1. */
int lh_checkpoint(const lh_server *s, uint64_t *size, uint8_t root[32],
		  lh_resp *raw_out);

/*
 * Open a signed checkpoint with s->vkey and parse it (origin must be
 * s->origin). 0 or a negative FT_E* code.
 */
int lh_open_checkpoint(const lh_server *s, const uint8_t *note, size_t len,
		       uint64_t *size, uint8_t root[32]);

/*
 * Fully check a tlog-proof answer from POST /add: syntax, the extra line
 * equals entry (if entry is not NULL), the checkpoint is signed by s->vkey
 * with the right origin, and the inclusion path leads from the entry's
 * leaf hash to its root. Outputs (any may be NULL): the index, the
 * checkpoint's size and root, and the signed checkpoint inside body.
 * 0 or a negative FT_E* code.
 */
int lh_check_tlog_proof(const lh_server *s, const uint8_t *body, size_t len,
			const void *entry, size_t entry_len, uint64_t *index,
			uint64_t *size, uint8_t root[32],
			const uint8_t **note, size_t *note_len);

/*
 * Parse lines of canonical base64 hashes ("h\n" each; the empty text is
 * zero hashes) into out (room for max). 0 or -1.
 */
int lh_parse_hashes(const uint8_t *p, size_t len, ft_hash *out, size_t max,
		    size_t *n);

/* Lowercase hex of n bytes into out (2n+1 bytes). */
void lh_hex(const uint8_t *in, size_t n, char *out);

#endif
