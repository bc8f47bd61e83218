/* SPDX-License-Identifier: MIT */
/*
 * netd_verify: is a container's link as netd_up leaves it? Read-only. On the host side,
 * where thousands of containers live, only per-object requests (a link by name, a FIB
 * lookup per address) so the cost does not grow with them; inside the container, whose
 * tables are tiny, one dump of its addresses and one of its routes.
 */
#include <errno.h>
#include <stdarg.h>
#include <libmnl/libmnl.h>
#include <linux/rtnetlink.h>
#include <netlink/msg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hostview.h"
#include "netd.h"
#include "netd_int.h"

static void fault(struct netd_faults *f, enum netd_fault_kind kind, const char *object, const char *fmt, ...)
	CTNET_PRINTF(4, 5);
static void fault(struct netd_faults *f, enum netd_fault_kind kind, const char *object, const char *fmt, ...)
{
	struct netd_fault *x;
	va_list ap;
	if (f->n == NETD_FAULTS_MAX) {
		f->truncated = true;
		return;
	}
	x = &f->v[f->n++];
	x->kind = kind;
	snprintf(x->object, sizeof(x->object), "%s", object);
	va_start(ap, fmt);
	vsnprintf(x->text, sizeof(x->text), fmt, ap);
	va_end(ap);
}

bool netd_fault_inside(enum netd_fault_kind kind)
{
	return kind >= NETD_F_LINK_MISSING;
}

/* The route the kernel's FIB holds for one address (RTM_F_FIB_MATCH). */
struct fib_hit {
	bool found;
	unsigned char type, dst_len;
	int oif;
};

static int rt_attr(const struct nlattr *a, void *data)
{
	const struct nlattr **tb = data;
	int t = mnl_attr_get_type(a);
	if (t <= RTA_MAX)
		tb[t] = a;
	return MNL_CB_OK;
}

static int fib_reply(const struct nlmsghdr *nlh, void *arg)
{
	struct fib_hit *h = arg;
	const struct rtmsg *rtm = mnl_nlmsg_get_payload(nlh);
	const struct nlattr *tb[RTA_MAX + 1] = { 0 };

	if (nlh->nlmsg_type != RTM_NEWROUTE || nlh->nlmsg_len < NLMSG_LENGTH(sizeof(*rtm)))
		return 0;
	mnl_attr_parse(nlh, sizeof(*rtm), rt_attr, tb);
	h->found = true;
	h->type = rtm->rtm_type;
	h->dst_len = rtm->rtm_dst_len;
	h->oif = tb[RTA_OIF] ? (int)mnl_attr_get_u32(tb[RTA_OIF]) : 0;
	return 0;
}

static int q_fib(struct nd_batch *b, const struct ctnet_addr *a, struct fib_hit *h,
		 struct ctnet_err *err)
{
	struct nl_msg *msg = nlmsg_alloc_simple(RTM_GETROUTE, 0);
	size_t alen = a->family == AF_INET ? 4 : 16;
	struct rtmsg rtm = { .rtm_family = (unsigned char)a->family,
			     .rtm_dst_len = (unsigned char)(alen * 8),
			     .rtm_flags = RTM_F_FIB_MATCH };
	char s[CTNET_ADDR_STRLEN];
	int r;

	memset(h, 0, sizeof(*h));
	if (!msg || nlmsg_append(msg, &rtm, sizeof(rtm), NLMSG_ALIGNTO) < 0 ||
	    nla_put(msg, RTA_DST, (int)alen, a->bytes) < 0) {
		if (msg)
			nlmsg_free(msg);
		return ctnet_errf(err, ENOMEM, "build route lookup: out of memory");
	}
	/* No route at all is an answer too. */
	r = nd_batch_add(b, msg, fib_reply, h, ENETUNREACH, err, "look up route to %s",
			 ctnet_addr_str(a, s));
	return r < 0 ? r : 0;
}

/* What a container namespace holds: its addresses and routes (tiny tables). */
#define NS_MAX 64
struct ns_view {
	size_t na, nr;
	struct {
		int ifindex;
		struct ctnet_addr a;
	} addr[NS_MAX];
	struct {
		int oif;
		unsigned char dst_len;
		struct ctnet_addr dst, gw;
	} route[NS_MAX];
};

static int ifa_attr(const struct nlattr *a, void *data)
{
	const struct nlattr **tb = data;
	int t = mnl_attr_get_type(a);
	if (t <= IFA_MAX)
		tb[t] = a;
	return MNL_CB_OK;
}

static void bytes_to(struct ctnet_addr *out, int family, const struct nlattr *a)
{
	size_t alen = family == AF_INET ? 4 : 16;
	memset(out, 0, sizeof(*out));
	if (!a || mnl_attr_get_payload_len(a) != alen)
		return;
	out->family = family;
	out->prefix = -1;
	memcpy(out->bytes, mnl_attr_get_payload(a), alen);
}

static int ns_addr_reply(const struct nlmsghdr *nlh, void *arg)
{
	struct ns_view *v = arg;
	const struct ifaddrmsg *ifa = mnl_nlmsg_get_payload(nlh);
	const struct nlattr *tb[IFA_MAX + 1] = { 0 };

	if (nlh->nlmsg_type != RTM_NEWADDR || v->na == NS_MAX ||
	    nlh->nlmsg_len < NLMSG_LENGTH(sizeof(*ifa)))
		return 0;
	mnl_attr_parse(nlh, sizeof(*ifa), ifa_attr, tb);
	bytes_to(&v->addr[v->na].a, ifa->ifa_family, tb[IFA_LOCAL] ? tb[IFA_LOCAL] : tb[IFA_ADDRESS]);
	v->addr[v->na].ifindex = (int)ifa->ifa_index;
	if (v->addr[v->na].a.family)
		v->na++;
	return 0;
}

static int ns_route_reply(const struct nlmsghdr *nlh, void *arg)
{
	struct ns_view *v = arg;
	const struct rtmsg *rtm = mnl_nlmsg_get_payload(nlh);
	const struct nlattr *tb[RTA_MAX + 1] = { 0 };

	if (nlh->nlmsg_type != RTM_NEWROUTE || v->nr == NS_MAX ||
	    nlh->nlmsg_len < NLMSG_LENGTH(sizeof(*rtm)) || rtm->rtm_table != RT_TABLE_MAIN ||
	    rtm->rtm_type != RTN_UNICAST)
		return 0;
	mnl_attr_parse(nlh, sizeof(*rtm), rt_attr, tb);
	v->route[v->nr].oif = tb[RTA_OIF] ? (int)mnl_attr_get_u32(tb[RTA_OIF]) : 0;
	v->route[v->nr].dst_len = rtm->rtm_dst_len;
	bytes_to(&v->route[v->nr].dst, rtm->rtm_family, tb[RTA_DST]);
	bytes_to(&v->route[v->nr].gw, rtm->rtm_family, tb[RTA_GATEWAY]);
	v->nr++;
	return 0;
}

static int q_dump(struct nd_batch *b, int type, int family, nd_reply_fn fn, void *arg,
		  struct ctnet_err *err)
{
	struct nl_msg *msg = nlmsg_alloc_simple(type, NLM_F_DUMP);
	struct rtmsg rtm = { .rtm_family = (unsigned char)family };
	struct ifaddrmsg ifa = { .ifa_family = (unsigned char)family };
	int r;

	if (!msg || (type == RTM_GETROUTE ? nlmsg_append(msg, &rtm, sizeof(rtm), NLMSG_ALIGNTO)
					  : nlmsg_append(msg, &ifa, sizeof(ifa), NLMSG_ALIGNTO)) < 0) {
		if (msg)
			nlmsg_free(msg);
		return ctnet_errf(err, ENOMEM, "build dump request: out of memory");
	}
	r = nd_batch_add(b, msg, fn, arg, 0, err, "read the container's %s",
			 type == RTM_GETROUTE ? "routes" : "addresses");
	return r < 0 ? r : 0;
}

static bool ns_has_addr(const struct ns_view *v, int ifindex, const struct ctnet_addr *a)
{
	for (size_t i = 0; i < v->na; i++)
		if (v->addr[i].ifindex == ifindex && ctnet_addr_equal(&v->addr[i].a, a))
			return true;
	return false;
}

/* dst NULL: the default route; gw NULL: any (an on-link route). */
static bool ns_has_route(const struct ns_view *v, int oif, const struct ctnet_addr *dst,
			 const struct ctnet_addr *gw)
{
	for (size_t i = 0; i < v->nr; i++) {
		const __typeof__(v->route[0]) *r = &v->route[i];
		if (r->oif != oif)
			continue;
		if (dst ? !(r->dst.family && ctnet_addr_equal(&r->dst, dst) &&
			    r->dst_len == ctnet_addr_max_prefix(dst->family))
			: r->dst_len != 0)
			continue;
		if (gw && !(r->gw.family && ctnet_addr_equal(&r->gw, gw)))
			continue;
		return true;
	}
	return false;
}

static void mac_str(const char *in, char *out)
{
	unsigned char m[6];
	if (netd_mac_parse(in, m, NULL) == 0)
		snprintf(out, 18, "%02x:%02x:%02x:%02x:%02x:%02x", m[0], m[1], m[2], m[3], m[4], m[5]);
	else
		snprintf(out, 18, "%s", in);
}

/*
 * The host side from a view, without a request per container: the link is the one named
 * host_ifname holding the host address (IPv4 labels name their interface), the route to
 * the container must be there through it, and without carrier the kernel marks that route
 * linkdown. The MTU, when the spec sets one, by ioctl. false when the view cannot vouch for
 * all of it (a link missing or down takes its address's routes with it, so a missing route
 * is what both look like here): the caller asks precisely.
 */
static bool host_from_view(const struct netd_host_view *view, const struct netd_spec *spec,
			   const char *host_ifname, struct nd_link *hl, struct fib_hit *hits)
{
	const struct ctnet_addr *want[4] = { &spec->host, &spec->local, &spec->host6, &spec->local6 };
	int ifindex = hv_addr_ifindex(view, &spec->host, host_ifname);
	const struct hroute *rt;

	if (!ifindex)
		return false;
	hl->found = true;
	hl->ifindex = ifindex;
	hl->iflink = -1; /* unknown: the container side's link names it instead */
	hl->flags = IFF_UP | IFF_RUNNING;
	if (spec->mtu) {
		struct linkinfo li;
		if (!hv_link_get(view->sock, host_ifname, &li, true))
			return false;
		hl->mtu = li.mtu;
	}
	for (int i = 0; i < (spec->has_v6 ? 4 : 2); i++) {
		struct fib_hit *h = &hits[i];
		memset(h, 0, sizeof(*h));
		if (!(i % 2)) { /* the host's own address */
			if (!hv_addr_on(view, want[i], ifindex))
				return false;
			*h = (struct fib_hit){ true, RTN_LOCAL, 0, ifindex };
			continue;
		}
		if (!(rt = hv_host_route_via(view, want[i], ifindex)))
			return false;
		*h = (struct fib_hit){ true, RTN_UNICAST, (unsigned char)(want[i]->family == AF_INET6 ? 128 : 32),
				       ifindex };
		if (rt->flags & RTNH_F_LINKDOWN)
			hl->flags &= ~(unsigned)IFF_RUNNING;
	}
	return true;
}

/* The host side's faults, from its link, its bridge's and the FIB answers (p2p). */
static void judge_host(const struct netd_spec *spec, const char *host_ifname,
		       const struct nd_link *hl, const struct nd_link *bl,
		       const struct fib_hit hits[4], struct netd_faults *f)
{
	const struct fib_hit *f_addr = &hits[0], *f_route = &hits[1], *f_addr6 = &hits[2], *f_route6 = &hits[3];
	bool p2p = !spec->bridge;
	char s[CTNET_ADDR_STRLEN], s_conf[96];

	if (!(hl->flags & IFF_UP))
		fault(f, NETD_F_HOST_LINK_DOWN, host_ifname, "host link %s down", host_ifname);
	if (spec->mtu && hl->mtu != spec->mtu)
		fault(f, NETD_F_HOST_LINK_MTU, host_ifname, "host link %s mtu %u, not %u", host_ifname, hl->mtu, spec->mtu);
	if (spec->bridge && (!bl->found || hl->master != bl->ifindex))
		fault(f, NETD_F_BRIDGE_PORT, host_ifname, "host link %s not a port of bridge %s", host_ifname, spec->bridge);
	/* A bridge port's IPv6 follows the spec as a veth's does (netd_up's nd_harden6). */
	if (nd_conf_drift(hl, spec->has_v6, s_conf, sizeof(s_conf)))
		fault(f, NETD_F_HOST_SYSCTL, host_ifname, "host link %s: %s", host_ifname, s_conf);
	if (p2p) {
		if (!f_addr->found || f_addr->type != RTN_LOCAL || f_addr->oif != hl->ifindex)
			fault(f, NETD_F_HOST_ADDR_MISSING, ctnet_addr_str(&spec->host, s), "host address %s missing on %s", s, host_ifname);
		if (!f_route->found || f_route->type != RTN_UNICAST || f_route->oif != hl->ifindex ||
		    f_route->dst_len != 32)
			fault(f, NETD_F_HOST_ROUTE_MISSING, ctnet_addr_str(&spec->local, s), "host route %s dev %s missing", s, host_ifname);
		if (spec->has_v6) {
			if (!f_addr6->found || f_addr6->type != RTN_LOCAL || f_addr6->oif != hl->ifindex)
				fault(f, NETD_F_HOST_ADDR_MISSING, ctnet_addr_str(&spec->host6, s),
				      "host address %s missing on %s", s, host_ifname);
			if (!f_route6->found || f_route6->type != RTN_UNICAST ||
			    f_route6->oif != hl->ifindex || f_route6->dst_len != 128)
				fault(f, NETD_F_HOST_ROUTE_MISSING, ctnet_addr_str(&spec->local6, s),
				      "host route %s dev %s missing", s, host_ifname);
		}
	}
}

/* The container's link and lo, then (one dump at a time) its addresses and routes. */
static int read_inside(struct ctnet_nl *in, const char *cif, struct nd_batch *b,
		       struct nd_link *cl, struct nd_link *lo, struct ns_view *v,
		       struct ctnet_err *err)
{
	int r;

	nd_batch_init(b);
	if ((r = nd_batch_get_link(b, cif, cl, err)) < 0 ||
	    (r = nd_batch_get_link(b, "lo", lo, err)) < 0 ||
	    (r = q_dump(b, RTM_GETADDR, AF_UNSPEC, ns_addr_reply, v, err)) < 0 ||
	    (r = nd_batch_run(in, b, err)) < 0)
		return r;
	/* One dump at a time per socket (a second one in the same send gets EBUSY). */
	nd_batch_init(b);
	if ((r = q_dump(b, RTM_GETROUTE, AF_UNSPEC, ns_route_reply, v, err)) < 0 ||
	    (r = nd_batch_run(in, b, err)) < 0)
		return r;
	return 0;
}

/* The container side's faults, its link found (the pair's peer). */
static void judge_inside(const struct netd_spec *spec, const char *cif, const struct nd_link *cl,
			 const struct nd_link *lo, const struct ns_view *v, struct netd_faults *f)
{
	char s[CTNET_ADDR_STRLEN];

	if (!(cl->flags & IFF_UP))
		fault(f, NETD_F_LINK_DOWN, cif, "container link %s down", cif);
	if (lo->found && !(lo->flags & IFF_UP))
		fault(f, NETD_F_LO_DOWN, "lo", "container loopback down");
	if (spec->mtu && cl->mtu != spec->mtu)
		fault(f, NETD_F_LINK_MTU, cif, "container link %s mtu %u, not %u", cif, cl->mtu, spec->mtu);
	if (spec->mac) {
		char want[18];
		mac_str(spec->mac, want);
		if (strcasecmp(cl->mac, want))
			fault(f, NETD_F_LINK_MAC, cif, "container link %s mac %s, not %s", cif, cl->mac, want);
	}
	for (int fam = 0; fam < 1 + spec->has_v6; fam++) {
		const struct ctnet_addr *local = fam ? &spec->local6 : &spec->local;
		const struct ctnet_addr *gw = fam ? &spec->host6 : &spec->host;
		if (!ns_has_addr(v, cl->ifindex, local))
			fault(f, NETD_F_ADDR_MISSING, ctnet_addr_str(local, s), "container address %s missing on %s", s, cif);
		/* The bridge's gateway is learnt at up; the default route must exist at least. */
		if (!ns_has_route(v, cl->ifindex, NULL, gw->family ? gw : NULL))
			fault(f, NETD_F_DEFAULT_ROUTE_MISSING, cif, "container default route%s%s missing", gw->family ? " via " : "",
			      gw->family ? ctnet_addr_str(gw, s) : "");
	}
}

int netd_verify(struct ctnet_kern *kern, const struct netd_spec *spec, const char *host_ifname, const struct netd_host_view *view,
		bool inside, struct netd_faults *f, struct ctnet_err *err)
{
	const char *cif = spec->ifname ? spec->ifname : NETD_DEFAULT_IFNAME;
	char alias[NETD_ALIAS_MAX];
	struct nd_link hl = { 0 }, bl = { 0 }, cl = { 0 }, lo = { 0 };
	struct fib_hit hits[4] = { 0 };
	struct ctnet_nl *hs, in = { .fd = -1 };
	struct nd_batch *b = malloc(sizeof(*b));
	struct ns_view *v = calloc(1, sizeof(*v));
	bool p2p = !spec->bridge;
	int r;

	memset(f, 0, sizeof(*f));
	if (!b || !v) {
		r = ctnet_errf(err, ENOMEM, "out of memory");
		goto out;
	}
	netd_alias(spec->name, alias);
	if ((r = ctnet_kern_rt(kern, &hs, err)) < 0)
		goto out;

	/* Host side: the link, and the FIB entries for its address and the container's. */
	nd_batch_init(b);
	/* The view vouches for a whole point-to-point host side; anything it lacks is asked
	 * precisely (a missing address, route or link, a link down: each its own fault). */
	bool from_view = view && p2p && host_from_view(view, spec, host_ifname, &hl, hits);
	if (!from_view) {
		memset(&hl, 0, sizeof(hl));
		memset(hits, 0, sizeof(hits));
	}
	if (!from_view && ((r = nd_batch_get_link(b, host_ifname, &hl, err)) < 0 ||
	    (spec->bridge && (r = nd_batch_get_link(b, spec->bridge, &bl, err)) < 0) ||
	    (p2p && ((r = q_fib(b, &spec->host, &hits[0], err)) < 0 ||
		     (r = q_fib(b, &spec->local, &hits[1], err)) < 0)) ||
	    (p2p && spec->has_v6 && ((r = q_fib(b, &spec->host6, &hits[2], err)) < 0 ||
				     (r = q_fib(b, &spec->local6, &hits[3], err)) < 0)) ||
	    (r = nd_batch_run(hs, b, err)) < 0))
		goto out;
	if (!hl.found || (!from_view && strcmp(hl.alias, alias))) {
		fault(f, NETD_F_HOST_LINK_MISSING, host_ifname, "host link %s missing", host_ifname);
		r = 0;
		goto out; /* the rest hangs on it */
	}
	judge_host(spec, host_ifname, &hl, &bl, hits, f);

	/* Container side: from the host, the veth has carrier when its peer is up. */
	if (view && p2p && !inside) {
		if ((hl.flags & IFF_UP) && !(hl.flags & IFF_RUNNING))
			fault(f, NETD_F_NO_CARRIER, cif, "container link %s down (no carrier on %s)", cif, host_ifname);
		r = 0;
		goto out;
	}
	/* Container side. */
	if ((r = nd_sock_open_in(spec->netns_fd, &in, err)) < 0)
		goto out;
	if ((r = read_inside(&in, cif, b, &cl, &lo, v, err)) < 0)
		goto out;
	if (!cl.found || (hl.iflink >= 0 ? cl.ifindex != hl.iflink : cl.iflink != hl.ifindex)) {
		fault(f, NETD_F_LINK_MISSING, cif, "container link %s missing", cif);
		r = 0;
		goto out;
	}
	judge_inside(spec, cif, &cl, &lo, v, f);
	r = 0;
out:
	ctnet_nl_close(&in);
	free(b);
	free(v);
	return r;
}

int netd_neigh_forget(struct ctnet_kern *kern, const char *host_ifname, const struct ctnet_addr *a, const struct ctnet_addr *a6,
		      struct ctnet_err *err)
{
	const struct ctnet_addr *v[2] = { a, a6 };
	struct nd_batch *b = malloc(sizeof(*b));
	struct ctnet_nl *hs;
	struct nd_link l = { 0 };
	int r;

	if (!b)
		return ctnet_errf(err, ENOMEM, "out of memory");
	nd_batch_init(b);
	if ((r = ctnet_kern_rt(kern, &hs, err)) < 0 || (r = nd_batch_get_link(b, host_ifname, &l, err)) < 0 ||
	    (r = nd_batch_run(hs, b, err)) < 0 || !l.found)
		goto out;
	nd_batch_init(b);
	for (int i = 0; i < 2; i++) {
		char s[CTNET_ADDR_STRLEN];
		struct nl_msg *msg;
		struct ndmsg nd = { 0 };
		if (!v[i] || !v[i]->family)
			continue;
		nd.ndm_family = (unsigned char)v[i]->family;
		nd.ndm_ifindex = l.ifindex;
		if (!(msg = nlmsg_alloc_simple(RTM_DELNEIGH, 0)) ||
		    nlmsg_append(msg, &nd, sizeof(nd), NLMSG_ALIGNTO) < 0 ||
		    nla_put(msg, NDA_DST, v[i]->family == AF_INET ? 4 : 16, v[i]->bytes) < 0) {
			if (msg)
				nlmsg_free(msg);
			r = ctnet_errf(err, ENOMEM, "out of memory");
			goto out;
		}
		/* ENOENT: no entry, which is what we wanted. */
		if ((r = nd_batch_add(b, msg, NULL, NULL, ENOENT, err, "forget neighbour %s on \"%s\"",
				      ctnet_addr_str(v[i], s), host_ifname)) < 0)
			goto out;
	}
	r = b->n ? nd_batch_run(hs, b, err) : 0;
out:
	free(b);
	return r < 0 ? r : 0;
}
