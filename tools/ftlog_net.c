/*
 * tools/ftlog_net.c - the ftlog verbs that talk to a log: submit and get.
 *
 * Trust rule: nothing the log sends is printed or written before it has
 * been checked against the log's verifier key (--log-key): checkpoints are
 * opened as signed notes with that key and its name as the origin, every
 * entry shown is proven included in such a checkpoint, and entries are
 * parsed with libftevent before their fields are shown.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <jansson.h>

#include <ftlog/event.h>
#include <ftlog/merkle.h>
#include <ftlog/note.h>
#include <ftlog/tile.h>
#include <ftlog/tlogproof.h>

#include "client/httpc.h"
#include "tools/ftlog.h"

#define CHECKPOINT_MAX FT_NOTE_MAX_BYTES
#define PROOF_BODY_MAX (64 * 64)            /* "index" + 64 hashes */
#define LINEAGE_BODY_MAX (8u << 20)
#define LINEAGE_MAX_EVENTS 100000
#define LINEAGE_MAX_PAGES 10000
#define BUNDLE_MAX ((size_t)FT_TILE_WIDTH * (2 + FT_ENTRY_MAX))
#define SUBMIT_RETRY_BUDGET_MS 10000

const char help_submit[] =
	"NAME\n"
	"    ftlog submit - log a firmware event and keep its proof\n"
	"\n"
	"SYNOPSIS\n"
	"    ftlog submit --log URL --log-key KEY [--image FILE] [--out FILE]\n"
	"        ENVELOPE\n"
	"\n"
	"DESCRIPTION\n"
	"    Checks ENVELOPE (a DSSE envelope from ftlog attest) locally,\n"
	"    POSTs it to URL/add and, on success, verifies the log's answer\n"
	"    before writing it: the answer is a c2sp.org/tlog-proof whose\n"
	"    entry is exactly ENVELOPE, whose checkpoint is signed by KEY\n"
	"    (origin = the key's name), and whose inclusion proof leads from\n"
	"    the entry to the checkpoint's root. Then it writes the proof and\n"
	"    prints \"logged KIND index=N tree_size=S -> FILE\".\n"
	"\n"
	"    A log that is busy (503) is retried for up to 10 seconds,\n"
	"    honouring Retry-After. An event the log refuses prints\n"
	"    \"REFUSED STATUS: RULE: DETAIL\" (the log's one-line reason, e.g.\n"
	"    \"threshold: ...\", \"unknown-key: ...\", \"revoked-key: ...\").\n"
	"    Submitting an event again is harmless: the log answers with its\n"
	"    existing index.\n"
	"\n"
	"OPTIONS\n"
	"    --log URL       the log, http://host[:port][/path] (for https,\n"
	"                    point this at a local TLS proxy)\n"
	"    --log-key KEY   the log's verifier key, as a string or a file\n"
	"                    holding it (e.g. log.pub from ftlogd init)\n"
	"    --image FILE    the image the event is about: its SHA-256 must\n"
	"                    be a subject of the envelope, and the proof is\n"
	"                    written next to it (see --out)\n"
	"    --out FILE      where to write the proof (\"-\": standard\n"
	"                    output). Default: IMAGE.tlog-proof with --image,\n"
	"                    else the first subject's name (its base name, if\n"
	"                    made of letters, digits, '.', '_', '+' and '-'),\n"
	"                    else SHA256HEX; for a build, distribution or\n"
	"                    revocation event .KIND.tlog-proof instead of\n"
	"                    .tlog-proof, so only a release's proof gets the\n"
	"                    name a device looks for\n"
	"\n"
	"EXIT STATUS\n"
	"    0  logged, and the answer verified\n"
	"    1  refused by the log (4xx), the envelope is not a valid event,\n"
	"       the image is not its subject, or the answer does not verify\n"
	"    2  usage error\n"
	"    3  file or network error, or the log failed (5xx)\n"
	"\n"
	"EXAMPLES\n"
	"    ftlog submit --log http://127.0.0.1:8080 --log-key log.pub \\\n"
	"        --image gnb.bin gnb.bin.release.dsse\n";

const char help_get[] =
	"NAME\n"
	"    ftlog get - fetch and verify data from a log\n"
	"\n"
	"SYNOPSIS\n"
	"    ftlog get checkpoint --log URL --log-key KEY\n"
	"    ftlog get proof --log URL --log-key KEY ENVELOPE\n"
	"    ftlog get bundle --log URL --log-key KEY (--image FILE | SHA256)\n"
	"        [--out FILE]\n"
	"    ftlog get lineage --log URL --log-key KEY (--image FILE | SHA256)\n"
	"        [--json]\n"
	"\n"
	"DESCRIPTION\n"
	"    checkpoint  prints the log's latest checkpoint after checking\n"
	"                its signature by KEY.\n"
	"    proof       checks that ENVELOPE is logged: fetches the latest\n"
	"                checkpoint and an inclusion proof for the envelope's\n"
	"                leaf hash, verifies both, prints\n"
	"                \"index=N tree_size=S\".\n"
	"    bundle      fetches the tlog-proof of the newest release of the\n"
	"                image (GET /bundle/SHA256), verifies its checkpoint\n"
	"                and inclusion proof, checks that the entry is a\n"
	"                release naming the image, and writes it: what a\n"
	"                device needs next to the image. A revoked image\n"
	"                prints \"REVOKED: ...\" and fails. A release not yet\n"
	"                cosigned by the log's witness quorum (503) is\n"
	"                retried for up to 10 seconds.\n"
	"    lineage     lists every event about the image, in log order:\n"
	"                GET /lineage/SHA256 (following \"next\"), then each\n"
	"                listed event is fetched from the log's entry tiles,\n"
	"                proven included in the verified checkpoint, parsed,\n"
	"                and checked to have the listed kind and signers and\n"
	"                to name the image. One line per event: INDEX KIND\n"
	"                signers=... and the event's key fields.\n"
	"\n"
	"OPTIONS\n"
	"    --log URL       the log, http://host[:port][/path]\n"
	"    --log-key KEY   the log's verifier key (string or file)\n"
	"    --image FILE    the image (its SHA-256), instead of SHA256\n"
	"    --out FILE      bundle: where to write it (\"-\": standard\n"
	"                    output); default IMAGE.tlog-proof, or\n"
	"                    SHA256.tlog-proof\n"
	"    --json          lineage: print the verified list as JSON\n"
	"                    {\"digest\":...,\"events\":[...]} instead\n"
	"\n"
	"EXIT STATUS\n"
	"    0  success\n"
	"    1  verification failed, not found (not logged, no release), or\n"
	"       revoked\n"
	"    2  usage error\n"
	"    3  file or network error, or the log failed (5xx)\n"
	"\n"
	"EXAMPLES\n"
	"    ftlog get checkpoint --log http://127.0.0.1:8080 --log-key log.pub\n"
	"    ftlog get bundle --log http://127.0.0.1:8080 --log-key log.pub \\\n"
	"        --image gnb.bin\n"
	"    ftlog get lineage --log http://127.0.0.1:8080 --log-key log.pub \\\n"
	"        --image gnb.bin\n";

/* ---- The log: URL, key, requests. */

typedef struct logctx {
	const char *cmd;
	const char *url;
	ft_vkey key;
} logctx;

static void log_open(logctx *l, const args *a)
{
	ft_httpc_url u;
	char err[256];

	l->cmd = a->cmd;
	l->url = arg_need(a, "log");
	if (ft_httpc_parse_url(l->url, &u, err, sizeof(err)) != 0) {
		usage_error(a->cmd, "--log: %s", err);
	}
	load_vkey(a->cmd, "--log-key", arg_need(a, "log-key"), &l->key);
	if (l->key.type != FT_KEY_ED25519) {
		usage_error(a->cmd, "--log-key: not an Ed25519 note key");
	}
}

/* One request; transport failures end the program (exit 3). */
static void http(const logctx *l, const char *method, const char *path,
		 const void *body, size_t len, size_t max, ft_httpc_resp *r)
{
	ft_httpc_req q;
	char err[512];
	int rc;

	memset(&q, 0, sizeof(q));
	q.url = l->url;
	q.method = method;
	q.path = path;
	q.body = body;
	q.body_len = len;
	q.content_type = body != NULL ? "application/json" : NULL;
	q.max_body = max;
	rc = ft_httpc_do(&q, r, err, sizeof(err));
	if (rc != 0) {
		fatal(EX_IOERR, "%s %s%s: %s", method, l->url, path, err);
	}
}

/* An unexpected status: the log failed or is not an ftlog log. */
static void bad_status(const char *path, const ft_httpc_resp *r)
	__attribute__((noreturn));

static void bad_status(const char *path, const ft_httpc_resp *r)
{
	char line[256];

	ft_httpc_body_line(r, line, sizeof(line));
	fatal(EX_IOERR, "GET %s: the log answered %d: %s", path, r->status,
	      line);
}

static void sleep_ms(long ms)
{
	struct timespec ts;

	ts.tv_sec = ms / 1000;
	ts.tv_nsec = (ms % 1000) * 1000000L;
	while (nanosleep(&ts, &ts) != 0 && errno == EINTR) {
	}
}

static long mono_ms(void)
{
	struct timespec ts;

	(void)clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/*
 * http() that retries a 503 (busy, or not yet cosigned by the witness
 * quorum) for up to SUBMIT_RETRY_BUDGET_MS, honouring Retry-After, with
 * a line on stderr per retry. *r is the last answer.
 */
static void http_retry_busy(const logctx *l, const char *method,
			    const char *path, const uint8_t *body,
			    size_t body_len, size_t max, ft_httpc_resp *r)
{
	char line[512];
	long start = mono_ms();

	for (;;) {
		long wait, left;

		http(l, method, path, body, body_len, max, r);
		if (r->status != 503) {
			return;
		}
		wait = r->retry_after >= 1 ? r->retry_after * 1000 : 1000;
		left = SUBMIT_RETRY_BUDGET_MS - (mono_ms() - start);
		if (left <= 0) {
			return;
		}
		if (wait > left) {
			wait = left;
		}
		ft_httpc_body_line(r, line, sizeof(line));
		fprintf(stderr, "ftlog: the log answered 503 (%s); retrying "
				"in %ld ms\n",
			line, wait);
		ft_httpc_resp_free(r);
		sleep_ms(wait);
	}
}

/* GET /checkpoint, opened with the log key; cp points into r's body. */
static void fetch_checkpoint(const logctx *l, ft_checkpoint *cp,
			     ft_httpc_resp *r)
{
	size_t text_len;
	int rc;

	http(l, "GET", "/checkpoint", NULL, 0, CHECKPOINT_MAX, r);
	if (r->status != 200) {
		bad_status("/checkpoint", r);
	}
	rc = ft_note_open(r->body, r->body_len, &l->key, 1, NULL, &text_len);
	if (rc != 0) {
		fatal(EX_FAIL, "the log's checkpoint does not verify with %s: %s",
		      l->key.name, ft_strerror(rc));
	}
	rc = ft_checkpoint_parse(r->body, text_len, l->key.name,
				 l->key.name_len, cp);
	if (rc != 0) {
		fatal(EX_FAIL, "the log's checkpoint is not valid: %s",
		      ft_strerror(rc));
	}
}

/*
 * Verify a tlog-proof from the log: the extra line (the entry) decodes
 * into extra (FT_ENTRY_MAX bytes), the checkpoint is signed by the log key
 * with its origin, and the path leads from the entry's leaf to the root.
 * 0, or a negative code with what failed in why.
 */
static int check_tlog_proof(const logctx *l, const uint8_t *body, size_t len,
			    uint8_t *extra, size_t *extra_len, uint64_t *index,
			    ft_checkpoint *cp, char *why, size_t cap)
{
	ft_tlog_proof p;
	ft_hash leaf;
	size_t text_len;
	int rc;

	rc = ft_tlog_proof_parse(body, len, &p, extra, FT_ENTRY_MAX);
	if (rc == 0 && !p.has_extra) {
		rc = FT_ETLOGPROOF;
	}
	if (rc != 0) {
		(void)snprintf(why, cap, "not a tlog-proof with an entry: %s",
			       ft_strerror(rc));
		return rc;
	}
	rc = ft_note_open(p.checkpoint, p.checkpoint_len, &l->key, 1, NULL,
			  &text_len);
	if (rc != 0) {
		(void)snprintf(why, cap,
			       "its checkpoint does not verify with %s: %s",
			       l->key.name, ft_strerror(rc));
		return rc;
	}
	rc = ft_checkpoint_parse(p.checkpoint, text_len, l->key.name,
				 l->key.name_len, cp);
	if (rc != 0) {
		(void)snprintf(why, cap, "its checkpoint is not valid: %s",
			       ft_strerror(rc));
		return rc;
	}
	ft_merkle_leaf_hash(extra, p.extra_len, &leaf);
	rc = ft_proof_verify_inclusion(p.index, cp->size, leaf.b, FT_HASH_LEN,
				       (const uint8_t *)p.path,
				       p.path_len * FT_HASH_LEN, cp->root.b,
				       FT_HASH_LEN);
	if (rc != 0) {
		(void)snprintf(why, cap,
			       "its inclusion proof does not verify: %s",
			       ft_strerror(rc));
		return rc;
	}
	*extra_len = p.extra_len;
	*index = p.index;
	return 0;
}

/* Parse "index I\n" and then one base64 hash per line. 0 or -1. */
static int parse_inclusion(const uint8_t *b, size_t len, uint64_t *index,
			   ft_hash *path, size_t *n)
{
	const uint8_t *nl;
	size_t off;

	*n = 0;
	if (len < 7 || memcmp(b, "index ", 6) != 0) {
		return -1;
	}
	nl = memchr(b, '\n', len);
	if (nl == NULL ||
	    ft_parse_u63((const char *)b + 6, (size_t)(nl - b) - 6, index) !=
		    0) {
		return -1;
	}
	off = (size_t)(nl - b) + 1;
	while (off < len) {
		size_t dl;

		nl = memchr(b + off, '\n', len - off);
		if (nl == NULL || *n >= FT_PROOF_MAX_INCLUSION) {
			return -1;
		}
		if (ft_b64_decode((const char *)b + off,
				  (size_t)(nl - b) - off, path[*n].b,
				  FT_HASH_LEN, &dl) != 0 ||
		    dl != FT_HASH_LEN) {
			return -1;
		}
		(*n)++;
		off = (size_t)(nl - b) + 1;
	}
	return 0;
}

static int has_subject(const ft_event *ev, const uint8_t d[32])
{
	size_t i;

	for (i = 0; i < ev->n_subjects; i++) {
		if (memcmp(ev->subjects[i].sha256, d, 32) == 0) {
			return 1;
		}
	}
	return 0;
}


/* A file name made of safe characters only, or NULL. */
static const char *safe_base(const char *name)
{
	const char *b = strrchr(name, '/');
	size_t i;

	b = b != NULL ? b + 1 : name;
	if (b[0] == '\0' || b[0] == '.' || b[0] == '-' || strlen(b) > 200) {
		return NULL;
	}
	for (i = 0; b[i] != '\0'; i++) {
		char c = b[i];

		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
		      (c >= '0' && c <= '9') || c == '.' || c == '_' ||
		      c == '-' || c == '+')) {
			return NULL;
		}
	}
	return b;
}

static char *strcat2(const char *a, const char *b)
{
	size_t n = strlen(a) + strlen(b) + 1;
	char *s = malloc(n);

	if (s == NULL) {
		fatal(EX_IOERR, "out of memory");
	}
	(void)snprintf(s, n, "%s%s", a, b);
	return s;
}

/* ---- submit. */

static int cmd_submit_(int argc, char **argv)
{
	static const optspec spec[] = {{"log", OPT_ARG},
				       {"log-key", OPT_ARG},
				       {"image", OPT_ARG},
				       {"out", OPT_ARG},
				       {NULL, 0}};
	args a;
	logctx l;
	uint8_t *env, *extra;
	size_t env_len, extra_len;
	ft_event ev;
	char reason[512], hex[65], line[512];
	const char *image, *out;
	char *outbuf = NULL;
	ft_httpc_resp r;
	ft_checkpoint cp;
	uint64_t index;
	int rc, kind;

	args_parse(&a, "submit", spec, argc, argv, help_submit);
	if (a.npos != 1) {
		usage_error("submit", "give exactly one ENVELOPE file");
	}
	log_open(&l, &a);
	env = read_file(a.pos[0], FT_EVENT_MAX_BYTES, &env_len, "envelope");
	rc = ft_event_parse(env, env_len, &ev, reason, sizeof(reason));
	if (rc != 0) {
		fatal(EX_FAIL, "%s is not a valid firmware event: %s",
		      a.pos[0], reason);
	}
	kind = ev.kind;
	hex_encode(ev.subjects[0].sha256, 32, hex);
	image = arg_get(&a, "image");
	if (image != NULL) {
		uint8_t d[32];
		char ihex[65];

		hash_file(image, d);
		if (!has_subject(&ev, d)) {
			hex_encode(d, 32, ihex);
			fatal(EX_FAIL,
			      "%s (sha256 %s) is not a subject of %s",
			      image, ihex, a.pos[0]);
		}
	}
	out = arg_get(&a, "out");
	if (out == NULL) {
		const char *nm = ev.subjects[0].name;
		const char *b = nm != NULL ? safe_base(nm) : NULL;
		/* A release's proof is the one devices install with, under
		 * the DESIGN.md name <image>.tlog-proof; other kinds get
		 * <image>.<kind>.tlog-proof, so they never overwrite it. */
		const char *suffix = ".tlog-proof";

		switch (ev.kind) {
		case FT_EVENT_BUILD:
			suffix = ".build.tlog-proof";
			break;
		case FT_EVENT_DISTRIBUTION:
			suffix = ".distribution.tlog-proof";
			break;
		case FT_EVENT_REVOCATION:
			suffix = ".revocation.tlog-proof";
			break;
		default:
			break;
		}
		if (image != NULL) {
			outbuf = strcat2(image, suffix);
		} else if (b != NULL) {
			outbuf = strcat2(b, suffix);
		} else {
			outbuf = strcat2(hex, suffix);
		}
		out = outbuf;
	}
	ft_event_free(&ev);

	http_retry_busy(&l, "POST", "/add", env, env_len, FT_TLOG_PROOF_MAX,
			&r);
	if (r.status >= 400 && r.status < 500) {
		ft_httpc_body_line(&r, line, sizeof(line));
		fprintf(stderr, "REFUSED %d: %s\n", r.status, line);
		ft_httpc_resp_free(&r);
		free(outbuf);
		free(env);
		return EX_FAIL;
	}
	if (r.status != 200) {
		ft_httpc_body_line(&r, line, sizeof(line));
		fatal(EX_IOERR, "POST /add: the log answered %d: %s", r.status,
		      line);
	}
	extra = malloc(FT_ENTRY_MAX);
	if (extra == NULL) {
		fatal(EX_IOERR, "out of memory");
	}
	rc = check_tlog_proof(&l, r.body, r.body_len, extra, &extra_len,
			      &index, &cp, reason, sizeof(reason));
	if (rc != 0) {
		fatal(EX_FAIL, "the log's answer does not verify: %s", reason);
	}
	if (extra_len != env_len || memcmp(extra, env, env_len) != 0) {
		fatal(EX_FAIL, "the log's answer is a proof for another entry");
	}
	write_file_atomic(out, r.body, r.body_len, 0644);
	printf("logged %s index=%llu tree_size=%llu -> %s\n",
	       ft_event_kind_name(kind), (unsigned long long)index,
	       (unsigned long long)cp.size, out);
	if (fflush(stdout) != 0) {
		fatal(EX_IOERR, "cannot write to standard output");
	}
	ft_httpc_resp_free(&r);
	free(extra);
	free(outbuf);
	free(env);
	return EX_OK;
}

int cmd_submit(int argc, char **argv)
{
	return cmd_submit_(argc, argv);
}

/* ---- get checkpoint / proof. */

static const optspec get_spec_basic[] = {{"log", OPT_ARG},
					 {"log-key", OPT_ARG},
					 {NULL, 0}};

static int get_checkpoint(int argc, char **argv)
{
	args a;
	logctx l;
	ft_checkpoint cp;
	ft_httpc_resp r;

	args_parse(&a, "get checkpoint", get_spec_basic, argc, argv,
		   help_get);
	if (a.npos != 0) {
		usage_error(a.cmd, "unexpected argument \"%s\"", a.pos[0]);
	}
	log_open(&l, &a);
	fetch_checkpoint(&l, &cp, &r);
	if (fwrite(r.body, 1, r.body_len, stdout) != r.body_len ||
	    fflush(stdout) != 0) {
		fatal(EX_IOERR, "cannot write to standard output");
	}
	ft_httpc_resp_free(&r);
	return EX_OK;
}

/* GET /proof/inclusion?QUERY&size=S and verify it for leaf. 404 is "not
 * logged" (exit 1). */
static uint64_t fetch_inclusion(const logctx *l, const char *query,
				const ft_hash *leaf, const ft_checkpoint *cp,
				const char *what)
{
	char path[256];
	ft_httpc_resp r;
	ft_hash proof[FT_PROOF_MAX_INCLUSION];
	size_t n;
	uint64_t index;
	int rc;

	(void)snprintf(path, sizeof(path), "/proof/inclusion?%s&size=%llu",
		       query, (unsigned long long)cp->size);
	http(l, "GET", path, NULL, 0, PROOF_BODY_MAX, &r);
	if (r.status == 404) {
		fatal(EX_FAIL, "%s is not logged in the tree of size %llu",
		      what, (unsigned long long)cp->size);
	}
	if (r.status != 200) {
		bad_status(path, &r);
	}
	if (parse_inclusion(r.body, r.body_len, &index, proof, &n) != 0) {
		fatal(EX_FAIL, "GET %s: not an inclusion proof", path);
	}
	rc = ft_proof_verify_inclusion(index, cp->size, leaf->b, FT_HASH_LEN,
				       (const uint8_t *)proof,
				       n * FT_HASH_LEN, cp->root.b,
				       FT_HASH_LEN);
	if (rc != 0) {
		fatal(EX_FAIL,
		      "the inclusion proof of %s does not verify: %s", what,
		      ft_strerror(rc));
	}
	ft_httpc_resp_free(&r);
	return index;
}

static int get_proof(int argc, char **argv)
{
	args a;
	logctx l;
	ft_checkpoint cp;
	ft_httpc_resp r;
	uint8_t *env;
	size_t env_len;
	ft_hash leaf;
	char q[128], hex[65];
	uint64_t index;

	args_parse(&a, "get proof", get_spec_basic, argc, argv, help_get);
	if (a.npos != 1) {
		usage_error(a.cmd, "give exactly one ENVELOPE file");
	}
	log_open(&l, &a);
	env = read_file(a.pos[0], FT_EVENT_MAX_BYTES, &env_len, "envelope");
	ft_merkle_leaf_hash(env, env_len, &leaf);
	hex_encode(leaf.b, 32, hex);
	fetch_checkpoint(&l, &cp, &r);
	(void)snprintf(q, sizeof(q), "leaf=%s", hex);
	index = fetch_inclusion(&l, q, &leaf, &cp, a.pos[0]);
	printf("index=%llu tree_size=%llu\n", (unsigned long long)index,
	       (unsigned long long)cp.size);
	if (fflush(stdout) != 0) {
		fatal(EX_IOERR, "cannot write to standard output");
	}
	ft_httpc_resp_free(&r);
	free(env);
	return EX_OK;
}

/* ---- get bundle. */

static void digest_arg(const args *a, uint8_t d[32], char hex[65])
{
	if (a->npos > 1) {
		usage_error(a->cmd, "unexpected argument \"%s\"", a->pos[1]);
	}
	digest_from(a->cmd, arg_get(a, "image"), a->npos ? a->pos[0] : NULL,
		    d);
	hex_encode(d, 32, hex);
}

static int get_bundle(int argc, char **argv)
{
	static const optspec spec[] = {{"log", OPT_ARG},
				       {"log-key", OPT_ARG},
				       {"image", OPT_ARG},
				       {"out", OPT_ARG},
				       {NULL, 0}};
	args a;
	logctx l;
	uint8_t d[32], *extra;
	char hex[65], path[128], why[512], line[512];
	const char *out;
	char *outbuf = NULL;
	ft_httpc_resp r;
	ft_checkpoint cp;
	ft_event ev;
	size_t extra_len;
	uint64_t index;
	int rc;

	args_parse(&a, "get bundle", spec, argc, argv, help_get);
	log_open(&l, &a);
	digest_arg(&a, d, hex);
	(void)snprintf(path, sizeof(path), "/bundle/%s", hex);
	http_retry_busy(&l, "GET", path, NULL, 0, FT_TLOG_PROOF_MAX, &r);
	if (r.status == 404) {
		fatal(EX_FAIL, "no release logged for %s", hex);
	}
	if (r.status == 410) {
		ft_httpc_body_line(&r, line, sizeof(line));
		fprintf(stderr, "REVOKED: %s\n", line);
		ft_httpc_resp_free(&r);
		return EX_FAIL;
	}
	if (r.status != 200) {
		bad_status(path, &r);
	}
	extra = malloc(FT_ENTRY_MAX);
	if (extra == NULL) {
		fatal(EX_IOERR, "out of memory");
	}
	rc = check_tlog_proof(&l, r.body, r.body_len, extra, &extra_len,
			      &index, &cp, why, sizeof(why));
	if (rc != 0) {
		fatal(EX_FAIL, "the bundle for %s does not verify: %s", hex,
		      why);
	}
	rc = ft_event_parse(extra, extra_len, &ev, why, sizeof(why));
	if (rc != 0) {
		fatal(EX_FAIL, "the bundle's entry is not a valid event: %s",
		      why);
	}
	if (ev.kind != FT_EVENT_RELEASE) {
		fatal(EX_FAIL, "the bundle's entry is a %s, not a release",
		      ft_event_kind_name(ev.kind));
	}
	if (!has_subject(&ev, d)) {
		fatal(EX_FAIL, "the bundle's release is not about %s", hex);
	}
	out = arg_get(&a, "out");
	if (out == NULL) {
		outbuf = strcat2(arg_get(&a, "image") ? arg_get(&a, "image")
						      : hex,
				 ".tlog-proof");
		out = outbuf;
	}
	write_file_atomic(out, r.body, r.body_len, 0644);
	if (strcmp(out, "-") != 0) {
		printf("release product=%s version=%s security_version=%llu "
		       "index=%llu tree_size=%llu -> %s\n",
		       ev.product, ev.version,
		       (unsigned long long)ev.security_version,
		       (unsigned long long)index, (unsigned long long)cp.size,
		       out);
		if (fflush(stdout) != 0) {
			fatal(EX_IOERR, "cannot write to standard output");
		}
	}
	ft_event_free(&ev);
	ft_httpc_resp_free(&r);
	free(extra);
	free(outbuf);
	return EX_OK;
}

/* ---- get lineage. */

/* The entry bundle last fetched (events of one image are often close). */
typedef struct bundle_cache {
	int valid;
	ft_tile tile;
	ft_httpc_resp r;
} bundle_cache;

/* Entry `index` of a tree of cp->size, from the log's entry tiles.
 * Points into bc's data. */
static void fetch_entry(const logctx *l, const ft_checkpoint *cp,
			uint64_t index, bundle_cache *bc,
			const uint8_t **entry, size_t *len)
{
	ft_tile t;
	ft_bundle_iter it;
	char path[FT_TILE_PATH_MAX + 1];
	size_t plen;
	uint64_t i;
	int rc;

	rc = ft_tile_at(cp->size, FT_TILE_ENTRIES, index / FT_TILE_WIDTH, &t);
	if (rc != 0) {
		fatal(EX_FAIL, "entry %llu is not in the tree of size %llu",
		      (unsigned long long)index, (unsigned long long)cp->size);
	}
	if (!bc->valid || bc->tile.index != t.index ||
	    bc->tile.width != t.width) {
		ft_httpc_resp_free(&bc->r);
		bc->valid = 0;
		path[0] = '/';
		if (ft_tile_path(&t, path + 1, sizeof(path) - 1, &plen) != 0) {
			fatal(EX_IOERR, "internal: tile path");
		}
		http(l, "GET", path, NULL, 0, BUNDLE_MAX, &bc->r);
		if (bc->r.status != 200) {
			bad_status(path, &bc->r);
		}
		if (ft_bundle_check(bc->r.body, bc->r.body_len, t.width) !=
		    0) {
			fatal(EX_FAIL, "GET %s: not an entry bundle of %u "
				       "entries",
			      path, t.width);
		}
		bc->tile = t;
		bc->valid = 1;
	}
	ft_bundle_iter_init(&it, bc->r.body, bc->r.body_len);
	for (i = 0; i <= index % FT_TILE_WIDTH; i++) {
		if (ft_bundle_next(&it, entry, len) != 1) {
			fatal(EX_FAIL, "entry bundle too short");
		}
	}
}

/* A listed signer ("name" or "name+hex8") matches a signature keyid. */
static int signer_matches(const ft_event *ev, const char *s)
{
	size_t i, n = strlen(s);

	for (i = 0; i < ev->n_sigs; i++) {
		const char *k = ev->sigs[i].keyid;

		if (strcmp(k, s) == 0 ||
		    (strncmp(k, s, n) == 0 && k[n] == '+')) {
			return 1;
		}
	}
	return 0;
}

static void print_list(const char *label, const char *const *v, size_t n)
{
	size_t i;

	if (n == 0) {
		return;
	}
	printf(" %s=", label);
	for (i = 0; i < n; i++) {
		printf("%s%s", i ? "," : "", v[i]);
	}
}

static void print_event(uint64_t index, const ft_event *ev,
			const json_t *signers)
{
	size_t i;
	json_t *s;

	printf("%llu %s signers=", (unsigned long long)index,
	       ft_event_kind_name(ev->kind));
	json_array_foreach(signers, i, s) {
		printf("%s%s", i ? "," : "", json_string_value(s));
	}
	switch (ev->kind) {
	case FT_EVENT_BUILD:
		printf(" builder=%s build_type=%s", ev->builder_id,
		       ev->build_type);
		break;
	case FT_EVENT_RELEASE:
		printf(" product=%s vendor=%s version=%s security_version=%llu",
		       ev->product, ev->vendor, ev->version,
		       (unsigned long long)ev->security_version);
		print_list("hw", ev->hw, ev->n_hw);
		break;
	case FT_EVENT_DISTRIBUTION:
		printf(" product=%s channel=%s", ev->product, ev->channel);
		if (ev->version != NULL) {
			printf(" version=%s", ev->version);
		}
		print_list("regions", ev->regions, ev->n_regions);
		print_list("slices", ev->slices, ev->n_slices);
		if (ev->uri != NULL) {
			printf(" uri=%s", ev->uri);
		}
		break;
	case FT_EVENT_REVOCATION:
		printf(" target=%s",
		       ev->revoke == FT_REVOKE_KEY ? "key" : "image");
		if (ev->product != NULL) {
			printf(" product=%s", ev->product);
		}
		if (ev->revoke == FT_REVOKE_KEY) {
			printf(" key=%s+%08x", ev->revoked_key.name,
			       (unsigned)ev->revoked_key.id);
		}
		printf(" reason=\"%s\"", ev->reason);
		break;
	default:
		break;
	}
	putchar('\n');
}

static void jset(json_t *o, const char *k, json_t *v)
{
	if (v == NULL || json_object_set_new(o, k, v) != 0) {
		fatal(EX_IOERR, "out of memory");
	}
}

static json_t *jstrs(const char *const *v, size_t n)
{
	json_t *a = json_array();

	for (size_t i = 0; a != NULL && i < n; i++) {
		if (json_array_append_new(a, json_string(v[i])) != 0) {
			json_decref(a);
			a = NULL;
		}
	}
	if (a == NULL) {
		fatal(EX_IOERR, "out of memory");
	}
	return a;
}

static json_t *jhex(const uint8_t d[32])
{
	char h[65];

	hex_encode(d, 32, h);
	return json_string(h);
}

/*
 * The --json form of one verified event, built from the entry itself
 * (never from the log's lineage record, which is unauthenticated): index
 * and signers as checked, and the predicate's key fields as parsed.
 */
static json_t *event_json(uint64_t index, const ft_event *ev,
			  const json_t *signers)
{
	json_t *o = json_object();

	if (o == NULL) {
		fatal(EX_IOERR, "out of memory");
	}
	jset(o, "index", json_integer((json_int_t)index));
	jset(o, "kind", json_string(ft_event_kind_name(ev->kind)));
	jset(o, "signers", json_deep_copy(signers));
	switch (ev->kind) {
	case FT_EVENT_BUILD:
		jset(o, "build_type", json_string(ev->build_type));
		jset(o, "builder_id", json_string(ev->builder_id));
		break;
	case FT_EVENT_RELEASE:
		jset(o, "product", json_string(ev->product));
		jset(o, "vendor", json_string(ev->vendor));
		jset(o, "version", json_string(ev->version));
		jset(o, "security_version",
		     json_integer((json_int_t)ev->security_version));
		jset(o, "hardware_models", jstrs(ev->hw, ev->n_hw));
		if (ev->has_sbom) {
			jset(o, "sbom_sha256", jhex(ev->sbom_sha256));
		}
		if (ev->has_build_index) {
			jset(o, "build_index",
			     json_integer((json_int_t)ev->build_index));
		}
		if (ev->evidence_type != NULL) {
			json_t *e = json_object();

			if (e == NULL) {
				fatal(EX_IOERR, "out of memory");
			}
			jset(e, "type", json_string(ev->evidence_type));
			jset(e, "sha256", jhex(ev->evidence_sha256));
			jset(o, "evidence", e);
		}
		break;
	case FT_EVENT_DISTRIBUTION:
		jset(o, "product", json_string(ev->product));
		jset(o, "channel", json_string(ev->channel));
		if (ev->version != NULL) {
			jset(o, "version", json_string(ev->version));
		}
		if (ev->n_regions > 0) {
			jset(o, "regions", jstrs(ev->regions, ev->n_regions));
		}
		if (ev->n_slices > 0) {
			jset(o, "network_slices",
			     jstrs(ev->slices, ev->n_slices));
		}
		if (ev->uri != NULL) {
			jset(o, "uri", json_string(ev->uri));
		}
		break;
	case FT_EVENT_REVOCATION:
		jset(o, "target", json_string(ev->revoke == FT_REVOKE_KEY
						      ? "key"
						      : "image"));
		jset(o, "reason", json_string(ev->reason));
		if (ev->product != NULL) {
			jset(o, "product", json_string(ev->product));
		}
		if (ev->revoke == FT_REVOKE_KEY) {
			char k[FT_KEY_STR_MAX + 1];
			size_t kl;

			if (ft_vkey_format(&ev->revoked_key, k, sizeof(k),
					   &kl) != 0) {
				fatal(EX_FAIL, "entry %llu: revoked key "
					       "cannot be formatted",
				      (unsigned long long)index);
			}
			jset(o, "key", json_string(k));
		}
		break;
	default:
		break;
	}
	return o;
}

/* Fetch every page of GET /lineage/HEX into one array of events. */
static json_t *fetch_lineage(const logctx *l, const char *hex)
{
	json_t *all = json_array();
	long long after = -1, last = -1;
	size_t pages = 0;

	if (all == NULL) {
		fatal(EX_IOERR, "out of memory");
	}
	for (;;) {
		char path[160];
		ft_httpc_resp r;
		json_error_t je;
		json_t *doc, *evs, *e, *next;
		size_t i;

		if (++pages > LINEAGE_MAX_PAGES) {
			fatal(EX_FAIL, "lineage: too many pages");
		}
		if (after < 0) {
			(void)snprintf(path, sizeof(path), "/lineage/%s", hex);
		} else {
			(void)snprintf(path, sizeof(path),
				       "/lineage/%s?after=%lld", hex, after);
		}
		http(l, "GET", path, NULL, 0, LINEAGE_BODY_MAX, &r);
		if (r.status == 404 && after < 0) {
			fatal(EX_FAIL, "nothing logged names %s", hex);
		}
		if (r.status != 200) {
			bad_status(path, &r);
		}
		doc = json_loadb((const char *)r.body, r.body_len,
				 JSON_REJECT_DUPLICATES, &je);
		ft_httpc_resp_free(&r);
		if (!json_is_object(doc)) {
			fatal(EX_FAIL, "GET %s: not a JSON object (%s)", path,
			      doc == NULL ? je.text : "wrong type");
		}
		if (!json_is_string(json_object_get(doc, "digest")) ||
		    strcmp(json_string_value(json_object_get(doc, "digest")),
			   hex) != 0) {
			fatal(EX_FAIL, "GET %s: the answer is about another "
				       "digest",
			      path);
		}
		evs = json_object_get(doc, "events");
		if (!json_is_array(evs)) {
			fatal(EX_FAIL, "GET %s: no \"events\" array", path);
		}
		json_array_foreach(evs, i, e) {
			json_t *ix = json_object_get(e, "index");
			json_t *k = json_object_get(e, "kind");
			json_t *sg = json_object_get(e, "signers");
			json_t *s;
			size_t j;

			if (!json_is_object(e) || !json_is_integer(ix) ||
			    json_integer_value(ix) <= last ||
			    !json_is_string(k) || !json_is_array(sg)) {
				fatal(EX_FAIL,
				      "GET %s: event %zu is malformed or out "
				      "of order",
				      path, i);
			}
			json_array_foreach(sg, j, s) {
				if (!json_is_string(s)) {
					fatal(EX_FAIL,
					      "GET %s: event %zu: a signer "
					      "is not a string",
					      path, i);
				}
			}
			last = json_integer_value(ix);
			if (json_array_size(all) >= LINEAGE_MAX_EVENTS ||
			    json_array_append(all, e) != 0) {
				fatal(EX_FAIL, "lineage: too many events");
			}
		}
		next = json_object_get(doc, "next");
		if (next == NULL) {
			json_decref(doc);
			break;
		}
		if (!json_is_integer(next) || json_integer_value(next) <= after ||
		    json_integer_value(next) < 0) {
			fatal(EX_FAIL, "GET %s: bad \"next\"", path);
		}
		after = json_integer_value(next);
		json_decref(doc);
	}
	return all;
}

static int get_lineage(int argc, char **argv)
{
	static const optspec spec[] = {{"log", OPT_ARG},
				       {"log-key", OPT_ARG},
				       {"image", OPT_ARG},
				       {"json", 0},
				       {NULL, 0}};
	args a;
	logctx l;
	uint8_t d[32];
	char hex[65], why[512], q[64];
	json_t *all, *e, *verified;
	ft_checkpoint cp;
	ft_httpc_resp cr;
	bundle_cache bc;
	size_t i;
	int as_json;

	args_parse(&a, "get lineage", spec, argc, argv, help_get);
	log_open(&l, &a);
	digest_arg(&a, d, hex);
	as_json = arg_get(&a, "json") != NULL;
	all = fetch_lineage(&l, hex);
	verified = json_array();
	if (verified == NULL) {
		fatal(EX_IOERR, "out of memory");
	}
	/* The checkpoint after the list: it covers every listed event. */
	fetch_checkpoint(&l, &cp, &cr);
	memset(&bc, 0, sizeof(bc));
	json_array_foreach(all, i, e) {
		uint64_t index = (uint64_t)json_integer_value(
			json_object_get(e, "index"));
		const char *kind =
			json_string_value(json_object_get(e, "kind"));
		json_t *signers = json_object_get(e, "signers");
		const uint8_t *entry;
		size_t elen, j;
		ft_hash leaf;
		ft_event ev;
		json_t *s;

		if (index >= cp.size) {
			fatal(EX_FAIL,
			      "event %llu is beyond the checkpoint (size "
			      "%llu)",
			      (unsigned long long)index,
			      (unsigned long long)cp.size);
		}
		fetch_entry(&l, &cp, index, &bc, &entry, &elen);
		ft_merkle_leaf_hash(entry, elen, &leaf);
		(void)snprintf(q, sizeof(q), "index=%llu",
			       (unsigned long long)index);
		if (fetch_inclusion(&l, q, &leaf, &cp, "the entry") != index) {
			fatal(EX_FAIL, "the inclusion proof of entry %llu is "
				       "for another index",
			      (unsigned long long)index);
		}
		if (ft_event_parse(entry, elen, &ev, why, sizeof(why)) != 0) {
			fatal(EX_FAIL, "entry %llu is not a valid event: %s",
			      (unsigned long long)index, why);
		}
		if (strcmp(kind, ft_event_kind_name(ev.kind)) != 0) {
			fatal(EX_FAIL,
			      "entry %llu is a %s, but the log lists it as "
			      "a %s",
			      (unsigned long long)index,
			      ft_event_kind_name(ev.kind), kind);
		}
		if (!has_subject(&ev, d)) {
			fatal(EX_FAIL, "entry %llu does not name %s",
			      (unsigned long long)index, hex);
		}
		json_array_foreach(signers, j, s) {
			if (!signer_matches(&ev, json_string_value(s))) {
				fatal(EX_FAIL,
				      "entry %llu has no signature by %s, "
				      "which the log lists",
				      (unsigned long long)index,
				      json_string_value(s));
			}
		}
		if (!as_json) {
			print_event(index, &ev, signers);
		} else if (json_array_append_new(
				   verified, event_json(index, &ev, signers)) !=
			   0) {
			fatal(EX_IOERR, "out of memory");
		}
		ft_event_free(&ev);
	}
	if (as_json) {
		json_t *doc = json_pack("{s:s, s:O}", "digest", hex, "events",
					verified);
		char *txt = doc ? json_dumps(doc, JSON_COMPACT |
							  JSON_PRESERVE_ORDER)
				: NULL;

		if (txt == NULL) {
			fatal(EX_IOERR, "out of memory");
		}
		printf("%s\n", txt);
		free(txt);
		json_decref(doc);
	}
	if (fflush(stdout) != 0) {
		fatal(EX_IOERR, "cannot write to standard output");
	}
	ft_httpc_resp_free(&bc.r);
	ft_httpc_resp_free(&cr);
	json_decref(all);
	json_decref(verified);
	return EX_OK;
}

int cmd_get(int argc, char **argv)
{
	if (argc < 1) {
		usage_error("get", "say what to get: checkpoint, proof, bundle "
				   "or lineage");
	}
	if (strcmp(argv[0], "--help") == 0 || strcmp(argv[0], "-h") == 0) {
		fputs(help_get, stdout);
		return EX_OK;
	}
	if (strcmp(argv[0], "checkpoint") == 0) {
		return get_checkpoint(argc - 1, argv + 1);
	}
	if (strcmp(argv[0], "proof") == 0) {
		return get_proof(argc - 1, argv + 1);
	}
	if (strcmp(argv[0], "bundle") == 0) {
		return get_bundle(argc - 1, argv + 1);
	}
	if (strcmp(argv[0], "lineage") == 0) {
		return get_lineage(argc - 1, argv + 1);
	}
	usage_error("get", "unknown object \"%s\" (checkpoint, proof, bundle "
			   "or lineage)",
		    argv[0]);
}
