/* SPDX-License-Identifier: MIT */
/*
 * gc: removes what belongs to containers that are gone, and each module's debris. The
 * engine decides and removes; what it removed comes back as events for a front-end to show
 * (ctnet gc prints them); nothing here prints.
 */
#ifndef CTNET_LAUNCH_GC_H
#define CTNET_LAUNCH_GC_H

#include <stdbool.h>

#include "err.h"
#include "kern.h"
#include "state.h"

struct ct_gc_opts {
	bool leases; /* also release the leases of containers that are not running */
};

enum ct_gc_kind {
	CT_GC_CONTAINER,   /* a gone container taken down: name, why, lease_kept */
	CT_GC_ORPHAN,      /* a name without a record: its `orphan` removed */
	CT_GC_SWEPT,       /* a module's sweep of one of its directories: swept */
	CT_GC_NAT_TABLE,   /* ctnet's NAT table rebuilt from the desired state: n differences */
	CT_GC_LEASES_KEPT, /* n leases of names without a record kept (no --leases) */
	CT_GC_TRACE,       /* n trace chains of a killed `ctnet trace` deleted */
	CT_GC_FAILED,      /* something could not be removed (err); gc went on */
};

/* What of a name without a record was found (and removed with all else it held). */
enum ct_gc_orphan {
	CT_GC_LEASE,
	CT_GC_NAT_ENTRIES,
	CT_GC_LINK,
};

struct ct_gc_event {
	enum ct_gc_kind kind;
	const char *name;            /* CONTAINER, ORPHAN: the container's name */
	const char *why;             /* CONTAINER: why it is gone ("namespace gone", ...) */
	bool lease_kept;             /* CONTAINER: its lease kept for when it comes back */
	enum ct_gc_orphan orphan;    /* ORPHAN */
	struct ctnet_swept swept;    /* SWEPT */
	int n;                       /* NAT_TABLE, LEASES_KEPT, TRACE */
	const struct ctnet_err *err; /* FAILED */
};

struct ct_gc_result {
	int removed;     /* containers, orphans, files, chains, and 1 for a NAT table rebuilt */
	int kept_leases; /* as CT_GC_LEASES_KEPT said */
	int failed;      /* CT_GC_FAILED events */
};

/*
 * One gc: containers whose record says they are gone (ct_state_record: namespace or
 * process gone, an earlier boot, an interrupted up or down; one whose namespace or process
 * is alive is never removed, whatever of its network is missing: `ctnet up` repairs it),
 * then leases, NAT entries and links of names without a record, the NAT table if it
 * drifted, each module's sweep of its own directories (launch's, ipam's, nat's), and trace
 * chains of a killed tracer. Each removal (and each failure to remove, counted in
 * res->failed) is reported to report (may be NULL) as it happens. Returns 0, or -errno
 * when the state could not be listed (nothing after that point is done).
 */
int ct_gc(struct ctnet_kern *kern, const struct ct_gc_opts *opts,
	  void (*report)(const struct ct_gc_event *ev, void *data), void *data, struct ct_gc_result *res,
	  struct ctnet_err *err);

/*
 * The launcher's sweep of its own directories: the records' (temp files, lock files of gone
 * names), the CNI attachments' (temp files, attachments of gone containers and their
 * locks) and apply's index's (temp files). Named namespaces need none: a record names each
 * one ctnet made before it exists, and /run/netns is shared with other tools. 0, or the
 * first -errno after sweeping the others.
 */
int ct_sweep(ctnet_swept_fn *cb, void *data, struct ctnet_err *err);

#endif
