/*
 * logd/witness.c - ftlogd's witness client and checkpoint publisher (see
 * witness.h; C2SP tlog-witness v1.0.0, tlog-cosignature v1).
 *
 * Threads:
 *  - the coordinator (coord_main) reads the store's newest checkpoint C,
 *    hands it to the witness threads as round number `round`, waits for
 *    their answers (at most timeout_ms), and decides what to publish. It
 *    is the only thread that publishes after start, and the only one that
 *    writes DIR/checkpoint through the export.
 *  - one thread per witness (peer_main) does the HTTP exchange with its
 *    own store reader (for consistency proofs). It keeps the size its
 *    witness last cosigned (learned from 200 and 409 answers) to itself.
 *  - any thread: ft_witc_notify (sets a flag) and ft_witc_published
 *    (copies under pub_mu).
 *
 * Locks: mu guards the round hand-off (round, job/done, results, flags);
 * pub_mu guards the published checkpoint. Neither is held across network
 * or disk I/O, so notify and published never wait for a witness.
 *
 * A round that leaves a witness without a cosignature of C is retried on
 * the same C after RETRY_MIN_MS, doubling up to RETRY_MAX_MS, so an idle
 * log still gets cosigned once its witnesses come back; a new checkpoint
 * starts a new round at once.
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <ftlog/witness.h>

#include "client/httpc.h"
#include "logd/fsutil.h"
#include "logd/log.h"
#include "logd/witness.h"

#define WITNESSES_FILE_MAX 65536
#define PUB_FILE "published-checkpoint"
#define RETRY_MIN_MS 1000u
#define RETRY_MAX_MS 60000u
/* A 200 answer: at most FT_NOTE_MAX_SIGS lines; a 409 or error: short. */
#define RESP_MAX 65536
/* The published note: the log's note and one line per witness. */
#define PUB_MAX (FT_STORE_CHECKPOINT_MAX + FT_WITC_MAX * FT_NOTE_SIG_LINE_MAX)

struct peer {
	ft_witc *w;
	ft_witc_peer p;
	int metric_slot;
	pthread_t thread;
	int started;

	/* Under w->mu. */
	uint64_t job;  /* round assigned to this witness */
	uint64_t done; /* last round it finished */
	int ok;        /* round `done` gave a valid cosignature of C */
	char line[FT_NOTE_SIG_LINE_MAX + 1];
	size_t line_len;

	/* The witness thread's own. */
	int known;          /* last_size is what the witness holds */
	uint64_t last_size;
	ft_store_reader reader;
	int reader_ok;
	ft_tile_reader *tr;
	uint8_t *body;      /* FT_ADDCP_BODY_MAX */
	uint8_t note[FT_STORE_CHECKPOINT_MAX];
	size_t note_len, text_len;
	uint64_t size;
};

struct ft_witc {
	ft_store *store;
	ft_vkey log_key;
	char origin[FT_KEY_NAME_MAX + 1];
	size_t origin_len;
	char *pub_path;
	char *pub_tmp;
	char *data_dir;
	size_t n;
	size_t quorum;
	uint64_t timeout_ms;
	ft_export *export;
	ft_metrics *metrics;
	struct peer *peers;

	pthread_mutex_t mu;
	pthread_cond_t coord_cv; /* coordinator: notify, answers, stop */
	pthread_cond_t peer_cv;  /* witness threads: a round, stop */
	int stopping;
	int notified;
	uint64_t round;
	size_t pending; /* witnesses of `round` that have not answered */
	uint8_t rnote[FT_STORE_CHECKPOINT_MAX];
	size_t rnote_len, rtext_len;
	uint64_t rsize;

	pthread_t coord;
	int coord_started;

	/* Coordinator (and ft_witc_start before it runs). */
	ft_store_reader reader;
	int reader_ok;
	ft_tile_reader *tr;
	int have_c;          /* C: the checkpoint rounds work on */
	uint64_t c_size;
	ft_hash c_root;
	char (*c_line)[FT_NOTE_SIG_LINE_MAX + 1]; /* per witness, for C */
	size_t *c_line_len;                       /* 0: none yet */
	uint64_t retry_at_ms; /* 0: no retry due */
	uint64_t retry_ms;
	uint64_t exported_version;

	pthread_mutex_t pub_mu;
	uint8_t *pub; /* NULL: nothing published */
	size_t pub_len;
	uint64_t pub_size;
	ft_hash pub_root;
	size_t pub_count; /* cosignatures of configured witnesses in it */
	uint64_t pub_version;
};

static uint64_t now_ms(void)
{
	struct timespec ts;

	(void)clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

/* A monotonic absolute time for pthread_cond_timedwait. */
static struct timespec abs_ms(uint64_t at_ms)
{
	struct timespec ts;

	ts.tv_sec = (time_t)(at_ms / 1000u);
	ts.tv_nsec = (long)(at_ms % 1000u) * 1000000L;
	return ts;
}

/* ---- The witnesses file. */

static void set_err(char *err, size_t cap, const char *path, unsigned line,
		    const char *why)
{
	if (err == NULL || cap == 0) {
		return;
	}
	if (line > 0) {
		(void)snprintf(err, cap, "%s:%u: %s", path, line, why);
	} else {
		(void)snprintf(err, cap, "%s: %s", path, why);
	}
}

/* Read a whole small file; 0, FT_ETOOBIG or FT_EIO (errno set). */
static int read_small(const char *path, uint8_t *buf, size_t max,
		      size_t *len)
{
	struct stat st;
	size_t got = 0;
	int fd;

	memset(&st, 0, sizeof(st));
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		return FT_EIO;
	}
	if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
		int e = S_ISREG(st.st_mode) || st.st_mode == 0 ? errno
							       : EINVAL;
		(void)close(fd); /* read-only */
		errno = e;
		return FT_EIO;
	}
	for (;;) {
		ssize_t r;

		if (got > max) {
			(void)close(fd); /* read-only */
			return FT_ETOOBIG;
		}
		r = read(fd, buf + got, max + 1 - got);
		if (r < 0) {
			if (errno == EINTR) {
				continue;
			}
			int e = errno;
			(void)close(fd); /* read-only */
			errno = e;
			return FT_EIO;
		}
		if (r == 0) {
			break;
		}
		got += (size_t)r;
	}
	(void)close(fd); /* read-only */
	*len = got;
	return FT_OK;
}

static int is_space(uint8_t c)
{
	return c == ' ' || c == '\t';
}

/* Parse one non-comment line "KEY URL" into *out; 0 or -1 with why. */
static int parse_peer_line(const uint8_t *l, size_t n, ft_witc_peer *out,
			   char *why, size_t cap)
{
	size_t i = 0, ks, ke, us, ue;
	ft_httpc_url url;
	char uerr[160];

	ks = i;
	while (i < n && !is_space(l[i])) {
		i++;
	}
	ke = i;
	while (i < n && is_space(l[i])) {
		i++;
	}
	us = i;
	while (i < n && !is_space(l[i])) {
		i++;
	}
	ue = i;
	while (i < n && is_space(l[i])) {
		i++;
	}
	if (ke == ks || ue == us || i != n) {
		(void)snprintf(why, cap, "expected \"<verifier key> <URL>\"");
		return -1;
	}
	memset(out, 0, sizeof(*out));
	if (ft_vkey_parse((const char *)l + ks, ke - ks, &out->key) != 0) {
		(void)snprintf(why, cap, "not a valid note verifier key");
		return -1;
	}
	if (out->key.type != FT_KEY_COSIG_V1) {
		(void)snprintf(why, cap, "the key of %s is not a cosignature "
			       "key (type 0x04, as \"ftlog witness init\" "
			       "prints)", out->key.name);
		return -1;
	}
	if (ue - us > FT_WITC_URL_MAX) {
		(void)snprintf(why, cap, "URL longer than %d bytes",
			       FT_WITC_URL_MAX);
		return -1;
	}
	memcpy(out->url, l + us, ue - us);
	out->url[ue - us] = '\0';
	if (ft_httpc_parse_url(out->url, &url, uerr, sizeof(uerr)) != 0) {
		(void)snprintf(why, cap, "bad URL: %s", uerr);
		return -1;
	}
	return 0;
}

int ft_witc_load(const char *path, ft_witc_peer *out, size_t *n, char *err,
		 size_t cap)
{
	uint8_t *buf;
	size_t len = 0, pos = 0, count = 0;
	unsigned lineno = 0;
	char why[FT_KEY_NAME_MAX + 160];
	int rc;

	*n = 0;
	buf = malloc(WITNESSES_FILE_MAX + 1);
	if (buf == NULL) {
		set_err(err, cap, path, 0, "out of memory");
		return FT_ENOMEM;
	}
	rc = read_small(path, buf, WITNESSES_FILE_MAX, &len);
	if (rc == FT_ETOOBIG) {
		set_err(err, cap, path, 0, "larger than 64 KiB");
		free(buf);
		return FT_ECONFIG;
	}
	if (rc != 0) {
		(void)snprintf(why, sizeof(why), "cannot read: %s",
			       strerror(errno));
		set_err(err, cap, path, 0, why);
		free(buf);
		return FT_EIO;
	}
	rc = FT_ECONFIG;
	while (pos < len) {
		const uint8_t *l = buf + pos;
		const uint8_t *nl = memchr(l, '\n', len - pos);
		size_t ln = nl != NULL ? (size_t)(nl - l) : len - pos;
		ft_witc_peer p;

		pos += ln + (nl != NULL ? 1 : 0);
		lineno++;
		if (ln > 0 && l[ln - 1] == '\r') {
			ln--; /* CRLF files */
		}
		for (size_t i = 0; i < ln; i++) {
			if ((l[i] < 0x20 && l[i] != '\t') || l[i] == 0x7f) {
				set_err(err, cap, path, lineno,
					"control character");
				goto out;
			}
		}
		size_t s = 0;
		while (s < ln && is_space(l[s])) {
			s++;
		}
		if (s == ln || l[s] == '#') {
			continue;
		}
		if (parse_peer_line(l + s, ln - s, &p, why, sizeof(why)) !=
		    0) {
			set_err(err, cap, path, lineno, why);
			goto out;
		}
		if (count == FT_WITC_MAX) {
			(void)snprintf(why, sizeof(why), "more than %d "
				       "witnesses", FT_WITC_MAX);
			set_err(err, cap, path, lineno, why);
			goto out;
		}
		for (size_t j = 0; j < count; j++) {
			if (strcmp(out[j].key.name, p.key.name) == 0 ||
			    out[j].key.id == p.key.id) {
				(void)snprintf(why, sizeof(why),
					       "witness %s is listed twice "
					       "(same name or key id)",
					       p.key.name);
				set_err(err, cap, path, lineno, why);
				goto out;
			}
		}
		out[count++] = p;
	}
	*n = count;
	rc = FT_OK;
out:
	free(buf);
	return rc;
}

/* ---- Publishing. */

/* DATA/published-checkpoint, atomically. 0 or -1 (logged). */
static int persist(ft_witc *w, const uint8_t *data, size_t len)
{
	size_t off = 0;
	int fd;

	(void)unlink(w->pub_tmp); /* a leftover of a crash */
	fd = open(w->pub_tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
	if (fd < 0) {
		goto fail;
	}
	while (off < len) {
		ssize_t n = write(fd, data + off, len - off);
		if (n < 0) {
			if (errno == EINTR) {
				continue;
			}
			goto fail_fd;
		}
		off += (size_t)n;
	}
	if (fsync(fd) != 0) {
		goto fail_fd;
	}
	if (close(fd) != 0) {
		fd = -1;
		goto fail_fd;
	}
	if (rename(w->pub_tmp, w->pub_path) != 0 ||
	    ft_fsync_dir(w->data_dir) != 0) {
		goto fail;
	}
	return 0;
fail_fd:
	if (fd >= 0) {
		int e = errno;
		(void)close(fd); /* already failing */
		errno = e;
	}
fail:
	ft_log(FT_LOG_ERROR, "witness: cannot write %s: %s; the checkpoint "
	       "is not published", w->pub_path, strerror(errno));
	(void)unlink(w->pub_tmp);
	return -1;
}

/*
 * Publish the signed note `note` (the log's signature only) of (size,
 * root) with the given cosignature lines (witness order; len 0 = none):
 * durably first, then for readers. 0 or -1.
 */
static int publish(ft_witc *w, const uint8_t *note, size_t note_len,
		   uint64_t size, const ft_hash *root,
		   char (*lines)[FT_NOTE_SIG_LINE_MAX + 1],
		   const size_t *line_len, size_t count)
{
	size_t len = note_len;
	uint8_t *buf;

	for (size_t i = 0; i < w->n && lines != NULL; i++) {
		len += line_len[i];
	}
	if (len > PUB_MAX) {
		return -1; /* cannot happen: each part is bounded */
	}
	buf = malloc(len);
	if (buf == NULL) {
		ft_log(FT_LOG_ERROR, "witness: out of memory publishing");
		return -1;
	}
	memcpy(buf, note, note_len);
	len = note_len;
	for (size_t i = 0; i < w->n && lines != NULL; i++) {
		memcpy(buf + len, lines[i], line_len[i]);
		len += line_len[i];
	}
	if (persist(w, buf, len) != 0) {
		free(buf);
		return -1;
	}
	(void)pthread_mutex_lock(&w->pub_mu);
	free(w->pub);
	w->pub = buf;
	w->pub_len = len;
	w->pub_size = size;
	w->pub_root = *root;
	w->pub_count = count;
	w->pub_version++;
	(void)pthread_mutex_unlock(&w->pub_mu);
	ft_metrics_published_size(w->metrics, size);
	ft_log(FT_LOG_INFO, "published checkpoint of size %llu with %zu "
	       "witness cosignature(s)", (unsigned long long)size, count);
	return 0;
}

/* Bring DIR/checkpoint up to the published checkpoint (coordinator). A
 * failure (e.g. its tiles not exported yet) is retried at the next wake. */
static void sync_export(ft_witc *w)
{
	uint8_t *copy = NULL;
	size_t len = 0;
	uint64_t v;

	if (w->export == NULL) {
		return;
	}
	(void)pthread_mutex_lock(&w->pub_mu);
	v = w->pub_version;
	if (w->pub != NULL && v != w->exported_version) {
		copy = malloc(w->pub_len);
		if (copy != NULL) {
			memcpy(copy, w->pub, w->pub_len);
			len = w->pub_len;
		}
	}
	(void)pthread_mutex_unlock(&w->pub_mu);
	if (copy == NULL) {
		return;
	}
	if (ft_export_write_checkpoint(w->export, copy, len) == 0) {
		w->exported_version = v;
	}
	free(copy);
}

/* The published size and cosignature count (has = 0: nothing yet). */
static void pub_info(ft_witc *w, int *has, uint64_t *size, size_t *count)
{
	(void)pthread_mutex_lock(&w->pub_mu);
	*has = w->pub != NULL;
	*size = w->pub_size;
	*count = w->pub_count;
	(void)pthread_mutex_unlock(&w->pub_mu);
}

/* ---- Reading the store. */

/* The store's newest signed checkpoint into buf; 0, FT_ENOTFOUND (none
 * yet) or an error. */
static int newest(ft_witc *w, uint8_t *buf, size_t *len, uint64_t *size,
		  ft_hash *root)
{
	ft_store_state st;
	int err = ft_store_read_begin(&w->reader);

	if (err != 0) {
		return err;
	}
	err = ft_store_get_state(&w->reader, &st);
	if (err == 0 && st.checkpoint == NULL) {
		err = FT_ENOTFOUND;
	}
	if (err == 0 && st.checkpoint_len > FT_STORE_CHECKPOINT_MAX) {
		err = FT_ESTORE_CORRUPT;
	}
	if (err == 0) {
		memcpy(buf, st.checkpoint, st.checkpoint_len);
		*len = st.checkpoint_len;
		*size = st.size;
		*root = st.root;
	}
	ft_store_read_end(&w->reader);
	return err;
}

/* Whether the store's tree of `size` has root `root`. */
static int store_root_is(ft_witc *w, uint64_t size, const ft_hash *root)
{
	ft_store_state st;
	ft_hash_reader hr;
	ft_hash h;
	int ok = 0;

	if (ft_store_read_begin(&w->reader) != 0) {
		return 0;
	}
	if (ft_store_get_state(&w->reader, &st) == 0 && size <= st.size) {
		ft_store_hash_reader(&w->reader, size, w->tr, &hr);
		ok = ft_tree_hash_at(size, &hr, &h) == 0 &&
		     ft_hash_equal(&h, root);
	}
	ft_store_read_end(&w->reader);
	return ok;
}

/*
 * DATA/published-checkpoint from a previous run: published again if the
 * log signed it, it matches the store, and (quorum k) at least k of the
 * configured witnesses cosigned it. Anything else: a warning.
 */
static void load_published(ft_witc *w)
{
	ft_vkey known[1 + FT_WITC_MAX];
	ft_note_sig status[1 + FT_WITC_MAX];
	ft_checkpoint cp;
	size_t len = 0, text_len = 0, count = 0;
	uint8_t *buf = malloc(FT_NOTE_MAX_BYTES + 1);
	int rc;

	if (buf == NULL) {
		return;
	}
	rc = read_small(w->pub_path, buf, FT_NOTE_MAX_BYTES, &len);
	if (rc != 0) {
		if (rc != FT_EIO || errno != ENOENT) {
			ft_log(FT_LOG_WARN, "witness: ignoring %s: %s",
			       w->pub_path, rc == FT_ETOOBIG ? "too large"
							     : strerror(errno));
		}
		free(buf);
		return;
	}
	known[0] = w->log_key;
	for (size_t i = 0; i < w->n; i++) {
		known[1 + i] = w->peers[i].p.key;
	}
	rc = ft_note_open(buf, len, known, 1 + w->n, status, &text_len);
	if (rc == 0 && !status[0].verified) {
		rc = FT_ENOTE_NOKEY;
	}
	if (rc == 0) {
		rc = ft_checkpoint_parse(buf, text_len, w->origin,
					 w->origin_len, &cp);
	}
	if (rc != 0) {
		ft_log(FT_LOG_WARN, "witness: ignoring %s: %s", w->pub_path,
		       ft_strerror(rc));
		free(buf);
		return;
	}
	for (size_t i = 0; i < w->n; i++) {
		count += status[1 + i].verified != 0;
	}
	if (count < w->quorum) {
		ft_log(FT_LOG_WARN, "witness: ignoring %s: cosigned by %zu of "
		       "the configured witnesses, the quorum is %zu",
		       w->pub_path, count, w->quorum);
		free(buf);
		return;
	}
	if (!store_root_is(w, cp.size, &cp.root)) {
		ft_log(FT_LOG_WARN, "witness: ignoring %s: its size %llu and "
		       "root are not the store's", w->pub_path,
		       (unsigned long long)cp.size);
		free(buf);
		return;
	}
	(void)pthread_mutex_lock(&w->pub_mu);
	w->pub = buf;
	w->pub_len = len;
	w->pub_size = cp.size;
	w->pub_root = cp.root;
	w->pub_count = count;
	w->pub_version++;
	(void)pthread_mutex_unlock(&w->pub_mu);
	/* Each witness that cosigned it held at least that size: start
	 * from there instead of learning it from a 409 (the peer threads
	 * have not started yet). */
	for (size_t i = 0; i < w->n; i++) {
		if (status[1 + i].verified) {
			w->peers[i].known = 1;
			w->peers[i].last_size = cp.size;
		}
	}
	ft_metrics_published_size(w->metrics, cp.size);
	ft_log(FT_LOG_INFO, "published checkpoint of size %llu (with %zu "
	       "witness cosignature(s)) restored from %s",
	       (unsigned long long)cp.size, count, w->pub_path);
}

/* ---- One witness. */

/* The consistency proof old -> size from the witness thread's reader. */
static int peer_proof(struct peer *p, uint64_t old, uint64_t size,
		      ft_hash *proof, size_t *n)
{
	ft_hash path[FT_PROOF_MAX_CONSISTENCY];
	ft_hash_reader hr;
	int err;

	*n = 0;
	if (old == 0 || old == size) {
		return 0;
	}
	err = ft_store_read_begin(&p->reader);
	if (err != 0) {
		return err;
	}
	ft_store_hash_reader(&p->reader, size, p->tr, &hr);
	err = ft_proof_consistency(old, size, &hr, path, n);
	ft_store_read_end(&p->reader);
	if (err == 0 && *n > FT_ADDCP_PROOF_MAX) {
		err = FT_EPROOF_LEN;
	}
	if (err == 0) {
		memcpy(proof, path, *n * sizeof(*path));
	}
	return err;
}

/* POST add-checkpoint with old size `old`. 0 with *resp, or -1 (why). */
static int peer_post(struct peer *p, uint64_t old, ft_httpc_resp *resp,
		     char *why, size_t cap)
{
	ft_hash proof[FT_ADDCP_PROOF_MAX];
	ft_httpc_req req;
	size_t n = 0, len = 0;
	char err[160];
	int rc;

	rc = peer_proof(p, old, p->size, proof, &n);
	if (rc != 0) {
		(void)snprintf(why, cap, "cannot prove size %llu from %llu: "
			       "%s", (unsigned long long)p->size,
			       (unsigned long long)old, ft_strerror(rc));
		return -1;
	}
	rc = ft_addcp_format(old, proof, n, p->note, p->note_len, p->body,
			     FT_ADDCP_BODY_MAX, &len);
	if (rc != 0) {
		(void)snprintf(why, cap, "cannot format the request: %s",
			       ft_strerror(rc));
		return -1;
	}
	memset(&req, 0, sizeof(req));
	req.url = p->p.url;
	req.method = "POST";
	req.path = "/add-checkpoint";
	req.body = p->body;
	req.body_len = len;
	req.max_body = RESP_MAX;
	req.timeout_ms = (int)p->w->timeout_ms;
	if (ft_httpc_do(&req, resp, err, sizeof(err)) != 0) {
		(void)snprintf(why, cap, "%s", err);
		return -1;
	}
	return 0;
}

/*
 * Ask witness p to cosign the checkpoint in p->note. 0 with its first
 * valid cosignature line in line/line_len, or -1 with a reason.
 */
static int peer_exchange(struct peer *p, char *line, size_t *line_len,
			 char *why, size_t cap)
{
	uint64_t old = p->known ? p->last_size : 0;
	char body[128];

	if (old > p->size) {
		(void)snprintf(why, cap, "it cosigned size %llu, beyond the "
			       "log's %llu: it saw another view of the log",
			       (unsigned long long)old,
			       (unsigned long long)p->size);
		p->known = 0;
		return -1;
	}
	for (int attempt = 0; attempt < 2; attempt++) {
		ft_httpc_resp resp;
		uint64_t wsize, ts;
		int rc;

		if (peer_post(p, old, &resp, why, cap) != 0) {
			return -1;
		}
		if (resp.status == 200) {
			rc = ft_addcp_check_cosig(p->note, p->text_len,
						  &p->p.key, resp.body,
						  resp.body_len, line,
						  FT_NOTE_SIG_LINE_MAX + 1,
						  line_len, &ts);
			ft_httpc_resp_free(&resp);
			if (rc != 0) {
				(void)snprintf(why, cap, "its answer is not a "
					       "valid cosignature: %s",
					       ft_strerror(rc));
				return -1;
			}
			p->known = 1;
			p->last_size = p->size;
			return 0;
		}
		if (resp.status == 409 && attempt == 0) {
			rc = ft_addcp_parse_size(resp.body, resp.body_len,
						 &wsize);
			ft_httpc_resp_free(&resp);
			if (rc != 0) {
				(void)snprintf(why, cap, "409 with a malformed "
					       "size");
				return -1;
			}
			if (wsize > p->size) {
				(void)snprintf(why, cap, "409: it is at size "
					       "%llu, beyond the log's %llu: it "
					       "saw another view of the log",
					       (unsigned long long)wsize,
					       (unsigned long long)p->size);
				p->known = 0;
				return -1;
			}
			if (wsize == old) {
				(void)snprintf(why, cap, "409 naming the size "
					       "%llu it was sent",
					       (unsigned long long)old);
				p->known = 0;
				return -1;
			}
			p->known = 1;
			p->last_size = wsize;
			old = wsize;
			continue;
		}
		ft_httpc_body_line(&resp, body, sizeof(body));
		(void)snprintf(why, cap, "HTTP %d: %s", resp.status, body);
		if (resp.status == 409) {
			p->known = 0; /* learn it again next time */
		}
		ft_httpc_resp_free(&resp);
		return -1;
	}
	return -1; /* not reached */
}

static void *peer_main(void *arg)
{
	struct peer *p = arg;
	ft_witc *w = p->w;

	(void)pthread_mutex_lock(&w->mu);
	for (;;) {
		char line[FT_NOTE_SIG_LINE_MAX + 1];
		size_t line_len = 0;
		char why[512];
		uint64_t r;
		int ok;

		while (!w->stopping && p->job == p->done) {
			(void)pthread_cond_wait(&w->peer_cv, &w->mu);
		}
		if (w->stopping) {
			break;
		}
		r = p->job;
		memcpy(p->note, w->rnote, w->rnote_len);
		p->note_len = w->rnote_len;
		p->text_len = w->rtext_len;
		p->size = w->rsize;
		(void)pthread_mutex_unlock(&w->mu);

		ok = peer_exchange(p, line, &line_len, why, sizeof(why)) == 0;
		ft_metrics_witness_result(w->metrics, p->metric_slot, ok);
		if (ok) {
			ft_log(FT_LOG_DEBUG, "witness %s cosigned size %llu",
			       p->p.key.name, (unsigned long long)p->size);
		} else {
			ft_log(FT_LOG_WARN, "witness %s (%s), size %llu: %s",
			       p->p.key.name, p->p.url,
			       (unsigned long long)p->size, why);
		}

		(void)pthread_mutex_lock(&w->mu);
		p->done = r;
		p->ok = ok;
		if (ok) {
			memcpy(p->line, line, line_len + 1);
			p->line_len = line_len;
		}
		if (r == w->round && w->pending > 0) {
			w->pending--;
			(void)pthread_cond_signal(&w->coord_cv);
		}
	}
	(void)pthread_mutex_unlock(&w->mu);
	return NULL;
}

/* ---- The coordinator. */

static size_t c_count(const ft_witc *w)
{
	size_t k = 0;

	for (size_t i = 0; i < w->n; i++) {
		k += w->c_line_len[i] > 0;
	}
	return k;
}

/*
 * Move the cosignatures answered in this round into c_line (with mu held;
 * c_line is the coordinator's own). Returns how many witnesses have
 * cosigned the round's checkpoint so far.
 */
static size_t take_answers(ft_witc *w)
{
	for (size_t i = 0; i < w->n; i++) {
		struct peer *p = &w->peers[i];

		if (w->c_line_len[i] == 0 && p->done == w->round && p->ok) {
			memcpy(w->c_line[i], p->line, p->line_len + 1);
			w->c_line_len[i] = p->line_len;
		}
	}
	return c_count(w);
}

/* One round on the store's newest checkpoint (coordinator thread). */
static void run_round(ft_witc *w)
{
	uint8_t note[FT_STORE_CHECKPOINT_MAX];
	size_t note_len = 0, text_len = 0, missing = 0, count;
	uint64_t size, pub_size, deadline;
	size_t pub_count;
	int has_pub, early = 0;
	ft_hash root;
	int err;

	err = newest(w, note, &note_len, &size, &root);
	if (err != 0) {
		if (err != FT_ENOTFOUND) {
			ft_log(FT_LOG_ERROR, "witness: cannot read the newest "
			       "checkpoint: %s", ft_strerror(err));
		}
		return;
	}
	err = ft_note_open(note, note_len, &w->log_key, 1, NULL, &text_len);
	if (err != 0) {
		ft_log(FT_LOG_ERROR, "witness: the stored checkpoint does not "
		       "verify with the log key: %s", ft_strerror(err));
		return;
	}
	if (!w->have_c || size != w->c_size ||
	    !ft_hash_equal(&root, &w->c_root)) {
		w->have_c = 1;
		w->c_size = size;
		w->c_root = root;
		memset(w->c_line_len, 0, w->n * sizeof(*w->c_line_len));
		w->retry_ms = RETRY_MIN_MS;
	}
	pub_info(w, &has_pub, &pub_size, &pub_count);
	if (w->quorum == 0 && (!has_pub || size > pub_size)) {
		/* Quorum 0: readers get C at once; cosignatures follow. */
		if (publish(w, note, note_len, size, &root, NULL, NULL, 0) ==
		    0) {
			pub_count = 0;
			pub_size = size;
			has_pub = 1;
		}
		sync_export(w);
	}

	(void)pthread_mutex_lock(&w->mu);
	w->round++;
	memcpy(w->rnote, note, note_len);
	w->rnote_len = note_len;
	w->rtext_len = text_len;
	w->rsize = size;
	w->pending = 0;
	for (size_t i = 0; i < w->n; i++) {
		if (w->c_line_len[i] == 0) {
			w->peers[i].job = w->round;
			w->pending++;
		}
	}
	missing = w->pending;
	if (missing > 0) {
		(void)pthread_cond_broadcast(&w->peer_cv);
	}
	deadline = now_ms() + w->timeout_ms;
	while (w->pending > 0 && !w->stopping) {
		struct timespec ts = abs_ms(deadline);

		if (now_ms() >= deadline) {
			break;
		}
		if (early && w->notified) {
			/* Published with its quorum, and a newer checkpoint
			 * waits: the next round starts now; the witnesses
			 * still busy take it when they are done. */
			break;
		}
		if (!early && w->quorum > 0 && take_answers(w) >= w->quorum) {
			/* The quorum is in: publish now, not after the
			 * slowest witness; later cosignatures republish. */
			early = 1;
			(void)pthread_mutex_unlock(&w->mu);
			count = c_count(w);
			if (!has_pub || size > pub_size ||
			    (size == pub_size && count > pub_count)) {
				if (publish(w, note, note_len, size, &root,
					    w->c_line, w->c_line_len,
					    count) == 0) {
					has_pub = 1;
					pub_size = size;
					pub_count = count;
				}
				sync_export(w);
			}
			(void)pthread_mutex_lock(&w->mu);
			continue;
		}
		(void)pthread_cond_timedwait(&w->coord_cv, &w->mu, &ts);
	}
	missing = w->n - take_answers(w);
	(void)pthread_mutex_unlock(&w->mu);

	if (missing > 0) {
		w->retry_at_ms = now_ms() + w->retry_ms;
		w->retry_ms = w->retry_ms * 2 > RETRY_MAX_MS ? RETRY_MAX_MS
							     : w->retry_ms * 2;
	} else {
		w->retry_at_ms = 0;
	}
	count = c_count(w);
	if (count < w->quorum) {
		ft_log(FT_LOG_WARN, "checkpoint of size %llu has %zu of the %zu "
		       "cosignatures needed; not published%s",
		       (unsigned long long)size, count, w->quorum,
		       has_pub ? " (the older one stays)" : "");
		return;
	}
	if (has_pub && (size < pub_size ||
			(size == pub_size && count <= pub_count))) {
		return; /* nothing new for readers */
	}
	if (publish(w, note, note_len, size, &root, w->c_line, w->c_line_len,
		    count) != 0) {
		/* Not durable, not published: try again soon. */
		if (w->retry_at_ms == 0) {
			w->retry_at_ms = now_ms() + w->retry_ms;
		}
	}
}

static void *coord_main(void *arg)
{
	ft_witc *w = arg;

	(void)pthread_mutex_lock(&w->mu);
	for (;;) {
		int due;

		for (;;) {
			due = w->retry_at_ms != 0 && now_ms() >= w->retry_at_ms;
			if (w->stopping || w->notified || due) {
				break;
			}
			if (w->retry_at_ms != 0) {
				struct timespec ts = abs_ms(w->retry_at_ms);
				(void)pthread_cond_timedwait(&w->coord_cv,
							     &w->mu, &ts);
			} else {
				(void)pthread_cond_wait(&w->coord_cv, &w->mu);
			}
		}
		if (w->stopping) {
			break;
		}
		w->notified = 0;
		(void)pthread_mutex_unlock(&w->mu);
		sync_export(w);
		run_round(w);
		sync_export(w);
		(void)pthread_mutex_lock(&w->mu);
	}
	(void)pthread_mutex_unlock(&w->mu);
	return NULL;
}

/* ---- Life cycle. */

static int cond_init_mono(pthread_cond_t *c)
{
	pthread_condattr_t a;
	int rc;

	if (pthread_condattr_init(&a) != 0) {
		return -1;
	}
	rc = pthread_condattr_setclock(&a, CLOCK_MONOTONIC);
	if (rc == 0) {
		rc = pthread_cond_init(c, &a);
	}
	(void)pthread_condattr_destroy(&a);
	return rc == 0 ? 0 : -1;
}

static char *join_path(const char *dir, const char *name)
{
	size_t n = strlen(dir) + strlen(name) + 2;
	char *p = malloc(n);

	if (p != NULL) {
		(void)snprintf(p, n, "%s/%s", dir, name);
	}
	return p;
}

/* Everything but the threads, which must be joined already. */
static void witc_release(ft_witc *w)
{
	for (size_t i = 0; w->peers != NULL && i < w->n; i++) {
		struct peer *p = &w->peers[i];

		if (p->reader_ok) {
			ft_store_reader_free(&p->reader);
		}
		free(p->tr);
		free(p->body);
	}
	if (w->reader_ok) {
		ft_store_reader_free(&w->reader);
	}
	free(w->peers);
	free(w->tr);
	free(w->c_line);
	free(w->c_line_len);
	free(w->pub);
	free(w->pub_path);
	free(w->pub_tmp);
	free(w->data_dir);
	free(w);
}

int ft_witc_start(const ft_witc_opts *opts, ft_witc **out)
{
	ft_witc *w;
	const char *origin;
	int err = FT_ENOMEM;

	*out = NULL;
	if (opts == NULL || opts->store == NULL || opts->log_key == NULL ||
	    opts->data_dir == NULL || opts->n > FT_WITC_MAX ||
	    (opts->n > 0 && opts->peers == NULL) || opts->quorum > opts->n ||
	    opts->timeout_ms == 0 || opts->timeout_ms > INT32_MAX) {
		ft_log(FT_LOG_ERROR, "witness: invalid settings (quorum %zu of "
		       "%zu witnesses)", opts != NULL ? opts->quorum : 0,
		       opts != NULL ? opts->n : 0);
		return FT_EINVAL;
	}
	w = calloc(1, sizeof(*w));
	if (w == NULL) {
		return FT_ENOMEM;
	}
	w->store = opts->store;
	w->log_key = *opts->log_key;
	w->n = opts->n;
	w->quorum = opts->quorum;
	w->timeout_ms = opts->timeout_ms;
	w->export = opts->export;
	w->metrics = opts->metrics;
	w->retry_ms = RETRY_MIN_MS;
	origin = ft_store_origin(opts->store, &w->origin_len);
	if (w->origin_len > FT_KEY_NAME_MAX) {
		free(w);
		return FT_EINVAL;
	}
	memcpy(w->origin, origin, w->origin_len);
	w->data_dir = strdup(opts->data_dir);
	w->pub_path = join_path(opts->data_dir, PUB_FILE);
	w->pub_tmp = join_path(opts->data_dir, PUB_FILE ".tmp");
	w->peers = calloc(w->n > 0 ? w->n : 1, sizeof(*w->peers));
	w->c_line = calloc(w->n > 0 ? w->n : 1, sizeof(*w->c_line));
	w->c_line_len = calloc(w->n > 0 ? w->n : 1, sizeof(*w->c_line_len));
	w->tr = malloc(sizeof(*w->tr));
	if (w->data_dir == NULL || w->pub_path == NULL || w->pub_tmp == NULL ||
	    w->peers == NULL || w->c_line == NULL || w->c_line_len == NULL ||
	    w->tr == NULL) {
		goto fail;
	}
	for (size_t i = 0; i < w->n; i++) {
		struct peer *p = &w->peers[i];

		p->w = w;
		p->p = opts->peers[i];
		p->metric_slot = -1;
		p->tr = malloc(sizeof(*p->tr));
		p->body = malloc(FT_ADDCP_BODY_MAX);
		if (p->tr == NULL || p->body == NULL) {
			goto fail;
		}
		if ((err = ft_store_reader_init(w->store, &p->reader)) != 0) {
			goto fail;
		}
		p->reader_ok = 1;
	}
	if ((err = ft_store_reader_init(w->store, &w->reader)) != 0) {
		goto fail;
	}
	w->reader_ok = 1;
	err = FT_ENOMEM;
	if (pthread_mutex_init(&w->mu, NULL) != 0) {
		goto fail;
	}
	if (pthread_mutex_init(&w->pub_mu, NULL) != 0) {
		goto fail_mu;
	}
	if (cond_init_mono(&w->coord_cv) != 0) {
		goto fail_pub_mu;
	}
	if (cond_init_mono(&w->peer_cv) != 0) {
		goto fail_coord_cv;
	}

	load_published(w);
	if (w->quorum == 0) {
		uint8_t note[FT_STORE_CHECKPOINT_MAX];
		size_t len = 0, pcount;
		uint64_t size, psize;
		ft_hash root;
		int has;

		pub_info(w, &has, &psize, &pcount);
		size_t tl;

		if (newest(w, note, &len, &size, &root) == 0 &&
		    (!has || size > psize) &&
		    ft_note_open(note, len, &w->log_key, 1, NULL, &tl) == 0) {
			/* Readers get only what verifies with the log key,
			 * as run_round checks before a witness sees it. */
			(void)publish(w, note, len, size, &root, NULL, NULL, 0);
		}
	}
	for (size_t i = 0; i < w->n; i++) {
		w->peers[i].metric_slot =
			ft_metrics_witness_add(w->metrics,
					       w->peers[i].p.key.name);
	}

	w->notified = 1; /* the first round */
	for (size_t i = 0; i < w->n; i++) {
		if (pthread_create(&w->peers[i].thread, NULL, peer_main,
				   &w->peers[i]) != 0) {
			ft_log(FT_LOG_ERROR, "witness: cannot start a thread");
			goto fail_threads;
		}
		w->peers[i].started = 1;
	}
	if (pthread_create(&w->coord, NULL, coord_main, w) != 0) {
		ft_log(FT_LOG_ERROR, "witness: cannot start a thread");
		goto fail_threads;
	}
	w->coord_started = 1;
	ft_log(FT_LOG_INFO, "witness client: %zu witness(es), quorum %zu, "
	       "timeout %llums", w->n, w->quorum,
	       (unsigned long long)w->timeout_ms);
	*out = w;
	return 0;

fail_threads:
	ft_witc_free(w);
	return FT_ENOMEM;
fail_coord_cv:
	(void)pthread_cond_destroy(&w->coord_cv);
fail_pub_mu:
	(void)pthread_mutex_destroy(&w->pub_mu);
fail_mu:
	(void)pthread_mutex_destroy(&w->mu);
fail:
	witc_release(w);
	return err;
}

void ft_witc_notify(ft_witc *w)
{
	if (w == NULL) {
		return;
	}
	(void)pthread_mutex_lock(&w->mu);
	w->notified = 1;
	(void)pthread_cond_signal(&w->coord_cv);
	(void)pthread_mutex_unlock(&w->mu);
}

int ft_witc_published(ft_witc *w, uint8_t **note, size_t *len,
		      uint64_t *size, ft_hash *root)
{
	int err = FT_OK;

	*note = NULL;
	*len = 0;
	(void)pthread_mutex_lock(&w->pub_mu);
	if (w->pub == NULL) {
		err = FT_ENOTFOUND;
	} else {
		*note = malloc(w->pub_len);
		if (*note == NULL) {
			err = FT_ENOMEM;
		} else {
			memcpy(*note, w->pub, w->pub_len);
			*len = w->pub_len;
			*size = w->pub_size;
			*root = w->pub_root;
		}
	}
	(void)pthread_mutex_unlock(&w->pub_mu);
	return err;
}

void ft_witc_stop(ft_witc *w)
{
	if (w == NULL) {
		return;
	}
	(void)pthread_mutex_lock(&w->mu);
	w->stopping = 1;
	(void)pthread_cond_broadcast(&w->coord_cv);
	(void)pthread_cond_broadcast(&w->peer_cv);
	(void)pthread_mutex_unlock(&w->mu);
	if (w->coord_started) {
		(void)pthread_join(w->coord, NULL);
		w->coord_started = 0;
	}
	for (size_t i = 0; i < w->n; i++) {
		if (w->peers[i].started) {
			(void)pthread_join(w->peers[i].thread, NULL);
			w->peers[i].started = 0;
		}
	}
}

void ft_witc_free(ft_witc *w)
{
	if (w == NULL) {
		return;
	}
	ft_witc_stop(w);
	(void)pthread_cond_destroy(&w->peer_cv);
	(void)pthread_cond_destroy(&w->coord_cv);
	(void)pthread_mutex_destroy(&w->pub_mu);
	(void)pthread_mutex_destroy(&w->mu);
	witc_release(w);
}
