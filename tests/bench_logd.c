/*
 * tests/bench_logd.c - load figures for the real ftlogd, beside this
 * machine's limits measured in the same run.
 *
 * A small load generator of our own: epoll, non-blocking sockets, N
 * keep-alive connections to 127.0.0.1, each with a pipeline of up to
 * `depth` requests written and not yet answered (a closed loop per slot:
 * an answer frees a slot and the next request is written at once; depth 1
 * is one request in flight). Answers are parsed in order, each matched to
 * the oldest request in flight, and each request's latency runs from its
 * own send time to the end of its answer. Rates are answered-with-the-
 * expected-status requests over the time from the first request written
 * to the last answer read (the requests in flight when the phase's time
 * is up are awaited and counted).
 *
 * ftlogd logs firmware events only: every entry is a DSSE envelope signed
 * by the harness's test key (lh_event) and checked against the harness's
 * default policy (at least one Ed25519 verification per entry, on the
 * server's worker threads).
 *
 * Appends, as the target defines them: end-to-end signed-event appends per
 * second, realistic ~2 KiB envelopes, 64 concurrent keep-alive clients,
 * next to this machine's Ed25519 verification limit on 2 cores measured
 * in the same run (libsodium, two threads verifying at once); target
 * >= 0.6 of that limit. The envelopes are all signed before the timing
 * starts (FTLOG_BENCH_EVENTS of them, on two threads), so the clients only
 * send; a run ends after FTLOG_BENCH_SECONDS or when the envelopes are
 * used up, whichever comes first. Batches are durable, at the default
 * 500 ms interval. ftlogd answers POST /add only after its batch is
 * committed, so by Little's law the rate is at most (entries in flight) /
 * (add latency): with one add in flight per client and every batch
 * waiting the interval, 64 clients cannot exceed 64 / 500 ms = 128/s
 * whatever the server does. So the 64 clients pipeline (depth 64: up to
 * 4096 in flight), and the sequencer starts a batch when the interval has
 * passed or as soon as batch-size entries wait (logd/seq.c). The runs:
 *  - the headline, "server batching defaults" (batch-size 4096,
 *    queue-size 65536): 4096 in flight fill a batch as soon as every
 *    client's window is written, so batches run back to back, paced by
 *    the signature checks and the commit, not the interval;
 *  - "interval-paced batches" (--batch-size 65536 --queue-size 262144, on
 *    a second fresh log): the size cap never fills, every batch waits the
 *    whole interval, so the rate cannot exceed 4096 / 500 ms = 8192/s and
 *    every add waits interval + commit; printed with that bound;
 *  - "one add in flight per client" (depth 1, 5 s, back on the first
 *    log): 64 clients in a closed loop, printed with its bound
 *    64 / interval.
 * Targets: signed-event appends >= 0.6 of the 2-core Ed25519 verify
 * limit; p99 <= batch interval + 100 ms.
 *
 * Figures, one line each (the server's flags are printed):
 *  - limits: SHA-256 of 1 KiB messages (nettle); Ed25519 verifications of
 *    a 1.5 KiB message (about the DSSE PAE of a 2 KiB envelope;
 *    libsodium) on 1 thread and on 2 threads at once (the 2-core limit);
 *  - the append runs above: events/s, p50/p99/mean add latency, and the
 *    fraction of the 2-core verify limit;
 *  - the tree is grown to 10^6 entries (10^7 with FTLOG_BENCH_BIG=1), the
 *    smallest signed events (about 730 B, signed by the load generator as
 *    it goes), by the same 64 pipelined clients;
 *  - inclusion proofs/s (random index, size = current), 64 clients;
 *  - tiles/s from ftlogd and from nginx serving the same exported tiles
 *    (random full tile paths), and their ratio;
 *  - a full `ftlog audit` of the whole tree from the tiles nginx serves
 *    (from an empty state: every entry re-hashed, every tile rebuilt and
 *    compared, the root checked), once without and once with the log's
 *    policy (every entry's signature verified): entries/s next to the
 *    SHA-256 and Ed25519 verify limits;
 *  - the server's memory at the end: VmRSS split into RssAnon (heap,
 *    stacks), RssFile (pages of the LMDB map: clean, shared, reclaimable
 *    page cache) and RssShmem, peak VmHWM; the 128 MiB target is compared
 *    with both VmRSS and RssAnon+RssShmem, each named.
 * Targets are reported, never enforced: the exit status is 0 unless setup
 * fails.
 *
 * Environment: FTLOG_BUILDDIR (ftlogd), FTLOG_BENCH_BIG=1,
 * FTLOG_BENCH_BATCH (batch interval, default 500ms),
 * FTLOG_BENCH_PIPELINE (depth per connection for every phase; default 64
 * for appends and growing the tree, 1 for proofs and tiles; ftlogd takes
 * at most 128 in flight per connection and leaves the rest in the socket;
 * below 64 the 4096 entries of a default batch are never in flight at
 * once, every batch waits the interval, and growing the tree is slow),
 * FTLOG_BENCH_SECONDS (each append run, default 10), FTLOG_BENCH_EVENTS
 * (envelopes signed before the append runs, default 80000),
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
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/epoll.h>
#include <sys/prctl.h>
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

#define REQ_MAX 4096
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
	int depth;         /* requests written and not yet answered, per
			    * connection (1 = closed loop) */
	uint64_t limit;    /* requests to start; 0 = no limit */
	double duration;   /* seconds to keep starting requests; 0 = none */
	int want_status;   /* other statuses count as errors */
	int record_latency;
	/* results */
	uint64_t started, done, errors, reconnects;
	uint64_t lost;     /* in flight on a connection that closed */
	uint64_t body_bytes;
	uint64_t max_inflight; /* over all connections at once */
	int last_bad_status;
	double elapsed;    /* first request written to last answer read */
	double *lat;
	size_t nlat, lat_cap;
};

enum { C_FREE, C_CONNECTING, C_OPEN };

/*
 * One connection. Requests are generated into wbuf and written as the
 * socket takes them; t_sent is a ring of the send times of the requests in
 * flight, oldest first, so the k-th answer parsed belongs to the oldest
 * request (the server answers in order).
 */
typedef struct lg_conn {
	int fd;
	int state;
	unsigned gen;       /* bumped on every connect */
	uint32_t events;    /* current epoll interest */
	char *wbuf;
	size_t wlen, woff, wcap;
	uint8_t *rbuf;
	size_t rlen, rcap;
	double *t_sent;     /* depth slots */
	unsigned head, inflight;
} lg_conn;

typedef struct lg {
	lg_job *j;
	int ep;
	int port;
	lg_conn *c;
	int active;     /* connections not C_FREE */
	int connecting;
	uint64_t inflight;
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

/* Close; requests still in flight on it are counted as lost. */
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
	g->j->lost += c->inflight;
	g->inflight -= c->inflight;
	c->fd = -1;
	c->state = C_FREE;
	c->rlen = 0;
	c->wlen = c->woff = 0;
	c->head = c->inflight = 0;
	g->active--;
}

static void lg_watch(lg *g, lg_conn *c, uint32_t events, int op)
{
	struct epoll_event ev;

	if (op == EPOLL_CTL_MOD && events == c->events) {
		return;
	}
	ev.events = events;
	ev.data.ptr = c;
	if (epoll_ctl(g->ep, op, c->fd, &ev) != 0) {
		die("epoll_ctl");
	}
	c->events = events;
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
	c->gen++;
	c->rlen = 0;
	c->wlen = c->woff = 0;
	c->head = c->inflight = 0;
	g->active++;
	g->connecting++;
	lg_watch(g, c, EPOLLOUT, EPOLL_CTL_ADD);
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

/* Write what wbuf holds, as far as the socket takes it; then watch for
 * answers, and for room to write if some is left. 0, or -1 if the
 * connection failed (it was replaced). */
static int lg_flush(lg *g, lg_conn *c)
{
	while (c->woff < c->wlen) {
		ssize_t n = send(c->fd, c->wbuf + c->woff, c->wlen - c->woff,
				 MSG_NOSIGNAL);
		if (n < 0 && errno == EINTR) {
			continue;
		}
		if (n < 0 && errno == EAGAIN) {
			break;
		}
		if (n <= 0) {
			lg_fail(g, c, 1);
			return -1;
		}
		c->woff += (size_t)n;
	}
	if (c->woff == c->wlen) {
		c->woff = c->wlen = 0;
	}
	lg_watch(g, c, EPOLLIN | (c->wlen > 0 ? EPOLLOUT : 0u),
		 EPOLL_CTL_MOD);
	return 0;
}

/*
 * Top the connection up to depth requests in flight and write them. Each
 * request's send time is taken as it is generated, right before the
 * send() that carries it (later only if the socket buffer is full, which
 * then counts in its latency). A connection with nothing in flight and no
 * more work is closed.
 */
static void lg_fill(lg *g, lg_conn *c)
{
	lg_job *j = g->j;

	while (c->inflight < (unsigned)j->depth && more_work(g)) {
		if (c->wcap - c->wlen < REQ_MAX) {
			memmove(c->wbuf, c->wbuf + c->woff, c->wlen - c->woff);
			c->wlen -= c->woff;
			c->woff = 0;
		}
		c->wlen += j->next(j, c->wbuf + c->wlen, REQ_MAX);
		c->t_sent[(c->head + c->inflight) % (unsigned)j->depth] = now();
		c->inflight++;
		g->inflight++;
		j->started++;
	}
	if (g->inflight > j->max_inflight) {
		j->max_inflight = g->inflight;
	}
	if (c->inflight == 0) {
		lg_close(g, c);
		return;
	}
	(void)lg_flush(g, c);
}

/* Parse a complete response at b (len bytes): its total length, or 0 if
 * incomplete; -1 if malformed. */
static long lg_parse(const uint8_t *buf, size_t len, int *status,
		     int *close_after, size_t *body_len)
{
	const char *b = (const char *)buf;
	const char *end = memmem(b, len, "\r\n\r\n", 4);

	if (end == NULL) {
		return len > 16384 ? -1 : 0;
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
	return len >= head + clen ? (long)(head + clen) : 0;
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

/* Read and parse every complete answer, in order, each against the oldest
 * request in flight; then top the connection up again. */
static void lg_readable(lg *g, lg_conn *c)
{
	lg_job *j = g->j;
	int answered = 0;

	for (;;) {
		if (c->rcap - c->rlen < 16384) {
			size_t ncap = c->rcap ? c->rcap * 2 : 65536;
			if (ncap > RBUF_MAX + 65536) {
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
			break;
		}
		if (n <= 0) {
			/* EOF or error: an error only if answers were due
			 * (an idle keep-alive connection may be closed). */
			lg_fail(g, c, c->inflight > 0 || c->rlen > 0);
			return;
		}
		c->rlen += (size_t)n;
		size_t off = 0;
		for (;;) {
			int status, close_after;
			size_t body_len;
			long total = lg_parse(c->rbuf + off, c->rlen - off,
					      &status, &close_after, &body_len);
			if (total < 0 || (total > 0 && c->inflight == 0)) {
				lg_fail(g, c, 1); /* malformed, unasked */
				return;
			}
			if (total == 0) {
				break;
			}
			off += (size_t)total;
			double t0 = c->t_sent[c->head];
			c->head = (c->head + 1) % (unsigned)j->depth;
			c->inflight--;
			g->inflight--;
			answered = 1;
			j->done++;
			j->body_bytes += body_len;
			if (status != j->want_status) {
				j->errors++;
				j->last_bad_status = status;
			} else {
				lg_record(j, now() - t0);
			}
			if (close_after) {
				/* Nothing after this answer will come. */
				lg_fail(g, c, 0);
				return;
			}
		}
		memmove(c->rbuf, c->rbuf + off, c->rlen - off);
		c->rlen -= off;
	}
	if (answered) {
		lg_fill(g, c);
	}
}

static void lg_event(lg *g, lg_conn *c, uint32_t ev)
{
	if (c->state == C_CONNECTING) {
		int err = 0;
		socklen_t el = sizeof err;
		(void)getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &err, &el);
		g->connecting--;
		c->state = C_OPEN;
		if (err != 0) {
			lg_fail(g, c, 1);
			return;
		}
		lg_fill(g, c);
		return;
	}
	unsigned gen = c->gen;
	if (ev & (EPOLLIN | EPOLLERR | EPOLLHUP)) {
		lg_readable(g, c);
	}
	if ((ev & EPOLLOUT) && c->state == C_OPEN && c->gen == gen &&
	    c->wlen > 0) {
		(void)lg_flush(g, c);
	}
}

/* Run the job to completion against 127.0.0.1:port. Once no more work
 * may start, every connection waits for its answers and closes. */
static void lg_run(int port, lg_job *j)
{
	lg g;
	struct epoll_event evs[512];
	int next_conn = 0;

	if (j->depth < 1) {
		j->depth = 1;
	}
	memset(&g, 0, sizeof g);
	g.j = j;
	g.port = port;
	g.ep = epoll_create1(EPOLL_CLOEXEC);
	g.c = calloc((size_t)j->nconns, sizeof *g.c);
	if (g.ep < 0 || g.c == NULL) {
		die("epoll/calloc");
	}
	for (int i = 0; i < j->nconns; i++) {
		lg_conn *c = &g.c[i];
		c->fd = -1;
		c->wcap = (size_t)j->depth * REQ_MAX + REQ_MAX;
		c->wbuf = malloc(c->wcap);
		c->t_sent = calloc((size_t)j->depth, sizeof *c->t_sent);
		if (c->wbuf == NULL || c->t_sent == NULL) {
			die("out of memory");
		}
	}
	j->started = j->done = j->errors = j->reconnects = j->lost = 0;
	j->body_bytes = j->max_inflight = 0;
	j->nlat = 0;
	g.t_start = now();
	double hard_stop = g.t_start + (j->duration > 0 ? j->duration : 0) +
			   (j->limit != 0 ? 3600 : 0) + 60;

	for (;;) {
		/* Open connections gradually: a burst of SYNs could
		 * overflow the listen queue and time out. */
		while (next_conn < j->nconns &&
		       g.connecting < MAX_CONNECTING && more_work(&g)) {
			lg_connect(&g, &g.c[next_conn++]);
		}
		if (g.active == 0 &&
		    (next_conn == j->nconns || !more_work(&g))) {
			break;
		}
		if (now() > hard_stop) {
			fprintf(stderr, "bench_logd: %d connections stuck, "
				"giving up\n", g.active);
			break;
		}
		int n = epoll_wait(g.ep, evs, 512, 100);
		if (n < 0 && errno != EINTR) {
			die("epoll_wait");
		}
		for (int i = 0; i < n; i++) {
			lg_conn *c = evs[i].data.ptr;
			if (c->state != C_FREE) {
				lg_event(&g, c, evs[i].events);
			}
		}
	}
	j->elapsed = now() - g.t_start;
	for (int i = 0; i < j->nconns; i++) {
		lg_close(&g, &g.c[i]);
		free(g.c[i].rbuf);
		free(g.c[i].wbuf);
		free(g.c[i].t_sent);
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
	if (j->errors > 0 || j->reconnects > 0 || j->lost > 0) {
		printf("  (%s: %" PRIu64 " errors, last bad status %d, %" PRIu64
		       " reconnects, %" PRIu64 " requests lost in flight)\n",
		       what, j->errors, j->last_bad_status, j->reconnects,
		       j->lost);
	}
}

/* ---- Requests. */

/* Signed events made before a run: e[i] of len[i] bytes. */
typedef struct ev_pool {
	uint8_t **e;
	size_t *len;
	size_t n;
	uint64_t first; /* event number of e[0] */
	size_t min_len;
	double seconds; /* to sign them all */
	size_t bytes;
} ev_pool;

typedef struct pool_part {
	ev_pool *p;
	size_t from, to;
	int failed;
} pool_part;

static void *pool_worker(void *arg)
{
	pool_part *w = arg;

	for (size_t i = w->from; i < w->to; i++) {
		if (lh_event(w->p->first + i, w->p->min_len, &w->p->e[i],
			     &w->p->len[i]) != 0 ||
		    w->p->len[i] + 128 > REQ_MAX) {
			w->failed = 1;
			return NULL;
		}
	}
	return NULL;
}

/* Sign n events numbered first.., each at least min_len bytes, on two
 * threads. */
static void pool_make(ev_pool *p, uint64_t first, size_t n, size_t min_len)
{
	pthread_t th[2];
	pool_part w[2];
	double t0 = now();

	memset(p, 0, sizeof *p);
	p->e = calloc(n, sizeof *p->e);
	p->len = calloc(n, sizeof *p->len);
	if (p->e == NULL || p->len == NULL) {
		die("out of memory");
	}
	p->n = n;
	p->first = first;
	p->min_len = min_len;
	(void)lh_test_key(); /* made once, before the threads */
	for (int t = 0; t < 2; t++) {
		w[t].p = p;
		w[t].from = n * (size_t)t / 2;
		w[t].to = n * (size_t)(t + 1) / 2;
		w[t].failed = 0;
		if (pthread_create(&th[t], NULL, pool_worker, &w[t]) != 0) {
			die("pthread_create");
		}
	}
	for (int t = 0; t < 2; t++) {
		(void)pthread_join(th[t], NULL);
		if (w[t].failed) {
			die("cannot sign the bench events");
		}
	}
	for (size_t i = 0; i < n; i++) {
		p->bytes += p->len[i];
	}
	p->seconds = now() - t0;
}

static void pool_free(ev_pool *p)
{
	for (size_t i = 0; i < p->n; i++) {
		free(p->e[i]);
	}
	free(p->e);
	free(p->len);
	memset(p, 0, sizeof *p);
}

/* POST /add of the next event: from the pool when there is one (the
 * job's limit keeps it from running out), else signed here (event numbers
 * from seq on, the smallest events). */
typedef struct add_ctx {
	const ev_pool *pool;
	size_t next;
	uint64_t seq;
} add_ctx;

static size_t next_add(lg_job *j, char *buf, size_t cap)
{
	add_ctx *a = j->ctx;
	uint8_t *e = NULL;
	size_t len = 0;

	if (a->pool != NULL) {
		if (a->next >= a->pool->n) {
			die("the event pool ran out");
		}
		e = a->pool->e[a->next];
		len = a->pool->len[a->next];
		a->next++;
	} else if (lh_event(a->seq++, 0, &e, &len) != 0) {
		die("cannot sign an event");
	}
	int hl = snprintf(buf, cap, "POST /add HTTP/1.1\r\nHost: 127.0.0.1\r\n"
			  "Content-Length: %zu\r\n\r\n", len);
	if (hl < 0 || (size_t)hl + len > cap) {
		die("request too long");
	}
	memcpy(buf + hl, e, len);
	if (a->pool == NULL) {
		free(e);
	}
	return (size_t)hl + len;
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
 * absent). VmRSS = RssAnon + RssFile + RssShmem. RssFile counts the pages
 * of the LMDB map (a read-only shared file mapping) the server has
 * touched: they are the page cache, clean, shared and reclaimable under
 * memory pressure. RssAnon is the server's own heap and stacks. */
typedef struct mem_kib {
	long rss, hwm, anon, file, shmem;
} mem_kib;

static void proc_mem(pid_t pid, mem_kib *m)
{
	char path[64], line[256];
	FILE *f;

	m->rss = m->hwm = m->anon = m->file = m->shmem = -1;
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
		(void)sscanf(line, "RssShmem: %ld kB", &m->shmem);
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

/* One thread verifying the same signature for `dur` seconds. */
typedef struct verify_job {
	const uint8_t *pk, *sig, *msg;
	size_t mlen;
	double dur;
	uint64_t n;
	double elapsed;
	int bad;
} verify_job;

static void *verify_run(void *arg)
{
	verify_job *v = arg;
	double t0 = now(), dt;

	v->n = 0;
	do {
		for (int i = 0; i < 100; i++) {
			if (crypto_sign_verify_detached(v->sig, v->msg, v->mlen,
							v->pk) != 0) {
				v->bad = 1;
			}
		}
		v->n += 100;
		dt = now() - t0;
	} while (dt < v->dur);
	v->elapsed = dt;
	return NULL;
}

/*
 * Ed25519 verifications per second (libsodium) of a 1.5 KiB message,
 * about the DSSE PAE a 2 KiB envelope signs, by nthreads threads in
 * parallel: best of 3 rounds of 0.5 s, the total count over the longest
 * thread's time.
 */
static double limit_ed25519_verify(int nthreads)
{
	uint8_t pk[crypto_sign_PUBLICKEYBYTES], sk[crypto_sign_SECRETKEYBYTES];
	uint8_t sig[crypto_sign_BYTES], msg[1536];
	verify_job v[8];
	pthread_t th[8];
	double best = 0;

	if (nthreads < 1 || nthreads > 8) {
		die("verify threads");
	}
	for (size_t i = 0; i < sizeof msg; i++) {
		msg[i] = (uint8_t)(i * 7 + 2);
	}
	crypto_sign_keypair(pk, sk);
	crypto_sign_detached(sig, NULL, msg, sizeof msg, sk);
	sodium_memzero(sk, sizeof sk);
	for (int r = 0; r < 3; r++) {
		uint64_t n = 0;
		double el = 0;
		for (int t = 0; t < nthreads; t++) {
			memset(&v[t], 0, sizeof v[t]);
			v[t].pk = pk;
			v[t].sig = sig;
			v[t].msg = msg;
			v[t].mlen = sizeof msg;
			v[t].dur = 0.5;
			if (pthread_create(&th[t], NULL, verify_run, &v[t]) !=
			    0) {
				die("pthread_create");
			}
		}
		for (int t = 0; t < nthreads; t++) {
			(void)pthread_join(th[t], NULL);
			if (v[t].bad) {
				die("ed25519 verify failed");
			}
			n += v[t].n;
			if (v[t].elapsed > el) {
				el = v[t].elapsed;
			}
		}
		if ((double)n / el > best) {
			best = (double)n / el;
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
	int append_depth;  /* FTLOG_BENCH_PIPELINE, default 64 */
	int read_depth;    /* FTLOG_BENCH_PIPELINE, default 1 */
	char batch_arg[32];
	double batch_s;
	double sha_1k, ed_verify, ed_verify2; /* 1 thread, 2 threads */
	ev_pool pool;  /* the events of the pipelined append runs */
	ev_pool pool1; /* the events of the depth-1 run */
} bench;

#define APPEND_CLIENTS 64

/* Print a NULL-terminated argument list on one line. */
static void print_args(const char *const *args)
{
	for (int i = 0; args[i] != NULL; i++) {
		printf("%s%s", i ? " " : "", args[i]);
	}
}

/*
 * One append run: 64 clients x depth, the events of `pool` (the run ends
 * when they are used up or after `seconds`). kind: 0 the headline, 1 the
 * interval-paced run, 2 one add in flight per client; bound > 0 is the
 * Little's law bound printed beside it.
 */
static void phase_append(bench *b, const lh_server *srv, double seconds,
			 const char *label, const char *const *args,
			 const ev_pool *pool, int depth, int kind,
			 double bound)
{
	add_ctx a = { pool, 0, 0 };
	lg_job j;

	memset(&j, 0, sizeof j);
	j.next = next_add;
	j.ctx = &a;
	j.nconns = APPEND_CLIENTS;
	j.depth = depth;
	j.duration = seconds;
	j.limit = pool->n;
	j.want_status = 200;
	j.record_latency = 1;
	lg_run(srv->port, &j);
	double r = rate(&j);
	double mean = 0;
	for (size_t i = 0; i < j.nlat; i++) {
		mean += j.lat[i];
	}
	mean = j.nlat ? mean / (double)j.nlat * 1e3 : 0;
	double p50 = percentile(&j, 0.5) * 1e3, p99 = percentile(&j, 0.99) * 1e3;
	double p99_max = b->batch_s * 1e3 + 100;
	double ratio = b->ed_verify2 > 0 ? r / b->ed_verify2 : 0;
	const char *ended = j.started >= pool->n ? "all pre-signed events sent"
						 : "time up";

	if (kind == 0) {
		printf("signed-event appends: %.0f/s, p50 %.0f ms, p99 %.0f ms; "
		       "Ed25519 verify limit (2 cores): %.0f/s; ratio %.2f "
		       "(target >= 0.6: %s)\n",
		       r, p50, p99, b->ed_verify2, ratio,
		       ratio >= 0.6 ? "met" : "NOT met");
	}
	printf("append (%s): %d keep-alive clients x pipeline depth %d (up "
	       "to %" PRIu64 " in flight), signed events of ~%zu B "
	       "(%" PRIu64 " sent, %s), %.1f s; ftlogd ",
	       label, APPEND_CLIENTS, j.depth, j.max_inflight,
	       pool->n ? pool->bytes / pool->n : 0, j.started, ended,
	       j.elapsed);
	print_args(args);
	printf("\n  %.0f events/s, add latency p50 %.0f ms, p99 %.0f ms, mean "
	       "%.0f ms; %.3f of the Ed25519 verify limit on 2 cores, %.3f "
	       "of 1 core; %.4f of SHA-256 1 KiB",
	       r, p50, p99, mean, ratio,
	       b->ed_verify > 0 ? r / b->ed_verify : 0, r / b->sha_1k);
	if (bound > 0) {
		printf("; Little's law bound with every batch waiting the "
		       "interval: %d x %d in flight / %.0f ms = %.0f/s",
		       APPEND_CLIENTS, j.depth, b->batch_s * 1e3, bound);
	}
	printf("\n  p99 <= batch interval + 100 ms = %.0f ms: %s\n", p99_max,
	       p99 <= p99_max ? "met" : "NOT met");
	report_errors("append", &j);
	free(j.lat);
	fflush(stdout);
}

static void phase_grow(bench *b, uint64_t target)
{
	uint64_t size = tree_size(&b->srv);
	/* Event numbers of their own, after those of the pools. */
	add_ctx a = { NULL, 0, UINT64_C(1) << 40 };
	lg_job j;

	if (size >= target) {
		return;
	}
	memset(&j, 0, sizeof j);
	j.next = next_add;
	j.ctx = &a;
	j.nconns = APPEND_CLIENTS;
	j.depth = b->append_depth;
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
	printf("grow to %" PRIu64 ": %" PRIu64 " signed events of ~735 B in "
	       "%.1f s (%.0f events/s, signed by the load generator as it "
	       "goes, %d clients x depth %d)\n", got, got - size,
	       el, (double)(got - size) / el, APPEND_CLIENTS, j.depth);
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
	j.depth = b->read_depth;
	j.duration = 5.0;
	j.want_status = 200;
	j.record_latency = 1;
	lg_run(b->srv.port, &j);
	double r = rate(&j);
	printf("proofs at size %" PRIu64 ": %.0f inclusion proofs/s (p50 %.2f "
	       "ms, p99 %.2f ms, 64 clients x depth %d); target >= 50000/s "
	       "%s\n", p.size, r, percentile(&j, 0.5) * 1e3,
	       percentile(&j, 0.99) * 1e3, j.depth,
	       r >= 50000 ? "met" : "NOT met");
	report_errors("proofs", &j);
	free(j.lat);
	fflush(stdout);
}

static double tiles_rate(int port, int depth, tile_ctx *t, double *mbps)
{
	lg_job j;

	memset(&j, 0, sizeof j);
	j.next = next_tile;
	j.ctx = t;
	j.nconns = 64;
	j.depth = depth;
	j.duration = 3.0;
	j.want_status = 200;
	t->rng = t->seed; /* the same path sequence for both servers */
	lg_run(port, &j);
	report_errors("tiles", &j);
	*mbps = (double)j.body_bytes / j.elapsed / 1e6;
	return rate(&j);
}

/*
 * (g) A full audit from the tiles nginx serves: `ftlog audit` from an
 * empty state re-hashes every entry, rebuilds every tile, checks the
 * root, and (with the log's policy) verifies every entry's signature.
 * Entries/s next to SHA-256 of 1 KiB and Ed25519 verify (1 thread) -
 * the audit's own limits, since each entry is one leaf hash of about a
 * kilobyte and one signature check.
 */
static void audit_run(bench *b, int port, int with_policy)
{
	char url[64], state[1100], log[1100];
	uint64_t size = tree_size(&b->srv);
	int st;

	snprintf(url, sizeof url, "http://127.0.0.1:%d", port);
	snprintf(state, sizeof state, "%s/audit-state-%d", b->srv.dir,
		 with_policy);
	snprintf(log, sizeof log, "%s/audit-%d.out", b->srv.dir, with_policy);
	double t0 = now();
	pid_t pid = fork();
	if (pid < 0) {
		die("fork");
	}
	if (pid == 0) {
		char ftlog[1100];
		const char *d = getenv("FTLOG_BUILDDIR");
		int fd = open(log, O_WRONLY | O_CREAT | O_TRUNC, 0600);

		if (fd >= 0) {
			(void)dup2(fd, 1);
			(void)dup2(fd, 2);
			close(fd);
		}
		snprintf(ftlog, sizeof ftlog, "%s/tools/ftlog",
			 d != NULL ? d : ".");
		if (with_policy) {
			execl(ftlog, "ftlog", "audit", "--log", url,
			      "--log-key", b->srv.vkey_str, "--state", state,
			      "--policy", b->srv.policy, (char *)NULL);
		} else {
			execl(ftlog, "ftlog", "audit", "--log", url,
			      "--log-key", b->srv.vkey_str, "--state", state,
			      (char *)NULL);
		}
		_exit(127);
	}
	if (waitpid(pid, &st, 0) != pid) {
		die("waitpid");
	}
	double t = now() - t0;
	if (!WIFEXITED(st) || WEXITSTATUS(st) != 0) {
		printf("full audit (%s): FAILED, exit status %d, see %s\n",
		       with_policy ? "signatures checked" : "no policy",
		       WIFEXITED(st) ? WEXITSTATUS(st) : -1, log);
		fflush(stdout);
		return;
	}
	double rate = (double)size / t;
	if (with_policy) {
		printf("full audit from nginx, signatures checked (--policy): "
		       "%" PRIu64 " entries in %.1f s = %.0f entries/s; %.2f "
		       "of Ed25519 verify on 1 thread, %.2f of the 2-core "
		       "limit, %.3f of SHA-256 (1 KiB)\n",
		       size, t, rate, rate / b->ed_verify,
		       rate / b->ed_verify2, rate / b->sha_1k);
	} else {
		printf("full audit from nginx, tree and rules only (no "
		       "policy): %" PRIu64 " entries in %.1f s = %.0f "
		       "entries/s; %.3f of SHA-256 (1 KiB)\n",
		       size, t, rate, rate / b->sha_1k);
	}
	fflush(stdout);
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
			x = tiles_rate(b->srv.port, b->read_depth, kinds[k],
				       &mb);
			if (x > f) {
				f = x;
				mb_f = mb;
			}
			if (ngx > 0) {
				x = tiles_rate(port, b->read_depth, kinds[k],
					       &mb);
				if (x > n) {
					n = x;
					mb_n = mb;
				}
			}
		}
		if (ngx > 0) {
			printf("%s at size %" PRIu64 " (%zu full, random, 64 "
			       "clients x depth %d): ftlogd %.0f/s (%.0f MB/s), "
			       "nginx %.0f/s (%.0f MB/s): %.2fx nginx; target "
			       ">= 1.0x %s\n", names[k], size, kinds[k]->n,
			       b->read_depth, f, mb_f, n, mb_n,
			       f / n, f >= n ? "met" : "NOT met");
		} else {
			printf("%s at size %" PRIu64 ": ftlogd %.0f/s (%.0f "
			       "MB/s); nginx (%s) not available: no ratio\n",
			       names[k], size, f, mb_f, nginx_path());
		}
		fflush(stdout);
	}
	if (ngx > 0) {
		audit_run(b, port, 0);
		audit_run(b, port, 1);
		stop_nginx(ngx);
	}
	free(hash.paths);
	free(ent.paths);
}

static void phase_rss(bench *b, uint64_t at)
{
	mem_kib m;

	proc_mem(b->srv.pid, &m);
	double own = (double)(m.anon + (m.shmem > 0 ? m.shmem : 0)) / 1024;
	double rss = (double)m.rss / 1024;
	printf("rss at size %" PRIu64 ": VmRSS %.1f MiB = RssAnon %.1f MiB "
	       "(heap, stacks) + RssFile %.1f MiB (LMDB map pages: clean page "
	       "cache, shared, reclaimable) + RssShmem %.1f MiB; peak VmHWM "
	       "%.1f MiB\n", at, rss, (double)m.anon / 1024,
	       (double)m.file / 1024, (double)m.shmem / 1024,
	       (double)m.hwm / 1024);
	printf("  target RSS < 128 MiB (stated for 10^7 entries%s): VmRSS "
	       "%.1f MiB %s; RssAnon+RssShmem (what the server holds itself) "
	       "%.1f MiB %s\n", at >= 10000000 ? "" : "; this is a smaller "
	       "tree", rss, rss < 128 ? "met" : "NOT met", own,
	       own < 128 ? "met" : "NOT met");
	fflush(stdout);
}

/* ftlogd serve flags of the bench (after lh_start's own --data, --listen,
 * --ready-file, --policy, --tiles-dir); batch_size NULL = the server's
 * defaults. */
static void server_args(const bench *b, const char *batch_size,
			const char *queue_size, const char **args)
{
	int n = 0;

	args[n++] = "--batch-interval";
	args[n++] = b->batch_arg;
	if (batch_size != NULL) {
		args[n++] = "--batch-size";
		args[n++] = batch_size;
		args[n++] = "--queue-size";
		args[n++] = queue_size;
	}
	args[n++] = "--log-level";
	args[n++] = "warn";
	args[n] = NULL;
}

int main(void)
{
	bench b;
	const char *args[16], *paced_args[16];

	signal(SIGPIPE, SIG_IGN);
	setvbuf(stdout, NULL, _IOLBF, 0);
	if (sodium_init() < 0) {
		die("sodium_init");
	}
	memset(&b, 0, sizeof b);

	const char *pl = getenv("FTLOG_BENCH_PIPELINE");
	if (pl != NULL && *pl != 0) {
		b.append_depth = b.read_depth = atoi(pl);
		if (b.append_depth < 1 || b.append_depth > 1024) {
			die("FTLOG_BENCH_PIPELINE: 1..1024");
		}
	} else {
		b.append_depth = 64;
		b.read_depth = 1;
	}
	double seconds = env_double("FTLOG_BENCH_SECONDS", 10);
	const char *batch = getenv("FTLOG_BENCH_BATCH");
	if (batch == NULL || *batch == 0) {
		batch = "500ms";
	}
	snprintf(b.batch_arg, sizeof b.batch_arg, "%s", batch);
	b.batch_s = strtod(batch, NULL) / (strstr(batch, "ms") ? 1e3 : 1.0);
	int big = getenv("FTLOG_BENCH_BIG") != NULL &&
		  strcmp(getenv("FTLOG_BENCH_BIG"), "1") == 0;

	/* (f) This machine's limits, first, while nothing else runs. */
	b.sha_1k = limit_sha256_1k();
	b.ed_verify = limit_ed25519_verify(1);
	b.ed_verify2 = limit_ed25519_verify(2);
	printf("limit: SHA-256 of 1 KiB (nettle): %.0f hashes/s (%.0f MB/s)\n",
	       b.sha_1k, b.sha_1k * 1024 / 1e6);
	printf("limit: Ed25519 verify of 1.5 KiB (libsodium): %.0f/s on 1 "
	       "thread, %.0f/s on 2 threads at once (the 2-core limit; %.2fx)\n",
	       b.ed_verify, b.ed_verify2, b.ed_verify2 / b.ed_verify);
	if (b.ed_verify2 < 1.5 * b.ed_verify) {
		printf("  (2 threads verify less than 1.5x what 1 does: another "
		       "process is probably using a core, and every figure "
		       "below is low)\n");
	}

	/* The events of the append runs, signed before any timing. */
	size_t nev = (size_t)env_double("FTLOG_BENCH_EVENTS", 80000);
	if (nev < 1000) {
		nev = 1000;
	}
	pool_make(&b.pool, UINT64_C(1) << 32, nev, 2048);
	pool_make(&b.pool1, UINT64_C(2) << 32,
		  (size_t)(APPEND_CLIENTS * 5 / b.batch_s) + 2000, 2048);
	printf("signed %zu + %zu events of ~%zu B for the append runs "
	       "beforehand (%.1f s on 2 threads)\n",
	       b.pool.n, b.pool1.n, b.pool.bytes / b.pool.n,
	       b.pool.seconds + b.pool1.seconds);

	/* (a) A fresh log with the static export on, the server's batching
	 * defaults (batch-size 4096, queue-size 65536). */
	server_args(&b, NULL, NULL, args);
	if (lh_init(&b.srv, "bench.example/log") != 0 ||
	    lh_start(&b.srv, 1, args) != 0) {
		die("cannot start ftlogd (set FTLOG_BUILDDIR)");
	}
	printf("ftlogd: %s serve --data D --listen 127.0.0.1:0 --ready-file F "
	       "--policy P --tiles-dir T ", lh_ftlogd_path());
	print_args(args);
	printf("\n");

	/* (b) Appends, as the target defines them. */
	phase_append(&b, &b.srv, seconds, "server batching defaults", args,
		     &b.pool, b.append_depth, 0, 0);

	/* The same load on a second fresh log whose size cap never fills,
	 * so that every batch waits the full interval. */
	{
		lh_server paced;
		char qs[32];
		snprintf(qs, sizeof qs, "%d",
			 4 * APPEND_CLIENTS * b.append_depth > 262144
				 ? 4 * APPEND_CLIENTS * b.append_depth
				 : 262144);
		server_args(&b, "65536", qs, paced_args);
		if (lh_init(&paced, "bench.example/paced") != 0 ||
		    lh_start(&paced, 1, paced_args) != 0) {
			die("cannot start the second ftlogd");
		}
		phase_append(&b, &paced, seconds, "interval-paced batches",
			     paced_args, &b.pool, b.append_depth, 1,
			     APPEND_CLIENTS * b.append_depth / b.batch_s);
		if (lh_stop(&paced) != 0) {
			fprintf(stderr, "bench_logd: second ftlogd did not "
				"exit cleanly\n");
		}
		lh_cleanup(&paced);
	}

	/* 64 clients with one add in flight each, back on the first log:
	 * every batch waits the interval. */
	phase_append(&b, &b.srv, 5.0, "one add in flight per client", args,
		     &b.pool1, 1, 2, APPEND_CLIENTS / b.batch_s);
	pool_free(&b.pool);
	pool_free(&b.pool1);

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
