/* SPDX-License-Identifier: MIT */
#ifndef CTNET_NAT_H
#define CTNET_NAT_H

#include <stdbool.h>
#include <stdint.h>
#include <stddef.h>

#include "addr.h"
#include "err.h"
#include "hostconf.h"
#include "kern.h"
#include "name.h"
#include "state.h"

enum nat_proto { NAT_TCP = 6, NAT_UDP = 17 };

/* "tcp:8080:80", "udp:53", "tcp:8000-8010:80-90" (nixos-container HOST_PORT syntax). */
struct nat_forward {
	enum nat_proto proto;
	uint16_t host_lo, host_hi;           /* host_lo == host_hi for one port */
	uint16_t container_lo, container_hi; /* same length as the host range */
	bool has_host_ip;
	struct ctnet_addr host_ip;           /* --host-ip: only this destination */
};

#define NAT_MAX_FORWARDS 64

/* One container as NAT sees it. */
struct nat_container {
	const char *name;
	struct ctnet_addr addr;  /* IPv4 container address */
	bool has_addr6;
	struct ctnet_addr addr6; /* IPv6 container address */
	const char *iface;       /* host-side interface (anti-spoofing; "internal" set) */
	/* The container side's MAC (bridge ports send only from it, ARP included); without
	 * one the port's frames are checked by address only. */
	bool has_mac;
	uint8_t mac[6];
	/* The bridge iface is a port of (NULL or "": a veth that routes by itself): traffic
	 * leaving through it is never masqueraded (bridged by br_netfilter, see ruleset.c). */
	const char *bridge;
	/* The host side's own addresses on iface (point-to-point links; family 0: none):
	 * with isolation, other containers reach no host service bound to them. */
	struct ctnet_addr host, host6;
	size_t n_forwards;
	struct nat_forward forwards[NAT_MAX_FORWARDS];
};

int nat_forward_parse(const char *spec, struct nat_forward *out, struct ctnet_err *err);
/* Whether two forwards claim a common host port (same protocol and host IP scope). */
bool nat_forward_overlaps(const struct nat_forward *a, const struct nat_forward *b);
/* "tcp:8080:80" or "tcp:8000-8010:80-90" into buf (>= 64 bytes). */
const char *nat_forward_str(const struct nat_forward *f, char *buf, size_t len);

/* Creates ctnet's tables if missing (idempotent); enables ip_forward. Keeps the recorded
 * isolation setting and cluster CIDRs. */
int nat_init(struct ctnet_kern *kern, const char *const *external_ifaces, size_t n, struct ctnet_err *err);
/* The same; isolate 1: containers reach each other only through forwards, 0: open (the
 * default), -1: as recorded. */
int nat_init_isolate(struct ctnet_kern *kern, const char *const *external_ifaces, size_t n, int isolate,
		     struct ctnet_err *err);
/*
 * The host's part of NAT's desired state (ctnet.conf(5): EXTERNAL_INTERFACE, CLUSTER_CIDR),
 * each list replacing the recorded one when its set_* is true, kept otherwise. Cluster
 * CIDRs are networks (host bits zero), IPv4 or IPv6: traffic from a container to them is
 * never masqueraded (sets cluster4 and cluster6, flags interval); one inside another is
 * dropped (nft refuses overlapping intervals).
 */
struct nat_host {
	bool set_ext;
	size_t n_ext;
	const char *const *ext;
	bool set_cluster;
	size_t n_cluster;
	const struct ctnet_addr *cluster;
};
/* Whether two lists of networks hold the same ones, in any order. */
bool nat_cluster_same(const struct ctnet_addr *a, size_t na, const struct ctnet_addr *b, size_t nb);
/* h from the keys the host config has (an absent key: set_* false, the recorded list
 * kept); ext receives the interface names' pointers. */
void nat_host_of_conf(const struct ctnet_hostconf *hc, struct nat_host *h,
		      const char *ext[CTNET_HOSTCONF_EXT_MAX]);
/* nat_init_isolate with h's lists (set_ext false: the recorded interfaces kept). */
int nat_init_host(struct ctnet_kern *kern, const struct nat_host *h, int isolate, struct ctnet_err *err);
/* Records h's lists and makes the kernel's table hold them, in one nft transaction (the
 * whole table from the desired state when there is none). A no-op (no kernel access, no
 * state dir made) when they equal the recorded ones. */
int nat_set_host(struct ctnet_kern *kern, const struct nat_host *h, struct ctnet_err *err);
/* The stored cluster CIDRs become exactly these (for ctnet-cni, whose network config carries
 * the cluster list): nat_set_host with set_cluster only. */
int nat_set_cluster(struct ctnet_kern *kern, const struct ctnet_addr *cidrs, size_t n, struct ctnet_err *err);
/* Isolation on or off, keeping the recorded external interfaces (for front-ends). */
int nat_isolate(struct ctnet_kern *kern, bool on, struct ctnet_err *err);
/*
 * Adds a container and its forwards in one nft transaction (init included when the table
 * is missing), and records it in the desired state. Idempotent for identical input; a host
 * port owned by another container fails with -EADDRINUSE naming it, changing nothing.
 */
int nat_add(struct ctnet_kern *kern, const struct nat_container *c, struct ctnet_err *err);
/* 1 and the owner's name when a recorded container forwards one of f's host ports, else 0. */
int nat_port_owner(const struct nat_forward *f, char *owner, size_t len);
/* Removes a container, its forwards and their conntrack entries. Absent is success. */
int nat_del(struct ctnet_kern *kern, const char *name, struct ctnet_err *err);
/* Unknown container: -ENOENT. A forward already there: success. */
int nat_forward_add(struct ctnet_kern *kern, const char *name, const struct nat_forward *f, struct ctnet_err *err);
/* Matches on protocol, host ports and host ip; the container ports are not compared. */
int nat_forward_del(struct ctnet_kern *kern, const char *name, const struct nat_forward *f, struct ctnet_err *err);
/*
 * Design (see DESIGN.md "NAT"): one table `inet ctnet` with fixed chains (antispoof,
 * prerouting, output, postrouting) over named sets and maps: ifaces, ext_ifaces, masq4/6,
 * spoof4/6 (iface . address, with per-element counters = packets a container sent),
 * cluster4/6 (interval sets: destinations never masqueraded),
 * fwd4/fwd6 (proto . port : address . port) and fwd4ip/fwd6ip (host ip . proto . port : ...,
 * with per-element counters = connections forwarded). Adding or removing a container or a
 * forward is only element add/delete, one nft transaction per call. The desired state lives
 * in $CTNET_STATE_DIR/nat/; when the table vanished behind our back a change rebuilds it.
 */

/* Opt-in: accept rules (comment "ctnet:docker") for ctnet's veths (ve-*) at the top of
 * Docker's DOCKER-USER chain in ip/ip6 filter when it exists; idempotent; *added counts
 * rules added (0: none needed, or no Docker). nat_docker_remove deletes them again. */
int nat_docker_accept(struct ctnet_kern *kern, unsigned *added, struct ctnet_err *err);
int nat_docker_remove(struct ctnet_kern *kern, unsigned *removed, struct ctnet_err *err);

/* Rebuilds ctnet's table from the desired state in one transaction. */
int nat_restore(struct ctnet_kern *kern, struct ctnet_err *err);
/* nat_restore without putting route_localnet back on every container's device (which asks
 * the kernel for each container's link: ~0.2 s at 1,000 containers). For a caller that
 * checks those sysctls itself, as `ctnet watch` does after `nft flush ruleset`, which leaves
 * sysctls alone. */
int nat_restore_table(struct ctnet_kern *kern, struct ctnet_err *err);
/* Deletes ctnet's table only; the desired state is kept (nat_restore brings it back). */
int nat_flush(struct ctnet_kern *kern, struct ctnet_err *err);
/*
 * Compares the kernel with the desired state; cb (may be NULL) gets one line per
 * difference ("missing element fwd4 tcp . 8080 : 10.233.1.2 . 80"). Returns the number of
 * differences (0 = in sync) or -errno.
 */
int nat_check(struct ctnet_kern *kern, void (*cb)(const char *line, void *data), void *data, struct ctnet_err *err);

/*
 * Switches on the sysctls NAT needs in this namespace (see ctnet-nat(8)): ip_forward, IPv6
 * forwarding with ipv6, and route_localnet on the device of c (may be NULL) when the host
 * reaches one of its forwards at 127.0.0.1. Returns how many were off (0: all in place), their names in changed (may be NULL), or -errno.
 */
int nat_sysctls_repair(struct ctnet_kern *kern, bool ipv6, const struct nat_container *c, char *changed, size_t len,
		       struct ctnet_err *err);
/* Read-only: how many of those sysctls are off (globals: ip_forward and IPv6 forwarding
 * too, not only c's route_localnet), or -errno. l3dev: c's device when the caller knows it
 * (its host link, or the bridge of a bridge port); NULL: looked up. */
int nat_sysctls_off(struct ctnet_kern *kern, bool ipv6, const struct nat_container *c, const char *l3dev, bool globals);
/* nat_sysctls_off with the names of those that are off in names (", "-separated). */
int nat_sysctls_which(struct ctnet_kern *kern, bool ipv6, const struct nat_container *c, const char *l3dev, bool globals,
		      char *names, size_t len);

/* The route_localnet sysctl (a /proc/sys path) that nat_sysctls_repair keeps at 1 for c: 1
 * with path filled, 0 when c needs none (no forward reachable at 127.0.0.1, or its device is
 * not there), or -errno. For a watcher that reads it without a netlink lookup each time. */
int nat_localnet_path(struct ctnet_kern *kern, const struct nat_container *c, char *path, size_t len, struct ctnet_err *err);

/* Whether a forward of c is pinned (--host-ip) to an address the host does not have (its
 * traffic can never arrive): 1 with the first such address in *gone, 0, or -errno. One
 * route lookup per pinned forward. */
int nat_host_ip_gone(struct ctnet_kern *kern, const struct nat_container *c, struct ctnet_addr *gone);

/* Loopback forwards by BPF (lofwd.c): 1 with why filled when they are recorded as the way
 * but their programs are missing from bpffs or detached from their cgroup (doctor, watch),
 * else 0. A few bpf(2) calls, no netlink. */
int nat_lofwd_fault(char *why, size_t len);

/* Kernel counters for `list`. */
struct nat_counters;
struct nat_stat {
	bool present; /* the elements exist in the kernel */
	uint64_t packets, bytes;
};
int nat_counters_read(struct ctnet_kern *kern, struct nat_counters **out, struct ctnet_err *err);
void nat_counters_free(struct nat_counters *c);
/* Packets and bytes the container sent (IPv4 and IPv6). */
void nat_counters_container(const struct nat_counters *cn, const struct nat_container *c,
			    struct nat_stat *out);
/* How many of c's elements (or of the table's chains) the kernel lacks; 0 when in place.
 * Checks many containers against one read of the kernel, without the desired state. */
int nat_counters_missing(const struct nat_counters *cn, const struct nat_container *c);
/* Whether ctnet's tables and every chain of them were there when cn was read, holding
 * no rule of another tool's. */
bool nat_counters_whole(const struct nat_counters *cn);
/* Whether one of ctnet's chains holds a rule that is not ctnet's: true with the chain
 * ("inet ctnet forward") in chain. */
bool nat_counters_foreign(const struct nat_counters *cn, char *chain, size_t len);
/* New connections (packets seen by the NAT chains) through one forward. */
void nat_counters_forward(const struct nat_counters *cn, const struct nat_container *c,
			  const struct nat_forward *f, struct nat_stat *out);

/* Calls cb for each recorded container (desired state), in name order. */
int nat_list_containers(int (*cb)(const struct nat_container *c, void *data), void *data,
			struct ctnet_err *err);
/* Sweeps nat's own directories (nat/, containers/, ports/) of the temp files of killed
 * writers, each removal reported to cb (ctnet gc). 0 or the first -errno. */
int nat_sweep(ctnet_swept_fn *cb, void *data, struct ctnet_err *err);
/* Whether nat's state dir can be written (ctnet_dir_probe of $CTNET_STATE_DIR/nat, made
 * when missing): a caller about to change the kernel for a container asks first. Every
 * change through nat (add, del, forwards, init, restore, flush) proves it itself, under
 * the store's lock, before its first kernel change. */
int nat_writable(struct ctnet_err *err);

/*
 * Closes every handle of kern (ctnet_kern_close). With async, when kern
 * deleted nft objects, a short-lived child holds the sockets' last references so that the
 * kernel's RCU wait on close (~10-20 ms) is not paid by the caller (see nat/release.c).
 * Call at the end of an operation; later calls with kern reopen what they need.
 */
void nat_release(struct ctnet_kern *kern, bool async);

/* --- doctor (doctor.c): what other tables, sysctls and sockets do to the containers --- */
struct ctnet_findings;
struct nat_doctor_ct {
	const struct nat_container *c;
	const char *l3iface; /* the interface its routed traffic uses: host side, or its bridge */
};
/*
 * Findings for these containers (and host-wide ones) appended to out: foreign drop
 * policies and drop rules on every hook, foreign DNAT of their host ports at an earlier
 * priority, ip_forward / route_localnet / IPv6 forwarding, ctnet's table, pinned external
 * interfaces, conntrack fill, host processes listening on forwarded ports. uplink: the
 * interface of the default route (NULL when unknown). One dump of chains and one of rules.
 */
int nat_doctor(struct ctnet_kern *kern, const struct nat_doctor_ct *cts, size_t n, const char *uplink,
	       struct ctnet_findings *out, struct ctnet_err *err);
/*
 * nat_doctor in steps, for a caller that reads other things meanwhile: nat_doctor_read reads
 * what needs no container (the ruleset, sysctls, sockets, conntrack fill, ctnet's config;
 * safe in a thread of its own); nat_doctor_localnet_start reads each container's
 * route_localnet in a thread while the caller goes on (cts must stay valid and be what
 * nat_doctor_check gets); nat_doctor_check evaluates and appends the findings, in
 * nat_doctor's order (it starts the reads itself when the caller did not).
 */
struct nat_doctor_view;
int nat_doctor_read(struct ctnet_kern *kern, struct nat_doctor_view **out, struct ctnet_err *err);
void nat_doctor_localnet_start(struct nat_doctor_view *v, const struct nat_doctor_ct *cts, size_t n);
int nat_doctor_check(struct nat_doctor_view *v, const struct nat_doctor_ct *cts, size_t n, const char *uplink,
		     struct ctnet_findings *out, struct ctnet_err *err);
void nat_doctor_view_free(struct nat_doctor_view *v);
/* doctor's DNS path of one container (doctor_dns.c): queries from addr arriving on
 * l3iface for server, port 53 (one family). */
struct nat_dns_path {
	const char *name, *l3iface;
	struct ctnet_addr addr, server;
};
/* On the view nat_doctor_read made: with listen, a finding for the servers no socket of the
 * host serves (udp and tcp 53); for each path, other tables' rules and policies that drop
 * its queries (input), one finding per culprit with the fix. */
void nat_doctor_dns(const struct nat_doctor_view *v, const struct nat_dns_path *p, size_t n, bool listen,
		    struct ctnet_findings *out);
/* doctor's cross-host NAT checks (doctor_cluster.c). The cluster CIDRs NAT recorded (its
 * desired state): how many, at most max (0 when nothing is recorded), or -errno. */
int nat_cluster_recorded(struct ctnet_addr *out, size_t max, struct ctnet_err *err);
/* One cluster CIDR and an address inside it a container would reach (another host's, when
 * a route leads there; oif: that route's device, "" unknown). */
struct nat_cluster_probe {
	struct ctnet_addr net, dst;
	const char *oif;
};
/* Findings: a probe's CIDR missing from (or an extra CIDR in) the kernel's sets (cn, may be
 * NULL), and other tools' postrouting nat rules that masquerade a container's packet to a
 * probe's dst (v: nat_doctor_read's view, may be NULL). probes: the recorded CIDRs. */
void nat_doctor_cluster(const struct nat_doctor_view *v, const struct nat_counters *cn, const struct nat_doctor_ct *cts,
			size_t n, const struct nat_cluster_probe *probes, size_t n_probes, struct ctnet_findings *out);
/* The kernel's cluster CIDRs (both sets) into out, how many, or -1 when ctnet's table or
 * the sets were not there. */
int nat_counters_cluster(const struct nat_counters *cn, struct ctnet_addr *out, size_t max);
/* Whether the kernel's cluster sets held other CIDRs than the recorded ones when cn was
 * read (drift: nat_restore puts them back). */
bool nat_counters_cluster_drift(const struct nat_counters *cn);
/* The cheap subset for up and status: ip_forward, and drop-policy forward chains of other
 * tables that drop traffic from l3iface (NULL: a generic ctnet veth). One chain dump; rules
 * only of the tables that have such a chain. */
int nat_doctor_quick(struct ctnet_kern *kern, const char *l3iface, struct ctnet_findings *out, struct ctnet_err *err);
/* The sysctl interface names under net.ipv4.conf where ctnet switches route_localnet on
 * for a container whose host side is iface ("all" today). */
size_t nat_localnet_ifaces(const char *iface, const char **out, size_t max);

/* --- trace (trace.c): who passed and who dropped a container's packets --- */
/* What to trace: packets from or to addr/addr6 (only port `port` when not 0, as source or
 * destination) and to the host ports of forwards. */
struct nat_trace_match {
	struct ctnet_addr addr;
	bool has_addr6;
	struct ctnet_addr addr6;
	uint16_t port;
	size_t n_forwards;
	const struct nat_forward *forwards;
};
/* One kernel trace event: a packet (id) passed a chain's rule or policy. */
struct nat_trace_event {
	uint32_t id;
	int family;        /* NFPROTO_* */
	char table[64], chain[64];
	int hook, prio;    /* of a base chain (hook -1 when not known / not a base chain) */
	int type;          /* NFT_TRACETYPE_RULE, _RETURN, _POLICY */
	uint64_t handle;   /* the rule (type RULE) */
	char comment[128]; /* the rule's comment, when known */
	int verdict;       /* NF_ACCEPT, NF_DROP, NFT_JUMP, NFT_GOTO, NFT_RETURN, NFT_CONTINUE */
	char jump[64];
	bool has_packet;
	char src[46], dst[46];
	uint8_t proto, tcp_flags;
	uint16_t sport, dport;
	char iif[16], oif[16];
	bool header_only; /* the tracer's own chain, or the end of a chain's rules: only the
			   * packet headers matter (the kernel sends them once per hook) */
};
struct nat_trace;
/* Subscribes to NFNLGRP_NFTRACE, then adds the chains trace-PID-START(-out) (prerouting and
 * output, priority -301) to ctnet's table that set nftrace on matching packets. */
int nat_trace_start(struct ctnet_kern *kern, const struct nat_trace_match *m, struct nat_trace **out, struct ctnet_err *err);
int nat_trace_fd(const struct nat_trace *t);
/* Reads what is waiting (non-blocking): cb per event. 1 when something was read, 0 none. */
int nat_trace_read(struct nat_trace *t, void (*cb)(const struct nat_trace_event *ev, void *data),
		   void *data, struct ctnet_err *err);
/* Deletes the chains and closes (NULL: nothing). */
int nat_trace_stop(struct ctnet_kern *kern, struct nat_trace *t, struct ctnet_err *err);
/* Deletes trace chains whose tracer (pid and start time) is gone (ctnet gc). */
int nat_trace_sweep(struct ctnet_kern *kern, unsigned *removed, struct ctnet_err *err);
/*
 * nftables events (monitor.c), for `ctnet watch`: a non-blocking socket in the
 * NFNLGRP_NFTABLES group. nat_monitor_read drains it and returns how many messages deleted
 * something of ctnet's table (0: nothing of ours removed), -ENOBUFS when events were lost
 * (check everything), or -errno.
 */
struct nat_monitor;
int nat_monitor_open(struct nat_monitor **out, struct ctnet_err *err);
int nat_monitor_fd(const struct nat_monitor *m);
int nat_monitor_read(struct nat_monitor *m, struct ctnet_err *err);
void nat_monitor_close(struct nat_monitor *m);

#endif
