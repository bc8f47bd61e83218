/* SPDX-License-Identifier: MIT */
/* A look inside the container's namespace: MAC addresses for the result, addresses for
 * CHECK. Sockets keep the namespace they were made in, so we enter, make one, and leave. */
#include <errno.h>
#include <fcntl.h>
#include <ifaddrs.h>
#include <net/if_arp.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

#include "cni.h"

/* Runs fn inside nsfd (-1: here) and comes back. */
static int in_netns(int nsfd, int (*fn)(void *data, struct ctnet_err *err), void *data,
		    struct ctnet_err *err)
{
	_cleanup_close_ int self = -1;
	int rc;

	if (nsfd < 0)
		return fn(data, err);
	self = open("/proc/self/ns/net", O_RDONLY | O_CLOEXEC);
	if (self < 0)
		return ctnet_err_sys(err, errno, "open /proc/self/ns/net");
	if (setns(nsfd, CLONE_NEWNET) < 0)
		return ctnet_err_sys(err, errno, "enter the container's network namespace");
	rc = fn(data, err);
	if (setns(self, CLONE_NEWNET) < 0) {
		/* Nothing may run in the wrong namespace. */
		fprintf(stderr, "ctnet-cni: cannot return to the original network namespace: %m\n");
		abort();
	}
	return rc;
}

struct mac_req {
	const char *ifname;
	char *mac;
};

static int mac_fn(void *data, struct ctnet_err *err)
{
	struct mac_req *q = data;
	_cleanup_close_ int s = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	struct ifreq ifr = { 0 };
	const unsigned char *m;

	if (s < 0)
		return ctnet_err_sys(err, errno, "socket");
	snprintf(ifr.ifr_name, sizeof(ifr.ifr_name), "%s", q->ifname);
	if (ioctl(s, SIOCGIFHWADDR, &ifr) < 0)
		return ctnet_err_sys(err, errno == ENODEV ? ENODEV : errno, "read MAC of \"%s\"",
				     q->ifname);
	m = (const unsigned char *)ifr.ifr_hwaddr.sa_data;
	snprintf(q->mac, 18, "%02x:%02x:%02x:%02x:%02x:%02x", m[0], m[1], m[2], m[3], m[4], m[5]);
	return 0;
}

int cni_link_mac(int nsfd, const char *ifname, char mac[18], struct ctnet_err *err)
{
	struct mac_req q = { ifname, mac };
	return in_netns(nsfd, mac_fn, &q, err);
}

