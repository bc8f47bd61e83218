/* SPDX-License-Identifier: MIT */
/*
 * Link impairment on both ends of a pair, each end's egress, so both directions alike:
 *   delay/jitter/loss:         root netem 1:
 *   ... and a rate:            root netem 1:, tbf 2: under it (parent 1:1)
 *   a rate alone:              root tbf 3: (no netem: kernels without sch_netem can shape)
 * Changes are NLM_F_REPLACE: on the same handle the kernel changes the qdisc in place
 * (netem_change, tbf_change); another handle grafts a new root over the old one. Either
 * way the link and its flows stay (packets queued at that instant may be dropped).
 */
#include "netd.h"

#include <errno.h>
#include <libmnl/libmnl.h>
#include <linux/pkt_sched.h>
#include <linux/rtnetlink.h>
#include <netlink/msg.h>
#include <netlink/route/qdisc.h>
#include <netlink/route/qdisc/netem.h>
#include <netlink/route/qdisc/tbf.h>
#include <netlink/route/tc.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "nl.h"

#define H_NETEM TC_H_MAKE(1u << 16, 0)
#define H_NETEM_CHILD TC_H_MAKE(1u << 16, 1)
#define H_TBF TC_H_MAKE(2u << 16, 0)
#define H_TBF_ROOT TC_H_MAKE(3u << 16, 0)

/* One end as the kernel has it. */
struct qd_end {
	bool root_found, child_found;
	uint32_t root_handle, child_handle;
	char root_kind[16], child_kind[16];
	struct netd_impair im; /* from our netem/tbf */
};

struct qd_reply {
	struct qd_end *end;
	bool child;
};

static uint32_t loss_to_kernel(uint32_t ppm)
{
	if (ppm >= NETD_IMPAIR_LOSS_MAX_PPM)
		return UINT32_MAX;
	return (uint32_t)(((uint64_t)ppm * UINT32_MAX + 500000) / 1000000);
}

static uint32_t loss_from_kernel(uint32_t p)
{
	return (uint32_t)(((uint64_t)p * 1000000 + UINT32_MAX / 2) / UINT32_MAX);
}

static void netem_opts(const struct nlattr *opt, struct netd_impair *im)
{
	const struct tc_netem_qopt *q = mnl_attr_get_payload(opt);
	size_t len = mnl_attr_get_payload_len(opt), off = NLA_ALIGN(sizeof(*q));
	uint64_t lat_ns = 0, jit_ns = 0;
	bool has_lat = false, has_jit = false;

	if (len < sizeof(*q))
		return;
	im->loss_ppm = loss_from_kernel(q->loss);
	/* The 64-bit nanosecond values (kernel >= 4.15) are exact; the tick fields are not. */
	if (len > off) {
		const char *end = (const char *)q + len;
		const struct nlattr *a = (const void *)((const char *)q + off);
		for (; mnl_attr_ok(a, (int)(end - (const char *)a)); a = mnl_attr_next(a)) {
			if (mnl_attr_get_type(a) == TCA_NETEM_LATENCY64 &&
			    mnl_attr_get_payload_len(a) == 8) {
				memcpy(&lat_ns, mnl_attr_get_payload(a), 8);
				has_lat = true;
			} else if (mnl_attr_get_type(a) == TCA_NETEM_JITTER64 &&
				   mnl_attr_get_payload_len(a) == 8) {
				memcpy(&jit_ns, mnl_attr_get_payload(a), 8);
				has_jit = true;
			}
		}
	}
	/* Ticks: 64 ns each since Linux 2.6.31 (PSCHED_SHIFT 6). */
	if (!has_lat)
		lat_ns = (uint64_t)q->latency * 64;
	if (!has_jit)
		jit_ns = (uint64_t)q->jitter * 64;
	im->delay_us = (uint32_t)((lat_ns + 500) / 1000);
	im->jitter_us = (uint32_t)((jit_ns + 500) / 1000);
}

static void tbf_opts(const struct nlattr *opt, struct netd_impair *im)
{
	const struct nlattr *a;
	uint64_t rate64 = 0;

	mnl_attr_for_each_nested(a, opt) {
		if (mnl_attr_get_type(a) == TCA_TBF_PARMS &&
		    mnl_attr_get_payload_len(a) >= sizeof(struct tc_tbf_qopt)) {
			const struct tc_tbf_qopt *t = mnl_attr_get_payload(a);
			if (!rate64)
				im->rate_bps = (uint64_t)t->rate.rate * 8;
		} else if (mnl_attr_get_type(a) == TCA_TBF_RATE64 && mnl_attr_get_payload_len(a) == 8) {
			memcpy(&rate64, mnl_attr_get_payload(a), 8);
			im->rate_bps = rate64 * 8;
		}
	}
}

static int qd_reply(const struct nlmsghdr *nlh, void *arg)
{
	const struct qd_reply *r = arg;
	struct qd_end *e = r->end;
	const struct tcmsg *t = mnl_nlmsg_get_payload(nlh);
	const struct nlattr *a, *opts = NULL;
	char kind[16] = "";

	if (nlh->nlmsg_type != RTM_NEWQDISC || nlh->nlmsg_len < NLMSG_LENGTH(sizeof(*t)))
		return 0;
	mnl_attr_for_each(a, nlh, sizeof(*t)) {
		if (mnl_attr_get_type(a) == TCA_KIND && mnl_attr_validate(a, MNL_TYPE_NUL_STRING) == 0)
			snprintf(kind, sizeof(kind), "%s", mnl_attr_get_str(a));
		else if (mnl_attr_get_type(a) == TCA_OPTIONS)
			opts = a;
	}
	if (r->child) {
		e->child_found = true;
		e->child_handle = t->tcm_handle;
		memcpy(e->child_kind, kind, sizeof(kind));
		if (!strcmp(kind, "tbf") && t->tcm_handle == H_TBF && opts)
			tbf_opts(opts, &e->im);
	} else {
		e->root_found = true;
		e->root_handle = t->tcm_handle;
		memcpy(e->root_kind, kind, sizeof(kind));
		if (!strcmp(kind, "netem") && t->tcm_handle == H_NETEM && opts) {
			e->im.set = true;
			netem_opts(opts, &e->im);
		} else if (!strcmp(kind, "tbf") && t->tcm_handle == H_TBF_ROOT && opts) {
			e->im.set = true;
			tbf_opts(opts, &e->im);
		}
	}
	return 0;
}

static bool root_netem(const struct qd_end *e)
{
	return e->root_found && e->root_handle == H_NETEM && !strcmp(e->root_kind, "netem");
}

static bool root_ours(const struct qd_end *e)
{
	return root_netem(e) ||
	       (e->root_found && e->root_handle == H_TBF_ROOT && !strcmp(e->root_kind, "tbf"));
}

/* The kernel's default root (noqueue, pfifo_fast, mq...) has handle 0. */
static bool root_default(const struct qd_end *e)
{
	return !e->root_found || e->root_handle == 0;
}

static bool child_ours(const struct qd_end *e)
{
	return e->child_found && e->child_handle == H_TBF && !strcmp(e->child_kind, "tbf");
}

static struct rtnl_qdisc *qdisc_new(int ifindex, uint32_t parent, uint32_t handle, const char *kind)
{
	struct rtnl_qdisc *q = rtnl_qdisc_alloc();

	if (!q)
		return NULL;
	rtnl_tc_set_ifindex(TC_CAST(q), ifindex);
	rtnl_tc_set_parent(TC_CAST(q), parent);
	rtnl_tc_set_handle(TC_CAST(q), handle);
	if (kind && rtnl_tc_set_kind(TC_CAST(q), kind) < 0) {
		rtnl_qdisc_put(q);
		return NULL;
	}
	return q;
}

/* RTM_GETQDISC of the root (parent TC_H_ROOT) or of netem's child (parent 1:1). */
static int q_get(struct nd_batch *b, int ifindex, const char *ifname, bool child,
		 struct qd_reply *rep, struct ctnet_err *err)
{
	struct tcmsg t = { .tcm_family = AF_UNSPEC, .tcm_ifindex = ifindex,
			   .tcm_parent = child ? H_NETEM_CHILD : TC_H_ROOT };
	/* A qdisc get answers only with NLM_F_ECHO (the reply goes out as a notification). */
	struct nl_msg *msg = nlmsg_alloc_simple(RTM_GETQDISC, NLM_F_ECHO);
	int r;

	if (!msg || nlmsg_append(msg, &t, sizeof(t), NLMSG_ALIGNTO) < 0) {
		if (msg)
			nlmsg_free(msg);
		return ctnet_errf(err, ENOMEM, "build qdisc request: out of memory");
	}
	/* ENOENT: no such qdisc (netem without a child; no root at all). */
	r = nd_batch_add(b, msg, qd_reply, rep, ENOENT, err, "read %s qdisc of \"%s\"",
			 child ? "child" : "root", ifname);
	return r < 0 ? r : 0;
}

static int q_msg(struct nd_batch *b, struct rtnl_qdisc *q, bool del, int ok_errno,
		 struct ctnet_err *err, const char *what, const char *ifname)
{
	struct nl_msg *msg = NULL;
	int r = del ? rtnl_qdisc_build_delete_request(q, &msg)
		    : rtnl_qdisc_build_add_request(q, NLM_F_CREATE | NLM_F_REPLACE, &msg);

	rtnl_qdisc_put(q);
	if (r < 0)
		return ctnet_errf(err, ENOMEM, "%s on \"%s\": %s", what, ifname, nl_geterror(r));
	r = nd_batch_add(b, msg, NULL, NULL, ok_errno, err, "%s on \"%s\"", what, ifname);
	return r < 0 ? r : 0;
}

/*
 * tbf needs a bucket (burst) and a queue limit: 10 ms of the rate as burst, at least two
 * full frames (a shorter bucket drops every frame larger than it); 100 ms of the rate as
 * queue, at least 64 KiB, so a TCP flow sees the rate rather than drops.
 */
static void tbf_params(uint64_t bps, unsigned mtu, int *rate, int *bucket, int *limit)
{
	uint64_t bytes = bps / 8, bk = bytes / 100, lim = bytes / 10;
	uint64_t frame = (uint64_t)(mtu ? mtu : 1500) + 64;

	if (bk < 2 * frame)
		bk = 2 * frame;
	if (lim < 65536)
		lim = 65536;
	lim += bk;
	*rate = (int)bytes;
	*bucket = (int)(bk > INT32_MAX ? INT32_MAX : bk);
	*limit = (int)(lim > INT32_MAX ? INT32_MAX : lim);
}

static int q_tbf(struct nd_batch *b, int ifindex, const char *ifname, unsigned mtu, uint32_t parent,
		 uint32_t handle, uint64_t bps, struct ctnet_err *err)
{
	struct rtnl_qdisc *q = qdisc_new(ifindex, parent, handle, "tbf");
	int rate, bucket, limit;

	if (!q)
		return ctnet_errf(err, ENOMEM, "out of memory");
	tbf_params(bps, mtu, &rate, &bucket, &limit);
	rtnl_qdisc_tbf_set_rate(q, rate, bucket, 0);
	rtnl_qdisc_tbf_set_limit(q, limit);
	return q_msg(b, q, false, 0, err, "set tbf", ifname);
}

/* Queues what makes end e of link ifindex become im. */
static int q_change(struct nd_batch *b, int ifindex, const char *ifname, unsigned mtu,
		    const struct qd_end *e, const struct netd_impair *im, struct ctnet_err *err)
{
	struct rtnl_qdisc *q;
	int r;

	if (!im || !netd_impair_active(im)) {
		if (!root_ours(e))
			return 0;
		/* Deleting the root takes tbf with it; the kernel's default comes back. */
		if (!(q = qdisc_new(ifindex, TC_H_ROOT, e->root_handle, NULL)))
			return ctnet_errf(err, ENOMEM, "out of memory");
		return q_msg(b, q, true, ENOENT, err, "delete impairment", ifname);
	}
	if (!im->delay_us && !im->jitter_us && !im->loss_ppm)
		return q_tbf(b, ifindex, ifname, mtu, TC_H_ROOT, H_TBF_ROOT, im->rate_bps, err);
	if (!(q = qdisc_new(ifindex, TC_H_ROOT, H_NETEM, "netem")))
		return ctnet_errf(err, ENOMEM, "out of memory");
	rtnl_netem_set_limit(q, 1000);
	rtnl_netem_set_delay(q, (int)im->delay_us);
	rtnl_netem_set_jitter(q, (int)im->jitter_us);
	rtnl_netem_set_loss(q, (int)loss_to_kernel(im->loss_ppm));
	if ((r = q_msg(b, q, false, 0, err, "set netem", ifname)) < 0)
		return r;
	if (im->rate_bps)
		return q_tbf(b, ifindex, ifname, mtu, H_NETEM_CHILD, H_TBF, im->rate_bps, err);
	if (root_netem(e) && child_ours(e)) {
		if (!(q = qdisc_new(ifindex, H_NETEM_CHILD, H_TBF, NULL)))
			return ctnet_errf(err, ENOMEM, "out of memory");
		return q_msg(b, q, true, ENOENT, err, "delete tbf", ifname);
	}
	return 0;
}

/* One end: its link and its qdiscs, over socket s. */
struct end {
	struct ctnet_nl *s;
	const char *ifname;
	struct nd_link link;
	struct qd_end qd;
	struct qd_reply rroot, rchild;
};

static int read_end(struct nd_batch *b, struct end *e, struct ctnet_err *err)
{
	int r;

	memset(&e->qd, 0, sizeof(e->qd));
	nd_batch_init(b);
	if ((r = nd_batch_get_link(b, e->ifname, &e->link, err)) < 0 ||
	    (r = nd_batch_run(e->s, b, err)) < 0)
		return r;
	if (!e->link.found)
		return ctnet_errf(err, ENODEV, "link \"%s\" does not exist", e->ifname);
	e->rroot = (struct qd_reply){ .end = &e->qd, .child = false };
	e->rchild = (struct qd_reply){ .end = &e->qd, .child = true };
	nd_batch_init(b);
	if ((r = q_get(b, e->link.ifindex, e->ifname, false, &e->rroot, err)) < 0 ||
	    (r = q_get(b, e->link.ifindex, e->ifname, true, &e->rchild, err)) < 0 ||
	    (r = nd_batch_run(e->s, b, err)) < 0)
		return r;
	if (!root_ours(&e->qd))
		e->qd.child_found = false; /* a foreign root's children are not ours to judge */
	return 0;
}

static int foreign(const struct end *e, struct ctnet_err *err)
{
	if (!root_default(&e->qd) && !root_ours(&e->qd))
		return ctnet_errf(err, EEXIST,
				  "link \"%s\" has a root qdisc %s %x: that is not ctnet's (remove it first)",
				  e->ifname, e->qd.root_kind, e->qd.root_handle >> 16);
	if (e->qd.child_found && !child_ours(&e->qd))
		return ctnet_errf(err, EEXIST, "link \"%s\" has a qdisc %s under netem that is not ctnet's",
				  e->ifname, e->qd.child_kind);
	return 0;
}

int netd_impair_apply(struct ctnet_kern *kern, const char *host_ifname, int netns_fd, const char *ifname,
		      const struct netd_impair *im, struct ctnet_err *err)
{
	struct ctnet_nl *hs, in = { .fd = -1 };
	struct nd_batch *b = NULL;
	struct end ends[2];
	int r;

	if (im && (r = netd_impair_check(im, err)) < 0)
		return r;
	if ((r = ctnet_ifname_check(host_ifname, err)) < 0 || (r = ctnet_ifname_check(ifname, err)) < 0)
		return r;
	if ((r = ctnet_kern_rt(kern, &hs, err)) < 0)
		return r;
	if (!(b = malloc(sizeof(*b))))
		return ctnet_errf(err, ENOMEM, "out of memory");
	memset(ends, 0, sizeof(ends));
	ends[0].s = hs;
	ends[0].ifname = host_ifname;
	ends[1].s = &in;
	ends[1].ifname = ifname;
	/* Both ends read and judged before the first change. Nothing asked and nothing of
	 * ours on the host end (ctnet sets both ends together): the common `up` without
	 * impairment costs two round trips and no entry into the namespace. */
	if ((r = read_end(b, &ends[0], err)) < 0)
		goto out;
	if ((!im || !netd_impair_active(im)) && !root_ours(&ends[0].qd)) {
		r = 0;
		goto out;
	}
	if ((r = nd_sock_open_in(netns_fd, &in, err)) < 0 || (r = read_end(b, &ends[1], err)) < 0)
		goto out;
	for (int i = 0; i < 2; i++)
		if (im && netd_impair_active(im) && (r = foreign(&ends[i], err)) < 0)
			goto out;
	for (int i = 0; i < 2; i++) {
		nd_batch_init(b);
		if ((r = q_change(b, ends[i].link.ifindex, ends[i].ifname, ends[i].link.mtu, &ends[i].qd,
				  im, err)) < 0 ||
		    (r = nd_batch_run(ends[i].s, b, err)) < 0) {
			if (r == -ENOENT && strstr(err->msg, "set netem")) {
				size_t n = strlen(err->msg);
				snprintf(err->msg + n, sizeof(err->msg) - n,
					 "; this kernel has no netem qdisc (CONFIG_NET_SCH_NETEM, module sch_netem): only --rate works without it");
			}
			/* Ends changed so far (this one perhaps in part) back to what they were;
			 * best effort, r stays. */
			for (int k = i; k >= 0; k--) {
				struct ctnet_err ignored;
				struct netd_impair old = ends[k].qd.im;
				bool had = root_ours(&ends[k].qd);
				if (read_end(b, &ends[k], &ignored) < 0)
					continue;
				nd_batch_init(b);
				if (q_change(b, ends[k].link.ifindex, ends[k].ifname, ends[k].link.mtu,
					     &ends[k].qd, had ? &old : NULL, &ignored) == 0)
					nd_batch_run(ends[k].s, b, &ignored);
			}
			goto out;
		}
	}
	r = 0;
out:
	free(b);
	ctnet_nl_close(&in);
	return r;
}

int netd_impair_read(struct ctnet_kern *kern, int netns_fd, const char *ifname, struct netd_impair *out, bool *is_foreign,
		     struct ctnet_err *err)
{
	struct ctnet_nl *hs, in = { .fd = -1 };
	struct nd_batch *b;
	struct end e;
	int r;

	memset(out, 0, sizeof(*out));
	if (is_foreign)
		*is_foreign = false;
	if ((r = ctnet_ifname_check(ifname, err)) < 0)
		return r;
	if (netns_fd < 0) {
		if ((r = ctnet_kern_rt(kern, &hs, err)) < 0)
			return r;
	} else {
		if ((r = nd_sock_open_in(netns_fd, &in, err)) < 0)
			return r;
		hs = &in;
	}
	if (!(b = malloc(sizeof(*b)))) {
		ctnet_nl_close(&in);
		return ctnet_errf(err, ENOMEM, "out of memory");
	}
	memset(&e, 0, sizeof(e));
	e.s = hs;
	e.ifname = ifname;
	r = read_end(b, &e, err);
	free(b);
	ctnet_nl_close(&in);
	if (r < 0)
		return r;
	*out = e.qd.im;
	if ((!root_default(&e.qd) && !root_ours(&e.qd)) || (e.qd.child_found && !child_ours(&e.qd))) {
		out->set = true;
		if (is_foreign)
			*is_foreign = true;
	}
	return 0;
}
