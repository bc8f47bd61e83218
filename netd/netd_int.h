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
int q_link_del(struct nd_batch *b, int ifindex, const char *ifname, struct ctnet_err *err);
void ipv6_off(const char *ifname);
int q_veth(struct nd_batch *b, const char *hif, const char *cif, int netns_fd, int master,
	   unsigned mtu, const unsigned char *mac, struct nd_link *out, struct ctnet_err *err);
int q_addr_dump(struct nd_batch *b, struct gw_find *g, const char *br, struct ctnet_err *err);

/* main_show.c: ctnet-netd show's output, the links as a list or JSON; the exit code (a
 * failure printed). */
int netd_show_print(struct ctnet_kern *kern, bool json, const struct netd_link_info *v, size_t n,
		    struct ctnet_err *err);

#endif
