/*
 * merkle/tile.c - C2SP tlog-tiles: tile math, tile paths, full-tile hashes,
 * a hash reader over tiles, and entry bundles.
 *
 * Tiles have height 8: the level-L tile N holds the tree nodes of level 8L
 * with indexes [N*256, N*256 + width). For a tree of size s there are
 * c = s >> 8L nodes at level 8L, hence c / 256 full tiles and, if
 * c % 256 != 0, one partial tile of that width (C2SP tlog-tiles,
 * "Partial Tiles"). Entry bundles have the shape of the level-0 tiles.
 */
#include "merkle/internal.h"

#include <ftlog/tile.h>

FT_STATIC_ASSERT(FT_TILE_BYTES == 8192, "a full tile is 256 hashes");
FT_STATIC_ASSERT(sizeof(ft_hash) == FT_HASH_LEN, "ft_hash is plain bytes");

/* The level-L tile holds hashes of tree level 8L; 8L < 64 only up to L 7. */
static uint64_t level_count(uint64_t size, unsigned level)
{
	if (level >= 8) {
		return 0;
	}
	return size >> (FT_TILE_HEIGHT * level);
}

/* Entry bundles follow level 0; anything else outside 0..63 is invalid. */
static int tile_level(int level, unsigned *out)
{
	if (level == FT_TILE_ENTRIES) {
		*out = 0;
		return FT_OK;
	}
	if (level < 0 || level > FT_TILE_MAX_LEVEL) {
		return FT_EINVAL;
	}
	*out = (unsigned)level;
	return FT_OK;
}

unsigned ft_tile_levels(uint64_t size)
{
	unsigned n = 0;

	while (level_count(size, n) != 0) {
		n++;
	}
	return n;
}

uint64_t ft_tile_full_count(uint64_t size, unsigned level)
{
	return level_count(size, level) / FT_TILE_WIDTH;
}

unsigned ft_tile_partial_width(uint64_t size, unsigned level)
{
	return (unsigned)(level_count(size, level) % FT_TILE_WIDTH);
}

int ft_tile_at(uint64_t size, int level, uint64_t index, ft_tile *out)
{
	unsigned l = 0;
	unsigned width = 0;
	int rc = tile_level(level, &l);

	if (rc != 0) {
		return rc;
	}
	uint64_t full = ft_tile_full_count(size, l);
	if (index < full) {
		width = FT_TILE_WIDTH;
	} else if (index == full) {
		width = ft_tile_partial_width(size, l);
	}
	if (width == 0) {
		return FT_ETILE_NONE;
	}
	out->level = level;
	out->index = index;
	out->width = width;
	return FT_OK;
}

int ft_tile_servable(uint64_t size, const ft_tile *t)
{
	ft_tile have;

	if (t == NULL || t->width == 0 || t->width > FT_TILE_WIDTH) {
		return 0;
	}
	if (ft_tile_at(size, t->level, t->index, &have) != 0) {
		return 0;
	}
	/* A full tile is servable once complete; a partial one only at the
	 * exact width of this size (older widths may have been deleted). */
	return have.width == t->width;
}

/*
 * The new tiles of one level (or of the entry bundles, level -1), in
 * increasing index: the full tiles that became complete, then the partial
 * tile if its (index, width) changed. The partial tile at new_size is the
 * same one as at old_size exactly when both sizes have the same number of
 * nodes c at this level, so comparing c decides it.
 */
static int foreach_new_level(uint64_t old_size, uint64_t new_size, int level,
			     unsigned l, ft_tile_visit_fn fn, void *ctx)
{
	uint64_t old_c = level_count(old_size, l);
	uint64_t new_c = level_count(new_size, l);
	ft_tile t;
	int rc;

	t.level = level;
	t.width = FT_TILE_WIDTH;
	for (t.index = old_c / FT_TILE_WIDTH; t.index < new_c / FT_TILE_WIDTH;
	     t.index++) {
		rc = fn(ctx, &t);
		if (rc != 0) {
			return rc;
		}
	}
	if (old_c == new_c || new_c % FT_TILE_WIDTH == 0) {
		return FT_OK;
	}
	t.index = new_c / FT_TILE_WIDTH;
	t.width = (unsigned)(new_c % FT_TILE_WIDTH);
	return fn(ctx, &t);
}

/*
 * Order of the walk: hash tiles of level 0, 1, 2, ... (each level in
 * increasing index, full tiles before the partial one), then the entry
 * bundles in the same order. Exporters can rely on it.
 */
int ft_tile_foreach_new(uint64_t old_size, uint64_t new_size,
			ft_tile_visit_fn fn, void *ctx)
{
	int rc;

	if (fn == NULL || old_size > new_size || new_size > FT_TREE_MAX_SIZE) {
		return FT_EINVAL;
	}
	unsigned levels = ft_tile_levels(new_size);
	for (unsigned l = 0; l < levels; l++) {
		rc = foreach_new_level(old_size, new_size, (int)l, l, fn, ctx);
		if (rc != 0) {
			return rc;
		}
	}
	return foreach_new_level(old_size, new_size, FT_TILE_ENTRIES, 0, fn,
				 ctx);
}

/* ---- Paths. */

/* Three decimal digits, zero-padded. */
static void put_group(ft_wbuf *w, unsigned g)
{
	char d[3];

	d[0] = (char)('0' + g / 100);
	d[1] = (char)('0' + g / 10 % 10);
	d[2] = (char)('0' + g % 10);
	ft_wbuf_put(w, d, sizeof d);
}

/*
 * N in 3-digit groups, most significant first, every group but the last
 * prefixed with 'x': 1234067 -> "x001/x234/067" (C2SP tlog-tiles).
 */
static void put_index(ft_wbuf *w, uint64_t n)
{
	unsigned groups[7]; /* 2^63 - 1 has 19 digits: 7 groups */
	size_t ng = 0;

	do {
		groups[ng++] = (unsigned)(n % 1000);
		n /= 1000;
	} while (n != 0);
	while (ng > 1) {
		ft_wbuf_byte(w, 'x');
		put_group(w, groups[--ng]);
		ft_wbuf_byte(w, '/');
	}
	put_group(w, groups[0]);
}

int ft_tile_path(const ft_tile *t, char *buf, size_t cap, size_t *len)
{
	uint8_t tmp[FT_TILE_PATH_MAX];
	ft_wbuf w;
	unsigned l = 0;

	if (t == NULL || buf == NULL || tile_level(t->level, &l) != 0 ||
	    t->width == 0 || t->width > FT_TILE_WIDTH ||
	    t->index > (uint64_t)INT64_MAX) {
		return FT_EINVAL;
	}
	ft_wbuf_init(&w, tmp, sizeof tmp);
	ft_wbuf_str(&w, "tile/");
	if (t->level == FT_TILE_ENTRIES) {
		ft_wbuf_str(&w, "entries");
	} else {
		ft_wbuf_u64(&w, l);
	}
	ft_wbuf_byte(&w, '/');
	put_index(&w, t->index);
	if (t->width != FT_TILE_WIDTH) {
		ft_wbuf_str(&w, ".p/");
		ft_wbuf_u64(&w, t->width);
	}
	/* The longest path is 52 bytes: tmp cannot overflow. */
	if (w.err != 0) {
		return w.err;
	}
	if (cap < w.len + 1) {
		return FT_EBUFSIZE;
	}
	memcpy(buf, tmp, w.len);
	buf[w.len] = 0;
	if (len != NULL) {
		*len = w.len;
	}
	return FT_OK;
}

static bool is_digit(uint8_t c)
{
	return c >= '0' && c <= '9';
}

/*
 * A canonical small decimal at the cursor: 1..maxd digits, no leading
 * zero unless it is "0". Returns false (cursor unspecified) otherwise.
 */
static bool take_small(ft_cur *c, size_t maxd, unsigned *out)
{
	unsigned v = 0;
	size_t n = 0;

	while (n < ft_cur_left(c) && is_digit(ft_cur_ptr(c)[n])) {
		if (n == maxd) {
			return false;
		}
		v = v * 10 + (unsigned)(ft_cur_ptr(c)[n] - '0');
		n++;
	}
	if (n == 0 || (n > 1 && ft_cur_ptr(c)[0] == '0')) {
		return false;
	}
	c->off += n;
	*out = v;
	return true;
}

/* Exactly three digits at the cursor. */
static bool take_group(ft_cur *c, unsigned *out)
{
	const uint8_t *p = ft_cur_ptr(c);

	if (ft_cur_left(c) < 3 || !is_digit(p[0]) || !is_digit(p[1]) ||
	    !is_digit(p[2])) {
		return false;
	}
	*out = (unsigned)(p[0] - '0') * 100 + (unsigned)(p[1] - '0') * 10 +
	       (unsigned)(p[2] - '0');
	c->off += 3;
	return true;
}

/* The index elements "x001/x234/067", canonical and <= INT64_MAX. */
static bool take_index(ft_cur *c, uint64_t *out)
{
	uint64_t n = 0;
	unsigned g = 0;
	bool first = true;

	while (ft_cur_prefix(c, "x", 1)) {
		if (!take_group(c, &g) || !ft_cur_prefix(c, "/", 1)) {
			return false;
		}
		/* "x000/..." would be a second spelling of the same N. */
		if (first && g == 0) {
			return false;
		}
		if (n > ((uint64_t)INT64_MAX - g) / 1000) {
			return false;
		}
		n = n * 1000 + g;
		first = false;
	}
	if (!take_group(c, &g) || n > ((uint64_t)INT64_MAX - g) / 1000) {
		return false;
	}
	*out = n * 1000 + g;
	return true;
}

int ft_tile_parse_path(const char *path, size_t len, ft_tile *out)
{
	ft_cur c;
	ft_tile t;
	unsigned v = 0;

	if (path == NULL || out == NULL || len > FT_TILE_PATH_MAX) {
		return FT_ETILE_PATH;
	}
	ft_cur_init(&c, (const uint8_t *)path, len);
	(void)ft_cur_prefix(&c, "/", 1);
	if (!ft_cur_prefix(&c, "tile/", 5)) {
		return FT_ETILE_PATH;
	}
	if (ft_cur_prefix(&c, "entries/", 8)) {
		t.level = FT_TILE_ENTRIES;
	} else {
		if (!take_small(&c, 2, &v) || v > FT_TILE_MAX_LEVEL ||
		    !ft_cur_prefix(&c, "/", 1)) {
			return FT_ETILE_PATH;
		}
		t.level = (int)v;
	}
	if (!take_index(&c, &t.index)) {
		return FT_ETILE_PATH;
	}
	t.width = FT_TILE_WIDTH;
	if (ft_cur_prefix(&c, ".p/", 3)) {
		if (!take_small(&c, 3, &v) || v == 0 || v >= FT_TILE_WIDTH) {
			return FT_ETILE_PATH;
		}
		t.width = v;
	}
	if (ft_cur_left(&c) != 0) {
		return FT_ETILE_PATH;
	}
	*out = t;
	return FT_OK;
}

/* ---- Hashing tiles. */

/*
 * Merkle tree hash of n consecutive hashes at data, n a power of two up
 * to 256: a stack of at most 9 pending subtree roots, merged whenever two
 * of equal size meet (the binary counter of i + 1).
 */
static void subtree_hash(const uint8_t *data, size_t n, ft_hash *out)
{
	ft_hash stack[FT_TILE_HEIGHT + 1];
	size_t depth = 0;

	for (size_t i = 0; i < n; i++) {
		memcpy(stack[depth].b, data + i * FT_HASH_LEN, FT_HASH_LEN);
		depth++;
		for (size_t j = i + 1; (j & 1) == 0; j >>= 1) {
			ft_merkle_node_hash(&stack[depth - 2],
					    &stack[depth - 1],
					    &stack[depth - 2]);
			depth--;
		}
	}
	*out = stack[0];
}

int ft_tile_hash(const uint8_t *data, size_t len, ft_hash *out)
{
	if (data == NULL || len != FT_TILE_BYTES) {
		return FT_ETILE_SIZE;
	}
	subtree_hash(data, FT_TILE_WIDTH, out);
	return FT_OK;
}

/* ---- Hash reader over tiles. */

void ft_tile_reader_init(ft_tile_reader *tr, uint64_t size,
			 ft_tile_fetch_fn fetch, void *ctx)
{
	memset(tr, 0, sizeof *tr);
	tr->size = size;
	tr->fetch = fetch;
	tr->ctx = ctx;
}

/*
 * The cached data of tile t, fetching it into the least recently used slot
 * on a miss. A slot is valid only after a fetch of the exact length, so a
 * failed or short fetch never leaves a half-filled tile behind.
 */
static int reader_tile(ft_tile_reader *tr, const ft_tile *t,
		       const uint8_t **data)
{
	size_t victim = 0;
	size_t got = 0;

	for (size_t i = 0; i < FT_TILE_READER_CACHE; i++) {
		if (tr->cache[i].valid && tr->cache[i].tile.level == t->level &&
		    tr->cache[i].tile.index == t->index &&
		    tr->cache[i].tile.width == t->width) {
			tr->cache[i].used = ++tr->clock;
			*data = tr->cache[i].data;
			return FT_OK;
		}
	}
	for (size_t i = 0; i < FT_TILE_READER_CACHE; i++) {
		if (!tr->cache[i].valid) {
			victim = i;
			break;
		}
		if (tr->cache[i].used < tr->cache[victim].used) {
			victim = i;
		}
	}
	tr->cache[victim].valid = 0;
	int rc = tr->fetch(tr->ctx, t, tr->cache[victim].data, &got);
	if (rc != 0) {
		return rc < 0 ? rc : FT_EREAD;
	}
	if (got != (size_t)t->width * FT_HASH_LEN) {
		return FT_ETILE_SIZE;
	}
	tr->cache[victim].tile = *t;
	tr->cache[victim].valid = 1;
	tr->cache[victim].used = ++tr->clock;
	*data = tr->cache[victim].data;
	return FT_OK;
}

/*
 * The complete node (h, k) is the root over the level-8L hashes
 * [k << r, (k + 1) << r) with L = h / 8, r = h % 8. Those 2^r hashes are
 * aligned to 2^r, so they never straddle two tiles.
 */
static int reader_node(ft_tile_reader *tr, const ft_node_id *id, ft_hash *out)
{
	const uint8_t *data = NULL;
	ft_tile t;

	if (id->level >= 64 || id->index >= (tr->size >> id->level)) {
		return FT_EREAD;
	}
	unsigned l = id->level / FT_TILE_HEIGHT;
	unsigned r = id->level % FT_TILE_HEIGHT;
	uint64_t first = id->index << r;
	int rc = ft_tile_at(tr->size, (int)l, first / FT_TILE_WIDTH, &t);
	if (rc != 0) {
		return FT_EREAD;
	}
	rc = reader_tile(tr, &t, &data);
	if (rc != 0) {
		return rc;
	}
	subtree_hash(data + (first % FT_TILE_WIDTH) * FT_HASH_LEN,
		     (size_t)1 << r, out);
	return FT_OK;
}

static int reader_read(void *ctx, const ft_node_id *ids, size_t n, ft_hash *out)
{
	ft_tile_reader *tr = ctx;

	if (tr == NULL || tr->fetch == NULL || (n > 0 && ids == NULL)) {
		return FT_EINVAL;
	}
	for (size_t i = 0; i < n; i++) {
		int rc = reader_node(tr, &ids[i], &out[i]);
		if (rc != 0) {
			return rc;
		}
	}
	return FT_OK;
}

void ft_tile_reader_as_hash_reader(ft_tile_reader *tr, ft_hash_reader *out)
{
	out->read = reader_read;
	out->ctx = tr;
}

/* ---- Entry bundles. */

int ft_bundle_append(uint8_t *buf, size_t cap, size_t *len,
		     const uint8_t *entry, size_t entry_len)
{
	if (buf == NULL || len == NULL || *len > cap ||
	    (entry == NULL && entry_len != 0)) {
		return FT_EINVAL;
	}
	if (entry_len > FT_ENTRY_MAX) {
		return FT_ETOOBIG;
	}
	if (cap - *len < 2 || cap - *len - 2 < entry_len) {
		return FT_EBUFSIZE;
	}
	buf[*len] = (uint8_t)(entry_len >> 8);
	buf[*len + 1] = (uint8_t)entry_len;
	if (entry_len > 0) {
		memcpy(buf + *len + 2, entry, entry_len);
	}
	*len += 2 + entry_len;
	return FT_OK;
}

void ft_bundle_iter_init(ft_bundle_iter *it, const uint8_t *data, size_t len)
{
	it->data = data;
	it->len = data != NULL ? len : 0;
	it->off = 0;
}

int ft_bundle_next(ft_bundle_iter *it, const uint8_t **entry, size_t *entry_len)
{
	size_t left = it->len - it->off;

	if (left == 0) {
		return 0;
	}
	if (left < 2) {
		return FT_EBUNDLE;
	}
	const uint8_t *p = it->data + it->off;
	size_t n = (size_t)p[0] << 8 | p[1];
	if (left - 2 < n) {
		return FT_EBUNDLE;
	}
	*entry = p + 2;
	*entry_len = n;
	it->off += 2 + n;
	return 1;
}

int ft_bundle_check(const uint8_t *data, size_t len, unsigned count)
{
	ft_bundle_iter it;
	const uint8_t *e = NULL;
	size_t n = 0;

	ft_bundle_iter_init(&it, data, len);
	for (unsigned i = 0; i < count; i++) {
		if (ft_bundle_next(&it, &e, &n) != 1) {
			return FT_EBUNDLE;
		}
	}
	if (it.off != it.len) {
		return FT_EBUNDLE;
	}
	return FT_OK;
}
