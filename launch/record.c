/* SPDX-License-Identifier: MIT */
/* Container records: $CTNET_RUN_DIR/containers/NAME, KEY=VALUE lines an admin can `cat`:
 * the spec as requested (the REQ_* keys and the spec's own), then what is in use. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "launch.h"
#include "state.h"

#define RECORD_MAX CT_RECORD_MAX

int record_dir(bool create, struct ctnet_err *err)
{
	return ctnet_dir_open(ctnet_run_dir(), "containers", create, err);
}

int record_sweep(ctnet_swept_fn *cb, void *data, struct ctnet_err *err)
{
	_cleanup_close_ int dfd = record_dir(false, err);
	int n;

	if (dfd == -ENOENT)
		return 0;
	if (dfd < 0)
		return dfd;
	if ((n = ctnet_tmp_sweep(dfd, err)) < 0)
		return ctnet_err_sys(err, -n, "sweep temp files in \"%s/containers\"", ctnet_run_dir());
	ctnet_swept_report(cb, data, CTNET_DEBRIS_TEMP, "containers", n);
	if ((n = ctnet_lock_sweep(dfd, err)) < 0)
		return ctnet_err_sys(err, -n, "sweep lock files in \"%s/containers\"", ctnet_run_dir());
	ctnet_swept_report(cb, data, CTNET_DEBRIS_LOCK, "containers", n);
	return 0;
}

int ct_state_writable(struct ctnet_err *err)
{
	int r = ctnet_state_probe(ctnet_run_dir(), "containers", err);
	if (r == 0)
		r = ipam_writable(err);
	if (r == 0)
		r = nat_writable(err);
	return r;
}

int record_lock(const char *name, struct ctnet_err *err)
{
	_cleanup_close_ int dfd = record_dir(true, err);
	if (dfd < 0)
		return dfd;
	return ctnet_entry_lock(dfd, name, err);
}

void record_unlock(const char *name, int lock)
{
	_cleanup_close_ int dfd = record_dir(false, NULL);
	ctnet_entry_unlock(dfd, name, lock);
}

int record_busy(const char *name)
{
	_cleanup_close_ int dfd = record_dir(false, NULL);
	return dfd < 0 ? 0 : ctnet_entry_busy(dfd, name);
}

static char boot_id[40];
static pthread_once_t boot_id_once = PTHREAD_ONCE_INIT;

static void boot_id_read(void)
{
	int fd = open("/proc/sys/kernel/random/boot_id", O_RDONLY | O_CLOEXEC);
	ssize_t n = fd >= 0 ? read(fd, boot_id, sizeof(boot_id) - 1) : -1;
	if (fd >= 0)
		close(fd);
	boot_id[n > 0 ? n : 0] = '\0';
	boot_id[strcspn(boot_id, "\n")] = '\0';
}

/* Filled once per process, also when reader threads (apply, status, doctor) ask first at
 * the same time: a half-filled id would read as "host rebooted". */
const char *ct_boot_id(void)
{
	pthread_once(&boot_id_once, boot_id_read);
	return boot_id;
}

int record_write(const struct ct_record *r, struct ctnet_err *err)
{
	char buf[RECORD_MAX];
	int n = record_format(r, buf, sizeof(buf), err);
	_cleanup_close_ int dfd = -1;

	if (n < 0)
		return n;
	if ((dfd = record_dir(true, err)) < 0)
		return dfd;
	return ctnet_write_atomic(dfd, r->spec.name, buf, (size_t)n, err);
}

/* The text read into buf (n bytes, or -errno) parsed into r: n, or -errno. */
static ssize_t parsed(ssize_t n, const char *buf, const char *name, struct ct_record *r,
		      struct ctnet_err *err)
{
	if (n == -ENOENT)
		return ctnet_errf(err, ENOENT, "container \"%s\": not up", name);
	if (n < 0)
		return n;
	int rc = record_parse(buf, (size_t)n, name, r, err);
	return rc < 0 ? rc : n;
}

int record_read(const char *name, struct ct_record *r, struct ctnet_err *err)
{
	_cleanup_close_ int dfd = record_dir(false, err);
	char buf[RECORD_MAX];

	if (dfd == -ENOENT)
		return ctnet_errf(err, ENOENT, "container \"%s\": not up", name);
	if (dfd < 0)
		return dfd;
	ssize_t n = parsed(ctnet_read_file(dfd, name, buf, sizeof(buf), err), buf, name, r, err);
	return n < 0 ? (int)n : 0;
}

ssize_t record_read_text_at(int dfd, const char *name, struct ct_record *r, char *buf, size_t max,
			    struct stat *st, struct ctnet_err *err)
{
	max = max < RECORD_MAX ? max : RECORD_MAX;
	return parsed(ctnet_read_file_stat(dfd, name, buf, max, st, err), buf, name, r, err);
}

int ct_records_load(int dfd, struct ct_records *out, struct ctnet_err *err)
{
	int rc;

	*out = (struct ct_records){ .dfd = dfd };
	if (dfd < 0) {
		out->dfd = record_dir(false, err);
		if (out->dfd == -ENOENT) { /* no container was ever up */
			out->dfd = -1;
			return 0;
		}
		if (out->dfd < 0)
			return out->dfd;
		out->own_dfd = true;
	}
	if ((rc = ctnet_dir_list(out->dfd, "records", &out->v, &out->n, err)) < 0)
		ct_records_free(out);
	return rc;
}

int ct_records_read(const struct ct_records *l, size_t i, struct ct_record *r, struct ctnet_err *err)
{
	const struct ctnet_dir_entry *e = &l->v[i];
	char buf[RECORD_MAX];
	/* A regular file as listed is read without an fstat (thousands); anything else is
	 * checked, and refused as not a record. */
	ssize_t n = e->regular ? ctnet_read_listed(l->dfd, e->name, buf, sizeof(buf), err)
			       : ctnet_read_file(l->dfd, e->name, buf, sizeof(buf), err);
	n = parsed(n, buf, e->name, r, err);
	return n < 0 ? (int)n : 0;
}

void ct_records_free(struct ct_records *l)
{
	if (l->own_dfd && l->dfd >= 0)
		close(l->dfd);
	free(l->v);
	*l = (struct ct_records){ .dfd = -1 };
}

int record_remove(const char *name, struct ctnet_err *err)
{
	_cleanup_close_ int dfd = record_dir(false, err);
	if (dfd == -ENOENT)
		return 0;
	if (dfd < 0)
		return dfd;
	return ctnet_unlink(dfd, name, err);
}

int ct_pid_start(pid_t pid, unsigned long long *start)
{
	char path[64], buf[1024];
	const char *p;
	ssize_t n;
	int fd;

	snprintf(path, sizeof(path), "/proc/%ld/stat", (long)pid);
	if ((fd = open(path, O_RDONLY | O_CLOEXEC)) < 0)
		return -errno;
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n <= 0)
		return n < 0 ? -errno : -ENOENT; /* ESRCH: it exited meanwhile */
	buf[n] = '\0';
	/* "PID (COMM) STATE ...": COMM may hold spaces and parentheses; the fields after the
	 * last ')' are 3 and on, so starttime (22) is the 20th of them. */
	if (!(p = strrchr(buf, ')')))
		return -EINVAL;
	for (int field = 2; field < 22; field++) {
		p = strchr(p + 1, ' ');
		if (!p)
			return -EINVAL;
	}
	if (sscanf(p + 1, "%llu", start) != 1)
		return -EINVAL;
	return 0;
}

int record_alive(const struct ct_record *r, const char **why)
{
	struct stat st;
	char path[64];

	if (r->boot_id[0] && ct_boot_id()[0] && strcmp(r->boot_id, ct_boot_id())) {
		*why = "host rebooted";
		return 0;
	}
	if (r->spec.shared) {
		unsigned long long start;
		if (!r->pid)
			return 1;
		if (!r->pid_start) { /* an older record: the PID alone */
			if (kill(r->pid, 0) < 0 && errno == ESRCH) {
				*why = "process gone";
				return 0;
			}
			return 1;
		}
		int rc = ct_pid_start(r->pid, &start);
		if (rc == -ENOENT || rc == -ESRCH) {
			*why = "process gone";
			return 0;
		}
		if (rc == 0 && start != r->pid_start) {
			*why = "process gone (its PID is another process's now)";
			return 0;
		}
		return 1; /* unreadable otherwise: not judged gone */
	}
	if (r->pid) {
		snprintf(path, sizeof(path), "/proc/%ld/ns/net", (long)r->pid);
		if (stat(path, &st) < 0) {
			*why = "process gone";
			return 0;
		}
	} else if (!r->netns[0] || stat(r->netns, &st) < 0) {
		*why = "namespace gone";
		return 0;
	}
	if (r->ns_ino && ((unsigned long long)st.st_dev != r->ns_dev ||
			  (unsigned long long)st.st_ino != r->ns_ino)) {
		*why = "namespace replaced";
		return 0;
	}
	return 1;
}
