/*
 * tests/logd_harness.c - see logd_harness.h.
 *
 * Processes: fork + execv (never a shell), with every string the child
 * needs prepared before fork, so the child only calls async-signal-safe
 * functions (the test process may have threads). The server gets
 * PR_SET_PDEATHSIG(SIGKILL), so a test process killed by Check's timeout
 * does not leave a server behind.
 *
 * HTTP: blocking sockets to 127.0.0.1 only, every wait bounded by poll()
 * against one deadline per request. Responses are framed by
 * Content-Length, by chunked transfer coding, or by the end of the
 * connection; heads are capped at 64 KiB and bodies at 64 MiB.
 */
#define _DEFAULT_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <sodium.h>

#include <ftlog/common.h>
#include <ftlog/event.h>
#include <ftlog/merkle.h>
#include <ftlog/note.h>
#include <ftlog/tile.h>
#include <ftlog/tlogproof.h>

#include "tests/logd_harness.h"
#include "tests/testutil.h"

#define LH_HEAD_MAX (64 * 1024)
#define LH_BODY_MAX (64 * 1024 * 1024)
#define LH_HTTP_TIMEOUT_MS 30000
#define LH_READY_TIMEOUT_MS 20000
#define LH_STOP_TIMEOUT_MS 20000
#define LH_RUN_TIMEOUT_MS 30000
#define LH_MAX_ARGS 64

/* ---- Time. ------------------------------------------------------------ */

static int64_t now_ms(void)
{
	struct timespec ts;

	(void)clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* ---- Servers left running at exit (a failed assertion). --------------- */

#define LH_REG_MAX 16
static lh_server *registry[LH_REG_MAX];
static int atexit_done;

static void print_log_tail(const lh_server *s)
{
	size_t len = 0;
	uint8_t *b = tu_read_file(s->log, &len);

	if (b == NULL) {
		return;
	}
	size_t off = len > 6000 ? len - 6000 : 0;
	fprintf(stderr, "---- tail of %s ----\n%s%s---- end ----\n", s->log,
		off > 0 ? "[...]\n" : "", (const char *)b + off);
	free(b);
}

static void on_exit_cleanup(void)
{
	for (int i = 0; i < LH_REG_MAX; i++) {
		lh_server *s = registry[i];
		if (s == NULL) {
			continue;
		}
		registry[i] = NULL;
		if (s->pid > 0) {
			(void)kill(s->pid, SIGKILL);
			(void)waitpid(s->pid, NULL, 0);
			s->pid = 0;
		}
		if (s->dir != NULL) {
			print_log_tail(s);
			if (getenv("FTLOG_KEEP_TMP") != NULL) {
				fprintf(stderr, "kept %s\n", s->dir);
			} else {
				tu_rmtree(s->dir);
			}
		}
	}
}

static void reg_add(lh_server *s)
{
	if (!atexit_done) {
		atexit_done = 1;
		(void)atexit(on_exit_cleanup);
	}
	for (int i = 0; i < LH_REG_MAX; i++) {
		if (registry[i] == s) {
			return;
		}
	}
	for (int i = 0; i < LH_REG_MAX; i++) {
		if (registry[i] == NULL) {
			registry[i] = s;
			return;
		}
	}
}

static void reg_del(lh_server *s)
{
	for (int i = 0; i < LH_REG_MAX; i++) {
		if (registry[i] == s) {
			registry[i] = NULL;
		}
	}
}

/*
 * Check runs each test in a child that ends with _exit() on a failed
 * assertion, so atexit() handlers do not run there. The suite fixture
 * below runs in Check's parent process instead: every temporary directory
 * of the tests goes under one root (through $TMPDIR, which tu_tmpdir
 * uses), removed when the test case is over, whatever happened.
 */
static char *suite_root;
static char *saved_tmpdir;

void lh_suite_setup(void)
{
	const char *t = getenv("TMPDIR");

	if (suite_root != NULL) {
		return;
	}
	saved_tmpdir = t != NULL ? strdup(t) : NULL;
	suite_root = tu_tmpdir();
	if (suite_root != NULL) {
		(void)setenv("TMPDIR", suite_root, 1);
	}
}

void lh_suite_teardown(void)
{
	if (suite_root == NULL) {
		return;
	}
	if (saved_tmpdir != NULL) {
		(void)setenv("TMPDIR", saved_tmpdir, 1);
	} else {
		(void)unsetenv("TMPDIR");
	}
	free(saved_tmpdir);
	saved_tmpdir = NULL;
	/* Servers of a failed test die with it (PR_SET_PDEATHSIG); give
	 * them a moment before their files are removed. */
	tu_sleep_ms(100);
	if (getenv("FTLOG_KEEP_TMP") != NULL) {
		fprintf(stderr, "kept %s\n", suite_root);
	} else {
		tu_rmtree(suite_root);
	}
	free(suite_root);
	suite_root = NULL;
}

/* ---- Processes. ------------------------------------------------------- */

const char *lh_ftlogd_path(void)
{
	static char path[1024];
	const char *p = getenv("FTLOG_FTLOGD");

	if (p != NULL && *p != 0) {
		return p;
	}
	const char *b = getenv("FTLOG_BUILDDIR");
	if (b == NULL || *b == 0) {
		b = ".";
	}
	int n = snprintf(path, sizeof path, "%s/logd/ftlogd", b);
	if (n < 0 || (size_t)n >= sizeof path) {
		return "logd/ftlogd";
	}
	return path;
}

/* Wait for pid up to timeout_ms; the status, 128+signal, or -2 on timeout
 * (still running), -1 on error. */
static int wait_child(pid_t pid, int timeout_ms)
{
	int64_t deadline = now_ms() + timeout_ms;

	for (;;) {
		int st = 0;
		pid_t w = waitpid(pid, &st, WNOHANG);
		if (w == pid) {
			if (WIFEXITED(st)) {
				return WEXITSTATUS(st);
			}
			if (WIFSIGNALED(st)) {
				return 128 + WTERMSIG(st);
			}
			continue;
		}
		if (w < 0 && errno != EINTR) {
			return -1;
		}
		if (now_ms() >= deadline) {
			return -2;
		}
		tu_sleep_ms(5);
	}
}

/*
 * fork + execv(ftlogd, argv) with stdin /dev/null and fds 1, 2 as given
 * (already open; -1 means /dev/null). Returns the pid or -1.
 */
static pid_t spawn(char *const argv[], int out_fd, int err_fd,
		   int deathsig)
{
	const char *bin = argv[0];
	int null_fd = open("/dev/null", O_RDWR | O_CLOEXEC);
	pid_t parent = getpid();

	if (null_fd < 0) {
		return -1;
	}
	pid_t pid = fork();
	if (pid < 0) {
		close(null_fd);
		return -1;
	}
	if (pid == 0) {
		/* Child: async-signal-safe calls only. */
		if (deathsig) {
			(void)prctl(PR_SET_PDEATHSIG, SIGKILL);
			if (getppid() != parent) {
				_exit(127);
			}
		}
		sigset_t none;
		sigemptyset(&none);
		(void)sigprocmask(SIG_SETMASK, &none, NULL);
		(void)signal(SIGPIPE, SIG_DFL);
		if (dup2(null_fd, 0) < 0 ||
		    dup2(out_fd >= 0 ? out_fd : null_fd, 1) < 0 ||
		    dup2(err_fd >= 0 ? err_fd : null_fd, 2) < 0) {
			_exit(127);
		}
		execv(bin, argv);
		/* "lh: execv failed, errno NNN" without stdio. */
		char msg[64] = "lh: execv failed, errno ";
		size_t ml = strlen(msg);
		int en = errno;
		char dig[12];
		int nd = 0;
		do {
			dig[nd++] = (char)('0' + en % 10);
			en /= 10;
		} while (en > 0 && nd < 11);
		while (nd > 0) {
			msg[ml++] = dig[--nd];
		}
		msg[ml++] = '\n';
		ssize_t wr = write(2, msg, ml);
		(void)wr;
		_exit(127);
	}
	close(null_fd);
	return pid;
}

/* Build argv: bin, fixed..., extra... into v (LH_MAX_ARGS). */
static int build_argv_prog(char **v, const char *prog,
			   const char *const *fixed,
			   const char *const *extra)
{
	size_t n = 0;

	v[n++] = (char *)prog;
	for (size_t i = 0; fixed != NULL && fixed[i] != NULL; i++) {
		if (n + 1 >= LH_MAX_ARGS) {
			return -1;
		}
		v[n++] = (char *)fixed[i];
	}
	for (size_t i = 0; extra != NULL && extra[i] != NULL; i++) {
		if (n + 1 >= LH_MAX_ARGS) {
			return -1;
		}
		v[n++] = (char *)extra[i];
	}
	v[n] = NULL;
	return 0;
}

static int build_argv(char **v, const char *const *fixed,
		      const char *const *extra)
{
	return build_argv_prog(v, lh_ftlogd_path(), fixed, extra);
}

/* Read everything from fd (until EOF or deadline) into a malloc'd string. */
static char *slurp_fd(int fd, int64_t deadline)
{
	size_t cap = 4096, len = 0;
	char *b = malloc(cap);

	if (b == NULL) {
		return NULL;
	}
	for (;;) {
		int64_t left = deadline - now_ms();
		if (left <= 0) {
			break;
		}
		struct pollfd pfd = {fd, POLLIN, 0};
		int pr = poll(&pfd, 1, (int)left);
		if (pr < 0 && errno == EINTR) {
			continue;
		}
		if (pr <= 0) {
			break;
		}
		if (cap - len < 1024) {
			if (cap >= LH_BODY_MAX) {
				break;
			}
			char *nb = realloc(b, cap * 2);
			if (nb == NULL) {
				break;
			}
			b = nb;
			cap *= 2;
		}
		ssize_t r = read(fd, b + len, cap - len - 1);
		if (r < 0 && errno == EINTR) {
			continue;
		}
		if (r <= 0) {
			break;
		}
		len += (size_t)r;
	}
	b[len] = 0;
	return b;
}

static int pipe_cloexec(int p[2])
{
	if (pipe(p) != 0) {
		p[0] = p[1] = -1;
		return -1;
	}
	if (fcntl(p[0], F_SETFD, FD_CLOEXEC) != 0 ||
	    fcntl(p[1], F_SETFD, FD_CLOEXEC) != 0) {
		return -1;
	}
	return 0;
}

int lh_run(const char *const *args, char **out, char **err)
{
	return lh_exec(lh_ftlogd_path(), args, out, err);
}

pid_t lh_spawn(const char *prog, const char *const *args, const char *log)
{
	char *argv[LH_MAX_ARGS];
	int lfd;
	pid_t pid;

	if (build_argv_prog(argv, prog, args, NULL) != 0) {
		return -1;
	}
	lfd = open(log, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
	if (lfd < 0) {
		return -1;
	}
	pid = spawn(argv, lfd, lfd, 1);
	close(lfd);
	return pid;
}

int lh_exec(const char *prog, const char *const *args, char **out,
	    char **err)
{
	char *argv[LH_MAX_ARGS];
	int op[2] = {-1, -1}, ep[2] = {-1, -1};
	int rc = -1;

	if (out != NULL) {
		*out = NULL;
	}
	if (err != NULL) {
		*err = NULL;
	}
	if (build_argv_prog(argv, prog, args, NULL) != 0) {
		return -1;
	}
	if (pipe_cloexec(op) != 0 || pipe_cloexec(ep) != 0) {
		goto done;
	}
	pid_t pid = spawn(argv, op[1], ep[1], 1);
	close(op[1]);
	close(ep[1]);
	op[1] = ep[1] = -1;
	if (pid < 0) {
		goto done;
	}
	int64_t deadline = now_ms() + LH_RUN_TIMEOUT_MS;
	/* The outputs are small; read stderr after stdout (both pipes hold
	 * 64 KiB, far more than ftlogd prints). */
	char *o = slurp_fd(op[0], deadline);
	char *e = slurp_fd(ep[0], deadline);
	int64_t left = deadline - now_ms();
	rc = wait_child(pid, left > 0 ? (int)left : 1);
	if (rc == -2) {
		(void)kill(pid, SIGKILL);
		(void)waitpid(pid, NULL, 0);
		rc = -1;
	}
	if (out != NULL) {
		*out = o;
	} else {
		free(o);
	}
	if (err != NULL) {
		*err = e;
	} else {
		free(e);
	}
done:
	for (int i = 0; i < 2; i++) {
		if (op[i] >= 0) {
			close(op[i]);
		}
		if (ep[i] >= 0) {
			close(ep[i]);
		}
	}
	return rc;
}

static int path_join(char *dst, size_t cap, const char *a, const char *b)
{
	int n = snprintf(dst, cap, "%s/%s", a, b);

	return n < 0 || (size_t)n >= cap ? -1 : 0;
}

int lh_init(lh_server *s, const char *origin)
{
	char *out = NULL, *err = NULL;

	memset(s, 0, sizeof *s);
	if (strlen(origin) >= sizeof s->origin) {
		return -1;
	}
	snprintf(s->origin, sizeof s->origin, "%s", origin);
	s->dir = tu_tmpdir();
	if (s->dir == NULL) {
		return -1;
	}
	reg_add(s);
	if (path_join(s->data, sizeof s->data, s->dir, "data") != 0 ||
	    path_join(s->tiles, sizeof s->tiles, s->dir, "tiles") != 0 ||
	    path_join(s->log, sizeof s->log, s->dir, "ftlogd.log") != 0 ||
	    path_join(s->policy, sizeof s->policy, s->dir, "policy.json") !=
		    0) {
		return -1;
	}
	const char *args[] = {"init", "--data", s->data, "--origin", origin,
			      NULL};
	int st = lh_run(args, &out, &err);
	int rc = -1;
	FILE *lf = fopen(s->log, "a");
	if (lf != NULL) {
		fprintf(lf, "== ftlogd init: exit %d\n%s", st,
			err != NULL ? err : "");
		fclose(lf);
	}
	if (st != 0 || out == NULL) {
		fprintf(stderr, "lh_init: ftlogd init exited %d: %s\n", st,
			err != NULL ? err : "");
		goto done;
	}
	/* Exactly one line: the verifier key. */
	char *nl = strchr(out, '\n');
	if (nl == NULL || nl[1] != 0) {
		fprintf(stderr, "lh_init: init output is not one line: %s\n",
			out);
		goto done;
	}
	*nl = 0;
	if (strlen(out) >= sizeof s->vkey_str) {
		goto done;
	}
	snprintf(s->vkey_str, sizeof s->vkey_str, "%s", out);
	int prc = ft_vkey_parse(out, strlen(out), &s->vkey);
	if (prc != 0) {
		fprintf(stderr, "lh_init: key \"%s\" does not parse: %s\n", out,
			ft_strerror(prc));
		goto done;
	}
	char *pol = lh_default_policy(NULL);
	if (pol == NULL || lh_write_policy(s, pol) != 0) {
		fprintf(stderr, "lh_init: cannot write %s\n", s->policy);
		free(pol);
		goto done;
	}
	free(pol);
	rc = 0;
done:
	free(out);
	free(err);
	return rc;
}

int lh_start(lh_server *s, int tiles, const char *const *extra_args)
{
	char ready[600];
	char *argv[LH_MAX_ARGS];

	if (s->dir == NULL || s->pid > 0 ||
	    path_join(ready, sizeof ready, s->dir, "ready") != 0) {
		return -1;
	}
	(void)unlink(ready);
	const char *fixed_t[] = {"serve",	 "--data",
				 s->data,	 "--listen",
				 "127.0.0.1:0",	 "--ready-file",
				 ready,		 "--policy",
				 s->policy,	 "--tiles-dir",
				 s->tiles,	 NULL};
	if (!tiles) {
		fixed_t[9] = NULL;
	}
	if (build_argv(argv, fixed_t, extra_args) != 0) {
		return -1;
	}
	int lfd = open(s->log, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC,
		       0644);
	if (lfd < 0) {
		return -1;
	}
	{
		char line[256];
		int n = snprintf(line, sizeof line, "== ftlogd serve%s\n",
				 tiles ? " (tiles)" : "");
		if (n > 0 && write(lfd, line, (size_t)n) != n) {
			/* the log is only for diagnosis */
		}
	}
	pid_t pid = spawn(argv, lfd, lfd, 1);
	close(lfd);
	if (pid < 0) {
		return -1;
	}
	s->pid = pid;
	reg_add(s);

	int64_t deadline = now_ms() + LH_READY_TIMEOUT_MS;
	for (;;) {
		size_t len = 0;
		uint8_t *b = tu_read_file(ready, &len);
		if (b != NULL) {
			/* Written atomically: "127.0.0.1:PORT\n". */
			const char *pfx = "127.0.0.1:";
			size_t pl = strlen(pfx);
			int port = 0;
			int ok = len > pl + 1 && len < 64 &&
				 memcmp(b, pfx, pl) == 0 && b[len - 1] == '\n';
			for (size_t i = pl; ok && i + 1 < len; i++) {
				if (b[i] < '0' || b[i] > '9') {
					ok = 0;
				} else {
					port = port * 10 + (b[i] - '0');
					ok = port <= 65535;
				}
			}
			free(b);
			if (!ok || port == 0) {
				fprintf(stderr, "lh_start: bad ready file\n");
				lh_kill(s);
				return -1;
			}
			s->port = port;
			return 0;
		}
		int st = wait_child(pid, 0);
		if (st >= 0 || st == -1) {
			fprintf(stderr, "lh_start: ftlogd exited (%d) before "
					"ready\n",
				st);
			s->pid = 0;
			print_log_tail(s);
			return -1;
		}
		if (now_ms() >= deadline) {
			fprintf(stderr, "lh_start: no ready file after %d ms\n",
				LH_READY_TIMEOUT_MS);
			lh_kill(s);
			print_log_tail(s);
			return -1;
		}
		tu_sleep_ms(5);
	}
}

int lh_stop(lh_server *s)
{
	if (s->pid <= 0) {
		return -1;
	}
	if (kill(s->pid, SIGTERM) != 0) {
		return -1;
	}
	int st = wait_child(s->pid, LH_STOP_TIMEOUT_MS);
	if (st == -2) {
		fprintf(stderr, "lh_stop: ftlogd ignored SIGTERM for %d ms\n",
			LH_STOP_TIMEOUT_MS);
		(void)kill(s->pid, SIGKILL);
		st = wait_child(s->pid, LH_STOP_TIMEOUT_MS);
	}
	s->pid = 0;
	s->port = 0;
	return st < 0 ? -1 : st;
}

void lh_kill(lh_server *s)
{
	if (s->pid <= 0) {
		return;
	}
	(void)kill(s->pid, SIGKILL);
	while (waitpid(s->pid, NULL, 0) < 0 && errno == EINTR) {
	}
	s->pid = 0;
	s->port = 0;
}

void lh_cleanup(lh_server *s)
{
	if (s->pid > 0) {
		int st = lh_stop(s);
		if (st != 0) {
			fprintf(stderr, "lh_cleanup: ftlogd exit status %d\n",
				st);
		}
	}
	reg_del(s);
	if (s->dir != NULL) {
		if (getenv("FTLOG_KEEP_TMP") != NULL) {
			fprintf(stderr, "kept %s\n", s->dir);
		} else {
			tu_rmtree(s->dir);
		}
		free(s->dir);
		s->dir = NULL;
	}
}

int lh_log_clean(const lh_server *s)
{
	static const char *const marks[] = {"AddressSanitizer",
					    "LeakSanitizer", "runtime error:",
					    "ThreadSanitizer"};
	size_t len = 0;
	uint8_t *b = tu_read_file(s->log, &len);
	int rc = 0;

	if (b == NULL) {
		return 0;
	}
	for (size_t i = 0; i < sizeof marks / sizeof marks[0]; i++) {
		if (strstr((char *)b, marks[i]) != NULL) {
			fprintf(stderr, "lh: %s in %s\n", marks[i], s->log);
			rc = -1;
		}
	}
	if (rc != 0) {
		print_log_tail(s);
	}
	free(b);
	return rc;
}

int lh_alive(lh_server *s)
{
	if (s->pid <= 0) {
		return 0;
	}
	int st = wait_child(s->pid, 0);
	if (st == -2) {
		return 1;
	}
	fprintf(stderr, "lh: ftlogd exited on its own (status %d)\n", st);
	s->pid = 0;
	s->port = 0;
	print_log_tail(s);
	return 0;
}

/* ---- HTTP. ------------------------------------------------------------ */

void lh_resp_free(lh_resp *r)
{
	if (r == NULL) {
		return;
	}
	free(r->head);
	free(r->body);
	memset(r, 0, sizeof *r);
}

int lh_conn_open(lh_conn *c, int port)
{
	struct sockaddr_in sa;

	memset(c, 0, sizeof *c);
	c->fd = -1;
	if (port <= 0 || port > 65535) {
		return -1;
	}
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0) {
		return -1;
	}
	memset(&sa, 0, sizeof sa);
	sa.sin_family = AF_INET;
	sa.sin_port = htons((uint16_t)port);
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK); /* 127.0.0.1 only */
	int rc;
	do {
		rc = connect(fd, (struct sockaddr *)&sa, sizeof sa);
	} while (rc != 0 && errno == EINTR);
	if (rc != 0) {
		close(fd);
		return -1;
	}
	int one = 1;
	(void)setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
	c->fd = fd;
	return 0;
}

void lh_conn_close(lh_conn *c)
{
	if (c->fd >= 0) {
		close(c->fd);
	}
	free(c->buf);
	memset(c, 0, sizeof *c);
	c->fd = -1;
}

static int send_all(int fd, const uint8_t *p, size_t len, int64_t deadline)
{
	while (len > 0) {
		int64_t left = deadline - now_ms();
		if (left <= 0) {
			return -1;
		}
		struct pollfd pfd = {fd, POLLOUT, 0};
		int pr = poll(&pfd, 1, (int)left);
		if (pr < 0 && errno == EINTR) {
			continue;
		}
		if (pr <= 0) {
			return -1;
		}
		ssize_t w = send(fd, p, len, MSG_NOSIGNAL | MSG_DONTWAIT);
		if (w < 0 && (errno == EINTR || errno == EAGAIN ||
			      errno == EWOULDBLOCK)) {
			continue;
		}
		if (w <= 0) {
			return -1;
		}
		p += w;
		len -= (size_t)w;
	}
	return 0;
}

int lh_conn_send(lh_conn *c, const void *data, size_t len)
{
	if (c->fd < 0) {
		return -1;
	}
	c->head_req = 0;
	return send_all(c->fd, data, len, now_ms() + LH_HTTP_TIMEOUT_MS);
}

/* Read more bytes into c->buf: 1 got some, 0 EOF, -1 error/timeout. */
static int fill(lh_conn *c, int64_t deadline)
{
	if (c->cap - c->len < 4096) {
		size_t ncap = c->cap == 0 ? 16384 : c->cap * 2;
		if (ncap > LH_BODY_MAX + LH_HEAD_MAX + 65536) {
			return -1;
		}
		uint8_t *nb = realloc(c->buf, ncap + 1);
		if (nb == NULL) {
			return -1;
		}
		c->buf = nb;
		c->cap = ncap;
	}
	for (;;) {
		int64_t left = deadline - now_ms();
		if (left <= 0) {
			return -1;
		}
		struct pollfd pfd = {c->fd, POLLIN, 0};
		int pr = poll(&pfd, 1, (int)left);
		if (pr < 0 && errno == EINTR) {
			continue;
		}
		if (pr <= 0) {
			return -1;
		}
		ssize_t r = recv(c->fd, c->buf + c->len, c->cap - c->len,
				 MSG_DONTWAIT);
		if (r < 0 && (errno == EINTR || errno == EAGAIN ||
			      errno == EWOULDBLOCK)) {
			continue;
		}
		if (r < 0) {
			return -1;
		}
		if (r == 0) {
			return 0;
		}
		c->len += (size_t)r;
		return 1;
	}
}

static void consume(lh_conn *c, size_t n)
{
	memmove(c->buf, c->buf + n, c->len - n);
	c->len -= n;
}

static const uint8_t *find(const uint8_t *p, size_t len, const char *s)
{
	size_t k = strlen(s);

	for (size_t i = 0; i + k <= len; i++) {
		if (memcmp(p + i, s, k) == 0) {
			return p + i;
		}
	}
	return NULL;
}

/* Strict decimal of at most 18 digits. */
static int parse_dec(const char *s, size_t n, uint64_t *out)
{
	uint64_t v = 0;

	if (n == 0 || n > 18) {
		return -1;
	}
	for (size_t i = 0; i < n; i++) {
		if (s[i] < '0' || s[i] > '9') {
			return -1;
		}
		v = v * 10 + (uint64_t)(s[i] - '0');
	}
	*out = v;
	return 0;
}

int lh_header(const lh_resp *r, const char *name, char *buf, size_t cap)
{
	size_t nl = strlen(name);

	if (r == NULL || r->head == NULL) {
		return -1;
	}
	const char *p = strstr(r->head, "\r\n");
	while (p != NULL) {
		p += 2;
		const char *e = strstr(p, "\r\n");
		if (e == NULL || e == p) {
			return -1;
		}
		if ((size_t)(e - p) > nl && p[nl] == ':' &&
		    strncasecmp(p, name, nl) == 0) {
			const char *v = p + nl + 1;
			while (v < e && (*v == ' ' || *v == '\t')) {
				v++;
			}
			const char *ve = e;
			while (ve > v && (ve[-1] == ' ' || ve[-1] == '\t')) {
				ve--;
			}
			if ((size_t)(ve - v) >= cap) {
				return -1;
			}
			memcpy(buf, v, (size_t)(ve - v));
			buf[ve - v] = 0;
			return 0;
		}
		p = e;
	}
	return -1;
}

static int has_token(const char *v, const char *tok)
{
	size_t k = strlen(tok);

	for (const char *p = v; *p;) {
		while (*p == ' ' || *p == ',' || *p == '\t') {
			p++;
		}
		const char *e = p;
		while (*e && *e != ',') {
			e++;
		}
		const char *te = e;
		while (te > p && (te[-1] == ' ' || te[-1] == '\t')) {
			te--;
		}
		if ((size_t)(te - p) == k && strncasecmp(p, tok, k) == 0) {
			return 1;
		}
		p = e;
	}
	return 0;
}

/* Append n bytes to a growing body. */
static int body_add(lh_resp *r, size_t *cap, const uint8_t *p, size_t n)
{
	if (r->body_len + n > LH_BODY_MAX) {
		return -1;
	}
	if (*cap < r->body_len + n + 1) {
		size_t ncap = *cap == 0 ? 4096 : *cap;
		while (ncap < r->body_len + n + 1) {
			ncap *= 2;
		}
		uint8_t *nb = realloc(r->body, ncap);
		if (nb == NULL) {
			return -1;
		}
		r->body = nb;
		*cap = ncap;
	}
	if (n > 0) {
		memcpy(r->body + r->body_len, p, n);
	}
	r->body_len += n;
	r->body[r->body_len] = 0;
	return 0;
}

/* Read a CRLF-terminated line of the chunked coding; its length (without
 * CRLF) or -1. The line stays in c->buf; the caller consumes len + 2. */
static long chunk_line(lh_conn *c, int64_t deadline)
{
	for (;;) {
		const uint8_t *e = find(c->buf, c->len, "\r\n");
		if (e != NULL) {
			return (long)(e - c->buf);
		}
		if (c->len > 4096 || fill(c, deadline) != 1) {
			return -1;
		}
	}
}

static int read_chunked(lh_conn *c, lh_resp *r, int64_t deadline)
{
	size_t cap = 0;

	if (body_add(r, &cap, NULL, 0) != 0) {
		return -1;
	}
	for (;;) {
		long ll = chunk_line(c, deadline);
		if (ll <= 0) {
			return -1;
		}
		uint64_t size = 0;
		long i = 0;
		for (; i < ll; i++) {
			int ch = c->buf[i], d;
			if (ch >= '0' && ch <= '9') {
				d = ch - '0';
			} else if (ch >= 'a' && ch <= 'f') {
				d = ch - 'a' + 10;
			} else if (ch >= 'A' && ch <= 'F') {
				d = ch - 'A' + 10;
			} else if (ch == ';') {
				break; /* chunk extension */
			} else {
				return -1;
			}
			if (i >= 8) {
				return -1;
			}
			size = size * 16 + (uint64_t)d;
		}
		if (i == 0) {
			return -1;
		}
		consume(c, (size_t)ll + 2);
		if (size == 0) {
			/* Trailer section, ends with an empty line. */
			for (;;) {
				long tl = chunk_line(c, deadline);
				if (tl < 0) {
					return -1;
				}
				consume(c, (size_t)tl + 2);
				if (tl == 0) {
					return 0;
				}
			}
		}
		while (c->len < size + 2) {
			if (fill(c, deadline) != 1) {
				return -1;
			}
		}
		if (c->buf[size] != '\r' || c->buf[size + 1] != '\n' ||
		    body_add(r, &cap, c->buf, (size_t)size) != 0) {
			return -1;
		}
		consume(c, (size_t)size + 2);
	}
}

static int read_response(lh_conn *c, lh_resp *r, int64_t deadline)
{
	const uint8_t *he;

	memset(r, 0, sizeof *r);
	for (;;) {
		he = find(c->buf, c->len, "\r\n\r\n");
		if (he != NULL) {
			break;
		}
		if (c->len > LH_HEAD_MAX || fill(c, deadline) != 1) {
			return -1;
		}
	}
	size_t hlen = (size_t)(he - c->buf) + 4;
	if (hlen > LH_HEAD_MAX || memchr(c->buf, 0, hlen) != NULL) {
		return -1;
	}
	r->head = malloc(hlen + 1);
	if (r->head == NULL) {
		return -1;
	}
	memcpy(r->head, c->buf, hlen);
	r->head[hlen] = 0;
	consume(c, hlen);

	/* "HTTP/1.x DDD[ reason]\r\n" */
	if (strncmp(r->head, "HTTP/1.", 7) != 0 ||
	    (r->head[7] != '0' && r->head[7] != '1') || r->head[8] != ' ') {
		goto bad;
	}
	for (int i = 9; i < 12; i++) {
		if (r->head[i] < '0' || r->head[i] > '9') {
			goto bad;
		}
	}
	if (r->head[12] != ' ' && r->head[12] != '\r') {
		goto bad;
	}
	r->status = (r->head[9] - '0') * 100 + (r->head[10] - '0') * 10 +
		    (r->head[11] - '0');

	char v[256];
	size_t cap = 0;
	if (c->head_req || r->status / 100 == 1 || r->status == 204 ||
	    r->status == 304) {
		if (body_add(r, &cap, NULL, 0) != 0) {
			goto bad;
		}
		return 0;
	}
	if (lh_header(r, "Transfer-Encoding", v, sizeof v) == 0) {
		if (!has_token(v, "chunked") ||
		    read_chunked(c, r, deadline) != 0) {
			goto bad;
		}
		return 0;
	}
	if (lh_header(r, "Content-Length", v, sizeof v) == 0) {
		uint64_t n = 0;
		if (parse_dec(v, strlen(v), &n) != 0 || n > LH_BODY_MAX) {
			goto bad;
		}
		while (c->len < n) {
			if (fill(c, deadline) != 1) {
				goto bad;
			}
		}
		if (body_add(r, &cap, c->buf, (size_t)n) != 0) {
			goto bad;
		}
		consume(c, (size_t)n);
		return 0;
	}
	/* Delimited by the end of the connection. */
	for (;;) {
		if (c->len > 0) {
			if (body_add(r, &cap, c->buf, c->len) != 0) {
				goto bad;
			}
			c->len = 0;
		}
		int f = fill(c, deadline);
		if (f == 0) {
			break;
		}
		if (f < 0) {
			goto bad;
		}
	}
	if (body_add(r, &cap, NULL, 0) != 0) {
		goto bad;
	}
	return 0;
bad:
	lh_resp_free(r);
	return -1;
}

int lh_conn_read_response(lh_conn *c, lh_resp *out, int timeout_ms)
{
	if (c->fd < 0) {
		memset(out, 0, sizeof *out);
		return -1;
	}
	int rc = read_response(c, out, now_ms() + timeout_ms);
	c->head_req = 0;
	return rc;
}

static int send_request(lh_conn *c, int port, const char *method,
			const char *path, const void *body, size_t body_len,
			int close_conn, int64_t deadline)
{
	char head[2048];
	char cl[64] = "";

	if (body != NULL) {
		snprintf(cl, sizeof cl, "Content-Length: %zu\r\n", body_len);
	}
	int n = snprintf(head, sizeof head,
			 "%s %s HTTP/1.1\r\nHost: 127.0.0.1:%d\r\n"
			 "User-Agent: ftlog-test\r\n%s%s\r\n",
			 method, path, port, cl,
			 close_conn ? "Connection: close\r\n" : "");
	if (n < 0 || (size_t)n >= sizeof head) {
		return -1;
	}
	c->head_req = strcmp(method, "HEAD") == 0;
	if (send_all(c->fd, (const uint8_t *)head, (size_t)n, deadline) != 0) {
		return -1;
	}
	if (body != NULL && body_len > 0 &&
	    send_all(c->fd, body, body_len, deadline) != 0) {
		return -1;
	}
	return 0;
}

/* The port a connection talks to (for the Host header). */
static int conn_port(const lh_conn *c)
{
	struct sockaddr_in sa;
	socklen_t sl = sizeof sa;

	if (getpeername(c->fd, (struct sockaddr *)&sa, &sl) != 0) {
		return 0;
	}
	return ntohs(sa.sin_port);
}

int lh_conn_request(lh_conn *c, const char *method, const char *path,
		    const void *body, size_t body_len, lh_resp *out)
{
	int64_t deadline = now_ms() + LH_HTTP_TIMEOUT_MS;

	memset(out, 0, sizeof *out);
	if (c->fd < 0) {
		return -1;
	}
	int sent = send_request(c, conn_port(c), method, path, body, body_len,
				0, deadline);
	if (sent != 0 && (body == NULL || body_len == 0)) {
		return -1; /* not even the head went out */
	}
	int rc = read_response(c, out, deadline);
	c->head_req = 0;
	return rc;
}

int lh_http(int port, const char *method, const char *path,
	    const void *body, size_t body_len, lh_resp *out)
{
	lh_conn c;
	int64_t deadline = now_ms() + LH_HTTP_TIMEOUT_MS;

	memset(out, 0, sizeof *out);
	if (lh_conn_open(&c, port) != 0) {
		return -1;
	}
	/* A server may answer (413, 411...) and close before it has read the
	 * whole body: a failed send still gets its answer read. */
	(void)send_request(&c, port, method, path, body, body_len, 1,
			   deadline);
	int rc = read_response(&c, out, deadline);
	lh_conn_close(&c);
	return rc;
}

/* ---- Log helpers. ----------------------------------------------------- */

void lh_hex(const uint8_t *in, size_t n, char *out)
{
	static const char d[] = "0123456789abcdef";

	for (size_t i = 0; i < n; i++) {
		out[2 * i] = d[in[i] >> 4];
		out[2 * i + 1] = d[in[i] & 15];
	}
	out[2 * n] = 0;
}

int lh_parse_hashes(const uint8_t *p, size_t len, ft_hash *out, size_t max,
		    size_t *n)
{
	size_t k = 0, off = 0;

	while (off < len) {
		const uint8_t *e = memchr(p + off, '\n', len - off);
		if (e == NULL || k >= max) {
			return -1;
		}
		size_t ll = (size_t)(e - (p + off)), got = 0;
		if (ft_b64_decode((const char *)p + off, ll, out[k].b,
				  FT_HASH_LEN, &got) != 0 ||
		    got != FT_HASH_LEN) {
			return -1;
		}
		k++;
		off += ll + 1;
	}
	*n = k;
	return 0;
}

int lh_open_checkpoint(const lh_server *s, const uint8_t *note, size_t len,
		       uint64_t *size, uint8_t root[32])
{
	size_t tl = 0;
	ft_checkpoint cp;

	int rc = ft_note_open(note, len, &s->vkey, 1, NULL, &tl);
	if (rc != 0) {
		return rc;
	}
	rc = ft_checkpoint_parse(note, tl, s->origin, strlen(s->origin), &cp);
	if (rc != 0) {
		return rc;
	}
	if (size != NULL) {
		*size = cp.size;
	}
	if (root != NULL) {
		memcpy(root, cp.root.b, FT_HASH_LEN);
	}
	return 0;
}

int lh_check_tlog_proof(const lh_server *s, const uint8_t *body, size_t len,
			const void *entry, size_t entry_len, uint64_t *index,
			uint64_t *size, uint8_t root[32],
			const uint8_t **note, size_t *note_len)
{
	ft_tlog_proof *p = malloc(sizeof *p);
	uint8_t *extra = malloc(FT_ENTRY_MAX + 1);
	uint64_t csize = 0;
	uint8_t croot[FT_HASH_LEN];
	int rc;

	if (p == NULL || extra == NULL) {
		rc = FT_ENOMEM;
		goto done;
	}
	rc = ft_tlog_proof_parse(body, len, p, extra, FT_ENTRY_MAX + 1);
	if (rc != 0) {
		goto done;
	}
	if (!p->has_extra) {
		rc = FT_ETLOGPROOF;
		goto done;
	}
	if (entry != NULL && (p->extra_len != entry_len ||
			      memcmp(extra, entry, entry_len) != 0)) {
		rc = FT_ETLOGPROOF;
		goto done;
	}
	rc = lh_open_checkpoint(s, p->checkpoint, p->checkpoint_len, &csize,
				croot);
	if (rc != 0) {
		goto done;
	}
	ft_hash leaf;
	ft_merkle_leaf_hash(extra, p->extra_len, &leaf);
	rc = ft_proof_verify_inclusion(p->index, csize, leaf.b, FT_HASH_LEN,
				       p->path[0].b,
				       p->path_len * FT_HASH_LEN, croot,
				       FT_HASH_LEN);
	if (rc != 0) {
		goto done;
	}
	if (index != NULL) {
		*index = p->index;
	}
	if (size != NULL) {
		*size = csize;
	}
	if (root != NULL) {
		memcpy(root, croot, FT_HASH_LEN);
	}
	if (note != NULL) {
		*note = p->checkpoint;
	}
	if (note_len != NULL) {
		*note_len = p->checkpoint_len;
	}
done:
	free(p);
	free(extra);
	return rc;
}

/* The index of a tlog-proof (syntax only). */
static int proof_index(const lh_resp *r, uint64_t *index)
{
	ft_tlog_proof *p = malloc(sizeof *p);
	uint8_t *extra = malloc(FT_ENTRY_MAX + 1);
	int rc = -1;

	if (p != NULL && extra != NULL &&
	    ft_tlog_proof_parse(r->body, r->body_len, p, extra,
				FT_ENTRY_MAX + 1) == 0) {
		*index = p->index;
		rc = 0;
	}
	free(p);
	free(extra);
	return rc;
}

int lh_conn_add(lh_conn *c, const void *entry, size_t len, uint64_t *index,
		lh_resp *out)
{
	lh_resp r;

	if (out != NULL) {
		memset(out, 0, sizeof *out);
	}
	if (lh_conn_request(c, "POST", "/add", entry != NULL ? entry : "",
			    len, &r) != 0) {
		return -1;
	}
	int rc = -1;
	uint64_t idx = 0;
	if (r.status == 200 && proof_index(&r, &idx) == 0) {
		if (index != NULL) {
			*index = idx;
		}
		rc = 0;
	}
	if (out != NULL) {
		*out = r;
	} else {
		lh_resp_free(&r);
	}
	return rc;
}

int lh_add(int port, const void *entry, size_t len, uint64_t *index,
	   lh_resp *proof_out)
{
	lh_resp r;

	if (proof_out != NULL) {
		memset(proof_out, 0, sizeof *proof_out);
	}
	if (lh_http(port, "POST", "/add", entry != NULL ? entry : "", len,
		    &r) != 0) {
		return -1;
	}
	int rc = -1;
	uint64_t idx = 0;
	if (r.status == 200 && proof_index(&r, &idx) == 0) {
		if (index != NULL) {
			*index = idx;
		}
		rc = 0;
	}
	if (proof_out != NULL) {
		*proof_out = r;
	} else {
		lh_resp_free(&r);
	}
	return rc;
}

int lh_checkpoint(const lh_server *s, uint64_t *size, uint8_t root[32],
		  lh_resp *raw_out)
{
	lh_resp r;

	if (raw_out != NULL) {
		memset(raw_out, 0, sizeof *raw_out);
	}
	if (lh_http(s->port, "GET", "/checkpoint", NULL, 0, &r) != 0) {
		return -1;
	}
	int rc = -1;
	if (r.status == 200 &&
	    lh_open_checkpoint(s, r.body, r.body_len, size, root) == 0) {
		rc = 0;
	}
	if (raw_out != NULL) {
		*raw_out = r;
	} else {
		lh_resp_free(&r);
	}
	return rc;
}

/* ---- Keys, policies and signed events. -------------------------------- */

static pthread_once_t test_key_once = PTHREAD_ONCE_INIT;
static ft_skey test_key;
static char test_vkey_str[FT_KEY_STR_MAX + 1];

static void make_test_key(void)
{
	ft_vkey vk;
	size_t len = 0;

	if (ft_init() != 0 || lh_key("ftlog-test", 0x42, &test_key) != 0) {
		fprintf(stderr, "lh: cannot make the test key\n");
		abort();
	}
	ft_skey_public(&test_key, &vk);
	if (ft_vkey_format(&vk, test_vkey_str, sizeof test_vkey_str, &len) !=
	    0) {
		fprintf(stderr, "lh: cannot format the test key\n");
		abort();
	}
}

const ft_skey *lh_test_key(void)
{
	(void)pthread_once(&test_key_once, make_test_key);
	return &test_key;
}

const char *lh_test_vkey(void)
{
	(void)pthread_once(&test_key_once, make_test_key);
	return test_vkey_str;
}

int lh_key(const char *name, uint8_t seed_byte, ft_skey *out)
{
	uint8_t seed[32];

	if (ft_init() != 0) {
		return -1;
	}
	memset(seed, seed_byte, sizeof seed);
	return ft_key_from_seed(name, strlen(name), FT_KEY_ED25519, seed,
				out) == 0
		       ? 0
		       : -1;
}

#define LH_POLICY_FMT                                                          \
	"{\"ftlog_policy\":1,%s%s\"keys\":[{\"key\":\"%s\","                    \
	"\"kinds\":[\"build\",\"release\",\"distribution\",\"revocation\"],"      \
	"\"products\":[\"*\"]}]}\n"

char *lh_default_policy(const char *extra)
{
	int has = extra != NULL && *extra != 0;
	const char *x = has ? extra : "", *comma = has ? "," : "";
	int n = snprintf(NULL, 0, LH_POLICY_FMT, x, comma, lh_test_vkey());
	char *b = n > 0 ? malloc((size_t)n + 1) : NULL;

	if (b != NULL) {
		(void)snprintf(b, (size_t)n + 1, LH_POLICY_FMT, x, comma,
			       lh_test_vkey());
	}
	return b;
}

int lh_write_policy(lh_server *s, const char *text)
{
	char tmp[600];
	int n = snprintf(tmp, sizeof tmp, "%s.tmp", s->policy);

	if (s->policy[0] == 0 || n < 0 || (size_t)n >= sizeof tmp) {
		return -1;
	}
	if (tu_write_file(tmp, text, strlen(text)) != 0) {
		(void)unlink(tmp);
		return -1;
	}
	if (rename(tmp, s->policy) != 0) {
		(void)unlink(tmp);
		return -1;
	}
	return 0;
}

/* Length of standard padded base64 of n bytes. */
static size_t b64_len(size_t n)
{
	return (n + 2) / 3 * 4;
}

/* The statement of event n with `pad` pad bytes; malloc'd. 0 or -1. */
static int event_statement(uint64_t n, size_t pad, char **out, size_t *len)
{
	char name[40], img[64], reason[256];
	ft_event_subject sub;
	static const char pre[] =
		"{\"buildDefinition\":{\"buildType\":"
		"\"https://ftlog.dev/test-build/v1\",\"externalParameters\":"
		"{\"n\":";
	static const char post[] =
		"\"}},\"runDetails\":{\"builder\":{\"id\":"
		"\"https://ftlog.dev/test-builder\"}}}";

	*out = NULL;
	snprintf(name, sizeof name, "image-%" PRIu64, n);
	int il = snprintf(img, sizeof img, "ftlog test image %" PRIu64, n);
	memset(&sub, 0, sizeof sub);
	sub.name = name;
	crypto_hash_sha256(sub.sha256, (const unsigned char *)img,
			   (unsigned long long)il);
	size_t cap = sizeof pre + sizeof post + 40 + pad;
	char *pred = malloc(cap);
	if (pred == NULL) {
		return -1;
	}
	int k = snprintf(pred, cap, "%s%" PRIu64 ",\"pad\":\"", pre, n);
	memset(pred + k, 'x', pad);
	memcpy(pred + (size_t)k + pad, post, sizeof post);
	size_t plen = (size_t)k + pad + sizeof post - 1;
	int rc = ft_event_statement(FT_EVENT_BUILD, &sub, 1, pred, plen, out,
				    len, reason, sizeof reason);
	free(pred);
	if (rc != 0) {
		fprintf(stderr, "lh: ft_event_statement: %s: %s\n",
			ft_errname(rc), reason);
		*out = NULL;
		return -1;
	}
	return 0;
}

/* The envelope of a statement signed by key; malloc'd. 0 or -1. */
static int event_sign(const ft_skey *key, const char *stmt, size_t slen,
		      char **out, size_t *len)
{
	char *env = NULL;
	size_t elen = 0;
	int rc = ft_event_sign((const uint8_t *)stmt, slen, key, 1, &env,
			       &elen);

	*out = NULL;
	if (rc != 0) {
		fprintf(stderr, "lh: ft_event_sign (%zu byte statement): %s\n",
			slen, ft_errname(rc));
		return -1;
	}
	/* A NUL-terminated copy, so callers may print it. */
	*out = malloc(elen + 1);
	if (*out != NULL) {
		memcpy(*out, env, elen);
		(*out)[elen] = 0;
		*len = elen;
	}
	free(env);
	return *out != NULL ? 0 : -1;
}

/* Bytes of the envelope around its base64 payload, as ft_event_sign
 * writes it (checked against each envelope made). */
static size_t envelope_overhead(const ft_skey *key)
{
	char keyid[FT_EVENT_KEYID_MAX + 1];
	ft_vkey vk;

	ft_skey_public(key, &vk);
	if (ft_event_keyid(&vk, keyid, sizeof keyid) != 0) {
		return 0;
	}
	return strlen("{\"payloadType\":\"" FT_DSSE_PAYLOAD_TYPE
		      "\",\"payload\":\"") +
	       strlen("\",\"signatures\":[{\"keyid\":\"") + strlen(keyid) +
	       strlen("\",\"sig\":\"") + b64_len(64) + strlen("\"}]}");
}

/*
 * Sign event n with the pad chosen by `pick` from (p0, ov): the statement
 * length with an empty pad and the envelope overhead. The envelope's
 * length must be want (or, when want is 0, whatever pick aims at, checked
 * by the caller). A mismatch of the predicted length (an envelope format
 * other than expected) corrects ov and tries again.
 */
typedef int (*pad_pick)(size_t p0, size_t ov, size_t arg, size_t *pad,
			size_t *expect);

static int event_build(const ft_skey *key, uint64_t n, pad_pick pick,
		       size_t arg, char **out, size_t *len)
{
	char *stmt = NULL, *env = NULL;
	size_t p0 = 0, slen = 0, elen = 0, pad = 0, expect = 0;
	size_t ov = envelope_overhead(key);

	char *stmt0 = NULL;

	*out = NULL;
	if (ov == 0 || event_statement(n, 0, &stmt0, &p0) != 0) {
		return -1;
	}
	for (int tries = 0; tries < 3; tries++) {
		if (pick(p0, ov, arg, &pad, &expect) != 0) {
			free(stmt0);
			return -1;
		}
		if (pad == 0 && stmt0 != NULL) {
			stmt = stmt0; /* no need to build it again */
			stmt0 = NULL;
			slen = p0;
		} else if (event_statement(n, pad, &stmt, &slen) != 0) {
			free(stmt0);
			return -1;
		}
		if (slen != p0 + pad) {
			fprintf(stderr, "lh: statement length %zu, want %zu\n",
				slen, p0 + pad);
			free(stmt);
			free(stmt0);
			return -1;
		}
		int rc = event_sign(key, stmt, slen, &env, &elen);
		free(stmt);
		if (rc != 0) {
			free(stmt0);
			return -1;
		}
		if (elen == expect) {
			free(stmt0);
			*out = env;
			*len = elen;
			return 0;
		}
		/* Learn the real overhead and try again. */
		ov = elen - b64_len(slen);
		free(env);
		env = NULL;
	}
	free(stmt0);
	fprintf(stderr, "lh: cannot predict the envelope length\n");
	return -1;
}

/* The smallest pad that makes the envelope at least arg bytes. */
static int pick_min(size_t p0, size_t ov, size_t arg, size_t *pad,
		    size_t *expect)
{
	size_t k = 0;

	if (ov + b64_len(p0) < arg) {
		size_t need = arg - ov; /* base64 bytes */
		size_t p = need / 4 * 3;
		k = p > p0 + 3 ? p - p0 - 3 : 0;
		while (ov + b64_len(p0 + k) < arg) {
			k++;
		}
	}
	*pad = k;
	*expect = ov + b64_len(p0 + k);
	return *expect <= FT_EVENT_MAX_BYTES ? 0 : -1;
}

/* The largest pad that keeps the envelope at most arg bytes. */
static int pick_max(size_t p0, size_t ov, size_t arg, size_t *pad,
		    size_t *expect)
{
	if (ov + b64_len(p0) > arg) {
		return -1;
	}
	size_t k = (arg - ov) / 4 * 3 - p0 + 3;
	while (k > 0 && ov + b64_len(p0 + k) > arg) {
		k--;
	}
	*pad = k;
	*expect = ov + b64_len(p0 + k);
	return 0;
}

int lh_event_key(const ft_skey *key, uint64_t n, size_t min_len,
		 uint8_t **out, size_t *len)
{
	char *env = NULL;
	size_t elen = 0;

	*out = NULL;
	*len = 0;
	if (event_build(key, n, pick_min, min_len, &env, &elen) != 0) {
		return -1;
	}
	if (elen < min_len) {
		free(env);
		return -1;
	}
	*out = (uint8_t *)env;
	*len = elen;
	return 0;
}

int lh_event(uint64_t n, size_t min_len, uint8_t **out, size_t *len)
{
	return lh_event_key(lh_test_key(), n, min_len, out, len);
}

int lh_event_exact(uint64_t n, size_t len, uint8_t **out)
{
	char *env = NULL;
	size_t elen = 0;

	*out = NULL;
	if (len > LH_BODY_MAX) {
		return -1;
	}
	/* Exactly, by the pad alone. */
	if (len <= FT_EVENT_MAX_BYTES &&
	    event_build(lh_test_key(), n, pick_min, len, &env, &elen) == 0 &&
	    elen == len) {
		*out = (uint8_t *)env;
		return 0;
	}
	free(env);
	env = NULL;
	/* Else the largest envelope that leaves room for ,"x":"" (7 bytes),
	 * and the rest in "x". */
	if (len < 8) {
		return -1;
	}
	size_t room = len - 7;
	if (room > FT_EVENT_MAX_BYTES) {
		room = FT_EVENT_MAX_BYTES;
	}
	if (event_build(lh_test_key(), n, pick_max, room, &env, &elen) != 0) {
		return -1;
	}
	if (elen + 7 > len || env[elen - 1] != '}') {
		free(env);
		return -1;
	}
	size_t m = len - 7 - elen;
	uint8_t *b = malloc(len + 1);
	if (b == NULL) {
		free(env);
		return -1;
	}
	memcpy(b, env, elen - 1);
	memcpy(b + elen - 1, ",\"x\":\"", 6);
	memset(b + elen + 5, 'x', m);
	memcpy(b + elen + 5 + m, "\"}", 2);
	b[len] = 0;
	free(env);
	*out = b;
	return 0;
}
