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

static void route_str(const struct hroute *h, char *buf, size_t len)
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
			 int own_ifindex, int bridge_ifindex, bool p2p, struct ctnet_findings *out)
{
	char as[CTNET_ADDR_STRLEN], rs[200], obj[240], fix[1024];
	size_t alen = a->family == AF_INET6 ? 16 : 4;
	bool have = false, linkdown = false;

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
		if (ours && h->type == RTN_UNICAST) {
			if (h->plen == alen * 8 || !p2p)
				have = h->table == RT_TABLE_MAIN || have;
			linkdown |= p2p && h->plen == alen * 8 && (h->flags & RTNH_F_LINKDOWN);
			continue;
		}
		route_str(h, rs, sizeof(rs));
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
	if (!have && own_ifindex && p2p) {
		char cidr[CTNET_ADDR_STRLEN + 8];
		snprintf(cidr, sizeof(cidr), "%s/%zu", as, alen * 8);
		snprintf(obj, sizeof(obj), "route %s dev %s", cidr, c->host_ifname);
		snprintf(fix, sizeof(fix), "ip %sroute add %s dev %s", a->family == AF_INET6 ? "-6 " : "", cidr,
			 c->host_ifname);
		ctnet_finding_add(out, CTNET_SEV_BLOCKS, "host-route-missing", c->name, obj, fix,
				  "the host has no route to %s (container %s) via %s: nothing reaches the "
				  "container", as, c->name, c->host_ifname);
	}
	/* Judged from the host as netd_verify does: no carrier on the host side means the
	 * container's end is down (inside, check_inside says it precisely). */
	if (have && linkdown && !c->inside && a->family == AF_INET) {
		const char *cif = c->ifname && *c->ifname ? c->ifname : NETD_DEFAULT_IFNAME;
		snprintf(obj, sizeof(obj), "%s (no carrier on %s)", cif, c->host_ifname);
		snprintf(fix, sizeof(fix), "ip -n NS link set %s up (or ctnet up %s)", cif, c->name);
		ctnet_finding_add(out, CTNET_SEV_BLOCKS, "container-link-down", c->name, obj, fix,
				  "%s inside the container is down: %s has no carrier", cif, c->host_ifname);
	}
}

static void check_host_addr(const struct netd_host_view *v, const struct netd_doctor_ct *c, const struct ctnet_addr *a,
			    int own_ifindex, struct ctnet_findings *out)
{
	char as[CTNET_ADDR_STRLEN], obj[200], fix[1024];
	if (!a->family || !own_ifindex || hv_addr_on(v, a, own_ifindex))
		return;
	ctnet_addr_str(a, as);
	snprintf(obj, sizeof(obj), "address %s dev %s", as, c->host_ifname);
	snprintf(fix, sizeof(fix), "ip %saddr add %s/%d dev %s", a->family == AF_INET6 ? "-6 " : "", as,
		 a->family == AF_INET6 ? 128 : 32, c->host_ifname);
	ctnet_finding_add(out, CTNET_SEV_BLOCKS, "host-address-missing", c->name, obj, fix,
			  "%s lacks its address %s: the container's default gateway is gone", c->host_ifname, as);
}

/* Inside the container: its address on its link, the route to the host, the default route. */
static void check_inside(const struct netd_doctor_ct *c, struct ctnet_findings *out)
{
	struct ctnet_err e;
	int fd = netd_netns_open(c->netns && *c->netns ? c->netns : NULL, c->pid, &e);
	int self = open("/proc/thread-self/ns/net", O_RDONLY | O_CLOEXEC);
	struct ctnet_nl nl = CTNET_NL_INIT;
	struct netd_host_view v = { 0 };
	const char *ifname = c->ifname && *c->ifname ? c->ifname : NETD_DEFAULT_IFNAME;

	if (fd < 0 || self < 0) {
		ctnet_finding_add(out, CTNET_SEV_BLOCKS, "netns-unreachable", c->name, c->netns, "",
				  "cannot open the container's network namespace: %s", fd < 0 ? e.msg : "no self ns");
		goto out;
	}
	if (setns(fd, CLONE_NEWNET) == 0) {
		bool have_nl = ctnet_nl_open(&nl, NETLINK_ROUTE, &e) == 0;
		int ifindex = (int)if_nametoindex(ifname);
		int sock = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
		struct linkinfo li = { 0 };
		bool have_link = sock >= 0 && hv_link_get(sock, ifname, &li, false);
		if (sock >= 0)
			close(sock);
		if (setns(self, CLONE_NEWNET) < 0)
			abort(); /* cannot go home: nothing after this would be true */
		if (!have_link) {
			ctnet_finding_add(out, CTNET_SEV_BLOCKS, "container-link-missing", c->name, ifname,
					  "ctnet down NAME, then ctnet up NAME again", "the container has no %s", ifname);
			goto out;
		}
		if (!li.up) {
			char fix[256];
			snprintf(fix, sizeof(fix), "ip -n NS link set %s up", ifname);
			ctnet_finding_add(out, CTNET_SEV_BLOCKS, "container-link-down", c->name, ifname, fix,
					  "%s inside the container is down", ifname);
		}
		if (!have_nl || hv_read(&nl, &v, c->has_v6, &e) < 0) {
			ctnet_finding_add(out, CTNET_SEV_NOTE, "container-unreadable", c->name, ifname, "",
					  "cannot read the container's addresses and routes");
			goto out;
		}
		const struct haddr *h = hv_addr_first(&v, &c->local);
		bool ok = false;
		for (; h && h < v.addrs + v.n_addrs && !memcmp(h->a, c->local.bytes, 4) && h->family == AF_INET; h++)
			ok |= h->ifindex == ifindex;
		char as[CTNET_ADDR_STRLEN], hs[CTNET_ADDR_STRLEN], obj[200];
		ctnet_addr_str(&c->local, as);
		if (!ok) {
			snprintf(obj, sizeof(obj), "address %s dev %s (inside)", as, ifname);
			ctnet_finding_add(out, CTNET_SEV_BLOCKS, "container-address-missing", c->name, obj,
					  "ctnet down NAME, then ctnet up NAME again",
					  "the container's %s lacks its address %s", ifname, as);
		}
		const struct hroute *def = NULL;
		for (size_t i = 0; i < v.n_routes; i++)
			if (v.routes[i].family == AF_INET && v.routes[i].plen == 0 &&
			    v.routes[i].table == RT_TABLE_MAIN && v.routes[i].type == RTN_UNICAST)
				def = &v.routes[i];
		if (!def && c->host.family) {
			ctnet_addr_str(&c->host, hs);
			snprintf(obj, sizeof(obj), "default route (inside)");
			char fix[1024];
			snprintf(fix, sizeof(fix), "ip -n NS route add default via %s dev %s", hs, ifname);
			ctnet_finding_add(out, CTNET_SEV_BLOCKS, "container-default-route-missing", c->name, obj,
					  fix, "the container has no default route (expected via %s)", hs);
		}
	}
out:
	ctnet_nl_close(&nl);
	if (fd >= 0)
		close(fd);
	if (self >= 0)
		close(self);
	hv_free(&v);
}

int netd_doctor(struct ctnet_kern *kern, const struct netd_doctor_ct *cts, size_t n, struct netd_uplink *uplink,
		struct ctnet_findings *out, struct ctnet_err *err)
{
	struct netd_host_view *v;
	bool v6 = false;
	int r;

	memset(uplink, 0, sizeof(*uplink));
	for (size_t i = 0; i < n; i++)
		v6 |= cts[i].has_v6;
	if ((r = netd_host_view_open(kern, &v, v6, err)) < 0)
		return r;
	r = netd_doctor_view(v, cts, n, uplink, out, err);
	netd_host_view_close(v);
	return r;
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
		struct linkinfo li, bl = { 0 };
		char obj[160], fix[1024];
		if (!c->host_ifname || !*c->host_ifname)
			continue;
		snprintf(obj, sizeof(obj), "interface %s", c->host_ifname);
		/* The record's MTU (0: the kernel's 1500) says whether the link's is worth reading. */
		bool want_mtu = uplink->found && uplink->mtu < (c->mtu ? c->mtu : 1500);
		/* The view alone vouches for a healthy point-to-point link: its address's label
		 * names it and the route to the container goes through it (an admin-down link has
		 * no routes). Anything else is asked about by name, for the precise finding. */
		bool p2p_link = !c->bridge || !*c->bridge;
		int idx = p2p_link && !want_mtu ? hv_addr_ifindex(v, &c->host, c->host_ifname) : 0;
		if (idx && hv_host_route_via(v, &c->local, idx))
			li = (struct linkinfo){ .ifindex = idx, .up = true, .running = true };
		else if (!hv_link_get(sock, c->host_ifname, &li, want_mtu)) {
			snprintf(fix, sizeof(fix), "ctnet down %s, then ctnet up %s again", c->name, c->name);
			ctnet_finding_add(out, CTNET_SEV_BLOCKS, "link-missing", c->name, obj, fix,
					  "the host side %s of %s does not exist", c->host_ifname, c->name);
			check_addr_clash(v, c, &c->local, 0, false, out);
			continue;
		}
		if (!li.up) {
			snprintf(fix, sizeof(fix), "ip link set %s up", c->host_ifname);
			ctnet_finding_add(out, CTNET_SEV_BLOCKS, "link-down", c->name, obj, fix,
					  "the host side %s of %s is down", c->host_ifname, c->name);
		}
		bool p2p = !c->bridge || !*c->bridge;
		if (!p2p)
			hv_link_get(sock, c->bridge, &bl, false);
		if (p2p) {
			check_host_addr(v, c, &c->host, li.ifindex, out);
			if (c->has_v6)
				check_host_addr(v, c, &c->host6, li.ifindex, out);
		}
		check_addr_clash(v, c, &c->host, p2p ? li.ifindex : bl.ifindex, true, out);
		check_addr_clash(v, c, &c->local, 0, false, out);
		check_routes(v, c, &c->local, li.ifindex, bl.ifindex, p2p, out);
		if (c->has_v6) {
			check_addr_clash(v, c, &c->host6, p2p ? li.ifindex : bl.ifindex, true, out);
			check_addr_clash(v, c, &c->local6, 0, false, out);
			check_routes(v, c, &c->local6, li.ifindex, bl.ifindex, p2p, out);
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
		if (c->inside)
			check_inside(c, out);
	}
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
