/* SPDX-License-Identifier: MIT */
/* netd_up / netd_down: a container's veth pair, addresses and routes on both sides. */
#include "netd.h"

#include <errno.h>
#include <fcntl.h>
#include <libmnl/libmnl.h>
#include <linux/if_addr.h>
#include <linux/magic.h>
#include <linux/nsfs.h>
#include <linux/rtnetlink.h>
#include <netlink/addr.h>
#include <netlink/msg.h>
#include <netlink/route/addr.h>
#include <netlink/route/link.h>
#include <netlink/route/link/veth.h>
#include <netlink/route/route.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/statfs.h>
#include <unistd.h>

#include "nl.h"

void netd_host_ifname(const char *name, bool bridge, char out[IFNAMSIZ])
{
	static const char b32[] = "abcdefghijklmnopqrstuvwxyz234567";
	const char *pre = bridge ? NETD_PREFIX_BRIDGE : NETD_PREFIX_VETH;
	size_t n = strlen(name);

	if (n + 3 <= CTNET_IFNAME_MAX) {
		snprintf(out, IFNAMSIZ, "%s%s", pre, name);
		return;
	}
	/* 12 base32 characters = 60 bits of the hash: collisions are not a practical
	 * concern, and the alias check catches one anyway. */
	uint64_t h = ctnet_hash64(name, n);
	memcpy(out, pre, 3);
	for (int i = 0; i < 12; i++)
		out[3 + i] = b32[(h >> (59 - 5 * i)) & 31];
	out[15] = '\0';
}

void netd_alias(const char *name, char out[NETD_ALIAS_MAX])
{
	snprintf(out, NETD_ALIAS_MAX, "%s%s", NETD_ALIAS_PREFIX, name);
}

int netd_netns_open(const char *path, pid_t pid, struct ctnet_err *err)
{
	char buf[64], label[CTNET_SHOW_MAX + 16], shown[CTNET_SHOW_MAX];
	struct statfs sf;
	int fd, t;

	if (path) {
		snprintf(label, sizeof(label), "netns \"%s\"", ctnet_show(path, shown));
	} else {
		if (pid <= 0)
			return ctnet_errf(err, EINVAL, "pid %ld: not a process id", (long)pid);
		snprintf(label, sizeof(label), "pid %ld", (long)pid);
		snprintf(buf, sizeof(buf), "/proc/%ld/ns/net", (long)pid);
		path = buf;
	}
	/* O_NONBLOCK: a FIFO given as --netns must fail, not hang. */
	fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
	if (fd < 0) {
		int e = errno;
		if (path == buf && e == ENOENT)
			e = ESRCH;
		return ctnet_err_sys(err, e, "%s", label);
	}
	t = ioctl(fd, NS_GET_NSTYPE);
	if (t == CLONE_NEWNET)
		return fd;
	/* Kernels before 4.11 lack NS_GET_NSTYPE: an nsfs file is the best we can check. */
	if (t < 0 && errno != ENOTTY && fstatfs(fd, &sf) == 0 && sf.f_type == NSFS_MAGIC) {
		return fd;
	}
	close(fd);
	return ctnet_errf(err, EINVAL, "%s: not a network namespace", label);
}

int netd_mac_parse(const char *s, unsigned char mac[6], struct ctnet_err *err)
{
	char shown[CTNET_SHOW_MAX];
	static const char hex[] = "0123456789abcdef0123456789ABCDEF";

	for (int i = 0; i < 6; i++) {
		const char *p = s + 3 * i, *h, *l;
		if (!p[0] || !p[1] || !(h = strchr(hex, p[0])) || !(l = strchr(hex, p[1])) ||
		    (i < 5 ? p[2] != ':' : p[2] != '\0'))
			return ctnet_errf(err, EINVAL, "invalid MAC address \"%s\": expected xx:xx:xx:xx:xx:xx",
					  ctnet_show(s, shown));
		mac[i] = (unsigned char)((((h - hex) & 15) << 4) | ((l - hex) & 15));
	}
	if (mac[0] & 1)
		return ctnet_errf(err, EINVAL, "invalid MAC address \"%s\": multicast", ctnet_show(s, shown));
	if (!(mac[0] | mac[1] | mac[2] | mac[3] | mac[4] | mac[5]))
		return ctnet_errf(err, EINVAL, "invalid MAC address \"%s\": all zero", ctnet_show(s, shown));
	return 0;
}

static int check_addr(const struct ctnet_addr *a, int family, bool required, const char *what,
		      struct ctnet_err *err)
{
	char buf[CTNET_ADDR_STRLEN];

	if (a->family == 0) {
		if (required)
			return ctnet_errf(err, EINVAL, "%s missing", what);
		return 0;
	}
	if (a->family != family)
		return ctnet_errf(err, EINVAL, "%s \"%s\": not an %s address", what,
				  ctnet_addr_cidr_str(a, buf), family == AF_INET ? "IPv4" : "IPv6");
	if (a->prefix == 0 || a->prefix > ctnet_addr_max_prefix(family))
		return ctnet_errf(err, EINVAL, "%s \"%s\": bad prefix length", what,
				  ctnet_addr_cidr_str(a, buf));
	return 0;
}

int netd_spec_check(const struct netd_spec *s, struct ctnet_err *err)
{
	char buf[CTNET_ADDR_STRLEN];
	unsigned char mac[6];
	bool p2p = !s->bridge;
	int r;

	if ((r = ctnet_name_check(s->name, err)) < 0)
		return r;
	if (s->ifname && (r = ctnet_ifname_check(s->ifname, err)) < 0)
		return r;
	if (s->host_ifname && (r = ctnet_ifname_check(s->host_ifname, err)) < 0)
		return r;
	if (s->bridge && (r = ctnet_ifname_check(s->bridge, err)) < 0)
		return r;
	if (s->netns_fd < 0)
		return ctnet_errf(err, EBADF, "container network namespace missing");
	if ((r = check_addr(&s->local, AF_INET, true, "local address", err)) < 0 ||
	    (r = check_addr(&s->host, AF_INET, p2p, "host address", err)) < 0)
		return r;
	if (s->host.family && ctnet_addr_equal(&s->host, &s->local))
		return ctnet_errf(err, EINVAL, "host address and local address are both \"%s\"",
				  ctnet_addr_str(&s->local, buf));
	if (s->has_v6) {
		if ((r = check_addr(&s->local6, AF_INET6, true, "local IPv6 address", err)) < 0 ||
		    (r = check_addr(&s->host6, AF_INET6, p2p, "host IPv6 address", err)) < 0)
			return r;
		if (s->host6.family && ctnet_addr_equal(&s->host6, &s->local6))
			return ctnet_errf(err, EINVAL,
					  "host IPv6 address and local IPv6 address are both \"%s\"",
					  ctnet_addr_str(&s->local6, buf));
	}
	if (s->mac && (r = netd_mac_parse(s->mac, mac, err)) < 0)
		return r;
	if (s->mtu && (s->mtu < NETD_MTU_MIN || s->mtu > NETD_MTU_MAX))
		return ctnet_errf(err, EINVAL, "MTU %u out of range %d..%d", s->mtu, NETD_MTU_MIN,
				  NETD_MTU_MAX);
	return 0;
}

/* --- request builders (libnl objects -> one queued message each) --- */

static struct nl_addr *nladdr(const struct ctnet_addr *a, int prefix)
{
	struct nl_addr *na = nl_addr_build(a->family, a->bytes, a->family == AF_INET ? 4 : 16);
	if (na)
		nl_addr_set_prefixlen(na, prefix);
	return na;
}

static int prefix_or(const struct ctnet_addr *a, int dflt)
{
	return a->prefix >= 0 ? a->prefix : dflt;
}

static int q_addr(struct nd_batch *b, int ifindex, const char *ifname, const struct ctnet_addr *a,
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
static int q_route(struct nd_batch *b, int ifindex, const char *ifname, int family,
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

/* Sets an existing link up (by ifindex, or by name when ifindex is 0) with optional
 * alias, MTU, master and MAC. */
static int q_link_set(struct nd_batch *b, int ifindex, const char *ifname, const char *alias,
		      unsigned mtu, int master, const unsigned char *mac, struct ctnet_err *err)
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
	rtnl_link_set_flags(l, IFF_UP);
	if (alias)
		rtnl_link_set_ifalias(l, alias);
	if (mtu)
		rtnl_link_set_mtu(l, mtu);
	if (master)
		rtnl_link_set_master(l, master);
	if (mac && (ma = nl_addr_build(AF_LLC, mac, 6)))
		rtnl_link_set_addr(l, ma);
	r = rtnl_link_build_add_request(l, 0, &msg);
	if (ma)
		nl_addr_put(ma);
	rtnl_link_put(l);
	if (r < 0)
		return ctnet_errf(err, ENOMEM, "build link request: %s", nl_geterror(r));
	r = nd_batch_add(b, msg, NULL, NULL, 0, err, "set link \"%s\" up", ifname);
	return r < 0 ? r : 0;
}

static int q_link_del(struct nd_batch *b, int ifindex, const char *ifname, struct ctnet_err *err)
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
 * IPv6 off on a host-side link that carries no IPv6: otherwise every ve-* gets link-local
 * and multicast routes, and each link up/down walks the host's whole IPv6 FIB
 * (fib6_ifdown): at 3,000 containers that walk was half of an up's time. Best effort
 * (no IPv6 in the kernel is fine).
 */
static void ipv6_off(const char *ifname)
{
	char path[96];
	int fd;

	snprintf(path, sizeof(path), "/proc/sys/net/ipv6/conf/%s/disable_ipv6", ifname);
	fd = open(path, O_WRONLY | O_CLOEXEC);
	if (fd < 0)
		return;
	if (write(fd, "1\n", 2) != 2) {
		/* stays on: only slower */
	}
	close(fd);
}

/*
 * The pair, host side up from birth, with NLM_F_ECHO: the kernel sends us the link's
 * creation notice (ifindex, and IFLA_LINK = the peer's ifindex) into *out, so no RTM_GETLINK
 * follows. Every message the kernel builds about a host-side veth walks the host's list of
 * peer namespace ids (peernet2id_alloc -> idr_for_each, one id per container): at 5,000
 * containers each costs ~0.1 ms, so an up makes as few of them as it can (creation, alias,
 * carrier). Kernels before 6.3 do not echo a new link; out->found stays false and the
 * caller asks for it.
 */
static int q_veth(struct nd_batch *b, const char *hif, const char *cif, int netns_fd, int master,
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
	rtnl_link_set_flags(l, IFF_UP);
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

struct gw_find {
	int family, ifindex;
	struct ctnet_addr addr;
};

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

static int q_addr_dump(struct nd_batch *b, struct gw_find *g, const char *br, struct ctnet_err *err)
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

/* --- up / down --- */

static int not_ours(const struct nd_link *l, const char *alias, struct ctnet_err *err)
{
	char shown[CTNET_SHOW_MAX];
	size_t plen = strlen(NETD_ALIAS_PREFIX);

	(void)alias;
	if (!strncmp(l->alias, NETD_ALIAS_PREFIX, plen))
		return ctnet_errf(err, EEXIST, "interface %s exists and belongs to container \"%s\"",
				  l->ifname, ctnet_show(l->alias + plen, shown));
	return ctnet_errf(err, EEXIST, "interface %s exists and is not ctnet's", l->ifname);
}

/* Second and later `up`: the pair is ours and its peer is `cif` in this namespace. */
static bool pair_matches(const struct nd_link *h, const struct nd_link *c, const char *alias)
{
	return h->found && c->found && !strcmp(h->kind, "veth") && h->iflink == c->ifindex &&
	       c->iflink == h->ifindex && !strcmp(c->alias, alias);
}

/* One netd_up: what its round trips learn and what the undo needs. */
struct up_ctx {
	const struct netd_spec *spec;
	char hif[IFNAMSIZ], alias[NETD_ALIAS_MAX];
	const char *cif;
	unsigned char macb[6], *mac;
	struct nd_link hl, bl, cl;
	struct gw_find gw4, gw6;
	struct ctnet_nl *hs, in;
	struct nd_batch *b;
	bool created, existing;
	int host_ix, peer_ix;
};

/* The bridge exists, is a bridge, and gateways default to its own addresses. */
static int up_bridge(struct up_ctx *u, struct ctnet_err *err)
{
	const struct netd_spec *spec = u->spec;
	struct nd_batch *b = u->b;
	int r;

	if (!u->bl.found)
		return ctnet_errf(err, ENODEV, "bridge \"%s\" does not exist", spec->bridge);
	if (strcmp(u->bl.kind, "bridge"))
		return ctnet_errf(err, EINVAL, "interface \"%s\" is not a bridge", spec->bridge);
	nd_batch_init(b);
	u->gw4.ifindex = u->gw6.ifindex = u->bl.ifindex;
	if ((!spec->host.family && (r = q_addr_dump(b, &u->gw4, spec->bridge, err)) < 0) ||
	    (spec->has_v6 && !spec->host6.family &&
	     (r = q_addr_dump(b, &u->gw6, spec->bridge, err)) < 0) ||
	    (r = nd_batch_run(u->hs, b, err)) < 0)
		return r;
	if (spec->host.family)
		u->gw4.addr = spec->host;
	else if (!u->gw4.addr.family)
		return ctnet_errf(err, EADDRNOTAVAIL,
				  "bridge \"%s\" has no IPv4 address to route through (give --host-address)",
				  spec->bridge);
	if (spec->has_v6 && spec->host6.family)
		u->gw6.addr = spec->host6;
	else if (spec->has_v6 && !u->gw6.addr.family)
		return ctnet_errf(err, EADDRNOTAVAIL,
				  "bridge \"%s\" has no global IPv6 address to route through (give --host-address6)",
				  spec->bridge);
	return 0;
}

/* Round trip 1: what is there already (host side, bridge). */
static int up_look(struct up_ctx *u, struct ctnet_err *err)
{
	const struct netd_spec *spec = u->spec;
	struct nd_batch *b = u->b;
	int r;

	nd_batch_init(b);
	if ((r = nd_batch_get_link(b, u->hif, &u->hl, err)) < 0 ||
	    (spec->bridge && (r = nd_batch_get_link(b, spec->bridge, &u->bl, err)) < 0) ||
	    (r = nd_batch_run(u->hs, b, err)) < 0)
		return r;
	if (u->hl.found && strcmp(u->hl.alias, u->alias))
		return not_ours(&u->hl, u->alias, err);
	return spec->bridge ? up_bridge(u, err) : 0;
}

/* Ours already: same pair into this namespace -> re-apply below; a pair left over from an
 * earlier namespace of the container -> replace it. */
static int up_existing(struct up_ctx *u, struct ctnet_err *err)
{
	struct nd_batch *b = u->b;
	int r;

	nd_batch_init(b);
	if ((r = nd_batch_get_link(b, u->cif, &u->cl, err)) < 0 ||
	    (r = nd_batch_run(&u->in, b, err)) < 0)
		return r;
	u->existing = pair_matches(&u->hl, &u->cl, u->alias);
	if (u->existing)
		return 0;
	nd_batch_init(b);
	if ((r = q_link_del(b, u->hl.ifindex, u->hif, err)) < 0 ||
	    (r = nd_batch_run(u->hs, b, err)) < 0)
		return r;
	return 0;
}

/* Round trip 2: the pair, and its indexes (the host side's IFLA_LINK is the peer's index in
 * the container). On failure, u->created says whether the undo has a pair to delete. */
static int up_create(struct up_ctx *u, struct ctnet_err *err)
{
	const struct netd_spec *spec = u->spec;
	struct nd_batch *b = u->b;
	char shown[CTNET_SHOW_MAX];
	int r;

	nd_batch_init(b);
	/* The alias goes in the same send as the creation: the kernel ignores an alias on
	 * create, and a process killed between two sends would leave a ve-NAME without it,
	 * which no later down or up could tell from a foreign link. */
	if ((r = q_veth(b, u->hif, u->cif, spec->netns_fd, spec->bridge ? u->bl.ifindex : 0,
			spec->mtu, u->mac, &u->hl, err)) < 0 ||
	    (r = q_link_set(b, 0, u->hif, u->alias, 0, 0, NULL, err)) < 0)
		return r;
	r = nd_batch_run(u->hs, b, err);
	if (b->req[0].done && b->req[0].error == 0)
		u->created = true;
	if (!u->created && b->req[1].done && b->req[1].error == 0) {
		/* Someone else's hif appeared since round trip 1: take our alias back. */
		struct ctnet_err ignored;
		nd_batch_init(b);
		if (q_link_set(b, 0, u->hif, "", 0, 0, NULL, &ignored) == 0)
			nd_batch_run(u->hs, b, &ignored);
	}
	if (r == -EEXIST && b->req[0].error == EEXIST) {
		size_t n = strlen(err->msg);
		snprintf(err->msg + n, sizeof(err->msg) - n,
			 " (is \"%s\" taken in the container?)", ctnet_show(u->cif, shown));
	}
	if (r < 0)
		return r;
	if (!u->hl.found) {
		/* No echo (kernel < 6.3): ask. */
		nd_batch_init(b);
		if ((r = nd_batch_get_link(b, u->hif, &u->hl, err)) < 0 ||
		    (r = nd_batch_run(u->hs, b, err)) < 0)
			return r;
	}
	if (!u->hl.found)
		return ctnet_errf(err, ENODEV, "create veth \"%s\": gone right after creation", u->hif);
	return 0;
}

/* Round trip 3: host side (a new link is up and named already). */
static int up_host_side(struct up_ctx *u, struct ctnet_err *err)
{
	const struct netd_spec *spec = u->spec;
	struct nd_batch *b = u->b;
	const char *hif = u->hif;
	int r, ix = u->host_ix;

	nd_batch_init(b);
	if (!u->created && (r = q_link_set(b, ix, hif, u->alias, u->existing ? spec->mtu : 0,
					   u->existing && spec->bridge ? u->bl.ifindex : 0, NULL,
					   err)) < 0)
		return r;
	if (!spec->bridge) {
		if ((r = q_addr(b, ix, hif, &spec->host, prefix_or(&spec->host, 32), false, err)) < 0 ||
		    (r = q_route(b, ix, hif, AF_INET, &spec->local, NULL, false, err)) < 0)
			return r;
		if (spec->has_v6 &&
		    ((r = q_addr(b, ix, hif, &spec->host6, prefix_or(&spec->host6, 128), false, err)) < 0 ||
		     (r = q_route(b, ix, hif, AF_INET6, &spec->local6, NULL, false, err)) < 0))
			return r;
	}
	return nd_batch_run(u->hs, b, err);
}

/* The container's address in one family and its routes: to the gateway, which must be
 * on-link (a host route unless the local prefix already covers it), and the default. */
static int q_container_family(struct up_ctx *u, int family, const struct ctnet_addr *local,
			      const struct ctnet_addr *gw, struct ctnet_err *err)
{
	int r, plen = prefix_or(local, family == AF_INET ? 32 : 128);
	struct ctnet_addr net = *local;

	net.prefix = plen;
	if ((r = q_addr(u->b, u->peer_ix, u->cif, local, plen, false, err)) < 0 ||
	    (!ctnet_addr_in(gw, &net) &&
	     (r = q_route(u->b, u->peer_ix, u->cif, family, gw, NULL, false, err)) < 0) ||
	    (r = q_route(u->b, u->peer_ix, u->cif, family, NULL, gw, false, err)) < 0)
		return r;
	return 0;
}

/* Round trip 4: container side. */
static int up_container_side(struct up_ctx *u, struct ctnet_err *err)
{
	const struct netd_spec *spec = u->spec;
	int r;

	nd_batch_init(u->b);
	if ((r = q_link_set(u->b, 0, "lo", NULL, 0, 0, NULL, err)) < 0 ||
	    (r = q_link_set(u->b, u->peer_ix, u->cif, u->alias, u->existing ? spec->mtu : 0, 0,
			    u->existing ? u->mac : NULL, err)) < 0 ||
	    (r = q_container_family(u, AF_INET, &spec->local,
				    spec->bridge ? &u->gw4.addr : &spec->host, err)) < 0 ||
	    (spec->has_v6 &&
	     (r = q_container_family(u, AF_INET6, &spec->local6,
				     spec->bridge ? &u->gw6.addr : &spec->host6, err)) < 0))
		return r;
	return nd_batch_run(&u->in, u->b, err);
}

/* Deleting the host side takes the peer, its addresses and routes with it. */
static void up_undo(struct up_ctx *u)
{
	struct ctnet_err ignored;
	struct nd_link tmp = u->hl;

	if (!u->created)
		return;
	if (!tmp.found) {
		nd_batch_init(u->b);
		if (nd_batch_get_link(u->b, u->hif, &tmp, &ignored) < 0 ||
		    nd_batch_run(u->hs, u->b, &ignored) < 0)
			tmp.found = false;
	}
	if (tmp.found && !strcmp(tmp.alias, u->alias)) {
		nd_batch_init(u->b);
		if (q_link_del(u->b, tmp.ifindex, u->hif, &ignored) == 0)
			nd_batch_run(u->hs, u->b, &ignored);
	}
}

int netd_up(struct ctnet_kern *kern, const struct netd_spec *spec, struct netd_result *res, struct ctnet_err *err)
{
	struct up_ctx u = { .spec = spec, .in = { .fd = -1 }, .gw4 = { .family = AF_INET },
			    .gw6 = { .family = AF_INET6 } };
	int r;

	if ((r = netd_spec_check(spec, err)) < 0)
		return r;
	u.cif = spec->ifname ? spec->ifname : NETD_DEFAULT_IFNAME;
	if (spec->host_ifname)
		snprintf(u.hif, sizeof(u.hif), "%s", spec->host_ifname);
	else
		netd_host_ifname(spec->name, spec->bridge != NULL, u.hif);
	netd_alias(spec->name, u.alias);
	if (spec->mac && netd_mac_parse(spec->mac, u.macb, err) == 0)
		u.mac = u.macb;
	if ((r = ctnet_kern_rt(kern, &u.hs, err)) < 0)
		return r;
	if (!(u.b = malloc(sizeof(*u.b))))
		return ctnet_errf(err, ENOMEM, "out of memory");

	if ((r = up_look(&u, err)) < 0 || (r = nd_sock_open_in(spec->netns_fd, &u.in, err)) < 0 ||
	    (u.hl.found && (r = up_existing(&u, err)) < 0))
		goto out;
	if (!u.existing && (r = up_create(&u, err)) < 0)
		goto undo;
	u.host_ix = u.hl.ifindex;
	u.peer_ix = u.hl.iflink;
	if (!spec->has_v6)
		ipv6_off(u.hif);
	if ((r = up_host_side(&u, err)) < 0 || (r = up_container_side(&u, err)) < 0)
		goto undo;

	if (res) {
		memset(res, 0, sizeof(*res));
		snprintf(res->host_ifname, sizeof(res->host_ifname), "%s", u.hif);
		res->host_ifindex = u.host_ix;
		snprintf(res->ifname, sizeof(res->ifname), "%s", u.cif);
	}
	r = 0;
	goto out;
undo:
	up_undo(&u);
out:
	ctnet_nl_close(&u.in);
	free(u.b);
	return r;
}

/* Host-side links that may be `name`'s: the given one, or ve-/vb- derived names. */
static int lookup(struct ctnet_kern *kern, const char *name, const char *host_ifname, struct nd_link links[2], size_t *n,
		  struct ctnet_err *err)
{
	char cand[2][IFNAMSIZ];
	struct nd_batch *b;
	struct ctnet_nl *hs;
	int r;

	if ((r = ctnet_name_check(name, err)) < 0)
		return r;
	if (host_ifname && (r = ctnet_ifname_check(host_ifname, err)) < 0)
		return r;
	if ((r = ctnet_kern_rt(kern, &hs, err)) < 0)
		return r;
	if (host_ifname) {
		snprintf(cand[0], IFNAMSIZ, "%s", host_ifname);
		*n = 1;
	} else {
		netd_host_ifname(name, false, cand[0]);
		netd_host_ifname(name, true, cand[1]);
		*n = 2;
	}
	b = malloc(sizeof(*b));
	if (!b)
		return ctnet_errf(err, ENOMEM, "out of memory");
	nd_batch_init(b);
	for (size_t i = 0; i < *n && r >= 0; i++)
		r = nd_batch_get_link(b, cand[i], &links[i], err);
	if (r >= 0)
		r = nd_batch_run(hs, b, err);
	free(b);
	return r < 0 ? r : 0;
}

int netd_exists(struct ctnet_kern *kern, const char *name, const char *host_ifname, struct ctnet_err *err)
{
	char alias[NETD_ALIAS_MAX];
	struct nd_link links[2];
	size_t n = 0;
	int r = lookup(kern, name, host_ifname, links, &n, err);

	if (r < 0)
		return r;
	netd_alias(name, alias);
	for (size_t i = 0; i < n; i++)
		if (links[i].found && !strcmp(links[i].alias, alias))
			return 1;
	return 0;
}

/*
 * A link's NETDEV_DOWN walks the namespace's whole IPv4 FIB (fib_flush) when any route still
 * goes through the link: with 5,000 containers ~5 ms of every delete. The host side's route
 * to the container and its address (whose removal drops its local route) go first, each a
 * lookup in the trie; then nothing goes through the link and the flush is skipped. Not for
 * IPv6: its link down walks the IPv6 FIB either way.
 */
static int q_unroute(struct nd_batch *b, const struct nd_link *l, const struct ctnet_addr *host,
		     const struct ctnet_addr *local, struct ctnet_err *err)
{
	int r = 0;
	if (local && local->family == AF_INET)
		r = q_route(b, l->ifindex, l->ifname, AF_INET, local, NULL, true, err);
	if (r >= 0 && host && host->family == AF_INET)
		r = q_addr(b, l->ifindex, l->ifname, host, prefix_or(host, 32), true, err);
	return r;
}

int netd_down(struct ctnet_kern *kern, const char *name, const char *host_ifname, const struct ctnet_addr *host,
	      const struct ctnet_addr *local, struct ctnet_err *err)
{
	char alias[NETD_ALIAS_MAX];
	struct nd_link links[2];
	const struct nd_link *foreign = NULL;
	struct nd_batch *b;
	struct ctnet_nl *hs;
	size_t n = 0;
	int r = lookup(kern, name, host_ifname, links, &n, err);

	if (r < 0)
		return r;
	netd_alias(name, alias);
	if ((r = ctnet_kern_rt(kern, &hs, err)) < 0)
		return r;
	b = malloc(sizeof(*b));
	if (!b)
		return ctnet_errf(err, ENOMEM, "out of memory");
	nd_batch_init(b);
	int ifindex[2];
	size_t n_del = 0;
	for (size_t i = 0; i < n && r >= 0; i++) {
		if (!links[i].found)
			continue;
		if (strcmp(links[i].alias, alias)) {
			foreign = &links[i];
		} else {
			if (strcmp(links[i].kind, "veth") == 0 && !links[i].master)
				r = q_unroute(b, &links[i], host, local, err);
			if (r >= 0)
				r = q_link_del(b, links[i].ifindex, links[i].ifname, err);
			ifindex[n_del++] = links[i].ifindex;
		}
	}
	if (r >= 0 && b->n == 0 && foreign)
		r = not_ours(foreign, alias, err); /* refuse to delete someone else's link */
	else if (r >= 0)
		r = nd_batch_run_detached(kern, b, ifindex, n_del, err);
	free(b);
	return r < 0 ? r : 0;
}

/* --- extra veths (NixOS extraVeths) --- */

int netd_extra_veth_add(struct ctnet_kern *kern, const char *name, int netns_fd, const struct netd_extra_veth *v,
			struct ctnet_err *err)
{
	char alias[NETD_ALIAS_MAX], shown[CTNET_SHOW_MAX];
	const char *ifn = v->ifname;
	struct nd_link hl, bl, cl;
	struct ctnet_nl *hs, in = { .fd = -1 };
	struct nd_batch *b = NULL;
	bool created = false, existing = false, bridged = v->host_bridge[0] != '\0';
	int r, host_ix, peer_ix;

	if ((r = ctnet_name_check(name, err)) < 0 || (r = ctnet_ifname_check(ifn, err)) < 0 ||
	    (bridged && (r = ctnet_ifname_check(v->host_bridge, err)) < 0))
		return r;
	if (!strncmp(ifn, NETD_PREFIX_VETH, 3) || !strncmp(ifn, NETD_PREFIX_BRIDGE, 3))
		return ctnet_errf(err, EINVAL, "extra veth \"%s\": ve- and vb- names are ctnet's own pairs", ifn);
	if ((v->has_host_addr && (r = check_addr(&v->host_addr, AF_INET, true, "extra veth host address", err)) < 0) ||
	    (v->has_local_addr && (r = check_addr(&v->local_addr, AF_INET, true, "extra veth local address", err)) < 0) ||
	    (v->has_host_addr6 && (r = check_addr(&v->host_addr6, AF_INET6, true, "extra veth host IPv6 address", err)) < 0) ||
	    (v->has_local_addr6 && (r = check_addr(&v->local_addr6, AF_INET6, true, "extra veth local IPv6 address", err)) < 0))
		return r;
	netd_alias(name, alias);
	if ((r = ctnet_kern_rt(kern, &hs, err)) < 0)
		return r;
	if (!(b = malloc(sizeof(*b))))
		return ctnet_errf(err, ENOMEM, "out of memory");

	/* Round trip 1: the host side's name and the bridge. */
	nd_batch_init(b);
	if ((r = nd_batch_get_link(b, ifn, &hl, err)) < 0 ||
	    (bridged && (r = nd_batch_get_link(b, v->host_bridge, &bl, err)) < 0) ||
	    (r = nd_batch_run(hs, b, err)) < 0)
		goto out;
	if (hl.found && strcmp(hl.alias, alias)) {
		r = not_ours(&hl, alias, err);
		goto out;
	}
	if (bridged && !bl.found) {
		r = ctnet_errf(err, ENODEV, "bridge \"%s\" does not exist", v->host_bridge);
		goto out;
	}
	if (bridged && strcmp(bl.kind, "bridge")) {
		r = ctnet_errf(err, EINVAL, "interface \"%s\" is not a bridge", v->host_bridge);
		goto out;
	}
	if ((r = nd_sock_open_in(netns_fd, &in, err)) < 0)
		goto out;
	if (hl.found) {
		/* Ours: re-applied when it is this pair into this namespace. Anything else of
		 * the container's by that name (its main pair under a chosen host name) is
		 * refused, never replaced. */
		nd_batch_init(b);
		if ((r = nd_batch_get_link(b, ifn, &cl, err)) < 0 || (r = nd_batch_run(&in, b, err)) < 0)
			goto out;
		existing = pair_matches(&hl, &cl, alias);
		if (!existing) {
			r = ctnet_errf(err, EEXIST,
				       "interface %s exists on the host (container \"%s\"'s) and is not its extra veth %s in this namespace",
				       ifn, ctnet_show(name, shown), ifn);
			goto out;
		}
	} else {
		nd_batch_init(b);
		if ((r = q_veth(b, ifn, ifn, netns_fd, bridged ? bl.ifindex : 0, 0, NULL, &hl, err)) < 0 ||
		    (r = q_link_set(b, 0, ifn, alias, 0, 0, NULL, err)) < 0)
			goto out;
		r = nd_batch_run(hs, b, err);
		if (b->req[0].done && b->req[0].error == 0)
			created = true;
		if (!created && b->req[1].done && b->req[1].error == 0) {
			struct ctnet_err ignored;
			nd_batch_init(b);
			if (q_link_set(b, 0, ifn, "", 0, 0, NULL, &ignored) == 0)
				nd_batch_run(hs, b, &ignored);
		}
		if (r == -EEXIST && b->req[0].error == EEXIST) {
			size_t n = strlen(err->msg);
			snprintf(err->msg + n, sizeof(err->msg) - n,
				 " (is \"%s\" taken on the host or in the container?)", ifn);
		}
		if (r < 0)
			goto undo;
		if (!hl.found) {
			nd_batch_init(b);
			if ((r = nd_batch_get_link(b, ifn, &hl, err)) < 0 ||
			    (r = nd_batch_run(hs, b, err)) < 0)
				goto undo;
		}
		if (!hl.found) {
			r = ctnet_errf(err, ENODEV, "create veth \"%s\": gone right after creation", ifn);
			goto undo;
		}
	}
	host_ix = hl.ifindex;
	peer_ix = hl.iflink;
	if (!v->has_host_addr6 || bridged)
		ipv6_off(ifn);

	/* Host side: in the bridge, or NixOS's point-to-point addresses and routes. */
	nd_batch_init(b);
	if (!created && (r = q_link_set(b, host_ix, ifn, alias, 0, bridged ? bl.ifindex : 0, NULL, err)) < 0)
		goto undo;
	if (!bridged) {
		if ((v->has_host_addr &&
		     (r = q_addr(b, host_ix, ifn, &v->host_addr, prefix_or(&v->host_addr, 32), false, err)) < 0) ||
		    (v->has_local_addr &&
		     (r = q_route(b, host_ix, ifn, AF_INET, &v->local_addr, NULL, false, err)) < 0) ||
		    (v->has_host_addr6 &&
		     (r = q_addr(b, host_ix, ifn, &v->host_addr6, prefix_or(&v->host_addr6, 128), false, err)) < 0) ||
		    (v->has_local_addr6 &&
		     (r = q_route(b, host_ix, ifn, AF_INET6, &v->local_addr6, NULL, false, err)) < 0))
			goto undo;
	}
	if ((r = nd_batch_run(hs, b, err)) < 0)
		goto undo;

	/* Container side: its addresses, a route to the host side's; no default route. */
	nd_batch_init(b);
	if ((r = q_link_set(b, peer_ix, ifn, alias, 0, 0, NULL, err)) < 0 ||
	    (v->has_local_addr &&
	     (r = q_addr(b, peer_ix, ifn, &v->local_addr, prefix_or(&v->local_addr, 32), false, err)) < 0) ||
	    (v->has_host_addr &&
	     (r = q_route(b, peer_ix, ifn, AF_INET, &v->host_addr, NULL, false, err)) < 0) ||
	    (v->has_local_addr6 &&
	     (r = q_addr(b, peer_ix, ifn, &v->local_addr6, prefix_or(&v->local_addr6, 128), false, err)) < 0) ||
	    (v->has_host_addr6 &&
	     (r = q_route(b, peer_ix, ifn, AF_INET6, &v->host_addr6, NULL, false, err)) < 0))
		goto undo;
	if ((r = nd_batch_run(&in, b, err)) < 0)
		goto undo;
	r = 0;
	goto out;
undo:
	if (created && hl.found) {
		/* The host side takes its peer, addresses and routes with it. */
		struct ctnet_err ignored;
		nd_batch_init(b);
		if (q_link_del(b, hl.ifindex, ifn, &ignored) == 0)
			nd_batch_run(hs, b, &ignored);
	}
out:
	ctnet_nl_close(&in);
	free(b);
	return r;
}

int netd_extra_veth_del_all(struct ctnet_kern *kern, const char *name, const struct netd_extra_veth *v, size_t n,
			    struct ctnet_err *err)
{
	char alias[NETD_ALIAS_MAX];
	struct nd_link links[NETD_EXTRA_VETH_MAX];
	struct nd_batch *b;
	struct ctnet_nl *hs;
	int r;

	if ((r = ctnet_name_check(name, err)) < 0)
		return r;
	if (n > NETD_EXTRA_VETH_MAX)
		return ctnet_errf(err, EINVAL, "more than %d extra veths", NETD_EXTRA_VETH_MAX);
	for (size_t i = 0; i < n; i++)
		if ((r = ctnet_ifname_check(v[i].ifname, err)) < 0)
			return r;
	if (n == 0)
		return 0;
	netd_alias(name, alias);
	if ((r = ctnet_kern_rt(kern, &hs, err)) < 0)
		return r;
	if (!(b = malloc(sizeof(*b))))
		return ctnet_errf(err, ENOMEM, "out of memory");
	nd_batch_init(b);
	for (size_t i = 0; i < n && r >= 0; i++)
		r = nd_batch_get_link(b, v[i].ifname, &links[i], err);
	if (r >= 0)
		r = nd_batch_run(hs, b, err);
	/* All judged before any is deleted: someone else's refuses the whole call. */
	for (size_t i = 0; i < n && r >= 0; i++)
		if (links[i].found && strcmp(links[i].alias, alias))
			r = not_ours(&links[i], alias, err);
	if (r >= 0) {
		nd_batch_init(b);
		for (size_t i = 0; i < n && r >= 0; i++)
			if (links[i].found)
				r = q_link_del(b, links[i].ifindex, links[i].ifname, err);
		if (r >= 0)
			r = nd_batch_run(hs, b, err);
	}
	free(b);
	return r < 0 ? r : 0;
}

int netd_extra_veth_del(struct ctnet_kern *kern, const char *name, const char *v_ifname, struct ctnet_err *err)
{
	struct netd_extra_veth v = { 0 };
	int r;

	if ((r = ctnet_ifname_check(v_ifname, err)) < 0)
		return r;
	snprintf(v.ifname, sizeof(v.ifname), "%s", v_ifname);
	return netd_extra_veth_del_all(kern, name, &v, 1, err);
}
