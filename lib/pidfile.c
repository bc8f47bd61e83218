/* SPDX-License-Identifier: MIT */
/* Daemon pid files, held locked while the daemon runs (pidfile.h). */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/file.h>
#include <unistd.h>

#include "pidfile.h"
#include "state.h"

int ctnet_pidfile_held(const char *file, pid_t *pid)
{
	char buf[32] = "";
	_cleanup_close_ int dfd = ctnet_dir_open(ctnet_run_dir(), "", 0, NULL);
	_cleanup_close_ int fd = -1;

	*pid = 0;
	if (dfd < 0)
		return dfd == -ENOENT ? 0 : dfd;
	if ((fd = openat(dfd, file, O_RDONLY | O_CLOEXEC | O_NOFOLLOW)) < 0)
		return errno == ENOENT ? 0 : -errno;
	if (flock(fd, LOCK_SH | LOCK_NB) == 0)
		return 0; /* nobody holds it: a daemon that exited */
	if (errno != EWOULDBLOCK)
		return -errno;
	if (pread(fd, buf, sizeof(buf) - 1, 0) > 0)
		*pid = (pid_t)strtol(buf, NULL, 10);
	return 1;
}

int ctnet_pidfile_take(const char *file, const char *what, struct ctnet_err *err)
{
	char buf[32];
	pid_t other;
	_cleanup_close_ int dfd = ctnet_dir_open(ctnet_run_dir(), "", 1, err);
	int fd;

	if (dfd < 0)
		return dfd;
	if ((fd = openat(dfd, file, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0644)) < 0)
		return ctnet_err_sys(err, errno, "open %s/%s", ctnet_run_dir(), file);
	if (flock(fd, LOCK_EX | LOCK_NB) < 0) {
		int e = errno;
		close(fd);
		if (e == EWOULDBLOCK && ctnet_pidfile_held(file, &other) == 1)
			return ctnet_errf(err, EBUSY, "another %s is running (pid %ld)", what, (long)other);
		return ctnet_err_sys(err, e, "lock %s/%s", ctnet_run_dir(), file);
	}
	int n = snprintf(buf, sizeof(buf), "%ld\n", (long)getpid());
	if (ftruncate(fd, 0) < 0 || pwrite(fd, buf, (size_t)n, 0) != n) {
		int e = errno;
		close(fd);
		return ctnet_err_sys(err, e, "write %s/%s", ctnet_run_dir(), file);
	}
	return fd; /* kept open (and locked) until exit */
}
