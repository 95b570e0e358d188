/*
 * tools/audit.c - ftlog audit and ftlog monitor (DESIGN.md section 6,
 * docs/audit.md): follow a log from its C2SP read API alone (checkpoint,
 * hash tiles, entry bundles), so that it works against ftlogd, nginx
 * serving the static export, or a CDN.
 *
 * A pass: fetch and open the checkpoint (log key, witness quorum), compare
 * it with the last verified one kept in the state directory, download the
 * entry bundles from the stored size on, hash every entry, extend the
 * stored compact tree and require the signed root; compare every new hash
 * tile with the recomputed one; verify a consistency proof built from the
 * fetched tiles as a light client would; check every new entry against
 * the rules (docs/audit.md) and report findings. The state (LMDB) changes
 * in one write transaction, committed only when the pass succeeded.
 *
 * Bundles are fetched and parsed by a few worker threads (one HTTP request
 * each, a bounded window ahead of the main thread); the tree, the tiles,
 * the rules and the state are the main thread's.
 */
#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>
#include <lmdb.h>

#include <ftlog/event.h>
#include <ftlog/merkle.h>
#include <ftlog/note.h>
#include <ftlog/tile.h>

#include "client/httpc.h"
#include "logd/config.h"
#include "logd/policy.h"
#include "tools/ftlog.h"

/* Help texts; "ftlog help audit|monitor" needs them in tools/ftlog.c. */

#define BUNDLE_MAX ((size_t)FT_TILE_WIDTH * (2 + FT_ENTRY_MAX))
#define MAX_WITNESSES 63
#define MAX_WATCH ARGS_MAX_VALS
#define JOBS_MAX 32
#define WINDOW_PER_JOB 4
#define STATE_MAP_SIZE ((size_t)1 << 32) /* 4 GiB, sparse */
#define REASON_MAX 512

/* Outcome of a pass, in order of precedence. */
enum {
	PASS_OK = 0,
	/* (not 1: st_get's "absent") */
	PASS_IO = 11,     /* unreachable, HTTP error, state I/O: EX_IOERR */
	PASS_QUORUM = 12, /* checkpoint lacks the witness quorum: EX_FAIL */
	PASS_ALARM = 13,  /* the log contradicts itself: EX_ALARM */
	PASS_STOP = 14    /* interrupted by a signal (monitor) */
};

#define COMMON_OPTIONS_TEXT                                                \
	"    --log URL          the log's read API, http://host[:port][/path]\n" \
	"                       (ftlogd, or any web server or CDN serving its\n" \
	"                       --tiles-dir export)\n"                       \
	"    --log-key KEY      the log's verifier key (string or .pub file);\n" \
	"                       its name is the log's origin\n"              \
	"    --state DIR        the auditor's state (LMDB, created 0700);\n"  \
	"                       refused if made for another log or key\n"   \
	"    --witness-key KEY  a witness's cosignature (type 0x04) verifier\n" \
	"                       key; repeatable\n"                           \
	"    --quorum K         cosignatures required (default: all witness\n" \
	"                       keys given)\n"                               \
	"    --policy FILE      ftlogd's submission policy (docs/policy.md):\n" \
	"                       every new entry must pass it (signatures,\n"  \
	"                       kinds, products, release thresholds)\n"     \
	"    --timeout DUR      per HTTP request (default 30s; e.g. 500ms)\n" \
	"    --jobs N           parallel bundle downloads and checks\n"     \
	"                       (default: 2 per CPU, 2..32)\n"

const char help_audit[] =
	"NAME\n"
	"    ftlog audit - verify a log from its tiles and check every entry\n"
	"\n"
	"SYNOPSIS\n"
	"    ftlog audit --log URL --log-key KEY --state DIR [--witness-key\n"
	"        KEY]... [--quorum K] [--policy FILE] [--json] [--timeout DUR]\n"
	"        [--jobs N]\n"
	"\n"
	"DESCRIPTION\n"
	"    One audit pass over the C2SP read API only (GET /checkpoint,\n"
	"    /tile/L/N and /tile/entries/N): opens the checkpoint with KEY\n"
	"    (and the witness keys, --quorum of which must have cosigned),\n"
	"    compares it with the checkpoint verified last (kept in DIR),\n"
	"    downloads every entry bundle from there on, recomputes the tree\n"
	"    and requires the signed root, compares every new hash tile with\n"
	"    the recomputed one, verifies a consistency proof from the old\n"
	"    checkpoint built from the served tiles, and checks every new\n"
	"    entry against the rules:\n"
	"        malformed-entry            not a valid firmware event\n"
	"        policy                     refused by --policy (with the\n"
	"                                   policy's \"<rule>: detail\")\n"
	"        release-without-build      a release of an image with no\n"
	"                                   earlier build event\n"
	"        security-version-decrease  a release of a product below the\n"
	"                                   highest earlier security_version\n"
	"        after-revocation           an event signed by a key revoked\n"
	"                                   earlier, or a release or\n"
	"                                   distribution of an image revoked\n"
	"                                   earlier\n"
	"    Each finding is reported once, in the pass that audits its entry:\n"
	"        finding RULE index=I: DETAIL\n"
	"    then a summary\n"
	"        audited ORIGIN M -> N: E entries, F findings, root ok\n"
	"    on standard output. An alarm (the log contradicts itself or what\n"
	"    was audited before: rollback, split view, a bundle or tile that\n"
	"    does not match the signed root, a failed consistency proof, a bad\n"
	"    checkpoint signature) prints \"alarm: REASON\" on standard error.\n"
	"    The state is updated in one transaction at the end of a pass that\n"
	"    succeeded (findings included); a failed pass changes nothing, and\n"
	"    the next one resumes from the last verified checkpoint.\n"
	"\n"
	"OPTIONS\n" COMMON_OPTIONS_TEXT
	"    --json             JSON lines on standard output instead:\n"
	"                       {\"type\":\"finding\",\"rule\":..,\"index\":..,\n"
	"                       \"detail\":..}, {\"type\":\"alarm\",\"reason\":..},\n"
	"                       {\"type\":\"error\",\"reason\":..},\n"
	"                       {\"type\":\"summary\",...}\n"
	"\n"
	"EXIT STATUS\n"
	"    0  the log is consistent and no entry broke a rule\n"
	"    1  findings, or the checkpoint lacks the witness quorum\n"
	"    2  usage error, or DIR belongs to another log\n"
	"    3  network, HTTP (e.g. a missing tile) or state error\n"
	"    4  alarm: the log is inconsistent (nothing is stored)\n"
	"\n"
	"EXAMPLES\n"
	"    ftlog audit --log http://tiles.example.com --log-key log.pub \\\n"
	"        --state /var/lib/ftlog-audit --policy policy.json\n";

const char help_monitor[] =
	"NAME\n"
	"    ftlog monitor - audit a log continuously and print alerts\n"
	"\n"
	"SYNOPSIS\n"
	"    ftlog monitor --log URL --log-key KEY --state DIR [--interval DUR]\n"
	"        [--watch-key KEYID]... [--watch-product P]...\n"
	"        [--watch-digest HEX]... [--once] [AUDIT OPTIONS]\n"
	"\n"
	"DESCRIPTION\n"
	"    Runs an audit pass (see ftlog help audit) every DUR and prints\n"
	"    one JSON object per line on standard output:\n"
	"      {\"alert\":\"checkpoint\",\"size\":N,\"root\":B64}   a newly\n"
	"            verified tree size\n"
	"      {\"alert\":\"watched-key\"|\"watched-product\"|\"watched-digest\",\n"
	"       \"index\":I,\"kind\":K,\"product\":P,\"version\":V,\"digest\":D,\n"
	"       \"keyids\":[...]}   a new entry signed by a watched key (or\n"
	"            revoking it), for a watched product, or about a watched\n"
	"            image; product and version are null when absent, digest\n"
	"            is the watched one or the first subject\n"
	"      {\"alert\":\"finding\",\"rule\":R,\"index\":I,\"detail\":D}\n"
	"      {\"alert\":\"unreachable\",\"reason\":R}   a pass failed on I/O;\n"
	"            the monitor keeps going\n"
	"      {\"alert\":\"unverified\",\"reason\":R}    witness quorum not met;\n"
	"            the monitor keeps going\n"
	"      {\"alert\":\"inconsistency\",\"reason\":R}  the log contradicts\n"
	"            itself or what was audited before (split view, rollback,\n"
	"            tampered tile or bundle): the monitor exits 4\n"
	"    Alerts of a pass are printed once its state is committed, so an\n"
	"    alert is never repeated. SIGINT or SIGTERM ends the monitor\n"
	"    (exit 0; an interrupted pass is not stored).\n"
	"\n"
	"OPTIONS\n"
	"    --interval DUR     time between passes (default 60s)\n"
	"    --watch-key KEYID  a DSSE keyid \"NAME+HEX8\" (as ftlog keygen's\n"
	"                       keys sign); repeatable\n"
	"    --watch-product P  repeatable\n"
	"    --watch-digest HEX an image SHA-256 (64 hex digits); repeatable\n"
	"    --once             one pass, then exit with the audit's status\n"
	COMMON_OPTIONS_TEXT
	"\n"
	"EXIT STATUS\n"
	"    0  stopped by a signal (or --once: consistent, no finding)\n"
	"    1  --once: findings or no witness quorum\n"
	"    2  usage error, or DIR belongs to another log\n"
	"    3  --once: network, HTTP or state error; always: state error\n"
	"    4  inconsistency\n"
	"\n"
	"EXAMPLES\n"
	"    ftlog monitor --log http://tiles.example.com --log-key log.pub \\\n"
	"        --state /var/lib/ftlog-monitor --interval 5m \\\n"
	"        --watch-product gnb-du --watch-key acme-release-1+1a2b3c4d\n";

/* ---- Configuration. */

typedef struct auditor {
	const char *cmd;
	const char *url;
	const char *state_dir;
	ft_vkey keys[1 + MAX_WITNESSES]; /* [0] log key, then witnesses */
	size_t nwit;
	size_t quorum;
	ft_policy *policy;
	int json;
	int monitor;
	int timeout_ms;
	unsigned jobs;
	const char *const *watch_key;
	size_t nwatch_key;
	const char *const *watch_product;
	size_t nwatch_product;
	uint8_t watch_digest[MAX_WATCH][32];
	size_t nwatch_digest;
	MDB_env *env;
	MDB_dbi dbi;
	char logkey_str[FT_KEY_STR_MAX];
} auditor;

static volatile sig_atomic_t g_stop;

static void on_signal(int sig)
{
	(void)sig;
	g_stop = 1;
}

/* Replace bytes outside printable ASCII with '?': details come from the
 * log and end up in terminals and JSON. */
static void sanitize(char *s)
{
	for (; *s != '\0'; s++) {
		if ((unsigned char)*s < 0x20 || (unsigned char)*s >= 0x7f) {
			*s = '?';
		}
	}
}

static void set_reason(char *out, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

static void set_reason(char *out, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	(void)vsnprintf(out, REASON_MAX, fmt, ap);
	va_end(ap);
	sanitize(out);
}

/* ---- Output lines, buffered during a pass and printed after commit. */

typedef struct outbuf {
	char **line;
	size_t n, cap;
	uint64_t findings;
	int oom;
} outbuf;

static void out_add(outbuf *o, char *line)
{
	if (line == NULL) {
		o->oom = 1;
		return;
	}
	if (o->n == o->cap) {
		size_t nc = o->cap ? o->cap * 2 : 64;
		char **nl = realloc(o->line, nc * sizeof *nl);
		if (nl == NULL) {
			free(line);
			o->oom = 1;
			return;
		}
		o->line = nl;
		o->cap = nc;
	}
	o->line[o->n++] = line;
}

static void out_free(outbuf *o)
{
	for (size_t i = 0; i < o->n; i++) {
		free(o->line[i]);
	}
	free(o->line);
	memset(o, 0, sizeof *o);
}

/* json_dumps of a compact object, taking ownership of obj. */
static char *json_line(json_t *obj)
{
	char *s;

	if (obj == NULL) {
		return NULL;
	}
	s = json_dumps(obj, JSON_COMPACT | JSON_PRESERVE_ORDER);
	json_decref(obj);
	return s;
}

static char *strf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

static char *strf(const char *fmt, ...)
{
	va_list ap;
	char *s = NULL;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(NULL, 0, fmt, ap);
	va_end(ap);
	if (n < 0 || (s = malloc((size_t)n + 1)) == NULL) {
		return NULL;
	}
	va_start(ap, fmt);
	(void)vsnprintf(s, (size_t)n + 1, fmt, ap);
	va_end(ap);
	return s;
}

static void finding(const auditor *a, outbuf *o, const char *rule,
		    uint64_t index, const char *fmt, ...)
	__attribute__((format(printf, 5, 6)));

static void finding(const auditor *a, outbuf *o, const char *rule,
		    uint64_t index, const char *fmt, ...)
{
	char detail[REASON_MAX];
	va_list ap;

	va_start(ap, fmt);
	(void)vsnprintf(detail, sizeof detail, fmt, ap);
	va_end(ap);
	sanitize(detail);
	o->findings++;
	if (a->monitor || a->json) {
		out_add(o, json_line(json_pack(
			"{s:s,s:s,s:I,s:s}", a->monitor ? "alert" : "type",
			"finding", "rule", rule, "index", (json_int_t)index,
			"detail", detail)));
	} else {
		out_add(o, strf("finding %s index=%" PRIu64 ": %s", rule,
				index, detail));
	}
}

/* A pass-level message: alarm, error, unreachable (not buffered). */
static void report(const auditor *a, int what, const char *reason)
{
	if (a->monitor) {
		const char *kind = what == PASS_ALARM ? "inconsistency"
				   : what == PASS_QUORUM ? "unverified"
							 : "unreachable";
		char *s = json_line(json_pack("{s:s,s:s}", "alert", kind,
					      "reason", reason));
		if (s != NULL) {
			puts(s);
			free(s);
		}
		(void)fflush(stdout);
		return;
	}
	if (a->json) {
		char *s = json_line(json_pack(
			"{s:s,s:s}", "type",
			what == PASS_ALARM ? "alarm" : "error", "reason",
			reason));
		if (s != NULL) {
			puts(s);
			free(s);
		}
		(void)fflush(stdout);
		return;
	}
	if (what == PASS_ALARM) {
		fprintf(stderr, "alarm: %s\n", reason);
	} else {
		fprintf(stderr, "ftlog %s: %s\n", a->cmd, reason);
	}
}

/* ---- HTTP. */

/* GET path (200 required, body at most max). 0, or PASS_IO with reason. */
static int http_get(const auditor *a, const char *path, size_t max,
		    ft_httpc_resp *r, char *reason)
{
	ft_httpc_req req;
	char err[256];
	int rc;

	memset(&req, 0, sizeof req);
	req.url = a->url;
	req.method = "GET";
	req.path = path;
	req.max_body = max;
	req.timeout_ms = a->timeout_ms;
	rc = ft_httpc_do(&req, r, err, sizeof err);
	if (rc != 0) {
		set_reason(reason, "GET %s: %s", path, err);
		return PASS_IO;
	}
	if (r->status != 200) {
		char line[128];
		ft_httpc_body_line(r, line, sizeof line);
		set_reason(reason, "GET %s: HTTP %d %s", path, r->status,
			   line);
		ft_httpc_resp_free(r);
		return PASS_IO;
	}
	return 0;
}

static int tile_url(const ft_tile *t, char *out, size_t cap)
{
	size_t n;

	if (cap < 2 || ft_tile_path(t, out + 1, cap - 1, &n) != 0) {
		return -1;
	}
	out[0] = '/';
	return 0;
}

/* Fetch hash tile t: exactly t->width hashes. A wrong length is the
 * log's fault (reported as *bad with a reason), not I/O. */
static int fetch_hash_tile(const auditor *a, const ft_tile *t, uint8_t *buf,
			   int *bad, char *reason)
{
	char path[FT_TILE_PATH_MAX + 1];
	ft_httpc_resp r;
	int rc;

	*bad = 0;
	if (tile_url(t, path, sizeof path) != 0) {
		set_reason(reason, "tile path overflow");
		return PASS_IO;
	}
	rc = http_get(a, path, FT_TILE_BYTES, &r, reason);
	if (rc != 0) {
		return rc;
	}
	if (r.body_len != (size_t)t->width * FT_HASH_LEN) {
		*bad = 1;
		set_reason(reason, "%s: %zu bytes, want %u", path, r.body_len,
			   t->width * FT_HASH_LEN);
	} else {
		memcpy(buf, r.body, r.body_len);
	}
	ft_httpc_resp_free(&r);
	return 0;
}

/* ---- State (LMDB). Keys: "m:..." metadata, "b" build digests, "p"
 * products, "k" revoked keyids, "i" revoked images (docs/audit.md). */

static void put_be64(uint8_t *p, uint64_t v)
{
	for (int i = 7; i >= 0; i--) {
		p[i] = (uint8_t)v;
		v >>= 8;
	}
}

static uint64_t get_be64(const uint8_t *p)
{
	uint64_t v = 0;

	for (int i = 0; i < 8; i++) {
		v = (v << 8) | p[i];
	}
	return v;
}

/* 0 found, 1 absent, PASS_IO on error. */
static int st_get(const auditor *a, MDB_txn *txn, const void *k, size_t klen,
		  MDB_val *v, char *reason)
{
	MDB_val key = { klen, (void *)k };
	int rc = mdb_get(txn, a->dbi, &key, v);

	if (rc == MDB_NOTFOUND) {
		return 1;
	}
	if (rc != 0) {
		set_reason(reason, "state %s: %s", a->state_dir,
			   mdb_strerror(rc));
		return PASS_IO;
	}
	return 0;
}

static int st_put(const auditor *a, MDB_txn *txn, const void *k, size_t klen,
		  const void *v, size_t vlen, char *reason)
{
	MDB_val key = { klen, (void *)k }, val = { vlen, (void *)v };
	int rc = mdb_put(txn, a->dbi, &key, &val, 0);

	if (rc != 0) {
		set_reason(reason, "state %s: %s", a->state_dir,
			   mdb_strerror(rc));
		return PASS_IO;
	}
	return 0;
}

static int st_del(const auditor *a, MDB_txn *txn, const void *k, size_t klen,
		  char *reason)
{
	MDB_val key = { klen, (void *)k };
	int rc = mdb_del(txn, a->dbi, &key, NULL);

	if (rc != 0 && rc != MDB_NOTFOUND) {
		set_reason(reason, "state %s: %s", a->state_dir,
			   mdb_strerror(rc));
		return PASS_IO;
	}
	return 0;
}

/* Open (creating) the state and bind it to this log: EX_* or 0. */
static int state_open(auditor *a)
{
	MDB_txn *txn = NULL;
	MDB_val v;
	char reason[REASON_MAX];
	size_t n;
	int rc;

	if (mkdir(a->state_dir, 0700) != 0 && errno != EEXIST) {
		fprintf(stderr, "ftlog %s: cannot create %s: %s\n", a->cmd,
			a->state_dir, strerror(errno));
		return EX_IOERR;
	}
	if ((rc = mdb_env_create(&a->env)) != 0 ||
	    (rc = mdb_env_set_mapsize(a->env, STATE_MAP_SIZE)) != 0 ||
	    (rc = mdb_env_open(a->env, a->state_dir, 0, 0600)) != 0 ||
	    (rc = mdb_txn_begin(a->env, NULL, 0, &txn)) != 0 ||
	    (rc = mdb_dbi_open(txn, NULL, 0, &a->dbi)) != 0) {
		fprintf(stderr, "ftlog %s: state %s: %s\n", a->cmd,
			a->state_dir, mdb_strerror(rc));
		goto io;
	}
	if (ft_vkey_format(&a->keys[0], a->logkey_str, sizeof a->logkey_str,
			   &n) != 0) {
		fprintf(stderr, "ftlog %s: cannot format the log key\n",
			a->cmd);
		goto io;
	}
	rc = st_get(a, txn, "m:logkey", 8, &v, reason);
	if (rc == PASS_IO) {
		fprintf(stderr, "ftlog %s: %s\n", a->cmd, reason);
		goto io;
	}
	if (rc == 0) {
		if (v.mv_size != n || memcmp(v.mv_data, a->logkey_str, n) != 0) {
			fprintf(stderr,
				"ftlog %s: state %s belongs to another log "
				"(key %.*s)\n",
				a->cmd, a->state_dir,
				(int)(v.mv_size < 400 ? v.mv_size : 400),
				(const char *)v.mv_data);
			mdb_txn_abort(txn);
			return EX_USAGE;
		}
		mdb_txn_abort(txn);
		return 0;
	}
	if (st_put(a, txn, "m:logkey", 8, a->logkey_str, n, reason) != 0 ||
	    st_put(a, txn, "m:origin", 8, a->keys[0].name,
		   a->keys[0].name_len, reason) != 0) {
		fprintf(stderr, "ftlog %s: %s\n", a->cmd, reason);
		goto io;
	}
	if ((rc = mdb_txn_commit(txn)) != 0) {
		txn = NULL;
		fprintf(stderr, "ftlog %s: state %s: %s\n", a->cmd,
			a->state_dir, mdb_strerror(rc));
		goto io;
	}
	return 0;
io:
	if (txn != NULL) {
		mdb_txn_abort(txn);
	}
	return EX_IOERR;
}

/* ---- Entries: what the workers learn about each. */

typedef struct einfo {
	char *malformed; /* ft_event_parse's reason, or NULL */
	char *policy;    /* ft_policy_check's reason, or NULL */
	int kind;
	int revoke;
	char *product, *version;
	uint64_t sv;
	size_t nsub;
	uint8_t (*sub)[32];
	size_t nkeyids;
	char **keyids;
	char *revoked_keyid; /* FT_REVOKE_KEY */
} einfo;

static void einfo_free(einfo *e)
{
	free(e->malformed);
	free(e->policy);
	free(e->product);
	free(e->version);
	free(e->sub);
	for (size_t i = 0; i < e->nkeyids; i++) {
		free(e->keyids[i]);
	}
	free(e->keyids);
	free(e->revoked_keyid);
	memset(e, 0, sizeof *e);
}

static char *dupstr(const char *s, int *oom)
{
	char *d;

	if (s == NULL) {
		return NULL;
	}
	d = strdup(s);
	if (d == NULL) {
		*oom = 1;
	}
	return d;
}

/* Parse and check one entry. -1 on out of memory. */
static int examine(const auditor *a, const uint8_t *entry, size_t len,
		   einfo *e)
{
	char reason[REASON_MAX];
	ft_event ev;
	int oom = 0;

	memset(e, 0, sizeof *e);
	memset(&ev, 0, sizeof ev);
	reason[0] = '\0';
	if (ft_event_parse(entry, len, &ev, reason, sizeof reason) != 0) {
		sanitize(reason);
		e->malformed = strdup(reason[0] ? reason : "unparsable");
		ft_event_free(&ev);
		return e->malformed == NULL ? -1 : 0;
	}
	e->kind = ev.kind;
	e->revoke = ev.revoke;
	e->product = dupstr(ev.product, &oom);
	e->version = dupstr(ev.version, &oom);
	e->sv = ev.security_version;
	e->nsub = ev.n_subjects;
	e->sub = malloc(ev.n_subjects * 32);
	e->keyids = calloc(ev.n_sigs, sizeof *e->keyids);
	if (e->sub == NULL || e->keyids == NULL) {
		oom = 1;
	} else {
		for (size_t i = 0; i < ev.n_subjects; i++) {
			memcpy(e->sub[i], ev.subjects[i].sha256, 32);
		}
		for (size_t i = 0; i < ev.n_sigs; i++) {
			e->keyids[i] = dupstr(ev.sigs[i].keyid, &oom);
		}
		e->nkeyids = ev.n_sigs;
	}
	if (ev.kind == FT_EVENT_REVOCATION && ev.revoke == FT_REVOKE_KEY) {
		char kid[FT_EVENT_KEYID_MAX + 1];
		if (ft_event_keyid(&ev.revoked_key, kid, sizeof kid) == 0) {
			e->revoked_keyid = dupstr(kid, &oom);
		}
	}
	ft_event_free(&ev);
	if (!oom && a->policy != NULL) {
		ft_store_meta *meta = NULL;
		reason[0] = '\0';
		if (ft_policy_check(a->policy, entry, len, &meta, reason,
				    sizeof reason) != 0) {
			sanitize(reason);
			e->policy = strdup(reason[0] ? reason : "refused");
			oom = e->policy == NULL;
		}
		free(meta);
	}
	return oom ? -1 : 0;
}

/* ---- Worker pool: bundle b -> leaf hashes, entry info, level-0 tile
 * check. */

typedef struct slot {
	int state; /* 0 free, 1 taken, 2 done */
	uint64_t bundle;
	int rc;    /* 0, PASS_IO, PASS_ALARM */
	char reason[REASON_MAX];
	unsigned width;
	int tile_bad;
	char tile_reason[REASON_MAX];
	ft_hash leaf[FT_TILE_WIDTH];
	einfo info[FT_TILE_WIDTH];
} slot;

typedef struct pool {
	const auditor *a;
	uint64_t old_size, new_size;
	uint64_t first, last; /* bundles [first, last] */
	uint64_t next;        /* next bundle to take */
	uint64_t done;        /* bundles consumed by the main thread */
	size_t window;
	slot *slots;
	int stop;
	pthread_mutex_t mu;
	pthread_cond_t cv_work, cv_done;
} pool;

static void work(pool *p, slot *s, uint64_t b)
{
	const auditor *a = p->a;
	char path[FT_TILE_PATH_MAX + 1];
	ft_httpc_resp r;
	ft_tile t;
	ft_bundle_iter it;
	uint8_t *tile = NULL;
	int bad = 0;

	s->rc = 0;
	s->tile_bad = 0;
	if (ft_tile_at(p->new_size, FT_TILE_ENTRIES, b, &t) != 0 ||
	    tile_url(&t, path, sizeof path) != 0) {
		s->rc = PASS_IO;
		set_reason(s->reason, "no bundle %" PRIu64, b);
		return;
	}
	s->width = t.width;
	if ((s->rc = http_get(a, path, BUNDLE_MAX, &r, s->reason)) != 0) {
		return;
	}
	if (ft_bundle_check(r.body, r.body_len, t.width) != 0) {
		s->rc = PASS_ALARM;
		set_reason(s->reason,
			   "entry bundle %s is malformed or does not hold %u "
			   "entries (tampered bundle)",
			   path, t.width);
		ft_httpc_resp_free(&r);
		return;
	}
	ft_bundle_iter_init(&it, r.body, r.body_len);
	for (unsigned j = 0; j < t.width; j++) {
		const uint8_t *e;
		size_t elen;
		uint64_t gi = b * FT_TILE_WIDTH + j;
		if (ft_bundle_next(&it, &e, &elen) != 1) {
			s->rc = PASS_ALARM;
			set_reason(s->reason, "entry bundle %s malformed",
				   path);
			ft_httpc_resp_free(&r);
			return;
		}
		ft_merkle_leaf_hash(e, elen, &s->leaf[j]);
		if (gi >= p->old_size && examine(a, e, elen, &s->info[j]) != 0) {
			s->rc = PASS_IO;
			set_reason(s->reason, "out of memory");
			ft_httpc_resp_free(&r);
			return;
		}
	}
	ft_httpc_resp_free(&r);

	/* The level-0 tile holds exactly these leaf hashes. */
	t.level = 0;
	if ((tile = malloc(FT_TILE_BYTES)) == NULL) {
		s->rc = PASS_IO;
		set_reason(s->reason, "out of memory");
		return;
	}
	s->rc = fetch_hash_tile(a, &t, tile, &bad, s->reason);
	if (s->rc == 0 && bad) {
		s->tile_bad = 1;
		memcpy(s->tile_reason, s->reason, REASON_MAX);
	} else if (s->rc == 0 &&
		   memcmp(tile, s->leaf, (size_t)t.width * FT_HASH_LEN) != 0) {
		s->tile_bad = 1;
		(void)tile_url(&t, path, sizeof path);
		set_reason(s->tile_reason,
			   "hash tile %s differs from the hashes of the "
			   "entries (tampered tile)",
			   path);
	}
	free(tile);
}

static void *worker(void *arg)
{
	pool *p = arg;

	pthread_mutex_lock(&p->mu);
	for (;;) {
		while (!p->stop && p->next <= p->last &&
		       p->next >= p->done + p->window) {
			pthread_cond_wait(&p->cv_work, &p->mu);
		}
		if (p->stop || p->next > p->last) {
			break;
		}
		uint64_t b = p->next++;
		slot *s = &p->slots[b % p->window];
		s->state = 1;
		s->bundle = b;
		pthread_mutex_unlock(&p->mu);
		work(p, s, b);
		pthread_mutex_lock(&p->mu);
		s->state = 2;
		pthread_cond_broadcast(&p->cv_done);
	}
	pthread_mutex_unlock(&p->mu);
	return NULL;
}

/* ---- The recomputed tree's tiles (levels 0, 8, 16, ...). */

typedef struct tiles {
	const auditor *a;
	uint64_t new_size;
	unsigned nlev;           /* tile levels at new_size */
	uint64_t base[FT_TILE_MAX_LEVEL + 1];
	unsigned cnt[FT_TILE_MAX_LEVEL + 1];
	ft_hash (*buf)[FT_TILE_WIDTH]; /* [level][slot] */
	int io;                  /* a fetch failed: PASS_IO, reason */
	char reason[REASON_MAX];
	int tile_bad;            /* first mismatch, in tile_reason */
	char tile_reason[REASON_MAX];
	uint8_t fetched[FT_TILE_BYTES];
} tiles;

/* Compare tile (L, base[L]) of cnt[L] hashes with the served one. */
static int check_tile(tiles *tl, unsigned L)
{
	ft_tile t;
	char path[FT_TILE_PATH_MAX + 1];
	int bad = 0;
	int rc;

	if (ft_tile_at(tl->new_size, (int)L, tl->base[L], &t) != 0 ||
	    t.width != tl->cnt[L]) {
		set_reason(tl->reason, "internal: tile %u/%" PRIu64
			   " width mismatch", L, tl->base[L]);
		tl->io = PASS_IO;
		return -1;
	}
	rc = fetch_hash_tile(tl->a, &t, tl->fetched, &bad, tl->reason);
	if (rc != 0) {
		tl->io = rc;
		return -1;
	}
	if (!bad && memcmp(tl->fetched, tl->buf[L],
			   (size_t)t.width * FT_HASH_LEN) == 0) {
		return 0;
	}
	if (!tl->tile_bad) {
		tl->tile_bad = 1;
		if (bad) {
			memcpy(tl->tile_reason, tl->reason, REASON_MAX);
		} else {
			(void)tile_url(&t, path, sizeof path);
			set_reason(tl->tile_reason,
				   "hash tile %s differs from the recomputed "
				   "tree (tampered tile)",
				   path);
		}
	}
	return 0;
}

static int on_node(void *ctx, unsigned level, uint64_t index,
		   const ft_hash *hash)
{
	tiles *tl = ctx;
	unsigned L;

	if (level % FT_TILE_HEIGHT != 0) {
		return 0;
	}
	L = level / FT_TILE_HEIGHT;
	if (L > FT_TILE_MAX_LEVEL ||
	    index != tl->base[L] * FT_TILE_WIDTH + tl->cnt[L]) {
		return FT_EINVAL;
	}
	tl->buf[L][tl->cnt[L]++] = *hash;
	if (tl->cnt[L] == FT_TILE_WIDTH) {
		/* Level 0 is compared by the workers, against the leaves. */
		if (L > 0 && check_tile(tl, L) != 0) {
			return FT_EIO;
		}
		tl->base[L]++;
		tl->cnt[L] = 0;
	}
	return 0;
}

/* ---- Consistency from the served tiles. */

typedef struct tfetch {
	const auditor *a;
	int rc;
	char reason[REASON_MAX];
} tfetch;

static int fetch_cb(void *ctx, const ft_tile *t, uint8_t *buf, size_t *len)
{
	tfetch *f = ctx;
	int bad = 0;
	int rc = fetch_hash_tile(f->a, t, buf, &bad, f->reason);

	if (rc != 0) {
		f->rc = rc;
		return FT_EIO;
	}
	if (bad) {
		f->rc = PASS_ALARM;
		return FT_ETILE_SIZE;
	}
	*len = (size_t)t->width * FT_HASH_LEN;
	return 0;
}

static int prove_consistency(const auditor *a, uint64_t m, const ft_hash *r1,
			     uint64_t n, const ft_hash *r2, char *reason)
{
	ft_tile_reader *tr = malloc(sizeof *tr);
	ft_hash_reader hr;
	ft_hash proof[FT_PROOF_MAX_CONSISTENCY];
	size_t np = 0;
	tfetch f;
	int rc;

	if (tr == NULL) {
		set_reason(reason, "out of memory");
		return PASS_IO;
	}
	memset(&f, 0, sizeof f);
	f.a = a;
	ft_tile_reader_init(tr, n, fetch_cb, &f);
	ft_tile_reader_as_hash_reader(tr, &hr);
	rc = ft_proof_consistency(m, n, &hr, proof, &np);
	free(tr);
	if (rc != 0) {
		if (f.rc == PASS_IO) {
			memcpy(reason, f.reason, REASON_MAX);
			return PASS_IO;
		}
		set_reason(reason, "consistency proof %" PRIu64 " -> %" PRIu64
			   " from the served tiles: %s",
			   m, n, f.rc ? f.reason : ft_strerror(rc));
		return PASS_ALARM;
	}
	rc = ft_proof_verify_consistency(m, n, r1->b, 32, r2->b, 32,
					 proof[0].b, np * FT_HASH_LEN);
	if (rc != 0) {
		set_reason(reason,
			   "consistency proof %" PRIu64 " -> %" PRIu64
			   " from the served tiles does not verify: %s",
			   m, n, ft_strerror(rc));
		return PASS_ALARM;
	}
	return 0;
}

/* ---- Rules. */

static void hex32(const uint8_t *d, char out[65])
{
	hex_encode(d, 32, out);
}

/* Index stored under key, or -1 (absent); PASS_IO as -2. */
static int64_t st_index(const auditor *a, MDB_txn *txn, const void *k,
			size_t klen, char *reason)
{
	MDB_val v;
	int rc = st_get(a, txn, k, klen, &v, reason);

	if (rc == 1) {
		return -1;
	}
	if (rc != 0 || v.mv_size < 8) {
		if (rc == 0) {
			set_reason(reason, "state %s: bad rule record",
				   a->state_dir);
		}
		return -2;
	}
	return (int64_t)get_be64(v.mv_data);
}

static int prefixed(uint8_t *key, char tag, const void *d, size_t n)
{
	if (n > 500) {
		return -1;
	}
	key[0] = (uint8_t)tag;
	memcpy(key + 1, d, n);
	return (int)(n + 1);
}

/* Put key -> be64(index) unless present. */
static int st_first(const auditor *a, MDB_txn *txn, const uint8_t *k,
		    size_t klen, uint64_t index, char *reason)
{
	uint8_t v[8];
	int64_t have = st_index(a, txn, k, klen, reason);

	if (have == -2) {
		return PASS_IO;
	}
	if (have >= 0) {
		return 0;
	}
	put_be64(v, index);
	return st_put(a, txn, k, klen, v, 8, reason);
}

static int keyid_watched(const auditor *a, const char *kid)
{
	for (size_t i = 0; kid != NULL && i < a->nwatch_key; i++) {
		if (strcmp(a->watch_key[i], kid) == 0) {
			return 1;
		}
	}
	return 0;
}

static void watch_alert(outbuf *o, const char *what,
			uint64_t index, const einfo *e, const uint8_t *digest)
{
	char hex[65];
	json_t *ids = json_array();
	char buf[FT_EVENT_KEYID_MAX + 1];

	if (ids == NULL) {
		o->oom = 1;
		return;
	}
	for (size_t i = 0; i < e->nkeyids; i++) {
		snprintf(buf, sizeof buf, "%s", e->keyids[i]);
		sanitize(buf);
		(void)json_array_append_new(ids, json_string(buf));
	}
	hex32(digest, hex);
	out_add(o, json_line(json_pack(
		"{s:s,s:I,s:s,s:s?,s:s?,s:s,s:o}", "alert", what, "index",
		(json_int_t)index, "kind", ft_event_kind_name(e->kind),
		"product", e->product, "version", e->version, "digest", hex,
		"keyids", ids)));
}

static void watch(const auditor *a, outbuf *o, uint64_t index,
		  const einfo *e)
{
	int hit = keyid_watched(a, e->revoked_keyid);

	for (size_t i = 0; !hit && i < e->nkeyids; i++) {
		hit = keyid_watched(a, e->keyids[i]);
	}
	if (hit) {
		watch_alert(o, "watched-key", index, e, e->sub[0]);
	}
	for (size_t i = 0; e->product != NULL && i < a->nwatch_product; i++) {
		if (strcmp(a->watch_product[i], e->product) == 0) {
			watch_alert(o, "watched-product", index, e,
				    e->sub[0]);
			break;
		}
	}
	for (size_t j = 0; j < e->nsub; j++) {
		size_t i;
		for (i = 0; i < a->nwatch_digest; i++) {
			if (memcmp(a->watch_digest[i], e->sub[j], 32) == 0) {
				break;
			}
		}
		if (i < a->nwatch_digest) {
			watch_alert(o, "watched-digest", index, e,
				    e->sub[j]);
			break;
		}
	}
}

/* Apply the rules to entry `index`, then record what it adds. */
static int rules(const auditor *a, MDB_txn *txn, outbuf *o, uint64_t index,
		 const einfo *e, char *reason)
{
	uint8_t key[512];
	char hex[65];
	int kl;
	int64_t at;

	if (e->malformed != NULL) {
		finding(a, o, "malformed-entry", index, "%s", e->malformed);
		return 0;
	}
	if (e->policy != NULL) {
		finding(a, o, "policy", index, "%s", e->policy);
	}
	/* Signed by a key revoked earlier. */
	for (size_t i = 0; i < e->nkeyids; i++) {
		if (e->keyids[i][0] == '\0') {
			continue;
		}
		kl = prefixed(key, 'k', e->keyids[i], strlen(e->keyids[i]));
		if (kl < 0) {
			continue;
		}
		at = st_index(a, txn, key, (size_t)kl, reason);
		if (at == -2) {
			return PASS_IO;
		}
		if (at >= 0) {
			finding(a, o, "after-revocation", index,
				"%s signed by key %s, revoked at index %"
				PRId64, ft_event_kind_name(e->kind),
				e->keyids[i], at);
		}
	}
	if (e->kind == FT_EVENT_RELEASE || e->kind == FT_EVENT_DISTRIBUTION) {
		for (size_t j = 0; j < e->nsub; j++) {
			kl = prefixed(key, 'i', e->sub[j], 32);
			at = st_index(a, txn, key, (size_t)kl, reason);
			if (at == -2) {
				return PASS_IO;
			}
			if (at >= 0) {
				hex32(e->sub[j], hex);
				finding(a, o, "after-revocation", index,
					"%s of image %s, revoked at index %"
					PRId64, ft_event_kind_name(e->kind),
					hex, at);
			}
		}
	}
	if (e->kind == FT_EVENT_RELEASE) {
		size_t missing = 0, first = 0;
		for (size_t j = 0; j < e->nsub; j++) {
			kl = prefixed(key, 'b', e->sub[j], 32);
			at = st_index(a, txn, key, (size_t)kl, reason);
			if (at == -2) {
				return PASS_IO;
			}
			if (at < 0 && missing++ == 0) {
				first = j;
			}
		}
		if (missing > 0) {
			hex32(e->sub[first], hex);
			finding(a, o, "release-without-build", index,
				"release of %s %s: image %s has no earlier "
				"build event%s",
				e->product ? e->product : "?",
				e->version ? e->version : "?", hex,
				missing > 1 ? " (and others)" : "");
		}
		if (e->product != NULL) {
			MDB_val v;
			uint8_t val[16];
			int rc;
			kl = prefixed(key, 'p', e->product,
				      strlen(e->product));
			if (kl < 0) {
				return 0;
			}
			rc = st_get(a, txn, key, (size_t)kl, &v, reason);
			if (rc == PASS_IO) {
				return rc;
			}
			if (rc == 0 && v.mv_size != 16) {
				set_reason(reason, "state %s: bad product "
					   "record", a->state_dir);
				return PASS_IO;
			}
			uint64_t hi = rc == 0 ? get_be64(v.mv_data) : 0;
			uint64_t hi_at = rc == 0 ?
				get_be64((const uint8_t *)v.mv_data + 8) : 0;
			if (rc == 0 && e->sv < hi) {
				finding(a, o, "security-version-decrease",
					index,
					"release of %s %s has "
					"security_version %" PRIu64
					", below %" PRIu64 " (index %" PRIu64
					")",
					e->product,
					e->version ? e->version : "?", e->sv,
					hi, hi_at);
			}
			if (rc == 1 || e->sv > hi) {
				put_be64(val, e->sv);
				put_be64(val + 8, index);
				if (st_put(a, txn, key, (size_t)kl, val, 16,
					   reason) != 0) {
					return PASS_IO;
				}
			}
		}
	}
	if (e->kind == FT_EVENT_BUILD) {
		for (size_t j = 0; j < e->nsub; j++) {
			kl = prefixed(key, 'b', e->sub[j], 32);
			if (st_first(a, txn, key, (size_t)kl, index,
				     reason) != 0) {
				return PASS_IO;
			}
		}
	}
	if (e->kind == FT_EVENT_REVOCATION && e->revoke == FT_REVOKE_KEY &&
	    e->revoked_keyid != NULL) {
		kl = prefixed(key, 'k', e->revoked_keyid,
			      strlen(e->revoked_keyid));
		if (kl > 0 && st_first(a, txn, key, (size_t)kl, index,
				       reason) != 0) {
			return PASS_IO;
		}
	}
	if (e->kind == FT_EVENT_REVOCATION && e->revoke == FT_REVOKE_IMAGE) {
		for (size_t j = 0; j < e->nsub; j++) {
			kl = prefixed(key, 'i', e->sub[j], 32);
			if (st_first(a, txn, key, (size_t)kl, index,
				     reason) != 0) {
				return PASS_IO;
			}
		}
	}
	return 0;
}

/* ---- One pass. */

typedef struct pass_result {
	uint64_t from, to, entries;
	int new_size;
} pass_result;

#define TREE_BYTES (8 + 63 * FT_HASH_LEN)

static void tree_encode(const ft_tree *t, uint8_t *out)
{
	put_be64(out, t->size);
	memcpy(out + 8, t->peak, 63 * FT_HASH_LEN);
}

/* The stored tree and its edge tiles into tl; 0 or PASS_IO. */
static int load_tree(const auditor *a, MDB_txn *txn, ft_tree *tree,
		     tiles *tl, char *reason)
{
	MDB_val v;
	int rc = st_get(a, txn, "m:tree", 6, &v, reason);

	ft_tree_init(tree);
	if (rc == PASS_IO) {
		return rc;
	}
	if (rc == 0) {
		if (v.mv_size != TREE_BYTES ||
		    get_be64(v.mv_data) > FT_TREE_MAX_SIZE) {
			set_reason(reason, "state %s: bad tree record",
				   a->state_dir);
			return PASS_IO;
		}
		tree->size = get_be64(v.mv_data);
		memcpy(tree->peak, (const uint8_t *)v.mv_data + 8,
		       63 * FT_HASH_LEN);
	}
	for (unsigned L = 0; L <= FT_TILE_MAX_LEVEL; L++) {
		uint8_t k[7] = { 'm', ':', 'e', 'd', 'g', 'e', (uint8_t)L };
		uint64_t nodes = L * FT_TILE_HEIGHT >= 64 ? 0 :
				 tree->size >> (L * FT_TILE_HEIGHT);
		unsigned w = (unsigned)(nodes % FT_TILE_WIDTH);
		tl->base[L] = nodes / FT_TILE_WIDTH;
		tl->cnt[L] = w;
		if (w == 0) {
			continue;
		}
		rc = st_get(a, txn, k, sizeof k, &v, reason);
		if (rc != 0 || v.mv_size != (size_t)w * FT_HASH_LEN) {
			if (rc != PASS_IO) {
				set_reason(reason,
					   "state %s: edge tile %u missing or "
					   "of the wrong size", a->state_dir, L);
			}
			return PASS_IO;
		}
		memcpy(tl->buf[L], v.mv_data, v.mv_size);
	}
	return 0;
}

static int save_tree(const auditor *a, MDB_txn *txn, const ft_tree *tree,
		     const tiles *tl, char *reason)
{
	uint8_t enc[TREE_BYTES];

	tree_encode(tree, enc);
	if (st_put(a, txn, "m:tree", 6, enc, sizeof enc, reason) != 0) {
		return PASS_IO;
	}
	for (unsigned L = 0; L <= FT_TILE_MAX_LEVEL; L++) {
		uint8_t k[7] = { 'm', ':', 'e', 'd', 'g', 'e', (uint8_t)L };
		int rc = tl->cnt[L] == 0 ?
			st_del(a, txn, k, sizeof k, reason) :
			st_put(a, txn, k, sizeof k, tl->buf[L],
			       (size_t)tl->cnt[L] * FT_HASH_LEN, reason);
		if (rc != 0) {
			return PASS_IO;
		}
	}
	return 0;
}

static int add_counter(const auditor *a, MDB_txn *txn, const char *name,
		       uint64_t add, char *reason)
{
	MDB_val v;
	uint8_t b[8];
	int rc = st_get(a, txn, name, strlen(name), &v, reason);

	if (rc == PASS_IO) {
		return rc;
	}
	put_be64(b, (rc == 0 && v.mv_size == 8 ? get_be64(v.mv_data) : 0) +
			    add);
	return st_put(a, txn, name, strlen(name), b, 8, reason);
}

/* Fetch bundles [first, last], extend the tree, check everything. */
static int audit_entries(const auditor *a, MDB_txn *txn, ft_tree *tree,
			 tiles *tl, uint64_t m, uint64_t n, outbuf *o,
			 char *reason)
{
	pool p;
	pthread_t th[JOBS_MAX];
	unsigned nth = 0;
	int rc = 0;
	ft_hash edge0[FT_TILE_WIDTH];
	unsigned edge0_n = tl->cnt[0];

	memcpy(edge0, tl->buf[0], sizeof edge0);
	memset(&p, 0, sizeof p);
	p.a = a;
	p.old_size = m;
	p.new_size = n;
	p.first = m / FT_TILE_WIDTH;
	p.last = (n - 1) / FT_TILE_WIDTH;
	p.next = p.first;
	p.done = p.first;
	p.window = (size_t)a->jobs * WINDOW_PER_JOB;
	p.slots = calloc(p.window, sizeof *p.slots);
	if (p.slots == NULL) {
		set_reason(reason, "out of memory");
		return PASS_IO;
	}
	pthread_mutex_init(&p.mu, NULL);
	pthread_cond_init(&p.cv_work, NULL);
	pthread_cond_init(&p.cv_done, NULL);
	for (; nth < a->jobs; nth++) {
		if (pthread_create(&th[nth], NULL, worker, &p) != 0) {
			break;
		}
	}
	if (nth == 0) {
		set_reason(reason, "cannot start threads");
		rc = PASS_IO;
		goto out;
	}
	for (uint64_t b = p.first; b <= p.last && rc == 0; b++) {
		slot *s = &p.slots[b % p.window];
		pthread_mutex_lock(&p.mu);
		while (!(s->state == 2 && s->bundle == b)) {
			pthread_cond_wait(&p.cv_done, &p.mu);
		}
		pthread_mutex_unlock(&p.mu);
		if (g_stop && a->monitor) {
			rc = PASS_STOP;
			set_reason(reason, "interrupted");
		} else if (s->rc != 0) {
			rc = s->rc;
			memcpy(reason, s->reason, REASON_MAX);
		}
		if (rc == 0 && s->tile_bad && !tl->tile_bad) {
			tl->tile_bad = 1;
			memcpy(tl->tile_reason, s->tile_reason, REASON_MAX);
		}
		for (unsigned j = 0; rc == 0 && j < s->width; j++) {
			uint64_t gi = b * FT_TILE_WIDTH + j;
			if (gi < m) {
				/* Audited before: must be the same entry. */
				if (j >= edge0_n ||
				    !ft_hash_equal(&edge0[j], &s->leaf[j])) {
					set_reason(reason,
						   "entry %" PRIu64 " differs "
						   "from the one audited "
						   "before (history "
						   "rewritten)", gi);
					rc = PASS_ALARM;
				}
				continue;
			}
			int arc = ft_tree_append(tree, &s->leaf[j], on_node,
						 tl);
			if (arc != 0) {
				rc = tl->io ? tl->io : PASS_IO;
				if (tl->io) {
					memcpy(reason, tl->reason, REASON_MAX);
				} else {
					set_reason(reason, "tree: %s",
						   ft_strerror(arc));
				}
				break;
			}
			rc = rules(a, txn, o, gi, &s->info[j], reason);
			if (rc == 0 && a->monitor) {
				if (s->info[j].malformed == NULL) {
					watch(a, o, gi, &s->info[j]);
				}
			}
		}
		for (unsigned j = 0; j < FT_TILE_WIDTH; j++) {
			einfo_free(&s->info[j]);
		}
		pthread_mutex_lock(&p.mu);
		s->state = 0;
		p.done = b + 1;
		if (rc != 0) {
			p.stop = 1;
		}
		pthread_cond_broadcast(&p.cv_work);
		pthread_mutex_unlock(&p.mu);
	}
out:
	pthread_mutex_lock(&p.mu);
	p.stop = 1;
	pthread_cond_broadcast(&p.cv_work);
	pthread_mutex_unlock(&p.mu);
	for (unsigned i = 0; i < nth; i++) {
		pthread_join(th[i], NULL);
	}
	for (size_t i = 0; i < p.window; i++) {
		for (unsigned j = 0; j < FT_TILE_WIDTH; j++) {
			einfo_free(&p.slots[i].info[j]);
		}
	}
	free(p.slots);
	pthread_mutex_destroy(&p.mu);
	pthread_cond_destroy(&p.cv_work);
	pthread_cond_destroy(&p.cv_done);
	return rc;
}

/*
 * One pass. Returns PASS_*; reason set unless PASS_OK. Output lines for
 * the caller to print after the commit are in o.
 */
static int pass(const auditor *a, outbuf *o, pass_result *res, char *reason)
{
	ft_httpc_resp r;
	ft_note_sig st[1 + MAX_WITNESSES];
	ft_checkpoint cp;
	size_t text_len = 0, nverified = 0;
	MDB_txn *txn = NULL;
	ft_tree tree;
	ft_hash root, old_root;
	tiles *tl = NULL;
	uint64_t m;
	int rc;

	memset(res, 0, sizeof *res);
	rc = http_get(a, "/checkpoint", FT_NOTE_MAX_BYTES, &r, reason);
	if (rc != 0) {
		return rc;
	}
	rc = ft_note_open(r.body, r.body_len, a->keys, 1 + a->nwit, st,
			  &text_len);
	if (rc != 0 || !st[0].verified) {
		set_reason(reason, "checkpoint signature: %s",
			   rc ? ft_strerror(rc) : "not signed by the log key");
		ft_httpc_resp_free(&r);
		return PASS_ALARM;
	}
	rc = ft_checkpoint_parse(r.body, text_len, a->keys[0].name,
				 a->keys[0].name_len, &cp);
	if (rc != 0) {
		set_reason(reason, "signed checkpoint: %s", ft_strerror(rc));
		ft_httpc_resp_free(&r);
		return PASS_ALARM;
	}
	cp.ext = NULL; /* points into r.body */
	cp.ext_len = 0;
	for (size_t i = 1; i <= a->nwit; i++) {
		nverified += st[i].verified != 0;
	}
	if (nverified < a->quorum) {
		set_reason(reason,
			   "checkpoint of size %" PRIu64 " has %zu of the %zu "
			   "required witness cosignatures",
			   cp.size, nverified, a->quorum);
		ft_httpc_resp_free(&r);
		return PASS_QUORUM;
	}

	if ((rc = mdb_txn_begin(a->env, NULL, 0, &txn)) != 0) {
		set_reason(reason, "state %s: %s", a->state_dir,
			   mdb_strerror(rc));
		ft_httpc_resp_free(&r);
		return PASS_IO;
	}
	tl = calloc(1, sizeof *tl);
	if (tl == NULL || (tl->buf = calloc(FT_TILE_MAX_LEVEL + 1,
					    sizeof *tl->buf)) == NULL) {
		set_reason(reason, "out of memory");
		rc = PASS_IO;
		goto out;
	}
	tl->a = a;
	tl->new_size = cp.size;
	if ((rc = load_tree(a, txn, &tree, tl, reason)) != 0) {
		goto out;
	}
	m = tree.size;
	ft_tree_root(&tree, &old_root);
	res->from = m;
	res->to = cp.size;
	if (cp.size < m) {
		set_reason(reason,
			   "rollback: the log's checkpoint has size %" PRIu64
			   ", below the %" PRIu64 " audited before",
			   cp.size, m);
		rc = PASS_ALARM;
		goto out;
	}
	if (cp.size == m) {
		if (!ft_hash_equal(&cp.root, &old_root)) {
			set_reason(reason,
				   "split view: the log's checkpoint of size "
				   "%" PRIu64 " has another root than the one "
				   "audited before", m);
			rc = PASS_ALARM;
			goto out;
		}
	} else {
		rc = audit_entries(a, txn, &tree, tl, m, cp.size, o, reason);
		if (rc != 0) {
			goto out;
		}
		ft_tree_root(&tree, &root);
		if (!ft_hash_equal(&root, &cp.root)) {
			set_reason(reason,
				   "the entries do not produce the signed root "
				   "of size %" PRIu64 " (tampered entry bundle "
				   "or split view)", cp.size);
			rc = PASS_ALARM;
			goto out;
		}
		/* The new partial tiles of levels >= 1 (full ones were
		 * compared as they completed; level 0 by the workers). */
		for (unsigned L = 1; L <= FT_TILE_MAX_LEVEL &&
		     L * FT_TILE_HEIGHT < 64; L++) {
			unsigned sh = L * FT_TILE_HEIGHT;
			if (tl->cnt[L] > 0 && (m >> sh) != (cp.size >> sh) &&
			    check_tile(tl, L) != 0) {
				memcpy(reason, tl->reason, REASON_MAX);
				rc = tl->io;
				goto out;
			}
		}
		if (tl->tile_bad) {
			memcpy(reason, tl->tile_reason, REASON_MAX);
			rc = PASS_ALARM;
			goto out;
		}
		if (m > 0 && (rc = prove_consistency(a, m, &old_root, cp.size,
						     &cp.root, reason)) != 0) {
			goto out;
		}
		if ((rc = save_tree(a, txn, &tree, tl, reason)) != 0 ||
		    (rc = add_counter(a, txn, "m:entries", cp.size - m,
				      reason)) != 0 ||
		    (rc = add_counter(a, txn, "m:findings", o->findings,
				      reason)) != 0) {
			goto out;
		}
		res->entries = cp.size - m;
		res->new_size = 1;
	}
	if (o->oom) {
		set_reason(reason, "out of memory");
		rc = PASS_IO;
		goto out;
	}
	if ((rc = st_put(a, txn, "m:note", 6, r.body, r.body_len,
			 reason)) != 0) {
		goto out;
	}
	rc = mdb_txn_commit(txn);
	txn = NULL;
	if (rc != 0) {
		set_reason(reason, "state %s: commit: %s", a->state_dir,
			   mdb_strerror(rc));
		rc = PASS_IO;
		goto out;
	}
	if (res->new_size && a->monitor) {
		char b64[64];
		size_t bl;
		if (ft_b64_encode(cp.root.b, 32, b64, sizeof b64, &bl) == 0) {
			char *s = json_line(json_pack(
				"{s:s,s:I,s:s}", "alert", "checkpoint", "size",
				(json_int_t)cp.size, "root", b64));
			/* First, before the alerts of its entries. */
			out_add(o, s);
			if (s != NULL && o->n > 1 && o->line[o->n - 1] == s) {
				memmove(o->line + 1, o->line,
					(o->n - 1) * sizeof *o->line);
				o->line[0] = s;
			}
		}
	}
out:
	if (txn != NULL) {
		mdb_txn_abort(txn);
	}
	if (tl != NULL) {
		free(tl->buf);
		free(tl);
	}
	ft_httpc_resp_free(&r);
	return rc;
}

/* ---- Commands. */

static const optspec audit_spec[] = {
	{ "log", OPT_ARG },
	{ "log-key", OPT_ARG },
	{ "state", OPT_ARG },
	{ "witness-key", OPT_ARG | OPT_MULTI },
	{ "quorum", OPT_ARG },
	{ "policy", OPT_ARG },
	{ "json", 0 },
	{ "timeout", OPT_ARG },
	{ "jobs", OPT_ARG },
	{ NULL, 0 },
};

static const optspec monitor_spec[] = {
	{ "log", OPT_ARG },
	{ "log-key", OPT_ARG },
	{ "state", OPT_ARG },
	{ "witness-key", OPT_ARG | OPT_MULTI },
	{ "quorum", OPT_ARG },
	{ "policy", OPT_ARG },
	{ "timeout", OPT_ARG },
	{ "jobs", OPT_ARG },
	{ "interval", OPT_ARG },
	{ "watch-key", OPT_ARG | OPT_MULTI },
	{ "watch-product", OPT_ARG | OPT_MULTI },
	{ "watch-digest", OPT_ARG | OPT_MULTI },
	{ "once", 0 },
	{ NULL, 0 },
};

static uint64_t parse_count(const char *cmd, const char *opt, const char *s,
			    uint64_t lo, uint64_t hi)
{
	uint64_t v;

	if (s == NULL || ft_parse_u63(s, strlen(s), &v) != 0 || v < lo ||
	    v > hi) {
		usage_error(cmd, "--%s: expected a number from %" PRIu64
			    " to %" PRIu64, opt, lo, hi);
	}
	return v;
}

static void setup(auditor *a, const args *ar, const char *cmd)
{
	const char *const *vals;
	size_t n;
	const char *s;
	char err[REASON_MAX];
	ssize_t ncpu;

	memset(a, 0, sizeof *a);
	a->cmd = cmd;
	a->url = arg_need(ar, "log");
	{
		ft_httpc_url u;
		if (ft_httpc_parse_url(a->url, &u, err, sizeof err) != 0) {
			usage_error(cmd, "--log: %s", err);
		}
	}
	load_vkey(cmd, "--log-key", arg_need(ar, "log-key"), &a->keys[0]);
	if (a->keys[0].type != FT_KEY_ED25519) {
		usage_error(cmd, "--log-key: not an Ed25519 note key");
	}
	a->state_dir = arg_need(ar, "state");
	n = arg_all(ar, "witness-key", &vals);
	if (n > MAX_WITNESSES) {
		usage_error(cmd, "at most %d --witness-key", MAX_WITNESSES);
	}
	for (size_t i = 0; i < n; i++) {
		load_vkey(cmd, "--witness-key", vals[i], &a->keys[1 + i]);
		if (a->keys[1 + i].type != FT_KEY_COSIG_V1) {
			usage_error(cmd, "--witness-key %s: not a cosignature "
				    "(type 0x04) key", vals[i]);
		}
		for (size_t j = 0; j <= i; j++) {
			if (a->keys[j].id == a->keys[1 + i].id &&
			    strcmp(a->keys[j].name, a->keys[1 + i].name) == 0) {
				usage_error(cmd, "--witness-key %s given twice",
					    vals[i]);
			}
		}
	}
	a->nwit = n;
	a->quorum = n;
	if ((s = arg_get(ar, "quorum")) != NULL) {
		a->quorum = (size_t)parse_count(cmd, "quorum", s, 0, n);
	}
	a->timeout_ms = FT_HTTPC_TIMEOUT_DEFAULT;
	if ((s = arg_get(ar, "timeout")) != NULL) {
		uint64_t ms;
		if (ft_config_parse_duration_ms(s, &ms) != 0 || ms == 0 ||
		    ms > 3600000) {
			usage_error(cmd, "--timeout: expected a duration like "
				    "10s (1ms..1h)");
		}
		a->timeout_ms = (int)ms;
	}
	ncpu = (ssize_t)sysconf(_SC_NPROCESSORS_ONLN);
	a->jobs = ncpu < 1 ? 2 : (unsigned)(ncpu * 2);
	if (a->jobs < 2) {
		a->jobs = 2;
	}
	if (a->jobs > JOBS_MAX) {
		a->jobs = JOBS_MAX;
	}
	if ((s = arg_get(ar, "jobs")) != NULL) {
		a->jobs = (unsigned)parse_count(cmd, "jobs", s, 1, JOBS_MAX);
	}
	if ((s = arg_get(ar, "policy")) != NULL) {
		int rc = ft_policy_load(s, &a->policy, err, sizeof err);
		if (rc != 0) {
			fprintf(stderr, "ftlog %s: --policy: %s\n", cmd, err);
			exit(rc == FT_EIO ? EX_IOERR : EX_USAGE);
		}
	}
}

static void teardown(auditor *a)
{
	if (a->env != NULL) {
		mdb_env_close(a->env);
	}
	ft_policy_unref(a->policy);
}

static void print_lines(const outbuf *o)
{
	for (size_t i = 0; i < o->n; i++) {
		puts(o->line[i]);
	}
	(void)fflush(stdout);
}

static int exit_code(int rc, uint64_t findings)
{
	switch (rc) {
	case PASS_OK:
		return findings ? EX_FAIL : EX_OK;
	case PASS_QUORUM:
		return EX_FAIL;
	case PASS_ALARM:
		return EX_ALARM;
	default:
		return EX_IOERR;
	}
}

int cmd_audit(int argc, char **argv)
{
	args ar;
	auditor a;
	outbuf o;
	pass_result res;
	char reason[REASON_MAX];
	int rc;

	args_parse(&ar, "audit", audit_spec, argc, argv, help_audit);
	if (ar.npos != 0) {
		usage_error("audit", "unexpected argument \"%s\"", ar.pos[0]);
	}
	setup(&a, &ar, "audit");
	a.json = arg_get(&ar, "json") != NULL;
	if ((rc = state_open(&a)) != 0) {
		teardown(&a);
		return rc;
	}
	memset(&o, 0, sizeof o);
	reason[0] = '\0';
	rc = pass(&a, &o, &res, reason);
	if (rc != PASS_OK) {
		report(&a, rc, reason);
		out_free(&o);
		teardown(&a);
		return exit_code(rc, 0);
	}
	print_lines(&o);
	if (a.json) {
		char *s = json_line(json_pack(
			"{s:s,s:s,s:I,s:I,s:I,s:I,s:s}", "type", "summary",
			"origin", a.keys[0].name, "from", (json_int_t)res.from,
			"to", (json_int_t)res.to, "entries",
			(json_int_t)res.entries, "findings",
			(json_int_t)o.findings, "root", "ok"));
		if (s != NULL) {
			puts(s);
			free(s);
		}
	} else {
		printf("audited %s %" PRIu64 " -> %" PRIu64 ": %" PRIu64
		       " entries, %" PRIu64 " findings, root ok\n",
		       a.keys[0].name, res.from, res.to, res.entries,
		       o.findings);
	}
	(void)fflush(stdout);
	rc = exit_code(PASS_OK, o.findings);
	out_free(&o);
	teardown(&a);
	return rc;
}

static void sleep_ms(uint64_t ms)
{
	while (ms > 0 && !g_stop) {
		uint64_t step = ms < 100 ? ms : 100;
		struct timespec ts = { (time_t)(step / 1000),
				       (long)(step % 1000) * 1000000L };
		(void)nanosleep(&ts, NULL);
		ms -= step;
	}
}

int cmd_monitor(int argc, char **argv)
{
	args ar;
	auditor a;
	const char *const *vals;
	const char *s;
	uint64_t interval = 60000;
	int once, rc;
	size_t n;
	struct sigaction sa;

	args_parse(&ar, "monitor", monitor_spec, argc, argv, help_monitor);
	if (ar.npos != 0) {
		usage_error("monitor", "unexpected argument \"%s\"",
			    ar.pos[0]);
	}
	setup(&a, &ar, "monitor");
	a.monitor = 1;
	once = arg_get(&ar, "once") != NULL;
	if ((s = arg_get(&ar, "interval")) != NULL &&
	    (ft_config_parse_duration_ms(s, &interval) != 0 ||
	     interval == 0 || interval > 86400000)) {
		usage_error("monitor", "--interval: expected a duration like "
			    "60s (1ms..24h)");
	}
	a.nwatch_key = arg_all(&ar, "watch-key", &a.watch_key);
	for (size_t i = 0; i < a.nwatch_key; i++) {
		const char *k = a.watch_key[i];
		const char *plus = strrchr(k, '+');
		size_t hl = plus ? strlen(plus + 1) : 0;
		if (plus == NULL || plus == k || hl != 8 ||
		    strspn(plus + 1, "0123456789abcdef") != 8) {
			usage_error("monitor", "--watch-key \"%s\": expected a "
				    "DSSE keyid NAME+HEX8 (lowercase hex)", k);
		}
	}
	a.nwatch_product = arg_all(&ar, "watch-product", &a.watch_product);
	n = arg_all(&ar, "watch-digest", &vals);
	for (size_t i = 0; i < n; i++) {
		if (strlen(vals[i]) != 64 ||
		    hex32_decode(vals[i], a.watch_digest[i]) != 0) {
			usage_error("monitor", "--watch-digest \"%s\": expected "
				    "64 hex digits", vals[i]);
		}
	}
	a.nwatch_digest = n;
	if ((rc = state_open(&a)) != 0) {
		teardown(&a);
		return rc;
	}
	memset(&sa, 0, sizeof sa);
	sa.sa_handler = on_signal;
	sigemptyset(&sa.sa_mask);
	(void)sigaction(SIGINT, &sa, NULL);
	(void)sigaction(SIGTERM, &sa, NULL);

	for (;;) {
		outbuf o;
		pass_result res;
		char reason[REASON_MAX];

		memset(&o, 0, sizeof o);
		reason[0] = '\0';
		rc = pass(&a, &o, &res, reason);
		if (rc == PASS_STOP) {
			out_free(&o);
			rc = EX_OK;
			break;
		}
		if (rc != PASS_OK) {
			report(&a, rc, reason);
		} else {
			print_lines(&o);
		}
		uint64_t f = o.findings;
		out_free(&o);
		if (rc == PASS_ALARM) {
			rc = EX_ALARM;
			break;
		}
		if (once) {
			rc = exit_code(rc, f);
			break;
		}
		if (g_stop) {
			rc = EX_OK;
			break;
		}
		sleep_ms(interval);
		if (g_stop) {
			rc = EX_OK;
			break;
		}
	}
	teardown(&a);
	return rc;
}
