/* SPDX-License-Identifier: MIT */
/* Network namespaces the launcher makes itself: named ones under /run/netns (the
 * `ip netns add` way, so `ip netns exec` and systemd-nspawn can use them) and anonymous ones
 * for `ctnet run`. */
#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <unistd.h>

#include "launch.h"

const char *netns_run_dir(void)
{
	return "/run/netns";
}

int netns_identity(int fd, unsigned long long *dev, unsigned long long *ino,
		   struct ctnet_err *err)
{
	struct stat st;
	if (fstat(fd, &st) < 0)
		return ctnet_err_sys(err, errno, "stat network namespace");
	*dev = (unsigned long long)st.st_dev;
	*ino = (unsigned long long)st.st_ino;
	return 0;
}

/* Enter a new namespace and come back, keeping an fd to it. */
static int new_netns_fd(int *out, struct ctnet_err *err)
{
	_cleanup_close_ int self = open("/proc/self/ns/net", O_RDONLY | O_CLOEXEC);
	int fd, r = 0;

	if (self < 0)
		return ctnet_err_sys(err, errno, "open /proc/self/ns/net");
	if (unshare(CLONE_NEWNET) < 0)
		return ctnet_err_sys(err, errno, "create network namespace");
	fd = open("/proc/self/ns/net", O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		r = ctnet_err_sys(err, errno, "open new network namespace");
	if (setns(self, CLONE_NEWNET) < 0) {
		/* We cannot go back: nothing else may run in the wrong namespace. */
		fprintf(stderr, "ctnet: cannot return to the original network namespace: %m\n");
		abort();
	}
	if (r == 0)
		*out = fd;
	return r;
}

int netns_new_anon(struct ctnet_err *err)
{
	int fd = -1;
	int r = new_netns_fd(&fd, err);
	return r < 0 ? r : fd;
}

/* /run/netns must be a shared mount point so bind mounts show in other mount namespaces. */
static int prepare_run_dir(struct ctnet_err *err)
{
	const char *dir = netns_run_dir();
	if (mkdir(dir, 0755) < 0 && errno != EEXIST)
		return ctnet_err_sys(err, errno, "create \"%s\"", dir);
	if (mount("", dir, "none", MS_SHARED | MS_REC, NULL) == 0)
		return 0;
	if (errno != EINVAL)
		return ctnet_err_sys(err, errno, "make \"%s\" shared", dir);
	if (mount(dir, dir, "none", MS_BIND | MS_REC, NULL) < 0)
		return ctnet_err_sys(err, errno, "bind mount \"%s\"", dir);
	if (mount("", dir, "none", MS_SHARED | MS_REC, NULL) < 0)
		return ctnet_err_sys(err, errno, "make \"%s\" shared", dir);
	return 0;
}

int netns_create_named(const char *name, struct ctnet_err *err)
{
	char path[PATH_MAX], self[64];
	_cleanup_close_ int ns = -1;
	int fd, r;

	r = prepare_run_dir(err);
	if (r < 0)
		return r;
	snprintf(path, sizeof(path), "%s/%s", netns_run_dir(), name);
	fd = open(path, O_RDONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0);
	if (fd < 0)
		return ctnet_err_sys(err, errno, "create netns \"%s\"", path);
	close(fd);
	r = new_netns_fd(&ns, err);
	if (r < 0)
		goto fail;
	/* Bind the namespace through our fd: no window where another process's ns is used. */
	snprintf(self, sizeof(self), "/proc/self/fd/%d", ns);
	if (mount(self, path, "none", MS_BIND, NULL) < 0) {
		r = ctnet_err_sys(err, errno, "bind netns \"%s\"", path);
		goto fail;
	}
	return 0;
fail:
	unlink(path);
	return r;
}

int netns_remove_named(const char *name, struct ctnet_err *err)
{
	char path[PATH_MAX];
	snprintf(path, sizeof(path), "%s/%s", netns_run_dir(), name);
	if (umount2(path, MNT_DETACH) < 0 && errno != EINVAL && errno != ENOENT)
		return ctnet_err_sys(err, errno, "unmount netns \"%s\"", path);
	if (unlink(path) < 0 && errno != ENOENT)
		return ctnet_err_sys(err, errno, "remove netns \"%s\"", path);
	return 0;
}
