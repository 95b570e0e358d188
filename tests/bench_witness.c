/*
 * tests/bench_witness.c - add-checkpoint requests per second of the real
 * witness (`ftlog witness serve`), beside this machine's limits measured
 * in the same run.
 *
 * Each accepted add-checkpoint costs the witness one Ed25519 verification
 * (the log's signature), one Ed25519 signature (its cosignature) and one
 * durable LMDB commit (the new checkpoint must be on disk before the
 * answer: C2SP tlog-witness). So the limits printed are:
 *  - Ed25519 verify+sign pairs per second on one core (libsodium, the
 *    same ~150-byte checkpoint text);
 *  - durable commits per second on the witness's own disk: a 4 KiB
 *    pwrite + fdatasync in its directory, twice per commit (LMDB syncs
 *    its data pages, then its meta page), i.e. half the fdatasync rate.
 * The figure's ratio is to the smaller of the two.
 *
 * Load: L logs (default 4; FTLOG_BENCH_LOGS), each with its own Ed25519
 * key and a growing tree built here; one thread per log, each with one
 * keep-alive connection to 127.0.0.1, sends the checkpoints of sizes
 * 1, 2, 3, ... in order, each with the consistency proof from the size
 * the witness holds (a request depends on the previous answer, so one
 * request is in flight per log). Every answer must be 200 with a body
 * starting with the cosignature mark; anything else fails the run. Runs
 * for FTLOG_BENCH_SECONDS (default 5) or until the prepared checkpoints
 * (FTLOG_BENCH_CHECKPOINTS per log, default 20000) are used up. Also a
 * run with one log only (latency-bound: one request in flight in all).
 *
 * Timings are information, never asserted: the exit status is 1 only if
 * something fails functionally. Environment: FTLOG_BUILDDIR
 * (tools/ftlog in it).
 */
#define _GNU_SOURCE /* strcasestr */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <sodium.h>

#include <ftlog/common.h>
#include <ftlog/merkle.h>
#include <ftlog/note.h>
#include <ftlog/witness.h>

#include "tests/testutil.h"

static void die(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));

static void die(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	fprintf(stderr, "bench_witness: ");
	vfprintf(stderr, fmt, ap);
	fprintf(stderr, "\n");
	va_end(ap);
	exit(1);
}

static double now_s(void)
{
	struct timespec ts;

	(void)clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static long env_long(const char *name, long def)
{
	const char *v = getenv(name);
	char *end;
	long x;

	if (v == NULL || *v == 0) {
		return def;
	}
	x = strtol(v, &end, 10);
	return *end == 0 && x > 0 ? x : def;
}

/* ---- An in-memory tree: every complete node, by level. */

typedef struct mtree {
	ft_tree t;
	ft_hash *lv[64];
	uint64_t n[64], cap[64];
} mtree;

static int mt_node(void *ctx, unsigned level, uint64_t index,
		   const ft_hash *hash)
{
	mtree *m = ctx;

	if (index != m->n[level]) {
		return FT_EINVAL;
	}
	if (m->n[level] == m->cap[level]) {
		uint64_t c = m->cap[level] ? 2 * m->cap[level] : 64;
		ft_hash *p = realloc(m->lv[level], c * sizeof *p);

		if (p == NULL) {
			return FT_ENOMEM;
		}
		m->lv[level] = p;
		m->cap[level] = c;
	}
	m->lv[level][m->n[level]++] = *hash;
	return 0;
}

static int mt_read(void *ctx, const ft_node_id *ids, size_t n, ft_hash *out)
{
	const mtree *m = ctx;

	for (size_t i = 0; i < n; i++) {
		if (ids[i].level >= 64 || ids[i].index >= m->n[ids[i].level]) {
			return FT_EREAD;
		}
		out[i] = m->lv[ids[i].level][ids[i].index];
	}
	return 0;
}

static void mt_free(mtree *m)
{
	for (int i = 0; i < 64; i++) {
		free(m->lv[i]);
	}
}

/* ---- One log: its key and its prepared requests. */

typedef struct blog {
	ft_skey key;
	char vkey[FT_KEY_STR_MAX + 1];
	size_t nreq;
	uint8_t **req;   /* full HTTP requests, size i+1 from size i */
	size_t *req_len;
	/* results */
	uint64_t ok;
	int failed;
	char why[256];
	double t0, t1;
	int port;
	double seconds;
} blog;

static void log_make(blog *b, int k, size_t nreq)
{
	char name[64];
	uint8_t seed[32];
	mtree m;
	size_t len;

	memset(b, 0, sizeof *b);
	memset(&m, 0, sizeof m);
	ft_tree_init(&m.t);
	(void)snprintf(name, sizeof name, "bench.example/log-%d", k);
	memset(seed, 0x40 + k, sizeof seed);
	if (ft_key_from_seed(name, strlen(name), FT_KEY_ED25519, seed,
			     &b->key) != 0) {
		die("log key");
	}
	ft_vkey vk;
	ft_skey_public(&b->key, &vk);
	if (ft_vkey_format(&vk, b->vkey, sizeof b->vkey, &len) != 0) {
		die("log vkey");
	}
	b->vkey[len] = 0;
	b->nreq = nreq;
	b->req = calloc(nreq, sizeof *b->req);
	b->req_len = calloc(nreq, sizeof *b->req_len);
	if (b->req == NULL || b->req_len == NULL) {
		die("out of memory");
	}
	ft_hash_reader hr = {mt_read, &m};
	for (size_t i = 0; i < nreq; i++) {
		uint8_t leaf_data[16], text[512], note[1024], body[4096];
		size_t tlen, nlen, blen, np = 0;
		ft_hash leaf, proof[FT_PROOF_MAX_CONSISTENCY];
		ft_checkpoint cp;

		memcpy(leaf_data, &i, sizeof i);
		memcpy(leaf_data + 8, &k, sizeof k);
		ft_merkle_leaf_hash(leaf_data, sizeof leaf_data, &leaf);
		if (ft_tree_append(&m.t, &leaf, mt_node, &m) != 0) {
			die("tree");
		}
		memset(&cp, 0, sizeof cp);
		memcpy(cp.origin, name, strlen(name) + 1);
		cp.origin_len = strlen(name);
		cp.size = m.t.size;
		ft_tree_root(&m.t, &cp.root);
		if (ft_checkpoint_format(&cp, text, sizeof text, &tlen) != 0 ||
		    ft_note_sign(text, tlen, &b->key, 1, 0, note, sizeof note,
				 &nlen) != 0) {
			die("checkpoint");
		}
		if (i > 0 && ft_proof_consistency(i, i + 1, &hr, proof, &np) !=
				     0) {
			die("proof");
		}
		if (ft_addcp_format(i, proof, np, note, nlen, body,
				    sizeof body, &blen) != 0) {
			die("body");
		}
		char head[256];
		int hl = snprintf(head, sizeof head,
				  "POST /add-checkpoint HTTP/1.1\r\n"
				  "Host: 127.0.0.1\r\n"
				  "Content-Length: %zu\r\n\r\n",
				  blen);
		b->req_len[i] = (size_t)hl + blen;
		b->req[i] = malloc(b->req_len[i]);
		if (b->req[i] == NULL) {
			die("out of memory");
		}
		memcpy(b->req[i], head, (size_t)hl);
		memcpy(b->req[i] + hl, body, blen);
	}
	mt_free(&m);
}

static void log_free(blog *b)
{
	for (size_t i = 0; i < b->nreq; i++) {
		free(b->req[i]);
	}
	free(b->req);
	free(b->req_len);
	ft_skey_wipe(&b->key);
}

/* Read one response on fd; 0 and its status, or -1. The body must be
 * Content-Length delimited (the witness always sends one). */
static int read_response(int fd, char *buf, size_t cap, int *status,
			 char *first_body_byte)
{
	size_t have = 0;
	char *end = NULL;

	for (;;) {
		ssize_t r = read(fd, buf + have, cap - 1 - have);

		if (r <= 0) {
			return -1;
		}
		have += (size_t)r;
		buf[have] = 0;
		end = strstr(buf, "\r\n\r\n");
		if (end != NULL) {
			break;
		}
		if (have >= cap - 1) {
			return -1;
		}
	}
	if (sscanf(buf, "HTTP/1.1 %d", status) != 1) {
		return -1;
	}
	char *cl = strcasestr(buf, "\r\ncontent-length:");
	if (cl == NULL || cl > end) {
		return -1;
	}
	size_t want = strtoul(cl + 17, NULL, 10);
	size_t head = (size_t)(end + 4 - buf);
	while (have < head + want) {
		if (head + want >= cap) {
			return -1;
		}
		ssize_t r = read(fd, buf + have, cap - 1 - have);
		if (r <= 0) {
			return -1;
		}
		have += (size_t)r;
	}
	*first_body_byte = want > 0 ? buf[head] : 0;
	return 0;
}

static void *log_run(void *arg)
{
	blog *b = arg;
	struct sockaddr_in sa;
	char buf[8192];
	int one = 1;
	int fd = socket(AF_INET, SOCK_STREAM, 0);

	if (fd < 0) {
		b->failed = 1;
		(void)snprintf(b->why, sizeof b->why, "socket: %s",
			       strerror(errno));
		return NULL;
	}
	memset(&sa, 0, sizeof sa);
	sa.sin_family = AF_INET;
	sa.sin_port = htons((uint16_t)b->port);
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	(void)setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
	if (connect(fd, (struct sockaddr *)&sa, sizeof sa) != 0) {
		b->failed = 1;
		(void)snprintf(b->why, sizeof b->why, "connect: %s",
			       strerror(errno));
		close(fd);
		return NULL;
	}
	b->t0 = now_s();
	for (size_t i = 0; i < b->nreq; i++) {
		int status = 0;
		char c0 = 0;
		size_t off = 0;

		while (off < b->req_len[i]) {
			ssize_t w = write(fd, b->req[i] + off,
					  b->req_len[i] - off);
			if (w <= 0) {
				b->failed = 1;
				(void)snprintf(b->why, sizeof b->why,
					       "write: %s", strerror(errno));
				goto out;
			}
			off += (size_t)w;
		}
		if (read_response(fd, buf, sizeof buf, &status, &c0) != 0) {
			b->failed = 1;
			(void)snprintf(b->why, sizeof b->why,
				       "request %zu: no valid response", i);
			goto out;
		}
		/* "\u2014" starts with byte 0xe2. */
		if (status != 200 || (unsigned char)c0 != 0xe2) {
			b->failed = 1;
			(void)snprintf(b->why, sizeof b->why,
				       "request %zu: status %d", i, status);
			goto out;
		}
		b->ok++;
		if (now_s() - b->t0 >= b->seconds) {
			break;
		}
	}
out:
	b->t1 = now_s();
	close(fd);
	return NULL;
}

/* ---- The witness process. */

static const char *ftlog_path(void)
{
	static char path[4096];
	const char *d = getenv("FTLOG_BUILDDIR");

	(void)snprintf(path, sizeof path, "%s/tools/ftlog",
		       d != NULL && *d != 0 ? d : ".");
	return path;
}

static int run_wait(char *const argv[], const char *out_path)
{
	pid_t pid = fork();
	int st;

	if (pid < 0) {
		return -1;
	}
	if (pid == 0) {
		int fd = open(out_path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
		if (fd >= 0) {
			(void)dup2(fd, 1);
			close(fd);
		}
		execv(argv[0], argv);
		_exit(127);
	}
	if (waitpid(pid, &st, 0) != pid) {
		return -1;
	}
	return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

static pid_t start_witness(const char *dir, const char *logs, int *port)
{
	char ready[1100], wdir[1100], logpath[1100];
	pid_t pid;

	(void)snprintf(ready, sizeof ready, "%s/ready", dir);
	(void)snprintf(wdir, sizeof wdir, "%s/w", dir);
	(void)snprintf(logpath, sizeof logpath, "%s/witness.log", dir);
	pid = fork();
	if (pid < 0) {
		return -1;
	}
	if (pid == 0) {
		int fd = open(logpath, O_WRONLY | O_CREAT | O_APPEND, 0600);
		if (fd >= 0) {
			(void)dup2(fd, 2);
			close(fd);
		}
		execl(ftlog_path(), "ftlog", "witness", "serve", "--dir", wdir,
		      "--logs", logs, "--listen", "127.0.0.1:0",
		      "--ready-file", ready, (char *)NULL);
		_exit(127);
	}
	for (int i = 0; i < 200; i++) {
		size_t len;
		uint8_t *r = tu_read_file(ready, &len);

		if (r != NULL) {
			const char *colon = strrchr((char *)r, ':');
			*port = colon != NULL ? atoi(colon + 1) : 0;
			free(r);
			if (*port > 0) {
				return pid;
			}
		}
		tu_sleep_ms(50);
	}
	kill(pid, SIGKILL);
	(void)waitpid(pid, NULL, 0);
	return -1;
}

static void stop_witness(pid_t pid)
{
	int st;

	kill(pid, SIGTERM);
	(void)waitpid(pid, &st, 0);
}

/* ---- Limits. */

static double limit_sig_pairs(void)
{
	uint8_t pk[32], sk[64], msg[150], sig[64];
	double t0, t;
	uint64_t n = 0;

	crypto_sign_keypair(pk, sk);
	memset(msg, 'c', sizeof msg);
	t0 = now_s();
	do {
		for (int i = 0; i < 100; i++) {
			msg[0] = (uint8_t)n;
			crypto_sign_detached(sig, NULL, msg, sizeof msg, sk);
			if (crypto_sign_verify_detached(sig, msg, sizeof msg,
							pk) != 0) {
				die("verify");
			}
			n++;
		}
		t = now_s() - t0;
	} while (t < 1.0);
	return (double)n / t;
}

static double limit_fdatasync(const char *dir)
{
	char path[1100];
	uint8_t page[4096];
	double t0, t;
	uint64_t n = 0;
	int fd;

	(void)snprintf(path, sizeof path, "%s/fsync-probe", dir);
	fd = open(path, O_RDWR | O_CREAT | O_TRUNC, 0600);
	if (fd < 0) {
		die("open %s", path);
	}
	memset(page, 7, sizeof page);
	t0 = now_s();
	do {
		page[0] = (uint8_t)n;
		if (pwrite(fd, page, sizeof page, (off_t)(n % 16) * 4096) !=
			    (ssize_t)sizeof page ||
		    fdatasync(fd) != 0) {
			die("fdatasync");
		}
		n++;
		t = now_s() - t0;
	} while (t < 1.0);
	close(fd);
	(void)unlink(path);
	return (double)n / t;
}

static double run_logs(blog *logs, int nlogs, int port, double seconds)
{
	pthread_t th[64];
	uint64_t ok = 0;
	double t0 = 1e300, t1 = 0;

	for (int i = 0; i < nlogs; i++) {
		logs[i].port = port;
		logs[i].seconds = seconds;
		logs[i].ok = 0;
		if (pthread_create(&th[i], NULL, log_run, &logs[i]) != 0) {
			die("pthread_create");
		}
	}
	for (int i = 0; i < nlogs; i++) {
		(void)pthread_join(th[i], NULL);
		if (logs[i].failed) {
			die("log %d: %s", i, logs[i].why);
		}
		ok += logs[i].ok;
		t0 = logs[i].t0 < t0 ? logs[i].t0 : t0;
		t1 = logs[i].t1 > t1 ? logs[i].t1 : t1;
	}
	return (double)ok / (t1 - t0);
}

int main(void)
{
	int nlogs = (int)env_long("FTLOG_BENCH_LOGS", 4);
	size_t ncp = (size_t)env_long("FTLOG_BENCH_CHECKPOINTS", 20000);
	double seconds = (double)env_long("FTLOG_BENCH_SECONDS", 5);
	blog *logs;
	char *dir, logs_path[1024], keyout[1024], wdir[1024];
	FILE *f;
	int port = 0;

	if (sodium_init() < 0) {
		die("sodium_init");
	}
	if (nlogs > 64) {
		nlogs = 64;
	}
	dir = tu_tmpdir();
	printf("== witness add-checkpoint (ftlog witness serve on "
	       "127.0.0.1; tmp %s)\n",
	       dir);
	fflush(stdout);
	/* One extra log for the single-log run: fresh sizes from 0. */
	logs = calloc((size_t)nlogs + 1, sizeof *logs);
	if (logs == NULL) {
		die("out of memory");
	}
	for (int i = 0; i <= nlogs; i++) {
		log_make(&logs[i], i, ncp);
	}
	(void)snprintf(logs_path, sizeof logs_path, "%s/logs", dir);
	f = fopen(logs_path, "w");
	if (f == NULL) {
		die("cannot write %s", logs_path);
	}
	for (int i = 0; i <= nlogs; i++) {
		fprintf(f, "%s\n", logs[i].vkey);
	}
	if (fclose(f) != 0) {
		die("cannot write %s", logs_path);
	}
	(void)snprintf(wdir, sizeof wdir, "%s/w", dir);
	(void)snprintf(keyout, sizeof keyout, "%s/init.out", dir);
	char *init_argv[] = {(char *)ftlog_path(), "witness", "init", "--dir",
			     wdir, "--name", "bench.example/witness", NULL};
	if (run_wait(init_argv, keyout) != 0) {
		die("ftlog witness init failed (%s)", ftlog_path());
	}
	double pairs = limit_sig_pairs();
	double syncs = limit_fdatasync(wdir);
	double commit_limit = syncs / 2;
	double limit = pairs < commit_limit ? pairs : commit_limit;
	printf("limits: Ed25519 sign+verify pairs %.0f/s (1 core); "
	       "fdatasync %.0f/s on the witness's disk -> durable commits "
	       "%.0f/s; limit %.0f/s\n",
	       pairs, syncs, commit_limit, limit);

	pid_t w = start_witness(dir, logs_path, &port);
	if (w < 0) {
		die("the witness did not start (see %s/witness.log)", dir);
	}
	double one = run_logs(&logs[nlogs], 1, port, seconds);
	printf("witness add-checkpoint, 1 log, 1 request in flight: "
	       "%.0f req/s; %.2f of the limit\n",
	       one, one / limit);
	double many = run_logs(logs, nlogs, port, seconds);
	printf("witness add-checkpoint, %d logs, %d connections: %.0f req/s; "
	       "%.2f of the limit\n",
	       nlogs, nlogs, many, many / limit);
	fflush(stdout);
	stop_witness(w);
	for (int i = 0; i <= nlogs; i++) {
		log_free(&logs[i]);
	}
	free(logs);
	tu_rmtree(dir);
	free(dir);
	return 0;
}
