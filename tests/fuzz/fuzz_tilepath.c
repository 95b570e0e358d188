/*
 * tests/fuzz/fuzz_tilepath.c - C2SP tlog-tiles paths from outside (URLs).
 *
 * Invariants, checked with __builtin_trap():
 *  - a parsed path is in range and ft_tile_path writes back exactly the
 *    input (without its optional leading '/');
 *  - the tile math agrees with the parsed tile: at the smallest tree size
 *    where that tile exists with that width, it is servable and ft_tile_at
 *    gives the same width; one leaf less, it is not servable;
 *  - a failed parse leaves its output untouched (or cleared).
 */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <ftlog/tile.h>

#include "fuzz_common.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Smallest tree size with tile t at its width; 0 if above the maximum. */
static uint64_t tile_min_size(const ft_tile *t)
{
	unsigned shift = t->level < 0 ? 0 : (unsigned)t->level * FT_TILE_HEIGHT;
	uint64_t max = FT_TREE_MAX_SIZE;

	/* nodes at the tile's level: index * 256 + width */
	if (shift >= 64 || t->index > (max >> shift) / FT_TILE_WIDTH) {
		return 0;
	}
	uint64_t nodes = t->index * FT_TILE_WIDTH + t->width;
	if (nodes > (max >> shift)) {
		return 0;
	}
	return nodes << shift;
}

static void check_math(const ft_tile *t)
{
	ft_tile at;
	uint64_t s = tile_min_size(t);

	if (s == 0) {
		return;
	}
	FUZZ_CHECK(ft_tile_servable(s, t) == 1);
	memset(&at, 0xa5, sizeof at);
	FUZZ_CHECK(ft_tile_at(s, t->level, t->index, &at) == 0);
	FUZZ_CHECK(at.level == t->level && at.index == t->index &&
		   at.width == t->width);
	FUZZ_CHECK(ft_tile_servable(s - 1, t) == 0);
	if (t->width < FT_TILE_WIDTH) {
		unsigned lv = t->level < 0 ? 0 : (unsigned)t->level;
		FUZZ_CHECK(ft_tile_partial_width(s, lv) == t->width);
		FUZZ_CHECK(ft_tile_full_count(s, lv) == t->index);
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char buf[FT_TILE_PATH_MAX];
	ft_tile t;
	size_t len = 0;

	memset(&t, 0xa5, sizeof t);
	int rc = ft_tile_parse_path((const char *)data, size, &t);
	FUZZ_CHECK(rc <= 0);
	if (rc != 0) {
		FUZZ_CHECK_UNTOUCHED(&t, 0xa5);
		return 0;
	}
	FUZZ_CHECK(t.level == FT_TILE_ENTRIES ||
		   (t.level >= 0 && t.level <= FT_TILE_MAX_LEVEL));
	FUZZ_CHECK(t.width >= 1 && t.width <= FT_TILE_WIDTH);
	FUZZ_CHECK(t.index <= FT_TREE_MAX_SIZE);

	/* Round trip, modulo one optional leading '/'. */
	const uint8_t *in = data;
	size_t in_len = size;
	if (in_len > 0 && in[0] == '/') {
		in++;
		in_len--;
	}
	FUZZ_CHECK(ft_tile_path(&t, buf, sizeof buf, &len) == 0);
	FUZZ_CHECK(len < sizeof buf && buf[len] == '\0');
	FUZZ_CHECK(len == in_len && memcmp(buf, in, len) == 0);
	FUZZ_CHECK(ft_tile_path(&t, buf, len, &len) == FT_EBUFSIZE);

	check_math(&t);
	return 0;
}
