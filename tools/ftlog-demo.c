/*
 * tools/ftlog-demo.c - the client half of "./run demo": talks to a running
 * ftlogd on 127.0.0.1, appends firmware events, fetches their tlog-proofs
 * and checks them the way a device will, then shows what is refused.
 *
 * Internal (not installed): the operator and build-system CLI, ftlog, and
 * the device verifier, ftverify, replace it in later milestones.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include <ftlog/merkle.h>
#include <ftlog/note.h>
#include <ftlog/tile.h>
#include <ftlog/tlogproof.h>

#define MAX_RESP (4u << 20)

static int port;
static ft_vkey log_key;

static void die(const char *what, int rc)
{
	fprintf(stderr, "ftlog-demo: %s: %s\n", what,
		rc < 0 ? ft_strerror(rc) : strerror(errno));
	exit(1);
}

struct resp {
	int status;
	uint8_t *body;
	size_t len;
};

/* One HTTP/1.1 request to 127.0.0.1:port with Connection: close. */
static void http(const char *method, const char *path, const void *body,
		 size_t body_len, struct resp *r)
{
	struct sockaddr_in sa;
	char head[512];
	uint8_t *buf = malloc(MAX_RESP + 1);
	size_t have = 0;
	int fd, n;
	char *end;

	if (buf == NULL) {
		die("malloc", 0);
	}
	memset(&sa, 0, sizeof(sa));
	sa.sin_family = AF_INET;
	sa.sin_port = htons((uint16_t)port);
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	fd = socket(AF_INET, SOCK_STREAM, 0);
	if (fd < 0 || connect(fd, (struct sockaddr *)&sa, sizeof(sa)) != 0) {
		die("connect to ftlogd", 0);
	}
	n = snprintf(head, sizeof(head),
		     "%s %s HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n"
		     "Content-Length: %zu\r\n\r\n",
		     method, path, body_len);
	if (n < 0 || (size_t)n >= sizeof(head) ||
	    write(fd, head, (size_t)n) != n ||
	    (body_len > 0 && write(fd, body, body_len) != (ssize_t)body_len)) {
		die("send request", 0);
	}
	for (;;) {
		ssize_t got = read(fd, buf + have, MAX_RESP - have);

		if (got < 0 && errno == EINTR) {
			continue;
		}
		if (got < 0) {
			die("read response", 0);
		}
		if (got == 0) {
			break;
		}
		have += (size_t)got;
		if (have == MAX_RESP) {
			die("response too large", FT_ETOOBIG);
		}
	}
	close(fd);
	buf[have] = '\0';
	end = strstr((char *)buf, "\r\n\r\n");
	if (end == NULL || sscanf((char *)buf, "HTTP/1.1 %d", &r->status) != 1) {
		die("malformed response", FT_EINVAL);
	}
	end += 4;
	r->len = have - (size_t)((uint8_t *)end - buf);
	r->body = malloc(r->len + 1);
	if (r->body == NULL) {
		die("malloc", 0);
	}
	memcpy(r->body, end, r->len);
	r->body[r->len] = '\0';
	free(buf);
}

/* What a device does with a .tlog-proof: returns 0 or the first error. */
static int device_verify(const uint8_t *proof, size_t len,
			 const ft_vkey *key, const uint8_t *event,
			 size_t event_len, uint64_t *size_out)
{
	static uint8_t extra[FT_ENTRY_MAX];
	ft_tlog_proof p;
	ft_note_sig st;
	ft_checkpoint cp;
	ft_hash leaf;
	size_t text_len;
	int rc;

	if ((rc = ft_tlog_proof_parse(proof, len, &p, extra,
				      sizeof extra)) != 0 ||
	    (rc = ft_note_open(p.checkpoint, p.checkpoint_len, key, 1, &st,
			       &text_len)) != 0 ||
	    (rc = ft_checkpoint_parse(p.checkpoint, text_len, key->name,
				      key->name_len, &cp)) != 0) {
		return rc;
	}
	/* The entry on the extra line must be the event we expect. */
	if (!p.has_extra || p.extra_len != event_len ||
	    memcmp(extra, event, event_len) != 0) {
		return FT_ETLOGPROOF;
	}
	ft_merkle_leaf_hash(extra, p.extra_len, &leaf);
	if (size_out != NULL) {
		*size_out = cp.size;
	}
	return ft_proof_verify_inclusion(p.index, cp.size, leaf.b,
					 sizeof leaf.b, p.path[0].b,
					 p.path_len * FT_HASH_LEN, cp.root.b,
					 sizeof cp.root.b);
}

static void checkpoint(uint64_t *size, ft_hash *root, struct resp *raw)
{
	ft_checkpoint cp;
	size_t text_len;
	int rc;

	http("GET", "/checkpoint", NULL, 0, raw);
	if (raw->status != 200) {
		die("GET /checkpoint", FT_EINVAL);
	}
	if ((rc = ft_note_open(raw->body, raw->len, &log_key, 1, NULL,
			       &text_len)) != 0 ||
	    (rc = ft_checkpoint_parse(raw->body, text_len, log_key.name,
				      log_key.name_len, &cp)) != 0) {
		die("checkpoint does not verify with the log key", rc);
	}
	*size = cp.size;
	*root = cp.root;
}

static size_t event(unsigned i, char *buf, size_t cap)
{
	static const char *const products[] = {"gNB-DU", "gNB-CU", "UPF",
					       "AMF"};
	int n = snprintf(buf, cap,
			 "{\"kind\":\"release\",\"vendor\":\"Example Networks\","
			 "\"product\":\"%s\",\"version\":\"4.2.%u\","
			 "\"security_version\":%u,\"image\":\"sha256:%064x\"}",
			 products[i % 4], i, 10 + i / 4, i * 2654435761u);

	return n < 0 ? 0 : (size_t)n;
}

static void write_file(const char *dir, const char *name, const void *data,
		       size_t len)
{
	char path[4096];
	FILE *f;

	(void)snprintf(path, sizeof(path), "%s/%s", dir, name);
	f = fopen(path, "wb");
	if (f == NULL || fwrite(data, 1, len, f) != len || fclose(f) != 0) {
		die(path, 0);
	}
}

static void usage(FILE *f)
{
	fputs("usage: ftlog-demo --port PORT --key VERIFIER-KEY [--out DIR]\n"
	      "\n"
	      "Talks to ftlogd on 127.0.0.1:PORT: appends 20 firmware release\n"
	      "events, fetches each one's tlog-proof (written to DIR, default\n"
	      "var/demo), verifies it the way a device will, and shows that a\n"
	      "tampered event, a foreign log key and a bad consistency proof\n"
	      "are refused.\n",
	      f);
}

int main(int argc, char **argv)
{
	const char *out = "var/demo";
	const char *key_str = NULL;
	char ev[512], path[128];
	uint8_t *proofs[20];
	size_t proof_len[20], ev_len[20];
	uint64_t size0, size1, idx0 = 0, psize;
	ft_hash root0, root1;
	struct resp r, cp0, cp1;
	ft_skey other_sk;
	ft_vkey other;
	unsigned i;
	int rc;

	for (i = 1; i < (unsigned)argc; i++) {
		if (strcmp(argv[i], "--help") == 0) {
			usage(stdout);
			return 0;
		} else if (strcmp(argv[i], "--port") == 0 &&
			   i + 1 < (unsigned)argc) {
			port = atoi(argv[++i]);
		} else if (strcmp(argv[i], "--key") == 0 &&
			   i + 1 < (unsigned)argc) {
			key_str = argv[++i];
		} else if (strcmp(argv[i], "--out") == 0 &&
			   i + 1 < (unsigned)argc) {
			out = argv[++i];
		} else {
			usage(stderr);
			return 2;
		}
	}
	if (port <= 0 || port > 65535 || key_str == NULL) {
		usage(stderr);
		return 2;
	}
	if ((rc = ft_init()) != 0 ||
	    (rc = ft_vkey_parse(key_str, strlen(key_str), &log_key)) != 0) {
		die("log key", rc);
	}
	(void)mkdir(out, 0755);

	checkpoint(&size0, &root0, &cp0);
	printf("\n1. The log's current checkpoint (verified with %s):\n\n%s\n",
	       log_key.name, (char *)cp0.body);

	printf("2. A build system appends 20 firmware release events "
	       "(POST /add).\n   Each answer is the event's tlog-proof, "
	       "returned once the batch\n   holding it is on disk:\n");
	for (i = 0; i < 20; i++) {
		ev_len[i] = event(i + (unsigned)size0, ev, sizeof(ev));
		http("POST", "/add", ev, ev_len[i], &r);
		if (r.status != 200) {
			fprintf(stderr, "POST /add: %d %s", r.status, r.body);
			return 1;
		}
		proofs[i] = r.body;
		proof_len[i] = r.len;
		if (i < 3 || i == 19) {
			static uint8_t extra[FT_ENTRY_MAX];
			ft_tlog_proof p;

			if ((rc = ft_tlog_proof_parse(r.body, r.len, &p, extra,
						      sizeof(extra))) != 0) {
				die("tlog-proof from the server", rc);
			}
			printf("   %.70s...\n      -> logged at index %llu, "
			       "proof of %zu hashes\n",
			       ev, (unsigned long long)p.index, p.path_len);
		} else if (i == 3) {
			printf("   ...\n");
		}
	}
	write_file(out, "release-7.tlog-proof", proofs[7], proof_len[7]);
	printf("\n   Wrote %s/release-7.tlog-proof:\n\n%.*s\n", out,
	       (int)proof_len[7], (char *)proofs[7]);

	printf("3. A device checks the proof of the image it is about to "
	       "install:\n");
	ev_len[7] = event(7 + (unsigned)size0, ev, sizeof(ev));
	rc = device_verify(proofs[7], proof_len[7], &log_key,
			   (uint8_t *)ev, ev_len[7], &psize);
	printf("   genuine event:     %s\n",
	       rc == 0 ? "ACCEPTED (signed checkpoint, inclusion proof)"
		       : ft_strerror(rc));
	if (rc != 0) {
		return 1;
	}
	/* An attacker edits the event (say, its security_version) both in
	 * the image metadata and in the proof's extra line. */
	{
		static uint8_t extra[FT_ENTRY_MAX];
		uint8_t *forged = malloc(proof_len[7] + 8);
		char *vpos = strstr(ev, "\"security_version\":");
		ft_tlog_proof p;
		size_t flen;

		if (forged == NULL || vpos == NULL) {
			die("malloc", 0);
		}
		vpos[strlen("\"security_version\":")] = '9';
		if ((rc = ft_tlog_proof_parse(proofs[7], proof_len[7], &p,
					      extra, sizeof(extra))) != 0 ||
		    (rc = ft_tlog_proof_format((uint8_t *)ev, ev_len[7],
					       p.index, p.path, p.path_len,
					       p.checkpoint, p.checkpoint_len,
					       forged, proof_len[7] + 8,
					       &flen)) != 0) {
			die("forge", rc);
		}
		rc = device_verify(forged, flen, &log_key, (uint8_t *)ev,
				   ev_len[7], NULL);
		printf("   tampered event:    REFUSED (%s)\n",
		       rc != 0 ? ft_strerror(rc) : "BUG: accepted");
		free(forged);
		if (rc == 0) {
			return 1;
		}
		ev_len[7] = event(7 + (unsigned)size0, ev, sizeof(ev));
	}
	if ((rc = ft_key_generate(log_key.name, log_key.name_len,
				  FT_KEY_ED25519, &other_sk)) != 0) {
		die("keygen", rc);
	}
	ft_skey_public(&other_sk, &other);
	ft_skey_wipe(&other_sk);
	rc = device_verify(proofs[7], proof_len[7], &other, (uint8_t *)ev,
			   ev_len[7], NULL);
	printf("   foreign log key:   REFUSED (%s)\n",
	       rc != 0 ? ft_strerror(rc) : "BUG: accepted");
	if (rc == 0) {
		return 1;
	}

	printf("\n4. Submitting the same event again is idempotent:\n");
	ev_len[0] = event(0 + (unsigned)size0, ev, sizeof(ev));
	http("POST", "/add", ev, ev_len[0], &r);
	{
		ft_tlog_proof p;
		static uint8_t extra[FT_ENTRY_MAX];

		if (r.status != 200 ||
		    ft_tlog_proof_parse(r.body, r.len, &p, extra,
					sizeof(extra)) != 0) {
			die("resubmission", FT_EINVAL);
		}
		idx0 = p.index;
		printf("   same index %llu, the tree did not grow\n",
		       (unsigned long long)idx0);
		free(r.body);
	}

	checkpoint(&size1, &root1, &cp1);
	printf("\n5. An auditor checks that the log only appended: consistency "
	       "%llu -> %llu\n",
	       (unsigned long long)size0, (unsigned long long)size1);
	if (size0 > 0) {
		uint8_t proof[FT_PROOF_MAX_CONSISTENCY * FT_HASH_LEN];
		size_t plen = 0;
		char *line, *save = NULL;

		(void)snprintf(path, sizeof(path),
			       "/proof/consistency?old=%llu&new=%llu",
			       (unsigned long long)size0,
			       (unsigned long long)size1);
		http("GET", path, NULL, 0, &r);
		for (line = strtok_r((char *)r.body, "\n", &save);
		     line != NULL && plen < sizeof(proof);
		     line = strtok_r(NULL, "\n", &save)) {
			size_t n;

			if (ft_b64_decode(line, strlen(line), proof + plen,
					  FT_HASH_LEN, &n) != 0 ||
			    n != FT_HASH_LEN) {
				die("consistency proof line", FT_EBASE64);
			}
			plen += n;
		}
		rc = ft_proof_verify_consistency(size0, size1, root0.b, 32,
						 root1.b, 32, proof, plen);
		printf("   server's proof:      %s\n",
		       rc == 0 ? "consistent" : ft_strerror(rc));
		if (plen > 0) {
			proof[0] ^= 1;
			rc = ft_proof_verify_consistency(size0, size1, root0.b,
							 32, root1.b, 32,
							 proof, plen);
			printf("   one bit flipped:     REFUSED (%s)\n",
			       rc != 0 ? ft_strerror(rc) : "BUG: accepted");
		}
		free(r.body);
	} else {
		printf("   (the log was empty before; run the demo again to "
		       "see a consistency proof)\n");
	}
	printf("\n6. Everything is also readable as C2SP tiles: GET "
	       "/tile/0/000.p/N, /tile/entries/000.p/N\n");
	for (i = 0; i < 20; i++) {
		free(proofs[i]);
	}
	free(cp0.body);
	free(cp1.body);
	return 0;
}
