/* SPDX-License-Identifier: MIT */
#include "kern.h"

#include <errno.h>
#include <linux/netlink.h>
#include <sys/socket.h>
#include <string.h>
#include <unistd.h>

void ctnet_kern_init(struct ctnet_kern *k)
{
	memset(k, 0, sizeof(*k));
	k->pid = getpid();
	k->rt = k->nf = k->ct = (struct ctnet_nl)CTNET_NL_INIT;
	k->ioctl_fd = -1;
}

void ctnet_kern_close(struct ctnet_kern *k)
{
	ctnet_nl_close(&k->rt);
	ctnet_nl_close(&k->nf);
	ctnet_nl_close(&k->ct);
	if (k->ioctl_fd >= 0)
		close(k->ioctl_fd);
	if (k->nft && k->nft_free)
		k->nft_free(k->nft);
	bool bulk = k->bulk; /* a setting of the connection, not a handle */
	ctnet_kern_init(k);
	k->bulk = bulk;
}

void ctnet_kern_forked(struct ctnet_kern *k)
{
	/* The descriptors are this process's copies: closing them leaves the parent's. */
	ctnet_kern_close(k);
}

static int handle(struct ctnet_kern *k, struct ctnet_nl *h, int proto, struct ctnet_nl **out,
		  struct ctnet_err *err)
{
	if (k->pid != getpid())
		ctnet_kern_forked(k);
	if (!ctnet_nl_is_open(h)) {
		int r = ctnet_nl_open(h, proto, err);
		if (r < 0)
			return r;
	}
	*out = h;
	return 0;
}

int ctnet_kern_rt(struct ctnet_kern *k, struct ctnet_nl **out, struct ctnet_err *err)
{
	return handle(k, &k->rt, NETLINK_ROUTE, out, err);
}

int ctnet_kern_nf(struct ctnet_kern *k, struct ctnet_nl **out, struct ctnet_err *err)
{
	return handle(k, &k->nf, NETLINK_NETFILTER, out, err);
}

int ctnet_kern_ct(struct ctnet_kern *k, struct ctnet_nl **out, struct ctnet_err *err)
{
	return handle(k, &k->ct, NETLINK_NETFILTER, out, err);
}

int ctnet_kern_ioctl_fd(struct ctnet_kern *k)
{
	if (k->pid != getpid())
		ctnet_kern_forked(k);
	if (k->ioctl_fd < 0 && (k->ioctl_fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0)) < 0) {
		int e = errno;
		k->ioctl_fd = -1;
		return -e;
	}
	return k->ioctl_fd;
}
