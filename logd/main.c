/*
 * logd/main.c - ftlogd, the ftlog log server: "init" creates a log,
 * "serve" runs it. See usage() and the README.
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <sodium.h>
#include <uv.h>

#include <ftlog/note.h>

#include "logd/api.h"
#include "logd/config.h"
#include "logd/export.h"
#include "logd/fsutil.h"
#include "logd/log.h"
#include "logd/metrics.h"
#include "logd/policy.h"
#include "logd/seq.h"
#include "logd/server.h"
#include "logd/store.h"
#include "logd/witness.h"

#ifndef PACKAGE_VERSION
#define PACKAGE_VERSION "0.1.0"
#endif

#define KEY_FILE "log.key"
#define PUB_FILE "log.pub"

static const char usage_main[] =
	"NAME\n"
	"    ftlogd - the ftlog transparency log server\n"
	"\n"
	"SYNOPSIS\n"
	"    ftlogd init --data DIR --origin NAME [--map-size SIZE]\n"
	"    ftlogd serve --data DIR --listen HOST:PORT --policy FILE\n"
	"                 [--config FILE] "
	"[OPTIONS]\n"
	"    ftlogd help [init|serve]\n"
	"    ftlogd --version\n"
	"\n"
	"DESCRIPTION\n"
	"    ftlogd keeps an append-only RFC 6962 Merkle tree of firmware\n"
	"    events in an LMDB store, signs a C2SP checkpoint for every batch\n"
	"    it commits, and serves the C2SP tlog-tiles read API, inclusion\n"
	"    and consistency proofs, and POST /add, which answers with the\n"
	"    entry's c2sp.org/tlog-proof once the entry is durably logged.\n"
	"\n"
	"    init   creates a new log: the store and its Ed25519 signing key\n"
	"           (DIR/log.key, mode 0600). Prints the verifier key that\n"
	"           clients and witnesses use to check the log's checkpoints.\n"
	"    serve  runs the log until SIGTERM or SIGINT.\n"
	"\n"
	"    Run \"ftlogd help serve\" for every serve option and the config\n"
	"    file.\n"
	"\n"
	"EXIT STATUS\n"
	"    0 on success (serve: after a graceful shutdown), 1 on errors,\n"
	"    2 on usage errors.\n";

static const char usage_init[] =
	"NAME\n"
	"    ftlogd init - create a new log\n"
	"\n"
	"SYNOPSIS\n"
	"    ftlogd init --data DIR --origin NAME [--map-size SIZE]\n"
	"\n"
	"DESCRIPTION\n"
	"    Creates DIR (mode 0700) if it does not exist, an empty LMDB store\n"
	"    in it, the log's Ed25519 signing key in DIR/log.key (mode 0600,\n"
	"    Go/C2SP note format \"PRIVATE+KEY+NAME+...\") and its verifier key\n"
	"    in DIR/log.pub, and prints the verifier key on standard output.\n"
	"    Refuses to touch a directory that already holds a key or a store.\n"
	"\n"
	"OPTIONS\n"
	"    --data DIR       the data directory\n"
	"    --origin NAME    the log's origin line and key name, e.g.\n"
	"                     \"ftlog.example.net/firmware\" (no spaces or '+')\n"
	"    --map-size SIZE  LMDB map size (address space, not disk), default\n"
	"                     64G; can be raised later with serve --map-size\n"
	"\n"
	"BACKUP\n"
	"    Keep an offline copy of DIR/log.key: whoever holds it can sign\n"
	"    checkpoints for the log.\n";

static const char usage_serve[] =
	"NAME\n"
	"    ftlogd serve - run the log server\n"
	"\n"
	"SYNOPSIS\n"
	"    ftlogd serve --data DIR --listen HOST:PORT --policy FILE\n"
	"                 [--config FILE] "
	"[OPTIONS]\n"
	"\n"
	"DESCRIPTION\n"
	"    Serves the log in DIR over HTTP/1.1 (keep-alive, pipelining) on\n"
	"    HOST:PORT (a numeric address; port 0 picks a free port). Entries\n"
	"    POSTed to /add are queued and appended in batches: each batch is\n"
	"    appended, hashed, its checkpoint signed and stored in one LMDB\n"
	"    transaction, and the submitters are answered only after that\n"
	"    commit is on disk. SIGTERM or SIGINT stops accepting, finishes\n"
	"    the batch in flight, answers every waiting client, and exits 0.\n"
	"\n"
	"    Only firmware events are accepted: a DSSE envelope carrying an\n"
	"    in-toto statement (docs/events.md), signed by keys the\n"
	"    submission policy FILE allows for that kind of event and product\n"
	"    (docs/policy.md). Signatures are checked on a pool of worker\n"
	"    threads (UV_THREADPOOL_SIZE, default: one per CPU, at least 2).\n"
	"    A refused entry gets a 4xx answer whose one-line body names the\n"
	"    rule (\"threshold: ...\") and nothing is stored. SIGHUP re-reads\n"
	"    the policy file; an invalid file is refused, logged, and the\n"
	"    policy in force stays. Connections are not dropped.\n"
	"\n"
	"OPTIONS\n"
	"    Every option can also be set in the config file, by its name\n"
	"    without the dashes (\"batch-interval = 250ms\"). Flags win over\n"
	"    the file. D is a duration with a unit (500ms, 10s, 1m); S a size\n"
	"    with an optional unit K, M, G or T (powers of 1024).\n"
	"\n"
	"    --data DIR               data directory made by ftlogd init\n"
	"    --listen HOST:PORT       address to serve on, e.g. 127.0.0.1:8080\n"
	"                             or [::1]:8080\n"
	"    --policy FILE            the submission policy (required)\n"
	"    --config FILE            read settings from FILE (see CONFIG FILE)\n"
	"    --tiles-dir DIR          also export every checkpoint, tile and\n"
	"                             entry bundle to DIR for a static web\n"
	"                             server (written to a temporary file,\n"
	"                             fsync'ed and renamed; checkpoint last)\n"
	"    --ready-file FILE        write \"HOST:PORT\" to FILE once serving\n"
	"    --batch-interval D       longest wait before a batch is sequenced\n"
	"                             (default 500ms)\n"
	"    --batch-size N           most entries in one batch (4096)\n"
	"    --queue-size N           most entries waiting; beyond, POST /add\n"
	"                             gets 503 with Retry-After (65536)\n"
	"    --queue-bytes S          most entry bytes waiting (256M)\n"
	"    --max-connections N      open connections; beyond, new ones get\n"
	"                             503 and are closed (1024)\n"
	"    --header-timeout D       time to send a request head (10s)\n"
	"    --request-timeout D      time to send head and body (30s)\n"
	"    --idle-timeout D         keep-alive idle time (60s)\n"
	"    --write-timeout D        time a response write may stall (30s)\n"
	"    --max-header-bytes S     request line and headers; beyond: 431 (8K)\n"
	"    --max-body-bytes S       request body; beyond: 413 (65535, the\n"
	"                             largest entry)\n"
	"    --map-size S             LMDB map size (64G)\n"
	"    --log-level LEVEL        error, warn, info (default) or debug\n"
	"    --health-max-age D       /healthz fails when the sequencer has not\n"
	"                             completed a cycle for this long (10s)\n"
	"    --witnesses FILE         send every new checkpoint to the witnesses\n"
	"                             listed in FILE and publish the\n"
	"                             cosignatures they return (see WITNESSES)\n"
	"    --witness-quorum N       publish a checkpoint only once N distinct\n"
	"                             witnesses cosigned it (0..32, at most the\n"
	"                             number of witnesses; default 0: publish\n"
	"                             at once, cosignatures as they come)\n"
	"    --witness-timeout D      time a witness has to answer, per request\n"
	"                             and per round (5s; 100ms..5m)\n"
	"\n"
	"WITNESSES\n"
	"    The witnesses file has one witness per line, \"KEY URL\": its\n"
	"    cosignature verifier key (type 0x04, printed by \"ftlog witness\n"
	"    init\") and its http:// submission prefix; '#' starts a comment.\n"
	"    After each commit the log sends its new checkpoint, with a\n"
	"    consistency proof, to POST URL/add-checkpoint of every witness\n"
	"    (C2SP tlog-witness), without ever holding back sequencing. The\n"
	"    published checkpoint - the log's signed note followed by the\n"
	"    cosignatures - is what GET /checkpoint serves, what GET /bundle\n"
	"    proves against and what the tiles directory gets as its\n"
	"    checkpoint; it is also kept in DIR/published-checkpoint and\n"
	"    served again after a restart. With a quorum N > 0 a checkpoint is\n"
	"    published only with N cosignatures: until then the previous one\n"
	"    stays (GET /checkpoint answers 503 before the first), and GET\n"
	"    /bundle answers 503 with Retry-After for a release it does not\n"
	"    cover yet. POST /add answers carry the freshly signed checkpoint\n"
	"    without cosignatures. A witness that fails is logged, counted in\n"
	"    /metrics and asked again (after 1s, backing off to 60s, or at the\n"
	"    next checkpoint). SIGHUP does not re-read the witnesses file.\n"
	"\n"
	"CONFIG FILE\n"
	"    One \"key = value\" per line; '#' starts a comment line. Unknown\n"
	"    keys, duplicates and bad values are errors naming the line.\n"
	"\n"
	"        data = /var/lib/ftlog\n"
	"        listen = 127.0.0.1:8080\n"
	"        policy = /etc/ftlog/policy.json\n"
	"        tiles-dir = /var/www/ftlog\n"
	"        batch-interval = 500ms\n"
	"        witnesses = /etc/ftlog/witnesses\n"
	"        witness-quorum = 1\n"
	"\n"
	"HTTP API\n"
	"    GET  /checkpoint                       signed checkpoint (with\n"
	"                                           --witnesses: the published\n"
	"                                           one, with cosignatures)\n"
	"    GET  /tile/L/N[.p/W], /tile/entries/N[.p/W]   C2SP tiles\n"
	"    POST /add                              DSSE envelope -> tlog-proof\n"
	"    GET  /proof/inclusion?index=I&size=S   (or leaf=HEX&size=S)\n"
	"    GET  /proof/consistency?old=M&new=N\n"
	"    GET  /lineage/SHA256HEX[?after=N]      events about a digest (JSON)\n"
	"    GET  /bundle/SHA256HEX                 tlog-proof of the newest\n"
	"                                           release of an image (404\n"
	"                                           none, 410 revoked, 503 not\n"
	"                                           yet cosigned)\n"
	"    GET  /metrics                          Prometheus text\n"
	"    GET  /healthz\n"
	"\n"
	"SIGNALS\n"
	"    SIGTERM, SIGINT  graceful stop (exit 0)\n"
	"    SIGHUP           reload the policy file\n"
	"\n"
	"EXIT STATUS\n"
	"    0 after a graceful stop; 1 when the store, key, policy or\n"
	"    address cannot be used; 2 for a usage error.\n"
	"\n"
	"LOGS\n"
	"    One line per event on standard error, with a level. No secrets.\n";

static void die(const char *fmt, ...) __attribute__((format(printf, 1, 2),
						     noreturn));

static void die(const char *fmt, ...)
{
	va_list ap;

	fputs("ftlogd: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	exit(1);
}

static void usage_error(const char *fmt, ...)
	__attribute__((format(printf, 1, 2), noreturn));

static void usage_error(const char *fmt, ...)
{
	va_list ap;

	fputs("ftlogd: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputs("\nRun \"ftlogd --help\" for usage.\n", stderr);
	exit(2);
}

static char *path_join(const char *dir, const char *name)
{
	size_t n = strlen(dir) + strlen(name) + 2;
	char *p = malloc(n);

	if (p == NULL) {
		die("out of memory");
	}
	(void)snprintf(p, n, "%s/%s", dir, name);
	return p;
}

/* Write a whole new file (O_EXCL) and fsync it. 0 or -1 (errno). */
static int write_new_file(const char *path, const char *data, size_t len,
			  mode_t mode)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, mode);
	size_t off = 0;

	if (fd < 0) {
		return -1;
	}
	while (off < len) {
		ssize_t w = write(fd, data + off, len - off);

		if (w < 0) {
			if (errno == EINTR) {
				continue;
			}
			(void)close(fd);
			return -1;
		}
		off += (size_t)w;
	}
	if (fsync(fd) != 0) {
		(void)close(fd);
		return -1;
	}
	return close(fd);
}

/* ---- Argument handling shared by init and serve. */

struct flag {
	const char *key; /* config key (flag without "--") */
	const char *value;
};

#define MAX_FLAGS 64

static int parse_flags(int argc, char **argv, struct flag *flags,
		       size_t *nflags, const char **config_file)
{
	int i;

	*nflags = 0;
	*config_file = NULL;
	for (i = 0; i < argc; i++) {
		const char *a = argv[i];
		const char *key, *val;
		const char *eq;
		static char keybuf[MAX_FLAGS][64];

		if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) {
			return 1;
		}
		if (strncmp(a, "--", 2) != 0) {
			usage_error("unexpected argument \"%s\"", a);
		}
		key = a + 2;
		eq = strchr(key, '=');
		if (eq != NULL) {
			size_t klen = (size_t)(eq - key);

			if (klen >= sizeof(keybuf[0]) || *nflags >= MAX_FLAGS) {
				usage_error("bad option \"%s\"", a);
			}
			memcpy(keybuf[*nflags], key, klen);
			keybuf[*nflags][klen] = '\0';
			key = keybuf[*nflags];
			val = eq + 1;
		} else {
			if (i + 1 >= argc) {
				usage_error("option --%s needs a value", key);
			}
			val = argv[++i];
		}
		if (strcmp(key, "config") == 0) {
			if (*config_file != NULL) {
				usage_error("--config given twice");
			}
			*config_file = val;
			continue;
		}
		if (!ft_config_known(key)) {
			usage_error("unknown option --%s", key);
		}
		if (*nflags >= MAX_FLAGS) {
			usage_error("too many options");
		}
		{
			size_t j;

			for (j = 0; j < *nflags; j++) {
				if (strcmp(flags[j].key, key) == 0) {
					usage_error("option --%s given twice",
						    key);
				}
			}
		}
		flags[*nflags].key = key;
		flags[*nflags].value = val;
		(*nflags)++;
	}
	return 0;
}

static void apply_flags(ft_logd_config *c, const struct flag *flags,
			size_t n)
{
	char err[256];
	size_t i;

	for (i = 0; i < n; i++) {
		if (ft_config_set(c, flags[i].key, flags[i].value, err,
				  sizeof(err)) != 0) {
			usage_error("--%s: %s", flags[i].key, err);
		}
	}
}

/* ---- init. */

static int cmd_init(int argc, char **argv)
{
	struct flag flags[MAX_FLAGS];
	size_t nflags;
	const char *config_file;
	ft_logd_config c;
	ft_skey sk;
	ft_vkey vk;
	char skey_str[FT_KEY_STR_MAX], vkey_str[FT_KEY_STR_MAX];
	size_t slen, vlen;
	char *key_path, *pub_path, *tmp_path;
	struct stat st;
	int err;

	if (parse_flags(argc, argv, flags, &nflags, &config_file) != 0) {
		fputs(usage_init, stdout);
		return 0;
	}
	if (config_file != NULL) {
		usage_error("init takes no --config");
	}
	ft_config_defaults(&c);
	apply_flags(&c, flags, nflags);
	if (c.data_dir == NULL || c.origin == NULL) {
		usage_error("init needs --data DIR and --origin NAME");
	}
	if (!ft_key_name_valid(c.origin, strlen(c.origin))) {
		usage_error("--origin: \"%s\" is not a valid key name (no "
			    "spaces, '+' or control characters)",
			    c.origin);
	}
	if (mkdir(c.data_dir, 0700) != 0 && errno != EEXIST) {
		die("cannot create %s: %s", c.data_dir, strerror(errno));
	}
	key_path = path_join(c.data_dir, KEY_FILE);
	pub_path = path_join(c.data_dir, PUB_FILE);
	if (stat(key_path, &st) == 0) {
		die("%s already exists; refusing to overwrite a log key",
		    key_path);
	}
	err = ft_init();
	if (err == 0) {
		err = ft_key_generate(c.origin, strlen(c.origin),
				      FT_KEY_ED25519, &sk);
	}
	if (err != 0) {
		die("cannot generate a key: %s", ft_strerror(err));
	}
	ft_skey_public(&sk, &vk);
	if (ft_skey_format(&sk, skey_str, sizeof(skey_str), &slen) != 0 ||
	    ft_vkey_format(&vk, vkey_str, sizeof(vkey_str), &vlen) != 0 ||
	    slen + 1 >= sizeof(skey_str) || vlen + 1 >= sizeof(vkey_str)) {
		die("cannot format the key");
	}
	ft_skey_wipe(&sk);
	/* The key goes to a temporary file first, then the store is
	 * created, then the key is renamed into place: a failure or a kill
	 * at any point leaves either nothing or a complete log (a leftover
	 * temporary key is replaced by the next init). */
	tmp_path = path_join(c.data_dir, KEY_FILE ".tmp");
	(void)unlink(tmp_path);
	skey_str[slen++] = '\n';
	vkey_str[vlen++] = '\n';
	if (write_new_file(tmp_path, skey_str, slen, 0600) != 0) {
		sodium_memzero(skey_str, sizeof(skey_str));
		die("cannot write %s: %s", tmp_path, strerror(errno));
	}
	sodium_memzero(skey_str, sizeof(skey_str));
	err = ft_store_create(c.data_dir, c.origin, strlen(c.origin),
			      c.map_size);
	if (err != 0) {
		(void)unlink(tmp_path);
		die("cannot create the store in %s: %s", c.data_dir,
		    ft_strerror(err));
	}
	if (rename(tmp_path, key_path) != 0) {
		die("cannot rename %s: %s", tmp_path, strerror(errno));
	}
	(void)unlink(pub_path); /* derived from the key: safe to rewrite */
	if (write_new_file(pub_path, vkey_str, vlen, 0644) != 0) {
		die("cannot write %s: %s", pub_path, strerror(errno));
	}
	if (ft_fsync_dir(c.data_dir) != 0) {
		die("cannot sync %s: %s", c.data_dir, strerror(errno));
	}
	if (fwrite(vkey_str, 1, vlen, stdout) != vlen || fflush(stdout) != 0) {
		die("cannot write to standard output");
	}
	free(tmp_path);
	free(key_path);
	free(pub_path);
	ft_config_free(&c);
	return 0;
}

/* ---- serve. */

static int load_key(const char *dir, const char *origin, size_t origin_len,
		    ft_skey *out)
{
	char *path = path_join(dir, KEY_FILE);
	char buf[FT_KEY_STR_MAX + 2];
	struct stat st;
	ssize_t n;
	size_t len;
	int fd, err;

	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		ft_log(FT_LOG_ERROR, "cannot open %s: %s", path,
		       strerror(errno));
		free(path);
		return FT_EIO;
	}
	if (fstat(fd, &st) != 0 || (st.st_mode & 0077) != 0) {
		ft_log(FT_LOG_ERROR,
		       "%s must be readable by its owner only (chmod 600)",
		       path);
		(void)close(fd);
		free(path);
		return FT_ECONFIG;
	}
	n = read(fd, buf, sizeof(buf));
	(void)close(fd);
	if (n <= 0 || (size_t)n >= sizeof(buf)) {
		ft_log(FT_LOG_ERROR, "cannot read the key in %s", path);
		sodium_memzero(buf, sizeof(buf));
		free(path);
		return FT_EIO;
	}
	len = (size_t)n;
	if (buf[len - 1] == '\n') {
		len--;
	}
	err = ft_skey_parse(buf, len, out);
	sodium_memzero(buf, sizeof(buf));
	if (err != 0) {
		ft_log(FT_LOG_ERROR, "%s: %s", path, ft_strerror(err));
		free(path);
		return err;
	}
	if (out->name_len != origin_len ||
	    memcmp(out->name, origin, origin_len) != 0) {
		ft_log(FT_LOG_ERROR,
		       "%s: the key's name is not the log's origin", path);
		ft_skey_wipe(out);
		free(path);
		return FT_ECONFIG;
	}
	free(path);
	return 0;
}

static int write_ready_file(const char *path, const char *host, int port)
{
	size_t n = strlen(path) + 8;
	char *tmp = malloc(n);
	char line[128];
	int len, rc;

	if (tmp == NULL) {
		return -1;
	}
	(void)snprintf(tmp, n, "%s.tmp", path);
	len = snprintf(line, sizeof(line), strchr(host, ':') ? "[%s]:%d\n"
							      : "%s:%d\n",
		       host, port);
	(void)unlink(tmp);
	rc = (len > 0 && (size_t)len < sizeof(line) &&
	      write_new_file(tmp, line, (size_t)len, 0644) == 0 &&
	      rename(tmp, path) == 0)
		     ? 0
		     : -1;
	free(tmp);
	return rc;
}

struct serve_ctx {
	uv_loop_t loop;
	uv_signal_t sigterm, sigint, sighup;
	const char *policy_path;
	ft_api *api;
	ft_metrics *metrics;
	ft_server *server;
	ft_seq *seq;
	int stopping;
	int exit_code;
};

static void on_server_down(void *arg)
{
	struct serve_ctx *x = arg;

	uv_close((uv_handle_t *)&x->sigterm, NULL);
	uv_close((uv_handle_t *)&x->sigint, NULL);
	uv_close((uv_handle_t *)&x->sighup, NULL);
	ft_log(FT_LOG_INFO, "all connections closed");
}

static void on_seq_down(void *arg)
{
	struct serve_ctx *x = arg;

	ft_log(FT_LOG_INFO, "sequencer stopped; closing connections");
	ft_server_shutdown(x->server, on_server_down, x);
}

static void on_signal(uv_signal_t *h, int signum)
{
	struct serve_ctx *x = h->data;

	if (x->stopping) {
		ft_log(FT_LOG_WARN, "signal %d again; still shutting down",
		       signum);
		return;
	}
	x->stopping = 1;
	ft_log(FT_LOG_INFO, "signal %d: shutting down gracefully", signum);
	ft_server_stop_accepting(x->server);
	ft_seq_shutdown(x->seq, on_seq_down, x);
}

/* SIGHUP: re-read the policy; keep the old one if the new one is bad. */
static void on_sighup(uv_signal_t *h, int signum)
{
	struct serve_ctx *x = h->data;
	ft_policy *p = NULL;
	char err[512], desc[256];

	(void)signum;
	if (ft_policy_load(x->policy_path, &p, err, sizeof(err)) != 0) {
		ft_metrics_policy_reload(x->metrics, 0);
		ft_log(FT_LOG_ERROR,
		       "SIGHUP: new policy refused, the old one stays: %s", err);
		return;
	}
	ft_api_set_policy(x->api, p);
	ft_policy_describe(p, desc, sizeof(desc));
	ft_policy_unref(p);
	ft_metrics_policy_reload(x->metrics, 1);
	ft_log(FT_LOG_INFO, "SIGHUP: policy reloaded from %s: %s",
	       x->policy_path, desc);
}

/* Signature checks run on libuv's pool: one thread per CPU, at least 2,
 * unless the operator set UV_THREADPOOL_SIZE. Must run before the pool
 * starts (the first uv_queue_work). */
static void size_thread_pool(void)
{
	char buf[16];
	long n;

	if (getenv("UV_THREADPOOL_SIZE") != NULL) {
		return;
	}
	n = sysconf(_SC_NPROCESSORS_ONLN);
	if (n < 2) {
		n = 2;
	}
	if (n > 64) {
		n = 64;
	}
	(void)snprintf(buf, sizeof(buf), "%ld", n);
	(void)setenv("UV_THREADPOOL_SIZE", buf, 1);
}

static int cmd_serve(int argc, char **argv)
{
	ft_policy *policy = NULL;
	char desc[256];
	struct flag flags[MAX_FLAGS];
	const char *skip[MAX_FLAGS + 1];
	size_t nflags, i;
	const char *config_file;
	ft_logd_config c;
	char err_buf[512];
	char host[256];
	int port;
	ft_store *store = NULL;
	ft_skey key;
	ft_metrics *metrics = NULL;
	ft_export *export = NULL;
	ft_api *api = NULL;
	ft_witc *witc = NULL;
	ft_witc_peer *peers = NULL;
	size_t npeers = 0;
	ft_vkey log_vkey;
	struct serve_ctx x;
	ft_seq_opts so;
	ft_api_opts ao;
	ft_server_opts sv;
	const char *origin;
	size_t origin_len;
	int err;

	if (parse_flags(argc, argv, flags, &nflags, &config_file) != 0) {
		fputs(usage_serve, stdout);
		return 0;
	}
	ft_config_defaults(&c);
	if (config_file != NULL) {
		for (i = 0; i < nflags; i++) {
			skip[i] = flags[i].key;
		}
		skip[nflags] = NULL;
		if (ft_config_load_file(&c, config_file, skip, err_buf,
					sizeof(err_buf)) != 0) {
			die("%s", err_buf);
		}
	}
	apply_flags(&c, flags, nflags);
	if (c.data_dir == NULL || c.listen == NULL) {
		usage_error("serve needs --data DIR and --listen HOST:PORT");
	}
	if (c.policy == NULL) {
		usage_error("serve needs --policy FILE (docs/policy.md)");
	}
	if (ft_config_listen(&c, host, sizeof(host), &port, err_buf,
			     sizeof(err_buf)) != 0) {
		usage_error("--listen: %s", err_buf);
	}
	if (c.witnesses == NULL && c.witness_quorum > 0) {
		usage_error("--witness-quorum needs --witnesses FILE");
	}
	if (c.witnesses != NULL) {
		peers = calloc(FT_WITC_MAX, sizeof(*peers));
		if (peers == NULL) {
			die("out of memory");
		}
		if (ft_witc_load(c.witnesses, peers, &npeers, err_buf,
				 sizeof(err_buf)) != 0) {
			die("invalid witnesses file: %s", err_buf);
		}
		if (c.witness_quorum > npeers) {
			die("invalid configuration: witness-quorum %llu is "
			    "more than the %zu witnesses in %s",
			    (unsigned long long)c.witness_quorum, npeers,
			    c.witnesses);
		}
	}
	ft_log_set_level(c.log_level);
	(void)signal(SIGPIPE, SIG_IGN);
	if (ft_init() != 0) {
		die("cannot initialise libsodium");
	}
	if (ft_policy_load(c.policy, &policy, err_buf, sizeof(err_buf)) != 0) {
		die("invalid policy: %s", err_buf);
	}
	size_thread_pool();

	err = ft_store_open(c.data_dir, c.map_size, &store);
	if (err != 0) {
		die("cannot open the store in %s: %s (%s)", c.data_dir,
		    ft_strerror(err), ft_store_last_error(NULL));
	}
	origin = ft_store_origin(store, &origin_len);
	if (load_key(c.data_dir, origin, origin_len, &key) != 0) {
		ft_store_close(store);
		die("cannot load the log key");
	}
	ft_skey_public(&key, &log_vkey);
	memset(&x, 0, sizeof(x));
	metrics = ft_metrics_new();
	if (metrics == NULL) {
		die("out of memory");
	}
	if (c.tiles_dir != NULL) {
		err = ft_export_open(c.tiles_dir, &export);
		if (err != 0) {
			die("cannot use the tiles directory %s: %s",
			    c.tiles_dir, ft_strerror(err));
		}
		if (c.witnesses != NULL) {
			/* DIR/checkpoint is the published one. */
			ft_export_set_publisher(export);
		}
	}
	if (c.witnesses != NULL) {
		/* Before the sequencer, which notifies it once its first
		 * checkpoint is signed and the tiles directory caught up
		 * (only then is DIR/checkpoint written). */
		ft_witc_opts wo;

		memset(&wo, 0, sizeof(wo));
		wo.store = store;
		wo.log_key = &log_vkey;
		wo.data_dir = c.data_dir;
		wo.peers = peers;
		wo.n = npeers;
		wo.quorum = (size_t)c.witness_quorum;
		wo.timeout_ms = c.witness_timeout_ms;
		wo.export = export;
		wo.metrics = metrics;
		err = ft_witc_start(&wo, &witc);
		if (err != 0) {
			die("cannot start the witness client: %s",
			    ft_strerror(err));
		}
		free(peers);
		peers = NULL;
	}
	if (uv_loop_init(&x.loop) != 0) {
		die("cannot create the event loop");
	}
	memset(&so, 0, sizeof(so));
	so.store = store;
	so.key = &key;
	so.loop = &x.loop;
	so.metrics = metrics;
	so.export = export;
	so.witc = witc;
	so.batch_interval_ms = c.batch_interval_ms;
	so.batch_max = (size_t)c.batch_max;
	so.queue_max = (size_t)c.queue_max;
	so.queue_bytes_max = (size_t)c.queue_bytes_max;
	err = ft_seq_start(&so, &x.seq);
	ft_skey_wipe(&key);
	if (err != 0) {
		die("cannot start the sequencer: %s", ft_strerror(err));
	}
	memset(&ao, 0, sizeof(ao));
	ao.store = store;
	ao.seq = x.seq;
	ao.witc = witc;
	ao.metrics = metrics;
	ao.policy = policy;
	ao.loop = &x.loop;
	/* An idle sequencer cycles once per batch interval: never call it
	 * stalled before it has missed two cycles. */
	ao.health_max_age_ms = c.health_max_age_ms;
	if (ao.health_max_age_ms < 2 * c.batch_interval_ms + 1000) {
		ao.health_max_age_ms = 2 * c.batch_interval_ms + 1000;
	}
	err = ft_api_new(&ao, &api);
	if (err != 0) {
		die("cannot start the API: %s", ft_strerror(err));
	}
	ft_policy_describe(policy, desc, sizeof(desc));
	ft_log(FT_LOG_INFO, "policy %s: %s", c.policy, desc);
	ft_policy_unref(policy); /* the api holds its own reference */
	x.api = api;
	x.metrics = metrics;
	x.policy_path = c.policy;
	memset(&sv, 0, sizeof(sv));
	sv.host = host;
	sv.port = port;
	sv.max_connections = c.max_connections;
	sv.header_timeout_ms = c.header_timeout_ms;
	sv.request_timeout_ms = c.request_timeout_ms;
	sv.idle_timeout_ms = c.idle_timeout_ms;
	sv.write_timeout_ms = c.write_timeout_ms;
	ft_http_limits_default(&sv.limits);
	sv.limits.max_header_bytes = (size_t)c.max_header_bytes;
	sv.limits.max_body_bytes = (size_t)c.max_body_bytes;
	err = ft_server_start(&x.loop, &sv, api, metrics, &x.server);
	if (err != 0) {
		die("cannot listen on %s: %s", c.listen, ft_strerror(err));
	}
	if (uv_signal_init(&x.loop, &x.sigterm) != 0 ||
	    uv_signal_init(&x.loop, &x.sigint) != 0 ||
	    uv_signal_init(&x.loop, &x.sighup) != 0) {
		die("cannot set up signal handling");
	}
	x.sigterm.data = &x;
	x.sigint.data = &x;
	x.sighup.data = &x;
	if (uv_signal_start(&x.sigterm, on_signal, SIGTERM) != 0 ||
	    uv_signal_start(&x.sigint, on_signal, SIGINT) != 0 ||
	    uv_signal_start(&x.sighup, on_sighup, SIGHUP) != 0) {
		die("cannot set up signal handling");
	}
	{
		uint64_t size;
		ft_hash root;

		ft_store_head(store, &size, &root);
		ft_metrics_tree_size(metrics, size);
		ft_log(FT_LOG_INFO, "serving log \"%.*s\" (size %llu) on %s:%d",
		       (int)origin_len, origin, (unsigned long long)size,
		       host, ft_server_port(x.server));
	}
	if (c.ready_file != NULL &&
	    write_ready_file(c.ready_file, host, ft_server_port(x.server)) !=
		    0) {
		die("cannot write %s: %s", c.ready_file, strerror(errno));
	}

	(void)uv_run(&x.loop, UV_RUN_DEFAULT);

	ft_seq_free(x.seq);
	/* Nothing notifies any more: end the rounds (a request in flight
	 * ends within --witness-timeout). */
	ft_witc_stop(witc);
	ft_server_free(x.server);
	(void)uv_run(&x.loop, UV_RUN_DEFAULT); /* let closed handles go */
	if (uv_loop_close(&x.loop) != 0) {
		ft_log(FT_LOG_WARN, "event loop still had open handles");
	}
	ft_api_free(api);
	ft_witc_free(witc);
	ft_export_close(export);
	ft_metrics_free(metrics);
	ft_store_close(store);
	ft_config_free(&c);
	ft_log(FT_LOG_INFO, "stopped");
	return x.exit_code;
}

int main(int argc, char **argv)
{
	if (argc < 2) {
		fputs(usage_main, stderr);
		return 2;
	}
	if (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0) {
		fputs(usage_main, stdout);
		return 0;
	}
	if (strcmp(argv[1], "--version") == 0) {
		printf("ftlogd %s\n", PACKAGE_VERSION);
		return 0;
	}
	if (strcmp(argv[1], "help") == 0) {
		if (argc < 3) {
			fputs(usage_main, stdout);
		} else if (strcmp(argv[2], "init") == 0) {
			fputs(usage_init, stdout);
		} else if (strcmp(argv[2], "serve") == 0) {
			fputs(usage_serve, stdout);
		} else {
			usage_error("no help for \"%s\"", argv[2]);
		}
		return 0;
	}
	if (strcmp(argv[1], "init") == 0) {
		return cmd_init(argc - 2, argv + 2);
	}
	if (strcmp(argv[1], "serve") == 0) {
		return cmd_serve(argc - 2, argv + 2);
	}
	usage_error("unknown command \"%s\"", argv[1]);
}
