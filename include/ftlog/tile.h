/*
 * ftlog/tile.h - C2SP tlog-tiles: tile math, tile paths, full-tile hashes,
 * proofs read from tiles, and entry bundles.
 *
 * Tiles have height 8: the tile at level L, index N holds up to 256 hashes
 * of tree level 8*L, nodes [N*256, N*256 + width). For a tree of size s the
 * level-L tiles are floor((s >> 8L) / 256) full ones plus, when
 * (s >> 8L) % 256 != 0, one partial tile of that width. Entry bundles
 * follow level 0.
 */
#ifndef FTLOG_TILE_H
#define FTLOG_TILE_H

#include <ftlog/merkle.h>

#ifdef __cplusplus
extern "C" {
#endif

#define FT_TILE_HEIGHT 8
#define FT_TILE_WIDTH 256
#define FT_TILE_BYTES (FT_TILE_WIDTH * FT_HASH_LEN) /* a full tile: 8192 */
#define FT_TILE_MAX_LEVEL 63
/* ft_tile.level for entry bundles ("tile/entries/..."). */
#define FT_TILE_ENTRIES (-1)
/* Longest tile path ft_tile_path writes, including the NUL. */
#define FT_TILE_PATH_MAX 64
/* A log entry is at most 65535 bytes (uint16 length prefix). */
#define FT_ENTRY_MAX 65535

typedef struct ft_tile {
	int level;      /* 0..63, or FT_TILE_ENTRIES */
	uint64_t index; /* N */
	unsigned width; /* 1..256; 256 means a full tile (no .p/ suffix) */
} ft_tile;

/* Number of tile levels a tree of `size` has (0 for the empty tree). */
FT_API unsigned ft_tile_levels(uint64_t size);

/* Number of full tiles at `level` (>= 0) for a tree of `size`. */
FT_API uint64_t ft_tile_full_count(uint64_t size, unsigned level);

/* Width of the partial tile at `level` for `size`, 0 if there is none. */
FT_API unsigned ft_tile_partial_width(uint64_t size, unsigned level);

/*
 * The tile at (level, index) as it exists in a tree of `size`: its width
 * is 256 if full, else the partial width. FT_ETILE_NONE if that tile does
 * not exist at this size (beyond the right edge, or an empty partial).
 * level may be FT_TILE_ENTRIES.
 */
FT_WUR FT_API int ft_tile_at(uint64_t size, int level, uint64_t index,
			     ft_tile *out);

/*
 * Whether a requested tile (e.g. parsed from a URL) can be served for a
 * tree of `size`: a full tile that is complete, or the partial tile whose
 * width equals the current partial width. 1 if servable, 0 if not.
 */
FT_API int ft_tile_servable(uint64_t size, const ft_tile *t);

/*
 * Visit every tile (hash tiles of every level, then entry bundles) that
 * exists at new_size but not at old_size: new full tiles, and the new
 * partial tiles. Used to export tiles after a checkpoint. A non-zero
 * return from fn stops the walk and is returned.
 */
typedef int (*ft_tile_visit_fn)(void *ctx, const ft_tile *t);
FT_WUR FT_API int ft_tile_foreach_new(uint64_t old_size, uint64_t new_size,
				      ft_tile_visit_fn fn, void *ctx);

/*
 * Write the tile's path, e.g. "tile/0/x001/x234/067" or
 * "tile/entries/005.p/17" (no leading slash), NUL-terminated.
 */
FT_WUR FT_API int ft_tile_path(const ft_tile *t, char *buf, size_t cap,
			       size_t *len);

/*
 * Strictly parse a tile path as written by ft_tile_path (optionally with
 * one leading '/'). Rejects leading zeros in L and W, W outside 1..255,
 * levels above 63, missing or extra 'x' prefixes, index elements that are
 * not exactly 3 digits, indexes above INT64_MAX, and anything trailing.
 */
FT_WUR FT_API int ft_tile_parse_path(const char *path, size_t len,
				     ft_tile *out);

/*
 * Hash of a full tile (256 hashes, 8192 bytes): the Merkle tree hash of
 * its hashes, i.e. the node one tile level up. FT_ETILE_SIZE otherwise.
 */
FT_WUR FT_API int ft_tile_hash(const uint8_t *data, size_t len, ft_hash *out);

/* ---- Proofs from tiles. */

/*
 * Fetch the tile t (exactly t->width hashes, or for bundles not used) into
 * buf (FT_TILE_BYTES). Returns 0 and sets *len, or a negative code. Data
 * fetched from an untrusted server is only as good as the proof built from
 * it: always verify the resulting proof against a signed root.
 */
typedef int (*ft_tile_fetch_fn)(void *ctx, const ft_tile *t, uint8_t *buf,
				size_t *len);

#define FT_TILE_READER_CACHE 4

/*
 * A hash reader over the tiles of a tree of `size`: plug it into
 * ft_proof_inclusion, ft_proof_consistency or ft_tree_hash_at. Caches a
 * few tiles; caller-allocated (about 33 KiB), no heap.
 */
typedef struct ft_tile_reader {
	uint64_t size;
	ft_tile_fetch_fn fetch;
	void *ctx;
	struct {
		ft_tile tile;
		int valid;
		uint64_t used;
		uint8_t data[FT_TILE_BYTES];
	} cache[FT_TILE_READER_CACHE];
	uint64_t clock;
} ft_tile_reader;

FT_API void ft_tile_reader_init(ft_tile_reader *tr, uint64_t size,
				ft_tile_fetch_fn fetch, void *ctx);

/* The ft_hash_reader view of tr; valid while tr lives. */
FT_API void ft_tile_reader_as_hash_reader(ft_tile_reader *tr,
					  ft_hash_reader *out);

/* ---- Entry bundles: a sequence of uint16_be(len) || entry. */

/*
 * Append one entry to the bundle in buf (capacity cap, current length
 * *len). FT_ETOOBIG if entry_len > 65535, FT_EBUFSIZE if it does not fit;
 * *len is unchanged on failure.
 */
FT_WUR FT_API int ft_bundle_append(uint8_t *buf, size_t cap, size_t *len,
				   const uint8_t *entry, size_t entry_len);

typedef struct ft_bundle_iter {
	const uint8_t *data;
	size_t len;
	size_t off;
} ft_bundle_iter;

FT_API void ft_bundle_iter_init(ft_bundle_iter *it, const uint8_t *data,
				size_t len);

/*
 * Next entry: 1 and (*entry, *entry_len) pointing into the bundle, 0 at
 * the clean end, FT_EBUNDLE on a truncated length or entry.
 */
FT_WUR FT_API int ft_bundle_next(ft_bundle_iter *it, const uint8_t **entry,
				 size_t *entry_len);

/*
 * Strictly check that the bundle holds exactly `count` well-formed entries
 * and nothing after them. FT_EBUNDLE otherwise.
 */
FT_WUR FT_API int ft_bundle_check(const uint8_t *data, size_t len,
				  unsigned count);

#ifdef __cplusplus
}
#endif
#endif
