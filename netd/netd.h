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

/* Every link ctnet creates carries the alias "ctnet:NAME" (NAME: the container); that is
 * how show/down find a container's links and how a foreign ve-NAME is told apart. */
#define NETD_ALIAS_PREFIX "ctnet:"
#define NETD_ALIAS_MAX (sizeof(NETD_ALIAS_PREFIX) + CTNET_NAME_MAX)
/* Bridges made by `bridge add` carry this alias. */
#define NETD_BRIDGE_ALIAS "ctnet-bridge"
#define NETD_PREFIX_VETH "ve-"
#define NETD_PREFIX_BRIDGE "vb-"
#define NETD_DEFAULT_IFNAME "eth0"
#define NETD_MTU_MIN 68
#define NETD_MTU_MAX 65535

struct netd_result {
	char host_ifname[IFNAMSIZ];
	int host_ifindex;
	char ifname[IFNAMSIZ];
};

/* Host-side interface name for a container: "ve-NAME" (or "vb-" with bridge) when it fits
 * in 15 bytes, else the prefix plus a stable hash of NAME. */
void netd_host_ifname(const char *name, bool bridge, char out[IFNAMSIZ]);

/* "ctnet:NAME". */
void netd_alias(const char *name, char out[NETD_ALIAS_MAX]);

/* Validates a spec without any kernel call (names, address families and prefixes, host !=
 * local, MAC, MTU). netd_up calls it first; callers may call it earlier. */
int netd_spec_check(const struct netd_spec *spec, struct ctnet_err *err);
/* "aa:bb:cc:dd:ee:ff": unicast, not all zero. */
int netd_mac_parse(const char *s, unsigned char mac[6], struct ctnet_err *err);

/*
 * Opens a network namespace by path (/run/netns/X, /proc/PID/ns/net) or by pid (path
 * NULL) and checks that it is one. Returns an O_CLOEXEC fd or -errno.
 */
int netd_netns_open(const char *path, pid_t pid, struct ctnet_err *err);

/*
 * Plumbs the pair; idempotent; undoes its own steps on failure. When the host side already
 * exists with our alias and its peer is spec->ifname in spec->netns_fd, addresses, routes
 * and link state are re-applied (NLM_F_REPLACE); when its peer is elsewhere (an earlier
 * namespace of the same container), the old pair is replaced. A host-side interface of
 * that name without our alias is an error and nothing is changed.
 */
int netd_up(const struct netd_spec *spec, struct netd_result *res, struct ctnet_err *err);
/* Removes the pair of `name` (host_ifname NULL = derived/alias lookup). Absent is success.
 * Works whether or not the container's namespace still exists. host and local (NULL when
 * not known) are the host side's IPv4 address and the container's, routed through it: they
 * are removed first, which spares the kernel a walk of the whole FIB. */
int netd_down(const char *name, const char *host_ifname, const struct ctnet_addr *host,
	      const struct ctnet_addr *local, struct ctnet_err *err);
/* Whether name's host-side link exists (1), not (0), or -errno. */
int netd_exists(const char *name, const char *host_ifname, struct ctnet_err *err);

/*
 * What differs between the kernel and what netd_up(spec) leaves (read-only): the host link
 * host_ifname (up, MTU, bridge port), its address and route to the container (per-address
 * FIB lookups, so the cost does not grow with the host's containers), and in the container
 * its link (up, MTU, MAC), loopback, addresses and default route. One line per fault;
 * n == 0 means in place. netd_up(spec) repairs every one of them.
 */
#define NETD_FAULTS_MAX 16
struct netd_faults {
	size_t n;
	bool truncated;
	char v[NETD_FAULTS_MAX][128];
};
int netd_verify(const struct netd_spec *spec, const char *host_ifname, struct netd_faults *f,
		struct ctnet_err *err);

/* Drops the host's neighbour (ARP/NDP) entries for a and a6 (may be NULL) on host_ifname:
 * after the container's MAC changed, the host would keep sending to the old one. */
int netd_neigh_forget(const char *host_ifname, const struct ctnet_addr *a, const struct ctnet_addr *a6,
		      struct ctnet_err *err);

/* A link ctnet made, as `show` reads it from the kernel (host namespace). */
#define NETD_SHOW_MAX_ADDRS 8
#define NETD_SHOW_MAX_ROUTES 16
struct netd_link_info {
	char ifname[IFNAMSIZ];
	int ifindex;
	char container[CTNET_NAME_MAX + 1]; /* from the alias; "" for a ctnet bridge */
	char kind[16];                      /* "veth", "bridge", "macvlan" */
	char master[IFNAMSIZ];
	bool up;
	unsigned mtu;
	size_t naddrs, nroutes;
	char addrs[NETD_SHOW_MAX_ADDRS][CTNET_ADDR_STRLEN];
	char routes[NETD_SHOW_MAX_ROUTES][2 * CTNET_ADDR_STRLEN + 8]; /* "dst" or "dst via gw" */
};
/* ctnet's links (all, or name's when name != NULL); *out is malloc'd (free it). */
int netd_show(const char *name, struct netd_link_info **out, size_t *n, struct ctnet_err *err);

/* A bridge with address addr (CIDR), up. Idempotent; an existing non-bridge is an error. */
int netd_bridge_add(const char *br, const struct ctnet_addr *addr, struct ctnet_err *err);
/* Deletes a bridge `bridge add` made; absent is success; someone else's is refused. */
int netd_bridge_del(const char *br, struct ctnet_err *err);
/* Moves a host interface into a namespace (NixOS `interfaces`), renamed when newname. */
int netd_move(const char *iface, int netns_fd, const char *newname, struct ctnet_err *err);
/* A macvlan on host interface parent, created directly in the namespace as ifname, up.
 * mode: "bridge" (NULL), "private", "vepa", "passthru". */
int netd_macvlan_add(const char *parent, const char *ifname, int netns_fd, const char *mode,
		     struct ctnet_err *err);
/* Undoes move/macvlan add: the interface ifname inside netns_fd goes to to_fd, or is
 * deleted when to_fd < 0. Absent is success. */
int netd_release_in(int netns_fd, const char *ifname, int to_fd, struct ctnet_err *err);

/*
 * rtnetlink events (monitor.c), for `ctnet watch`. netd_monitor_open returns a
 * non-blocking socket in the link, IPv4/IPv6 address and route groups of netns_fd (-1: our
 * own namespace), or -errno. netd_monitor_read drains it, calls cb for each removal (a link
 * deleted or down, an address or a main-table route deleted) and returns how many, or
 * -ENOBUFS when events were lost (check everything), or -errno.
 */
enum netd_event_kind { NETD_EV_LINK_DEL = 1, NETD_EV_LINK_DOWN, NETD_EV_ADDR_DEL, NETD_EV_ROUTE_DEL };
struct netd_event {
	enum netd_event_kind kind;
	int ifindex;          /* 0 when the message named none (a route without RTA_OIF) */
	char ifname[IFNAMSIZ]; /* link events only */
};
int netd_monitor_open(int netns_fd, struct ctnet_err *err);
int netd_monitor_read(int fd, void (*cb)(const struct netd_event *ev, void *data), void *data,
		      struct ctnet_err *err);

#endif
