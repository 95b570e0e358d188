/*
 * tests/nginx_harness.c - a real nginx for the tests (nginx_harness.h).
 */
#define _GNU_SOURCE /* asprintf */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <netinet/in.h>
#include <arpa/inet.h>
#include <time.h>
#include <unistd.h>

#include <check.h>

#include "tests/logd_harness.h"
#include "tests/nginx_harness.h"
#include "tests/testutil.h"

const char *nh_nginx_path(void)
{
	const char *p = getenv("FTLOG_NGINX");

	return p != NULL && *p != 0 ? p : "/usr/sbin/nginx";
}

int nh_present(void)
{
	return access(nh_nginx_path(), X_OK) == 0;
}

int nh_missing_ok(void)
{
	const char *v = getenv("FTLOG_NO_NGINX");

	return v != NULL && strcmp(v, "1") == 0;
}

static double now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

/* A free TCP port on 127.0.0.1: bind port 0, read it back, close. */
int nh_free_port(void)
{
	struct sockaddr_in a;
	socklen_t al = sizeof a;
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);

	ck_assert(fd >= 0);
	memset(&a, 0, sizeof a);
	a.sin_family = AF_INET;
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	ck_assert(bind(fd, (struct sockaddr *)&a, sizeof a) == 0);
	ck_assert(getsockname(fd, (struct sockaddr *)&a, &al) == 0);
	close(fd);
	return ntohs(a.sin_port);
}

/* dir + "/" + name into out; the test fails rather than truncate. */
static void pjoin(char *out, size_t cap, const char *dir, const char *name)
{
	int n = snprintf(out, cap, "%s/%s", dir, name);

	ck_assert_msg(n > 0 && (size_t)n < cap, "path too long: %s/%s", dir,
		      name);
}

/*
 * docs/nginx.conf.example: $FTLOG_NGINX_EXAMPLE, else found through
 * __FILE__ (".../tests/test_nginx.c", relative to the directory the
 * compiler ran in, which is the build directory under make) from the
 * current directory, from $FTLOG_BUILDDIR, or from its parent.
 */
static char *example_path(void)
{
	const char *env = getenv("FTLOG_NGINX_EXAMPLE");
	const char *bd = getenv("FTLOG_BUILDDIR");
	const char *f = __FILE__;
	const char *slash = strrchr(f, '/');
	size_t dir_len = 0;

	if (env != NULL && *env != 0) {
		return strdup(env);
	}
	if (slash != NULL) {
		const char *s2 = slash;
		while (s2 > f && s2[-1] != '/') {
			s2--;
		}
		dir_len = (size_t)(s2 - f); /* "...": up to and with its '/' */
	}
	const char *bases[3] = { "", bd, bd };
	const char *seps[3] = { "", "/", "/../" };
	for (int i = 0; i < 3; i++) {
		char *p = NULL;
		if (bases[i] == NULL || (i > 0 && f[0] == '/')) {
			continue;
		}
		if (asprintf(&p, "%s%s%.*sdocs/nginx.conf.example", bases[i],
			     seps[i], (int)dir_len, f) < 0) {
			return NULL;
		}
		if (access(p, R_OK) == 0) {
			return p;
		}
		free(p);
	}
	return strdup("docs/nginx.conf.example");
}

/*
 * Replace the one occurrence of `from` in *text with `to`. Exactly one
 * occurrence is required: the test pins the example's shape.
 */
static void replace_once(char **text, const char *from, const char *to)
{
	char *at = strstr(*text, from);

	ck_assert_msg(at != NULL, "nginx.conf.example: \"%s\" not found",
		      from);
	ck_assert_msg(strstr(at + 1, from) == NULL,
		      "nginx.conf.example: \"%s\" more than once", from);
	char *out = NULL;
	int n = asprintf(&out, "%.*s%s%s", (int)(at - *text), *text, to,
			 at + strlen(from));
	ck_assert(n > 0);
	free(*text);
	*text = out;
}

/*
 * Write DIR/nginx.conf (process-level settings, every path inside DIR)
 * and DIR/site.conf (the example, pointed at our ports and tiles dir).
 */
void nh_write_conf(const char *dir, int port, int ftlogd_port,
		   const char *tiles)
{
	char *ex = example_path();
	size_t len = 0;
	char path[1024], buf[1100];

	ck_assert(ex != NULL);
	char *site = (char *)tu_read_file(ex, &len);
	ck_assert_msg(site != NULL, "cannot read %s (set FTLOG_NGINX_EXAMPLE)",
		      ex);
	free(ex);

	snprintf(buf, sizeof buf, "server 127.0.0.1:%d;", ftlogd_port);
	replace_once(&site, "server 127.0.0.1:8080;", buf);
	ck_assert(snprintf(buf, sizeof buf, "root %s;", tiles) <
		  (int)sizeof buf);
	replace_once(&site, "root /var/lib/ftlog/tiles;", buf);
	snprintf(buf, sizeof buf, "listen 127.0.0.1:%d;", port);
	replace_once(&site, "listen 80;", buf);
	replace_once(&site, "listen [::]:80;", "");
	pjoin(path, sizeof path, dir, "site.conf");
	ck_assert(tu_write_file(path, site, strlen(site)) == 0);
	free(site);

	char *main_conf = NULL;
	int n = asprintf(&main_conf,
		"# written by tests/nginx_harness.c\n"
		"daemon off;\n"
		"master_process off;\n"
		"worker_processes 1;\n"
		"pid %s/nginx.pid;\n"
		"error_log %s/error.log warn;\n"
		"events { worker_connections 256; }\n"
		"http {\n"
		"    access_log %s/access.log;\n"
		"    client_body_temp_path %s/client_body;\n"
		"    proxy_temp_path %s/proxy;\n"
		"    fastcgi_temp_path %s/fastcgi;\n"
		"    uwsgi_temp_path %s/uwsgi;\n"
		"    scgi_temp_path %s/scgi;\n"
		"    include %s/site.conf;\n"
		"}\n", dir, dir, dir, dir, dir, dir, dir, dir, dir);
	ck_assert(n > 0);
	pjoin(path, sizeof path, dir, "nginx.conf");
	ck_assert(tu_write_file(path, main_conf, strlen(main_conf)) == 0);
	free(main_conf);
}

static void print_file(const char *dir, const char *name)
{
	char path[1024];
	size_t len = 0;

	snprintf(path, sizeof path, "%s/%s", dir, name);
	uint8_t *b = tu_read_file(path, &len);
	if (b != NULL) {
		fprintf(stderr, "---- %s ----\n%s\n----\n", path,
			(const char *)b);
		free(b);
	}
}

/* Start nginx in the foreground; it dies with us (PR_SET_PDEATHSIG). */
pid_t nh_start(const char *dir, int port)
{
	char conf[1024], errlog[1024];

	pjoin(conf, sizeof conf, dir, "nginx.conf");
	pjoin(errlog, sizeof errlog, dir, "error.log");
	pid_t pid = fork();
	ck_assert(pid >= 0);
	if (pid == 0) {
		(void)prctl(PR_SET_PDEATHSIG, SIGKILL);
		execl(nh_nginx_path(), "nginx", "-p", dir, "-c", conf, "-e",
		      errlog, (char *)NULL);
		_exit(127);
	}
	/* Ready when it accepts connections. */
	double t0 = now();
	for (;;) {
		lh_resp r;
		int st;
		if (waitpid(pid, &st, WNOHANG) == pid) {
			print_file(dir, "error.log");
			ck_abort_msg("nginx exited at startup (status %d)", st);
		}
		if (lh_http(port, "GET", "/checkpoint", NULL, 0, &r) == 0) {
			lh_resp_free(&r);
			return pid;
		}
		if (now() - t0 > 10.0) {
			kill(pid, SIGKILL);
			waitpid(pid, NULL, 0);
			print_file(dir, "error.log");
			ck_abort_msg("nginx not answering after 10 s");
		}
		tu_sleep_ms(20);
	}
}

int nh_stop(pid_t pid)
{
	int st = 0;

	kill(pid, SIGTERM);
	for (int i = 0; i < 500; i++) {
		if (waitpid(pid, &st, WNOHANG) == pid) {
			return st;
		}
		tu_sleep_ms(10);
	}
	kill(pid, SIGKILL);
	waitpid(pid, &st, 0);
	return -1;
}
