/* SPDX-License-Identifier: MIT */
/* up / converge / down of one container, and the one judge of a container (ct_judge). */
#ifndef CTNET_LAUNCH_UP_H
#define CTNET_LAUNCH_UP_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#include "../nat/nat.h"
#include "../netd/netd.h"
#include "err.h"
#include "kern.h"
#include "record.h"
#include "spec.h"

/* What an up changed on an existing container: repairs and in-place changes. */
#define CT_REPORT_MAX 48
struct ct_report {
	size_t n;
	bool truncated;
	struct ct_change {
		bool repair; /* something had drifted (else: the spec changed) */
		char what[200];
	} v[CT_REPORT_MAX];
};
void ct_report_add(struct ct_report *rep, bool repair, const char *fmt, ...) CTNET_PRINTF(3, 4);

/* The host config's part of NAT (EXTERNAL_INTERFACE, CLUSTER_CIDR: each when the file has
 * the key) made the desired state and the kernel's (nat_set_host): what a front-end does
 * once before its first ct_up. 0 at once when the file has neither key. */
struct ctnet_hostconf;
int ct_host_apply(struct ctnet_kern *kern, const struct ctnet_hostconf *hc, struct ctnet_err *err);

/*
 * Brings spec up, or converges an existing container to it:
 * - not there (or stale): allocate, plumb, NAT, record; any failure undoes every step;
 * - there with the same spec: every piece is checked against the kernel (host and container
 *   links, addresses, routes, default route, NAT elements, sysctls) and repaired;
 * - there with another spec: the difference is applied in place (forwards, MTU, MAC) or,
 *   for fields that cannot change in place, refused with -EEXIST naming the field and
 *   nothing changed.
 * rep (may be NULL) lists what was repaired or changed. *out is the record afterwards.
 */
int ct_up(struct ctnet_kern *kern, const struct ct_spec *spec, struct ct_record *out, struct ct_report *rep,
	  struct ctnet_err *err);
/* Reads shared by many converges in a row (apply, watch): the kernel's NAT table once. */
struct netd_host_view;
struct ct_view {
	struct nat_counters *nat;      /* NULL: each converge reads it */
	struct netd_host_view *host;   /* the host's addresses and routes; NULL: asked per container */
	bool nat_whole;                /* ctnet's tables and chains were all there */
	bool sysctls_read;             /* ip_forward was on when the view was made */
	bool sysctls6_read;            /* and IPv6 forwarding */
	bool deep;                     /* ct_check_view looks inside each namespace too */
	bool nat_later;                /* nat is still being read: ct_check_view leaves the NAT
	                                * elements to its caller (ct_nat_of, nat_counters_missing) */
};
/* The converge step alone, for a caller holding record_lock(name) with the record read;
 * view may be NULL. */
int ct_converge(struct ctnet_kern *kern, const struct ct_spec *spec, const struct ct_record *have, const struct ct_view *view,
		struct ct_record *out, struct ct_report *rep, struct ctnet_err *err);
/* Converges the running container name to its own record, as an identical `ctnet up`
 * would (what doctor's fixes say): -ENOENT without a record, -ESRCH when it is gone (gc's),
 * -EBUSY when an up or down of it was interrupted, -EINVAL for a shared one. */
int ct_repair(struct ctnet_kern *kern, const char *name, struct ct_record *out, struct ct_report *rep,
	      struct ctnet_err *err);
/*
 * Read-only, without the lock: 0 when the running container `have` matches spec and the
 * kernel holds all of it (links, addresses and routes on both sides, its route_localnet,
 * NAT elements, impairment none), 1 when a converge would change or repair something, or
 * -errno. Needs a view with nat and host; 1 without. What is the host's, not one
 * container's, is the caller's to check once: the global sysctls (view->sysctls_read) and
 * ctnet's table and chains (view->nat_whole: without them no element is judged). Apply's
 * check of unchanged files.
 * Without view->deep a point-to-point container's inside is judged from the host (its
 * link's carrier): one dump per kind, no namespace entered, for 5,000 containers.
 * With view->nat_later (and nat NULL) all but the NAT elements are judged.
 */
int ct_check_view(struct ctnet_kern *kern, const struct ct_spec *spec, const struct ct_record *have, const struct ct_view *view,
		  struct ctnet_err *err);

/*
 * What is wrong with a container, as the kernel shows it now: the one judge behind up's
 * converge decision, apply's check, status, CNI CHECK and watch. A fault is typed (kind,
 * and for links netd's kind), names its object and has a line for people.
 */
enum ct_fault_kind {
	CT_FAULT_STALE,       /* gone (namespace or process, an earlier boot, interrupted): first and only */
	CT_FAULT_LINK,        /* a link, address or route on either side (.link: enum netd_fault_kind) */
	CT_FAULT_EXTRA_VETH,  /* an extra veth missing */
	CT_FAULT_FORWARDING,  /* net.ipv4.ip_forward or IPv6 forwarding off (the host's) */
	CT_FAULT_LOCALNET,    /* route_localnet of its device off (its 127.0.0.1 forwards) */
	CT_FAULT_NAT_TABLE,   /* ctnet's nft table or a chain missing (the host's) */
	CT_FAULT_NAT,         /* some of its NAT elements missing */
	CT_FAULT_HOST_IP,     /* a forward pinned (--host-ip) to an address the host does not have */
	CT_FAULT_UNJUDGED,    /* doctor: the kernel could not be asked (text says why): first and only */
};
#define CT_FAULTS_MAX 20
struct ct_fault {
	enum ct_fault_kind kind;
	int link;             /* CT_FAULT_LINK: enum netd_fault_kind */
	char object[64];
	char text[160];
};
struct ct_health {
	size_t n;
	bool truncated;
	struct ct_fault v[CT_FAULTS_MAX];
};
/*
 * Judges the container r against the kernel: its liveness, then (private ones) its links,
 * addresses and routes on both sides (inside: entering its namespace; otherwise a
 * point-to-point container's inside is judged by the host link's carrier), extra veths, the
 * sysctls NAT needs and its NAT elements. view (may be NULL: everything is asked) supplies
 * the host's addresses and routes, the NAT table and whether the forwarding sysctls were on.
 * 0 with h filled (h->n == 0: whole), or -errno when the kernel could not be asked.
 */
int ct_judge(struct ctnet_kern *kern, const struct ct_record *r, const struct ct_view *view, bool inside,
	     struct ct_health *h, struct ctnet_err *err);
/* "up" (no fault), "stale" (gone) or "degraded" (there, something missing: up repairs it). */
const char *ct_health_state(const struct ct_health *h);
/* The parts of a view for many judgements, each read once on kern (a thread's own): ctnet's
 * NAT table (v->nat, NULL when unreadable; v->nat_whole), and the host's addresses and
 * routes (v->host, NULL when unreadable: its -errno returned, err filled) with the forwarding
 * sysctls (v->sysctls_read, v->sysctls6_read). */
void ct_view_read_nat(struct ctnet_kern *kern, struct ct_view *v);
int ct_view_read_host(struct ctnet_kern *kern, struct ct_view *v, struct ctnet_err *err);
/* The NAT elements a running container holds (what ct_check_view looks up). */
void ct_nat_of(const struct ct_spec *want, const struct ct_record *have, struct nat_container *c);
int ct_up_view(struct ctnet_kern *kern, const struct ct_spec *spec, const struct ct_view *view, struct ct_record *out,
	       struct ct_report *rep, struct ctnet_err *err);
int ct_down(struct ctnet_kern *kern, const char *name, bool keep_lease, bool *was_up, struct ctnet_err *err);
/* ct_down of a container managed by origin (apply's "apply:DIR"): under the lock, a
 * record whose origin is no longer origin (re-made by hand, or by someone else, since the
 * caller looked) is left as it is: 0 with *left set and err saying whose it is now. */
int ct_down_owned(struct ctnet_kern *kern, const char *name, const char *origin, bool keep_lease, bool *left,
		  struct ctnet_err *err);
/* ct_down for a caller that holds record_lock(name) (gc decides under the lock). */
int ct_down_locked(struct ctnet_kern *kern, const char *name, bool keep_lease, bool *was_up, struct ctnet_err *err);
/* Whether interface ifname exists in this namespace (SIOCGIFINDEX: no netlink GETLINK,
 * whose peer-namespace lookup grows with the number of namespaces). */
bool ct_link_present(struct ctnet_kern *kern, const char *ifname);
/* Whether the container is up (1: alive and, for private ones, the host link present) or
 * stale (0, *why says why). No NAT check (see status). */
int ct_state(struct ctnet_kern *kern, const struct ct_record *r, const char **why);
/* ct_state without the link: what the record alone says (a caller with a host view
 * checks the link itself). */
int ct_state_record(const struct ct_record *r, const char **why);

#endif
