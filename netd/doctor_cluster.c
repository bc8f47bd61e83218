/* SPDX-License-Identifier: MIT */
/*
 * ctnet doctor, the cross-host part of the routing table: the routes inside the cluster
 * CIDRs but outside this host's pools (other hosts' ranges, installed by BIRD or by hand),
 * a cluster CIDR without one, and a route via a gateway inside this host's own pool (another
 * host's pool overlapping it). One pass over the host view's routes per cluster CIDR.
 */
#include "netd.h"

#include <arpa/inet.h>
#include <linux/rtnetlink.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>

#include "finding.h"
#include "hostview.h"

const char *netd_route_proto_name(unsigned proto, char *buf, size_t len)
{
	static const struct { unsigned p; const char *name; } names[] = {
		{ RTPROT_KERNEL, "kernel" }, { RTPROT_BOOT, "boot" },   { RTPROT_STATIC, "static" },
		{ RTPROT_RA, "ra" },         { 11, "zebra" },           { RTPROT_BIRD, "bird" },
		{ RTPROT_DHCP, "dhcp" },     { 186, "bgp" },            { 187, "isis" },
		{ 188, "ospf" },             { 189, "rip" },
	};
	for (size_t i = 0; i < ARRAY_SIZE(names); i++)
		if (names[i].p == proto)
			return snprintf(buf, len, "%s", names[i].name), buf;
	snprintf(buf, len, "%u", proto);
	return buf;
}

/* Whether network a/alen lies inside b/blen (same family). */
static bool inside(const uint8_t *a, unsigned alen, const uint8_t *b, unsigned blen)
{
	return alen >= blen && hv_prefix_covers(b, blen, a);
}

/* The pool (of pools, same family as h) that h lies inside, or NULL. */
static const struct ctnet_addr *in_pool(const struct hroute *h, const struct ctnet_addr *pools, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (pools[i].family == h->family && inside(h->dst, h->plen, pools[i].bytes, (unsigned)pools[i].prefix))
			return &pools[i];
	return NULL;
}

/* h as "10.2.0.0/16 via 172.16.0.2 dev fab0 proto bird" at the end of buf. */
static void route_add(char *buf, size_t len, size_t *o, const struct hroute *h)
{
	char rs[256], pr[16];
	hv_route_str(h, rs, sizeof(rs));
	int k = snprintf(buf + *o, len - *o, "%s%s proto %s", *o ? "; " : "", rs,
			 netd_route_proto_name(h->proto, pr, sizeof(pr)));
	if (k > 0)
		*o = *o + (size_t)k < len ? *o + (size_t)k : len - 1;
}

static size_t one_cidr(const struct netd_host_view *v, const struct ctnet_addr *net, const struct ctnet_addr *pools,
		       size_t n_pools, struct netd_cluster_dest *dest, struct ctnet_findings *out)
{
	char routes[480] = "", cidr[CTNET_ADDR_STRLEN], obj[160], pool[CTNET_ADDR_STRLEN];
	size_t o = 0, n_routes = 0;

	ctnet_addr_cidr_str(net, cidr);
	*dest = (struct netd_cluster_dest){ 0 };
	for (size_t i = 0; i < v->n_routes; i++) { /* host routes too: BIRD may carry /32s */
		const struct hroute *h = &v->routes[i];
		const struct ctnet_addr *p;
		if (h->family != net->family || h->table != RT_TABLE_MAIN || h->type != RTN_UNICAST ||
		    !inside(h->dst, h->plen, net->bytes, (unsigned)net->prefix))
			continue;
		if ((p = in_pool(h, pools, n_pools))) {
			if (!h->has_gw)
				continue; /* this host's own: a container's link, a bridge */
			char rs[256], pr[16];
			hv_route_str(h, rs, sizeof(rs));
			snprintf(obj, sizeof(obj), "route %.150s", rs);
			ctnet_finding_add(out, CTNET_SEV_BLOCKS, "cluster-pool-overlap", NULL, obj,
					  "give every host a pool of its own (POOL in /etc/ctnet/ctnet.conf, "
					  "ctnet.conf(5)) and remove the route of the other",
					  "this route (proto %s) leads to another host but lies inside this host's pool "
					  "%s: two hosts' pools overlap, and containers of both may get the same address",
					  netd_route_proto_name(h->proto, pr, sizeof(pr)), ctnet_addr_cidr_str(p, pool));
			continue;
		}
		if (!dest->found) {
			dest->found = true;
			dest->dst.family = h->family;
			dest->dst.prefix = -1;
			memcpy(dest->dst.bytes, h->dst, h->family == AF_INET6 ? 16 : 4);
			dest->dst.bytes[h->family == AF_INET6 ? 15 : 3] |= h->plen < (h->family == AF_INET6 ? 128 : 32);
			if (h->oif && !if_indextoname((unsigned)h->oif, dest->oif))
				dest->oif[0] = '\0';
		}
		if (n_routes++ < 6)
			route_add(routes, sizeof(routes), &o, h);
	}
	snprintf(obj, sizeof(obj), "cluster CIDR %s", cidr);
	if (n_routes)
		ctnet_finding_add(out, CTNET_SEV_NOTE, "cluster-routes", NULL, obj, "",
				  "%zu route%s to other hosts' ranges: %s%s", n_routes, n_routes == 1 ? "" : "s",
				  routes, n_routes > 6 ? "; ..." : "");
	return n_routes;
}

/* A cluster CIDR without a route to another host: a warning when no cluster CIDR has one
 * (nothing installs other hosts' ranges), a note when another has (a service range, reached
 * by DNAT, needs none). */
static void no_route(const struct ctnet_addr *net, bool any_routed, struct ctnet_findings *out)
{
	char cidr[CTNET_ADDR_STRLEN], obj[160];
	snprintf(obj, sizeof(obj), "cluster CIDR %s", ctnet_addr_cidr_str(net, cidr));
	if (any_routed)
		ctnet_finding_add(out, CTNET_SEV_NOTE, "cluster-no-route", NULL, obj, "",
				  "no route inside it leads to another host (other cluster CIDRs have "
				  "some): fine for a service range; other hosts' containers in it are sent "
				  "to the default route, unmasqueraded");
	else
		ctnet_finding_add(out, CTNET_SEV_DEGRADES, "cluster-no-route", NULL, obj,
				  "start the routing daemon that installs the other hosts' ranges (BIRD: "
				  "systemctl status bird; birdc show protocols; birdc show route), or add "
				  "static routes to them",
				  "no route inside it (or any other cluster CIDR) leads outside this host's "
				  "pool: containers of other hosts are sent to the default route, unmasqueraded");
}

void netd_doctor_cluster(const struct netd_host_view *v, const struct ctnet_addr *cluster, size_t n,
			 const struct ctnet_addr *pools, size_t n_pools, struct netd_cluster_dest *dests,
			 struct ctnet_findings *out)
{
	bool any = false;
	for (size_t i = 0; i < n; i++)
		any |= one_cidr(v, &cluster[i], pools, n_pools, &dests[i], out) > 0;
	for (size_t i = 0; i < n; i++)
		if (!dests[i].found)
			no_route(&cluster[i], any, out);
}
