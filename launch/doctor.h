/* SPDX-License-Identifier: MIT */
/*
 * doctor's engine: every recorded container judged by ct_judge (its faults become
 * findings with fixes), then the modules' host checks over the live ones (netd: clashing
 * addresses and routes, MTU; nat: other tables, sysctls, conntrack, listeners). Nothing
 * here prints: tools/doctor.c prints the findings.
 */
#ifndef CTNET_LAUNCH_DOCTOR_H
#define CTNET_LAUNCH_DOCTOR_H

#include <stdbool.h>
#include <stddef.h>

#include "err.h"
#include "kern.h"

struct ctnet_findings;
struct ct_fault;
/* Every recorded container (or name's): findings into out, how many were checked in
 * *n_checked. inside: judge each container inside its namespace (else from the host). hc:
 * the host config the front-end read (ctnet.conf(5)), for the cross-host checks. */
struct ctnet_hostconf;
int ct_doctor(struct ctnet_kern *kern, const char *name, bool inside, const struct ctnet_hostconf *hc,
	      struct ctnet_findings *out, size_t *n_checked, struct ctnet_err *err);
/* The cross-host checks (doctorcluster.c) on what ct_doctor read: hc's CLUSTER_CIDR against
 * NAT's recorded ones, the routes to other hosts' ranges inside them (host may be NULL), and
 * what masquerades containers' traffic to them (the kernel's sets in nat, other tools' rules
 * in nv; either may be NULL). Nothing when no cluster CIDR is recorded or configured. */
struct netd_host_view;
struct nat_counters;
struct nat_doctor_view;
struct nat_doctor_ct;
int ct_doctor_cluster(const struct ctnet_hostconf *hc, const struct netd_host_view *host, const struct nat_counters *nat,
		      const struct nat_doctor_view *nv, const struct nat_doctor_ct *nt, size_t n_nat,
		      struct ctnet_findings *out, struct ctnet_err *err);
/* A fault of container name as a doctor finding (severity, code, fix). host_ifname is the
 * record's; netns its namespace path (for the fix's `ip -n`). */
void ct_fault_finding(const char *name, const char *host_ifname, const char *netns,
		      const struct ct_fault *f, struct ctnet_findings *out);

#endif
