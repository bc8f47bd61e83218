/* SPDX-License-Identifier: MIT */
/* Extra veths (NixOS extraVeths): pairs besides the main one, with point-to-point addresses or in a host bridge. */
#include "netd.h"

#include <errno.h>
#include <fcntl.h>
#include <libmnl/libmnl.h>
#include <linux/if_addr.h>
#include <linux/rtnetlink.h>
#include <netlink/addr.h>
#include <netlink/msg.h>
#include <netlink/route/addr.h>
#include <netlink/route/link.h>
#include <netlink/route/link/veth.h>
#include <netlink/route/route.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "netd_int.h"

/* --- extra veths (NixOS extraVeths) --- */

/* One netd_extra_veth_add: the pair's host side (hl), its bridge (bl) and the sockets. */
struct xv_ctx {
	const char *name, *ifn;
	const struct netd_extra_veth *v;
	int netns_fd;
	char alias[NETD_ALIAS_MAX];
	struct nd_link hl, bl, cl;
	struct ctnet_nl *hs, in;
	struct nd_batch *b;
	bool created, existing, bridged;
};

static int xv_check(const char *name, const struct netd_extra_veth *v, bool bridged,
		    struct ctnet_err *err)
{
	const char *ifn = v->ifname;
	int r;

	if ((r = ctnet_name_check(name, err)) < 0 || (r = ctnet_ifname_check(ifn, err)) < 0 ||
	    (bridged && (r = ctnet_ifname_check(v->host_bridge, err)) < 0))
		return r;
	if (!strncmp(ifn, NETD_PREFIX_VETH, 3) || !strncmp(ifn, NETD_PREFIX_BRIDGE, 3))
		return ctnet_errf(err, EINVAL, "extra veth \"%s\": ve- and vb- names are ctnet's own pairs", ifn);
	if ((v->has_host_addr && (r = check_addr(&v->host_addr, AF_INET, true, "extra veth host address", err)) < 0) ||
	    (v->has_local_addr && (r = check_addr(&v->local_addr, AF_INET, true, "extra veth local address", err)) < 0) ||
	    (v->has_host_addr6 && (r = check_addr(&v->host_addr6, AF_INET6, true, "extra veth host IPv6 address", err)) < 0) ||
	    (v->has_local_addr6 && (r = check_addr(&v->local_addr6, AF_INET6, true, "extra veth local IPv6 address", err)) < 0))
		return r;
	return 0;
}

/* Round trip 1: the host side's name and the bridge; then, when the name exists, whether
 * it is this pair into this namespace (x->existing) or an error. */
static int xv_look(struct xv_ctx *x, struct ctnet_err *err)
{
	const struct netd_extra_veth *v = x->v;
	const char *ifn = x->ifn;
	char shown[CTNET_SHOW_MAX];
	int r;

	nd_batch_init(x->b);
	if ((r = nd_batch_get_link(x->b, ifn, &x->hl, err)) < 0 ||
	    (x->bridged && (r = nd_batch_get_link(x->b, v->host_bridge, &x->bl, err)) < 0) ||
	    (r = nd_batch_run(x->hs, x->b, err)) < 0)
		return r;
	if (x->hl.found && strcmp(x->hl.alias, x->alias))
		return not_ours(&x->hl, x->alias, err);
	if (x->bridged && !x->bl.found)
		return ctnet_errf(err, ENODEV, "bridge \"%s\" does not exist", v->host_bridge);
	if (x->bridged && strcmp(x->bl.kind, "bridge"))
		return ctnet_errf(err, EINVAL, "interface \"%s\" is not a bridge", v->host_bridge);
	if ((r = nd_sock_open_in(x->netns_fd, &x->in, err)) < 0)
		return r;
	if (!x->hl.found)
		return 0;
	/* Ours: re-applied when it is this pair into this namespace. Anything else of
	 * the container's by that name (its main pair under a chosen host name) is
	 * refused, never replaced. */
	nd_batch_init(x->b);
	if ((r = nd_batch_get_link(x->b, ifn, &x->cl, err)) < 0 || (r = nd_batch_run(&x->in, x->b, err)) < 0)
		return r;
	x->existing = pair_matches(&x->hl, &x->cl, x->alias);
	if (!x->existing)
		return ctnet_errf(err, EEXIST,
				  "interface %s exists on the host (container \"%s\"'s) and is not its extra veth %s in this namespace",
				  ifn, ctnet_show(x->name, shown), ifn);
	return 0;
}

/* Creates the pair (x->created once the kernel made it) and reads its host side back. */
static int xv_create(struct xv_ctx *x, struct ctnet_err *err)
{
	struct nd_batch *b = x->b;
	const char *ifn = x->ifn;
	int r;

	nd_batch_init(b);
	if ((r = q_veth(b, ifn, ifn, x->netns_fd, x->bridged ? x->bl.ifindex : 0, 0, NULL, &x->hl, err)) < 0 ||
	    (r = q_link_alias(b, ifn, x->alias, true, err)) < 0)
		return r;
	r = nd_batch_run(x->hs, b, err);
	if (b->req[0].done && b->req[0].error == 0)
		x->created = true;
	if (!x->created && b->req[1].done && b->req[1].error == 0) {
		struct ctnet_err ignored;
		nd_batch_init(b);
		if (q_link_alias(b, ifn, "", false, &ignored) == 0)
			nd_batch_run(x->hs, b, &ignored);
	}
	if (r == -EEXIST && b->req[0].error == EEXIST) {
		size_t n = strlen(err->msg);
		snprintf(err->msg + n, sizeof(err->msg) - n,
			 " (is \"%s\" taken on the host or in the container?)", ifn);
	}
	if (r < 0)
		return r;
	if (!x->hl.found) {
		nd_batch_init(b);
		if ((r = nd_batch_get_link(b, ifn, &x->hl, err)) < 0 ||
		    (r = nd_batch_run(x->hs, b, err)) < 0)
			return r;
	}
	if (!x->hl.found)
		return ctnet_errf(err, ENODEV, "create veth \"%s\": gone right after creation", ifn);
	return 0;
}

/* Host side: in the bridge, or NixOS's point-to-point addresses and routes. */
static int xv_host_side(struct xv_ctx *x, int host_ix, struct ctnet_err *err)
{
	const struct netd_extra_veth *v = x->v;
	struct nd_batch *b = x->b;
	const char *ifn = x->ifn;
	int r;

	nd_batch_init(b);
	if ((r = q_host_link_set(b, host_ix, ifn, x->alias, 0, x->bridged ? x->bl.ifindex : 0, err)) < 0)
		return r;
	if (!x->bridged) {
		if ((v->has_host_addr &&
		     (r = q_addr(b, host_ix, ifn, &v->host_addr, prefix_or(&v->host_addr, 32), false, err)) < 0) ||
		    (v->has_local_addr &&
		     (r = q_route(b, host_ix, ifn, AF_INET, &v->local_addr, NULL, false, err)) < 0) ||
		    (v->has_host_addr6 &&
		     (r = q_addr(b, host_ix, ifn, &v->host_addr6, prefix_or(&v->host_addr6, 128), false, err)) < 0) ||
		    (v->has_local_addr6 &&
		     (r = q_route(b, host_ix, ifn, AF_INET6, &v->local_addr6, NULL, false, err)) < 0))
			return r;
	}
	return nd_batch_run(x->hs, b, err);
}

/* Container side: its addresses, a route to the host side's; no default route. */
static int xv_container_side(struct xv_ctx *x, int peer_ix, struct ctnet_err *err)
{
	const struct netd_extra_veth *v = x->v;
	struct nd_batch *b = x->b;
	const char *ifn = x->ifn;
	int r;

	nd_batch_init(b);
	if ((r = q_link_set(b, peer_ix, ifn, x->alias, 0, 0, NULL, err)) < 0 ||
	    (v->has_local_addr &&
	     (r = q_addr(b, peer_ix, ifn, &v->local_addr, prefix_or(&v->local_addr, 32), false, err)) < 0) ||
	    (v->has_host_addr &&
	     (r = q_route(b, peer_ix, ifn, AF_INET, &v->host_addr, NULL, false, err)) < 0) ||
	    (v->has_local_addr6 &&
	     (r = q_addr(b, peer_ix, ifn, &v->local_addr6, prefix_or(&v->local_addr6, 128), false, err)) < 0) ||
	    (v->has_host_addr6 &&
	     (r = q_route(b, peer_ix, ifn, AF_INET6, &v->host_addr6, NULL, false, err)) < 0))
		return r;
	return nd_batch_run(&x->in, b, err);
}

int netd_extra_veth_add(struct ctnet_kern *kern, const char *name, int netns_fd, const struct netd_extra_veth *v,
			struct ctnet_err *err)
{
	struct xv_ctx x = { .name = name, .ifn = v->ifname, .v = v, .netns_fd = netns_fd,
			    .in = { .fd = -1 }, .bridged = v->host_bridge[0] != '\0' };
	int r;

	if ((r = xv_check(name, v, x.bridged, err)) < 0)
		return r;
	netd_alias(name, x.alias);
	if ((r = ctnet_kern_rt(kern, &x.hs, err)) < 0)
		return r;
	if (!(x.b = malloc(sizeof(*x.b))))
		return ctnet_errf(err, ENOMEM, "out of memory");
	if ((r = xv_look(&x, err)) < 0)
		goto out;
	if (!x.existing && (r = xv_create(&x, err)) < 0)
		goto undo;
	if ((r = nd_harden6(x.ifn, v->has_host_addr6 && !x.bridged, err)) < 0 ||
	    (r = xv_host_side(&x, x.hl.ifindex, err)) < 0 ||
	    (r = xv_container_side(&x, x.hl.iflink, err)) < 0)
		goto undo;
	r = 0;
	goto out;
undo:
	if (x.created && x.hl.found) {
		/* The host side takes its peer, addresses and routes with it. */
		struct ctnet_err ignored;
		nd_batch_init(x.b);
		if (q_link_del(x.b, x.hl.ifindex, x.ifn, &ignored) == 0)
			nd_batch_run(x.hs, x.b, &ignored);
	}
out:
	ctnet_nl_close(&x.in);
	free(x.b);
	return r;
}

int netd_extra_veth_del_all(struct ctnet_kern *kern, const char *name, const struct netd_extra_veth *v, size_t n,
			    struct ctnet_err *err)
{
	char alias[NETD_ALIAS_MAX];
	struct nd_link links[NETD_EXTRA_VETH_MAX];
	struct nd_batch *b;
	struct ctnet_nl *hs;
	int r;

	if ((r = ctnet_name_check(name, err)) < 0)
		return r;
	if (n > NETD_EXTRA_VETH_MAX)
		return ctnet_errf(err, EINVAL, "more than %d extra veths", NETD_EXTRA_VETH_MAX);
	for (size_t i = 0; i < n; i++)
		if ((r = ctnet_ifname_check(v[i].ifname, err)) < 0)
			return r;
	if (n == 0)
		return 0;
	netd_alias(name, alias);
	if ((r = ctnet_kern_rt(kern, &hs, err)) < 0)
		return r;
	if (!(b = malloc(sizeof(*b))))
		return ctnet_errf(err, ENOMEM, "out of memory");
	nd_batch_init(b);
	for (size_t i = 0; i < n && r >= 0; i++)
		r = nd_batch_get_link(b, v[i].ifname, &links[i], err);
	if (r >= 0)
		r = nd_batch_run(hs, b, err);
	/* All judged before any is deleted: someone else's refuses the whole call. */
	for (size_t i = 0; i < n && r >= 0; i++)
		if (links[i].found && strcmp(links[i].alias, alias))
			r = not_ours(&links[i], alias, err);
	if (r >= 0) {
		nd_batch_init(b);
		for (size_t i = 0; i < n && r >= 0; i++)
			if (links[i].found)
				r = q_link_del(b, links[i].ifindex, links[i].ifname, err);
		if (r >= 0)
			r = nd_batch_run(hs, b, err);
	}
	free(b);
	return r < 0 ? r : 0;
}

int netd_extra_veth_del(struct ctnet_kern *kern, const char *name, const char *v_ifname, struct ctnet_err *err)
{
	struct netd_extra_veth v = { 0 };
	int r;

	if ((r = ctnet_ifname_check(v_ifname, err)) < 0)
		return r;
	snprintf(v.ifname, sizeof(v.ifname), "%s", v_ifname);
	return netd_extra_veth_del_all(kern, name, &v, 1, err);
}
