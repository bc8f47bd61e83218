/* SPDX-License-Identifier: MIT */
/* `show`: ctnet's links with their addresses and routes, read from the kernel: one dump each
 * of links, addresses and routes on the caller's rtnetlink handle, parsed with libmnl. */
#include "netd.h"

#include <arpa/inet.h>
#include <errno.h>
#include <libmnl/libmnl.h>
#include <linux/if_addr.h>
#include <linux/if_link.h>
#include <linux/rtnetlink.h>
#include <net/if.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "nl.h"
#include "nlsock.h"

struct show_ctx {
	const char *name;
	struct netd_link_info *v;
	size_t n, cap;
};

static struct netd_link_info *find(struct show_ctx *c, int ifindex)
{
	for (size_t i = 0; i < c->n; i++)
		if (c->v[i].ifindex == ifindex)
			return &c->v[i];
	return NULL;
}

static int add_link(const struct nlmsghdr *nlh, void *arg)
{
	struct show_ctx *c = arg;
	struct nd_link l;
	size_t plen = strlen(NETD_ALIAS_PREFIX);
	struct netd_link_info *li;
	bool bridge;

	nd_link_reply(nlh, &l);
	if (!l.found || !l.alias[0] || !l.ifname[0])
		return 0;
	bridge = !strcmp(l.alias, NETD_BRIDGE_ALIAS);
	if (!bridge && strncmp(l.alias, NETD_ALIAS_PREFIX, plen))
		return 0;
	if (c->name && (bridge || strcmp(l.alias + plen, c->name)))
		return 0;
	if (CTNET_GROW(c->v, c->n, c->cap, 16) < 0)
		return -ENOMEM;
	li = &c->v[c->n++];
	memset(li, 0, sizeof(*li));
	snprintf(li->ifname, sizeof(li->ifname), "%s", l.ifname);
	li->ifindex = l.ifindex;
	if (!bridge)
		snprintf(li->container, sizeof(li->container), "%.*s", (int)sizeof(li->container) - 1, l.alias + plen);
	snprintf(li->kind, sizeof(li->kind), "%s", l.kind);
	li->up = (l.flags & IFF_UP) != 0;
	li->mtu = l.mtu;
	/* The master's index for now (its name once every link is read). */
	snprintf(li->master, sizeof(li->master), "%d", l.master);
	return 0;
}

static void show_restart(void *arg)
{
	struct show_ctx *c = arg;
	c->n = 0;
}

static void addrs_restart(void *arg)
{
	struct show_ctx *c = arg;
	for (size_t i = 0; i < c->n; i++)
		c->v[i].naddrs = 0;
}

static void routes_restart(void *arg)
{
	struct show_ctx *c = arg;
	for (size_t i = 0; i < c->n; i++)
		c->v[i].nroutes = 0;
}

/* "addr" or "addr/plen" when plen is not the full length (as ip(8) prints it). */
static void addr_str(int family, const void *a, unsigned plen, char *out, size_t len)
{
	char buf[INET6_ADDRSTRLEN];
	unsigned full = family == AF_INET6 ? 128 : 32;
	inet_ntop(family, a, buf, sizeof(buf));
	if (plen == full)
		snprintf(out, len, "%s", buf);
	else
		snprintf(out, len, "%s/%u", buf, plen);
}

static int add_addr(const struct nlmsghdr *nlh, void *arg)
{
	struct show_ctx *c = arg;
	const struct ifaddrmsg *ifa = mnl_nlmsg_get_payload(nlh);
	const struct nlattr *a, *local = NULL, *address = NULL;
	struct netd_link_info *li;
	size_t alen = ifa->ifa_family == AF_INET6 ? 16 : 4;

	if (nlh->nlmsg_type != RTM_NEWADDR || nlh->nlmsg_len < NLMSG_LENGTH(sizeof(*ifa)) ||
	    ifa->ifa_scope != RT_SCOPE_UNIVERSE)
		return 0;
	li = find(c, (int)ifa->ifa_index);
	if (!li || li->naddrs >= NETD_SHOW_MAX_ADDRS)
		return 0;
	mnl_attr_for_each(a, nlh, sizeof(*ifa)) {
		if (mnl_attr_get_type(a) == IFA_LOCAL)
			local = a;
		else if (mnl_attr_get_type(a) == IFA_ADDRESS)
			address = a;
	}
	a = local ? local : address;
	if (!a || mnl_attr_get_payload_len(a) < alen)
		return 0;
	addr_str(ifa->ifa_family, mnl_attr_get_payload(a), ifa->ifa_prefixlen, li->addrs[li->naddrs++],
		 CTNET_ADDR_STRLEN);
	return 0;
}

static int add_route(const struct nlmsghdr *nlh, void *arg)
{
	struct show_ctx *c = arg;
	const struct rtmsg *rt = mnl_nlmsg_get_payload(nlh);
	const struct nlattr *a, *dst = NULL, *gw = NULL;
	struct netd_link_info *li;
	uint32_t table = 0;
	int oif = 0;
	size_t alen = rt->rtm_family == AF_INET6 ? 16 : 4;
	char d[CTNET_ADDR_STRLEN], g[CTNET_ADDR_STRLEN];
	static const uint8_t zero[16];

	if (nlh->nlmsg_type != RTM_NEWROUTE || nlh->nlmsg_len < NLMSG_LENGTH(sizeof(*rt)))
		return 0;
	table = rt->rtm_table;
	mnl_attr_for_each(a, nlh, sizeof(*rt)) {
		switch (mnl_attr_get_type(a)) {
		case RTA_DST: dst = a; break;
		case RTA_GATEWAY: gw = a; break;
		case RTA_OIF: oif = (int)mnl_attr_get_u32(a); break;
		case RTA_TABLE: table = mnl_attr_get_u32(a); break;
		}
	}
	/* One next hop (no RTA_MULTIPATH: then no RTA_OIF); the kernel's own prefix routes
	 * are not ctnet's. */
	if (table != RT_TABLE_MAIN || !oif || rt->rtm_type != RTN_UNICAST || rt->rtm_protocol == RTPROT_KERNEL)
		return 0;
	li = find(c, oif);
	if (!li || li->nroutes >= NETD_SHOW_MAX_ROUTES)
		return 0;
	if (dst && mnl_attr_get_payload_len(dst) >= alen)
		addr_str(rt->rtm_family, mnl_attr_get_payload(dst), rt->rtm_dst_len, d, sizeof(d));
	else if (rt->rtm_dst_len == 0)
		snprintf(d, sizeof(d), "default");
	else
		addr_str(rt->rtm_family, zero, rt->rtm_dst_len, d, sizeof(d));
	if (gw && mnl_attr_get_payload_len(gw) >= alen) {
		addr_str(rt->rtm_family, mnl_attr_get_payload(gw), (unsigned)alen * 8, g, sizeof(g));
		snprintf(li->routes[li->nroutes++], sizeof(li->routes[0]), "%s via %s", d, g);
	} else {
		snprintf(li->routes[li->nroutes++], sizeof(li->routes[0]), "%s", d);
	}
	return 0;
}

static int dump(struct ctnet_nl *nl, int type, ctnet_nl_cb cb, void (*restart)(void *), struct show_ctx *c,
		struct ctnet_err *err)
{
	union {
		struct nlmsghdr h;
		unsigned char b[NLMSG_SPACE(sizeof(struct ifinfomsg))];
	} req = { .h.nlmsg_type = (uint16_t)type };
	/* Each header starts with its family byte (AF_UNSPEC: all). */
	req.h.nlmsg_len = NLMSG_LENGTH(type == RTM_GETLINK ? sizeof(struct ifinfomsg)
				       : type == RTM_GETADDR ? sizeof(struct ifaddrmsg) : sizeof(struct rtmsg));
	return ctnet_nl_dump(nl, &req.h, cb, restart, c, err, "read %s",
			     type == RTM_GETLINK ? "links" : type == RTM_GETADDR ? "addresses" : "routes");
}

int netd_show(struct ctnet_kern *kern, const char *name, struct netd_link_info **out, size_t *n,
	      struct ctnet_err *err)
{
	struct show_ctx c = { .name = name };
	struct ctnet_nl *nl;
	int r;

	*out = NULL;
	*n = 0;
	if (name && (r = ctnet_name_check(name, err)) < 0)
		return r;
	if ((r = ctnet_kern_rt(kern, &nl, err)) < 0 || (r = dump(nl, RTM_GETLINK, add_link, show_restart, &c, err)) < 0 ||
	    (r = dump(nl, RTM_GETADDR, add_addr, addrs_restart, &c, err)) < 0 ||
	    (r = dump(nl, RTM_GETROUTE, add_route, routes_restart, &c, err)) < 0) {
		free(c.v);
		return r;
	}
	for (size_t i = 0; i < c.n; i++) {
		int master = atoi(c.v[i].master);
		c.v[i].master[0] = '\0';
		if (master > 0 && !if_indextoname((unsigned)master, c.v[i].master))
			c.v[i].master[0] = '\0';
	}
	*out = c.v;
	*n = c.n;
	return 0;
}
