/*
 * tools/ftlog.h - internals shared by the files of the ftlog CLI
 * (ftlog.c: main, help, keygen, attest; ftlog_net.c: submit, get).
 * Not installed. Everything that ends the process lives here and only
 * here: the libraries never exit.
 */
#ifndef FTLOG_TOOLS_FTLOG_H
#define FTLOG_TOOLS_FTLOG_H

#include <stddef.h>
#include <stdint.h>

#include <ftlog/event.h>
#include <ftlog/note.h>

/* Exit codes (documented in every --help and docs/cli.md). */
#define EX_OK 0      /* success */
#define EX_FAIL 1    /* refused, verification failed, not found */
#define EX_USAGE 2   /* bad command line */
#define EX_IOERR 3   /* file, network or server error */
#define EX_ALARM 4   /* audit/monitor: the log contradicts itself or what
		      * was seen before (split view, rollback, tampered
		      * tile or bundle, bad checkpoint signature) */

/* ---- Commands in their own files. */
int cmd_witness(int argc, char **argv); /* tools/witness.c */
int cmd_audit(int argc, char **argv);   /* tools/audit.c */
int cmd_monitor(int argc, char **argv); /* tools/audit.c */
extern const char help_audit[];         /* their man pages */
extern const char help_monitor[];

/* ---- Dying (program only). */

/* "ftlog: <message>" on stderr, exit with code. */
void fatal(int code, const char *fmt, ...)
	__attribute__((format(printf, 2, 3), noreturn));
/* "ftlog CMD: <message>" plus a pointer to the help, exit 2. */
void usage_error(const char *cmd, const char *fmt, ...)
	__attribute__((format(printf, 2, 3), noreturn));

/* ---- Command-line options: "--name VALUE", "--name=VALUE", flags. */

#define OPT_ARG 1   /* takes a value */
#define OPT_MULTI 2 /* may be repeated */

typedef struct optspec {
	const char *name; /* without "--" */
	int flags;
} optspec;

#define ARGS_MAX_OPTS 40
#define ARGS_MAX_VALS 64
#define ARGS_MAX_POS 8

typedef struct args {
	const char *cmd; /* for messages: "attest", "get lineage" */
	const optspec *spec;
	size_t nspec;
	const char *val[ARGS_MAX_OPTS][ARGS_MAX_VALS];
	size_t nval[ARGS_MAX_OPTS];
	const char *pos[ARGS_MAX_POS];
	size_t npos;
} args;

/*
 * Parse argv[0..argc) against spec (terminated by a NULL name). "--help"
 * or "-h" anywhere prints help on stdout and exits 0; "--" ends options.
 * Any error is a usage error (exit 2).
 */
void args_parse(args *a, const char *cmd, const optspec *spec, int argc,
		char **argv, const char *help);
/* The value of a single-valued option, or NULL. */
const char *arg_get(const args *a, const char *name);
/* All values of an option (count returned; *vals may be NULL if 0). */
size_t arg_all(const args *a, const char *name, const char *const **vals);
/* Required single value (usage error if absent). */
const char *arg_need(const args *a, const char *name);

/* ---- Files and bytes. */

/* Read a whole file (at most max bytes; more is an error naming what).
 * NUL-terminated, malloc'd; exits 3 on I/O errors and 1 when too big. */
uint8_t *read_file(const char *path, size_t max, size_t *len,
		   const char *what);
/* Write path atomically (temporary file in the same directory, fsync,
 * rename) with mode; "-" writes standard output. Exits 3 on failure. */
void write_file_atomic(const char *path, const void *data, size_t len,
		       unsigned mode);
/* write(2) all of data, resuming after EINTR. 0 or -1 (errno). */
int write_all(int fd, const void *data, size_t len);

/* Create path exclusively (O_EXCL) with mode, write data, fsync. 0, or -1
 * with errno (the file is removed again on a failed write). */
int create_excl(const char *path, const void *data, size_t len,
		unsigned mode);

/* SHA-256 of a file, streamed in 64 KiB chunks (nettle). Exits 3. */
void hash_file(const char *path, uint8_t out[32]);
/* Lowercase hex of n bytes into out (2n+1). */
void hex_encode(const uint8_t *in, size_t n, char *out);
/* 64 hex digits (either case) into 32 bytes: 0 or -1. */
int hex32_decode(const char *s, uint8_t out[32]);
/* The 32-byte digest named by --image FILE or a hex argument; exactly one
 * of them must be given (usage error otherwise). */
void digest_from(const char *cmd, const char *image, const char *hex,
		 uint8_t out[32]);

/* ---- Keys. */

/* A signer key file (keygen, witness init): one line, readable by its
 * owner only, of key type `type` (FT_KEY_ED25519 or FT_KEY_COSIG_V1).
 * Exits 3 when unreadable, 1 when wrong. */
void load_skey(const char *path, uint8_t type, ft_skey *out);

/* A verifier key given as a key string or as a file holding one (a .pub
 * file from keygen or ftlogd init). Usage error naming opt otherwise. */
void load_vkey(const char *cmd, const char *opt, const char *arg,
	       ft_vkey *out);

/* ---- Subcommands. */

int cmd_submit(int argc, char **argv);
int cmd_get(int argc, char **argv);

extern const char help_submit[];
extern const char help_get[];

#endif
