/*
 * tests/bench_logd.c - load figures for the real ftlogd, beside this
 * machine's limits measured in the same run.
 *
 * A small load generator of our own: epoll, non-blocking sockets, N
 * keep-alive connections to 127.0.0.1, exactly one request in flight per
 * connection (a closed loop: a connection sends its next request when the
 * previous answer is complete). With one request in flight per client and
 * a sequencer that answers a submission only after its batch is durable,
 * Little's law bounds the append rate at clients / latency: 64 clients and
 * a 500 ms batch interval can never exceed 128 entries/s. So appends are
 * measured twice: with 64 clients (the latency figure) and with enough
 * clients to reach the throughput target (FTLOG_BENCH_APPEND_CONNS,
 * default 12000).
 *
 * Figures, one line each:
 *  - limits: SHA-256 of 1 KiB messages (nettle), Ed25519 verifications
 *    (libsodium); append rates are also printed as a fraction of these
 *    (one leaf hash per 1 KiB entry is the floor of the work per entry; a
 *    production validator verifies at least one Ed25519 signature);
 *  - append: entries/s with p50/p99 latency (unique 1 KiB entries);
 *  - the tree is grown to 10^6 entries (10^7 with FTLOG_BENCH_BIG=1) with
 *    the same clients, as fast as they go;
 *  - inclusion proofs/s (random index, size = current), 64 clients;
 *  - tiles/s from ftlogd and from nginx serving the same exported tiles
 *    (random full tile paths), and their ratio;
 *  - the server's VmRSS (and peak VmHWM) at the end.
 * Targets are reported, never enforced: the exit status is 0 unless setup
 * fails.
 *
 * Environment: FTLOG_BUILDDIR (ftlogd), FTLOG_BENCH_BIG=1,
 * FTLOG_BENCH_BATCH (batch interval, default 500ms),
 * FTLOG_BENCH_APPEND_CONNS, FTLOG_BENCH_SECONDS (append phase, default 10),
 * FTLOG_BENCH_SIZE (first tree size, default 10^6; for quick runs),
 * FTLOG_NGINX (default /usr/sbin/nginx).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <arpa/inet.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/epoll.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <nettle/sha2.h>
#include <sodium.h>

#include <ftlog/tile.h>

#include "tests/logd_harness.h"
#include "tests/testutil.h"

#define REQ_MAX 2048
#define RBUF_MAX (1u << 20)
#define MAX_CONNECTING 256

static double now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static void die(const char *what)
{
	fprintf(stderr, "bench_logd: %s\n", what);
	exit(1);
}

static double env_double(const char *name, double def)
{
	const char *v = getenv(name);

	return v != NULL && *v != 0 ? strtod(v, NULL) : def;
}

/* ---- The load generator. */

typedef struct lg_job lg_job;

/* Write the next request into buf (at most cap bytes); its length. */
typedef size_t (*lg_next_fn)(lg_job *j, char *buf, size_t cap);

struct lg_job {
	lg_next_fn next;
	void *ctx;
	int nconns;
	uint64_t limit;    /* requests to complete; 0 = no limit */
	double duration;   /* seconds to keep starting requests; 0 = none */
	int want_status;   /* other statuses count as errors */
	int record_latency;
	/* results */
	uint64_t started, done, errors, reconnects;
	uint64_t body_bytes;
	int last_bad_status;
	double elapsed;
	double *lat;
	size_t nlat, lat_cap;
};

enum { C_FREE, C_CONNECTING, C_WRITING, C_READING };

typedef struct lg_conn {
	int fd;
	int state;
	char req[REQ_MAX];
	size_t req_len, req_off;
	uint8_t *rbuf;
	size_t rlen, rcap;
	double t_sent;
} lg_conn;

typedef struct lg {
	lg_job *j;
	int ep;
	int port;
	lg_conn *c;
	int active;     /* connections not C_FREE */
	int connecting;
	double t_start;
} lg;

static int more_work(const lg *g)
{
	const lg_job *j = g->j;

	if (j->limit != 0 && j->started >= j->limit) {
		return 0;
	}
	if (j->duration > 0 && now() - g->t_start >= j->duration) {
		return 0;
	}
	return 1;
}

static void lg_close(lg *g, lg_conn *c)
{
	if (c->state == C_FREE) {
		return;
	}
	if (c->state == C_CONNECTING) {
		g->connecting--;
	}
	(void)epoll_ctl(g->ep, EPOLL_CTL_DEL, c->fd, NULL);
	close(c->fd);
	c->fd = -1;
	c->state = C_FREE;
	c->rlen = 0;
	g->active--;
}

static void lg_watch(lg *g, lg_conn *c, uint32_t events, int op)
{
	struct epoll_event ev;

	ev.events = events;
	ev.data.ptr = c;
	if (epoll_ctl(g->ep, op, c->fd, &ev) != 0) {
		die("epoll_ctl");
	}
}

static void lg_connect(lg *g, lg_conn *c)
{
	struct sockaddr_in a;
	int one = 1;

	c->fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC,
		       0);
	if (c->fd < 0) {
		die("socket (raise the open file limit)");
	}
	(void)setsockopt(c->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
	memset(&a, 0, sizeof a);
	a.sin_family = AF_INET;
	a.sin_port = htons((uint16_t)g->port);
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	int rc = connect(c->fd, (struct sockaddr *)&a, sizeof a);
	if (rc != 0 && errno != EINPROGRESS) {
		die("connect");
	}
	c->state = C_CONNECTING;
	c->rlen = 0;
	g->active++;
	g->connecting++;
	lg_watch(g, c, EPOLLOUT, EPOLL_CTL_ADD);
}

/* Start the next request on a connected socket, or close it if the job
 * is over. */
static void lg_start(lg *g, lg_conn *c)
{
	lg_job *j = g->j;

	if (!more_work(g)) {
		lg_close(g, c);
		return;
	}
	c->req_len = j->next(j, c->req, sizeof c->req);
	c->req_off = 0;
	j->started++;
	c->t_sent = now();
	c->state = C_WRITING;
	lg_watch(g, c, EPOLLOUT, EPOLL_CTL_MOD);
}

/* Parse a complete response at the start of c->rbuf: its total length,
 * or 0 if incomplete; -1 if malformed. */
static long lg_parse(const lg_conn *c, int *status, int *close_after,
		     size_t *body_len)
{
	const char *b = (const char *)c->rbuf;
	const char *end = memmem(b, c->rlen, "\r\n\r\n", 4);

	if (end == NULL) {
		return c->rlen > 16384 ? -1 : 0;
	}
	size_t head = (size_t)(end - b) + 4;
	if (head < 12 || memcmp(b, "HTTP/1.", 7) != 0) {
		return -1;
	}
	*status = (b[9] - '0') * 100 + (b[10] - '0') * 10 + (b[11] - '0');
	*close_after = 0;
	size_t clen = 0;
	const char *line = memchr(b, '\n', head);
	while (line != NULL && (size_t)(line - b) + 1 < head) {
		line++;
		if (strncasecmp(line, "Content-Length:", 15) == 0) {
			clen = (size_t)strtoull(line + 15, NULL, 10);
		} else if (strncasecmp(line, "Connection:", 11) == 0) {
			const char *v = line + 11;
			while (*v == ' ') {
				v++;
			}
			*close_after = strncasecmp(v, "close", 5) == 0;
		}
		line = memchr(line, '\n', head - (size_t)(line - b));
	}
	*body_len = clen;
	if (head + clen > RBUF_MAX) {
		return -1;
	}
	return c->rlen >= head + clen ? (long)(head + clen) : 0;
}

static void lg_record(lg_job *j, double latency)
{
	if (!j->record_latency) {
		return;
	}
	if (j->nlat == j->lat_cap) {
		size_t ncap = j->lat_cap ? j->lat_cap * 2 : 65536;
		double *n = realloc(j->lat, ncap * sizeof *n);
		if (n == NULL) {
			die("out of memory");
		}
		j->lat = n;
		j->lat_cap = ncap;
	}
	j->lat[j->nlat++] = latency;
}

/* The connection failed or the server closed it: count, reconnect. */
static void lg_fail(lg *g, lg_conn *c, int counts_as_error)
{
	if (counts_as_error) {
		g->j->errors++;
	}
	lg_close(g, c);
	if (more_work(g)) {
		g->j->reconnects++;
		lg_connect(g, c);
	}
}

static void lg_readable(lg *g, lg_conn *c)
{
	lg_job *j = g->j;

	for (;;) {
		if (c->rcap - c->rlen < 16384) {
			size_t ncap = c->rcap ? c->rcap * 2 : 32768;
			if (ncap > RBUF_MAX + 16384) {
				lg_fail(g, c, 1);
				return;
			}
			uint8_t *nb = realloc(c->rbuf, ncap);
			if (nb == NULL) {
				die("out of memory");
			}
			c->rbuf = nb;
			c->rcap = ncap;
		}
		ssize_t n = recv(c->fd, c->rbuf + c->rlen, c->rcap - c->rlen,
				 0);
		if (n < 0 && errno == EINTR) {
			continue;
		}
		if (n < 0 && errno == EAGAIN) {
			return;
		}
		if (n <= 0) {
			lg_fail(g, c, 1);
			return;
		}
		c->rlen += (size_t)n;
		int status, close_after;
		size_t body_len;
		long total = lg_parse(c, &status, &close_after, &body_len);
		if (total < 0) {
			lg_fail(g, c, 1);
			return;
		}
		if (total == 0) {
			continue;
		}
		/* One request in flight: nothing may follow the answer. */
		j->done++;
		j->body_bytes += body_len;
		if (status != j->want_status) {
			j->errors++;
			j->last_bad_status = status;
		} else {
			lg_record(j, now() - c->t_sent);
		}
		c->rlen = 0;
		if (close_after) {
			lg_fail(g, c, 0);
			return;
		}
		lg_start(g, c);
		return;
	}
}

static void lg_writable(lg *g, lg_conn *c)
{
	if (c->state == C_CONNECTING) {
		int err = 0;
		socklen_t el = sizeof err;
		(void)getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &err, &el);
		g->connecting--;
		c->state = C_WRITING; /* so that lg_close does not count it */
		if (err != 0) {
			lg_fail(g, c, 1);
			return;
		}
		lg_start(g, c);
		if (c->state != C_WRITING) {
			return;
		}
	}
	while (c->req_off < c->req_len) {
		ssize_t n = send(c->fd, c->req + c->req_off,
				 c->req_len - c->req_off, MSG_NOSIGNAL);
		if (n < 0 && errno == EINTR) {
			continue;
		}
		if (n < 0 && errno == EAGAIN) {
			return;
		}
		if (n <= 0) {
			lg_fail(g, c, 1);
			return;
		}
		c->req_off += (size_t)n;
	}
	c->state = C_READING;
	lg_watch(g, c, EPOLLIN, EPOLL_CTL_MOD);
}

/* Run the job to completion against 127.0.0.1:port. */
static void lg_run(int port, lg_job *j)
{
	lg g;
	struct epoll_event evs[512];
	int next_conn = 0;

	memset(&g, 0, sizeof g);
	g.j = j;
	g.port = port;
	g.ep = epoll_create1(EPOLL_CLOEXEC);
	g.c = calloc((size_t)j->nconns, sizeof *g.c);
	if (g.ep < 0 || g.c == NULL) {
		die("epoll/calloc");
	}
	j->started = j->done = j->errors = j->reconnects = 0;
	j->body_bytes = 0;
	j->nlat = 0;
	g.t_start = now();
	double hard_stop = g.t_start + (j->duration > 0 ? j->duration : 0) +
			   (j->limit != 0 ? 3600 : 0) + 60;

	for (;;) {
		/* Open connections gradually: a burst of thousands of SYNs
		 * would overflow the listen queue and time out. */
		while (next_conn < j->nconns &&
		       g.connecting < MAX_CONNECTING && more_work(&g)) {
			lg_connect(&g, &g.c[next_conn++]);
		}
		if (g.active == 0 &&
		    (next_conn == j->nconns || !more_work(&g))) {
			break;
		}
		if (now() > hard_stop) {
			fprintf(stderr, "bench_logd: %d requests stuck, giving "
				"up\n", g.active);
			break;
		}
		int n = epoll_wait(g.ep, evs, 512, 100);
		if (n < 0 && errno != EINTR) {
			die("epoll_wait");
		}
		for (int i = 0; i < n; i++) {
			lg_conn *c = evs[i].data.ptr;
			if (c->state == C_FREE) {
				continue;
			}
			if (c->state == C_READING) {
				lg_readable(&g, c);
			} else {
				lg_writable(&g, c);
			}
		}
		/* Idle connections (the job ended while they were between
		 * requests) are closed by lg_start; nothing else to do. */
	}
	j->elapsed = now() - g.t_start;
	for (int i = 0; i < j->nconns; i++) {
		lg_close(&g, &g.c[i]);
		free(g.c[i].rbuf);
	}
	free(g.c);
	close(g.ep);
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

static double percentile(lg_job *j, double p)
{
	if (j->nlat == 0) {
		return 0;
	}
	qsort(j->lat, j->nlat, sizeof *j->lat, cmp_double);
	size_t k = (size_t)(p * (double)(j->nlat - 1) + 0.5);
	return j->lat[k];
}

static double rate(const lg_job *j)
{
	uint64_t ok = j->done - (j->errors < j->done ? j->errors : j->done);

	return j->elapsed > 0 ? (double)ok / j->elapsed : 0;
}

static void report_errors(const char *what, const lg_job *j)
{
	if (j->errors > 0 || j->reconnects > 0) {
		printf("  (%s: %" PRIu64 " errors, last bad status %d, %" PRIu64
		       " reconnects)\n", what, j->errors, j->last_bad_status,
		       j->reconnects);
	}
}

/* ---- Requests. */

static uint64_t g_entry_seq;
static uint32_t g_nonce;

typedef struct add_ctx {
	size_t entry_len;
} add_ctx;

static size_t next_add(lg_job *j, char *buf, size_t cap)
{
	const add_ctx *a = j->ctx;
	int hl = snprintf(buf, cap, "POST /add HTTP/1.1\r\nHost: 127.0.0.1\r\n"
			  "Content-Length: %zu\r\n\r\n", a->entry_len);
	if (hl < 0 || (size_t)hl + a->entry_len > cap) {
		die("request too long");
	}
	char *e = buf + hl;
	int k = snprintf(e, a->entry_len, "bench %08x %" PRIu64 " ", g_nonce,
			 g_entry_seq++);
	for (size_t i = (size_t)k; i < a->entry_len; i++) {
		e[i] = (char)('a' + (i * 7 + (size_t)k) % 26);
	}
	return (size_t)hl + a->entry_len;
}

static uint64_t g_rng = 0x853c49e6748fea9bull;

static uint64_t rnd(void)
{
	g_rng ^= g_rng << 13;
	g_rng ^= g_rng >> 7;
	g_rng ^= g_rng << 17;
	return g_rng;
}

typedef struct proof_ctx {
	uint64_t size;
} proof_ctx;

static size_t next_proof(lg_job *j, char *buf, size_t cap)
{
	const proof_ctx *p = j->ctx;
	int n = snprintf(buf, cap, "GET /proof/inclusion?index=%" PRIu64
			 "&size=%" PRIu64 " HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n",
			 rnd() % p->size, p->size);

	return (size_t)n;
}

typedef struct tile_ctx {
	char (*paths)[FT_TILE_PATH_MAX];
	size_t n;
	uint64_t seed, rng;
} tile_ctx;

static size_t next_tile(lg_job *j, char *buf, size_t cap)
{
	tile_ctx *t = j->ctx;

	t->rng ^= t->rng << 13;
	t->rng ^= t->rng >> 7;
	t->rng ^= t->rng << 17;
	int n = snprintf(buf, cap, "GET /%s HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n",
			 t->paths[t->rng % t->n]);
	return (size_t)n;
}

/* ---- Server helpers. */

/* Memory figures of a process from /proc/PID/status, in KiB (-1 if
 * absent). RssFile counts the pages of the LMDB map the server has
 * touched: they are the page cache, shared and reclaimable, while RssAnon
 * is the server's own heap and stacks. */
typedef struct mem_kib {
	long rss, hwm, anon, file;
} mem_kib;

static void proc_mem(pid_t pid, mem_kib *m)
{
	char path[64], line[256];
	FILE *f;

	m->rss = m->hwm = m->anon = m->file = -1;
	snprintf(path, sizeof path, "/proc/%d/status", (int)pid);
	f = fopen(path, "r");
	if (f == NULL) {
		return;
	}
	while (fgets(line, sizeof line, f) != NULL) {
		(void)sscanf(line, "VmRSS: %ld kB", &m->rss);
		(void)sscanf(line, "VmHWM: %ld kB", &m->hwm);
		(void)sscanf(line, "RssAnon: %ld kB", &m->anon);
		(void)sscanf(line, "RssFile: %ld kB", &m->file);
	}
	fclose(f);
}

static uint64_t tree_size(const lh_server *s)
{
	uint64_t size = 0;
	uint8_t root[32];

	if (lh_checkpoint(s, &size, root, NULL) != 0) {
		die("GET /checkpoint failed");
	}
	return size;
}

/* ---- Limits of this machine. */

static volatile uint8_t g_sink;

static double limit_sha256_1k(void)
{
	uint8_t msg[1024] = { 1 };
	struct sha256_ctx c;
	double best = 0;

	for (int r = 0; r < 3; r++) {
		uint64_t n = 0;
		double t0 = now(), dt;
		do {
			for (int i = 0; i < 1000; i++) {
				sha256_init(&c);
				sha256_update(&c, sizeof msg, msg);
				sha256_digest(&c, 32, msg); /* chain */
			}
			n += 1000;
			dt = now() - t0;
		} while (dt < 0.3);
		if ((double)n / dt > best) {
			best = (double)n / dt;
		}
	}
	g_sink ^= msg[0];
	return best;
}

static double limit_ed25519_verify(void)
{
	uint8_t pk[crypto_sign_PUBLICKEYBYTES], sk[crypto_sign_SECRETKEYBYTES];
	uint8_t sig[crypto_sign_BYTES], msg[1024] = { 2 };
	double best = 0;

	crypto_sign_keypair(pk, sk);
	crypto_sign_detached(sig, NULL, msg, sizeof msg, sk);
	sodium_memzero(sk, sizeof sk);
	for (int r = 0; r < 3; r++) {
		uint64_t n = 0;
		double t0 = now(), dt;
		do {
			for (int i = 0; i < 100; i++) {
				if (crypto_sign_verify_detached(sig, msg,
								sizeof msg,
								pk) != 0) {
					die("ed25519 verify failed");
				}
			}
			n += 100;
			dt = now() - t0;
		} while (dt < 0.3);
		if ((double)n / dt > best) {
			best = (double)n / dt;
		}
	}
	return best;
}

/* ---- nginx (as in tests/test_nginx.c, the static locations only). */

static const char *nginx_path(void)
{
	const char *p = getenv("FTLOG_NGINX");

	return p != NULL && *p != 0 ? p : "/usr/sbin/nginx";
}

static int free_port(void)
{
	struct sockaddr_in a;
	socklen_t al = sizeof a;
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);

	if (fd < 0) {
		die("socket");
	}
	memset(&a, 0, sizeof a);
	a.sin_family = AF_INET;
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (bind(fd, (struct sockaddr *)&a, sizeof a) != 0 ||
	    getsockname(fd, (struct sockaddr *)&a, &al) != 0) {
		die("bind 127.0.0.1:0");
	}
	close(fd);
	return ntohs(a.sin_port);
}

/*
 * One nginx process (master_process off: a single event loop, like
 * ftlogd's), the static locations of docs/nginx.conf.example, no access
 * log. Returns its pid, or -1 if nginx is missing or does not start.
 */
static pid_t start_nginx(const char *dir, const char *tiles, int port)
{
	char *conf = NULL, path[1024], errlog[1024];

	if (access(nginx_path(), X_OK) != 0) {
		return -1;
	}
	if (mkdir(dir, 0700) != 0 && errno != EEXIST) {
		return -1;
	}
	int n = asprintf(&conf,
		"daemon off;\n"
		"master_process off;\n"
		"worker_processes 1;\n"
		"pid %s/nginx.pid;\n"
		"error_log %s/error.log warn;\n"
		"events { worker_connections 4096; }\n"
		"http {\n"
		"  access_log off;\n"
		"  client_body_temp_path %s/cb;\n"
		"  proxy_temp_path %s/px;\n"
		"  fastcgi_temp_path %s/fc;\n"
		"  uwsgi_temp_path %s/uw;\n"
		"  scgi_temp_path %s/sc;\n"
		"  server {\n"
		"    listen 127.0.0.1:%d backlog=4096;\n"
		"    root %s;\n"
		"    keepalive_requests 1000000;\n"
		"    sendfile on;\n"
		"    tcp_nopush on;\n"
		"    server_tokens off;\n"
		"    charset off;\n"
		"    open_file_cache max=10000 inactive=60s;\n"
		"    open_file_cache_valid 60s;\n"
		"    location = /checkpoint {\n"
		"      open_file_cache off;\n"
		"      types { }\n"
		"      default_type \"text/plain; charset=utf-8\";\n"
		"      add_header Cache-Control \"public, max-age=2\" always;\n"
		"      add_header X-Content-Type-Options nosniff always;\n"
		"      try_files /checkpoint =404;\n"
		"    }\n"
		"    location /tile/ {\n"
		"      types { }\n"
		"      default_type application/octet-stream;\n"
		"      add_header Cache-Control "
		"\"public, max-age=31536000, immutable\";\n"
		"      add_header X-Content-Type-Options nosniff always;\n"
		"      location ~ /\\. { return 404; }\n"
		"      try_files $uri =404;\n"
		"    }\n"
		"  }\n"
		"}\n", dir, dir, dir, dir, dir, dir, dir, port, tiles);
	if (n < 0) {
		return -1;
	}
	if (snprintf(path, sizeof path, "%s/nginx.conf", dir) >=
		    (int)sizeof path ||
	    snprintf(errlog, sizeof errlog, "%s/error.log", dir) >=
		    (int)sizeof errlog) {
		free(conf);
		return -1;
	}
	if (tu_write_file(path, conf, strlen(conf)) != 0) {
		free(conf);
		return -1;
	}
	free(conf);
	pid_t pid = fork();
	if (pid < 0) {
		return -1;
	}
	if (pid == 0) {
		(void)prctl(PR_SET_PDEATHSIG, SIGKILL);
		execl(nginx_path(), "nginx", "-p", dir, "-c", path, "-e",
		      errlog, (char *)NULL);
		_exit(127);
	}
	double t0 = now();
	while (now() - t0 < 10.0) {
		lh_resp r;
		if (waitpid(pid, NULL, WNOHANG) == pid) {
			return -1;
		}
		if (lh_http(port, "GET", "/checkpoint", NULL, 0, &r) == 0) {
			lh_resp_free(&r);
			return pid;
		}
		struct timespec ts = { 0, 20000000L };
		nanosleep(&ts, NULL);
	}
	kill(pid, SIGKILL);
	waitpid(pid, NULL, 0);
	return -1;
}

static void stop_nginx(pid_t pid)
{
	kill(pid, SIGTERM);
	for (int i = 0; i < 500; i++) {
		if (waitpid(pid, NULL, WNOHANG) == pid) {
			return;
		}
		struct timespec ts = { 0, 10000000L };
		nanosleep(&ts, NULL);
	}
	kill(pid, SIGKILL);
	waitpid(pid, NULL, 0);
}

/* ---- Phases. */

typedef struct bench {
	lh_server srv;
	int append_conns;
	double batch_s;
	double sha_1k, ed_verify;
} bench;

static void phase_append(bench *b, int conns, double seconds,
			 const char *label)
{
	add_ctx a = { 1024 };
	lg_job j;

	memset(&j, 0, sizeof j);
	j.next = next_add;
	j.ctx = &a;
	j.nconns = conns;
	j.duration = seconds;
	j.want_status = 200;
	j.record_latency = 1;
	lg_run(b->srv.port, &j);
	double r = rate(&j);
	double p50 = percentile(&j, 0.5) * 1e3, p99 = percentile(&j, 0.99) * 1e3;
	double bound = (double)conns / b->batch_s;
	printf("append (%s, %d clients, 1 KiB): %.0f entries/s (p50 %.0f ms, "
	       "p99 %.0f ms); %.2f of the %d clients / batch interval bound "
	       "(%.0f/s); %.4f of SHA-256 1 KiB, %.3f of Ed25519 verify; "
	       "target >= 20000/s %s, p99 <= %.0f ms %s\n",
	       label, conns, r, p50, p99, r / bound, conns, bound,
	       r / b->sha_1k, r / b->ed_verify, r >= 20000 ? "met" : "NOT met",
	       b->batch_s * 1e3 + 100,
	       p99 <= b->batch_s * 1e3 + 100 ? "met" : "NOT met");
	report_errors("append", &j);
	free(j.lat);
	fflush(stdout);
}

static void phase_grow(bench *b, uint64_t target)
{
	uint64_t size = tree_size(&b->srv);
	add_ctx a = { 128 };
	lg_job j;

	if (size >= target) {
		return;
	}
	memset(&j, 0, sizeof j);
	j.next = next_add;
	j.ctx = &a;
	j.nconns = b->append_conns;
	j.limit = target - size;
	j.want_status = 200;
	lg_run(b->srv.port, &j);
	/* Errors (e.g. 503 when the queue is full) leave gaps: top up. */
	uint64_t got = tree_size(&b->srv);
	double el = j.elapsed;
	int rounds = 0;
	while (got < target && rounds++ < 20) {
		j.limit = target - got;
		lg_run(b->srv.port, &j);
		el += j.elapsed;
		got = tree_size(&b->srv);
	}
	printf("grow to %" PRIu64 ": %" PRIu64 " entries of 128 B in %.1f s "
	       "(%.0f entries/s, %d clients)\n", got, got - size, el,
	       (double)(got - size) / el, b->append_conns);
	report_errors("grow", &j);
	fflush(stdout);
}

static void phase_proofs(bench *b)
{
	proof_ctx p = { tree_size(&b->srv) };
	lg_job j;

	memset(&j, 0, sizeof j);
	j.next = next_proof;
	j.ctx = &p;
	j.nconns = 64;
	j.duration = 5.0;
	j.want_status = 200;
	j.record_latency = 1;
	lg_run(b->srv.port, &j);
	double r = rate(&j);
	printf("proofs at size %" PRIu64 ": %.0f inclusion proofs/s (p50 %.2f "
	       "ms, p99 %.2f ms, 64 clients); target >= 50000/s %s\n", p.size,
	       r, percentile(&j, 0.5) * 1e3, percentile(&j, 0.99) * 1e3,
	       r >= 50000 ? "met" : "NOT met");
	report_errors("proofs", &j);
	free(j.lat);
	fflush(stdout);
}

static double tiles_rate(int port, tile_ctx *t, double *mbps)
{
	lg_job j;

	memset(&j, 0, sizeof j);
	j.next = next_tile;
	j.ctx = t;
	j.nconns = 64;
	j.duration = 3.0;
	j.want_status = 200;
	t->rng = t->seed; /* the same path sequence for both servers */
	lg_run(port, &j);
	report_errors("tiles", &j);
	*mbps = (double)j.body_bytes / j.elapsed / 1e6;
	return rate(&j);
}

static void phase_tiles(bench *b)
{
	uint64_t size = tree_size(&b->srv);
	char dir[1024];

	/* Random full tiles: hash tiles of every level, and separately
	 * entry bundles. */
	size_t cap = 0;
	for (unsigned l = 0; l < ft_tile_levels(size); l++) {
		cap += (size_t)ft_tile_full_count(size, l);
	}
	cap += (size_t)ft_tile_full_count(size, 0);
	tile_ctx hash = { calloc(cap + 1, FT_TILE_PATH_MAX), 0, 0x1234567ull,
			  0 };
	tile_ctx ent = { calloc(cap + 1, FT_TILE_PATH_MAX), 0, 0x7654321ull,
			 0 };
	if (hash.paths == NULL || ent.paths == NULL) {
		die("out of memory");
	}
	for (unsigned l = 0; l < ft_tile_levels(size); l++) {
		for (uint64_t i = 0; i < ft_tile_full_count(size, l); i++) {
			ft_tile t = { (int)l, i, FT_TILE_WIDTH };
			size_t n;
			if (ft_tile_path(&t, hash.paths[hash.n++],
					 FT_TILE_PATH_MAX, &n) != 0) {
				die("tile path");
			}
			if (l == 0) {
				t.level = FT_TILE_ENTRIES;
				if (ft_tile_path(&t, ent.paths[ent.n++],
						 FT_TILE_PATH_MAX, &n) != 0) {
					die("tile path");
				}
			}
		}
	}
	if (hash.n == 0) {
		die("no full tiles");
	}

	snprintf(dir, sizeof dir, "%s/nginx-bench", b->srv.dir);
	int port = free_port();
	pid_t ngx = start_nginx(dir, b->srv.tiles, port);
	tile_ctx *kinds[2] = { &hash, &ent };
	const char *names[2] = { "hash tiles (8 KiB)", "entry bundles" };
	for (int k = 0; k < 2; k++) {
		double mb_f = 0, mb_n = 0;
		/* Interleaved, best of two, so that other load on the machine
		 * skews both alike. */
		double f = 0, n = 0;
		for (int r = 0; r < 2; r++) {
			double x, mb;
			x = tiles_rate(b->srv.port, kinds[k], &mb);
			if (x > f) {
				f = x;
				mb_f = mb;
			}
			if (ngx > 0) {
				x = tiles_rate(port, kinds[k], &mb);
				if (x > n) {
					n = x;
					mb_n = mb;
				}
			}
		}
		if (ngx > 0) {
			printf("%s at size %" PRIu64 " (%zu full, random): "
			       "ftlogd %.0f/s (%.0f MB/s), nginx %.0f/s (%.0f "
			       "MB/s): %.2fx nginx; target >= 1.0x %s\n",
			       names[k], size, kinds[k]->n, f, mb_f, n, mb_n,
			       f / n, f >= n ? "met" : "NOT met");
		} else {
			printf("%s at size %" PRIu64 ": ftlogd %.0f/s (%.0f "
			       "MB/s); nginx (%s) not available: no ratio\n",
			       names[k], size, f, mb_f, nginx_path());
		}
		fflush(stdout);
	}
	if (ngx > 0) {
		stop_nginx(ngx);
	}
	free(hash.paths);
	free(ent.paths);
}

static void phase_rss(bench *b, uint64_t at)
{
	mem_kib m;

	proc_mem(b->srv.pid, &m);
	printf("rss at size %" PRIu64 ": VmRSS %.1f MiB (RssAnon %.1f MiB, "
	       "RssFile %.1f MiB = LMDB map pages; peak VmHWM %.1f MiB)%s\n",
	       at, (double)m.rss / 1024, (double)m.anon / 1024,
	       (double)m.file / 1024, (double)m.hwm / 1024,
	       at >= 10000000 ? (m.rss < 128 * 1024 ? "; target < 128 MiB met"
						 : "; target < 128 MiB NOT met")
			      : "; target < 128 MiB at 10^7");
	fflush(stdout);
}

int main(void)
{
	bench b;
	struct rlimit rl;
	char batch_arg[32];

	signal(SIGPIPE, SIG_IGN);
	setvbuf(stdout, NULL, _IOLBF, 0);
	if (sodium_init() < 0) {
		die("sodium_init");
	}
	memset(&b, 0, sizeof b);
	g_nonce = (uint32_t)time(NULL) ^ (uint32_t)getpid();

	/* Thousands of connections on both sides (ftlogd inherits this). */
	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
		rl.rlim_cur = rl.rlim_max;
		(void)setrlimit(RLIMIT_NOFILE, &rl);
	}
	(void)getrlimit(RLIMIT_NOFILE, &rl);
	b.append_conns = (int)env_double("FTLOG_BENCH_APPEND_CONNS", 12000);
	if ((rlim_t)b.append_conns + 200 > rl.rlim_cur) {
		b.append_conns = (int)rl.rlim_cur - 200;
	}
	double seconds = env_double("FTLOG_BENCH_SECONDS", 10);
	const char *batch = getenv("FTLOG_BENCH_BATCH");
	if (batch == NULL || *batch == 0) {
		batch = "500ms";
	}
	snprintf(batch_arg, sizeof batch_arg, "%s", batch);
	b.batch_s = strtod(batch, NULL) / (strstr(batch, "ms") ? 1e3 : 1.0);
	int big = getenv("FTLOG_BENCH_BIG") != NULL &&
		  strcmp(getenv("FTLOG_BENCH_BIG"), "1") == 0;

	/* (f) This machine's limits, first, while nothing else runs. */
	b.sha_1k = limit_sha256_1k();
	b.ed_verify = limit_ed25519_verify();
	printf("limit: SHA-256 of 1 KiB (nettle): %.0f hashes/s (%.0f MB/s)\n",
	       b.sha_1k, b.sha_1k * 1024 / 1e6);
	printf("limit: Ed25519 verify (libsodium): %.0f verifications/s\n",
	       b.ed_verify);

	/* (a) A fresh log with the static export on. */
	char conns_arg[32];
	snprintf(conns_arg, sizeof conns_arg, "%d", b.append_conns + 1000);
	const char *args[] = {
		"--validator", "test",
		"--batch-interval", batch_arg,
		"--max-connections", conns_arg,
		"--log-level", "warn",
		NULL,
	};
	if (lh_init(&b.srv, "bench.example/log") != 0 ||
	    lh_start(&b.srv, 1, args) != 0) {
		die("cannot start ftlogd (set FTLOG_BUILDDIR)");
	}
	printf("ftlogd: %s, batch interval %s, tiles dir on\n",
	       lh_ftlogd_path(), batch);

	/* (b) Appends. */
	phase_append(&b, 64, seconds, "latency");
	phase_append(&b, b.append_conns, seconds, "throughput");

	/* (c), (d), (e) at 10^6, then 10^7. */
	uint64_t sizes[2] = { 1000000, 10000000 };
	sizes[0] = (uint64_t)env_double("FTLOG_BENCH_SIZE", 1e6);
	for (int k = 0; k < (big ? 2 : 1); k++) {
		phase_grow(&b, sizes[k]);
		phase_proofs(&b);
		phase_tiles(&b);
		phase_rss(&b, tree_size(&b.srv));
	}

	int st = lh_stop(&b.srv);
	lh_cleanup(&b.srv);
	if (st != 0) {
		fprintf(stderr, "bench_logd: ftlogd exit status %d\n", st);
		return 1;
	}
	return 0;
}
