/* SPDX-License-Identifier: MIT */
/*
 * A container's resolv.conf: $CTNET_NETNS_ETC_DIR/NAME/resolv.conf (/etc/netns/NAME), the
 * file `ip netns exec NAME` binds over /etc/resolv.conf and that `ctnet exec`, `ctnet run`
 * and a runtime (nspawn --bind-ro=) bind the same way. It names the address the container
 * reaches the host by (its host side, or its bridge's), where `ctnet dns` listens. ctnet
 * writes it only where no one else's file is, marks it on its first line, and removes only
 * its own.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <net/if.h>
#include <netinet/in.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <sys/socket.h>
#include <unistd.h>

#include "launch.h"
#include "state.h"

#define RESOLV "resolv.conf"
#define RESOLV_MAX 1024

const char *ct_dns_etc_dir(void)
{
	const char *e = getenv("CTNET_NETNS_ETC_DIR");
	return e && e[0] == '/' ? e : CT_DNS_ETC_DEFAULT;
}

bool ct_dns_wants_resolv(const struct ct_record *r)
{
	return !r->spec.shared && (r->created_netns || r->spec.netns_kind == CT_NETNS_FD);
}

int ct_dns_server(struct ctnet_kern *kern, const char *bridge, const struct ctnet_addr *host,
		  const struct ctnet_addr *host6, struct ctnet_addr *v4, struct ctnet_addr *v6)
{
	memset(v4, 0, sizeof(*v4));
	memset(v6, 0, sizeof(*v6));
	if (!bridge || !bridge[0]) {
		if (host && host->family == AF_INET)
			*v4 = *host;
		if (host6 && host6->family == AF_INET6)
			*v6 = *host6;
		return 0;
	}
	/* The bridge's (primary) IPv4 address: the one netd routes a bridge port through. */
	struct ifreq ifr = { 0 };
	int fd = kern ? ctnet_kern_ioctl_fd(kern) : -EINVAL;
	if (fd < 0)
		return fd;
	snprintf(ifr.ifr_name, sizeof(ifr.ifr_name), "%s", bridge);
	if (ioctl(fd, SIOCGIFADDR, &ifr) < 0)
		return errno == EADDRNOTAVAIL || errno == ENODEV ? 0 : -errno;
	const struct sockaddr_in *sin = (const struct sockaddr_in *)&ifr.ifr_addr;
	v4->family = AF_INET;
	v4->prefix = -1;
	v4->v4 = sin->sin_addr;
	return 0;
}

/* The text ctnet writes for r: its servers and the search domain; 0 when r has no server. */
static size_t resolv_text(struct ctnet_kern *kern, const struct ct_record *r, const char *domain, char *buf,
			  size_t len)
{
	struct ctnet_addr v4, v6;
	char a[CTNET_ADDR_STRLEN];
	size_t n;

	if (ct_dns_server(kern, r->spec.bridge, &r->host, r->has_v6 ? &r->host6 : NULL, &v4, &v6) < 0 ||
	    (!v4.family && !v6.family))
		return 0;
	n = (size_t)snprintf(buf, len, "%s resolver of container %s (ctnet down removes this file)\n", CT_DNS_MARKER,
			     r->spec.name);
	if (v4.family)
		n += (size_t)snprintf(buf + n, len - n, "nameserver %s\n", ctnet_addr_str(&v4, a));
	if (v6.family)
		n += (size_t)snprintf(buf + n, len - n, "nameserver %s\n", ctnet_addr_str(&v6, a));
	if (domain && domain[0])
		n += (size_t)snprintf(buf + n, len - n, "search %s\n", domain);
	return n;
}

/* dfd/resolv.conf: its length into *len (-1: absent) and whether ctnet wrote it. */
static int resolv_read(int dfd, char *buf, size_t max, ssize_t *len, bool *ours, struct ctnet_err *err)
{
	*len = ctnet_read_file(dfd, RESOLV, buf, max, err);
	*ours = *len >= 0 && !strncmp(buf, CT_DNS_MARKER, sizeof(CT_DNS_MARKER) - 1);
	if (*len == -ENOENT) {
		*len = -1;
		return 0;
	}
	/* Too big or not a regular file: not ctnet's (it writes a few lines). */
	if (*len == -EFBIG || *len == -ELOOP || *len == -EINVAL) {
		*len = 0;
		*ours = false;
		return 0;
	}
	return *len < 0 ? (int)*len : 0;
}

int ct_dns_resolv_write(struct ctnet_kern *kern, const struct ct_record *r, const char *domain, struct ctnet_err *err)
{
	char text[RESOLV_MAX], old[RESOLV_MAX];
	size_t n = resolv_text(kern, r, domain, text, sizeof(text));
	ssize_t olen;
	bool ours;
	int rc;

	if (!n)
		return 0;
	_cleanup_close_ int dfd = ctnet_dir_open(ct_dns_etc_dir(), r->spec.name, 1, err);
	if (dfd < 0)
		return dfd;
	if ((rc = resolv_read(dfd, old, sizeof(old), &olen, &ours, err)) < 0)
		return rc;
	if (olen >= 0 && (!ours || ((size_t)olen == n && !memcmp(old, text, n))))
		return 0; /* another tool's file, or already so */
	rc = ctnet_write_atomic(dfd, RESOLV, text, n, err);
	return rc < 0 ? rc : 1;
}

/* Removes name's resolv.conf below the open ETC when it is ctnet's, and name's directory
 * when that empties it. 1 removed, 0 not there or not ctnet's, -errno. */
static int resolv_remove_at(int etcdfd, const char *name, struct ctnet_err *err)
{
	char old[RESOLV_MAX];
	ssize_t olen;
	bool ours;
	int rc;
	_cleanup_close_ int dfd = ctnet_subdir_open(etcdfd, name, 0, name, err);

	if (dfd == -ENOENT || dfd == -ENOTDIR)
		return 0;
	if (dfd < 0)
		return dfd;
	if ((rc = resolv_read(dfd, old, sizeof(old), &olen, &ours, err)) < 0 || !ours)
		return rc;
	if ((rc = ctnet_unlink(dfd, RESOLV, err)) < 0)
		return rc;
	if (unlinkat(etcdfd, name, AT_REMOVEDIR) < 0 && errno != ENOTEMPTY && errno != EEXIST && errno != ENOENT)
		return ctnet_err_sys(err, errno, "remove directory \"%s/%s\"", ct_dns_etc_dir(), name);
	return 1;
}

int ct_dns_resolv_remove(const char *name, struct ctnet_err *err)
{
	_cleanup_close_ int etc = ctnet_dir_open(ct_dns_etc_dir(), "", 0, err);
	int rc;

	if (etc == -ENOENT)
		return 0;
	if (etc < 0)
		return etc;
	rc = resolv_remove_at(etc, name, err);
	return rc < 0 ? rc : 0;
}

struct resolv_sweep {
	int etc, n;
};

static int resolv_sweep_one(int dfd, const char *name, void *data)
{
	struct resolv_sweep *sw = data;
	struct ct_record *r = malloc(sizeof(*r));
	struct ctnet_err e;
	int lock;

	(void)dfd;
	if (!r)
		return -ENOMEM;
	/* Under the name's lock, as up writes it: no record then means no container. */
	if ((lock = record_lock(name, &e)) >= 0) {
		if (record_read(name, r, &e) == -ENOENT && resolv_remove_at(sw->etc, name, &e) == 1)
			sw->n++;
		record_unlock(name, lock);
	}
	free(r);
	return 0;
}

int ct_dns_resolv_sweep(int *n, struct ctnet_err *err)
{
	struct resolv_sweep sw = { .etc = ctnet_dir_open(ct_dns_etc_dir(), "", 0, err) };
	int rc;

	*n = 0;
	if (sw.etc == -ENOENT)
		return 0;
	if (sw.etc < 0)
		return sw.etc;
	rc = ctnet_dir_foreach(sw.etc, "netns etc", resolv_sweep_one, &sw, err);
	close(sw.etc);
	*n = sw.n;
	return rc;
}

/* ---- what `ip netns exec` does with /etc/netns/NAME ---- */

/* The files of dir to bind (no dot files: a killed writer's temp file is not one). */
static int etc_files(const char *dir, char (**names)[256], size_t *n, struct ctnet_err *err)
{
	DIR *d = opendir(dir);
	struct dirent *de;
	size_t cap = 0;

	*names = NULL;
	*n = 0;
	if (!d)
		return errno == ENOENT || errno == ENOTDIR ? 0 : ctnet_err_sys(err, errno, "open \"%s\"", dir);
	while ((de = readdir(d))) {
		if (de->d_name[0] == '.' || (de->d_type != DT_REG && de->d_type != DT_UNKNOWN))
			continue;
		if (CTNET_GROW(*names, *n, cap, 4) < 0) {
			closedir(d);
			return ctnet_errf(err, ENOMEM, "out of memory");
		}
		snprintf((*names)[(*n)++], 256, "%s", de->d_name);
	}
	closedir(d);
	return 0;
}

int ct_dns_etc_bind(const char *name, struct ctnet_err *err)
{
	char dir[4096], src[4352], dst[300];
	char (*files)[256];
	size_t n;
	int rc = 0;

	snprintf(dir, sizeof(dir), "%s/%s", ct_dns_etc_dir(), name);
	if ((rc = etc_files(dir, &files, &n, err)) < 0 || !n) {
		free(files);
		return rc;
	}
	/* A mount namespace of our own, receiving the host's mounts but sending none back. */
	if (unshare(CLONE_NEWNS) < 0 || mount("", "/", "none", MS_SLAVE | MS_REC, NULL) < 0) {
		rc = ctnet_err_sys(err, errno, "private mount namespace for %s", dir);
		free(files);
		return rc;
	}
	for (size_t i = 0; i < n; i++) {
		snprintf(src, sizeof(src), "%s/%s", dir, files[i]);
		snprintf(dst, sizeof(dst), "/etc/%s", files[i]);
		if (mount(src, dst, "none", MS_BIND, NULL) < 0 && !rc)
			rc = ctnet_err_sys(err, errno, "bind %s over %s", src, dst);
	}
	free(files);
	return rc;
}
