/*
 * logd/export.h - static export of the read API to a directory (internal).
 *
 * With --tiles-dir DIR, after each commit every tile and entry bundle that
 * is new between the old and the new tree size is written under DIR at its
 * C2SP tlog-tiles path ("tile/0/x001/234", "tile/entries/005.p/17"), and
 * then DIR/checkpoint. Every file is written to a temporary file in the
 * same directory, fsync'ed, renamed into place, and the directory
 * fsync'ed; the checkpoint goes last, so a reader that sees a checkpoint
 * finds every tile it needs. Full tiles are immutable and never rewritten.
 *
 * At startup ft_export_catch_up re-exports everything after the size of
 * the checkpoint found in DIR (a crash between commit and export loses
 * nothing: the store is the source of truth).
 */
#ifndef FTLOG_LOGD_EXPORT_H
#define FTLOG_LOGD_EXPORT_H

#include <stddef.h>
#include <stdint.h>

#include "logd/store.h"

typedef struct ft_export ft_export;

/* Create DIR if missing (mode 0755). 0 or a negative FT_E* code. */
int ft_export_open(const char *dir, ft_export **out);
void ft_export_close(ft_export *e);

/*
 * Export the tiles and bundles new between old_size and the snapshot's
 * size, then the snapshot's checkpoint. r must be inside
 * ft_store_read_begin. 0, or a negative code (FT_EIO with errno logged).
 */
int ft_export_update(ft_export *e, ft_store_reader *r, uint64_t old_size);

/*
 * The tree size of DIR/checkpoint (0 if there is none). A checkpoint that
 * does not parse counts as 0, so everything is exported again.
 */
uint64_t ft_export_exported_size(ft_export *e);

/*
 * Publisher mode (ftlogd with witnesses, logd/witness.h): from now on
 * ft_export_update and ft_export_catch_up write tiles and bundles only,
 * and DIR/checkpoint is written by ft_export_write_checkpoint with the
 * published (cosigned) checkpoint. Call before the first update.
 */
void ft_export_set_publisher(ft_export *e);

/*
 * Write DIR/checkpoint atomically with `note` (a signed checkpoint, maybe
 * with cosignatures) - the caller makes sure its tiles are exported
 * already. Thread-safe against itself and ft_export_update. 0 or FT_EIO.
 */
int ft_export_write_checkpoint(ft_export *e, const uint8_t *note, size_t len);

/* ft_export_update from ft_export_exported_size(e). */
int ft_export_catch_up(ft_export *e, ft_store_reader *r);

#endif
