/* SPDX-License-Identifier: MIT */
/* Attachments: which ctnet container serves (containerID, ifname) of which network. */
#include <dirent.h>
#include <stdlib.h>
#include <errno.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include "launch.h"
#include "nixosconf.h"
#include "state.h"

#define ATTACH_MAX 8192

void cni_attachment_name(const char *container_id, const char *ifname, char *out)
{
	char key[CNI_ID_MAX + IFNAMSIZ + 2];
	int n = snprintf(key, sizeof(key), "%s/%s", container_id, ifname);
	size_t len = n < 0 ? 0 : (size_t)n >= sizeof(key) ? sizeof(key) - 1 : (size_t)n;
	snprintf(out, CTNET_NAME_MAX + 1, "cni-%016llx",
		 (unsigned long long)ctnet_hash64(key, len));
}

static int attach_dir(bool create, struct ctnet_err *err)
{
	return ctnet_dir_open(ctnet_run_dir(), "cni", create, err);
}

bool cni_attachment_is_name(const char *name)
{
	return strlen(name) == 20 && !strncmp(name, "cni-", 4) &&
	       strspn(name + 4, "0123456789abcdef") == 16;
}

bool cni_attachment_exists(const char *name)
{
	_cleanup_close_ int dfd = attach_dir(false, NULL);
	struct stat st;

	if (dfd == -ENOENT)
		return false;
	return dfd < 0 || fstatat(dfd, name, &st, AT_SYMLINK_NOFOLLOW) == 0 || errno != ENOENT;
}

int cni_attachment_lock(const char *name, struct ctnet_err *err)
{
	_cleanup_close_ int dfd = attach_dir(true, err);
	if (dfd < 0)
		return dfd;
	return ctnet_entry_lock(dfd, name, err);
}

void cni_attachment_unlock(const char *name, int lock)
{
	_cleanup_close_ int dfd = attach_dir(false, NULL);
	ctnet_entry_unlock(dfd, name, lock);
}

int cni_attachment_write(const struct cni_attachment *a, struct ctnet_err *err)
{
	char buf[ATTACH_MAX], what[CTNET_NAME_MAX + 16];
	struct ctnet_kv_out o = { .p = buf, .cap = sizeof(buf), .what = what, .err = err };
	_cleanup_close_ int dfd = -1;

	snprintf(what, sizeof(what), "attachment \"%s\"", a->name);
	ctnet_kv_put(&o, "CONTAINER_ID", a->container_id);
	ctnet_kv_put(&o, "IFNAME", a->ifname);
	ctnet_kv_put(&o, "NETWORK", a->network);
	ctnet_kv_put(&o, "NETNS", a->netns);
	if (a->pod_name[0])
		ctnet_kv_put(&o, "POD_NAME", a->pod_name);
	if (a->pod_namespace[0])
		ctnet_kv_put(&o, "POD_NAMESPACE", a->pod_namespace);
	if (o.error)
		return o.error;
	if ((dfd = attach_dir(true, err)) < 0)
		return dfd;
	return ctnet_write_atomic(dfd, a->name, buf, o.len, err);
}

static int copy_field(char *dst, size_t len, const char *val, const char *key,
		      struct ctnet_err *err)
{
	if (strlen(val) >= len)
		return ctnet_errf(err, EINVAL, "%s too long", key);
	memcpy(dst, val, strlen(val) + 1);
	return 0;
}

static int attach_cb(const char *key, const char *val, void *data, struct ctnet_err *err)
{
	struct cni_attachment *a = data;
	static const struct {
		const char *key;
		size_t off, len;
	} fields[] = {
		{ "CONTAINER_ID", offsetof(struct cni_attachment, container_id), CNI_ID_MAX + 1 },
		{ "IFNAME", offsetof(struct cni_attachment, ifname), IFNAMSIZ },
		{ "NETWORK", offsetof(struct cni_attachment, network), CTNET_NAME_MAX + 1 },
		{ "NETNS", offsetof(struct cni_attachment, netns), CT_PATH_MAX },
		{ "POD_NAME", offsetof(struct cni_attachment, pod_name), CTNET_NAME_MAX + 1 },
		{ "POD_NAMESPACE", offsetof(struct cni_attachment, pod_namespace), CTNET_NAME_MAX + 1 },
	};
	for (size_t i = 0; i < ARRAY_SIZE(fields); i++)
		if (!strcmp(key, fields[i].key))
			return copy_field((char *)a + fields[i].off, fields[i].len, val, key, err);
	return 0; /* unknown keys: a newer writer's */
}

/* lib's KEY=VALUE reader, as for records and leases. */
static int attach_read_fd(int dfd, const char *name, struct cni_attachment *a,
			  struct ctnet_err *err)
{
	char buf[ATTACH_MAX], shown[CTNET_NAME_MAX + 16];
	ssize_t n = ctnet_read_file(dfd, name, buf, sizeof(buf), err);
	int rc;

	if (n == -ENOENT)
		return ctnet_errf(err, ENOENT, "attachment \"%s\": unknown", name);
	if (n < 0)
		return (int)n;
	memset(a, 0, sizeof(*a));
	snprintf(a->name, sizeof(a->name), "%s", name);
	snprintf(shown, sizeof(shown), "attachment \"%s\"", name);
	if ((rc = nixosconf_parse_kv(buf, (size_t)n, shown, attach_cb, a, err)) < 0)
		return rc;
	if (!a->container_id[0] || !a->ifname[0])
		return ctnet_errf(err, EINVAL, "attachment \"%s\": no CONTAINER_ID or IFNAME", name);
	return 0;
}

int cni_attachment_read(const char *name, struct cni_attachment *a, struct ctnet_err *err)
{
	_cleanup_close_ int dfd = attach_dir(false, err);
	if (dfd == -ENOENT)
		return ctnet_errf(err, ENOENT, "attachment \"%s\": unknown", name);
	if (dfd < 0)
		return dfd;
	return attach_read_fd(dfd, name, a, err);
}

int cni_attachment_remove(const char *name, struct ctnet_err *err)
{
	_cleanup_close_ int dfd = attach_dir(false, err);
	if (dfd == -ENOENT)
		return 0;
	if (dfd < 0)
		return dfd;
	return ctnet_unlink(dfd, name, err);
}

struct foreach_ctx {
	int (*cb)(const struct cni_attachment *a, void *data);
	void *data;
	struct ctnet_err *err;
};

static int foreach_one(int dfd, const char *name, void *data)
{
	struct foreach_ctx *f = data;
	struct cni_attachment a;
	if (strncmp(name, "cni-", 4))
		return 0;
	if (attach_read_fd(dfd, name, &a, f->err) < 0)
		return 0; /* vanished meanwhile (a concurrent DEL) or unreadable: skip */
	return f->cb(&a, f->data);
}

int cni_attachment_foreach(int (*cb)(const struct cni_attachment *a, void *data), void *data,
			   struct ctnet_err *err)
{
	struct foreach_ctx f = { cb, data, err };
	_cleanup_close_ int dfd = attach_dir(false, err);

	if (dfd == -ENOENT)
		return 0;
	if (dfd < 0)
		return dfd;
	return ctnet_dir_foreach(dfd, "attachments", foreach_one, &f, err);
}

struct sweep_ctx {
	int dfd;
	int n;
};

static int sweep_one(int dfd, const char *name, void *data)
{
	struct sweep_ctx *sw = data;
	struct ct_record *r;
	struct ctnet_err e;
	int lock, rc;

	(void)dfd;
	if (strncmp(name, "cni-", 4))
		return 0;
	/* Under the attachment's lock, as ADD and DEL hold it: a DEL or ADD in progress
	 * finishes first; then no record means nothing serves it any more. */
	if ((lock = ctnet_entry_lock(sw->dfd, name, &e)) < 0)
		return 0;
	if (!(r = malloc(sizeof(*r)))) {
		close(lock);
		return -ENOMEM;
	}
	rc = record_read(name, r, &e);
	if (rc == -ENOENT && ctnet_unlink(sw->dfd, name, &e) == 0)
		sw->n++;
	free(r);
	close(lock);
	return 0;
}

int cni_attachment_sweep(ctnet_swept_fn *cb, void *data, struct ctnet_err *err)
{
	_cleanup_close_ int dfd = attach_dir(false, err);
	struct sweep_ctx sw = { .dfd = dfd };
	int rc;

	if (dfd == -ENOENT)
		return 0;
	if (dfd < 0)
		return dfd;
	if ((rc = ctnet_tmp_sweep(dfd, err)) < 0)
		return ctnet_err_sys(err, -rc, "sweep temp files in \"%s/cni\"", ctnet_run_dir());
	ctnet_swept_report(cb, data, CTNET_DEBRIS_TEMP, "cni", rc);
	if ((rc = ctnet_dir_foreach(dfd, "attachments", sweep_one, &sw, err)) < 0)
		return rc;
	if ((rc = ctnet_lock_sweep(dfd, err)) < 0)
		return ctnet_err_sys(err, -rc, "sweep lock files in \"%s/cni\"", ctnet_run_dir());
	ctnet_swept_report(cb, data, CTNET_DEBRIS_ATTACHMENT, "cni", sw.n + rc);
	return 0;
}
