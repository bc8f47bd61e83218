/* SPDX-License-Identifier: MIT */
#ifndef CTNET_NETD_H
#define CTNET_NETD_H

#include <stdbool.h>
#include <net/if.h>
#include <sys/types.h>

#include "addr.h"
#include "err.h"
#include "kern.h"
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
	char mac[18]; /* the container side's MAC ("aa:bb:cc:dd:ee:ff"): spec->mac, the one
		       * netd chose for a new pair (random, locally administered), or read */
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
int netd_up(struct ctnet_kern *kern, const struct netd_spec *spec, struct netd_result *res, struct ctnet_err *err);
/* Removes the pair of `name` (host_ifname NULL = derived/alias lookup). Absent is success.
 * Works whether or not the container's namespace still exists. host and local (NULL when
 * not known) are the host side's IPv4 address and the container's, routed through it: they
 * are removed first, which spares the kernel a walk of the whole FIB. */
int netd_down(struct ctnet_kern *kern, const char *name, const char *host_ifname, const struct ctnet_addr *host,
	      const struct ctnet_addr *local, struct ctnet_err *err);
/* Whether name's host-side link exists (1), not (0), or -errno. */
int netd_exists(struct ctnet_kern *kern, const char *name, const char *host_ifname, struct ctnet_err *err);

/*
 * What differs between the kernel and what netd_up(spec) leaves (read-only): the host link
 * host_ifname (up, MTU, bridge port), its address and route to the container (per-address
 * FIB lookups, so the cost does not grow with the host's containers), and in the container
 * its link (up, MTU, MAC), loopback, addresses and default route. A typed fault each, with
 * the object it is about and a line for people; n == 0 means in place. netd_up(spec)
 * repairs every one of them.
 */
enum netd_fault_kind {
	NETD_F_HOST_LINK_MISSING,
	NETD_F_HOST_LINK_DOWN,
	NETD_F_HOST_LINK_MTU,
	NETD_F_BRIDGE_PORT,          /* the host side is not a port of its bridge */
	NETD_F_HOST_ADDR_MISSING,
	NETD_F_HOST_ROUTE_MISSING,
	NETD_F_HOST_SYSCTL,          /* a per-link sysctl of the host side (netd/hostsec.c)
	                              * differs; read only without a view */
	NETD_F_NO_CARRIER,           /* seen from the host: the container's end is down */
	NETD_F_LINK_MISSING,         /* the container's end */
	NETD_F_LINK_DOWN,
	NETD_F_LO_DOWN,
	NETD_F_LINK_MTU,
	NETD_F_LINK_MAC,
	NETD_F_ADDR_MISSING,         /* the container's address */
	NETD_F_DEFAULT_ROUTE_MISSING,
};
#define NETD_FAULTS_MAX 16
struct netd_fault {
	enum netd_fault_kind kind;
	char object[64];             /* the link or address: "ve-web", "10.233.1.2" */
	char text[128];              /* "host route 10.233.1.2 dev ve-web missing" */
};
struct netd_faults {
	size_t n;
	bool truncated;
	struct netd_fault v[NETD_FAULTS_MAX];
};
/* Whether a fault is about the container's own end (netd_verify with inside). */
bool netd_fault_inside(enum netd_fault_kind kind);
struct netd_host_view;
int netd_verify(struct ctnet_kern *kern, const struct netd_spec *spec, const char *host_ifname, const struct netd_host_view *view,
		bool inside, struct netd_faults *f, struct ctnet_err *err);
/*
 * The host's addresses and routes read once (one dump per kind) for many netd_verify calls
 * (apply's verify of every container): with a view, a point-to-point container's host side
 * costs two ioctls and bsearches instead of a link request and four route lookups. The view
 * is a snapshot: a check against it can report a fault fixed since, never miss one that was
 * there when it was read (repairs re-check without it). inside false (with a view, for a
 * point-to-point link): the container's side is judged by the host link's carrier (the
 * peer is up) without entering its namespace; its addresses and routes are not read.
 */
int netd_host_view_open(struct ctnet_kern *kern, struct netd_host_view **out, bool v6, struct ctnet_err *err);
void netd_host_view_close(struct netd_host_view *v);

/* Drops the host's neighbour (ARP/NDP) entries for a and a6 (may be NULL) on host_ifname:
 * after the container's MAC changed, the host would keep sending to the old one. */
int netd_neigh_forget(struct ctnet_kern *kern, const char *host_ifname, const struct ctnet_addr *a, const struct ctnet_addr *a6,
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
int netd_show(struct ctnet_kern *kern, const char *name, struct netd_link_info **out, size_t *n, struct ctnet_err *err);

/* A bridge with address addr (CIDR), up. Idempotent; an existing non-bridge is an error. */
int netd_bridge_add(struct ctnet_kern *kern, const char *br, const struct ctnet_addr *addr, struct ctnet_err *err);
/* Deletes a bridge `bridge add` made; absent is success; someone else's is refused. */
int netd_bridge_del(struct ctnet_kern *kern, const char *br, struct ctnet_err *err);
/* Moves a host interface into a namespace (NixOS `interfaces`), renamed when newname. */
int netd_move(struct ctnet_kern *kern, const char *iface, int netns_fd, const char *newname, struct ctnet_err *err);
/* A macvlan on host interface parent, created directly in the namespace as ifname, up.
 * mode: "bridge" (NULL), "private", "vepa", "passthru". */
int netd_macvlan_add(struct ctnet_kern *kern, const char *parent, const char *ifname, int netns_fd, const char *mode,
		     struct ctnet_err *err);
/* Undoes move/macvlan add: the interface ifname inside netns_fd goes to to_fd, or is
 * deleted when to_fd < 0. Absent is success. */
int netd_release_in(int netns_fd, const char *ifname, int to_fd, struct ctnet_err *err);

/* ---- Link impairment (netd/impair.c): netem and tbf on both ends of a veth pair. ---- */

#include <stdint.h>

/*
 * What a harness asks of a container's link, the same in both directions: each end's
 * egress gets netem (delay, jitter, loss) with a tbf under it for a rate, or a tbf alone
 * for a rate alone; so a delay of 50 ms adds 100 ms to a round trip and a rate caps each
 * direction. set false (or every field 0) = none.
 */
struct netd_impair {
	bool set;           /* false: no impairment (the other fields are ignored) */
	uint32_t delay_us;  /* 0..NETD_IMPAIR_DELAY_MAX_US */
	uint32_t jitter_us; /* needs delay_us; <= delay_us */
	uint32_t loss_ppm;  /* parts per million: 10000 = 1%, 1000000 = 100% */
	uint64_t rate_bps;  /* bits per second (a multiple of 8), 0 = unlimited; RATE_MIN..MAX */
};
#define NETD_IMPAIR_DELAY_MAX_US 60000000u /* 60 s: netem's 32-bit tick fields hold ~274 s */
#define NETD_IMPAIR_LOSS_MAX_PPM 1000000u
#define NETD_IMPAIR_RATE_MIN 8ull            /* 1 byte/s */
#define NETD_IMPAIR_RATE_MAX 10000000000ull /* 10gbit: libnl's tbf rate is a 32-bit byte rate */
/* "60s" / "1.5%" / "10mbit": the longest text netd_impair_format writes, with its NUL. */
#define NETD_IMPAIR_STRLEN 24

/*
 * tc syntax, strictly (no sign, no exponent, no spaces; the value is named in the error):
 * time: DIGITS[.DIGITS](s|sec|secs|ms|msec|msecs|us|usec|usecs), whole microseconds, or "0";
 * loss: DIGITS[.DIGITS][%] (percent, as tc reads it; 1 ppm resolution), at most 100%;
 * rate: DIGITS[.DIGITS] with a unit: bit kbit mbit gbit tbit kibit mibit gibit tibit (bits/s)
 * or bps kbps mbps gbps tbps kibps mibps gibps tibps (bytes/s), case-insensitive, whole bytes/s
 * (tbf counts bytes).
 * `what` names the option in the message ("delay", "jitter"); NULL = "delay"/"loss"/"rate".
 */
int netd_impair_parse_time(const char *s, const char *what, uint32_t *us, struct ctnet_err *err);
int netd_impair_parse_delay(const char *s, uint32_t *us, struct ctnet_err *err);
int netd_impair_parse_loss(const char *s, uint32_t *ppm, struct ctnet_err *err);
int netd_impair_parse_rate(const char *s, uint64_t *bps, struct ctnet_err *err);
/* Whole-value checks (jitter needs a delay and does not exceed it). set false is valid. */
int netd_impair_check(const struct netd_impair *im, struct ctnet_err *err);
/* Whether im changes anything: set, and some field non-zero ("--delay 0" alone = none). */
bool netd_impair_active(const struct netd_impair *im);
/* Field by field; two inactive impairments are equal whatever their fields hold. */
bool netd_impair_equal(const struct netd_impair *a, const struct netd_impair *b);
/* "50ms", "100us", "1.5%", "8mbit": shortest exact text that the parsers read back. */
const char *netd_impair_format_time(uint32_t us, char buf[NETD_IMPAIR_STRLEN]);
const char *netd_impair_format_loss(uint32_t ppm, char buf[NETD_IMPAIR_STRLEN]);
const char *netd_impair_format_rate(uint64_t bps, char buf[NETD_IMPAIR_STRLEN]);

/*
 * Makes the impairment of a pair what im says, on both ends: host_ifname in our namespace
 * and ifname inside netns_fd. Root netem 1: (tbf 2: under it with a rate), or root tbf 3:
 * for a rate alone; created or changed in place with NLM_F_REPLACE (the link and its flows
 * stay); im NULL or inactive removes ctnet's qdiscs (the kernel's default comes back). A
 * root qdisc that is not ctnet's is refused, and so is either end missing. Both ends are
 * read before the first change; a failure puts changed ends back as they were. Removal
 * looks at the host end first: when it carries nothing of ctnet's, the container end is
 * not entered (two round trips in all, what an `up` without impairment pays).
 * Needs the kernel's netem for delay, jitter and loss (the error says so), tbf for a rate.
 */
int netd_impair_apply(struct ctnet_kern *kern, const char *host_ifname, int netns_fd, const char *ifname,
		      const struct netd_impair *im, struct ctnet_err *err);
/* Reads one end's impairment back from the kernel (netns_fd < 0: our namespace), to compare
 * with netd_impair_equal. A root qdisc that is neither ctnet's nor the kernel's default
 * reads as set with *foreign true (foreign may be NULL). */
int netd_impair_read(struct ctnet_kern *kern, int netns_fd, const char *ifname, struct netd_impair *out, bool *foreign,
		     struct ctnet_err *err);

/* ---- Extra veths (netd/extra.c): NixOS containers.<name>.extraVeths.<IFNAME>. ---- */

#define NETD_EXTRA_VETH_MAX 8
struct netd_extra_veth {
	char ifname[IFNAMSIZ];      /* both sides: host IFNAME <-> container IFNAME */
	char host_bridge[IFNAMSIZ]; /* "" = point-to-point */
	bool has_host_addr, has_local_addr, has_host_addr6, has_local_addr6;
	struct ctnet_addr host_addr, local_addr;   /* IPv4, prefix -1 = /32 */
	struct ctnet_addr host_addr6, local_addr6; /* IPv6, prefix -1 = /128 */
};
/*
 * IFNAME[,host-bridge=BR][,host-address=A][,local-address=B][,host-address6=A6]
 * [,local-address6=B6] (each key once, addresses with an optional /prefix). IFNAME must not
 * start with "ve-"/"vb-" (ctnet's own pairs). As in NixOS, a bridged veth's host side gets
 * no address: host-address* then only gives the container a route to that address.
 */
int netd_extra_veth_parse(const char *spec, struct netd_extra_veth *out, struct ctnet_err *err);
bool netd_extra_veth_equal(const struct netd_extra_veth *a, const struct netd_extra_veth *b);
/* The parse's text form ("lab0,host-bridge=br-lab,local-address=10.9.0.2/24"). */
int netd_extra_veth_format(const struct netd_extra_veth *v, char *buf, size_t len);
#define NETD_EXTRA_VETH_STRLEN (IFNAMSIZ * 2 + 4 * (CTNET_ADDR_STRLEN + 16) + 16)

/*
 * Creates the pair v->ifname (host side in our namespace, alias "ctnet:NAME", container side
 * v->ifname in netns_fd), both up, then NixOS's setup: with a host bridge, the host side
 * enslaved to it; else the host address on the host side and a route to the local address
 * through it. Inside: the local address(es) and a route to the host address(es) through
 * it. Never a default route. A host interface named v->ifname that is not ours is refused,
 * naming it; ours with its peer in netns_fd is re-applied. Undone in reverse on failure.
 */
int netd_extra_veth_add(struct ctnet_kern *kern, const char *name, int netns_fd, const struct netd_extra_veth *v,
			struct ctnet_err *err);
/* Deletes the pair whose host side is v_ifname if it carries name's alias (absent =
 * success; another's is refused, naming it). */
int netd_extra_veth_del(struct ctnet_kern *kern, const char *name, const char *v_ifname, struct ctnet_err *err);
/* netd_extra_veth_del for v[0..n) in one batch: what `down` calls with the spec's extra
 * veths (before or after netd_down; the container's namespace may be gone). */
int netd_extra_veth_del_all(struct ctnet_kern *kern, const char *name, const struct netd_extra_veth *v, size_t n,
			    struct ctnet_err *err);
/* --- doctor (doctor.c) --- */
struct ctnet_findings;
/* One live container as doctor checks the host's conflicts with it, from its record. */
struct netd_doctor_ct {
	const char *name, *host_ifname, *bridge;
	unsigned mtu; /* recorded (0: the kernel's default) */
	struct ctnet_addr host, local; /* family 0 when absent */
	bool has_v6;
	struct ctnet_addr host6, local6;
	bool mss_clamped; /* ctnet's table clamps TCP MSS (an MTU above the uplink's only a note) */
};
/* The interface of the host's default route and its path MTU (route MTU or link MTU). */
struct netd_uplink {
	bool found;
	char ifname[IFNAMSIZ];
	int ifindex;
	unsigned mtu;
};
/*
 * Findings appended to out for each container: its addresses also on other interfaces,
 * routes overlapping its addresses via other interfaces, its MTU above the uplink's (whether
 * its own links, addresses and routes are whole is ct_judge's, through netd_verify). Against
 * a view the caller read (netd_host_view_open, with v6 when any container has IPv6).
 */
int netd_doctor_view(const struct netd_host_view *v, const struct netd_doctor_ct *cts, size_t n,
		     struct netd_uplink *uplink, struct ctnet_findings *out, struct ctnet_err *err);
/* doctor_cluster.c: per cluster CIDR, the routes inside it but outside this host's pools
 * (other hosts' ranges) with the protocol that installed them (a note), none of them (a
 * warning), a route via a gateway inside a pool (blocking: another host's pool overlaps).
 * dests[i] (n of them): the first such route's first address and device, for nat's check
 * of what masquerades traffic there. */
struct netd_cluster_dest {
	bool found;
	struct ctnet_addr dst;
	char oif[IFNAMSIZ];
};
void netd_doctor_cluster(const struct netd_host_view *v, const struct ctnet_addr *cluster, size_t n,
			 const struct ctnet_addr *pools, size_t n_pools, struct netd_cluster_dest *dests,
			 struct ctnet_findings *out);
/* "bird", "static", "kernel", "boot", ... or the number: rtm_protocol as ip-route shows it. */
const char *netd_route_proto_name(unsigned proto, char *buf, size_t len);
/* Routes the host learned from a container's link (from a router advertisement or a redirect
 * that came in on a container's host side or a ctnet-made bridge): a blocking finding each. */
void netd_doctor_learned(const struct netd_host_view *v, const struct netd_doctor_ct *cts, size_t n,
			 struct ctnet_findings *out);
/* The path MTU of the IPv4 default route (its MTU metric or its device's), 0 when there is
 * none. One route lookup: cheap enough for every up. */
unsigned netd_uplink_mtu(struct ctnet_kern *kern);
/*
 * rtnetlink events (monitor.c), for `ctnet watch`. netd_monitor_open returns a
 * non-blocking socket in the link, IPv4/IPv6 address and route groups of netns_fd (-1: our
 * own namespace), or -errno. netd_monitor_read drains it, calls cb for each removal (a link
 * deleted or down, an address or a main-table route deleted, forwarding switched off) and
 * returns how many, or
 * -ENOBUFS when events were lost (check everything), or -errno.
 */
enum netd_event_kind {
	NETD_EV_LINK_DEL = 1,
	NETD_EV_LINK_DOWN,
	NETD_EV_ADDR_DEL,
	NETD_EV_ROUTE_DEL,
	NETD_EV_FORWARDING_OFF, /* IPv4 or IPv6 forwarding switched off for "all" */
};
struct netd_event {
	enum netd_event_kind kind;
	int ifindex;          /* 0 when the message named none (a route without RTA_OIF) */
	char ifname[IFNAMSIZ]; /* link events only */
};
int netd_monitor_open(int netns_fd, struct ctnet_err *err);
int netd_monitor_read(int fd, void (*cb)(const struct netd_event *ev, void *data), void *data,
		      struct ctnet_err *err);

#endif
