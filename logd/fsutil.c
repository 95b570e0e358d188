/*
 * logd/fsutil.c - small file-system helpers (logd/fsutil.h).
 */
#include "logd/fsutil.h"

#include <errno.h>
#include <fcntl.h>
#include <unistd.h>

int ft_fsync_dir(const char *dir)
{
	int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	int rc, e;

	if (fd < 0) {
		return -1;
	}
	rc = fsync(fd);
	e = errno;
	if (close(fd) != 0 && rc == 0) {
		return -1;
	}
	errno = e;
	return rc == 0 ? 0 : -1;
}
