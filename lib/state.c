/* SPDX-License-Identifier: MIT */
#include "state.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "name.h"

static const char *env_or(const char *var, const char *def)
{
	const char *v = getenv(var);
	return v && *v ? v : def;
}

const char *ctnet_state_dir(void)
{
	return env_or("CTNET_STATE_DIR", CTNET_STATE_DIR_DEFAULT);
}

const char *ctnet_run_dir(void)
{
	return env_or("CTNET_RUN_DIR", CTNET_RUN_DIR_DEFAULT);
}

const char *ctnet_nixos_conf_dir(void)
{
	return env_or("CTNET_NIXOS_CONF_DIR", CTNET_NIXOS_CONF_DIR_DEFAULT);
}

/* O_NOFOLLOW|O_DIRECTORY on a symlink fails with ENOTDIR; say what it really is. */
static int open_errno(int dirfd, const char *name)
{
	struct stat st;
	int e = errno;
	if (e == ENOTDIR && fstatat(dirfd, name, &st, AT_SYMLINK_NOFOLLOW) == 0 && S_ISLNK(st.st_mode))
		return ELOOP;
	return e;
}

static int check_dir(int fd, const char *shown, struct ctnet_err *err)
{
	struct stat st;
	if (fstat(fd, &st) < 0)
		return ctnet_err_sys(err, errno, "stat \"%s\"", shown);
	if (!S_ISDIR(st.st_mode))
		return ctnet_errf(err, ENOTDIR, "state path \"%s\": not a directory", shown);
	if (st.st_uid != 0 && st.st_uid != geteuid())
		return ctnet_errf(err, EPERM, "state dir \"%s\": owned by uid %u, not root", shown,
				  (unsigned)st.st_uid);
	if (st.st_mode & (S_IWGRP | S_IWOTH))
		return ctnet_errf(err, EPERM, "state dir \"%s\": writable by group or others (mode %04o)",
				  shown, (unsigned)(st.st_mode & 07777));
	return 0;
}

int ctnet_subdir_open(int dirfd, const char *name, int create, const char *shown,
		      struct ctnet_err *err)
{
	int fd, r;
	for (;;) {
		fd = openat(dirfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
		if (fd >= 0 || errno != ENOENT || !create)
			break;
		if (mkdirat(dirfd, name, 0755) < 0 && errno != EEXIST)
			return ctnet_err_sys(err, errno, "create directory \"%s\"", shown);
		create = 0; /* one retry after mkdir */
	}
	if (fd < 0) {
		errno = open_errno(dirfd, name);
		if (errno == ELOOP)
			return ctnet_errf(err, ELOOP, "state path \"%s\": is a symbolic link", shown);
		return ctnet_err_sys(err, errno, "open directory \"%s\"", shown);
	}
	r = check_dir(fd, shown, err);
	if (r < 0) {
		close(fd);
		return r;
	}
	return fd;
}

int ctnet_dir_open(const char *base, const char *sub, int create, struct ctnet_err *err)
{
	char path[4096], shown[4096];
	int fd, r;

	if (!base || base[0] != '/')
		return ctnet_errf(err, EINVAL, "state dir \"%s\": must be an absolute path",
				  base ? base : "");
	r = snprintf(path, sizeof(path), "%s%s%s", base, sub && *sub ? "/" : "", sub ? sub : "");
	if (r < 0 || (size_t)r >= sizeof(path))
		return ctnet_errf(err, ENAMETOOLONG, "state dir \"%s\": path too long", base);
	/* Walk from / so that no component can be a symlink swapped in under us. */
	/* base's last component starts here in path: it and everything below are checked. */
	size_t blen = strlen(base);
	while (blen > 1 && base[blen - 1] == '/')
		blen--;
	while (blen > 0 && base[blen - 1] != '/')
		blen--;
	fd = open("/", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0)
		return ctnet_err_sys(err, errno, "open \"/\"");
	size_t shown_len = 0;
	shown[0] = '\0';
	for (char *save = NULL, *comp = strtok_r(path, "/", &save); comp;
	     comp = strtok_r(NULL, "/", &save)) {
		if (!strcmp(comp, "..")) {
			close(fd);
			return ctnet_errf(err, EINVAL, "state dir \"%s\": \"..\" not allowed", base);
		}
		if (!strcmp(comp, "."))
			continue;
		int n = snprintf(shown + shown_len, sizeof(shown) - shown_len, "/%s", comp);
		shown_len += (size_t)n;
		int next = openat(fd, comp, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
		if (next < 0 && errno == ENOENT && create) {
			if (mkdirat(fd, comp, 0755) < 0 && errno != EEXIST) {
				r = ctnet_err_sys(err, errno, "create directory \"%s\"", shown);
				close(fd);
				return r;
			}
			next = openat(fd, comp, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
		}
		if (next < 0)
			errno = open_errno(fd, comp);
		close(fd);
		if (next < 0) {
			if (errno == ELOOP)
				return ctnet_errf(err, ELOOP, "state path \"%s\": is a symbolic link",
						  shown);
			return ctnet_err_sys(err, errno, "open directory \"%s\"", shown);
		}
		fd = next;
		/* A world-writable base would let anyone swap what is below it. */
		if ((size_t)(comp - path) >= blen && (r = check_dir(fd, shown, err)) < 0) {
			close(fd);
			return r;
		}
	}
	/* Ownership and mode matter for the directories ctnet writes in: base and below. */
	r = check_dir(fd, shown[0] ? shown : "/", err);
	if (r < 0) {
		close(fd);
		return r;
	}
	return fd;
}

int ctnet_dir_sync(int dirfd, const char *shown, struct ctnet_err *err)
{
	if (fsync(dirfd) < 0)
		return ctnet_err_sys(err, errno, "sync directory \"%s\"", shown);
	return 0;
}

/* Real space for the probe: written, as the state files are. The file systems a state dir
 * lives on (ext4, xfs, btrfs with delayed allocation, tmpfs) reserve the space at write()
 * and fail it when full; those that find out later say so at close(). Cheaper than
 * fallocate, whose allocation and release cost ~0.5 ms on a busy ext4. 0 or errno. */
static int probe_space(int fd)
{
	static const char zeros[CTNET_PROBE_BYTES];

	for (size_t off = 0; off < sizeof(zeros);) {
		ssize_t w = write(fd, zeros + off, sizeof(zeros) - off);
		if (w < 0 && errno != EINTR)
			return errno;
		if (w == 0)
			return EIO;
		off += w > 0 ? (size_t)w : 0;
	}
	return 0;
}

int ctnet_dir_probe(int dfd, const char *shown, struct ctnet_err *err)
{
	char name[64];
	int fd, e;

	/* The thread's id: two threads of one process never share a probe. */
	snprintf(name, sizeof(name), ".probe.%ld.tmp", (long)syscall(SYS_gettid));
	fd = openat(dfd, name, O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW | O_CLOEXEC, 0600);
	if (fd < 0)
		return ctnet_err_sys(err, errno, "cannot write in state dir \"%s\"", shown);
	e = probe_space(fd);
	if (close(fd) < 0 && !e)
		e = errno;
	if (unlinkat(dfd, name, 0) < 0 && !e)
		e = errno;
	return e ? ctnet_err_sys(err, e, "cannot write in state dir \"%s\"", shown) : 0;
}

int ctnet_state_probe(const char *base, const char *sub, struct ctnet_err *err)
{
	char shown[4096];
	int fd = ctnet_dir_open(base, sub, true, err), r;

	if (fd < 0)
		return fd;
	snprintf(shown, sizeof(shown), "%s%s%s", base, sub && *sub ? "/" : "", sub ? sub : "");
	r = ctnet_dir_probe(fd, shown, err);
	close(fd);
	return r;
}

int ctnet_write_atomic(int dirfd, const char *name, const void *data, size_t len,
		       struct ctnet_err *err)
{
	return ctnet_write_atomic_flags(dirfd, name, data, len, 0, err);
}

int ctnet_write_atomic_flags(int dirfd, const char *name, const void *data, size_t len,
			     unsigned flags, struct ctnet_err *err)
{
	char tmp[256];
	const char *p = data;
	int fd, r;

	r = snprintf(tmp, sizeof(tmp), ".%s.%ld.tmp", name, (long)getpid());
	if (r < 0 || (size_t)r >= sizeof(tmp))
		return ctnet_errf(err, ENAMETOOLONG, "write \"%s\": name too long", name);
	fd = openat(dirfd, tmp, O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW | O_CLOEXEC, 0644);
	if (fd < 0)
		return ctnet_err_sys(err, errno, "create \"%s\"", name);
	while (len > 0) {
		ssize_t w = write(fd, p, len);
		if (w < 0) {
			if (errno == EINTR)
				continue;
			r = ctnet_err_sys(err, errno, "write \"%s\"", name);
			goto fail;
		}
		p += w;
		len -= (size_t)w;
	}
	/* The data before the name: renamed first, a crash could leave the name empty. */
	if ((flags & CTNET_WRITE_DURABLE) && fsync(fd) < 0) {
		r = ctnet_err_sys(err, errno, "sync \"%s\"", name);
		goto fail;
	}
	if (close(fd) < 0) {
		fd = -1;
		r = ctnet_err_sys(err, errno, "write \"%s\"", name);
		goto fail;
	}
	fd = -1;
	if (renameat(dirfd, tmp, dirfd, name) < 0) {
		r = ctnet_err_sys(err, errno, "rename \"%s\"", name);
		goto fail;
	}
	/* The rename itself: without it the old file (or none) may come back. */
	if ((flags & CTNET_WRITE_DURABLE) && fsync(dirfd) < 0)
		return ctnet_err_sys(err, errno, "sync the directory of \"%s\"", name);
	return 0;
fail:
	if (fd >= 0)
		close(fd);
	unlinkat(dirfd, tmp, 0);
	return r;
}

/*
 * name below dirfd into buf. Unless listed (a name the directory listed as a regular file),
 * the file is checked to be one and its size ends the reading; a listed one ends at the
 * first read shorter than asked (a directory fails that read with EISDIR).
 */
static ssize_t read_file(int dirfd, const char *name, char *buf, size_t max, bool listed,
			 struct stat *st_out, struct ctnet_err *err)
{
	char shown[CTNET_SHOW_MAX];
	struct stat st = { 0 };
	size_t off = 0;
	int fd;

	fd = openat(dirfd, name, O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NONBLOCK);
	if (fd < 0) {
		int e = errno;
		if (e == ELOOP)
			return ctnet_errf(err, ELOOP, "read \"%s\": is a symbolic link",
					  ctnet_show(name, shown));
		return ctnet_err_sys(err, e, "read \"%s\"", ctnet_show(name, shown));
	}
	if (!listed && (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode))) {
		close(fd);
		return ctnet_errf(err, EINVAL, "read \"%s\": not a regular file",
				  ctnet_show(name, shown));
	}
	for (;;) {
		if (off + 1 >= max) {
			char c;
			ssize_t more = read(fd, &c, 1);
			close(fd);
			if (more == 0)
				break;
			return ctnet_errf(err, EFBIG, "read \"%s\": larger than %zu bytes",
					  ctnet_show(name, shown), max - 1);
		}
		ssize_t n = read(fd, buf + off, max - 1 - off);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			int e = errno;
			close(fd);
			return ctnet_err_sys(err, e, "read \"%s\"", ctnet_show(name, shown));
		}
		if (n == 0) {
			close(fd);
			break;
		}
		off += (size_t)n;
		/* A regular file that returns less than asked is at its end: no extra read. */
		if (off + 1 < max && (listed || off >= (size_t)st.st_size)) {
			close(fd);
			break;
		}
	}
	buf[off] = '\0';
	if (st_out)
		*st_out = st;
	return (ssize_t)off;
}

ssize_t ctnet_read_file(int dirfd, const char *name, char *buf, size_t max,
			struct ctnet_err *err)
{
	return read_file(dirfd, name, buf, max, false, NULL, err);
}

ssize_t ctnet_read_file_stat(int dirfd, const char *name, char *buf, size_t max, struct stat *st_out,
			     struct ctnet_err *err)
{
	return read_file(dirfd, name, buf, max, false, st_out, err);
}

ssize_t ctnet_read_listed(int dirfd, const char *name, char *buf, size_t max, struct ctnet_err *err)
{
	return read_file(dirfd, name, buf, max, true, NULL, err);
}

int ctnet_unlink(int dirfd, const char *name, struct ctnet_err *err)
{
	char shown[CTNET_SHOW_MAX];
	if (unlinkat(dirfd, name, 0) < 0 && errno != ENOENT)
		return ctnet_err_sys(err, errno, "remove \"%s\"", ctnet_show(name, shown));
	return 0;
}

/* dirfd/name as a path for messages: a read-only or full state dir must be named. */
static const char *path_at(int dirfd, const char *name, char *buf, size_t len)
{
	char link[64];
	ssize_t n;

	snprintf(link, sizeof(link), "/proc/self/fd/%d", dirfd);
	n = readlink(link, buf, len - 1);
	if (n <= 0 || (size_t)n >= len - 2) /* unknown: the name alone */
		n = 0;
	snprintf(buf + n, len - (size_t)n, "%s%s", n ? "/" : "", name);
	return buf;
}

int ctnet_lock(int dirfd, const char *name, struct ctnet_err *err)
{
	char path[4096];

	for (;;) {
		struct stat a, b;
		int fd = openat(dirfd, name, O_RDWR | O_CREAT | O_NOFOLLOW | O_CLOEXEC, 0600);
		if (fd < 0) {
			int e = errno;
			return ctnet_err_sys(err, e, "open lock \"%s\"", path_at(dirfd, name, path, sizeof(path)));
		}
		while (flock(fd, LOCK_EX) < 0) {
			if (errno == EINTR)
				continue;
			int e = errno;
			close(fd);
			return ctnet_err_sys(err, e, "lock \"%s\"", path_at(dirfd, name, path, sizeof(path)));
		}
		/* gc removes lock files of gone entries (holding the lock): the file we locked
		 * must still be the one under this name, or we lock again. */
		if (fstat(fd, &a) == 0 && fstatat(dirfd, name, &b, AT_SYMLINK_NOFOLLOW) == 0 &&
		    a.st_ino == b.st_ino && a.st_dev == b.st_dev)
			return fd;
		close(fd);
	}
}

int ctnet_lock_sweep(int dfd, struct ctnet_err *err)
{
	DIR *d = ctnet_dir_opendir(dfd);
	struct dirent *e;
	int n = 0;

	if (!d)
		return ctnet_err_sys(err, errno, "read directory");
	while ((e = readdir(d))) {
		char entry[CTNET_NAME_MAX + 1];
		size_t len = strlen(e->d_name);
		struct stat st;
		if (e->d_name[0] != '.' || len < 7 || len - 6 > CTNET_NAME_MAX ||
		    strcmp(e->d_name + len - 5, ".lock"))
			continue;
		memcpy(entry, e->d_name + 1, len - 6);
		entry[len - 6] = '\0';
		if (fstatat(dfd, entry, &st, AT_SYMLINK_NOFOLLOW) == 0 || errno != ENOENT)
			continue;
		int fd = openat(dfd, e->d_name, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
		if (fd < 0)
			continue;
		/* Free and still without an entry while we hold it: nobody is using it. */
		if (flock(fd, LOCK_EX | LOCK_NB) == 0 &&
		    fstatat(dfd, entry, &st, AT_SYMLINK_NOFOLLOW) < 0 && errno == ENOENT &&
		    unlinkat(dfd, e->d_name, 0) == 0)
			n++;
		close(fd);
	}
	closedir(d);
	return n;
}

static void entry_lock_name(const char *name, char out[CTNET_NAME_MAX + 8])
{
	snprintf(out, CTNET_NAME_MAX + 8, ".%s.lock", name);
}

int ctnet_entry_lock(int dfd, const char *name, struct ctnet_err *err)
{
	char lk[CTNET_NAME_MAX + 8];
	entry_lock_name(name, lk);
	return ctnet_lock(dfd, lk, err);
}

int ctnet_entry_busy(int dfd, const char *name)
{
	char lk[CTNET_NAME_MAX + 8];
	int fd, busy;

	entry_lock_name(name, lk);
	fd = openat(dfd, lk, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0)
		return 0;
	/* A shared lock fails only while someone holds the exclusive one. */
	busy = flock(fd, LOCK_SH | LOCK_NB) < 0 && errno == EWOULDBLOCK;
	close(fd);
	return busy;
}

void ctnet_unlock(int fd)
{
	if (fd >= 0)
		close(fd);
}

