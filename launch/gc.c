/* SPDX-License-Identifier: MIT */
/* gc: containers that are gone, then leases, NAT entries and links without a record, then
 * each module's own sweep (see gc.h). */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gc.h"
#include "launch.h"

/* A module's sweep of the directories it owns. */
typedef int sweep_fn(ctnet_swept_fn *cb, void *data, struct ctnet_err *err);

struct gc_ctx {
	struct ctnet_kern *kern;
	const struct ct_gc_opts *opts;
	void (*report)(const struct ct_gc_event *ev, void *data);
	void *data;
	struct ct_gc_result *res;
	char (*names)[CTNET_NAME_MAX + 1]; /* owners seen in leases, NAT state and links */
	size_t n, cap;
	struct ctnet_err *err;
};

/* ev to the caller; `removed` of it counted in res->removed. */
static void gc_emit(struct gc_ctx *g, const struct ct_gc_event *ev, int removed)
{
	g->res->removed += removed;
	if (g->report)
		g->report(ev, g->data);
}

static void gc_failed(struct gc_ctx *g, const struct ctnet_err *e)
{
	g->res->failed++;
	gc_emit(g, &(struct ct_gc_event){ .kind = CT_GC_FAILED, .err = e }, 0);
}

static void gc_record(struct gc_ctx *g, const char *name)
{
	struct ct_record r;
	const char *why = NULL;
	struct ctnet_err err, e2;
	char msg[sizeof(err.msg)];
	/* Decide under the container's lock: an up in progress is waited for, not undone. */
	_cleanup_close_ int lock = record_lock(name, &err);
	bool keep_lease;
	int rc;

	if (lock < 0) {
		gc_failed(g, &err);
		return;
	}
	rc = record_read(name, &r, &err);
	if (rc == -ENOENT)
		return; /* taken down meanwhile */
	if (rc < 0) {
		/* An unreadable record is debris too: what carries the name goes. */
		snprintf(msg, sizeof(msg), "%s", err.msg);
		why = msg;
		record_remove(name, &e2);
	} else if (ct_state_record(&r, &why)) {
		/* Alive: whatever of its network is missing, `ctnet up` repairs in place. */
		return;
	}
	/* A container that died (or ran in an earlier boot) keeps its addresses for when it
	 * comes back; an interrupted up or down is finished as it was meant. */
	keep_lease = rc == 0 && !r.pending && r.stopping != CT_STOP_RELEASE && r.lease && !g->opts->leases &&
		     /* `ctnet run` and CNI attachments never come back under the same name */
		     r.spec.netns_kind != CT_NETNS_FD && strncmp(r.spec.origin, "cni:", 4);
	if (ct_down_locked(g->kern, name, keep_lease, NULL, &err) < 0) {
		gc_failed(g, &err);
		return;
	}
	gc_emit(g,
		&(struct ct_gc_event){ .kind = CT_GC_CONTAINER, .name = name, .why = why ? why : "stale",
				       .lease_kept = keep_lease },
		1);
}

static void gc_orphan(struct gc_ctx *g, const char *name, enum ct_gc_orphan what)
{
	struct ct_record r;
	struct ctnet_err err;
	bool lease = what == CT_GC_LEASE;
	_cleanup_close_ int lock = record_lock(name, &err);

	if (lock < 0 || record_read(name, &r, &err) != -ENOENT) {
		/* It has a record now (an up finished meanwhile), or we cannot tell. */
		return;
	}
	/* A lease outlives its container's record: /run is emptied by a reboot, and the
	 * container must come back with the addresses it had. Only --leases frees it, and
	 * the end of a CNI attachment, which never comes back under its name (as for a
	 * stale record above); one whose attachment file is there is still being made. */
	if (lease && !g->opts->leases && !(cni_attachment_is_name(name) && !cni_attachment_exists(name))) {
		g->res->kept_leases++;
		return;
	}
	if (ct_down_locked(g->kern, name, !lease, NULL, &err) < 0) {
		gc_failed(g, &err);
		return;
	}
	gc_emit(g, &(struct ct_gc_event){ .kind = CT_GC_ORPHAN, .name = name, .orphan = what }, 1);
}

/* Collected first, removed after: the listings may hold their module's lock. */
static int gc_collect(const char *name, struct gc_ctx *g)
{
	if (CTNET_GROW(g->names, g->n, g->cap, 64) < 0)
		return ctnet_errf(g->err, ENOMEM, "gc: out of memory");
	snprintf(g->names[g->n++], sizeof(g->names[0]), "%s", name);
	return 0;
}

static int gc_lease(const struct ipam_lease *l, void *data)
{
	return gc_collect(l->name, data);
}

static int gc_nat_entry(const struct nat_container *c, void *data)
{
	return gc_collect(c->name, data);
}

/* ctnet's links (by their alias) of any name: those without a record are orphans. */
static int gc_links(struct gc_ctx *g)
{
	struct netd_link_info *links = NULL;
	size_t n = 0;
	int r = netd_show(g->kern, NULL, &links, &n, g->err);
	for (size_t i = 0; r >= 0 && i < n; i++)
		if (links[i].container[0] && ctnet_name_check(links[i].container, NULL) == 0)
			r = gc_collect(links[i].container, g);
	free(links);
	return r;
}

/* nft flushed or elements deleted behind our back: rebuild from the desired state. */
static void gc_nat(struct gc_ctx *g)
{
	struct ctnet_err err;
	int n = nat_check(g->kern, NULL, NULL, &err);

	if (n <= 0)
		return;
	if (nat_restore(g->kern, &err) < 0) {
		gc_failed(g, &err);
		return;
	}
	gc_emit(g, &(struct ct_gc_event){ .kind = CT_GC_NAT_TABLE, .n = n }, 1);
}

static void gc_swept(const struct ctnet_swept *s, void *data)
{
	gc_emit(data, &(struct ct_gc_event){ .kind = CT_GC_SWEPT, .swept = *s }, s->n);
}

/* Each module sweeps what it owns, after the records of gone containers went (their lock
 * files and CNI attachments are debris only then). */
static void gc_sweep(struct gc_ctx *g)
{
	static sweep_fn *const sweeps[] = { ct_sweep, ipam_sweep, nat_sweep };

	for (size_t i = 0; i < ARRAY_SIZE(sweeps); i++) {
		struct ctnet_err err;
		if (sweeps[i](gc_swept, g, &err) < 0)
			gc_failed(g, &err);
	}
}

/* Chains of a `ctnet trace` that was killed. */
static void gc_trace(struct gc_ctx *g)
{
	struct ctnet_err err;
	unsigned swept = 0;

	if (nat_trace_sweep(g->kern, &swept, &err) == 0 && swept)
		gc_emit(g, &(struct ct_gc_event){ .kind = CT_GC_TRACE, .n = (int)swept }, (int)swept);
}

int ct_gc(struct ctnet_kern *kern, const struct ct_gc_opts *opts,
	  void (*report)(const struct ct_gc_event *ev, void *data), void *data, struct ct_gc_result *res,
	  struct ctnet_err *err)
{
	static const struct ct_gc_opts defaults;
	struct gc_ctx g = { .kern = kern, .opts = opts ? opts : &defaults, .report = report, .data = data,
			    .res = res, .err = err };
	struct ct_records recs;
	size_t n_leases, n_nat;
	int rc;

	*res = (struct ct_gc_result){ 0 };
	/* On a read-only or full state dir gc would finish nothing and could leave more half
	 * done: it changes nothing and says so (once space is back, it finishes everything). */
	if ((rc = ct_state_writable(err)) < 0)
		return rc;
	if ((rc = ct_records_load(-1, &recs, err)) < 0)
		return rc;
	for (size_t i = 0; i < recs.n; i++)
		gc_record(&g, recs.v[i].name);
	ct_records_free(&recs);
	if ((rc = ipam_list(gc_lease, &g, err)) < 0)
		goto out;
	n_leases = g.n;
	if ((rc = nat_list_containers(gc_nat_entry, &g, err)) < 0)
		goto out;
	n_nat = g.n;
	if ((rc = gc_links(&g)) < 0)
		goto out;
	for (size_t i = 0; i < g.n; i++)
		gc_orphan(&g, g.names[i], i < n_leases ? CT_GC_LEASE : i < n_nat ? CT_GC_NAT_ENTRIES : CT_GC_LINK);
	gc_nat(&g);
	gc_sweep(&g);
	if (res->kept_leases)
		gc_emit(&g, &(struct ct_gc_event){ .kind = CT_GC_LEASES_KEPT, .n = res->kept_leases }, 0);
	gc_trace(&g);
out:
	free(g.names);
	return rc < 0 ? rc : 0;
}

int ct_sweep(ctnet_swept_fn *cb, void *data, struct ctnet_err *err)
{
	static sweep_fn *const sweeps[] = { record_sweep, cni_attachment_sweep, ct_index_sweep, ct_dns_sweep };
	int first = 0;

	for (size_t i = 0; i < ARRAY_SIZE(sweeps); i++) {
		struct ctnet_err e;
		int r = sweeps[i](cb, data, &e);
		if (r < 0 && !first) {
			first = r;
			if (err)
				*err = e;
		}
	}
	return first;
}
