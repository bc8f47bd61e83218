/* SPDX-License-Identifier: MIT */
/* Internals of apply.c, not part of the contract: the clash check between the files of a
 * plan and with running containers apply does not own (exposed for the unit tests). */
#ifndef CTNET_LAUNCH_APPLY_INT_H
#define CTNET_LAUNCH_APPLY_INT_H

#include "launch.h"

/* One address or host-port range claimed by an item (or by a running container). */
struct claim {
	const struct ctnet_addr *a; /* addresses: the address; forwards: host_ip or NULL */
	const struct nat_forward *f;
	size_t item;
	bool host, p2p;
};

struct claims {
	struct claim *addr, *fwd;
	size_t n_addr, n_fwd;
	uint16_t *fwd_max; /* the largest host_hi so far within each group (sorted fwd) */
};

/* The files' claims (p->v[0..n_files): local, host, p2p, forwards), sorted; -EADDRINUSE
 * naming both files when two claim one address or overlapping host ports. */
int apply_claims_build(const struct ct_apply_plan *p, struct claims *c, struct ctnet_err *err);
/* A running container apply does not own against the files' claims: -EADDRINUSE naming
 * the file and the container, or 0. */
int apply_claims_check(const struct ct_apply_plan *p, const struct claims *c, const struct ct_record *r,
		       struct ctnet_err *err);
void apply_claims_free(struct claims *c);

#endif
