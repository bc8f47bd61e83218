/* SPDX-License-Identifier: MIT */
#ifndef CTNET_HOSTCONF_H
#define CTNET_HOSTCONF_H

/*
 * The host-wide configuration: what belongs to the host, not to one container. One file,
 * /etc/ctnet/ctnet.conf ($CTNET_CONF overrides the path), in the KEY=VALUE format of every
 * ctnet file (lib/nixosconf.h), read once by each front-end at its edge:
 *
 *   POOL=10.233.0.0/16          this host's IPv4 container pool (ipam's default pool, the
 *                               range announced to other hosts)
 *   POOL6=fd42:1:2::/48         this host's IPv6 /48 (instead of ipam's random ULA /48)
 *   CLUSTER_CIDR=10.0.0.0/8     destinations never masqueraded: other hosts' containers,
 *                               pod and service ranges (IPv4 or IPv6, /8 at the
 *                               widest; repeatable)
 *   EXTERNAL_INTERFACE=eth0     masquerade only out of these (repeatable); as
 *                               `ctnet-nat init --external-interface`
 *
 * List keys may be repeated and a value may hold a comma-separated list. A missing file
 * is the empty configuration: single-host setups change nothing. Unknown keys and bad
 * values are refused, naming the file, the line and the value: a typo in a file that
 * decides what is masqueraded must not be guessed at.
 */

#include <stdbool.h>
#include <stddef.h>

#include "addr.h"
#include "err.h"
#include "name.h"

#define CTNET_CONF_DEFAULT "/etc/ctnet/ctnet.conf"
#define CTNET_HOSTCONF_CLUSTER_MAX 32
#define CTNET_HOSTCONF_EXT_MAX 16

struct ctnet_hostconf {
	bool present;          /* the file exists */
	struct ctnet_addr pool4; /* family 0 when unset */
	struct ctnet_addr pool6; /* a /48; family 0 when unset */
	size_t n_cluster;
	struct ctnet_addr cluster[CTNET_HOSTCONF_CLUSTER_MAX]; /* networks, host bits zero */
	size_t n_ext;
	char ext[CTNET_HOSTCONF_EXT_MAX][CTNET_IFNAME_MAX + 1];
};

/* $CTNET_CONF, or CTNET_CONF_DEFAULT. */
const char *ctnet_hostconf_path(void);
/* Parses text (a whole file) into *hc (zeroed first; present set). `shown` names the file
 * in errors. */
int ctnet_hostconf_parse(const char *text, size_t len, const char *shown,
			 struct ctnet_hostconf *hc, struct ctnet_err *err);
/* Reads ctnet_hostconf_path(); a missing file gives the empty configuration and 0. */
int ctnet_hostconf_load(struct ctnet_hostconf *hc, struct ctnet_err *err);
/* Whether addr (a prefix or an address) lies inside one of the cluster CIDRs. */
bool ctnet_hostconf_in_cluster(const struct ctnet_hostconf *hc, const struct ctnet_addr *a);

#endif
