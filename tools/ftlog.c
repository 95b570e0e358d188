/*
 * tools/ftlog.c - ftlog, the command-line tool of build systems, signing
 * services and distributors: keygen, attest (build and sign a firmware
 * event), submit (log it and check the log's answer), get (checkpoints,
 * proofs, bundles, lineage; always verified). One verb per invocation.
 * This file: main, help, shared helpers, keygen and attest;
 * ftlog_net.c: submit and get. docs/cli.md is the manual.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <jansson.h>
#include <nettle/sha2.h>
#include <sodium.h>

#include <ftlog/event.h>
#include <ftlog/note.h>

#include "tools/ftlog.h"

#ifndef PACKAGE_VERSION
#define PACKAGE_VERSION "0.1.0"
#endif

/* ---- Help. */

#define EXIT_STATUS_TEXT                                                  \
	"EXIT STATUS\n"                                                   \
	"    0  success\n"                                                \
	"    1  refused by the log, verification failed, or not found\n" \
	"    2  usage error\n"                                            \
	"    3  file, network or server error\n"

static const char help_main[] =
	"NAME\n"
	"    ftlog - log and check firmware events in an ftlog transparency "
	"log\n"
	"\n"
	"SYNOPSIS\n"
	"    ftlog keygen [--dir DIR] NAME\n"
	"    ftlog attest KIND --key FILE... (--image FILE | --digest HEX)... "
	"[OPTIONS]\n"
	"    ftlog submit --log URL --log-key KEY [--image FILE] [--out FILE] "
	"ENVELOPE\n"
	"    ftlog get checkpoint|proof|bundle|lineage --log URL --log-key "
	"KEY ...\n"
	"    ftlog audit --log URL --log-key KEY --state DIR [OPTIONS]\n"
	"    ftlog monitor --log URL --log-key KEY --state DIR [OPTIONS]\n"
	"    ftlog witness init|serve --dir DIR ...\n"
	"    ftlog help [keygen|attest|submit|get|audit|monitor|witness]\n"
	"    ftlog --version\n"
	"\n"
	"DESCRIPTION\n"
	"    ftlog makes firmware events (build, release, distribution,\n"
	"    revocation) and logs them in ftlogd. An event is a DSSE envelope\n"
	"    around an in-toto Statement v1, signed with Ed25519 note keys.\n"
	"\n"
	"    keygen  creates a signing key pair (NAME.key, NAME.pub)\n"
	"    attest  hashes an image and writes a signed event envelope\n"
	"    submit  sends an envelope to the log and keeps its tlog-proof,\n"
	"            after checking the log's signature and inclusion proof\n"
	"    get     fetches and verifies the log's checkpoint, an inclusion\n"
	"            proof, the release bundle of an image, or the verified\n"
	"            history (lineage) of an image\n"
	"    audit   follows a log from its tiles alone (ftlogd, nginx or a\n"
	"            CDN): checkpoint signatures, consistency with what it saw\n"
	"            before, every entry re-hashed and re-checked, the root\n"
	"            recomputed; reports findings, alarms on a split view\n"
	"    monitor the same, continuously, as JSON-line alerts for watched\n"
	"            keys, products and digests\n"
	"    witness a C2SP tlog-witness server: cosigns a log's checkpoints\n"
	"            after checking their consistency with the last one\n"
	"\n"
	"    Nothing fetched from the log is printed or written before it has\n"
	"    been verified against the log's key (--log-key). URLs are\n"
	"    http://host[:port][/path]; use a local TLS proxy for https.\n"
	"\n"
	"    Run \"ftlog help COMMAND\" for the options of a command.\n"
	"\n" EXIT_STATUS_TEXT
	"\n"
	"EXAMPLES\n"
	"    ftlog keygen --dir keys vendor-release-1\n"
	"    ftlog attest release --key keys/vendor-release-1.key \\\n"
	"        --image gnb-24.1.bin --product gnb-du --vendor acme \\\n"
	"        --version 24.1 --security-version 7 --hw du-x1\n"
	"    ftlog submit --log http://127.0.0.1:8080 --log-key log.pub \\\n"
	"        --image gnb-24.1.bin gnb-24.1.bin.release.dsse\n";

static const char help_keygen[] =
	"NAME\n"
	"    ftlog keygen - create an Ed25519 signing key pair\n"
	"\n"
	"SYNOPSIS\n"
	"    ftlog keygen [--dir DIR] NAME\n"
	"\n"
	"DESCRIPTION\n"
	"    Creates DIR/NAME.key, the signer key (Go/C2SP note format\n"
	"    \"PRIVATE+KEY+NAME+...\", mode 0600), and DIR/NAME.pub, the\n"
	"    verifier key (\"NAME+<key id>+...\", mode 0644), and prints the\n"
	"    verifier key. Refuses to overwrite either file. NAME is the key\n"
	"    name (no spaces, '+' or control characters); in the file names,\n"
	"    characters other than letters, digits, '.', '_' and '-' become\n"
	"    '_'. Events signed with the key name it in their DSSE keyid,\n"
	"    \"NAME+<key id>\"; give the .pub line to the log operator (the\n"
	"    submission policy) and to devices (their trust policy).\n"
	"\n"
	"OPTIONS\n"
	"    --dir DIR   where to write the files (default: the current\n"
	"                directory; it must exist)\n"
	"\n" EXIT_STATUS_TEXT
	"\n"
	"EXAMPLES\n"
	"    ftlog keygen --dir /etc/ftlog/keys acme-release-1\n";

static const char help_attest[] =
	"NAME\n"
	"    ftlog attest - build and sign a firmware event\n"
	"\n"
	"SYNOPSIS\n"
	"    ftlog attest build --key FILE... SUBJECTS (--predicate FILE |\n"
	"        --builder-id ID --build-type URI [--param K=V]...)\n"
	"    ftlog attest release --key FILE... SUBJECTS --product P\n"
	"        --vendor V --version X --security-version N --hw MODEL...\n"
	"        [--sbom FILE | --sbom-sha256 HEX] [--build-index N]\n"
	"        [--evidence-type scas|nesas (--evidence FILE |\n"
	"        --evidence-sha256 HEX)]\n"
	"    ftlog attest distribution --key FILE... SUBJECTS --product P\n"
	"        --channel C [--version X] [--region R]... [--slice S]...\n"
	"        [--uri U]\n"
	"    ftlog attest revocation --key FILE... --target image SUBJECTS\n"
	"        --product P --reason TEXT\n"
	"    ftlog attest revocation --key FILE... --target key\n"
	"        --revoke-key KEY [--product P] --reason TEXT\n"
	"    ftlog attest KIND --key FILE... SUBJECTS --predicate FILE\n"
	"\n"
	"    SUBJECTS is (--image FILE | --digest HEX)... [--name NAME]\n"
	"    and every form takes [--out FILE].\n"
	"\n"
	"DESCRIPTION\n"
	"    Hashes each image (SHA-256, streamed), builds an in-toto\n"
	"    Statement v1 with the predicate of KIND (docs/events.md), checks\n"
	"    it with the same rules the log applies, signs it with every\n"
	"    --key (DSSE, Ed25519 over PAE) and writes the envelope. A\n"
	"    release usually needs several vendor keys (the log's threshold).\n"
	"    Give the predicate either with the KIND flags or as a JSON file\n"
	"    (--predicate; for build, a SLSA provenance v1 predicate).\n"
	"\n"
	"OPTIONS\n"
	"    --key FILE           signer key from ftlog keygen (mode 0600);\n"
	"                         repeat for more signatures (at most 16)\n"
	"    --image FILE         a subject: the file's SHA-256, named by its\n"
	"                         base name (repeatable)\n"
	"    --digest HEX         a subject given by its SHA-256 (repeatable)\n"
	"    --name NAME          subject name (with exactly one subject)\n"
	"    --predicate FILE     the predicate as a JSON object\n"
	"    --out FILE           where to write the envelope; \"-\" is\n"
	"                         standard output. Default: IMAGE.KIND.dsse\n"
	"                         for the first --image, else HEX.KIND.dsse\n"
	"  build\n"
	"    --builder-id ID      runDetails.builder.id\n"
	"    --build-type URI     buildDefinition.buildType\n"
	"    --param K=V          buildDefinition.externalParameters entry\n"
	"  release\n"
	"    --product P          network-element type, e.g. gnb-du\n"
	"    --vendor V           vendor\n"
	"    --version X          version string\n"
	"    --security-version N anti-rollback counter (0..2^53-1)\n"
	"    --hw MODEL           hardware model (repeatable, at least one)\n"
	"    --sbom FILE, --sbom-sha256 HEX      SBOM digest\n"
	"    --build-index N      log index of the image's build event\n"
	"    --evidence-type T    scas or nesas, with --evidence FILE or\n"
	"                         --evidence-sha256 HEX\n"
	"  distribution\n"
	"    --product P, --channel C, --version X, --uri U\n"
	"    --region R, --slice S   (repeatable) regions, network slices\n"
	"  revocation\n"
	"    --target image|key   what is revoked\n"
	"    --revoke-key KEY     the verifier key revoked (string or .pub\n"
	"                         file); the subject is SHA-256 of its public\n"
	"                         key, so no --image or --digest\n"
	"    --product P          the product (required for an image)\n"
	"    --reason TEXT        why, one line\n"
	"\n" EXIT_STATUS_TEXT
	"\n"
	"EXAMPLES\n"
	"    ftlog attest build --key ci.key --image gnb.bin \\\n"
	"        --builder-id https://ci.acme.example/runner \\\n"
	"        --build-type https://acme.example/gnb-build/v1 \\\n"
	"        --param git_commit=4f2a9c1\n"
	"    ftlog attest release --key rel1.key --key rel2.key \\\n"
	"        --image gnb.bin --product gnb-du --vendor acme \\\n"
	"        --version 24.1.3 --security-version 7 --hw du-x1 --hw du-x2\n"
	"    ftlog attest revocation --key rel1.key --target image \\\n"
	"        --image gnb.bin --product gnb-du --reason \"CVE-2025-0001\"\n";

/* ---- Dying. */

void fatal(int code, const char *fmt, ...)
{
	va_list ap;

	(void)fflush(stdout);
	fputs("ftlog: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	exit(code);
}

void usage_error(const char *cmd, const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "ftlog %s: ", cmd);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fprintf(stderr, "\nRun \"ftlog help %.*s\" for usage.\n",
		(int)strcspn(cmd, " "), cmd);
	exit(EX_USAGE);
}

/* ---- Options. */

static int spec_find(const args *a, const char *name, size_t len)
{
	size_t i;

	for (i = 0; i < a->nspec; i++) {
		if (strlen(a->spec[i].name) == len &&
		    memcmp(a->spec[i].name, name, len) == 0) {
			return (int)i;
		}
	}
	return -1;
}

void args_parse(args *a, const char *cmd, const optspec *spec, int argc,
		char **argv, const char *help)
{
	int i, only_pos = 0;

	memset(a, 0, sizeof(*a));
	a->cmd = cmd;
	a->spec = spec;
	while (spec[a->nspec].name != NULL) {
		a->nspec++;
	}
	if (a->nspec > ARGS_MAX_OPTS) {
		fatal(EX_USAGE, "internal: too many options");
	}
	for (i = 0; i < argc; i++) {
		const char *s = argv[i];
		const char *name, *eq, *val = NULL;
		size_t nlen;
		int k;

		if (!only_pos && (strcmp(s, "--help") == 0 ||
				  strcmp(s, "-h") == 0)) {
			fputs(help, stdout);
			exit(EX_OK);
		}
		if (!only_pos && strcmp(s, "--") == 0) {
			only_pos = 1;
			continue;
		}
		if (only_pos || s[0] != '-' || strcmp(s, "-") == 0) {
			if (a->npos >= ARGS_MAX_POS) {
				usage_error(cmd, "too many arguments");
			}
			a->pos[a->npos++] = s;
			continue;
		}
		if (strncmp(s, "--", 2) != 0) {
			usage_error(cmd, "unknown option \"%s\"", s);
		}
		name = s + 2;
		eq = strchr(name, '=');
		nlen = eq != NULL ? (size_t)(eq - name) : strlen(name);
		k = spec_find(a, name, nlen);
		if (k < 0) {
			usage_error(cmd, "unknown option \"--%.*s\"", (int)nlen,
				    name);
		}
		if (spec[k].flags & OPT_ARG) {
			if (eq != NULL) {
				val = eq + 1;
			} else if (i + 1 < argc) {
				val = argv[++i];
			} else {
				usage_error(cmd, "option --%s needs a value",
					    spec[k].name);
			}
		} else {
			if (eq != NULL) {
				usage_error(cmd, "option --%s takes no value",
					    spec[k].name);
			}
			val = "1";
		}
		if (a->nval[k] > 0 && !(spec[k].flags & OPT_MULTI)) {
			usage_error(cmd, "option --%s given twice",
				    spec[k].name);
		}
		if (a->nval[k] >= ARGS_MAX_VALS) {
			usage_error(cmd, "option --%s given too often",
				    spec[k].name);
		}
		a->val[k][a->nval[k]++] = val;
	}
}

const char *arg_get(const args *a, const char *name)
{
	int k = spec_find(a, name, strlen(name));

	if (k < 0 || a->nval[k] == 0) {
		return NULL;
	}
	return a->val[k][0];
}

size_t arg_all(const args *a, const char *name, const char *const **vals)
{
	int k = spec_find(a, name, strlen(name));

	if (k < 0) {
		*vals = NULL;
		return 0;
	}
	*vals = a->val[k];
	return a->nval[k];
}

const char *arg_need(const args *a, const char *name)
{
	const char *v = arg_get(a, name);

	if (v == NULL) {
		usage_error(a->cmd, "--%s is required", name);
	}
	return v;
}

/* ---- Files and bytes. */

uint8_t *read_file(const char *path, size_t max, size_t *len,
		   const char *what)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	uint8_t *buf;
	size_t have = 0, cap;
	struct stat st;

	if (fd < 0) {
		fatal(EX_IOERR, "cannot open %s %s: %s", what, path,
		      strerror(errno));
	}
	if (fstat(fd, &st) != 0) {
		fatal(EX_IOERR, "cannot stat %s: %s", path, strerror(errno));
	}
	if (S_ISDIR(st.st_mode)) {
		fatal(EX_IOERR, "%s %s is a directory", what, path);
	}
	cap = S_ISREG(st.st_mode) && (uint64_t)st.st_size <= max
		      ? (size_t)st.st_size + 1
		      : 4096;
	buf = malloc(cap + 1);
	if (buf == NULL) {
		fatal(EX_IOERR, "out of memory");
	}
	for (;;) {
		ssize_t r;

		if (have == cap) {
			uint8_t *nb;

			if (cap > max) {
				fatal(EX_FAIL, "%s %s is larger than %zu bytes",
				      what, path, max);
			}
			cap *= 2;
			nb = realloc(buf, cap + 1);
			if (nb == NULL) {
				fatal(EX_IOERR, "out of memory");
			}
			buf = nb;
		}
		r = read(fd, buf + have, cap - have);
		if (r < 0 && errno == EINTR) {
			continue;
		}
		if (r < 0) {
			fatal(EX_IOERR, "cannot read %s: %s", path,
			      strerror(errno));
		}
		if (r == 0) {
			break;
		}
		have += (size_t)r;
	}
	(void)close(fd);
	if (have > max) {
		fatal(EX_FAIL, "%s %s is larger than %zu bytes", what, path,
		      max);
	}
	buf[have] = '\0';
	*len = have;
	return buf;
}

int write_all(int fd, const void *data, size_t len)
{
	const uint8_t *p = data;

	while (len > 0) {
		ssize_t w = write(fd, p, len);

		if (w < 0 && errno == EINTR) {
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

void write_file_atomic(const char *path, const void *data, size_t len,
		       unsigned mode)
{
	size_t n = strlen(path) + 32;
	char *tmp;
	int fd;

	if (strcmp(path, "-") == 0) {
		if (fwrite(data, 1, len, stdout) != len || fflush(stdout) != 0) {
			fatal(EX_IOERR, "cannot write to standard output");
		}
		return;
	}
	tmp = malloc(n);
	if (tmp == NULL) {
		fatal(EX_IOERR, "out of memory");
	}
	(void)snprintf(tmp, n, "%s.tmp.%ld", path, (long)getpid());
	(void)unlink(tmp);
	fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, mode);
	if (fd < 0) {
		fatal(EX_IOERR, "cannot create %s: %s", tmp, strerror(errno));
	}
	if (write_all(fd, data, len) != 0 || fchmod(fd, mode) != 0 ||
	    fsync(fd) != 0) {
		int e = errno;

		(void)close(fd);
		(void)unlink(tmp);
		fatal(EX_IOERR, "cannot write %s: %s", tmp, strerror(e));
	}
	if (close(fd) != 0 || rename(tmp, path) != 0) {
		int e = errno;

		(void)unlink(tmp);
		fatal(EX_IOERR, "cannot write %s: %s", path, strerror(e));
	}
	free(tmp);
}

void hash_file(const char *path, uint8_t out[32])
{
	enum { CHUNK = 64 * 1024 };
	/* Static: fatal() may end the program halfway, with nothing to
	 * free (one thread; the image streams through 64 KiB at a time). */
	static uint8_t buf[CHUNK];
	struct sha256_ctx ctx;
	int fd;

	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		fatal(EX_IOERR, "cannot open image %s: %s", path,
		      strerror(errno));
	}
	sha256_init(&ctx);
	for (;;) {
		ssize_t r = read(fd, buf, CHUNK);

		if (r < 0 && errno == EINTR) {
			continue;
		}
		if (r < 0) {
			fatal(EX_IOERR, "cannot read image %s: %s", path,
			      strerror(errno));
		}
		if (r == 0) {
			break;
		}
		sha256_update(&ctx, (size_t)r, buf);
	}
	(void)close(fd);
	sha256_digest(&ctx, SHA256_DIGEST_SIZE, out);
}

void hex_encode(const uint8_t *in, size_t n, char *out)
{
	static const char d[] = "0123456789abcdef";
	size_t i;

	for (i = 0; i < n; i++) {
		out[2 * i] = d[in[i] >> 4];
		out[2 * i + 1] = d[in[i] & 15];
	}
	out[2 * n] = '\0';
}

static int hexval(int c)
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

int hex32_decode(const char *s, uint8_t out[32])
{
	size_t i;

	if (strlen(s) != 64) {
		return -1;
	}
	for (i = 0; i < 32; i++) {
		int h = hexval((unsigned char)s[2 * i]);
		int l = hexval((unsigned char)s[2 * i + 1]);

		if (h < 0 || l < 0) {
			return -1;
		}
		out[i] = (uint8_t)(h << 4 | l);
	}
	return 0;
}

void digest_from(const char *cmd, const char *image, const char *hex,
		 uint8_t out[32])
{
	if ((image == NULL) == (hex == NULL)) {
		usage_error(cmd, "give either --image FILE or a SHA-256 (64 "
				 "hex digits)");
	}
	if (image != NULL) {
		hash_file(image, out);
		return;
	}
	if (strncmp(hex, "sha256:", 7) == 0) {
		hex += 7;
	}
	if (hex32_decode(hex, out) != 0) {
		usage_error(cmd, "\"%s\" is not a SHA-256 (64 hex digits)",
			    hex);
	}
}

/* ---- Keys. */

/* Strip trailing white space (a key file's newline) in place. */
static size_t rstrip(char *s, size_t n)
{
	while (n > 0 && (s[n - 1] == '\n' || s[n - 1] == '\r' ||
			 s[n - 1] == ' ' || s[n - 1] == '\t')) {
		s[--n] = '\0';
	}
	return n;
}

void load_vkey(const char *cmd, const char *opt, const char *arg,
	       ft_vkey *out)
{
	char buf[FT_KEY_STR_MAX + 8];
	size_t n;
	int fd, rc;
	ssize_t r;

	/* A key string has two '+'; a file name rarely does. Try the
	 * string first, then the file. */
	if (ft_vkey_parse(arg, strlen(arg), out) == 0) {
		return;
	}
	fd = open(arg, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		usage_error(cmd,
			    "%s: \"%s\" is neither a verifier key nor a "
			    "readable file (%s)",
			    opt, arg, strerror(errno));
	}
	r = read(fd, buf, sizeof(buf) - 1);
	(void)close(fd);
	if (r <= 0 || (size_t)r >= sizeof(buf) - 1) {
		usage_error(cmd, "%s: %s does not hold one verifier key", opt,
			    arg);
	}
	buf[r] = '\0';
	n = rstrip(buf, (size_t)r);
	rc = ft_vkey_parse(buf, n, out);
	if (rc != 0) {
		usage_error(cmd, "%s: %s: %s", opt, arg, ft_strerror(rc));
	}
}

void load_skey(const char *path, uint8_t type, ft_skey *out)
{
	char buf[FT_KEY_STR_MAX + 8];
	struct stat st;
	size_t n;
	ssize_t r;
	int fd, rc;

	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		fatal(EX_IOERR, "cannot open key %s: %s", path,
		      strerror(errno));
	}
	if (fstat(fd, &st) != 0) {
		fatal(EX_IOERR, "cannot stat %s: %s", path, strerror(errno));
	}
	if ((st.st_mode & 0077) != 0) {
		fatal(EX_FAIL,
		      "key %s is readable by others; refusing to use it "
		      "(chmod 600)",
		      path);
	}
	r = read(fd, buf, sizeof(buf) - 1);
	(void)close(fd);
	if (r <= 0 || (size_t)r >= sizeof(buf) - 1) {
		sodium_memzero(buf, sizeof(buf));
		fatal(EX_FAIL, "%s does not hold one signer key", path);
	}
	buf[r] = '\0';
	n = rstrip(buf, (size_t)r);
	rc = ft_skey_parse(buf, n, out);
	sodium_memzero(buf, sizeof(buf));
	if (rc != 0) {
		fatal(EX_FAIL, "key %s: %s", path, ft_strerror(rc));
	}
	if (out->type != type) {
		ft_skey_wipe(out);
		fatal(EX_FAIL, "key %s is not %s", path,
		      type == FT_KEY_COSIG_V1
			      ? "a cosignature key (tlog-cosignature v1, type "
				"0x04)"
			      : "an Ed25519 signing key");
	}
}

/* ---- keygen. */

int create_excl(const char *path, const void *data, size_t len,
		unsigned mode)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, mode);

	if (fd < 0) {
		return -1;
	}
	if (fchmod(fd, mode) != 0 || write_all(fd, data, len) != 0 ||
	    fsync(fd) != 0) {
		int e = errno;

		(void)close(fd);
		(void)unlink(path);
		errno = e;
		return -1;
	}
	return close(fd);
}

static int cmd_keygen(int argc, char **argv)
{
	static const optspec spec[] = {{"dir", OPT_ARG}, {NULL, 0}};
	args a;
	const char *dir, *name;
	char *stem, *kpath, *ppath;
	char skey[FT_KEY_STR_MAX + 2], vkey[FT_KEY_STR_MAX + 2];
	size_t slen, vlen, i, n;
	ft_skey sk;
	ft_vkey vk;
	struct stat st;
	int rc;

	args_parse(&a, "keygen", spec, argc, argv, help_keygen);
	if (a.npos != 1) {
		usage_error("keygen", "give exactly one key NAME");
	}
	name = a.pos[0];
	dir = arg_get(&a, "dir");
	if (dir == NULL) {
		dir = ".";
	}
	if (!ft_key_name_valid(name, strlen(name))) {
		usage_error("keygen",
			    "\"%s\" is not a valid key name (no spaces, '+' "
			    "or control characters)",
			    name);
	}
	stem = strdup(name);
	if (stem == NULL) {
		fatal(EX_IOERR, "out of memory");
	}
	for (i = 0; stem[i] != '\0'; i++) {
		char c = stem[i];

		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
		      (c >= '0' && c <= '9') || c == '.' || c == '_' ||
		      c == '-') ||
		    (i == 0 && c == '.')) {
			stem[i] = '_';
		}
	}
	n = strlen(dir) + strlen(stem) + 8;
	kpath = malloc(n);
	ppath = malloc(n);
	if (kpath == NULL || ppath == NULL) {
		fatal(EX_IOERR, "out of memory");
	}
	(void)snprintf(kpath, n, "%s/%s.key", dir, stem);
	(void)snprintf(ppath, n, "%s/%s.pub", dir, stem);
	if (lstat(kpath, &st) == 0) {
		fatal(EX_FAIL, "%s already exists; refusing to overwrite a key",
		      kpath);
	}
	if (lstat(ppath, &st) == 0) {
		fatal(EX_FAIL, "%s already exists; refusing to overwrite it",
		      ppath);
	}
	rc = ft_init();
	if (rc == 0) {
		rc = ft_key_generate(name, strlen(name), FT_KEY_ED25519, &sk);
	}
	if (rc != 0) {
		fatal(EX_IOERR, "cannot generate a key: %s", ft_strerror(rc));
	}
	ft_skey_public(&sk, &vk);
	rc = ft_skey_format(&sk, skey, sizeof(skey) - 1, &slen);
	ft_skey_wipe(&sk);
	if (rc != 0 || ft_vkey_format(&vk, vkey, sizeof(vkey) - 1, &vlen) != 0) {
		sodium_memzero(skey, sizeof(skey));
		fatal(EX_IOERR, "cannot format the key");
	}
	skey[slen++] = '\n';
	vkey[vlen++] = '\n';
	if (create_excl(kpath, skey, slen, 0600) != 0) {
		int e = errno;

		sodium_memzero(skey, sizeof(skey));
		fatal(e == EEXIST ? EX_FAIL : EX_IOERR, "cannot create %s: %s",
		      kpath, strerror(e));
	}
	sodium_memzero(skey, sizeof(skey));
	if (create_excl(ppath, vkey, vlen, 0644) != 0) {
		int e = errno;

		(void)unlink(kpath);
		fatal(e == EEXIST ? EX_FAIL : EX_IOERR, "cannot create %s: %s",
		      ppath, strerror(e));
	}
	if (fwrite(vkey, 1, vlen, stdout) != vlen || fflush(stdout) != 0) {
		fatal(EX_IOERR, "cannot write to standard output");
	}
	free(stem);
	free(kpath);
	free(ppath);
	return EX_OK;
}

/* ---- attest. */

enum { ATT_MAX_SUBJECTS = FT_EVENT_MAX_SUBJECTS };

static const optspec attest_spec[] = {
	{"key", OPT_ARG | OPT_MULTI},
	{"image", OPT_ARG | OPT_MULTI},
	{"digest", OPT_ARG | OPT_MULTI},
	{"name", OPT_ARG},
	{"predicate", OPT_ARG},
	{"out", OPT_ARG},
	/* build */
	{"builder-id", OPT_ARG},
	{"build-type", OPT_ARG},
	{"param", OPT_ARG | OPT_MULTI},
	/* release */
	{"product", OPT_ARG},
	{"vendor", OPT_ARG},
	{"version", OPT_ARG},
	{"security-version", OPT_ARG},
	{"hw", OPT_ARG | OPT_MULTI},
	{"sbom", OPT_ARG},
	{"sbom-sha256", OPT_ARG},
	{"build-index", OPT_ARG},
	{"evidence-type", OPT_ARG},
	{"evidence", OPT_ARG},
	{"evidence-sha256", OPT_ARG},
	/* distribution */
	{"channel", OPT_ARG},
	{"region", OPT_ARG | OPT_MULTI},
	{"slice", OPT_ARG | OPT_MULTI},
	{"uri", OPT_ARG},
	/* revocation */
	{"target", OPT_ARG},
	{"revoke-key", OPT_ARG},
	{"reason", OPT_ARG},
	{NULL, 0}};

/* The predicate flags each kind may use ("product" and "version" are
 * shared); any other predicate flag is a usage error. */
static const char *const pred_flags[] = {
	"builder-id", "build-type", "param", "product", "vendor", "version",
	"security-version", "hw", "sbom", "sbom-sha256", "build-index",
	"evidence-type", "evidence", "evidence-sha256", "channel", "region",
	"slice", "uri", "target", "revoke-key", "reason", NULL};

static int flag_allowed(int kind, const char *f)
{
	static const char *const build[] = {"builder-id", "build-type",
					    "param", NULL};
	static const char *const release[] = {
		"product", "vendor", "version", "security-version", "hw",
		"sbom", "sbom-sha256", "build-index", "evidence-type",
		"evidence", "evidence-sha256", NULL};
	static const char *const dist[] = {"product", "channel", "version",
					   "region", "slice", "uri", NULL};
	static const char *const revo[] = {"target", "revoke-key", "product",
					   "reason", NULL};
	const char *const *l;

	switch (kind) {
	case FT_EVENT_BUILD:
		l = build;
		break;
	case FT_EVENT_RELEASE:
		l = release;
		break;
	case FT_EVENT_DISTRIBUTION:
		l = dist;
		break;
	case FT_EVENT_REVOCATION:
		l = revo;
		break;
	default:
		return 0;
	}
	for (; *l != NULL; l++) {
		if (strcmp(*l, f) == 0) {
			return 1;
		}
	}
	return 0;
}

/* A canonical decimal 0..2^53-1 (a JSON-safe integer). */
static uint64_t parse_u53(const args *a, const char *opt)
{
	const char *s = arg_get(a, opt);
	uint64_t v;

	if (ft_parse_u63(s, strlen(s), &v) != 0 || v > (1ull << 53) - 1) {
		usage_error(a->cmd,
			    "--%s: \"%s\" is not a whole number 0..2^53-1", opt,
			    s);
	}
	return v;
}

static void jset(json_t *o, const char *k, json_t *v)
{
	if (v == NULL || json_object_set_new(o, k, v) != 0) {
		fatal(EX_IOERR, "out of memory");
	}
}

static void jset_str(json_t *o, const char *k, const char *s)
{
	jset(o, k, json_string(s));
	if (json_object_get(o, k) == NULL) {
		fatal(EX_IOERR, "out of memory");
	}
}

/* A string option into the predicate; usage error for invalid UTF-8. */
static void jopt(const args *a, json_t *o, const char *key, const char *opt,
		 int required)
{
	const char *v = required ? arg_need(a, opt) : arg_get(a, opt);
	json_t *s;

	if (v == NULL) {
		return;
	}
	s = json_string(v);
	if (s == NULL) {
		usage_error(a->cmd, "--%s: not valid UTF-8", opt);
	}
	jset(o, key, s);
}

static void jopt_array(const args *a, json_t *o, const char *key,
		       const char *opt, int required)
{
	const char *const *v;
	size_t n = arg_all(a, opt, &v), i;
	json_t *arr;

	if (n == 0) {
		if (required) {
			usage_error(a->cmd, "--%s is required (repeatable)",
				    opt);
		}
		return;
	}
	arr = json_array();
	if (arr == NULL) {
		fatal(EX_IOERR, "out of memory");
	}
	for (i = 0; i < n; i++) {
		json_t *s = json_string(v[i]);

		if (s == NULL) {
			usage_error(a->cmd, "--%s: not valid UTF-8", opt);
		}
		if (json_array_append_new(arr, s) != 0) {
			fatal(EX_IOERR, "out of memory");
		}
	}
	jset(o, key, arr);
}

/* A SHA-256 given as --FILEOPT FILE or --HEXOPT HEX, as lowercase hex;
 * NULL when neither is given. */
static const char *digest_opt(const args *a, const char *fileopt,
			      const char *hexopt, char hex[65])
{
	const char *f = arg_get(a, fileopt), *h = arg_get(a, hexopt);
	uint8_t d[32];

	if (f != NULL && h != NULL) {
		usage_error(a->cmd, "give --%s or --%s, not both", fileopt,
			    hexopt);
	}
	if (f == NULL && h == NULL) {
		return NULL;
	}
	if (f != NULL) {
		hash_file(f, d);
	} else if (hex32_decode(h, d) != 0) {
		usage_error(a->cmd, "--%s: not a SHA-256 (64 hex digits)",
			    hexopt);
	}
	hex_encode(d, 32, hex);
	return hex;
}

static json_t *predicate_build(const args *a)
{
	json_t *p = json_object(), *def = json_object(), *ext = json_object(),
	       *run = json_object(), *builder = json_object();
	const char *const *params;
	size_t n = arg_all(a, "param", &params), i;

	if (p == NULL || def == NULL || ext == NULL || run == NULL ||
	    builder == NULL) {
		fatal(EX_IOERR, "out of memory");
	}
	jopt(a, def, "buildType", "build-type", 1);
	for (i = 0; i < n; i++) {
		const char *eq = strchr(params[i], '=');
		char *k;
		json_t *v;

		if (eq == NULL || eq == params[i]) {
			usage_error(a->cmd, "--param: \"%s\" is not KEY=VALUE",
				    params[i]);
		}
		k = strndup(params[i], (size_t)(eq - params[i]));
		if (k == NULL) {
			fatal(EX_IOERR, "out of memory");
		}
		if (json_object_get(ext, k) != NULL) {
			usage_error(a->cmd, "--param: \"%s\" given twice", k);
		}
		v = json_string(eq + 1);
		if (v == NULL || json_object_set_new(ext, k, v) != 0) {
			usage_error(a->cmd, "--param: not valid UTF-8");
		}
		free(k);
	}
	jset(def, "externalParameters", ext);
	jopt(a, builder, "id", "builder-id", 1);
	jset(run, "builder", builder);
	jset(p, "buildDefinition", def);
	jset(p, "runDetails", run);
	return p;
}

static json_t *predicate_release(const args *a)
{
	json_t *p = json_object();
	char sbom[65], evid[65];
	const char *et;

	if (p == NULL) {
		fatal(EX_IOERR, "out of memory");
	}
	jopt(a, p, "product", "product", 1);
	jopt(a, p, "vendor", "vendor", 1);
	jopt(a, p, "version", "version", 1);
	(void)arg_need(a, "security-version");
	jset(p, "security_version",
	     json_integer((json_int_t)parse_u53(a, "security-version")));
	jopt_array(a, p, "hardware_models", "hw", 1);
	if (digest_opt(a, "sbom", "sbom-sha256", sbom) != NULL) {
		jset_str(p, "sbom_sha256", sbom);
	}
	if (arg_get(a, "build-index") != NULL) {
		jset(p, "build_index",
		     json_integer((json_int_t)parse_u53(a, "build-index")));
	}
	et = arg_get(a, "evidence-type");
	if (digest_opt(a, "evidence", "evidence-sha256", evid) != NULL) {
		json_t *e = json_object();

		if (et == NULL) {
			usage_error(a->cmd, "--evidence needs --evidence-type "
					    "scas|nesas");
		}
		if (e == NULL) {
			fatal(EX_IOERR, "out of memory");
		}
		if (strcmp(et, "scas") != 0 && strcmp(et, "nesas") != 0) {
			usage_error(a->cmd,
				    "--evidence-type: \"%s\" is not scas or "
				    "nesas",
				    et);
		}
		jset_str(e, "type", et);
		jset_str(e, "sha256", evid);
		jset(p, "evidence", e);
	} else if (et != NULL) {
		usage_error(a->cmd, "--evidence-type needs --evidence FILE or "
				    "--evidence-sha256 HEX");
	}
	return p;
}

static json_t *predicate_distribution(const args *a)
{
	json_t *p = json_object();

	if (p == NULL) {
		fatal(EX_IOERR, "out of memory");
	}
	jopt(a, p, "product", "product", 1);
	jopt(a, p, "channel", "channel", 1);
	jopt(a, p, "version", "version", 0);
	jopt_array(a, p, "regions", "region", 0);
	jopt_array(a, p, "network_slices", "slice", 0);
	jopt(a, p, "uri", "uri", 0);
	return p;
}

static json_t *predicate_revocation(const args *a, ft_vkey *revoked,
				    int *is_key)
{
	json_t *p = json_object();
	const char *target = arg_need(a, "target");

	if (p == NULL) {
		fatal(EX_IOERR, "out of memory");
	}
	*is_key = 0;
	if (strcmp(target, "key") == 0) {
		char ks[FT_KEY_STR_MAX + 1];
		size_t kl;

		*is_key = 1;
		load_vkey(a->cmd, "--revoke-key", arg_need(a, "revoke-key"),
			  revoked);
		if (revoked->type != FT_KEY_ED25519) {
			usage_error(a->cmd,
				    "--revoke-key: not an Ed25519 signing "
				    "key");
		}
		if (ft_vkey_format(revoked, ks, sizeof(ks), &kl) != 0) {
			fatal(EX_IOERR, "cannot format the revoked key");
		}
		jset_str(p, "target", "key");
		jopt(a, p, "reason", "reason", 1);
		jopt(a, p, "product", "product", 0);
		jset_str(p, "key", ks);
	} else if (strcmp(target, "image") == 0) {
		if (arg_get(a, "revoke-key") != NULL) {
			usage_error(a->cmd, "--revoke-key goes with --target "
					    "key");
		}
		jset_str(p, "target", "image");
		jopt(a, p, "reason", "reason", 1);
		jopt(a, p, "product", "product", 1);
	} else {
		usage_error(a->cmd, "--target: \"%s\" is not image or key",
			    target);
	}
	return p;
}

static const char *base_name(const char *path)
{
	const char *s = strrchr(path, '/');

	return s != NULL ? s + 1 : path;
}

static int kind_from_name(const char *s)
{
	int k;

	for (k = FT_EVENT_BUILD; k <= FT_EVENT_REVOCATION; k++) {
		if (strcmp(s, ft_event_kind_name(k)) == 0) {
			return k;
		}
	}
	return 0;
}

static int cmd_attest(int argc, char **argv)
{
	args a;
	int kind, rc, is_key = 0;
	const char *const *keyf, *const *imgs, *const *digs;
	size_t nkeys, nimg, ndig, nsub = 0, i, j;
	ft_event_subject subj[ATT_MAX_SUBJECTS];
	uint8_t keydigest[32];
	ft_skey *keys;
	ft_vkey *pubs;
	ft_vkey revoked;
	const char *name, *predfile, *out;
	char *pred = NULL, *stmt = NULL, *env = NULL, *outbuf = NULL;
	size_t pred_len = 0, stmt_len, env_len;
	char reason[512], hex[65];

	args_parse(&a, "attest", attest_spec, argc, argv, help_attest);
	if (a.npos != 1) {
		usage_error("attest", "give exactly one KIND: build, release, "
				      "distribution or revocation");
	}
	kind = kind_from_name(a.pos[0]);
	if (kind == 0) {
		usage_error("attest", "unknown event kind \"%s\"", a.pos[0]);
	}
	predfile = arg_get(&a, "predicate");
	for (i = 0; pred_flags[i] != NULL; i++) {
		if (arg_get(&a, pred_flags[i]) == NULL) {
			continue;
		}
		if (predfile != NULL) {
			usage_error("attest",
				    "--%s cannot be combined with --predicate",
				    pred_flags[i]);
		}
		if (!flag_allowed(kind, pred_flags[i])) {
			usage_error("attest", "--%s is not an option of a %s",
				    pred_flags[i], a.pos[0]);
		}
	}
	nkeys = arg_all(&a, "key", &keyf);
	if (nkeys == 0) {
		usage_error("attest", "--key FILE is required");
	}
	if (nkeys > FT_EVENT_MAX_SIGS) {
		usage_error("attest", "at most %d --key", FT_EVENT_MAX_SIGS);
	}
	nimg = arg_all(&a, "image", &imgs);
	ndig = arg_all(&a, "digest", &digs);

	/* The predicate first: a key revocation decides the subject. */
	if (predfile != NULL) {
		uint8_t *buf = read_file(predfile, FT_EVENT_MAX_BYTES,
					 &pred_len, "predicate");

		pred = (char *)buf;
	} else {
		json_t *p = NULL;

		switch (kind) {
		case FT_EVENT_BUILD:
			p = predicate_build(&a);
			break;
		case FT_EVENT_RELEASE:
			p = predicate_release(&a);
			break;
		case FT_EVENT_DISTRIBUTION:
			p = predicate_distribution(&a);
			break;
		case FT_EVENT_REVOCATION:
			p = predicate_revocation(&a, &revoked, &is_key);
			break;
		default:
			fatal(EX_USAGE, "internal: bad kind");
		}
		pred = json_dumps(p, JSON_COMPACT | JSON_PRESERVE_ORDER);
		json_decref(p);
		if (pred == NULL) {
			fatal(EX_IOERR, "out of memory");
		}
		pred_len = strlen(pred);
	}

	/* Subjects. */
	memset(subj, 0, sizeof(subj));
	name = arg_get(&a, "name");
	if (is_key) {
		if (nimg + ndig > 0) {
			usage_error("attest",
				    "a key revocation names the key "
				    "(--revoke-key), not an image");
		}
		ft_event_key_digest(&revoked, keydigest);
		memcpy(subj[0].sha256, keydigest, 32);
		subj[0].name = name;
		nsub = 1;
	} else {
		if (nimg + ndig == 0) {
			usage_error("attest", "give --image FILE or --digest HEX");
		}
		if (nimg + ndig > ATT_MAX_SUBJECTS) {
			usage_error("attest", "at most %d subjects",
				    ATT_MAX_SUBJECTS);
		}
		if (name != NULL && nimg + ndig != 1) {
			usage_error("attest", "--name needs exactly one subject");
		}
		for (i = 0; i < nimg; i++) {
			hash_file(imgs[i], subj[nsub].sha256);
			subj[nsub].name = name ? name : base_name(imgs[i]);
			nsub++;
		}
		for (i = 0; i < ndig; i++) {
			const char *h = digs[i];

			if (strncmp(h, "sha256:", 7) == 0) {
				h += 7;
			}
			if (hex32_decode(h, subj[nsub].sha256) != 0) {
				usage_error("attest",
					    "--digest: \"%s\" is not a SHA-256 "
					    "(64 hex digits)",
					    digs[i]);
			}
			subj[nsub].name = name;
			nsub++;
		}
		for (i = 0; i < nsub; i++) {
			for (j = 0; j < i; j++) {
				if (memcmp(subj[i].sha256, subj[j].sha256,
					   32) == 0) {
					usage_error("attest",
						    "subject %zu repeats "
						    "subject %zu",
						    i + 1, j + 1);
				}
			}
		}
	}

	rc = ft_event_statement(kind, subj, nsub, pred, pred_len, &stmt,
				&stmt_len, reason, sizeof(reason));
	if (rc != 0) {
		if (predfile != NULL) {
			fatal(EX_FAIL, "%s: %s", predfile, reason);
		}
		usage_error("attest", "%s", reason);
	}

	/* Keys last: they are wiped right after signing. */
	keys = calloc(nkeys, sizeof(*keys));
	pubs = calloc(nkeys, sizeof(*pubs));
	if (keys == NULL || pubs == NULL) {
		fatal(EX_IOERR, "out of memory");
	}
	for (i = 0; i < nkeys; i++) {
		load_skey(keyf[i], FT_KEY_ED25519, &keys[i]);
		ft_skey_public(&keys[i], &pubs[i]);
		for (j = 0; j < i; j++) {
			if (memcmp(keys[i].pk, keys[j].pk, 32) == 0) {
				usage_error("attest", "--key %s repeats --key %s",
					    keyf[i], keyf[j]);
			}
		}
	}
	rc = ft_event_sign((const uint8_t *)stmt, stmt_len, keys, nkeys, &env,
			   &env_len);
	for (i = 0; i < nkeys; i++) {
		ft_skey_wipe(&keys[i]);
	}
	if (rc != 0) {
		fatal(rc == FT_ETOOBIG ? EX_FAIL : EX_IOERR,
		      "cannot sign the statement: %s", ft_strerror(rc));
	}

	out = arg_get(&a, "out");
	hex_encode(subj[0].sha256, 32, hex);
	if (out == NULL) {
		const char *stem = nimg > 0 ? imgs[0] : hex;
		size_t n = strlen(stem) + 32;

		outbuf = malloc(n);
		if (outbuf == NULL) {
			fatal(EX_IOERR, "out of memory");
		}
		(void)snprintf(outbuf, n, "%s.%s.dsse", stem, a.pos[0]);
		out = outbuf;
	}
	write_file_atomic(out, env, env_len, 0644);
	if (strcmp(out, "-") != 0) {
		printf("%s %s", a.pos[0], hex);
		if (nsub > 1) {
			printf(" (+%zu more)", nsub - 1);
		}
		printf(" signed by");
		for (i = 0; i < nkeys; i++) {
			printf("%s %s+%08x", i ? "," : "", pubs[i].name,
			       (unsigned)pubs[i].id);
		}
		printf(" -> %s\n", out);
		if (fflush(stdout) != 0) {
			fatal(EX_IOERR, "cannot write to standard output");
		}
	}
	free(keys);
	free(pubs);
	free(outbuf);
	free(env);
	free(stmt);
	free(pred);
	return EX_OK;
}

/* ---- main. */

static const char *help_for(const char *cmd)
{
	if (strcmp(cmd, "keygen") == 0) {
		return help_keygen;
	}
	if (strcmp(cmd, "attest") == 0) {
		return help_attest;
	}
	if (strcmp(cmd, "submit") == 0) {
		return help_submit;
	}
	if (strcmp(cmd, "get") == 0) {
		return help_get;
	}
	if (strcmp(cmd, "audit") == 0) {
		return help_audit;
	}
	if (strcmp(cmd, "monitor") == 0) {
		return help_monitor;
	}
	return NULL;
}

int main(int argc, char **argv)
{
	const char *cmd;

	if (argc < 2) {
		fputs(help_main, stderr);
		return EX_USAGE;
	}
	cmd = argv[1];
	if (strcmp(cmd, "--help") == 0 || strcmp(cmd, "-h") == 0) {
		fputs(help_main, stdout);
		return EX_OK;
	}
	if (strcmp(cmd, "--version") == 0) {
		printf("ftlog %s\n", PACKAGE_VERSION);
		return EX_OK;
	}
	if (strcmp(cmd, "help") == 0) {
		const char *h;

		if (argc < 3) {
			fputs(help_main, stdout);
			return EX_OK;
		}
		if (argc > 3) {
			usage_error("help", "give one command");
		}
		if (strcmp(argv[2], "witness") == 0) {
			/* Its subcommands have their own pages. */
			char *hv[] = {(char *)"--help", NULL};

			return cmd_witness(1, hv);
		}
		h = help_for(argv[2]);
		if (h == NULL) {
			usage_error("help", "no help for \"%s\"", argv[2]);
		}
		fputs(h, stdout);
		return EX_OK;
	}
	if (ft_init() != 0) {
		fatal(EX_IOERR, "cannot initialise libsodium");
	}
	if (strcmp(cmd, "keygen") == 0) {
		return cmd_keygen(argc - 2, argv + 2);
	}
	if (strcmp(cmd, "attest") == 0) {
		return cmd_attest(argc - 2, argv + 2);
	}
	if (strcmp(cmd, "submit") == 0) {
		return cmd_submit(argc - 2, argv + 2);
	}
	if (strcmp(cmd, "get") == 0) {
		return cmd_get(argc - 2, argv + 2);
	}
	if (strcmp(cmd, "audit") == 0) {
		return cmd_audit(argc - 2, argv + 2);
	}
	if (strcmp(cmd, "monitor") == 0) {
		return cmd_monitor(argc - 2, argv + 2);
	}
	if (strcmp(cmd, "witness") == 0) {
		return cmd_witness(argc - 2, argv + 2);
	}
	fprintf(stderr,
		"ftlog: unknown command \"%s\"\nRun \"ftlog --help\" for "
		"usage.\n",
		cmd);
	return EX_USAGE;
}
