/* SPDX-License-Identifier: MIT */
/* Internals of apply (apply.c, applyread.c, applyrun.c), not part of the contract: the
 * plan's reads of the kernel, its reading of the files, and the clash check between the
 * files of a plan and with running containers apply does not own (exposed for the unit
 * tests). */
#ifndef CTNET_LAUNCH_APPLY_INT_H
#define CTNET_LAUNCH_APPLY_INT_H

#include <pthread.h>

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

/* The plan's view is read in two threads while the directory and the files are: the host
 * (addresses, routes, sysctls) before any file is checked, the NAT table (the longest
 * read) for the checks that look up elements, which wait for it only when it is late. */
struct view_reads {
	pthread_t nat_tid, host_tid;
	bool nat_threaded, host_threaded;
	bool nat_ready; /* atomic: view.nat and nat_whole are set */
	pthread_mutex_t lock;
	pthread_cond_t cond;
	/* The NAT thread then lists the records without a file (apply's to remove, or someone
	 * else's to check for clashes) once the files' names are known (dir_done). */
	bool dir_done, dir_ok;
	int records;    /* record_dir(), or -1 */
	struct ct_records recs; /* their listing */
	size_t *others; /* the records without a file (indices in recs) */
	size_t n_others;
	int list_rc;
	struct ctnet_err list_err;
	struct ct_apply_plan *p;
};

/* Every file of the plan (p->v[0..n_files)) read and checked (applyread.c): the first
 * failing file in name order is the error. */
int apply_read_files(struct ct_apply_plan *p, struct view_reads *vr, struct ctnet_err *err);

#endif
