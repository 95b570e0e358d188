/*
 * tests/test_cosign.c - ftlogd with witnesses (logd/witness.h), end to
 * end: the real ftlogd on 127.0.0.1, the real `ftlog witness serve` for
 * the happy path, and a fake witness in this process for witnesses that
 * are slow, down or misbehave.
 *
 *   real        two real witnesses, quorum 2: GET /checkpoint, the tiles
 *               directory's checkpoint and the GET /bundle tlog-proof all
 *               carry both cosignatures (checked with the witness keys);
 *               metrics; after a restart with the witnesses gone, the
 *               published checkpoint is served again from
 *               DATA/published-checkpoint
 *   down        quorum 1, the only witness goes down: POST /add is still
 *               answered at once, /checkpoint stays at the older
 *               published checkpoint and /bundle of a newer release is
 *               503 with Retry-After; once the witness is back a retry
 *               round publishes (no new entry needed)
 *   misbehave   a witness that hangs, one that answers 500 and one whose
 *               cosignature does not verify: nothing is published (503),
 *               /add is not slowed, failures are counted, shutdown is
 *               prompt; once the third behaves, its cosignature (only
 *               its) is published
 *   conflict    a witness restarted with state from an earlier size gets
 *               409-resent a proof from that size; ftlogd restarted
 *               starts from the sizes its published checkpoint shows,
 *               and without that file learns them from 409; a witness
 *               claiming a size beyond the log's is not published
 *
 * The fake witness implements add-checkpoint with libftmerkle: it checks
 * the log's signature, keeps the size and root it last cosigned (409
 * otherwise), verifies consistency proofs and cosigns with a 0x04 key.
 *
 * Environment: FTLOG_BUILDDIR (logd/ftlogd, tools/ftlog), FTLOG_FTLOGD,
 * FTLOG_FTLOG (the ftlog binary, with "witness"), FTLOG_KEEP_TMP.
 */
#define _DEFAULT_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <check.h>
#include <sodium.h>

#include <ftlog/event.h>
#include <ftlog/note.h>
#include <ftlog/tlogproof.h>
#include <ftlog/witness.h>

#include "tests/logd_harness.h"
#include "tests/testutil.h"

#define ORIGIN "example.org/cosign-test"
#define WAIT_MS 15000

static int64_t now_ms(void)
{
	struct timespec ts;

	(void)clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* ---- The fake witness. ------------------------------------------------ */

enum fw_mode {
	FW_OK = 0,  /* a correct witness */
	FW_HANG,    /* never answers (until the mode changes or stop) */
	FW_500,     /* 500 with a reason */
	FW_BADSIG,  /* 200 with a cosignature over other text */
	FW_AHEAD,   /* 409 with a size far beyond the log's */
};

#define FW_HIST 64

typedef struct fake {
	ft_skey key;
	char vkey[FT_KEY_STR_MAX];
	const lh_server *log;
	int port;
	int lfd;
	pthread_t thread;
	atomic_int stop;
	atomic_int mode;
	atomic_int down;
	pthread_mutex_t mu; /* everything below */
	int have;           /* a cosigned size */
	uint64_t size;
	ft_hash root;
	uint64_t hist_size[FW_HIST]; /* roots of sizes it cosigned */
	ft_hash hist_root[FW_HIST];
	size_t nhist;
	uint64_t olds[256]; /* the "old" of every request, in order */
	size_t nolds;
	unsigned requests, n409, n200;
} fake;

static int listen_on(int port)
{
	struct sockaddr_in a;
	socklen_t alen = sizeof a;
	int one = 1;
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);

	if (fd < 0) {
		return -1;
	}
	(void)setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
	memset(&a, 0, sizeof a);
	a.sin_family = AF_INET;
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	a.sin_port = htons((uint16_t)port);
	if (bind(fd, (struct sockaddr *)&a, sizeof a) != 0 ||
	    listen(fd, 16) != 0 ||
	    getsockname(fd, (struct sockaddr *)&a, &alen) != 0) {
		close(fd);
		return -1;
	}
	return fd;
}

static void send_all(int fd, const void *p, size_t n)
{
	const char *c = p;

	while (n > 0) {
		ssize_t w = send(fd, c, n, MSG_NOSIGNAL);
		if (w < 0 && errno == EINTR) {
			continue;
		}
		if (w <= 0) {
			return;
		}
		c += w;
		n -= (size_t)w;
	}
}

static void reply(int fd, int status, const char *ctype, const void *body,
		  size_t len)
{
	char head[256];
	int n = snprintf(head, sizeof head,
			 "HTTP/1.1 %d X\r\nContent-Type: %s\r\n"
			 "Content-Length: %zu\r\nConnection: close\r\n\r\n",
			 status, ctype, len);

	send_all(fd, head, (size_t)n);
	send_all(fd, body, len);
}

static void reply_text(int fd, int status, const char *text)
{
	reply(fd, status, "text/plain", text, strlen(text));
}

/* Read one request; its body malloc'd in *body. 0 or -1. */
static int read_request(int fd, uint8_t **body, size_t *blen)
{
	char head[8192];
	size_t hl = 0;
	char *end = NULL;

	*body = NULL;
	while (end == NULL) {
		struct pollfd p = {fd, POLLIN, 0};
		if (hl + 1 >= sizeof head || poll(&p, 1, 5000) != 1) {
			return -1;
		}
		ssize_t r = recv(fd, head + hl, sizeof head - 1 - hl, 0);
		if (r <= 0) {
			return -1;
		}
		hl += (size_t)r;
		head[hl] = 0;
		end = strstr(head, "\r\n\r\n");
	}
	/* The request line is checked before the head is lowercased. */
	if (strncmp(head, "POST /add-checkpoint ", 21) != 0) {
		return -1;
	}
	for (char *c = head; c < end; c++) {
		if (*c >= 'A' && *c <= 'Z') {
			*c = (char)(*c - 'A' + 'a');
		}
	}
	char *cl = strstr(head, "\r\ncontent-length:");
	if (cl == NULL) {
		return -1;
	}
	size_t want = strtoul(cl + 17, NULL, 10);
	if (want > FT_ADDCP_BODY_MAX) {
		return -1;
	}
	uint8_t *b = malloc(want + 1);
	size_t have = hl - (size_t)(end + 4 - head);
	if (b == NULL || have > want) {
		free(b);
		return -1;
	}
	memcpy(b, end + 4, have);
	while (have < want) {
		struct pollfd p = {fd, POLLIN, 0};
		ssize_t r;
		if (poll(&p, 1, 5000) != 1 ||
		    (r = recv(fd, b + have, want - have, 0)) <= 0) {
			free(b);
			return -1;
		}
		have += (size_t)r;
	}
	*body = b;
	*blen = want;
	return 0;
}

static void fake_hist_add(fake *f, uint64_t size, const ft_hash *root)
{
	if (f->nhist < FW_HIST) {
		f->hist_size[f->nhist] = size;
		f->hist_root[f->nhist] = *root;
		f->nhist++;
	}
}

/* add-checkpoint for one connection (the fake's thread). */
static void fake_handle(fake *f, int fd)
{
	uint8_t *body = NULL;
	size_t blen = 0, text_len = 0, llen = 0;
	ft_addcp req;
	ft_checkpoint cp;
	char line[FT_NOTE_SIG_LINE_MAX + 1];
	char msg[64];
	int mode = atomic_load(&f->mode);

	if (read_request(fd, &body, &blen) != 0) {
		return;
	}
	if (ft_addcp_parse(body, blen, &req) != 0) {
		reply_text(fd, 400, "malformed\n");
		goto out;
	}
	pthread_mutex_lock(&f->mu);
	f->requests++;
	if (f->nolds < 256) {
		f->olds[f->nolds++] = req.old_size;
	}
	pthread_mutex_unlock(&f->mu);
	if (mode == FW_HANG) {
		int64_t until = now_ms() + 10000;
		while (!atomic_load(&f->stop) && now_ms() < until &&
		       atomic_load(&f->mode) == FW_HANG) {
			tu_sleep_ms(20);
		}
		goto out; /* no answer at all */
	}
	if (mode == FW_500) {
		reply_text(fd, 500, "witness is broken\n");
		goto out;
	}
	if (ft_note_open(req.note, req.note_len, &f->log->vkey, 1, NULL,
			 &text_len) != 0 ||
	    ft_checkpoint_parse(req.note, text_len, f->log->origin,
				strlen(f->log->origin), &cp) != 0) {
		reply_text(fd, 403, "bad log signature\n");
		goto out;
	}
	if (mode == FW_AHEAD) {
		int n = snprintf(msg, sizeof msg, "%llu\n",
				 (unsigned long long)cp.size + 1000);
		reply(fd, 409, FT_ADDCP_SIZE_CT, msg, (size_t)n);
		goto out;
	}
	pthread_mutex_lock(&f->mu);
	uint64_t cur = f->have ? f->size : 0;
	if (req.old_size != cur) {
		f->n409++;
		pthread_mutex_unlock(&f->mu);
		int n = snprintf(msg, sizeof msg, "%llu\n",
				 (unsigned long long)cur);
		reply(fd, 409, FT_ADDCP_SIZE_CT, msg, (size_t)n);
		goto out;
	}
	int ok;
	if (req.old_size > cp.size) {
		ok = 0;
	} else if (req.old_size == 0) {
		ok = req.nproof == 0;
	} else if (req.old_size == cp.size) {
		ok = req.nproof == 0 && ft_hash_equal(&f->root, &cp.root);
	} else {
		ok = ft_proof_verify_consistency(
			     req.old_size, cp.size, f->root.b, 32, cp.root.b, 32,
			     (const uint8_t *)req.proof, req.nproof * 32) == 0;
	}
	if (!ok) {
		pthread_mutex_unlock(&f->mu);
		reply_text(fd, 422, "consistency proof does not verify\n");
		goto out;
	}
	if (mode == FW_BADSIG) {
		static const uint8_t other[] = "not the checkpoint\n";
		ok = ft_note_sig_line(&f->key, other, sizeof other - 1,
				      (uint64_t)time(NULL), line, sizeof line,
				      &llen) == 0;
	} else {
		ok = ft_note_sig_line(&f->key, req.note, text_len,
				      (uint64_t)time(NULL), line, sizeof line,
				      &llen) == 0;
	}
	if (!ok) {
		pthread_mutex_unlock(&f->mu);
		reply_text(fd, 500, "cannot cosign\n");
		goto out;
	}
	if (mode != FW_BADSIG) {
		f->have = 1;
		f->size = cp.size;
		f->root = cp.root;
		fake_hist_add(f, cp.size, &cp.root);
		f->n200++;
	}
	pthread_mutex_unlock(&f->mu);
	reply(fd, 200, "text/plain", line, llen);
out:
	free(body);
}

static void *fake_main(void *arg)
{
	fake *f = arg;

	while (!atomic_load(&f->stop)) {
		if (atomic_load(&f->down) && f->lfd >= 0) {
			close(f->lfd);
			f->lfd = -1;
		}
		if (!atomic_load(&f->down) && f->lfd < 0) {
			f->lfd = listen_on(f->port);
		}
		if (f->lfd < 0) {
			tu_sleep_ms(20);
			continue;
		}
		struct pollfd p = {f->lfd, POLLIN, 0};
		if (poll(&p, 1, 50) != 1) {
			continue;
		}
		int c = accept(f->lfd, NULL, NULL);
		if (c < 0) {
			continue;
		}
		fake_handle(f, c);
		close(c);
	}
	if (f->lfd >= 0) {
		close(f->lfd);
	}
	return NULL;
}

static void fake_start(fake *f, const char *name, const lh_server *log,
		       int mode)
{
	ft_vkey pub;
	size_t n;
	struct sockaddr_in a;
	socklen_t alen = sizeof a;

	memset(f, 0, sizeof *f);
	pthread_mutex_init(&f->mu, NULL);
	f->log = log;
	atomic_store(&f->mode, mode);
	ck_assert_int_eq(ft_key_generate(name, strlen(name), FT_KEY_COSIG_V1,
					 &f->key),
			 0);
	ft_skey_public(&f->key, &pub);
	ck_assert_int_eq(ft_vkey_format(&pub, f->vkey, sizeof f->vkey, &n),
			 0);
	f->lfd = listen_on(0);
	ck_assert_int_ge(f->lfd, 0);
	ck_assert_int_eq(getsockname(f->lfd, (struct sockaddr *)&a, &alen), 0);
	f->port = ntohs(a.sin_port);
	ck_assert_int_eq(pthread_create(&f->thread, NULL, fake_main, f), 0);
}

static void fake_stop(fake *f)
{
	atomic_store(&f->stop, 1);
	pthread_join(f->thread, NULL);
	pthread_mutex_destroy(&f->mu);
	ft_skey_wipe(&f->key);
}

static void fake_vkey(const fake *f, ft_vkey *out)
{
	ft_skey_public(&f->key, out);
}

/* ---- The real witness (`ftlog witness`). ------------------------------ */

static const char *ftlog_path(void)
{
	static char path[1024];
	const char *p = getenv("FTLOG_FTLOG");
	const char *b = getenv("FTLOG_BUILDDIR");

	if (p != NULL && *p != 0) {
		return p;
	}
	(void)snprintf(path, sizeof path, "%s/tools/ftlog",
		       b != NULL && *b != 0 ? b : ".");
	return path;
}

/* fork + exec ftlog argv, stdout to out_path (may be NULL), stderr
 * appended to err_path. The pid. */
static pid_t ftlog_spawn(const char *const *argv, const char *out_path,
			 const char *err_path)
{
	char *av[32];
	size_t n = 0;
	pid_t parent = getpid();

	av[n++] = (char *)ftlog_path();
	for (size_t i = 0; argv[i] != NULL && n < 31; i++) {
		av[n++] = (char *)argv[i];
	}
	av[n] = NULL;
	pid_t pid = fork();
	ck_assert_int_ge(pid, 0);
	if (pid == 0) {
		(void)prctl(PR_SET_PDEATHSIG, SIGKILL);
		if (getppid() != parent) {
			_exit(127);
		}
		int in = open("/dev/null", O_RDONLY);
		int o = out_path != NULL
				? open(out_path, O_WRONLY | O_CREAT | O_TRUNC,
				       0600)
				: open("/dev/null", O_WRONLY);
		int e = open(err_path, O_WRONLY | O_CREAT | O_APPEND, 0600);
		if (in < 0 || o < 0 || e < 0 || dup2(in, 0) < 0 ||
		    dup2(o, 1) < 0 || dup2(e, 2) < 0) {
			_exit(127);
		}
		execv(av[0], av);
		_exit(127);
	}
	return pid;
}

typedef struct realw {
	char dir[600];
	char vkey[FT_KEY_STR_MAX];
	pid_t pid;
	int port;
} realw;

/* `ftlog witness init`; 0, or -1 if this ftlog has no witness command. */
static int realw_init(realw *w, const char *root, const char *name)
{
	char *out = tu_strf("%s/%s.vkey", root, name);
	char *err = tu_strf("%s/%s.log", root, name);
	int st = 0;
	size_t len = 0;

	memset(w, 0, sizeof *w);
	(void)snprintf(w->dir, sizeof w->dir, "%s/%s", root, name);
	const char *av[] = {"witness", "init", "--dir", w->dir, "--name",
			    name, NULL};
	pid_t pid = ftlog_spawn(av, out, err);
	ck_assert_int_eq(waitpid(pid, &st, 0), pid);
	uint8_t *v = tu_read_file(out, &len);
	int rc = -1;
	if (WIFEXITED(st) && WEXITSTATUS(st) == 0 && v != NULL && len > 1 &&
	    len < sizeof w->vkey) {
		memcpy(w->vkey, v, len - 1); /* without the newline */
		rc = 0;
	}
	free(v);
	free(out);
	free(err);
	return rc;
}

static void realw_start(realw *w, const lh_server *log)
{
	char *logs = tu_strf("%s.logs", w->dir);
	char *ready = tu_strf("%s.ready", w->dir);
	char *err = tu_strf("%s.log", w->dir);
	char *line = tu_strf("%s\n", log->vkey_str);

	ck_assert_int_eq(tu_write_file(logs, line, strlen(line)), 0);
	(void)unlink(ready);
	const char *av[] = {"witness", "serve", "--dir", w->dir, "--logs",
			    logs, "--listen", "127.0.0.1:0", "--ready-file",
			    ready, NULL};
	w->pid = ftlog_spawn(av, NULL, err);
	int64_t until = now_ms() + 20000;
	size_t len = 0;
	uint8_t *r = NULL;
	while ((r = tu_read_file(ready, &len)) == NULL && now_ms() < until) {
		tu_sleep_ms(20);
	}
	ck_assert_msg(r != NULL, "ftlog witness serve did not start (%s)",
		      err);
	char *colon = strrchr((char *)r, ':');
	ck_assert_ptr_nonnull(colon);
	w->port = atoi(colon + 1);
	ck_assert_int_gt(w->port, 0);
	free(r);
	free(logs);
	free(ready);
	free(err);
	free(line);
}

static void realw_kill(realw *w)
{
	if (w->pid > 0) {
		(void)kill(w->pid, SIGTERM);
		(void)waitpid(w->pid, NULL, 0);
		w->pid = 0;
	}
}

/* ---- ftlogd helpers. -------------------------------------------------- */

/* Write s->dir/witnesses with n "KEY http://127.0.0.1:PORT" lines. */
static char *write_witnesses(const lh_server *s, const char *const *keys,
			     const int *ports, size_t n)
{
	char *path = tu_strf("%s/witnesses", s->dir);
	char *text = tu_strf("# test witnesses\n");

	for (size_t i = 0; i < n; i++) {
		char *t = tu_strf("%s\n%s http://127.0.0.1:%d\n", text, keys[i],
				  ports[i]);
		free(text);
		text = t;
	}
	ck_assert_int_eq(tu_write_file(path, text, strlen(text)), 0);
	free(text);
	return path;
}

static void start_logd(lh_server *s, int tiles, const char *witnesses,
		       const char *quorum, const char *timeout)
{
	const char *args[] = {"--witnesses",     witnesses, "--witness-quorum",
			      quorum,            "--witness-timeout", timeout,
			      "--batch-interval", "50ms",    NULL};

	ck_assert_msg(lh_start(s, tiles, args) == 0, "ftlogd did not start");
}

/* A signed release event about image `tag`; its digest out. */
static uint8_t *release_event(const char *tag, uint8_t digest[32],
			      size_t *len)
{
	ft_event_subject sub;
	char reason[256] = "";
	char *st = NULL, *env = NULL;
	size_t stlen = 0;
	char *img = tu_strf("cosign test image %s", tag);
	char *pred = tu_strf("{\"product\":\"gnb-du\",\"vendor\":\"example\","
			     "\"version\":\"%s\",\"security_version\":1,"
			     "\"hardware_models\":[\"hw-a1\"]}",
			     tag);

	ck_assert_int_eq(crypto_hash_sha256(digest, (const uint8_t *)img,
					    strlen(img)),
			 0);
	sub.name = "firmware.bin";
	memcpy(sub.sha256, digest, 32);
	ck_assert_msg(ft_event_statement(FT_EVENT_RELEASE, &sub, 1, pred,
					 strlen(pred), &st, &stlen, reason,
					 sizeof reason) == 0,
		      "statement: %s", reason);
	ck_assert_int_eq(ft_event_sign((const uint8_t *)st, stlen,
				       lh_test_key(), 1, &env, len),
			 0);
	free(st);
	free(img);
	free(pred);
	return (uint8_t *)env;
}

/* POST /add of build event n; its index. Asserts a quick answer. */
static uint64_t add_build(lh_server *s, uint64_t n, int64_t max_ms)
{
	uint8_t *e = NULL;
	size_t len = 0;
	uint64_t index = 0;
	int64_t t0 = now_ms();

	ck_assert_int_eq(lh_event(n, 0, &e, &len), 0);
	ck_assert_msg(lh_add(s->port, e, len, &index, NULL) == 0,
		      "POST /add failed");
	ck_assert_msg(now_ms() - t0 <= max_ms,
		      "POST /add took %lld ms (sequencing waited?)",
		      (long long)(now_ms() - t0));
	free(e);
	return index;
}

static uint64_t add_release(lh_server *s, const char *tag, uint8_t d[32])
{
	size_t len = 0;
	uint64_t index = 0;
	uint8_t *e = release_event(tag, d, &len);

	ck_assert_msg(lh_add(s->port, e, len, &index, NULL) == 0,
		      "POST /add of a release failed");
	free(e);
	return index;
}

/*
 * Open a published checkpoint with the log key and the witness keys:
 * FT_E* code; size out; ok[i] whether witness i verified; the number of
 * signature lines out.
 */
static int open_published(const lh_server *s, const uint8_t *note,
			  size_t len, const ft_vkey *wk, size_t n,
			  uint64_t *size, int *ok, size_t *nlines)
{
	ft_vkey known[8];
	ft_note_sig st[8];
	ft_checkpoint cp;
	size_t text_len = 0;
	int rc;

	known[0] = s->vkey;
	for (size_t i = 0; i < n; i++) {
		known[1 + i] = wk[i];
	}
	rc = ft_note_open(note, len, known, 1 + n, st, &text_len);
	if (rc != 0) {
		return rc;
	}
	if (!st[0].verified) {
		return FT_ENOTE_NOKEY;
	}
	rc = ft_checkpoint_parse(note, text_len, s->origin, strlen(s->origin),
				 &cp);
	if (rc != 0) {
		return rc;
	}
	*size = cp.size;
	for (size_t i = 0; i < n; i++) {
		ok[i] = st[1 + i].verified;
	}
	*nlines = 0;
	for (size_t i = text_len + 1; i < len; i++) {
		*nlines += note[i] == '\n';
	}
	return 0;
}

/*
 * Poll GET /checkpoint until it is 200 with size >= want and every
 * witness in wk cosigned it; the body out. Fails after WAIT_MS.
 */
static void wait_published(const lh_server *s, uint64_t want,
			   const ft_vkey *wk, size_t n, lh_resp *out)
{
	int64_t until = now_ms() + WAIT_MS;
	uint64_t size = 0;
	int ok[8];
	size_t lines = 0;

	for (;;) {
		lh_resp r;
		int good = 0;

		ck_assert_int_eq(lh_http(s->port, "GET", "/checkpoint", NULL, 0,
					 &r),
				 0);
		if (r.status == 200 &&
		    open_published(s, r.body, r.body_len, wk, n, &size, ok,
				   &lines) == 0 &&
		    size >= want) {
			good = 1;
			for (size_t i = 0; i < n; i++) {
				good &= ok[i];
			}
		}
		if (good) {
			*out = r;
			return;
		}
		if (now_ms() > until) {
			ck_abort_msg("no checkpoint of size %llu cosigned by "
				     "%zu witnesses; last: %d\n%s",
				     (unsigned long long)want, n, r.status,
				     (char *)r.body);
		}
		lh_resp_free(&r);
		tu_sleep_ms(50);
	}
}

/* The value of a metric line "name value" (name with labels). */
static long long metric(const lh_server *s, const char *name)
{
	lh_resp r;
	long long v = -1;

	ck_assert_int_eq(lh_http(s->port, "GET", "/metrics", NULL, 0, &r), 0);
	ck_assert_int_eq(r.status, 200);
	char *want = tu_strf("\n%s ", name);
	char *p = strstr((char *)r.body, want);
	if (p != NULL) {
		v = atoll(p + strlen(want));
	}
	free(want);
	lh_resp_free(&r);
	return v;
}

static void get(const lh_server *s, const char *path, lh_resp *r)
{
	ck_assert_int_eq(lh_http(s->port, "GET", path, NULL, 0, r), 0);
}

static char *bundle_path(const uint8_t d[32])
{
	char hex[65];

	lh_hex(d, 32, hex);
	return tu_strf("/bundle/%s", hex);
}

/* ---- Tests. ----------------------------------------------------------- */

START_TEST(real_witnesses_cosign)
{
	lh_server s;
	realw w[2];
	fake fk[2];
	ft_vkey wk[2];
	int ports[2], use_real = 1, ok[2];
	const char *keys[2];
	uint8_t d[32];
	uint64_t size = 0, idx;
	size_t lines = 0;
	lh_resp cpr, r;

	ck_assert_int_eq(lh_init(&s, ORIGIN), 0);
	for (int i = 0; i < 2 && use_real; i++) {
		char name[32];
		(void)snprintf(name, sizeof name, "w%d.example/witness", i);
		for (char *c = name; *c; c++) {
			*c = *c == '/' ? '-' : *c; /* also a directory name */
		}
		use_real = realw_init(&w[i], s.dir, name) == 0;
	}
	if (!use_real) {
		fprintf(stderr, "test_cosign: %s has no witness command; the "
			"happy path uses the fake witness\n", ftlog_path());
	}
	for (int i = 0; i < 2; i++) {
		if (use_real) {
			realw_start(&w[i], &s);
			keys[i] = w[i].vkey;
			ports[i] = w[i].port;
			ck_assert_int_eq(ft_vkey_parse(w[i].vkey,
						       strlen(w[i].vkey),
						       &wk[i]),
					 0);
		} else {
			fake_start(&fk[i], i == 0 ? "w0.example" : "w1.example",
				   &s, FW_OK);
			keys[i] = fk[i].vkey;
			ports[i] = fk[i].port;
			fake_vkey(&fk[i], &wk[i]);
		}
		ck_assert_int_eq(wk[i].type, FT_KEY_COSIG_V1);
	}
	char *wf = write_witnesses(&s, keys, ports, 2);
	start_logd(&s, 1, wf, "2", "3s");

	idx = add_release(&s, "1.0", d);
	ck_assert_uint_eq(idx, 0);
	ck_assert_uint_eq(add_build(&s, 1, 3000), 1);
	ck_assert_uint_eq(add_build(&s, 2, 3000), 2);
	wait_published(&s, 3, wk, 2, &cpr);
	ck_assert_int_eq(open_published(&s, cpr.body, cpr.body_len, wk, 2,
					&size, ok, &lines),
			 0);
	ck_assert_uint_eq(size, 3);
	ck_assert_uint_eq(lines, 3); /* the log and the two witnesses */

	/* The bundle proves against the published checkpoint. */
	char *bp = bundle_path(d);
	get(&s, bp, &r);
	ck_assert_int_eq(r.status, 200);
	{
		ft_tlog_proof tp;
		uint8_t *extra = malloc(65536);
		ck_assert_int_eq(ft_tlog_proof_parse(r.body, r.body_len, &tp,
						     extra, 65536),
				 0);
		ck_assert_uint_eq(tp.index, 0);
		ck_assert_int_eq(open_published(&s, tp.checkpoint,
						tp.checkpoint_len, wk, 2,
						&size, ok, &lines),
				 0);
		ck_assert_uint_eq(size, 3);
		ck_assert(ok[0] && ok[1]);
		ck_assert_int_eq(lh_check_tlog_proof(&s, r.body, r.body_len,
						     NULL, 0, NULL, NULL, NULL,
						     NULL, NULL),
				 0);
		free(extra);
	}
	lh_resp_free(&r);

	/* The tiles directory's checkpoint is the published one. */
	{
		char *p = tu_strf("%s/checkpoint", s.tiles);
		int64_t until = now_ms() + WAIT_MS;
		size_t len = 0;
		uint8_t *b;
		for (;;) {
			b = tu_read_file(p, &len);
			if (b != NULL && len == cpr.body_len &&
			    memcmp(b, cpr.body, len) == 0) {
				break;
			}
			ck_assert_msg(now_ms() < until, "tiles checkpoint is "
				      "not the published one:\n%s",
				      b != NULL ? (char *)b : "(none)");
			free(b);
			tu_sleep_ms(50);
		}
		free(b);
		free(p);
	}

	/* Metrics: both witnesses counted, the published size. */
	for (int i = 0; i < 2; i++) {
		char *m = tu_strf("ftlog_witness_cosignatures_total"
				  "{witness=\"%s\"}", wk[i].name);
		ck_assert_int_ge(metric(&s, m), 1);
		free(m);
	}
	ck_assert_int_eq(metric(&s, "ftlog_published_checkpoint_size"), 3);

	/* Restart with the witnesses gone: the published checkpoint is
	 * served again, byte for byte, from DATA/published-checkpoint. */
	ck_assert_int_eq(lh_stop(&s), 0);
	ck_assert_int_eq(lh_log_clean(&s), 0);
	for (int i = 0; i < 2; i++) {
		if (use_real) {
			realw_kill(&w[i]);
		} else {
			fake_stop(&fk[i]);
		}
	}
	start_logd(&s, 1, wf, "2", "300ms");
	get(&s, "/checkpoint", &r);
	ck_assert_int_eq(r.status, 200);
	ck_assert_uint_eq(r.body_len, cpr.body_len);
	ck_assert(memcmp(r.body, cpr.body, r.body_len) == 0);
	lh_resp_free(&r);
	/* A new entry is logged at once but not published. */
	ck_assert_uint_eq(add_build(&s, 3, 3000), 3);
	tu_sleep_ms(800);
	get(&s, "/checkpoint", &r);
	ck_assert_int_eq(r.status, 200);
	ck_assert(r.body_len == cpr.body_len &&
		  memcmp(r.body, cpr.body, r.body_len) == 0);
	lh_resp_free(&r);
	ck_assert_int_eq(lh_stop(&s), 0);
	ck_assert_int_eq(lh_log_clean(&s), 0);
	lh_resp_free(&cpr);
	free(bp);
	free(wf);
	lh_cleanup(&s);
}
END_TEST

START_TEST(witness_down_then_up)
{
	lh_server s;
	fake f;
	ft_vkey wk;
	lh_resp cp0, r;
	uint8_t d[32];
	char hdr[64];

	ck_assert_int_eq(lh_init(&s, ORIGIN), 0);
	fake_start(&f, "down.example/w", &s, FW_OK);
	fake_vkey(&f, &wk);
	const char *keys[] = {f.vkey};
	int ports[] = {f.port};
	char *wf = write_witnesses(&s, keys, ports, 1);
	start_logd(&s, 0, wf, "1", "500ms");
	wait_published(&s, 0, &wk, 1, &cp0); /* the empty tree, cosigned */

	atomic_store(&f.down, 1);
	tu_sleep_ms(100);
	/* Sequencing does not wait for the witness. */
	ck_assert_uint_eq(add_build(&s, 1, 2000), 0);
	ck_assert_uint_eq(add_release(&s, "2.0", d), 1);
	tu_sleep_ms(700);
	get(&s, "/checkpoint", &r);
	ck_assert_int_eq(r.status, 200);
	ck_assert(r.body_len == cp0.body_len &&
		  memcmp(r.body, cp0.body, r.body_len) == 0);
	lh_resp_free(&r);
	char *bp = bundle_path(d);
	get(&s, bp, &r);
	ck_assert_int_eq(r.status, 503);
	ck_assert_int_eq(lh_header(&r, "Retry-After", hdr, sizeof hdr), 0);
	ck_assert_str_eq(hdr, "1");
	ck_assert_ptr_nonnull(strstr((char *)r.body, "not yet in a checkpoint "
					     "cosigned"));
	lh_resp_free(&r);
	ck_assert_int_ge(metric(&s, "ftlog_witness_failures_total"
				    "{witness=\"down.example/w\"}"),
			 1);

	/* Back up: a retry round publishes without any new entry. */
	atomic_store(&f.down, 0);
	wait_published(&s, 2, &wk, 1, &r);
	lh_resp_free(&r);
	get(&s, bp, &r);
	ck_assert_int_eq(r.status, 200);
	ck_assert_int_eq(lh_check_tlog_proof(&s, r.body, r.body_len, NULL, 0,
					     NULL, NULL, NULL, NULL, NULL),
			 0);
	lh_resp_free(&r);
	ck_assert_int_eq(lh_stop(&s), 0);
	ck_assert_int_eq(lh_log_clean(&s), 0);
	fake_stop(&f);
	lh_resp_free(&cp0);
	free(bp);
	free(wf);
	lh_cleanup(&s);
}
END_TEST

START_TEST(misbehaving_witnesses)
{
	lh_server s;
	fake f[3];
	ft_vkey wk[3];
	lh_resp r;
	const char *names[] = {"hang.example/w", "err.example/w",
			       "bad.example/w"};
	const int modes[] = {FW_HANG, FW_500, FW_BADSIG};
	const char *keys[3];
	int ports[3], ok[3];
	uint64_t size = 0;
	size_t lines = 0;
	char hdr[64];

	ck_assert_int_eq(lh_init(&s, ORIGIN), 0);
	for (int i = 0; i < 3; i++) {
		fake_start(&f[i], names[i], &s, modes[i]);
		fake_vkey(&f[i], &wk[i]);
		keys[i] = f[i].vkey;
		ports[i] = f[i].port;
	}
	char *wf = write_witnesses(&s, keys, ports, 3);
	start_logd(&s, 0, wf, "1", "400ms");
	ck_assert_uint_eq(add_build(&s, 1, 2000), 0);
	ck_assert_uint_eq(add_build(&s, 2, 2000), 1);
	tu_sleep_ms(1200);
	get(&s, "/checkpoint", &r);
	ck_assert_int_eq(r.status, 503);
	ck_assert_str_eq((char *)r.body, "no checkpoint has been cosigned by a "
					 "quorum of witnesses yet\n");
	ck_assert_int_eq(lh_header(&r, "Retry-After", hdr, sizeof hdr), 0);
	lh_resp_free(&r);
	for (int i = 0; i < 3; i++) {
		char *m = tu_strf("ftlog_witness_failures_total"
				  "{witness=\"%s\"}", names[i]);
		ck_assert_int_ge(metric(&s, m), 1);
		free(m);
		m = tu_strf("ftlog_witness_cosignatures_total{witness=\"%s\"}",
			    names[i]);
		ck_assert_int_eq(metric(&s, m), 0);
		free(m);
	}
	/* The bad witness behaves now: its cosignature alone is published
	 * (the others' lines are absent). */
	atomic_store(&f[2].mode, FW_OK);
	wait_published(&s, 2, &wk[2], 1, &r);
	ck_assert_int_eq(open_published(&s, r.body, r.body_len, wk, 3, &size,
					ok, &lines),
			 0);
	ck_assert_uint_eq(size, 2);
	ck_assert(!ok[0] && !ok[1] && ok[2]);
	ck_assert_uint_eq(lines, 2);
	lh_resp_free(&r);
	/* Stopping is prompt although one witness never answers. */
	int64_t t0 = now_ms();
	ck_assert_int_eq(lh_stop(&s), 0);
	ck_assert_int_lt(now_ms() - t0, 5000);
	ck_assert_int_eq(lh_log_clean(&s), 0);
	for (int i = 0; i < 3; i++) {
		fake_stop(&f[i]);
	}
	free(wf);
	lh_cleanup(&s);
}
END_TEST

/*
 * Quorum 1 of 2 with one witness that never answers: the checkpoint is
 * published as soon as the good witness cosigned it, not when the round's
 * timeout (20 s here) gives up on the other (logd/witness.h).
 */
START_TEST(quorum_publishes_before_slowest)
{
	lh_server s;
	fake f[2];
	ft_vkey wk[2];
	lh_resp r;
	const char *names[] = {"good.example/w", "hang.example/w"};
	const int modes[] = {FW_OK, FW_HANG};
	const char *keys[2];
	int ports[2];

	ck_assert_int_eq(lh_init(&s, ORIGIN), 0);
	for (int i = 0; i < 2; i++) {
		fake_start(&f[i], names[i], &s, modes[i]);
		fake_vkey(&f[i], &wk[i]);
		keys[i] = f[i].vkey;
		ports[i] = f[i].port;
	}
	char *wf = write_witnesses(&s, keys, ports, 2);
	start_logd(&s, 0, wf, "1", "20s");
	int64_t t0 = now_ms();
	ck_assert_uint_eq(add_build(&s, 1, 5000), 0);
	wait_published(&s, 1, &wk[0], 1, &r);
	int64_t took = now_ms() - t0;
	ck_assert_msg(took < 10000, "published after %lld ms: it waited for "
				    "the witness that never answers",
		      (long long)took);
	lh_resp_free(&r);
	/* Let the hanging witness go (it closes without an answer), so
	 * that ftlogd's request to it ends and stopping is prompt. */
	atomic_store(&f[1].mode, FW_500);
	ck_assert_int_eq(lh_stop(&s), 0);
	ck_assert_int_eq(lh_log_clean(&s), 0);
	for (int i = 0; i < 2; i++) {
		fake_stop(&f[i]);
	}
	free(wf);
	lh_cleanup(&s);
}
END_TEST

START_TEST(witness_conflicts)
{
	lh_server s;
	fake f;
	ft_vkey wk;
	lh_resp r, pub;
	uint64_t size = 0;
	int ok[1];
	size_t lines = 0;

	ck_assert_int_eq(lh_init(&s, ORIGIN), 0);
	fake_start(&f, "conflict.example/w", &s, FW_OK);
	fake_vkey(&f, &wk);
	const char *keys[] = {f.vkey};
	int ports[] = {f.port};
	char *wf = write_witnesses(&s, keys, ports, 1);
	start_logd(&s, 1, wf, "1", "1s");
	ck_assert_uint_eq(add_build(&s, 1, 2000), 0);
	wait_published(&s, 1, &wk, 1, &r);
	lh_resp_free(&r);
	ck_assert_uint_eq(add_build(&s, 2, 2000), 1);
	ck_assert_uint_eq(add_build(&s, 3, 2000), 2);
	wait_published(&s, 3, &wk, 1, &r);
	lh_resp_free(&r);

	/* The witness comes back from a backup taken at size 1. */
	pthread_mutex_lock(&f.mu);
	ck_assert_uint_eq(f.size, 3);
	size_t h;
	for (h = 0; h < f.nhist && f.hist_size[h] != 1; h++) {
	}
	ck_assert_uint_lt(h, f.nhist);
	f.size = 1;
	f.root = f.hist_root[h];
	f.nolds = 0;
	f.n409 = 0;
	pthread_mutex_unlock(&f.mu);
	ck_assert_uint_eq(add_build(&s, 4, 2000), 3);
	wait_published(&s, 4, &wk, 1, &r);
	lh_resp_free(&r);
	pthread_mutex_lock(&f.mu);
	/* old 3 -> 409 "1" -> old 1 with the proof 1..4 */
	ck_assert_uint_ge(f.nolds, 2);
	ck_assert_uint_eq(f.olds[0], 3);
	ck_assert_uint_eq(f.olds[1], 1);
	ck_assert_uint_eq(f.n409, 1);
	ck_assert_uint_eq(f.size, 4);
	f.nolds = 0;
	f.n409 = 0;
	pthread_mutex_unlock(&f.mu);

	/* ftlogd restarted starts from the size its published checkpoint
	 * shows the witness cosigned: old 4 at once, no 409. */
	ck_assert_int_eq(lh_stop(&s), 0);
	ck_assert_int_eq(lh_log_clean(&s), 0);
	pthread_mutex_lock(&f.mu);
	f.nolds = 0;
	f.n409 = 0;
	pthread_mutex_unlock(&f.mu);
	start_logd(&s, 1, wf, "1", "1s");
	ck_assert_uint_eq(add_build(&s, 5, 2000), 4);
	wait_published(&s, 5, &wk, 1, &r);
	lh_resp_free(&r);
	pthread_mutex_lock(&f.mu);
	ck_assert_uint_ge(f.nolds, 1);
	ck_assert_uint_eq(f.olds[0], 4);
	ck_assert_uint_eq(f.n409, 0);
	ck_assert_uint_eq(f.size, 5);
	f.nolds = 0;
	f.n409 = 0;
	pthread_mutex_unlock(&f.mu);

	/* Without its published checkpoint, a restarted ftlogd knows no
	 * witness size: 0 -> 409 "5" -> 5. */
	ck_assert_int_eq(lh_stop(&s), 0);
	ck_assert_int_eq(lh_log_clean(&s), 0);
	char *pc = tu_strf("%s/published-checkpoint", s.data);
	ck_assert_int_eq(unlink(pc), 0);
	free(pc);
	start_logd(&s, 1, wf, "1", "1s");
	ck_assert_uint_eq(add_build(&s, 6, 2000), 5);
	wait_published(&s, 6, &wk, 1, &pub);
	pthread_mutex_lock(&f.mu);
	ck_assert_uint_ge(f.nolds, 2);
	ck_assert_uint_eq(f.olds[0], 0);
	ck_assert_uint_eq(f.n409, 1);
	ck_assert_uint_eq(f.size, 6);
	pthread_mutex_unlock(&f.mu);

	/* A witness claiming a size beyond the log's is not published. */
	atomic_store(&f.mode, FW_AHEAD);
	ck_assert_uint_eq(add_build(&s, 7, 2000), 6);
	tu_sleep_ms(1500);
	get(&s, "/checkpoint", &r);
	ck_assert_int_eq(r.status, 200);
	ck_assert_int_eq(open_published(&s, r.body, r.body_len, &wk, 1, &size,
					ok, &lines),
			 0);
	ck_assert_uint_eq(size, 6);
	ck_assert(r.body_len == pub.body_len &&
		  memcmp(r.body, pub.body, r.body_len) == 0);
	lh_resp_free(&r);
	{
		size_t len = 0;
		uint8_t *log = tu_read_file(s.log, &len);
		ck_assert_ptr_nonnull(log);
		ck_assert_ptr_nonnull(strstr((char *)log, "another view"));
		free(log);
	}
	ck_assert_int_eq(lh_stop(&s), 0);
	ck_assert_int_eq(lh_log_clean(&s), 0);
	fake_stop(&f);
	lh_resp_free(&pub);
	free(wf);
	lh_cleanup(&s);
}
END_TEST

static Suite *cosign_suite(void)
{
	Suite *s = suite_create("cosign");
	TCase *tc = tcase_create("witnesses");

	tcase_add_unchecked_fixture(tc, lh_suite_setup, lh_suite_teardown);
	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, real_witnesses_cosign);
	tcase_add_test(tc, witness_down_then_up);
	tcase_add_test(tc, misbehaving_witnesses);
	tcase_add_test(tc, quorum_publishes_before_slowest);
	tcase_add_test(tc, witness_conflicts);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	signal(SIGPIPE, SIG_IGN);
	if (ft_init() != 0) {
		return 1;
	}
	return tu_run_suite(cosign_suite());
}
