/* SPDX-License-Identifier: MIT */
/* The container spec: what a container's network should be, its parsing and its diff. */
#ifndef CTNET_LAUNCH_SPEC_H
#define CTNET_LAUNCH_SPEC_H

#include <net/if.h>
#include <stdbool.h>
#include <sys/stat.h>
#include <sys/types.h>

#include "../nat/nat.h"
#include "../netd/netd.h"
#include "addr.h"
#include "err.h"
#include "name.h"

/* Host interfaces moved into a container, and macvlans made for it, at most. */
#define CT_MAX_EXTRA 8
#define CT_ORIGIN_MAX 256
#define CT_RUNTIME_ID_MAX 256
/* Namespace paths (the records' KV format holds at most 1,024 bytes a value). */
#define CT_PATH_MAX 1025 /* NIXOSCONF_VALUE_MAX and the NUL */

/* Where the container's network namespace comes from. */
enum ct_netns_kind {
	CT_NETNS_NONE,   /* shared mode */
	CT_NETNS_PATH,   /* --netns PATH (a bind mount, /proc/PID/ns/net, ...) */
	CT_NETNS_PID,    /* --pid PID */
	CT_NETNS_CREATE, /* --create-netns: /run/netns/NAME, made and removed by ctnet */
	CT_NETNS_FD,     /* ctnet run: an anonymous namespace held by owner_pid */
};

/*
 * What a container's network should be: every field a front-end can set, already parsed
 * and validated (ct_spec_check). Family 0 addresses mean "allocate". Fixed-size, no
 * pointers: it is copied, compared field by field (ct_spec_diff) and stored in the record.
 */
struct ct_spec {
	char name[CTNET_NAME_MAX + 1];
	bool shared;               /* NixOS's default: the host namespace, nothing plumbed */
	enum ct_netns_kind netns_kind;
	char netns_path[CT_PATH_MAX]; /* CT_NETNS_PATH; /run/netns/NAME for CT_NETNS_CREATE */
	pid_t pid;                 /* CT_NETNS_PID; shared mode: an optional owner process */
	int netns_fd;              /* CT_NETNS_FD only (not stored): -1 otherwise */
	pid_t owner_pid;           /* CT_NETNS_FD: the process inside (recorded for liveness) */
	struct ctnet_addr host, local;   /* requested IPv4 pair; local may carry a prefix */
	struct ctnet_addr host6, local6; /* requested IPv6 pair */
	bool reserve;              /* host/local given are leased (ipam_reserve), not just used:
	                            * a runtime's static IP (CNI IP=); released by the down.
	                            * Not stored: the record's LEASE says it */
	bool ipv6;                 /* allocate an IPv6 pair when none is given */
	bool has_pool;
	struct ctnet_addr pool;    /* allocate from this CIDR */
	/* The host's defaults (ctnet.conf(5) POOL and POOL6, ct_spec_host): where a lease
	 * comes from when the spec names no pool, and the /48 of its IPv6 pair. The host's,
	 * not the container's: never stored nor compared. Family 0: ipam's own defaults. */
	struct ctnet_addr host_pool, host_prefix6;
	char bridge[IFNAMSIZ];     /* "" = point-to-point */
	struct ctnet_addr bridge_gw; /* with bridge: ctnet makes the bridge (if absent) with this
				      * address/prefix and keeps it (CNI); family 0: the host's */
	char ifname[IFNAMSIZ];     /* container side; "" = eth0 */
	char host_ifname[IFNAMSIZ]; /* host side; "" = derived (ve-NAME / vb-NAME / hashed) */
	char mac[18];              /* container side; "" = random */
	unsigned mtu;              /* 0 = kernel default */
	bool no_nat;               /* no masquerade, forwards or anti-spoofing (CNI ipMasq:false) */
	size_t n_forwards;
	struct nat_forward forwards[NAT_MAX_FORWARDS];
	size_t n_interfaces, n_macvlans;
	char interfaces[CT_MAX_EXTRA][IFNAMSIZ]; /* NixOS interfaces: moved in */
	char macvlans[CT_MAX_EXTRA][IFNAMSIZ];   /* parents; the macvlan inside is mv-PARENT */
	struct netd_impair impair; /* delay, jitter, loss, rate on both ends of the link */
	size_t n_extra_veths;      /* NixOS extraVeths: more pairs, bridged or point-to-point */
	struct netd_extra_veth extra_veths[NETD_EXTRA_VETH_MAX];
	/* Who manages it: "" by hand, "cni", "oci", "apply:DIR". apply touches only its own. */
	char origin[CT_ORIGIN_MAX];
	/* The runtime's id for it (CNI container id, OCI id) and a display name (pod). */
	char runtime_id[CT_RUNTIME_ID_MAX];
	char runtime_name[CTNET_NAME_MAX + 1];
};

/* The host config's defaults into s (host_pool, host_prefix6). */
struct ctnet_hostconf;
void ct_spec_host(struct ct_spec *s, const struct ctnet_hostconf *hc);
/* An empty spec (netns_fd -1) named name (not checked here). */
void ct_spec_init(struct ct_spec *s, const char *name);
/* Defaults made explicit where the request depends on them (the netns path of
 * --create-netns, ifname eth0): what ct_up stores and compares. */
void ct_spec_normalize(struct ct_spec *s);
/* Everything about the request, checked before any change: -EINVAL naming the value. */
int ct_spec_check(const struct ct_spec *s, struct ctnet_err *err);
/* Parses one forward ("tcp:8080:80", with "@HOSTIP" allowed) and appends it. */
int ct_spec_add_forward(struct ct_spec *s, const char *text, struct ctnet_err *err);
/* Appends an extra veth (IFNAME[,host-bridge=BR][,host-address=A]...). */
int ct_spec_add_extra_veth(struct ct_spec *s, const char *text, struct ctnet_err *err);
/* One impairment value: key "delay", "jitter", "loss" or "rate" (tc syntax). */
int ct_spec_set_impair(struct ct_spec *s, const char *key, const char *value, struct ctnet_err *err);
/* Appends an interface to move in (macvlan: a parent). */
int ct_spec_add_interface(struct ct_spec *s, bool macvlan, const char *ifname,
			  struct ctnet_err *err);
/*
 * Fills what s does not set yet from a nixos-container config file (root-owned, not
 * writable by others, read as data). Without PRIVATE_NETWORK=1 the container is shared.
 * NETWORK_NAMESPACE_PATH joins that namespace. Values already in s win (command line).
 * *auto_start (may be NULL): AUTO_START, true when absent.
 */
int ct_spec_from_conf(struct ct_spec *s, const char *path, bool *auto_start, struct ctnet_err *err);
/* The same, with the file's stat as read (st may be NULL). */
int ct_spec_from_conf_stat(struct ct_spec *s, const char *path, bool *auto_start, struct stat *st,
			   struct ctnet_err *err);

/* The fields ct_spec_diff compares, one bit each. */
enum ct_field {
	CT_F_MODE = 1u << 0, CT_F_NETNS = 1u << 1, CT_F_ADDRESS = 1u << 2,
	CT_F_ADDRESS6 = 1u << 3, CT_F_POOL = 1u << 4, CT_F_BRIDGE = 1u << 5,
	CT_F_IFNAME = 1u << 6, CT_F_HOST_IFNAME = 1u << 7, CT_F_MAC = 1u << 8,
	CT_F_MTU = 1u << 9, CT_F_NAT = 1u << 10, CT_F_FORWARDS = 1u << 11,
	CT_F_INTERFACES = 1u << 12, CT_F_ORIGIN = 1u << 13, CT_F_RUNTIME = 1u << 14,
	CT_F_IMPAIR = 1u << 15, CT_F_EXTRA_VETHS = 1u << 16,
};
/* Fields ct_up changes on a running container without recreating its link. */
#define CT_F_IN_PLACE (CT_F_MAC | CT_F_MTU | CT_F_FORWARDS | CT_F_RUNTIME | CT_F_IMPAIR)
#define CT_F_COUNT 17
/* The CT_F_* bits in which a and b differ (0: the same request). */
unsigned ct_spec_diff(const struct ct_spec *a, const struct ct_spec *b);
/* "mtu", "forwards", ... for one bit. */
const char *ct_field_name(unsigned bit);

#endif
