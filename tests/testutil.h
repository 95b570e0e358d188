/*
 * tests/testutil.h - small helpers shared by the Check suites.
 */
#ifndef FTLOG_TESTUTIL_H
#define FTLOG_TESTUTIL_H

#include <stddef.h>
#include <stdint.h>

#include <check.h>

/* Directory of ../shared/vectors (from $FTLOG_VECTORS); never NULL. */
const char *tu_vectors_dir(void);

/*
 * Read a whole file into a malloc'd buffer (NUL-terminated, not counted
 * in *len). Returns NULL if it cannot be read. Caller frees.
 */
uint8_t *tu_read_file(const char *path, size_t *len);

/* Write a whole file; 0 or -1. */
int tu_write_file(const char *path, const void *data, size_t len);

/* Decode lowercase/uppercase hex of exactly 2*n chars into out; 0 or -1. */
int tu_hex_decode(const char *hex, uint8_t *out, size_t n);

/* Make a fresh temporary directory (mkdtemp under $TMPDIR or /tmp). */
char *tu_tmpdir(void);

/* Remove a directory tree made by tu_tmpdir. */
void tu_rmtree(const char *dir);

/*
 * Run the suite with CK_NORMAL output and return the process exit code
 * (0 if all passed). Every suite's main() ends with this.
 */
int tu_run_suite(Suite *s);

/* What a program run with tu_run did. */
typedef struct tu_result {
	int status; /* exit status, 128+signal, or -1 */
	char *out;  /* standard output, NUL-terminated ("" if none) */
	char *err;  /* standard error */
} tu_result;

/*
 * Run prog (argv without argv[0], NULL-terminated, at most 64) in cwd,
 * standard input from stdin_path (NULL: /dev/null), standard output and
 * error captured through cwd/.stdout and cwd/.stderr. A child still
 * running after timeout_s is killed (alarm, which survives exec). The
 * test fails if the child cannot be started.
 */
void tu_run(const char *cwd, const char *prog, const char *const *argv,
	    const char *stdin_path, unsigned timeout_s, tu_result *r);
void tu_result_free(tu_result *r);

/* Sleep for ms milliseconds (resumed across signals). */
void tu_sleep_ms(long ms);

/* printf into a malloc'd string; the test fails if that is impossible.
 * Caller frees. */
char *tu_strf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

#endif
