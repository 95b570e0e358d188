/*
 * tests/nginx_harness.h - a real nginx (Debian's /usr/sbin/nginx, or
 * $FTLOG_NGINX) on 127.0.0.1 with the server block of
 * docs/nginx.conf.example, the production config we recommend, pointed at
 * a test's tiles directory and ftlogd port. Shared by test_nginx and
 * test_audit. Failures are Check assertions.
 */
#ifndef FTLOG_TESTS_NGINX_HARNESS_H
#define FTLOG_TESTS_NGINX_HARNESS_H

#include <sys/types.h>

/* The nginx binary, and whether it is there. */
const char *nh_nginx_path(void);
int nh_present(void);

/* FTLOG_NO_NGINX=1: a missing nginx is a skip, not a failure. */
int nh_missing_ok(void);

/* A free TCP port on 127.0.0.1: bind port 0, read it back, close. */
int nh_free_port(void);

/*
 * Write DIR/nginx.conf (process-level settings, every path inside DIR)
 * and DIR/site.conf: docs/nginx.conf.example listening on
 * 127.0.0.1:port, serving `tiles`, proxying to 127.0.0.1:ftlogd_port.
 * Each line replaced must occur exactly once in the example (the tests
 * pin its shape). The example is $FTLOG_NGINX_EXAMPLE, else found from
 * this file's path.
 */
void nh_write_conf(const char *dir, int port, int ftlogd_port,
		   const char *tiles);

/* Start nginx on DIR's config in the foreground (it dies with the test
 * process) and wait until it answers on port (10 s). Its pid. */
pid_t nh_start(const char *dir, int port);

/* SIGTERM, wait up to 5 s (then SIGKILL): the wait status, or -1 if it
 * had to be killed. */
int nh_stop(pid_t pid);

#endif
