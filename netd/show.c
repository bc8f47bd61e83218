/* SPDX-License-Identifier: MIT */
/* `show`: ctnet's links with their addresses and routes, read from the kernel. Not the hot
 * path, so libnl caches (one dump each of links, addresses, routes) are fine here. */
#include "netd.h"

#include <errno.h>
#include <linux/rtnetlink.h>
#include <netlink/addr.h>
#include <netlink/cache.h>
#include <netlink/route/addr.h>
#include <netlink/route/link.h>
#include <netlink/route/route.h>
#include <netlink/socket.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct show_ctx {
	const char *name;
	struct netd_link_info *v;
	size_t n, cap;
	int r;
	struct nl_cache *links;
};

static struct netd_link_info *find(struct show_ctx *c, int ifindex)
{
	for (size_t i = 0; i < c->n; i++)
		if (c->v[i].ifindex == ifindex)
			return &c->v[i];
	return NULL;
}

static void add_link(struct nl_object *o, void *arg)
{
	struct show_ctx *c = arg;
	struct rtnl_link *l = (struct rtnl_link *)o;
	const char *alias = rtnl_link_get_ifalias(l), *type = rtnl_link_get_type(l);
	size_t plen = strlen(NETD_ALIAS_PREFIX);
	struct netd_link_info *li;
	bool bridge;

	if (!alias || c->r < 0)
		return;
	bridge = !strcmp(alias, NETD_BRIDGE_ALIAS);
	if (!bridge && strncmp(alias, NETD_ALIAS_PREFIX, plen))
		return;
	if (c->name && (bridge || strcmp(alias + plen, c->name)))
		return;
	if (c->n == c->cap) {
		size_t cap = c->cap ? 2 * c->cap : 16;
		struct netd_link_info *v = realloc(c->v, cap * sizeof(*v));
		if (!v) {
			c->r = -ENOMEM;
			return;
		}
		c->v = v;
		c->cap = cap;
	}
	li = &c->v[c->n++];
	memset(li, 0, sizeof(*li));
	snprintf(li->ifname, sizeof(li->ifname), "%s", rtnl_link_get_name(l));
	li->ifindex = rtnl_link_get_ifindex(l);
	if (!bridge)
		snprintf(li->container, sizeof(li->container), "%s", alias + plen);
	snprintf(li->kind, sizeof(li->kind), "%s", type ? type : "");
	if (rtnl_link_get_master(l) > 0)
		rtnl_link_i2name(c->links, rtnl_link_get_master(l), li->master, sizeof(li->master));
	li->up = (rtnl_link_get_flags(l) & IFF_UP) != 0;
	li->mtu = rtnl_link_get_mtu(l);
}

static void add_addr(struct nl_object *o, void *arg)
{
	struct show_ctx *c = arg;
	struct rtnl_addr *a = (struct rtnl_addr *)o;
	struct netd_link_info *li = find(c, rtnl_addr_get_ifindex(a));
	char buf[CTNET_ADDR_STRLEN];

	if (!li || li->naddrs >= NETD_SHOW_MAX_ADDRS || rtnl_addr_get_scope(a) != RT_SCOPE_UNIVERSE)
		return;
	nl_addr2str(rtnl_addr_get_local(a), buf, sizeof(buf));
	snprintf(li->addrs[li->naddrs++], CTNET_ADDR_STRLEN, "%s", buf);
}

static void add_route(struct nl_object *o, void *arg)
{
	struct show_ctx *c = arg;
	struct rtnl_route *rt = (struct rtnl_route *)o;
	struct rtnl_nexthop *nh;
	struct netd_link_info *li;
	char dst[CTNET_ADDR_STRLEN], gw[CTNET_ADDR_STRLEN];

	if (rtnl_route_get_table(rt) != RT_TABLE_MAIN || rtnl_route_get_nnexthops(rt) != 1 ||
	    rtnl_route_get_type(rt) != RTN_UNICAST || rtnl_route_get_protocol(rt) == RTPROT_KERNEL)
		return; /* the kernel's own prefix routes are not ctnet's */
	nh = rtnl_route_nexthop_n(rt, 0);
	li = find(c, rtnl_route_nh_get_ifindex(nh));
	if (!li || li->nroutes >= NETD_SHOW_MAX_ROUTES)
		return;
	nl_addr2str(rtnl_route_get_dst(rt), dst, sizeof(dst));
	if (rtnl_route_nh_get_gateway(nh))
		snprintf(li->routes[li->nroutes++], sizeof(li->routes[0]), "%s via %s", dst,
			 nl_addr2str(rtnl_route_nh_get_gateway(nh), gw, sizeof(gw)));
	else
		snprintf(li->routes[li->nroutes++], sizeof(li->routes[0]), "%s", dst);
}

int netd_show(const char *name, struct netd_link_info **out, size_t *n, struct ctnet_err *err)
{
	struct show_ctx c = { .name = name };
	struct nl_cache *addrs = NULL, *routes = NULL;
	struct nl_sock *sk;
	int r;

	*out = NULL;
	*n = 0;
	if (name && (r = ctnet_name_check(name, err)) < 0)
		return r;
	if (!(sk = nl_socket_alloc()))
		return ctnet_errf(err, ENOMEM, "out of memory");
	if ((r = nl_connect(sk, NETLINK_ROUTE)) < 0 ||
	    (r = rtnl_link_alloc_cache(sk, AF_UNSPEC, &c.links)) < 0 ||
	    (r = rtnl_addr_alloc_cache(sk, &addrs)) < 0 ||
	    (r = rtnl_route_alloc_cache(sk, AF_UNSPEC, 0, &routes)) < 0) {
		r = ctnet_errf(err, EIO, "read links, addresses and routes: %s", nl_geterror(r));
		goto out;
	}
	nl_cache_foreach(c.links, add_link, &c);
	nl_cache_foreach(addrs, add_addr, &c);
	nl_cache_foreach(routes, add_route, &c);
	if (c.r < 0) {
		r = ctnet_errf(err, -c.r, "out of memory");
		free(c.v);
		goto out;
	}
	*out = c.v;
	*n = c.n;
	r = 0;
out:
	if (routes)
		nl_cache_free(routes);
	if (addrs)
		nl_cache_free(addrs);
	if (c.links)
		nl_cache_free(c.links);
	nl_socket_free(sk);
	return r;
}
