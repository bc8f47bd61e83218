/* SPDX-License-Identifier: MIT */
/*
 * The host's addresses and routes, read once (one dump per kind and family) and indexed,
 * for checks of many containers at a time (doctor, apply's verify): a container's lookups
 * are bsearches, not walks of 5,000 routes. Links by name through ioctls: a netlink link
 * dump makes the kernel resolve every veth peer's namespace id, a scan of all ids per veth.
 * Internal to netd/.
 */
#ifndef CTNET_NETD_HOSTVIEW_H
#define CTNET_NETD_HOSTVIEW_H

#include <libmnl/libmnl.h>
#include <stdbool.h>
#include <stdint.h>

#include "addr.h"
#include "err.h"
#include "nlsock.h"

struct haddr {
	uint8_t family;
	uint8_t a[16];
	uint8_t plen;
	int ifindex;
	char label[16]; /* IPv4: the interface's name (IFA_LABEL) */
};

struct hroute {
	uint8_t family, plen, type, proto; /* proto: rtm_protocol (RTPROT_RA: from a router advertisement) */
	uint8_t dst[16], gw[16];
	bool has_gw;
	uint32_t table;
	int oif;
	unsigned mtu, metric;
	unsigned flags; /* rtm_flags: RTNH_F_LINKDOWN when the link has no carrier */
};

struct netd_host_view {
	struct haddr *addrs; /* sorted by family and address */
	size_t n_addrs, cap_addrs;
	struct hroute *routes; /* after hv_index: host routes (/32, /128) first, sorted */
	size_t n_routes, cap_routes;
	size_t n_host; /* how many host routes lead the array */
	bool oom;
	size_t mark_addrs, mark_routes; /* where the dump being read began (a re-read restarts there) */
	int sock; /* netd_host_view_open's: an AF_INET datagram socket for hv_link_get */
};

/* Addresses (IPv4, and IPv6 when v6) and routes of every table but local, then indexed. */
int hv_read(struct ctnet_nl *nl, struct netd_host_view *v, bool v6, struct ctnet_err *err);
void hv_free(struct netd_host_view *v); /* the arrays; not v itself */
/* A lib/nlsock.h callback that appends one RTM_NEWROUTE to v (data) as hv_read does. */
int hv_route_cb(const struct nlmsghdr *nlh, void *data);
/* The first address entry equal to a, or NULL; entries equal to a follow it. */
const struct haddr *hv_addr_first(const struct netd_host_view *v, const struct ctnet_addr *a);
bool hv_addr_is(const struct haddr *h, const struct ctnet_addr *a);
/* Whether a is an address of ifindex. */
bool hv_addr_on(const struct netd_host_view *v, const struct ctnet_addr *a, int ifindex);
/* The first host route (/32, /128) to a, or NULL; the others to a follow it up to n_host. */
const struct hroute *hv_host_route_first(const struct netd_host_view *v, const struct ctnet_addr *a);
int hv_route_cmp(const void *x, const void *y);
/* The main table's unicast host route to a through oif, or NULL. */
const struct hroute *hv_host_route_via(const struct netd_host_view *v, const struct ctnet_addr *a, int oif);
/* The ifindex of the interface named ifname that holds address a (IPv4), or 0. */
int hv_addr_ifindex(const struct netd_host_view *v, const struct ctnet_addr *a, const char *ifname);
bool hv_prefix_covers(const uint8_t *net, unsigned plen, const uint8_t *a);
/* "10.2.0.0/16 via 172.16.0.2 dev fab0" as doctor shows a route (doctor.c). */
void hv_route_str(const struct hroute *h, char *buf, size_t len);

struct linkinfo {
	int ifindex;
	bool up;
	bool running; /* up with carrier: a veth whose peer is up */
	unsigned mtu;
};
/* By name through ioctls on sock (an AF_INET datagram socket); the MTU only when asked
 * (each by-name ioctl walks a hash chain of the host's devices). */
bool hv_link_get(int sock, const char *name, struct linkinfo *li, bool mtu);

#endif
