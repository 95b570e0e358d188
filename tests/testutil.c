/*
 * tests/testutil.c - see testutil.h.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <sys/wait.h>
#include <unistd.h>

#include "tests/testutil.h"

const char *tu_vectors_dir(void)
{
	const char *d = getenv("FTLOG_VECTORS");

	return d != NULL ? d : "../shared/vectors";
}

uint8_t *tu_read_file(const char *path, size_t *len)
{
	FILE *f = fopen(path, "rb");
	uint8_t *buf = NULL;
	size_t cap = 0, n = 0;

	if (f == NULL) {
		return NULL;
	}
	for (;;) {
		if (cap - n < 4096) {
			size_t ncap = cap == 0 ? 8192 : cap * 2;
			uint8_t *nb = realloc(buf, ncap + 1);
			if (nb == NULL) {
				free(buf);
				fclose(f);
				return NULL;
			}
			buf = nb;
			cap = ncap;
		}
		size_t got = fread(buf + n, 1, cap - n, f);
		n += got;
		if (got == 0) {
			break;
		}
	}
	int err = ferror(f);
	fclose(f);
	if (err) {
		free(buf);
		return NULL;
	}
	buf[n] = 0;
	*len = n;
	return buf;
}

int tu_write_file(const char *path, const void *data, size_t len)
{
	FILE *f = fopen(path, "wb");

	if (f == NULL) {
		return -1;
	}
	size_t put = fwrite(data, 1, len, f);
	if (fclose(f) != 0 || put != len) {
		return -1;
	}
	return 0;
}

static int hexval(char c)
{
	if (c >= '0' && c <= '9') {
		return c - '0';
	}
	if (c >= 'a' && c <= 'f') {
		return c - 'a' + 10;
	}
	if (c >= 'A' && c <= 'F') {
		return c - 'A' + 10;
	}
	return -1;
}

int tu_hex_decode(const char *hex, uint8_t *out, size_t n)
{
	if (strlen(hex) != 2 * n) {
		return -1;
	}
	for (size_t i = 0; i < n; i++) {
		int hi = hexval(hex[2 * i]), lo = hexval(hex[2 * i + 1]);
		if (hi < 0 || lo < 0) {
			return -1;
		}
		out[i] = (uint8_t)(hi << 4 | lo);
	}
	return 0;
}

char *tu_tmpdir(void)
{
	const char *base = getenv("TMPDIR");
	char *path = NULL;

	if (base == NULL || *base == 0) {
		base = "/tmp";
	}
	if (asprintf(&path, "%s/ftlog-test-XXXXXX", base) < 0) {
		return NULL;
	}
	if (mkdtemp(path) == NULL) {
		free(path);
		return NULL;
	}
	return path;
}

static int rm_one(const char *path, const struct stat *st, int flag,
		  struct FTW *ftw)
{
	(void)st;
	(void)flag;
	(void)ftw;
	return remove(path);
}

void tu_rmtree(const char *dir)
{
	if (dir != NULL) {
		(void)nftw(dir, rm_one, 16, FTW_DEPTH | FTW_PHYS);
	}
}

int tu_run_suite(Suite *s)
{
	SRunner *sr = srunner_create(s);

	srunner_run_all(sr, CK_NORMAL);
	int failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}

void tu_sleep_ms(long ms)
{
	struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};

	while (nanosleep(&ts, &ts) != 0 && errno == EINTR) {
	}
}

char *tu_strf(const char *fmt, ...)
{
	va_list ap;
	int n;
	char *s;

	va_start(ap, fmt);
	n = vsnprintf(NULL, 0, fmt, ap);
	va_end(ap);
	ck_assert_int_ge(n, 0);
	s = malloc((size_t)n + 1);
	ck_assert_ptr_nonnull(s);
	va_start(ap, fmt);
	(void)vsnprintf(s, (size_t)n + 1, fmt, ap);
	va_end(ap);
	return s;
}

static char *read_or_empty(const char *path)
{
	size_t len;
	uint8_t *b = tu_read_file(path, &len);

	if (b == NULL) {
		b = (uint8_t *)strdup("");
	}
	ck_assert(b != NULL);
	return (char *)b;
}

void tu_run(const char *cwd, const char *prog, const char *const *argv,
	    const char *stdin_path, unsigned timeout_s, tu_result *r)
{
	char *av[66];
	char *ofile = tu_strf("%s/.stdout", cwd);
	char *efile = tu_strf("%s/.stderr", cwd);
	size_t n = 0;
	pid_t pid;
	int st;

	av[n++] = (char *)prog;
	while (argv[n - 1] != NULL) {
		ck_assert(n <= 64);
		av[n] = (char *)argv[n - 1];
		n++;
	}
	av[n] = NULL;
	pid = fork();
	ck_assert(pid >= 0);
	if (pid == 0) {
		int o = open(ofile, O_WRONLY | O_CREAT | O_TRUNC, 0600);
		int e = open(efile, O_WRONLY | O_CREAT | O_TRUNC, 0600);
		int in = open(stdin_path != NULL ? stdin_path : "/dev/null",
			      O_RDONLY);

		if (o < 0 || e < 0 || in < 0 || dup2(o, 1) < 0 ||
		    dup2(e, 2) < 0 || dup2(in, 0) < 0 || chdir(cwd) != 0) {
			_exit(126);
		}
		alarm(timeout_s); /* survives exec: a hung child dies */
		execvp(prog, av);
		_exit(127);
	}
	while (waitpid(pid, &st, 0) < 0) {
		ck_assert(errno == EINTR);
	}
	r->status = WIFEXITED(st)     ? WEXITSTATUS(st)
		    : WIFSIGNALED(st) ? 128 + WTERMSIG(st)
				      : -1;
	r->out = read_or_empty(ofile);
	r->err = read_or_empty(efile);
	free(ofile);
	free(efile);
}

void tu_result_free(tu_result *r)
{
	free(r->out);
	free(r->err);
	memset(r, 0, sizeof(*r));
}
