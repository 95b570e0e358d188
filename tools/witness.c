/*
 * tools/witness.c - `ftlog witness`: a C2SP tlog-witness v1.0.0 server
 * (docs/witness.md).
 *
 *   init   DIR/witness.key (tlog-cosignature v1 signer, 0600),
 *          DIR/witness.pub, and the state database DIR/db/ (LMDB)
 *   serve  POST /add-checkpoint over the libuv server of ftlogd
 *          (logd/server.h), answered synchronously on the loop thread
 *
 * State: one LMDB record per witnessed origin, key = the origin bytes,
 * value = REC_VERSION || uint64_be(size) || root[32] ||
 * uint64_be(cosignature time) || the signed note as received. The check
 * of the request's old size against the record and the write of the new
 * record happen in ONE write transaction, committed (LMDB's default
 * durable sync) before the cosignature is sent: the race of
 * tlog-witness "add-checkpoint" (two requests from the same old size both
 * passing the check, the smaller one rolling the record back) cannot
 * happen, even with several processes on one DIR.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <time.h>
#include <unistd.h>

#include <lmdb.h>
#include <sodium.h>
#include <uv.h>

#include <ftlog/merkle.h>
#include <ftlog/note.h>
#include <ftlog/witness.h>

#include "logd/api.h"
#include "logd/config.h"
#include "logd/fsutil.h"
#include "logd/http.h"
#include "logd/log.h"
#include "logd/server.h"
#include "tools/ftlog.h"

/* ---- Limits and layout. */

#define KEY_FILE "witness.key"
#define PUB_FILE "witness.pub"
#define DB_DIR "db"

#define LOGS_FILE_MAX (1u << 20)  /* logs file: at most 1 MiB */
#define LOGS_MAX 4096             /* verifier keys in it */
#define KEYS_PER_ORIGIN 16        /* keys sharing one origin */
#define MAP_SIZE ((size_t)1 << 30) /* LMDB map: 1 GiB, sparse */

#define REC_VERSION 1
#define REC_HEAD (1 + 8 + FT_HASH_LEN + 8)

#define DEFAULT_MAX_CONNECTIONS 256
#define DEFAULT_TIMEOUT_MS 30000
#define HEADER_TIMEOUT_MS 10000
#define IDLE_TIMEOUT_MS 60000

#define CT_TEXT "text/plain; charset=utf-8"

/* ---- Help. */

#define WITNESS_EXIT_STATUS                                                \
	"EXIT STATUS\n"                                                    \
	"    0  success (serve: stopped by SIGTERM or SIGINT)\n"           \
	"    1  refused: an existing key, an invalid key or logs file\n"   \
	"    2  usage error\n"                                             \
	"    3  file, database or network error\n"

static const char help_witness[] =
	"NAME\n"
	"    ftlog witness - a C2SP tlog-witness: cosign consistent "
	"checkpoints\n"
	"\n"
	"SYNOPSIS\n"
	"    ftlog witness init --dir DIR --name NAME\n"
	"    ftlog witness serve --dir DIR --logs FILE --listen HOST:PORT\n"
	"        [--ready-file FILE] [--max-connections N] [--timeout D]\n"
	"    ftlog witness help [init|serve]\n"
	"\n"
	"DESCRIPTION\n"
	"    A witness keeps, for every log it follows, the latest checkpoint\n"
	"    it cosigned, and cosigns a newer one only with a consistency\n"
	"    proof from it (c2sp.org/tlog-witness v1.0.0). Logs (ftlogd with\n"
	"    \"witnesses = FILE\") submit with POST /add-checkpoint; devices\n"
	"    then demand the witnesses' cosignatures, so a log cannot show\n"
	"    them a view it did not show the witnesses.\n"
	"\n"
	"    init   creates the witness key and state directory\n"
	"    serve  runs the HTTP service\n"
	"\n"
	"    docs/witness.md is the operator's manual.\n"
	"\n" WITNESS_EXIT_STATUS;

static const char help_init[] =
	"NAME\n"
	"    ftlog witness init - create a witness key and state directory\n"
	"\n"
	"SYNOPSIS\n"
	"    ftlog witness init --dir DIR --name NAME\n"
	"\n"
	"DESCRIPTION\n"
	"    Creates DIR (mode 0700) if needed, and in it witness.key, a\n"
	"    tlog-cosignature v1 signer key (\"PRIVATE+KEY+NAME+...\", key\n"
	"    type 0x04, mode 0600), witness.pub, its verifier key (mode\n"
	"    0644), and db/, the LMDB database of cosigned checkpoints.\n"
	"    Prints the verifier key: give it to the operators of the logs\n"
	"    (their witnesses file) and to the devices (their trust policy).\n"
	"    Refuses a DIR that already holds a key or a database: a\n"
	"    witness key is never overwritten.\n"
	"\n"
	"OPTIONS\n"
	"    --dir DIR     the witness directory\n"
	"    --name NAME   the witness name, e.g. witness.example/w1 (no\n"
	"                  spaces, '+' or control characters)\n"
	"\n" WITNESS_EXIT_STATUS
	"\n"
	"EXAMPLES\n"
	"    ftlog witness init --dir /var/lib/ftlog-witness \\\n"
	"        --name witness.example.net/w1\n";

static const char help_serve[] =
	"NAME\n"
	"    ftlog witness serve - run the tlog-witness HTTP service\n"
	"\n"
	"SYNOPSIS\n"
	"    ftlog witness serve --dir DIR --logs FILE --listen HOST:PORT\n"
	"        [--ready-file FILE] [--max-connections N] [--timeout D]\n"
	"\n"
	"DESCRIPTION\n"
	"    Serves POST /add-checkpoint (c2sp.org/tlog-witness v1.0.0) and\n"
	"    GET /healthz. A checkpoint is cosigned only if its origin is in\n"
	"    FILE (else 404), a key of that origin signed it (else 403), the\n"
	"    request's old size is the size last cosigned for that origin, 0\n"
	"    at first (else 409 with that size), and the consistency proof\n"
	"    from it verifies (else 422); a malformed request or an old size\n"
	"    above the checkpoint's is 400. The new state is committed to\n"
	"    disk before the cosignature is sent.\n"
	"\n"
	"    FILE lists the witnessed logs: one note verifier key (Ed25519,\n"
	"    as printed by ftlogd init) per line; blank lines and lines\n"
	"    starting with '#' are ignored. A log's origin is its key's\n"
	"    name; a log may have several keys (one valid signature by any\n"
	"    of them suffices, but a bad one by any of them is refused\n"
	"    with 403). FILE is read once, at start.\n"
	"\n"
	"    One line per request goes to standard error. SIGTERM or SIGINT\n"
	"    stops accepting, finishes the requests in progress and exits 0.\n"
	"    Plain HTTP: put a TLS proxy in front (docs/witness.md).\n"
	"\n"
	"OPTIONS\n"
	"    --dir DIR             the directory made by ftlog witness init\n"
	"    --logs FILE           the witnessed logs' verifier keys\n"
	"    --listen HOST:PORT    numeric address, e.g. 127.0.0.1:7380 or\n"
	"                          [::1]:7380; port 0 picks a free port\n"
	"    --ready-file FILE     write \"HOST:PORT\" to FILE once serving\n"
	"    --max-connections N   open connections (default 256)\n"
	"    --timeout D           time a request may take to arrive, e.g.\n"
	"                          500ms, 10s, 1m (default 30s)\n"
	"\n" WITNESS_EXIT_STATUS
	"\n"
	"EXAMPLES\n"
	"    ftlog witness serve --dir /var/lib/ftlog-witness \\\n"
	"        --logs /etc/ftlog/witnessed-logs --listen 127.0.0.1:7380\n";

/* ---- Small helpers. */

static char *path_join(const char *dir, const char *name)
{
	size_t n = strlen(dir) + strlen(name) + 2;
	char *p = malloc(n);

	if (p == NULL) {
		fatal(EX_IOERR, "out of memory");
	}
	(void)snprintf(p, n, "%s/%s", dir, name);
	return p;
}

/*
 * One line per event on stderr with one write(2):
 * "2026-01-02T03:04:05Z ftlog-witness[pid]: message".
 */
static void wlog(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

static void wlog(const char *fmt, ...)
{
	char line[1024];
	struct tm tm;
	time_t now = time(NULL);
	va_list ap;
	size_t n;
	int k;

	if (gmtime_r(&now, &tm) == NULL) {
		memset(&tm, 0, sizeof tm);
	}
	n = strftime(line, sizeof line, "%Y-%m-%dT%H:%M:%SZ", &tm);
	k = snprintf(line + n, sizeof line - n, " ftlog-witness[%ld]: ",
		     (long)getpid());
	if (k < 0 || (size_t)k >= sizeof line - n) {
		return;
	}
	n += (size_t)k;
	va_start(ap, fmt);
	k = vsnprintf(line + n, sizeof line - n - 1, fmt, ap);
	va_end(ap);
	if (k < 0) {
		return;
	}
	n += (size_t)k < sizeof line - n - 1 ? (size_t)k : sizeof line - n - 2;
	line[n++] = '\n';
	(void)write_all(2, line, n);
}

/* ---- init. */

static int cmd_init(int argc, char **argv)
{
	static const optspec spec[] = {
		{"dir", OPT_ARG}, {"name", OPT_ARG}, {NULL, 0}};
	char skey[FT_KEY_STR_MAX + 2], vkey[FT_KEY_STR_MAX + 2];
	const char *dir, *name;
	char *kpath, *ppath, *dbpath;
	size_t slen = 0, vlen = 0;
	struct stat st;
	MDB_env *env = NULL;
	ft_skey sk;
	ft_vkey vk;
	args a;
	int rc;

	args_parse(&a, "witness init", spec, argc, argv, help_init);
	if (a.npos != 0) {
		usage_error("witness init", "unexpected argument \"%s\"",
			    a.pos[0]);
	}
	dir = arg_need(&a, "dir");
	name = arg_need(&a, "name");
	if (!ft_key_name_valid(name, strlen(name))) {
		usage_error("witness init",
			    "\"%s\" is not a valid key name (no spaces, '+' "
			    "or control characters, at most %d bytes)",
			    name, FT_KEY_NAME_MAX);
	}
	if (mkdir(dir, 0700) != 0) {
		if (errno != EEXIST) {
			fatal(EX_IOERR, "cannot create %s: %s", dir,
			      strerror(errno));
		}
		if (stat(dir, &st) != 0 || !S_ISDIR(st.st_mode)) {
			fatal(EX_IOERR, "%s exists and is not a directory",
			      dir);
		}
	}
	kpath = path_join(dir, KEY_FILE);
	ppath = path_join(dir, PUB_FILE);
	dbpath = path_join(dir, DB_DIR);
	if (lstat(kpath, &st) == 0) {
		fatal(EX_FAIL, "%s already exists; refusing to overwrite a "
			       "witness key",
		      kpath);
	}
	if (lstat(ppath, &st) == 0) {
		fatal(EX_FAIL, "%s already exists; refusing to overwrite it",
		      ppath);
	}
	if (lstat(dbpath, &st) == 0) {
		fatal(EX_FAIL,
		      "%s already exists (the state of another witness "
		      "key); refusing to reuse it",
		      dbpath);
	}

	rc = ft_key_generate(name, strlen(name), FT_KEY_COSIG_V1, &sk);
	if (rc != 0) {
		fatal(EX_IOERR, "cannot generate a key: %s", ft_strerror(rc));
	}
	ft_skey_public(&sk, &vk);
	rc = ft_skey_format(&sk, skey, sizeof skey - 1, &slen);
	ft_skey_wipe(&sk);
	if (rc != 0 ||
	    ft_vkey_format(&vk, vkey, sizeof vkey - 1, &vlen) != 0) {
		sodium_memzero(skey, sizeof skey);
		fatal(EX_IOERR, "cannot format the key");
	}
	skey[slen++] = '\n';
	vkey[vlen++] = '\n';
	if (create_excl(kpath, skey, slen, 0600) != 0) {
		int e = errno;

		sodium_memzero(skey, sizeof skey);
		fatal(e == EEXIST ? EX_FAIL : EX_IOERR, "cannot create %s: %s",
		      kpath, strerror(e));
	}
	sodium_memzero(skey, sizeof skey);
	if (create_excl(ppath, vkey, vlen, 0644) != 0) {
		int e = errno;

		(void)unlink(kpath);
		fatal(e == EEXIST ? EX_FAIL : EX_IOERR, "cannot create %s: %s",
		      ppath, strerror(e));
	}
	/* The database: created empty now, so that serve finds it. */
	if (mkdir(dbpath, 0700) != 0) {
		int e = errno;

		(void)unlink(kpath);
		(void)unlink(ppath);
		fatal(e == EEXIST ? EX_FAIL : EX_IOERR, "cannot create %s: %s",
		      dbpath, strerror(e));
	}
	rc = mdb_env_create(&env);
	if (rc == 0) {
		rc = mdb_env_set_mapsize(env, MAP_SIZE);
	}
	if (rc == 0) {
		rc = mdb_env_open(env, dbpath, 0, 0600);
	}
	if (env != NULL) {
		mdb_env_close(env);
	}
	if (rc != 0) {
		/* Leave nothing half made: init can simply be run again. */
		char *f = path_join(dbpath, "data.mdb");
		char *l = path_join(dbpath, "lock.mdb");

		(void)unlink(f);
		(void)unlink(l);
		(void)rmdir(dbpath);
		(void)unlink(kpath);
		(void)unlink(ppath);
		free(f);
		free(l);
		fatal(EX_IOERR, "cannot create the database in %s: %s", dbpath,
		      mdb_strerror(rc));
	}
	if (ft_fsync_dir(dbpath) != 0 || ft_fsync_dir(dir) != 0) {
		fatal(EX_IOERR, "cannot sync %s: %s", dir, strerror(errno));
	}
	if (fwrite(vkey, 1, vlen, stdout) != vlen || fflush(stdout) != 0) {
		fatal(EX_IOERR, "cannot write to standard output");
	}
	free(kpath);
	free(ppath);
	free(dbpath);
	return EX_OK;
}

/* ---- The witnessed logs. */

typedef struct logs {
	ft_vkey *keys;
	size_t n;
} logs;

/* Keys whose name is (origin, len), up to KEYS_PER_ORIGIN, into out. */
static size_t logs_find(const logs *l, const uint8_t *origin, size_t len,
			ft_vkey *out)
{
	size_t k = 0;

	for (size_t i = 0; i < l->n && k < KEYS_PER_ORIGIN; i++) {
		if (l->keys[i].name_len == len &&
		    memcmp(l->keys[i].name, origin, len) == 0) {
			out[k++] = l->keys[i];
		}
	}
	return k;
}

static void logs_load(const char *path, logs *l)
{
	size_t len = 0, off = 0, lineno = 0;
	uint8_t *buf = read_file(path, LOGS_FILE_MAX, &len, "logs file");

	memset(l, 0, sizeof *l);
	l->keys = calloc(LOGS_MAX, sizeof *l->keys);
	if (l->keys == NULL) {
		fatal(EX_IOERR, "out of memory");
	}
	while (off < len) {
		uint8_t *s = buf + off;
		uint8_t *nl = memchr(s, '\n', len - off);
		size_t n = nl != NULL ? (size_t)(nl - s) : len - off;
		ft_vkey k;
		int rc;

		off += n + (nl != NULL);
		lineno++;
		if (memchr(s, '\r', n) != NULL) {
			fatal(EX_FAIL, "%s:%zu: carriage return (use Unix "
				       "line ends)",
			      path, lineno);
		}
		if (memchr(s, '\0', n) != NULL) {
			fatal(EX_FAIL, "%s:%zu: NUL byte", path, lineno);
		}
		while (n > 0 && (*s == ' ' || *s == '\t')) {
			s++;
			n--;
		}
		while (n > 0 && (s[n - 1] == ' ' || s[n - 1] == '\t')) {
			n--;
		}
		if (n == 0 || s[0] == '#') {
			continue;
		}
		rc = ft_vkey_parse((const char *)s, n, &k);
		if (rc != 0) {
			fatal(EX_FAIL, "%s:%zu: not a note verifier key: %s",
			      path, lineno, ft_strerror(rc));
		}
		if (k.type != FT_KEY_ED25519) {
			fatal(EX_FAIL,
			      "%s:%zu: key type 0x%02x is not a log key "
			      "(Ed25519, type 0x01)",
			      path, lineno, k.type);
		}
		size_t same = 0;
		for (size_t i = 0; i < l->n; i++) {
			const ft_vkey *o = &l->keys[i];

			if (o->name_len != k.name_len ||
			    memcmp(o->name, k.name, k.name_len) != 0) {
				continue;
			}
			if (o->id == k.id) {
				fatal(EX_FAIL,
				      "%s:%zu: key %s+%08" PRIx32
				      " is listed twice",
				      path, lineno, k.name, k.id);
			}
			same++;
		}
		if (same >= KEYS_PER_ORIGIN) {
			fatal(EX_FAIL, "%s:%zu: more than %d keys for origin %s",
			      path, lineno, KEYS_PER_ORIGIN, k.name);
		}
		if (l->n >= LOGS_MAX) {
			fatal(EX_FAIL, "%s:%zu: more than %d keys", path,
			      lineno, LOGS_MAX);
		}
		l->keys[l->n++] = k;
	}
	free(buf);
	if (l->n == 0) {
		fatal(EX_FAIL, "%s: no log keys", path);
	}
}

/* ---- serve: the request handler. */

typedef struct witness {
	uv_loop_t loop;
	uv_signal_t sigterm, sigint;
	ft_server *server;
	int stopping;
	MDB_env *env;
	MDB_dbi dbi;
	ft_skey key;
	logs logs;
} witness;

/* A fresh answer: text/plain, nothing to free yet. */
static void resp_init(ft_resp *r)
{
	memset(r, 0, sizeof *r);
	r->status = 500;
	r->route = FT_ROUTE_OTHER;
	r->content_type = CT_TEXT;
	r->cache_control = "no-store";
}

/* Body = (data, len) copied; 0, or -1 out of memory (then a 500). */
static int resp_body(ft_resp *r, int status, const char *ctype,
		     const void *data, size_t len)
{
	uint8_t *b = malloc(len > 0 ? len : 1);

	if (b == NULL) {
		(void)ft_resp_error(r, 500, "out of memory");
		return -1;
	}
	memcpy(b, data, len);
	ft_resp_free(r);
	r->status = status;
	r->content_type = ctype;
	r->body = b;
	r->body_len = len;
	return 0;
}

/* The 409 answer: the latest cosigned size, text/x.tlog.size. */
static void resp_size(ft_resp *r, uint64_t size)
{
	char b[24];
	int n = snprintf(b, sizeof b, "%" PRIu64 "\n", size);

	(void)resp_body(r, 409, FT_ADDCP_SIZE_CT, b, (size_t)n);
}

/* What one add-checkpoint request was, for its log line. */
typedef struct outcome {
	char origin[80];
	uint64_t old_size;
	uint64_t size;
	uint64_t stored;
	const char *why;
} outcome;

/* An error answer with a one-line reason (also the log line's). */
static void fail(ft_resp *r, outcome *o, int status, const char *reason)
{
	o->why = reason;
	(void)ft_resp_error(r, status, reason);
}

static void rec_decode(const uint8_t *p, uint64_t *size, ft_hash *root)
{
	*size = ((uint64_t)p[1] << 56) | ((uint64_t)p[2] << 48) |
		((uint64_t)p[3] << 40) | ((uint64_t)p[4] << 32) |
		((uint64_t)p[5] << 24) | ((uint64_t)p[6] << 16) |
		((uint64_t)p[7] << 8) | (uint64_t)p[8];
	memcpy(root->b, p + 9, FT_HASH_LEN);
}

static void put_be64(uint8_t *p, uint64_t v)
{
	for (int i = 7; i >= 0; i--) {
		p[i] = (uint8_t)v;
		v >>= 8;
	}
}

/*
 * The whole tlog-witness "add-checkpoint" procedure. Checks that need no
 * state first (400, 404, 403, 400), then, inside one write transaction,
 * those against the record (409, 422, 409), the new record and the
 * cosignature; commit; answer.
 */
static void add_checkpoint(witness *w, const ft_http_req *req, ft_resp *r,
			   outcome *o)
{
	ft_vkey keys[KEYS_PER_ORIGIN];
	char line[FT_NOTE_SIG_LINE_MAX + 1];
	ft_addcp ac;
	ft_checkpoint cp;
	const uint8_t *nl;
	size_t nkeys, tlen = 0, line_len = 0;
	uint64_t stored_size = 0, now;
	ft_hash stored_root;
	MDB_txn *txn = NULL;
	MDB_val k, v;
	int rc;

	rc = ft_addcp_parse(req->body, req->body_len, &ac);
	if (rc == FT_ETOOBIG) {
		fail(r, o, 413, "request body too large");
		return;
	}
	if (rc != 0) {
		fail(r, o, 400,
		     "malformed request: want \"old N\", proof lines, an "
		     "empty line, a checkpoint");
		return;
	}
	o->old_size = ac.old_size;
	nl = memchr(ac.note, '\n', ac.note_len);
	if (nl == NULL || nl == ac.note) {
		fail(r, o, 400, "malformed checkpoint: no origin line");
		return;
	}
	(void)ft_log_sanitize(o->origin, sizeof o->origin, ac.note,
			      (size_t)(nl - ac.note));
	/* "If the checkpoint origin is unknown, ... 404 Not Found". */
	nkeys = logs_find(&w->logs, ac.note, (size_t)(nl - ac.note), keys);
	if (nkeys == 0) {
		fail(r, o, 404, "unknown log origin");
		return;
	}
	/* "If none of the signatures verify against a trusted public key,
	 * ... 403 Forbidden"; unknown keys are ignored. A bad signature by
	 * a trusted key is refused as well (signed-note: a forgery). */
	rc = ft_note_open(ac.note, ac.note_len, keys, nkeys, NULL, &tlen);
	switch (rc) {
	case FT_OK:
		break;
	case FT_ENOTE_NOKEY:
		fail(r, o, 403, "no signature by a trusted key of this log");
		return;
	case FT_ENOTE_BADSIG:
		fail(r, o, 403, "a signature by a key of this log does not "
				"verify");
		return;
	case FT_ENOTE_FORMAT:
	case FT_ENOTE_TOOMANY:
	case FT_ETOOBIG:
		fail(r, o, 400, "malformed signed note");
		return;
	default:
		fail(r, o, 500, "cannot verify the checkpoint");
		return;
	}
	rc = ft_checkpoint_parse(ac.note, tlen, NULL, 0, &cp);
	if (rc != 0) {
		fail(r, o, 400, "malformed checkpoint");
		return;
	}
	o->size = cp.size;
	/* "The old size MUST be equal to or lower than the checkpoint
	 * size. Otherwise, ... 400 Bad Request". */
	if (ac.old_size > cp.size) {
		fail(r, o, 400, "old size is larger than the checkpoint size");
		return;
	}
	if (tlen > FT_COSIG_TEXT_MAX) {
		fail(r, o, 400, "checkpoint too long to cosign");
		return;
	}

	rc = mdb_txn_begin(w->env, NULL, 0, &txn);
	if (rc != 0) {
		wlog("database: cannot begin a transaction: %s",
		     mdb_strerror(rc));
		fail(r, o, 500, "database error");
		return;
	}
	k.mv_data = (void *)ac.note;
	k.mv_size = (size_t)(nl - ac.note);
	ft_merkle_empty_root(&stored_root);
	rc = mdb_get(txn, w->dbi, &k, &v);
	if (rc == 0) {
		if (v.mv_size < REC_HEAD ||
		    ((const uint8_t *)v.mv_data)[0] != REC_VERSION) {
			wlog("database: corrupt record for %s", o->origin);
			fail(r, o, 500, "database error");
			goto abort;
		}
		rec_decode(v.mv_data, &stored_size, &stored_root);
	} else if (rc != MDB_NOTFOUND) {
		wlog("database: read: %s", mdb_strerror(rc));
		fail(r, o, 500, "database error");
		goto abort;
	}
	o->stored = stored_size;
	/* "The witness MUST check that the old size matches the size of
	 * the latest checkpoint it cosigned ... (or zero ...). If it
	 * doesn't match, ... 409 Conflict", body the size. */
	if (ac.old_size != stored_size) {
		o->why = "old size is not the latest cosigned size";
		resp_size(r, stored_size);
		goto abort;
	}
	/* "The proof MUST be empty if the old size is zero"; a proof
	 * between equal sizes is empty too (RFC 9162 2.1.4.1). */
	if (ac.old_size == 0 && ac.nproof > 0) {
		fail(r, o, 422, "the proof must be empty for old size 0");
		goto abort;
	}
	if (ac.old_size == cp.size) {
		if (ac.nproof > 0) {
			fail(r, o, 422, "the proof must be empty for equal "
					"sizes");
			goto abort;
		}
		/* "If the old size matches the checkpoint size, the witness
		 * MUST check that the root hashes are also identical. If
		 * they don't match, ... 409 Conflict." */
		if (!ft_hash_equal(&stored_root, &cp.root)) {
			o->why = "same size, different root hash (split view?)";
			resp_size(r, stored_size);
			goto abort;
		}
	} else if (ac.old_size > 0) {
		rc = ft_proof_verify_consistency(
			ac.old_size, cp.size, stored_root.b, FT_HASH_LEN,
			cp.root.b, FT_HASH_LEN, (const uint8_t *)ac.proof,
			ac.nproof * FT_HASH_LEN);
		if (rc != 0) {
			fail(r, o, 422, "the consistency proof does not verify");
			goto abort;
		}
	}

	/* All checks passed: cosign, then store, commit, answer. */
	now = (uint64_t)time(NULL);
	rc = ft_note_sig_line(&w->key, ac.note, tlen, now, line, sizeof line,
			      &line_len);
	if (rc != 0) {
		wlog("cannot cosign: %s", ft_strerror(rc));
		fail(r, o, 500, "cannot cosign");
		goto abort;
	}
	v.mv_size = REC_HEAD + ac.note_len;
	v.mv_data = NULL;
	rc = mdb_put(txn, w->dbi, &k, &v, MDB_RESERVE);
	if (rc == 0) {
		uint8_t *p = v.mv_data;

		p[0] = REC_VERSION;
		put_be64(p + 1, cp.size);
		memcpy(p + 9, cp.root.b, FT_HASH_LEN);
		put_be64(p + 9 + FT_HASH_LEN, now);
		memcpy(p + REC_HEAD, ac.note, ac.note_len);
		rc = mdb_txn_commit(txn);
		txn = NULL;
	}
	if (rc != 0) {
		wlog("database: cannot store the checkpoint of %s: %s",
		     o->origin, mdb_strerror(rc));
		fail(r, o, 500, rc == MDB_MAP_FULL
				       ? "witness database is full"
				       : "cannot store the checkpoint");
		goto abort;
	}
	o->stored = cp.size;
	o->why = "cosigned";
	if (resp_body(r, 200, CT_TEXT, line, line_len) != 0) {
		o->why = "out of memory";
	}
	return;
abort:
	if (txn != NULL) {
		mdb_txn_abort(txn);
	}
}

static int handle(void *ctx, const ft_http_req *req, ft_resp *resp,
		  ft_api_done_fn done, void *conn_ctx, void **pending)
{
	static const char ok[] = "ok\n";
	witness *w = ctx;
	outcome o;

	(void)done;
	(void)conn_ctx;
	*pending = NULL;
	resp_init(resp);
	if (strcmp(req->path, "/add-checkpoint") == 0) {
		if (req->method != FT_HTTP_POST) {
			(void)ft_resp_error(resp, 405, "use POST");
			(void)snprintf(resp->extra_header,
				       sizeof resp->extra_header,
				       "Allow: POST");
			return 0;
		}
		memset(&o, 0, sizeof o);
		(void)snprintf(o.origin, sizeof o.origin, "-");
		add_checkpoint(w, req, resp, &o);
		wlog("add-checkpoint origin=\"%s\" old=%" PRIu64
		     " size=%" PRIu64 " latest=%" PRIu64 " status=%d: %s",
		     o.origin, o.old_size, o.size, o.stored, resp->status,
		     o.why != NULL ? o.why : "-");
		return 0;
	}
	if (strcmp(req->path, "/healthz") == 0) {
		if (req->method != FT_HTTP_GET && req->method != FT_HTTP_HEAD) {
			(void)ft_resp_error(resp, 405, "use GET");
			(void)snprintf(resp->extra_header,
				       sizeof resp->extra_header,
				       "Allow: GET, HEAD");
			return 0;
		}
		resp->route = FT_ROUTE_HEALTHZ;
		(void)resp_body(resp, 200, CT_TEXT, ok, sizeof ok - 1);
		return 0;
	}
	(void)ft_resp_error(resp, 404, "not found");
	return 0;
}

static void cancel(void *ctx, void *pending)
{
	/* Nothing is ever deferred. */
	(void)ctx;
	(void)pending;
}

/* ---- serve: the loop. */

static void on_server_down(void *arg)
{
	witness *w = arg;

	uv_close((uv_handle_t *)&w->sigterm, NULL);
	uv_close((uv_handle_t *)&w->sigint, NULL);
}

static void on_signal(uv_signal_t *h, int signum)
{
	witness *w = h->data;

	if (w->stopping) {
		return;
	}
	w->stopping = 1;
	wlog("signal %d: shutting down", signum);
	ft_server_stop_accepting(w->server);
	ft_server_shutdown(w->server, on_server_down, w);
}

static void open_db(witness *w, const char *dir)
{
	char *dbpath = path_join(dir, DB_DIR);
	struct stat st;
	MDB_txn *txn = NULL;
	int dead = 0;
	int rc;

	if (stat(dbpath, &st) != 0 || !S_ISDIR(st.st_mode)) {
		fatal(EX_IOERR, "%s: no database (run ftlog witness init)",
		      dbpath);
	}
	rc = mdb_env_create(&w->env);
	if (rc == 0) {
		rc = mdb_env_set_mapsize(w->env, MAP_SIZE);
	}
	if (rc == 0) {
		rc = mdb_env_open(w->env, dbpath, 0, 0600);
	}
	if (rc == 0) {
		rc = mdb_reader_check(w->env, &dead);
	}
	if (rc == 0) {
		rc = mdb_txn_begin(w->env, NULL, 0, &txn);
	}
	if (rc == 0) {
		rc = mdb_dbi_open(txn, NULL, 0, &w->dbi);
	}
	if (rc == 0) {
		rc = mdb_txn_commit(txn);
		txn = NULL;
	}
	if (rc != 0) {
		if (txn != NULL) {
			mdb_txn_abort(txn);
		}
		fatal(EX_IOERR, "cannot open the database %s: %s", dbpath,
		      mdb_strerror(rc));
	}
	free(dbpath);
}

/* Log the state of every witnessed origin at start. */
static void log_state(witness *w)
{
	MDB_txn *txn = NULL;

	if (mdb_txn_begin(w->env, NULL, MDB_RDONLY, &txn) != 0) {
		return;
	}
	for (size_t i = 0; i < w->logs.n; i++) {
		const ft_vkey *k = &w->logs.keys[i];
		MDB_val key = {k->name_len, (void *)k->name};
		MDB_val v;
		uint64_t size = 0;
		ft_hash root;

		size_t j = 0;

		while (j < i && (w->logs.keys[j].name_len != k->name_len ||
				 memcmp(w->logs.keys[j].name, k->name,
					k->name_len) != 0)) {
			j++;
		}
		if (j < i) {
			continue; /* origin already shown */
		}
		if (mdb_get(txn, w->dbi, &key, &v) == 0 &&
		    v.mv_size >= REC_HEAD) {
			rec_decode(v.mv_data, &size, &root);
		}
		wlog("witnessing \"%s\": latest cosigned size %" PRIu64,
		     k->name, size);
	}
	mdb_txn_abort(txn);
}

static uint64_t parse_count(const char *opt, const char *s, uint64_t max)
{
	uint64_t v = 0;

	if (s == NULL) {
		return 0;
	}
	if (ft_parse_u63(s, strlen(s), &v) != 0 || v == 0 || v > max) {
		usage_error("witness serve",
			    "--%s: want a number from 1 to %" PRIu64, opt,
			    max);
	}
	return v;
}

static int cmd_serve(int argc, char **argv)
{
	static const optspec spec[] = {
		{"dir", OPT_ARG},	     {"logs", OPT_ARG},
		{"listen", OPT_ARG},	     {"ready-file", OPT_ARG},
		{"max-connections", OPT_ARG}, {"timeout", OPT_ARG},
		{NULL, 0}};
	static witness w; /* handles must outlive every callback */
	const char *dir, *logs_path, *listen_s, *ready, *s;
	char host[256], err[256], *kpath;
	uint64_t timeout_ms = DEFAULT_TIMEOUT_MS;
	uint64_t maxc = DEFAULT_MAX_CONNECTIONS;
	ft_logd_config lc;
	ft_server_opts sv;
	ft_handler h;
	int port, rc;
	args a;

	args_parse(&a, "witness serve", spec, argc, argv, help_serve);
	if (a.npos != 0) {
		usage_error("witness serve", "unexpected argument \"%s\"",
			    a.pos[0]);
	}
	dir = arg_need(&a, "dir");
	logs_path = arg_need(&a, "logs");
	listen_s = arg_need(&a, "listen");
	ready = arg_get(&a, "ready-file");
	s = arg_get(&a, "max-connections");
	if (s != NULL) {
		maxc = parse_count("max-connections", s, 1u << 20);
	}
	s = arg_get(&a, "timeout");
	if (s != NULL && (ft_config_parse_duration_ms(s, &timeout_ms) != 0 ||
			  timeout_ms == 0 || timeout_ms > 3600000)) {
		usage_error("witness serve",
			    "--timeout: want a duration like 500ms, 10s or 1m "
			    "(at most 60m)");
	}
	memset(&lc, 0, sizeof lc);
	lc.listen = (char *)listen_s;
	if (ft_config_listen(&lc, host, sizeof host, &port, err,
			     sizeof err) != 0) {
		usage_error("witness serve", "--listen: %s", err);
	}

	(void)signal(SIGPIPE, SIG_IGN);
	memset(&w, 0, sizeof w);
	kpath = path_join(dir, KEY_FILE);
	load_skey(kpath, FT_KEY_COSIG_V1, &w.key);
	free(kpath);
	logs_load(logs_path, &w.logs);
	open_db(&w, dir);

	if (uv_loop_init(&w.loop) != 0) {
		fatal(EX_IOERR, "cannot create the event loop");
	}
	memset(&sv, 0, sizeof sv);
	sv.host = host;
	sv.port = port;
	sv.max_connections = maxc;
	sv.header_timeout_ms =
		timeout_ms < HEADER_TIMEOUT_MS ? timeout_ms : HEADER_TIMEOUT_MS;
	sv.request_timeout_ms = timeout_ms;
	sv.idle_timeout_ms = IDLE_TIMEOUT_MS;
	sv.write_timeout_ms = timeout_ms;
	ft_http_limits_default(&sv.limits);
	sv.limits.max_body_bytes = FT_ADDCP_BODY_MAX;
	h.handle = handle;
	h.cancel = cancel;
	h.ctx = &w;
	rc = ft_server_start_with(&w.loop, &sv, &h, NULL, &w.server);
	if (rc != 0) {
		(void)uv_run(&w.loop, UV_RUN_DEFAULT);
		fatal(EX_IOERR, "cannot listen on %s", listen_s);
	}
	if (uv_signal_init(&w.loop, &w.sigterm) != 0 ||
	    uv_signal_init(&w.loop, &w.sigint) != 0) {
		fatal(EX_IOERR, "cannot set up signal handling");
	}
	w.sigterm.data = &w;
	w.sigint.data = &w;
	if (uv_signal_start(&w.sigterm, on_signal, SIGTERM) != 0 ||
	    uv_signal_start(&w.sigint, on_signal, SIGINT) != 0) {
		fatal(EX_IOERR, "cannot set up signal handling");
	}
	log_state(&w);
	wlog("witness \"%s\" serving %zu log key(s) on %s:%d", w.key.name,
	     w.logs.n, host, ft_server_port(w.server));
	if (ready != NULL) {
		char line[300];
		int n = snprintf(line, sizeof line,
				 strchr(host, ':') != NULL ? "[%s]:%d\n"
							   : "%s:%d\n",
				 host, ft_server_port(w.server));

		if (n < 0 || (size_t)n >= sizeof line) {
			fatal(EX_IOERR, "address too long");
		}
		write_file_atomic(ready, line, (size_t)n, 0644);
	}

	(void)uv_run(&w.loop, UV_RUN_DEFAULT);

	ft_server_free(w.server);
	(void)uv_run(&w.loop, UV_RUN_DEFAULT); /* let closed handles go */
	if (uv_loop_close(&w.loop) != 0) {
		wlog("event loop still had open handles");
	}
	mdb_env_close(w.env);
	ft_skey_wipe(&w.key);
	free(w.logs.keys);
	wlog("stopped");
	return EX_OK;
}

/* ---- Dispatch. */

int cmd_witness(int argc, char **argv)
{
	const char *sub;

	if (argc < 1) {
		fputs(help_witness, stderr);
		return EX_USAGE;
	}
	sub = argv[0];
	if (strcmp(sub, "--help") == 0 || strcmp(sub, "-h") == 0) {
		fputs(help_witness, stdout);
		return EX_OK;
	}
	if (strcmp(sub, "help") == 0) {
		if (argc < 2) {
			fputs(help_witness, stdout);
		} else if (argc > 2) {
			usage_error("witness help", "give one subcommand");
		} else if (strcmp(argv[1], "init") == 0) {
			fputs(help_init, stdout);
		} else if (strcmp(argv[1], "serve") == 0) {
			fputs(help_serve, stdout);
		} else {
			usage_error("witness help", "no help for \"%s\"",
				    argv[1]);
		}
		return EX_OK;
	}
	if (ft_init() != 0) {
		fatal(EX_IOERR, "cannot initialise libsodium");
	}
	if (strcmp(sub, "init") == 0) {
		return cmd_init(argc - 1, argv + 1);
	}
	if (strcmp(sub, "serve") == 0) {
		return cmd_serve(argc - 1, argv + 1);
	}
	usage_error("witness", "unknown subcommand \"%s\" (init or serve)",
		    sub);
}
