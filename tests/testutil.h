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

/* Sleep for ms milliseconds (resumed across signals). */
void tu_sleep_ms(long ms);

/* printf into a malloc'd string; the test fails if that is impossible.
 * Caller frees. */
char *tu_strf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

#endif
