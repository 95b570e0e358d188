/*
 * client/ftverify.c - ftverify, the device-side install gate (DESIGN.md
 * section 5): no proof, no install. It hashes the image, checks its
 * tlog-proof (a file, or fetched from the log) against the device's trust
 * policy and state with libftclient, and only then runs the installer
 * (--exec) and commits the state. docs/ftverify.md is the manual.
 *
 * Output contract: standard output carries exactly one line per
 * verification run ("OK ...", "REFUSED <rule>: <detail>" or
 * "FAILED <rule>: <detail>"); everything else, the installer's standard
 * output included, goes to standard error. Exit codes come from one
 * table, exit_map below.
 *
 * Memory: the ft_client context (~230 KiB), the bundle and the
 * consistency proof are static; this file never calls malloc.
 */
#ifdef HAVE_CONFIG_H
#include "config.h"
#endif

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <ftlog/client.h>

#ifndef PACKAGE_VERSION
#define PACKAGE_VERSION "0.1.0"
#endif

/* ---- Exit codes. */

enum {
	EX_OK = 0,
	EX_INTERNAL = 1,
	EX_USAGE = 2,
	EX_IO = 3,
	EX_POLICY = 4,
	EX_STATE = 5,
	EX_BUNDLE = 10,
	EX_LOG = 11,
	EX_LOG_SIG = 12,
	EX_QUORUM = 13,
	EX_FUTURE = 14,
	EX_STALE = 15,
	EX_CONSISTENCY = 16,
	EX_INCLUSION = 17,
	EX_NOT_RELEASE = 18,
	EX_DIGEST = 19,
	EX_PRODUCT = 20,
	EX_HW = 21,
	EX_VENDOR_KEY = 22,
	EX_THRESHOLD = 23,
	EX_ROLLBACK = 24,
	EX_NOT_FOUND = 25,
	EX_REVOKED = 26,
	EX_INSTALLER = 30,
	EX_COMMIT = 31,
};

/* The step that failed: the same code means different things in each. */
enum {
	ST_POLICY = 1u << 0,  /* ft_client_init, loading the policy */
	ST_STATE = 1u << 1,   /* ft_client_init, loading the state */
	ST_IMAGE = 1u << 2,   /* opening and hashing the image */
	ST_BUNDLE = 1u << 3,  /* reading the --bundle file */
	ST_FETCH = 1u << 4,   /* ft_client_fetch (--log) */
	ST_VERIFY = 1u << 5,  /* ft_client_verify */
	ST_COMMIT = 1u << 6,  /* ft_client_commit */
	ST_ANY = 0xffu,
};

#define CODE_ANY 1 /* matches every code (FT_E* codes are <= 0) */

/*
 * Error code -> exit code, by step: the first row whose step mask
 * includes the step and whose code matches wins; no match is
 * EX_INTERNAL. rule is the "<rule>:" a reason starts with when the
 * library left err empty. docs/ftverify.md has the same table.
 */
static const struct exit_row {
	unsigned steps;
	int code;
	int exit;
	const char *rule;
} exit_map[] = {
	{ ST_ANY, FT_ENOMEM, EX_INTERNAL, "internal" },
	{ ST_POLICY, CODE_ANY, EX_POLICY, "policy" },
	{ ST_STATE, FT_ESTATE_CORRUPT, EX_STATE, "state" },
	{ ST_STATE, FT_ENOTFOUND, EX_STATE, "state" },
	{ ST_STATE, FT_EIO, EX_STATE, "state" },
	{ ST_STATE, FT_ETOOBIG, EX_STATE, "state" },
	{ ST_VERIFY, FT_ETOOBIG, EX_STATE, "state" },
	{ ST_IMAGE, FT_EIO, EX_IO, "image" },
	{ ST_BUNDLE, FT_EIO, EX_IO, "bundle" },
	{ ST_BUNDLE, FT_ETOOBIG, EX_BUNDLE, "bundle" },
	{ ST_FETCH, FT_EIO, EX_IO, "fetch" },
	{ ST_FETCH, FT_ETOOBIG, EX_IO, "fetch" },
	{ ST_FETCH, FT_ENOTFOUND, EX_NOT_FOUND, "not-found" },
	{ ST_FETCH, FT_EREVOKED, EX_REVOKED, "revoked" },
	{ ST_FETCH | ST_VERIFY, FT_ECLIENT_BUNDLE, EX_BUNDLE, "bundle" },
	{ ST_VERIFY, FT_ECLIENT_LOG, EX_LOG, "log" },
	{ ST_VERIFY, FT_ECLIENT_LOG_SIG, EX_LOG_SIG, "log-signature" },
	{ ST_VERIFY, FT_ECLIENT_QUORUM, EX_QUORUM, "quorum" },
	{ ST_VERIFY, FT_ECLIENT_FUTURE, EX_FUTURE, "future" },
	{ ST_VERIFY, FT_ECLIENT_STALE, EX_STALE, "stale" },
	{ ST_VERIFY, FT_ECLIENT_CONSISTENCY, EX_CONSISTENCY, "consistency" },
	{ ST_VERIFY, FT_ECLIENT_INCLUSION, EX_INCLUSION, "inclusion" },
	{ ST_VERIFY, FT_ECLIENT_NOT_RELEASE, EX_NOT_RELEASE, "not-release" },
	{ ST_VERIFY, FT_ECLIENT_DIGEST, EX_DIGEST, "digest" },
	{ ST_VERIFY, FT_ECLIENT_PRODUCT, EX_PRODUCT, "product" },
	{ ST_VERIFY, FT_ECLIENT_HW, EX_HW, "hardware" },
	{ ST_VERIFY, FT_ECLIENT_VENDOR_KEY, EX_VENDOR_KEY, "vendor-key" },
	{ ST_VERIFY, FT_ECLIENT_THRESHOLD, EX_THRESHOLD, "threshold" },
	{ ST_VERIFY, FT_ECLIENT_ROLLBACK, EX_ROLLBACK, "rollback" },
	{ ST_COMMIT, CODE_ANY, EX_COMMIT, "commit" },
};

static const struct exit_row *exit_lookup(unsigned step, int code)
{
	static const struct exit_row internal = { ST_ANY, CODE_ANY,
						  EX_INTERNAL, "internal" };
	size_t i;

	for (i = 0; i < sizeof exit_map / sizeof exit_map[0]; i++) {
		if ((exit_map[i].steps & step) != 0 &&
		    (exit_map[i].code == CODE_ANY || exit_map[i].code == code)) {
			return &exit_map[i];
		}
	}
	return &internal;
}

/* ---- Help. */

static const char help_text[] =
	"NAME\n"
	"    ftverify - verify a firmware image against the transparency log\n"
	"    before installing it\n"
	"\n"
	"SYNOPSIS\n"
	"    ftverify --policy P --state S --image F [--bundle B | --log URL]\n"
	"             [--first-boot] [--commit] [--timeout MS]\n"
	"             [--now UNIXSECONDS] [--exec CMD [ARG...]]\n"
	"    ftverify --help | --version\n"
	"\n"
	"DESCRIPTION\n"
	"    ftverify is the install gate of a network element: no proof, no\n"
	"    install. It hashes the image (SHA-256), takes the image's\n"
	"    tlog-proof (a bundle: the logged release event, its inclusion\n"
	"    proof and a cosigned checkpoint), checks it against the device's\n"
	"    trust policy and state, and only when every check passes runs the\n"
	"    installer (--exec) and records the new state (the checkpoint and\n"
	"    the product's security_version floor).\n"
	"\n"
	"    Offline (default), the bundle is a file: --bundle B, or else\n"
	"    F.tlog-proof next to the image. Online (--log URL), it is fetched\n"
	"    from the log (GET URL/bundle/<sha256>) together with a consistency\n"
	"    proof from the stored checkpoint; nothing fetched is trusted\n"
	"    before it passes the same checks.\n"
	"\n"
	"    Standard output gets exactly one line:\n"
	"        OK <product> <version> index=<n>\n"
	"        REFUSED <rule>: <detail>   a check failed; nothing installed\n"
	"        FAILED <rule>: <detail>    the checks passed but the\n"
	"                                   installer or the commit failed\n"
	"    Warnings and the installer's standard output go to standard\n"
	"    error. Usage errors print only to standard error.\n"
	"\n"
	"OPTIONS\n"
	"    --policy P         the trust policy file (docs/device-policy.md)\n"
	"    --state S          the device state file (docs/device-state.md);\n"
	"                       written only by a commit\n"
	"    --image F          the firmware image; opened once, hashed, and\n"
	"                       given to the installer on standard input\n"
	"    --bundle B         the image's tlog-proof (default F.tlog-proof)\n"
	"    --log URL          fetch the bundle from the log at\n"
	"                       http://host[:port][/prefix] instead\n"
	"    --first-boot       a missing state file is the empty state;\n"
	"                       without it a missing state file is refused\n"
	"    --commit           record the new state after a successful\n"
	"                       verification (when the image was installed by\n"
	"                       other means); implied by --exec\n"
	"    --timeout MS       per-request timeout with --log, 1..86400000\n"
	"                       milliseconds (default 30000)\n"
	"    --now UNIXSECONDS  the time to check freshness against (default:\n"
	"                       the device's clock)\n"
	"    --exec CMD [ARG...]\n"
	"                       run CMD (searched in PATH, no shell) when every\n"
	"                       check passed; everything after --exec is CMD's\n"
	"                       argument vector; it must be the last option\n"
	"    --help             print this manual\n"
	"    --version          print \"ftverify VERSION\"\n"
	"    Options take their value as the next argument or after '=';\n"
	"    each may be given once; abbreviations are not accepted.\n"
	"\n"
	"CHECKS\n"
	"    In this order; the first failure is reported (REFUSED):\n"
	"     1. policy         the policy file loads and is valid\n"
	"     2. state          the state file loads (or --first-boot and it\n"
	"                       does not exist)\n"
	"     3. image          the image is a readable regular file\n"
	"     4. bundle/fetch   the bundle can be read (at most the tlog-proof\n"
	"                       size cap) or fetched\n"
	"     5. bundle         well-formed tlog-proof with the entry and a\n"
	"                       well-formed signed checkpoint\n"
	"     6. log            the checkpoint's origin is the policy's log\n"
	"     7. log-signature  signed by the policy's log key\n"
	"     8. quorum         cosigned by at least quorum policy witnesses\n"
	"     9. future         no valid cosignature dated more than 300 s\n"
	"                       after now\n"
	"    10. stale          the newest cosignature is not older than\n"
	"                       max_checkpoint_age\n"
	"    11. consistency    the checkpoint does not go back on the stored\n"
	"                       one (online: consistency proof verified)\n"
	"    12. inclusion      the entry's inclusion proof leads to the\n"
	"                       checkpoint's root\n"
	"    13. not-release    the entry is a firmware release event\n"
	"    14. digest         a subject of the release is the image's SHA-256\n"
	"    15. product        the release is for the policy's product\n"
	"    16. hardware       the release lists the policy's hardware model\n"
	"    17. vendor-key     no revoked vendor key signed it, and a policy\n"
	"                       vendor key did\n"
	"    18. threshold      at least threshold vendor keys signed validly\n"
	"    19. rollback       security_version is not below the state's floor\n"
	"\n"
	"EXIT STATUS\n"
	"     0  OK: verified (and installed and committed, with --exec)\n"
	"     1  internal error (out of memory, unexpected library error)\n"
	"     2  usage error\n"
	"     3  I/O: the image or bundle file cannot be read or is not a\n"
	"        regular file; --log: network error, timeout, unexpected\n"
	"        status, or an answer over its size cap\n"
	"     4  policy: the policy file is missing, unreadable, too big or\n"
	"        invalid\n"
	"     5  state: the state file is corrupted, unreadable, too big, or\n"
	"        missing without --first-boot\n"
	"    10  bundle: malformed bundle or proof, or a bundle file over the cap\n"
	"    11  log          12  log-signature   13  quorum\n"
	"    14  future       15  stale           16  consistency\n"
	"    17  inclusion    18  not-release     19  digest\n"
	"    20  product      21  hardware        22  vendor-key\n"
	"    23  threshold    24  rollback\n"
	"    25  not-found: the log has no release of this image (--log)\n"
	"    26  revoked: the log says the image was revoked (--log)\n"
	"    30  installer failed (non-zero exit, signal, cannot run); state\n"
	"        not updated\n"
	"    31  commit: the state file could not be written after a successful\n"
	"        install (or with --commit)\n"
	"\n"
	"ENVIRONMENT\n"
	"    The installer inherits ftverify's environment plus:\n"
	"    FTLOG_IMAGE             the image path, as given to --image\n"
	"    FTLOG_PRODUCT           the release's product\n"
	"    FTLOG_VERSION           the release's version\n"
	"    FTLOG_SECURITY_VERSION  the release's security_version (decimal)\n"
	"    FTLOG_INDEX             the release entry's index in the log\n"
	"    FTLOG_IMAGE_SHA256      the image's SHA-256, lowercase hex\n"
	"    Its standard input is the verified image (the descriptor that was\n"
	"    hashed, at offset 0); its standard output is ftverify's standard\n"
	"    error.\n"
	"\n"
	"FILES\n"
	"    F.tlog-proof   the default bundle of image F (what \"ftlog submit\"\n"
	"                   and \"ftlog get bundle\" write)\n"
	"    S, S.tmp       the state file and its temporary file during an\n"
	"                   atomic commit\n"
	"\n"
	"EXAMPLES\n"
	"    ftverify --policy /etc/ftlog/policy.json \\\n"
	"        --state /var/lib/ftlog/state --image gnb.bin\n"
	"    ftverify --policy /etc/ftlog/policy.json \\\n"
	"        --state /var/lib/ftlog/state --image gnb.bin \\\n"
	"        --log http://log.example.net:8080 --timeout 10000\n"
	"    ftverify --policy /etc/ftlog/policy.json \\\n"
	"        --state /var/lib/ftlog/state --image gnb.bin \\\n"
	"        --exec /usr/sbin/fw-install --slot b\n"
	"\n"
	"SECURITY\n"
	"    The installer reads the image from the same open file that was\n"
	"    hashed. An installer that re-opens FTLOG_IMAGE by name must only\n"
	"    do so when the image is on storage an attacker cannot write. Keep\n"
	"    the policy and the state on protected storage: the state is what\n"
	"    stops rollbacks and forked logs. A policy with a witness quorum of\n"
	"    0 trusts the log alone; it is for labs only, and ftverify warns.\n"
	"    The installer runs only after every check passed, without a\n"
	"    shell, and the state is written only after it exited with\n"
	"    status 0.\n";

/* ---- Output. */

#if defined(__GNUC__) || defined(__clang__)
__attribute__((format(printf, 3, 4)))
#endif
static void reasonf(char *buf, size_t cap, const char *fmt, ...);

/* A reason; cut to fit (paths can be long, the line is bounded). */
static void reasonf(char *buf, size_t cap, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	if (vsnprintf(buf, cap, fmt, ap) < 0) {
		buf[0] = '\0';
	}
	va_end(ap);
}

/* Print "<word> <reason>" as the one line of standard output, with any
 * control character of the reason replaced, and return ex. */
static int report(const char *word, const char *reason, int ex)
{
	/* Room for a library reason and for the OK line's two fields. */
	char line[FT_CLIENT_ERR_MAX + 3 * FT_EVENT_FIELD_MAX];
	size_t i;

	for (i = 0; reason[i] != '\0' && i + 1 < sizeof line; i++) {
		unsigned char ch = (unsigned char)reason[i];

		line[i] = (ch < 0x20 || ch == 0x7f) ? '?' : (char)ch;
	}
	line[i] = '\0';
	if (printf("%s %s\n", word, line) < 0 || fflush(stdout) != 0) {
		fprintf(stderr, "ftverify: cannot write to standard output\n");
		/* Whoever reads our line did not get it: never exit 0. */
		return ex == EX_OK ? EX_INTERNAL : ex;
	}
	return ex;
}

/* Report a library failure of step: the library's reason, or
 * "<rule>: <strerror>" when it left none. */
static int report_rc(const char *word, unsigned step, int rc, const char *err)
{
	const struct exit_row *row = exit_lookup(step, rc);
	char buf[FT_CLIENT_ERR_MAX + 64];

	if (err != NULL && err[0] != '\0') {
		return report(word, err, row->exit);
	}
	(void)snprintf(buf, sizeof buf, "%s: %s", row->rule, ft_strerror(rc));
	return report(word, buf, row->exit);
}

#if defined(__GNUC__) || defined(__clang__)
__attribute__((format(printf, 1, 2)))
#endif
static void usage_error(const char *fmt, ...);

static void usage_error(const char *fmt, ...)
{
	va_list ap;

	fputs("ftverify: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputs("\nRun \"ftverify --help\" for usage.\n", stderr);
}

/* ---- Options. */

struct opts {
	const char *policy;
	const char *state;
	const char *image;
	const char *bundle;
	const char *log;
	const char *timeout;
	const char *now;
	int first_boot;
	int commit;
	int help;
	int version;
	char **exec_argv; /* NULL-terminated (main's argv), or NULL */
};

enum { OPT_FLAG, OPT_VALUE };

static const struct opt_def {
	const char *name;
	int kind;
	size_t off; /* offsetof the const char * or int field */
} opt_defs[] = {
	{ "policy", OPT_VALUE, offsetof(struct opts, policy) },
	{ "state", OPT_VALUE, offsetof(struct opts, state) },
	{ "image", OPT_VALUE, offsetof(struct opts, image) },
	{ "bundle", OPT_VALUE, offsetof(struct opts, bundle) },
	{ "log", OPT_VALUE, offsetof(struct opts, log) },
	{ "timeout", OPT_VALUE, offsetof(struct opts, timeout) },
	{ "now", OPT_VALUE, offsetof(struct opts, now) },
	{ "first-boot", OPT_FLAG, offsetof(struct opts, first_boot) },
	{ "commit", OPT_FLAG, offsetof(struct opts, commit) },
	{ "help", OPT_FLAG, offsetof(struct opts, help) },
	{ "version", OPT_FLAG, offsetof(struct opts, version) },
};

/*
 * Strict parsing: only the exact long names above (and -h), each at most
 * once, values as the next argument or after '='; no positional
 * arguments; "--exec" ends the options and the rest is the installer's
 * argv. Returns 0 or -1 (usage error already printed).
 */
static int parse_args(int argc, char **argv, struct opts *o)
{
	int i;

	memset(o, 0, sizeof *o);
	for (i = 1; i < argc; i++) {
		const char *a = argv[i];
		const char *eq, *name;
		size_t nlen, k;
		const struct opt_def *d = NULL;

		if (strcmp(a, "-h") == 0) {
			a = "--help";
		}
		if (strcmp(a, "--exec") == 0) {
			if (i + 1 >= argc || argv[i + 1][0] == '\0') {
				usage_error("%s needs a command", "--exec");
				return -1;
			}
			o->exec_argv = &argv[i + 1];
			return 0;
		}
		if (strncmp(a, "--", 2) != 0 || a[2] == '\0') {
			usage_error("unexpected argument \"%s\"", a);
			return -1;
		}
		name = a + 2;
		eq = strchr(name, '=');
		nlen = eq != NULL ? (size_t)(eq - name) : strlen(name);
		for (k = 0; k < sizeof opt_defs / sizeof opt_defs[0]; k++) {
			if (strlen(opt_defs[k].name) == nlen &&
			    memcmp(opt_defs[k].name, name, nlen) == 0) {
				d = &opt_defs[k];
				break;
			}
		}
		if (d == NULL) {
			usage_error("unknown option \"%s\"", a);
			return -1;
		}
		if (d->kind == OPT_FLAG) {
			int *f = (int *)(void *)((char *)o + d->off);

			if (eq != NULL) {
				usage_error("%s takes no value", a);
				return -1;
			}
			if (*f) {
				usage_error("%s given twice", a);
				return -1;
			}
			*f = 1;
		} else {
			const char **v =
				(const char **)(void *)((char *)o + d->off);
			const char *val;

			if (eq != NULL) {
				val = eq + 1;
			} else if (i + 1 < argc) {
				val = argv[++i];
			} else {
				usage_error("%s needs a value", a);
				return -1;
			}
			if (*v != NULL) {
				usage_error("option --%s given twice", d->name);
				return -1;
			}
			if (val[0] == '\0') {
				usage_error("option --%s has an empty value",
					    d->name);
				return -1;
			}
			*v = val;
		}
	}
	return 0;
}

/* A canonical decimal in [min, max] (ASCII digits, no sign, no leading
 * zero); -1 otherwise. */
static int parse_dec(const char *s, uint64_t min, uint64_t max,
		     uint64_t *out)
{
	if (ft_parse_u63(s, strlen(s), out) != 0 || *out < min ||
	    *out > max) {
		return -1;
	}
	return 0;
}

static int check_opts(const struct opts *o, int *timeout_ms, uint64_t *now)
{
	uint64_t v;

	if (o->policy == NULL) {
		usage_error("%s is required", "--policy");
		return -1;
	}
	if (o->state == NULL) {
		usage_error("%s is required", "--state");
		return -1;
	}
	if (o->image == NULL) {
		usage_error("%s is required", "--image");
		return -1;
	}
	if (strlen(o->state) > FT_CLIENT_PATH_MAX) {
		usage_error("%s: path too long", "--state");
		return -1;
	}
	if (o->bundle != NULL && o->log != NULL) {
		usage_error("%s: give one of them", "--bundle and --log");
		return -1;
	}
	if (o->log != NULL && strncmp(o->log, "http://", 7) != 0 &&
	    strncmp(o->log, "HTTP://", 7) != 0) {
		usage_error("--log \"%s\": expected http://host[:port][/path]",
			    o->log);
		return -1;
	}
	if (o->timeout != NULL) {
		if (o->log == NULL) {
			usage_error("%s needs --log", "--timeout");
			return -1;
		}
		if (parse_dec(o->timeout, 1, 86400000, &v) != 0) {
			usage_error("--timeout \"%s\": expected 1..86400000 "
				    "milliseconds",
				    o->timeout);
			return -1;
		}
		*timeout_ms = (int)v;
	} else {
		*timeout_ms = 30000;
	}
	if (o->now != NULL) {
		if (parse_dec(o->now, 0, INT64_MAX, &v) != 0) {
			usage_error("--now \"%s\": expected Unix seconds",
				    o->now);
			return -1;
		}
		*now = v;
	} else {
		time_t t = time(NULL);

		if (t == (time_t)-1 || t < 0) {
			usage_error("%s", "cannot read the clock; give --now");
			return -1;
		}
		*now = (uint64_t)t;
	}
	return 0;
}

/* ---- Steps. */

static ft_client g_client;
static uint8_t g_bundle[FT_CLIENT_BUNDLE_MAX + 1];
static ft_hash g_cons[FT_PROOF_MAX_CONSISTENCY];
static char g_bundle_path[FT_CLIENT_PATH_MAX + 16];

/* Make sure descriptors 0, 1 and 2 are open, so that no file we open
 * becomes "standard output" by accident. */
static int sane_stdio(void)
{
	int fd;

	for (fd = 0; fd <= 2; fd++) {
		if (fcntl(fd, F_GETFD) == -1 && errno == EBADF) {
			int n = open("/dev/null", O_RDWR);

			if (n != fd) {
				return -1;
			}
		}
	}
	return 0;
}

static int starts_with_rule(const char *err, const char *p)
{
	size_t n = strlen(p);

	return n > 0 && strncmp(err, p, n) == 0 &&
	       (err[n] == ':' || err[n] == ' ');
}

/*
 * Which file ft_client_init failed on. FT_EDEVICE_POLICY is the policy,
 * FT_ESTATE_CORRUPT and FT_ENOTFOUND the state. For the codes both can
 * return (FT_EIO, FT_ETOOBIG, FT_EINVAL) the reason names it: it starts
 * with "policy" or the policy path, or with "state" or the state path.
 * Failing that, the policy is loaded first: if the policy file is not a
 * regular file we can open, it is the culprit, else the state. "init:"
 * (bad arguments, no crypto library) is an internal error (step 0).
 */
static unsigned init_step(int rc, const char *err, const struct opts *o)
{
	struct stat st;
	int fd;

	if (rc == FT_EDEVICE_POLICY) {
		return ST_POLICY;
	}
	if (rc == FT_ESTATE_CORRUPT || rc == FT_ENOTFOUND) {
		return ST_STATE;
	}
	if (starts_with_rule(err, "init")) {
		return 0; /* bad arguments or no crypto: internal */
	}
	if (starts_with_rule(err, "policy")) {
		return ST_POLICY;
	}
	if (starts_with_rule(err, "state")) {
		return ST_STATE;
	}
	if (starts_with_rule(err, o->policy)) {
		return ST_POLICY;
	}
	if (starts_with_rule(err, o->state)) {
		return ST_STATE;
	}
	fd = open(o->policy, O_RDONLY | O_CLOEXEC | O_NONBLOCK | O_NOCTTY);
	if (fd < 0) {
		return ST_POLICY;
	}
	if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode) ||
	    st.st_size > FT_DPOLICY_FILE_MAX) {
		(void)close(fd);
		return ST_POLICY;
	}
	(void)close(fd);
	return ST_STATE;
}

/* Open the image once (kept for the installer) and hash it. Returns the
 * descriptor or -1 with *ex set and the REFUSED line printed. */
static int open_image(const char *path, uint8_t digest[32], int *ex)
{
	char err[FT_CLIENT_ERR_MAX];
	char reason[FT_CLIENT_ERR_MAX + 64];
	struct stat st;
	int fd, fl, rc;

	fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK | O_NOCTTY);
	if (fd < 0) {
		reasonf(reason, sizeof reason, "image: cannot open %s: %s",
			       path, strerror(errno));
		*ex = report("REFUSED", reason, EX_IO);
		return -1;
	}
	if (fstat(fd, &st) != 0) {
		reasonf(reason, sizeof reason, "image: fstat %s: %s",
			       path, strerror(errno));
		goto fail;
	}
	if (!S_ISREG(st.st_mode)) {
		reasonf(reason, sizeof reason,
			       "image: %s is not a regular file", path);
		goto fail;
	}
	/* O_NONBLOCK only kept a FIFO from blocking the open. */
	fl = fcntl(fd, F_GETFL);
	if (fl == -1 || fcntl(fd, F_SETFL, fl & ~O_NONBLOCK) == -1) {
		reasonf(reason, sizeof reason, "image: fcntl %s: %s",
			       path, strerror(errno));
		goto fail;
	}
	err[0] = '\0';
	rc = ft_client_hash_fd(&g_client, fd, digest, NULL, err, sizeof err);
	if (rc != 0) {
		(void)close(fd);
		*ex = report_rc("REFUSED", ST_IMAGE, rc, err);
		return -1;
	}
	return fd;
fail:
	(void)close(fd);
	*ex = report("REFUSED", reason, EX_IO);
	return -1;
}

/* Read the bundle file whole into g_bundle. 0, or the exit code with the
 * REFUSED line printed. */
static int read_bundle(const char *path, size_t *len)
{
	char reason[FT_CLIENT_ERR_MAX + 64];
	struct stat st;
	size_t n = 0;
	int fd, ex = EX_IO;

	fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK | O_NOCTTY);
	if (fd < 0) {
		reasonf(reason, sizeof reason,
			       "bundle: cannot open %s: %s", path,
			       strerror(errno));
		return report("REFUSED", reason, EX_IO);
	}
	if (fstat(fd, &st) != 0) {
		reasonf(reason, sizeof reason, "bundle: fstat %s: %s",
			       path, strerror(errno));
		goto fail;
	}
	if (!S_ISREG(st.st_mode)) {
		reasonf(reason, sizeof reason,
			       "bundle: %s is not a regular file", path);
		goto fail;
	}
	if (st.st_size < 0 || (uintmax_t)st.st_size > FT_CLIENT_BUNDLE_MAX) {
		goto toobig;
	}
	/* Read one byte past the cap, to see a file that grew. */
	while (n < sizeof g_bundle) {
		ssize_t r = read(fd, g_bundle + n, sizeof g_bundle - n);

		if (r < 0 && errno == EINTR) {
			continue;
		}
		if (r < 0) {
			reasonf(reason, sizeof reason,
				       "bundle: read %s: %s", path,
				       strerror(errno));
			goto fail;
		}
		if (r == 0) {
			break;
		}
		n += (size_t)r;
	}
	if (n > FT_CLIENT_BUNDLE_MAX) {
		goto toobig;
	}
	(void)close(fd);
	*len = n;
	return 0;
toobig:
	reasonf(reason, sizeof reason,
		       "bundle: %s is larger than %d bytes: too large", path,
		       (int)FT_CLIENT_BUNDLE_MAX);
	ex = EX_BUNDLE;
fail:
	(void)close(fd);
	return report("REFUSED", reason, ex);
}

/* ---- The installer. */

/* What a child that could not exec tells its parent through the pipe. */
struct child_err {
	int stage; /* 0 stdin, 1 stdout, 2 environment, 3 exec */
	int err;   /* errno */
};

static void hex32(const uint8_t d[32], char out[65])
{
	static const char digits[] = "0123456789abcdef";
	int i;

	for (i = 0; i < 32; i++) {
		out[2 * i] = digits[d[i] >> 4];
		out[2 * i + 1] = digits[d[i] & 15];
	}
	out[64] = '\0';
}

static void child_fail(int pfd, int stage)
{
	struct child_err ce;

	ce.stage = stage;
	ce.err = errno;
	/* Nothing to do if this fails: the parent sees exit status 127. */
	if (write(pfd, &ce, sizeof ce) < 0) {
		_exit(127);
	}
	_exit(127);
}

/* In the child: stdin = the image at offset 0, stdout = our stderr, the
 * FTLOG_* environment, execvp. Never returns. */
static void run_child(int fd, int pfd, char **argv, const char *image,
		      const ft_client_result *res, const char *hex)
{
	char sv[24], idx[24];

	if (lseek(fd, 0, SEEK_SET) != 0) {
		child_fail(pfd, 0);
	}
	if (fd != STDIN_FILENO) {
		if (dup2(fd, STDIN_FILENO) < 0) {
			child_fail(pfd, 0);
		}
		(void)close(fd);
	} else if (fcntl(fd, F_SETFD, 0) == -1) {
		child_fail(pfd, 0);
	}
	if (dup2(STDERR_FILENO, STDOUT_FILENO) < 0) {
		child_fail(pfd, 1);
	}
	(void)snprintf(sv, sizeof sv, "%" PRIu64, res->security_version);
	(void)snprintf(idx, sizeof idx, "%" PRIu64, res->index);
	if (setenv("FTLOG_IMAGE", image, 1) != 0 ||
	    setenv("FTLOG_PRODUCT", res->product, 1) != 0 ||
	    setenv("FTLOG_VERSION", res->version, 1) != 0 ||
	    setenv("FTLOG_SECURITY_VERSION", sv, 1) != 0 ||
	    setenv("FTLOG_INDEX", idx, 1) != 0 ||
	    setenv("FTLOG_IMAGE_SHA256", hex, 1) != 0) {
		child_fail(pfd, 2);
	}
	execvp(argv[0], argv);
	child_fail(pfd, 3);
}

/* Run the installer and wait for it. 0 if it exited with status 0, else
 * the FAILED line is printed and EX_INSTALLER returned. */
static int run_installer(int fd, char **argv, const char *image,
			 const ft_client_result *res, const uint8_t digest[32])
{
	static const char *const what[] = { "set up standard input for",
					    "set up standard output for",
					    "set the environment of",
					    "run" };
	char reason[FT_CLIENT_ERR_MAX + 64];
	char hex[65];
	struct child_err ce;
	size_t got = 0;
	int pfd[2], status;
	pid_t pid;

	hex32(digest, hex);
	if (pipe(pfd) != 0) {
		reasonf(reason, sizeof reason,
			       "installer: pipe: %s, state not updated",
			       strerror(errno));
		return report("FAILED", reason, EX_INSTALLER);
	}
	if (fcntl(pfd[0], F_SETFD, FD_CLOEXEC) == -1 ||
	    fcntl(pfd[1], F_SETFD, FD_CLOEXEC) == -1) {
		reasonf(reason, sizeof reason,
			       "installer: fcntl: %s, state not updated",
			       strerror(errno));
		(void)close(pfd[0]);
		(void)close(pfd[1]);
		return report("FAILED", reason, EX_INSTALLER);
	}
	(void)fflush(stdout);
	(void)fflush(stderr);
	/* While the installer runs, terminal signals go to it (the same
	 * process group) and not to us: whatever it does, we must live to
	 * record its outcome. The child restores them before exec. */
	struct sigaction ign, old[4];
	static const int term_sigs[4] = { SIGINT, SIGTERM, SIGHUP, SIGQUIT };
	memset(&ign, 0, sizeof ign);
	ign.sa_handler = SIG_IGN;
	sigemptyset(&ign.sa_mask);
	for (int i = 0; i < 4; i++) {
		(void)sigaction(term_sigs[i], &ign, &old[i]);
	}
	pid = fork();
	if (pid == 0) {
		for (int i = 0; i < 4; i++) {
			(void)sigaction(term_sigs[i], &old[i], NULL);
		}
	}
	if (pid < 0) {
		int saved = errno;

		for (int i = 0; i < 4; i++) {
			(void)sigaction(term_sigs[i], &old[i], NULL);
		}
		errno = saved;
	}
	if (pid < 0) {
		reasonf(reason, sizeof reason,
			       "installer: fork: %s, state not updated",
			       strerror(errno));
		(void)close(pfd[0]);
		(void)close(pfd[1]);
		return report("FAILED", reason, EX_INSTALLER);
	}
	if (pid == 0) {
		(void)close(pfd[0]);
		run_child(fd, pfd[1], argv, image, res, hex);
	}
	(void)close(pfd[1]);
	/* EOF: the exec succeeded (the pipe is close-on-exec). */
	while (got < sizeof ce) {
		ssize_t r = read(pfd[0], (char *)&ce + got, sizeof ce - got);

		if (r < 0 && errno == EINTR) {
			continue;
		}
		if (r <= 0) {
			break;
		}
		got += (size_t)r;
	}
	(void)close(pfd[0]);
	int wrc;
	do {
		wrc = waitpid(pid, &status, 0);
	} while (wrc < 0 && errno == EINTR);
	int werr = errno;
	for (int i = 0; i < 4; i++) {
		(void)sigaction(term_sigs[i], &old[i], NULL);
	}
	errno = werr;
	if (wrc < 0) {
		reasonf(reason, sizeof reason,
			"installer: waitpid: %s, state not updated",
			strerror(errno));
		return report("FAILED", reason, EX_INSTALLER);
	}
	if (got == sizeof ce && ce.stage >= 0 && ce.stage <= 3) {
		reasonf(reason, sizeof reason,
			       "installer: cannot %s %s: %s", what[ce.stage],
			       argv[0], strerror(ce.err));
		return report("FAILED", reason, EX_INSTALLER);
	}
	if (WIFEXITED(status) && WEXITSTATUS(status) == 0) {
		return 0;
	}
	if (WIFEXITED(status)) {
		reasonf(reason, sizeof reason,
			       "installer: exited with status %d, state not "
			       "updated",
			       WEXITSTATUS(status));
	} else if (WIFSIGNALED(status)) {
		reasonf(reason, sizeof reason,
			       "installer: killed by signal %d, state not "
			       "updated",
			       WTERMSIG(status));
	} else {
		reasonf(reason, sizeof reason,
			       "installer: stopped (status 0x%x), state not "
			       "updated",
			       (unsigned)status);
	}
	return report("FAILED", reason, EX_INSTALLER);
}

/* ---- main. */

static int run(const struct opts *o, int timeout_ms, uint64_t now)
{
	char err[FT_CLIENT_ERR_MAX];
	char ok[3 * FT_EVENT_FIELD_MAX + 64];
	uint8_t digest[32];
	ft_client_result res;
	size_t blen = 0, cons_n = 0;
	int rc, fd, ex;

	err[0] = '\0';
	rc = ft_client_init(&g_client, o->policy, o->state,
			    o->first_boot ? FT_CLIENT_FIRST_BOOT : 0u, err,
			    sizeof err);
	if (rc != 0) {
		return report_rc("REFUSED", init_step(rc, err, o), rc, err);
	}
	if (ft_client_policy(&g_client)->warn_no_quorum) {
		fprintf(stderr, "ftverify: warning: the policy requires no "
				"witness cosignatures (quorum 0): for labs "
				"only\n");
	}

	fd = open_image(o->image, digest, &ex);
	if (fd < 0) {
		return ex;
	}

	if (o->log != NULL) {
		err[0] = '\0';
		rc = ft_client_fetch(&g_client, o->log, digest, timeout_ms,
				     g_bundle, FT_CLIENT_BUNDLE_MAX, &blen,
				     g_cons, &cons_n, err, sizeof err);
		if (rc == FT_EINVAL) {
			/* A URL the client cannot use: a usage error. */
			(void)close(fd);
			usage_error("--log: %s", err[0] != '\0' ?
					err : ft_strerror(rc));
			return EX_USAGE;
		}
		if (rc != 0) {
			(void)close(fd);
			return report_rc("REFUSED", ST_FETCH, rc, err);
		}
	} else {
		const char *bp = o->bundle;

		if (bp == NULL) {
			int n = snprintf(g_bundle_path, sizeof g_bundle_path,
					 "%s.tlog-proof", o->image);

			if (n < 0 || (size_t)n >= sizeof g_bundle_path) {
				(void)close(fd);
				return report("REFUSED",
					      "bundle: image path too long "
					      "for IMAGE.tlog-proof",
					      EX_IO);
			}
			bp = g_bundle_path;
		}
		ex = read_bundle(bp, &blen);
		if (ex != 0) {
			(void)close(fd);
			return ex;
		}
	}

	err[0] = '\0';
	rc = ft_client_verify(&g_client, digest, g_bundle, blen,
			      cons_n > 0 ? g_cons : NULL, cons_n, now, &res,
			      err, sizeof err);
	if (rc != 0) {
		(void)close(fd);
		return report_rc("REFUSED", ST_VERIFY, rc, err);
	}

	if (o->exec_argv != NULL) {
		ex = run_installer(fd, o->exec_argv, o->image, &res, digest);
		if (ex != 0) {
			(void)close(fd);
			return ex;
		}
	}
	(void)close(fd);

	if (o->exec_argv != NULL || o->commit) {
		err[0] = '\0';
		rc = ft_client_commit(&g_client, err, sizeof err);
		if (rc != 0) {
			return report_rc("FAILED", ST_COMMIT, rc, err);
		}
	}
	(void)snprintf(ok, sizeof ok, "%s %s index=%" PRIu64, res.product,
		       res.version, res.index);
	return report("OK", ok, EX_OK);
}

int main(int argc, char **argv)
{
	struct opts o;
	uint64_t now = 0;
	int timeout_ms = 0;

	if (sane_stdio() != 0) {
		return EX_INTERNAL;
	}
	/* An update agent may have left SIGCHLD ignored: then waitpid could
	 * not report the installer's status. */
	(void)signal(SIGCHLD, SIG_DFL);
	if (parse_args(argc, argv, &o) != 0) {
		return EX_USAGE;
	}
	if (o.help) {
		fputs(help_text, stdout);
		return fflush(stdout) == 0 ? EX_OK : EX_INTERNAL;
	}
	if (o.version) {
		printf("ftverify %s\n", PACKAGE_VERSION);
		return fflush(stdout) == 0 ? EX_OK : EX_INTERNAL;
	}
	if (check_opts(&o, &timeout_ms, &now) != 0) {
		return EX_USAGE;
	}
	if (ft_init() != 0) {
		return report("REFUSED", "internal: cannot initialise the "
					 "crypto library",
			      EX_INTERNAL);
	}
	return run(&o, timeout_ms, now);
}
