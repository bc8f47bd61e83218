/* SPDX-License-Identifier: MIT */
/* netd's request builders: libnl objects, one queued message each; the bridge gateway dump. */
#include "netd.h"

#include <errno.h>
#include <fcntl.h>
#include <libmnl/libmnl.h>
#include <linux/if_addr.h>
#include <linux/rtnetlink.h>
#include <netlink/addr.h>
#include <netlink/msg.h>
#include <netlink/route/addr.h>
#include <netlink/route/link.h>
#include <netlink/route/link/veth.h>
#include <netlink/route/route.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "netd_int.h"

/* --- request builders (libnl objects -> one queued message each) --- */

static struct nl_addr *nladdr(const struct ctnet_addr *a, int prefix)
{
	struct nl_addr *na = nl_addr_build(a->family, a->bytes, a->family == AF_INET ? 4 : 16);
	if (na)
		nl_addr_set_prefixlen(na, prefix);
	return na;
}

int prefix_or(const struct ctnet_addr *a, int dflt)
{
	return a->prefix >= 0 ? a->prefix : dflt;
}

int q_addr(struct nd_batch *b, int ifindex, const char *ifname, const struct ctnet_addr *a,
	   int prefix, bool del, struct ctnet_err *err)
{
	struct rtnl_addr *ra = rtnl_addr_alloc();
	struct nl_addr *na = nladdr(a, prefix);
	struct nl_msg *msg = NULL;
	char buf[CTNET_ADDR_STRLEN];
	int r = -ENOMEM;

	if (ra && na) {
		rtnl_addr_set_ifindex(ra, ifindex);
		rtnl_addr_set_local(ra, na);
		rtnl_addr_set_prefixlen(ra, prefix);
		/* No duplicate address detection: the address is usable at once. */
		if (a->family == AF_INET6)
			rtnl_addr_set_flags(ra, IFA_F_NODAD);
		/* REPLACE: a second `up` re-applies instead of failing on EEXIST. */
		r = del ? rtnl_addr_build_delete_request(ra, 0, &msg)
			: rtnl_addr_build_add_request(ra, NLM_F_CREATE | NLM_F_REPLACE, &msg);
		r = r < 0 ? -ENOMEM : 0;
	}
	if (na)
		nl_addr_put(na);
	if (ra)
		rtnl_addr_put(ra);
	if (r < 0)
		return ctnet_errf(err, ENOMEM, "build address request: out of memory");
	snprintf(buf, sizeof(buf), "%s/%d", ctnet_addr_str(a, (char[CTNET_ADDR_STRLEN]){ 0 }), prefix);
	if (del) /* EADDRNOTAVAIL: not there, which is what we wanted */
		r = nd_batch_add(b, msg, NULL, NULL, EADDRNOTAVAIL, err,
				 "delete address %s from \"%s\"", buf, ifname);
	else
		r = nd_batch_add(b, msg, NULL, NULL, 0, err, "add address %s to \"%s\"", buf, ifname);
	return r < 0 ? r : 0;
}

/* dst NULL: default route. gw NULL: a link-scope route to dst. */
int q_route(struct nd_batch *b, int ifindex, const char *ifname, int family,
	    const struct ctnet_addr *dst, const struct ctnet_addr *gw, bool del,
	    struct ctnet_err *err)
{
	struct ctnet_addr any = { .family = family };
	int plen = dst ? ctnet_addr_max_prefix(family) : 0;
	struct rtnl_route *rt = rtnl_route_alloc();
	struct rtnl_nexthop *nh = rtnl_route_nh_alloc();
	struct nl_addr *nd = nladdr(dst ? dst : &any, plen), *ng = gw ? nladdr(gw, -1) : NULL;
	struct nl_msg *msg = NULL;
	char d[CTNET_ADDR_STRLEN], g[CTNET_ADDR_STRLEN];
	int r = -ENOMEM;

	if (rt && nh && nd && (!gw || ng)) {
		rtnl_route_set_family(rt, (uint8_t)family);
		rtnl_route_set_table(rt, RT_TABLE_MAIN);
		rtnl_route_set_protocol(rt, RTPROT_BOOT);
		rtnl_route_set_type(rt, RTN_UNICAST);
		rtnl_route_set_scope(rt, gw ? RT_SCOPE_UNIVERSE : RT_SCOPE_LINK);
		rtnl_route_set_dst(rt, nd);
		rtnl_route_nh_set_ifindex(nh, ifindex);
		if (ng) {
			nl_addr_set_prefixlen(ng, ctnet_addr_max_prefix(family));
			rtnl_route_nh_set_gateway(nh, ng);
		}
		rtnl_route_add_nexthop(rt, nh);
		nh = NULL;
		r = del ? rtnl_route_build_del_request(rt, 0, &msg)
			: rtnl_route_build_add_request(rt, NLM_F_CREATE | NLM_F_REPLACE, &msg);
		r = r < 0 ? -ENOMEM : 0;
	}
	if (nh)
		rtnl_route_nh_free(nh);
	if (nd)
		nl_addr_put(nd);
	if (ng)
		nl_addr_put(ng);
	if (rt)
		rtnl_route_put(rt);
	if (r < 0)
		return ctnet_errf(err, ENOMEM, "build route request: out of memory");
	if (dst)
		snprintf(d, sizeof(d), "%s/%d", ctnet_addr_str(dst, (char[CTNET_ADDR_STRLEN]){ 0 }), plen);
	else
		snprintf(d, sizeof(d), "default");
	if (del) /* ESRCH: not there, which is what we wanted */
		r = nd_batch_add(b, msg, NULL, NULL, ESRCH, err, "delete route %s dev \"%s\"", d,
				 ifname);
	else if (gw)
		r = nd_batch_add(b, msg, NULL, NULL, 0, err, "add route %s via %s dev \"%s\"", d,
				 ctnet_addr_str(gw, g), ifname);
	else
		r = nd_batch_add(b, msg, NULL, NULL, 0, err, "add route %s dev \"%s\"", d, ifname);
	return r < 0 ? r : 0;
}

/* An RTM_NEWLINK on an existing link (by ifindex, or by name when ifindex is 0) with
 * optional alias, MTU, master and MAC; LS_UP sets it up, LS_HARDEN adds the IPv4 half of a
 * host side's sysctls (netd/hostsec.c) in the same message. */
enum { LS_UP = 1, LS_HARDEN = 2 };
static int link_msg(struct nd_batch *b, int ifindex, const char *ifname, const char *alias,
		    unsigned mtu, int master, const unsigned char *mac, unsigned how,
		    struct ctnet_err *err)
{
	struct rtnl_link *l = rtnl_link_alloc();
	struct nl_addr *ma = NULL;
	struct nl_msg *msg = NULL;
	int r;

	if (!l)
		return ctnet_errf(err, ENOMEM, "build link request: out of memory");
	if (ifindex)
		rtnl_link_set_ifindex(l, ifindex);
	else
		rtnl_link_set_name(l, ifname);
	if (how & LS_UP)
		rtnl_link_set_flags(l, IFF_UP);
	if (alias)
		rtnl_link_set_ifalias(l, alias);
	if (mtu)
		rtnl_link_set_mtu(l, mtu);
	if (master)
		rtnl_link_set_master(l, master);
	if (mac && (ma = nl_addr_build(AF_LLC, mac, 6)))
		rtnl_link_set_addr(l, ma);
	r = (how & LS_HARDEN) ? nd_harden4(l) : 0;
	if (r == 0)
		r = rtnl_link_build_add_request(l, 0, &msg);
	if (ma)
		nl_addr_put(ma);
	rtnl_link_put(l);
	if (r < 0)
		return ctnet_errf(err, ENOMEM, "build link request: %s", nl_geterror(r));
	if (how & LS_UP)
		r = nd_batch_add(b, msg, NULL, NULL, 0, err, "set link \"%s\" up", ifname);
	else
		r = nd_batch_add(b, msg, NULL, NULL, 0, err, "set alias of link \"%s\"", ifname);
	return r < 0 ? r : 0;
}

int q_link_set(struct nd_batch *b, int ifindex, const char *ifname, const char *alias,
	       unsigned mtu, int master, const unsigned char *mac, struct ctnet_err *err)
{
	return link_msg(b, ifindex, ifname, alias, mtu, master, mac, LS_UP, err);
}

int q_host_link_set(struct nd_batch *b, int ifindex, const char *ifname, const char *alias,
		    unsigned mtu, int master, struct ctnet_err *err)
{
	return link_msg(b, ifindex, ifname, alias, mtu, master, NULL, LS_UP | LS_HARDEN, err);
}

int q_link_alias(struct nd_batch *b, const char *ifname, const char *alias, bool harden,
		 struct ctnet_err *err)
{
	return link_msg(b, 0, ifname, alias, 0, 0, NULL, harden ? LS_HARDEN : 0, err);
}

int q_link_del(struct nd_batch *b, int ifindex, const char *ifname, struct ctnet_err *err)
{
	struct rtnl_link *l = rtnl_link_alloc();
	struct nl_msg *msg = NULL;
	int r;

	if (!l)
		return ctnet_errf(err, ENOMEM, "build link request: out of memory");
	rtnl_link_set_ifindex(l, ifindex);
	r = rtnl_link_build_delete_request(l, &msg);
	rtnl_link_put(l);
	if (r < 0)
		return ctnet_errf(err, ENOMEM, "build link request: %s", nl_geterror(r));
	/* ENODEV: gone already, which is what we wanted. */
	r = nd_batch_add(b, msg, NULL, NULL, ENODEV, err, "delete link \"%s\"", ifname);
	return r < 0 ? r : 0;
}

/*
 * The pair, host side down (its sysctls are set before anything can reach it: netd/hostsec.c),
 * with NLM_F_ECHO: the kernel sends us the link's
 * creation notice (ifindex, and IFLA_LINK = the peer's ifindex) into *out, so no RTM_GETLINK
 * follows. Every message the kernel builds about a host-side veth walks the host's list of
 * peer namespace ids (peernet2id_alloc -> idr_for_each, one id per container): at 5,000
 * containers each costs ~0.1 ms, so an up makes as few of them as it can (creation, alias,
 * up, carrier). Kernels before 6.3 do not echo a new link; out->found stays false and the
 * caller asks for it.
 */
int q_veth(struct nd_batch *b, const char *hif, const char *cif, int netns_fd, int master,
	   unsigned mtu, const unsigned char *mac, struct nd_link *out, struct ctnet_err *err)
{
	struct rtnl_link *l = rtnl_link_veth_alloc(), *peer;
	struct nl_addr *ma = NULL;
	struct nl_msg *msg = NULL;
	int r;

	if (!l)
		return ctnet_errf(err, ENOMEM, "build veth request: out of memory");
	peer = rtnl_link_veth_get_peer(l);
	/* No IFLA_IFALIAS here: the kernel ignores it on creation; it is set in the next
	 * batch on each side. */
	rtnl_link_set_name(l, hif);
	if (master)
		rtnl_link_set_master(l, master);
	/* The peer is born in the container's namespace (IFLA_NET_NS_FD inside
	 * VETH_INFO_PEER): it never shows up on the host, and there is no move step. */
	rtnl_link_set_name(peer, cif);
	/* Not IFF_UP here: the kernel opens the peer before the pair is linked and
	 * refuses with ENOTCONN; it is set up in the container-side batch. */
	rtnl_link_set_ns_fd(peer, netns_fd);
	if (mtu) {
		rtnl_link_set_mtu(l, mtu);
		rtnl_link_set_mtu(peer, mtu);
	}
	if (mac && (ma = nl_addr_build(AF_LLC, mac, 6)))
		rtnl_link_set_addr(peer, ma);
	r = rtnl_link_build_add_request(l, NLM_F_CREATE | NLM_F_EXCL, &msg);
	if (ma)
		nl_addr_put(ma);
	rtnl_link_put(peer);
	rtnl_link_veth_release(l);
	if (r < 0)
		return ctnet_errf(err, ENOMEM, "build veth request: %s", nl_geterror(r));
	nlmsg_hdr(msg)->nlmsg_flags |= NLM_F_ECHO;
	memset(out, 0, sizeof(*out));
	r = nd_batch_add(b, msg, nd_link_reply, out, 0, err, "create veth \"%s\"", hif);
	return r < 0 ? r : 0;
}

/* --- bridge gateway: the bridge's own address, read from the kernel --- */

static int ifa_attr(const struct nlattr *a, void *data)
{
	const struct nlattr **tb = data;
	int t = mnl_attr_get_type(a);
	if (t == IFA_LOCAL || t == IFA_ADDRESS)
		tb[t] = a;
	return MNL_CB_OK;
}

static int gw_reply(const struct nlmsghdr *nlh, void *arg)
{
	struct gw_find *g = arg;
	const struct ifaddrmsg *ifa = mnl_nlmsg_get_payload(nlh);
	const struct nlattr *tb[IFA_MAX + 1] = { 0 };
	const struct nlattr *a;
	size_t alen = g->family == AF_INET ? 4 : 16;

	if (g->addr.family || nlh->nlmsg_type != RTM_NEWADDR ||
	    nlh->nlmsg_len < NLMSG_LENGTH(sizeof(*ifa)) || ifa->ifa_family != g->family ||
	    (int)ifa->ifa_index != g->ifindex || ifa->ifa_scope != RT_SCOPE_UNIVERSE)
		return 0;
	mnl_attr_parse(nlh, sizeof(*ifa), ifa_attr, tb);
	a = tb[IFA_LOCAL] ? tb[IFA_LOCAL] : tb[IFA_ADDRESS];
	if (!a || mnl_attr_get_payload_len(a) != alen)
		return 0;
	g->addr.family = g->family;
	g->addr.prefix = ifa->ifa_prefixlen;
	memcpy(g->addr.bytes, mnl_attr_get_payload(a), alen);
	return 0;
}

int q_addr_dump(struct nd_batch *b, struct gw_find *g, const char *br, struct ctnet_err *err)
{
	struct nl_msg *msg = nlmsg_alloc_simple(RTM_GETADDR, NLM_F_DUMP);
	struct ifaddrmsg ifa = { .ifa_family = (unsigned char)g->family,
				 .ifa_index = (unsigned)g->ifindex };
	int r;

	if (!msg || nlmsg_append(msg, &ifa, sizeof(ifa), NLMSG_ALIGNTO) < 0) {
		if (msg)
			nlmsg_free(msg);
		return ctnet_errf(err, ENOMEM, "build address request: out of memory");
	}
	r = nd_batch_add(b, msg, gw_reply, g, 0, err, "read addresses of bridge \"%s\"", br);
	return r < 0 ? r : 0;
}
