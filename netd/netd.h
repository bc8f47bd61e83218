/* SPDX-License-Identifier: MIT */
#ifndef CTNET_NETD_H
#define CTNET_NETD_H

#include <stdbool.h>
#include <net/if.h>
#include <sys/types.h>

#include "addr.h"
#include "err.h"
#include "name.h"

/* One container's link: a veth pair, host side alone or enslaved to a bridge. */
struct netd_spec {
	const char *name;        /* container name (validated) */
	int netns_fd;            /* the container's network namespace */
	const char *ifname;      /* container side; NULL = "eth0" */
	const char *host_ifname; /* NULL = derived: ve-NAME / vb-NAME or prefix + hash */
	struct ctnet_addr host;  /* IPv4 host side (family 0 in bridge mode = bridge's own) */
	struct ctnet_addr local; /* IPv4 container side; prefix from the caller in bridge mode */
	bool has_v6;
	struct ctnet_addr host6, local6;
	const char *bridge;      /* NULL: point-to-point; else enslave host side to it */
	const char *mac;         /* container side MAC "aa:bb:..", NULL = random */
	unsigned mtu;            /* 0 = kernel default */
};

struct netd_result {
	char host_ifname[IFNAMSIZ];
	int host_ifindex;
	char ifname[IFNAMSIZ];
};

/* Host-side interface name for a container: "ve-NAME" (or "vb-" with bridge) when it fits
 * in 15 bytes, else the prefix plus a stable hash of NAME. */
void netd_host_ifname(const char *name, bool bridge, char out[IFNAMSIZ]);

/*
 * Opens a network namespace by path (/run/netns/X, /proc/PID/ns/net) or by pid (path
 * NULL) and checks that it is one. Returns an O_CLOEXEC fd or -errno.
 */
int netd_netns_open(const char *path, pid_t pid, struct ctnet_err *err);

/* Plumbs the pair; idempotent; undoes its own steps on failure. */
int netd_up(const struct netd_spec *spec, struct netd_result *res, struct ctnet_err *err);
/* Removes the pair of `name` (host_ifname NULL = derived/alias lookup). Absent is success.
 * Works whether or not the container's namespace still exists. */
int netd_down(const char *name, const char *host_ifname, struct ctnet_err *err);
/* Whether name's host-side link exists (1), not (0), or -errno. */
int netd_exists(const char *name, const char *host_ifname, struct ctnet_err *err);

#endif
