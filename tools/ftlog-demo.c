/*
 * tools/ftlog-demo.c - what `./run demo` shows until ftlogd exists: a log
 * of firmware events built with libftmerkle, its signed checkpoint, an
 * offline tlog-proof for one event verified the way a device will, a
 * consistency proof between two checkpoints, and the same checks refusing
 * a tampered entry and a forged checkpoint.
 *
 * Usage: ftlog-demo [DIR]   (writes the key, checkpoint and proof to DIR,
 *                            default ./var/demo)
 */
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <sodium.h>

#include <ftlog/merkle.h>
#include <ftlog/note.h>
#include <ftlog/tile.h>
#include <ftlog/tlogproof.h>

#define ORIGIN "demo.ftlog.example/log"
#define NEVENTS 1000

static void die(const char *what, int rc)
{
	fprintf(stderr, "ftlog-demo: %s: %s\n", what, ft_strerror(rc));
	exit(1);
}

/* The demo's store: every complete node, as ftlogd will keep in LMDB. */
typedef struct store {
	ft_hash *node[64];
	uint64_t cap;
} store;

static int store_node(void *ctx, unsigned level, uint64_t index,
		      const ft_hash *h)
{
	store *s = ctx;

	if (s->node[level] == NULL) {
		s->node[level] = calloc(s->cap, sizeof(ft_hash));
		if (s->node[level] == NULL) {
			return FT_ENOMEM;
		}
	}
	s->node[level][index] = *h;
	return 0;
}

static int store_read(void *ctx, const ft_node_id *ids, size_t n, ft_hash *out)
{
	store *s = ctx;

	for (size_t i = 0; i < n; i++) {
		if (s->node[ids[i].level] == NULL) {
			return FT_EREAD;
		}
		out[i] = s->node[ids[i].level][ids[i].index];
	}
	return 0;
}

/* A stand-in firmware event about the image "gNB-DU firmware <i>". */
static size_t event(uint64_t i, char *buf, size_t cap)
{
	static const char *kinds[] = {"build", "release", "distribution"};
	uint8_t digest[crypto_hash_sha256_BYTES];
	char image[64], hex[2 * crypto_hash_sha256_BYTES + 1];
	int n;

	n = snprintf(image, sizeof image, "gNB-DU firmware %lu",
		     (unsigned long)(i / 3));
	crypto_hash_sha256(digest, (const uint8_t *)image, (size_t)n);
	sodium_bin2hex(hex, sizeof hex, digest, sizeof digest);
	n = snprintf(buf, cap,
		     "{\"kind\":\"%s\",\"product\":\"gNB-DU\",\"version\":"
		     "\"24.%lu.%lu\",\"image_sha256\":\"%s\"}",
		     kinds[i % 3], (unsigned long)(i / 300),
		     (unsigned long)(i / 3 % 100), hex);
	return (size_t)n;
}

/* Sign the checkpoint of tree t into buf. */
static size_t sign_checkpoint(const ft_tree *t, const ft_skey *key,
			      uint8_t *buf, size_t cap)
{
	ft_checkpoint cp;
	uint8_t text[1024];
	size_t tlen, len;
	int rc;

	memset(&cp, 0, sizeof cp);
	memcpy(cp.origin, ORIGIN, sizeof ORIGIN);
	cp.origin_len = strlen(ORIGIN);
	cp.size = t->size;
	ft_tree_root(t, &cp.root);
	if ((rc = ft_checkpoint_format(&cp, text, sizeof text, &tlen)) != 0) {
		die("format checkpoint", rc);
	}
	if ((rc = ft_note_sign(text, tlen, key, 1, 0, buf, cap, &len)) != 0) {
		die("sign checkpoint", rc);
	}
	return len;
}

/* What a device does with a .tlog-proof: returns 0 or the first error. */
static int device_verify(const uint8_t *proof, size_t len, const ft_vkey *log,
			 const uint8_t *image_event, size_t event_len)
{
	static uint8_t extra[FT_ENTRY_MAX];
	ft_tlog_proof p;
	ft_note_sig st;
	ft_checkpoint cp;
	ft_hash leaf;
	size_t text_len;
	int rc;

	if ((rc = ft_tlog_proof_parse(proof, len, &p, extra, sizeof extra)) != 0 ||
	    (rc = ft_note_open(p.checkpoint, p.checkpoint_len, log, 1, &st,
			       &text_len)) != 0 ||
	    (rc = ft_checkpoint_parse(p.checkpoint, text_len, ORIGIN,
				      strlen(ORIGIN), &cp)) != 0) {
		return rc;
	}
	/* The entry on the extra line must be the event we expect. */
	if (!p.has_extra || p.extra_len != event_len ||
	    memcmp(extra, image_event, event_len) != 0) {
		return FT_ETLOGPROOF;
	}
	ft_merkle_leaf_hash(extra, p.extra_len, &leaf);
	return ft_proof_verify_inclusion(p.index, cp.size, leaf.b, sizeof leaf.b,
					 p.path[0].b, p.path_len * FT_HASH_LEN,
					 cp.root.b, sizeof cp.root.b);
}

static void write_file(const char *dir, const char *name, const void *data,
		       size_t len)
{
	char path[4096];
	FILE *f;

	snprintf(path, sizeof path, "%s/%s", dir, name);
	f = fopen(path, "wb");
	if (f == NULL || fwrite(data, 1, len, f) != len || fclose(f) != 0) {
		fprintf(stderr, "ftlog-demo: cannot write %s: %s\n", path,
			strerror(errno));
		exit(1);
	}
}

static void usage(FILE *f)
{
	fputs("usage: ftlog-demo [DIR]\n"
	      "\n"
	      "Shows libftmerkle at work, as `./run demo` does until the log\n"
	      "server exists: generates a log key, appends 1000 firmware events\n"
	      "to an RFC 6962 tree, signs a C2SP checkpoint, writes an offline\n"
	      "C2SP tlog-proof for event 123 and verifies it as a device will,\n"
	      "then shows a tampered event, a checkpoint signed by a foreign key\n"
	      "and a corrupted consistency proof being refused.\n"
	      "\n"
	      "Files written to DIR (default ./var/demo): log.vkey (the log's\n"
	      "verifier key), checkpoint (the signed checkpoint),\n"
	      "event-123.tlog-proof.\n"
	      "\n"
	      "Exit status: 0 if every genuine proof verified and every forgery\n"
	      "was refused, 1 otherwise, 2 on a usage error.\n",
	      f);
}

int main(int argc, char **argv)
{
	if (argc > 2 || (argc == 2 && argv[1][0] == '-')) {
		bool help = argc == 2 && (strcmp(argv[1], "--help") == 0 ||
					  strcmp(argv[1], "-h") == 0);
		usage(help ? stdout : stderr);
		return help ? 0 : 2;
	}
	const char *dir = argc > 1 ? argv[1] : "./var/demo";
	static uint8_t note1[4096], note2[4096], proof[FT_TLOG_PROOF_MAX];
	char keystr[FT_KEY_STR_MAX], ev[512];
	store s = {.cap = NEVENTS};
	ft_hash_reader reader = {store_read, &s};
	ft_skey key;
	ft_vkey vkey;
	ft_tree t;
	size_t n1 = 0, n2, plen, klen, elen;
	int rc;

	if ((rc = ft_init()) != 0) {
		die("init", rc);
	}
	if (mkdir("./var", 0755) != 0 && errno != EEXIST) {
		perror("mkdir ./var");
	}
	if (mkdir(dir, 0700) != 0 && errno != EEXIST) {
		perror(dir);
		return 1;
	}

	printf("== 1. The log's Ed25519 key (C2SP signed-note key strings)\n");
	if ((rc = ft_key_generate(ORIGIN, strlen(ORIGIN), FT_KEY_ED25519,
				  &key)) != 0) {
		die("keygen", rc);
	}
	ft_skey_public(&key, &vkey);
	if ((rc = ft_vkey_format(&vkey, keystr, sizeof keystr, &klen)) != 0) {
		die("format key", rc);
	}
	printf("verifier key: %s\n\n", keystr);
	write_file(dir, "log.vkey", keystr, klen);

	printf("== 2. Append %d firmware events to an RFC 6962 tree\n", NEVENTS);
	ft_tree_init(&t);
	for (uint64_t i = 0; i < NEVENTS; i++) {
		ft_hash h;
		elen = event(i, ev, sizeof ev);
		ft_merkle_leaf_hash((const uint8_t *)ev, elen, &h);
		if ((rc = ft_tree_append(&t, &h, store_node, &s)) != 0) {
			die("append", rc);
		}
		if (i + 1 == NEVENTS / 2) {
			n1 = sign_checkpoint(&t, &key, note1, sizeof note1);
		}
	}
	n2 = sign_checkpoint(&t, &key, note2, sizeof note2);
	printf("event 123: %.*s\n\n", (int)event(123, ev, sizeof ev), ev);
	printf("== 3. Signed checkpoint (C2SP tlog-checkpoint)\n%.*s\n",
	       (int)n2, note2);
	write_file(dir, "checkpoint", note2, n2);

	printf("== 4. Offline proof for event 123 (C2SP tlog-proof)\n");
	ft_hash path[FT_PROOF_MAX_INCLUSION];
	size_t np;
	if ((rc = ft_proof_inclusion(123, t.size, &reader, path, &np)) != 0) {
		die("inclusion proof", rc);
	}
	elen = event(123, ev, sizeof ev);
	if ((rc = ft_tlog_proof_format((const uint8_t *)ev, elen, 123, path, np,
				       note2, n2, proof, sizeof proof,
				       &plen)) != 0) {
		die("tlog-proof", rc);
	}
	write_file(dir, "event-123.tlog-proof", proof, plen);
	printf("%s/event-123.tlog-proof: %zu bytes, %zu hashes\n", dir, plen, np);
	rc = device_verify(proof, plen, &vkey, (const uint8_t *)ev, elen);
	printf("verify genuine proof:        %s\n",
	       rc == 0 ? "OK" : ft_strerror(rc));
	if (rc != 0) {
		return 1;
	}

	/* A tampered event: same proof, one byte of the event changed. */
	char bad[512];
	memcpy(bad, ev, elen);
	bad[elen - 3] ^= 0x01;
	int rc_bad = device_verify(proof, plen, &vkey, (const uint8_t *)bad, elen);
	/* Rebuild the proof around the tampered entry: the root refuses it. */
	size_t blen;
	static uint8_t bproof[FT_TLOG_PROOF_MAX];
	if ((rc = ft_tlog_proof_format((const uint8_t *)bad, elen, 123, path, np,
				       note2, n2, bproof, sizeof bproof,
				       &blen)) != 0) {
		die("tlog-proof", rc);
	}
	int rc_bad2 = device_verify(bproof, blen, &vkey, (const uint8_t *)bad, elen);
	printf("verify with tampered event:  REFUSED (%s)\n",
	       ft_strerror(rc_bad2));
	/* A checkpoint re-signed by another key. */
	ft_skey evil;
	if ((rc = ft_key_generate(ORIGIN, strlen(ORIGIN), FT_KEY_ED25519,
				  &evil)) != 0) {
		die("keygen", rc);
	}
	uint8_t forged[4096];
	size_t nf = sign_checkpoint(&t, &evil, forged, sizeof forged);
	if ((rc = ft_tlog_proof_format((const uint8_t *)ev, elen, 123, path, np,
				       forged, nf, bproof, sizeof bproof,
				       &blen)) != 0) {
		die("tlog-proof", rc);
	}
	int rc_forged = device_verify(bproof, blen, &vkey, (const uint8_t *)ev, elen);
	printf("verify with forged key:      REFUSED (%s)\n\n",
	       ft_strerror(rc_forged));
	if (rc_bad == 0 || rc_bad2 == 0 || rc_forged == 0) {
		fprintf(stderr, "ftlog-demo: a forgery was accepted\n");
		return 1;
	}

	printf("== 5. Consistency: checkpoint %d is an extension of %d\n",
	       NEVENTS, NEVENTS / 2);
	ft_hash cproof[FT_PROOF_MAX_CONSISTENCY], r1, r2;
	if ((rc = ft_proof_consistency(NEVENTS / 2, NEVENTS, &reader, cproof,
				       &np)) != 0 ||
	    (rc = ft_tree_hash_at(NEVENTS / 2, &reader, &r1)) != 0 ||
	    (rc = ft_tree_hash_at(NEVENTS, &reader, &r2)) != 0) {
		die("consistency proof", rc);
	}
	(void)n1;
	rc = ft_proof_verify_consistency(NEVENTS / 2, NEVENTS, r1.b, 32, r2.b, 32,
					 cproof[0].b, np * FT_HASH_LEN);
	printf("consistency proof (%zu hashes): %s\n", np,
	       rc == 0 ? "OK" : ft_strerror(rc));
	cproof[0].b[0] ^= 1;
	int rc_c = ft_proof_verify_consistency(NEVENTS / 2, NEVENTS, r1.b, 32,
					       r2.b, 32, cproof[0].b,
					       np * FT_HASH_LEN);
	printf("with one bit flipped:           REFUSED (%s)\n\n",
	       ft_strerror(rc_c));

	printf("== 6. Tiles a reader fetches for this tree (C2SP tlog-tiles)\n");
	for (unsigned l = 0; l < ft_tile_levels(t.size); l++) {
		printf("level %u: %lu full tile(s), partial width %u\n", l,
		       (unsigned long)ft_tile_full_count(t.size, l),
		       ft_tile_partial_width(t.size, l));
	}
	ft_skey_wipe(&key);
	ft_skey_wipe(&evil);
	for (int l = 0; l < 64; l++) {
		free(s.node[l]);
	}
	printf("\nThe log server (ftlogd) serving this over HTTP comes next.\n");
	return rc == 0 && rc_c != 0 ? 0 : 1;
}
