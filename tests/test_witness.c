/*
 * tests/test_witness.c - the C2SP tlog-witness v1.0.0 wire format
 * (merkle/witness.c) and the witness server (`ftlog witness`).
 *
 *   wire     ft_addcp_format/ft_addcp_parse round trips with 0, 1 and 63
 *            proof lines; every malformed request form (leading zeros,
 *            "old  1", a sign, 64 proof lines, bad and non-canonical
 *            base64, short hashes, no empty line, CR, an empty note,
 *            oversized); ft_addcp_parse_size; ft_addcp_check_cosig with
 *            foreign lines, a bad line, no line of the witness, malformed
 *            bodies and a small buffer
 *   server   the real `ftlog witness init/serve` on 127.0.0.1:0: every
 *            status code with its exact body (200 with a cosignature that
 *            verifies with the witness's key, 400, 403, 404, 405, 409 with
 *            text/x.tlog.size, 413, 422), re-cosigning the same checkpoint,
 *            two logs and an origin with two keys, persistence across
 *            kill -9, racing requests from one old size (exactly one wins,
 *            the size never goes back), SIGTERM, init refusing to
 *            overwrite, bad logs files naming FILE:LINE
 *   go       a cosigned checkpoint from the witness verified by Go's
 *            golang.org/x/mod/sumdb/note with a tlog-cosignature v1
 *            verifier (tests/interop/cosig/main.go); skipped only when
 *            there is no `go`
 *
 * The checkpoints are made here with libftmerkle: a tree over made-up
 * leaves, ft_checkpoint_format, ft_note_sign with test log keys and
 * ft_proof_consistency over an in-memory hash reader.
 *
 * Environment: FTLOG_FTLOG (the ftlog binary; default
 * $FTLOG_BUILDDIR/tools/ftlog), FTLOG_GO_COSIG (a built
 * tests/interop/cosig program; else it is built with `go` from
 * $FTLOG_SRCDIR or next to this file), FTLOG_KEEP_TMP.
 */
#define _DEFAULT_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <check.h>

#include <ftlog/common.h>
#include <ftlog/merkle.h>
#include <ftlog/note.h>
#include <ftlog/witness.h>

#include "client/httpc.h"
#include "tests/testutil.h"

#define LOG_A "example.org/log-a"
#define LOG_B "example.org/log-b"
#define WIT_NAME "witness.example/w1"
#define MAX_LEAVES 300
#define RUN_TIMEOUT_S 60
#define CT_SIZE "text/x.tlog.size"

/* ==== Test keys and logs ================================================ */

static void key_of(const char *name, uint8_t type, uint8_t seed_byte,
		   ft_skey *sk, ft_vkey *vk)
{
	uint8_t seed[32];

	memset(seed, seed_byte, sizeof seed);
	ck_assert_int_eq(ft_key_from_seed(name, strlen(name), type, seed, sk),
			 0);
	ft_skey_public(sk, vk);
}

static void vkey_str(const ft_vkey *vk, char *out, size_t cap)
{
	size_t n = 0;

	ck_assert_int_eq(ft_vkey_format(vk, out, cap, &n), 0);
}

/* A log made up in the test: a key and leaves "leaf <salt> <i>". */
typedef struct tlog {
	ft_skey key;
	ft_vkey vk;
	char vkey[FT_KEY_STR_MAX + 1];
	ft_hash leaves[MAX_LEAVES];
} tlog;

static void tlog_init(tlog *l, const char *name, uint8_t seed, int salt)
{
	key_of(name, FT_KEY_ED25519, seed, &l->key, &l->vk);
	vkey_str(&l->vk, l->vkey, sizeof l->vkey);
	for (size_t i = 0; i < MAX_LEAVES; i++) {
		char e[64];
		int n = snprintf(e, sizeof e, "leaf %d %zu", salt, i);

		ft_merkle_leaf_hash((const uint8_t *)e, (size_t)n,
				    &l->leaves[i]);
	}
}

/* Hash of the perfect subtree over leaves [start, start + n). */
static void subtree(const tlog *l, uint64_t start, uint64_t n, ft_hash *out)
{
	ft_hash a, b;

	if (n == 1) {
		*out = l->leaves[start];
		return;
	}
	subtree(l, start, n / 2, &a);
	subtree(l, start + n / 2, n / 2, &b);
	ft_merkle_node_hash(&a, &b, out);
}

static int tlog_read(void *ctx, const ft_node_id *ids, size_t n,
		     ft_hash *out)
{
	const tlog *l = ctx;

	for (size_t i = 0; i < n; i++) {
		uint64_t count = (uint64_t)1 << ids[i].level;
		uint64_t start = ids[i].index << ids[i].level;

		if (ids[i].level > 20 || start + count > MAX_LEAVES) {
			return FT_EREAD;
		}
		subtree(l, start, count, &out[i]);
	}
	return 0;
}

static void tlog_root(const tlog *l, uint64_t size, ft_hash *root)
{
	ft_tree t;

	ck_assert_uint_le(size, MAX_LEAVES);
	ft_tree_init(&t);
	ck_assert_int_eq(ft_tree_append_batch(&t, l->leaves, (size_t)size,
					      NULL, NULL),
			 0);
	ft_tree_root(&t, root);
}

/* The checkpoint text of l at size (origin = the key's name). */
static size_t tlog_text(const tlog *l, uint64_t size, uint8_t *out,
			size_t cap)
{
	ft_checkpoint cp;
	size_t n = 0;

	memset(&cp, 0, sizeof cp);
	memcpy(cp.origin, l->key.name, l->key.name_len);
	cp.origin_len = l->key.name_len;
	cp.size = size;
	tlog_root(l, size, &cp.root);
	ck_assert_int_eq(ft_checkpoint_format(&cp, out, cap, &n), 0);
	return n;
}

/* A note over text signed by the given keys. */
static size_t sign_text(const uint8_t *text, size_t tlen, const ft_skey *keys,
			size_t nkeys, uint8_t *out, size_t cap)
{
	size_t n = 0;

	ck_assert_int_eq(ft_note_sign(text, tlen, keys, nkeys, 0, out, cap, &n),
			 0);
	return n;
}

/* The signed checkpoint of l at size. */
static size_t tlog_note(const tlog *l, uint64_t size, uint8_t *out,
			size_t cap)
{
	uint8_t text[512];
	size_t tlen = tlog_text(l, size, text, sizeof text);

	return sign_text(text, tlen, &l->key, 1, out, cap);
}

/* The consistency proof from m to n (empty unless 0 < m < n). */
static size_t tlog_proof(const tlog *l, uint64_t m, uint64_t n,
			 ft_hash *proof)
{
	ft_hash_reader r = {tlog_read, (void *)l};
	size_t np = 0;

	if (m == 0 || m >= n) {
		return 0;
	}
	ck_assert_int_eq(ft_proof_consistency(m, n, &r, proof, &np), 0);
	ck_assert_uint_le(np, FT_ADDCP_PROOF_MAX);
	return np;
}

/* An add-checkpoint body (malloc'd). */
static uint8_t *body_of(uint64_t old, const ft_hash *proof, size_t np,
			const uint8_t *note, size_t nlen, size_t *len)
{
	size_t cap = FT_ADDCP_BODY_MAX + 1;
	uint8_t *b = malloc(cap);

	ck_assert_ptr_nonnull(b);
	ck_assert_int_eq(ft_addcp_format(old, proof, np, note, nlen, b, cap,
					 len),
			 0);
	return b;
}

/* ==== Unit tests of the wire format ===================================== */

static const uint8_t some_note[] = "example.org/x\n1\n"
				   "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=\n"
				   "\n— example.org/x AAAA\n";

/* Parse must fail with rc and leave *out zeroed. */
static void parse_fails(const char *body, size_t len, int rc)
{
	ft_addcp a;
	ft_addcp zero;

	memset(&a, 0x5a, sizeof a);
	memset(&zero, 0, sizeof zero);
	ck_assert_msg(ft_addcp_parse((const uint8_t *)body, len, &a) == rc,
		      "body [%.*s] did not fail with %s", (int)len, body,
		      ft_errname(rc));
	ck_assert_msg(memcmp(&a, &zero, sizeof a) == 0,
		      "output not cleared for [%.*s]", (int)len, body);
}

#define PARSE_FAILS(s) parse_fails((s), sizeof(s) - 1, FT_EADDCP)

START_TEST(test_wire_round_trip)
{
	static const size_t counts[] = {0, 1, 2, 62, 63};
	ft_hash proof[FT_ADDCP_PROOF_MAX];
	uint8_t buf[8192];
	ft_addcp a;

	for (size_t i = 0; i < FT_ADDCP_PROOF_MAX; i++) {
		for (size_t j = 0; j < FT_HASH_LEN; j++) {
			proof[i].b[j] = (uint8_t)(i * 31 + j * 7);
		}
	}
	for (size_t c = 0; c < sizeof counts / sizeof counts[0]; c++) {
		static const uint64_t olds[] = {0, 1, 20852014,
						(uint64_t)INT64_MAX};
		for (size_t o = 0; o < 4; o++) {
			size_t n = counts[c], len = 0, need = 0;

			ck_assert_int_eq(ft_addcp_format(olds[o], proof, n,
							 some_note,
							 sizeof some_note - 1,
							 buf, sizeof buf,
							 &len),
					 0);
			/* Exactly sized buffer works; one less reports need. */
			ck_assert_int_eq(ft_addcp_format(olds[o], proof, n,
							 some_note,
							 sizeof some_note - 1,
							 buf, len - 1, &need),
					 FT_EBUFSIZE);
			ck_assert_uint_eq(need, len);
			ck_assert_int_eq(ft_addcp_format(olds[o], proof, n,
							 some_note,
							 sizeof some_note - 1,
							 buf, len, &need),
					 0);
			ck_assert_uint_eq(need, len);
			ck_assert_int_eq(ft_addcp_parse(buf, len, &a), 0);
			ck_assert_uint_eq(a.old_size, olds[o]);
			ck_assert_uint_eq(a.nproof, n);
			ck_assert_int_eq(memcmp(a.proof, proof,
						n * sizeof proof[0]),
					 0);
			ck_assert_ptr_eq(a.note, buf + len -
							 (sizeof some_note - 1));
			ck_assert_uint_eq(a.note_len, sizeof some_note - 1);
		}
	}
	/* The spec's example layout, byte for byte. */
	{
		static const char want[] =
			"old 20852014\n"
			"AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=\n"
			"\nN\n";
		ft_hash h;
		size_t len = 0;

		for (size_t j = 0; j < FT_HASH_LEN; j++) {
			h.b[j] = (uint8_t)j;
		}
		ck_assert_int_eq(ft_addcp_format(20852014, &h, 1,
						 (const uint8_t *)"N\n", 2,
						 buf, sizeof buf, &len),
				 0);
		ck_assert_uint_eq(len, sizeof want - 1);
		ck_assert_int_eq(memcmp(buf, want, len), 0);
	}
}
END_TEST

START_TEST(test_wire_format_errors)
{
	ft_hash proof[FT_ADDCP_PROOF_MAX + 1];
	uint8_t buf[8192];
	size_t len = 99;

	memset(proof, 0, sizeof proof);
	ck_assert_int_eq(ft_addcp_format(1, proof, FT_ADDCP_PROOF_MAX + 1,
					 some_note, 5, buf, sizeof buf, &len),
			 FT_EINVAL);
	ck_assert_uint_eq(len, 0);
	ck_assert_int_eq(ft_addcp_format(1, proof, 0, some_note, 0, buf,
					 sizeof buf, &len),
			 FT_EINVAL);
	ck_assert_int_eq(ft_addcp_format(1, NULL, 1, some_note, 5, buf,
					 sizeof buf, &len),
			 FT_EINVAL);
	ck_assert_int_eq(ft_addcp_format(1, proof, 0, NULL, 5, buf,
					 sizeof buf, &len),
			 FT_EINVAL);
	ck_assert_int_eq(ft_addcp_format((uint64_t)INT64_MAX + 1, proof, 0,
					 some_note, 5, buf, sizeof buf, &len),
			 FT_EINVAL);
	ck_assert_int_eq(ft_addcp_format(1, proof, 0, some_note, 5, buf,
					 sizeof buf, NULL),
			 FT_EINVAL);
	/* Size query with no buffer. */
	ck_assert_int_eq(ft_addcp_format(123, proof, 2, some_note, 5, NULL, 0,
					 &len),
			 FT_EBUFSIZE);
	ck_assert_uint_eq(len, 8 + 2 * 45 + 1 + 5);
}
END_TEST

START_TEST(test_wire_malformed)
{
	static const char h[] = "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=\n";
	char *big;
	size_t off;

	/* The old size line. */
	PARSE_FAILS("old 01\n\nN\n");
	PARSE_FAILS("old 00\n\nN\n");
	PARSE_FAILS("old  1\n\nN\n");
	PARSE_FAILS("old 1 \n\nN\n");
	PARSE_FAILS("old +1\n\nN\n");
	PARSE_FAILS("old -1\n\nN\n");
	PARSE_FAILS("old 0x1\n\nN\n");
	PARSE_FAILS("old \n\nN\n");
	PARSE_FAILS("old\n\nN\n");
	PARSE_FAILS("old1\n\nN\n");
	PARSE_FAILS("Old 1\n\nN\n");
	PARSE_FAILS("OLD 1\n\nN\n");
	PARSE_FAILS(" old 1\n\nN\n");
	PARSE_FAILS("old 1");
	PARSE_FAILS("old 9223372036854775808\n\nN\n");
	PARSE_FAILS("old 99999999999999999999\n\nN\n");
	PARSE_FAILS("\nold 1\n\nN\n");
	/* CR anywhere. */
	PARSE_FAILS("old 1\r\n\r\nN\n");
	PARSE_FAILS("old 1\n\nN\r\n");
	/* Proof lines: bad base64, non-canonical, wrong lengths. */
	PARSE_FAILS("old 1\n"
		    "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8\n\nN\n");
	PARSE_FAILS("old 1\n"
		    "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8==\n\nN\n");
	PARSE_FAILS("old 1\n"
		    "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh9=\n\nN\n");
	PARSE_FAILS("old 1\n"
		    "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh*=\n\nN\n");
	PARSE_FAILS("old 1\n"
		    "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHg==\n\nN\n");
	PARSE_FAILS("old 1\n"
		    "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8gIQ==\n\nN\n");
	PARSE_FAILS("old 1\n"
		    " AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=\n\nN\n");
	PARSE_FAILS("old 1\n"
		    "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8= \n\nN\n");
	PARSE_FAILS("old 1\n"
		    "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwd-h8=\n\nN\n");
	/* No empty line, or nothing after it. */
	PARSE_FAILS("old 1\n");
	PARSE_FAILS("old 1\nN\n");
	PARSE_FAILS("old 1\n"
		    "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=\n");
	PARSE_FAILS("old 1\n"
		    "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=");
	PARSE_FAILS("old 1\n\n");
	PARSE_FAILS("old 1\n"
		    "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=\n\n");
	parse_fails("", 0, FT_EADDCP);

	/* 63 proof lines parse, 64 do not. */
	big = malloc(FT_ADDCP_BODY_MAX + 2);
	ck_assert_ptr_nonnull(big);
	off = (size_t)sprintf(big, "old 5\n");
	for (int i = 0; i < FT_ADDCP_PROOF_MAX; i++) {
		memcpy(big + off, h, sizeof h - 1);
		off += sizeof h - 1;
	}
	memcpy(big + off, "\nN\n", 3);
	{
		ft_addcp a;

		ck_assert_int_eq(ft_addcp_parse((uint8_t *)big, off + 3, &a),
				 0);
		ck_assert_uint_eq(a.nproof, FT_ADDCP_PROOF_MAX);
		ck_assert_uint_eq(a.note_len, 2);
	}
	memcpy(big + off, h, sizeof h - 1);
	off += sizeof h - 1;
	memcpy(big + off, "\nN\n", 3);
	parse_fails(big, off + 3, FT_EADDCP);

	/* The size cap: FT_ADDCP_BODY_MAX parses, one more byte does not. */
	off = (size_t)sprintf(big, "old 5\n\n");
	memset(big + off, 'N', FT_ADDCP_BODY_MAX + 1 - off);
	{
		ft_addcp a;

		ck_assert_int_eq(ft_addcp_parse((uint8_t *)big,
						FT_ADDCP_BODY_MAX, &a),
				 0);
		ck_assert_uint_eq(a.note_len, FT_ADDCP_BODY_MAX - off);
	}
	parse_fails(big, FT_ADDCP_BODY_MAX + 1, FT_ETOOBIG);
	free(big);

	ck_assert_int_eq(ft_addcp_parse(NULL, 0, NULL), FT_EINVAL);
	parse_fails(NULL, 3, FT_EINVAL);
	/* The largest old size and a zero one. */
	{
		ft_addcp a;
		static const char max[] = "old 9223372036854775807\n\nN";
		static const char zero[] = "old 0\n\nN";

		ck_assert_int_eq(ft_addcp_parse((const uint8_t *)max,
						sizeof max - 1, &a),
				 0);
		ck_assert_uint_eq(a.old_size, (uint64_t)INT64_MAX);
		ck_assert_int_eq(ft_addcp_parse((const uint8_t *)zero,
						sizeof zero - 1, &a),
				 0);
		ck_assert_uint_eq(a.old_size, 0);
		ck_assert_uint_eq(a.note_len, 1);
	}
}
END_TEST

static void size_fails(const char *s)
{
	uint64_t v = 77;

	ck_assert_msg(ft_addcp_parse_size((const uint8_t *)s, strlen(s), &v) ==
			      FT_EADDCP,
		      "size body [%s] accepted", s);
	ck_assert_uint_eq(v, 0);
}

START_TEST(test_wire_parse_size)
{
	uint64_t v = 0;

	ck_assert_int_eq(ft_addcp_parse_size((const uint8_t *)"5\n", 2, &v), 0);
	ck_assert_uint_eq(v, 5);
	ck_assert_int_eq(ft_addcp_parse_size((const uint8_t *)"0\n", 2, &v), 0);
	ck_assert_uint_eq(v, 0);
	ck_assert_int_eq(ft_addcp_parse_size(
				 (const uint8_t *)"9223372036854775807\n", 20,
				 &v),
			 0);
	ck_assert_uint_eq(v, (uint64_t)INT64_MAX);
	size_fails("");
	size_fails("\n");
	size_fails("5");
	size_fails("05\n");
	size_fails("00\n");
	size_fails("5\n\n");
	size_fails("5\r\n");
	size_fails(" 5\n");
	size_fails("5 \n");
	size_fails("+5\n");
	size_fails("-5\n");
	size_fails("5\nx");
	size_fails("9223372036854775808\n");
	size_fails("old 5\n");
	ck_assert_int_eq(ft_addcp_parse_size(NULL, 0, &v), FT_EADDCP);
	ck_assert_int_eq(ft_addcp_parse_size((const uint8_t *)"5\n", 2, NULL),
			 FT_EINVAL);
}
END_TEST

/* Text, and signature lines by several keys over it. */
typedef struct cosig_fixture {
	ft_skey wit, other_wit, log;
	ft_vkey wit_v, other_wit_v, log_v;
	uint8_t text[256];
	size_t tlen;
	char wline[FT_NOTE_SIG_LINE_MAX + 1];
	size_t wlen;
	char oline[FT_NOTE_SIG_LINE_MAX + 1];
	size_t olen;
	char lline[FT_NOTE_SIG_LINE_MAX + 1];
	size_t llen;
} cosig_fixture;

static void cosig_setup(cosig_fixture *f)
{
	tlog *l = malloc(sizeof *l);

	ck_assert_ptr_nonnull(l);
	tlog_init(l, LOG_A, 0x11, 0);
	f->tlen = tlog_text(l, 7, f->text, sizeof f->text);
	free(l);
	key_of(WIT_NAME, FT_KEY_COSIG_V1, 0x21, &f->wit, &f->wit_v);
	key_of("witness.example/other", FT_KEY_COSIG_V1, 0x22, &f->other_wit,
	       &f->other_wit_v);
	key_of(LOG_A, FT_KEY_ED25519, 0x11, &f->log, &f->log_v);
	ck_assert_int_eq(ft_note_sig_line(&f->wit, f->text, f->tlen,
					  1700000000, f->wline,
					  sizeof f->wline, &f->wlen),
			 0);
	ck_assert_int_eq(ft_note_sig_line(&f->other_wit, f->text, f->tlen,
					  1700000001, f->oline,
					  sizeof f->oline, &f->olen),
			 0);
	ck_assert_int_eq(ft_note_sig_line(&f->log, f->text, f->tlen, 0,
					  f->lline, sizeof f->lline, &f->llen),
			 0);
}

static int check_cosig(const cosig_fixture *f, const char *body,
		       uint64_t *ts, char *line, size_t *line_len)
{
	return ft_addcp_check_cosig(f->text, f->tlen, &f->wit_v,
				    (const uint8_t *)body, strlen(body), line,
				    FT_NOTE_SIG_LINE_MAX + 1, line_len, ts);
}

START_TEST(test_wire_check_cosig)
{
	cosig_fixture f;
	char line[FT_NOTE_SIG_LINE_MAX + 1];
	char body[4 * 1024 * 4];
	size_t line_len = 0;
	uint64_t ts = 0;
	char *bad;

	cosig_setup(&f);
	/* The witness's line alone. */
	ck_assert_int_eq(check_cosig(&f, f.wline, &ts, line, &line_len), 0);
	ck_assert_uint_eq(ts, 1700000000);
	ck_assert_uint_eq(line_len, f.wlen);
	ck_assert_str_eq(line, f.wline);
	/* With foreign lines around it: ignored. */
	(void)snprintf(body, sizeof body, "%s%s%s", f.oline, f.wline, f.lline);
	ck_assert_int_eq(check_cosig(&f, body, &ts, line, &line_len), 0);
	ck_assert_str_eq(line, f.wline);
	ck_assert_uint_eq(ts, 1700000000);
	/* The same line twice: both verify, the first is returned. */
	(void)snprintf(body, sizeof body, "%s%s", f.wline, f.wline);
	ck_assert_int_eq(check_cosig(&f, body, &ts, line, &line_len), 0);
	/* No line of the witness. */
	(void)snprintf(body, sizeof body, "%s%s", f.oline, f.lline);
	ts = 5;
	ck_assert_int_eq(check_cosig(&f, body, &ts, line, &line_len),
			 FT_ENOTE_NOKEY);
	ck_assert_uint_eq(ts, 0);
	ck_assert_uint_eq(line_len, 0);
	ck_assert_str_eq(line, "");
	/* A witness line that does not verify, alone or after a good one:
	 * every flipped base64 character of the signature is refused. */
	bad = strdup(f.wline);
	ck_assert_ptr_nonnull(bad);
	{
		size_t start = strlen("— " WIT_NAME " ") + 8; /* past key id */

		for (size_t i = start; i + 2 < f.wlen; i++) {
			char saved = bad[i];

			bad[i] = saved == 'A' ? 'B' : 'A';
			(void)snprintf(body, sizeof body, "%s%s", f.wline, bad);
			int rc = check_cosig(&f, body, &ts, line, &line_len);
			ck_assert_msg(rc == FT_ENOTE_BADSIG || rc == FT_EADDCP,
				      "flip at %zu: %s", i, ft_errname(rc));
			rc = check_cosig(&f, bad, &ts, line, &line_len);
			ck_assert_msg(rc == FT_ENOTE_BADSIG || rc == FT_EADDCP,
				      "flip at %zu alone: %s", i,
				      ft_errname(rc));
			bad[i] = saved;
		}
	}
	free(bad);
	/* The witness's cosignature of another text. */
	{
		char other[FT_NOTE_SIG_LINE_MAX + 1];
		size_t n = 0;

		ck_assert_int_eq(ft_note_sig_line(&f.wit,
						  (const uint8_t *)"x\n", 2,
						  1700000000, other,
						  sizeof other, &n),
				 0);
		ck_assert_int_eq(check_cosig(&f, other, &ts, line, &line_len),
				 FT_ENOTE_BADSIG);
	}
	/* Malformed bodies. */
	ck_assert_int_eq(check_cosig(&f, "", &ts, line, &line_len), FT_EADDCP);
	ck_assert_int_eq(check_cosig(&f, "\n", &ts, line, &line_len),
			 FT_EADDCP);
	ck_assert_int_eq(check_cosig(&f, "garbage\n", &ts, line, &line_len),
			 FT_EADDCP);
	(void)snprintf(body, sizeof body, "%sgarbage\n", f.wline);
	ck_assert_int_eq(check_cosig(&f, body, &ts, line, &line_len),
			 FT_EADDCP);
	(void)snprintf(body, sizeof body, "%.*s", (int)f.wlen - 1, f.wline);
	ck_assert_int_eq(check_cosig(&f, body, &ts, line, &line_len),
			 FT_EADDCP); /* no final newline */
	(void)snprintf(body, sizeof body, "%s\n", f.wline);
	ck_assert_int_eq(check_cosig(&f, body, &ts, line, &line_len),
			 FT_EADDCP); /* an empty line */
	(void)snprintf(body, sizeof body, "%.*s\r\n", (int)f.wlen - 1, f.wline);
	ck_assert_int_eq(check_cosig(&f, body, &ts, line, &line_len),
			 FT_EADDCP);
	ck_assert_int_eq(check_cosig(&f, "— name !!!!\n", &ts, line,
				     &line_len),
			 FT_EADDCP);
	ck_assert_int_eq(check_cosig(&f, "— name\n", &ts, line, &line_len),
			 FT_EADDCP);
	ck_assert_int_eq(check_cosig(&f, "- name AAAAAAAA\n", &ts, line,
				     &line_len),
			 FT_EADDCP);
	/* More than FT_NOTE_MAX_SIGS lines. */
	{
		size_t off = 0;

		for (int i = 0; i <= FT_NOTE_MAX_SIGS; i++) {
			const char *src = i == 0 ? f.wline : f.oline;
			size_t n = i == 0 ? f.wlen : f.olen;

			ck_assert_uint_lt(off + n, sizeof body);
			memcpy(body + off, src, n);
			off += n;
		}
		body[off] = '\0';
		ck_assert_int_eq(check_cosig(&f, body, &ts, line, &line_len),
				 FT_EADDCP);
	}
	/* A small line buffer. */
	ck_assert_int_eq(ft_addcp_check_cosig(f.text, f.tlen, &f.wit_v,
					      (const uint8_t *)f.wline, f.wlen,
					      line, FT_NOTE_SIG_LINE_MAX,
					      &line_len, &ts),
			 FT_EBUFSIZE);
	/* A non-cosignature key as the witness. */
	ck_assert_int_eq(ft_addcp_check_cosig(f.text, f.tlen, &f.log_v,
					      (const uint8_t *)f.lline, f.llen,
					      line, sizeof line, &line_len,
					      &ts),
			 FT_EKEY_ALG);
}
END_TEST

/* ==== Running ftlog ===================================================== */

static const char *ftlog_path(void)
{
	static char path[1024];
	const char *p = getenv("FTLOG_FTLOG");
	const char *b = getenv("FTLOG_BUILDDIR");

	if (p != NULL && *p != '\0') {
		return p;
	}
	(void)snprintf(path, sizeof path, "%s/tools/ftlog",
		       b != NULL && *b != '\0' ? b : ".");
	return path;
}

/* Run prog with argv (NULL-terminated, without argv[0]) in tmp; stdin
 * from stdin_path or /dev/null; stdout/stderr into *out, *err. */
static int run_prog(const char *prog, const char *const *argv,
		    const char *stdin_path, const char *tmp, char **out,
		    char **err)
{
	tu_result r;

	tu_run(tmp, prog, argv, stdin_path, RUN_TIMEOUT_S, &r);
	*out = r.out;
	*err = r.err;
	return r.status;
}

#define NO_SANITIZER(s)                                                     \
	ck_assert_msg(strstr((s), "Sanitizer") == NULL &&                  \
			      strstr((s), "runtime error:") == NULL,       \
		      "sanitizer report:\n%s", (s))

/* A witness under test: its directory, logs file and process. */
typedef struct wit {
	char *tmp;      /* temporary directory */
	char *dir;      /* tmp/w: the witness directory */
	char *logs;     /* tmp/logs */
	char *ready;    /* tmp/ready */
	char *errlog;   /* tmp/witness.log: stderr of serve */
	char vkey[FT_KEY_STR_MAX + 1];
	ft_vkey vk;
	pid_t pid;
	int port;
} wit;

static void wit_write_logs(wit *w, const char *text)
{
	ck_assert_int_eq(tu_write_file(w->logs, text, strlen(text)), 0);
}

/* Temp dir, `ftlog witness init`, and the logs file. */
static void wit_init(wit *w, const char *logs_text)
{
	const char *argv[] = {"witness", "init", NULL, NULL, "--name",
			      WIT_NAME, NULL};
	char *out = NULL, *err = NULL;
	size_t n;
	int st;

	memset(w, 0, sizeof *w);
	w->tmp = tu_tmpdir();
	w->dir = tu_strf("%s/w", w->tmp);
	w->logs = tu_strf("%s/logs", w->tmp);
	w->ready = tu_strf("%s/ready", w->tmp);
	w->errlog = tu_strf("%s/witness.log", w->tmp);
	argv[2] = "--dir";
	argv[3] = w->dir;
	st = run_prog(ftlog_path(), argv, NULL, w->tmp, &out, &err);
	ck_assert_msg(st == 0, "witness init: exit %d\n%s", st, err);
	NO_SANITIZER(err);
	n = strlen(out);
	ck_assert(n > 0 && out[n - 1] == '\n' && n < sizeof w->vkey);
	memcpy(w->vkey, out, n - 1);
	w->vkey[n - 1] = '\0';
	ck_assert_int_eq(ft_vkey_parse(w->vkey, n - 1, &w->vk), 0);
	ck_assert_int_eq(w->vk.type, FT_KEY_COSIG_V1);
	ck_assert_str_eq(w->vk.name, WIT_NAME);
	free(out);
	free(err);
	wit_write_logs(w, logs_text);
}

static int read_port(const char *path)
{
	size_t len = 0;
	char *s = (char *)tu_read_file(path, &len);
	const char *colon;
	int port;

	if (s == NULL) {
		return -1;
	}
	colon = strrchr(s, ':');
	port = colon != NULL && len > 0 && s[len - 1] == '\n'
		       ? atoi(colon + 1)
		       : -1;
	free(s);
	return port;
}

/* Start `ftlog witness serve`; wait (20 s) for the ready file. 0 or -1
 * (the process exited: its status in *exit_status). */
static int wit_try_start(wit *w, int *exit_status)
{
	const char *prog = ftlog_path();
	pid_t pid;

	(void)unlink(w->ready);
	pid = fork();
	ck_assert(pid >= 0);
	if (pid == 0) {
		int e = open(w->errlog, O_WRONLY | O_CREAT | O_APPEND, 0600);
		int in = open("/dev/null", O_RDONLY);

		(void)prctl(PR_SET_PDEATHSIG, SIGKILL);
		if (e < 0 || in < 0 || dup2(e, 2) < 0 || dup2(e, 1) < 0 ||
		    dup2(in, 0) < 0) {
			_exit(126);
		}
		execl(prog, prog, "witness", "serve", "--dir", w->dir,
		      "--logs", w->logs, "--listen", "127.0.0.1:0",
		      "--ready-file", w->ready, "--timeout", "20s",
		      (char *)NULL);
		_exit(127);
	}
	for (int i = 0; i < 2000; i++) {
		int st;
		pid_t r = waitpid(pid, &st, WNOHANG);

		if (r == pid) {
			*exit_status = WIFEXITED(st) ? WEXITSTATUS(st) : -1;
			return -1;
		}
		w->port = read_port(w->ready);
		if (w->port > 0) {
			w->pid = pid;
			return 0;
		}
		tu_sleep_ms(10);
	}
	(void)kill(pid, SIGKILL);
	(void)waitpid(pid, NULL, 0);
	ck_abort_msg("witness did not become ready in 20 s");
	return -1;
}

static char *wit_log_text(const wit *w)
{
	size_t len = 0;
	char *s = (char *)tu_read_file(w->errlog, &len);

	return s != NULL ? s : strdup("");
}

static void wit_start(wit *w)
{
	int st = 0;

	if (wit_try_start(w, &st) != 0) {
		char *log = wit_log_text(w);

		ck_abort_msg("witness serve exited %d:\n%s", st, log);
	}
}

/* SIGTERM and wait (20 s): the exit status. */
static int wit_stop(wit *w)
{
	int st = 0;

	ck_assert(w->pid > 0);
	ck_assert_int_eq(kill(w->pid, SIGTERM), 0);
	for (int i = 0; i < 2000; i++) {
		pid_t r = waitpid(w->pid, &st, WNOHANG);

		if (r == w->pid) {
			w->pid = 0;
			return WIFEXITED(st) ? WEXITSTATUS(st)
					     : 128 + WTERMSIG(st);
		}
		tu_sleep_ms(10);
	}
	(void)kill(w->pid, SIGKILL);
	(void)waitpid(w->pid, NULL, 0);
	w->pid = 0;
	ck_abort_msg("witness did not stop within 20 s of SIGTERM");
	return -1;
}

static void wit_kill9(wit *w)
{
	ck_assert(w->pid > 0);
	ck_assert_int_eq(kill(w->pid, SIGKILL), 0);
	(void)waitpid(w->pid, NULL, 0);
	w->pid = 0;
}

/* Stop (gracefully: exit 0 demanded), check the log, remove the dir. */
static void wit_done(wit *w)
{
	char *log;

	if (w->pid > 0) {
		ck_assert_int_eq(wit_stop(w), 0);
	}
	log = wit_log_text(w);
	NO_SANITIZER(log);
	free(log);
	if (getenv("FTLOG_KEEP_TMP") == NULL) {
		tu_rmtree(w->tmp);
	}
	free(w->tmp);
	free(w->dir);
	free(w->logs);
	free(w->ready);
	free(w->errlog);
	memset(w, 0, sizeof *w);
}

/* ==== Talking to the witness ============================================ */

typedef struct ans {
	int status;
	char ct[128];
	char *body;
	size_t len;
} ans;

static void ans_free(ans *a)
{
	free(a->body);
	memset(a, 0, sizeof *a);
}

/* One request; any HTTP status is fine, a transport error is not. */
static void http(int port, const char *method, const char *path,
		 const uint8_t *body, size_t len, ans *a)
{
	char url[64], err[256];
	ft_httpc_req rq;
	ft_httpc_resp rs;
	int rc;

	(void)snprintf(url, sizeof url, "http://127.0.0.1:%d", port);
	memset(&rq, 0, sizeof rq);
	rq.url = url;
	rq.method = method;
	rq.path = path;
	rq.body = body;
	rq.body_len = len;
	rq.content_type = body != NULL ? "text/plain" : NULL;
	rq.timeout_ms = 30000;
	rc = ft_httpc_do(&rq, &rs, err, sizeof err);
	ck_assert_msg(rc == 0, "%s %s: %s", method, path, err);
	memset(a, 0, sizeof *a);
	a->status = rs.status;
	(void)snprintf(a->ct, sizeof a->ct, "%s", rs.content_type);
	a->body = (char *)rs.body; /* NUL-terminated; now ours */
	a->len = rs.body_len;
}

static void post(const wit *w, const uint8_t *body, size_t len, ans *a)
{
	http(w->port, "POST", "/add-checkpoint", body, len, a);
}

/* POST a checkpoint of l at size with old and the right proof. */
static void submit(const wit *w, const tlog *l, uint64_t old, uint64_t size,
		   ans *a)
{
	uint8_t note[2048];
	ft_hash proof[FT_ADDCP_PROOF_MAX];
	size_t nlen = tlog_note(l, size, note, sizeof note);
	size_t np = tlog_proof(l, old, size, proof);
	size_t blen = 0;
	uint8_t *body = body_of(old, proof, np, note, nlen, &blen);

	post(w, body, blen, a);
	free(body);
}

/* An error answer: the status, text/plain and one line of reason. */
#define EXPECT_ERR(a, st)                                                   \
	do {                                                                \
		ck_assert_msg((a).status == (st), "status %d, want %d: %s",  \
			      (a).status, (st), (a).body);                  \
		ck_assert_msg(strncmp((a).ct, "text/plain", 10) == 0,        \
			      "content type %s", (a).ct);                   \
		ck_assert_msg((a).len > 1 && (a).body[(a).len - 1] == '\n' && \
				      strchr((a).body, '\n') ==             \
					      (a).body + (a).len - 1,       \
			      "not one line: [%s]", (a).body);              \
	} while (0)

/* A 409: content type text/x.tlog.size and body "<size>\n". */
static void expect_409(const ans *a, uint64_t size)
{
	char want[32];

	(void)snprintf(want, sizeof want, "%" PRIu64 "\n", size);
	ck_assert_msg(a->status == 409, "status %d, want 409: %s", a->status,
		      a->body);
	ck_assert_str_eq(a->ct, CT_SIZE);
	ck_assert_str_eq(a->body, want);
	ck_assert_uint_eq(a->len, strlen(want));
}

/* A probe of the stored size: old 0 for a checkpoint of l at `at` must be
 * a 409 with `size`, or a 200 when nothing is stored (size 0, at 0...).*/
static void expect_stored(const wit *w, const tlog *l, uint64_t size)
{
	ans a;

	/* old = size + 1 never matches, whatever is stored. */
	submit(w, l, size + 1, size + 1, &a);
	expect_409(&a, size);
	ans_free(&a);
}

/*
 * A 200 answer: text/plain, exactly one cosignature line by the witness
 * over the checkpoint's text, dated between t0 and now; the checkpoint
 * with the line appended opens with the log key and the witness key.
 * The cosigned note goes to out (if not NULL).
 */
static void expect_cosig(const wit *w, const tlog *l, uint64_t size,
			 const ans *a, time_t t0, uint8_t *out, size_t cap,
			 size_t *out_len)
{
	uint8_t note[2048 + FT_NOTE_SIG_LINE_MAX];
	char line[FT_NOTE_SIG_LINE_MAX + 1];
	ft_vkey both[2];
	ft_note_sig st[2];
	size_t nlen, tlen = 0, line_len = 0, tlen2 = 0;
	uint64_t ts = 0;

	ck_assert_msg(a->status == 200, "status %d, want 200: %s", a->status,
		      a->body);
	ck_assert_str_eq(a->ct, "text/plain; charset=utf-8");
	ck_assert_msg(strchr(a->body, '\n') == a->body + a->len - 1,
		      "not one line: %s", a->body);
	nlen = tlog_note(l, size, note, 2048);
	ck_assert_int_eq(ft_note_open(note, nlen, &l->vk, 1, NULL, &tlen), 0);
	ck_assert_int_eq(ft_addcp_check_cosig(note, tlen, &w->vk,
					      (const uint8_t *)a->body, a->len,
					      line, sizeof line, &line_len,
					      &ts),
			 0);
	ck_assert_uint_ge(ts, (uint64_t)t0);
	ck_assert_uint_le(ts, (uint64_t)time(NULL));
	memcpy(note + nlen, a->body, a->len);
	nlen += a->len;
	both[0] = l->vk;
	both[1] = w->vk;
	ck_assert_int_eq(ft_note_open(note, nlen, both, 2, st, &tlen2), 0);
	ck_assert_uint_eq(tlen2, tlen);
	ck_assert_int_eq(st[0].verified, 1);
	ck_assert_int_eq(st[1].verified, 1);
	ck_assert_uint_eq(st[1].timestamp, ts);
	if (out != NULL) {
		ck_assert_uint_le(nlen, cap);
		memcpy(out, note, nlen);
		*out_len = nlen;
	}
}

static char *logs_line(const char *a, const char *b, const char *c)
{
	return tu_strf("# witnessed logs\n\n%s\n%s%s%s%s", a,
		       b != NULL ? b : "", b != NULL ? "\n" : "",
		       c != NULL ? c : "", c != NULL ? "\n" : "");
}

/* ==== Server tests ====================================================== */

START_TEST(test_statuses)
{
	tlog *la = malloc(sizeof *la), *fork_a = malloc(sizeof *fork_a);
	tlog *stranger = malloc(sizeof *stranger), *lb = malloc(sizeof *lb);
	uint8_t note[2048], text[512];
	ft_hash proof[FT_ADDCP_PROOF_MAX];
	size_t nlen, tlen, blen, np;
	uint8_t *body;
	time_t t0 = time(NULL);
	char *logs;
	wit w;
	ans a;

	ck_assert(la && fork_a && stranger && lb);
	tlog_init(la, LOG_A, 0x11, 0);
	tlog_init(fork_a, LOG_A, 0x11, 1);   /* same key, other leaves */
	tlog_init(stranger, LOG_A, 0x99, 0); /* same name, unknown key */
	tlog_init(lb, LOG_B, 0x12, 2);
	logs = logs_line(la->vkey, lb->vkey, NULL);
	wit_init(&w, logs);
	free(logs);
	wit_start(&w);

	/* Routing. */
	http(w.port, "GET", "/healthz", NULL, 0, &a);
	ck_assert_int_eq(a.status, 200);
	ans_free(&a);
	http(w.port, "GET", "/add-checkpoint", NULL, 0, &a);
	EXPECT_ERR(a, 405);
	ans_free(&a);
	http(w.port, "POST", "/healthz", (const uint8_t *)"x", 1, &a);
	EXPECT_ERR(a, 405);
	ans_free(&a);
	http(w.port, "GET", "/nope", NULL, 0, &a);
	EXPECT_ERR(a, 404);
	ans_free(&a);
	http(w.port, "POST", "/add-checkpoint/", (const uint8_t *)"x", 1, &a);
	EXPECT_ERR(a, 404);
	ans_free(&a);

	/* 200: the first checkpoint, from old 0 without a proof. */
	submit(&w, la, 0, 5, &a);
	expect_cosig(&w, la, 5, &a, t0, NULL, 0, NULL);
	ans_free(&a);
	/* 409: old 0 is stale now. */
	submit(&w, la, 0, 5, &a);
	expect_409(&a, 5);
	ans_free(&a);
	submit(&w, la, 3, 9, &a);
	expect_409(&a, 5);
	ans_free(&a);
	/* The same checkpoint again (old == size, same root): cosigned. */
	submit(&w, la, 5, 5, &a);
	expect_cosig(&w, la, 5, &a, t0, NULL, 0, NULL);
	ans_free(&a);
	/* Same size, another root (a fork signed by the same key): 409. */
	submit(&w, fork_a, 5, 5, &a);
	expect_409(&a, 5);
	ans_free(&a);
	/* Same size with a (non-empty) proof: 422. */
	nlen = tlog_note(la, 5, note, sizeof note);
	np = tlog_proof(la, 4, 5, proof);
	ck_assert_uint_gt(np, 0);
	body = body_of(5, proof, np, note, nlen, &blen);
	post(&w, body, blen, &a);
	EXPECT_ERR(a, 422);
	ans_free(&a);
	free(body);
	/* A fork at a larger size from the stored one: its proof does not
	 * lead to the stored root. 422. */
	submit(&w, fork_a, 5, 8, &a);
	EXPECT_ERR(a, 422);
	ans_free(&a);
	/* 200: 5 -> 7 with the right proof. */
	submit(&w, la, 5, 7, &a);
	expect_cosig(&w, la, 7, &a, t0, NULL, 0, NULL);
	ans_free(&a);

	/* 422: bad proofs from 7 to 13: each hash flipped, one hash too
	 * few, one too many, no proof at all. */
	nlen = tlog_note(la, 13, note, sizeof note);
	np = tlog_proof(la, 7, 13, proof);
	ck_assert_uint_ge(np, 3);
	for (size_t i = 0; i < np; i++) {
		proof[i].b[i % FT_HASH_LEN] ^= 0x01;
		body = body_of(7, proof, np, note, nlen, &blen);
		post(&w, body, blen, &a);
		EXPECT_ERR(a, 422);
		ans_free(&a);
		free(body);
		proof[i].b[i % FT_HASH_LEN] ^= 0x01;
	}
	body = body_of(7, proof, np - 1, note, nlen, &blen);
	post(&w, body, blen, &a);
	EXPECT_ERR(a, 422);
	ans_free(&a);
	free(body);
	proof[np] = proof[0];
	body = body_of(7, proof, np + 1, note, nlen, &blen);
	post(&w, body, blen, &a);
	EXPECT_ERR(a, 422);
	ans_free(&a);
	free(body);
	body = body_of(7, proof, 0, note, nlen, &blen);
	post(&w, body, blen, &a);
	EXPECT_ERR(a, 422);
	ans_free(&a);
	free(body);

	/* 422: a proof with old size 0 (log B has nothing stored). */
	nlen = tlog_note(lb, 4, note, sizeof note);
	np = tlog_proof(lb, 2, 4, proof);
	body = body_of(0, proof, np, note, nlen, &blen);
	post(&w, body, blen, &a);
	EXPECT_ERR(a, 422);
	ans_free(&a);
	free(body);

	/* 400: old size above the checkpoint's (7 stored: 7 > 6). */
	submit(&w, la, 7, 6, &a);
	EXPECT_ERR(a, 400);
	ans_free(&a);
	/* 400: malformed requests. */
	{
		static const char *bad[] = {
			"garbage",
			"old 8\n",
			"old 08\n\nx\n",
			"old 8\nnot base64\n\nx\n",
		};
		for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
			post(&w, (const uint8_t *)bad[i], strlen(bad[i]), &a);
			EXPECT_ERR(a, 400);
			ans_free(&a);
		}
		post(&w, (const uint8_t *)"", 0, &a);
		EXPECT_ERR(a, 400);
		ans_free(&a);
	}
	/* 400: a CR in the body. */
	nlen = tlog_note(la, 8, note, sizeof note);
	body = body_of(8, NULL, 0, note, nlen, &blen);
	body[5] = '\r';
	post(&w, body, blen, &a);
	EXPECT_ERR(a, 400);
	ans_free(&a);
	free(body);
	/* 400: a note signed by the log whose text is no checkpoint. */
	{
		static const char t[] = LOG_A "\nnot a size\nxx\n";

		nlen = sign_text((const uint8_t *)t, sizeof t - 1, &la->key, 1,
				 note, sizeof note);
		body = body_of(0, NULL, 0, note, nlen, &blen);
		post(&w, body, blen, &a);
		EXPECT_ERR(a, 400);
		ans_free(&a);
		free(body);
	}
	/* 400: a note without a signature block. */
	tlen = tlog_text(la, 8, text, sizeof text);
	body = body_of(8, NULL, 0, text, tlen, &blen);
	post(&w, body, blen, &a);
	EXPECT_ERR(a, 400);
	ans_free(&a);
	free(body);

	/* 403: signed only by an unknown key with the log's name. */
	submit(&w, stranger, 8, 8, &a);
	EXPECT_ERR(a, 403);
	ans_free(&a);
	/* 403: the log's signature broken (one base64 character). */
	nlen = tlog_note(la, 8, note, sizeof note);
	note[nlen - 10] = note[nlen - 10] == 'A' ? 'B' : 'A';
	body = body_of(8, NULL, 0, note, nlen, &blen);
	post(&w, body, blen, &a);
	EXPECT_ERR(a, 403);
	ans_free(&a);
	free(body);
	/* An unknown key's signature next to the log's is ignored: 200. */
	tlen = tlog_text(la, 7, text, sizeof text);
	{
		ft_skey two[2] = {stranger->key, la->key};

		nlen = sign_text(text, tlen, two, 2, note, sizeof note);
	}
	body = body_of(7, NULL, 0, note, nlen, &blen);
	post(&w, body, blen, &a);
	expect_cosig(&w, la, 7, &a, t0, NULL, 0, NULL);
	ans_free(&a);
	free(body);

	/* 404: an origin the witness does not follow. */
	{
		tlog *lc = malloc(sizeof *lc);

		ck_assert_ptr_nonnull(lc);
		tlog_init(lc, "example.org/log-c", 0x13, 3);
		submit(&w, lc, 0, 3, &a);
		EXPECT_ERR(a, 404);
		ans_free(&a);
		free(lc);
	}

	/* Nothing failed changed the state: 7 for A, nothing for B. */
	expect_stored(&w, la, 7);
	submit(&w, lb, 1, 1, &a);
	expect_409(&a, 0);
	ans_free(&a);

	/* The log names every outcome. */
	{
		char *log = wit_log_text(&w);

		ck_assert_ptr_nonnull(strstr(log, "origin=\"" LOG_A "\""));
		ck_assert_ptr_nonnull(strstr(log, "status=422"));
		ck_assert_ptr_nonnull(strstr(log, "status=404"));
		free(log);
	}
	wit_done(&w);
	free(la);
	free(fork_a);
	free(stranger);
	free(lb);
}
END_TEST

/* Read an HTTP response from fd until EOF (at most cap-1 bytes). */
static size_t read_all(int fd, char *buf, size_t cap)
{
	size_t n = 0;

	for (;;) {
		struct pollfd p = {fd, POLLIN, 0};
		ssize_t r;

		ck_assert_int_eq(poll(&p, 1, 20000), 1);
		r = read(fd, buf + n, cap - 1 - n);
		if (r < 0 && errno == EINTR) {
			continue;
		}
		if (r <= 0 || (size_t)(n + (size_t)r) >= cap - 1) {
			if (r > 0) {
				n += (size_t)r;
			}
			break;
		}
		n += (size_t)r;
	}
	buf[n] = '\0';
	return n;
}

START_TEST(test_body_limit)
{
	tlog *la = malloc(sizeof *la);
	struct sockaddr_in sa;
	char head[256], resp[4096];
	uint8_t *big;
	wit w;
	ans a;
	int fd, n;

	ck_assert_ptr_nonnull(la);
	tlog_init(la, LOG_A, 0x11, 0);
	wit_init(&w, la->vkey);
	wit_start(&w);
	/* Exactly FT_ADDCP_BODY_MAX bytes pass the HTTP layer (and are a
	 * malformed request: 400). */
	big = malloc(FT_ADDCP_BODY_MAX + 1);
	ck_assert_ptr_nonnull(big);
	memset(big, 'x', FT_ADDCP_BODY_MAX + 1);
	post(&w, big, FT_ADDCP_BODY_MAX, &a);
	EXPECT_ERR(a, 400);
	ans_free(&a);
	free(big);
	/* One byte more is refused by the HTTP layer on its announced
	 * length: 413 before any body byte is read. */
	fd = socket(AF_INET, SOCK_STREAM, 0);
	ck_assert_int_ge(fd, 0);
	memset(&sa, 0, sizeof sa);
	sa.sin_family = AF_INET;
	sa.sin_port = htons((uint16_t)w.port);
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	ck_assert_int_eq(connect(fd, (struct sockaddr *)&sa, sizeof sa), 0);
	n = snprintf(head, sizeof head,
		     "POST /add-checkpoint HTTP/1.1\r\nHost: x\r\n"
		     "Content-Length: %d\r\n\r\n",
		     (int)FT_ADDCP_BODY_MAX + 1);
	ck_assert_int_eq(write(fd, head, (size_t)n), n);
	(void)read_all(fd, resp, sizeof resp);
	(void)close(fd);
	ck_assert_msg(strncmp(resp, "HTTP/1.1 413 ", 13) == 0, "got: %s",
		      resp);
	/* Still serving, nothing stored. */
	submit(&w, la, 1, 1, &a);
	expect_409(&a, 0);
	ans_free(&a);
	wit_done(&w);
	free(la);
}
END_TEST

START_TEST(test_two_logs)
{
	tlog *la = malloc(sizeof *la), *la2 = malloc(sizeof *la2);
	tlog *lb = malloc(sizeof *lb);
	uint8_t note[2048], text[512];
	size_t nlen, tlen, blen;
	uint8_t *body;
	time_t t0 = time(NULL);
	char *logs;
	wit w;
	ans a;

	ck_assert(la && la2 && lb);
	tlog_init(la, LOG_A, 0x11, 0);
	tlog_init(la2, LOG_A, 0x31, 0); /* a second key of log A */
	tlog_init(lb, LOG_B, 0x12, 2);
	logs = logs_line(la->vkey, lb->vkey, la2->vkey);
	wit_init(&w, logs);
	free(logs);
	wit_start(&w);

	submit(&w, la, 0, 4, &a);
	expect_cosig(&w, la, 4, &a, t0, NULL, 0, NULL);
	ans_free(&a);
	/* B is independent of A. */
	submit(&w, lb, 4, 10, &a);
	expect_409(&a, 0);
	ans_free(&a);
	submit(&w, lb, 0, 10, &a);
	expect_cosig(&w, lb, 10, &a, t0, NULL, 0, NULL);
	ans_free(&a);
	submit(&w, lb, 10, 17, &a);
	expect_cosig(&w, lb, 17, &a, t0, NULL, 0, NULL);
	ans_free(&a);
	/* A signed by its second key only: accepted (same tree). */
	submit(&w, la2, 4, 6, &a);
	expect_cosig(&w, la2, 6, &a, t0, NULL, 0, NULL);
	ans_free(&a);
	/* Both keys of A signing: accepted. */
	tlen = tlog_text(la, 9, text, sizeof text);
	{
		ft_skey two[2] = {la->key, la2->key};
		ft_hash proof[FT_ADDCP_PROOF_MAX];
		size_t np = tlog_proof(la, 6, 9, proof);

		nlen = sign_text(text, tlen, two, 2, note, sizeof note);
		body = body_of(6, proof, np, note, nlen, &blen);
	}
	post(&w, body, blen, &a);
	ck_assert_int_eq(a.status, 200);
	ans_free(&a);
	free(body);
	/* B's key does not sign A's checkpoints: its name differs, so
	 * for origin A it is an unknown key. */
	tlen = tlog_text(la, 9, text, sizeof text);
	nlen = sign_text(text, tlen, &lb->key, 1, note, sizeof note);
	body = body_of(9, NULL, 0, note, nlen, &blen);
	post(&w, body, blen, &a);
	EXPECT_ERR(a, 403);
	ans_free(&a);
	free(body);

	expect_stored(&w, la, 9);
	expect_stored(&w, lb, 17);
	wit_done(&w);
	free(la);
	free(la2);
	free(lb);
}
END_TEST

START_TEST(test_persistence)
{
	tlog *la = malloc(sizeof *la), *lb = malloc(sizeof *lb);
	time_t t0 = time(NULL);
	char *logs;
	wit w;
	ans a;

	ck_assert(la && lb);
	tlog_init(la, LOG_A, 0x11, 0);
	tlog_init(lb, LOG_B, 0x12, 2);
	logs = logs_line(la->vkey, lb->vkey, NULL);
	wit_init(&w, logs);
	free(logs);
	wit_start(&w);
	submit(&w, la, 0, 5, &a);
	expect_cosig(&w, la, 5, &a, t0, NULL, 0, NULL);
	ans_free(&a);
	/* The answer came after the commit: kill -9 loses nothing. */
	wit_kill9(&w);
	wit_start(&w);
	expect_stored(&w, la, 5);
	submit(&w, la, 0, 5, &a);
	expect_409(&a, 5);
	ans_free(&a);
	submit(&w, la, 5, 7, &a);
	expect_cosig(&w, la, 7, &a, t0, NULL, 0, NULL);
	ans_free(&a);
	submit(&w, lb, 0, 2, &a);
	expect_cosig(&w, lb, 2, &a, t0, NULL, 0, NULL);
	ans_free(&a);
	wit_kill9(&w);
	wit_start(&w);
	expect_stored(&w, la, 7);
	expect_stored(&w, lb, 2);
	/* A graceful stop exits 0, logs it, and keeps the state too. */
	ck_assert_int_eq(wit_stop(&w), 0);
	{
		char *log = wit_log_text(&w);

		ck_assert_ptr_nonnull(strstr(log, "stopped"));
		free(log);
	}
	wit_start(&w);
	expect_stored(&w, la, 7);
	/* A changed logs file (B dropped) is read at start; B's state
	 * stays in the database but B is unknown now. */
	ck_assert_int_eq(wit_stop(&w), 0);
	wit_write_logs(&w, la->vkey);
	wit_start(&w);
	submit(&w, lb, 2, 3, &a);
	EXPECT_ERR(a, 404);
	ans_free(&a);
	expect_stored(&w, la, 7);
	wit_done(&w);
	free(la);
	free(lb);
}
END_TEST

/* ---- Racing requests. */

#define RACERS 8
#define ROUNDS 6

typedef struct racer {
	const wit *w;
	const tlog *l;
	pthread_barrier_t *bar;
	uint8_t *body;
	size_t len;
	uint64_t size;
	int status;
	char ct[128];
	char resp[64];
	char err[256];
	int rc;
} racer;

static void *race(void *arg)
{
	racer *r = arg;
	char url[64];
	ft_httpc_req rq;
	ft_httpc_resp rs;

	(void)snprintf(url, sizeof url, "http://127.0.0.1:%d", r->w->port);
	memset(&rq, 0, sizeof rq);
	rq.url = url;
	rq.method = "POST";
	rq.path = "/add-checkpoint";
	rq.body = r->body;
	rq.body_len = r->len;
	rq.timeout_ms = 30000;
	(void)pthread_barrier_wait(r->bar);
	r->rc = ft_httpc_do(&rq, &rs, r->err, sizeof r->err);
	if (r->rc == 0) {
		r->status = rs.status;
		(void)snprintf(r->ct, sizeof r->ct, "%s", rs.content_type);
		(void)snprintf(r->resp, sizeof r->resp, "%.*s",
			       (int)(rs.body_len < 63 ? rs.body_len : 63),
			       (const char *)rs.body);
		ft_httpc_resp_free(&rs);
	}
	return NULL;
}

START_TEST(test_race)
{
	tlog *la = malloc(sizeof *la);
	uint64_t stored = 0;
	wit w;

	ck_assert_ptr_nonnull(la);
	tlog_init(la, LOG_A, 0x11, 0);
	wit_init(&w, la->vkey);
	wit_start(&w);
	for (int round = 0; round < ROUNDS; round++) {
		pthread_t th[RACERS];
		racer rs[RACERS];
		pthread_barrier_t bar;
		uint64_t winner = 0;
		int wins = 0;

		ck_assert_int_eq(pthread_barrier_init(&bar, NULL, RACERS), 0);
		/* Every racer has a valid request from the stored size:
		 * sizes stored+1 .. stored+RACERS, in a shuffled order. */
		for (int i = 0; i < RACERS; i++) {
			uint64_t size = stored + 1 +
					(uint64_t)((i * 5 + round) % RACERS);
			uint8_t note[2048];
			ft_hash proof[FT_ADDCP_PROOF_MAX];
			size_t nlen = tlog_note(la, size, note, sizeof note);
			size_t np = tlog_proof(la, stored, size, proof);

			memset(&rs[i], 0, sizeof rs[i]);
			rs[i].w = &w;
			rs[i].l = la;
			rs[i].bar = &bar;
			rs[i].size = size;
			rs[i].body = body_of(stored, proof, np, note, nlen,
					     &rs[i].len);
		}
		for (int i = 0; i < RACERS; i++) {
			ck_assert_int_eq(pthread_create(&th[i], NULL, race,
							&rs[i]),
					 0);
		}
		for (int i = 0; i < RACERS; i++) {
			ck_assert_int_eq(pthread_join(th[i], NULL), 0);
		}
		(void)pthread_barrier_destroy(&bar);
		/* Exactly one wins; every other one is told the winner's
		 * size (it was checked after the winner's commit). */
		for (int i = 0; i < RACERS; i++) {
			ck_assert_msg(rs[i].rc == 0, "racer %d: %s", i,
				      rs[i].err);
			if (rs[i].status == 200) {
				ck_assert_str_eq(rs[i].ct,
						 "text/plain; charset=utf-8");
				wins++;
				winner = rs[i].size;
			} else {
				ck_assert_msg(rs[i].status == 409,
					      "racer %d: status %d %s", i,
					      rs[i].status, rs[i].resp);
				ck_assert_str_eq(rs[i].ct, CT_SIZE);
			}
		}
		ck_assert_int_eq(wins, 1);
		ck_assert_uint_gt(winner, stored);
		for (int i = 0; i < RACERS; i++) {
			if (rs[i].status == 409) {
				char want[32];

				(void)snprintf(want, sizeof want,
					       "%" PRIu64 "\n", winner);
				ck_assert_str_eq(rs[i].resp, want);
			}
			free(rs[i].body);
		}
		/* Never backwards: the stored size is the winner's. */
		expect_stored(&w, la, winner);
		stored = winner;
	}
	wit_done(&w);
	free(la);
}
END_TEST

/* ---- Command line. */

START_TEST(test_init_refuses)
{
	tlog *la = malloc(sizeof *la);
	char *key_before, *key_after, *kpath, *out = NULL, *err = NULL;
	size_t n1 = 0, n2 = 0;
	struct stat st;
	wit w;
	int rc;

	ck_assert_ptr_nonnull(la);
	tlog_init(la, LOG_A, 0x11, 0);
	wit_init(&w, la->vkey);
	kpath = tu_strf("%s/witness.key", w.dir);
	ck_assert_int_eq(stat(kpath, &st), 0);
	ck_assert_int_eq(st.st_mode & 0777, 0600);
	ck_assert_int_eq(stat(w.dir, &st), 0);
	ck_assert_int_eq(st.st_mode & 0777, 0700);
	key_before = (char *)tu_read_file(kpath, &n1);
	ck_assert_ptr_nonnull(key_before);
	ck_assert(strncmp(key_before, "PRIVATE+KEY+" WIT_NAME "+", 12 +
			  strlen(WIT_NAME) + 1) == 0);
	{
		const char *argv[] = {"witness", "init", "--dir", w.dir,
				      "--name", "witness.example/w2", NULL};

		rc = run_prog(ftlog_path(), argv, NULL, w.tmp, &out, &err);
		ck_assert_msg(rc == 1, "exit %d: %s", rc, err);
		ck_assert_ptr_nonnull(strstr(err, "refusing"));
		ck_assert_str_eq(out, "");
		NO_SANITIZER(err);
		free(out);
		free(err);
	}
	key_after = (char *)tu_read_file(kpath, &n2);
	ck_assert_ptr_nonnull(key_after);
	ck_assert_uint_eq(n1, n2);
	ck_assert_int_eq(memcmp(key_before, key_after, n1), 0);
	/* Usage errors: exit 2. */
	{
		const char *a1[] = {"witness", "init", "--dir", w.dir, NULL};
		const char *a2[] = {"witness", "init", "--dir", w.dir,
				    "--name", "bad name", NULL};
		const char *a3[] = {"witness", "frobnicate", NULL};
		const char *a4[] = {"witness", "serve", "--dir", w.dir,
				    "--logs", w.logs, NULL};
		const char *a5[] = {"witness", "serve", "--dir", w.dir,
				    "--logs", w.logs, "--listen",
				    "127.0.0.1:0", "--timeout", "5 parsecs",
				    NULL};
		const char *const *bad[] = {a1, a2, a3, a4, a5};

		for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
			rc = run_prog(ftlog_path(), bad[i], NULL, w.tmp, &out,
				      &err);
			ck_assert_msg(rc == 2, "case %zu: exit %d: %s", i, rc,
				      err);
			NO_SANITIZER(err);
			free(out);
			free(err);
		}
	}
	/* --help of each subcommand: a manual page on stdout, exit 0. */
	{
		const char *h1[] = {"witness", "init", "--help", NULL};
		const char *h2[] = {"witness", "serve", "--help", NULL};
		const char *h3[] = {"witness", "--help", NULL};
		const char *const *hs[] = {h1, h2, h3};

		for (size_t i = 0; i < 3; i++) {
			rc = run_prog(ftlog_path(), hs[i], NULL, w.tmp, &out,
				      &err);
			ck_assert_int_eq(rc, 0);
			ck_assert_ptr_nonnull(strstr(out, "SYNOPSIS"));
			ck_assert_ptr_nonnull(strstr(out, "EXIT STATUS"));
			free(out);
			free(err);
		}
	}
	free(kpath);
	free(key_before);
	free(key_after);
	wit_done(&w);
	free(la);
}
END_TEST

/* serve with a bad logs file: exit 1 naming FILE:LINE. */
static void bad_logs(wit *w, const char *text, const char *want)
{
	char *log, *where;
	int st = 0;

	wit_write_logs(w, text);
	(void)truncate(w->errlog, 0);
	ck_assert_int_eq(wit_try_start(w, &st), -1);
	ck_assert_int_eq(st, 1);
	log = wit_log_text(w);
	where = tu_strf("%s%s", w->logs, want);
	ck_assert_msg(strstr(log, where) != NULL, "want \"%s\" in: %s", where,
		      log);
	NO_SANITIZER(log);
	free(where);
	free(log);
}

START_TEST(test_bad_logs_file)
{
	tlog *la = malloc(sizeof *la);
	ft_skey ck;
	ft_vkey cv;
	char cvs[FT_KEY_STR_MAX + 1];
	char *t;
	wit w;

	ck_assert_ptr_nonnull(la);
	tlog_init(la, LOG_A, 0x11, 0);
	key_of("some.witness", FT_KEY_COSIG_V1, 0x44, &ck, &cv);
	vkey_str(&cv, cvs, sizeof cvs);
	wit_init(&w, la->vkey);

	bad_logs(&w, "# logs\n\ngarbage\n", ":3:");
	t = tu_strf("%s\n%s\n", la->vkey, cvs);
	bad_logs(&w, t, ":2:");
	free(t);
	t = tu_strf("#\n%s\n%s\n", la->vkey, la->vkey);
	bad_logs(&w, t, ":3:");
	free(t);
	t = tu_strf("%s\r\n", la->vkey);
	bad_logs(&w, t, ":1:");
	free(t);
	bad_logs(&w, "# nothing\n\n", ": no log keys");
	/* A key with a corrupted key id. */
	t = strdup(la->vkey);
	ck_assert_ptr_nonnull(t);
	t[strlen(LOG_A) + 1] = t[strlen(LOG_A) + 1] == '0' ? '1' : '0';
	{
		char *u = tu_strf("\n\n\n%s\n", t);

		bad_logs(&w, u, ":4:");
		free(u);
	}
	free(t);
	/* Indentation, comments, a missing final newline: fine. */
	t = tu_strf("  # c\n\t%s  \n# end", la->vkey);
	wit_write_logs(&w, t);
	free(t);
	wit_start(&w);
	ck_assert_int_eq(wit_stop(&w), 0);
	wit_done(&w);
	free(la);
}
END_TEST

/* ---- Go interop. */

/* A runnable cosig checker, or NULL (printed why) when there is no go. */
static char *go_cosig_bin(const char *tmp)
{
	const char *p = getenv("FTLOG_GO_COSIG");
	const char *path = getenv("PATH");
	const char *src = getenv("FTLOG_SRCDIR");
	char *go = NULL, *main_go, *bin, *cache, *out = NULL, *err = NULL;
	const char *b = getenv("FTLOG_BUILDDIR");
	int rc;

	if (p != NULL && *p != '\0') {
		ck_assert_msg(access(p, X_OK) == 0, "FTLOG_GO_COSIG=%s: %s", p,
			      strerror(errno));
		return strdup(p);
	}
	for (const char *s = path != NULL ? path : "/usr/bin"; *s != '\0';) {
		size_t n = strcspn(s, ":");
		char *cand = tu_strf("%.*s/go", (int)n, s);

		if (n > 0 && access(cand, X_OK) == 0) {
			go = cand;
			break;
		}
		free(cand);
		s += n;
		if (*s == ':') {
			s++;
		}
	}
	if (go == NULL) {
		fprintf(stderr, "test_witness: SKIP go interop: no `go` in "
				"PATH (install golang-go "
				"golang-golang-x-mod-dev)\n");
		return NULL;
	}
	if (src != NULL && *src != '\0') {
		main_go = tu_strf("%s/tests/interop/cosig/main.go", src);
	} else {
		/* This file's directory, as the compiler saw it. */
		const char *f = __FILE__;
		const char *slash = strrchr(f, '/');

		main_go = tu_strf("%.*s/interop/cosig/main.go",
				  slash != NULL ? (int)(slash - f) : 1,
				  slash != NULL ? f : ".");
	}
	ck_assert_msg(access(main_go, R_OK) == 0,
		      "%s not found: set FTLOG_SRCDIR or FTLOG_GO_COSIG",
		      main_go);
	bin = tu_strf("%s/ftlog-cosig-go", tmp);
	cache = b != NULL && *b != '\0' ? tu_strf("%s/.gocache", b)
					: tu_strf("%s/gocache", tmp);
	{
		char *o = tu_strf("-o=%s", bin);
		char *gc = tu_strf("GOCACHE=%s", cache);
		const char *argv[] = {"GO111MODULE=off",
				      "GOPATH=/usr/share/gocode",
				      "GOFLAGS=",
				      "GOPROXY=off",
				      gc,
				      "CGO_ENABLED=0",
				      go,
				      "build",
				      o,
				      main_go,
				      NULL};

		rc = run_prog("env", argv, NULL, tmp, &out, &err);
		ck_assert_msg(rc == 0, "go build %s: exit %d\n%s%s", main_go,
			      rc, out, err);
		free(o);
		free(gc);
	}
	free(out);
	free(err);
	free(go);
	free(main_go);
	free(cache);
	return bin;
}

START_TEST(test_go_interop)
{
	tlog *la = malloc(sizeof *la);
	uint8_t cosigned[4096];
	size_t clen = 0;
	time_t t0 = time(NULL);
	char *bin, *npath, *out = NULL, *err = NULL;
	wit w;
	ans a;
	int rc;

	ck_assert_ptr_nonnull(la);
	tlog_init(la, LOG_A, 0x11, 0);
	wit_init(&w, la->vkey);
	bin = go_cosig_bin(w.tmp);
	if (bin == NULL) {
		wit_done(&w);
		free(la);
		return;
	}
	wit_start(&w);
	submit(&w, la, 0, 11, &a);
	expect_cosig(&w, la, 11, &a, t0, cosigned, sizeof cosigned, &clen);
	ans_free(&a);
	npath = tu_strf("%s/cosigned", w.tmp);
	ck_assert_int_eq(tu_write_file(npath, cosigned, clen), 0);
	{
		const char *argv[] = {la->vkey, w.vkey, NULL};

		rc = run_prog(bin, argv, npath, w.tmp, &out, &err);
		ck_assert_msg(rc == 0, "go: exit %d\n%s%s", rc, out, err);
		ck_assert_msg(strncmp(out, "ok log " LOG_A " witness " WIT_NAME
					   " time ",
				      strlen("ok log " LOG_A " witness "
					     WIT_NAME " time ")) == 0,
			      "go said: %s", out);
		free(out);
		free(err);
	}
	/* A flipped character in the cosignature: Go refuses it. */
	cosigned[clen - 5] = cosigned[clen - 5] == 'A' ? 'B' : 'A';
	ck_assert_int_eq(tu_write_file(npath, cosigned, clen), 0);
	{
		const char *argv[] = {la->vkey, w.vkey, NULL};

		rc = run_prog(bin, argv, npath, w.tmp, &out, &err);
		ck_assert_msg(rc == 1, "go: exit %d\n%s%s", rc, out, err);
		free(out);
		free(err);
	}
	/* The log's note alone lacks the witness: refused too. */
	{
		uint8_t note[2048];
		size_t nlen = tlog_note(la, 11, note, sizeof note);
		const char *argv[] = {la->vkey, w.vkey, NULL};

		ck_assert_int_eq(tu_write_file(npath, note, nlen), 0);
		rc = run_prog(bin, argv, npath, w.tmp, &out, &err);
		ck_assert_msg(rc == 1, "go: exit %d\n%s%s", rc, out, err);
		free(out);
		free(err);
	}
	free(npath);
	free(bin);
	wit_done(&w);
	free(la);
}
END_TEST

/* ==== Suite ============================================================= */

static char *g_root;
static char *g_tmp_orig; /* $TMPDIR before suite_setup changed it */

/* Every test's temporary directories under one root, removed at the end
 * even when a test failed (Check ends a failed test with _exit). */
static void suite_setup(void)
{
	const char *t = getenv("TMPDIR");
	char *tmpl;

	if (g_tmp_orig == NULL) {
		g_tmp_orig = strdup(t != NULL && *t != '\0' ? t : "/tmp");
		if (g_tmp_orig == NULL) {
			abort();
		}
	}
	tmpl = tu_strf("%s/ftlog-witness-XXXXXX", g_tmp_orig);

	g_root = mkdtemp(tmpl);
	if (g_root == NULL) {
		perror("mkdtemp");
		abort();
	}
	(void)setenv("TMPDIR", g_root, 1);
}

static void suite_teardown(void)
{
	if (g_root != NULL && getenv("FTLOG_KEEP_TMP") == NULL) {
		tu_rmtree(g_root);
	}
	free(g_root);
	g_root = NULL;
}

static Suite *witness_suite(void)
{
	Suite *s = suite_create("witness");
	TCase *tc;

	tc = tcase_create("wire");
	tcase_add_test(tc, test_wire_round_trip);
	tcase_add_test(tc, test_wire_format_errors);
	tcase_add_test(tc, test_wire_malformed);
	tcase_add_test(tc, test_wire_parse_size);
	tcase_add_test(tc, test_wire_check_cosig);
	suite_add_tcase(s, tc);

	tc = tcase_create("server");
	tcase_add_unchecked_fixture(tc, suite_setup, suite_teardown);
	tcase_set_timeout(tc, 120);
	tcase_add_test(tc, test_statuses);
	tcase_add_test(tc, test_body_limit);
	tcase_add_test(tc, test_two_logs);
	tcase_add_test(tc, test_persistence);
	tcase_add_test(tc, test_race);
	tcase_add_test(tc, test_init_refuses);
	tcase_add_test(tc, test_bad_logs_file);
	suite_add_tcase(s, tc);

	tc = tcase_create("go");
	tcase_add_unchecked_fixture(tc, suite_setup, suite_teardown);
	tcase_set_timeout(tc, 120);
	tcase_add_test(tc, test_go_interop);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	(void)signal(SIGPIPE, SIG_IGN);
	if (ft_init() != 0) {
		return 1;
	}
	return tu_run_suite(witness_suite());
}
