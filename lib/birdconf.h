/* SPDX-License-Identifier: MIT */
#ifndef CTNET_BIRDCONF_H
#define CTNET_BIRDCONF_H

/*
 * This host's part of a BIRD 2 configuration (`ctnet bird-config`): iBGP sessions to the
 * other hosts (or a route reflector; eBGP to the datacenter's routers with a peer AS) on a
 * shared fabric, announcing this host's container
 * ranges and installing the others'. ctnet never speaks BGP; BIRD runs as its own service
 * with the text made here. Options are set one by one (ctnet_bird_opt, each value checked
 * as it comes), then ctnet_bird_finish fills the defaults from the host configuration and
 * checks the whole; ctnet_bird_render writes the text, the same for the same input.
 */

#include <stdbool.h>
#include <stddef.h>

#include "addr.h"
#include "err.h"
#include "hostconf.h"
#include "name.h"

#define CTNET_BIRD_NEIGHBOR_MAX 64
#define CTNET_BIRD_ANNOUNCE_MAX 16
#define CTNET_BIRD_ASN_DEFAULT 64512UL

struct ctnet_bird {
	struct ctnet_addr router_id; /* IPv4; family 0 until set or defaulted to source */
	struct ctnet_addr source;    /* this host's address on the fabric */
	size_t n_neighbor;
	struct ctnet_addr neighbor[CTNET_BIRD_NEIGHBOR_MAX];
	unsigned long asn;
	unsigned long peer_asn; /* the neighbors' AS; 0 until set: asn (iBGP) */
	size_t n_announce;
	struct ctnet_addr announce[CTNET_BIRD_ANNOUNCE_MAX]; /* networks */
	bool announce_pools;  /* announce came from POOL and POOL6 (no --announce) */
	bool bfd;          /* 100 ms x 3; else short BGP timers */
	bool only_cluster; /* import only routes inside a cluster CIDR */
	size_t n_cluster;
	struct ctnet_addr cluster[CTNET_HOSTCONF_CLUSTER_MAX];
	char conf_path[CTNET_SHOW_MAX]; /* the host configuration's path, escaped (ctnet_show) */
};

/* Defaults: AS 64512, BFD on, only cluster routes imported, nothing else set. */
void ctnet_bird_init(struct ctnet_bird *b);
/* One option by its long name without "--": router-id, source, neighbor, asn, peer-asn,
 * announce.
 * The value is checked here (-EINVAL, the option and the value named in err). */
int ctnet_bird_opt(struct ctnet_bird *b, const char *name, const char *value,
		   struct ctnet_err *err);
/* The defaults from hc (announce: POOL and POOL6; the cluster CIDRs; router id: the
 * source), then the checks between options (families, overlaps, announce inside the
 * cluster). 0 or -EINVAL. */
int ctnet_bird_finish(struct ctnet_bird *b, const struct ctnet_hostconf *hc,
		      const char *conf_path, struct ctnet_err *err);
/* The configuration text (malloc'd, NUL-terminated) into *text. 0 or -ENOMEM. */
int ctnet_bird_render(const struct ctnet_bird *b, char **text, struct ctnet_err *err);

#endif
