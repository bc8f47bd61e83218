/* SPDX-License-Identifier: MIT */
/*
 * ctnet doctor, link part: each container's host link, address and route, addresses of its
 * pair present on other interfaces, routes that overlap the pair via other interfaces, the
 * uplink's MTU, and (when asked) the address and routes inside the container. One address
 * dump and one route dump per family for all containers; links by name (ioctl: a netlink
 * link dump makes the kernel resolve every veth peer's namespace id, a scan per veth).
 */
#include "netd.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <libmnl/libmnl.h>
#include <linux/if_addr.h>
#include <linux/rtnetlink.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "finding.h"
#include "hostview.h"

static const char *ifname_of(int ifindex, char buf[IFNAMSIZ])
{
	if (!if_indextoname((unsigned)ifindex, buf))
		snprintf(buf, IFNAMSIZ, "#%d", ifindex);
	return buf;
}

void hv_route_str(const struct hroute *h, char *buf, size_t len)
{
	char d[INET6_ADDRSTRLEN], ifn[IFNAMSIZ], gw[INET6_ADDRSTRLEN + 8] = "";
	inet_ntop(h->family, h->dst, d, sizeof(d));
	if (h->has_gw) {
		char g[INET6_ADDRSTRLEN];
		inet_ntop(h->family, h->gw, g, sizeof(g));
		snprintf(gw, sizeof(gw), " via %s", g);
	}
	const char *type = h->type == RTN_BLACKHOLE ? "blackhole " : h->type == RTN_UNREACHABLE ? "unreachable " :
			   h->type == RTN_PROHIBIT ? "prohibit " : "";
	char tbl[24] = "", dev[IFNAMSIZ + 5] = "";
	if (h->table != RT_TABLE_MAIN)
		snprintf(tbl, sizeof(tbl), " table %u", h->table);
	if (h->oif)
		snprintf(dev, sizeof(dev), " dev %s", ifname_of(h->oif, ifn));
	snprintf(buf, len, "%s%s/%u%s%s%s", type, d, h->plen, gw, dev, tbl);
}

/* The default route of the main table with the lowest metric (IPv4). */
static const struct hroute *default_route(const struct netd_host_view *v)
{
	const struct hroute *best = NULL;
	for (size_t i = 0; i < v->n_routes; i++) {
		const struct hroute *h = &v->routes[i];
		if (h->family == AF_INET && h->plen == 0 && h->table == RT_TABLE_MAIN && h->type == RTN_UNICAST &&
		    (!best || h->metric < best->metric))
			best = h;
	}
	return best;
}

static void check_addr_clash(const struct netd_host_view *v, const struct netd_doctor_ct *c, const struct ctnet_addr *a,
			     int own_ifindex, bool is_host, struct ctnet_findings *out)
{
	char as[CTNET_ADDR_STRLEN], ifn[IFNAMSIZ], obj[160], fix[1024];
	if (!a->family)
		return;
	ctnet_addr_str(a, as);
	for (const struct haddr *h = hv_addr_first(v, a); h && h < v->addrs + v->n_addrs &&
	     h->family == a->family && !memcmp(h->a, a->bytes, a->family == AF_INET6 ? 16 : 4); h++) {
		if (is_host && h->ifindex == own_ifindex)
			continue;
		ifname_of(h->ifindex, ifn);
		snprintf(obj, sizeof(obj), "interface %s", ifn);
		snprintf(fix, sizeof(fix), "ip %saddr del %s/%u dev %s", a->family == AF_INET6 ? "-6 " : "",
			 as, h->plen, ifn);
		ctnet_finding_add(out, CTNET_SEV_BLOCKS, "address-clash", c->name, obj, fix,
				  "%s, the %s address of %s, is also an address of %s (a VPN?): %s; if "
				  "the address is %s's, give %s another pair instead (ctnet down %s, then "
				  "ctnet up %s)", as, is_host ? "host-side" : "container's", c->name, ifn,
				  is_host ? "replies to the container may leave through the other interface"
					  : "the host answers for the container's address itself",
				  ifn, c->name, c->name, c->name);
	}
}

static void check_routes(const struct netd_host_view *v, const struct netd_doctor_ct *c, const struct ctnet_addr *a,
			 int own_ifindex, int bridge_ifindex, struct ctnet_findings *out)
{
	char as[CTNET_ADDR_STRLEN], rs[200], obj[240], fix[1024];
	size_t alen = a->family == AF_INET6 ? 16 : 4;

	if (!a->family)
		return;
	ctnet_addr_str(a, as);
	/* The host routes to a itself (a bsearch), then every shorter route. */
	struct hroute key = { .family = (uint8_t)a->family, .plen = (uint8_t)(alen * 8) };
	memcpy(key.dst, a->bytes, alen);
	const struct hroute *hr = hv_host_route_first(v, a);
	size_t from = hr ? (size_t)(hr - v->routes) : v->n_host;
	for (size_t i = from; i < v->n_routes; i++) {
		const struct hroute *h = &v->routes[i];
		if (i < v->n_host && hv_route_cmp(h, &key) != 0) {
			i = v->n_host - 1; /* past a's host routes: on to the shorter ones */
			continue;
		}
		if (h->family != a->family || h->plen == 0 || !hv_prefix_covers(h->dst, h->plen, a->bytes))
			continue;
		bool ours = own_ifindex && (h->oif == own_ifindex || (bridge_ifindex && h->oif == bridge_ifindex));
		if (ours && h->type == RTN_UNICAST)
			continue;
		/* A wider unreachable/blackhole/prohibit route (BIRD's for the host's own pool) has
		 * no hosts behind it to shadow: the container's route is more specific. */
		if (h->plen < alen * 8 &&
		    (h->type == RTN_UNREACHABLE || h->type == RTN_BLACKHOLE || h->type == RTN_PROHIBIT))
			continue;
		hv_route_str(h, rs, sizeof(rs));
		snprintf(obj, sizeof(obj), "route %s", rs);
		snprintf(fix, sizeof(fix), "ip %sroute del %s", a->family == AF_INET6 ? "-6 " : "", rs);
		ctnet_finding_add(out, CTNET_SEV_BLOCKS, "route-overlap", c->name, obj, fix,
				  "%s (container %s) is also inside route %s: %s; if that route is needed "
				  "(a VPN), give %s another pair instead (ctnet down %s, then ctnet up %s)",
				  as, c->name, rs,
				  h->plen == alen * 8 ? "traffic to the container may take the other route"
						      : "the container shadows that subnet: hosts there with "
							"its address are unreachable",
				  c->name, c->name, c->name);
	}
}

int netd_doctor_view(const struct netd_host_view *v, const struct netd_doctor_ct *cts, size_t n,
		     struct netd_uplink *uplink, struct ctnet_findings *out, struct ctnet_err *err)
{
	int sock = v->sock;

	memset(uplink, 0, sizeof(*uplink));
	const struct hroute *def = default_route(v);
	struct linkinfo up = { 0 };
	if (def && def->oif && ifname_of(def->oif, uplink->ifname)[0] != '#' && hv_link_get(sock, uplink->ifname, &up, true)) {
		uplink->found = true;
		uplink->ifindex = def->oif;
		uplink->mtu = def->mtu && def->mtu < up.mtu ? def->mtu : up.mtu;
	}
	for (size_t i = 0; i < n; i++) {
		const struct netd_doctor_ct *c = &cts[i];
		struct linkinfo li = { 0 }, bl = { 0 };
		char obj[160], fix[1024];
		if (!c->host_ifname || !*c->host_ifname)
			continue;
		/* The record's MTU (0: the kernel's 1500) says whether the link's is worth reading. */
		bool want_mtu = uplink->found && uplink->mtu < (c->mtu ? c->mtu : 1500);
		/* The link's index, from the view when its address's label names it (a healthy
		 * point-to-point link), else asked by name. Whether the link, its addresses and
		 * routes are whole is ct_judge's to say; these are the host's conflicts with it. */
		bool p2p = !c->bridge || !*c->bridge;
		int idx = p2p && !want_mtu ? hv_addr_ifindex(v, &c->host, c->host_ifname) : 0;
		if (idx)
			li.ifindex = idx;
		else if (!hv_link_get(sock, c->host_ifname, &li, want_mtu)) {
			check_addr_clash(v, c, &c->local, 0, false, out);
			continue;
		}
		if (!p2p)
			hv_link_get(sock, c->bridge, &bl, false);
		check_addr_clash(v, c, &c->host, p2p ? li.ifindex : bl.ifindex, true, out);
		check_addr_clash(v, c, &c->local, 0, false, out);
		check_routes(v, c, &c->local, li.ifindex, bl.ifindex, out);
		if (c->has_v6) {
			check_addr_clash(v, c, &c->host6, p2p ? li.ifindex : bl.ifindex, true, out);
			check_addr_clash(v, c, &c->local6, 0, false, out);
			check_routes(v, c, &c->local6, li.ifindex, bl.ifindex, out);
		}
		if (want_mtu && li.mtu > uplink->mtu) {
			snprintf(obj, sizeof(obj), "mtu of %s", c->host_ifname);
			snprintf(fix, sizeof(fix), "ctnet down %s, then ctnet up %s --mtu %u", c->name, c->name,
				 uplink->mtu);
			ctnet_finding_add(out, c->mss_clamped ? CTNET_SEV_NOTE : CTNET_SEV_DEGRADES, "mtu-above-uplink",
					  c->name, obj, fix,
					  "%s has MTU %u, the uplink %s %u: %s", c->host_ifname, li.mtu,
					  uplink->ifname, uplink->mtu,
					  c->mss_clamped ? "ctnet's table clamps TCP MSS to the route MTU, so TCP "
							   "is safe; other protocols rely on path MTU discovery"
							 : "large packets rely on path MTU discovery; behind a "
							   "router that filters ICMP, downloads into the container stall");
		}
	}
	netd_doctor_learned(v, cts, n, out);
	return out->oom ? ctnet_errf(err, ENOMEM, "doctor: out of memory") : 0;
}

unsigned netd_uplink_mtu(struct ctnet_kern *kern)
{
	/* The route entry traffic to a reserved address (240.0.0.1, class E: nobody routes it)
	 * takes: the default route, or something else (then no answer). */
	union {
		struct nlmsghdr h;
		unsigned char b[NLMSG_SPACE(sizeof(struct rtmsg)) + 64];
	} req = { .h.nlmsg_type = RTM_GETROUTE };
	struct nlmsghdr *nlh = &req.h;
	struct rtmsg *rt;
	struct netd_host_view v = { 0 };
	struct ctnet_nl *nl;
	struct ctnet_err e;
	uint32_t dst = htonl(0xf0000001);
	unsigned mtu = 0;

	nlh->nlmsg_len = NLMSG_LENGTH(sizeof(*rt));
	rt = NLMSG_DATA(nlh);
	rt->rtm_family = AF_INET;
	rt->rtm_dst_len = 32;
	rt->rtm_flags = RTM_F_FIB_MATCH;
	mnl_attr_put(nlh, RTA_DST, 4, &dst);
	if (ctnet_kern_rt(kern, &nl, &e) < 0 ||
	    ctnet_nl_request(nl, nlh, hv_route_cb, &v, 0, &e, "look up the default route") < 0 || !v.n_routes)
		goto out;
	const struct hroute *h = &v.routes[0];
	if (h->plen != 0 || !h->oif)
		goto out;
	mtu = h->mtu;
	char ifn[IFNAMSIZ];
	int sock = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (sock >= 0 && if_indextoname((unsigned)h->oif, ifn)) {
		struct ifreq ifr;
		memset(&ifr, 0, sizeof(ifr));
		snprintf(ifr.ifr_name, sizeof(ifr.ifr_name), "%s", ifn);
		if (ioctl(sock, SIOCGIFMTU, &ifr) == 0 && (!mtu || (unsigned)ifr.ifr_mtu < mtu))
			mtu = (unsigned)ifr.ifr_mtu;
	}
	if (sock >= 0)
		close(sock);
out:
	hv_free(&v);
	return mtu;
}
