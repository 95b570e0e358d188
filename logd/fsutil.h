/*
 * logd/fsutil.h - small file-system helpers shared by ftlogd and the
 * `ftlog witness` service (internal).
 */
#ifndef FTLOG_LOGD_FSUTIL_H
#define FTLOG_LOGD_FSUTIL_H

/*
 * fsync a directory, so that the names created, renamed or removed in it
 * are durable. 0, or -1 with errno set (open, fsync or close failed).
 */
int ft_fsync_dir(const char *dir);

#endif
