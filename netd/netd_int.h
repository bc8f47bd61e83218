/* SPDX-License-Identifier: MIT */
/* Internals of netd/: the request builders and checks that netd.c (up/down) and extra.c
 * (extra veths) share, and ctnet-netd show's printers. Not part of the contract. */
#ifndef CTNET_NETD_INT_H
#define CTNET_NETD_INT_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

#include "netd.h"
#include "nl.h"

struct gw_find {
	int family, ifindex;
	struct ctnet_addr addr;
};

/* netd.c */
int check_addr(const struct ctnet_addr *a, int family, bool required, const char *what,
	       struct ctnet_err *err);
int not_ours(const struct nd_link *l, const char *alias, struct ctnet_err *err);
bool pair_matches(const struct nd_link *h, const struct nd_link *c, const char *alias);
/* requests.c */
int prefix_or(const struct ctnet_addr *a, int dflt);
int q_addr(struct nd_batch *b, int ifindex, const char *ifname, const struct ctnet_addr *a,
	   int prefix, bool del, struct ctnet_err *err);
int q_route(struct nd_batch *b, int ifindex, const char *ifname, int family,
	    const struct ctnet_addr *dst, const struct ctnet_addr *gw, bool del,
	    struct ctnet_err *err);
int q_link_set(struct nd_batch *b, int ifindex, const char *ifname, const char *alias,
	       unsigned mtu, int master, const unsigned char *mac, struct ctnet_err *err);
/* q_link_set for a host side ctnet made: no MAC, and the IPv4 sysctls of hostsec.c. */
int q_host_link_set(struct nd_batch *b, int ifindex, const char *ifname, const char *alias,
		    unsigned mtu, int master, struct ctnet_err *err);
/* The alias alone, the link left as it is (down after creation); harden: with the IPv4
 * sysctls of hostsec.c. */
int q_link_alias(struct nd_batch *b, const char *ifname, const char *alias, bool harden,
		 struct ctnet_err *err);
int q_link_del(struct nd_batch *b, int ifindex, const char *ifname, struct ctnet_err *err);
int q_veth(struct nd_batch *b, const char *hif, const char *cif, int netns_fd, int master,
	   unsigned mtu, const unsigned char *mac, struct nd_link *out, struct ctnet_err *err);
int q_addr_dump(struct nd_batch *b, struct gw_find *g, const char *br, struct ctnet_err *err);

/* hostsec.c: the per-link sysctls of a host side ctnet makes (the comment there lists them) */
struct rtnl_link;
/* The IPv4 ones, into a link change request: 0 or a libnl error. */
int nd_harden4(struct rtnl_link *l);
/* The IPv6 ones, written under /proc/sys/net/ipv6/conf/IFNAME (IPv6 left on with v6). */
int nd_harden6(const char *ifname, bool v6, struct ctnet_err *err);
/* Whether a link as read differs from them; the first difference as text in what. */
bool nd_conf_drift(const struct nd_link *l, bool v6, char *what, size_t len);

/* main_show.c: ctnet-netd show's output, the links as a list or JSON; the exit code (a
 * failure printed). */
int netd_show_print(struct ctnet_kern *kern, bool json, const struct netd_link_info *v, size_t n,
		    struct ctnet_err *err);

#endif
