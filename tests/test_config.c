/*
 * tests/test_config.c - ftlogd settings (durations, sizes, ranges, the
 * config file, listen addresses), log line format and sanitizing, and the
 * Prometheus rendering of the metrics.
 */
#include <ctype.h>
#include <fcntl.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "logd/config.h"
#include "logd/log.h"
#include "logd/metrics.h"
#include "tests/testutil.h"

/* ---- Durations and sizes. */

START_TEST(test_durations)
{
	static const struct {
		const char *s;
		uint64_t ms;
	} good[] = {
		{"0ms", 0},
		{"1ms", 1},
		{"500ms", 500},
		{"1s", 1000},
		{"10s", 10000},
		{"5m", 300000},
		{"18446744073709551615ms", UINT64_MAX},
		{"18446744073709551s", UINT64_C(18446744073709551000)},
		{"307445734561825m", UINT64_C(18446744073709500000)},
	};
	static const char *const bad[] = {
		"", "500", "ms", "s", "5 s", " 5s", "5s ", "-5s", "+5s", "05s",
		"00ms", "5sec", "5h", "5S", "5MS", "5.5s", "5s5", "1e3ms",
		"0x10s", "18446744073709551616ms", "18446744073709552s",
		"307445734561826m", "99999999999999999999999ms",
	};
	uint64_t v;

	for (size_t i = 0; i < sizeof good / sizeof good[0]; i++) {
		v = 12345;
		ck_assert_msg(ft_config_parse_duration_ms(good[i].s, &v) == 0,
			      "%s", good[i].s);
		ck_assert_uint_eq(v, good[i].ms);
	}
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		v = 12345;
		ck_assert_msg(ft_config_parse_duration_ms(bad[i], &v) == -1,
			      "accepted \"%s\"", bad[i]);
		ck_assert_uint_eq(v, 12345); /* untouched on failure */
	}
	ck_assert_int_eq(ft_config_parse_duration_ms(NULL, &v), -1);
}
END_TEST

START_TEST(test_sizes)
{
	static const struct {
		const char *s;
		uint64_t v;
	} good[] = {
		{"0", 0},
		{"1", 1},
		{"65535", 65535},
		{"1K", 1024},
		{"64K", 65536},
		{"256M", UINT64_C(256) << 20},
		{"64G", UINT64_C(64) << 30},
		{"1T", UINT64_C(1) << 40},
		{"16777215T", UINT64_C(16777215) << 40},
		{"18446744073709551615", UINT64_MAX},
	};
	static const char *const bad[] = {
		"", "K", "1k", "1m", "1KB", "1KiB", "1 K", " 1", "1 ", "-1",
		"+1", "01", "01K", "1.5M", "1KK", "16777216T",
		"18446744073709551616", "17179869184G", "0x1", "1P",
	};
	uint64_t v;

	for (size_t i = 0; i < sizeof good / sizeof good[0]; i++) {
		ck_assert_msg(ft_config_parse_size(good[i].s, &v) == 0, "%s",
			      good[i].s);
		ck_assert_uint_eq(v, good[i].v);
	}
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		ck_assert_msg(ft_config_parse_size(bad[i], &v) == -1,
			      "accepted \"%s\"", bad[i]);
	}
}
END_TEST

/* ---- ft_config_set and the defaults. */

START_TEST(test_defaults)
{
	ft_logd_config c;

	ft_config_defaults(&c);
	ck_assert_ptr_null(c.data_dir);
	ck_assert_ptr_null(c.listen);
	ck_assert_ptr_null(c.tiles_dir);
	ck_assert_ptr_null(c.ready_file);
	ck_assert_ptr_null(c.origin);
	ck_assert_ptr_null(c.policy);
	ck_assert_int_eq(c.log_level, FT_LOG_INFO);
	ck_assert_uint_eq(c.batch_interval_ms, 500);
	ck_assert_uint_eq(c.batch_max, 4096);
	ck_assert_uint_eq(c.queue_max, 65536);
	ck_assert_uint_eq(c.queue_bytes_max, UINT64_C(256) << 20);
	ck_assert_uint_eq(c.max_connections, 1024);
	ck_assert_uint_eq(c.header_timeout_ms, 10000);
	ck_assert_uint_eq(c.request_timeout_ms, 30000);
	ck_assert_uint_eq(c.idle_timeout_ms, 60000);
	ck_assert_uint_eq(c.write_timeout_ms, 30000);
	ck_assert_uint_eq(c.max_header_bytes, 8192);
	ck_assert_uint_eq(c.max_body_bytes, 65535);
	ck_assert_uint_eq(c.map_size, UINT64_C(64) << 30);
	ck_assert_uint_eq(c.health_max_age_ms, 10000);
	ck_assert_int_eq(ft_config_set(&c, "policy", "/etc/ftlog/policy.json",
				       NULL, 0),
			 0);
	ck_assert_str_eq(c.policy, "/etc/ftlog/policy.json");
	ft_config_free(&c);
	ck_assert_ptr_null(c.policy);
	ft_config_free(&c); /* twice is harmless */
}
END_TEST

/* Set key=value; expect failure with exactly `reason` (NULL: success). */
static void expect_set(ft_logd_config *c, const char *key, const char *value,
		       const char *reason)
{
	char err[256] = "unchanged";
	int rc = ft_config_set(c, key, value, err, sizeof err);

	if (reason == NULL) {
		ck_assert_msg(rc == 0, "%s = %s: %s", key, value, err);
	} else {
		ck_assert_msg(rc == -1, "%s = %s accepted", key, value);
		ck_assert_str_eq(err, reason);
	}
}

START_TEST(test_set_ranges)
{
	ft_logd_config c;

	ft_config_defaults(&c);
	expect_set(&c, "batch-interval", "0ms",
		   "batch-interval: out of range (1ms..60s)");
	expect_set(&c, "batch-interval", "61s",
		   "batch-interval: out of range (1ms..60s)");
	expect_set(&c, "batch-interval", "2m",
		   "batch-interval: out of range (1ms..60s)");
	expect_set(&c, "batch-interval", "250",
		   "batch-interval: expected a duration like 500ms, 10s or "
		   "5m");
	ck_assert_uint_eq(c.batch_interval_ms, 500); /* unchanged */
	expect_set(&c, "batch-interval", "1m", NULL);
	ck_assert_uint_eq(c.batch_interval_ms, 60000);
	expect_set(&c, "batch-interval", "1ms", NULL);
	ck_assert_uint_eq(c.batch_interval_ms, 1);

	expect_set(&c, "batch-size", "0",
		   "batch-size: out of range (1..1048576)");
	expect_set(&c, "batch-size", "1048577",
		   "batch-size: out of range (1..1048576)");
	expect_set(&c, "batch-size", "1K",
		   "batch-size: expected a decimal number");
	expect_set(&c, "batch-size", "1048576", NULL);
	ck_assert_uint_eq(c.batch_max, 1048576);
	expect_set(&c, "queue-size", "16777217",
		   "queue-size: out of range (1..16777216)");
	expect_set(&c, "queue-size", "16777216", NULL);
	expect_set(&c, "queue-bytes", "63K",
		   "queue-bytes: out of range (64K..64G)");
	expect_set(&c, "queue-bytes", "65G",
		   "queue-bytes: out of range (64K..64G)");
	expect_set(&c, "queue-bytes", "64K", NULL);
	ck_assert_uint_eq(c.queue_bytes_max, 65536);
	expect_set(&c, "queue-bytes", "12x",
		   "queue-bytes: expected a size like 65536, 64K or 256M");
	expect_set(&c, "max-connections", "0",
		   "max-connections: out of range (1..1048576)");
	expect_set(&c, "max-header-bytes", "1023",
		   "max-header-bytes: out of range (1K..1M)");
	expect_set(&c, "max-header-bytes", "1K", NULL);
	expect_set(&c, "max-body-bytes", "65536",
		   "max-body-bytes: out of range (1..65535)");
	expect_set(&c, "max-body-bytes", "0",
		   "max-body-bytes: out of range (1..65535)");
	expect_set(&c, "max-body-bytes", "100", NULL);
	ck_assert_uint_eq(c.max_body_bytes, 100);
	expect_set(&c, "map-size", "1023K", "map-size: out of range (1M..1T)");
	expect_set(&c, "map-size", "2T", "map-size: out of range (1M..1T)");
	expect_set(&c, "map-size", "1T", NULL);
	expect_set(&c, "header-timeout", "61m",
		   "header-timeout: out of range (1ms..60m)");
	expect_set(&c, "idle-timeout", "0s",
		   "idle-timeout: out of range (1ms..60m)");
	expect_set(&c, "request-timeout", "5s", NULL);
	ck_assert_uint_eq(c.request_timeout_ms, 5000);
	expect_set(&c, "write-timeout", "100ms", NULL);
	ck_assert_uint_eq(c.write_timeout_ms, 100);
	expect_set(&c, "health-max-age", "2m", NULL);
	ck_assert_uint_eq(c.health_max_age_ms, 120000);

	expect_set(&c, "log-level", "DEBUG",
		   "log-level: expected error, warn, info or debug");
	expect_set(&c, "log-level", "verbose",
		   "log-level: expected error, warn, info or debug");
	expect_set(&c, "log-level", "debug", NULL);
	ck_assert_int_eq(c.log_level, FT_LOG_DEBUG);
	expect_set(&c, "log-level", "error", NULL);
	ck_assert_int_eq(c.log_level, FT_LOG_ERROR);

	expect_set(&c, "no-such", "1", "unknown setting \"no-such\"");
	expect_set(&c, "validator", "test",
		   "unknown setting \"validator\"");
	expect_set(&c, "policy", "", "policy: empty value");
	expect_set(&c, "data", "", "data: empty value");
	expect_set(&c, "origin", "a b",
		   "origin: not a valid log name (no spaces, '+' or control "
		   "characters, at most 255 bytes)");
	expect_set(&c, "origin", "log.example/a", NULL);
	ck_assert_str_eq(c.origin, "log.example/a");

	/* Strings are copied, and replacing one frees the old copy (ASan
	 * would see the leak). */
	char val[] = "/var/lib/ftlog";
	expect_set(&c, "data", val, NULL);
	val[0] = 'X';
	ck_assert_str_eq(c.data_dir, "/var/lib/ftlog");
	expect_set(&c, "data", "/srv/ftlog", NULL);
	ck_assert_str_eq(c.data_dir, "/srv/ftlog");
	expect_set(&c, "tiles-dir", "/srv/tiles", NULL);
	expect_set(&c, "ready-file", "/run/ftlogd.ready", NULL);
	expect_set(&c, "listen", "[::1]:0", NULL);
	expect_set(&c, "listen", "localhost:80",
		   "listen: \"localhost\" is not an IPv4 address");
	ck_assert_str_eq(c.listen, "[::1]:0");

	/* err may be absent or tiny. */
	ck_assert_int_eq(ft_config_set(&c, "batch-size", "0", NULL, 0), -1);
	char tiny[4];
	ck_assert_int_eq(ft_config_set(&c, "batch-size", "0", tiny, sizeof tiny),
			 -1);
	ck_assert_str_eq(tiny, "bat");

	ck_assert_int_eq(ft_config_known("batch-size"), 1);
	ck_assert_int_eq(ft_config_known("data"), 1);
	ck_assert_int_eq(ft_config_known("Data"), 0);
	ck_assert_int_eq(ft_config_known(""), 0);
	ft_config_free(&c);
}
END_TEST

/* ---- The config file. */

static char *g_dir;

static void dir_setup(void)
{
	g_dir = tu_tmpdir();
	ck_assert_ptr_nonnull(g_dir);
}

static void dir_teardown(void)
{
	tu_rmtree(g_dir);
	free(g_dir);
	g_dir = NULL;
}

/* Write text to DIR/name and return the path (static buffer). */
static const char *conf_file(const char *name, const char *text, size_t len)
{
	static char path[1024];
	int n = snprintf(path, sizeof path, "%s/%s", g_dir, name);

	ck_assert(n > 0 && (size_t)n < sizeof path);
	ck_assert_int_eq(tu_write_file(path, text, len), 0);
	return path;
}

/* Load text; expect failure with "PATH:<suffix>" (suffix NULL: OK). */
static void expect_load(ft_logd_config *c, const char *text,
			const char *const *skip, const char *suffix)
{
	char err[512] = "";
	char want[1536];
	const char *path = conf_file("ftlogd.conf", text, strlen(text));
	int rc = ft_config_load_file(c, path, skip, err, sizeof err);

	if (suffix == NULL) {
		ck_assert_msg(rc == 0, "load failed: %s", err);
		return;
	}
	ck_assert_msg(rc == -1, "load succeeded, wanted %s", suffix);
	ck_assert(snprintf(want, sizeof want, "%s%s", path, suffix) > 0);
	ck_assert_str_eq(err, want);
}

START_TEST(test_file_good)
{
	ft_logd_config c;

	ft_config_defaults(&c);
	expect_load(&c,
		    "# ftlogd configuration\n"
		    "\n"
		    "data = /var/lib/ftlog\n"
		    "   listen=127.0.0.1:9000   \n"
		    "\t# indented comment\n"
		    "batch-interval =\t250ms\r\n"
		    "batch-size = 100\n"
		    "   \n"
		    "tiles-dir = /srv/tiles = with # and = kept\n"
		    "log-level = warn\n"
		    "map-size = 1G\n"
		    "origin = log.example.com/fw",
		    NULL, NULL);
	ck_assert_str_eq(c.data_dir, "/var/lib/ftlog");
	ck_assert_str_eq(c.listen, "127.0.0.1:9000");
	ck_assert_uint_eq(c.batch_interval_ms, 250);
	ck_assert_uint_eq(c.batch_max, 100);
	ck_assert_str_eq(c.tiles_dir, "/srv/tiles = with # and = kept");
	ck_assert_int_eq(c.log_level, FT_LOG_WARN);
	ck_assert_uint_eq(c.map_size, UINT64_C(1) << 30);
	ck_assert_str_eq(c.origin, "log.example.com/fw"); /* no final \n */
	ck_assert_ptr_null(c.policy);
	ck_assert_uint_eq(c.queue_max, 65536); /* untouched default */

	/* An empty file and a file of comments change nothing. */
	expect_load(&c, "", NULL, NULL);
	expect_load(&c, "#\n\n# x = y\n", NULL, NULL);
	ck_assert_uint_eq(c.batch_max, 100);
	ft_config_free(&c);
}
END_TEST

START_TEST(test_file_errors)
{
	ft_logd_config c;

	ft_config_defaults(&c);
	expect_load(&c, "data = /d\n# c\nbogus = 1\n", NULL,
		    ":3: unknown key \"bogus\"");
	expect_load(&c, "batch-size = 5\ndata = /d\n\nbatch-size = 5\n", NULL,
		    ":4: duplicate key \"batch-size\" (first set on line 1)");
	expect_load(&c, "data = /d\nbatch-interval = 10\n", NULL,
		    ":2: batch-interval: expected a duration like 500ms, 10s "
		    "or 5m");
	expect_load(&c, "queue-size = 0\n", NULL,
		    ":1: queue-size: out of range (1..16777216)");
	expect_load(&c, "\n\njust some words\n", NULL,
		    ":3: expected \"key = value\"");
	expect_load(&c, " = 5\n", NULL, ":1: missing key before '='");
	expect_load(&c, "data =\n", NULL, ":1: data: empty value");
	expect_load(&c, "data = /a\x01\n", NULL,
		    ":1: control character or invalid UTF-8");
	expect_load(&c, "# \xff\xfe\n", NULL,
		    ":1: control character or invalid UTF-8");
	expect_load(&c, "# overlong \xc0\xaf\n", NULL,
		    ":1: control character or invalid UTF-8");
	expect_load(&c, "Data = /d\n", NULL, ":1: unknown key \"Data\"");
	expect_load(&c, "data = /d\nunknown\x7fkey = 1\n", NULL,
		    ":2: control character or invalid UTF-8");

	/* A NUL byte in the middle of a line. */
	char err[512];
	const char *path = conf_file("nul.conf", "data = /a\0b\n", 12);
	ck_assert_int_eq(ft_config_load_file(&c, path, NULL, err, sizeof err),
			 -1);
	ck_assert_ptr_nonnull(strstr(err, "nul.conf:1: "));

	/* A failed load leaves the config as it was. */
	expect_load(&c,
		    "data = /changed\nbatch-size = 77\nlog-level = loud\n",
		    NULL, ":3: log-level: expected error, warn, info or debug");
	ck_assert_ptr_null(c.data_dir);
	ck_assert_uint_eq(c.batch_max, 4096);
	ck_assert_int_eq(c.log_level, FT_LOG_INFO);

	/* Unicode is fine in values (paths), just not control bytes. */
	expect_load(&c, "data = /srv/j\xc3\xa4rvi\n", NULL, NULL);
	ck_assert_str_eq(c.data_dir, "/srv/j\xc3\xa4rvi");

	/* Missing file: "PATH: reason". */
	char missing[1024];
	ck_assert(snprintf(missing, sizeof missing, "%s/nope.conf", g_dir) >
		  0);
	ck_assert_int_eq(
		ft_config_load_file(&c, missing, NULL, err, sizeof err), -1);
	ck_assert_int_eq(strncmp(err, missing, strlen(missing)), 0);
	ck_assert_int_eq(strncmp(err + strlen(missing), ": cannot open: ", 15),
			 0);

	/* A directory is not a config file. */
	ck_assert_int_eq(ft_config_load_file(&c, g_dir, NULL, err, sizeof err),
			 -1);
	ck_assert_ptr_nonnull(strstr(err, ": not a regular file"));
	ft_config_free(&c);
}
END_TEST

START_TEST(test_file_size_cap)
{
	ft_logd_config c;
	char err[512];
	char want[1100];
	size_t cap = 65536;
	char *big = malloc(cap + 2);

	ck_assert_ptr_nonnull(big);
	ft_config_defaults(&c);

	/* Exactly 64 KiB: one setting, then comment lines. */
	memset(big, '#', cap + 1);
	memcpy(big, "batch-size = 9\n", 15);
	for (size_t i = 100; i < cap; i += 100) {
		big[i] = '\n';
	}
	big[cap - 1] = '\n';
	const char *path = conf_file("big.conf", big, cap);
	ck_assert_int_eq(ft_config_load_file(&c, path, NULL, err, sizeof err),
			 0);
	ck_assert_uint_eq(c.batch_max, 9);

	/* One byte more is refused as a whole, before any line is used. */
	big[cap] = '\n';
	path = conf_file("big.conf", big, cap + 1);
	memcpy(big, "batch-size = 8\n", 15);
	path = conf_file("big.conf", big, cap + 1);
	ck_assert_int_eq(ft_config_load_file(&c, path, NULL, err, sizeof err),
			 -1);
	ck_assert(snprintf(want, sizeof want, "%s: larger than 65536 bytes",
			   path) > 0);
	ck_assert_str_eq(err, want);
	ck_assert_uint_eq(c.batch_max, 9);
	free(big);
	ft_config_free(&c);
}
END_TEST

START_TEST(test_file_skip)
{
	ft_logd_config c;
	static const char *const skip[] = {"batch-size", "data", NULL};

	ft_config_defaults(&c);
	/* Flags first, as ftlogd does: they win whatever the file says,
	 * even a value the file gets wrong. */
	ck_assert_int_eq(ft_config_set(&c, "data", "/from/flag", NULL, 0), 0);
	expect_load(&c,
		    "data = /from/file\nbatch-size = not-a-number\n"
		    "queue-size = 10\n",
		    skip, NULL);
	ck_assert_str_eq(c.data_dir, "/from/flag");
	ck_assert_uint_eq(c.batch_max, 4096);
	ck_assert_uint_eq(c.queue_max, 10);
	/* A skipped key is still a key: unknown or duplicate is an error. */
	expect_load(&c, "batch-size = 1\nbatch-size = 2\n", skip,
		    ":2: duplicate key \"batch-size\" (first set on line 1)");
	static const char *const skip_bogus[] = {"bogus", NULL};
	expect_load(&c, "bogus = 1\n", skip_bogus, ":1: unknown key \"bogus\"");
	ft_config_free(&c);
}
END_TEST

/* ---- Listen addresses. */

START_TEST(test_listen)
{
	static const struct {
		const char *s;
		const char *host;
		int port;
	} good[] = {
		{"127.0.0.1:8080", "127.0.0.1", 8080},
		{"0.0.0.0:0", "0.0.0.0", 0},
		{"10.1.2.3:65535", "10.1.2.3", 65535},
		{"[::1]:8080", "::1", 8080},
		{"[::]:1", "::", 1},
		{"[2001:db8::17]:443", "2001:db8::17", 443},
	};
	static const char *const bad[] = {
		"127.0.0.1:65536", "127.0.0.1:99999999999999999999",
		":8080", "127.0.0.1:", "127.0.0.1", "127.0.0.1:+80",
		"127.0.0.1:-1", "127.0.0.1:080", "127.0.0.1:00",
		"127.0.0.1:80x", "127.0.0.1: 80", "127.0.0.1 :80",
		" 127.0.0.1:80", "[::1]", "[::1]8080", "[::1]:", "::1:8080",
		"[]:80", "[127.0.0.1]:80", "localhost:80", "256.0.0.1:80",
		"[::1:80", "127.0.0.1:8080\n",
	};
	ft_logd_config c;
	char host[64];
	char err[256];
	int port;

	ft_config_defaults(&c);
	/* Not set: the documented default. */
	ck_assert_int_eq(
		ft_config_listen(&c, host, sizeof host, &port, err, sizeof err),
		0);
	ck_assert_str_eq(host, "127.0.0.1");
	ck_assert_int_eq(port, 8080);

	char buf[128];
	c.listen = buf;
	for (size_t i = 0; i < sizeof good / sizeof good[0]; i++) {
		snprintf(buf, sizeof buf, "%s", good[i].s);
		port = -1;
		ck_assert_msg(ft_config_listen(&c, host, sizeof host, &port,
					       err, sizeof err) == 0,
			      "%s: %s", good[i].s, err);
		ck_assert_str_eq(host, good[i].host);
		ck_assert_int_eq(port, good[i].port);
	}
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		snprintf(buf, sizeof buf, "%s", bad[i]);
		err[0] = '\0';
		ck_assert_msg(ft_config_listen(&c, host, sizeof host, &port,
					       err, sizeof err) == -1,
			      "accepted \"%s\"", bad[i]);
		ck_assert_int_eq(strncmp(err, "listen: ", 8), 0);
	}
	/* The host must fit the caller's buffer. */
	snprintf(buf, sizeof buf, "%s", "127.0.0.1:80");
	ck_assert_int_eq(ft_config_listen(&c, host, 9, &port, err, sizeof err),
			 -1);
	ck_assert_int_eq(ft_config_listen(&c, host, 10, &port, err, sizeof err),
			 0);
	c.listen = NULL;
	ft_config_free(&c);
}
END_TEST

/* ---- Logging. */

START_TEST(test_log_sanitize)
{
	char out[16];

	ck_assert_str_eq(ft_log_sanitize(out, sizeof out, "a\nb\x7f\xff" "c\t",
					 7),
			 "a?b??c?");
	ck_assert_str_eq(ft_log_sanitize(out, 4, "abcdef", 6), "abc");
	ck_assert_str_eq(ft_log_sanitize(out, 1, "abcdef", 6), "");
	ck_assert_str_eq(ft_log_sanitize(out, sizeof out, "x", 0), "");
	ck_assert_str_eq(ft_log_sanitize(out, sizeof out, NULL, 5), "");
	/* (pointer, length): an embedded NUL is a byte like any other. */
	ck_assert_str_eq(ft_log_sanitize(out, sizeof out, "a\0b", 3), "a?b");
	ck_assert_str_eq(ft_log_sanitize(out, sizeof out, " ~", 2), " ~");
	out[0] = 'Z';
	ck_assert_ptr_eq(ft_log_sanitize(out, 0, "abc", 3), out);
	ck_assert_int_eq(out[0], 'Z');
}
END_TEST

START_TEST(test_log_levels)
{
	ck_assert_int_eq(ft_log_parse_level("error"), FT_LOG_ERROR);
	ck_assert_int_eq(ft_log_parse_level("warn"), FT_LOG_WARN);
	ck_assert_int_eq(ft_log_parse_level("info"), FT_LOG_INFO);
	ck_assert_int_eq(ft_log_parse_level("debug"), FT_LOG_DEBUG);
	ck_assert_int_eq(ft_log_parse_level("warning"), -1);
	ck_assert_int_eq(ft_log_parse_level("Info"), -1);
	ck_assert_int_eq(ft_log_parse_level(""), -1);
	ck_assert_int_eq(ft_log_parse_level(NULL), -1);
	ck_assert_int_eq(ft_log_get_level(), FT_LOG_INFO);
	ft_log_set_level(FT_LOG_DEBUG);
	ck_assert_int_eq(ft_log_get_level(), FT_LOG_DEBUG);
	ft_log_set_level(99);
	ck_assert_int_eq(ft_log_get_level(), FT_LOG_DEBUG);
	ft_log_set_level(-5);
	ck_assert_int_eq(ft_log_get_level(), FT_LOG_ERROR);
}
END_TEST

/* Whether line matches "YYYY-MM-DDTHH:MM:SS.mmmZ ftlogd[PID]: " and
 * return what follows. */
static const char *log_prefix(const char *line)
{
	static const char shape[] = "####-##-##T##:##:##.###Z ftlogd[";
	char pid[32];

	for (size_t i = 0; i < sizeof shape - 1; i++) {
		if (shape[i] == '#' ? !isdigit((unsigned char)line[i])
				    : line[i] != shape[i]) {
			return NULL;
		}
	}
	line += sizeof shape - 1;
	int n = snprintf(pid, sizeof pid, "%ld]: ", (long)getpid());
	if (n < 0 || strncmp(line, pid, (size_t)n) != 0) {
		return NULL;
	}
	return line + n;
}

START_TEST(test_log_lines)
{
	char path[1024];
	size_t len;

	ck_assert(snprintf(path, sizeof path, "%s/stderr", g_dir) > 0);
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(dup2(fd, STDERR_FILENO), STDERR_FILENO);
	ck_assert_int_eq(close(fd), 0);

	ft_log_set_level(FT_LOG_INFO);
	ft_log(FT_LOG_INFO, "hello %d", 42);
	ft_log(FT_LOG_DEBUG, "dropped");
	ft_log(FT_LOG_ERROR, "two\nlines\r");
	ft_log(FT_LOG_WARN, "w");
	char *huge = malloc(10000);
	ck_assert_ptr_nonnull(huge);
	memset(huge, 'a', 9999);
	huge[9999] = '\0';
	ft_log(FT_LOG_INFO, "%s", huge);
	free(huge);

	char *text = (char *)tu_read_file(path, &len);
	ck_assert_ptr_nonnull(text);
	ck_assert_int_eq(text[len - 1], '\n');
	char *save = NULL;
	const char *want[] = {"info: hello 42", "error: two?lines?", "warn: w"};
	char *line = strtok_r(text, "\n", &save);
	for (size_t i = 0; i < 3; i++) {
		ck_assert_ptr_nonnull(line);
		const char *rest = log_prefix(line);
		ck_assert_msg(rest != NULL, "bad line: %s", line);
		ck_assert_str_eq(rest, want[i]);
		line = strtok_r(NULL, "\n", &save);
	}
	/* The long one is cut to one 4096-byte line ending in "...". */
	ck_assert_ptr_nonnull(line);
	ck_assert_uint_eq(strlen(line) + 1, 4096);
	ck_assert_ptr_nonnull(log_prefix(line));
	ck_assert_str_eq(line + strlen(line) - 4, "a...");
	ck_assert_ptr_null(strtok_r(NULL, "\n", &save));
	free(text);
}
END_TEST

/* ---- Metrics. */

/* A valid metric name: [a-zA-Z_:][a-zA-Z0-9_:]*; returns its length. */
static size_t name_len(const char *s)
{
	size_t i = 0;

	while (isalpha((unsigned char)s[i]) || s[i] == '_' || s[i] == ':' ||
	       (i > 0 && isdigit((unsigned char)s[i]))) {
		i++;
	}
	return i;
}

/*
 * Check the whole exposition line by line: HELP and TYPE before each
 * family's samples, one TYPE per family, well-formed labels and values,
 * histogram buckets cumulative and ending at +Inf == _count.
 */
static void check_exposition(const char *text, size_t len)
{
	char typed[64][64];
	size_t ntyped = 0;
	char cur[64] = "";
	char cur_type[16] = "";
	double last_bucket = -1;
	int saw_inf = 0;
	double inf_value = -1;

	ck_assert_uint_gt(len, 0);
	ck_assert_int_eq(text[len - 1], '\n');
	ck_assert_uint_eq(strlen(text), len);
	const char *p = text;
	while (p < text + len) {
		const char *nl = strchr(p, '\n');
		ck_assert_ptr_nonnull(nl);
		char line[512];
		size_t n = (size_t)(nl - p);
		ck_assert_uint_lt(n, sizeof line);
		memcpy(line, p, n);
		line[n] = '\0';
		p = nl + 1;

		if (strncmp(line, "# HELP ", 7) == 0) {
			size_t k = name_len(line + 7);
			ck_assert_uint_gt(k, 0);
			ck_assert_int_eq(line[7 + k], ' ');
			ck_assert_uint_gt(strlen(line + 8 + k), 0);
			continue;
		}
		if (strncmp(line, "# TYPE ", 7) == 0) {
			size_t k = name_len(line + 7);
			ck_assert(k > 0 && k < sizeof cur);
			ck_assert_int_eq(line[7 + k], ' ');
			const char *type = line + 8 + k;
			ck_assert_msg(strcmp(type, "counter") == 0 ||
					      strcmp(type, "gauge") == 0 ||
					      strcmp(type, "histogram") == 0,
				      "type %s", type);
			memcpy(cur, line + 7, k);
			cur[k] = '\0';
			for (size_t i = 0; i < ntyped; i++) {
				ck_assert_str_ne(typed[i], cur);
			}
			ck_assert_uint_lt(ntyped, 64);
			memcpy(typed[ntyped++], cur, k + 1);
			snprintf(cur_type, sizeof cur_type, "%s", type);
			last_bucket = -1;
			saw_inf = 0;
			continue;
		}
		ck_assert_msg(line[0] != '#', "stray comment: %s", line);

		/* A sample: name[{labels}] value */
		size_t k = name_len(line);
		ck_assert_msg(k > 0, "bad sample: %s", line);
		char name[64];
		ck_assert_uint_lt(k, sizeof name);
		memcpy(name, line, k);
		name[k] = '\0';
		const char *q = line + k;
		int is_inf_bucket = 0;
		if (*q == '{') {
			q++;
			for (;;) {
				size_t lk = name_len(q);
				ck_assert_msg(lk > 0, "label in %s", line);
				if (strncmp(q, "le=\"+Inf\"", 9) == 0) {
					is_inf_bucket = 1;
				}
				q += lk;
				ck_assert_int_eq(*q++, '=');
				ck_assert_int_eq(*q++, '"');
				while (*q != '"') {
					ck_assert_msg(*q != '\0' && *q != '\\' &&
							      *q != '\n',
						      "label value in %s", line);
					q++;
				}
				q++;
				if (*q == ',') {
					q++;
					continue;
				}
				ck_assert_int_eq(*q++, '}');
				break;
			}
		}
		ck_assert_int_eq(*q++, ' ');
		char *end;
		double v = strtod(q, &end);
		ck_assert_msg(end != q && *end == '\0', "value in %s", line);

		/* The sample belongs to the family typed last. */
		if (strcmp(cur_type, "histogram") == 0) {
			size_t cl = strlen(cur);
			ck_assert_int_eq(strncmp(name, cur, cl), 0);
			const char *suf = name + cl;
			if (strcmp(suf, "_bucket") == 0) {
				ck_assert(!saw_inf);
				ck_assert_msg(v >= last_bucket,
					      "buckets not cumulative: %s",
					      line);
				last_bucket = v;
				if (is_inf_bucket) {
					saw_inf = 1;
					inf_value = v;
				}
			} else if (strcmp(suf, "_count") == 0) {
				ck_assert(saw_inf);
				ck_assert(v == inf_value);
			} else {
				ck_assert_str_eq(suf, "_sum");
			}
		} else {
			ck_assert_str_eq(name, cur);
		}
	}
}

static char *render(ft_metrics *m, size_t *len)
{
	char *out = NULL;

	ck_assert_int_eq(ft_metrics_render(m, &out, len), 0);
	ck_assert_ptr_nonnull(out);
	check_exposition(out, *len);
	return out;
}

/* Whether text holds exactly this line. */
static int has_line(const char *text, const char *line)
{
	size_t n = strlen(line);

	for (const char *p = text; (p = strstr(p, line)) != NULL; p++) {
		if ((p == text || p[-1] == '\n') && p[n] == '\n') {
			return 1;
		}
	}
	return 0;
}

#define HAS(text, line) ck_assert_msg(has_line(text, line), "missing: %s", line)
#define HASNT(text, line) \
	ck_assert_msg(!has_line(text, line), "unexpected: %s", line)

START_TEST(test_metrics_render)
{
	ft_metrics *m = ft_metrics_new();
	size_t len;

	ck_assert_ptr_nonnull(m);
	char *t = render(m, &len);
	HAS(t, "# TYPE ftlog_tree_size gauge");
	HAS(t, "ftlog_tree_size 0");
	HAS(t, "ftlog_batch_size_bucket{le=\"+Inf\"} 0");
	const char *bi = strstr(t, "\nftlog_build_info{version=\"");
	ck_assert_ptr_nonnull(bi);
	ck_assert_ptr_nonnull(strstr(bi, "\"} 1\n"));
	HAS(t, "# TYPE ftlog_http_requests_total counter");
	ck_assert_ptr_null(strstr(t, "ftlog_http_requests_total{"));
	ck_assert_ptr_null(strstr(t, "ftlog_checkpoint_age_seconds"));
	free(t);

	ft_metrics_tree_size(m, 42);
	ft_metrics_batch(m, 3, 1, 0.02);
	ft_metrics_batch(m, 200, 0, 2.0);
	ft_metrics_batch(m, 0, 1, 0.0);
	ft_metrics_batch_error(m);
	ft_metrics_add_latency(m, 0.005); /* le is inclusive */
	ft_metrics_add_latency(m, 100.0);
	ft_metrics_add_latency(m, -1.0);  /* clamped to 0 */
	ft_metrics_rejected(m);
	ft_metrics_rejected(m);
	ft_metrics_queue_depth(m, 17);
	ft_metrics_queue_full(m);
	ft_metrics_request(m, FT_ROUTE_TILE, 200);
	ft_metrics_request(m, FT_ROUTE_TILE, 200);
	ft_metrics_request(m, FT_ROUTE_TILE, 404);
	ft_metrics_request(m, FT_ROUTE_ADD, 418);
	ft_metrics_request(m, FT_ROUTE_ADD, 503);
	ft_metrics_request(m, 99, 505);
	ft_metrics_request(m, -1, 431);
	ft_metrics_conn_open(m);
	ft_metrics_conn_open(m);
	ft_metrics_conn_close(m);
	ft_metrics_conn_refused(m);
	ft_metrics_checkpoint_now(m);

	t = render(m, &len);
	HAS(t, "ftlog_tree_size 42");
	HAS(t, "# TYPE ftlog_entries_appended_total counter");
	HAS(t, "ftlog_entries_appended_total 203");
	HAS(t, "ftlog_entries_duplicate_total 2");
	HAS(t, "ftlog_entries_rejected_total 2");
	HAS(t, "ftlog_batch_errors_total 1");
	HAS(t, "ftlog_queue_depth 17");
	HAS(t, "ftlog_queue_full_total 1");
	/* Batch sizes 4, 200 and 1. */
	HAS(t, "# TYPE ftlog_batch_size histogram");
	HAS(t, "ftlog_batch_size_bucket{le=\"1\"} 1");
	HAS(t, "ftlog_batch_size_bucket{le=\"10\"} 2");
	HAS(t, "ftlog_batch_size_bucket{le=\"100\"} 2");
	HAS(t, "ftlog_batch_size_bucket{le=\"1000\"} 3");
	HAS(t, "ftlog_batch_size_bucket{le=\"100000\"} 3");
	HAS(t, "ftlog_batch_size_bucket{le=\"+Inf\"} 3");
	HAS(t, "ftlog_batch_size_sum 205");
	HAS(t, "ftlog_batch_size_count 3");
	/* Commit times 0.02, 2.0 and 0. */
	HAS(t, "ftlog_batch_commit_seconds_bucket{le=\"0.001\"} 1");
	HAS(t, "ftlog_batch_commit_seconds_bucket{le=\"0.01\"} 1");
	HAS(t, "ftlog_batch_commit_seconds_bucket{le=\"0.025\"} 2");
	HAS(t, "ftlog_batch_commit_seconds_bucket{le=\"1\"} 2");
	HAS(t, "ftlog_batch_commit_seconds_bucket{le=\"2.5\"} 3");
	HAS(t, "ftlog_batch_commit_seconds_bucket{le=\"10\"} 3");
	HAS(t, "ftlog_batch_commit_seconds_count 3");
	/* Latencies 0.005, 100 and 0. */
	HAS(t, "ftlog_add_latency_seconds_bucket{le=\"0.001\"} 1");
	HAS(t, "ftlog_add_latency_seconds_bucket{le=\"0.005\"} 2");
	HAS(t, "ftlog_add_latency_seconds_bucket{le=\"10\"} 2");
	HAS(t, "ftlog_add_latency_seconds_bucket{le=\"+Inf\"} 3");
	HAS(t, "ftlog_add_latency_seconds_sum 100.005");
	HAS(t, "ftlog_add_latency_seconds_count 3");
	/* Requests: only the series that happened. */
	HAS(t, "ftlog_http_requests_total{route=\"tile\",code=\"200\"} 2");
	HAS(t, "ftlog_http_requests_total{route=\"tile\",code=\"404\"} 1");
	HAS(t, "ftlog_http_requests_total{route=\"add\",code=\"other\"} 1");
	HAS(t, "ftlog_http_requests_total{route=\"add\",code=\"503\"} 1");
	HAS(t, "ftlog_http_requests_total{route=\"other\",code=\"505\"} 1");
	HAS(t, "ftlog_http_requests_total{route=\"other\",code=\"431\"} 1");
	HASNT(t, "ftlog_http_requests_total{route=\"tile\",code=\"304\"} 0");
	ck_assert_ptr_null(strstr(t, "route=\"checkpoint\""));
	HAS(t, "ftlog_http_connections_open 1");
	HAS(t, "ftlog_http_connections_total 2");
	HAS(t, "ftlog_http_connections_refused_total 1");
	HAS(t, "# TYPE ftlog_checkpoint_age_seconds gauge");
	const char *age = strstr(t, "\nftlog_checkpoint_age_seconds ");
	ck_assert_ptr_nonnull(age);
	double a = strtod(age + 30, NULL);
	ck_assert(a >= 0 && a < 5);
	free(t);

	/* Every route has its label name. */
	ck_assert_str_eq(ft_route_name(FT_ROUTE_CHECKPOINT), "checkpoint");
	ck_assert_str_eq(ft_route_name(FT_ROUTE_PROOF_INCLUSION),
			 "proof_inclusion");
	ck_assert_str_eq(ft_route_name(FT_ROUTE_PROOF_CONSISTENCY),
			 "proof_consistency");
	ck_assert_str_eq(ft_route_name(FT_ROUTE_HEALTHZ), "healthz");
	ck_assert_str_eq(ft_route_name(FT_ROUTE_COUNT), "other");
	ck_assert_str_eq(ft_route_name(-3), "other");
	ft_metrics_free(m);
}
END_TEST

START_TEST(test_metrics_null)
{
	char *out = NULL;
	size_t len = 1;

	ft_metrics_request(NULL, 0, 200);
	ft_metrics_conn_open(NULL);
	ft_metrics_conn_close(NULL);
	ft_metrics_conn_refused(NULL);
	ft_metrics_batch(NULL, 1, 1, 0.1);
	ft_metrics_batch_error(NULL);
	ft_metrics_add_latency(NULL, 0.1);
	ft_metrics_rejected(NULL);
	ft_metrics_queue_depth(NULL, 1);
	ft_metrics_queue_full(NULL);
	ft_metrics_tree_size(NULL, 1);
	ft_metrics_checkpoint_now(NULL);
	ft_metrics_free(NULL);
	ck_assert_int_eq(ft_metrics_render(NULL, &out, &len), 0);
	ck_assert_uint_eq(len, 0);
	free(out);
}
END_TEST

static void *hammer(void *arg)
{
	ft_metrics *m = arg;

	for (int i = 0; i < 20000; i++) {
		ft_metrics_request(m, FT_ROUTE_CHECKPOINT, 200);
		ft_metrics_add_latency(m, 0.002);
	}
	return NULL;
}

START_TEST(test_metrics_threads)
{
	ft_metrics *m = ft_metrics_new();
	pthread_t th[4];
	size_t len;

	ck_assert_ptr_nonnull(m);
	for (int i = 0; i < 4; i++) {
		ck_assert_int_eq(pthread_create(&th[i], NULL, hammer, m), 0);
	}
	for (int i = 0; i < 4; i++) {
		ck_assert_int_eq(pthread_join(th[i], NULL), 0);
	}
	char *t = render(m, &len);
	HAS(t, "ftlog_http_requests_total{route=\"checkpoint\",code=\"200\"} "
	       "80000");
	HAS(t, "ftlog_add_latency_seconds_bucket{le=\"0.005\"} 80000");
	HAS(t, "ftlog_add_latency_seconds_count 80000");
	free(t);
	ft_metrics_free(m);
}
END_TEST

static Suite *config_suite(void)
{
	Suite *s = suite_create("config");
	TCase *tc = tcase_create("parse");

	tcase_set_timeout(tc, 30);
	tcase_add_test(tc, test_durations);
	tcase_add_test(tc, test_sizes);
	tcase_add_test(tc, test_defaults);
	tcase_add_test(tc, test_set_ranges);
	tcase_add_test(tc, test_listen);
	suite_add_tcase(s, tc);

	TCase *tf = tcase_create("file");
	tcase_set_timeout(tf, 30);
	tcase_add_checked_fixture(tf, dir_setup, dir_teardown);
	tcase_add_test(tf, test_file_good);
	tcase_add_test(tf, test_file_errors);
	tcase_add_test(tf, test_file_size_cap);
	tcase_add_test(tf, test_file_skip);
	tcase_add_test(tf, test_log_lines);
	suite_add_tcase(s, tf);

	TCase *tl = tcase_create("log");
	tcase_set_timeout(tl, 30);
	tcase_add_test(tl, test_log_sanitize);
	tcase_add_test(tl, test_log_levels);
	suite_add_tcase(s, tl);

	TCase *tm = tcase_create("metrics");
	tcase_set_timeout(tm, 60);
	tcase_add_test(tm, test_metrics_render);
	tcase_add_test(tm, test_metrics_null);
	tcase_add_test(tm, test_metrics_threads);
	suite_add_tcase(s, tm);
	return s;
}

int main(void)
{
	return tu_run_suite(config_suite());
}
