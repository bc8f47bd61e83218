/* SPDX-License-Identifier: MIT */
/* Listing a state directory (its entries, on a description of its own) and sweeping it of
 * what killed writers left (state.h). */
#include "state.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "name.h"

/* The writer's PID in ".NAME.PID.tmp", or 0 when name is not such a file. */
static pid_t tmp_writer(const char *name)
{
	size_t len = strlen(name);
	const char *end, *dot;
	long pid = 0;

	if (name[0] != '.' || len < 7 || strcmp(name + len - 4, ".tmp"))
		return 0;
	end = name + len - 4;
	for (dot = end; dot > name && dot[-1] != '.'; dot--)
		;
	if (dot <= name + 1 || dot == end || end - dot > 9)
		return 0;
	for (const char *p = dot; p < end; p++) {
		if (*p < '0' || *p > '9')
			return 0;
		pid = pid * 10 + (*p - '0');
	}
	return (pid_t)pid;
}

DIR *ctnet_dir_opendir(int dfd)
{
	int fd = openat(dfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	DIR *d = fd >= 0 ? fdopendir(fd) : NULL;
	if (!d && fd >= 0) {
		int e = errno;
		close(fd);
		errno = e;
	}
	return d;
}

int ctnet_tmp_sweep(int dirfd, struct ctnet_err *err)
{
	DIR *d = ctnet_dir_opendir(dirfd);
	struct dirent *de;
	int removed = 0;

	if (!d)
		return ctnet_err_sys(err, errno, "sweep temp files");
	while ((de = readdir(d))) {
		pid_t pid = tmp_writer(de->d_name);
		if (pid <= 0 || pid == getpid() || !(kill(pid, 0) < 0 && errno == ESRCH))
			continue;
		if (unlinkat(dirfd, de->d_name, 0) == 0)
			removed++;
	}
	closedir(d);
	return removed;
}

void ctnet_swept_report(ctnet_swept_fn *cb, void *data, enum ctnet_debris kind, const char *dir, int n)
{
	struct ctnet_swept s = { .kind = kind, .dir = dir, .n = n };
	if (cb && n > 0)
		cb(&s, data);
}

int ctnet_tmp_sweep_dirs(const char *base, const char *const *dirs, size_t n, ctnet_swept_fn *cb, void *data,
			 struct ctnet_err *err)
{
	int first = 0;

	for (size_t i = 0; i < n; i++) {
		struct ctnet_err e;
		int fd = ctnet_dir_open(base, dirs[i], false, &e), r = fd;
		if (fd == -ENOENT)
			continue;
		if (fd >= 0) {
			r = ctnet_tmp_sweep(fd, &e);
			close(fd);
			if (r < 0)
				ctnet_err_sys(&e, -r, "sweep temp files in \"%s/%s\"", base, dirs[i]);
		}
		if (r < 0 && !first) {
			first = r;
			if (err)
				*err = e;
		}
		ctnet_swept_report(cb, data, CTNET_DEBRIS_TEMP, dirs[i], r);
	}
	return first;
}

/* Temp files of ctnet_write_atomic, locks and strays are not entries. */
static bool is_entry(const struct dirent *de)
{
	return de->d_name[0] != '.' && ctnet_name_check(de->d_name, NULL) == 0;
}

/* The listing says what it is; a file system that does not say is asked. */
static bool is_regular(int dfd, const struct dirent *de)
{
	struct stat st;
	return de->d_type == DT_REG || (de->d_type == DT_UNKNOWN && fstatat(dfd, de->d_name, &st, AT_SYMLINK_NOFOLLOW) == 0 &&
					S_ISREG(st.st_mode));
}

/* The entries of dfd (names ctnet could have written); only regular files with files. */
static int dir_walk(int dfd, const char *what, bool files, int (*cb)(int dfd, const char *name, void *data),
		    void *data, struct ctnet_err *err)
{
	DIR *d = ctnet_dir_opendir(dfd);
	struct dirent *de;
	int rc = 0;

	if (!d)
		return ctnet_err_sys(err, errno, "read %s", what);
	while ((de = readdir(d))) {
		if (!is_entry(de) || (files && !is_regular(dfd, de)))
			continue;
		rc = cb(dfd, de->d_name, data);
		if (rc)
			break;
	}
	closedir(d);
	return rc;
}

static int entry_cmp(const void *a, const void *b)
{
	return strcmp(((const struct ctnet_dir_entry *)a)->name, ((const struct ctnet_dir_entry *)b)->name);
}

int ctnet_dir_list(int dfd, const char *what, struct ctnet_dir_entry **v, size_t *n, struct ctnet_err *err)
{
	DIR *d = ctnet_dir_opendir(dfd);
	struct dirent *de;
	size_t cap = 0;
	int rc = 0;

	*v = NULL;
	*n = 0;
	if (!d)
		return ctnet_err_sys(err, errno, "read %s", what);
	while (rc == 0 && (de = readdir(d))) {
		if (!is_entry(de))
			continue;
		if (CTNET_GROW(*v, *n, cap, 64) < 0) {
			rc = ctnet_errf(err, ENOMEM, "read %s: out of memory", what);
			break;
		}
		snprintf((*v)[*n].name, sizeof((*v)[0].name), "%.*s", CTNET_NAME_MAX, de->d_name); /* checked: fits */
		(*v)[(*n)++].regular = is_regular(dfd, de);
	}
	closedir(d);
	if (rc < 0) {
		free(*v);
		*v = NULL;
		*n = 0;
	} else if (*n > 1) {
		qsort(*v, *n, sizeof(**v), entry_cmp);
	}
	return rc;
}

int ctnet_dir_foreach(int dfd, const char *what, int (*cb)(int dfd, const char *name, void *data),
		      void *data, struct ctnet_err *err)
{
	return dir_walk(dfd, what, false, cb, data, err);
}

int ctnet_dir_foreach_file(int dfd, const char *what, int (*cb)(int dfd, const char *name, void *data),
			   void *data, struct ctnet_err *err)
{
	return dir_walk(dfd, what, true, cb, data, err);
}
