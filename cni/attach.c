/* SPDX-License-Identifier: MIT */
/* Attachments: which ctnet container serves (containerID, ifname) of which network. */
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cni.h"
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

int cni_attachment_lock(const char *name, struct ctnet_err *err)
{
	_cleanup_close_ int dfd = attach_dir(true, err);
	if (dfd < 0)
		return dfd;
	return ctnet_entry_lock(dfd, name, err);
}

/* KEY's value in CNI_ARGS ("K=V;K=V", printable ASCII as cni_env_read checked), "" if none. */
static void cni_arg(const char *key, char *out, size_t len)
{
	const char *args = getenv("CNI_ARGS");
	size_t klen = strlen(key);

	out[0] = '\0';
	for (const char *p = args; p && *p;) {
		const char *end = strchr(p, ';');
		size_t n = end ? (size_t)(end - p) : strlen(p);
		if (n > klen && !strncmp(p, key, klen) && p[klen] == '=') {
			snprintf(out, len, "%.*s", (int)(n - klen - 1), p + klen + 1);
			return;
		}
		p += n + (end ? 1 : 0);
	}
}

int cni_attachment_write(const struct cni_attachment *a, struct ctnet_err *err)
{
	char buf[ATTACH_MAX], pod[CNI_ARGS_MAX + 1], pod_ns[CNI_ARGS_MAX + 1];
	_cleanup_close_ int dfd = attach_dir(true, err);
	int n;

	if (dfd < 0)
		return dfd;
	/* The names a user knows: podman and kubelet pass the container's (or pod's) name. */
	cni_arg("K8S_POD_NAME", pod, sizeof(pod));
	cni_arg("K8S_POD_NAMESPACE", pod_ns, sizeof(pod_ns));
	n = snprintf(buf, sizeof(buf),
		     "CONTAINER_ID=%s\nIFNAME=%s\nNETWORK=%s\nNETNS=%s\nPOD_NAME=%s\nPOD_NAMESPACE=%s\n",
		     a->container_id, a->ifname, a->network, a->netns, pod, pod_ns);
	if (n < 0 || (size_t)n >= sizeof(buf))
		return ctnet_errf(err, EOVERFLOW, "attachment \"%s\": too large", a->name);
	return ctnet_write_atomic(dfd, a->name, buf, (size_t)n, err);
}

static int copy_field(char *dst, size_t len, const char *val, const char *name, const char *key,
		      struct ctnet_err *err)
{
	if (strlen(val) >= len)
		return ctnet_errf(err, EINVAL, "attachment \"%s\": %s too long", name, key);
	memcpy(dst, val, strlen(val) + 1);
	return 0;
}

static int attach_read_fd(int dfd, const char *name, struct cni_attachment *a,
			  struct ctnet_err *err)
{
	char buf[ATTACH_MAX];
	ssize_t n = ctnet_read_file(dfd, name, buf, sizeof(buf), err);
	int rc = 0;

	if (n == -ENOENT)
		return ctnet_errf(err, ENOENT, "attachment \"%s\": unknown", name);
	if (n < 0)
		return (int)n;
	memset(a, 0, sizeof(*a));
	snprintf(a->name, sizeof(a->name), "%s", name);
	for (char *save = NULL, *line = strtok_r(buf, "\n", &save); line && rc == 0;
	     line = strtok_r(NULL, "\n", &save)) {
		char *eq = strchr(line, '=');
		if (!eq)
			return ctnet_errf(err, EINVAL, "attachment \"%s\": malformed line", name);
		*eq++ = '\0';
		if (!strcmp(line, "CONTAINER_ID"))
			rc = copy_field(a->container_id, sizeof(a->container_id), eq, name, line, err);
		else if (!strcmp(line, "IFNAME"))
			rc = copy_field(a->ifname, sizeof(a->ifname), eq, name, line, err);
		else if (!strcmp(line, "NETWORK"))
			rc = copy_field(a->network, sizeof(a->network), eq, name, line, err);
		else if (!strcmp(line, "NETNS"))
			rc = copy_field(a->netns, sizeof(a->netns), eq, name, line, err);
	}
	if (rc == 0 && (!a->container_id[0] || !a->ifname[0]))
		rc = ctnet_errf(err, EINVAL, "attachment \"%s\": no CONTAINER_ID or IFNAME", name);
	return rc;
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
