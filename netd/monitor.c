/* SPDX-License-Identifier: MIT */
/*
 * rtnetlink events for `ctnet watch`: a socket in the link, address and route groups of one
 * namespace (the host's, or a container's: a socket stays bound to the namespace it was
 * made in), and a reader that reports what was removed or switched off. Additions are not
 * reported: only damage needs a repair.
 */
#include <errno.h>
#include <fcntl.h>
#include <libmnl/libmnl.h>
#include <linux/if_addr.h>
#include <linux/if_link.h>
#include <linux/netconf.h>
#include <linux/rtnetlink.h>
#include <net/if.h>
#include <sched.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "netd.h"

static int open_here(struct ctnet_err *err)
{
	struct sockaddr_nl sa = { .nl_family = AF_NETLINK,
				  .nl_groups = RTMGRP_LINK | RTMGRP_IPV4_IFADDR | RTMGRP_IPV6_IFADDR |
					       RTMGRP_IPV4_ROUTE | RTMGRP_IPV6_ROUTE };
	int rcvbuf = 4 << 20;
	int fd = socket(AF_NETLINK, SOCK_RAW | SOCK_NONBLOCK | SOCK_CLOEXEC, NETLINK_ROUTE);

	if (fd < 0)
		return ctnet_err_sys(err, errno, "rtnetlink monitor: socket");
	if (bind(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		int e = errno;
		close(fd);
		return ctnet_err_sys(err, e, "rtnetlink monitor: subscribe to link/address/route groups");
	}
	/* Forwarding switched off host-wide (ip_forward=0): RTM_NEWNETCONF. Best effort: without
	 * these groups the watcher still reads the sysctls once a second. */
	for (unsigned g = RTNLGRP_IPV4_NETCONF; g <= RTNLGRP_IPV6_NETCONF; g++)
		setsockopt(fd, SOL_NETLINK, NETLINK_ADD_MEMBERSHIP, &g, sizeof(g));
	if (setsockopt(fd, SOL_SOCKET, SO_RCVBUFFORCE, &rcvbuf, sizeof(rcvbuf)) < 0)
		setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &rcvbuf, sizeof(rcvbuf));
	return fd;
}

int netd_monitor_open(int netns_fd, struct ctnet_err *err)
{
	int self, fd;

	if (netns_fd < 0)
		return open_here(err);
	/* Per thread: setns() is per thread. */
	if ((self = open("/proc/thread-self/ns/net", O_RDONLY | O_CLOEXEC)) < 0)
		return ctnet_err_sys(err, errno, "open own netns");
	if (setns(netns_fd, CLONE_NEWNET) < 0) {
		int e = errno;
		close(self);
		return ctnet_err_sys(err, e, "enter container netns");
	}
	fd = open_here(err);
	if (setns(self, CLONE_NEWNET) < 0) {
		/* Staying in the container's namespace would misdirect every later call. */
		int e = errno;
		if (fd >= 0)
			close(fd);
		close(self);
		return ctnet_err_sys(err, e, "return to own netns");
	}
	close(self);
	return fd;
}

static int attr_cb(const struct nlattr *a, void *data)
{
	const struct nlattr **tb = data;
	int t = mnl_attr_get_type(a);
	if (t >= 0 && t <= IFLA_MAX)
		tb[t] = a;
	return MNL_CB_OK;
}

/* One message to an event, or false when it is not damage. */
static bool decode(const struct nlmsghdr *nlh, struct netd_event *ev)
{
	const struct nlattr *tb[IFLA_MAX + 1 > RTA_MAX + 1 ? IFLA_MAX + 1 : RTA_MAX + 1] = { 0 };

	memset(ev, 0, sizeof(*ev));
	switch (nlh->nlmsg_type) {
	case RTM_NEWLINK:
	case RTM_DELLINK: {
		const struct ifinfomsg *ifi = mnl_nlmsg_get_payload(nlh);
		if (nlh->nlmsg_len < NLMSG_LENGTH(sizeof(*ifi)))
			return false;
		if (nlh->nlmsg_type == RTM_NEWLINK && (ifi->ifi_flags & IFF_UP))
			return false;
		ev->kind = nlh->nlmsg_type == RTM_DELLINK ? NETD_EV_LINK_DEL : NETD_EV_LINK_DOWN;
		ev->ifindex = ifi->ifi_index;
		mnl_attr_parse(nlh, sizeof(*ifi), attr_cb, tb);
		if (tb[IFLA_IFNAME] && mnl_attr_validate(tb[IFLA_IFNAME], MNL_TYPE_NUL_STRING) == 0)
			snprintf(ev->ifname, sizeof(ev->ifname), "%s", mnl_attr_get_str(tb[IFLA_IFNAME]));
		return true;
	}
	case RTM_DELADDR: {
		const struct ifaddrmsg *ifa = mnl_nlmsg_get_payload(nlh);
		if (nlh->nlmsg_len < NLMSG_LENGTH(sizeof(*ifa)))
			return false;
		/* IPv6 link-local addresses come and go with the link: not ours. */
		if (ifa->ifa_family == AF_INET6 && ifa->ifa_scope == RT_SCOPE_LINK)
			return false;
		ev->kind = NETD_EV_ADDR_DEL;
		ev->ifindex = (int)ifa->ifa_index;
		return true;
	}
	case RTM_DELROUTE: {
		const struct rtmsg *rt = mnl_nlmsg_get_payload(nlh);
		if (nlh->nlmsg_len < NLMSG_LENGTH(sizeof(*rt)))
			return false;
		/* Only the main table's unicast routes are ctnet's (local/broadcast routes go
		 * with their addresses, which are reported themselves). */
		if (rt->rtm_table != RT_TABLE_MAIN || rt->rtm_type != RTN_UNICAST)
			return false;
		ev->kind = NETD_EV_ROUTE_DEL;
		mnl_attr_parse(nlh, sizeof(*rt), attr_cb, tb);
		if (tb[RTA_OIF] && mnl_attr_validate(tb[RTA_OIF], MNL_TYPE_U32) == 0)
			ev->ifindex = (int)mnl_attr_get_u32(tb[RTA_OIF]);
		return true;
	}
	case RTM_NEWNETCONF: {
		const struct netconfmsg *ncm = mnl_nlmsg_get_payload(nlh);
		if (nlh->nlmsg_len < NLMSG_LENGTH(sizeof(*ncm)))
			return false;
		mnl_attr_parse(nlh, sizeof(*ncm), attr_cb, tb);
		/* Only "all" (ip_forward, conf/all/forwarding) switched off is damage. */
		if (!tb[NETCONFA_IFINDEX] || mnl_attr_validate(tb[NETCONFA_IFINDEX], MNL_TYPE_U32) ||
		    (int32_t)mnl_attr_get_u32(tb[NETCONFA_IFINDEX]) != NETCONFA_IFINDEX_ALL ||
		    !tb[NETCONFA_FORWARDING] ||
		    mnl_attr_validate(tb[NETCONFA_FORWARDING], MNL_TYPE_U32) ||
		    mnl_attr_get_u32(tb[NETCONFA_FORWARDING]) != 0)
			return false;
		ev->kind = NETD_EV_FORWARDING_OFF;
		return true;
	}
	default:
		return false;
	}
}

int netd_monitor_read(int fd, void (*cb)(const struct netd_event *ev, void *data), void *data,
		      struct ctnet_err *err)
{
	char buf[1 << 16] __attribute__((aligned(4)));
	int hits = 0;

	for (;;) {
		ssize_t n = recv(fd, buf, sizeof(buf), MSG_DONTWAIT);
		if (n < 0) {
			if (errno == EAGAIN || errno == EINTR)
				return hits;
			if (errno == ENOBUFS)
				return -ENOBUFS;
			return ctnet_err_sys(err, errno, "rtnetlink monitor: read");
		}
		if (n == 0)
			return hits;
		int len = (int)n;
		for (const struct nlmsghdr *nlh = (const struct nlmsghdr *)buf; mnl_nlmsg_ok(nlh, len);
		     nlh = mnl_nlmsg_next(nlh, &len)) {
			struct netd_event ev;
			if (decode(nlh, &ev)) {
				hits++;
				if (cb)
					cb(&ev, data);
			}
		}
	}
}
