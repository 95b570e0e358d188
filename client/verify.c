/*
 * client/verify.c - libftclient: the device's checks (ftlog/client.h,
 * DESIGN.md section 5, docs/device-client.md).
 *
 * Everything up to the entry's JSON runs on the context and the stack:
 * the tlog-proof parser, the signed-note and cosignature checks and the
 * Merkle proofs do not allocate. Only ft_event_parse (jansson) does, and
 * it is freed before ft_client_verify returns.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <nettle/sha2.h>

#include <ftlog/client.h>

#include "client/dpolicy.h"
#include "client/state.h"
#include "event/jsonutil.h"

#define set_err ft_ju_set

_Static_assert(FT_CLIENT_IO_CHUNK >= 2 * FT_STATE_FILE_MAX,
	       "commit uses the read buffer for two formatted states");

int ft_client_init(ft_client *c, const char *policy_path,
		   const char *state_path, unsigned flags, char *err,
		   size_t cap)
{
	char why[FT_CLIENT_ERR_MAX];
	int rc;

	set_err(err, cap, "%s", "");
	if (c != NULL) {
		memset(c, 0, sizeof *c);
	}
	if (c == NULL || policy_path == NULL || state_path == NULL ||
	    (flags & ~FT_CLIENT_FIRST_BOOT) != 0) {
		set_err(err, cap, "init: invalid argument");
		return FT_EINVAL;
	}
	size_t n = strlen(state_path);
	if (n == 0 || n > FT_CLIENT_PATH_MAX) {
		set_err(err, cap, "state: path is empty or longer than %d bytes",
			FT_CLIENT_PATH_MAX);
		return FT_EINVAL;
	}
	rc = ft_init();
	if (rc != 0) {
		set_err(err, cap, "init: %s", ft_strerror(rc));
		return rc;
	}
	rc = ft_dpolicy_load(policy_path, &c->policy, why, sizeof why);
	if (rc != 0) {
		set_err(err, cap, "policy: %s", why);
		goto fail;
	}
	rc = ft_state_load(state_path, &c->state, why, sizeof why);
	if (rc == FT_ENOTFOUND && (flags & FT_CLIENT_FIRST_BOOT)) {
		ft_state_init(&c->state);
		rc = 0;
	} else if (rc == FT_ENOTFOUND) {
		set_err(err, cap,
			"state: %s does not exist (a first boot must say so)",
			state_path);
		goto fail;
	} else if (rc != 0) {
		set_err(err, cap, "state: %s", why);
		goto fail;
	}
	memcpy(c->state_path, state_path, n + 1);
	return 0;
fail:
	memset(c, 0, sizeof *c);
	return rc;
}

const ft_dpolicy *ft_client_policy(const ft_client *c)
{
	return &c->policy;
}

/* ---- Image hashing. */

int ft_client_hash_fd(ft_client *c, int fd, uint8_t digest[32],
		      uint64_t *nbytes, char *err, size_t cap)
{
	struct sha256_ctx h;
	struct stat st;
	uint64_t total = 0;

	set_err(err, cap, "%s", "");
	if (c == NULL || digest == NULL || fd < 0) {
		set_err(err, cap, "image: invalid argument");
		return FT_EINVAL;
	}
	if (fstat(fd, &st) != 0) {
		set_err(err, cap, "image: fstat: %s", strerror(errno));
		return FT_EIO;
	}
	if (!S_ISREG(st.st_mode)) {
		set_err(err, cap, "image: not a regular file");
		return FT_EIO;
	}
	(void)posix_fadvise(fd, 0, 0, POSIX_FADV_SEQUENTIAL);
	sha256_init(&h);
	for (;;) {
		ssize_t r = read(fd, c->io, sizeof c->io);

		if (r < 0 && errno == EINTR) {
			continue;
		}
		if (r < 0) {
			set_err(err, cap, "image: read: %s", strerror(errno));
			return FT_EIO;
		}
		if (r == 0) {
			break;
		}
		sha256_update(&h, (size_t)r, c->io);
		total += (uint64_t)r;
	}
	sha256_digest(&h, 32, digest);
	if (nbytes != NULL) {
		*nbytes = total;
	}
	return 0;
}

int ft_client_hash_file(ft_client *c, const char *path, uint8_t digest[32],
			uint64_t *nbytes, char *err, size_t cap)
{
	char q[FT_JU_QUOTE_BUF];

	set_err(err, cap, "%s", "");
	if (c == NULL || path == NULL || digest == NULL) {
		set_err(err, cap, "image: invalid argument");
		return FT_EINVAL;
	}
	/* O_NONBLOCK: a FIFO in place of the image cannot block us. */
	int fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK | O_NOCTTY);
	if (fd < 0) {
		set_err(err, cap, "image: %s: %s", ft_ju_quotez(q, path),
			strerror(errno));
		return FT_EIO;
	}
	int rc = ft_client_hash_fd(c, fd, digest, nbytes, err, cap);
	(void)close(fd);
	return rc;
}

/* ---- Verification. */

/* Lowercase hex of the first n bytes of b into out (2n+1 bytes). */
static const char *hex(char *out, const uint8_t *b, size_t n)
{
	static const char digits[] = "0123456789abcdef";

	for (size_t i = 0; i < n; i++) {
		out[2 * i] = digits[b[i] >> 4];
		out[2 * i + 1] = digits[b[i] & 15];
	}
	out[2 * n] = '\0';
	return out;
}

/* The length of the text of a signed note: up to and including the
 * newline before its last blank line. 0 if there is no blank line. */
static size_t note_text_len(const uint8_t *msg, size_t len)
{
	for (size_t i = len; i >= 2; i--) {
		if (msg[i - 1] == '\n' && msg[i - 2] == '\n') {
			return i - 1;
		}
	}
	return 0;
}

/* Where one verification keeps its intermediate results. */
typedef struct vstate {
	ft_tlog_proof tp;
	ft_checkpoint cp;
	size_t entry_len;
	/* One ft_note_open with the log and every witness key: status[0]
	 * the log, status[1 + i] witness i. Valid when opened is 1; when one
	 * known key's line is bad the whole open fails and each key is
	 * checked alone instead. */
	int opened;
	ft_note_sig status[1 + FT_DPOLICY_MAX_WITNESSES];
} vstate;

/* The combined open (see vstate): ft_note_open's result. */
static int open_all(ft_client *c, vstate *v)
{
	ft_vkey known[1 + FT_DPOLICY_MAX_WITNESSES];
	size_t n = 1 + c->policy.n_witnesses;
	size_t tlen;

	known[0] = c->policy.log;
	memcpy(known + 1, c->policy.witnesses,
	       c->policy.n_witnesses * sizeof known[0]);
	int rc = ft_note_open(v->tp.checkpoint, v->tp.checkpoint_len, known, n,
			      v->status, &tlen);
	v->opened = rc == 0;
	return rc;
}

/* bundle: the tlog-proof and its checkpoint are well formed. */
static int check_bundle(ft_client *c, vstate *v, const uint8_t *bundle,
			size_t len, char *err, size_t cap)
{
	size_t tlen;
	int rc;

	if (len > FT_CLIENT_BUNDLE_MAX) {
		set_err(err, cap, "bundle: %zu bytes, more than the %zu allowed",
			len, (size_t)FT_CLIENT_BUNDLE_MAX);
		return FT_ECLIENT_BUNDLE;
	}
	rc = ft_tlog_proof_parse(bundle, len, &v->tp, c->entry,
				 sizeof c->entry);
	if (rc != 0) {
		set_err(err, cap, "bundle: not a valid tlog-proof (%s)",
			rc == FT_EBUFSIZE ? "entry longer than 65535 bytes"
					  : ft_strerror(rc));
		return FT_ECLIENT_BUNDLE;
	}
	if (!v->tp.has_extra) {
		set_err(err, cap, "bundle: no extra line: the log entry is "
				  "missing");
		return FT_ECLIENT_BUNDLE;
	}
	v->entry_len = v->tp.extra_len;
	/* The note's syntax, and the signatures of the log and witness keys
	 * in one pass (their verdicts are used by the next checks). */
	rc = open_all(c, v);
	if (rc != 0 && rc != FT_ENOTE_NOKEY && rc != FT_ENOTE_BADSIG) {
		set_err(err, cap, "bundle: checkpoint is not a signed note (%s)",
			ft_strerror(rc));
		return FT_ECLIENT_BUNDLE;
	}
	tlen = note_text_len(v->tp.checkpoint, v->tp.checkpoint_len);
	rc = ft_checkpoint_parse(v->tp.checkpoint, tlen, NULL, 0, &v->cp);
	if (rc != 0) {
		set_err(err, cap, "bundle: malformed checkpoint (%s)",
			ft_strerror(rc));
		return FT_ECLIENT_BUNDLE;
	}
	return 0;
}

/* log, log-signature: the policy's log signed this checkpoint. */
static int check_log(ft_client *c, vstate *v, char *err, size_t cap)
{
	const ft_vkey *log = &c->policy.log;
	char q[FT_JU_QUOTE_BUF];
	size_t tlen;

	if (v->cp.origin_len != log->name_len ||
	    memcmp(v->cp.origin, log->name, log->name_len) != 0) {
		set_err(err, cap, "log: checkpoint origin \"%s\" is not the "
				  "trusted log \"%s\"",
			ft_ju_quote(q, v->cp.origin, v->cp.origin_len),
			log->name);
		return FT_ECLIENT_LOG;
	}
	int rc = 0;
	if (!v->opened || !v->status[0].verified) {
		rc = ft_note_open(v->tp.checkpoint, v->tp.checkpoint_len, log,
				  1, NULL, &tlen);
	}
	if (rc != 0) {
		set_err(err, cap, "log-signature: %s",
			rc == FT_ENOTE_NOKEY
				? "no signature by the log key"
				: rc == FT_ENOTE_BADSIG
					  ? "the log key's signature does not "
					    "verify"
					  : ft_strerror(rc));
		return FT_ECLIENT_LOG_SIG;
	}
	return 0;
}

/* quorum, future, stale: enough distinct witnesses cosigned it, none in
 * the future, the newest recent enough. */
static int check_witnesses(ft_client *c, vstate *v, uint64_t now,
			   ft_client_result *res, char *err, size_t cap)
{
	const ft_dpolicy *p = &c->policy;
	unsigned count = 0;
	uint64_t newest = 0;
	size_t future = SIZE_MAX; /* a witness whose cosignature is ahead */
	uint64_t future_ts = 0;
	size_t tlen;

	for (size_t i = 0; i < p->n_witnesses; i++) {
		ft_note_sig st;

		if (v->opened) {
			st = v->status[1 + i];
		} else if (ft_note_open(v->tp.checkpoint, v->tp.checkpoint_len,
					&p->witnesses[i], 1, &st, &tlen) != 0) {
			/* One key at a time: a bad line from one witness
			 * must not hide the others. */
			continue;
		}
		if (!st.verified) {
			continue;
		}
		count++;
		if (st.timestamp > now &&
		    st.timestamp - now > FT_CLIENT_MAX_SKEW &&
		    future == SIZE_MAX) {
			future = i;
			future_ts = st.timestamp;
		}
		if (st.timestamp > newest) {
			newest = st.timestamp;
		}
	}
	if (count < p->quorum) {
		set_err(err, cap,
			"quorum: %u of the policy's witnesses cosigned the "
			"checkpoint, %u required",
			count, p->quorum);
		return FT_ECLIENT_QUORUM;
	}
	if (future != SIZE_MAX) {
		set_err(err, cap,
			"future: cosignature by %s is dated %" PRIu64
			", %" PRIu64 " s after the device's clock (%" PRIu64
			")",
			p->witnesses[future].name, future_ts, future_ts - now,
			now);
		return FT_ECLIENT_FUTURE;
	}
	if (count > 0 && newest < now && now - newest > p->max_age_s) {
		set_err(err, cap,
			"stale: newest cosignature is %" PRIu64
			" s old, the policy allows %" PRIu64 " s",
			now - newest, p->max_age_s);
		return FT_ECLIENT_STALE;
	}
	res->n_cosigs = count;
	res->newest_cosig = newest;
	return 0;
}

/* consistency: the checkpoint does not go back on the stored one. */
static int check_consistency(ft_client *c, vstate *v, const ft_hash *cons,
			     size_t cons_n, ft_client_result *res, char *err,
			     size_t cap)
{
	const ft_state *s = &c->state;
	uint64_t n = v->cp.size;

	if (!s->has_checkpoint || s->size == 0) {
		return 0;
	}
	if (n < s->size) {
		set_err(err, cap,
			"consistency: checkpoint of size %" PRIu64
			" is older than the stored one (size %" PRIu64 ")",
			n, s->size);
		return FT_ECLIENT_CONSISTENCY;
	}
	if (cons == NULL || cons_n == 0) {
		/* Offline: no proof, only the same-size check. (A proof
		 * between different sizes always has at least one hash.) */
		if (n == s->size &&
		    !ft_hash_equal(&v->cp.root, &s->root)) {
			set_err(err, cap,
				"consistency: checkpoint of size %" PRIu64
				" has another root than the stored one: the "
				"log shows two different trees",
				n);
			return FT_ECLIENT_CONSISTENCY;
		}
		return 0;
	}
	if (cons_n > FT_PROOF_MAX_CONSISTENCY) {
		set_err(err, cap, "consistency: proof of %zu hashes is too "
				  "long",
			cons_n);
		return FT_ECLIENT_CONSISTENCY;
	}
	int rc = ft_proof_verify_consistency(
		s->size, n, s->root.b, sizeof s->root.b, v->cp.root.b,
		sizeof v->cp.root.b, (const uint8_t *)cons,
		cons_n * sizeof(ft_hash));
	if (rc != 0) {
		set_err(err, cap,
			"consistency: the stored tree (size %" PRIu64
			") is not a prefix of this one (size %" PRIu64 "): %s",
			s->size, n, ft_strerror(rc));
		return FT_ECLIENT_CONSISTENCY;
	}
	res->consistency_proved = 1;
	return 0;
}

/* inclusion: the entry is in the checkpoint's tree. */
static int check_inclusion(ft_client *c, vstate *v, char *err, size_t cap)
{
	ft_hash leaf;

	ft_merkle_leaf_hash(c->entry, v->entry_len, &leaf);
	int rc = ft_proof_verify_inclusion(
		v->tp.index, v->cp.size, leaf.b, sizeof leaf.b,
		(const uint8_t *)v->tp.path, v->tp.path_len * sizeof(ft_hash),
		v->cp.root.b, sizeof v->cp.root.b);
	if (rc != 0) {
		set_err(err, cap,
			"inclusion: entry %" PRIu64 " is not proved to be in "
			"the tree of size %" PRIu64 " (%s)",
			v->tp.index, v->cp.size, ft_strerror(rc));
		return FT_ECLIENT_INCLUSION;
	}
	return 0;
}

static bool has_subject(const ft_event *ev, const uint8_t digest[32])
{
	for (size_t i = 0; i < ev->n_subjects; i++) {
		if (memcmp(ev->subjects[i].sha256, digest, 32) == 0) {
			return true;
		}
	}
	return false;
}

static bool has_hw(const ft_event *ev, const char *model)
{
	for (size_t i = 0; i < ev->n_hw; i++) {
		if (strcmp(ev->hw[i], model) == 0) {
			return true;
		}
	}
	return false;
}

/* vendor-key, threshold: enough distinct policy vendor keys signed it,
 * and no revoked one. */
static int check_vendor(ft_client *c, const ft_event *ev,
			ft_client_result *res, char *err, size_t cap)
{
	const ft_dpolicy *p = &c->policy;
	bool seen[FT_DPOLICY_MAX_VENDOR_KEYS] = {false};
	char q[FT_JU_QUOTE_BUF];
	unsigned valid = 0, named = 0, bad = 0;
	const char *bad_name = NULL;

	for (size_t i = 0; i < ev->n_sigs; i++) {
		if (ft_dpolicy_revoked_index(p, ev->sigs[i].keyid) >= 0) {
			set_err(err, cap,
				"vendor-key: signed by the revoked key \"%s\"",
				ft_ju_quotez(q, ev->sigs[i].keyid));
			return FT_ECLIENT_VENDOR_KEY;
		}
	}
	for (size_t i = 0; i < ev->n_sigs; i++) {
		int k = ft_dpolicy_vendor_index(p, ev->sigs[i].keyid);

		if (k < 0) {
			continue;
		}
		named++;
		if (seen[k]) {
			continue;
		}
		if (ft_event_verify(ev, i, &p->vendor[k]) == 0) {
			seen[k] = true;
			valid++;
		} else {
			bad++;
			bad_name = p->vendor_keyid[k];
		}
	}
	if (named == 0) {
		set_err(err, cap,
			"vendor-key: no signature by a vendor key of the policy "
			"(first signer \"%s\")",
			ft_ju_quotez(q, ev->sigs[0].keyid));
		return FT_ECLIENT_VENDOR_KEY;
	}
	if (valid < p->threshold) {
		if (bad > 0) {
			set_err(err, cap,
				"threshold: %u valid vendor signature%s, %u "
				"required (the signature of \"%s\" does not "
				"verify)",
				valid, valid == 1 ? "" : "s", p->threshold,
				ft_ju_quotez(q, bad_name));
		} else {
			set_err(err, cap,
				"threshold: %u valid vendor signature%s, %u "
				"required",
				valid, valid == 1 ? "" : "s", p->threshold);
		}
		return FT_ECLIENT_THRESHOLD;
	}
	res->n_vendor_sigs = valid;
	return 0;
}

/* not-release, digest, product, hardware, vendor-key, threshold,
 * rollback: what the release says. */
static int check_release(ft_client *c, vstate *v, const uint8_t digest[32],
			 ft_client_result *res, char *err, size_t cap)
{
	const ft_dpolicy *p = &c->policy;
	char why[256];
	char q[FT_JU_QUOTE_BUF];
	char hx[65];
	ft_event ev;
	int rc;

	rc = ft_event_parse(c->entry, v->entry_len, &ev, why, sizeof why);
	if (rc == FT_ENOMEM) {
		set_err(err, cap, "not-release: out of memory parsing the "
				  "entry");
		return FT_ENOMEM;
	}
	if (rc != 0) {
		set_err(err, cap, "not-release: entry %" PRIu64
				  " is not a firmware event (%s)",
			v->tp.index, why);
		return FT_ECLIENT_NOT_RELEASE;
	}
	if (ev.kind != FT_EVENT_RELEASE) {
		set_err(err, cap, "not-release: entry %" PRIu64
				  " is a %s event, not a release",
			v->tp.index, ft_event_kind_name(ev.kind));
		rc = FT_ECLIENT_NOT_RELEASE;
		goto out;
	}
	if (!has_subject(&ev, digest)) {
		set_err(err, cap,
			"digest: the release is not about this image (sha256 "
			"%s)",
			hex(hx, digest, 32));
		rc = FT_ECLIENT_DIGEST;
		goto out;
	}
	if (strcmp(ev.product, p->product) != 0) {
		set_err(err, cap,
			"product: the release is for \"%s\", this device is "
			"\"%s\"",
			ft_ju_quotez(q, ev.product), p->product);
		rc = FT_ECLIENT_PRODUCT;
		goto out;
	}
	if (!has_hw(&ev, p->hardware_model)) {
		set_err(err, cap,
			"hardware: the release does not list this device's "
			"hardware model \"%s\"",
			p->hardware_model);
		rc = FT_ECLIENT_HW;
		goto out;
	}
	rc = check_vendor(c, &ev, res, err, cap);
	if (rc != 0) {
		goto out;
	}
	uint64_t floor = ft_state_floor(&c->state, p->product);
	if (ev.security_version < floor) {
		set_err(err, cap,
			"rollback: security_version %" PRIu64 " of %s is "
			"below the installed %" PRIu64,
			ev.security_version, p->product, floor);
		rc = FT_ECLIENT_ROLLBACK;
		goto out;
	}
	snprintf(res->product, sizeof res->product, "%s", ev.product);
	snprintf(res->version, sizeof res->version, "%s", ev.version);
	snprintf(res->vendor, sizeof res->vendor, "%s", ev.vendor);
	res->security_version = ev.security_version;
out:
	ft_event_free(&ev);
	return rc;
}

int ft_client_verify(ft_client *c, const uint8_t digest[32],
		     const uint8_t *bundle, size_t len, const ft_hash *cons,
		     size_t cons_n, uint64_t now, ft_client_result *res,
		     char *err, size_t cap)
{
	static const vstate zero;
	vstate v = zero;
	int rc;

	set_err(err, cap, "%s", "");
	if (res != NULL) {
		memset(res, 0, sizeof *res);
	}
	if (c != NULL) {
		/* Whatever happens now, an earlier verify is not committable. */
		c->verified = 0;
		memset(&c->next, 0, sizeof c->next);
	}
	if (c == NULL || digest == NULL || res == NULL ||
	    (bundle == NULL && len > 0) || (cons == NULL && cons_n > 0) ||
	    c->state_path[0] == '\0') {
		set_err(err, cap, "verify: invalid argument");
		return FT_EINVAL;
	}
	if (bundle == NULL) {
		set_err(err, cap, "bundle: empty");
		return FT_ECLIENT_BUNDLE;
	}
	rc = check_bundle(c, &v, bundle, len, err, cap);
	if (rc == 0) {
		rc = check_log(c, &v, err, cap);
	}
	if (rc == 0) {
		rc = check_witnesses(c, &v, now, res, err, cap);
	}
	if (rc == 0) {
		rc = check_consistency(c, &v, cons, cons_n, res, err, cap);
	}
	if (rc == 0) {
		rc = check_inclusion(c, &v, err, cap);
	}
	if (rc == 0) {
		rc = check_release(c, &v, digest, res, err, cap);
	}
	if (rc == 0) {
		/* What commit will write: the newer checkpoint, the floor. */
		c->next = c->state;
		if (!c->next.has_checkpoint || v.cp.size > c->next.size) {
			ft_state_set_checkpoint(&c->next, v.cp.size,
						&v.cp.root);
		}
		rc = ft_state_set_floor(&c->next, c->policy.product,
					res->security_version);
		if (rc != 0) {
			set_err(err, cap, "state: cannot record the floor of "
					  "%s (%s)",
				c->policy.product, ft_strerror(rc));
		}
	}
	if (rc != 0) {
		memset(res, 0, sizeof *res);
		memset(&c->next, 0, sizeof c->next);
		return rc;
	}
	res->index = v.tp.index;
	res->tree_size = v.cp.size;
	res->root = v.cp.root;
	c->verified = 1;
	return 0;
}

int ft_client_commit(ft_client *c, char *err, size_t cap)
{
	char why[FT_CLIENT_ERR_MAX];

	set_err(err, cap, "%s", "");
	if (c == NULL) {
		set_err(err, cap, "commit: invalid argument");
		return FT_EINVAL;
	}
	if (!c->verified) {
		set_err(err, cap, "commit: nothing verified to commit");
		return FT_ECLIENT_NOT_VERIFIED;
	}
	/* Refuse to overwrite a state someone else committed since init:
	 * writing ours would lower their floors (callers must serialize;
	 * this catches those that do not). */
	ft_state now_st;
	uint8_t *a = c->io, *b = c->io + FT_STATE_FILE_MAX; /* scratch */
	size_t alen = 0, blen = 0;
	int rc = ft_state_load(c->state_path, &now_st, why, sizeof why);
	if (rc == FT_ENOTFOUND) {
		ft_state_init(&now_st);
		rc = 0;
	}
	if (rc == 0 &&
	    (ft_state_format(&now_st, a, FT_STATE_FILE_MAX, &alen) != 0 ||
	     ft_state_format(&c->state, b, FT_STATE_FILE_MAX, &blen) != 0 ||
	     alen != blen || memcmp(a, b, alen) != 0)) {
		set_err(err, cap, "commit: %s changed since it was loaded "
				  "(another verifier committed?); verify again",
			c->state_path);
		c->verified = 0;
		return FT_EIO;
	}
	if (rc != 0) {
		set_err(err, cap, "commit: %s", why);
		return rc;
	}
	rc = ft_state_save(c->state_path, &c->next, why, sizeof why);
	if (rc != 0) {
		set_err(err, cap, "commit: %s", why);
		return rc;
	}
	c->state = c->next;
	c->verified = 0;
	return 0;
}
