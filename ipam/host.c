/* SPDX-License-Identifier: MIT */
/*
 * Whether an address is already in use on the host: an address of one of its interfaces, or
 * inside a route via another interface (a VPN's subnet). One RTM_GETROUTE with
 * RTM_F_FIB_MATCH per address asks the kernel which route entry traffic to it would take
 * (following ip rules, as real traffic does), with that entry's prefix: a constant cost,
 * however many addresses and routes the host has.
 */
#include "ipam.h"
#include "nlsock.h"

#include <arpa/inet.h>
#include <errno.h>
#include <libmnl/libmnl.h>
#include <linux/rtnetlink.h>
#include <net/if.h>
#include <stdio.h>
#include <string.h>

struct match {
	bool found;
	uint8_t type, plen;
	int oif;
	uint8_t dst[16];
};

static int match_cb(const struct nlmsghdr *nlh, void *data)
{
	struct match *m = data;
	const struct rtmsg *rt = mnl_nlmsg_get_payload(nlh);
	const struct nlattr *a;
	if (nlh->nlmsg_type != RTM_NEWROUTE)
		return MNL_CB_OK;
	m->found = true;
	m->type = rt->rtm_type;
	m->plen = rt->rtm_dst_len;
	mnl_attr_for_each(a, nlh, sizeof(*rt)) {
		if (mnl_attr_get_type(a) == RTA_OIF)
			m->oif = (int)mnl_attr_get_u32(a);
		else if (mnl_attr_get_type(a) == RTA_DST && mnl_attr_get_payload_len(a) <= 16)
			memcpy(m->dst, mnl_attr_get_payload(a), mnl_attr_get_payload_len(a));
	}
	return MNL_CB_OK;
}

int ipam_host_clash(struct ipam_host *h, const struct ctnet_addr *a, bool routes, const char *own_ifname,
		    char *why, size_t whysize, struct ctnet_err *err)
{
	char buf[256] __attribute__((aligned(4))) = { 0 };
	char ip[CTNET_ADDR_STRLEN], ifn[IFNAMSIZ] = "?", net[INET6_ADDRSTRLEN];
	struct nlmsghdr *nlh = mnl_nlmsg_put_header(buf);
	struct rtmsg *rt;
	struct match m = { 0 };
	size_t alen = a->family == AF_INET6 ? 16 : 4;
	struct ctnet_nl *nl;
	struct ctnet_err e;
	int r;

	if (!a->family)
		return 0;
	if ((r = ctnet_kern_rt(h->kern, &nl, err)) < 0)
		return r;
	nlh->nlmsg_type = RTM_GETROUTE;
	rt = mnl_nlmsg_put_extra_header(nlh, sizeof(*rt));
	rt->rtm_family = (uint8_t)a->family;
	rt->rtm_dst_len = (uint8_t)(alen * 8);
	rt->rtm_flags = RTM_F_FIB_MATCH;
	mnl_attr_put(nlh, RTA_DST, alen, a->bytes);
	r = ctnet_nl_request(nl, nlh, match_cb, &m, 0, &e, "rtnetlink: route lookup");
	if (r == -ETIMEDOUT || r == -ENOBUFS || r == -EMSGSIZE) {
		*err = e;
		return r;
	}
	if (r < 0) /* no route to it (ENETUNREACH...): not in use here */
		return 0;
	if (!m.found)
		return 0;
	if (m.oif)
		if_indextoname((unsigned)m.oif, ifn);
	if (own_ifname && *own_ifname && !strcmp(ifn, own_ifname))
		return 0;
	ctnet_addr_str(a, ip);
	if (m.type == RTN_LOCAL) {
		snprintf(why, whysize, "address %s is an address of interface %s on this host", ip, ifn);
		return 1;
	}
	if (routes && m.plen > 0 && (m.type == RTN_UNICAST || m.type == RTN_BLACKHOLE ||
				     m.type == RTN_UNREACHABLE || m.type == RTN_PROHIBIT)) {
		inet_ntop(a->family, m.dst, net, sizeof(net));
		snprintf(why, whysize, "address %s is inside route %s/%u via interface %s on this host", ip,
			 net, m.plen, m.oif ? ifn : "(none)");
		return 1;
	}
	return 0;
}
