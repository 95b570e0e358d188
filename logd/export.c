/*
 * logd/export.c - static export of the read API to a directory (see
 * export.h).
 *
 * Order of writes for one update (old_size -> new size):
 *   1. every hash tile and entry bundle new between the two sizes, each
 *      made durable on its own (temp file, fsync, rename, fsync dir);
 *   2. DIR/checkpoint, the same way: a reader that sees it finds every
 *      tile it names;
 *   3. the partial tiles made stale by a full tile written in 1.
 *
 * Nothing here is trusted to be the truth: the store is. A crash at any
 * point leaves files that are either complete and correct or named
 * ".tmp-*", and ft_export_catch_up redoes everything after the exported
 * checkpoint.
 *
 * Publisher mode (witnesses): step 2 and 3 move to
 * ft_export_write_checkpoint, called by the witness thread with the
 * published checkpoint, which may lag the store. It is written only once
 * the tiles of its size are exported (tiles_size), and only then are the
 * partial tiles it no longer needs removed: a reader holding the
 * published checkpoint must find every partial tile it names.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <ftlog/note.h>
#include <ftlog/tile.h>

#include "logd/export.h"
#include "logd/fsutil.h"
#include "logd/log.h"

/* Longest path we build: DIR + "/" + tile path + ".p/" + temp name. */
#define EXPORT_PATH_MAX 4096
#define TMP_PREFIX ".tmp-"

struct ft_export {
	char *dir;
	size_t dir_len;
	uint8_t *buf; /* entry bundle under construction, grown on demand */
	size_t buf_cap;
	/* mu guards the fields below and every write of DIR/checkpoint:
	 * the sequencer (update) and the witness thread (write_checkpoint)
	 * both get here. Tile writes need no lock: only the sequencer
	 * thread makes them, and concurrent directory creation is
	 * harmless (EEXIST). */
	pthread_mutex_t mu;
	int publisher;       /* DIR/checkpoint only by write_checkpoint */
	int tiles_known;     /* tiles_size is valid (an update succeeded) */
	uint64_t tiles_size; /* every tile of this size is exported */
};

/* Log an I/O failure with errno and turn it into FT_EIO. */
static int io_error(const char *what, const char *path)
{
	ft_log(FT_LOG_ERROR, "export: %s %s: %s", what, path, strerror(errno));
	return FT_EIO;
}

/* "DIR/rel" into out; FT_EINVAL if it does not fit. */
static int join(const ft_export *e, const char *rel, char *out, size_t cap)
{
	int n = snprintf(out, cap, "%s/%s", e->dir, rel);

	if (n < 0 || (size_t)n >= cap) {
		ft_log(FT_LOG_ERROR, "export: path too long under %s", e->dir);
		return FT_EINVAL;
	}
	return FT_OK;
}

/* fsync a directory so the names created or removed in it are durable. */
static int fsync_dir(const char *path)
{
	if (ft_fsync_dir(path) != 0) {
		return io_error("fsync directory", path);
	}
	return FT_OK;
}

/*
 * Create every missing directory of the absolute path `dirpath` below
 * e->dir (which exists), mode 0755. A directory we create is made
 * durable by fsyncing its parent, or a crash could lose a tile's name
 * together with its directory.
 */
static int mkdir_below(const ft_export *e, const char *dirpath)
{
	char tmp[EXPORT_PATH_MAX];
	struct stat st;
	size_t n = strlen(dirpath);

	if (stat(dirpath, &st) == 0 && S_ISDIR(st.st_mode)) {
		return FT_OK; /* the common case: already there */
	}
	if (n >= sizeof tmp) {
		return FT_EINVAL;
	}
	memcpy(tmp, dirpath, n + 1);
	for (size_t i = e->dir_len + 1; i <= n; i++) {
		if (tmp[i] != '/' && tmp[i] != '\0') {
			continue;
		}
		char saved = tmp[i];
		tmp[i] = '\0';
		if (mkdir(tmp, 0755) == 0) {
			/* Parent of tmp: cut at the previous '/'. */
			char *slash = strrchr(tmp, '/');
			int rc;
			*slash = '\0';
			rc = fsync_dir(tmp);
			*slash = '/';
			if (rc != 0) {
				return rc;
			}
		} else if (errno != EEXIST) {
			return io_error("mkdir", tmp);
		}
		tmp[i] = saved;
	}
	return FT_OK;
}

/* write(2) all of buf, through EINTR and short writes. */
static int write_all(int fd, const uint8_t *buf, size_t len)
{
	while (len > 0) {
		ssize_t w = write(fd, buf, len);
		if (w < 0) {
			if (errno == EINTR) {
				continue;
			}
			return -1;
		}
		if (w == 0) {
			errno = EIO; /* a regular file never does this */
			return -1;
		}
		buf += (size_t)w;
		len -= (size_t)w;
	}
	return 0;
}

/*
 * Write DIR/rel atomically: a temp file in the same directory (so rename
 * cannot cross file systems), written fully, fsync'ed, mode 0644, renamed
 * over the target, and the directory fsync'ed so the new name survives a
 * crash. Readers see the old file or the new one, never a part.
 */
static int write_atomic(ft_export *e, const char *rel, const uint8_t *data,
			size_t len)
{
	char path[EXPORT_PATH_MAX];
	char parent[EXPORT_PATH_MAX];
	char tmpl[EXPORT_PATH_MAX];
	int rc;

	if ((rc = join(e, rel, path, sizeof path)) != 0) {
		return rc;
	}
	memcpy(parent, path, strlen(path) + 1);
	*strrchr(parent, '/') = '\0'; /* join put at least one '/' */
	if ((rc = mkdir_below(e, parent)) != 0) {
		return rc;
	}
	int n = snprintf(tmpl, sizeof tmpl, "%s/" TMP_PREFIX "XXXXXX", parent);
	if (n < 0 || (size_t)n >= sizeof tmpl) {
		return FT_EINVAL;
	}
	int fd = mkstemp(tmpl);
	if (fd < 0) {
		return io_error("create temporary file in", parent);
	}
	/* mkstemp makes 0600; served files are world-readable. */
	if (fchmod(fd, 0644) != 0) {
		rc = io_error("chmod", tmpl);
		goto fail_open;
	}
	if (write_all(fd, data, len) != 0) {
		rc = io_error("write", tmpl);
		goto fail_open;
	}
	if (fsync(fd) != 0) {
		rc = io_error("fsync", tmpl);
		goto fail_open;
	}
	if (close(fd) != 0) {
		rc = io_error("close", tmpl);
		goto fail_closed;
	}
	if (rename(tmpl, path) != 0) {
		rc = io_error("rename into place", path);
		goto fail_closed;
	}
	return fsync_dir(parent);

fail_open:
	(void)close(fd); /* the first error is the one reported */
fail_closed:
	if (unlink(tmpl) != 0 && errno != ENOENT) {
		ft_log(FT_LOG_WARN, "export: cannot remove %s: %s", tmpl,
		       strerror(errno));
	}
	return rc;
}

/* Whether DIR/rel exists as a regular file of exactly `size` bytes
 * (size 0: of any non-zero size). */
static int have_file(const ft_export *e, const char *rel, off_t size)
{
	char path[EXPORT_PATH_MAX];
	struct stat st;

	if (join(e, rel, path, sizeof path) != 0) {
		return 0;
	}
	if (stat(path, &st) != 0 || !S_ISREG(st.st_mode)) {
		return 0;
	}
	return size == 0 ? st.st_size > 0 : st.st_size == size;
}

static int grow_buf(ft_export *e, size_t need)
{
	if (need <= e->buf_cap) {
		return FT_OK;
	}
	uint8_t *p = realloc(e->buf, need);
	if (p == NULL) {
		return FT_ENOMEM;
	}
	e->buf = p;
	e->buf_cap = need;
	return FT_OK;
}

typedef struct walk_ctx {
	ft_export *e;
	ft_store_reader *r;
} walk_ctx;

/* The entry bundle for tile t: uint16_be(len) || entry, in log order. */
static int build_bundle(ft_export *e, ft_store_reader *r, const ft_tile *t,
			size_t *len)
{
	uint64_t first = t->index * FT_TILE_WIDTH;
	size_t need = 0;
	const uint8_t *d;
	size_t n;
	int rc;

	/* Two passes over the map (cheap: LMDB reads are pointers) so the
	 * buffer is sized once. */
	for (unsigned i = 0; i < t->width; i++) {
		if ((rc = ft_store_get_entry(r, first + i, &d, &n)) != 0) {
			return rc;
		}
		need += 2 + n;
	}
	if ((rc = grow_buf(e, need)) != 0) {
		return rc;
	}
	*len = 0;
	for (unsigned i = 0; i < t->width; i++) {
		if ((rc = ft_store_get_entry(r, first + i, &d, &n)) != 0) {
			return rc;
		}
		if ((rc = ft_bundle_append(e->buf, e->buf_cap, len, d, n)) !=
		    0) {
			return rc;
		}
	}
	return FT_OK;
}

/* Write one tile or bundle new at the snapshot's size. */
static int export_tile(void *ctx, const ft_tile *t)
{
	walk_ctx *w = ctx;
	char rel[FT_TILE_PATH_MAX];
	size_t rel_len;
	const uint8_t *data;
	size_t len;
	int rc;

	if ((rc = ft_tile_path(t, rel, sizeof rel, &rel_len)) != 0) {
		return rc;
	}
	int full = t->width == FT_TILE_WIDTH;

	if (t->level == FT_TILE_ENTRIES) {
		/* Full bundles are immutable: one already there is kept. */
		if (full && have_file(w->e, rel, 0)) {
			return FT_OK;
		}
		if (full) {
			/* Stored whole: written straight from the map. */
			rc = ft_store_get_bundle(w->r, t->index, &data, &len);
			if (rc != 0) {
				ft_log(FT_LOG_ERROR, "export: stored bundle "
				       "%s: %s", rel, ft_strerror(rc));
				return rc == FT_ENOTFOUND ? FT_ESTORE_CORRUPT
							  : rc;
			}
			return write_atomic(w->e, rel, data, len);
		}
		if ((rc = build_bundle(w->e, w->r, t, &len)) != 0) {
			return rc;
		}
		return write_atomic(w->e, rel, w->e->buf, len);
	}

	if (full && have_file(w->e, rel, FT_TILE_BYTES)) {
		return FT_OK;
	}
	rc = ft_store_get_tile(w->r, (unsigned)t->level, t->index, &data,
			       &len);
	if (rc != 0) {
		return rc;
	}
	/* The stored tile may already be wider (a later snapshot never is,
	 * but hashes never change): its prefix is this tile. */
	size_t want = (size_t)t->width * FT_HASH_LEN;
	if (len < want) {
		ft_log(FT_LOG_ERROR, "export: stored tile %s has %zu bytes, "
		       "want %zu", rel, len, want);
		return FT_ESTORE_CORRUPT;
	}
	return write_atomic(w->e, rel, data, want);
}

/* A canonical partial width "1".."255" (what ft_tile_path writes). */
static int is_width_name(const char *s)
{
	uint64_t v;
	size_t n = strlen(s);

	return n > 0 && n <= 3 && ft_parse_u63(s, n, &v) == 0 && v >= 1 &&
	       v < FT_TILE_WIDTH;
}

/*
 * Remove the partial versions of full tile t ("<path>.p/<W>").
 *
 * C2SP tlog-tiles, "Partial Tiles": "Logs MUST serve partial tiles
 * corresponding to tree sizes for which a checkpoint was produced, but
 * MAY delete any partial tile once the corresponding full tile is either
 * available, or has been removed by the pruning criteria". Clients with
 * an older checkpoint "MAY fetch the full tile in parallel as a fallback".
 * We only get here after the full tile is durable and the checkpoint
 * that covers it is published, so the deletion is allowed. It is only
 * housekeeping: a failure is logged, never returned.
 */
static int remove_stale_partials(void *ctx, const ft_tile *t)
{
	walk_ctx *w = ctx;
	char rel[FT_TILE_PATH_MAX];
	char pdir[EXPORT_PATH_MAX];
	char file[EXPORT_PATH_MAX];
	size_t rel_len;
	struct dirent *de;

	if (t->width != FT_TILE_WIDTH) {
		return FT_OK;
	}
	if (ft_tile_path(t, rel, sizeof rel, &rel_len) != 0) {
		return FT_OK;
	}
	int n = snprintf(pdir, sizeof pdir, "%s/%s.p", w->e->dir, rel);
	if (n < 0 || (size_t)n >= sizeof pdir) {
		return FT_OK;
	}
	DIR *d = opendir(pdir);
	if (d == NULL) {
		if (errno != ENOENT) {
			ft_log(FT_LOG_WARN, "export: cannot open %s: %s", pdir,
			       strerror(errno));
		}
		return FT_OK;
	}
	while ((errno = 0, de = readdir(d)) != NULL) {
		/* Only our own names: widths, and temp files of a crash. */
		if (!is_width_name(de->d_name) &&
		    strncmp(de->d_name, TMP_PREFIX, strlen(TMP_PREFIX)) != 0) {
			continue;
		}
		n = snprintf(file, sizeof file, "%s/%s", pdir, de->d_name);
		if (n < 0 || (size_t)n >= sizeof file) {
			continue;
		}
		if (unlink(file) != 0 && errno != ENOENT) {
			ft_log(FT_LOG_WARN, "export: cannot remove %s: %s",
			       file, strerror(errno));
			continue;
		}
	}
	if (errno != 0) {
		ft_log(FT_LOG_WARN, "export: cannot read %s: %s", pdir,
		       strerror(errno));
	}
	if (closedir(d) != 0) {
		ft_log(FT_LOG_WARN, "export: cannot close %s: %s", pdir,
		       strerror(errno));
	}
	/* Empty now unless someone else put files there: then keep it. A
	 * removal that a crash undoes only leaves harmless stale files, so
	 * the fsync of the parent is for tidiness, not correctness. */
	if (rmdir(pdir) == 0) {
		char *slash = strrchr(pdir, '/');
		*slash = '\0';
		if (fsync_dir(pdir) != 0) {
			ft_log(FT_LOG_WARN, "export: removal of stale partial "
			       "tiles of %s may not be durable", rel);
		}
	} else if (errno != ENOTEMPTY && errno != EEXIST && errno != ENOENT) {
		ft_log(FT_LOG_WARN, "export: cannot remove %s: %s", pdir,
		       strerror(errno));
	}
	return FT_OK;
}

int ft_export_open(const char *dir, ft_export **out)
{
	struct stat st;

	if (dir == NULL || dir[0] == '\0' || out == NULL) {
		return FT_EINVAL;
	}
	*out = NULL;
	size_t len = strlen(dir);
	while (len > 1 && dir[len - 1] == '/') {
		len--; /* "DIR/" and "DIR" name the same place */
	}
	if (len + 1 + FT_TILE_PATH_MAX + 32 > EXPORT_PATH_MAX) {
		ft_log(FT_LOG_ERROR, "export: directory name too long");
		return FT_EINVAL;
	}
	if (mkdir(dir, 0755) != 0 && errno != EEXIST) {
		return io_error("mkdir", dir);
	}
	if (stat(dir, &st) != 0) {
		return io_error("stat", dir);
	}
	if (!S_ISDIR(st.st_mode)) {
		ft_log(FT_LOG_ERROR, "export: %s is not a directory", dir);
		return FT_EINVAL;
	}
	ft_export *e = calloc(1, sizeof *e);
	if (e == NULL) {
		return FT_ENOMEM;
	}
	e->dir = malloc(len + 1);
	if (e->dir == NULL) {
		free(e);
		return FT_ENOMEM;
	}
	if (pthread_mutex_init(&e->mu, NULL) != 0) {
		free(e->dir);
		free(e);
		return FT_ENOMEM;
	}
	memcpy(e->dir, dir, len);
	e->dir[len] = '\0';
	/* "/" stays "/": then paths start with "//", which is harmless. */
	e->dir_len = len;
	*out = e;
	return FT_OK;
}

void ft_export_close(ft_export *e)
{
	if (e == NULL) {
		return;
	}
	(void)pthread_mutex_destroy(&e->mu);
	free(e->buf);
	free(e->dir);
	free(e);
}

int ft_export_update(ft_export *e, ft_store_reader *r, uint64_t old_size)
{
	ft_store_state st;
	int rc;

	if (e == NULL || r == NULL) {
		return FT_EINVAL;
	}
	if ((rc = ft_store_get_state(r, &st)) != 0) {
		return rc;
	}
	if (old_size > st.size) {
		ft_log(FT_LOG_ERROR, "export: exported size %llu is beyond the "
		       "store's %llu", (unsigned long long)old_size,
		       (unsigned long long)st.size);
		return FT_EINVAL;
	}
	walk_ctx w = {e, r};
	if ((rc = ft_tile_foreach_new(old_size, st.size, export_tile, &w)) !=
	    0) {
		return rc;
	}
	(void)pthread_mutex_lock(&e->mu);
	if (e->publisher) {
		/* The checkpoint and the removal of stale partial tiles
		 * wait for ft_export_write_checkpoint. */
		if (!e->tiles_known || st.size > e->tiles_size) {
			e->tiles_size = st.size;
		}
		e->tiles_known = 1;
		(void)pthread_mutex_unlock(&e->mu);
		return FT_OK;
	}
	(void)pthread_mutex_unlock(&e->mu);
	if (st.checkpoint == NULL || st.checkpoint_len == 0) {
		/* Nothing signed yet (a new, empty log): nothing to point
		 * readers at. */
		if (st.size != 0) {
			ft_log(FT_LOG_WARN, "export: store of size %llu has no "
			       "checkpoint; not exported",
			       (unsigned long long)st.size);
		}
		return FT_OK;
	}
	(void)pthread_mutex_lock(&e->mu);
	rc = write_atomic(e, "checkpoint", st.checkpoint, st.checkpoint_len);
	(void)pthread_mutex_unlock(&e->mu);
	if (rc != 0) {
		return rc;
	}
	/* Same walk, now only dropping partials that full tiles replaced. */
	return ft_tile_foreach_new(old_size, st.size, remove_stale_partials,
				   &w);
}

uint64_t ft_export_exported_size(ft_export *e)
{
	char path[EXPORT_PATH_MAX];
	/* A checkpoint's first two lines: origin (<= 255) and the size. */
	char buf[FT_KEY_NAME_MAX + 64];
	size_t got = 0;
	uint64_t size = 0;

	if (e == NULL || join(e, "checkpoint", path, sizeof path) != 0) {
		return 0;
	}
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		if (errno != ENOENT) {
			ft_log(FT_LOG_WARN, "export: cannot open %s: %s", path,
			       strerror(errno));
		}
		return 0;
	}
	while (got < sizeof buf) {
		ssize_t n = read(fd, buf + got, sizeof buf - got);
		if (n < 0) {
			if (errno == EINTR) {
				continue;
			}
			ft_log(FT_LOG_WARN, "export: cannot read %s: %s", path,
			       strerror(errno));
			(void)close(fd); /* read-only: nothing to lose */
			return 0;
		}
		if (n == 0) {
			break;
		}
		got += (size_t)n;
	}
	(void)close(fd); /* read-only: nothing to lose */

	const char *nl1 = memchr(buf, '\n', got);
	if (nl1 == NULL) {
		return 0;
	}
	const char *line = nl1 + 1;
	const char *nl2 = memchr(line, '\n', got - (size_t)(line - buf));
	if (nl2 == NULL ||
	    ft_parse_u63(line, (size_t)(nl2 - line), &size) != 0) {
		return 0;
	}
	return size;
}

int ft_export_catch_up(ft_export *e, ft_store_reader *r)
{
	ft_store_state st;
	int rc;

	if (e == NULL || r == NULL) {
		return FT_EINVAL;
	}
	uint64_t old = ft_export_exported_size(e);
	if ((rc = ft_store_get_state(r, &st)) != 0) {
		return rc;
	}
	if (old > st.size) {
		/* Another log's directory, or a store restored from an old
		 * backup: overwriting would roll the published log back.
		 * The operator decides. */
		ft_log(FT_LOG_ERROR, "export: %s/checkpoint has size %llu but "
		       "the store only %llu; refusing to roll it back",
		       e->dir, (unsigned long long)old,
		       (unsigned long long)st.size);
		return FT_ECONFIG;
	}
	return ft_export_update(e, r, old);
}

void ft_export_set_publisher(ft_export *e)
{
	if (e == NULL) {
		return;
	}
	(void)pthread_mutex_lock(&e->mu);
	e->publisher = 1;
	(void)pthread_mutex_unlock(&e->mu);
}

/* The size line of a signed checkpoint (its second line). */
static int note_size(const uint8_t *note, size_t len, uint64_t *size)
{
	const uint8_t *nl1 = memchr(note, '\n', len);

	if (nl1 == NULL) {
		return FT_ECKPT_FORMAT;
	}
	const uint8_t *line = nl1 + 1;
	size_t rest = len - (size_t)(line - note);
	const uint8_t *nl2 = memchr(line, '\n', rest);
	if (nl2 == NULL ||
	    ft_parse_u63((const char *)line, (size_t)(nl2 - line), size) !=
		    0) {
		return FT_ECKPT_FORMAT;
	}
	return FT_OK;
}

int ft_export_write_checkpoint(ft_export *e, const uint8_t *note, size_t len)
{
	uint64_t size, prev;
	int rc;

	if (e == NULL || note == NULL || len == 0) {
		return FT_EIO;
	}
	if (note_size(note, len, &size) != 0) {
		ft_log(FT_LOG_ERROR, "export: the checkpoint to publish does "
		       "not parse; not written");
		return FT_EIO;
	}
	(void)pthread_mutex_lock(&e->mu);
	/* Never point readers at tiles that are not there yet (before the
	 * catch-up at start, or after a failed update). The empty tree
	 * needs none. */
	if (size > 0 && (!e->tiles_known || size > e->tiles_size)) {
		(void)pthread_mutex_unlock(&e->mu);
		ft_log(FT_LOG_DEBUG, "export: tiles of size %llu are not "
		       "exported yet; checkpoint not written",
		       (unsigned long long)size);
		return FT_EIO;
	}
	prev = ft_export_exported_size(e);
	rc = write_atomic(e, "checkpoint", note, len);
	if (rc == 0 && prev < size) {
		/* Partial tiles replaced by full ones between the old
		 * published size and this one: no reader of the new
		 * checkpoint needs them. */
		walk_ctx w = {e, NULL};
		if (ft_tile_foreach_new(prev, size, remove_stale_partials,
					&w) != 0) {
			ft_log(FT_LOG_WARN, "export: stale partial tiles "
			       "below size %llu not removed",
			       (unsigned long long)size);
		}
	}
	(void)pthread_mutex_unlock(&e->mu);
	return rc == 0 ? FT_OK : FT_EIO;
}
